/* metrics.h - what the daemon counts for operators: request latency,
 * refusals, allocations, frees, sessions adopted after a restart.
 *
 * Plain counters, no locks: only the loop thread writes and reads them
 * (stats replies are built on the loop thread too). Pure C, no libuv.
 */
#ifndef CONTIG_METRICS_H
#define CONTIG_METRICS_H

#include <stdint.h>
#include <time.h>

/* Latency buckets: bucket i counts requests that took at most
 * 2^(i + CONTIG_METRICS_SHIFT) ns, and not at most the bound before (1.024 us, 2.048 us, ... 8.6 s); the last
 * one counts the rest. Powers of two so that finding the bucket is a
 * count of leading zeros, not a search. */
#define CONTIG_METRICS_SHIFT 10
#define CONTIG_METRICS_BUCKETS 24

/* Request kinds the latency is kept for (the wire's request bodies). */
enum contig_metrics_kind {
	CONTIG_METRICS_HELLO,
	CONTIG_METRICS_ALLOC,
	CONTIG_METRICS_FREE,
	CONTIG_METRICS_STATS,
	CONTIG_METRICS_REPORT,
	CONTIG_METRICS_OTHER, /* unknown or malformed */
	CONTIG_METRICS_NKINDS,
};

/* Room for the refusal reasons (check.c's table says what each index is). */
#define CONTIG_METRICS_MAX_REFUSALS 24

struct contig_metrics_latency {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t buckets[CONTIG_METRICS_BUCKETS + 1]; /* not cumulative; last: +Inf */
};

struct contig_metrics {
	struct contig_metrics_latency latency[CONTIG_METRICS_NKINDS];
	uint64_t nrefused[CONTIG_METRICS_MAX_REFUSALS];
	uint64_t nallocs;            /* buffers allocated (a resent allocate counts once) */
	uint64_t nfrees;             /* buffers freed by a free request */
	uint64_t nreleased;          /* buffers released with their connection */
	uint64_t nsessions_resumed;  /* restored sessions their client reclaimed */
	uint64_t start_time;         /* unix seconds this instance started */
};

/* Counters the stats reply shows beside struct contig_metrics, kept by
 * server.c (sessions connected, the recycler's reports). */
struct contig_stats_counters {
	uint32_t nsessions;
	uint64_t nrecycled, nrecycle_moved, nrecycle_truncated, nframes_lost, nframes_recovered;
	uint64_t nrequests_waited; /* put aside until a recycled frame came back */
};

/* A monotonic clock in ns, cheap enough for every request (vDSO). */
static inline uint64_t contig_metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Count a request of @kind that took @ns. Loop thread. */
void contig_metrics_observe(struct contig_metrics *m, enum contig_metrics_kind kind, uint64_t ns);

/* Upper bound of latency bucket @i (< CONTIG_METRICS_BUCKETS), in ns. */
static inline uint64_t contig_metrics_bucket_ns(unsigned i)
{
	return (uint64_t)1 << (i + CONTIG_METRICS_SHIFT);
}

/* The name of @kind as metrics show it ("alloc"). */
const char *contig_metrics_kind_name(enum contig_metrics_kind kind);

#endif
