/* restart.c - the restart lifecycle: journal loaded, sessions resumed,
 * orphans timed out, sessions kept at shutdown.
 *
 * DESIGN
 * Owns the journal's path, the restore plan (restore.c) between loading
 * and resuming, and the grace timer. The order it serves (main.c calls
 * each step): contig_restart_load() before the pools (the pool set adopts
 * the frames the plan names, contig_restart_plan()); contig_restart_resume()
 * once the recycler runs (sessions rebuilt as orphans, the plan freed, a
 * fresh journal published: restore.c's compaction); the grace timer then
 * releases the orphans no client reclaims within session_grace;
 * contig_restart_stopping() at a signal decides whether sessions stay for
 * the next instance; contig_restart_done() after the loop closes the
 * journal. The journal file itself is journal.c's, its contents
 * restore.c's and session.c's.
 *
 * It never logs (only main.c, server.c and rpc.c do: messages go through
 * the caller's say callback), never builds or releases a pool
 * (poolset.c), and never calls up into main.c, server.c or rpc.c. Main
 * thread; the loop thread once the loop runs.
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

struct contig_restart {
	char journal_path[256];         /* "" when session_grace = 0 */
	uint64_t grace_ms;
	struct contig_restore *restore; /* what the last instance left, until resumed */
	struct contig_pools *pools;
	contig_restore_say_fn *say;
	void *say_arg;
	uv_timer_t grace;               /* recycles the orphans nobody reclaimed */
	bool grace_started;
};

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
		free(rs);
		return r;
	}
	if (contig_restore_nsessions(rs->restore))
		say(rs, LOG_INFO, "journal %s: %zu sessions of the last contigd to restore",
		    rs->journal_path, contig_restore_nsessions(rs->restore));
	*ret_restart = rs;
	return 0;
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
	r = contig_restore_sessions(rs->restore, rs->pools, rs->say, rs->say_arg);
	if (r < 0) {
		say(rs, LOG_ERR, "restoring sessions: %s", strerror(-r));
		return r;
	}
	contig_restore_free(rs->restore);
	rs->restore = NULL;
	r = contig_restore_compact(rs->pools, rs->journal_path, err, sizeof(err));
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
	if (pools->journal && !pools->journal_failed)
		for (const struct contig_session *s = pools->sessions; s; s = s->next)
			if (s->journaled && s->nbuffers) {
				n++;
				nbufs += s->nbuffers;
			}
	rs->pools->keep_sessions = n > 0;
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
	free(rs);
}
