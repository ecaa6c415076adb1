/* rangeint.h - the tree behind struct contig_range_set: its nodes, their
 * chunks, and the arithmetic both range.c (the allocator) and rangecheck.c
 * (the test-only checker) need. Private to those two files: nothing else
 * includes it, so the short names below are not prefixed.
 *
 * Invariants (rangecheck.c's contig_range_set_check() checks them all;
 * the unit test calls it after every operation):
 *  - every range has len > 0 and its last byte, phys + len - 1, is at most
 *    UINT64_MAX: a range may end exactly at 2^64, so code compares last
 *    bytes, never exclusive ends, which would wrap to 0;
 *  - in-order ranges are sorted and neither overlap nor touch
 *    (last[i] + 1 < phys[i + 1]): give merges touching neighbours;
 *  - each node's height is 1 + its taller child's (0 for none), and its
 *    children's heights differ by at most one, so the height is below
 *    1.4405 * log2(n + 2) < MAX_HEIGHT;
 *  - each node's max_len is the largest len in its subtree, its own_fit
 *    its range's fit, and its fit the largest own_fit in its subtree;
 *  - nranges counts the tree's nodes, nnodes the chunks' nodes, and every
 *    node is in the tree or on the spare list;
 *  - free_len is the sum of the lengths and must fit in 64 bits, so a set
 *    never covers all 2^64 addresses (give refuses the range that would).
 */
#ifndef CONTIG_RANGEINT_H
#define CONTIG_RANGEINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An AVL tree of height h holds at least F(h + 2) - 1 nodes (Fibonacci),
 * and fewer than 2^59 nodes of 48 bytes fit in 2^64 bytes of memory, so h
 * stays below 1.4405 * log2(2^59 + 2) < 86. */
#define MAX_HEIGHT 88

/* How aligned a range can serve a buffer: fit[FIT_ADDR] is the largest k
 * such that the range holds a multiple of 2^k (64 for 0), fit[FIT_BLOCK]
 * the largest k such that it holds a whole aligned block of 2^k bytes. A
 * buffer aligned to 2^a of len L can fit only where the first is >= a and
 * the second >= min(a, floor(log2(L))). */
#define FIT_ADDR 0
#define FIT_BLOCK 1
#define NFITS 2

struct contig_range_node {
	uint64_t phys;
	uint64_t len;
	uint64_t max_len;		     /* the longest len in this subtree */
	struct contig_range_node *child[2]; /* lower, higher; child[0] links spares */
	unsigned char height;		     /* 1 for a leaf */
	unsigned char own_fit[NFITS];	     /* this range's */
	unsigned char fit[NFITS];	     /* the largest of each in this subtree */
};

struct contig_range_chunk {
	struct contig_range_chunk *next;
	size_t nnodes;
	struct contig_range_node nodes[];
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

static inline uint64_t node_last(const struct contig_range_node *n)
{
	return n->phys + (n->len - 1);
}

static inline int height(const struct contig_range_node *n)
{
	return n ? n->height : 0;
}

static inline uint64_t max_len(const struct contig_range_node *n)
{
	return n ? n->max_len : 0;
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
