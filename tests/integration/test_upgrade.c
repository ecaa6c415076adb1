/* test_upgrade.c - a daemon of today adopts the frames and journal of an
 * older one across a restart (issue 21: protocol and journal formats
 * unchanged by the redesign).
 *
 * DESIGN: the older daemon is the contigd of commit UPGRADE_FROM (main
 * just before issue 21's redesign), built once from git history by
 * tests/integration/old_contigd.sh into <B>/OLD_CONTIGD (the Makefile
 * passes both); where that history is missing, the script says why and
 * the whole test skips with that reason. It owns nothing else; what it
 * checks it reads itself (pagemap, /proc/<pid>/mem, stats), never taking
 * the daemon's word for a physical address.
 *
 * Two rounds, each with a daemon of its own: the old daemon goes down by
 * SIGTERM (a stop, as a package upgrade's restart does it), then by
 * SIGKILL (a crash, after which the new binary is what comes back).
 * 1. The old daemon (session_grace set, so it keeps a journal) serves a
 *    client process on libcontig that allocates buffers with constraints
 *    (a physical window around one of the pool's frames, a boundary, an
 *    alignment, a whole frame, all three at once, and one over two frames
 *    where the pool has two adjacent) and writes a pattern in each; the
 *    test reads their physical addresses from the client's
 *    /proc/<pid>/pagemap and checks each constraint on them. A raw session
 *    (raw.h) allocates one more, in a window of its own, with its own seq,
 *    and keeps its token.
 * 2. The old daemon goes down with both sessions attached and leaves its
 *    journal and its frame keeper.
 * 3. Today's daemon (build/contigd) starts on the same socket, journal and
 *    keeper. The raw session presents its token (resumed) and resends its
 *    allocate (the same buffer, not a second one); the client's library
 *    reconnects with its token on its next call. Every buffer is then at
 *    the same physical address per pagemap, holds its pattern (the
 *    client's own check and /proc/<pid>/mem), a new constrained allocate
 *    works, and the stats count exactly these sessions and buffers.
 * 4. Everything freed: the pool's free bytes are its total again; the new
 *    daemon stops cleanly, removes the journal, and the keeper is gone.
 * At the end the kernel's hugepage counts are as before (when the test
 * holds the machine's hugepage lock: harness_hugepages_alone()).
 *
 * Under a second here (the old contigd's build, once, about 5 s).
 * No sleeps as synchronisation: READY=1, reports over socketpairs with
 * deadlines, stats polled until a predicate holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"

#ifndef UPGRADE_FROM
#error "the Makefile passes UPGRADE_FROM and OLD_CONTIGD"
#endif

#define FRAME (2 * MiB)
#define POOL "0:2M:32M"
#define POOL_LEN (32 * MiB)
#define NBUF 6
#define MULTI 5 /* over two frames: left out where no two frames are adjacent */
#define REPORT_TIMEOUT_MS 60000

#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

/* A grace period long enough that no session can be recycled while the
 * daemon restarts, however slow the machine: everything is reclaimed
 * explicitly, so the test never waits for it to pass. */
static const char conf_text[] = "session_grace = 60s\n";

/* ---- the buffers and their constraints ---- */

struct spec {
	uint64_t len;
	bool in_window; /* [lo, lo + FRAME - 1], lo a frame of the pool */
	uint64_t boundary, align;
	int cache_type;
};

static const struct spec specs[NBUF] = {
	{ 128 * 1024, true, 0, 0, CONTIG_CACHED },
	{ 48 * 1024, false, 64 * 1024, 0, CONTIG_WRITE_COMBINED },
	{ 256 * 1024, false, 0, MiB, CONTIG_NON_CACHED },
	{ 2 * MiB, false, 0, 2 * MiB, CONTIG_CACHED },
	{ 64 * 1024, true, 128 * 1024, 64 * 1024, CONTIG_CACHED },
	{ 2 * MiB + 64 * 1024, false, 0, 0, CONTIG_NON_CACHED_UNORDERED },
};

/* Does [phys, phys + len) satisfy @s with window base @lo? NULL, or what
 * it breaks. */
static const char *breaks(const struct spec *s, uint64_t lo, uint64_t phys, uint64_t len)
{
	uint64_t last = phys + len - 1;

	if (s->in_window && (phys < lo || last > lo + FRAME - 1))
		return "outside its window";
	if (s->boundary && phys / s->boundary != last / s->boundary)
		return "crosses its boundary";
	if (phys % (s->align ? s->align : HARNESS_PAGE))
		return "start not aligned";
	return NULL;
}

/* A pattern that depends on all 64 bits of @seed and on each word's
 * offset. */
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

static bool pat_holds(const void *virt, uint64_t len, uint64_t seed)
{
	const uint64_t *w = virt;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i] != pat_word(seed, i))
			return false;
	return true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the client process ---- */

struct held {
	uint64_t virt, phys, len, id, seed;
};

struct report {
	int rc;           /* setup: the allocations; check: stats */
	uint32_t nheld;   /* NBUF, or MULTI without two adjacent frames */
	char msg[200];
	struct held held[NBUF];
	uint32_t intact;  /* buffers whose pattern the client finds intact */
	uint32_t same;    /* buffers whose library phys is unchanged */
	uint32_t my_nbuffers; /* what the daemon says this session holds */
	int fresh_rc;     /* a new constrained allocate and free, after the restart */
};

static int client_main(int fd, void *arg)
{
	struct contig_buffer bufs[NBUF];
	struct report rep = { 0 };
	struct contig_client *c = NULL;
	uint64_t lo;
	char cmd;

	(void)arg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	harness_close_inherited(fd);
	harness_recv(fd, &lo, sizeof(lo));
	rep.rc = contig_connect(NULL, &c);
	rep.nheld = NBUF;
	for (int k = 0; k < NBUF && rep.rc == 0; k++) {
		const struct spec *s = &specs[k];
		struct contig_alloc_req req;

		contig_alloc_req_init(&req, s->len);
		if (s->in_window) {
			req.lowest_phys = lo;
			req.highest_phys = lo + FRAME - 1;
		}
		req.boundary = s->boundary;
		req.align = s->align;
		req.cache_type = s->cache_type;
		rep.rc = contig_alloc(c, &req, &bufs[k]);
		if (rep.rc == -ENOMEM && k == MULTI) {
			rep.nheld = MULTI;
			rep.rc = 0;
			break;
		}
		if (rep.rc < 0) {
			snprintf(rep.msg, sizeof(rep.msg), "buffer %d: %s", k, contig_last_message());
			break;
		}
		rep.held[k] = (struct held){ .virt = (uintptr_t)bufs[k].virt,
					     .phys = bufs[k].phys,
					     .len = bufs[k].len,
					     .id = bufs[k].id,
					     .seed = bufs[k].phys ^ ((uint64_t)k << 56) ^ 0xc0ffee };
		pat_fill(bufs[k].virt, bufs[k].len, rep.held[k].seed);
	}
	if (rep.rc < 0 && !rep.msg[0])
		snprintf(rep.msg, sizeof(rep.msg), "connect: %s", contig_last_message());
	harness_send(fd, &rep, sizeof(rep));
	if (rep.rc < 0)
		return 1;

	while (harness_try_recv(fd, &cmd, 1)) {
		if (cmd == 'c') {
			/* After the restart: the first call reconnects with
			 * the session's token. */
			struct contig_stats st;
			struct contig_alloc_req req;
			struct contig_buffer b;

			rep.rc = contig_get_stats(c, &st);
			rep.my_nbuffers = rep.rc == 0 ? st.my_nbuffers : 0;
			if (rep.rc < 0)
				snprintf(rep.msg, sizeof(rep.msg), "stats: %s", contig_last_message());
			rep.intact = rep.same = 0;
			for (uint32_t k = 0; k < rep.nheld; k++) {
				uint64_t phys = 0;

				rep.intact += pat_holds(bufs[k].virt, bufs[k].len, rep.held[k].seed);
				rep.same += contig_virt_to_phys(c, bufs[k].virt, &phys) == 0 &&
					    phys == rep.held[k].phys;
			}
			contig_alloc_req_init(&req, 32 * 1024);
			req.lowest_phys = lo;
			req.highest_phys = lo + FRAME - 1;
			req.boundary = 32 * 1024;
			rep.fresh_rc = contig_alloc(c, &req, &b);
			if (rep.fresh_rc == 0) {
				if (breaks(&(struct spec){ .in_window = true, .boundary = 32 * 1024 }, lo,
					   harness_phys_of(getpid(), b.virt), b.len) ||
				    !harness_phys_contiguous(getpid(), b.virt, b.len, b.phys))
					rep.fresh_rc = -EFAULT;
				if (contig_free(c, b.virt) < 0 && rep.fresh_rc == 0)
					rep.fresh_rc = -EIO;
			}
			if (rep.fresh_rc < 0)
				snprintf(rep.msg, sizeof(rep.msg), "fresh allocate: %d %s", rep.fresh_rc,
					 contig_last_message());
			harness_send(fd, &rep, sizeof(rep));
		} else if (cmd == 'q') {
			int bad = 0;

			for (uint32_t k = 0; k < rep.nheld; k++)
				bad += contig_free(c, bufs[k].virt) < 0;
			contig_disconnect(c);
			return bad ? 3 : 0;
		} else {
			return 4;
		}
	}
	return 2; /* the test is gone */
}

/* ---- the test's side ---- */

static struct harness_daemon dm;
static bool dm_running;
static struct harness_child child;
static bool child_reaped = true;
static struct contig_client *root;
static char conf_path[] = "/tmp/contigd-upgrade.conf.XXXXXX";
static char old_bin[PATH_MAX], daemon_path[PATH_MAX];
static char journal_path[256];

static void root_connect(void)
{
	root = harness_connect(&dm);
}

static void root_drop(void)
{
	contig_disconnect(root);
	root = NULL;
}

/* A test that stops early must not leave frames (hugepages) behind. */
static void cleanup(void)
{
	if (!child_reaped) {
		kill(child.pid, SIGKILL);
		waitpid(child.pid, NULL, 0);
	}
	contig_disconnect(root);
	if (dm_running) {
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

/* Is the running daemon the binary @path? Its /proc/<pid>/exe, or under
 * valgrind (CONTIGD_VALGRIND=1), whose exe that is, an argument of its
 * command line: so that the test knows which of the two it talks to. */
static bool runs(const char *path)
{
	static char cmdline[8192];
	char proc[64], exe[PATH_MAX], want[PATH_MAX];
	ssize_t n;
	int fd;

	if (!realpath(path, want))
		return false;
	snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)dm.pid);
	n = readlink(proc, exe, sizeof(exe) - 1);
	if (n >= 0) {
		exe[n] = '\0';
		if (strcmp(exe, want) == 0)
			return true;
	}
	snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)dm.pid);
	fd = open(proc, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, cmdline, sizeof(cmdline) - 1);
	if (fd >= 0)
		close(fd);
	for (ssize_t at = 0; at < n; at += (ssize_t)strlen(cmdline + at) + 1) {
		cmdline[n] = '\0';
		if (strcmp(cmdline + at, want) == 0 || strcmp(cmdline + at, path) == 0)
			return true;
	}
	return false;
}

/* The lowest- and highest-addressed frames of the pool: the windows'
 * bases (a frame is one session's: the raw session takes the lowest, the
 * client the highest). */
static void end_frames(uint64_t *ret_low, uint64_t *ret_top)
{
	struct contig_frame_info *frames = NULL;
	size_t n = 0;

	if (contig_list_frames(root, &frames, &n) < 0 || n < 2)
		bail_out("list frames: %s", contig_last_message());
	*ret_low = UINT64_MAX;
	*ret_top = 0;
	for (size_t j = 0; j < n; j++) {
		if (frames[j].phys < *ret_low)
			*ret_low = frames[j].phys;
		if (frames[j].phys > *ret_top)
			*ret_top = frames[j].phys;
	}
	free(frames);
}

/* Read @len bytes at @virt in process @pid (/proc/<pid>/mem) and check
 * they hold pattern @seed. */
static bool mem_holds(pid_t pid, uint64_t virt, uint64_t len, uint64_t seed)
{
	static uint8_t copy[4 * MiB];
	char path[64];
	ssize_t n;
	int fd;

	if (len > sizeof(copy))
		bail_out("mem_holds: %" PRIu64 " bytes", len);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = pread(fd, copy, len, (off_t)virt);
	close(fd);
	return n == (ssize_t)len && pat_holds(copy, len, seed);
}

/* The client's buffers seen from outside: each at @base's physical
 * address per the client's pagemap, physically contiguous, within its
 * constraints, holding its pattern per /proc/<pid>/mem. */
static void check_outside(const struct held *base, uint32_t n, uint64_t lo, const char *when)
{
	bool where = true, constrained = true, mem = true;

	for (uint32_t k = 0; k < n; k++) {
		const struct held *h = &base[k];
		uint64_t phys = harness_phys_of(child.pid, (void *)(uintptr_t)h->virt);
		const char *why = breaks(&specs[k], lo, phys, h->len);

		if (phys != h->phys ||
		    !harness_phys_contiguous(child.pid, (void *)(uintptr_t)h->virt, h->len, h->phys)) {
			where = false;
			diag("  buffer %u (%" PRIu64 " bytes): pagemap says 0x%" PRIx64
			     ", the allocation said 0x%" PRIx64 " (or not contiguous)",
			     k, h->len, phys, h->phys);
		}
		if (why) {
			constrained = false;
			diag("  buffer %u at 0x%" PRIx64 " per pagemap: %s", k, phys, why);
		}
		if (!mem_holds(child.pid, h->virt, h->len, h->seed)) {
			mem = false;
			diag("  buffer %u does not hold its pattern per /proc/%d/mem", k, (int)child.pid);
		}
	}
	ok(where, "every_buffer_is_contiguous_at_its_physical_address_per_pagemap_%s", when);
	ok(constrained, "every_buffer_keeps_its_window_boundary_and_alignment_per_pagemap_%s", when);
	ok(mem, "every_buffer_holds_its_pattern_per_proc_mem_%s", when);
}

/* ---- a raw session: its token and its allocate by hand ---- */

struct raw_session {
	int sock;
	uint8_t token[CONTIG_TOKEN_LEN];
	size_t token_len;
	uint64_t id, phys, len, offset, seed;
	uint8_t *map; /* the buffer's frame, mapped here */
};

#define RAW_SEQ 2
#define RAW_LEN (16 * 1024)
#define RAW_BOUNDARY (32 * 1024)
#define RAW_ALIGN (16 * 1024)

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

/* The raw session's allocate with seq RAW_SEQ, in window [@lo, lo + FRAME),
 * a boundary and an alignment. Its status (-1: no reply); on OK @r's
 * buffer and its frame's descriptor (*ret_fd). */
static int raw_alloc(struct raw_session *r, uint64_t lo, int *ret_fd)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	Contig__Reply *reply;
	int status;

	a.len = RAW_LEN;
	a.has_lowest = a.has_highest = a.has_boundary = a.has_align = 1;
	a.lowest = lo;
	a.highest = lo + FRAME - 1;
	a.boundary = RAW_BOUNDARY;
	a.align = RAW_ALIGN;
	a.has_cache_type = 1;
	a.cache_type = CONTIG_WRITE_COMBINED;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	*ret_fd = -1;
	reply = raw_call(r->sock, &req, RAW_SEQ, ret_fd);
	if (!reply)
		return -1;
	status = reply->seq == RAW_SEQ ? (int)reply->status : -1;
	if (status == CONTIG__STATUS__OK && reply->body_case == CONTIG__REPLY__BODY_ALLOC &&
	    reply->alloc->nframes == 1) {
		r->id = reply->alloc->buffer_id;
		r->phys = reply->alloc->phys;
		r->len = reply->alloc->len;
		r->offset = reply->alloc->offset;
	} else {
		diag("  raw allocate: status %d \"%s\"", status, reply->message ? reply->message : "");
		if (status == CONTIG__STATUS__OK)
			status = -1;
	}
	contig__reply__free_unpacked(reply, NULL);
	return status;
}

static uint8_t *map_frame(int fd)
{
	void *p = mmap(NULL, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		bail_out("mmap of a frame: %s", strerror(errno));
	return p;
}

static uint32_t raw_my_nbuffers(int sock, uint64_t seq)
{
	Contig__Reply *reply = raw_stats(sock, seq);
	uint32_t n = reply ? reply->stats->my_nbuffers : UINT32_MAX;

	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	return n;
}

/* ---- stats ---- */

struct want {
	uint32_t nsessions, nbuffers;
	struct contig_stats last;
};

static bool stats_are(const struct contig_stats *st, void *arg)
{
	struct want *w = arg;
	const struct contig_pool_stats *p = &st->pools[0];

	w->last = *st;
	return st->npools == 1 && st->nsessions == w->nsessions && p->nbuffers == w->nbuffers &&
	       p->nframes_recycling == 0 && p->total_len == POOL_LEN &&
	       p->free_len + (uint64_t)p->nframes_owned * FRAME == p->total_len &&
	       (w->nbuffers || p->free_len == p->total_len);
}

static void show_stats(const struct contig_stats *st)
{
	const struct contig_pool_stats *p = &st->pools[0];

	diag("  seen: %u sessions, %u buffers, %u of %u frames owned, %u recycling, free %" PRIu64
	     " of %" PRIu64 " MiB",
	     st->nsessions, p->nbuffers, p->nframes_owned, p->nframes, p->nframes_recycling,
	     p->free_len >> 20, p->total_len >> 20);
}

static void check_stats(uint32_t nsessions, uint32_t nbuffers, const char *when)
{
	struct want w = { .nsessions = nsessions, .nbuffers = nbuffers };

	if (!ok(harness_wait_stats(root, stats_are, &w), "stats_count_%u_sessions_and_%u_buffers_%s",
		nsessions, nbuffers, when))
		show_stats(&w.last);
}

static bool recv_report(struct report *rep)
{
	if (harness_recv_timeout(child.fd, rep, sizeof(*rep), REPORT_TIMEOUT_MS))
		return true;
	diag("  the client did not report: %s", strerror(errno));
	return false;
}

/* is_u64() with the round's @name before @what. */
static void is_n(uint64_t got, uint64_t want, const char *name, const char *what)
{
	char full[160];

	snprintf(full, sizeof(full), "%s_%s", name, what);
	is_u64(got, want, full);
}

/* One upgrade: the old daemon serves a client and a raw session, goes
 * down by @sig (SIGTERM: a stop, as `systemctl restart` after a package
 * upgrade; SIGKILL: a crash, and the new binary is what comes back), and
 * today's daemon adopts what it left. @name tells the rounds' checks
 * apart. Ends with the new daemon stopped and nothing left. */
static void upgrade_round(int sig, const char *name)
{
	const char *first_args[] = { "--config", conf_path, "--pool", POOL, NULL };
	const char *new_args[] = { "--config", conf_path, "--pool", POOL ",reserve=sorted", NULL };
	struct harness_spawn old_how = { .binary = old_bin };
	struct raw_session r = { .sock = -1 };
	struct held base[NBUF];
	struct report rep;
	struct contig_counters cnt;
	struct contig_stats cst;
	Contig__Reply *hello;
	char when[96];
	uint64_t lo, raw_lo, phys_now;
	uint32_t nheld;
	pid_t keeper;
	int status, frame_fd;
	bool resumed;

	/* 1. The old daemon, a client and a raw session. */
	harness_daemon_start_how(&dm, first_args, &old_how);
	dm_running = true;
	harness_journal_path(dm.sock, journal_path, sizeof(journal_path));
	ok(runs(old_bin), "%s_the_daemon_first_started_is_the_old_commits", name);
	ok(access(journal_path, F_OK) == 0, "%s_the_old_daemon_keeps_a_journal", name);
	root_connect();
	end_frames(&raw_lo, &lo);
	/* Forked before the raw session maps its frame: the client must not
	 * hold a mapping of another session's frame. It waits for its window. */
	harness_child_start(&child, client_main, NULL);
	child_reaped = false;
	r.sock = raw_connect(dm.sock);
	hello = hello_token(r.sock, 1, NULL, 0);
	if (!hello || hello->status != CONTIG__STATUS__OK ||
	    hello->body_case != CONTIG__REPLY__BODY_HELLO || !hello->hello->has_session_token ||
	    hello->hello->session_token.len > CONTIG_TOKEN_LEN)
		bail_out("raw hello: no session token");
	r.token_len = hello->hello->session_token.len;
	memcpy(r.token, hello->hello->session_token.data, r.token_len);
	contig__reply__free_unpacked(hello, NULL);
	if (raw_alloc(&r, raw_lo, &frame_fd) != CONTIG__STATUS__OK || frame_fd < 0)
		bail_out("the raw session's allocate failed");
	r.map = map_frame(frame_fd);
	close(frame_fd);
	r.seed = r.phys ^ 0x0dd5eed ^ (uint64_t)sig << 40;
	pat_fill(r.map + r.offset, r.len, r.seed);
	phys_now = harness_phys_of(getpid(), r.map + r.offset);
	ok(phys_now == r.phys &&
		   !breaks(&(struct spec){ .in_window = true, .boundary = RAW_BOUNDARY,
					   .align = RAW_ALIGN },
			   raw_lo, phys_now, r.len),
	   "%s_the_raw_sessions_buffer_is_where_the_reply_says_and_within_its_constraints_per_pagemap",
	   name);
	diag("%s: windows at 0x%" PRIx64 " (the raw session's) and 0x%" PRIx64
	     " (the client's), 2 MiB each",
	     name, raw_lo, lo);

	harness_send(child.fd, &lo, sizeof(lo));
	if (!recv_report(&rep) ||
	    !ok(rep.rc == 0, "%s_the_client_allocates_its_constrained_buffers", name))
		bail_out("the client could not set up: %d %s", rep.rc, rep.msg);
	nheld = rep.nheld;
	if (nheld < NBUF)
		diag("%s: no two adjacent frames in the pool: no buffer over two", name);
	memcpy(base, rep.held, sizeof(base));
	snprintf(when, sizeof(when), "%s_under_the_old_daemon", name);
	check_outside(base, nheld, lo, when);
	check_stats(3, nheld + 1, when);

	/* 2. The old daemon goes down with both sessions attached. */
	root_drop();
	status = harness_daemon_kill(&dm, sig);
	dm_running = false;
	is_n(status, sig == SIGTERM ? 0 : 128 + (unsigned)sig, name, "the_old_daemon_exits");
	ok(access(journal_path, F_OK) == 0, "%s_and_leaves_its_journal", name);
	keeper = harness_keeper_pid(dm.sock);
	ok(keeper > 0, "%s_and_its_frame_keeper", name);
	close(r.sock);
	r.sock = -1;

	/* 3. Today's daemon on the same socket, journal and keeper. */
	harness_daemon_restart(&dm, new_args);
	dm_running = true;
	ok(runs(daemon_path), "%s_the_daemon_restarted_is_todays_build", name);
	diag("%s: keeper pid %d before, %d now", name, (int)keeper, (int)harness_keeper_pid(dm.sock));

	r.sock = raw_connect(dm.sock);
	hello = hello_token(r.sock, 100, r.token, r.token_len);
	resumed = hello && hello->status == CONTIG__STATUS__OK &&
		  hello->body_case == CONTIG__REPLY__BODY_HELLO && hello->hello->has_resumed &&
		  hello->hello->resumed;
	if (!ok(resumed, "%s_the_raw_sessions_token_from_the_old_daemon_reclaims_it", name))
		diag("  hello: status %d \"%s\"", hello ? (int)hello->status : -1,
		     hello && hello->message ? hello->message : "");
	if (hello)
		contig__reply__free_unpacked(hello, NULL);
	if (!resumed)
		bail_out("cannot go on without the session");
	{
		struct raw_session again = r;

		status = raw_alloc(&again, raw_lo, &frame_fd);
		if (!ok(status == CONTIG__STATUS__OK && again.id == r.id && again.phys == r.phys &&
				again.len == r.len && again.offset == r.offset && frame_fd >= 0,
			"%s_its_allocate_resent_with_its_seq_names_the_same_buffer", name))
			diag("  status %d id %" PRIu64 " phys 0x%" PRIx64 "; was id %" PRIu64
			     " phys 0x%" PRIx64,
			     status, again.id, again.phys, r.id, r.phys);
		if (frame_fd >= 0) {
			uint8_t *map2 = map_frame(frame_fd);
			/* Read first: pagemap shows only pages faulted in. */
			bool held = pat_holds(map2 + r.offset, r.len, r.seed);
			uint64_t p2 = harness_phys_of(getpid(), map2 + r.offset);

			close(frame_fd);
			if (!ok(p2 == r.phys && held,
				"%s_the_frame_handed_back_holds_the_pattern_at_the_same_physical_address",
				name))
				diag("  mapped at phys 0x%" PRIx64 ", the buffer is at 0x%" PRIx64
				     "; pattern %s",
				     p2, r.phys, held ? "held" : "not held");
			munmap(map2, FRAME);
		} else {
			ok(false, "%s_the_frame_handed_back_holds_the_pattern_at_the_same_physical_address",
			   name);
		}
	}
	ok(pat_holds(r.map + r.offset, r.len, r.seed) &&
		   harness_phys_of(getpid(), r.map + r.offset) == r.phys,
	   "%s_the_raw_sessions_own_mapping_is_untouched_per_pagemap", name);
	is_n(raw_my_nbuffers(r.sock, 101), 1, name, "and_the_resent_allocate_is_not_applied_twice");

	harness_send(child.fd, "c", 1);
	if (!recv_report(&rep))
		bail_out("the client did not come back");
	if (!ok(rep.rc == 0 && rep.my_nbuffers == nheld,
		"%s_the_client_reconnects_with_its_token_and_its_session_holds_its_buffers", name))
		diag("  rc %d, %u buffers: %s", rep.rc, rep.my_nbuffers, rep.msg);
	is_n(rep.intact, nheld, name, "the_client_finds_every_pattern_intact");
	is_n(rep.same, nheld, name, "the_library_says_every_buffer_is_where_it_was");
	if (!ok(rep.fresh_rc == 0, "%s_a_new_constrained_allocate_and_free_work_after_the_upgrade",
		name))
		diag("  %s", rep.msg);
	snprintf(when, sizeof(when), "%s_under_the_new_daemon", name);
	check_outside(base, nheld, lo, when);

	root_connect();
	check_stats(3, nheld + 1, when);
	if (contig_get_counters(root, &cst, &cnt) < 0)
		bail_out("counters: %s", contig_last_message());
	if (!ok(cnt.known && cnt.nsessions_restored == 2 && cnt.nsessions_resumed == 2 &&
			cnt.norphans == 0,
		"%s_the_new_daemon_counts_both_sessions_restored_and_reclaimed_and_no_orphan",
		name))
		diag("  restored %" PRIu64 ", resumed %" PRIu64 ", orphans %u",
		     cnt.nsessions_restored, cnt.nsessions_resumed, cnt.norphans);

	/* 4. Everything freed, nothing lost. */
	munmap(r.map, FRAME);
	r.map = NULL;
	ok(raw_free(r.sock, 102, r.id) == CONTIG__STATUS__OK, "%s_the_raw_sessions_buffer_is_freed",
	   name);
	close(r.sock);
	harness_send(child.fd, "q", 1);
	status = harness_child_wait(&child);
	child_reaped = true;
	is_n(status, 0, name, "the_client_frees_every_buffer_and_exits_cleanly");
	snprintf(when, sizeof(when), "%s_once_everything_is_freed_the_pool_is_whole_again", name);
	check_stats(1, 0, when);
	root_drop();
	status = harness_daemon_stop(&dm);
	dm_running = false;
	is_n(status, 0, name, "the_new_daemon_stops_cleanly_with_no_session_left");
	ok(access(journal_path, F_OK) < 0 && errno == ENOENT, "%s_and_removes_the_journal", name);
	ok(harness_keeper_pid(dm.sock) == 0, "%s_and_the_frame_keeper_has_exited", name);
	memset(&dm, 0, sizeof(dm));
}

int main(void)
{
	char why[160], skip_why[400] = "";
	bool alone = harness_hugepages_alone(why, sizeof(why));
	uint64_t start_ms = now_ms(), free_before = harness_free_hugepages(FRAME),
		 nr_before = harness_read_u64(NR_2M);
	int fd;

	harness_build_path(OLD_CONTIGD, old_bin, sizeof(old_bin));
	harness_daemon_path(daemon_path, sizeof(daemon_path));
	if (access(old_bin, X_OK) < 0) {
		char why_path[PATH_MAX + 8];
		FILE *f;

		snprintf(why_path, sizeof(why_path), "%s.why", old_bin);
		f = fopen(why_path, "re");
		if (f && fgets(skip_why, sizeof(skip_why), f))
			skip_why[strcspn(skip_why, "\n")] = '\0';
		if (f)
			fclose(f);
		if (skip_why[0])
			skip_all("no contigd of %.12s to upgrade from: %s", UPGRADE_FROM, skip_why);
		bail_out("%s is missing and says not why (make tests builds it)", old_bin);
	}
	diag("contigd of %.12s: %s", UPGRADE_FROM, old_bin);

	fd = mkstemp(conf_path);
	if (fd < 0 || write(fd, conf_text, sizeof(conf_text) - 1) != sizeof(conf_text) - 1)
		bail_out("writing %s", conf_path);
	close(fd);
	atexit(cleanup);
	signal(SIGPIPE, SIG_IGN);

	upgrade_round(SIGTERM, "sigterm");
	upgrade_round(SIGKILL, "kill_9");

	if (alone) {
		uint64_t free_after = harness_free_hugepages(FRAME), nr_after = harness_read_u64(NR_2M);

		if (!ok(free_after == free_before && nr_after == nr_before,
			"the_hugepages_any_daemon_added_are_given_back"))
			diag("  nr_hugepages %" PRIu64 " before, %" PRIu64 " after; free %" PRIu64
			     " before, %" PRIu64 " after",
			     nr_before, nr_after, free_before, free_after);
	} else {
		ok(true, "the_hugepages_any_daemon_added_are_given_back # SKIP %s", why);
	}
	diag("%.1f s in all", (double)(now_ms() - start_ms) / 1000);
	return done_testing();
}
