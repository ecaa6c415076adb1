/* fuzz_request.c - libFuzzer target over the daemon's request path:
 * contig_rpc_handle() (decode, validate) -> session.c (quotas, tags,
 * allocate, free) -> pool.c / range.c, on fake frames (fake.c).
 *
 * DESIGN
 * An input is a header and a stream of datagrams:
 *   byte 0   bit 0: two clients (else one); bit 1: client 0 is root;
 *            bit 2: client 1 has client 0's uid (shared per-user quotas);
 *            bits 3-4: limits (default, a 50% share per user; few
 *            buffers, no share; few frame bytes, a 30% share and 3 frames
 *            per buffer; 1 frame per buffer, 1 connection per user and no
 *            share); bit 5: add a 300-frame pool (FrameFds replies);
 *            bits 6-7: watermarks (25/5, 0/0, 50/10, 100/100)
 *   byte 1   bits 0-1: recycled frames move to another page (0, 10, 50,
 *            100%); bits 2-3: recycling loses frames (0, 2, 15, 50%);
 *            bit 4: owners truncated 20% of them; bit 5: the tag tables
 *            start nearly full; bits 6-7: seed
 *   then     2-byte little-endian v: client (v >> 15) % nclients;
 *            n = v & 0x7fff; n <= 4096: the next n bytes are one request
 *            datagram of that client; otherwise a control operation
 *            (n - 4097) % 5: hand back every frame being recycled, hand
 *            back one, the client stops reading its replies (sends fail),
 *            the client disconnects, or a datagram the server refuses
 *            (protocol error, then closed). A client that is not
 *            connected connects (a new session) at its next datagram.
 * CONTIG_RPC_WAIT is answered by handing back every frame and retrying
 * once, as the server would once the recycler reports; CONTIG_RPC_CLOSE,
 * or a failed send, closes the session.
 *
 * After every request the whole state is checked (check_world()): pool
 * counters and free sets against the frames, no two live buffers overlap,
 * every buffer lies in frames its session owns for its cache type, frame
 * buffer counts, every carve inside its warm frame over no other (carves
 * are counted and listed, warm frames not), session/user/tag accounting
 * and quotas (bytes are the
 * frames pinned, per session, per user and per user and pool); and the
 * reply against the request (check_reply()): seq, status, body, every
 * constraint of an allocation, its descriptors (exactly the frames under
 * it, in order), the byte limits, the share and the watermarks (the fair
 * share included) at the frames it claimed, a byte-limit refusal that
 * names a limit a new frame would exceed, free and stats semantics, and
 * that the other client's state did not move. At the end every session is freed, the recycler
 * drained, and every pool must be whole again. A violation aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "contig.pb-c.h"
#include "fake.h"
#include "fdpass.h"
#include "rpc.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)
#define SMALL_PAGE 4096u
#define NCLIENTS 2
#define PREFILL_TAGS (CONTIG_MAX_TAGS - 3)
#define NSTALE 32

/* One client, and the harness's model of its session: the ids of its live
 * buffers (from allocate replies) and of some it freed. */
struct client {
	struct contig_conn conn;
	struct contig_session *s; /* NULL: not connected */
	bool hello_done;
	uid_t uid;
	pid_t pid;
	uint64_t *ids; /* live buffers */
	size_t nids, cap;
	uint64_t stale[NSTALE]; /* freed: must never be found again */
	size_t nstale;
};

struct world {
	struct contig_pools env;
	struct contig_frame_dir *dirs[FAKE_MAX_DIRS];
	size_t ndirs;
	struct client clients[NCLIENTS];
	unsigned nclients;
	struct contig_rpc_counters counters;
	bool prefill_tags;
};

/* ---- the fake machine ---- */

/* Node 0, 2 MiB: low memory, with a segment ending just below 4 GiB and
 * one starting at it, the page between them a spare. */
static const struct fake_page_run runs_low[] = {
	{ 0x0, 4, false },          { 0x800000, 1, true },   { 0xa00000, 8, false },
	{ 0x1a00000, 2, true },     { 0x1e00000, 1, false }, { 0x2000000, 1, true },
	{ 0x2200000, 2, false },    { 0xff800000, 3, false }, { 0xffe00000, 1, true },
	{ 0x100000000, 3, false },  { 0x100600000, 1, true }, { 0x100800000, 3, false },
};
/* Node 1, 2 MiB, at 32 GiB. */
static const struct fake_page_run runs_node1[] = {
	{ 0x800000000, 6, false },
	{ 0x800c00000, 2, true },
	{ 0x801000000, 14, false },
	{ 0x802c00000, 1, true },
	{ 0x802e00000, 8, false },
};
/* Node 3, 2 MiB, at 64 GiB: no two frames adjacent. */
static const struct fake_page_run runs_node3[] = {
	{ 0x1000000000, 1, false }, { 0x1000200000, 1, true },  { 0x1000400000, 1, false },
	{ 0x1000600000, 1, true },  { 0x1000800000, 1, false }, { 0x1000a00000, 1, true },
	{ 0x1000c00000, 1, false }, { 0x1000e00000, 1, true },  { 0x1001000000, 1, false },
	{ 0x1001200000, 1, true },  { 0x1001400000, 1, false }, { 0x1001600000, 1, true },
	{ 0x1001800000, 1, false }, { 0x1001a00000, 1, true },  { 0x1001c00000, 1, false },
};
/* Node 0, 1 GiB, at 128 GiB. */
static const struct fake_page_run runs_1g[] = {
	{ 0x2000000000, 2, false },
	{ 0x2080000000, 1, true },
	{ 0x20c0000000, 2, false },
};
/* Node 2, 2 MiB, at 96 GiB: more frames than one datagram's descriptors. */
static const struct fake_page_run runs_big[] = {
	{ 0x1800000000, 260, false },
	{ 0x1820800000, 1, true },
	{ 0x1820a00000, 40, false },
};

static void add_pool(struct world *w, int node, uint64_t page_len,
		     const struct fake_page_run *runs, size_t nruns)
{
	struct contig_frame_dir *dir = fake_dir_new((int)w->ndirs, page_len, runs, nruns);
	struct contig_pool *pool;
	uint32_t nframes = 0;

	for (size_t i = 0; i < nruns; i++)
		if (!runs[i].spare)
			nframes += runs[i].npages;
	fuzz_check(contig_pool_new(dir, node, NULL, 0, nframes, 1, NULL, NULL, &pool) == 0);
	w->dirs[w->ndirs++] = dir;
	w->env.pools[w->env.npools++] = pool;
}

static void setup(struct world *w, uint8_t h0, uint8_t h1)
{
	static const unsigned move[] = { 0, 10, 50, 100 }, lose[] = { 0, 2, 15, 50 };
	static const unsigned wm[][2] = { { 25, 5 }, { 0, 0 }, { 50, 10 }, { 100, 100 } };
	struct fake_chaos chaos = {
		.move_pct = move[h1 & 3],
		.lose_pct = lose[(h1 >> 2) & 3],
		.truncated_pct = (h1 & 0x10) ? 20 : 0,
	};
	struct contig_limits *lim = &w->env.limits;

	memset(w, 0, sizeof(*w));
	fake_reset(0x5eed0000u | (uint64_t)h0 << 8 | h1, &chaos);
	contig_rpc_set_ops(&fake_conn_ops);
	w->env.pools = calloc(5, sizeof(*w->env.pools));
	fuzz_check(w->env.pools);
	/* Sorted as main.c sorts them: page size, then node. */
	add_pool(w, 0, 2 * MIB, runs_low, sizeof(runs_low) / sizeof(runs_low[0]));
	add_pool(w, 1, 2 * MIB, runs_node1, sizeof(runs_node1) / sizeof(runs_node1[0]));
	if (h0 & 0x20)
		add_pool(w, 2, 2 * MIB, runs_big, sizeof(runs_big) / sizeof(runs_big[0]));
	add_pool(w, 3, 2 * MIB, runs_node3, sizeof(runs_node3) / sizeof(runs_node3[0]));
	add_pool(w, 0, 1 * GIB, runs_1g, sizeof(runs_1g) / sizeof(runs_1g[0]));
	w->env.recycler = fake_recycler_new();
	*lim = CONTIG_DEFAULT_LIMITS;
	switch ((h0 >> 3) & 3) {
	case 1:
		lim->max_connections_per_user = 2;
		lim->max_buffers_per_connection = 5;
		lim->max_buffers_per_user = 7;
		lim->max_share_per_user = 100;
		break;
	case 2:
		/* Frame bytes, with a remainder no frame fits in. */
		lim->max_bytes_per_connection = 9 * MIB;
		lim->max_bytes_per_user = 12 * MIB + 0x34000;
		lim->max_share_per_user = 30;
		lim->max_frames_per_buffer = 3;
		break;
	case 3:
		lim->max_connections_per_user = 1;
		lim->max_frames_per_buffer = 1;
		lim->max_share_per_user = 100;
		break;
	}
	w->env.watermark_low_pct = wm[h0 >> 6][0];
	w->env.watermark_normal_pct = wm[h0 >> 6][1];

	w->nclients = (h0 & 1) ? 2 : 1;
	w->clients[0].uid = (h0 & 2) ? 0 : 1000;
	w->clients[1].uid = (h0 & 4) ? w->clients[0].uid : 1001;
	for (unsigned i = 0; i < NCLIENTS; i++) {
		w->clients[i].pid = 4000 + (pid_t)i;
		w->clients[i].conn.env = &w->env;
	}
	w->prefill_tags = h1 & 0x20;
	if (w->prefill_tags) {
		/* As if many tags had come and gone: the next ones prune them. */
		for (uint32_t i = 0; i < PREFILL_TAGS; i++)
			fuzz_check(contig_tags_get(&w->env.tags, 0x7a000000u + i));
		fuzz_check(w->env.tags.n == PREFILL_TAGS);
	}
}

/* ---- clients and the model of their buffers ---- */

static uint32_t nconnected(const struct world *w)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < w->nclients; i++)
		n += w->clients[i].s != NULL;
	return n;
}

static bool model_has(const struct client *c, uint64_t id)
{
	for (size_t i = 0; i < c->nids; i++)
		if (c->ids[i] == id)
			return true;
	return false;
}

static void model_add(struct client *c, uint64_t id)
{
	fuzz_check(id != 0 && !model_has(c, id)); /* ids of live buffers are unique */
	for (size_t i = 0; i < c->nstale && i < NSTALE; i++)
		fuzz_check(c->stale[i] != id); /* and never reissued */
	if (c->nids == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		uint64_t *grown = realloc(c->ids, cap * sizeof(*grown));

		fuzz_check(grown);
		c->ids = grown;
		c->cap = cap;
	}
	c->ids[c->nids++] = id;
}

static void model_remove(struct client *c, uint64_t id)
{
	for (size_t i = 0; i < c->nids; i++)
		if (c->ids[i] == id) {
			c->ids[i] = c->ids[--c->nids];
			c->stale[c->nstale++ % NSTALE] = id;
			return;
		}
	fuzz_fail(__FILE__, __LINE__, "freed a buffer the model does not have");
}

static bool client_connect(struct world *w, struct client *c)
{
	struct contig_session *s;
	int r = contig_session_new(&w->env, c->pid, c->uid, c->uid, "fuzz", &s);

	if (r < 0) {
		fuzz_check(r == -EUSERS); /* max_connections_per_user */
		return false;
	}
	c->s = s;
	c->hello_done = false;
	c->conn.fail_sends = false;
	c->conn.closing = false;
	c->nids = 0;
	c->nstale = 0;
	if (w->prefill_tags) {
		for (uint32_t i = 0; i < PREFILL_TAGS - 1; i++)
			fuzz_check(contig_tags_get(&s->tags, 0x7b000000u + i));
		fuzz_check(s->tags.n == PREFILL_TAGS - 1);
	}
	return true;
}

/* The connection closes (server.c's conn_close()): the session goes. */
static void client_disconnect(struct client *c)
{
	contig_session_free(c->s);
	c->s = NULL;
	c->hello_done = false;
	c->nids = 0;
	c->nstale = 0;
}

/* ---- the whole state ---- */

struct live_buffer {
	const struct contig_live_buffer *b;
	const struct contig_session *s;
	bool listed; /* counted and listed as a buffer: not a warm frame */
};

static int cmp_live(const void *a, const void *b)
{
	const struct live_buffer *la = a, *lb = b;

	return la->b->phys < lb->b->phys ? -1 : la->b->phys > lb->b->phys;
}

static size_t pool_index(const struct world *w, const struct contig_pool *pool)
{
	for (size_t i = 0; i < w->env.npools; i++)
		if (w->env.pools[i] == pool)
			return i;
	fuzz_fail(__FILE__, __LINE__, "a buffer in a pool that does not exist");
}

static bool is_connected(const struct world *w, const struct contig_session *s)
{
	for (unsigned i = 0; i < w->nclients; i++)
		if (w->clients[i].s == s)
			return true;
	return false;
}

/* An open-addressing index of a tag table, rebuilt for each check (a
 * generation stamp empties it). */
#define TAG_INDEX_SIZE 4096 /* > 2 * (CONTIG_MAX_TAGS + 1), a power of two */

static uint32_t index_tag[TAG_INDEX_SIZE], index_entry[TAG_INDEX_SIZE], index_gen[TAG_INDEX_SIZE];
static uint32_t tag_gen;

static uint32_t tag_hash(uint32_t tag)
{
	return (tag * 0x9e3779b1u) >> 20; /* 12 bits */
}

/* The entry of @tag in the index, or -1. */
static long tag_lookup(uint32_t tag)
{
	for (uint32_t h = tag_hash(tag); index_gen[h] == tag_gen; h = (h + 1) % TAG_INDEX_SIZE)
		if (index_tag[h] == tag)
			return index_entry[h];
	return -1;
}

/* @tags counts exactly the live buffers (of @only, if not NULL) under
 * their tags, one entry per tag. */
static void check_tags(const struct contig_tags *tags, const struct live_buffer *live,
		       size_t nlive, const struct contig_session *only)
{
	static uint32_t nbuffers[CONTIG_MAX_TAGS + 1];
	static uint64_t len[CONTIG_MAX_TAGS + 1];

	fuzz_check(tags->n <= CONTIG_MAX_TAGS + 1);
	tag_gen++;
	for (size_t i = 0; i < tags->n; i++) {
		uint32_t h = tag_hash(tags->v[i].tag);

		fuzz_check(tag_lookup(tags->v[i].tag) < 0); /* one entry per tag */
		while (index_gen[h] == tag_gen)
			h = (h + 1) % TAG_INDEX_SIZE;
		index_gen[h] = tag_gen;
		index_tag[h] = tags->v[i].tag;
		index_entry[h] = (uint32_t)i;
		nbuffers[i] = 0;
		len[i] = 0;
	}
	for (size_t k = 0; k < nlive; k++) {
		long i;

		if ((only && live[k].s != only) || !live[k].listed)
			continue;
		i = tag_lookup(live[k].b->tag);
		fuzz_check(i >= 0);
		nbuffers[i]++;
		len[i] += live[k].b->len;
	}
	for (size_t i = 0; i < tags->n; i++) {
		const struct contig_tag_stat *t = &tags->v[i];

		fuzz_check(t->nbuffers == nbuffers[i] && t->len == len[i]);
		fuzz_check(t->nallocs - t->nfrees == t->nbuffers);
	}
}

/* Buffers of one session, from the model: each must be found by its id. */
static void collect_buffers(const struct world *w, const struct client *c,
			    struct live_buffer **live, size_t *nlive, size_t *cap,
			    struct live_buffer **carved, size_t *ncarved, size_t *carved_cap,
			    uint32_t **frame_counts)
{
	struct contig_session *s = c->s;
	const struct contig_limits *lim = &w->env.limits;
	uint64_t len = 0;
	uint32_t nlisted = 0, nplain = 0;

	for (size_t i = 0; i < c->nstale && i < NSTALE; i++)
		fuzz_check(contig_session_buffer(s, c->stale[i]) == NULL);
	fuzz_check(c->hello_done || c->nids == 0);
	for (size_t i = 0; i < c->nids; i++) {
		const struct contig_live_buffer *b = contig_session_buffer(s, c->ids[i]);
		const struct contig_pool *pool;
		size_t pi;
		uint64_t last;

		fuzz_check(b && b->id == c->ids[i]);
		pool = b->pool;
		pi = pool_index(w, pool);
		fuzz_check(b->len > 0 && b->len % SMALL_PAGE == 0 && b->phys % SMALL_PAGE == 0);
		fuzz_check(b->req_len <= b->len && b->len - b->req_len < SMALL_PAGE);
		fuzz_check(b->cache_type >= 0 && b->cache_type <= CONTIG_CACHE_TYPE_MAX);
		fuzz_check(b->phys <= UINT64_MAX - (b->len - 1));
		last = b->phys + (b->len - 1);
		/* Its frames are adjacent, its session's, of its cache type. */
		for (uint64_t f = b->phys - b->phys % pool->page_len; f <= last; f += pool->page_len) {
			const struct contig_frame *fr = fake_frame_at(pool, f);

			fuzz_check(fr && fr->phys == f);
			fuzz_check(fr->state == CONTIG_FRAME_OWNED && fr->owner == s &&
				   fr->cache_type == b->cache_type);
			frame_counts[pi][fr - pool->frames]++;
			if (f > UINT64_MAX - pool->page_len)
				break;
		}
		if (!b->warm) {
			len += b->len;
			nlisted++;
			nplain++;
		}
		if (*nlive == *cap) {
			size_t ncap = *cap ? *cap * 2 : 32;
			struct live_buffer *grown = realloc(*live, ncap * sizeof(*grown));

			fuzz_check(grown);
			*live = grown;
			*cap = ncap;
		}
		(*live)[(*nlive)++] = (struct live_buffer){ .b = b, .s = s, .listed = !b->warm };
	}
	/* Carves: each inside its warm frame, over no other carve of it;
	 * listed and counted as buffers, but no frame's holder (the warm
	 * frame is), so they are kept apart from the overlap check. */
	for (uint32_t i = 0; i < s->ncarves; i++) {
		const struct contig_carve *cv = &s->carves[i];
		const struct contig_live_buffer *fb = contig_session_buffer(s, cv->frame_id);

		fuzz_check(fb && fb->warm && contig_session_carve(s, cv->buf.id) == cv);
		fuzz_check(!contig_session_buffer(s, cv->buf.id));
		fuzz_check(cv->buf.len > 0 && cv->buf.len % SMALL_PAGE == 0 &&
			   cv->offset % SMALL_PAGE == 0 && cv->offset < fb->len &&
			   cv->buf.len <= fb->len - cv->offset);
		fuzz_check(cv->buf.phys == fb->phys + cv->offset && cv->buf.pool == fb->pool &&
			   cv->buf.cache_type == fb->cache_type);
		for (uint32_t k = 0; k < i; k++)
			fuzz_check(s->carves[k].frame_id != cv->frame_id ||
				   s->carves[k].offset + s->carves[k].buf.len <= cv->offset ||
				   cv->offset + cv->buf.len <= s->carves[k].offset);
		len += cv->buf.len;
		nlisted++;
		if (*ncarved == *carved_cap) {
			size_t ncap = *carved_cap ? *carved_cap * 2 : 32;
			struct live_buffer *grown = realloc(*carved, ncap * sizeof(*grown));

			fuzz_check(grown);
			*carved = grown;
			*carved_cap = ncap;
		}
		(*carved)[(*ncarved)++] = (struct live_buffer){ .b = &cv->buf, .s = s, .listed = true };
	}
	fuzz_check(s->nbuffers == nlisted);
	fuzz_check(s->len == len);
	/* Carves may go past the limit (the client has them: CarveReply says
	 * 0 left); buffers from a round trip never do. */
	fuzz_check(nplain <= lim->max_buffers_per_connection);
	fuzz_check(s->len <= s->frames_len); /* buffers lie in frames it owns */
	fuzz_check(!lim->max_bytes_per_connection ||
		   s->frames_len <= lim->max_bytes_per_connection);
}

static void check_world(struct world *w)
{
	struct contig_pools *env = &w->env;
	const struct contig_limits *lim = &env->limits;
	struct live_buffer *live = NULL, *carved = NULL;
	size_t nlive = 0, cap = 0, nrecycling = 0, ncarved = 0, carved_cap = 0;
	uint32_t *frame_counts[FAKE_MAX_DIRS] = { 0 };
	uint32_t nsessions = 0, nlost = 0;

	/* The session list is exactly the connected clients' sessions. */
	for (const struct contig_session *s = env->sessions; s; s = s->next) {
		fuzz_check(s->pools == env && (!s->next || s->next->prev == s));
		fuzz_check(is_connected(w, s));
		nsessions++;
	}
	fuzz_check(!env->sessions || !env->sessions->prev);
	fuzz_check(nsessions == nconnected(w));

	for (size_t pi = 0; pi < env->npools; pi++) {
		frame_counts[pi] = calloc(env->pools[pi]->nframes, sizeof(uint32_t));
		fuzz_check(frame_counts[pi]);
	}
	for (unsigned ci = 0; ci < w->nclients; ci++)
		if (w->clients[ci].s)
			collect_buffers(w, &w->clients[ci], &live, &nlive, &cap, &carved, &ncarved,
					&carved_cap, frame_counts);

	/* No two live buffers overlap, whoever owns them. */
	if (nlive)
		qsort(live, nlive, sizeof(*live), cmp_live);
	for (size_t i = 0; i + 1 < nlive; i++)
		fuzz_check(live[i].b->phys + live[i].b->len <= live[i + 1].b->phys);
	/* From here on, live is what is listed and counted: carves too. */
	for (size_t i = 0; i < ncarved; i++) {
		if (nlive == cap) {
			cap = cap ? cap * 2 : 32;
			live = realloc(live, cap * sizeof(*live));
			fuzz_check(live);
		}
		live[nlive++] = carved[i];
	}
	free(carved);

	for (size_t pi = 0; pi < env->npools; pi++) {
		const struct contig_pool *pool = env->pools[pi];
		uint32_t nfree = 0, nowned = 0, nrec = 0, nl = 0, nbuffers = 0, nsess = 0;

		for (uint32_t i = 0; i < pool->nframes; i++) {
			const struct contig_frame *f = &pool->frames[i];

			fuzz_check(f->pool == pool);
			switch (f->state) {
			case CONTIG_FRAME_FREE:
			case CONTIG_FRAME_OWNED:
				fuzz_check(f->phys == f->file.phys && f->phys % pool->page_len == 0);
				fuzz_check(f->file.fd >= 0);
				break;
			case CONTIG_FRAME_RECYCLING:
				fuzz_check(f->file.fd >= 0);
				break;
			case CONTIG_FRAME_LOST:
				fuzz_check(f->file.fd == -1);
				break;
			}
			if (f->state == CONTIG_FRAME_FREE) {
				nfree++;
				fuzz_check(contig_range_is_free(&pool->free, f->phys, pool->page_len));
				fuzz_check(frame_counts[pi][i] == 0);
			} else if (f->state == CONTIG_FRAME_OWNED) {
				nowned++;
				fuzz_check(!contig_range_is_free(&pool->free, f->phys, 1));
				fuzz_check(!contig_range_is_free(&pool->free,
								 f->phys + pool->page_len - 1, 1));
				fuzz_check(is_connected(w, f->owner));
				fuzz_check(f->cache_type >= 0 && f->cache_type <= CONTIG_CACHE_TYPE_MAX);
				/* Counted right, and a frame with no buffer left the session. */
				fuzz_check(f->nbuffers == frame_counts[pi][i] && f->nbuffers > 0);
			} else {
				fuzz_check(frame_counts[pi][i] == 0);
				nrec += f->state == CONTIG_FRAME_RECYCLING;
				nl += f->state == CONTIG_FRAME_LOST;
			}
		}
		fuzz_check(pool->nowned == nowned && pool->nrecycling == nrec && pool->nlost == nl);
		/* by_phys: exactly the FREE and OWNED frames (distinct: sorted
		 * strictly), in address order. */
		fuzz_check(pool->nby_phys == nfree + nowned);
		for (uint32_t i = 0; i < pool->nby_phys; i++) {
			const struct contig_frame *f = pool->by_phys[i];

			fuzz_check(f >= pool->frames && f < pool->frames + pool->nframes);
			fuzz_check(f->state == CONTIG_FRAME_FREE || f->state == CONTIG_FRAME_OWNED);
			fuzz_check(i == 0 || pool->by_phys[i - 1]->phys < f->phys);
		}
		fuzz_check(pool->free.free_len == (uint64_t)nfree * pool->page_len);
		fuzz_check(fake_dir_nheld(pool->dir) == pool->nframes - nl);
		for (size_t k = 0; k < nlive; k++)
			nbuffers += live[k].b->pool == pool && live[k].listed;
		fuzz_check(pool->nbuffers == nbuffers);
		for (unsigned ci = 0; ci < w->nclients; ci++) {
			bool owns = false;

			for (uint32_t i = 0; i < pool->nframes && !owns && w->clients[ci].s; i++)
				owns = pool->frames[i].state == CONTIG_FRAME_OWNED &&
				       pool->frames[i].owner == w->clients[ci].s;
			nsess += owns;
		}
		fuzz_check(pool->nsessions == nsess);
		nrecycling += nrec;
		nlost += nl;
	}
	fuzz_check(nrecycling == fake_recycler_len(env->recycler));
	fuzz_check(nlost == fake_nlost());

	/* Sessions' frame counts and the bytes they are charged: their
	 * frames', whole. */
	for (unsigned ci = 0; ci < w->nclients; ci++) {
		const struct contig_session *s = w->clients[ci].s;
		uint32_t nframes = 0;
		uint64_t frames_len = 0;

		if (!s)
			continue;
		for (size_t pi = 0; pi < env->npools; pi++)
			for (uint32_t i = 0; i < env->pools[pi]->nframes; i++)
				if (env->pools[pi]->frames[i].state == CONTIG_FRAME_OWNED &&
				    env->pools[pi]->frames[i].owner == s) {
					nframes++;
					frames_len += env->pools[pi]->page_len;
				}
		fuzz_check(s->nframes == nframes && s->frames_len == frames_len);
	}

	/* Users: one record per uid with a session, holding their sums. */
	for (size_t i = 0; i < env->nusers; i++) {
		const struct contig_user *u = &env->users[i];
		uint32_t ns = 0;
		uint64_t nbuffers = 0, len = 0, frames_len = 0, nplain = 0;

		for (size_t k = i + 1; k < env->nusers; k++)
			fuzz_check(env->users[k].uid != u->uid);
		for (unsigned ci = 0; ci < w->nclients; ci++) {
			const struct contig_session *s = w->clients[ci].s;

			if (s && s->user_uid == u->uid) {
				ns++;
				nbuffers += s->nbuffers;
				nplain += s->nbuffers - s->ncarves;
				len += s->len;
				frames_len += s->frames_len;
			}
		}
		fuzz_check(u->nsessions == ns && ns > 0 && ns <= lim->max_connections_per_user);
		fuzz_check(u->nbuffers == nbuffers && u->len == len);
		fuzz_check(nplain <= lim->max_buffers_per_user); /* carves may go past it */
		fuzz_check(u->frames_len == frames_len);
		fuzz_check(!lim->max_bytes_per_user || u->frames_len <= lim->max_bytes_per_user);
		/* Per pool: the frames its sessions own there. */
		for (size_t pi = 0; pi < env->npools; pi++) {
			const struct contig_pool *pool = env->pools[pi];
			uint64_t held = 0;

			for (uint32_t k = 0; k < pool->nframes; k++)
				held += pool->frames[k].state == CONTIG_FRAME_OWNED &&
					pool->frames[k].owner->user_uid == u->uid
						? pool->page_len
						: 0;
			fuzz_check(u->pool_frames_len[pi] == held);
		}
	}
	for (unsigned ci = 0; ci < w->nclients; ci++)
		if (w->clients[ci].s)
			fuzz_check(contig_user_find(env, w->clients[ci].s->user_uid));

	check_tags(&env->tags, live, nlive, NULL);
	for (unsigned ci = 0; ci < w->nclients; ci++)
		if (w->clients[ci].s)
			check_tags(&w->clients[ci].s->tags, live, nlive, w->clients[ci].s);

	for (size_t pi = 0; pi < env->npools; pi++)
		free(frame_counts[pi]);
	free(live);
}

/* ---- one request and its reply ---- */

/* What the harness notes before a request, to judge the reply. */
struct before {
	bool hello_done;
	uint32_t nbuffers, nframes;
	uint64_t len, nbugchecks, frames_len;
	uint64_t user_nbuffers, user_len, user_frames_len;
	uint64_t user_pool_frames_len[FAKE_MAX_DIRS];
	bool free_live;
	bool free_warm;        /* a warm frame: its carves go with it */
	uint32_t free_ncarves;
	uint64_t free_req_len;
	int free_cache;
	uint64_t pool_free[FAKE_MAX_DIRS];
	struct {
		const struct contig_session *s;
		uint32_t nbuffers, nframes;
		uint64_t len;
	} other[NCLIENTS];
};

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* The number of the first unknown field in @req or its body, 0 if none. */
static unsigned unknown_field(const Contig__Request *req)
{
	const ProtobufCMessage *body = NULL;

	if (req->base.n_unknown_fields)
		return req->base.unknown_fields[0].tag;
	switch (req->body_case) {
	case CONTIG__REQUEST__BODY_HELLO:
		body = &req->hello->base;
		break;
	case CONTIG__REQUEST__BODY_ALLOC:
		body = &req->alloc->base;
		break;
	case CONTIG__REQUEST__BODY_FREE:
		body = &req->free->base;
		break;
	case CONTIG__REQUEST__BODY_STATS:
		body = &req->stats->base;
		break;
	case CONTIG__REQUEST__BODY_REPORT:
		body = &req->report->base;
		break;
	case CONTIG__REQUEST__BODY_CARVE:
		body = &req->carve->base;
		break;
	default:
		break;
	}
	return body && body->n_unknown_fields ? body->unknown_fields[0].tag : 0;
}

/* DESIGN.md's allocation semantics, written independently of session.c:
 * is this request malformed? */
static bool alloc_invalid(const Contig__AllocRequest *a)
{
	uint64_t lowest = a->has_lowest ? a->lowest : 0;
	uint64_t highest = a->has_highest ? a->highest : UINT64_MAX;
	uint64_t boundary = a->has_boundary ? a->boundary : 0;
	uint64_t align = a->has_align ? a->align : 0;
	int cache = a->has_cache_type ? a->cache_type : CONTIG_CACHE_DEFAULT;
	int node = a->has_node ? a->node : -1;
	uint32_t priority = a->has_priority ? a->priority : CONTIG_PRIORITY_HIGH;
	uint64_t len;

	if (a->len == 0 || a->len > UINT64_MAX - SMALL_PAGE)
		return true;
	len = (a->len + SMALL_PAGE - 1) & ~(uint64_t)(SMALL_PAGE - 1);
	return (align && !is_pow2(align)) || (boundary && (!is_pow2(boundary) || boundary < len)) ||
	       cache < 0 || cache > CONTIG_CACHE_TYPE_MAX || node < -1 || node > CONTIG_MAX_NODE ||
	       priority > CONTIG_PRIORITY_MAX || lowest > UINT64_MAX - (len - 1) ||
	       highest < lowest;
}

/* Would one more buffer exceed a buffer count? (Known before placing:
 * the byte limits depend on whether it needs new frames.) */
static bool alloc_over_count(const struct world *w, const struct before *bf,
			     const Contig__AllocRequest *a)
{
	const struct contig_limits *lim = &w->env.limits;

	if (a->has_warm && a->warm)
		return false; /* a warm frame is no buffer */
	return bf->nbuffers + 1 > lim->max_buffers_per_connection ||
	       bf->user_nbuffers + 1 > lim->max_buffers_per_user;
}

/* Would @held + @len exceed @max (0: none)? */
static bool exceeds(uint64_t held, uint64_t len, uint64_t max)
{
	return max && held + len > max;
}

/* What max_share_per_user lets one user hold of @pool: whole frames of
 * the share of its usable frames, at least one. (contigd(8).) */
static uint64_t model_share(const struct contig_pool *pool, uint64_t pct)
{
	uint64_t nframes = (uint64_t)(pool->nframes - pool->nlost) * pct / 100;

	return (nframes ? nframes : 1) * pool->page_len;
}

/* The fair share of @pool: its usable bytes over the non-root users with
 * a session. */
static uint64_t model_fair(const struct world *w, const struct contig_pool *pool)
{
	uint64_t nusers = 0;

	for (size_t i = 0; i < w->env.nusers; i++)
		nusers += w->env.users[i].uid != 0;
	return (uint64_t)(pool->nframes - pool->nlost) * pool->page_len / (nusers ? nusers : 1);
}

/* A refusal for bytes, judged by asking again with no byte limit and no
 * share (directly, checked by check.c, as rpc.c would): that must not
 * find room in frames the client holds, and the new frames it takes
 * instead must exceed one of them. (That buffer is freed at once: its frames go to the recycler.) */
static void check_byte_refusal(struct world *w, struct client *c,
			       const Contig__AllocRequest *a, const struct before *bf)
{
	struct contig_limits *lim = &w->env.limits, saved = *lim;
	const struct contig_user *u = contig_user_find(&w->env, c->s->user_uid);
	struct contig_alloc_params p;
	struct contig_refused refused;
	const char *msg = c->conn.replies[0].message, *field = NULL;
	struct contig_live_buffer *b;
	uint64_t claimed;
	size_t pi;
	int r;

	if (strstr(msg, "max_frames_per_buffer"))
		return; /* E2BIG: not a byte limit */
	fuzz_check(strstr(msg, "max_bytes_per_connection") || strstr(msg, "max_bytes_per_user") ||
		   strstr(msg, "max_share_per_user"));
	fuzz_check(contig_check_alloc(a, 0, &p, &refused)); /* it was refused for bytes */
	lim->max_bytes_per_connection = 0;
	lim->max_bytes_per_user = 0;
	lim->max_share_per_user = 100;
	r = contig_session_alloc(c->s, &p, &field, &b);
	*lim = saved;
	/* A watermark (checked after the limits) may still refuse it. */
	fuzz_check(r == 0 || r == -ENOBUFS);
	if (r < 0)
		return;
	pi = pool_index(w, b->pool);
	fuzz_check(b->pool->free.free_len < bf->pool_free[pi]); /* new frames, not packed */
	claimed = bf->pool_free[pi] - b->pool->free.free_len;
	fuzz_check(exceeds(bf->frames_len, claimed, lim->max_bytes_per_connection) ||
		   exceeds(bf->user_frames_len, claimed, lim->max_bytes_per_user) ||
		   (u->uid != 0 && lim->max_share_per_user < 100 &&
		    exceeds(bf->user_pool_frames_len[pi], claimed,
			    model_share(b->pool, lim->max_share_per_user))));
	fuzz_check(contig_session_free_buffer(c->s, b->id, NULL, NULL, NULL) == 0);
	fuzz_check(c->s->frames_len == bf->frames_len);
}

/* An allocation that succeeded: the reply, every constraint, the
 * descriptors, watermarks. */
static void check_alloc(struct world *w, struct client *c, const Contig__Request *req,
			const struct before *bf)
{
	const Contig__AllocRequest *a = req->alloc;
	const struct fake_reply *r = &c->conn.replies[0];
	const struct contig_live_buffer *b = contig_session_buffer(c->s, r->buffer_id);
	uint64_t lowest = a->has_lowest ? a->lowest : 0;
	uint64_t highest = a->has_highest ? a->highest : UINT64_MAX;
	uint64_t boundary = a->has_boundary ? a->boundary : 0;
	uint64_t align = a->has_align && a->align > SMALL_PAGE ? a->align : SMALL_PAGE;
	uint64_t len = (a->len + SMALL_PAGE - 1) & ~(uint64_t)(SMALL_PAGE - 1);
	uint32_t priority = a->has_priority ? a->priority : CONTIG_PRIORITY_HIGH;
	const struct contig_pool *pool;
	uint64_t last, first_frame, nframes, avail, total;
	unsigned pct;
	size_t pi;

	fuzz_check(b != NULL);
	pool = b->pool;
	pi = pool_index(w, pool);
	fuzz_check(r->phys == b->phys && r->len == b->len && b->len == len && b->req_len == a->len);
	fuzz_check(r->page_len == pool->page_len && r->offset == b->phys % pool->page_len);
	fuzz_check(r->node == (uint32_t)pool->node);
	fuzz_check(b->phys <= UINT64_MAX - (len - 1));
	last = b->phys + (len - 1);
	fuzz_check(b->phys >= lowest && last <= highest);
	fuzz_check(b->phys % align == 0);
	fuzz_check(!boundary || b->phys / boundary == last / boundary);
	fuzz_check(!(a->has_node && a->node >= 0) || pool->node == a->node);
	fuzz_check(b->cache_type == (a->has_cache_type ? a->cache_type : CONTIG_CACHE_DEFAULT));
	fuzz_check(b->tag == (a->has_tag ? a->tag : 0) || b->tag == CONTIG_TAG_OTHER);
	first_frame = b->phys - b->phys % pool->page_len;
	nframes = last / pool->page_len - b->phys / pool->page_len + 1;
	fuzz_check(r->nframes == nframes);
	fuzz_check(nframes <= w->env.limits.max_frames_per_buffer);

	/* The descriptors: exactly the frames under the buffer, in order,
	 * CONTIG_FDS_PER_DATAGRAM at a time (unless the client stopped reading). */
	if (!c->conn.closing) {
		uint64_t got = 0;

		for (size_t i = 0; i < c->conn.nreplies; i++) {
			const struct fake_reply *rr = &c->conn.replies[i];
			uint64_t want = nframes - got < CONTIG_FDS_PER_DATAGRAM ? nframes - got
										 : CONTIG_FDS_PER_DATAGRAM;

			fuzz_check(rr->seq == req->seq && rr->status == CONTIG__STATUS__OK);
			fuzz_check(i == 0 ? rr->body_case == CONTIG__REPLY__BODY_ALLOC
					  : rr->body_case == CONTIG__REPLY__BODY_FRAMES &&
						    rr->first == got);
			fuzz_check(rr->nfds == want);
			for (size_t k = 0; k < rr->nfds; k++)
				fuzz_check(rr->fd_phys[k] == first_frame + (got + k) * pool->page_len);
			got += rr->nfds;
		}
		fuzz_check(got == nframes);
	}

	/* Frames taken from the pool: below the watermark only at high
	 * priority, and only for a user (root aside) within its fair share;
	 * within the byte limits and the share. */
	avail = pool->free.free_len + (uint64_t)pool->nrecycling * pool->page_len;
	total = (uint64_t)(pool->nframes - pool->nlost) * pool->page_len;
	pct = priority >= CONTIG_PRIORITY_HIGH     ? 0
	      : priority >= CONTIG_PRIORITY_NORMAL ? w->env.watermark_normal_pct
						   : w->env.watermark_low_pct;
	if (pool->free.free_len < bf->pool_free[pi]) {
		const struct contig_user *u = contig_user_find(&w->env, c->s->user_uid);
		const struct contig_limits *lim = &w->env.limits;
		uint64_t claimed = bf->pool_free[pi] - pool->free.free_len;

		fuzz_check(claimed / pool->page_len <= nframes);
		fuzz_check(c->s->frames_len == bf->frames_len + claimed);
		if (c->s->uid != 0 && u->pool_frames_len[pi] > model_fair(w, pool) &&
		    pct < w->env.watermark_low_pct)
			pct = w->env.watermark_low_pct;
		fuzz_check(!pct || avail * 100 >= total * pct);
		fuzz_check(!exceeds(bf->frames_len, claimed, lim->max_bytes_per_connection));
		fuzz_check(!exceeds(bf->user_frames_len, claimed, lim->max_bytes_per_user));
		fuzz_check(c->s->uid == 0 || lim->max_share_per_user >= 100 ||
			   u->pool_frames_len[pi] <= model_share(pool, lim->max_share_per_user));
	} else {
		fuzz_check(c->s->frames_len == bf->frames_len); /* packed: costs nothing */
	}
	model_add(c, b->id);
}

/* The session of the connected client with @pid (NULL if none). */
static const struct contig_session *session_of_pid(const struct world *w, uint32_t pid)
{
	for (unsigned i = 0; i < w->nclients; i++)
		if (w->clients[i].s && (uint32_t)w->clients[i].pid == pid)
			return w->clients[i].s;
	return NULL;
}

/* A stats request's list pages (contig.proto, "Lists"): the totals, each
 * entry against the live state, and what a caller may see of others. */
static void check_lists(const struct world *w, const struct client *c,
			const Contig__StatsRequest *req)
{
	const struct fake_reply *r = &c->conn.replies[0];
	const struct contig_session *s = c->s;
	bool root = s->uid == 0;
	uint32_t first, total = 0;

	if (!(req->has_want_buffers && req->want_buffers)) {
		fuzz_check(!r->has_nbuffers_listed && r->n_buffers == 0);
	} else {
		for (unsigned i = 0; i < w->nclients; i++)
			if (w->clients[i].s && (root || w->clients[i].s == s))
				total += w->clients[i].s->nbuffers;
		first = req->has_first_buffer ? req->first_buffer : 0;
		fuzz_check(r->has_nbuffers_listed && r->has_generation && r->nbuffers_listed == total);
		/* Within the list, and never an empty page before its end. */
		fuzz_check(first >= total ? r->n_buffers == 0
					  : r->n_buffers >= 1 && r->n_buffers <= total - first);
		for (uint32_t i = 0; i < r->n_buffers && i < FAKE_MAX_LISTED; i++) {
			const struct contig_session *owner = session_of_pid(w, r->buffers[i].pid);
			const struct contig_live_buffer *b;

			/* Only root sees another session's buffers. */
			fuzz_check(owner && (root || owner == s));
			b = contig_session_buffer((struct contig_session *)owner, r->buffers[i].id);
			if (!b && contig_session_carve(owner, r->buffers[i].id))
				b = &contig_session_carve(owner, r->buffers[i].id)->buf;
			fuzz_check(b && !b->warm && b->phys == r->buffers[i].phys && b->len == r->buffers[i].len &&
				   b->tag == r->buffers[i].tag &&
				   b->cache_type == r->buffers[i].cache_type &&
				   r->buffers[i].uid == (uint32_t)owner->uid &&
				   r->buffers[i].pool < w->env.npools &&
				   w->env.pools[r->buffers[i].pool] == b->pool);
			for (uint32_t k = 0; k < i; k++)
				fuzz_check(r->buffers[k].pid != r->buffers[i].pid ||
					   r->buffers[k].id != r->buffers[i].id);
		}
	}
	if (!(req->has_want_frames && req->want_frames)) {
		fuzz_check(!r->has_nframes_listed && r->n_frames == 0);
		return;
	}
	total = 0;
	for (size_t pi = 0; pi < w->env.npools; pi++)
		total += w->env.pools[pi]->nframes;
	first = req->has_first_frame ? req->first_frame : 0;
	fuzz_check(r->has_nframes_listed && r->has_generation && r->nframes_listed == total);
	fuzz_check(first >= total ? r->n_frames == 0
				  : r->n_frames >= 1 && r->n_frames <= total - first);
	for (uint32_t i = 0; i < r->n_frames && i < FAKE_MAX_LISTED; i++) {
		/* Entry i is entry first + i, counted pool by pool. Root: a pool's
		 * frames in reservation order. Anyone else (issue 20): its own
		 * frames in that order, then the rest by state alone, no address. */
		uint64_t index = (uint64_t)first + i;
		size_t pi = 0;
		const struct contig_pool *pool;
		const struct contig_frame *f = NULL;
		static const enum contig_frame_state states[] = { CONTIG_FRAME_FREE,
								  CONTIG_FRAME_OWNED,
								  CONTIG_FRAME_RECYCLING,
								  CONTIG_FRAME_LOST };

		while (index >= w->env.pools[pi]->nframes)
			index -= w->env.pools[pi++]->nframes;
		pool = w->env.pools[pi];
		if (root) {
			f = &pool->frames[index];
		} else {
			uint64_t nstate[4] = { 0 }, k = index;
			uint32_t state = 0;

			for (uint32_t n = 0; n < pool->nframes; n++) {
				const struct contig_frame *g = &pool->frames[n];

				if (g->state == CONTIG_FRAME_OWNED && g->owner == s) {
					if (k-- == 0 && !f)
						f = g;
				} else {
					for (state = 0; states[state] != g->state; state++)
						;
					nstate[state]++;
				}
			}
			if (!f) { /* past its own frames: k counts into the others */
				for (state = 0; k >= nstate[state]; state++)
					k -= nstate[state];
				fuzz_check(r->frames[i].pool == pi && r->frames[i].phys == 0 &&
					   r->frames[i].state == state && !r->frames[i].has_owner);
				continue;
			}
		}
		fuzz_check(r->frames[i].pool == pi && r->frames[i].phys == f->phys &&
			   r->frames[i].state < 4 && states[r->frames[i].state] == f->state);
		/* The owner shows to root, and to the owner only. */
		fuzz_check(r->frames[i].has_owner ==
			   (f->state == CONTIG_FRAME_OWNED && (root || f->owner == s)));
		if (r->frames[i].has_owner)
			fuzz_check(r->frames[i].owner_pid == (uint32_t)f->owner->pid &&
				   r->frames[i].cache_type == f->cache_type &&
				   r->frames[i].nbuffers == f->nbuffers - f->nwarm + f->ncarved);
	}
}

/* Do the list fields of a stats request make sense together? */
static bool stats_invalid(const Contig__StatsRequest *req)
{
	return (req->has_first_buffer && !(req->has_want_buffers && req->want_buffers)) ||
	       (req->has_first_frame && !(req->has_want_frames && req->want_frames));
}

static void check_stats(const struct world *w, const struct client *c,
			const Contig__StatsRequest *req)
{
	const struct fake_reply *r = &c->conn.replies[0];
	const struct contig_session *s = c->s;
	const struct contig_tags *tags = s->uid == 0 ? &w->env.tags : &s->tags;

	fuzz_check(r->my_nbuffers == s->nbuffers && r->my_len == s->len &&
		   r->my_nframes == s->nframes);
	/* Other sessions are for root's eyes only. */
	fuzz_check(r->n_sessions == (s->uid == 0 ? nconnected(w) : 0));
	fuzz_check(r->n_tags == (tags->n < 64 ? tags->n : 64));
	for (uint32_t i = 0; i < r->n_tags && i < FAKE_MAX_TAGS; i++)
		fuzz_check(r->tags[i].tag == tags->v[i].tag &&
			   r->tags[i].nbuffers == tags->v[i].nbuffers &&
			   r->tags[i].len == tags->v[i].len);
	check_lists(w, c, req);
}

static void note_before(const struct world *w, const struct client *c, const Contig__Request *req,
			struct before *bf)
{
	const struct contig_user *u = contig_user_find((struct contig_pools *)&w->env,
						       c->s->user_uid);

	memset(bf, 0, sizeof(*bf));
	bf->hello_done = c->hello_done;
	bf->nbuffers = c->s->nbuffers;
	bf->nframes = c->s->nframes;
	bf->len = c->s->len;
	bf->nbugchecks = c->s->nbugchecks;
	bf->user_nbuffers = u->nbuffers;
	bf->user_len = u->len;
	bf->frames_len = c->s->frames_len;
	bf->user_frames_len = u->frames_len;
	for (size_t pi = 0; pi < w->env.npools; pi++)
		bf->user_pool_frames_len[pi] = u->pool_frames_len[pi];
	if (req && req->body_case == CONTIG__REQUEST__BODY_FREE) {
		const struct contig_live_buffer *b = contig_session_buffer(c->s, req->free->buffer_id);

		bf->free_live = b != NULL;
		fuzz_check(bf->free_live == model_has(c, req->free->buffer_id));
		if (b) {
			bf->free_req_len = b->req_len;
			bf->free_cache = b->cache_type;
			bf->free_warm = b->warm;
			for (uint32_t i = 0; i < c->s->ncarves; i++)
				bf->free_ncarves += c->s->carves[i].frame_id == b->id;
		}
	}
	for (size_t pi = 0; pi < w->env.npools; pi++)
		bf->pool_free[pi] = w->env.pools[pi]->free.free_len;
	for (unsigned i = 0; i < w->nclients; i++) {
		const struct contig_session *s = w->clients[i].s;

		bf->other[i].s = s;
		if (s && &w->clients[i] != c) {
			bf->other[i].nbuffers = s->nbuffers;
			bf->other[i].nframes = s->nframes;
			bf->other[i].len = s->len;
		}
	}
}

static void check_reply(struct world *w, struct client *c, const Contig__Request *req,
			enum contig_rpc_result res, const struct before *bf)
{
	const struct fake_reply *r;
	int want = -1; /* the status the request must get, -1: several may do */
	bool changed = false;

	fuzz_check(res == CONTIG_RPC_DONE || res == CONTIG_RPC_CLOSE);
	fuzz_check(c->conn.nreplies >= 1);
	r = &c->conn.replies[0];
	fuzz_check(r->seq == (req ? req->seq : 0));
	/* Only an allocation sends more than one datagram. */
	fuzz_check(c->conn.nreplies == 1 || (r->body_case == CONTIG__REPLY__BODY_ALLOC &&
					     r->status == CONTIG__STATUS__OK));
	/* A protocol error closes; so does a version we do not speak; nothing else. */
	fuzz_check((res == CONTIG_RPC_CLOSE) == (r->status == CONTIG__STATUS__PROTOCOL_ERROR ||
						  (r->status == CONTIG__STATUS__UNSUPPORTED &&
						   req && req->body_case == CONTIG__REQUEST__BODY_HELLO)));

	if (!req)
		want = CONTIG__STATUS__PROTOCOL_ERROR;
	else if (req->body_case != CONTIG__REQUEST__BODY__NOT_SET && unknown_field(req))
		want = CONTIG__STATUS__INVALID_ARGUMENT;
	else if (!bf->hello_done && req->body_case != CONTIG__REQUEST__BODY_HELLO)
		want = CONTIG__STATUS__PROTOCOL_ERROR;
	else {
		switch (req->body_case) {
		case CONTIG__REQUEST__BODY_HELLO:
			want = req->hello->version == CONTIG_PROTOCOL_VERSION
				       ? CONTIG__STATUS__OK
				       : CONTIG__STATUS__UNSUPPORTED;
			if (want == CONTIG__STATUS__OK)
				fuzz_check(r->body_case == CONTIG__REPLY__BODY_HELLO);
			break;
		case CONTIG__REQUEST__BODY_ALLOC:
			if (alloc_invalid(req->alloc))
				want = CONTIG__STATUS__INVALID_ARGUMENT;
			else if (alloc_over_count(w, bf, req->alloc))
				want = CONTIG__STATUS__QUOTA_EXCEEDED;
			else
				fuzz_check(r->status == CONTIG__STATUS__OK ||
					   r->status == CONTIG__STATUS__NO_MEMORY ||
					   r->status == CONTIG__STATUS__QUOTA_EXCEEDED);
			if (want < 0 && r->status == CONTIG__STATUS__QUOTA_EXCEEDED)
				check_byte_refusal(w, c, req->alloc, bf);
			if (r->status == CONTIG__STATUS__OK) {
				fuzz_check(r->body_case == CONTIG__REPLY__BODY_ALLOC);
				check_alloc(w, c, req, bf);
				changed = true;
			}
			break;
		case CONTIG__REQUEST__BODY_FREE: {
			const Contig__FreeRequest *f = req->free;

			if (!bf->free_live)
				want = CONTIG__STATUS__NOT_FOUND;
			else if ((f->has_len && f->len != bf->free_req_len) ||
				 (f->has_cache_type && f->cache_type != bf->free_cache))
				want = CONTIG__STATUS__MISMATCH;
			else
				want = CONTIG__STATUS__OK;
			if (r->status == CONTIG__STATUS__OK) {
				fuzz_check(r->body_case == CONTIG__REPLY__BODY_FREE);
				fuzz_check(!contig_session_buffer(c->s, f->buffer_id));
				fuzz_check(bf->free_warm ? c->s->nbuffers == bf->nbuffers - bf->free_ncarves
							 : c->s->nbuffers + 1 == bf->nbuffers);
				model_remove(c, f->buffer_id);
				changed = true;
			}
			break;
		}
		case CONTIG__REQUEST__BODY_STATS:
			if (stats_invalid(req->stats)) {
				want = CONTIG__STATUS__INVALID_ARGUMENT;
				break;
			}
			want = CONTIG__STATUS__OK;
			fuzz_check(r->body_case == CONTIG__REPLY__BODY_STATS);
			check_stats(w, c, req->stats);
			break;
		case CONTIG__REQUEST__BODY_CARVE:
			/* A report that does not fit is refused whole (nothing
			 * changes: checked below); one that fits moves nbuffers
			 * by what it added and freed, checked by check_world(). */
			fuzz_check(r->status == CONTIG__STATUS__OK ||
				   r->status == CONTIG__STATUS__INVALID_ARGUMENT ||
				   r->status == CONTIG__STATUS__NO_MEMORY);
			if (r->status == CONTIG__STATUS__OK) {
				fuzz_check(r->body_case == CONTIG__REPLY__BODY_CARVE);
				changed = true;
			}
			break;
		case CONTIG__REQUEST__BODY_REPORT:
			want = strlen(req->report->routine) <= 64 && strlen(req->report->reason) <= 256
				       ? CONTIG__STATUS__OK
				       : CONTIG__STATUS__INVALID_ARGUMENT;
			fuzz_check(c->s->nbugchecks ==
				   bf->nbugchecks + (want == CONTIG__STATUS__OK));
			if (want == CONTIG__STATUS__OK)
				fuzz_check(r->body_case == CONTIG__REPLY__BODY_REPORT);
			break;
		default:
			want = CONTIG__STATUS__UNSUPPORTED;
			break;
		}
	}
	if (want >= 0)
		fuzz_check(r->status == want);
	if (!changed)
		fuzz_check(c->s->nbuffers == bf->nbuffers && c->s->len == bf->len &&
			   c->s->nframes == bf->nframes);
	/* Nothing a client sends moves another client's state. */
	for (unsigned i = 0; i < w->nclients; i++) {
		const struct contig_session *s = w->clients[i].s;

		fuzz_check(s == bf->other[i].s);
		if (s && &w->clients[i] != c)
			fuzz_check(s->nbuffers == bf->other[i].nbuffers &&
				   s->nframes == bf->other[i].nframes && s->len == bf->other[i].len);
	}
}

/* FUZZ_TRACE=1 in the environment: one line per request and control
 * operation on stderr, to read what a crashing input does. */
static bool tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_TRACE") != NULL;
	return on;
}

static void trace_request(const struct world *w, const struct client *c,
			  const Contig__Request *req, enum contig_rpc_result res)
{
	static const char *const results[] = { "done", "wait", "close" };
	const struct fake_reply *r = &c->conn.replies[0];

	fprintf(stderr, "client %d: %s seq %llu -> status %d%s", (int)(c - w->clients),
		!req ? "(malformed)" : req->body_case == CONTIG__REQUEST__BODY_HELLO ? "hello"
		: req->body_case == CONTIG__REQUEST__BODY_ALLOC ? "alloc"
		: req->body_case == CONTIG__REQUEST__BODY_FREE ? "free"
		: req->body_case == CONTIG__REQUEST__BODY_STATS ? "stats"
		: req->body_case == CONTIG__REQUEST__BODY_REPORT ? "report"
		: req->body_case == CONTIG__REQUEST__BODY_CARVE ? "carve" : "(unknown)",
		req ? (unsigned long long)req->seq : 0ull, r->status, results[res]);
	if (r->body_case == CONTIG__REPLY__BODY_ALLOC)
		fprintf(stderr, " id 0x%llx phys 0x%llx len 0x%llx frames %u in %zu datagrams",
			(unsigned long long)r->buffer_id, (unsigned long long)r->phys,
			(unsigned long long)r->len, r->nframes, c->conn.nreplies);
	fprintf(stderr, "%s (buffers %u, frames %u, recycling %zu)\n",
		c->conn.closing ? " [send failed]" : "", c->s->nbuffers, c->s->nframes,
		fake_recycler_len(w->env.recycler));
}

static void request(struct world *w, struct client *c, const uint8_t *data, size_t len)
{
	Contig__Request *req;
	enum contig_rpc_result res;
	struct before bf;

	if (!c->s && !client_connect(w, c))
		return; /* refused: max_connections_per_user */
	req = contig__request__unpack(NULL, len, data);
	note_before(w, c, req, &bf);
	c->conn.nreplies = 0;
	w->counters.stats.nsessions = nconnected(w);
	res = contig_rpc_handle(&c->conn, c->s, &c->hello_done, &w->counters, data, len);
	if (res == CONTIG_RPC_WAIT) {
		bool recycling = false;

		/* Nothing sent, nothing changed, and there was a reason to wait. */
		fuzz_check(c->conn.nreplies == 0 && c->s->nbuffers == bf.nbuffers &&
			   c->s->nframes == bf.nframes);
		for (size_t pi = 0; pi < w->env.npools; pi++)
			recycling |= w->env.pools[pi]->nrecycling > 0;
		fuzz_check(recycling);
		check_world(w);
		/* The recycler reports; the server retries the same datagram. */
		fake_recycler_drain(w->env.recycler, SIZE_MAX);
		note_before(w, c, req, &bf);
		if (tracing())
			fprintf(stderr, "client %d: waits for the recycler\n", (int)(c - w->clients));
		res = contig_rpc_handle(&c->conn, c->s, &c->hello_done, &w->counters, data, len);
	}
	if (tracing())
		trace_request(w, c, req, res);
	check_reply(w, c, req, res, &bf);
	if (req)
		contig__request__free_unpacked(req, NULL);
	if (res == CONTIG_RPC_CLOSE || c->conn.closing)
		client_disconnect(c);
	check_world(w);
}

static void control(struct world *w, struct client *c, unsigned op)
{
	static const char *const names[] = { "recycler reports all", "recycler reports one",
					     "stops reading", "disconnects", "datagram refused" };

	if (tracing())
		fprintf(stderr, "client %d: %s\n", (int)(c - w->clients), names[op % 5]);
	switch (op % 5) {
	case 0:
		fake_recycler_drain(w->env.recycler, SIZE_MAX);
		break;
	case 1:
		fake_recycler_drain(w->env.recycler, 1);
		break;
	case 2:
		c->conn.fail_sends = true;
		break;
	case 3:
		if (c->s)
			client_disconnect(c);
		break;
	case 4:
		/* An oversized datagram or one with descriptors: server.c
		 * replies with a protocol error and closes. */
		if (c->s) {
			c->conn.nreplies = 0;
			contig_rpc_protocol_error(&c->conn, "request larger than max_request_len");
			fuzz_check(c->conn.closing || (c->conn.nreplies == 1 &&
						       c->conn.replies[0].status ==
							       CONTIG__STATUS__PROTOCOL_ERROR));
			client_disconnect(c);
		}
		break;
	}
	check_world(w);
}

/* Everything returns: sessions freed, recycler drained, pools whole. */
static void teardown(struct world *w)
{
	struct contig_pools *env = &w->env;

	for (unsigned i = 0; i < NCLIENTS; i++) {
		if (w->clients[i].s)
			client_disconnect(&w->clients[i]);
		free(w->clients[i].ids);
		free(w->clients[i].conn.replies);
	}
	fake_recycler_drain(env->recycler, SIZE_MAX);
	check_world(w);
	fuzz_check(!env->sessions && env->nusers == 0);
	for (size_t pi = 0; pi < env->npools; pi++) {
		struct contig_pool *pool = env->pools[pi];
		struct contig_pool_info info;

		contig_pool_get_info(pool, &info);
		fuzz_check(info.free_len == info.total_len);
		fuzz_check(pool->nowned == 0 && pool->nbuffers == 0 && pool->nrecycling == 0 &&
			   pool->nsessions == 0);
		fuzz_check(pool->nby_phys == pool->nframes - pool->nlost);
	}
	for (size_t i = 0; i < env->tags.n; i++)
		fuzz_check(env->tags.v[i].nbuffers == 0 && env->tags.v[i].len == 0);
	for (size_t pi = 0; pi < env->npools; pi++)
		contig_pool_free(env->pools[pi], false);
	for (size_t i = 0; i < w->ndirs; i++)
		fake_dir_free(w->dirs[i]);
	free(env->pools);
	contig_tags_done(&env->tags);
	free(env->users);
	fake_recycler_free(env->recycler);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	size_t pos = 2;

	setup(&w, size > 0 ? data[0] : 0, size > 1 ? data[1] : 0);
	while (pos + 2 <= size) {
		unsigned v = data[pos] | (unsigned)data[pos + 1] << 8;
		struct client *c = &w.clients[(v >> 15) % w.nclients];
		size_t n = v & 0x7fff;

		pos += 2;
		if (n > CONTIG_MAX_REQUEST_LEN) {
			control(&w, c, (unsigned)(n - CONTIG_MAX_REQUEST_LEN - 1));
			continue;
		}
		if (n > size - pos)
			n = size - pos;
		request(&w, c, data + pos, n);
		pos += n;
	}
	teardown(&w);
	return 0;
}
