/* poolplan.h - the pools to build, planned from the configuration (see
 * poolplan.c): one target per pool, checked, 1 GiB pools fallen back to
 * 2 MiB frames where the kernel has no 1 GiB pages, and the build order.
 *
 * Main thread, at startup. Nothing here logs: what the caller should say
 * comes through @say.
 */
#ifndef CONTIG_POOLPLAN_H
#define CONTIG_POOLPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "restore.h"

/* A pool to build: the configuration's, or one the last instance's sessions
 * still have frames in. */
struct contig_pool_target {
	int node;
	uint64_t page_len;
	uint64_t below;    /* window: frames wholly below this (0: none) */
	uint32_t nframes;  /* configured; a window pool: what was found */
	uint32_t nwanted;  /* configured */
	uint32_t nadopted; /* owned by restored sessions (at most: some may be refused) */
	const struct contig_pool_spec *spec; /* its configuration; NULL: no longer configured */
	struct contig_pool_spec fallback;    /* spec of a 1 GiB pool made of 2 MiB frames */
	uint64_t pre_added;                  /* hugepages added by fall_back_from_1g() */
	bool searched;                       /* a window pool: looked for (find_window()) */
};

/* The targets, and the order poolset.c builds them in (@order[i] indexes
 * @targets). */
struct contig_poolplan {
	struct contig_pool_target *targets;
	size_t ntargets;
	size_t *order;
};

/* Expand each pool of every node ("all:...") in @cfg to the nodes this
 * process may allocate memory on, saying what it became. Before anything
 * counts @cfg's pools. Returns 0 or -ENOMEM. */
int contig_poolplan_expand_nodes(struct contig_config *cfg, contig_restore_say_fn *say,
				 void *arg);

/* One descriptor per frame (two with session_grace: see keeper.c), one
 * per connection and the frames in flight to clients: raise the soft
 * limit on descriptors to the hard one (the usual soft 1024 would stop a
 * pool of 2 GiB of 2 MiB frames), and refuse to start if even that cannot
 * hold every frame and connection of @cfg. Returns 0 or -errno (-EMFILE:
 * the hard limit is too low), having said why. */
int contig_poolplan_raise_nofile(const struct contig_config *cfg, contig_restore_say_fn *say,
				 void *arg);

/* Plan the pools of @cfg, and those @restore's sessions (NULL: none) still
 * own frames in: every target's node checked, 1 GiB pools without 1 GiB
 * pages fallen back (the pages this makes free stay with the target:
 * pre_added), the order set: pools without a window as configured, then
 * the window pools, the narrowest first. @cfg must outlive the plan (the
 * targets point into it). Returns 0 and *ret_plan, or -errno after saying
 * why (-EINVAL: every pool left out; -ENODEV: a node without memory). */
int contig_poolplan_make(const struct contig_config *cfg, struct contig_restore *restore,
			 contig_restore_say_fn *say, void *arg, struct contig_poolplan *ret_plan);

/* Release what @plan holds. */
void contig_poolplan_done(struct contig_poolplan *plan);

/* The frames target @t ends with: what it was configured (or found) with,
 * or what restored sessions own in it, whichever is more. */
uint32_t contig_pool_target_frames(const struct contig_pool_target *t);

/* The end of the widest window narrower than @below (any window, for 0)
 * among the pools of @page_len on @node: frames below it are left for
 * those pools when there is a choice. 0 if there is none. */
uint64_t contig_poolplan_narrower_window(const struct contig_poolplan *plan, int node,
					 uint64_t page_len, uint64_t below);

/* "node 0, 2048 kB pages" and, for a window, " below 4 GiB": names a pool
 * in the log. */
const char *contig_pool_name(int node, uint64_t page_len, uint64_t below, char *buf, size_t len);

#endif
