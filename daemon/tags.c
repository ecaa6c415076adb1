/* tags.c - pool tags counted like poolmon (see tags.h).
 *
 * DESIGN
 * Owns the tag tables: their entries, their open-addressing index and the
 * pruning that keeps a full table useful. A buffer is counted under its
 * pool tag in three tables: its user's (max_tags_per_user tags with live
 * buffers), its session's and the daemon's (CONTIG_MAX_TAGS tags each). A
 * full table prunes the tags that have no live buffer left, keeping their
 * totals under CONTIG_TAG_OTHER, which also takes a tag no table has room
 * for (struct contig_tags): one user's many tags never cost another user's
 * its own row. Which tables a buffer is counted in is the caller's
 * (session.c hands the three). A fast-path report's transients (buffers
 * allocated and freed within it) count in nallocs and nfrees at once
 * (contig_tags_count_transient()).
 *
 * Pure C over memory: it never calls the pools, sessions, the journal or
 * the loop, and never logs. Loop thread only.
 */
#include "tags.h"

#include <stdlib.h>
#include <string.h>

#include "config.h" /* CONTIG_MAX_TAGS */

static size_t tag_slot(uint32_t tag, size_t nindex)
{
	return (size_t)(tag * 2654435761u) & (nindex - 1); /* Knuth's multiplicative hash */
}

/* Index entry @i of tags->v (the index has room). */
static void tag_index_put(struct contig_tags *tags, size_t i)
{
	size_t k = tag_slot(tags->v[i].tag, tags->nindex);

	while (tags->index[k])
		k = (k + 1) & (tags->nindex - 1);
	tags->index[k] = (uint16_t)(i + 1);
}

/* Make the index hold twice the entries there will be after one more. */
static bool tag_index_grow(struct contig_tags *tags)
{
	size_t nindex = tags->nindex ? tags->nindex : 16;
	uint16_t *index;

	while (nindex < 2 * (tags->n + 1))
		nindex *= 2;
	if (nindex == tags->nindex)
		return true;
	index = calloc(nindex, sizeof(*index));
	if (!index)
		return false;
	free(tags->index);
	tags->index = index;
	tags->nindex = nindex;
	for (size_t i = 0; i < tags->n; i++)
		tag_index_put(tags, i);
	return true;
}

/* Index every entry again, after entries moved. */
static void tag_index_rebuild(struct contig_tags *tags)
{
	memset(tags->index, 0, tags->nindex * sizeof(*tags->index));
	for (size_t i = 0; i < tags->n; i++)
		tag_index_put(tags, i);
}

static struct contig_tag_stat *tag_find(struct contig_tags *tags, uint32_t tag)
{
	for (size_t k = tags->nindex ? tag_slot(tag, tags->nindex) : 0;
	     tags->nindex && tags->index[k]; k = (k + 1) & (tags->nindex - 1))
		if (tags->v[tags->index[k] - 1].tag == tag)
			return &tags->v[tags->index[k] - 1];
	return NULL;
}

/* A new entry for @tag: last, or first for CONTIG_TAG_OTHER. NULL out of
 * memory. */
static struct contig_tag_stat *tag_add(struct contig_tags *tags, uint32_t tag)
{
	struct contig_tag_stat *grown;

	if (!tag_index_grow(tags))
		return NULL;
	grown = realloc(tags->v, (tags->n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	tags->v = grown;
	if (tag == CONTIG_TAG_OTHER) {
		memmove(&tags->v[1], &tags->v[0], tags->n * sizeof(*grown));
		tags->v[0] = (struct contig_tag_stat){ .tag = tag };
		tags->n++;
		tag_index_rebuild(tags);
		return &tags->v[0];
	}
	tags->v[tags->n] = (struct contig_tag_stat){ .tag = tag };
	tag_index_put(tags, tags->n);
	return &tags->v[tags->n++];
}

/* Entries of @tags that count against its max: all but CONTIG_TAG_OTHER's. */
static size_t tags_counted(const struct contig_tags *tags)
{
	return tags->n && tags->v[0].tag == CONTIG_TAG_OTHER ? tags->n - 1 : tags->n;
}

/* Drop every entry without a live buffer, adding its allocs and frees to
 * the entry of CONTIG_TAG_OTHER (made if needed), which keeps the totals.
 * Returns false out of memory. */
static bool tags_prune(struct contig_tags *tags)
{
	struct contig_tag_stat *other;
	size_t kept = 0, i;

	for (i = 0; i < tags->n; i++)
		if (tags->v[i].nbuffers == 0 && tags->v[i].tag != CONTIG_TAG_OTHER)
			break;
	if (i == tags->n)
		return true; /* nothing to prune */
	other = tag_find(tags, CONTIG_TAG_OTHER);
	if (!other && !(other = tag_add(tags, CONTIG_TAG_OTHER)))
		return false;
	for (i = 0; i < tags->n; i++) {
		const struct contig_tag_stat *t = &tags->v[i];

		if (t->nbuffers == 0 && t->tag != CONTIG_TAG_OTHER) {
			tags->v[0].nallocs += t->nallocs; /* v[0] is CONTIG_TAG_OTHER's */
			tags->v[0].nfrees += t->nfrees;
			continue;
		}
		tags->v[kept++] = *t;
	}
	tags->n = kept;
	tag_index_rebuild(tags);
	return true;
}

struct contig_tag_stat *contig_tags_get(struct contig_tags *tags, uint32_t tag)
{
	size_t max = tags->max ? tags->max : CONTIG_MAX_TAGS;
	struct contig_tag_stat *t = tag_find(tags, tag);

	if (t)
		return t;
	if (tag != CONTIG_TAG_OTHER && tags_counted(tags) >= max) {
		if (!tags_prune(tags))
			return NULL;
		if (tags_counted(tags) >= max)
			return contig_tags_get(tags, CONTIG_TAG_OTHER);
	}
	return tag_add(tags, tag);
}

bool contig_tags_choose(struct contig_tags *const tables[CONTIG_TAG_TABLES], uint32_t tag,
			uint32_t *ret_tag)
{
	for (size_t i = 0; i < CONTIG_TAG_TABLES; i++) {
		struct contig_tag_stat *t = contig_tags_get(tables[i], tag);

		if (!t)
			return false;
		if (t->tag != tag) {
			tag = CONTIG_TAG_OTHER; /* and again from the first table */
			i = (size_t)-1;
		}
	}
	*ret_tag = tag;
	return true;
}

void contig_tags_count(struct contig_tags *const tables[CONTIG_TAG_TABLES], uint32_t tag,
		       uint64_t len, bool alloc)
{
	for (size_t i = 0; i < CONTIG_TAG_TABLES; i++) {
		/* exists: contig_tags_choose() */
		struct contig_tag_stat *t = contig_tags_get(tables[i], tag);

		if (alloc) {
			t->nbuffers++;
			t->len += len;
			t->nallocs++;
		} else {
			t->nbuffers--;
			t->len -= len;
			t->nfrees++;
		}
	}
}

void contig_tags_count_transient(struct contig_tags *const tables[CONTIG_TAG_TABLES],
				 uint32_t tag, uint64_t count)
{
	for (size_t i = 0; i < CONTIG_TAG_TABLES; i++) {
		struct contig_tag_stat *t = contig_tags_get(tables[i], tag);

		t->nallocs += count;
		t->nfrees += count;
	}
}

void contig_tags_done(struct contig_tags *tags)
{
	free(tags->v);
	free(tags->index);
	*tags = (struct contig_tags){ 0 };
}
