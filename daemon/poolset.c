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
 * A build is a walk over "targets", one per pool, that poolplan.c plans
 * from the configuration and the restore plan (checked, fallen back from
 * 1 GiB where needed, in build order: pools without a window first, as
 * configured, then the window pools, narrowest window first:
 * find_window() says why). Each pool is built by
 * build_pool(): its adopted frames taken, its new frames chosen (the
 * longest segments, or those found in its window, reserve.c), the
 * kernel's hugepages ensured, the frames reserved (pool.c), then settled
 * (the chosen frames first, any that came from outside the window
 * dropped) and reported. Each step that takes something has one undo
 * path. A failed build releases everything it built.
 *
 * It tells systemd how the reservation goes (STATUS=), and what is worth
 * a log line through the caller's say callback: it never logs itself
 * (only main.c, server.c and rpc.c do), never decides which pools there
 * are (poolplan.c), never touches sessions, the journal or the event
 * loop, and never calls up into main.c, server.c or rpc.c. Main thread
 * only.
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
#include "pool.h"
#include "poolplan.h"
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

/* For target @t's @nnew new frames: with reserve=longest, leave the frames
 * of the longest segments among its candidates first in the kernel's line
 * (reserve.c). Returns whether it did; on any failure it says why and the
 * reservation goes on plainly (which then fails, with its own message, if
 * the kernel has too few hugepages). */
static bool prepare_longest(const struct contig_poolset *set, const struct contig_pool_target *t,
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
static int find_window(struct contig_poolset *set, struct contig_pool_target *t,
		       const struct contig_poolplan *all, unsigned nthreads,
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
	contig_pool_name(t->node, t->page_len, t->below, name, sizeof(name));
	*ret_plan = (struct contig_reserve_plan){
		.node = t->node,
		.page_len = t->page_len,
		.nframes = nnew,
		.max_candidates = contig_pool_spec_candidates(t->spec, nnew, t->page_len),
		.nthreads = nthreads,
		.instance = set->instance,
		.runtime_dir = set->runtime_dir,
		.below = t->below,
		.prefer_above = contig_poolplan_narrower_window(all, t->node, t->page_len, t->below),
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
		 contig_pool_name(pool->node, pool->page_len, plan->below, name, sizeof(name)),
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
		 " MiB", contig_pool_name(pool->node, pool->page_len, pool->below, name, sizeof(name)),
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
static int choose_frames(struct contig_poolset *set, struct contig_pool_target *t,
			 const struct contig_poolplan *all, unsigned nthreads,
			 struct pool_build *b)
{
	int r;

	if (t->below) {
		r = find_window(set, t, all, nthreads, &b->plan, &b->rep, &b->nnew);
		if (r < 0)
			return r;
		b->longest = r > 0;
		return 0;
	}
	b->longest = prepare_longest(set, t, b->nnew,
				     contig_poolplan_narrower_window(all, t->node, t->page_len, 0),
				     nthreads, &b->plan, &b->rep);
	return 0;
}

/* Settle pool @pool of target @t just reserved: the chosen frames first,
 * any that came from outside its window dropped, its hugepages counted;
 * it joins the set's pools. */
static void settle_pool(struct contig_poolset *set, const struct contig_pool_target *t,
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
static int report_pool(const struct contig_poolset *set, const struct contig_pool_target *t,
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
static int build_pool(struct contig_poolset *set, struct contig_pool_target *t,
		      const struct contig_poolplan *all, unsigned nthreads)
{
	struct pool_build b = { 0 };
	struct contig_pool_spec spec = { .node = t->node, .page_len = t->page_len };
	struct reserve_status status = { .spec = &spec };
	struct contig_pool *pool;
	char err[768];
	int r;

	contig_pool_name(t->node, t->page_len, t->below, b.name, sizeof(b.name));
	b.dir = dir_for(set, t->page_len);
	if (!b.dir)
		return -EIO;
	r = contig_restore_take_files(set->restore, t->node, t->page_len, t->below, &b.adopted,
				      &b.nadopted);
	if (r < 0)
		return r;
	b.nnew = contig_pool_target_frames(t) - b.nadopted;
	sd_notifyf(0, "STATUS=reserving %" PRIu64 " frames of %" PRIu64 " kB on node %d",
		   b.nnew, t->page_len >> 10, t->node);
	r = choose_frames(set, t, all, nthreads, &b);
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

/* The targets of @set's configuration, planned (poolplan.c), and built
 * in order. Returns 0 or -errno, having said why; what was built is in
 * set->pools either way. */
static int build_pools(struct contig_poolset *set)
{
	unsigned nthreads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	struct contig_poolplan plan;
	int r;

	r = contig_poolplan_make(set->cfg, set->restore, set->say, set->say_arg, &plan);
	if (r < 0)
		return r;
	set->pools->pools = calloc(plan.ntargets, sizeof(*set->pools->pools));
	if (!set->pools->pools)
		r = -ENOMEM;
	for (size_t i = 0; i < plan.ntargets && r == 0; i++)
		r = build_pool(set, &plan.targets[plan.order[i]], &plan, nthreads);
	contig_poolplan_done(&plan);
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
