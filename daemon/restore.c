/* restore.c - what survives a restart (see restore.h).
 *
 * DESIGN
 * The journal is a history; the plan is its end state. Replay collects
 * every record; then a session is live if it was opened and never closed,
 * a frame it owned is live if the session is and the frame was never
 * released, a buffer likewise if never freed. Keys are unique over the
 * journal's life, which makes this a matter of sorting, not of replaying
 * in order: a token names one session; a frame file id is given once per
 * directory (a recycled frame gets a new file); a buffer id is unique in
 * its session (its slot's generation grows with every use). Carve ids
 * are the client's and may come back after a free: a carve is live unless
 * a free of its id came after it (the records' order), and unless its warm
 * frame is gone (the frame's free took it).
 *
 * Trust: the journal is the daemon's own, but a frame's page is the
 * kernel's, so every adopted frame is located again (pagemap, node) and
 * refused if it moved: a client's device must never be told an address
 * that is no longer its buffer's. A refused frame's file is truncated, so
 * a client that kept it mapped gets SIGBUS rather than a wrong address,
 * and its session is not restored at all (a client that reclaims a session
 * must find every buffer it holds), so the rest of its frames are recycled.
 *
 * Sizes: replay holds every record of the journal in memory once; the
 * journal is compacted (restart.c, at every start and once it has grown)
 * so it stays near the size of what is live.
 *
 * Time: a restart of many sessions must not cost sessions x buffers.
 * Settling sorts (n log n in the records); then the plan keeps two
 * indexes of its frames, by (page size, file id) for adoption and by
 * token for rebuilding, and the distinct pools its frames are in; the
 * buffers are already sorted by token. Rebuilding walks the sessions
 * (sorted by token) along those two sorted lists together, so each frame
 * and each buffer is looked at once.
 */
#include "restore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

struct plan_session {
	uint8_t token[CONTIG_TOKEN_LEN];
	uint32_t uid, pid;
	char comm[16];
	uint64_t order; /* of its last SessionOpen: the latest pid and comm count */
};

struct plan_frame {
	uint8_t token[CONTIG_TOKEN_LEN];
	int node;
	uint64_t page_len, below, file_id, phys;
	int cache_type;
	struct contig_frame_file file; /* once adopted: fd >= 0 */
	bool adopted;
};

struct plan_buffer {
	uint8_t token[CONTIG_TOKEN_LEN];
	uint64_t id;
	int node;
	uint64_t page_len, below, phys, len, req_len, seq;
	int cache_type;
	uint32_t tag;
	bool warm;
};

/* A carve (Carves.allocs) and when it came: a carve id may be reused
 * after its free, so a free counts against the allocs before it only. */
struct plan_carve {
	uint8_t token[CONTIG_TOKEN_LEN];
	struct contig_carve_entry e;
	uint64_t order;
	size_t pos; /* in the journal: orders carves of one record */
};

struct plan_key {
	uint8_t token[CONTIG_TOKEN_LEN]; /* releases: zero */
	uint64_t a, b, c;                /* (id) or (node, page_len, file_id) */
};

struct plan_pool {
	int node;
	uint64_t page_len, below, hugepages_added;
};

#define VEC(type)                                                                                  \
	struct {                                                                                   \
		type *v;                                                                           \
		size_t n, cap;                                                                     \
	}

struct contig_restore {
	VEC(struct plan_session) opens;
	VEC(struct plan_key) closes;
	VEC(struct plan_frame) owns;
	VEC(struct plan_key) releases;
	VEC(struct plan_buffer) allocs;
	VEC(struct plan_key) frees;
	VEC(struct plan_carve) carves;
	VEC(struct plan_key) carve_frees; /* (token, id, order) */
	VEC(struct plan_pool) pools;
	uint32_t *owns_by_file;  /* indexes of owns by (page_len, file_id), then index */
	uint32_t *owns_by_token; /* indexes of owns by token, then index */
	VEC(struct plan_pool) frame_pools; /* the distinct pools of owns, first seen first */
	uint64_t nrecords;
	uint64_t valid_len;
	bool torn;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *grown;

	if (n < *cap)
		return 0;
	ncap = *cap ? 2 * *cap : 64;
	grown = realloc(*v, ncap * size);
	if (!grown)
		return -ENOMEM;
	*v = grown;
	*cap = ncap;
	return 0;
}

#define PUSH(vec, item)                                                                            \
	(grow((void **)&(vec).v, &(vec).cap, (vec).n, sizeof(*(vec).v)) < 0                        \
		 ? -ENOMEM                                                                         \
		 : ((vec).v[(vec).n++] = (item), 0))

/* qsort() of a vector, which may be empty (and its array NULL). */
#define SORT(vec, cmp)                                                                             \
	do {                                                                                       \
		if ((vec).n)                                                                       \
			qsort((vec).v, (vec).n, sizeof(*(vec).v), cmp);                            \
	} while (0)

static int on_record(const struct contig_journal_record *rec, void *arg)
{
	struct contig_restore *r = arg;
	struct plan_key key = { 0 };

	r->nrecords++;
	switch (rec->type) {
	case CONTIG_JOURNAL_SESSION_OPEN: {
		struct plan_session s = { .uid = rec->uid, .pid = rec->pid, .order = r->nrecords };

		memcpy(s.token, rec->token, CONTIG_TOKEN_LEN);
		memcpy(s.comm, rec->comm, sizeof(s.comm));
		return PUSH(r->opens, s);
	}
	case CONTIG_JOURNAL_SESSION_CLOSE:
		memcpy(key.token, rec->token, CONTIG_TOKEN_LEN);
		return PUSH(r->closes, key);
	case CONTIG_JOURNAL_FRAME_OWN: {
		struct plan_frame f = { .node = (int)rec->node, .page_len = rec->page_len,
					.below = rec->below, .file_id = rec->file_id, .phys = rec->phys,
					.cache_type = rec->cache_type, .file = { .fd = -1 } };

		memcpy(f.token, rec->token, CONTIG_TOKEN_LEN);
		return PUSH(r->owns, f);
	}
	case CONTIG_JOURNAL_FRAME_RELEASE:
		key.a = rec->node;
		key.b = rec->page_len;
		key.c = rec->file_id;
		return PUSH(r->releases, key);
	case CONTIG_JOURNAL_BUFFER_ALLOC: {
		struct plan_buffer b = { .id = rec->id, .node = (int)rec->node,
					 .page_len = rec->page_len, .below = rec->below,
					 .phys = rec->phys,
					 .len = rec->len, .req_len = rec->req_len, .seq = rec->seq,
					 .cache_type = rec->cache_type, .tag = rec->tag,
					 .warm = rec->warm };

		memcpy(b.token, rec->token, CONTIG_TOKEN_LEN);
		return PUSH(r->allocs, b);
	}
	case CONTIG_JOURNAL_BUFFER_FREE:
		memcpy(key.token, rec->token, CONTIG_TOKEN_LEN);
		key.a = rec->id;
		return PUSH(r->frees, key);
	case CONTIG_JOURNAL_CARVES:
		/* Allocs before frees within a record (order 2n, then 2n + 1). */
		for (size_t i = 0; i < rec->ncarves; i++) {
			struct plan_carve c = { .e = rec->carves[i], .order = 2 * r->nrecords,
						.pos = r->carves.n };

			memcpy(c.token, rec->token, CONTIG_TOKEN_LEN);
			if (PUSH(r->carves, c) < 0)
				return -ENOMEM;
		}
		for (size_t i = 0; i < rec->nfrees; i++) {
			key = (struct plan_key){ .a = rec->frees[i], .b = 2 * r->nrecords + 1 };
			memcpy(key.token, rec->token, CONTIG_TOKEN_LEN);
			if (PUSH(r->carve_frees, key) < 0)
				return -ENOMEM;
		}
		return 0;
	case CONTIG_JOURNAL_POOL:
		for (size_t i = 0; i < r->pools.n; i++)
			if (r->pools.v[i].node == (int)rec->node &&
			    r->pools.v[i].page_len == rec->page_len &&
			    r->pools.v[i].below == rec->below) {
				r->pools.v[i].hugepages_added = rec->hugepages_added;
				return 0;
			}
		return PUSH(r->pools, ((struct plan_pool){ (int)rec->node, rec->page_len,
							   rec->below, rec->hugepages_added }));
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct plan_key *x = a, *y = b;
	int c = memcmp(x->token, y->token, CONTIG_TOKEN_LEN);

	if (c)
		return c;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return x->c < y->c ? -1 : x->c > y->c;
}

static bool has_key(const void *keys, size_t n, const struct plan_key *key)
{
	return n && bsearch(key, keys, n, sizeof(*key), cmp_key) != NULL;
}

/* Sessions by token, the last SessionOpen of each first. */
static int cmp_session(const void *a, const void *b)
{
	const struct plan_session *x = a, *y = b;
	int c = memcmp(x->token, y->token, CONTIG_TOKEN_LEN);

	return c ? c : x->order > y->order ? -1 : x->order < y->order;
}

static bool session_live(const struct contig_restore *r, const uint8_t *token)
{
	struct plan_key key = { 0 };

	memcpy(key.token, token, CONTIG_TOKEN_LEN);
	for (size_t lo = 0, hi = r->opens.n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(r->opens.v[mid].token, token, CONTIG_TOKEN_LEN);

		if (c == 0)
			return !has_key(r->closes.v, r->closes.n, &key);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Carves by token, then in the order they came (the order they are
 * restored in: a frame's carves after it, a reused id after its free). */
static int cmp_carve(const void *a, const void *b)
{
	const struct plan_carve *x = a, *y = b;
	int c = memcmp(x->token, y->token, CONTIG_TOKEN_LEN);

	return c ? c : x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Buffers by token (then id); and a token against a buffer, for bsearch. */
static int cmp_buffer(const void *a, const void *b)
{
	const struct plan_buffer *x = a, *y = b;
	int c = memcmp(x->token, y->token, CONTIG_TOKEN_LEN);

	return c ? c : x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_token_buffer(const void *token, const void *b)
{
	return memcmp(token, ((const struct plan_buffer *)b)->token, CONTIG_TOKEN_LEN);
}

/* Indexes of owns, for qsort_r() with the plan as its argument: by
 * (page_len, file_id), and by token; ties by index (the journal's order). */
static int cmp_own_file(const void *a, const void *b, void *arg)
{
	const struct contig_restore *r = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	const struct plan_frame *x = &r->owns.v[i], *y = &r->owns.v[j];

	if (x->page_len != y->page_len)
		return x->page_len < y->page_len ? -1 : 1;
	if (x->file_id != y->file_id)
		return x->file_id < y->file_id ? -1 : 1;
	return i < j ? -1 : i > j;
}

static int cmp_own_token(const void *a, const void *b, void *arg)
{
	const struct contig_restore *r = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = memcmp(r->owns.v[i].token, r->owns.v[j].token, CONTIG_TOKEN_LEN);

	return c ? c : i < j ? -1 : i > j;
}

/* The live frames' indexes and the distinct pools they are in. */
static int plan_index(struct contig_restore *r)
{
	if (!r->owns.n)
		return 0;
	r->owns_by_file = malloc(r->owns.n * sizeof(*r->owns_by_file));
	r->owns_by_token = malloc(r->owns.n * sizeof(*r->owns_by_token));
	if (!r->owns_by_file || !r->owns_by_token)
		return -ENOMEM;
	for (size_t i = 0; i < r->owns.n; i++) {
		const struct plan_frame *f = &r->owns.v[i];
		size_t k;

		r->owns_by_file[i] = r->owns_by_token[i] = (uint32_t)i;
		for (k = 0; k < r->frame_pools.n; k++)
			if (r->frame_pools.v[k].node == f->node &&
			    r->frame_pools.v[k].page_len == f->page_len &&
			    r->frame_pools.v[k].below == f->below)
				break;
		if (k == r->frame_pools.n &&
		    PUSH(r->frame_pools, ((struct plan_pool){ f->node, f->page_len, f->below, 0 })) < 0)
			return -ENOMEM;
	}
	qsort_r(r->owns_by_file, r->owns.n, sizeof(*r->owns_by_file), cmp_own_file, r);
	qsort_r(r->owns_by_token, r->owns.n, sizeof(*r->owns_by_token), cmp_own_token, r);
	return 0;
}

/* Reduce the history to what is live, and index it. Returns 0 or -ENOMEM. */
static int plan_settle(struct contig_restore *r)
{
	size_t n = 0;

	SORT(r->closes, cmp_key);
	SORT(r->releases, cmp_key);
	SORT(r->frees, cmp_key);
	SORT(r->opens, cmp_session);
	for (size_t i = 0; i < r->opens.n; i++)
		if (i == 0 || memcmp(r->opens.v[i].token, r->opens.v[n - 1].token,
				     CONTIG_TOKEN_LEN) != 0)
			r->opens.v[n++] = r->opens.v[i];
	r->opens.n = n;
	for (size_t i = n = 0; i < r->owns.n; i++) {
		struct plan_frame *f = &r->owns.v[i];
		struct plan_key key = { .a = (uint64_t)f->node, .b = f->page_len, .c = f->file_id };

		if (session_live(r, f->token) && !has_key(r->releases.v, r->releases.n, &key))
			r->owns.v[n++] = *f;
	}
	r->owns.n = n;
	for (size_t i = n = 0; i < r->allocs.n; i++) {
		struct plan_buffer *b = &r->allocs.v[i];
		struct plan_key key = { .a = b->id };

		memcpy(key.token, b->token, CONTIG_TOKEN_LEN);
		if (session_live(r, b->token) && !has_key(r->frees.v, r->frees.n, &key))
			r->allocs.v[n++] = *b;
	}
	r->allocs.n = n;
	/* A carve is live if its session is and no free of its id came after
	 * it (a warm frame's free takes its carves: contig_restore_sessions()
	 * drops those whose frame is not restored). */
	SORT(r->carve_frees, cmp_key);
	for (size_t i = n = 0; i < r->carves.n; i++) {
		struct plan_carve *c = &r->carves.v[i];
		struct plan_key key = { .a = c->e.id, .b = UINT64_MAX, .c = UINT64_MAX };
		size_t lo = 0, hi = r->carve_frees.n;

		memcpy(key.token, c->token, CONTIG_TOKEN_LEN);
		while (lo < hi) { /* the first free after every one of (token, id) */
			size_t mid = lo + (hi - lo) / 2;

			if (cmp_key(&r->carve_frees.v[mid], &key) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!session_live(r, c->token))
			continue;
		if (lo > 0 && r->carve_frees.v[lo - 1].a == c->e.id &&
		    memcmp(r->carve_frees.v[lo - 1].token, c->token, CONTIG_TOKEN_LEN) == 0 &&
		    r->carve_frees.v[lo - 1].b > c->order)
			continue; /* freed since */
		r->carves.v[n++] = *c;
	}
	r->carves.n = n;
	SORT(r->carves, cmp_carve);
	/* Only sessions that still hold a buffer are worth keeping; the others
	 * would be empty orphans. */
	SORT(r->allocs, cmp_buffer);
	for (size_t i = n = 0; i < r->opens.n; i++)
		if (r->allocs.n && bsearch(r->opens.v[i].token, r->allocs.v, r->allocs.n,
					   sizeof(*r->allocs.v), cmp_token_buffer))
			r->opens.v[n++] = r->opens.v[i];
	r->opens.n = n;
	return plan_index(r);
}

int contig_restore_load(const char *path, struct contig_restore **ret_restore, char *err,
			size_t errlen)
{
	struct contig_restore *r = calloc(1, sizeof(*r));
	int torn = 0, ret;

	if (!r)
		return -ENOMEM;
	ret = contig_journal_replay(path, on_record, r, &r->valid_len, &torn, err, errlen);
	if (ret < 0) {
		contig_restore_free(r);
		return ret;
	}
	r->torn = torn;
	ret = plan_settle(r);
	if (ret < 0) {
		snprintf(err, errlen, "reading journal %s: %s", path, strerror(-ret));
		contig_restore_free(r);
		return ret;
	}
	*ret_restore = r;
	return 0;
}

void contig_restore_free(struct contig_restore *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->owns.n; i++)
		if (r->owns.v[i].file.fd >= 0)
			contig_frame_close(&r->owns.v[i].file);
	free(r->opens.v);
	free(r->closes.v);
	free(r->owns.v);
	free(r->releases.v);
	free(r->allocs.v);
	free(r->frees.v);
	free(r->carves.v);
	free(r->carve_frees.v);
	free(r->pools.v);
	free(r->owns_by_file);
	free(r->owns_by_token);
	free(r->frame_pools.v);
	free(r);
}

bool contig_restore_torn(const struct contig_restore *r, uint64_t *ret_valid_len)
{
	*ret_valid_len = r->valid_len;
	return r->torn;
}

size_t contig_restore_nsessions(const struct contig_restore *r)
{
	return r ? r->opens.n : 0;
}

uint32_t contig_restore_nframes(const struct contig_restore *r, int node, uint64_t page_len,
				uint64_t below)
{
	uint32_t n = 0;

	for (size_t i = 0; r && i < r->owns.n; i++)
		n += r->owns.v[i].node == node && r->owns.v[i].page_len == page_len &&
		     r->owns.v[i].below == below;
	return n;
}

uint64_t contig_restore_hugepages_added(const struct contig_restore *r, int node,
					uint64_t page_len, uint64_t below)
{
	for (size_t i = 0; r && i < r->pools.n; i++)
		if (r->pools.v[i].node == node && r->pools.v[i].page_len == page_len &&
		    r->pools.v[i].below == below)
			return r->pools.v[i].hugepages_added;
	return 0;
}

bool contig_restore_pool(const struct contig_restore *r, size_t i, int *ret_node,
			 uint64_t *ret_page_len, uint64_t *ret_below)
{
	if (!r || i >= r->frame_pools.n)
		return false;
	*ret_node = r->frame_pools.v[i].node;
	*ret_page_len = r->frame_pools.v[i].page_len;
	*ret_below = r->frame_pools.v[i].below;
	return true;
}

__attribute__((format(printf, 4, 5))) static void sayf(contig_restore_say_fn *say, void *arg,
						       int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say(level, msg, arg);
}

/* The frame of the plan (the first in the journal's order) whose file is
 * @file_id in the directory of @page_len; NULL if none. */
static struct plan_frame *own_of_file(struct contig_restore *r, uint64_t page_len,
				      uint64_t file_id)
{
	size_t lo = 0, hi = r ? r->owns.n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct plan_frame *f = &r->owns.v[r->owns_by_file[mid]];

		if (f->page_len < page_len || (f->page_len == page_len && f->file_id < file_id))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (r && lo < r->owns.n) {
		struct plan_frame *f = &r->owns.v[r->owns_by_file[lo]];

		if (f->page_len == page_len && f->file_id == file_id)
			return f;
	}
	return NULL;
}

int contig_restore_adopt(struct contig_restore *r, struct contig_frame_dir *dir,
			 contig_restore_say_fn *say, void *arg)
{
	uint64_t page_len = contig_frame_dir_page_len(dir);
	struct contig_frame_found *found;
	size_t nfound, nother = 0;
	int ret = contig_frame_dir_scan(dir, &found, &nfound);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < nfound; i++) {
		struct contig_frame_found *ff = &found[i];
		struct plan_frame *pf = own_of_file(r, page_len, ff->file.id);

		if (!pf) {
			nother++;
		} else if (!ff->whole) {
			sayf(say, arg, LOG_WARNING, "frame-%" PRIu64 " of %s refused: it no longer "
			     "holds its whole page (its client truncated it)", ff->file.id,
			     contig_frame_dir_path(dir));
		} else if (ff->file.phys != pf->phys || ff->node != pf->node) {
			sayf(say, arg, LOG_WARNING, "frame-%" PRIu64 " of %s refused: its page moved "
			     "from 0x%" PRIx64 " on node %d to 0x%" PRIx64 " on node %d; its buffers "
			     "are dropped (their client gets SIGBUS, never a wrong address)",
			     ff->file.id, contig_frame_dir_path(dir), pf->phys, pf->node,
			     ff->file.phys, ff->node);
		} else {
			pf->file = ff->file;
			pf->adopted = true;
			continue;
		}
		contig_frame_release(dir, &ff->file);
	}
	free(found);
	for (size_t k = 0; r && k < r->owns.n; k++)
		if (r->owns.v[k].page_len == page_len && !r->owns.v[k].adopted &&
		    r->owns.v[k].file.fd < 0)
			sayf(say, arg, LOG_WARNING, "frame-%" PRIu64 " of %s is gone: its buffers are "
			     "dropped", r->owns.v[k].file_id, contig_frame_dir_path(dir));
	if (nother)
		sayf(say, arg, LOG_INFO, "%s: %zu frame files no session owned were released",
		     contig_frame_dir_path(dir), nother);
	return 0;
}

int contig_restore_take_files(struct contig_restore *r, int node, uint64_t page_len,
			      uint64_t below, struct contig_frame_file **ret_files, uint32_t *ret_n)
{
	struct contig_frame_file *files = NULL;
	uint32_t n = 0, cap = contig_restore_nframes(r, node, page_len, below);

	*ret_files = NULL;
	*ret_n = 0;
	if (!cap)
		return 0;
	files = calloc(cap, sizeof(*files));
	if (!files)
		return -ENOMEM;
	for (size_t k = 0; k < r->owns.n; k++) {
		struct plan_frame *pf = &r->owns.v[k];

		if (pf->node == node && pf->page_len == page_len && pf->below == below &&
		    pf->adopted && pf->file.fd >= 0) {
			files[n++] = pf->file;
			pf->file.fd = -1; /* the pool's now */
		}
	}
	*ret_files = files;
	*ret_n = n;
	return 0;
}

/* The walk: w->session is the next session to give; frame, buffer and
 * carve are positions in owns_by_token, allocs and carves (all sorted by
 * token), moved past the entries of tokens before the current session's
 * when it is given, so each entry is looked at once over the walk. */
static int token_cmp(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, CONTIG_TOKEN_LEN);
}

bool contig_restore_next_session(const struct contig_restore *r, struct contig_restore_walk *w,
				 struct contig_restore_session *out)
{
	const struct plan_session *ps;

	if (!r || w->session >= r->opens.n)
		return false;
	ps = &r->opens.v[w->session++];
	/* (Frames of sessions left out of the plan, which hold no buffer,
	 * sort before and are passed over.) */
	while (w->frame < r->owns.n &&
	       token_cmp(r->owns.v[r->owns_by_token[w->frame]].token, ps->token) < 0)
		w->frame++;
	while (w->buffer < r->allocs.n && token_cmp(r->allocs.v[w->buffer].token, ps->token) < 0)
		w->buffer++;
	while (w->carve < r->carves.n && token_cmp(r->carves.v[w->carve].token, ps->token) < 0)
		w->carve++;
	w->token = ps->token;
	*out = (struct contig_restore_session){ .token = ps->token, .uid = ps->uid,
						.pid = ps->pid, .comm = ps->comm };
	return true;
}

bool contig_restore_next_frame(const struct contig_restore *r, struct contig_restore_walk *w,
			       struct contig_restore_frame *out)
{
	for (; r && w->token && w->frame < r->owns.n; w->frame++) {
		const struct plan_frame *pf = &r->owns.v[r->owns_by_token[w->frame]];

		if (token_cmp(pf->token, w->token) != 0)
			return false;
		if (!pf->adopted)
			continue;
		*out = (struct contig_restore_frame){ .node = pf->node, .page_len = pf->page_len,
						      .below = pf->below, .phys = pf->phys,
						      .cache_type = pf->cache_type };
		w->frame++;
		return true;
	}
	return false;
}

bool contig_restore_next_buffer(const struct contig_restore *r, struct contig_restore_walk *w,
				struct contig_restore_buffer *out)
{
	const struct plan_buffer *pb;

	if (!r || !w->token || w->buffer >= r->allocs.n)
		return false;
	pb = &r->allocs.v[w->buffer];
	if (token_cmp(pb->token, w->token) != 0)
		return false;
	*out = (struct contig_restore_buffer){ .id = pb->id, .node = pb->node,
					       .page_len = pb->page_len, .below = pb->below,
					       .phys = pb->phys, .len = pb->len,
					       .req_len = pb->req_len, .seq = pb->seq,
					       .cache_type = pb->cache_type, .tag = pb->tag,
					       .warm = pb->warm };
	w->buffer++;
	return true;
}

bool contig_restore_next_carve(const struct contig_restore *r, struct contig_restore_walk *w,
			       struct contig_carve_entry *out)
{
	const struct plan_carve *pc;

	if (!r || !w->token || w->carve >= r->carves.n)
		return false;
	pc = &r->carves.v[w->carve];
	if (token_cmp(pc->token, w->token) != 0)
		return false;
	*out = pc->e;
	w->carve++;
	return true;
}
