/* session_carve.c - the buffers a client cut from its warm frames: the
 * fast path's reports (CarveRequest) applied to a session.
 *
 * DESIGN
 * libcontig's fast path (client/fastpath.c) cuts small buffers from warm
 * frames, one-frame buffers the session allocated with AllocRequest.warm,
 * without a round trip, and reports them in batches. A warm frame is
 * charged as any buffer's frames are (frames, bytes of frames: the byte
 * quotas), but it is not a buffer: it is not counted in nbuffers, len,
 * buffer quotas or tags, nor listed. Its carves are, everywhere a buffer
 * is (session__count_buffer(): session, user, pool, tags; each frame's
 * ncarved for FrameInfo.nbuffers), and contig_session_next_buffer() lists
 * them after the slots. So the daemon's view is the client's, late by at
 * most one report.
 *
 * Owns the session's carves: an array in no order (a free moves the last
 * one into its place), an open-addressed index by the client's id (a
 * report's lookups must not grow with the session's carves), and per warm
 * frame a bitmap of the 4 KiB pages carved (slot.carved), so that an
 * overlap is found in the frame's pages, not among every carve. A carve
 * never holds its frame: a warm frame is the frame's buffer
 * (frame->nbuffers), and its free or the session's end drops its carves,
 * counted as freed (session__carves_drop_frame()).
 *
 * A report is checked whole first (check.c, with contig_session_carve_test()
 * here: the one place that says what fits), then applied whole: everything
 * it may need (room in the array, the index, bitmaps, the journal's
 * entries) is allocated before the first change, so it is applied
 * entirely or, out of memory, not at all. The journal gets one record per
 * report (contig_restart_record_carves()): the carves added, the ids
 * freed; a resent carve (KNOWN) is not journaled again, transients never
 * are (they leave nothing live).
 *
 * It never decides a refusal's words (check.c), never writes the journal
 * (restart.c), never claims or lets go of a frame (session.c), never logs.
 * Loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "restart_record.h"
#include "session.h"
#include "session_int.h"

#define NO_CARVE UINT32_MAX

/* ---- the index by id ---- */

static uint32_t hash_slot(uint64_t id, uint32_t nindex)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (nindex - 1);
}

/* The position of carve @id in s->carves, NO_CARVE if none. */
static uint32_t carve_pos(const struct contig_session *s, uint64_t id)
{
	if (!s->ncarve_index)
		return NO_CARVE;
	for (uint32_t i = hash_slot(id, s->ncarve_index);; i = (i + 1) & (s->ncarve_index - 1)) {
		uint32_t e = s->carve_index[i];

		if (e == 0)
			return NO_CARVE;
		if (s->carves[e - 1].buf.id == id)
			return e - 1;
	}
}

static void index_put(struct contig_session *s, uint32_t pos)
{
	uint32_t i = hash_slot(s->carves[pos].buf.id, s->ncarve_index);

	while (s->carve_index[i])
		i = (i + 1) & (s->ncarve_index - 1);
	s->carve_index[i] = pos + 1;
}

/* The index slot that holds position @pos. */
static uint32_t index_slot(const struct contig_session *s, uint32_t pos)
{
	uint32_t i = hash_slot(s->carves[pos].buf.id, s->ncarve_index);

	while (s->carve_index[i] != pos + 1)
		i = (i + 1) & (s->ncarve_index - 1);
	return i;
}

/* Remove index slot @i (linear probing's backward shift: no tombstones). */
static void index_del(struct contig_session *s, uint32_t i)
{
	uint32_t mask = s->ncarve_index - 1;

	for (uint32_t j = (i + 1) & mask; s->carve_index[j]; j = (j + 1) & mask) {
		uint32_t home = hash_slot(s->carves[s->carve_index[j] - 1].buf.id, s->ncarve_index);

		/* Move j's entry to i if i lies between its home and j. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->carve_index[i] = s->carve_index[j];
			i = j;
		}
	}
	s->carve_index[i] = 0;
}

/* Room for @more carves: array and index. Returns 0 or -ENOMEM. */
static int carves_reserve(struct contig_session *s, size_t more)
{
	size_t need = (size_t)s->ncarves + more;

	if (need >= UINT32_MAX / 4)
		return -ENOMEM;
	if (need > s->carves_cap) {
		uint32_t cap = s->carves_cap ? s->carves_cap : 16;
		struct contig_carve *grown;

		while (cap < need)
			cap *= 2;
		grown = realloc(s->carves, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->carves = grown;
		s->carves_cap = cap;
	}
	if (2 * need > s->ncarve_index) {
		uint32_t n = s->ncarve_index ? s->ncarve_index : 32;
		uint32_t *index;

		while (n < 2 * need)
			n *= 2;
		index = calloc(n, sizeof(*index));
		if (!index)
			return -ENOMEM;
		free(s->carve_index);
		s->carve_index = index;
		s->ncarve_index = n;
		for (uint32_t i = 0; i < s->ncarves; i++)
			index_put(s, i);
	}
	return 0;
}

/* ---- warm frames' pages ---- */

static struct slot *warm_slot(struct contig_session *s, uint64_t frame_id)
{
	struct contig_live_buffer *b = contig_session_buffer(s, frame_id);

	return b && b->warm ? (struct slot *)b : NULL;
}

/* The warm frame of @sl has its bitmap. Returns 0 or -ENOMEM. */
static int bitmap_make(struct slot *sl)
{
	size_t words = (sl->buf.len / SMALL_PAGE + 63) / 64;

	if (sl->carved)
		return 0;
	sl->carved = calloc(words, sizeof(*sl->carved));
	return sl->carved ? 0 : -ENOMEM;
}

static bool pages_any(const uint64_t *bits, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		if (bits[i / 64] >> (i % 64) & 1)
			return true;
	return false;
}

static void pages_set(uint64_t *bits, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (on)
			bits[i / 64] |= 1ull << (i % 64);
		else
			bits[i / 64] &= ~(1ull << (i % 64));
	}
}

/* ---- carves ---- */

const struct contig_carve *contig_session_carve(const struct contig_session *s, uint64_t id)
{
	uint32_t pos = carve_pos(s, id);

	return pos == NO_CARVE ? NULL : &s->carves[pos];
}

/* The live carve of warm frame @frame_id over [@offset, @offset + @len). */
static const struct contig_carve *overlapping(const struct contig_session *s, uint64_t frame_id,
					      uint64_t offset, uint64_t len)
{
	for (uint32_t i = 0; i < s->ncarves; i++) {
		const struct contig_carve *c = &s->carves[i];

		if (c->frame_id == frame_id && c->offset < offset + len &&
		    offset < c->offset + c->buf.len)
			return c;
	}
	return NULL;
}

enum contig_carve_fit contig_session_carve_test(struct contig_session *s,
						const struct contig_carve_entry *e,
						const struct contig_carve **ret_other)
{
	const struct contig_carve *known;
	struct slot *frame;

	if (e->len == 0 || e->len % SMALL_PAGE || e->offset % SMALL_PAGE)
		return CONTIG_CARVE_MISALIGNED;
	frame = warm_slot(s, e->frame_id);
	if (!frame)
		return CONTIG_CARVE_NOT_WARM;
	if (e->offset >= frame->buf.len || e->len > frame->buf.len - e->offset)
		return CONTIG_CARVE_OUTSIDE;
	known = contig_session_carve(s, e->id);
	if (known)
		return known->frame_id == e->frame_id && known->offset == e->offset &&
				       known->buf.len == e->len
			       ? CONTIG_CARVE_KNOWN
			       : CONTIG_CARVE_ID_TAKEN;
	if (e->id == 0 || contig_session_buffer(s, e->id))
		return CONTIG_CARVE_ID_TAKEN;
	if (frame->carved &&
	    pages_any(frame->carved, e->offset / SMALL_PAGE, e->len / SMALL_PAGE)) {
		if (ret_other)
			*ret_other = overlapping(s, e->frame_id, e->offset, e->len);
		return CONTIG_CARVE_OVERLAP;
	}
	return CONTIG_CARVE_NEW;
}

/* The frames carve @c touches: ncarved by @delta. */
static void frames_count(const struct contig_carve *c, int delta)
{
	const struct contig_pool *pool = c->buf.pool;

	for (uint64_t f = c->buf.phys - c->buf.phys % pool->page_len; f < c->buf.phys + c->buf.len;
	     f += pool->page_len)
		contig_pool_frame_at(pool, f)->ncarved += (uint32_t)delta;
}

/* Add carve @e, which is NEW, under @tag (as chosen); room is reserved
 * and the frame's bitmap made. */
static void carve_add(struct contig_session *s, const struct contig_carve_entry *e, uint32_t tag)
{
	struct slot *frame = warm_slot(s, e->frame_id);
	struct contig_carve *c = &s->carves[s->ncarves];

	*c = (struct contig_carve){
		.buf = {
			.id = e->id,
			.pool = frame->buf.pool,
			.phys = frame->buf.phys + e->offset,
			.len = e->len,
			.req_len = e->req_len ? e->req_len : e->len,
			.cache_type = frame->buf.cache_type,
			.tag = tag,
		},
		.frame_id = e->frame_id,
		.offset = e->offset,
	};
	index_put(s, s->ncarves++);
	pages_set(frame->carved, e->offset / SMALL_PAGE, e->len / SMALL_PAGE, true);
	frames_count(c, 1);
	session__count_buffer(s, &c->buf, true);
}

/* Remove the carve at @pos, counted as freed. */
static void carve_remove(struct contig_session *s, uint32_t pos)
{
	struct contig_carve *c = &s->carves[pos];
	struct slot *frame = warm_slot(s, c->frame_id);
	uint32_t last = s->ncarves - 1;

	if (frame && frame->carved)
		pages_set(frame->carved, c->offset / SMALL_PAGE, c->buf.len / SMALL_PAGE, false);
	frames_count(c, -1);
	session__count_buffer(s, &c->buf, false);
	index_del(s, index_slot(s, pos));
	if (pos != last) {
		uint32_t i = index_slot(s, last);

		s->carves[pos] = s->carves[last];
		s->carve_index[i] = pos + 1;
	}
	s->ncarves--;
}

uint32_t session__carves_drop_frame(struct contig_session *s, uint64_t frame_id)
{
	uint32_t n = 0;

	for (uint32_t i = s->ncarves; i-- > 0;)
		if (s->carves[i].frame_id == frame_id) {
			carve_remove(s, i);
			n++;
		}
	return n;
}

int contig_session_carve_apply(struct contig_session *s, const struct contig_carve_report *rep,
			       struct contig_carve_result *ret)
{
	struct contig_carve_entry *added = NULL;
	uint64_t *freed = NULL;
	uint32_t tag;
	int r = -ENOMEM;

	*ret = (struct contig_carve_result){ 0 };
	/* Everything that may fail, before the first change. */
	if ((rep->nallocs && !(added = calloc(rep->nallocs, sizeof(*added)))) ||
	    (rep->nfrees && !(freed = calloc(rep->nfrees, sizeof(*freed)))) ||
	    carves_reserve(s, rep->nallocs) < 0)
		goto out;
	for (size_t i = 0; i < rep->nallocs; i++) {
		struct slot *frame = warm_slot(s, rep->allocs[i].frame_id);

		if (!frame || bitmap_make(frame) < 0 ||
		    !session__tag_choose(s, rep->allocs[i].tag, &tag))
			goto out;
	}
	for (size_t i = 0; i < rep->ntransients; i++)
		if (!session__tag_choose(s, rep->transients[i].tag, &tag))
			goto out;

	for (size_t i = 0; i < rep->nallocs; i++) {
		const struct contig_carve_entry *e = &rep->allocs[i];

		if (contig_session_carve_test(s, e, NULL) != CONTIG_CARVE_NEW)
			continue; /* KNOWN: a resent report, or twice in this one */
		session__must(session__tag_choose(s, e->tag, &tag) ? 0 : -ENOMEM);
		carve_add(s, e, tag);
		added[ret->nadded] = *e;
		added[ret->nadded].tag = tag;
		added[ret->nadded].req_len = s->carves[s->ncarves - 1].buf.req_len;
		ret->nadded++;
	}
	for (size_t i = 0; i < rep->nfrees; i++) {
		uint32_t pos = carve_pos(s, rep->frees[i]);

		if (pos == NO_CARVE) {
			ret->nunknown++;
			continue;
		}
		carve_remove(s, pos);
		freed[ret->nfreed++] = rep->frees[i];
	}
	for (size_t i = 0; i < rep->ntransients; i++) {
		const struct contig_carve_transient *t = &rep->transients[i];

		session__must(session__tag_choose(s, t->tag, &tag) ? 0 : -ENOMEM);
		session__tag_transient(s, tag, t->count);
		ret->ntransient += t->count;
	}
	if (s->journaled && (ret->nadded || ret->nfreed))
		contig_restart_record_carves(s, added, ret->nadded, freed, ret->nfreed);
	r = 0;
out:
	free(added);
	free(freed);
	return r;
}

int contig_session_restore_carve(struct contig_session *s, const struct contig_carve_entry *e)
{
	struct slot *frame = warm_slot(s, e->frame_id);
	uint32_t tag;

	if (contig_session_carve_test(s, e, NULL) != CONTIG_CARVE_NEW)
		return -EINVAL;
	if (carves_reserve(s, 1) < 0 || bitmap_make(frame) < 0 ||
	    !session__tag_choose(s, e->tag, &tag))
		return -ENOMEM;
	carve_add(s, e, tag);
	return 0;
}
