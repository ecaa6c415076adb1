/* test_specifycachenode.c - MmAllocateContiguousMemorySpecifyCacheNode
 * (client/contig_wdm.h) against what the Windows documentation says of it
 * (../shared/seeds/), one TAP test per sentence.
 *
 * One daemon with a 64 MiB pool of 2 MiB frames on node 0; this process is
 * the driver and owns every mapping, so it asks the kernel itself which node
 * a buffer is on (get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)) and where it is
 * (/proc/self/pagemap): nothing the routine or the library says about a
 * physical address or a node is taken on trust. Windows around real frames,
 * as in test_specifycache.c: the pool is mapped once first.
 *
 * Every constraint the routine shares with MmAllocateContiguousMemory-
 * SpecifyCache is checked twice, once with PreferredNode 0 ("node_preferred_")
 * and once with MM_ANY_NODE_OK ("node_any_ok_"). Our documented departure
 * (contig_wdm.h): PreferredNode is strict on every machine, also on one with
 * one node, so a node without a pool gives NULL.
 */
#include "conformance.h"

#define POOL_LEN (64 * MiB)

/* The node requirement a suite runs with, and its test name prefix. */
struct suite {
	NODE_REQUIREMENT node;
	const char *prefix;
};

/* The pool is exhausted now: its node has no satisfactory range. */
static void test_exhausted(void)
{
	struct wbuf w = wb_node(PAGE, 0, NO_LIMIT, 0, MmCached, POOL_NODE);

	wb_refused(&w, "node_preferred_returns_null_when_its_pool_is_exhausted");
	w = wb_node(PAGE, 0, NO_LIMIT, 0, MmCached, MM_ANY_NODE_OK);
	wb_refused(&w, "node_any_ok_returns_null_when_every_pool_is_exhausted");
}

/* Take every frame once on node 0, read where each is, free them. */
static void discover_frames(void)
{
	map_frames(wb_node(FRAME, 0, NO_LIMIT, FRAME, MmCached, POOL_NODE), POOL_LEN / FRAME,
		   test_exhausted, "node_preferred_grants_every_frame_of_its_pool_in_turn",
		   "node_preferred_2MiB_not_crossing_2MiB_is_one_whole_frame_on_the_node");
	diag("pool: %zu frames from 0x%" PRIx64 " to 0x%" PRIx64 ", longest run %" PRIu64 " MiB",
	     nframes, frames[0], frames[nframes - 1], longest_run >> 20);
}

static const char *name_of(const struct suite *s, const char *what)
{
	static char name[160];

	snprintf(name, sizeof(name), "%s_%s", s->prefix, what);
	return name;
}

/* PreferredNode itself: "the allocation is made from the preferred node". */
static void test_node_honoured(const struct suite *s, const char *name)
{
	struct wbuf w = wb_node(3 * PAGE + 1, 0, NO_LIMIT, 0, MmCached, s->node);
	uint32_t before = my_nbuffers();

	wb_alloc(&w);
	if (!wb_granted(&w, true, true, name)) {
		skip(name_of(s, "returns_base_virtual_address"), "not granted");
		return;
	}
	is_u64(my_nbuffers(), before + 1, name_of(s, "allocates_one_buffer"));
	MmFreeContiguousMemory(w.virt);
	is_u64(my_nbuffers(), before, name_of(s, "returns_base_virtual_address"));
}

/* Everything MmAllocateContiguousMemorySpecifyCache promises, again. */
static void test_suite(const struct suite *s)
{
	static const uint64_t odd[] = { 1, 100, PAGE - 1, PAGE + 1, 5000, 12345 };
	enum { NODD = sizeof(odd) / sizeof(odd[0]), NT = NCACHE_TYPES };
	uint64_t lo = frames[0], top = frames[nframes - 1], t = frames[nframes / 2];
	uint64_t len = 64 * KiB;
	struct wbuf odds[NODD], types[NT], w;
	bool aligned = true, kept = true, apart = true;
	PHYSICAL_ADDRESS lowest, highest, none;
	char name[160];

	settle();
	/* "aligns the starting address ... to a memory page boundary". */
	for (size_t i = 0; i < NODD; i++) {
		odds[i] = wb_node(odd[i], 0, NO_LIMIT, 0, MmCached, s->node);
		wb_alloc(&odds[i]);
		if (wb_broken(&odds[i])) {
			aligned = false;
			wb_diag(&odds[i], wb_broken(&odds[i]));
		}
		if (odds[i].virt)
			memset(odds[i].virt, 0x21 + (int)i, odds[i].len);
	}
	ok(aligned, "%s", name_of(s, "start_is_page_aligned"));
	for (size_t i = 0; i < NODD; i++)
		if (!odds[i].virt || !intact(odds[i].virt, odds[i].len, (uint8_t)(0x21 + i)))
			kept = false;
	ok(kept, "%s", name_of(s, "memory_is_writable_over_its_whole_length"));
	for (size_t i = 0; i < NODD; i++)
		if (odds[i].virt)
			MmFreeContiguousMemory(odds[i].virt);
	settle();

	/* Lowest/Highest, at their edges. */
	w = wb_node(len, t, t + len - 1, 0, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t, false, name_of(s, "whole_buffer_within_lowest_highest"));
	settle();
	w = wb_node(len, 0, lo + len - 1, 0, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm + len - 1 == w.highest, false,
		   name_of(s, "buffer_ending_exactly_at_highest_is_granted"));
	settle();
	w = wb_node(len, top + FRAME - len, NO_LIMIT, 0, MmCached, s->node);
	lowest.QuadPart = (LONGLONG)w.lowest;
	highest.QuadPart = -1;
	none.QuadPart = 0;
	w.virt = MmAllocateContiguousMemorySpecifyCacheNode((SIZE_T)len, lowest, highest, none,
							    MmCached, s->node);
	wb_locate(&w);
	wb_granted(&w, w.pm == w.lowest, false, name_of(s, "highest_minus_one_means_no_limit"));
	settle();
	w = wb_node(len, t, t + len - 2, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "window_smaller_than_size_returns_null"));
	w = wb_node(PAGE, t + len, t, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "lowest_above_highest_returns_null"));
	w = wb_node(PAGE, top + FRAME, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "returns_null_when_no_range_satisfies"));
	if (lo >= PAGE) {
		w = wb_node(PAGE, 0, lo - 1, 0, MmCached, s->node);
		wb_refused(&w, name_of(s, "returns_null_when_the_window_is_below_the_pool"));
	} else {
		skip(name_of(s, "returns_null_when_the_window_is_below_the_pool"),
		     "the pool starts at physical 0");
	}

	/* BoundaryAddressMultiple, at its edges inside the free frame t. */
	w = wb_node(36 * KiB, t + 28 * KiB, t + 96 * KiB - 1, 64 * KiB, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 28 * KiB, false,
		   name_of(s, "boundary_not_crossed_by_a_buffer_ending_exactly_at_it"));
	settle();
	w = wb_node(36 * KiB, t + 32 * KiB, t + 100 * KiB - 1, 64 * KiB, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 64 * KiB, false,
		   name_of(s, "boundary_not_crossed_by_a_buffer_starting_exactly_at_it"));
	settle();
	w = wb_node(64 * KiB, t + PAGE, t + 128 * KiB - PAGE - 1, 64 * KiB, MmCached, s->node);
	wb_refused(&w, name_of(s, "returns_null_when_every_placement_crosses_the_boundary"));
	w = wb_node(8 * KiB, t + 60 * KiB, t + 68 * KiB - 1, 0, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 60 * KiB, false, name_of(s, "boundary_0_means_no_restriction"));
	settle();
	w = wb_node(MiB, t + PAGE, NO_LIMIT, MiB, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm % MiB == 0, false,
		   name_of(s, "size_equal_to_boundary_starts_on_a_multiple"));
	w = wb_node(2 * PAGE, 0, NO_LIMIT, PAGE, MmCached, s->node);
	wb_refused(&w, name_of(s, "boundary_smaller_than_size_returns_null"));
	w = wb_node(PAGE, 0, NO_LIMIT, 3 * 64 * KiB, MmCached, s->node);
	wb_refused(&w, name_of(s, "boundary_not_a_power_of_two_returns_null"));

	/* NumberOfBytes. */
	w = wb_node(0, 0, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "size_0_returns_null"));
	w = wb_node(POOL_LEN + PAGE, 0, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "size_larger_than_any_pool_returns_null"));
	w = wb_node(SIZE_MAX, 0, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "size_max_returns_null"));
	settle();
	if (longest_run >= 2 * FRAME) {
		w = wb_node(FRAME + PAGE + 1, 0, NO_LIMIT, 0, MmCached, s->node);
		wb_alloc(&w);
		wb_granted(&w, w.pm / FRAME != (w.pm + w.len - 1) / FRAME, false,
			   name_of(s, "block_larger_than_a_frame_is_physically_contiguous"));
	} else {
		skip(name_of(s, "block_larger_than_a_frame_is_physically_contiguous"),
		     "no two frames are adjacent this run");
	}

	/* CacheType: each allocates, different types never share a frame. */
	for (int i = 0; i < NT; i++) {
		types[i] = wb_node(PAGE, 0, NO_LIMIT, 0, (MEMORY_CACHING_TYPE)i, s->node);
		wb_alloc(&types[i]);
		snprintf(name, sizeof(name), "%s_cache_type_%s_allocates", s->prefix,
			 cache_type_names[i]);
		wb_granted(&types[i], true, true, name);
	}
	for (int i = 0; i < NT; i++)
		for (int j = i + 1; j < NT; j++)
			if (!types[i].virt || !types[j].virt ||
			    types[i].pm / FRAME == types[j].pm / FRAME)
				apart = false;
	ok(apart, "%s", name_of(s, "buffers_of_different_cache_types_never_share_a_frame"));
	for (int i = 0; i < NT; i++)
		if (types[i].virt)
			MmFreeContiguousMemorySpecifyCache(types[i].virt, PAGE, types[i].cache);
	is_u64(my_nbuffers(), 0, name_of(s, "buffers_free_with_their_size_and_cache_type"));
	for (size_t i = 0; i < NBAD_CACHE_TYPES; i++) {
		w = wb_node(PAGE, 0, NO_LIMIT, 0, (MEMORY_CACHING_TYPE)bad_cache_types[i].type,
			    s->node);
		snprintf(name, sizeof(name), "%s_unknown_cache_type_%s_returns_null", s->prefix,
			 bad_cache_types[i].name);
		wb_refused(&w, name);
	}
}

/* "the allocation is made from the preferred node or if a satisfactory
 * range cannot be found from the preferred node, then NULL is returned" --
 * strict, also on a machine with one node (contig_wdm.h). */
static void test_strict(void)
{
	static const NODE_REQUIREMENT absent[] = { 1, 3, 63, 1023, 1024, 4096, 0x7fffffff };
	struct wbuf w;
	char name[128];

	settle();
	w = wb_node(PAGE, 0, NO_LIMIT, 0, MmCached, 3);
	wb_refused(&w, "node_strict_returns_null");
	w = wb_node(PAGE, frames[0], frames[0] + FRAME - 1, 0, MmCached, 3);
	wb_refused(&w, "node_strict_returns_null_even_when_node_0_has_the_window_free");
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		w = wb_node(PAGE, 0, NO_LIMIT, 0, MmCached, absent[i]);
		snprintf(name, sizeof(name), "node_%u_without_a_pool_or_not_existing_returns_null",
			 absent[i]);
		wb_refused(&w, name);
	}
	/* And nothing was left behind by the refusals. */
	is_u64(my_nbuffers(), 0, "node_refusals_allocate_nothing");
}

int main(void)
{
	static const struct suite preferred = { POOL_NODE, "node_preferred" };
	static const struct suite any = { MM_ANY_NODE_OK, "node_any_ok" };
	struct harness_daemon d;

	start_daemon(&d, "0:2M:64M", POOL_LEN);
	discover_frames();
	test_node_honoured(&preferred, "node_preferred_node_is_honoured");
	test_node_honoured(&any, "node_any_ok_allocates");
	test_suite(&preferred);
	test_suite(&any);
	test_strict();
	ok(nwrong_node == 0, "node_every_granted_buffer_is_on_its_node_per_get_mempolicy");

	ok_pool_whole("node_everything_freed_returns_to_the_pool", POOL_LEN);
	return finish(&d);
}
