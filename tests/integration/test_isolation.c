/* test_isolation.c - clients cannot reach each other's memory (DESIGN.md,
 * "Invariants" 2-4, and "recycling"): a buffer id means nothing in another
 * session; memory comes to its next owner zeroed; everything a client held
 * returns to the pool when it frees, disconnects or is killed; a mapping or
 * descriptor kept after the free gives SIGBUS or an empty file, never the
 * next owner's bytes; truncating one's own frame file hurts only oneself;
 * a frame descriptor gets no hugepages beyond the frame.
 *
 * Clients are child processes, on libcontig or, where they must misbehave
 * in ways libcontig never would, on the raw protocol (raw.h). The parent
 * watches the daemon through a client of its own that holds nothing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define FRAME (2 * MiB)
#define POOL_LEN (32 * MiB)
#define MAX_BUFS 64

static struct harness_daemon d;
static struct contig_client *watcher; /* the parent's view; holds nothing */

/* ---- helpers ---- */

/* Nothing owned, nothing being recycled, @arg (uint32_t) sessions. */
static bool settled(const struct contig_stats *st, void *arg)
{
	const struct contig_pool_stats *p = &st->pools[0];

	return p->nframes_owned == 0 && p->nframes_recycling == 0 &&
	       st->nsessions == *(const uint32_t *)arg;
}

/* At least @arg (uint64_t) frames recycled, none still recycling. */
static bool recycled_at_least(const struct contig_stats *st, void *arg)
{
	return st->nrecycled >= *(const uint64_t *)arg && st->pools[0].nframes_recycling == 0;
}

static struct contig_stats stats_now(void)
{
	struct contig_stats st;

	if (contig_get_stats(watcher, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st;
}

/* The pool back to all free with only the watcher connected, and whole. */
static void expect_pool_whole(const char *name)
{
	uint32_t one = 1;
	struct contig_stats st;
	bool done = harness_wait_stats(watcher, settled, &one);

	st = stats_now();
	if (!ok(done && st.pools[0].free_len == POOL_LEN && st.pools[0].total_len == POOL_LEN &&
			st.nframes_lost == 0,
		"%s", name))
		diag("  free_len %llu total_len %llu owned %u recycling %u sessions %u lost %llu",
		     (unsigned long long)st.pools[0].free_len,
		     (unsigned long long)st.pools[0].total_len, st.pools[0].nframes_owned,
		     st.pools[0].nframes_recycling, st.nsessions,
		     (unsigned long long)st.nframes_lost);
}

/* Allocate 2 MiB buffers until the pool says no. Returns how many. */
static size_t alloc_frames(struct contig_client *c, struct contig_buffer *bufs, size_t max)
{
	struct contig_alloc_req req;
	size_t n = 0;

	contig_alloc_req_init(&req, FRAME);
	while (n < max && contig_alloc(c, &req, &bufs[n]) == 0)
		n++;
	return n;
}

static bool free_all(struct contig_client *c, struct contig_buffer *bufs, size_t n)
{
	bool all = true;

	for (size_t i = 0; i < n; i++)
		all &= contig_free(c, bufs[i].virt) == 0;
	return all;
}

static uint64_t nonzero_bytes(const void *virt, uint64_t len)
{
	const uint64_t *w = virt;
	uint64_t n = 0;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i])
			for (int b = 0; b < 8; b++)
				n += ((w[i] >> (8 * b)) & 0xff) != 0;
	return n;
}

static sigjmp_buf bus_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_env, 1);
}

/* Read the byte at @p. Returns true if that raised SIGBUS; else stores the
 * byte in *ret_byte. */
static bool read_faults(const volatile uint8_t *p, uint8_t *ret_byte)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile bool faulted = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_env, 1) == 0)
		*ret_byte = *p;
	else
		faulted = true;
	sigaction(SIGBUS, &old, NULL);
	return faulted;
}

/* ---- a buffer id is meaningless in another session ---- */

struct foreign_ids {
	uint64_t id[2];
	uint64_t len[2];
};

struct foreign_report {
	int status[2];      /* free of A's ids */
	int checked_status; /* the checked free of A's first id, with its len and type */
	uint32_t nforged_found; /* forged ids that did not get NOT_FOUND */
	int stats_ok;
	uint32_t my_nbuffers, my_nframes, pool_nbuffers;
};

static int child_free_foreign(int fd, void *arg)
{
	struct foreign_report rep = { 0 };
	struct foreign_ids ids;
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__FreeRequest f = CONTIG__FREE_REQUEST__INIT;
	Contig__Reply *st;
	uint64_t seq = 2;
	int sock;

	(void)arg;
	harness_recv(fd, &ids, sizeof(ids));
	sock = raw_connect_hello(d.sock);
	for (int i = 0; i < 2; i++)
		rep.status[i] = raw_free(sock, seq++, ids.id[i]);
	f.buffer_id = ids.id[0];
	f.has_len = f.has_cache_type = 1;
	f.len = ids.len[0];
	f.cache_type = CONTIG_CACHED;
	req.body_case = CONTIG__REQUEST__BODY_FREE;
	req.free = &f;
	rep.checked_status = raw_status(sock, &req, seq++);
	/* Ids are (generation << 32 | slot + 1): try the first slots of the
	 * first generations, where A's ids are. */
	for (uint64_t gen = 0; gen < 4; gen++)
		for (uint64_t slot = 0; slot <= 64; slot++)
			if (raw_free(sock, seq++, gen << 32 | slot) != CONTIG__STATUS__NOT_FOUND)
				rep.nforged_found++;
	st = raw_stats(sock, seq++);
	if (st) {
		rep.stats_ok = 1;
		rep.my_nbuffers = st->stats->my_nbuffers;
		rep.my_nframes = st->stats->my_nframes;
		rep.pool_nbuffers = st->stats->n_pools ? st->stats->pools[0]->nbuffers : 0;
		contig__reply__free_unpacked(st, NULL);
	}
	harness_send(fd, &rep, sizeof(rep));
	close(sock);
	return 0;
}

static void test_foreign_free(void)
{
	struct contig_client *a = harness_connect(&d);
	struct contig_alloc_req req;
	struct contig_buffer b[2];
	struct foreign_ids ids;
	struct foreign_report rep;
	struct harness_child ch;
	struct contig_stats st;
	uint64_t lens[2] = { FRAME, 4096 };

	for (int i = 0; i < 2; i++) {
		contig_alloc_req_init(&req, lens[i]);
		if (contig_alloc(a, &req, &b[i]) < 0)
			bail_out("alloc %llu: %s", (unsigned long long)lens[i],
				 contig_last_message());
		pattern_fill(b[i].virt, b[i].len, 0xa0 + (uint64_t)i);
		ids.id[i] = b[i].id;
		ids.len[i] = lens[i];
	}
	/* (The 4 KiB one may be a fast-path buffer: reported now, so that
	 * the foreign client's stats see it and its free meets a live id.) */
	if (contig_flush(a) < 0)
		bail_out("flush: %s", contig_last_message());
	harness_child_start(&ch, child_free_foreign, NULL);
	harness_send(ch.fd, &ids, sizeof(ids));
	harness_recv(ch.fd, &rep, sizeof(rep));
	ok(harness_child_wait(&ch) == 0, "foreign_client_runs_to_the_end");

	if (!ok(rep.status[0] == CONTIG__STATUS__NOT_FOUND &&
			rep.status[1] == CONTIG__STATUS__NOT_FOUND,
		"free_of_another_clients_buffer_id_is_not_found"))
		diag("  statuses %d %d", rep.status[0], rep.status[1]);
	if (!ok(rep.checked_status == CONTIG__STATUS__NOT_FOUND,
		"checked_free_of_another_clients_buffer_id_is_not_found"))
		diag("  status %d", rep.checked_status);
	ok(rep.nforged_found == 0, "no_forged_buffer_id_frees_anything_in_a_session_without_buffers");
	if (!ok(rep.stats_ok && rep.my_nbuffers == 0 && rep.my_nframes == 0,
		"stats_do_not_show_a_client_another_clients_buffers"))
		diag("  my_nbuffers %u my_nframes %u", rep.my_nbuffers, rep.my_nframes);
	is_u64(rep.pool_nbuffers, 2, "pool_totals_count_every_clients_buffers");

	ok(pattern_holds(b[0].virt, b[0].len, 0xa0) && pattern_holds(b[1].virt, b[1].len, 0xa1),
	   "buffer_keeps_its_data_after_another_client_tried_to_free_it");
	ok(contig_get_stats(a, &st) == 0 && st.my_nbuffers == 2,
	   "owner_still_holds_its_buffers_after_a_foreign_free");
	pattern_fill(b[0].virt, b[0].len, 0xb0);
	ok(pattern_holds(b[0].virt, b[0].len, 0xb0), "owner_can_still_write_and_read_its_buffer");
	ok(contig_free(a, b[0].virt) == 0 && contig_free(a, b[1].virt) == 0,
	   "owner_can_still_free_its_buffers");
	contig_disconnect(a);
	expect_pool_whole("pool_whole_after_the_owner_freed");
}

/* ---- memory comes to its next owner zeroed ---- */

enum leave { LEAVE_FREE, LEAVE_EXIT };

struct fill_report {
	uint64_t len;               /* bytes taken */
	uint32_t nframes;
	uint32_t nfree_failed;
	uint32_t nrecycling;        /* frames still recycling right after the frees */
	uint64_t phys[MAX_BUFS];    /* every frame taken */
};

/* Take the whole pool (the largest buffer the pool can give, then 2 MiB
 * ones), write a pattern everywhere, then free it all, the large buffer
 * last so that its frames are still being recycled as the next client
 * asks (or leave holding it), report, and exit when told to. */
static int child_fill_pool(int fd, void *arg)
{
	enum leave how = *(enum leave *)arg;
	static struct contig_buffer bufs[MAX_BUFS];
	struct fill_report rep = { 0 };
	struct contig_alloc_req req;
	struct contig_client *c;
	struct contig_stats st;
	size_t n = 0;
	char go;

	if (contig_connect(NULL, &c) < 0 || contig_get_stats(c, &st) < 0)
		return 1;
	contig_alloc_req_init(&req, st.pools[0].largest_free_len);
	if (contig_alloc(c, &req, &bufs[0]) == 0)
		n = 1;
	n += alloc_frames(c, bufs + n, MAX_BUFS - n);
	for (size_t i = 0; i < n; i++) {
		pattern_fill(bufs[i].virt, bufs[i].len, 0x5a00 + i);
		rep.len += bufs[i].len;
		for (uint64_t off = 0; off < bufs[i].len && rep.nframes < MAX_BUFS; off += FRAME)
			rep.phys[rep.nframes++] = bufs[i].phys + off;
	}
	if (how == LEAVE_FREE) {
		for (size_t i = n; i-- > 0;)
			rep.nfree_failed += contig_free(c, bufs[i].virt) != 0;
		if (contig_get_stats(c, &st) == 0)
			rep.nrecycling = st.pools[0].nframes_recycling;
	}
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	return 0; /* LEAVE_EXIT: the buffers go with the process */
}

static void test_next_owner_reads_zeros(enum leave how)
{
	const char *what = how == LEAVE_FREE ? "freed_it" : "exited_holding_it";
	static struct contig_buffer bufs[MAX_BUFS];
	struct contig_client *b = harness_connect(&d); /* ready to ask at once */
	struct fill_report rep;
	struct harness_child ch;
	uint64_t nonzero = 0, same = 0;
	size_t n;
	char go = 1;

	harness_child_start(&ch, child_fill_pool, &how);
	harness_recv(ch.fd, &rep, sizeof(rep));
	is_u64(rep.len, POOL_LEN, "a_client_can_take_the_whole_pool");
	if (how == LEAVE_FREE) {
		is_u64(rep.nfree_failed, 0, "the_client_frees_every_buffer");
		diag("  %u frames still recycling right after the last free reply",
		     rep.nrecycling);
	} else {
		uint32_t two = 2; /* the watcher and b */

		harness_send(ch.fd, &go, 1);
		ok(harness_child_wait(&ch) == 0, "the_client_exits_holding_the_whole_pool");
		/* The daemon learns of the exit asynchronously. */
		ok(harness_wait_stats(watcher, settled, &two),
		   "daemon_notices_the_exit_and_recycles_everything");
	}
	/* After a free reply the frames may still be recycling: the daemon
	 * makes this allocation wait for them rather than fail. */
	n = alloc_frames(b, bufs, MAX_BUFS);
	if (!ok(n * FRAME == rep.len,
		"next_client_gets_the_whole_pool_right_after_the_owner_%s", what))
		diag("  got %zu of %u frames: %s", n, rep.nframes, contig_last_message());
	for (size_t i = 0; i < n; i++) {
		nonzero += nonzero_bytes(bufs[i].virt, bufs[i].len);
		for (uint32_t j = 0; j < rep.nframes; j++)
			same += bufs[i].phys == rep.phys[j];
	}
	diag("  %llu of %zu frames are on the same physical pages as before",
	     (unsigned long long)same, n);
	if (!ok(nonzero == 0, "memory_reads_as_zeros_to_the_next_client_after_the_owner_%s", what))
		diag("  %llu nonzero bytes", (unsigned long long)nonzero);
	ok(free_all(b, bufs, n), "next_client_frees_the_whole_pool");
	contig_disconnect(b);
	if (how == LEAVE_FREE) {
		harness_send(ch.fd, &go, 1);
		ok(harness_child_wait(&ch) == 0, "the_client_exits_cleanly");
	}
	expect_pool_whole("pool_whole_after_both_clients_left");
}

/* ---- a killed client's memory all comes back ---- */

struct hold_report {
	uint32_t nbuffers;
	uint32_t nframes;
	int err;
};

/* The buffer over four frames first: the pool's free frames are taken
 * first fit by address, so smaller buffers taken before it could split the
 * only run of four that the parent saw (largest_free_len) and leave it no
 * room. */
static int child_hold(int fd, void *arg)
{
	bool multi = *(bool *)arg;
	uint64_t lens[] = { 3 * FRAME + 4096, 4096, 100 * 1024, FRAME };
	struct hold_report rep = { 0 };
	struct contig_client *c;
	struct contig_stats st;
	char never;

	if (contig_connect(NULL, &c) < 0)
		return 1;
	for (size_t i = multi ? 0 : 1; i < sizeof(lens) / sizeof(lens[0]) && !rep.err; i++) {
		struct contig_alloc_req req;
		struct contig_buffer b;

		contig_alloc_req_init(&req, lens[i]);
		rep.err = contig_alloc(c, &req, &b);
		if (rep.err == 0) {
			memset(b.virt, 0xee, b.len);
			rep.nbuffers++;
		}
	}
	if (!rep.err)
		rep.err = contig_get_stats(c, &st);
	if (!rep.err)
		rep.nframes = st.my_nframes;
	harness_send(fd, &rep, sizeof(rep));
	harness_try_recv(fd, &never, 1); /* SIGKILLed here */
	return 2;
}

static void test_sigkill_returns_everything(void)
{
	struct contig_stats before = stats_now(), held, after;
	bool multi = before.pools[0].largest_free_len >= 4 * FRAME;
	struct hold_report rep;
	struct harness_child ch;
	uint32_t one = 1;

	if (!multi)
		diag("  no 4 free adjacent frames: no multi-frame buffer this time");
	harness_child_start(&ch, child_hold, &multi);
	harness_recv(ch.fd, &rep, sizeof(rep));
	/* Four frames for the long buffer (the small ones pack into the end of
	 * its last), one for the 2 MiB one; without it, one for the small ones. */
	if (!ok(rep.err == 0 && rep.nbuffers == (multi ? 4u : 3u) &&
			rep.nframes >= (multi ? 5u : 2u),
		"killed_client_held_buffers_first"))
		diag("  err %d, %u buffers, %u frames", rep.err, rep.nbuffers, rep.nframes);
	held = stats_now();
	is_u64(held.pools[0].nframes_owned, rep.nframes, "pool_counts_the_frames_it_holds");
	kill(ch.pid, SIGKILL);
	is_u64(harness_child_wait(&ch), 128 + SIGKILL, "client_dies_of_sigkill");
	ok(harness_wait_stats(watcher, settled, &one), "killed_clients_frames_all_come_back");
	after = stats_now();
	is_u64(after.pools[0].free_len, after.pools[0].total_len, "pool_all_free_after_the_kill");
	is_u64(after.pools[0].total_len, POOL_LEN, "no_frame_lost_to_the_kill");
	is_u64(after.pools[0].nbuffers, 0, "killed_clients_buffers_are_gone");
	is_u64(after.pools[0].nclients, 0, "killed_client_no_longer_counts_as_a_pool_client");
	is_u64(after.nrecycled - before.nrecycled, rep.nframes,
	       "every_frame_of_the_killed_client_was_recycled");
}

/* ---- a mapping or descriptor kept after the free shows nothing ---- */

struct keep_report {
	int fd_ok;       /* got exactly one frame descriptor */
	int free_status;
	/* after the frame was recycled and handed to the next owner: */
	int map_faulted;
	uint8_t map_byte;
	int64_t fd_size;
	int remap_failed, remap_faulted;
	uint8_t remap_byte;
	int regrow_rc, regrow_faulted;
	uint64_t regrow_nonzero;
};

static int child_keep_mapping(int fd, void *arg)
{
	struct keep_report rep = { 0 };
	uint64_t id = 0;
	uint8_t *map, *remap;
	struct stat sb;
	int sock, frame;
	char go;

	(void)arg;
	sock = raw_connect_hello(d.sock);
	frame = raw_alloc_fd(sock, 2, FRAME, &id);
	rep.fd_ok = frame >= 0;
	if (frame < 0) {
		harness_send(fd, &rep, sizeof(rep));
		return 1;
	}
	map = mmap(NULL, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED, frame, 0);
	if (map == MAP_FAILED) {
		rep.fd_ok = 0;
		harness_send(fd, &rep, sizeof(rep));
		return 1;
	}
	memset(map, 0xc3, FRAME);
	rep.free_status = raw_free(sock, 3, id);
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);

	rep.map_faulted = read_faults(map + FRAME / 2, &rep.map_byte);
	rep.fd_size = fstat(frame, &sb) == 0 ? (int64_t)sb.st_size : -1;
	remap = mmap(NULL, FRAME, PROT_READ, MAP_SHARED, frame, 0);
	rep.remap_failed = remap == MAP_FAILED;
	if (remap != MAP_FAILED)
		rep.remap_faulted = read_faults(remap, &rep.remap_byte);
	/* Growing the empty file back gives it a fresh page, if any. */
	rep.regrow_rc = ftruncate(frame, FRAME) < 0 ? -errno : 0;
	if (rep.regrow_rc == 0) {
		uint8_t byte;
		uint8_t *m = mmap(NULL, FRAME, PROT_READ, MAP_SHARED, frame, 0);

		if (m == MAP_FAILED)
			rep.regrow_rc = -errno;
		else if (!(rep.regrow_faulted = read_faults(m, &byte)))
			rep.regrow_nonzero = nonzero_bytes(m, FRAME);
	}
	harness_send(fd, &rep, sizeof(rep));
	close(sock);
	return 0;
}

static void test_kept_mapping_faults(void)
{
	static struct contig_buffer bufs[MAX_BUFS];
	uint64_t want = stats_now().nrecycled + 1;
	struct keep_report rep;
	struct harness_child ch;
	struct contig_client *b;
	bool intact = true;
	size_t n;
	char go = 1;

	harness_child_start(&ch, child_keep_mapping, NULL);
	harness_recv(ch.fd, &rep, sizeof(rep));
	ok(rep.fd_ok, "raw_client_maps_its_frame_descriptor");
	is_u64(rep.free_status, CONTIG__STATUS__OK, "raw_client_frees_its_buffer");
	ok(harness_wait_stats(watcher, recycled_at_least, &want), "freed_frame_is_recycled");

	/* The next owner takes every frame, so the freed one too. */
	b = harness_connect(&d);
	n = alloc_frames(b, bufs, MAX_BUFS);
	is_u64(n, POOL_LEN / FRAME, "next_owner_takes_the_whole_pool");
	for (size_t i = 0; i < n; i++)
		memset(bufs[i].virt, 0xbb, bufs[i].len);
	harness_send(ch.fd, &go, 1);
	harness_recv(ch.fd, &rep, sizeof(rep));
	ok(harness_child_wait(&ch) == 0, "raw_client_survives_its_probes");

	if (!ok(rep.map_faulted, "mapping_kept_after_free_gets_sigbus_not_the_next_owners_data"))
		diag("  read 0x%02x", rep.map_byte);
	if (!ok(rep.fd_size == 0, "descriptor_kept_after_free_names_an_empty_file"))
		diag("  size %lld", (long long)rep.fd_size);
	if (!ok(rep.remap_failed || rep.remap_faulted,
		"remapping_a_kept_descriptor_fails_or_gets_sigbus"))
		diag("  read 0x%02x", rep.remap_byte);
	if (!ok(rep.regrow_rc < 0 || rep.regrow_faulted || rep.regrow_nonzero == 0,
		"regrowing_a_kept_file_never_shows_the_next_owners_data"))
		diag("  %llu nonzero bytes", (unsigned long long)rep.regrow_nonzero);
	diag("  regrow: rc %d, faulted %d", rep.regrow_rc, rep.regrow_faulted);
	for (size_t i = 0; i < n; i++)
		for (uint64_t off = 0; off < bufs[i].len; off += 4096)
			intact &= ((uint8_t *)bufs[i].virt)[off] == 0xbb;
	ok(intact, "next_owners_data_untouched_by_the_previous_owner");
	ok(free_all(b, bufs, n), "next_owner_frees_the_whole_pool");
	contig_disconnect(b);
	expect_pool_whole("pool_whole_after_the_kept_mapping_test");
}

/* ---- truncating one's own frame file hurts only oneself ---- */

struct trunc_report {
	int fd_ok;
	int trunc_rc;
	int faulted;
	int free_status;
};

static int child_truncate(int fd, void *arg)
{
	enum leave how = *(enum leave *)arg;
	struct trunc_report rep = { 0 };
	uint64_t id = 0;
	uint8_t *map, byte;
	int sock, frame;
	char go;

	sock = raw_connect_hello(d.sock);
	frame = raw_alloc_fd(sock, 2, FRAME, &id);
	map = frame < 0 ? MAP_FAILED
			: mmap(NULL, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED, frame, 0);
	rep.fd_ok = map != MAP_FAILED;
	if (rep.fd_ok) {
		memset(map, 0x77, FRAME);
		rep.trunc_rc = ftruncate(frame, 0) < 0 ? -errno : 0;
		rep.faulted = read_faults(map, &byte);
	}
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	if (how == LEAVE_FREE) {
		rep.free_status = raw_free(sock, 3, id);
		harness_send(fd, &rep, sizeof(rep));
	}
	return 0; /* LEAVE_EXIT: the daemon sees the connection close */
}

static void test_truncated_frame(enum leave how)
{
	const char *what = how == LEAVE_FREE ? "freed" : "exited";
	static struct contig_buffer bufs[MAX_BUFS];
	uint64_t recycled_before = stats_now().nrecycled, nonzero = 0;
	struct contig_alloc_req req;
	struct contig_buffer other;
	struct trunc_report rep;
	struct harness_child ch;
	struct contig_client *b;
	struct contig_stats st;
	size_t n;
	char go = 1;

	harness_child_start(&ch, child_truncate, &how);
	harness_recv(ch.fd, &rep, sizeof(rep));
	ok(rep.fd_ok, "raw_client_maps_its_frame_descriptor");
	if (!ok(rep.trunc_rc == 0 && rep.faulted,
		"client_that_truncates_its_frame_file_faults_on_its_own_mapping"))
		diag("  ftruncate %d, faulted %d", rep.trunc_rc, rep.faulted);

	/* Everyone else carries on. */
	b = harness_connect(&d);
	contig_alloc_req_init(&req, FRAME);
	ok(contig_alloc(b, &req, &other) == 0, "others_can_allocate_while_a_frame_is_truncated");
	pattern_fill(other.virt, other.len, 0x42);
	ok(pattern_holds(other.virt, other.len, 0x42) && contig_free(b, other.virt) == 0 &&
		   contig_get_stats(b, &st) == 0 && st.pools[0].total_len == POOL_LEN,
	   "others_can_use_free_and_see_stats_while_a_frame_is_truncated");

	harness_send(ch.fd, &go, 1);
	if (how == LEAVE_FREE) {
		harness_recv(ch.fd, &rep, sizeof(rep));
		is_u64(rep.free_status, CONTIG__STATUS__OK, "free_of_a_truncated_frame_succeeds");
	}
	ok(harness_child_wait(&ch) == 0, "truncating_client_exits_cleanly");
	contig_disconnect(b);
	expect_pool_whole(how == LEAVE_FREE ? "truncated_frame_returns_to_the_pool_when_freed"
					    : "truncated_frame_returns_to_the_pool_when_its_owner_exits");
	ok(stats_now().nrecycled >= recycled_before + 2, "truncated_frame_was_recycled");

	b = harness_connect(&d);
	n = alloc_frames(b, bufs, MAX_BUFS);
	for (size_t i = 0; i < n; i++)
		nonzero += nonzero_bytes(bufs[i].virt, bufs[i].len);
	if (!ok(n == POOL_LEN / FRAME && nonzero == 0,
		"truncated_frame_can_be_allocated_again_and_reads_zeros_after_its_owner_%s", what))
		diag("  %zu frames, %llu nonzero bytes", n, (unsigned long long)nonzero);
	ok(free_all(b, bufs, n), "whole_pool_freed_again");
	contig_disconnect(b);
	expect_pool_whole("pool_whole_after_the_truncation_test");
}

/* ---- a frame descriptor is no licence to more hugepages ---- */

struct grow_report {
	int fd_ok;
	uint32_t owned_extra; /* pages faulted beyond the frame while owning it */
	int free_status;
	uint32_t kept_extra;  /* pages faulted into the kept file after recycling */
};

/* Grow @fd to @n frames and fault in every one past the first @skip;
 * returns how many the kernel gave. */
static uint32_t grow_and_fault(int fd, uint32_t n, uint32_t skip)
{
	uint32_t got = 0;
	uint8_t *m, byte;

	if (ftruncate(fd, (off_t)(n * FRAME)) < 0)
		return 0;
	m = mmap(NULL, n * FRAME, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (m == MAP_FAILED)
		return 0;
	for (uint32_t i = skip; i < n; i++)
		got += !read_faults(m + (size_t)i * FRAME, &byte);
	return got; /* the mapping stays until exit */
}

static int child_grow(int fd, void *arg)
{
	struct grow_report rep = { 0 };
	uint64_t id = 0;
	int sock, frame;
	char go;

	(void)arg;
	sock = raw_connect_hello(d.sock);
	frame = raw_alloc_fd(sock, 2, FRAME, &id);
	rep.fd_ok = frame >= 0;
	if (frame >= 0)
		rep.owned_extra = grow_and_fault(frame, 4, 1);
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	rep.free_status = raw_free(sock, 3, id);
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1); /* the frame has been recycled */
	if (frame >= 0)
		rep.kept_extra = grow_and_fault(frame, 4, 0);
	harness_send(fd, &rep, sizeof(rep));
	harness_recv(fd, &go, 1);
	return 0;
}

static void test_frame_file_growth(void)
{
	uint64_t sys_before = harness_free_hugepages(FRAME), sys_owned, sys_kept;
	uint64_t want = stats_now().nrecycled + 1;
	struct grow_report rep;
	struct harness_child ch;
	char go = 1;

	harness_child_start(&ch, child_grow, NULL);
	harness_recv(ch.fd, &rep, sizeof(rep));
	sys_owned = harness_free_hugepages(FRAME);
	ok(rep.fd_ok, "raw_client_gets_its_frame_descriptor");
	if (!ok(rep.owned_extra == 0,
		"client_cannot_grow_its_frame_file_into_hugepages_outside_the_pool"))
		diag("  faulted %u extra 2 MiB pages from the kernel", rep.owned_extra);
	harness_send(ch.fd, &go, 1);
	harness_recv(ch.fd, &rep, sizeof(rep));
	is_u64(rep.free_status, CONTIG__STATUS__OK, "raw_client_frees_its_grown_frame");
	ok(harness_wait_stats(watcher, recycled_at_least, &want), "grown_frame_is_recycled");
	/* System-wide counts are shared with anything else on the host:
	 * shown, not asserted. */
	diag("  system free hugepages: %llu before, %llu while grown, %llu after recycling",
	     (unsigned long long)sys_before, (unsigned long long)sys_owned,
	     (unsigned long long)harness_free_hugepages(FRAME));
	harness_send(ch.fd, &go, 1);
	harness_recv(ch.fd, &rep, sizeof(rep));
	sys_kept = harness_free_hugepages(FRAME);
	if (!ok(rep.kept_extra == 0,
		"descriptor_kept_after_recycling_cannot_take_hugepages_outside_the_pool"))
		diag("  faulted %u 2 MiB pages into the unlinked file (system free hugepages "
		     "%llu -> %llu)",
		     rep.kept_extra, (unsigned long long)sys_before, (unsigned long long)sys_kept);
	harness_send(ch.fd, &go, 1);
	ok(harness_child_wait(&ch) == 0, "growing_client_exits_cleanly");
	expect_pool_whole("pool_whole_after_the_growth_test");
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:32M", NULL };
	struct contig_stats st;

	signal(SIGPIPE, SIG_IGN);
	harness_daemon_start(&d, args);
	alarm(getenv("CONTIGD_VALGRIND") ? 600 : 60); /* a wedged daemon fails, not hangs, the test */
	watcher = harness_connect(&d);
	st = stats_now();
	if (st.npools != 1 || st.pools[0].total_len != POOL_LEN || st.pools[0].page_len != FRAME)
		bail_out("expected one 32 MiB pool of 2 MiB pages");

	test_foreign_free();
	test_next_owner_reads_zeros(LEAVE_FREE);
	test_next_owner_reads_zeros(LEAVE_EXIT);
	test_sigkill_returns_everything();
	test_kept_mapping_faults();
	test_truncated_frame(LEAVE_FREE);
	test_truncated_frame(LEAVE_EXIT);
	test_frame_file_growth();

	contig_disconnect(watcher);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
