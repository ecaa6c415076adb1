/* common.c - see common.h. */
#include "common.h"
#include "harness.h" /* harness_instance_purge() */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_S 600

struct bench_daemon bench_daemon;
static const char *bench_name = "bench";
static pid_t bench_main_pid;

void bench_init(const char *name)
{
	bench_name = name;
	bench_main_pid = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(bench_daemon_stop);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* A forked helper that dies must not stop the bench's daemon. */
	if (getpid() != bench_main_pid)
		_exit(1);
	exit(1);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* build/contigd, next to build/bench/<this program>. */
static void daemon_path(char *buf, size_t len)
{
	char exe[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *p;

	if (n < 0)
		bench_die("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	for (int i = 0; i < 2 && (p = strrchr(exe, '/')); i++)
		*p = '\0';
	snprintf(buf, len, "%s/contigd", exe);
}

static void print_log(void)
{
	char log[4096] = "";
	int fd = open(bench_daemon.log_path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, log, sizeof(log) - 1) : -1;

	if (n > 0) {
		log[n] = '\0';
		fprintf(stderr, "contigd log:\n%s", log);
	}
	if (fd >= 0)
		close(fd);
}

void bench_daemon_stop(void)
{
	struct bench_daemon *d = &bench_daemon;

	if (getpid() != bench_main_pid)
		return;
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
	if (d->dir[0]) {
		/* A daemon stopped while a bench's client still held buffers
		 * keeps their frames for a restart (session_grace) that never
		 * comes here: give them back. */
		harness_instance_purge(d->sock);
		unlink(d->log_path);
		unlink(d->sock);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}

/* Start build/contigd in bench_daemon.dir (made already) and wait for
 * READY=1; its log is appended to. */
static void spawn(const char *pool, const char *const *extra)
{
	struct bench_daemon *d = &bench_daemon;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char bin[PATH_MAX], notify[160], buf[256];
	const char *argv[32];
	uint64_t t0, deadline, now, exec_ns = 0;
	int nfd, log_fd, argc = 0, when[2];

	daemon_path(bin, sizeof(bin));
	if (pipe2(when, O_CLOEXEC) < 0)
		bench_die("pipe2: %s", strerror(errno));
	snprintf(notify, sizeof(notify), "%.63s/notify", d->dir);
	log_fd = open(d->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		bench_die("open %s: %s", d->log_path, strerror(errno));

	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(addr.sun_path, notify, strlen(notify) + 1);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		bench_die("notify socket %s: %s", notify, strerror(errno));

	argv[argc++] = bin;
	argv[argc++] = "--socket";
	argv[argc++] = d->sock;
	argv[argc++] = "--pool";
	argv[argc++] = pool;
	for (int i = 0; extra && extra[i] && argc < 31; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	fflush(stdout);
	t0 = bench_now_ns();
	d->pid = fork();
	if (d->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (d->pid == 0) {
		/* No daemon holding hugepages survives a crashed bench. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(log_fd, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", notify, 1);
		exec_ns = bench_now_ns();
		if (write(when[1], &exec_ns, sizeof(exec_ns)) != sizeof(exec_ns))
			_exit(127);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(log_fd);
	close(when[1]);

	deadline = t0 + READY_TIMEOUT_S * UINT64_C(1000000000);
	for (;;) {
		struct pollfd p = { .fd = nfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 200) > 0) {
			n = recv(nfd, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				if (strstr(buf, "READY=1"))
					break;
			}
		}
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			print_log();
			bench_die("%s exited before READY=1", bin);
		}
		if (bench_now_ns() > deadline)
			bench_die("contigd not ready after %d s", READY_TIMEOUT_S);
	}
	now = bench_now_ns();
	d->ready_s = (now - t0) / 1e9;
	if (read(when[0], &exec_ns, sizeof(exec_ns)) != sizeof(exec_ns))
		bench_die("the time of exec was not told");
	d->exec_ready_s = (now - exec_ns) / 1e9;
	close(when[0]);
	close(nfd);
	unlink(notify);
}

void bench_daemon_start(const char *pool, const char *const *extra)
{
	struct bench_daemon *d = &bench_daemon;

	snprintf(d->dir, sizeof(d->dir), "/tmp/contigd-bench.XXXXXX");
	if (!mkdtemp(d->dir))
		bench_die("mkdtemp: %s", strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%.63s/contigd.sock", d->dir);
	snprintf(d->log_path, sizeof(d->log_path), "%.63s/contigd.log", d->dir);
	unlink(d->log_path);
	spawn(pool, extra);
}

void bench_daemon_restart(const char *pool, const char *const *extra)
{
	struct bench_daemon *d = &bench_daemon;

	if (d->pid <= 0 || !d->dir[0])
		bench_die("bench_daemon_restart: no daemon running");
	kill(d->pid, SIGTERM);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	spawn(pool, extra);
}

void bench_pin_process(pid_t pid, int cpu)
{
	char path[64];
	cpu_set_t set;
	struct dirent *e;
	DIR *dir;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		bench_die("opendir %s: %s", path, strerror(errno));
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		if (sched_setaffinity((pid_t)atoi(e->d_name), sizeof(set), &set) < 0 &&
		    errno != ESRCH)
			bench_die("sched_setaffinity %s: %s", e->d_name, strerror(errno));
	}
	closedir(dir);
}

void bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		bench_die("sched_setaffinity: %s", strerror(errno));
}

int bench_cpus(int *cpus, int max)
{
	cpu_set_t allowed;
	int n = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_getaffinity: %s", strerror(errno));
	for (int i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &allowed))
			cpus[n++] = i;
	return n;
}

int bench_ncpus(void)
{
	cpu_set_t allowed;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_getaffinity: %s", strerror(errno));
	return CPU_COUNT(&allowed);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct bench_result bench_summarize(uint64_t *ns, size_t n)
{
	size_t i99 = n * 99 / 100;

	if (n == 0)
		return (struct bench_result){ 0, 0 };
	qsort(ns, n, sizeof(*ns), cmp_u64);
	if (i99 >= n)
		i99 = n - 1;
	return (struct bench_result){ ns[n / 2] / 1000.0, ns[i99] / 1000.0 };
}

uint64_t bench_largest_free(struct contig_client *c)
{
	struct contig_stats *st = malloc(sizeof(*st));
	uint64_t len;

	if (!st)
		bench_die("out of memory");
	if (contig_get_stats(c, st) < 0 || st->npools < 1)
		bench_die("contig_get_stats: %s", contig_last_message());
	len = st->pools[0].largest_free_len;
	free(st);
	return len;
}

void bench_wait_free(struct contig_client *c, uint64_t len)
{
	struct timespec pause = { 0, 500000 };

	for (int i = 0; i < 20000; i++) {
		if (bench_largest_free(c) >= len)
			return;
		nanosleep(&pause, NULL);
	}
	bench_die("no free run of %llu bytes after 10 s", (unsigned long long)len);
}

void bench_summary(const char *section, const char *what, const char *value,
		   const char *baseline, double ratio, const char *target, bool met)
{
	const char *path = getenv("BENCH_SUMMARY");
	char r[32] = "-";
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "a");
	if (!f)
		bench_die("open %s: %s", path, strerror(errno));
	if (ratio > 0)
		snprintf(r, sizeof(r), "%.2fx", ratio);
	fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", section, what, value, baseline, r,
		target ? target : "-", target ? (met ? "met" : "NOT met") : "-");
	fclose(f);
}
