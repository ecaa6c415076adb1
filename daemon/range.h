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

/* A set of free ranges, kept sorted by address in a growable array. */
struct contig_range_set {
	struct contig_range *ranges;
	size_t nranges;
	size_t cap;
	uint64_t free_len; /* sum of all range lengths */
};

/* What a buffer needs. Every address is physical; @highest is inclusive. */
struct contig_range_req {
	uint64_t len;      /* > 0 */
	uint64_t align;    /* power of two, > 0 */
	uint64_t lowest;   /* first acceptable byte */
	uint64_t highest;  /* last acceptable byte; UINT64_MAX = no limit */
	uint64_t boundary; /* 0, or a power of two >= len never crossed */
};

void contig_range_set_init(struct contig_range_set *set);
void contig_range_set_done(struct contig_range_set *set);

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
 * passed contig_range_req_check(). */
int contig_range_find(const struct contig_range_set *set, const struct contig_range_req *req,
		      uint64_t *ret_phys);

/* Remove [phys, phys + len), which must lie inside one free range, from
 * @set. Returns 0, -ENOENT if it is not free, -EINVAL if len is 0 or the
 * range wraps past 2^64, -ENOMEM if the array could not grow (the set is
 * then unchanged). */
int contig_range_take(struct contig_range_set *set, uint64_t phys, uint64_t len);

/* Add [phys, phys + len), which must not overlap any free range, to @set,
 * merging with neighbours. Returns 0, -EEXIST on overlap, -EINVAL if len is
 * 0 or the range wraps past 2^64, -EOVERFLOW if the set would cover all
 * 2^64 addresses (unrepresentable), -ENOMEM if the array could not grow;
 * on error the set is unchanged. */
int contig_range_give(struct contig_range_set *set, uint64_t phys, uint64_t len);

/* Is [phys, phys + len) entirely free in @set? */
bool contig_range_is_free(const struct contig_range_set *set, uint64_t phys, uint64_t len);

/* The longest free range in @set, 0 if empty. O(n). */
uint64_t contig_range_largest(const struct contig_range_set *set);

#endif
