/* metrics.c - counters operators read through stats replies.
 *
 * DESIGN
 * The hot path is contig_metrics_observe(): one bucket found with a count of
 * leading zeros and three additions, on the loop thread, which is the only
 * thread that touches these counters (so no atomics: a stats reply is built
 * on the same thread and sees a consistent set). Everything is counted
 * since this instance started; Prometheus takes resets of counters as
 * restarts (the stats reply carries the start time).
 *
 * Calls nothing of the daemon: no session, pool or log; the counters are
 * plain data that server.c and rpc.c feed (server.c reads the clock,
 * contig_metrics_now_ns(), when a request arrives) and the stats reply
 * reads.
 */
#include "metrics.h"

void contig_metrics_observe(struct contig_metrics *m, enum contig_metrics_kind kind, uint64_t ns)
{
	struct contig_metrics_latency *l = &m->latency[kind];
	/* Prometheus buckets are "le": bucket i takes ns <= 2^(i + SHIFT), so
	 * i is the bit length of (ns - 1) >> SHIFT. */
	uint64_t q = (ns ? ns - 1 : 0) >> CONTIG_METRICS_SHIFT;
	unsigned i = q ? 64 - (unsigned)__builtin_clzll(q) : 0;

	l->count++;
	l->sum_ns += ns;
	l->buckets[i < CONTIG_METRICS_BUCKETS ? i : CONTIG_METRICS_BUCKETS]++;
}

const char *contig_metrics_kind_name(enum contig_metrics_kind kind)
{
	static const char *const names[CONTIG_METRICS_NKINDS] = {
		[CONTIG_METRICS_HELLO] = "hello", [CONTIG_METRICS_ALLOC] = "alloc",
		[CONTIG_METRICS_FREE] = "free",   [CONTIG_METRICS_STATS] = "stats",
		[CONTIG_METRICS_REPORT] = "report", [CONTIG_METRICS_OTHER] = "other",
	};

	return (unsigned)kind < CONTIG_METRICS_NKINDS ? names[kind] : "other";
}
