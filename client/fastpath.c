/* fastpath.c - libcontig's fast path: small buffers inside warm frames,
 * served in the client without a round trip.
 *
 * DESIGN
 * A warm frame is an ordinary buffer of CONTIG_FAST_FRAME_LEN (2 MiB)
 * bytes, aligned to its length, that the library allocates from the daemon
 * with the constraints of the request that needed it (node, cache type,
 * priority, tag; a physical window widened to whole warm frames;
 * AllocRequest.warm) and keeps mapped. The daemon charges and journals its
 * frame as any buffer's, so the restart and death promises hold for it
 * unchanged and byte quotas cannot be exceeded through the fast path (the
 * whole warm frame is charged already); it lists and counts the buffers
 * reported cut from it instead (Reports). A request of at most
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
 * Reports (proto/README.md, "Fast-path reports"; only with a daemon that
 * accepts_carves: contig.c's fast_ready()). Each arena queues, under its
 * lock, a carve per allocation and the id of each free, with what they
 * encode to, up to QUEUE_BYTES (a whole request less its own fields: the
 * bound N). A free whose carve is still queued takes it out instead and
 * counts a transient of its tag (its pages free at once); any other
 * free's pages stay out of the free ranges (quarantined) until the free
 * is taken for a report, because the daemon applies a report's carves
 * before its frees, and a warm frame goes back to the daemon only with
 * no buffer and nothing quarantined (after the report that freed its
 * last, whose carves the daemon had before). report_lock makes taking the
 * queues and sending the report one step, so reports reach the daemon in
 * the order taken. The reporter thread (started at contig_connect() with the
 * fast path on, else with the first warm frame; every signal blocked) sleeps until a queue is half full or the
 * first op queued is CONTIG_FAST_REPORT_MS old (no deadline while nothing
 * is queued: queued() wakes it, a Dekker pair of seq_cst atomics); a
 * thread that finds its queue full reports itself and waits
 * (REPORT_FULL); contig_fast_flush() reports now and waits. A report lost
 * with a daemon restart is sent again by the wire with its seq (reports
 * are idempotent). Buffer-count limits: CarveReply.buffers_left; below
 * TIGHT_LEFT every allocation takes one of a budget (a shared atomic,
 * only then; a HelloReply.buffers_left far from the limits sets none, so
 * that a new client's first small allocation costs its warm frame's round
 * trip only), and one past it reports (asking again), then goes to the
 * daemon, whose view is then exact and which refuses it.
 *
 * Never calls the wire, the daemon's code, or anything but
 * contig_frame_alloc()/contig_frame_free()/contig_frame_report() of
 * contig.c for a round trip.
 */
#include "fastpath.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "range.h"

#define SMALL_PAGE 4096u
#define FRAME_PAGES (CONTIG_FAST_FRAME_LEN / SMALL_PAGE)
#define NO_BUF UINT16_MAX
#define NARENAS 8
_Static_assert(NARENAS <= 8, "next_id() gives the arena's index 3 bits");
#define NKIND_NODES 64
#define NKIND_CACHE 6
/* The radix table: virt / CONTIG_FAST_FRAME_LEN below 2^(2 * RADIX_BITS)
 * (47-bit user addresses); a warm frame mapped above is given back. */
#define RADIX_BITS 13
#define RADIX_LEN (1u << RADIX_BITS)

/* Reports (see DESIGN, "Reports"). An arena's queue encodes to at most
 * QUEUE_BYTES, so that every arena's fits one request with the request's
 * own fields (seq, the oneof's and the frees' headers: under 32 bytes). */
#define QUEUE_BYTES (CONTIG_FAST_REPORT_LEN - 64u)
#define QUEUE_WAKE_BYTES (QUEUE_BYTES / 2)
/* Bounds on the entries: a carve is at least 15 bytes (ids are at least
 * 2^31: 5 bytes, a len of 4096: 2; in practice 19, the warm frame's id
 * taking 5), a free 5. queue_room() checks the bytes as well. */
#define QUEUE_ALLOCS (QUEUE_BYTES / 15u)
#define QUEUE_FREES (QUEUE_BYTES / 5u)
#define QUEUE_TAGS 8
#define TRANSIENT_BYTES 25u /* the most one CarveTransient encodes to */
#define NOT_QUEUED UINT16_MAX
/* Buffer-count limits: below this many buffers left, every fast-path
 * allocation is counted against CarveReply.buffers_left (more than the
 * allocations that could go unreported: NARENAS queues, and one report in
 * flight of as many). */
#define TIGHT_LEFT (2 * NARENAS * QUEUE_ALLOCS)

struct arena;

/* One live buffer of a warm frame, kept at its first page. */
struct fast_meta {
	uint64_t id, len, req_len, user_data;
	uint32_t tag;
	uint16_t qpos;   /* its carve in its arena's queue, or NOT_QUEUED (reported) */
	uint16_t qbytes; /* what that carve encodes to */
};

/* An allocation not yet reported: the buffer at page @first of @w. */
struct queued_alloc {
	struct warm *w;
	uint16_t first;
};

/* A free of a reported carve not yet reported: its pages are kept out of
 * the warm frame's free ranges until the report is taken (quarantine). */
struct queued_free {
	uint64_t id;
	struct warm *w;
	uint32_t offset, len;
};

struct warm {
	_Atomic(struct arena *) arena; /* NULL while spare */
	struct warm *next;             /* on its arena's list, the forked or the spare list */
	struct warm *all;              /* every struct, for contig_fast_free() */
	struct contig_buffer frame;    /* the daemon's buffer */
	struct contig_range_set free;  /* free physical ranges */
	uint32_t nbufs;
	uint32_t nquarantined; /* frees of it queued, their pages not yet free */
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
	/* What it has not reported (lock held; pending and since read by the
	 * reporter without it). */
	struct queued_alloc allocs[QUEUE_ALLOCS];
	struct queued_free frees[QUEUE_FREES];
	struct contig_wire_transient tags[QUEUE_TAGS];
	uint32_t nallocs, nfrees, ntags, bytes;
	atomic_bool pending;
	_Atomic uint64_t since_ns; /* the coarse clock at its first unreported op */
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

	/* Reports. report_lock: taken, sent, answered as one (in the order
	 * taken); guards the rest of this block but the atomics. Lock order:
	 * report_lock, then an arena's lock or (none held) the client's
	 * (contig_frame_report()); wake_lock is a leaf. */
	pthread_mutex_t report_lock;
	struct contig_wire_carve rep_allocs[NARENAS * QUEUE_ALLOCS];
	uint64_t rep_frees[NARENAS * QUEUE_FREES];
	struct contig_wire_transient rep_tags[NARENAS * QUEUE_TAGS];
	size_t rep_nallocs, rep_nfrees, rep_ntags, rep_bytes;
	struct warm *rep_release; /* emptied by the report: given back after it */
	/* Buffer-count limits (CarveReply.buffers_left): tight, every
	 * allocation takes one of budget. */
	atomic_bool tight;
	atomic_bool left_known;
	_Atomic int64_t budget;
	/* The reporter thread. */
	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	pthread_t reporter;
	bool reporter_started, stop;
	bool reporter_running; /* its thread is in reporter_main() (wake_lock) */
	atomic_bool reporter_idle; /* waiting without a deadline */
	atomic_bool want_report;   /* a queue is half full */
	/* contig_get_fast_stats() */
	atomic_uint_fast64_t nreports, nbackground;
};

static atomic_uint next_arena;
static _Thread_local unsigned my_arena; /* 0: none yet, else index + 1 */

static struct arena *arena_of_thread(struct contig_fast *f)
{
	if (!my_arena)
		my_arena = atomic_fetch_add_explicit(&next_arena, 1, memory_order_relaxed) % NARENAS + 1;
	return &f->arenas[my_arena - 1];
}

static void *reporter_main(void *p);
static int report_now(struct contig_fast *f, int why);

struct contig_fast *contig_fast_new(struct contig_client *c, bool on)
{
	struct contig_fast *f = calloc(1, sizeof(*f));
	pthread_condattr_t attr;
	const char *env;

	if (!f)
		return NULL;
	f->client = c;
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_init(&f->arenas[i].lock, NULL);
	pthread_mutex_init(&f->spare_lock, NULL);
	pthread_mutex_init(&f->report_lock, NULL);
	pthread_mutex_init(&f->wake_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &attr);
	pthread_condattr_destroy(&attr);
	atomic_init(&f->tight, true); /* (until the first reply says how many) */
	if ((env = getenv("CONTIGD_FAST_PATH")) && *env)
		on = strcmp(env, "0") != 0;
	atomic_init(&f->on, on);
	atomic_init(&f->reserve, CONTIG_FAST_RESERVE_DEFAULT);
	if ((env = getenv("CONTIGD_FAST_RESERVE")) && *env)
		contig_fast_set_reserve(f, (unsigned)strtoul(env, NULL, 10));
	return f;
}

/* Stop the reporter thread, if it runs. */
static void reporter_stop(struct contig_fast *f)
{
	pthread_mutex_lock(&f->wake_lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->wake_lock);
	if (f->reporter_started)
		pthread_join(f->reporter, NULL);
	f->reporter_started = false;
}

/* Start the reporter thread unless it runs, every signal blocked in it. */
static void reporter_start(struct contig_fast *f)
{
	sigset_t all, old;

	pthread_mutex_lock(&f->wake_lock);
	if (!f->reporter_started && !f->stop) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		f->reporter_started = pthread_create(&f->reporter, NULL, reporter_main, f) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		/* Until the thread runs: a fork() right after contig_connect()
		 * must not find it half started (ASan's allocator, used by a
		 * new thread before its start routine, is not fork-safe: the
		 * child hung in its first malloc()). */
		while (f->reporter_started && !f->reporter_running)
			pthread_cond_wait(&f->wake, &f->wake_lock);
	}
	pthread_mutex_unlock(&f->wake_lock);
}

void contig_fast_free(struct contig_fast *f)
{
	if (!f)
		return;
	reporter_stop(f);
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
	pthread_mutex_destroy(&f->report_lock);
	pthread_mutex_destroy(&f->wake_lock);
	pthread_cond_destroy(&f->wake);
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
	w->nquarantined = 0;
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

/* ---- Reports ---- */

enum report_why {
	REPORT_BACKGROUND, /* the reporter thread: only if one is due */
	REPORT_FULL,       /* an allocating or freeing thread's queue is full */
	REPORT_QUOTA,      /* the buffer budget is spent: what is the limit now? */
	REPORT_FLUSH,      /* contig_flush() */
};

static unsigned varint_len(uint64_t v)
{
	return v ? (unsigned)(70 - __builtin_clzll(v)) / 7 : 1;
}

/* What a carve encodes to in a CarveRequest (field 1: tag, length, body). */
static unsigned carve_bytes(uint64_t id, uint64_t frame_id, uint64_t offset, uint64_t len,
			    uint64_t req_len, uint32_t tag)
{
	unsigned body = 4 + varint_len(id) + varint_len(frame_id) + varint_len(offset) +
			varint_len(len) + (tag ? 5 : 0) + (req_len != len ? 1 + varint_len(req_len) : 0);

	return 1 + varint_len(body) + body;
}

/* The largest a carve of ours encodes to. */
#define CARVE_BYTES_MAX (2u + 4u + 10u + 10u + 3u + 3u + 5u + 4u)

/* The id of the next buffer of @a: bit 31 set, so that it is never one of
 * the daemon's (generation << 32 | slot + 1, slot + 1 below 2^31); below
 * it the arena's index and the low 28 bits of its counter, above bit 32
 * the rest of the counter. 5 bytes on the wire for an arena's first 2^31
 * buffers; unique for 2^60, so that a buffer held for ever (a ring
 * allocated at startup) never meets its id again (a report naming a live
 * id for another buffer would be refused whole). Lock held. */
static uint64_t next_id(const struct contig_fast *f, const struct arena *a)
{
	uint64_t c = a->next_id;

	return (c >> 28) << 32 | UINT64_C(1) << 31 | (c & ((UINT64_C(1) << 28) - 1)) << 3 |
	       (uint64_t)(a - f->arenas);
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An op was queued in @a: note when the first came, and ask the reporter
 * to come if it sleeps without a deadline or the queue is half full.
 * Returns whether to wake it (wake_reporter(), with no lock held). @a's
 * lock held. */
static bool queued(struct contig_fast *f, struct arena *a)
{
	bool wake = false;

	if (!atomic_load_explicit(&a->pending, memory_order_relaxed)) {
		/* (The coarse clock lags: the report can only come early.) */
		atomic_store_explicit(&a->since_ns, clock_ns(CLOCK_MONOTONIC_COARSE),
				      memory_order_relaxed);
		atomic_store(&a->pending, true); /* (seq_cst: see reporter_main()) */
		wake = atomic_load(&f->reporter_idle);
	}
	if (a->bytes >= QUEUE_WAKE_BYTES &&
	    !atomic_load_explicit(&f->want_report, memory_order_relaxed)) {
		atomic_store(&f->want_report, true);
		wake = true;
	}
	return wake;
}

static void wake_reporter(struct contig_fast *f)
{
	pthread_mutex_lock(&f->wake_lock);
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->wake_lock);
}

/* Room in @a's queue for an entry of @bytes (and, @alloc, a carve)? */
static bool queue_room(const struct arena *a, unsigned bytes, bool alloc)
{
	return a->bytes + bytes <= QUEUE_BYTES &&
	       (alloc ? a->nallocs < QUEUE_ALLOCS : a->nfrees < QUEUE_FREES);
}

/* Take the allocation of @w's buffer at page @first out of its arena's
 * queue, counted as a transient of its tag instead. Returns false (nothing
 * changed) when the queue has no room for a new tag. Lock held. */
static bool unqueue_alloc(struct arena *a, struct warm *w, uint16_t first)
{
	struct fast_meta *m = &w->meta[first];
	struct contig_wire_transient *t = NULL;
	struct queued_alloc *last;

	for (uint32_t i = 0; i < a->ntags && !t; i++)
		if (a->tags[i].tag == m->tag)
			t = &a->tags[i];
	if (!t) {
		if (a->ntags == QUEUE_TAGS || a->bytes - m->qbytes + TRANSIENT_BYTES > QUEUE_BYTES)
			return false;
		t = &a->tags[a->ntags++];
		*t = (struct contig_wire_transient){ .tag = m->tag };
		a->bytes += TRANSIENT_BYTES;
	}
	t->count++;
	t->len += m->len;
	a->bytes -= m->qbytes;
	last = &a->allocs[--a->nallocs];
	if (m->qpos != a->nallocs) {
		a->allocs[m->qpos] = *last;
		last->w->meta[last->first].qpos = m->qpos;
	}
	m->qpos = NOT_QUEUED;
	return true;
}

/* Move @a's queue into the report being built (f->rep_*): frees'
 * quarantined pages go back to their warm frames, and a warm frame left
 * empty by them is kept or unlinked for f->rep_release. report_lock and
 * @a's lock held. */
static void arena_take(struct contig_fast *f, struct arena *a)
{
	for (uint32_t i = 0; i < a->nallocs; i++) {
		struct warm *w = a->allocs[i].w;
		uint16_t first = a->allocs[i].first;
		struct fast_meta *m = &w->meta[first];

		f->rep_allocs[f->rep_nallocs++] = (struct contig_wire_carve){
			.id = m->id,
			.frame_id = w->frame.id,
			.offset = (uint64_t)first * SMALL_PAGE,
			.len = m->len,
			.req_len = m->req_len,
			.tag = m->tag,
		};
		m->qpos = NOT_QUEUED;
	}
	for (uint32_t i = 0; i < a->nfrees; i++) {
		struct queued_free *q = &a->frees[i];
		struct warm *w = q->w;

		f->rep_frees[f->rep_nfrees++] = q->id;
		/* (As in contig_fast_free_buf(): cannot fail.) */
		contig_range_give(&w->free, w->frame.phys + q->offset, q->len);
		if (--w->nquarantined == 0 && w->nbufs == 0 && !keep_empty(f, w)) {
			warm_unlink(f, a, w);
			w->next = f->rep_release;
			f->rep_release = w;
		}
	}
	for (uint32_t i = 0; i < a->ntags; i++) {
		size_t k = 0;

		while (k < f->rep_ntags && f->rep_tags[k].tag != a->tags[i].tag)
			k++;
		if (k == f->rep_ntags)
			f->rep_tags[f->rep_ntags++] = (struct contig_wire_transient){ .tag = a->tags[i].tag };
		f->rep_tags[k].count += a->tags[i].count;
		f->rep_tags[k].len += a->tags[i].len;
	}
	f->rep_bytes += a->bytes;
	a->nallocs = a->nfrees = a->ntags = a->bytes = 0;
	atomic_store(&a->pending, false);
}

/* CarveReply.buffers_left is @left (-1: no limit) after a report taken when
 * the budget was @b0: the budget from now on. */
static void budget_set(struct contig_fast *f, int64_t left, int64_t b0)
{
	if (left < 0 || left >= TIGHT_LEFT) {
		atomic_store(&f->tight, false);
	} else if (atomic_load(&f->tight) && atomic_load(&f->left_known)) {
		/* Less what was allocated since it was taken. */
		atomic_fetch_add(&f->budget, left - b0);
	} else {
		/* Allocations since were not counted: at most every queue full. */
		atomic_store(&f->budget, left - (int64_t)(NARENAS * QUEUE_ALLOCS));
		atomic_store(&f->tight, true);
	}
	atomic_store(&f->left_known, true);
}

void contig_fast_connected(struct contig_fast *f, bool accepts_carves, int64_t left)
{
	if (!f || !accepts_carves)
		return;
	/* The reporter thread now, not at the first small allocation: a
	 * pthread_create() made a cold client's first allocation 1.4x one
	 * without the fast path. */
	if (atomic_load(&f->on))
		reporter_start(f);
	/* Far from the limits, no budget is kept (as after a report saying
	 * so). Near them the first small allocation asks: a user's other
	 * sessions share max_buffers_per_user, so a budget from the hello
	 * could let two sessions of one user pass it together. */
	if (left == -1 || left >= TIGHT_LEFT) {
		atomic_store(&f->tight, false);
		atomic_store(&f->left_known, true);
	}
}

/* Send the report built, then give back the warm frames it emptied.
 * Returns 0 or -errno. report_lock held. */
static int report_send(struct contig_fast *f, int why, int64_t b0)
{
	struct contig_wire_report rep = {
		.allocs = f->rep_allocs,
		.nallocs = f->rep_nallocs,
		.frees = f->rep_frees,
		.nfrees = f->rep_nfrees,
		.transients = f->rep_tags,
		.ntransients = f->rep_ntags,
	};
	int64_t left;
	int r = contig_frame_report(f->client, &rep, &left);

	atomic_fetch_add(&f->nreports, 1);
	if (why == REPORT_BACKGROUND)
		atomic_fetch_add(&f->nbackground, 1);
	if (r == 0)
		budget_set(f, left, b0);
	f->rep_nallocs = f->rep_nfrees = f->rep_ntags = f->rep_bytes = 0;
	while (f->rep_release) {
		struct warm *w = f->rep_release;

		f->rep_release = w->next;
		warm_release(f, w);
	}
	return r;
}

/* Is a report due (a queue half full, or its first op REPORT_MS old)? */
static bool report_due(struct contig_fast *f, uint64_t *ret_deadline)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC), deadline = UINT64_MAX;

	if (atomic_load(&f->want_report))
		return true;
	for (int i = 0; i < NARENAS; i++)
		if (atomic_load(&f->arenas[i].pending)) {
			uint64_t d = atomic_load_explicit(&f->arenas[i].since_ns,
							  memory_order_relaxed) +
				     CONTIG_FAST_REPORT_MS * 1000000ull;

			if (d <= now)
				return true;
			if (d < deadline)
				deadline = d;
		}
	if (ret_deadline)
		*ret_deadline = deadline;
	return false;
}

/* Report every arena's queue (one request each time the next would not
 * fit), and wait for the replies; @why. Returns 0 or the first -errno
 * (what a failed report said is lost: the daemon's view stays short of
 * it, as it is of a dead session). No lock held. */
static int report_now(struct contig_fast *f, int why)
{
	int64_t b0 = 0;
	int r = 0;

	pthread_mutex_lock(&f->report_lock);
	if (why == REPORT_BACKGROUND && !report_due(f, NULL)) {
		pthread_mutex_unlock(&f->report_lock);
		return 0;
	}
	atomic_store(&f->want_report, false);
	for (int i = 0; i < NARENAS; i++) {
		struct arena *a = &f->arenas[i];

		if (!atomic_load(&a->pending))
			continue;
		pthread_mutex_lock(&a->lock);
		if (f->rep_bytes && f->rep_bytes + a->bytes > QUEUE_BYTES) {
			int e;

			pthread_mutex_unlock(&a->lock);
			e = report_send(f, why, b0);
			r = r ? r : e;
			pthread_mutex_lock(&a->lock);
		}
		if (!f->rep_bytes)
			b0 = atomic_load(&f->budget); /* (before the first of a report taken) */
		arena_take(f, a);
		pthread_mutex_unlock(&a->lock);
	}
	/* (An empty report asks for buffers_left.) */
	if (f->rep_bytes || f->rep_release ||
	    (why == REPORT_QUOTA && atomic_load(&f->tight))) {
		int e = report_send(f, why, f->rep_bytes ? b0 : atomic_load(&f->budget));

		r = r ? r : e;
	}
	pthread_mutex_unlock(&f->report_lock);
	return r;
}

/* The reporter thread: sleeps until a queue is half full or its first op
 * is REPORT_MS old (without a deadline while nothing is queued), then
 * reports. */
static void *reporter_main(void *p)
{
	struct contig_fast *f = p;

	pthread_mutex_lock(&f->wake_lock);
	f->reporter_running = true;
	pthread_cond_broadcast(&f->wake); /* (reporter_start() waits for it) */
	while (!f->stop) {
		uint64_t deadline;
		bool any = false;

		/* (Dekker's with queued(): idle stored before pending is read
		 * there, pending before idle is read here; seq_cst both.) */
		atomic_store(&f->reporter_idle, true);
		for (int i = 0; i < NARENAS && !any; i++)
			any = atomic_load(&f->arenas[i].pending);
		if (!any) {
			pthread_cond_wait(&f->wake, &f->wake_lock);
			continue;
		}
		atomic_store(&f->reporter_idle, false);
		if (!report_due(f, &deadline)) {
			struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000u),
					       .tv_nsec = (long)(deadline % 1000000000u) };

			pthread_cond_timedwait(&f->wake, &f->wake_lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&f->wake_lock);
		report_now(f, REPORT_BACKGROUND);
		pthread_mutex_lock(&f->wake_lock);
	}
	atomic_store(&f->reporter_idle, false);
	f->reporter_running = false;
	pthread_mutex_unlock(&f->wake_lock);
	return NULL;
}

int contig_fast_flush(struct contig_fast *f)
{
	/* (Always through report_lock: a report the reporter took is
	 * answered before this returns.) */
	return f ? report_now(f, REPORT_FLUSH) : 0;
}

void contig_fast_counts(struct contig_fast *f, uint64_t *ret_nreports, uint64_t *ret_nbackground)
{
	*ret_nreports = f ? atomic_load(&f->nreports) : 0;
	*ret_nbackground = f ? atomic_load(&f->nbackground) : 0;
}

/* What the carve of a buffer of @req at @phys, @len in @w would encode
 * to, with its arena's next id. */
static unsigned take_bytes(const struct contig_fast *f, const struct arena *a,
			   const struct warm *w, const struct contig_alloc_req *req, uint64_t phys,
			   uint64_t len)
{
	return carve_bytes(next_id(f, a), w->frame.id, phys - w->frame.phys, len, req->len,
			   req->tag);
}

/* Take [@phys, @phys + @len) of @w for a buffer of @req, queued for the
 * next report (queue_room() for @qbytes checked). Lock held. */
static int warm_take(struct contig_fast *f, struct warm *w, const struct contig_alloc_req *req,
		     uint64_t phys, uint64_t len, unsigned qbytes, struct contig_buffer *ret_buf)
{
	struct arena *a = atomic_load_explicit(&w->arena, memory_order_relaxed);
	uint64_t off = phys - w->frame.phys;
	uint16_t first = (uint16_t)(off / SMALL_PAGE);

	if (contig_range_take(&w->free, phys, len) < 0)
		return -EAGAIN;
	for (uint64_t i = 0; i < len / SMALL_PAGE; i++)
		w->start[first + i] = first;
	w->meta[first] = (struct fast_meta){
		.id = next_id(f, a),
		.len = len,
		.req_len = req->len,
		.user_data = req->user_data,
		.tag = req->tag,
		.qpos = (uint16_t)a->nallocs,
		.qbytes = (uint16_t)qbytes,
	};
	a->next_id++;
	a->allocs[a->nallocs++] = (struct queued_alloc){ .w = w, .first = first };
	a->bytes += qbytes;
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
	reporter_start(f);
	pthread_mutex_lock(&a->lock);
	atomic_store(&w->arena, a);
	w->next = a->frames;
	a->frames = w;
	atomic_store_explicit(slot, w, memory_order_release);
	return w;
}

/* One buffer of the budget (tight: buffer-count limits near; *ret_taken
 * then), or false. */
static bool budget_take(struct contig_fast *f, bool *ret_taken)
{
	*ret_taken = false;
	if (!atomic_load_explicit(&f->tight, memory_order_relaxed))
		return true;
	if (atomic_fetch_sub(&f->budget, 1) > 0)
		return *ret_taken = true;
	atomic_fetch_add(&f->budget, 1);
	return false;
}

static void budget_give(struct contig_fast *f, bool taken)
{
	if (taken)
		atomic_fetch_add(&f->budget, 1);
}

int contig_fast_alloc(struct contig_fast *f, const struct contig_alloc_req *req, unsigned flags,
		      struct contig_buffer *ret_buf)
{
	struct contig_range_req rr;
	bool asked = false, taken, wake;
	struct arena *a;
	struct warm *w;
	uint64_t phys;
	unsigned qbytes;
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
again:
	if (!budget_take(f, &taken)) {
		/* The limit may be near: ask once (with what is queued), then
		 * leave it to the daemon, whose view is then ours. */
		if (asked || report_now(f, REPORT_QUOTA) < 0)
			return -EAGAIN;
		asked = true;
		goto again;
	}
	pthread_mutex_lock(&a->lock);
	if (!queue_room(a, CARVE_BYTES_MAX, true)) {
		pthread_mutex_unlock(&a->lock);
		goto full;
	}
	for (w = a->frames; w; w = w->next)
		if (warm_suits(w, req) && contig_range_find(&w->free, &rr, &phys) == 0)
			goto found;
	pthread_mutex_unlock(&a->lock);
	w = warm_get(f, a, req);
	if (!w)
		goto out_budget;
	if (contig_range_find(&w->free, &rr, &phys) < 0 || !queue_room(a, CARVE_BYTES_MAX, true)) {
		/* (A window narrower than the warm frame the daemon gave; or
		 * the queue filled while the lock was not held.) */
		bool full = contig_range_find(&w->free, &rr, &phys) == 0;

		if (!keep_empty(f, w)) {
			warm_unlink(f, a, w);
			pthread_mutex_unlock(&a->lock);
			warm_release(f, w);
		} else {
			pthread_mutex_unlock(&a->lock);
		}
		if (full)
			goto full;
		goto out_budget;
	}
found:
	qbytes = take_bytes(f, a, w, req, phys, rr.len);
	r = warm_take(f, w, req, phys, rr.len, qbytes, ret_buf);
	wake = r == 0 && queued(f, a);
	pthread_mutex_unlock(&a->lock);
	if (wake)
		wake_reporter(f);
	if (r < 0)
		budget_give(f, taken);
	return r;

full:
	/* The queue holds what one report may: this thread waits for it. */
	budget_give(f, taken);
	if (report_now(f, REPORT_FULL) < 0)
		return -EAGAIN;
	goto again;

out_budget:
	budget_give(f, taken);
	return -EAGAIN;
}

int contig_fast_trim(struct contig_fast *f)
{
	struct warm *empty = NULL;
	int r = 0;

	if (!f)
		return 0;
	/* Frees still queued keep their pages (and their frames) out of
	 * reach: report them first, so that what the caller freed comes back
	 * whole. (A failed report changes nothing here: a frame with a
	 * queued free stays.) */
	contig_fast_flush(f);
	/* Unlinked under each arena's lock, given back with none held (a
	 * round trip each). A buffer cut meanwhile goes to a frame still
	 * linked or to a new one; a frame whose free is queued again
	 * meanwhile stays (its carve's free must reach the daemon first). */
	for (int i = 0; i < NARENAS; i++) {
		struct arena *a = &f->arenas[i];

		pthread_mutex_lock(&a->lock);
		for (struct warm *w = a->frames, *next; w; w = next) {
			next = w->next;
			if (w->nbufs || w->nquarantined)
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
	struct fast_meta *m;
	struct warm *w;
	struct arena *a;
	uint16_t first;
	uint64_t off;
	bool wake;

again:
	if (!f || !(w = warm_lock(f, virt)))
		return -ENOENT;
	off = (uint64_t)((uint8_t *)virt - (uint8_t *)w->frame.virt);
	first = first_page(w, virt);
	if (first == NO_BUF || off != (uint64_t)first * SMALL_PAGE) {
		warm_unlock(w);
		return -ENOENT;
	}
	m = &w->meta[first];
	a = atomic_load(&w->arena);
	if ((len && *len != m->req_len) || (cache && *cache != w->frame.cache_type)) {
		uint64_t req_len = m->req_len;
		int type = w->frame.cache_type;

		warm_unlock(w);
		return contig_fail(-EILSEQ,
				   "mismatch: buffer at %p was allocated with len %llu and cache type "
				   "%d; nothing freed",
				   virt, (unsigned long long)req_len, type);
	}
	if (m->qpos != NOT_QUEUED && unqueue_alloc(a, w, first)) {
		/* Allocated and freed within one report: a transient, its
		 * pages free again at once. (Cannot fail: the range was taken,
		 * so giving it back needs at most a node the take freed.) */
		contig_range_give(&w->free, w->frame.phys + off, m->len);
	} else {
		/* The daemon has (or is being sent) the carve: its free is
		 * queued, and its pages kept until that is taken for a report,
		 * so that no carve of a report overlaps a free of the same. */
		if (!queue_room(a, varint_len(m->id), false)) {
			pthread_mutex_unlock(&a->lock);
			if (report_now(f, REPORT_FULL) < 0)
				return -ECONNRESET; /* (message recorded) */
			goto again;
		}
		a->frees[a->nfrees++] = (struct queued_free){
			.id = m->id,
			.w = w,
			.offset = (uint32_t)off,
			.len = (uint32_t)m->len,
		};
		a->bytes += varint_len(m->id);
		w->nquarantined++;
	}
	for (uint64_t i = 0; i < m->len / SMALL_PAGE; i++)
		w->start[first + i] = NO_BUF;
	wake = queued(f, a);
	if (--w->nbufs == 0 && !w->nquarantined && !keep_empty(f, w)) {
		warm_unlink(f, a, w);
		pthread_mutex_unlock(&a->lock);
		if (wake)
			wake_reporter(f);
		warm_release(f, w);
		return 0;
	}
	pthread_mutex_unlock(&a->lock);
	if (wake)
		wake_reporter(f);
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

void contig_fast_fork_prepare_reports(struct contig_fast *f)
{
	if (f)
		pthread_mutex_lock(&f->report_lock);
}

void contig_fast_fork_prepare(struct contig_fast *f)
{
	for (int i = 0; f && i < NARENAS; i++)
		pthread_mutex_lock(&f->arenas[i].lock);
	if (f) {
		pthread_mutex_lock(&f->spare_lock);
		pthread_mutex_lock(&f->wake_lock);
	}
}

void contig_fast_fork_parent(struct contig_fast *f)
{
	if (!f)
		return;
	pthread_mutex_unlock(&f->wake_lock);
	pthread_mutex_unlock(&f->spare_lock);
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_unlock(&f->arenas[i].lock);
	pthread_mutex_unlock(&f->report_lock);
}

void contig_fast_fork_child(struct contig_fast *f)
{
	pthread_condattr_t attr;

	if (!f)
		return;
	/* Only what the warm frames touch is written: every page written here
	 * is a copy-on-write fault in the child, and in the parent at its
	 * next write (the radix leaves are 64 KiB each). A frame's slot is
	 * set exactly while it is on its arena's list. */
	/* The parent's reports, its reporter thread and its limits are not
	 * the child's: the child's session starts with none. */
	f->reporter_started = false;
	f->reporter_running = false;
	f->stop = false;
	atomic_store(&f->reporter_idle, false);
	atomic_store(&f->want_report, false);
	atomic_store(&f->tight, true);
	atomic_store(&f->left_known, false);
	atomic_store(&f->budget, 0);
	f->rep_nallocs = f->rep_nfrees = f->rep_ntags = f->rep_bytes = 0;
	f->rep_release = NULL;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &attr);
	pthread_condattr_destroy(&attr);
	for (int i = 0; i < NARENAS; i++) {
		struct arena *a = &f->arenas[i];

		a->nallocs = a->nfrees = a->ntags = a->bytes = 0;
		atomic_store(&a->pending, false);
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
	pthread_mutex_unlock(&f->wake_lock);
	pthread_mutex_unlock(&f->spare_lock);
	for (int i = 0; i < NARENAS; i++)
		pthread_mutex_unlock(&f->arenas[i].lock);
	pthread_mutex_unlock(&f->report_lock);
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
