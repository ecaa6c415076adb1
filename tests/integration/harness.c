/* harness.c - real daemon, real client processes, independent pagemap
 * reads. See harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 120000

/* What the unit gives the daemon (LimitNOFILE= in contigd.service.in). */
#define UNIT_NOFILE 1048576
/* Below this hard limit the daemon refuses the tests' pools with the
 * default max_connections (1024) plus a descriptor per frame. */
#define MIN_NOFILE 2048
#define CAP_SYS_ADMIN_BIT 21

static bool has_cap_sys_admin(void)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff >> CAP_SYS_ADMIN_BIT & 1;
}

/* Before any test's main(): play the service manager where it matters (a
 * hard descriptor limit too low for the daemon, such as a container's
 * 1024, is raised to the unit's LimitNOFILE=, as root may), and skip the
 * whole test file, saying why, where the daemon cannot run at all: not
 * root, no CAP_SYS_ADMIN (an unprivileged container), no 2 MiB hugepages,
 * or too few of them free with nr_hugepages read-only. Every program
 * linked with the harness runs as root where it runs at all. */
__attribute__((constructor)) static void harness_environment(void)
{
	struct rlimit lim;
	uint64_t nr_open = UNIT_NOFILE, nfree;

	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_max < MIN_NOFILE) {
		FILE *f = fopen("/proc/sys/fs/nr_open", "re");
		unsigned long long v;

		if (f && fscanf(f, "%llu", &v) == 1 && v < nr_open)
			nr_open = v;
		if (f)
			fclose(f);
		if (lim.rlim_max < nr_open) {
			lim.rlim_max = nr_open;
			setrlimit(RLIMIT_NOFILE, &lim); /* needs CAP_SYS_RESOURCE: checked below */
			getrlimit(RLIMIT_NOFILE, &lim);
		}
	}
	if (geteuid() != 0)
		skip_all("not root: the daemon needs root (CAP_SYS_ADMIN, hugepages) and the "
			 "tests start clients as other users");
	if (!has_cap_sys_admin())
		skip_all("no CAP_SYS_ADMIN (an unprivileged container?): the daemon needs it to "
			 "read physical addresses and mount hugetlbfs");
	if (access("/sys/kernel/mm/hugepages/hugepages-2048kB", F_OK) < 0)
		skip_all("no 2 MiB hugepages here (/sys/kernel/mm/hugepages/hugepages-2048kB: %s)",
			 strerror(errno));
	if (lim.rlim_max < MIN_NOFILE)
		skip_all("the hard descriptor limit is %llu and cannot be raised (no "
			 "CAP_SYS_RESOURCE): the tests' daemons need about %d, one per frame and "
			 "connection (ulimit -Hn; podman or docker --ulimit nofile=)",
			 (unsigned long long)lim.rlim_max, MIN_NOFILE);
	nfree = harness_free_hugepages(2 * MiB);
	if (nfree < 32 && access("/proc/sys/vm/nr_hugepages", W_OK) < 0)
		skip_all("%llu free 2 MiB hugepages and /proc/sys/vm/nr_hugepages is not writable "
			 "(%s): reserve 256 before (echo 256 > /proc/sys/vm/nr_hugepages)",
			 (unsigned long long)nfree, strerror(errno));
}

void harness_close_inherited(int keep)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name);

		if (fd > 2 && fd != keep && fd != dirfd(dir))
			close(fd);
	}
	closedir(dir);
}

void harness_build_path(const char *name, char *buf, size_t len)
{
	char exe[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *p;

	if (n < 0)
		bail_out("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	for (int i = 0; i < 3 && (p = strrchr(exe, '/')); i++)
		*p = '\0';
	snprintf(buf, len, "%s/%s", exe, name);
}

void harness_daemon_path(char *buf, size_t len)
{
	harness_build_path("contigd", buf, len);
}

static int notify_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(addr.sun_path))
		bail_out("notify socket path too long: %s", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		bail_out("notify socket %s: %s", path, strerror(errno));
	return fd;
}

/* In the child: the descriptors systemd would pass, as fds 3.. with
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES. Returns false on failure. */
static bool pass_fds(const struct harness_daemon *d, const struct harness_spawn *how)
{
	int fds[HARNESS_MAX_STORED + 1], n = 0;
	char names[HARNESS_MAX_STORED * 66 + 32] = "", count[16], self[16];
	size_t used = 0;

	if (how->activate) {
		fds[n++] = how->listen_fd;
		used += (size_t)snprintf(names, sizeof(names), "contigd.socket");
	}
	for (int i = 0; how->pass_stored && i < d->nstored; i++) {
		fds[n++] = d->stored[i].fd;
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
					 used ? ":" : "", d->stored[i].name);
	}
	/* move them out of the way first, then to 3, 4, ... */
	for (int i = 0; i < n; i++) {
		fds[i] = fcntl(fds[i], F_DUPFD, 64);
		if (fds[i] < 0)
			return false;
	}
	for (int i = 0; i < n; i++)
		if (dup2(fds[i], 3 + i) != 3 + i || fcntl(3 + i, F_SETFD, 0) < 0)
			return false;
	snprintf(count, sizeof(count), "%d", n);
	snprintf(self, sizeof(self), "%d", (int)getpid());
	setenv("LISTEN_FDS", count, 1);
	setenv("LISTEN_PID", self, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	return true;
}

/* In the child before exec: say on stderr (the daemon's log, which
 * wait_ready() shows) why the daemon could not be started, and exit with
 * @status (126, or 127 for a failed exec, as a shell does). */
__attribute__((noreturn, format(printf, 2, 3))) static void spawn_fail(int status,
									const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "harness: cannot start contigd: %s\n", msg);
	_exit(status);
}

/* Enter a mount namespace of our own in which no mount propagates back
 * (what PrivateMounts=yes gives a unit). Returns NULL, or why not. */
static const char *private_mounts_enter(void)
{
	static char why[256];

	if (unshare(CLONE_NEWNS) < 0) {
		snprintf(why, sizeof(why),
			 "no mount namespace: unshare(CLONE_NEWNS): %s%s", strerror(errno),
			 errno == EPERM ? " (no CAP_SYS_ADMIN here: a container?)" : "");
		return why;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		/* The kernel changes propagation only at the root of a mount;
		 * in a plain chroot "/" is a directory inside one. */
		snprintf(why, sizeof(why),
			 "no private mount propagation: mount(\"/\", MS_REC|MS_PRIVATE): %s%s",
			 strerror(errno),
			 errno == EINVAL ? " (/ is not a mount point: a chroot?)" : "");
		return why;
	}
	return NULL;
}

const char *harness_private_mounts_missing(void)
{
	static char why[256];
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		const char *reason = private_mounts_enter();

		if (reason && write(pipefd[1], reason, strlen(reason)) < 0)
			_exit(2);
		_exit(reason ? 1 : 0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], why, sizeof(why) - 1);
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid)
		bail_out("waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	if (n <= 0)
		snprintf(why, sizeof(why), "the probe for a private mount namespace failed (status 0x%x)",
			 (unsigned)status);
	else
		why[n] = '\0';
	return why;
}

static pid_t spawn(const struct harness_daemon *d, const char *sock, const char *notify,
		   const char *const *args, int log_fd, const struct harness_spawn *how)
{
	const char *argv[64];
	char bin[PATH_MAX];
	int argc = 0;
	pid_t pid;

	if (how && how->binary)
		snprintf(bin, sizeof(bin), "%s", how->binary);
	else
		harness_daemon_path(bin, sizeof(bin));
	if (getenv("CONTIGD_VALGRIND") && *getenv("CONTIGD_VALGRIND") == '1') {
		argv[argc++] = "valgrind";
		argv[argc++] = "-q";
		argv[argc++] = "--error-exitcode=99";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--show-leak-kinds=definite,indirect";
		argv[argc++] = "--errors-for-leak-kinds=definite,indirect";
	}
	argv[argc++] = bin;
	if (sock) {
		argv[argc++] = "--socket";
		argv[argc++] = sock;
	}
	for (int i = 0; args && args[i] && argc < 62; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		/* A test that bails out or crashes must not leave a daemon
		 * holding hugepages behind: it gets SIGTERM when we die. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(log_fd, STDERR_FILENO) < 0)
			_exit(126); /* nowhere to say why: the exit status must do */
		if (notify)
			setenv("NOTIFY_SOCKET", notify, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		if (how && (how->private_mounts || how->etc_dir)) {
			const char *why = private_mounts_enter();

			if (why)
				spawn_fail(126, "%s", why);
		}
		if (how && how->etc_dir && mount(how->etc_dir, "/etc", NULL, MS_BIND, NULL) < 0)
			spawn_fail(126, "bind-mounting %s over /etc: %s", how->etc_dir,
				   strerror(errno));
		if (how && how->pass_stored && !pass_fds(d, how))
			spawn_fail(126, "passing the stored descriptors: %s", strerror(errno));
		else if (how && how->activate) {
			/* What systemd does for a socket unit: the socket as fd 3,
			 * LISTEN_FDS=1 and LISTEN_PID naming the process it is for. */
			char self[16];
			int fd = how->listen_fd == 3 ? 3 : dup2(how->listen_fd, 3);

			if (fd != 3 || fcntl(3, F_SETFD, 0) < 0)
				spawn_fail(126, "the listening socket as fd 3: %s", strerror(errno));
			snprintf(self, sizeof(self), "%d", (int)getpid());
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_PID", self, 1);
		}
		if (how && how->journal) {
			/* As if stderr were the journal: JOURNAL_STREAM names it. */
			struct stat st;
			char stream[64];

			if (fstat(STDERR_FILENO, &st) < 0)
				spawn_fail(126, "fstat stderr: %s", strerror(errno));
			snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino);
			setenv("JOURNAL_STREAM", stream, 1);
		}
		execvp(argv[0], (char *const *)argv);
		spawn_fail(127, "exec %s: %s", argv[0], strerror(errno));
	}
	return pid;
}

void harness_daemon_start(struct harness_daemon *d, const char *const *args)
{
	harness_daemon_start_how(d, args, NULL);
}

static void stored_remove(struct harness_daemon *d, const char *name)
{
	for (int i = 0; i < d->nstored; i++)
		if (!strcmp(d->stored[i].name, name)) {
			close(d->stored[i].fd);
			d->stored[i] = d->stored[--d->nstored];
			return;
		}
}

/* One notify datagram into @buf (NUL-terminated); what it stores or
 * removes (FDSTORE=1 / FDSTOREREMOVE=1 with FDNAME=) is done to
 * d->stored, as systemd's descriptor store would. Returns its length, or
 * -1. */
static ssize_t recv_notify(struct harness_daemon *d, int nfd, char *buf, size_t len)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = { buf, len - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	int fds[8], nfds = 0;
	const char *name;
	char fdname[64] = "";
	ssize_t n = recvmsg(nfd, &msg, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (int i = 0; i < k && nfds < 8; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	name = strstr(buf, "FDNAME=");
	if (name)
		sscanf(name + 7, "%63[^\n]", fdname);
	if (strstr(buf, "FDSTOREREMOVE=1") && *fdname)
		stored_remove(d, fdname);
	if (strstr(buf, "FDSTORE=1") && !strstr(buf, "FDSTOREREMOVE=1")) {
		for (int i = 0; i < nfds; i++) {
			if (*fdname)
				stored_remove(d, fdname); /* a name holds one descriptor */
			if (d->nstored == HARNESS_MAX_STORED || !*fdname) {
				close(fds[i]);
				continue;
			}
			d->stored[d->nstored].fd = fds[i];
			snprintf(d->stored[d->nstored].name, sizeof(d->stored[0].name), "%s", fdname);
			d->nstored++;
		}
		nfds = 0;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return n;
}

/* Wait for READY=1 on @nfd from d->pid (bail out after READY_TIMEOUT_MS
 * or if it exits first, showing its log from byte @log_from), then close
 * and remove the notify socket. */
static void wait_ready(struct harness_daemon *d, int nfd, const char *notify, off_t log_from)
{
	struct timespec start, now;
	char buf[256];

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = nfd, .events = POLLIN };
		int status;
		ssize_t n;

		if (poll(&p, 1, 200) > 0) {
			n = recv_notify(d, nfd, buf, sizeof(buf));
			if (n > 0 && strstr(buf, "READY=1"))
				break;
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			char log[4096] = "";
			ssize_t m = pread(d->log_fd, log, sizeof(log) - 1, log_from);

			if (m > 0)
				log[m] = '\0';
			if (WIFEXITED(status))
				bail_out("contigd exited with status %d before READY=1: %s",
					 WEXITSTATUS(status), *log ? log : "(nothing in its log)");
			bail_out("contigd was killed by signal %d before READY=1: %s", WTERMSIG(status),
				 *log ? log : "(nothing in its log)");
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 > READY_TIMEOUT_MS) {
			kill(d->pid, SIGKILL);
			bail_out("contigd not ready after %d s", READY_TIMEOUT_MS / 1000);
		}
	}
	close(nfd);
	unlink(notify);
}

void harness_daemon_start_how(struct harness_daemon *d, const char *const *args,
			      const struct harness_spawn *how)
{
	char notify[160];
	int nfd;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/contigd-test.XXXXXX");
	if (!mkdtemp(d->dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%s/contigd.sock", d->dir);
	snprintf(notify, sizeof(notify), "%s/notify", d->dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s/contigd.log", d->dir);
	d->log_fd = open(d->log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (d->log_fd < 0)
		bail_out("open %s: %s", d->log_path, strerror(errno));
	nfd = notify_socket(notify);
	d->pid = spawn(d, d->sock, notify, args, d->log_fd, how);
	setenv("CONTIGD_SOCKET", d->sock, 1);
	wait_ready(d, nfd, notify, 0);
}

int harness_daemon_fail(const char *const *args, char *log, size_t loglen)
{
	return harness_daemon_fail_how(args, NULL, log, loglen);
}

int harness_daemon_fail_how(const char *const *args, const struct harness_spawn *how, char *log,
			    size_t loglen)
{
	char dir[] = "/tmp/contigd-fail.XXXXXX", path[64];
	int status, fd;
	ssize_t n;
	pid_t pid;

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid = spawn(NULL, NULL, NULL, args, fd, how);
	if (waitpid(pid, &status, 0) != pid)
		bail_out("waitpid: %s", strerror(errno));
	n = pread(fd, log, loglen - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	rmdir(dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int harness_daemon_stop(struct harness_daemon *d)
{
	int status;

	if (kill(d->pid, SIGTERM) < 0 || waitpid(d->pid, &status, 0) != d->pid)
		bail_out("stopping contigd: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char log[8192] = "";
		ssize_t n = pread(d->log_fd, log, sizeof(log) - 1, 0);

		if (n > 0)
			log[n] = '\0';
		diag("contigd log:\n%s", log);
	}
	while (d->nstored)
		stored_remove(d, d->stored[0].name);
	close(d->log_fd);
	unlink(d->log_path);
	unlink(d->sock);
	rmdir(d->dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool harness_daemon_log_has(const struct harness_daemon *d, const char *needle)
{
	static char log[1 << 20];
	ssize_t n = pread(d->log_fd, log, sizeof(log) - 1, 0);

	if (n <= 0)
		return false;
	log[n] = '\0';
	return strstr(log, needle) != NULL;
}

uint64_t harness_phys_of(pid_t pid, const void *virt)
{
	char path[64];
	uint64_t entry = 0;
	long page = sysconf(_SC_PAGESIZE);
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bail_out("open %s: %s", path, strerror(errno));
	if (pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)virt / page * 8)) != 8)
		entry = 0;
	close(fd);
	if (!(entry >> 63))
		return 0;
	return (entry & ((UINT64_C(1) << 55) - 1)) * page + (uintptr_t)virt % page;
}

bool harness_phys_contiguous(pid_t pid, const void *virt, uint64_t len, uint64_t phys)
{
	for (uint64_t off = 0; off < len; off += 4096) {
		uint64_t got = harness_phys_of(pid, (const char *)virt + off);

		if (got != phys + off) {
			diag("  offset 0x%llx: pagemap says 0x%llx, expected 0x%llx",
			     (unsigned long long)off, (unsigned long long)got,
			     (unsigned long long)(phys + off));
			return false;
		}
	}
	return true;
}

void harness_child_start(struct harness_child *c, int (*fn)(int fd, void *arg), void *arg)
{
	int sv[2];

	fflush(stdout);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bail_out("socketpair: %s", strerror(errno));
	c->pid = fork();
	if (c->pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (c->pid == 0) {
		close(sv[0]);
		_exit(fn(sv[1], arg));
	}
	close(sv[1]);
	c->fd = sv[0];
}

int harness_child_wait(struct harness_child *c)
{
	int status;

	close(c->fd);
	if (waitpid(c->pid, &status, 0) != c->pid)
		bail_out("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void harness_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			bail_out("harness_send: %s", n < 0 ? strerror(errno) : "closed");
		p += n;
		len -= (size_t)n;
	}
}

bool harness_try_recv(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

void harness_recv(int fd, void *buf, size_t len)
{
	if (!harness_try_recv(fd, buf, len))
		bail_out("harness_recv: peer closed or failed");
}

int harness_run_program(const char *name, uid_t uid, const char *const *args, char **ret_out,
			char *err, size_t errlen)
{
	const char *argv[16];
	char bin[4096];
	size_t cap = 65536, n = 0;
	char *out = malloc(cap);
	int pipefd[2], errfd[2], argc = 0, status;
	ssize_t nerr;
	pid_t pid;

	harness_build_path(name, bin, sizeof(bin));
	argv[argc++] = bin;
	for (int i = 0; args[i] && argc < 15; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	fflush(stdout);
	if (!out || pipe(pipefd) < 0 || pipe(errfd) < 0)
		bail_out("running %s: pipe: %s", name, strerror(errno));
	pid = fork();
	if (pid < 0)
		bail_out("running %s: fork: %s", name, strerror(errno));
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(errfd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		close(errfd[0]);
		close(errfd[1]);
		if (uid && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)) {
			dprintf(STDERR_FILENO, "cannot become uid %u: %s\n", (unsigned)uid,
				strerror(errno));
			_exit(126);
		}
		execv(bin, (char *const *)argv);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	close(errfd[1]);
	for (;;) {
		ssize_t got;

		if (n + 1 >= cap && !(out = realloc(out, cap *= 2)))
			bail_out("running %s: out of memory", name);
		got = read(pipefd[0], out + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	out[n] = '\0';
	close(pipefd[0]);
	/* (stderr is a few lines at most: it fits the pipe meanwhile) */
	nerr = errlen ? read(errfd[0], err, errlen - 1) : 0;
	if (errlen)
		err[nerr > 0 ? nerr : 0] = '\0';
	close(errfd[0]);
	while (waitpid(pid, &status, 0) != pid)
		if (errno != EINTR)
			bail_out("running %s: waitpid: %s", name, strerror(errno));
	*ret_out = out;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct contig_client *harness_connect(const struct harness_daemon *d)
{
	struct contig_client *c;
	int r = contig_connect(d->sock, &c);

	if (r < 0)
		bail_out("contig_connect %s: %s", d->sock, contig_last_message());
	return c;
}

bool harness_wait_stats(struct contig_client *c, bool (*pred)(const struct contig_stats *, void *),
			void *arg)
{
	struct timespec pause = { 0, 1000000 }; /* between polls, not a synchronisation */

	for (int i = 0; i < 30000; i++) {
		struct contig_stats st;

		if (contig_get_stats(c, &st) < 0)
			return false;
		if (pred(&st, arg))
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

uint64_t harness_free_hugepages(uint64_t page_len)
{
	char path[128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
		 (unsigned long long)(page_len >> 10));
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/* An open descriptor of ours on the file @st names, or -1. */
static int fd_on(const struct stat *st)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!dir)
		return -1;
	while ((e = readdir(dir)) && found < 0) {
		int fd = atoi(e->d_name);
		struct stat fst;

		if (e->d_name[0] != '.' && fd != dirfd(dir) && fstat(fd, &fst) == 0 &&
		    fst.st_dev == st->st_dev && fst.st_ino == st->st_ino)
			found = fd;
	}
	closedir(dir);
	return found;
}

bool harness_hugepages_alone(char *why, size_t len)
{
	static int held = -1;
	struct stat st;
	int fd;

	if (held >= 0)
		return true;
	/* flock() on a descriptor whose open file holds the lock succeeds;
	 * on any other, it fails while the lock is held. */
	fd = stat(HARNESS_HUGEPAGES_LOCK, &st) == 0 ? fd_on(&st) : -1;
	if (fd < 0)
		fd = open(HARNESS_HUGEPAGES_LOCK, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", HARNESS_HUGEPAGES_LOCK, strerror(errno));
		return false;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(why, len, "another process holds %s: the kernel's hugepage counts "
			 "are not this test's alone", HARNESS_HUGEPAGES_LOCK);
		close(fd);
		return false;
	}
	held = fd;
	return true;
}

/* ---- restarts ---- */

#define RUNTIME_DIR "/run/contigd"

int harness_daemon_kill(struct harness_daemon *d, int sig)
{
	int status;

	if (kill(d->pid, sig) < 0)
		bail_out("kill contigd %d: %s", (int)d->pid, strerror(errno));
	while (waitpid(d->pid, &status, 0) != d->pid)
		if (errno != EINTR)
			bail_out("waitpid contigd: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void harness_daemon_restart(struct harness_daemon *d, const char *const *args)
{
	harness_daemon_restart_how(d, args, NULL);
}

void harness_daemon_restart_how(struct harness_daemon *d, const char *const *args,
				const struct harness_spawn *how)
{
	char notify[160];
	off_t from = harness_daemon_log_len(d);
	int nfd;

	snprintf(notify, sizeof(notify), "%s/notify", d->dir);
	unlink(notify);
	nfd = notify_socket(notify);
	/* The log descriptor's offset is where the last daemon stopped
	 * writing: the new one goes on from there. */
	if (lseek(d->log_fd, 0, SEEK_END) < 0)
		bail_out("lseek %s: %s", d->log_path, strerror(errno));
	d->pid = spawn(d, d->sock, notify, args, d->log_fd, how);
	/* What was passed is the new daemon's now (it stores again what it
	 * keeps, as it does under systemd). */
	while (d->nstored)
		stored_remove(d, d->stored[0].name);
	setenv("CONTIGD_SOCKET", d->sock, 1);
	wait_ready(d, nfd, notify, from);
}

off_t harness_daemon_log_len(const struct harness_daemon *d)
{
	struct stat st;

	if (fstat(d->log_fd, &st) < 0)
		bail_out("fstat %s: %s", d->log_path, strerror(errno));
	return st.st_size;
}

bool harness_daemon_log_since(const struct harness_daemon *d, off_t from, const char *needle)
{
	static char log[1 << 20];
	ssize_t n = pread(d->log_fd, log, sizeof(log) - 1, from);

	if (n <= 0)
		return false;
	log[n] = '\0';
	return strcasestr(log, needle) != NULL;
}

void harness_instance_name(const char *sock, char *buf, size_t len)
{
	uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a, as daemon/main.c */

	if (strcmp(sock, CONTIG_DEFAULT_SOCKET_PATH) == 0) {
		snprintf(buf, len, "contigd");
		return;
	}
	for (const char *p = sock; *p; p++)
		h = (h ^ (uint8_t)*p) * UINT64_C(1099511628211);
	snprintf(buf, len, "contigd-%016llx", (unsigned long long)h);
}

void harness_journal_path(const char *sock, char *buf, size_t len)
{
	char inst[64];

	harness_instance_name(sock, inst, sizeof(inst));
	snprintf(buf, len, "%s/%s.journal", RUNTIME_DIR, inst);
}

/* Unlink every file in directory @path, detach the mount there if there
 * is one, remove the directory. */
static void purge_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;

	if (dir) {
		while ((e = readdir(dir)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(dir), e->d_name, 0);
		closedir(dir);
	}
	umount2(path, MNT_DETACH);
	rmdir(path);
}

static pid_t keeper_pid(const char *inst)
{
	char path[PATH_MAX];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.keeper.pid", RUNTIME_DIR, inst);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1 || kill((pid_t)pid, 0) < 0) /* (or a zombie) */
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

pid_t harness_keeper_pid(const char *sock)
{
	char inst[64];

	harness_instance_name(sock, inst, sizeof(inst));
	return keeper_pid(inst);
}

/* Stop the frame keeper of @inst, if one runs, and wait until it is gone
 * (and with it the frames only it held). */
static void keeper_stop(const char *inst)
{
	pid_t pid = keeper_pid(inst);
	int pidfd;

	if (!pid)
		return;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return; /* gone already */
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		poll(&p, 1, 10000); /* readable once it has exited, its files closed */
	}
	close(pidfd);
}

void harness_keeper_stop(const char *sock)
{
	char inst[64];

	harness_instance_name(sock, inst, sizeof(inst));
	keeper_stop(inst);
}

void harness_instance_purge(const char *sock)
{
	char inst[64], path[PATH_MAX];
	DIR *dir = opendir(RUNTIME_DIR);
	struct dirent *e;
	size_t n;

	if (!dir)
		return;
	harness_instance_name(sock, inst, sizeof(inst));
	keeper_stop(inst);
	n = strlen(inst);
	/* <inst>-2048kB.lock, <inst>.journal, <inst>.journal.new,
	 * <inst>.keeper and <inst>.keeper.pid (and, of older contigds, mounts
	 * <inst>-2048kB, <inst>-2048kB.1 ...) */
	while ((e = readdir(dir))) {
		struct stat st;

		if (strncmp(e->d_name, inst, n) != 0 || (e->d_name[n] != '-' && e->d_name[n] != '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", RUNTIME_DIR, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			purge_dir(path);
		else
			unlink(path);
	}
	closedir(dir);
}

bool harness_recv_timeout(int fd, void *buf, size_t len, int timeout_ms)
{
	struct timespec start, now;
	char *p = buf;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return false;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

uint64_t harness_read_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		bail_out("read %s: %s", path, strerror(errno));
	if (fscanf(f, "%llu", &v) != 1)
		bail_out("read %s: not a number", path);
	fclose(f);
	return v;
}

void harness_write_u64(const char *path, uint64_t value)
{
	FILE *f = fopen(path, "we");

	if (!f || fprintf(f, "%llu\n", (unsigned long long)value) < 0 || fclose(f) != 0)
		bail_out("write %llu to %s: %s", (unsigned long long)value, path, strerror(errno));
}

#define SCATTER_PAGE (UINT64_C(2) << 20)
#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define FREE_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

static int cmp_held(const void *a, const void *b)
{
	const struct harness_held_page *x = a, *y = b;

	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

void harness_scatter(struct harness_scatter *sc, size_t nfree)
{
	uint64_t have = harness_read_u64(FREE_2M), nr = harness_read_u64(NR_2M);
	uint8_t *map;

	sc->npages = 2 * nfree;
	sc->nr_added = 0;
	if (have < sc->npages) {
		harness_write_u64(NR_2M, nr + sc->npages - have);
		sc->nr_added = harness_read_u64(NR_2M) - nr;
	}
	map = mmap(NULL, sc->npages * SCATTER_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (map == MAP_FAILED)
		bail_out("cannot map %zu hugepages to scatter the free ones: %s", sc->npages,
			 strerror(errno));
	sc->pages = calloc(sc->npages, sizeof(*sc->pages));
	if (!sc->pages)
		bail_out("out of memory");
	for (size_t i = 0; i < sc->npages; i++) {
		sc->pages[i].virt = map + i * SCATTER_PAGE;
		sc->pages[i].virt[0] = 1;
		sc->pages[i].phys = harness_phys_of(getpid(), sc->pages[i].virt);
	}
	qsort(sc->pages, sc->npages, sizeof(*sc->pages), cmp_held);
	for (size_t i = 0; i < sc->npages; i += 2) {
		munmap(sc->pages[i].virt, SCATTER_PAGE);
		sc->pages[i].virt = NULL;
	}
}

void harness_unscatter(struct harness_scatter *sc)
{
	for (size_t i = 0; i < sc->npages; i++)
		if (sc->pages[i].virt)
			munmap(sc->pages[i].virt, SCATTER_PAGE);
	free(sc->pages);
	sc->pages = NULL;
	sc->npages = 0;
	if (sc->nr_added)
		harness_write_u64(NR_2M, harness_read_u64(NR_2M) - sc->nr_added);
	sc->nr_added = 0;
}
