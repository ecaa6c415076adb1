/* common.h - what every contigd bench shares: the daemon it starts, CPU
 * pinning, timing, statistics, and the summary table `make bench` prints.
 *
 * A bench is one program in bench/; bench/common.c is linked into each.
 * Every figure that has a target is also written with bench_summary() as
 * one row of the run's summary table: bench/run.sh collects those rows from
 * all benches (through the file named by $BENCH_SUMMARY) and prints them
 * together at the end of `make bench`.
 */
#ifndef CONTIG_BENCH_COMMON_H
#define CONTIG_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "contig.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)

/* The daemon a bench started (one at a time). */
struct bench_daemon {
	pid_t pid;
	char dir[64];       /* temporary directory holding what follows */
	char sock[128];     /* its socket */
	char log_path[128]; /* its stderr */
	double ready_s;     /* from fork to READY=1 */
	double exec_ready_s; /* from the child's execv() to READY=1: without what
				fork() costs a process of many clients (libcontig's
				pthread_atfork handlers run in the child first) */
};

extern struct bench_daemon bench_daemon;

/* Set once at the top of main(): names the bench in messages. */
void bench_init(const char *name);

__attribute__((format(printf, 1, 2), noreturn)) void bench_die(const char *fmt, ...);

uint64_t bench_now_ns(void);

/* Start build/contigd (next to build/bench/) on a socket of its own with
 * "--pool @pool" and, if not NULL, the further arguments @extra (NULL
 * terminated); return after READY=1. Dies with the daemon's log on failure.
 * The daemon dies with the bench (PR_SET_PDEATHSIG). */
void bench_daemon_start(const char *pool, const char *const *extra);
/* SIGTERM (the daemon keeps its sessions for the next instance), wait,
 * then start build/contigd again on the same socket with these arguments
 * and return after its READY=1 (bench_daemon.ready_s: from this fork). */
void bench_daemon_restart(const char *pool, const char *const *extra);
/* SIGTERM, wait, remove the directory. Safe to call twice. */
void bench_daemon_stop(void);

/* Pin every thread of @pid, or this thread, to @cpu. */
void bench_pin_process(pid_t pid, int cpu);
void bench_pin_self(int cpu);
/* The first @max CPUs this process may run on; returns how many. */
int bench_cpus(int *cpus, int max);
/* The number of CPUs this process may run on. */
int bench_ncpus(void);

struct bench_result {
	double median_us;
	double p99_us;
};

/* Sorts @ns in place. */
struct bench_result bench_summarize(uint64_t *ns, size_t n);

/* The largest free run of the daemon's pool 0; waits (untimed) until one of
 * @len is free, at most 10 s, dying otherwise. */
uint64_t bench_largest_free(struct contig_client *c);
void bench_wait_free(struct contig_client *c, uint64_t len);

/* One row of the run's summary table: @section (e.g. "1 latency"), @what,
 * contigd's figure and the baseline's as text, their ratio (0: none), and
 * the target with whether it was met (@target NULL: no target). */
void bench_summary(const char *section, const char *what, const char *value,
		   const char *baseline, double ratio, const char *target, bool met);

#endif
