/* harness.h - what every integration test needs: the real contigd binary on
 * a socket in a temporary directory, client processes, and an independent
 * reading of physical addresses from /proc/<pid>/pagemap.
 *
 * Readiness is the daemon's own sd_notify("READY=1") on a NOTIFY_SOCKET the
 * harness creates: no sleeps. With CONTIGD_VALGRIND=1 in the environment the
 * daemon runs under valgrind (memcheck, leaks are errors) and
 * harness_daemon_stop() reports valgrind's verdict through the exit status.
 */
#ifndef CONTIG_HARNESS_H
#define CONTIG_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "contig.h"
#include "tap.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* Small arithmetic the tests share. */
#define HARNESS_PAGE UINT64_C(4096)

/* @len rounded up to 4 KiB, as the daemon rounds a buffer. */
static inline uint64_t harness_round_page(uint64_t len)
{
	return (len + HARNESS_PAGE - 1) & ~(HARNESS_PAGE - 1);
}

/* The smallest power of two >= @x, at least a page. */
static inline uint64_t harness_pow2_ceil(uint64_t x)
{
	uint64_t p = HARNESS_PAGE;

	while (p < x)
		p <<= 1;
	return p;
}

/* <B>/@name (a program of the build: "contigd", "contigctl"), found from
 * this test's own path, <B>/tests/integration/<test>. */
void harness_build_path(const char *name, char *buf, size_t len);
/* harness_build_path("contigd", ...). */
void harness_daemon_path(char *buf, size_t len);

/* In a child: close every descriptor inherited from the parent but @keep
 * (a copy of the parent's client sockets would keep those sessions open). */
void harness_close_inherited(int keep);

/* qsort comparator for uint64_t. */
static inline int harness_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A descriptor the daemon gave its service manager to keep (sd_notify
 * FDSTORE=1 with FDNAME=), as the harness's emulation of systemd's file
 * descriptor store holds it. */
struct harness_stored_fd {
	int fd;
	char name[64];
};

#define HARNESS_MAX_STORED 16

struct harness_daemon {
	pid_t pid;
	char dir[64];    /* temporary directory, removed at stop */
	char sock[128];  /* socket path inside it */
	int log_fd;      /* the daemon's stderr, readable by the test */
	char log_path[128];
	/* What the daemon stored up to READY=1 (FDSTORE=1; FDSTOREREMOVE=1
	 * takes one out), held across harness_daemon_kill() and given back
	 * by harness_daemon_restart_how(); closed at stop. */
	struct harness_stored_fd stored[HARNESS_MAX_STORED];
	int nstored;
};

/* Start build/contigd with --socket in a new temp dir and @args (NULL-
 * terminated, e.g. "--pool", "0:2M:32M", NULL), wait for READY=1 (bail out
 * after 120 s or if it exits). Sets CONTIGD_SOCKET for clients. */
void harness_daemon_start(struct harness_daemon *d, const char *const *args);

/* How to start it, beyond the arguments. */
struct harness_spawn {
	bool activate; /* pass @listen_fd as systemd's socket activation does */
	int listen_fd;
	bool journal;  /* set JOURNAL_STREAM to the daemon's stderr, as systemd does */
	/* As a unit with PrivateMounts=yes: the daemon runs in a mount
	 * namespace of its own, so its hugetlbfs mounts are invisible to
	 * everyone else and die with it. */
	bool private_mounts;
	/* As systemd after a restart: pass the descriptors the last instance
	 * stored (harness_daemon.stored) with LISTEN_FDS, LISTEN_PID and
	 * LISTEN_FDNAMES (after @listen_fd when @activate). */
	bool pass_stored;
	/* A directory bind-mounted over /etc for the daemon (in a mount
	 * namespace of its own, as private_mounts): the user database it
	 * sees, e.g. none at all. Needs harness_private_mounts_missing() to
	 * be NULL. */
	const char *etc_dir;
	/* The daemon binary to run (NULL: the build's, harness_daemon_path()),
	 * e.g. the contigd of an older commit (test_upgrade). */
	const char *binary;
};

/* Can a daemon be started with harness_spawn.private_mounts here? NULL if
 * so, else why not, for a skip reason (a static string): no mount
 * namespaces (a container without CAP_SYS_ADMIN), or "/" not a mount point
 * (a chroot: the kernel then refuses to make its propagation private).
 * Probed in a child; this process's namespace is untouched. */
const char *harness_private_mounts_missing(void);

/* harness_daemon_start(), started the way @how says (NULL: plainly). A
 * child that cannot set up what @how asks says why in the daemon's log and
 * exits 126, which harness_daemon_start_how() reports with that log. */
void harness_daemon_start_how(struct harness_daemon *d, const char *const *args,
			      const struct harness_spawn *how);

/* Start it expecting failure: returns its exit status (>= 0) and fills
 * @log (its stderr) up to @loglen. Never READY. */
int harness_daemon_fail(const char *const *args, char *log, size_t loglen);
/* The same, started the way @how says (NULL: plainly). */
int harness_daemon_fail_how(const char *const *args, const struct harness_spawn *how, char *log,
			    size_t loglen);

/* SIGTERM, wait, clean up. Returns the exit status (0 = clean; 99 =
 * valgrind found errors), or 128 + signal. */
int harness_daemon_stop(struct harness_daemon *d);

/* Does the daemon's log so far contain @needle? */
bool harness_daemon_log_has(const struct harness_daemon *d, const char *needle);

/* ---- restarts (issue 7) ---- */

/* Send @sig (SIGKILL: a crash; SIGTERM: a stop) and wait for the daemon to
 * exit, leaving what it leaves: the temp dir, the socket file and the log
 * stay for harness_daemon_restart(); nothing is cleaned up. Returns the exit
 * status as harness_daemon_stop() does. */
int harness_daemon_kill(struct harness_daemon *d, int sig);

/* Start the daemon again after harness_daemon_kill(): same directory, same
 * --socket, the same log (appended to), with @args; wait for READY=1 as
 * harness_daemon_start() does. */
void harness_daemon_restart(struct harness_daemon *d, const char *const *args);
/* The same, started the way @how says (NULL: plainly). What the new daemon
 * stores up to READY=1 replaces what was stored. */
void harness_daemon_restart_how(struct harness_daemon *d, const char *const *args,
				const struct harness_spawn *how);

/* Bytes in the daemon's log so far: a mark for harness_daemon_log_since(). */
off_t harness_daemon_log_len(const struct harness_daemon *d);

/* Does the daemon's log from byte @from on contain @needle, ignoring case? */
bool harness_daemon_log_since(const struct harness_daemon *d, off_t from, const char *needle);

/* Where a daemon on socket @sock keeps its state (daemon/main.c
 * instance_name(): "contigd" for the default socket, else "contigd-" and
 * 16 hex digits of the FNV-1a hash of the path). */
void harness_instance_name(const char *sock, char *buf, size_t len);
/* /run/contigd/<instance>.journal. */
void harness_journal_path(const char *sock, char *buf, size_t len);
/* The pid of the frame keeper of the daemon on @sock (0: none running:
 * no pid file, or no such process), and stopping it (SIGKILL), waiting until it
 * is gone with the frames only it held. */
pid_t harness_keeper_pid(const char *sock);
void harness_keeper_stop(const char *sock);

/* For a test that ends early after a crash it caused: remove what a dead
 * daemon of socket @sock left in /run/contigd (frame files, which pin
 * hugepages, their mounts, the journal, the locks). Never while that daemon
 * runs. */
void harness_instance_purge(const char *sock);

/* Like harness_try_recv(), giving up after @timeout_ms (false: EOF, error
 * or timeout, with errno ETIMEDOUT for the last). */
bool harness_recv_timeout(int fd, void *buf, size_t len, int timeout_ms);

/* Physical address of @virt in process @pid, read from /proc/@pid/pagemap
 * (the page must be mapped). Returns 0 when it is not present. */
uint64_t harness_phys_of(pid_t pid, const void *virt);

/* Check from /proc/@pid/pagemap that [virt, virt + len) is backed by
 * physically contiguous memory starting at @phys: every 4 KiB page at
 * phys + offset. */
bool harness_phys_contiguous(pid_t pid, const void *virt, uint64_t len, uint64_t phys);

/* A client process: @fn runs in a child with one end of a socketpair
 * (@fd) to talk to the parent, and its return value is the exit status. */
struct harness_child {
	pid_t pid;
	int fd; /* parent's end */
};
void harness_child_start(struct harness_child *c, int (*fn)(int fd, void *arg), void *arg);
/* Wait for the child; returns its exit status, or 128 + signal. */
int harness_child_wait(struct harness_child *c);

/* Exactly @len bytes over a socket or pipe (bails out on EOF/error). */
void harness_send(int fd, const void *buf, size_t len);
void harness_recv(int fd, void *buf, size_t len);
/* Like harness_recv, but returns false on EOF instead of bailing out. */
bool harness_try_recv(int fd, void *buf, size_t len);

/* Run the build's @name ("contigctl") with @args (NULL-terminated, at most
 * 14) as @uid (0: stays root; else also as that uid's gid), its stdout into
 * *@ret_out (malloc'd, NUL-terminated, the caller frees) and the start of
 * its stderr into @err (@errlen bytes, for diagnostics). Returns its exit
 * status, or 128 + signal. Bails out if it cannot be run. */
int harness_run_program(const char *name, uid_t uid, const char *const *args, char **ret_out,
			char *err, size_t errlen);

/* Connect a libcontig client to the daemon (bails out on failure). */
struct contig_client *harness_connect(const struct harness_daemon *d);

/* Poll the daemon's stats (through @c) until @pred holds, at most 30 s.
 * Returns whether it held. Not a sleep: each poll is a round trip. */
bool harness_wait_stats(struct contig_client *c, bool (*pred)(const struct contig_stats *, void *),
			void *arg);

/* A number from a sysfs or procfs file such as nr_hugepages (bails out if
 * it cannot be read), and writing one (bails out if it cannot be written:
 * reading it back tells what the kernel made of it). */
uint64_t harness_read_u64(const char *path);
void harness_write_u64(const char *path, uint64_t value);

/* A kernel hugepage pool churned on purpose (test_reserve, bench_reserve):
 * harness_scatter() takes 2 * @nfree 2 MiB hugepages (raising
 * nr_hugepages if too few are free), sorts them by the physical address
 * its own pagemap gives, and frees every other one. The kernel's free list
 * then starts with @nfree pages no two of which are adjacent (between any
 * two lies one still held, or a gap), as on a machine that has run a
 * while. harness_unscatter() frees the rest and lowers nr_hugepages by
 * what scatter added. Bails out if the pages cannot be had. */
struct harness_scatter {
	struct harness_held_page {
		uint8_t *virt; /* NULL once freed */
		uint64_t phys;
	} *pages;
	size_t npages;
	uint64_t nr_added;
};
void harness_scatter(struct harness_scatter *sc, size_t nfree);
void harness_unscatter(struct harness_scatter *sc);

/* Free hugepages of @page_len on node 0 according to the kernel. */
uint64_t harness_free_hugepages(uint64_t page_len);

/* The lock that processes sharing a machine hold while they start contigd
 * or size the kernel's hugepage pool, e.g.
 * `flock /tmp/contigd-hugepages.lock make test`. */
#define HARNESS_HUGEPAGES_LOCK "/tmp/contigd-hugepages.lock"

/* May this test take the kernel's hugepage counts (nr_hugepages,
 * free_hugepages) as its own until it exits? Only while it holds
 * HARNESS_HUGEPAGES_LOCK: inherited from whoever started it (flock(1)
 * passes its descriptor on), or taken now if nobody holds it (kept until
 * exit). If another process holds it, false, and @why says so. */
bool harness_hugepages_alone(char *why, size_t len);

#endif
