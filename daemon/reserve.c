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
 */
#include "reserve.h"

#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errmsg.h"
#include "frames.h"
#include "pool.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Hugepages of @page_len that half of @node's free memory would make. */
static uint64_t half_free_pages(int node, uint64_t page_len)
{
	long long free_len = 0;

	if (numa_available() < 0 || numa_node_size64(node, &free_len) < 0 || free_len < 0)
		return UINT64_MAX; /* unknown: the kernel will say */
	return (uint64_t)free_len / 2 / page_len;
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
		/* what this process adds stays below half the node's free memory */
		if (rep->added + want > limit)
			want = limit > rep->added ? limit - rep->added : 0;
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
		if (got == 0 || longest_run(phys, *n, plan->page_len, tmp) >= plan->nframes)
			break;
		if (round == plan->nframes && plan->compact) {
			/* Not one segment yet: compact before the kernel makes more. */
			uint64_t t0 = now_ms();

			rep->compact_err = contig_memory_compact(plan->node);
			rep->compact_ms = now_ms() - t0;
			rep->compacted = true;
		}
		round *= 2;
	}
	return 0;
}

/* Reserve the candidates in a scratch directory, choose, release in the
 * order that leaves the kept pages first in line. */
static int try_candidates(const struct contig_reserve_plan *plan, uint64_t limit,
			  struct contig_reserve_report *rep, char *err, size_t errlen)
{
	struct contig_frame_file *files = NULL;
	struct contig_frame_dir *scratch = NULL;
	int stored[CONTIG_FRAME_DIR_MAX_PARTS];
	uint64_t ncand = plan->max_candidates, *phys = NULL, *tmp = NULL;
	bool *keep = NULL;
	char instance[256];
	size_t n = 0;
	int r;

	for (unsigned i = 0; i < CONTIG_FRAME_DIR_MAX_PARTS; i++)
		stored[i] = -1;
	snprintf(instance, sizeof(instance), "%s-candidates", plan->instance);
	r = contig_frame_dir_open(plan->page_len, ncand * plan->page_len, instance,
				  plan->runtime_dir, false, stored, &scratch, err, errlen);
	if (r < 0)
		return r;
	files = calloc(ncand, sizeof(*files));
	phys = calloc(ncand, sizeof(*phys));
	tmp = calloc(ncand, sizeof(*tmp));
	keep = calloc(ncand, sizeof(*keep));
	rep->kept_phys = calloc(plan->nframes, sizeof(*rep->kept_phys));
	if (!files || !phys || !tmp || !keep || !rep->kept_phys) {
		r = -ENOMEM;
		goto out;
	}
	r = reserve_rounds(plan, scratch, limit, files, phys, tmp, &n, rep);
	if (r < 0) {
		r = contig_errmsg(err, errlen, r, "reserving candidate frames: %s", strerror(-r));
		goto out_release;
	}
	rep->ncandidates = n;
	if (n < plan->nframes) {
		r = contig_errmsg(err, errlen, -ENOMEM,
			 "node %d: only %zu %" PRIu64 " kB hugepages could be had, the pool needs %"
			 PRIu64, plan->node, n, plan->page_len >> 10, plan->nframes);
		goto out_release;
	}
	r = contig_select_frames(phys, n, plan->page_len, plan->nframes, keep);
	if (r < 0)
		goto out_release;
	for (size_t i = 0; i < n; i++)
		if (keep[i])
			rep->kept_phys[rep->nkept++] = phys[i];
	qsort(rep->kept_phys, rep->nkept, sizeof(*rep->kept_phys), cmp_u64);
	rep->longest_kept = longest_run(rep->kept_phys, rep->nkept, plan->page_len, tmp);
	/* the candidates' histogram and longest run (sorts phys: last use) */
	rep->longest_run = contig_segments_histogram(phys, n, plan->page_len, rep->hist);
	r = 0;

out_release:
	/* Others first, kept ones last: those are then first in line. */
	for (size_t i = 0; i < n; i++)
		if (!keep[i])
			contig_frame_release(scratch, &files[i]);
	for (size_t i = 0; i < n; i++)
		contig_frame_release(scratch, &files[i]);
out:
	contig_frame_dir_close(scratch, false);
	free(files);
	free(phys);
	free(tmp);
	free(keep);
	if (r < 0) {
		free(rep->kept_phys);
		rep->kept_phys = NULL;
		rep->nkept = 0;
	}
	return r;
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
	r = try_candidates(plan, half_free_pages(plan->node, plan->page_len), &rep, err, errlen);
	rep.candidates_ms = now_ms() - t0;
	if (r < 0) {
		contig_hugepages_shrink(plan->node, plan->page_len, rep.added);
		return r;
	}
	*ret_report = rep;
	return 0;
}

uint64_t contig_reserve_finish(const struct contig_reserve_plan *plan,
			       const struct contig_pool *pool,
			       struct contig_reserve_report *report)
{
	uint64_t needed = plan->nframes > report->free_before ? plan->nframes - report->free_before
							       : 0;

	report->nmatched = 0;
	for (uint32_t i = 0; i < pool->nframes; i++) {
		uint64_t phys = pool->frames[i].phys;

		if (bsearch(&phys, report->kept_phys, report->nkept, sizeof(phys), cmp_u64))
			report->nmatched++;
	}
	if (needed > report->added)
		needed = report->added;
	report->given_back = report->added - needed;
	contig_hugepages_shrink(plan->node, plan->page_len, report->given_back);
	free(report->kept_phys);
	report->kept_phys = NULL;
	return needed;
}

void contig_reserve_abandon(const struct contig_reserve_plan *plan,
			    struct contig_reserve_report *report)
{
	contig_hugepages_shrink(plan->node, plan->page_len, report->added);
	free(report->kept_phys);
	report->kept_phys = NULL;
}
