/* pool.h - the frames of one (node, page size, window), sorted into
 * segments of physically adjacent frames.
 *
 * Loop thread only, except where a function says otherwise: while a frame is
 * RECYCLING, its @file belongs to the recycle thread and nothing else in
 * the frame changes.
 */
#ifndef CONTIG_POOL_H
#define CONTIG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frames.h"
#include "range.h"
#include "segments.h"

struct contig_session;

enum contig_frame_state {
	CONTIG_FRAME_FREE,      /* in the pool's free set */
	CONTIG_FRAME_OWNED,     /* owned by one session, for one cache type */
	CONTIG_FRAME_RECYCLING, /* queued for, or being, recycled */
	CONTIG_FRAME_LOST,      /* could not be re-faulted; out of service until a
				   retry (contig_pool_frame_retry()) gets its page */
};

struct contig_frame {
	struct contig_pool *pool;
	uint64_t phys;                /* loop thread's copy of file.phys */
	struct contig_frame_file file; /* the recycle thread's while RECYCLING */
	enum contig_frame_state state;
	struct contig_session *owner; /* OWNED only */
	int cache_type;               /* OWNED only */
	uint32_t nbuffers;            /* live buffers that touch this frame (warm
					 frames too: the frame is left when it is 0) */
	uint32_t nwarm;               /* of those, warm frames (session.c) */
	uint32_t ncarved;             /* carves that touch it (session_carve.c) */
	struct contig_frame *next;    /* recycle queue link */
	int recycle_err;              /* set by the recycle thread */
	bool broke_segment;           /* set by contig_pool_frame_recycled(): it moved
					 away from an adjacent frame */
	bool retrying;                /* a LOST frame recycled again (read by the
					 recycle thread once pushed) */
	bool gone;                    /* LOST for good, never retried: found outside
					 its pool's window */
};

struct contig_pool {
	int node;
	uint64_t page_len;
	struct contig_frame_dir *dir;
	struct contig_frame *frames;    /* nframes, stable addresses */
	uint32_t nframes;
	struct contig_frame **by_phys;  /* FREE and OWNED frames sorted by phys */
	uint32_t nby_phys;
	struct contig_range_set free;   /* free frames, as physical ranges */
	uint32_t nowned, nrecycling, nlost;
	uint32_t nbuffers;              /* maintained by session.c */
	uint32_t nsessions;             /* sessions owning frames here (session.c) */
	uint64_t hugepages_added;       /* to give back to the kernel at exit */
	uint64_t nsegments_broken;      /* recycled frames that moved away from a neighbour */
	uint64_t generation;            /* bumped by every change to a frame or buffer
					   (here and in session.c): for paged stats */
	uint64_t below;                 /* window: every frame wholly below this physical
					   address (0: no window); set by main.c */
	uint32_t nframes_wanted;        /* frames the configuration asked for (a window
					   pool may have found fewer); set by main.c */
};

/* Summary for logs and stats. */
struct contig_pool_info {
	uint64_t total_len, free_len, largest_free_len, largest_segment_len;
	uint32_t nframes, nframes_owned, nframes_recycling, nframes_lost, nsegments, nbuffers;
	uint32_t segment_hist[CONTIG_SEGMENT_BUCKETS]; /* segments by length (segments.h) */
	uint64_t nsegments_broken;
	uint64_t below;      /* the pool's window (0: none) */
	uint64_t wanted_len; /* bytes the configuration asked for */
};

/* A pool of the @nadopted frames @adopted (files of an earlier instance on
 * @node, which the pool then owns) and @nnew frames reserved on @node from
 * @dir (faulting them with up to @nthreads threads; @progress, if not NULL,
 * as contig_frame_reserve_many() says), sorted, all FREE. Returns 0 and
 * *ret_pool, or -errno (the adopted files are then still the caller's).
 * Main thread, at startup. */
int contig_pool_new(struct contig_frame_dir *dir, int node, const struct contig_frame_file *adopted,
		    uint32_t nadopted, uint32_t nnew, unsigned nthreads,
		    void (*progress)(size_t done, void *arg), void *progress_arg,
		    struct contig_pool **ret_pool);

/* Release every frame (see contig_frame_release()) and free @pool; with
 * @keep_owned, OWNED frames are only closed (their files and pages stay
 * for the next instance). Frames still RECYCLING must have been handed
 * back first. Accepts NULL. */
void contig_pool_free(struct contig_pool *pool, bool keep_owned);

/* Take the FREE frames of a window pool that lie outside its window out
 * of service (LOST), giving their pages back to the kernel's free list.
 * Returns how many. Main thread, at startup, after contig_pool_new() and
 * setting pool->below. */
uint32_t contig_pool_drop_outside(struct contig_pool *pool);

/* The in-service frame whose page contains @phys, or NULL. O(log n). */
struct contig_frame *contig_pool_frame_at(const struct contig_pool *pool, uint64_t phys);

/* Give the frames covering [phys, phys + len) (page-aligned, all FREE) to
 * @owner for @cache_type. Returns 0 or -ENOENT (not all free: nothing
 * changed). */
int contig_pool_take(struct contig_pool *pool, uint64_t phys, uint64_t len,
		     struct contig_session *owner, int cache_type);

/* Mark an OWNED frame RECYCLING (the caller queues it to the recycler). */
void contig_pool_frame_recycling(struct contig_frame *frame);

/* Take a frame back from the recycler (loop thread): FREE on success (sorted
 * in at its new physical address), LOST otherwise (also when it came back
 * outside the pool's window). Returns true if the
 * frame came back on another physical page. */
bool contig_pool_frame_recycled(struct contig_frame *frame);

/* Mark a LOST frame RECYCLING again, to look for its page once more (the
 * caller queues it to the recycler, which does not wait for the page).
 * Returns false for a frame that is not LOST or is gone for good. */
bool contig_pool_frame_retry(struct contig_frame *frame);

void contig_pool_get_info(const struct contig_pool *pool, struct contig_pool_info *ret_info);

#endif
