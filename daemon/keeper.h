/* keeper.h - frames that outlive the daemon: a process that holds their
 * descriptors (see keeper.c).
 *
 * The daemon side: the main thread opens the link at startup and takes
 * what the keeper held; any thread may then tell it of frames (the
 * startup workers' frames, the recycle thread's new ones), under the
 * link's own lock. Errors are returned as -errno with a reason in @err
 * where the signature has one; nothing here logs.
 */
#ifndef CONTIG_KEEPER_H
#define CONTIG_KEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct contig_keeper;

/* One frame the keeper holds: its page size, its id (unique per page size
 * over an instance's life, as the journal names it) and, once taken, a
 * descriptor of its own. */
struct contig_kept {
	uint64_t page_len;
	uint64_t id;
	int fd;
};

/* Connect to the keeper of @instance (<runtime_dir>/<instance>.keeper),
 * starting one if there is none, and receive every frame it holds (kept
 * for contig_keeper_take()). Without @adopt those frames are released
 * (truncated: every client mapping of them goes) and the keeper forgets
 * them. Returns 0 and *ret_keeper, -EBUSY (another daemon holds the
 * keeper: same instance), or -errno, with the reason in @err. Main thread. */
int contig_keeper_open(const char *runtime_dir, const char *instance, bool adopt,
		       struct contig_keeper **ret_keeper, char *err, size_t errlen);

/* A keeper of @instance an earlier daemon left (one with session_grace):
 * release what it holds and make it exit. Nothing if there is none, or if
 * another daemon is connected to it. Main thread. */
void contig_keeper_dismiss(const char *runtime_dir, const char *instance);

/* The frames of @page_len received at open, moved to the caller (who
 * releases or keeps each, telling the keeper with contig_keeper_update()).
 * Returns how many, in the malloc'd *ret_kept (NULL if none). Main thread. */
size_t contig_keeper_take(struct contig_keeper *keeper, uint64_t page_len,
			  struct contig_kept **ret_kept);

/* Frames received at open that no contig_keeper_take() asked for (a page
 * size no pool uses any more): release them, and tell the keeper. Returns
 * how many. Main thread. */
size_t contig_keeper_release_rest(struct contig_keeper *keeper);

/* Tell the keeper to hold @put[0..nput) (it gets its own descriptor of
 * each; the caller keeps @put's descriptors open until it drops them
 * here) and to let go of @drop[0..ndrop) (their fd fields are ignored),
 * all of @page_len, in as few messages as the kernel allows. A keeper
 * that went away (killed) is replaced here by a new one, given every
 * frame still held; if none can be started, frames do not survive a
 * restart until one can (tried again every 10 s at most;
 * contig_keeper_lost() says so). Returns 0 or -errno. Any thread. */
int contig_keeper_update(struct contig_keeper *keeper, uint64_t page_len,
			 const struct contig_kept *put, size_t nput, const uint64_t *drop,
			 size_t ndrop);

/* Whether the frames are without a keeper now (one went away and none
 * could be started), and how many keepers were started again after one
 * went away (*ret_nrestarts). Any thread. */
bool contig_keeper_lost(struct contig_keeper *keeper, unsigned *ret_nrestarts);

/* Close the link. With @keep the keeper goes on holding what it holds,
 * for the next instance; without, it lets go of everything and exits.
 * Accepts NULL. Main thread. */
void contig_keeper_close(struct contig_keeper *keeper, bool keep);

#endif
