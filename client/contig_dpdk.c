/* contig_dpdk.c - contigd buffers as DPDK malloc heaps and external mbuf
 * memory (see contig_dpdk.h).
 *
 * A contigd buffer is virtually and physically contiguous, so its IOVA
 * table is arithmetic: page i is at buf->phys + i * page size. The page size
 * told to DPDK is the largest of the buffer's hugepage size, 2 MiB and
 * 4 KiB that divides both the virtual address and the length: the fewer
 * pages, the fewer memory segments DPDK keeps. The buffer's physical
 * address comes from libcontig's own table (contig_buffer_of()), never from
 * the caller's copy, so a stale or forged struct contig_buffer is refused
 * rather than handed to DPDK with wrong IOVAs.
 *
 * Built only when libdpdk is installed; not part of libcontig itself.
 *
 * DESIGN
 * Calls only libcontig's public API (contig.h) and DPDK's; never wire.c or
 * libcontig's internals, so that it is a user of libcontig like any other.
 */
#include "contig_dpdk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#define PAGE_4K (UINT64_C(4) << 10)
#define PAGE_2M (UINT64_C(2) << 20)
/* DPDK's limit on a heap name with its NUL (RTE_HEAP_NAME_MAX_LEN in its
 * internal headers, not installed). */
#define HEAP_NAME_MAX 32

/* Set rte_errno from the negative errno @r and return @r. */
static int fail(int r)
{
	rte_errno = -r;
	return r;
}

/* The page size to give DPDK for [virt, virt + len) backed by pages of
 * @page_len, or 0 if not even 4 KiB fits. */
static uint64_t dpdk_page_len(const void *virt, uint64_t len, uint64_t page_len)
{
	const uint64_t sizes[] = { page_len, PAGE_2M, PAGE_4K };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t p = sizes[i];

		if (p > page_len || p < PAGE_4K)
			continue;
		if ((uintptr_t)virt % p == 0 && len % p == 0)
			return p;
	}
	return 0;
}

/* The live buffer @buf describes, from @client's own table, into
 * *ret_live: -ENOENT if @buf is not the start of one with that length. */
static int live_buffer(struct contig_client *client, const struct contig_buffer *buf,
		       struct contig_buffer *ret_live)
{
	struct contig_buffer live;
	int r;

	if (!client || !buf)
		return -EINVAL;
	r = contig_buffer_of(client, buf->virt, &live);
	if (r < 0)
		return r;
	if (live.virt != buf->virt || live.len != buf->len)
		return -ENOENT;
	*ret_live = live;
	return 0;
}

/* The IOVA table of @buf in pages of @page_len: malloc'd, *ret_n entries. */
static rte_iova_t *iova_table(const struct contig_buffer *buf, uint64_t page_len, unsigned *ret_n)
{
	uint64_t n = buf->len / page_len;
	rte_iova_t *iovas;

	if (n > UINT32_MAX)
		return NULL;
	iovas = malloc(n * sizeof(*iovas));
	if (!iovas)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		iovas[i] = buf->phys + i * page_len;
	*ret_n = (unsigned)n;
	return iovas;
}

struct range {
	uintptr_t start, end;
	bool overlaps;
};

/* rte_memseg_list_walk() callback: does @msl overlap the range @arg? */
static int overlap_one(const struct rte_memseg_list *msl, void *arg)
{
	struct range *r = arg;
	uintptr_t start = (uintptr_t)msl->base_va, end = start + msl->len;

	if (start < r->end && r->start < end) {
		r->overlaps = true;
		return 1; /* stop */
	}
	return 0;
}

/* Is any byte of [virt, virt + len) DPDK memory already? DPDK itself
 * accepts the same memory in a heap twice, and would then hand it out
 * twice. */
static bool known_to_dpdk(const void *virt, uint64_t len)
{
	struct range r = { (uintptr_t)virt, (uintptr_t)virt + len, false };

	rte_memseg_list_walk(overlap_one, &r);
	return r.overlaps;
}

/* Does the heap on @socket_id hold no memory at all? */
static bool heap_empty(int socket_id)
{
	struct rte_malloc_socket_stats stats;

	return rte_malloc_get_socket_stats(socket_id, &stats) == 0 && stats.heap_totalsz_bytes == 0;
}

int contig_dpdk_heap_attach(struct contig_client *client, const char *heap_name,
			    const struct contig_buffer *buf)
{
	struct contig_buffer live;
	rte_iova_t *iovas;
	uint64_t page_len;
	unsigned n;
	bool created = false;
	int socket_id, r;

	if (!heap_name || !*heap_name || strlen(heap_name) >= HEAP_NAME_MAX)
		return fail(-EINVAL);
	r = live_buffer(client, buf, &live);
	if (r < 0)
		return fail(r);
	page_len = dpdk_page_len(live.virt, live.len, live.page_len);
	if (!page_len)
		return fail(-EINVAL);
	if (known_to_dpdk(live.virt, live.len))
		return fail(-EEXIST);
	iovas = iova_table(&live, page_len, &n);
	if (!iovas)
		return fail(-ENOMEM);

	socket_id = rte_malloc_heap_get_socket(heap_name);
	if (socket_id < 0) {
		if (rte_malloc_heap_create(heap_name) < 0) {
			r = -rte_errno;
			goto out_free;
		}
		created = true;
		socket_id = rte_malloc_heap_get_socket(heap_name);
	}
	if (rte_malloc_heap_memory_add(heap_name, live.virt, live.len, iovas, n, page_len) < 0) {
		r = -rte_errno;
		goto out_destroy;
	}
	free(iovas);
	return socket_id;

out_destroy:
	if (created)
		rte_malloc_heap_destroy(heap_name);
out_free:
	free(iovas);
	return fail(r);
}

int contig_dpdk_heap_alloc(struct contig_client *client, const char *heap_name,
			   const struct contig_alloc_req *req, struct contig_buffer *ret_buf)
{
	struct contig_alloc_req r2;
	struct contig_buffer buf;
	int socket_id, r;

	if (!req || !ret_buf || req->len == 0 || req->len > UINT64_MAX - PAGE_2M)
		return fail(-EINVAL);
	r2 = *req;
	r2.len = (req->len + PAGE_2M - 1) & ~(PAGE_2M - 1);
	if (r2.align < PAGE_2M)
		r2.align = PAGE_2M;
	r = contig_alloc(client, &r2, &buf);
	if (r < 0)
		return fail(r);
	socket_id = contig_dpdk_heap_attach(client, heap_name, &buf);
	if (socket_id < 0) {
		contig_free(client, buf.virt);
		return fail(socket_id);
	}
	*ret_buf = buf;
	return socket_id;
}

int contig_dpdk_heap_detach(const char *heap_name, const struct contig_buffer *buf)
{
	int socket_id;

	if (!heap_name || !buf)
		return fail(-EINVAL);
	socket_id = rte_malloc_heap_get_socket(heap_name);
	if (socket_id < 0)
		return fail(-ENOENT);
	if (rte_malloc_heap_memory_remove(heap_name, buf->virt, buf->len) < 0)
		return fail(-rte_errno);
	if (heap_empty(socket_id) && rte_malloc_heap_destroy(heap_name) < 0)
		return fail(-rte_errno);
	return 0;
}

int contig_dpdk_heap_free(struct contig_client *client, const char *heap_name,
			  const struct contig_buffer *buf)
{
	int r = contig_dpdk_heap_detach(heap_name, buf);

	if (r < 0)
		return r;
	r = contig_free(client, buf->virt);
	return r < 0 ? fail(r) : 0;
}

/* Register every buffer of @bufs with DPDK and describe its data rooms in
 * @ext (one entry per buffer). On failure nothing stays registered. */
static int extmem_register(struct contig_client *client, const struct contig_buffer *bufs,
			   unsigned nbufs, uint16_t elt_size, struct rte_pktmbuf_extmem *ext)
{
	unsigned i;
	int r = 0;

	for (i = 0; i < nbufs; i++) {
		struct contig_buffer live;
		uint64_t page_len;
		rte_iova_t *iovas;
		unsigned n;

		r = live_buffer(client, &bufs[i], &live);
		if (r < 0)
			break;
		page_len = dpdk_page_len(live.virt, live.len, live.page_len);
		if (!page_len) {
			r = -EINVAL;
			break;
		}
		if (known_to_dpdk(live.virt, live.len)) {
			r = -EEXIST;
			break;
		}
		iovas = iova_table(&live, page_len, &n);
		if (!iovas) {
			r = -ENOMEM;
			break;
		}
		r = rte_extmem_register(live.virt, live.len, iovas, n, page_len) < 0 ? -rte_errno : 0;
		free(iovas);
		if (r < 0)
			break;
		ext[i] = (struct rte_pktmbuf_extmem){
			.buf_ptr = live.virt,
			.buf_iova = live.phys,
			.buf_len = live.len,
			.elt_size = elt_size,
		};
	}
	if (r < 0)
		while (i-- > 0)
			rte_extmem_unregister(bufs[i].virt, bufs[i].len);
	return r;
}

struct rte_mempool *contig_dpdk_extbuf_pool_create(struct contig_client *client, const char *name,
						   unsigned n, unsigned cache_size,
						   uint16_t priv_size, uint16_t data_room_size,
						   int socket_id, const struct contig_buffer *bufs,
						   unsigned nbufs)
{
	struct rte_pktmbuf_extmem *ext;
	struct rte_mempool *mp;
	uint64_t nrooms = 0;
	uint16_t elt_size;
	int r;

	if (!name || !bufs || nbufs == 0 || data_room_size == 0 ||
	    data_room_size > UINT16_MAX - RTE_CACHE_LINE_SIZE) {
		fail(-EINVAL);
		return NULL;
	}
	/* Data rooms start on cache lines, as DPDK's own pools place them. */
	elt_size = (uint16_t)RTE_ALIGN_CEIL(data_room_size, RTE_CACHE_LINE_SIZE);
	for (unsigned i = 0; i < nbufs; i++)
		nrooms += bufs[i].len / elt_size;
	if (nrooms < n) {
		fail(-EINVAL);
		return NULL;
	}
	ext = calloc(nbufs, sizeof(*ext));
	if (!ext) {
		fail(-ENOMEM);
		return NULL;
	}
	r = extmem_register(client, bufs, nbufs, elt_size, ext);
	if (r < 0) {
		free(ext);
		fail(r);
		return NULL;
	}
	mp = rte_pktmbuf_pool_create_extbuf(name, n, cache_size, priv_size, data_room_size,
					    socket_id, ext, nbufs);
	free(ext);
	if (!mp) {
		int err = rte_errno;

		for (unsigned i = 0; i < nbufs; i++)
			rte_extmem_unregister(bufs[i].virt, bufs[i].len);
		rte_errno = err;
	}
	return mp;
}

int contig_dpdk_extbuf_pool_free(struct rte_mempool *mp, const struct contig_buffer *bufs,
				 unsigned nbufs)
{
	int r = 0;

	if (!mp)
		return 0;
	rte_mempool_free(mp);
	for (unsigned i = 0; i < nbufs; i++)
		if (rte_extmem_unregister(bufs[i].virt, bufs[i].len) < 0 && r == 0)
			r = -rte_errno;
	return r < 0 ? fail(r) : 0;
}
