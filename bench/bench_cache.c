/* bench_cache.c - what the cache maintenance of each cache type costs, and
 * contig_copy_to_wc() against memcpy().
 *
 * DESIGN
 * Starts the real daemon with --pool 0:2M:64M (BENCH_POOL overrides) and
 * takes one 2 MiB buffer (one frame) of each cache type; the daemon is idle
 * while the timing runs, and this process is pinned to its first allowed
 * CPU.
 *
 * Sync: for 4 KiB, 64 KiB and 2 MiB at the start of each buffer, three
 * variants, interleaved so the machine's noise falls on all of them alike,
 * each starting from the same state (the range written, untimed, so its
 * lines are in the cache and dirty):
 *   write     memset() of the range: the baseline
 *   +device   the same memset(), then contig_sync_for_device() of the range
 *   +cpu      the same memset(), then contig_sync_for_cpu() of the range
 * each timed on its own (CLOCK_MONOTONIC). The ratio is the median of a
 * variant over the baseline's median; "sync" is the difference, what the
 * call adds to a write of the range.
 *
 * Copy: into the write-combined buffer from a malloc'd source (kept hot),
 * the destination evicted (untimed contig_sync_for_cpu()) before each
 * copy, as a buffer a device owned would be:
 *   memcpy        the baseline
 *   copy_to_wc    contig_copy_to_wc()
 *   memcpy+sync   memcpy(), then contig_sync_for_device(): the other way to
 *                 get the bytes to memory
 *
 * Prints the flush instructions used (contig_get_cache_info()), one table
 * for sync and one for copy; summary rows for noncached and cached (the
 * other types share their code paths, and their rows are in the table) and
 * for the copy. BENCH_ITERS=N sets the iterations at 4 KiB (default 20000;
 * 64 KiB a fifth, 2 MiB a fiftieth, at least 20).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTYPES 6
#define NSIZES 3

static const char *const type_names[NTYPES] = {
	"noncached", "cached", "writecombined", "hwcoherent", "noncached_unordered", "uswc",
};
static const uint64_t sizes[NSIZES] = { 4 * KIB, 64 * KIB, 2 * MIB };

static void size_name(uint64_t len, char *buf, size_t cap)
{
	if (len >= MIB)
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(len / MIB));
	else
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(len / KIB));
}

static size_t iters_for(size_t iters, uint64_t len)
{
	size_t n = len >= MIB ? iters / 50 : len >= 64 * KIB ? iters / 5 : iters;

	return n < 20 ? 20 : n;
}

struct sync_row {
	struct bench_result write, device, cpu;
};

/* The three sync variants on [0, @len) of @b. */
static struct sync_row measure_sync(struct contig_client *c, const struct contig_buffer *b,
				    uint64_t len, size_t n)
{
	uint64_t *t[3];
	struct sync_row row;

	for (int v = 0; v < 3; v++) {
		t[v] = malloc(n * sizeof(*t[v]));
		if (!t[v])
			bench_die("out of memory");
	}
	for (size_t i = 0; i < n; i++)
		for (int v = 0; v < 3; v++) {
			uint64_t t0;
			int r = 0;

			memset(b->virt, (int)(i + 1), len); /* hot and dirty */
			t0 = bench_now_ns();
			memset(b->virt, (int)(i + 2 + v), len);
			if (v == 1)
				r = contig_sync_for_device(c, b, 0, len);
			else if (v == 2)
				r = contig_sync_for_cpu(c, b, 0, len);
			t[v][i] = bench_now_ns() - t0;
			if (r < 0)
				bench_die("sync: %s", contig_last_message());
		}
	row.write = bench_summarize(t[0], n);
	row.device = bench_summarize(t[1], n);
	row.cpu = bench_summarize(t[2], n);
	for (int v = 0; v < 3; v++)
		free(t[v]);
	return row;
}

struct copy_row {
	struct bench_result memcpy_, wc, memcpy_sync;
};

static struct copy_row measure_copy(struct contig_client *c, const struct contig_buffer *b,
				    const uint8_t *src, uint64_t len, size_t n)
{
	uint64_t *t[3];
	struct copy_row row;

	for (int v = 0; v < 3; v++) {
		t[v] = malloc(n * sizeof(*t[v]));
		if (!t[v])
			bench_die("out of memory");
	}
	for (size_t i = 0; i < n; i++)
		for (int v = 0; v < 3; v++) {
			volatile uint8_t sink = 0;
			uint64_t t0;

			for (uint64_t k = 0; k < len; k += 64) /* the source, hot */
				sink += src[k];
			if (contig_sync_for_cpu(c, b, 0, len) < 0) /* the destination, cold */
				bench_die("sync: %s", contig_last_message());
			t0 = bench_now_ns();
			if (v == 1) {
				contig_copy_to_wc(b->virt, src, len);
			} else {
				memcpy(b->virt, src, len);
				if (v == 2 && contig_sync_for_device(c, b, 0, len) < 0)
					bench_die("sync: %s", contig_last_message());
			}
			t[v][i] = bench_now_ns() - t0;
			(void)sink;
		}
	row.memcpy_ = bench_summarize(t[0], n);
	row.wc = bench_summarize(t[1], n);
	row.memcpy_sync = bench_summarize(t[2], n);
	for (int v = 0; v < 3; v++)
		free(t[v]);
	return row;
}

static void summary_sync(const char *type, const char *size, const char *dir,
			 struct bench_result with, struct bench_result write)
{
	char what[96], value[64], baseline[64];

	snprintf(what, sizeof(what), "%s %s, dirty, %s", size, type, dir);
	snprintf(value, sizeof(value), "%.2f us (p99 %.2f)", with.median_us, with.p99_us);
	snprintf(baseline, sizeof(baseline), "%.2f us the write alone", write.median_us);
	bench_summary("10 cache", what, value, baseline, with.median_us / write.median_us, NULL,
		      true);
}

int main(void)
{
	const char *pool = getenv("BENCH_POOL") ? getenv("BENCH_POOL") : "0:2M:64M";
	size_t iters = getenv("BENCH_ITERS") ? strtoul(getenv("BENCH_ITERS"), NULL, 10) : 20000;
	struct contig_buffer bufs[NTYPES];
	struct contig_cache_info info;
	struct contig_client *c;
	uint8_t *src;
	int cpus[1];
	uint64_t t0 = bench_now_ns();

	bench_init("bench_cache");
	if (bench_cpus(cpus, 1) < 1)
		bench_die("no CPU to run on");
	bench_daemon_start(pool, NULL);
	if (contig_connect(bench_daemon.sock, &c) < 0)
		bench_die("connect: %s", contig_last_message());
	for (int t = 0; t < NTYPES; t++) {
		struct contig_alloc_req req;

		contig_alloc_req_init(&req, 2 * MIB);
		req.cache_type = t;
		if (contig_alloc(c, &req, &bufs[t]) < 0)
			bench_die("alloc %s: %s", type_names[t], contig_last_message());
	}
	bench_pin_self(cpus[0]);
	contig_get_cache_info(&info);
	printf("bench_cache: contigd --pool %s; one 2 MiB buffer per type; this process on CPU "
	       "%d; median and p99 of each call timed alone (CLOCK_MONOTONIC)\n",
	       pool, cpus[0]);
	printf("this CPU: line %u bytes; write back with %s, evict with %s; non-temporal stores "
	       "%s\n",
	       info.line_len, info.write_back, info.invalidate, info.nt_stores ? "yes" : "no");
	printf("\n%-20s %7s %6s %10s %10s %10s %10s %10s %8s %8s\n", "type", "size", "n",
	       "write_us", "+dev_us", "+cpu_us", "dev_us", "cpu_us", "dev_x", "cpu_x");
	for (int t = 0; t < NTYPES; t++)
		for (int s = 0; s < NSIZES; s++) {
			size_t n = iters_for(iters, sizes[s]);
			struct sync_row row = measure_sync(c, &bufs[t], sizes[s], n);
			char size[32];

			size_name(sizes[s], size, sizeof(size));
			printf("%-20s %7s %6zu %10.2f %10.2f %10.2f %10.2f %10.2f %7.2fx %7.2fx\n",
			       type_names[t], size, n, row.write.median_us, row.device.median_us,
			       row.cpu.median_us, row.device.median_us - row.write.median_us,
			       row.cpu.median_us - row.write.median_us,
			       row.device.median_us / row.write.median_us,
			       row.cpu.median_us / row.write.median_us);
			if (t == CONTIG_NON_CACHED || t == CONTIG_CACHED) {
				summary_sync(type_names[t], size, "sync_for_device", row.device,
					     row.write);
				summary_sync(type_names[t], size, "sync_for_cpu", row.cpu, row.write);
			}
		}
	printf("dev_us, cpu_us: what the sync adds to the write (median difference); dev_x, "
	       "cpu_x: write+sync over the write alone\n");

	src = malloc(2 * MIB);
	if (!src)
		bench_die("out of memory");
	for (size_t i = 0; i < 2 * MIB; i++)
		src[i] = (uint8_t)(i * 13);
	printf("\n%-20s %7s %6s %10s %10s %12s %8s %8s\n", "copy into", "size", "n", "memcpy_us",
	       "wc_us", "memcpy+sync", "wc_x", "sync_x");
	for (int s = 0; s < NSIZES; s++) {
		size_t n = iters_for(iters, sizes[s]);
		struct copy_row row = measure_copy(c, &bufs[CONTIG_WRITE_COMBINED], src, sizes[s], n);
		char size[32], what[96], value[64], baseline[64];

		size_name(sizes[s], size, sizeof(size));
		printf("%-20s %7s %6zu %10.2f %10.2f %12.2f %7.2fx %7.2fx\n", "writecombined", size,
		       n, row.memcpy_.median_us, row.wc.median_us, row.memcpy_sync.median_us,
		       row.wc.median_us / row.memcpy_.median_us,
		       row.wc.median_us / row.memcpy_sync.median_us);
		snprintf(what, sizeof(what), "%s contig_copy_to_wc vs memcpy, cold destination", size);
		snprintf(value, sizeof(value), "%.2f us (p99 %.2f)", row.wc.median_us, row.wc.p99_us);
		snprintf(baseline, sizeof(baseline), "%.2f us memcpy (%.2f us +sync_for_device)",
			 row.memcpy_.median_us, row.memcpy_sync.median_us);
		bench_summary("10 cache", what, value, baseline,
			      row.wc.median_us / row.memcpy_.median_us, NULL, true);
	}
	printf("wc_x: contig_copy_to_wc over memcpy; sync_x: over memcpy then "
	       "contig_sync_for_device; the destination evicted before each copy\n");
	printf("total %.1f s\n", (bench_now_ns() - t0) / 1e9);
	free(src);
	for (int t = 0; t < NTYPES; t++)
		contig_free(c, bufs[t].virt);
	contig_disconnect(c);
	bench_daemon_stop();
	return 0;
}
