/* test_fastpath.c - the client's fast path (issue 22 part 1): small
 * buffers cut from warm frames without a round trip keep every promise.
 *
 * A real daemon (a 64 MiB pool of 2 MiB frames, session_grace = 4 s),
 * clients on libcontig with the fast path turned on
 * (contig_set_fast_path()), and the test's own reading of
 * /proc/self/pagemap for every fast-path buffer: physically contiguous
 * where the library says, inside the window, aligned, not crossing the
 * boundary, no two overlapping, virt->phys and buffer_of true inside it.
 * Then: alloc/free/alloc of one 4 KiB buffer recycles no frame and costs
 * no round trip after the first; the zeroing flag; the per-request and
 * per-client switches; a client killed holding warm frames gives the pool
 * everything back; a restart (kill -9, as test_restart) with fast-path
 * buffers live keeps them where they were, with their bytes; a forked
 * child starts with an empty fast path and cannot free its parent's
 * buffers; 8 threads at once; and a quota the fast path cannot get round.
 * Reports: the daemon lists every fast-path buffer (contigctl buffers,
 * clients, tags; contig_list_buffers() of another connection) at the
 * address pagemap gives, after contig_flush() and, polled, without it;
 * transients are counted; max_buffers_per_connection holds exactly; a
 * SIGTERM and a kill -9 restart list the same buffers (those not reported
 * at the crash sent again); a daemon that takes no reports, restarted
 * in their place, serves small buffers by round trip while the fast
 * path's stay found and are freed; and the frees are taken once a daemon
 * takes reports again.
 *
 * No sleeps as synchronisation: stats polled until a predicate holds
 * (harness_wait_stats), socketpairs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define FRAME (2 * MiB)
#define POOL "0:2M:64M"
#define NLIVE 200

static char conf_path[] = "/tmp/contigd-fastpath.conf.XXXXXX";
static const char conf_text[] = "session_grace = 4s\n";

/* A fast-path buffer's id has bit 31 set; the daemon's never does. */
static bool is_fast(uint64_t id)
{
	return (id & UINT64_C(0x80000000)) != 0;
}

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		bail_out("writing %s", conf_path);
}

static struct contig_client *fast_client(const struct harness_daemon *d)
{
	struct contig_client *c = harness_connect(d);

	if (contig_set_fast_path(c, 1) < 0)
		bail_out("contig_set_fast_path: %s", contig_last_message());
	return c;
}

/* Requests this client sent the daemon so far (every one: allocations,
 * warm frames, reports), what it had not reported sent first. */
static uint64_t round_trips(struct contig_client *c)
{
	struct contig_fast_stats fs;

	if (contig_flush(c) < 0 || contig_get_fast_stats(c, &fs) < 0)
		bail_out("contig_flush: %s", contig_last_message());
	return fs.nrequests;
}

static uint64_t nrecycled(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0)
		bail_out("contig_get_stats: %s", contig_last_message());
	return st.nrecycled;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->pools[0].free_len == st->pools[0].total_len && st->pools[0].nframes_recycling == 0;
}

static uint64_t rnd(uint64_t n)
{
	return (uint64_t)random() % n;
}

/* Does @b, asked for with @req, keep every promise, per this process's
 * pagemap? Says what is wrong with diag(). */
static bool buffer_true(struct contig_client *c, const struct contig_alloc_req *req,
			const struct contig_buffer *b)
{
	struct contig_buffer of;
	uint64_t phys, off = b->len ? rnd(b->len) : 0;

	if (!harness_phys_contiguous(getpid(), b->virt, b->len, b->phys))
		return diag("buffer at %p: not where pagemap says", b->virt), false;
	if (b->phys < req->lowest_phys || b->phys + b->len - 1 > req->highest_phys)
		return diag("buffer at 0x%llx: outside the window", (unsigned long long)b->phys),
		       false;
	if (req->align && b->phys % req->align)
		return diag("buffer at 0x%llx: not aligned", (unsigned long long)b->phys), false;
	if (req->boundary && b->phys / req->boundary != (b->phys + b->len - 1) / req->boundary)
		return diag("buffer at 0x%llx: crosses the boundary", (unsigned long long)b->phys),
		       false;
	if (b->len != harness_round_page(req->len) || b->req_len != req->len ||
	    b->cache_type != req->cache_type || b->tag != req->tag ||
	    b->user_data != req->user_data || (req->node >= 0 && b->node != req->node))
		return diag("buffer at %p: fields differ from the request", b->virt), false;
	if (contig_virt_to_phys(c, (uint8_t *)b->virt + off, &phys) < 0 || phys != b->phys + off)
		return diag("buffer at %p: virt_to_phys wrong", b->virt), false;
	if (contig_buffer_of(c, (uint8_t *)b->virt + off, &of) < 0 || of.virt != b->virt ||
	    of.phys != b->phys || of.len != b->len || of.id != b->id)
		return diag("buffer at %p: buffer_of wrong", b->virt), false;
	return true;
}

static int cmp_phys(const void *a, const void *b)
{
	const struct contig_buffer *x = a, *y = b;

	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* Random small requests with every constraint, NLIVE live at once. */
static void test_constraints(const struct harness_daemon *d)
{
	struct contig_client *c = fast_client(d);
	static struct contig_buffer bufs[NLIVE];
	struct contig_alloc_req req;
	struct contig_buffer first;
	uint64_t rt0, rt, lo, nreports0;
	size_t bad = 0, overlaps = 0, nrefused = 0;

	contig_alloc_req_init(&req, 4096);
	if (contig_alloc(c, &req, &first) < 0)
		bail_out("first alloc: %s", contig_last_message());
	lo = first.phys & ~(uint64_t)(FRAME - 1); /* a warm frame's: windows around it */
	rt0 = round_trips(c);
	{
		struct contig_fast_stats fs;

		contig_get_fast_stats(c, &fs);
		nreports0 = fs.nreports;
	}
	for (size_t i = 0; i < NLIVE; i++) {
		contig_alloc_req_init(&req, 1 + rnd(64 * 1024));
		req.tag = 0x74736166; /* "fast" */
		req.user_data = i;
		req.cache_type = (int)rnd(2); /* two kinds of warm frame */
		if (rnd(3) == 0)
			req.align = HARNESS_PAGE << rnd(5);
		if (rnd(3) == 0)
			req.boundary = harness_pow2_ceil(harness_round_page(req.len)) << rnd(3);
		if (rnd(4) == 0)
			req.lowest_phys = lo + rnd(FRAME / 2);
		if (rnd(4) == 0)
			req.highest_phys = lo + FRAME - 1 + rnd(4 * FRAME);
		if (contig_alloc(c, &req, &bufs[i]) < 0) {
			/* Only where the daemon cannot either (a window too
			 * narrow for what is left). */
			if (contig_alloc_flags(c, &req, CONTIG_ALLOC_ROUND_TRIP, &bufs[i]) == 0) {
				diag("request %zu: refused by the fast path only", i);
				bad++;
			} else {
				nrefused++;
			}
			i--;
			continue;
		}
		if (!buffer_true(c, &req, &bufs[i]))
			bad++;
		memset(bufs[i].virt, (int)i, bufs[i].len);
	}
	rt = round_trips(c) - rt0;
	{
		struct contig_fast_stats fs;

		/* (Not the reports; nor, per request refused, its warm frame's
		 * refusal and its own.) */
		contig_get_fast_stats(c, &fs);
		rt -= fs.nreports - nreports0;
		rt -= 2 * nrefused < rt ? 2 * nrefused : rt;
	}
	ok(bad == 0, "every_fast_path_buffer_keeps_every_constraint_per_pagemap");
	diag("%zu requests refused by the daemon too (windows too narrow)", nrefused);
	qsort(bufs, NLIVE, sizeof(bufs[0]), cmp_phys);
	for (size_t i = 1; i < NLIVE; i++)
		if (bufs[i - 1].phys + bufs[i - 1].len > bufs[i].phys)
			overlaps++;
	ok(overlaps == 0, "no_two_fast_path_buffers_overlap");
	if (!ok(rt <= NLIVE / 10, "few_round_trips_for_%d_small_allocations", NLIVE))
		diag("  %llu round trips", (unsigned long long)rt);
	bad = 0;
	for (size_t i = 0; i < NLIVE; i++) {
		const uint8_t *p = bufs[i].virt;

		for (size_t k = 0; k < bufs[i].len; k += 512)
			if (p[k] != (uint8_t)bufs[i].user_data)
				bad++;
	}
	ok(bad == 0, "each_buffer_keeps_its_own_bytes");
	{
		void *virts[NLIVE];

		for (size_t i = 0; i < NLIVE; i++)
			virts[i] = bufs[i].virt;
		if (!ok(contig_free_many(c, virts, NLIVE) == 0, "free_many_frees_fast_path_buffers"))
			diag("  %s", contig_last_message());
		ok(contig_free(c, virts[0]) == -ENOENT, "a_freed_fast_path_buffer_is_not_found");
	}
	ok(contig_free(c, first.virt) == 0, "free_frees_a_fast_path_buffer");
	contig_disconnect(c);
}

/* alloc/free/alloc of one 4 KiB buffer with nothing else live. */
static void test_no_recycling(const struct harness_daemon *d)
{
	struct contig_client *c = fast_client(d);
	struct contig_alloc_req req;
	struct contig_buffer b;
	uint64_t rec0, rt0, rt;
	size_t bad = 0;

	contig_alloc_req_init(&req, 4096);
	harness_wait_stats(c, all_free, NULL); /* (the last client's frames recycled) */
	{
		/* A new client's first small buffer costs one request, its warm
		 * frame: the hello said the buffer-count limits already. */
		struct contig_fast_stats f0, f1;

		if (contig_get_fast_stats(c, &f0) < 0 || contig_alloc(c, &req, &b) < 0 ||
		    contig_get_fast_stats(c, &f1) < 0 || contig_free(c, b.virt) < 0)
			bail_out("first alloc: %s", contig_last_message());
		/* (The reporter thread may report it meanwhile: those aside.) */
		uint64_t n = (f1.nrequests - f1.nbackground) - (f0.nrequests - f0.nbackground);

		if (!ok(n == 1, "a_new_clients_first_small_buffer_costs_one_request"))
			diag("  %llu requests", (unsigned long long)n);
	}
	rec0 = nrecycled(c);
	rt0 = round_trips(c);
	for (int i = 0; i < 1000; i++)
		if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0)
			bad++;
	rt = round_trips(c) - rt0;
	ok(bad == 0, "alloc_free_4k_1000_times");
	if (!ok(rt <= 10, "at_most_10_round_trips_per_1000_alloc_free_pairs"))
		diag("  %llu round trips", (unsigned long long)rt);
	is_u64(nrecycled(c) - rec0, 0, "alloc_free_alloc_recycles_no_frame");

	/* A buffer cut where a freed one was is another buffer. */
	{
		struct contig_buffer again;

		if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0 ||
		    contig_alloc(c, &req, &again) < 0)
			bail_out("alloc: %s", contig_last_message());
		ok(again.virt != b.virt || again.id != b.id,
		   "a_buffer_cut_where_a_freed_one_was_has_an_id_of_its_own");
		ok(contig_sync_for_device(c, &b, 0, 4096) == -ENOENT &&
			   contig_sync_for_device(c, &again, 0, 4096) == 0,
		   "a_freed_fast_path_buffers_struct_is_refused_by_the_sync_calls");
		contig_free(c, again.virt);
	}

	/* Zeroing: the reused bytes stay unless asked. */
	if (contig_alloc(c, &req, &b) < 0)
		bail_out("alloc: %s", contig_last_message());
	memset(b.virt, 0xee, b.len);
	contig_free(c, b.virt);
	ok(contig_alloc_flags(c, &req, CONTIG_ALLOC_ZERO, &b) == 0 &&
		   ((uint8_t *)b.virt)[0] == 0 && ((uint8_t *)b.virt)[b.len - 1] == 0,
	   "alloc_zero_flag_zeroes_reused_bytes");
	contig_free(c, b.virt);
	ok(contig_alloc_flags(c, &req, 0x80, &b) == -EINVAL, "unknown_alloc_flags_are_refused");
	{
		struct contig_alloc_req malformed = req;

		malformed.align = 3;
		ok(contig_alloc(c, &malformed, &b) == -EINVAL && strstr(contig_last_message(), "align"),
		   "a_malformed_request_is_refused_by_the_daemon_as_without_the_fast_path");
	}

	/* The switches. */
	rt0 = round_trips(c);
	ok(contig_alloc_flags(c, &req, CONTIG_ALLOC_ROUND_TRIP, &b) == 0 &&
		   contig_free(c, b.virt) == 0,
	   "round_trip_flag_allocates");
	is_u64(round_trips(c) - rt0, 2, "round_trip_flag_takes_the_round_trip");
	contig_set_fast_path(c, 0);
	rt0 = round_trips(c);
	ok(contig_alloc(c, &req, &b) == 0 && contig_free(c, b.virt) == 0, "fast_path_off_allocates");
	is_u64(round_trips(c) - rt0, 2, "fast_path_off_takes_the_round_trip");
	contig_disconnect(c);
}

/* A client killed holding fast-path buffers and warm frames. */
static int child_hold(int fd, void *arg)
{
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	char go = 1;

	(void)arg;
	if (contig_connect(NULL, &c) < 0 || contig_set_fast_path(c, 1) < 0)
		return 1;
	for (int i = 0; i < 50; i++) {
		contig_alloc_req_init(&req, 4096u << (i % 5));
		req.cache_type = i % 3;
		if (contig_alloc(c, &req, &b) < 0)
			return 2;
		if (i % 2)
			contig_free(c, b.virt); /* some warm frames empty */
		if (i == 29 && contig_flush(c) < 0) /* the first 30 reported */
			return 3;
	}
	/* (The last 20 most likely not reported yet: killed within 10 ms.) */
	harness_send(fd, &go, 1);
	for (;;)
		pause();
}

static void test_death(const struct harness_daemon *d, struct contig_client *watch)
{
	struct harness_child ch;
	char go;

	harness_child_start(&ch, child_hold, NULL);
	harness_recv(ch.fd, &go, 1);
	kill(ch.pid, SIGKILL);
	harness_child_wait(&ch);
	ok(harness_wait_stats(watch, all_free, NULL),
	   "client_killed_holding_warm_frames_loses_nothing");
	(void)d;
}

/* fork(): the child's fast path starts empty. */
static void test_fork(const struct harness_daemon *d)
{
	struct contig_client *c = fast_client(d);
	struct contig_alloc_req req;
	struct contig_buffer b;
	int fds[2], status;
	pid_t pid;

	contig_alloc_req_init(&req, 8192);
	if (contig_alloc(c, &req, &b) < 0)
		bail_out("alloc: %s", contig_last_message());
	memset(b.virt, 0x5a, b.len);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		bail_out("socketpair");
	pid = fork();
	if (pid == 0) {
		struct contig_buffer mine, of;
		uint64_t phys;
		int r = 0;

		if (contig_free(c, b.virt) != -EPERM)
			r |= 1;
		if (contig_virt_to_phys(c, (uint8_t *)b.virt + 4096, &phys) < 0 ||
		    phys != b.phys + 4096 || contig_buffer_of(c, b.virt, &of) < 0 ||
		    of.len != b.len)
			r |= 2;
		if (contig_alloc(c, &req, &mine) < 0)
			r |= 4;
		else if (mine.phys / FRAME == b.phys / FRAME || !harness_phys_contiguous(
			getpid(), mine.virt, mine.len, mine.phys))
			r |= 8; /* a warm frame of the parent's */
		else if (contig_free(c, mine.virt) < 0)
			r |= 16;
		contig_disconnect(c);
		_exit(r);
	}
	close(fds[1]);
	waitpid(pid, &status, 0);
	if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"forked_child_starts_with_an_empty_fast_path_and_cannot_free_the_parents"))
		diag("  child status 0x%x", status);
	ok(((uint8_t *)b.virt)[0] == 0x5a && contig_free(c, b.virt) == 0,
	   "parent_keeps_and_frees_its_fast_path_buffer_after_the_fork");
	close(fds[0]);
	contig_disconnect(c);
}

/* 8 threads. */
struct thread_arg {
	struct contig_client *c;
	int id;
	size_t bad;
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;
	struct contig_buffer live[16] = { 0 };
	unsigned seed = (unsigned)t->id;

	for (int i = 0; i < 3000; i++) {
		struct contig_buffer *b = &live[rand_r(&seed) % 16];
		struct contig_alloc_req req;
		uint64_t phys;

		if (b->virt) {
			if (((uint8_t *)b->virt)[b->len - 1] != (uint8_t)t->id ||
			    contig_virt_to_phys(t->c, b->virt, &phys) < 0 || phys != b->phys ||
			    contig_free(t->c, b->virt) < 0)
				t->bad++;
			b->virt = NULL;
			continue;
		}
		contig_alloc_req_init(&req, 4096u << (rand_r(&seed) % 5));
		if (contig_alloc(t->c, &req, b) < 0) {
			t->bad++;
			b->virt = NULL;
			continue;
		}
		memset(b->virt, t->id, b->len);
	}
	for (int i = 0; i < 16; i++)
		if (live[i].virt && contig_free(t->c, live[i].virt) < 0)
			t->bad++;
	return NULL;
}

static void test_threads(const struct harness_daemon *d)
{
	struct contig_client *c = fast_client(d);
	struct thread_arg args[8];
	pthread_t th[8];
	size_t bad = 0;

	for (int i = 0; i < 8; i++) {
		args[i] = (struct thread_arg){ .c = c, .id = i + 1 };
		pthread_create(&th[i], NULL, thread_main, &args[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		bad += args[i].bad;
	}
	ok(bad == 0, "eight_threads_allocate_and_free_at_once");
	contig_disconnect(c);
}


static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This client's buffers as the daemon lists them, sorted by id; returns
 * how many (at most @max), or -1. */
static int listed(struct contig_client *c, struct contig_buffer_info *ret, int max)
{
	struct contig_buffer_info *bufs;
	size_t n;
	int k = 0;

	if (contig_list_buffers(c, &bufs, &n) < 0) {
		diag("  contig_list_buffers: %s", contig_last_message());
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (bufs[i].pid == getpid() && k < max)
			ret[k++] = bufs[i];
	free(bufs);
	qsort(ret, (size_t)k, sizeof(*ret), harness_cmp_u64); /* (id first) */
	return k;
}

static int cmp_buf_id(const void *a, const void *b)
{
	const struct contig_buffer *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Does the daemon list exactly @bufs[0..n) (by id, phys, len, tag), at the
 * physical address this process's pagemap gives? */
static bool listed_as(struct contig_client *c, struct contig_buffer *bufs, int n)
{
	struct contig_buffer_info got[128];
	int k = listed(c, got, 128);

	qsort(bufs, (size_t)n, sizeof(*bufs), cmp_buf_id);
	if (k != n)
		return diag("  %d listed, %d held", k, n), false;
	for (int i = 0; i < n; i++)
		if (got[i].id != bufs[i].id || got[i].phys != bufs[i].phys ||
		    got[i].len != bufs[i].len || got[i].tag != bufs[i].tag ||
		    harness_phys_of(getpid(), bufs[i].virt) != got[i].phys)
			return diag("  buffer %d (id 0x%llx) listed otherwise", i,
				    (unsigned long long)bufs[i].id),
			       false;
	return true;
}

/* Does the JSON object text @obj have @kv ("key": number) whole? */
static bool has_kv(const char *obj, const char *kv)
{
	const char *p = strstr(obj, kv);

	return p && (p[strlen(kv)] < '0' || p[strlen(kv)] > '9');
}

/* `contigctl buffers --json`: how many objects of pid @pid, with @key's
 * value @value (-1: any). */
static int ctl_count(const struct harness_daemon *d, const char *cmd, long long pid,
		     const char *key, long long value)
{
	const char *const args[] = { "--socket", d->sock, cmd, "--json", NULL };
	char err[256], *out, pidpat[32], pat[64];
	int n = 0, status = harness_run_program("contigctl", 0, args, &out, err, sizeof(err));

	if (status != 0) {
		diag("contigctl %s: %d: %s", cmd, status, err);
		free(out);
		return -1;
	}
	snprintf(pidpat, sizeof(pidpat), "\"pid\": %lld", pid);
	snprintf(pat, sizeof(pat), "\"%s\": %lld", key, value);
	for (char *p = strchr(out, '{'); p && (p = strchr(p + 1, '{'));) {
		char *end = strchr(p, '}');

		if (!end)
			break;
		*end = '\0';
		if ((pid < 0 || has_kv(p, pidpat)) && (value < 0 || has_kv(p, pat)))
			n++;
		p = end;
	}
	free(out);
	return n;
}

struct tag_want {
	uint32_t tag, nbuffers;
	uint64_t nallocs;
};

static bool tag_is(const struct contig_stats *st, void *arg)
{
	const struct tag_want *w = arg;

	for (uint32_t i = 0; i < st->ntags; i++)
		if (st->tags[i].tag == w->tag)
			return st->tags[i].nbuffers == w->nbuffers && st->tags[i].nallocs >= w->nallocs;
	return false;
}

static bool tag_is_now(struct contig_client *watch, struct tag_want *w)
{
	struct contig_stats st;

	return contig_get_stats(watch, &st) == 0 && tag_is(&st, w);
}

#define TAG_REP 0x74537046u /* "FpSt" */
#define TAG_TRANS 0x72547046u /* "FpTr" */

/* The daemon sees fast-path buffers: after contig_flush() at once, without
 * it within the reporting bound (polled by another connection, whose own
 * calls flush nothing of this one). */
static void test_reports(const struct harness_daemon *d, struct contig_client *watch)
{
	struct contig_client *c = fast_client(d);
	struct contig_buffer bufs[40];
	struct contig_alloc_req req;
	struct contig_fast_stats fs;
	struct tag_want want = { .tag = TAG_REP };
	uint64_t t0;
	int n = 30;

	for (int i = 0; i < n; i++) {
		contig_alloc_req_init(&req, 4096u * (1 + (unsigned)i % 16) - (i % 3) * 100);
		req.tag = TAG_REP;
		if (contig_alloc(c, &req, &bufs[i]) < 0)
			bail_out("alloc: %s", contig_last_message());
	}
	if (contig_flush(c) < 0 || contig_get_fast_stats(c, &fs) < 0 || fs.nreports == 0) {
		for (int i = 0; i < 11; i++)
			ok(true, "# skip the daemon does not take fast-path reports (no accepts_carves)");
		contig_disconnect(c);
		return;
	}
	ok(listed_as(watch, bufs, n), "flushed_fast_path_buffers_are_listed_at_their_pagemap_address");
	is_u64((uint64_t)ctl_count(d, "buffers", getpid(), "tag_value", TAG_REP), n,
	       "contigctl_buffers_lists_every_fast_path_buffer");
	is_u64((uint64_t)ctl_count(d, "buffers", getpid(), "len", 2 * MiB), 0,
	       "contigctl_buffers_lists_no_warm_frame");
	is_u64((uint64_t)ctl_count(d, "clients", getpid(), "nbuffers", n), 1,
	       "contigctl_clients_counts_fast_path_buffers");
	want.nbuffers = (uint32_t)n;
	want.nallocs = (uint64_t)n;
	ok(tag_is_now(watch, &want), "tags_count_fast_path_buffers");

	/* Without a flush: the reporter thread tells the daemon. */
	for (int i = n; i < n + 5; i++) {
		contig_alloc_req_init(&req, 4096);
		req.tag = TAG_REP;
		if (contig_alloc(c, &req, &bufs[i]) < 0)
			bail_out("alloc: %s", contig_last_message());
	}
	n += 5;
	contig_free(c, bufs[0].virt);
	bufs[0] = bufs[--n];
	t0 = now_ns();
	want.nbuffers = (uint32_t)n;
	ok(harness_wait_stats(watch, tag_is, &want), "unflushed_fast_path_buffers_are_listed_soon");
	diag("  listed %.1f ms after the last allocation (bound: 10 ms and scheduling)",
	     (double)(now_ns() - t0) / 1e6);
	ok(listed_as(watch, bufs, n), "unflushed_ones_at_their_pagemap_address_too");

	/* Allocated and freed within one report: counted, never listed. */
	want = (struct tag_want){ .tag = TAG_TRANS, .nbuffers = 0, .nallocs = 100 };
	for (int i = 0; i < 100; i++) {
		struct contig_buffer b;

		contig_alloc_req_init(&req, 8192);
		req.tag = TAG_TRANS;
		if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0)
			bail_out("alloc/free: %s", contig_last_message());
	}
	ok(contig_flush(c) == 0 && tag_is_now(watch, &want),
	   "transient_buffers_are_counted_in_their_tag");
	for (int i = 0; i < n; i++)
		contig_free(c, bufs[i].virt);
	ok(contig_flush(c) == 0 && listed_as(watch, bufs, 0), "freed_fast_path_buffers_leave_the_list");
	contig_disconnect(c);
}

/* max_buffers_per_connection = 40: CarveReply.buffers_left keeps the fast
 * path to it. */
static void test_buffer_quota(void)
{
	static const char *const args[] = { "--config", conf_path, "--pool", POOL, NULL };
	static const char quota_text[] = "max_buffers_per_connection = 40\n";
	struct contig_buffer bufs[64];
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_stats st;
	int got = 0, r;
	FILE *f = fopen(conf_path, "w");

	if (!f || fputs(quota_text, f) < 0 || fclose(f) != 0)
		bail_out("writing %s", conf_path);
	harness_daemon_start(&d, args);
	c = fast_client(&d);
	contig_alloc_req_init(&req, 4096);
	while (got < 64 && (r = contig_alloc(c, &req, &bufs[got])) == 0)
		got++;
	ok(r == -EDQUOT, "fast_path_client_hits_its_buffer_quota");
	is_u64((uint64_t)got, 40, "fast_path_buffers_stop_at_max_buffers_per_connection");
	ok(contig_get_stats(c, &st) == 0 && st.my_nbuffers == (uint32_t)got,
	   "the_daemon_counts_every_one");
	ok(contig_free(c, bufs[0].virt) == 0 && contig_alloc(c, &req, &bufs[0]) == 0 &&
		   contig_alloc(c, &req, &bufs[got]) == -EDQUOT,
	   "a_free_makes_room_for_one_more_and_no_more");
	contig_disconnect(c);
	harness_daemon_stop(&d);
}

/* kill -9 and a restart with fast-path buffers live. */
static void test_restart(struct harness_daemon *d, const char *const *args)
{
	struct contig_client *c = fast_client(d);
	struct contig_client *watch;
	struct contig_buffer bufs[25];
	struct contig_alloc_req req;
	size_t bad = 0;

	for (int i = 0; i < 20; i++) {
		contig_alloc_req_init(&req, 4096u * (1 + (unsigned)i));
		if (contig_alloc(c, &req, &bufs[i]) < 0)
			bail_out("alloc: %s", contig_last_message());
		memset(bufs[i].virt, 0x30 + i, bufs[i].len);
	}
	ok(contig_flush(c) == 0 && listed_as(c, bufs, 20), "listed_before_the_restart");
	if (harness_daemon_kill(d, SIGTERM) != 0)
		diag("  SIGTERM: not a clean exit");
	harness_daemon_restart(d, args);
	watch = harness_connect(d);
	/* The next call reconnects and reclaims the session. */
	{
		struct contig_stats st;

		ok(contig_get_stats(c, &st) == 0 && st.my_nbuffers == 20,
		   "client_reclaims_its_session_after_the_restart");
	}
	ok(listed_as(watch, bufs, 20), "the_same_buffers_are_listed_after_a_sigterm_restart");
	contig_disconnect(watch);
	/* Five more not reported when the daemon dies: sent again after. */
	for (int i = 20; i < 25; i++) {
		contig_alloc_req_init(&req, 4096);
		if (contig_alloc(c, &req, &bufs[i]) < 0)
			bail_out("alloc: %s", contig_last_message());
		memset(bufs[i].virt, 0x30 + i, bufs[i].len);
	}
	harness_daemon_kill(d, SIGKILL);
	harness_daemon_restart(d, args);
	ok(contig_flush(c) == 0 && listed_as(c, bufs, 25),
	   "after_kill_9_the_listing_is_the_clients_with_the_unreported_ones_resent");
	for (int i = 0; i < 25; i++) {
		uint64_t phys;

		if (!harness_phys_contiguous(getpid(), bufs[i].virt, bufs[i].len, bufs[i].phys) ||
		    contig_virt_to_phys(c, bufs[i].virt, &phys) < 0 || phys != bufs[i].phys ||
		    ((uint8_t *)bufs[i].virt)[bufs[i].len - 1] != 0x30 + i)
			bad++;
	}
	ok(bad == 0, "fast_path_buffers_survive_a_restart_in_place_with_their_bytes");

	/* Back comes a daemon that takes no reports (max_request_len below
	 * a report's 4096 bytes; an older daemon says the same): new small
	 * buffers are round trips, and what was cut stays found and is
	 * freed. */
	write_conf("session_grace = 4s\nmax_request_len = 1024\n");
	if (harness_daemon_kill(d, SIGTERM) != 0)
		diag("  SIGTERM: not a clean exit");
	harness_daemon_restart(d, args);
	{
		struct contig_buffer rt, of;

		contig_alloc_req_init(&req, 4096);
		ok(contig_alloc(c, &req, &rt) == 0 && !is_fast(rt.id) && contig_free(c, rt.virt) == 0,
		   "a_daemon_that_takes_no_reports_gets_a_round_trip_per_small_buffer");
		bad = 0;
		for (int i = 0; i < 25; i++) {
			uint64_t phys = 0;

			if (contig_virt_to_phys(c, (uint8_t *)bufs[i].virt + bufs[i].len - 1, &phys) < 0 ||
			    phys != bufs[i].phys + bufs[i].len - 1 ||
			    contig_buffer_of(c, bufs[i].virt, &of) < 0 || of.id != bufs[i].id)
				bad++;
		}
		if (!ok(bad == 0, "fast_path_buffers_are_found_while_the_daemon_takes_no_reports"))
			diag("  %zu of 25 not: %s", bad, contig_last_message());
	}
	bad = 0;
	for (int i = 0; i < 25; i++)
		if (contig_free(c, bufs[i].virt) < 0)
			bad++;
	ok(bad == 0, "fast_path_buffers_are_freed_while_the_daemon_takes_no_reports");
	/* And a daemon that takes them again hears of the frees. */
	write_conf(conf_text);
	if (harness_daemon_kill(d, SIGTERM) != 0)
		diag("  SIGTERM: not a clean exit");
	harness_daemon_restart(d, args);
	ok(contig_flush(c) == 0 && listed_as(c, bufs, 0),
	   "fast_path_frees_after_the_restarts_are_accepted");
	contig_disconnect(c);
}

/* max_bytes_per_connection = 8M: the fast path cannot get round it. */
static void test_quota(void)
{
	static const char *const args[] = { "--config", conf_path, "--pool", POOL, NULL };
	static const char quota_text[] = "max_bytes_per_connection = 8M\n";
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	struct contig_stats st;
	uint64_t got = 0;
	int r;
	FILE *f = fopen(conf_path, "w");

	if (!f || fputs(quota_text, f) < 0 || fclose(f) != 0)
		bail_out("writing %s", conf_path);
	harness_daemon_start(&d, args);
	c = fast_client(&d);
	contig_alloc_req_init(&req, 64 * 1024);
	while ((r = contig_alloc(c, &req, &b)) == 0 && got < 64 * MiB)
		got += b.len;
	ok(r == -EDQUOT, "fast_path_client_hits_its_quota");
	if (!ok(got <= 8 * MiB, "fast_path_buffers_stay_within_the_byte_quota"))
		diag("  %llu bytes", (unsigned long long)got);
	ok(contig_get_stats(c, &st) == 0 && st.my_len <= 8 * MiB, "daemon_charges_at_most_the_quota");
	contig_disconnect(c);
	harness_daemon_stop(&d);
}

int main(void)
{
	static const char *const args[] = { "--config", conf_path, "--pool", POOL, NULL };
	struct harness_daemon d;
	struct contig_client *watch;
	int fd = mkstemp(conf_path);

	if (fd < 0 || write(fd, conf_text, strlen(conf_text)) != (ssize_t)strlen(conf_text))
		bail_out("writing %s", conf_path);
	close(fd);
	srandom(22);
	harness_daemon_start(&d, args);
	watch = harness_connect(&d);
	test_constraints(&d);
	test_reports(&d, watch);
	test_no_recycling(&d);
	test_death(&d, watch);
	test_fork(&d);
	test_threads(&d);
	ok(harness_wait_stats(watch, all_free, NULL), "every_frame_returns_to_the_pool");
	contig_disconnect(watch);
	test_restart(&d, args);
	watch = harness_connect(&d);
	ok(harness_wait_stats(watch, all_free, NULL), "every_frame_returns_after_the_restart");
	contig_disconnect(watch);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	test_quota();
	test_buffer_quota();
	unlink(conf_path);
	return done_testing();
}
