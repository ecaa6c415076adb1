/* test_restart.c - a daemon restart loses no byte (issue 7, "Tests").
 *
 * One daemon (session_grace = 4 s, a 128 MiB pool of 2 MiB frames) and
 * NCLIENTS client processes on libcontig. Each holds NBUF buffers of
 * assorted sizes (4 KiB to a few MiB, some over two or three frames) and
 * cache types, and loops: check the pattern of one buffer, write it again
 * with a new counter, allocate and free one more buffer (the churn), and
 * so on, until the test asks for a report. A report (client_report()) is
 * made by a client that stopped looping: it allocates and frees once more,
 * checks every pattern and says what it holds; while it waits for the next
 * command it touches nothing, so that the test can check it from outside:
 * - pagemap: the test reads /proc/<client>/pagemap itself: every buffer is
 *   physically contiguous and at the same physical address as before;
 * - /proc/<client>/mem: every buffer holds the pattern the client says it
 *   last wrote;
 * - stats and lists (root): the buffers and frames each session owns are
 *   what the clients say they hold, and nothing more (an allocate retried
 *   after the restart and applied twice would show here).
 *
 * The daemon is then restarted on the same socket, with the same pools and
 * configuration (new frames reserved as the kernel hands them out: see
 * first_args), in the ways issue 7 names, each a round:
 * 1. kill -9 while the clients loop; meanwhile a client that holds buffers
 *    is killed while the daemon is down (its session must be recycled
 *    after the grace period), raw sessions check the token rules (another
 *    uid's token refused, then the right uid's accepted; malformed, newer
 *    and unknown tokens; a token after the grace period) and the allocate
 *    retry (same seq: the same buffer, not a second one, and a free
 *    resent after the restart); then KILLS - 1 more crashes in a row, each
 *    catching some of the clients' requests in flight; then a crash while
 *    the clients resend theirs (a stand-in for the restarted daemon gives
 *    every session back and dies at the request resent);
 * 2. SIGTERM while the clients loop: the same;
 * 3. kill -9 and the journal's last record cut in half: the daemon starts,
 *    says it recovered a torn journal, and every earlier session is back;
 * 4. kill -9, restarted with a bigger pool;
 * 5. kill -9, restarted with a pool smaller than the frames in use.
 * At the end the clients free everything and exit, and the daemon, with no
 * session left, stops cleanly, removes its journal and frames, and gives
 * back the hugepages any instance added to the kernel's pool (checked on
 * the kernel's counts when the test holds the machine's hugepage lock:
 * harness_hugepages_alone()).
 *
 * About 6 s here (one grace period of 4 s is most of it; 18 s with the
 * daemon under valgrind).
 *
 * No sleeps as synchronisation: READY=1, reports over socketpairs with
 * deadlines, stats polled until a predicate holds (harness_wait_stats), a
 * shared counter per client polled until it moves.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"

#define FRAME (2 * MiB)
#define NCLIENTS 8
#define NBUF 4                /* held buffers per client */
#define GRACE_MS 4000         /* session_grace below */
#define REPORT_TIMEOUT_MS 60000
#define LOOPS_TIMEOUT_MS 30000
#define MAX_CLIENT_DIAGS 5    /* per client */
#define NOBODY 65534u
#define KILLS 6               /* kill -9 rounds in a row while the clients loop */

#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

#define POOL "0:2M:128M"
#define POOL_LEN (128 * MiB)
#define POOL_BIG "0:2M:192M"
#define POOL_BIG_LEN (192 * MiB)
#define POOL_SMALL "0:2M:16M"
#define POOL_SMALL_LEN (16 * MiB)

static const char conf_text[] = "session_grace = 4s\n"
				"socket_group = 0\n"
				"socket_mode = 0666\n"
				"allow_users = nobody\n"
				"max_connections_per_user = 256\n";

/* ---- what a client holds and says ---- */

struct held {
	uint64_t virt, phys, len, id;
	uint64_t seed; /* of the pattern last written */
	int cache_type;
};

struct report {
	int pid;
	int setup_rc;          /* the first allocations */
	int fresh_rc;          /* the allocate and free made for this report */
	bool fresh_contiguous; /* that buffer, per the client's own pagemap */
	uint64_t loops;        /* loop iterations so far */
	uint64_t cycles;       /* of which the allocate and the free succeeded */
	uint64_t corrupt;      /* patterns found changed */
	uint64_t alloc_errors, free_errors, enomem;
	uint64_t broken;        /* churn buffers not contiguous per pagemap */
	uint64_t phys_mismatch; /* contig_virt_to_phys() against the allocation */
	uint64_t max_call_ms;   /* the slowest allocate or free so far */
	int last_err;
	char last_msg[160];
	struct held held[NBUF];
};

/* Counters the test reads while the clients run (MAP_SHARED). */
struct shared {
	atomic_uint_fast64_t loops[NCLIENTS + 1];  /* loop iterations */
	atomic_uint_fast64_t cycles[NCLIENTS + 1]; /* of which churn allocate and free succeeded */
};
static struct shared *sh;

/* Frames of each client's buffer 2 (1: under one frame), planned from the
 * pool's runs of adjacent frames before the clients start (plan_multi()). */
static uint32_t multi_frames[NCLIENTS + 1];

/* A buffer a client holds throughout: size and cache type by client. */
static void held_spec(int idx, int k, uint64_t *ret_len, int *ret_cache)
{
	int i = idx % NCLIENTS;

	switch (k) {
	case 0:
		*ret_len = 4096 * (uint64_t)(1 + i % 4);
		*ret_cache = CONTIG_CACHED;
		break;
	case 1:
		*ret_len = 48 * 1024 + (uint64_t)i * 20 * 1024;
		*ret_cache = CONTIG_WRITE_COMBINED;
		break;
	case 2: /* over two or three frames for some clients, else under one */
		*ret_len = multi_frames[idx] == 3   ? 4 * MiB + 4096
			   : multi_frames[idx] == 2 ? 2 * MiB + (uint64_t)(i / 2 + 1) * 128 * 1024
						    : MiB + (uint64_t)i * 4096;
		*ret_cache = CONTIG_NON_CACHED;
		break;
	default: /* one whole frame for two clients */
		*ret_len = i % 4 == 1 ? 2 * MiB : 256 * 1024 + (uint64_t)i * 4096;
		*ret_cache = i % 2 ? CONTIG_USWC_CACHED : CONTIG_HARDWARE_COHERENT_CACHED;
		break;
	}
}

/* A pattern that depends on all 64 bits of @seed and on each word's
 * offset (raw.h's pattern_word() keeps only 16 bits of its seed). */
static inline uint64_t pat_word(uint64_t seed, uint64_t i)
{
	return (seed * UINT64_C(0xff51afd7ed558ccd)) ^ ((i + 1) * UINT64_C(0x9e3779b97f4a7c15));
}

static void pat_fill(void *virt, uint64_t len, uint64_t seed)
{
	uint64_t *w = virt;

	for (uint64_t i = 0; i < len / 8; i++)
		w[i] = pat_word(seed, i);
}

/* The index of the first word that differs, or -1. */
static int64_t pat_diff(const void *virt, uint64_t len, uint64_t seed)
{
	const uint64_t *w = virt;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i] != pat_word(seed, i))
			return (int64_t)i;
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the client process ---- */

static struct {
	int idx;
	struct contig_client *c;
	struct contig_buffer bufs[NBUF];
	uint64_t counter;
	unsigned ndiags;
	struct report rep;
} cl;

__attribute__((format(printf, 1, 2))) static void cdiag(const char *fmt, ...)
{
	char line[400];
	va_list ap;

	if (cl.ndiags++ >= MAX_CLIENT_DIAGS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	diag("client %d (pid %d): %s", cl.idx, (int)getpid(), line);
}

static void on_sigbus(int sig)
{
	static const char msg[] = "# a client got SIGBUS: its frames were taken from it\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(77);
	_exit(77);
}

static void note_error(uint64_t *counter, int err, const char *what)
{
	(*counter)++;
	cl.rep.last_err = err;
	snprintf(cl.rep.last_msg, sizeof(cl.rep.last_msg), "%s: %d %s", what, err,
		 contig_last_message());
	cdiag("%s", cl.rep.last_msg);
}

static void timed(uint64_t start)
{
	uint64_t ms = now_ms() - start;

	if (ms > cl.rep.max_call_ms)
		cl.rep.max_call_ms = ms;
}

/* Allocate @len of @cache, write and check a pattern, check the pagemap and
 * the library's virt-to-phys, free. Returns 0 or the first error. */
static int churn_once(uint64_t len, int cache, bool *ret_contiguous)
{
	struct contig_alloc_req req;
	struct contig_buffer b;
	uint64_t start = now_ms(), phys = 0, seed = ++cl.counter | (uint64_t)cl.idx << 56;
	int r;

	contig_alloc_req_init(&req, len);
	req.cache_type = cache;
	r = contig_alloc(cl.c, &req, &b);
	timed(start);
	if (r < 0) {
		note_error(r == -ENOMEM ? &cl.rep.enomem : &cl.rep.alloc_errors, r, "churn alloc");
		return r;
	}
	pat_fill(b.virt, b.len, seed);
	*ret_contiguous = harness_phys_contiguous(getpid(), b.virt, b.len, b.phys);
	if (!*ret_contiguous)
		cl.rep.broken++;
	if ((r = contig_virt_to_phys(cl.c, (char *)b.virt + b.len - 1, &phys)) < 0 ||
	    phys != b.phys + b.len - 1) {
		cl.rep.phys_mismatch++;
		cdiag("churn buffer id 0x%" PRIx64 " at 0x%" PRIx64 ": its last byte at 0x%" PRIx64
		      " per contig_virt_to_phys(): %d %s",
		      b.id, b.phys, phys, r, r < 0 ? contig_last_message() : "");
	}
	if (pat_diff(b.virt, b.len, seed) >= 0) {
		cl.rep.corrupt++;
		cdiag("churn buffer at 0x%" PRIx64 " lost its pattern before its free", b.phys);
	}
	start = now_ms();
	r = contig_free(cl.c, b.virt);
	timed(start);
	if (r < 0)
		note_error(&cl.rep.free_errors, r, "churn free");
	return r;
}

/* Check held buffer @k's pattern, then write the next one. */
static void rewrite(int k)
{
	struct held *h = &cl.rep.held[k];
	int64_t at = pat_diff((void *)(uintptr_t)h->virt, h->len, h->seed);

	if (at >= 0) {
		cl.rep.corrupt++;
		cdiag("buffer %d (phys 0x%" PRIx64 ", %" PRIu64 " bytes) lost its pattern at byte %" PRId64,
		      k, h->phys, h->len, at * 8);
	}
	h->seed = ++cl.counter | (uint64_t)cl.idx << 56 | (uint64_t)k << 48;
	pat_fill((void *)(uintptr_t)h->virt, h->len, h->seed);
}

static void loop_once(void)
{
	static const struct {
		uint64_t len;
		int cache;
	} churn[] = {
		{ 64 * 1024, CONTIG_NON_CACHED_UNORDERED }, /* a frame of its own */
		{ 8 * 1024, CONTIG_CACHED },                /* may share buffer 0's frame */
		{ 192 * 1024, CONTIG_NON_CACHED_UNORDERED },
	};
	uint64_t n = cl.rep.loops;
	bool contiguous;

	rewrite((int)(n % NBUF));
	if (churn_once(churn[n % 3].len, churn[n % 3].cache, &contiguous) == 0)
		atomic_store(&sh->cycles[cl.idx], ++cl.rep.cycles);
	cl.rep.loops++;
	atomic_store(&sh->loops[cl.idx], cl.rep.loops);
}

/* Stop looping and say what we hold: one more allocate and free first (a
 * small cached one, which fits in buffer 0's frame when the pool has no
 * free frame left), then every pattern checked. */
static void client_report(int fd)
{
	cl.rep.fresh_contiguous = false;
	cl.rep.fresh_rc = churn_once(4096, CONTIG_CACHED, &cl.rep.fresh_contiguous);
	for (int k = 0; k < NBUF; k++) {
		struct held *h = &cl.rep.held[k];
		int64_t at = pat_diff((void *)(uintptr_t)h->virt, h->len, h->seed);
		uint64_t phys = 0;

		if (at >= 0) {
			cl.rep.corrupt++;
			cdiag("buffer %d lost its pattern at byte %" PRId64, k, at * 8);
		}
		int r = contig_virt_to_phys(cl.c, (void *)(uintptr_t)h->virt, &phys);

		if (r < 0 || phys != h->phys) {
			cl.rep.phys_mismatch++;
			cdiag("buffer %d id 0x%" PRIx64 " at 0x%" PRIx64 " is at 0x%" PRIx64
			      " per contig_virt_to_phys(): %d %s",
			      k, h->id, h->phys, phys, r, r < 0 ? contig_last_message() : "");
		}
	}
	/* The test reads the daemon's view (stats, lists, a restart's
	 * journal) next: fast-path buffers reported now, not within the
	 * bound. */
	if (contig_flush(cl.c) < 0)
		note_error(&cl.rep.alloc_errors, -EPROTO, "flush");
	harness_send(fd, &cl.rep, sizeof(cl.rep));
}

/* Allocate held buffer @k and write its first pattern. */
static int take_held(int k)
{
	struct contig_alloc_req req;
	struct held *h = &cl.rep.held[k];
	uint64_t len;
	int cache, r;

	held_spec(cl.idx, k, &len, &cache);
	contig_alloc_req_init(&req, len);
	req.cache_type = cache;
	r = contig_alloc(cl.c, &req, &cl.bufs[k]);
	if (r < 0) {
		snprintf(cl.rep.last_msg, sizeof(cl.rep.last_msg), "alloc %" PRIu64 ": %s", len,
			 contig_last_message());
		return r;
	}
	*h = (struct held){ .virt = (uintptr_t)cl.bufs[k].virt,
			    .phys = cl.bufs[k].phys,
			    .len = cl.bufs[k].len,
			    .id = cl.bufs[k].id,
			    .seed = ++cl.counter | (uint64_t)cl.idx << 56 | (uint64_t)k << 48,
			    .cache_type = cache };
	pat_fill(cl.bufs[k].virt, h->len, h->seed);
	return 0;
}

/* Setup in two steps, so that the buffers over several frames are all
 * taken (step 1: buffer 2 of the clients planned for it, the longest
 * first) before any single-frame buffer could split a run (step 2: the
 * rest). */
static int client_main(int fd, void *arg)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	bool running = false;
	char cmd;

	cl.idx = (int)(intptr_t)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	harness_close_inherited(fd);
	sigaction(SIGBUS, &sa, NULL);
	cl.rep.pid = getpid();
	cl.rep.setup_rc = contig_connect(NULL, &cl.c);
	if (cl.rep.setup_rc < 0)
		snprintf(cl.rep.last_msg, sizeof(cl.rep.last_msg), "connect: %s",
			 contig_last_message());
	else if (multi_frames[cl.idx] > 1 && (cl.rep.setup_rc = take_held(2)) == -ENOMEM) {
		/* The allocator chose other runs than planned: under one frame. */
		cdiag("no run of %u adjacent frames left: buffer 2 is under one",
		      multi_frames[cl.idx]);
		multi_frames[cl.idx] = 1;
		cl.rep.setup_rc = take_held(2);
	}
	harness_send(fd, &cl.rep.setup_rc, sizeof(cl.rep.setup_rc));
	if (cl.rep.setup_rc == 0 && harness_try_recv(fd, &cmd, 1))
		for (int k = 0; k < NBUF && cl.rep.setup_rc == 0; k++)
			if (k != 2 || !cl.bufs[2].virt)
				cl.rep.setup_rc = take_held(k);
	/* (As in client_report(): the test reads the daemon's view next.) */
	if (cl.rep.setup_rc == 0 && (cl.rep.setup_rc = contig_flush(cl.c)) < 0)
		snprintf(cl.rep.last_msg, sizeof(cl.rep.last_msg), "flush: %s",
			 contig_last_message());
	harness_send(fd, &cl.rep, sizeof(cl.rep));
	if (cl.rep.setup_rc < 0)
		return 1;

	for (;;) {
		if (running) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, 0) <= 0) {
				loop_once();
				continue;
			}
		}
		if (!harness_try_recv(fd, &cmd, 1))
			return 2; /* the test is gone */
		switch (cmd) {
		case 'g':
			running = true;
			break;
		case 'r':
			running = false;
			client_report(fd);
			break;
		case 'q': {
			int bad = 0;

			for (int k = 0; k < NBUF; k++)
				if (contig_free(cl.c, cl.bufs[k].virt) < 0) {
					cdiag("free of buffer %d at the end: %s", k, contig_last_message());
					bad++;
				}
			contig_disconnect(cl.c);
			return bad ? 3 : 0;
		}
		default:
			return 4;
		}
	}
}

/* ---- the test's side: clients ---- */

struct client {
	struct harness_child ch;
	struct report rep;      /* the last report */
	struct held base[NBUF]; /* the first report's: every later one must match it */
	uint64_t cycles_at_stop; /* its churn cycles when the daemon was stopped */
	bool reaped;
};

/* NCLIENTS that live through every restart, and one that dies in the first
 * outage. */
#define DOOMED NCLIENTS
static struct client clients[NCLIENTS + 1];

static struct harness_daemon dm;
static bool dm_running;
static char conf_path[] = "/tmp/contigd-restart.conf.XXXXXX";
/* The first start reserves the pool as configured by default, choosing
 * the longest runs of adjacent frames among many candidates (the
 * buffers over several frames need them). Every restart reserves the new
 * frames it adds to the adopted ones as the kernel hands them out
 * (reserve=sorted): the candidate search took 2 to 11 s for a restart
 * with the bigger pool on a machine whose memory was fragmented and with
 * a busy loop on each core, longer than the grace period the clients wait
 * (their sessions were lost), and this test is about what a restart keeps,
 * not where new frames lie. */
static const char *first_args[] = { "--config", conf_path, "--pool", POOL, NULL };
static const char *pool_args[] = { "--config", conf_path, "--pool", POOL ",reserve=sorted", NULL };
static const char *big_args[] = { "--config", conf_path, "--pool", POOL_BIG ",reserve=sorted",
				  NULL };
static const char *small_args[] = { "--config", conf_path, "--pool",
				    POOL_SMALL ",reserve=sorted", NULL };

/* Distinct frames (2 MiB, physically aligned) under @n held buffers. */
static uint32_t frames_of(const struct held *h, int n)
{
	uint64_t bases[64];
	uint32_t nb = 0;

	for (int k = 0; k < n; k++)
		for (uint64_t f = h[k].phys & ~(FRAME - 1); f < h[k].phys + h[k].len; f += FRAME) {
			bool seen = false;

			for (uint32_t j = 0; j < nb; j++)
				seen |= bases[j] == f;
			if (!seen && nb < 64)
				bases[nb++] = f;
		}
	return nb;
}

static uint64_t bytes_of(const struct held *h, int n)
{
	uint64_t sum = 0;

	for (int k = 0; k < n; k++)
		sum += h[k].len;
	return sum;
}

/* Why client @c did not answer: its exit status if it is gone. */
static void explain_silence(struct client *c)
{
	int status;

	if (waitpid(c->ch.pid, &status, WNOHANG) == c->ch.pid) {
		c->reaped = true;
		diag("  client pid %d is gone: %s %d (77: SIGBUS, its frames were taken)",
		     (int)c->ch.pid, WIFEXITED(status) ? "exit status" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	} else {
		diag("  client pid %d did not answer in time (%s)", (int)c->ch.pid, strerror(errno));
	}
}

/* The next report of @c. A client that does not give one is killed and
 * left out from then on (a late report would answer the wrong question),
 * so each later check fails once for it, not for everything after. */
static bool recv_report(struct client *c, uint64_t deadline)
{
	struct report prev = c->rep;
	uint64_t now = now_ms();

	if (c->reaped)
		return false;
	if (harness_recv_timeout(c->ch.fd, &c->rep, sizeof(c->rep),
				 deadline > now ? (int)(deadline - now) : 1))
		return true;
	explain_silence(c);
	c->rep = prev;
	if (!c->reaped) {
		kill(c->ch.pid, SIGKILL);
		waitpid(c->ch.pid, NULL, 0);
		c->reaped = true;
	}
	return false;
}

/* A client that is gone fails at its next report: the test goes on. */
static void send_cmd(struct client *c, char cmd)
{
	if (!c->reaped && write(c->ch.fd, &cmd, 1) != 1)
		diag("  client pid %d: command '%c': %s", (int)c->ch.pid, cmd, strerror(errno));
}

/* Start client @i: it connects and takes its buffer 2. */
static void client_spawn(int i)
{
	struct client *c = &clients[i];
	int rc;

	harness_child_start(&c->ch, client_main, (void *)(intptr_t)i);
	if (!harness_recv_timeout(c->ch.fd, &rc, sizeof(rc), REPORT_TIMEOUT_MS))
		explain_silence(c);
}

/* Let client @i take the rest and its first report: buffers allocated,
 * patterns written, each buffer contiguous where the library says per
 * pagemap. */
static bool client_setup(int i)
{
	struct client *c = &clients[i];
	bool good;

	send_cmd(c, 's');
	if (!recv_report(c, now_ms() + REPORT_TIMEOUT_MS))
		return false;
	good = c->rep.setup_rc == 0;
	if (!good)
		diag("  client %d: setup failed: %d %s", i, c->rep.setup_rc, c->rep.last_msg);
	for (int k = 0; good && k < NBUF; k++) {
		const struct held *h = &c->rep.held[k];

		if (!harness_phys_contiguous(c->ch.pid, (void *)(uintptr_t)h->virt, h->len, h->phys)) {
			diag("  client %d buffer %d not where the library says", i, k);
			good = false;
		}
	}
	memcpy(c->base, c->rep.held, sizeof(c->base));
	return good;
}

static bool client_start(int i)
{
	client_spawn(i);
	return client_setup(i);
}

/* Buffers over two or three frames for some clients (issue 7: "multi-frame
 * included"), as the pool's runs of adjacent frames allow: hugepages the
 * kernel gave from fragmented memory may be mostly single frames. Each
 * wish takes the shortest run that fits it; one that fits nowhere is
 * made smaller; one that the allocator still cannot place is made under
 * one frame by its client (client_main()). */
static void plan_multi(struct contig_client *c)
{
	static const struct {
		int client;
		uint32_t frames;
	} wishes[] = { { 3, 3 }, { 0, 2 }, { 2, 2 }, { 4, 2 }, { 6, 2 } };
	struct contig_frame_info *frames = NULL;
	uint64_t phys[512];
	uint32_t runs[512], nruns = 0;
	size_t n = 0, np = 0;
	int nmulti = 0;

	if (contig_list_frames(c, &frames, &n) < 0)
		bail_out("list frames: %s", contig_last_message());
	for (size_t j = 0; j < n && np < 512; j++)
		phys[np++] = frames[j].phys;
	free(frames);
	qsort(phys, np, sizeof(phys[0]), harness_cmp_u64);
	for (size_t j = 0; j < np; j++)
		if (j > 0 && phys[j] == phys[j - 1] + FRAME)
			runs[nruns - 1]++;
		else
			runs[nruns++] = 1;
	for (int i = 0; i <= NCLIENTS; i++)
		multi_frames[i] = 1;
	for (size_t w = 0; w < sizeof(wishes) / sizeof(wishes[0]); w++)
		for (uint32_t want = wishes[w].frames; want >= 2; want--) {
			int best = -1;

			for (uint32_t r = 0; r < nruns; r++)
				if (runs[r] >= want && (best < 0 || runs[r] < runs[best]))
					best = (int)r;
			if (best >= 0) {
				runs[best] -= want;
				multi_frames[wishes[w].client] = want;
				nmulti++;
				break;
			}
		}
	diag("the pool: %zu frames in %u runs of adjacent frames; %d buffers planned over several",
	     np, nruns, nmulti);
}

/* Read @len bytes at @virt in process @pid (/proc/<pid>/mem) and check
 * they hold pattern @seed. */
static bool mem_holds(pid_t pid, uint64_t virt, uint64_t len, uint64_t seed)
{
	static uint8_t copy[8 * MiB];
	char path[64];
	ssize_t n;
	int fd;

	if (len > sizeof(copy))
		bail_out("mem_holds: %" PRIu64 " bytes", len);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		diag("  open %s: %s", path, strerror(errno));
		return false;
	}
	n = pread(fd, copy, len, (off_t)virt);
	close(fd);
	if (n != (ssize_t)len) {
		diag("  %s: read %zd of %" PRIu64 " bytes at 0x%" PRIx64, path, n, len, virt);
		return false;
	}
	return pat_diff(copy, len, seed) < 0;
}

static void clients_send(char cmd)
{
	for (int i = 0; i < NCLIENTS; i++)
		send_cmd(&clients[i], cmd);
}

/* Every client loops again; returns once each has made two more rounds
 * (so that the next stop finds them all at work), or bails out. */
static void clients_go(void)
{
	uint64_t from[NCLIENTS], deadline = now_ms() + LOOPS_TIMEOUT_MS;
	struct timespec pause = { 0, 1000000 }; /* between looks, not a synchronisation */

	for (int i = 0; i < NCLIENTS; i++)
		from[i] = atomic_load(&sh->loops[i]);
	clients_send('g');
	for (int i = 0; i < NCLIENTS; i++)
		while (!clients[i].reaped && atomic_load(&sh->loops[i]) < from[i] + 2) {
			if (now_ms() > deadline) {
				diag("client %d does not loop:", i);
				explain_silence(&clients[i]);
				break;
			}
			nanosleep(&pause, NULL);
		}
}

/* Stop every client's loop and check it from outside (see the top of the
 * file). @outage: the daemon went down while they looped, and each must
 * have come through it. */
static void check_clients(const char *when, bool outage)
{
	bool answered = true, fresh = true, same = true, pagemap = true, mem = true, intact = true;
	bool sane = true, errors = true, kept_on = true;
	uint64_t slowest = 0, deadline = now_ms() + REPORT_TIMEOUT_MS;

	clients_send('r');
	for (int i = 0; i < NCLIENTS; i++) {
		struct client *c = &clients[i];
		struct report prev = c->rep;
		const struct report *r = &c->rep;

		if (!recv_report(c, deadline)) {
			answered = false;
			continue;
		}
		if (r->fresh_rc != 0 || !r->fresh_contiguous) {
			fresh = false;
			diag("  client %d: allocate and free for the report: %d (%s), contiguous %d", i,
			     r->fresh_rc, r->last_msg, r->fresh_contiguous);
		}
		for (int k = 0; k < NBUF; k++) {
			const struct held *h = &r->held[k], *b = &c->base[k];

			if (h->virt != b->virt || h->phys != b->phys || h->len != b->len ||
			    h->id != b->id) {
				same = false;
				diag("  client %d buffer %d: virt 0x%" PRIx64 " phys 0x%" PRIx64
				     " id %" PRIu64 ", was 0x%" PRIx64 " 0x%" PRIx64 " %" PRIu64,
				     i, k, h->virt, h->phys, h->id, b->virt, b->phys, b->id);
			}
			if (!harness_phys_contiguous(c->ch.pid, (void *)(uintptr_t)b->virt, b->len,
						     b->phys)) {
				pagemap = false;
				diag("  client %d buffer %d (%" PRIu64 " bytes) is not at phys 0x%" PRIx64
				     " any more per pagemap",
				     i, k, b->len, b->phys);
			}
			if (!mem_holds(c->ch.pid, b->virt, b->len, h->seed)) {
				mem = false;
				diag("  client %d buffer %d does not hold its last pattern per /proc/%d/mem",
				     i, k, (int)c->ch.pid);
			}
		}
		if (r->corrupt != prev.corrupt)
			intact = false;
		if (r->broken != prev.broken || r->phys_mismatch != prev.phys_mismatch) {
			sane = false;
			diag("  client %d: %" PRIu64 " churn buffers not contiguous per pagemap, %" PRIu64
			     " not where contig_virt_to_phys() said, since the last report",
			     i, r->broken - prev.broken, r->phys_mismatch - prev.phys_mismatch);
		}
		if (r->alloc_errors != prev.alloc_errors || r->free_errors != prev.free_errors ||
		    r->enomem != prev.enomem) {
			errors = false;
			diag("  client %d: %" PRIu64 " allocate, %" PRIu64 " free errors, %" PRIu64
			     " ENOMEM since the last report; last: %s",
			     i, r->alloc_errors - prev.alloc_errors, r->free_errors - prev.free_errors,
			     r->enomem - prev.enomem, r->last_msg);
		}
		if (outage && r->cycles <= c->cycles_at_stop) {
			kept_on = false;
			diag("  client %d: %" PRIu64 " allocate-and-free cycles at the stop, %" PRIu64
			     " now",
			     i, c->cycles_at_stop, r->cycles);
		}
		if (r->max_call_ms > slowest)
			slowest = r->max_call_ms;
	}
	/* A client that did not answer fails every check below too: each
	 * says "every". */
	ok(answered, "every_client_answers_%s", when);
	ok(answered && fresh, "every_client_allocates_and_frees_%s", when);
	ok(answered && same, "every_buffer_keeps_its_virt_phys_and_id_%s", when);
	ok(answered && pagemap, "every_buffer_is_on_the_same_physical_pages_per_pagemap_%s", when);
	ok(answered && mem, "every_buffer_holds_its_last_pattern_per_proc_mem_%s", when);
	ok(answered && intact, "no_client_saw_a_pattern_change_%s", when);
	ok(answered && sane, "every_churn_buffer_was_contiguous_and_where_the_library_said_%s",
	   when);
	if (outage) {
		ok(answered && errors, "no_call_failed_through_the_outage_%s", when);
		ok(answered && kept_on,
		   "every_client_kept_allocating_and_freeing_through_the_outage_%s", when);
		diag("slowest client call so far: %" PRIu64 " ms", slowest);
	} else {
		ok(answered && errors, "no_call_failed_%s", when);
	}
}

/* ---- the test's side: stats ---- */

struct want {
	uint32_t nsessions, nbuffers, nframes;
	uint64_t total_len; /* 0: any */
	struct contig_stats last;
};

static bool stats_are(const struct contig_stats *st, void *arg)
{
	struct want *w = arg;
	const struct contig_pool_stats *p = &st->pools[0];

	w->last = *st;
	return st->npools == 1 && p->nframes_recycling == 0 && p->nframes_owned == w->nframes &&
	       p->nbuffers == w->nbuffers && st->nsessions == w->nsessions &&
	       p->free_len + (uint64_t)p->nframes_owned * FRAME == p->total_len &&
	       (!w->total_len || p->total_len == w->total_len);
}

/* What the NCLIENTS clients say they hold, as stats would count it; the
 * test's own connection is the one more session. */
static void want_clients(struct want *w, uint64_t total_len)
{
	memset(w, 0, sizeof(*w));
	w->nsessions = 1;
	w->total_len = total_len;
	for (int i = 0; i < NCLIENTS; i++) {
		if (clients[i].reaped)
			continue;
		w->nsessions++;
		w->nbuffers += NBUF;
		w->nframes += frames_of(clients[i].rep.held, NBUF);
	}
}

static void show_stats(const char *what, const struct contig_stats *st)
{
	const struct contig_pool_stats *p = &st->pools[0];

	diag("  %s: %u sessions, %u buffers, %u of %u frames owned, %u recycling, free %" PRIu64
	     " of %" PRIu64 " MiB",
	     what, st->nsessions, p->nbuffers, p->nframes_owned, p->nframes, p->nframes_recycling,
	     p->free_len >> 20, p->total_len >> 20);
}

/* Wait until the daemon's stats are what @w says (owned frames and buffers
 * are the clients', every other frame free), then check that each client's
 * session and buffers are listed as it says. */
static void check_stats(struct contig_client *c, struct want *w, const char *when)
{
	struct contig_buffer_info *bufs = NULL;
	struct contig_stats st;
	bool all = true, sessions = true, listed = true;
	size_t n = 0;

	/* What every client holds, not what the survivors do. */
	for (int i = 0; i < NCLIENTS; i++)
		if (clients[i].reaped) {
			diag("  client %d is gone: it cannot be checked", i);
			all = false;
		}
	if (!ok(harness_wait_stats(c, stats_are, w) && all,
		"stats_add_up_to_what_the_clients_hold_%s", when)) {
		show_stats("seen", &w->last);
		diag("  wanted: %u sessions, %u buffers, %u frames owned, the rest free, total %" PRIu64
		     " MiB",
		     w->nsessions, w->nbuffers, w->nframes, w->total_len >> 20);
	}
	if (contig_get_stats(c, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	for (int i = 0; i < NCLIENTS; i++) {
		const struct client *cc = &clients[i];
		int found = 0;

		if (cc->reaped)
			continue;

		for (uint32_t s = 0; s < st.nsessions_listed; s++) {
			const struct contig_session_stats *ss = &st.sessions[s];

			if (ss->pid != cc->ch.pid)
				continue;
			found++;
			if (ss->nbuffers != NBUF || ss->nframes != frames_of(cc->rep.held, NBUF) ||
			    ss->len != bytes_of(cc->rep.held, NBUF)) {
				sessions = false;
				diag("  client %d's session: %u buffers, %u frames, %" PRIu64
				     " bytes; it holds %d, %u, %" PRIu64,
				     i, ss->nbuffers, ss->nframes, ss->len, NBUF,
				     frames_of(cc->rep.held, NBUF), bytes_of(cc->rep.held, NBUF));
			}
		}
		if (found != 1) {
			sessions = false;
			diag("  client %d (pid %d) has %d sessions listed", i, (int)cc->ch.pid, found);
		}
	}
	ok(all && sessions, "each_clients_session_owns_what_it_holds_%s", when);

	if (contig_list_buffers(c, &bufs, &n) < 0)
		bail_out("list buffers: %s", contig_last_message());
	if (n != w->nbuffers) {
		listed = false;
		diag("  %zu buffers listed, the clients hold %u", n, w->nbuffers);
	}
	for (size_t j = 0; j < n; j++) {
		const struct held *match = NULL;

		for (int i = 0; i < NCLIENTS && !match; i++)
			for (int k = 0; k < NBUF && !clients[i].reaped; k++) {
				const struct held *h = &clients[i].rep.held[k];

				if (bufs[j].pid == clients[i].ch.pid && bufs[j].id == h->id)
					match = h;
			}
		if (!match || match->phys != bufs[j].phys || match->len != bufs[j].len ||
		    match->cache_type != bufs[j].cache_type) {
			listed = false;
			diag("  listed: pid %d id %" PRIu64 " phys 0x%" PRIx64 " %" PRIu64
			     " bytes: %s",
			     bufs[j].pid, bufs[j].id, bufs[j].phys, bufs[j].len,
			     match ? "differs from what its client holds" : "no client holds it");
		}
	}
	free(bufs);
	ok(all && listed, "the_buffer_list_is_exactly_what_the_clients_hold_%s", when);
}

/* ---- raw sessions: tokens and retries by hand (raw.h) ---- */

/* A hello with @seq presenting @token (@len bytes; NULL: none). The reply,
 * or NULL. */
static Contig__Reply *hello_token(int sock, uint64_t seq, const uint8_t *token, size_t len)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;

	hello.version = CONTIG_PROTOCOL_VERSION;
	if (token) {
		hello.has_resume_token = 1;
		hello.resume_token.data = (uint8_t *)token;
		hello.resume_token.len = len;
	}
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &hello;
	return raw_call(sock, &req, seq, NULL);
}

/* Present @token on a new connection: the reply's status (-1: none) and
 * whether the daemon then closed the connection (*ret_closed). On OK,
 * *ret_resumed and the connection (*ret_sock) are the caller's; otherwise
 * it is closed. */
static int resume(const uint8_t *token, size_t len, bool *ret_closed, bool *ret_resumed,
		  int *ret_sock)
{
	int sock = raw_connect(dm.sock), status;
	Contig__Reply *reply = hello_token(sock, 100, token, len);

	status = reply ? (int)reply->status : -1;
	*ret_resumed = reply && reply->body_case == CONTIG__REPLY__BODY_HELLO &&
		       reply->hello->has_resumed && reply->hello->resumed;
	if (reply && status != CONTIG__STATUS__OK)
		diag("  hello with a token: status %d \"%s\"", status,
		     reply->message ? reply->message : "");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	*ret_closed = status != CONTIG__STATUS__OK && raw_closed_after(sock, (Contig__Status)status);
	if (status == CONTIG__STATUS__OK && ret_sock) {
		*ret_sock = sock;
	} else {
		close(sock);
		if (ret_sock)
			*ret_sock = -1;
	}
	return status;
}

/* A raw session and its one buffer, mapped in this process through the
 * frame's descriptor. */
struct raw_session {
	int sock;
	uint8_t token[CONTIG_TOKEN_LEN];
	size_t token_len;
	uint32_t grace_ms;
	uint64_t id, phys, len, offset, seed;
	uint8_t *map; /* the buffer's frame */
};

/* Connect and say hello; keep the token. */
static void raw_open(struct raw_session *r)
{
	Contig__Reply *reply;

	memset(r, 0, sizeof(*r));
	r->sock = raw_connect(dm.sock);
	reply = hello_token(r->sock, 1, NULL, 0);
	if (!reply || reply->status != CONTIG__STATUS__OK ||
	    reply->body_case != CONTIG__REPLY__BODY_HELLO)
		bail_out("raw hello refused");
	if (reply->hello->has_session_token && reply->hello->session_token.len <= CONTIG_TOKEN_LEN) {
		r->token_len = reply->hello->session_token.len;
		memcpy(r->token, reply->hello->session_token.data, r->token_len);
	}
	r->grace_ms = reply->hello->has_grace_ms ? reply->hello->grace_ms : 0;
	contig__reply__free_unpacked(reply, NULL);
}

struct raw_alloc {
	int status; /* -1: no reply */
	uint64_t id, phys, len, offset;
	uint32_t nframes;
	bool frame_held;
	int fd; /* the frame's, or -1 */
};

static struct raw_alloc raw_alloc_seq(int sock, uint64_t seq, uint64_t len, int cache)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	struct raw_alloc out = { .status = -1, .fd = -1 };
	Contig__Reply *reply;

	a.len = len;
	a.has_cache_type = 1;
	a.cache_type = cache;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	reply = raw_call(sock, &req, seq, &out.fd);
	if (!reply)
		return out;
	out.status = reply->seq == seq ? (int)reply->status : -1;
	if (out.status == CONTIG__STATUS__OK && reply->body_case == CONTIG__REPLY__BODY_ALLOC) {
		out.id = reply->alloc->buffer_id;
		out.phys = reply->alloc->phys;
		out.len = reply->alloc->len;
		out.offset = reply->alloc->offset;
		out.nframes = reply->alloc->nframes;
		out.frame_held = reply->alloc->has_frame_held && reply->alloc->frame_held;
	} else if (out.status == CONTIG__STATUS__OK) {
		out.status = -1;
	}
	if (out.status != CONTIG__STATUS__OK)
		diag("  raw allocate seq %" PRIu64 ": status %d \"%s\"", seq, out.status,
		     reply->message ? reply->message : "");
	contig__reply__free_unpacked(reply, NULL);
	return out;
}

static uint8_t *map_frame(int fd)
{
	void *p = mmap(NULL, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		bail_out("mmap of a frame: %s", strerror(errno));
	return p;
}

/* Allocate @r's one buffer (@len bytes of @cache, with @seq), map its
 * frame and write a pattern in it. */
static void raw_take(struct raw_session *r, uint64_t seq, uint64_t len, int cache)
{
	struct raw_alloc a = raw_alloc_seq(r->sock, seq, len, cache);

	if (a.status != CONTIG__STATUS__OK || a.fd < 0 || a.nframes != 1)
		bail_out("raw allocate of %" PRIu64 " bytes failed", len);
	r->id = a.id;
	r->phys = a.phys;
	r->len = a.len;
	r->offset = a.offset;
	r->map = map_frame(a.fd);
	close(a.fd);
	r->seed = r->phys ^ 0x5eed;
	pat_fill(r->map + r->offset, r->len, r->seed);
}

/* The daemon is gone: drop the connection (the mapping stays). */
static void raw_drop(struct raw_session *r)
{
	close(r->sock);
	r->sock = -1;
}

/* Before the buffer is freed: a recycled frame would SIGBUS us. */
static void raw_unmap(struct raw_session *r)
{
	if (r->map)
		munmap(r->map, FRAME);
	r->map = NULL;
}

/* Another uid presents a token: a client process that becomes nobody
 * first says a plain hello (it may connect at all), then presents @arg. */
struct foreign_result {
	int plain_status, token_status;
	bool closed;
};

static int foreign_main(int fd, void *arg)
{
	const uint8_t *token = arg;
	struct foreign_result res = { -1, -1, false };
	Contig__Reply *reply;
	int sock;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	harness_close_inherited(fd);
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0 ||
	    getuid() != NOBODY)
		return 3;
	sock = raw_connect(getenv("CONTIGD_SOCKET"));
	res.plain_status = raw_hello_version(sock, CONTIG_PROTOCOL_VERSION);
	close(sock);
	sock = raw_connect(getenv("CONTIGD_SOCKET"));
	reply = hello_token(sock, 1, token, CONTIG_TOKEN_LEN);
	res.token_status = reply ? (int)reply->status : -1;
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	res.closed = raw_closed_after(sock, (Contig__Status)res.token_status);
	close(sock);
	harness_send(fd, &res, sizeof(res));
	return 0;
}

/* ---- the daemon ---- */

static struct contig_client *root; /* this test's own connection, as root */
static char journal_path[256];

static void root_connect(void)
{
	root = harness_connect(&dm);
}

/* Close the test's connection before a stop, so that it is not one more
 * session left behind. */
static void root_drop(void)
{
	contig_disconnect(root);
	root = NULL;
}

static uint64_t down_at;

static int daemon_down(int sig)
{
	int status;

	for (int i = 0; i < NCLIENTS; i++)
		clients[i].cycles_at_stop = atomic_load(&sh->cycles[i]);
	down_at = now_ms();
	status = harness_daemon_kill(&dm, sig);
	dm_running = false;
	return status;
}

/* Start it again; returns when it said READY=1. */
static uint64_t daemon_up(const char *const *args)
{
	uint64_t ready;

	harness_daemon_restart(&dm, args);
	dm_running = true;
	ready = now_ms();
	diag("contigd down for %" PRIu64 " ms", ready - down_at);
	return ready;
}

/* A test that stops early must not leave frames (hugepages) behind. */
static void cleanup(void)
{
	for (int i = 0; i <= NCLIENTS; i++)
		if (clients[i].ch.pid > 0 && !clients[i].reaped) {
			kill(clients[i].ch.pid, SIGKILL);
			waitpid(clients[i].ch.pid, NULL, 0);
		}
	contig_disconnect(root);
	if (dm_running) {
		/* SIGTERM: a daemon left with no session releases everything
		 * and gives back the hugepages it added; then SIGKILL. */
		uint64_t deadline = now_ms() + 10000;
		pid_t gone;

		kill(dm.pid, SIGTERM);
		while ((gone = waitpid(dm.pid, NULL, WNOHANG)) == 0 && now_ms() < deadline)
			nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
		if (gone == 0) {
			kill(dm.pid, SIGKILL);
			waitpid(dm.pid, NULL, 0);
		}
		unlink(dm.log_path);
		unlink(dm.sock);
		rmdir(dm.dir);
	}
	if (dm.sock[0])
		harness_instance_purge(dm.sock);
	unlink(conf_path);
}

/* The journal's records are [u32 length][u32 CRC][record], little-endian
 * (daemon/journal.c); a journal in use is allocated ahead, and the zeroes
 * past its last record (a frame of length 0) end it as its end of file
 * would. Where the last whole record starts and how long it is, and
 * whether nothing but zeroes follows it. */
static bool journal_last_record(off_t *ret_start, uint32_t *ret_len, off_t *ret_size)
{
	int fd = open(journal_path, O_RDONLY | O_CLOEXEC);
	off_t off = 0, last = -1, n;
	uint32_t last_len = 0;
	bool clean = true;
	struct stat st;
	uint8_t *buf;

	*ret_start = -1;
	*ret_len = 0;
	*ret_size = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		diag("  open %s: %s", journal_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	n = st.st_size;
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || pread(fd, buf, (size_t)n, 0) != (ssize_t)n)
		bail_out("reading %s: %s", journal_path, strerror(errno));
	close(fd);
	while (off + 8 <= n) {
		uint32_t len = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 |
			       (uint32_t)buf[off + 2] << 16 | (uint32_t)buf[off + 3] << 24;

		if (len == 0 || off + 8 + (off_t)len > n)
			break;
		last = off;
		last_len = len;
		off += 8 + len;
	}
	for (off_t i = off; i < n; i++)
		if (buf[i] != 0) {
			diag("  %s: byte %lld after the last whole record is not zero", journal_path,
			     (long long)i);
			clean = false;
			break;
		}
	free(buf);
	*ret_start = last;
	*ret_len = last_len;
	*ret_size = n;
	return last >= 0 && clean;
}

/* ---- the rounds ---- */

/* Root's view: is a session of @pid listed, and with what? */
static const struct contig_session_stats *session_of(const struct contig_stats *st, pid_t pid)
{
	for (uint32_t s = 0; s < st->nsessions_listed; s++)
		if (st->sessions[s].pid == pid)
			return &st->sessions[s];
	return NULL;
}

static void check_bad_tokens(const uint8_t *good)
{
	uint8_t bad[CONTIG_TOKEN_LEN];
	bool closed, resumed;
	int status;

	status = resume(good, 5, &closed, &resumed, NULL);
	ok(status == CONTIG__STATUS__INVALID_ARGUMENT && closed,
	   "a_malformed_token_is_refused_as_invalid_and_the_connection_closed");
	memcpy(bad, good, sizeof(bad));
	bad[0] = CONTIG_TOKEN_FORMAT + 1;
	status = resume(bad, sizeof(bad), &closed, &resumed, NULL);
	ok(status == CONTIG__STATUS__UNSUPPORTED && closed,
	   "a_token_of_a_newer_format_is_refused_as_unsupported_and_the_connection_closed");
	memcpy(bad, good, sizeof(bad));
	for (size_t i = 1; i < sizeof(bad); i++)
		bad[i] ^= 0xa5;
	status = resume(bad, sizeof(bad), &closed, &resumed, NULL);
	ok(status == CONTIG__STATUS__NOT_FOUND && closed,
	   "a_token_no_session_was_given_is_not_found_and_the_connection_closed");
}

/* Issue 7's first case and what goes with it: kill -9 while the clients
 * loop; one client dies in the outage; tokens and the allocate retry. */
/* Right after a restart (the clients may be reclaiming meanwhile, none
 * has been released yet): the daemon counts as restored every session it
 * adopted, @n (the clients', and the raw sessions that held a buffer), each
 * of them still an orphan or resumed since. */
static void check_restored_count(uint32_t n, const char *when)
{
	struct contig_stats st;
	struct contig_counters cnt;

	if (contig_get_counters(root, &st, &cnt) < 0)
		bail_out("counters: %s", contig_last_message());
	if (!ok(cnt.known && cnt.nsessions_restored == n &&
			cnt.norphans + cnt.nsessions_resumed == n,
		"%s_nsessions_restored_counts_every_session_adopted", when))
		diag("  %" PRIu64 " restored, %u orphans, %" PRIu64 " resumed; %u adopted",
		     cnt.nsessions_restored, cnt.norphans, cnt.nsessions_resumed, n);
}

static void round_kill9(void)
{
	struct client *doomed = &clients[DOOMED];
	struct raw_session r3, r6, late;
	struct raw_alloc gone, again, fresh;
	struct foreign_result fres = { -1, -1, false };
	struct harness_child foreign;
	const struct contig_session_stats *ss;
	struct contig_stats st;
	Contig__Reply *reply;
	bool closed, resumed, restored;
	uint64_t ready;
	struct want w;
	int status;

	ok(client_start(DOOMED), "a_client_that_will_die_in_the_outage_holds_its_buffers");
	raw_open(&r3);
	raw_open(&r6);
	raw_open(&late);
	ok(r3.token_len == CONTIG_TOKEN_LEN && r3.token[0] == CONTIG_TOKEN_FORMAT,
	   "the_hello_reply_carries_a_session_token_of_format_1");
	ok(r6.token_len == CONTIG_TOKEN_LEN && memcmp(r3.token, r6.token, CONTIG_TOKEN_LEN) &&
		   memcmp(r6.token, late.token, CONTIG_TOKEN_LEN) &&
		   memcmp(r3.token, late.token, CONTIG_TOKEN_LEN),
	   "every_session_gets_a_token_of_its_own");
	is_u64(r3.grace_ms, GRACE_MS, "the_hello_reply_says_the_configured_grace_period");
	if (r3.token_len != CONTIG_TOKEN_LEN)
		bail_out("no session token: session_grace not in this contigd?");
	raw_take(&r3, 2, 4096, CONTIG_CACHED);
	raw_take(&r6, 2, 12288, CONTIG_WRITE_COMBINED);
	/* a second buffer, freed before the crash: its free is retried after */
	gone = raw_alloc_seq(r6.sock, 3, 4096, CONTIG_WRITE_COMBINED);
	if (gone.fd >= 0)
		close(gone.fd);
	ok(gone.status == CONTIG__STATUS__OK && raw_free(r6.sock, 4, gone.id) == CONTIG__STATUS__OK,
	   "a_raw_session_allocates_and_frees_before_the_crash");
	raw_take(&late, 2, 4096, CONTIG_CACHED);

	root_drop();
	clients_go();
	status = daemon_down(SIGKILL);
	is_u64(status, 128 + SIGKILL, "contigd_is_killed_with_sigkill_while_the_clients_loop");
	raw_drop(&r3);
	raw_drop(&r6);
	raw_drop(&late);
	kill(doomed->ch.pid, SIGKILL);
	status = harness_child_wait(&doomed->ch);
	doomed->reaped = true;
	is_u64(status, 128 + SIGKILL, "a_client_holding_buffers_is_killed_while_contigd_is_down");
	ready = daemon_up(pool_args);

	/* At once: the dead client's session is there, without a client. */
	root_connect();
	if (contig_get_stats(root, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	ss = session_of(&st, doomed->ch.pid);
	/* (Its held buffers were reported before the crash; a churn buffer
	 * its fast path reported and freed within the bound before it died
	 * may be listed too: the daemon's view of a client that dies is its
	 * last report. Frames are the daemon's own count, exact.) */
	restored = ss && (ss->nbuffers == NBUF || ss->nbuffers == NBUF + 1) &&
		   ss->nframes == frames_of(doomed->base, NBUF) &&
		   ss->len >= bytes_of(doomed->base, NBUF) &&
		   ss->len <= bytes_of(doomed->base, NBUF) + 192 * 1024;
	if (!ok(restored, "a_session_whose_client_died_in_the_outage_is_restored_at_first"))
		diag("  pid %d: %s: %u buffers, %u frames, %" PRIu64 " bytes; held %d, %d, %" PRIu64,
		     (int)doomed->ch.pid, ss ? "listed with other buffers" : "not listed",
		     ss ? ss->nbuffers : 0, ss ? ss->nframes : 0, ss ? ss->len : 0, NBUF,
		     frames_of(doomed->base, NBUF), bytes_of(doomed->base, NBUF));
	check_restored_count(NCLIENTS + 4, "after_sigkill");

	/* Another uid presents r3's token; then root does. */
	harness_child_start(&foreign, foreign_main, r3.token);
	if (!harness_recv_timeout(foreign.fd, &fres, sizeof(fres), REPORT_TIMEOUT_MS))
		diag("  the other uid's client did not answer");
	status = harness_child_wait(&foreign);
	ok(status == 0 && fres.plain_status == CONTIG__STATUS__OK, "uid_65534_may_connect");
	if (!ok(fres.token_status == CONTIG__STATUS__PERMISSION_DENIED && fres.closed,
		"a_token_presented_by_another_uid_is_refused_and_the_connection_closed"))
		diag("  status %d, closed %d", fres.token_status, fres.closed);
	status = resume(r3.token, CONTIG_TOKEN_LEN, &closed, &resumed, &r3.sock);
	ok(status == CONTIG__STATUS__OK && resumed, "the_uid_it_was_given_to_then_gets_the_session_back");
	reply = r3.sock >= 0 ? raw_stats(r3.sock, 101) : NULL;
	ok(reply && reply->stats->my_nbuffers == 1 && reply->stats->my_len == r3.len,
	   "the_session_comes_back_with_its_buffer");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(pat_diff(r3.map + r3.offset, r3.len, r3.seed) < 0 &&
		   harness_phys_of(getpid(), r3.map + r3.offset) == r3.phys,
	   "its_buffer_kept_its_bytes_and_its_physical_address_per_pagemap");
	raw_unmap(&r3);
	ok(r3.sock >= 0 && raw_free(r3.sock, 102, r3.id) == CONTIG__STATUS__OK,
	   "its_buffer_id_is_valid_in_the_session_reclaimed");
	if (r3.sock >= 0)
		close(r3.sock);

	/* The allocate retry: same seq, same buffer. */
	status = resume(r6.token, CONTIG_TOKEN_LEN, &closed, &resumed, &r6.sock);
	ok(status == CONTIG__STATUS__OK && resumed, "a_second_session_is_reclaimed_by_its_token");
	if (r6.sock < 0)
		bail_out("cannot go on without the session");
	again = raw_alloc_seq(r6.sock, 2, 12288, CONTIG_WRITE_COMBINED);
	if (!ok(again.status == CONTIG__STATUS__OK && again.id == r6.id && again.phys == r6.phys &&
			again.len == r6.len && again.offset == r6.offset,
		"an_allocate_resent_with_its_seq_after_the_restart_names_the_same_buffer"))
		diag("  sent seq 2, 12288 bytes, write-combined; got status %d id %" PRIu64
		     " phys 0x%" PRIx64 "; the first reply said id %" PRIu64 " phys 0x%" PRIx64,
		     again.status, again.id, again.phys, r6.id, r6.phys);
	ok(again.nframes == 1 && again.fd >= 0 && !again.frame_held,
	   "and_carries_the_frame_descriptor_as_a_fresh_allocation_would");
	if (again.fd >= 0) {
		uint8_t *map = map_frame(again.fd);

		ok(pat_diff(map + r6.offset, r6.len, r6.seed) < 0 &&
			   harness_phys_of(getpid(), map + r6.offset) == r6.phys,
		   "that_frame_holds_what_was_written_before_the_crash_per_pagemap");
		munmap(map, FRAME);
		close(again.fd);
	} else {
		ok(false, "that_frame_holds_what_was_written_before_the_crash_per_pagemap");
	}
	reply = raw_stats(r6.sock, 101);
	if (!ok(reply && reply->stats->my_nbuffers == 1 && reply->stats->my_len == r6.len,
		"the_resent_allocate_is_not_applied_twice"))
		diag("  the session holds %u buffers", reply ? reply->stats->my_nbuffers : 0);
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(raw_free(r6.sock, 4, gone.id) == CONTIG__STATUS__NOT_FOUND,
	   "a_free_resent_after_the_restart_of_a_buffer_freed_before_answers_not_found");
	fresh = raw_alloc_seq(r6.sock, 102, 4096, CONTIG_WRITE_COMBINED);
	if (fresh.fd >= 0)
		close(fresh.fd);
	ok(fresh.status == CONTIG__STATUS__OK && fresh.id != r6.id,
	   "a_new_seq_after_the_restart_is_a_new_buffer");
	raw_unmap(&r6);
	ok(raw_free(r6.sock, 103, r6.id) == CONTIG__STATUS__OK &&
		   raw_free(r6.sock, 104, fresh.id) == CONTIG__STATUS__OK,
	   "both_are_freed");
	close(r6.sock);

	check_bad_tokens(late.token);
	check_clients("after_kill_9", true);

	/* The grace period over: the dead client's session and late's are
	 * recycled, and nothing else. */
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "after_kill_9_once_the_grace_period_is_over");
	diag("the orphans were gone %" PRIu64 " ms after READY (grace %d ms)", now_ms() - ready,
	     GRACE_MS);
	if (contig_get_stats(root, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	ok(restored && !session_of(&st, doomed->ch.pid),
	   "the_dead_clients_session_frames_and_buffers_are_gone_after_the_grace_period");
	status = resume(late.token, CONTIG_TOKEN_LEN, &closed, &resumed, NULL);
	ok(status == CONTIG__STATUS__NOT_FOUND && closed,
	   "a_token_presented_after_the_grace_period_is_not_found");
	raw_unmap(&late);
	clients_go();
}

/* More crashes while the clients loop: each catches some of their
 * requests in flight (sent and not yet read, applied and journaled but not
 * answered, answered but not yet received), and each must be retried
 * exactly once. */
static void round_kill9_again(int n)
{
	char when[64];
	struct want w;

	snprintf(when, sizeof(when), "after_kill_9_number_%d", n);
	root_drop();
	daemon_down(SIGKILL);
	daemon_up(pool_args);
	root_connect();
	check_clients(when, true);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, when);
	clients_go();
}

/* A raw session's allocate, answered, then two crashes in a row before it
 * comes back (the first restart compacts the journal): its retry with the
 * same seq still names the same buffer. */
static void round_retry_after_two_crashes(void)
{
	struct raw_session r;
	struct raw_alloc again;
	Contig__Reply *reply;
	bool closed, resumed;
	struct want w;
	int status;

	raw_open(&r);
	raw_take(&r, 2, 8192, CONTIG_CACHED);
	root_drop();
	daemon_down(SIGKILL);
	raw_drop(&r);
	daemon_up(pool_args);
	daemon_down(SIGKILL);
	daemon_up(pool_args);
	status = resume(r.token, CONTIG_TOKEN_LEN, &closed, &resumed, &r.sock);
	ok(status == CONTIG__STATUS__OK && resumed,
	   "a_session_untouched_through_two_crashes_is_reclaimed");
	if (r.sock < 0)
		bail_out("cannot go on without the session");
	again = raw_alloc_seq(r.sock, 2, 8192, CONTIG_CACHED);
	if (again.fd >= 0)
		close(again.fd);
	if (!ok(again.status == CONTIG__STATUS__OK && again.id == r.id && again.phys == r.phys,
		"an_allocate_resent_after_two_crashes_in_a_row_names_the_same_buffer"))
		diag("  got status %d id %" PRIu64 " phys 0x%" PRIx64 "; first id %" PRIu64
		     " phys 0x%" PRIx64, again.status, again.id, again.phys, r.id, r.phys);
	reply = raw_stats(r.sock, 101);
	ok(reply && reply->stats->my_nbuffers == 1, "and_is_not_applied_twice");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(pat_diff(r.map + r.offset, r.len, r.seed) < 0, "its_bytes_survived_both_crashes");
	raw_unmap(&r);
	ok(raw_free(r.sock, 102, r.id) == CONTIG__STATUS__OK, "and_it_is_freed");
	close(r.sock);
	root_connect();
	check_clients("after_two_crashes_in_a_row", true);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "after_two_crashes_in_a_row");
	clients_go();
}

/* A stand-in for the restarted daemon on dm.sock: it gives every session
 * back (a hello with a token is answered resumed) and dies at the first
 * other request on a connection, as a daemon killed right then would: that
 * request is the one in flight, resent. Until that has happened to a
 * resent request of each of the clients (told apart by SO_PEERCRED), or
 * LOOPS_TIMEOUT_MS. Returns how many of them. */
#define MAX_FAKE_CONNS 64
static int fake_daemon_dies_at_resend(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct pollfd p[1 + MAX_FAKE_CONNS];
	bool caught[NCLIENTS] = { false };
	uint64_t deadline = now_ms() + LOOPS_TIMEOUT_MS;
	int n = 1, ncaught = 0, lsock;

	memcpy(addr.sun_path, dm.sock, strlen(dm.sock) + 1);
	unlink(dm.sock);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lsock, MAX_FAKE_CONNS) < 0)
		bail_out("a stand-in daemon on %s: %s", dm.sock, strerror(errno));
	p[0] = (struct pollfd){ .fd = lsock, .events = POLLIN };
	while (ncaught < NCLIENTS && now_ms() < deadline) {
		if (poll(p, (nfds_t)n, 100) < 0 && errno != EINTR)
			bail_out("poll: %s", strerror(errno));
		if (p[0].revents & POLLIN) {
			int sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);

			if (sock >= 0 && n < 1 + MAX_FAKE_CONNS)
				p[n++] = (struct pollfd){ .fd = sock, .events = POLLIN };
			else if (sock >= 0)
				close(sock);
		}
		for (int i = 1; i < n; i++) {
			static uint8_t buf[CONTIG_MAX_REQUEST_LEN];
			Contig__Request *req = NULL;
			struct ucred cred;
			socklen_t clen = sizeof(cred);
			ssize_t len;

			if (!p[i].revents)
				continue;
			len = recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (len < 0 && errno == EAGAIN)
				continue;
			if (len > 0)
				req = contig__request__unpack(NULL, (size_t)len, buf);
			if (req && req->body_case == CONTIG__REQUEST__BODY_HELLO &&
			    req->hello->has_resume_token) {
				Contig__Reply reply = CONTIG__REPLY__INIT;
				Contig__HelloReply hello = CONTIG__HELLO_REPLY__INIT;
				uint8_t out[256];

				hello.version = CONTIG_PROTOCOL_VERSION;
				hello.max_frames_per_buffer = 64;
				hello.has_grace_ms = hello.has_resumed = hello.resumed = 1;
				hello.grace_ms = GRACE_MS;
				reply.seq = req->seq;
				reply.status = CONTIG__STATUS__OK;
				reply.body_case = CONTIG__REPLY__BODY_HELLO;
				reply.hello = &hello;
				contig__request__free_unpacked(req, NULL);
				if (contig__reply__get_packed_size(&reply) <= sizeof(out) &&
				    send(p[i].fd, out, contig__reply__pack(&reply, out), MSG_NOSIGNAL) > 0)
					continue;
				req = NULL;
			}
			if (req && getsockopt(p[i].fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
				for (int k = 0; k < NCLIENTS; k++)
					if (clients[k].ch.pid == cred.pid && !caught[k]) {
						caught[k] = true;
						ncaught++;
					}
			if (req)
				contig__request__free_unpacked(req, NULL);
			close(p[i].fd); /* dead: the request in flight goes unanswered */
			p[i--] = p[--n];
		}
	}
	for (int i = 1; i < n; i++)
		close(p[i].fd);
	close(lsock);
	unlink(dm.sock);
	return ncaught;
}

/* A crash while the clients' requests are being resent after a restart:
 * each is resent once more, to the daemon that comes back after that, and
 * none fails or is applied twice (the stats). */
static void round_crash_during_resend(void)
{
	struct want w;
	int caught;

	root_drop();
	daemon_down(SIGKILL);
	caught = fake_daemon_dies_at_resend();
	if (!ok(caught == NCLIENTS, "every_client_resent_its_request_to_a_daemon_that_died_at_once"))
		diag("  %d of %d clients resent a request before the stand-in gave up", caught,
		     NCLIENTS);
	daemon_up(pool_args);
	root_connect();
	check_clients("after_a_crash_while_requests_were_resent", true);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "after_a_crash_while_requests_were_resent");
	clients_go();
}

/* SIGTERM with clients attached, then start: the same as kill -9. */
static void round_sigterm(void)
{
	struct want w;
	int status;

	root_drop();
	status = daemon_down(SIGTERM);
	is_u64(status, 0, "sigterm_with_clients_attached_exits_0");
	ok(access(journal_path, F_OK) == 0, "the_journal_stays_for_the_sessions_still_attached");
	daemon_up(pool_args);
	root_connect();
	check_restored_count(NCLIENTS, "after_sigterm");
	check_clients("after_sigterm", true);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "after_sigterm");
	clients_go();
}

/* The journal's last record cut in half: the daemon starts, says so, and
 * every earlier session is reclaimed. The last record is made a raw
 * session's (its allocate), with nothing else happening: the clients are
 * stopped first and the test's own connection has closed. */
static void round_torn(void)
{
	struct timespec pause = { 0, 1000000 }; /* between looks, not a synchronisation */
	struct raw_session r4;
	struct contig_stats st;
	uint64_t deadline;
	struct want w;
	off_t start, size, mark;
	uint32_t len;
	bool closed, resumed, quiet = false;
	int status;

	check_clients("before_the_journal_is_cut", false);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "before_the_journal_is_cut");
	root_drop();
	raw_open(&r4);
	/* Until the test's connection is seen closed and no frame recycles:
	 * then nothing but r4 writes to the journal. */
	deadline = now_ms() + LOOPS_TIMEOUT_MS;
	for (uint64_t seq = 2; !quiet && now_ms() < deadline; seq++) {
		Contig__Reply *reply = raw_stats(r4.sock, seq);

		if (!reply)
			bail_out("raw stats failed");
		quiet = reply->stats->nsessions == w.nsessions && reply->stats->n_pools == 1 &&
			reply->stats->pools[0]->nframes_recycling == 0;
		contig__reply__free_unpacked(reply, NULL);
		if (!quiet)
			nanosleep(&pause, NULL);
	}
	if (!quiet)
		bail_out("the test's connection did not close");
	raw_take(&r4, 1000, 4096, CONTIG_NON_CACHED_UNORDERED);
	status = daemon_down(SIGKILL);
	raw_drop(&r4);
	is_u64(status, 128 + SIGKILL, "contigd_is_killed_again");
	ok(journal_last_record(&start, &len, &size), "kill_9_leaves_only_whole_records_in_the_journal");
	/* Cut in the middle of the last record: what a crash in the middle of
	 * storing it leaves, but for the zeroes that would follow. */
	if (start < 0 || truncate(journal_path, start + 8 + len / 2) < 0)
		bail_out("cutting %s: %s", journal_path, strerror(errno));
	diag("journal of %lld bytes cut to %lld: the last record (%u bytes at %lld) cut in half",
	     (long long)size, (long long)(start + 8 + len / 2), len, (long long)start);
	mark = harness_daemon_log_len(&dm);
	daemon_up(pool_args);
	root_connect();
	ok(contig_get_stats(root, &st) == 0 && st.npools == 1, "contigd_serves_after_a_torn_journal");
	ok(harness_daemon_log_since(&dm, mark, "torn"), "contigd_says_it_recovered_a_torn_journal");
	check_clients("after_a_torn_journal", false);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "after_a_torn_journal_once_the_grace_period_is_over");
	/* Whether r4's session (its allocate was the torn record) comes back
	 * empty or not at all is the daemon's choice; its frame is not lost
	 * either way (the stats above). */
	status = resume(r4.token, CONTIG_TOKEN_LEN, &closed, &resumed, NULL);
	diag("the token of the session whose allocate was torn: status %d", status);
	raw_unmap(&r4);
	clients_go();
}

/* A bigger pool at the restart: new frames beside the owned ones. */
static void round_bigger(void)
{
	struct want w;

	root_drop();
	daemon_down(SIGKILL);
	daemon_up(big_args);
	root_connect();
	check_clients("after_a_restart_with_a_bigger_pool", true);
	want_clients(&w, POOL_BIG_LEN);
	check_stats(root, &w, "after_a_restart_with_a_bigger_pool");
	clients_go();
}

/* A pool smaller than the frames in use: every owned frame stays. */
static void round_smaller(void)
{
	struct contig_stats st;
	uint64_t owned_len, want_len;
	struct want w;

	check_clients("before_a_restart_with_a_smaller_pool", false);
	want_clients(&w, POOL_BIG_LEN);
	check_stats(root, &w, "before_a_restart_with_a_smaller_pool");
	owned_len = (uint64_t)w.nframes * FRAME;
	want_len = owned_len > POOL_SMALL_LEN ? owned_len : POOL_SMALL_LEN;
	root_drop();
	daemon_down(SIGKILL);
	daemon_up(small_args);
	root_connect();
	if (contig_get_stats(root, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	if (!ok(st.npools == 1 && st.pools[0].total_len == want_len,
		"a_pool_configured_smaller_than_its_owned_frames_holds_just_those"))
		show_stats("seen", &st);
	diag("%u frames owned (%" PRIu64 " MiB), %" PRIu64 " MiB configured", w.nframes,
	     owned_len >> 20, (uint64_t)POOL_SMALL_LEN >> 20);
	check_clients("after_a_restart_with_a_smaller_pool", false);
	want_clients(&w, want_len);
	check_stats(root, &w, "after_a_restart_with_a_smaller_pool");
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->nsessions == 1 && st->pools[0].nbuffers == 0 &&
	       st->pools[0].nframes_owned == 0 && st->pools[0].nframes_recycling == 0;
}

/* The clients free everything and exit; with no session left, the daemon
 * stops cleanly and keeps nothing. */
static void finish(void)
{
	struct contig_stats st;
	bool clean = true;
	int status;

	clients_send('q');
	for (int i = 0; i < NCLIENTS; i++) {
		if (clients[i].reaped) {
			clean = false;
			continue;
		}
		status = harness_child_wait(&clients[i].ch);
		clients[i].reaped = true;
		if (status != 0) {
			clean = false;
			diag("  client %d exited with %d", i, status);
		}
	}
	ok(clean, "every_client_frees_everything_and_exits_cleanly");
	ok(harness_wait_stats(root, all_free, NULL), "every_frame_is_free_at_the_end");
	if (contig_get_stats(root, &st) == 0)
		diag("the pool holds %" PRIu64 " MiB once every frame is free", st.pools[0].total_len >> 20);
	root_drop();
	status = harness_daemon_stop(&dm);
	dm_running = false;
	is_u64(status, 0, "contigd_stops_cleanly_with_no_session_left");
	ok(access(journal_path, F_OK) < 0 && errno == ENOENT,
	   "with_no_session_left_the_journal_is_removed");
	ok(harness_keeper_pid(dm.sock) == 0, "and_the_frame_keeper_has_exited");
}

int main(void)
{
	/* Only the holder of the machine's hugepage lock may take the kernel's
	 * counts as its own (other tests, other daemons size the pool too). */
	char why[160];
	bool alone = harness_hugepages_alone(why, sizeof(why));
	uint64_t start_ms = now_ms(), free_before = harness_free_hugepages(FRAME),
		 nr_before = harness_read_u64(NR_2M);
	struct contig_stats st;
	struct want w;
	bool good = true;
	int nmulti, fd = mkstemp(conf_path);

	if (fd < 0 || write(fd, conf_text, sizeof(conf_text) - 1) != sizeof(conf_text) - 1)
		bail_out("writing %s", conf_path);
	close(fd);
	/* With the fast path on, the clients keep no empty warm frame: the
	 * checks hold the frames each session owns to the frames under what
	 * its client holds, and a warm reserve is neither (test_fastpath
	 * restarts a client that keeps one). Every churn then takes its warm
	 * frame by a round trip and gives it back by another, so the crashes
	 * still catch requests in flight. */
	if (setenv("CONTIGD_FAST_RESERVE", "0", 1) < 0)
		bail_out("setenv: %s", strerror(errno));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	atexit(cleanup);
	signal(SIGPIPE, SIG_IGN); /* a client gone is a failed check, not the end */

	harness_daemon_start(&dm, first_args);
	dm_running = true;
	/* nobody must reach the socket in it */
	if (chmod(dm.dir, 0711) < 0)
		bail_out("chmod %s: %s", dm.dir, strerror(errno));
	harness_journal_path(dm.sock, journal_path, sizeof(journal_path));
	root_connect();
	ok(contig_get_stats(root, &st) == 0 && st.npools == 1 && st.pools[0].total_len == POOL_LEN,
	   "the_pool_holds_what_was_asked");
	diag("largest segment %" PRIu64 " MiB; journal %s", st.pools[0].largest_segment_len >> 20,
	     journal_path);
	ok(access(journal_path, F_OK) == 0, "contigd_keeps_a_journal_when_session_grace_is_set");
	plan_multi(root);
	/* The longest buffers first, then the rest (see client_main()). */
	for (uint32_t frames = 3; frames >= 1; frames--)
		for (int i = 0; i < NCLIENTS; i++)
			if (multi_frames[i] == frames)
				client_spawn(i);
	for (int i = 0; i < NCLIENTS; i++)
		good &= client_setup(i);
	if (!ok(good, "every_client_holds_its_buffers_contiguous_where_the_library_says"))
		bail_out("the clients could not set up");
	nmulti = 0;
	for (int i = 0; i < NCLIENTS; i++)
		nmulti += frames_of(&clients[i].rep.held[2], 1) > 1;
	if (!ok(nmulti > 0, "some_buffers_span_several_frames"))
		diag("  the pool has no two adjacent frames");
	diag("%d buffers over several frames", nmulti);
	check_clients("before_any_restart", false);
	want_clients(&w, POOL_LEN);
	check_stats(root, &w, "before_any_restart");

	round_kill9();
	for (int n = 2; n <= KILLS; n++)
		round_kill9_again(n);
	round_retry_after_two_crashes();
	round_crash_during_resend();
	round_sigterm();
	round_torn();
	round_bigger();
	round_smaller();
	finish();
	/* The first instance raised the kernel's pool if it had to, so did
	 * the one with the bigger pool; each recorded it in the journal. */
	if (alone) {
		uint64_t free_after = harness_free_hugepages(FRAME), nr_after = harness_read_u64(NR_2M);

		if (!ok(free_after == free_before && nr_after == nr_before,
			"the_hugepages_any_instance_added_are_given_back_by_the_last"))
			diag("  nr_hugepages %" PRIu64 " before, %" PRIu64 " after; free %" PRIu64
			     " before, %" PRIu64 " after",
			     nr_before, nr_after, free_before, free_after);
	} else {
		ok(true, "the_hugepages_any_instance_added_are_given_back_by_the_last # SKIP %s", why);
	}
	diag("%.1f s in all", (double)(now_ms() - start_ms) / 1000);
	return done_testing();
}
