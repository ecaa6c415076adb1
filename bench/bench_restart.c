/* bench_restart.c - issue 22 item 2, section 13: how long a restart of a
 * daemon holding many live buffers takes before its clients can go on.
 *
 * DESIGN
 * One process is every client: BENCH_RESTART_SESSIONS (1000) connections
 * to the real daemon (build/contigd, started as the other benches start
 * it, with a configuration that lets one user hold that many connections
 * and a session_grace of 10 minutes), each holding
 * BENCH_RESTART_BUFFERS (100) buffers of 4 KiB, allocated with
 * contig_alloc_many(): 100 000 live buffers, each session's packed in one
 * 2 MiB frame of its own. The pool is those frames and no more
 * (0:2M:2000M): a restart re-reserves the frames no session owns (their
 * memory went back to the kernel), and that is startup's cost (sections 5
 * and 11), not adoption's.
 *
 * Times are from the daemon's execv() to its READY=1
 * (bench_daemon.exec_ready_s): a fork() of this process runs libcontig's
 * pthread_atfork handlers for each of its 1000 clients first, which is the
 * bench's cost, not the daemon's (fork to READY is printed too).
 * Baseline: the first start of that daemon with the same pool and nothing
 * to restore.
 * contigd: SIGTERM (the daemon keeps its sessions: journal and frame
 * keeper), then the same daemon started again on the same socket: the
 * journal read, every frame adopted through the keeper and located again,
 * every session rebuilt as an orphan (every session is resumable at
 * READY). Target <= 0.5 s.
 * Then, untimed against a target: READY to every client having reclaimed
 * its session (each client's next call reconnects, presents its token,
 * and here allocates and frees one 4 KiB buffer), and the daemon's
 * counters checked: every session restored and resumed, every buffer live.
 *
 * The bench raises its descriptor limit to the hard one (a socket per
 * client, and the frames it maps). It
 * needs root (hugepages for a 2 GiB pool: the daemon adds what the kernel
 * lacks, and gives it back when it stops).
 */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "contig.h"

#define TARGET_S 0.5

static unsigned env_count(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

int main(void)
{
	unsigned nsessions = env_count("BENCH_RESTART_SESSIONS", 1000);
	unsigned nbuffers = env_count("BENCH_RESTART_BUFFERS", 100);
	struct contig_client **clients = calloc(nsessions, sizeof(*clients));
	struct contig_alloc_req *reqs = calloc(nbuffers, sizeof(*reqs));
	struct contig_buffer *bufs = calloc(nbuffers, sizeof(*bufs));
	struct contig_stats *st = malloc(sizeof(*st));
	struct contig_counters *cnt = malloc(sizeof(*cnt));
	struct rlimit lim;
	char conf[160], pool[64], value[64], baseline[64], what[96];
	const char *extra[] = { "--config", conf, NULL };
	double cold_s, stop_s, restart_s, restart_fork_s, resumed_s;
	uint64_t t0;
	FILE *f;

	bench_init("restart");
	if (!clients || !reqs || !bufs || !st || !cnt)
		bench_die("out of memory");
	if (geteuid() != 0)
		bench_die("needs root (hugepages)");
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		bench_die("getrlimit: %s", strerror(errno));
	lim.rlim_cur = lim.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur < nsessions * 3 + 64)
		bench_die("%u clients need %u descriptors; the hard limit is %llu", nsessions,
			  nsessions * 3 + 64, (unsigned long long)lim.rlim_max);

	snprintf(conf, sizeof(conf), "/tmp/contigd-bench-restart.%d.conf", (int)getpid());
	f = fopen(conf, "w");
	if (!f)
		bench_die("%s: %s", conf, strerror(errno));
	fprintf(f, "max_connections = %u\nmax_connections_per_user = %u\n"
		"max_buffers_per_user = %u\nsession_grace = 10m\n", nsessions + 64,
		nsessions + 64, (nsessions + 1) * (nbuffers + 1));
	fclose(f);

	snprintf(pool, sizeof(pool), "0:2M:%uM", 2 * nsessions);
	bench_daemon_start(pool, extra);
	cold_s = bench_daemon.exec_ready_s;
	for (unsigned i = 0; i < nbuffers; i++)
		contig_alloc_req_init(&reqs[i], 4 * KIB);
	t0 = bench_now_ns();
	for (unsigned i = 0; i < nsessions; i++) {
		int r = contig_connect(bench_daemon.sock, &clients[i]);

		if (r < 0)
			bench_die("connect %u: %s", i, contig_last_message());
		/* (Daemon buffers, and the reclaim after the restart a round
		 * trip: a warm frame per session would not fit the pool.) */
		contig_set_fast_path(clients[i], 0);
		r = contig_alloc_many(clients[i], reqs, nbuffers, bufs);
		if (r < 0)
			bench_die("client %u: %u buffers: %s", i, nbuffers, contig_last_message());
	}
	printf("%u sessions of %u buffers of 4 KiB allocated in %.2f s\n", nsessions, nbuffers,
	       (bench_now_ns() - t0) / 1e9);

	t0 = bench_now_ns();
	bench_daemon_restart(pool, extra);
	restart_s = bench_daemon.exec_ready_s;
	restart_fork_s = bench_daemon.ready_s;
	stop_s = (bench_now_ns() - t0) / 1e9 - restart_fork_s;

	/* Each client's next call reconnects and reclaims its session. */
	t0 = bench_now_ns();
	for (unsigned i = 0; i < nsessions; i++) {
		struct contig_buffer b;

		if (contig_alloc(clients[i], &reqs[0], &b) < 0 || contig_free(clients[i], b.virt) < 0)
			bench_die("client %u after the restart: %s", i, contig_last_message());
	}
	resumed_s = (bench_now_ns() - t0) / 1e9;
	if (contig_get_counters(clients[0], st, cnt) < 0)
		bench_die("counters: %s", contig_last_message());
	if (cnt->nsessions_resumed != nsessions || cnt->norphans != 0 ||
	    cnt->live_nbuffers != nsessions * nbuffers)
		bench_die("after the restart: %" PRIu64 " sessions restored, %" PRIu64 " resumed, "
			  "%u orphans, %u live buffers (expected %u sessions, %u buffers)",
			  cnt->nsessions_restored, cnt->nsessions_resumed, cnt->norphans,
			  cnt->live_nbuffers, nsessions, nsessions * nbuffers);

	printf("%-46s %10s %10s %8s\n", "", "contigd", "baseline", "ratio");
	printf("%-46s %9.3fs %9.3fs %7.2fx  (baseline: cold start, same pool)\n",
	       "restart to READY, every session resumable", restart_s, cold_s, restart_s / cold_s);
	printf("%-46s %9.3fs %9.3fs %7.2fx  (baseline: restart to READY)\n",
	       "READY to every session reclaimed", resumed_s, restart_s, resumed_s / restart_s);
	printf("%-46s %9.3fs\n", "restart, from this process's fork()", restart_fork_s);
	printf("%-46s %9.3fs\n", "SIGTERM to the old daemon's exit", stop_s);
	printf("counters: %" PRIu64 " sessions restored, %" PRIu64 " resumed, %u live buffers\n",
	       cnt->nsessions_restored, cnt->nsessions_resumed, cnt->live_nbuffers);

	snprintf(what, sizeof(what), "restart to READY, %u live buffers in %u sessions",
		 nsessions * nbuffers, nsessions);
	snprintf(value, sizeof(value), "%.3f s", restart_s);
	snprintf(baseline, sizeof(baseline), "cold start %.3f s", cold_s);
	bench_summary("13 restart", what, value, baseline, restart_s / cold_s, "<= 0.5 s",
		      restart_s <= TARGET_S);
	snprintf(value, sizeof(value), "%.3f s", resumed_s);
	snprintf(baseline, sizeof(baseline), "restart to READY %.3f s", restart_s);
	bench_summary("13 restart", "READY to every session reclaimed by its client", value,
		      baseline, resumed_s / restart_s, NULL, true);

	for (unsigned i = 0; i < nsessions; i++)
		contig_disconnect(clients[i]);
	bench_daemon_stop();
	unlink(conf);
	free(clients);
	free(reqs);
	free(bufs);
	free(st);
	free(cnt);
	return 0;
}
