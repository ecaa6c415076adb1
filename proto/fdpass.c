/* fdpass.c - sendmsg/recvmsg with SCM_RIGHTS for SOCK_SEQPACKET datagrams.
 *
 * DESIGN: SOCK_SEQPACKET keeps message boundaries, so one call moves one
 * whole datagram. A truncated datagram is reported by its full length
 * (MSG_TRUNC), never silently cut. Descriptors arrive close-on-exec
 * (MSG_CMSG_CLOEXEC); any the caller has no room for are closed here, and
 * the kernel closes those that did not fit the control buffer (MSG_CTRUNC),
 * so nothing leaks into the receiver whatever the sender does.
 */
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Control buffer big enough for a full SCM_RIGHTS payload. */
#define CMSG_SPACE_MAX CMSG_SPACE(sizeof(int) * 253)

int contig_fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t nfds,
		       int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CONTIG_FDS_PER_DATAGRAM)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > CONTIG_FDS_PER_DATAGRAM)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* SOCK_SEQPACKET sends all or nothing. */
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

ssize_t contig_fdpass_recv(int sock, void *buf, size_t cap, int *fds, size_t maxfds,
			   size_t *ret_nfds, size_t *ret_nfds_dropped, int flags)
{
	union {
		char buf[CMSG_SPACE_MAX];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	size_t nfds = 0, dropped = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, flags | MSG_TRUNC | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t count;
		int *in;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		in = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, &in[i], sizeof(fd));
			if (nfds < maxfds) {
				fds[nfds++] = fd;
			} else {
				close(fd);
				dropped++;
			}
		}
	}
	if (msg.msg_flags & MSG_CTRUNC)
		dropped++; /* the kernel closed at least one */
	*ret_nfds = nfds;
	if (ret_nfds_dropped)
		*ret_nfds_dropped = dropped;
	return n;
}
