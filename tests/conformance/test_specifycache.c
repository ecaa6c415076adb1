/* test_specifycache.c - MmAllocateContiguousMemorySpecifyCache and
 * MmAllocateContiguousMemory (client/contig_wdm.h) against what the Windows
 * documentation says of them (../shared/seeds/), one TAP test per sentence.
 *
 * One daemon with a 64 MiB pool of 2 MiB frames on node 0; this process is
 * the driver. No physical address is taken from the routines: every claim is
 * checked on what /proc/self/pagemap gives for the returned mapping. Nor is
 * the pool's layout assumed: the test first takes every frame once (2 MiB
 * buffers that may not cross a 2 MiB boundary are whole frames), reads where
 * the kernel put each, and builds its windows around those addresses, so
 * that "ends exactly at HighestAcceptableAddress" or "exactly meets its
 * boundary" are tested at the edge. A case that this run's layout cannot
 * give (no two adjacent frames, a pool starting at 0) is a # SKIP.
 */
#include <string.h>
#include <unistd.h>

#include "contig_wdm.h"
#include "harness.h"

#define PAGE UINT64_C(4096)
#define KiB UINT64_C(1024)
#define FRAME (2 * MiB)
#define POOL_LEN (64 * MiB)
#define MAX_FRAMES 64
#define NO_LIMIT UINT64_MAX

static pid_t self;

/* The pool as pagemap shows it: each frame's physical address, sorted. */
static uint64_t frames[MAX_FRAMES];
static size_t nframes;
static uint64_t longest_run; /* bytes of the longest run of adjacent frames */
static size_t longest_at;    /* index in frames[] of its first frame */

/* One request, what the routine returned, and where pagemap says it is. */
struct wbuf {
	uint64_t len; /* NumberOfBytes */
	uint64_t lowest, highest, boundary;
	MEMORY_CACHING_TYPE cache;
	void *virt;   /* what the routine returned */
	uint64_t pm;  /* pagemap's address of the first byte; 0: not contiguous */
};

static PHYSICAL_ADDRESS pa(uint64_t v)
{
	PHYSICAL_ADDRESS p;

	p.QuadPart = (LONGLONG)v;
	return p;
}

static uint64_t round_page(uint64_t len)
{
	return (len + PAGE - 1) & ~(PAGE - 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct wbuf wb(uint64_t len, uint64_t lowest, uint64_t highest, uint64_t boundary,
		      MEMORY_CACHING_TYPE cache)
{
	return (struct wbuf){ .len = len, .lowest = lowest, .highest = highest,
			      .boundary = boundary, .cache = cache };
}

/* Where pagemap puts the first byte of [virt, virt + len), if all of it is
 * physically contiguous from there; else 0. */
static uint64_t pagemap_phys(const void *virt, uint64_t len)
{
	uint64_t phys = harness_phys_of(self, virt);

	if (phys == 0 || !harness_phys_contiguous(self, virt, len, phys))
		return 0;
	return phys;
}

/* MmAllocateContiguousMemorySpecifyCache with @w's parameters. */
static void *wb_alloc(struct wbuf *w)
{
	w->virt = MmAllocateContiguousMemorySpecifyCache((SIZE_T)w->len, pa(w->lowest),
							 pa(w->highest), pa(w->boundary), w->cache);
	w->pm = w->virt ? pagemap_phys(w->virt, w->len) : 0;
	return w->virt;
}

/* Which documented promise @w breaks per pagemap, or NULL. */
static const char *wb_broken(const struct wbuf *w)
{
	uint64_t last;

	if (!w->virt)
		return "NULL";
	if ((uintptr_t)w->virt % PAGE)
		return "base virtual address not page aligned";
	if (w->pm == 0)
		return "not physically contiguous per pagemap";
	if (w->pm % PAGE)
		return "physical start not page aligned";
	/* The buffer is the size rounded up to pages (DESIGN.md). */
	last = w->pm + round_page(w->len) - 1;
	if (w->pm < w->lowest || last > w->highest)
		return "not inside [Lowest, Highest]";
	if (w->boundary && w->pm / w->boundary != last / w->boundary)
		return "crosses a multiple of BoundaryAddressMultiple";
	return NULL;
}

static void wb_diag(const struct wbuf *w, const char *why)
{
	diag("  %s: NumberOfBytes %" PRIu64 ", [0x%" PRIx64 ", 0x%" PRIx64 "], boundary 0x%" PRIx64
	     ", cache type %d -> %p, pagemap 0x%" PRIx64,
	     why, w->len, w->lowest, w->highest, w->boundary, (int)w->cache, w->virt, w->pm);
}

/* Report @name: @w was granted, keeps every promise per pagemap, and @cond
 * holds. Frees it unless @keep and it is good. Returns whether it was. */
static bool wb_granted(struct wbuf *w, bool cond, bool keep, const char *name)
{
	bool good = w->virt && !wb_broken(w) && cond;

	if (!ok(good, "%s", name))
		wb_diag(w, w->virt ? (wb_broken(w) ? wb_broken(w) : "granted, not where it must be")
				   : "NULL");
	if (w->virt && !(keep && good)) {
		MmFreeContiguousMemory(w->virt);
		w->virt = NULL;
	}
	return good;
}

/* Report @name: @w is refused (NULL). A buffer granted by mistake is freed. */
static void wb_refused(struct wbuf *w, const char *name)
{
	wb_alloc(w);
	if (!ok(w->virt == NULL, "%s", name))
		wb_diag(w, "granted, but NULL was due");
	if (w->virt) {
		MmFreeContiguousMemory(w->virt);
		w->virt = NULL;
	}
}

static void skip(const char *name, const char *why)
{
	ok(true, "%s # SKIP %s", name, why);
}

static void fill(void *virt, uint64_t len, uint8_t v)
{
	memset(virt, v, len);
}

static bool intact(const void *virt, uint64_t len, uint8_t v)
{
	const uint8_t *p = virt;

	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->npools == 1 && st->pools[0].free_len == st->pools[0].total_len &&
	       st->pools[0].nframes_recycling == 0 && st->pools[0].nbuffers == 0 &&
	       st->my_nbuffers == 0;
}

/* Wait until everything freed so far is back in the pool (recycling is
 * asynchronous): each poll is a round trip, not a sleep. */
static void settle(struct contig_stats *ret_st)
{
	struct contig_client *c = ContigWdmClient();

	if (!c)
		bail_out("ContigWdmClient: no connection to the daemon");
	if (!harness_wait_stats(c, all_free, NULL))
		bail_out("the pool did not return to all free");
	if (contig_get_stats(c, ret_st) < 0)
		bail_out("stats: %s", contig_last_message());
}

static uint32_t my_nbuffers(void)
{
	struct contig_stats st;

	if (contig_get_stats(ContigWdmClient(), &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st.my_nbuffers;
}

/* Take every frame once through the routine (2 MiB that may not cross a
 * 2 MiB multiple is one whole frame), read where each is, free them. */
static void discover_frames(void)
{
	static void *bufs[MAX_FRAMES];
	struct contig_stats st;
	bool whole = true;
	uint64_t run = 0;

	for (int attempt = 0;; attempt++) {
		uint64_t moved;

		settle(&st);
		moved = st.nrecycle_moved;
		whole = true;
		for (nframes = 0; nframes < MAX_FRAMES; nframes++) {
			struct wbuf w = wb(FRAME, 0, NO_LIMIT, FRAME, MmCached);

			if (!wb_alloc(&w))
				break;
			bufs[nframes] = w.virt;
			frames[nframes] = w.pm;
			if (wb_broken(&w) || w.pm % FRAME)
				whole = false;
		}
		for (size_t i = 0; i < nframes; i++)
			MmFreeContiguousMemory(bufs[i]);
		settle(&st);
		if (st.nrecycle_moved == moved)
			break;
		if (attempt == 2)
			bail_out("frames keep moving to other pages on recycling: no stable map");
		diag("a frame came back on another page; mapping the pool again");
	}
	is_u64(nframes, POOL_LEN / FRAME, "specifycache_grants_every_frame_of_the_pool_in_turn");
	ok(whole, "specifycache_2MiB_not_crossing_2MiB_is_one_whole_frame_per_pagemap");
	if (nframes == 0 || !whole)
		bail_out("no frame map to build windows around");
	qsort(frames, nframes, sizeof(frames[0]), cmp_u64);
	for (size_t i = 0; i < nframes; i++) {
		if (i > 0 && frames[i] == frames[i - 1])
			bail_out("frame 0x%" PRIx64 " granted twice", frames[i]);
		if (i == 0 || frames[i] != frames[i - 1] + FRAME)
			run = 0;
		run += FRAME;
		if (run > longest_run) {
			longest_run = run;
			longest_at = i + 1 - run / FRAME;
		}
	}
	diag("pool: %zu frames from 0x%" PRIx64 " to 0x%" PRIx64 ", longest run %" PRIu64
	     " MiB at 0x%" PRIx64,
	     nframes, frames[0], frames[nframes - 1], longest_run >> 20, frames[longest_at]);
}

/* "returns the base virtual address for the allocated memory"; "maps this
 * block to a contiguous block of virtual memory". */
static void test_returns_base(void)
{
	struct wbuf w = wb(3 * PAGE + 100, 0, NO_LIMIT, 0, MmCached);
	uint32_t before = my_nbuffers();

	wb_alloc(&w);
	if (!wb_granted(&w, true, true, "specifycache_returns_base_virtual_address"))
		return;
	ok(harness_phys_contiguous(self, w.virt, w.len, w.pm),
	   "specifycache_block_is_virtually_and_physically_contiguous_per_pagemap");
	fill(w.virt, w.len, 0x5a);
	ok(intact(w.virt, w.len, 0x5a), "specifycache_memory_is_writable_over_its_whole_length");
	is_u64(my_nbuffers(), before + 1, "specifycache_allocates_one_buffer");
	MmFreeContiguousMemory(w.virt);
	is_u64(my_nbuffers(), before, "specifycache_base_is_what_mmfreecontiguousmemory_frees");
}

/* "aligns the starting address ... to a memory page boundary": odd sizes
 * one after another, all held, each starts on a page of its own. */
static void test_page_aligned(void)
{
	static const uint64_t lens[] = { 1, 100, PAGE - 1, PAGE + 1, 5000, 12345, 3 * PAGE };
	struct wbuf w[sizeof(lens) / sizeof(lens[0])];
	size_t n = sizeof(lens) / sizeof(lens[0]);
	bool aligned = true, apart = true, kept = true;

	for (size_t i = 0; i < n; i++) {
		w[i] = wb(lens[i], 0, NO_LIMIT, 0, MmCached);
		wb_alloc(&w[i]);
		if (wb_broken(&w[i])) {
			aligned = false;
			wb_diag(&w[i], wb_broken(&w[i]));
		}
	}
	ok(aligned, "specifycache_start_is_page_aligned");
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (w[i].pm && w[j].pm && w[i].pm < w[j].pm + round_page(w[j].len) &&
			    w[j].pm < w[i].pm + round_page(w[i].len)) {
				apart = false;
				wb_diag(&w[i], "shares a page");
				wb_diag(&w[j], "with");
			}
	ok(apart, "specifycache_odd_sized_buffers_never_share_a_page_per_pagemap");
	for (size_t i = 0; i < n; i++)
		if (w[i].virt)
			fill(w[i].virt, w[i].len, (uint8_t)(0x11 * (i + 1)));
	for (size_t i = 0; i < n; i++)
		if (!w[i].virt || !intact(w[i].virt, w[i].len, (uint8_t)(0x11 * (i + 1))))
			kept = false;
	ok(kept, "specifycache_odd_sized_buffers_are_writable_and_keep_their_own_bytes");
	for (size_t i = 0; i < n; i++)
		if (w[i].virt)
			MmFreeContiguousMemory(w[i].virt);
}

/* "LowestAcceptableAddress / HighestAcceptableAddress": the whole buffer
 * lies in [lowest, highest], inclusive; windows around real frames. */
static void test_window(void)
{
	uint64_t lo = frames[0], top = frames[nframes - 1];
	uint64_t t = frames[nframes / 2];
	uint64_t len = 64 * KiB;
	struct contig_stats st;
	struct wbuf w, pin;
	size_t i;

	w = wb(len, t, t + len - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t, false, "specifycache_whole_buffer_within_lowest_highest");
	settle(&st); /* each window below names one frame: it must be free again */

	w = wb(len, 0, lo + len - 1, 0, MmCached); /* the pool's first len bytes: the only room */
	wb_alloc(&w);
	wb_granted(&w, w.pm + len - 1 == w.highest, false,
		   "specifycache_buffer_ending_exactly_at_highest_is_granted");
	settle(&st);

	w = wb(len, top + FRAME - len, NO_LIMIT, 0, MmCached); /* the pool's last len bytes */
	wb_alloc(&w);
	wb_granted(&w, w.pm == w.lowest, false,
		   "specifycache_buffer_starting_exactly_at_lowest_is_granted");
	settle(&st);

	w = wb(len + 1, 0, lo + round_page(len + 1) - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == lo, false,
		   "specifycache_size_rounded_to_pages_still_fits_a_window_of_whole_pages");
	settle(&st);

	w = wb(len, t + MiB + 1, t + FRAME - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm >= t + MiB + PAGE && w.pm / FRAME == t / FRAME, false,
		   "specifycache_lowest_inside_a_page_starts_at_the_next_page");
	settle(&st);

	w = wb(len, t, t + len - 2, 0, MmCached);
	wb_refused(&w, "specifycache_window_one_byte_smaller_than_size_returns_null");
	w = wb(len, t + 1, t + len, 0, MmCached);
	wb_refused(&w, "specifycache_window_of_size_bytes_not_page_aligned_returns_null");
	w = wb(len, 0, lo + len - 2, 0, MmCached);
	wb_refused(&w, "specifycache_window_ending_one_byte_short_of_room_returns_null");
	w = wb(len, top + FRAME - len + 1, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_window_starting_one_byte_past_room_returns_null");
	w = wb(PAGE, t + len, t, 0, MmCached);
	wb_refused(&w, "specifycache_lowest_above_highest_returns_null");
	w = wb(PAGE, t + 1, t, 0, MmCached);
	wb_refused(&w, "specifycache_lowest_one_above_highest_returns_null");

	/* "returns NULL" when no range satisfies: below, above, between frames. */
	if (lo >= PAGE) {
		w = wb(PAGE, 0, lo - 1, 0, MmCached);
		wb_refused(&w, "specifycache_returns_null_when_the_window_is_below_the_pool");
	} else {
		skip("specifycache_returns_null_when_the_window_is_below_the_pool",
		     "the pool starts at physical 0");
	}
	w = wb(PAGE, top + FRAME, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_returns_null_when_the_window_is_above_the_pool");
	for (i = 0; i + 1 < nframes && frames[i] + FRAME == frames[i + 1]; i++)
		;
	if (i + 1 < nframes) {
		w = wb(PAGE, frames[i] + FRAME, frames[i + 1] - 1, 0, MmCached);
		wb_refused(&w, "specifycache_returns_null_when_the_window_is_a_gap_between_frames");
	} else {
		skip("specifycache_returns_null_when_the_window_is_a_gap_between_frames",
		     "the pool is one run of frames");
	}
	/* A window whose only frame is partly in use cannot hold a whole frame. */
	pin = wb(PAGE, t, t + PAGE - 1, 0, MmCached);
	wb_alloc(&pin);
	if (wb_granted(&pin, pin.pm == t, true, "specifycache_one_page_window_is_granted_there")) {
		w = wb(FRAME, t, t + FRAME - 1, 0, MmCached);
		wb_refused(&w, "specifycache_returns_null_when_the_window_is_partly_in_use");
		MmFreeContiguousMemory(pin.virt);
	} else {
		skip("specifycache_returns_null_when_the_window_is_partly_in_use",
		     "could not pin a page");
	}
	settle(&st);
}

/* "PHYSICAL_ADDRESS values are read as unsigned 64-bit": -1 is no limit. */
static void test_highest_no_limit(void)
{
	uint64_t top = frames[nframes - 1];
	PHYSICAL_ADDRESS lowest, highest, none;
	struct contig_stats st;
	struct wbuf w;

	lowest.QuadPart = (LONGLONG)top;
	highest.QuadPart = -1;
	none.QuadPart = 0;
	w = wb(PAGE, top, NO_LIMIT, 0, MmCached);
	w.virt = MmAllocateContiguousMemorySpecifyCache(PAGE, lowest, highest, none, MmCached);
	w.pm = w.virt ? pagemap_phys(w.virt, PAGE) : 0;
	wb_granted(&w, w.pm / FRAME == top / FRAME, false,
		   "specifycache_highest_minus_one_means_no_limit");
	settle(&st);

	w = wb(PAGE, top, UINT64_C(1) << 63, 0, MmCached); /* QuadPart < 0 */
	wb_alloc(&w);
	wb_granted(&w, w.pm / FRAME == top / FRAME, false,
		   "specifycache_negative_highest_is_read_as_unsigned");

	w = wb(PAGE, NO_LIMIT, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_lowest_minus_one_returns_null");
}

/* NumberOfBytes edges. */
static void test_size(void)
{
	struct contig_stats st;
	struct wbuf w;

	w = wb(0, 0, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_size_0_returns_null");
	w = wb(POOL_LEN + PAGE, 0, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_size_larger_than_any_pool_returns_null");
	w = wb(UINT64_C(1) << 62, 0, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_size_2_pow_62_returns_null");
	w = wb(SIZE_MAX, 0, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_size_max_returns_null");
	w = wb(longest_run + 1, 0, NO_LIMIT, 0, MmCached);
	wb_refused(&w, "specifycache_returns_null_for_one_byte_more_than_the_longest_run");

	w = wb(longest_run, 0, NO_LIMIT, 0, MmCached);
	wb_alloc(&w);
	/* Contiguous per pagemap and as long as the longest run: it is one. */
	if (wb_granted(&w, w.pm % FRAME == 0, true,
		       "specifycache_block_as_long_as_the_longest_run_is_granted")) {
		fill(w.virt, w.len, 0xa5);
		ok(intact(w.virt, w.len, 0xa5),
		   "specifycache_longest_block_is_writable_over_its_whole_length");
		MmFreeContiguousMemory(w.virt);
	} else {
		skip("specifycache_longest_block_is_writable_over_its_whole_length", "not granted");
	}
	settle(&st);
	if (longest_run >= 2 * FRAME) {
		uint64_t seam = frames[longest_at + 1];

		w = wb(FRAME + PAGE + 1, 0, NO_LIMIT, 0, MmCached);
		wb_alloc(&w);
		wb_granted(&w, w.pm / FRAME != (w.pm + w.len - 1) / FRAME, false,
			   "specifycache_block_larger_than_a_frame_is_physically_contiguous");
		settle(&st);
		w = wb(128 * KiB, seam - 64 * KiB, seam + 64 * KiB - 1, 0, MmCached);
		wb_alloc(&w);
		wb_granted(&w, w.pm == w.lowest, false,
			   "specifycache_window_across_two_adjacent_frames_is_filled_exactly");
	} else {
		skip("specifycache_block_larger_than_a_frame_is_physically_contiguous",
		     "no two frames are adjacent this run");
		skip("specifycache_window_across_two_adjacent_frames_is_filled_exactly",
		     "no two frames are adjacent this run");
	}
}

/* "will not cross an address boundary that is an integer multiple of this
 * value"; "must always be a power of two"; 0 = no restriction. */
static void test_boundary(void)
{
	static const uint64_t exact[] = { 2 * PAGE, 16 * KiB, 64 * KiB, MiB, FRAME };
	static const uint64_t lens[] = { PAGE + 1, 3 * PAGE, 10000, 40000, 100000, 300000 };
	struct wbuf live[40], first, w;
	uint64_t t = frames[nframes / 2];
	struct contig_stats st;
	size_t nlive = 0;
	bool good = true;
	char name[128];

	/* A page first, so that the next free byte is on no boundary. */
	first = wb(PAGE, 0, NO_LIMIT, 0, MmCached);
	if (!wb_alloc(&first))
		bail_out("cannot allocate one page");
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		w = wb(exact[i], 0, NO_LIMIT, exact[i], MmCached);
		wb_alloc(&w);
		snprintf(name, sizeof(name),
			 "specifycache_size_equal_to_boundary_%" PRIu64 "KiB_starts_on_a_multiple",
			 exact[i] >> 10);
		if (wb_granted(&w, w.pm % exact[i] == 0, true, name))
			live[nlive++] = w;
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int k = 0; k < 3; k++) {
			uint64_t b = PAGE;

			while (b < lens[i])
				b <<= 1;
			w = wb(lens[i], 0, NO_LIMIT, b << k, k == 1 ? MmWriteCombined : MmCached);
			wb_alloc(&w);
			if (wb_broken(&w)) {
				good = false;
				wb_diag(&w, wb_broken(&w));
			}
			if (w.virt)
				live[nlive++] = w;
		}
	ok(good, "specifycache_boundary_not_crossed");
	while (nlive)
		MmFreeContiguousMemory(live[--nlive].virt);
	MmFreeContiguousMemory(first.virt);
	settle(&st);

	/* At the edges, inside the free frame t (a multiple of 64 KiB): the
	 * only placement that does not cross t + 64K ends exactly there... */
	w = wb(36 * KiB, t + 28 * KiB, t + 96 * KiB - 1, 64 * KiB, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 28 * KiB && w.pm + w.len == t + 64 * KiB, false,
		   "specifycache_buffer_ending_exactly_at_a_boundary_is_granted");
	settle(&st);
	/* ... or starts exactly there. */
	w = wb(36 * KiB, t + 32 * KiB, t + 100 * KiB - 1, 64 * KiB, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 64 * KiB, false,
		   "specifycache_buffer_starting_exactly_at_a_boundary_is_granted");
	settle(&st);
	/* Every placement in the window would cross: NULL. */
	w = wb(64 * KiB, t + PAGE, t + 128 * KiB - PAGE - 1, 64 * KiB, MmCached);
	wb_refused(&w, "specifycache_returns_null_when_every_placement_crosses_the_boundary");
	w = wb(8 * KiB, t + 60 * KiB, t + 68 * KiB - 1, 64 * KiB, MmCached);
	wb_refused(&w, "specifycache_returns_null_when_the_only_placement_straddles_a_multiple");
	w = wb(8 * KiB, t + 60 * KiB, t + 68 * KiB - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 60 * KiB, false,
		   "specifycache_boundary_0_means_no_boundary_restriction");
	w = wb(PAGE, 0, NO_LIMIT, UINT64_C(1) << 63, MmCached); /* QuadPart < 0 */
	wb_alloc(&w);
	wb_granted(&w, true, false, "specifycache_boundary_2_pow_63_is_a_valid_power_of_two");
	w = wb(PAGE, 0, NO_LIMIT, PAGE, MmCached);
	wb_alloc(&w);
	wb_granted(&w, true, false, "specifycache_boundary_equal_to_size_is_valid");

	w = wb(2 * PAGE, 0, NO_LIMIT, PAGE, MmCached);
	wb_refused(&w, "specifycache_boundary_smaller_than_size_returns_null");
	w = wb(64 * KiB + 1, 0, NO_LIMIT, 64 * KiB, MmCached);
	wb_refused(&w, "specifycache_boundary_one_byte_smaller_than_rounded_size_returns_null");
	w = wb(PAGE, 0, NO_LIMIT, 3 * 64 * KiB, MmCached);
	wb_refused(&w, "specifycache_boundary_not_a_power_of_two_returns_null");
	w = wb(PAGE, 0, NO_LIMIT, 64 * KiB + PAGE, MmCached);
	wb_refused(&w, "specifycache_boundary_power_of_two_plus_a_page_returns_null");
	w = wb(PAGE, 0, NO_LIMIT, UINT64_MAX, MmCached); /* QuadPart -1 */
	wb_refused(&w, "specifycache_boundary_minus_one_returns_null");
}

/* "CacheType: a MEMORY_CACHING_TYPE value": each allocates; buffers of
 * different types never share a frame (DESIGN.md, "Cache types"). */
static void test_cache_types(void)
{
	static const struct {
		MEMORY_CACHING_TYPE type;
		const char *name;
	} types[] = {
		{ MmNonCached, "MmNonCached" },
		{ MmCached, "MmCached" },
		{ MmWriteCombined, "MmWriteCombined" },
		{ MmHardwareCoherentCached, "MmHardwareCoherentCached" },
		{ MmNonCachedUnordered, "MmNonCachedUnordered" },
		{ MmUSWCCached, "MmUSWCCached" },
	};
	static const struct {
		int type;
		const char *name;
	} bad[] = { { MmMaximumCacheType, "MmMaximumCacheType" },
		    { MmNotMapped, "MmNotMapped" },
		    { 42, "42" } };
	enum { NT = sizeof(types) / sizeof(types[0]), PER = 4 };
	static struct wbuf w[NT * PER];
	bool apart = true, kept = true;
	struct contig_stats st;
	char name[128];
	size_t n = 0;

	for (size_t k = 0; k < PER; k++)
		for (size_t i = 0; i < NT; i++) {
			struct wbuf *b = &w[n];

			*b = wb(k == 0 ? PAGE : PAGE * (1 + (k * 7 + i * 3) % 23), 0, NO_LIMIT, 0,
				types[i].type);
			wb_alloc(b);
			if (k == 0) {
				snprintf(name, sizeof(name), "specifycache_cache_type_%s_allocates",
					 types[i].name);
				if (!wb_granted(b, true, true, name))
					continue;
			} else if (wb_broken(b)) {
				wb_diag(b, wb_broken(b));
				if (b->virt)
					MmFreeContiguousMemory(b->virt);
				kept = false;
				continue;
			}
			fill(b->virt, b->len, (uint8_t)(n + 1));
			n++;
		}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			const struct wbuf *a = &w[i], *b = &w[j];

			if (a->cache == b->cache)
				continue;
			if (a->pm / FRAME <= (b->pm + b->len - 1) / FRAME &&
			    b->pm / FRAME <= (a->pm + a->len - 1) / FRAME) {
				apart = false;
				wb_diag(a, "shares a 2 MiB frame");
				wb_diag(b, "with");
			}
		}
	ok(n == NT * PER && apart,
	   "specifycache_buffers_of_different_cache_types_never_share_a_frame_per_pagemap");
	for (size_t i = 0; i < n; i++)
		if (!intact(w[i].virt, w[i].len, (uint8_t)(i + 1)))
			kept = false;
	ok(kept, "specifycache_buffers_of_every_cache_type_are_writable_and_keep_their_bytes");
	for (size_t i = 0; i < n; i++)
		MmFreeContiguousMemorySpecifyCache(w[i].virt, (SIZE_T)w[i].len, w[i].cache);
	is_u64(my_nbuffers(), 0,
	       "specifycache_buffers_free_through_specifycache_free_with_size_and_type");
	settle(&st);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wbuf b = wb(PAGE, 0, NO_LIMIT, 0, (MEMORY_CACHING_TYPE)bad[i].type);

		snprintf(name, sizeof(name), "specifycache_unknown_cache_type_%s_returns_null",
			 bad[i].name);
		wb_refused(&b, name);
	}
}

/* MmAllocateContiguousMemory(size, highest): cached, lowest 0, no boundary,
 * any node (DESIGN.md, "The routines it mirrors"). */
static void test_allocate_contiguous(void)
{
	uint64_t lo = frames[0], len = 64 * KiB + 1;
	struct wbuf w, nc;
	struct contig_buffer b;
	struct contig_stats st;
	PHYSICAL_ADDRESS highest;
	uint32_t before;

	settle(&st);
	/* A non-cached page held in the lowest frame: a cached buffer must not
	 * join it there, so the lowest room for it is the next frame up. */
	nc = wb(PAGE, lo, lo + PAGE - 1, 0, MmNonCached);
	wb_alloc(&nc);
	if (!wb_granted(&nc, nc.pm == lo, true,
			"allocatecontiguous_setup_non_cached_page_at_the_pool_start"))
		bail_out("cannot pin a non-cached page at 0x%" PRIx64, lo);

	w = wb(len, 0, frames[1] + round_page(len) - 1, 0, MmCached);
	highest.QuadPart = (LONGLONG)w.highest;
	before = my_nbuffers();
	w.virt = MmAllocateContiguousMemory((SIZE_T)len, highest);
	w.pm = w.virt ? pagemap_phys(w.virt, len) : 0;
	if (wb_granted(&w, w.pm / FRAME != nc.pm / FRAME && w.pm + round_page(len) - 1 <= w.highest,
		       true, "allocatecontiguous_is_cached_and_below_highest")) {
		ok(w.pm == frames[1] && w.pm + round_page(len) - 1 == w.highest,
		   "allocatecontiguous_ending_exactly_at_highest_is_granted");
		ok(contig_buffer_of(ContigWdmClient(), w.virt, &b) == 0 && b.virt == w.virt &&
			   b.cache_type == MmCached,
		   "allocatecontiguous_buffer_is_recorded_as_mmcached");
		fill(w.virt, len, 0x3c);
		ok(intact(w.virt, len, 0x3c),
		   "allocatecontiguous_memory_is_writable_over_its_whole_length");
		MmFreeContiguousMemorySpecifyCache(w.virt, (SIZE_T)len, MmCached);
		is_u64(my_nbuffers(), before,
		       "allocatecontiguous_frees_through_specifycache_free_as_mmcached");
	} else {
		skip("allocatecontiguous_ending_exactly_at_highest_is_granted", "not granted");
		skip("allocatecontiguous_buffer_is_recorded_as_mmcached", "not granted");
		skip("allocatecontiguous_memory_is_writable_over_its_whole_length", "not granted");
		skip("allocatecontiguous_frees_through_specifycache_free_as_mmcached",
		     "not granted");
	}
	MmFreeContiguousMemory(nc.virt);
	settle(&st); /* so that the refusals below are for the window, not for recycling */

	highest.QuadPart = (LONGLONG)(lo + 64 * KiB - 2);
	w = wb(64 * KiB, 0, lo + 64 * KiB - 2, 0, MmCached);
	w.virt = MmAllocateContiguousMemory(64 * KiB, highest);
	if (!ok(w.virt == NULL, "allocatecontiguous_returns_null_when_highest_is_one_byte_short"))
		MmFreeContiguousMemory(w.virt);
	if (lo >= PAGE) {
		highest.QuadPart = (LONGLONG)(lo - 1);
		w.virt = MmAllocateContiguousMemory(PAGE, highest);
		if (!ok(w.virt == NULL, "allocatecontiguous_returns_null_below_the_pool"))
			MmFreeContiguousMemory(w.virt);
	} else {
		skip("allocatecontiguous_returns_null_below_the_pool", "the pool starts at 0");
	}

	highest.QuadPart = -1;
	w = wb(3 * PAGE, 0, NO_LIMIT, 0, MmCached);
	w.virt = MmAllocateContiguousMemory(3 * PAGE, highest);
	w.pm = w.virt ? pagemap_phys(w.virt, w.len) : 0;
	wb_granted(&w, true, false, "allocatecontiguous_highest_minus_one_means_no_limit");
	settle(&st);
	if (longest_run >= 2 * FRAME) {
		w = wb(longest_run, 0, NO_LIMIT, 0, MmCached);
		w.virt = MmAllocateContiguousMemory((SIZE_T)longest_run, highest);
		w.pm = w.virt ? pagemap_phys(w.virt, w.len) : 0;
		wb_granted(&w, w.pm % FRAME == 0, false,
			   "allocatecontiguous_has_no_boundary_and_spans_frames");
	} else {
		skip("allocatecontiguous_has_no_boundary_and_spans_frames",
		     "no two frames are adjacent this run");
	}
	w.virt = MmAllocateContiguousMemory(0, highest);
	if (!ok(w.virt == NULL, "allocatecontiguous_size_0_returns_null"))
		MmFreeContiguousMemory(w.virt);
	w.virt = MmAllocateContiguousMemory((SIZE_T)(POOL_LEN + PAGE), highest);
	if (!ok(w.virt == NULL, "allocatecontiguous_size_larger_than_any_pool_returns_null"))
		MmFreeContiguousMemory(w.virt);
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:64M", NULL };
	struct harness_daemon d;
	struct contig_stats st;

	self = getpid();
	harness_daemon_start(&d, args);
	discover_frames();
	test_returns_base();
	test_page_aligned();
	settle(&st);
	test_window();
	test_highest_no_limit();
	settle(&st);
	test_size();
	settle(&st);
	test_boundary();
	settle(&st);
	test_cache_types();
	test_allocate_contiguous();

	ok(harness_wait_stats(ContigWdmClient(), all_free, NULL) &&
		   contig_get_stats(ContigWdmClient(), &st) == 0 && st.nframes_lost == 0 &&
		   st.pools[0].total_len == POOL_LEN,
	   "specifycache_everything_freed_returns_to_the_pool");
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
