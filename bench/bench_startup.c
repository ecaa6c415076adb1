/* bench_startup.c - issue #5, sections 5 (startup), 8 (contiguity) and 6
 * (recycling): the real daemon against what the kernel gives a program
 * directly, every baseline measured in the same run.
 *
 * DESIGN
 * Hugepages. The raw baselines need free 2 MiB hugepages of their own. At
 * the start the bench raises /proc/sys/vm/nr_hugepages until the kernel
 * has as many free as the largest size needs, plus 64 of slack (others
 * may take a few meanwhile). Untimed and once, so neither side pays for
 * growing the kernel's pool: the daemon then finds enough free and adds
 * none. At exit (also on SIGINT/SIGTERM) it lowers nr_hugepages again by
 * exactly what it added: relative, not the old absolute value, because
 * other programs (a test daemon) may raise and lower it meanwhile. The
 * machine's free hugepages are never assumed adjacent: every run length
 * below is measured.
 *
 * 5. Startup, for 1 GiB and 4 GiB (BENCH_STARTUP_SIZES).
 *   contigd: bench_daemon_start("0:2M:<size>,reserve=sorted"): the real build/contigd
 *     forked on a socket of its own; the figure is bench_daemon.ready_s,
 *     fork() to READY=1 on NOTIFY_SOCKET (exec, configuration, private
 *     hugetlbfs mount, every frame created, fallocate()d (the kernel
 *     zeroes the page), located through pagemap, node-checked, sorted,
 *     socket listening).
 *   raw: the same bytes of 2 MiB hugetlb memory mapped with
 *     mmap(MAP_ANONYMOUS|MAP_SHARED|MAP_HUGETLB|MAP_POPULATE), split in
 *     whole pages across one worker per allowed CPU, each pinned to its
 *     CPU: all cores faulting, as the daemon faults with one thread per
 *     CPU. The workers are forked processes: threads of one process do not
 *     fault in parallel reliably, because MAP_POPULATE faults the range
 *     under the mmap lock held for reading and the next thread's mmap()
 *     waits to take it for writing (measured here: 2 threads ~0.19 s for
 *     4 GiB using one CPU's worth of time, 2 processes ~0.13 s). Timed
 *     from before the first fork() to the last worker's "populated" on a
 *     pipe. Then, untimed, each worker checks in pagemap that every page
 *     is present (MAP_POPULATE reports no failure) and unmaps. The same
 *     with threads of this process is measured too and printed, not
 *     targeted.
 *   Fairness: on a VM the first touch of never-used guest memory is far
 *   dearer (~2.7 s/GiB here) than re-touching a freed hugepage. So (1)
 *   before anything is timed, one untimed raw run of the largest size
 *   touches the pages both sides will get: the kernel's hugepage free list
 *   is LIFO, the pages just freed are handed out next, to either side; (2)
 *   each size runs BENCH_REPS (5) times, the order alternating (raw then
 *   contigd, contigd then raw, ...); (3) the figures are medians.
 *   Target: contigd <= 1.2x raw. For diagnosis, the same start with a
 *   one-frame pool (what a start costs besides frames) is timed too, and
 *   the wall time per frame beyond it is printed next to raw's per page.
 *   Readiness: right after READY=1 the bench asks the daemon for its stats
 *   (contig_get_stats, pools[0]): every frame must be in: free bytes ==
 *   total bytes == the configured size, frames == size / 2 MiB, none
 *   owned or recycling. The kernel's free_hugepages before the start and
 *   after READY are printed too (an independent view, exact unless another
 *   program takes hugepages meanwhile).
 *
 * 8. Contiguity, on every daemon of section 5, after the stats above:
 *   contigd: its stats at READY: segments, largest segment, largest free
 *     run (all frames are free then, so segments are the free ranges).
 *   sorted: every frame of the pool allocated as one 2 MiB buffer through
 *     libcontig; each buffer's physical address read by the bench from
 *     /proc/self/pagemap (the daemon's phys is only compared: mismatches
 *     are counted), sorted; runs of physically adjacent frames counted,
 *     the longest is the most that sorting these very pages can give.
 *   Target: no loss: contigd's largest segment == its largest free run ==
 *   the sorted largest run, and as many segments as runs, in every run.
 *
 * 6. Recycling, on its own daemon, --pool 0:2M:1G (BENCH_RECYCLE_SIZE).
 *   Client B allocates half the pool's frames as 2 MiB buffers, each call
 *   timed alone and followed (untimed) by a stats request, in three kinds
 *   of round, interleaved, BENCH_REPS of each:
 *     idle: nothing recycling (the baseline);
 *     idle + CPU competitor: a child process keeps unmapping and
 *       re-mapping populated hugepages (the CPU and memory load of the
 *       recycle thread, on this 2-vCPU machine, with nothing to wait for);
 *     while recycling: a client A allocated the other half and disconnected
 *       just before (t0 = just before contig_disconnect(A)), which hands all
 *       its frames to the recycle thread at once.
 *   After each round B frees its buffers and waits, untimed, for the pool
 *   to be full again. No one else allocates or frees meanwhile, so free
 *   bytes only grow between two stats replies and nframes_recycling > 0
 *   after a call means recycling was under way during all of it; the
 *   stats before a call (the previous reply) say whether a clean frame was
 *   free for it. That is the proof by counters: a request is only parked
 *   when no free range fits it, and a 2 MiB request with no constraint
 *   fits any free frame. Timing checks it: of the allocations made while
 *   recycling with a clean frame free, those that failed or took longer
 *   than both 4x the idle rounds' p99 and the slowest call of the
 *   competitor rounds ("much longer" than normal, beyond what CPU
 *   contention alone did in this run; this VM has ms hiccups) are slow; a
 *   slow one "waited for recycling" unless its page (read from pagemap) is
 *   a clean one, not among the pages client A freed: a request that waits
 *   finds no free frame, so it gets the first frame recycled, which comes
 *   back on A's page (nrecycle_moved says if one did not). Target: 0
 *   waited. A wait for a single frame (~0.15 ms) would hide in the noise
 *   of this 2-vCPU machine; the counters are what excludes it. The
 *   target is the daemon's own count, StatsReply.nrequests_waited (a
 *   request put aside until a recycled frame came back), over the rounds
 *   while recycling; the timing above is shown beside it.
 *   Rate, from the counters, not timing alone: recycling is over when
 *   nrecycled has grown by A's frames, nframes_recycling is 0 and free
 *   bytes are full but for B's; frames/s = frames / (first stats reply
 *   showing it - t0). Measured while B allocates (B's stats after each
 *   call count, then a poll every 1 ms) and with B only polling.
 *   nrecycle_moved (frames back on another page), nframes_lost and the
 *   largest segment before and after are reported.
 *   Baseline for the rate (no target): one thread, as many hugepages each
 *   mapped on its own; timed, each in turn unmapped and a new one mapped
 *   populated: the kernel's free-and-zero cost for distinct pages.
 *
 * Prints a table per section and writes the targeted figures (and the
 * untargeted rates) with bench_summary(). Environment: BENCH_STARTUP_SIZES
 * (comma separated, K/M/G suffixes; default "1G,4G"), BENCH_REPS (default
 * 5), BENCH_RECYCLE_SIZE (default 1G), BENCH_QUICK=1 (256M,512M, 2 reps,
 * 256M recycle pool), BENCH_ONLY_RECYCLING=1 (section 6 alone). Needs root
 * (pagemap, nr_hugepages).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN (2 * MIB)
#define MAX_SIZES 8
#define MAX_REPS 15
#define MAX_THREADS 256
#define TARGET_STARTUP 1.2
#define SLOW_FACTOR 4.0 /* "much longer": slower than this x the idle p99 */
#define HUGEPAGE_SLACK 64 /* free beyond the need: others may take a few meanwhile */
#define COMPETITOR_PAGES 16

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define FREE_HUGEPAGES "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

/* ---- small helpers ---- */

static void size_name(uint64_t len, char *buf, size_t cap)
{
	if (len >= GIB && len % GIB == 0)
		snprintf(buf, cap, "%llu GiB", (unsigned long long)(len / GIB));
	else
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(len / MIB));
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G': case 'g': v *= GIB; end++; break;
	case 'M': case 'm': v *= MIB; end++; break;
	case 'K': case 'k': v *= KIB; end++; break;
	default: break;
	}
	if (end == s || (*end && *end != ',') || v == 0 || v % FRAME_LEN)
		bench_die("bad size '%s': a multiple of 2M, e.g. 512M or 4G", s);
	return v;
}

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *s = getenv(name);
	int v;

	if (!s || !*s)
		return def;
	v = atoi(s);
	if (v < lo || v > hi)
		bench_die("%s=%s: must be %d..%d", name, s, lo, hi);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_REPS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The first three fields of /proc/loadavg, for the record: others' load
 * on this machine shows in every figure. */
static void print_loadavg(const char *when)
{
	char buf[64] = "";
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	char *p = buf;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (int spaces = 0; *p && spaces < 3; p++)
		spaces += *p == ' ';
	if (p > buf)
		p[-1] = '\0';
	printf("load average %s: %s\n", when, buf);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- the kernel's hugepage pool ---- */

static uint64_t hugepages_added;
static pid_t main_pid;

static uint64_t read_count(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		bench_die("read %s: %s", path, n < 0 ? strerror(errno) : "empty");
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

static int write_count(const char *path, uint64_t value)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int len = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)value);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len)
		r = -errno;
	close(fd);
	return r;
}

/* Give back what hugepages_ensure_free() added; the daemon goes first. */
static void hugepages_restore(void)
{
	uint64_t nr;

	if (getpid() != main_pid || !hugepages_added)
		return;
	bench_daemon_stop();
	nr = read_count(NR_HUGEPAGES);
	if (write_count(NR_HUGEPAGES, nr > hugepages_added ? nr - hugepages_added : 0) < 0)
		fprintf(stderr, "bench_startup: could not lower %s by %llu\n", NR_HUGEPAGES,
			(unsigned long long)hugepages_added);
	else
		printf("nr_hugepages: lowered by the %llu this bench added (%llu -> %llu)\n",
		       (unsigned long long)hugepages_added, (unsigned long long)nr,
		       (unsigned long long)read_count(NR_HUGEPAGES));
	hugepages_added = 0;
}

static void on_signal(int sig)
{
	/* Not async-signal-safe, but a bench interrupted by hand must still
	 * stop its daemon and give the hugepages back. */
	exit(128 + sig);
}

/* Make the kernel hold at least @npages free 2 MiB hugepages (and a little
 * slack, left untouched: the LIFO free list hands out the warmed ones). */
static void hugepages_ensure_free(uint64_t npages)
{
	uint64_t nfree = read_count(FREE_HUGEPAGES), nr = read_count(NR_HUGEPAGES), got;
	int r;

	if (nfree >= npages + HUGEPAGE_SLACK)
		return;
	r = write_count(NR_HUGEPAGES, nr + (npages + HUGEPAGE_SLACK - nfree));
	if (r < 0)
		bench_die("write %s: %s (run as root)", NR_HUGEPAGES, strerror(-r));
	got = read_count(NR_HUGEPAGES);
	hugepages_added += got > nr ? got - nr : 0;
	printf("nr_hugepages: %llu -> %llu (%llu free needed, +%d slack)\n",
	       (unsigned long long)nr, (unsigned long long)got, (unsigned long long)npages,
	       HUGEPAGE_SLACK);
	if (read_count(FREE_HUGEPAGES) < npages)
		bench_die("the kernel gave only %llu free hugepages of the %llu needed: "
			  "echo 1 > /proc/sys/vm/compact_memory, or set BENCH_STARTUP_SIZES lower",
			  (unsigned long long)read_count(FREE_HUGEPAGES),
			  (unsigned long long)npages);
}

/* ---- raw baselines ---- */

/* One faulting worker's share: @len bytes, on @cpu. */
struct raw_worker {
	pthread_t tid;
	pid_t pid;
	int cpu;
	uint64_t len;
	void *virt;
	int err;
};

/* Split @len into whole pages over one worker per allowed CPU. Returns
 * how many workers. */
static int raw_split(uint64_t len, struct raw_worker *w)
{
	int cpus[MAX_THREADS], n = bench_cpus(cpus, MAX_THREADS);
	uint64_t npages = len / FRAME_LEN;

	if ((uint64_t)n > npages)
		n = (int)npages;
	for (int i = 0; i < n; i++)
		w[i] = (struct raw_worker){
			.cpu = cpus[i],
			.len = (npages / (uint64_t)n + ((uint64_t)i < npages % (uint64_t)n)) *
			       FRAME_LEN,
		};
	return n;
}

static void *raw_fault(void *arg)
{
	struct raw_worker *w = arg;

	bench_pin_self(w->cpu);
	w->virt = mmap(NULL, w->len, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_SHARED | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	w->err = w->virt == MAP_FAILED ? errno : 0;
	return NULL;
}

/* MAP_POPULATE reports no failure: does pagemap show every hugepage of
 * [virt, virt + len) present? */
static bool mapping_present(const void *virt, uint64_t len)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool present = fd >= 0;

	for (uint64_t off = 0; present && off < len; off += FRAME_LEN) {
		uintptr_t v = (uintptr_t)virt + off;
		uint64_t entry = 0;

		present = pread(fd, &entry, sizeof(entry), (off_t)(v / 4096 * 8)) == 8 &&
			  entry >> 63;
	}
	if (fd >= 0)
		close(fd);
	return present;
}

/* Seconds to map and fault @len bytes of 2 MiB hugepages with one thread
 * per allowed CPU in this process; checked and unmapped afterwards
 * (untimed). mmap(MAP_POPULATE) faults the range while holding the mmap
 * lock for reading, and a thread's mmap() takes it for writing, so these
 * threads often fault one after the other: kept for comparison only. */
static double raw_reserve_threads(uint64_t len)
{
	static struct raw_worker w[MAX_THREADS];
	int n = raw_split(len, w);
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (int i = 0; i < n; i++)
		if (pthread_create(&w[i].tid, NULL, raw_fault, &w[i]) != 0)
			bench_die("pthread_create failed");
	for (int i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	t1 = bench_now_ns();
	for (int i = 0; i < n; i++) {
		if (w[i].err)
			bench_die("raw mmap of %llu MiB of hugepages: %s",
				  (unsigned long long)(w[i].len / MIB), strerror(w[i].err));
		if (!mapping_present(w[i].virt, w[i].len))
			bench_die("raw: MAP_POPULATE left a hugepage not present");
		munmap(w[i].virt, w[i].len);
	}
	return (t1 - t0) / 1e9;
}

/* A forked worker: fault its share, say so on @done_fd ('D', or 'E' on
 * failure), wait for EOF on @go_fd (the parent has its time), then check
 * and unmap. Returns the exit status. */
static int raw_child(struct raw_worker *w, int done_fd, int go_fd)
{
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	raw_fault(w);
	c = w->err ? 'E' : 'D';
	if (write(done_fd, &c, 1) != 1)
		return 1;
	while (read(go_fd, &c, 1) > 0)
		;
	if (w->err || !mapping_present(w->virt, w->len))
		return 1;
	munmap(w->virt, w->len);
	return 0;
}

/* Seconds to map and fault @len bytes of 2 MiB hugepages with one process
 * per allowed CPU (each its own mm: every core faults at once), from
 * before the first fork() to the last worker's "done"; checked and
 * unmapped afterwards (untimed). */
static double raw_reserve(uint64_t len)
{
	static struct raw_worker w[MAX_THREADS];
	int n = raw_split(len, w), done[2], go[2];
	bool failed = false;
	uint64_t t0, t1;

	if (pipe2(done, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	t0 = bench_now_ns();
	for (int i = 0; i < n; i++) {
		w[i].pid = fork();
		if (w[i].pid < 0)
			bench_die("fork: %s", strerror(errno));
		if (w[i].pid == 0) {
			close(done[0]);
			close(go[1]);
			_exit(raw_child(&w[i], done[1], go[0]));
		}
	}
	close(done[1]);
	close(go[0]);
	for (int i = 0; i < n; i++) {
		char c = 'E';

		if (read(done[0], &c, 1) != 1 || c != 'D')
			failed = true;
	}
	t1 = bench_now_ns();
	close(go[1]);
	close(done[0]);
	for (int i = 0; i < n; i++) {
		int status;

		if (waitpid(w[i].pid, &status, 0) != w[i].pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed = true;
	}
	if (failed)
		bench_die("raw: a worker could not map or fault its %llu MiB of hugepages",
			  (unsigned long long)(w[0].len / MIB));
	return (t1 - t0) / 1e9;
}

static void *map_hugepage(void)
{
	void *p = mmap(NULL, FRAME_LEN, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_SHARED | MAP_HUGETLB | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		bench_die("raw mmap of one hugepage: %s", strerror(errno));
	return p;
}

/* Frames per second one thread frees and re-faults, as the recycle thread
 * does, but without files, pagemap or a daemon: @n hugepages each mapped on
 * their own; then, timed, each in turn is unmapped (freed) and a new one
 * mapped populated (the kernel hands the same page back, zeroed). */
static double raw_refault_rate(uint32_t n)
{
	void **pages = calloc(n, sizeof(*pages));
	uint64_t t0;
	double rate;

	if (!pages)
		bench_die("out of memory");
	for (uint32_t i = 0; i < n; i++)
		pages[i] = map_hugepage();
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < n; i++) {
		munmap(pages[i], FRAME_LEN);
		pages[i] = map_hugepage();
	}
	rate = n / ((bench_now_ns() - t0) / 1e9);
	for (uint32_t i = 0; i < n; i++)
		munmap(pages[i], FRAME_LEN);
	free(pages);
	return rate;
}

/* A process of ours that keeps freeing and re-faulting hugepages: the CPU
 * and memory load of the recycle thread, with nothing to wait for. A
 * process, not a thread: a thread would share this process's mmap lock
 * with the mappings libcontig makes for each allocation. */
struct competitor {
	pid_t pid;
	int ctl_fd;    /* closed to stop it */
	int result_fd; /* it writes how many pages it re-faulted */
};

static int compete(int ctl_fd, int result_fd)
{
	void *pages[COMPETITOR_PAGES];
	uint64_t n = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int i = 0; i < COMPETITOR_PAGES; i++)
		pages[i] = map_hugepage();
	for (;; n++) {
		struct pollfd p = { .fd = ctl_fd, .events = POLLIN };
		int i = (int)(n % COMPETITOR_PAGES);

		if (poll(&p, 1, 0) != 0)
			break;
		munmap(pages[i], FRAME_LEN);
		pages[i] = map_hugepage();
	}
	for (int i = 0; i < COMPETITOR_PAGES; i++)
		munmap(pages[i], FRAME_LEN);
	return write(result_fd, &n, sizeof(n)) == sizeof(n) ? 0 : 1;
}

static void competitor_start(struct competitor *cp)
{
	int ctl[2], result[2];

	if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	cp->pid = fork();
	if (cp->pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (cp->pid == 0) {
		close(ctl[1]);
		close(result[0]);
		_exit(compete(ctl[0], result[1]));
	}
	close(ctl[0]);
	close(result[1]);
	cp->ctl_fd = ctl[1];
	cp->result_fd = result[0];
}

/* Stop it; returns how many hugepages it re-faulted. */
static uint64_t competitor_stop(struct competitor *cp)
{
	uint64_t n = 0;
	int status;

	close(cp->ctl_fd);
	if (read(cp->result_fd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	close(cp->result_fd);
	if (waitpid(cp->pid, &status, 0) != cp->pid || !WIFEXITED(status) || WEXITSTATUS(status))
		bench_die("the competitor process failed");
	return n;
}

/* ---- talking to the daemon ---- */

static struct contig_stats *stats_new(void)
{
	struct contig_stats *st = malloc(sizeof(*st));

	if (!st)
		bench_die("out of memory");
	return st;
}

static void stats_get(struct contig_client *c, struct contig_stats *st)
{
	int r = contig_get_stats(c, st);

	if (r < 0 || st->npools < 1)
		bench_die("contig_get_stats: %s", r < 0 ? contig_last_message() : "no pool");
}

static struct contig_client *client_connect(void)
{
	struct contig_client *c;
	int r = contig_connect(bench_daemon.sock, &c);

	if (r < 0)
		bench_die("contig_connect %s: %s", bench_daemon.sock, strerror(-r));
	return c;
}

static void *alloc_frame(struct contig_client *c, struct contig_buffer *ret_buf)
{
	struct contig_alloc_req req;
	int r;

	contig_alloc_req_init(&req, FRAME_LEN);
	r = contig_alloc(c, &req, ret_buf);
	if (r < 0)
		bench_die("contig_alloc(2 MiB): %s", contig_last_message());
	return ret_buf->virt;
}

/* ---- 8. contiguity from the client's side ---- */

struct sorted_check {
	uint32_t nframes;
	uint32_t nruns;          /* runs of physically adjacent frames */
	uint64_t largest_run;    /* bytes */
	uint32_t nphys_mismatch; /* daemon's phys != pagemap's */
	uint32_t nduplicates;    /* two buffers on one page: a bug */
};

static uint64_t pagemap_phys(int fd, const void *virt)
{
	uint64_t entry = 0;

	/* Fault the mapping in, in case it is not yet (a read, no write). */
	(void)*(const volatile char *)virt;
	if (pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)virt / 4096 * 8)) != 8)
		bench_die("pread /proc/self/pagemap: %s", strerror(errno));
	if (!(entry >> 63) || !(entry & ((UINT64_C(1) << 55) - 1)))
		bench_die("pagemap shows no page frame (not root? no CAP_SYS_ADMIN?)");
	return (entry & ((UINT64_C(1) << 55) - 1)) * 4096 + (uintptr_t)virt % 4096;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Allocate all @nframes frames of pool 0 as 2 MiB buffers, locate each
 * through pagemap, sort, and measure runs. The buffers stay live. */
static void check_contiguity(struct contig_client *c, uint32_t nframes, struct sorted_check *ret)
{
	uint64_t *phys = calloc(nframes, sizeof(*phys));
	struct sorted_check res = { .nframes = nframes };
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t run = 0;

	if (!phys)
		bench_die("out of memory");
	if (fd < 0)
		bench_die("open /proc/self/pagemap: %s", strerror(errno));
	for (uint32_t i = 0; i < nframes; i++) {
		struct contig_buffer b;

		alloc_frame(c, &b);
		phys[i] = pagemap_phys(fd, b.virt);
		if (phys[i] != b.phys)
			res.nphys_mismatch++;
	}
	close(fd);
	qsort(phys, nframes, sizeof(*phys), cmp_u64);
	for (uint32_t i = 0; i < nframes; i++) {
		if (i > 0 && phys[i] == phys[i - 1]) {
			res.nduplicates++;
			continue;
		}
		if (i == 0 || phys[i] != phys[i - 1] + FRAME_LEN) {
			res.nruns++;
			run = 0;
		}
		run += FRAME_LEN;
		if (run > res.largest_run)
			res.largest_run = run;
	}
	free(phys);
	*ret = res;
}

/* ---- 5 + 8: one daemon start ---- */

struct daemon_run {
	double ready_s;
	struct contig_pool_stats pool; /* at READY */
	uint64_t kfree_before, kfree_after; /* kernel's free hugepages */
	bool all_in;
	struct sorted_check check;
};

/* reserve=sorted: sections 5 and 8 measure reserving and sorting the pages
 * the kernel gives, against raw faulting and sorting of the same pages;
 * what choosing among more candidates costs and gives (the default) is
 * section 11's, bench_reserve. */
static void pool_arg(uint64_t len, char *buf, size_t cap)
{
	snprintf(buf, cap, "0:2M:%lluM,reserve=sorted", (unsigned long long)(len / MIB));
}

static void daemon_run(uint64_t len, struct daemon_run *ret)
{
	struct contig_stats *st = stats_new();
	struct contig_client *c;
	struct contig_pool_stats *p;
	char pool[48];

	pool_arg(len, pool, sizeof(pool));
	ret->kfree_before = read_count(FREE_HUGEPAGES);
	bench_daemon_start(pool, NULL);
	ret->ready_s = bench_daemon.ready_s;
	ret->kfree_after = read_count(FREE_HUGEPAGES);
	c = client_connect();
	stats_get(c, st);
	p = &st->pools[0];
	ret->pool = *p;
	ret->all_in = p->total_len == len && p->free_len == len &&
		      p->nframes == len / FRAME_LEN && p->nframes_recycling == 0 &&
		      p->nframes_owned == 0;
	check_contiguity(c, p->nframes, &ret->check);
	/* Stop first: the daemon truncates every frame (our mappings are
	 * revoked, never touched again), then we unmap what is left. */
	bench_daemon_stop();
	contig_disconnect(c);
	free(st);
}

/* Median seconds to READY=1 of contigd with a one-frame pool: what a start
 * costs besides the frames (exec, configuration, mount, socket). */
static double daemon_fixed_s(int nreps)
{
	double ready[MAX_REPS];
	char pool[48];

	pool_arg(FRAME_LEN, pool, sizeof(pool));
	for (int r = 0; r < nreps; r++) {
		bench_daemon_start(pool, NULL);
		ready[r] = bench_daemon.ready_s;
		bench_daemon_stop();
	}
	return median(ready, nreps);
}

struct size_result {
	uint64_t len;
	int nreps;
	double raw_s[MAX_REPS];     /* one process per CPU: the target's baseline */
	double raw_thr_s[MAX_REPS]; /* one thread per CPU, one process */
	struct daemon_run runs[MAX_REPS];
};

static void run_startup(struct size_result *res)
{
	char name[32];

	size_name(res->len, name, sizeof(name));
	for (int r = 0; r < res->nreps; r++) {
		bool raw_first = r % 2 == 0;

		if (raw_first) {
			res->raw_s[r] = raw_reserve(res->len);
			res->raw_thr_s[r] = raw_reserve_threads(res->len);
		}
		daemon_run(res->len, &res->runs[r]);
		if (!raw_first) {
			res->raw_thr_s[r] = raw_reserve_threads(res->len);
			res->raw_s[r] = raw_reserve(res->len);
		}
		printf("%-8s run %d (%s first): raw %.3f s (threads %.3f s), contigd READY %.3f s, "
		       "%u segments, largest %llu MiB\n",
		       name, r + 1, raw_first ? "raw" : "contigd", res->raw_s[r], res->raw_thr_s[r],
		       res->runs[r].ready_s, res->runs[r].pool.nsegments,
		       (unsigned long long)(res->runs[r].pool.largest_segment_len / MIB));
	}
}

static void report_startup(const struct size_result *res, int nsizes, double fixed_s)
{
	char notes[2048] = "";
	size_t nn = 0;

	printf("\n5. Startup: fork -> READY=1 of contigd --pool 0:2M:<size> against raw "
	       "mmap(MAP_ANONYMOUS|MAP_SHARED|\n   MAP_HUGETLB|MAP_POPULATE) of the same bytes on "
	       "one pinned process per CPU (%d), and for\n   comparison on one pinned thread per "
	       "CPU in one process; median of %d runs per size, order\n   alternating, after one "
	       "untimed raw warm-up of the largest size (guest first touch paid there)\n\n",
	       bench_ncpus(), res[0].nreps);
	printf("%-8s %8s %10s %8s  %-12s %10s %8s  %-26s %s\n", "size", "raw_s", "contigd_s",
	       "ratio", "target", "raw_thr_s", "ratio", "frames in at READY (stats)",
	       "kernel free hugepages");
	for (int s = 0; s < nsizes; s++) {
		const struct size_result *r = &res[s];
		double ready[MAX_REPS], raw = median(r->raw_s, r->nreps);
		double raw_thr = median(r->raw_thr_s, r->nreps), contigd, ratio;
		uint64_t nframes = r->len / FRAME_LEN;
		char name[32], in[96], kern[96], value[64], base[96], what[128];
		bool all_in = true, met;
		int worst = 0;

		for (int i = 0; i < r->nreps; i++) {
			ready[i] = r->runs[i].ready_s;
			all_in = all_in && r->runs[i].all_in;
			if (r->runs[i].pool.free_len < r->runs[worst].pool.free_len)
				worst = i;
		}
		contigd = median(ready, r->nreps);
		ratio = contigd / raw;
		met = ratio <= TARGET_STARTUP;
		size_name(r->len, name, sizeof(name));
		snprintf(in, sizeof(in), "%s %llu/%llu MiB free", all_in ? "yes:" : "NO:",
			 (unsigned long long)(r->runs[worst].pool.free_len / MIB),
			 (unsigned long long)(r->len / MIB));
		snprintf(kern, sizeof(kern), "%llu -> %llu (run 1)",
			 (unsigned long long)r->runs[0].kfree_before,
			 (unsigned long long)r->runs[0].kfree_after);
		printf("%-8s %8.3f %10.3f %7.2fx  <= %.1fx %-4s %10.3f %7.2fx  %-26s %s\n", name,
		       raw, contigd, ratio, TARGET_STARTUP, met ? "met" : "NOT", raw_thr,
		       contigd / raw_thr, in, kern);
		if (nn < sizeof(notes))
			nn += (size_t)snprintf(notes + nn, sizeof(notes) - nn,
					       "  %s: contigd %.1f us per frame beyond the one-frame "
					       "start; raw %.1f us per page (wall time)\n",
					       name, (contigd - fixed_s) * 1e6 / (double)nframes,
					       raw * 1e6 / (double)nframes);

		snprintf(what, sizeof(what), "reserve %s: fork to READY=1 (median of %d)", name,
			 r->nreps);
		snprintf(value, sizeof(value), "%.3f s", contigd);
		snprintf(base, sizeof(base), "%.3f s raw MAP_POPULATE, %d processes", raw,
			 bench_ncpus());
		bench_summary("5 startup", what, value, base, ratio, "<= 1.2x", met);
		snprintf(what, sizeof(what), "reserve %s: every frame in at READY", name);
		snprintf(value, sizeof(value), "%llu of %llu MiB free",
			 (unsigned long long)(r->runs[worst].pool.free_len / MIB),
			 (unsigned long long)(r->len / MIB));
		bench_summary("5 startup", what, value, "-", 0, "free == configured", all_in);
	}
	printf("ratio = contigd_s / raw_s (the target); raw_thr_s: threads of one process, whose "
	       "MAP_POPULATE\n  faults under the shared mmap lock, so they often fault one after "
	       "the other (not a target)\n");
	printf("contigd with a one-frame pool (exec, configuration, mount, socket): %.3f s "
	       "(median of %d)\n%s",
	       fixed_s, res[0].nreps, notes);
}

static void report_contiguity(const struct size_result *res, int nsizes)
{
	printf("\n8. Contiguity: contigd's segments at READY (stats) against every frame "
	       "allocated as a 2 MiB buffer,\n   located through /proc/self/pagemap and sorted "
	       "by the bench (same pages, same run)\n\n");
	printf("%-8s %3s %6s %8s %12s %12s %8s %12s %8s %9s  %s\n", "size", "run", "frames",
	       "segments", "largest_MiB", "lgst_free", "runs", "sorted_MiB", "ratio",
	       "phys_bad", "target");
	for (int s = 0; s < nsizes; s++) {
		const struct size_result *r = &res[s];
		double worst_ratio = 0;
		bool met = true;
		int worst = 0;
		char name[32], what[128], value[96], base[96];

		size_name(r->len, name, sizeof(name));
		for (int i = 0; i < r->nreps; i++) {
			const struct daemon_run *d = &r->runs[i];
			double ratio = (double)d->pool.largest_segment_len /
				       (double)d->check.largest_run;
			bool ok = d->pool.largest_segment_len == d->check.largest_run &&
				  d->pool.largest_free_len == d->check.largest_run &&
				  d->pool.nsegments == d->check.nruns && !d->check.nduplicates;

			met = met && ok;
			if (i == 0 || ratio < worst_ratio) {
				worst_ratio = ratio;
				worst = i;
			}
			printf("%-8s %3d %6u %8u %12llu %12llu %8u %12llu %7.3fx %9u  no loss %s\n",
			       name, i + 1, d->check.nframes, d->pool.nsegments,
			       (unsigned long long)(d->pool.largest_segment_len / MIB),
			       (unsigned long long)(d->pool.largest_free_len / MIB),
			       d->check.nruns, (unsigned long long)(d->check.largest_run / MIB),
			       ratio, d->check.nphys_mismatch, ok ? "met" : "NOT met");
			if (d->check.nduplicates)
				printf("         %u buffers share a physical page with another!\n",
				       d->check.nduplicates);
		}
		for (int i = 1; i < r->nreps; i++)
			if (r->runs[i].check.nruns != r->runs[0].check.nruns) {
				printf("         note: the %s runs got different pages (another "
				       "program took or freed hugepages meanwhile)\n", name);
				break;
			}
		snprintf(what, sizeof(what), "largest segment from %s (worst of %d)", name,
			 r->nreps);
		snprintf(value, sizeof(value), "%llu MiB, %u segments",
			 (unsigned long long)(r->runs[worst].pool.largest_segment_len / MIB),
			 r->runs[worst].pool.nsegments);
		snprintf(base, sizeof(base), "%llu MiB, %u runs sorted",
			 (unsigned long long)(r->runs[worst].check.largest_run / MIB),
			 r->runs[worst].check.nruns);
		bench_summary("8 contiguity", what, value, base, worst_ratio, "no loss", met);
	}
	printf("segments/largest_MiB/lgst_free: the daemon's stats at READY; runs/sorted_MiB: "
	       "pagemap, sorted by the bench;\nphys_bad: buffers whose phys from the daemon "
	       "differs from pagemap\n");
}

/* ---- 6. recycling ---- */

struct recycle_watch {
	uint64_t t0_ns, done_ns;
	uint64_t nrecycled0, nmoved0, nlost0;
	uint32_t nfreed;
	uint64_t moved, lost;
};

/* Feed one stats reply (received at @now): is the recycling over? */
static void watch_update(struct recycle_watch *w, const struct contig_stats *st, uint64_t now)
{
	const struct contig_pool_stats *p = &st->pools[0];

	if (w->done_ns || st->nrecycled - w->nrecycled0 < w->nfreed || p->nframes_recycling)
		return;
	if (p->free_len + st->my_len != p->total_len)
		return;
	w->done_ns = now;
	w->moved = st->nrecycle_moved - w->nmoved0;
	w->lost = st->nframes_lost - w->nlost0;
}

/* Poll (1 ms) until @w is done; dies after 20 s. */
static void watch_finish(struct contig_client *c, struct contig_stats *st, struct recycle_watch *w)
{
	for (int i = 0; !w->done_ns; i++) {
		if (i == 20000)
			bench_die("recycling of %u frames not done after 20 s", w->nfreed);
		stats_get(c, st);
		watch_update(w, st, bench_now_ns());
		if (!w->done_ns)
			sleep_ms(1);
	}
}

static double watch_rate(const struct recycle_watch *w)
{
	return w->nfreed / ((w->done_ns - w->t0_ns) / 1e9);
}

/* A second client takes @n frames and disconnects: all @n go to the
 * recycle thread at once. Returns the watch, started just before. */
/* The pages a victim client held, from pagemap, sorted. */
struct victim_set {
	int pagemap_fd;
	uint64_t *phys;
	uint32_t n;
};

static bool victim_has(const struct victim_set *vs, uint64_t phys)
{
	return bsearch(&phys, vs->phys, vs->n, sizeof(*vs->phys), cmp_u64) != NULL;
}

static void victim_free(struct contig_client *c, struct contig_stats *st, uint32_t n,
			struct victim_set *vs, struct recycle_watch *ret)
{
	struct contig_client *a = client_connect();
	struct contig_buffer b;

	for (uint32_t i = 0; i < n; i++)
		vs->phys[i] = pagemap_phys(vs->pagemap_fd, alloc_frame(a, &b));
	vs->n = n;
	qsort(vs->phys, n, sizeof(*vs->phys), cmp_u64);
	stats_get(c, st);
	*ret = (struct recycle_watch){
		.nrecycled0 = st->nrecycled,
		.nmoved0 = st->nrecycle_moved,
		.nlost0 = st->nframes_lost,
		.nfreed = n,
	};
	ret->t0_ns = bench_now_ns();
	contig_disconnect(a);
}

#define ALLOC_FAILED 1u
#define ALLOC_DURING 2u   /* frames were recycling and clean ones were free */
#define ALLOC_NO_CLEAN 4u /* the stats before it showed no clean frame free */
#define ALLOC_RECYCLED 8u /* got a page the victim had: a frame just recycled */

struct alloc_round {
	uint64_t *ns;    /* per allocation */
	uint8_t *flags;  /* per allocation: ALLOC_* */
	void **virt;
	uint32_t n;
};

/* B allocates @n 2 MiB buffers, each call timed alone, stats after each
 * (fed to @w if not NULL), and records what the stats said around it and,
 * given @vs, whether the buffer's page is one the victim freed. */
static void alloc_round(struct contig_client *c, struct contig_stats *st, uint32_t n,
			struct recycle_watch *w, const struct victim_set *vs,
			struct alloc_round *rd)
{
	struct contig_alloc_req req;
	uint64_t free_before;

	contig_alloc_req_init(&req, FRAME_LEN);
	stats_get(c, st);
	if (w)
		watch_update(w, st, bench_now_ns());
	free_before = st->pools[0].free_len;
	rd->n = n;
	for (uint32_t i = 0; i < n; i++) {
		struct contig_buffer b;
		uint64_t t0 = bench_now_ns();
		int r = contig_alloc(c, &req, &b);

		rd->ns[i] = bench_now_ns() - t0;
		rd->virt[i] = r < 0 ? NULL : b.virt;
		/* Only this client allocates and nothing else is freed, so
		 * free bytes only grow between two stats replies, and
		 * nframes_recycling > 0 after the call means during it too. */
		stats_get(c, st);
		if (w)
			watch_update(w, st, bench_now_ns());
		rd->flags[i] = r < 0 ? ALLOC_FAILED : 0;
		if (free_before < FRAME_LEN)
			rd->flags[i] |= ALLOC_NO_CLEAN;
		else if (st->pools[0].nframes_recycling > 0)
			rd->flags[i] |= ALLOC_DURING;
		if (vs && r == 0 && victim_has(vs, pagemap_phys(vs->pagemap_fd, b.virt)))
			rd->flags[i] |= ALLOC_RECYCLED;
		free_before = st->pools[0].free_len;
	}
}

struct wait_count {
	uint32_t nallocs, nfailed, nno_clean, nrecycled;
	uint32_t nabove_p99; /* > idle p99 */
	uint32_t nduring;    /* made while recycling, with a clean frame free */
	uint32_t nslow;      /* of those, failed or slower than the threshold */
	uint32_t nwaited;    /* of those, failed or on a frame just recycled */
};

static void count_waits(const struct alloc_round *rd, int nrounds, uint64_t p99_ns,
			uint64_t threshold_ns, struct wait_count *cnt)
{
	for (int r = 0; r < nrounds; r++)
		for (uint32_t i = 0; i < rd[r].n; i++) {
			uint8_t f = rd[r].flags[i];
			bool slow = (f & ALLOC_FAILED) || rd[r].ns[i] > threshold_ns;

			cnt->nallocs++;
			cnt->nfailed += !!(f & ALLOC_FAILED);
			cnt->nno_clean += !!(f & ALLOC_NO_CLEAN);
			cnt->nrecycled += !!(f & ALLOC_RECYCLED);
			cnt->nabove_p99 += rd[r].ns[i] > p99_ns;
			if (f & ALLOC_DURING) {
				cnt->nduring++;
				cnt->nslow += slow;
				/* A request that waited found no free frame, so
				 * it got the first one recycled: a slow one on a
				 * clean page was slow for another reason. */
				cnt->nwaited += (f & ALLOC_FAILED) ||
						(slow && (f & ALLOC_RECYCLED));
			}
		}
}

/* Free B's buffers and wait (untimed) until the pool is full again. */
static void free_round(struct contig_client *c, struct contig_stats *st, struct alloc_round *rd)
{
	for (uint32_t i = 0; i < rd->n; i++)
		if (rd->virt[i] && contig_free(c, rd->virt[i]) < 0)
			bench_die("contig_free: %s", contig_last_message());
	for (int i = 0;; i++) {
		stats_get(c, st);
		if (!st->pools[0].nframes_recycling && st->pools[0].free_len == st->pools[0].total_len)
			break;
		if (i == 20000)
			bench_die("pool not full again after 20 s");
		sleep_ms(1);
	}
}

static void rounds_new(struct alloc_round *rd, int nrounds, uint32_t n)
{
	uint64_t *ns = calloc((size_t)n * (size_t)nrounds, sizeof(*ns));

	if (!ns)
		bench_die("out of memory");
	for (int r = 0; r < nrounds; r++) {
		rd[r] = (struct alloc_round){ .ns = ns + (size_t)r * n,
					      .flags = calloc(n, sizeof(uint8_t)),
					      .virt = calloc(n, sizeof(void *)) };
		if (!rd[r].flags || !rd[r].virt)
			bench_die("out of memory");
	}
}

static void rounds_free(struct alloc_round *rd, int nrounds)
{
	free(rd[0].ns);
	for (int r = 0; r < nrounds; r++) {
		free(rd[r].flags);
		free(rd[r].virt);
	}
}

/* Median and p99 of every allocation of @nrounds rounds (not reordered). */
static struct bench_result rounds_summarize(const struct alloc_round *rd, int nrounds)
{
	size_t n = (size_t)rd[0].n * (size_t)nrounds;
	uint64_t *copy = malloc(n * sizeof(*copy));
	struct bench_result res;

	if (!copy)
		bench_die("out of memory");
	memcpy(copy, rd[0].ns, n * sizeof(*copy));
	res = bench_summarize(copy, n);
	free(copy);
	return res;
}

static double rounds_max_us(const struct alloc_round *rd, int nrounds)
{
	uint64_t max = 0;

	for (int r = 0; r < nrounds; r++)
		for (uint32_t i = 0; i < rd[r].n; i++)
			if (rd[r].ns[i] > max)
				max = rd[r].ns[i];
	return max / 1000.0;
}

static void print_round_row(const char *what, const struct alloc_round *rd, int nrounds,
			    const struct wait_count *cnt, struct bench_result r,
			    struct bench_result idle)
{
	printf("%-24s %6u %6u %10.1f %10.1f %10.1f %9.2fx %9.2fx %10u\n", what, cnt->nallocs,
	       cnt->nfailed, r.median_us, r.p99_us, rounds_max_us(rd, nrounds),
	       r.median_us / idle.median_us, r.p99_us / idle.p99_us, cnt->nabove_p99);
}

static void run_recycling(uint64_t len, int nreps)
{
	struct contig_stats *st = stats_new();
	struct contig_client *c;
	struct alloc_round idle[MAX_REPS], load[MAX_REPS], busy[MAX_REPS];
	struct recycle_watch wbusy[MAX_REPS], wquiet[MAX_REPS];
	struct wait_count cidle = { 0 }, cload = { 0 }, cbusy = { 0 };
	struct victim_set vs;
	struct competitor cp;
	double rate_busy[MAX_REPS], rate_quiet[MAX_REPS], raw_rate;
	struct bench_result ri, rl, rb;
	uint64_t largest0, moved_busy = 0, moved = 0, lost = 0, ncompeted = 0;
	uint64_t threshold_ns, p99_ns, parked0, parked = 0;
	uint32_t half;
	char pool[48], name[32], what[128], value[96], base[160];

	pool_arg(len, pool, sizeof(pool));
	size_name(len, name, sizeof(name));
	bench_daemon_start(pool, NULL);
	c = client_connect();
	stats_get(c, st);
	half = st->pools[0].nframes / 2;
	largest0 = st->pools[0].largest_segment_len;
	raw_rate = raw_refault_rate(half);
	rounds_new(idle, nreps, half);
	rounds_new(load, nreps, half);
	rounds_new(busy, nreps, half);
	vs = (struct victim_set){ .pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC),
				  .phys = calloc(half, sizeof(uint64_t)) };
	if (vs.pagemap_fd < 0 || !vs.phys)
		bench_die("open /proc/self/pagemap: %s", strerror(errno));

	/* The three kinds of round alternate: the same drift in each. */
	for (int r = 0; r < nreps; r++) {
		alloc_round(c, st, half, NULL, NULL, &idle[r]);
		free_round(c, st, &idle[r]);

		competitor_start(&cp);
		alloc_round(c, st, half, NULL, NULL, &load[r]);
		ncompeted += competitor_stop(&cp);
		free_round(c, st, &load[r]);

		victim_free(c, st, half, &vs, &wbusy[r]);
		parked0 = st->nrequests_waited;
		alloc_round(c, st, half, &wbusy[r], &vs, &busy[r]);
		stats_get(c, st);
		parked += st->nrequests_waited - parked0;
		watch_finish(c, st, &wbusy[r]);
		rate_busy[r] = watch_rate(&wbusy[r]);
		moved_busy += wbusy[r].moved;
		free_round(c, st, &busy[r]);
	}
	/* Recycling alone: B only polls. */
	for (int r = 0; r < nreps; r++) {
		victim_free(c, st, half, &vs, &wquiet[r]);
		watch_finish(c, st, &wquiet[r]);
		rate_quiet[r] = watch_rate(&wquiet[r]);
	}
	stats_get(c, st);
	for (int r = 0; r < nreps; r++) {
		moved += wbusy[r].moved + wquiet[r].moved;
		lost += wbusy[r].lost + wquiet[r].lost;
	}
	ri = rounds_summarize(idle, nreps);
	rl = rounds_summarize(load, nreps);
	rb = rounds_summarize(busy, nreps);
	p99_ns = (uint64_t)(ri.p99_us * 1000);
	/* "Much longer than normal": past SLOW_FACTOR x the idle p99, and past
	 * the slowest call of the competitor rounds (CPU contention alone). */
	threshold_ns = (uint64_t)(ri.p99_us * 1000 * SLOW_FACTOR);
	if (rounds_max_us(load, nreps) * 1000 > threshold_ns)
		threshold_ns = (uint64_t)(rounds_max_us(load, nreps) * 1000);
	count_waits(idle, nreps, p99_ns, threshold_ns, &cidle);
	count_waits(load, nreps, p99_ns, threshold_ns, &cload);
	count_waits(busy, nreps, p99_ns, threshold_ns, &cbusy);

	printf("\n6. Recycling: --pool 0:2M:%s (%u frames). Per round this client allocates %u "
	       "2 MiB buffers,\n   each call timed, stats after each: idle (nothing recycling), "
	       "idle + CPU competitor (a bench\n   process re-faulting hugepages like the recycle "
	       "thread, nothing to wait for), and while\n   recycling (a second client took the "
	       "other %u frames and disconnected just before).\n   %d rounds of each, "
	       "interleaved.\n\n",
	       name, st->pools[0].nframes, half, half, nreps);
	printf("%-24s %6s %6s %10s %10s %10s %10s %10s %10s\n", "2 MiB allocations", "n",
	       "failed", "median_us", "p99_us", "max_us", "med_ratio", "p99_ratio", ">idle_p99");
	print_round_row("idle (baseline)", idle, nreps, &cidle, ri, ri);
	print_round_row("idle + CPU competitor", load, nreps, &cload, rl, ri);
	print_round_row("while recycling", busy, nreps, &cbusy, rb, ri);
	printf("\nwhile recycling (nframes_recycling > 0 in the stats after the call) with a clean "
	       "frame free\n  (free bytes >= 2 MiB in the stats before it): %u of %u allocations\n",
	       cbusy.nduring, cbusy.nallocs);
	printf("  failed or slower than %.1f us (%.0fx idle p99 or the competitor rounds' max, "
	       "the larger): %u\n",
	       threshold_ns / 1000.0, SLOW_FACTOR, cbusy.nslow);
	printf("  of those, on a page the second client had freed (a request that waits gets "
	       "the first\n  frame recycled; one on a clean page did not wait): %u\n",
	       cbusy.nwaited);
	printf("allocations that waited for recycling: %llu of %u by the daemon's counter "
	       "(nrequests_waited), %u by timing\n",
	       (unsigned long long)parked, cbusy.nallocs, cbusy.nwaited);
	printf("(all allocations served from a just-recycled frame, first fit taking it: %u of "
	       "%u)\n", cbusy.nrecycled, cbusy.nallocs);
	if (moved_busy)
		printf("note: %llu recycled frames came back on other pages: those count as "
		       "clean above\n", (unsigned long long)moved_busy);
	if (cbusy.nno_clean)
		printf("note: %u allocations found no clean frame free (not counted above)\n",
		       cbusy.nno_clean);
	printf("\n%-38s %8s %10s %12s\n", "recycling (counters: nrecycled)", "frames", "median_s",
	       "frames_per_s");
	printf("%-38s %8u %10.4f %12.0f\n", "while this client allocates", half,
	       half / median(rate_busy, nreps), median(rate_busy, nreps));
	printf("%-38s %8u %10.4f %12.0f\n", "this client only polling (1 ms)", half,
	       half / median(rate_quiet, nreps), median(rate_quiet, nreps));
	printf("%-38s %8u %10.4f %12.0f\n", "raw: 1 thread, munmap+mmap each page", half,
	       half / raw_rate, raw_rate);
	printf("frames back on another page (nrecycle_moved): %llu of %u; lost: %llu; "
	       "largest segment %llu MiB at start, %llu MiB after\n",
	       (unsigned long long)moved, 2 * half * (unsigned)nreps, (unsigned long long)lost,
	       (unsigned long long)(largest0 / MIB),
	       (unsigned long long)(st->pools[0].largest_segment_len / MIB));
	printf("competitor: %llu hugepages re-faulted during its rounds\n",
	       (unsigned long long)ncompeted);

	snprintf(what, sizeof(what), "allocs that waited for recycling (%s, daemon's counter)",
		 name);
	snprintf(value, sizeof(value), "%llu of %u", (unsigned long long)parked, cbusy.nallocs);
	snprintf(base, sizeof(base), "by timing: slow (> %.0f us: %.0fx idle p99 or competitor "
		 "max) %u, %u of them on freed pages", threshold_ns / 1000.0, SLOW_FACTOR,
		 cbusy.nslow, cbusy.nwaited);
	bench_summary("6 recycling", what, value, base, 0, "0", parked == 0 && cbusy.nallocs > 0);
	snprintf(what, sizeof(what), "2 MiB alloc while recycling: median (p99)");
	snprintf(value, sizeof(value), "%.1f us (%.1f)", rb.median_us, rb.p99_us);
	snprintf(base, sizeof(base), "%.1f us (%.1f) idle", ri.median_us, ri.p99_us);
	bench_summary("6 recycling", what, value, base, rb.median_us / ri.median_us, NULL, false);
	snprintf(what, sizeof(what), "frames recycled per second (client polling)");
	snprintf(value, sizeof(value), "%.0f /s", median(rate_quiet, nreps));
	snprintf(base, sizeof(base), "%.0f /s raw munmap+mmap", raw_rate);
	bench_summary("6 recycling", what, value, base, median(rate_quiet, nreps) / raw_rate,
		      NULL, false);

	close(vs.pagemap_fd);
	free(vs.phys);
	rounds_free(idle, nreps);
	rounds_free(load, nreps);
	rounds_free(busy, nreps);
	bench_daemon_stop();
	contig_disconnect(c);
	free(st);
}

/* ---- main ---- */

static int parse_sizes(const char *list, uint64_t *lens, int max)
{
	int n = 0;

	for (const char *s = list; *s && n < max;) {
		lens[n++] = parse_size(s);
		s = strchr(s, ',');
		if (!s)
			break;
		s++;
	}
	if (n == 0)
		bench_die("no sizes in '%s'", list);
	return n;
}

int main(void)
{
	static struct size_result res[MAX_SIZES];
	bool quick = getenv("BENCH_QUICK") && atoi(getenv("BENCH_QUICK"));
	bool only_recycling = getenv("BENCH_ONLY_RECYCLING") && atoi(getenv("BENCH_ONLY_RECYCLING"));
	const char *sizes = getenv("BENCH_STARTUP_SIZES");
	const char *recycle = getenv("BENCH_RECYCLE_SIZE");
	int nreps = env_int("BENCH_REPS", quick ? 2 : 5, 1, MAX_REPS);
	uint64_t lens[MAX_SIZES], largest = 0, recycle_len, need, t0 = bench_now_ns();
	int nsizes;
	double warm_s, fixed_s;
	char name[32];

	bench_init("bench_startup");
	main_pid = getpid();
	atexit(hugepages_restore);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (geteuid() != 0)
		bench_die("needs root (pagemap, nr_hugepages)");
	print_loadavg("at start");
	nsizes = parse_sizes(sizes && *sizes ? sizes : quick ? "256M,512M" : "1G,4G", lens,
			     MAX_SIZES);
	for (int s = 0; s < nsizes && !only_recycling; s++)
		if (lens[s] > largest)
			largest = lens[s];

	/* Section 6 holds its pool, plus half of it (the raw re-fault rate)
	 * or the competitor's pages, at once. */
	recycle_len = recycle && *recycle ? parse_size(recycle) : quick ? 256 * MIB : GIB;
	need = recycle_len / FRAME_LEN * 3 / 2 + COMPETITOR_PAGES;
	hugepages_ensure_free(largest / FRAME_LEN > need ? largest / FRAME_LEN : need);
	if (!only_recycling) {
		size_name(largest, name, sizeof(name));
		warm_s = raw_reserve(largest);
		printf("warm-up: raw %s, untimed for the results: %.3f s\n", name, warm_s);

		fixed_s = daemon_fixed_s(nreps);
		for (int s = 0; s < nsizes; s++) {
			res[s].len = lens[s];
			res[s].nreps = nreps;
			run_startup(&res[s]);
		}
		report_startup(res, nsizes, fixed_s);
		report_contiguity(res, nsizes);
	}

	run_recycling(recycle_len, nreps);

	hugepages_restore();
	print_loadavg("at end");
	printf("\ntotal %.1f s\n", (bench_now_ns() - t0) / 1e9);
	return 0;
}
