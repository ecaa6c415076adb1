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
#include "conformance.h"

#define POOL_LEN (64 * MiB)

static void fill(void *virt, uint64_t len, uint8_t v)
{
	memset(virt, v, len);
}

/* Map the pool through the routine (2 MiB that may not cross a 2 MiB
 * multiple is one whole frame). */
static void discover_frames(void)
{
	map_frames(wb(FRAME, 0, NO_LIMIT, FRAME, MmCached), POOL_LEN / FRAME, NULL,
		   "specifycache_grants_every_frame_of_the_pool_in_turn",
		   "specifycache_2MiB_not_crossing_2MiB_is_one_whole_frame_per_pagemap");
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
	struct wbuf w, pin;
	size_t i;

	w = wb(len, t, t + len - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t, false, "specifycache_whole_buffer_within_lowest_highest");
	settle(); /* each window below names one frame: it must be free again */

	w = wb(len, 0, lo + len - 1, 0, MmCached); /* the pool's first len bytes: the only room */
	wb_alloc(&w);
	wb_granted(&w, w.pm + len - 1 == w.highest, false,
		   "specifycache_buffer_ending_exactly_at_highest_is_granted");
	settle();

	w = wb(len, top + FRAME - len, NO_LIMIT, 0, MmCached); /* the pool's last len bytes */
	wb_alloc(&w);
	wb_granted(&w, w.pm == w.lowest, false,
		   "specifycache_buffer_starting_exactly_at_lowest_is_granted");
	settle();

	w = wb(len + 1, 0, lo + round_page(len + 1) - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == lo, false,
		   "specifycache_size_rounded_to_pages_still_fits_a_window_of_whole_pages");
	settle();

	w = wb(len, t + MiB + 1, t + FRAME - 1, 0, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm >= t + MiB + PAGE && w.pm / FRAME == t / FRAME, false,
		   "specifycache_lowest_inside_a_page_starts_at_the_next_page");
	settle();

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
	settle();
}

/* "PHYSICAL_ADDRESS values are read as unsigned 64-bit": -1 is no limit. */
static void test_highest_no_limit(void)
{
	uint64_t top = frames[nframes - 1];
	PHYSICAL_ADDRESS lowest, highest, none;
	struct wbuf w;

	lowest.QuadPart = (LONGLONG)top;
	highest.QuadPart = -1;
	none.QuadPart = 0;
	w = wb(PAGE, top, NO_LIMIT, 0, MmCached);
	w.virt = MmAllocateContiguousMemorySpecifyCache(PAGE, lowest, highest, none, MmCached);
	wb_locate(&w);
	wb_granted(&w, w.pm / FRAME == top / FRAME, false,
		   "specifycache_highest_minus_one_means_no_limit");
	settle();

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
	settle();
	if (longest_run >= 2 * FRAME) {
		uint64_t seam = frames[longest_at + 1];

		w = wb(FRAME + PAGE + 1, 0, NO_LIMIT, 0, MmCached);
		wb_alloc(&w);
		wb_granted(&w, w.pm / FRAME != (w.pm + w.len - 1) / FRAME, false,
			   "specifycache_block_larger_than_a_frame_is_physically_contiguous");
		settle();
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
	settle();

	/* At the edges, inside the free frame t (a multiple of 64 KiB): the
	 * only placement that does not cross t + 64K ends exactly there... */
	w = wb(36 * KiB, t + 28 * KiB, t + 96 * KiB - 1, 64 * KiB, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 28 * KiB && w.pm + w.len == t + 64 * KiB, false,
		   "specifycache_buffer_ending_exactly_at_a_boundary_is_granted");
	settle();
	/* ... or starts exactly there. */
	w = wb(36 * KiB, t + 32 * KiB, t + 100 * KiB - 1, 64 * KiB, MmCached);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 64 * KiB, false,
		   "specifycache_buffer_starting_exactly_at_a_boundary_is_granted");
	settle();
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
	enum { NT = NCACHE_TYPES, PER = 4 };
	static struct wbuf w[NT * PER];
	bool apart = true, kept = true;
	char name[128];
	size_t n = 0;

	for (size_t k = 0; k < PER; k++)
		for (size_t i = 0; i < NT; i++) {
			struct wbuf *b = &w[n];

			*b = wb(k == 0 ? PAGE : PAGE * (1 + (k * 7 + i * 3) % 23), 0, NO_LIMIT, 0,
				(MEMORY_CACHING_TYPE)i);
			wb_alloc(b);
			if (k == 0) {
				snprintf(name, sizeof(name), "specifycache_cache_type_%s_allocates",
					 cache_type_names[i]);
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
	settle();

	for (size_t i = 0; i < NBAD_CACHE_TYPES; i++) {
		struct wbuf b = wb(PAGE, 0, NO_LIMIT, 0,
				   (MEMORY_CACHING_TYPE)bad_cache_types[i].type);

		snprintf(name, sizeof(name), "specifycache_unknown_cache_type_%s_returns_null",
			 bad_cache_types[i].name);
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
	PHYSICAL_ADDRESS highest;
	uint32_t before;

	settle();
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
	wb_locate(&w);
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
	settle(); /* so that the refusals below are for the window, not for recycling */

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
	wb_locate(&w);
	wb_granted(&w, true, false, "allocatecontiguous_highest_minus_one_means_no_limit");
	settle();
	if (longest_run >= 2 * FRAME) {
		w = wb(longest_run, 0, NO_LIMIT, 0, MmCached);
		w.virt = MmAllocateContiguousMemory((SIZE_T)longest_run, highest);
		wb_locate(&w);
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
	struct harness_daemon d;

	start_daemon(&d, "0:2M:64M", POOL_LEN);
	discover_frames();
	test_returns_base();
	test_page_aligned();
	settle();
	test_window();
	test_highest_no_limit();
	settle();
	test_size();
	settle();
	test_boundary();
	settle();
	test_cache_types();
	test_allocate_contiguous();

	ok_pool_whole("specifycache_everything_freed_returns_to_the_pool", POOL_LEN);
	return finish(&d);
}
