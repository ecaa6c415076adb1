/* tags.h - pool tags counted like poolmon: a table of (tag, live buffers,
 * live bytes, allocs, frees) per session, per user and for the daemon.
 * See tags.c.
 *
 * Loop thread only.
 */
#ifndef CONTIG_TAGS_H
#define CONTIG_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The tag that stands for every tag a table does not count on its own
 * (CONTIG_MAX_TAGS, in config.h, and max_tags_per_user). */
#define CONTIG_TAG_OTHER 0xffffffffu

/* Accounting of one pool tag, like poolmon. */
struct contig_tag_stat {
	uint32_t tag;
	uint32_t nbuffers; /* live */
	uint64_t len;      /* live bytes */
	uint64_t nallocs, nfrees;
};

/* A table of tags. Entries stay in the order they came, but for the entry
 * of CONTIG_TAG_OTHER, first (so that a stats reply, which lists the first
 * entries only, always shows it). A table that is full (max entries, the
 * one of CONTIG_TAG_OTHER aside) makes room for a new tag by pruning every
 * entry without a live buffer, adding its allocs and frees to the entry of
 * CONTIG_TAG_OTHER; with none to prune, the new tag is counted under
 * CONTIG_TAG_OTHER. So no tag is ever refused for good because of tags
 * that came and went. */
struct contig_tags {
	struct contig_tag_stat *v;
	size_t n;
	size_t max;        /* 0: CONTIG_MAX_TAGS */
	/* Open addressing over v by tag (a lookup per allocate and free must
	 * not grow with the number of tags): nindex slots, a power of two at
	 * least twice n; 0 = empty, else the entry's index + 1. */
	uint16_t *index;
	size_t nindex;
};

/* A buffer is counted in this many tables: its user's, its session's and
 * the daemon's, in that order. */
#define CONTIG_TAG_TABLES 3

/* The entry of @tag in @tags, created if needed (see struct contig_tags:
 * the entry of CONTIG_TAG_OTHER when the table is full of live tags); NULL
 * only out of memory. Pointers hold until the next creation. */
struct contig_tag_stat *contig_tags_get(struct contig_tags *tags, uint32_t tag);

/* Pick the tag a new buffer is counted under in @tables (user's, session's,
 * daemon's), so that its free finds the same entries: @tag, or
 * CONTIG_TAG_OTHER in all of them if any has no room for it (the user's
 * first: a user past max_tags_per_user takes no more room in the others).
 * Returns false if a table cannot take it at all (out of memory). */
bool contig_tags_choose(struct contig_tags *const tables[CONTIG_TAG_TABLES], uint32_t tag,
			uint32_t *ret_tag);

/* Count a buffer of @len bytes under @tag (as contig_tags_choose() gave
 * it) in @tables: allocated (@alloc) or freed. */
void contig_tags_count(struct contig_tags *const tables[CONTIG_TAG_TABLES], uint32_t tag,
		       uint64_t len, bool alloc);

/* Count @count buffers under @tag (as contig_tags_choose() gave it) in
 * @tables as allocated and freed at once (the fast path's transients). */
void contig_tags_count_transient(struct contig_tags *const tables[CONTIG_TAG_TABLES],
				 uint32_t tag, uint64_t count);

/* Release a tag table. */
void contig_tags_done(struct contig_tags *tags);

#endif
