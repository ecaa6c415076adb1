/* test_trim.c - contig_trim(): every empty warm frame of the fast path goes
 * back to the daemon now, the reserve included (issue 22).
 *
 * A real daemon (a 64 MiB pool of 2 MiB frames) and a client with the fast
 * path turned on (contig_set_fast_path(): the test does not depend on the
 * default). 16 buffers of 256 KiB, 8 cached and 8 not (two kinds of warm
 * frame), half of them cut in a second thread (another arena), are
 * allocated and freed: the warm frames stay, and the daemon's view says so
 * (my_nframes, the pool's free bytes, the frames it lists as this
 * process's at the addresses this process's pagemap gives). contig_trim()
 * then gives them all back: the pool is whole again, nothing is listed as
 * ours, the frames are unmapped here (pagemap shows nothing there), and a
 * new allocation is served and warm again. A warm frame holding a buffer
 * stays through a trim, bytes and address unchanged; a trim with nothing
 * to give costs no round trip; a forked child's trim gives nothing of its
 * parent's; a trim right after a free not yet reported reports it and
 * gives the frame back. Then, with max_bytes_per_connection = 4M, a client on the fast
 * path is served as without it: a round trip the quota refuses while a
 * warm frame is held empty is served once it is given back, and a small
 * request whose warm frame the quota refuses is packed by the daemon.
 *
 * No sleeps as synchronisation: stats polled until a predicate holds
 * (harness_wait_stats), threads joined, the child waited for.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FRAME (2 * MiB)
#define POOL "0:2M:64M"
#define NBUFS 16
#define BUF_LEN (256 * 1024)

static struct contig_stats stats_of(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0)
		bail_out("contig_get_stats: %s", contig_last_message());
	return st;
}

/* Requests this client sent the daemon so far, its fast path's reports
 * left out (the daemon's own counters count reported buffers too). */
static uint64_t round_trips(struct contig_client *c)
{
	struct contig_fast_stats fs;

	if (contig_get_fast_stats(c, &fs) < 0)
		bail_out("contig_get_fast_stats: %s", contig_last_message());
	return fs.nrequests - fs.nreports;
}

/* A fast-path buffer's id has bit 31 set; the daemon's never does
 * (generation << 32 | slot + 1, slot + 1 below 2^31). */
static bool is_fast(uint64_t id)
{
	return (id & UINT64_C(0x80000000)) != 0;
}

static bool pool_whole(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->pools[0].free_len == st->pools[0].total_len && st->pools[0].nframes_recycling == 0;
}

/* The physical addresses of the frames the daemon lists as this
 * process's, sorted, into @ret (at most @max); returns how many. */
static size_t my_frames(struct contig_client *c, uint64_t *ret, size_t max)
{
	struct contig_frame_info *frames;
	size_t n, k = 0;

	if (contig_list_frames(c, &frames, &n) < 0)
		bail_out("contig_list_frames: %s", contig_last_message());
	for (size_t i = 0; i < n; i++)
		if (frames[i].status == CONTIG_FRAME_STATUS_OWNED && frames[i].owner_pid == getpid() &&
		    k < max)
			ret[k++] = frames[i].phys;
	free(frames);
	qsort(ret, k, sizeof(*ret), harness_cmp_u64);
	return k;
}

struct cut {
	struct contig_client *c;
	struct contig_buffer *bufs;
	size_t n;
	int cache_type;
	int err;
};

/* Allocate @n buffers of BUF_LEN of @cache_type, and free them. */
static void *cut_and_free(void *p)
{
	struct cut *t = p;
	struct contig_alloc_req req;

	for (size_t i = 0; i < t->n; i++) {
		contig_alloc_req_init(&req, BUF_LEN);
		req.cache_type = t->cache_type;
		if ((t->err = contig_alloc(t->c, &req, &t->bufs[i])) < 0)
			return NULL;
		memset(t->bufs[i].virt, 0x77, t->bufs[i].len);
	}
	for (size_t i = 0; i < t->n; i++)
		if ((t->err = contig_free(t->c, t->bufs[i].virt)) < 0)
			return NULL;
	return NULL;
}

/* 16 x 256 KiB allocated and freed; the warm frames held; trimmed. */
static void test_trim_gives_back_every_empty_frame(struct contig_client *c,
						   struct contig_client *watch)
{
	static struct contig_buffer bufs[NBUFS];
	struct cut here = { c, bufs, NBUFS / 2, CONTIG_CACHED, 0 };
	struct cut there = { c, bufs + NBUFS / 2, NBUFS / 2, CONTIG_NON_CACHED, 0 };
	uint64_t warm[NBUFS], listed[NBUFS], rt0;
	size_t nwarm = 0, nlisted, bad = 0;
	struct contig_stats st;
	pthread_t th;

	pthread_create(&th, NULL, cut_and_free, &there);
	pthread_join(th, NULL);
	cut_and_free(&here);
	if (here.err < 0 || there.err < 0)
		bail_out("alloc/free: %s", contig_last_message());

	/* Each buffer where the library said, per pagemap; its warm frame
	 * is the 2 MiB around it. */
	for (size_t i = 0; i < NBUFS; i++) {
		uint64_t frame = bufs[i].phys & ~(uint64_t)(FRAME - 1);
		bool seen = false;

		if (!is_fast(bufs[i].id))
			diag("buffer %zu: not from the fast path (id 0x%llx)", i,
			     (unsigned long long)bufs[i].id);
		for (size_t k = 0; k < nwarm; k++)
			seen |= warm[k] == frame;
		if (!seen)
			warm[nwarm++] = frame;
	}
	qsort(warm, nwarm, sizeof(*warm), harness_cmp_u64);
	/* (Still mapped: the pagemap of a freed fast-path buffer's page is
	 * its warm frame's.) */
	for (size_t i = 0; i < NBUFS; i++)
		if (harness_phys_of(getpid(), bufs[i].virt) != bufs[i].phys)
			bad++;
	ok(bad == 0, "freed_fast_path_buffers_stay_mapped_in_their_warm_frames_per_pagemap");
	if (!ok(nwarm == NBUFS * BUF_LEN / FRAME, "sixteen_256k_buffers_took_%zu_warm_frames",
		(size_t)(NBUFS * BUF_LEN / FRAME)))
		diag("  %zu warm frames", nwarm);

	st = stats_of(c);
	if (!ok(st.my_nframes == nwarm, "daemon_sees_the_empty_warm_frames_held"))
		diag("  my_nframes %u, warm frames %zu", st.my_nframes, nwarm);
	ok(st.pools[0].free_len == st.pools[0].total_len - nwarm * FRAME,
	   "pool_lacks_exactly_the_warm_frames");
	nlisted = my_frames(c, listed, NBUFS);
	ok(nlisted == nwarm && memcmp(listed, warm, nwarm * sizeof(*warm)) == 0,
	   "daemon_lists_the_warm_frames_at_the_addresses_pagemap_gives");

	rt0 = round_trips(c);
	if (!ok(contig_trim(c) == 0, "trim_succeeds"))
		diag("  %s", contig_last_message());
	if (!ok(round_trips(c) - rt0 == nwarm, "trim_costs_one_round_trip_per_frame"))
		diag("  %llu round trips", (unsigned long long)(round_trips(c) - rt0));
	ok(harness_wait_stats(watch, pool_whole, NULL), "after_trim_the_pool_is_whole");
	st = stats_of(c);
	ok(st.my_nframes == 0 && my_frames(c, listed, NBUFS) == 0,
	   "after_trim_the_daemon_lists_no_frame_of_ours");
	bad = 0;
	for (size_t i = 0; i < NBUFS; i++)
		if (harness_phys_of(getpid(), bufs[i].virt) != 0)
			bad++;
	ok(bad == 0, "after_trim_the_warm_frames_are_unmapped_here_per_pagemap");
}

/* Allocation after a trim; a frame holding a buffer survives one. */
static void test_alloc_after_trim(struct contig_client *c, struct contig_client *watch)
{
	struct contig_alloc_req req;
	struct contig_buffer b, of;
	uint64_t rt0, listed[4];
	size_t bad = 0;

	contig_alloc_req_init(&req, 4096);
	if (!ok(contig_alloc(c, &req, &b) == 0, "alloc_after_trim_is_served"))
		diag("  %s", contig_last_message());
	ok(is_fast(b.id), "alloc_after_trim_comes_from_the_fast_path_again");
	ok(harness_phys_contiguous(getpid(), b.virt, b.len, b.phys),
	   "alloc_after_trim_is_where_pagemap_says");
	ok(my_frames(c, listed, 4) == 1 && listed[0] == (b.phys & ~(uint64_t)(FRAME - 1)),
	   "daemon_lists_its_new_warm_frame");
	memset(b.virt, 0xa5, b.len);

	ok(contig_trim(c) == 0, "trim_with_a_buffer_live_succeeds");
	for (size_t k = 0; k < b.len; k++)
		if (((const uint8_t *)b.virt)[k] != 0xa5)
			bad++;
	ok(bad == 0 && harness_phys_of(getpid(), b.virt) == b.phys,
	   "a_warm_frame_holding_a_buffer_stays_through_trim");
	ok(contig_buffer_of(c, (uint8_t *)b.virt + 100, &of) == 0 && of.id == b.id,
	   "its_buffer_is_still_found");
	ok(stats_of(c).my_nframes == 1, "daemon_still_charges_that_frame");

	rt0 = round_trips(c);
	ok(contig_trim(c) == 0 && round_trips(c) == rt0, "trim_with_nothing_empty_costs_no_round_trip");

	ok(contig_free(c, b.virt) == 0, "its_buffer_is_freed_after_trim");
	ok(contig_trim(c) == 0 && harness_wait_stats(watch, pool_whole, NULL),
	   "the_emptied_frame_goes_at_the_next_trim");
}

/* A trim right after a free the daemon has not been told of: the free is
 * reported first and the frame goes back with it (a frame given back
 * before its buffer's free was reported crashed the reporter thread and
 * told the daemon of the frame's free before its carve's). Over and over,
 * with the reporter thread awake. */
static void test_trim_right_after_a_free(struct contig_client *c, struct contig_client *watch)
{
	struct contig_alloc_req req;
	struct contig_buffer b;
	uint64_t rt0, listed[4];
	size_t nbad = 0, nfast = 0;
	const int rounds = 50;

	for (int i = 0; i < rounds; i++) {
		contig_alloc_req_init(&req, 4096);
		if (contig_alloc(c, &req, &b) < 0 || contig_flush(c) < 0)
			bail_out("alloc: %s", contig_last_message());
		nfast += is_fast(b.id);
		rt0 = round_trips(c);
		if (contig_free(c, b.virt) < 0)
			bail_out("free: %s", contig_last_message());
		/* (Its free is queued now: nothing told the daemon yet.) */
		if (contig_trim(c) < 0 || round_trips(c) - rt0 != 1 ||
		    my_frames(c, listed, 4) != 0)
			nbad++;
	}
	ok(nfast == (size_t)rounds, "every_buffer_came_from_the_fast_path");
	if (!ok(nbad == 0, "trim_right_after_a_free_gives_the_frame_back_each_of_%d_times", rounds))
		diag("  %zu times not", nbad);
	ok(contig_flush(c) == 0 && stats_of(c).my_nbuffers == 0 && stats_of(c).my_nframes == 0,
	   "the_daemon_holds_no_buffer_or_frame_of_ours_after");
	ok(harness_wait_stats(watch, pool_whole, NULL), "the_pool_is_whole_after_the_trims");
}

/* A forked child's trim gives back nothing of its parent's. */
static void test_trim_in_child(struct contig_client *c)
{
	struct contig_alloc_req req;
	struct contig_buffer b;
	int status;
	pid_t pid;

	contig_alloc_req_init(&req, 4096);
	if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0)
		bail_out("alloc/free: %s", contig_last_message());
	if (stats_of(c).my_nframes != 1)
		bail_out("no warm frame held");
	pid = fork();
	if (pid == 0)
		_exit(contig_trim(c) == 0 ? 0 : 1);
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		   WEXITSTATUS(status) == 0,
	   "trim_in_a_forked_child_succeeds");
	ok(stats_of(c).my_nframes == 1 && harness_phys_of(getpid(), b.virt) == b.phys,
	   "a_childs_trim_leaves_the_parents_warm_frame");
	ok(contig_trim(c) == 0 && stats_of(c).my_nframes == 0, "the_parents_trim_gives_it_back");
}

/* max_bytes_per_connection = 4M: a client on the fast path is served as
 * without it. Its empty warm frame, charged, is given back when a round
 * trip is refused for the quota, and the request asked again; a warm frame
 * the quota refuses sends a small request to the daemon, which packs it
 * into a frame the client holds. */
static void test_small_quota(void)
{
	static char conf[] = "/tmp/contigd-trim.conf.XXXXXX";
	static const char text[] = "max_bytes_per_connection = 4M\n";
	const char *const args[] = { "--config", conf, "--pool", POOL, NULL };
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer big, small, mid, packed;
	int fd = mkstemp(conf), r;

	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		bail_out("writing %s", conf);
	close(fd);
	harness_daemon_start(&d, args);
	unlink(conf);
	c = harness_connect(&d);
	if (contig_set_fast_path(c, 1) < 0)
		bail_out("contig_set_fast_path: %s", contig_last_message());
	contig_alloc_req_init(&req, FRAME);
	if (contig_alloc(c, &req, &big) < 0)
		bail_out("alloc 2 MiB: %s", contig_last_message());
	contig_alloc_req_init(&req, 4096);
	if (contig_alloc(c, &req, &small) < 0 || contig_free(c, small.virt) < 0)
		bail_out("alloc/free 4 KiB: %s", contig_last_message());
	ok(is_fast(small.id) && stats_of(c).my_nframes == 2,
	   "at_its_quota_a_client_holds_an_empty_warm_frame");

	contig_alloc_req_init(&req, MiB);
	r = contig_alloc(c, &req, &mid);
	if (!ok(r == 0, "a_round_trip_refused_for_the_quota_is_served_once_the_reserve_is_given_back"))
		diag("  %d: %s", r, contig_last_message());
	ok(r == 0 && stats_of(c).my_nframes == 2 && harness_phys_contiguous(getpid(), mid.virt,
									   mid.len, mid.phys),
	   "the_reserve_went_back_and_the_buffer_is_where_pagemap_says");

	contig_alloc_req_init(&req, 4096);
	r = contig_alloc(c, &req, &packed);
	if (!ok(r == 0 && !is_fast(packed.id) &&
			(packed.phys & ~(uint64_t)(FRAME - 1)) == (mid.phys & ~(uint64_t)(FRAME - 1)),
		"a_warm_frame_refused_for_the_quota_sends_a_small_request_to_the_daemon_which_packs_it"))
		diag("  %d: %s", r, contig_last_message());
	ok(r == 0 && harness_phys_contiguous(getpid(), packed.virt, packed.len, packed.phys),
	   "the_packed_buffer_is_where_pagemap_says");
	contig_alloc_req_init(&req, FRAME);
	ok(contig_alloc(c, &req, &small) == -EDQUOT, "the_quota_still_holds");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_with_a_small_quota_stops_cleanly");
}

int main(void)
{
	static const char *const args[] = { "--pool", POOL, NULL };
	struct harness_daemon d;
	struct contig_client *c, *watch;

	harness_daemon_start(&d, args);
	watch = harness_connect(&d);
	c = harness_connect(&d);
	if (contig_set_fast_path(c, 1) < 0)
		bail_out("contig_set_fast_path: %s", contig_last_message());
	test_trim_gives_back_every_empty_frame(c, watch);
	test_alloc_after_trim(c, watch);
	test_trim_in_child(c);
	test_trim_right_after_a_free(c, watch);
	contig_disconnect(c);
	ok(harness_wait_stats(watch, pool_whole, NULL), "every_frame_returns_to_the_pool");
	contig_disconnect(watch);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	test_small_quota();
	return done_testing();
}
