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

/* ---- baseline: raw SOCK_SEQPACKET ping-pong with one descriptor ---- */

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
		struct cmsghdr *c;
		ssize_t n = recv(sock, req, sizeof(req), 0);

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
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != REPLY_LEN)
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

static void print_row(const char *place, const char *op, uint64_t len, size_t n,
		      struct bench_result r, double base, bool targeted)
{
	char size[32];
	double ratio = r.median_us / base;

	if (len)
		size_name(len, size, sizeof(size));
	else
		snprintf(size, sizeof(size), "-");
	printf("%-6s %-9s %8s %6zu %10.1f %10.1f %10.1f %7.3fx", place, op, size, n, r.median_us,
	       r.p99_us, base, ratio);
	if (targeted)
		printf("  <= %.2fx %s", TARGET_4K, ratio <= TARGET_4K ? "met" : "not met");
	printf("\n");
}

struct placement {
	const char *name;
	int client_cpu, daemon_cpu;
};

int main(void)
{
	static const struct {
		uint64_t len;
		size_t div; /* iterations = BENCH_ITERS / div */
	} sizes[] = {
		{ 4 * KIB, 1 }, { 64 * KIB, 1 }, { 2 * MIB, 2 }, { 16 * MIB, 8 }, { 256 * MIB, 40 },
	};
	const char *pool = getenv("BENCH_POOL") ? getenv("BENCH_POOL") : "0:2M:512M";
	size_t iters = getenv("BENCH_ITERS") ? strtoul(getenv("BENCH_ITERS"), NULL, 10) : 2000;
	struct placement places[2];
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer keeper;
	int cpus[2], ncpus = 0, nplaces = 0;
	char notes[2048] = "";
	size_t nlen = 0;
	cpu_set_t allowed;
	uint64_t t0 = bench_now_ns();

	if (iters < 100)
		iters = 100;
	bench_init("bench_latency");
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_getaffinity: %s", strerror(errno));
	for (int i = 0; i < CPU_SETSIZE && ncpus < 2; i++)
		if (CPU_ISSET(i, &allowed))
			cpus[ncpus++] = i;
	if (ncpus == 2)
		places[nplaces++] = (struct placement){ "cross", cpus[0], cpus[1] };
	places[nplaces++] = (struct placement){ "same", cpus[0], cpus[0] };

	bench_daemon_start(pool, NULL);
	if (contig_connect(bench_daemon.sock, &c) < 0)
		bench_die("contig_connect: %s", contig_last_message());
	/* Keeps its frame owned, so 4 KiB and 64 KiB come from an owned frame. */
	contig_alloc_req_init(&req, 4 * KIB);
	if (contig_alloc(c, &req, &keeper) < 0)
		bench_die("contig_alloc(keeper): %s", contig_last_message());

	printf("bench_latency: contigd --pool %s; each call timed on its own "
	       "(CLOCK_MONOTONIC), median and p99\n",
	       pool);
	printf("baseline: raw SOCK_SEQPACKET %d-byte request / %d-byte reply + 1 fd "
	       "(SCM_RIGHTS, closed), blocking, forked echo peer\n",
	       REQ_LEN, REPLY_LEN);
	for (int p = 0; p < nplaces; p++)
		printf("placement %-5s: client on CPU %d, daemon (all threads) and echo peer on CPU %d\n",
		       places[p].name, places[p].client_cpu, places[p].daemon_cpu);
	printf("\n%-6s %-9s %8s %6s %10s %10s %10s %8s  %s\n", "place", "operation", "size", "n",
	       "median_us", "p99_us", "raw_us", "ratio", "target");

	for (int p = 0; p < nplaces; p++) {
		struct bench_result raw;

		bench_pin_self(places[p].client_cpu);
		bench_pin_process(bench_daemon.pid, places[p].daemon_cpu);
		raw = bench_raw(places[p].daemon_cpu, iters);
		print_row(places[p].name, "raw rtt", 0, iters, raw, raw.median_us, false);
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
				nlen += (size_t)snprintf(notes + nlen, sizeof(notes) - nlen,
							 "note: %s %s skipped: the pool's largest "
							 "free run is %llu MiB\n",
							 places[p].name, size,
							 (unsigned long long)(bench_largest_free(c) / MIB));
				if (nlen >= sizeof(notes))
					nlen = sizeof(notes) - 1;
				continue;
			}
			bench_contig(c, len, n, &r);
			print_row(places[p].name, "alloc", len, r.iters, r.alloc, raw.median_us,
				  len == 4 * KIB);
			print_row(places[p].name, "free", len, r.iters, r.free, raw.median_us,
				  len == 4 * KIB);
			if (r.retries) {
				nlen += (size_t)snprintf(notes + nlen, sizeof(notes) - nlen,
							 "note: %s %s: %zu allocations found no free "
							 "run (frames still recycling) and were "
							 "retried after an untimed wait\n",
							 places[p].name, size, r.retries);
				if (nlen >= sizeof(notes))
					nlen = sizeof(notes) - 1;
			}
		}
	}
	printf("%s", notes);
	printf("ratio = median / raw_us (the raw round trip's median, same placement, same run); "
	       "total %.1f s\n",
	       (bench_now_ns() - t0) / 1e9);

	contig_free(c, keeper.virt);
	contig_disconnect(c);
	return 0;
}
