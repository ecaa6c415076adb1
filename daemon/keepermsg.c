/* keepermsg.c - what the daemon and its frame keeper exchange: one
 * datagram each way, and the table of frames both sides keep.
 *
 * DESIGN
 * The keeper process (keeperd.c) and the daemon's link to it (keeper.c)
 * speak in SOCK_SEQPACKET datagrams: a head (magic, operation, how many
 * frames put and dropped), the (page size, id) keys, and the put frames'
 * descriptors as SCM_RIGHTS, at most KEEPER_BATCH (under the kernel's
 * SCM_MAX_FD) per datagram. Anything malformed is refused whole, its
 * descriptors closed. Both sides hold a table (page size, id) ->
 * descriptor: the keeper's is what it keeps, the daemon's a mirror of it,
 * for a new keeper when one dies; sending a table is shared too.
 *
 * It knows nothing of pools, sessions or who is at either end: no state,
 * no logging, no threads. It never calls keeper.c or keeperd.c.
 */
#include "keepermsg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- one datagram ---- */

int keeper_msg_send(int sock, enum keeper_op op, const struct keeper_key *put, const int *fds,
		    uint32_t nput, const struct keeper_key *drop, uint32_t ndrop)
{
	static struct keeper_msg zero;
	struct keeper_msg *m = malloc(sizeof(*m));
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * KEEPER_BATCH)];
	} ctl;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (!m)
		return -ENOMEM;
	*m = zero;
	m->head = (struct keeper_head){ KEEPER_MAGIC, (uint32_t)op, nput, ndrop };
	if (nput)
		memcpy(m->keys, put, nput * sizeof(*put));
	if (ndrop)
		memcpy(m->keys + nput, drop, ndrop * sizeof(*drop));
	iov.iov_base = m;
	iov.iov_len = sizeof(m->head) + (nput + ndrop) * sizeof(struct keeper_key);
	if (nput) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nput);
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * nput);
		memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * nput);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	free(m);
	return n < 0 ? -errno : 0;
}

/* Receive one datagram into @m, its descriptors into @fds. Returns 0, -EPIPE
 * at end of file, -EPROTO for anything malformed (its descriptors closed),
 * or -errno. */
int keeper_msg_recv(int sock, struct keeper_msg *m, int *fds, int flags)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * KEEPER_BATCH)];
	} ctl;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	uint32_t nfds = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			uint32_t k = (uint32_t)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (uint32_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (nfds < KEEPER_BATCH)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
	if ((size_t)n < sizeof(m->head) || m->head.magic != KEEPER_MAGIC ||
	    m->head.nput > KEEPER_BATCH || m->head.ndrop > KEEPER_BATCH ||
	    (size_t)n != sizeof(m->head) + (m->head.nput + m->head.ndrop) * sizeof(m->keys[0]) ||
	    nfds != m->head.nput || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	return 0;
}

/* ---- the table of frames ---- */

static size_t slot_of(const struct keeper_table *t, struct keeper_key key)
{
	uint64_t h = (key.id ^ (key.page_len >> 12)) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> 32) & (t->cap - 1);
}

static int table_grow(struct keeper_table *t)
{
	struct keeper_table bigger = { .cap = t->cap ? 2 * t->cap : 1024, .borrowed = t->borrowed };

	bigger.slots = malloc(bigger.cap * sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < bigger.cap; i++)
		bigger.slots[i].fd = -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].fd >= 0) {
			size_t k = slot_of(&bigger, t->slots[i].key);

			while (bigger.slots[k].fd >= 0)
				k = (k + 1) & (bigger.cap - 1);
			bigger.slots[k] = t->slots[i];
		}
	bigger.n = t->n;
	free(t->slots);
	*t = bigger;
	return 0;
}

void keeper_table_drop(struct keeper_table *t, struct keeper_key key)
{
	size_t i, j;

	if (!t->cap)
		return;
	for (i = slot_of(t, key); t->slots[i].fd >= 0; i = (i + 1) & (t->cap - 1))
		if (t->slots[i].key.id == key.id && t->slots[i].key.page_len == key.page_len)
			break;
	if (t->slots[i].fd < 0)
		return;
	if (!t->borrowed)
		close(t->slots[i].fd);
	t->slots[i].fd = -1;
	t->n--;
	/* Backward shift: move up every later entry of the run whose home is
	 * not between the hole and it. */
	for (j = (i + 1) & (t->cap - 1); t->slots[j].fd >= 0; j = (j + 1) & (t->cap - 1)) {
		size_t home = slot_of(t, t->slots[j].key);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j].fd = -1;
			i = j;
		}
	}
}

/* Hold @fd as @key (replacing what held that key). Closes @fd on -ENOMEM. */
int keeper_table_put(struct keeper_table *t, struct keeper_key key, int fd)
{
	size_t i;

	keeper_table_drop(t, key);
	if (2 * (t->n + 1) > t->cap && table_grow(t) < 0) {
		if (!t->borrowed)
			close(fd);
		return -ENOMEM;
	}
	for (i = slot_of(t, key); t->slots[i].fd >= 0; i = (i + 1) & (t->cap - 1))
		;
	t->slots[i] = (struct slot){ key, fd };
	t->n++;
	return 0;
}

void keeper_table_clear(struct keeper_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].fd >= 0) {
			if (!t->borrowed)
				close(t->slots[i].fd);
			t->slots[i].fd = -1;
		}
	t->n = 0;
}

/* Send the whole table as @op datagrams (HELD: to a newly connected
 * daemon, then END; UPDATE: a daemon's mirror to a new keeper). */
int keeper_send_table(int conn, const struct keeper_table *t, enum keeper_op op)
{
	struct keeper_key keys[KEEPER_BATCH];
	int fds[KEEPER_BATCH];
	uint32_t n = 0;
	int r = 0;

	for (size_t i = 0; i < t->cap && r == 0; i++) {
		if (t->slots[i].fd < 0)
			continue;
		keys[n] = t->slots[i].key;
		fds[n++] = t->slots[i].fd;
		if (n == KEEPER_BATCH) {
			r = keeper_msg_send(conn, op, keys, fds, n, NULL, 0);
			n = 0;
		}
	}
	if (r == 0 && n)
		r = keeper_msg_send(conn, op, keys, fds, n, NULL, 0);
	if (r == 0 && op == KEEPER_HELD)
		r = keeper_msg_send(conn, KEEPER_END, NULL, NULL, 0, NULL, 0);
	return r;
}
