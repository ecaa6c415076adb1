/* test_mapping.c - libcontig maps a frame once and lends it to every buffer
 * in it, unmaps each frame with its last buffer, never lends a frame the
 * daemon may have recycled; and the pipelined *_many calls.
 *
 * Every address is checked in this process's pagemap, not taken from the
 * library: a buffer lent a stale mapping would show another page there (or
 * none), or die of SIGBUS on the write each check makes.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define PAGE 4096u

static pid_t self;

/* Writable, and where the library says per pagemap. */
static bool good(const struct contig_buffer *b, uint8_t fill)
{
	memset(b->virt, fill, b->len);
	return harness_phys_contiguous(self, b->virt, b->len, b->phys) &&
	       ((uint8_t *)b->virt)[b->len - 1] == fill;
}

/* Is anything mapped at [@p, @p + @len)? mincore() fails with ENOMEM on a
 * range that is not (entirely) mapped. */
static bool mapped(const void *p, size_t len)
{
	unsigned char vec[1024];
	uintptr_t start = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);

	return len / PAGE < sizeof(vec) && mincore((void *)start, len, vec) == 0;
}

static bool no_recycling(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->pools[0].nframes_recycling == 0;
}

static uint32_t my_nbuffers(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st.my_nbuffers;
}

static uint64_t largest_free(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st.pools[0].largest_free_len;
}

/* Small buffers of one frame share its mapping: the frame's layout in
 * physical memory is its layout in virtual memory. */
static void test_small_buffers_share_a_frame(struct contig_client *c)
{
	struct contig_alloc_req req;
	struct contig_buffer a, b;

	contig_alloc_req_init(&req, PAGE);
	if (contig_alloc(c, &req, &a) < 0 || contig_alloc(c, &req, &b) < 0)
		bail_out("alloc: %s", contig_last_message());
	ok(good(&a, 0x11) && good(&b, 0x22), "two_small_buffers_are_where_the_library_says");
	ok((a.phys & ~(a.page_len - 1)) == (b.phys & ~(b.page_len - 1)) &&
	   (uint8_t *)b.virt - (uint8_t *)a.virt == (intptr_t)(b.phys - a.phys),
	   "two_small_buffers_of_one_frame_share_its_mapping");
	ok(contig_free(c, a.virt) == 0, "free_of_the_first_succeeds");
	ok(((uint8_t *)b.virt)[0] == 0x22 && good(&b, 0x33),
	   "the_second_is_intact_and_usable_after_the_first_is_freed");
	ok(contig_free(c, b.virt) == 0, "free_of_the_second_succeeds");
	ok(!mapped(b.virt, PAGE), "the_frame_is_unmapped_with_its_last_buffer");
}

/* A buffer over two frames, then a small one in the second: freeing the
 * first leaves the first frame unheld, so its part of the mapping goes, and
 * nothing later is placed in it even when the daemon hands the same
 * physical page back after recycling. */
static void test_unheld_frame_is_never_lent(struct contig_client *c, uint64_t page_len)
{
	struct contig_alloc_req req;
	struct contig_buffer big, small, *all;
	size_t n = 0, cap = 4096;
	bool same_page_back = false, all_good = true;

	if (largest_free(c) < 2 * page_len) {
		ok(true, "a_buffer_over_two_frames # SKIP no two adjacent frames free in this run");
		return;
	}
	/* Two frames, all but the last 2 pages: the small one lands there. */
	contig_alloc_req_init(&req, 2 * page_len - 2 * PAGE);
	if (contig_alloc(c, &req, &big) < 0)
		bail_out("alloc big: %s", contig_last_message());
	contig_alloc_req_init(&req, PAGE);
	if (contig_alloc(c, &req, &small) < 0)
		bail_out("alloc small: %s", contig_last_message());
	ok(good(&big, 0x44) && good(&small, 0x55) &&
	   small.phys >= big.phys + page_len && small.phys < big.phys + 2 * page_len,
	   "a_small_buffer_lands_in_the_second_frame_of_a_two_frame_buffer");
	if (contig_free(c, big.virt) < 0)
		bail_out("free big: %s", contig_last_message());
	ok(!mapped(big.virt, PAGE) && mapped(small.virt, PAGE) &&
	   ((uint8_t *)small.virt)[0] == 0x55,
	   "freeing_it_unmaps_the_first_frame_and_keeps_the_second");

	/* Take every frame while the small buffer keeps its mapping alive: one
	 * of them is the recycled first frame. */
	if (!harness_wait_stats(c, no_recycling, NULL))
		bail_out("frames still recycling after 30 s");
	all = calloc(cap, sizeof(*all));
	if (!all)
		bail_out("out of memory");
	contig_alloc_req_init(&req, page_len);
	while (n < cap && contig_alloc(c, &req, &all[n]) == 0) {
		if (all[n].phys == big.phys)
			same_page_back = true;
		all_good = all_good && good(&all[n], (uint8_t)n);
		n++;
	}
	ok(n > 0 && all_good, "every_frame_allocated_after_is_where_the_library_says");
	diag("%zu frames taken; the first frame's page %s", n,
	     same_page_back ? "came back at the same physical address" : "did not come back");
	ok(((uint8_t *)small.virt)[0] == 0x55 && good(&small, 0x66),
	   "the_small_buffer_is_intact_throughout");
	for (size_t i = 0; i < n; i++)
		contig_free(c, all[i].virt);
	free(all);
	ok(contig_free(c, small.virt) == 0 && my_nbuffers(c) == 0, "everything_is_freed");
}

static void test_alloc_many(struct contig_client *c)
{
	enum { N = 200 };
	struct contig_alloc_req reqs[N];
	struct contig_buffer bufs[N];
	void *virts[N];
	bool all_good = true, constraints = true;
	int r;

	for (int i = 0; i < N; i++) {
		contig_alloc_req_init(&reqs[i], PAGE * (1 + (uint64_t)(i % 16)));
		if (i % 5 == 0)
			reqs[i].boundary = 16 * PAGE;
		if (i % 7 == 0)
			reqs[i].align = 8 * PAGE;
		reqs[i].tag = 0x6d616e79; /* "many" */
	}
	r = contig_alloc_many(c, reqs, N, bufs);
	if (!ok(r == 0, "alloc_many_of_200_buffers_succeeds"))
		bail_out("alloc_many: %d %s", r, contig_last_message());
	for (int i = 0; i < N; i++) {
		all_good = all_good && bufs[i].len == reqs[i].len && good(&bufs[i], (uint8_t)i);
		if (reqs[i].boundary)
			constraints = constraints && bufs[i].phys / reqs[i].boundary ==
							     (bufs[i].phys + bufs[i].len - 1) /
								     reqs[i].boundary;
		if (reqs[i].align)
			constraints = constraints && bufs[i].phys % reqs[i].align == 0;
		virts[i] = bufs[i].virt;
	}
	ok(all_good, "each_buffer_of_a_batch_is_where_the_library_says");
	ok(constraints, "each_buffer_of_a_batch_honours_its_own_constraints");
	is_u64(my_nbuffers(c), N, "the_daemon_counts_every_buffer_of_the_batch");
	for (int i = 0; i < N; i++)
		all_good = all_good && ((uint8_t *)bufs[i].virt)[bufs[i].len - 1] == (uint8_t)i;
	ok(all_good, "no_buffer_of_a_batch_overlaps_another");
	ok(contig_free_many(c, virts, N) == 0, "free_many_of_the_batch_succeeds");
	is_u64(my_nbuffers(c), 0, "free_many_leaves_nothing_allocated");
}

static void test_alloc_many_is_all_or_nothing(struct contig_client *c)
{
	enum { N = 50 };
	struct contig_alloc_req reqs[N];
	struct contig_buffer bufs[N];
	int r;

	for (int i = 0; i < N; i++)
		contig_alloc_req_init(&reqs[i], PAGE);
	reqs[37].lowest_phys = 1ull << 40; /* above highest_phys below */
	reqs[37].highest_phys = 1ull << 39;
	r = contig_alloc_many(c, reqs, N, bufs);
	ok(r == -EINVAL, "a_batch_with_one_invalid_request_fails_with_its_error");
	ok(strstr(contig_last_message(), "request 37") != NULL,
	   "the_message_names_the_failing_request");
	if (r != -EINVAL)
		diag("  got %d: %s", r, contig_last_message());
	is_u64(my_nbuffers(c), 0, "nothing_of_a_failed_batch_stays_allocated");

	for (int i = 0; i < N; i++)
		contig_alloc_req_init(&reqs[i], PAGE);
	reqs[N - 1].len = 1ull << 50; /* larger than any pool */
	r = contig_alloc_many(c, reqs, N, bufs);
	ok(r == -ENOMEM && strstr(contig_last_message(), "request 49") != NULL,
	   "a_batch_whose_last_request_cannot_be_met_fails_with_enomem_naming_it");
	is_u64(my_nbuffers(c), 0, "nothing_of_that_batch_stays_allocated");
}

static void test_free_many_frees_what_is_live(struct contig_client *c)
{
	enum { N = 40 };
	struct contig_alloc_req reqs[N];
	struct contig_buffer bufs[N];
	void *virts[N + 1];
	int r;

	for (int i = 0; i < N; i++)
		contig_alloc_req_init(&reqs[i], 3 * PAGE);
	if (contig_alloc_many(c, reqs, N, bufs) < 0)
		bail_out("alloc_many: %s", contig_last_message());
	for (int i = 0; i < N; i++)
		virts[i < 10 ? i : i + 1] = bufs[i].virt;
	virts[10] = (uint8_t *)bufs[3].virt + PAGE; /* not the start of a buffer */
	r = contig_free_many(c, virts, N + 1);
	ok(r == -ENOENT && strstr(contig_last_message(), "buffer 10") != NULL,
	   "free_many_with_a_bad_address_reports_enoent_naming_it");
	is_u64(my_nbuffers(c), 0, "free_many_frees_every_live_buffer_despite_it");
	ok(contig_free_many(c, NULL, 0) == 0, "free_many_of_nothing_succeeds");
	ok(contig_alloc_many(c, NULL, 0, NULL) == 0, "alloc_many_of_nothing_succeeds");
}

static void test_busy_poll(struct contig_client *c)
{
	struct contig_alloc_req reqs[64];
	struct contig_buffer bufs[64];
	void *virts[64];
	bool all_good = true;

	ok(contig_set_busy_poll(c, 5000) == 1000, "busy_poll_is_capped_at_1000_us");
	ok(contig_set_busy_poll(c, 50) == 50, "busy_poll_takes_a_smaller_value");
	for (int i = 0; i < 64; i++)
		contig_alloc_req_init(&reqs[i], PAGE);
	for (int round = 0; round < 20; round++) {
		struct contig_buffer b;

		all_good = all_good && contig_alloc(c, &reqs[0], &b) == 0 && good(&b, 7) &&
			   contig_free(c, b.virt) == 0;
	}
	all_good = all_good && contig_alloc_many(c, reqs, 64, bufs) == 0;
	for (int i = 0; all_good && i < 64; i++) {
		all_good = good(&bufs[i], (uint8_t)i);
		virts[i] = bufs[i].virt;
	}
	all_good = all_good && contig_free_many(c, virts, 64) == 0;
	ok(all_good, "allocations_and_frees_work_in_busy_poll_mode");
	contig_set_busy_poll(c, 0);
}

/* One raw allocate of @len: the reply (status OK, body alloc) and its first
 * descriptor in *ret_fd (-1 if none came). Bails out otherwise. */
static Contig__Reply *raw_alloc(int sock, uint64_t seq, uint64_t len, int *ret_fd)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	Contig__Reply *reply;

	a.len = len;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	reply = raw_call(sock, &req, seq, ret_fd);
	if (!reply || reply->status != CONTIG__STATUS__OK ||
	    reply->body_case != CONTIG__REPLY__BODY_ALLOC)
		bail_out("raw allocate of %llu bytes failed", (unsigned long long)len);
	return reply;
}

static bool came_without_fd(Contig__Reply *reply, int fd)
{
	return fd < 0 && reply->alloc->has_frame_held && reply->alloc->frame_held;
}

static bool came_with_fd(Contig__Reply *reply, int fd)
{
	return fd >= 0 && !(reply->alloc->has_frame_held && reply->alloc->frame_held);
}

/* A client that says it keeps held frames mapped (libcontig does) gets a
 * one-frame buffer in a frame it already holds a buffer in without the
 * descriptor; in every other case the descriptors come, and a client that
 * did not say so always gets them. */
static void test_held_frame_comes_without_descriptor(struct contig_client *c, const char *sock_path,
						     uint64_t page_len)
{
	for (int keeps = 1; keeps >= 0; keeps--) {
		Contig__Request req = CONTIG__REQUEST__INIT;
		Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;
		Contig__Reply *first, *second, *multi, *again;
		int sock = raw_connect(sock_path), fd1, fd2, fd3, fd4;
		uint64_t seq = 1;

		hello.version = CONTIG_PROTOCOL_VERSION;
		hello.has_keeps_held_frames_mapped = 1;
		hello.keeps_held_frames_mapped = keeps;
		req.body_case = CONTIG__REQUEST__BODY_HELLO;
		req.hello = &hello;
		if (raw_status(sock, &req, seq++) != CONTIG__STATUS__OK)
			bail_out("hello refused");
		first = raw_alloc(sock, seq++, PAGE, &fd1);
		second = raw_alloc(sock, seq++, PAGE, &fd2);
		ok(came_with_fd(first, fd1), "%s: first_buffer_in_a_fresh_frame_comes_with_its_fd",
		   keeps ? "keeps" : "plain");
		ok(first->alloc->phys / page_len == second->alloc->phys / page_len,
		   "%s: second_small_buffer_packed_into_the_same_frame", keeps ? "keeps" : "plain");
		if (keeps)
			ok(came_without_fd(second, fd2),
			   "keeps: buffer_in_a_held_frame_comes_without_a_descriptor");
		else
			ok(came_with_fd(second, fd2),
			   "plain: client_that_did_not_ask_always_gets_the_descriptor");
		/* Adjacent free frames are not a given: ask the pool first. */
		multi = NULL;
		fd3 = -1;
		if (harness_wait_stats(c, no_recycling, NULL) && largest_free(c) >= 2 * page_len) {
			multi = raw_alloc(sock, seq++, 2 * page_len, &fd3);
			ok(came_with_fd(multi, fd3), "%s: multi_frame_buffer_comes_with_descriptors",
			   keeps ? "keeps" : "plain");
		} else {
			ok(true, "%s: multi_frame_buffer_comes_with_descriptors # SKIP no two adjacent "
				 "frames free in this run", keeps ? "keeps" : "plain");
		}
		/* Free both small ones: the frame leaves the session; the next
		 * small buffer is in a frame not held before it. */
		ok(raw_free(sock, seq++, first->alloc->buffer_id) == CONTIG__STATUS__OK &&
			   raw_free(sock, seq++, second->alloc->buffer_id) == CONTIG__STATUS__OK,
		   "%s: small_buffers_freed", keeps ? "keeps" : "plain");
		again = raw_alloc(sock, seq++, PAGE, &fd4);
		ok(came_with_fd(again, fd4), "%s: buffer_in_a_frame_no_longer_held_comes_with_its_fd",
		   keeps ? "keeps" : "plain");
		int fds[] = { fd1, fd2, fd3, fd4 };

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] >= 0)
				close(fds[i]);
		contig__reply__free_unpacked(first, NULL);
		contig__reply__free_unpacked(second, NULL);
		if (multi)
			contig__reply__free_unpacked(multi, NULL);
		contig__reply__free_unpacked(again, NULL);
		close(sock);
	}
}

int main(void)
{
	char conf[] = "/tmp/contigd-test-mapping.XXXXXX";
	const char *const args[] = { "--config", conf, "--pool", "0:2M:64M", NULL };
	static const char text[] = "socket_group = root\nbusy_poll_us = 50\n";
	struct harness_daemon d;
	struct contig_client *c;
	int fd = mkstemp(conf);

	self = getpid();
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		bail_out("config file: %s", strerror(errno));
	close(fd);
	harness_daemon_start(&d, args);
	unlink(conf);
	c = harness_connect(&d);
	/* The fast path off: this file is about how the library maps the
	 * frames of the buffers the daemon allocates (packed, each frame
	 * unmapped with its last buffer, counted one by one). A fast-path
	 * buffer lives in a warm frame that stays mapped while it is in the
	 * reserve, by design; test_fastpath and test_trim cover those. */
	if (contig_set_fast_path(c, 0) < 0)
		bail_out("contig_set_fast_path: %s", contig_last_message());

	test_small_buffers_share_a_frame(c);
	test_unheld_frame_is_never_lent(c, 2 * MiB);
	test_alloc_many(c);
	test_alloc_many_is_all_or_nothing(c);
	test_free_many_frees_what_is_live(c);
	test_busy_poll(c);
	test_held_frame_comes_without_descriptor(c, d.sock, 2 * MiB);

	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
