/* session.h - what one client connection owns: frames, and the buffers in
 * them. Everything is released when the session is freed.
 *
 * Loop thread only.
 */
#ifndef CONTIG_SESSION_H
#define CONTIG_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool.h"
#include "recycle.h"

/* Highest NUMA node number a request may name. */
#define CONTIG_MAX_NODE 1023

/* MEMORY_CACHING_TYPE values a buffer may have (MmNonCached .. MmUSWCCached). */
#define CONTIG_CACHE_TYPE_MAX 5
#define CONTIG_CACHE_DEFAULT 1 /* MmCached */

/* What every session draws from: the pools, sorted by page size and node,
 * and the recycler that frames go to when their owner lets them go. */
struct contig_pools {
	struct contig_pool **pools;
	size_t npools;
	struct contig_recycler *recycler;
	uint64_t max_frames_per_buffer;
};

/* A request, as the wire gives it (rpc.c fills in the defaults). */
struct contig_alloc_params {
	uint64_t len;      /* bytes */
	uint64_t lowest;   /* physical, inclusive */
	uint64_t highest;  /* physical, inclusive */
	uint64_t boundary; /* 0 or a power of two */
	uint64_t align;    /* 0 or a power of two */
	int cache_type;    /* 0..CONTIG_CACHE_TYPE_MAX */
	int node;          /* -1: any */
	uint32_t tag;
	uint32_t priority;
};

/* A live buffer. Addresses stay valid until the next call that allocates
 * or frees in the same session. */
struct contig_buffer {
	uint64_t id;
	struct contig_pool *pool;
	uint64_t phys;    /* first byte */
	uint64_t len;     /* rounded up to 4 KiB */
	uint64_t req_len; /* as asked */
	int cache_type;
	uint32_t tag;
};

struct contig_session {
	struct contig_pools *pools;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct holding *holdings; /* free space in owned frames, per (pool, cache type) */
	size_t nholdings;
	struct slot *slots;       /* buffers by id */
	uint32_t nslots;
	uint32_t free_slot;       /* head of the free slot list, UINT32_MAX if none */
	uint32_t nbuffers;
	uint32_t nframes;         /* frames owned */
	uint64_t len;             /* bytes in live buffers */
};

/* Returns 0 and *ret_session, or -ENOMEM. */
int contig_session_new(struct contig_pools *pools, pid_t pid, uid_t uid, gid_t gid,
		       struct contig_session **ret_session);

/* Free every buffer, send every frame to the recycler, free @session.
 * Accepts NULL. */
void contig_session_free(struct contig_session *session);

/* Allocate a buffer that satisfies every constraint in @params: first in
 * frames the session already owns for that cache type, else in free
 * physically adjacent frames of the smallest page size that fits.
 * Returns 0 and *ret_buffer; -EINVAL with *ret_field naming the bad field;
 * -ENOSPC if nothing satisfies it; -EAGAIN if nothing does now but frames
 * being recycled might (retry when the recycler reports); -E2BIG if the
 * buffer would span more than max_frames_per_buffer frames. */
int contig_session_alloc(struct contig_session *session, const struct contig_alloc_params *params,
			 const char **ret_field, struct contig_buffer **ret_buffer);

/* The live buffer @id of this session, or NULL. */
struct contig_buffer *contig_session_buffer(struct contig_session *session, uint64_t id);

/* Free buffer @id. If @check_len is not NULL, free only if it equals the
 * requested length and @check_cache (not NULL then) the cache type.
 * Returns 0, -ENOENT (no such buffer in this session) or -EILSEQ (mismatch:
 * nothing freed). */
int contig_session_free_buffer(struct contig_session *session, uint64_t id,
			       const uint64_t *check_len, const int *check_cache);

#endif
