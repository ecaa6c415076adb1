/* restore.h - what survives a restart of the daemon: the journal read back
 * into a plan, the frames an earlier instance left adopted into the pools,
 * and a walk over its sessions for session_restore.c to rebuild them as
 * orphans (this file knows no session: it is below them).
 *
 * Main thread, at startup.
 * Nothing here logs: what the caller should say comes through @say.
 */
#ifndef CONTIG_RESTORE_H
#define CONTIG_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frames.h"
#include "journal.h"

struct contig_restore;

/* A message for the log: @level is a syslog priority. */
typedef void contig_restore_say_fn(int level, const char *message, void *arg);

/* Read the journal at @path into a plan: the sessions that had not closed,
 * the frames they owned and their buffers. Returns 0 and *ret_restore (a
 * torn last record is cut off: contig_restore_torn() says where), -ENOENT
 * (no journal), or -EPROTO / -errno with the reason in @err (a journal of
 * a newer format is named so). */
int contig_restore_load(const char *path, struct contig_restore **ret_restore, char *err,
			size_t errlen);

/* Free the plan and close the files it still holds. Accepts NULL. */
void contig_restore_free(struct contig_restore *restore);

/* Did the journal end in a torn record? *ret_valid_len: bytes kept. */
bool contig_restore_torn(const struct contig_restore *restore, uint64_t *ret_valid_len);

/* Sessions that had not closed. */
size_t contig_restore_nsessions(const struct contig_restore *restore);

/* Pools are known by (node, page size, window): @below is the window's
 * end, 0 for a pool without one (and for every pool of older journals). */

/* Frames the plan's sessions owned in the pool (@node, @page_len, @below). */
uint32_t contig_restore_nframes(const struct contig_restore *restore, int node,
				uint64_t page_len, uint64_t below);

/* Hugepages earlier instances added to the kernel's pool for the pool
 * (@node, @page_len, @below). */
uint64_t contig_restore_hugepages_added(const struct contig_restore *restore, int node,
					uint64_t page_len, uint64_t below);

/* The pools the plan's frames are in (to serve them even if the
 * configuration has dropped them): the @i-th (node, page_len, below), i
 * from 0; false past the last. */
bool contig_restore_pool(const struct contig_restore *restore, size_t i, int *ret_node,
			 uint64_t *ret_page_len, uint64_t *ret_below);

/* Sort the frame files kept in @dir: a file that is a frame of the plan,
 * still holds its whole page, at the same physical address, on the same
 * node, is adopted (the plan keeps it for contig_restore_take_files());
 * every other file is released (truncated: no mapping of it survives),
 * and an adopted frame that changed is refused, with the reason, through
 * @say. Returns 0 or -errno. */
int contig_restore_adopt(struct contig_restore *restore, struct contig_frame_dir *dir,
			 contig_restore_say_fn *say, void *arg);

/* The adopted files of pool (@node, @page_len, @below), in a malloc'd
 * array the caller now owns (and frees; NULL if none), their count in
 * *ret_n. */
int contig_restore_take_files(struct contig_restore *restore, int node, uint64_t page_len,
			      uint64_t below, struct contig_frame_file **ret_files,
			      uint32_t *ret_n);

/* ---- the plan's sessions, for rebuilding them (session_restore.c) ----
 * A walk in token order: contig_restore_next_session() moves to the next
 * session of the plan; then next_frame(), next_buffer() and next_carve()
 * give what that session held, in the order it is to be put back: its
 * adopted frames, its buffers by id, its carves in the order they came
 * (each false after the last). Every entry is looked at once over the
 * whole walk, so rebuilding costs O(buffers), not sessions x buffers.
 * Pointers given stay valid until contig_restore_free(). */
struct contig_restore_walk {
	size_t session, frame, buffer, carve;
	const uint8_t *token; /* the current session's; start zeroed */
};

struct contig_restore_session {
	const uint8_t *token; /* CONTIG_TOKEN_LEN bytes */
	uint32_t uid, pid;
	const char *comm;
};

struct contig_restore_frame {
	int node;
	uint64_t page_len, below, phys;
	int cache_type;
};

struct contig_restore_buffer {
	uint64_t id;
	int node;
	uint64_t page_len, below, phys, len, req_len;
	uint64_t seq; /* of the request that made it */
	int cache_type;
	uint32_t tag;
	bool warm;
};

bool contig_restore_next_session(const struct contig_restore *restore,
				 struct contig_restore_walk *walk,
				 struct contig_restore_session *ret_session);
bool contig_restore_next_frame(const struct contig_restore *restore,
			       struct contig_restore_walk *walk,
			       struct contig_restore_frame *ret_frame);
bool contig_restore_next_buffer(const struct contig_restore *restore,
				struct contig_restore_walk *walk,
				struct contig_restore_buffer *ret_buffer);
bool contig_restore_next_carve(const struct contig_restore *restore,
			       struct contig_restore_walk *walk,
			       struct contig_carve_entry *ret_carve);

#endif
