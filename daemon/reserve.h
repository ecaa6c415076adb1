/* reserve.h - reserving a pool so that large buffers exist: more candidate
 * frames than the pool needs, the best kept, the rest given back. */
#ifndef CONTIG_RESERVE_H
#define CONTIG_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "select.h"

struct contig_pool;

/* What to do for one pool's new frames. */
struct contig_reserve_plan {
	int node;
	uint64_t page_len;
	uint64_t nframes;        /* new frames the pool will reserve */
	uint64_t max_candidates; /* frames to try at most (>= nframes) */
	bool compact;            /* compact the node's memory first */
	unsigned nthreads;
	const char *instance;    /* the daemon instance, for the scratch mount's name */
	const char *runtime_dir;
};

/* What happened, for the log and for contig_reserve_finish(). */
struct contig_reserve_report {
	uint64_t ncandidates;       /* frames tried */
	uint64_t longest_run;       /* longest run of adjacent candidates, in frames */
	uint64_t longest_kept;      /* longest segment of the kept frames, in frames */
	uint32_t hist[CONTIG_SEGMENT_BUCKETS]; /* of the candidates */
	uint64_t free_before;       /* free hugepages on the node before we started */
	uint64_t added;             /* hugepages we added to the kernel's pool */
	bool compacted;             /* compaction was asked for (the first round was not
				       one segment) */
	uint64_t compact_ms, candidates_ms;
	int compact_err;            /* 0, or why compaction failed */
	uint64_t *kept_phys;        /* the kept frames, sorted (malloc'd) */
	size_t nkept;
	uint64_t nmatched;          /* of the pool's new frames, how many are kept ones */
	uint64_t given_back;        /* hugepages given back to the kernel afterwards */
};

/* Prepare for contig_pool_new() of @plan->nframes frames on @plan->node:
 * reserve candidates in a scratch hugetlbfs mount of their own, in rounds
 * (see reserve.c: compacting after the first if asked, raising
 * nr_hugepages, at most @plan->max_candidates, and adding at most half the
 * node's free memory), choose the @plan->nframes that
 * form the longest segments (contig_select_frames()), and release them
 * last, after the others: the kernel hands out free hugepages last freed
 * first, so the pool's reservation that follows gets exactly them.
 * Fills *ret_report. Returns 0; -ENOMEM if fewer than @plan->nframes
 * hugepages could be had (nothing added stays: the caller then fails as
 * a plain reservation would); or -errno (the scratch mount could not be
 * made: the caller may reserve plainly). Main thread, at startup. */
int contig_reserve_prepare(const struct contig_reserve_plan *plan,
			   struct contig_reserve_report *ret_report, char *err, size_t errlen);

/* After contig_pool_new() of @plan: count how many of @pool's frames are
 * the kept ones (report->nmatched; fewer if another process took free
 * hugepages meanwhile), and give back to the kernel the hugepages added
 * beyond what the pool needs. Returns the hugepages the pool added to the
 * kernel's pool, net (for pool->hugepages_added). Frees kept_phys. */
uint64_t contig_reserve_finish(const struct contig_reserve_plan *plan,
			       const struct contig_pool *pool,
			       struct contig_reserve_report *report);

/* After a failed contig_pool_new(): give back every hugepage added. */
void contig_reserve_abandon(const struct contig_reserve_plan *plan,
			    struct contig_reserve_report *report);

#endif
