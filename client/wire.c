/* wire.c - libcontig's protocol: pack a request, send it, receive and check
 * its reply; connect, and reconnect to a restarted daemon.
 *
 * DESIGN
 * Requests go out on a blocking socket (the caller holds the client's
 * lock); an allocate or a free may be sent ahead of the replies to earlier
 * ones (pipelining: the *_send and *_recv halves), and the daemon answers
 * each connection's requests in order, so the reply to read is always the
 * one with the oldest outstanding seq; anything else is a protocol error.
 * In busy-poll mode (busy_poll_ns) a reply is awaited spinning before
 * sleeping. An allocate reply is followed by
 * FrameFds datagrams when its descriptors do not fit one datagram; they are
 * collected here in frame order. Unpack and free_unpacked sit together in
 * recv_reply()'s callers.
 *
 * Restarts. A daemon that keeps sessions across restarts gives each hello
 * a session token and a grace period. When the connection breaks -- a
 * send fails with EPIPE, ECONNRESET or ENOTCONN, a receive meets the end
 * of the connection, and no refusal from the daemon says why (w->broken) --
 * contig_wire_recover() connects to the same path again (at once, then
 * after 10 ms, doubling up to 250 ms) and says hello with the token, until
 * a daemon answers or the grace period, counted from the break, is over.
 * An answer that does not give the session back (a refusal, or a fresh
 * session from a daemon that keeps none) ends it too: the wire is dead,
 * and every later call fails with -ECONNRESET and the message saying how
 * the session was lost -- unless the caller holds no buffer and the answer
 * is NOT_FOUND (a restarted contigd keeps no session without buffers):
 * nothing was lost then, and a new session on a new connection does.
 * Once the session is back, the request in flight is sent again with the
 * same seq, and again after each later break (a daemon can crash again
 * while it is being resent): the daemon answers a repeated allocate with
 * the buffer it had allocated for that seq, if any, and a repeated free of
 * a buffer freed before the restart with NOT_FOUND, taken here for the
 * success it was. Seqs keep increasing across the reconnect (the
 * resume hello takes the next). Nothing of this runs while the connection
 * works: the only cost on the way of a request is testing w->dead.
 */
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "contig.pb-c.h"
#include "segments.h" /* common/: what contig.h repeats must not differ */

/* Reconnecting: the first retry's delay, and the longest. */
#define BACKOFF_FIRST_MS 10u
#define BACKOFF_MAX_MS 250u
/* The grace period of a daemon that gives a token but does not say:
 * contigd's default session_grace. */
#define DEFAULT_GRACE_MS 30000u

static int status_errno(Contig__Status status)
{
	switch (status) {
	case CONTIG__STATUS__OK:
		return 0;
	case CONTIG__STATUS__INVALID_ARGUMENT:
		return -EINVAL;
	case CONTIG__STATUS__NO_MEMORY:
		return -ENOMEM;
	case CONTIG__STATUS__QUOTA_EXCEEDED:
		return -EDQUOT;
	case CONTIG__STATUS__NOT_FOUND:
		return -ENOENT;
	case CONTIG__STATUS__MISMATCH:
		return -EILSEQ;
	case CONTIG__STATUS__PERMISSION_DENIED:
		return -EACCES;
	case CONTIG__STATUS__UNSUPPORTED:
		return -EOPNOTSUPP;
	default:
		return -EPROTO;
	}
}

/* Record the failed status of @reply, and its message (also in
 * w->refusal, for contig_wire_recover()). Returns the status's errno. */
static int refused(struct contig_wire *w, const Contig__Reply *reply)
{
	snprintf(w->refusal, sizeof(w->refusal), "%s",
		 reply->message ? reply->message : "refused by contigd");
	return contig_fail(status_errno(reply->status), "%s", w->refusal);
}

/* Is there a refusal of the connection (seq 0) waiting in the socket? Then
 * record it, set *ret_err. */
static bool why_closed(struct contig_wire *w, int *ret_err)
{
	size_t nfds = 0;
	int fds[1];
	ssize_t n = contig_fdpass_recv(w->sock, w->rx, CONTIG_MAX_REPLY_LEN, fds, 0, &nfds, NULL,
				       MSG_DONTWAIT);
	Contig__Reply *reply;
	bool refusal;

	if (n <= 0 || (size_t)n > CONTIG_MAX_REPLY_LEN)
		return false;
	reply = contig__reply__unpack(NULL, (size_t)n, w->rx);
	if (!reply)
		return false;
	/* (Anything else is a reply the daemon sent before it went.) */
	refusal = reply->seq == 0 && reply->status != CONTIG__STATUS__OK;
	if (refusal)
		*ret_err = refused(w, reply);
	contig__reply__free_unpacked(reply, NULL);
	return refusal;
}

static int send_request(struct contig_wire *w, Contig__Request *req)
{
	uint8_t buf[CONTIG_MAX_REQUEST_LEN];
	size_t len = contig__request__get_packed_size(req);
	int r;

	if (w->dead)
		return contig_wire_dead(w);
	if (len > sizeof(buf))
		return contig_fail(-EMSGSIZE, "request too large");
	contig__request__pack(req, buf);
	w->nrequests++;
	r = contig_fdpass_send(w->sock, buf, len, NULL, 0, 0);
	if (r < 0) {
		/* A daemon that refused us (permission, connection limits) said
		 * why in a reply before it closed: read that rather than EPIPE. */
		if (why_closed(w, &r))
			return r;
		w->broken = r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN;
		return contig_fail(r, "sending to contigd: %s", strerror(-r));
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The next datagram. In busy-poll mode, try without sleeping for up to
 * busy_poll_ns first: the reply of a daemon on another CPU usually comes
 * before a sleeping thread could even be woken. */
static ssize_t wire_recv(struct contig_wire *w, int *fds, size_t maxfds, size_t *ret_nfds,
			 size_t *ret_dropped)
{
	if (w->busy_poll_ns) {
		uint64_t deadline = now_ns() + w->busy_poll_ns;

		do {
			ssize_t n = contig_fdpass_recv(w->sock, w->rx, CONTIG_MAX_REPLY_LEN, fds,
						       maxfds, ret_nfds, ret_dropped,
						       MSG_DONTWAIT);

			if (n != -EAGAIN)
				return n;
		} while (now_ns() < deadline);
	}
	return contig_fdpass_recv(w->sock, w->rx, CONTIG_MAX_REPLY_LEN, fds, maxfds, ret_nfds,
				  ret_dropped, 0);
}

/* Receive the next reply, which must carry @seq. Descriptors are stored in
 * @fds (up to @maxfds) and counted in *ret_nfds. Returns the unpacked reply
 * (a failed status already recorded), or NULL with *ret_err set. */
static Contig__Reply *recv_reply(struct contig_wire *w, uint64_t seq, int *fds, size_t maxfds,
				 size_t *ret_nfds, int *ret_err)
{
	size_t nfds = 0, dropped = 0;
	Contig__Reply *reply;
	ssize_t n;

	n = wire_recv(w, fds, maxfds, &nfds, &dropped);
	/* A daemon that closed on us may have said why first; the kernel
	 * reports the reset before that last datagram, so look once more. */
	if (n == -ECONNRESET)
		n = contig_fdpass_recv(w->sock, w->rx, CONTIG_MAX_REPLY_LEN, fds, maxfds, &nfds,
				       &dropped, MSG_DONTWAIT);
	/* (Or a receive timeout: no reply, as good as a closed connection.) */
	if (n == -EAGAIN)
		n = -ECONNRESET;
	if (n <= 0) {
		/* (An empty datagram may still carry descriptors.) */
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		w->broken = n == 0 || n == -ECONNRESET || n == -ENOTCONN;
		*ret_err = contig_fail(n == 0 ? -ECONNRESET : (int)n, "receiving from contigd: %s",
				       n == 0 ? "the daemon closed the connection"
					      : strerror((int)-n));
		return NULL;
	}
	if ((size_t)n > CONTIG_MAX_REPLY_LEN || dropped)
		goto out_proto;
	reply = contig__reply__unpack(NULL, (size_t)n, w->rx);
	if (!reply)
		goto out_proto;
	/* seq 0 with an error: the daemon refused the connection itself. */
	if (reply->seq != seq && !(reply->seq == 0 && reply->status != CONTIG__STATUS__OK)) {
		contig__reply__free_unpacked(reply, NULL);
		goto out_proto;
	}
	if (reply->status != CONTIG__STATUS__OK) {
		/* A refusal carries nothing we could use. */
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		nfds = 0;
		refused(w, reply);
	}
	*ret_nfds = nfds;
	return reply;

out_proto:
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	*ret_err = contig_fail(-EPROTO, "malformed reply from contigd");
	return NULL;
}

/* Receive the reply to @seq, expecting body @body_case, with no
 * descriptors. Returns the reply (status OK) or NULL with *ret_err. */
static Contig__Reply *recv_body(struct contig_wire *w, uint64_t seq,
				Contig__Reply__BodyCase body_case, int *ret_err)
{
	Contig__Reply *reply;
	int fds[1];
	size_t nfds = 0;

	reply = recv_reply(w, seq, fds, 0, &nfds, ret_err);
	if (!reply)
		return NULL;
	if (reply->status != CONTIG__STATUS__OK) {
		*ret_err = status_errno(reply->status);
	} else if (reply->body_case != body_case) {
		*ret_err = contig_fail(-EPROTO, "unexpected reply from contigd");
	} else {
		return reply;
	}
	contig__reply__free_unpacked(reply, NULL);
	return NULL;
}

/* Send @req (its seq set) and receive its reply, expecting body
 * @body_case, with no descriptors. Returns the reply (status OK) or NULL
 * with *ret_err. */
static Contig__Reply *exchange(struct contig_wire *w, Contig__Request *req,
			       Contig__Reply__BodyCase body_case, int *ret_err)
{
	*ret_err = send_request(w, req);
	if (*ret_err < 0)
		return NULL;
	return recv_body(w, req->seq, body_case, ret_err);
}

/* exchange() @req with the next seq, and again with the same seq each
 * time the connection broke and the session came back (a daemon may crash
 * again while the request is being resent). */
static Contig__Reply *call(struct contig_wire *w, Contig__Request *req,
			   Contig__Reply__BodyCase body_case, int *ret_err)
{
	Contig__Reply *reply;

	req->seq = contig_wire_next_seq(w);
	reply = exchange(w, req, body_case, ret_err);
	while (!reply && (*ret_err = contig_wire_recover(w, *ret_err)) == 0)
		reply = exchange(w, req, body_case, ret_err);
	return reply;
}

/* Receive the reply to @seq, with body @body_case and no descriptors; the
 * body is not needed. */
static int expect(struct contig_wire *w, uint64_t seq, Contig__Reply__BodyCase body_case)
{
	int r;
	Contig__Reply *reply = recv_body(w, seq, body_case, &r);

	if (!reply)
		return r;
	contig__reply__free_unpacked(reply, NULL);
	return 0;
}

/* Say hello on w->sock; with @resume, with the session token, to reclaim
 * the session. Keeps the token and grace period the reply gives. Returns
 * 0; -EPROTO (another protocol version); -ESTALE (@resume, and the daemon
 * answered with a new session: it keeps none; message in w->refusal too);
 * a refusal's errno (message recorded, and in w->refusal); or a socket's. */
static int hello(struct contig_wire *w, bool resume)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest h = CONTIG__HELLO_REQUEST__INIT;
	const Contig__HelloReply *hr;
	Contig__Reply *reply;
	int r = 0;

	h.version = CONTIG_PROTOCOL_VERSION;
	h.has_keeps_held_frames_mapped = 1; /* contig.c unmaps a frame with its last buffer */
	h.keeps_held_frames_mapped = 1;
	if (resume) {
		h.has_resume_token = 1;
		h.resume_token.len = CONTIG_TOKEN_LEN;
		h.resume_token.data = w->token;
	}
	req.seq = contig_wire_next_seq(w);
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &h;
	reply = exchange(w, &req, CONTIG__REPLY__BODY_HELLO, &r);
	if (!reply)
		return r == -EOPNOTSUPP && !resume ? -EPROTO : r;
	hr = reply->hello;
	w->accepts_carves = hr->has_accepts_carves && hr->accepts_carves;
	w->hello_left = !hr->has_buffers_left          ? -2
			: hr->buffers_left > INT64_MAX ? INT64_MAX
						       : (int64_t)hr->buffers_left;
	if (resume && !(hr->has_resumed && hr->resumed)) {
		snprintf(w->refusal, sizeof(w->refusal), "%s",
			 "it started a new session instead (it keeps none)");
		r = contig_fail(-ESTALE, "%s", w->refusal);
	} else if (hr->has_session_token && hr->session_token.len == CONTIG_TOKEN_LEN) {
		memcpy(w->token, hr->session_token.data, CONTIG_TOKEN_LEN);
		w->has_token = true;
		w->grace_ms = hr->has_grace_ms ? hr->grace_ms : DEFAULT_GRACE_MS;
	} else if (!resume) {
		w->has_token = false; /* (a resumed session keeps its token) */
	}
	contig__reply__free_unpacked(reply, NULL);
	return r;
}

int contig_wire_hello(struct contig_wire *w)
{
	return hello(w, false);
}

/* A new connection to @addr in *ret_sock. Returns 0 or -errno. */
static int dial(const struct sockaddr_un *addr, int *ret_sock)
{
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (sock < 0)
		return -errno;
	if (connect(sock, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		int r = -errno;

		close(sock);
		return r;
	}
	*ret_sock = sock;
	return 0;
}

int contig_wire_connect(struct contig_wire *w, const char *path)
{
	size_t len = strlen(path);

	if (len >= sizeof(w->addr.sun_path))
		return contig_fail(-ENAMETOOLONG, "socket path too long: %s", path);
	w->addr.sun_family = AF_UNIX;
	memcpy(w->addr.sun_path, path, len + 1);
	return contig_wire_reopen(w);
}

int contig_wire_reopen(struct contig_wire *w)
{
	int r = dial(&w->addr, &w->sock);

	if (r < 0)
		return contig_fail(r, "cannot connect to contigd at %s: %s", w->addr.sun_path,
				   strerror(-r));
	r = contig_wire_hello(w);
	if (r < 0) {
		close(w->sock);
		w->sock = -1;
	}
	return r;
}

void contig_wire_forget(struct contig_wire *w)
{
	w->sock = -1;
	w->broken = false;
	w->dead = false;
	w->has_token = false;
	w->seq = 0;
	w->refusal[0] = '\0';
	w->dead_message[0] = '\0';
}

/* The session is lost for good: say how (@fmt), now and to every later
 * call. Returns -ECONNRESET. */
__attribute__((format(printf, 2, 3))) static int lose(struct contig_wire *w, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->dead_message, sizeof(w->dead_message), fmt, ap);
	va_end(ap);
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	w->dead = true;
	w->broken = false;
	return contig_wire_dead(w);
}

/* Bound each receive on @sock to @ns (0: wait for ever). */
static int set_recv_timeout(int sock, uint64_t ns)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_usec = (suseconds_t)(ns % 1000000000u / 1000u),
	};

	return setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

/* Reclaim the session on the new connection w->sock (@fresh: start a new
 * one), waiting for the answer until @deadline (at least a millisecond).
 * Returns 0 (the session is back, or a new one begun), -ENOENT (no such
 * session, and the caller holds no buffer: a new one will do), -ECONNRESET
 * (the daemon did not give it back: the wire is dead), or -errno with
 * w->broken (no daemon answered: try again). */
static int resume(struct contig_wire *w, uint64_t deadline, bool fresh)
{
	uint64_t now = now_ns();
	int r = set_recv_timeout(w->sock, deadline > now + 1000000u ? deadline - now : 1000000u);

	w->refusal[0] = '\0';
	if (r == 0)
		r = hello(w, !fresh);
	if (r == 0)
		r = set_recv_timeout(w->sock, 0);
	if (r == 0 || w->broken)
		return r;
	if (r == -ENOENT && !fresh && w->nbufs && *w->nbufs == 0)
		return r;
	return lose(w, "contigd restarted and did not give this session back: %s",
		    w->refusal[0] ? w->refusal : strerror(-r));
}

/* A grace period in words: "30 s", "500 ms". */
static void grace_text(uint32_t ms, char *buf, size_t len)
{
	if (ms % 1000u == 0)
		snprintf(buf, len, "%" PRIu32 " s", ms / 1000u);
	else
		snprintf(buf, len, "%" PRIu32 " ms", ms);
}

int contig_wire_recover(struct contig_wire *w, int err)
{
	uint64_t deadline;
	uint32_t backoff_ms = BACKOFF_FIRST_MS;
	char why[300], grace[32];
	bool fresh = false;

	if (!w->broken)
		return err;
	w->broken = false;
	if (!w->reconnect || !w->has_token)
		return err;
	close(w->sock);
	w->sock = -1;
	deadline = now_ns() + (uint64_t)w->grace_ms * 1000000u;
	for (;;) {
		uint64_t now, wait_ms;
		int r = dial(&w->addr, &w->sock);

		if (r == 0) {
			r = resume(w, deadline, fresh);
			if (r == 0 || w->dead)
				return r;
			close(w->sock);
			w->sock = -1;
			if (!w->broken) {
				fresh = true; /* (-ENOENT: it kept no session holding nothing) */
				continue;
			}
			w->broken = false;
			snprintf(why, sizeof(why), "the connection closed before contigd answered");
		} else {
			snprintf(why, sizeof(why), "connecting to %s: %s", w->addr.sun_path,
				 strerror(-r));
		}
		now = now_ns();
		if (now >= deadline) {
			grace_text(w->grace_ms, grace, sizeof(grace));
			return lose(w, "contigd did not come back within the grace period (%s): %s",
				    grace, why);
		}
		/* A signal only cuts a wait short: the deadline is the clock's. */
		wait_ms = (deadline - now + 999999u) / 1000000u;
		if (wait_ms > backoff_ms)
			wait_ms = backoff_ms;
		nanosleep(&(struct timespec){ .tv_sec = (time_t)(wait_ms / 1000u),
					      .tv_nsec = (long)(wait_ms % 1000u) * 1000000L },
			  NULL);
		if (backoff_ms < BACKOFF_MAX_MS)
			backoff_ms = backoff_ms * 2 < BACKOFF_MAX_MS ? backoff_ms * 2 : BACKOFF_MAX_MS;
	}
}

/* contig_wire_alloc_send(), and with @warm a warm frame's. */
static int alloc_send(struct contig_wire *w, const struct contig_alloc_req *in, bool warm,
		      uint64_t seq)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;

	a.len = in->len;
	a.has_lowest = in->lowest_phys != 0;
	a.lowest = in->lowest_phys;
	a.has_highest = in->highest_phys != CONTIG_PHYS_MAX;
	a.highest = in->highest_phys;
	a.has_boundary = in->boundary != 0;
	a.boundary = in->boundary;
	a.has_align = in->align != 0;
	a.align = in->align;
	a.has_cache_type = 1;
	a.cache_type = in->cache_type;
	a.has_node = 1;
	a.node = in->node;
	if (in->node < 0) {
		unsigned cpu, node;

		/* Any node: the daemon tries this CPU's node first. */
		if (getcpu(&cpu, &node) == 0) {
			a.has_near_node = 1;
			a.near_node = (int32_t)node;
		}
	}
	a.has_tag = in->tag != 0;
	a.tag = in->tag;
	a.has_priority = 1;
	a.priority = in->priority;
	a.has_warm = warm;
	a.warm = warm;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	return send_request(w, &req);
}

int contig_wire_alloc_send(struct contig_wire *w, const struct contig_alloc_req *in,
			   uint64_t seq)
{
	return alloc_send(w, in, false, seq);
}

int contig_wire_alloc_recv(struct contig_wire *w, uint64_t seq,
			   struct contig_wire_alloc *ret_alloc)
{
	Contig__Reply *reply;
	struct contig_wire_alloc out;
	size_t got, nfds = 0;
	bool held;
	int r = 0;

	ret_alloc->id = 0;
	/* The first datagram says how many descriptors to expect. */
	{
		int fds[CONTIG_FDS_PER_DATAGRAM];

		reply = recv_reply(w, seq, fds, CONTIG_FDS_PER_DATAGRAM, &nfds, &r);
		if (!reply)
			return r;
		if (reply->status != CONTIG__STATUS__OK) {
			r = status_errno(reply->status);
			goto out_reply;
		}
		held = reply->body_case == CONTIG__REPLY__BODY_ALLOC && reply->alloc->has_frame_held &&
		       reply->alloc->frame_held;
		if (reply->body_case != CONTIG__REPLY__BODY_ALLOC || reply->alloc->nframes == 0 ||
		    reply->alloc->nframes > CONTIG_MAX_FRAMES_PER_BUFFER ||
		    (held && (reply->alloc->nframes != 1 || nfds != 0)) ||
		    (!held && nfds != (reply->alloc->nframes < CONTIG_FDS_PER_DATAGRAM
					       ? reply->alloc->nframes
					       : CONTIG_FDS_PER_DATAGRAM))) {
			for (size_t i = 0; i < nfds; i++)
				close(fds[i]);
			r = contig_fail(-EPROTO, "malformed allocate reply from contigd");
			goto out_reply;
		}
		out.id = reply->alloc->buffer_id;
		out.phys = reply->alloc->phys;
		out.len = reply->alloc->len;
		out.page_len = reply->alloc->page_len;
		out.offset = reply->alloc->offset;
		out.nframes = reply->alloc->nframes;
		out.node = reply->alloc->node;
		out.held = held;
		out.fds = NULL;
		if (held) {
			contig__reply__free_unpacked(reply, NULL);
			*ret_alloc = out;
			return 0;
		}
		out.fds = malloc(out.nframes * sizeof(int));
		if (!out.fds) {
			for (size_t i = 0; i < nfds; i++)
				close(fds[i]);
			r = contig_fail(-ENOMEM, "out of memory");
			goto out_reply;
		}
		memcpy(out.fds, fds, nfds * sizeof(int));
		got = nfds;
		contig__reply__free_unpacked(reply, NULL);
	}
	while (got < out.nframes) {
		size_t n = 0;

		reply = recv_reply(w, seq, out.fds + got, out.nframes - got, &n, &r);
		if (!reply)
			goto out_fds;
		if (reply->status != CONTIG__STATUS__OK ||
		    reply->body_case != CONTIG__REPLY__BODY_FRAMES || reply->frames->first != got ||
		    n == 0) {
			for (size_t i = 0; i < n; i++)
				close(out.fds[got + i]);
			r = contig_fail(-EPROTO, "malformed frame descriptors from contigd");
			contig__reply__free_unpacked(reply, NULL);
			goto out_fds;
		}
		contig__reply__free_unpacked(reply, NULL);
		got += n;
	}
	*ret_alloc = out;
	return 0;

out_fds:
	for (size_t i = 0; i < got; i++)
		close(out.fds[i]);
	free(out.fds);
	/* The daemon holds a buffer we cannot map: the caller gives it back. */
	ret_alloc->id = out.id;
	return r;
out_reply:
	contig__reply__free_unpacked(reply, NULL);
	return r;
}

/* Send the allocate @req with @seq and receive its reply. */
static int alloc_exchange(struct contig_wire *w, const struct contig_alloc_req *req, bool warm,
			  uint64_t seq, struct contig_wire_alloc *ret_alloc)
{
	int r = alloc_send(w, req, warm, seq);

	if (r < 0) {
		ret_alloc->id = 0;
		return r;
	}
	return contig_wire_alloc_recv(w, seq, ret_alloc);
}

/* contig_wire_alloc(), and with @warm a warm frame's. */
static int alloc_call(struct contig_wire *w, const struct contig_alloc_req *req, bool warm,
		      struct contig_wire_alloc *ret_alloc)
{
	uint64_t seq = contig_wire_next_seq(w);
	int r = alloc_exchange(w, req, warm, seq, ret_alloc);

	/* The descriptors that came before the break are closed; the same
	 * seq brings the buffer again if the daemon had allocated it. A
	 * second crash while it is resent is recovered from the same way:
	 * given up, the allocate would stay applied by the daemon and unknown
	 * here. */
	while (r < 0 && (r = contig_wire_recover(w, r)) == 0)
		r = alloc_exchange(w, req, warm, seq, ret_alloc);
	if (r < 0 && ret_alloc->id)
		contig_wire_free(w, ret_alloc->id, NULL, NULL);
	return r;
}

int contig_wire_alloc(struct contig_wire *w, const struct contig_alloc_req *req,
		      struct contig_wire_alloc *ret_alloc)
{
	return alloc_call(w, req, false, ret_alloc);
}

int contig_wire_alloc_warm(struct contig_wire *w, const struct contig_alloc_req *req,
			   struct contig_wire_alloc *ret_alloc)
{
	return alloc_call(w, req, true, ret_alloc);
}

int contig_wire_free_send(struct contig_wire *w, uint64_t id, const uint64_t *check_len,
			  const int *check_cache, uint64_t seq)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__FreeRequest f = CONTIG__FREE_REQUEST__INIT;

	f.buffer_id = id;
	f.has_len = check_len != NULL;
	f.len = check_len ? *check_len : 0;
	f.has_cache_type = check_cache != NULL;
	f.cache_type = check_cache ? *check_cache : 0;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_FREE;
	req.free = &f;
	return send_request(w, &req);
}

int contig_wire_free_recv(struct contig_wire *w, uint64_t seq)
{
	return expect(w, seq, CONTIG__REPLY__BODY_FREE);
}

int contig_wire_free(struct contig_wire *w, uint64_t id, const uint64_t *check_len,
		     const int *check_cache)
{
	uint64_t seq = contig_wire_next_seq(w);
	int r = contig_wire_free_send(w, id, check_len, check_cache, seq);
	bool resent = false;

	if (r == 0)
		r = contig_wire_free_recv(w, seq);
	/* As for an allocate: given up after a second crash, the buffer would
	 * stay held by the daemon and forgotten here. */
	while (r < 0 && (r = contig_wire_recover(w, r)) == 0) {
		resent = true;
		r = contig_wire_free_send(w, id, check_len, check_cache, seq);
		if (r == 0)
			r = contig_wire_free_recv(w, seq);
	}
	/* No such buffer now: the daemon freed it before it restarted. */
	if (r == -ENOENT && resent)
		r = contig_fail(0, "%s", "");
	return r;
}

/* The monitoring part of @st (contig.proto: start_time and on). */
static void counters_of(const Contig__StatsReply *st, struct contig_counters *out)
{
	memset(out, 0, sizeof(*out));
	out->known = st->has_start_time;
	out->start_time = st->start_time;
	out->nallocs = st->nallocs;
	out->nfrees = st->nfrees;
	out->nreleased = st->nreleased;
	out->nsessions_restored = st->nsessions_restored;
	out->nsessions_resumed = st->nsessions_resumed;
	out->norphans = st->norphans;
	out->live_nbuffers = st->live_nbuffers;
	out->live_len = st->live_len;
	for (size_t i = 0; i < st->n_refusals && out->nrefusals < 32; i++) {
		struct contig_refusal_count *o = &out->refusals[out->nrefusals++];

		snprintf(o->reason, sizeof(o->reason), "%s", st->refusals[i]->reason);
		o->status = (int)st->refusals[i]->status;
		o->count = st->refusals[i]->count;
	}
	for (size_t i = 0; i < st->n_latency && out->nlatency < 8; i++) {
		const Contig__RequestLatency *l = st->latency[i];
		struct contig_latency *o = &out->latency[out->nlatency++];
		size_t nb = l->n_bucket_le_ns < CONTIG_LATENCY_BUCKETS ? l->n_bucket_le_ns
								       : CONTIG_LATENCY_BUCKETS;

		snprintf(o->request, sizeof(o->request), "%s", l->request);
		o->count = l->count;
		o->sum_ns = l->sum_ns;
		o->nbuckets = (uint32_t)nb;
		memcpy(o->le_ns, l->bucket_le_ns, nb * sizeof(o->le_ns[0]));
		/* Buckets past our room (a newer daemon's finer ones) fold into
		 * the last, unbounded one: still true of "le +Inf". */
		for (size_t b = 0; b < l->n_bucket_count; b++)
			o->bucket_count[b < nb ? b : nb] += l->bucket_count[b];
	}
	for (size_t i = 0; i < st->n_pools && i < 16; i++)
		out->pool_nframes_lost[i] = st->pools[i]->nframes_lost;
}

int contig_wire_stats(struct contig_wire *w, struct contig_stats *ret_stats,
		      struct contig_pool_segments *ret_segs, size_t max_segs,
		      struct contig_pool_window *ret_windows, size_t max_windows,
		      struct contig_counters *ret_counters)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest s = CONTIG__STATS_REQUEST__INIT;
	struct contig_stats out = { 0 };
	Contig__StatsReply *st;
	Contig__Reply *reply;
	int r;

	req.body_case = CONTIG__REQUEST__BODY_STATS;
	req.stats = &s;
	reply = call(w, &req, CONTIG__REPLY__BODY_STATS, &r);
	if (!reply)
		return r;
	st = reply->stats;
	for (size_t i = 0; i < st->n_pools && i < sizeof(out.pools) / sizeof(out.pools[0]); i++) {
		const Contig__PoolInfo *p = st->pools[i];

		out.pools[i] = (struct contig_pool_stats){
			.node = (int)p->node,
			.page_len = p->page_len,
			.total_len = p->total_len,
			.free_len = p->free_len,
			.largest_free_len = p->largest_free_len,
			.nframes = p->nframes,
			.nframes_owned = p->nframes_owned,
			.nframes_recycling = p->nframes_recycling,
			.nsegments = p->nsegments,
			.largest_segment_len = p->largest_segment_len,
			.nbuffers = p->nbuffers,
			.nclients = p->nclients,
		};
		if (ret_segs && i < max_segs) {
			struct contig_pool_segments *seg = &ret_segs[i];

			memset(seg, 0, sizeof(*seg));
			/* a longer histogram from a newer daemon folds into the last bucket */
			for (size_t b = 0; b < p->n_segment_hist; b++)
				seg->count[b < CONTIG_SEGMENT_BUCKETS ? b : CONTIG_SEGMENT_BUCKETS - 1] +=
					p->segment_hist[b];
			seg->nbroken = p->has_nsegments_broken ? p->nsegments_broken : 0;
			seg->known = p->n_segment_hist > 0;
		}
		if (ret_windows && i < max_windows) {
			ret_windows[i].highest_phys = p->has_below && p->below ? p->below - 1
									     : CONTIG_PHYS_MAX;
			ret_windows[i].wanted_len = p->has_wanted_len ? p->wanted_len : 0;
		}
		out.npools++;
	}
	out.nsessions = st->nsessions;
	out.my_nbuffers = st->my_nbuffers;
	out.my_len = st->my_len;
	out.my_nframes = st->my_nframes;
	out.nrecycled = st->nrecycled;
	out.nrecycle_moved = st->nrecycle_moved;
	out.nframes_lost = st->nframes_lost;
	out.nrecycle_truncated = st->nrecycle_truncated;
	out.nframes_recovered = st->nframes_recovered;
	out.nrequests_waited = st->nrequests_waited;
	out.nbugchecks = st->nbugchecks;
	for (size_t i = 0; i < st->n_tags && i < sizeof(out.tags) / sizeof(out.tags[0]); i++) {
		out.tags[i].tag = st->tags[i]->tag;
		out.tags[i].nbuffers = st->tags[i]->nbuffers;
		out.tags[i].len = st->tags[i]->len;
		out.tags[i].nallocs = st->tags[i]->nallocs;
		out.tags[i].nfrees = st->tags[i]->nfrees;
		out.ntags++;
	}
	for (size_t i = 0; i < st->n_sessions && i < sizeof(out.sessions) / sizeof(out.sessions[0]);
	     i++) {
		const Contig__SessionInfo *si = st->sessions[i];
		struct contig_session_stats *o = &out.sessions[out.nsessions_listed++];

		o->pid = (int)si->pid;
		o->uid = si->uid;
		snprintf(o->comm, sizeof(o->comm), "%s", si->comm);
		o->nbuffers = si->nbuffers;
		o->len = si->len;
		o->nframes = si->nframes;
		o->nbugchecks = si->nbugchecks;
	}
	if (ret_counters)
		counters_of(st, ret_counters);
	contig__reply__free_unpacked(reply, NULL);
	*ret_stats = out;
	return 0;
}

int contig_wire_report(struct contig_wire *w, const char *routine, const char *reason)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__ReportRequest rep = CONTIG__REPORT_REQUEST__INIT;
	Contig__Reply *reply;
	int r;

	rep.routine = (char *)routine;
	rep.reason = (char *)reason;
	req.body_case = CONTIG__REQUEST__BODY_REPORT;
	req.report = &rep;
	reply = call(w, &req, CONTIG__REPLY__BODY_REPORT, &r);
	if (!reply)
		return r;
	contig__reply__free_unpacked(reply, NULL);
	return 0;
}

int contig_wire_carve(struct contig_wire *w, const struct contig_wire_report *rep,
		      int64_t *ret_buffers_left)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__CarveRequest cr = CONTIG__CARVE_REQUEST__INIT;
	Contig__Carve *carves = NULL, **allocs = NULL;
	Contig__CarveTransient *trans = NULL, **transients = NULL;
	Contig__Reply *reply = NULL;
	int r = -ENOMEM;

	if ((rep->nallocs && (!(carves = calloc(rep->nallocs, sizeof(*carves))) ||
			      !(allocs = calloc(rep->nallocs, sizeof(*allocs))))) ||
	    (rep->ntransients && (!(trans = calloc(rep->ntransients, sizeof(*trans))) ||
				  !(transients = calloc(rep->ntransients, sizeof(*transients)))))) {
		r = contig_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rep->nallocs; i++) {
		const struct contig_wire_carve *in = &rep->allocs[i];

		contig__carve__init(&carves[i]);
		carves[i].id = in->id;
		carves[i].frame_id = in->frame_id;
		carves[i].offset = in->offset;
		carves[i].len = in->len;
		carves[i].has_tag = in->tag != 0;
		carves[i].tag = in->tag;
		carves[i].has_req_len = in->req_len != in->len;
		carves[i].req_len = in->req_len;
		allocs[i] = &carves[i];
	}
	for (size_t i = 0; i < rep->ntransients; i++) {
		contig__carve_transient__init(&trans[i]);
		trans[i].tag = rep->transients[i].tag;
		trans[i].count = rep->transients[i].count;
		trans[i].len = rep->transients[i].len;
		transients[i] = &trans[i];
	}
	cr.n_allocs = rep->nallocs;
	cr.allocs = allocs;
	cr.n_frees = rep->nfrees;
	cr.frees = (uint64_t *)rep->frees;
	cr.n_transients = rep->ntransients;
	cr.transients = transients;
	req.body_case = CONTIG__REQUEST__BODY_CARVE;
	req.carve = &cr;
	reply = call(w, &req, CONTIG__REPLY__BODY_CARVE, &r);
	if (!reply)
		goto out;
	*ret_buffers_left = reply->carve->has_buffers_left
				    ? (reply->carve->buffers_left > INT64_MAX
					       ? INT64_MAX
					       : (int64_t)reply->carve->buffers_left)
				    : -1;
	contig__reply__free_unpacked(reply, NULL);
	r = 0;
out:
	free(carves);
	free(allocs);
	free(trans);
	free(transients);
	return r;
}

/* Most entries a list may have; a reply claiming more is malformed. */
#define CONTIG_MAX_LISTED (1u << 24)
/* Times a list is started over because it changed between its pages. */
#define LIST_ATTEMPTS 8

/* Append the entries of one page (@st) of the buffer list or frame list to
 * *@list (@n entries so far, room for *@cap), growing it by what actually
 * arrived, never by what a reply claims. Returns 0 or -errno. */
static int list_page(const Contig__StatsReply *st, bool frames, void **list, size_t n,
		     size_t *cap)
{
	size_t esize = frames ? sizeof(struct contig_frame_info) : sizeof(struct contig_buffer_info);
	size_t got = frames ? st->n_frames : st->n_buffers;

	if (n + got > *cap) {
		size_t want = *cap ? *cap : 64;
		void *grown;

		while (want < n + got)
			want *= 2;
		grown = realloc(*list, want * esize);
		if (!grown)
			return contig_fail(-ENOMEM, "out of memory");
		*list = grown;
		*cap = want;
	}
	for (size_t i = 0; i < got; i++) {
		if (frames) {
			const Contig__FrameInfo *f = st->frames[i];
			struct contig_frame_info *o = (struct contig_frame_info *)*list + n + i;
			bool owner = f->has_owner_pid || f->has_cache_type || f->has_nbuffers;

			if (f->pool >= st->n_pools || f->state > CONTIG_FRAME_STATUS_LOST ||
			    (owner && (f->state != CONTIG_FRAME_STATUS_OWNED || !f->has_owner_pid ||
				       f->owner_pid == 0 || f->owner_pid > INT32_MAX ||
				       !f->has_cache_type || f->cache_type < 0 ||
				       f->cache_type > CONTIG_USWC_CACHED)))
				return contig_fail(-EPROTO, "malformed frame list from contigd");
			*o = (struct contig_frame_info){
				.pool = f->pool,
				.phys = f->phys,
				.status = (int)f->state,
				.owner_pid = owner ? (int)f->owner_pid : 0,
				.cache_type = owner ? f->cache_type : -1,
				.nbuffers = f->has_nbuffers ? f->nbuffers : 0,
			};
		} else {
			const Contig__BufferInfo *b = st->buffers[i];
			struct contig_buffer_info *o = (struct contig_buffer_info *)*list + n + i;

			if (b->pool >= st->n_pools || b->pid > INT32_MAX || b->len == 0 ||
			    b->cache_type < 0 || b->cache_type > CONTIG_USWC_CACHED)
				return contig_fail(-EPROTO, "malformed buffer list from contigd");
			*o = (struct contig_buffer_info){
				.id = b->id,
				.pid = (int)b->pid,
				.uid = b->uid,
				.pool = b->pool,
				.node = (int)st->pools[b->pool]->node,
				.page_len = st->pools[b->pool]->page_len,
				.phys = b->phys,
				.len = b->len,
				.cache_type = b->cache_type,
				.tag = b->tag,
			};
		}
	}
	return 0;
}

int contig_wire_list(struct contig_wire *w, bool frames, void **ret_list, size_t *ret_n)
{
	const char *what = frames ? "frames" : "buffers";

	for (int changes = 0; changes < LIST_ATTEMPTS;) {
		void *list = NULL;
		size_t n = 0, cap = 0, total = 0;
		uint64_t generation = 0;
		bool changed = false;
		int r = 0;

		do {
			Contig__Request req = CONTIG__REQUEST__INIT;
			Contig__StatsRequest s = CONTIG__STATS_REQUEST__INIT;
			const Contig__StatsReply *st;
			Contig__Reply *reply;
			size_t page_total, got;

			if (frames) {
				s.has_want_frames = s.want_frames = 1;
				s.has_first_frame = n > 0;
				s.first_frame = (uint32_t)n;
			} else {
				s.has_want_buffers = s.want_buffers = 1;
				s.has_first_buffer = n > 0;
				s.first_buffer = (uint32_t)n;
			}
			req.seq = contig_wire_next_seq(w);
			req.body_case = CONTIG__REQUEST__BODY_STATS;
			req.stats = &s;
			reply = exchange(w, &req, CONTIG__REPLY__BODY_STATS, &r);
			if (!reply)
				break;
			st = reply->stats;
			page_total = frames ? st->nframes_listed : st->nbuffers_listed;
			got = frames ? st->n_frames : st->n_buffers;
			if (!(frames ? st->has_nframes_listed : st->has_nbuffers_listed) ||
			    !st->has_generation) {
				r = contig_fail(-EOPNOTSUPP, "this contigd does not list %s", what);
			} else if (n > 0 && st->generation != generation) {
				changed = true;
			} else if ((n == 0 && page_total > CONTIG_MAX_LISTED) ||
				   (n > 0 && page_total != total) || got > page_total - n ||
				   (got == 0 && n < page_total)) {
				r = contig_fail(-EPROTO, "malformed %s list from contigd", what);
			} else {
				if (n == 0) {
					total = page_total;
					generation = st->generation;
				}
				r = list_page(st, frames, &list, n, &cap);
				n += got;
			}
			contig__reply__free_unpacked(reply, NULL);
		} while (r == 0 && !changed && n < total);
		if (r < 0) {
			free(list);
			/* A restarted daemon numbers its changes anew: start over
			 * (after each restart). */
			if ((r = contig_wire_recover(w, r)) < 0)
				return r;
			continue;
		}
		if (!changed) {
			if (n == 0) {
				free(list);
				list = NULL;
			}
			*ret_list = list;
			*ret_n = n;
			return 0;
		}
		free(list);
		changes++;
	}
	return contig_fail(-EAGAIN, "the %s kept changing while they were listed; try again",
			   what);
}
