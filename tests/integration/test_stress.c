/* test_stress.c - load and faults: 64 client processes allocate and free at
 * random, with random constraints, while the test SIGKILLs and restarts them
 * at random; no buffer ever overlaps another or breaks a constraint, and
 * afterwards the daemon is back where it started (DESIGN.md, "Invariants";
 * issue 4, "Load and faults").
 *
 * One daemon with a 128 MiB pool of 2 MiB frames. The test first maps every
 * frame once to learn where the pool really is (the windows of the random
 * requests are built around those addresses), then forks NCLIENTS clients.
 * Each client connects with libcontig and, until told to stop, frees or
 * allocates one of its LIVE slots at random: sizes 4 KiB..4 MiB (mostly
 * small), any cache type, alignment and boundary (powers of two, boundary
 * >= len), a physical window (or none), node 0 or any.
 *
 * Checks, all made by the clients on what pagemap says of their OWN mapping:
 * - each buffer is physically contiguous over its whole length, where the
 *   library says, and honours every constraint it was asked for;
 * - no two live buffers overlap physically, across all clients, and no
 *   frame is used by two live clients or by two cache types: every client
 *   registers [phys, phys + len) in a table shared by all (anonymous shared
 *   memory made before fork, guarded by a process-shared robust mutex, since
 *   a client may be killed holding it) after it got the buffer, checks it
 *   against every other entry, and unregisters it BEFORE freeing it;
 * - each buffer keeps the pattern its client wrote until it is freed.
 * A killed client's entries stay in the table until the test has waited for
 * it, and are ignored meanwhile once it is dying: its frames can be recycled
 * only after the kernel closed its socket, which happens in exit after
 * PF_EXITING is set and its mappings are gone; a zombie is dead too. The
 * test clears a dead client's entries before reaping it (waitid WNOWAIT), so
 * a reused pid can never inherit them.
 *
 * Afterwards: every frame free and none lost, the daemon's descriptors and
 * anonymous memory back to what they were after startup, and a clean exit
 * (under `make asan`, LeakSanitizer's verdict).
 *
 * STRESS_SECONDS sets the length of the load (default 18 s, so about 20 s
 * in all); CONTIG_TEST_SEED the seed. Timing decides the interleaving, so a
 * seed replays the requests of each client, not the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PAGE UINT64_C(4096)
#define FRAME (2 * MiB)
#define POOL_LEN (128 * MiB)
#define MAX_FRAMES 64
#define NCLIENTS 64
#define LIVE 6                /* slots per client */
#define KILL_EVERY_MS 200     /* on average */
#define STOP_TIMEOUT_S 60     /* for the clients to free and exit at the end */
#define MAX_DIAGS 20          /* per kind of failure, across all clients */
#define PF_EXITING 0x00000004 /* include/linux/sched.h: in do_exit() */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Anonymous memory (RssAnon) the daemon may hold after the load beyond
 * what it held after startup. RssAnon, because it is what a leak grows:
 * VmRSS also counts file pages, which grow as code first run under load is
 * paged in, and VmData counts address space reserved but never touched (a
 * thread's malloc arena). The load peaks at 65 sessions with up to LIVE
 * buffers each and a few hundred connections opened and closed; once all
 * of it is freed, glibc keeps the freed chunks that are not at the top of
 * a heap resident (it trims only the top), so RssAnon settles at a
 * fragmented high-water mark: about 230 KiB above startup here. 2 MiB is
 * well above that and well below what one leaked allocation per request
 * would cost (glibc's smallest chunk is 32 bytes; a run makes a couple of
 * hundred thousand requests). Small leaks per connection are
 * LeakSanitizer's job (make asan), where this check is skipped. */
#define RSS_SLACK_KIB 2048

enum counter {
	N_ALLOCS,
	N_FREES,
	N_ENOMEM,	 /* no range satisfied the constraints: allowed */
	N_ALLOC_ERRORS,	 /* any other failure of contig_alloc */
	N_FREE_ERRORS,
	N_CONNECT_ERRORS,
	N_BROKEN,	 /* not contiguous or a constraint broken, per pagemap */
	N_OVERLAPS,	 /* two live buffers on common bytes */
	N_SHARED_FRAMES, /* one frame used by two live clients */
	N_MIXED_FRAMES,	 /* one frame holding two cache types */
	N_CORRUPT,	 /* a pattern changed before its buffer was freed */
	N_CHECKED,	 /* overlap scans made */
	N_PACKED,	 /* buffers granted in a frame their client already used */
	N_MULTI,	 /* buffers over more than one frame */
	N_COUNTERS
};

static const char *const counter_names[N_COUNTERS] = {
	"allocs",	     "frees",	      "enomem",	       "alloc_errors",
	"free_errors",	     "connect_errors", "broken",	       "overlaps",
	"shared_frames",     "mixed_frames",   "corrupt",	       "checked",
	"packed",	     "multi",
};

/* A live buffer as its client registered it. */
struct entry {
	pid_t pid; /* 0: unused */
	int cache_type;
	uint64_t phys, len;
};

/* Shared by the test and every client (MAP_SHARED | MAP_ANONYMOUS). */
struct shared {
	pthread_mutex_t lock; /* robust, process-shared; guards entries */
	struct entry entries[NCLIENTS][LIVE];
	atomic_int stop;
	atomic_uint_fast64_t counts[N_COUNTERS];
	atomic_int ndiags[N_COUNTERS];
};

static struct shared *sh;

/* The pool as pagemap shows it: each frame's physical address, sorted.
 * Learnt before the clients are forked; they inherit it. */
static uint64_t frames[MAX_FRAMES];
static size_t nframes;

/* A client's buffer, what it asked for, and its pattern. */
struct held {
	struct contig_buffer b;
	uint64_t req_len, lowest, highest, boundary, align;
	int cache_type, node;
	uint64_t pattern;
};

static void count(enum counter k)
{
	atomic_fetch_add_explicit(&sh->counts[k], 1, memory_order_relaxed);
}

static uint64_t total(enum counter k)
{
	return atomic_load(&sh->counts[k]);
}

/* Count a failure of kind @k and explain the first few of each kind. */
__attribute__((format(printf, 2, 3))) static void fail(enum counter k, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	count(k);
	if (atomic_fetch_add(&sh->ndiags[k], 1) >= MAX_DIAGS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	diag("pid %d: %s: %s", (int)getpid(), counter_names[k], line);
}

static void table_lock(void)
{
	int r = pthread_mutex_lock(&sh->lock);

	/* Its last holder was killed: entries are written field by field
	 * under the lock, but only into the dead client's own row, which is
	 * ignored once it is dying and cleared before it is reaped. */
	if (r == EOWNERDEAD)
		r = pthread_mutex_consistent(&sh->lock);
	if (r != 0)
		bail_out("table lock: %s", strerror(r));
}

static void table_unlock(void)
{
	pthread_mutex_unlock(&sh->lock);
}

/* Is @pid dying or dead (PF_EXITING, zombie, or gone)? Its buffers may then
 * be recycled to someone else at any moment. */
static bool dying(pid_t pid)
{
	char path[64], buf[1024], state;
	unsigned long flags;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* "pid (comm) state ppid pgrp session tty_nr tpgid flags ..." */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return true;
	return state == 'Z' || state == 'X' || state == 'x' || (flags & PF_EXITING);
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Do [a, a + alen) and [b, b + blen) touch a common frame? */
static bool same_frame(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a / FRAME <= (b + blen - 1) / FRAME && b / FRAME <= (a + alen - 1) / FRAME;
}

/* Enter @h as client @slot's entry @k, after checking it against every
 * live entry of every client. */
static void table_register(int slot, int k, const struct held *h)
{
	uint64_t phys = h->b.phys, len = h->b.len;
	bool packed = false;

	table_lock();
	for (int s = 0; s < NCLIENTS; s++)
		for (int j = 0; j < LIVE; j++) {
			const struct entry *e = &sh->entries[s][j];
			bool mine = s == slot;

			if (e->pid == 0 || !same_frame(e->phys, e->len, phys, len))
				continue;
			if (!mine && dying(e->pid))
				continue;
			if (overlap(e->phys, e->len, phys, len))
				fail(N_OVERLAPS,
				     "[0x%" PRIx64 ", +0x%" PRIx64 ") overlaps [0x%" PRIx64
				     ", +0x%" PRIx64 ") of pid %d",
				     phys, len, e->phys, e->len, (int)e->pid);
			else if (!mine)
				fail(N_SHARED_FRAMES,
				     "[0x%" PRIx64 ", +0x%" PRIx64 ") shares a frame with [0x%" PRIx64
				     ", +0x%" PRIx64 ") of live pid %d",
				     phys, len, e->phys, e->len, (int)e->pid);
			else if (e->cache_type != h->cache_type)
				fail(N_MIXED_FRAMES,
				     "cache type %d at 0x%" PRIx64 " shares a frame with cache type "
				     "%d at 0x%" PRIx64,
				     h->cache_type, phys, e->cache_type, e->phys);
			else
				packed = true;
		}
	sh->entries[slot][k] = (struct entry){
		.pid = getpid(),
		.cache_type = h->cache_type,
		.phys = phys,
		.len = len,
	};
	count(N_CHECKED);
	if (packed)
		count(N_PACKED);
	if (phys / FRAME != (phys + len - 1) / FRAME)
		count(N_MULTI);
	table_unlock();
}

static void table_unregister(int slot, int k)
{
	table_lock();
	sh->entries[slot][k].pid = 0;
	table_unlock();
}

static int home_cache_type; /* of this client */

static uint64_t rand64(unsigned *seed)
{
	return (uint64_t)rand_r(seed) << 32 ^ (uint64_t)rand_r(seed) << 16 ^ (uint64_t)rand_r(seed);
}

/* A random request: mostly small, every constraint sometimes. */
static void pick(unsigned *seed, struct held *h)
{
	unsigned r = (unsigned)rand_r(seed) % 100;

	*h = (struct held){ .highest = CONTIG_PHYS_MAX, .node = CONTIG_NODE_ANY };
	if (r < 75)
		h->req_len = PAGE + rand64(seed) % (64 * 1024 - PAGE + 1);
	else if (r < 95)
		h->req_len = 64 * 1024 + rand64(seed) % (MiB - 64 * 1024 + 1);
	else
		h->req_len = MiB + rand64(seed) % (3 * MiB + 1);
	if (rand_r(seed) % 2)
		h->align = PAGE << (rand_r(seed) % 11); /* 4 KiB .. 4 MiB */
	if (rand_r(seed) % 2)
		h->boundary = harness_pow2_ceil(harness_round_page(h->req_len)) << (rand_r(seed) % 4);
	/* Half the time the client's own type, so that buffers pack into
	 * frames; a client with six types in use would need six frames. */
	h->cache_type = (int)(rand_r(seed) % 2 ? home_cache_type : rand_r(seed) % 6);
	if (rand_r(seed) % 2)
		h->node = 0;

	/* Windows from the pool's real frames: none, a lowest, a highest, or
	 * both; each end at a frame edge or anywhere inside a frame. */
	r = (unsigned)rand_r(seed) % 10;
	if (r >= 4) {
		size_t i = (size_t)rand_r(seed) % nframes, j = (size_t)rand_r(seed) % nframes;
		uint64_t lo, hi;

		if (i > j) {
			size_t t = i;

			i = j;
			j = t;
		}
		lo = frames[i] + (rand_r(seed) % 2 ? 0 : rand64(seed) % FRAME);
		hi = frames[j] + FRAME - 1 - (rand_r(seed) % 2 ? 0 : rand64(seed) % FRAME);
		if (hi < lo)
			hi = frames[j] + FRAME - 1;
		if (r < 6 || r >= 8)
			h->lowest = lo;
		if (r >= 6)
			h->highest = hi;
	}
}

/* Which promise @h breaks per this process's pagemap, or NULL. */
static const char *broken(const struct held *h)
{
	uint64_t pm = harness_phys_of(getpid(), h->b.virt);
	uint64_t align = h->align ? h->align : PAGE;
	uint64_t last = pm + h->b.len - 1;

	if (pm == 0 || !harness_phys_contiguous(getpid(), h->b.virt, h->b.len, pm))
		return "not physically contiguous per pagemap";
	if (h->b.phys != pm)
		return "the library's phys differs from pagemap";
	if (h->b.len != harness_round_page(h->req_len))
		return "len not rounded up to 4 KiB";
	if (pm % align)
		return "start not aligned";
	if (h->boundary && pm / h->boundary != last / h->boundary)
		return "crosses its boundary";
	if (pm < h->lowest || last > h->highest)
		return "outside its window";
	if (h->b.cache_type != h->cache_type)
		return "another cache type";
	if (h->b.node != 0)
		return "not on node 0, the only pool's";
	if (h->node == 0) {
		int node = -1;

		if (get_mempolicy(&node, NULL, 0, h->b.virt, MPOL_F_NODE | MPOL_F_ADDR) < 0 ||
		    node != 0)
			return "not on node 0 per get_mempolicy";
	}
	return NULL;
}

static void fill(struct held *h)
{
	uint64_t *w = h->b.virt;

	for (uint64_t i = 0; i < h->b.len / 8; i++)
		w[i] = h->pattern ^ (i * UINT64_C(0x9e3779b97f4a7c15));
}

static bool intact(const struct held *h)
{
	const uint64_t *w = h->b.virt;

	for (uint64_t i = 0; i < h->b.len / 8; i++)
		if (w[i] != (h->pattern ^ (i * UINT64_C(0x9e3779b97f4a7c15))))
			return false;
	return true;
}

static void take(struct contig_client *c, int slot, int k, struct held *h, unsigned *seed)
{
	struct contig_alloc_req req;
	const char *why;
	int err;

	pick(seed, h);
	contig_alloc_req_init(&req, h->req_len);
	req.lowest_phys = h->lowest;
	req.highest_phys = h->highest;
	req.boundary = h->boundary;
	req.align = h->align;
	req.cache_type = h->cache_type;
	req.node = h->node;
	err = contig_alloc(c, &req, &h->b);
	if (err == -ENOMEM) {
		count(N_ENOMEM);
		h->b.virt = NULL;
		return;
	}
	if (err < 0) {
		fail(N_ALLOC_ERRORS, "alloc of %" PRIu64 " bytes: %d %s", h->req_len, err,
		     contig_last_message());
		h->b.virt = NULL;
		return;
	}
	count(N_ALLOCS);
	why = broken(h);
	if (why)
		fail(N_BROKEN,
		     "%s: len %" PRIu64 " (asked %" PRIu64 ") at 0x%" PRIx64 ", window [0x%" PRIx64
		     ", 0x%" PRIx64 "], boundary 0x%" PRIx64 ", align 0x%" PRIx64
		     ", cache type %d, node %d",
		     why, h->b.len, h->req_len, h->b.phys, h->lowest, h->highest, h->boundary,
		     h->align, h->cache_type, h->node);
	table_register(slot, k, h);
	h->pattern = rand64(seed) ^ (uint64_t)getpid() << 40;
	fill(h);
}

static void release(struct contig_client *c, int slot, int k, struct held *h)
{
	int err;

	if (!intact(h))
		fail(N_CORRUPT, "buffer of %" PRIu64 " bytes at 0x%" PRIx64 " lost its pattern",
		     h->b.len, h->b.phys);
	table_unregister(slot, k);
	if (h->b.id % 2)
		err = contig_free_checked(c, h->b.virt, h->req_len, h->cache_type);
	else
		err = contig_free(c, h->b.virt);
	if (err < 0)
		fail(N_FREE_ERRORS, "free: %d %s", err, contig_last_message());
	else
		count(N_FREES);
	h->b.virt = NULL;
}

/* One client process, in slot @slot, until sh->stop. */
static int client_run(int slot, unsigned seed)
{
	struct held live[LIVE] = { 0 };
	struct contig_client *c;
	int err;

	home_cache_type = slot % 6;
	err = contig_connect(NULL, &c);
	if (err < 0) {
		fail(N_CONNECT_ERRORS, "connect: %d %s", err, contig_last_message());
		return 1;
	}
	while (!atomic_load(&sh->stop)) {
		int k = (int)((unsigned)rand_r(&seed) % LIVE);
		int other = (int)((unsigned)rand_r(&seed) % LIVE);

		if (live[k].b.virt)
			release(c, slot, k, &live[k]);
		else
			take(c, slot, k, &live[k], &seed);
		/* Someone else's writes would show in any buffer, not only
		 * the one being freed: look at another one now and then. */
		if (other != k && live[other].b.virt && !intact(&live[other]))
			fail(N_CORRUPT, "live buffer at 0x%" PRIx64 " lost its pattern",
			     live[other].b.phys);
	}
	for (int k = 0; k < LIVE; k++)
		if (live[k].b.virt)
			release(c, slot, k, &live[k]);
	contig_disconnect(c);
	return 0;
}

struct client {
	pid_t pid;
	unsigned generation;
};

static struct client clients[NCLIENTS];
static unsigned base_seed;

static void client_start(int slot)
{
	pid_t parent = getpid();
	struct client *cl = &clients[slot];
	unsigned seed = base_seed ^ (unsigned)slot * 2654435761u ^ cl->generation++ * 40503u;

	fflush(stdout);
	cl->pid = fork();
	if (cl->pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (cl->pid == 0) {
		/* Die with the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		/* exit(), not _exit(): under make asan, LeakSanitizer checks
		 * the client library's bookkeeping at exit. */
		exit(client_run(slot, seed));
	}
}

/* Wait for client @slot to be dead (not yet reaped), forget its entries,
 * then reap it. Returns its status as harness_child_wait() does. */
static int client_reap(int slot)
{
	struct client *cl = &clients[slot];
	siginfo_t si;
	int status;

	while (waitid(P_PID, (id_t)cl->pid, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR)
			bail_out("waitid %d: %s", (int)cl->pid, strerror(errno));
	table_lock();
	for (int k = 0; k < LIVE; k++)
		sh->entries[slot][k].pid = 0;
	table_unlock();
	if (waitpid(cl->pid, &status, 0) != cl->pid)
		bail_out("waitpid %d: %s", (int)cl->pid, strerror(errno));
	cl->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int slot_of(pid_t pid)
{
	for (int s = 0; s < NCLIENTS; s++)
		if (clients[s].pid == pid)
			return s;
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The load: clients run for @seconds while one of them is SIGKILLed and
 * restarted every KILL_EVERY_MS on average. Returns the number of kills;
 * counts clients that died otherwise in *ret_unexpected. */
static unsigned load(const struct harness_daemon *d, unsigned seconds, unsigned *seed,
		     unsigned *ret_unexpected)
{
	uint64_t end = now_ms() + (uint64_t)seconds * 1000;
	unsigned kills = 0, unexpected = 0;

	for (int s = 0; s < NCLIENTS; s++)
		client_start(s);
	while (now_ms() < end) {
		int slot = (int)((unsigned)rand_r(seed) % NCLIENTS), status;
		siginfo_t si;

		pause_ms(KILL_EVERY_MS / 2 + (unsigned)rand_r(seed) % KILL_EVERY_MS);
		/* Clients that died on their own, and the daemon. */
		for (;;) {
			int other;

			si.si_pid = 0;
			if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
				break;
			if (si.si_pid == d->pid)
				bail_out("contigd died during the load (status %d)", si.si_status);
			other = slot_of(si.si_pid);
			if (other < 0)
				bail_out("unknown child %d exited", (int)si.si_pid);
			status = client_reap(other);
			unexpected++;
			diag("client %d died by itself: status %d", (int)si.si_pid, status);
			client_start(other);
		}
		kill(clients[slot].pid, SIGKILL);
		status = client_reap(slot);
		if (status != 128 + SIGKILL) {
			unexpected++;
			diag("client in slot %d died before its SIGKILL: status %d", slot, status);
		}
		kills++;
		client_start(slot);
	}
	*ret_unexpected = unexpected;
	return kills;
}

/* Tell every client to stop; wait for each to free everything and exit.
 * Returns how many did not exit 0 within STOP_TIMEOUT_S (those are killed). */
static unsigned stop_all(void)
{
	uint64_t deadline = now_ms() + STOP_TIMEOUT_S * 1000;
	unsigned bad = 0, left = NCLIENTS;

	atomic_store(&sh->stop, 1);
	while (left > 0 && now_ms() < deadline) {
		siginfo_t si = { 0 };
		int slot, status;

		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
			bail_out("waitid: %s", strerror(errno));
		if (si.si_pid == 0) {
			pause_ms(10);
			continue;
		}
		slot = slot_of(si.si_pid);
		if (slot < 0)
			bail_out("child %d exited during the stop (contigd?)", (int)si.si_pid);
		status = client_reap(slot);
		if (status != 0) {
			bad++;
			diag("client %d exited with status %d at the stop", (int)si.si_pid, status);
		}
		left--;
	}
	for (int s = 0; s < NCLIENTS; s++)
		if (clients[s].pid) {
			diag("client %d did not stop within %d s", (int)clients[s].pid,
			     STOP_TIMEOUT_S);
			kill(clients[s].pid, SIGKILL);
			client_reap(s);
			bad++;
		}
	return bad;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->npools == 1 && st->pools[0].free_len == st->pools[0].total_len &&
	       st->pools[0].nframes_recycling == 0 && st->pools[0].nframes_owned == 0 &&
	       st->pools[0].nbuffers == 0 && st->nsessions == 1;
}

static void settle(struct contig_client *c, struct contig_stats *ret_st)
{
	if (!harness_wait_stats(c, all_free, NULL))
		bail_out("the pool did not return to all free");
	if (contig_get_stats(c, ret_st) < 0)
		bail_out("stats: %s", contig_last_message());
}

/* Map the idle pool once as 2 MiB buffers aligned to 2 MiB (each exactly
 * one frame), note where pagemap puts each, and free them again. A frame
 * that comes back on another page makes the map stale: take it again. */
static void discover_frames(struct contig_client *c)
{
	static struct contig_buffer bufs[MAX_FRAMES];
	struct contig_stats st;
	bool whole = true, distinct = true;

	for (int attempt = 0;; attempt++) {
		uint64_t moved;

		settle(c, &st);
		moved = st.nrecycle_moved;
		whole = true;
		nframes = 0;
		while (nframes < MAX_FRAMES) {
			struct contig_alloc_req req;

			contig_alloc_req_init(&req, FRAME);
			req.align = FRAME;
			if (contig_alloc(c, &req, &bufs[nframes]) < 0)
				break;
			frames[nframes] = harness_phys_of(getpid(), bufs[nframes].virt);
			if (frames[nframes] == 0 || frames[nframes] % FRAME)
				whole = false;
			nframes++;
		}
		for (size_t i = 0; i < nframes; i++)
			contig_free(c, bufs[i].virt);
		settle(c, &st);
		if (st.nrecycle_moved == moved)
			break;
		if (attempt == 2)
			bail_out("frames keep moving to other pages on recycling: no stable map");
		diag("a frame came back on another page; mapping the pool again");
	}
	qsort(frames, nframes, sizeof(frames[0]), harness_cmp_u64);
	for (size_t i = 1; i < nframes; i++)
		if (frames[i] == frames[i - 1])
			distinct = false;
	ok(nframes == POOL_LEN / FRAME && whole && distinct,
	   "whole_pool_maps_once_as_distinct_aligned_frames_per_pagemap");
	if (nframes == 0)
		bail_out("no frame to build windows around: %s", contig_last_message());
	diag("pool: %zu frames from 0x%" PRIx64 " to 0x%" PRIx64, nframes, frames[0],
	     frames[nframes - 1]);
}

static unsigned count_fds(pid_t pid)
{
	char path[64];
	unsigned n = 0;
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		bail_out("opendir %s: %s", path, strerror(errno));
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* A "Key:   N kB" line of /proc/@pid/status, in KiB. */
static uint64_t status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t keylen = strlen(key);
	unsigned long long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		bail_out("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
			sscanf(line + keylen + 1, "%llu", &kib);
			break;
		}
	fclose(f);
	return kib;
}

/* The last few KiB of the file at @fd. */
static const char *log_tail(int fd)
{
	static char buf[6144];
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, start);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Show the lines of the daemon's log that contain @needle. */
static void log_grep(int fd, const char *needle)
{
	static char log[1 << 20];
	ssize_t n = pread(fd, log, sizeof(log) - 1, 0);
	char *line, *save = NULL;

	log[n > 0 ? n : 0] = '\0';
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, needle))
			diag("  contigd: %s", line);
}

static struct shared *shared_new(void)
{
	pthread_mutexattr_t attr;
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(&s->lock, &attr) != 0)
		bail_out("pthread_mutex_init");
	pthread_mutexattr_destroy(&attr);
	atomic_init(&s->stop, 0);
	for (int k = 0; k < N_COUNTERS; k++) {
		atomic_init(&s->counts[k], 0);
		atomic_init(&s->ndiags[k], 0);
	}
	return s;
}

int main(void)
{
	/* 64 clients, this process, and the connections of killed clients the
	 * daemon has not yet seen close: above the default 64 per user. */
	static const char conf_text[] = "max_connections_per_user = 256\n";
	const char *env_seconds = getenv("STRESS_SECONDS");
	const char *env_seed = getenv("CONTIG_TEST_SEED");
	unsigned seconds = env_seconds ? (unsigned)strtoul(env_seconds, NULL, 0) : 18;
	char conf[] = "/tmp/contigd-stress.conf.XXXXXX";
	const char *args[] = { "--config", conf, "--pool", "0:2M:128M", NULL };
	unsigned seed, kills, unexpected, unstopped, fds_start, fds_end = 0;
	uint64_t rss_start, rss_end, start_ms = now_ms();
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_stats st;
	bool fds_back = false;
	int fd, log_fd, status;

	seed = base_seed = env_seed ? (unsigned)strtoul(env_seed, NULL, 0) : 20240611u;
	diag("seed %u (CONTIG_TEST_SEED), %u s of load (STRESS_SECONDS)", seed, seconds);
	fd = mkstemp(conf);
	if (fd < 0 || write(fd, conf_text, sizeof(conf_text) - 1) != sizeof(conf_text) - 1)
		bail_out("writing %s", conf);
	close(fd);
	sh = shared_new();

	harness_daemon_start(&d, args);
	unlink(conf);
	c = harness_connect(&d);
	settle(c, &st);
	is_u64(st.pools[0].total_len, POOL_LEN, "pool_holds_what_was_asked");
	discover_frames(c);
	settle(c, &st);
	fds_start = count_fds(d.pid);
	rss_start = status_kib(d.pid, "RssAnon");
	diag("contigd after startup: %u descriptors, RssAnon %" PRIu64 " KiB, VmRSS %" PRIu64
	     " KiB, VmData %" PRIu64 " KiB",
	     fds_start, rss_start, status_kib(d.pid, "VmRSS"), status_kib(d.pid, "VmData"));
	/* The clients must not inherit this connection. */
	contig_disconnect(c);

	kills = load(&d, seconds, &seed, &unexpected);
	unstopped = stop_all();

	diag("%" PRIu64 " allocs, %" PRIu64 " frees, %u kills, %" PRIu64
	     " refused with ENOMEM, %" PRIu64 " overlap checks",
	     total(N_ALLOCS), total(N_FREES), kills, total(N_ENOMEM), total(N_CHECKED));
	diag("%" PRIu64 " buffers packed into a frame their client already used, %" PRIu64
	     " over more than one frame",
	     total(N_PACKED), total(N_MULTI));
	ok(total(N_ALLOCS) >= NCLIENTS * 10, "clients_allocate_under_load");
	ok(kills >= seconds * 1000 / KILL_EVERY_MS / 2, "clients_are_killed_and_restarted_meanwhile");
	ok(total(N_CONNECT_ERRORS) == 0, "every_client_connects");
	ok(total(N_ALLOC_ERRORS) == 0, "allocations_fail_only_with_enomem");
	ok(total(N_FREE_ERRORS) == 0, "every_free_of_a_live_buffer_succeeds");
	ok(total(N_BROKEN) == 0,
	   "every_buffer_is_contiguous_and_honours_every_constraint_per_its_clients_pagemap");
	ok(total(N_OVERLAPS) == 0, "no_two_live_buffers_ever_overlap_physically_across_clients");
	ok(total(N_SHARED_FRAMES) == 0, "no_frame_is_ever_used_by_two_live_clients");
	ok(total(N_MIXED_FRAMES) == 0, "no_frame_ever_holds_two_cache_types");
	ok(total(N_CORRUPT) == 0, "every_buffer_keeps_its_clients_pattern_until_freed");
	ok(unexpected == 0, "no_client_dies_but_by_the_tests_sigkill");
	ok(unstopped == 0, "every_client_frees_and_exits_cleanly_at_the_end");

	c = harness_connect(&d);
	ok(harness_wait_stats(c, all_free, NULL), "every_frame_is_free_after_the_load");
	ok(contig_get_stats(c, &st) == 0 && st.pools[0].total_len == POOL_LEN &&
		   st.pools[0].nframes == POOL_LEN / FRAME && st.nframes_lost == 0 &&
		   st.pools[0].nframes_owned == 0,
	   "no_frame_is_lost_or_left_owned");
	diag("recycled %" PRIu64 " frames, %" PRIu64 " moved, %" PRIu64 " lost", st.nrecycled,
	     st.nrecycle_moved, st.nframes_lost);
	if (st.nframes_lost)
		log_grep(d.log_fd, " lost: ");
	/* A closed connection's descriptor goes in the loop iteration after
	 * its close was seen: give it a few round trips. */
	for (int i = 0; i < 100 && !fds_back; i++) {
		fds_end = count_fds(d.pid);
		fds_back = fds_end == fds_start;
		if (!fds_back && contig_get_stats(c, &st) < 0)
			break;
	}
	if (!ok(fds_back, "daemon_descriptors_are_back_to_after_startup"))
		diag("  %u descriptors after startup, %u now", fds_start, fds_end);
	rss_end = status_kib(d.pid, "RssAnon");
	diag("contigd after the load: RssAnon %" PRIu64 " KiB, VmRSS %" PRIu64 " KiB, VmData %" PRIu64
	     " KiB",
	     rss_end, status_kib(d.pid, "VmRSS"), status_kib(d.pid, "VmData"));
#ifdef UNDER_ASAN
	ok(true, "daemon_anonymous_memory_is_back_to_after_startup # SKIP under ASan freed memory "
		 "waits in the quarantine; LeakSanitizer judges at exit");
#else
	if (getenv("CONTIGD_VALGRIND") && *getenv("CONTIGD_VALGRIND") == '1')
		ok(true, "daemon_anonymous_memory_is_back_to_after_startup # SKIP under valgrind "
			 "its own memory grows; memcheck judges leaks at exit");
	else if (!ok(rss_end <= rss_start + RSS_SLACK_KIB,
		     "daemon_anonymous_memory_is_back_to_after_startup"))
		diag("  RssAnon %" PRIu64 " KiB after startup, %" PRIu64 " KiB now (slack %d KiB)",
		     rss_start, rss_end, RSS_SLACK_KIB);
#endif
	contig_disconnect(c);
	/* The harness shows the start of the log of a daemon that failed; the
	 * end (a sanitizer's report) is read through a descriptor of our own. */
	log_fd = dup(d.log_fd);
	status = harness_daemon_stop(&d);
	if (!ok(status == 0, "daemon_stops_cleanly"))
		diag("  exit status %d; the log ends with:\n%s", status, log_tail(log_fd));
	close(log_fd);
	diag("%.1f s in all", (double)(now_ms() - start_ms) / 1000);
	munmap(sh, sizeof(*sh));
	return done_testing();
}
