/* bench_fastpath.c - the client's fast path (issue 22 part 1): what a small
 * allocate+free costs from a warm reserve, against the round trip, in the
 * same run.
 *
 * DESIGN
 * Starts the real daemon (bench_daemon_start(), --pool 0:2M:256M), pins
 * this process to the first allowed CPU and the daemon to the second (one
 * CPU: both on it), connects one client with the fast path on
 * (contig_set_fast_path()) and measures:
 *   - 4 KiB and 64 KiB contig_alloc()+contig_free() with nothing else live,
 *     from a warm reserve (one pair first, untimed, warms it): the median
 *     over batches of BATCH pairs, each batch timed as a whole and divided
 *     (clock_gettime() costs about as much as a pair);
 *   - the same pairs with CONTIG_ALLOC_ROUND_TRIP (the daemon allocates and
 *     frees each), one other 4 KiB buffer live so that the frame stays
 *     owned (without it every pair waits for a recycled frame: issue 22);
 *     the ratio is fast / round trip;
 *   - round trips per 1000 small allocations: every request this client
 *     sent (contig_get_fast_stats(): warm frames, reports, all of them, the
 *     closing contig_flush() included) across rounds of 1000 allocations
 *     held together, then freed: of 4 KiB (the target), of 4 to 64 KiB
 *     (34 MiB held: one warm frame per 2 MiB), and of 1000 4 KiB
 *     alloc+free pairs; and separately those the allocating thread waited
 *     for (all but the reporter thread's);
 *   - 1, 2 and 8 threads doing 4 KiB pairs at once: the time per pair in
 *     one thread (wall time / pairs of that thread); the ratio is against
 *     one thread;
 *   - the first 4 KiB allocation of a cold client (connected just
 *     before, untimed), with the fast path and, alternating, without: the
 *     median of NCOLD each (target <= 1.25x: the warm frame it fetches
 *     costs the first allocation little);
 *   - fork() with warm frames holding buffers (NFORK_FRAMES of them): from
 *     just before fork() to the child's first instruction after it (so
 *     libcontig's handlers, and the copy-on-write faults of what the
 *     child's handler writes, are in it), the median of NFORKS, and the
 *     child's minor page faults by then; the baseline is the same process
 *     forked by a raw clone(2), which runs no pthread_atfork() handler.
 * Targets (issue 22): 4 KiB <= 0.3 us, 64 KiB <= 0.5 us, <= 10 round trips
 * per 1000 allocations. BENCH_ITERS=N sets the pairs per size (default
 * 100000).
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 64
#define NFORKS 200
#define NFORK_FRAMES 4
#define NCOLD 100 /* cold clients each way */
/* The largest request the fast path serves (fastpath.h's
 * CONTIG_FAST_MAX_LEN, 1/8 of a 2 MiB warm frame). */
#define CONTIG_FAST_MAX_LEN_BENCH (256 * KIB)

static struct contig_client *client;
static size_t iters = 100000;

/* Median time of one alloc+free pair of @len, in us. */
static double pair_us(uint64_t len, unsigned flags)
{
	size_t nbatches = iters / BATCH;
	uint64_t *ns = malloc(nbatches * sizeof(*ns));
	struct contig_alloc_req req;
	struct contig_buffer b;

	if (!ns)
		bench_die("out of memory");
	contig_alloc_req_init(&req, len);
	for (int i = 0; i < 100; i++) /* warm the reserve, the caches */
		if (contig_alloc_flags(client, &req, flags, &b) < 0 || contig_free(client, b.virt) < 0)
			bench_die("alloc/free %llu: %s", (unsigned long long)len, contig_last_message());
	for (size_t k = 0; k < nbatches; k++) {
		uint64_t t0 = bench_now_ns();

		for (int i = 0; i < BATCH; i++) {
			if (contig_alloc_flags(client, &req, flags, &b) < 0)
				bench_die("alloc: %s", contig_last_message());
			contig_free(client, b.virt);
		}
		ns[k] = (bench_now_ns() - t0) / BATCH;
	}
	double us = bench_summarize(ns, nbatches).median_us;

	free(ns);
	return us;
}

/* Requests sent so far: all, and those no caller waited for. */
static void requests(uint64_t *ret_all, uint64_t *ret_background)
{
	struct contig_fast_stats fs;

	if (contig_get_fast_stats(client, &fs) < 0)
		bench_die("fast stats: %s", contig_last_message());
	*ret_all = fs.nrequests;
	*ret_background = fs.nbackground;
}

#define ROUNDS 20

/* Requests per 1000 allocations of 4 KiB * (1 + random % @npages), over
 * ROUNDS rounds: held together then freed (@pairs false), or each freed at
 * once; and of those, the ones the allocating thread waited for. */
static void round_trips_per_1000(unsigned npages, bool pairs, double *ret_all, double *ret_waited)
{
	static struct contig_buffer bufs[1000];
	struct contig_alloc_req req;
	uint64_t all0, bg0, all, bg;
	unsigned seed = 22;

	requests(&all0, &bg0);
	for (int k = 0; k < ROUNDS; k++) {
		for (int i = 0; i < 1000; i++) {
			contig_alloc_req_init(&req, 4096u * (1 + rand_r(&seed) % npages));
			if (contig_alloc(client, &req, &bufs[i]) < 0)
				bench_die("alloc: %s", contig_last_message());
			if (pairs)
				contig_free(client, bufs[i].virt);
		}
		for (int i = 0; !pairs && i < 1000; i++)
			contig_free(client, bufs[i].virt);
	}
	if (contig_flush(client) < 0)
		bench_die("flush: %s", contig_last_message());
	requests(&all, &bg);
	*ret_all = (double)(all - all0) / ROUNDS;
	*ret_waited = (double)((all - all0) - (bg - bg0)) / ROUNDS;
}

static void rt_row(const char *what, unsigned npages, bool pairs, bool target)
{
	double all, waited;
	char value[64], name[96];

	round_trips_per_1000(npages, pairs, &all, &waited);
	printf("%-34s %10.1f   waited for by the allocating thread %6.1f\n", what, all, waited);
	snprintf(value, sizeof(value), "%.1f (%.1f waited)", all, waited);
	snprintf(name, sizeof(name), "round trips per 1000 %s", what);
	bench_summary("12 fast path", name, value, pairs ? "1000 pairs" : "1000 allocs + 1000 frees",
		      all / 2000.0, target ? "<= 10" : NULL, !target || all <= 10);
}

struct worker {
	pthread_t th;
	pthread_barrier_t *start;
	uint64_t ns;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct contig_alloc_req req;
	struct contig_buffer b;
	uint64_t t0;

	contig_alloc_req_init(&req, 4096);
	if (contig_alloc(client, &req, &b) == 0) /* this thread's arena warmed */
		contig_free(client, b.virt);
	pthread_barrier_wait(w->start);
	t0 = bench_now_ns();
	for (size_t i = 0; i < iters; i++) {
		if (contig_alloc(client, &req, &b) < 0)
			bench_die("alloc: %s", contig_last_message());
		contig_free(client, b.virt);
	}
	w->ns = bench_now_ns() - t0;
	return NULL;
}

/* Time per 4 KiB pair in each of @n threads, in us (their mean). */
static double threads_us(int n)
{
	struct worker w[8];
	pthread_barrier_t start;
	double sum = 0;

	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ .start = &start };
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		sum += (double)w[i].ns / 1000.0 / (double)iters;
	}
	pthread_barrier_destroy(&start);
	return sum / n;
}

/* Median time from just before a fork to the child's first instruction,
 * in us: fork() (libcontig's handlers run) or, with @raw, clone(2) (none
 * runs; the child only writes the time and its page faults, and exits).
 * *ret_faults: the child's minor page faults up to then (the last fork's:
 * the same at each), which its handlers' writes to memory shared
 * copy-on-write with the parent make. */
static double fork_us(bool raw, long *ret_faults)
{
	uint64_t ns[NFORKS];

	for (int k = 0; k < NFORKS; k++) {
		uint64_t t0, got[2] = { 0, 0 };
		int p[2], status;
		pid_t pid;

		if (pipe(p) < 0)
			bench_die("pipe");
		t0 = bench_now_ns();
		pid = raw ? (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL) : fork();
		if (pid < 0)
			bench_die("fork");
		if (pid == 0) {
			struct rusage ru;

			got[0] = bench_now_ns();
			getrusage(RUSAGE_SELF, &ru);
			got[1] = (uint64_t)ru.ru_minflt;
			_exit(write(p[1], got, sizeof(got)) == sizeof(got) ? 0 : 1);
		}
		close(p[1]);
		if (read(p[0], got, sizeof(got)) != sizeof(got))
			bench_die("fork: the child wrote nothing");
		close(p[0]);
		waitpid(pid, &status, 0);
		ns[k] = got[0] - t0;
		*ret_faults = (long)got[1];
	}
	return bench_summarize(ns, NFORKS).median_us;
}

/* The first 4 KiB allocation of a client just connected, timed alone:
 * with the fast path (a 2 MiB warm frame from the daemon, mapped, then
 * the cut) and without it (the daemon packs the buffer into a new
 * frame), alternating, NCOLD each; medians into @ret_fast and @ret_off. */
static void cold_first_us(double *ret_fast, double *ret_off)
{
	uint64_t ns[2][NCOLD];

	for (int i = 0; i < 2 * NCOLD; i++) {
		struct contig_alloc_req req;
		struct contig_client *c;
		struct contig_buffer b;
		uint64_t t0;

		if (contig_connect(bench_daemon.sock, &c) < 0 || contig_set_fast_path(c, i % 2 == 0) < 0)
			bench_die("cold client: %s", contig_last_message());
		contig_alloc_req_init(&req, 4 * KIB);
		t0 = bench_now_ns();
		if (contig_alloc(c, &req, &b) < 0)
			bench_die("cold alloc: %s", contig_last_message());
		ns[i % 2][i / 2] = bench_now_ns() - t0;
		contig_disconnect(c);
	}
	*ret_fast = bench_summarize(ns[0], NCOLD).median_us;
	*ret_off = bench_summarize(ns[1], NCOLD).median_us;
}

static void row(const char *what, double us, double base_us, const char *base_what,
		double target_us)
{
	char value[64], baseline[64], target[32];

	snprintf(value, sizeof(value), "%.3f us", us);
	snprintf(baseline, sizeof(baseline), "%.3f us (%s)", base_us, base_what);
	snprintf(target, sizeof(target), "<= %.1f us", target_us);
	printf("%-34s %10.3f us   %-28s %8.3f us   %6.3fx\n", what, us, base_what, base_us,
	       us / base_us);
	bench_summary("12 fast path", what, value, baseline, us / base_us,
		      target_us > 0 ? target : NULL, target_us <= 0 || us <= target_us);
}

int main(void)
{
	int cpus[2], ncpus;
	struct contig_alloc_req req;
	struct contig_buffer keep;
	double fast4, fast64, rt4, rt64, t1, t2, t8, fk, fk_raw;
	char value[32];

	cpu_set_t allowed;

	bench_init("bench_fastpath");
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_getaffinity");
	if (getenv("BENCH_ITERS"))
		iters = strtoul(getenv("BENCH_ITERS"), NULL, 10);
	if (iters < BATCH)
		iters = BATCH;
	bench_daemon_start("0:2M:256M", NULL);
	ncpus = bench_cpus(cpus, 2);
	bench_pin_self(cpus[0]);
	bench_pin_process(bench_daemon.pid, cpus[ncpus > 1]);
	if (contig_connect(bench_daemon.sock, &client) < 0)
		bench_die("connect: %s", contig_last_message());
	if (contig_set_fast_path(client, 1) < 0)
		bench_die("fast path: %s", contig_last_message());

	printf("fast path: alloc+free pairs, client on CPU %d, daemon on CPU %d, %zu pairs per "
	       "size\n",
	       cpus[0], cpus[ncpus > 1], iters);
	fast4 = pair_us(4 * KIB, 0);
	fast64 = pair_us(64 * KIB, 0);
	/* The round trip, with one buffer live to keep the frame owned. */
	contig_alloc_req_init(&req, 4 * KIB);
	if (contig_alloc_flags(client, &req, CONTIG_ALLOC_ROUND_TRIP, &keep) < 0)
		bench_die("alloc: %s", contig_last_message());
	{
		size_t fast_iters = iters;

		iters = iters / 20 > BATCH ? iters / 20 : BATCH; /* ~50 us a pair */
		rt4 = pair_us(4 * KIB, CONTIG_ALLOC_ROUND_TRIP);
		rt64 = pair_us(64 * KIB, CONTIG_ALLOC_ROUND_TRIP);
		iters = fast_iters;
	}
	contig_free(client, keep.virt);
	row("4 KiB alloc+free, warm, none live", fast4, rt4, "round trip pair", 0.3);
	row("64 KiB alloc+free, warm, none live", fast64, rt64, "round trip pair", 0.5);

	{
		double cold_fast, cold_off;
		char baseline[64];

		cold_first_us(&cold_fast, &cold_off);
		printf("%-34s %10.3f us   %-28s %8.3f us   %6.3fx\n", "4 KiB first alloc, cold client",
		       cold_fast, "fast path off", cold_off, cold_fast / cold_off);
		snprintf(value, sizeof(value), "%.1f us", cold_fast);
		snprintf(baseline, sizeof(baseline), "%.1f us (fast path off)", cold_off);
		bench_summary("12 fast path", "4 KiB first alloc of a cold client", value, baseline,
			      cold_fast / cold_off, "<= 1.25x", cold_fast / cold_off <= 1.25);
	}

	rt_row("4 KiB allocs, held", 1, false, true);
	rt_row("4-64 KiB allocs, held", 16, false, false);
	rt_row("4 KiB alloc+free pairs", 1, true, false);

	{
		/* Warm frames holding buffers, as a driver has them when it
		 * forks. */
		static struct contig_buffer held[NFORK_FRAMES * 8];

		contig_alloc_req_init(&req, CONTIG_FAST_MAX_LEN_BENCH);
		for (int i = 0; i < NFORK_FRAMES * 8; i++)
			if (contig_alloc(client, &req, &held[i]) < 0)
				bench_die("alloc: %s", contig_last_message());
		long flt, flt_raw;

		fk = fork_us(false, &flt);
		fk_raw = fork_us(true, &flt_raw);
		for (int i = 0; i < NFORK_FRAMES * 8; i++)
			contig_free(client, held[i].virt);
		row("fork, 4 warm frames, to the child", fk, fk_raw, "raw clone(2)", 0);
		printf("%-34s %10ld   %-28s %8ld\n", "  child's page faults by then", flt,
		       "raw clone(2)", flt_raw);
		snprintf(value, sizeof(value), "%ld", flt);
		bench_summary("12 fast path", "fork: the child's page faults by its first instruction",
			      value, "raw clone(2)", flt_raw ? (double)flt / (double)flt_raw : 0, NULL,
			      true);
	}

	sched_setaffinity(0, sizeof(allowed), &allowed); /* the threads on every CPU */
	t1 = threads_us(1);
	t2 = threads_us(2);
	t8 = threads_us(8);
	row("4 KiB pair per thread, 1 thread", t1, t1, "1 thread", 0);
	row("4 KiB pair per thread, 2 threads", t2, t1, "1 thread", 0);
	row("4 KiB pair per thread, 8 threads", t8, t1, "1 thread", 0);
	contig_disconnect(client);
	bench_daemon_stop();
	return 0;
}
