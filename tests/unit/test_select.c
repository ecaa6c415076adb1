/* test_select.c - tests for daemon/select.c and common/segments.c (the
 * histogram a selection is judged by), printing TAP.
 *
 * DESIGN
 * Hand-picked cases first: runs taken longest first, a part of the last run
 * placed at its most aligned start, fewer candidates than asked for, none,
 * the histogram's buckets. Then random candidate sets against a brute-force
 * reference: for up to 14 candidates scattered over a small window (so that
 * runs form), every subset of the requested size is tried, and the best is
 * the one whose segment lengths, sorted longest first, are
 * lexicographically greatest; contig_select_frames() must reach exactly
 * those lengths, keep only candidates, and keep exactly as many as asked.
 * SELECT_SEED=N picks the seed (the default is printed as a diag).
 */
#include <stdlib.h>
#include <string.h>

#include "segments.h"
#include "select.h"
#include "tap.h"

#define P (UINT64_C(2) << 20) /* 2 MiB frames */
#define MAXN 14

/* Sorted-descending segment lengths of the kept frames; returns how many. */
static size_t segments_of(const uint64_t *phys, size_t n, const bool *keep, size_t *ret_lens)
{
	uint64_t kept[64];
	size_t nk = 0, nseg = 0;

	for (size_t i = 0; i < n; i++)
		if (keep[i])
			kept[nk++] = phys[i];
	for (size_t i = 1; i < nk; i++) /* insertion sort: tiny */
		for (size_t j = i; j > 0 && kept[j - 1] > kept[j]; j--) {
			uint64_t t = kept[j];

			kept[j] = kept[j - 1];
			kept[j - 1] = t;
		}
	for (size_t i = 0; i < nk; i++) {
		if (i == 0 || kept[i] != kept[i - 1] + P)
			ret_lens[nseg++] = 0;
		ret_lens[nseg - 1]++;
	}
	for (size_t i = 1; i < nseg; i++)
		for (size_t j = i; j > 0 && ret_lens[j - 1] < ret_lens[j]; j--) {
			size_t t = ret_lens[j];

			ret_lens[j] = ret_lens[j - 1];
			ret_lens[j - 1] = t;
		}
	return nseg;
}

/* >0 if a is lexicographically greater than b. */
static int cmp_lens(const size_t *a, size_t na, const size_t *b, size_t nb)
{
	for (size_t i = 0; i < na && i < nb; i++)
		if (a[i] != b[i])
			return a[i] > b[i] ? 1 : -1;
	/* same prefix: fewer segments (longer ones) is better */
	return na < nb ? 1 : na > nb ? -1 : 0;
}

static void test_cases(void)
{
	/* runs: 3 at 0, 5 at 100P, 1 at 200P, 2 at 300P (shuffled) */
	uint64_t phys[] = { 101 * P, 0, 300 * P, 2 * P, 104 * P, 200 * P, 1 * P,
			    102 * P, 301 * P, 100 * P, 103 * P };
	size_t n = sizeof(phys) / sizeof(phys[0]);
	bool keep[16];
	uint32_t hist[CONTIG_SEGMENT_BUCKETS] = { 0 };
	size_t lens[16], nseg;
	int r;

	r = contig_select_frames(phys, n, P, 8, keep);
	nseg = segments_of(phys, n, keep, lens);
	ok(r == 8 && nseg == 2 && lens[0] == 5 && lens[1] == 3,
	   "eight_of_runs_5_3_2_1_keeps_the_5_and_the_3");
	r = contig_select_frames(phys, n, P, 6, keep);
	nseg = segments_of(phys, n, keep, lens);
	ok(r == 6 && nseg == 2 && lens[0] == 5 && lens[1] == 1,
	   "six_keeps_the_5_and_one_of_the_3");
	/* that one frame of the run 0,1,2: the most aligned start is 0 */
	ok(keep[1] && !keep[6] && !keep[3], "the_part_starts_where_most_aligned (phys 0)");
	r = contig_select_frames(phys, n, P, 4, keep);
	nseg = segments_of(phys, n, keep, lens);
	/* 4 of the run 100..104: 100P = 200 MiB is 8 MiB-aligned, 104P = 208 MiB 16 MiB-aligned but
	 * only 1 frame follows it; 4 frames fit at 100 or 101; 100P has more zero bits */
	ok(r == 4 && nseg == 1 && lens[0] == 4 && keep[9] && !keep[4],
	   "four_are_a_part_of_the_longest_run_at_its_best_start");
	r = contig_select_frames(phys, n, P, 20, keep);
	ok(r == (int)n, "asking_for_more_than_there_are_keeps_all (%d)", r);
	r = contig_select_frames(phys, 0, P, 3, keep);
	ok(r == 0, "no_candidates_keeps_none");
	r = contig_select_frames(phys, n, P, 0, keep);
	nseg = segments_of(phys, n, keep, lens);
	ok(r == 0 && nseg == 0, "keeping_zero_keeps_none");

	{
		uint64_t copy[sizeof(phys) / sizeof(phys[0])];
		uint64_t longest;

		memcpy(copy, phys, sizeof(phys));
		longest = contig_segments_histogram(copy, n, P, hist);
		ok(longest == 5 && hist[0] == 1 && hist[1] == 2 && hist[2] == 1,
		   "histogram_of_runs_5_3_2_1 (1 x [1], 2 x [2,3], 1 x [4,7])");
	}
	{
		uint32_t h[CONTIG_SEGMENT_BUCKETS] = { [0] = 1, [1] = 2, [2] = 1,
						       [CONTIG_SEGMENT_BUCKETS - 1] = 3 };
		uint32_t none[CONTIG_SEGMENT_BUCKETS] = { 0 };
		char text[128], cut[12];

		contig_segments_format(h, text, sizeof(text));
		ok(!strcmp(text, "1 x1, 2-3 x2, 4-7 x1, 524288+ x3"),
		   "the_histogram_reads_as_lengths_and_counts (%s)", text);
		contig_segments_format(none, text, sizeof(text));
		ok(!strcmp(text, "none"), "an_empty_histogram_reads_none");
		contig_segments_format(h, cut, sizeof(cut));
		ok(strlen(cut) < sizeof(cut), "a_short_buffer_is_cut_not_overrun (%s)", cut);
	}
	ok(contig_segment_bucket(1) == 0 && contig_segment_bucket(2) == 1 &&
		   contig_segment_bucket(3) == 1 && contig_segment_bucket(4) == 2 &&
		   contig_segment_bucket(UINT64_MAX) == CONTIG_SEGMENT_BUCKETS - 1,
	   "segment_buckets_are_powers_of_two");
}

/* Best sorted lengths over all subsets of size k, by brute force. */
static size_t best_lens(const uint64_t *phys, size_t n, size_t k, size_t *ret_lens)
{
	size_t best[MAXN], nbest = 0, lens[MAXN];
	bool keep[MAXN];
	bool any = false;

	for (uint32_t mask = 0; mask < (1u << n); mask++) {
		size_t nseg;

		if ((size_t)__builtin_popcount(mask) != k)
			continue;
		for (size_t i = 0; i < n; i++)
			keep[i] = mask >> i & 1;
		nseg = segments_of(phys, n, keep, lens);
		if (!any || cmp_lens(lens, nseg, best, nbest) > 0) {
			memcpy(best, lens, nseg * sizeof(*lens));
			nbest = nseg;
			any = true;
		}
	}
	memcpy(ret_lens, best, nbest * sizeof(*best));
	return nbest;
}

static void test_random(unsigned seed)
{
	int bad = 0, runs = 0;

	srand(seed);
	for (int t = 0; t < 400 && !bad; t++) {
		uint64_t phys[MAXN];
		size_t n = 1 + (size_t)rand() % MAXN, k, nseg, nref;
		size_t lens[MAXN], ref[MAXN];
		bool keep[MAXN];
		int r;

		/* distinct frames in a window of 2n, at a random base */
		uint64_t base = (uint64_t)(rand() % 1000) * P;
		for (size_t i = 0; i < n; i++) {
			bool dup;

			do {
				phys[i] = base + (uint64_t)(rand() % (int)(2 * n)) * P;
				dup = false;
				for (size_t j = 0; j < i; j++)
					dup |= phys[j] == phys[i];
			} while (dup);
		}
		k = (size_t)rand() % (n + 1);
		r = contig_select_frames(phys, n, P, k, keep);
		nseg = segments_of(phys, n, keep, lens);
		nref = best_lens(phys, n, k, ref);
		runs++;
		if (r != (int)k || cmp_lens(lens, nseg, ref, nref) != 0) {
			diag("seed %u case %d: n %zu k %zu: kept %d, %zu segments (longest %zu), "
			     "best has %zu (longest %zu)", seed, t, n, k, r, nseg, nseg ? lens[0] : 0,
			     nref, nref ? ref[0] : 0);
			bad++;
		}
	}
	ok(!bad, "random_sets_reach_the_brute_force_best (%d sets, seed %u)", runs, seed);
}

int main(void)
{
	const char *s = getenv("SELECT_SEED");
	unsigned seed = s ? (unsigned)strtoul(s, NULL, 0) : 20261202u;

	diag("SELECT_SEED=%u", seed);
	test_cases();
	test_random(seed);
	test_random(seed + 1);
	return done_testing();
}
