/* restart.c - the restart module: the journal written, compacted and
 * given up, the last instance's state loaded and resumed, orphans timed
 * out, sessions kept at shutdown.
 *
 * DESIGN
 * Owns the journal while the daemon runs (pools->journal: opened,
 * replaced at compaction, given up, closed here alone; the others only
 * test it for NULL), whether it is whole (journal_failed), whether
 * sessions are kept (keep_sessions), the journal's path, the restore plan
 * (restore.c) between loading and resuming, and the grace timer.
 * The one interface the rest calls:
 *   - main.c, in order: contig_restart_load() before the pools (the pool
 *     set adopts the frames the plan names, contig_restart_plan());
 *     contig_restart_resume() once the recycler runs (sessions rebuilt as
 *     orphans, the plan freed, a fresh journal published); the grace
 *     timer then releases the orphans no client reclaims within
 *     session_grace; contig_restart_stopping() at a signal decides
 *     whether sessions stay for the next instance; contig_restart_done()
 *     after the loop closes the journal;
 *   - session.c tells what a journaled session opens, claims, allocates,
 *     frees, lets go and closes (contig_restart_record_*()), and asks
 *     whether sessions are kept; restart.c makes the records;
 *   - server.c calls contig_restart_before_reply() before each reply
 *     (a journal that failed to take a record is given up first) and
 *     contig_restart_after_request() after each request (the same, and
 *     compaction once the journal has grown to 4 times what is live).
 * The journal's file format is journal.c's, reading it back restore.c's.
 * A buffer's record holds its place, not the request's constraints: no
 * restart reads them, and older journals that hold them still load.
 * A warm frame's record says so (warm); its carves are journaled one
 * record per fast-path report (Carves: the carves added, the ids freed),
 * and at compaction after the session's buffers, JOURNAL_CARVES_PER_RECORD
 * a record.
 *
 * It is in the sessions' layer, not the pool set's: compaction and the
 * grace timer walk pools->sessions, and resuming hands restore.c's plan
 * to contig_sessions_restore() (session_restore.c); below it, it calls
 * only restore.c and journal.c.
 * It never logs (only main.c, server.c and rpc.c do: messages go through
 * the caller's say callback), never builds or releases a pool
 * (poolset.c), never changes what a session owns (session.c), and never
 * calls up into main.c, server.c or rpc.c. Main thread; the loop thread
 * once the loop runs.
 */
#include "restart.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "journal.h"
#include "session.h"

struct contig_restart {
	char journal_path[256];         /* "" when session_grace = 0 */
	uint64_t grace_ms;
	struct contig_restore *restore; /* what the last instance left, until resumed */
	struct contig_pools *pools;
	contig_restore_say_fn *say;
	void *say_arg;
	uv_timer_t grace;               /* recycles the orphans nobody reclaimed */
	bool grace_started;
	bool journal_failed;            /* an add failed: the journal is incomplete */
	bool keep_sessions;             /* stopping: freeing a session leaves its frames
					   and its journal records for the next instance */
	uint64_t compact_at;            /* journal length that triggers compaction */
};

/* A journal is compacted once it is 4 times what is live, and this at least. */
#define JOURNAL_COMPACT_MIN (1u << 20)

/* One line for the log, through the caller's callback (the same 1024
 * bytes a log line holds). */
__attribute__((format(printf, 3, 4))) static void say(const struct contig_restart *rs,
						      int level, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	rs->say(level, message, rs->say_arg);
}

int contig_restart_load(const char *runtime_dir, const char *instance,
			uint64_t session_grace_ms, struct contig_pools *pools,
			contig_restore_say_fn *say_fn, void *arg,
			struct contig_restart **ret_restart)
{
	struct contig_restart *rs = calloc(1, sizeof(*rs));
	char err[512];
	int r;

	if (!rs)
		return -ENOMEM;
	rs->grace_ms = session_grace_ms;
	rs->pools = pools;
	rs->say = say_fn;
	rs->say_arg = arg;
	rs->compact_at = JOURNAL_COMPACT_MIN;
	pools->restart = rs;
	snprintf(rs->journal_path, sizeof(rs->journal_path), "%s/%s.journal", runtime_dir,
		 instance);
	if (!session_grace_ms) {
		unlink(rs->journal_path); /* nothing is kept: the frames go too */
		rs->journal_path[0] = '\0';
		*ret_restart = rs;
		return 0;
	}
	r = contig_restore_load(rs->journal_path, &rs->restore, err, sizeof(err));
	if (r < 0 && r != -ENOENT) {
		say(rs, LOG_ERR, "%s", err);
		pools->restart = NULL;
		free(rs);
		return r;
	}
	if (contig_restore_nsessions(rs->restore))
		say(rs, LOG_INFO, "journal %s: %zu sessions of the last contigd to restore",
		    rs->journal_path, contig_restore_nsessions(rs->restore));
	*ret_restart = rs;
	return 0;
}

/* ---- records ---- */

static void frame_record(struct contig_journal_record *rec, enum contig_journal_type type,
			 const struct contig_frame *f, int cache_type)
{
	*rec = (struct contig_journal_record){
		.type = type,
		.node = (uint32_t)f->pool->node,
		.page_len = f->pool->page_len,
		.below = f->pool->below,
		.file_id = f->file.id,
		.phys = f->phys,
		.cache_type = cache_type,
	};
}

/* A buffer's record. The request's constraints are not written (absent:
 * highest UINT64_MAX, priority high): nothing reads them back, a buffer's
 * place being all a restart needs; journals of older contigd that have
 * them still load (journal.c reads and ignores them). */
static void buffer_record(struct contig_journal_record *rec, const struct contig_live_buffer *b)
{
	*rec = (struct contig_journal_record){
		.type = CONTIG_JOURNAL_BUFFER_ALLOC,
		.id = b->id,
		.node = (uint32_t)b->pool->node,
		.page_len = b->pool->page_len,
		.below = b->pool->below,
		.phys = b->phys,
		.len = b->len,
		.req_len = b->req_len,
		.cache_type = b->cache_type,
		.tag = b->tag,
		.seq = b->seq,
		.highest = UINT64_MAX,
		.priority = CONTIG_PRIORITY_HIGH,
		.warm = b->warm,
	};
}

/* Carves of a session per record at compaction: an entry packs to at most
 * 6 + 5 * 11 bytes, so 64 of them stay below the journal's record limit. */
#define JOURNAL_CARVES_PER_RECORD 64u

/* ---- the journal: what it holds, rewritten from what is live ---- */

/* Write every journaled session, the frames each owns and its buffers,
 * and each pool's hugepages_added, to @journal (added, not flushed).
 * Returns 0 or -errno. */
static int snapshot(struct contig_pools *pools, struct contig_journal *journal)
{
	struct contig_journal_record rec;
	int r = 0;

	for (size_t i = 0; i < pools->npools && r == 0; i++) {
		rec = (struct contig_journal_record){
			.type = CONTIG_JOURNAL_POOL,
			.node = (uint32_t)pools->pools[i]->node,
			.page_len = pools->pools[i]->page_len,
			.below = pools->pools[i]->below,
			.hugepages_added = pools->pools[i]->hugepages_added,
		};
		r = contig_journal_add(journal, &rec);
	}
	for (struct contig_session *s = pools->sessions; s && r == 0; s = s->next) {
		if (!s->journaled)
			continue;
		rec = (struct contig_journal_record){
			.type = CONTIG_JOURNAL_SESSION_OPEN,
			.uid = (uint32_t)s->uid,
			.pid = (uint32_t)s->pid,
		};
		memcpy(rec.token, s->token, CONTIG_TOKEN_LEN);
		memcpy(rec.comm, s->comm, sizeof(rec.comm));
		r = contig_journal_add(journal, &rec);
	}
	for (size_t i = 0; i < pools->npools && r == 0; i++) {
		struct contig_pool *pool = pools->pools[i];

		for (uint32_t k = 0; k < pool->nframes && r == 0; k++) {
			const struct contig_frame *f = &pool->frames[k];

			if (f->state != CONTIG_FRAME_OWNED || !f->owner->journaled)
				continue;
			frame_record(&rec, CONTIG_JOURNAL_FRAME_OWN, f, f->cache_type);
			memcpy(rec.token, f->owner->token, CONTIG_TOKEN_LEN);
			r = contig_journal_add(journal, &rec);
		}
	}
	for (struct contig_session *s = pools->sessions; s && r == 0; s = s->next) {
		const struct contig_live_buffer *b;
		uint32_t cursor = 0;

		if (!s->journaled)
			continue;
		while (r == 0 && (b = contig_session_next_slot(s, &cursor))) {
			buffer_record(&rec, b);
			memcpy(rec.token, s->token, CONTIG_TOKEN_LEN);
			r = contig_journal_add(journal, &rec);
		}
		/* The carves after their warm frames. */
		for (uint32_t i = 0; r == 0 && i < s->ncarves; i += JOURNAL_CARVES_PER_RECORD) {
			struct contig_carve_entry e[JOURNAL_CARVES_PER_RECORD];
			size_t n = 0;

			for (uint32_t k = i; k < s->ncarves && n < JOURNAL_CARVES_PER_RECORD; k++)
				e[n++] = (struct contig_carve_entry){
					.id = s->carves[k].buf.id,
					.frame_id = s->carves[k].frame_id,
					.offset = s->carves[k].offset,
					.len = s->carves[k].buf.len,
					.req_len = s->carves[k].buf.req_len,
					.tag = s->carves[k].buf.tag,
				};
			rec = (struct contig_journal_record){
				.type = CONTIG_JOURNAL_CARVES,
				.carves = e,
				.ncarves = n,
			};
			memcpy(rec.token, s->token, CONTIG_TOKEN_LEN);
			r = contig_journal_add(journal, &rec);
		}
	}
	return r;
}

/* Start a new journal at @path holding what the pools hold now, published
 * in place of the old one, and make it pools->journal (closing the old).
 * Returns 0 or -errno with the reason in @err (the old journal, if any,
 * stays in use). */
static int compact(struct contig_restart *rs, const char *path, char *err, size_t errlen)
{
	struct contig_journal *j;
	int r = contig_journal_create(path, &j, err, errlen);

	if (r < 0)
		return r;
	r = snapshot(rs->pools, j);
	if (r == 0)
		r = contig_journal_publish(j);
	if (r < 0) {
		snprintf(err, errlen, "writing journal %s: %s", path, strerror(-r));
		contig_journal_close(j);
		return r;
	}
	contig_journal_close(rs->pools->journal);
	rs->pools->journal = j;
	rs->journal_failed = false;
	return 0;
}

/* Add @rec about @s, unless there is no journal, @s is not journaled or
 * sessions are kept (stopping: the journal is what the next instance
 * restores). A failure marks the journal incomplete: it is given up
 * before the next reply leaves (give_up_if_failed()). */
static void record(const struct contig_session *s, struct contig_journal_record *rec)
{
	struct contig_restart *rs = s->pools->restart;

	if (!rs || !s->pools->journal || !s->journaled || rs->keep_sessions)
		return;
	memcpy(rec->token, s->token, CONTIG_TOKEN_LEN);
	if (contig_journal_add(s->pools->journal, rec) < 0)
		rs->journal_failed = true;
}

void contig_restart_record_open(const struct contig_session *s)
{
	struct contig_journal_record rec = {
		.type = CONTIG_JOURNAL_SESSION_OPEN,
		.uid = (uint32_t)s->uid,
		.pid = (uint32_t)s->pid,
	};

	memcpy(rec.comm, s->comm, sizeof(rec.comm));
	record(s, &rec);
}

void contig_restart_record_close(const struct contig_session *s)
{
	struct contig_journal_record rec = { .type = CONTIG_JOURNAL_SESSION_CLOSE };

	record(s, &rec);
}

void contig_restart_record_frame(const struct contig_session *s, const struct contig_frame *f,
				 bool own, int cache_type)
{
	struct contig_journal_record rec;

	frame_record(&rec, own ? CONTIG_JOURNAL_FRAME_OWN : CONTIG_JOURNAL_FRAME_RELEASE, f,
		     own ? cache_type : 0);
	record(s, &rec);
}

void contig_restart_record_alloc(const struct contig_session *s,
				 const struct contig_live_buffer *b)
{
	struct contig_journal_record rec;

	buffer_record(&rec, b);
	record(s, &rec);
}

void contig_restart_record_free(const struct contig_session *s, uint64_t id)
{
	struct contig_journal_record rec = { .type = CONTIG_JOURNAL_BUFFER_FREE, .id = id };

	record(s, &rec);
}

void contig_restart_record_carves(const struct contig_session *s,
				  const struct contig_carve_entry *allocs, size_t nallocs,
				  const uint64_t *frees, size_t nfrees)
{
	struct contig_journal_record rec = {
		.type = CONTIG_JOURNAL_CARVES,
		.carves = allocs,
		.ncarves = nallocs,
		.frees = frees,
		.nfrees = nfrees,
	};

	record(s, &rec);
}

bool contig_restart_keeps_sessions(const struct contig_restart *rs)
{
	return rs && rs->keep_sessions;
}

/* A record the journal could not take (its file could not grow: /run is
 * full) makes it incomplete: it is given up (removed: an incomplete one
 * would restore a wrong state) before the reply that depends on the record
 * leaves, and the daemon serves on without it; sessions then do not
 * survive a restart. */
static void give_up_if_failed(struct contig_restart *rs)
{
	struct contig_pools *pools = rs->pools;

	if (!pools->journal || !rs->journal_failed)
		return;
	say(rs, LOG_ERR, "journal %s: a record could not be added (is /run full?): from now "
	    "on sessions do not survive a restart of contigd", contig_journal_path(pools->journal));
	unlink(contig_journal_path(pools->journal));
	contig_journal_close(pools->journal);
	pools->journal = NULL;
	rs->journal_failed = false;
}

void contig_restart_before_reply(struct contig_restart *rs)
{
	if (rs)
		give_up_if_failed(rs);
}

void contig_restart_after_request(struct contig_restart *rs)
{
	char err[512];

	if (!rs)
		return;
	give_up_if_failed(rs); /* a request that sent no reply may have added records */
	/* Rewrite the journal from what is live once it has grown to many
	 * times that, so that it stays small and a restart replays little. */
	if (!rs->pools->journal || contig_journal_len(rs->pools->journal) < rs->compact_at)
		return;
	if (compact(rs, rs->journal_path, err, sizeof(err)) < 0) {
		say(rs, LOG_WARNING, "compacting the journal: %s", err);
		rs->compact_at *= 2; /* try again later */
	} else {
		uint64_t live = contig_journal_len(rs->pools->journal);

		rs->compact_at = live * 4 > JOURNAL_COMPACT_MIN ? live * 4 : JOURNAL_COMPACT_MIN;
	}
}

struct contig_restore *contig_restart_plan(const struct contig_restart *restart)
{
	return restart->restore;
}

/* The grace period is over: the orphans no client reclaimed go as if their
 * clients had died. */
static void on_grace(uv_timer_t *timer)
{
	struct contig_restart *rs = timer->data;
	struct contig_session *s, *next;

	for (s = rs->pools->sessions; s; s = next) {
		next = s->next;
		if (!s->orphan)
			continue;
		say(rs, LOG_INFO, "session of pid %d (uid %u, %s) not reclaimed within %" PRIu64
		    " ms: releasing %" PRIu32 " buffers, %" PRIu32 " frames",
		    (int)s->pid, (unsigned)s->uid, s->comm, rs->grace_ms, s->nbuffers,
		    s->nframes);
		contig_session_free(s);
	}
	uv_close((uv_handle_t *)&rs->grace, NULL);
	rs->grace_started = false;
}

int contig_restart_resume(struct contig_restart *rs, uv_loop_t *loop)
{
	char err[512];
	uint64_t valid;
	int r;

	if (!rs->journal_path[0])
		return 0;
	if (rs->restore && contig_restore_torn(rs->restore, &valid))
		say(rs, LOG_WARNING, "journal %s: its last record was torn (a crash while "
		    "writing it): recovered the %" PRIu64 " bytes before it", rs->journal_path,
		    valid);
	r = contig_sessions_restore(rs->pools, rs->restore, rs->say, rs->say_arg);
	if (r < 0) {
		say(rs, LOG_ERR, "restoring sessions: %s", strerror(-r));
		return r;
	}
	/* Every session just restored is an orphan (no client has connected
	 * yet), and every orphan was just restored. */
	rs->pools->nsessions_restored = rs->pools->norphans;
	contig_restore_free(rs->restore);
	rs->restore = NULL;
	r = compact(rs, rs->journal_path, err, sizeof(err));
	if (r < 0) {
		say(rs, LOG_ERR, "%s", err);
		return r;
	}
	if (rs->pools->norphans) {
		say(rs, LOG_INFO, "%" PRIu32 " sessions restored: their clients have %" PRIu64
		    " ms to reclaim them", rs->pools->norphans, rs->grace_ms);
		uv_timer_init(loop, &rs->grace);
		rs->grace.data = rs;
		uv_timer_start(&rs->grace, on_grace, rs->grace_ms, 0);
		rs->grace_started = true;
	}
	return 0;
}

bool contig_restart_stopping(struct contig_restart *rs, uint32_t *ret_nsessions,
			     uint32_t *ret_nbuffers)
{
	const struct contig_pools *pools = rs->pools;
	uint32_t n = 0, nbufs = 0;

	/* Sessions worth keeping: journaled ones holding buffers, and only
	 * if the journal is whole. */
	if (pools->journal && !rs->journal_failed)
		for (const struct contig_session *s = pools->sessions; s; s = s->next)
			if (s->journaled && s->nbuffers) {
				n++;
				nbufs += s->nbuffers;
			}
	rs->keep_sessions = n > 0;
	if (rs->grace_started)
		uv_close((uv_handle_t *)&rs->grace, NULL);
	rs->grace_started = false;
	*ret_nsessions = n;
	*ret_nbuffers = nbufs;
	return n > 0;
}

void contig_restart_done(struct contig_restart *rs, bool keep)
{
	if (!rs)
		return;
	if (rs->pools->journal) {
		/* Without sessions to keep, nothing is left to restore. */
		if (!keep)
			unlink(contig_journal_path(rs->pools->journal));
		contig_journal_close(rs->pools->journal);
		rs->pools->journal = NULL;
	}
	contig_restore_free(rs->restore);
	rs->pools->restart = NULL;
	free(rs);
}
