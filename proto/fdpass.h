/* fdpass.h - one datagram, with or without file descriptors, over an
 * AF_UNIX SOCK_SEQPACKET socket. The one wrapper around sendmsg/recvmsg
 * that the daemon (server.c) and the client library both use.
 *
 * Also the constants of the wire that are not in contig.proto. Thread-safe
 * (no state).
 */
#ifndef CONTIG_FDPASS_H
#define CONTIG_FDPASS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Version spoken by this build; hello requests must carry it. */
#define CONTIG_PROTOCOL_VERSION 1u

/* Largest request datagram the daemon accepts; larger ones close the
 * connection. Requests are a few dozen bytes. */
#define CONTIG_MAX_REQUEST_LEN 4096u

/* Largest reply datagram a client must be able to receive. */
#define CONTIG_MAX_REPLY_LEN 65536u

/* Most frames one buffer may span, whatever a daemon is configured to
 * allow (max_frames_per_buffer may not exceed it); a reply claiming more is
 * malformed. */
#define CONTIG_MAX_FRAMES_PER_BUFFER (1u << 20)

/* A session token (HelloReply.session_token): one byte of format, then
 * random bytes. A daemon accepts every format up to its own. */
#define CONTIG_TOKEN_FORMAT 1u
#define CONTIG_TOKEN_LEN 17u

/* Descriptors per datagram: the kernel's SCM_MAX_FD is 253. */
#define CONTIG_FDS_PER_DATAGRAM 250u

/* Send one datagram of @len bytes and @nfds descriptors (0..CONTIG_FDS_PER_DATAGRAM)
 * on @sock. @flags go to sendmsg (MSG_DONTWAIT for the daemon). MSG_NOSIGNAL
 * is always added. Returns 0, or -errno (-EAGAIN: the socket is full; nothing
 * was sent). */
int contig_fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t nfds,
		       int flags);

/* Receive one datagram into @buf (@cap bytes) and up to @maxfds descriptors
 * into @fds (close-on-exec). Returns the datagram's full length (which may
 * exceed @cap: the datagram was truncated and the rest is lost), 0 on
 * orderly shutdown by the peer, or -errno. *ret_nfds is the number of
 * descriptors stored; descriptors beyond @maxfds are closed (by the kernel
 * or here) and counted in *ret_nfds_dropped, if not NULL. */
ssize_t contig_fdpass_recv(int sock, void *buf, size_t cap, int *fds, size_t maxfds,
			   size_t *ret_nfds, size_t *ret_nfds_dropped, int flags);

#endif
