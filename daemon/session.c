/* session.c - what one client connection owns.
 *
 * DESIGN
 * A session owns frames; every buffer lies in frames its session owns, and
 * every frame a session owns serves one cache type. For each (pool, cache
 * type) the session keeps a "holding": the free space inside its frames of
 * that pool and type, as a contig_range_set at 4 KiB granularity. So an
 * allocation is:
 *   1. contig_range_find() in each matching holding (smallest page size
 *      first): small buffers pack into frames the session already holds;
 *   2. else contig_range_find() in each matching pool's free frames, with
 *      the same request: the frames covering the range found become the
 *      session's (their space joins the holding), and the buffer is carved
 *      from the holding;
 *   3. else -EAGAIN if frames are being recycled in a pool that could serve
 *      the request (the caller waits for them), -ENOSPC otherwise.
 * A request for a node matches only that node's pools (no fallback). One
 * for any node that says the caller's node (near_node) runs 1 and 2 on
 * that node's pools first, then on every other pool, as DPDK's
 * SOCKET_ID_ANY does; without it, 1 and 2 run over every pool in order.
 * All of that runs first on the pools without a window, then on the pools
 * of each window (below=), widest first: a request that does not need the
 * low memory a window pool holds gets it only once every other pool is
 * out of room, and one that needs it gets there.
 * Each frame counts the buffers that touch it; when a free drops that to
 * zero, the frame leaves the session and goes to the recycler, which
 * zeroes it before anyone else can have it.
 *
 * Kept frames (hysteresis, issue 22): a session that frees the last buffer
 * of a small frame (a page of 2 MiB or less) keeps that one frame for at
 * most CONTIG_KEEP_NS (50 ms), so that allocate, free, allocate of one
 * buffer with nothing else live does not recycle a frame, and wait for
 * one, at every pair. The frame never changes owner while kept: it stays
 * OWNED by the session, in its holding, charged to its quotas and
 * journaled as its frame (a restart recycles it, as any frame without a
 * buffer), so the zeroing promise holds unchanged: a frame is zeroed
 * before another session can have it, never within one. At most one frame
 * per session; a second emptied frame leaves at once. A kept frame leaves
 * (to the recycler) when
 *   - its time is up (contig_session_keep_expire(), server.c's timer);
 *   - the session allocates in it again: it is simply no longer kept;
 *   - an allocation finds no free range in its pool (any session's: the
 *     kept frames of that pool go and the request waits for them, -EAGAIN),
 *     or is refused a quota or watermark that the session's own kept frame,
 *     or the pool's kept frames, stand in the way of;
 *   - a stats request asks what is free (contig_session_keep_release_all():
 *     free memory is reported whole once the recycler is done, as after
 *     any free) or the session ends.
 * A kept frame holds no buffer, so it is never reported as a leak.
 *
 * Quotas and watermarks (quota.c) are asked before step 2 claims a
 * pool's frames, pool by pool; a buffer packed into frames held (step 1)
 * costs nothing. The buffer counts are checked before placing.
 *
 * Tags: a buffer is counted under its pool tag in its user's, its
 * session's and the daemon's table (tags.c).
 *
 * Buffer ids are (generation << 32 | slot + 1) into a slot table: O(1)
 * lookup, and a stale or forged id finds nothing; slot + 1 < 2^31, so an
 * id with bit 31 set is never ours (libcontig gives its carves such ids).
 * Ids only mean something inside their session; a generation whose id a
 * live carve has (the client chose it: an older libcontig's carves have
 * the low 32 bits 0) is skipped.
 *
 * Warm frames (the fast path's, AllocRequest.warm) are slot buffers that
 * hold their frames like any other, but are no buffer to count: no buffer
 * quota, no tag, not in nbuffers/len/pool->nbuffers, not listed
 * (contig_session_next_buffer() skips them, frame->nwarm says how many
 * touch a frame). The buffers the client cut from them are counted and
 * listed instead (session_carve.c); a warm frame's release releases them.
 *
 * Restarts: every frame a journaled session claims or lets go, every
 * buffer it allocates or frees, is told to the restart module (restart.c
 * writes the records); closing it adds SessionClose, which stands for all
 * it held. Journaling a session, restoring one from the journal and
 * resuming it: session_restore.c, which shares the holdings and slots
 * through session_int.h.
 *
 * It never writes the journal (restart.c), never decides a quota
 * (quota.c), never logs, never calls up into rpc.c or server.c.
 * Loop thread only.
 */
#include "session.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "restart_record.h"
#include "session_int.h"

/* The tables a buffer of @s is counted in: its user's, its own, the
 * daemon's (tags.h). */
bool session__tag_choose(struct contig_session *s, uint32_t tag, uint32_t *ret_tag)
{
	struct contig_tags *const tables[CONTIG_TAG_TABLES] = {
		&contig_user_find(s->pools, s->user_uid)->tags, &s->tags, &s->pools->tags
	};

	return contig_tags_choose(tables, tag, ret_tag);
}

void session__tag_count(struct contig_session *s, uint32_t tag, uint64_t len, bool alloc)
{
	struct contig_tags *const tables[CONTIG_TAG_TABLES] = {
		&contig_user_find(s->pools, s->user_uid)->tags, &s->tags, &s->pools->tags
	};

	contig_tags_count(tables, tag, len, alloc);
}

void session__tag_transient(struct contig_session *s, uint32_t tag, uint64_t count)
{
	struct contig_tags *const tables[CONTIG_TAG_TABLES] = {
		&contig_user_find(s->pools, s->user_uid)->tags, &s->tags, &s->pools->tags
	};

	contig_tags_count_transient(tables, tag, count);
}

int contig_session_new(struct contig_pools *pools, pid_t pid, uid_t uid, gid_t gid,
		       const char *comm, struct contig_session **ret_session)
{
	struct contig_session *s;
	int r = contig_quota_join(pools, uid);

	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		contig_quota_leave(pools, uid);
		return -ENOMEM;
	}
	s->user_uid = uid;
	snprintf(s->comm, sizeof(s->comm), "%s", comm);
	s->next = pools->sessions;
	if (s->next)
		s->next->prev = s;
	pools->sessions = s;
	s->pools = pools;
	s->pid = pid;
	s->uid = uid;
	s->gid = gid;
	s->free_slot = NO_SLOT;
	/* Unguessable: it is all a client needs to reclaim the session after a
	 * restart (besides being the same uid). */
	s->token[0] = CONTIG_TOKEN_FORMAT;
	if (getrandom(s->token + 1, CONTIG_TOKEN_LEN - 1, 0) != CONTIG_TOKEN_LEN - 1) {
		contig_session_free(s);
		return -EIO;
	}
	*ret_session = s;
	return 0;
}

struct holding *session__holding_find(struct contig_session *s, struct contig_pool *pool,
				      int cache_type)
{
	for (size_t i = 0; i < s->nholdings; i++)
		if (s->holdings[i].pool == pool && s->holdings[i].cache_type == cache_type)
			return &s->holdings[i];
	return NULL;
}

static bool holds_pool(const struct contig_session *s, const struct contig_pool *pool)
{
	for (size_t i = 0; i < s->nholdings; i++)
		if (s->holdings[i].pool == pool)
			return true;
	return false;
}

struct holding *session__holding_get(struct contig_session *s, struct contig_pool *pool,
				     int cache_type)
{
	struct holding *h = session__holding_find(s, pool, cache_type), *grown;

	if (h)
		return h;
	grown = realloc(s->holdings, (s->nholdings + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	s->holdings = grown;
	if (!holds_pool(s, pool))
		pool->nsessions++;
	h = &s->holdings[s->nholdings++];
	h->pool = pool;
	for (h->pool_index = 0; h->pool_index < s->pools->npools; h->pool_index++)
		if (s->pools->pools[h->pool_index] == pool)
			break;
	assert(h->pool_index < s->pools->npools);
	h->cache_type = cache_type;
	h->nframes = 0;
	contig_range_set_init(&h->free);
	return h;
}

/* The bookkeeping of memory we hand out must never be half done: if a range
 * set cannot grow by one entry (malloc failed for a few bytes), stop here
 * rather than lose track of a frame; systemd restarts the daemon. */
void session__must(int r)
{
	if (r < 0)
		abort();
}

void session__holding_drop(struct contig_session *s, struct holding *h)
{
	struct contig_pool *pool = h->pool;

	contig_range_set_done(&h->free);
	*h = s->holdings[--s->nholdings];
	if (!holds_pool(s, pool))
		pool->nsessions--;
}

/* Hand a frame whose last buffer went back to the recycler. */
void session__frame_leave(struct contig_session *s, struct holding *h, struct contig_frame *f)
{
	/* The frame has no buffers, so all its space is free in the holding. */
	session__must(contig_range_take(&h->free, f->phys, f->pool->page_len));
	h->nframes--;
	s->nframes--;
	contig_quota_charge(s->pools, s->user_uid, &s->frames_len, h->pool_index,
			    h->pool->page_len, false);
	if (s->journaled)
		contig_restart_record_frame(s, f, false, 0);
	contig_pool_frame_recycling(f);
	contig_recycler_push(s->pools->recycler, f);
}

/* ---- kept frames ---- */

#define KEEP_MAX_PAGE (2u << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void kept_unlink(struct contig_session *s)
{
	struct contig_pools *env = s->pools;

	if (s->kept_prev)
		s->kept_prev->kept_next = s->kept_next;
	else
		env->kept_first = s->kept_next;
	if (s->kept_next)
		s->kept_next->kept_prev = s->kept_prev;
	else
		env->kept_last = s->kept_prev;
	s->kept_prev = s->kept_next = NULL;
	s->kept = NULL;
}

/* Keep @f, which a free just emptied, instead of recycling it? Only one
 * small frame per session. Returns whether it is kept. */
static bool kept_take(struct contig_session *s, struct contig_frame *f)
{
	struct contig_pools *env = s->pools;

	if (s->kept || f->pool->page_len > KEEP_MAX_PAGE)
		return false;
	s->kept = f;
	s->kept_until_ns = now_ns() + CONTIG_KEEP_NS;
	/* Every deadline is now + the same delay: appending keeps the order. */
	s->kept_prev = env->kept_last;
	s->kept_next = NULL;
	if (env->kept_last)
		env->kept_last->kept_next = s;
	else
		env->kept_first = s;
	env->kept_last = s;
	return true;
}

/* Send @s's kept frame to the recycler. */
static void kept_release(struct contig_session *s)
{
	struct contig_frame *f = s->kept;
	struct holding *h = session__holding_find(s, f->pool, f->cache_type);

	assert(h && f->nbuffers == 0 && f->owner == s);
	kept_unlink(s);
	session__frame_leave(s, h, f);
	if (h->nframes == 0)
		session__holding_drop(s, h);
}

/* Recycle the kept frames in @pool (every session's). Returns how many. */
static uint32_t kept_release_pool(struct contig_pools *env, const struct contig_pool *pool)
{
	struct contig_session *s, *next;
	uint32_t n = 0;

	for (s = env->kept_first; s; s = next) {
		next = s->kept_next;
		if (s->kept->pool == pool) {
			kept_release(s);
			n++;
		}
	}
	return n;
}

uint64_t contig_session_keep_next_ns(const struct contig_pools *pools)
{
	return pools->kept_first ? pools->kept_first->kept_until_ns : 0;
}

uint64_t contig_session_keep_expire(struct contig_pools *pools, uint64_t now)
{
	while (pools->kept_first && pools->kept_first->kept_until_ns <= now)
		kept_release(pools->kept_first);
	return contig_session_keep_next_ns(pools);
}

uint32_t contig_session_keep_release_all(struct contig_pools *pools)
{
	uint32_t n = 0;

	for (; pools->kept_first; n++)
		kept_release(pools->kept_first);
	return n;
}

static struct slot *slot_new(struct contig_session *s)
{
	struct slot *sl;

	if (s->free_slot == NO_SLOT) {
		struct slot *grown;
		uint32_t cap = s->nslots ? s->nslots * 2 : 16;

		/* (slot + 1 stays below 2^31: an id with bit 31 set is a
		 * fast-path carve's, the client's own.) */
		if (s->nslots >= NO_SLOT / 4)
			return NULL;
		grown = realloc(s->slots, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		s->slots = grown;
		for (uint32_t i = s->nslots; i < cap; i++) {
			memset(&grown[i], 0, sizeof(grown[i]));
			grown[i].next_free = i + 1 < cap ? i + 1 : NO_SLOT;
		}
		s->free_slot = s->nslots;
		s->nslots = cap;
	}
	sl = &s->slots[s->free_slot];
	s->free_slot = sl->next_free;
	sl->gen++;
	return sl;
}

struct contig_live_buffer *contig_session_buffer(struct contig_session *s, uint64_t id)
{
	uint64_t index = (id & 0xffffffffu) - 1;
	struct slot *sl;

	if (index >= s->nslots)
		return NULL;
	sl = &s->slots[index];
	if (sl->buf.id != id || id == 0)
		return NULL;
	return &sl->buf;
}

const struct contig_live_buffer *contig_session_next_slot(const struct contig_session *s,
						     uint32_t *cursor)
{
	for (uint32_t i = *cursor; i < s->nslots; i++)
		if (s->slots[i].buf.id) {
			*cursor = i + 1;
			return &s->slots[i].buf;
		}
	*cursor = s->nslots;
	return NULL;
}

const struct contig_live_buffer *contig_session_next_buffer(const struct contig_session *s,
						       uint32_t *cursor)
{
	const struct contig_live_buffer *b;

	/* Slots (but warm frames) up to nslots, then carve i at nslots + i. */
	while (*cursor < s->nslots && (b = contig_session_next_slot(s, cursor)))
		if (!b->warm)
			return b;
	if (*cursor < s->nslots)
		*cursor = s->nslots;
	if (*cursor - s->nslots < s->ncarves)
		return &s->carves[(*cursor)++ - s->nslots].buf;
	return NULL;
}

/* The end of @pool's window; UINT64_MAX for a pool without one. */
static uint64_t window_end(const struct contig_pool *pool)
{
	return pool->below ? pool->below : UINT64_MAX;
}

/* The tier after @tier: the next narrower window end among the pools, or
 * 0 when there is none. */
static uint64_t next_tier(const struct contig_pools *env, uint64_t tier)
{
	uint64_t next = 0;

	for (size_t i = 0; i < env->npools; i++) {
		uint64_t end = window_end(env->pools[i]);

		if (end < tier && end > next)
			next = end;
	}
	return next;
}

/* Is @pool tried in pass @pass (0, then 1) of tier @tier of an allocation?
 * Only the pools whose window ends at @tier (see contig_session_alloc()).
 * A named node: its pools, in pass 0 only. Any node: the caller's node's
 * pools in pass 0 and every other in pass 1 (DPDK's SOCKET_ID_ANY order);
 * every pool in pass 0 when the caller's node is not known. */
static bool pool_matches(const struct contig_pool *pool, const struct contig_alloc_params *p,
			 int pass, uint64_t tier)
{
	if (window_end(pool) != tier)
		return false;
	if (p->node >= 0)
		return pass == 0 && pool->node == p->node;
	if (p->near_node < 0)
		return pass == 0;
	return (pool->node == p->near_node) == (pass == 0);
}

/* Frames a range of @len bytes at @phys touches in @pool. */
static uint64_t frames_spanned(const struct contig_pool *pool, uint64_t phys, uint64_t len)
{
	uint64_t first = phys / pool->page_len, last = (phys + len - 1) / pool->page_len;

	return last - first + 1;
}

/* Step 2: claim the free frames of @pool under the range @phys found there. */
static int claim_frames(struct contig_session *s, struct contig_pool *pool, int cache_type,
			uint64_t phys, uint64_t len)
{
	uint64_t first = phys - phys % pool->page_len;
	uint64_t n = frames_spanned(pool, phys, len);
	struct holding *h = session__holding_get(s, pool, cache_type);
	int r;

	if (!h)
		return -ENOMEM;
	r = contig_range_give(&h->free, first, n * pool->page_len);
	if (r < 0)
		goto out_drop;
	r = contig_pool_take(pool, first, n * pool->page_len, s, cache_type);
	if (r < 0) {
		contig_range_take(&h->free, first, n * pool->page_len);
		goto out_drop;
	}
	h->nframes += (uint32_t)n;
	s->nframes += (uint32_t)n;
	contig_quota_charge(s->pools, s->user_uid, &s->frames_len, h->pool_index,
			    n * pool->page_len, true);
	for (uint64_t i = 0; i < n && s->journaled; i++)
		contig_restart_record_frame(s, contig_pool_frame_at(pool, first + i * pool->page_len),
					    true, cache_type);
	return 0;

out_drop:
	if (h->nframes == 0)
		session__holding_drop(s, h);
	return r;
}

/* What stood in the way of an allocation that found no place. */
struct why_not {
	bool recycling; /* a pool that could serve it has frames being recycled */
	bool too_big;   /* a place spans more than max_frames_per_buffer frames */
	bool watermark; /* a place would leave its pool below the watermark */
	bool fair;      /* ... below watermark_low, the user over its fair share */
	const char *quota; /* a place's frames would exceed this byte limit */
};

/* Steps 1 and 2 (see the top of this file) for @req over the pools of
 * tier @tier in pass @pass: space in frames the session holds (a place
 * across more frames than allowed is passed over: the pools may do
 * better), then free frames of a pool, which the session claims. Returns
 * 1 with *ret_h (the holding of the pool that serves @req) and *ret_phys,
 * 0 with @why told what stood in the way, or -ENOMEM. */
static int place(struct contig_session *s, const struct contig_alloc_params *p,
		 const struct contig_range_req *req, int pass, uint64_t tier,
		 struct why_not *why, struct holding **ret_h, uint64_t *ret_phys)
{
	struct contig_pools *env = s->pools;
	const char *limit;
	uint64_t phys;
	int q, r;

	for (size_t i = 0; i < env->npools; i++) {
		struct holding *h = session__holding_find(s, env->pools[i], p->cache_type);

		if (!h || !pool_matches(h->pool, p, pass, tier) ||
		    contig_range_find(&h->free, req, &phys) < 0)
			continue;
		if (frames_spanned(h->pool, phys, req->len) > env->limits.max_frames_per_buffer) {
			why->too_big = true;
			continue;
		}
		*ret_h = h;
		*ret_phys = phys;
		return 1;
	}
	for (size_t i = 0; i < env->npools; i++) {
		struct contig_pool *cand = env->pools[i];
		uint64_t n;

		if (!pool_matches(cand, p, pass, tier))
			continue;
		if (contig_range_find(&cand->free, req, &phys) < 0) {
			/* Frames kept in this pool are wanted: recycled, then
			 * the request is tried again (it waits for them). */
			kept_release_pool(env, cand);
			why->recycling |= cand->nrecycling > 0;
			continue;
		}
		n = frames_spanned(cand, phys, req->len);
		if (n > env->limits.max_frames_per_buffer) {
			why->too_big = true;
			continue;
		}
		q = contig_quota_claim(env, s->user_uid, s->frames_len, i, n * cand->page_len,
				       p->priority, &limit);
		/* A kept frame never stands in the way: the session's own
		 * (counted in its quotas) and the pool's (not free, for the
		 * watermarks) go, and the claim is asked again. */
		if (q != CONTIG_QUOTA_OK && (s->kept || kept_release_pool(env, cand))) {
			if (s->kept)
				kept_release(s);
			kept_release_pool(env, cand);
			q = contig_quota_claim(env, s->user_uid, s->frames_len, i,
					       n * cand->page_len, p->priority, &limit);
			if (q != CONTIG_QUOTA_OK && cand->nrecycling > 0) {
				why->recycling = true;
				continue;
			}
		}
		switch (q) {
		case CONTIG_QUOTA_LIMIT:
			why->quota = limit;
			continue;
		case CONTIG_QUOTA_WATERMARK:
			why->watermark = true;
			continue;
		case CONTIG_QUOTA_FAIR_SHARE:
			why->fair = true;
			continue;
		case CONTIG_QUOTA_OK:
			break;
		}
		r = claim_frames(s, cand, p->cache_type, phys, req->len);
		if (r < 0)
			return r;
		*ret_h = session__holding_find(s, cand, p->cache_type);
		*ret_phys = phys;
		return 1;
	}
	return 0;
}

int contig_session_alloc(struct contig_session *s, const struct contig_alloc_params *p,
			 const char **ret_field, struct contig_live_buffer **ret_buffer)
{
	struct contig_pools *env = s->pools;
	struct contig_pool *pool = NULL;
	struct contig_range_req req = p->range;
	struct holding *h = NULL;
	struct why_not why = { false, false, false, false, NULL };
	uint64_t phys = 0;
	uint32_t tag;
	struct slot *sl;
	int r;

	/* A warm frame is no buffer: its carves are counted, not it. */
	if (!p->warm) {
		r = contig_quota_check_buffer(env, s->user_uid, s->nbuffers, ret_field);
		if (r < 0)
			return r;
		if (!session__tag_choose(s, p->tag, &tag))
			return -ENOMEM;
	} else {
		tag = p->tag;
	}

	/* Pools without a window first, then windows from the widest to the
	 * narrowest (tiers): a request that does not need a window is served
	 * outside it while outside has room, since the memory a window holds
	 * is what only some devices can use; one that needs it finds it. In a
	 * tier, the caller's node first (pass 0), then the others (pass 1). */
	for (uint64_t tier = UINT64_MAX; tier && !pool; tier = next_tier(env, tier)) {
		for (int pass = 0; pass < 2 && !pool; pass++) {
			r = place(s, p, &req, pass, tier, &why, &h, &phys);
			if (r < 0)
				return r;
			if (r > 0)
				pool = h->pool;
		}
	}
	if (!pool) {
		/* The most useful reason first: what will pass by itself
		 * (recycling), then what the client could change. */
		if (why.recycling)
			return -EAGAIN;
		if (why.quota) {
			*ret_field = why.quota;
			return -EDQUOT;
		}
		if (why.fair || why.watermark) {
			*ret_field = why.fair && !why.watermark ? "fair_share" : NULL;
			return -ENOBUFS;
		}
		return why.too_big ? -E2BIG : -ENOSPC;
	}

	sl = slot_new(s);
	if (!sl || contig_range_take(&h->free, phys, req.len) < 0) {
		if (sl) {
			sl->next_free = s->free_slot;
			s->free_slot = (uint32_t)(sl - s->slots);
		}
		/* Frames just claimed and now unused go back through recycling. */
		for (uint64_t f = phys - phys % pool->page_len; f < phys + req.len;
		     f += pool->page_len) {
			struct contig_frame *fr = contig_pool_frame_at(pool, f);

			if (fr->nbuffers == 0)
				session__frame_leave(s, h, fr);
		}
		if (h->nframes == 0)
			session__holding_drop(s, h);
		return -ENOMEM;
	}
	for (uint64_t f = phys - phys % pool->page_len; f < phys + req.len; f += pool->page_len) {
		struct contig_frame *fr = contig_pool_frame_at(pool, f);

		if (fr == s->kept)
			kept_unlink(s); /* in use again: no longer kept */
		fr->nbuffers++;
		fr->nwarm += p->warm;
	}
	/* An id is unique among the session's live buffers, carves (whose ids
	 * the client chose) included. */
	while (s->ncarves && contig_session_carve(s, (uint64_t)sl->gen << 32 |
						     (uint64_t)(sl - s->slots + 1)))
		sl->gen++;
	sl->buf = (struct contig_live_buffer){
		.id = (uint64_t)sl->gen << 32 | (uint64_t)(sl - s->slots + 1),
		.pool = pool,
		.phys = phys,
		.len = req.len,
		.req_len = p->len,
		.cache_type = p->cache_type,
		.tag = tag,
		.seq = p->seq,
		.warm = p->warm,
	};
	if (p->warm)
		pool->generation++;
	else
		session__count_buffer(s, &sl->buf, true);
	if (s->journaled)
		contig_restart_record_alloc(s, &sl->buf);
	*ret_buffer = &sl->buf;
	return 0;
}

void session__count_buffer(struct contig_session *s, const struct contig_live_buffer *b,
			   bool alloc)
{
	if (alloc) {
		s->nbuffers++;
		s->len += b->len;
		b->pool->nbuffers++;
	} else {
		s->nbuffers--;
		s->len -= b->len;
		b->pool->nbuffers--;
	}
	b->pool->generation++;
	session__tag_count(s, b->tag, b->len, alloc);
	contig_quota_count_buffer(s->pools, s->user_uid, b->len, alloc);
}

/* Release a buffer (a warm frame: its carves first); returns the carves
 * that went with it. */
static uint32_t buffer_release(struct contig_session *s, struct slot *sl, bool may_keep)
{
	struct contig_live_buffer *b = &sl->buf;
	struct contig_pool *pool = b->pool;
	struct holding *h = session__holding_find(s, pool, b->cache_type);
	uint32_t ncarves = b->warm ? session__carves_drop_frame(s, b->id) : 0;

	session__must(contig_range_give(&h->free, b->phys, b->len));
	for (uint64_t f = b->phys - b->phys % pool->page_len; f < b->phys + b->len;
	     f += pool->page_len) {
		struct contig_frame *fr = contig_pool_frame_at(pool, f);

		fr->nwarm -= b->warm;
		if (--fr->nbuffers == 0 && !(may_keep && kept_take(s, fr)))
			session__frame_leave(s, h, fr);
	}
	if (b->warm)
		pool->generation++;
	else
		session__count_buffer(s, b, false);
	if (h->nframes == 0)
		session__holding_drop(s, h);
	b->id = 0;
	free(sl->carved);
	sl->carved = NULL;
	sl->next_free = s->free_slot;
	s->free_slot = (uint32_t)(sl - s->slots);
	return ncarves;
}

int contig_session_free_buffer(struct contig_session *s, uint64_t id, const uint64_t *check_len,
			       const int *check_cache, uint32_t *ret_ncarves)
{
	uint32_t ncarves;

	struct contig_live_buffer *b = contig_session_buffer(s, id);

	if (!b)
		return -ENOENT;
	if ((check_len && *check_len != b->req_len) ||
	    (check_cache && *check_cache != b->cache_type))
		return -EILSEQ;
	if (s->journaled)
		contig_restart_record_free(s, id); /* (a warm frame's: its carves too) */
	ncarves = buffer_release(s, (struct slot *)b, true);
	if (ret_ncarves)
		*ret_ncarves = ncarves;
	return 0;
}

void contig_session_free(struct contig_session *s)
{
	bool keep;

	if (!s)
		return;
	keep = contig_restart_keeps_sessions(s->pools->restart);
	if (!keep && s->journaled) {
		contig_restart_record_close(s);
		s->journaled = false; /* SessionClose stands for every free below */
	}
	if (s->orphan)
		s->pools->norphans--;
	/* (Kept across a restart, the frame stays the session's, without a
	 * buffer: the next instance recycles it.) */
	if (s->kept && keep)
		kept_unlink(s);
	else if (s->kept)
		kept_release(s);
	for (uint32_t i = 0; i < s->nslots && !keep; i++)
		if (s->slots[i].buf.id)
			buffer_release(s, &s->slots[i], false);
	/* (Kept: the frames stay OWNED by no one; the pools are freed next,
	 * with contig_pool_free(keep_owned), at exit.) */
	free(s->resume_seqs);
	free(s->restored_frames);
	free(s->carves);
	free(s->carve_index);
	for (uint32_t i = 0; i < s->nslots; i++)
		free(s->slots[i].carved);
	for (size_t i = 0; i < s->nholdings; i++)
		contig_range_set_done(&s->holdings[i].free);
	free(s->holdings);
	free(s->slots);
	contig_tags_done(&s->tags);
	contig_quota_leave(s->pools, s->user_uid);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->pools->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}
