/* fake.c - frames, recycler, server and log faked in memory for the
 * request fuzzer (see fake.h).
 *
 * DESIGN
 * A fake frame directory is a fixed, sorted map of page-aligned physical
 * addresses; a frame file is "held" page of it, with a descriptor that
 * encodes (directory, page) so that the harness can tell which page a
 * reply's descriptor stands for. Nothing is ever mapped. Recycling keeps
 * the page, moves the frame to a page no frame file holds (as the kernel
 * may), or loses it, as the input's chaos settings and seed decide. The
 * real code never sees a page twice: the map says which pages are held,
 * and every release checks that the file held the page it names.
 *
 * The send callback it gives rpc.c (contig_rpc_set_ops(), as server.c
 * does) unpacks every reply (a reply rpc.c cannot have
 * packed correctly stops the fuzzer) and records it on the connection for
 * the harness to check against the request.
 */
#include "fake.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contig.pb-c.h"
#include "frames.h"
#include "log.h"
#include "recycle.h"
#include "restart_record.h"
#include "restore.h"

struct contig_frame_dir {
	int index;
	uint64_t page_len;
	uint64_t *pages; /* physical address of each page, ascending */
	bool *spare;     /* not handed out at reserve time */
	bool *held;      /* a frame file holds it */
	uint32_t npages;
	uint64_t next_id;
};

struct contig_recycler {
	struct contig_frame *head, **tail; /* FIFO */
	size_t len;
};

static struct contig_frame_dir *dirs[FAKE_MAX_DIRS];
static uint64_t rng_state;
static struct fake_chaos chaos;
static uint32_t nlost;

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
	abort();
}

void fake_reset(uint64_t seed, const struct fake_chaos *c)
{
	rng_state = seed;
	chaos = *c;
	nlost = 0;
}

/* splitmix64 */
uint32_t fake_rand(uint32_t n)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	return (uint32_t)(z % n);
}

uint32_t fake_nlost(void)
{
	return nlost;
}

/* ---- frame directories ---- */

struct contig_frame_dir *fake_dir_new(int index, uint64_t page_len,
				      const struct fake_page_run *runs, size_t nruns)
{
	struct contig_frame_dir *dir = calloc(1, sizeof(*dir));
	uint32_t n = 0;

	fuzz_check(dir && index >= 0 && index < FAKE_MAX_DIRS && !dirs[index]);
	for (size_t i = 0; i < nruns; i++)
		n += runs[i].npages;
	dir->index = index;
	dir->page_len = page_len;
	dir->pages = calloc(n, sizeof(*dir->pages));
	dir->spare = calloc(n, sizeof(*dir->spare));
	dir->held = calloc(n, sizeof(*dir->held));
	fuzz_check(dir->pages && dir->spare && dir->held && n < FAKE_FD_DIR);
	for (size_t i = 0; i < nruns; i++)
		for (uint32_t k = 0; k < runs[i].npages; k++) {
			dir->pages[dir->npages] = runs[i].phys + k * page_len;
			dir->spare[dir->npages] = runs[i].spare;
			fuzz_check(dir->pages[dir->npages] % page_len == 0);
			fuzz_check(dir->npages == 0 ||
				   dir->pages[dir->npages] > dir->pages[dir->npages - 1]);
			dir->npages++;
		}
	dirs[index] = dir;
	return dir;
}

void fake_dir_free(struct contig_frame_dir *dir)
{
	if (!dir)
		return;
	fuzz_check(fake_dir_nheld(dir) == 0); /* every frame file released */
	dirs[dir->index] = NULL;
	free(dir->pages);
	free(dir->spare);
	free(dir->held);
	free(dir);
}

uint32_t fake_dir_nheld(const struct contig_frame_dir *dir)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < dir->npages; i++)
		n += dir->held[i];
	return n;
}

static int page_fd(const struct contig_frame_dir *dir, uint32_t page)
{
	return FAKE_FD_BASE + dir->index * FAKE_FD_DIR + (int)page;
}

bool fake_fd_phys(int fd, const struct contig_frame_dir **ret_dir, uint64_t *ret_phys)
{
	const struct contig_frame_dir *dir;
	uint32_t page;

	if (fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + FAKE_MAX_DIRS * FAKE_FD_DIR)
		return false;
	dir = dirs[(fd - FAKE_FD_BASE) / FAKE_FD_DIR];
	page = (uint32_t)((fd - FAKE_FD_BASE) % FAKE_FD_DIR);
	if (!dir || page >= dir->npages || !dir->held[page])
		return false;
	*ret_dir = dir;
	*ret_phys = dir->pages[page];
	return true;
}

/* The page @file holds, checked against the map. */
static uint32_t file_page(const struct contig_frame_dir *dir, const struct contig_frame_file *file)
{
	const struct contig_frame_dir *fd_dir = NULL;
	uint64_t phys = 0;

	fuzz_check(fake_fd_phys(file->fd, &fd_dir, &phys));
	fuzz_check(fd_dir == dir && phys == file->phys);
	return (uint32_t)((file->fd - FAKE_FD_BASE) % FAKE_FD_DIR);
}

static void hold(struct contig_frame_dir *dir, uint32_t page, struct contig_frame_file *ret_file)
{
	fuzz_check(!dir->held[page]);
	dir->held[page] = true;
	*ret_file = (struct contig_frame_file){
		.fd = page_fd(dir, page),
		.id = dir->next_id++,
		.phys = dir->pages[page],
	};
}

uint64_t contig_frame_dir_page_len(const struct contig_frame_dir *dir)
{
	return dir->page_len;
}

int contig_frame_reserve_many(struct contig_frame_dir *dir, int node, size_t nframes,
			      unsigned nthreads, void (*progress)(size_t done, void *arg),
			      void *progress_arg, struct contig_frame_file *ret_files)
{
	(void)progress;
	(void)progress_arg;
	uint32_t *order = calloc(dir->npages ? dir->npages : 1, sizeof(*order));
	uint32_t n = 0;

	(void)node;
	(void)nthreads;
	fuzz_check(order);
	for (uint32_t i = 0; i < dir->npages; i++)
		if (!dir->spare[i] && !dir->held[i])
			order[n++] = i;
	if (n < nframes) {
		free(order);
		return -ENOSPC;
	}
	/* The kernel hands out pages in no particular order. */
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = fake_rand(i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < nframes; i++)
		hold(dir, order[i], &ret_files[i]);
	free(order);
	return 0;
}

void contig_frame_release(struct contig_frame_dir *dir, struct contig_frame_file *file)
{
	if (file->fd < 0)
		return;
	dir->held[file_page(dir, file)] = false;
	file->fd = -1;
}

void contig_frame_close(struct contig_frame_file *file)
{
	(void)file;
	fuzz_check(!"a frame kept for a next instance without a journal");
}

int contig_frame_recycle(struct contig_frame_dir *dir, int node, struct contig_frame_file *file,
			 bool retry)
{
	uint32_t page, to;

	(void)node;
	fuzz_check(!retry); /* only server.c retries lost frames, and it is not here */
	page = to = file_page(dir, file);
	if (fake_rand(100) < chaos.lose_pct) {
		contig_frame_release(dir, file);
		nlost++;
		return -ENOSPC;
	}
	if (fake_rand(100) < chaos.move_pct) {
		uint32_t nfree = 0;

		for (uint32_t i = 0; i < dir->npages; i++)
			nfree += !dir->held[i];
		if (nfree) {
			uint32_t k = fake_rand(nfree);

			for (to = 0; dir->held[to] || k--; to++)
				;
		}
	}
	dir->held[page] = false;
	hold(dir, to, file);
	file->truncated = fake_rand(100) < chaos.truncated_pct;
	return 0;
}

/* ---- looking at the pools without calling them ---- */

const struct contig_frame *fake_frame_at(const struct contig_pool *pool, uint64_t phys)
{
	uint64_t base = phys - phys % pool->page_len;
	uint32_t lo = 0, hi = pool->nby_phys;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (pool->by_phys[mid]->phys < base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < pool->nby_phys && pool->by_phys[lo]->phys == base ? pool->by_phys[lo] : NULL;
}

/* ---- recycler ---- */

struct contig_recycler *fake_recycler_new(void)
{
	struct contig_recycler *rec = calloc(1, sizeof(*rec));

	fuzz_check(rec);
	rec->tail = &rec->head;
	return rec;
}

void fake_recycler_free(struct contig_recycler *rec)
{
	if (!rec)
		return;
	fuzz_check(rec->len == 0);
	free(rec);
}

void contig_recycler_push(struct contig_recycler *rec, struct contig_frame *frame)
{
	fuzz_check(frame->state == CONTIG_FRAME_RECYCLING && !frame->owner && frame->nbuffers == 0);
	for (const struct contig_frame *f = rec->head; f; f = f->next)
		fuzz_check(f != frame);
	frame->next = NULL;
	*rec->tail = frame;
	rec->tail = &frame->next;
	rec->len++;
}

size_t fake_recycler_len(const struct contig_recycler *rec)
{
	return rec->len;
}

size_t fake_recycler_drain(struct contig_recycler *rec, size_t max)
{
	size_t n = 0;

	while (rec->head && n < max) {
		struct contig_frame *f = rec->head;
		struct contig_pool *pool = f->pool;
		int err;

		rec->head = f->next;
		if (!rec->head)
			rec->tail = &rec->head;
		rec->len--;
		fuzz_check(f->state == CONTIG_FRAME_RECYCLING);
		err = contig_frame_recycle(pool->dir, pool->node, &f->file, false);
		f->recycle_err = err;
		contig_pool_frame_recycled(f);
		/* The pool had no reason of its own to refuse the frame. */
		fuzz_check(f->recycle_err == err);
		if (err == 0)
			fuzz_check(f->state == CONTIG_FRAME_FREE && f->phys == f->file.phys &&
				   fake_frame_at(pool, f->phys) == f);
		else
			fuzz_check(f->state == CONTIG_FRAME_LOST && f->file.fd == -1);
		n++;
	}
	return n;
}

/* ---- server ---- */

static int fake_send(struct contig_conn *conn, const void *data, size_t len, const int *fds,
		     size_t nfds)
{
	Contig__Reply *reply;
	struct fake_reply *r;

	fuzz_check(len <= CONTIG_MAX_REPLY_LEN && nfds <= CONTIG_FDS_PER_DATAGRAM);
	if (conn->closing)
		return -EPIPE;
	reply = contig__reply__unpack(NULL, len, data);
	fuzz_check(reply != NULL);
	if (conn->nreplies == conn->cap) {
		size_t cap = conn->cap ? conn->cap * 2 : 4;
		struct fake_reply *grown = realloc(conn->replies, cap * sizeof(*grown));

		fuzz_check(grown);
		conn->replies = grown;
		conn->cap = cap;
	}
	r = &conn->replies[conn->nreplies++];
	memset(r, 0, sizeof(*r));
	r->seq = reply->seq;
	r->status = reply->status;
	r->body_case = reply->body_case;
	r->has_message = reply->message && reply->message[0];
	if (r->has_message)
		snprintf(r->message, sizeof(r->message), "%s", reply->message);
	switch (reply->body_case) {
	case CONTIG__REPLY__BODY_ALLOC:
		r->buffer_id = reply->alloc->buffer_id;
		r->phys = reply->alloc->phys;
		r->len = reply->alloc->len;
		r->page_len = reply->alloc->page_len;
		r->offset = reply->alloc->offset;
		r->nframes = reply->alloc->nframes;
		r->node = reply->alloc->node;
		break;
	case CONTIG__REPLY__BODY_FRAMES:
		r->first = reply->frames->first;
		break;
	case CONTIG__REPLY__BODY_STATS:
		r->n_sessions = (uint32_t)reply->stats->n_sessions;
		r->n_tags = (uint32_t)reply->stats->n_tags;
		r->my_nbuffers = reply->stats->my_nbuffers;
		r->my_len = reply->stats->my_len;
		r->my_nframes = reply->stats->my_nframes;
		for (size_t i = 0; i < reply->stats->n_tags && i < FAKE_MAX_TAGS; i++) {
			r->tags[i].tag = reply->stats->tags[i]->tag;
			r->tags[i].nbuffers = reply->stats->tags[i]->nbuffers;
			r->tags[i].len = reply->stats->tags[i]->len;
		}
		r->has_nbuffers_listed = reply->stats->has_nbuffers_listed;
		r->nbuffers_listed = reply->stats->nbuffers_listed;
		r->has_nframes_listed = reply->stats->has_nframes_listed;
		r->nframes_listed = reply->stats->nframes_listed;
		r->has_generation = reply->stats->has_generation;
		r->n_buffers = (uint32_t)reply->stats->n_buffers;
		r->n_frames = (uint32_t)reply->stats->n_frames;
		for (size_t i = 0; i < reply->stats->n_buffers && i < FAKE_MAX_LISTED; i++) {
			const Contig__BufferInfo *b = reply->stats->buffers[i];

			r->buffers[i].id = b->id;
			r->buffers[i].phys = b->phys;
			r->buffers[i].len = b->len;
			r->buffers[i].pid = b->pid;
			r->buffers[i].uid = b->uid;
			r->buffers[i].pool = b->pool;
			r->buffers[i].tag = b->tag;
			r->buffers[i].cache_type = b->cache_type;
		}
		for (size_t i = 0; i < reply->stats->n_frames && i < FAKE_MAX_LISTED; i++) {
			const Contig__FrameInfo *f = reply->stats->frames[i];

			r->frames[i].phys = f->phys;
			r->frames[i].pool = f->pool;
			r->frames[i].state = f->state;
			/* The three owner fields come together or not at all. */
			fuzz_check(f->has_owner_pid == f->has_cache_type &&
				   f->has_owner_pid == f->has_nbuffers);
			r->frames[i].has_owner = f->has_owner_pid;
			r->frames[i].owner_pid = f->owner_pid;
			r->frames[i].cache_type = f->cache_type;
			r->frames[i].nbuffers = f->nbuffers;
		}
		break;
	default:
		break;
	}
	contig__reply__free_unpacked(reply, NULL);
	r->nfds = nfds;
	for (size_t i = 0; i < nfds; i++) {
		const struct contig_frame_dir *dir;

		/* Only a frame file in service may be passed on. */
		fuzz_check(fake_fd_phys(fds[i], &dir, &r->fd_phys[i]));
	}
	if (r->status != CONTIG__STATUS__OK)
		fuzz_check(r->has_message && nfds == 0 &&
			   r->body_case == CONTIG__REPLY__BODY__NOT_SET);
	if (conn->fail_sends) {
		/* server.c: the reply queue overflowed; close after this request. */
		conn->closing = true;
		return -ENOBUFS;
	}
	return 0;
}

static const char *fake_conn_name(const struct contig_conn *conn)
{
	(void)conn;
	return "fuzz";
}

/* The world has no journal (pools->journal NULL), so no session is ever
 * journaled or resumed: reaching these is a bug of session.c or rpc.c. */
static void fake_set_session(struct contig_conn *conn, struct contig_session *session)
{
	(void)conn;
	(void)session;
	fuzz_check(!"a session resumed without a journal");
}

const struct contig_rpc_ops fake_conn_ops = {
	.send = fake_send,
	.name = fake_conn_name,
	.set_session = fake_set_session,
};

/* No session is journaled (contig_session_journal_open() needs a
 * journal), so session.c never tells the restart module anything. */
static void fake_no_record(void)
{
	fuzz_check(!"a journal record without a journal");
}

void contig_restart_record_open(const struct contig_session *s)
{
	(void)s;
	fake_no_record();
}

void contig_restart_record_close(const struct contig_session *s)
{
	(void)s;
	fake_no_record();
}

void contig_restart_record_frame(const struct contig_session *s, const struct contig_frame *f,
				 bool own, int cache_type)
{
	(void)s;
	(void)f;
	(void)own;
	(void)cache_type;
	fake_no_record();
}

void contig_restart_record_alloc(const struct contig_session *s,
				 const struct contig_live_buffer *b)
{
	(void)s;
	(void)b;
	fake_no_record();
}

void contig_restart_record_free(const struct contig_session *s, uint64_t id)
{
	(void)s;
	(void)id;
	fake_no_record();
}

void contig_restart_record_carves(const struct contig_session *s,
				  const struct contig_carve_entry *allocs, size_t nallocs,
				  const uint64_t *frees, size_t nfrees)
{
	(void)s;
	(void)allocs;
	(void)nallocs;
	(void)frees;
	(void)nfrees;
	fake_no_record();
}

bool contig_restart_keeps_sessions(const struct contig_restart *restart)
{
	(void)restart;
	return false;
}

/* ---- log ---- */

void contig_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	/* Format it all the same: ASan checks the arguments. */
	(void)level;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}

/* Nothing is restored (no journal): the plan's walk is empty, so
 * contig_sessions_restore(), linked in with session_restore.c, is never
 * given a session. */
bool contig_restore_next_session(const struct contig_restore *restore,
				 struct contig_restore_walk *walk,
				 struct contig_restore_session *ret_session)
{
	(void)restore;
	(void)walk;
	(void)ret_session;
	return false;
}

bool contig_restore_next_frame(const struct contig_restore *restore,
			       struct contig_restore_walk *walk,
			       struct contig_restore_frame *ret_frame)
{
	(void)restore;
	(void)walk;
	(void)ret_frame;
	return false;
}

bool contig_restore_next_buffer(const struct contig_restore *restore,
				struct contig_restore_walk *walk,
				struct contig_restore_buffer *ret_buffer)
{
	(void)restore;
	(void)walk;
	(void)ret_buffer;
	return false;
}

bool contig_restore_next_carve(const struct contig_restore *restore,
			       struct contig_restore_walk *walk,
			       struct contig_carve_entry *ret_carve)
{
	(void)restore;
	(void)walk;
	(void)ret_carve;
	return false;
}
