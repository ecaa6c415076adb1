/* test_dpdk.c - a real DPDK application on contigd memory.
 *
 * Runs examples/dpdk_l2fwd_contig (Debian's DPDK 22.11, --no-huge: no
 * hugepages of its own) as user nobody against the real daemon. The app
 * puts a contigd buffer in a DPDK malloc heap and builds on it an mbuf
 * pool, the rings of two net_ring ports and a 3 MiB IOVA-contiguous
 * memzone; a second mbuf pool has its data rooms in another contigd buffer
 * (external memory). It prints every IOVA it would program, forwards a
 * burst, and waits on its stdin while this test, as root, reads its
 * /proc/<pid>/pagemap: every mbuf data room and header, each ring and the
 * memzone must be at the physical address DPDK believes, contiguously.
 * Then the app frees everything and the daemon's stats must show every
 * frame back; once more with the app killed while it holds its memory.
 *
 * Skipped (1..0 # SKIP) when the example was not built: no libdpdk-dev.
 *
 * Pools: 2 MiB frames, plus one 1 GiB frame when the kernel can give one.
 * The 3 MiB memzone needs 2 physically adjacent 2 MiB frames, which a
 * churned machine's scattered hugepages may not have; the 1 GiB frame,
 * contiguous by construction, then serves it (smaller page sizes are
 * tried first, so the 2 MiB frames serve whatever they can).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534
#define BURST 32
#define NB_HEAP_MBUF 511 /* as the example creates them */
#define NB_EXT_MBUF 511

struct mbuf_rec {
	char pool[16];
	uint64_t data_virt, data_iova, room_len, hdr_virt, hdr_iova;
};

struct zone_rec {
	char kind[16], name[32];
	uint64_t virt, iova, len;
};

/* What the app printed before "ready". */
struct app_out {
	struct mbuf_rec mbufs[2048];
	size_t nmbufs;
	struct zone_rec zones[8];
	size_t nzones;
	uint64_t tx_iovas[4 * BURST];
	size_t ntx;
	unsigned sent, forwarded, received, intact;
	bool packets_seen;
	uint64_t heap_len[8]; /* its pieces */
	size_t npieces;
	int socket_id;
	pid_t ready_pid;
};

struct app {
	pid_t pid;
	FILE *out; /* its stdout */
	int in_fd; /* its stdin */
};

static char app_path[PATH_MAX];

/* Start the example as nobody with its stdin and stdout on pipes. */
static void app_start(struct app *a, const char *const *extra)
{
	const char *argv[32] = { app_path, "--no-huge", "-m", "16", "--no-shconf", "--no-pci",
				 "--no-telemetry", "-l", "0", "--log-level", "lib.eal:error",
				 "--" };
	size_t argc = 12;
	int in[2], out[2];

	while (*extra && argc < 31)
		argv[argc++] = *extra++;
	argv[argc] = NULL;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	a->pid = fork();
	if (a->pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (a->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) {
			dprintf(STDERR_FILENO, "test: dup2: %s\n", strerror(errno));
			_exit(126);
		}
		harness_close_inherited(-1);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0) {
			dprintf(STDERR_FILENO, "test: cannot become nobody: %s\n", strerror(errno));
			_exit(125);
		}
		execv(app_path, (char *const *)argv);
		dprintf(STDERR_FILENO, "test: exec %s: %s\n", app_path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	a->in_fd = in[1];
	a->out = fdopen(out[0], "r");
	if (!a->out)
		bail_out("fdopen: %s", strerror(errno));
}

/* Read the app's records up to "ready <pid>" (false: it ended first). */
static bool app_read_until_ready(struct app *a, struct app_out *o)
{
	char line[256];

	memset(o, 0, sizeof(*o));
	o->socket_id = -1;
	while (fgets(line, sizeof(line), a->out)) {
		struct mbuf_rec m;
		struct zone_rec z;
		uint64_t iova;
		int pid;

		if (sscanf(line, "mbuf %15s %" SCNx64 " %" SCNx64 " %" SCNu64 " %" SCNx64 " %" SCNx64,
			   m.pool, &m.data_virt, &m.data_iova, &m.room_len, &m.hdr_virt,
			   &m.hdr_iova) == 6) {
			if (o->nmbufs < sizeof(o->mbufs) / sizeof(o->mbufs[0]))
				o->mbufs[o->nmbufs++] = m;
		} else if ((sscanf(line, "ring %31s %" SCNx64 " %" SCNx64 " %" SCNu64, z.name,
				   &z.virt, &z.iova, &z.len) == 4 &&
			    strcpy(z.kind, "ring")) ||
			   (sscanf(line, "memzone %31s %" SCNx64 " %" SCNx64 " %" SCNu64, z.name,
				   &z.virt, &z.iova, &z.len) == 4 &&
			    strcpy(z.kind, "memzone"))) {
			if (o->nzones < sizeof(o->zones) / sizeof(o->zones[0]))
				o->zones[o->nzones++] = z;
		} else if (sscanf(line, "tx %*u %" SCNx64, &iova) == 1) {
			if (o->ntx < sizeof(o->tx_iovas) / sizeof(o->tx_iovas[0]))
				o->tx_iovas[o->ntx++] = iova;
		} else if (sscanf(line, "packets sent %u forwarded %u received %u intact %u", &o->sent,
				  &o->forwarded, &o->received, &o->intact) == 4) {
			o->packets_seen = true;
		} else if (sscanf(line, "heap contigd socket %d phys %*x len %" SCNu64, &o->socket_id,
				  &iova) == 2) {
			if (o->npieces < sizeof(o->heap_len) / sizeof(o->heap_len[0]))
				o->heap_len[o->npieces++] = iova;
		} else if (sscanf(line, "ready %d", &pid) == 1) {
			o->ready_pid = pid;
			return true;
		}
	}
	return false;
}

/* Let the app go on, read the rest of its output; returns its exit status
 * and whether it said "done". */
static int app_finish(struct app *a, bool *ret_done)
{
	char line[256];
	int status;

	*ret_done = false;
	if (write(a->in_fd, "go\n", 3) != 3)
		diag("  cannot write to the app's stdin: %s", strerror(errno));
	close(a->in_fd);
	while (fgets(line, sizeof(line), a->out))
		if (!strcmp(line, "done\n"))
			*ret_done = true;
	fclose(a->out);
	if (waitpid(a->pid, &status, 0) < 0)
		bail_out("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Does [iova, iova + len) lie inside one of the daemon's buffers owned by
 * uid nobody? */
static bool in_nobody_buffer(const struct contig_buffer_info *bufs, size_t n, uint64_t iova,
			     uint64_t len)
{
	for (size_t i = 0; i < n; i++)
		if (bufs[i].uid == NOBODY && iova >= bufs[i].phys &&
		    iova + len <= bufs[i].phys + bufs[i].len)
			return true;
	return false;
}

/* Every hugetlb mapping of @pid is a contigd frame (a memfd the daemon
 * named contigd-frame-<id>): the app reserved no hugepage of its own.
 * Counts both. */
static bool only_contigd_hugepages(pid_t pid, unsigned *ret_frames, unsigned *ret_foreign)
{
	char path[64], line[512], name[PATH_MAX] = "";
	FILE *f;

	*ret_frames = *ret_foreign = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long kb;
		char *slash;

		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) {
			/* a mapping's first line: the path, if any, is the 6th field */
			slash = strchr(line, '/');
			snprintf(name, sizeof(name), "%s", slash ? slash : "");
			name[strcspn(name, "\n")] = '\0';
		} else if (sscanf(line, "KernelPageSize: %lu kB", &kb) == 1 && kb > 4) {
			if (!strncmp(name, "/memfd:contigd-frame-", 21))
				++*ret_frames;
			else {
				diag("  hugepage mapping not from contigd: %s (%lu kB pages)", name, kb);
				++*ret_foreign;
			}
		}
	}
	fclose(f);
	return *ret_foreign == 0;
}

/* Can the kernel give a 1 GiB page now? Asks for one more and gives it
 * back at once; the daemon then asks again for its pool. */
static bool kernel_has_1g_page(void)
{
	const char *path = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
	unsigned long nr = 0, got = 0;
	bool yes;
	FILE *f = fopen(path, "r+");

	if (!f)
		return false;
	if (fscanf(f, "%lu", &nr) != 1 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return false;
	}
	fprintf(f, "%lu\n", nr + 1);
	fflush(f);
	rewind(f);
	yes = fscanf(f, "%lu", &got) == 1 && got == nr + 1;
	rewind(f);
	fprintf(f, "%lu\n", nr);
	fclose(f);
	return yes;
}

/* Copy the NULL-terminated @pools into @args; returns how many. */
static size_t nargs_pools(const char *const *pools, const char **args)
{
	size_t n = 0;

	while (pools[n]) {
		args[n] = pools[n];
		n++;
	}
	return n;
}

static bool all_returned(const struct contig_stats *st, void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < st->npools; i++)
		if (st->pools[i].nbuffers || st->pools[i].free_len != st->pools[i].total_len ||
		    st->pools[i].nframes_owned || st->pools[i].nframes_recycling)
			return false;
	return st->nsessions == 1; /* this test's own */
}

/* The physical checks, while the app waits. */
static void check_app_memory(const struct harness_daemon *d, const struct app_out *o, pid_t pid)
{
	struct contig_client *root = harness_connect(d);
	struct contig_buffer_info *bufs = NULL;
	size_t nbufs = 0, nheap = 0, next = 0, bad_data = 0, bad_hdr = 0, outside = 0;
	size_t bad_tx = 0;
	unsigned frames, foreign;
	bool only;

	ok(o->ready_pid == pid, "the_app_is_ready (pid %d)", (int)pid);
	ok(o->socket_id >= 0 && o->npieces == 4 && o->heap_len[0] == 4 * MiB &&
		   o->heap_len[1] == 2 * MiB,
	   "a_contigd_heap_of_four_buffers_with_its_socket_id (%d)", o->socket_id);
	if (contig_list_buffers(root, &bufs, &nbufs) < 0)
		bail_out("contig_list_buffers: %s", contig_last_message());
	ok(nbufs == 5, "the_app_holds_five_contigd_buffers (%zu)", nbufs);

	for (size_t i = 0; i < o->nmbufs; i++) {
		const struct mbuf_rec *m = &o->mbufs[i];
		uint64_t last = m->room_len - 1;

		if (!strcmp(m->pool, "heap_pool"))
			nheap++;
		else if (!strcmp(m->pool, "ext_pool"))
			next++;
		if (harness_phys_of(pid, (void *)(uintptr_t)m->data_virt) != m->data_iova ||
		    harness_phys_of(pid, (void *)(uintptr_t)(m->data_virt + last)) !=
			    m->data_iova + last) {
			if (bad_data++ < 3)
				diag("  %s mbuf data %#" PRIx64 ": iova %#" PRIx64 ", pagemap %#" PRIx64,
				     m->pool, m->data_virt, m->data_iova,
				     harness_phys_of(pid, (void *)(uintptr_t)m->data_virt));
		}
		if (harness_phys_of(pid, (void *)(uintptr_t)m->hdr_virt) != m->hdr_iova)
			bad_hdr++;
		if (!in_nobody_buffer(bufs, nbufs, m->data_iova, m->room_len) ||
		    !in_nobody_buffer(bufs, nbufs, m->hdr_iova, 128))
			outside++;
	}
	ok(nheap == NB_HEAP_MBUF && next == NB_EXT_MBUF,
	   "every_mbuf_of_both_pools_reported (%zu heap, %zu external)", nheap, next);
	ok(o->nmbufs > 0 && bad_data == 0,
	   "every_mbuf_data_iova_is_the_physical_address_in_pagemap (%zu wrong)", bad_data);
	ok(o->nmbufs > 0 && bad_hdr == 0, "every_mbuf_header_iova_is_physical_too (%zu wrong)",
	   bad_hdr);
	ok(o->nmbufs > 0 && outside == 0, "every_mbuf_lies_in_the_apps_contigd_buffers (%zu not)",
	   outside);

	for (size_t i = 0; i < o->ntx; i++) {
		size_t j;

		for (j = 0; j < o->nmbufs && o->mbufs[j].data_iova != o->tx_iovas[i]; j++)
			;
		bad_tx += j == o->nmbufs;
	}
	ok(o->ntx == 4 * BURST && bad_tx == 0,
	   "each_programmed_tx_iova_is_an_mbuf_data_room (%zu of %zu not)", bad_tx, o->ntx);

	for (size_t i = 0; i < o->nzones; i++) {
		const struct zone_rec *z = &o->zones[i];

		ok(harness_phys_contiguous(pid, (void *)(uintptr_t)z->virt, z->len, z->iova) &&
			   in_nobody_buffer(bufs, nbufs, z->iova, z->len),
		   "%s_%s_is_physically_contiguous_at_its_iova (%" PRIu64 " bytes at %#" PRIx64 ")",
		   z->kind, z->name, z->len, z->iova);
	}
	ok(o->nzones == 3 && !strcmp(o->zones[2].kind, "memzone") &&
		   o->zones[2].len > 2 * MiB,
	   "an_iova_contig_memzone_larger_than_2_MiB_was_checked");

	ok(o->packets_seen && o->sent == 2 * BURST && o->forwarded == o->sent &&
		   o->received == o->sent && o->intact == o->sent,
	   "a_burst_round_trips_through_two_net_ring_ports_intact (%u sent, %u intact)", o->sent,
	   o->intact);
	only = only_contigd_hugepages(pid, &frames, &foreign);
	ok(only && frames > 0, "the_app_maps_no_hugepage_but_contigd_frames (%u frame mappings)",
	   frames);
	free(bufs);
	contig_disconnect(root);
}

int main(void)
{
	const char *pools_1g[] = { "--pool", "0:2M:32M", "--pool", "0:1G:1G", NULL };
	const char *pools_2m[] = { "--pool", "0:2M:128M", NULL };
	const char *hold[] = { "--burst", "32", "--hold", NULL };
	char conf_path[128];
	const char *args[8] = { "--config", conf_path };
	struct harness_daemon d;
	struct contig_client *root;
	static struct app_out out;
	struct app a;
	bool done, have_1g;
	int status;
	FILE *f;

	harness_build_path("examples/dpdk_l2fwd_contig", app_path, sizeof(app_path));
	if (access(app_path, X_OK) < 0) {
		printf("1..0 # SKIP libdpdk-dev is not installed, so %s was not built "
		       "(apt-get install libdpdk-dev, then make)\n",
		       app_path);
		return 0;
	}

	/* nobody may connect, and reach the socket through its directory */
	snprintf(conf_path, sizeof(conf_path), "/tmp/contigd-dpdk-%d.conf", (int)getpid());
	f = fopen(conf_path, "w");
	if (!f || fputs("socket_mode = 0666\nallow_users = nobody\n", f) < 0 || fclose(f))
		bail_out("cannot write %s", conf_path);
	have_1g = kernel_has_1g_page();
	args[2 + nargs_pools(have_1g ? pools_1g : pools_2m, args + 2)] = NULL;
	harness_daemon_start(&d, args);
	unlink(conf_path);
	if (chmod(d.dir, 0711) < 0)
		bail_out("chmod %s: %s", d.dir, strerror(errno));
	diag("pools: %s", have_1g ? "32 MiB of 2 MiB frames and one 1 GiB frame"
				   : "128 MiB of 2 MiB frames (no 1 GiB page to be had: the heap "
				     "needs 2 adjacent frames among them)");

	/* 1. The app runs, holds its memory, shows its IOVAs, gives it back. */
	app_start(&a, hold);
	if (!app_read_until_ready(&a, &out))
		bail_out("the DPDK app ended before it was ready (its stderr is above)");
	check_app_memory(&d, &out, a.pid);
	status = app_finish(&a, &done);
	ok(status == 0 && done, "the_app_frees_everything_and_exits_0 (status %d)", status);
	root = harness_connect(&d);
	ok(harness_wait_stats(root, all_returned, NULL),
	   "contigd_has_every_frame_back_after_the_app_exits");

	/* 2. Killed while it holds it all: the daemon takes it back too. */
	app_start(&a, hold);
	if (!app_read_until_ready(&a, &out))
		bail_out("the DPDK app ended before it was ready (second run)");
	ok(kill(a.pid, SIGKILL) == 0, "the_app_is_killed_while_holding_its_heap");
	status = app_finish(&a, &done);
	ok(status == 128 + SIGKILL && !done, "it_died_of_sigkill (status %d)", status);
	ok(harness_wait_stats(root, all_returned, NULL),
	   "contigd_has_every_frame_back_after_the_app_is_killed");
	contig_disconnect(root);

	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
