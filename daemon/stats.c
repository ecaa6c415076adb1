/* stats.c - the stats reply: pools, tags, sessions, counters, metrics,
 * and a page of the buffer or frame list.
 *
 * DESIGN
 * Owns what a stats reply says and to whom. A stats reply may carry a page
 * of the buffer list or of the frame list (contig.proto, "Lists"): as many
 * entries from the requested index as fit in CONTIG_MAX_REPLY_LEN beside
 * the rest of the reply, counted with protobuf-c's own sizes, so a reply
 * never exceeds the limit whatever the number of buffers or frames. What
 * reveals another session (its processes, buffers, tags, frame owners)
 * goes to sees_all() callers only, and so does the physical address of any
 * frame not the caller's own, free ones included (see frame_view). The
 * monitoring part (refusals by reason, request latency, allocations) is
 * shown to anyone: how busy the daemon is, not who uses it. The hello
 * reply's pool list is built here too (contig_stats_pool_infos()).
 * A buffer is what the session lists (contig_session_next_buffer()):
 * carves of the fast path, not the warm frames they are cut from; a
 * frame's nbuffers counts the same way (frame->nwarm, frame->ncarved).
 *
 * It only reads: never changes a session, a pool or a counter, never
 * sends or logs (rpc.c sends what it builds), and never calls rpc.c or
 * server.c. Loop thread only.
 */
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fdpass.h"

/* Tags in one stats reply: keeps it well inside CONTIG_MAX_REPLY_LEN. */
#define CONTIG_STATS_MAX_TAGS 64
#define CONTIG_STATS_MAX_SESSIONS 256

/* Bytes kept free when a stats reply is filled with list entries: the
 * length prefix of the stats body grows by at most 2 bytes as entries are
 * added (it is at most 3 bytes below 64 KiB). */
#define CONTIG_STATS_LIST_SLACK 8

/* May @s see what other sessions hold? DESIGN.md: the daemon's
 * administrators. */
static bool sees_all(const struct contig_session *s)
{
	return s->uid == 0;
}

/* A PoolInfo with the storage of its histogram. */
struct pool_info_store {
	Contig__PoolInfo info; /* first: the array is freed through it */
	uint32_t hist[CONTIG_SEGMENT_BUCKETS];
};

static void fill_pool_info(const struct contig_pool *pool, struct pool_info_store *store)
{
	Contig__PoolInfo *out = &store->info;
	struct contig_pool_info info;

	contig_pool_get_info(pool, &info);
	contig__pool_info__init(out);
	out->node = (uint32_t)pool->node;
	out->page_len = pool->page_len;
	out->total_len = info.total_len;
	out->free_len = info.free_len;
	out->largest_free_len = info.largest_free_len;
	out->nframes = info.nframes;
	out->nframes_owned = info.nframes_owned;
	out->nframes_recycling = info.nframes_recycling;
	out->nsegments = info.nsegments;
	out->largest_segment_len = info.largest_segment_len;
	out->nbuffers = info.nbuffers;
	out->nclients = pool->nsessions;
	memcpy(store->hist, info.segment_hist, sizeof(store->hist));
	out->n_segment_hist = CONTIG_SEGMENT_BUCKETS;
	out->segment_hist = store->hist;
	out->has_nsegments_broken = true;
	out->nsegments_broken = info.nsegments_broken;
	out->has_below = info.below != 0;
	out->below = info.below;
	out->has_wanted_len = info.wanted_len != 0;
	out->wanted_len = info.wanted_len;
	out->has_nframes_lost = true;
	out->nframes_lost = info.nframes_lost;
}

int contig_stats_pool_infos(const struct contig_pools *env, Contig__PoolInfo **ret_infos,
			    Contig__PoolInfo ***ret_ptrs)
{
	struct pool_info_store *infos = calloc(env->npools, sizeof(*infos));
	Contig__PoolInfo **ptrs = calloc(env->npools, sizeof(*ptrs));

	if (!infos || !ptrs) {
		free(infos);
		free(ptrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < env->npools; i++) {
		fill_pool_info(env->pools[i], &infos[i]);
		ptrs[i] = &infos[i].info;
	}
	*ret_infos = &infos[0].info;
	*ret_ptrs = ptrs;
	return 0;
}

/* Root sees every session's tags; anyone else only their own. */
static int tag_infos(const struct contig_session *s, Contig__TagInfo **ret_infos,
		     Contig__TagInfo ***ret_ptrs, size_t *ret_n)
{
	const struct contig_tags *tags = sees_all(s) ? &s->pools->tags : &s->tags;
	size_t n = tags->n < CONTIG_STATS_MAX_TAGS ? tags->n : CONTIG_STATS_MAX_TAGS;
	Contig__TagInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Contig__TagInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));

	if (!infos || !ptrs) {
		free(infos);
		free(ptrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		contig__tag_info__init(&infos[i]);
		infos[i].tag = tags->v[i].tag;
		infos[i].nbuffers = tags->v[i].nbuffers;
		infos[i].len = tags->v[i].len;
		infos[i].nallocs = tags->v[i].nallocs;
		infos[i].nfrees = tags->v[i].nfrees;
		ptrs[i] = &infos[i];
	}
	*ret_infos = infos;
	*ret_ptrs = ptrs;
	*ret_n = n;
	return 0;
}

/* Root only: every session, as SessionInfo. */
static int session_infos(const struct contig_session *s, Contig__SessionInfo **ret_infos,
			 Contig__SessionInfo ***ret_ptrs, size_t *ret_n)
{
	const struct contig_session *it;
	Contig__SessionInfo *infos, **ptrs;
	size_t n = 0;

	if (sees_all(s))
		for (it = s->pools->sessions; it && n < CONTIG_STATS_MAX_SESSIONS; it = it->next)
			n++;
	infos = calloc(n ? n : 1, sizeof(*infos));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!infos || !ptrs) {
		free(infos);
		free(ptrs);
		return -ENOMEM;
	}
	it = s->pools->sessions;
	for (size_t i = 0; i < n; i++, it = it->next) {
		contig__session_info__init(&infos[i]);
		infos[i].pid = (uint32_t)it->pid;
		infos[i].uid = (uint32_t)it->uid;
		infos[i].comm = (char *)it->comm;
		infos[i].nbuffers = it->nbuffers;
		infos[i].len = it->len;
		infos[i].nframes = it->nframes;
		infos[i].nbugchecks = it->nbugchecks;
		ptrs[i] = &infos[i];
	}
	*ret_infos = infos;
	*ret_ptrs = ptrs;
	*ret_n = n;
	return 0;
}

/* One page of the buffer list and of the frame list, as the reply points
 * to them; freed by lists_done(). */
struct lists {
	Contig__BufferInfo *bufs, **bptrs;
	size_t nbufs;
	Contig__FrameInfo *frames, **fptrs;
	size_t nframes;
};

static void lists_done(struct lists *l)
{
	free(l->bufs);
	free(l->bptrs);
	free(l->frames);
	free(l->fptrs);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Bytes an entry packed to @len bytes adds to a repeated field numbered
 * below 16 (one tag byte, the length, the entry). */
static size_t entry_len(size_t len)
{
	return 1 + varint_len(len) + len;
}

static uint32_t pool_index(const struct contig_pools *env, const struct contig_pool *pool)
{
	uint32_t i = 0;

	while (i < env->npools && env->pools[i] != pool)
		i++;
	return i;
}

/* Buffers @s may see: every session's for sees_all(), else its own. */
static uint32_t buffers_visible(const struct contig_session *s)
{
	uint64_t n = 0;

	if (!sees_all(s))
		return s->nbuffers;
	for (const struct contig_session *it = s->pools->sessions; it; it = it->next)
		n += it->nbuffers;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static uint32_t frames_total(const struct contig_pools *env)
{
	uint64_t n = 0;

	for (size_t i = 0; i < env->npools; i++)
		n += env->pools[i]->nframes;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Changes whenever any buffer or frame does: a sum of counters that only
 * grow. */
static uint64_t generation(const struct contig_pools *env)
{
	uint64_t g = 0;

	for (size_t i = 0; i < env->npools; i++)
		g += env->pools[i]->generation;
	return g;
}

/* The next session whose buffers @s lists after @it (NULL: none). */
static const struct contig_session *next_listed(const struct contig_session *s,
						const struct contig_session *it)
{
	return sees_all(s) ? it->next : NULL;
}

/* A page of the buffer list from index @first of @total, within *@room
 * bytes (less what the page takes, on return). */
static int list_buffers(const struct contig_session *s, uint32_t first, uint32_t total,
			size_t *room, struct lists *l)
{
	const struct contig_session *it = sees_all(s) ? s->pools->sessions : s;
	size_t cap = total > first ? total - first : 0;
	uint32_t skip = first;

	if (cap > CONTIG_MAX_REPLY_LEN / 16)
		cap = CONTIG_MAX_REPLY_LEN / 16; /* an entry packs to at least 16 bytes */
	if (cap == 0)
		return 0;
	l->bufs = calloc(cap, sizeof(*l->bufs));
	l->bptrs = calloc(cap, sizeof(*l->bptrs));
	if (!l->bufs || !l->bptrs)
		return -ENOMEM;
	/* Whole sessions before @first go by their count. */
	for (; it && skip >= it->nbuffers; it = next_listed(s, it))
		skip -= it->nbuffers;
	for (; it && l->nbufs < cap; it = next_listed(s, it)) {
		const struct contig_live_buffer *b;
		uint32_t cursor = 0;

		while (l->nbufs < cap && (b = contig_session_next_buffer(it, &cursor))) {
			Contig__BufferInfo *e = &l->bufs[l->nbufs];
			size_t len;

			if (skip) {
				skip--;
				continue;
			}
			contig__buffer_info__init(e);
			e->id = b->id;
			e->pid = (uint32_t)it->pid;
			e->uid = (uint32_t)it->uid;
			e->pool = pool_index(s->pools, b->pool);
			e->phys = b->phys;
			e->len = b->len;
			e->cache_type = b->cache_type;
			e->tag = b->tag;
			len = entry_len(contig__buffer_info__get_packed_size(e));
			if (len > *room)
				return 0;
			*room -= len;
			l->bptrs[l->nbufs++] = e;
		}
	}
	return 0;
}

/* FrameInfo.state of @state. */
static uint32_t frame_state(enum contig_frame_state state)
{
	switch (state) {
	case CONTIG_FRAME_FREE:
		return 0;
	case CONTIG_FRAME_OWNED:
		return 1;
	case CONTIG_FRAME_RECYCLING:
		return 2;
	default:
		return 3;
	}
}

/* Is @f a frame @s may see the address and owner of? */
static bool frame_shown(const struct contig_session *s, const struct contig_frame *f)
{
	return sees_all(s) || (f->state == CONTIG_FRAME_OWNED && f->owner == s);
}

/* The list entry of frame @f of pool @pi, as @s may see it. */
static void frame_entry(const struct contig_session *s, uint32_t pi, const struct contig_frame *f,
			Contig__FrameInfo *e)
{
	contig__frame_info__init(e);
	e->pool = pi;
	e->state = frame_state(f->state);
	if (!frame_shown(s, f))
		return; /* phys 0: hidden */
	e->phys = f->phys;
	if (f->state == CONTIG_FRAME_OWNED) {
		e->has_owner_pid = 1;
		e->owner_pid = (uint32_t)f->owner->pid;
		e->has_cache_type = 1;
		e->cache_type = f->cache_type;
		e->has_nbuffers = 1;
		/* Listed buffers: a warm frame is not one, its carves are. */
		e->nbuffers = f->nbuffers - f->nwarm + f->ncarved;
	}
}

/* How the frames of one pool are listed to a caller who is not sees_all()
 * (contig.proto, "Order"): its own frames first, in the pool's order, then
 * every other frame by state alone (free, owned, recycling, lost), with no
 * address. A physical address that is not the caller's never reaches it
 * (the kernel shows page frame numbers only to CAP_SYS_ADMIN, because of
 * Rowhammer): not a free frame's either, since which free frames vanish when
 * another client allocates is exactly where that client's memory is. And
 * an index says nothing but how many frames are in each state: the pool's
 * own order would tie an index to the address the caller saw there when
 * the frame was its own. */
struct frame_view {
	uint32_t nmine;
	uint32_t nstate[4]; /* the others, by FrameInfo.state */
	uint32_t cursor;    /* pool->frames index where the next own frame is looked for */
	bool positioned;    /* cursor is past the own frames before the page */
};

static void view_init(const struct contig_session *s, const struct contig_pool *pool,
		      struct frame_view *v)
{
	memset(v, 0, sizeof(*v));
	for (uint32_t i = 0; i < pool->nframes; i++) {
		const struct contig_frame *f = &pool->frames[i];

		if (frame_shown(s, f))
			v->nmine++;
		else
			v->nstate[frame_state(f->state)]++;
	}
}

/* Entry @i of @pool's frames in @v's order; the calls of one page come
 * with @i rising by one from any start. */
static void view_entry(const struct contig_session *s, uint32_t pi,
		       const struct contig_pool *pool, struct frame_view *v, uint32_t i,
		       Contig__FrameInfo *e)
{
	uint32_t state = 0, k;

	if (i < v->nmine) {
		if (!v->positioned) { /* past the @i own frames before this page */
			for (uint32_t skip = i; skip; v->cursor++)
				skip -= frame_shown(s, &pool->frames[v->cursor]);
			v->positioned = true;
		}
		while (!frame_shown(s, &pool->frames[v->cursor]))
			v->cursor++;
		frame_entry(s, pi, &pool->frames[v->cursor++], e);
		return;
	}
	for (k = i - v->nmine; k >= v->nstate[state]; state++)
		k -= v->nstate[state];
	contig__frame_info__init(e);
	e->pool = pi;
	e->state = state;
}

/* A page of the frame list from index @first of @total, within *@room
 * bytes: for sees_all(), every frame in the pool's order with its address
 * and owner; for anyone else, the frame_view order. */
static int list_frames(const struct contig_session *s, uint32_t first, uint32_t total,
		       size_t *room, struct lists *l)
{
	const struct contig_pools *env = s->pools;
	size_t cap = total > first ? total - first : 0;
	uint32_t skip = first;

	if (cap > CONTIG_MAX_REPLY_LEN / 8)
		cap = CONTIG_MAX_REPLY_LEN / 8; /* an entry packs to at least 8 bytes */
	if (cap == 0)
		return 0;
	l->frames = calloc(cap, sizeof(*l->frames));
	l->fptrs = calloc(cap, sizeof(*l->fptrs));
	if (!l->frames || !l->fptrs)
		return -ENOMEM;
	for (size_t pi = 0; pi < env->npools && l->nframes < cap; pi++) {
		const struct contig_pool *pool = env->pools[pi];
		struct frame_view v;

		if (skip >= pool->nframes) {
			skip -= pool->nframes;
			continue;
		}
		if (!sees_all(s))
			view_init(s, pool, &v);
		for (uint32_t i = skip; i < pool->nframes && l->nframes < cap; i++) {
			Contig__FrameInfo *e = &l->frames[l->nframes];
			size_t len;

			if (sees_all(s))
				frame_entry(s, (uint32_t)pi, &pool->frames[i], e);
			else
				view_entry(s, (uint32_t)pi, pool, &v, i, e);
			len = entry_len(contig__frame_info__get_packed_size(e));
			if (len > *room)
				return 0;
			*room -= len;
			l->fptrs[l->nframes++] = e;
		}
		skip = 0;
	}
	return 0;
}

/* The list pages @req asks for, as many entries as fit beside the rest of
 * @reply, whose stats body @st is otherwise complete. Returns 0 or -ENOMEM. */
static int fill_lists(const struct contig_session *s, const Contig__StatsRequest *req,
		      const Contig__Reply *reply, Contig__StatsReply *st, struct lists *l)
{
	bool want_buffers = req->has_want_buffers && req->want_buffers;
	bool want_frames = req->has_want_frames && req->want_frames;
	size_t base, room;
	int r;

	if (!want_buffers && !want_frames)
		return 0;
	if (want_buffers) {
		st->has_nbuffers_listed = 1;
		st->nbuffers_listed = buffers_visible(s);
	}
	if (want_frames) {
		st->has_nframes_listed = 1;
		st->nframes_listed = frames_total(s->pools);
	}
	st->has_generation = 1;
	st->generation = generation(s->pools);
	base = contig__reply__get_packed_size(reply);
	room = base + CONTIG_STATS_LIST_SLACK < CONTIG_MAX_REPLY_LEN
		       ? CONTIG_MAX_REPLY_LEN - base - CONTIG_STATS_LIST_SLACK
		       : 0;
	if (want_buffers) {
		r = list_buffers(s, req->has_first_buffer ? req->first_buffer : 0,
				 st->nbuffers_listed, &room, l);
		if (r < 0)
			return r;
		st->n_buffers = l->nbufs;
		st->buffers = l->bptrs;
	}
	if (want_frames) {
		r = list_frames(s, req->has_first_frame ? req->first_frame : 0, st->nframes_listed,
				&room, l);
		if (r < 0)
			return r;
		st->n_frames = l->nframes;
		st->frames = l->fptrs;
	}
	return 0;
}

/* The monitoring part of a stats reply (contig.proto: start_time and on),
 * pointing into @rc and @lat, which the caller keeps until it is sent. */
struct metrics_store {
	Contig__RefusalCount rc[CONTIG_REFUSED_N], *rcp[CONTIG_REFUSED_N];
	Contig__RequestLatency lat[CONTIG_METRICS_NKINDS], *latp[CONTIG_METRICS_NKINDS];
	uint64_t le[CONTIG_METRICS_BUCKETS];
};

static void fill_metrics(const struct contig_pools *env, const struct contig_metrics *metrics,
			 Contig__StatsReply *st, struct metrics_store *ms)
{
	for (size_t i = 0; i < env->nusers; i++) {
		st->live_len += env->users[i].len;
		st->live_nbuffers += (uint32_t)env->users[i].nbuffers;
	}
	st->has_live_len = st->has_live_nbuffers = 1;
	st->has_norphans = 1;
	st->norphans = env->norphans;
	if (!metrics)
		return;
	st->has_start_time = st->has_nallocs = st->has_nfrees = st->has_nreleased = 1;
	st->has_nsessions_restored = st->has_nsessions_resumed = 1;
	st->start_time = metrics->start_time;
	st->nallocs = metrics->nallocs;
	st->nfrees = metrics->nfrees;
	st->nreleased = metrics->nreleased;
	st->nsessions_restored = env->nsessions_restored;
	st->nsessions_resumed = metrics->nsessions_resumed;
	for (unsigned i = 0; i < CONTIG_REFUSED_N; i++) {
		contig__refusal_count__init(&ms->rc[i]);
		ms->rc[i].reason = (char *)contig_refusal_name((enum contig_refusal)i);
		ms->rc[i].status = contig_refusal_status((enum contig_refusal)i);
		ms->rc[i].count = metrics->nrefused[i];
		ms->rcp[i] = &ms->rc[i];
	}
	st->n_refusals = CONTIG_REFUSED_N;
	st->refusals = ms->rcp;
	for (unsigned i = 0; i < CONTIG_METRICS_BUCKETS; i++)
		ms->le[i] = contig_metrics_bucket_ns(i);
	for (unsigned k = 0; k < CONTIG_METRICS_NKINDS; k++) {
		const struct contig_metrics_latency *l = &metrics->latency[k];

		contig__request_latency__init(&ms->lat[k]);
		ms->lat[k].request = (char *)contig_metrics_kind_name((enum contig_metrics_kind)k);
		ms->lat[k].count = l->count;
		ms->lat[k].sum_ns = l->sum_ns;
		ms->lat[k].n_bucket_le_ns = CONTIG_METRICS_BUCKETS;
		ms->lat[k].bucket_le_ns = ms->le;
		ms->lat[k].n_bucket_count = CONTIG_METRICS_BUCKETS + 1;
		ms->lat[k].bucket_count = (uint64_t *)l->buckets; /* (only read) */
		ms->latp[k] = &ms->lat[k];
	}
	st->n_latency = CONTIG_METRICS_NKINDS;
	st->latency = ms->latp;
}

/* What a stats reply points to, until contig_stats_free(). */
struct contig_stats {
	Contig__StatsReply st;
	Contig__PoolInfo *infos, **ptrs;
	Contig__TagInfo *tinfos, **tptrs;
	Contig__SessionInfo *sinfos, **sptrs;
	struct lists lists;
	struct metrics_store ms;
};

void contig_stats_free(struct contig_stats *stats)
{
	if (!stats)
		return;
	lists_done(&stats->lists);
	free(stats->sptrs);
	free(stats->sinfos);
	free(stats->tptrs);
	free(stats->tinfos);
	free(stats->ptrs);
	free(stats->infos);
	free(stats);
}

int contig_stats_build(const struct contig_session *s, const Contig__StatsRequest *req,
		       const struct contig_stats_counters *counters,
		       const struct contig_metrics *metrics, Contig__Reply *reply,
		       struct contig_stats **ret_stats)
{
	struct contig_stats *stats = calloc(1, sizeof(*stats));
	Contig__StatsReply *st;
	size_t ntags, nsessions;

	if (!stats)
		return -ENOMEM;
	st = &stats->st;
	contig__stats_reply__init(st);
	if (contig_stats_pool_infos(s->pools, &stats->infos, &stats->ptrs) < 0 ||
	    tag_infos(s, &stats->tinfos, &stats->tptrs, &ntags) < 0 ||
	    session_infos(s, &stats->sinfos, &stats->sptrs, &nsessions) < 0) {
		contig_stats_free(stats);
		return -ENOMEM;
	}
	st->n_sessions = nsessions;
	st->sessions = stats->sptrs;
	st->n_tags = ntags;
	st->tags = stats->tptrs;
	st->has_nbugchecks = 1;
	st->nbugchecks = s->pools->nbugchecks;
	st->n_pools = s->pools->npools;
	st->pools = stats->ptrs;
	st->nsessions = counters->nsessions;
	st->my_nbuffers = s->nbuffers;
	st->my_len = s->len;
	st->my_nframes = s->nframes;
	st->nrecycled = counters->nrecycled;
	st->nrecycle_moved = counters->nrecycle_moved;
	st->nframes_lost = counters->nframes_lost;
	st->has_nrecycle_truncated = 1;
	st->nrecycle_truncated = counters->nrecycle_truncated;
	st->has_nframes_recovered = 1;
	st->nframes_recovered = counters->nframes_recovered;
	st->has_nrequests_waited = 1;
	st->nrequests_waited = counters->nrequests_waited;
	fill_metrics(s->pools, metrics, st, &stats->ms);
	reply->status = CONTIG__STATUS__OK;
	reply->body_case = CONTIG__REPLY__BODY_STATS;
	reply->stats = st;
	if (fill_lists(s, req, reply, st, &stats->lists) < 0) {
		contig_stats_free(stats);
		return -ENOMEM;
	}
	*ret_stats = stats;
	return 0;
}
