/* rpc.c - decode one request, call session/pool, encode the reply.
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
 * A stats reply may carry a page of the buffer list or of the frame list
 * (contig.proto, "Lists"): as many entries from the requested index as fit
 * in CONTIG_MAX_REPLY_LEN beside the rest of the reply, counted with
 * protobuf-c's own sizes, so a reply never exceeds the limit whatever the
 * number of buffers or frames. What reveals another session (its
 * processes, buffers, tags, frame owners) goes to sees_all() callers only,
 * and so does the physical address of any frame not the caller's own,
 * free ones included (see frame_view).
 *
 * Refusals are counted by reason (the refusals table: reason name and wire
 * status) into the metrics server.c registered, and so is every request's
 * latency, from its arrival to its reply (metrics.h); the stats reply shows
 * them to anyone (how busy the daemon is, not who uses it).
 *
 * Replies leave through the contig_rpc_ops its caller registered: rpc.c
 * never calls server.c (nor includes server.h), which calls rpc.c.
 *
 * Unpack and free_unpacked sit in contig_rpc_handle() only. Loop thread only.
 */
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contig.pb-c.h"
#include "fdpass.h"
#include "log.h"

/* Tags in one stats reply: keeps it well inside CONTIG_MAX_REPLY_LEN. */
#define CONTIG_STATS_MAX_TAGS 64
#define CONTIG_STATS_MAX_SESSIONS 256

/* Bytes kept free when a stats reply is filled with list entries: the
 * length prefix of the stats body grows by at most 2 bytes as entries are
 * added (it is at most 3 bytes below 64 KiB). */
#define CONTIG_STATS_LIST_SLACK 8

/* Why a request or a connection was refused: the stats reply's
 * RefusalCount.reason, and the wire status it was sent with. Only ever
 * added to (monitoring keys on the names). */
enum refusal {
	REFUSED_INVALID_ARGUMENT,
	REFUSED_NO_MEMORY,     /* any other NO_MEMORY: the daemon's own allocation */
	REFUSED_NO_RANGE,      /* no free range satisfies every constraint */
	REFUSED_NO_POOL,       /* the node asked for has no pool */
	REFUSED_WATERMARK,     /* low or normal priority below the pool's watermark */
	REFUSED_QUOTA,         /* a per-client or per-user limit */
	REFUSED_MAX_FRAMES,    /* max_frames_per_buffer */
	REFUSED_NOT_FOUND,
	REFUSED_MISMATCH,
	REFUSED_PERMISSION_DENIED,
	REFUSED_UNSUPPORTED,
	REFUSED_PROTOCOL_ERROR,
	REFUSED_CONN_DENIED,   /* at accept: not an allowed user or group */
	REFUSED_CONN_LIMIT,    /* at accept: max_connections(_per_user) */
	REFUSED_FAIR_SHARE,    /* below watermark_low, a user past its fair share */
	REFUSED_N,
};

static const struct {
	const char *name;
	Contig__Status status;
} refusals[REFUSED_N] = {
	[REFUSED_INVALID_ARGUMENT] = { "invalid_argument", CONTIG__STATUS__INVALID_ARGUMENT },
	[REFUSED_NO_MEMORY] = { "no_memory", CONTIG__STATUS__NO_MEMORY },
	[REFUSED_NO_RANGE] = { "no_range", CONTIG__STATUS__NO_MEMORY },
	[REFUSED_NO_POOL] = { "no_pool", CONTIG__STATUS__NO_MEMORY },
	[REFUSED_WATERMARK] = { "watermark", CONTIG__STATUS__NO_MEMORY },
	[REFUSED_QUOTA] = { "quota_exceeded", CONTIG__STATUS__QUOTA_EXCEEDED },
	[REFUSED_MAX_FRAMES] = { "max_frames_per_buffer", CONTIG__STATUS__QUOTA_EXCEEDED },
	[REFUSED_NOT_FOUND] = { "not_found", CONTIG__STATUS__NOT_FOUND },
	[REFUSED_MISMATCH] = { "mismatch", CONTIG__STATUS__MISMATCH },
	[REFUSED_PERMISSION_DENIED] = { "permission_denied", CONTIG__STATUS__PERMISSION_DENIED },
	[REFUSED_UNSUPPORTED] = { "unsupported", CONTIG__STATUS__UNSUPPORTED },
	[REFUSED_PROTOCOL_ERROR] = { "protocol_error", CONTIG__STATUS__PROTOCOL_ERROR },
	[REFUSED_CONN_DENIED] = { "connection_denied", CONTIG__STATUS__PERMISSION_DENIED },
	[REFUSED_CONN_LIMIT] = { "max_connections", CONTIG__STATUS__QUOTA_EXCEEDED },
	[REFUSED_FAIR_SHARE] = { "fair_share", CONTIG__STATUS__NO_MEMORY },
};

_Static_assert(REFUSED_N <= CONTIG_METRICS_MAX_REFUSALS, "metrics.h: room for every refusal");

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

/* The reason a refusal with wire status @status alone is counted under. */
static enum refusal refusal_of(Contig__Status status)
{
	for (unsigned i = 0; i < REFUSED_N; i++)
		if (refusals[i].status == status)
			return (enum refusal)i;
	return REFUSED_PROTOCOL_ERROR; /* not reached: every status has one */
}

/* May @s see what other sessions hold? DESIGN.md: the daemon's
 * administrators. */
static bool sees_all(const struct contig_session *s)
{
	return s->uid == 0;
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

__attribute__((format(printf, 4, 0))) static void send_refusal_v(struct contig_conn *conn,
								 uint64_t seq, enum refusal why,
								 const char *fmt, va_list ap)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__Status status = refusals[why].status;
	char message[256];

	vsnprintf(message, sizeof(message), fmt, ap);
	if (metrics)
		metrics->nrefused[why]++;
	reply.seq = seq;
	reply.status = status;
	reply.message = message;
	/* Every refusal, "no memory" included: an operator asking why a driver
	 * got NULL finds the reason in the journal. */
	contig_log(status == CONTIG__STATUS__PROTOCOL_ERROR ? LOG_WARNING : LOG_INFO,
		   "%s: refused: %s", conn_ops->name(conn), message);
	send_reply(conn, &reply, NULL, 0);
}

/* Refuse request @seq for @why, saying so in @fmt. */
__attribute__((format(printf, 4, 5))) static void send_refusal(struct contig_conn *conn,
							       uint64_t seq, enum refusal why,
							       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_refusal_v(conn, seq, why, fmt, ap);
	va_end(ap);
}

/* Refuse request @seq with @status, counted under that status's reason. */
__attribute__((format(printf, 4, 5))) static void send_status(struct contig_conn *conn,
							      uint64_t seq, Contig__Status status,
							      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_refusal_v(conn, seq, refusal_of(status), fmt, ap);
	va_end(ap);
}

void contig_rpc_protocol_error(struct contig_conn *conn, const char *message)
{
	send_status(conn, 0, CONTIG__STATUS__PROTOCOL_ERROR, "%s", message);
}

void contig_rpc_refuse(struct contig_conn *conn, enum contig_rpc_refusal why,
		       const char *message)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;

	/* The caller logs the refusal with the connection's close. */
	reply.status = why == CONTIG_RPC_PERMISSION_DENIED ? CONTIG__STATUS__PERMISSION_DENIED
							   : CONTIG__STATUS__QUOTA_EXCEEDED;
	if (metrics)
		metrics->nrefused[why == CONTIG_RPC_PERMISSION_DENIED ? REFUSED_CONN_DENIED
								     : REFUSED_CONN_LIMIT]++;
	reply.message = (char *)message;
	send_reply(conn, &reply, NULL, 0);
}

/* A PoolInfo with the storage of its histogram. */
struct pool_info_store {
	Contig__PoolInfo info; /* first: the array is freed through it */
	uint32_t hist[CONTIG_SEGMENT_BUCKETS];
};

static void fill_pool_info(const struct contig_pool *pool, struct pool_info_store *store)
{
	Contig__PoolInfo *out = &store->info;
	struct contig_pool_info info;

	contig_pool_get_info(pool, &info);
	contig__pool_info__init(out);
	out->node = (uint32_t)pool->node;
	out->page_len = pool->page_len;
	out->total_len = info.total_len;
	out->free_len = info.free_len;
	out->largest_free_len = info.largest_free_len;
	out->nframes = info.nframes;
	out->nframes_owned = info.nframes_owned;
	out->nframes_recycling = info.nframes_recycling;
	out->nsegments = info.nsegments;
	out->largest_segment_len = info.largest_segment_len;
	out->nbuffers = info.nbuffers;
	out->nclients = pool->nsessions;
	memcpy(store->hist, info.segment_hist, sizeof(store->hist));
	out->n_segment_hist = CONTIG_SEGMENT_BUCKETS;
	out->segment_hist = store->hist;
	out->has_nsegments_broken = true;
	out->nsegments_broken = info.nsegments_broken;
	out->has_below = info.below != 0;
	out->below = info.below;
	out->has_wanted_len = info.wanted_len != 0;
	out->wanted_len = info.wanted_len;
	out->has_nframes_lost = true;
	out->nframes_lost = info.nframes_lost;
}

/* Pool infos for every pool, in two arrays the caller frees. */
static int pool_infos(const struct contig_pools *env, Contig__PoolInfo **ret_infos,
		      Contig__PoolInfo ***ret_ptrs)
{
	struct pool_info_store *infos = calloc(env->npools, sizeof(*infos));
	Contig__PoolInfo **ptrs = calloc(env->npools, sizeof(*ptrs));

	if (!infos || !ptrs) {
		free(infos);
		free(ptrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < env->npools; i++) {
		fill_pool_info(env->pools[i], &infos[i]);
		ptrs[i] = &infos[i].info;
	}
	*ret_infos = &infos[0].info;
	*ret_ptrs = ptrs;
	return 0;
}

/* A hello's resume_token: reclaim the orphan it names for this connection.
 * Returns the session, or NULL after a refusal was sent. */
static struct contig_session *resume(struct contig_conn *conn, struct contig_session *s,
				     uint64_t seq, const ProtobufCBinaryData *token)
{
	struct contig_session *orphan;

	if (!s->pools->journal) {
		send_status(conn, seq, CONTIG__STATUS__NOT_FOUND,
			    "not found: this contigd keeps no sessions across restarts "
			    "(session_grace = 0)");
		return NULL;
	}
	if (token->len != CONTIG_TOKEN_LEN || token->data[0] == 0) {
		send_status(conn, seq, CONTIG__STATUS__INVALID_ARGUMENT,
			    "invalid argument: resume_token is not a session token (%u bytes, "
			    "format 1 to %u)", CONTIG_TOKEN_LEN, CONTIG_TOKEN_FORMAT);
		return NULL;
	}
	if (token->data[0] > CONTIG_TOKEN_FORMAT) {
		send_status(conn, seq, CONTIG__STATUS__UNSUPPORTED,
			    "resume_token has format %u, newer than this contigd's (%u)",
			    token->data[0], CONTIG_TOKEN_FORMAT);
		return NULL;
	}
	orphan = contig_session_find_orphan(s->pools, token->data);
	if (!orphan) {
		send_status(conn, seq, CONTIG__STATUS__NOT_FOUND,
			    "not found: no session waits for this token (a restart did not leave "
			    "it, or its grace period of %" PRIu64 " ms is over and its memory was "
			    "recycled)", s->pools->session_grace_ms);
		return NULL;
	}
	if (orphan->uid != s->uid) {
		send_status(conn, seq, CONTIG__STATUS__PERMISSION_DENIED,
			    "permission denied: the session of this token belongs to another uid");
		return NULL;
	}
	contig_session_resume(orphan, s->pid, s->comm);
	if (metrics)
		metrics->nsessions_resumed++;
	contig_log(LOG_INFO, "%s: reclaimed its session: %" PRIu32 " buffers in %" PRIu32
		   " frames", conn_ops->name(conn), orphan->nbuffers, orphan->nframes);
	conn_ops->set_session(conn, orphan); /* frees the connection's own */
	return orphan;
}

static enum contig_rpc_result do_hello(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__HelloRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__HelloReply hello = CONTIG__HELLO_REPLY__INIT;
	const struct contig_pools *env = s->pools;
	uint64_t sizes[8];
	uint32_t nodes[8];
	size_t nsizes = 0, nnodes = 0;
	Contig__PoolInfo *infos, **ptrs;

	if (req->version != CONTIG_PROTOCOL_VERSION) {
		send_status(conn, seq, CONTIG__STATUS__UNSUPPORTED,
			    "protocol version %" PRIu32 " not supported (this daemon speaks %u)",
			    req->version, CONTIG_PROTOCOL_VERSION);
		return CONTIG_RPC_CLOSE;
	}
	if (pool_infos(env, &infos, &ptrs) < 0) {
		send_status(conn, seq, CONTIG__STATUS__NO_MEMORY, "daemon out of memory");
		return CONTIG_RPC_DONE;
	}
	if (req->has_resume_token) {
		s = resume(conn, s, seq, &req->resume_token);
		if (!s) {
			free(ptrs);
			free(infos);
			return CONTIG_RPC_CLOSE;
		}
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

static const char *field_reason(const char *field)
{
	if (strcmp(field, "len") == 0)
		return "len must be greater than 0 and below 2^64 - 4096";
	if (strcmp(field, "align") == 0)
		return "align must be 0 or a power of two";
	if (strcmp(field, "boundary") == 0)
		return "boundary must be 0 or a power of two not smaller than len (rounded up to "
		       "4 KiB)";
	if (strcmp(field, "cache_type") == 0)
		return "cache_type must be a MEMORY_CACHING_TYPE from MmNonCached (0) to "
		       "MmUSWCCached (5)";
	if (strcmp(field, "node") == 0)
		return "node must be -1 (any) or a node number from 0 to 1023";
	if (strcmp(field, "lowest") == 0)
		return "lowest + len overflows 2^64";
	if (strcmp(field, "highest") == 0)
		return "highest must not be below lowest";
	if (strcmp(field, "priority") == 0)
		return "priority must be an EX_POOL_PRIORITY value from 0 to 47";
	return field;
}

static uint64_t limit_value(const struct contig_session *s, const char *limit)
{
	const struct contig_limits *lim = &s->pools->limits;

	if (strcmp(limit, "max_buffers_per_connection") == 0)
		return lim->max_buffers_per_connection;
	if (strcmp(limit, "max_bytes_per_connection") == 0)
		return lim->max_bytes_per_connection;
	if (strcmp(limit, "max_buffers_per_user") == 0)
		return lim->max_buffers_per_user;
	if (strcmp(limit, "max_share_per_user") == 0)
		return lim->max_share_per_user;
	return lim->max_bytes_per_user;
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

/* Has @env a pool on @node? */
static bool node_has_pool(const struct contig_pools *env, int node)
{
	for (size_t i = 0; i < env->npools; i++)
		if (env->pools[i]->node == node)
			return true;
	return false;
}

static enum contig_rpc_result do_alloc(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__AllocRequest *req)
{
	struct contig_alloc_params p = {
		.len = req->len,
		.lowest = req->has_lowest ? req->lowest : 0,
		.highest = req->has_highest ? req->highest : UINT64_MAX,
		.boundary = req->has_boundary ? req->boundary : 0,
		.align = req->has_align ? req->align : 0,
		.cache_type = req->has_cache_type ? req->cache_type : CONTIG_CACHE_DEFAULT,
		.node = req->has_node ? req->node : -1,
		/* A node out of range only loses the preference. */
		.near_node = req->has_near_node && req->near_node >= 0 &&
				     req->near_node <= CONTIG_MAX_NODE
			     ? req->near_node
			     : -1,
		.tag = req->has_tag ? req->tag : 0,
		.priority = req->has_priority ? req->priority : CONTIG_PRIORITY_HIGH,
		.seq = seq,
	};
	const char *field = NULL;
	struct contig_live_buffer *b;
	int r;

	/* A client that reclaimed its session resends the allocate whose
	 * reply the restart lost: if it was made, it is this buffer. */
	if (s->nresume_seqs && (b = contig_session_buffer_by_seq(s, seq))) {
		send_alloc(conn, s, seq, b, true);
		return CONTIG_RPC_DONE;
	}
	r = contig_session_alloc(s, &p, &field, &b);
	switch (r) {
	case 0:
		if (metrics)
			metrics->nallocs++;
		send_alloc(conn, s, seq, b, false);
		return CONTIG_RPC_DONE;
	case -EAGAIN:
		return CONTIG_RPC_WAIT;
	case -EINVAL:
		send_status(conn, seq, CONTIG__STATUS__INVALID_ARGUMENT, "invalid argument: %s",
			    field_reason(field));
		return CONTIG_RPC_DONE;
	case -ENOBUFS:
		if (field) { /* "fair_share" */
			send_refusal(conn, seq, REFUSED_FAIR_SHARE,
				    "no memory: the pool is below watermark_low (%u%% kept for users "
				    "under their fair share of it) and uid %u would hold more than "
				    "its fair share (the pool divided among the users with a session)",
				    s->pools->watermark_low_pct, (unsigned)s->uid);
			return CONTIG_RPC_DONE;
		}
		send_refusal(conn, seq, REFUSED_WATERMARK,
			    "no memory at %s priority: the pool is below its watermark (%u%% kept "
			    "for higher priorities)",
			    p.priority >= CONTIG_PRIORITY_NORMAL ? "normal" : "low",
			    p.priority >= CONTIG_PRIORITY_NORMAL ? s->pools->watermark_normal_pct
								 : s->pools->watermark_low_pct);
		return CONTIG_RPC_DONE;
	case -E2BIG:
		send_refusal(conn, seq, REFUSED_MAX_FRAMES,
			    "quota exceeded: the buffer would span more than max_frames_per_buffer "
			    "(%" PRIu64 ") frames",
			    s->pools->limits.max_frames_per_buffer);
		return CONTIG_RPC_DONE;
	case -EDQUOT:
		send_status(conn, seq, CONTIG__STATUS__QUOTA_EXCEEDED,
			    "quota exceeded: %s (%" PRIu64 "%s)", field, limit_value(s, field),
			    strcmp(field, "max_share_per_user") == 0 ? "% of the pool" : "");
		return CONTIG_RPC_DONE;
	case -ENOSPC: {
		char node[16] = "any node";

		if (p.node >= 0 && !node_has_pool(s->pools, p.node)) {
			send_refusal(conn, seq, REFUSED_NO_POOL,
				    "no memory: node %d has no pool (see contigctl status)", p.node);
			return CONTIG_RPC_DONE;
		}
		if (p.node >= 0)
			snprintf(node, sizeof(node), "node %d", p.node);
		send_refusal(conn, seq, REFUSED_NO_RANGE,
			    "no memory: no free range of %" PRIu64 " bytes in [0x%" PRIx64
			    ", 0x%" PRIx64 "] with boundary 0x%" PRIx64 ", align 0x%" PRIx64
			    ", cache type %d on %s",
			    p.len, p.lowest, p.highest, p.boundary, p.align, p.cache_type, node);
		return CONTIG_RPC_DONE;
	}
	default:
		send_status(conn, seq, CONTIG__STATUS__NO_MEMORY, "no memory: %s", strerror(-r));
		return CONTIG_RPC_DONE;
	}
}

static enum contig_rpc_result do_free(struct contig_conn *conn, struct contig_session *s,
				      uint64_t seq, const Contig__FreeRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__FreeReply fr = CONTIG__FREE_REPLY__INIT;
	const struct contig_live_buffer *b = contig_session_buffer(s, req->buffer_id);
	uint64_t len = req->len;
	int cache = req->cache_type;
	int r;

	r = contig_session_free_buffer(s, req->buffer_id, req->has_len ? &len : NULL,
				       req->has_cache_type ? &cache : NULL);
	if (r == -ENOENT) {
		send_status(conn, seq, CONTIG__STATUS__NOT_FOUND,
			    "not found: no buffer 0x%" PRIx64 " in this session", req->buffer_id);
		return CONTIG_RPC_DONE;
	}
	if (r == -EILSEQ) {
		send_status(conn, seq, CONTIG__STATUS__MISMATCH,
			    "mismatch: buffer 0x%" PRIx64 " was allocated with len %" PRIu64
			    " and cache type %d; nothing freed",
			    req->buffer_id, b->req_len, b->cache_type);
		return CONTIG_RPC_DONE;
	}
	if (metrics)
		metrics->nfrees++;
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_FREE;
	reply.free = &fr;
	send_reply(conn, &reply, NULL, 0);
	return CONTIG_RPC_DONE;
}

/* Root sees every session's tags; anyone else only their own. */
static int tag_infos(const struct contig_session *s, Contig__TagInfo **ret_infos,
		     Contig__TagInfo ***ret_ptrs, size_t *ret_n)
{
	const struct contig_tags *tags = sees_all(s) ? &s->pools->tags : &s->tags;
	size_t n = tags->n < CONTIG_STATS_MAX_TAGS ? tags->n : CONTIG_STATS_MAX_TAGS;
	Contig__TagInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Contig__TagInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));

	if (!infos || !ptrs) {
		free(infos);
		free(ptrs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		contig__tag_info__init(&infos[i]);
		infos[i].tag = tags->v[i].tag;
		infos[i].nbuffers = tags->v[i].nbuffers;
		infos[i].len = tags->v[i].len;
		infos[i].nallocs = tags->v[i].nallocs;
		infos[i].nfrees = tags->v[i].nfrees;
		ptrs[i] = &infos[i];
	}
	*ret_infos = infos;
	*ret_ptrs = ptrs;
	*ret_n = n;
	return 0;
}

/* Root only: every session, as SessionInfo. */
static int session_infos(const struct contig_session *s, Contig__SessionInfo **ret_infos,
			 Contig__SessionInfo ***ret_ptrs, size_t *ret_n)
{
	const struct contig_session *it;
	Contig__SessionInfo *infos, **ptrs;
	size_t n = 0;

	if (sees_all(s))
		for (it = s->pools->sessions; it && n < CONTIG_STATS_MAX_SESSIONS; it = it->next)
			n++;
	infos = calloc(n ? n : 1, sizeof(*infos));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!infos || !ptrs) {
		free(infos);
		free(ptrs);
		return -ENOMEM;
	}
	it = s->pools->sessions;
	for (size_t i = 0; i < n; i++, it = it->next) {
		contig__session_info__init(&infos[i]);
		infos[i].pid = (uint32_t)it->pid;
		infos[i].uid = (uint32_t)it->uid;
		infos[i].comm = (char *)it->comm;
		infos[i].nbuffers = it->nbuffers;
		infos[i].len = it->len;
		infos[i].nframes = it->nframes;
		infos[i].nbugchecks = it->nbugchecks;
		ptrs[i] = &infos[i];
	}
	*ret_infos = infos;
	*ret_ptrs = ptrs;
	*ret_n = n;
	return 0;
}

/* One page of the buffer list and of the frame list, as the reply points
 * to them; freed by lists_done(). */
struct lists {
	Contig__BufferInfo *bufs, **bptrs;
	size_t nbufs;
	Contig__FrameInfo *frames, **fptrs;
	size_t nframes;
};

static void lists_done(struct lists *l)
{
	free(l->bufs);
	free(l->bptrs);
	free(l->frames);
	free(l->fptrs);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Bytes an entry packed to @len bytes adds to a repeated field numbered
 * below 16 (one tag byte, the length, the entry). */
static size_t entry_len(size_t len)
{
	return 1 + varint_len(len) + len;
}

static uint32_t pool_index(const struct contig_pools *env, const struct contig_pool *pool)
{
	uint32_t i = 0;

	while (i < env->npools && env->pools[i] != pool)
		i++;
	return i;
}

/* Buffers @s may see: every session's for sees_all(), else its own. */
static uint32_t buffers_visible(const struct contig_session *s)
{
	uint64_t n = 0;

	if (!sees_all(s))
		return s->nbuffers;
	for (const struct contig_session *it = s->pools->sessions; it; it = it->next)
		n += it->nbuffers;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static uint32_t frames_total(const struct contig_pools *env)
{
	uint64_t n = 0;

	for (size_t i = 0; i < env->npools; i++)
		n += env->pools[i]->nframes;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Changes whenever any buffer or frame does: a sum of counters that only
 * grow. */
static uint64_t generation(const struct contig_pools *env)
{
	uint64_t g = 0;

	for (size_t i = 0; i < env->npools; i++)
		g += env->pools[i]->generation;
	return g;
}

/* The next session whose buffers @s lists after @it (NULL: none). */
static const struct contig_session *next_listed(const struct contig_session *s,
						const struct contig_session *it)
{
	return sees_all(s) ? it->next : NULL;
}

/* A page of the buffer list from index @first of @total, within *@room
 * bytes (less what the page takes, on return). */
static int list_buffers(const struct contig_session *s, uint32_t first, uint32_t total,
			size_t *room, struct lists *l)
{
	const struct contig_session *it = sees_all(s) ? s->pools->sessions : s;
	size_t cap = total > first ? total - first : 0;
	uint32_t skip = first;

	if (cap > CONTIG_MAX_REPLY_LEN / 16)
		cap = CONTIG_MAX_REPLY_LEN / 16; /* an entry packs to at least 16 bytes */
	if (cap == 0)
		return 0;
	l->bufs = calloc(cap, sizeof(*l->bufs));
	l->bptrs = calloc(cap, sizeof(*l->bptrs));
	if (!l->bufs || !l->bptrs)
		return -ENOMEM;
	/* Whole sessions before @first go by their count. */
	for (; it && skip >= it->nbuffers; it = next_listed(s, it))
		skip -= it->nbuffers;
	for (; it && l->nbufs < cap; it = next_listed(s, it)) {
		const struct contig_live_buffer *b;
		uint32_t cursor = 0;

		while (l->nbufs < cap && (b = contig_session_next_buffer(it, &cursor))) {
			Contig__BufferInfo *e = &l->bufs[l->nbufs];
			size_t len;

			if (skip) {
				skip--;
				continue;
			}
			contig__buffer_info__init(e);
			e->id = b->id;
			e->pid = (uint32_t)it->pid;
			e->uid = (uint32_t)it->uid;
			e->pool = pool_index(s->pools, b->pool);
			e->phys = b->phys;
			e->len = b->len;
			e->cache_type = b->cache_type;
			e->tag = b->tag;
			len = entry_len(contig__buffer_info__get_packed_size(e));
			if (len > *room)
				return 0;
			*room -= len;
			l->bptrs[l->nbufs++] = e;
		}
	}
	return 0;
}

/* FrameInfo.state of @state. */
static uint32_t frame_state(enum contig_frame_state state)
{
	switch (state) {
	case CONTIG_FRAME_FREE:
		return 0;
	case CONTIG_FRAME_OWNED:
		return 1;
	case CONTIG_FRAME_RECYCLING:
		return 2;
	default:
		return 3;
	}
}

/* Is @f a frame @s may see the address and owner of? */
static bool frame_shown(const struct contig_session *s, const struct contig_frame *f)
{
	return sees_all(s) || (f->state == CONTIG_FRAME_OWNED && f->owner == s);
}

/* The list entry of frame @f of pool @pi, as @s may see it. */
static void frame_entry(const struct contig_session *s, uint32_t pi, const struct contig_frame *f,
			Contig__FrameInfo *e)
{
	contig__frame_info__init(e);
	e->pool = pi;
	e->state = frame_state(f->state);
	if (!frame_shown(s, f))
		return; /* phys 0: hidden */
	e->phys = f->phys;
	if (f->state == CONTIG_FRAME_OWNED) {
		e->has_owner_pid = 1;
		e->owner_pid = (uint32_t)f->owner->pid;
		e->has_cache_type = 1;
		e->cache_type = f->cache_type;
		e->has_nbuffers = 1;
		e->nbuffers = f->nbuffers;
	}
}

/* How the frames of one pool are listed to a caller who is not sees_all()
 * (contig.proto, "Order"): its own frames first, in the pool's order, then
 * every other frame by state alone (free, owned, recycling, lost), with no
 * address. A physical address that is not the caller's never reaches it
 * (the kernel shows page frame numbers only to CAP_SYS_ADMIN, because of
 * Rowhammer): not a free frame's either, since which free frames vanish when
 * another client allocates is exactly where that client's memory is. And
 * an index says nothing but how many frames are in each state: the pool's
 * own order would tie an index to the address the caller saw there when
 * the frame was its own. */
struct frame_view {
	uint32_t nmine;
	uint32_t nstate[4]; /* the others, by FrameInfo.state */
	uint32_t cursor;    /* pool->frames index where the next own frame is looked for */
	bool positioned;    /* cursor is past the own frames before the page */
};

static void view_init(const struct contig_session *s, const struct contig_pool *pool,
		      struct frame_view *v)
{
	memset(v, 0, sizeof(*v));
	for (uint32_t i = 0; i < pool->nframes; i++) {
		const struct contig_frame *f = &pool->frames[i];

		if (frame_shown(s, f))
			v->nmine++;
		else
			v->nstate[frame_state(f->state)]++;
	}
}

/* Entry @i of @pool's frames in @v's order; the calls of one page come
 * with @i rising by one from any start. */
static void view_entry(const struct contig_session *s, uint32_t pi,
		       const struct contig_pool *pool, struct frame_view *v, uint32_t i,
		       Contig__FrameInfo *e)
{
	uint32_t state = 0, k;

	if (i < v->nmine) {
		if (!v->positioned) { /* past the @i own frames before this page */
			for (uint32_t skip = i; skip; v->cursor++)
				skip -= frame_shown(s, &pool->frames[v->cursor]);
			v->positioned = true;
		}
		while (!frame_shown(s, &pool->frames[v->cursor]))
			v->cursor++;
		frame_entry(s, pi, &pool->frames[v->cursor++], e);
		return;
	}
	for (k = i - v->nmine; k >= v->nstate[state]; state++)
		k -= v->nstate[state];
	contig__frame_info__init(e);
	e->pool = pi;
	e->state = state;
}

/* A page of the frame list from index @first of @total, within *@room
 * bytes: for sees_all(), every frame in the pool's order with its address
 * and owner; for anyone else, the frame_view order. */
static int list_frames(const struct contig_session *s, uint32_t first, uint32_t total,
		       size_t *room, struct lists *l)
{
	const struct contig_pools *env = s->pools;
	size_t cap = total > first ? total - first : 0;
	uint32_t skip = first;

	if (cap > CONTIG_MAX_REPLY_LEN / 8)
		cap = CONTIG_MAX_REPLY_LEN / 8; /* an entry packs to at least 8 bytes */
	if (cap == 0)
		return 0;
	l->frames = calloc(cap, sizeof(*l->frames));
	l->fptrs = calloc(cap, sizeof(*l->fptrs));
	if (!l->frames || !l->fptrs)
		return -ENOMEM;
	for (size_t pi = 0; pi < env->npools && l->nframes < cap; pi++) {
		const struct contig_pool *pool = env->pools[pi];
		struct frame_view v;

		if (skip >= pool->nframes) {
			skip -= pool->nframes;
			continue;
		}
		if (!sees_all(s))
			view_init(s, pool, &v);
		for (uint32_t i = skip; i < pool->nframes && l->nframes < cap; i++) {
			Contig__FrameInfo *e = &l->frames[l->nframes];
			size_t len;

			if (sees_all(s))
				frame_entry(s, (uint32_t)pi, &pool->frames[i], e);
			else
				view_entry(s, (uint32_t)pi, pool, &v, i, e);
			len = entry_len(contig__frame_info__get_packed_size(e));
			if (len > *room)
				return 0;
			*room -= len;
			l->fptrs[l->nframes++] = e;
		}
		skip = 0;
	}
	return 0;
}

/* The list pages @req asks for, as many entries as fit beside the rest of
 * @reply, whose stats body @st is otherwise complete. Returns 0 or -ENOMEM. */
static int fill_lists(const struct contig_session *s, const Contig__StatsRequest *req,
		      const Contig__Reply *reply, Contig__StatsReply *st, struct lists *l)
{
	bool want_buffers = req->has_want_buffers && req->want_buffers;
	bool want_frames = req->has_want_frames && req->want_frames;
	size_t base, room;
	int r;

	if (!want_buffers && !want_frames)
		return 0;
	if (want_buffers) {
		st->has_nbuffers_listed = 1;
		st->nbuffers_listed = buffers_visible(s);
	}
	if (want_frames) {
		st->has_nframes_listed = 1;
		st->nframes_listed = frames_total(s->pools);
	}
	st->has_generation = 1;
	st->generation = generation(s->pools);
	base = contig__reply__get_packed_size(reply);
	room = base + CONTIG_STATS_LIST_SLACK < CONTIG_MAX_REPLY_LEN
		       ? CONTIG_MAX_REPLY_LEN - base - CONTIG_STATS_LIST_SLACK
		       : 0;
	if (want_buffers) {
		r = list_buffers(s, req->has_first_buffer ? req->first_buffer : 0,
				 st->nbuffers_listed, &room, l);
		if (r < 0)
			return r;
		st->n_buffers = l->nbufs;
		st->buffers = l->bptrs;
	}
	if (want_frames) {
		r = list_frames(s, req->has_first_frame ? req->first_frame : 0, st->nframes_listed,
				&room, l);
		if (r < 0)
			return r;
		st->n_frames = l->nframes;
		st->frames = l->fptrs;
	}
	return 0;
}

/* The monitoring part of a stats reply (contig.proto: start_time and on),
 * pointing into @rc and @lat, which the caller keeps until it is sent. */
struct metrics_store {
	Contig__RefusalCount rc[REFUSED_N], *rcp[REFUSED_N];
	Contig__RequestLatency lat[CONTIG_METRICS_NKINDS], *latp[CONTIG_METRICS_NKINDS];
	uint64_t le[CONTIG_METRICS_BUCKETS];
};

static void fill_metrics(const struct contig_pools *env, Contig__StatsReply *st,
			 struct metrics_store *ms)
{
	for (size_t i = 0; i < env->nusers; i++) {
		st->live_len += env->users[i].len;
		st->live_nbuffers += (uint32_t)env->users[i].nbuffers;
	}
	st->has_live_len = st->has_live_nbuffers = 1;
	st->has_norphans = 1;
	st->norphans = env->norphans;
	if (!metrics)
		return;
	st->has_start_time = st->has_nallocs = st->has_nfrees = st->has_nreleased = 1;
	st->has_nsessions_restored = st->has_nsessions_resumed = 1;
	st->start_time = metrics->start_time;
	st->nallocs = metrics->nallocs;
	st->nfrees = metrics->nfrees;
	st->nreleased = metrics->nreleased;
	st->nsessions_restored = metrics->nsessions_restored;
	st->nsessions_resumed = metrics->nsessions_resumed;
	for (unsigned i = 0; i < REFUSED_N; i++) {
		contig__refusal_count__init(&ms->rc[i]);
		ms->rc[i].reason = (char *)refusals[i].name;
		ms->rc[i].status = refusals[i].status;
		ms->rc[i].count = metrics->nrefused[i];
		ms->rcp[i] = &ms->rc[i];
	}
	st->n_refusals = REFUSED_N;
	st->refusals = ms->rcp;
	for (unsigned i = 0; i < CONTIG_METRICS_BUCKETS; i++)
		ms->le[i] = contig_metrics_bucket_ns(i);
	for (unsigned k = 0; k < CONTIG_METRICS_NKINDS; k++) {
		struct contig_metrics_latency *l = &metrics->latency[k];

		contig__request_latency__init(&ms->lat[k]);
		ms->lat[k].request = (char *)contig_metrics_kind_name((enum contig_metrics_kind)k);
		ms->lat[k].count = l->count;
		ms->lat[k].sum_ns = l->sum_ns;
		ms->lat[k].n_bucket_le_ns = CONTIG_METRICS_BUCKETS;
		ms->lat[k].bucket_le_ns = ms->le;
		ms->lat[k].n_bucket_count = CONTIG_METRICS_BUCKETS + 1;
		ms->lat[k].bucket_count = l->buckets;
		ms->latp[k] = &ms->lat[k];
	}
	st->n_latency = CONTIG_METRICS_NKINDS;
	st->latency = ms->latp;
}

static enum contig_rpc_result do_stats(struct contig_conn *conn, struct contig_session *s,
				       uint64_t seq, const Contig__StatsRequest *req,
				       const struct contig_rpc_counters *counters)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__StatsReply st = CONTIG__STATS_REPLY__INIT;
	Contig__PoolInfo *infos, **ptrs;
	Contig__TagInfo *tinfos, **tptrs;
	Contig__SessionInfo *sinfos, **sptrs;
	struct lists lists = { 0 };
	struct metrics_store ms;
	size_t ntags, nsessions;

	if ((req->has_first_buffer && !(req->has_want_buffers && req->want_buffers)) ||
	    (req->has_first_frame && !(req->has_want_frames && req->want_frames))) {
		send_status(conn, seq, CONTIG__STATUS__INVALID_ARGUMENT,
			    "invalid argument: first_buffer and first_frame need want_buffers and "
			    "want_frames");
		return CONTIG_RPC_DONE;
	}
	if (pool_infos(s->pools, &infos, &ptrs) < 0) {
		send_status(conn, seq, CONTIG__STATUS__NO_MEMORY, "daemon out of memory");
		return CONTIG_RPC_DONE;
	}
	if (tag_infos(s, &tinfos, &tptrs, &ntags) < 0) {
		free(ptrs);
		free(infos);
		send_status(conn, seq, CONTIG__STATUS__NO_MEMORY, "daemon out of memory");
		return CONTIG_RPC_DONE;
	}
	if (session_infos(s, &sinfos, &sptrs, &nsessions) < 0) {
		free(tptrs);
		free(tinfos);
		free(ptrs);
		free(infos);
		send_status(conn, seq, CONTIG__STATUS__NO_MEMORY, "daemon out of memory");
		return CONTIG_RPC_DONE;
	}
	st.n_sessions = nsessions;
	st.sessions = sptrs;
	st.n_tags = ntags;
	st.tags = tptrs;
	st.has_nbugchecks = 1;
	st.nbugchecks = s->pools->nbugchecks;
	st.n_pools = s->pools->npools;
	st.pools = ptrs;
	st.nsessions = counters->nsessions;
	st.my_nbuffers = s->nbuffers;
	st.my_len = s->len;
	st.my_nframes = s->nframes;
	st.nrecycled = counters->nrecycled;
	st.nrecycle_moved = counters->nrecycle_moved;
	st.nframes_lost = counters->nframes_lost;
	st.has_nrecycle_truncated = 1;
	st.nrecycle_truncated = counters->nrecycle_truncated;
	st.has_nframes_recovered = 1;
	st.nframes_recovered = counters->nframes_recovered;
	fill_metrics(s->pools, &st, &ms);
	reply.seq = seq;
	reply.status = CONTIG__STATUS__OK;
	reply.body_case = CONTIG__REPLY__BODY_STATS;
	reply.stats = &st;
	if (fill_lists(s, req, &reply, &st, &lists) < 0) {
		send_status(conn, seq, CONTIG__STATUS__NO_MEMORY, "daemon out of memory");
	} else {
		send_reply(conn, &reply, NULL, 0);
	}
	lists_done(&lists);
	free(sptrs);
	free(sinfos);
	free(tptrs);
	free(tinfos);
	free(ptrs);
	free(infos);
	return CONTIG_RPC_DONE;
}

static enum contig_rpc_result do_report(struct contig_conn *conn, struct contig_session *s,
					uint64_t seq, const Contig__ReportRequest *req)
{
	Contig__Reply reply = CONTIG__REPLY__INIT;
	Contig__ReportReply rr = CONTIG__REPORT_REPLY__INIT;

	if (strlen(req->routine) > 64 || strlen(req->reason) > 256) {
		send_status(conn, seq, CONTIG__STATUS__INVALID_ARGUMENT,
			    "invalid argument: report routine is at most 64 bytes, reason 256");
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

/* The number of the first unknown field in @req or its body, 0 if none. */
static unsigned unknown_field(const Contig__Request *req)
{
	const ProtobufCMessage *body = NULL;

	if (req->base.n_unknown_fields)
		return req->base.unknown_fields[0].tag;
	switch (req->body_case) {
	case CONTIG__REQUEST__BODY_HELLO:
		body = &req->hello->base;
		break;
	case CONTIG__REQUEST__BODY_ALLOC:
		body = &req->alloc->base;
		break;
	case CONTIG__REQUEST__BODY_FREE:
		body = &req->free->base;
		break;
	case CONTIG__REQUEST__BODY_STATS:
		body = &req->stats->base;
		break;
	case CONTIG__REQUEST__BODY_REPORT:
		body = &req->report->base;
		break;
	default:
		break;
	}
	return body && body->n_unknown_fields ? body->unknown_fields[0].tag : 0;
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
	Contig__Request *req;
	enum contig_rpc_result res;

	if (metrics && !arrived_ns)
		arrived_ns = contig_metrics_now_ns();
	req = contig__request__unpack(NULL, len, data);
	if (!req) {
		contig_rpc_protocol_error(conn, "malformed request (not a contig.Request)");
		if (metrics)
			contig_metrics_observe(metrics, CONTIG_METRICS_OTHER,
					       contig_metrics_now_ns() - arrived_ns);
		return CONTIG_RPC_CLOSE;
	}
	/* (No known body at all is a request type we do not know: that one
	 * gets UNSUPPORTED below.) */
	if (req->body_case != CONTIG__REQUEST__BODY__NOT_SET && unknown_field(req)) {
		/* A newer client's field we would silently ignore: say so, so
		 * that it does not believe it was honoured. */
		send_status(conn, req->seq, CONTIG__STATUS__INVALID_ARGUMENT,
			    "invalid argument: unknown field %u in the request (newer protocol?)",
			    unknown_field(req));
		res = CONTIG_RPC_DONE;
		goto out_free;
	}
	if (!*hello_done && req->body_case != CONTIG__REQUEST__BODY_HELLO) {
		send_status(conn, req->seq, CONTIG__STATUS__PROTOCOL_ERROR,
			    "the first request must be a hello");
		res = CONTIG_RPC_CLOSE;
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
	default:
		send_status(conn, req->seq, CONTIG__STATUS__UNSUPPORTED,
			    "unsupported request (newer protocol?)");
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
