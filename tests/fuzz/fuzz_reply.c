/* fuzz_reply.c - libFuzzer target over libcontig's reply decoding
 * (client/wire.c, proto/fdpass.c).
 *
 * DESIGN
 * The fuzz input plays the daemon: its datagrams are written, some with
 * real descriptors attached (SCM_RIGHTS: /dev/null and a memfd), to one
 * end of a SOCK_SEQPACKET socketpair before one contig_wire_* call reads
 * its reply from the other end. Input:
 *   byte 0   bits 0-2: the call (% 5: alloc, stats, free, hello, report);
 *            bits 3-7: its arguments (free: check len / cache type;
 *            stats: bit 4 lists the frames, else bit 3 the buffers,
 *            page by page with contig_wire_list(), instead of stats)
 *   byte 1   bits 0-3: which of datagrams 0..3 carry descriptors;
 *            bits 4-5: how many the first of them carries (1, 2, 3, 250;
 *            the others carry as many, or 1 after 250);
 *            bits 6-7: then the daemon end 0: stops writing (shutdown:
 *            the client reads EOF once the datagrams are consumed),
 *            1: closes as soon as the client's request arrives (unread:
 *            the client sees a reset), 2: closes at once (the client's
 *            send fails: it looks for a refusal), 3: stays open (the
 *            client's 1 ms receive timeout ends the wait)
 *   then     2-byte little-endian length n (at most 4096) and n bytes, for
 *            each datagram
 * Checked: no crash or sanitizer report, the call returns 0 or a negative
 * errno, an allocation it returns carries nframes distinct open
 * descriptors (which the harness then closes) or, for a frame the client
 * holds (frame_held), exactly one frame and none, and the process has exactly
 * the descriptors it had before (nothing leaked, nothing it did not own
 * closed); and an allocate reply claiming more than
 * CONTIG_MAX_FRAMES_PER_BUFFER frames is refused as malformed, before the
 * client sizes anything by it (a check that holds without libFuzzer's
 * malloc limit too, so that replay.c guards that fix as well).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "contig.pb-c.h"
#include "fdpass.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FD_DATAGRAMS 4

__attribute__((noreturn)) static void fail(const char *what)
{
	fprintf(stderr, "fuzz_reply: %s (last message: %s)\n", what, contig_last_message());
	abort();
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		fail("cannot open /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* Write the input's datagrams to @sock. */
static void write_datagrams(int sock, const uint8_t *data, size_t size, uint8_t fdspec,
			    const int *srcfds)
{
	static const size_t first_count[] = { 1, 2, 3, CONTIG_FDS_PER_DATAGRAM };
	size_t count = first_count[(fdspec >> 4) & 3], pos = 0;
	int fds[CONTIG_FDS_PER_DATAGRAM];

	for (unsigned i = 0; pos + 2 <= size; i++) {
		size_t n = data[pos] | (size_t)data[pos + 1] << 8, nfds = 0;
		int r;

		pos += 2;
		if (n > CONTIG_MAX_REQUEST_LEN)
			n = CONTIG_MAX_REQUEST_LEN;
		if (n > size - pos)
			n = size - pos;
		if (i < MAX_FD_DATAGRAMS && (fdspec & (1u << i))) {
			nfds = count;
			for (size_t k = 0; k < nfds; k++) {
				fds[k] = fcntl(srcfds[k % 2], F_DUPFD_CLOEXEC, 0);
				if (fds[k] < 0)
					fail("dup");
			}
			if (count == CONTIG_FDS_PER_DATAGRAM)
				count = 1;
		}
		r = contig_fdpass_send(sock, data + pos, n, fds, nfds, MSG_DONTWAIT);
		for (size_t k = 0; k < nfds; k++)
			close(fds[k]);
		if (r < 0)
			break; /* the socket is full: the rest is not sent */
		pos += n;
	}
}

/* The daemon end closes as soon as a request arrives, unread. */
static void *close_on_request(void *arg)
{
	int sock = *(int *)arg;
	struct pollfd p = { .fd = sock, .events = POLLIN };

	poll(&p, 1, 50);
	close(sock);
	return NULL;
}

/* Does the first datagram (@size bytes of input after the header) claim
 * an allocation of more frames than a buffer may have? */
static bool claims_too_many_frames(const uint8_t *data, size_t size)
{
	Contig__Reply *reply;
	size_t n;
	bool too_many;

	if (size < 2)
		return false;
	n = data[0] | (size_t)data[1] << 8;
	if (n > CONTIG_MAX_REQUEST_LEN)
		n = CONTIG_MAX_REQUEST_LEN;
	if (n > size - 2)
		n = size - 2;
	reply = contig__reply__unpack(NULL, n, data + 2);
	if (!reply)
		return false;
	too_many = reply->status == CONTIG__STATUS__OK &&
		   reply->body_case == CONTIG__REPLY__BODY_ALLOC &&
		   reply->alloc->nframes > CONTIG_MAX_FRAMES_PER_BUFFER;
	contig__reply__free_unpacked(reply, NULL);
	return too_many;
}

static int call(struct contig_wire *w, uint8_t op)
{
	struct contig_wire_alloc a;
	struct contig_stats st;
	int r = 0;

	switch (op % 5) {
	case 0: {
		struct contig_alloc_req req = {
			.len = 4096ull << (op >> 3),
			.highest_phys = CONTIG_PHYS_MAX,
			.cache_type = 1,
			.node = -1,
			.priority = 32,
		};

		memset(&a, 0xa5, sizeof(a));
		r = contig_wire_alloc(w, &req, &a);
		if (r == 0 && a.held) {
			/* A frame this client has mapped: one, and no descriptor. */
			if (a.nframes != 1 || a.fds)
				fail("a held-frame allocation with descriptors or several frames");
		} else if (r == 0) {
			if (a.nframes == 0 || !a.fds)
				fail("an allocation without descriptors");
			for (uint32_t i = 0; i < a.nframes; i++) {
				if (!fd_open(a.fds[i]))
					fail("an allocation returned a descriptor that is not open");
				for (uint32_t k = 0; k < i; k++)
					if (a.fds[k] == a.fds[i])
						fail("an allocation returned a descriptor twice");
			}
			for (uint32_t i = 0; i < a.nframes; i++)
				close(a.fds[i]);
			free(a.fds);
		}
		break;
	}
	case 1:
		if (op & 0x18) {
			void *list = NULL;
			size_t n = 0;

			r = contig_wire_list(w, (op & 0x10) != 0, &list, &n);
			if (r == 0 && (n == 0) != (list == NULL))
				fail("a list and its count disagree");
			free(list);
		} else {
			/* the segments decoded too: a hostile histogram folds, never overflows;
			 * and the windows (a below of 0 is no window, not a wrap) */
			struct contig_pool_segments segs[4];
			struct contig_pool_window wins[4];
			struct contig_counters counters; /* hostile latency lists fold too */

			r = contig_wire_stats(w, &st, segs, sizeof(segs) / sizeof(segs[0]), wins,
					      sizeof(wins) / sizeof(wins[0]), &counters);
		}
		break;
	case 2: {
		uint64_t len = 4096;
		int cache = 1;

		r = contig_wire_free(w, 0x100000001ull, (op & 0x08) ? &len : NULL,
				     (op & 0x10) ? &cache : NULL);
		break;
	}
	case 3:
		r = contig_wire_hello(w);
		break;
	case 4:
		r = contig_wire_report(w, "MmFreeContiguousMemory", "not the base of a buffer");
		break;
	}
	if (r > 0 || r < -4095)
		fail("a call returned something other than 0 or -errno");
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *rx;
	static int srcfds[2] = { -1, -1 };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 1000 };
	uint8_t op = size > 0 ? data[0] : 0, fdspec = size > 1 ? data[1] : 0;
	struct contig_wire w;
	int before, sv[2], closer_sock, r;
	bool too_many;
	pthread_t closer;

	if (!rx) {
		rx = malloc(CONTIG_MAX_REPLY_LEN);
		srcfds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
		srcfds[1] = memfd_create("fuzz_reply", MFD_CLOEXEC);
		if (!rx || srcfds[0] < 0 || srcfds[1] < 0)
			fail("setup");
	}
	before = count_fds();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		fail("socketpair");
	if (size > 2)
		write_datagrams(sv[0], data + 2, size - 2, fdspec, srcfds);
	switch (fdspec >> 6) {
	case 1:
		closer_sock = sv[0];
		sv[0] = -1;
		if (pthread_create(&closer, NULL, close_on_request, &closer_sock) != 0)
			fail("pthread_create");
		break;
	case 2:
		close(sv[0]);
		sv[0] = -1;
		break;
	case 3:
		break;
	default:
		shutdown(sv[0], SHUT_WR);
		break;
	}

	w = (struct contig_wire){ .sock = sv[1], .seq = 0, .rx = rx };
	/* (Only while the daemon end is there to take the request: else the
	 * client may never read that datagram as its reply.) */
	too_many = op % 5 == 0 && (fdspec >> 6 == 0 || fdspec >> 6 == 3) &&
		   claims_too_many_frames(data + 2, size > 2 ? size - 2 : 0);
	r = call(&w, op);
	if (too_many && r != -EPROTO)
		fail("an allocate reply claiming more than CONTIG_MAX_FRAMES_PER_BUFFER frames "
		     "was not refused as malformed");
	if (fdspec >> 6 == 1)
		pthread_join(closer, NULL);

	close(sv[1]);
	if (sv[0] >= 0)
		close(sv[0]);
	if (!fd_open(srcfds[0]) || !fd_open(srcfds[1]))
		fail("the client closed a descriptor it did not own");
	if (count_fds() != before)
		fail(count_fds() > before ? "descriptors leaked"
					  : "descriptors closed that were not the client's");
	return 0;
}
