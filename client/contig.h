/* contig.h - libcontig: physically contiguous memory from contigd.
 *
 * A client connects to the daemon, asks for buffers with the constraints of
 * Windows' MmAllocateContiguousMemorySpecifyCacheNode (size, physical
 * window, boundary, cache type, node), and receives them mapped into its own
 * address space, virtually and physically contiguous, with their physical
 * address. No privilege is needed.
 *
 * Every function that can fail returns 0 or a negative errno; the daemon's
 * (or the library's) reason is then available from contig_last_message()
 * in the same thread. Every function is safe to call from any thread; calls
 * on one client are serialised. A forked child may go on using its parent's
 * clients: see "Fork" below.
 *
 * Restarts. When contigd keeps sessions across restarts (its session_grace,
 * 30 s by default), a client outlives a daemon crash, stop or upgrade: a
 * call whose connection breaks connects again by itself (backoff from 10 ms
 * to 250 ms), reclaims its session and sends its request again (after each
 * break), so the caller sees a delay and nothing else. Buffers keep their
 * virt, phys and id throughout; nothing is remapped, and the memory stays
 * readable and writable while the daemon is down. A repeated allocate is
 * never applied twice, a repeated free of a buffer freed before the restart
 * succeeds. If no daemon answers within the grace period, or the one that
 * does will not give the session back, the client is dead: that call and
 * every later one (contig_virt_to_phys() included: the memory is no longer
 * the client's) return -ECONNRESET, contig_last_message() says what
 * happened, and only contig_disconnect() is left to do; the buffers stay
 * mapped until then. A client that holds no buffer at the break simply
 * starts a new session. While it reconnects a client's calls wait, in
 * every thread. $CONTIGD_RECONNECT=0 at contig_connect() turns this off: a
 * broken connection then fails every call, as from a daemon that keeps no
 * sessions.
 *
 * Fork. A process is a client (as with any Unix daemon's clients, and as
 * Windows gives each process its own view). A struct contig_client that a
 * child inherits over fork() serves the child as a session of its own: the
 * child's first call on it opens a new connection (nothing the child does
 * ever travels on the parent's), so what the child allocates is counted to
 * the child's pid and returns to the pool when the child exits, is killed
 * or execs. The parent's buffers stay mapped in the child (they are shared
 * mappings) and contig_virt_to_phys()/contig_buffer_of() keep translating
 * them there, but they remain the parent's: contig_free() of one in the
 * child frees nothing and returns -EPERM, and the parent's handle, buffers
 * and counts never change because of a child. An inherited buffer stays
 * valid in the child only while the parent holds it. fork() waits for the
 * requests other threads have in flight (at most one per client); the
 * sockets are close-on-exec. Fork without the C library's fork()
 * (a raw clone(2)) is not supported.
 */
#ifndef CONTIG_H
#define CONTIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CONTIG_EXPORT __attribute__((visibility("default")))
#else
#define CONTIG_EXPORT
#endif

/* Socket used when contig_connect() gets NULL and CONTIGD_SOCKET is unset. */
#define CONTIG_DEFAULT_SOCKET_PATH "/run/contigd/contigd.sock"

/* Cache types: Windows' MEMORY_CACHING_TYPE values. The CPU mapping is
 * always write-back (Linux user space cannot change it); buffers of
 * different types never share a frame. See README.md, "Cache types". */
enum contig_cache_type {
	CONTIG_NON_CACHED = 0,
	CONTIG_CACHED = 1,
	CONTIG_WRITE_COMBINED = 2,
	CONTIG_HARDWARE_COHERENT_CACHED = 3,
	CONTIG_NON_CACHED_UNORDERED = 4,
	CONTIG_USWC_CACHED = 5,
};

#define CONTIG_NODE_ANY (-1)
#define CONTIG_PHYS_MAX UINT64_MAX

struct contig_client;

/* What a buffer must satisfy. Fill with contig_alloc_req_init(). */
struct contig_alloc_req {
	uint64_t len;          /* bytes, > 0; rounded up to 4 KiB */
	uint64_t lowest_phys;  /* first acceptable physical byte */
	uint64_t highest_phys; /* last acceptable physical byte (inclusive) */
	uint64_t boundary;     /* 0, or a power of two >= len the buffer never crosses */
	uint64_t align;        /* 0 (4 KiB), or a power of two for the physical start */
	int cache_type;        /* enum contig_cache_type */
	int node;              /* a NUMA node, or CONTIG_NODE_ANY (the calling CPU's node first) */
	uint32_t tag;          /* pool tag, for accounting (per-tag stats) */
	uint32_t priority;     /* EX_POOL_PRIORITY value: CONTIG_PRIORITY_* */
	uint64_t user_data;    /* not sent; kept with the buffer for the caller */
};

/* Priorities (Windows' EX_POOL_PRIORITY values; the special-pool variants
 * 8/9, 24/25, 40/41 behave as their base). Low and normal fail while a pool
 * is below its watermark; high may take the last frame. (The same
 * values as the source tree's common/priority.h.) */
#define CONTIG_PRIORITY_LOW 0u
#define CONTIG_PRIORITY_NORMAL 16u
#define CONTIG_PRIORITY_HIGH 32u

/* A live buffer. */
struct contig_buffer {
	void *virt;       /* first byte, in this process */
	uint64_t phys;    /* physical address of the first byte */
	uint64_t len;     /* bytes, rounded up to 4 KiB */
	uint64_t id;      /* the daemon's id, meaningful in this connection only */
	uint64_t page_len; /* size of the hugepages behind it */
	int node;
	int cache_type;
	uint64_t user_data; /* as given in the request */
	uint64_t req_len;   /* as given in the request */
	uint32_t tag;
};

/* Pool totals, as contigctl status shows them. */
struct contig_pool_stats {
	int node;
	uint64_t page_len;
	uint64_t total_len;
	uint64_t free_len;
	uint64_t largest_free_len; /* the largest buffer a new request could get */
	uint32_t nframes;
	uint32_t nframes_owned;
	uint32_t nframes_recycling;
	uint32_t nsegments;
	uint64_t largest_segment_len;
	uint32_t nbuffers;
	uint32_t nclients;
};

struct contig_stats {
	struct contig_pool_stats pools[16];
	uint32_t npools;
	uint32_t nsessions;
	uint32_t my_nbuffers; /* this connection's */
	uint64_t my_len;
	uint32_t my_nframes;
	uint64_t nrecycled;
	uint64_t nrecycle_moved;
	uint64_t nframes_lost;
	uint64_t nrecycle_truncated; /* frames whose owner had truncated their file */
	uint64_t nbugchecks;         /* misuses reported with contig_report_misuse() */
	/* Per pool tag, like poolmon: every session's for root, else the
	 * caller's own. */
	struct contig_tag_stats {
		uint32_t tag;
		uint32_t nbuffers; /* live */
		uint64_t len;      /* live bytes */
		uint64_t nallocs;
		uint64_t nfrees;
	} tags[64];
	uint32_t ntags;
	/* Every session (root only; empty for others). */
	struct contig_session_stats {
		int pid;
		unsigned uid;
		char comm[16];
		uint32_t nbuffers;
		uint64_t len;
		uint32_t nframes;
		uint64_t nbugchecks;
	} sessions[256];
	uint32_t nsessions_listed;
	uint64_t nframes_recovered; /* lost frames a retry brought back (nframes_lost
				       counts each loss once) */
	uint64_t nrequests_waited;  /* requests that waited for a frame being
				       recycled (0 from an older daemon) */
};

/* One live buffer, as contig_list_buffers() reports it (any process's for
 * root). */
struct contig_buffer_info {
	uint64_t id;       /* the daemon's id, meaningful in its owner's connection only */
	int pid;           /* the owner process */
	unsigned uid;
	uint32_t pool;     /* index into contig_stats.pools */
	int node;
	uint64_t page_len; /* of its pool */
	uint64_t phys;     /* physical address of the first byte */
	uint64_t len;      /* bytes, rounded up to 4 KiB */
	int cache_type;
	uint32_t tag;      /* as accounted: 0xffffffff ("other") when no tag table had room */
};

/* What a frame (one hugepage of a pool) is doing. */
enum contig_frame_status {
	CONTIG_FRAME_STATUS_FREE = 0,
	CONTIG_FRAME_STATUS_OWNED = 1,     /* holds buffers of one connection */
	CONTIG_FRAME_STATUS_RECYCLING = 2, /* being revoked and zeroed */
	CONTIG_FRAME_STATUS_LOST = 3,      /* out of service (could not be re-faulted) */
};

/* One frame, as contig_list_frames() reports it. */
struct contig_frame_info {
	uint32_t pool;     /* index into contig_stats.pools */
	uint64_t phys;     /* its physical address (where it last was, when lost); 0
			    * unless the caller is root or owns the frame */
	int status;        /* enum contig_frame_status */
	/* For an owned frame whose owner the caller may see (root: every
	 * frame; others: their own connection's), else 0, -1 and 0: */
	int owner_pid;
	int cache_type;
	uint32_t nbuffers; /* live buffers in it */
};

/* No constraint but @len: any window, no boundary, cached, any node, high
 * priority, tag 0. */
CONTIG_EXPORT void contig_alloc_req_init(struct contig_alloc_req *req, uint64_t len);

/* Connect to the daemon at @socket_path (NULL: $CONTIGD_SOCKET, else the
 * default path) and say hello. The path is kept: after a daemon restart the
 * client reconnects there and reclaims its session (see "Restarts" above;
 * $CONTIGD_RECONNECT=0: not). Returns 0 and *ret_client, -ENOENT or
 * -ECONNREFUSED (no daemon), -EPROTO (protocol mismatch), or -errno. */
CONTIG_EXPORT int contig_connect(const char *socket_path, struct contig_client **ret_client);

/* Unmap every buffer and close the connection; the daemon recycles what the
 * client held. Accepts NULL, and a dead client (its session lost). No other
 * thread may use @client meanwhile. */
CONTIG_EXPORT void contig_disconnect(struct contig_client *client);

/* Allocate a buffer satisfying every constraint in @req, mapped read-write.
 * Returns 0 and *ret_buf; -EINVAL (a field is malformed: the message names
 * it), -ENOMEM (no range satisfies the constraints), or another -errno. */
CONTIG_EXPORT int contig_alloc(struct contig_client *client, const struct contig_alloc_req *req,
			       struct contig_buffer *ret_buf);

/* contig_alloc() with @flags (an OR of CONTIG_ALLOC_*; others: -EINVAL).
 * struct contig_alloc_req has no spare field and its size is libcontig.so.1's
 * ABI, so flags come as an argument. */
#define CONTIG_ALLOC_ZERO 1u       /* zero the buffer's bytes before returning it */
#define CONTIG_ALLOC_ROUND_TRIP 2u /* never from the fast path: the daemon allocates */
CONTIG_EXPORT int contig_alloc_flags(struct contig_client *client,
				     const struct contig_alloc_req *req, unsigned flags,
				     struct contig_buffer *ret_buf);

/* The fast path (docs/semantics.md, "The fast path"): a request of at
 * most 256 KiB is served inside a warm frame (a 2 MiB buffer the client
 * holds) without a round trip, with every constraint checked on physical
 * addresses by the daemon's own allocator. On by default;
 * $CONTIGD_FAST_PATH=0 at contig_connect() turns it off (a round trip per
 * buffer: the strict accounting), contig_set_fast_path() too; with a daemon that takes the fast path's
 * reports only (an older one: every buffer a round trip; one that does not
 * say HelloReply.buffers_left leaves it off unless asked for by either
 * switch: it may close the connection at a report longer than its
 * max_request_len). The daemon is
 * told of the fast path's allocations and frees in batches, at most one
 * report's worth per thread arena or 10 ms late (contig_flush()).
 * contig_alloc_many() always takes the round trip. Returns 0 or -ENOMEM
 * (no fast path could be set up). */
CONTIG_EXPORT int contig_set_fast_path(struct contig_client *client, int on);

/* Empty warm frames kept per (node, page size, cache type) before one goes
 * back to the daemon (2 by default, $CONTIGD_FAST_RESERVE at
 * contig_connect(); at most 64), besides one per thread arena in use (at
 * most 8; 0 keeps none at all). Returns the value set. */
CONTIG_EXPORT unsigned contig_set_fast_reserve(struct contig_client *client, unsigned nframes);

/* Give every empty warm frame of the fast path back to the daemon now,
 * reserve included (a driver about to idle; a test or a tool that wants
 * the pool whole). Warm frames holding a buffer stay; the fast path warms
 * up again at the next small allocation. A round trip per frame given
 * back; none when there is none. Returns 0, or -ECONNRESET (the session is
 * lost) or another -errno of the round trip (message recorded). */
CONTIG_EXPORT int contig_trim(struct contig_client *client);

/* Tell the daemon of every fast-path allocation and free not yet
 * reported, and wait for its reply (and for a report already on its way),
 * so that what it shows (contigctl, contig_list_buffers(), quotas) is this
 * client's view. This client's own stats and list calls do it first.
 * Returns 0 (also without a fast path: nothing to tell) or -errno. */
CONTIG_EXPORT int contig_flush(struct contig_client *client);

/* What this client sent the daemon, for benchmarks and monitoring; no
 * round trip. */
struct contig_fast_stats {
	uint64_t nrequests;   /* requests sent on its connection (resent ones too) */
	uint64_t nreports;    /* of those, the fast path's reports */
	uint64_t nbackground; /* of those, sent by its reporter thread: no caller waited */
};
CONTIG_EXPORT int contig_get_fast_stats(struct contig_client *client,
					struct contig_fast_stats *ret_stats);

/* Allocate @n buffers, @reqs[i] into @ret_bufs[i], with up to 32 requests
 * in flight on the connection at once (pipelined: one round trip's wait
 * covers many). All or nothing: on failure nothing stays allocated and the
 * message names the first request that failed. Returns 0 or as
 * contig_alloc(). */
CONTIG_EXPORT int contig_alloc_many(struct contig_client *client,
				    const struct contig_alloc_req *reqs, size_t n,
				    struct contig_buffer *ret_bufs);

/* Free the @n buffers starting at @virts[i], pipelined as contig_alloc_many().
 * Every live one is freed; returns 0, or -ENOENT (the message names the
 * first address that is not the start of a live buffer) or another -errno. */
CONTIG_EXPORT int contig_free_many(struct contig_client *client, void *const *virts, size_t n);

/* Busy-poll mode, off by default: wait for each reply spinning for up to
 * @usec microseconds (at most 1000; returned) before sleeping. Worth it only
 * when the daemon busy-polls too (its busy_poll_us) and runs on another
 * CPU: it trades a CPU's time for wake-up latency. $CONTIGD_BUSY_POLL_US
 * sets it at contig_connect(). 0 turns it off. */
CONTIG_EXPORT unsigned contig_set_busy_poll(struct contig_client *client, unsigned usec);

/* Free the buffer whose first byte is at @virt and unmap it. Returns 0,
 * -ENOENT if @virt is not the start of a live buffer, or -EPERM if it is a
 * buffer inherited over fork() (see "Fork"); nothing is freed then. */
CONTIG_EXPORT int contig_free(struct contig_client *client, void *virt);

/* Free the buffer at @virt only if it was allocated with exactly @len bytes
 * and @cache_type (MmFreeContiguousMemorySpecifyCache). Returns 0, -ENOENT,
 * or -EILSEQ on a mismatch (nothing is freed). */
CONTIG_EXPORT int contig_free_checked(struct contig_client *client, void *virt, uint64_t len,
				      int cache_type);

/* Physical address of the byte at @virt, which may be anywhere inside a
 * live buffer of this client. Returns 0 and *ret_phys, -ENOENT, or
 * -ECONNRESET once the session is lost. Needs no round trip. */
CONTIG_EXPORT int contig_virt_to_phys(struct contig_client *client, const void *virt,
				      uint64_t *ret_phys);

/* The live buffer containing @virt. Returns 0 and *ret_buf, -ENOENT, or
 * -ECONNRESET once the session is lost. */
CONTIG_EXPORT int contig_buffer_of(struct contig_client *client, const void *virt,
				   struct contig_buffer *ret_buf);

/* Pool totals and this connection's usage. Returns 0 or -errno. */
CONTIG_EXPORT int contig_get_stats(struct contig_client *client, struct contig_stats *ret_stats);

/* How a pool's frames are cut into segments (runs of physically adjacent
 * frames), as contigctl status shows it. (The same value as the source
 * tree's common/segments.h.) */
#define CONTIG_SEGMENT_BUCKETS 20
struct contig_pool_segments {
	/* count[i]: segments of 2^i to 2^(i+1) - 1 frames (in service: frames
	 * being recycled are left out); the last bucket counts longer ones too */
	uint32_t count[CONTIG_SEGMENT_BUCKETS];
	uint64_t nbroken; /* segments broken since startup by a recycled frame that
			     moved away from its neighbour */
	int known;        /* 0: the daemon is older and does not say */
};

/* The segments of each pool, in the order of contig_stats.pools, into
 * @ret_segs[0..max). Returns 0 with *ret_n pools filled, or -errno. */
CONTIG_EXPORT int contig_get_segments(struct contig_client *client,
				      struct contig_pool_segments *ret_segs, size_t max,
				      size_t *ret_n);

/* A pool's physical window (the pool option below=): memory for devices
 * that reach only low addresses, such as 32-bit DMA. */
struct contig_pool_window {
	uint64_t highest_phys; /* no frame of the pool holds a byte above this;
				  CONTIG_PHYS_MAX: the pool has no window */
	uint64_t wanted_len;   /* bytes the configuration asked for: the pool's
				  total_len is less when its window held fewer
				  free frames (0: the daemon does not say) */
};

/* The window of each pool, in the order of contig_stats.pools, into
 * @ret_windows[0..max). Returns 0 with *ret_n pools filled, or -errno. */
CONTIG_EXPORT int contig_get_pool_windows(struct contig_client *client,
					  struct contig_pool_window *ret_windows, size_t max,
					  size_t *ret_n);

/* Counters for monitoring (contigctl metrics): what the daemon counted
 * since it started. Everyone gets them (they say how busy the daemon is,
 * not who uses it). */
#define CONTIG_LATENCY_BUCKETS 32
struct contig_latency {
	char request[16];   /* "hello", "alloc", "free", "stats", "report", "other" */
	uint64_t count;     /* requests of this kind */
	uint64_t sum_ns;    /* the time they took, together */
	uint32_t nbuckets;  /* bounds in le_ns[] */
	uint64_t le_ns[CONTIG_LATENCY_BUCKETS];
	/* bucket_count[i]: requests that took at most le_ns[i] (and more than
	 * le_ns[i - 1]): not cumulative; bucket_count[nbuckets]: the rest */
	uint64_t bucket_count[CONTIG_LATENCY_BUCKETS + 1];
};

struct contig_counters {
	int known;                   /* 0: the daemon is older and does not count */
	uint64_t start_time;         /* unix seconds the daemon started */
	uint64_t nallocs;            /* buffers allocated */
	uint64_t nfrees;             /* buffers freed by a free request */
	uint64_t nreleased;          /* buffers released with their client's connection */
	uint64_t nsessions_restored; /* sessions adopted from the daemon's last instance */
	uint64_t nsessions_resumed;  /* of those, reclaimed by their client */
	uint32_t norphans;           /* restored sessions still waiting for their client */
	uint32_t live_nbuffers;      /* every client's live buffers */
	uint64_t live_len;           /* and their bytes */
	struct contig_refusal_count {
		char reason[32];     /* stable name: "watermark", "no_range", ... */
		int status;          /* the wire status it was sent with (contig.proto) */
		uint64_t count;
	} refusals[32];
	uint32_t nrefusals;
	struct contig_latency latency[8];
	uint32_t nlatency;
	/* Per pool, in the order of contig_stats.pools: */
	uint32_t pool_nframes_lost[16]; /* frames out of service */
};

/* The stats and the counters from one look at the daemon (one reply: they
 * agree with each other). Returns 0 or -errno. */
CONTIG_EXPORT int contig_get_counters(struct contig_client *client,
				      struct contig_stats *ret_stats,
				      struct contig_counters *ret_counters);

/* Every live buffer the caller may see: root every connection's, anyone
 * else only this connection's. Returns 0 with *ret_bufs (malloc'd; the
 * caller free()s it, NULL when *ret_n is 0) and *ret_n; -EAGAIN if buffers
 * kept changing while the list came in pages (try again); -EOPNOTSUPP
 * from a daemon that does not list; or -errno. */
CONTIG_EXPORT int contig_list_buffers(struct contig_client *client,
				      struct contig_buffer_info **ret_bufs, size_t *ret_n);

/* Every frame of every pool, pool by pool (in each, in the daemon's order,
 * not by address), owners shown as struct contig_frame_info says. For a
 * caller other than root, a pool's list is the caller's own frames, then
 * the others by status alone (free, owned, recycling, lost) with phys 0.
 * Returns as contig_list_buffers(). */
CONTIG_EXPORT int contig_list_frames(struct contig_client *client,
				     struct contig_frame_info **ret_frames, size_t *ret_n);

/* Report a misuse the Windows routines would bug-check on (a bad free):
 * the daemon counts it (nbugchecks). @routine and @reason are short texts.
 * Returns 0 or -errno. */
CONTIG_EXPORT int contig_report_misuse(struct contig_client *client, const char *routine,
				       const char *reason);

/* The reason for the last failure in this thread ("" if none). */
CONTIG_EXPORT const char *contig_last_message(void);

/* ---- Cache maintenance (README.md, "Cache types") ----
 *
 * Every buffer is mapped write-back, whatever its cache type: Linux user
 * space cannot change how the CPU caches RAM. A cache type instead says
 * which maintenance a driver does around DMA, with these calls, on a
 * range [offset, offset + len) of a live buffer (widened to whole cache
 * lines, which never leave the buffer):
 *
 *   CONTIG_CACHED, CONTIG_HARDWARE_COHERENT_CACHED: coherent, no cache
 *     maintenance; sync_for_device is an sfence (orders non-temporal
 *     stores before a later doorbell), sync_for_cpu a compiler barrier.
 *   CONTIG_NON_CACHED, CONTIG_NON_CACHED_UNORDERED, CONTIG_WRITE_COMBINED,
 *   CONTIG_USWC_CACHED: sync_for_device writes every line back to memory
 *     (clwb, else clflushopt, else clflush) and fences; sync_for_cpu
 *     writes back and evicts every line (clflushopt, else clflush) and
 *     mfences, so the CPU's next loads come from memory.
 *
 * Ownership as in the kernel's DMA API: sync_for_device before the device
 * reads or writes the range, sync_for_cpu after it wrote and before the
 * CPU reads; the CPU must not write the range in between (an eviction
 * writes a line the CPU dirtied back over what the device wrote). On CPUs
 * other than x86-64 both calls are only a full memory barrier, with no
 * cache maintenance (see contig_get_cache_info()): correct only where DMA
 * is cache-coherent. The CPU's choice is made once, at the first call;
 * $CONTIGD_CACHE_FLUSH then ("clflushopt", "clflush", "none") may lower it.
 */

/* Make what the CPU wrote in [@offset, @offset + @len) of @buf visible to
 * a device, as @buf's cache type needs. @buf is the struct libcontig
 * filled (contig_alloc(), contig_buffer_of()). Returns 0; -ENOENT if @buf
 * is not a live buffer of @client (freed, another client's, or altered);
 * -EINVAL if the range is not inside it (@offset + @len past buf->len, or
 * overflowing; @len 0 is fine); -ECONNRESET once the session is lost.
 * Takes @client's lock only for the lookup; any thread, but not while
 * another frees @buf. */
CONTIG_EXPORT int contig_sync_for_device(struct contig_client *client,
					 const struct contig_buffer *buf, uint64_t offset,
					 uint64_t len);

/* Make what a device wrote in [@offset, @offset + @len) of @buf visible to
 * the CPU, as @buf's cache type needs: for a non-coherent type, no line of
 * the range stays in this CPU's caches. Returns as
 * contig_sync_for_device(). */
CONTIG_EXPORT int contig_sync_for_cpu(struct contig_client *client,
				      const struct contig_buffer *buf, uint64_t offset,
				      uint64_t len);

/* Copy @len bytes from @src to @dst with non-temporal (streaming) stores,
 * which bypass the cache as a write-combined mapping would, then sfence:
 * for filling CONTIG_WRITE_COMBINED and CONTIG_USWC_CACHED buffers (any
 * memory will do; any alignment of either side). Not for overlapping
 * ranges. Without non-temporal stores (not x86-64, or
 * CONTIGD_CACHE_FLUSH=none), memcpy() and a full memory barrier. The
 * destination's lines are not in the cache afterwards only as far as the
 * CPU honours the hint; sync_for_device is still the call that guarantees
 * it. Any thread. */
CONTIG_EXPORT void contig_copy_to_wc(void *dst, const void *src, size_t len);

/* How this CPU's cache maintenance is done, as the sync calls do it. */
struct contig_cache_info {
	uint32_t line_len;      /* bytes one flush instruction covers */
	const char *write_back; /* sync_for_device: "clwb", "clflushopt", "clflush",
				 * or "none" (the portable fallback: a fence only) */
	const char *invalidate; /* sync_for_cpu: "clflushopt", "clflush" or "none" */
	int nt_stores;          /* contig_copy_to_wc() uses non-temporal stores */
};

/* Fill *ret_info (static strings). Detects the CPU on first use. Any
 * thread. */
CONTIG_EXPORT void contig_get_cache_info(struct contig_cache_info *ret_info);

#ifdef __cplusplus
}
#endif

#endif
