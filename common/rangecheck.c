/* rangecheck.c - for tests: a set's ranges copied out, and every
 * invariant of the tree behind it checked (range.h's CONTIG_RANGE_DEBUG
 * part).
 *
 * DESIGN
 * The invariants are rangeint.h's; contig_range_set_check() walks the
 * whole tree, O(n), and returns the first that is broken, so the unit test
 * (tests/unit/test_range.c) can call it after every operation. It reads
 * the tree and never changes it, and calls nothing of range.c's: a checker
 * that used the code it checks would agree with its bugs. Only the tests
 * link it; the daemon does not.
 */
#define CONTIG_RANGE_DEBUG /* this file defines the test-only functions */
#include "range.h"

#include <stdbool.h>
#include <string.h>

#include "rangeint.h"

static void copy_in(const struct contig_range_node *n, int depth, struct contig_range *ret_ranges,
		    size_t max, size_t *i)
{
	int k;

	if (depth > MAX_DEPTH)
		return;
	for (k = 0; k < n->n && *i < max; k++) {
		if (n->level > 0) {
			copy_in(n->child[k], depth + 1, ret_ranges, max, i);
			continue;
		}
		ret_ranges[*i].phys = n->key[k];
		ret_ranges[*i].len = n->len[k];
		(*i)++;
	}
}

size_t contig_range_set_copy(const struct contig_range_set *set, struct contig_range *ret_ranges,
			     size_t max)
{
	size_t i = 0;

	if (set->root)
		copy_in(set->root, 1, ret_ranges, max, &i);
	return set->nranges;
}

struct check {
	bool have_prev;
	uint64_t prev_last; /* the last byte of the last range visited in order */
	size_t nranges, nnodes;
	uint64_t free_len;
	const char *err; /* the first broken invariant */
};

/* What an entry of @n's parent must say of @n. */
struct summary {
	uint64_t key, len;
	unsigned char fit[NFITS];
};

/* Check the subtree at @n, @depth levels down, which should be at @level;
 * on success fill *ret_sum with what its parent's entry must say. */
static void check_in(const struct contig_range_node *n, int depth, int level, bool root,
		     struct check *c, struct summary *ret_sum)
{
	unsigned char fit[NFITS];
	struct summary sub;
	uint64_t last;
	int k, i;

	if (depth > MAX_DEPTH) {
		c->err = "tree deeper than MAX_DEPTH";
		return;
	}
	c->nnodes++;
	if (n->level != level) {
		c->err = "a node's level is not one below its parent's (leaves at one depth)";
		return;
	}
	if (n->n < 1 || n->n > NODE_MAX || (!root && n->n < NODE_MIN) ||
	    (root && n->level > 0 && n->n < 2)) {
		c->err = "a node holds too few or too many entries";
		return;
	}
	for (k = n->n; k < NODE_MAX; k++) {
		if (n->key[k] != UINT64_MAX || n->len[k] != 0 || n->fit[FIT_ADDR][k] != 0 ||
		    n->fit[FIT_BLOCK][k] != 0) {
			c->err = "an unused slot is not key UINT64_MAX, len 0, fits 0";
			return;
		}
	}
	memset(ret_sum, 0, sizeof(*ret_sum));
	for (k = 0; k < n->n; k++) {
		if (n->level > 0) {
			check_in(n->child[k], depth + 1, level - 1, false, c, &sub);
			if (c->err)
				return;
			if (n->key[k] != sub.key || n->len[k] != sub.len ||
			    n->fit[FIT_ADDR][k] != sub.fit[FIT_ADDR] ||
			    n->fit[FIT_BLOCK][k] != sub.fit[FIT_BLOCK]) {
				c->err = "an inner entry is not its child's summary";
				return;
			}
		} else {
			if (!last_byte(n->key[k], n->len[k], &last))
				c->err = "a range is empty or passes 2^64";
			else if (c->have_prev && c->prev_last >= n->key[k])
				c->err = "ranges out of order or overlapping";
			else if (c->have_prev && c->prev_last + 1 == n->key[k])
				c->err = "ranges touching";
			else if (n->len[k] > UINT64_MAX - c->free_len)
				c->err = "lengths sum past 2^64 - 1";
			if (c->err)
				return;
			range_fit(n->key[k], n->len[k], fit);
			if (n->fit[FIT_ADDR][k] != fit[FIT_ADDR] ||
			    n->fit[FIT_BLOCK][k] != fit[FIT_BLOCK]) {
				c->err = "a range's fit is wrong";
				return;
			}
			c->have_prev = true;
			c->prev_last = last;
			c->nranges++;
			c->free_len += n->len[k];
		}
		if (k == 0)
			ret_sum->key = n->key[0];
		if (n->len[k] > ret_sum->len)
			ret_sum->len = n->len[k];
		for (i = 0; i < NFITS; i++)
			if (n->fit[i][k] > ret_sum->fit[i])
				ret_sum->fit[i] = n->fit[i][k];
	}
}

const char *contig_range_set_check(const struct contig_range_set *set)
{
	const struct contig_range_node *n;
	struct check c = { false, 0, 0, 0, 0, NULL };
	struct summary sum;
	size_t nspare = 0;

	if (set->root) {
		check_in(set->root, 1, set->root->level, true, &c, &sum);
		if (c.err)
			return c.err;
	}
	if (c.nranges != set->nranges)
		return "nranges is not the number of ranges in the leaves";
	if (c.free_len != set->free_len)
		return "free_len is not the sum of the lengths";
	for (n = set->spare; n && nspare <= set->nnodes; n = n->child[0])
		nspare++;
	if (nspare != set->nspare || nspare > SPARE_MAX)
		return "nspare is not the length of the spare list, or above SPARE_MAX";
	if (c.nnodes + nspare != set->nnodes)
		return "nodes lost or counted twice: tree + spares != nnodes";
	return NULL;
}
