/* test_constraints.c - every constraint of an allocation, at its edges,
 * checked where the memory really is.
 *
 * One daemon with a 64 MiB pool of 2 MiB frames. This process is the client
 * (a child process is too, for the NUMA check that only the mapping's owner
 * can make). The daemon's word for a physical address is never taken: every
 * constraint is checked on the address /proc/<client>/pagemap gives for the
 * client's mapping. Nor is the pool's physical layout assumed: the test
 * first maps every frame once, reads where the kernel put each one, and
 * builds its windows around those addresses (DESIGN.md, "Allocation
 * semantics" and invariant 1), mapping the pool again whenever the daemon
 * counts a frame that came back from recycling on another page (another
 * process on the machine took its hugepage meanwhile).
 *
 * Random requests use a fixed seed (CONTIG_TEST_SEED overrides it), printed
 * as a diagnostic so that a failure can be replayed.
 */
#include <errno.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define PAGE UINT64_C(4096)
#define FRAME (2 * MiB)
#define POOL_LEN (64 * MiB)
#define MAX_FRAMES 64
#define NRANDOM 200
#define NPACKED 300

static pid_t self;

/* The pool as pagemap shows it: each frame's physical address, sorted. */
static uint64_t frames[MAX_FRAMES];
static size_t nframes;
/* The daemon's count of frames that came back from recycling on another
 * page, or not at all, when frames[] was taken: frames[] holds while it
 * stays the same (see fresh_layout()). */
static uint64_t layout_changes_at;

/* A buffer, what it was asked to satisfy, and where pagemap says it is. */
struct rec {
	struct contig_buffer b;
	uint64_t pm; /* pagemap's physical address of the first byte; 0: not contiguous */
	uint64_t req_len;
	uint64_t lowest, highest, boundary, align;
	int cache_type;
	uint8_t fill;
	unsigned flags; /* contig_alloc_flags()'s */
};

/* Where pagemap puts the first byte of @b in this process, if the whole of
 * [virt, virt + len) is physically contiguous from there; else 0. */
static uint64_t pagemap_phys(const struct contig_buffer *b)
{
	uint64_t phys = harness_phys_of(self, b->virt);

	if (phys == 0 || !harness_phys_contiguous(self, b->virt, b->len, phys))
		return 0;
	return phys;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->npools == 1 && st->pools[0].free_len == st->pools[0].total_len &&
	       st->pools[0].nframes_recycling == 0 && st->pools[0].nbuffers == 0 &&
	       st->my_nbuffers == 0;
}

/* Wait until everything freed so far is back in the pool (frames are
 * recycled asynchronously); *ret_st then describes the idle pool. */
static void settle(struct contig_client *c, struct contig_stats *ret_st)
{
	/* (The fast path's empty warm frames too: the pool whole.) */
	if (contig_trim(c) < 0)
		bail_out("contig_trim: %s", contig_last_message());
	if (!harness_wait_stats(c, all_free, NULL))
		bail_out("the pool did not return to all free");
	if (contig_get_stats(c, ret_st) < 0)
		bail_out("stats: %s", contig_last_message());
}

static void rec_init(struct rec *r, uint64_t len)
{
	*r = (struct rec){
		.req_len = len,
		.highest = CONTIG_PHYS_MAX,
		.cache_type = CONTIG_CACHED,
	};
}

/* Ask for @r as it stands; on success fill in the buffer and its pagemap
 * address. Returns contig_alloc()'s result. */
static int rec_alloc(struct contig_client *c, struct rec *r)
{
	struct contig_alloc_req req;
	int err;

	contig_alloc_req_init(&req, r->req_len);
	req.lowest_phys = r->lowest;
	req.highest_phys = r->highest;
	req.boundary = r->boundary;
	req.align = r->align;
	req.cache_type = r->cache_type;
	err = contig_alloc_flags(c, &req, r->flags, &r->b);
	if (err == 0)
		r->pm = pagemap_phys(&r->b);
	return err;
}

/* Which promise @r breaks, per pagemap, or NULL. */
static const char *rec_broken(const struct rec *r)
{
	uint64_t align = r->align ? r->align : PAGE;
	uint64_t last;

	if (r->pm == 0)
		return "not physically contiguous per pagemap";
	last = r->pm + r->b.len - 1;
	if (r->b.phys != r->pm)
		return "the library's phys differs from pagemap";
	if (r->b.len != harness_round_page(r->req_len))
		return "len not rounded up to 4 KiB";
	if (r->pm % align)
		return "start not aligned";
	if (r->boundary && r->pm / r->boundary != last / r->boundary)
		return "crosses its boundary";
	if (r->pm < r->lowest || last > r->highest)
		return "outside its window";
	return NULL;
}

static void rec_diag(const struct rec *r, const char *reason)
{
	diag("  %s: len %" PRIu64 " (asked %" PRIu64 ") at pagemap 0x%" PRIx64
	     " (library 0x%" PRIx64 "), window [0x%" PRIx64 ", 0x%" PRIx64 "], boundary 0x%" PRIx64
	     ", align 0x%" PRIx64 ", cache type %d",
	     reason, r->b.len, r->req_len, r->pm, r->b.phys, r->lowest, r->highest, r->boundary,
	     r->align, r->cache_type);
}

static void rec_fill(struct rec *r, uint8_t v)
{
	r->fill = v;
	memset(r->b.virt, v, r->b.len);
}

static bool rec_intact(const struct rec *r)
{
	const uint8_t *p = r->b.virt;

	for (uint64_t i = 0; i < r->b.len; i++)
		if (p[i] != r->fill)
			return false;
	return true;
}

static int cmp_rec_pm(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;

	return x->pm < y->pm ? -1 : x->pm > y->pm;
}

/* Physically overlapping pairs among @n buffers, per pagemap. */
static int count_overlaps(struct rec *recs, size_t n)
{
	static struct rec *sorted[NPACKED > NRANDOM ? NPACKED : NRANDOM];
	int overlaps = 0;

	for (size_t i = 0; i < n; i++)
		sorted[i] = &recs[i];
	qsort(sorted, n, sizeof(sorted[0]), cmp_rec_pm);
	for (size_t i = 1; i < n; i++)
		if (sorted[i - 1]->pm + sorted[i - 1]->b.len > sorted[i]->pm) {
			overlaps++;
			rec_diag(sorted[i - 1], "overlaps the next");
			rec_diag(sorted[i], "overlapped");
		}
	return overlaps;
}

/* Pairs of buffers of different cache types that touch a common frame. */
static int count_mixed_frames(const struct rec *recs, size_t n)
{
	int mixed = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			const struct rec *a = &recs[i], *b = &recs[j];

			if (a->cache_type == b->cache_type)
				continue;
			if (a->pm / FRAME <= (b->pm + b->b.len - 1) / FRAME &&
			    b->pm / FRAME <= (a->pm + a->b.len - 1) / FRAME) {
				mixed++;
				rec_diag(a, "shares a frame");
				rec_diag(b, "with");
			}
		}
	return mixed;
}

/* Why @r, asked for with result @err, is not what it must be. */
static const char *why(const struct rec *r, int err)
{
	if (err)
		return contig_last_message();
	if (rec_broken(r))
		return rec_broken(r);
	return "granted, but not where it must be";
}

/* Report @name: @r was granted (@err 0), honours every constraint per
 * pagemap, and @cond holds. Explain a failure. Free the buffer unless @keep
 * and it is good. Returns whether it was good. */
static bool granted(struct contig_client *c, struct rec *r, int err, bool cond, bool keep,
		    const char *name)
{
	bool good = err == 0 && !rec_broken(r) && cond;

	if (!ok(good, "%s", name))
		rec_diag(r, why(r, err));
	if (err == 0 && !(keep && good))
		contig_free(c, r->b.virt);
	return good;
}

/* @req must be refused with @want and a message (naming @field if given).
 * A buffer granted by mistake is freed so that the test can go on. */
static void refused(struct contig_client *c, const struct contig_alloc_req *req, int want,
		    const char *field, const char *name)
{
	struct contig_buffer b;
	int r = contig_alloc(c, req, &b);
	const char *msg = contig_last_message();

	if (!ok(r == want && *msg && (!field || strstr(msg, field)), "%s", name))
		diag("  got %d \"%s\", want %d with a message%s%s", r, msg, want,
		     field ? " naming " : "", field ? field : "");
	if (r == 0) {
		diag("  granted: pagemap 0x%" PRIx64 ", len %" PRIu64, pagemap_phys(&b), b.len);
		contig_free(c, b.virt);
	}
}

static uint64_t layout_changes(const struct contig_stats *st)
{
	return st->nrecycle_moved + st->nframes_lost;
}

/* Map every frame of the idle pool once, as 2 MiB buffers aligned to 2 MiB
 * (each is then exactly one frame), and record where pagemap puts them in
 * frames[]. Freed again, a frame comes back on the same page unless the
 * recycler counts a move (or a loss); then the map is stale and is taken
 * again. Returns whether every buffer was one whole frame; *ret_st is the
 * idle pool's stats. */
static bool map_pool(struct contig_client *c, struct contig_stats *ret_st)
{
	static struct contig_buffer bufs[MAX_FRAMES];
	bool whole = true;

	for (int attempt = 0;; attempt++) {
		uint64_t changes;

		settle(c, ret_st);
		changes = layout_changes(ret_st);
		whole = true;
		nframes = 0;
		while (nframes < MAX_FRAMES) {
			struct contig_alloc_req req;

			contig_alloc_req_init(&req, FRAME);
			req.align = FRAME;
			if (contig_alloc(c, &req, &bufs[nframes]) < 0)
				break;
			frames[nframes] = pagemap_phys(&bufs[nframes]);
			if (frames[nframes] == 0 || frames[nframes] % FRAME)
				whole = false;
			nframes++;
		}
		for (size_t i = 0; i < nframes; i++)
			contig_free(c, bufs[i].virt);
		settle(c, ret_st);
		if (layout_changes(ret_st) == changes)
			break;
		if (attempt == 9)
			bail_out("frames keep moving to other pages on recycling: no stable map");
		diag("a frame came back on another page; mapping the pool again");
	}
	layout_changes_at = layout_changes(ret_st);
	qsort(frames, nframes, sizeof(frames[0]), harness_cmp_u64);
	return whole;
}

/* Before a check built on frames[]: wait until what was freed is recycled,
 * and if since frames[] was taken the daemon counts a frame that came back
 * on another page, or not at all, map the pool again. A frame moves when
 * another process takes the hugepage it gave back to the kernel while it
 * was recycled (DESIGN.md, "recycling"): then a window built on its old
 * address is refused for want of the frame, not for a fault of the
 * allocator's. Once recycling is over nothing moves until the next free. */
static void fresh_layout(struct contig_client *c)
{
	struct contig_stats st;

	settle(c, &st);
	if (layout_changes(&st) == layout_changes_at)
		return;
	diag("%" PRIu64 " frames moved and %" PRIu64 " lost on recycling so far (another process "
	     "took their pages): mapping the pool again",
	     st.nrecycle_moved, st.nframes_lost);
	map_pool(c, &st);
	if (nframes == 0)
		bail_out("no frame to build windows around: %s", contig_last_message());
}

/* The pool's layout, as map_pool() takes it, checked against the daemon's
 * own account of its segments. */
static void discover_frames(struct contig_client *c)
{
	struct contig_stats st;
	uint64_t run = 0, longest = 0;
	uint32_t nsegments = 0;
	bool whole = map_pool(c, &st), distinct = true;

	is_u64(nframes, POOL_LEN / FRAME, "whole_pool_is_granted_as_aligned_2MiB_buffers");
	ok(whole, "each_aligned_2MiB_buffer_is_one_whole_frame_per_pagemap");
	if (nframes == 0)
		bail_out("no frame to build windows around: %s", contig_last_message());
	for (size_t i = 0; i < nframes; i++) {
		if (i > 0 && frames[i] == frames[i - 1])
			distinct = false;
		if (i == 0 || frames[i] != frames[i - 1] + FRAME) {
			nsegments++;
			run = 0;
		}
		run += FRAME;
		if (run > longest)
			longest = run;
	}
	ok(distinct, "no_frame_is_granted_twice");
	is_u64(st.pools[0].largest_free_len, longest,
	       "largest_free_len_is_the_longest_run_of_adjacent_frames_per_pagemap");
	is_u64(st.pools[0].nsegments, nsegments, "nsegments_counts_the_runs_pagemap_shows");
	diag("pool: %zu frames from 0x%" PRIx64 " to 0x%" PRIx64 ", %u runs, longest %" PRIu64
	     " MiB",
	     nframes, frames[0], frames[nframes - 1], nsegments, longest >> 20);
}

/* The first of two adjacent frames in frames[], or nframes. */
static size_t adjacent_pair(void)
{
	size_t i;

	for (i = 0; i + 1 < nframes && frames[i] + FRAME != frames[i + 1]; i++)
		;
	return i + 1 < nframes ? i : nframes;
}

/* fresh_layout(), then the pool's first and last frame and one at neither
 * end. Before each step of test_window() that follows a free. */
static void window_layout(struct contig_client *c, uint64_t *lo, uint64_t *top, uint64_t *t)
{
	fresh_layout(c);
	*lo = frames[0];
	*top = frames[nframes - 1];
	*t = frames[nframes / 2];
}

/* lowest/highest: the whole buffer lies in [lowest, highest], inclusive. */
static void test_window(struct contig_client *c)
{
	uint64_t lo, top, t, len = 64 * 1024;
	struct contig_alloc_req req;
	struct rec r, held, pins[2];
	bool pinned[2];
	size_t i;
	int err;

	window_layout(c, &lo, &top, &t);
	rec_init(&r, len);
	r.lowest = t;
	r.highest = t + len - 1;
	err = rec_alloc(c, &r);
	granted(c, &r, err, r.pm == t, false, "buffer_filling_its_window_exactly_is_granted_there");

	window_layout(c, &lo, &top, &t);
	rec_init(&r, len);
	r.highest = lo + len - 1; /* the pool's first len bytes are the only room */
	err = rec_alloc(c, &r);
	granted(c, &r, err, r.pm + r.b.len - 1 == r.highest, false,
		"buffer_ending_exactly_at_highest_is_granted");

	window_layout(c, &lo, &top, &t);
	contig_alloc_req_init(&req, len);
	req.lowest_phys = t;
	req.highest_phys = t + len - 2;
	refused(c, &req, -ENOMEM, NULL, "window_one_byte_too_small_gets_enomem");
	req.lowest_phys = 0;
	req.highest_phys = lo + len - 2;
	refused(c, &req, -ENOMEM, NULL, "window_ending_one_byte_short_of_room_gets_enomem");
	req.lowest_phys = t + 1;
	req.highest_phys = t + len;
	refused(c, &req, -ENOMEM, NULL, "window_starting_one_byte_past_a_page_gets_enomem");
	req.lowest_phys = t + len;
	req.highest_phys = t;
	refused(c, &req, -EINVAL, "highest", "lowest_above_highest_is_invalid_naming_the_field");
	req.lowest_phys = t + 1;
	req.highest_phys = t;
	refused(c, &req, -EINVAL, "highest", "highest_one_below_lowest_is_invalid");

	contig_alloc_req_init(&req, PAGE);
	if (lo >= PAGE) {
		req.highest_phys = lo - 1;
		refused(c, &req, -ENOMEM, NULL, "window_below_the_pool_gets_enomem");
	} else {
		ok(true, "window_below_the_pool_gets_enomem # SKIP the pool starts at 0");
	}
	req.lowest_phys = top + FRAME;
	req.highest_phys = CONTIG_PHYS_MAX;
	refused(c, &req, -ENOMEM, NULL, "window_above_the_pool_gets_enomem");
	for (i = 0; i + 1 < nframes && frames[i] + FRAME == frames[i + 1]; i++)
		;
	if (i + 1 < nframes) {
		req.lowest_phys = frames[i] + FRAME;
		req.highest_phys = frames[i + 1] - 1;
		refused(c, &req, -ENOMEM, NULL, "window_in_a_gap_between_frames_gets_enomem");
	} else {
		ok(true, "window_in_a_gap_between_frames_gets_enomem # SKIP the pool has no gap");
	}

	window_layout(c, &lo, &top, &t);
	rec_init(&r, len);
	r.lowest = t + MiB;
	r.highest = t + FRAME - 1;
	err = rec_alloc(c, &r);
	granted(c, &r, err, r.pm >= t + MiB && r.pm / FRAME == t / FRAME, false,
		"window_in_the_middle_of_a_frame_gives_a_buffer_at_or_above_lowest_in_it");
	window_layout(c, &lo, &top, &t);
	rec_init(&r, len);
	r.lowest = t + MiB + 1;
	r.highest = t + FRAME - 1;
	err = rec_alloc(c, &r);
	granted(c, &r, err, r.pm >= t + MiB + PAGE, false,
		"lowest_inside_a_page_moves_the_start_to_the_next_page");

	/* The same windows over a frame this client already holds. */
	window_layout(c, &lo, &top, &t);
	rec_init(&held, PAGE);
	held.lowest = t;
	held.highest = t + PAGE - 1;
	err = rec_alloc(c, &held);
	if (!granted(c, &held, err, held.pm == t, true,
		     "one_page_window_at_a_frame_start_is_granted_there"))
		bail_out("cannot pin a page at 0x%" PRIx64, t);
	rec_init(&r, len);
	r.lowest = t + MiB;
	r.highest = t + FRAME - 1;
	err = rec_alloc(c, &r);
	granted(c, &r, err, r.pm >= t + MiB && r.pm / FRAME == t / FRAME, false,
		"window_inside_a_held_frame_is_served_from_that_frame");
	contig_alloc_req_init(&req, FRAME);
	req.lowest_phys = t;
	req.highest_phys = t + FRAME - 1;
	refused(c, &req, -ENOMEM, NULL,
		"window_of_one_partly_used_frame_cannot_hold_a_whole_frame");
	contig_free(c, held.b.virt);

	/* A window that straddles two adjacent frames: the buffer must too. */
	window_layout(c, &lo, &top, &t);
	i = adjacent_pair();
	if (i < nframes) {
		rec_init(&r, 2 * len);
		r.lowest = frames[i + 1] - len;
		r.highest = frames[i + 1] + len - 1;
		err = rec_alloc(c, &r);
		granted(c, &r, err, r.pm == r.lowest, false,
			"window_across_two_adjacent_frames_gives_one_contiguous_buffer");
		window_layout(c, &lo, &top, &t);
		i = adjacent_pair();
	} else {
		ok(true, "window_across_two_adjacent_frames_gives_one_contiguous_buffer # SKIP no "
			 "two frames are adjacent");
	}
	if (i < nframes) {
		/* Again with both frames held by this client (a page pinned at the
		 * far end of each): the buffer comes from the client's own frames. */
		for (size_t k = 0; k < 2; k++) {
			uint64_t pin = k == 0 ? frames[i] : frames[i + 1] + FRAME - PAGE;

			/* (Daemon buffers: a page cut from a warm frame of the
			 * fast path would make its frame a 2 MiB buffer of its
			 * own, whose free part only the fast path uses.) */
			rec_init(&pins[k], PAGE);
			pins[k].flags = CONTIG_ALLOC_ROUND_TRIP;
			pins[k].lowest = pin;
			pins[k].highest = pin + PAGE - 1;
			err = rec_alloc(c, &pins[k]);
			pinned[k] = err == 0 && !rec_broken(&pins[k]) && pins[k].pm == pin;
			if (!pinned[k])
				rec_diag(&pins[k], why(&pins[k], err));
			if (err == 0 && !pinned[k])
				contig_free(c, pins[k].b.virt);
		}
		rec_init(&r, 2 * len);
		r.lowest = frames[i + 1] - len;
		r.highest = frames[i + 1] + len - 1;
		err = rec_alloc(c, &r);
		granted(c, &r, err, pinned[0] && pinned[1] && r.pm == r.lowest, false,
			"window_across_two_held_adjacent_frames_gives_one_contiguous_buffer");
		for (size_t k = 0; k < 2; k++)
			if (pinned[k])
				contig_free(c, pins[k].b.virt);
	} else {
		ok(true,
		   "window_across_two_held_adjacent_frames_gives_one_contiguous_buffer # SKIP "
		   "no two frames are adjacent");
	}
}

/* boundary: 0, or a power of two >= len the buffer never crosses. */
static void test_boundary(struct contig_client *c, unsigned *seed)
{
	static struct rec live[NRANDOM];
	static const uint64_t exact[] = { 2 * PAGE, 64 * 1024, MiB, FRAME };
	struct contig_alloc_req req;
	struct rec first, r;
	size_t nlive = 0;
	int nbad = 0, nrefused = 0, nevicted = 0, ncorrupt = 0, nseams = 0, err;
	char name[128];

	/* A page at the front, so that the first free byte is on no boundary. */
	rec_init(&first, PAGE);
	if (rec_alloc(c, &first) < 0)
		bail_out("alloc: %s", contig_last_message());
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		struct rec *e = &live[nlive];

		rec_init(e, exact[i]);
		e->boundary = exact[i];
		err = rec_alloc(c, e);
		snprintf(name, sizeof(name),
			 "buffer_as_long_as_its_boundary_of_%" PRIu64 "KiB_starts_on_a_multiple",
			 exact[i] >> 10);
		if (granted(c, e, err, e->pm % exact[i] == 0, true, name))
			nlive++;
	}
	while (nlive)
		contig_free(c, live[--nlive].b.virt);
	contig_free(c, first.b.virt);

	contig_alloc_req_init(&req, PAGE);
	req.boundary = 3 * 64 * 1024;
	refused(c, &req, -EINVAL, "boundary", "boundary_not_a_power_of_two_is_invalid");
	contig_alloc_req_init(&req, 2 * PAGE);
	req.boundary = PAGE;
	refused(c, &req, -EINVAL, "boundary", "boundary_smaller_than_len_is_invalid");
	contig_alloc_req_init(&req, PAGE + 1);
	req.boundary = PAGE;
	refused(c, &req, -EINVAL, "boundary", "boundary_smaller_than_len_by_one_byte_is_invalid");
	rec_init(&r, PAGE);
	r.boundary = PAGE;
	err = rec_alloc(c, &r);
	granted(c, &r, err, true, false, "boundary_of_one_page_for_one_page_is_valid");

	/* Many sizes and boundaries, all kept live so that each lands among the
	 * others; when the pool is full the oldest goes. */
	for (int i = 0; i < NRANDOM; i++) {
		rec_init(&r, 1 + rand_r(seed) % (PAGE << (rand_r(seed) % 9)));
		r.boundary = harness_pow2_ceil(harness_round_page(r.req_len)) << (rand_r(seed) % 5);
		if (rand_r(seed) % 4 == 0)
			r.align = PAGE << (rand_r(seed) % 5);
		r.cache_type = i % 3 ? CONTIG_CACHED : CONTIG_WRITE_COMBINED;
		while ((err = rec_alloc(c, &r)) == -ENOMEM && nlive > 0) {
			if (!rec_intact(&live[0]))
				ncorrupt++;
			contig_free(c, live[0].b.virt);
			memmove(&live[0], &live[1], --nlive * sizeof(live[0]));
			nevicted++;
		}
		if (err < 0) {
			nrefused++;
			rec_diag(&r, contig_last_message());
			continue;
		}
		if (rec_broken(&r)) {
			nbad++;
			rec_diag(&r, rec_broken(&r));
		}
		rec_fill(&r, (uint8_t)(i + 1));
		live[nlive++] = r;
	}
	for (size_t i = 0; i < nlive; i++)
		nseams += live[i].pm / FRAME != (live[i].pm + live[i].b.len - 1) / FRAME;
	diag("%d random boundary requests, %d let go to make room, %d live across a frame seam",
	     NRANDOM, nevicted, nseams);
	ok(nrefused == 0, "random_boundary_requests_are_all_granted");
	ok(nbad == 0, "alloc_never_crosses_boundary_per_pagemap_over_%d_random_requests", NRANDOM);
	ok(count_overlaps(live, nlive) == 0, "random_boundary_buffers_never_overlap_physically");
	ok(count_mixed_frames(live, nlive) == 0,
	   "random_boundary_buffers_of_two_cache_types_never_share_a_frame");
	for (size_t i = 0; i < nlive; i++)
		if (!rec_intact(&live[i]))
			ncorrupt++;
	ok(ncorrupt == 0, "random_boundary_buffers_keep_their_own_bytes");
	while (nlive)
		contig_free(c, live[--nlive].b.virt);
}

/* align: 0 (4 KiB) or a power of two for the physical start. */
static void test_align(struct contig_client *c)
{
	struct rec first, live[16];
	struct contig_alloc_req req;
	size_t nlive = 0;
	char name[128];

	rec_init(&first, PAGE);
	if (rec_alloc(c, &first) < 0)
		bail_out("alloc: %s", contig_last_message());
	for (uint64_t align = PAGE; align <= FRAME; align <<= 1) {
		struct rec *r = &live[nlive];
		int err;

		rec_init(r, PAGE);
		r->align = align;
		err = rec_alloc(c, r);
		snprintf(name, sizeof(name), "align_%" PRIu64 "KiB_is_honoured_per_pagemap",
			 align >> 10);
		if (granted(c, r, err, r->pm % align == 0, true, name))
			nlive++;
	}
	while (nlive)
		contig_free(c, live[--nlive].b.virt);
	contig_free(c, first.b.virt);

	contig_alloc_req_init(&req, PAGE);
	req.align = 3 * PAGE;
	refused(c, &req, -EINVAL, "align", "align_not_a_power_of_two_is_invalid");
	req.align = PAGE + 1;
	refused(c, &req, -EINVAL, "align", "align_one_past_a_power_of_two_is_invalid");
}

/* len: > 0, rounded up to 4 KiB. */
static void test_len(struct contig_client *c)
{
	static const uint64_t huge[] = { UINT64_C(1) << 62, UINT64_MAX - PAGE, UINT64_MAX };
	static const uint64_t odd[] = { 1, PAGE - 1, PAGE + 1, 12345, 65537, FRAME - 1 };
	struct contig_alloc_req req;
	char name[128];
	struct rec r;
	int err;

	contig_alloc_req_init(&req, 0);
	refused(c, &req, -EINVAL, "len", "len_0_is_invalid_naming_the_field");
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		struct contig_buffer b;

		contig_alloc_req_init(&req, huge[i]);
		err = contig_alloc(c, &req, &b);
		if (!ok(err == -ENOMEM || err == -EINVAL,
			"len_0x%" PRIx64 "_is_refused_with_enomem_or_einval", huge[i]))
			diag("  got %d (%s)", err, contig_last_message());
		if (err == 0)
			contig_free(c, b.virt);
	}
	rec_init(&r, PAGE);
	err = rec_alloc(c, &r);
	granted(c, &r, err, true, false, "daemon_keeps_serving_after_huge_requests");

	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		bool intact = false;

		rec_init(&r, odd[i]);
		err = rec_alloc(c, &r);
		if (err == 0 && !rec_broken(&r)) {
			rec_fill(&r, (uint8_t)(0x40 + i)); /* every rounded byte is ours */
			intact = rec_intact(&r);
		}
		snprintf(name, sizeof(name),
			 "len_%" PRIu64 "_is_rounded_up_to_4KiB_and_all_of_it_is_writable", odd[i]);
		granted(c, &r, err, intact, false, name);
	}
}

/* A buffer larger than a frame takes adjacent frames of one run. */
static void test_multi_frame(struct contig_client *c)
{
	struct contig_alloc_req req;
	struct contig_stats st;
	struct rec r;
	int err;

	settle(c, &st);
	if (st.pools[0].largest_free_len >= 2 * FRAME) {
		bool seam = false;

		rec_init(&r, FRAME + PAGE + 1);
		err = rec_alloc(c, &r);
		if (err == 0 && !rec_broken(&r)) {
			const uint8_t *v = r.b.virt;
			uint64_t next = FRAME - r.pm % FRAME; /* first byte of the next frame */
			uint64_t offs[] = { 0, next - 1, next, r.b.len - 1 };

			seam = true;
			for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
				uint64_t phys = 0;

				if (contig_virt_to_phys(c, v + offs[i], &phys) < 0 ||
				    phys != harness_phys_of(self, v + offs[i]))
					seam = false;
			}
		}
		if (granted(c, &r, err, r.pm / FRAME != (r.pm + r.b.len - 1) / FRAME, true,
			    "buffer_over_two_frames_is_physically_contiguous_per_pagemap"))
			contig_free(c, r.b.virt);
		ok(seam, "virt_to_phys_across_a_frame_seam_matches_pagemap");

		settle(c, &st);
		rec_init(&r, st.pools[0].largest_free_len);
		err = rec_alloc(c, &r);
		granted(c, &r, err, true, false,
			"buffer_as_long_as_largest_free_len_is_granted_and_contiguous");
	} else {
		ok(true,
		   "buffer_over_two_frames_is_physically_contiguous_per_pagemap # SKIP no two "
		   "adjacent free frames this run");
		ok(true, "virt_to_phys_across_a_frame_seam_matches_pagemap # SKIP no two adjacent "
			 "free frames this run");
		ok(true,
		   "buffer_as_long_as_largest_free_len_is_granted_and_contiguous # SKIP no two "
		   "adjacent free frames this run");
	}

	settle(c, &st);
	contig_alloc_req_init(&req, st.pools[0].largest_free_len + PAGE);
	refused(c, &req, -ENOMEM, NULL, "request_beyond_largest_free_len_gets_enomem");
}

/* What a child process saw of the buffer it holds. */
struct node_report {
	int err;
	int node;	 /* as the library reports it */
	int policy_err;	 /* errno of get_mempolicy, 0 if it worked */
	int policy_node; /* the kernel's node for the first and last byte: -1 if they differ */
	uint64_t virt, phys, len;
};

static int child_alloc_on_node(int fd, void *arg)
{
	struct contig_alloc_req req;
	struct node_report rep = { .policy_node = -1 };
	struct contig_client *c;
	struct contig_buffer b;
	char go;

	if (contig_connect(NULL, &c) < 0)
		return 1;
	contig_alloc_req_init(&req, 3 * PAGE);
	req.node = *(int *)arg;
	rep.err = contig_alloc(c, &req, &b);
	if (rep.err == 0) {
		int first = -1, last = -1;

		memset(b.virt, 0x6e, b.len);
		if (get_mempolicy(&first, NULL, 0, b.virt, MPOL_F_NODE | MPOL_F_ADDR) < 0 ||
		    get_mempolicy(&last, NULL, 0, (char *)b.virt + b.len - 1,
				  MPOL_F_NODE | MPOL_F_ADDR) < 0)
			rep.policy_err = errno;
		else if (first == last)
			rep.policy_node = first;
		rep.node = b.node;
		rep.virt = (uintptr_t)b.virt;
		rep.phys = b.phys;
		rep.len = b.len;
	}
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	if (rep.err == 0 && contig_free(c, b.virt) < 0)
		return 2;
	contig_disconnect(c);
	return 0;
}

/* node: that node or failure; any takes any. */
static void test_node(struct contig_client *c)
{
	static const struct {
		int node;
		const char *name;
	} wants[] = { { 0, "node_0" }, { CONTIG_NODE_ANY, "node_any" } };
	struct contig_alloc_req req;

	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		struct harness_child ch;
		struct node_report rep;
		int node = wants[i].node;
		uint64_t pm;
		char go = 1;

		harness_child_start(&ch, child_alloc_on_node, &node);
		harness_recv(ch.fd, &rep, sizeof(rep));
		if (!ok(rep.err == 0, "%s_buffer_is_granted", wants[i].name))
			diag("  error %d", rep.err);
		pm = harness_phys_of(ch.pid, (void *)(uintptr_t)rep.virt);
		ok(rep.err == 0 && pm != 0 && pm == rep.phys &&
			   harness_phys_contiguous(ch.pid, (void *)(uintptr_t)rep.virt, rep.len,
						   pm),
		   "%s_buffer_is_where_the_library_says_per_the_childs_pagemap", wants[i].name);
		ok(rep.err == 0 && rep.node == 0, "%s_buffer_reports_node_0", wants[i].name);
		if (!ok(rep.err == 0 && rep.policy_err == 0 && rep.policy_node == 0,
			"%s_buffer_is_on_node_0_per_get_mempolicy", wants[i].name))
			diag("  get_mempolicy: node %d, errno %d", rep.policy_node, rep.policy_err);
		harness_send(ch.fd, &go, 1);
		ok(harness_child_wait(&ch) == 0, "%s_client_frees_and_exits_cleanly",
		   wants[i].name);
	}

	contig_alloc_req_init(&req, PAGE);
	req.node = 5;
	refused(c, &req, -ENOMEM, NULL, "node_without_a_pool_gets_enomem_not_another_node");
	req.node = 5000;
	refused(c, &req, -EINVAL, "node", "node_5000_is_invalid_naming_the_field");
	req.node = -2;
	refused(c, &req, -EINVAL, "node", "node_below_any_is_invalid");
}

/* Cache types: buffers of different types never share a frame. */
static void test_cache_types(struct contig_client *c)
{
	struct rec first[6], second[6];
	struct contig_alloc_req req;
	bool apart = true, packed = true;

	for (int t = 0; t < 6; t++) {
		rec_init(&first[t], PAGE);
		first[t].cache_type = t;
		int err = rec_alloc(c, &first[t]);

		if (!ok(err == 0 && !rec_broken(&first[t]), "cache_type_%d_allocates", t)) {
			rec_diag(&first[t], why(&first[t], err));
			bail_out("cannot go on without a buffer of cache type %d", t);
		}
	}
	for (int t = 0; t < 6; t++) {
		rec_init(&second[t], PAGE);
		second[t].cache_type = t;
		int err = rec_alloc(c, &second[t]);

		if (err < 0 || rec_broken(&second[t])) {
			rec_diag(&second[t], why(&second[t], err));
			bail_out("cannot go on without a second buffer of cache type %d", t);
		}
	}
	for (int t = 0; t < 6; t++) {
		if (second[t].pm / FRAME != first[t].pm / FRAME) {
			packed = false;
			rec_diag(&first[t], "first");
			rec_diag(&second[t], "second, in another frame");
		}
		for (int u = 0; u < 6; u++)
			if (u != t && (first[t].pm / FRAME == first[u].pm / FRAME ||
				       first[t].pm / FRAME == second[u].pm / FRAME)) {
				apart = false;
				rec_diag(&first[t], "shares its frame");
			}
	}
	ok(apart, "small_buffers_of_different_cache_types_never_share_a_frame");
	ok(packed, "two_small_buffers_of_one_cache_type_pack_into_one_frame");
	for (int t = 0; t < 6; t++) {
		contig_free(c, first[t].b.virt);
		contig_free(c, second[t].b.virt);
	}

	contig_alloc_req_init(&req, PAGE);
	req.cache_type = 6;
	refused(c, &req, -EINVAL, "cache_type", "cache_type_6_is_invalid_naming_the_field");
	req.cache_type = -1;
	refused(c, &req, -EINVAL, "cache_type", "cache_type_minus_1_is_invalid");
}

/* Is @r still live and usable: writable, known to virt_to_phys, and there in
 * pagemap? Counted by the daemon too (@nbuffers of this client). */
static bool still_live(struct contig_client *c, struct rec *r, uint32_t nbuffers, uint8_t v)
{
	uint8_t *last = (uint8_t *)r->b.virt + r->b.len - 1;
	struct contig_stats st;
	uint64_t phys = 0;

	/* Ask the library first: a buffer it let go is unmapped, not writable. */
	if (contig_virt_to_phys(c, last, &phys) < 0)
		return false;
	rec_fill(r, v);
	return rec_intact(r) && phys == harness_phys_of(self, last) &&
	       phys == r->pm + r->b.len - 1 && contig_get_stats(c, &st) == 0 &&
	       st.my_nbuffers == nbuffers;
}

/* contig_free_checked: nothing is freed on a mismatch. */
static void test_checked_free(struct contig_client *c)
{
	struct rec r;
	uint64_t phys;
	int err;

	rec_init(&r, 10000);
	r.cache_type = CONTIG_WRITE_COMBINED;
	if (rec_alloc(c, &r) < 0 || rec_broken(&r))
		bail_out("alloc: %s", contig_last_message());

	err = contig_free_checked(c, r.b.virt, 10001, CONTIG_WRITE_COMBINED);
	ok(err == -EILSEQ && *contig_last_message(), "checked_free_with_wrong_len_gets_eilseq");
	ok(still_live(c, &r, 1, 0x11), "buffer_is_live_and_usable_after_a_wrong_len_free");
	err = contig_free_checked(c, r.b.virt, 10000, CONTIG_CACHED);
	ok(err == -EILSEQ && *contig_last_message(),
	   "checked_free_with_wrong_cache_type_gets_eilseq");
	ok(still_live(c, &r, 1, 0x22), "buffer_is_live_and_usable_after_a_wrong_cache_type_free");
	err = contig_free(c, (char *)r.b.virt + PAGE);
	ok(err == -ENOENT, "free_of_a_non_base_address_gets_enoent");
	err = contig_free(c, (char *)r.b.virt + 1);
	ok(err == -ENOENT, "free_of_the_second_byte_gets_enoent");
	ok(still_live(c, &r, 1, 0x33), "buffer_is_live_and_usable_after_a_non_base_free");
	err = contig_free_checked(c, r.b.virt, 10000, CONTIG_WRITE_COMBINED);
	ok(err == 0, "checked_free_with_matching_len_and_cache_type_frees");
	ok(contig_virt_to_phys(c, r.b.virt, &phys) == -ENOENT,
	   "freed_buffer_is_unknown_to_virt_to_phys");
	ok(contig_free(c, r.b.virt) == -ENOENT, "second_free_of_a_buffer_gets_enoent");
}

/* contig_virt_to_phys agrees with pagemap at both ends and in the middle of
 * a buffer, and knows nothing just outside it. */
static void test_virt_to_phys(struct contig_client *c)
{
	struct contig_stats st;
	struct rec r;
	const uint8_t *v;
	uint64_t phys = 0;

	settle(c, &st); /* the only buffer of this client: nothing lies beside it */
	rec_init(&r, 5 * PAGE + 123);
	if (rec_alloc(c, &r) < 0 || rec_broken(&r))
		bail_out("alloc: %s", contig_last_message());
	v = r.b.virt;
	ok(contig_virt_to_phys(c, v, &phys) == 0 && phys == harness_phys_of(self, v),
	   "virt_to_phys_of_the_first_byte_matches_pagemap");
	ok(contig_virt_to_phys(c, v + r.b.len / 2 + 7, &phys) == 0 &&
		   phys == harness_phys_of(self, v + r.b.len / 2 + 7),
	   "virt_to_phys_of_a_middle_byte_matches_pagemap");
	ok(contig_virt_to_phys(c, v + r.b.len - 1, &phys) == 0 &&
		   phys == harness_phys_of(self, v + r.b.len - 1),
	   "virt_to_phys_of_the_last_byte_matches_pagemap");
	ok(contig_virt_to_phys(c, v + r.b.len, &phys) == -ENOENT,
	   "virt_to_phys_one_byte_past_the_end_gets_enoent");
	ok(contig_virt_to_phys(c, v - 1, &phys) == -ENOENT,
	   "virt_to_phys_one_byte_before_the_start_gets_enoent");
	contig_free(c, r.b.virt);
}

/* Many small buffers with mixed constraints pack without overlapping. */
static void test_packing(struct contig_client *c, unsigned *seed)
{
	static struct rec recs[NPACKED];
	static uint64_t used[NPACKED];
	size_t n = 0, nused = 0;
	int nbad = 0, ncorrupt = 0, nfree_failed = 0;
	struct contig_stats st;

	for (int i = 0; i < NPACKED; i++) {
		struct rec *r = &recs[n];

		rec_init(r, PAGE + rand_r(seed) % (60 * 1024 + 1));
		if (rand_r(seed) % 4 == 0)
			r->align = PAGE << (rand_r(seed) % 5);
		if (rand_r(seed) % 2)
			r->boundary = harness_pow2_ceil(harness_round_page(r->req_len)) << (rand_r(seed) % 6);
		r->cache_type = (int)(rand_r(seed) % 6);
		if (rec_alloc(c, r) < 0) {
			rec_diag(r, contig_last_message());
			continue;
		}
		if (rec_broken(r)) {
			nbad++;
			rec_diag(r, rec_broken(r));
		}
		rec_fill(r, (uint8_t)(i * 7 + 1));
		n++;
	}
	is_u64(n, NPACKED, "small_buffers_with_mixed_constraints_are_all_granted");
	ok(nbad == 0, "packed_buffers_each_honour_every_constraint_per_pagemap");
	ok(count_overlaps(recs, n) == 0, "packed_buffers_never_overlap_physically_per_pagemap");
	ok(count_mixed_frames(recs, n) == 0,
	   "packed_buffers_of_different_cache_types_never_share_a_frame");
	for (size_t i = 0; i < n; i++)
		if (!rec_intact(&recs[i]))
			ncorrupt++;
	ok(ncorrupt == 0, "every_packed_buffer_keeps_its_own_bytes");
	for (size_t i = 0; i < n; i++)
		used[i] = recs[i].pm / FRAME;
	qsort(used, n, sizeof(used[0]), harness_cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || used[i] != used[i - 1])
			nused++;
	diag("%zu buffers in %zu frames", n, nused);
	ok(n > 0 && nused < n / 4, "small_buffers_pack_many_to_a_frame");
	for (size_t i = 0; i < n; i++)
		if (contig_free_checked(c, recs[i].b.virt, recs[i].req_len, recs[i].cache_type) < 0)
			nfree_failed++;
	ok(nfree_failed == 0, "each_packed_buffer_frees_with_its_own_len_and_cache_type");
	ok(contig_trim(c) == 0 && harness_wait_stats(c, all_free, NULL),
	   "pool_is_all_free_after_everything_is_freed");
	ok(contig_get_stats(c, &st) == 0 && st.pools[0].total_len == POOL_LEN &&
		   st.nframes_lost == 0 && st.pools[0].nframes_owned == 0,
	   "no_frame_is_lost_or_left_owned");
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:64M", NULL };
	const char *env_seed = getenv("CONTIG_TEST_SEED");
	unsigned seed = env_seed ? (unsigned)strtoul(env_seed, NULL, 0) : 20240611u;
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_stats st;

	self = getpid();
	diag("seed %u (CONTIG_TEST_SEED to replay)", seed);
	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	settle(c, &st);
	is_u64(st.pools[0].total_len, POOL_LEN, "pool_holds_what_was_asked");

	discover_frames(c);
	test_window(c);
	settle(c, &st);
	test_boundary(c, &seed);
	settle(c, &st);
	test_align(c);
	test_len(c);
	test_multi_frame(c);
	settle(c, &st);
	test_node(c);
	settle(c, &st);
	test_cache_types(c);
	test_checked_free(c);
	test_virt_to_phys(c);
	settle(c, &st);
	test_packing(c, &seed);

	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
