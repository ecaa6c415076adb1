/* test_basic.c - the whole path once: daemon up, a client allocates, the
 * memory is where the daemon says (checked in pagemap by this test), the
 * client frees, the daemon shuts down cleanly and releases every frame. */
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* The parent reads the child's pagemap while the child holds the buffer. */
struct report {
	uint64_t virt, phys, len;
	int err;
};

static int child_alloc_and_hold(int fd, void *arg)
{
	uint64_t len = *(uint64_t *)arg;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	struct report rep = { 0 };
	char go;

	if (contig_connect(NULL, &c) < 0)
		return 1;
	contig_alloc_req_init(&req, len);
	rep.err = contig_alloc(c, &req, &b);
	if (rep.err == 0) {
		memset(b.virt, 0xa5, b.len); /* every byte is ours to write */
		rep.virt = (uintptr_t)b.virt;
		rep.phys = b.phys;
		rep.len = b.len;
	}
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	if (rep.err == 0 && contig_free(c, b.virt) < 0)
		return 2;
	contig_disconnect(c);
	return 0;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->pools[0].free_len == st->pools[0].total_len;
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:32M", NULL };
	char why[160];
	bool alone = harness_hugepages_alone(why, sizeof(why)); /* the counts are machine-wide */
	uint64_t free_before = harness_free_hugepages(2 * MiB);
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_stats st;
	uint64_t sizes[] = { 4096, 100 * 1024, 2 * MiB, 6 * MiB + 4096 };

	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	ok(contig_get_stats(c, &st) == 0 && st.npools == 1, "stats_show_the_configured_pool");
	is_u64(st.pools[0].total_len, 32 * MiB, "pool_holds_what_was_asked");
	is_u64(st.pools[0].free_len, 32 * MiB, "pool_starts_all_free");
	ok(st.pools[0].largest_segment_len >= 2 * MiB && st.pools[0].nsegments >= 1,
	   "pool_is_sorted_into_segments");
	/* A buffer over several frames needs adjacent ones: size it from what
	 * the kernel gave this run rather than hope for 4 adjacent pages. */
	if (st.pools[0].largest_free_len < sizes[3])
		sizes[3] = st.pools[0].largest_free_len > 2 * MiB ? st.pools[0].largest_free_len
								  : 2 * MiB;
	diag("largest free run %llu MiB; multi-frame buffer of %llu bytes",
	     (unsigned long long)(st.pools[0].largest_free_len >> 20),
	     (unsigned long long)sizes[3]);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct harness_child ch;
		struct report rep;
		char go = 1;

		harness_child_start(&ch, child_alloc_and_hold, &sizes[i]);
		harness_recv(ch.fd, &rep, sizeof(rep));
		if (!ok(rep.err == 0, "alloc_%llu_bytes_succeeds", (unsigned long long)sizes[i]))
			diag("  error %d", rep.err);
		ok(harness_phys_contiguous(ch.pid, (void *)(uintptr_t)rep.virt, rep.len, rep.phys),
		   "alloc_%llu_bytes_is_physically_contiguous_per_pagemap",
		   (unsigned long long)sizes[i]);
		harness_send(ch.fd, &go, 1);
		ok(harness_child_wait(&ch) == 0, "client_frees_and_exits_cleanly");
	}
	ok(harness_wait_stats(c, all_free, NULL), "every_frame_returns_to_the_pool");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly_on_sigterm");
	if (alone)
		is_u64(harness_free_hugepages(2 * MiB), free_before, "daemon_gives_every_hugepage_back");
	else
		ok(true, "daemon_gives_every_hugepage_back # SKIP %s", why);
	return done_testing();
}
