/* bench_latency.c - what one allocate and one free through libcontig cost,
 * against a raw SOCK_SEQPACKET round trip that carries one descriptor.
 *
 * DESIGN
 * Starts the real daemon (build/contigd, found next to build/bench/ through
 * /proc/self/exe) on a socket in a temporary directory with
 * --pool 0:2M:512M (BENCH_POOL overrides) and waits for its READY=1 on a
 * NOTIFY_SOCKET created here, as tests/integration/harness.c does.
 *
 * Then, for each placement on cores, every thread of the daemon is pinned
 * with sched_setaffinity() and so is this process:
 *   cross  client on the first allowed CPU, daemon on the second
 *   same   client and daemon on the first allowed CPU
 * (cross is skipped on a one-CPU machine.) In each placement:
 *
 * Baseline: this process and a forked echo child on a SOCK_SEQPACKET
 * socketpair, the child pinned where the daemon is. A 40-byte request goes
 * out, a 60-byte reply comes back carrying one descriptor (an open memfd)
 * with SCM_RIGHTS, and the client closes it: what a contig_alloc() round
 * trip must do at the least. Both sides block in recvmsg().
 *
 * contigd: contig_alloc() and contig_free() of 4 KiB, 64 KiB, 2 MiB,
 * 16 MiB and 256 MiB, each call timed on its own with
 * clock_gettime(CLOCK_MONOTONIC). One 4 KiB buffer stays live throughout,
 * so the small sizes are carved out of a frame the session already owns.
 * A size larger than the pool's largest free run is skipped with a note.
 * Freed frames are recycled before they are free again: when an allocate
 * fails with -ENOMEM, the bench waits (untimed) for the pool to show a
 * large enough free run and tries again; such retries are counted.
 *
 * Also, per placement, a 4 KiB allocate+free pair timed as one on a client
 * of its own with nothing else live, against two raw round trips (issue
 * 22: ~195 us when every free recycled the frame).
 *
 * Prints one table: median and p99 per operation, the baseline's median
 * from the same placement in the same run, the ratio, and the issue's
 * targets (4 KiB allocate and 4 KiB free each <= 1.25x one raw round
 * trip). BENCH_ITERS=N sets the iterations for the small sizes (default
 * 2000; large sizes use fewer).
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_LEN 40   /* about an AllocRequest in a Request */
#define REPLY_LEN 60 /* about an AllocReply in a Reply */
#define WARMUP 100
#define TARGET_4K 1.25
#define TARGET_BUSY 1.5
#define BUSY_POLL_US 200

/* ---- baseline: raw SOCK_SEQPACKET ping-pong with one descriptor ---- */

/* Busy-poll mode of the baseline: both sides spin in recvmsg(MSG_DONTWAIT)
 * instead of sleeping. */
static bool spin;

static ssize_t recvmsg_maybe_spinning(int sock, struct msghdr *msg, int flags)
{
	ssize_t n;

	if (!spin)
		return recvmsg(sock, msg, flags);
	while ((n = recvmsg(sock, msg, flags | MSG_DONTWAIT)) < 0 && errno == EAGAIN)
		;
	return n;
}

static int echo_child(int sock, int cpu)
{
	char req[256], reply[REPLY_LEN] = { 0 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	int memfd = memfd_create("bench", MFD_CLOEXEC);

	bench_pin_self(cpu);
	if (memfd < 0)
		return 1;
	for (;;) {
		struct iovec iov = { .iov_base = reply, .iov_len = sizeof(reply) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct iovec riov = { .iov_base = req, .iov_len = sizeof(req) };
		struct msghdr rmsg = { .msg_iov = &riov, .msg_iovlen = 1 };
		struct cmsghdr *c;
		ssize_t n = recvmsg_maybe_spinning(sock, &rmsg, 0);

		if (n <= 0)
			return 0;
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &memfd, sizeof(int));
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) != REPLY_LEN)
			return 1;
	}
}

static void raw_round_trip(int sock)
{
	char req[REQ_LEN] = { 1 }, reply[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { .iov_base = reply, .iov_len = sizeof(reply) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int fd;

	if (send(sock, req, sizeof(req), MSG_NOSIGNAL) != REQ_LEN)
		bench_die("baseline send: %s", strerror(errno));
	if (recvmsg_maybe_spinning(sock, &msg, MSG_CMSG_CLOEXEC) != REPLY_LEN)
		bench_die("baseline recvmsg: %s", strerror(errno));
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		bench_die("baseline: no descriptor in the reply");
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	close(fd);
}

static struct bench_result bench_raw(int peer_cpu, size_t iters)
{
	uint64_t *ns = calloc(iters, sizeof(*ns));
	struct bench_result res;
	int sv[2], status;
	pid_t pid;

	if (!ns)
		bench_die("out of memory");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		bench_die("socketpair: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		_exit(echo_child(sv[1], peer_cpu));
	}
	close(sv[1]);
	for (int i = 0; i < WARMUP; i++)
		raw_round_trip(sv[0]);
	for (size_t i = 0; i < iters; i++) {
		uint64_t t0 = bench_now_ns();

		raw_round_trip(sv[0]);
		ns[i] = bench_now_ns() - t0;
	}
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		bench_die("baseline echo child failed");
	res = bench_summarize(ns, iters);
	free(ns);
	return res;
}

/* ---- contigd ---- */

struct op_result {
	struct bench_result alloc, free;
	size_t iters, retries;
};

static void bench_contig(struct contig_client *c, uint64_t len, size_t iters,
			 struct op_result *ret)
{
	uint64_t *alloc_ns = calloc(iters, sizeof(uint64_t));
	uint64_t *free_ns = calloc(iters, sizeof(uint64_t));
	struct contig_alloc_req req;
	size_t retries = 0;
	size_t warmup = iters < WARMUP ? 2 : WARMUP;

	if (!alloc_ns || !free_ns)
		bench_die("out of memory");
	contig_alloc_req_init(&req, len);
	for (size_t i = 0; i < warmup + iters; i++) {
		struct contig_buffer b;
		uint64_t t0, t1, t2;
		int r;

		for (;;) {
			t0 = bench_now_ns();
			r = contig_alloc(c, &req, &b);
			t1 = bench_now_ns();
			if (r != -ENOMEM)
				break;
			retries++;
			bench_wait_free(c, len);
		}
		if (r < 0)
			bench_die("contig_alloc(%llu): %s", (unsigned long long)len,
			    contig_last_message());
		/* The buffer is the caller's now: touch it as a driver would
		 * before the free (untimed; MAP_POPULATE already faulted it). */
		*(volatile uint8_t *)b.virt = 1;
		t2 = bench_now_ns();
		r = contig_free(c, b.virt);
		if (r < 0)
			bench_die("contig_free: %s", contig_last_message());
		if (i >= warmup) {
			alloc_ns[i - warmup] = t1 - t0;
			free_ns[i - warmup] = bench_now_ns() - t2;
		}
	}
	ret->alloc = bench_summarize(alloc_ns, iters);
	ret->free = bench_summarize(free_ns, iters);
	ret->iters = iters;
	ret->retries = retries;
	free(alloc_ns);
	free(free_ns);
}

/* ---- the table ---- */

static void size_name(uint64_t len, char *buf, size_t cap)
{
	if (len >= MIB)
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(len / MIB));
	else
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(len / KIB));
}

/* One row of this bench's table; a targeted one also goes to the summary
 * (@section names it there). */
static void print_row(const char *place, const char *op, uint64_t len, size_t n,
		      struct bench_result r, double base, const char *section, double target)
{
	char size[32], what[64], value[64], baseline[32], tgt[32];
	double ratio = r.median_us / base;

	if (len)
		size_name(len, size, sizeof(size));
	else
		snprintf(size, sizeof(size), "-");
	printf("%-6s %-9s %8s %6zu %10.1f %10.1f %10.1f %7.3fx", place, op, size, n, r.median_us,
	       r.p99_us, base, ratio);
	if (target > 0)
		printf("  <= %.2fx %s", target, ratio <= target ? "met" : "not met");
	printf("\n");
	if (target > 0) {
		snprintf(what, sizeof(what), "%s %s, %s", size, op, place);
		snprintf(value, sizeof(value), "%.1f us (p99 %.1f)", r.median_us, r.p99_us);
		snprintf(baseline, sizeof(baseline), "%.1f us raw rtt", base);
		snprintf(tgt, sizeof(tgt), "<= %.2fx", target);
		bench_summary(section, what, value, baseline, ratio, tgt, ratio <= target);
	}
}

struct placement {
	const char *name;
	int client_cpu, daemon_cpu;
};

static char notes[4096];
static size_t nnotes;

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nnotes += (size_t)vsnprintf(notes + nnotes, sizeof(notes) - nnotes, fmt, ap);
	va_end(ap);
	if (nnotes >= sizeof(notes))
		nnotes = sizeof(notes) - 1;
}

static struct contig_client *connect_with_keeper(struct contig_buffer *keeper)
{
	struct contig_client *c;
	struct contig_alloc_req req;

	if (contig_connect(bench_daemon.sock, &c) < 0)
		bench_die("contig_connect: %s", contig_last_message());
	/* The round trip is what is timed here (the fast path: section 12). */
	contig_set_fast_path(c, 0);
	/* Keeps its frame owned, so 4 KiB and 64 KiB come from an owned frame. */
	contig_alloc_req_init(&req, 4 * KIB);
	if (contig_alloc(c, &req, keeper) < 0)
		bench_die("contig_alloc(keeper): %s", contig_last_message());
	return c;
}

/* A 4 KiB allocate+free pair on a client of its own with nothing else
 * live (issue 22: each free emptied the frame, and the next allocate
 * waited for a recycled one, before sessions kept the emptied frame),
 * timed as a pair, against two raw round trips. */
static void pair_nothing_live(const struct placement *pl, size_t iters, double raw_us)
{
	struct contig_client *c;
	struct contig_alloc_req req;
	uint64_t *ns = calloc(iters, sizeof(uint64_t));
	char value[64], baseline[48], what[80];
	struct bench_result r;
	double ratio;

	if (!ns || contig_connect(bench_daemon.sock, &c) < 0)
		bench_die("pair: %s", contig_last_message());
	contig_set_fast_path(c, 0);
	contig_alloc_req_init(&req, 4 * KIB);
	for (size_t i = 0; i < WARMUP + iters; i++) {
		struct contig_buffer b;
		uint64_t t0 = bench_now_ns();

		if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0)
			bench_die("pair: %s", contig_last_message());
		if (i >= WARMUP)
			ns[i - WARMUP] = bench_now_ns() - t0;
	}
	r = bench_summarize(ns, iters);
	ratio = r.median_us / (2 * raw_us);
	printf("%-6s %-9s %8s %6zu %10.1f %10.1f %10.1f %7.3fx  <= %.2fx %s (nothing else live; "
	       "baseline 2 raw rtt)\n", pl->name, "pair", "4 KiB", iters, r.median_us, r.p99_us,
	       2 * raw_us, ratio, TARGET_4K, ratio <= TARGET_4K ? "met" : "not met");
	snprintf(value, sizeof(value), "%.1f us (p99 %.1f)", r.median_us, r.p99_us);
	snprintf(baseline, sizeof(baseline), "%.1f us 2 raw rtt", 2 * raw_us);
	snprintf(what, sizeof(what), "4 KiB pair, nothing else live, fast path off, %s", pl->name);
	bench_summary("1 latency", what, value, baseline, ratio, "<= 1.25x", ratio <= TARGET_4K);
	free(ns);
	contig_disconnect(c);
}

/* Every size, in one placement. */
static void run_placement(struct contig_client *c, const struct placement *pl, size_t iters)
{
	static const struct {
		uint64_t len;
		size_t div; /* iterations = BENCH_ITERS / div */
	} sizes[] = {
		{ 4 * KIB, 1 }, { 64 * KIB, 1 }, { 2 * MIB, 2 }, { 16 * MIB, 8 }, { 256 * MIB, 40 },
	};
	struct bench_result raw;

	bench_pin_self(pl->client_cpu);
	bench_pin_process(bench_daemon.pid, pl->daemon_cpu);
	raw = bench_raw(pl->daemon_cpu, iters);
	print_row(pl->name, "raw rtt", 0, iters, raw, raw.median_us, NULL, 0);
	pair_nothing_live(pl, iters, raw.median_us);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t len = sizes[s].len;
		size_t n = iters / sizes[s].div;
		struct op_result r;
		char size[32];

		if (n < 20)
			n = 20;
		size_name(len, size, sizeof(size));
		if (bench_largest_free(c) < len) {
			/* Frames of an earlier size may still be recycling. */
			struct timespec pause = { 0, 200000000 };

			for (int i = 0; i < 10 && bench_largest_free(c) < len; i++)
				nanosleep(&pause, NULL);
		}
		if (bench_largest_free(c) < len) {
			note("note: %s %s skipped: the pool's largest free run is %llu MiB\n",
			     pl->name, size, (unsigned long long)(bench_largest_free(c) / MIB));
			continue;
		}
		bench_contig(c, len, n, &r);
		print_row(pl->name, "alloc", len, r.iters, r.alloc, raw.median_us, "1 latency",
			  len == 4 * KIB ? TARGET_4K : 0);
		print_row(pl->name, "free", len, r.iters, r.free, raw.median_us, "1 latency",
			  len == 4 * KIB ? TARGET_4K : 0);
		if (r.retries)
			note("note: %s %s: %zu allocations found no free run (frames still "
			     "recycling) and were retried after an untimed wait\n",
			     pl->name, size, r.retries);
	}
}

/* Busy-poll mode, cross placement: the daemon with busy_poll_us, the
 * client with contig_set_busy_poll(), against a spinning raw ping-pong. */
static void run_busy_poll(const char *pool, const struct placement *pl, size_t iters)
{
	char conf[] = "/tmp/contigd-bench-conf.XXXXXX";
	char text[64];
	const char *const extra[] = { "--config", conf, NULL };
	struct contig_buffer keeper;
	struct contig_client *c;
	struct bench_result raw;
	struct op_result r;
	int fd = mkstemp(conf), len;

	len = snprintf(text, sizeof(text), "busy_poll_us = %d\n", BUSY_POLL_US);
	if (fd < 0 || write(fd, text, (size_t)len) != len)
		bench_die("writing %s: %s", conf, strerror(errno));
	close(fd);
	bench_daemon_start(pool, extra);
	unlink(conf);
	c = connect_with_keeper(&keeper);
	contig_set_busy_poll(c, BUSY_POLL_US);

	bench_pin_self(pl->client_cpu);
	bench_pin_process(bench_daemon.pid, pl->daemon_cpu);
	spin = true;
	raw = bench_raw(pl->daemon_cpu, iters);
	spin = false;
	print_row("busy", "raw rtt", 0, iters, raw, raw.median_us, NULL, 0);
	bench_contig(c, 4 * KIB, iters, &r);
	print_row("busy", "alloc", 4 * KIB, r.iters, r.alloc, raw.median_us, "2 busy-poll",
		  TARGET_BUSY);
	print_row("busy", "free", 4 * KIB, r.iters, r.free, raw.median_us, "2 busy-poll",
		  TARGET_BUSY);
	contig_free(c, keeper.virt);
	contig_disconnect(c);
	bench_daemon_stop();
}

/* The journal's cost: 4 KiB and 2 MiB allocate and free, same-CPU placement
 * (where CPU time shows: across CPUs the wake-ups hide it),
 * with session_grace = 0 (no journal: the baseline) and with the default
 * (the records of each request written with one write(2) before its
 * reply). Two rounds of each, alternating, each case's better median kept:
 * the difference is a microsecond or two, well inside the noise of one run. */
static void run_journal(const char *pool, const struct placement *pl, size_t iters)
{
	static const uint64_t lens[] = { 4 * KIB, 2 * MIB };
	static const char *const confs[] = { "session_grace = 0\n", "session_grace = 30s\n" };
	struct op_result best[2][2];
	bool have[2][2] = { { false } };

	for (int round = 0; round < 4; round++) {
		int j = round % 2;
		char conf[] = "/tmp/contigd-bench-conf.XXXXXX";
		const char *const extra[] = { "--config", conf, NULL };
		struct contig_buffer keeper;
		struct contig_client *c;
		int fd = mkstemp(conf);
		ssize_t len = (ssize_t)strlen(confs[j]);

		if (fd < 0 || write(fd, confs[j], (size_t)len) != len)
			bench_die("writing %s: %s", conf, strerror(errno));
		close(fd);
		bench_daemon_start(pool, extra);
		unlink(conf);
		c = connect_with_keeper(&keeper);
		bench_pin_self(pl->client_cpu);
		bench_pin_process(bench_daemon.pid, pl->daemon_cpu);
		for (size_t l = 0; l < 2; l++) {
			struct op_result r;

			bench_contig(c, lens[l], lens[l] == 4 * KIB ? iters : iters / 2, &r);
			if (!have[j][l] || r.alloc.median_us < best[j][l].alloc.median_us)
				best[j][l].alloc = r.alloc;
			if (!have[j][l] || r.free.median_us < best[j][l].free.median_us)
				best[j][l].free = r.free;
			best[j][l].iters = r.iters;
			have[j][l] = true;
		}
		contig_free(c, keeper.virt);
		contig_disconnect(c);
		bench_daemon_stop();
	}
	for (size_t l = 0; l < 2; l++)
		for (int op = 0; op < 2; op++) {
			struct bench_result off = op ? best[0][l].free : best[0][l].alloc;
			struct bench_result on = op ? best[1][l].free : best[1][l].alloc;
			double ratio = on.median_us / off.median_us;
			char size[32], what[64], value[64], baseline[48];

			size_name(lens[l], size, sizeof(size));
			printf("%-6s %-9s %8s %6zu %10.1f %10.1f %10.1f %7.3fx  (baseline: no journal)\n",
			       "jrnl", op ? "free" : "alloc", size, best[1][l].iters, on.median_us,
			       on.p99_us, off.median_us, ratio);
			snprintf(what, sizeof(what), "%s %s, %s, journaled", size, op ? "free" : "alloc",
				 pl->name);
			snprintf(value, sizeof(value), "%.1f us (p99 %.1f)", on.median_us, on.p99_us);
			snprintf(baseline, sizeof(baseline), "%.1f us without journal", off.median_us);
			bench_summary("9 journal", what, value, baseline, ratio, "<= 1.10x",
				      ratio <= 1.10);
		}
}

int main(void)
{
	const char *pool = getenv("BENCH_POOL") ? getenv("BENCH_POOL") : "0:2M:512M";
	size_t iters = getenv("BENCH_ITERS") ? strtoul(getenv("BENCH_ITERS"), NULL, 10) : 2000;
	struct placement places[2];
	struct contig_client *c;
	struct contig_buffer keeper;
	int cpus[2], ncpus, nplaces = 0;
	uint64_t t0 = bench_now_ns();

	if (iters < 100)
		iters = 100;
	bench_init("bench_latency");
	ncpus = bench_cpus(cpus, 2);
	if (ncpus == 2)
		places[nplaces++] = (struct placement){ "cross", cpus[0], cpus[1] };
	places[nplaces++] = (struct placement){ "same", cpus[0], cpus[0] };

	bench_daemon_start(pool, NULL);
	c = connect_with_keeper(&keeper);

	printf("bench_latency: contigd --pool %s; each call timed on its own "
	       "(CLOCK_MONOTONIC), median and p99\n",
	       pool);
	printf("baseline: raw SOCK_SEQPACKET %d-byte request / %d-byte reply + 1 fd "
	       "(SCM_RIGHTS, closed), blocking, forked echo peer\n",
	       REQ_LEN, REPLY_LEN);
	for (int p = 0; p < nplaces; p++)
		printf("placement %-5s: client on CPU %d, daemon (all threads) and echo peer on CPU %d\n",
		       places[p].name, places[p].client_cpu, places[p].daemon_cpu);
	if (ncpus == 2)
		printf("placement busy : as cross, both sides busy-polling (%d us: daemon "
		       "busy_poll_us, client contig_set_busy_poll; raw: recvmsg(MSG_DONTWAIT) "
		       "in a loop)\n",
		       BUSY_POLL_US);
	printf("\n%-6s %-9s %8s %6s %10s %10s %10s %8s  %s\n", "place", "operation", "size", "n",
	       "median_us", "p99_us", "raw_us", "ratio", "target");

	for (int p = 0; p < nplaces; p++)
		run_placement(c, &places[p], iters);
	contig_free(c, keeper.virt);
	contig_disconnect(c);
	bench_daemon_stop();

	if (ncpus == 2)
		run_busy_poll(pool, &places[0], iters);
	else
		note("note: busy-poll mode skipped: it needs two CPUs (one spinning per side)\n");
	run_journal(pool, &places[nplaces - 1], iters);
	printf("%s", notes);
	printf("ratio = median / raw_us (the raw round trip's median, same placement, same run); "
	       "total %.1f s\n",
	       (bench_now_ns() - t0) / 1e9);
	return 0;
}
