/* reserve.c - reserving a pool so that large buffers exist.
 *
 * DESIGN
 * Sorting whatever hugepages the kernel hands out is not enough on a
 * machine that has run a while: its free hugepages are scattered, and a
 * pool of 128 of them sorted into 93 segments here. So, for a pool's new
 * frames (contig_reserve_prepare()):
 *
 *   1. reserve candidates, in parallel, as frames of a scratch hugetlbfs
 *      mount of our own (<instance>-candidates-<kB>kB), reading each
 *      physical address: first as many as the pool needs (what a plain
 *      reservation would get). If they are not one segment, compact the
 *      node's memory (so that the kernel can make more hugepages, and
 *      more of them adjacent) and go on in rounds of twice as many, each
 *      made free first by raising nr_hugepages (best effort), until a run
 *      as long as the pool is among them, max_candidates are in, or what
 *      this process added would pass half the node's free memory;
 *   2. choose the frames that form the longest segments (select.c);
 *   3. release the others, then the chosen ones: the kernel keeps free
 *      hugepages on a per-node LIFO list, so the pool's own reservation,
 *      which comes next, gets the chosen pages back, in its own mount;
 *   4. afterwards (contig_reserve_finish()), give back the pages added
 *      beyond what the pool needs, so nr_hugepages ends as it was plus
 *      what was kept; and count how many of the pool's frames are the
 *      chosen ones (all, unless another process took free hugepages
 *      between 3 and the pool's reservation: then the pool sorts what it
 *      got, as a plain reservation does).
 *
 * On a machine whose free hugepages are adjacent the first round is one
 * segment and all there is: the cost is that of a plain reservation plus
 * zeroing each page twice (once as a candidate, once as a frame).
 * Otherwise every candidate is zeroed once more, and compaction can take a
 * second or more; the log gives both times.
 *
 * Windows (below=ADDR, for devices that reach only low memory): the kernel
 * makes hugepages from a node's zones highest first (Normal before DMA32),
 * so on a machine with memory above the window it makes none inside it
 * until the zones above are used up. To find frames in the window
 * (window_search()):
 *
 *   1. raise nr_hugepages as far as leaves plan->min_free of the node free
 *      (one write: measured 44 ms for 22 GiB here, 0.6 s when the
 *      hypervisor had not backed that memory yet), and read from
 *      /proc/zoneinfo how much the zones that reach into the window lost:
 *      the pages made there (made_in_window), the newest ones;
 *   2. probe WINDOW_PROBE pages from the head of the kernel's free list. A
 *      kernel that lists new pages newest first hands out the window's
 *      first; one that lists them oldest first (6.18 here: every one of the
 *      first 8000 was above 4 GiB, the 980 below it came last) does not:
 *      then shrinking nr_hugepages, which frees from the head too, gives
 *      back all but the newest made_in_window + free_before + WINDOW_SLACK;
 *   3. fault what is left in chunks, keeping count of the candidates in the
 *      window, until plan->max_candidates of them are in, or (longest) a
 *      run as long as the pool is among them, or the estimate is used up;
 *   4. choose among those in the window as for any pool; hold the chosen
 *      ones in the scratch mount, release the others and give back at once
 *      every hugepage added beyond what the kept frames need, so that the
 *      machine is back above its floor before the next pool is looked for.
 *      contig_reserve_let_go() releases the held ones right before the
 *      pool's reservation, which (LIFO) gets them.
 *
 * A window that holds fewer free frames than the pool wants gives what it
 * has (report->nkept); the caller logs it. The scratch mount of a window
 * pool is named for its node and window, so that several can be held.
 *
 * Speaks to the kernel only through frames.c, hugepages.c and physmem.c,
 * chooses through select.c, and never logs (what happened goes back in
 * the report, which poolset.c logs); never touches a session, the
 * journal, the keeper or libuv.
 */
#include "reserve.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errmsg.h"
#include "frames.h"
#include "hugepages.h"
#include "physmem.h"
#include "pool.h"
#include "select.h"

/* Window search: pages probed first, faulted per round, kept beyond the
 * estimate of those made in the window. */
#define WINDOW_PROBE 16
#define WINDOW_CHUNK 64
#define WINDOW_SLACK 16

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Hugepages of @plan->page_len that may be added on its node now: at most
 * half the node's free memory (@half), and never below plan->min_free. */
static uint64_t addable_pages(const struct contig_reserve_plan *plan, bool half)
{
	uint64_t free_len, room;

	if (contig_physmem_node_free(plan->node, &free_len) < 0)
		return UINT64_MAX; /* unknown: the kernel will say */
	room = free_len > plan->min_free ? free_len - plan->min_free : 0;
	if (half && room > free_len / 2)
		room = free_len / 2;
	return room / plan->page_len;
}

static bool in_window(const struct contig_reserve_plan *plan, uint64_t phys)
{
	return !plan->below || phys + plan->page_len <= plan->below;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The longest run among @n frames at @phys (copied: @phys stays). */
static uint64_t longest_run(const uint64_t *phys, size_t n, uint64_t page_len, uint64_t *scratch)
{
	uint32_t hist[CONTIG_SEGMENT_BUCKETS] = { 0 };

	memcpy(scratch, phys, n * sizeof(*phys));
	return contig_segments_histogram(scratch, n, page_len, hist);
}

/* The longest run among the @n candidates at @phys at or above
 * plan->prefer_above: rounds go on until it is as long as the pool, so
 * that a pool does not settle for frames a narrower window's pool, or a
 * device that reaches only low memory, would need. */
static uint64_t preferred_run(const struct contig_reserve_plan *plan, const uint64_t *phys,
			      size_t n, uint64_t *tmp)
{
	size_t m = 0;
	uint32_t hist[CONTIG_SEGMENT_BUCKETS] = { 0 };

	for (size_t i = 0; i < n; i++)
		if (phys[i] >= plan->prefer_above)
			tmp[m++] = phys[i];
	return contig_segments_histogram(tmp, m, plan->page_len, hist);
}

/* Reserve candidates into @scratch in rounds (the pool's size, then
 * doubling), each made free first, until a run as long as the pool is
 * among them, @plan->max_candidates are in, or the kernel has no more:
 * on a machine whose free hugepages are adjacent, the first round is all
 * there is. Files go to @files[*n..], phys to @phys. */
static int reserve_rounds(const struct contig_reserve_plan *plan, struct contig_frame_dir *scratch,
			  uint64_t limit, struct contig_frame_file *files, uint64_t *phys,
			  uint64_t *tmp, size_t *n, struct contig_reserve_report *rep)
{
	uint64_t round = plan->nframes;

	while (*n < plan->max_candidates) {
		uint64_t want = plan->max_candidates - *n, added = 0, nfree = 0;
		size_t got = 0;
		int r;

		if (want > round)
			want = round;
		/* What this process adds stays within @limit (half the node's free
		 * memory, and above reserve_min_free); free pages are taken as they are. */
		r = contig_hugepages_grow(plan->node, plan->page_len, 0, &added, &nfree);
		if (r < 0 && r != -EACCES && r != -EPERM && r != -EROFS)
			return r;
		if (want > nfree + (limit > rep->added ? limit - rep->added : 0))
			want = nfree + (limit > rep->added ? limit - rep->added : 0);
		r = contig_hugepages_grow(plan->node, plan->page_len, want, &added, &nfree);
		rep->added += added;
		if (r < 0 && r != -EACCES && r != -EPERM && r != -EROFS)
			return r;
		if (nfree < want)
			want = nfree;
		if (want == 0)
			break;
		r = contig_frame_reserve_upto(scratch, plan->node, want, plan->nthreads, files + *n,
					      &got);
		if (r < 0)
			return r;
		for (size_t i = 0; i < got; i++)
			phys[*n + i] = files[*n + i].phys;
		*n += got;
		if (got == 0 || preferred_run(plan, phys, *n, tmp) >= plan->nframes)
			break;
		if (round == plan->nframes && plan->compact) {
			/* Not one segment yet: compact before the kernel makes more. */
			uint64_t t0 = now_ms();

			rep->compact_err = contig_hugepages_compact(plan->node);
			rep->compact_ms = now_ms() - t0;
			rep->compacted = true;
		}
		round *= 2;
	}
	return 0;
}

/* Choose up to plan->nframes of the @n candidates at @phys that lie in the
 * window (all, without one): the longest segments among those at or above
 * plan->prefer_above, then, if that is not enough, among the others. Sets
 * @keep[i] for each kept one; fills rep->kept_phys, nkept, longest_kept,
 * and the histogram and longest run of the candidates in the window
 * (@tmp: @n scratch entries). Returns 0 or -ENOMEM. */
static int choose(const struct contig_reserve_plan *plan, const uint64_t *phys, size_t n,
		  bool *keep, uint64_t *tmp, struct contig_reserve_report *rep)
{
	size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	bool *sub_keep = malloc(n ? n : 1);
	size_t m = 0;
	int r = 0;

	rep->kept_phys = calloc(plan->nframes ? plan->nframes : 1, sizeof(*rep->kept_phys));
	if (!idx || !sub_keep || !rep->kept_phys) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		keep[i] = false;
	for (int pass = 0; pass < 2 && rep->nkept < plan->nframes; pass++) {
		int got;

		m = 0;
		for (size_t i = 0; i < n; i++)
			if (in_window(plan, phys[i]) && (phys[i] >= plan->prefer_above) == (pass == 0)) {
				idx[m] = i;
				tmp[m++] = phys[i];
			}
		got = contig_select_frames(tmp, m, plan->page_len, plan->nframes - rep->nkept,
					   sub_keep);
		if (got < 0) {
			r = got;
			goto out;
		}
		for (size_t j = 0; j < m; j++)
			if (sub_keep[j]) {
				keep[idx[j]] = true;
				rep->kept_phys[rep->nkept++] = phys[idx[j]];
			}
	}
	qsort(rep->kept_phys, rep->nkept, sizeof(*rep->kept_phys), cmp_u64);
	rep->longest_kept = longest_run(rep->kept_phys, rep->nkept, plan->page_len, tmp);
	for (size_t i = m = 0; i < n; i++)
		if (in_window(plan, phys[i]))
			tmp[m++] = phys[i];
	rep->nin_window = m;
	rep->longest_run = contig_segments_histogram(tmp, m, plan->page_len, rep->hist);
out:
	free(idx);
	free(sub_keep);
	if (r < 0) {
		free(rep->kept_phys);
		rep->kept_phys = NULL;
		rep->nkept = 0;
	}
	return r;
}

/* The candidate arrays, @cap entries each. */
struct cands {
	struct contig_frame_file *files;
	uint64_t *phys, *tmp;
	bool *keep;
	size_t n;
};

static int cands_init(struct cands *c, size_t cap)
{
	*c = (struct cands){ 0 };
	if (!cap)
		cap = 1;
	c->files = calloc(cap, sizeof(*c->files));
	c->phys = calloc(cap, sizeof(*c->phys));
	c->tmp = calloc(cap, sizeof(*c->tmp));
	c->keep = calloc(cap, sizeof(*c->keep));
	return c->files && c->phys && c->tmp && c->keep ? 0 : -ENOMEM;
}

static void cands_done(struct cands *c)
{
	free(c->files);
	free(c->phys);
	free(c->tmp);
	free(c->keep);
}

/* Reserve up to @want more candidates into @c; returns how many came
 * (0: the kernel has no more free), or -errno. */
static int cands_add(const struct contig_reserve_plan *plan, struct contig_frame_dir *scratch,
		     struct cands *c, size_t want)
{
	size_t got = 0;
	int r = contig_frame_reserve_upto(scratch, plan->node, want, plan->nthreads,
					  c->files + c->n, &got);

	if (r < 0)
		return r;
	for (size_t i = 0; i < got; i++)
		c->phys[c->n + i] = c->files[c->n + i].phys;
	c->n += got;
	return (int)got;
}

/* Reserve the candidates in a scratch directory, choose, release in the
 * order that leaves the kept pages first in line. */
static int try_candidates(const struct contig_reserve_plan *plan, uint64_t limit,
			  struct contig_reserve_report *rep, char *err, size_t errlen)
{
	struct contig_frame_dir *scratch = NULL;
	struct cands c;
	char instance[256];
	int r;

	snprintf(instance, sizeof(instance), "%s-candidates", plan->instance);
	r = contig_frame_dir_open(plan->page_len, instance, plan->runtime_dir, NULL, &scratch, err,
				  errlen);
	if (r < 0)
		return r;
	r = cands_init(&c, plan->max_candidates);
	if (r < 0)
		goto out;
	r = reserve_rounds(plan, scratch, limit, c.files, c.phys, c.tmp, &c.n, rep);
	if (r < 0) {
		r = contig_errmsg(err, errlen, r, "reserving candidate frames: %s", strerror(-r));
		goto out_release;
	}
	rep->ncandidates = c.n;
	if (c.n < plan->nframes) {
		r = contig_errmsg(err, errlen, -ENOMEM,
			 "node %d: only %zu %" PRIu64 " kB hugepages could be had, the pool needs %"
			 PRIu64, plan->node, c.n, plan->page_len >> 10, plan->nframes);
		goto out_release;
	}
	r = choose(plan, c.phys, c.n, c.keep, c.tmp, rep);

out_release:
	/* Others first, kept ones last: those are then first in line. */
	for (size_t i = 0; i < c.n; i++)
		if (r < 0 || !c.keep[i])
			contig_frame_release(scratch, &c.files[i]);
	for (size_t i = 0; i < c.n; i++)
		contig_frame_release(scratch, &c.files[i]);
out:
	contig_frame_dir_close(scratch, false);
	cands_done(&c);
	return r;
}

/* Are the window candidates in @c enough to stop looking? */
static bool window_enough(const struct contig_reserve_plan *plan, struct cands *c)
{
	size_t m = 0;

	for (size_t i = 0; i < c->n; i++)
		if (in_window(plan, c->phys[i]))
			c->tmp[m++] = c->phys[i];
	if (m >= plan->max_candidates)
		return true;
	if (plan->max_candidates > plan->nframes) {
		uint32_t hist[CONTIG_SEGMENT_BUCKETS] = { 0 };

		return contig_segments_histogram(c->tmp, m, plan->page_len, hist) >= plan->nframes;
	}
	return false;
}

/* Give @npages of what this search added back to the kernel. */
static void give_back(const struct contig_reserve_plan *plan, struct contig_reserve_report *rep,
		      uint64_t npages)
{
	if (npages > rep->added)
		npages = rep->added;
	contig_hugepages_shrink(plan->node, plan->page_len, npages);
	rep->added -= npages;
	rep->given_back += npages;
}

/* Steps 1 to 3 of a window search (see the top of this file): fill @c
 * with candidates from @scratch, which it opens. */
static int window_look(const struct contig_reserve_plan *plan, struct contig_reserve_report *rep,
		       struct contig_frame_dir **ret_scratch, struct cands *c, char *err,
		       size_t errlen)
{
	uint64_t zone_before = 0, zone_after = 0, added = 0, nfree = 0, look, cap;
	bool zones_known;
	char instance[256];
	size_t nin = 0;
	int r;

	zones_known = contig_physmem_zone_free_below(plan->node, plan->below, &zone_before) == 0;
	r = contig_hugepages_grow(plan->node, plan->page_len,
				  rep->free_before + addable_pages(plan, false), &added, &nfree);
	rep->added += added;
	rep->raised = added;
	if (r < 0 && r != -EACCES && r != -EPERM && r != -EROFS)
		return contig_errmsg(err, errlen, r, "raising nr_hugepages: %s", strerror(-r));
	zones_known = zones_known &&
		      contig_physmem_zone_free_below(plan->node, plan->below, &zone_after) == 0;
	rep->made_in_window = !zones_known		? UINT64_MAX
			      : zone_before <= zone_after ? 0
			      : (zone_before - zone_after + plan->page_len - 1) / plan->page_len;
	look = zones_known ? rep->made_in_window + rep->free_before + WINDOW_SLACK
			   : 4 * plan->max_candidates;
	cap = nfree < WINDOW_PROBE + look ? nfree : WINDOW_PROBE + look;
	if (cap == 0)
		return 0; /* the kernel could make none: nothing to look at */
	snprintf(instance, sizeof(instance), "%s-node%d-below%" PRIu64 "M-candidates",
		 plan->instance, plan->node, plan->below >> 20);
	r = contig_frame_dir_open(plan->page_len, instance, plan->runtime_dir, NULL, ret_scratch,
				  err, errlen);
	if (r < 0)
		return r;
	r = cands_init(c, cap);
	if (r < 0)
		return r;
	r = cands_add(plan, *ret_scratch, c, cap < WINDOW_PROBE ? cap : WINDOW_PROBE);
	if (r < 0)
		return contig_errmsg(err, errlen, r, "reserving candidate frames: %s", strerror(-r));
	for (size_t i = 0; i < c->n; i++)
		nin += in_window(plan, c->phys[i]);
	if (nin * 2 < c->n && contig_hugepages_grow(plan->node, plan->page_len, 0, &added,
						    &nfree) == 0 && nfree > look) {
		/* Oldest first: the head is what was made above the window. */
		rep->from_tail = true;
		give_back(plan, rep, nfree - look);
	}
	while (c->n < cap && !window_enough(plan, c)) {
		size_t want = cap - c->n < WINDOW_CHUNK ? cap - c->n : WINDOW_CHUNK;

		r = cands_add(plan, *ret_scratch, c, want);
		if (r < 0)
			return contig_errmsg(err, errlen, r, "reserving candidate frames: %s",
					     strerror(-r));
		if (r == 0)
			break;
	}
	return 0;
}

/* A window pool's search: look (window_look()), choose, hold the chosen,
 * release the rest and give back what the chosen do not need. */
static int window_search(const struct contig_reserve_plan *plan, struct contig_reserve_report *rep,
			 char *err, size_t errlen)
{
	struct contig_frame_dir *scratch = NULL;
	struct cands c = { 0 };
	uint64_t needed;
	int r;

	r = window_look(plan, rep, &scratch, &c, err, errlen);
	rep->ncandidates = c.n;
	if (r == 0)
		r = choose(plan, c.phys, c.n, c.keep, c.tmp, rep);
	if (r == 0 && rep->nkept) {
		rep->held = calloc(rep->nkept, sizeof(*rep->held));
		if (!rep->held)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < c.n; i++) {
		if (r == 0 && c.keep[i])
			rep->held[rep->nheld++] = c.files[i];
		else
			contig_frame_release(scratch, &c.files[i]);
	}
	cands_done(&c);
	if (r < 0) {
		contig_frame_dir_close(scratch, false);
		free(rep->held);
		rep->held = NULL;
		rep->nheld = 0;
		return r;
	}
	rep->held_dir = scratch;
	/* What the kept frames need beyond the pages that were free stays. */
	needed = rep->nkept > rep->free_before ? rep->nkept - rep->free_before : 0;
	if (rep->added > needed)
		give_back(plan, rep, rep->added - needed);
	return 0;
}

int contig_reserve_prepare(const struct contig_reserve_plan *plan,
			   struct contig_reserve_report *ret_report, char *err, size_t errlen)
{
	struct contig_reserve_report rep = { 0 };
	uint64_t t0 = now_ms(), nfree, added;
	int r;

	if (plan->nframes == 0 || plan->max_candidates < plan->nframes)
		return contig_errmsg(err, errlen, -EINVAL, "nothing to choose");
	r = contig_hugepages_grow(plan->node, plan->page_len, 0, &added, &nfree);
	if (r < 0)
		return contig_errmsg(err, errlen, r, "node %d has no %" PRIu64 " kB hugepages: %s",
			    plan->node, plan->page_len >> 10, strerror(-r));
	rep.free_before = nfree;
	if (plan->below)
		r = window_search(plan, &rep, err, errlen);
	else
		r = try_candidates(plan, addable_pages(plan, true), &rep, err, errlen);
	rep.candidates_ms = now_ms() - t0;
	if (r < 0) {
		contig_hugepages_shrink(plan->node, plan->page_len, rep.added);
		free(rep.kept_phys);
		return r;
	}
	*ret_report = rep;
	return 0;
}

void contig_reserve_let_go(struct contig_reserve_report *report)
{
	for (size_t i = 0; i < report->nheld; i++)
		contig_frame_release(report->held_dir, &report->held[i]);
	contig_frame_dir_close(report->held_dir, false);
	free(report->held);
	report->held = NULL;
	report->held_dir = NULL;
	report->nheld = 0;
}

uint64_t contig_reserve_finish(const struct contig_reserve_plan *plan,
			       const struct contig_pool *pool,
			       struct contig_reserve_report *report)
{
	uint64_t needed = report->nkept > report->free_before ? report->nkept - report->free_before
							      : 0;

	report->nmatched = 0;
	for (uint32_t i = 0; i < pool->nframes; i++) {
		uint64_t phys = pool->frames[i].phys;

		if (bsearch(&phys, report->kept_phys, report->nkept, sizeof(phys), cmp_u64))
			report->nmatched++;
	}
	if (needed > report->added)
		needed = report->added;
	give_back(plan, report, report->added - needed);
	free(report->kept_phys);
	report->kept_phys = NULL;
	return needed;
}

void contig_reserve_abandon(const struct contig_reserve_plan *plan,
			    struct contig_reserve_report *report)
{
	contig_reserve_let_go(report);
	give_back(plan, report, report->added);
	free(report->kept_phys);
	report->kept_phys = NULL;
}
