/* bench_reserve.c - issue #10, section 11: the largest segment a pool gets
 * on a churned kernel hugepage pool, reserve=longest against the plain
 * sorted reservation (reserve=sorted), and what each costs at startup, in
 * the same run.
 *
 * DESIGN
 * Churn, before each pair of runs: the bench raises nr_hugepages by twice
 * the pool's frames, takes that many hugepages itself (MAP_HUGETLB,
 * populated), locates each in its own pagemap, sorts them and gives back
 * every other one. The kernel's free list then starts with as many pages
 * as the pool needs, no two of them adjacent, while the bench holds the
 * others ("other memory in use"): a deliberately, reproducibly churned
 * pool, the worst case for a plain reservation. Everything is undone
 * after the pair (the bench holds nothing while no daemon runs).
 *
 * Each pair: the real daemon started with --pool 0:2M:<size>,reserve=sorted
 * then with --pool 0:2M:<size> (reserve=longest, candidates=8x, the
 * defaults); for each, the time from fork to READY=1 (bench_daemon.ready_s)
 * and the pool's stats at READY (segments, largest segment). The sorted run
 * goes first: the longest run's daemon leaves its chosen, adjacent pages
 * first on the free list when it stops, which would favour a sorted run
 * after it. For the 1 GiB pool, a third start with 1 GiB pages
 * (--pool 0:1G:1G) shows what the preferred page size gives (it falls back
 * to 2 MiB frames, logged, when the kernel cannot make a 1 GiB page).
 * BENCH_RESERVE_REPS (3) pairs per size; the figures are medians.
 *
 * Targets (issue 10): a 256 MiB pool of 2 MiB frames whose largest segment
 * is at least 128 MiB; a 1 GiB pool that is one segment.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "harness.h" /* harness_scatter() */

#define P (2 * MIB)

struct run {
	double ready_s;
	uint32_t nsegments;
	uint64_t largest;
};

static struct run start_once(const char *pool)
{
	struct contig_client *c;
	struct contig_stats st;
	struct run r;

	bench_daemon_start(pool, NULL);
	if (contig_connect(bench_daemon.sock, &c) < 0 || contig_get_stats(c, &st) < 0)
		bench_die("stats: %s", contig_last_message());
	r.ready_s = bench_daemon.ready_s;
	r.nsegments = st.pools[0].nsegments;
	r.largest = st.pools[0].largest_segment_len;
	contig_disconnect(c);
	bench_daemon_stop();
	return r;
}

static int cmp_run_s(const void *a, const void *b)
{
	double x = ((const struct run *)a)->ready_s, y = ((const struct run *)b)->ready_s;

	return x < y ? -1 : x > y;
}

static int cmp_run_len(const void *a, const void *b)
{
	uint64_t x = ((const struct run *)a)->largest, y = ((const struct run *)b)->largest;

	return x < y ? -1 : x > y;
}

/* Median time, median largest segment, and the segments of that run. */
static struct run median(struct run *runs, int n)
{
	struct run m;

	qsort(runs, (size_t)n, sizeof(*runs), cmp_run_s);
	m.ready_s = runs[n / 2].ready_s;
	qsort(runs, (size_t)n, sizeof(*runs), cmp_run_len);
	m.largest = runs[n / 2].largest;
	m.nsegments = runs[n / 2].nsegments;
	return m;
}

static void text(const struct run *r, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 " MiB (%" PRIu32 " segs), ready %.2f s", r->largest >> 20,
		 r->nsegments, r->ready_s);
}

int main(void)
{
	static const uint64_t sizes[] = { 256 * MIB, 1 * GIB };
	const char *reps_env = getenv("BENCH_RESERVE_REPS");
	int reps = reps_env ? atoi(reps_env) : 3;

	bench_init("bench_reserve");
	if (geteuid() != 0)
		bench_die("needs root (pagemap, nr_hugepages)");
	if (reps < 1 || reps > 15)
		reps = 3;
	printf("11. Reservation on a churned kernel pool: the free list starts with as many\n"
	       "    pairwise non-adjacent 2 MiB pages as the pool needs (the bench holds every\n"
	       "    other page); reserve=sorted against reserve=longest (candidates=8x), %d\n"
	       "    pairs per size, medians; time is fork to READY=1\n\n", reps);
	printf("%-6s %-22s %10s %9s %9s\n", "pool", "reservation", "largest", "segments", "ready_s");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t size = sizes[s];
		struct run sorted[16], longest[16], huge[16], ms, ml, mh = { 0 };
		char pool_s[64], pool_l[64], what[96], value[96], base[96], target[64];
		bool met;

		snprintf(pool_s, sizeof(pool_s), "0:2M:%" PRIu64 "M,reserve=sorted", size >> 20);
		snprintf(pool_l, sizeof(pool_l), "0:2M:%" PRIu64 "M", size >> 20);
		for (int r = 0; r < reps; r++) {
			struct harness_scatter c;

			harness_scatter(&c, size / P);
			sorted[r] = start_once(pool_s);
			longest[r] = start_once(pool_l);
			if (size == GIB)
				huge[r] = start_once("0:1G:1G");
			harness_unscatter(&c);
		}
		ms = median(sorted, reps);
		ml = median(longest, reps);
		printf("%-6s %-22s %6" PRIu64 " MiB %9" PRIu32 " %9.2f\n",
		       size == GIB ? "1G" : "256M", "2M, sorted", ms.largest >> 20, ms.nsegments,
		       ms.ready_s);
		printf("%-6s %-22s %6" PRIu64 " MiB %9" PRIu32 " %9.2f\n",
		       size == GIB ? "1G" : "256M", "2M, longest", ml.largest >> 20, ml.nsegments,
		       ml.ready_s);
		if (size == GIB) {
			mh = median(huge, reps);
			printf("%-6s %-22s %6" PRIu64 " MiB %9" PRIu32 " %9.2f\n", "1G", "1G pages",
			       mh.largest >> 20, mh.nsegments, mh.ready_s);
		}

		snprintf(what, sizeof(what), "%s pool, 2 MiB frames: largest segment",
			 size == GIB ? "1 GiB" : "256 MiB");
		text(&ml, value, sizeof(value));
		snprintf(base, sizeof(base), "sorted: ");
		text(&ms, base + 8, sizeof(base) - 8);
		if (size == GIB) {
			met = ml.largest == size;
			snprintf(target, sizeof(target), "one segment");
		} else {
			met = ml.largest >= 128 * MIB;
			snprintf(target, sizeof(target), ">= 128 MiB");
		}
		bench_summary("11 reservation", what, value, base,
			      (double)ml.largest / (double)ms.largest, target, met);
		snprintf(what, sizeof(what), "%s pool, 2 MiB frames: startup",
			 size == GIB ? "1 GiB" : "256 MiB");
		snprintf(value, sizeof(value), "%.2f s", ml.ready_s);
		snprintf(base, sizeof(base), "sorted: %.2f s", ms.ready_s);
		bench_summary("11 reservation", what, value, base, ml.ready_s / ms.ready_s, NULL,
			      false);
		if (size == GIB) {
			text(&mh, value, sizeof(value));
			snprintf(base, sizeof(base), "sorted 2M: ");
			text(&ms, base + 11, sizeof(base) - 11);
			bench_summary("11 reservation", "1 GiB pool, 1 GiB pages: largest segment",
				      value, base, (double)mh.largest / (double)ms.largest,
				      "one segment", mh.largest == GIB);
		}
	}
	return 0;
}
