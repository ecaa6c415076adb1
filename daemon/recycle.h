/* recycle.h - the background thread that revokes, re-faults and verifies
 * frames that left their owner.
 *
 * The loop thread pushes frames (state RECYCLING); the recycle thread runs
 * contig_frame_recycle() on each, one at a time, and hands them back; the
 * loop thread's @on_done callback receives every finished frame, in batches.
 */
#ifndef CONTIG_RECYCLE_H
#define CONTIG_RECYCLE_H

#include <stdbool.h>
#include <uv.h>

#include "pool.h"

struct contig_recycler;

/* Called on the loop thread with the finished frames, linked by ->next,
 * each with ->file and ->recycle_err set. */
typedef void (*contig_recycle_done_cb)(struct contig_frame *done, void *data);

/* Start the thread, reporting to @loop. Returns 0 and *ret_rec or -errno.
 * Loop thread. */
int contig_recycler_start(uv_loop_t *loop, contig_recycle_done_cb on_done, void *data,
			  struct contig_recycler **ret_rec);

/* Queue @frame (already marked with contig_pool_frame_recycling()).
 * Loop thread. */
void contig_recycler_push(struct contig_recycler *rec, struct contig_frame *frame);

/* Wake the worker now for what was pushed, rather than after the loop's
 * next poll (a timer's callback: the poll after it may block, with no
 * reply of this iteration to let out first). Loop thread. */
void contig_recycler_kick(struct contig_recycler *rec);

/* Run the worker at the loop's priority (@hurry: a request waits for a
 * frame) or at idle priority (nice 19: nobody waits). Cheap when nothing
 * changes. Loop thread. Accepts NULL. */
void contig_recycler_hurry(struct contig_recycler *rec, bool hurry);

/* Whether the worker runs at idle priority while nobody waits (false when
 * it could not be raised back: no RLIMIT_NICE, no CAP_SYS_NICE). */
bool contig_recycler_idle(const struct contig_recycler *rec);

/* Stop the thread after the frame in hand, report every queued frame as
 * finished with recycle_err -ECANCELED (it is about to be released), close
 * its handles; *rec is freed once their close callbacks have run (keep the
 * loop running). Loop thread. Accepts NULL. */
void contig_recycler_stop(struct contig_recycler *rec);

#endif
