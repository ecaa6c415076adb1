/* range.h - constrained allocator over sets of free physical ranges.
 *
 * Pure C: no syscalls, no libuv, no globals; unit-tested on its own
 * (tests/unit/test_range.c). Used twice: a pool keeps its free frames as a
 * set (frame granularity), and a session keeps the free space inside the
 * frames it owns as a set (4 KiB granularity). Not thread-safe: each set
 * belongs to one thread (the loop thread in the daemon).
 */
#ifndef CONTIG_RANGE_H
#define CONTIG_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One free range [phys, phys + len). Ranges in a set never overlap or touch:
 * adjacent ranges are merged on insertion. */
struct contig_range {
	uint64_t phys;
	uint64_t len;
};

struct contig_range_node; /* rangeint.h */

/* A set of free ranges: a B+tree by address (see range.c). Nothing points
 * into the struct itself, so it may be moved or copied by value (the copy
 * then owns the nodes; the original must not be used again). Read
 * free_len and nranges; leave the rest to range.c. */
struct contig_range_set {
	struct contig_range_node *root;  /* the tree; NULL when empty */
	struct contig_range_node *spare; /* unused nodes, ready for the tree */
	size_t nranges;			 /* ranges in the set */
	size_t nnodes;			 /* nodes allocated: the tree's and the spares */
	size_t nspare;			 /* nodes on the spare list */
	uint64_t free_len;		 /* sum of all range lengths */
};

/* What a buffer needs. Every address is physical; @highest is inclusive. */
struct contig_range_req {
	uint64_t len;      /* > 0 */
	uint64_t align;    /* power of two, > 0 */
	uint64_t lowest;   /* first acceptable byte */
	uint64_t highest;  /* last acceptable byte; UINT64_MAX = no limit */
	uint64_t boundary; /* 0, or a power of two >= len never crossed */
};

/* An empty set; it allocates nothing until a range is given. */
void contig_range_set_init(struct contig_range_set *set);
/* Free every node and leave @set empty. Accepts NULL and repeated calls. */
void contig_range_set_done(struct contig_range_set *set);

/* Bytes of memory @set holds (its nodes, not malloc's headers): at most
 * about 90 per range and 4 KiB more (range.c's DESIGN). O(1). */
size_t contig_range_set_bytes(const struct contig_range_set *set);

/* Is @req well formed (len > 0, powers of two, boundary >= len,
 * lowest <= highest, lowest + len - 1 below 2^64)? Returns 0 or -EINVAL,
 * and on -EINVAL points *ret_field (if not NULL) at the name of the first
 * bad field in struct order ("highest" when lowest > highest, "lowest" when
 * lowest + len overflows). A window smaller than len is well formed:
 * contig_range_find() then says -ENOSPC. */
int contig_range_req_check(const struct contig_range_req *req, const char **ret_field);

/* Find the lowest start address at which a range satisfying @req lies
 * entirely inside one free range of @set. Does not change @set.
 * Returns 0 and sets *ret_phys, or -ENOSPC if nothing fits. @req must have
 * passed contig_range_req_check(). O(log n) when the first range in the
 * window long enough for @req holds it; each range passed over because
 * align or boundary leave too little of it adds at most O(log n). */
int contig_range_find(const struct contig_range_set *set, const struct contig_range_req *req,
		      uint64_t *ret_phys);

/* Remove [phys, phys + len), which must lie inside one free range, from
 * @set. Returns 0, -ENOENT if it is not free, -EINVAL if len is 0 or the
 * range wraps past 2^64, -ENOMEM if a split needed a node and none could be
 * allocated (the set is then unchanged). O(log n). */
int contig_range_take(struct contig_range_set *set, uint64_t phys, uint64_t len);

/* Add [phys, phys + len), which must not overlap any free range, to @set,
 * merging with neighbours. Returns 0, -EEXIST on overlap, -EINVAL if len is
 * 0 or the range wraps past 2^64, -EOVERFLOW if the set would cover all
 * 2^64 addresses (unrepresentable), -ENOMEM if a new range needed a node
 * and none could be allocated; on error the set is unchanged. O(log n). */
int contig_range_give(struct contig_range_set *set, uint64_t phys, uint64_t len);

/* Is [phys, phys + len) entirely free in @set? O(log n). */
bool contig_range_is_free(const struct contig_range_set *set, uint64_t phys, uint64_t len);

/* The longest free range in @set, 0 if empty. O(1). */
uint64_t contig_range_largest(const struct contig_range_set *set);

#ifdef CONTIG_RANGE_DEBUG
/* For tests. Copy the first @max ranges of @set, in address order, to
 * @ret_ranges (which may be NULL when @max is 0); returns set->nranges. */
size_t contig_range_set_copy(const struct contig_range_set *set, struct contig_range *ret_ranges,
			     size_t max);

/* For tests. Check every invariant of the tree behind @set (order, no
 * touching ranges, leaves at one depth, entries per node, subtree
 * summaries, nranges, nnodes, nspare, free_len). Returns NULL if they
 * hold, else what is broken. O(n). */
const char *contig_range_set_check(const struct contig_range_set *set);
#endif

#endif
