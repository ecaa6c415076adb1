/* test_physaddr.c - MmGetPhysicalAddress (client/contig_wdm.h): the
 * physical address of any byte inside a live buffer, 0 for any other
 * address, from any thread, without a round trip to the daemon.
 *
 * One daemon with a 64 MiB pool of 2 MiB frames on node 0; this process is
 * the driver. Every answer of MmGetPhysicalAddress is compared with what
 * /proc/self/pagemap says of the same byte, never with what the library
 * says. Threads collect their findings and the main thread reports them
 * (TAP output is not thread-safe); they start together on a barrier, not
 * after a sleep.
 */
#include <pthread.h>

#include "conformance.h"

#define POOL_LEN (64 * MiB)
#define NTHREADS 4
#define NCHURN 40

static int static_byte;

/* Does MmGetPhysicalAddress agree with pagemap at @virt + @off? Says where
 * not, unless @quiet. */
static bool agrees(const uint8_t *virt, uint64_t off, bool quiet)
{
	uint64_t want = harness_phys_of(self, virt + off), got = phys_of(virt + off);

	if (want != 0 && got == want)
		return true;
	if (!quiet)
		diag("  %p + 0x%" PRIx64 ": MmGetPhysicalAddress 0x%" PRIx64 ", pagemap 0x%" PRIx64,
		     (const void *)virt, off, got, want);
	return false;
}

/* Every byte of [virt, virt + len): one pagemap read per page, then
 * MmGetPhysicalAddress of each byte against it. */
static bool agrees_every_byte(const uint8_t *virt, uint64_t len)
{
	for (uint64_t page = 0; page < len; page += PAGE) {
		uint64_t base = harness_phys_of(self, virt + page);

		if (base == 0) {
			diag("  %p + 0x%" PRIx64 ": not present in pagemap", (const void *)virt,
			     page);
			return false;
		}
		for (uint64_t off = page; off < len && off < page + PAGE; off++)
			if (phys_of(virt + off) != base + (off - page)) {
				diag("  %p + 0x%" PRIx64 ": MmGetPhysicalAddress 0x%" PRIx64
				     ", pagemap 0x%" PRIx64,
				     (const void *)virt, off, phys_of(virt + off),
				     base + (off - page));
				return false;
			}
	}
	return true;
}

/* First, middle and last byte of [virt, virt + len). */
static bool agrees_at_ends(const uint8_t *virt, uint64_t len)
{
	return agrees(virt, 0, false) && agrees(virt, len / 2, false) &&
	       agrees(virt, len - 1, false);
}

/* Before anything was allocated there is no buffer, and no connection is
 * made just to say so. */
static void test_before_first_use(struct contig_client *observer)
{
	struct contig_stats st = { 0 };
	int local = 0;

	ok(phys_of(&local) == 0 && phys_of(&static_byte) == 0 && phys_of(NULL) == 0,
	   "physaddr_before_any_allocation_is_zero");
	ok(contig_get_stats(observer, &st) == 0 && st.nsessions == 1,
	   "physaddr_does_not_connect_to_the_daemon");
	if (st.nsessions != 1)
		diag("  %u sessions, only the observer's expected", st.nsessions);
}

/* "the physical address of any byte inside a live buffer". */
static void test_every_byte(struct contig_client *observer)
{
	uint64_t len = 5 * PAGE + 123;
	struct contig_stats st;
	uint8_t *v = alloc(len, MmCached);
	uint64_t pm;

	if (!v)
		bail_out("MmAllocateContiguousMemorySpecifyCache: NULL");
	pm = harness_phys_of(self, v);
	ok(pm != 0 && harness_phys_contiguous(self, v, round_page(len), pm) && phys_of(v) == pm,
	   "physaddr_of_the_base_matches_pagemap");
	ok(agrees_every_byte(v, len), "physaddr_of_any_byte_matches_pagemap");
	ok(agrees_every_byte(v + len, round_page(len) - len),
	   "physaddr_of_the_rounded_up_tail_of_the_last_page_matches_pagemap");
	MmFreeContiguousMemory(v);

	settle_on(observer, &st);
	if (st.pools[0].largest_free_len >= 2 * FRAME) {
		uint64_t big = FRAME + 3 * PAGE + 5;
		bool good = true;

		v = alloc(big, MmCached);
		if (!v)
			bail_out("MmAllocateContiguousMemorySpecifyCache: NULL for %" PRIu64, big);
		pm = harness_phys_of(self, v);
		for (uint64_t page = 0; page < big && good; page += PAGE)
			good = agrees(v, page, false) &&
			       agrees(v, page + PAGE - 1 < big ? page + PAGE - 1 : big - 1, false);
		ok(good && pm / FRAME != (pm + big - 1) / FRAME,
		   "physaddr_across_a_frame_seam_matches_pagemap");
		MmFreeContiguousMemory(v);
	} else {
		ok(true, "physaddr_across_a_frame_seam_matches_pagemap # SKIP no two adjacent "
			 "frames this run");
	}
}

/* Whichever routine allocated the buffer. */
static void test_each_routine(void)
{
	PHYSICAL_ADDRESS no_limit;
	uint64_t len = 3 * PAGE + 17;
	uint8_t *v;

	no_limit.QuadPart = -1;
	v = MmAllocateContiguousMemory((SIZE_T)len, no_limit);
	ok(v && agrees_at_ends(v, len), "physaddr_of_mmallocatecontiguousmemory_matches_pagemap");
	if (v)
		MmFreeContiguousMemory(v);
	v = alloc(len, MmNonCached);
	ok(v && agrees_at_ends(v, len), "physaddr_of_a_non_cached_buffer_matches_pagemap");
	if (v)
		MmFreeContiguousMemorySpecifyCache(v, (SIZE_T)len, MmNonCached);
	v = alloc(len, MmWriteCombined);
	ok(v && agrees_at_ends(v, len), "physaddr_of_a_write_combined_buffer_matches_pagemap");
	if (v)
		MmFreeContiguousMemorySpecifyCache(v, (SIZE_T)len, MmWriteCombined);
	v = MmAllocateContiguousMemorySpecifyCacheNode((SIZE_T)len, pa(0), no_limit, pa(64 * KiB),
						       MmCached, 0);
	ok(v && agrees_at_ends(v, len), "physaddr_of_mmallocatecontiguousmemoryspecifycachenode_"
					"matches_pagemap");
	if (v)
		MmFreeContiguousMemory(v);
	v = NdisAllocateMemoryWithTagPriority(NULL, (UINT)len, 0x74736554 /* "Test" */,
					      HighPoolPriority);
	ok(v && agrees_at_ends(v, len),
	   "physaddr_of_ndisallocatememorywithtagpriority_matches_pagemap");
	if (v) {
		NdisFreeMemory(v, (UINT)len, 0);
		ok(phys_of(v) == 0, "physaddr_of_a_freed_ndis_buffer_is_zero");
	} else {
		ok(false, "physaddr_of_a_freed_ndis_buffer_is_zero");
	}
}

/* "0 for any other address". */
static void test_outside(struct contig_client *observer)
{
	uint64_t len = 3 * PAGE;
	struct contig_stats st;
	uint8_t *v, *a, *b, *heap;
	int local = 1;

	settle_on(observer, &st);
	v = alloc(len, MmCached);
	heap = malloc(64);
	if (!v || !heap)
		bail_out("cannot allocate");
	ok(phys_of(&local) == 0 && phys_of(&static_byte) == 0 && phys_of(heap) == 0 &&
		   phys_of((void *)(uintptr_t)UINTPTR_MAX) == 0 &&
		   phys_of((void *)(uintptr_t)PAGE) == 0,
	   "physaddr_outside_every_buffer_is_zero");
	free(heap);
	ok(phys_of(NULL) == 0, "physaddr_of_null_is_zero");
	ok(agrees(v, len - 1, false) && phys_of(v + len) == 0,
	   "physaddr_one_past_the_end_is_zero");
	diag("  one past the end is %s per pagemap (the rest of the frame may be mapped)",
	     harness_phys_of(self, v + len) ? "present" : "not present");
	ok(phys_of(v - 1) == 0, "physaddr_one_byte_before_the_start_is_zero");
	MmFreeContiguousMemory(v);
	ok(phys_of(v) == 0 && phys_of(v + PAGE + 7) == 0 && phys_of(v + len - 1) == 0,
	   "physaddr_of_a_freed_buffer_is_zero");

	/* Two buffers of one type share a frame (DESIGN.md packs them): the
	 * frame stays owned and mapped after the first is freed. */
	settle_on(observer, &st);
	a = alloc(len, MmCached);
	b = alloc(len, MmCached);
	if (!a || !b)
		bail_out("cannot allocate two buffers");
	if (harness_phys_of(self, a) / FRAME == harness_phys_of(self, b) / FRAME) {
		MmFreeContiguousMemory(a);
		ok(phys_of(a) == 0 && phys_of(a + len - 1) == 0,
		   "physaddr_of_a_freed_buffer_is_zero_while_its_frame_is_still_held");
		ok(agrees_every_byte(b, len), "physaddr_of_the_neighbour_still_matches_pagemap");
	} else {
		MmFreeContiguousMemory(a);
		ok(true, "physaddr_of_a_freed_buffer_is_zero_while_its_frame_is_still_held # SKIP "
			 "the two buffers are not in one frame");
		ok(agrees_every_byte(b, len), "physaddr_of_the_neighbour_still_matches_pagemap");
	}
	MmFreeContiguousMemory(b);
}

/* What a thread found. */
struct thread_probe {
	uint8_t *virt; /* a buffer to look at, or NULL: allocate one */
	uint64_t len;
	unsigned seed;
	pthread_barrier_t *start;
	int nchecked, nwrong, nnull;
	uint8_t *held; /* allocated by the thread and left for the caller */
};

static void *probe_buffer(void *arg)
{
	struct thread_probe *p = arg;

	if (p->start)
		pthread_barrier_wait(p->start);
	if (!p->virt) {
		p->virt = p->held = alloc(p->len, MmCached);
		if (!p->virt) {
			p->nnull++;
			return NULL;
		}
	}
	for (uint64_t off = 0; off < p->len; off += 511) {
		p->nchecked++;
		if (!agrees(p->virt, off, true))
			p->nwrong++;
	}
	p->nchecked++;
	if (!agrees(p->virt, p->len - 1, true))
		p->nwrong++;
	return NULL;
}

/* Allocate, check (own buffer and the shared one in p->virt), free, over
 * and over, while the other threads do the same. */
static void *churn(void *arg)
{
	static const MEMORY_CACHING_TYPE types[] = { MmCached, MmNonCached, MmWriteCombined };
	struct thread_probe *p = arg;

	pthread_barrier_wait(p->start);
	for (int i = 0; i < NCHURN; i++) {
		uint64_t len = PAGE + rand_r(&p->seed) % (40 * KiB);
		MEMORY_CACHING_TYPE type = types[rand_r(&p->seed) % 3];
		uint8_t *v = alloc(len, type);

		if (!v) {
			p->nnull++;
			continue;
		}
		memset(v, i, len);
		p->nchecked += 3;
		p->nwrong += !agrees(v, 0, true) + !agrees(v, len - 1, true) +
			     !agrees(p->virt, rand_r(&p->seed) % p->len, true);
		MmFreeContiguousMemorySpecifyCache(v, (SIZE_T)len, type);
	}
	return NULL;
}

/* Threads racing to first use: each allocates and checks its buffer. Run
 * in a child process that has not touched the routines yet. */
static int child_first_use(int fd, void *arg)
{
	struct thread_probe probes[NTHREADS];
	pthread_t threads[NTHREADS];
	pthread_barrier_t start;
	int result = 0;

	(void)fd;
	(void)arg;
	self = getpid();
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		probes[i] = (struct thread_probe){ .len = PAGE * (i + 1) + 99, .start = &start };
		if (pthread_create(&threads[i], NULL, probe_buffer, &probes[i]) != 0)
			return 3;
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(threads[i], NULL);
		if (probes[i].nnull || probes[i].nwrong || probes[i].nchecked == 0)
			result = 1;
	}
	for (int i = 0; i < NTHREADS; i++)
		for (int j = i + 1; j < NTHREADS; j++)
			if (probes[i].held && probes[j].held &&
			    phys_of(probes[i].held) == phys_of(probes[j].held))
				result = 2;
	for (int i = 0; i < NTHREADS; i++)
		if (probes[i].held)
			MmFreeContiguousMemory(probes[i].held);
	pthread_barrier_destroy(&start);
	return result;
}

/* "safe from any thread". */
static void test_threads(struct contig_client *observer)
{
	struct thread_probe probes[NTHREADS], one;
	pthread_t threads[NTHREADS], thread;
	pthread_barrier_t start;
	struct contig_stats st;
	uint64_t len = 9 * PAGE + 1;
	uint8_t *v;
	int nchecked = 0, nwrong = 0, nnull = 0;

	settle_on(observer, &st);
	v = alloc(len, MmCached);
	if (!v)
		bail_out("cannot allocate");
	one = (struct thread_probe){ .virt = v, .len = len };
	if (pthread_create(&thread, NULL, probe_buffer, &one) != 0)
		bail_out("pthread_create");
	pthread_join(thread, NULL);
	if (!ok(one.nchecked > 0 && one.nwrong == 0, "physaddr_from_another_thread"))
		diag("  %d of %d bytes wrong", one.nwrong, one.nchecked);

	one = (struct thread_probe){ .len = len };
	if (pthread_create(&thread, NULL, probe_buffer, &one) != 0)
		bail_out("pthread_create");
	pthread_join(thread, NULL);
	ok(one.held && agrees_every_byte(one.held, len),
	   "physaddr_of_a_buffer_another_thread_allocated_matches_pagemap");
	if (one.held)
		MmFreeContiguousMemory(one.held);

	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		probes[i] = (struct thread_probe){ .virt = v, .len = len, .seed = 7919u * (i + 1),
					    .start = &start };
		if (pthread_create(&threads[i], NULL, churn, &probes[i]) != 0)
			bail_out("pthread_create");
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(threads[i], NULL);
		nchecked += probes[i].nchecked;
		nwrong += probes[i].nwrong;
		nnull += probes[i].nnull;
	}
	pthread_barrier_destroy(&start);
	if (!ok(nnull == 0 && nwrong == 0 && nchecked == NTHREADS * NCHURN * 3,
		"physaddr_is_right_while_other_threads_allocate_and_free"))
		diag("  %d NULL, %d of %d addresses wrong", nnull, nwrong, nchecked);
	ok(agrees_every_byte(v, len), "physaddr_of_a_long_lived_buffer_is_unchanged_by_the_churn");
	MmFreeContiguousMemory(v);
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:64M", NULL };
	struct harness_daemon d;
	struct harness_child ch;
	struct contig_client *observer;
	struct contig_stats st;
	int status;

	self = getpid();
	harness_daemon_start(&d, args);
	observer = harness_connect(&d);
	test_before_first_use(observer);

	/* Before this process touches the routines: a child inherits none of
	 * their state, so its threads race to the first connection. */
	harness_child_start(&ch, child_first_use, NULL);
	status = harness_child_wait(&ch);
	if (!ok(status == 0, "physaddr_threads_racing_to_first_use_each_get_their_own_address"))
		diag("  child exit status %d (1: NULL or a wrong address, 2: two threads got "
		     "one buffer)",
		     status);

	test_every_byte(observer);
	test_each_routine();
	test_outside(observer);
	test_threads(observer);

	settle_on(observer, &st);
	ok(st.nframes_lost == 0 && st.pools[0].total_len == POOL_LEN,
	   "physaddr_everything_freed_returns_to_the_pool");
	contig_disconnect(observer);
	return finish(&d);
}
