/* check.c - the request checker: a decoded request becomes a valid
 * internal request, or a refusal.
 *
 * DESIGN
 * Owns every decision to refuse a request and its words: the refusals
 * table (each reason's wire status, the name it is counted under in
 * metrics and the stats reply, its default message), what makes each
 * request type valid, and the message for each way an allocation or a
 * free can fail in the session. A client sees exactly these messages
 * (tests match them): change one and you change the protocol's words.
 *
 * An allocate request becomes a struct contig_alloc_params with its
 * defaults filled and its contig_range_req computed (len rounded up to
 * 4 KiB, align at least 4 KiB) and checked by contig_range_req_check()
 * (range.c): contig_session_alloc() takes only what passed here. Invalid
 * fields are named by a private enum with one reason each; the names
 * range.c and session.c give (a field of the range request, a limit's
 * configuration key) are looked up in this file's tables, never compared
 * anywhere else.
 *
 * A fast-path report (CarveRequest) is checked whole before anything of it
 * is applied: every carve against the session (contig_session_carve_test()
 * says how it fits) and against the report's other carves; the first that
 * does not fit refuses the report, naming its index and id.
 *
 * It never sends, logs or counts (rpc.c does, with what it returns), never
 * changes a session (contig_check_resume() finds the orphan; rpc.c
 * reclaims it), and never calls rpc.c, stats.c or server.c. Loop thread.
 */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "range.h"

#define SMALL_PAGE 4096u

static const struct {
	const char *name; /* counted under, in metrics and the stats reply */
	Contig__Status status;
	const char *message; /* when nothing more precise is said */
} refusals[CONTIG_REFUSED_N] = {
	[CONTIG_REFUSED_INVALID_ARGUMENT] = { "invalid_argument", CONTIG__STATUS__INVALID_ARGUMENT,
					      "invalid argument" },
	[CONTIG_REFUSED_NO_MEMORY] = { "no_memory", CONTIG__STATUS__NO_MEMORY,
				       "daemon out of memory" },
	[CONTIG_REFUSED_NO_RANGE] = { "no_range", CONTIG__STATUS__NO_MEMORY,
				      "no memory: no free range satisfies the request" },
	[CONTIG_REFUSED_NO_POOL] = { "no_pool", CONTIG__STATUS__NO_MEMORY,
				     "no memory: the node asked for has no pool" },
	[CONTIG_REFUSED_WATERMARK] = { "watermark", CONTIG__STATUS__NO_MEMORY,
				       "no memory: the pool is below its watermark" },
	[CONTIG_REFUSED_QUOTA] = { "quota_exceeded", CONTIG__STATUS__QUOTA_EXCEEDED,
				   "quota exceeded" },
	[CONTIG_REFUSED_MAX_FRAMES] = { "max_frames_per_buffer", CONTIG__STATUS__QUOTA_EXCEEDED,
					"quota exceeded: the buffer would span more than "
					"max_frames_per_buffer frames" },
	[CONTIG_REFUSED_NOT_FOUND] = { "not_found", CONTIG__STATUS__NOT_FOUND, "not found" },
	[CONTIG_REFUSED_MISMATCH] = { "mismatch", CONTIG__STATUS__MISMATCH, "mismatch" },
	[CONTIG_REFUSED_PERMISSION_DENIED] = { "permission_denied",
					       CONTIG__STATUS__PERMISSION_DENIED,
					       "permission denied" },
	[CONTIG_REFUSED_UNSUPPORTED] = { "unsupported", CONTIG__STATUS__UNSUPPORTED,
					 "unsupported request (newer protocol?)" },
	[CONTIG_REFUSED_PROTOCOL_ERROR] = { "protocol_error", CONTIG__STATUS__PROTOCOL_ERROR,
					    "malformed request (not a contig.Request)" },
	[CONTIG_REFUSED_CONN_DENIED] = { "connection_denied", CONTIG__STATUS__PERMISSION_DENIED,
					 "permission denied: not an allowed user or group" },
	[CONTIG_REFUSED_CONN_LIMIT] = { "max_connections", CONTIG__STATUS__QUOTA_EXCEEDED,
					"quota exceeded: too many connections" },
	[CONTIG_REFUSED_FAIR_SHARE] = { "fair_share", CONTIG__STATUS__NO_MEMORY,
					"no memory: past this user's fair share of the pool" },
	[CONTIG_REFUSED_CARVE_NOT_WARM] = { "carve_not_warm", CONTIG__STATUS__INVALID_ARGUMENT,
					    "invalid argument: a carve's frame_id is no warm "
					    "frame of this session" },
	[CONTIG_REFUSED_CARVE_OUTSIDE] = { "carve_outside", CONTIG__STATUS__INVALID_ARGUMENT,
					   "invalid argument: a carve lies outside its warm "
					   "frame" },
	[CONTIG_REFUSED_CARVE_OVERLAP] = { "carve_overlap", CONTIG__STATUS__INVALID_ARGUMENT,
					   "invalid argument: a carve overlaps a live one" },
	[CONTIG_REFUSED_CARVE_ID] = { "carve_id_taken", CONTIG__STATUS__INVALID_ARGUMENT,
				      "invalid argument: a carve's id is taken" },
};

/* The fields of an allocate request that can be invalid, and why. */
enum bad_field {
	BAD_LEN,
	BAD_ALIGN,
	BAD_BOUNDARY,
	BAD_CACHE_TYPE,
	BAD_NODE,
	BAD_LOWEST,
	BAD_HIGHEST,
	BAD_PRIORITY,
	BAD_N,
};

static const struct {
	const char *name; /* as contig_range_req_check() names it */
	const char *reason;
} bad_fields[BAD_N] = {
	[BAD_LEN] = { "len", "len must be greater than 0 and below 2^64 - 4096" },
	[BAD_ALIGN] = { "align", "align must be 0 or a power of two" },
	[BAD_BOUNDARY] = { "boundary", "boundary must be 0 or a power of two not smaller than "
				       "len (rounded up to 4 KiB)" },
	[BAD_CACHE_TYPE] = { "cache_type", "cache_type must be a MEMORY_CACHING_TYPE from "
					   "MmNonCached (0) to MmUSWCCached (5)" },
	[BAD_NODE] = { "node", "node must be -1 (any) or a node number from 0 to 1023" },
	[BAD_LOWEST] = { "lowest", "lowest + len overflows 2^64" },
	[BAD_HIGHEST] = { "highest", "highest must not be below lowest" },
	[BAD_PRIORITY] = { "priority", "priority must be an EX_POOL_PRIORITY value from 0 to 47" },
};

/* The limits contig_session_alloc() may name, and where their values are. */
static const struct {
	const char *key; /* the configuration key, as session.c names it */
	size_t offset;   /* of its uint64_t in struct contig_limits */
	const char *unit;
} limits[] = {
	{ "max_buffers_per_connection",
	  offsetof(struct contig_limits, max_buffers_per_connection), "" },
	{ "max_bytes_per_connection", offsetof(struct contig_limits, max_bytes_per_connection),
	  "" },
	{ "max_buffers_per_user", offsetof(struct contig_limits, max_buffers_per_user), "" },
	{ "max_share_per_user", offsetof(struct contig_limits, max_share_per_user),
	  "% of the pool" },
	{ "max_bytes_per_user", offsetof(struct contig_limits, max_bytes_per_user), "" },
};

Contig__Status contig_refusal_status(enum contig_refusal why)
{
	return refusals[why].status;
}

const char *contig_refusal_name(enum contig_refusal why)
{
	return refusals[why].name;
}

bool contig_refuse_with(struct contig_refused *ret, enum contig_refusal why, const char *message)
{
	ret->why = why;
	snprintf(ret->message, sizeof(ret->message), "%s", message);
	return false;
}

bool contig_refuse_default(struct contig_refused *ret, enum contig_refusal why)
{
	return contig_refuse_with(ret, why, refusals[why].message);
}

/* Refuse for @why, saying so in @fmt; returns false. */
__attribute__((format(printf, 3, 4))) static bool refuse(struct contig_refused *ret,
							 enum contig_refusal why,
							 const char *fmt, ...)
{
	va_list ap;

	ret->why = why;
	va_start(ap, fmt);
	vsnprintf(ret->message, sizeof(ret->message), fmt, ap);
	va_end(ap);
	return false;
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
	case CONTIG__REQUEST__BODY_CARVE:
		body = &req->carve->base;
		break;
	default:
		break;
	}
	return body && body->n_unknown_fields ? body->unknown_fields[0].tag : 0;
}

bool contig_check_request(const Contig__Request *req, bool hello_done,
			  struct contig_refused *ret)
{
	/* (No known body at all is a request type we do not know: that one
	 * gets UNSUPPORTED below.) */
	if (req->body_case != CONTIG__REQUEST__BODY__NOT_SET && unknown_field(req))
		/* A newer client's field we would silently ignore: say so, so
		 * that it does not believe it was honoured. */
		return refuse(ret, CONTIG_REFUSED_INVALID_ARGUMENT,
			      "invalid argument: unknown field %u in the request (newer "
			      "protocol?)", unknown_field(req));
	if (!hello_done && req->body_case != CONTIG__REQUEST__BODY_HELLO)
		return contig_refuse_with(ret, CONTIG_REFUSED_PROTOCOL_ERROR,
					  "the first request must be a hello");
	switch (req->body_case) {
	case CONTIG__REQUEST__BODY_HELLO:
	case CONTIG__REQUEST__BODY_ALLOC:
	case CONTIG__REQUEST__BODY_FREE:
	case CONTIG__REQUEST__BODY_STATS:
	case CONTIG__REQUEST__BODY_REPORT:
	case CONTIG__REQUEST__BODY_CARVE:
		return true;
	default:
		return contig_refuse_default(ret, CONTIG_REFUSED_UNSUPPORTED);
	}
}

bool contig_check_hello(const Contig__HelloRequest *req, struct contig_refused *ret)
{
	if (req->version != CONTIG_PROTOCOL_VERSION)
		return refuse(ret, CONTIG_REFUSED_UNSUPPORTED,
			      "protocol version %" PRIu32 " not supported (this daemon speaks %u)",
			      req->version, CONTIG_PROTOCOL_VERSION);
	return true;
}

struct contig_session *contig_check_resume(const struct contig_session *s,
					   const ProtobufCBinaryData *token,
					   struct contig_refused *ret)
{
	struct contig_session *orphan;

	if (!s->pools->journal) {
		contig_refuse_with(ret, CONTIG_REFUSED_NOT_FOUND,
				   "not found: this contigd keeps no sessions across restarts "
				   "(session_grace = 0)");
		return NULL;
	}
	if (token->len != CONTIG_TOKEN_LEN || token->data[0] == 0) {
		refuse(ret, CONTIG_REFUSED_INVALID_ARGUMENT,
		       "invalid argument: resume_token is not a session token (%u bytes, format 1 "
		       "to %u)", CONTIG_TOKEN_LEN, CONTIG_TOKEN_FORMAT);
		return NULL;
	}
	if (token->data[0] > CONTIG_TOKEN_FORMAT) {
		refuse(ret, CONTIG_REFUSED_UNSUPPORTED,
		       "resume_token has format %u, newer than this contigd's (%u)",
		       token->data[0], CONTIG_TOKEN_FORMAT);
		return NULL;
	}
	orphan = contig_session_find_orphan(s->pools, token->data);
	if (!orphan) {
		refuse(ret, CONTIG_REFUSED_NOT_FOUND,
		       "not found: no session waits for this token (a restart did not leave it, "
		       "or its grace period of %" PRIu64 " ms is over and its memory was "
		       "recycled)", s->pools->session_grace_ms);
		return NULL;
	}
	if (orphan->uid != s->uid) {
		contig_refuse_with(ret, CONTIG_REFUSED_PERMISSION_DENIED,
				   "permission denied: the session of this token belongs to "
				   "another uid");
		return NULL;
	}
	return orphan;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static bool bad(struct contig_refused *ret, enum bad_field field)
{
	return refuse(ret, CONTIG_REFUSED_INVALID_ARGUMENT, "invalid argument: %s",
		      bad_fields[field].reason);
}

/* The field contig_range_req_check() named @name. */
static enum bad_field field_named(const char *name)
{
	for (unsigned i = 0; i < BAD_N; i++)
		if (strcmp(bad_fields[i].name, name) == 0)
			return (enum bad_field)i;
	return BAD_LEN; /* not reached: it names only fields of the table */
}

bool contig_check_alloc(const Contig__AllocRequest *req, uint64_t seq,
			struct contig_alloc_params *ret_params, struct contig_refused *ret)
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
		.warm = req->has_warm && req->warm,
	};
	const char *field = NULL;

	if (p.len == 0 || p.len > UINT64_MAX - SMALL_PAGE)
		return bad(ret, BAD_LEN);
	if (p.align && !is_pow2(p.align))
		return bad(ret, BAD_ALIGN);
	if (p.boundary && !is_pow2(p.boundary))
		return bad(ret, BAD_BOUNDARY);
	if (p.cache_type < 0 || p.cache_type > CONTIG_CACHE_TYPE_MAX)
		return bad(ret, BAD_CACHE_TYPE);
	if (p.node < -1 || p.node > CONTIG_MAX_NODE)
		return bad(ret, BAD_NODE);
	if (p.priority > CONTIG_PRIORITY_MAX)
		return bad(ret, BAD_PRIORITY);
	p.range.len = (p.len + SMALL_PAGE - 1) & ~(uint64_t)(SMALL_PAGE - 1);
	p.range.align = p.align > SMALL_PAGE ? p.align : SMALL_PAGE;
	p.range.lowest = p.lowest;
	p.range.highest = p.highest;
	p.range.boundary = p.boundary;
	if (contig_range_req_check(&p.range, &field) < 0)
		return bad(ret, field_named(field));
	*ret_params = p;
	return true;
}

/* Has @env a pool on @node? */
static bool node_has_pool(const struct contig_pools *env, int node)
{
	for (size_t i = 0; i < env->npools; i++)
		if (env->pools[i]->node == node)
			return true;
	return false;
}

/* The refusal for a limit (its key @limit) the buffer would exceed. */
static void over_limit(const struct contig_session *s, const char *limit,
		       struct contig_refused *ret)
{
	size_t i = 0, last = sizeof(limits) / sizeof(limits[0]) - 1;
	uint64_t value;

	while (i < last && strcmp(limits[i].key, limit) != 0)
		i++;
	memcpy(&value, (const char *)&s->pools->limits + limits[i].offset, sizeof(value));
	refuse(ret, CONTIG_REFUSED_QUOTA, "quota exceeded: %s (%" PRIu64 "%s)", limit, value,
	       limits[i].unit);
}

void contig_check_alloc_failed(const struct contig_session *s,
			       const struct contig_alloc_params *p, int err, const char *limit,
			       struct contig_refused *ret)
{
	const struct contig_pools *env = s->pools;
	char node[16] = "any node";

	switch (err) {
	case -ENOBUFS:
		if (limit) { /* "fair_share" */
			refuse(ret, CONTIG_REFUSED_FAIR_SHARE,
			       "no memory: the pool is below watermark_low (%u%% kept for users "
			       "under their fair share of it) and uid %u would hold more than its "
			       "fair share (the pool divided among the users with a session)",
			       env->watermark_low_pct, (unsigned)s->uid);
			return;
		}
		refuse(ret, CONTIG_REFUSED_WATERMARK,
		       "no memory at %s priority: the pool is below its watermark (%u%% kept for "
		       "higher priorities)",
		       p->priority >= CONTIG_PRIORITY_NORMAL ? "normal" : "low",
		       p->priority >= CONTIG_PRIORITY_NORMAL ? env->watermark_normal_pct
							     : env->watermark_low_pct);
		return;
	case -E2BIG:
		refuse(ret, CONTIG_REFUSED_MAX_FRAMES,
		       "quota exceeded: the buffer would span more than max_frames_per_buffer "
		       "(%" PRIu64 ") frames",
		       env->limits.max_frames_per_buffer);
		return;
	case -EDQUOT:
		over_limit(s, limit, ret);
		return;
	case -ENOSPC:
		if (p->node >= 0 && !node_has_pool(env, p->node)) {
			refuse(ret, CONTIG_REFUSED_NO_POOL,
			       "no memory: node %d has no pool (see contigctl status)", p->node);
			return;
		}
		if (p->node >= 0)
			snprintf(node, sizeof(node), "node %d", p->node);
		refuse(ret, CONTIG_REFUSED_NO_RANGE,
		       "no memory: no free range of %" PRIu64 " bytes in [0x%" PRIx64 ", 0x%" PRIx64
		       "] with boundary 0x%" PRIx64 ", align 0x%" PRIx64 ", cache type %d on %s",
		       p->len, p->lowest, p->highest, p->boundary, p->align, p->cache_type, node);
		return;
	default:
		refuse(ret, CONTIG_REFUSED_NO_MEMORY, "no memory: %s", strerror(-err));
		return;
	}
}

void contig_check_free_failed(const Contig__FreeRequest *req, const struct contig_live_buffer *b,
			      int err, struct contig_refused *ret)
{
	if (err == -EILSEQ && b) {
		refuse(ret, CONTIG_REFUSED_MISMATCH,
		       "mismatch: buffer 0x%" PRIx64 " was allocated with len %" PRIu64
		       " and cache type %d; nothing freed",
		       req->buffer_id, b->req_len, b->cache_type);
		return;
	}
	refuse(ret, CONTIG_REFUSED_NOT_FOUND, "not found: no buffer 0x%" PRIx64 " in this session",
	       req->buffer_id);
}

/* Refuse carve @i (@e) of a report for @why, saying what is wrong. */
static bool bad_carve(struct contig_refused *ret, size_t i, const struct contig_carve_entry *e,
		      enum contig_carve_fit why, const struct contig_carve *other)
{
	const char *prefix = "invalid argument: carve allocs[";

	switch (why) {
	case CONTIG_CARVE_MISALIGNED:
		return refuse(ret, CONTIG_REFUSED_INVALID_ARGUMENT,
			      "%s%zu] (id 0x%" PRIx64 "): offset and len must be multiples of "
			      "4096, len greater than 0 (offset %" PRIu64 ", len %" PRIu64 ")",
			      prefix, i, e->id, e->offset, e->len);
	case CONTIG_CARVE_NOT_WARM:
		return refuse(ret, CONTIG_REFUSED_CARVE_NOT_WARM,
			      "%s%zu] (id 0x%" PRIx64 "): frame_id 0x%" PRIx64 " is no warm frame "
			      "of this session (AllocRequest.warm); nothing applied",
			      prefix, i, e->id, e->frame_id);
	case CONTIG_CARVE_OUTSIDE:
		return refuse(ret, CONTIG_REFUSED_CARVE_OUTSIDE,
			      "%s%zu] (id 0x%" PRIx64 "): offset %" PRIu64 " + len %" PRIu64
			      " lies outside warm frame 0x%" PRIx64 "; nothing applied",
			      prefix, i, e->id, e->offset, e->len, e->frame_id);
	case CONTIG_CARVE_OVERLAP:
		return refuse(ret, CONTIG_REFUSED_CARVE_OVERLAP,
			      "%s%zu] (id 0x%" PRIx64 "): [%" PRIu64 ", %" PRIu64 ") of warm frame "
			      "0x%" PRIx64 " overlaps carve 0x%" PRIx64 "; nothing applied",
			      prefix, i, e->id, e->offset, e->offset + e->len, e->frame_id,
			      other ? other->buf.id : 0);
	case CONTIG_CARVE_ID_TAKEN:
		return refuse(ret, CONTIG_REFUSED_CARVE_ID,
			      "%s%zu]: id 0x%" PRIx64 " is 0 or a live buffer's of this session "
			      "with another frame, offset or len; nothing applied",
			      prefix, i, e->id);
	case CONTIG_CARVE_NEW:
	case CONTIG_CARVE_KNOWN:
		break;
	}
	return true;
}

void contig_check_carve_done(struct contig_carve_report *report)
{
	free(report->allocs);
	free(report->transients);
	*report = (struct contig_carve_report){ 0 };
}

bool contig_check_carve(struct contig_session *s, const Contig__CarveRequest *req,
			struct contig_carve_report *ret_report, struct contig_refused *ret)
{
	struct contig_carve_report rep = {
		.nallocs = req->n_allocs,
		.frees = req->frees,
		.nfrees = req->n_frees,
		.ntransients = req->n_transients,
	};

	if ((rep.nallocs && !(rep.allocs = calloc(rep.nallocs, sizeof(*rep.allocs)))) ||
	    (rep.ntransients &&
	     !(rep.transients = calloc(rep.ntransients, sizeof(*rep.transients))))) {
		contig_check_carve_done(&rep);
		return contig_refuse_default(ret, CONTIG_REFUSED_NO_MEMORY);
	}
	for (size_t i = 0; i < rep.nallocs; i++) {
		const Contig__Carve *c = req->allocs[i];
		struct contig_carve_entry *e = &rep.allocs[i];
		const struct contig_carve *other = NULL;
		enum contig_carve_fit fit;

		*e = (struct contig_carve_entry){
			.id = c->id,
			.frame_id = c->frame_id,
			.offset = c->offset,
			.len = c->len,
			.req_len = c->has_req_len ? c->req_len : c->len,
			.tag = c->has_tag ? c->tag : 0,
		};
		fit = contig_session_carve_test(s, e, &other);
		if (!bad_carve(ret, i, e, fit, other))
			goto refused;
		/* Within the report: an id twice is the same carve twice; two
		 * carves of a frame do not overlap. */
		for (size_t k = 0; k < i; k++) {
			const struct contig_carve_entry *o = &rep.allocs[k];

			if (o->id == e->id) {
				if (o->frame_id != e->frame_id || o->offset != e->offset ||
				    o->len != e->len) {
					bad_carve(ret, i, e, CONTIG_CARVE_ID_TAKEN, NULL);
					goto refused;
				}
			} else if (o->frame_id == e->frame_id && o->offset < e->offset + e->len &&
				   e->offset < o->offset + o->len) {
				refuse(ret, CONTIG_REFUSED_CARVE_OVERLAP,
				       "invalid argument: carve allocs[%zu] (id 0x%" PRIx64 ") overlaps "
				       "allocs[%zu] (id 0x%" PRIx64 ") of the same report; nothing "
				       "applied", i, e->id, k, o->id);
				goto refused;
			}
		}
	}
	for (size_t i = 0; i < rep.ntransients; i++)
		rep.transients[i] = (struct contig_carve_transient){
			.tag = req->transients[i]->tag,
			.count = req->transients[i]->count,
			.len = req->transients[i]->len,
		};
	*ret_report = rep;
	return true;

refused:
	contig_check_carve_done(&rep);
	return false;
}

bool contig_check_stats(const Contig__StatsRequest *req, struct contig_refused *ret)
{
	if ((req->has_first_buffer && !(req->has_want_buffers && req->want_buffers)) ||
	    (req->has_first_frame && !(req->has_want_frames && req->want_frames)))
		return contig_refuse_with(ret, CONTIG_REFUSED_INVALID_ARGUMENT,
					  "invalid argument: first_buffer and first_frame need "
					  "want_buffers and want_frames");
	return true;
}

bool contig_check_report(const Contig__ReportRequest *req, struct contig_refused *ret)
{
	if (strlen(req->routine) > 64 || strlen(req->reason) > 256)
		return contig_refuse_with(ret, CONTIG_REFUSED_INVALID_ARGUMENT,
					  "invalid argument: report routine is at most 64 bytes, "
					  "reason 256");
	return true;
}
