/* journal.c - the daemon's journal file (see journal.h).
 *
 * DESIGN
 * A journal is a file of frames: [u32 length][u32 CRC-32][Record], both
 * numbers little-endian, the CRC (zlib's crc32) over the packed Record of
 * proto/journal.proto. The first Record is the Header with the format.
 * Records are stored straight into a shared mapping of the file (no
 * system call per record: a write(2) cost a 4 KiB allocate about 15 %, see
 * make bench, "journal"). A store into a MAP_SHARED page of a file on /run
 * is in the page cache the moment it is made, so a crash of the daemon
 * leaves every record it had added — before the reply that depends on it
 * was sent — whole (the page cache keeps them: the journal needs no fsync,
 * since what it describes, hugepages in memory, does not survive a reboot
 * either). What a crash mid-write can leave is a torn last frame: replay
 * stops at the first frame that is short, too long or fails its CRC, and
 * says where, so the caller rewrites the journal from what it kept. A
 * journal in use is longer than its records (the file is allocated ahead,
 * with fallocate, so that a full /run is an error, not a SIGBUS): the
 * zeroes past the last record, a frame of length 0 and CRC 0 (no record
 * packs to 0 bytes), end it as its end of file would.
 *
 * Limits: a record is at most JOURNAL_MAX_RECORD bytes (8 KiB: a fast-path
 * report's Carves record is about its request's size); anything claiming
 * more is torn. A Carves record's arrays are made and freed here, on both
 * sides (the caller of replay sees them during its callback only). Any thread, one journal per thread at a time.
 *
 * Knows records, not what they mean: never calls sessions, pools, the
 * keeper or restore.c (restore.c reads what restart and sessions wrote),
 * and never logs (errors through err, errlen).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "errmsg.h"
#include "journal.pb-c.h"

/* A fast-path report is at most a request (CONTIG_MAX_REQUEST_LEN) and
 * its record about as long; compaction writes carves in records of
 * JOURNAL_CARVES_PER_RECORD (restart.c) that stay below it. Older
 * contigd wrote records of 1 KiB at most. */
#define JOURNAL_MAX_RECORD 8192u
#define FRAME_HEAD 8u
#define JOURNAL_INITIAL_LEN (256u << 10)

struct contig_journal {
	int fd;
	char *path;         /* where it lives once published */
	char *tmp_path;     /* <path>.new, until published */
	uint8_t *map;       /* MAP_SHARED over the file's first cap bytes */
	size_t cap;         /* bytes allocated to the file and mapped */
	size_t len;         /* bytes of records */
};

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_of(const uint8_t *data, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
}

/* ---- writing ---- */

/* Room for at least @need more bytes past j->len: the file is extended with
 * fallocate (so that a full /run fails here with ENOSPC, never later with
 * SIGBUS on a store) and the mapping moved to cover it. */
static int make_room(struct contig_journal *j, size_t need)
{
	size_t cap = j->cap;
	void *map;

	if (j->len + need <= j->cap)
		return 0;
	while (cap < j->len + need)
		cap *= 2;
	if (fallocate(j->fd, 0, 0, (off_t)cap) < 0)
		return -errno;
	map = mremap(j->map, j->cap, cap, MREMAP_MAYMOVE);
	if (map == MAP_FAILED)
		return -errno;
	j->map = map;
	j->cap = cap;
	return 0;
}

/* Frame @msg, packed, into the mapping at j->len: the body first, then its
 * length and CRC, so that a crash in between leaves a frame that fails
 * its CRC (a torn tail), never a whole wrong one. */
static int put_record(struct contig_journal *j, const ContigJournal__Record *msg)
{
	uint8_t *at;
	size_t len;
	int r;

	/* Room for the largest record, so that it packs in place without a
	 * sizing pass first. */
	r = make_room(j, FRAME_HEAD + JOURNAL_MAX_RECORD);
	if (r < 0)
		return r;
	at = j->map + j->len;
	len = contig_journal__record__pack(msg, at + FRAME_HEAD);
	if (len > JOURNAL_MAX_RECORD) {
		/* Cannot happen (the largest, a BufferAlloc, packs to about 200
		 * bytes); if it did, it must not stand. */
		memset(at + FRAME_HEAD, 0, len);
		return -EMSGSIZE;
	}
	put_u32(at + 4, crc_of(at + FRAME_HEAD, len));
	atomic_signal_fence(memory_order_release); /* the length last, in program order */
	put_u32(at, (uint32_t)len);
	j->len += FRAME_HEAD + len;
	return 0;
}

const char *contig_journal_path(const struct contig_journal *j)
{
	return j->path;
}

uint64_t contig_journal_len(const struct contig_journal *j)
{
	return j->len;
}

int contig_journal_create(const char *path, struct contig_journal **ret_journal, char *err,
			  size_t errlen)
{
	ContigJournal__Record rec = CONTIG_JOURNAL__RECORD__INIT;
	ContigJournal__Header head = CONTIG_JOURNAL__HEADER__INIT;
	struct contig_journal *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return contig_errmsg(err, errlen, -ENOMEM, "out of memory");
	j->fd = -1;
	j->map = MAP_FAILED;
	j->path = strdup(path);
	if (!j->path || asprintf(&j->tmp_path, "%s.new", path) < 0) {
		j->tmp_path = NULL;
		r = contig_errmsg(err, errlen, -ENOMEM, "out of memory");
		goto out_free;
	}
	j->fd = open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		r = contig_errmsg(err, errlen, -errno, "%s: %s", j->tmp_path, strerror(errno));
		goto out_free;
	}
	j->cap = JOURNAL_INITIAL_LEN;
	if (fallocate(j->fd, 0, 0, (off_t)j->cap) < 0) {
		r = -errno;
		goto out_unlink;
	}
	j->map = mmap(NULL, j->cap, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	if (j->map == MAP_FAILED) {
		r = -errno;
		goto out_unlink;
	}
	head.format = CONTIG_JOURNAL_FORMAT;
	rec.body_case = CONTIG_JOURNAL__RECORD__BODY_HEADER;
	rec.header = &head;
	r = put_record(j, &rec);
	if (r < 0)
		goto out_unlink;
	*ret_journal = j;
	return 0;

out_unlink:
	unlink(j->tmp_path);
	contig_errmsg(err, errlen, r, "writing journal %s: %s", j->tmp_path, strerror(-r));
out_free:
	contig_journal_close(j);
	return r;
}

int contig_journal_publish(struct contig_journal *j)
{
	int r = rename(j->tmp_path, j->path) < 0 ? -errno : 0;

	if (r < 0)
		unlink(j->tmp_path);
	return r;
}

int contig_journal_add(struct contig_journal *j, const struct contig_journal_record *in)
{
	ContigJournal__Record rec = CONTIG_JOURNAL__RECORD__INIT;
	ContigJournal__SessionOpen so = CONTIG_JOURNAL__SESSION_OPEN__INIT;
	ContigJournal__SessionClose sc = CONTIG_JOURNAL__SESSION_CLOSE__INIT;
	ContigJournal__FrameOwn fo = CONTIG_JOURNAL__FRAME_OWN__INIT;
	ContigJournal__FrameRelease fr = CONTIG_JOURNAL__FRAME_RELEASE__INIT;
	ContigJournal__BufferAlloc ba = CONTIG_JOURNAL__BUFFER_ALLOC__INIT;
	ContigJournal__BufferFree bf = CONTIG_JOURNAL__BUFFER_FREE__INIT;
	ContigJournal__Pool po = CONTIG_JOURNAL__POOL__INIT;
	ContigJournal__Carves cv = CONTIG_JOURNAL__CARVES__INIT;
	ContigJournal__CarveEntry *entries = NULL, **eptrs = NULL;
	int r;
	ProtobufCBinaryData token = { CONTIG_TOKEN_LEN, (uint8_t *)in->token };
	char comm[sizeof(in->comm)];

	switch (in->type) {
	case CONTIG_JOURNAL_SESSION_OPEN:
		memcpy(comm, in->comm, sizeof(comm));
		comm[sizeof(comm) - 1] = '\0';
		so.token = token;
		so.uid = in->uid;
		so.pid = in->pid;
		so.comm = comm;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_SESSION_OPEN;
		rec.session_open = &so;
		break;
	case CONTIG_JOURNAL_SESSION_CLOSE:
		sc.token = token;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_SESSION_CLOSE;
		rec.session_close = &sc;
		break;
	case CONTIG_JOURNAL_FRAME_OWN:
		fo.node = in->node;
		fo.page_len = in->page_len;
		fo.file_id = in->file_id;
		fo.phys = in->phys;
		fo.token = token;
		fo.cache_type = in->cache_type;
		fo.has_below = in->below != 0;
		fo.below = in->below;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_FRAME_OWN;
		rec.frame_own = &fo;
		break;
	case CONTIG_JOURNAL_FRAME_RELEASE:
		fr.node = in->node;
		fr.page_len = in->page_len;
		fr.file_id = in->file_id;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_FRAME_RELEASE;
		rec.frame_release = &fr;
		break;
	case CONTIG_JOURNAL_BUFFER_ALLOC:
		ba.token = token;
		ba.id = in->id;
		ba.node = in->node;
		ba.page_len = in->page_len;
		ba.phys = in->phys;
		ba.len = in->len;
		ba.req_len = in->req_len;
		ba.cache_type = in->cache_type;
		ba.tag = in->tag;
		ba.seq = in->seq;
		/* The request's constraints, only where they constrain (contigd
		 * writes none now: restart.c; older ones did). */
		ba.has_lowest = in->lowest != 0;
		ba.lowest = in->lowest;
		ba.has_highest = in->highest != UINT64_MAX;
		ba.highest = in->highest;
		ba.has_boundary = in->boundary != 0;
		ba.boundary = in->boundary;
		ba.has_align = in->align != 0;
		ba.align = in->align;
		ba.has_priority = in->priority != 32; /* absent reads as 32 */
		ba.priority = in->priority;
		ba.has_below = in->below != 0;
		ba.below = in->below;
		ba.has_warm = in->warm;
		ba.warm = in->warm;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_BUFFER_ALLOC;
		rec.buffer_alloc = &ba;
		break;
	case CONTIG_JOURNAL_BUFFER_FREE:
		bf.token = token;
		bf.id = in->id;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_BUFFER_FREE;
		rec.buffer_free = &bf;
		break;
	case CONTIG_JOURNAL_POOL:
		po.node = in->node;
		po.page_len = in->page_len;
		po.hugepages_added = in->hugepages_added;
		po.has_below = in->below != 0;
		po.below = in->below;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_POOL;
		rec.pool = &po;
		break;
	case CONTIG_JOURNAL_CARVES:
		if (in->ncarves) {
			entries = calloc(in->ncarves, sizeof(*entries));
			eptrs = calloc(in->ncarves, sizeof(*eptrs));
			if (!entries || !eptrs) {
				free(entries);
				free(eptrs);
				return -ENOMEM;
			}
		}
		for (size_t i = 0; i < in->ncarves; i++) {
			const struct contig_carve_entry *e = &in->carves[i];

			contig_journal__carve_entry__init(&entries[i]);
			entries[i].id = e->id;
			entries[i].frame_id = e->frame_id;
			entries[i].offset = e->offset;
			entries[i].len = e->len;
			entries[i].tag = e->tag;
			entries[i].has_req_len = e->req_len != e->len;
			entries[i].req_len = e->req_len;
			eptrs[i] = &entries[i];
		}
		cv.token = token;
		cv.n_allocs = in->ncarves;
		cv.allocs = eptrs;
		cv.n_frees = in->nfrees;
		cv.frees = (uint64_t *)in->frees;
		rec.body_case = CONTIG_JOURNAL__RECORD__BODY_CARVES;
		rec.carves = &cv;
		break;
	default:
		return -EINVAL;
	}
	r = put_record(j, &rec);
	free(entries);
	free(eptrs);
	return r;
}

void contig_journal_close(struct contig_journal *j)
{
	if (!j)
		return;
	if (j->map != MAP_FAILED)
		munmap(j->map, j->cap);
	if (j->fd >= 0) {
		/* The zeroes past the last record go (replay stops at them anyway). */
		if (ftruncate(j->fd, (off_t)j->len) < 0) {
			/* harmless: replay reads a zero length as the end */
		}
		close(j->fd);
	}
	free(j->tmp_path);
	free(j->path);
	free(j);
}

/* ---- reading ---- */

/* A session token from the file: exactly CONTIG_TOKEN_LEN bytes. */
static bool take_token(const ProtobufCBinaryData *t, uint8_t *out)
{
	if (t->len != CONTIG_TOKEN_LEN)
		return false;
	memcpy(out, t->data, CONTIG_TOKEN_LEN);
	return true;
}

/* @msg as a plain record. Returns false for a record this format cannot
 * hold (a wrong token length, an empty body: a newer daemon's record type
 * unpacks with no body and is skipped by the caller). */
static bool to_record(const ContigJournal__Record *msg, struct contig_journal_record *out)
{
	memset(out, 0, sizeof(*out));
	switch (msg->body_case) {
	case CONTIG_JOURNAL__RECORD__BODY_SESSION_OPEN:
		out->type = CONTIG_JOURNAL_SESSION_OPEN;
		out->uid = msg->session_open->uid;
		out->pid = msg->session_open->pid;
		if (msg->session_open->comm)
			snprintf(out->comm, sizeof(out->comm), "%s", msg->session_open->comm);
		return take_token(&msg->session_open->token, out->token);
	case CONTIG_JOURNAL__RECORD__BODY_SESSION_CLOSE:
		out->type = CONTIG_JOURNAL_SESSION_CLOSE;
		return take_token(&msg->session_close->token, out->token);
	case CONTIG_JOURNAL__RECORD__BODY_FRAME_OWN:
		out->type = CONTIG_JOURNAL_FRAME_OWN;
		out->node = msg->frame_own->node;
		out->page_len = msg->frame_own->page_len;
		out->file_id = msg->frame_own->file_id;
		out->phys = msg->frame_own->phys;
		out->cache_type = msg->frame_own->cache_type;
		out->below = msg->frame_own->has_below ? msg->frame_own->below : 0;
		return take_token(&msg->frame_own->token, out->token);
	case CONTIG_JOURNAL__RECORD__BODY_FRAME_RELEASE:
		out->type = CONTIG_JOURNAL_FRAME_RELEASE;
		out->node = msg->frame_release->node;
		out->page_len = msg->frame_release->page_len;
		out->file_id = msg->frame_release->file_id;
		return true;
	case CONTIG_JOURNAL__RECORD__BODY_BUFFER_ALLOC:
		out->type = CONTIG_JOURNAL_BUFFER_ALLOC;
		out->id = msg->buffer_alloc->id;
		out->node = msg->buffer_alloc->node;
		out->page_len = msg->buffer_alloc->page_len;
		out->phys = msg->buffer_alloc->phys;
		out->len = msg->buffer_alloc->len;
		out->req_len = msg->buffer_alloc->req_len;
		out->cache_type = msg->buffer_alloc->cache_type;
		out->tag = msg->buffer_alloc->tag;
		out->seq = msg->buffer_alloc->seq;
		out->lowest = msg->buffer_alloc->has_lowest ? msg->buffer_alloc->lowest : 0;
		out->highest = msg->buffer_alloc->has_highest ? msg->buffer_alloc->highest
							      : UINT64_MAX;
		out->boundary = msg->buffer_alloc->has_boundary ? msg->buffer_alloc->boundary : 0;
		out->align = msg->buffer_alloc->has_align ? msg->buffer_alloc->align : 0;
		out->priority = msg->buffer_alloc->has_priority ? msg->buffer_alloc->priority : 32;
		out->below = msg->buffer_alloc->has_below ? msg->buffer_alloc->below : 0;
		out->warm = msg->buffer_alloc->has_warm && msg->buffer_alloc->warm;
		return take_token(&msg->buffer_alloc->token, out->token);
	case CONTIG_JOURNAL__RECORD__BODY_BUFFER_FREE:
		out->type = CONTIG_JOURNAL_BUFFER_FREE;
		out->id = msg->buffer_free->id;
		return take_token(&msg->buffer_free->token, out->token);
	case CONTIG_JOURNAL__RECORD__BODY_POOL:
		out->type = CONTIG_JOURNAL_POOL;
		out->node = msg->pool->node;
		out->page_len = msg->pool->page_len;
		out->hugepages_added = msg->pool->hugepages_added;
		out->below = msg->pool->has_below ? msg->pool->below : 0;
		return true;
	case CONTIG_JOURNAL__RECORD__BODY_CARVES: {
		struct contig_carve_entry *v = NULL;
		const ContigJournal__Carves *c = msg->carves;

		out->type = CONTIG_JOURNAL_CARVES;
		if (c->n_allocs && !(v = calloc(c->n_allocs, sizeof(*v))))
			return false;
		for (size_t i = 0; i < c->n_allocs; i++)
			v[i] = (struct contig_carve_entry){
				.id = c->allocs[i]->id,
				.frame_id = c->allocs[i]->frame_id,
				.offset = c->allocs[i]->offset,
				.len = c->allocs[i]->len,
				.req_len = c->allocs[i]->has_req_len ? c->allocs[i]->req_len
								     : c->allocs[i]->len,
				.tag = c->allocs[i]->tag,
			};
		out->carves = v; /* the caller frees it */
		out->ncarves = c->n_allocs;
		out->frees = c->frees;
		out->nfrees = c->n_frees;
		if (!take_token(&c->token, out->token)) {
			free(v);
			out->carves = NULL;
			return false;
		}
		return true;
	}
	default:
		return false;
	}
}

/* The whole file at @fd in a malloc'd buffer (*ret_data, *ret_len bytes): one read(2) per few MiB rather than two pread(2) per
 * record, which a restart of 100 000 buffers paid in hundreds of ms.
 * Returns 0 or -errno. */
static int read_all(int fd, uint8_t **ret_data, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	uint8_t *data = NULL;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* (+1: EOF is seen without growing) */
	cap = (st.st_size > 0 ? (size_t)st.st_size : 0) + 1;
	data = malloc(cap);
	if (!data)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *grown;

			cap *= 2;
			grown = realloc(data, cap);
			if (!grown) {
				free(data);
				return -ENOMEM;
			}
			data = grown;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(data);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_data = data;
	*ret_len = len;
	return 0;
}

int contig_journal_replay(const char *path,
			  int (*cb)(const struct contig_journal_record *rec, void *arg), void *arg,
			  uint64_t *ret_valid_len, int *ret_torn, char *err, size_t errlen)
{
	uint64_t valid = 0;
	bool first = true;
	int fd, r = 0, torn = 0;
	uint8_t *data = NULL;
	size_t size = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return contig_errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
	r = read_all(fd, &data, &size);
	close(fd);
	if (r < 0)
		return contig_errmsg(err, errlen, r, "%s: %s", path, strerror(-r));
	for (;;) {
		const uint8_t *head, *body;
		ContigJournal__Record *msg;
		struct contig_journal_record rec;
		uint32_t len;

		if (valid == size)
			break;
		if (size - valid < FRAME_HEAD) {
			torn = 1;
			break;
		}
		head = data + valid;
		body = head + FRAME_HEAD;
		len = get_u32(head);
		if (len == 0 && get_u32(head + 4) == 0)
			break; /* the zeroes past the last record of a journal in use */
		if (len > JOURNAL_MAX_RECORD || size - valid - FRAME_HEAD < len ||
		    crc_of(body, len) != get_u32(head + 4)) {
			torn = 1;
			break;
		}
		msg = contig_journal__record__unpack(NULL, len, body);
		if (!msg) {
			torn = 1; /* whole and checksummed, yet not a record: stop here too */
			break;
		}
		if (first) {
			bool is_header = msg->body_case == CONTIG_JOURNAL__RECORD__BODY_HEADER;
			uint32_t format = is_header ? msg->header->format : 0;

			contig_journal__record__free_unpacked(msg, NULL);
			if (!is_header) {
				r = contig_errmsg(err, errlen, -EPROTO, "%s: not a contigd journal", path);
				break;
			}
			if (format > CONTIG_JOURNAL_FORMAT) {
				r = contig_errmsg(err, errlen, -EPROTO,
					 "%s: journal format %u is newer than this contigd's (%u): "
					 "start the newer contigd, or remove the journal (clients "
					 "then lose their buffers)",
					 path, format, CONTIG_JOURNAL_FORMAT);
				break;
			}
			first = false;
			valid += FRAME_HEAD + len;
			continue;
		}
		if (to_record(msg, &rec)) {
			r = cb(&rec, arg);
			free((void *)rec.carves);
		}
		contig_journal__record__free_unpacked(msg, NULL);
		valid += FRAME_HEAD + len;
		if (r)
			break;
	}
	free(data);
	if (r == 0 && first && !torn)
		r = contig_errmsg(err, errlen, -EPROTO, "%s: empty, not a contigd journal", path);
	else if (r == 0 && first)
		r = contig_errmsg(err, errlen, -EPROTO, "%s: not a contigd journal", path);
	if (ret_valid_len)
		*ret_valid_len = valid;
	if (ret_torn)
		*ret_torn = torn;
	return r;
}
