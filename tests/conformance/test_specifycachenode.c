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
#include <numaif.h>
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
#define POOL_NODE 0

static pid_t self;

static uint64_t frames[MAX_FRAMES];
static size_t nframes;
static uint64_t longest_run;

/* Granted buffers whose node get_mempolicy did not confirm. */
static int nwrong_node;

struct wbuf {
	uint64_t len;
	uint64_t lowest, highest, boundary;
	MEMORY_CACHING_TYPE cache;
	NODE_REQUIREMENT node;
	void *virt;
	uint64_t pm;    /* pagemap's address of the first byte; 0: not contiguous */
	int kernel_node; /* get_mempolicy's node of the first and last byte; -1 */
};

/* The node requirement a suite runs with, and its test name prefix. */
struct suite {
	NODE_REQUIREMENT node;
	const char *prefix;
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
		      MEMORY_CACHING_TYPE cache, NODE_REQUIREMENT node)
{
	return (struct wbuf){ .len = len, .lowest = lowest, .highest = highest,
			      .boundary = boundary, .cache = cache, .node = node,
			      .kernel_node = -1 };
}

static uint64_t pagemap_phys(const void *virt, uint64_t len)
{
	uint64_t phys = harness_phys_of(self, virt);

	if (phys == 0 || !harness_phys_contiguous(self, virt, len, phys))
		return 0;
	return phys;
}

/* The kernel's node for the first and the last byte of [virt, virt + len),
 * or -1 if it cannot say or they differ. */
static int kernel_node_of(void *virt, uint64_t len)
{
	int first = -1, last = -1;

	if (get_mempolicy(&first, NULL, 0, virt, MPOL_F_NODE | MPOL_F_ADDR) < 0 ||
	    get_mempolicy(&last, NULL, 0, (char *)virt + len - 1, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -1;
	return first == last ? first : -1;
}

static void *wb_alloc(struct wbuf *w)
{
	w->virt = MmAllocateContiguousMemorySpecifyCacheNode((SIZE_T)w->len, pa(w->lowest),
							     pa(w->highest), pa(w->boundary),
							     w->cache, w->node);
	w->pm = w->virt ? pagemap_phys(w->virt, w->len) : 0;
	w->kernel_node = w->virt ? kernel_node_of(w->virt, w->len) : -1;
	return w->virt;
}

/* Which documented promise @w breaks per pagemap and get_mempolicy, or
 * NULL. With MM_ANY_NODE_OK the only node with a pool is the right one. */
static const char *wb_broken(const struct wbuf *w)
{
	int want = w->node == MM_ANY_NODE_OK ? POOL_NODE : (int)w->node;
	uint64_t last;

	if (!w->virt)
		return "NULL";
	if ((uintptr_t)w->virt % PAGE)
		return "base virtual address not page aligned";
	if (w->pm == 0)
		return "not physically contiguous per pagemap";
	if (w->pm % PAGE)
		return "physical start not page aligned";
	last = w->pm + round_page(w->len) - 1;
	if (w->pm < w->lowest || last > w->highest)
		return "not inside [Lowest, Highest]";
	if (w->boundary && w->pm / w->boundary != last / w->boundary)
		return "crosses a multiple of BoundaryAddressMultiple";
	if (w->kernel_node != want)
		return "not on the node get_mempolicy should report";
	return NULL;
}

static void wb_diag(const struct wbuf *w, const char *why)
{
	diag("  %s: NumberOfBytes %" PRIu64 ", [0x%" PRIx64 ", 0x%" PRIx64 "], boundary 0x%" PRIx64
	     ", cache type %d, node 0x%x -> %p, pagemap 0x%" PRIx64 ", kernel node %d",
	     why, w->len, w->lowest, w->highest, w->boundary, (int)w->cache, w->node, w->virt,
	     w->pm, w->kernel_node);
}

static bool wb_granted(struct wbuf *w, bool cond, bool keep, const char *name)
{
	bool good = w->virt && !wb_broken(w) && cond;

	if (w->virt && w->kernel_node != (w->node == MM_ANY_NODE_OK ? POOL_NODE : (int)w->node))
		nwrong_node++;
	if (!ok(good, "%s", name))
		wb_diag(w, w->virt ? (wb_broken(w) ? wb_broken(w) : "granted, not where it must be")
				   : "NULL");
	if (w->virt && !(keep && good)) {
		MmFreeContiguousMemory(w->virt);
		w->virt = NULL;
	}
	return good;
}

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

/* Wait until everything freed is back in the pool (recycling is
 * asynchronous): each poll is a round trip, not a sleep. */
static void settle(void)
{
	struct contig_client *c = ContigWdmClient();

	if (!c)
		bail_out("ContigWdmClient: no connection to the daemon");
	if (!harness_wait_stats(c, all_free, NULL))
		bail_out("the pool did not return to all free");
}

static uint32_t my_nbuffers(void)
{
	struct contig_stats st;

	if (contig_get_stats(ContigWdmClient(), &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st.my_nbuffers;
}

static uint64_t nrecycle_moved(void)
{
	struct contig_stats st;

	if (contig_get_stats(ContigWdmClient(), &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st.nrecycle_moved;
}

/* Take every frame once on node 0, read where each is, free them. */
static void discover_frames(void)
{
	static void *bufs[MAX_FRAMES];
	bool whole = true;
	uint64_t run = 0;

	for (int attempt = 0;; attempt++) {
		uint64_t moved;

		settle();
		moved = nrecycle_moved();
		whole = true;
		for (nframes = 0; nframes < MAX_FRAMES; nframes++) {
			struct wbuf w = wb(FRAME, 0, NO_LIMIT, FRAME, MmCached, POOL_NODE);

			if (!wb_alloc(&w))
				break;
			bufs[nframes] = w.virt;
			frames[nframes] = w.pm;
			if (wb_broken(&w) || w.pm % FRAME)
				whole = false;
		}
		/* The pool is exhausted now: its node has no satisfactory range. */
		if (attempt == 0) {
			struct wbuf w = wb(PAGE, 0, NO_LIMIT, 0, MmCached, POOL_NODE);

			wb_refused(&w, "node_preferred_returns_null_when_its_pool_is_exhausted");
			w = wb(PAGE, 0, NO_LIMIT, 0, MmCached, MM_ANY_NODE_OK);
			wb_refused(&w, "node_any_ok_returns_null_when_every_pool_is_exhausted");
		}
		for (size_t i = 0; i < nframes; i++)
			MmFreeContiguousMemory(bufs[i]);
		settle();
		if (nrecycle_moved() == moved)
			break;
		if (attempt == 2)
			bail_out("frames keep moving to other pages on recycling: no stable map");
		diag("a frame came back on another page; mapping the pool again");
	}
	is_u64(nframes, POOL_LEN / FRAME, "node_preferred_grants_every_frame_of_its_pool_in_turn");
	ok(whole, "node_preferred_2MiB_not_crossing_2MiB_is_one_whole_frame_on_the_node");
	if (nframes == 0 || !whole)
		bail_out("no frame map to build windows around");
	qsort(frames, nframes, sizeof(frames[0]), cmp_u64);
	for (size_t i = 0; i < nframes; i++) {
		if (i == 0 || frames[i] != frames[i - 1] + FRAME)
			run = 0;
		run += FRAME;
		if (run > longest_run)
			longest_run = run;
	}
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
	struct wbuf w = wb(3 * PAGE + 1, 0, NO_LIMIT, 0, MmCached, s->node);
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
	static const char *const type_names[] = { "MmNonCached", "MmCached", "MmWriteCombined",
						   "MmHardwareCoherentCached",
						   "MmNonCachedUnordered", "MmUSWCCached" };
	static const struct {
		int type;
		const char *name;
	} bad[] = { { MmMaximumCacheType, "MmMaximumCacheType" },
		    { MmNotMapped, "MmNotMapped" },
		    { 42, "42" } };
	enum { NODD = sizeof(odd) / sizeof(odd[0]), NT = MmUSWCCached + 1 };
	uint64_t lo = frames[0], top = frames[nframes - 1], t = frames[nframes / 2];
	uint64_t len = 64 * KiB;
	struct wbuf odds[NODD], types[NT], w;
	bool aligned = true, kept = true, apart = true;
	PHYSICAL_ADDRESS lowest, highest, none;
	char name[160];

	settle();
	/* "aligns the starting address ... to a memory page boundary". */
	for (size_t i = 0; i < NODD; i++) {
		odds[i] = wb(odd[i], 0, NO_LIMIT, 0, MmCached, s->node);
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
	w = wb(len, t, t + len - 1, 0, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t, false, name_of(s, "whole_buffer_within_lowest_highest"));
	settle();
	w = wb(len, 0, lo + len - 1, 0, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm + len - 1 == w.highest, false,
		   name_of(s, "buffer_ending_exactly_at_highest_is_granted"));
	settle();
	w = wb(len, top + FRAME - len, NO_LIMIT, 0, MmCached, s->node);
	lowest.QuadPart = (LONGLONG)w.lowest;
	highest.QuadPart = -1;
	none.QuadPart = 0;
	w.virt = MmAllocateContiguousMemorySpecifyCacheNode((SIZE_T)len, lowest, highest, none,
							    MmCached, s->node);
	w.pm = w.virt ? pagemap_phys(w.virt, len) : 0;
	w.kernel_node = w.virt ? kernel_node_of(w.virt, len) : -1;
	wb_granted(&w, w.pm == w.lowest, false, name_of(s, "highest_minus_one_means_no_limit"));
	settle();
	w = wb(len, t, t + len - 2, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "window_smaller_than_size_returns_null"));
	w = wb(PAGE, t + len, t, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "lowest_above_highest_returns_null"));
	w = wb(PAGE, top + FRAME, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "returns_null_when_no_range_satisfies"));
	if (lo >= PAGE) {
		w = wb(PAGE, 0, lo - 1, 0, MmCached, s->node);
		wb_refused(&w, name_of(s, "returns_null_when_the_window_is_below_the_pool"));
	} else {
		skip(name_of(s, "returns_null_when_the_window_is_below_the_pool"),
		     "the pool starts at physical 0");
	}

	/* BoundaryAddressMultiple, at its edges inside the free frame t. */
	w = wb(36 * KiB, t + 28 * KiB, t + 96 * KiB - 1, 64 * KiB, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 28 * KiB, false,
		   name_of(s, "boundary_not_crossed_by_a_buffer_ending_exactly_at_it"));
	settle();
	w = wb(36 * KiB, t + 32 * KiB, t + 100 * KiB - 1, 64 * KiB, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 64 * KiB, false,
		   name_of(s, "boundary_not_crossed_by_a_buffer_starting_exactly_at_it"));
	settle();
	w = wb(64 * KiB, t + PAGE, t + 128 * KiB - PAGE - 1, 64 * KiB, MmCached, s->node);
	wb_refused(&w, name_of(s, "returns_null_when_every_placement_crosses_the_boundary"));
	w = wb(8 * KiB, t + 60 * KiB, t + 68 * KiB - 1, 0, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm == t + 60 * KiB, false, name_of(s, "boundary_0_means_no_restriction"));
	settle();
	w = wb(MiB, t + PAGE, NO_LIMIT, MiB, MmCached, s->node);
	wb_alloc(&w);
	wb_granted(&w, w.pm % MiB == 0, false,
		   name_of(s, "size_equal_to_boundary_starts_on_a_multiple"));
	w = wb(2 * PAGE, 0, NO_LIMIT, PAGE, MmCached, s->node);
	wb_refused(&w, name_of(s, "boundary_smaller_than_size_returns_null"));
	w = wb(PAGE, 0, NO_LIMIT, 3 * 64 * KiB, MmCached, s->node);
	wb_refused(&w, name_of(s, "boundary_not_a_power_of_two_returns_null"));

	/* NumberOfBytes. */
	w = wb(0, 0, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "size_0_returns_null"));
	w = wb(POOL_LEN + PAGE, 0, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "size_larger_than_any_pool_returns_null"));
	w = wb(SIZE_MAX, 0, NO_LIMIT, 0, MmCached, s->node);
	wb_refused(&w, name_of(s, "size_max_returns_null"));
	settle();
	if (longest_run >= 2 * FRAME) {
		w = wb(FRAME + PAGE + 1, 0, NO_LIMIT, 0, MmCached, s->node);
		wb_alloc(&w);
		wb_granted(&w, w.pm / FRAME != (w.pm + w.len - 1) / FRAME, false,
			   name_of(s, "block_larger_than_a_frame_is_physically_contiguous"));
	} else {
		skip(name_of(s, "block_larger_than_a_frame_is_physically_contiguous"),
		     "no two frames are adjacent this run");
	}

	/* CacheType: each allocates, different types never share a frame. */
	for (int i = 0; i < NT; i++) {
		types[i] = wb(PAGE, 0, NO_LIMIT, 0, (MEMORY_CACHING_TYPE)i, s->node);
		wb_alloc(&types[i]);
		snprintf(name, sizeof(name), "%s_cache_type_%s_allocates", s->prefix,
			 type_names[i]);
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
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = wb(PAGE, 0, NO_LIMIT, 0, (MEMORY_CACHING_TYPE)bad[i].type, s->node);
		snprintf(name, sizeof(name), "%s_unknown_cache_type_%s_returns_null", s->prefix,
			 bad[i].name);
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
	w = wb(PAGE, 0, NO_LIMIT, 0, MmCached, 3);
	wb_refused(&w, "node_strict_returns_null");
	w = wb(PAGE, frames[0], frames[0] + FRAME - 1, 0, MmCached, 3);
	wb_refused(&w, "node_strict_returns_null_even_when_node_0_has_the_window_free");
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		w = wb(PAGE, 0, NO_LIMIT, 0, MmCached, absent[i]);
		snprintf(name, sizeof(name), "node_%u_without_a_pool_or_not_existing_returns_null",
			 absent[i]);
		wb_refused(&w, name);
	}
	/* And nothing was left behind by the refusals. */
	is_u64(my_nbuffers(), 0, "node_refusals_allocate_nothing");
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:64M", NULL };
	static const struct suite preferred = { POOL_NODE, "node_preferred" };
	static const struct suite any = { MM_ANY_NODE_OK, "node_any_ok" };
	struct harness_daemon d;
	struct contig_stats st;

	self = getpid();
	harness_daemon_start(&d, args);
	discover_frames();
	test_node_honoured(&preferred, "node_preferred_node_is_honoured");
	test_node_honoured(&any, "node_any_ok_allocates");
	test_suite(&preferred);
	test_suite(&any);
	test_strict();
	ok(nwrong_node == 0, "node_every_granted_buffer_is_on_its_node_per_get_mempolicy");

	ok(harness_wait_stats(ContigWdmClient(), all_free, NULL) &&
		   contig_get_stats(ContigWdmClient(), &st) == 0 && st.nframes_lost == 0 &&
		   st.pools[0].total_len == POOL_LEN,
	   "node_everything_freed_returns_to_the_pool");
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
