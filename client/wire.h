/* wire.h - libcontig's side of the protocol: one request, its reply (and,
 * for an allocation, its frame descriptors), over a blocking socket; and
 * the session behind the connection, got back after a daemon restart.
 *
 * Internal to libcontig; the only client file that includes contig.pb-c.h
 * is wire.c. The caller serialises calls on one socket.
 */
#ifndef CONTIG_WIRE_H
#define CONTIG_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "contig.h"
#include "error.h"
#include "fdpass.h"

/* One connection to contigd: its socket, sequence counter and reply
 * buffer, and what it takes to reclaim its session on a new connection
 * when the daemon restarted (see wire.c, "Restarts"). A zeroed struct with
 * sock and rx set is a connection that never reconnects. */
struct contig_wire {
	int sock;     /* -1 once dead */
	bool broken;  /* the last failure was the connection breaking (no reply
		       * said why): contig_wire_recover() may reconnect */
	bool dead;    /* the session is lost for good: every call fails */
	uint64_t seq; /* of the last request sent */
	uint8_t *rx;  /* CONTIG_MAX_REPLY_LEN bytes */
	uint64_t busy_poll_ns; /* spin this long for a reply before sleeping */

	bool reconnect;  /* set by the caller: reclaim the session after a break */
	const size_t *nbufs; /* set by the caller: its live buffers. With none, a
			      * session the restarted daemon did not keep (it
			      * keeps none without buffers) is replaced by a new
			      * one: nothing of the caller's was in it */
	bool has_token;  /* the daemon keeps sessions: token is this one's */
	uint8_t token[CONTIG_TOKEN_LEN];
	uint32_t grace_ms;          /* how long a restarted daemon keeps it */
	struct sockaddr_un addr;    /* where to reconnect */
	char refusal[256];          /* the daemon's last refusal, in words */
	char dead_message[256];     /* how the session was lost */
	bool accepts_carves;        /* the daemon takes fast-path reports (hello) */
	int64_t hello_left;         /* its HelloReply.buffers_left, -2 if not
				     * said (an older daemon) */
	uint64_t nrequests;         /* requests sent (resent ones too) */
};

struct contig_wire_alloc {
	uint64_t id, phys, len, page_len, offset;
	uint32_t nframes, node;
	bool held; /* no descriptor came: the one frame is one this client holds
		    * a live buffer in, so it has it mapped (hello's
		    * keeps_held_frames_mapped); fds is NULL then */
	int *fds;  /* nframes descriptors, malloc'd; the caller closes and frees */
};

/* Connect @w (rx set, the rest zeroed but reconnect) to the daemon at
 * @path and say hello. Returns 0, -ENAMETOOLONG, -ENOENT or -ECONNREFUSED
 * (no daemon), -EPROTO (another protocol), or -errno; w->sock is not open
 * then. */
int contig_wire_connect(struct contig_wire *w, const char *path);

/* Connect @w again to the path contig_wire_connect() was given, as a new
 * session (w->sock < 0, not dead: see contig_wire_forget()). Returns as
 * contig_wire_connect(). */
int contig_wire_reopen(struct contig_wire *w);

/* In a forked child: the connection and session of @w are the parent's,
 * and the child's descriptor of it is closed already. Forget them (socket,
 * token, seqs, a lost session's state) so that contig_wire_reopen() starts
 * a session of the child's own. */
void contig_wire_forget(struct contig_wire *w);

/* After a call on @w failed with @err: if the connection broke
 * (w->broken), reconnecting is on and the daemon keeps sessions, connect
 * again, with backoff, and reclaim the session within its grace period.
 * Returns 0 when the session is back (the caller sends again, with the
 * same seqs, every request whose reply had not come); @err when there is
 * nothing to reconnect for; -ECONNRESET when the session is lost for good
 * (w->dead, message recorded). May block for the grace period. */
int contig_wire_recover(struct contig_wire *w, int err);

/* 0, or -ECONNRESET (the message says how the session was lost) once the
 * session is lost for good. */
static inline int contig_wire_dead(const struct contig_wire *w)
{
	return w->dead ? contig_fail(-ECONNRESET, "%s", w->dead_message) : 0;
}

/* The seq for a new request. */
static inline uint64_t contig_wire_next_seq(struct contig_wire *w)
{
	return ++w->seq;
}

/* Each sends one request and waits for its reply; when the connection
 * breaks, they reclaim the session (contig_wire_recover()) and send the
 * request again with the same seq, each time it breaks. Return 0, the
 * negative errno that the reply's status maps to (message recorded), or
 * -errno of the socket (-ECONNRESET: the daemon closed the connection; the
 * session is lost if it could not be reclaimed). contig_wire_free() takes
 * NOT_FOUND after a reconnect for the free done before the restart: 0. */
int contig_wire_hello(struct contig_wire *w);
int contig_wire_alloc(struct contig_wire *w, const struct contig_alloc_req *req,
		      struct contig_wire_alloc *ret_alloc);
/* The same for a warm frame of the fast path (AllocRequest.warm). */
int contig_wire_alloc_warm(struct contig_wire *w, const struct contig_alloc_req *req,
			   struct contig_wire_alloc *ret_alloc);
int contig_wire_free(struct contig_wire *w, uint64_t id, const uint64_t *check_len,
		     const int *check_cache);

/* Pipelining: send now, receive later, in the order sent. @seq is
 * contig_wire_next_seq()'s, or, to send a request again after
 * contig_wire_recover(), the seq it had. Neither half reconnects.
 * When contig_wire_alloc_recv() fails after the daemon allocated the buffer
 * (descriptors missing or malformed), ret_alloc->id names it so the caller
 * can free it once the replies in flight are in (unless the connection
 * broke: the request sent again brings it back); otherwise it is 0. */
int contig_wire_alloc_send(struct contig_wire *w, const struct contig_alloc_req *req,
			   uint64_t seq);
int contig_wire_alloc_recv(struct contig_wire *w, uint64_t seq,
			   struct contig_wire_alloc *ret_alloc);
int contig_wire_free_send(struct contig_wire *w, uint64_t id, const uint64_t *check_len,
			  const int *check_cache, uint64_t seq);
int contig_wire_free_recv(struct contig_wire *w, uint64_t seq);
/* Stats; with @ret_segs, also each pool's segment histogram (the first
 * @max_segs pools); with @ret_windows, each pool's window (the first
 * @max_windows); with @ret_counters, the monitoring counters. */
int contig_wire_stats(struct contig_wire *w, struct contig_stats *ret_stats,
		      struct contig_pool_segments *ret_segs, size_t max_segs,
		      struct contig_pool_window *ret_windows, size_t max_windows,
		      struct contig_counters *ret_counters);
/* The whole buffer list (@frames false) or frame list (@frames true), page
 * by page, into a malloc'd array of struct contig_buffer_info or struct
 * contig_frame_info: see contig_list_buffers(). After a reconnect the list
 * starts over. */
int contig_wire_list(struct contig_wire *w, bool frames, void **ret_list, size_t *ret_n);
int contig_wire_report(struct contig_wire *w, const char *routine, const char *reason);

/* A fast-path report (CarveRequest, proto/README.md "Fast-path reports"):
 * carves cut from warm frames, ids of carves freed, and per tag the
 * buffers allocated and freed within the report. */
struct contig_wire_carve {
	uint64_t id, frame_id, offset, len, req_len;
	uint32_t tag;
};
struct contig_wire_transient {
	uint32_t tag, count;
	uint64_t len;
};
struct contig_wire_report {
	const struct contig_wire_carve *allocs;
	size_t nallocs;
	const uint64_t *frees;
	size_t nfrees;
	const struct contig_wire_transient *transients;
	size_t ntransients;
};
/* Send @rep and wait for its reply (sent again, with its seq, when the
 * connection breaks: reports are idempotent). Returns 0 and
 * *ret_buffers_left (the reply's CarveReply.buffers_left; -1 when it says
 * no limit), or as the calls above (-EMSGSIZE: larger than a request may
 * be). */
int contig_wire_carve(struct contig_wire *w, const struct contig_wire_report *rep,
		      int64_t *ret_buffers_left);

#endif
