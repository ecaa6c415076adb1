/* pool.c - the frames of one (node, page size, window), sorted into segments.
 *
 * DESIGN
 * A pool is reserved once, at startup: nframes hugepage frames on one node
 * (frames adopted from an earlier instance, and new ones faulted in
 * parallel), then sorted by physical address (DPDK's sort-and-
 * remap idea). Runs of physically adjacent frames are segments; a buffer
 * larger than a frame takes adjacent frames of one segment.
 *
 * A window pool (below=) holds only frames wholly below its window's end:
 * main.c reserves them so (reserve.c), and a frame that recycling moves
 * out of the window is taken out of service like one that could not be
 * re-faulted.
 *
 * Free frames are kept as a contig_range_set in physical address space, so
 * that "find adjacent free frames that satisfy these constraints" is
 * contig_range_find() with the request as it stands: adjacent free frames
 * merge into one range, and non-adjacent ones never do.
 *
 * by_phys lists the frames in service (FREE or OWNED) sorted by address,
 * for contig_pool_frame_at(). A frame leaves it while it is recycled (the
 * recycle thread may move it to another page) and is sorted back in when it
 * returns.
 *
 * Loop thread only (contig_pool_new/free: main thread, loop not running).
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_phys(const void *a, const void *b)
{
	const struct contig_frame *fa = *(struct contig_frame *const *)a;
	const struct contig_frame *fb = *(struct contig_frame *const *)b;

	return fa->phys < fb->phys ? -1 : fa->phys > fb->phys;
}

/* Index of the first in-service frame with phys >= @phys. */
static uint32_t lower_bound(const struct contig_pool *pool, uint64_t phys)
{
	uint32_t lo = 0, hi = pool->nby_phys;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (pool->by_phys[mid]->phys < phys)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int contig_pool_new(struct contig_frame_dir *dir, int node, const struct contig_frame_file *adopted,
		    uint32_t nadopted, uint32_t nnew, unsigned nthreads,
		    void (*progress)(size_t done, void *arg), void *progress_arg,
		    struct contig_pool **ret_pool)
{
	uint32_t nframes = nadopted + nnew;
	struct contig_frame_file *files = NULL;
	struct contig_pool *pool;
	int r = -ENOMEM;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->node = node;
	pool->dir = dir;
	pool->page_len = contig_frame_dir_page_len(dir);
	contig_range_set_init(&pool->free);
	files = calloc(nframes ? nframes : 1, sizeof(*files));
	pool->frames = calloc(nframes ? nframes : 1, sizeof(*pool->frames));
	pool->by_phys = calloc(nframes ? nframes : 1, sizeof(*pool->by_phys));
	if (!files || !pool->frames || !pool->by_phys)
		goto out_free;

	r = contig_frame_reserve_many(dir, node, nnew, nthreads, progress, progress_arg,
				      files + nadopted);
	if (r < 0)
		goto out_free;
	if (nadopted)
		memcpy(files, adopted, nadopted * sizeof(*files));
	pool->nframes = nframes;
	for (uint32_t i = 0; i < nframes; i++) {
		struct contig_frame *f = &pool->frames[i];

		f->pool = pool;
		f->file = files[i];
		f->phys = files[i].phys;
		f->state = CONTIG_FRAME_FREE;
		pool->by_phys[i] = f;
	}
	pool->nby_phys = nframes;
	qsort(pool->by_phys, nframes, sizeof(*pool->by_phys), cmp_phys);
	for (uint32_t i = 0; i < nframes; i++) {
		r = contig_range_give(&pool->free, pool->by_phys[i]->phys, pool->page_len);
		if (r < 0)
			goto out_free;
	}
	free(files);
	*ret_pool = pool;
	return 0;

out_free:
	free(files);
	contig_pool_free(pool, false);
	return r;
}

void contig_pool_free(struct contig_pool *pool, bool keep_owned)
{
	if (!pool)
		return;
	for (uint32_t i = 0; i < pool->nframes; i++) {
		struct contig_frame *f = &pool->frames[i];

		if (keep_owned && f->state == CONTIG_FRAME_OWNED)
			contig_frame_close(&f->file);
		else
			contig_frame_release(pool->dir, &f->file);
	}
	contig_range_set_done(&pool->free);
	free(pool->by_phys);
	free(pool->frames);
	free(pool);
}

uint32_t contig_pool_drop_outside(struct contig_pool *pool)
{
	uint32_t n = 0;

	for (uint32_t i = 0; pool->below && i < pool->nframes; i++) {
		struct contig_frame *f = &pool->frames[i];
		uint32_t k;

		if (f->state != CONTIG_FRAME_FREE || f->phys + pool->page_len <= pool->below ||
		    contig_range_take(&pool->free, f->phys, pool->page_len) < 0)
			continue;
		k = lower_bound(pool, f->phys);
		memmove(&pool->by_phys[k], &pool->by_phys[k + 1],
			(pool->nby_phys - k - 1) * sizeof(*pool->by_phys));
		pool->nby_phys--;
		contig_frame_release(pool->dir, &f->file);
		f->state = CONTIG_FRAME_LOST;
		f->gone = true;
		pool->nlost++;
		n++;
	}
	return n;
}

struct contig_frame *contig_pool_frame_at(const struct contig_pool *pool, uint64_t phys)
{
	uint64_t base = phys - phys % pool->page_len;
	uint32_t i = lower_bound(pool, base);

	if (i < pool->nby_phys && pool->by_phys[i]->phys == base)
		return pool->by_phys[i];
	return NULL;
}

int contig_pool_take(struct contig_pool *pool, uint64_t phys, uint64_t len,
		     struct contig_session *owner, int cache_type)
{
	int r = contig_range_take(&pool->free, phys, len);

	if (r < 0)
		return r;
	for (uint64_t p = phys; p < phys + len; p += pool->page_len) {
		struct contig_frame *f = contig_pool_frame_at(pool, p);

		f->state = CONTIG_FRAME_OWNED;
		f->owner = owner;
		f->cache_type = cache_type;
		f->nbuffers = 0;
		f->nwarm = 0;
		f->ncarved = 0;
		pool->nowned++;
	}
	pool->generation++;
	return 0;
}

void contig_pool_frame_recycling(struct contig_frame *frame)
{
	struct contig_pool *pool = frame->pool;
	uint32_t i = lower_bound(pool, frame->phys);

	/* Out of by_phys: the recycle thread may move it to another page. */
	memmove(&pool->by_phys[i], &pool->by_phys[i + 1],
		(pool->nby_phys - i - 1) * sizeof(*pool->by_phys));
	pool->nby_phys--;
	frame->state = CONTIG_FRAME_RECYCLING;
	frame->owner = NULL;
	frame->nbuffers = 0;
	frame->nwarm = 0;
	frame->ncarved = 0;
	frame->recycle_err = 0;
	pool->nowned--;
	pool->nrecycling++;
	pool->generation++;
}

bool contig_pool_frame_recycled(struct contig_frame *frame)
{
	struct contig_pool *pool = frame->pool;
	bool moved = frame->file.phys != frame->phys;
	uint32_t i;

	pool->nrecycling--;
	pool->generation++;
	if (frame->recycle_err == 0 && contig_pool_frame_at(pool, frame->file.phys))
		frame->recycle_err = -EEXIST; /* two frames on one page: our bug */
	/* A window pool holds only frames in its window: one that came back
	 * above it (another process took its page meanwhile) goes. */
	if (frame->recycle_err == 0 && pool->below &&
	    frame->file.phys + pool->page_len > pool->below)
		frame->recycle_err = -ERANGE;
	if (frame->recycle_err == 0 &&
	    contig_range_give(&pool->free, frame->file.phys, pool->page_len) < 0)
		frame->recycle_err = -ENOMEM;
	frame->retrying = false;
	if (frame->recycle_err < 0) {
		/* Out of service until a retry finds its page (if the recycler
		 * got another, it goes back to the kernel). */
		contig_frame_release(pool->dir, &frame->file);
		frame->file.phys = frame->phys;
		frame->state = CONTIG_FRAME_LOST;
		pool->nlost++;
		return false;
	}
	/* A frame that moved away from a neighbour in service broke a segment
	 * (one whose neighbours are being recycled too is not counted). */
	frame->broke_segment = moved && frame->phys >= pool->page_len &&
			       (contig_pool_frame_at(pool, frame->phys - pool->page_len) ||
				contig_pool_frame_at(pool, frame->phys + pool->page_len));
	if (frame->broke_segment)
		pool->nsegments_broken++;
	frame->phys = frame->file.phys;
	i = lower_bound(pool, frame->phys);
	memmove(&pool->by_phys[i + 1], &pool->by_phys[i],
		(pool->nby_phys - i) * sizeof(*pool->by_phys));
	pool->by_phys[i] = frame;
	pool->nby_phys++;
	frame->state = CONTIG_FRAME_FREE;
	return moved;
}

bool contig_pool_frame_retry(struct contig_frame *frame)
{
	struct contig_pool *pool = frame->pool;

	if (frame->state != CONTIG_FRAME_LOST || frame->gone)
		return false;
	frame->state = CONTIG_FRAME_RECYCLING;
	frame->retrying = true;
	frame->recycle_err = 0;
	frame->file.phys = frame->phys; /* the page it looks for */
	pool->nlost--;
	pool->nrecycling++;
	pool->generation++;
	return true;
}

void contig_pool_get_info(const struct contig_pool *pool, struct contig_pool_info *ret_info)
{
	struct contig_pool_info info = { 0 };
	uint64_t run = 0;

	for (uint32_t i = 0; i < pool->nby_phys; i++) {
		if (i == 0 || pool->by_phys[i]->phys != pool->by_phys[i - 1]->phys + pool->page_len) {
			if (run)
				info.segment_hist[contig_segment_bucket(run / pool->page_len)]++;
			info.nsegments++;
			run = 0;
		}
		run += pool->page_len;
		if (run > info.largest_segment_len)
			info.largest_segment_len = run;
	}
	if (run)
		info.segment_hist[contig_segment_bucket(run / pool->page_len)]++;
	info.nsegments_broken = pool->nsegments_broken;
	info.nframes = pool->nframes - pool->nlost;
	info.total_len = (uint64_t)info.nframes * pool->page_len;
	info.free_len = pool->free.free_len;
	info.largest_free_len = contig_range_largest(&pool->free);
	info.nframes_owned = pool->nowned;
	info.nframes_recycling = pool->nrecycling;
	info.nframes_lost = pool->nlost;
	info.nbuffers = pool->nbuffers;
	info.below = pool->below;
	info.wanted_len = (uint64_t)pool->nframes_wanted * pool->page_len;
	*ret_info = info;
}
