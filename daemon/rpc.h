/* rpc.h - decode one request, check it, call session/pool, encode the reply.
 *
 * rpc.c, check.c and stats.c are the daemon's only files that include
 * contig.pb-c.h (this header does not). Loop thread only.
 * rpc.c knows connections only as the opaque struct contig_conn of whoever
 * registered contig_rpc_ops (server.c; the fuzz target's fake), and
 * reaches them only through those callbacks: it never includes server.h.
 */
#ifndef CONTIG_RPC_H
#define CONTIG_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "session.h"

/* A client connection: defined by the caller (server.c), opaque here. */
struct contig_conn;

/* What rpc.c needs of a connection, provided by its owner. */
struct contig_rpc_ops {
	/* Send one reply datagram with @nfds descriptors (not consumed). On
	 * failure the connection closes once the current request is handled;
	 * rpc.c goes on as if it was sent. Returns 0 or -errno. */
	int (*send)(struct contig_conn *conn, const void *data, size_t len, const int *fds,
		    size_t nfds);
	/* "client N (pid P, uid U, COMM)" for log lines. */
	const char *(*name)(const struct contig_conn *conn);
	/* Give @conn @session (an orphan it reclaimed) in place of its own,
	 * which is freed. */
	void (*set_session)(struct contig_conn *conn, struct contig_session *session);
};

enum contig_rpc_result {
	CONTIG_RPC_DONE,  /* replied (or the reply is queued) */
	CONTIG_RPC_WAIT,  /* needs frames that are being recycled: call again later
			     with the same datagram; nothing was sent */
	CONTIG_RPC_CLOSE, /* protocol error: a reply saying so was sent; close */
};

/* What the caller tells of a request beside its datagram. */
struct contig_rpc_counters {
	struct contig_stats_counters stats; /* what the stats reply shows, kept by server.c */
	/* When the request being handled arrived (contig_metrics_now_ns();
	 * a request that waited: its first arrival); 0: now. */
	uint64_t arrived_ns;
};

/* Count refusals, allocations, frees, resumed sessions and request latency
 * into @metrics from now on (NULL: stop), and show them in stats replies.
 * @metrics stays the caller's and must outlive its use. Loop thread. */
void contig_rpc_set_metrics(struct contig_metrics *metrics);

/* Reach connections through @ops from now on (NULL: none may be handled).
 * @ops stays the caller's and must outlive its use. Loop thread. */
void contig_rpc_set_ops(const struct contig_rpc_ops *ops);

/* Handle the request datagram @data of @len bytes from @conn, whose session
 * is @session and which has said hello iff *@hello_done.
 * Returns what the caller must do next. */
enum contig_rpc_result contig_rpc_handle(struct contig_conn *conn, struct contig_session *session,
					 bool *hello_done, const struct contig_rpc_counters *counters,
					 const void *data, size_t len);

/* Send a PROTOCOL_ERROR reply with seq 0 and @message (for datagrams that
 * never reached contig_rpc_handle: oversized, or carrying descriptors). */
void contig_rpc_protocol_error(struct contig_conn *conn, const char *message);

enum contig_rpc_refusal {
	CONTIG_RPC_PERMISSION_DENIED,
	CONTIG_RPC_QUOTA_EXCEEDED,
};

/* Tell a connection being refused at accept why, in a reply with seq 0
 * (and count it). */
void contig_rpc_refuse(struct contig_conn *conn, enum contig_rpc_refusal why,
		       const char *message);

#endif
