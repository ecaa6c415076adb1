/* test_bad_input.c - bad input from one client affects only that client's
 * connection (DESIGN.md, "Wire protocol" and "Invariants" 5-6): garbage,
 * truncated, oversized, empty or descriptor-carrying datagrams, requests
 * before hello, a wrong version, impossible constraints, unknown request
 * types, a client that never reads its replies, and a crowd of connections.
 *
 * A good libcontig client holds a buffer throughout; after each hostile act
 * it must still allocate, free and read stats, and its buffer must still
 * hold its pattern. Each hostile act runs on its own raw connection
 * (raw.h). A wedged daemon fails the test by SIGALRM instead of hanging it.
 */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define FRAME (2 * MiB)
#define POOL_LEN (16 * MiB)
#define HELD_SEED 0x600d

static struct harness_daemon d;
static struct contig_client *good;
static struct contig_buffer held;

/* ---- the good client, after each hostile act ---- */

static void good_client_unaffected(const char *act)
{
	struct contig_alloc_req req;
	struct contig_buffer b;
	struct contig_stats st;
	bool intact = pattern_holds(held.virt, held.len, HELD_SEED), works;

	contig_alloc_req_init(&req, 3 * 4096);
	works = contig_alloc(good, &req, &b) == 0;
	if (works) {
		pattern_fill(b.virt, b.len, 0x77);
		works = pattern_holds(b.virt, b.len, 0x77) && contig_free(good, b.virt) == 0;
	}
	works = works && contig_get_stats(good, &st) == 0 && st.my_nbuffers == 1;
	if (!ok(intact && works, "good_client_unaffected_by_%s", act))
		diag("  buffer intact %d, calls work %d: %s", intact, works, contig_last_message());
}

/* Only the good client connected, holding one frame, nothing recycling. */
static bool only_good_left(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->nsessions == 1 && st->pools[0].nframes_owned == 1 &&
	       st->pools[0].nframes_recycling == 0;
}

static void expect_only_good_left(const char *name)
{
	ok(harness_wait_stats(good, only_good_left, NULL), "%s", name);
}

static int count_daemon_fds(void)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d.pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* ---- requests built by hand ---- */

static size_t pack_stats(uint64_t seq, uint8_t *buf, size_t cap)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st;

	raw_stats_req(&req, &st);
	req.seq = seq;
	return raw_pack(&req, buf, cap);
}

/* A stats request padded with an unknown field to exactly @len bytes
 * (> 131, so the padding's length takes two varint bytes). */
static size_t pack_padded_stats(uint8_t *buf, size_t len)
{
	size_t n = pack_stats(7, buf, len), pad = len - n - 3;

	buf[n++] = 15 << 3 | 2; /* field 15, length-delimited */
	buf[n++] = (uint8_t)(0x80 | (pad & 0x7f));
	buf[n++] = (uint8_t)(pad >> 7);
	memset(buf + n, 0xab, pad);
	return n + pad;
}

static bool parses_as_request(const uint8_t *buf, size_t len)
{
	Contig__Request *req = contig__request__unpack(NULL, len, buf);

	if (req)
		contig__request__free_unpacked(req, NULL);
	return req != NULL;
}

/* Does a stats round trip still work on @sock? */
static bool still_usable(int sock, uint64_t seq)
{
	Contig__Reply *reply = raw_stats(sock, seq);

	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	return reply != NULL;
}

/* ---- hostile acts ---- */

static void test_garbage(void)
{
	unsigned seed = 20240607;
	static uint8_t buf[CONTIG_MAX_REQUEST_LEN];
	int nbad = 0, ndgrams = 0;

	for (int round = 0; round < 64; round++) {
		int sock = round & 1 ? raw_connect_hello(d.sock) : raw_connect(d.sock);
		int n = 1 + rand_r(&seed) % 4;

		for (int i = 0; i < n; i++) {
			size_t len;

			do {
				len = 1 + (size_t)rand_r(&seed) % sizeof(buf);
				for (size_t k = 0; k < len; k++)
					buf[k] = (uint8_t)rand_r(&seed);
			} while (parses_as_request(buf, len));
			raw_send_bytes(sock, buf, len, MSG_DONTWAIT); /* may find it closed */
			ndgrams++;
		}
		if (!raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR)) {
			nbad++;
			diag("  round %d (%s hello): not closed with PROTOCOL_ERROR", round,
			     round & 1 ? "after" : "before");
		}
		close(sock);
	}
	diag("  %d connections, %d garbage datagrams", 64, ndgrams);
	ok(nbad == 0, "garbage_datagrams_get_protocol_error_and_a_closed_connection");
	good_client_unaffected("garbage_datagrams");
}

static void test_truncated(void)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	uint8_t buf[256];
	size_t len;
	int sock, nbad = 0, nswept = 0;

	a.len = 3 * FRAME;
	a.has_lowest = a.has_highest = a.has_boundary = a.has_align = 1;
	a.has_cache_type = a.has_node = a.has_tag = a.has_priority = 1;
	a.lowest = 0;
	a.highest = UINT64_C(1) << 40;
	a.boundary = 8 * FRAME;
	a.align = FRAME;
	a.cache_type = CONTIG_CACHED;
	a.node = 0;
	a.tag = 0x74736554;
	a.priority = 16;
	req.seq = UINT64_C(0x123456789);
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	len = raw_pack(&req, buf, sizeof(buf));

	sock = raw_connect_hello(d.sock);
	raw_send_bytes(sock, buf, len / 2, 0);
	ok(raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "request_cut_in_half_gets_protocol_error_and_a_closed_connection");
	close(sock);

	/* Every other cut that leaves no valid Request behaves the same. */
	for (size_t cut = 1; cut < len; cut++) {
		if (cut == len / 2 || parses_as_request(buf, cut))
			continue;
		sock = raw_connect_hello(d.sock);
		raw_send_bytes(sock, buf, cut, 0);
		if (!raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR)) {
			nbad++;
			diag("  cut at %zu of %zu bytes: not closed with PROTOCOL_ERROR", cut, len);
		}
		close(sock);
		nswept++;
	}
	diag("  %d cuts of a %zu-byte request", nswept, len);
	ok(nbad == 0, "every_truncated_request_gets_protocol_error_and_a_closed_connection");
	good_client_unaffected("truncated_requests");
}

static void test_oversized(void)
{
	static uint8_t buf[64 * 1024];
	Contig__Reply *reply = NULL;
	size_t len;
	int sock;

	len = pack_padded_stats(buf, CONTIG_MAX_REQUEST_LEN);
	if (len != CONTIG_MAX_REQUEST_LEN || !parses_as_request(buf, len))
		bail_out("cannot build a request of exactly CONTIG_MAX_REQUEST_LEN bytes");
	sock = raw_connect_hello(d.sock);
	if (raw_send_bytes(sock, buf, len, 0) == 0)
		reply = raw_recv(sock, NULL);
	/* Its padding is an unknown field, which the daemon refuses to
	 * ignore silently: answered, not dropped, connection kept. */
	ok(reply && reply->seq == 7 && reply->status == CONTIG__STATUS__INVALID_ARGUMENT &&
		   reply->message && strstr(reply->message, "unknown field"),
	   "request_of_exactly_the_maximum_length_is_answered");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(still_usable(sock, 8), "connection_stays_open_after_a_maximum_length_request");
	close(sock);

	pack_padded_stats(buf, CONTIG_MAX_REQUEST_LEN + 1);
	sock = raw_connect_hello(d.sock);
	raw_send_bytes(sock, buf, CONTIG_MAX_REQUEST_LEN + 1, 0);
	ok(raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "request_one_byte_over_the_maximum_closes_the_connection");
	close(sock);

	pack_padded_stats(buf, sizeof(buf));
	sock = raw_connect_hello(d.sock);
	raw_send_bytes(sock, buf, sizeof(buf), 0);
	ok(raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "64KiB_datagram_closes_the_connection");
	close(sock);
	good_client_unaffected("oversized_datagrams");
}

static void test_before_hello(void)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	Contig__Reply *reply;
	int sock;

	sock = raw_connect(d.sock);
	raw_stats_req(&req, &st);
	reply = raw_call(sock, &req, 42, NULL);
	ok(reply && reply->seq == 42 && reply->status == CONTIG__STATUS__PROTOCOL_ERROR &&
		   reply->message && *reply->message,
	   "request_before_hello_gets_protocol_error_with_a_reason");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "request_before_hello_closes_the_connection");
	close(sock);

	sock = raw_connect(d.sock);
	a.len = 4096;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	ok(raw_status(sock, &req, 43) == CONTIG__STATUS__PROTOCOL_ERROR &&
		   raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "alloc_before_hello_gets_protocol_error_and_a_closed_connection");
	close(sock);
	good_client_unaffected("requests_before_hello");
}

static void test_wrong_version(void)
{
	uint32_t versions[] = { 0, CONTIG_PROTOCOL_VERSION + 1, UINT32_MAX };

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		Contig__Request req = CONTIG__REQUEST__INIT;
		Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;
		Contig__Reply *reply;
		int sock = raw_connect(d.sock);

		hello.version = versions[i];
		req.body_case = CONTIG__REQUEST__BODY_HELLO;
		req.hello = &hello;
		reply = raw_call(sock, &req, 1, NULL);
		ok(reply && reply->status == CONTIG__STATUS__UNSUPPORTED && reply->message &&
			   *reply->message,
		   "hello_with_version_%u_gets_unsupported_with_a_reason", versions[i]);
		if (reply)
			contig__reply__free_unpacked(reply, NULL);
		ok(raw_closed_after(sock, CONTIG__STATUS__UNSUPPORTED),
		   "hello_with_version_%u_closes_the_connection", versions[i]);
		close(sock);
	}
	good_client_unaffected("wrong_versions");
}

static void test_descriptors(void)
{
	uint8_t buf[64];
	size_t len = pack_stats(2, buf, sizeof(buf));
	struct pollfd p;
	char byte;
	int pipefd[2], sock;

	if (pipe(pipefd) < 0)
		bail_out("pipe");
	sock = raw_connect_hello(d.sock);
	ok(contig_fdpass_send(sock, buf, len, &pipefd[1], 1, 0) == 0, "request_with_a_descriptor_is_sent");
	close(pipefd[1]);
	ok(raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "request_carrying_a_descriptor_closes_the_connection");
	close(sock);
	/* The daemon held the only other write end: EOF means it closed it. */
	p = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	ok(poll(&p, 1, RAW_TIMEOUT_S * 1000) == 1 && read(pipefd[0], &byte, 1) == 0,
	   "daemon_closes_the_descriptors_it_is_sent");
	close(pipefd[0]);
	good_client_unaffected("descriptor_passing");
}

static void test_empty_datagram(void)
{
	int sock = raw_connect_hello(d.sock);
	int r = raw_send_bytes(sock, "", 0, 0);
	bool usable = still_usable(sock, 2);

	/* recv() returns 0 for an empty datagram as for a hang-up: the daemon
	 * may take either meaning. */
	diag("  empty datagram: send %d, connection %s", r, usable ? "still usable" : "closed");
	ok(usable || raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "empty_datagram_leaves_the_connection_usable_or_closes_it");
	close(sock);
	good_client_unaffected("an_empty_datagram");
}

#define ST_INVALID (1u << CONTIG__STATUS__INVALID_ARGUMENT)
#define ST_NOMEM (1u << CONTIG__STATUS__NO_MEMORY)

struct bad_alloc {
	const char *name;
	uint64_t len;
	int has_lowest, has_highest, has_boundary, has_align, has_cache, has_node;
	uint64_t lowest, highest, boundary, align;
	int32_t cache_type, node;
	unsigned want; /* ST_* */
};

static const struct bad_alloc bad_allocs[] = {
	{ .name = "len_0", .len = 0, .want = ST_INVALID },
	{ .name = "len_2_to_the_64_minus_1", .len = UINT64_MAX, .want = ST_INVALID },
	{ .name = "len_just_below_2_to_the_64", .len = UINT64_MAX - 4096,
	  .want = ST_INVALID | ST_NOMEM },
	{ .name = "len_beyond_the_pool", .len = 1 * GiB, .want = ST_NOMEM },
	{ .name = "boundary_3", .len = 4096, .has_boundary = 1, .boundary = 3,
	  .want = ST_INVALID },
	{ .name = "boundary_below_len", .len = 8192, .has_boundary = 1, .boundary = 4096,
	  .want = ST_INVALID },
	{ .name = "align_3", .len = 4096, .has_align = 1, .align = 3, .want = ST_INVALID },
	{ .name = "align_2_to_the_63", .len = 4096, .has_align = 1, .align = UINT64_C(1) << 63,
	  .want = ST_INVALID | ST_NOMEM },
	{ .name = "cache_type_99", .len = 4096, .has_cache = 1, .cache_type = 99,
	  .want = ST_INVALID },
	{ .name = "cache_type_minus_1", .len = 4096, .has_cache = 1, .cache_type = -1,
	  .want = ST_INVALID },
	{ .name = "node_99999", .len = 4096, .has_node = 1, .node = 99999, .want = ST_INVALID },
	{ .name = "node_minus_2", .len = 4096, .has_node = 1, .node = -2, .want = ST_INVALID },
	{ .name = "node_without_a_pool", .len = 4096, .has_node = 1, .node = 7,
	  .want = ST_NOMEM },
	{ .name = "lowest_above_highest", .len = 4096, .has_lowest = 1, .has_highest = 1,
	  .lowest = 1 * GiB, .highest = 1 * MiB, .want = ST_INVALID },
	{ .name = "lowest_near_2_to_the_64", .len = 8192, .has_lowest = 1,
	  .lowest = UINT64_MAX - 4096, .want = ST_INVALID | ST_NOMEM },
	{ .name = "highest_0", .len = 4096, .has_highest = 1, .highest = 0,
	  .want = ST_INVALID | ST_NOMEM },
	{ .name = "window_smaller_than_len", .len = 8192, .has_highest = 1, .highest = 4095,
	  .want = ST_INVALID | ST_NOMEM },
};

static void test_impossible_allocs(void)
{
	struct contig_stats before, after;
	int sock = raw_connect_hello(d.sock);
	uint64_t seq = 2;
	bool usable = true;

	contig_get_stats(good, &before);
	for (size_t i = 0; i < sizeof(bad_allocs) / sizeof(bad_allocs[0]); i++) {
		const struct bad_alloc *b = &bad_allocs[i];
		Contig__Request req = CONTIG__REQUEST__INIT;
		Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
		Contig__Reply *reply;
		int fd;

		a.len = b->len;
		a.has_lowest = b->has_lowest;
		a.lowest = b->lowest;
		a.has_highest = b->has_highest;
		a.highest = b->highest;
		a.has_boundary = b->has_boundary;
		a.boundary = b->boundary;
		a.has_align = b->has_align;
		a.align = b->align;
		a.has_cache_type = b->has_cache;
		a.cache_type = b->cache_type;
		a.has_node = b->has_node;
		a.node = b->node;
		req.body_case = CONTIG__REQUEST__BODY_ALLOC;
		req.alloc = &a;
		reply = raw_call(sock, &req, seq, &fd);
		if (!ok(reply && reply->seq == seq && (b->want >> reply->status & 1) &&
				reply->message && *reply->message && fd < 0,
			"alloc_with_%s_is_refused_with_a_reason", b->name))
			diag("  status %d, message \"%s\"", reply ? (int)reply->status : -1,
			     reply && reply->message ? reply->message : "(none)");
		else
			diag("  reason given: %s", reply->message);
		if (fd >= 0)
			close(fd);
		if (reply)
			contig__reply__free_unpacked(reply, NULL);
		usable &= still_usable(sock, seq + 1);
		seq += 2;
	}
	ok(usable, "connection_stays_usable_after_each_refused_alloc");
	{
		Contig__Reply *st = raw_stats(sock, seq);

		ok(st && st->stats->my_nbuffers == 0 && st->stats->my_nframes == 0,
		   "refused_allocs_leave_the_client_nothing");
		if (st)
			contig__reply__free_unpacked(st, NULL);
	}
	close(sock);
	contig_get_stats(good, &after);
	is_u64(after.pools[0].free_len, before.pools[0].free_len,
	       "refused_allocs_take_nothing_from_the_pool");
	good_client_unaffected("impossible_allocs");
}

static void test_unknown_request(void)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__Reply *reply;
	uint8_t buf[64];
	size_t len;
	int sock = raw_connect_hello(d.sock);

	reply = raw_call(sock, &req, 5, NULL); /* no body at all */
	ok(reply && reply->seq == 5 && reply->status == CONTIG__STATUS__UNSUPPORTED &&
		   reply->message && *reply->message,
	   "request_without_a_body_gets_unsupported_with_a_reason");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(still_usable(sock, 6), "connection_stays_open_after_a_request_without_a_body");

	/* A newer client's request type: a body field this daemon does not know. */
	req.seq = 7;
	len = raw_pack(&req, buf, sizeof(buf));
	buf[len++] = 9 << 3 | 2;
	buf[len++] = 2;
	buf[len++] = 1 << 3; /* inside: field 1 = 1 */
	buf[len++] = 1;
	raw_send_bytes(sock, buf, len, 0);
	reply = raw_recv(sock, NULL);
	ok(reply && reply->seq == 7 && reply->status == CONTIG__STATUS__UNSUPPORTED,
	   "request_of_an_unknown_type_gets_unsupported");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(still_usable(sock, 8), "connection_stays_open_after_an_unknown_request_type");
	close(sock);
	good_client_unaffected("unknown_requests");
}

/* Send @nmax copies of @req without ever reading, calling on the good
 * client whenever the socket is full and every 16 sends. Returns true if
 * the daemon closed the connection. */
static bool flood(Contig__Request *req, int nmax, int *ret_nsent, int *ret_ngood, int *ret_nbad)
{
	uint8_t buf[CONTIG_MAX_REQUEST_LEN];
	int sock = raw_connect_hello(d.sock), nsent = 0, ngood = 0, nbad = 0;
	bool closed = false;
	size_t len;

	while (nsent < nmax && !closed) {
		struct contig_stats st;
		int r;

		req->seq = (uint64_t)nsent + 2;
		len = raw_pack(req, buf, sizeof(buf));
		r = raw_send_bytes(sock, buf, len, MSG_DONTWAIT);
		if (r == 0)
			nsent++;
		else if (r != -EAGAIN)
			closed = true;
		if (r == -EAGAIN || (r == 0 && nsent % 16 == 0)) {
			if (contig_get_stats(good, &st) == 0)
				ngood++;
			else
				nbad++;
		}
		if (r == -EAGAIN) {
			struct pollfd p = { .fd = sock, .events = POLLOUT };

			poll(&p, 1, 1000); /* room, or the hang-up */
		}
	}
	/* Not closed yet: reading now shows whether the daemon gave up on us
	 * (the replies it queued, then EOF) or not (silence). */
	if (!closed)
		closed = raw_closed_after(sock, CONTIG__STATUS__OK);
	close(sock);
	*ret_nsent = nsent;
	*ret_ngood = ngood;
	*ret_nbad = nbad;
	return closed;
}

static void test_flood(void)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	int nsent, ngood, nbad;
	bool closed;

	raw_stats_req(&req, &st);
	closed = flood(&req, 10000, &nsent, &ngood, &nbad);
	diag("  stats flood: %d requests sent, %d good calls meanwhile", nsent, ngood);
	ok(closed, "daemon_disconnects_a_client_that_never_reads_its_replies");
	ok(ngood > 0 && nbad == 0, "good_client_is_served_during_a_stats_flood");
	expect_only_good_left("flooding_client_is_gone");
	good_client_unaffected("a_stats_flood");

	/* Replies that carry frame descriptors, and buffers to recycle. */
	a.len = 4096;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	closed = flood(&req, 10000, &nsent, &ngood, &nbad);
	diag("  alloc flood: %d requests sent, %d good calls meanwhile", nsent, ngood);
	ok(closed, "daemon_disconnects_a_client_that_never_reads_its_alloc_replies");
	ok(ngood > 0 && nbad == 0, "good_client_is_served_during_an_alloc_flood");
	expect_only_good_left("alloc_flooding_clients_frames_all_come_back");
	good_client_unaffected("an_alloc_flood");
}

#define NCROWD 200
#define PER_USER 64 /* max_connections_per_user's default; the good client is one */

/* 200 connections from one user: the daemon admits up to the per-user
 * limit, refuses the rest saying which limit, and serves everyone else. */
static void test_crowd(void)
{
	static int socks[NCROWD];
	static bool admitted[NCROWD];
	struct contig_stats st;
	int nhello = 0, nrefused = 0, nalloc = 0, ntried = 0;

	for (int i = 0; i < NCROWD; i++)
		socks[i] = raw_connect(d.sock);
	for (int i = 0; i < NCROWD; i++) {
		Contig__Request req = CONTIG__REQUEST__INIT;
		Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;

		hello.version = CONTIG_PROTOCOL_VERSION;
		req.body_case = CONTIG__REQUEST__BODY_HELLO;
		req.hello = &hello;
		req.seq = 1;
		(void)raw_send(socks[i], &req); /* a refused one may be closed already */
	}
	for (int i = 0; i < NCROWD; i++) {
		Contig__Reply *reply = raw_recv(socks[i], NULL);

		admitted[i] = reply && reply->status == CONTIG__STATUS__OK;
		nhello += admitted[i];
		nrefused += reply && reply->status == CONTIG__STATUS__QUOTA_EXCEEDED &&
			    reply->message && strstr(reply->message, "max_connections_per_user");
		if (reply)
			contig__reply__free_unpacked(reply, NULL);
	}
	is_u64(nhello, PER_USER - 1, "one_user_gets_max_connections_per_user_connections");
	is_u64(nrefused, NCROWD - (PER_USER - 1),
	       "connections_past_the_per_user_limit_are_refused_naming_it");
	ok(contig_get_stats(good, &st) == 0 && st.nsessions == PER_USER,
	   "daemon_counts_only_the_admitted_sessions");
	/* A few of them take a frame each before they all go. */
	for (int i = 0; i < NCROWD && ntried < 5; i++) {
		Contig__Request req = CONTIG__REQUEST__INIT;
		Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
		Contig__Reply *reply;

		if (!admitted[i])
			continue;
		ntried++;
		a.len = 4096;
		req.body_case = CONTIG__REQUEST__BODY_ALLOC;
		req.alloc = &a;
		reply = raw_call(socks[i], &req, 2, NULL);
		nalloc += reply && reply->status == CONTIG__STATUS__OK;
		if (reply)
			contig__reply__free_unpacked(reply, NULL);
	}
	is_u64(nalloc, 5, "some_of_the_crowd_allocate");
	for (int i = 0; i < NCROWD; i++)
		close(socks[i]);
	expect_only_good_left("all_crowd_sessions_end_and_their_frames_come_back");
	good_client_unaffected("200_simultaneous_connections");
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:16M", NULL };
	struct contig_alloc_req req;
	struct contig_stats st;
	int nfds_before, nfds_after;

	signal(SIGPIPE, SIG_IGN);
	harness_daemon_start(&d, args);
	alarm(getenv("CONTIGD_VALGRIND") ? 600 : 60); /* a wedged daemon fails, not hangs, the test */
	good = harness_connect(&d);
	contig_alloc_req_init(&req, 64 * 1024);
	if (contig_alloc(good, &req, &held) < 0)
		bail_out("good client alloc: %s", contig_last_message());
	pattern_fill(held.virt, held.len, HELD_SEED);
	if (contig_get_stats(good, &st) < 0 || st.pools[0].total_len != POOL_LEN)
		bail_out("expected one 16 MiB pool");
	nfds_before = count_daemon_fds();

	test_garbage();
	test_truncated();
	test_oversized();
	test_before_hello();
	test_wrong_version();
	test_descriptors();
	test_empty_datagram();
	test_impossible_allocs();
	test_unknown_request();
	test_flood();
	test_crowd();

	expect_only_good_left("only_the_good_client_is_left_at_the_end");
	nfds_after = count_daemon_fds();
	if (!ok(nfds_before > 0 && nfds_after == nfds_before, "daemon_leaks_no_descriptors"))
		diag("  %d descriptors before, %d after", nfds_before, nfds_after);
	ok(pattern_holds(held.virt, held.len, HELD_SEED), "good_clients_buffer_intact_at_the_end");
	ok(contig_free(good, held.virt) == 0, "good_client_frees_its_buffer_at_the_end");
	contig_disconnect(good);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly_after_all_that");
	return done_testing();
}
