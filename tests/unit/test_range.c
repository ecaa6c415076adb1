/* test_range.c - tests for common/range.c, printing TAP.
 *
 * DESIGN
 * Two parts. First, hand-picked edge cases: each boundary of each rule
 * (a buffer ending exactly at @highest or at a boundary, windows nothing
 * fits in, alignments larger than the ranges, addresses next to 2^64),
 * give merging on each side, take splitting, and the error of each call.
 *
 * Second, random operations against a reference model: a bitmap of 16384
 * units, where a unit is a 4 KiB page (a 64 MiB space at 0, at an arbitrary
 * address, and ending at 2^64) or a single byte (a 16 KiB space at an odd
 * address and ending at 2^64; bytes expose every off-by-one that pages
 * hide). Lengths and alignments are whole units. The set starts as random
 * free runs given in shuffled chunks; then come random finds (random len,
 * align, window and boundary, some malformed; a found range is usually
 * taken), gives of whole or partial allocations, takes of random ranges, and
 * gives that overlap free space. The model finds by brute force in 128-bit
 * arithmetic over every aligned start, so it shares neither the algorithm
 * nor the overflow handling of range.c. After each operation the set must
 * be sorted, non-touching and sum to the model's free bytes; every 64
 * operations it must equal the model range by range. A found or taken range
 * must be free in the model, so live allocations never overlap. At the end everything
 * is given back and the set must equal the initial one. A failure stops its
 * run and prints the operation, the seed and the op number; each run then
 * reports one ok line per property. After every operation the set must
 * also pass contig_range_set_check(), which checks the tree behind it
 * (order, leaves at one depth, entries per node, subtree summaries, node
 * counts).
 *
 * Third, a large set: 200 000 ranges of 1 to 8 pages, the last ending at
 * 2^64, given in shuffled chunks (so building merges too), then random
 * finds, takes (whole, front, back, middle, past the end), gives of whole
 * or partial allocations, overlapping gives and is_free, each checked
 * against a sorted array changed with memmove (the old flat design, too
 * plain to be wrong) whose find computes each range's first fit in 128
 * bits; every 1000 operations the set must pass contig_range_set_check()
 * and equal the array range by range, and giving everything back must
 * restore the initial set.
 *
 * RANGE_SEED=N picks the seed (the default is printed as a diag);
 * RANGE_OPS=N the number of operations per run (5 runs; the large set
 * gets a quarter of it).
 */
#define CONTIG_RANGE_DEBUG /* contig_range_set_copy() and _check() */
#include "range.h"
#include "tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE UINT64_C(0x1000)
#define MAX UINT64_MAX
#define TOP(n) (UINT64_MAX - (n) + 1) /* the address @n bytes below 2^64 */
#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

#define RANGES(...) (const struct contig_range[]){ __VA_ARGS__ }
#define NRANGES(...) (sizeof(RANGES(__VA_ARGS__)) / sizeof(struct contig_range))

/* Fill @set (initialized here) with the given ranges, in order. */
#define SET_OF(set, ...) set_of((set), RANGES(__VA_ARGS__), NRANGES(__VA_ARGS__))
/* ok() that @set holds exactly the given ranges and a matching free_len. */
#define EXPECT_SET(set, name, ...)                                                                 \
	expect_set((set), RANGES(__VA_ARGS__), NRANGES(__VA_ARGS__), (name))

static void set_of(struct contig_range_set *set, const struct contig_range *ranges, size_t n)
{
	size_t i;
	int err;

	contig_range_set_init(set);
	for (i = 0; i < n; i++) {
		err = contig_range_give(set, ranges[i].phys, ranges[i].len);
		if (err)
			bail_out("setup: give 0x%" PRIx64 "+0x%" PRIx64 " returned %d",
				 ranges[i].phys, ranges[i].len, err);
	}
}

static struct contig_range *ranges_buf; /* ranges_of()'s, freed by main() */
static size_t ranges_cap;

/* The ranges of @set in address order, in a buffer that the next call
 * reuses. */
static const struct contig_range *ranges_of(const struct contig_range_set *set)
{
	if (set->nranges > ranges_cap) {
		free(ranges_buf);
		ranges_cap = set->nranges * 2;
		ranges_buf = calloc(ranges_cap, sizeof(*ranges_buf));
		if (!ranges_buf)
			bail_out("out of memory");
	}
	contig_range_set_copy(set, ranges_buf, set->nranges);
	return ranges_buf;
}

static void diag_set(const struct contig_range_set *set)
{
	const struct contig_range *ranges = ranges_of(set);
	size_t i;

	diag("  set (%zu ranges, free_len 0x%" PRIx64 "):", set->nranges, set->free_len);
	for (i = 0; i < set->nranges; i++)
		diag("    [0x%" PRIx64 ", +0x%" PRIx64 ")", ranges[i].phys, ranges[i].len);
}

static bool set_equals(const struct contig_range_set *set, const struct contig_range *want,
		       size_t n)
{
	const struct contig_range *ranges = ranges_of(set);
	uint64_t sum = 0;
	size_t i;

	if (set->nranges != n)
		return false;
	for (i = 0; i < n; i++) {
		if (ranges[i].phys != want[i].phys || ranges[i].len != want[i].len)
			return false;
		sum += want[i].len;
	}
	return set->free_len == sum;
}

static void expect_set(const struct contig_range_set *set, const struct contig_range *want,
		       size_t n, const char *name)
{
	if (!ok(set_equals(set, want, n), "%s", name))
		diag_set(set);
}

static struct contig_range_req req(uint64_t len, uint64_t align, uint64_t lowest, uint64_t highest,
				   uint64_t boundary)
{
	struct contig_range_req r = {
		.len = len,
		.align = align,
		.lowest = lowest,
		.highest = highest,
		.boundary = boundary,
	};

	return r;
}

/* ok() that find returns @want_err, and on success @want_phys; *ret_phys
 * must stay untouched on failure. */
static void expect_find(const struct contig_range_set *set, struct contig_range_req r, int want_err,
			uint64_t want_phys, const char *name)
{
	const char *field = "?";
	uint64_t phys = SENTINEL;
	int err;

	if (contig_range_req_check(&r, &field)) {
		ok(false, "%s", name);
		diag("  test bug: request rejected, bad %s", field);
		return;
	}
	err = contig_range_find(set, &r, &phys);
	if (want_err) {
		if (!ok(err == want_err && phys == SENTINEL, "%s", name))
			diag("  got %d, phys 0x%" PRIx64 "; want %d, phys untouched", err, phys,
			     want_err);
	} else if (!ok(err == 0 && phys == want_phys, "%s", name)) {
		diag("  got %d, phys 0x%" PRIx64 "; want 0 and 0x%" PRIx64, err, phys, want_phys);
	}
}

static void expect_err(int got, int want, const char *name)
{
	if (!ok(got == want, "%s", name))
		diag("  got %d (%s), want %d (%s)", got, strerror(-got), want, strerror(-want));
}

/* ---------------------------------------------------------------------- */
/* Hand-picked cases */

static void test_empty(void)
{
	struct contig_range_set set;

	contig_range_set_init(&set);
	expect_find(&set, req(PAGE, PAGE, 0, MAX, 0), -ENOSPC, 0,
		    "find_on_empty_set_returns_enospc");
	is_u64(contig_range_largest(&set), 0, "largest_of_empty_set_is_zero");
	ok(!contig_range_is_free(&set, 0, PAGE), "is_free_on_empty_set_is_false");
	expect_err(contig_range_take(&set, 0, PAGE), -ENOENT, "take_from_empty_set_returns_enoent");
	contig_range_set_done(&set);
	contig_range_set_done(&set);
	contig_range_set_done(NULL);
	ok(!contig_range_set_check(&set) && set.nnodes == 0 && set.nranges == 0 &&
		   set.free_len == 0,
	   "done_accepts_null_and_repeated_calls");
}

static void test_req_check(void)
{
	static const struct {
		struct contig_range_req req;
		const char *field; /* NULL: well formed */
		const char *name;
	} cases[] = {
		{ { .len = PAGE, .align = PAGE, .highest = MAX }, NULL,
		  "req_check_accepts_plain_request" },
		{ { .len = 1, .align = 1, .highest = 0 }, NULL,
		  "req_check_accepts_one_byte_at_zero" },
		{ { .len = 0, .align = PAGE, .highest = MAX }, "len",
		  "req_check_rejects_zero_len" },
		{ { .len = PAGE, .align = 0, .highest = MAX }, "align",
		  "req_check_rejects_zero_align" },
		{ { .len = PAGE, .align = 3 * PAGE, .highest = MAX }, "align",
		  "req_check_rejects_align_not_power_of_two" },
		{ { .len = PAGE, .align = 1ull << 63, .highest = MAX, .boundary = 1ull << 63 },
		  NULL,
		  "req_check_accepts_align_and_boundary_of_2^63" },
		{ { .len = 2 * PAGE, .align = PAGE, .highest = MAX, .boundary = 3 * PAGE },
		  "boundary", "req_check_rejects_boundary_not_power_of_two" },
		{ { .len = 2 * PAGE, .align = PAGE, .highest = MAX, .boundary = PAGE }, "boundary",
		  "req_check_rejects_boundary_below_len" },
		{ { .len = 2 * PAGE, .align = PAGE, .highest = MAX, .boundary = 2 * PAGE }, NULL,
		  "req_check_accepts_boundary_equal_to_len" },
		{ { .len = PAGE, .align = PAGE, .lowest = 2 * PAGE, .highest = 2 * PAGE - 1 },
		  "highest", "req_check_rejects_highest_below_lowest" },
		{ { .len = PAGE, .align = PAGE, .lowest = 5, .highest = 5 }, NULL,
		  "req_check_accepts_window_smaller_than_len" },
		{ { .len = 2 * PAGE, .align = PAGE, .lowest = TOP(PAGE), .highest = MAX }, "lowest",
		  "req_check_rejects_lowest_plus_len_past_2^64" },
		{ { .len = PAGE, .align = PAGE, .lowest = TOP(PAGE), .highest = MAX }, NULL,
		  "req_check_accepts_buffer_ending_at_2^64" },
		{ { .len = MAX, .align = 1, .lowest = 1, .highest = MAX }, NULL,
		  "req_check_accepts_len_of_2^64_minus_one" },
		{ { .len = MAX, .align = 1, .lowest = 2, .highest = MAX }, "lowest",
		  "req_check_rejects_len_of_2^64_minus_one_from_2" },
		{ { .len = 0, .align = 3, .lowest = 9, .highest = 1, .boundary = 5 }, "len",
		  "req_check_reports_first_bad_field" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *field = "untouched";
		int err = contig_range_req_check(&cases[i].req, &field);

		if (cases[i].field) {
			if (!ok(err == -EINVAL && strcmp(field, cases[i].field) == 0, "%s",
				cases[i].name))
				diag("  got %d, field %s; want -EINVAL, field %s", err, field,
				     cases[i].field);
		} else if (!ok(err == 0 && strcmp(field, "untouched") == 0, "%s", cases[i].name)) {
			diag("  got %d, field %s; want 0, field untouched", err, field);
		}
	}
	expect_err(contig_range_req_check(&cases[2].req, NULL), -EINVAL,
		   "req_check_accepts_null_ret_field");
}

static void test_give(void)
{
	struct contig_range_set set;

	SET_OF(&set, { 0x10000, 0x1000 }, { 0x30000, 0x1000 });
	EXPECT_SET(&set, "give_builds_sorted_set", { 0x10000, 0x1000 }, { 0x30000, 0x1000 });
	expect_err(contig_range_give(&set, 0x20000, 0x1000), 0, "give_into_gap_succeeds");
	EXPECT_SET(&set, "give_into_gap_keeps_ranges_apart", { 0x10000, 0x1000 },
		   { 0x20000, 0x1000 }, { 0x30000, 0x1000 });
	contig_range_give(&set, 0x11000, 0x1000);
	EXPECT_SET(&set, "give_merges_with_left_neighbour", { 0x10000, 0x2000 },
		   { 0x20000, 0x1000 }, { 0x30000, 0x1000 });
	contig_range_give(&set, 0x2f000, 0x1000);
	EXPECT_SET(&set, "give_merges_with_right_neighbour", { 0x10000, 0x2000 },
		   { 0x20000, 0x1000 }, { 0x2f000, 0x2000 });
	contig_range_give(&set, 0x21000, 0xe000);
	EXPECT_SET(&set, "give_merges_with_both_neighbours", { 0x10000, 0x2000 },
		   { 0x20000, 0x11000 });
	contig_range_give(&set, 0x1000, 0x1000);
	contig_range_give(&set, 0x40000, 0x1000);
	EXPECT_SET(&set, "give_inserts_before_first_and_after_last", { 0x1000, 0x1000 },
		   { 0x10000, 0x2000 }, { 0x20000, 0x11000 }, { 0x40000, 0x1000 });
	contig_range_give(&set, 0x12000, 0xe000);
	EXPECT_SET(&set, "give_merge_of_both_removes_one_range", { 0x1000, 0x1000 },
		   { 0x10000, 0x21000 }, { 0x40000, 0x1000 });
	contig_range_set_done(&set);

	/* Byte granularity: the set does not care about pages. */
	SET_OF(&set, { 10, 5 }, { 16, 4 });
	EXPECT_SET(&set, "give_keeps_one_byte_gap", { 10, 5 }, { 16, 4 });
	contig_range_give(&set, 15, 1);
	EXPECT_SET(&set, "give_fills_one_byte_gap", { 10, 10 });
	contig_range_set_done(&set);
}

static void test_give_errors(void)
{
	static const struct {
		uint64_t phys, len;
		const char *name;
	} overlaps[] = {
		{ 0xf000, 0x2000, "give_overlapping_start_returns_eexist" },
		{ 0x11000, 0x2000, "give_overlapping_end_returns_eexist" },
		{ 0x10800, 0x800, "give_inside_free_range_returns_eexist" },
		{ 0x10000, 0x2000, "give_of_free_range_again_returns_eexist" },
		{ 0x11fff, 0x1, "give_of_last_free_byte_returns_eexist" },
		{ 0xf000, 0x20000, "give_covering_two_ranges_returns_eexist" },
		{ 0x12000, 0xe001, "give_reaching_next_range_by_one_byte_returns_eexist" },
	};
	struct contig_range_set set;
	size_t i;

	SET_OF(&set, { 0x10000, 0x2000 }, { 0x20000, 0x2000 });
	for (i = 0; i < sizeof(overlaps) / sizeof(overlaps[0]); i++)
		expect_err(contig_range_give(&set, overlaps[i].phys, overlaps[i].len), -EEXIST,
			   overlaps[i].name);
	expect_err(contig_range_give(&set, 0x30000, 0), -EINVAL,
		   "give_of_empty_range_returns_einval");
	expect_err(contig_range_give(&set, TOP(PAGE), 2 * PAGE), -EINVAL,
		   "give_of_range_past_2^64_returns_einval");
	EXPECT_SET(&set, "failed_gives_leave_set_unchanged", { 0x10000, 0x2000 },
		   { 0x20000, 0x2000 });
	contig_range_set_done(&set);

	/* Ranges ending at 2^64, and a set that would cover every address. */
	SET_OF(&set, { TOP(0x3000), 0x1000 });
	expect_err(contig_range_give(&set, TOP(PAGE), PAGE), 0,
		   "give_accepts_range_ending_at_2^64");
	expect_err(contig_range_give(&set, TOP(0x2000), PAGE), 0,
		   "give_merges_both_sides_at_top_of_address_space");
	EXPECT_SET(&set, "give_builds_range_ending_at_2^64", { TOP(0x3000), 0x3000 });
	contig_range_set_done(&set);

	SET_OF(&set, { 0, 1ull << 63 }, { (1ull << 63) + 1, (1ull << 63) - 1 });
	is_u64(set.free_len, MAX, "free_len_reaches_2^64_minus_one");
	expect_err(contig_range_give(&set, 1ull << 63, 1), -EOVERFLOW,
		   "give_refuses_to_cover_all_of_2^64");
	EXPECT_SET(&set, "give_refusing_to_cover_all_leaves_set_unchanged", { 0, 1ull << 63 },
		   { (1ull << 63) + 1, (1ull << 63) - 1 });
	expect_err(contig_range_take(&set, 0, 1), 0, "take_from_set_of_2^64_minus_one_bytes");
	expect_err(contig_range_give(&set, 1ull << 63, 1), 0,
		   "give_of_single_byte_joins_two_halves");
	EXPECT_SET(&set, "give_builds_range_of_2^64_minus_one", { 1, MAX });
	contig_range_set_done(&set);
}

/* Many ranges given in a scrambled order end up sorted; giving the gaps
 * merges them all into one. Also makes the array grow several times. */
static void test_give_many(void)
{
	enum { N = 1000, STRIDE = 7 }; /* 7 is prime to 1000: i * 7 % 1000 visits all */
	const struct contig_range *ranges;
	struct contig_range_set set;
	bool sorted = true;
	size_t i;
	int err = 0;

	contig_range_set_init(&set);
	for (i = 0; i < N && !err; i++)
		err = contig_range_give(&set, (i * STRIDE % N) * 2 * PAGE, PAGE);
	ranges = ranges_of(&set);
	for (i = 1; i < set.nranges; i++)
		sorted = sorted && ranges[i - 1].phys < ranges[i].phys;
	ok(!err && set.nranges == N && sorted && set.free_len == N * PAGE,
	   "give_keeps_many_ranges_sorted");
	for (i = 0; i + 1 < N && !err; i++)
		err = contig_range_give(&set, ((i * 13 % (N - 1)) * 2 + 1) * PAGE, PAGE);
	EXPECT_SET(&set, "give_of_every_gap_merges_into_one_range", { 0, (2 * N - 1) * PAGE });
	contig_range_set_done(&set);
}

static void test_take(void)
{
	static const struct {
		uint64_t phys, len;
		const char *name;
	} absent[] = {
		{ 0x13000, 0x1000, "take_of_taken_range_returns_enoent" },
		{ 0x12000, 0x2000, "take_straddling_taken_range_returns_enoent" },
		{ 0x11000, 0x6000, "take_spanning_two_ranges_returns_enoent" },
		{ 0x17000, 0x9000, "take_spanning_gap_returns_enoent" },
		{ 0x0, 0x1000, "take_below_every_range_returns_enoent" },
		{ 0x30000, 0x1000, "take_above_every_range_returns_enoent" },
		{ 0x16fff, 0x2, "take_one_byte_past_range_returns_enoent" },
	};
	struct contig_range_set set;
	size_t i;

	SET_OF(&set, { 0x10000, 0x8000 }, { 0x20000, 0x1000 });
	expect_err(contig_range_take(&set, 0x20000, 0x1000), 0, "take_of_whole_range_succeeds");
	EXPECT_SET(&set, "take_of_whole_range_removes_it", { 0x10000, 0x8000 });
	contig_range_take(&set, 0x10000, 0x1000);
	EXPECT_SET(&set, "take_of_front_shrinks_range", { 0x11000, 0x7000 });
	contig_range_take(&set, 0x17000, 0x1000);
	EXPECT_SET(&set, "take_of_back_shrinks_range", { 0x11000, 0x6000 });
	expect_err(contig_range_take(&set, 0x13000, 0x1000), 0, "take_of_middle_succeeds");
	EXPECT_SET(&set, "take_of_middle_splits_range", { 0x11000, 0x2000 }, { 0x14000, 0x3000 });

	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		expect_err(contig_range_take(&set, absent[i].phys, absent[i].len), -ENOENT,
			   absent[i].name);
	expect_err(contig_range_take(&set, 0x11000, 0), -EINVAL,
		   "take_of_empty_range_returns_einval");
	expect_err(contig_range_take(&set, TOP(PAGE), 2 * PAGE), -EINVAL,
		   "take_of_range_past_2^64_returns_einval");
	EXPECT_SET(&set, "failed_takes_leave_set_unchanged", { 0x11000, 0x2000 },
		   { 0x14000, 0x3000 });

	contig_range_give(&set, 0x13000, 0x1000);
	contig_range_give(&set, 0x10000, 0x1000);
	contig_range_give(&set, 0x17000, 0x1000);
	EXPECT_SET(&set, "give_after_take_restores_range", { 0x10000, 0x8000 });
	contig_range_set_done(&set);

	/* At the top of the address space. */
	SET_OF(&set, { TOP(0x4000), 0x4000 });
	contig_range_take(&set, TOP(0x1000), 0x1000);
	EXPECT_SET(&set, "take_of_last_page_below_2^64_shrinks_range", { TOP(0x4000), 0x3000 });
	contig_range_take(&set, TOP(0x3000), 0x1000);
	EXPECT_SET(&set, "take_splits_range_near_2^64", { TOP(0x4000), 0x1000 },
		   { TOP(0x2000), 0x1000 });
	contig_range_give(&set, TOP(0x1000), 0x1000);
	contig_range_give(&set, TOP(0x3000), 0x1000);
	expect_err(contig_range_take(&set, TOP(0x4000), 0x4000), 0,
		   "take_of_whole_range_ending_at_2^64_succeeds");
	ok(set.nranges == 0 && set.free_len == 0, "take_of_whole_range_ending_at_2^64_empties_set");
	contig_range_set_done(&set);
}

static void test_is_free_and_largest(void)
{
	struct contig_range_set set;

	SET_OF(&set, { 0x1000, 0x1000 }, { 0x10000, 0x8000 }, { 0x20000, 0x2000 },
	       { TOP(0x1000), 0x1000 });
	ok(contig_range_is_free(&set, 0x12000, 0x1000), "is_free_inside_range");
	ok(contig_range_is_free(&set, 0x10000, 0x8000), "is_free_of_whole_range");
	ok(!contig_range_is_free(&set, 0x17000, 0x2000), "is_free_past_range_end_is_false");
	ok(!contig_range_is_free(&set, 0x3000, 0x1000), "is_free_in_gap_is_false");
	ok(!contig_range_is_free(&set, 0x1000, 0x20000), "is_free_spanning_ranges_is_false");
	ok(!contig_range_is_free(&set, 0x12000, 0), "is_free_of_empty_range_is_false");
	ok(contig_range_is_free(&set, TOP(0x1000), 0x1000), "is_free_of_range_ending_at_2^64");
	ok(!contig_range_is_free(&set, TOP(0x1000), 0x2000), "is_free_of_range_past_2^64_is_false");
	is_u64(contig_range_largest(&set), 0x8000, "largest_returns_longest_range");
	contig_range_set_done(&set);
}

static void test_find(void)
{
	struct contig_range_set set;

	SET_OF(&set, { 0x10000, 0x1000 }, { 0x20000, 0x8000 }, { 0x30000, 0x10000 },
	       { 0x100000, 0x100000 });

	expect_find(&set, req(0x1000, 0x1000, 0, MAX, 0), 0, 0x10000,
		    "find_takes_first_fit_not_best");
	expect_find(&set, req(0x2000, 0x1000, 0, MAX, 0), 0, 0x20000, "find_skips_range_too_small");
	expect_find(&set, req(0x1000, 0x1000, 0x21800, MAX, 0), 0, 0x22000,
		    "find_starts_at_aligned_lowest_inside_range");
	expect_find(&set, req(0x1000, 1, 0x21801, MAX, 0), 0, 0x21801,
		    "find_with_byte_align_starts_exactly_at_lowest");
	expect_find(&set, req(0x4000, 0x1000, 0x24000, 0x27fff, 0), 0, 0x24000,
		    "find_returns_buffer_ending_exactly_at_highest_and_range_end");
	expect_find(&set, req(0x4000, 0x1000, 0x30000, 0x33fff, 0), 0, 0x30000,
		    "find_returns_buffer_ending_exactly_at_highest");
	expect_find(&set, req(0x4000, 0x1000, 0x30000, 0x33ffe, 0), -ENOSPC, 0,
		    "find_refuses_buffer_one_byte_past_highest");
	expect_find(&set, req(0x4000, 0x1000, 0x26000, MAX, 0), 0, 0x30000,
		    "find_moves_on_when_rest_of_range_is_too_small");

	/* Windows nothing fits in. */
	expect_find(&set, req(0x1000, 0x1000, 0x28000, 0x2ffff, 0), -ENOSPC, 0,
		    "find_in_window_between_ranges_returns_enospc");
	expect_find(&set, req(0x2000, 0x1000, 0x30000, 0x30fff, 0), -ENOSPC, 0,
		    "find_in_window_smaller_than_len_returns_enospc");
	expect_find(&set, req(0x1000, 0x1000, 0, 0xffff, 0), -ENOSPC, 0,
		    "find_in_window_below_every_range_returns_enospc");
	expect_find(&set, req(0x1000, 0x1000, 0x200000, MAX, 0), -ENOSPC, 0,
		    "find_in_window_above_every_range_returns_enospc");
	expect_find(&set, req(0x200000, 0x1000, 0, MAX, 0), -ENOSPC, 0,
		    "find_longer_than_every_range_returns_enospc");

	/* Alignment. */
	expect_find(&set, req(0x1000, 0x40000, 0, MAX, 0), 0, 0x100000,
		    "find_skips_ranges_smaller_than_align");
	expect_find(&set, req(0x1000, 0x40000, 0, 0xfffff, 0), -ENOSPC, 0,
		    "find_align_larger_than_every_range_in_window_returns_enospc");
	expect_find(&set, req(0x1000, 0x8000, 0x21000, MAX, 0), 0, 0x30000,
		    "find_rounds_lowest_up_to_align");

	/* Boundaries. */
	expect_find(&set, req(0x4000, 0x1000, 0x104000, MAX, 0x4000), 0, 0x104000,
		    "find_fills_boundary_block_exactly");
	expect_find(&set, req(0x4000, 0x1000, 0x103000, MAX, 0x4000), 0, 0x104000,
		    "find_never_crosses_boundary");
	expect_find(&set, req(0x3000, 0x1000, 0x105000, MAX, 0x4000), 0, 0x105000,
		    "find_allows_buffer_ending_on_last_byte_before_boundary");
	expect_find(&set, req(0x4000, 0x1000, 0x103000, 0x107ffe, 0x4000), -ENOSPC, 0,
		    "find_boundary_push_past_highest_returns_enospc");
	expect_find(&set, req(0x4000, 0x1000, 0x3d000, MAX, 0x4000), 0, 0x100000,
		    "find_boundary_push_past_range_end_tries_next_range");
	expect_find(&set, req(0x1000, 0x10000, 0x101000, MAX, 0x2000), 0, 0x110000,
		    "find_with_align_above_boundary_uses_align");
	expect_find(&set, req(0x8000, 0x1000, 0x1fff, MAX, 0x8000), 0, 0x20000,
		    "find_range_equal_to_boundary_block");

	/* One byte: the last of a range, and the first of a range at @highest. */
	expect_find(&set, req(1, 1, 0x10fff, MAX, 0), 0, 0x10fff,
		    "find_returns_last_byte_of_range_at_lowest");
	expect_find(&set, req(1, 1, 0x11000, 0x20000, 0), 0, 0x20000,
		    "find_returns_first_byte_of_range_at_highest");
	expect_find(&set, req(2, 1, 0x10fff, 0x20000, 0), -ENOSPC, 0,
		    "find_of_two_bytes_across_range_end_returns_enospc");

	EXPECT_SET(&set, "find_does_not_change_set", { 0x10000, 0x1000 }, { 0x20000, 0x8000 },
		   { 0x30000, 0x10000 }, { 0x100000, 0x100000 });
	contig_range_set_done(&set);

	/* Huge alignments. */
	SET_OF(&set, { 0x1000, 0x1000 }, { (1ull << 63) - 0x1000, 0x2000 });
	expect_find(&set, req(0x1000, 1ull << 63, 0, MAX, 0), 0, 1ull << 63,
		    "find_with_align_2^63_skips_to_2^63");
	expect_find(&set, req(0x2000, 1ull << 63, 0, MAX, 0), -ENOSPC, 0,
		    "find_with_align_2^63_and_no_room_returns_enospc");
	contig_range_set_done(&set);
	SET_OF(&set, { 0, 0x1000 });
	expect_find(&set, req(0x1000, 1ull << 63, 0, MAX, 1ull << 63), 0, 0,
		    "find_treats_zero_as_aligned_to_everything");
	contig_range_set_done(&set);
}

/* Everything next to 2^64, where a careless round-up or end wraps to 0. */
static void test_find_top(void)
{
	struct contig_range_set set;

	SET_OF(&set, { TOP(0x10000), 0x8000 }, { TOP(0x3000), 0x3000 });
	expect_find(&set, req(0x3000, 0x1000, TOP(0x8000), MAX, 0), 0, TOP(0x3000),
		    "find_returns_buffer_ending_at_2^64");
	expect_find(&set, req(0x1000, 0x10000, 0, MAX, 0), 0, TOP(0x10000),
		    "find_with_align_near_2^64");
	expect_find(&set, req(0x1000, 0x10000, TOP(0x8000), MAX, 0), -ENOSPC, 0,
		    "find_whose_align_round_up_passes_2^64_returns_enospc");
	expect_find(&set, req(0x3000, 0x2000, TOP(0x4000) + 1, MAX, 0), -ENOSPC, 0,
		    "find_whose_end_passes_2^64_returns_enospc");
	expect_find(&set, req(0x2000, 0x1000, TOP(0x3000), MAX, 0x2000), 0, TOP(0x2000),
		    "find_boundary_push_lands_on_last_block_below_2^64");
	expect_find(&set, req(0x2000, 0x1000, TOP(0x3000), MAX - 1, 0x2000), -ENOSPC, 0,
		    "find_boundary_push_past_highest_below_2^64_returns_enospc");
	expect_find(&set, req(0x1000, 0x800, TOP(0x3000) + 0x800, MAX, 0x1000), 0, TOP(0x2000),
		    "find_boundary_near_2^64_never_wraps");
	expect_find(&set, req(0x8000, 0x1000, 0, MAX, 1ull << 63), 0, TOP(0x10000),
		    "find_with_boundary_2^63_near_2^64");
	expect_find(&set, req(0x4000, 0x1000, 0, MAX, 0), 0, TOP(0x10000),
		    "find_with_highest_uint64_max_returns_lowest_fit");
	expect_find(&set, req(0x8001, 1, 0, MAX, 0), -ENOSPC, 0,
		    "find_longer_than_every_range_near_2^64_returns_enospc");
	contig_range_set_done(&set);

	/* The ranges' extremes: a set starting at 0 and one of 2^64 - 1 bytes. */
	SET_OF(&set, { 0, MAX });
	expect_find(&set, req(MAX, 1, 0, MAX, 0), 0, 0, "find_of_2^64_minus_one_bytes");
	expect_find(&set, req(PAGE, PAGE, TOP(PAGE), MAX, 0), -ENOSPC, 0,
		    "find_excludes_last_byte_not_in_set");
	expect_find(&set, req(PAGE, PAGE, TOP(2 * PAGE), MAX, 0), 0, TOP(2 * PAGE),
		    "find_of_last_page_of_huge_range");
	contig_range_set_done(&set);
}

/* ---------------------------------------------------------------------- */
/* Random operations against a bitmap model */

#define NUNITS 16384u /* model size: 64 MiB of pages, or 16 KiB of bytes */
#define FULL_CHECK_EVERY 64

__extension__ typedef unsigned __int128 u128; /* the model never overflows */

enum check {
	CHECK_FIND_ENOSPC,
	CHECK_FIND_LOWEST,
	CHECK_CONSTRAINTS,
	CHECK_OVERLAP,
	CHECK_OPS,
	CHECK_SHAPE,
	CHECK_FREE_LEN,
	CHECK_CONTENTS,
	CHECK_REQ,
	CHECK_RESTORE,
	NCHECKS
};

static const char *const check_names[NCHECKS] = {
	[CHECK_FIND_ENOSPC] = "random_find_enospc_only_when_model_has_no_fit",
	[CHECK_FIND_LOWEST] = "random_find_returns_model_lowest_fit",
	[CHECK_CONSTRAINTS] = "random_found_ranges_satisfy_every_constraint",
	[CHECK_OVERLAP] = "random_found_ranges_are_free_so_allocations_never_overlap",
	[CHECK_OPS] = "random_take_give_is_free_agree_with_model",
	[CHECK_SHAPE] = "random_set_stays_sorted_non_touching_non_empty",
	[CHECK_FREE_LEN] = "random_free_len_matches_model",
	[CHECK_CONTENTS] = "random_set_equals_model_range_by_range",
	[CHECK_REQ] = "random_req_check_flags_exactly_bad_requests",
	[CHECK_RESTORE] = "random_giving_everything_back_restores_initial_set",
};

struct alloc {
	uint64_t phys;
	uint64_t len;
};

struct sim {
	uint64_t base;	/* address of unit 0 */
	uint64_t unit;	/* model granularity: a power of two, the base a multiple of it */
	uint64_t space; /* NUNITS * unit */
	uint64_t rng;
	uint64_t seed;
	unsigned long op;
	char what[256]; /* the operation under way, for diagnostics */
	bool failed[NCHECKS];
	bool stop;

	struct contig_range_set set;
	unsigned char isfree[NUNITS]; /* the model */
	uint64_t nfree;		      /* units */
	struct alloc allocs[NUNITS];  /* live allocations, each >= 1 unit */
	size_t nallocs;
	struct contig_range init[NUNITS];
	size_t ninit;

	unsigned long nfound, nenospc, nbadreq, ngive, npartial, ntake_ok, nenoent, neexist;
};

/* splitmix64 */
static uint64_t rnd64(struct sim *sim)
{
	uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct sim *sim, uint64_t n)
{
	return rnd64(sim) % n;
}

static uint64_t clamp64(u128 x)
{
	return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
}

__attribute__((format(printf, 3, 4))) static void fail(struct sim *sim, enum check check,
						       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag("%s failed at op %lu of the run with unit 0x%" PRIx64 ", base 0x%" PRIx64,
	     check_names[check], sim->op, sim->unit, sim->base);
	diag("  reproduce with RANGE_SEED=0x%" PRIx64, sim->seed);
	diag("  op: %s", sim->what);
	diag("  %s", msg);
	sim->failed[check] = true;
	sim->stop = true;
}

static size_t unit_of(const struct sim *sim, uint64_t phys)
{
	return (size_t)((phys - sim->base) / sim->unit);
}

static bool model_all_free(const struct sim *sim, size_t ix, size_t nunits)
{
	return memchr(&sim->isfree[ix], 0, nunits) == NULL;
}

/* Flip units [ix, ix + nunits) to @isfree; each must be the opposite now. */
static bool model_mark(struct sim *sim, size_t ix, size_t nunits, bool isfree)
{
	size_t i;

	for (i = ix; i < ix + nunits; i++)
		if (sim->isfree[i] == isfree)
			return false;
	memset(&sim->isfree[ix], isfree, nunits);
	if (isfree)
		sim->nfree += nunits;
	else
		sim->nfree -= nunits;
	return true;
}

/* The request's first bad field by the letter of range.h, in 128 bits. */
static const char *model_bad_field(const struct contig_range_req *req)
{
	if (req->len == 0)
		return "len";
	if (req->align == 0 || (req->align & (req->align - 1)))
		return "align";
	if ((u128)req->lowest + req->len - 1 > UINT64_MAX)
		return "lowest";
	if (req->highest < req->lowest)
		return "highest";
	if (req->boundary && ((req->boundary & (req->boundary - 1)) || req->boundary < req->len))
		return "boundary";
	return NULL;
}

/* Brute force: every aligned start in the window, lowest first, skipping
 * past a non-free unit as soon as one is seen. Needs align >= unit. */
static bool model_find(const struct sim *sim, const struct contig_range_req *req,
		       uint64_t *ret_phys)
{
	u128 lowest = req->lowest > sim->base ? req->lowest : sim->base;
	u128 highest = (u128)sim->base + sim->space - 1;
	u128 align = req->align, len = req->len;
	u128 s = (lowest + align - 1) & ~(align - 1);
	int shift = req->boundary ? __builtin_ctzll(req->boundary) : 0; /* s >> shift: block */

	if (req->highest < highest)
		highest = req->highest;
	while (s + len - 1 <= highest) {
		const unsigned char *hole;

		if (req->boundary && s >> shift != (s + len - 1) >> shift) {
			s += align;
			continue;
		}
		hole = memchr(&sim->isfree[unit_of(sim, (uint64_t)s)], 0,
			      (size_t)(len / sim->unit));
		if (!hole) {
			*ret_phys = (uint64_t)s;
			return true;
		}
		s = (u128)sim->base + (u128)(hole - sim->isfree + 1) * sim->unit;
		s = (s + align - 1) & ~(align - 1);
	}
	return false;
}

static uint64_t pow2_at_least(uint64_t x)
{
	uint64_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

static struct contig_range_req gen_req(struct sim *sim)
{
	struct contig_range_req r;
	uint64_t nunits, k = rnd(sim, 100);
	u128 x;

	nunits = k < 40 ? 1 + rnd(sim, 4) :
		 k < 70 ? 1 + rnd(sim, 64) :
		 k < 92 ? 1 + rnd(sim, 1024) :
		 k < 99 ? 1 + rnd(sim, NUNITS) :
			  NUNITS + 1 + rnd(sim, NUNITS);
	r.len = nunits * sim->unit;

	k = rnd(sim, 100);
	r.align = k < 50 ? sim->unit :
		  k < 80 ? sim->unit << rnd(sim, 6) :
		  k < 95 ? sim->unit << rnd(sim, 16) :
			   sim->unit << rnd(sim, 64 - __builtin_ctzll(sim->unit));

	k = rnd(sim, 100);
	if (k < 50)
		r.boundary = 0;
	else if (k < 97)
		r.boundary = pow2_at_least(r.len) << rnd(sim, 5);
	else
		r.boundary =
			rnd(sim, 3) == 0 ? 3 * sim->unit : 1ull << rnd(sim, 64); /* often bad */

	k = rnd(sim, 100);
	if (k < 30) {
		r.lowest = 0;
	} else {
		x = (u128)sim->base + rnd(sim, sim->space + sim->unit);
		if (k < 65)
			x &= ~(u128)(sim->unit - 1);
		if (k >= 95 && sim->base >= 4 * sim->unit)
			x = sim->base - 1 - rnd(sim, 4 * sim->unit);
		r.lowest = clamp64(x);
	}

	k = rnd(sim, 100);
	if (k < 30) {
		r.highest = UINT64_MAX;
	} else if (k < 98) {
		if (rnd(sim, 2))
			x = (u128)r.lowest + rnd(sim, sim->space);
		else
			x = (u128)r.lowest + r.len - 1 + rnd(sim, 4 * r.len);
		if (rnd(sim, 2))
			x |= sim->unit - 1;
		r.highest = clamp64(x);
	} else {
		r.highest = r.lowest ? r.lowest - 1 - rnd(sim, r.lowest) : 0; /* bad unless 0 */
	}
	return r;
}

static void alloc_add(struct sim *sim, uint64_t phys, uint64_t len)
{
	if (sim->nallocs >= NUNITS)
		bail_out("test bug: more allocations than units");
	sim->allocs[sim->nallocs].phys = phys;
	sim->allocs[sim->nallocs].len = len;
	sim->nallocs++;
}

static void alloc_remove(struct sim *sim, size_t i)
{
	sim->allocs[i] = sim->allocs[--sim->nallocs];
}

/* Take [phys, phys + len), which the model and is_free say is free. */
static void sim_take(struct sim *sim, uint64_t phys, uint64_t len)
{
	int err;

	if (!model_mark(sim, unit_of(sim, phys), (size_t)(len / sim->unit), false)) {
		fail(sim, CHECK_OVERLAP,
		     "[0x%" PRIx64 ", +0x%" PRIx64
		     ") overlaps a live allocation or a never-free unit",
		     phys, len);
		return;
	}
	err = contig_range_take(&sim->set, phys, len);
	if (err) {
		fail(sim, CHECK_OPS, "take of free [0x%" PRIx64 ", +0x%" PRIx64 ") returned %d",
		     phys, len, err);
		return;
	}
	alloc_add(sim, phys, len);
}

static bool check_constraints(struct sim *sim, const struct contig_range_req *r, uint64_t phys)
{
	u128 last = (u128)phys + r->len - 1;
	const char *broken = NULL;

	if (phys % r->align)
		broken = "misaligned";
	else if (phys < r->lowest)
		broken = "below lowest";
	else if (last > r->highest)
		broken = "above highest";
	else if (r->boundary && phys / r->boundary != last / r->boundary)
		broken = "crosses boundary";
	else if (phys < sim->base || last > (u128)sim->base + sim->space - 1)
		broken = "outside the space";
	if (broken) {
		fail(sim, CHECK_CONSTRAINTS, "find returned 0x%" PRIx64 ": %s", phys, broken);
		return false;
	}
	if (!model_all_free(sim, unit_of(sim, phys), (size_t)(r->len / sim->unit))) {
		fail(sim, CHECK_OVERLAP,
		     "find returned 0x%" PRIx64 ": overlaps a live allocation or a never-free unit",
		     phys);
		return false;
	}
	return true;
}

static void op_find(struct sim *sim)
{
	struct contig_range_req r = gen_req(sim);
	const char *want_field, *field = NULL;
	uint64_t want = 0, got = SENTINEL;
	bool fits;
	int err;

	snprintf(sim->what, sizeof(sim->what),
		 "find len=0x%" PRIx64 " align=0x%" PRIx64 " lowest=0x%" PRIx64
		 " highest=0x%" PRIx64 " boundary=0x%" PRIx64,
		 r.len, r.align, r.lowest, r.highest, r.boundary);
	want_field = model_bad_field(&r);
	err = contig_range_req_check(&r, &field);
	if (want_field || err) {
		if (!want_field || err != -EINVAL || !field || strcmp(field, want_field) != 0)
			fail(sim, CHECK_REQ, "req_check returned %d, field %s; want field %s", err,
			     field ? field : "(none)", want_field ? want_field : "(none)");
		sim->nbadreq++;
		return;
	}

	fits = model_find(sim, &r, &want);
	err = contig_range_find(&sim->set, &r, &got);
	if (err) {
		if (err != -ENOSPC)
			fail(sim, CHECK_FIND_ENOSPC, "find returned %d", err);
		else if (fits)
			fail(sim, CHECK_FIND_ENOSPC,
			     "find returned -ENOSPC; model fits at 0x%" PRIx64, want);
		else if (got != SENTINEL)
			fail(sim, CHECK_FIND_ENOSPC, "find wrote *ret_phys on -ENOSPC");
		sim->nenospc++;
		return;
	}
	if (!check_constraints(sim, &r, got))
		return;
	if (!fits || got != want) {
		fail(sim, CHECK_FIND_LOWEST,
		     "find returned 0x%" PRIx64 "; model's lowest fit is %s0x%" PRIx64, got,
		     fits ? "" : "none, not even ", want);
		return;
	}
	if (!contig_range_is_free(&sim->set, got, r.len)) {
		fail(sim, CHECK_OPS, "is_free is false for the range find returned");
		return;
	}
	sim->nfound++;
	if (rnd(sim, 10) < 9)
		sim_take(sim, got, r.len);
}

/* Give back a whole allocation, or a piece of one. */
static void op_give(struct sim *sim)
{
	size_t i = (size_t)rnd(sim, sim->nallocs);
	struct alloc a = sim->allocs[i];
	uint64_t nunits = a.len / sim->unit, first = 0, n = nunits;
	uint64_t phys;
	int err;

	if (nunits > 1 && rnd(sim, 10) < 3) {
		first = rnd(sim, nunits);
		n = 1 + rnd(sim, nunits - first);
	}
	phys = a.phys + first * sim->unit;
	snprintf(sim->what, sizeof(sim->what),
		 "give [0x%" PRIx64 ", +0x%" PRIx64 ") of allocation [0x%" PRIx64 ", +0x%" PRIx64
		 ")",
		 phys, n * sim->unit, a.phys, a.len);
	err = contig_range_give(&sim->set, phys, n * sim->unit);
	if (err) {
		fail(sim, CHECK_OPS, "give returned %d", err);
		return;
	}
	if (!model_mark(sim, unit_of(sim, phys), (size_t)n, true)) {
		fail(sim, CHECK_OVERLAP, "gave back a unit that the model had free");
		return;
	}
	alloc_remove(sim, i);
	if (first > 0)
		alloc_add(sim, a.phys, first * sim->unit);
	if (first + n < nunits)
		alloc_add(sim, phys + n * sim->unit, (nunits - first - n) * sim->unit);
	sim->ngive++;
	if (n < nunits)
		sim->npartial++;
}

static bool set_unchanged(const struct sim *sim, const struct contig_range *before, size_t n,
			  uint64_t free_len)
{
	return sim->set.nranges == n && sim->set.free_len == free_len &&
	       (n == 0 || memcmp(ranges_of(&sim->set), before, n * sizeof(*before)) == 0);
}

/* Take a random range: it succeeds exactly when the model has it all free. */
static void op_take(struct sim *sim, struct contig_range *scratch)
{
	size_t ix = (size_t)rnd(sim, NUNITS);
	size_t max = NUNITS - ix < 64 ? NUNITS - ix : 64;
	size_t nunits = 1 + (size_t)rnd(sim, max);
	uint64_t phys = sim->base + ix * sim->unit, len = nunits * sim->unit;
	uint64_t free_len = sim->set.free_len;
	size_t n = sim->set.nranges;
	bool want = model_all_free(sim, ix, nunits);
	int err;

	snprintf(sim->what, sizeof(sim->what), "take [0x%" PRIx64 ", +0x%" PRIx64 ")", phys, len);
	if (contig_range_is_free(&sim->set, phys, len) != want) {
		fail(sim, CHECK_OPS, "is_free says %d, model says %d", !want, want);
		return;
	}
	if (want) {
		sim_take(sim, phys, len);
		sim->ntake_ok++;
		return;
	}
	contig_range_set_copy(&sim->set, scratch, n);
	err = contig_range_take(&sim->set, phys, len);
	if (err != -ENOENT)
		fail(sim, CHECK_OPS, "take of partly used range returned %d, want -ENOENT", err);
	else if (!set_unchanged(sim, scratch, n, free_len))
		fail(sim, CHECK_OPS, "failed take changed the set");
	sim->nenoent++;
}

/* Give a range around a free unit: it must fail with -EEXIST. */
static void op_give_overlap(struct sim *sim, struct contig_range *scratch)
{
	size_t ix = (size_t)rnd(sim, NUNITS), first, last, tries;
	uint64_t phys, len, free_len = sim->set.free_len;
	size_t n = sim->set.nranges;
	int err;

	for (tries = 0; !sim->isfree[ix] && tries < 8; tries++)
		ix = (size_t)rnd(sim, NUNITS);
	if (!sim->isfree[ix])
		return;
	first = ix - (size_t)rnd(sim, (ix < 16 ? ix : 16) + 1);
	last = ix + (size_t)rnd(sim, (NUNITS - 1 - ix < 16 ? NUNITS - 1 - ix : 16) + 1);
	phys = sim->base + first * sim->unit;
	len = (last - first + 1) * sim->unit;
	snprintf(sim->what, sizeof(sim->what),
		 "give over free unit: [0x%" PRIx64 ", +0x%" PRIx64 ")", phys, len);
	contig_range_set_copy(&sim->set, scratch, n);
	err = contig_range_give(&sim->set, phys, len);
	if (err != -EEXIST)
		fail(sim, CHECK_OPS, "give returned %d, want -EEXIST", err);
	else if (!set_unchanged(sim, scratch, n, free_len))
		fail(sim, CHECK_OPS, "failed give changed the set");
	sim->neexist++;
}

/* The tree checks out; sorted, non-empty, non-touching, inside 2^64, and
 * free_len adds up. */
static void check_shape(struct sim *sim)
{
	const struct contig_range_set *set = &sim->set;
	const char *broken = contig_range_set_check(set);
	const struct contig_range *ranges;
	u128 sum = 0;
	size_t i;

	if (broken) {
		fail(sim, CHECK_SHAPE, "tree: %s", broken);
		return;
	}
	ranges = ranges_of(set);
	for (i = 0; i < set->nranges; i++) {
		const struct contig_range *r = &ranges[i];

		if (r->len == 0 || (u128)r->phys + r->len > (u128)1 << 64) {
			fail(sim, CHECK_SHAPE, "range %zu [0x%" PRIx64 ", +0x%" PRIx64 ") is bad",
			     i, r->phys, r->len);
			return;
		}
		if (i > 0 && (u128)r[-1].phys + r[-1].len >= r->phys) {
			fail(sim, CHECK_SHAPE, "ranges %zu and %zu overlap, touch or are unsorted",
			     i - 1, i);
			return;
		}
		sum += r->len;
	}
	if (sum != set->free_len)
		fail(sim, CHECK_FREE_LEN, "free_len 0x%" PRIx64 ", ranges sum to 0x%" PRIx64,
		     set->free_len, (uint64_t)sum);
	else if (set->free_len != sim->nfree * sim->unit)
		fail(sim, CHECK_FREE_LEN, "free_len 0x%" PRIx64 ", model has 0x%" PRIx64,
		     set->free_len, sim->nfree * sim->unit);
}

/* The set holds exactly the model's runs of free units. */
static void check_contents(struct sim *sim)
{
	const struct contig_range_set *set = &sim->set;
	const struct contig_range *ranges = ranges_of(set);
	uint64_t largest = 0;
	size_t k = 0, p = 0, q;

	while (p < NUNITS) {
		if (!sim->isfree[p]) {
			p++;
			continue;
		}
		for (q = p; q < NUNITS && sim->isfree[q]; q++)
			;
		if (k >= set->nranges || ranges[k].phys != sim->base + p * sim->unit ||
		    ranges[k].len != (q - p) * sim->unit) {
			fail(sim, CHECK_CONTENTS,
			     "range %zu should be [0x%" PRIx64 ", +0x%" PRIx64 ")", k,
			     sim->base + p * sim->unit, (uint64_t)(q - p) * sim->unit);
			return;
		}
		if ((q - p) * sim->unit > largest)
			largest = (q - p) * sim->unit;
		k++;
		p = q;
	}
	if (k != set->nranges)
		fail(sim, CHECK_CONTENTS, "set has %zu ranges, model %zu", set->nranges, k);
	else if (contig_range_largest(set) != largest)
		fail(sim, CHECK_CONTENTS, "largest 0x%" PRIx64 ", model 0x%" PRIx64,
		     contig_range_largest(set), largest);
}

/* Random free runs (one at unit 0 when base is 0, one ending at the space's
 * end, so at 2^64 for the top base), given in shuffled chunks. */
static void sim_setup(struct sim *sim, struct alloc *chunks)
{
	size_t p = 0, q, n, nchunks = 0, i;
	bool isfree = sim->base == 0 || rnd(sim, 2);
	int err;

	while (p < NUNITS) {
		n = (size_t)(isfree ? 1 + rnd(sim, 512) : 1 + rnd(sim, 64));
		if (n > NUNITS - p)
			n = NUNITS - p;
		memset(&sim->isfree[p], isfree, n);
		p += n;
		isfree = !isfree;
	}
	sim->isfree[NUNITS - 1] = 1;

	for (p = 0; p < NUNITS; p = q) {
		for (q = p; q < NUNITS && sim->isfree[q] == sim->isfree[p]; q++)
			;
		if (!sim->isfree[p])
			continue;
		sim->init[sim->ninit].phys = sim->base + p * sim->unit;
		sim->init[sim->ninit].len = (q - p) * sim->unit;
		sim->ninit++;
		sim->nfree += q - p;
		for (i = p; i < q; i += n) {
			n = (size_t)(1 + rnd(sim, 32));
			if (n > q - i)
				n = q - i;
			chunks[nchunks].phys = sim->base + i * sim->unit;
			chunks[nchunks].len = n * sim->unit;
			nchunks++;
		}
	}
	for (i = nchunks; i > 1; i--) {
		size_t j = (size_t)rnd(sim, i);
		struct alloc t = chunks[i - 1];

		chunks[i - 1] = chunks[j];
		chunks[j] = t;
	}
	snprintf(sim->what, sizeof(sim->what), "setup: give %zu shuffled chunks", nchunks);
	contig_range_set_init(&sim->set);
	for (i = 0; i < nchunks && !sim->stop; i++) {
		err = contig_range_give(&sim->set, chunks[i].phys, chunks[i].len);
		if (err)
			fail(sim, CHECK_OPS,
			     "give of chunk [0x%" PRIx64 ", +0x%" PRIx64 ") returned %d",
			     chunks[i].phys, chunks[i].len, err);
	}
	if (!sim->stop)
		check_shape(sim);
	if (!sim->stop)
		check_contents(sim);
}

/* Give every allocation back in random order; the set must be as it began. */
static void sim_teardown(struct sim *sim)
{
	int err;

	snprintf(sim->what, sizeof(sim->what), "teardown: give back %zu allocations", sim->nallocs);
	while (sim->nallocs > 0) {
		size_t i = (size_t)rnd(sim, sim->nallocs);

		err = contig_range_give(&sim->set, sim->allocs[i].phys, sim->allocs[i].len);
		if (err) {
			fail(sim, CHECK_RESTORE,
			     "give of [0x%" PRIx64 ", +0x%" PRIx64 ") returned %d",
			     sim->allocs[i].phys, sim->allocs[i].len, err);
			return;
		}
		alloc_remove(sim, i);
	}
	if (!set_equals(&sim->set, sim->init, sim->ninit)) {
		fail(sim, CHECK_RESTORE, "set differs from the initial one (%zu ranges, was %zu)",
		     sim->set.nranges, sim->ninit);
		diag_set(&sim->set);
	}
}

static void run_random(uint64_t seed, uint64_t base, uint64_t unit, unsigned long nops)
{
	struct sim *sim = calloc(1, sizeof(*sim));
	struct contig_range *scratch = calloc(NUNITS, sizeof(*scratch));
	struct alloc *chunks = calloc(NUNITS, sizeof(*chunks));
	int c;

	if (!sim || !scratch || !chunks)
		bail_out("out of memory");
	sim->base = base;
	sim->unit = unit;
	sim->space = NUNITS * unit;
	sim->seed = seed;
	sim->rng = seed ^ base ^ unit;
	sim_setup(sim, chunks);
	for (sim->op = 0; sim->op < nops && !sim->stop; sim->op++) {
		uint64_t k = rnd(sim, 100);

		if (k < 50 || sim->nallocs == 0)
			op_find(sim);
		else if (k < 85)
			op_give(sim);
		else if (k < 93)
			op_take(sim, scratch);
		else
			op_give_overlap(sim, scratch);
		if (!sim->stop)
			check_shape(sim);
		if (!sim->stop && sim->op % FULL_CHECK_EVERY == 0)
			check_contents(sim);
	}
	if (!sim->stop)
		check_contents(sim);
	if (!sim->stop)
		sim_teardown(sim);

	diag("unit 0x%" PRIx64 ", base 0x%" PRIx64
	     ": %lu ops, %zu initial ranges; find: %lu found, %lu -ENOSPC, "
	     "%lu bad requests; give: %lu (%lu partial), %lu -EEXIST; take: %lu ok, %lu -ENOENT",
	     unit, base, sim->op, sim->ninit, sim->nfound, sim->nenospc, sim->nbadreq, sim->ngive,
	     sim->npartial, sim->neexist, sim->ntake_ok, sim->nenoent);
	for (c = 0; c < NCHECKS; c++)
		ok(!sim->failed[c], "%s (unit 0x%" PRIx64 ", base 0x%" PRIx64 ")", check_names[c],
		   unit, base);
	/* Guard against a generator that never reaches the interesting cases. */
	if (nops < 10000)
		ok(true, "random_run_reaches_every_outcome # SKIP RANGE_OPS < 10000");
	else
		ok(sim->stop || (sim->nfound > nops / 20 && sim->nenospc > nops / 50 &&
				 sim->nbadreq > 0 && sim->npartial > 0 && sim->neexist > 0 &&
				 sim->ntake_ok > 0 && sim->nenoent > 0),
		   "random_run_reaches_every_outcome (unit 0x%" PRIx64 ", base 0x%" PRIx64 ")",
		   unit, base);

	contig_range_set_done(&sim->set);
	free(chunks);
	free(scratch);
	free(sim);
}

/* ---------------------------------------------------------------------- */
/* A large set against a sorted array */

#define BIG_NRANGES 200000
#define BIG_CHECK_EVERY 1000

enum big_check {
	BIG_BUILD,
	BIG_OPS,
	BIG_TREE,
	BIG_RESTORE,
	NBIG_CHECKS
};

static const char *const big_check_names[NBIG_CHECKS] = {
	[BIG_BUILD] = "large_set_given_in_shuffled_chunks_equals_model",
	[BIG_OPS] = "large_set_find_take_give_is_free_agree_with_model",
	[BIG_TREE] = "large_set_tree_invariants_and_contents_hold_throughout",
	[BIG_RESTORE] = "large_set_giving_everything_back_restores_initial_set",
};

/* The model is the free ranges sorted in an array and changed with
 * memmove: O(n) per change, but too plain to be wrong. */
struct big {
	struct contig_range_set set;
	struct contig_range *model;
	size_t n, cap;
	uint64_t free_len;
	struct contig_range *init;
	size_t ninit;
	struct alloc *allocs; /* live: taken from both */
	size_t nallocs, cap_allocs;
	uint64_t base, space, rng, seed;
	unsigned long op;
	char what[256];
	bool failed[NBIG_CHECKS];
	bool stop;
	unsigned long nfound, nenospc, ntake, nenoent, ngive, neexist;
};

static uint64_t big_rnd(struct big *b, uint64_t n)
{
	uint64_t z = (b->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) % n;
}

__attribute__((format(printf, 3, 4))) static void big_fail(struct big *b, enum big_check check,
							   const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag("%s failed at op %lu; reproduce with RANGE_SEED=0x%" PRIx64, big_check_names[check],
	     b->op, b->seed);
	diag("  op: %s", b->what);
	diag("  %s", msg);
	b->failed[check] = true;
	b->stop = true;
}

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? 2 * *cap : 1024;
	v = realloc(v, *cap * size);
	if (!v)
		bail_out("out of memory");
	return v;
}

static u128 end_of(const struct contig_range *r)
{
	return (u128)r->phys + r->len;
}

/* Index of the first model range starting above @phys. */
static size_t model_first_above(const struct big *b, uint64_t phys)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->model[mid].phys <= phys)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int model_take(struct big *b, uint64_t phys, uint64_t len)
{
	size_t i = model_first_above(b, phys);
	u128 end = (u128)phys + len, r_end;
	struct contig_range *r;

	if (i == 0)
		return -ENOENT;
	r = &b->model[i - 1];
	r_end = end_of(r);
	if (r_end < end)
		return -ENOENT;
	if (r->phys == phys && r_end == end) {
		memmove(r, r + 1, (b->n - i) * sizeof(*r));
		b->n--;
	} else if (r->phys == phys) {
		r->phys += len;
		r->len -= len;
	} else if (r_end == end) {
		r->len -= len;
	} else {
		b->model = grow(b->model, &b->cap, b->n, sizeof(*b->model));
		r = &b->model[i - 1];
		memmove(r + 2, r + 1, (b->n - i) * sizeof(*r));
		r[1].phys = (uint64_t)end;
		r[1].len = (uint64_t)(r_end - end);
		r->len = phys - r->phys;
		b->n++;
	}
	b->free_len -= len;
	return 0;
}

static int model_give(struct big *b, uint64_t phys, uint64_t len)
{
	size_t i = model_first_above(b, phys);
	struct contig_range *left = i > 0 ? &b->model[i - 1] : NULL;
	struct contig_range *right = i < b->n ? &b->model[i] : NULL;
	u128 end = (u128)phys + len;

	if ((left && end_of(left) > phys) || (right && right->phys < end))
		return -EEXIST;
	if (left && end_of(left) == phys && right && right->phys == end) {
		left->len += len + right->len;
		memmove(right, right + 1, (b->n - i - 1) * sizeof(*right));
		b->n--;
	} else if (left && end_of(left) == phys) {
		left->len += len;
	} else if (right && right->phys == end) {
		right->phys = phys;
		right->len += len;
	} else {
		b->model = grow(b->model, &b->cap, b->n, sizeof(*b->model));
		memmove(&b->model[i + 1], &b->model[i], (b->n - i) * sizeof(*b->model));
		b->model[i].phys = phys;
		b->model[i].len = len;
		b->n++;
	}
	b->free_len += len;
	return 0;
}

/* First fit, range by range in 128 bits: in each, the first aligned start
 * at or above the window; if it crosses a boundary, the first aligned start
 * of the next boundary block. */
static bool model_find_big(const struct big *b, const struct contig_range_req *q,
			   uint64_t *ret_phys)
{
	u128 align = q->align, len = q->len, bnd = q->boundary;
	size_t i = model_first_above(b, q->lowest);

	for (i = i > 0 ? i - 1 : 0; i < b->n && b->model[i].phys <= q->highest; i++) {
		const struct contig_range *r = &b->model[i];
		u128 lo = r->phys > q->lowest ? r->phys : q->lowest;
		u128 hi = end_of(r) - 1 < q->highest ? end_of(r) - 1 : q->highest;
		u128 s = (lo + align - 1) / align * align;

		if (bnd && s / bnd != (s + len - 1) / bnd)
			s = ((s / bnd + 1) * bnd + align - 1) / align * align;
		if (s + len - 1 <= hi) {
			*ret_phys = (uint64_t)s;
			return true;
		}
	}
	return false;
}

/* The set equals the model, range by range, and passes its own check. */
static void big_check(struct big *b, enum big_check check)
{
	const char *broken = contig_range_set_check(&b->set);
	const struct contig_range *ranges;
	uint64_t largest = 0;
	size_t i;

	if (broken) {
		big_fail(b, check, "tree: %s", broken);
		return;
	}
	if (b->set.nranges != b->n || b->set.free_len != b->free_len) {
		big_fail(b, check, "set has %zu ranges, 0x%" PRIx64 " bytes; model %zu, 0x%" PRIx64,
			 b->set.nranges, b->set.free_len, b->n, b->free_len);
		return;
	}
	ranges = ranges_of(&b->set);
	for (i = 0; i < b->n; i++) {
		if (ranges[i].phys != b->model[i].phys || ranges[i].len != b->model[i].len) {
			big_fail(b, check,
				 "range %zu is [0x%" PRIx64 ", +0x%" PRIx64 "), model [0x%" PRIx64
				 ", +0x%" PRIx64 ")",
				 i, ranges[i].phys, ranges[i].len, b->model[i].phys,
				 b->model[i].len);
			return;
		}
		if (b->model[i].len > largest)
			largest = b->model[i].len;
	}
	if (contig_range_largest(&b->set) != largest)
		big_fail(b, check, "largest 0x%" PRIx64 ", model 0x%" PRIx64,
			 contig_range_largest(&b->set), largest);
}

static void big_keep(struct big *b, uint64_t phys, uint64_t len)
{
	b->allocs = grow(b->allocs, &b->cap_allocs, b->nallocs, sizeof(*b->allocs));
	b->allocs[b->nallocs].phys = phys;
	b->allocs[b->nallocs].len = len;
	b->nallocs++;
}

/* Take from both; both must agree. What is taken stays live. */
static void big_take(struct big *b, uint64_t phys, uint64_t len)
{
	int want = model_take(b, phys, len), err = contig_range_take(&b->set, phys, len);

	if (err != want) {
		big_fail(b, BIG_OPS, "take returned %d, model %d", err, want);
		return;
	}
	if (err) {
		b->nenoent++;
		return;
	}
	b->ntake++;
	big_keep(b, phys, len);
}

static void big_give(struct big *b, uint64_t phys, uint64_t len)
{
	int want = model_give(b, phys, len), err = contig_range_give(&b->set, phys, len);

	if (err != want)
		big_fail(b, BIG_OPS, "give returned %d, model %d", err, want);
	else if (err)
		b->neexist++;
	else
		b->ngive++;
}

static void big_op_find(struct big *b)
{
	struct contig_range_req q;
	uint64_t want = 0, got = SENTINEL, k = big_rnd(b, 100);
	bool fits;
	int err;

	q.len = PAGE * (1 + big_rnd(b, k < 70 ? 4 : k < 95 ? 16 : 64));
	k = big_rnd(b, 100);
	q.align = PAGE << (k < 60 ? 0 : k < 90 ? big_rnd(b, 5) : big_rnd(b, 20));
	q.boundary = big_rnd(b, 2) ? 0 : pow2_at_least(q.len) << big_rnd(b, 4);
	q.lowest = 0;
	q.highest = MAX;
	if (big_rnd(b, 100) < 60) {
		q.lowest = b->base + big_rnd(b, b->space - q.len + 1);
		q.highest = q.lowest + q.len - 1 + big_rnd(b, b->space / 16);
		if (q.highest < q.lowest)
			q.highest = MAX; /* wrapped past 2^64 */
	}
	snprintf(b->what, sizeof(b->what),
		 "find len=0x%" PRIx64 " align=0x%" PRIx64 " lowest=0x%" PRIx64
		 " highest=0x%" PRIx64 " boundary=0x%" PRIx64,
		 q.len, q.align, q.lowest, q.highest, q.boundary);
	if (contig_range_req_check(&q, NULL)) {
		big_fail(b, BIG_OPS, "test bug: bad request");
		return;
	}
	fits = model_find_big(b, &q, &want);
	err = contig_range_find(&b->set, &q, &got);
	if (err ? err != -ENOSPC || fits || got != SENTINEL : !fits || got != want) {
		big_fail(b, BIG_OPS, "find returned %d, 0x%" PRIx64 "; model %s0x%" PRIx64, err,
			 got, fits ? "" : "none, not even ", want);
		return;
	}
	if (err) {
		b->nenospc++;
		return;
	}
	b->nfound++;
	if (big_rnd(b, 10) < 9)
		big_take(b, got, q.len);
}

/* Give back a live allocation, or a piece of one. */
static void big_op_give(struct big *b)
{
	size_t i = (size_t)big_rnd(b, b->nallocs);
	struct alloc a = b->allocs[i];
	uint64_t npages = a.len / PAGE, first = 0, n = npages;

	if (npages > 1 && big_rnd(b, 10) < 3) {
		first = big_rnd(b, npages);
		n = 1 + big_rnd(b, npages - first);
	}
	snprintf(b->what, sizeof(b->what), "give [0x%" PRIx64 ", +0x%" PRIx64 ")",
		 a.phys + first * PAGE, n * PAGE);
	big_give(b, a.phys + first * PAGE, n * PAGE);
	b->allocs[i] = b->allocs[--b->nallocs];
	/* What was not given back stays live. */
	if (first > 0)
		big_keep(b, a.phys, first * PAGE);
	if (first + n < npages)
		big_keep(b, a.phys + (first + n) * PAGE, (npages - first - n) * PAGE);
}

static void big_op_take(struct big *b)
{
	const struct contig_range *r;
	uint64_t npages, first, n, k = big_rnd(b, 100);

	if (b->n == 0)
		return;
	r = &b->model[big_rnd(b, b->n)];
	npages = r->len / PAGE;
	if (k < 80) {
		/* Inside one range: whole, front, back or middle. */
		first = big_rnd(b, 4) == 0 ? 0 : big_rnd(b, npages);
		n = big_rnd(b, 4) == 0 ? npages - first : 1 + big_rnd(b, npages - first);
	} else {
		/* Across its end: -ENOENT. */
		first = big_rnd(b, npages);
		n = npages - first + 1 + big_rnd(b, 4);
		if (r->phys + first * PAGE > MAX - n * PAGE + 1)
			return;
	}
	snprintf(b->what, sizeof(b->what), "take [0x%" PRIx64 ", +0x%" PRIx64 ")",
		 r->phys + first * PAGE, n * PAGE);
	big_take(b, r->phys + first * PAGE, n * PAGE);
}

/* Give a range that overlaps a free one: -EEXIST, set unchanged. */
static void big_op_give_overlap(struct big *b)
{
	const struct contig_range *r;
	uint64_t phys, len;
	size_t n = b->set.nranges;

	if (b->n == 0)
		return;
	r = &b->model[big_rnd(b, b->n)];
	phys = r->phys + PAGE * big_rnd(b, r->len / PAGE);
	len = PAGE * (1 + big_rnd(b, 8));
	if (phys >= PAGE && big_rnd(b, 2)) {
		phys -= PAGE;
		len += PAGE;
	}
	if (phys > MAX - len + 1)
		len = MAX - phys + 1;
	snprintf(b->what, sizeof(b->what), "give over free: [0x%" PRIx64 ", +0x%" PRIx64 ")", phys,
		 len);
	big_give(b, phys, len);
	if (!b->stop && b->set.nranges != n)
		big_fail(b, BIG_OPS, "failed give changed the set");
}

static void big_op_is_free(struct big *b)
{
	uint64_t phys = b->base + PAGE * big_rnd(b, b->space / PAGE);
	uint64_t len = PAGE * (1 + big_rnd(b, 8));
	size_t i = model_first_above(b, phys);
	bool want;

	if (phys > MAX - len + 1)
		len = MAX - phys + 1;
	want = i > 0 && end_of(&b->model[i - 1]) >= (u128)phys + len;
	snprintf(b->what, sizeof(b->what), "is_free [0x%" PRIx64 ", +0x%" PRIx64 ")", phys, len);
	if (contig_range_is_free(&b->set, phys, len) != want)
		big_fail(b, BIG_OPS, "is_free says %d, model %d", !want, want);
}

/* Lay out BIG_NRANGES free ranges of 1 to 8 pages with gaps of 1 to 4
 * pages, the last ending at 2^64; give them in shuffled chunks. */
static void big_setup(struct big *b)
{
	struct contig_range *chunks;
	size_t i, nchunks = 0;
	uint64_t p = 0;
	int err;

	b->init = calloc(BIG_NRANGES, sizeof(*b->init));
	chunks = calloc(2 * BIG_NRANGES, sizeof(*chunks));
	if (!b->init || !chunks)
		bail_out("out of memory");
	for (i = 0; i < BIG_NRANGES; i++) {
		p += PAGE * (1 + big_rnd(b, 4));
		b->init[i].phys = p;
		b->init[i].len = PAGE * (1 + big_rnd(b, 8));
		p += b->init[i].len;
	}
	b->space = p;
	b->base = TOP(p);
	b->ninit = BIG_NRANGES;
	for (i = 0; i < BIG_NRANGES; i++) {
		struct contig_range *r = &b->init[i];
		uint64_t cut = 0;

		if (r->len > PAGE && big_rnd(b, 2))
			cut = PAGE * big_rnd(b, r->len / PAGE);

		r->phys += b->base;
		chunks[nchunks].phys = r->phys;
		chunks[nchunks++].len = cut ? cut : r->len;
		if (cut) {
			chunks[nchunks].phys = r->phys + cut;
			chunks[nchunks++].len = r->len - cut;
		}
	}
	for (i = nchunks; i > 1; i--) {
		size_t j = (size_t)big_rnd(b, i);
		struct contig_range t = chunks[i - 1];

		chunks[i - 1] = chunks[j];
		chunks[j] = t;
	}
	b->model = calloc(BIG_NRANGES, sizeof(*b->model));
	if (!b->model)
		bail_out("out of memory");
	memcpy(b->model, b->init, BIG_NRANGES * sizeof(*b->model));
	b->n = b->cap = BIG_NRANGES;
	snprintf(b->what, sizeof(b->what), "setup: give %zu shuffled chunks", nchunks);
	contig_range_set_init(&b->set);
	for (i = 0; i < nchunks && !b->stop; i++) {
		b->free_len += chunks[i].len;
		err = contig_range_give(&b->set, chunks[i].phys, chunks[i].len);
		if (err)
			big_fail(b, BIG_BUILD,
				 "give of [0x%" PRIx64 ", +0x%" PRIx64 ") returned %d",
				 chunks[i].phys, chunks[i].len, err);
	}
	if (!b->stop)
		big_check(b, BIG_BUILD);
	free(chunks);
}

static void test_large_set(uint64_t seed, unsigned long nops)
{
	struct big *b = calloc(1, sizeof(*b));
	int c;

	if (!b)
		bail_out("out of memory");
	b->seed = seed;
	b->rng = seed ^ 0xb16;
	big_setup(b);
	for (b->op = 0; b->op < nops && !b->stop; b->op++) {
		uint64_t k = big_rnd(b, 100);

		if (k < 40 || b->nallocs == 0)
			big_op_find(b);
		else if (k < 65)
			big_op_give(b);
		else if (k < 85)
			big_op_take(b);
		else if (k < 95)
			big_op_give_overlap(b);
		else
			big_op_is_free(b);
		if (!b->stop && (b->set.nranges != b->n || b->set.free_len != b->free_len))
			big_fail(b, BIG_OPS, "set has %zu ranges, 0x%" PRIx64 " bytes; model %zu",
				 b->set.nranges, b->set.free_len, b->n);
		if (!b->stop && b->op % BIG_CHECK_EVERY == 0)
			big_check(b, BIG_TREE);
	}
	if (!b->stop)
		big_check(b, BIG_TREE);

	snprintf(b->what, sizeof(b->what), "teardown: give back %zu allocations", b->nallocs);
	while (!b->stop && b->nallocs > 0) {
		size_t i = (size_t)big_rnd(b, b->nallocs);
		int err = contig_range_give(&b->set, b->allocs[i].phys, b->allocs[i].len);

		if (err)
			big_fail(b, BIG_RESTORE,
				 "give of [0x%" PRIx64 ", +0x%" PRIx64 ") returned %d",
				 b->allocs[i].phys, b->allocs[i].len, err);
		b->allocs[i] = b->allocs[--b->nallocs];
	}
	if (!b->stop) {
		memcpy(b->model, b->init, BIG_NRANGES * sizeof(*b->model));
		b->n = BIG_NRANGES;
		b->free_len = 0;
		for (size_t i = 0; i < b->n; i++)
			b->free_len += b->model[i].len;
		big_check(b, BIG_RESTORE);
	}

	diag("large set: %zu ranges, %lu ops; find: %lu found, "
	     "%lu -ENOSPC; take: %lu ok, %lu -ENOENT; give: %lu ok, %lu -EEXIST",
	     b->ninit, b->op, b->nfound, b->nenospc, b->ntake, b->nenoent, b->ngive,
	     b->neexist);
	for (c = 0; c < NBIG_CHECKS; c++)
		ok(!b->failed[c], "%s", big_check_names[c]);
	ok(b->stop || (b->nfound > nops / 10 && b->nenospc > 0 && b->nenoent > 0 &&
		       b->neexist > 0),
	   "large_set_run_reaches_every_outcome");

	contig_range_set_done(&b->set);
	free(b->model);
	free(b->init);
	free(b->allocs);
	free(b);
}

static uint64_t env_u64(const char *name, uint64_t fallback)
{
	const char *text = getenv(name);
	char *end;
	uint64_t v;

	if (!text || !*text)
		return fallback;
	v = strtoull(text, &end, 0);
	if (*end)
		bail_out("%s=%s is not a number", name, text);
	return v;
}

int main(void)
{
	/* Pages from 0, from an arbitrary address and up to 2^64; bytes from an
	 * odd address and up to 2^64, where every off-by-one shows. */
	static const struct {
		uint64_t base, unit;
	} runs[] = {
		{ 0, PAGE },
		{ 0x123456789000, PAGE },
		{ TOP(NUNITS * PAGE), PAGE },
		{ 0x1001, 1 },
		{ TOP(NUNITS), 1 },
	};
	uint64_t seed = env_u64("RANGE_SEED", 0xc0471d5eed);
	unsigned long nops = (unsigned long)env_u64("RANGE_OPS", 40000);
	clock_t start;
	size_t i;

	test_empty();
	test_req_check();
	test_give();
	test_give_errors();
	test_give_many();
	test_take();
	test_is_free_and_largest();
	test_find();
	test_find_top();

	diag("random: RANGE_SEED=0x%" PRIx64 " RANGE_OPS=%lu", seed, nops);
	start = clock();
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		run_random(seed, runs[i].base, runs[i].unit, nops);
	diag("random: %.2f s CPU", (double)(clock() - start) / CLOCKS_PER_SEC);

	start = clock();
	test_large_set(seed, nops / 4);
	diag("large set: %.2f s CPU", (double)(clock() - start) / CLOCKS_PER_SEC);
	free(ranges_buf);
	return done_testing();
}
