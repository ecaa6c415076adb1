/* poolset.c - the pools built from the configuration.
 *
 * DESIGN
 * Owns what contigd reserves at startup and releases at shutdown: every
 * pool of the configuration (the "all" nodes expanded, a 1 GiB pool the
 * kernel cannot give 1 GiB pages for turned into 2 MiB frames, the pools
 * without a window and the low-window pools), plus any pool the configuration
 * dropped that the last instance's sessions still own frames in; the
 * frame set (frames.c) of each page size; and the link to the frame
 * keeper (keeper.c), opened before the first frame set so that each set
 * adopts the frames the keeper held.
 *
 * A build is a walk over "targets", one per pool: planned from the
 * configuration and the restore plan, checked (the node exists and has
 * memory), fallen back from 1 GiB where needed, then built in order:
 * pools without a window first, as configured, then the window pools,
 * narrowest window first (find_window() says why). Each pool is built by
 * build_pool(): its adopted frames taken, its new frames chosen (the
 * longest segments, or those found in its window, reserve.c), the
 * kernel's hugepages ensured, the frames reserved (pool.c), then settled
 * (the chosen frames first, any that came from outside the window
 * dropped) and reported. Each step that takes something has one undo
 * path. A failed build releases everything it built.
 *
 * It tells systemd how the reservation goes (STATUS=), and what is worth
 * a log line through the caller's say callback: it never logs itself
 * (only main.c, server.c and rpc.c do), never touches sessions, the
 * journal or the event loop, and never calls up into main.c, server.c or
 * rpc.c. Main thread only.
 */
#include "poolset.h"

#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "frames.h"
#include "hugepages.h"
#include "keeper.h"
#include "physmem.h"
#include "pool.h"
#include "reserve.h"
#include "segments.h" /* contig_segments_format(), for the log */

#define MAX_PAGE_SIZES 4

struct contig_poolset {
	const struct contig_config *cfg;
	struct contig_restore *restore; /* what the last instance left, or NULL */
	const char *runtime_dir;
	const char *instance;
	contig_poolset_say_fn *say;
	void *say_arg;
	struct contig_pools *pools;     /* where the pools go */
	struct contig_frame_dir *dirs[MAX_PAGE_SIZES]; /* one frame set per page size */
	size_t ndirs;
	struct contig_keeper *keeper;   /* holds the frames across restarts (session_grace) */
};

/* One line for the log, through the caller's callback (the same 1024
 * bytes a log line holds). */
__attribute__((format(printf, 3, 4))) static void say(const struct contig_poolset *set,
						      int level, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	set->say(level, message, set->say_arg);
}

/* A pool to build: the configuration's, or one the last instance's sessions
 * still have frames in. */
#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)

struct pool_target {
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

/* "node 0, 2048 kB pages" and, for a window, " below 4 GiB": names a pool
 * in the log. */
static const char *pool_name(int node, uint64_t page_len, uint64_t below, char *buf, size_t len)
{
	int n = snprintf(buf, len, "node %d, %" PRIu64 " kB pages", node, page_len >> 10);

	if (below && n > 0 && (size_t)n < len) {
		if (below % (UINT64_C(1) << 30) == 0)
			snprintf(buf + n, len - n, " below %" PRIu64 " GiB", below >> 30);
		else
			snprintf(buf + n, len - n, " below %" PRIu64 " MiB", below >> 20);
	}
	return buf;
}

static uint32_t target_frames(const struct pool_target *t)
{
	return t->nframes > t->nadopted ? t->nframes : t->nadopted;
}

static struct contig_frame_dir *dir_for(struct contig_poolset *set, uint64_t page_len)
{
	uint64_t sizes[8];
	int nsizes = contig_hugepages_sizes(sizes, 8), i;
	char err[512];
	int r;

	for (size_t k = 0; k < set->ndirs; k++)
		if (contig_frame_dir_page_len(set->dirs[k]) == page_len)
			return set->dirs[k];
	for (i = 0; i < nsizes && sizes[i] != page_len; i++)
		;
	if (i == nsizes) {
		say(set, LOG_ERR, "the kernel offers no %" PRIu64 " kB hugepages (libhugetlbfs "
			 "finds none): use another page size", page_len >> 10);
		return NULL;
	}
	if (set->ndirs == MAX_PAGE_SIZES)
		return NULL;
	r = contig_frame_dir_open(page_len, set->instance, set->runtime_dir, set->keeper,
				  &set->dirs[set->ndirs], err, sizeof(err));
	if (r < 0) {
		say(set, LOG_ERR, "%s", err);
		return NULL;
	}
	if (contig_frame_dir_nlegacy(set->dirs[set->ndirs]))
		say(set, LOG_NOTICE, "%s: %u hugetlbfs mounts of an older contigd released (its "
			 "frames were files there; this one keeps them with the frame keeper, "
			 "so their sessions cannot be restored)",
			 contig_frame_dir_path(set->dirs[set->ndirs]),
			 contig_frame_dir_nlegacy(set->dirs[set->ndirs]));
	if (set->restore) {
		r = contig_restore_adopt(set->restore, set->dirs[set->ndirs], set->say, set->say_arg);
		if (r < 0) {
			say(set, LOG_ERR, "%s: reading the frames left: %s",
				 contig_frame_dir_path(set->dirs[set->ndirs]), strerror(-r));
			contig_frame_dir_close(set->dirs[set->ndirs], true);
			return NULL;
		}
	}
	return set->dirs[set->ndirs++];
}

static int cmp_pool(const void *a, const void *b)
{
	const struct contig_pool *pa = *(struct contig_pool *const *)a;
	const struct contig_pool *pb = *(struct contig_pool *const *)b;

	if (pa->page_len != pb->page_len)
		return pa->page_len < pb->page_len ? -1 : 1;
	if (pa->node != pb->node)
		return pa->node - pb->node;
	/* no window first, then the wider ones */
	if (pa->below != pb->below)
		return !pa->below ? -1 : !pb->below ? 1 : pa->below > pb->below ? -1 : 1;
	return 0;
}

struct reserve_status {
	const struct contig_pool_spec *spec;
	uint64_t nframes;
};

/* STATUS= for systemctl status while a pool's frames come in. */
static void reserve_progress(size_t done, void *arg)
{
	const struct reserve_status *st = arg;

	sd_notifyf(0, "STATUS=reserving %" PRIu64 " frames of %" PRIu64 " kB on node %d: %zu in",
		   st->nframes, st->spec->page_len >> 10, st->spec->node, done);
}

/* The pools to build: each configured one, grown to what restored
 * sessions own in it, and any the configuration dropped that they still
 * own frames in. Returns how many, in the malloc'd *ret_targets. */
static int plan_targets(struct contig_poolset *set, struct pool_target **ret_targets, size_t *ret_n)
{
	size_t n = 0, cap = set->cfg->npools + 8;
	struct pool_target *t = calloc(cap, sizeof(*t));
	uint64_t page_len, below;
	int node;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < set->cfg->npools; i++) {
		const struct contig_pool_spec *spec = &set->cfg->pools[i];
		char name[96];

		if (spec->when_memory_above && contig_physmem_has_above(spec->node, spec->below) == 0) {
			say(set, LOG_INFO, "pool %s: not built (when=memory_above): all of node "
				 "%d's memory lies in the window, where its other pools serve it",
				 pool_name(spec->node, spec->page_len, spec->below, name,
					     sizeof(name)), spec->node);
			continue;
		}
		t[n++] = (struct pool_target){
			.node = spec->node,
			.page_len = spec->page_len,
			.below = spec->below,
			.nframes = (uint32_t)(spec->len / spec->page_len),
			.nwanted = (uint32_t)(spec->len / spec->page_len),
			.nadopted = contig_restore_nframes(set->restore, spec->node, spec->page_len,
							   spec->below),
			.spec = spec,
		};
	}
	for (size_t i = 0; contig_restore_pool(set->restore, i, &node, &page_len, &below); i++) {
		char name[96];
		size_t k;

		for (k = 0; k < n && !(t[k].node == node && t[k].page_len == page_len &&
				       t[k].below == below); k++)
			;
		if (k < n)
			continue;
		if (n == cap) {
			struct pool_target *grown = realloc(t, 2 * cap * sizeof(*t));

			if (!grown) {
				free(t);
				return -ENOMEM;
			}
			t = grown;
			cap *= 2;
		}
		t[n++] = (struct pool_target){
			.node = node,
			.page_len = page_len,
			.below = below,
			.nadopted = contig_restore_nframes(set->restore, node, page_len, below),
		};
		say(set, LOG_NOTICE, "pool %s is no longer configured, but restored sessions "
			 "own %" PRIu32 " frames of it: it serves them until they are freed",
			 pool_name(node, page_len, below, name, sizeof(name)), t[n - 1].nadopted);
	}
	*ret_targets = t;
	*ret_n = n;
	return 0;
}

/* Can this process allocate memory on @node (libnuma: in its allowed
 * nodes, with memory)? Without NUMA there is only node 0. */
static bool node_has_memory(int node)
{
	long long size;

	if (numa_available() < 0)
		return node == 0;
	if (node > numa_max_node() || !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node))
		return false;
	size = numa_node_size64(node, NULL);
	return size > 0;
}

int contig_poolset_expand_nodes(struct contig_config *cfg, contig_poolset_say_fn *say_fn,
				void *arg)
{
	const struct contig_poolset set_ = { .say = say_fn, .say_arg = arg }, *set = &set_;
	int max_node = numa_available() < 0 ? 0 : numa_max_node();
	int *nodes = calloc((size_t)max_node + 1, sizeof(*nodes));
	size_t nnodes = 0;
	int r;

	if (!nodes)
		return -ENOMEM;
	for (int n = 0; n <= max_node; n++)
		if (node_has_memory(n))
			nodes[nnodes++] = n;
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct contig_pool_spec *spec = &cfg->pools[i];
		char list[256] = "";
		size_t used = 0;

		if (spec->node != CONTIG_POOL_ALL_NODES)
			continue;
		for (size_t k = 0; k < nnodes && used < sizeof(list) - 16; k++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
						 k ? ", " : "", nodes[k]);
		say(set, LOG_INFO, "pool all:%" PRIu64 "M:%" PRIu64 "M: on the nodes with memory "
			 "(%s) but those with a %" PRIu64 "M pool of their own",
			 spec->page_len >> 20, spec->len >> 20, list, spec->page_len >> 20);
	}
	r = contig_config_expand_all(cfg, nodes, nnodes);
	free(nodes);
	return r;
}

/* 1 GiB pools the kernel cannot give 1 GiB pages for (none free, and none
 * to be made: no 1 GiB of free contiguous memory, or no such page size)
 * fall back to 2 MiB frames, joining that node's 2 MiB pool if it has one,
 * with a logged reason; their frames are then chosen for the longest
 * segments (unless reserve=sorted). Pages of 1 GiB this makes free stay
 * for the pool (t->pre_added). A pool with frames restored sessions own
 * keeps its page size. */
static void fall_back_from_1g(const struct contig_poolset *set, struct pool_target *targets,
			      size_t *ntargets)
{
	for (size_t i = 0; i < *ntargets; i++) {
		struct pool_target *t = &targets[i];
		uint64_t added = 0, nfree = 0, nframes_2m;
		size_t k;
		int r;

		if (t->page_len != PAGE_1G || t->nadopted || t->nframes == 0 || !t->spec || t->below)
			continue; /* a window pool looks for 1 GiB pages in its window, or finds none */
		r = contig_hugepages_grow(t->node, PAGE_1G, t->nframes, &added, &nfree);
		if (r == 0 && nfree >= t->nframes) {
			t->pre_added = added;
			continue;
		}
		contig_hugepages_shrink(t->node, PAGE_1G, added);
		nframes_2m = (uint64_t)t->nframes * (PAGE_1G / PAGE_2M);
		for (k = 0; k < *ntargets && !(targets[k].node == t->node &&
					       targets[k].page_len == PAGE_2M && !targets[k].below); k++)
			;
		if (r < 0)
			say(set, LOG_WARNING, "pool node %d, 1048576 kB pages: the kernel offers "
				 "no 1 GiB pages here (%s); %" PRIu64 " frames of 2 MiB instead%s",
				 t->node, strerror(-r), nframes_2m,
				 k < *ntargets ? ", added to that node's 2 MiB pool" : "");
		else
			say(set, LOG_WARNING, "pool node %d, 1048576 kB pages: the kernel could "
				 "make only %" PRIu64 " of the %" PRIu32 " 1 GiB pages free (too "
				 "little free memory, or too fragmented); %" PRIu64 " frames of "
				 "2 MiB instead%s", t->node, nfree, t->nframes, nframes_2m,
				 k < *ntargets ? ", added to that node's 2 MiB pool" : "");
		if (k < *ntargets) {
			targets[k].nframes += (uint32_t)nframes_2m;
			targets[k].nwanted += (uint32_t)nframes_2m;
			memmove(t, t + 1, (*ntargets - i - 1) * sizeof(*t));
			--*ntargets;
			i--;
			continue;
		}
		t->fallback = *t->spec;
		t->fallback.page_len = PAGE_2M;
		t->spec = &t->fallback;
		t->page_len = PAGE_2M;
		t->nframes = t->nwanted = (uint32_t)nframes_2m;
	}
}

/* For target @t's @nnew new frames: with reserve=longest, leave the frames
 * of the longest segments among its candidates first in the kernel's line
 * (reserve.c). Returns whether it did; on any failure it says why and the
 * reservation goes on plainly (which then fails, with its own message, if
 * the kernel has too few hugepages). */
static bool prepare_longest(const struct contig_poolset *set, const struct pool_target *t,
			    uint64_t nnew,
			    uint64_t prefer_above, unsigned nthreads,
			    struct contig_reserve_plan *plan, struct contig_reserve_report *rep)
{
	uint64_t max_candidates;
	char err[512];
	int r;

	if (!t->spec || nnew == 0)
		return false;
	max_candidates = contig_pool_spec_candidates(t->spec, nnew, t->page_len);
	if (max_candidates <= nnew)
		return false;
	*plan = (struct contig_reserve_plan){
		.node = t->node,
		.page_len = t->page_len,
		.nframes = nnew,
		.max_candidates = max_candidates,
		.compact = true,
		.nthreads = nthreads,
		.instance = set->instance,
		.runtime_dir = set->runtime_dir,
		.prefer_above = prefer_above,
		.min_free = set->cfg->reserve_min_free,
	};
	sd_notifyf(0, "STATUS=reserving up to %" PRIu64 " candidate frames of %" PRIu64
		   " kB on node %d", plan->max_candidates, t->page_len >> 10, t->node);
	r = contig_reserve_prepare(plan, rep, err, sizeof(err));
	if (r < 0) {
		say(set, LOG_NOTICE, "pool node %d, %" PRIu64 " kB pages: no choice of frames (%s); "
			 "taking what the kernel gives", t->node, t->page_len >> 10, err);
		return false;
	}
	return true;
}

/* The end of the widest window narrower than @below (any window, for 0)
 * among the pools of @page_len on @node: frames below it are left for
 * those pools when there is a choice. 0 if there is none. */
static uint64_t narrower_window(const struct pool_target *targets, size_t ntargets, int node,
				uint64_t page_len, uint64_t below)
{
	uint64_t end = 0;

	for (size_t k = 0; k < ntargets; k++) {
		const struct pool_target *t = &targets[k];

		if (t->node == node && t->page_len == page_len && t->below &&
		    (!below || t->below < below) && t->below > end)
			end = t->below;
	}
	return end;
}

/* Window pool @t's new frames: found (reserve.c) and held, then released
 * first in line for the pool's reservation.
 * Window pools come after the others, the narrowest window first, so that
 * the others' candidates are faulted before a window's search gives most
 * of the node's memory back (on a VM that reports free pages to its host,
 * faulting them again costs more), and a wider window's pool leaves the
 * narrower one's frames alone when it can. A window that cannot be filled
 * serves what was found; one where nothing could be looked for serves
 * none. Returns whether frames were found (*ret_plan, *ret_rep then hold
 * what contig_reserve_finish() needs, and *ret_nnew how many). */
static int find_window(struct contig_poolset *set, struct pool_target *t,
		       struct pool_target *targets,
		       size_t ntargets, unsigned nthreads,
		       struct contig_reserve_plan *ret_plan, struct contig_reserve_report *ret_rep,
		       uint64_t *ret_nnew)
{
	uint64_t nnew = t->nframes > t->nadopted ? t->nframes - t->nadopted : 0;
	char name[96], err[512];
	int r;

	t->searched = true;
	*ret_nnew = 0;
	if (!t->spec || nnew == 0) {
		t->nframes = t->nadopted;
		return 0;
	}
	pool_name(t->node, t->page_len, t->below, name, sizeof(name));
	*ret_plan = (struct contig_reserve_plan){
		.node = t->node,
		.page_len = t->page_len,
		.nframes = nnew,
		.max_candidates = contig_pool_spec_candidates(t->spec, nnew, t->page_len),
		.nthreads = nthreads,
		.instance = set->instance,
		.runtime_dir = set->runtime_dir,
		.below = t->below,
		.prefer_above = narrower_window(targets, ntargets, t->node, t->page_len, t->below),
		.min_free = set->cfg->reserve_min_free,
	};
	sd_notifyf(0, "STATUS=looking for %" PRIu64 " frames of pool %s", nnew, name);
	r = contig_reserve_prepare(ret_plan, ret_rep, err, sizeof(err));
	if (r < 0) {
		say(set, LOG_WARNING, "pool %s: could not look for frames in its window (%s): "
			 "it serves none", name, err);
		t->nframes = t->nadopted;
		return 0;
	}
	t->nframes = t->nadopted + (uint32_t)ret_rep->nkept;
	if (ret_rep->nkept < nnew)
		say(set, LOG_WARNING, "pool %s: found %" PRIu64 " MiB of the %" PRIu64 " MiB "
			 "configured in its window (%" PRIu64 " hugepages made there of the %"
			 PRIu64 " added while leaving reserve_min_free = %" PRIu64 " MiB free); "
			 "serving what was found", name,
			 (uint64_t)ret_rep->nkept * t->page_len >> 20, nnew * t->page_len >> 20,
			 ret_rep->made_in_window == UINT64_MAX ? 0 : ret_rep->made_in_window,
			 ret_rep->raised, set->cfg->reserve_min_free >> 20);
	contig_reserve_let_go(ret_rep);
	*ret_nnew = ret_rep->nkept;
	return ret_rep->nkept > 0;
}

/* The order pools are built in: every pool without a window, as
 * configured, then the window pools, the narrowest window first. */
static void build_order(const struct pool_target *targets, size_t ntargets, size_t *order)
{
	size_t n = 0;

	for (size_t k = 0; k < ntargets; k++)
		if (!targets[k].below)
			order[n++] = k;
	for (size_t first = n; n < ntargets;) {
		size_t best = ntargets;

		for (size_t k = 0; k < ntargets; k++) {
			bool taken = false;

			for (size_t j = first; j < n && !taken; j++)
				taken = order[j] == k;
			if (targets[k].below && !taken &&
			    (best == ntargets || targets[k].below < targets[best].below))
				best = k;
		}
		order[n++] = best;
	}
}

static void log_window(const struct contig_poolset *set, const struct contig_pool *pool,
		       const struct contig_reserve_plan *plan,
		       const struct contig_reserve_report *rep)
{
	char hist[512], name[96], made[48] = "unknown";

	contig_segments_format(rep->hist, hist, sizeof(hist));
	if (rep->made_in_window != UINT64_MAX)
		snprintf(made, sizeof(made), "%" PRIu64, rep->made_in_window);
	say(set, LOG_INFO, "pool %s: chose %zu of the %" PRIu64 " candidate frames in the "
		 "window, of %" PRIu64 " tried (nr_hugepages raised by %" PRIu64 " for a "
		 "moment, %s of them made in zones reaching into the window%s; runs in the "
		 "window by length in frames: %s; the longest %" PRIu64 ", the chosen frames' "
		 "%" PRIu64 "); %" PRIu64 " of the pool's frames are the chosen ones; %" PRIu64
		 " hugepages given back; search %" PRIu64 " ms",
		 pool_name(pool->node, pool->page_len, plan->below, name, sizeof(name)),
		 rep->nkept, rep->nin_window, rep->ncandidates, rep->raised, made,
		 rep->from_tail ? ", listed oldest first: the oldest given back" : "", hist,
		 rep->longest_run, rep->longest_kept, rep->nmatched, rep->given_back,
		 rep->candidates_ms);
}

static void log_reservation(const struct contig_poolset *set, const struct contig_pool *pool,
			    const struct contig_reserve_plan *plan,
			    const struct contig_reserve_report *rep)
{
	char hist[512], compaction[96] = "";

	contig_segments_format(rep->hist, hist, sizeof(hist));
	if (rep->compacted)
		snprintf(compaction, sizeof(compaction), ", compaction %" PRIu64 " ms%s",
			 rep->compact_ms, rep->compact_err ? " (refused)" : "");
	say(set, LOG_INFO, "pool node %d, %" PRIu64 " kB pages: chose %" PRIu64 " of %" PRIu64
		 " candidate frames (runs by length in frames: %s; the longest %" PRIu64
		 ", the chosen frames' %" PRIu64 "); %" PRIu64 " of the pool's frames are the "
		 "chosen ones; %" PRIu64 " hugepages given back; candidates %" PRIu64 " ms%s",
		 pool->node, pool->page_len >> 10, plan->nframes, rep->ncandidates, hist,
		 rep->longest_run, rep->longest_kept, rep->nmatched, rep->given_back,
		 rep->candidates_ms, compaction);
}

static void log_segments(const struct contig_poolset *set, const struct contig_pool *pool,
			  const struct contig_pool_info *info)
{
	char hist[512];

	char name[96];

	contig_segments_format(info->segment_hist, hist, sizeof(hist));
	say(set, LOG_INFO, "pool %s: segments by length in frames: %s; largest buffer %" PRIu64
		 " MiB", pool_name(pool->node, pool->page_len, pool->below, name, sizeof(name)),
		 hist, info->largest_free_len >> 20);
}


/* With session_grace, the keeper that holds the frames across restarts
 * (keeper.c): the last instance's, whose frames the restore plan may
 * adopt, or a new one. Without, a keeper an earlier instance left is
 * dismissed: nothing of it is restored. Returns 0 or -errno. */
static int open_keeper(struct contig_poolset *set)
{
	char err[512];
	int r;

	if (!set->cfg->session_grace_ms) {
		contig_keeper_dismiss(set->runtime_dir, set->instance);
		return 0;
	}
	r = contig_keeper_open(set->runtime_dir, set->instance,
			       contig_restore_nsessions(set->restore) > 0, &set->keeper, err,
			       sizeof(err));
	if (r < 0)
		say(set, LOG_ERR, "%s", err);
	return r;
}

/* Every target's node must exist and have memory this process may use. */
static int check_nodes(const struct contig_poolset *set, const struct pool_target *targets,
		       size_t ntargets)
{
	int max_node = numa_available() < 0 ? 0 : numa_max_node();

	for (size_t i = 0; i < ntargets; i++) {
		const struct pool_target *t = &targets[i];

		if (t->node > max_node) {
			say(set, LOG_ERR, "pool %d:%" PRIu64 "M: this machine has no node %d "
				 "(nodes 0..%d)", t->node, t->page_len >> 20, t->node, max_node);
			return -ENODEV;
		}
		if (!node_has_memory(t->node)) {
			say(set, LOG_ERR, "pool %d:%" PRIu64 "M: node %d has no memory the daemon "
				 "may use (a node with CPUs only, or outside its cpuset); give "
				 "its pool to a node that has memory",
				 t->node, t->page_len >> 20, t->node);
			return -ENODEV;
		}
	}
	return 0;
}

/* One pool's reservation as it goes: its adopted frames, its new ones,
 * and how they were chosen. */
struct pool_build {
	struct contig_frame_dir *dir;
	struct contig_frame_file *adopted; /* owned until the pool takes them */
	uint32_t nadopted;
	uint64_t nnew;     /* new frames to reserve */
	uint64_t added;    /* hugepages added to the kernel's pool for them */
	bool longest;      /* plan and rep hold a choice of frames (reserve.c) */
	struct contig_reserve_plan plan;
	struct contig_reserve_report rep;
	char name[96];
};

static void close_adopted(struct pool_build *b)
{
	for (uint32_t k = 0; k < b->nadopted; k++)
		contig_frame_close(&b->adopted[k]);
	free(b->adopted);
	b->adopted = NULL;
}

/* The new frames of target @t: with a window, those found there (first
 * in line now); without, the longest segments' when reserve=longest. */
static int choose_frames(struct contig_poolset *set, struct pool_target *t,
			 struct pool_target *targets, size_t ntargets, unsigned nthreads,
			 struct pool_build *b)
{
	int r;

	if (t->below) {
		r = find_window(set, t, targets, ntargets, nthreads, &b->plan, &b->rep, &b->nnew);
		if (r < 0)
			return r;
		b->longest = r > 0;
		return 0;
	}
	b->longest = prepare_longest(set, t, b->nnew,
				     narrower_window(targets, ntargets, t->node, t->page_len, 0),
				     nthreads, &b->plan, &b->rep);
	return 0;
}

/* Settle pool @pool of target @t just reserved: the chosen frames first,
 * any that came from outside its window dropped, its hugepages counted;
 * it joins the set's pools. */
static void settle_pool(struct contig_poolset *set, const struct pool_target *t,
			struct pool_build *b, struct contig_pool *pool)
{
	uint32_t ndropped;

	pool->below = t->below;
	pool->nframes_wanted = t->nwanted;
	if (b->longest)
		b->added += contig_reserve_finish(&b->plan, pool, &b->rep);
	/* Another process may have taken the frames found meanwhile: what
	 * came instead from outside the window goes, and its pages too. */
	ndropped = contig_pool_drop_outside(pool);
	if (ndropped) {
		uint64_t back = ndropped < b->added ? ndropped : b->added;

		contig_hugepages_shrink(t->node, t->page_len, back);
		b->added -= back;
		say(set, LOG_WARNING, "pool %s: %" PRIu32 " of its new frames came from "
			 "outside the window (another process took free hugepages while "
			 "it was reserved) and were given back", b->name, ndropped);
	}
	pool->hugepages_added = b->added + t->pre_added +
				contig_restore_hugepages_added(set->restore, t->node, t->page_len,
							       t->below);
	set->pools->pools[set->pools->npools++] = pool;
}

/* Say what pool @pool of target @t became. Returns 0, or -ENOSPC if its
 * largest segment is below its min_segment (and short=warn was not set). */
static int report_pool(const struct contig_poolset *set, const struct pool_target *t,
		       const struct pool_build *b, const struct contig_pool *pool)
{
	struct contig_pool_info info;

	contig_pool_get_info(pool, &info);
	say(set, LOG_INFO, "pool %s: %" PRIu64 " MiB in %" PRIu32 " frames (%" PRIu32
		 " adopted), %" PRIu32 " segments, largest segment %" PRIu64 " MiB%s",
		 b->name, info.total_len >> 20, info.nframes, b->nadopted, info.nsegments,
		 info.largest_segment_len >> 20,
		 b->added ? " (hugepages added to the kernel's pool)" : "");
	if (b->longest && t->below)
		log_window(set, pool, &b->plan, &b->rep);
	else if (b->longest)
		log_reservation(set, pool, &b->plan, &b->rep);
	log_segments(set, pool, &info);
	if (t->spec && info.largest_segment_len < t->spec->min_segment_len) {
		say(set, t->spec->min_segment_warn ? LOG_WARNING : LOG_ERR,
			 "pool %s: largest segment %" PRIu64 " MiB, below its min_segment "
			 "of %" PRIu64 " MiB%s", b->name, info.largest_segment_len >> 20,
			 t->spec->min_segment_len >> 20,
			 t->spec->min_segment_warn
				   ? " (short=warn: serving anyway)"
				   : ": raise candidates, free or compact memory, or set "
				     "short=warn to serve anyway");
		if (!t->spec->min_segment_warn)
			return -ENOSPC;
	}
	if (b->nadopted > t->nwanted && t->nwanted)
		say(set, LOG_NOTICE, "pool %s: configured for %" PRIu32 " frames, but "
			 "restored sessions own %" PRIu32 ": it shrinks as they free them, "
			 "at the next start", b->name, t->nwanted, b->nadopted);
	return 0;
}

/* Build the pool of target @t into the set: adopted frames, new frames
 * chosen, hugepages ensured, frames reserved, the pool settled and
 * reported. Returns 0 or -errno, having said why. */
static int build_pool(struct contig_poolset *set, struct pool_target *t,
		      struct pool_target *targets, size_t ntargets, unsigned nthreads)
{
	struct pool_build b = { 0 };
	struct contig_pool_spec spec = { .node = t->node, .page_len = t->page_len };
	struct reserve_status status = { .spec = &spec };
	struct contig_pool *pool;
	char err[768];
	int r;

	pool_name(t->node, t->page_len, t->below, b.name, sizeof(b.name));
	b.dir = dir_for(set, t->page_len);
	if (!b.dir)
		return -EIO;
	r = contig_restore_take_files(set->restore, t->node, t->page_len, t->below, &b.adopted,
				      &b.nadopted);
	if (r < 0)
		return r;
	b.nnew = target_frames(t) - b.nadopted;
	sd_notifyf(0, "STATUS=reserving %" PRIu64 " frames of %" PRIu64 " kB on node %d",
		   b.nnew, t->page_len >> 10, t->node);
	r = choose_frames(set, t, targets, ntargets, nthreads, &b);
	if (r < 0)
		goto out_adopted;
	r = contig_hugepages_ensure(t->node, t->page_len, b.nnew, &b.added, err, sizeof(err));
	if (r < 0) {
		say(set, LOG_ERR, "%s", err);
		goto out_choice;
	}
	status.nframes = b.nnew;
	r = contig_pool_new(b.dir, t->node, b.adopted, b.nadopted, (uint32_t)b.nnew, nthreads,
			    reserve_progress, &status, &pool);
	if (r < 0) {
		say(set, LOG_ERR, "node %d: reserving %" PRIu64 " frames of %" PRIu64
			 " kB in %s failed: %s", t->node, b.nnew, t->page_len >> 10,
			 contig_frame_dir_path(b.dir),
			 r == -ENOSPC ? "no free hugepage on that node (another "
					  "process took them?)"
					: strerror(-r));
		goto out_hugepages;
	}
	free(b.adopted); /* the pool holds the files now */
	b.adopted = NULL;
	settle_pool(set, t, &b, pool);
	return report_pool(set, t, &b, pool); /* released with the set if refused */

out_hugepages:
	contig_hugepages_shrink(t->node, t->page_len, b.added + t->pre_added);
out_choice:
	if (b.longest)
		contig_reserve_abandon(&b.plan, &b.rep);
out_adopted:
	close_adopted(&b);
	return r;
}

/* The targets of @set's configuration, checked, fallen back from 1 GiB
 * where needed, and built in order. Returns 0 or -errno, having said why;
 * what was built is in set->pools either way. */
static int build_pools(struct contig_poolset *set)
{
	unsigned nthreads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	struct pool_target *targets;
	size_t ntargets, *order;
	int r;

	r = plan_targets(set, &targets, &ntargets);
	if (r < 0)
		return r;
	if (ntargets == 0) {
		say(set, LOG_ERR, "no pool to build: every configured pool was left out");
		r = -EINVAL;
		goto out_targets;
	}
	r = check_nodes(set, targets, ntargets);
	if (r < 0)
		goto out_targets;
	fall_back_from_1g(set, targets, &ntargets);
	set->pools->pools = calloc(ntargets, sizeof(*set->pools->pools));
	order = calloc(ntargets, sizeof(*order));
	if (!set->pools->pools || !order) {
		r = -ENOMEM;
		goto out_order;
	}
	build_order(targets, ntargets, order);
	for (size_t i = 0; i < ntargets && r == 0; i++)
		r = build_pool(set, &targets[order[i]], targets, ntargets, nthreads);
out_order:
	free(order);
out_targets:
	free(targets);
	return r;
}

int contig_poolset_build(const struct contig_config *cfg, struct contig_restore *restore,
			 const char *runtime_dir, const char *instance,
			 contig_poolset_say_fn *say_fn, void *arg, struct contig_pools *pools,
			 struct contig_poolset **ret_set)
{
	struct contig_poolset *set = calloc(1, sizeof(*set));
	int r;

	if (!set)
		return -ENOMEM;
	*set = (struct contig_poolset){
		.cfg = cfg,
		.restore = restore,
		.runtime_dir = runtime_dir,
		.instance = instance,
		.say = say_fn,
		.say_arg = arg,
		.pools = pools,
	};
	r = open_keeper(set);
	if (r < 0)
		goto out_set;
	r = build_pools(set);
	if (r < 0)
		goto out_set;
	if (set->keeper) {
		size_t n = contig_keeper_release_rest(set->keeper);

		if (n)
			say(set, LOG_INFO, "%zu frames the keeper held, of page sizes no pool "
				 "uses any more, were released", n);
	}
	qsort(pools->pools, pools->npools, sizeof(*pools->pools), cmp_pool);
	set->cfg = NULL; /* both only for the build */
	set->restore = NULL;
	*ret_set = set;
	return 0;

out_set:
	contig_poolset_release(set, pools, false);
	return r;
}

void contig_poolset_release(struct contig_poolset *set, struct contig_pools *pools, bool keep)
{
	if (!set)
		return;
	for (size_t i = 0; i < pools->npools; i++) {
		struct contig_pool *pool = pools->pools[i];
		int node = pool->node;
		uint64_t page_len = pool->page_len, added = pool->hugepages_added;

		contig_pool_free(pool, keep);
		if (!keep)
			contig_hugepages_shrink(node, page_len, added);
	}
	free(pools->pools);
	pools->pools = NULL;
	pools->npools = 0;
	for (size_t i = 0; i < set->ndirs; i++)
		contig_frame_dir_close(set->dirs[i], keep);
	/* With sessions to keep, the keeper goes on holding their frames. */
	contig_keeper_close(set->keeper, keep);
	free(set);
}
