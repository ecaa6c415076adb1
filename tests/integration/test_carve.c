/* test_carve.c - the daemon's side of the fast path's reports (issue 22
 * item 1, phase 2): warm frames (AllocRequest.warm) and the buffers a
 * client cuts from them (CarveRequest), against the real daemon with raw
 * protobuf clients (raw.h), so that every field is what the test says:
 *
 *   - a warm frame is charged (frames) but not listed or counted as a
 *     buffer; its carves are: listed with the right phys (checked against
 *     this process's pagemap of its mapping of the frame), length, cache
 *     type and tag; counted in my_nbuffers, my_len, the tags, the frame's
 *     nbuffers;
 *   - a report with one carve that does not fit (outside the frame, over
 *     a live carve or another of the report, another session's frame id,
 *     a plain buffer's id, misaligned, an id taken) is refused whole:
 *     nothing of it is applied;
 *   - a report sent again changes nothing; frees of unknown ids are
 *     counted in nunknown; transients are counted in tags and the
 *     daemon's nallocs/nfrees, never listed;
 *   - buffers_left under max_buffers_per_connection, 0 past it (the carve
 *     is recorded all the same), and a round-trip allocate is refused;
 *   - freeing a warm frame frees its carves; a client that dies holding
 *     carves has them released, logged and counted, and the pool comes
 *     back whole;
 *   - after a restart (SIGTERM, then kill -9) the resumed session lists
 *     the same carves, with the same ids, counts and tags.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"

#define FRAME (2 * MiB)
#define POOL "0:2M:32M" /* 16 frames */
#define POOL_LEN (32 * MiB)
#define MAX_BUFS 8
#define K4 4096u
#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

static struct harness_daemon dm;
static char conf_path[128];
static const char *args[] = { "--config", conf_path, "--pool", POOL ",reserve=sorted", NULL };

/* ---- raw requests ---- */

struct sess {
	int sock;
	uint8_t token[CONTIG_TOKEN_LEN];
	size_t token_len;
	bool accepts_carves;
	uint64_t seq;
};

static Contig__Reply *hello(int sock, const uint8_t *token, size_t len)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest h = CONTIG__HELLO_REQUEST__INIT;

	h.version = CONTIG_PROTOCOL_VERSION;
	if (token) {
		h.has_resume_token = 1;
		h.resume_token.data = (uint8_t *)token;
		h.resume_token.len = len;
	}
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &h;
	return raw_call(sock, &req, 1, NULL);
}

static void sess_open(struct sess *s)
{
	Contig__Reply *r;

	memset(s, 0, sizeof(*s));
	s->seq = 10;
	s->sock = raw_connect(dm.sock);
	r = hello(s->sock, NULL, 0);
	if (!r || r->status != CONTIG__STATUS__OK || r->body_case != CONTIG__REPLY__BODY_HELLO)
		bail_out("raw hello refused");
	s->accepts_carves = r->hello->has_accepts_carves && r->hello->accepts_carves;
	if (r->hello->has_session_token && r->hello->session_token.len <= CONTIG_TOKEN_LEN) {
		s->token_len = r->hello->session_token.len;
		memcpy(s->token, r->hello->session_token.data, s->token_len);
	}
	contig__reply__free_unpacked(r, NULL);
}

/* Reclaim @s's session on a new connection after a restart. */
static bool sess_resume(struct sess *s)
{
	Contig__Reply *r;
	bool resumed;

	s->sock = raw_connect(dm.sock);
	r = hello(s->sock, s->token, s->token_len);
	resumed = r && r->status == CONTIG__STATUS__OK &&
		  r->body_case == CONTIG__REPLY__BODY_HELLO && r->hello->has_resumed &&
		  r->hello->resumed;
	if (r && r->status != CONTIG__STATUS__OK)
		diag("  resume: \"%s\"", r->message ? r->message : "");
	if (r)
		contig__reply__free_unpacked(r, NULL);
	return resumed;
}

/* A buffer of one frame, mapped here through its descriptor. */
struct frame {
	uint64_t id, phys, len;
	uint8_t *map;
};

/* Allocate @len bytes (warm or not), aligned to a frame, with @tag.
 * Returns the status; on OK, *@f (mapped if its descriptor came). */
static int alloc(struct sess *s, uint64_t len, bool warm, uint32_t tag, struct frame *f)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__AllocRequest a = CONTIG__ALLOC_REQUEST__INIT;
	Contig__Reply *r;
	int fd, status;

	a.len = len;
	a.has_align = len >= FRAME;
	a.align = FRAME;
	a.has_tag = 1;
	a.tag = tag;
	a.has_warm = warm;
	a.warm = warm;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &a;
	r = raw_call(s->sock, &req, s->seq++, &fd);
	if (!r)
		return -1;
	status = (int)r->status;
	if (status == CONTIG__STATUS__OK && r->body_case == CONTIG__REPLY__BODY_ALLOC) {
		memset(f, 0, sizeof(*f));
		f->id = r->alloc->buffer_id;
		f->phys = r->alloc->phys;
		f->len = r->alloc->len;
		if (fd >= 0) {
			f->map = mmap(NULL, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (f->map == MAP_FAILED)
				bail_out("mmap frame: %s", strerror(errno));
			for (uint64_t o = 0; o < FRAME; o += K4)
				f->map[o] = 1; /* faulted: pagemap knows it */
		}
	} else if (r->message) {
		diag("  alloc: \"%s\"", r->message);
	}
	if (fd >= 0)
		close(fd);
	contig__reply__free_unpacked(r, NULL);
	return status;
}

/* A report: what it says, and the reply. */
struct report {
	Contig__Carve c[16];
	Contig__Carve *cp[16];
	size_t nc;
	uint64_t frees[16];
	size_t nf;
	Contig__CarveTransient t[4];
	Contig__CarveTransient *tp[4];
	size_t nt;
};

struct result {
	int status;
	char message[256];
	bool has_left;
	uint64_t left;
	uint32_t nunknown;
};

static void add_carve(struct report *rp, uint64_t id, uint64_t frame_id, uint64_t offset,
		      uint64_t len, uint32_t tag)
{
	Contig__Carve *c = &rp->c[rp->nc];

	contig__carve__init(c);
	c->id = id;
	c->frame_id = frame_id;
	c->offset = offset;
	c->len = len;
	c->has_tag = 1;
	c->tag = tag;
	rp->cp[rp->nc++] = c;
}

static void add_transient(struct report *rp, uint32_t tag, uint32_t count, uint64_t len)
{
	Contig__CarveTransient *t = &rp->t[rp->nt];

	contig__carve_transient__init(t);
	t->tag = tag;
	t->count = count;
	t->len = len;
	rp->tp[rp->nt++] = t;
}

static struct result send_report(struct sess *s, const struct report *rp)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__CarveRequest cr = CONTIG__CARVE_REQUEST__INIT;
	struct result out = { .status = -1 };
	Contig__Reply *r;

	cr.n_allocs = rp->nc;
	cr.allocs = (Contig__Carve **)rp->cp;
	cr.n_frees = rp->nf;
	cr.frees = (uint64_t *)rp->frees;
	cr.n_transients = rp->nt;
	cr.transients = (Contig__CarveTransient **)rp->tp;
	req.body_case = CONTIG__REQUEST__BODY_CARVE;
	req.carve = &cr;
	r = raw_call(s->sock, &req, s->seq++, NULL);
	if (!r)
		return out;
	out.status = (int)r->status;
	if (r->message)
		snprintf(out.message, sizeof(out.message), "%s", r->message);
	if (r->body_case == CONTIG__REPLY__BODY_CARVE) {
		out.has_left = r->carve->has_buffers_left;
		out.left = r->carve->buffers_left;
		out.nunknown = r->carve->has_nunknown ? r->carve->nunknown : 0;
	}
	contig__reply__free_unpacked(r, NULL);
	return out;
}

/* ---- what the daemon says ---- */

struct view {
	uint32_t my_nbuffers;
	uint64_t my_len;
	uint32_t my_nframes;
	uint64_t nallocs, nfrees, nreleased, free_len, total_len;
	uint32_t nsessions;
	size_t nbufs;
	Contig__BufferInfo bufs[64];
	Contig__StatsReply *st; /* for tags and frames */
	Contig__Reply *reply;
};

static void view_free(struct view *v)
{
	if (v->reply)
		contig__reply__free_unpacked(v->reply, NULL);
	v->reply = NULL;
}

/* Stats with the buffer and frame lists (one page each: few of either). */
static void view(struct sess *s, struct view *v)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest st;
	Contig__Reply *r;

	memset(v, 0, sizeof(*v));
	raw_stats_req(&req, &st);
	st.has_want_buffers = st.want_buffers = 1;
	st.has_want_frames = st.want_frames = 1;
	r = raw_call(s->sock, &req, s->seq++, NULL);
	if (!r || r->status != CONTIG__STATUS__OK || r->body_case != CONTIG__REPLY__BODY_STATS)
		bail_out("stats refused");
	v->reply = r;
	v->st = r->stats;
	v->my_nbuffers = r->stats->my_nbuffers;
	v->my_len = r->stats->my_len;
	v->my_nframes = r->stats->my_nframes;
	v->nallocs = r->stats->nallocs;
	v->nfrees = r->stats->nfrees;
	v->nreleased = r->stats->nreleased;
	v->nsessions = r->stats->nsessions;
	v->free_len = r->stats->pools[0]->free_len;
	v->total_len = r->stats->pools[0]->total_len;
	for (size_t i = 0; i < r->stats->n_buffers && v->nbufs < 64; i++)
		v->bufs[v->nbufs++] = *r->stats->buffers[i];
}

static const Contig__BufferInfo *listed(const struct view *v, uint64_t id, uint32_t tag)
{
	for (size_t i = 0; i < v->nbufs; i++)
		if (v->bufs[i].id == id && v->bufs[i].tag == tag)
			return &v->bufs[i];
	return NULL;
}

static const Contig__TagInfo *tag_of(const struct view *v, uint32_t tag)
{
	for (size_t i = 0; i < v->st->n_tags; i++)
		if (v->st->tags[i]->tag == tag)
			return v->st->tags[i];
	return NULL;
}

static const Contig__FrameInfo *frame_of(const struct view *v, uint64_t phys)
{
	for (size_t i = 0; i < v->st->n_frames; i++)
		if (v->st->frames[i]->phys == phys && v->st->frames[i]->state == 1)
			return v->st->frames[i];
	return NULL;
}

/* Is carve @id of @f at @offset, @len, @tag listed as this process's
 * pagemap of @f's mapping says? */
static bool carve_listed(const struct view *v, uint64_t id, const struct frame *f,
			 uint64_t offset, uint64_t len, uint32_t tag)
{
	const Contig__BufferInfo *b = listed(v, id, tag);
	uint64_t phys = harness_phys_of(getpid(), f->map + offset);

	if (!b) {
		diag("  carve 0x%" PRIx64 " not listed", id);
		return false;
	}
	if (b->phys != phys || b->phys != f->phys + offset || b->len != len ||
	    b->cache_type != 1 || (pid_t)b->pid != getpid()) {
		diag("  carve 0x%" PRIx64 ": listed phys 0x%" PRIx64 " len %" PRIu64
		     " cache %d, pagemap 0x%" PRIx64 ", frame 0x%" PRIx64 " + %" PRIu64,
		     id, b->phys, b->len, b->cache_type, phys, f->phys, offset);
		return false;
	}
	return true;
}

static bool tag_is(const struct view *v, uint32_t tag, uint32_t live, uint64_t len,
		   uint64_t nallocs, uint64_t nfrees)
{
	const Contig__TagInfo *t = tag_of(v, tag);

	if (!t) {
		if (live == 0 && nallocs == 0)
			return true;
		diag("  tag 0x%08x not listed", tag);
		return false;
	}
	if (t->nbuffers != live || t->len != len || t->nallocs != nallocs || t->nfrees != nfrees) {
		diag("  tag 0x%08x: %u live, %" PRIu64 " bytes, %" PRIu64 " allocs, %" PRIu64
		     " frees; want %u, %" PRIu64 ", %" PRIu64 ", %" PRIu64,
		     tag, t->nbuffers, t->len, t->nallocs, t->nfrees, live, len, nallocs, nfrees);
		return false;
	}
	return true;
}

/* ---- the tests ---- */

#define TAG_WARM TAG('W', 'a', 'r', 'm')
#define TAG_A TAG('C', 'v', 'A', '1')
#define TAG_B TAG('C', 'v', 'B', '1')
#define TAG_Q TAG('C', 'v', 'Q', '1')
#define TAG_T TAG('T', 'r', 'n', 's')
#define TAG_R TAG('C', 'v', 'R', '1')
#define TAG_D TAG('C', 'v', 'D', '1')
#define ID_A 0x8000000000000001ull
#define ID_B 0x8000000000000002ull
#define ID_C 0x8000000000000003ull

static struct sess s1, s2;
static struct frame w1, x1, x2, plain;

static void test_warm_and_carves(void)
{
	struct view v;
	struct report rp = { 0 };
	struct result res;

	ok(s1.accepts_carves, "hello_reply_sets_accepts_carves");
	if (alloc(&s1, FRAME, true, TAG_WARM, &w1) != CONTIG__STATUS__OK || !w1.map)
		bail_out("warm frame refused");
	view(&s1, &v);
	ok(v.my_nbuffers == 0 && v.my_len == 0 && v.my_nframes == 1 && v.nbufs == 0,
	   "a_warm_frame_is_charged_as_a_frame_but_not_listed_or_counted_as_a_buffer");
	ok(tag_is(&v, TAG_WARM, 0, 0, 0, 0), "a_warm_frames_tag_is_not_counted");
	ok(frame_of(&v, w1.phys) && frame_of(&v, w1.phys)->nbuffers == 0,
	   "a_warm_frame_alone_shows_0_buffers_in_its_frame");
	view_free(&v);

	add_carve(&rp, ID_A, w1.id, 0, K4, TAG_A);
	add_carve(&rp, ID_B, w1.id, 64 * 1024, 16 * 1024, TAG_B);
	res = send_report(&s1, &rp);
	if (!ok(res.status == CONTIG__STATUS__OK, "a_report_of_two_carves_is_accepted"))
		diag("  status %d \"%s\"", res.status, res.message);
	ok(res.has_left && res.left == MAX_BUFS - 2,
	   "buffers_left_is_max_buffers_per_connection_less_the_carves");
	view(&s1, &v);
	ok(v.my_nbuffers == 2 && v.my_len == 20 * 1024, "the_carves_count_in_my_nbuffers_and_my_len");
	ok(v.nbufs == 2 && carve_listed(&v, ID_A, &w1, 0, K4, TAG_A) &&
		   carve_listed(&v, ID_B, &w1, 64 * 1024, 16 * 1024, TAG_B),
	   "the_carves_are_listed_with_the_phys_the_pagemap_gives_their_len_cache_type_and_tag");
	ok(tag_is(&v, TAG_A, 1, K4, 1, 0) && tag_is(&v, TAG_B, 1, 16 * 1024, 1, 0),
	   "each_carve_counts_in_its_tag");
	ok(frame_of(&v, w1.phys) && frame_of(&v, w1.phys)->nbuffers == 2,
	   "the_frame_shows_its_two_carves_as_its_buffers");
	ok(v.st->live_nbuffers >= 2, "live_nbuffers_counts_the_carves");
	view_free(&v);

	/* Sent again (a lost reply): nothing changes. */
	res = send_report(&s1, &rp);
	view(&s1, &v);
	ok(res.status == CONTIG__STATUS__OK && v.my_nbuffers == 2 && v.nbufs == 2 &&
		   tag_is(&v, TAG_A, 1, K4, 1, 0),
	   "the_same_report_sent_again_is_accepted_and_changes_nothing");
	view_free(&v);
}

/* A report of a good new carve, then @bad: refused naming @reason (in
 * the message), nothing applied. */
static void refused(const char *name, const char *reason, struct report *rp)
{
	struct view before, after;
	struct result res;

	view(&s1, &before);
	res = send_report(&s1, rp);
	view(&s1, &after);
	if (!ok(res.status == CONTIG__STATUS__INVALID_ARGUMENT && strstr(res.message, reason) &&
			after.my_nbuffers == before.my_nbuffers && after.nbufs == before.nbufs &&
			!listed(&after, ID_C, TAG_Q) && tag_is(&after, TAG_Q, 0, 0, 0, 0),
		"refused_whole_%s", name))
		diag("  status %d \"%s\"; %u buffers before, %u after", res.status, res.message,
		     before.my_nbuffers, after.my_nbuffers);
	view_free(&before);
	view_free(&after);
}

static void test_bad_reports(void)
{
	struct report rp;

	if (alloc(&s2, FRAME, true, TAG_WARM, &x1) != CONTIG__STATUS__OK ||
	    alloc(&s2, FRAME, true, TAG_WARM, &x2) != CONTIG__STATUS__OK)
		bail_out("second session's warm frames refused");
#define BAD(name_, reason_, id_, frame_, off_, len_)                                              \
	do {                                                                                      \
		memset(&rp, 0, sizeof(rp));                                                       \
		add_carve(&rp, ID_C, w1.id, 128 * 1024, K4, TAG_Q);                                \
		add_carve(&rp, id_, frame_, off_, len_, TAG_Q);                                    \
		refused(name_, reason_, &rp);                                                     \
	} while (0)
	BAD("outside_the_warm_frame", "outside", 0x8000000000000010ull, w1.id, FRAME - K4,
	    2 * K4);
	BAD("offset_past_the_warm_frame", "outside", 0x8000000000000010ull, w1.id, FRAME, K4);
	BAD("over_a_live_carve", "overlaps carve", 0x8000000000000010ull, w1.id, 68 * 1024, K4);
	BAD("over_another_carve_of_the_report", "overlaps allocs[0]", 0x8000000000000010ull, w1.id,
	    128 * 1024, 2 * K4);
	/* x2 is the second session's; this one has no buffer of that id yet. */
	BAD("with_another_sessions_frame_id", "no warm frame", 0x8000000000000010ull, x2.id, 0, K4);
	BAD("misaligned_offset", "multiples of 4096", 0x8000000000000010ull, w1.id, 256 * 1024 + 512,
	    K4);
	BAD("misaligned_len", "multiples of 4096", 0x8000000000000010ull, w1.id, 256 * 1024, 1000);
	BAD("with_len_0", "multiples of 4096", 0x8000000000000010ull, w1.id, 256 * 1024, 0);
	BAD("reusing_a_live_carves_id_elsewhere", "id 0x8000000000000001", ID_A, w1.id, 256 * 1024,
	    K4);
	BAD("with_id_0", "id 0x0", 0, w1.id, 256 * 1024, K4);
	BAD("with_the_warm_frames_own_id", "is 0 or a live buffer", w1.id, w1.id, 256 * 1024, K4);
	BAD("one_id_twice_with_other_fields", "is 0 or a live buffer", ID_C, w1.id, 256 * 1024, K4);

	if (alloc(&s1, K4, false, TAG_D, &plain) != CONTIG__STATUS__OK)
		bail_out("plain buffer refused");
	BAD("in_a_plain_buffer", "no warm frame", 0x8000000000000010ull, plain.id, 0, K4);
	BAD("reusing_a_plain_buffers_id", "is 0 or a live buffer", plain.id, w1.id, 256 * 1024, K4);
#undef BAD
}

static void test_frees_and_transients(void)
{
	struct report rp = { 0 };
	struct result res;
	struct view before, v;

	view(&s1, &before);
	rp.frees[rp.nf++] = ID_B;
	rp.frees[rp.nf++] = 0x8000000000000badull;
	rp.frees[rp.nf++] = plain.id; /* a plain buffer is not freed by a report */
	add_transient(&rp, TAG_T, 5, 5 * K4);
	res = send_report(&s1, &rp);
	view(&s1, &v);
	ok(res.status == CONTIG__STATUS__OK && res.nunknown == 2,
	   "frees_of_unknown_ids_are_counted_in_nunknown");
	ok(!listed(&v, ID_B, TAG_B) && listed(&v, ID_A, TAG_A) && listed(&v, plain.id, TAG_D) &&
		   v.my_nbuffers == before.my_nbuffers - 1,
	   "a_freed_carve_is_no_longer_listed_and_nothing_else_went");
	ok(tag_is(&v, TAG_B, 0, 0, 1, 1), "the_freed_carves_tag_counts_its_free");
	ok(tag_is(&v, TAG_T, 0, 0, 5, 5), "transients_count_in_their_tags_nallocs_and_nfrees");
	if (!ok(v.nallocs == before.nallocs + 5 && v.nfrees == before.nfrees + 6,
		"transients_and_frees_count_in_the_daemons_nallocs_and_nfrees"))
		diag("  nallocs %" PRIu64 " -> %" PRIu64 ", nfrees %" PRIu64 " -> %" PRIu64,
		     before.nallocs, v.nallocs, before.nfrees, v.nfrees);
	view_free(&before);
	view_free(&v);
	/* The freed space can be carved again, under the same id too. */
	memset(&rp, 0, sizeof(rp));
	add_carve(&rp, ID_B, w1.id, 64 * 1024, 8 * 1024, TAG_B);
	res = send_report(&s1, &rp);
	view(&s1, &v);
	ok(res.status == CONTIG__STATUS__OK && carve_listed(&v, ID_B, &w1, 64 * 1024, 8 * 1024, TAG_B),
	   "a_freed_carves_space_and_id_can_be_carved_again");
	view_free(&v);
}

static void test_buffers_left(void)
{
	struct report rp = { 0 };
	struct result res;
	struct view v;
	struct frame f;

	/* s1 holds A, B and the plain buffer: 3 of MAX_BUFS. */
	for (uint64_t i = 0; i < MAX_BUFS - 3; i++)
		add_carve(&rp, 0x8000000000000100ull + i, w1.id, (512 + 4 * i) * 1024, K4, TAG_Q);
	res = send_report(&s1, &rp);
	ok(res.status == CONTIG__STATUS__OK && res.has_left && res.left == 0,
	   "buffers_left_is_0_at_max_buffers_per_connection");
	memset(&rp, 0, sizeof(rp));
	add_carve(&rp, 0x8000000000000200ull, w1.id, 1024 * 1024, K4, TAG_Q);
	res = send_report(&s1, &rp);
	view(&s1, &v);
	ok(res.status == CONTIG__STATUS__OK && res.left == 0 && v.my_nbuffers == MAX_BUFS + 1 &&
		   listed(&v, 0x8000000000000200ull, TAG_Q),
	   "a_carve_past_the_limit_is_recorded_and_buffers_left_stays_0");
	view_free(&v);
	ok(alloc(&s1, K4, false, 0, &f) == CONTIG__STATUS__QUOTA_EXCEEDED,
	   "past_the_limit_a_round_trip_allocate_is_refused");
	memset(&rp, 0, sizeof(rp));
	rp.frees[rp.nf++] = 0x8000000000000200ull;
	rp.frees[rp.nf++] = 0x8000000000000100ull;
	rp.frees[rp.nf++] = 0x8000000000000101ull;
	res = send_report(&s1, &rp);
	ok(res.status == CONTIG__STATUS__OK && res.left == 2,
	   "buffers_left_grows_back_with_the_frees");
}

static void test_free_warm_frame(void)
{
	struct view before, v;
	uint32_t ncarves;

	view(&s1, &before);
	ncarves = before.my_nbuffers - 1; /* all but the plain buffer */
	ok(raw_free(s1.sock, s1.seq++, w1.id) == CONTIG__STATUS__OK, "a_warm_frame_is_freed");
	view(&s1, &v);
	ok(v.my_nbuffers == 1 && v.nbufs == 1 && listed(&v, plain.id, TAG_D) && v.my_nframes == 1,
	   "its_carves_go_with_it");
	if (!ok(v.nfrees == before.nfrees + ncarves, "they_count_as_freed"))
		diag("  nfrees %" PRIu64 " -> %" PRIu64 ", %u carves", before.nfrees, v.nfrees,
		     ncarves);
	ok(tag_is(&v, TAG_A, 0, 0, 1, 1), "their_tags_count_their_frees");
	view_free(&before);
	view_free(&v);
	munmap(w1.map, FRAME);
}

/* A child that carves and dies without a word. */
static void test_death(void)
{
	struct view before, v;
	off_t mark = harness_daemon_log_len(&dm);
	pid_t pid;
	int status;
	bool whole = false;

	view(&s1, &before);
	pid = fork();
	if (pid < 0)
		bail_out("fork");
	if (pid == 0) {
		struct sess c;
		struct frame f;
		struct report rp = { 0 };

		sess_open(&c);
		if (alloc(&c, FRAME, true, 0, &f) != CONTIG__STATUS__OK)
			_exit(2);
		add_carve(&rp, 1, f.id, 0, K4, TAG_R);
		add_carve(&rp, 2, f.id, K4, K4, TAG_R);
		add_carve(&rp, 3, f.id, 8 * K4, 4 * K4, TAG_R);
		_exit(send_report(&c, &rp).status == CONTIG__STATUS__OK ? 0 : 3);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a_client_carves_three_buffers_and_dies");
	for (int i = 0; i < 200; i++) {
		view(&s1, &v);
		whole = v.nsessions == before.nsessions && v.nreleased == before.nreleased + 3 &&
			v.free_len >= before.free_len;
		if (whole)
			break;
		view_free(&v);
		usleep(50 * 1000);
	}
	if (!ok(whole, "its_carves_are_released_counted_in_nreleased_and_its_frame_comes_back"))
		diag("  sessions %u -> %u, nreleased %" PRIu64 " -> %" PRIu64 ", free %" PRIu64
		     " -> %" PRIu64, before.nsessions, v.nsessions, before.nreleased, v.nreleased,
		     before.free_len, v.free_len);
	ok(tag_is(&v, TAG_R, 0, 0, 3, 3), "its_tags_count_the_release");
	ok(harness_daemon_log_since(&dm, mark, "releasing 3 buffers, 1 frames"),
	   "the_log_reports_the_three_carves_it_held");
	view_free(&before);
	view_free(&v);
}

/* The second session's carves, as it holds them. */
struct held_carve {
	uint64_t id, frame_id, offset, len;
	uint32_t tag;
	struct frame *f;
};
static struct held_carve held[8];
static size_t nheld;

static void hold(uint64_t id, struct frame *f, uint64_t offset, uint64_t len, uint32_t tag)
{
	held[nheld++] = (struct held_carve){ id, f->id, offset, len, tag, f };
}

static bool listed_as_held(const char *when)
{
	struct view v;
	bool all = true;

	view(&s2, &v);
	for (size_t i = 0; i < nheld; i++)
		all &= carve_listed(&v, held[i].id, held[i].f, held[i].offset, held[i].len,
				    held[i].tag);
	if (v.my_nbuffers != nheld || v.my_nframes != 2) {
		diag("  %s: %u buffers in %u frames, %zu carves held", when, v.my_nbuffers,
		     v.my_nframes, nheld);
		all = false;
	}
	view_free(&v);
	return all;
}

static void test_restart(void)
{
	struct report rp = { 0 };
	struct result res;
	struct view v;

	add_carve(&rp, 0x11, x1.id, 0, K4, TAG_R);
	add_carve(&rp, 0x12, x1.id, 1024 * 1024, 256 * 1024, TAG_R);
	add_carve(&rp, 0x13, x2.id, 12 * K4, 2 * K4, TAG_D);
	add_carve(&rp, 0x14, x2.id, 0, K4, TAG_D);
	rp.frees[rp.nf++] = 0x14; /* in the same report */
	res = send_report(&s2, &rp);
	ok(res.status == CONTIG__STATUS__OK, "the_second_session_carves_its_warm_frames");
	hold(0x11, &x1, 0, K4, TAG_R);
	hold(0x12, &x1, 1024 * 1024, 256 * 1024, TAG_R);
	hold(0x13, &x2, 12 * K4, 2 * K4, TAG_D);
	ok(listed_as_held("before"), "its_carves_are_listed_before_the_restart");

	/* s1 leaves holding nothing (no session to restore): only s2 goes
	 * through the restarts. */
	ok(raw_free(s1.sock, s1.seq++, plain.id) == CONTIG__STATUS__OK,
	   "the_first_session_frees_its_plain_buffer");
	close(s1.sock);

	/* (The connection stays open through the stop: one closed before
	 * it would release the session.) */
	if (harness_daemon_kill(&dm, SIGTERM) != 0)
		diag("  SIGTERM: not a clean exit");
	close(s2.sock);
	harness_daemon_restart(&dm, args);
	ok(sess_resume(&s2), "the_session_is_resumed_after_a_sigterm_restart");
	ok(listed_as_held("after SIGTERM"),
	   "after_a_sigterm_restart_the_same_carves_are_listed_with_the_same_ids");
	view(&s2, &v);
	ok(tag_is(&v, TAG_R, 2, K4 + 256 * 1024, 2, 0) && tag_is(&v, TAG_D, 1, 2 * K4, 1, 0),
	   "and_counted_in_their_tags");
	view_free(&v);

	/* Changes after the restart, then a crash. */
	memset(&rp, 0, sizeof(rp));
	add_carve(&rp, 0x15, x2.id, 16 * K4, K4, TAG_D);
	rp.frees[rp.nf++] = 0x11;
	res = send_report(&s2, &rp);
	ok(res.status == CONTIG__STATUS__OK, "the_resumed_session_carves_and_frees");
	held[0] = (struct held_carve){ 0x15, x2.id, 16 * K4, K4, TAG_D, &x2 };
	harness_daemon_kill(&dm, SIGKILL);
	close(s2.sock);
	harness_daemon_restart(&dm, args);
	ok(sess_resume(&s2), "the_session_is_resumed_after_kill_9");
	ok(listed_as_held("after kill -9"),
	   "after_kill_9_the_same_carves_are_listed_with_the_same_ids");

	/* A report resent after the restart (its reply lost) changes nothing. */
	res = send_report(&s2, &rp);
	view(&s2, &v);
	ok(res.status == CONTIG__STATUS__OK && res.nunknown == 1 && v.my_nbuffers == nheld,
	   "a_report_resent_after_the_restart_changes_nothing");
	view_free(&v);

	/* Everything back. */
	ok(raw_free(s2.sock, s2.seq++, x1.id) == CONTIG__STATUS__OK &&
		   raw_free(s2.sock, s2.seq++, x2.id) == CONTIG__STATUS__OK,
	   "the_warm_frames_are_freed");
	view(&s2, &v);
	ok(v.my_nbuffers == 0 && v.nbufs == 0 && v.my_nframes == 0, "nothing_is_left_listed");
	view_free(&v);
	close(s2.sock);
}

static bool pool_whole(void)
{
	struct sess s;
	struct view v;
	bool whole = false;

	sess_open(&s);
	for (int i = 0; i < 200 && !whole; i++) {
		view(&s, &v);
		whole = v.free_len == v.total_len && v.total_len == POOL_LEN;
		view_free(&v);
		if (!whole)
			usleep(50 * 1000);
	}
	close(s.sock);
	return whole;
}

int main(void)
{
	char dir[] = "/tmp/test_carve.XXXXXX";
	FILE *f;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(conf_path, sizeof(conf_path), "%s/contigd.conf", dir);
	f = fopen(conf_path, "w");
	if (!f)
		bail_out("%s: %s", conf_path, strerror(errno));
	fprintf(f, "session_grace = 10s\nmax_buffers_per_connection = %u\n", MAX_BUFS);
	fclose(f);
	harness_daemon_start(&dm, args);
	alarm(getenv("CONTIGD_VALGRIND") ? 900 : 120);
	sess_open(&s1);
	sess_open(&s2);

	test_warm_and_carves();
	test_bad_reports();
	test_frees_and_transients();
	test_buffers_left();
	test_free_warm_frame();
	test_death();
	test_restart();
	ok(pool_whole(), "the_pool_is_whole_at_the_end");

	ok(harness_daemon_stop(&dm) == 0, "daemon_stops_cleanly");
	unlink(conf_path);
	rmdir(dir);
	return done_testing();
}
