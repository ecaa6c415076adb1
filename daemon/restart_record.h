/* restart_record.h - what sessions tell the restart module: the records
 * of a journaled session's changes, and whether sessions are kept at
 * shutdown. Defined in restart.c (the restart module's writer side);
 * declared apart from restart.h so that session.c, which calls them,
 * does not include restart.h, whose restart.c walks the sessions: the
 * include graph has no circle.
 *
 * Loop thread only.
 */
#ifndef CONTIG_RESTART_RECORD_H
#define CONTIG_RESTART_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct contig_carve_entry;
struct contig_frame;
struct contig_live_buffer;
struct contig_restart;
struct contig_session;

/* What sessions tell the journal (session.c), each a record added to it
 * before the reply that depends on it: nothing without a journal, for a
 * session not journaled (contig_session_journal_open()), or while
 * stopping with sessions kept. The restart module is @s->pools->restart. */
void contig_restart_record_open(const struct contig_session *s);
void contig_restart_record_close(const struct contig_session *s);
void contig_restart_record_frame(const struct contig_session *s, const struct contig_frame *f,
				 bool own, int cache_type);
void contig_restart_record_alloc(const struct contig_session *s,
				 const struct contig_live_buffer *b);
void contig_restart_record_free(const struct contig_session *s, uint64_t id);
/* One fast-path report (session_carve.c): the carves it added (tags as
 * counted), the ids it freed. */
void contig_restart_record_carves(const struct contig_session *s,
				  const struct contig_carve_entry *allocs, size_t nallocs,
				  const uint64_t *frees, size_t nfrees);

/* Stopping with sessions kept (contig_restart_stopping()): a session
 * freed now leaves its frames OWNED and its records for the next
 * instance. False for NULL. */
bool contig_restart_keeps_sessions(const struct contig_restart *restart);

#endif
