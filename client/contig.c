/* contig.c - libcontig: connection, buffers, mappings.
 *
 * DESIGN
 * Each buffer gets its own mapping: the frames it covers, received as
 * descriptors, are mapped consecutively (MAP_FIXED inside a PROT_NONE
 * reservation aligned to the page size, MAP_POPULATE so the page tables are
 * filled before the caller hands the address to a device) and the
 * descriptors are closed at once. Physical contiguity comes from the daemon;
 * virtual contiguity from this layout. Two buffers in the same frame thus
 * have two mappings of it, never overlapping virtual ranges.
 *
 * The buffers of a client are kept in an array sorted by virtual address,
 * so that virtual->physical for any byte is a binary search plus
 * arithmetic (phys + (virt - base)), with no round trip.
 *
 * One mutex per client serialises requests (the protocol is request/reply
 * on one socket) and guards the array.
 */
#include "contig.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "wire.h"

struct mapped {
	struct contig_buffer buf;
	void *map;      /* start of the mapping (frame boundary) */
	size_t map_len; /* whole frames */
};

struct contig_client {
	pthread_mutex_t lock;
	struct contig_wire wire;
	struct mapped *bufs; /* sorted by buf.virt */
	size_t nbufs, cap;
};

static __thread char last_message[256];

int contig_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return err;
}

CONTIG_EXPORT const char *contig_last_message(void)
{
	return last_message;
}

CONTIG_EXPORT void contig_alloc_req_init(struct contig_alloc_req *req, uint64_t len)
{
	*req = (struct contig_alloc_req){
		.len = len,
		.highest_phys = CONTIG_PHYS_MAX,
		.cache_type = CONTIG_CACHED,
		.node = CONTIG_NODE_ANY,
		.priority = CONTIG_PRIORITY_HIGH,
	};
}

CONTIG_EXPORT int contig_connect(const char *socket_path, struct contig_client **ret_client)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct contig_client *c;
	int r;

	last_message[0] = '\0';
	if (!socket_path)
		socket_path = getenv("CONTIGD_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = CONTIG_DEFAULT_SOCKET_PATH;
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return contig_fail(-ENAMETOOLONG, "socket path too long: %s", socket_path);
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);

	c = calloc(1, sizeof(*c));
	if (!c)
		return contig_fail(-ENOMEM, "out of memory");
	c->wire.rx = malloc(CONTIG_MAX_REPLY_LEN);
	if (!c->wire.rx) {
		r = contig_fail(-ENOMEM, "out of memory");
		goto out_free;
	}
	c->wire.sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->wire.sock < 0) {
		r = contig_fail(-errno, "socket: %s", strerror(errno));
		goto out_free;
	}
	if (connect(c->wire.sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = contig_fail(-errno, "cannot connect to contigd at %s: %s", socket_path,
				strerror(errno));
		goto out_close;
	}
	r = contig_wire_hello(&c->wire);
	if (r < 0)
		goto out_close;
	pthread_mutex_init(&c->lock, NULL);
	*ret_client = c;
	return 0;

out_close:
	close(c->wire.sock);
out_free:
	free(c->wire.rx);
	free(c);
	return r;
}

CONTIG_EXPORT void contig_disconnect(struct contig_client *c)
{
	if (!c)
		return;
	/* Unmap first: once the socket closes, the daemon revokes the frames. */
	for (size_t i = 0; i < c->nbufs; i++)
		munmap(c->bufs[i].map, c->bufs[i].map_len);
	close(c->wire.sock);
	pthread_mutex_destroy(&c->lock);
	free(c->bufs);
	free(c->wire.rx);
	free(c);
}

/* Map @n frames of @page_len consecutively; closes the descriptors. */
static int map_frames(int *fds, uint32_t n, uint64_t page_len, void **ret_map)
{
	size_t len = (size_t)n * page_len;
	uint8_t *resv, *base;
	int r = 0;

	resv = mmap(NULL, len + page_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (resv == MAP_FAILED) {
		r = -errno;
		goto out_close;
	}
	/* hugetlb mappings must start on a page_len boundary */
	base = (uint8_t *)(((uintptr_t)resv + page_len - 1) & ~(uintptr_t)(page_len - 1));
	if (base > resv)
		munmap(resv, base - resv);
	if (base + len < resv + len + page_len)
		munmap(base + len, resv + len + page_len - (base + len));
	for (uint32_t i = 0; i < n; i++) {
		void *p = mmap(base + (size_t)i * page_len, page_len, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[i], 0);

		if (p == MAP_FAILED) {
			r = -errno;
			munmap(base, len);
			goto out_close;
		}
	}
	*ret_map = base;
out_close:
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

/* Index of the first buffer whose virt is > @virt. */
static size_t upper_bound(const struct contig_client *c, const void *virt)
{
	size_t lo = 0, hi = c->nbufs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((const uint8_t *)c->bufs[mid].buf.virt <= (const uint8_t *)virt)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The buffer containing @virt, or NULL. Lock held. */
static struct mapped *find(struct contig_client *c, const void *virt)
{
	size_t i = upper_bound(c, virt);
	struct mapped *m;

	if (i == 0)
		return NULL;
	m = &c->bufs[i - 1];
	if ((const uint8_t *)virt >= (const uint8_t *)m->buf.virt + m->buf.len)
		return NULL;
	return m;
}

static int insert(struct contig_client *c, const struct mapped *m)
{
	size_t i;

	if (c->nbufs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct mapped *grown = realloc(c->bufs, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->bufs = grown;
		c->cap = cap;
	}
	i = upper_bound(c, m->buf.virt);
	memmove(&c->bufs[i + 1], &c->bufs[i], (c->nbufs - i) * sizeof(*c->bufs));
	c->bufs[i] = *m;
	c->nbufs++;
	return 0;
}

CONTIG_EXPORT int contig_alloc(struct contig_client *c, const struct contig_alloc_req *req,
			       struct contig_buffer *ret_buf)
{
	struct contig_wire_alloc a;
	struct mapped m;
	void *map = NULL;
	int r;

	last_message[0] = '\0';
	pthread_mutex_lock(&c->lock);
	r = contig_wire_alloc(&c->wire, req, &a);
	if (r < 0)
		goto out_unlock;
	r = map_frames(a.fds, a.nframes, a.page_len, &map);
	free(a.fds);
	if (r < 0) {
		contig_fail(r, "mapping %u frames of %llu bytes: %s", a.nframes,
			    (unsigned long long)a.page_len, strerror(-r));
		goto out_free;
	}
	m = (struct mapped){
		.buf = {
			.virt = (uint8_t *)map + a.offset,
			.phys = a.phys,
			.len = a.len,
			.id = a.id,
			.page_len = a.page_len,
			.node = (int)a.node,
			.cache_type = req->cache_type,
			.user_data = req->user_data,
			.req_len = req->len,
			.tag = req->tag,
		},
		.map = map,
		.map_len = (size_t)a.nframes * a.page_len,
	};
	r = insert(c, &m);
	if (r < 0) {
		munmap(map, m.map_len);
		contig_fail(r, "out of memory");
		goto out_free;
	}
	*ret_buf = m.buf;
	pthread_mutex_unlock(&c->lock);
	return 0;

out_free:
	contig_wire_free(&c->wire, a.id, NULL, NULL);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int free_buffer(struct contig_client *c, void *virt, const uint64_t *len, const int *cache)
{
	struct mapped *m;
	int r;

	last_message[0] = '\0';
	pthread_mutex_lock(&c->lock);
	m = find(c, virt);
	if (!m || m->buf.virt != virt) {
		r = contig_fail(-ENOENT, "%p is not the start of a live buffer", virt);
		goto out_unlock;
	}
	r = contig_wire_free(&c->wire, m->buf.id, len, cache);
	if (r < 0)
		goto out_unlock;
	munmap(m->map, m->map_len);
	memmove(m, m + 1, (size_t)(&c->bufs[c->nbufs] - (m + 1)) * sizeof(*m));
	c->nbufs--;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_free(struct contig_client *c, void *virt)
{
	return free_buffer(c, virt, NULL, NULL);
}

CONTIG_EXPORT int contig_free_checked(struct contig_client *c, void *virt, uint64_t len,
				      int cache_type)
{
	return free_buffer(c, virt, &len, &cache_type);
}

CONTIG_EXPORT int contig_buffer_of(struct contig_client *c, const void *virt,
				   struct contig_buffer *ret_buf)
{
	struct mapped *m;
	int r = 0;

	pthread_mutex_lock(&c->lock);
	m = find(c, virt);
	if (m)
		*ret_buf = m->buf;
	else
		r = contig_fail(-ENOENT, "%p is not inside a live buffer", virt);
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_virt_to_phys(struct contig_client *c, const void *virt,
				      uint64_t *ret_phys)
{
	struct contig_buffer b;
	int r = contig_buffer_of(c, virt, &b);

	if (r == 0)
		*ret_phys = b.phys + (uint64_t)((const uint8_t *)virt - (const uint8_t *)b.virt);
	return r;
}

CONTIG_EXPORT int contig_get_stats(struct contig_client *c, struct contig_stats *ret_stats)
{
	int r;

	last_message[0] = '\0';
	pthread_mutex_lock(&c->lock);
	r = contig_wire_stats(&c->wire, ret_stats);
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_report_misuse(struct contig_client *c, const char *routine,
				       const char *reason)
{
	int r;

	last_message[0] = '\0';
	pthread_mutex_lock(&c->lock);
	r = contig_wire_report(&c->wire, routine, reason);
	pthread_mutex_unlock(&c->lock);
	return r;
}
