/* test_lowmem.c - memory below 4 GiB for 32-bit devices (issue 19, part 2):
 * pools with a physical window (below=), on the real daemon and the
 * kernel's real hugepages, every address checked in this test's own
 * pagemap.
 *
 * DESIGN
 * On a machine with memory above 4 GiB the kernel makes hugepages above it
 * first, so a pool below 4 GiB exists only because the daemon looked for
 * one (daemon/reserve.c). Each daemon here is started with small pools
 * (the built-in configuration's 256 MiB would only make the test slower):
 *   1. a main pool and a pool below 4 GiB (when=memory_above, as the
 *      built-in configuration has it), beside one below an address past
 *      all memory, which is left out: the window pool reports its window,
 *      is full, nr_hugepages rose by what the pools hold beyond the free
 *      pages, MmAllocateContiguousMemory(64K, 0xFFFFFFFF) works and lies
 *      below 4 GiB, every frame of the window pool does, unconstrained work
 *      goes to the main pool while it has room and only then to the window,
 *      a 32-bit request then still gets the window, contigctl status and
 *      map show the window, and nr_hugepages is back at stop;
 *   2. windows below 256 MiB (28-bit) and below 4 GiB side by side: a
 *      28-bit request lies below 256 MiB, a 32-bit one goes to the 4 GiB
 *      pool and leaves the 28-bit one alone;
 *   3. reserve_min_free larger than the machine: nothing may be added, so
 *      a 1 GiB pool below 4 GiB gets only the free hugepages that happen to
 *      lie there (most often none): the log and contigctl status say how
 *      much was found of how much, the daemon serves, nr_hugepages rises by
 *      nothing more than what the pools hold;
 *   4. a restart (kill -9) with a buffer in the window pool: every pool
 *      holds what it held, the buffers are at the same addresses with their
 *      bytes (the journal knows pools by their window).
 * The built-in configuration itself is checked to carry the 32 MiB pool
 * below 4 GiB (--print-config); building it takes its 256 MiB pool.
 *
 * Needs memory above 4 GiB (else every check is skipped: there the main
 * pool serves 32-bit devices already). Exact nr_hugepages checks assume
 * no other process sizes the 2 MiB pool meanwhile (tests hold a lock).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contig_wdm.h"
#include "harness.h"

#define P (2 * MiB)
#define LOW4G (4 * GiB)
#define LOW28 (256 * MiB)
#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define FREE_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

static void skip(const char *name, const char *why)
{
	ok(true, "%s # skip %s", name, why);
}

/* The end of the highest System RAM range (/proc/iomem; we are root). */
static uint64_t memory_end(void)
{
	FILE *f = fopen("/proc/iomem", "re");
	char line[256];
	uint64_t end = 0;

	if (!f)
		bail_out("cannot read /proc/iomem");
	while (fgets(line, sizeof(line), f)) {
		uint64_t a, b;

		if (line[0] != ' ' && strstr(line, ": System RAM") &&
		    sscanf(line, "%" SCNx64 "-%" SCNx64, &a, &b) == 2 && b + 1 > end)
			end = b + 1;
	}
	fclose(f);
	return end;
}

/* Pool indexes by window end (0: no window) in the daemon's order. */
struct pools {
	struct contig_stats st;
	struct contig_pool_window win[16];
	size_t nwin;
};

static void get_pools(struct contig_client *c, struct pools *ps)
{
	if (contig_get_stats(c, &ps->st) < 0 ||
	    contig_get_pool_windows(c, ps->win, 16, &ps->nwin) < 0 || ps->nwin != ps->st.npools)
		bail_out("stats: %s", contig_last_message());
}

static int pool_below(const struct pools *ps, uint64_t below)
{
	for (uint32_t i = 0; i < ps->st.npools; i++) {
		uint64_t end = ps->win[i].highest_phys == CONTIG_PHYS_MAX ? 0
									  : ps->win[i].highest_phys + 1;

		if (end == below)
			return (int)i;
	}
	return -1;
}

static uint64_t free_of(struct contig_client *c, uint64_t below)
{
	struct pools ps;
	int i;

	get_pools(c, &ps);
	i = pool_below(&ps, below);
	return i < 0 ? UINT64_MAX : ps.st.pools[i].free_len;
}

/* Allocate @len below @highest_end (0: anywhere); the buffer is checked in
 * pagemap: contiguous at the address the daemon gave, and below. */
static bool alloc_checked(struct contig_client *c, uint64_t len, uint64_t below,
			  struct contig_buffer *ret)
{
	struct contig_alloc_req req;

	contig_alloc_req_init(&req, len);
	if (below)
		req.highest_phys = below - 1;
	if (contig_alloc(c, &req, ret) < 0)
		return false;
	memset(ret->virt, 0x5a, ret->len);
	return harness_phys_contiguous(getpid(), ret->virt, ret->len, ret->phys) &&
	       (!below || harness_phys_of(getpid(), ret->virt) + ret->len <= below);
}

/* contigctl @cmd's output (on the daemon @d) into @out. */
static void ctl(const struct harness_daemon *d, const char *cmd, char *out, size_t len)
{
	char bin[1024], line[1400];
	size_t n = 0;
	FILE *f;

	harness_build_path("contigctl", bin, sizeof(bin));
	snprintf(line, sizeof(line), "CONTIGD_SOCKET=%s %s %s", d->sock, bin, cmd);
	out[0] = '\0';
	f = popen(line, "r");
	if (!f)
		return;
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	pclose(f);
}

/* Every frame back from recycling. */
static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < st->npools; i++)
		if (st->pools[i].free_len != st->pools[i].total_len)
			return false;
	return true;
}

static uint64_t kept_beyond(uint64_t nframes, uint64_t free_before)
{
	return nframes > free_before ? nframes - free_before : 0;
}

static void test_below_4g(void)
{
	char beyond[96];
	const char *args[] = { "--pool", "0:2M:16M", "--pool", "0:2M:8M,below=4G,when=memory_above",
			       "--pool", beyond, NULL };
	uint64_t nr_before = harness_read_u64(NR_2M), free_before = harness_read_u64(FREE_2M);
	uint64_t past = (memory_end() + GiB) & ~(GiB - 1);
	struct contig_buffer main_bufs[9], low_bufs[4], b;
	struct harness_daemon d;
	struct contig_client *c;
	struct pools ps;
	char out[16384];
	bool good;
	int lo, hi;

	snprintf(beyond, sizeof(beyond), "0:2M:2M,below=%" PRIu64 "G,when=memory_above",
		 past >> 30);
	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	get_pools(c, &ps);
	lo = pool_below(&ps, LOW4G);
	hi = pool_below(&ps, 0);
	ok(ps.st.npools == 2 && lo >= 0 && hi >= 0,
	   "a_main_pool_and_a_pool_below_4G (%u pools)", ps.st.npools);
	ok(harness_daemon_log_has(&d, "not built (when=memory_above)"),
	   "a_window_past_all_memory_is_left_out_with_when_memory_above");
	if (lo < 0 || hi < 0)
		bail_out("no pool below 4 GiB");
	ok(ps.win[lo].wanted_len == 8 * MiB && ps.st.pools[lo].total_len == 8 * MiB,
	   "the_window_pool_is_full (%" PRIu64 " MiB of %" PRIu64 ")",
	   ps.st.pools[lo].total_len >> 20, ps.win[lo].wanted_len >> 20);
	ok(harness_read_u64(NR_2M) - nr_before == kept_beyond(12, free_before),
	   "nr_hugepages_rose_by_what_the_pools_hold_beyond_the_free_pages (%" PRIu64
	   ", %" PRIu64 " free before)", harness_read_u64(NR_2M) - nr_before, free_before);

	{
		PHYSICAL_ADDRESS highest = { .QuadPart = 0xFFFFFFFF };
		PVOID va = MmAllocateContiguousMemory(64 * 1024, highest);
		uint64_t phys = va ? harness_phys_of(getpid(), va) : 0;

		ok(va && phys && phys + 64 * 1024 <= LOW4G &&
			   (uint64_t)MmGetPhysicalAddress(va).QuadPart == phys &&
			   harness_phys_contiguous(getpid(), va, 64 * 1024, phys),
		   "MmAllocateContiguousMemory_64K_below_0xFFFFFFFF_lies_below_4G (0x%" PRIx64 ")",
		   phys);
		if (va)
			MmFreeContiguousMemory(va);
	}

	good = true;
	for (int i = 0; i < 4; i++)
		good &= alloc_checked(c, P, LOW4G, &low_bufs[i]);
	ok(good && free_of(c, LOW4G) == 0, "every_frame_of_the_window_pool_lies_below_4G");
	for (int i = 0; i < 4; i++)
		contig_free(c, low_bufs[i].virt);
	if (!harness_wait_stats(c, all_free, NULL))
		bail_out("the frames freed were not recycled");

	good = true;
	for (int i = 0; i < 8; i++)
		good &= alloc_checked(c, P, 0, &main_bufs[i]) && free_of(c, LOW4G) == 8 * MiB;
	ok(good, "unconstrained_work_stays_outside_the_window_while_outside_has_room");
	good = alloc_checked(c, P, 0, &main_bufs[8]);
	ok(good && free_of(c, LOW4G) == 6 * MiB,
	   "once_outside_is_full_the_window_serves_unconstrained_work_too");
	ok(alloc_checked(c, 64 * 1024, LOW4G, &b) && free_of(c, LOW4G) == 4 * MiB,
	   "a_32bit_request_still_finds_the_window");
	contig_free(c, b.virt);
	for (int i = 0; i < 9; i++)
		contig_free(c, main_bufs[i].virt);

	{
		char inst[64], scratch[192];

		harness_instance_name(d.sock, inst, sizeof(inst));
		snprintf(scratch, sizeof(scratch), "/run/contigd/%s-node0-below4096M-candidates-2048kB",
			 inst);
		ok(access(scratch, F_OK) < 0 && errno == ENOENT,
		   "no_scratch_mount_of_the_window_search_is_left (%s)", scratch);
	}
	ctl(&d, "status", out, sizeof(out));
	ok(strstr(out, " below\n") && strstr(out, "      4G\n"),
	   "contigctl_status_shows_the_window_column");
	ctl(&d, "status --json", out, sizeof(out));
	ok(strstr(out, "\"below\": 4294967296") && strstr(out, "\"wanted_len\": 8388608"),
	   "contigctl_status_json_has_below_and_wanted_len");
	ctl(&d, "map --color never", out, sizeof(out));
	ok(strstr(out, ": node 0, 2M pages below 4G, 4 frames (8M)") &&
		   strstr(out, ": node 0, 2M pages, 8 frames (16M)"),
	   "contigctl_map_titles_each_pool_with_its_window");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	ok(harness_read_u64(NR_2M) == nr_before, "nr_hugepages_is_back_after_stop");
}

static void test_below_256m(void)
{
	const char *args[] = { "--pool", "0:2M:4M", "--pool", "0:2M:4M,below=256M", "--pool",
			       "0:2M:8M,below=4G", NULL };
	uint64_t nr_before = harness_read_u64(NR_2M), free_before = harness_read_u64(FREE_2M);
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_buffer b;
	struct pools ps;
	uint64_t held;
	int p28, p32;

	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	get_pools(c, &ps);
	p28 = pool_below(&ps, LOW28);
	p32 = pool_below(&ps, LOW4G);
	ok(ps.st.npools == 3 && p28 >= 0 && p32 >= 0, "pools_below_256M_and_below_4G_side_by_side");
	if (p28 < 0 || p32 < 0)
		bail_out("no window pools");
	held = ps.st.pools[p28].total_len + ps.st.pools[p32].total_len + 4 * MiB;
	ok(harness_read_u64(NR_2M) - nr_before == kept_beyond(held / P, free_before),
	   "nr_hugepages_rose_by_what_the_three_pools_hold_beyond_the_free_pages");
	if (ps.st.pools[p28].total_len == 0) {
		skip("a_28bit_request_lies_below_256M", "no free 2 MiB frame below 256 MiB was found");
		skip("a_32bit_request_leaves_the_28bit_pool_alone", "the 28-bit pool is empty");
	} else {
		uint64_t free28;

		ok(alloc_checked(c, P, LOW28, &b), "a_28bit_request_lies_below_256M");
		contig_free(c, b.virt);
		if (!harness_wait_stats(c, all_free, NULL))
			bail_out("the frames freed were not recycled");
		free28 = free_of(c, LOW28);
		ok(alloc_checked(c, P, LOW4G, &b) && free_of(c, LOW28) == free28 &&
			   free_of(c, LOW4G) == ps.st.pools[p32].total_len - P,
		   "a_32bit_request_leaves_the_28bit_pool_alone");
		contig_free(c, b.virt);
	}
	if (ps.st.pools[p28].total_len < 4 * MiB)
		ok(harness_daemon_log_has(&d, "MiB of the 4 MiB configured in its window"),
		   "the_log_says_how_much_of_the_28bit_window_was_found");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "three_pool_daemon_stops_cleanly");
	ok(harness_read_u64(NR_2M) == nr_before, "nr_hugepages_is_back_after_the_three_pools");
}

/* A configuration file of @text; the path into @path. */
static void write_conf(const char *text, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/test_lowmem.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
		bail_out("cannot write %s", path);
}

static void test_cannot_fill(void)
{
	char conf[64], out[8192], want[96];
	const char *args[] = { "--config", conf, "--pool", "0:2M:4M", "--pool", "0:2M:1G,below=4G",
			       NULL };
	uint64_t nr_before = harness_read_u64(NR_2M), free_before = harness_read_u64(FREE_2M);
	struct harness_daemon d;
	struct contig_client *c;
	struct pools ps;
	int lo;

	write_conf("reserve_min_free = 1T\n", conf, sizeof(conf));
	harness_daemon_start(&d, args);
	unlink(conf);
	c = harness_connect(&d);
	get_pools(c, &ps);
	lo = pool_below(&ps, LOW4G);
	ok(ps.st.npools == 2 && lo >= 0, "a_window_that_cannot_be_filled_still_starts_the_daemon");
	if (lo < 0)
		bail_out("no pool below 4 GiB");
	if (ps.st.pools[lo].total_len == GiB) {
		skip("the_log_says_how_much_was_found", "free hugepages below 4 GiB filled it");
		skip("contigctl_status_says_how_much_was_found", "the window was filled");
	} else {
		snprintf(want, sizeof(want), "found %" PRIu64 " MiB of the 1024 MiB configured in "
			 "its window", ps.st.pools[lo].total_len >> 20);
		ok(harness_daemon_log_has(&d, want), "the_log_says_how_much_was_found (%s)", want);
		ctl(&d, "status", out, sizeof(out));
		ok(strstr(out, "of the 1G configured below 4G"),
		   "contigctl_status_says_how_much_was_found");
	}
	ok(ps.win[lo].wanted_len == GiB && ps.st.pools[lo].total_len < GiB,
	   "stats_give_what_was_wanted_and_what_was_found");
	ok(harness_read_u64(NR_2M) - nr_before ==
		   kept_beyond(2 + ps.st.pools[lo].total_len / P, free_before),
	   "nr_hugepages_rose_only_by_what_the_pools_hold_beyond_the_free_pages");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "unfilled_daemon_stops_cleanly");
	ok(harness_read_u64(NR_2M) == nr_before, "nr_hugepages_is_back_after_the_unfilled_daemon");
}

static void test_restart(void)
{
	const char *args[] = { "--pool", "0:2M:8M", "--pool", "0:2M:4M,below=4G", NULL };
	uint64_t nr_before = harness_read_u64(NR_2M);
	struct contig_buffer bufs[6];
	struct harness_daemon d;
	struct contig_client *c;
	struct pools before, after;
	int n = 0, lo;
	bool same = true;

	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	/* 32-bit frames until one is the window pool's (the main pool's own
	 * frames below 4 GiB, if it has any, serve first) */
	do {
		if (!alloc_checked(c, P, LOW4G, &bufs[n]))
			bail_out("a 32-bit buffer: %s", contig_last_message());
		memset(bufs[n].virt, 0x3c + n, bufs[n].len);
		n++;
		get_pools(c, &before);
		lo = pool_below(&before, LOW4G);
	} while (lo >= 0 && before.st.pools[lo].nframes_owned == 0 && n < 6);
	ok(lo >= 0 && before.st.pools[lo].nframes_owned == 1,
	   "before_the_restart_the_window_pool_holds_a_buffer (%d 32-bit buffers)", n);
	harness_daemon_kill(&d, SIGKILL);
	harness_daemon_restart(&d, args);
	get_pools(c, &after); /* reconnects and reclaims the session */
	for (uint32_t i = 0; i < after.st.npools; i++)
		same &= i < before.st.npools && after.win[i].highest_phys == before.win[i].highest_phys &&
			after.st.pools[i].nframes_owned == before.st.pools[i].nframes_owned;
	if (!ok(same && after.st.npools == before.st.npools,
		"after_the_restart_each_pool_holds_what_it_held"))
		for (uint32_t i = 0; i < after.st.npools; i++)
			diag("  pool %u: below 0x%" PRIx64 ", %u owned", i, after.win[i].highest_phys,
			     after.st.pools[i].nframes_owned);
	same = true;
	for (int k = 0; k < n; k++) {
		same &= harness_phys_of(getpid(), bufs[k].virt) == bufs[k].phys &&
			bufs[k].phys + bufs[k].len <= LOW4G;
		for (uint64_t i = 0; same && i < bufs[k].len; i += 4096)
			same = ((unsigned char *)bufs[k].virt)[i] == 0x3c + k;
	}
	ok(same, "the_32bit_buffers_are_at_the_same_addresses_with_their_bytes");
	for (int k = 0; k < n; k++)
		contig_free(c, bufs[k].virt);
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "restarted_daemon_stops_cleanly");
	ok(harness_read_u64(NR_2M) == nr_before, "nr_hugepages_is_back_after_the_restarts");
}

/* The built-in configuration carries 32 MiB below 4 GiB. */
static void test_builtin(void)
{
	char bin[1024], cmd[1100], out[16384];
	size_t n = 0;
	FILE *f;

	harness_daemon_path(bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "'%s' --print-config", bin);
	f = popen(cmd, "r");
	if (f) {
		n = fread(out, 1, sizeof(out) - 1, f);
		pclose(f);
	}
	out[n] = '\0';
	ok(strstr(out, "\npool = 0:2M:32M,below=4G,when=memory_above\n") &&
		   strstr(out, "\nreserve_min_free = 1G\n"),
	   "the_built_in_configuration_adds_32M_below_4G_where_memory_lies_above");
}

int main(void)
{
	if (memory_end() <= LOW4G) {
		printf("1..0 # SKIP all memory lies below 4 GiB: the main pool serves 32-bit devices\n");
		return 0;
	}
	test_builtin();
	test_below_4g();
	test_below_256m();
	test_cannot_fill();
	test_restart();
	return done_testing();
}
