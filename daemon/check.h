/* check.h - the request checker: a decoded request becomes a valid
 * internal request, or a refusal.
 *
 * A refusal is an enum contig_refusal (its row in check.c's one table:
 * wire status, the reason it is counted under, default message) and the
 * message the reply carries. rpc.c decodes and sends; everything it may
 * refuse, and in what words, is decided here. Loop thread only.
 */
#ifndef CONTIG_CHECK_H
#define CONTIG_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "contig.pb-c.h"
#include "metrics.h"
#include "session.h"

/* Why a request or a connection was refused: the stats reply's
 * RefusalCount.reason, in this order. Only ever added to (monitoring keys
 * on the names). */
enum contig_refusal {
	CONTIG_REFUSED_INVALID_ARGUMENT,
	CONTIG_REFUSED_NO_MEMORY,     /* the daemon's own allocation */
	CONTIG_REFUSED_NO_RANGE,      /* no free range satisfies every constraint */
	CONTIG_REFUSED_NO_POOL,       /* the node asked for has no pool */
	CONTIG_REFUSED_WATERMARK,     /* low or normal priority below the pool's watermark */
	CONTIG_REFUSED_QUOTA,         /* a per-client or per-user limit */
	CONTIG_REFUSED_MAX_FRAMES,    /* max_frames_per_buffer */
	CONTIG_REFUSED_NOT_FOUND,
	CONTIG_REFUSED_MISMATCH,
	CONTIG_REFUSED_PERMISSION_DENIED,
	CONTIG_REFUSED_UNSUPPORTED,
	CONTIG_REFUSED_PROTOCOL_ERROR, /* the connection closes */
	CONTIG_REFUSED_CONN_DENIED,    /* at accept: not an allowed user or group */
	CONTIG_REFUSED_CONN_LIMIT,     /* at accept: max_connections(_per_user) */
	CONTIG_REFUSED_FAIR_SHARE,     /* below watermark_low, a user past its fair share */
	/* A fast-path report (CarveRequest) with a carve that does not fit: */
	CONTIG_REFUSED_CARVE_NOT_WARM, /* its frame_id is no warm frame of the session */
	CONTIG_REFUSED_CARVE_OUTSIDE,  /* not wholly inside its warm frame */
	CONTIG_REFUSED_CARVE_OVERLAP,  /* over a live carve, or another of the report */
	CONTIG_REFUSED_CARVE_ID,       /* its id is 0 or a live buffer's (other fields) */
	CONTIG_REFUSED_N,
};

_Static_assert(CONTIG_REFUSED_N <= CONTIG_METRICS_MAX_REFUSALS,
	       "metrics.h: room for every refusal");

/* A refusal: why, and the reply's message. */
struct contig_refused {
	enum contig_refusal why;
	char message[256];
};

/* The wire status a refusal for @why is sent with. */
Contig__Status contig_refusal_status(enum contig_refusal why);

/* The reason @why is counted under ("no_range"). */
const char *contig_refusal_name(enum contig_refusal why);

/* Refuse for @why with its default message; returns false. */
bool contig_refuse_default(struct contig_refused *ret, enum contig_refusal why);

/* Refuse for @why with @message; returns false. */
bool contig_refuse_with(struct contig_refused *ret, enum contig_refusal why,
			const char *message);

/* May @req (a whole request, unpacked) be handled on a connection that
 * has said hello iff @hello_done? False with a refusal if it carries a
 * field this daemon does not know, if it is not a hello before hello
 * (PROTOCOL_ERROR), or if it is a request type this daemon does not know. */
bool contig_check_request(const Contig__Request *req, bool hello_done,
			  struct contig_refused *ret);

/* Does this daemon speak the protocol of hello @req? */
bool contig_check_hello(const Contig__HelloRequest *req, struct contig_refused *ret);

/* The orphan that a hello's resume_token @token names and @s (the
 * connection's new session) may reclaim, or NULL with a refusal. */
struct contig_session *contig_check_resume(const struct contig_session *s,
					   const ProtobufCBinaryData *token,
					   struct contig_refused *ret);

/* Allocate request @req (request @seq) as the parameters
 * contig_session_alloc() takes, every field checked and range filled in;
 * false with an INVALID_ARGUMENT refusal naming the first bad field. */
bool contig_check_alloc(const Contig__AllocRequest *req, uint64_t seq,
			struct contig_alloc_params *ret_params, struct contig_refused *ret);

/* The refusal for contig_session_alloc() of @p in @s failing with @err
 * (not -EAGAIN) and @limit (what it said of the limit, if anything). */
void contig_check_alloc_failed(const struct contig_session *s,
			       const struct contig_alloc_params *p, int err, const char *limit,
			       struct contig_refused *ret);

/* The refusal for free request @req failing with @err
 * (contig_session_free_buffer()); @b is the buffer it named, if any. */
void contig_check_free_failed(const Contig__FreeRequest *req, const struct contig_live_buffer *b,
			      int err, struct contig_refused *ret);

/* Fast-path report @req of session @s, checked whole against what @s
 * holds (contig_session_carve_test()) and within itself, as *@ret_report
 * (its arrays the caller frees with contig_check_carve_done()); false
 * with an INVALID_ARGUMENT refusal naming the first carve that does not
 * fit (out of memory: NO_MEMORY). */
bool contig_check_carve(struct contig_session *s, const Contig__CarveRequest *req,
			struct contig_carve_report *ret_report, struct contig_refused *ret);

/* Free what contig_check_carve() made. */
void contig_check_carve_done(struct contig_carve_report *report);

/* Are the list indexes of stats request @req consistent? */
bool contig_check_stats(const Contig__StatsRequest *req, struct contig_refused *ret);

/* Is report @req within its bounds? */
bool contig_check_report(const Contig__ReportRequest *req, struct contig_refused *ret);

#endif
