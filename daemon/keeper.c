/* keeper.c - frames that outlive the daemon: the daemon's link to the
 * process that holds them.
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
 * The keeper process (keeperd.c) knows nothing of pools or sessions: it
 * holds (page size, frame id) -> descriptor for one daemon at a time, and
 * hands it all to the next daemon that connects. This file is the
 * daemon's side of it: starting a keeper (or finding the one an earlier
 * instance left), taking what it held at open, telling it of every frame
 * kept or dropped (any thread, under the link's lock), keeping a mirror of
 * its table so that a keeper that dies is replaced and given every frame
 * again, and closing (keep, or quit). The datagrams are keepermsg.c's.
 *
 * It never logs (reasons go back in @err), never calls frames.c, the pool
 * set or the restart code (they call it), and never runs the keeper's
 * loop itself (keeperd.c, in its own process).
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
#include "keeperd.h"
#include "keepermsg.h"

#define KEEPER_OPEN_TIMEOUT_MS 10000

struct contig_keeper {
	int sock;
	char *path;
	pthread_mutex_t lock; /* one datagram sequence at a time; guards @mirror */
	bool lost;            /* no keeper, and none could be started again */
	uint64_t lost_at_ns;  /* when a new one was last tried */
	unsigned nrestarts;   /* keepers started again after one went away */
	struct keeper_table mirror; /* what the keeper holds, each with a descriptor of
				 our own (a dup: independent of the frame's, which
				 its pool may close first): what a new keeper is
				 given if this one dies */
	struct contig_kept *held; /* received at open, not yet taken */
	size_t nheld;
	bool pending;         /* a keeper we just started: its (empty) table not read yet */
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
		keeper_table_put(&keeper->mirror, (struct keeper_key){ page_len, id }, own);
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
		r = r < 0 ? -errno : keeper_msg_recv(keeper->sock, m, fds, 0);
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

	if (keeper_msg_send(sock, KEEPER_QUIT, NULL, NULL, 0, NULL, 0) == 0 &&
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

/* Read the table of a keeper open() started (keeper->pending): END, and
 * nothing held. Returns 0 or -errno (the keeper is then healed). */
static int settle(struct contig_keeper *keeper)
{
	int r;

	if (!keeper->pending)
		return 0;
	keeper->pending = false;
	r = receive_table(keeper);
	release_held(keeper); /* a new keeper holds nothing of ours */
	return r;
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
			/* A keeper we start holds nothing: its table (just END) is
			 * read at the first use (settle()), so that its exec runs
			 * while the frames are reserved, not before. */
			keeper->pending = keeper->sock >= 0;
		}
		if (keeper->sock < 0) {
			r = contig_errmsg(err, errlen, keeper->sock, "connecting to the frame keeper "
					  "%s: %s", keeper->path, strerror(-keeper->sock));
			goto out_free;
		}
		r = keeper->pending ? 0 : receive_table(keeper);
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
		r = keeper_msg_send(keeper->sock, KEEPER_CLEAR, NULL, NULL, 0, NULL, 0);
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
	pthread_mutex_lock(&keeper->lock);
	if (settle(keeper) < 0)
		keeper->lost = true; /* healed at the next update */
	pthread_mutex_unlock(&keeper->lock);
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
	size_t n;

	pthread_mutex_lock(&keeper->lock);
	if (settle(keeper) < 0)
		keeper->lost = true;
	pthread_mutex_unlock(&keeper->lock);
	n = keeper->nheld;
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
		r = keeper_msg_send(keeper->sock, KEEPER_CLEAR, NULL, NULL, 0, NULL, 0);
	if (r == 0)
		r = keeper_send_table(keeper->sock, &keeper->mirror, KEEPER_UPDATE);
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
	if (settle(keeper) < 0)
		keeper->lost = true; /* heal() below starts another */
	for (size_t i = 0; i < ndrop; i++)
		keeper_table_drop(&keeper->mirror, (struct keeper_key){ page_len, drop[i] });
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
		r = keeper_msg_send(keeper->sock, KEEPER_UPDATE, keys, fds, np, drops, nd);
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
	if (keeper->sock >= 0 && settle(keeper) < 0)
		keeper->lost = true;
	if (keeper->sock >= 0) {
		if (!keep && !keeper->lost)
			quit(keeper->sock);
		close(keeper->sock);
	}
	release_held(keeper);
	free(keeper->held);
	keeper_table_clear(&keeper->mirror);
	free(keeper->mirror.slots);
	pthread_mutex_destroy(&keeper->lock);
	free(keeper->path);
	free(keeper);
}
