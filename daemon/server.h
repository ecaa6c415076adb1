/* server.h - the client connections on the listening socket (listen.c).
 *
 * One connection = one session. server.c reads datagrams (never more than
 * CONTIG_MAX_REQUEST_LEN; never with descriptors), hands them to rpc.c, and
 * sends replies without ever blocking: a reply that does not fit the socket
 * waits in a bounded per-connection queue; a client that lets it overflow
 * is disconnected and its memory recycled.
 *
 * Loop thread only.
 */
#ifndef CONTIG_SERVER_H
#define CONTIG_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "session.h"

struct contig_access;
struct contig_server;

/* Serve connections on @listen_fd (which the server then owns and closes)
 * with @pools, admitting the peers @access allows (the server keeps the
 * pointer). @path is unlinked at stop (NULL: leave it). Returns 0 and
 * *ret_server or -errno. */
int contig_server_start(uv_loop_t *loop, int listen_fd, const char *path,
			struct contig_pools *pools, const struct contig_access *access,
			struct contig_server **ret_server);

/* Stop accepting, close every connection (their sessions' frames go to the
 * recycler), close the listener. The server is freed once its handles
 * have closed (keep the loop running). Accepts NULL. */
void contig_server_stop(struct contig_server *server);

/* The recycle thread's report (a contig_recycle_done_cb): return the frames
 * to their pools and retry requests that waited for them. */
void contig_server_recycled(struct contig_frame *done, void *server);

/* How many connections are open. */
uint32_t contig_server_nconns(const struct contig_server *server);

/* Requests handled since the server started (busy polling watches it). */
uint64_t contig_server_nrequests(const struct contig_server *server);

#endif
