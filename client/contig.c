/* contig.c - libcontig: connection, buffers, mappings.
 *
 * DESIGN
 * Frames are mapped once per client, not once per buffer. A buffer's
 * frames, received as descriptors, are physically contiguous: the first
 * starts at phys - offset. If a mapping this client already has covers
 * those frames (the daemon packs small buffers into frames the session
 * owns), the buffer lives in it and the descriptors are just closed; for a
 * one-frame buffer in a frame that already holds one of ours, the daemon
 * sends none (hello's keeps_held_frames_mapped): an allocate then costs
 * the round trip and nothing more. Otherwise the frames
 * are mapped consecutively (MAP_FIXED inside a PROT_NONE reservation
 * aligned to the page size, MAP_POPULATE so the page tables are filled
 * before the caller hands the address to a device) and the descriptors
 * closed. A mapping counts the live buffers in it and is unmapped with the
 * last of them, after the daemon confirmed the free: only then may the
 * daemon recycle its frames, so a frame's physical address names the same
 * frame for as long as a mapping of it exists. Buffers never overlap in
 * physical memory, so they never overlap in virtual memory either, even
 * when a frame is mapped twice (once alone, once as part of a longer run).
 *
 * Fast path (fastpath.c): small requests are cut from warm frames, buffers
 * of this table marked warm, without the lock or a round trip. Such a
 * buffer is not in this table: contig_free(), contig_buffer_of() and the
 * *_many frees ask fastpath.c first, and a warm frame itself is never
 * handed out, freed or inherited as a buffer of the caller's.
 *
 * The buffers of a client are kept in an array sorted by virtual address,
 * so that virtual->physical for any byte is a binary search plus
 * arithmetic (phys + (virt - base)), with no round trip; the mappings in
 * an array sorted by the physical address of their first frame.
 *
 * One mutex per client serialises requests and guards both arrays. The
 * *_many calls pipeline: up to PIPELINE_DEPTH requests are in flight on the
 * socket, and their replies (answered in order, matched by seq) are read
 * as they come.
 *
 * Restarts (wire.c): a call whose connection breaks reclaims the session on
 * a new one and sends its request again; the *_many calls send again, in
 * order and with their seqs, every request whose reply had not come, once
 * per call. Mappings are not touched: the session comes back with the same
 * buffers in the same frames. A session that cannot be reclaimed leaves
 * the client dead: every call but contig_disconnect() fails with
 * -ECONNRESET, and the buffers stay mapped until contig_disconnect().
 *
 * Fork. A process is a client: a forked child never speaks on its
 * parent's connection. Every client is on one list; pthread_atfork()
 * handlers take every client's lock before fork() (so no table is copied
 * half-updated; a fork waits for the requests in flight in other threads
 * to be answered) and, in the child, close the child's copy of the socket
 * (the parent's session stays the parent's alone) and mark the client
 * forked. The child's first call on it then moves the buffers it has
 * into an inherited table: still mapped, still translated (virt -> phys,
 * buffer_of), never freed from here (-EPERM: they are the parent's) and
 * never reused for the child's own buffers, whose frames come mapped anew
 * from the child's own session, opened by its first request. The sockets
 * are close-on-exec, so an exec'd program holds no session of its
 * caller's.
 */
#include "contig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fastpath.h"
#include "priority.h" /* common/: what contig.h repeats must not differ */
#include "wire.h"

/* Requests in flight on one socket in the *_many calls, counted in
 * datagrams a reply may take (see datagrams()). Below the daemon's default
 * max_queued_replies (64), so a client that sends all before reading any
 * is never taken for one that does not read. */
#define PIPELINE_DEPTH 32
#define BUSY_POLL_MAX_US 1000
/* How often a fast-path allocation looks whether the connection broke. */
#define FAST_CHECK_NS 10000000u

/* Consecutive frames mapped consecutively. A frame's part of the mapping
 * is unmapped once no live buffer of this client is in it there. */
struct frame_map {
	uint64_t phys;     /* of the first frame */
	size_t len;        /* whole frames */
	uint64_t page_len;
	uint8_t *base;     /* aligned to page_len */
	uint32_t nheld;    /* frames with nbufs[i] > 0 */
	uint32_t nbufs[];  /* per frame: live buffers in it, through this mapping */
};

struct mapped {
	struct contig_buffer buf; /* (first: see upper_bound()) */
	struct frame_map *map;
	uint32_t first, nframes; /* its frames in map */
	bool warm;               /* a warm frame of the fast path (fastpath.c), not the caller's */
};

/* A buffer of an ancestor process, mapped here since a fork(). */
struct inherited {
	struct contig_buffer buf; /* (first: see upper_bound()) */
	pid_t owner;              /* the process whose session holds it */
};

struct contig_client {
	pthread_mutex_t lock;
	struct contig_wire wire;
	struct mapped *bufs; /* sorted by buf.virt */
	size_t nbufs, cap;
	struct frame_map **maps; /* sorted by phys, then len */
	size_t nmaps, maps_cap;

	/* Fork (see DESIGN). */
	struct contig_client *next; /* on the list of clients */
	pid_t pid;                  /* the process whose session wire is */
	bool forked;                /* set in a child: not yet made its own */
	struct inherited *inherited; /* sorted by buf.virt */
	size_t ninherited;
	struct frame_map **inherited_maps; /* unmapped at contig_disconnect() */
	size_t ninherited_maps;

	struct contig_fast *fast; /* small buffers without a round trip; NULL: none */
	uint64_t fast_checked_ns; /* when the fast path last looked at the socket */
};

/* Every connected client, for the fork handlers. Lock order: clients_lock,
 * then a client's lock; nothing takes clients_lock holding a client's. */
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct contig_client *clients;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

CONTIG_EXPORT void contig_alloc_req_init(struct contig_alloc_req *req, uint64_t len)
{
	*req = (struct contig_alloc_req){
		.len = len,
		.highest_phys = CONTIG_PHYS_MAX,
		.cache_type = CONTIG_CACHED,
		.node = CONTIG_NODE_ANY,
		.priority = CONTIG_PRIORITY_HIGH,
	};
}

/* Before fork(): no client's tables may be copied half-updated. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&clients_lock);
	for (struct contig_client *c = clients; c; c = c->next) {
		/* (Before the client's: a report is sent under it.) */
		contig_fast_fork_prepare_reports(c->fast);
		pthread_mutex_lock(&c->lock);
		/* (After the client's: claim_fork() takes the fast path's spare
		 * lock under it, and nothing takes the client's lock holding one
		 * of the fast path's.) */
		contig_fast_fork_prepare(c->fast);
	}
}

static void fork_parent(void)
{
	for (struct contig_client *c = clients; c; c = c->next) {
		pthread_mutex_unlock(&c->lock);
		contig_fast_fork_parent(c->fast);
	}
	pthread_mutex_unlock(&clients_lock);
}

/* In the child, the only thread: the connections are the parent's. Only
 * the child's descriptors close; the rest waits for the child's first
 * call (claim_fork()), which a child that execs never makes. */
static void fork_child(void)
{
	for (struct contig_client *c = clients; c; c = c->next) {
		if (c->wire.sock >= 0)
			close(c->wire.sock);
		c->wire.sock = -1;
		c->forked = true;
		pthread_mutex_unlock(&c->lock);
		contig_fast_fork_child(c->fast); /* the child's fast path starts empty */
	}
	pthread_mutex_unlock(&clients_lock);
}

static void atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void clients_add(struct contig_client *c)
{
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&clients_lock);
	c->next = clients;
	clients = c;
	pthread_mutex_unlock(&clients_lock);
}

static void clients_remove(struct contig_client *c)
{
	pthread_mutex_lock(&clients_lock);
	for (struct contig_client **p = &clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	pthread_mutex_unlock(&clients_lock);
}

CONTIG_EXPORT int contig_connect(const char *socket_path, struct contig_client **ret_client)
{
	const char *reconnect = getenv("CONTIGD_RECONNECT");
	struct contig_client *c;
	int r;

	contig_clear_message();
	if (!socket_path)
		socket_path = getenv("CONTIGD_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = CONTIG_DEFAULT_SOCKET_PATH;

	c = calloc(1, sizeof(*c));
	if (!c)
		return contig_fail(-ENOMEM, "out of memory");
	c->wire.rx = malloc(CONTIG_MAX_REPLY_LEN);
	if (!c->wire.rx) {
		free(c);
		return contig_fail(-ENOMEM, "out of memory");
	}
	c->wire.reconnect = !reconnect || strcmp(reconnect, "0") != 0;
	c->wire.nbufs = &c->nbufs;
	c->wire.sock = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->pid = getpid();
	c->fast = contig_fast_new(c, CONTIG_FAST_PATH_DEFAULT);
	/* On the list before the socket exists, and connected under its lock:
	 * a fork meanwhile waits, and the child closes its copy. */
	clients_add(c);
	pthread_mutex_lock(&c->lock);
	r = contig_wire_connect(&c->wire, socket_path);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		goto out_free;
	/* A daemon that does not say buffers_left predates it, and may take
	 * reports yet close the connection at one longer than its
	 * max_request_len: the fast path stays off there unless asked for. */
	if (c->wire.hello_left == -2 && !getenv("CONTIGD_FAST_PATH"))
		contig_fast_set_on(c->fast, false);
	contig_fast_connected(c->fast, c->wire.accepts_carves, c->wire.hello_left);
	if (getenv("CONTIGD_BUSY_POLL_US"))
		contig_set_busy_poll(c, (unsigned)strtoul(getenv("CONTIGD_BUSY_POLL_US"), NULL, 10));
	*ret_client = c;
	return 0;

out_free:
	clients_remove(c);
	contig_fast_free(c->fast);
	pthread_mutex_destroy(&c->lock);
	free(c->wire.rx);
	free(c);
	return r;
}

CONTIG_EXPORT unsigned contig_set_busy_poll(struct contig_client *c, unsigned usec)
{
	if (usec > BUSY_POLL_MAX_US)
		usec = BUSY_POLL_MAX_US;
	pthread_mutex_lock(&c->lock);
	c->wire.busy_poll_ns = (uint64_t)usec * 1000u;
	pthread_mutex_unlock(&c->lock);
	return usec;
}

CONTIG_EXPORT void contig_disconnect(struct contig_client *c)
{
	if (!c)
		return;
	/* What the fast path has not reported yet, so that the daemon's log
	 * of what this client left behind is whole. */
	if (c->fast && !c->forked && !c->wire.dead && c->wire.accepts_carves)
		contig_fast_flush(c->fast);
	clients_remove(c);
	contig_fast_free(c->fast); /* (its warm frames are unmapped below with the rest) */
	/* Unmap first: once the socket closes, the daemon revokes the frames.
	 * (Inherited mappings are this process's copies: the parent keeps its
	 * own.) */
	for (size_t i = 0; i < c->nmaps; i++) {
		munmap(c->maps[i]->base, c->maps[i]->len); /* holes included: harmless */
		free(c->maps[i]);
	}
	for (size_t i = 0; i < c->ninherited_maps; i++) {
		munmap(c->inherited_maps[i]->base, c->inherited_maps[i]->len);
		free(c->inherited_maps[i]);
	}
	/* (Not once the session is lost, nor a parent's: closed at fork.) */
	if (c->wire.sock >= 0)
		close(c->wire.sock);
	pthread_mutex_destroy(&c->lock);
	free(c->maps);
	free(c->bufs);
	free(c->inherited_maps);
	free(c->inherited);
	free(c->wire.rx);
	free(c);
}

/* Map @n frames of @page_len consecutively. */
static int map_frames(const int *fds, uint32_t n, uint64_t page_len, uint8_t **ret_map)
{
	size_t len = (size_t)n * page_len;
	uint8_t *resv, *base;

	resv = mmap(NULL, len + page_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (resv == MAP_FAILED)
		return -errno;
	/* hugetlb mappings must start on a page_len boundary */
	base = (uint8_t *)(((uintptr_t)resv + page_len - 1) & ~(uintptr_t)(page_len - 1));
	if (base > resv)
		munmap(resv, base - resv);
	if (base + len < resv + len + page_len)
		munmap(base + len, resv + len + page_len - (base + len));
	for (uint32_t i = 0; i < n; i++) {
		void *p = mmap(base + (size_t)i * page_len, page_len, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED | MAP_POPULATE, fds[i], 0);

		if (p == MAP_FAILED) {
			int r = -errno;

			munmap(base, len);
			return r;
		}
	}
	*ret_map = base;
	return 0;
}

/* Index of the first mapping whose (phys, len) is > (@phys, @len). */
static size_t maps_upper_bound(const struct contig_client *c, uint64_t phys, size_t len)
{
	size_t lo = 0, hi = c->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct frame_map *m = c->maps[mid];

		if (m->phys < phys || (m->phys == phys && m->len <= len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does @m map [@phys, @phys + @len) with every frame of it still held?
 * A frame whose count fell to 0 may have been recycled by the daemon since
 * (it was unmapped here then): a new buffer there needs a new mapping. */
static bool maps_covers(const struct frame_map *m, uint64_t phys, size_t len)
{
	if (m->phys > phys || m->phys + m->len < phys + len)
		return false;
	for (uint64_t i = (phys - m->phys) / m->page_len; i < (phys + len - m->phys) / m->page_len;
	     i++)
		if (!m->nbufs[i])
			return false;
	return true;
}

/* A mapping covering [@phys, @phys + @len), or NULL. Mappings may overlap
 * (a frame mapped alone and again inside a longer run), so the few that
 * start at or below @phys are looked at, nearest first. Lock held. */
static struct frame_map *maps_find(struct contig_client *c, uint64_t phys, size_t len)
{
	size_t i = maps_upper_bound(c, phys, SIZE_MAX);

	for (size_t k = 0; k < 4 && i > 0; k++) {
		struct frame_map *m = c->maps[--i];

		if (maps_covers(m, phys, len))
			return m;
	}
	return NULL;
}

static int maps_insert(struct contig_client *c, struct frame_map *m)
{
	size_t i;

	if (c->nmaps == c->maps_cap) {
		size_t cap = c->maps_cap ? c->maps_cap * 2 : 16;
		struct frame_map **grown = realloc(c->maps, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->maps = grown;
		c->maps_cap = cap;
	}
	i = maps_upper_bound(c, m->phys, m->len);
	memmove(&c->maps[i + 1], &c->maps[i], (c->nmaps - i) * sizeof(*c->maps));
	c->maps[i] = m;
	c->nmaps++;
	return 0;
}

/* One buffer more in frames [@first, @first + @n) of @m. */
static void maps_get(struct frame_map *m, uint32_t first, uint32_t n)
{
	for (uint32_t i = first; i < first + n; i++)
		if (m->nbufs[i]++ == 0)
			m->nheld++;
}

/* One buffer fewer in frames [@first, @first + @n) of @m, which the daemon
 * has freed: unmap each frame left without a buffer, and the mapping with
 * its last. Lock held. */
static void maps_put(struct contig_client *c, struct frame_map *m, uint32_t first, uint32_t n)
{
	size_t i;

	for (uint32_t f = first; f < first + n; f++)
		if (--m->nbufs[f] == 0 && --m->nheld > 0)
			munmap(m->base + (size_t)f * m->page_len, m->page_len);
	if (m->nheld)
		return;
	i = maps_upper_bound(c, m->phys, m->len);
	while (i > 0 && c->maps[i - 1] != m)
		i--;
	if (i > 0) {
		memmove(&c->maps[i - 1], &c->maps[i], (c->nmaps - i) * sizeof(*c->maps));
		c->nmaps--;
	}
	munmap(m->base, m->len);
	free(m);
}

/* Index of the first of @n elements of @stride bytes, sorted by the
 * struct contig_buffer each starts with, whose virt is > @virt. */
static size_t upper_bound(const void *elems, size_t n, size_t stride, const void *virt)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct contig_buffer *b =
			(const void *)((const uint8_t *)elems + mid * stride);

		if ((const uint8_t *)b->virt <= (const uint8_t *)virt)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does @b contain @virt? */
static bool buffer_has(const struct contig_buffer *b, const void *virt)
{
	return (const uint8_t *)virt >= (const uint8_t *)b->virt &&
	       (const uint8_t *)virt < (const uint8_t *)b->virt + b->len;
}

/* The buffer of this process's session containing @virt, or NULL. Lock
 * held. */
static struct mapped *find(struct contig_client *c, const void *virt)
{
	size_t i = upper_bound(c->bufs, c->nbufs, sizeof(*c->bufs), virt);

	return i > 0 && buffer_has(&c->bufs[i - 1].buf, virt) ? &c->bufs[i - 1] : NULL;
}

/* The inherited buffer containing @virt, or NULL. Lock held. */
static const struct inherited *find_inherited(const struct contig_client *c, const void *virt)
{
	size_t i = upper_bound(c->inherited, c->ninherited, sizeof(*c->inherited), virt);

	return i > 0 && buffer_has(&c->inherited[i - 1].buf, virt) ? &c->inherited[i - 1] : NULL;
}

static int insert(struct contig_client *c, const struct mapped *m)
{
	size_t i;

	if (c->nbufs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct mapped *grown = realloc(c->bufs, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->bufs = grown;
		c->cap = cap;
	}
	i = upper_bound(c->bufs, c->nbufs, sizeof(*c->bufs), m->buf.virt);
	memmove(&c->bufs[i + 1], &c->bufs[i], (c->nbufs - i) * sizeof(*c->bufs));
	c->bufs[i] = *m;
	c->nbufs++;
	return 0;
}

static void remove_at(struct contig_client *c, struct mapped *m)
{
	memmove(m, m + 1, (size_t)(&c->bufs[c->nbufs] - (m + 1)) * sizeof(*m));
	c->nbufs--;
}

/* Forget the buffer @m (freed by the daemon) and drop its mapping's count.
 * Lock held. */
static void unmap_buffer(struct contig_client *c, struct mapped *m)
{
	struct frame_map *map = m->map;

	uint32_t first = m->first, n = m->nframes;

	remove_at(c, m);
	maps_put(c, map, first, n);
}

static int cmp_inherited(const void *a, const void *b)
{
	const uint8_t *x = ((const struct inherited *)a)->buf.virt;
	const uint8_t *y = ((const struct inherited *)b)->buf.virt;

	return x < y ? -1 : x > y;
}

/* The first call in a forked child: what @c holds becomes inherited (it
 * stays c->pid's, the parent's), and its connection becomes a new one of
 * this process's, opened by the next request (own_session()). A lost
 * session's buffers are nobody's here any more: only their mappings are
 * kept, to be unmapped. Returns 0, or -ENOMEM with @c still to be claimed.
 * Lock held. */
static int claim_fork(struct contig_client *c)
{
	/* (The parent's fast-path buffers too; its warm frames are not
	 * buffers of anyone's here.) */
	size_t nfast = c->wire.dead ? 0 : contig_fast_forked(c->fast, NULL, 0);
	size_t nbufs = c->wire.dead ? 0 : c->nbufs + nfast;
	struct contig_buffer *fast = NULL;

	if (nbufs) {
		struct inherited *grown =
			realloc(c->inherited, (c->ninherited + nbufs) * sizeof(*grown));

		if (!grown)
			return contig_fail(-ENOMEM, "out of memory");
		c->inherited = grown;
	}
	if (c->nmaps) {
		struct frame_map **grown = realloc(
			c->inherited_maps, (c->ninherited_maps + c->nmaps) * sizeof(*grown));

		if (!grown)
			return contig_fail(-ENOMEM, "out of memory");
		c->inherited_maps = grown;
	}
	if (nfast && !(fast = malloc(nfast * sizeof(*fast))))
		return contig_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < nbufs - nfast; i++)
		if (!c->bufs[i].warm)
			c->inherited[c->ninherited++] = (struct inherited){ .buf = c->bufs[i].buf,
									    .owner = c->pid };
	if (nfast) {
		contig_fast_forked(c->fast, fast, nfast);
		for (size_t i = 0; i < nfast; i++)
			c->inherited[c->ninherited++] =
				(struct inherited){ .buf = fast[i], .owner = c->pid };
		free(fast);
	}
	contig_fast_forked_done(c->fast);
	/* (A grandchild's: its parent's own and what they inherited.) */
	if (nbufs)
		qsort(c->inherited, c->ninherited, sizeof(*c->inherited), cmp_inherited);
	for (size_t i = 0; i < c->nmaps; i++)
		c->inherited_maps[c->ninherited_maps++] = c->maps[i];
	c->nbufs = 0;
	c->nmaps = 0;
	contig_wire_forget(&c->wire);
	c->pid = getpid();
	c->forked = false;
	return 0;
}

/* Make @c this process's client, connected: claimed after a fork, with a
 * session of its own. Returns 0 (or, on a lost session, 0 too: the request
 * then fails saying how it was lost) or -errno, message recorded. Lock
 * held. */
static int own_session(struct contig_client *c)
{
	int r;

	if (c->forked && (r = claim_fork(c)) < 0)
		return r;
	if (c->wire.sock >= 0 || c->wire.dead)
		return 0;
	return contig_wire_reopen(&c->wire);
}

/* -EPERM if @virt is in a buffer inherited over fork() (message recorded),
 * else @err. Lock held. */
static int not_ours(const struct contig_client *c, const void *virt, int err)
{
	const struct inherited *in = find_inherited(c, virt);

	if (!in)
		return err;
	return contig_fail(-EPERM,
			   "%p is in a buffer inherited over fork() from process %d, which "
			   "still holds it: only that process can free it",
			   virt, (int)in->owner);
}

/* Make the buffer the daemon allocated (@a, for @req) usable: map its
 * frames or find them mapped, close the descriptors, record it. On failure
 * the daemon still holds the buffer: the caller frees a->id. Lock held. */
static int adopt(struct contig_client *c, const struct contig_alloc_req *req,
		 struct contig_wire_alloc *a, struct contig_buffer *ret_buf)
{
	uint64_t frames_phys = a->phys - a->offset;
	size_t frames_len = (size_t)a->nframes * a->page_len;
	struct frame_map *m = maps_find(c, frames_phys, frames_len);
	bool fresh = !m;
	struct mapped b;
	int r = 0;

	/* No descriptor came: a mapping of the frame must be here. maps_find()
	 * looks at the nearest few; look at every one before giving up. */
	for (size_t i = 0; fresh && a->held && i < c->nmaps; i++)
		if (maps_covers(c->maps[i], frames_phys, frames_len)) {
			m = c->maps[i];
			fresh = false;
		}
	if (fresh && a->held) {
		r = contig_fail(-EPROTO, "contigd sent no descriptor for a frame not mapped here");
		goto out_close;
	}
	if (fresh) {
		m = calloc(1, sizeof(*m) + a->nframes * sizeof(m->nbufs[0]));
		if (!m) {
			r = contig_fail(-ENOMEM, "out of memory");
			goto out_close;
		}
		r = map_frames(a->fds, a->nframes, a->page_len, &m->base);
		if (r < 0) {
			contig_fail(r, "mapping %u frames of %llu bytes: %s", a->nframes,
				    (unsigned long long)a->page_len, strerror(-r));
			free(m);
			goto out_close;
		}
		m->phys = frames_phys;
		m->len = frames_len;
		m->page_len = a->page_len;
	}
	b = (struct mapped){
		.buf = {
			.virt = m->base + (frames_phys - m->phys) + a->offset,
			.phys = a->phys,
			.len = a->len,
			.id = a->id,
			.page_len = a->page_len,
			.node = (int)a->node,
			.cache_type = req->cache_type,
			.user_data = req->user_data,
			.req_len = req->len,
			.tag = req->tag,
		},
		.map = m,
		.first = (uint32_t)((frames_phys - m->phys) / a->page_len),
		.nframes = a->nframes,
	};
	r = insert(c, &b);
	if (r == 0 && fresh && (r = maps_insert(c, m)) < 0)
		remove_at(c, find(c, b.buf.virt));
	if (r < 0) {
		contig_fail(r, "out of memory");
		if (fresh) {
			munmap(m->base, m->len);
			free(m);
		}
		goto out_close;
	}
	maps_get(m, b.first, b.nframes);
	*ret_buf = b.buf;
out_close:
	for (uint32_t i = 0; a->fds && i < a->nframes; i++)
		close(a->fds[i]);
	free(a->fds);
	return r;
}

/* The round trip of contig_alloc(); @warm marks the buffer a warm frame of
 * the fast path. */
static int alloc_round_trip(struct contig_client *c, const struct contig_alloc_req *req,
			    bool warm, struct contig_buffer *ret_buf)
{
	struct contig_wire_alloc a;
	int r;

	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = warm ? contig_wire_alloc_warm(&c->wire, req, &a)
			 : contig_wire_alloc(&c->wire, req, &a);
	if (r == 0 && (r = adopt(c, req, &a, ret_buf)) < 0)
		contig_wire_free(&c->wire, a.id, NULL, NULL);
	if (r == 0 && warm)
		find(c, ret_buf->virt)->warm = true;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* May @c's fast path hold buffers to look up, free or give back? (Read
 * without the lock: a stale answer only sends the call the round trip's
 * way, which asks again under the lock.) The daemon of the moment may take
 * no reports (an older one, or one with a short max_request_len, that this
 * client reconnected to), but what was cut before stays cut, mapped and
 * where it is. */
static bool fast_owned(const struct contig_client *c)
{
	return c->fast && !__atomic_load_n(&c->forked, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&c->wire.dead, __ATOMIC_RELAXED);
}

/* May it cut new buffers and report them: the same, with a daemon that
 * takes reports? */
static bool fast_ready(const struct contig_client *c)
{
	return fast_owned(c) && __atomic_load_n(&c->wire.accepts_carves, __ATOMIC_RELAXED);
}

/* Before a call that shows the daemon's view of this client: the fast
 * path's operations not yet reported are reported. */
static void fast_flush(struct contig_client *c)
{
	if (fast_ready(c))
		contig_fast_flush(c->fast);
}

/* Does the connection look unbroken? Asked by fast-path allocations, at
 * most once per FAST_CHECK_NS (a poll() of the socket, no round trip): a
 * client that allocates only from its warm frames would otherwise never
 * notice a daemon restart and lose its session at the end of the grace
 * period. When it looks broken (or cannot be looked at), the allocation
 * takes the round trip, which reconnects and reclaims the session. */
static bool fast_conn_alive(struct contig_client *c)
{
	struct timespec ts;
	struct pollfd p;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (now - __atomic_load_n(&c->fast_checked_ns, __ATOMIC_RELAXED) < FAST_CHECK_NS)
		return true;
	__atomic_store_n(&c->fast_checked_ns, now, __ATOMIC_RELAXED);
	p = (struct pollfd){ .fd = __atomic_load_n(&c->wire.sock, __ATOMIC_RELAXED),
			     .events = POLLIN | POLLRDHUP };
	return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* A round trip was refused with @err: was it for want of what this
 * client's empty warm frames hold (a quota that charges them, a pool short
 * of frames), and did giving them back free any? Then the caller asks
 * once more: a client with a small quota, or on a full pool, is served as
 * without the fast path. No lock held. */
static bool trim_for_retry(struct contig_client *c, int err)
{
	return (err == -EDQUOT || err == -ENOMEM) && fast_ready(c) &&
	       contig_fast_trim(c->fast) > 0;
}

int contig_frame_alloc(struct contig_client *c, const struct contig_alloc_req *req,
		       struct contig_buffer *ret_buf)
{
	return alloc_round_trip(c, req, true, ret_buf);
}

int contig_frame_free(struct contig_client *c, void *virt)
{
	struct mapped *m;
	int r = -ENOENT;

	pthread_mutex_lock(&c->lock);
	m = find(c, virt);
	if (m && m->warm && m->buf.virt == virt && !c->forked && !c->wire.dead) {
		uint64_t id = m->buf.id;

		unmap_buffer(c, m);
		r = contig_wire_free(&c->wire, id, NULL, NULL);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int contig_frame_report(struct contig_client *c, const struct contig_wire_report *rep,
			int64_t *ret_buffers_left)
{
	int r;

	pthread_mutex_lock(&c->lock);
	if (c->forked || c->wire.sock < 0)
		r = c->wire.dead ? contig_wire_dead(&c->wire)
				 : contig_fail(-ECONNRESET, "no session to report to");
	else
		r = contig_wire_carve(&c->wire, rep, ret_buffers_left);
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_flush(struct contig_client *c)
{
	contig_clear_message();
	return fast_ready(c) ? contig_fast_flush(c->fast) : 0;
}

CONTIG_EXPORT int contig_get_fast_stats(struct contig_client *c,
					struct contig_fast_stats *ret_stats)
{
	struct contig_fast_stats st = { 0 };

	pthread_mutex_lock(&c->lock);
	st.nrequests = c->wire.nrequests;
	pthread_mutex_unlock(&c->lock);
	contig_fast_counts(c->fast, &st.nreports, &st.nbackground);
	*ret_stats = st;
	return 0;
}

CONTIG_EXPORT int contig_alloc_flags(struct contig_client *c, const struct contig_alloc_req *req,
				     unsigned flags, struct contig_buffer *ret_buf)
{
	bool fast = !(flags & CONTIG_ALLOC_ROUND_TRIP) && fast_ready(c), alive = false;
	int r = -EAGAIN;

	contig_clear_message();
	if (flags & ~(CONTIG_ALLOC_ZERO | CONTIG_ALLOC_ROUND_TRIP))
		return contig_fail(-EINVAL, "flags: unknown flags 0x%x",
				   flags & ~(CONTIG_ALLOC_ZERO | CONTIG_ALLOC_ROUND_TRIP));
	if (fast && (alive = fast_conn_alive(c)))
		r = contig_fast_alloc(c->fast, req, flags, ret_buf);
	if (r == -EAGAIN)
		r = alloc_round_trip(c, req, false, ret_buf);
	if (r < 0 && trim_for_retry(c, r)) {
		contig_clear_message();
		r = alloc_round_trip(c, req, false, ret_buf);
	}
	/* The connection looked broken, so the round trip went first (it
	 * reconnects and reclaims the session) and the daemon could not
	 * serve it (its frames taken whole by warm frames, say, after a
	 * restart with a pool no larger than what is held): the free part
	 * of a warm frame may. */
	if (fast && !alive && (r == -ENOMEM || r == -EDQUOT) && fast_ready(c) &&
	    contig_fast_alloc(c->fast, req, flags, ret_buf) == 0) {
		contig_clear_message();
		r = 0;
	}
	if (r == 0 && (flags & CONTIG_ALLOC_ZERO))
		memset(ret_buf->virt, 0, ret_buf->len);
	return r;
}

CONTIG_EXPORT int contig_alloc(struct contig_client *c, const struct contig_alloc_req *req,
			       struct contig_buffer *ret_buf)
{
	return contig_alloc_flags(c, req, 0, ret_buf);
}

CONTIG_EXPORT unsigned contig_set_fast_reserve(struct contig_client *c, unsigned nframes)
{
	return c->fast ? contig_fast_set_reserve(c->fast, nframes) : 0;
}

CONTIG_EXPORT int contig_set_fast_path(struct contig_client *c, int on)
{
	if (!c->fast)
		return on ? contig_fail(-ENOMEM, "the fast path could not be set up") : 0;
	contig_fast_set_on(c->fast, on != 0);
	return 0;
}

CONTIG_EXPORT int contig_trim(struct contig_client *c)
{
	int r = 0;

	contig_clear_message();
	/* (A forked child's fast path is empty: the parent's warm frames are
	 * the parent's to give back. A lost session has nothing to give.) */
	if (__atomic_load_n(&c->wire.dead, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&c->lock);
		r = contig_wire_dead(&c->wire);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	if (fast_owned(c) && (r = contig_fast_trim(c->fast)) < 0)
		return contig_fail(r, "giving back an empty warm frame: %s", contig_last_message());
	return 0;
}

/* How many datagrams the reply to @req may take, at the smallest page
 * size: one, and one more per CONTIG_FDS_PER_DATAGRAM further frames. */
static unsigned datagrams(const struct contig_alloc_req *req)
{
	uint64_t frames = req->len / (2u << 20) + 2;
	uint64_t n = 1 + frames / CONTIG_FDS_PER_DATAGRAM;

	return n < PIPELINE_DEPTH ? (unsigned)n : PIPELINE_DEPTH;
}

/* A request of a *_many call on the wire: its seq, and what it takes to
 * send it again. */
struct inflight {
	uint64_t seq;
	union {
		unsigned datagrams; /* allocate: its reply's, at most (datagrams()) */
		uint64_t id;        /* free */
	};
};

/* The connection broke (@err) with the allocations @reqs[@done..@sent) in
 * flight (@flight, by index % PIPELINE_DEPTH): reclaim the session and
 * send them again, in order, with their seqs. Returns 0 or -errno. Lock
 * held. */
static int alloc_again(struct contig_client *c, int err, const struct contig_alloc_req *reqs,
		       const struct inflight *flight, size_t done, size_t sent)
{
	err = contig_wire_recover(&c->wire, err);
	for (size_t i = done; err == 0 && i < sent; i++)
		err = contig_wire_alloc_send(&c->wire, &reqs[i], flight[i % PIPELINE_DEPTH].seq);
	return err;
}

/* The same for frees. */
static int free_again(struct contig_client *c, int err, const struct inflight *flight,
		      size_t done, size_t sent)
{
	err = contig_wire_recover(&c->wire, err);
	for (size_t i = done; err == 0 && i < sent; i++)
		err = contig_wire_free_send(&c->wire, flight[i % PIPELINE_DEPTH].id, NULL, NULL,
					    flight[i % PIPELINE_DEPTH].seq);
	return err;
}

/* In the array contig_free_many() gives free_pipelined(): a buffer the
 * fast path freed. */
static char freed_fast_mark;
static void *const freed_fast = &freed_fast_mark;

/* Free @n buffers, pipelined: those starting at @virts[i], each unmapped
 * just before its free goes out (first, as in free_buffer()), or, with
 * @virts NULL, the ids @ids[i] (nothing to unmap). If the connection
 * breaks, the session is reclaimed and the frees not answered are sent
 * again (each time it breaks); NOT_FOUND after that is a free done before
 * the restart.
 * Returns 0 or the first error (message recorded). Lock held. */
static int free_pipelined(struct contig_client *c, void *const *virts, const uint64_t *ids,
			  size_t n)
{
	struct inflight flight[PIPELINE_DEPTH];
	size_t next = 0, sent = 0, done = 0;
	char first_message[CONTIG_MESSAGE_LEN + 32] = ""; /* + "buffer <i>: " */
	bool revived = false;
	int r = 0;

	while (next < n || done < sent) {
		int err;

		while (next < n && sent - done < PIPELINE_DEPTH) {
			struct inflight *f = &flight[sent % PIPELINE_DEPTH];
			struct mapped *m = virts ? find(c, virts[next]) : NULL;

			if (virts && virts[next] == freed_fast) {
				next++;
				continue;
			}
			if (virts && (!m || m->buf.virt != virts[next] || m->warm)) {
				err = not_ours(c, virts[next],
					       contig_fail(-ENOENT, "%p is not the start of a live buffer",
							   virts[next]));
				if (r == 0) {
					r = err;
					snprintf(first_message, sizeof(first_message),
						 "buffer %zu: %s", next, contig_last_message());
				}
				next++;
				continue;
			}
			f->id = virts ? m->buf.id : ids[next];
			if (m)
				unmap_buffer(c, m);
			f->seq = contig_wire_next_seq(&c->wire);
			err = contig_wire_free_send(&c->wire, f->id, NULL, NULL, f->seq);
			while (err < 0 && c->wire.broken) {
				revived = true;
				err = free_again(c, err, flight, done, sent + 1);
			}
			if (err < 0) {
				if (r == 0) {
					r = err;
					snprintf(first_message, sizeof(first_message),
						 "buffer %zu: %s", next, contig_last_message());
				}
				next = n; /* the connection is gone */
				break;
			}
			next++;
			sent++;
		}
		if (done == sent)
			break;
		err = contig_wire_free_recv(&c->wire, flight[done % PIPELINE_DEPTH].seq);
		if (err < 0 && c->wire.broken) {
			revived = true;
			do
				err = free_again(c, err, flight, done, sent);
			while (err < 0 && c->wire.broken);
			if (err == 0)
				continue;
		}
		if (err == -ENOENT && revived)
			err = 0;
		if (err < 0 && r == 0) {
			r = err;
			snprintf(first_message, sizeof(first_message), "%s", contig_last_message());
		}
		if (err == -ECONNRESET || err == -EPIPE || err == -EPROTO)
			break;
		done++;
	}
	if (r < 0)
		return contig_fail(r, "%s", first_message);
	contig_clear_message(); /* (a NOT_FOUND taken for a free) */
	return 0;
}

static int alloc_many(struct contig_client *c, const struct contig_alloc_req *reqs, size_t n,
		      struct contig_buffer *ret_bufs)
{
	struct inflight flight[PIPELINE_DEPTH];
	uint64_t *undo = calloc(n ? n : 1, sizeof(*undo));
	bool *adopted = calloc(n ? n : 1, sizeof(*adopted));
	size_t sent = 0, done = 0, nundo = 0;
	unsigned inflight = 0;
	char first_message[CONTIG_MESSAGE_LEN + 32] = ""; /* + "request <i>: " */
	int r = 0;

	contig_clear_message();
	if (!undo || !adopted) {
		free(undo);
		free(adopted);
		return contig_fail(-ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r < 0)
		snprintf(first_message, sizeof(first_message), "%s", contig_last_message());
	while (done < sent || (sent < n && r == 0)) {
		struct contig_wire_alloc a;
		bool stream_lost;
		int err;

		/* Keep the pipe full; stop sending after the first failure. */
		while (r == 0 && sent < n && sent - done < PIPELINE_DEPTH &&
		       (inflight == 0 || inflight + datagrams(&reqs[sent]) <= PIPELINE_DEPTH)) {
			struct inflight *f = &flight[sent % PIPELINE_DEPTH];

			f->seq = contig_wire_next_seq(&c->wire);
			f->datagrams = datagrams(&reqs[sent]);
			err = contig_wire_alloc_send(&c->wire, &reqs[sent], f->seq);
			while (err < 0 && c->wire.broken)
				err = alloc_again(c, err, reqs, flight, done, sent + 1);
			if (err < 0) {
				r = err;
				snprintf(first_message, sizeof(first_message), "%s", contig_last_message());
				break;
			}
			inflight += f->datagrams;
			sent++;
		}
		if (done == sent)
			break;
		err = contig_wire_alloc_recv(&c->wire, flight[done % PIPELINE_DEPTH].seq, &a);
		if (err < 0 && c->wire.broken) {
			/* What came of its reply is closed: sent again, the
			 * request brings the same buffer back (again after each
			 * break: a daemon may crash again while they are resent). */
			do
				err = alloc_again(c, err, reqs, flight, done, sent);
			while (err < 0 && c->wire.broken);
			if (err == 0)
				continue;
		}
		inflight -= flight[done % PIPELINE_DEPTH].datagrams;
		/* No more replies will come, or none that could be matched. (A
		 * reply adopt() refuses was read whole: the next ones follow.) */
		stream_lost = err == -ECONNRESET || err == -EPIPE || err == -EPROTO;
		if (err == 0)
			err = adopt(c, &reqs[done], &a, &ret_bufs[done]);
		if (err == 0)
			adopted[done] = true;
		else if (a.id)
			undo[nundo++] = a.id;
		if (err < 0 && r == 0) {
			r = err;
			snprintf(first_message, sizeof(first_message), "request %zu: %s", done,
				 contig_last_message());
		}
		if (stream_lost)
			break;
		done++;
	}
	if (r < 0) {
		/* All or nothing: give back what was allocated. */
		for (size_t i = 0; i < done; i++) {
			if (!adopted[i])
				continue;
			undo[nundo++] = ret_bufs[i].id;
			unmap_buffer(c, find(c, ret_bufs[i].virt));
		}
		free_pipelined(c, NULL, undo, nundo);
		contig_fail(r, "%s", first_message);
	}
	pthread_mutex_unlock(&c->lock);
	free(undo);
	free(adopted);
	return r;
}

CONTIG_EXPORT int contig_alloc_many(struct contig_client *c, const struct contig_alloc_req *reqs,
				    size_t n, struct contig_buffer *ret_bufs)
{
	int r = alloc_many(c, reqs, n, ret_bufs);

	/* (All or nothing: nothing is left of the refused call.) */
	if (r < 0 && trim_for_retry(c, r))
		r = alloc_many(c, reqs, n, ret_bufs);
	return r;
}

static int free_buffer(struct contig_client *c, void *virt, const uint64_t *len, const int *cache)
{
	struct mapped *m;
	uint64_t id;
	int r;

	contig_clear_message();
	if (fast_owned(c) && (r = contig_fast_free_buf(c->fast, virt, len, cache)) != -ENOENT)
		return r;
	pthread_mutex_lock(&c->lock);
	/* (No connection needed: a buffer of ours means one is open.) */
	if (c->forked && (r = claim_fork(c)) < 0)
		goto out_unlock;
	/* (Lost, it keeps its buffers mapped until contig_disconnect().) */
	r = contig_wire_dead(&c->wire);
	if (r < 0)
		goto out_unlock;
	m = find(c, virt);
	if (!m || m->buf.virt != virt || m->warm) {
		r = not_ours(c, virt,
			     contig_fail(-ENOENT, "%p is not the start of a live buffer", virt));
		goto out_unlock;
	}
	id = m->buf.id;
	if ((len && *len != m->buf.req_len) || (cache && *cache != m->buf.cache_type)) {
		/* The daemon refuses it (and says why); the buffer stays. */
		r = contig_wire_free(&c->wire, id, len, cache);
		if (r == 0)
			unmap_buffer(c, find(c, virt));
		goto out_unlock;
	}
	/* Unmap first: the daemon's truncate of the frames then finds no
	 * mapping of ours to shoot down on another CPU. */
	unmap_buffer(c, m);
	r = contig_wire_free(&c->wire, id, len, cache);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_free_many(struct contig_client *c, void *const *virts, size_t n)
{
	void **rest = NULL;
	int r;

	contig_clear_message();
	/* The fast path's buffers first, without the lock; the others go to
	 * the daemon pipelined (freed_fast: one freed here). */
	if (fast_owned(c) && n) {
		rest = malloc(n * sizeof(*rest));
		if (!rest)
			return contig_fail(-ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			rest[i] = contig_fast_free_buf(c->fast, virts[i], NULL, NULL) == 0 ? freed_fast
											   : virts[i];
		virts = rest;
	}
	pthread_mutex_lock(&c->lock);
	r = c->forked ? claim_fork(c) : 0;
	if (r == 0)
		r = contig_wire_dead(&c->wire);
	if (r == 0)
		r = free_pipelined(c, virts, NULL, n);
	pthread_mutex_unlock(&c->lock);
	free(rest);
	return r;
}

CONTIG_EXPORT int contig_free(struct contig_client *c, void *virt)
{
	return free_buffer(c, virt, NULL, NULL);
}

CONTIG_EXPORT int contig_free_checked(struct contig_client *c, void *virt, uint64_t len,
				      int cache_type)
{
	return free_buffer(c, virt, &len, &cache_type);
}

CONTIG_EXPORT int contig_buffer_of(struct contig_client *c, const void *virt,
				   struct contig_buffer *ret_buf)
{
	const struct inherited *in;
	struct mapped *m;
	int r = 0;

	if (fast_owned(c) && contig_fast_lookup(c->fast, virt, ret_buf) == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->forked)
		r = claim_fork(c);
	/* A lost session's frames go to others: their addresses are not ours. */
	if (r < 0)
		;
	else if (c->wire.dead)
		r = contig_wire_dead(&c->wire);
	else if ((m = find(c, virt)) && !m->warm)
		*ret_buf = m->buf;
	else if ((in = find_inherited(c, virt)))
		*ret_buf = in->buf; /* (the parent's: mapped here, translated the same) */
	else
		r = contig_fail(-ENOENT, "%p is not inside a live buffer", virt);
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_virt_to_phys(struct contig_client *c, const void *virt,
				      uint64_t *ret_phys)
{
	struct contig_buffer b;
	int r = contig_buffer_of(c, virt, &b);

	if (r == 0)
		*ret_phys = b.phys + (uint64_t)((const uint8_t *)virt - (const uint8_t *)b.virt);
	return r;
}

CONTIG_EXPORT int contig_get_stats(struct contig_client *c, struct contig_stats *ret_stats)
{
	int r;

	contig_clear_message();
	fast_flush(c);
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_stats(&c->wire, ret_stats, NULL, 0, NULL, 0, NULL);
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_get_segments(struct contig_client *c, struct contig_pool_segments *ret_segs,
				      size_t max, size_t *ret_n)
{
	struct contig_stats st;
	int r;

	contig_clear_message();
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_stats(&c->wire, &st, ret_segs, max, NULL, 0, NULL);
	pthread_mutex_unlock(&c->lock);
	if (r == 0)
		*ret_n = st.npools < max ? st.npools : max;
	return r;
}

CONTIG_EXPORT int contig_get_pool_windows(struct contig_client *c,
					  struct contig_pool_window *ret_windows, size_t max,
					  size_t *ret_n)
{
	struct contig_stats st;
	int r;

	contig_clear_message();
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_stats(&c->wire, &st, NULL, 0, ret_windows, max, NULL);
	pthread_mutex_unlock(&c->lock);
	if (r == 0)
		*ret_n = st.npools < max ? st.npools : max;
	return r;
}

CONTIG_EXPORT int contig_get_counters(struct contig_client *c, struct contig_stats *ret_stats,
				      struct contig_counters *ret_counters)
{
	int r;

	contig_clear_message();
	fast_flush(c);
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_stats(&c->wire, ret_stats, NULL, 0, NULL, 0, ret_counters);
	pthread_mutex_unlock(&c->lock);
	return r;
}

CONTIG_EXPORT int contig_list_buffers(struct contig_client *c,
				      struct contig_buffer_info **ret_bufs, size_t *ret_n)
{
	void *list;
	size_t n;
	int r;

	contig_clear_message();
	fast_flush(c);
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_list(&c->wire, false, &list, &n);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	*ret_bufs = list;
	*ret_n = n;
	return 0;
}

CONTIG_EXPORT int contig_list_frames(struct contig_client *c,
				     struct contig_frame_info **ret_frames, size_t *ret_n)
{
	void *list;
	size_t n;
	int r;

	contig_clear_message();
	fast_flush(c);
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_list(&c->wire, true, &list, &n);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	*ret_frames = list;
	*ret_n = n;
	return 0;
}

CONTIG_EXPORT int contig_report_misuse(struct contig_client *c, const char *routine,
				       const char *reason)
{
	int r;

	contig_clear_message();
	pthread_mutex_lock(&c->lock);
	r = own_session(c);
	if (r == 0)
		r = contig_wire_report(&c->wire, routine, reason);
	pthread_mutex_unlock(&c->lock);
	return r;
}
