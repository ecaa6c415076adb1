/* test_dpdk_api.c - libcontig_dpdk's calls, one behaviour each, in a
 * process that is both a DPDK application (EAL --no-huge) and a contigd
 * client of the real daemon.
 *
 * What test_dpdk shows end to end (a whole application), this shows call
 * by call: the IOVA DPDK gets for heap memory is the physical address in
 * this process's pagemap, for a buffer that starts inside a frame (4 KiB
 * pages) as for one made of whole frames; a buffer that is not live is
 * refused before DPDK sees it; a heap with something still allocated in
 * it cannot be detached; a failed call leaves nothing behind; errors are
 * negative errno values with rte_errno set to the same.
 *
 * Built and run only where libdpdk-dev is installed (the Makefile leaves
 * it out otherwise; test_dpdk then says it skipped).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "contig_dpdk.h"
#include "harness.h"

static struct contig_client *client;

/* Is @r a failure with errno @err, mirrored in rte_errno? */
static bool fails_with(int r, int err)
{
	if (r == -err && rte_errno == err)
		return true;
	diag("  got %d (rte_errno %d), want %d", r, rte_errno, -err);
	return false;
}

static uint32_t live_buffers(void)
{
	struct contig_stats st;

	if (contig_get_stats(client, &st) < 0)
		bail_out("contig_get_stats: %s", contig_last_message());
	return st.my_nbuffers;
}

/* rte_malloc on @socket_id: its IOVA is its physical address. */
static bool malloc_iova_is_physical(int socket_id, size_t len)
{
	void *p = rte_malloc_socket("t", len, 4096, socket_id);
	rte_iova_t iova;
	bool same;

	if (!p) {
		diag("  rte_malloc_socket: %s", rte_strerror(rte_errno));
		return false;
	}
	memset(p, 0x5a, len);
	iova = rte_malloc_virt2iova(p);
	same = harness_phys_contiguous(getpid(), p, len, iova);
	rte_free(p);
	return same && iova != RTE_BAD_IOVA;
}

static void test_small_buffer_in_a_frame(void)
{
	struct contig_alloc_req req;
	struct contig_buffer pad, buf;
	int socket_id;

	/* a first buffer, so that the second starts inside the frame */
	contig_alloc_req_init(&req, 64 << 10);
	if (contig_alloc(client, &req, &pad) < 0 || contig_alloc(client, &req, &buf) < 0)
		bail_out("contig_alloc: %s", contig_last_message());
	ok((uintptr_t)buf.virt % (2 * MiB) != 0, "a_64_KiB_buffer_starts_inside_its_frame");
	socket_id = contig_dpdk_heap_attach(client, "small", &buf);
	ok(socket_id >= 0 && socket_id == rte_malloc_heap_get_socket("small"),
	   "it_attaches_in_4_KiB_pages (socket %d)", socket_id);
	ok(malloc_iova_is_physical(socket_id, 32 << 10),
	   "rte_malloc_on_its_socket_has_the_physical_address_as_iova");
	ok(fails_with(contig_dpdk_heap_attach(client, "small", &buf), EEXIST),
	   "attaching_it_twice_is_refused_with_eexist");
	ok(contig_dpdk_heap_detach("small", &buf) == 0 && rte_malloc_heap_get_socket("small") < 0,
	   "detaching_its_only_buffer_destroys_the_heap");
	contig_free(client, buf.virt);
	contig_free(client, pad.virt);
}

static void test_refusals(void)
{
	struct contig_alloc_req req;
	struct contig_buffer buf, forged;
	uint32_t before = live_buffers();
	void *p;
	int socket_id;

	contig_alloc_req_init(&req, 2 * MiB);
	socket_id = contig_dpdk_heap_alloc(client, "refusals", &req, &buf);
	ok(socket_id >= 0 && buf.len == 2 * MiB && buf.phys % (2 * MiB) == 0,
	   "heap_alloc_gives_a_whole_aligned_frame (phys %#" PRIx64 ")", buf.phys);
	ok(malloc_iova_is_physical(socket_id, 1 << 20), "its_iova_is_physical_too");

	forged = buf;
	forged.virt = (char *)buf.virt + 4096;
	ok(fails_with(contig_dpdk_heap_attach(client, "refusals2", &forged), ENOENT) &&
		   rte_malloc_heap_get_socket("refusals2") < 0,
	   "a_struct_that_is_no_live_buffer_is_refused_and_no_heap_made");
	forged = buf;
	forged.len = 4 * MiB;
	ok(fails_with(contig_dpdk_heap_attach(client, "refusals2", &forged), ENOENT),
	   "a_struct_with_the_wrong_length_is_refused");
	ok(fails_with(contig_dpdk_heap_attach(client, "a-heap-name-longer-than-dpdk-allows", &buf),
		      EINVAL),
	   "a_heap_name_of_32_bytes_is_refused");

	p = rte_malloc_socket("held", 4096, 0, socket_id);
	ok(p && fails_with(contig_dpdk_heap_free(client, "refusals", &buf), EBUSY) &&
		   live_buffers() == before + 1,
	   "a_heap_with_an_allocation_is_not_detached_nor_freed");
	rte_free(p);
	ok(contig_dpdk_heap_free(client, "refusals", &buf) == 0 && live_buffers() == before &&
		   rte_malloc_heap_get_socket("refusals") < 0,
	   "once_it_is_free_the_heap_goes_and_the_buffer_is_freed");
	ok(fails_with(contig_dpdk_heap_detach("refusals", &buf), ENOENT),
	   "detaching_from_a_heap_that_is_gone_is_enoent");

	contig_alloc_req_init(&req, 2 * MiB);
	req.highest_phys = 4095; /* no frame there */
	ok(fails_with(contig_dpdk_heap_alloc(client, "nowhere", &req, &buf), ENOMEM) &&
		   live_buffers() == before && rte_malloc_heap_get_socket("nowhere") < 0,
	   "an_impossible_heap_alloc_is_enomem_and_leaves_nothing");
}

static void test_extbuf_pool(void)
{
	struct contig_alloc_req req;
	struct contig_buffer buf;
	struct rte_mempool *mp;
	struct rte_mbuf *m;
	bool same = true;

	contig_alloc_req_init(&req, 256 << 10);
	if (contig_alloc(client, &req, &buf) < 0)
		bail_out("contig_alloc: %s", contig_last_message());
	/* 256 KiB holds 120 rooms of 2176 bytes */
	mp = contig_dpdk_extbuf_pool_create(client, "too_many", 200, 0, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY, &buf, 1);
	ok(!mp && rte_errno == EINVAL, "a_pool_larger_than_its_buffers_is_einval");
	mp = contig_dpdk_extbuf_pool_create(client, "ext", 100, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    SOCKET_ID_ANY, &buf, 1);
	ok(mp != NULL, "a_pool_of_100_fits (%s)", mp ? "" : rte_strerror(rte_errno));
	for (int i = 0; mp && i < 100; i++) {
		m = rte_pktmbuf_alloc(mp);
		if (!m || harness_phys_of(getpid(), rte_pktmbuf_mtod(m, void *)) !=
				  rte_mbuf_data_iova(m))
			same = false;
		/* left allocated: the pool is freed whole below */
	}
	ok(mp && same, "every_external_data_room_iova_is_its_physical_address");
	ok(fails_with(contig_dpdk_heap_attach(client, "over_ext", &buf), EEXIST) &&
		   !contig_dpdk_extbuf_pool_create(client, "ext2", 10, 0, 0,
						   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY, &buf, 1) &&
		   rte_errno == EEXIST,
	   "its_memory_cannot_go_into_a_heap_or_a_second_pool");
	ok(contig_dpdk_extbuf_pool_free(mp, &buf, 1) == 0, "the_pool_is_freed_and_unregistered");
	ok(rte_extmem_register(buf.virt, buf.len, NULL, 0, 4096) == 0 &&
		   rte_extmem_unregister(buf.virt, buf.len) == 0,
	   "nothing_of_it_stays_registered");
	contig_free(client, buf.virt);
}

int main(void)
{
	char *eal[] = { "test_dpdk_api", "--no-huge", "-m", "16", "--no-shconf", "--no-pci",
			"--no-telemetry", "-l", "0", "--log-level", "lib.eal:error", NULL };
	const char *args[] = { "--pool", "0:2M:16M", NULL };
	struct harness_daemon d;

	harness_daemon_start(&d, args);
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0)
		bail_out("rte_eal_init: %s", rte_strerror(rte_errno));
	client = harness_connect(&d);

	test_small_buffer_in_a_frame();
	test_refusals();
	test_extbuf_pool();

	ok(live_buffers() == 0, "no_buffer_left");
	contig_disconnect(client);
	rte_eal_cleanup();
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
