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
 * Each frame counts the buffers that touch it; when a free drops that to
 * zero, the frame leaves the session at once and goes to the recycler,
 * which zeroes it before anyone else can have it.
 *
 * Buffer ids are (generation << 32 | slot + 1) into a slot table: O(1)
 * lookup, and a stale or forged id finds nothing. Ids only mean something
 * inside their session.
 *
 * Loop thread only.
 */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_PAGE 4096u
#define NO_SLOT UINT32_MAX

struct holding {
	struct contig_pool *pool;
	int cache_type;
	struct contig_range_set free; /* unused space in the frames held */
	uint32_t nframes;
};

struct slot {
	struct contig_buffer buf; /* buf.id == 0: slot unused */
	uint32_t gen;
	uint32_t next_free;
};

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* ---- pool tags ---- */

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

struct contig_tag_stat *contig_tags_get(struct contig_tags *tags, uint32_t tag)
{
	struct contig_tag_stat *grown;

	for (size_t k = tags->nindex ? tag_slot(tag, tags->nindex) : 0;
	     tags->nindex && tags->index[k]; k = (k + 1) & (tags->nindex - 1))
		if (tags->v[tags->index[k] - 1].tag == tag)
			return &tags->v[tags->index[k] - 1];
	if (tags->n >= CONTIG_MAX_TAGS && tag != CONTIG_TAG_OTHER)
		return contig_tags_get(tags, CONTIG_TAG_OTHER);
	if (!tag_index_grow(tags))
		return NULL;
	grown = realloc(tags->v, (tags->n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	tags->v = grown;
	tags->v[tags->n] = (struct contig_tag_stat){ .tag = tag };
	tag_index_put(tags, tags->n);
	return &tags->v[tags->n++];
}

/* Pick the tag a new buffer is counted under, in both tables, so that its
 * free finds the same entries. Returns false if neither table can take it. */
static bool tag_choose(struct contig_session *s, uint32_t tag, uint32_t *ret_tag)
{
	struct contig_tag_stat *mine = contig_tags_get(&s->tags, tag);
	struct contig_tag_stat *all;

	if (mine && mine->tag != tag)
		tag = CONTIG_TAG_OTHER;
	all = contig_tags_get(&s->pools->tags, tag);
	if (all && all->tag != tag) {
		tag = CONTIG_TAG_OTHER;
		mine = contig_tags_get(&s->tags, tag);
	}
	if (!mine || !all)
		return false;
	*ret_tag = tag;
	return true;
}

static void tag_count(struct contig_session *s, uint32_t tag, uint64_t len, bool alloc)
{
	struct contig_tags *tables[] = { &s->tags, &s->pools->tags };

	for (size_t i = 0; i < 2; i++) {
		struct contig_tag_stat *t = contig_tags_get(tables[i], tag); /* exists: tag_choose() */

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

void contig_tags_done(struct contig_tags *tags)
{
	free(tags->v);
	free(tags->index);
	*tags = (struct contig_tags){ 0 };
}

static void user_count(struct contig_session *s, uint64_t len, bool alloc)
{
	struct contig_user *u = contig_user_find(s->pools, s->user_uid);

	if (alloc) {
		u->nbuffers++;
		u->len += len;
	} else {
		u->nbuffers--;
		u->len -= len;
	}
}

/* Percentage of a pool that @priority must leave free. */
static unsigned watermark_pct(const struct contig_pools *env, uint32_t priority)
{
	if (priority >= CONTIG_PRIORITY_HIGH)
		return 0;
	return priority >= CONTIG_PRIORITY_NORMAL ? env->watermark_normal_pct
						  : env->watermark_low_pct;
}

/* Would taking @len bytes of frames leave @pool below the watermark? Frames
 * being recycled count as free: they will be in a moment. */
static bool below_watermark(const struct contig_pool *pool, uint64_t len, unsigned pct)
{
	uint64_t total = (uint64_t)(pool->nframes - pool->nlost) * pool->page_len;
	uint64_t avail = pool->free.free_len + (uint64_t)pool->nrecycling * pool->page_len;

	return pct && (avail < len || (avail - len) * 100 < total * pct);
}

struct contig_user *contig_user_find(struct contig_pools *pools, uid_t uid)
{
	for (size_t i = 0; i < pools->nusers; i++)
		if (pools->users[i].uid == uid)
			return &pools->users[i];
	return NULL;
}

/* The user record of a new session of @uid, created if needed. */
static int user_join(struct contig_pools *pools, uid_t uid)
{
	struct contig_user *u = contig_user_find(pools, uid), *grown;

	if (u && u->nsessions >= pools->limits.max_connections_per_user)
		return -EUSERS;
	if (!u) {
		grown = realloc(pools->users, (pools->nusers + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		pools->users = grown;
		u = &pools->users[pools->nusers++];
		*u = (struct contig_user){ .uid = uid };
	}
	u->nsessions++;
	return 0;
}

static void user_leave(struct contig_pools *pools, uid_t uid)
{
	struct contig_user *u = contig_user_find(pools, uid);

	if (--u->nsessions == 0)
		*u = pools->users[--pools->nusers];
}

int contig_session_new(struct contig_pools *pools, pid_t pid, uid_t uid, gid_t gid,
		       const char *comm, struct contig_session **ret_session)
{
	struct contig_session *s;
	int r = user_join(pools, uid);

	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		user_leave(pools, uid);
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
	*ret_session = s;
	return 0;
}

static struct holding *holding_find(struct contig_session *s, struct contig_pool *pool,
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

static struct holding *holding_get(struct contig_session *s, struct contig_pool *pool,
				   int cache_type)
{
	struct holding *h = holding_find(s, pool, cache_type), *grown;

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
	h->cache_type = cache_type;
	h->nframes = 0;
	contig_range_set_init(&h->free);
	return h;
}

/* The bookkeeping of memory we hand out must never be half done: if a range
 * set cannot grow by one entry (malloc failed for a few bytes), stop here
 * rather than lose track of a frame; systemd restarts the daemon. */
static void must(int r)
{
	if (r < 0)
		abort();
}

static void holding_drop(struct contig_session *s, struct holding *h)
{
	struct contig_pool *pool = h->pool;

	contig_range_set_done(&h->free);
	*h = s->holdings[--s->nholdings];
	if (!holds_pool(s, pool))
		pool->nsessions--;
}

/* Hand a frame whose last buffer went back to the recycler. */
static void frame_leave(struct contig_session *s, struct holding *h, struct contig_frame *f)
{
	/* The frame has no buffers, so all its space is free in the holding. */
	must(contig_range_take(&h->free, f->phys, f->pool->page_len));
	h->nframes--;
	s->nframes--;
	contig_pool_frame_recycling(f);
	contig_recycler_push(s->pools->recycler, f);
}

static struct slot *slot_new(struct contig_session *s)
{
	struct slot *sl;

	if (s->free_slot == NO_SLOT) {
		struct slot *grown;
		uint32_t cap = s->nslots ? s->nslots * 2 : 16;

		if (s->nslots >= NO_SLOT / 2)
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

struct contig_buffer *contig_session_buffer(struct contig_session *s, uint64_t id)
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

const struct contig_buffer *contig_session_next_buffer(const struct contig_session *s,
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

static int check_params(const struct contig_alloc_params *p, struct contig_range_req *ret_req,
			const char **ret_field)
{
	struct contig_range_req req;
	const char *field = NULL;

	if (p->len == 0 || p->len > UINT64_MAX - SMALL_PAGE)
		field = "len";
	else if (p->align && !is_pow2(p->align))
		field = "align";
	else if (p->boundary && !is_pow2(p->boundary))
		field = "boundary";
	else if (p->cache_type < 0 || p->cache_type > CONTIG_CACHE_TYPE_MAX)
		field = "cache_type";
	else if (p->node < -1 || p->node > CONTIG_MAX_NODE)
		field = "node";
	else if (p->priority > CONTIG_PRIORITY_MAX)
		field = "priority";
	if (field) {
		*ret_field = field;
		return -EINVAL;
	}
	req.len = (p->len + SMALL_PAGE - 1) & ~(uint64_t)(SMALL_PAGE - 1);
	req.align = p->align > SMALL_PAGE ? p->align : SMALL_PAGE;
	req.lowest = p->lowest;
	req.highest = p->highest;
	req.boundary = p->boundary;
	if (contig_range_req_check(&req, ret_field) < 0)
		return -EINVAL;
	*ret_req = req;
	return 0;
}

/* Would one more buffer of @len bytes exceed a limit of the session or of
 * its user? Names the limit. */
static int check_quota(struct contig_session *s, uint64_t len, const char **ret_limit)
{
	const struct contig_limits *lim = &s->pools->limits;
	const struct contig_user *u = contig_user_find(s->pools, s->user_uid);
	const char *limit = NULL;

	if (s->nbuffers + 1 > lim->max_buffers_per_connection)
		limit = "max_buffers_per_connection";
	else if (lim->max_bytes_per_connection && len > lim->max_bytes_per_connection - s->len)
		limit = "max_bytes_per_connection";
	else if (u->nbuffers + 1 > lim->max_buffers_per_user)
		limit = "max_buffers_per_user";
	else if (lim->max_bytes_per_user && len > lim->max_bytes_per_user - u->len)
		limit = "max_bytes_per_user";
	if (!limit)
		return 0;
	*ret_limit = limit;
	return -EDQUOT;
}

static bool pool_matches(const struct contig_pool *pool, const struct contig_alloc_params *p)
{
	return p->node < 0 || pool->node == p->node;
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
	struct holding *h = holding_get(s, pool, cache_type);
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
	return 0;

out_drop:
	if (h->nframes == 0)
		holding_drop(s, h);
	return r;
}

int contig_session_alloc(struct contig_session *s, const struct contig_alloc_params *p,
			 const char **ret_field, struct contig_buffer **ret_buffer)
{
	struct contig_pools *env = s->pools;
	struct contig_pool *pool = NULL;
	struct contig_range_req req;
	struct holding *h = NULL;
	bool recycling = false, too_big = false, watermark = false;
	unsigned pct = watermark_pct(env, p->priority);
	uint64_t phys = 0;
	uint32_t tag;
	struct slot *sl;
	int r;

	r = check_params(p, &req, ret_field);
	if (r < 0)
		return r;
	r = check_quota(s, req.len, ret_field);
	if (r < 0)
		return r;
	if (!tag_choose(s, p->tag, &tag))
		return -ENOMEM;

	/* 1. space in frames this session already holds (a placement across
	 * more frames than allowed is passed over: the pools may do better) */
	for (size_t i = 0; i < env->npools && !pool; i++) {
		h = holding_find(s, env->pools[i], p->cache_type);
		if (!h || !pool_matches(h->pool, p) || contig_range_find(&h->free, &req, &phys) < 0)
			continue;
		if (frames_spanned(h->pool, phys, req.len) > env->limits.max_frames_per_buffer)
			too_big = true;
		else
			pool = h->pool;
	}
	/* 2. free frames of a pool */
	for (size_t i = 0; i < env->npools && !pool; i++) {
		struct contig_pool *cand = env->pools[i];

		if (!pool_matches(cand, p))
			continue;
		if (contig_range_find(&cand->free, &req, &phys) == 0) {
			uint64_t n = frames_spanned(cand, phys, req.len);

			if (n > env->limits.max_frames_per_buffer) {
				too_big = true;
				continue;
			}
			if (below_watermark(cand, n * cand->page_len, pct)) {
				watermark = true;
				continue;
			}
			r = claim_frames(s, cand, p->cache_type, phys, req.len);
			if (r < 0)
				return r;
			pool = cand;
			h = holding_find(s, pool, p->cache_type);
		} else if (cand->nrecycling) {
			recycling = true;
		}
	}
	if (!pool)
		return recycling ? -EAGAIN : watermark ? -ENOBUFS : too_big ? -E2BIG : -ENOSPC;

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
				frame_leave(s, h, fr);
		}
		if (h->nframes == 0)
			holding_drop(s, h);
		return -ENOMEM;
	}
	for (uint64_t f = phys - phys % pool->page_len; f < phys + req.len; f += pool->page_len)
		contig_pool_frame_at(pool, f)->nbuffers++;
	sl->buf = (struct contig_buffer){
		.id = (uint64_t)sl->gen << 32 | (uint64_t)(sl - s->slots + 1),
		.pool = pool,
		.phys = phys,
		.len = req.len,
		.req_len = p->len,
		.cache_type = p->cache_type,
		.tag = tag,
	};
	s->nbuffers++;
	s->len += req.len;
	pool->nbuffers++;
	pool->generation++;
	tag_count(s, tag, req.len, true);
	user_count(s, req.len, true);
	*ret_buffer = &sl->buf;
	return 0;
}

static void buffer_release(struct contig_session *s, struct slot *sl)
{
	struct contig_buffer *b = &sl->buf;
	struct contig_pool *pool = b->pool;
	struct holding *h = holding_find(s, pool, b->cache_type);

	must(contig_range_give(&h->free, b->phys, b->len));
	for (uint64_t f = b->phys - b->phys % pool->page_len; f < b->phys + b->len;
	     f += pool->page_len) {
		struct contig_frame *fr = contig_pool_frame_at(pool, f);

		if (--fr->nbuffers == 0)
			frame_leave(s, h, fr);
	}
	s->nbuffers--;
	s->len -= b->len;
	pool->nbuffers--;
	pool->generation++;
	tag_count(s, b->tag, b->len, false);
	user_count(s, b->len, false);
	if (h->nframes == 0)
		holding_drop(s, h);
	b->id = 0;
	sl->next_free = s->free_slot;
	s->free_slot = (uint32_t)(sl - s->slots);
}

int contig_session_free_buffer(struct contig_session *s, uint64_t id, const uint64_t *check_len,
			       const int *check_cache)
{
	struct contig_buffer *b = contig_session_buffer(s, id);

	if (!b)
		return -ENOENT;
	if ((check_len && *check_len != b->req_len) ||
	    (check_cache && *check_cache != b->cache_type))
		return -EILSEQ;
	buffer_release(s, (struct slot *)b);
	return 0;
}

void contig_session_free(struct contig_session *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nslots; i++)
		if (s->slots[i].buf.id)
			buffer_release(s, &s->slots[i]);
	for (size_t i = 0; i < s->nholdings; i++)
		contig_range_set_done(&s->holdings[i].free);
	free(s->holdings);
	free(s->slots);
	contig_tags_done(&s->tags);
	user_leave(s->pools, s->user_uid);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->pools->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}
