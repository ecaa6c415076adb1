/* bench_metrics.c - what the daemon's request counting (daemon/metrics.c)
 * costs, against the request it counts, in the same run.
 *
 * DESIGN
 * The daemon times every request: one clock read when the datagram
 * arrives, one when the reply is out, and contig_metrics_observe() (a
 * count of leading zeros and three additions). That code is linked in
 * here and timed in a loop of BENCH_ITERS (default 200000) requests' worth;
 * the baseline is the median 4 KiB contig_alloc() + contig_free() pair
 * through the real daemon (build/contigd, as bench_latency starts it),
 * which the daemon counts twice. The row's ratio is (pair + 2 countings) /
 * pair: what a client would see if the counting were all of the change.
 * (The daemon cannot be run without it: the counting is not optional, so
 * the cost is measured where it is, not as a difference of two noisy
 * round-trip medians.)
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

#include "contig.h"
#include "metrics.h"

int main(void)
{
	const char *iters_env = getenv("BENCH_ITERS");
	size_t iters = iters_env ? strtoul(iters_env, NULL, 0) : 200000;
	size_t pairs = 2000;
	uint64_t *ns = calloc(pairs, sizeof(*ns));
	static struct contig_metrics m;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b, keep;
	struct bench_result pair;
	uint64_t t0, t1, sink = 0;
	double count_ns;
	char what[96], value[64], baseline[64];

	bench_init("metrics");
	/* the counting alone: what handle() adds per request */
	t0 = bench_now_ns();
	for (size_t i = 0; i < iters; i++) {
		uint64_t a = contig_metrics_now_ns();

		sink += a;
		contig_metrics_observe(&m, CONTIG_METRICS_ALLOC, contig_metrics_now_ns() - a);
	}
	t1 = bench_now_ns();
	count_ns = (double)(t1 - t0) / (double)iters;

	bench_daemon_start("0:2M:32M", NULL);
	if (contig_connect(bench_daemon.sock, &c) < 0) {
		fprintf(stderr, "bench_metrics: connect: %s\n", contig_last_message());
		return 1;
	}
	/* The daemon's counting per request is timed: every pair a round
	 * trip (the fast path would send none). One buffer stays live: 4 KiB
	 * pairs are carved from a frame the session owns, no recycling in
	 * the loop (as bench_latency). */
	contig_set_fast_path(c, 0);
	contig_alloc_req_init(&req, 4096);
	if (contig_alloc(c, &req, &keep) < 0)
		return 1;
	for (size_t i = 0; i < pairs; i++) {
		t0 = bench_now_ns();
		if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0) {
			fprintf(stderr, "bench_metrics: %s\n", contig_last_message());
			return 1;
		}
		ns[i] = bench_now_ns() - t0;
	}
	pair = bench_summarize(ns, pairs);
	contig_free(c, keep.virt);
	contig_disconnect(c);
	bench_daemon_stop();

	printf("counting one request: %.1f ns (%zu iterations; %llu)\n", count_ns, iters,
	       (unsigned long long)(sink & 1));
	printf("4 KiB alloc+free pair: median %.2f us\n", pair.median_us);
	snprintf(what, sizeof(what), "latency counting, 2 per 4 KiB alloc+free pair");
	snprintf(value, sizeof(value), "%.1f ns per request", count_ns);
	snprintf(baseline, sizeof(baseline), "%.2f us per pair", pair.median_us);
	bench_summary("11 metrics", what, value, baseline,
		      (pair.median_us * 1000.0 + 2 * count_ns) / (pair.median_us * 1000.0),
		      "<= 1.01x (within noise)",
		      2 * count_ns <= 0.01 * pair.median_us * 1000.0);
	free(ns);
	return 0;
}
