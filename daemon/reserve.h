/* reserve.h - reserving a pool so that large buffers exist, and so that a
 * pool with a window (below=) gets frames inside it: more candidate frames
 * than the pool needs, the best kept, the rest given back. */
#ifndef CONTIG_RESERVE_H
#define CONTIG_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frames.h"
#include "segments.h"

struct contig_pool;

/* What to do for one pool's new frames. */
struct contig_reserve_plan {
	int node;
	uint64_t page_len;
	uint64_t nframes;        /* new frames the pool will reserve (a window pool: at most) */
	uint64_t max_candidates; /* frames to try at most (>= nframes; a window pool:
				    candidates inside the window) */
	bool compact;            /* compact the node's memory first */
	unsigned nthreads;
	const char *instance;    /* the daemon instance, for the scratch mount's name */
	const char *runtime_dir;
	uint64_t below;          /* a window pool: only frames wholly below this (0: none) */
	uint64_t prefer_above;   /* choose frames at or above this first (0: no preference):
				    keeps frames of narrower windows for their pools */
	uint64_t min_free;       /* bytes of the node left free while candidates are held */
};

/* What happened, for the log and for contig_reserve_finish(). */
struct contig_reserve_report {
	uint64_t ncandidates;       /* frames tried */
	uint64_t longest_run;       /* longest run of adjacent candidates (a window pool:
				       of those in the window), in frames */
	uint64_t longest_kept;      /* longest segment of the kept frames, in frames */
	uint32_t hist[CONTIG_SEGMENT_BUCKETS]; /* of the candidates (in the window) */
	uint64_t free_before;       /* free hugepages on the node before we started */
	uint64_t added;             /* hugepages we added to the kernel's pool, and hold */
	bool compacted;             /* compaction was asked for (the first round was not
				       one segment) */
	uint64_t compact_ms, candidates_ms;
	int compact_err;            /* 0, or why compaction failed */
	uint64_t *kept_phys;        /* the kept frames, sorted (malloc'd) */
	size_t nkept;               /* plan->nframes, or fewer for a window pool that
				       could not be filled */
	uint64_t nmatched;          /* of the pool's new frames, how many are kept ones */
	uint64_t given_back;        /* hugepages given back to the kernel */
	/* A window pool only: */
	uint64_t nin_window;        /* candidates inside the window */
	uint64_t raised;            /* hugepages added for a moment to look among */
	uint64_t made_in_window;    /* of them, made in zones that reach into the window
				       (/proc/zoneinfo; UINT64_MAX: unknown) */
	bool from_tail;             /* the kernel listed the new pages oldest first: the
				       oldest were given back to reach the newest */
	struct contig_frame_dir *held_dir; /* the kept frames, held until
					      contig_reserve_let_go() */
	struct contig_frame_file *held;
	size_t nheld;
};

/* Prepare for contig_pool_new() of @plan->nframes frames on @plan->node:
 * reserve candidates in a scratch hugetlbfs mount of their own, choose the
 * frames that form the longest segments (contig_select_frames()), those at
 * or above @plan->prefer_above first, and release them last, after the
 * others: the kernel hands out free hugepages last freed first, so the
 * pool's reservation that follows gets exactly them.
 *
 * Without a window: candidates come in rounds (see reserve.c: compacting
 * after the first if asked, raising nr_hugepages, at most
 * @plan->max_candidates, and adding at most half the node's free memory
 * and never below @plan->min_free). Returns 0; -ENOMEM if fewer than
 * @plan->nframes hugepages could be had (nothing added stays: the caller
 * then fails as a plain reservation would); or -errno (the scratch mount
 * could not be made: the caller may reserve plainly).
 *
 * With a window (@plan->below): the kernel is made to create hugepages
 * as far as @plan->min_free allows, those in the window are looked for
 * (see reserve.c), up to @plan->nframes of them kept and the rest given
 * back at once; the kept ones stay held in the scratch mount (*ret_report
 * ->held) until contig_reserve_let_go(), which the caller calls right
 * before the pool's own reservation of report->nkept frames. Returns 0
 * (report->nkept may be below @plan->nframes, even 0: the window holds no
 * more), or -errno with nothing added left.
 *
 * Fills *ret_report. Main thread, at startup. */
int contig_reserve_prepare(const struct contig_reserve_plan *plan,
			   struct contig_reserve_report *ret_report, char *err, size_t errlen);

/* A window pool's kept frames go back to the kernel, last of all, so that
 * the pool's reservation that follows gets them; the scratch mount goes.
 * No-op for a report that holds none. */
void contig_reserve_let_go(struct contig_reserve_report *report);

/* After contig_pool_new() of report->nkept frames: count how many of
 * @pool's frames are the kept ones (report->nmatched; fewer if another
 * process took free hugepages meanwhile), and give back to the kernel the
 * hugepages added beyond what the pool needs. Returns the hugepages the
 * pool added to the kernel's pool, net (for pool->hugepages_added). Frees
 * kept_phys. */
uint64_t contig_reserve_finish(const struct contig_reserve_plan *plan,
			       const struct contig_pool *pool,
			       struct contig_reserve_report *report);

/* After a failed contig_pool_new(), or instead of it: give back every
 * hugepage added and every frame held. */
void contig_reserve_abandon(const struct contig_reserve_plan *plan,
			    struct contig_reserve_report *report);

#endif
