/* bench_throughput.c - how many requests per second contigd serves with
 * many in flight, against the raw message rate of the same sockets.
 *
 * DESIGN
 * Baseline: a forked echo server, single-threaded like the daemon's loop,
 * poll()s N SOCK_SEQPACKET socketpairs and answers every 40-byte request
 * with a 60-byte reply carrying one descriptor (SCM_RIGHTS), reading at
 * most 16 requests per socket per wake-up as the daemon does. Each of N
 * client processes keeps DEPTH (32) requests in flight: it sends DEPTH,
 * then sends one more for every reply it receives (and closes the reply's
 * descriptor).
 *
 * contigd: the real daemon (--pool 0:2M:512M); each of N client processes
 * connects with libcontig and repeats contig_alloc_many() of DEPTH 4 KiB
 * buffers and contig_free_many() of them. The library keeps up to 32
 * requests in flight and matches replies by seq. An allocate reply carries
 * one descriptor, as the baseline's replies do; a free reply none. Each
 * client holds one more 4 KiB buffer throughout, so its frame stays owned
 * and mapped between rounds (as a driver's would): otherwise every round
 * would hand the frame back, and the daemon would spend 0.2 ms zeroing it
 * again per 64 requests, which bench_startup's recycling rate measures.
 *
 * For 1, 8 and 64 client processes: all start together (a pipe each
 * parent->child as a barrier), run for BENCH_SECONDS (default 1.5) of
 * wall time, and report what they completed through a pipe; the rate is
 * the sum over the measured wall time. Raw and contigd runs alternate, 3
 * of each per row, and the row shows the median rates (allocates and frees
 * are equal in number: half the requests each). No CPU pinning: the 2 CPUs are shared by
 * the server (daemon) and the clients alike in both.
 *
 * Also, for scale: one client with one request in flight (contig_alloc +
 * contig_free), i.e. what pipelining buys.
 *
 * Target (issue 5): contigd's allocate+free requests per second >= 70% of
 * the raw message rate with descriptors, same number of clients.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEPTH 32
#define REQ_LEN 40
#define REPLY_LEN 60
#define READ_BATCH 16
#define TARGET 0.70
#define MAX_CLIENTS 64
#define REPEAT 3

static double seconds = 1.5;

/* ---- the raw baseline ---- */

static void send_reply(int sock, int fd)
{
	char reply[REPLY_LEN] = { 0 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = reply, .iov_len = sizeof(reply) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;

	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != REPLY_LEN)
		_exit(errno == EPIPE || errno == ECONNRESET ? 0 : 1);
}

/* Echo on every socket until all have hung up. */
static int echo_server(int *socks, int n)
{
	struct pollfd p[MAX_CLIENTS];
	int memfd = memfd_create("bench", MFD_CLOEXEC), open_socks = n;

	if (memfd < 0)
		return 1;
	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = socks[i], .events = POLLIN };
	while (open_socks > 0) {
		if (poll(p, (nfds_t)n, -1) < 0)
			return 1;
		for (int i = 0; i < n; i++) {
			char req[256];

			if (!p[i].revents)
				continue;
			for (int k = 0; k < READ_BATCH; k++) {
				ssize_t len = recv(p[i].fd, req, sizeof(req), MSG_DONTWAIT);

				if (len < 0 && errno == EAGAIN)
					break;
				if (len <= 0) {
					close(p[i].fd);
					p[i].fd = -1;
					open_socks--;
					break;
				}
				send_reply(p[i].fd, memfd);
			}
		}
	}
	return 0;
}

static void recv_reply(int sock)
{
	char reply[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { .iov_base = reply, .iov_len = sizeof(reply) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != REPLY_LEN)
		bench_die("raw recvmsg: %s", strerror(errno));
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		bench_die("raw: no descriptor in the reply");
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	close(fd);
}

static void send_request(int sock)
{
	char req[REQ_LEN] = { 1 };

	if (send(sock, req, sizeof(req), MSG_NOSIGNAL) != REQ_LEN)
		bench_die("raw send: %s", strerror(errno));
}

/* Count replies for @ns with DEPTH requests in flight. */
static uint64_t raw_client(int sock, uint64_t ns)
{
	uint64_t n = 0, end;

	for (int i = 0; i < DEPTH; i++)
		send_request(sock);
	end = bench_now_ns() + ns;
	while (bench_now_ns() < end) {
		recv_reply(sock);
		send_request(sock);
		n++;
	}
	for (int i = 0; i < DEPTH; i++)
		recv_reply(sock);
	return n + DEPTH;
}

/* ---- contigd ---- */

struct counts {
	uint64_t allocs, frees;
};

static struct counts contig_client_run(uint64_t ns, bool pipelined)
{
	struct contig_alloc_req reqs[DEPTH];
	struct contig_buffer bufs[DEPTH];
	void *virts[DEPTH];
	struct contig_client *c;
	struct counts n = { 0, 0 };
	struct contig_buffer keeper;
	uint64_t end;


	if (contig_connect(bench_daemon.sock, &c) < 0)
		bench_die("contig_connect: %s", contig_last_message());
	contig_set_fast_path(c, 0); /* (requests per second to the daemon are timed) */
	for (int i = 0; i < DEPTH; i++)
		contig_alloc_req_init(&reqs[i], 4 * KIB);
	/* Keeps the session's frame owned between rounds (see DESIGN). */
	if (contig_alloc(c, &reqs[0], &keeper) < 0)
		bench_die("contig_alloc: %s", contig_last_message());
	end = bench_now_ns() + ns;
	while (bench_now_ns() < end) {
		if (pipelined) {
			if (contig_alloc_many(c, reqs, DEPTH, bufs) < 0)
				bench_die("contig_alloc_many: %s", contig_last_message());
			for (int i = 0; i < DEPTH; i++)
				virts[i] = bufs[i].virt;
			if (contig_free_many(c, virts, DEPTH) < 0)
				bench_die("contig_free_many: %s", contig_last_message());
			n.allocs += DEPTH;
			n.frees += DEPTH;
		} else {
			if (contig_alloc(c, &reqs[0], &bufs[0]) < 0)
				bench_die("contig_alloc: %s", contig_last_message());
			if (contig_free(c, bufs[0].virt) < 0)
				bench_die("contig_free: %s", contig_last_message());
			n.allocs++;
			n.frees++;
		}
	}
	contig_disconnect(c);
	return n;
}

/* ---- running N clients together ---- */

enum mode { RAW, CONTIGD, CONTIGD_SERIAL };

struct run {
	double secs;          /* wall time, first start to last report */
	struct counts counts; /* summed */
};

static struct run run_clients(enum mode mode, int nclients)
{
	int go[MAX_CLIENTS][2], out[MAX_CLIENTS][2], raw_socks[MAX_CLIENTS];
	pid_t pids[MAX_CLIENTS], server = -1;
	struct run run = { 0 };
	uint64_t ns = (uint64_t)(seconds * 1e9), t0;

	for (int i = 0; i < nclients; i++) {
		int sv[2] = { -1, -1 };

		if (pipe(go[i]) < 0 || pipe(out[i]) < 0)
			bench_die("pipe: %s", strerror(errno));
		if (mode == RAW) {
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
				bench_die("socketpair: %s", strerror(errno));
			raw_socks[i] = sv[1];
		}
		fflush(stdout);
		pids[i] = fork();
		if (pids[i] < 0)
			bench_die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			struct counts n = { 0, 0 };
			char b;

			close(go[i][1]);
			close(out[i][0]);
			for (int k = 0; k < i; k++)
				if (mode == RAW)
					close(raw_socks[k]);
			if (mode == RAW)
				close(sv[1]);
			if (read(go[i][0], &b, 1) != 1)
				_exit(1);
			if (mode == RAW)
				n.allocs = raw_client(sv[0], ns);
			else
				n = contig_client_run(ns, mode == CONTIGD);
			if (write(out[i][1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
		close(go[i][0]);
		close(out[i][1]);
		if (mode == RAW)
			close(sv[0]);
	}
	if (mode == RAW) {
		fflush(stdout);
		server = fork();
		if (server < 0)
			bench_die("fork: %s", strerror(errno));
		if (server == 0)
			_exit(echo_server(raw_socks, nclients));
		for (int i = 0; i < nclients; i++)
			close(raw_socks[i]);
	}

	t0 = bench_now_ns();
	for (int i = 0; i < nclients; i++) {
		if (write(go[i][1], "g", 1) != 1)
			bench_die("start client: %s", strerror(errno));
		close(go[i][1]);
	}
	for (int i = 0; i < nclients; i++) {
		struct counts n;
		int status;

		if (read(out[i][0], &n, sizeof(n)) != sizeof(n))
			bench_die("client %d reported nothing", i);
		close(out[i][0]);
		run.counts.allocs += n.allocs;
		run.counts.frees += n.frees;
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bench_die("client %d failed", i);
	}
	run.secs = (bench_now_ns() - t0) / 1e9;
	if (server > 0) {
		int status;

		if (waitpid(server, &status, 0) != server || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bench_die("raw echo server failed");
	}
	return run;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, REPEAT, sizeof(*v), cmp_double);
	return v[REPEAT / 2];
}

int main(void)
{
	static const int clients[] = { 1, 8, 64 };
	uint64_t t0 = bench_now_ns();
	struct run serial;

	bench_init("bench_throughput");
	if (getenv("BENCH_SECONDS"))
		seconds = strtod(getenv("BENCH_SECONDS"), NULL);
	if (seconds < 0.2)
		seconds = 0.2;
	bench_daemon_start("0:2M:512M", NULL);

	printf("bench_throughput: %d requests in flight per client, %.1f s per row, no pinning "
	       "(%d CPUs)\n",
	       DEPTH, seconds, bench_ncpus());
	printf("raw: forked poll() echo server, 40-byte request / 60-byte reply + 1 fd\n");
	printf("contigd: contig_alloc_many(%d x 4 KiB) + contig_free_many, --pool 0:2M:512M\n\n",
	       DEPTH);
	printf("%7s | %12s | %12s %12s %12s | %7s  %s\n", "clients", "raw msg/s", "contigd req/s",
	       "allocs/s", "frees/s", "ratio", "target");
	for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
		double raw_rates[REPEAT], rates[REPEAT], raw_rate, reqs, ratio;
		char what[64], value[64], base[64];

		/* Alternate, so that a burst of other load hits both alike. */
		for (int k = 0; k < REPEAT; k++) {
			struct run raw = run_clients(RAW, clients[i]);
			struct run con = run_clients(CONTIGD, clients[i]);

			raw_rates[k] = raw.counts.allocs / raw.secs;
			rates[k] = (con.counts.allocs + con.counts.frees) / con.secs;
		}
		raw_rate = median(raw_rates);
		reqs = median(rates);
		ratio = reqs / raw_rate;
		printf("%7d | %12.0f | %12.0f %12.0f %12.0f | %6.2fx  >= %.2fx %s\n", clients[i],
		       raw_rate, reqs, reqs / 2, reqs / 2, ratio, TARGET,
		       ratio >= TARGET ? "met" : "not met");
		snprintf(what, sizeof(what), "%d client%s, %d in flight", clients[i],
			 clients[i] > 1 ? "s" : "", DEPTH);
		snprintf(value, sizeof(value), "%.0f req/s", reqs);
		snprintf(base, sizeof(base), "%.0f raw msg/s", raw_rate);
		bench_summary("3 throughput", what, value, base, ratio, ">= 0.70x", ratio >= TARGET);
	}
	serial = run_clients(CONTIGD_SERIAL, 1);
	printf("\nfor scale: 1 client, 1 request in flight (contig_alloc + contig_free): "
	       "%.0f req/s\n",
	       (serial.counts.allocs + serial.counts.frees) / serial.secs);
	printf("ratio = contigd requests (allocates + frees) per second / raw replies per second, "
	       "same clients, same run; total %.1f s\n",
	       (bench_now_ns() - t0) / 1e9);
	return 0;
}
