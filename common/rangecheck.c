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

#include <string.h>

#include "rangeint.h"


static void copy_in(const struct contig_range_node *n, int depth, struct contig_range *ret_ranges,
		    size_t max, size_t *i)
{
	for (; n && depth <= MAX_HEIGHT && *i < max; n = n->child[1], depth++) {
		copy_in(n->child[0], depth + 1, ret_ranges, max, i);
		if (*i < max) {
			ret_ranges[*i].phys = n->phys;
			ret_ranges[*i].len = n->len;
			(*i)++;
		}
	}
}

size_t contig_range_set_copy(const struct contig_range_set *set, struct contig_range *ret_ranges,
			     size_t max)
{
	size_t i = 0;

	copy_in(set->root, 1, ret_ranges, max, &i);
	return set->nranges;
}

struct check {
	const struct contig_range_node *prev; /* the last range visited in order */
	size_t nranges;
	uint64_t free_len;
	const char *err; /* the first broken invariant */
};

/* Check the subtree at @n, @depth levels down; returns its real height. */
static int check_in(const struct contig_range_node *n, int depth, struct check *c)
{
	unsigned char fit[NFITS];
	uint64_t last, m;
	int h0, h1, d, i;

	if (!n || c->err)
		return 0;
	if (depth > MAX_HEIGHT) {
		c->err = "tree deeper than MAX_HEIGHT";
		return 0;
	}
	h0 = check_in(n->child[0], depth + 1, c);
	if (c->err)
		return 0;
	if (!last_byte(n->phys, n->len, &last))
		c->err = "a range is empty or passes 2^64";
	else if (c->prev && node_last(c->prev) >= n->phys)
		c->err = "ranges out of order or overlapping";
	else if (c->prev && node_last(c->prev) + 1 == n->phys)
		c->err = "ranges touching";
	else if (n->len > UINT64_MAX - c->free_len)
		c->err = "lengths sum past 2^64 - 1";
	if (c->err)
		return 0;
	c->prev = n;
	c->nranges++;
	c->free_len += n->len;
	h1 = check_in(n->child[1], depth + 1, c);
	if (c->err)
		return 0;
	m = n->len;
	if (max_len(n->child[0]) > m)
		m = max_len(n->child[0]);
	if (max_len(n->child[1]) > m)
		m = max_len(n->child[1]);
	range_fit(n->phys, n->len, fit);
	if (memcmp(n->own_fit, fit, NFITS) != 0) {
		c->err = "a node's own_fit is wrong";
		return 0;
	}
	for (d = 0; d < 2; d++)
		for (i = 0; n->child[d] && i < NFITS; i++)
			if (n->child[d]->fit[i] > fit[i])
				fit[i] = n->child[d]->fit[i];
	if (h0 - h1 > 1 || h1 - h0 > 1)
		c->err = "children's heights differ by more than one";
	else if (n->height != 1 + (h0 > h1 ? h0 : h1))
		c->err = "a node's height is wrong";
	else if (n->max_len != m)
		c->err = "a node's max_len is wrong";
	else if (memcmp(n->fit, fit, NFITS) != 0)
		c->err = "a node's fit is wrong";
	return n->height;
}

const char *contig_range_set_check(const struct contig_range_set *set)
{
	const struct contig_range_chunk *chunk;
	const struct contig_range_node *n;
	struct check c = { NULL, 0, 0, NULL };
	size_t nnodes = 0, nspare = 0;

	check_in(set->root, 1, &c);
	if (c.err)
		return c.err;
	if (c.nranges != set->nranges)
		return "nranges is not the number of nodes in the tree";
	if (c.free_len != set->free_len)
		return "free_len is not the sum of the lengths";
	for (chunk = set->chunks; chunk; chunk = chunk->next)
		nnodes += chunk->nnodes;
	if (nnodes != set->nnodes)
		return "nnodes is not the number of nodes in chunks";
	for (n = set->spare; n && nspare <= nnodes; n = n->child[0])
		nspare++;
	if (set->nranges + nspare != set->nnodes)
		return "nodes lost or counted twice: tree + spares != nnodes";
	return NULL;
}
