/* make_seeds.c - write the seed corpora of the fuzz targets:
 * DIR/request/ for fuzz_request (valid request sequences, in its input
 * format) and DIR/reply/ for fuzz_reply (valid daemon replies).
 *
 * Regenerate with `make fuzz-seeds` (writes tests/fuzz/corpus/), then
 * commit the files; the input formats are described at the top of
 * fuzz_request.c and fuzz_reply.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contig.pb-c.h"
#include "fdpass.h"

#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

/* An input being built. */
struct seed {
	uint8_t data[4096];
	size_t len;
};

static const char *outdir;

static void seed_start(struct seed *s, uint8_t h0, uint8_t h1)
{
	s->data[0] = h0;
	s->data[1] = h1;
	s->len = 2;
}

static void put16(struct seed *s, unsigned v)
{
	if (s->len + 2 > sizeof(s->data)) {
		fprintf(stderr, "make_seeds: seed too long\n");
		exit(1);
	}
	s->data[s->len++] = (uint8_t)v;
	s->data[s->len++] = (uint8_t)(v >> 8);
}

static void write_seed(const char *sub, const char *name, const struct seed *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->data, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "make_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- requests (fuzz_request) ---- */

/* Append request @req as a datagram of client @client. */
static void req_put(struct seed *s, unsigned client, Contig__Request *req)
{
	size_t n = contig__request__get_packed_size(req);

	put16(s, (unsigned)n | client << 15);
	if (s->len + n > sizeof(s->data)) {
		fprintf(stderr, "make_seeds: seed too long\n");
		exit(1);
	}
	contig__request__pack(req, s->data + s->len);
	s->len += n;
}

static void req_hello(struct seed *s, unsigned client, uint64_t seq, uint32_t version)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;

	hello.version = version;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &hello;
	req_put(s, client, &req);
}

/* What an allocation asks; zero fields are left out of the message. */
struct alloc_args {
	uint64_t len, lowest, highest, boundary, align;
	int cache_type, node;
	uint32_t tag, priority;
	bool has_cache_type, has_node, has_priority;
	bool warm; /* a warm frame of the fast path */
};

static void req_alloc(struct seed *s, unsigned client, uint64_t seq, const struct alloc_args *a)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest al = CONTIG__ALLOC_REQUEST__INIT;

	al.len = a->len;
	al.has_lowest = a->lowest != 0;
	al.lowest = a->lowest;
	al.has_highest = a->highest != 0;
	al.highest = a->highest;
	al.has_boundary = a->boundary != 0;
	al.boundary = a->boundary;
	al.has_align = a->align != 0;
	al.align = a->align;
	al.has_cache_type = a->has_cache_type;
	al.cache_type = a->cache_type;
	al.has_node = a->has_node;
	al.node = a->node;
	al.has_tag = a->tag != 0;
	al.tag = a->tag;
	al.has_priority = a->has_priority;
	al.priority = a->priority;
	al.has_warm = a->warm;
	al.warm = a->warm;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &al;
	req_put(s, client, &req);
}

static void req_free(struct seed *s, unsigned client, uint64_t seq, uint64_t id,
		     const uint64_t *len, const int *cache)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__FreeRequest f = CONTIG__FREE_REQUEST__INIT;

	f.buffer_id = id;
	f.has_len = len != NULL;
	f.len = len ? *len : 0;
	f.has_cache_type = cache != NULL;
	f.cache_type = cache ? *cache : 0;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_FREE;
	req.free = &f;
	req_put(s, client, &req);
}

/* A fast-path report: @n carves {id, frame_id, offset, len} (tag 'Crv0'
 * + i), @nf frees, a transient of @ntrans buffers if not 0. */
static void req_carve(struct seed *s, unsigned client, uint64_t seq, const uint64_t (*c)[4],
		      size_t n, const uint64_t *frees, size_t nf, uint32_t ntrans)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__CarveRequest cr = CONTIG__CARVE_REQUEST__INIT;
	Contig__Carve carves[8], *cp[8];
	Contig__CarveTransient t = CONTIG__CARVE_TRANSIENT__INIT, *tp = &t;

	for (size_t i = 0; i < n && i < 8; i++) {
		contig__carve__init(&carves[i]);
		carves[i].id = c[i][0];
		carves[i].frame_id = c[i][1];
		carves[i].offset = c[i][2];
		carves[i].len = c[i][3];
		carves[i].has_tag = 1;
		carves[i].tag = 0x30767243u + (uint32_t)i;
		cp[i] = &carves[i];
	}
	cr.n_allocs = n < 8 ? n : 8;
	cr.allocs = cp;
	cr.n_frees = nf;
	cr.frees = (uint64_t *)frees;
	t.tag = 0x736e7254u;
	t.count = ntrans;
	t.len = (uint64_t)ntrans * 4096;
	cr.n_transients = ntrans ? 1 : 0;
	cr.transients = &tp;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_CARVE;
	req.carve = &cr;
	req_put(s, client, &req);
}

static void req_stats(struct seed *s, unsigned client, uint64_t seq)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st = CONTIG__STATS_REQUEST__INIT;

	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_STATS;
	req.stats = &st;
	req_put(s, client, &req);
}

/* A stats request for list pages: @first_* < 0 leaves the field out. */
static void req_stats_lists(struct seed *s, unsigned client, uint64_t seq, bool buffers,
			    long first_buffer, bool frames, long first_frame)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st = CONTIG__STATS_REQUEST__INIT;

	st.has_want_buffers = buffers;
	st.want_buffers = buffers;
	st.has_first_buffer = first_buffer >= 0;
	st.first_buffer = first_buffer >= 0 ? (uint32_t)first_buffer : 0;
	st.has_want_frames = frames;
	st.want_frames = frames;
	st.has_first_frame = first_frame >= 0;
	st.first_frame = first_frame >= 0 ? (uint32_t)first_frame : 0;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_STATS;
	req.stats = &st;
	req_put(s, client, &req);
}

static void req_report(struct seed *s, unsigned client, uint64_t seq, const char *routine,
		       const char *reason)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__ReportRequest rep = CONTIG__REPORT_REQUEST__INIT;

	rep.routine = (char *)routine;
	rep.reason = (char *)reason;
	req.seq = seq;
	req.body_case = CONTIG__REQUEST__BODY_REPORT;
	req.report = &rep;
	req_put(s, client, &req);
}

/* A control operation of fuzz_request: 0 hand back every recycled frame,
 * 1 hand back one, 2 the client stops reading, 3 it disconnects, 4 the
 * server refuses a datagram. */
static void control(struct seed *s, unsigned client, unsigned op)
{
	put16(s, (CONTIG_MAX_REQUEST_LEN + 1 + op) | client << 15);
}

/* The id of the n-th (from 1) buffer a fresh session allocates without
 * freeing any: generation 1, slot n - 1. */
static uint64_t first_id(unsigned n)
{
	return 1ull << 32 | n;
}

static void request_seeds(void)
{
	static const struct alloc_args
		small = { .len = 4096 },
		two_mib = { .len = 2 * MIB, .align = 2 * MIB },
		two_mib_node1 = { .len = 2 * MIB, .node = 1, .has_node = true },
		spans = { .len = 3 * MIB + 100 },
		window32 = { .len = 4 * MIB, .highest = 0xffffffff, .lowest = 0xff000000 },
		boundary = { .len = 64 * 1024, .boundary = 64 * 1024, .align = 16 * 1024 },
		node1 = { .len = 8 * MIB, .node = 1, .has_node = true },
		node3 = { .len = 2 * MIB, .node = 3, .has_node = true },
		any_node = { .len = 12 * MIB, .node = -1, .has_node = true },
		giant = { .len = 1 * GIB + 1, .node = 0, .has_node = true },
		big = { .len = 512 * MIB + 4096, .node = 2, .has_node = true },
		uncached = { .len = 8192, .cache_type = 0, .has_cache_type = true },
		wc = { .len = 8192, .cache_type = 2, .has_cache_type = true },
		low = { .len = 16 * MIB, .priority = 0, .has_priority = true, .tag = 0x6c6f6f50 },
		normal = { .len = 16 * MIB, .priority = 16, .has_priority = true, .tag = 0x4c444e4e },
		high = { .len = 20 * MIB, .priority = 32, .has_priority = true, .tag = 0x67696848 },
		bad_len = { .len = 0 },
		bad_align = { .len = 4096, .align = 3 },
		bad_boundary = { .len = 8192, .boundary = 4096 },
		bad_window = { .len = 4096, .lowest = 0x10000, .highest = 0x1000 },
		bad_cache = { .len = 4096, .cache_type = 9, .has_cache_type = true },
		bad_node = { .len = 4096, .node = 5000, .has_node = true },
		bad_priority = { .len = 4096, .priority = 48, .has_priority = true },
		overflow = { .len = 8192, .lowest = 0xfffffffffffff000ull };
	const struct alloc_args *each[] = {
		&small, &two_mib, &spans, &window32, &boundary, &node1, &node3, &any_node,
		&giant, &uncached, &wc, &low, &normal, &high,
	};
	const struct alloc_args *bad[] = {
		&bad_len, &bad_align, &bad_boundary, &bad_window, &bad_cache, &bad_node,
		&bad_priority, &overflow,
	};
	uint64_t len = 4096;
	int cache = 1, wrong_cache = 0;
	struct seed s;
	uint64_t seq;

	seed_start(&s, 0, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	write_seed("request", "hello", &s);

	seed_start(&s, 0, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &small);
	req_stats(&s, 0, 3);
	req_free(&s, 0, 4, first_id(1), NULL, NULL);
	req_stats(&s, 0, 5);
	write_seed("request", "alloc_stats_free", &s);

	/* Every kind of constraint, kept, then freed in another order. */
	seed_start(&s, 0, 0);
	seq = 1;
	req_hello(&s, 0, seq++, CONTIG_PROTOCOL_VERSION);
	for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++)
		req_alloc(&s, 0, seq++, each[i]);
	req_stats(&s, 0, seq++);
	for (size_t i = sizeof(each) / sizeof(each[0]); i > 0; i -= 2)
		req_free(&s, 0, seq++, first_id((unsigned)i), NULL, NULL);
	write_seed("request", "constraints", &s);

	/* One by one, each freed at once (frames recycle, some move). */
	for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++) {
		char name[32];

		seed_start(&s, 0, 0x01 | (uint8_t)(i << 6));
		req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
		req_alloc(&s, 0, 2, each[i]);
		req_free(&s, 0, 3, first_id(1), NULL, NULL);
		req_alloc(&s, 0, 4, each[i]);
		snprintf(name, sizeof(name), "alloc_free_alloc_%02zu", i);
		write_seed("request", name, &s);
	}

	/* Malformed fields: INVALID_ARGUMENT each, the session stays. */
	seed_start(&s, 0, 0);
	seq = 1;
	req_hello(&s, 0, seq++, CONTIG_PROTOCOL_VERSION);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		req_alloc(&s, 0, seq++, bad[i]);
	req_alloc(&s, 0, seq++, &small);
	write_seed("request", "invalid_fields", &s);

	/* Checked frees: mismatch (nothing freed), then a match. */
	seed_start(&s, 0, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &uncached);
	req_free(&s, 0, 3, first_id(1), &len, &cache);
	req_free(&s, 0, 4, first_id(1), NULL, &cache);
	len = 8192;
	req_free(&s, 0, 5, first_id(1), &len, &wrong_cache);
	req_free(&s, 0, 6, first_id(1) + 1, NULL, NULL);
	req_report(&s, 0, 7, "MmFreeContiguousMemorySpecifyCache", "size or cache type differ");
	write_seed("request", "checked_free", &s);

	/* Two clients: the second replays the first one's ids. */
	seed_start(&s, 0x01, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &two_mib);
	req_free(&s, 1, 2, first_id(1), NULL, NULL);
	req_alloc(&s, 1, 3, &small);
	req_alloc(&s, 0, 3, &small);
	req_free(&s, 0, 4, first_id(2), NULL, NULL);
	req_stats(&s, 1, 4);
	write_seed("request", "two_clients", &s);

	/* Root sees every session; the same uid shares quotas. */
	seed_start(&s, 0x01 | 0x02 | 0x04 | 0x08, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 4; i++) {
		req_alloc(&s, 0, 2 + i, &small);
		req_alloc(&s, 1, 2 + i, &small);
	}
	req_stats(&s, 0, 9);
	write_seed("request", "root_same_user_quotas", &s);

	/* Lists: root sees both clients' buffers and frame owners, the other
	 * only its own; pages from an index, past the end, and a first
	 * without its want (invalid). With the 300-frame pool. */
	seed_start(&s, 0x01 | 0x02 | 0x20, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 3; i++) {
		req_alloc(&s, 0, 2 + i, &small);
		req_alloc(&s, 1, 2 + i, i == 1 ? &two_mib : &small);
	}
	req_stats_lists(&s, 0, 5, true, -1, true, -1);
	req_stats_lists(&s, 1, 5, true, -1, true, -1);
	req_stats_lists(&s, 0, 6, true, 4, true, 70);
	req_stats_lists(&s, 1, 6, true, 3, false, -1);
	req_stats_lists(&s, 0, 7, false, -1, true, 100000);
	req_stats_lists(&s, 1, 7, false, 1, false, -1);
	req_free(&s, 1, 8, first_id(2), NULL, NULL);
	req_stats_lists(&s, 1, 9, false, -1, true, 0);
	write_seed("request", "stats_lists", &s);

	/* Byte quotas and max_frames_per_buffer. */
	seed_start(&s, 0x10, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &spans);
	req_alloc(&s, 0, 3, &two_mib);
	req_alloc(&s, 0, 4, &node1);
	req_alloc(&s, 0, 5, &small);
	write_seed("request", "byte_quotas", &s);

	seed_start(&s, 0x18, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &small);
	req_alloc(&s, 0, 3, &small);
	req_alloc(&s, 0, 4, &spans);
	write_seed("request", "one_frame_per_buffer", &s);

	/* Watermarks: low and normal priority stop early. */
	seed_start(&s, 0x80, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 3; i++) {
		req_alloc(&s, 0, 2 + 3 * i, &low);
		req_alloc(&s, 0, 3 + 3 * i, &normal);
		req_alloc(&s, 0, 4 + 3 * i, &high);
	}
	write_seed("request", "watermarks", &s);

	/* Watermarks of 100%: low and normal priority never take frames;
	 * then 50%: the third low-priority buffer crosses it. */
	seed_start(&s, 0xc0, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &low);
	req_alloc(&s, 0, 3, &normal);
	req_alloc(&s, 0, 4, &high);
	write_seed("request", "watermark_full", &s);

	seed_start(&s, 0x80, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 5; i++) {
		struct alloc_args t = low;

		t.len = 6 * MIB;
		t.node = 0;
		t.has_node = true;
		req_alloc(&s, 0, 2 + i, &t);
	}
	write_seed("request", "watermark_crossed", &s);

	/* Two sessions of one user: per-user buffer and byte quotas. */
	seed_start(&s, 0x01 | 0x04 | 0x08, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 5; i++) {
		req_alloc(&s, 0, 2 + i, &small);
		req_alloc(&s, 1, 2 + i, &small);
	}
	write_seed("request", "user_buffer_quota", &s);

	seed_start(&s, 0x01 | 0x04 | 0x10, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	{
		struct alloc_args six = node1, one = small;

		six.len = 6 * MIB;
		one.len = 1 * MIB;
		req_alloc(&s, 0, 2, &six);
		req_alloc(&s, 1, 2, &six);
		req_alloc(&s, 1, 3, &one);
	}
	write_seed("request", "user_byte_quota", &s);

	/* Byte limits count frames (issue 20): 4 KiB buffers 2 MiB apart pin
	 * a frame each, refused past 9M; one unaligned packs into them. */
	seed_start(&s, 0x10, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	{
		struct alloc_args pin = { .len = 4096, .align = 2 * MIB, .node = 1,
					  .has_node = true };

		for (unsigned i = 0; i < 6; i++)
			req_alloc(&s, 0, 2 + i, &pin);
		req_alloc(&s, 0, 8, &small);
	}
	write_seed("request", "aligned_small_buffers_pin_frames", &s);

	/* Two users, the built-in share (50%): the first stops at half of
	 * node 1's 28 frames, the second gets the other half. */
	seed_start(&s, 0x01, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 16; i++)
		req_alloc(&s, 0, 2 + i, &two_mib_node1);
	for (unsigned i = 0; i < 16; i++)
		req_alloc(&s, 1, 2 + i, &two_mib_node1);
	write_seed("request", "share_per_user", &s);

	/* Two users, no share: past its fair share (14 frames) the first
	 * stops at watermark_low (7 frames left); the second takes those. */
	seed_start(&s, 0x01 | 0x18, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 23; i++)
		req_alloc(&s, 0, 2 + i, &two_mib_node1);
	for (unsigned i = 0; i < 8; i++)
		req_alloc(&s, 1, 2 + i, &two_mib_node1);
	write_seed("request", "fair_share", &s);

	/* More frames than max_frames_per_buffer on the only pool allowed. */
	seed_start(&s, 0x18, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &node1);
	write_seed("request", "too_many_frames", &s);

	/* max_frames_per_buffer 1: the space left in two adjacent held frames
	 * straddles their boundary; a buffer there would span two frames. */
	seed_start(&s, 0x18, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	{
		struct alloc_args x = { .len = 3 * MIB / 2, .node = 0, .has_node = true };
		struct alloc_args y = { .len = 1 * MIB, .lowest = 3 * MIB };
		struct alloc_args z = { .len = 1 * MIB };

		req_alloc(&s, 0, 2, &x);
		req_alloc(&s, 0, 3, &y);
		req_alloc(&s, 0, 4, &z);
	}
	write_seed("request", "held_frames_straddle", &s);

	/* A report over the limits. */
	seed_start(&s, 0, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_report(&s, 0, 2,
		   "MmFreeContiguousMemorySpecifyCacheAndThenSomeMoreToGoOverSixtyFourBytes",
		   "x");
	write_seed("request", "report_too_long", &s);

	/* A buffer over more frames than one datagram carries descriptors. */
	seed_start(&s, 0x20, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &big);
	req_free(&s, 0, 3, first_id(1), NULL, NULL);
	write_seed("request", "frame_fds", &s);

	/* Exhaust node 3, free one, allocate again: waits for the recycler. */
	seed_start(&s, 0, 0x01 | 0x10);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 8; i++)
		req_alloc(&s, 0, 2 + i, &node3);
	req_free(&s, 0, 10, first_id(3), NULL, NULL);
	req_alloc(&s, 0, 11, &node3);
	req_free(&s, 0, 12, first_id(5), NULL, NULL);
	control(&s, 0, 1);
	req_alloc(&s, 0, 13, &node3);
	write_seed("request", "wait_for_recycler", &s);

	/* Recycling that moves and loses frames, tag tables nearly full. */
	seed_start(&s, 0x01, 0x03 | 0x08 | 0x20);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	for (unsigned i = 0; i < 6; i++) {
		struct alloc_args t = small;

		t.tag = 0x41414141u + i;
		req_alloc(&s, i & 1, 2 + i, &t);
	}
	control(&s, 0, 3);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &spans);
	control(&s, 0, 0);
	req_stats(&s, 0, 3);
	write_seed("request", "recycle_chaos_tags", &s);

	/* A client that stops reading, a refused datagram, a wrong version. */
	seed_start(&s, 0x01, 0);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
	req_alloc(&s, 0, 2, &two_mib);
	control(&s, 0, 2);
	req_alloc(&s, 0, 3, &two_mib);
	req_alloc(&s, 1, 2, &small);
	control(&s, 1, 4);
	req_hello(&s, 1, 1, 2);
	req_stats(&s, 1, 2);
	write_seed("request", "closes", &s);

	/* Before hello, unknown fields, an unknown request type. */
	seed_start(&s, 0, 0);
	req_stats(&s, 0, 1);
	req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
	{
		static const uint8_t unknown_field[] = { 0x08, 0x02, 0x2a, 0x02, 0x78, 0x01 };
		/* (field 15: 7 became CarveRequest) */
		static const uint8_t unknown_type[] = { 0x08, 0x03, 0x7a, 0x00 };

		put16(&s, sizeof(unknown_field));
		memcpy(s.data + s.len, unknown_field, sizeof(unknown_field));
		s.len += sizeof(unknown_field);
		put16(&s, sizeof(unknown_type));
		memcpy(s.data + s.len, unknown_type, sizeof(unknown_type));
		s.len += sizeof(unknown_type);
	}
	req_report(&s, 0, 4, "NdisFreeMemory", "flags must be 0");
	write_seed("request", "unknown", &s);

	/* The fast path's reports: a warm frame, carves, a resend, frees and
	 * transients, refusals, the frame freed with its carves; the second
	 * client names the first's frame. */
	{
		static const struct alloc_args warm = { .len = 2u << 20, .align = 2u << 20,
							.tag = 0x6d726157u, .warm = true };
		static const uint64_t good[][4] = {
			{ 0x8000000000000001ull, 0x100000001ull, 0, 4096 },
			{ 0x8000000000000002ull, 0x100000001ull, 8192, 8192 },
			{ 0x8000000000000003ull, 0x100000001ull, 65536, 65536 },
		};
		static const uint64_t bad[][4] = {
			{ 0x8000000000000004ull, 0x100000001ull, 12288, 4096 },  /* overlaps */
			{ 0x8000000000000005ull, 0x100000001ull, 2u << 20, 4096 }, /* outside */
			{ 0x8000000000000001ull, 0x100000001ull, 1u << 20, 4096 }, /* id taken */
			{ 0x8000000000000006ull, 0x100000002ull, 0, 4096 },      /* not warm */
			{ 0x8000000000000007ull, 0x100000001ull, 4097, 4096 },   /* misaligned */
		};
		static const uint64_t frees[] = { 0x8000000000000002ull, 0x8000000000000999ull };

		seed_start(&s, 1, 0);
		req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
		req_hello(&s, 1, 1, CONTIG_PROTOCOL_VERSION);
		req_alloc(&s, 0, 2, &warm);
		req_alloc(&s, 1, 2, &warm);
		req_carve(&s, 0, 3, good, 3, NULL, 0, 0);
		req_carve(&s, 0, 4, good, 3, NULL, 0, 0);
		req_stats_lists(&s, 0, 5, true, 0, true, 0);
		for (size_t i = 0; i < 5; i++)
			req_carve(&s, 0, 6 + i, &bad[i], 1, NULL, 0, 0);
		req_carve(&s, 1, 3, good, 1, NULL, 0, 0);
		req_alloc(&s, 0, 11, &small);
		req_carve(&s, 0, 12, &bad[3], 1, NULL, 0, 0);
		req_carve(&s, 0, 13, NULL, 0, frees, 2, 5);
		req_stats_lists(&s, 0, 14, true, 0, true, 0);
		req_free(&s, 0, 15, 0x100000001ull, NULL, NULL);
		req_stats_lists(&s, 0, 16, true, 0, true, 0);
		write_seed("request", "carves", &s);

		/* Few buffers (limits 1): carves go past the limit. */
		seed_start(&s, 1u << 3, 0);
		req_hello(&s, 0, 1, CONTIG_PROTOCOL_VERSION);
		req_alloc(&s, 0, 2, &warm);
		req_carve(&s, 0, 3, good, 3, NULL, 0, 0);
		for (uint64_t i = 0; i < 6; i++) {
			uint64_t more[1][4] = { { 0x8000000000000100ull + i, 0x100000001ull,
						  (256 + 4 * i) << 10, 4096 } };

			req_carve(&s, 0, 4 + i, more, 1, NULL, 0, 0);
		}
		req_alloc(&s, 0, 10, &small);
		control(&s, 0, 3); /* disconnects holding them */
		write_seed("request", "carves_past_the_limit", &s);
	}
}

/* ---- replies (fuzz_reply) ---- */

static void rep_put(struct seed *s, Contig__Reply *reply)
{
	size_t n = contig__reply__get_packed_size(reply);

	if (n > CONTIG_MAX_REQUEST_LEN || s->len + 2 + n > sizeof(s->data)) {
		fprintf(stderr, "make_seeds: reply too long\n");
		exit(1);
	}
	put16(s, (unsigned)n);
	contig__reply__pack(reply, s->data + s->len);
	s->len += n;
}

static void rep_status(struct seed *s, uint64_t seq, Contig__Status status, const char *message)
{
	Contig__Reply r = CONTIG__REPLY__INIT;

	r.seq = seq;
	r.status = status;
	r.message = (char *)message;
	rep_put(s, &r);
}

static void rep_alloc(struct seed *s, uint64_t seq, uint64_t phys, uint64_t len, uint32_t nframes)
{
	Contig__Reply r = CONTIG__REPLY__INIT;
	Contig__AllocReply a = CONTIG__ALLOC_REPLY__INIT;

	a.buffer_id = first_id(1);
	a.phys = phys;
	a.len = len;
	a.page_len = 2 * MIB;
	a.offset = phys % (2 * MIB);
	a.nframes = nframes;
	a.node = 0;
	r.seq = seq;
	r.body_case = CONTIG__REPLY__BODY_ALLOC;
	r.alloc = &a;
	rep_put(s, &r);
}

static void rep_frames(struct seed *s, uint64_t seq, uint32_t first)
{
	Contig__Reply r = CONTIG__REPLY__INIT;
	Contig__FrameFds f = CONTIG__FRAME_FDS__INIT;

	f.first = first;
	r.seq = seq;
	r.body_case = CONTIG__REPLY__BODY_FRAMES;
	r.frames = &f;
	rep_put(s, &r);
}

static void rep_empty(struct seed *s, uint64_t seq, Contig__Reply__BodyCase body)
{
	Contig__Reply r = CONTIG__REPLY__INIT;
	Contig__FreeReply fr = CONTIG__FREE_REPLY__INIT;
	Contig__ReportReply rr = CONTIG__REPORT_REPLY__INIT;

	r.seq = seq;
	r.body_case = body;
	if (body == CONTIG__REPLY__BODY_FREE)
		r.free = &fr;
	else
		r.report = &rr;
	rep_put(s, &r);
}

static void pool_info(Contig__PoolInfo *p, uint32_t node)
{
	contig__pool_info__init(p);
	p->node = node;
	p->page_len = 2 * MIB;
	p->total_len = 64 * MIB;
	p->free_len = 60 * MIB;
	p->largest_free_len = 16 * MIB;
	p->nframes = 32;
	p->nframes_owned = 2;
	p->nsegments = 5;
	p->largest_segment_len = 16 * MIB;
	p->nbuffers = 3;
	p->nclients = 1;
}

static void rep_hello(struct seed *s, uint64_t seq)
{
	Contig__Reply r = CONTIG__REPLY__INIT;
	Contig__HelloReply h = CONTIG__HELLO_REPLY__INIT;
	Contig__PoolInfo pools[2], *ptrs[2] = { &pools[0], &pools[1] };
	uint64_t sizes[] = { 2 * MIB, 1 * GIB };
	uint32_t nodes[] = { 0, 1 };

	pool_info(&pools[0], 0);
	pool_info(&pools[1], 1);
	h.version = CONTIG_PROTOCOL_VERSION;
	h.n_page_sizes = 2;
	h.page_sizes = sizes;
	h.n_nodes = 2;
	h.nodes = nodes;
	h.n_pools = 2;
	h.pools = ptrs;
	h.max_frames_per_buffer = 8192;
	r.seq = seq;
	r.body_case = CONTIG__REPLY__BODY_HELLO;
	r.hello = &h;
	rep_put(s, &r);
}

static void rep_stats(struct seed *s, uint64_t seq)
{
	Contig__Reply r = CONTIG__REPLY__INIT;
	Contig__StatsReply st = CONTIG__STATS_REPLY__INIT;
	Contig__PoolInfo pools[2], *pptrs[2] = { &pools[0], &pools[1] };
	Contig__TagInfo tags[2], *tptrs[2] = { &tags[0], &tags[1] };
	Contig__SessionInfo sess, *sptrs[1] = { &sess };

	pool_info(&pools[0], 0);
	pool_info(&pools[1], 1);
	for (unsigned i = 0; i < 2; i++) {
		contig__tag_info__init(&tags[i]);
		tags[i].tag = 0x41424344u + i;
		tags[i].nbuffers = i + 1;
		tags[i].len = 4096 * (i + 1);
		tags[i].nallocs = 3;
		tags[i].nfrees = 2 - i;
	}
	contig__session_info__init(&sess);
	sess.pid = 1234;
	sess.uid = 1000;
	sess.comm = (char *)"ringdrv";
	sess.nbuffers = 3;
	sess.len = 12288;
	sess.nframes = 1;
	st.n_pools = 2;
	st.pools = pptrs;
	st.nsessions = 1;
	st.my_nbuffers = 3;
	st.my_len = 12288;
	st.my_nframes = 1;
	st.nrecycled = 7;
	st.has_nrecycle_truncated = 1;
	st.has_nbugchecks = 1;
	st.nbugchecks = 1;
	st.n_tags = 2;
	st.tags = tptrs;
	st.n_sessions = 1;
	st.sessions = sptrs;
	r.seq = seq;
	r.body_case = CONTIG__REPLY__BODY_STATS;
	r.stats = &st;
	rep_put(s, &r);
}

/* A page of a buffer list (@frames false) or frame list: @n entries from
 * @first of @total, pool 0 or 1. */
static void rep_stats_list(struct seed *s, uint64_t seq, bool frames, uint32_t first,
			   uint32_t n, uint32_t total, uint64_t generation)
{
	Contig__Reply r = CONTIG__REPLY__INIT;
	Contig__StatsReply st = CONTIG__STATS_REPLY__INIT;
	Contig__PoolInfo pools[2], *pptrs[2] = { &pools[0], &pools[1] };
	Contig__BufferInfo bufs[4], *bptrs[4];
	Contig__FrameInfo fr[4], *fptrs[4];

	pool_info(&pools[0], 0);
	pool_info(&pools[1], 1);
	for (uint32_t i = 0; i < n && i < 4; i++) {
		contig__buffer_info__init(&bufs[i]);
		bufs[i].id = 0x100000001ull + first + i;
		bufs[i].pid = 1234;
		bufs[i].uid = 1000;
		bufs[i].pool = i % 2;
		bufs[i].phys = 0x40000000ull + (first + i) * 4096ull;
		bufs[i].len = 4096;
		bufs[i].cache_type = 1;
		bufs[i].tag = 0x41424344u;
		bptrs[i] = &bufs[i];
		contig__frame_info__init(&fr[i]);
		fr[i].pool = i % 2;
		fr[i].phys = 0x40000000ull + (first + i) * 2 * MIB;
		fr[i].state = (first + i) % 4;
		if (fr[i].state == 1) {
			fr[i].has_owner_pid = fr[i].has_cache_type = fr[i].has_nbuffers = 1;
			fr[i].owner_pid = 1234;
			fr[i].cache_type = 1;
			fr[i].nbuffers = 2;
		}
		fptrs[i] = &fr[i];
	}
	st.n_pools = 2;
	st.pools = pptrs;
	if (frames) {
		st.has_nframes_listed = 1;
		st.nframes_listed = total;
		st.n_frames = n;
		st.frames = fptrs;
	} else {
		st.has_nbuffers_listed = 1;
		st.nbuffers_listed = total;
		st.n_buffers = n;
		st.buffers = bptrs;
	}
	st.has_generation = 1;
	st.generation = generation;
	r.seq = seq;
	r.body_case = CONTIG__REPLY__BODY_STATS;
	r.stats = &st;
	rep_put(s, &r);
}

/* fuzz_reply's header: the call; which datagrams carry how many
 * descriptors (count index: 1, 2, 3, 250); what the daemon end does. */
enum { CALL_ALLOC, CALL_STATS, CALL_FREE, CALL_HELLO, CALL_REPORT };
#define FDS(mask, count) ((uint8_t)((mask) | (count) << 4))
#define END_SHUTDOWN 0x00
#define END_RESET 0x40
#define END_CLOSE 0x80
#define END_OPEN 0xc0

static void reply_seeds(void)
{
	struct seed s;

	seed_start(&s, CALL_HELLO, END_SHUTDOWN);
	rep_hello(&s, 1);
	write_seed("reply", "hello", &s);

	seed_start(&s, CALL_HELLO, END_SHUTDOWN);
	rep_status(&s, 1, CONTIG__STATUS__UNSUPPORTED, "protocol version 1 not supported");
	write_seed("reply", "hello_unsupported", &s);

	seed_start(&s, CALL_ALLOC, FDS(1, 0) | END_SHUTDOWN);
	rep_alloc(&s, 1, 0x40000000, 4096, 1);
	write_seed("reply", "alloc_one_frame", &s);

	seed_start(&s, CALL_ALLOC, FDS(1, 1) | END_OPEN);
	rep_alloc(&s, 1, 0x401ff000, 8192, 2);
	write_seed("reply", "alloc_two_frames", &s);

	seed_start(&s, CALL_ALLOC, FDS(3, 3) | END_SHUTDOWN);
	rep_alloc(&s, 1, 0x40000000, 251 * 2 * MIB, 251);
	rep_frames(&s, 1, 250);
	write_seed("reply", "alloc_frame_fds", &s);

	/* The descriptors stop short: the client frees the buffer. */
	seed_start(&s, CALL_ALLOC, FDS(1, 3) | END_SHUTDOWN);
	rep_alloc(&s, 1, 0x40000000, 252 * 2 * MIB, 252);
	rep_frames(&s, 1, 250);
	rep_empty(&s, 2, CONTIG__REPLY__BODY_FREE);
	write_seed("reply", "alloc_frames_missing", &s);

	seed_start(&s, CALL_ALLOC, END_SHUTDOWN);
	rep_status(&s, 1, CONTIG__STATUS__NO_MEMORY, "no memory: no free range of 4096 bytes");
	write_seed("reply", "alloc_no_memory", &s);

	seed_start(&s, CALL_ALLOC, END_CLOSE);
	rep_status(&s, 0, CONTIG__STATUS__PERMISSION_DENIED,
		   "permission denied: uid 1000 is not root");
	write_seed("reply", "alloc_refused", &s);

	seed_start(&s, CALL_HELLO, END_RESET);
	rep_status(&s, 0, CONTIG__STATUS__QUOTA_EXCEEDED,
		   "quota exceeded: max_connections_per_user (64) reached for uid 1000");
	write_seed("reply", "hello_reset", &s);

	seed_start(&s, CALL_STATS, END_SHUTDOWN);
	rep_stats(&s, 1);
	write_seed("reply", "stats", &s);

	/* Lists in pages; a change between pages starts over. */
	seed_start(&s, CALL_STATS | 0x08, END_SHUTDOWN);
	rep_stats_list(&s, 1, false, 0, 4, 6, 9);
	rep_stats_list(&s, 2, false, 4, 2, 6, 9);
	write_seed("reply", "list_buffers", &s);

	seed_start(&s, CALL_STATS | 0x10, END_SHUTDOWN);
	rep_stats_list(&s, 1, true, 0, 3, 7, 4);
	rep_stats_list(&s, 2, true, 3, 4, 7, 5);
	rep_stats_list(&s, 3, true, 0, 4, 7, 5);
	rep_stats_list(&s, 4, true, 4, 3, 7, 5);
	write_seed("reply", "list_frames_changed", &s);

	seed_start(&s, CALL_FREE, END_SHUTDOWN);
	rep_empty(&s, 1, CONTIG__REPLY__BODY_FREE);
	write_seed("reply", "free", &s);

	seed_start(&s, CALL_FREE | 0x18, END_SHUTDOWN);
	rep_status(&s, 1, CONTIG__STATUS__MISMATCH, "mismatch: nothing freed");
	write_seed("reply", "free_mismatch", &s);

	seed_start(&s, CALL_FREE, END_OPEN);
	rep_status(&s, 1, CONTIG__STATUS__NOT_FOUND, "not found: no buffer 0x100000001");
	write_seed("reply", "free_not_found", &s);

	seed_start(&s, CALL_REPORT, END_SHUTDOWN);
	rep_empty(&s, 1, CONTIG__REPLY__BODY_REPORT);
	write_seed("reply", "report", &s);

	seed_start(&s, CALL_STATS, END_SHUTDOWN);
	rep_status(&s, 1, CONTIG__STATUS__PROTOCOL_ERROR, "the first request must be a hello");
	write_seed("reply", "protocol_error", &s);
}

int main(int argc, char **argv)
{
	char path[512];

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR (writes DIR/request/ and DIR/reply/)\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	snprintf(path, sizeof(path), "%s/request", outdir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/reply", outdir);
	mkdir(path, 0755);
	request_seeds();
	reply_seeds();
	return 0;
}
