/* keeper.c - frames that outlive the daemon: a process that holds them.
 *
 * DESIGN
 * A frame is a sealed hugetlb memfd (frames.c): it has no name, so it
 * exists only while a process holds a descriptor of it or maps it. For a
 * restarted daemon to adopt the frames its sessions owned (restore.c), a
 * process other than the daemon must hold them across the daemon's death:
 * the keeper. It is contigd itself, run as `contigd --frame-keeper PATH`,
 * detached (its own session, double-forked: no zombie, no signal from a
 * terminal), listening on <runtime dir>/<instance>.keeper, a socket only
 * root may connect to (mode 0600, and the peer's uid is checked).
 *
 * The keeper knows nothing of pools or sessions: it holds a table of
 * (page size, frame id) -> descriptor, and serves one daemon at a time:
 *   - on connect it sends everything it holds (HELD messages, up to
 *     KEEPER_BATCH descriptors each, then END), and goes on holding it;
 *   - UPDATE adds frames (their descriptors attached) and drops others
 *     (the recycle thread's one message per recycled frame: the old id out,
 *     the new one in);
 *   - CLEAR drops everything; QUIT drops everything and exits (a daemon
 *     stopping with no session to keep);
 *   - a daemon that dies leaves the table as it was; the next one to
 *     connect gets it. A second daemon while one is connected is told BUSY.
 * Messages of a dead daemon are all read before its end of file, so a
 * newcomer always sees the table as the dead one last left it.
 *
 * Why not systemd's file descriptor store: it keeps a service's
 * descriptors across a crash only under systemd (tests, chroots and
 * containers have none), and a pool of 64 GiB of 2 MiB pages is 32768
 * descriptors, one notify datagram each. The keeper is the same idea,
 * everywhere; under systemd the unit's KillMode=process lets it outlive
 * the main process.
 *
 * What a keeper costs: one sleeping process, one descriptor per frame, one
 * datagram per recycled frame (the recycle thread's, not the request
 * path's) and per startup batch.
 */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errmsg.h"

#define KEEPER_MAGIC 0x6b656570u /* "keep" */
#define KEEPER_BATCH 250         /* descriptors per datagram (SCM_MAX_FD is 253) */
#define KEEPER_OPEN_TIMEOUT_MS 10000

enum keeper_op {
	KEEPER_HELD = 1, /* keeper -> daemon: frames it holds (descriptors attached) */
	KEEPER_END,      /* keeper -> daemon: that was all */
	KEEPER_BUSY,     /* keeper -> daemon: another daemon is connected */
	KEEPER_UPDATE,   /* daemon -> keeper: hold @nput (attached), drop @ndrop */
	KEEPER_CLEAR,    /* daemon -> keeper: drop everything */
	KEEPER_QUIT,     /* daemon -> keeper: drop everything and exit */
};

struct keeper_key {
	uint64_t page_len;
	uint64_t id;
};

/* A datagram: the head, then nput + ndrop keys; nput descriptors ride
 * along (SCM_RIGHTS), in the order of the first nput keys. */
struct keeper_head {
	uint32_t magic;
	uint32_t op;
	uint32_t nput;
	uint32_t ndrop;
};

struct keeper_msg {
	struct keeper_head head;
	struct keeper_key keys[2 * KEEPER_BATCH];
};

/* ---- both sides: one datagram ---- */

static int msg_send(int sock, enum keeper_op op, const struct keeper_key *put, const int *fds,
		    uint32_t nput, const struct keeper_key *drop, uint32_t ndrop)
{
	static struct keeper_msg zero;
	struct keeper_msg *m = malloc(sizeof(*m));
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * KEEPER_BATCH)];
	} ctl;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (!m)
		return -ENOMEM;
	*m = zero;
	m->head = (struct keeper_head){ KEEPER_MAGIC, (uint32_t)op, nput, ndrop };
	if (nput)
		memcpy(m->keys, put, nput * sizeof(*put));
	if (ndrop)
		memcpy(m->keys + nput, drop, ndrop * sizeof(*drop));
	iov.iov_base = m;
	iov.iov_len = sizeof(m->head) + (nput + ndrop) * sizeof(struct keeper_key);
	if (nput) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nput);
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * nput);
		memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * nput);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	free(m);
	return n < 0 ? -errno : 0;
}

/* Receive one datagram into @m, its descriptors into @fds. Returns 0, -EPIPE
 * at end of file, -EPROTO for anything malformed (its descriptors closed),
 * or -errno. */
static int msg_recv(int sock, struct keeper_msg *m, int *fds, int flags)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * KEEPER_BATCH)];
	} ctl;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	uint32_t nfds = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			uint32_t k = (uint32_t)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (uint32_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (nfds < KEEPER_BATCH)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
	if ((size_t)n < sizeof(m->head) || m->head.magic != KEEPER_MAGIC ||
	    m->head.nput > KEEPER_BATCH || m->head.ndrop > KEEPER_BATCH ||
	    (size_t)n != sizeof(m->head) + (m->head.nput + m->head.ndrop) * sizeof(m->keys[0]) ||
	    nfds != m->head.nput || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	return 0;
}

/* ---- the keeper process ---- */

/* Open addressing on (page_len, id), linear probing, deletion by backward
 * shift; at most half full. */
struct table {
	struct slot {
		struct keeper_key key;
		int fd; /* -1: empty */
	} *slots;
	size_t cap, n;
	bool borrowed; /* the descriptors are not ours to close (unused: both sides own theirs) */
};

static size_t slot_of(const struct table *t, struct keeper_key key)
{
	uint64_t h = (key.id ^ (key.page_len >> 12)) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> 32) & (t->cap - 1);
}

static int table_grow(struct table *t)
{
	struct table bigger = { .cap = t->cap ? 2 * t->cap : 1024, .borrowed = t->borrowed };

	bigger.slots = malloc(bigger.cap * sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < bigger.cap; i++)
		bigger.slots[i].fd = -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].fd >= 0) {
			size_t k = slot_of(&bigger, t->slots[i].key);

			while (bigger.slots[k].fd >= 0)
				k = (k + 1) & (bigger.cap - 1);
			bigger.slots[k] = t->slots[i];
		}
	bigger.n = t->n;
	free(t->slots);
	*t = bigger;
	return 0;
}

static void table_drop(struct table *t, struct keeper_key key)
{
	size_t i, j;

	if (!t->cap)
		return;
	for (i = slot_of(t, key); t->slots[i].fd >= 0; i = (i + 1) & (t->cap - 1))
		if (t->slots[i].key.id == key.id && t->slots[i].key.page_len == key.page_len)
			break;
	if (t->slots[i].fd < 0)
		return;
	if (!t->borrowed)
		close(t->slots[i].fd);
	t->slots[i].fd = -1;
	t->n--;
	/* Backward shift: move up every later entry of the run whose home is
	 * not between the hole and it. */
	for (j = (i + 1) & (t->cap - 1); t->slots[j].fd >= 0; j = (j + 1) & (t->cap - 1)) {
		size_t home = slot_of(t, t->slots[j].key);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j].fd = -1;
			i = j;
		}
	}
}

/* Hold @fd as @key (replacing what held that key). Closes @fd on -ENOMEM. */
static int table_put(struct table *t, struct keeper_key key, int fd)
{
	size_t i;

	table_drop(t, key);
	if (2 * (t->n + 1) > t->cap && table_grow(t) < 0) {
		if (!t->borrowed)
			close(fd);
		return -ENOMEM;
	}
	for (i = slot_of(t, key); t->slots[i].fd >= 0; i = (i + 1) & (t->cap - 1))
		;
	t->slots[i] = (struct slot){ key, fd };
	t->n++;
	return 0;
}

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].fd >= 0) {
			if (!t->borrowed)
				close(t->slots[i].fd);
			t->slots[i].fd = -1;
		}
	t->n = 0;
}

/* Send the whole table as @op datagrams (HELD: to a newly connected
 * daemon, then END; UPDATE: a daemon's mirror to a new keeper). */
static int send_table(int conn, const struct table *t, enum keeper_op op)
{
	struct keeper_key keys[KEEPER_BATCH];
	int fds[KEEPER_BATCH];
	uint32_t n = 0;
	int r = 0;

	for (size_t i = 0; i < t->cap && r == 0; i++) {
		if (t->slots[i].fd < 0)
			continue;
		keys[n] = t->slots[i].key;
		fds[n++] = t->slots[i].fd;
		if (n == KEEPER_BATCH) {
			r = msg_send(conn, op, keys, fds, n, NULL, 0);
			n = 0;
		}
	}
	if (r == 0 && n)
		r = msg_send(conn, op, keys, fds, n, NULL, 0);
	if (r == 0 && op == KEEPER_HELD)
		r = msg_send(conn, KEEPER_END, NULL, NULL, 0, NULL, 0);
	return r;
}

/* Apply one datagram of the daemon's. Returns 1 to exit, 0, or -errno
 * (the connection is then closed: its daemon is gone or broken). */
static int serve_one(int conn, struct table *t, struct keeper_msg *m, int flags)
{
	int fds[KEEPER_BATCH];
	int r = msg_recv(conn, m, fds, flags);

	if (r < 0)
		return r;
	switch (m->head.op) {
	case KEEPER_UPDATE:
		for (uint32_t i = 0; i < m->head.ndrop; i++)
			table_drop(t, m->keys[m->head.nput + i]);
		for (uint32_t i = 0; i < m->head.nput; i++)
			if (table_put(t, m->keys[i], fds[i]) < 0)
				for (uint32_t k = i + 1; k < m->head.nput; k++)
					close(fds[k]);
		return 0;
	case KEEPER_CLEAR:
	case KEEPER_QUIT:
		for (uint32_t i = 0; i < m->head.nput; i++)
			close(fds[i]);
		table_clear(t);
		return m->head.op == KEEPER_QUIT;
	default:
		for (uint32_t i = 0; i < m->head.nput; i++)
			close(fds[i]);
		return -EPROTO;
	}
}

static bool peer_is_us(int sock)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       cred.uid == geteuid();
}

/* <path>.pid: which process to stop, for tests and operators. */
static void write_pid(const char *path)
{
	char pid_path[PATH_MAX];
	FILE *f;

	snprintf(pid_path, sizeof(pid_path), "%s.pid", path);
	f = fopen(pid_path, "we");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
}

int contig_keeper_main(int listen_fd, const char *path)
{
	struct table table = { 0 };
	struct keeper_msg *m = malloc(sizeof(*m));
	char pid_path[PATH_MAX];
	int conn = -1;

	if (!m)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	write_pid(path);
	for (;;) {
		struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN },
				       { .fd = conn, .events = POLLIN } };
		int r;

		if (poll(p, conn >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLNVAL | POLLERR))
			break; /* no socket to serve: nothing can reach us */
		if (conn >= 0 && p[1].revents) {
			r = serve_one(conn, &table, m, 0);
			if (r == 1)
				break;
			if (r < 0) {
				close(conn);
				conn = -1;
			}
			continue; /* the old daemon's messages before a newcomer's */
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			/* A dead daemon's last messages and end of file come first. */
			while (conn >= 0) {
				r = serve_one(conn, &table, m, MSG_DONTWAIT);
				if (r == -EAGAIN)
					break;
				if (r == 1)
					goto out;
				if (r < 0) {
					close(conn);
					conn = -1;
				}
			}
			if (!peer_is_us(fd)) {
				close(fd);
			} else if (conn >= 0) {
				msg_send(fd, KEEPER_BUSY, NULL, NULL, 0, NULL, 0);
				close(fd);
			} else if (send_table(fd, &table, KEEPER_HELD) < 0) {
				close(fd);
			} else {
				conn = fd;
			}
		}
	}
out:
	/* Unnamed before the listener closes: a daemon that finds no path
	 * starts a keeper of its own, one that finds it is served or told
	 * end of file (and then looks again). */
	snprintf(pid_path, sizeof(pid_path), "%s.pid", path);
	unlink(path);
	unlink(pid_path);
	table_clear(&table);
	free(table.slots);
	free(m);
	return 0;
}

/* ---- the daemon's side ---- */

struct contig_keeper {
	int sock;
	char *path;
	pthread_mutex_t lock; /* one datagram sequence at a time; guards @mirror */
	bool lost;            /* no keeper, and none could be started again */
	uint64_t lost_at_ns;  /* when a new one was last tried */
	unsigned nrestarts;   /* keepers started again after one went away */
	struct table mirror;  /* what the keeper holds, each with a descriptor of
				 our own (a dup: independent of the frame's, which
				 its pool may close first): what a new keeper is
				 given if this one dies */
	struct contig_kept *held; /* received at open, not yet taken */
	size_t nheld;
};

/* A keeper that went away is replaced at the next update, at most this
 * often while none can be started. */
#define KEEPER_RETRY_NS (UINT64_C(10) * 1000000000)

/* Record in the mirror that the keeper holds @fd's frame as (@page_len,
 * @id), with a descriptor of our own. Called with the lock held. Without
 * a descriptor (out of them) the frame is only not resent to a new keeper. */
static void mirror_put(struct contig_keeper *keeper, uint64_t page_len, uint64_t id, int fd)
{
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (own >= 0)
		table_put(&keeper->mirror, (struct keeper_key){ page_len, id }, own);
}

/* Start a keeper listening on @path: bound here (so that the caller can
 * connect as soon as this returns), then handed to a grandchild that
 * becomes `contigd --frame-keeper`. */
static int spawn(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char exe[PATH_MAX];
	int lsock, e, status;
	ssize_t n;
	pid_t child;

	if (strlen(path) >= sizeof(addr.sun_path))
		return contig_errmsg(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	strcpy(addr.sun_path, path);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lsock < 0)
		return contig_errmsg(err, errlen, -errno, "socket: %s", strerror(errno));
	/* Root's alone before it has a name (fchmod on the socket sets the
	 * mode bind() gives its file). */
	if (fchmod(lsock, 0600) < 0 || (unlink(path) < 0 && errno != ENOENT) ||
	    bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lsock, 4) < 0) {
		e = errno;
		close(lsock);
		return contig_errmsg(err, errlen, -e, "frame keeper socket %s: %s", path,
				     strerror(e));
	}
	/* Our binary by its path: under valgrind /proc/self/exe is
	 * valgrind's, and readlink() is what it answers for us; after an
	 * upgrade replaced the file, the link names a deleted one, and
	 * /proc/self/exe itself still runs it. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1)
		n = 0;
	exe[n] = '\0';
	if (!*exe || access(exe, X_OK) < 0)
		snprintf(exe, sizeof(exe), "/proc/self/exe");
	child = fork();
	if (child < 0) {
		e = errno;
		close(lsock);
		unlink(path);
		return contig_errmsg(err, errlen, -e, "fork: %s", strerror(e));
	}
	if (child == 0) {
		sigset_t none;

		if (fork() != 0)
			_exit(0); /* the grandchild is init's (or a subreaper's) */
		setsid();
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Descriptor 3, not close-on-exec (dup2() onto itself would
		 * leave the flag). */
		if ((lsock == 3 ? fcntl(3, F_SETFD, 0) : dup2(lsock, 3)) < 0)
			_exit(127);
		close_range(4, ~0u, 0);
		execl(exe, "contigd-keeper", CONTIG_KEEPER_ARG, path, (char *)NULL);
		_exit(127);
	}
	close(lsock);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (sock < 0)
		return -errno;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		close(sock);
		return -e;
	}
	return sock;
}

/* Read HELD messages up to END into keeper->held. Returns 0, -EBUSY, -EPIPE
 * (the keeper went away: one that was exiting), -ETIMEDOUT or -errno. */
static int receive_table(struct contig_keeper *keeper)
{
	struct keeper_msg *m = malloc(sizeof(*m));
	int fds[KEEPER_BATCH], r;

	if (!m)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = keeper->sock, .events = POLLIN };
		struct contig_kept *grown;

		r = poll(&p, 1, KEEPER_OPEN_TIMEOUT_MS);
		if (r == 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		r = r < 0 ? -errno : msg_recv(keeper->sock, m, fds, 0);
		if (r < 0)
			break;
		if (m->head.op == KEEPER_END || m->head.op == KEEPER_BUSY) {
			r = m->head.op == KEEPER_END ? 0 : -EBUSY;
			for (uint32_t i = 0; i < m->head.nput; i++)
				close(fds[i]);
			break;
		}
		grown = m->head.op == KEEPER_HELD
				? realloc(keeper->held, (keeper->nheld + m->head.nput) * sizeof(*grown))
				: NULL;
		if (!grown) {
			for (uint32_t i = 0; i < m->head.nput; i++)
				close(fds[i]);
			r = m->head.op == KEEPER_HELD ? -ENOMEM : -EPROTO;
			break;
		}
		keeper->held = grown;
		for (uint32_t i = 0; i < m->head.nput; i++)
			keeper->held[keeper->nheld++] = (struct contig_kept){
				m->keys[i].page_len, m->keys[i].id, fds[i] };
	}
	free(m);
	return r;
}

/* Tell the keeper to let go of everything and exit, and wait (boundedly)
 * for its end of file, which says it did: a daemon's "every frame
 * released" is then true. */
static void quit(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char byte;

	if (msg_send(sock, KEEPER_QUIT, NULL, NULL, 0, NULL, 0) == 0 &&
	    poll(&p, 1, KEEPER_OPEN_TIMEOUT_MS) > 0 && recv(sock, &byte, 1, 0) < 0) {
		/* gone either way */
	}
}

static void release_held(struct contig_keeper *keeper)
{
	for (size_t i = 0; i < keeper->nheld; i++) {
		/* Truncation revokes every mapping of the frame: see frames.c. */
		if (ftruncate(keeper->held[i].fd, 0) < 0) {
			/* a sealed frame may always shrink: cannot happen */
		}
		close(keeper->held[i].fd);
	}
	keeper->nheld = 0;
}

int contig_keeper_open(const char *runtime_dir, const char *instance, bool adopt,
		       struct contig_keeper **ret_keeper, char *err, size_t errlen)
{
	struct contig_keeper *keeper = calloc(1, sizeof(*keeper));
	int r = 0;

	if (!keeper)
		return -ENOMEM;
	keeper->sock = -1;
	pthread_mutex_init(&keeper->lock, NULL);
	if (asprintf(&keeper->path, "%s/%s.keeper", runtime_dir, instance) < 0) {
		keeper->path = NULL;
		r = -ENOMEM;
		goto out_free;
	}
	/* Twice at most: a keeper that was exiting as we connected. */
	for (int tries = 0; tries < 2; tries++) {
		keeper->sock = connect_to(keeper->path);
		if (keeper->sock == -ENOENT || keeper->sock == -ECONNREFUSED) {
			r = spawn(keeper->path, err, errlen);
			if (r < 0)
				goto out_free;
			keeper->sock = connect_to(keeper->path);
		}
		if (keeper->sock < 0) {
			r = contig_errmsg(err, errlen, keeper->sock, "connecting to the frame keeper "
					  "%s: %s", keeper->path, strerror(-keeper->sock));
			goto out_free;
		}
		r = receive_table(keeper);
		if (r != -EPIPE)
			break;
		release_held(keeper);
		close(keeper->sock);
		keeper->sock = -1;
	}
	if (r == -EBUSY) {
		contig_errmsg(err, errlen, r, "the frame keeper %s serves another contigd (same "
			      "socket path?)", keeper->path);
		goto out_free;
	}
	if (r < 0) {
		contig_errmsg(err, errlen, r, "the frame keeper %s: %s", keeper->path, strerror(-r));
		goto out_free;
	}
	if (!adopt && keeper->nheld) {
		release_held(keeper);
		r = msg_send(keeper->sock, KEEPER_CLEAR, NULL, NULL, 0, NULL, 0);
		if (r < 0) {
			contig_errmsg(err, errlen, r, "the frame keeper %s: %s", keeper->path,
				      strerror(-r));
			goto out_free;
		}
	}
	*ret_keeper = keeper;
	return 0;

out_free:
	release_held(keeper);
	contig_keeper_close(keeper, true);
	return r;
}

void contig_keeper_dismiss(const char *runtime_dir, const char *instance)
{
	struct contig_keeper keeper = { .sock = -1 };
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.keeper", runtime_dir, instance);
	keeper.sock = connect_to(path);
	if (keeper.sock < 0)
		return;
	if (receive_table(&keeper) == 0) {
		release_held(&keeper);
		quit(keeper.sock);
	}
	release_held(&keeper);
	free(keeper.held);
	close(keeper.sock);
}

size_t contig_keeper_take(struct contig_keeper *keeper, uint64_t page_len,
			  struct contig_kept **ret_kept)
{
	struct contig_kept *taken = NULL;
	size_t n = 0, left = 0;

	*ret_kept = NULL;
	for (size_t i = 0; i < keeper->nheld; i++)
		n += keeper->held[i].page_len == page_len;
	if (!n)
		return 0;
	taken = malloc(n * sizeof(*taken));
	if (!taken)
		return 0; /* they stay, and are released at the end */
	n = 0;
	pthread_mutex_lock(&keeper->lock);
	for (size_t i = 0; i < keeper->nheld; i++) {
		if (keeper->held[i].page_len == page_len) {
			taken[n++] = keeper->held[i];
			mirror_put(keeper, page_len, keeper->held[i].id, keeper->held[i].fd);
		} else {
			keeper->held[left++] = keeper->held[i];
		}
	}
	pthread_mutex_unlock(&keeper->lock);
	keeper->nheld = left;
	*ret_kept = taken;
	return n;
}

size_t contig_keeper_release_rest(struct contig_keeper *keeper)
{
	size_t n = keeper->nheld;

	for (size_t i = 0; i < n; i++) {
		uint64_t id = keeper->held[i].id;

		contig_keeper_update(keeper, keeper->held[i].page_len, NULL, 0, &id, 1);
	}
	release_held(keeper);
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The keeper went away (killed, or its socket broke): start a new one
 * and give it everything the mirror says the old one held. Called with
 * the lock held. Returns 0 or -errno (then @lost, and tried again after
 * KEEPER_RETRY_NS). */
static int heal(struct contig_keeper *keeper)
{
	char err[256];
	int r;

	if (keeper->lost && now_ns() - keeper->lost_at_ns < KEEPER_RETRY_NS)
		return -EPIPE;
	if (keeper->sock >= 0)
		close(keeper->sock);
	keeper->sock = connect_to(keeper->path);
	if (keeper->sock == -ENOENT || keeper->sock == -ECONNREFUSED) {
		r = spawn(keeper->path, err, sizeof(err));
		keeper->sock = r < 0 ? r : connect_to(keeper->path);
	}
	r = keeper->sock < 0 ? keeper->sock : 0;
	if (r == 0) {
		/* A keeper that was there after all holds what it holds
		 * (ours, most likely): forget that, never truncate it, and
		 * give it ours. */
		r = receive_table(keeper);
		for (size_t i = 0; i < keeper->nheld; i++)
			close(keeper->held[i].fd);
		keeper->nheld = 0;
	}
	if (r == 0)
		r = msg_send(keeper->sock, KEEPER_CLEAR, NULL, NULL, 0, NULL, 0);
	if (r == 0)
		r = send_table(keeper->sock, &keeper->mirror, KEEPER_UPDATE);
	if (r < 0) {
		if (keeper->sock >= 0)
			close(keeper->sock);
		keeper->sock = -1;
		keeper->lost = true;
		keeper->lost_at_ns = now_ns();
		return r;
	}
	keeper->lost = false;
	keeper->nrestarts++;
	return 0;
}

int contig_keeper_update(struct contig_keeper *keeper, uint64_t page_len,
			 const struct contig_kept *put, size_t nput, const uint64_t *drop,
			 size_t ndrop)
{
	struct keeper_key keys[KEEPER_BATCH], drops[KEEPER_BATCH];
	int fds[KEEPER_BATCH];
	int r = 0;

	pthread_mutex_lock(&keeper->lock);
	for (size_t i = 0; i < ndrop; i++)
		table_drop(&keeper->mirror, (struct keeper_key){ page_len, drop[i] });
	for (size_t i = 0; i < nput; i++)
		mirror_put(keeper, page_len, put[i].id, put[i].fd);
	while (!keeper->lost && (nput || ndrop)) {
		uint32_t np = nput < KEEPER_BATCH ? (uint32_t)nput : KEEPER_BATCH;
		uint32_t nd = ndrop < KEEPER_BATCH ? (uint32_t)ndrop : KEEPER_BATCH;

		for (uint32_t i = 0; i < np; i++) {
			keys[i] = (struct keeper_key){ page_len, put[i].id };
			fds[i] = put[i].fd;
		}
		for (uint32_t i = 0; i < nd; i++)
			drops[i] = (struct keeper_key){ page_len, drop[i] };
		r = msg_send(keeper->sock, KEEPER_UPDATE, keys, fds, np, drops, nd);
		if (r < 0)
			break; /* the mirror has it all: heal() below sends it */
		put += np;
		nput -= np;
		drop += nd;
		ndrop -= nd;
	}
	if (r < 0 || keeper->lost)
		r = heal(keeper);
	pthread_mutex_unlock(&keeper->lock);
	return r;
}

bool contig_keeper_lost(struct contig_keeper *keeper, unsigned *ret_nrestarts)
{
	bool lost;

	pthread_mutex_lock(&keeper->lock);
	lost = keeper->lost;
	*ret_nrestarts = keeper->nrestarts;
	pthread_mutex_unlock(&keeper->lock);
	return lost;
}

void contig_keeper_close(struct contig_keeper *keeper, bool keep)
{
	if (!keeper)
		return;
	if (keeper->sock >= 0) {
		if (!keep && !keeper->lost)
			quit(keeper->sock);
		close(keeper->sock);
	}
	release_held(keeper);
	free(keeper->held);
	table_clear(&keeper->mirror);
	free(keeper->mirror.slots);
	pthread_mutex_destroy(&keeper->lock);
	free(keeper->path);
	free(keeper);
}
