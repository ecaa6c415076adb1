/* test_reserve.c - reservation that does not depend on luck (issue 10):
 * the real daemon, on a kernel hugepage pool this test scatters itself.
 *
 * DESIGN
 * Churn: the test takes 2 * NSCATTER hugepages of its own (MAP_HUGETLB),
 * reads each one's physical address from its own pagemap, sorts them, and
 * frees every other one. The kernel's free list then starts with
 * NSCATTER pages no two of which are adjacent (between any two freed pages
 * lies one the test still holds, or a gap): exactly what a machine that
 * has run a while hands out, made deliberately.
 *
 * On that, a pool of POOL_FRAMES frames:
 *   - reserve=sorted takes the first POOL_FRAMES free pages: one segment
 *     per frame, its largest segment one frame (this shows the churn
 *     worked, and what the plain reservation gives);
 *   - reserve=longest (the default) tries more candidates than it keeps
 *     (the log says "chose 8 of N" with N > 8), the pool's frames are the
 *     chosen ones (the log's count, and this test's own pagemap reading of
 *     every frame through 2 MiB buffers agrees with the daemon's segments),
 *     its largest segment is at least the sorted one's, no scratch mount
 *     is left, and nr_hugepages goes up by exactly what the pool kept
 *     beyond the pages that were free, and back at stop;
 *   - before that, min_segment=16M with reserve=sorted stops the daemon
 *     saying so; with short=warn it serves, warning.
 *
 * The churn and the exact nr_hugepages checks need the kernel's 2 MiB
 * pool to be this test's alone: it runs only while it holds the machine's
 * hugepage lock (harness_hugepages_alone()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define P (2 * MiB)
#define NSCATTER 32
#define POOL_FRAMES 8
#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define FREE_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

static struct harness_scatter scattered;

/* The pool's frames as this test sees them: every frame allocated as one
 * 2 MiB buffer, located in pagemap; returns the longest run in bytes and
 * whether each matched the daemon's phys. */
static uint64_t longest_run_seen(struct contig_client *c, bool *ret_agree)
{
	struct contig_alloc_req req;
	struct contig_buffer bufs[POOL_FRAMES];
	uint64_t phys[POOL_FRAMES], run = 0, longest = 0;

	*ret_agree = true;
	contig_alloc_req_init(&req, P);
	for (int i = 0; i < POOL_FRAMES; i++) {
		if (contig_alloc(c, &req, &bufs[i]) < 0)
			bail_out("contig_alloc: %s", contig_last_message());
		phys[i] = harness_phys_of(getpid(), bufs[i].virt);
		*ret_agree &= phys[i] == bufs[i].phys;
	}
	qsort(phys, POOL_FRAMES, sizeof(phys[0]), harness_cmp_u64);
	for (int i = 0; i < POOL_FRAMES; i++) {
		run = i && phys[i] == phys[i - 1] + P ? run + P : P;
		if (run > longest)
			longest = run;
	}
	for (int i = 0; i < POOL_FRAMES; i++)
		contig_free(c, bufs[i].virt);
	return longest;
}

static struct contig_pool_stats pool_stats(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0 || st.npools != 1)
		bail_out("contig_get_stats: %s", contig_last_message());
	return st.pools[0];
}

static uint64_t test_sorted(void)
{
	const char *args[] = { "--pool", "0:2M:16M,reserve=sorted", NULL };
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_pool_stats p;

	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	p = pool_stats(c);
	ok(p.nsegments == POOL_FRAMES && p.largest_segment_len == P,
	   "sorted_on_scattered_pages_is_a_segment_per_frame (%u segments, largest %llu MiB)",
	   p.nsegments, (unsigned long long)(p.largest_segment_len >> 20));
	ok(!harness_daemon_log_has(&d, "candidate"), "sorted_tries_no_candidates");
	{
		struct contig_pool_segments seg;
		size_t n = 0;
		char ctl[1024], cmd[1280], out[4096] = "";
		FILE *f;

		ok(contig_get_segments(c, &seg, 1, &n) == 0 && n == 1 && seg.known &&
			   seg.count[0] == POOL_FRAMES && seg.count[1] == 0 && seg.nbroken == 0,
		   "the_daemon_reports_eight_segments_of_one_frame");
		harness_build_path("contigctl", ctl, sizeof(ctl));
		snprintf(cmd, sizeof(cmd), "CONTIGD_SOCKET=%s %s status", d.sock, ctl);
		f = popen(cmd, "r");
		if (f) {
			size_t len = fread(out, 1, sizeof(out) - 1, f);

			out[len] = '\0';
			pclose(f);
		}
		ok(strstr(out, "pool 0 segments by length in frames: 1 x8; broken by recycling: 0\n"),
		   "contigctl_status_shows_the_histogram");
	}
	ok(harness_daemon_log_has(&d, "segments by length in frames: 1 x8; largest buffer 2 MiB"),
	   "the_log_shows_the_histogram_and_largest_buffer");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "sorted_daemon_stops_cleanly");
	return p.largest_segment_len;
}

static void test_longest(uint64_t sorted_largest)
{
	const char *args[] = { "--pool", "0:2M:16M,candidates=8x", NULL };
	uint64_t nr_before = harness_read_u64(NR_2M), free_before = harness_read_u64(FREE_2M), nr_ready;
	uint64_t kept_beyond_free = POOL_FRAMES > free_before ? POOL_FRAMES - free_before : 0;
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_pool_stats p;
	char inst[64], scratch[192];
	unsigned tried = 0, kept = 0, matched = 0;
	bool agree;
	struct stat st;

	harness_daemon_start(&d, args);
	nr_ready = harness_read_u64(NR_2M);
	c = harness_connect(&d);
	p = pool_stats(c);
	{
		char log[8192];
		ssize_t n = pread(d.log_fd, log, sizeof(log) - 1, 0);
		const char *at;

		log[n > 0 ? n : 0] = '\0';
		at = strstr(log, "kB pages: chose ");
		if (at)
			sscanf(at, "kB pages: chose %u of %u", &kept, &tried);
		at = at ? strstr(at, "); ") : NULL;
		if (at)
			sscanf(at, "); %u of the pool's frames", &matched);
	}
	ok(kept == POOL_FRAMES && tried > kept,
	   "longest_keeps_fewer_frames_than_it_tried (chose %u of %u)", kept, tried);
	ok(matched == POOL_FRAMES, "the_pools_frames_are_the_chosen_ones (%u of %u)", matched,
	   POOL_FRAMES);
	ok(p.nframes == POOL_FRAMES && p.free_len == 16 * MiB, "the_pool_has_its_8_frames_free");
	ok(p.largest_segment_len >= sorted_largest,
	   "its_largest_segment_is_at_least_the_sorted_one (%llu MiB vs %llu MiB)",
	   (unsigned long long)(p.largest_segment_len >> 20),
	   (unsigned long long)(sorted_largest >> 20));
	ok(longest_run_seen(c, &agree) == p.largest_segment_len && agree,
	   "pagemap_agrees_with_the_daemons_segments");
	harness_instance_name(d.sock, inst, sizeof(inst));
	snprintf(scratch, sizeof(scratch), "/run/contigd/%s-candidates-2048kB", inst);
	ok(stat(scratch, &st) < 0 && errno == ENOENT, "no_scratch_mount_is_left (%s)", scratch);
	ok(nr_ready - nr_before == kept_beyond_free,
	   "nr_hugepages_rose_by_what_was_kept_beyond_the_free_pages (%llu, expected %llu)",
	   (unsigned long long)(nr_ready - nr_before), (unsigned long long)kept_beyond_free);
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "longest_daemon_stops_cleanly");
	ok(harness_read_u64(NR_2M) == nr_before, "nr_hugepages_is_back_after_stop");
}

static void test_min_segment(void)
{
	const char *fails[] = { "--pool", "0:2M:16M,reserve=sorted,min_segment=16M", NULL };
	const char *warns[] = { "--pool", "0:2M:16M,reserve=sorted,min_segment=16M,short=warn",
				NULL };
	struct harness_daemon d;
	char log[4096];
	int status;

	status = harness_daemon_fail(fails, log, sizeof(log));
	ok(status != 0 && strstr(log, "below its min_segment of 16 MiB"),
	   "a_largest_segment_below_min_segment_stops_the_daemon (status %d)", status);
	harness_daemon_start(&d, warns);
	ok(harness_daemon_log_has(&d, "short=warn: serving anyway"),
	   "with_short_warn_it_serves_and_warns");
	ok(harness_daemon_stop(&d) == 0, "warned_daemon_stops_cleanly");
}

int main(void)
{
	uint64_t sorted_largest;
	char why[160];

	if (!harness_hugepages_alone(why, sizeof(why))) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	harness_scatter(&scattered, NSCATTER);
	sorted_largest = test_sorted();
	test_min_segment(); /* before a daemon puts adjacent pages first in line */
	test_longest(sorted_largest);
	harness_unscatter(&scattered);
	return done_testing();
}
