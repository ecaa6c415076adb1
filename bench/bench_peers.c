/* bench_peers.c - issue #5, section 7, "Peers, side by side": contigd's
 * 4 KiB allocate+free against what a driver does without it (a hugepage of
 * its own from memfd, or DPDK's memzones), measured in the same run, and
 * whether each keeps physical constraints on requests above 2 MiB.
 *
 * DESIGN
 * Starts the real daemon with --pool 0:2M:512M (BENCH_POOL overrides)
 * through bench_daemon_start(), connects with libcontig and allocates one
 * 4 KiB buffer that stays live, so that the 4 KiB round trips below are
 * carved out of a frame the session already owns (as bench_latency does).
 * That daemon keeps running, idle, through the naive and DPDK parts.
 * Every round trip is timed on its own with clock_gettime(CLOCK_MONOTONIC)
 * after WARMUP untimed ones; BENCH_ITERS (default 3000) sets the count.
 *
 * contigd  contig_alloc() of 4 KiB immediately followed by contig_free(),
 *          timed together, in five settings; libcontig's fast path on (the
 *          default: the pair is served in the client from a warm frame)
 *          but for busy-poll, which times the round trip:
 *            unpinned  neither this process nor the daemon pinned: the
 *                      figure every ratio and target uses
 *            2001 live unpinned, with NLIVE more 4 KiB buffers live
 *                      (contig_alloc_many()), to match DPDK's 2000 zones
 *            same      this process and every daemon thread on the first
 *                      allowed CPU (bench_pin_process()); shown, not
 *                      targeted
 *            cross     this process on the first allowed CPU, every daemon
 *                      thread on the second; skipped on a one-CPU machine;
 *                      shown, not targeted. Where waking an idle CPU is
 *                      slow (a VM whose idle vCPUs halt), same and cross
 *                      bracket the unpinned figure, which depends on where
 *                      the scheduler happens to wake the daemon.
 *            busy-poll as cross, against a second daemon started first
 *                      with busy_poll_us = BUSY_POLL_US (a config file) and
 *                      the client in contig_set_busy_poll(BUSY_POLL_US): no
 *                      side sleeps, so no round trip waits for a CPU to
 *                      wake up; shown, not targeted
 * naive    per buffer, no daemon: memfd_create(MFD_HUGETLB) + ftruncate
 *          (2 MiB) + mmap(MAP_SHARED | MAP_POPULATE) + one pread() of
 *          /proc/self/pagemap for the physical address + munmap() + close(),
 *          repeated (warm), unpinned. The pagemap descriptor stays open
 *          across iterations, which favours the baseline. An iteration that
 *          finds no free hugepage (another process took them: the kernel's
 *          pool is shared) is redone after raising nr_hugepages again, and
 *          counted in a note.
 * DPDK     (only with HAVE_DPDK) in forked children, so that EAL, which
 *          cannot be torn down cleanly, disturbs neither the parts above nor
 *          the daemon; each reports through a pipe. A child enters a private
 *          mount namespace and mounts a hugetlbfs (pagesize=2M) of its own on
 *          a temporary directory, given as --huge-dir: this machine has no
 *          hugetlbfs mount for EAL to find, nothing stays mounted, and the
 *          child's hugepages go back to the kernel when it exits. EAL
 *          arguments: -l <first allowed CPU> --no-pci --no-telemetry
 *          --iova-mode=pa --log-level=*:error (BENCH_DPDK_LOG overrides the
 *          level) --file-prefix=<unique> --huge-dir=<that mount>. IOVA as
 *          PA, so that mz->iova claims a physical address.
 *            dynamic   EAL's default dynamic memory mode (no --in-memory,
 *                      no --legacy-mem, no -m): the heap grows and shrinks
 *                      by hugepages on demand. Only if EAL cannot start so
 *                      does a second child retry with --in-memory (the
 *                      output says so). Timed: rte_memzone_reserve_bounded(
 *                      name, 4096, SOCKET_ID_ANY, 0, 4096, 0) +
 *                      rte_memzone_free(), with 0 live zones and then with
 *                      NLIVE live 4 KiB zones reserved first; then the
 *                      constraints below.
 *            prealloc  the same plus --socket-mem=PREALLOC_MB: memory
 *                      reserved at startup, which large aligned zones come
 *                      out of without growing the heap. Constraints only.
 *          Before the DPDK and naive parts, free 2 MiB hugepages are raised
 *          to DPDK_HUGEPAGES through /proc/sys/vm/nr_hugepages if short, and
 *          lowered again by as much at exit. The parent removes each child's
 *          runtime directory (/var/run/dpdk/<prefix>) and mount point.
 *
 * Physical constraints, both peers: NPER_KIND requests of each kind
 * (4 MiB aligned to 4 MiB; 8 MiB aligned to 8 MiB; 3 MiB aligned to 4 KiB
 * that must not cross a 4 MiB boundary), all kept live until every one is
 * made. contigd: contig_alloc() with req.align / req.boundary. DPDK:
 * rte_memzone_reserve_bounded() with the same align and bound, once with
 * flags 0 and once with RTE_MEMZONE_IOVA_CONTIG. Every result is judged
 * only by this process's own read of /proc/self/pagemap, one entry per
 * 4 KiB page of the buffer: contiguous (each page's frame follows the one
 * before), aligned (physical start), within the boundary (contiguous, and
 * first and last byte under the same multiple); "held" is all three. The
 * peer's own claim (b.phys, mz->iova) is only compared with pagemap, and a
 * disagreement counted. A refused request (contigd -ENOMEM, DPDK NULL) is
 * counted apart, not as a violation, with the first refusal's reason.
 *
 * Prints two tables (round trips: median, p99, and contigd's unpinned and
 * busy-poll medians over each baseline's; constraints held) and the total
 * time, and writes the targeted figures with bench_summary(): contigd
 * unpinned < naive, <= 1.5x DPDK at 0 live zones and <= 0.02x (50x
 * better) at NLIVE live zones (issue 22), contigd holds 100% of what it
 * grants; and, untargeted, the busy-poll round trip against DPDK at
 * NLIVE.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#endif

#define WARMUP 100
#define NLIVE 2000         /* DPDK zones (and contigd buffers) kept live */
#define NPER_KIND 8        /* constrained requests per kind: 24 in all */
#define DPDK_HUGEPAGES 384 /* free 2 MiB hugepages wanted for the baselines */
#define PREALLOC_MB 256    /* --socket-mem of the prealloc DPDK child */
#define BUSY_POLL_US 200   /* both sides of the busy-poll row */
#define HUGE_LEN (2 * MIB)
#define PAGE_LEN (4 * KIB)
#define PFN_MASK ((UINT64_C(1) << 55) - 1)
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define SYSFS_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define SECTION "7 peers"

static const struct kind {
	const char *name;
	uint64_t len, align, boundary;
} kinds[] = {
	{ "4 MiB, align 4 MiB", 4 * MIB, 4 * MIB, 0 },
	{ "8 MiB, align 8 MiB", 8 * MIB, 8 * MIB, 0 },
	{ "3 MiB, boundary 4 MiB", 3 * MIB, PAGE_LEN, 4 * MIB },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* What pagemap says of the NPER_KIND requests of one kind. */
struct held {
	unsigned n, nrefused;                 /* made; refused by the peer */
	unsigned ncontig, naligned, nbounded; /* of the granted ones */
	unsigned nheld;                       /* all three */
	unsigned nclaim_wrong;                /* b.phys / mz->iova != pagemap */
	char why[176];                        /* the first refusal's reason */
};

static pid_t main_pid;

/* ---- physical addresses, read by us ---- */

static int pagemap_fd = -1;

/* (Re)open this process's pagemap: a forked child must, since the
 * parent's descriptor shows the parent's pages. */
static void pagemap_open(void)
{
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0)
		bench_die("open /proc/self/pagemap: %s", strerror(errno));
}

/* Physical address of the byte at @virt, or 0 if its page is not present
 * or the kernel hides frame numbers (no CAP_SYS_ADMIN). */
static uint64_t phys_of(uintptr_t virt)
{
	uint64_t entry;

	if (pread(pagemap_fd, &entry, sizeof(entry), (off_t)(virt / PAGE_LEN * 8)) != 8)
		return 0;
	if (!(entry >> 63) || !(entry & PFN_MASK))
		return 0;
	return (entry & PFN_MASK) * PAGE_LEN + virt % PAGE_LEN;
}

/* Whether every 4 KiB page of [@virt, @virt + @len) is present and
 * physically follows the one before it. *ret_phys: the first byte's. */
static bool phys_contiguous(const void *virt, uint64_t len, uint64_t *ret_phys)
{
	uintptr_t first = (uintptr_t)virt / PAGE_LEN, last = ((uintptr_t)virt + len - 1) / PAGE_LEN;
	uint64_t entries[512], pfn0 = 0;

	for (uintptr_t page = first; page <= last; page += 512) {
		size_t n = last - page + 1 < 512 ? last - page + 1 : 512;

		if (pread(pagemap_fd, entries, n * 8, (off_t)(page * 8)) != (ssize_t)(n * 8))
			bench_die("pread /proc/self/pagemap: %s", strerror(errno));
		for (size_t i = 0; i < n; i++) {
			uint64_t pfn = entries[i] & PFN_MASK;

			if (!(entries[i] >> 63) || !pfn)
				bench_die("page at %p not present in pagemap",
					  (void *)((page + i) * PAGE_LEN));
			if (page == first && i == 0) {
				pfn0 = pfn;
				*ret_phys = pfn * PAGE_LEN + (uintptr_t)virt % PAGE_LEN;
			} else if (pfn != pfn0 + (page + i - first)) {
				return false;
			}
		}
	}
	return true;
}

/* Judge one granted buffer of kind @k at @virt; @claimed_phys is what the
 * peer says its physical (IOVA) start is. */
static void judge(struct held *h, const struct kind *k, const void *virt, uint64_t claimed_phys)
{
	uint64_t phys = 0;
	bool contig = phys_contiguous(virt, k->len, &phys);
	bool aligned = phys % k->align == 0;
	bool bounded = contig && (!k->boundary ||
				  phys / k->boundary == (phys + k->len - 1) / k->boundary);

	h->ncontig += contig;
	h->naligned += aligned;
	h->nbounded += bounded;
	h->nheld += contig && aligned && bounded;
	h->nclaim_wrong += claimed_phys != phys;
}

static void refused(struct held *h, const char *why)
{
	if (h->nrefused++ == 0)
		snprintf(h->why, sizeof(h->why), "%s", why);
}

/* ---- hugepages for the baselines ---- */

static long hugepages_added;

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v;

	if (!f || fscanf(f, "%ld", &v) != 1)
		bench_die("read %s: %s", path, strerror(errno));
	fclose(f);
	return v;
}

static void write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");

	if (!f || fprintf(f, "%ld\n", v) < 0 || fclose(f) != 0)
		bench_die("write %ld to %s: %s", v, path, strerror(errno));
}

/* 2 MiB hugepages neither in use nor promised to a mapping. */
static long hugepages_free(void)
{
	return read_long(SYSFS_2M "free_hugepages") - read_long(SYSFS_2M "resv_hugepages");
}

/* Give back what hugepages_reserve() added; main process only (atexit). */
static void hugepages_release(void)
{
	if (getpid() != main_pid || hugepages_added == 0)
		return;
	write_long(NR_HUGEPAGES, read_long(NR_HUGEPAGES) - hugepages_added);
	hugepages_added = 0;
}

/* Make at least @n 2 MiB hugepages free, raising nr_hugepages if short. */
static void hugepages_reserve(long n)
{
	long nfree = hugepages_free(), total = read_long(NR_HUGEPAGES);
	static bool registered;

	if (nfree >= n)
		return;
	if (!registered)
		atexit(hugepages_release);
	registered = true;
	write_long(NR_HUGEPAGES, total + (n - nfree));
	hugepages_added += read_long(NR_HUGEPAGES) - total;
	if (hugepages_free() < n)
		printf("note: only %ld free 2 MiB hugepages after raising nr_hugepages "
		       "(wanted %ld)\n",
		       hugepages_free(), n);
}

/* ---- contigd ---- */

static struct bench_result time_contig(struct contig_client *c, size_t iters)
{
	uint64_t *ns = calloc(iters, sizeof(*ns));
	struct contig_alloc_req req;
	struct bench_result res;

	if (!ns)
		bench_die("out of memory");
	contig_alloc_req_init(&req, 4 * KIB);
	for (size_t i = 0; i < WARMUP + iters; i++) {
		struct contig_buffer b;
		uint64_t t0 = bench_now_ns();

		if (contig_alloc(c, &req, &b) < 0)
			bench_die("contig_alloc(4 KiB): %s", contig_last_message());
		if (contig_free(c, b.virt) < 0)
			bench_die("contig_free: %s", contig_last_message());
		if (i >= WARMUP)
			ns[i - WARMUP] = bench_now_ns() - t0;
	}
	res = bench_summarize(ns, iters);
	free(ns);
	return res;
}

/* The same with NLIVE more 4 KiB buffers live. */
static struct bench_result time_contig_live(struct contig_client *c, size_t iters)
{
	struct contig_alloc_req *reqs = calloc(NLIVE, sizeof(*reqs));
	struct contig_buffer *bufs = calloc(NLIVE, sizeof(*bufs));
	void **virts = calloc(NLIVE, sizeof(*virts));
	struct bench_result res;

	if (!reqs || !bufs || !virts)
		bench_die("out of memory");
	for (size_t i = 0; i < NLIVE; i++)
		contig_alloc_req_init(&reqs[i], 4 * KIB);
	if (contig_alloc_many(c, reqs, NLIVE, bufs) < 0)
		bench_die("contig_alloc_many(%d x 4 KiB): %s", NLIVE, contig_last_message());
	res = time_contig(c, iters);
	for (size_t i = 0; i < NLIVE; i++)
		virts[i] = bufs[i].virt;
	if (contig_free_many(c, virts, NLIVE) < 0)
		bench_die("contig_free_many: %s", contig_last_message());
	free(virts);
	free(bufs);
	free(reqs);
	return res;
}

/* Until the daemon has recycled every freed frame (untimed), at most 10 s:
 * its recycle thread must not run under the next measurement. */
static void wait_recycled(struct contig_client *c)
{
	struct contig_stats *st = malloc(sizeof(*st));
	struct timespec pause = { 0, 1000000 };

	if (!st)
		bench_die("out of memory");
	for (int i = 0; i < 10000; i++) {
		if (contig_get_stats(c, st) < 0)
			bench_die("contig_get_stats: %s", contig_last_message());
		if (st->npools < 1 || st->pools[0].nframes_recycling == 0)
			break;
		nanosleep(&pause, NULL);
	}
	free(st);
}

static void constraints_contig(struct contig_client *c, struct held *ret_held)
{
	struct contig_buffer bufs[NKINDS][NPER_KIND];
	bool granted[NKINDS][NPER_KIND] = { { false } };

	memset(ret_held, 0, NKINDS * sizeof(*ret_held));
	for (size_t k = 0; k < NKINDS; k++) {
		for (int i = 0; i < NPER_KIND; i++) {
			struct contig_alloc_req req;
			int r;

			contig_alloc_req_init(&req, kinds[k].len);
			req.align = kinds[k].align;
			req.boundary = kinds[k].boundary;
			ret_held[k].n++;
			r = contig_alloc(c, &req, &bufs[k][i]);
			if (r == -ENOMEM) {
				refused(&ret_held[k], contig_last_message());
				continue;
			}
			if (r < 0)
				bench_die("contig_alloc(%s): %s", kinds[k].name, contig_last_message());
			granted[k][i] = true;
			judge(&ret_held[k], &kinds[k], bufs[k][i].virt, bufs[k][i].phys);
		}
	}
	for (size_t k = 0; k < NKINDS; k++)
		for (int i = 0; i < NPER_KIND; i++)
			if (granted[k][i] && contig_free(c, bufs[k][i].virt) < 0)
				bench_die("contig_free: %s", contig_last_message());
	wait_recycled(c);
}

/* ---- naive: a hugepage of one's own per buffer ---- */

/* One naive buffer, allocated and freed: returns its physical address, or
 * 0 if the kernel had no free hugepage left. */
static uint64_t naive_alloc_free(void)
{
	int fd = memfd_create("bench_peers", MFD_HUGETLB | MFD_CLOEXEC);
	uint64_t phys;
	void *virt;

	if (fd < 0)
		bench_die("memfd_create(MFD_HUGETLB): %s", strerror(errno));
	if (ftruncate(fd, (off_t)HUGE_LEN) < 0)
		bench_die("ftruncate(2 MiB): %s", strerror(errno));
	virt = mmap(NULL, HUGE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (virt == MAP_FAILED && errno != ENOMEM)
		bench_die("mmap(2 MiB hugetlb): %s", strerror(errno));
	if (virt == MAP_FAILED) {
		close(fd);
		return 0;
	}
	phys = phys_of((uintptr_t)virt);
	if (phys == 0)
		bench_die("naive: pagemap shows no physical address (not root?)");
	munmap(virt, HUGE_LEN);
	close(fd);
	return phys;
}

/* *ret_nretries: iterations redone because another process had taken the
 * free hugepages (this machine's pool is shared). */
static struct bench_result time_naive(size_t iters, unsigned *ret_nretries)
{
	uint64_t *ns = calloc(iters, sizeof(*ns));
	struct bench_result res;
	unsigned nretries = 0;

	if (!ns)
		bench_die("out of memory");
	for (size_t i = 0; i < WARMUP + iters;) {
		uint64_t t0 = bench_now_ns();

		if (naive_alloc_free() == 0) {
			if (++nretries > 10)
				bench_die("naive: no free 2 MiB hugepage, even after raising "
					  "nr_hugepages");
			hugepages_reserve(DPDK_HUGEPAGES);
			continue;
		}
		if (i >= WARMUP)
			ns[i - WARMUP] = bench_now_ns() - t0;
		i++;
	}
	*ret_nretries = nretries;
	res = bench_summarize(ns, iters);
	free(ns);
	return res;
}

/* ---- DPDK, in children ---- */

/* How a DPDK child runs EAL. */
struct dpdk_mode {
	const char *name;    /* in the tables */
	bool in_memory;      /* --in-memory */
	unsigned socket_mem; /* MiB reserved at startup (--socket-mem), 0: none */
	bool timed;          /* run the round trips, not only the constraints */
};

/* What a DPDK child sends back through its pipe. */
struct dpdk_report {
	int ok; /* 0: failed, msg says where */
	char msg[200];
	int iova_mode;         /* rte_eal_iova_mode() */
	double init_s;         /* rte_eal_init() */
	unsigned npages_idle;  /* hugepages EAL held before the 0-zone loop */
	unsigned nzones_idle;  /* memzones EAL had reserved for itself */
	unsigned nlive;        /* zones live in the second loop */
	double live_reserve_s; /* reserving them, in all */
	struct bench_result zero, live;
	struct held held[2][NKINDS]; /* flags 0, RTE_MEMZONE_IOVA_CONTIG */
};

#ifdef HAVE_DPDK
static int count_seg(const struct rte_memseg_list *msl, const struct rte_memseg *ms, void *arg)
{
	(void)msl;
	(void)ms;
	++*(unsigned *)arg;
	return 0;
}

static void count_zone(const struct rte_memzone *mz, void *arg)
{
	(void)mz;
	++*(unsigned *)arg;
}

static struct bench_result time_memzone(size_t iters)
{
	uint64_t *ns = calloc(iters, sizeof(*ns));
	struct bench_result res;

	if (!ns)
		bench_die("out of memory");
	for (size_t i = 0; i < WARMUP + iters; i++) {
		uint64_t t0 = bench_now_ns();
		const struct rte_memzone *mz =
			rte_memzone_reserve_bounded("bp_rt", 4096, SOCKET_ID_ANY, 0, 4096, 0);

		if (!mz)
			bench_die("rte_memzone_reserve_bounded(4 KiB): %s", rte_strerror(rte_errno));
		if (rte_memzone_free(mz) < 0)
			bench_die("rte_memzone_free failed");
		if (i >= WARMUP)
			ns[i - WARMUP] = bench_now_ns() - t0;
	}
	res = bench_summarize(ns, iters);
	free(ns);
	return res;
}

/* The round trips with 0, then NLIVE, live zones. */
static void round_trips_dpdk(struct dpdk_report *r, size_t iters)
{
	const struct rte_memzone **live = calloc(NLIVE, sizeof(*live));
	uint64_t t0;

	if (!live)
		bench_die("out of memory");
	r->zero = time_memzone(iters);
	t0 = bench_now_ns();
	for (r->nlive = 0; r->nlive < NLIVE; r->nlive++) {
		char name[RTE_MEMZONE_NAMESIZE];

		snprintf(name, sizeof(name), "bp_live_%u", r->nlive);
		live[r->nlive] = rte_memzone_reserve_bounded(name, 4096, SOCKET_ID_ANY, 0, 4096, 0);
		if (!live[r->nlive])
			break;
	}
	r->live_reserve_s = (bench_now_ns() - t0) / 1e9;
	r->live = time_memzone(iters);
	for (unsigned i = 0; i < r->nlive; i++)
		rte_memzone_free(live[i]);
	free(live);
}

static void constraints_dpdk(unsigned flags, struct held *ret_held)
{
	const struct rte_memzone *mzs[NKINDS][NPER_KIND] = { { NULL } };

	memset(ret_held, 0, NKINDS * sizeof(*ret_held));
	for (size_t k = 0; k < NKINDS; k++) {
		for (int i = 0; i < NPER_KIND; i++) {
			char name[RTE_MEMZONE_NAMESIZE];

			snprintf(name, sizeof(name), "bp_c%u_%zu_%d", flags ? 1u : 0u, k, i);
			ret_held[k].n++;
			mzs[k][i] = rte_memzone_reserve_bounded(name, kinds[k].len, SOCKET_ID_ANY,
								flags, (unsigned)kinds[k].align,
								(unsigned)kinds[k].boundary);
			if (!mzs[k][i]) {
				refused(&ret_held[k], rte_strerror(rte_errno));
				continue;
			}
			judge(&ret_held[k], &kinds[k], mzs[k][i]->addr, mzs[k][i]->iova);
		}
	}
	for (size_t k = 0; k < NKINDS; k++)
		for (int i = 0; i < NPER_KIND; i++)
			if (mzs[k][i])
				rte_memzone_free(mzs[k][i]);
}

/* In the child: a hugetlbfs of our own at @huge_dir, seen only by us. */
static int mount_private_hugetlbfs(const char *huge_dir, struct dpdk_report *r)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("nodev", huge_dir, "hugetlbfs", 0, "pagesize=2M") < 0) {
		snprintf(r->msg, sizeof(r->msg), "private hugetlbfs mount on %s: %s", huge_dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* The child: EAL up as @mode says, measure, write the report to @fd. */
__attribute__((noreturn)) static void dpdk_child(int fd, const char *huge_dir,
						 const char *prefix, int cpu,
						 const struct dpdk_mode *mode, size_t iters)
{
	const char *level = getenv("BENCH_DPDK_LOG") ? getenv("BENCH_DPDK_LOG") : "error";
	struct dpdk_report r = { 0 };
	char args[10][160];
	char *argv[11];
	int argc = 0;
	uint64_t t0;

	snprintf(args[argc++], sizeof(args[0]), "bench_peers");
	snprintf(args[argc++], sizeof(args[0]), "-l%d", cpu);
	snprintf(args[argc++], sizeof(args[0]), "--no-pci");
	snprintf(args[argc++], sizeof(args[0]), "--no-telemetry");
	snprintf(args[argc++], sizeof(args[0]), "--iova-mode=pa");
	snprintf(args[argc++], sizeof(args[0]), "--log-level=*:%.40s", level);
	snprintf(args[argc++], sizeof(args[0]), "--file-prefix=%.60s", prefix);
	snprintf(args[argc++], sizeof(args[0]), "--huge-dir=%.60s", huge_dir);
	if (mode->in_memory)
		snprintf(args[argc++], sizeof(args[0]), "--in-memory");
	if (mode->socket_mem)
		snprintf(args[argc++], sizeof(args[0]), "--socket-mem=%u", mode->socket_mem);
	for (int i = 0; i < argc; i++)
		argv[i] = args[i];
	argv[argc] = NULL;

	if (mount_private_hugetlbfs(huge_dir, &r) == 0) {
		t0 = bench_now_ns();
		if (rte_eal_init(argc, argv) < 0) {
			snprintf(r.msg, sizeof(r.msg), "rte_eal_init: %s", rte_strerror(rte_errno));
		} else {
			r.init_s = (bench_now_ns() - t0) / 1e9;
			r.iova_mode = rte_eal_iova_mode();
			rte_memseg_walk(count_seg, &r.npages_idle);
			rte_memzone_walk(count_zone, &r.nzones_idle);
			pagemap_open();
			if (mode->timed)
				round_trips_dpdk(&r, iters);
			constraints_dpdk(0, r.held[0]);
			constraints_dpdk(RTE_MEMZONE_IOVA_CONTIG, r.held[1]);
			r.ok = 1;
		}
	}
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	if (r.ok)
		rte_eal_cleanup();
	_exit(0);
}

/* Remove what EAL left in /var/run/dpdk/@prefix, and /var/run/dpdk itself
 * if @remove_parent (it did not exist before). */
static void dpdk_runtime_dir_remove(const char *prefix, bool remove_parent)
{
	char dir[256], path[512];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", prefix);
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
				unlink(path);
			}
		closedir(d);
		rmdir(dir);
	}
	if (remove_parent)
		rmdir("/var/run/dpdk");
}

/* Run one DPDK child as @mode says; returns whether *ret_report holds its
 * figures (else ret_report->msg says why). */
static bool dpdk_run(int cpu, const struct dpdk_mode *mode, size_t iters,
		     struct dpdk_report *ret_report)
{
	char huge_dir[64] = "/tmp/contigd-bench-peers.XXXXXX", prefix[64];
	bool had_runtime = access("/var/run/dpdk", F_OK) == 0;
	struct dpdk_report r = { 0 };
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (!mkdtemp(huge_dir))
		bench_die("mkdtemp: %s", strerror(errno));
	snprintf(prefix, sizeof(prefix), "contigd-bench-peers-%d", (int)getpid());
	if (pipe2(fds, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		dpdk_child(fds[1], huge_dir, prefix, cpu, mode, iters);
	}
	close(fds[1]);
	n = read(fds[0], &r, sizeof(r));
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		bench_die("waitpid: %s", strerror(errno));
	dpdk_runtime_dir_remove(prefix, !had_runtime);
	rmdir(huge_dir);
	if (n != (ssize_t)sizeof(r)) {
		snprintf(r.msg, sizeof(r.msg), "DPDK child died (%s %d) before reporting",
			 WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		r.ok = 0;
	}
	*ret_report = r;
	return r.ok;
}
#endif

/* ---- the tables ---- */

/* Everything measured, for the tables and the summary. */
struct results {
	const char *pool;
	size_t iters;
	int cpus[2], ncpus;
	struct bench_result unpinned, live, same, cross, busy, naive;
	unsigned naive_nretries;
	struct held contig_held[NKINDS];
	/* DPDK: [0] dynamic (timed), [1] prealloc */
	struct dpdk_mode dpdk_mode[2];
	struct dpdk_report dpdk[2];
	bool dpdk_ok[2];
};

/* One row; a baseline's (@res given) also shows contigd's unpinned and
 * busy-poll medians over its own, and the target on the first. */
static void print_rtt(const char *what, struct bench_result r, size_t n,
		      const struct results *res, const char *target)
{
	double ratio;

	printf("%-46s %6zu %10.1f %10.1f", what, n, r.median_us, r.p99_us);
	if (!res) {
		printf("\n");
		return;
	}
	ratio = res->unpinned.median_us / r.median_us;
	printf(" %9.3fx", ratio);
	if (res->busy.median_us > 0)
		printf(" %9.3fx", res->busy.median_us / r.median_us);
	else
		printf(" %10s", "-");
	if (target)
		printf("  %s %s", target, ratio < 1 ? "met" : "NOT met");
	printf("\n");
}

static void print_round_trips(const struct results *res)
{
	char what[96];

	printf("\n%-46s %6s %10s %10s %10s %10s  %s\n", "4 KiB allocate + free", "n",
	       "median_us", "p99_us", "contigd/it", "busy/it", "target (contigd/it)");
	print_rtt("contigd, unpinned, 1 buffer live", res->unpinned, res->iters, NULL, NULL);
	snprintf(what, sizeof(what), "contigd, unpinned, %d buffers live", NLIVE + 1);
	print_rtt(what, res->live, res->iters, NULL, NULL);
	snprintf(what, sizeof(what), "contigd, same (client and daemon on CPU %d)", res->cpus[0]);
	print_rtt(what, res->same, res->iters, NULL, NULL);
	if (res->ncpus == 2) {
		snprintf(what, sizeof(what), "contigd, cross (client CPU %d, daemon CPU %d)",
			 res->cpus[0], res->cpus[1]);
		print_rtt(what, res->cross, res->iters, NULL, NULL);
		snprintf(what, sizeof(what), "contigd, cross, both busy-polling %d us",
			 BUSY_POLL_US);
		print_rtt(what, res->busy, res->iters, NULL, NULL);
	}
	print_rtt("naive: memfd hugepage + mmap + pagemap", res->naive, res->iters, res, "< 1x");
#ifdef HAVE_DPDK
	if (res->dpdk_ok[0]) {
		const struct dpdk_report *d = &res->dpdk[0];

		print_rtt("DPDK memzone reserve+free, 0 live zones", d->zero, res->iters, res,
			  NULL);
		snprintf(what, sizeof(what), "DPDK memzone reserve+free, %u live zones", d->nlive);
		print_rtt(what, d->live, res->iters, res, "< 1x");
	}
#endif
	printf("contigd/it, busy/it = contigd's unpinned, busy-poll median over that row's "
	       "median, same run\n");
	if (res->naive_nretries)
		printf("note: naive: %u iterations found no free hugepage (another process took "
		       "them) and were redone after raising nr_hugepages\n",
		       res->naive_nretries);
}

static void print_held(const char *peer, const struct held *h)
{
	for (size_t k = 0; k < NKINDS; k++)
		printf("%-26s %-22s %3u of %-3u %7u %7u %7u %7u %9u\n", peer, kinds[k].name,
		       h[k].nheld, h[k].n - h[k].nrefused, h[k].ncontig, h[k].naligned,
		       h[k].nbounded, h[k].nrefused, h[k].nclaim_wrong);
}

/* The first refusal's reason of each kind that had one. */
static void print_why(const char *peer, const struct held *h)
{
	for (size_t k = 0; k < NKINDS; k++)
		if (h[k].nrefused)
			printf("  %s, %s: refused %u, first because: %s\n", peer, kinds[k].name,
			       h[k].nrefused, h[k].why);
}

static void print_constraints(const struct results *res)
{
	printf("\nphysical constraints, judged by /proc/self/pagemap only (%d requests per kind, "
	       "all live at once)\n",
	       NPER_KIND);
	printf("%-26s %-22s %-10s %7s %7s %7s %7s %9s\n", "peer", "request", "held", "contig",
	       "aligned", "bounded", "refused", "claim!=pm");
	print_held("contigd", res->contig_held);
#ifdef HAVE_DPDK
	for (int m = 0; m < 2; m++) {
		char peer[2][64];

		if (!res->dpdk_ok[m])
			continue;
		snprintf(peer[0], sizeof(peer[0]), "DPDK %s", res->dpdk_mode[m].name);
		snprintf(peer[1], sizeof(peer[1]), "DPDK %s IOVA_CONTIG", res->dpdk_mode[m].name);
		print_held(peer[0], res->dpdk[m].held[0]);
		print_held(peer[1], res->dpdk[m].held[1]);
	}
#endif
	printf("held: of the granted, contiguous and aligned and within the boundary; "
	       "claim!=pm: b.phys / mz->iova is not what pagemap says\n");
	print_why("contigd", res->contig_held);
#ifdef HAVE_DPDK
	for (int m = 0; m < 2; m++) {
		char peer[64];

		if (!res->dpdk_ok[m])
			continue;
		snprintf(peer, sizeof(peer), "DPDK %s", res->dpdk_mode[m].name);
		print_why(peer, res->dpdk[m].held[0]);
		snprintf(peer, sizeof(peer), "DPDK %s IOVA_CONTIG", res->dpdk_mode[m].name);
		print_why(peer, res->dpdk[m].held[1]);
	}
#endif
}

#ifdef HAVE_DPDK
static void print_dpdk_notes(const struct results *res)
{
	for (int m = 0; m < 2; m++) {
		const struct dpdk_report *d = &res->dpdk[m];

		if (!res->dpdk_ok[m]) {
			printf("DPDK %s: failed: %s\n", res->dpdk_mode[m].name, d->msg);
			continue;
		}
		printf("DPDK %s: EAL %s%s, IOVA as %s, init %.2f s, main lcore pinned to CPU %d "
		       "(-l); at start it held %u hugepage(s) and %u memzone(s) of its own",
		       res->dpdk_mode[m].name,
		       res->dpdk_mode[m].in_memory ? "--in-memory" : "default dynamic memory mode",
		       res->dpdk_mode[m].socket_mem ? " with --socket-mem" : "",
		       d->iova_mode == RTE_IOVA_PA ? "PA" :
		       d->iova_mode == RTE_IOVA_VA ? "VA" : "DC",
		       d->init_s, res->cpus[0], d->npages_idle, d->nzones_idle);
		if (res->dpdk_mode[m].timed)
			printf("; reserving the %u live zones took %.3f s", d->nlive,
			       d->live_reserve_s);
		printf("\n");
	}
}
#endif

/* "X/Y held, R refused" over every kind. */
static void held_text(const struct held *h, char *buf, size_t cap)
{
	unsigned nheld = 0, ngranted = 0, nrefused = 0;

	for (size_t k = 0; k < NKINDS; k++) {
		nheld += h[k].nheld;
		ngranted += h[k].n - h[k].nrefused;
		nrefused += h[k].nrefused;
	}
	snprintf(buf, cap, "%u/%u held, %u refused", nheld, ngranted, nrefused);
}

static bool all_held(const struct held *h)
{
	unsigned ngranted = 0;

	for (size_t k = 0; k < NKINDS; k++) {
		if (h[k].nheld != h[k].n - h[k].nrefused)
			return false;
		ngranted += h[k].n - h[k].nrefused;
	}
	return ngranted > 0;
}

/* A summary row, mine against @base; @target the ratio it must stay
 * under (0: none). */
static void summary_rtt(const char *what, struct bench_result mine, struct bench_result base,
			const char *base_name, double target)
{
	char value[64], baseline[96], tgt[32];
	double ratio = mine.median_us / base.median_us;

	snprintf(value, sizeof(value), "%.2f us (p99 %.2f)", mine.median_us, mine.p99_us);
	snprintf(baseline, sizeof(baseline), "%.2f us (p99 %.2f) %s", base.median_us,
		 base.p99_us, base_name);
	snprintf(tgt, sizeof(tgt), "<= %gx", target);
	bench_summary(SECTION, what, value, baseline, ratio, target > 0 ? tgt : NULL,
		      ratio <= target);
}

static void write_summary(const struct results *res)
{
	char what[96], mine[64], base[320] = "";

	summary_rtt("4 KiB alloc+free vs naive memfd hugepage", res->unpinned, res->naive,
		    "memfd+mmap+pagemap", 1);
#ifdef HAVE_DPDK
	if (res->dpdk_ok[0]) {
		/* (Issue 22: the fast path within 1.5x of a memzone with none
		 * live, and 50x better with NLIVE live.) */
		summary_rtt("4 KiB alloc+free (fast path) vs DPDK memzone, 0 live", res->unpinned,
			    res->dpdk[0].zero, "reserve+free", 1.5);
		snprintf(what, sizeof(what), "4 KiB alloc+free (fast path) vs DPDK memzone, %u live",
			 res->dpdk[0].nlive);
		summary_rtt(what, res->unpinned, res->dpdk[0].live, "reserve+free", 0.02);
		if (res->busy.median_us > 0) {
			snprintf(what, sizeof(what),
				 "4 KiB alloc+free busy-poll round trip (cross) vs DPDK memzone, %u live",
				 res->dpdk[0].nlive);
			summary_rtt(what, res->busy, res->dpdk[0].live, "reserve+free", 0);
		}
	} else {
		snprintf(base, sizeof(base), "DPDK failed: %.150s", res->dpdk[0].msg);
		bench_summary(SECTION, "4 KiB alloc+free vs DPDK memzone", "-", base, 0, NULL,
			      false);
		base[0] = '\0';
	}
	for (int m = 0, nbase = 0; m < 2; m++) {
		char h0[48], h1[48];

		if (!res->dpdk_ok[m])
			continue;
		held_text(res->dpdk[m].held[0], h0, sizeof(h0));
		held_text(res->dpdk[m].held[1], h1, sizeof(h1));
		nbase += snprintf(base + nbase, sizeof(base) - (size_t)nbase,
				  "%sDPDK %s %s (IOVA_CONTIG %s)", nbase ? "; " : "",
				  res->dpdk_mode[m].name, h0, h1);
		if (nbase >= (int)sizeof(base))
			nbase = (int)sizeof(base) - 1;
	}
#else
	bench_summary(SECTION, "4 KiB alloc+free vs DPDK memzone", "-",
		      "DPDK: not built (install Debian's libdpdk-dev and rebuild)", 0, NULL, false);
	snprintf(base, sizeof(base), "DPDK: not built");
#endif
	held_text(res->contig_held, mine, sizeof(mine));
	snprintf(what, sizeof(what), "constraints > 2 MiB per pagemap, %zu requests",
		 NKINDS * NPER_KIND);
	bench_summary(SECTION, what, mine, base, 0, "contigd 100% held",
		      all_held(res->contig_held));
}

/* ---- main ---- */

/* A connection to the running daemon with one 4 KiB buffer, *ret_keeper,
 * that keeps its frame owned, so 4 KiB requests come from an owned frame. */
static struct contig_client *connect_with_keeper(struct contig_buffer *ret_keeper)
{
	struct contig_client *c;
	struct contig_alloc_req req;

	if (contig_connect(bench_daemon.sock, &c) < 0)
		bench_die("contig_connect: %s", contig_last_message());
	contig_alloc_req_init(&req, 4 * KIB);
	if (contig_alloc(c, &req, ret_keeper) < 0)
		bench_die("contig_alloc(keeper): %s", contig_last_message());
	return c;
}

/* The busy-poll daemon's configuration file, removed at exit even when
 * bench_daemon_start() dies. */
static char busy_conf[] = "/tmp/contigd-bench-peers-conf.XXXXXX";

static void busy_conf_remove(void)
{
	if (getpid() == main_pid)
		unlink(busy_conf);
}

/* The busy-poll row, on a daemon of its own (started and stopped here). */
static void measure_contig_busy(struct results *res)
{
	const char *const extra[] = { "--config", busy_conf, NULL };
	struct contig_buffer keeper;
	struct contig_client *c;
	cpu_set_t allowed;
	char text[64];
	int fd = mkstemp(busy_conf), len;

	if (fd < 0)
		bench_die("mkstemp %s: %s", busy_conf, strerror(errno));
	atexit(busy_conf_remove);
	len = snprintf(text, sizeof(text), "busy_poll_us = %d\n", BUSY_POLL_US);
	if (write(fd, text, (size_t)len) != len)
		bench_die("writing %s: %s", busy_conf, strerror(errno));
	close(fd);
	bench_daemon_start(res->pool, extra);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_getaffinity: %s", strerror(errno));
	c = connect_with_keeper(&keeper);
	/* (Busy-polling is for round trips: the fast path sends none.) */
	contig_set_fast_path(c, 0);
	contig_set_busy_poll(c, BUSY_POLL_US);
	bench_pin_self(res->cpus[0]);
	bench_pin_process(bench_daemon.pid, res->cpus[1]);
	res->busy = time_contig(c, res->iters);
	if (sched_setaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_setaffinity: %s", strerror(errno));
	contig_free(c, keeper.virt);
	contig_disconnect(c);
	bench_daemon_stop();
}

/* The other contigd rows of both tables, on the running daemon. */
static void measure_contig(struct results *res)
{
	struct contig_buffer keeper;
	struct contig_client *c;
	cpu_set_t allowed;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_getaffinity: %s", strerror(errno));
	c = connect_with_keeper(&keeper);
	res->unpinned = time_contig(c, res->iters);
	res->live = time_contig_live(c, res->iters);
	bench_pin_self(res->cpus[0]);
	bench_pin_process(bench_daemon.pid, res->cpus[0]);
	res->same = time_contig(c, res->iters);
	if (res->ncpus == 2) {
		bench_pin_process(bench_daemon.pid, res->cpus[1]);
		res->cross = time_contig(c, res->iters);
	}
	if (sched_setaffinity(0, sizeof(allowed), &allowed) < 0)
		bench_die("sched_setaffinity: %s", strerror(errno));
	constraints_contig(c, res->contig_held);
	contig_free(c, keeper.virt);
	contig_disconnect(c);
}

#ifdef HAVE_DPDK
static void measure_dpdk(struct results *res)
{
	res->dpdk_mode[0] = (struct dpdk_mode){ "dynamic", false, 0, true };
	res->dpdk_mode[1] = (struct dpdk_mode){ "prealloc", false, PREALLOC_MB, false };
	res->dpdk_ok[0] = dpdk_run(res->cpus[0], &res->dpdk_mode[0], res->iters, &res->dpdk[0]);
	if (!res->dpdk_ok[0]) {
		printf("note: DPDK in its default memory mode failed (%s); retrying with "
		       "--in-memory\n",
		       res->dpdk[0].msg);
		res->dpdk_mode[0] = (struct dpdk_mode){ "in-memory", true, 0, true };
		res->dpdk_mode[1].in_memory = true;
		res->dpdk_ok[0] =
			dpdk_run(res->cpus[0], &res->dpdk_mode[0], res->iters, &res->dpdk[0]);
	}
	res->dpdk_ok[1] = dpdk_run(res->cpus[0], &res->dpdk_mode[1], res->iters, &res->dpdk[1]);
}
#endif

int main(void)
{
	static struct results res;
	const char *iters = getenv("BENCH_ITERS");
	uint64_t t0 = bench_now_ns();

	bench_init("bench_peers");
	main_pid = getpid();
	res.pool = getenv("BENCH_POOL") ? getenv("BENCH_POOL") : "0:2M:512M";
	res.iters = iters ? strtoul(iters, NULL, 10) : 3000;
	if (res.iters < 100)
		res.iters = 100;
	res.ncpus = bench_cpus(res.cpus, 2);
	pagemap_open();

	if (res.ncpus == 2)
		measure_contig_busy(&res);
	bench_daemon_start(res.pool, NULL);
	measure_contig(&res);
	hugepages_reserve(DPDK_HUGEPAGES);
	res.naive = time_naive(res.iters, &res.naive_nretries);
#ifdef HAVE_DPDK
	measure_dpdk(&res);
#endif

	printf("bench_peers: issue #5 section 7, peers side by side; contigd --pool %s; "
	       "each round trip timed on its own (CLOCK_MONOTONIC) after %d warm-up ones\n",
	       res.pool, WARMUP);
	print_round_trips(&res);
#ifdef HAVE_DPDK
	print_dpdk_notes(&res);
#else
	printf("DPDK: not built (install Debian's libdpdk-dev and rebuild)\n");
#endif
	print_constraints(&res);
	write_summary(&res);

	hugepages_release();
	printf("total %.1f s\n", (bench_now_ns() - t0) / 1e9);
	return 0;
}
