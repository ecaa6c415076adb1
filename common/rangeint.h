/* rangeint.h - the tree behind struct contig_range_set: its nodes, and
 * the arithmetic both range.c (the allocator) and rangecheck.c (the
 * test-only checker) need. Private to those two files: nothing else
 * includes it, so the short names below are not prefixed.
 *
 * The tree is a B+tree by address (range.c's DESIGN says how it is used).
 * A node holds up to NODE_MAX entries in parallel arrays, in address
 * order. In a leaf (level 0) an entry is a free range: key its first byte,
 * len its length, fit its own fit. In an inner node (level >= 1) an entry
 * is a child and a summary of the child's subtree: key its lowest first
 * byte, len its longest range, fit the largest fit of each kind.
 *
 * Invariants (rangecheck.c's contig_range_set_check() checks them all;
 * the unit test calls it after every operation):
 *  - every range has len > 0 and its last byte, phys + len - 1, is at most
 *    UINT64_MAX: a range may end exactly at 2^64, so code compares last
 *    bytes, never exclusive ends, which would wrap to 0;
 *  - ranges in order (leaves left to right) are sorted and neither overlap
 *    nor touch (last[i] + 1 < phys[i + 1]): give merges touching
 *    neighbours;
 *  - every leaf is at the same depth: a node's children are one level
 *    below it, and the root's level is the tree's height - 1;
 *  - a node holds 1 to NODE_MAX entries; every node but the root holds at
 *    least NODE_MIN; an inner root holds at least 2; an empty set has no
 *    root. So a tree of height h >= 2 holds at least 2 * NODE_MIN^(h - 1)
 *    ranges: the height is at most 1 + log_NODE_MIN(nranges / 2);
 *  - a node's unused slots (n to NODE_MAX - 1) say key UINT64_MAX, len 0
 *    and fits 0, so that counting keys and taking maxima run over all 16
 *    slots without first reading n;
 *  - an inner entry's key, len and fit are its child's summary: the
 *    child's first key, its largest len and its largest fit of each kind
 *    (so by induction the subtree's lowest first byte, longest range and
 *    best fits); a leaf entry's fit is range_fit() of its range;
 *  - nranges counts the leaves' entries, nnodes the nodes allocated (the
 *    tree's and the nspare on the spare list, at most SPARE_MAX);
 *  - free_len is the sum of the lengths and must fit in 64 bits, so a set
 *    never covers all 2^64 addresses (give refuses the range that would).
 */
#ifndef CONTIG_RANGEINT_H
#define CONTIG_RANGEINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Entries per node, most and least (but the root's). A split of a full
 * node leaves 8 and 9, a node is merged or refilled only below 6, so a
 * give and a take at the same place cannot split and merge by turns. */
#define NODE_MAX 16
#define NODE_MIN 6

/* Ranges never touch, so a set holds fewer than 2^63 of them; a tree of
 * height h >= 2 has at least 2 * NODE_MIN^(h - 1) ranges, so h <= 24. */
#define MAX_DEPTH 32

/* Spare nodes a set keeps for its next splits; a node freed beyond them
 * goes back to malloc. */
#define SPARE_MAX 8

/* How aligned a range can serve a buffer: fit[FIT_ADDR] is the largest k
 * such that the range holds a multiple of 2^k (64 for 0), fit[FIT_BLOCK]
 * the largest k such that it holds a whole aligned block of 2^k bytes. A
 * buffer aligned to 2^a of len L can fit only where the first is >= a and
 * the second >= min(a, floor(log2(L))). */
#define FIT_ADDR 0
#define FIT_BLOCK 1
#define NFITS 2

struct contig_range_node {
	uint64_t key[NODE_MAX]; /* first byte: of the range, of the subtree */
	uint64_t len[NODE_MAX]; /* length: of the range, the longest in the subtree */
	struct contig_range_node *child[NODE_MAX]; /* inner nodes only; child[0] links spares */
	unsigned char fit[NFITS][NODE_MAX];	    /* the range's, the subtree's best */
	unsigned char n;			    /* entries in use */
	unsigned char level;			    /* 0 for a leaf */
};

/* Last byte of [phys, phys + len), or false if len is 0 or it passes 2^64. */
static inline bool last_byte(uint64_t phys, uint64_t len, uint64_t *ret_last)
{
	if (len == 0 || phys > UINT64_MAX - (len - 1))
		return false;
	*ret_last = phys + (len - 1);
	return true;
}

/* Round @x up to a multiple of @align (a power of two); false on overflow. */
static inline bool round_up(uint64_t x, uint64_t align, uint64_t *ret_x)
{
	if (x > UINT64_MAX - (align - 1))
		return false;
	*ret_x = (x + (align - 1)) & ~(align - 1);
	return true;
}

/* Last byte of the range at entry @i of leaf @n. */
static inline uint64_t entry_last(const struct contig_range_node *n, int i)
{
	return n->key[i] + (n->len[i] - 1);
}

static inline int log2_floor(uint64_t x)
{
	return 63 - __builtin_clzll(x);
}

/* The fit of the single range [phys, phys + len). */
static inline void range_fit(uint64_t phys, uint64_t len, unsigned char ret_fit[NFITS])
{
	uint64_t last = phys + (len - 1), block, start;
	int k = log2_floor(len);

	/* The most aligned address in [phys, last] keeps the bits above the
	 * highest bit where phys - 1 and last differ, sets that bit and
	 * clears the rest. */
	ret_fit[FIT_ADDR] = (unsigned char)(phys ? log2_floor((phys - 1) ^ last) : 64);
	/* 2^k <= len < 2^(k + 1): an aligned block of 2^k may fit, and one of
	 * 2^(k - 1) always does. */
	block = UINT64_C(1) << k;
	if (!round_up(phys, block, &start) || start > last || last - start < block - 1)
		k--;
	ret_fit[FIT_BLOCK] = (unsigned char)k;
}

#endif
