/* session_int.h - what session.c and session_restore.c share: the
 * holdings and slots of a session and the steps that change them.
 * Included by those two files alone, after session.h (as SQLite's
 * btreeInt.h; it includes no header of theirs, so that the include graph
 * has no circle); everyone else goes through session.h.
 *
 * Loop thread only.
 */
#ifndef CONTIG_SESSION_INT_H
#define CONTIG_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "range.h"

#define SMALL_PAGE 4096u
#define NO_SLOT UINT32_MAX

/* The free space in a session's frames of one (pool, cache type). */
struct holding {
	struct contig_pool *pool;
	size_t pool_index; /* in pools->pools: the user's pool_frames_len */
	int cache_type;
	struct contig_range_set free; /* unused space in the frames held */
	uint32_t nframes;
};

/* A buffer's place in the slot table; ids are (gen << 32 | index + 1). */
struct slot {
	struct contig_live_buffer buf; /* buf.id == 0: slot unused */
	uint32_t gen;
	uint32_t next_free;
	uint64_t *carved; /* a warm frame's: a bit per 4 KiB page carved, made at
			     its first carve (session_carve.c); NULL otherwise */
};

/* A restored buffer by the seq of the request that made it. */
struct resume_seq {
	uint64_t seq, id;
};

/* The holding of (@pool, @cache_type), NULL if none; made if needed by
 * _get (NULL out of memory). */
struct holding *session__holding_find(struct contig_session *s, struct contig_pool *pool,
				      int cache_type);
struct holding *session__holding_get(struct contig_session *s, struct contig_pool *pool,
				     int cache_type);

/* Forget a holding that has no frame left. */
void session__holding_drop(struct contig_session *s, struct holding *h);

/* Hand a frame whose last buffer went back to the recycler. */
void session__frame_leave(struct contig_session *s, struct holding *h, struct contig_frame *f);

/* Abort if @r < 0: the bookkeeping of memory handed out is never half
 * done. */
void session__must(int r);

/* Count listed buffer @b (not a warm frame: a carve or a plain buffer) in
 * the session, its user, its pool and its tags: allocated (@alloc) or
 * freed. */
void session__count_buffer(struct contig_session *s, const struct contig_live_buffer *b,
			   bool alloc);

/* Release every carve of warm frame @frame_id (its free or the session's
 * end): counted as freed. Returns how many. */
uint32_t session__carves_drop_frame(struct contig_session *s, uint64_t frame_id);

/* The tag tables a buffer of @s is counted in (contig_tags_choose(),
 * contig_tags_count()). */
bool session__tag_choose(struct contig_session *s, uint32_t tag, uint32_t *ret_tag);
void session__tag_count(struct contig_session *s, uint32_t tag, uint64_t len, bool alloc);

/* Count @count buffers under @tag (as chosen) as allocated and freed. */
void session__tag_transient(struct contig_session *s, uint32_t tag, uint64_t count);

#endif
