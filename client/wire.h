/* wire.h - libcontig's side of the protocol: one request, its reply (and,
 * for an allocation, its frame descriptors), over a blocking socket.
 *
 * Internal to libcontig; the only client file that includes contig.pb-c.h
 * is wire.c. The caller serialises calls on one socket.
 */
#ifndef CONTIG_WIRE_H
#define CONTIG_WIRE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "contig.h"

/* A reply buffer and the sequence counter of one connection. */
struct contig_wire {
	int sock;
	uint64_t seq;
	uint8_t *rx; /* CONTIG_MAX_REPLY_LEN bytes */
	uint64_t busy_poll_ns; /* spin this long for a reply before sleeping */
};

struct contig_wire_alloc {
	uint64_t id, phys, len, page_len, offset;
	uint32_t nframes, node;
	bool held; /* no descriptor came: the one frame is one this client holds
		    * a live buffer in, so it has it mapped (hello's
		    * keeps_held_frames_mapped); fds is NULL then */
	int *fds;  /* nframes descriptors, malloc'd; the caller closes and frees */
};

/* Record the reason for a failure for contig_last_message(); returns @err. */
__attribute__((format(printf, 2, 3))) int contig_fail(int err, const char *fmt, ...);

/* Each sends one request and waits for its reply. Return 0, the negative
 * errno that the reply's status maps to (message recorded), or -errno of
 * the socket (-ECONNRESET: the daemon closed the connection). */
int contig_wire_hello(struct contig_wire *w);
int contig_wire_alloc(struct contig_wire *w, const struct contig_alloc_req *req,
		      struct contig_wire_alloc *ret_alloc);
int contig_wire_free(struct contig_wire *w, uint64_t id, const uint64_t *check_len,
		     const int *check_cache);

/* Pipelining: send now (*ret_seq set), receive later, in the order sent.
 * When contig_wire_alloc_recv() fails after the daemon allocated the buffer
 * (descriptors missing or malformed), ret_alloc->id names it so the caller
 * can free it once the replies in flight are in; otherwise it is 0. */
int contig_wire_alloc_send(struct contig_wire *w, const struct contig_alloc_req *req,
			   uint64_t *ret_seq);
int contig_wire_alloc_recv(struct contig_wire *w, uint64_t seq,
			   struct contig_wire_alloc *ret_alloc);
int contig_wire_free_send(struct contig_wire *w, uint64_t id, const uint64_t *check_len,
			  const int *check_cache, uint64_t *ret_seq);
int contig_wire_free_recv(struct contig_wire *w, uint64_t seq);
int contig_wire_stats(struct contig_wire *w, struct contig_stats *ret_stats);
/* The whole buffer list (@frames false) or frame list (@frames true), page
 * by page, into a malloc'd array of struct contig_buffer_info or struct
 * contig_frame_info: see contig_list_buffers(). */
int contig_wire_list(struct contig_wire *w, bool frames, void **ret_list, size_t *ret_n);
int contig_wire_report(struct contig_wire *w, const char *routine, const char *reason);

#endif
