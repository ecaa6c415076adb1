/* session_restore.c - sessions across a restart: journaled from their
 * hello, rebuilt from the journal as orphans, reclaimed by a hello that
 * presents their token (see session.h, "restarts").
 *
 * DESIGN
 * Owns the session's side of a restart: the journaled flag (set at hello,
 * with a journal), the orphan state (pools->norphans) and the seqs of
 * restored buffers. A session restored from the journal at startup is an
 * orphan (no connection) until a hello presents its token; its frames are
 * given back (contig_sessions_restore() walks restore.c's plan: each
 * adopted frame, then each buffer, then each carve), its buffers keep their ids (the slot table is rebuilt
 * around them) and the seqs of the requests that made them, so that a
 * retried allocate finds its buffer instead of making a second one; a
 * frame left without a buffer is recycled. A warm frame comes back as
 * one, and its carves after it (contig_session_restore_carve(),
 * session_carve.c), with their ids.
 *
 * It uses session.c's holdings and slots (session_int.h) and never
 * allocates from a pool, never reads or writes the journal (restart.c
 * makes the records, restore.c reads them), never logs (what to say goes
 * through the caller's say function). Loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "restart_record.h"
#include "session.h"
#include "session_int.h"

void contig_session_journal_open(struct contig_session *s)
{
	if (!s->pools->journal)
		return;
	s->journaled = true;
	contig_restart_record_open(s);
}

int contig_session_restore(struct contig_pools *pools, const uint8_t *token, uid_t uid, pid_t pid,
			   const char *comm, struct contig_session **ret_session)
{
	struct contig_session *s;
	int r;

	/* Admitted before the restart: no per-user connection limit now. */
	r = contig_session_new(pools, pid, uid, (gid_t)-1, comm, &s);
	if (r == -EUSERS) {
		pools->limits.max_connections_per_user++;
		r = contig_session_new(pools, pid, uid, (gid_t)-1, comm, &s);
		pools->limits.max_connections_per_user--;
	}
	if (r < 0)
		return r;
	memcpy(s->token, token, CONTIG_TOKEN_LEN);
	s->journaled = true;
	s->orphan = true;
	pools->norphans++;
	*ret_session = s;
	return 0;
}

int contig_session_restore_frame(struct contig_session *s, struct contig_pool *pool,
				 uint64_t phys, int cache_type)
{
	struct contig_frame *f = contig_pool_frame_at(pool, phys);
	struct holding *h;

	if (!f || f->phys != phys || f->state != CONTIG_FRAME_FREE)
		return -ENOENT;
	h = session__holding_get(s, pool, cache_type);
	if (!h)
		return -ENOMEM;
	if (contig_range_give(&h->free, phys, pool->page_len) < 0) {
		if (h->nframes == 0)
			session__holding_drop(s, h);
		return -ENOMEM;
	}
	if ((s->nrestored_frames & (s->nrestored_frames - 1)) == 0) {
		/* (0, 1, 2, 4, ...: doubled at each power of two) */
		struct contig_frame **grown =
			realloc(s->restored_frames,
				(s->nrestored_frames ? 2 * s->nrestored_frames : 1) * sizeof(*grown));

		if (!grown) {
			session__must(contig_range_take(&h->free, phys, pool->page_len));
			if (h->nframes == 0)
				session__holding_drop(s, h);
			return -ENOMEM;
		}
		s->restored_frames = grown;
	}
	s->restored_frames[s->nrestored_frames++] = f;
	session__must(contig_pool_take(pool, phys, pool->page_len, s, cache_type));
	h->nframes++;
	s->nframes++;
	/* (over a limit lowered since: kept) */
	contig_quota_charge(s->pools, s->user_uid, &s->frames_len, h->pool_index, pool->page_len,
			    true);
	return 0;
}

/* The slot of id @id, the table grown to hold it; NULL if @id cannot be
 * one of ours or is taken. */
static struct slot *slot_at(struct contig_session *s, uint64_t id)
{
	uint64_t index = (id & 0xffffffffu) - 1;

	if ((id & 0xffffffffu) == 0 || index >= NO_SLOT / 4 || (id >> 32) == 0)
		return NULL;
	if (index >= s->nslots) {
		uint32_t cap = s->nslots ? s->nslots : 16;
		struct slot *grown;

		while (cap <= index)
			cap *= 2;
		grown = realloc(s->slots, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(&grown[s->nslots], 0, (cap - s->nslots) * sizeof(*grown));
		s->slots = grown;
		s->nslots = cap;
	}
	return s->slots[index].buf.id ? NULL : &s->slots[index];
}

int contig_session_restore_buffer(struct contig_session *s, const struct contig_live_buffer *b,
				  uint64_t seq)
{
	struct contig_pool *pool = b->pool;
	struct holding *h = session__holding_find(s, pool, b->cache_type);
	uint32_t tag;
	struct slot *sl;

	if (!h || b->len == 0 || b->len % SMALL_PAGE || b->phys % SMALL_PAGE ||
	    b->phys + b->len < b->phys)
		return -EINVAL;
	sl = slot_at(s, b->id);
	if (!sl)
		return -EINVAL;
	/* In the session's frames of its type, over no other buffer. */
	if (contig_range_take(&h->free, b->phys, b->len) < 0)
		return -EINVAL;
	if (b->warm)
		tag = b->tag;
	else if (!session__tag_choose(s, b->tag, &tag)) {
		session__must(contig_range_give(&h->free, b->phys, b->len));
		return -ENOMEM;
	}
	if (seq) {
		size_t n = s->nresume_seqs;

		if ((n & (n - 1)) == 0) { /* (0, 1, 2, 4, ...: doubled at each power of two) */
			struct resume_seq *grown =
				realloc(s->resume_seqs, (n ? 2 * n : 1) * sizeof(*grown));

			if (!grown) {
				session__must(contig_range_give(&h->free, b->phys, b->len));
				return -ENOMEM;
			}
			s->resume_seqs = grown;
		}
		s->resume_seqs[s->nresume_seqs++] = (struct resume_seq){ seq, b->id };
	}
	for (uint64_t f = b->phys - b->phys % pool->page_len; f < b->phys + b->len;
	     f += pool->page_len) {
		contig_pool_frame_at(pool, f)->nbuffers++;
		contig_pool_frame_at(pool, f)->nwarm += b->warm;
	}
	sl->buf = *b;
	sl->buf.tag = tag;
	sl->buf.seq = seq;
	sl->gen = (uint32_t)(b->id >> 32);
	if (b->warm)
		pool->generation++;
	else
		session__count_buffer(s, &sl->buf, true);
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct resume_seq *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int contig_session_restore_done(struct contig_session *s)
{
	/* The free slot list, over the slots the buffers left empty. */
	s->free_slot = NO_SLOT;
	for (uint32_t i = s->nslots; i-- > 0;)
		if (!s->slots[i].buf.id) {
			s->slots[i].next_free = s->free_slot;
			s->free_slot = i;
		}
	if (s->nresume_seqs)
		qsort(s->resume_seqs, s->nresume_seqs, sizeof(*s->resume_seqs), cmp_seq);
	/* A frame the journal gave the session but no buffer of it (the
	 * record of the buffer was torn off) is dirty: recycle it. Only the
	 * frames given back to this session are looked at (not every frame
	 * of its pools: a restart of many sessions stays linear). */
	for (uint32_t i = 0; i < s->nrestored_frames; i++) {
		struct contig_frame *f = s->restored_frames[i];
		struct holding *h;

		if (f->state != CONTIG_FRAME_OWNED || f->owner != s || f->nbuffers != 0)
			continue;
		h = session__holding_find(s, f->pool, f->cache_type);
		session__frame_leave(s, h, f);
		if (h->nframes == 0)
			session__holding_drop(s, h);
	}
	free(s->restored_frames);
	s->restored_frames = NULL;
	s->nrestored_frames = 0;
	return 0;
}

struct contig_session *contig_session_find_orphan(struct contig_pools *pools,
						  const uint8_t *token)
{
	for (struct contig_session *s = pools->sessions; s; s = s->next)
		if (s->orphan && memcmp(s->token, token, CONTIG_TOKEN_LEN) == 0)
			return s;
	return NULL;
}

void contig_session_resume(struct contig_session *s, pid_t pid, const char *comm)
{
	s->orphan = false;
	s->pools->norphans--;
	s->pid = pid;
	snprintf(s->comm, sizeof(s->comm), "%s", comm);
	/* The journal's SessionOpen of a token it knows updates pid and comm. */
	contig_session_journal_open(s);
}

struct contig_live_buffer *contig_session_buffer_by_seq(struct contig_session *s, uint64_t seq)
{
	size_t lo = 0, hi = s->nresume_seqs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->resume_seqs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nresume_seqs || s->resume_seqs[lo].seq != seq)
		return NULL;
	return contig_session_buffer(s, s->resume_seqs[lo].id);
}

__attribute__((format(printf, 4, 5))) static void sayf(contig_restore_say_fn *say, void *arg,
						       int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say(level, msg, arg);
}

static struct contig_pool *pool_of(struct contig_pools *pools, int node, uint64_t page_len,
				   uint64_t below)
{
	for (size_t i = 0; i < pools->npools; i++)
		if (pools->pools[i]->node == node && pools->pools[i]->page_len == page_len &&
		    pools->pools[i]->below == below)
			return pools->pools[i];
	return NULL;
}

/* Put back what one planned session held: its adopted frames, its buffers,
 * its carves (a carve whose warm frame did not come back went with it).
 * Counts the buffers and carves restored and those that could not be.
 * Returns 0 or -ENOMEM. */
static int restore_holdings(struct contig_session *s, const struct contig_restore *plan,
			    struct contig_restore_walk *w, contig_restore_say_fn *say, void *arg,
			    uint32_t *nbufs, uint32_t *ndropped)
{
	struct contig_restore_frame pf;
	struct contig_restore_buffer pb;
	struct contig_carve_entry pc;
	int ret;

	while (contig_restore_next_frame(plan, w, &pf)) {
		struct contig_pool *pool = pool_of(s->pools, pf.node, pf.page_len, pf.below);

		if (!pool || contig_session_restore_frame(s, pool, pf.phys, pf.cache_type) < 0)
			sayf(say, arg, LOG_WARNING, "frame at 0x%" PRIx64 " could not be given "
			     "back to its session (the journal contradicts itself)", pf.phys);
	}
	while (contig_restore_next_buffer(plan, w, &pb)) {
		struct contig_live_buffer b = {
			.id = pb.id,
			.pool = pool_of(s->pools, pb.node, pb.page_len, pb.below),
			.phys = pb.phys,
			.len = pb.len,
			.req_len = pb.req_len,
			.cache_type = pb.cache_type,
			.tag = pb.tag,
			.warm = pb.warm,
		};

		ret = b.pool ? contig_session_restore_buffer(s, &b, pb.seq) : -EINVAL;
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0)
			++*ndropped;
		else
			++*nbufs;
	}
	while (contig_restore_next_carve(plan, w, &pc)) {
		const struct contig_live_buffer *frame = contig_session_buffer(s, pc.frame_id);

		if (!frame || !frame->warm)
			continue; /* went with its warm frame */
		ret = contig_session_restore_carve(s, &pc);
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0)
			++*ndropped;
		else
			++*nbufs;
	}
	return 0;
}

int contig_sessions_restore(struct contig_pools *pools, const struct contig_restore *plan,
			    contig_restore_say_fn *say, void *arg)
{
	struct contig_restore_walk w = { 0 };
	struct contig_restore_session ps;

	while (contig_restore_next_session(plan, &w, &ps)) {
		struct contig_session *s;
		uint32_t nbufs = 0, ndropped = 0;
		int ret;

		ret = contig_session_restore(pools, ps.token, (uid_t)ps.uid, (pid_t)ps.pid, ps.comm,
					     &s);
		if (ret < 0)
			return ret;
		ret = restore_holdings(s, plan, &w, say, arg, &nbufs, &ndropped);
		if (ret == 0)
			ret = contig_session_restore_done(s);
		if (ret < 0)
			return ret;
		if (ndropped) {
			/* A session is given back whole or not at all: a client told
			 * "resumed" must find every buffer it holds. */
			sayf(say, arg, LOG_WARNING, "session of pid %u (uid %u, %s) cannot be "
			     "restored whole: %" PRIu32 " of its %" PRIu32 " buffers are in frames "
			     "that moved or are gone; it is released", ps.pid, ps.uid, ps.comm,
			     ndropped, ndropped + nbufs);
			contig_session_free(s);
			continue;
		}
		sayf(say, arg, LOG_INFO, "session of pid %u (uid %u, %s) restored: %" PRIu32
		     " buffers in %" PRIu32 " frames", ps.pid, ps.uid, ps.comm, nbufs, s->nframes);
	}
	return 0;
}
