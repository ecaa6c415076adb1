/* server.c - the client connections on the listening socket.
 *
 * DESIGN
 * Each connection is a non-blocking SOCK_SEQPACKET socket watched by one
 * uv_poll handle, and owns one session (nginx's per-connection ownership:
 * closing the connection frees the session, which recycles its frames).
 *
 * The listening socket it is given is listen.c's (systemd's, or one it
 * made); server.c only accepts on it, and removes its path at stop.
 *
 * Admission: access.c decides whether a peer may connect (credentials,
 * max_connections), session.c counts max_connections_per_user; a peer
 * refused gets one reply saying why (seq 0) and is closed.
 *
 * Reading: one datagram = one request. A datagram longer than
 * max_request_len or carrying descriptors closes the connection
 * (the descriptors are closed unread). At most READ_BATCH datagrams are
 * handled per wakeup so that one busy client cannot starve the others.
 *
 * Writing never blocks: a reply the socket cannot take now is copied (its
 * descriptors dup'ed, since the frame may change hands before the queue
 * drains) into a per-connection queue of at most max_queued_replies; a
 * client that lets the queue overflow is disconnected.
 *
 * Waiting: a request that needs frames still being recycled (rpc.c says
 * CONTIG_RPC_WAIT) is kept, the connection stops reading (so its requests
 * stay in order), and it is retried whenever the recycler reports. While
 * one waits, the recycler runs at the loop's priority, else at idle
 * priority (recycle.c).
 *
 * The journal: server.c only tells the restart module when a reply is
 * about to leave and when a request is done (restart.h); giving up a
 * journal that failed and compacting one that grew are restart.c's.
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
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "fdpass.h"
#include "log.h"
#include "recycle.h"
#include "restart.h"
#include "rpc.h"

#define READ_BATCH 16

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
	uint64_t waiting_since_ns;         /* its first arrival: latency counts the wait */
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
	struct contig_metrics metrics;     /* rpc.c counts into it */
	const struct contig_access *access;
	uint64_t nrequests; /* handled since start */
	uv_timer_t retry;   /* looks again for the pages of lost frames */
	uv_timer_t keep;    /* recycles the frames sessions kept too long */
	uint64_t retry_ms;  /* the next retry's delay: doubles while none comes back */
	int nclosed;        /* handles closed at stop (listen_poll, retry, keep) */
	bool stopping;
};

/* Lost frames are looked for again after RETRY_FIRST_MS, then twice as
 * long each time none comes back, up to RETRY_MAX_MS. */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 30000

static void conn_close(struct contig_conn *c, const char *why);
static void conn_update_poll(struct contig_conn *c);

/* "client N (pid P, uid U, COMM)" for log lines: rpc.c's name callback. */
static const char *conn_name_of(const struct contig_conn *c)
{
	return c->name;
}

/* rpc.c's set_session callback: @c reclaimed the orphan @session. */
static void conn_set_session(struct contig_conn *c, struct contig_session *session)
{
	contig_session_free(c->session);
	c->session = session;
}

uint32_t contig_server_nconns(const struct contig_server *server)
{
	return server->nconns;
}

uint64_t contig_server_nrequests(const struct contig_server *server)
{
	return server->nrequests;
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

	if (c->nout >= c->server->pools->limits.max_queued_replies)
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

/* Send one reply datagram with @nfds descriptors (not consumed: they are
 * duplicated if the reply has to wait). On failure or overflow the
 * connection is marked to close once the current request is handled.
 * Returns 0 or -errno. rpc.c's send callback. */
static int conn_send(struct contig_conn *c, const void *data, size_t len, const int *fds,
		     size_t nfds)
{
	int r = -EAGAIN;

	if (c->closing)
		return -EPIPE;
	contig_restart_before_reply(c->server->pools->restart);
	if (!c->out)
		r = contig_fdpass_send(c->fd, data, len, fds, nfds, MSG_DONTWAIT);
	if (r == -EAGAIN) {
		r = queue_reply(c, data, len, fds, nfds);
		if (r == -ENOBUFS)
			contig_log(LOG_WARNING, "%s: does not read its replies "
				   "(max_queued_replies %" PRIu64 " reached); disconnecting", c->name,
				   c->server->pools->limits.max_queued_replies);
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

/* How rpc.c reaches a connection: it never calls server.c. */
static const struct contig_rpc_ops conn_ops = {
	.send = conn_send,
	.name = conn_name_of,
	.set_session = conn_set_session,
};

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

/* ---- kept frames (session.c's DESIGN) ---- */

static void keep_arm(struct contig_server *srv, uint64_t next_ns);

static void on_keep(uv_timer_t *timer)
{
	struct contig_server *srv = timer->data;

	keep_arm(srv, contig_session_keep_expire(srv->pools, contig_metrics_now_ns()));
	/* The loop's check handle would wake the recycler only after the
	 * next poll, which may block: nobody else is asking. */
	contig_recycler_kick(srv->pools->recycler);
}

/* Run on_keep() when the first kept frame's time is up (@next_ns, 0: none
 * is kept), unless the timer already runs: deadlines only grow. */
static void keep_arm(struct contig_server *srv, uint64_t next_ns)
{
	uint64_t now = contig_metrics_now_ns();

	if (!next_ns || srv->stopping || uv_is_active((uv_handle_t *)&srv->keep))
		return;
	/* Rounded up to whole ms, libuv's unit: never before it is due. */
	uv_timer_start(&srv->keep, on_keep, next_ns > now ? (next_ns - now + 999999) / 1000000 : 0,
		       0);
}

/* Handle request @data; @arrived_ns: when it first arrived (0: now). */
static void handle(struct contig_conn *c, const uint8_t *data, size_t len, uint64_t arrived_ns)
{
	struct contig_server *srv = c->server;
	enum contig_rpc_result res;

	srv->counters.stats.nsessions = srv->nconns;
	srv->counters.arrived_ns = arrived_ns ? arrived_ns : contig_metrics_now_ns();
	srv->nrequests++;
	res = contig_rpc_handle(c, c->session, &c->hello_done, &srv->counters, data, len);
	contig_restart_after_request(srv->pools->restart);
	keep_arm(srv, contig_session_keep_next_ns(srv->pools));
	if (res == CONTIG_RPC_WAIT && !c->waiting) {
		c->waiting = malloc(len);
		if (!c->waiting) {
			c->closing = true;
			return;
		}
		memcpy(c->waiting, data, len);
		c->waiting_len = len;
		c->waiting_since_ns = srv->counters.arrived_ns;
		if (!arrived_ns) /* (first arrival: a retry that waits again is not counted again) */
			srv->counters.stats.nrequests_waited++;
		*srv->waiting_tail = c;
		srv->waiting_tail = &c->next_waiting;
		contig_recycler_hurry(srv->pools->recycler, true);
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
		if ((uint64_t)n > c->server->pools->limits.max_request_len) {
			contig_rpc_protocol_error(c, "request larger than max_request_len");
			conn_close(c, "request larger than max_request_len");
			return;
		}
		handle(c, buf, (size_t)n, 0);
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
	uint8_t sink[64];
	size_t nfds;

	/* Closing a Unix socket with unread requests makes the peer's next
	 * recv fail with ECONNRESET before it reads our last reply (the
	 * reason it was closed): discard what is unread first. Bounded, and
	 * any descriptors in it are closed. */
	for (int i = 0; i < 256; i++)
		if (contig_fdpass_recv(c->fd, sink, sizeof(sink), NULL, 0, &nfds, NULL,
				       MSG_DONTWAIT) <= 0)
			break;
	close(c->fd);
	free(c);
}

static void conn_close(struct contig_conn *c, const char *why)
{
	struct contig_server *srv = c->server;

	if (c->closed)
		return;
	c->closed = true;
	if (c->session && contig_restart_keeps_sessions(srv->pools->restart))
		contig_log(LOG_INFO, "%s: %s; its %" PRIu32 " buffers in %" PRIu32 " frames stay "
			   "for the next contigd", c->name, why, c->session->nbuffers,
			   c->session->nframes);
	else if (c->session)
		contig_log(LOG_INFO, "%s: %s; releasing %" PRIu32 " buffers, %" PRIu32 " frames",
			   c->name, why, c->session->nbuffers, c->session->nframes);
	if (c->session && !contig_restart_keeps_sessions(srv->pools->restart))
		srv->metrics.nreleased += c->session->nbuffers;
	else
		contig_log(LOG_INFO, "%s: refused: %s", c->name, why);
	if (c->waiting) {
		waiting_remove(srv, c);
		if (!srv->waiting)
			contig_recycler_hurry(srv->pools->recycler, false);
	}
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

/* The peer's process name, as the client chose it (prctl(PR_SET_NAME) takes
 * any bytes but NUL, a newline included): kept as it is for stats, where
 * every reader escapes it, and escaped in every log line (log.c). */
static void conn_name(struct contig_conn *c, char *comm, size_t commlen)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, commlen - 1);
		close(fd);
	}
	if (n > 0 && comm[n - 1] == '\n')
		n--; /* the kernel's, after the name */
	if (n > 0)
		comm[n] = '\0';
	else
		snprintf(comm, commlen, "?");
	snprintf(c->name, sizeof(c->name), "client %" PRIu64 " (pid %d, uid %u, %s)", c->number,
		 (int)c->pid, (unsigned)c->uid, comm);
}

static void accept_one(struct contig_server *srv, int fd)
{
	const struct contig_limits *lim = &srv->pools->limits;
	struct ucred cred = { 0 };
	struct contig_conn *c = calloc(1, sizeof(*c));
	char why[256] = "", comm[32];
	int r;

	if (!c || contig_access_peer(fd, &cred) < 0 ||
	    uv_poll_init(srv->loop, &c->poll, fd) < 0) {
		contig_log(LOG_WARNING, "cannot accept a connection: out of resources");
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
	conn_name(c, comm, sizeof(comm));
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;

	r = contig_access_admit(srv->access, lim, fd, &cred, srv->nconns, why, sizeof(why));
	if (r < 0)
		contig_rpc_refuse(c, r == -EACCES ? CONTIG_RPC_PERMISSION_DENIED
						  : CONTIG_RPC_QUOTA_EXCEEDED, why);
	else if ((r = contig_session_new(srv->pools, cred.pid, cred.uid, cred.gid, comm,
					 &c->session)) < 0) {
		contig_access_session_refused(lim, cred.uid, r, why, sizeof(why));
		contig_rpc_refuse(c, CONTIG_RPC_QUOTA_EXCEEDED, why);
	}
	if (why[0]) {
		conn_close(c, why);
		return;
	}
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
			struct contig_pools *pools, const struct contig_access *access,
			struct contig_server **ret_server)
{
	struct contig_server *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->listen_fd = listen_fd;
	srv->pools = pools;
	srv->access = access;
	srv->waiting_tail = &srv->waiting;
	srv->metrics.start_time = (uint64_t)time(NULL);
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
	uv_timer_init(loop, &srv->retry);
	srv->retry.data = srv;
	uv_timer_init(loop, &srv->keep);
	srv->keep.data = srv;
	srv->retry_ms = RETRY_FIRST_MS;
	contig_rpc_set_metrics(&srv->metrics);
	contig_rpc_set_ops(&conn_ops);
	*ret_server = srv;
	return 0;
}

/* The three handles' close callbacks come here; the third frees. */
static void on_closed(uv_handle_t *handle)
{
	struct contig_server *srv = handle->data;

	if (++srv->nclosed < 3)
		return;
	close(srv->listen_fd);
	free(srv->path);
	contig_rpc_set_metrics(NULL);
	contig_rpc_set_ops(NULL);
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
	uv_close((uv_handle_t *)&srv->retry, on_closed);
	uv_close((uv_handle_t *)&srv->keep, on_closed);
	uv_close((uv_handle_t *)&srv->listen_poll, on_closed);
}

/* Every lost frame that may come back goes to the recycler again. */
static void on_retry(uv_timer_t *timer)
{
	struct contig_server *srv = timer->data;
	struct contig_pools *pools = srv->pools;

	for (size_t i = 0; i < pools->npools; i++) {
		struct contig_pool *pool = pools->pools[i];

		for (uint32_t k = 0; pool->nlost && k < pool->nframes; k++)
			if (contig_pool_frame_retry(&pool->frames[k]))
				contig_recycler_push(pools->recycler, &pool->frames[k]);
	}
	if (srv->retry_ms < RETRY_MAX_MS)
		srv->retry_ms *= 2;
}

/* Arm the retry timer if a lost frame may come back (a process other than
 * the daemon may hold its page now, and let it go later: nothing stays
 * lost because someone held a page once). */
static void retry_later(struct contig_server *srv)
{
	struct contig_pools *pools = srv->pools;

	if (uv_is_active((uv_handle_t *)&srv->retry))
		return;
	for (size_t i = 0; i < pools->npools; i++) {
		struct contig_pool *pool = pools->pools[i];

		for (uint32_t k = 0; pool->nlost && k < pool->nframes; k++)
			if (pool->frames[k].state == CONTIG_FRAME_LOST && !pool->frames[k].gone) {
				uv_timer_start(&srv->retry, on_retry, srv->retry_ms, 0);
				return;
			}
	}
}

void contig_server_recycled(struct contig_frame *done, void *data)
{
	struct contig_server *srv = data;
	struct contig_conn *list, *c;

	while (done) {
		struct contig_frame *f = done;
		uint64_t old_phys = f->phys;
		bool retried = f->retrying;

		done = f->next;
		if (retried) {
			/* A lost frame looked for again: counted once lost, once back. */
			contig_pool_frame_recycled(f);
			if (f->state == CONTIG_FRAME_FREE) {
				srv->counters.stats.nframes_recovered++;
				srv->retry_ms = RETRY_FIRST_MS;
				contig_log(LOG_NOTICE, "frame of pool node %d/%" PRIu64 " kB back in "
					   "service at %#" PRIx64 "%s", f->pool->node,
					   f->pool->page_len >> 10, f->phys,
					   f->phys == old_phys ? "" : " (its page moved)");
			}
			continue;
		}
		if (f->recycle_err == 0) {
			srv->counters.stats.nrecycled++;
			if (f->file.truncated)
				srv->counters.stats.nrecycle_truncated++;
		}
		if (contig_pool_frame_recycled(f))
			srv->counters.stats.nrecycle_moved++;
		if (f->broke_segment) {
			struct contig_pool_info info;

			contig_pool_get_info(f->pool, &info);
			contig_log(LOG_NOTICE, "pool node %d, %" PRIu64 " kB pages: a recycled frame "
				   "moved from %#" PRIx64 " to %#" PRIx64 ", breaking a segment (now "
				   "%" PRIu32 " segments, largest %" PRIu64 " MiB)", f->pool->node,
				   f->pool->page_len >> 10, old_phys, f->phys, info.nsegments,
				   info.largest_segment_len >> 20);
		}
		if (f->state == CONTIG_FRAME_LOST && f->recycle_err != -ECANCELED) {
			srv->counters.stats.nframes_lost++;
			contig_log(LOG_WARNING, "frame of pool node %d/%" PRIu64 " kB lost: %s",
				   f->pool->node, f->pool->page_len >> 10,
				   f->recycle_err == -ERANGE
					   ? "its page came back outside the pool's window"
					   : strerror(-f->recycle_err));
		}
	}
	if (srv->stopping)
		return;
	retry_later(srv);
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
		/* (keeps its own copy if it waits again) */
		handle(c, req, c->waiting_len, c->waiting_since_ns);
		free(req);
		conn_update_poll(c);
		if (c->closing)
			conn_close(c, "closed by the daemon");
	}
	if (!srv->waiting)
		contig_recycler_hurry(srv->pools->recycler, false);
}
