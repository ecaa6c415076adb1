/* bench_range.c - what one allocate and free cost the range allocator.
 *
 * DESIGN
 * In process, no daemon: common/range.c alone, as a pool or a session
 * uses it. One set starts as a single free range of 16 GiB; N buffers are
 * allocated in it (find, then take), then cycles run and each is timed on
 * its own: allocate one buffer (find + take) and free a random live one
 * (give), so N stay live. Sizes are 4 to 64 KiB in whole pages; 30% of the
 * requests carry a constraint (64 KiB alignment, a 64 KiB boundary, a
 * window below 4 GiB or above 8 GiB). Before timing, N + 10 000 cycles
 * bring the set to the fragmentation it settles at.
 *
 * Baseline, in the same run: malloc() and free() of the same sizes in the
 * same pattern (N live, free a random one per cycle). Metadata is what
 * malloc says the set holds (mallinfo2: in use plus mmapped) divided by N:
 * nodes, chunks, arrays, and malloc's own headers, whatever the
 * implementation of range.c is.
 *
 * Prints one table: per N, the free ranges the set has, median and p99 ns
 * per cycle, the same for malloc, the ratios, and bytes per live buffer;
 * then the cost at the largest N over the cost at the smallest. Times
 * include one clock_gettime() (its own median is printed). The machine's
 * other load shows in p99.
 *
 * BENCH_CYCLES=N sets the timed cycles per row (default 100 000).
 */
#include "common.h"
#include "range.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE (4 * KIB)
#define BASE (4 * GIB) /* where the 16 GiB range starts: any address will do */
#define SPACE (16 * GIB)
#define WARMUP 10000

struct rng {
	uint64_t s;
};

/* splitmix64 */
static uint64_t rnd(struct rng *r, uint64_t n)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) % n;
}

static struct contig_range_req gen_req(struct rng *r)
{
	struct contig_range_req req = {
		.len = PAGE * (1 + rnd(r, 16)),
		.align = PAGE,
		.lowest = 0,
		.highest = UINT64_MAX,
		.boundary = 0,
	};
	uint64_t k = rnd(r, 100);

	if (k < 10)
		req.align = 64 * KIB;
	else if (k < 18)
		req.boundary = 64 * KIB;
	else if (k < 24)
		req.highest = BASE + 4 * GIB - 1; /* a 32-bit device, say */
	else if (k < 30)
		req.lowest = BASE + 8 * GIB;
	return req;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	uint64_t median, p99;
};

static struct stats stats_of(uint64_t *ns, size_t n)
{
	struct stats s;

	qsort(ns, n, sizeof(*ns), cmp_u64);
	s.median = ns[n / 2];
	s.p99 = ns[n * 99 / 100];
	return s;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

struct buf {
	uint64_t phys;
	uint64_t len;
};

/* Allocate one buffer; false if nothing fits. */
static bool range_alloc(struct contig_range_set *set, struct rng *r, struct buf *ret_buf)
{
	struct contig_range_req req = gen_req(r);
	uint64_t phys;

	if (contig_range_find(set, &req, &phys) < 0)
		return false;
	if (contig_range_take(set, phys, req.len) < 0) {
		fprintf(stderr, "bench_range: take after find failed\n");
		exit(1);
	}
	ret_buf->phys = phys;
	ret_buf->len = req.len;
	return true;
}

/* One cycle: allocate a buffer, free a random live one. */
static void range_cycle(struct contig_range_set *set, struct rng *r, struct buf *live,
			size_t nlive, unsigned long *nfull)
{
	struct buf b;
	size_t i = (size_t)rnd(r, nlive);

	if (!range_alloc(set, r, &b)) {
		(*nfull)++;
		return;
	}
	if (contig_range_give(set, live[i].phys, live[i].len) < 0) {
		fprintf(stderr, "bench_range: give failed\n");
		exit(1);
	}
	live[i] = b;
}

struct row {
	size_t nlive;
	size_t nranges;
	size_t tree_kib; /* contig_range_set_bytes() */
	struct stats range, malloc;
	/* Each operation of a cycle timed alone; give_hot: the give of the
	 * buffer just taken, whose path is in the cache. */
	uint64_t find, take, give, give_hot;
	double bytes_per_live;
	unsigned long nfull;
};

/* Where a cycle's time goes as the set grows: the same cycles again, each
 * operation timed alone (so each includes one clock_gettime()), and
 * between take and give a give and take of the buffer just taken, whose
 * descent is in the cache. A random give minus that hot one is what the
 * cache misses of a descent cost; the hot one, what the tree's depth and
 * its rebalancing cost. */
static void run_parts(struct row *row, struct contig_range_set *set, struct rng *r,
		      struct buf *live, size_t ncycles)
{
	uint64_t *t[4];
	size_t i, k, n = 0;

	for (k = 0; k < 4; k++)
		if (!(t[k] = calloc(ncycles, sizeof(uint64_t)))) {
			fprintf(stderr, "bench_range: out of memory\n");
			exit(1);
		}
	for (i = 0; i < ncycles; i++) {
		struct contig_range_req req = gen_req(r);
		size_t j = (size_t)rnd(r, row->nlive);
		uint64_t phys, t0, t1, t2, t3, t4;
		volatile uint64_t touch = live[j].phys; /* the bench's own miss, untimed */

		(void)touch;
		t0 = now_ns();
		if (contig_range_find(set, &req, &phys) < 0)
			continue;
		t1 = now_ns();
		if (contig_range_take(set, phys, req.len) < 0)
			exit(1);
		t2 = now_ns();
		if (contig_range_give(set, phys, req.len) < 0 ||
		    contig_range_take(set, phys, req.len) < 0)
			exit(1);
		t3 = now_ns();
		if (contig_range_give(set, live[j].phys, live[j].len) < 0)
			exit(1);
		t4 = now_ns();
		live[j].phys = phys;
		live[j].len = req.len;
		t[0][n] = t1 - t0;
		t[1][n] = t2 - t1;
		t[2][n] = t4 - t3;
		/* give + take of a hot range: half of it stands for the give */
		t[3][n] = (t3 - t2) / 2;
		n++;
	}
	if (n == 0)
		n = 1;
	row->find = stats_of(t[0], n).median;
	row->take = stats_of(t[1], n).median;
	row->give = stats_of(t[2], n).median;
	row->give_hot = stats_of(t[3], n).median;
	for (k = 0; k < 4; k++)
		free(t[k]);
}

static void run_range(struct row *row, struct buf *live, uint64_t *ns, size_t ncycles)
{
	struct contig_range_set set;
	struct rng r = { 0x5eed };
	unsigned long nfull = 0;
	size_t i, heap0;

	heap0 = heap_bytes();
	contig_range_set_init(&set);
	if (contig_range_give(&set, BASE, SPACE) < 0) {
		fprintf(stderr, "bench_range: cannot give the range\n");
		exit(1);
	}
	for (i = 0; i < row->nlive; i++)
		while (!range_alloc(&set, &r, &live[i]))
			;
	for (i = 0; i < row->nlive + WARMUP; i++)
		range_cycle(&set, &r, live, row->nlive, &nfull);
	nfull = 0;
	for (i = 0; i < ncycles; i++) {
		uint64_t t0 = now_ns();

		range_cycle(&set, &r, live, row->nlive, &nfull);
		ns[i] = now_ns() - t0;
	}
	row->nranges = set.nranges;
	row->tree_kib = contig_range_set_bytes(&set) / 1024;
	row->nfull = nfull;
	row->bytes_per_live = (double)(heap_bytes() - heap0) / (double)row->nlive;
	row->range = stats_of(ns, ncycles);
	run_parts(row, &set, &r, live, ncycles);
	contig_range_set_done(&set);
}

/* The same pattern with malloc: the sizes of the same requests. */
static void run_malloc(struct row *row, void **live, uint64_t *ns, size_t ncycles)
{
	struct rng r = { 0x5eed };
	size_t i, j;

	for (i = 0; i < row->nlive; i++)
		live[i] = malloc(gen_req(&r).len);
	for (i = 0; i < row->nlive + WARMUP + ncycles; i++) {
		uint64_t t0 = now_ns();
		void *p = malloc(gen_req(&r).len);

		j = (size_t)rnd(&r, row->nlive);
		free(live[j]);
		live[j] = p;
		if (i >= row->nlive + WARMUP)
			ns[i - row->nlive - WARMUP] = now_ns() - t0;
	}
	for (i = 0; i < row->nlive; i++)
		free(live[i]);
	row->malloc = stats_of(ns, ncycles);
}

static uint64_t timer_ns(uint64_t *ns, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		ns[i] = now_ns() - t0;
	}
	return stats_of(ns, n).median;
}

/* The three targets for the daemon's own cost, as summary rows:
 * at the most live buffers a cycle takes <= 1 us (median) and <= 2x what
 * it takes at the fewest, and <= 128 bytes of metadata per live buffer. */
static void summarize(const struct row *few, const struct row *many)
{
	char what[96], value[64], base[64];
	double scale = (double)many->range.median / (double)few->range.median;

	snprintf(what, sizeof(what), "allocate+free at %zu live (median)", many->nlive);
	snprintf(value, sizeof(value), "%llu ns (p99 %llu)", (unsigned long long)many->range.median,
		 (unsigned long long)many->range.p99);
	snprintf(base, sizeof(base), "%llu ns malloc+free", (unsigned long long)many->malloc.median);
	bench_summary("4 scaling", what, value, base,
		      (double)many->range.median / (double)many->malloc.median, "<= 1 us",
		      many->range.median <= 1000);
	snprintf(what, sizeof(what), "allocate+free at %zu live vs at %zu", many->nlive,
		 few->nlive);
	snprintf(base, sizeof(base), "%llu ns at %zu live", (unsigned long long)few->range.median,
		 few->nlive);
	bench_summary("4 scaling", what, value, base, scale, "<= 2x", scale <= 2.0);
	snprintf(what, sizeof(what), "metadata per live buffer at %zu live", many->nlive);
	snprintf(value, sizeof(value), "%.1f B", many->bytes_per_live);
	bench_summary("4 scaling", what, value, "-", 0, "<= 128 B", many->bytes_per_live <= 128);
}

int main(void)
{
	static const size_t nlives[] = { 10, 1000, 100000 };
	enum { NROWS = sizeof(nlives) / sizeof(nlives[0]) };
	const char *env = getenv("BENCH_CYCLES");
	size_t ncycles = env && *env ? strtoul(env, NULL, 0) : 100000;
	struct row rows[NROWS];
	uint64_t *ns;
	void *live;
	size_t i;

	if (ncycles < 100)
		ncycles = 100;
	/* Allocated up front, so the set's heap bytes are all the set's. */
	ns = calloc(ncycles, sizeof(*ns));
	live = calloc(nlives[NROWS - 1], sizeof(struct buf) > sizeof(void *) ? sizeof(struct buf) :
										  sizeof(void *));
	if (!ns || !live) {
		fprintf(stderr, "bench_range: out of memory\n");
		return 1;
	}

	printf("range allocator (common/range.c), in process: one cycle = find + take of a\n"
	       "4-64 KiB buffer (30%% constrained) and give of a random live one, in a 16 GiB\n"
	       "range; baseline: malloc + free of the same sizes, same pattern. %zu cycles per\n"
	       "row; clock_gettime() itself: %llu ns (included).\n\n",
	       ncycles, (unsigned long long)timer_ns(ns, ncycles));
	printf("%8s %8s | %12s %9s | %13s %10s | %7s %7s | %10s\n", "live", "ranges",
	       "range median", "p99", "malloc median", "p99", "ratio", "p99", "bytes/live");
	for (i = 0; i < NROWS; i++) {
		rows[i].nlive = nlives[i];
		run_range(&rows[i], live, ns, ncycles);
		run_malloc(&rows[i], live, ns, ncycles);
		printf("%8zu %8zu | %9llu ns %6llu ns | %10llu ns %7llu ns | %6.2fx %6.2fx | "
		       "%10.1f\n",
		       rows[i].nlive, rows[i].nranges, (unsigned long long)rows[i].range.median,
		       (unsigned long long)rows[i].range.p99,
		       (unsigned long long)rows[i].malloc.median,
		       (unsigned long long)rows[i].malloc.p99,
		       (double)rows[i].range.median / (double)rows[i].malloc.median,
		       (double)rows[i].range.p99 / (double)rows[i].malloc.p99,
		       rows[i].bytes_per_live);
		if (rows[i].nfull)
			printf("%8s (%lu of the timed requests found no room)\n", "",
			       rows[i].nfull);
		fflush(stdout);
	}
	printf("\nmedian at %zu live / median at %zu live: %.2fx\n", rows[NROWS - 1].nlive,
	       rows[0].nlive, (double)rows[NROWS - 1].range.median / (double)rows[0].range.median);
	printf("\nwhere a cycle's time goes (each operation timed alone, medians; give_hot: give\n"
	       "of the range just taken, its descent in the cache; x: against the first row):\n");
	printf("%8s %8s %9s | %9s %9s %9s %9s | %7s %7s %7s %9s\n", "live", "ranges", "tree_KiB",
	       "find", "take", "give", "give_hot", "find_x", "take_x", "give_x", "give_hot_x");
	for (i = 0; i < NROWS; i++)
		printf("%8zu %8zu %9zu | %6llu ns %6llu ns %6llu ns %6llu ns | %6.2fx %6.2fx %6.2fx "
		       "%8.2fx\n",
		       rows[i].nlive, rows[i].nranges, rows[i].tree_kib,
		       (unsigned long long)rows[i].find, (unsigned long long)rows[i].take,
		       (unsigned long long)rows[i].give, (unsigned long long)rows[i].give_hot,
		       (double)rows[i].find / (double)rows[0].find,
		       (double)rows[i].take / (double)rows[0].take,
		       (double)rows[i].give / (double)rows[0].give,
		       (double)rows[i].give_hot / (double)rows[0].give_hot);
	summarize(&rows[0], &rows[NROWS - 1]);
	free(ns);
	free(live);
	return 0;
}
