/* rpc.c - decode one request, check it, call session/pool, encode the reply.
 *
 * DESIGN
 * Every request datagram gets exactly one reply with its seq (an allocate
 * reply may be followed by FrameFds datagrams when its descriptors do not
 * fit one datagram), except a request that must wait for frames being
 * recycled: then nothing is sent, and server.c calls again with the same
 * datagram once the recycler reports. Input is never trusted: unpack
 * failures and requests before hello close the connection with a
 * PROTOCOL_ERROR reply; a well-formed request with a bad field gets
 * INVALID_ARGUMENT naming the field; an unknown request type (a newer
 * client) gets UNSUPPORTED and the connection stays open.
 *
 * Owns decoding, dispatch, the hello, allocate, free, report and carve
 * (fast-path report) handlers,
 * encoding and sending. What is refused and in what words is check.c's
 * (every handler asks it first, and turns a failure of the session into
 * a refusal through it); what a stats reply says is stats.c's. Refusals
 * are counted by reason into the metrics server.c registered, and so is
 * every request's latency, from its arrival to its reply (metrics.h).
 *
 * Replies leave through the contig_rpc_ops its caller registered: rpc.c
 * never calls server.c (nor includes server.h), which calls rpc.c; nor do
 * check.c and stats.c call rpc.c.
 *
 * Unpack and free_unpacked sit in contig_rpc_handle() only. Loop thread only.
 */
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "contig.pb-c.h"
#include "fdpass.h"
#include "log.h"
#include "stats.h"

/* Where refusals, allocations and latency are counted (server.c's); NULL:
 * nowhere (the fuzz targets). */
static struct contig_metrics *metrics;

/* How replies reach a connection (server.c's; the fuzz target's fake). */
static const struct contig_rpc_ops *conn_ops;

void contig_rpc_set_metrics(struct contig_metrics *m)
{
	metrics = m;
}

void contig_rpc_set_ops(const struct contig_rpc_ops *ops)
{
	conn_ops = ops;
}

static void send_reply(struct contig_conn *conn, Contig__Reply *reply, const int *fds, size_t nfds)
{
	uint8_t buf[CONTIG_MAX_REPLY_LEN];
	size_t len = contig__reply__get_packed_size(reply);

	/* Replies are built from bounded data (a few pools); overflow is our bug. */
	if (len > sizeof(buf)) {
		contig_log(LOG_ERR, "%s: reply of %zu bytes too large", conn_ops->name(conn),
			   len);
		return;
	}
	contig__reply__pack(reply, buf);
	conn_ops->send(conn, buf, len, fds, nfds);
}

/* Refuse request @seq as @r says (check.c's), and count it. */
static void send_refused(struct contig_conn *conn, uint64_t seq, const struct contig_refused *r)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__Status status = contig_refusal_status(r->why);

	if (metrics)
		metrics->nrefused[r->why]++;
	reply.seq = seq;
	reply.status = status;
	reply.message = (char *)r->message;
	/* Every refusal, "no memory" included: an operator asking why a driver
	 * got NULL finds the reason in the journal. */
	contig_log(status == CONTIG__STATUS__PROTOCOL_ERROR ? LOG_WARNING : LOG_INFO,
		   "%s: refused: %s", conn_ops->name(conn), r->message);
	send_reply(conn, &reply, NULL, 0);
}

/* Refuse request @seq for @why, in its default words. */
static void send_default(struct contig_conn *conn, uint64_t seq, enum contig_refusal why)
{
	struct contig_refused r;

	contig_refuse_default(&r, why);
	send_refused(conn, seq, &r);
}

void contig_rpc_protocol_error(struct contig_conn *conn, const char *message)
{
	struct contig_refused r;

	contig_refuse_with(&r, CONTIG_REFUSED_PROTOCOL_ERROR, message);
	send_refused(conn, 0, &r);
}

void contig_rpc_refuse(struct contig_conn *conn, enum contig_rpc_refusal why,
		       const char *message)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	enum contig_refusal r = why == CONTIG_RPC_PERMISSION_DENIED ? CONTIG_REFUSED_CONN_DENIED
								    : CONTIG_REFUSED_CONN_LIMIT;

	/* The caller logs the refusal with the connection's close. */
	reply.status = contig_refusal_status(r);
	if (metrics)
		metrics->nrefused[r]++;
	reply.message = (char *)message;
	send_reply(conn, &reply, NULL, 0);
}

static enum contig_rpc_result do_hello(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__HelloRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__HelloReply hello = CONTIG__HELLO_REPLY__INIT;
	const struct contig_pools *env = s->pools;
	struct contig_session *orphan = NULL;
	struct contig_refused refused;
	uint64_t sizes[8];
	uint32_t nodes[8];
	size_t nsizes = 0, nnodes = 0;
	Contig__PoolInfo *infos, **ptrs;

	if (!contig_check_hello(req, &refused)) {
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_CLOSE;
	}
	if (contig_stats_pool_infos(env, &infos, &ptrs) < 0) {
		send_default(conn, seq, CONTIG_REFUSED_NO_MEMORY);
		return CONTIG_RPC_DONE;
	}
	if (req->has_resume_token) {
		/* A hello's resume_token: reclaim the orphan it names for this
		 * connection. */
		orphan = contig_check_resume(s, &req->resume_token, &refused);
		if (!orphan) {
			send_refused(conn, seq, &refused);
			free(ptrs);
			free(infos);
			return CONTIG_RPC_CLOSE;
		}
		contig_session_resume(orphan, s->pid, s->comm);
		if (metrics)
			metrics->nsessions_resumed++;
		contig_log(LOG_INFO, "%s: reclaimed its session: %" PRIu32 " buffers in %" PRIu32
			   " frames", conn_ops->name(conn), orphan->nbuffers, orphan->nframes);
		conn_ops->set_session(conn, orphan); /* frees the connection's own */
		s = orphan;
		hello.has_resumed = 1;
		hello.resumed = 1;
	} else {
		contig_session_journal_open(s);
	}
	for (size_t i = 0; i < env->npools; i++) {
		size_t j;

		for (j = 0; j < nsizes && sizes[j] != env->pools[i]->page_len; j++)
			;
		if (j == nsizes && nsizes < 8)
			sizes[nsizes++] = env->pools[i]->page_len;
		for (j = 0; j < nnodes && nodes[j] != (uint32_t)env->pools[i]->node; j++)
			;
		if (j == nnodes && nnodes < 8)
			nodes[nnodes++] = (uint32_t)env->pools[i]->node;
	}
	s->keeps_held_frames_mapped = req->has_keeps_held_frames_mapped &&
				      req->keeps_held_frames_mapped;
	hello.version = CONTIG_PROTOCOL_VERSION;
	hello.n_page_sizes = nsizes;
	hello.page_sizes = sizes;
	hello.n_nodes = nnodes;
	hello.nodes = nodes;
	hello.n_pools = env->npools;
	hello.pools = ptrs;
	hello.max_frames_per_buffer = env->limits.max_frames_per_buffer;
	/* A full report is a whole CONTIG_MAX_REQUEST_LEN: with a smaller
	 * max_request_len it would close the connection, so the client is
	 * told to take a round trip per buffer instead. */
	hello.has_accepts_carves = 1;
	hello.accepts_carves = env->limits.max_request_len >= CONTIG_MAX_REQUEST_LEN;
	hello.has_buffers_left = hello.accepts_carves;
	hello.buffers_left = contig_quota_buffers_left(s->pools, s->user_uid, s->nbuffers);
	if (env->journal) {
		hello.has_session_token = 1;
		hello.session_token.len = CONTIG_TOKEN_LEN;
		hello.session_token.data = s->token;
		hello.has_grace_ms = 1;
		hello.grace_ms = env->session_grace_ms > UINT32_MAX ? UINT32_MAX
								    : (uint32_t)env->session_grace_ms;
	}
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_HELLO;
	reply.hello = &hello;
	send_reply(conn, &reply, NULL, 0);
	free(ptrs);
	free(infos);
	return CONTIG_RPC_DONE;
}

/* Send the allocate reply and the buffer's frame descriptors, in frame
 * order, CONTIG_FDS_PER_DATAGRAM at a time; none for a one-frame buffer in
 * a frame that already held one of the session's buffers, if the client
 * keeps such frames mapped (the common small buffer: the round trip then
 * passes no descriptor, which the client would only close). */
static void send_alloc(struct contig_conn *conn, const struct contig_session *s, uint64_t seq,
		       const struct contig_live_buffer *b, bool resent)
{
	const struct contig_pool *pool = b->pool;
	uint64_t first = b->phys - b->phys % pool->page_len;
	uint32_t nframes = (uint32_t)((b->phys + b->len - 1) / pool->page_len -
				      first / pool->page_len + 1);
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__AllocReply alloc = CONTIG__ALLOC_REPLY__INIT;
	Contig__FrameFds more = CONTIG__FRAME_FDS__INIT;
	int fds[CONTIG_FDS_PER_DATAGRAM] = { 0 };
	uint32_t sent = 0;

	alloc.buffer_id = b->id;
	alloc.phys = b->phys;
	alloc.len = b->len;
	alloc.page_len = pool->page_len;
	alloc.offset = b->phys - first;
	alloc.nframes = nframes;
	alloc.node = (uint32_t)pool->node;
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_ALLOC;
	reply.alloc = &alloc;
	/* (Not for a resent allocate: the frame's other buffers may be ones the
	 * same restart kept from the client, which never mapped them.) */
	if (!resent && s->keeps_held_frames_mapped && nframes == 1 &&
	    contig_pool_frame_at(pool, first)->nbuffers > 1) {
		alloc.has_frame_held = 1;
		alloc.frame_held = 1;
		send_reply(conn, &reply, NULL, 0);
		return;
	}
	do {
		uint32_t n = nframes - sent;

		if (n > CONTIG_FDS_PER_DATAGRAM)
			n = CONTIG_FDS_PER_DATAGRAM;
		for (uint32_t i = 0; i < n; i++)
			fds[i] = contig_pool_frame_at(pool, first + (uint64_t)(sent + i) *
								     pool->page_len)->file.fd;
		if (sent > 0) {
			more.first = sent;
			reply.body_case = CONTIG__REPLY__BODY_FRAMES;
			reply.frames = &more;
		}
		send_reply(conn, &reply, fds, n);
		sent += n;
	} while (sent < nframes);
}

/* An allocate request: checked (check.c), placed (session.c), sent. */
static enum contig_rpc_result do_alloc(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__AllocRequest *req)
{
	struct contig_alloc_params p;
	struct contig_refused refused;
	const char *limit = NULL;
	struct contig_live_buffer *b;
	int r;

	/* A client that reclaimed its session resends the allocate whose
	 * reply the restart lost: if it was made, it is this buffer. */
	if (s->nresume_seqs && (b = contig_session_buffer_by_seq(s, seq))) {
		send_alloc(conn, s, seq, b, true);
		return CONTIG_RPC_DONE;
	}
	if (!contig_check_alloc(req, seq, &p, &refused)) {
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_DONE;
	}
	r = contig_session_alloc(s, &p, &limit, &b);
	if (r == -EAGAIN)
		return CONTIG_RPC_WAIT;
	if (r < 0) {
		contig_check_alloc_failed(s, &p, r, limit, &refused);
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_DONE;
	}
	if (metrics && !b->warm) /* (a warm frame is no buffer: its carves count) */
		metrics->nallocs++;
	send_alloc(conn, s, seq, b, false);
	return CONTIG_RPC_DONE;
}

static enum contig_rpc_result do_free(struct contig_conn *conn, struct contig_session *s,
				      uint64_t seq, const Contig__FreeRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__FreeReply fr = CONTIG__FREE_REPLY__INIT;
	const struct contig_live_buffer *b = contig_session_buffer(s, req->buffer_id);
	struct contig_refused refused;
	uint64_t len = req->len;
	int cache = req->cache_type;
	bool warm = b && b->warm;
	uint32_t ncarves = 0;
	int r;

	r = contig_session_free_buffer(s, req->buffer_id, req->has_len ? &len : NULL,
				       req->has_cache_type ? &cache : NULL, &ncarves);
	if (r < 0) {
		contig_check_free_failed(req, b, r, &refused);
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_DONE;
	}
	/* A warm frame is no buffer; the carves that went with it are. */
	if (metrics)
		metrics->nfrees += ncarves + !warm;
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_FREE;
	reply.free = &fr;
	send_reply(conn, &reply, NULL, 0);
	return CONTIG_RPC_DONE;
}

static enum contig_rpc_result do_stats(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__StatsRequest *req,
				       const struct contig_rpc_counters *counters)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	struct contig_refused refused;
	struct contig_stats *stats;

	if (!contig_check_stats(req, &refused)) {
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_DONE;
	}
	reply.seq = seq;
	/* Asked what is free: the frames sessions keep go to the recycler,
	 * so free memory shows whole once it is done, as after any free
	 * (session.c's DESIGN, kept frames). */
	if (s)
		contig_session_keep_release_all(s->pools);
	if (contig_stats_build(s, req, &counters->stats, metrics, &reply, &stats) < 0) {
		send_default(conn, seq, CONTIG_REFUSED_NO_MEMORY);
		return CONTIG_RPC_DONE;
	}
	send_reply(conn, &reply, NULL, 0);
	contig_stats_free(stats);
	return CONTIG_RPC_DONE;
}

static enum contig_rpc_result do_report(struct contig_conn *conn, struct contig_session *s,
					uint64_t seq, const Contig__ReportRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__ReportReply rr = CONTIG__REPORT_REPLY__INIT;
	struct contig_refused refused;

	if (!contig_check_report(req, &refused)) {
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_DONE;
	}
	/* Counted, not logged: the client logs it once per call site, and a
	 * loop of bad frees must not flood the daemon's log. */
	s->nbugchecks++;
	s->pools->nbugchecks++;
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_REPORT;
	reply.report = &rr;
	send_reply(conn, &reply, NULL, 0);
	return CONTIG_RPC_DONE;
}

/* A fast-path report: checked whole (check.c), applied (session_carve.c),
 * answered with the room left under the buffer-count limits. */
static enum contig_rpc_result do_carve(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__CarveRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__CarveReply cr = CONTIG__CARVE_REPLY__INIT;
	struct contig_carve_report rep;
	struct contig_carve_result res;
	struct contig_refused refused;

	if (!contig_check_carve(s, req, &rep, &refused)) {
		send_refused(conn, seq, &refused);
		return CONTIG_RPC_DONE;
	}
	if (contig_session_carve_apply(s, &rep, &res) < 0) {
		contig_check_carve_done(&rep);
		send_default(conn, seq, CONTIG_REFUSED_NO_MEMORY);
		return CONTIG_RPC_DONE;
	}
	contig_check_carve_done(&rep);
	if (metrics) {
		metrics->nallocs += res.nadded + res.ntransient;
		metrics->nfrees += res.nfreed + res.ntransient;
	}
	/* (Past a limit the carves are recorded all the same: the client
	 * has them. It learns it may not take more: 0 left.) */
	cr.has_buffers_left = 1;
	cr.buffers_left = contig_quota_buffers_left(s->pools, s->user_uid, s->nbuffers);
	cr.has_nunknown = res.nunknown > 0;
	cr.nunknown = res.nunknown;
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_CARVE;
	reply.carve = &cr;
	send_reply(conn, &reply, NULL, 0);
	return CONTIG_RPC_DONE;
}

/* What latency @req is counted under. */
static enum contig_metrics_kind request_kind(const Contig__Request *req)
{
	switch (req->body_case) {
	case CONTIG__REQUEST__BODY_HELLO:
		return CONTIG_METRICS_HELLO;
	case CONTIG__REQUEST__BODY_ALLOC:
		return CONTIG_METRICS_ALLOC;
	case CONTIG__REQUEST__BODY_FREE:
		return CONTIG_METRICS_FREE;
	case CONTIG__REQUEST__BODY_STATS:
		return CONTIG_METRICS_STATS;
	case CONTIG__REQUEST__BODY_REPORT:
		return CONTIG_METRICS_REPORT;
	default:
		return CONTIG_METRICS_OTHER;
	}
}

enum contig_rpc_result contig_rpc_handle(struct contig_conn *conn, struct contig_session *session,
					 bool *hello_done, const struct contig_rpc_counters *counters,
					 const void *data, size_t len)
{
	uint64_t arrived_ns = counters->arrived_ns;
	struct contig_refused refused;
	Contig__Request *req;
	enum contig_rpc_result res;

	if (metrics && !arrived_ns)
		arrived_ns = contig_metrics_now_ns();
	req = contig__request__unpack(NULL, len, data);
	if (!req) {
		send_default(conn, 0, CONTIG_REFUSED_PROTOCOL_ERROR);
		if (metrics)
			contig_metrics_observe(metrics, CONTIG_METRICS_OTHER,
					       contig_metrics_now_ns() - arrived_ns);
		return CONTIG_RPC_CLOSE;
	}
	if (!contig_check_request(req, *hello_done, &refused)) {
		send_refused(conn, req->seq, &refused);
		res = refused.why == CONTIG_REFUSED_PROTOCOL_ERROR ? CONTIG_RPC_CLOSE
								   : CONTIG_RPC_DONE;
		goto out_free;
	}
	switch (req->body_case) {
	case CONTIG__REQUEST__BODY_HELLO:
		res = do_hello(conn, session, req->seq, req->hello);
		if (res == CONTIG_RPC_DONE)
			*hello_done = true;
		break;
	case CONTIG__REQUEST__BODY_ALLOC:
		res = do_alloc(conn, session, req->seq, req->alloc);
		break;
	case CONTIG__REQUEST__BODY_FREE:
		res = do_free(conn, session, req->seq, req->free);
		break;
	case CONTIG__REQUEST__BODY_STATS:
		res = do_stats(conn, session, req->seq, req->stats, counters);
		break;
	case CONTIG__REQUEST__BODY_REPORT:
		res = do_report(conn, session, req->seq, req->report);
		break;
	case CONTIG__REQUEST__BODY_CARVE:
		res = do_carve(conn, session, req->seq, req->carve);
		break;
	default: /* not reached: contig_check_request() let no other through */
		send_default(conn, req->seq, CONTIG_REFUSED_UNSUPPORTED);
		res = CONTIG_RPC_DONE;
		break;
	}
out_free:
	if (metrics && res != CONTIG_RPC_WAIT)
		contig_metrics_observe(metrics, request_kind(req),
				       contig_metrics_now_ns() - arrived_ns);
	contig__request__free_unpacked(req, NULL);
	return res;
}
