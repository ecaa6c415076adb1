/* test_ndis.c - NdisAllocateMemoryWithTagPriority and NdisFreeMemory
 * against the real daemon: what the NdisFreeMemory documentation
 * (../shared/seeds/) says, pool tags counted like poolmon, and the
 * priorities' watermarks.
 *
 * One daemon with one pool of 16 frames of 2 MiB ("--pool 0:2M:32M") and
 * the default watermarks: low priority keeps 25% of the pool free, normal
 * 5%, high nothing. So whole-frame (2 MiB) requests get exactly 12 frames at
 * low priority, 15 at normal and 16 at high; each scenario starts from an
 * idle pool (every frame freed and recycled) and ends by giving back what it
 * took. Physical addresses are checked in /proc/self/pagemap.
 */
#include "conformance.h"

#define POOL_LEN (32 * MiB)
#define NFRAMES (POOL_LEN / FRAME)
#define ODD_LEN 10000

/* Pool tags as a Windows driver's multi-character constant 'abcd' would be
 * (the first character in the high byte). */
#define TAG(a, b, c, d) ((ULONG)(a) << 24 | (ULONG)(b) << 16 | (ULONG)(c) << 8 | (ULONG)(d))
#define TAG_RX TAG('N', 'd', 'R', 'x')
#define TAG_TX TAG('N', 'd', 'T', 'x')
#define TAG_FREE TAG('N', 'd', 'F', 'r')
#define TAG_WM TAG('N', 'd', 'W', 'm')
#define TAG_PM TAG('N', 'd', 'P', 'm')
#define TAG_BAD TAG('N', 'd', '0', '!')

/* The stats of @tag; all zero when the daemon lists none. */
static struct contig_tag_stats tag_stats(ULONG tag)
{
	struct contig_tag_stats none = { 0 };
	struct contig_stats st;

	stats(&st);
	for (uint32_t i = 0; i < st.ntags; i++)
		if (st.tags[i].tag == tag)
			return st.tags[i];
	return none;
}

static bool tag_listed(ULONG tag)
{
	struct contig_stats st;

	stats(&st);
	for (uint32_t i = 0; i < st.ntags; i++)
		if (st.tags[i].tag == tag)
			return true;
	return false;
}

static bool tag_is(ULONG tag, uint32_t nbuffers, uint64_t len, uint64_t nallocs, uint64_t nfrees)
{
	struct contig_tag_stats t = tag_stats(tag);

	return check(t.nbuffers == nbuffers && t.len == len && t.nallocs == nallocs &&
			     t.nfrees == nfrees,
		     "tag 0x%08x: %u buffers, %" PRIu64 " bytes, %" PRIu64 " allocs, %" PRIu64
		     " frees; want %u, %" PRIu64 ", %" PRIu64 ", %" PRIu64,
		     (unsigned)tag, t.nbuffers, t.len, t.nallocs, t.nfrees, nbuffers, len, nallocs,
		     nfrees);
}

/* ---- buffers ---- */

static void *ndis_alloc(UINT len, ULONG tag, EX_POOL_PRIORITY prio)
{
	void *p = NdisAllocateMemoryWithTagPriority(NULL, len, tag, prio);

	if (!p)
		bail_out("NdisAllocateMemoryWithTagPriority(%u, prio %d): %s", len, (int)prio,
			 contig_last_message());
	return p;
}

/* ---- NdisAllocateMemoryWithTagPriority ---- */

static void test_size_zero(void)
{
	struct contig_stats before, after;
	void *p;

	stats(&before);
	p = NdisAllocateMemoryWithTagPriority(NULL, 0, TAG_BAD, HighPoolPriority);
	stats(&after);
	check(p == NULL, "a block of 0 bytes was granted at %p", p);
	check(after.my_nbuffers == before.my_nbuffers, "a buffer appeared in the stats");
	verdict("ndis_size_0_returns_null");
	if (p)
		NdisFreeMemory(p, 0, 0);
}

static void test_too_large(void)
{
	static const UINT lens[] = { POOL_LEN + PAGE, 0x80000000u, 0xffffffffu };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		void *p = NdisAllocateMemoryWithTagPriority(NULL, lens[i], TAG_BAD,
							    HighPoolPriority);

		check(p == NULL, "%u bytes granted from a pool of %" PRIu64, lens[i], POOL_LEN);
		if (p)
			NdisFreeMemory(p, 0, 0);
	}
	verdict("ndis_length_larger_than_any_pool_returns_null");
}

/* Every block is physically contiguous, from one byte to several frames. */
static void test_contiguous(void)
{
	uint64_t lens[] = { 1, PAGE, ODD_LEN, 64 * 1024, FRAME - 1, FRAME, 0 };
	const size_t nlens = sizeof(lens) / sizeof(lens[0]);
	struct contig_stats st;

	/* A block over several frames needs adjacent ones: as many as this run
	 * of the kernel gave. */
	settle();
	stats(&st);
	lens[nlens - 1] = st.pools[0].largest_free_len;
	for (size_t i = 0; i < nlens; i++) {
		char what[64], name[128];
		void *p;

		snprintf(what, sizeof(what), "a block of %" PRIu64 " bytes", lens[i]);
		snprintf(name, sizeof(name),
			 "ndis_block_of_%" PRIu64 "_bytes_is_physically_contiguous_per_pagemap",
			 lens[i]);
		if (i == nlens - 1 && lens[i] <= FRAME) {
			ok(true, "%s # SKIP no two frames of the pool are adjacent", name);
			continue;
		}
		p = NdisAllocateMemoryWithTagPriority(NULL, (UINT)lens[i], TAG_PM,
						      HighPoolPriority);
		if (check(p != NULL, "%s was refused: %s", what, contig_last_message())) {
			live(what, p, lens[i], (uint8_t)(0x10 + i));
			NdisFreeMemory(p, 0, 0);
			gone(what, p);
		}
		verdict(name);
	}
	settle();
}

/* poolmon: per tag, allocations, frees, live blocks and bytes. */
static void test_tags(void)
{
	uint64_t rx_len = round_page(ODD_LEN);
	void *rx[3], *tx;

	check(!tag_listed(TAG_RX) && !tag_listed(TAG_TX), "a tag is listed before any allocation");
	for (int i = 0; i < 3; i++)
		rx[i] = ndis_alloc(ODD_LEN, TAG_RX, NormalPoolPriority);
	tag_is(TAG_RX, 3, 3 * rx_len, 3, 0);
	verdict("ndis_tag_counts_allocations_and_live_bytes_rounded_to_4KiB");

	tx = ndis_alloc(FRAME, TAG_TX, LowPoolPriority);
	tag_is(TAG_TX, 1, FRAME, 1, 0);
	tag_is(TAG_RX, 3, 3 * rx_len, 3, 0);
	verdict("ndis_two_tags_are_kept_apart");

	NdisFreeMemory(rx[1], 0, 0);
	tag_is(TAG_RX, 2, 2 * rx_len, 3, 1);
	tag_is(TAG_TX, 1, FRAME, 1, 0);
	verdict("ndis_tag_counts_frees_and_its_live_bytes_drop");

	NdisFreeMemory(rx[0], 0, 0);
	NdisFreeMemory(rx[2], 0, 0);
	NdisFreeMemory(tx, 0, 0);
	tag_is(TAG_RX, 0, 0, 3, 3);
	tag_is(TAG_TX, 0, 0, 1, 1);
	verdict("ndis_tag_stays_listed_with_its_totals_after_its_last_free");
	settle();
}

/* A refused allocation and a refused free are neither an alloc nor a free. */
static void test_tags_ignore_failures(void)
{
	struct contig_tag_stats before = tag_stats(TAG_TX);
	struct probe pr;
	void *p;

	p = NdisAllocateMemoryWithTagPriority(NULL, 0, TAG_TX, HighPoolPriority);
	check(p == NULL, "0 bytes granted");
	tag_is(TAG_TX, 0, 0, before.nallocs, before.nfrees);
	p = ndis_alloc(ODD_LEN, TAG_TX, HighPoolPriority);
	probe_start(&pr);
	NdisFreeMemory(p, ODD_LEN, 1);
	probe_expect(&pr, "NdisFreeMemory", 1, 1);
	tag_is(TAG_TX, 1, round_page(ODD_LEN), before.nallocs + 1, before.nfrees);
	NdisFreeMemory(p, 0, 0);
	tag_is(TAG_TX, 0, 0, before.nallocs + 1, before.nfrees + 1);
	verdict("ndis_tag_counts_neither_refused_allocations_nor_refused_frees");
}

/* The Mm routines are not NDIS allocations: their blocks are not counted
 * under an NDIS tag. */
static void test_mm_not_under_ndis_tag(void)
{
	struct contig_tag_stats rx = tag_stats(TAG_RX), tx = tag_stats(TAG_TX);
	void *p = MmAllocateContiguousMemory(ODD_LEN, pa(UINT64_MAX));

	check(p != NULL, "MmAllocateContiguousMemory: %s", contig_last_message());
	tag_is(TAG_RX, rx.nbuffers, rx.len, rx.nallocs, rx.nfrees);
	tag_is(TAG_TX, tx.nbuffers, tx.len, tx.nallocs, tx.nfrees);
	if (p)
		MmFreeContiguousMemory(p);
	verdict("mm_allocations_are_not_counted_under_an_ndis_tag");
}

/* ---- NdisFreeMemory ---- */

/* "MemoryFlags ... must be zero if the memory was allocated with
 * NdisAllocateMemoryWithTagPriority". */
static void test_nonzero_flags(void)
{
	void *p = ndis_alloc(ODD_LEN, TAG_FREE, NormalPoolPriority);
	struct probe pr;

	live("the block", p, ODD_LEN, 0x21);
	probe_start(&pr);
	NdisFreeMemory(p, ODD_LEN, 1);           /* NDIS_MEMORY_CONTIGUOUS */
	NdisFreeMemory(p, ODD_LEN, 2);           /* NDIS_MEMORY_NONCACHED */
	NdisFreeMemory(p, 0, 0x80000000u);
	probe_expect(&pr, "NdisFreeMemory", 3, 3);
	if (live("the block after frees with flags", p, ODD_LEN, 0x22)) {
		NdisFreeMemory(p, 0, 0);
		gone("the block freed with flags 0", p);
	}
	verdict("ndisfreememory_nonzero_flags_frees_nothing");
}

/* "If the memory was allocated with NdisAllocateMemoryWithTagPriority or
 * the MemoryFlags parameter is zero, this parameter [Length] is ignored." */
static void test_length_ignored(void)
{
	static const UINT lens[] = { 0, 1, ODD_LEN, ODD_LEN + 1, 0xffffffffu };
	struct contig_stats before, after;

	stats(&before);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		void *p = ndis_alloc(ODD_LEN, TAG_FREE, NormalPoolPriority);
		struct contig_stats st;

		stats(&st);
		NdisFreeMemory(p, lens[i], 0);
		gone("a block freed with some Length", p);
		stats(&after);
		check(after.my_nbuffers + 1 == st.my_nbuffers,
		      "NdisFreeMemory(p, %u, 0) did not free the block", lens[i]);
	}
	check(after.nbugchecks == before.nbugchecks, "a Length was reported as a misuse");
	verdict("ndisfreememory_ignores_length_when_flags_zero");
}

/* "releases a block of memory that was previously allocated with the
 * NdisAllocateMemoryWithTagPriority function": not one from the Mm
 * routines. */
static void test_mm_memory(void)
{
	void *p = MmAllocateContiguousMemory(ODD_LEN, pa(UINT64_MAX));
	void *q = MmAllocateContiguousMemorySpecifyCache(ODD_LEN, pa(0), pa(UINT64_MAX), pa(0),
							 MmWriteCombined);
	struct probe pr;

	if (!p || !q)
		bail_out("MmAllocateContiguousMemory*: %s", contig_last_message());
	probe_start(&pr);
	NdisFreeMemory(p, 0, 0);
	NdisFreeMemory(q, ODD_LEN, 0);
	probe_expect(&pr, "NdisFreeMemory", 2, 2);
	if (live("the Mm buffer after NdisFreeMemory", p, ODD_LEN, 0x31))
		MmFreeContiguousMemory(p);
	if (live("the write-combined Mm buffer after NdisFreeMemory", q, ODD_LEN, 0x32))
		MmFreeContiguousMemory(q);
	verdict("ndisfreememory_of_mm_memory_frees_nothing");
}

/* "VirtualAddress: A pointer to the base virtual address of the allocated
 * memory". */
static void test_bad_addresses(void)
{
	unsigned char *p = ndis_alloc(3 * PAGE, TAG_FREE, NormalPoolPriority);
	void *q = ndis_alloc(ODD_LEN, TAG_FREE, NormalPoolPriority);
	char on_stack[16];
	struct probe pr;

	NdisFreeMemory(q, 0, 0);
	probe_start(&pr);
	NdisFreeMemory(NULL, 0, 0);
	probe_expect(&pr, "NdisFreeMemory", 1, 1);
	verdict("ndisfreememory_null_frees_nothing_and_is_reported");

	probe_start(&pr);
	NdisFreeMemory(p + PAGE, 0, 0);
	NdisFreeMemory(p + 1, 0, 0);
	probe_expect(&pr, "NdisFreeMemory", 2, 2);
	live("the block after interior frees", p, 3 * PAGE, 0x41);
	verdict("ndisfreememory_interior_pointer_frees_nothing");

	probe_start(&pr);
	NdisFreeMemory(q, 0, 0);
	probe_expect(&pr, "NdisFreeMemory", 1, 1);
	live("another block after a double free", p, 3 * PAGE, 0x42);
	verdict("ndisfreememory_double_free_is_reported");

	probe_start(&pr);
	NdisFreeMemory(on_stack, 0, 0);
	probe_expect(&pr, "NdisFreeMemory", 1, 1);
	verdict("ndisfreememory_of_an_address_never_allocated_frees_nothing");

	NdisFreeMemory(p, 0, 0);
	settle();
}

/* Once per call site on stderr, every time in the daemon's count. */
static void test_report_once_per_site(void)
{
	volatile int ncalls = 4;
	struct probe pr;

	probe_start(&pr);
	for (int i = 0; i < ncalls; i++)
		NdisFreeMemory(NULL, 0, 0);
	probe_expect(&pr, "NdisFreeMemory", ncalls, 1);
	verdict("ndisfreememory_misuse_is_said_once_per_call_site_and_counted_every_time");
}

/* ---- priorities and watermarks ---- */

/* Take whole frames at @prio until refused (at most one more than the
 * pool). Returns how many were granted; they are in @bufs. */
static size_t fill(void **bufs, EX_POOL_PRIORITY prio)
{
	size_t n = 0;

	while (n < NFRAMES + 1 && (bufs[n] = NdisAllocateMemoryWithTagPriority(NULL, FRAME, TAG_WM,
									       prio)))
		n++;
	return n;
}

static void release(void **bufs, size_t n)
{
	while (n)
		NdisFreeMemory(bufs[--n], 0, 0);
	settle();
}

static void test_watermark(EX_POOL_PRIORITY prio, size_t want, const char *name)
{
	void *bufs[NFRAMES + 1];
	size_t n;

	settle();
	n = fill(bufs, prio);
	check(n == want, "priority %d took %zu frames of %" PRIu64 ", want %zu", (int)prio, n,
	      NFRAMES, want);
	if (n < want)
		diag("  refused with: %s", contig_last_message());
	release(bufs, n);
	verdict(name);
}

/* After low priority is refused, high priority still gets every frame left. */
static void test_high_after_low(void)
{
	void *bufs[NFRAMES + 1];
	size_t nlow, nhigh;

	settle();
	nlow = fill(bufs, LowPoolPriority);
	nhigh = fill(bufs + nlow, HighPoolPriority);
	check(nlow == 12 && nhigh == NFRAMES - 12,
	      "low took %zu, then high %zu; want 12 then %" PRIu64, nlow, nhigh, NFRAMES - 12);
	release(bufs, nlow + nhigh);
	verdict("ndis_high_priority_succeeds_where_low_was_refused");
}

/* The Mm routines allocate at high priority. */
static void test_mm_is_high(void)
{
	void *bufs[NFRAMES + 1], *mm[NFRAMES];
	size_t n, nmm = 0;

	settle();
	n = fill(bufs, NormalPoolPriority);
	while (nmm < NFRAMES && (mm[nmm] = MmAllocateContiguousMemory(FRAME, pa(UINT64_MAX))))
		nmm++;
	check(n == 15 && nmm == 1, "normal took %zu, then MmAllocateContiguousMemory %zu; want "
				   "15 then the last one",
	      n, nmm);
	while (nmm)
		MmFreeContiguousMemory(mm[--nmm]);
	release(bufs, n);
	verdict("mm_allocates_at_high_priority_past_the_watermarks");
}

/* Space in a frame the connection holds takes no new frame, so the
 * watermark does not limit it. */
static void test_packing_past_watermark(void)
{
	void *bufs[NFRAMES + 1], *small, *more;
	struct contig_stats before, after;
	size_t n;

	settle();
	small = ndis_alloc(PAGE, TAG_WM, LowPoolPriority);
	n = fill(bufs, LowPoolPriority);
	stats(&before);
	more = NdisAllocateMemoryWithTagPriority(NULL, PAGE, TAG_WM, LowPoolPriority);
	stats(&after);
	check(n == 11, "after one small block, low took %zu whole frames, want 11", n);
	check(more != NULL, "a small low-priority block was refused: %s", contig_last_message());
	check(after.my_nframes == before.my_nframes && before.my_nframes == 12,
	      "this connection held %u frames, then %u; want 12 both times", before.my_nframes,
	      after.my_nframes);
	if (more) {
		live("the packed block", more, PAGE, 0x51);
		NdisFreeMemory(more, 0, 0);
	}
	NdisFreeMemory(small, 0, 0);
	release(bufs, n);
	verdict("ndis_small_allocation_packs_into_an_owned_frame_past_the_watermark");
}

int main(void)
{
	struct harness_daemon d;

	start_daemon(&d, "0:2M:32M", POOL_LEN);

	test_size_zero();
	test_too_large();
	test_contiguous();
	test_tags();
	test_tags_ignore_failures();
	test_mm_not_under_ndis_tag();
	test_nonzero_flags();
	test_length_ignored();
	test_mm_memory();
	test_bad_addresses();
	test_report_once_per_site();

	test_watermark(LowPoolPriority, 12, "ndis_low_priority_keeps_25pct_of_the_pool_free");
	test_watermark(NormalPoolPriority, 15, "ndis_normal_priority_keeps_5pct_of_the_pool_free");
	test_watermark(HighPoolPriority, 16, "ndis_high_priority_takes_the_last_frame");
	test_watermark(LowPoolPrioritySpecialPoolOverrun, 12,
		       "ndis_low_special_pool_overrun_behaves_as_low");
	test_watermark(LowPoolPrioritySpecialPoolUnderrun, 12,
		       "ndis_low_special_pool_underrun_behaves_as_low");
	test_watermark(NormalPoolPrioritySpecialPoolOverrun, 15,
		       "ndis_normal_special_pool_overrun_behaves_as_normal");
	test_watermark(NormalPoolPrioritySpecialPoolUnderrun, 15,
		       "ndis_normal_special_pool_underrun_behaves_as_normal");
	test_watermark(HighPoolPrioritySpecialPoolOverrun, 16,
		       "ndis_high_special_pool_overrun_behaves_as_high");
	test_watermark(HighPoolPrioritySpecialPoolUnderrun, 16,
		       "ndis_high_special_pool_underrun_behaves_as_high");
	test_high_after_low();
	test_mm_is_high();
	test_packing_past_watermark();

	ok(pool_comes_back(wdm_client()),
	   "every_block_freed_returns_to_the_pool");
	return finish(&d);
}
