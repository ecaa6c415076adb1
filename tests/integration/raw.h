/* raw.h - the wire protocol by hand, for tests that must send what libcontig
 * never would (forged ids, garbage, requests before hello) or keep what it
 * never keeps (a frame's descriptor after the free).
 *
 * One protobuf Request per SOCK_SEQPACKET datagram, one Reply back (see
 * proto/contig.proto). Every receive gives up after RAW_TIMEOUT_S, so a
 * daemon that neither answers nor closes fails the test instead of hanging
 * it. Also the byte patterns the tests write and check. Header-only.
 */
#ifndef CONTIG_RAW_H
#define CONTIG_RAW_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "contig.pb-c.h"
#include "fdpass.h"
#include "harness.h"

#define RAW_TIMEOUT_S 10

/* A connected SOCK_SEQPACKET socket to @path, nothing sent yet (no hello).
 * Bails out if the daemon does not accept. */
static inline int raw_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = RAW_TIMEOUT_S };
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(addr.sun_path))
		bail_out("socket path too long: %s", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		bail_out("raw connect %s: %s", path, strerror(errno));
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return sock;
}

/* Send @len bytes as one datagram. Returns 0 or -errno (never SIGPIPE). */
static inline int raw_send_bytes(int sock, const void *data, size_t len, int flags)
{
	return contig_fdpass_send(sock, data, len, NULL, 0, flags);
}

/* Pack @req into @buf (@cap bytes). Returns its length. */
static inline size_t raw_pack(const Contig__Request *req, uint8_t *buf, size_t cap)
{
	size_t len = contig__request__get_packed_size(req);

	if (len > cap)
		bail_out("raw_pack: request of %zu bytes", len);
	return contig__request__pack(req, buf);
}

static inline int raw_send(int sock, const Contig__Request *req)
{
	uint8_t buf[CONTIG_MAX_REQUEST_LEN];

	return raw_send_bytes(sock, buf, raw_pack(req, buf, sizeof(buf)), 0);
}

/* The next reply, or NULL on EOF, timeout, error or an unparseable reply
 * (*ret_err: 0 on EOF, else -errno). The first descriptor it carries goes
 * to *ret_fd (-1 if none) when @ret_fd is not NULL; all others are closed.
 * Free with contig__reply__free_unpacked(). */
static inline Contig__Reply *raw_recv_err(int sock, int *ret_fd, int *ret_err)
{
	static uint8_t buf[CONTIG_MAX_REPLY_LEN];
	int fds[CONTIG_FDS_PER_DATAGRAM];
	size_t nfds = 0;
	ssize_t n = contig_fdpass_recv(sock, buf, sizeof(buf), fds, CONTIG_FDS_PER_DATAGRAM, &nfds,
				       NULL, 0);
	Contig__Reply *reply = NULL;

	/* The kernel reports a reset before the peer's last datagram. */
	if (n == -ECONNRESET) {
		n = contig_fdpass_recv(sock, buf, sizeof(buf), fds, CONTIG_FDS_PER_DATAGRAM, &nfds,
				       NULL, MSG_DONTWAIT);
		if (n == -EAGAIN)
			n = -ECONNRESET;
	}

	if (n > 0 && (size_t)n <= sizeof(buf))
		reply = contig__reply__unpack(NULL, (size_t)n, buf);
	*ret_err = reply || n == 0 ? 0 : n < 0 ? (int)n : -EPROTO;
	if (ret_fd)
		*ret_fd = reply && nfds ? fds[0] : -1;
	for (size_t i = ret_fd && reply && nfds ? 1 : 0; i < nfds; i++)
		close(fds[i]);
	return reply;
}

static inline Contig__Reply *raw_recv(int sock, int *ret_fd)
{
	int err;

	return raw_recv_err(sock, ret_fd, &err);
}

/* Send @req with @seq and receive its reply (see raw_recv). */
static inline Contig__Reply *raw_call(int sock, Contig__Request *req, uint64_t seq, int *ret_fd)
{
	if (ret_fd)
		*ret_fd = -1;
	req->seq = seq;
	if (raw_send(sock, req) < 0)
		return NULL;
	return raw_recv(sock, ret_fd);
}

/* Status of the reply to @req, or -1 if there was none. */
static inline int raw_status(int sock, Contig__Request *req, uint64_t seq)
{
	Contig__Reply *reply = raw_call(sock, req, seq, NULL);
	int status = reply && reply->seq == seq ? (int)reply->status : -1;

	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	return status;
}

static inline int raw_hello_version(int sock, uint32_t version)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;

	hello.version = version;
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &hello;
	return raw_status(sock, &req, 1);
}

/* Connect and say hello; bails out if the daemon does not answer OK. */
static inline int raw_connect_hello(const char *path)
{
	int sock = raw_connect(path);

	if (raw_hello_version(sock, CONTIG_PROTOCOL_VERSION) != CONTIG__STATUS__OK)
		bail_out("raw hello refused");
	return sock;
}

static inline void raw_stats_req(Contig__Request *req, Contig__StatsRequest *st)
{
	contig__stats_request__init(st);
	req->body_case = CONTIG__REQUEST__BODY_STATS;
	req->stats = st;
}

/* A stats round trip on a raw connection: the reply (status OK, stats
 * body), or NULL. */
static inline Contig__Reply *raw_stats(int sock, uint64_t seq)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st;
	Contig__Reply *reply;

	raw_stats_req(&req, &st);
	reply = raw_call(sock, &req, seq, NULL);
	if (reply && (reply->seq != seq || reply->status != CONTIG__STATUS__OK ||
		      reply->body_case != CONTIG__REPLY__BODY_STATS)) {
		contig__reply__free_unpacked(reply, NULL);
		reply = NULL;
	}
	return reply;
}

/* Allocate @len bytes in one frame on a raw connection: the frame's
 * descriptor (and *ret_id), or -1. */
static inline int raw_alloc_fd(int sock, uint64_t seq, uint64_t len, uint64_t *ret_id)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	Contig__Reply *reply;
	int fd;

	a.len = len;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	reply = raw_call(sock, &req, seq, &fd);
	if (!reply)
		return -1;
	if (reply->status != CONTIG__STATUS__OK || reply->body_case != CONTIG__REPLY__BODY_ALLOC ||
	    reply->alloc->nframes != 1) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else {
		*ret_id = reply->alloc->buffer_id;
	}
	contig__reply__free_unpacked(reply, NULL);
	return fd;
}

/* Free buffer @id on a raw connection: the reply's status, or -1. */
static inline int raw_free(int sock, uint64_t seq, uint64_t id)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__FreeRequest f = CONTIG__FREE_REQUEST__INIT;

	f.buffer_id = id;
	req.body_case = CONTIG__REQUEST__BODY_FREE;
	req.free = &f;
	return raw_status(sock, &req, seq);
}

/* Fill @len bytes (a multiple of 8) with a pattern that depends on @seed
 * and on each word's offset, so that a misplaced page is caught too. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	return (seed << 48) ^ ((i + 1) * UINT64_C(0x9e3779b97f4a7c15));
}

static inline void pattern_fill(void *virt, uint64_t len, uint64_t seed)
{
	uint64_t *w = virt;

	for (uint64_t i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i);
}

static inline bool pattern_holds(const void *virt, uint64_t len, uint64_t seed)
{
	const uint64_t *w = virt;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i] != pattern_word(seed, i))
			return false;
	return true;
}

/* Read until the daemon closes the connection. Returns true if it did
 * (EOF or reset) before RAW_TIMEOUT_S of silence and every reply read on
 * the way had status @status; false otherwise. */
static inline bool raw_closed_after(int sock, Contig__Status status)
{
	bool all = true;

	for (;;) {
		int err;
		Contig__Reply *reply = raw_recv_err(sock, NULL, &err);

		if (!reply) {
			if (err == 0 || err == -ECONNRESET)
				return all;
			if (err != -EPROTO)
				return false;
			all = false; /* a reply we could not parse */
			continue;
		}
		if (reply->status != status)
			all = false;
		contig__reply__free_unpacked(reply, NULL);
	}
}

#endif
