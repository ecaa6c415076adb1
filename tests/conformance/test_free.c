/* test_free.c - MmFreeContiguousMemory and MmFreeContiguousMemorySpecifyCache,
 * one test per sentence of their documentation (../shared/seeds/), against
 * the real daemon.
 *
 * What Windows bug-checks on (a base address that is not one, a size or
 * cache type that does not match) must here free nothing, say so on stderr
 * once per call site, naming the routine, and be counted by the daemon
 * (stats.nbugchecks) every time. "Frees nothing" is checked where it
 * matters: the buffer is still in the connection's stats, every byte can be
 * written and read back, and MmGetPhysicalAddress still answers what
 * /proc/self/pagemap says. "Frees" is checked the same way, inverted, and
 * through the pool's totals once the frame has been recycled.
 *
 * The shim's call-site memory is keyed by the caller's return address, so
 * every bad free below is written out where it is meant to be its own site,
 * and the loops that must stay one site have bounds the compiler cannot
 * unroll (volatile).
 */
#include <pthread.h>
#include <stdlib.h>

#include "conformance.h"

#define POOL_LEN (32 * MiB)
#define ODD_LEN 10000 /* not a multiple of a page: the size "requested" */

/* alloc(), or bail out. */
static void *mm_alloc(SIZE_T len, MEMORY_CACHING_TYPE cache)
{
	void *p = alloc(len, cache);

	if (!p)
		bail_out("MmAllocateContiguousMemorySpecifyCache(%zu, cache %d) failed: %s",
			 (size_t)len, (int)cache, contig_last_message());
	return p;
}

/* ---- MmFreeContiguousMemory ---- */

/* "releases a range of physically contiguous memory": the connection's
 * buffer and bytes go, and the pool gets the frame back once recycled. */
static void test_free_returns_memory_to_the_pool(void)
{
	struct contig_stats before, held, after;
	void *p;

	stats(&before);
	p = mm_alloc(FRAME, MmCached);
	stats(&held);
	live("the 2 MiB buffer", p, FRAME, 0x11);
	check(held.my_nbuffers == before.my_nbuffers + 1 && held.my_len == before.my_len + FRAME,
	      "the allocation is not in this connection's stats");
	check(held.pools[0].free_len + FRAME == before.pools[0].free_len,
	      "the pool's free bytes did not drop by a frame (%" PRIu64 " -> %" PRIu64 ")",
	      before.pools[0].free_len, held.pools[0].free_len);
	MmFreeContiguousMemory(p);
	stats(&after);
	check(after.my_nbuffers == before.my_nbuffers && after.my_len == before.my_len,
	      "the connection still counts the buffer after the free");
	gone("the freed buffer", p);
	check(pool_comes_back(wdm_client()),
	      "the pool did not return to all free");
	stats(&after);
	check(after.pools[0].free_len == POOL_LEN, "pool free_len %" PRIu64 " after recycling",
	      after.pools[0].free_len);
	check(after.nbugchecks == before.nbugchecks, "a correct free was counted as a misuse");
	verdict("free_returns_memory_to_the_pool");
}

/* Memory freed can be allocated again: fill the pool, free one frame, and
 * the next request that failed succeeds. */
static void test_freed_memory_can_be_allocated_again(void)
{
	void *bufs[POOL_LEN / FRAME + 1];
	size_t n = 0;
	void *again;

	while (n < sizeof(bufs) / sizeof(bufs[0]) &&
	       (bufs[n] = MmAllocateContiguousMemory(FRAME, pa(UINT64_MAX))))
		n++;
	check(n == POOL_LEN / FRAME, "MmAllocateContiguousMemory took %zu frames of %" PRIu64,
	      n, POOL_LEN / FRAME);
	if (n > 0) {
		MmFreeContiguousMemory(bufs[--n]);
		again = MmAllocateContiguousMemory(FRAME, pa(UINT64_MAX));
		if (check(again != NULL, "a frame freed could not be allocated again: %s",
			  contig_last_message()))
			bufs[n++] = again;
	}
	while (n)
		MmFreeContiguousMemory(bufs[--n]);
	check(pool_comes_back(wdm_client()),
	      "the pool did not return to all free");
	verdict("freed_memory_can_be_allocated_again");
}

/* "frees a block ... allocated by a previous call to MmAllocateContiguousMemory,
 * MmAllocateContiguousMemorySpecifyCache, or ...SpecifyCacheNode". */
static void test_free_frees_every_mm_allocate_routine(void)
{
	struct contig_stats before, after;
	void *p[3];

	stats(&before);
	p[0] = MmAllocateContiguousMemory(ODD_LEN, pa(UINT64_MAX));
	p[1] = MmAllocateContiguousMemorySpecifyCache(ODD_LEN, pa(0), pa(UINT64_MAX), pa(0),
						      MmWriteCombined);
	p[2] = MmAllocateContiguousMemorySpecifyCacheNode(ODD_LEN, pa(0), pa(UINT64_MAX), pa(0),
							  MmNonCached, MM_ANY_NODE_OK);
	for (int i = 0; i < 3; i++) {
		if (!check(p[i] != NULL, "allocation %d failed: %s", i, contig_last_message()))
			continue;
		live("an Mm buffer", p[i], ODD_LEN, (uint8_t)(0x20 + i));
		MmFreeContiguousMemory(p[i]);
		gone("an Mm buffer freed", p[i]);
	}
	stats(&after);
	check(after.my_nbuffers == before.my_nbuffers, "%u buffers left, want %u",
	      after.my_nbuffers, before.my_nbuffers);
	check(after.nbugchecks == before.nbugchecks, "a correct free was counted as a misuse");
	verdict("free_frees_memory_of_every_mm_allocate_routine");
}

/* A free takes only its own buffer: one that shares its frame is untouched. */
static void test_free_leaves_neighbours_alone(void)
{
	void *a = mm_alloc(ODD_LEN, MmCached), *b = mm_alloc(ODD_LEN, MmCached);

	live("the neighbour", b, ODD_LEN, 0x5b);
	MmFreeContiguousMemory(a);
	gone("the freed buffer", a);
	if (live("the neighbour after the free", b, ODD_LEN, 0x5c))
		MmFreeContiguousMemory(b);
	verdict("free_frees_only_its_own_buffer");
}

/* The shim is safe from any thread: a buffer allocated in one is freed in
 * another. */
static void *free_in_thread(void *p)
{
	MmFreeContiguousMemory(p);
	return NULL;
}

static void test_free_from_another_thread(void)
{
	struct contig_stats before, after;
	void *p = mm_alloc(ODD_LEN, MmCached);
	pthread_t t;

	stats(&before);
	if (pthread_create(&t, NULL, free_in_thread, p) != 0)
		bail_out("pthread_create");
	pthread_join(t, NULL);
	stats(&after);
	gone("the buffer freed by another thread", p);
	check(after.my_nbuffers + 1 == before.my_nbuffers && after.nbugchecks == before.nbugchecks,
	      "the free from another thread did not free exactly that buffer");
	verdict("free_from_another_thread_frees");
}

/* "BaseAddress must be the base address": NULL is none. */
static void test_free_null(void)
{
	struct probe pr;

	probe_start(&pr);
	MmFreeContiguousMemory(NULL);
	probe_expect(&pr, "MmFreeContiguousMemory", 1, 1);
	verdict("free_null_frees_nothing_and_is_reported");
}

static void test_free_interior_pointer(void)
{
	unsigned char *p = mm_alloc(3 * PAGE, MmCached);
	struct probe pr;

	live("the buffer", p, 3 * PAGE, 0x31);
	probe_start(&pr);
	MmFreeContiguousMemory(p + PAGE);
	MmFreeContiguousMemory(p + 1);
	probe_expect(&pr, "MmFreeContiguousMemory", 2, 2);
	if (live("the buffer after interior frees", p, 3 * PAGE, 0x32)) {
		MmFreeContiguousMemory(p);
		gone("the buffer freed by its base", p);
	}
	verdict("free_interior_pointer_frees_nothing");
}

static void test_free_double(void)
{
	void *a = mm_alloc(ODD_LEN, MmCached), *b = mm_alloc(ODD_LEN, MmCached);
	struct probe pr;

	live("the other buffer", b, ODD_LEN, 0x41);
	MmFreeContiguousMemory(a);
	probe_start(&pr);
	MmFreeContiguousMemory(a);
	probe_expect(&pr, "MmFreeContiguousMemory", 1, 1);
	gone("the buffer freed twice", a);
	if (live("the other buffer after a double free", b, ODD_LEN, 0x42))
		MmFreeContiguousMemory(b);
	verdict("free_double_free_is_reported");
}

static void test_free_never_allocated(void)
{
	char on_stack[64];
	void *on_heap = malloc(64);
	void *keep = mm_alloc(ODD_LEN, MmCached);
	struct probe pr;

	probe_start(&pr);
	MmFreeContiguousMemory(on_stack);
	MmFreeContiguousMemory(on_heap);
	MmFreeContiguousMemory((void *)(uintptr_t)0xdead0000);
	probe_expect(&pr, "MmFreeContiguousMemory", 3, 3);
	if (live("a live buffer after frees of foreign addresses", keep, ODD_LEN, 0x51))
		MmFreeContiguousMemory(keep);
	free(on_heap);
	verdict("free_of_an_address_never_allocated_frees_nothing");
}

/* "allocated by an MmAllocateContiguousMemoryXxx routine": not by NDIS. */
static void test_free_of_ndis_memory(void)
{
	struct contig_stats st;
	struct probe pr;
	void *p = NdisAllocateMemoryWithTagPriority(NULL, ODD_LEN, 0x7246744e /* "NtFr" */,
						    HighPoolPriority);

	if (!p)
		bail_out("NdisAllocateMemoryWithTagPriority: %s", contig_last_message());
	probe_start(&pr);
	MmFreeContiguousMemory(p);
	probe_expect(&pr, "MmFreeContiguousMemory", 1, 1);
	if (live("the NDIS block after MmFreeContiguousMemory", p, ODD_LEN, 0x61)) {
		NdisFreeMemory(p, 0, 0);
		gone("the NDIS block freed by NdisFreeMemory", p);
	}
	stats(&st);
	check(st.nbugchecks == pr.nbugchecks + 1, "NdisFreeMemory of its own block was counted");
	verdict("free_of_ndis_memory_frees_nothing");
}

/* ---- MmFreeContiguousMemorySpecifyCache ---- */

/* "NumberOfBytes ... Must match the size requested", "CacheType ... Must
 * match the cache type requested": both match, the buffer goes. */
static void test_specifycache_matching(void)
{
	struct contig_stats before, after;
	void *p = mm_alloc(ODD_LEN, MmWriteCombined);

	live("the buffer", p, ODD_LEN, 0x71);
	stats(&before);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmWriteCombined);
	stats(&after);
	gone("the buffer freed with matching size and cache type", p);
	check(after.my_nbuffers + 1 == before.my_nbuffers &&
		      after.my_len + round_page(ODD_LEN) == before.my_len,
	      "the connection's stats did not lose the buffer");
	check(after.nbugchecks == before.nbugchecks, "a correct free was counted as a misuse");
	verdict("free_specifycache_matching_frees");
}

static void test_specifycache_node(void)
{
	struct contig_stats before, after;
	void *p = MmAllocateContiguousMemorySpecifyCacheNode(ODD_LEN, pa(0), pa(UINT64_MAX),
							      pa(0), MmNonCached, MM_ANY_NODE_OK);

	if (!check(p != NULL, "MmAllocateContiguousMemorySpecifyCacheNode: %s",
		   contig_last_message())) {
		verdict("free_specifycache_frees_memory_of_specifycachenode");
		return;
	}
	stats(&before);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmNonCached);
	stats(&after);
	gone("the buffer", p);
	check(after.my_nbuffers + 1 == before.my_nbuffers && after.nbugchecks == before.nbugchecks,
	      "not freed exactly once, without a misuse");
	verdict("free_specifycache_frees_memory_of_specifycachenode");
}

static void test_specifycache_size_mismatch(void)
{
	void *p = mm_alloc(ODD_LEN, MmWriteCombined);
	struct probe pr;

	probe_start(&pr);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN + 1, MmWriteCombined);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN - 1, MmWriteCombined);
	MmFreeContiguousMemorySpecifyCache(p, 0, MmWriteCombined);
	probe_expect(&pr, "MmFreeContiguousMemorySpecifyCache", 3, 3);
	if (live("the buffer after size mismatches", p, ODD_LEN, 0x81)) {
		MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmWriteCombined);
		gone("the buffer freed with its own size", p);
	}
	verdict("free_specifycache_size_mismatch_frees_nothing");
}

/* The size requested, not the size granted (rounded up to 4 KiB). */
static void test_specifycache_rounded_size(void)
{
	void *p = mm_alloc(ODD_LEN, MmCached);
	struct probe pr;

	probe_start(&pr);
	MmFreeContiguousMemorySpecifyCache(p, round_page(ODD_LEN), MmCached);
	probe_expect(&pr, "MmFreeContiguousMemorySpecifyCache", 1, 1);
	if (live("the buffer after a free with the rounded size", p, ODD_LEN, 0x82)) {
		MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmCached);
		gone("the buffer freed with the size requested", p);
	}
	verdict("free_specifycache_size_is_the_size_requested_not_the_rounded_one");
}

static void test_specifycache_cachetype_mismatch(void)
{
	void *p = mm_alloc(ODD_LEN, MmWriteCombined);
	struct probe pr;

	probe_start(&pr);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmCached);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmNonCached);
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, (MEMORY_CACHING_TYPE)MmMaximumCacheType);
	probe_expect(&pr, "MmFreeContiguousMemorySpecifyCache", 3, 3);
	if (live("the buffer after cache type mismatches", p, ODD_LEN, 0x91)) {
		MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmWriteCombined);
		gone("the buffer freed with its own cache type", p);
	}
	verdict("free_specifycache_cachetype_mismatch_frees_nothing");
}

/* "BaseAddress ... Must match the address returned". */
static void test_specifycache_bad_bases(void)
{
	unsigned char *p = mm_alloc(3 * PAGE, MmCached);
	void *q = mm_alloc(ODD_LEN, MmCached);
	struct probe pr;

	MmFreeContiguousMemory(q);
	probe_start(&pr);
	MmFreeContiguousMemorySpecifyCache(NULL, ODD_LEN, MmCached);
	MmFreeContiguousMemorySpecifyCache(p + PAGE, 2 * PAGE, MmCached);
	MmFreeContiguousMemorySpecifyCache(q, ODD_LEN, MmCached);
	probe_expect(&pr, "MmFreeContiguousMemorySpecifyCache", 3, 3);
	if (live("the buffer after bad bases", p, 3 * PAGE, 0xa1))
		MmFreeContiguousMemory(p);
	verdict("free_specifycache_null_interior_or_freed_base_frees_nothing");
}

static void test_specifycache_of_ndis_memory(void)
{
	struct probe pr;
	void *p = NdisAllocateMemoryWithTagPriority(NULL, ODD_LEN, 0x7246744e, HighPoolPriority);

	if (!p)
		bail_out("NdisAllocateMemoryWithTagPriority: %s", contig_last_message());
	probe_start(&pr);
	/* Size and cache type are exactly the block's: only the family is wrong. */
	MmFreeContiguousMemorySpecifyCache(p, ODD_LEN, MmCached);
	probe_expect(&pr, "MmFreeContiguousMemorySpecifyCache", 1, 1);
	if (live("the NDIS block", p, ODD_LEN, 0xb1))
		NdisFreeMemory(p, 0, 0);
	verdict("free_specifycache_of_ndis_memory_frees_nothing");
}

/* ---- how misuse is reported ---- */

/* One line per call site, whatever the number of calls from it; every call
 * counted. */
static void test_report_once_per_site(void)
{
	volatile int npasses = 2, ncalls = 3;
	struct contig_stats before, after;
	int lines[2] = { -1, -1 };
	struct probe pr;

	stats(&before);
	for (int pass = 0; pass < npasses; pass++) {
		probe_start(&pr);
		for (int i = 0; i < ncalls; i++)
			MmFreeContiguousMemory(NULL); /* site A, 6 calls in all */
		probe_stop(&pr);
		lines[pass] = pr.nlines;
		if (pass == 0)
			lines_name(&pr, "MmFreeContiguousMemory");
	}
	check(lines[0] == 1, "%d calls from one site wrote %d lines, want 1", ncalls, lines[0]);
	check(lines[1] == 0, "the same site, called again later, wrote %d more lines", lines[1]);
	verdict("free_misuse_is_said_once_per_call_site");

	probe_start(&pr);
	MmFreeContiguousMemory(NULL); /* site B */
	probe_stop(&pr);
	check(pr.nlines == 1, "a second call site wrote %d lines, want 1", pr.nlines);
	lines_name(&pr, "MmFreeContiguousMemory");
	probe_start(&pr);
	for (int i = 0; i < ncalls; i++)
		MmFreeContiguousMemorySpecifyCache(NULL, PAGE, MmCached); /* site C */
	probe_stop(&pr);
	check(pr.nlines == 1, "SpecifyCache from a new site wrote %d lines, want 1", pr.nlines);
	lines_name(&pr, "MmFreeContiguousMemorySpecifyCache");
	verdict("free_misuse_from_another_call_site_is_said_again_naming_the_routine");

	stats(&after);
	check(after.nbugchecks == before.nbugchecks + (uint64_t)(npasses * ncalls + 1 + ncalls),
	      "nbugchecks went from %" PRIu64 " to %" PRIu64 ", want +%d", before.nbugchecks,
	      after.nbugchecks, npasses * ncalls + 1 + ncalls);
	verdict("free_misuse_is_counted_in_nbugchecks_every_time");
}

/* The count is the daemon's: another connection sees it too. */
static void test_count_seen_by_other_connection(const struct harness_daemon *d)
{
	struct contig_client *other = harness_connect(d);
	struct contig_stats mine, theirs;

	stats(&mine);
	if (contig_get_stats(other, &theirs) < 0)
		bail_out("stats: %s", contig_last_message());
	check(mine.nbugchecks > 0, "no misuse counted at all");
	check(theirs.nbugchecks == mine.nbugchecks,
	      "another connection sees %" PRIu64 " misuses, the shim's %" PRIu64,
	      theirs.nbugchecks, mine.nbugchecks);
	contig_disconnect(other);
	verdict("free_misuse_count_is_visible_from_any_connection");
}

int main(void)
{
	struct harness_daemon d;

	start_daemon(&d, "0:2M:32M", POOL_LEN);

	test_free_returns_memory_to_the_pool();
	test_freed_memory_can_be_allocated_again();
	test_free_frees_every_mm_allocate_routine();
	test_free_leaves_neighbours_alone();
	test_free_from_another_thread();
	test_free_null();
	test_free_interior_pointer();
	test_free_double();
	test_free_never_allocated();
	test_free_of_ndis_memory();
	test_specifycache_matching();
	test_specifycache_node();
	test_specifycache_size_mismatch();
	test_specifycache_rounded_size();
	test_specifycache_cachetype_mismatch();
	test_specifycache_bad_bases();
	test_specifycache_of_ndis_memory();
	test_report_once_per_site();
	test_count_seen_by_other_connection(&d);

	ok(pool_comes_back(wdm_client()),
	   "every_buffer_freed_returns_to_the_pool");
	return finish(&d);
}
