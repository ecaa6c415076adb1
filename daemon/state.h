/* state.h - the daemon's shared state: what more than one module reads,
 * each field with the one module that changes it (its owner) and who
 * else reads it. Everything else a module keeps is private to its .c:
 * the pool set's build state (poolset.c), the restart module's journal
 * health, kept sessions and compaction threshold (restart.c), a
 * session's holdings and slots (session.c, session_int.h), the server's
 * connections (server.c).
 *
 * Loop thread once the loop runs; main.c fills it before.
 */
#ifndef CONTIG_STATE_H
#define CONTIG_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h" /* struct contig_limits */
#include "tags.h"

struct contig_journal;
struct contig_pool;
struct contig_recycler;
struct contig_restart;
struct contig_session;
struct contig_user;

/* What every session draws from: the pools, sorted by page size and node,
 * the recycler that frames go to when their owner lets them go, the
 * limits, and the daemon-wide accounting. (The name is historical: it is
 * the daemon's state, not only its pools.) */
struct contig_pools {
	/* poolset.c builds and releases them; session.c, quota.c, rpc.c,
	 * restart.c, restore.c and server.c read them. */
	struct contig_pool **pools;
	size_t npools;
	struct contig_recycler *recycler; /* main.c starts and stops it; session.c pushes */

	/* The configuration's, set by main.c before the loop; read by
	 * session.c, quota.c, rpc.c and server.c. */
	struct contig_limits limits;
	unsigned watermark_low_pct;    /* low priority keeps this % of a pool free */
	unsigned watermark_normal_pct; /* normal priority keeps this % free */
	uint64_t session_grace_ms;     /* how long an orphan waits (HelloReply.grace_ms) */

	/* Accounting, read by rpc.c's stats. */
	struct contig_tags tags;       /* every session's: session.c counts */
	uint64_t nbugchecks;           /* rpc.c counts */
	struct contig_user *users;     /* quota.c: per uid with a session */
	size_t nusers;
	struct contig_session *sessions; /* session.c: all of them, newest first */
	struct contig_session *kept_first, *kept_last; /* session.c: those keeping an
					   emptied frame, by deadline (server.c's timer reads) */
	uint32_t norphans;             /* session_restore.c: restored, not reclaimed yet */

	/* Restarts: restart.c alone changes these; the rest test journal for
	 * NULL (sessions survive a restart) and call restart.h. */
	struct contig_journal *journal; /* NULL: sessions do not survive a restart */
	struct contig_restart *restart; /* the restart module: the journal's writer */
	uint32_t nsessions_restored;    /* sessions adopted from the last instance's
					   journal (whole), once resumed: stats.c reads it */
};

#endif
