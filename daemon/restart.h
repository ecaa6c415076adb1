/* restart.h - the restart module: the journal written as sessions change
 * (and compacted, or given up if it cannot grow), what the last instance
 * left loaded before the pools are built, its sessions resumed as orphans
 * once the recycler runs (a fresh journal then replaces the old one, and a
 * grace timer releases the orphans no client reclaims), and, at shutdown,
 * whether sessions stay for the next instance. See restart.c.
 *
 * Main thread (the loop thread once the loop runs). Nothing here logs:
 * what the caller should say comes through @say.
 */
#ifndef CONTIG_RESTART_H
#define CONTIG_RESTART_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "restart_record.h"
#include "restore.h"
#include "state.h"

struct contig_restart;

/* Before the pools: with @session_grace_ms, read the journal of
 * @instance under @runtime_dir into a plan; without, remove any journal
 * (nothing is kept: the frames go too). @pools is where the sessions are
 * resumed and the journal kept (pools->journal, pools->restart); it must
 * outlive the restart. Returns 0
 * and *ret_restart, or -errno after saying why (-EPROTO: a journal this
 * contigd cannot read, which restarting does not fix). */
int contig_restart_load(const char *runtime_dir, const char *instance,
			uint64_t session_grace_ms, struct contig_pools *pools,
			contig_restore_say_fn *say, void *arg,
			struct contig_restart **ret_restart);

/* The plan the pools adopt frames from (NULL: nothing to restore). Valid
 * until contig_restart_resume(). */
struct contig_restore *contig_restart_plan(const struct contig_restart *restart);

/* After the recycler started: the last instance's sessions rebuilt as
 * orphans, a fresh journal of everything in place of the old one, and the
 * grace timer on @loop for the orphans. Returns 0 or -errno after saying
 * why. */
int contig_restart_resume(struct contig_restart *restart, uv_loop_t *loop);

/* ---- while serving ---- */

/* What sessions tell the journal, and whether sessions are kept:
 * restart_record.h (session.c includes that alone: restart.c walks the
 * sessions, so restart.h stays out of session.c's includes). */

/* server.c, before a reply leaves: a journal that could not take a record
 * is given up (removed, said why), so that no reply depends on a record a
 * restart would not find. Accepts NULL. */
void contig_restart_before_reply(struct contig_restart *restart);

/* server.c, after each request: the same, and the journal compacted
 * (rewritten from what is live) once it has grown to 4 times that.
 * Accepts NULL. */
void contig_restart_after_request(struct contig_restart *restart);

/* Stopping: do journaled sessions with buffers stay for the next
 * instance (their count and their buffers' in *ret_nsessions,
 * *ret_nbuffers)? Remembers it (contig_restart_keeps_sessions()) and
 * stops the grace timer. */
bool contig_restart_stopping(struct contig_restart *restart, uint32_t *ret_nsessions,
			     uint32_t *ret_nbuffers);

/* After the loop and the pools: close the journal (removed unless @keep:
 * without sessions to keep, nothing is left to restore), free the plan
 * and @restart. Accepts NULL. */
void contig_restart_done(struct contig_restart *restart, bool keep);

#endif
