/* server.c - the listening socket and the client connections.
 *
 * DESIGN
 * Each connection is a non-blocking SOCK_SEQPACKET socket watched by one
 * uv_poll handle, and owns one session (nginx's per-connection ownership:
 * closing the connection frees the session, which recycles its frames).
 *
 * Reading: one datagram = one request. A datagram longer than
 * CONTIG_MAX_REQUEST_LEN or carrying descriptors closes the connection
 * (the descriptors are closed unread). At most READ_BATCH datagrams are
 * handled per wakeup so that one busy client cannot starve the others.
 *
 * Writing never blocks: a reply the socket cannot take now is copied (its
 * descriptors dup'ed, since the frame may change hands before the queue
 * drains) into a per-connection queue of at most MAX_QUEUED replies; a
 * client that lets the queue overflow is disconnected.
 *
 * Waiting: a request that needs frames still being recycled (rpc.c says
 * CONTIG_RPC_WAIT) is kept, the connection stops reading (so its requests
 * stay in order), and it is retried whenever the recycler reports.
 *
 * Loop thread only. A connection is freed in its poll handle's close
 * callback, never before.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "rpc.h"

#define READ_BATCH 16
#define MAX_QUEUED 64

struct outmsg {
	struct outmsg *next;
	size_t len, nfds;
	int fds[CONTIG_FDS_PER_DATAGRAM];
	uint8_t data[];
};

struct contig_conn {
	uv_poll_t poll;
	int fd;
	struct contig_server *server;
	struct contig_session *session;
	struct contig_conn *prev, *next;   /* server->conns */
	struct contig_conn *next_waiting;  /* server->waiting */
	struct outmsg *out, **out_tail;
	uint32_t nout;
	bool hello_done;
	bool closing;                      /* close after the current request */
	bool closed;                       /* uv_close called */
	uint8_t *waiting;                  /* request kept for CONTIG_RPC_WAIT */
	size_t waiting_len;
	int events;                        /* what the poll handle watches */
	uint64_t number;
	pid_t pid;
	uid_t uid;
	char name[96];
};

struct contig_server {
	uv_loop_t *loop;
	uv_poll_t listen_poll;
	int listen_fd;
	char *path;
	struct contig_pools *pools;
	struct contig_conn *conns;
	struct contig_conn *waiting, **waiting_tail;
	uint32_t nconns;
	uint64_t next_number;
	struct contig_rpc_counters counters;
	bool stopping;
};

static void conn_close(struct contig_conn *c, const char *why);
static void conn_update_poll(struct contig_conn *c);

int contig_server_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file nobody listens on is left over from a crash: replace
	 * it. One somebody listens on belongs to a running daemon: refuse. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "%s: another contigd is listening there", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		goto out_close;
	}
	/* Clients need no privilege (access control comes with the
	 * configuration of owner, group and mode). */
	if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		unlink(path);
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return r;
}

const char *contig_server_conn_name(const struct contig_conn *c)
{
	return c->name;
}

uint32_t contig_server_nconns(const struct contig_server *server)
{
	return server->nconns;
}

/* ---- sending ---- */

static void outmsg_free(struct outmsg *m)
{
	for (size_t i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	free(m);
}

static int queue_reply(struct contig_conn *c, const void *data, size_t len, const int *fds,
		       size_t nfds)
{
	struct outmsg *m;

	if (c->nout >= MAX_QUEUED)
		return -ENOBUFS;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	m->nfds = 0;
	memcpy(m->data, data, len);
	for (size_t i = 0; i < nfds; i++) {
		m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (m->fds[i] < 0) {
			int r = -errno;

			outmsg_free(m);
			return r;
		}
		m->nfds++;
	}
	*c->out_tail = m;
	c->out_tail = &m->next;
	c->nout++;
	return 0;
}

int contig_server_send(struct contig_conn *c, const void *data, size_t len, const int *fds,
		       size_t nfds)
{
	int r = -EAGAIN;

	if (c->closing)
		return -EPIPE;
	if (!c->out)
		r = contig_fdpass_send(c->fd, data, len, fds, nfds, MSG_DONTWAIT);
	if (r == -EAGAIN) {
		r = queue_reply(c, data, len, fds, nfds);
		if (r == -ENOBUFS)
			contig_log(LOG_WARNING, "%s: does not read its replies (%d queued); "
				   "disconnecting", c->name, MAX_QUEUED);
		conn_update_poll(c);
	}
	if (r < 0)
		c->closing = true;
	return r;
}

static void flush_queue(struct contig_conn *c)
{
	while (c->out) {
		struct outmsg *m = c->out;
		int r = contig_fdpass_send(c->fd, m->data, m->len, m->fds, m->nfds, MSG_DONTWAIT);

		if (r == -EAGAIN)
			break;
		if (r < 0) {
			c->closing = true;
			return;
		}
		c->out = m->next;
		if (!c->out)
			c->out_tail = &c->out;
		c->nout--;
		outmsg_free(m);
	}
	conn_update_poll(c);
}

/* ---- receiving ---- */

static void waiting_remove(struct contig_server *srv, struct contig_conn *c)
{
	struct contig_conn **p;

	for (p = &srv->waiting; *p; p = &(*p)->next_waiting)
		if (*p == c) {
			*p = c->next_waiting;
			break;
		}
	srv->waiting_tail = &srv->waiting;
	while (*srv->waiting_tail)
		srv->waiting_tail = &(*srv->waiting_tail)->next_waiting;
	c->next_waiting = NULL;
}

static void handle(struct contig_conn *c, const uint8_t *data, size_t len)
{
	struct contig_server *srv = c->server;
	enum contig_rpc_result res;

	srv->counters.nsessions = srv->nconns;
	res = contig_rpc_handle(c, c->session, &c->hello_done, &srv->counters, data, len);
	if (res == CONTIG_RPC_WAIT && !c->waiting) {
		c->waiting = malloc(len);
		if (!c->waiting) {
			c->closing = true;
			return;
		}
		memcpy(c->waiting, data, len);
		c->waiting_len = len;
		*srv->waiting_tail = c;
		srv->waiting_tail = &c->next_waiting;
		conn_update_poll(c);
	} else if (res == CONTIG_RPC_CLOSE) {
		c->closing = true;
	}
}

static void on_readable(struct contig_conn *c)
{
	uint8_t buf[CONTIG_MAX_REQUEST_LEN];

	for (int i = 0; i < READ_BATCH && !c->waiting && !c->closing; i++) {
		int fds[4];
		size_t nfds, dropped;
		ssize_t n = contig_fdpass_recv(c->fd, buf, sizeof(buf), fds, 4, &nfds, &dropped,
					       MSG_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c, n == 0 ? "disconnected" : strerror((int)-n));
			return;
		}
		for (size_t k = 0; k < nfds; k++)
			close(fds[k]);
		if (nfds || dropped) {
			contig_rpc_protocol_error(c, "requests must not carry file descriptors");
			conn_close(c, "sent file descriptors");
			return;
		}
		if ((size_t)n > sizeof(buf)) {
			contig_rpc_protocol_error(c, "request larger than CONTIG_MAX_REQUEST_LEN");
			conn_close(c, "oversized request");
			return;
		}
		handle(c, buf, (size_t)n);
	}
}

static void on_conn_event(uv_poll_t *handle, int status, int events)
{
	struct contig_conn *c = handle->data;

	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE)
		flush_queue(c);
	if ((events & UV_READABLE) && !c->closing)
		on_readable(c);
	if (!c->closed && (c->closing || ((events & UV_DISCONNECT) && !(events & UV_READABLE))))
		conn_close(c, c->closing ? "closed by the daemon" : "disconnected");
}

/* Watch what the connection can act on: reading unless it is waiting for
 * frames, writing while replies are queued, hang-ups always. */
static void conn_update_poll(struct contig_conn *c)
{
	int events = UV_DISCONNECT;

	if (c->closed)
		return;
	if (!c->waiting)
		events |= UV_READABLE;
	if (c->out)
		events |= UV_WRITABLE;
	if (events != c->events) {
		uv_poll_start(&c->poll, events, on_conn_event);
		c->events = events;
	}
}

static void on_conn_closed(uv_handle_t *handle)
{
	struct contig_conn *c = handle->data;

	close(c->fd);
	free(c);
}

static void conn_close(struct contig_conn *c, const char *why)
{
	struct contig_server *srv = c->server;

	if (c->closed)
		return;
	c->closed = true;
	contig_log(LOG_INFO, "%s: %s; releasing %" PRIu32 " buffers, %" PRIu32 " frames", c->name,
		   why, c->session->nbuffers, c->session->nframes);
	if (c->waiting)
		waiting_remove(srv, c);
	free(c->waiting);
	while (c->out) {
		struct outmsg *m = c->out;

		c->out = m->next;
		outmsg_free(m);
	}
	contig_session_free(c->session);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

/* ---- accepting ---- */

static void conn_name(struct contig_conn *c)
{
	char path[64], comm[32] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(c->name, sizeof(c->name), "client %" PRIu64 " (pid %d, uid %u, %s)", c->number,
		 (int)c->pid, (unsigned)c->uid, comm);
}

static void accept_one(struct contig_server *srv, int fd)
{
	struct ucred cred = { 0 };
	socklen_t credlen = sizeof(cred);
	struct contig_conn *c = calloc(1, sizeof(*c));

	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0 ||
	    contig_session_new(srv->pools, cred.pid, cred.uid, cred.gid, &c->session) < 0 ||
	    uv_poll_init(srv->loop, &c->poll, fd) < 0) {
		contig_log(LOG_WARNING, "cannot accept a connection: out of resources");
		if (c)
			contig_session_free(c->session);
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->server = srv;
	c->poll.data = c;
	c->out_tail = &c->out;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->number = ++srv->next_number;
	conn_name(c);
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	contig_log(LOG_INFO, "%s: connected", c->name);
	conn_update_poll(c);
}

static void on_listen_event(uv_poll_t *handle, int status, int events)
{
	struct contig_server *srv = handle->data;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < READ_BATCH; i++) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				contig_log(LOG_WARNING, "accept: %s", strerror(errno));
			return;
		}
		accept_one(srv, fd);
	}
}

int contig_server_start(uv_loop_t *loop, int listen_fd, const char *path,
			struct contig_pools *pools, struct contig_server **ret_server)
{
	struct contig_server *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->listen_fd = listen_fd;
	srv->pools = pools;
	srv->waiting_tail = &srv->waiting;
	if (path && !(srv->path = strdup(path))) {
		free(srv);
		return -ENOMEM;
	}
	r = uv_poll_init(loop, &srv->listen_poll, listen_fd);
	if (r < 0) {
		free(srv->path);
		free(srv);
		return r;
	}
	srv->listen_poll.data = srv;
	uv_poll_start(&srv->listen_poll, UV_READABLE, on_listen_event);
	*ret_server = srv;
	return 0;
}

static void on_listen_closed(uv_handle_t *handle)
{
	struct contig_server *srv = handle->data;

	close(srv->listen_fd);
	free(srv->path);
	free(srv);
}

void contig_server_stop(struct contig_server *srv)
{
	if (!srv || srv->stopping)
		return;
	srv->stopping = true;
	if (srv->path)
		unlink(srv->path);
	while (srv->conns)
		conn_close(srv->conns, "daemon shutting down");
	uv_close((uv_handle_t *)&srv->listen_poll, on_listen_closed);
}

void contig_server_recycled(struct contig_frame *done, void *data)
{
	struct contig_server *srv = data;
	struct contig_conn *list, *c;

	while (done) {
		struct contig_frame *f = done;

		done = f->next;
		if (f->recycle_err == 0) {
			srv->counters.nrecycled++;
			if (f->file.truncated)
				srv->counters.nrecycle_truncated++;
		}
		if (contig_pool_frame_recycled(f))
			srv->counters.nrecycle_moved++;
		if (f->state == CONTIG_FRAME_LOST && f->recycle_err != -ECANCELED) {
			srv->counters.nframes_lost++;
			contig_log(LOG_WARNING, "frame of pool node %d/%" PRIu64 " kB lost: %s",
				   f->pool->node, f->pool->page_len >> 10,
				   strerror(-f->recycle_err));
		}
	}
	if (srv->stopping)
		return;
	/* Retry waiting requests in arrival order; one that must wait again
	 * goes to the back of the list. */
	list = srv->waiting;
	srv->waiting = NULL;
	srv->waiting_tail = &srv->waiting;
	while ((c = list)) {
		uint8_t *req = c->waiting;

		list = c->next_waiting;
		c->next_waiting = NULL;
		c->waiting = NULL;
		handle(c, req, c->waiting_len); /* keeps its own copy if it waits again */
		free(req);
		conn_update_poll(c);
		if (c->closing)
			conn_close(c, "closed by the daemon");
	}
}
