/* range.c - constrained allocator over sets of free physical ranges.
 *
 * DESIGN
 * A set is an array of free ranges sorted by address. Binary search finds
 * the range that holds (or follows) an address in O(log n); take and give
 * split or merge in place with one memmove, O(n) in the worst case. The sets
 * it serves are small (free frames of one pool, free pages of one session's
 * frames), so a flat array beats a tree on both speed and code size.
 *
 * contig_range_find() is first fit by address. For each free range that can
 * reach into [lowest, highest], in address order, the lowest start that
 * satisfies align and boundary is
 *	s = round_up(max(range.phys, lowest), align);
 *	if [s, s + len) crosses a multiple of boundary:
 *		s = round_up(s, max(align, boundary));
 * because a start inside the same boundary block at or above s crosses too,
 * and the next block's first byte is aligned to both and holds len bytes
 * (boundary >= len). That start only grows with the range's address, so
 * once it ends above @highest (or overflows) no later range can do better
 * and the scan stops. Cost: O(log n + ranges inside the window).
 *
 * Invariants (checked by tests/unit/test_range.c after every operation):
 *  - every range has len > 0 and its last byte, phys + len - 1, is at most
 *    UINT64_MAX: a range may end exactly at 2^64, so code compares last
 *    bytes, never exclusive ends, which would wrap to 0;
 *  - ranges are sorted and neither overlap nor touch
 *    (last[i] + 1 < phys[i + 1]): give merges touching neighbours;
 *  - free_len is the sum of the lengths and must fit in 64 bits, so a set
 *    never covers all 2^64 addresses (give refuses the range that would);
 *  - nranges <= cap, and ranges is NULL only when cap is 0.
 * Any arithmetic that would pass 2^64 means "does not fit", never a wrap.
 *
 * Beyond range.h: take and give return -EINVAL for a range that is empty or
 * passes 2^64 (is_free says false for one), and give returns -EOVERFLOW
 * rather than complete a set of all 2^64 addresses, whose length and
 * free_len would not fit in a uint64_t.
 *
 * No syscalls, no libuv, no globals. A set belongs to one thread.
 */
#include "range.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_MIN_CAP 8

static bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Last byte of [phys, phys + len), or false if len is 0 or it passes 2^64. */
static bool last_byte(uint64_t phys, uint64_t len, uint64_t *ret_last)
{
	if (len == 0 || phys > UINT64_MAX - (len - 1))
		return false;
	*ret_last = phys + (len - 1);
	return true;
}

static uint64_t range_last(const struct contig_range *r)
{
	return r->phys + (r->len - 1);
}

/* Round @x up to a multiple of @align (a power of two); false on overflow. */
static bool round_up(uint64_t x, uint64_t align, uint64_t *ret_x)
{
	if (x > UINT64_MAX - (align - 1))
		return false;
	*ret_x = (x + (align - 1)) & ~(align - 1);
	return true;
}

/* Index of the first range whose last byte is >= @phys (nranges if none). */
static size_t first_reaching(const struct contig_range_set *set, uint64_t phys)
{
	size_t lo = 0, hi = set->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (range_last(&set->ranges[mid]) < phys)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first range that starts above @phys (nranges if none). */
static size_t first_above(const struct contig_range_set *set, uint64_t phys)
{
	size_t lo = 0, hi = set->nranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->ranges[mid].phys <= phys)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The range holding all of [phys, last], or NULL. */
static struct contig_range *range_holding(const struct contig_range_set *set, uint64_t phys,
					  uint64_t last)
{
	size_t i = first_above(set, phys);
	struct contig_range *r;

	if (i == 0)
		return NULL;
	r = &set->ranges[i - 1];
	return range_last(r) >= last ? r : NULL;
}

/* Make room for one more range. On -ENOMEM the set is unchanged. */
static int set_reserve(struct contig_range_set *set)
{
	struct contig_range *ranges;
	size_t cap;

	if (set->nranges < set->cap)
		return 0;
	if (set->cap > SIZE_MAX / 2 / sizeof(*ranges))
		return -ENOMEM;
	cap = set->cap ? set->cap * 2 : RANGE_MIN_CAP;
	ranges = realloc(set->ranges, cap * sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	set->ranges = ranges;
	set->cap = cap;
	return 0;
}

/* Insert [phys, phys + len) at index @i; room must already be reserved. */
static void range_insert(struct contig_range_set *set, size_t i, uint64_t phys, uint64_t len)
{
	assert(set->nranges < set->cap && i <= set->nranges);
	memmove(&set->ranges[i + 1], &set->ranges[i], (set->nranges - i) * sizeof(set->ranges[0]));
	set->ranges[i].phys = phys;
	set->ranges[i].len = len;
	set->nranges++;
}

static void range_remove(struct contig_range_set *set, size_t i)
{
	assert(i < set->nranges);
	memmove(&set->ranges[i], &set->ranges[i + 1],
		(set->nranges - i - 1) * sizeof(set->ranges[0]));
	set->nranges--;
}

void contig_range_set_init(struct contig_range_set *set)
{
	set->ranges = NULL;
	set->nranges = 0;
	set->cap = 0;
	set->free_len = 0;
}

void contig_range_set_done(struct contig_range_set *set)
{
	if (!set)
		return;
	free(set->ranges);
	contig_range_set_init(set);
}

int contig_range_req_check(const struct contig_range_req *req, const char **ret_field)
{
	const char *field = NULL;
	uint64_t last;

	if (req->len == 0)
		field = "len";
	else if (!is_pow2(req->align))
		field = "align";
	else if (!last_byte(req->lowest, req->len, &last))
		field = "lowest"; /* no buffer of this length starts at or above it */
	else if (req->highest < req->lowest)
		field = "highest";
	else if (req->boundary != 0 && (!is_pow2(req->boundary) || req->boundary < req->len))
		field = "boundary";
	if (!field)
		return 0;
	if (ret_field)
		*ret_field = field;
	return -EINVAL;
}

/* The lowest start >= @from that is aligned and does not cross a boundary,
 * with its last byte; false if that passes 2^64. */
static bool first_start(const struct contig_range_req *req, uint64_t from, uint64_t *ret_phys,
			uint64_t *ret_last)
{
	uint64_t phys, last;

	if (!round_up(from, req->align, &phys) || !last_byte(phys, req->len, &last))
		return false;
	if (req->boundary != 0 && phys / req->boundary != last / req->boundary) {
		uint64_t step = req->align > req->boundary ? req->align : req->boundary;

		if (!round_up(phys, step, &phys) || !last_byte(phys, req->len, &last))
			return false;
	}
	*ret_phys = phys;
	*ret_last = last;
	return true;
}

int contig_range_find(const struct contig_range_set *set, const struct contig_range_req *req,
		      uint64_t *ret_phys)
{
	size_t i;

	assert(contig_range_req_check(req, NULL) == 0);
	for (i = first_reaching(set, req->lowest);
	     i < set->nranges && set->ranges[i].phys <= req->highest; i++) {
		const struct contig_range *r = &set->ranges[i];
		uint64_t from = r->phys > req->lowest ? r->phys : req->lowest;
		uint64_t phys, last;

		/* Starts only grow from here on: past @highest is past for good. */
		if (!first_start(req, from, &phys, &last) || last > req->highest)
			break;
		if (last <= range_last(r)) {
			*ret_phys = phys;
			return 0;
		}
	}
	return -ENOSPC;
}

int contig_range_take(struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	struct contig_range *r;
	uint64_t last, r_last;
	int err;

	if (!last_byte(phys, len, &last))
		return -EINVAL;
	r = range_holding(set, phys, last);
	if (!r)
		return -ENOENT;
	r_last = range_last(r);
	if (r->phys == phys && r_last == last) {
		range_remove(set, (size_t)(r - set->ranges));
	} else if (r->phys == phys) {
		r->phys = last + 1;
		r->len -= len;
	} else if (r_last == last) {
		r->len -= len;
	} else {
		size_t i = (size_t)(r - set->ranges);

		/* The split needs a new slot; get it before touching anything. */
		err = set_reserve(set);
		if (err)
			return err;
		r = &set->ranges[i];
		r->len = phys - r->phys;
		range_insert(set, i + 1, last + 1, r_last - last);
	}
	set->free_len -= len;
	return 0;
}

int contig_range_give(struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	struct contig_range *left = NULL, *right = NULL;
	uint64_t last;
	size_t i;
	int err;

	if (!last_byte(phys, len, &last))
		return -EINVAL;
	i = first_above(set, phys);
	if (i > 0)
		left = &set->ranges[i - 1];
	if (i < set->nranges)
		right = &set->ranges[i];
	if ((left && range_last(left) >= phys) || (right && right->phys <= last))
		return -EEXIST;
	/* Disjoint, so the sum is at most 2^64; only all of it is too much. */
	if (len > UINT64_MAX - set->free_len)
		return -EOVERFLOW;

	/* No overlap, so left's last byte < phys and last < right->phys. */
	if (left && range_last(left) + 1 != phys)
		left = NULL;
	if (right && last + 1 != right->phys)
		right = NULL;
	if (left && right) {
		left->len += len + right->len;
		range_remove(set, i);
	} else if (left) {
		left->len += len;
	} else if (right) {
		right->phys = phys;
		right->len += len;
	} else {
		err = set_reserve(set);
		if (err)
			return err;
		range_insert(set, i, phys, len);
	}
	set->free_len += len;
	return 0;
}

bool contig_range_is_free(const struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	uint64_t last;

	return last_byte(phys, len, &last) && range_holding(set, phys, last) != NULL;
}

uint64_t contig_range_largest(const struct contig_range_set *set)
{
	uint64_t largest = 0;
	size_t i;

	for (i = 0; i < set->nranges; i++)
		if (set->ranges[i].len > largest)
			largest = set->ranges[i].len;
	return largest;
}
