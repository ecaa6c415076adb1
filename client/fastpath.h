/* fastpath.h - libcontig's fast path: small buffers served inside warm
 * frames, in the client, without a round trip (see fastpath.c's DESIGN).
 * Internal to libcontig: contig.c calls these, nothing else does.
 */
#ifndef CONTIG_FASTPATH_H
#define CONTIG_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contig.h"
#include "fdpass.h" /* CONTIG_MAX_REQUEST_LEN */
#include "wire.h"   /* the report's shape only: fastpath.c never calls the wire */

/* A warm frame is a buffer of this many bytes (aligned to it) that the
 * library allocates from the daemon the ordinary way, and requests up to
 * CONTIG_FAST_MAX_LEN are cut from warm frames. */
#define CONTIG_FAST_FRAME_LEN (2u << 20)
#define CONTIG_FAST_MAX_LEN (CONTIG_FAST_FRAME_LEN / 8)
/* On unless $CONTIGD_FAST_PATH=0 (or contig_set_fast_path(c, 0), or
 * CONTIG_ALLOC_ROUND_TRIP per request): the strict accounting, a round
 * trip per buffer. */
#define CONTIG_FAST_PATH_DEFAULT true
/* Reports (fastpath.c's DESIGN, docs/semantics.md): the daemon's view of
 * the fast path's buffers is late by at most one report's worth of
 * operations per arena (a report is at most a request of
 * CONTIG_FAST_REPORT_LEN bytes: about 140 to 210 carves, 400 to 800 frees) or
 * CONTIG_FAST_REPORT_MS. */
#define CONTIG_FAST_REPORT_LEN CONTIG_MAX_REQUEST_LEN
#define CONTIG_FAST_REPORT_MS 10u
/* Empty warm frames kept per (node, page size, cache type) by default. */
#define CONTIG_FAST_RESERVE_DEFAULT 2u
#define CONTIG_FAST_RESERVE_MAX 64u

struct contig_fast;

/* ---- What contig.c provides (under the client's lock, with the round
 * trip) ---- */

/* Allocate a warm frame satisfying @req (its len and align are the
 * frame's) as an ordinary buffer, marked as a warm frame so that
 * contig_free()/contig_buffer_of() never hand it out as a buffer of the
 * caller's. Returns 0 and *ret_buf, or as contig_alloc(). Any thread; takes
 * the client's lock. */
int contig_frame_alloc(struct contig_client *c, const struct contig_alloc_req *req,
		       struct contig_buffer *ret_buf);
/* Give the warm frame at @virt back to the daemon. Returns 0 or -errno. */
int contig_frame_free(struct contig_client *c, void *virt);
/* Send the report @rep and wait for its reply: 0 and *ret_buffers_left
 * (-1: no limit), or -errno (-ECONNRESET: no session to report to). Any
 * thread; takes the client's lock. */
int contig_frame_report(struct contig_client *c, const struct contig_wire_report *rep,
			int64_t *ret_buffers_left);

/* ---- The fast path (fastpath.c) ---- */

/* The fast path of @c: on unless $CONTIGD_FAST_PATH says "0" (the default
 * is @on), reserve from $CONTIGD_FAST_RESERVE. NULL on out of memory (the
 * client then has no fast path). */
struct contig_fast *contig_fast_new(struct contig_client *c, bool on);
/* Forget every warm frame without a word to the daemon (the caller is
 * about to unmap everything and close the session). Accepts NULL. */
void contig_fast_free(struct contig_fast *f);

/* Serve @req from a warm frame. Returns 0 and *ret_buf; -EAGAIN when the
 * request is not the fast path's (too large, off, a constraint no warm
 * frame meets, a frame could not be had): the caller takes the round trip,
 * which also says why a malformed request is refused. Never any other
 * error. Any thread, without the client's lock. */
int contig_fast_alloc(struct contig_fast *f, const struct contig_alloc_req *req, unsigned flags,
		      struct contig_buffer *ret_buf);

/* Free the fast-path buffer starting at @virt (with @len/@cache: only if
 * they match, as contig_free_checked()). Returns 0, -ENOENT if @virt is not
 * the start of a fast-path buffer (the caller looks further), or -EILSEQ on
 * a mismatch (message recorded, nothing freed). Any thread, without the
 * client's lock (a warm frame emptied beyond the reserve goes back to the
 * daemon: a round trip, under it). */
int contig_fast_free_buf(struct contig_fast *f, void *virt, const uint64_t *len, const int *cache);

/* Report every allocation and free not yet reported, and wait for the
 * reply (and for a report already on its way). Returns 0 or -errno. Any
 * thread, without the client's lock. Accepts NULL. */
int contig_fast_flush(struct contig_fast *f);
/* Reports sent, and of those by the reporter thread (no caller waited). */
void contig_fast_counts(struct contig_fast *f, uint64_t *ret_nreports, uint64_t *ret_nbackground);

/* The fast-path buffer containing @virt: 0 and *ret_buf, or -ENOENT. */
int contig_fast_lookup(struct contig_fast *f, const void *virt, struct contig_buffer *ret_buf);

/* Give every empty warm frame back to the daemon now (contig_trim()).
 * Returns how many went back (>= 0), or the first -errno a give-back met
 * (the frame is forgotten here all the same: the daemon frees it when the
 * session ends). Any thread, without the client's lock. */
int contig_fast_trim(struct contig_fast *f);

/* A new session's hello said whether the daemon takes reports and the
 * buffer-count limits (HelloReply.buffers_left; -2: not said, and the
 * first small allocation asks with an empty report, as it does near the
 * limits): the reporter thread starts (the fast path on), and far from
 * the limits no budget is kept. */
void contig_fast_connected(struct contig_fast *f, bool accepts_carves, int64_t left);

/* Set the reserve (clamped to CONTIG_FAST_RESERVE_MAX); returns the value
 * set. Turn the fast path on or off. */
unsigned contig_fast_set_reserve(struct contig_fast *f, unsigned nframes);
void contig_fast_set_on(struct contig_fast *f, bool on);

/* Fork, called from contig.c's handlers: prepare_reports before the
 * client's lock is taken (a report is sent under it), prepare with it held
 * takes every other lock of @f (no lock of @f but report_lock is ever held
 * while the client's is taken), parent gives them back, child gives them
 * back too, drops the parent's queued reports and reporter, and sets every
 * warm frame aside: the child's fast path starts empty. */
void contig_fast_fork_prepare_reports(struct contig_fast *f);
void contig_fast_fork_prepare(struct contig_fast *f);
void contig_fast_fork_parent(struct contig_fast *f);
void contig_fast_fork_child(struct contig_fast *f);
/* In the child, at claim_fork(): the live fast-path buffers of the warm
 * frames set aside (the parent's), copied into @ret_bufs[0..max) (NULL: only
 * counted); returns how many there are. contig_fast_forked_done() then
 * forgets them. */
size_t contig_fast_forked(struct contig_fast *f, struct contig_buffer *ret_bufs, size_t max);
void contig_fast_forked_done(struct contig_fast *f);

#endif
