/* test_fork.c - libcontig across fork(): a process is a client (issue 19).
 *
 * This test is the parent: it connects (natively and through the Windows
 * shim), allocates, and forks children with fork() itself, so that they
 * inherit its clients as a prefork server's workers do. What each child
 * holds is checked three ways, none of them the library's word about
 * itself: the child's own /proc/<pid>/pagemap (read by this test), the
 * daemon's view through the real contigctl binary (`buffers --json`,
 * `clients --json`: which pid owns what, who reported a misuse), and the
 * pools' free bytes.
 *
 * The rules checked: a child's allocation is the child's; the parent's
 * buffers stay mapped and translated in the child but are not the child's
 * to free (-EPERM natively, a reported misuse in the shim, on the child's
 * own session); the parent's view never changes; a child's memory comes
 * back when it exits, is killed or execs; an exec'd program holds no
 * session of its parent's; parent and children allocate at once without
 * a failure; and a fork while another thread has a request in flight
 * neither deadlocks nor corrupts the child.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contig_wdm.h"
#include "harness.h"

#define POOL "0:2M:64M"
#define FRAME (2 * MiB)
#define NCHILDREN 4
#define ROUNDS 200
#define NFORKS 30
/* A child that has not finished by then is stuck: SIGALRM ends it, and
 * the test reports a signal instead of hanging. */
#define CHILD_ALARM_S 30

static struct harness_daemon d;

/* ---- contigctl --json, read as flat objects ---- */

#define MAX_OBJS 256

/* The number after "@key": in [@from, @to), or -1. */
static long long json_num(const char *from, const char *to, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(from, pat);
	if (!p || p >= to)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* Run `contigctl --socket S @cmd --json` and read, from each object inside
 * the top-level one, the numbers of @keys into ret[i][k]. Returns the
 * number of objects, or -1 if contigctl failed. */
static int ctl_objects(const char *cmd, const char *const *keys, size_t nkeys,
		       long long ret[][4])
{
	const char *const args[] = { "--socket", d.sock, cmd, "--json", NULL };
	char err[512], *out;
	int n = 0, status = harness_run_program("contigctl", 0, args, &out, err, sizeof(err));
	const char *p;

	if (status != 0) {
		diag("contigctl %s: status %d: %s", cmd, status, err);
		free(out);
		return -1;
	}
	p = strchr(out, '{'); /* the top-level object */
	while (p && (p = strchr(p + 1, '{')) && n < MAX_OBJS) {
		const char *end = strchr(p, '}');

		if (!end)
			break;
		for (size_t k = 0; k < nkeys; k++)
			ret[n][k] = json_num(p, end, keys[k]);
		n++;
		p = end;
	}
	free(out);
	return n;
}

/* The pid contigctl buffers shows for the buffer at @phys, 0 if none. */
static long long owner_of(uint64_t phys)
{
	static const char *const keys[] = { "pid", "phys" };
	static long long objs[MAX_OBJS][4];
	int n = ctl_objects("buffers", keys, 2, objs);

	for (int i = 0; i < n; i++)
		if ((uint64_t)objs[i][1] == phys)
			return objs[i][0];
	return 0;
}

/* contigctl clients: the misuses reported on the sessions of @pid (summed:
 * a process may have several), -1 if it has none. */
static long long misuses_of(pid_t pid)
{
	static const char *const keys[] = { "pid", "nbugchecks" };
	static long long objs[MAX_OBJS][4];
	int n = ctl_objects("clients", keys, 2, objs);
	long long sum = -1;

	for (int i = 0; i < n; i++)
		if (objs[i][0] == pid)
			sum = (sum < 0 ? 0 : sum) + objs[i][1];
	return sum;
}

/* ---- small helpers ---- */

static struct contig_stats stats_of(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0)
		bail_out("contig_get_stats: %s", contig_last_message());
	return st;
}

static struct contig_buffer alloc_or_bail(struct contig_client *c, uint64_t len)
{
	struct contig_alloc_req req;
	struct contig_buffer b;

	contig_alloc_req_init(&req, len);
	if (contig_alloc(c, &req, &b) < 0)
		bail_out("contig_alloc(%llu): %s", (unsigned long long)len, contig_last_message());
	return b;
}

static bool pattern_is(const struct contig_buffer *b, uint8_t seed)
{
	const uint8_t *p = b->virt;

	for (uint64_t i = 0; i < b->len; i += 4096)
		if (p[i] != (uint8_t)(seed + i / 4096))
			return false;
	return true;
}

static void pattern_fill(const struct contig_buffer *b, uint8_t seed)
{
	uint8_t *p = b->virt;

	for (uint64_t i = 0; i < b->len; i += 4096)
		p[i] = (uint8_t)(seed + i / 4096);
}

/* fork() with a socketpair: @ret_fd is the parent's end, the child's is
 * returned through *ret_child_fd in the child (fork's result says which). */
static pid_t fork_with_pipe(int *ret_fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bail_out("socketpair: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		alarm(CHILD_ALARM_S);
		*ret_fd = sv[1];
	} else {
		close(sv[1]);
		*ret_fd = sv[0];
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bail_out("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct pool_free {
	uint64_t free_len;
};

static bool pool_free_is(const struct contig_stats *st, void *arg)
{
	return st->pools[0].free_len == ((struct pool_free *)arg)->free_len;
}

/* The pool with nothing held and nothing recycling: what a phase starts
 * from (frames freed by the one before may still be recycling). */
static struct pool_free pool_idle(struct contig_client *c)
{
	struct pool_free idle = { stats_of(c).pools[0].total_len };

	/* (The fast path's empty warm frames too, this client's and the
	 * shim's, connected by then: the pool whole.) */
	if (contig_trim(c) < 0 || contig_trim(ContigWdmClient()) < 0)
		bail_out("contig_trim: %s", contig_last_message());
	if (!harness_wait_stats(c, pool_free_is, &idle))
		bail_out("the pool did not come back whole between phases");
	return idle;
}

/* ---- 1. a child is a new client; the parent's buffers stay the parent's ---- */

/* What a child tells the test. */
struct child_report {
	uint64_t virt, phys, len;
	int err;        /* 0, or the first check that failed (a line number) */
	char why[200];
};

#define CHILD_CHECK(cond, rep)                                                        \
	do {                                                                          \
		if (!(cond) && !(rep)->err) {                                         \
			(rep)->err = __LINE__;                                        \
			snprintf((rep)->why, sizeof((rep)->why), "%s (%s)", #cond,   \
				 contig_last_message());                              \
		}                                                                     \
	} while (0)

/* The grandchild: both ancestors' buffers are inherited, neither freed. */
static int grandchild(struct contig_client *c, const struct contig_buffer *p1,
		      const struct contig_buffer *c1)
{
	uint64_t phys = 0;
	struct contig_buffer own;
	struct contig_alloc_req req;

	if (contig_virt_to_phys(c, (uint8_t *)c1->virt + 4096, &phys) < 0 ||
	    phys != c1->phys + 4096)
		return 10;
	if (contig_virt_to_phys(c, p1->virt, &phys) < 0 || phys != p1->phys)
		return 11;
	if (contig_free(c, c1->virt) != -EPERM || contig_free(c, p1->virt) != -EPERM)
		return 12;
	contig_alloc_req_init(&req, 64 * 1024);
	if (contig_alloc(c, &req, &own) < 0)
		return 13;
	if (harness_phys_of(getpid(), own.virt) != own.phys)
		return 14;
	return contig_free(c, own.virt) < 0 ? 15 : 0;
}

static int child_of_native(int fd, struct contig_client *c, const struct contig_buffer *p1)
{
	struct child_report rep = { 0 };
	struct contig_alloc_req req;
	struct contig_buffer c1 = { 0 };
	uint64_t phys = 0;
	char go;
	pid_t gc;

	/* The parent's buffer: readable, translated, ours in no way. */
	CHILD_CHECK(pattern_is(p1, 0x51), &rep);
	CHILD_CHECK(contig_virt_to_phys(c, (uint8_t *)p1->virt + 8192, &phys) == 0 &&
			    phys == p1->phys + 8192,
		    &rep);
	CHILD_CHECK(harness_phys_of(getpid(), p1->virt) == p1->phys, &rep);
	CHILD_CHECK(contig_free(c, p1->virt) == -EPERM, &rep);
	CHILD_CHECK(strstr(contig_last_message(), "fork") != NULL, &rep);
	/* The parent's handle serves the child as a session of its own. */
	contig_alloc_req_init(&req, 1 * MiB);
	CHILD_CHECK(contig_alloc(c, &req, &c1) == 0, &rep);
	if (c1.virt) {
		pattern_fill(&c1, 0x77);
		rep.virt = (uintptr_t)c1.virt;
		rep.phys = c1.phys;
		rep.len = c1.len;
	}
	/* A grandchild inherits both. */
	if (!rep.err) {
		fflush(stdout);
		gc = fork();
		if (gc == 0)
			_exit(grandchild(c, p1, &c1));
		int st = wait_status(gc);

		if (st != 0 && !rep.err) {
			rep.err = __LINE__;
			snprintf(rep.why, sizeof(rep.why), "grandchild failed check %d", st);
		}
	}
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	/* Still the child's, still intact after the parent's checks. */
	if (c1.virt && (!pattern_is(&c1, 0x77) || contig_free(c, c1.virt) < 0))
		return 2;
	/* The parent's buffer is untouched by all this. */
	return pattern_is(p1, 0x51) ? 0 : 3;
}

static void test_child_is_a_new_client(struct contig_client *c)
{
	struct contig_buffer p1 = alloc_or_bail(c, 1 * MiB), p2 = alloc_or_bail(c, 64 * 1024);
	struct contig_stats before = stats_of(c), after;
	struct child_report rep;
	int fd, status;
	char go = 1;
	pid_t pid;

	pattern_fill(&p1, 0x51);
	pid = fork_with_pipe(&fd);
	if (pid == 0)
		_exit(child_of_native(fd, c, &p1));
	harness_recv(fd, &rep, sizeof(rep));
	if (!ok(rep.err == 0, "child_translates_inherited_buffers_and_allocates_its_own"))
		diag("  child check at line %d: %s", rep.err, rep.why);
	ok(rep.len && harness_phys_contiguous(pid, (void *)(uintptr_t)rep.virt, rep.len, rep.phys),
	   "child_buffer_is_where_the_child_pagemap_says");
	ok(owner_of(rep.phys) == pid, "contigctl_counts_the_child_allocation_to_the_child");
	ok(owner_of(p1.phys) == getpid() && owner_of(p2.phys) == getpid(),
	   "contigctl_keeps_the_parent_buffers_under_the_parent");
	after = stats_of(c);
	ok(after.my_nbuffers == before.my_nbuffers && after.my_len == before.my_len &&
		   after.my_nframes == before.my_nframes,
	   "parent_session_counts_unchanged_by_the_child");
	harness_send(fd, &go, 1);
	status = wait_status(pid);
	ok(status == 0, "child_frees_its_own_buffer_and_sees_the_parent_buffer_intact (status %d)",
	   status);
	close(fd);
	ok(pattern_is(&p1, 0x51) && contig_free(c, p1.virt) == 0 && contig_free(c, p2.virt) == 0,
	   "parent_handle_keeps_working_after_the_child");
}

/* ---- 2. the shim: a child's bad free is its own misuse ---- */

static int child_of_wdm(int fd, PVOID w1, int errfd)
{
	PHYSICAL_ADDRESS pa;
	int r = 0;

	dup2(errfd, STDERR_FILENO);
	pa = MmGetPhysicalAddress((uint8_t *)w1 + 100);
	/* The test compares it with the parent's answer. */
	harness_send(fd, &pa.QuadPart, sizeof(pa.QuadPart));
	MmFreeContiguousMemory(w1); /* a misuse: the parent's */
	if (MmGetPhysicalAddress(w1).QuadPart == 0)
		r = 1; /* nothing was freed: it still translates */
	fflush(stderr);
	harness_send(fd, &r, sizeof(r));
	harness_recv(fd, &r, 1); /* until the test looked at the daemon's view */
	return 0;
}

static void test_child_misuse_is_reported_on_its_own_session(struct contig_client *c)
{
	PHYSICAL_ADDRESS highest = { .QuadPart = -1 };
	struct contig_stats before, after;
	PVOID w1 = MmAllocateContiguousMemory(64 * 1024, highest);
	LONGLONG child_pa;
	int fd, r, errp[2], status;
	char err[512] = "";
	ssize_t n;
	pid_t pid;

	if (!w1)
		bail_out("MmAllocateContiguousMemory: %s", contig_last_message());
	before = stats_of(c);
	if (pipe(errp) < 0)
		bail_out("pipe: %s", strerror(errno));
	pid = fork_with_pipe(&fd);
	if (pid == 0) {
		close(errp[0]);
		_exit(child_of_wdm(fd, w1, errp[1]));
	}
	close(errp[1]);
	harness_recv(fd, &child_pa, sizeof(child_pa));
	is_u64((uint64_t)child_pa, (uint64_t)MmGetPhysicalAddress((uint8_t *)w1 + 100).QuadPart,
	       "child_MmGetPhysicalAddress_translates_the_inherited_buffer");
	harness_recv(fd, &r, sizeof(r));
	ok(r == 0, "child_MmFreeContiguousMemory_of_inherited_buffer_frees_nothing");
	ok(misuses_of(pid) == 1, "child_misuse_is_counted_on_the_child_session");
	ok(misuses_of(getpid()) == 0, "parent_sessions_report_no_misuse");
	after = stats_of(c);
	ok(after.nbugchecks == before.nbugchecks + 1, "daemon_counts_one_misuse");
	/* (w1 may be a fast-path buffer, reported within the documented
	 * bound: contig_flush() makes the daemon's view of it exact now.) */
	ok(contig_flush(ContigWdmClient()) == 0 &&
		   owner_of((uint64_t)MmGetPhysicalAddress(w1).QuadPart) == getpid(),
	   "inherited_buffer_stays_the_parent_in_contigctl");
	harness_send(fd, &r, 1);
	status = wait_status(pid);
	n = read(errp[0], err, sizeof(err) - 1);
	err[n > 0 ? n : 0] = '\0';
	close(errp[0]);
	close(fd);
	if (!ok(status == 0 && strstr(err, "MmFreeContiguousMemory") && strstr(err, "fork()"),
		"child_stderr_says_the_buffer_was_inherited"))
		diag("  status %d, stderr: %s", status, err);
	MmFreeContiguousMemory(w1);
	ok(MmGetPhysicalAddress(w1).QuadPart == 0, "parent_frees_its_buffer_after_the_child");
}

/* ---- 3. what a child holds comes back: exit, SIGKILL, exec ---- */

/* Allocate @n frames (one buffer each: no adjacency needed), tell the
 * test, then wait; with @exec_argv, exec it instead of waiting. */
static int child_hold(int fd, struct contig_client *c, int n, char *const *exec_argv)
{
	struct contig_alloc_req req;
	struct contig_buffer b;
	char go = 0;
	int r = 0;

	contig_alloc_req_init(&req, FRAME);
	for (int i = 0; i < n && r == 0; i++) {
		r = contig_alloc(c, &req, &b);
		if (r == 0)
			memset(b.virt, 0x3c, b.len);
	}
	harness_send(fd, &r, sizeof(r));
	if (exec_argv) {
		/* stdin is the test's end: the program lives until it closes. */
		dup2(fd, STDIN_FILENO);
		alarm(0); /* (a pending alarm survives exec) */
		execv(exec_argv[0], exec_argv);
		_exit(127);
	}
	harness_recv(fd, &go, 1);
	_exit(0); /* without freeing, without disconnecting */
}

/* Socket descriptors process @pid has open. */
static int sockets_of(pid_t pid)
{
	char path[64], target[64];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		char link[sizeof(path) + sizeof(e->d_name)];
		ssize_t len;

		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strncmp(target, "socket:", 7) == 0;
		}
	}
	closedir(dir);
	return n;
}

static bool sessions_are(const struct contig_stats *st, void *arg)
{
	return st->nsessions == *(uint32_t *)arg;
}

static void test_child_memory_comes_back(struct contig_client *c)
{
	struct pool_free idle = pool_idle(c);
	struct contig_stats st;
	int fd, r = -1, status;
	char go = 1;
	pid_t pid;

	/* Exits without freeing. */
	pid = fork_with_pipe(&fd);
	if (pid == 0)
		child_hold(fd, c, 2, NULL);
	harness_recv(fd, &r, sizeof(r));
	st = stats_of(c);
	ok(r == 0 && st.pools[0].free_len == idle.free_len - 2 * FRAME,
	   "child_holds_4_MiB_of_the_pool");
	harness_send(fd, &go, 1);
	status = wait_status(pid);
	close(fd);
	ok(status == 0 && harness_wait_stats(c, pool_free_is, &idle),
	   "child_exiting_without_free_returns_its_memory");

	/* SIGKILLed holding 16 MiB. */
	pid = fork_with_pipe(&fd);
	if (pid == 0)
		child_hold(fd, c, 8, NULL);
	harness_recv(fd, &r, sizeof(r));
	st = stats_of(c);
	ok(r == 0 && st.pools[0].free_len == idle.free_len - 16 * MiB,
	   "child_holds_16_MiB_of_the_pool");
	kill(pid, SIGKILL);
	status = wait_status(pid);
	close(fd);
	ok(status == 128 + SIGKILL && harness_wait_stats(c, pool_free_is, &idle),
	   "sigkilled_child_returns_its_16_MiB");
	ok(stats_of(c).my_nbuffers == 0, "parent_holds_nothing_of_the_killed_child");

	/* Execs: its memory comes back while the new program runs, and the
	 * new program holds no socket, neither its own nor the parent's. */
	{
		char *argv[] = { "/bin/sh", "-c", "read line", NULL };
		struct contig_client *other = harness_connect(&d);
		uint32_t sessions_before_exec = stats_of(c).nsessions - 1; /* after other's close */
		int sockets;

		pid = fork_with_pipe(&fd);
		if (pid == 0)
			child_hold(fd, c, 2, argv);
		harness_recv(fd, &r, sizeof(r));
		ok(r == 0, "child_allocates_before_exec");
		ok(harness_wait_stats(c, pool_free_is, &idle),
		   "child_memory_comes_back_when_it_execs");
		sockets = sockets_of(pid);
		/* stdin is the test's socketpair: the one socket it may hold. */
		ok(sockets == 1, "execd_program_holds_no_contigd_socket (%d sockets)", sockets);
		contig_disconnect(other);
		ok(harness_wait_stats(c, sessions_are, &sessions_before_exec),
		   "a_session_the_execd_program_inherited_closes_with_its_parent");
		close(fd); /* `read` sees EOF */
		status = wait_status(pid);
		ok(status == 1 || status == 0, "execd_program_ran (status %d)", status);
	}
}

/* ---- 4. parent and children at once, through the shim ---- */

/* @rounds alloc/fill/pagemap-check/free through the Windows routines.
 * Returns the failures. */
static int wdm_rounds(int rounds, unsigned seed)
{
	static const SIZE_T sizes[] = { 4096, 64 * 1024, 300 * 1024, 1 * MiB, 2 * MiB };
	PHYSICAL_ADDRESS lowest = { 0 }, highest = { .QuadPart = -1 }, boundary = { 0 };
	int failures = 0;

	for (int i = 0; i < rounds; i++) {
		SIZE_T len = sizes[rand_r(&seed) % (sizeof(sizes) / sizeof(sizes[0]))];
		uint8_t *p = MmAllocateContiguousMemorySpecifyCache(len, lowest, highest, boundary,
								    MmCached);

		if (!p) {
			fprintf(stderr, "pid %d round %d: allocate %zu: %s\n", (int)getpid(), i,
				(size_t)len, contig_last_message());
			failures++;
			continue;
		}
		for (SIZE_T off = 0; off < len; off += 4096)
			p[off] = (uint8_t)(seed + off);
		for (SIZE_T off = 0; off < len; off += len > 64 * 1024 ? 61440 : 4096)
			if (harness_phys_of(getpid(), p + off) !=
			    (uint64_t)MmGetPhysicalAddress(p + off).QuadPart) {
				fprintf(stderr, "pid %d round %d: pagemap disagrees at +%zu\n",
					(int)getpid(), i, (size_t)off);
				failures++;
				break;
			}
		for (SIZE_T off = 0; off < len; off += 4096)
			if (p[off] != (uint8_t)(seed + off)) {
				failures++;
				break;
			}
		MmFreeContiguousMemory(p);
	}
	return failures;
}

static void test_parent_and_children_at_once(struct contig_client *c)
{
	struct pool_free idle = pool_idle(c);
	struct contig_stats before = stats_of(c), after;
	int fds[NCHILDREN], failures = 0, parent_failures, bad_children = 0;
	pid_t pids[NCHILDREN];
	char go = 1;

	/* (The shim is connected: the children inherit its client.) */
	for (int i = 0; i < NCHILDREN; i++) {
		pids[i] = fork_with_pipe(&fds[i]);
		if (pids[i] == 0) {
			int f;

			harness_recv(fds[i], &go, 1);
			f = wdm_rounds(ROUNDS, 1000u + (unsigned)i);
			harness_send(fds[i], &f, sizeof(f));
			_exit(0);
		}
	}
	for (int i = 0; i < NCHILDREN; i++)
		harness_send(fds[i], &go, 1);
	parent_failures = wdm_rounds(ROUNDS, 7u);
	for (int i = 0; i < NCHILDREN; i++) {
		int f = -1;

		if (!harness_try_recv(fds[i], &f, sizeof(f)) || f < 0)
			bad_children++;
		else
			failures += f;
		bad_children += wait_status(pids[i]) != 0;
		close(fds[i]);
	}
	ok(bad_children == 0, "four_children_finish_their_%d_rounds", ROUNDS);
	ok(failures == 0 && parent_failures == 0,
	   "parent_and_4_children_allocate_at_once_without_failure (%d + %d)", parent_failures,
	   failures);
	after = stats_of(c);
	ok(after.nbugchecks == before.nbugchecks, "no_misuse_reported (%llu before, %llu after)",
	   (unsigned long long)before.nbugchecks, (unsigned long long)after.nbugchecks);
	/* (The rounds ran on the shim's client: its empty warm frames go back.) */
	ok(contig_trim(ContigWdmClient()) == 0 && harness_wait_stats(c, pool_free_is, &idle),
	   "every_frame_back_after_the_rounds");
}

/* ---- 5. fork while another thread has a request in flight ---- */

struct spinner {
	struct contig_client *c;
	atomic_bool stop;
	atomic_int in_call;
	int failures;
	unsigned long calls;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	struct contig_alloc_req req;
	struct contig_buffer b;

	contig_alloc_req_init(&req, 16 * 1024);
	while (!atomic_load(&s->stop)) {
		atomic_fetch_add(&s->in_call, 1);
		if (contig_alloc(s->c, &req, &b) < 0)
			s->failures++;
		else if (contig_free(s->c, b.virt) < 0)
			s->failures++;
		atomic_fetch_sub(&s->in_call, 1);
		s->calls++;
	}
	return NULL;
}

static int child_after_busy_fork(struct contig_client *c)
{
	struct contig_alloc_req req;
	struct contig_buffer b;
	uint64_t phys = 0;

	contig_alloc_req_init(&req, 64 * 1024);
	if (contig_alloc(c, &req, &b) < 0)
		return 1;
	memset(b.virt, 0x5a, b.len);
	if (harness_phys_of(getpid(), b.virt) != b.phys)
		return 2;
	if (contig_virt_to_phys(c, (uint8_t *)b.virt + 4096, &phys) < 0 || phys != b.phys + 4096)
		return 3;
	if (contig_free(c, b.virt) < 0)
		return 4;
	contig_disconnect(c);
	return 0;
}

static void test_fork_while_a_request_is_in_flight(void)
{
	struct spinner s = { .c = harness_connect(&d) };
	pthread_t threads[2];
	int bad = 0, busy_forks = 0;

	for (int i = 0; i < 2; i++)
		pthread_create(&threads[i], NULL, spin, &s);
	for (int i = 0; i < NFORKS; i++) {
		pid_t pid;
		int status;

		busy_forks += atomic_load(&s.in_call) > 0;
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			bail_out("fork: %s", strerror(errno));
		if (pid == 0) {
			alarm(CHILD_ALARM_S);
			_exit(child_after_busy_fork(s.c));
		}
		status = wait_status(pid);
		if (status != 0) {
			diag("  fork %d: child status %d", i, status);
			bad++;
		}
	}
	atomic_store(&s.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	diag("%d of %d forks with a call under way; %lu calls in the threads", busy_forks, NFORKS,
	     s.calls);
	ok(bad == 0, "%d_children_forked_amid_requests_allocate_and_exit_cleanly", NFORKS);
	ok(s.failures == 0, "parent_threads_see_no_failure_across_the_forks");
	ok(stats_of(s.c).my_nbuffers == 0, "parent_session_holds_exactly_what_its_threads_hold");
	contig_disconnect(s.c);
}

int main(void)
{
	static const char *const args[] = { "--pool", POOL, NULL };
	struct contig_client *c;
	int status;

	harness_daemon_start(&d, args);
	c = harness_connect(&d);

	test_child_is_a_new_client(c);
	test_child_misuse_is_reported_on_its_own_session(c);
	test_child_memory_comes_back(c);
	test_parent_and_children_at_once(c);
	test_fork_while_a_request_is_in_flight();

	contig_disconnect(c);
	status = harness_daemon_stop(&d);
	ok(status == 0, "daemon_stops_cleanly (status %d)", status);
	return done_testing();
}
