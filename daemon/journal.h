/* journal.h - the daemon's journal: sessions, frame ownership and buffers,
 * appended before the reply that depends on them, replayed at restart.
 *
 * The format is proto/journal.proto in length- and CRC-framed records
 * (see journal.c). Records travel as the plain struct below; no protobuf
 * type leaves journal.c.
 */
#ifndef CONTIG_JOURNAL_H
#define CONTIG_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdpass.h" /* CONTIG_TOKEN_LEN */

/* The format this daemon writes; it reads every format up to it. */
#define CONTIG_JOURNAL_FORMAT 1u

enum contig_journal_type {
	CONTIG_JOURNAL_SESSION_OPEN = 1,
	CONTIG_JOURNAL_SESSION_CLOSE,
	CONTIG_JOURNAL_FRAME_OWN,
	CONTIG_JOURNAL_FRAME_RELEASE,
	CONTIG_JOURNAL_BUFFER_ALLOC,
	CONTIG_JOURNAL_BUFFER_FREE,
	CONTIG_JOURNAL_POOL,
	CONTIG_JOURNAL_CARVES,
};

/* A buffer cut from a warm frame, as a fast-path report gives it
 * (contig.proto Carve) and the journal keeps it (CarveEntry). */
struct contig_carve_entry {
	uint64_t id;       /* the client's */
	uint64_t frame_id; /* the warm frame's buffer id */
	uint64_t offset;   /* in the warm frame, a 4 KiB multiple */
	uint64_t len;      /* a 4 KiB multiple, > 0 */
	uint64_t req_len;  /* as asked (len if not said) */
	uint32_t tag;
};

/* One record; each type uses the fields its proto message has. */
struct contig_journal_record {
	enum contig_journal_type type;
	uint8_t token[CONTIG_TOKEN_LEN]; /* the session's (all but FRAME_RELEASE) */
	uint32_t uid, pid;               /* SESSION_OPEN */
	char comm[16];                   /* SESSION_OPEN, NUL-terminated */
	uint32_t node;                   /* FRAME_*, BUFFER_ALLOC, POOL: the pool */
	uint64_t page_len;
	uint64_t file_id, phys;          /* FRAME_*: the frame; BUFFER_ALLOC: phys */
	int32_t cache_type;              /* FRAME_OWN, BUFFER_ALLOC */
	uint64_t id;                     /* BUFFER_*: the buffer */
	uint64_t len, req_len, seq;      /* BUFFER_ALLOC */
	uint32_t tag;
	/* BUFFER_ALLOC: the request's constraints, as older contigd wrote
	 * them; read and ignored. contigd now leaves them absent (lowest,
	 * boundary, align 0, highest UINT64_MAX, priority 32). */
	uint64_t lowest, highest, boundary, align;
	uint32_t priority;
	uint64_t hugepages_added;        /* POOL */
	uint64_t below;                  /* FRAME_OWN, BUFFER_ALLOC, POOL: the pool's
					    window (0: none) */
	bool warm;                       /* BUFFER_ALLOC: a warm frame */
	/* CARVES: the report's new carves, then the ids it freed. Replay's
	 * arrays last until the callback returns. */
	const struct contig_carve_entry *carves;
	size_t ncarves;
	const uint64_t *frees;
	size_t nfrees;
};

struct contig_journal;

/* Start a new journal for @path holding only its header, in a temporary
 * file (@path.new) that contig_journal_publish() renames over @path once
 * the caller has added what it starts with: a crash leaves the old journal
 * or the new one, never half of either. Returns 0 and *ret_journal, or
 * -errno with the reason in @err. */
int contig_journal_create(const char *path, struct contig_journal **ret_journal, char *err,
			  size_t errlen);

/* Rename the new journal over its path. Returns 0 or -errno (the journal
 * is then unusable: close it). */
int contig_journal_publish(struct contig_journal *journal);

/* Add @rec: stored into the file's mapping at once, so that it survives a
 * crash of the process from the moment this returns. Returns 0, -ENOSPC or
 * another -errno (the file could not grow), or -EMSGSIZE (our bug). */
int contig_journal_add(struct contig_journal *journal, const struct contig_journal_record *rec);

/* Where it lives (once published). */
const char *contig_journal_path(const struct contig_journal *journal);

/* Bytes written so far (header included). */
uint64_t contig_journal_len(const struct contig_journal *journal);

/* Close; accepts NULL. */
void contig_journal_close(struct contig_journal *journal);

/* Replay the journal at @path: @cb gets every whole record in order (a
 * non-zero return from it stops the replay and is returned). A record cut
 * short or failing its CRC ends the journal there (a torn last write):
 * *ret_valid_len says how many bytes were good and *ret_torn whether
 * anything followed them. Returns 0, -ENOENT (no journal), -EPROTO with
 * the reason in @err (not a journal, or a format newer than
 * CONTIG_JOURNAL_FORMAT: named), or -errno. */
int contig_journal_replay(const char *path,
			  int (*cb)(const struct contig_journal_record *rec, void *arg), void *arg,
			  uint64_t *ret_valid_len, int *ret_torn, char *err, size_t errlen);

#endif
