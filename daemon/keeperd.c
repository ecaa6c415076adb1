/* keeperd.c - the frame keeper process: contigd run as
 * `contigd --frame-keeper PATH`, holding every frame across the daemon's
 * death.
 *
 * DESIGN
 * Why a keeper, and what it costs: keeper.c. This file is the process
 * itself: it serves one daemon at a time on its listening socket (only a
 * peer of our uid), and keeps a table of (page size, frame id) ->
 * descriptor:
 *   - on connect it sends everything it holds (HELD messages, up to
 *     KEEPER_BATCH descriptors each, then END), and goes on holding it;
 *   - UPDATE adds frames (their descriptors attached) and drops others;
 *   - CLEAR drops everything; QUIT drops everything and exits;
 *   - a daemon that dies leaves the table as it was; the next one to
 *     connect gets it. A second daemon while one is connected is told BUSY.
 * Messages of a dead daemon are all read before its end of file, so a
 * newcomer always sees the table as the dead one last left it.
 *
 * It knows nothing of pools, sessions, the journal or the configuration,
 * never logs, and never calls into the daemon's side (keeper.c) or any
 * other daemon file: only keepermsg.c. Single-threaded.
 */
#include "keeperd.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keepermsg.h"

/* Apply one datagram of the daemon's. Returns 1 to exit, 0, or -errno
 * (the connection is then closed: its daemon is gone or broken). */
static int serve_one(int conn, struct keeper_table *t, struct keeper_msg *m, int flags)
{
	int fds[KEEPER_BATCH];
	int r = keeper_msg_recv(conn, m, fds, flags);

	if (r < 0)
		return r;
	switch (m->head.op) {
	case KEEPER_UPDATE:
		for (uint32_t i = 0; i < m->head.ndrop; i++)
			keeper_table_drop(t, m->keys[m->head.nput + i]);
		for (uint32_t i = 0; i < m->head.nput; i++)
			if (keeper_table_put(t, m->keys[i], fds[i]) < 0)
				for (uint32_t k = i + 1; k < m->head.nput; k++)
					close(fds[k]);
		return 0;
	case KEEPER_CLEAR:
	case KEEPER_QUIT:
		for (uint32_t i = 0; i < m->head.nput; i++)
			close(fds[i]);
		keeper_table_clear(t);
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
	struct keeper_table table = { 0 };
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
				keeper_msg_send(fd, KEEPER_BUSY, NULL, NULL, 0, NULL, 0);
				close(fd);
			} else if (keeper_send_table(fd, &table, KEEPER_HELD) < 0) {
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
	keeper_table_clear(&table);
	free(table.slots);
	free(m);
	return 0;
}
