/* stats.h - the stats reply (and the hello reply's pool list).
 *
 * Builds replies; never sends them (rpc.c does). Loop thread only.
 */
#ifndef CONTIG_STATS_H
#define CONTIG_STATS_H

#include <stdint.h>

#include "contig.pb-c.h"
#include "metrics.h"
#include "session.h"

/* A stats reply's storage. */
struct contig_stats;

/* Make @reply (its seq already set: the lists fill what room the rest
 * leaves) the stats reply to @req from @s, with @counters and @metrics
 * (NULL: none kept). Returns 0 and *@ret_stats, which @reply points into
 * until contig_stats_free(); or -ENOMEM. */
int contig_stats_build(const struct contig_session *s, const Contig__StatsRequest *req,
		       const struct contig_stats_counters *counters,
		       const struct contig_metrics *metrics, Contig__Reply *reply,
		       struct contig_stats **ret_stats);

/* Free what contig_stats_build() made (NULL: nothing). */
void contig_stats_free(struct contig_stats *stats);

/* A PoolInfo for every pool of @env, in two arrays the caller frees
 * (*@ret_ptrs, then *@ret_infos). Returns 0 or -ENOMEM. */
int contig_stats_pool_infos(const struct contig_pools *env, Contig__PoolInfo **ret_infos,
			    Contig__PoolInfo ***ret_ptrs);

#endif
