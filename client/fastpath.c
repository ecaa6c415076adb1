/* fastpath.c - libcontig's fast path: small buffers inside warm frames,
 * served in the client without a round trip.
 *
 * DESIGN
 * A warm frame is an ordinary buffer of CONTIG_FAST_FRAME_LEN (2 MiB)
 * bytes, aligned to its length, that the library allocates from the daemon
 * with the constraints of the request that needed it (node, cache type,
 * priority, tag; a physical window widened to whole warm frames) and keeps
 * mapped. The daemon sees, charges and journals it as one buffer, so the
 * restart, death and quota promises hold for it unchanged: a client can
 * exceed its quotas through the fast path by at most its warm reserve (it
 * is charged the whole warm frame already). A request of at most
 * CONTIG_FAST_MAX_LEN (1/8 of a warm frame) is cut from a warm frame with
 * common/range.c on PHYSICAL addresses: each warm frame keeps its free
 * space as a struct contig_range_set, and contig_range_req_check() and
 * contig_range_find() (the daemon's own code) check window, boundary and
 * alignment, so a fast-path buffer satisfies every constraint a daemon
 * buffer would. A request a warm frame cannot meet (a window it misses,
 * an alignment above its length, an invalid field) goes to the daemon:
 * contig_fast_alloc() only ever answers 0 or -EAGAIN.
 *
 * Hysteresis: a warm frame whose last buffer is freed stays warm while at
 * most f->reserve warm frames of its (node, page size, cache type) are
 * empty (2 by default, $CONTIGD_FAST_RESERVE, contig_set_fast_reserve());
 * beyond that it goes back to the daemon (which recycles and zeroes it).
 * Besides, each arena in use keeps one empty frame of a kind, uncounted
 * (at most reserve + 8 per kind): else a thread whose arena holds none
 * would give a frame back at each free while other arenas hold the
 * reserve, and the thread that allocates and frees one buffer over and
 * over touches no atomic another thread touches.
 * So alloc/free/alloc of one buffer never recycles a frame in between.
 * A warm frame asked for with a physical window (memory below 4 GiB for a
 * 32-bit device is scarce) is never kept empty: it goes back with its
 * last buffer. contig_fast_trim() gives every empty warm frame back at
 * once (contig_trim(): a driver about to idle, a test wanting the pool
 * whole).
 *
 * Quotas and a short pool: a warm frame the daemon refuses (a byte quota
 * it would pass, the watermarks, no whole frame left) makes the request
 * the daemon's, an ordinary round trip, which packs it into a frame the
 * session holds as without the fast path. A round trip refused with
 * EDQUOT or ENOMEM while empty warm frames are held (the reserve is
 * charged as frames) is asked once more after contig_fast_trim() gave
 * them back (contig.c): a client with a small quota, or on a full pool,
 * is served as it was before the fast path.
 *
 * Threads: no lock is common to all threads on the hot path. Warm frames
 * belong to one of NARENAS arenas, each with its own mutex (jemalloc's
 * arenas); a thread allocates from the arena its thread-local index picks
 * (round robin at its first allocation). A free or a lookup finds the warm
 * frame from the address alone, through a two-level radix table indexed
 * by virt / CONTIG_FAST_FRAME_LEN (warm frames are mapped aligned to their
 * length), read without a lock, then takes that frame's arena's mutex and
 * checks the table again. Frame structs are never freed before
 * contig_fast_free(), only reused, so a lookup racing with a release reads
 * a live struct and sees it is no longer the one registered there. The
 * empty-frame counts are atomics. A round trip (a new warm frame, one
 * given back) runs with no arena lock held.
 *
 * Zeroing: a warm frame arrives zeroed (the daemon recycles every frame it
 * gives a new owner). A buffer reused inside one warm frame is not zeroed
 * again (as within one client's frames on the daemon's side, and as the
 * Windows routines' memory is uninitialised) unless the caller asks
 * (CONTIG_ALLOC_ZERO, contig.c).
 *
 * Fork: the child's fast path starts empty. contig_fast_fork_child() sets
 * every warm frame aside, clearing only their radix slots and their kinds'
 * counts (a page written in the fork handler is a page fault: clearing
 * whole leaves made 18 more in the child, and fork() to the child's first
 * instruction took 174-182 us where it now takes 127-128, bench_fastpath);
 * the child's claim_fork() turns the live buffers
 * in them into inherited buffers (the parent's: translated, never freed
 * from the child) and the frames' structs are forgotten.
 *
 * Never calls the wire, the daemon's code, or anything but
 * contig_frame_alloc()/contig_frame_free() of contig.c for a round trip.
 */
#include "fastpath.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "range.h"

#define SMALL_PAGE 4096u
#define FRAME_PAGES (CONTIG_FAST_FRAME_LEN / SMALL_PAGE)
#define NO_BUF UINT16_MAX
#define NARENAS 8
#define NKIND_NODES 64
#define NKIND_CACHE 6
/* The radix table: virt / CONTIG_FAST_FRAME_LEN below 2^(2 * RADIX_BITS)
 * (47-bit user addresses); a warm frame mapped above is given back. */
#define RADIX_BITS 13
#define RADIX_LEN (1u << RADIX_BITS)

struct arena;

/* One live buffer of a warm frame, kept at its first page. */
struct fast_meta {
	uint64_t id, len, req_len, user_data;
	uint32_t tag;
};

struct warm {
	_Atomic(struct arena *) arena; /* NULL while spare */
	struct warm *next;             /* on its arena's list, the forked or the spare list */
	struct warm *all;              /* every struct, for contig_fast_free() */
	struct contig_buffer frame;    /* the daemon's buffer */
	struct contig_range_set free;  /* free physical ranges */
	uint32_t nbufs;
	bool counted;  /* empty, and counted in its kind's nempty */
	bool idle;     /* empty, kept as its arena's one of its kind (not counted) */
	bool windowed; /* asked for with a physical window: never kept empty */
	uint16_t start[FRAME_PAGES]; /* per 4 KiB page: first page of its buffer, or NO_BUF */
	struct fast_meta meta[FRAME_PAGES];
};

struct arena {
	pthread_mutex_t lock;
	struct warm *frames;
	uint64_t next_id; /* of its buffers (with its index: see warm_take()) */
} __attribute__((aligned(64)));

struct radix_leaf {
	_Atomic(struct warm *) slot[RADIX_LEN];
};

struct contig_fast {
	struct arena arenas[NARENAS];
	struct contig_client *client;
	atomic_bool on;
	atomic_uint reserve;
	/* Empty warm frames per (page size class, node, cache type). */
	atomic_uint nempty[2][NKIND_NODES][NKIND_CACHE];
	_Atomic(struct radix_leaf *) radix[RADIX_LEN];
	pthread_mutex_t spare_lock; /* guards spare, all and new leaves */
	struct warm *spare;
	struct warm *all;
	struct warm *forked; /* a child's: the parent's warm frames */
};

static atomic_uint next_arena;
static _Thread_local unsigned my_arena; /* 0: none yet, else index + 1 */

static struct arena *arena_of_thread(struct contig_fast *f)
{
	if (!my_arena)
		my_arena = atomic_fetch_add_explicit(&next_arena, 1, memory_order_relaxed) % NARENAS + 1;
	return &f->arenas[my_arena - 1];
}

struct contig_fast *contig_fast_new(struct contig_client *c, bool on)
{
	struct contig_fast *f = calloc(1, sizeof(*f));
	const char *env;

	if (!f)
		return NULL;
	f->client = c;
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_init(&f->arenas[i].lock, NULL);
	pthread_mutex_init(&f->spare_lock, NULL);
	if ((env = getenv("CONTIGD_FAST_PATH")) && *env)
		on = strcmp(env, "0") != 0;
	atomic_init(&f->on, on);
	atomic_init(&f->reserve, CONTIG_FAST_RESERVE_DEFAULT);
	if ((env = getenv("CONTIGD_FAST_RESERVE")) && *env)
		contig_fast_set_reserve(f, (unsigned)strtoul(env, NULL, 10));
	return f;
}

void contig_fast_free(struct contig_fast *f)
{
	if (!f)
		return;
	for (struct warm *w = f->all, *next; w; w = next) {
		next = w->all;
		contig_range_set_done(&w->free);
		free(w);
	}
	for (size_t i = 0; i < RADIX_LEN; i++)
		free(atomic_load(&f->radix[i]));
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_destroy(&f->arenas[i].lock);
	pthread_mutex_destroy(&f->spare_lock);
	free(f);
}

unsigned contig_fast_set_reserve(struct contig_fast *f, unsigned nframes)
{
	if (nframes > CONTIG_FAST_RESERVE_MAX)
		nframes = CONTIG_FAST_RESERVE_MAX;
	atomic_store(&f->reserve, nframes);
	return nframes;
}

void contig_fast_set_on(struct contig_fast *f, bool on)
{
	atomic_store(&f->on, on);
}

/* The radix slot of the warm frame at @virt; NULL if outside the table
 * (or, unless @make, not yet made). */
static _Atomic(struct warm *) *radix_slot(struct contig_fast *f, const void *virt, bool make)
{
	uint64_t i = (uint64_t)(uintptr_t)virt / CONTIG_FAST_FRAME_LEN;
	struct radix_leaf *leaf;

	if (i >= (uint64_t)RADIX_LEN * RADIX_LEN)
		return NULL;
	leaf = atomic_load_explicit(&f->radix[i / RADIX_LEN], memory_order_acquire);
	if (!leaf && make) {
		pthread_mutex_lock(&f->spare_lock);
		leaf = atomic_load(&f->radix[i / RADIX_LEN]);
		if (!leaf && (leaf = calloc(1, sizeof(*leaf))))
			atomic_store_explicit(&f->radix[i / RADIX_LEN], leaf, memory_order_release);
		pthread_mutex_unlock(&f->spare_lock);
	}
	return leaf ? &leaf->slot[i % RADIX_LEN] : NULL;
}

/* The counter of empty warm frames of @w's kind, or NULL (a node beyond
 * the table: such a frame is never kept empty). */
static atomic_uint *nempty_of(struct contig_fast *f, const struct warm *w)
{
	if (w->frame.node < 0 || w->frame.node >= NKIND_NODES || w->frame.cache_type < 0 ||
	    w->frame.cache_type >= NKIND_CACHE)
		return NULL;
	return &f->nempty[w->frame.page_len > CONTIG_FAST_FRAME_LEN][w->frame.node]
			 [w->frame.cache_type];
}

/* Has @a no empty warm frame of @w's kind but @w? Lock held. */
static bool arena_lacks_empty(const struct arena *a, const struct warm *w)
{
	for (const struct warm *o = a->frames; o; o = o->next)
		if (o != w && (o->counted || o->idle) && o->frame.node == w->frame.node &&
		    o->frame.cache_type == w->frame.cache_type &&
		    (o->frame.page_len > CONTIG_FAST_FRAME_LEN) ==
			    (w->frame.page_len > CONTIG_FAST_FRAME_LEN))
			return false;
	return true;
}

/* @w has just become empty: keep it warm (true; counted) if its kind has
 * fewer than the reserve empty, or if its arena has no other empty frame
 * of its kind (else a thread whose arena is empty would give a frame back
 * at every free while other arenas hold the reserve); else false: the
 * caller gives it back. Its arena's lock held. */
static bool keep_empty(struct contig_fast *f, struct warm *w)
{
	atomic_uint *n = nempty_of(f, w);

	if (!n || w->windowed || !atomic_load_explicit(&f->reserve, memory_order_relaxed))
		return false;
	/* (The arena's own first: no atomic shared between threads on the
	 * path of one buffer allocated and freed over and over.) */
	if (arena_lacks_empty(atomic_load_explicit(&w->arena, memory_order_relaxed), w)) {
		w->idle = true;
		return true;
	}
	if (atomic_fetch_add(n, 1) < atomic_load(&f->reserve)) {
		w->counted = true;
		return true;
	}
	atomic_fetch_sub(n, 1);
	return false;
}

static void warm_used(struct contig_fast *f, struct warm *w)
{
	w->idle = false;
	if (w->counted) {
		atomic_fetch_sub(nempty_of(f, w), 1);
		w->counted = false;
	}
}

/* A struct for a new warm frame: a spare one, or a new one. */
static struct warm *warm_new(struct contig_fast *f)
{
	struct warm *w;

	pthread_mutex_lock(&f->spare_lock);
	w = f->spare;
	if (w)
		f->spare = w->next;
	pthread_mutex_unlock(&f->spare_lock);
	if (!w) {
		w = malloc(sizeof(*w));
		if (!w)
			return NULL;
		atomic_init(&w->arena, NULL);
		pthread_mutex_lock(&f->spare_lock);
		w->all = f->all;
		f->all = w;
		pthread_mutex_unlock(&f->spare_lock);
	}
	w->next = NULL;
	w->nbufs = 0;
	w->counted = false;
	w->idle = false;
	w->windowed = false;
	contig_range_set_init(&w->free);
	for (size_t i = 0; i < FRAME_PAGES; i++)
		w->start[i] = NO_BUF;
	return w;
}

static void warm_spare(struct contig_fast *f, struct warm *w)
{
	contig_range_set_done(&w->free);
	atomic_store(&w->arena, NULL);
	pthread_mutex_lock(&f->spare_lock);
	w->next = f->spare;
	f->spare = w;
	pthread_mutex_unlock(&f->spare_lock);
}

/* Unlink @w from @a (lock held) and the radix table. */
static void warm_unlink(struct contig_fast *f, struct arena *a, struct warm *w)
{
	_Atomic(struct warm *) *slot = radix_slot(f, w->frame.virt, false);

	for (struct warm **p = &a->frames; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (slot)
		atomic_store_explicit(slot, NULL, memory_order_release);
	warm_used(f, w);
}

/* Give @w, unlinked, back to the daemon. No arena lock held. */
static void warm_release(struct contig_fast *f, struct warm *w)
{
	contig_frame_free(f->client, w->frame.virt);
	warm_spare(f, w);
}

/* Take [@phys, @phys + @len) of @w for a buffer of @req. Lock held. */
static int warm_take(struct contig_fast *f, struct warm *w, const struct contig_alloc_req *req,
		     uint64_t phys, uint64_t len, struct contig_buffer *ret_buf)
{
	struct arena *a = atomic_load_explicit(&w->arena, memory_order_relaxed);
	uint64_t off = phys - w->frame.phys;
	uint16_t first = (uint16_t)(off / SMALL_PAGE);

	if (contig_range_take(&w->free, phys, len) < 0)
		return -EAGAIN;
	for (uint64_t i = 0; i < len / SMALL_PAGE; i++)
		w->start[first + i] = first;
	w->meta[first] = (struct fast_meta){
		.id = CONTIG_FAST_ID | (uint64_t)(a - f->arenas) << 56 |
		      (a->next_id++ & ((UINT64_C(1) << 56) - 1)),
		.len = len,
		.req_len = req->len,
		.user_data = req->user_data,
		.tag = req->tag,
	};
	if (w->nbufs++ == 0)
		warm_used(f, w);
	*ret_buf = (struct contig_buffer){
		.virt = (uint8_t *)w->frame.virt + off,
		.phys = phys,
		.len = len,
		.id = w->meta[first].id,
		.page_len = w->frame.page_len,
		.node = w->frame.node,
		.cache_type = w->frame.cache_type,
		.user_data = req->user_data,
		.req_len = req->len,
		.tag = req->tag,
	};
	return 0;
}

/* Does @w suit @req's node and cache type? */
static bool warm_suits(const struct warm *w, const struct contig_alloc_req *req)
{
	return w->frame.cache_type == req->cache_type &&
	       (req->node == CONTIG_NODE_ANY || w->frame.node == req->node);
}

/* A new warm frame for @req, linked into @a. Returns it, or NULL. No lock
 * held; returns with @a's lock held when not NULL. */
static struct warm *warm_get(struct contig_fast *f, struct arena *a,
			     const struct contig_alloc_req *req)
{
	struct contig_alloc_req fr = *req;
	_Atomic(struct warm *) *slot;
	struct warm *w;

	fr.len = CONTIG_FAST_FRAME_LEN;
	fr.align = CONTIG_FAST_FRAME_LEN;
	fr.boundary = 0;
	fr.user_data = 0;
	fr.lowest_phys = req->lowest_phys & ~(uint64_t)(CONTIG_FAST_FRAME_LEN - 1);
	if (req->highest_phys < CONTIG_PHYS_MAX - CONTIG_FAST_FRAME_LEN)
		fr.highest_phys = (req->highest_phys | (CONTIG_FAST_FRAME_LEN - 1));
	w = warm_new(f);
	if (!w)
		return NULL;
	w->windowed = fr.lowest_phys != 0 || fr.highest_phys != CONTIG_PHYS_MAX;
	if (contig_frame_alloc(f->client, &fr, &w->frame) < 0) {
		warm_spare(f, w);
		return NULL;
	}
	slot = radix_slot(f, w->frame.virt, true);
	if (!slot || (uintptr_t)w->frame.virt % CONTIG_FAST_FRAME_LEN ||
	    w->frame.len != CONTIG_FAST_FRAME_LEN ||
	    contig_range_give(&w->free, w->frame.phys, CONTIG_FAST_FRAME_LEN) < 0) {
		warm_release(f, w);
		return NULL;
	}
	pthread_mutex_lock(&a->lock);
	atomic_store(&w->arena, a);
	w->next = a->frames;
	a->frames = w;
	atomic_store_explicit(slot, w, memory_order_release);
	return w;
}

int contig_fast_alloc(struct contig_fast *f, const struct contig_alloc_req *req, unsigned flags,
		      struct contig_buffer *ret_buf)
{
	struct contig_range_req rr;
	struct arena *a;
	struct warm *w;
	uint64_t phys;
	int r;

	(void)flags;
	if (!f || !atomic_load_explicit(&f->on, memory_order_relaxed) || req->len == 0 ||
	    req->len > CONTIG_FAST_MAX_LEN || req->cache_type < 0 ||
	    req->cache_type >= NKIND_CACHE || req->node < CONTIG_NODE_ANY ||
	    req->node >= NKIND_NODES || req->priority > 47u || req->align > CONTIG_FAST_FRAME_LEN ||
	    (req->align & (req->align - 1)))
		return -EAGAIN; /* (the daemon says what is wrong, as without a fast path) */
	rr = (struct contig_range_req){
		.len = (req->len + SMALL_PAGE - 1) & ~(uint64_t)(SMALL_PAGE - 1),
		.align = req->align > SMALL_PAGE ? req->align : SMALL_PAGE,
		.lowest = req->lowest_phys,
		.highest = req->highest_phys,
		.boundary = req->boundary,
	};
	if (contig_range_req_check(&rr, NULL) < 0)
		return -EAGAIN;
	a = arena_of_thread(f);
	pthread_mutex_lock(&a->lock);
	for (w = a->frames; w; w = w->next)
		if (warm_suits(w, req) && contig_range_find(&w->free, &rr, &phys) == 0)
			goto found;
	pthread_mutex_unlock(&a->lock);
	w = warm_get(f, a, req);
	if (!w)
		return -EAGAIN;
	if (contig_range_find(&w->free, &rr, &phys) < 0) {
		/* (A window narrower than the warm frame the daemon gave.) */
		if (!keep_empty(f, w)) {
			warm_unlink(f, a, w);
			pthread_mutex_unlock(&a->lock);
			warm_release(f, w);
			return -EAGAIN;
		}
		pthread_mutex_unlock(&a->lock);
		return -EAGAIN;
	}
found:
	r = warm_take(f, w, req, phys, rr.len, ret_buf);
	pthread_mutex_unlock(&a->lock);
	return r;
}

int contig_fast_trim(struct contig_fast *f)
{
	struct warm *empty = NULL;
	int r = 0;

	if (!f)
		return 0;
	/* Unlinked under each arena's lock, given back with none held (a
	 * round trip each). A buffer cut meanwhile goes to a frame still
	 * linked or to a new one. */
	for (int i = 0; i < NARENAS; i++) {
		struct arena *a = &f->arenas[i];

		pthread_mutex_lock(&a->lock);
		for (struct warm *w = a->frames, *next; w; w = next) {
			next = w->next;
			if (w->nbufs)
				continue;
			warm_unlink(f, a, w);
			w->next = empty;
			empty = w;
		}
		pthread_mutex_unlock(&a->lock);
	}
	while (empty) {
		struct warm *w = empty;
		int err;

		empty = w->next;
		err = contig_frame_free(f->client, w->frame.virt);
		if (err < 0 && r >= 0)
			r = err;
		else if (err == 0 && r >= 0)
			r++;
		warm_spare(f, w);
	}
	return r;
}

/* The warm frame holding @virt with its arena's lock held, or NULL. */
static struct warm *warm_lock(struct contig_fast *f, const void *virt)
{
	_Atomic(struct warm *) *slot = radix_slot(f, virt, false);
	struct warm *w;
	struct arena *a;

	if (!slot || !(w = atomic_load_explicit(slot, memory_order_acquire)))
		return NULL;
	a = atomic_load(&w->arena);
	if (!a)
		return NULL;
	pthread_mutex_lock(&a->lock);
	/* Still that frame, in that arena? (A struct may have been given
	 * back and reused meanwhile.) */
	if (atomic_load(slot) != w || atomic_load(&w->arena) != a) {
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	return w;
}

static void warm_unlock(struct warm *w)
{
	pthread_mutex_unlock(&atomic_load(&w->arena)->lock);
}

/* The page of @w at @virt, and its buffer's first page, or NO_BUF. */
static uint16_t first_page(const struct warm *w, const void *virt)
{
	size_t page = (size_t)((const uint8_t *)virt - (const uint8_t *)w->frame.virt) / SMALL_PAGE;

	return w->start[page];
}

int contig_fast_free_buf(struct contig_fast *f, void *virt, const uint64_t *len, const int *cache)
{
	struct warm *w;
	struct arena *a;
	uint16_t first;
	uint64_t off;

	if (!f || !(w = warm_lock(f, virt)))
		return -ENOENT;
	off = (uint64_t)((uint8_t *)virt - (uint8_t *)w->frame.virt);
	first = first_page(w, virt);
	if (first == NO_BUF || off != (uint64_t)first * SMALL_PAGE) {
		warm_unlock(w);
		return -ENOENT;
	}
	if ((len && *len != w->meta[first].req_len) || (cache && *cache != w->frame.cache_type)) {
		uint64_t req_len = w->meta[first].req_len;
		int type = w->frame.cache_type;

		warm_unlock(w);
		return contig_fail(-EILSEQ,
				   "mismatch: buffer at %p was allocated with len %llu and cache type "
				   "%d; nothing freed",
				   virt, (unsigned long long)req_len, type);
	}
	for (uint64_t i = 0; i < w->meta[first].len / SMALL_PAGE; i++)
		w->start[first + i] = NO_BUF;
	/* (Cannot fail: the range was taken, so giving it back needs at most a
	 * node the take freed.) */
	contig_range_give(&w->free, w->frame.phys + off, w->meta[first].len);
	a = atomic_load(&w->arena);
	if (--w->nbufs == 0 && !keep_empty(f, w)) {
		warm_unlink(f, a, w);
		pthread_mutex_unlock(&a->lock);
		warm_release(f, w);
		return 0;
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* The buffer of @w whose first page is @first. */
static void buffer_at(const struct warm *w, uint16_t first, struct contig_buffer *ret_buf)
{
	const struct fast_meta *m = &w->meta[first];
	uint64_t off = (uint64_t)first * SMALL_PAGE;

	*ret_buf = (struct contig_buffer){
		.virt = (uint8_t *)w->frame.virt + off,
		.phys = w->frame.phys + off,
		.len = m->len,
		.id = m->id,
		.page_len = w->frame.page_len,
		.node = w->frame.node,
		.cache_type = w->frame.cache_type,
		.user_data = m->user_data,
		.req_len = m->req_len,
		.tag = m->tag,
	};
}

int contig_fast_lookup(struct contig_fast *f, const void *virt, struct contig_buffer *ret_buf)
{
	struct warm *w;
	uint16_t first;

	if (!f || !(w = warm_lock(f, virt)))
		return -ENOENT;
	first = first_page(w, virt);
	if (first != NO_BUF)
		buffer_at(w, first, ret_buf);
	warm_unlock(w);
	return first == NO_BUF ? -ENOENT : 0;
}

void contig_fast_fork_prepare(struct contig_fast *f)
{
	for (int i = 0; f && i < NARENAS; i++)
		pthread_mutex_lock(&f->arenas[i].lock);
	if (f)
		pthread_mutex_lock(&f->spare_lock);
}

void contig_fast_fork_parent(struct contig_fast *f)
{
	if (!f)
		return;
	pthread_mutex_unlock(&f->spare_lock);
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_unlock(&f->arenas[i].lock);
}

void contig_fast_fork_child(struct contig_fast *f)
{
	if (!f)
		return;
	/* Only what the warm frames touch is written: every page written here
	 * is a copy-on-write fault in the child, and in the parent at its
	 * next write (the radix leaves are 64 KiB each). A frame's slot is
	 * set exactly while it is on its arena's list. */
	for (int i = 0; i < NARENAS; i++) {
		struct arena *a = &f->arenas[i];

		while (a->frames) {
			struct warm *w = a->frames;
			_Atomic(struct warm *) *slot = radix_slot(f, w->frame.virt, false);
			atomic_uint *n = nempty_of(f, w);

			if (slot)
				atomic_store_explicit(slot, NULL, memory_order_relaxed);
			if (n && atomic_load_explicit(n, memory_order_relaxed))
				atomic_store_explicit(n, 0, memory_order_relaxed);
			a->frames = w->next;
			w->next = f->forked;
			f->forked = w;
		}
	}
	pthread_mutex_unlock(&f->spare_lock);
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_unlock(&f->arenas[i].lock);
}

size_t contig_fast_forked(struct contig_fast *f, struct contig_buffer *ret_bufs, size_t max)
{
	size_t n = 0;

	for (struct warm *w = f ? f->forked : NULL; w; w = w->next)
		for (uint16_t p = 0; p < FRAME_PAGES; p++)
			if (w->start[p] == p) {
				if (ret_bufs && n < max)
					buffer_at(w, p, &ret_bufs[n]);
				n++;
			}
	return n;
}

void contig_fast_forked_done(struct contig_fast *f)
{
	while (f && f->forked) {
		struct warm *w = f->forked;

		f->forked = w->next;
		warm_spare(f, w);
	}
}
