/* session.h - what one client connection owns: frames, and the buffers in
 * them. Everything is released when the session is freed.
 *
 * Loop thread only.
 */
#ifndef CONTIG_SESSION_H
#define CONTIG_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "fdpass.h" /* CONTIG_TOKEN_LEN */
#include "journal.h"
#include "pool.h"
#include "quota.h"
#include "priority.h" /* CONTIG_PRIORITY_*, shared with the client */
#include "recycle.h"
#include "restore.h" /* contig_restore_say_fn, the plan contig_sessions_restore() walks */
#include "state.h"
#include "tags.h"

/* Highest NUMA node number a request may name. */
#define CONTIG_MAX_NODE 1023

/* MEMORY_CACHING_TYPE values a buffer may have (MmNonCached .. MmUSWCCached). */
#define CONTIG_CACHE_TYPE_MAX 5
#define CONTIG_CACHE_DEFAULT 1 /* MmCached */

/* An allocate request, as check.c makes it of the wire's: defaults filled
 * in, every field checked. */
struct contig_alloc_params {
	uint64_t len;      /* bytes */
	uint64_t lowest;   /* physical, inclusive */
	uint64_t highest;  /* physical, inclusive */
	uint64_t boundary; /* 0 or a power of two */
	uint64_t align;    /* 0 or a power of two */
	int cache_type;    /* 0..CONTIG_CACHE_TYPE_MAX */
	int node;          /* -1: any */
	int near_node;     /* with node -1, the caller's node, whose pools go first; -1: none */
	uint32_t tag;
	uint32_t priority;
	uint64_t seq;      /* of the request: journaled, so a retry is recognised */
	bool warm;         /* a warm frame of the fast path (AllocRequest.warm) */
	struct contig_range_req range; /* the above as range.c takes it (len rounded
					* up to 4 KiB, align at least 4 KiB), checked */
};

/* A live buffer (the daemon's: the client's struct contig_buffer in
 * contig.h is another struct). Addresses stay valid until the next call
 * that allocates or frees in the same session. */
struct contig_live_buffer {
	uint64_t id;
	struct contig_pool *pool;
	uint64_t phys;    /* first byte */
	uint64_t len;     /* rounded up to 4 KiB */
	uint64_t req_len; /* as asked */
	int cache_type;
	uint32_t tag;     /* as accounted (CONTIG_TAG_OTHER if the table was full) */
	uint64_t seq;     /* of the request that made it (0: not known), journaled
			     again at every compaction: a retry after restarts
			     in a row still finds it */
	bool warm;        /* a warm frame of the fast path: charged (frames,
			     bytes of frames) but not counted or listed as a
			     buffer; its carves are (session_carve.c) */
};

/* A buffer the client library cut from a warm frame (CarveRequest): listed
 * and counted as any buffer (buf), found by the client's id. */
struct contig_carve {
	struct contig_live_buffer buf; /* id: the client's; phys: the warm frame's +
					  offset; pool, cache_type: the frame's */
	uint64_t frame_id;             /* the warm frame's buffer id */
	uint64_t offset;               /* in the warm frame */
};

struct contig_session {
	struct contig_pools *pools;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct holding *holdings; /* free space in owned frames, per (pool, cache type) */
	size_t nholdings;
	struct slot *slots;       /* buffers by id */
	uint32_t nslots;
	uint32_t free_slot;       /* head of the free slot list, UINT32_MAX if none */
	uint32_t nbuffers;        /* listed buffers: not warm frames, carves included */
	struct contig_carve *carves; /* session_carve.c: the live carves, any order */
	uint32_t ncarves, carves_cap;
	uint32_t *carve_index;    /* open addressing over carves by id: ncarve_index
				     slots (a power of two, at least twice ncarves);
				     0 empty, else index + 1 */
	uint32_t ncarve_index;
	uint32_t nframes;         /* frames owned */
	uint64_t frames_len;      /* bytes of the frames owned (max_bytes_per_connection) */
	uint64_t len;             /* bytes in live buffers */
	struct contig_tags tags;  /* this session's */
	uint64_t nbugchecks;      /* misuses it reported */
	uid_t user_uid;           /* its entry in pools->users */
	bool keeps_held_frames_mapped; /* hello said so: see AllocReply.frame_held */
	uint8_t token[CONTIG_TOKEN_LEN]; /* reclaims it after a restart (random) */
	bool journaled;           /* its SessionOpen is in the journal */
	bool orphan;              /* restored at startup; no connection has it yet */
	struct resume_seq *resume_seqs; /* (seq, id) of restored buffers, by seq */
	size_t nresume_seqs;
	struct contig_frame **restored_frames; /* given back by the restore, until it is done */
	uint32_t nrestored_frames;
	char comm[16];            /* process name, for stats and logs */
	struct contig_session *prev, *next; /* pools->sessions */
	struct contig_frame *kept; /* an emptied small frame it keeps a while, or NULL */
	uint64_t kept_until_ns;   /* CLOCK_MONOTONIC: then @kept is recycled */
	struct contig_session *kept_prev, *kept_next; /* pools->kept_first, oldest first */
};

/* A session for process @pid (named @comm) of @uid. Returns 0 and
 * *ret_session, -EUSERS if @uid already has max_connections_per_user
 * sessions, or -ENOMEM. */
int contig_session_new(struct contig_pools *pools, pid_t pid, uid_t uid, gid_t gid,
		       const char *comm, struct contig_session **ret_session);

/* Free every buffer, send every frame to the recycler, free @session.
 * While sessions are kept (contig_restart_keeps_sessions()), only the
 * memory is freed: frames stay OWNED and the journal keeps the session.
 * Accepts NULL. */
void contig_session_free(struct contig_session *session);

/* ---- kept frames (see session.c's DESIGN) ---- */

/* How long a session keeps the small frame its last free emptied. */
#define CONTIG_KEEP_NS (50 * 1000000ull)

/* Recycle every kept frame whose time is up at @now_ns (CLOCK_MONOTONIC).
 * Returns when the next one's is up, 0 if no frame is kept. Loop thread. */
uint64_t contig_session_keep_expire(struct contig_pools *pools, uint64_t now_ns);

/* When the first kept frame's time is up, 0 if none is kept. */
uint64_t contig_session_keep_next_ns(const struct contig_pools *pools);

/* Recycle every kept frame now (a stats request: free memory is reported
 * whole once the recycler is done). Returns how many. Loop thread. */
uint32_t contig_session_keep_release_all(struct contig_pools *pools);

/* Record the session in the journal (at hello): from now on it survives a
 * restart. No-op without a journal. */
void contig_session_journal_open(struct contig_session *session);

/* ---- restarts (session_restore.c) ---- */

/* Rebuild the sessions of restore.c's @plan in @pools as orphans: each
 * adopted frame given back to its session, each buffer put back at its
 * id, each carve after its warm frame. A session with a buffer whose
 * frames were refused, or that the journal contradicts, is released
 * instead (its client's reclaim then fails), and @say tells why. The
 * recycler must be running (frames left without a buffer go to it).
 * Returns 0 or -ENOMEM. */
int contig_sessions_restore(struct contig_pools *pools, const struct contig_restore *plan,
			    contig_restore_say_fn *say, void *arg);


/* A session restored from the journal, with no connection (an orphan until
 * contig_session_resume()). Returns 0 and *ret_session or -ENOMEM. */
int contig_session_restore(struct contig_pools *pools, const uint8_t *token, uid_t uid, pid_t pid,
			   const char *comm, struct contig_session **ret_session);

/* Give the FREE frame at @phys of @pool back to @session for @cache_type.
 * Returns 0, -ENOENT (no such free frame) or -ENOMEM. */
int contig_session_restore_frame(struct contig_session *session, struct contig_pool *pool,
				 uint64_t phys, int cache_type);

/* Put buffer @b (id, pool, phys, len, req_len, cache_type, tag as journaled)
 * back, made by the request @seq. Returns 0, -EINVAL (its id is malformed or
 * taken, or it lies outside the session's frames of its cache type, or over
 * another buffer) or -ENOMEM. */
int contig_session_restore_buffer(struct contig_session *session,
				  const struct contig_live_buffer *b, uint64_t seq);

/* Finish a restored session: frames left without a buffer go to the
 * recycler (which must be running). Returns 0 or -ENOMEM. */
int contig_session_restore_done(struct contig_session *session);

/* The orphan whose token is @token, or NULL. */
struct contig_session *contig_session_find_orphan(struct contig_pools *pools,
						  const uint8_t *token);

/* The orphan @session is reclaimed by process @pid (@comm) of its uid. */
void contig_session_resume(struct contig_session *session, pid_t pid, const char *comm);

/* The live buffer a request @seq made before the restart, or NULL. */
struct contig_live_buffer *contig_session_buffer_by_seq(struct contig_session *session,
						       uint64_t seq);

/* Allocate a buffer that satisfies every constraint in @params: first in
 * frames the session already owns for that cache type, else in free
 * physically adjacent frames of the smallest page size that fits.
 * New frames are charged to the session and its user (max_bytes_*,
 * max_share_per_user): a buffer packed into frames held costs nothing.
 * Low and normal priority may not take frames that would leave a pool's
 * free bytes (counting frames being recycled) below its watermark; nor may
 * a user other than root that would then hold more than its fair share of
 * the pool (the pool over the non-root users with a session), whatever
 * its priority, below watermark_low.
 * @params must have passed contig_check_alloc() (check.c), which fills
 * its range. Returns 0 and *ret_buffer;
 * -EDQUOT with *ret_field naming the limit (max_buffers_per_connection,
 * max_bytes_per_user, max_share_per_user, ...) the buffer would exceed;
 * -ENOSPC if nothing satisfies it; -ENOBUFS if only a watermark stands in
 * the way, with *ret_field "fair_share" if it is the user's fair share
 * (else NULL); -EAGAIN if nothing does now but frames being recycled might
 * (retry when the recycler reports); -E2BIG if the buffer would span more
 * than max_frames_per_buffer frames. */
int contig_session_alloc(struct contig_session *session, const struct contig_alloc_params *params,
			 const char **ret_field, struct contig_live_buffer **ret_buffer);

/* The live buffer @id of this session, or NULL. */
struct contig_live_buffer *contig_session_buffer(struct contig_session *session, uint64_t id);

/* The next listed buffer of @session from *@cursor (start at 0), or NULL
 * when there is none; advances *@cursor past it: the buffers in slot order
 * but warm frames, then the carves. session->nbuffers in all. The order
 * is stable while the session allocates and frees nothing. */
const struct contig_live_buffer *contig_session_next_buffer(const struct contig_session *session,
						       uint32_t *cursor);

/* The same over the slots alone, warm frames included (what the journal
 * keeps as BufferAlloc). */
const struct contig_live_buffer *contig_session_next_slot(const struct contig_session *session,
						     uint32_t *cursor);

/* Free buffer @id. If @check_len is not NULL, free only if it equals the
 * requested length and @check_cache (not NULL then) the cache type.
 * A warm frame's carves go with it: *@ret_ncarves (if not NULL) says how
 * many. Returns 0, -ENOENT (no such buffer in this session) or -EILSEQ
 * (mismatch: nothing freed). */
int contig_session_free_buffer(struct contig_session *session, uint64_t id,
			       const uint64_t *check_len, const int *check_cache,
			       uint32_t *ret_ncarves);

/* ---- the fast path's reports (session_carve.c) ---- */

/* How carve @e fits @session, as contig_session_carve_test() finds it. */
enum contig_carve_fit {
	CONTIG_CARVE_NEW,        /* fits: a new carve */
	CONTIG_CARVE_KNOWN,      /* the same id, frame, offset and length is live */
	CONTIG_CARVE_MISALIGNED, /* offset or len not a 4 KiB multiple, or len 0 */
	CONTIG_CARVE_NOT_WARM,   /* frame_id is no warm frame of this session */
	CONTIG_CARVE_OUTSIDE,    /* not wholly inside its warm frame */
	CONTIG_CARVE_OVERLAP,    /* over a live carve of the frame (*ret_other) */
	CONTIG_CARVE_ID_TAKEN,   /* id 0, or a live buffer's or carve's id */
};

/* Does @e fit @session's warm frames and carves? *@ret_other (if not NULL)
 * gets the carve an OVERLAP is with. Changes nothing. */
enum contig_carve_fit contig_session_carve_test(struct contig_session *session,
						const struct contig_carve_entry *e,
						const struct contig_carve **ret_other);

/* The live carve @id of @session, or NULL. */
const struct contig_carve *contig_session_carve(const struct contig_session *session,
					       uint64_t id);

/* A fast-path report, checked whole (check.c, contig_check_carve()). */
struct contig_carve_report {
	struct contig_carve_entry *allocs; /* each NEW or KNOWN, not overlapping each other */
	size_t nallocs;
	const uint64_t *frees;
	size_t nfrees;
	struct contig_carve_transient {
		uint32_t tag;
		uint32_t count;
		uint64_t len;
	} *transients;
	size_t ntransients;
};

/* What applying a report did. */
struct contig_carve_result {
	uint32_t nadded;    /* new carves (resent ones not) */
	uint32_t nfreed;
	uint32_t nunknown;  /* frees of ids that were no live carve */
	uint64_t ntransient; /* buffers counted as allocated and freed */
};

/* Apply @report (allocs, then frees, then transients), counted as buffers
 * everywhere (session, user, pool, frames, tags) and told to the journal
 * as one record. Returns 0 or -ENOMEM (nothing applied). */
int contig_session_carve_apply(struct contig_session *session,
			       const struct contig_carve_report *report,
			       struct contig_carve_result *ret);

/* Put carve @e back after a restart (its warm frame restored first).
 * Returns 0, -EINVAL (it does not fit: contig_session_carve_test()) or
 * -ENOMEM. */
int contig_session_restore_carve(struct contig_session *session,
				 const struct contig_carve_entry *e);

#endif
