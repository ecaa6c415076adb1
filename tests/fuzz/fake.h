/* fake.h - the daemon's world outside rpc.c, session.c, pool.c and range.c,
 * faked in memory for tests/fuzz/fuzz_request.c.
 *
 * fake.c provides what those files call outside themselves: frames.h (fake
 * hugepage frames: page-aligned physical addresses from a fixed map, no
 * memory behind them), recycle.h (a queue the harness drains when it
 * chooses), the connection callbacks server.c gives rpc.c (fake_conn_ops:
 * its send checks every reply and records it for the harness) and log.h
 * (formats, then drops). Single-threaded.
 */
#ifndef CONTIG_FUZZ_FAKE_H
#define CONTIG_FUZZ_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdpass.h"
#include "pool.h"
#include "rpc.h"
#include "session.h"

/* Stop the fuzzer with a report: a broken invariant is as good as a crash. */
#define fuzz_check(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

__attribute__((noreturn)) void fuzz_fail(const char *file, int line, const char *what);

/* Descriptors of fake frame files: FAKE_FD_BASE + dir index * FAKE_FD_DIR
 * + page index in the dir's map. Never real descriptors: nothing in the
 * code under test may use them but to pass them on. */
#define FAKE_FD_BASE 0x40000000
#define FAKE_FD_DIR 0x10000
#define FAKE_MAX_DIRS 8

/* Tags of a stats reply that the harness checks. */
#define FAKE_MAX_TAGS 64
/* Entries of a stats reply's buffer and frame list pages that it checks. */
#define FAKE_MAX_LISTED 128

/* Recycling behaviour for one input (from its header). */
struct fake_chaos {
	unsigned move_pct;      /* a recycled frame comes back on another page */
	unsigned lose_pct;      /* a recycle fails: the frame is lost */
	unsigned truncated_pct; /* its owner had truncated it */
};

/* Seed the input's pseudo-random choices; set how recycling behaves. */
void fake_reset(uint64_t seed, const struct fake_chaos *chaos);

/* A pseudo-random number below @n (n > 0), from the input's seed. */
uint32_t fake_rand(uint32_t n);

/* One fake frame directory (at most FAKE_MAX_DIRS at a time, @index
 * unique among them): the pages of one (node, page size) pool,
 * plus spare pages (the gaps between segments) that a recycled frame may
 * land on. The first @nframes pages of the map that are not spares are
 * handed out by contig_frame_reserve_many(), in shuffled order. */
struct fake_page_run {
	uint64_t phys;   /* first page */
	uint32_t npages; /* pages in the run */
	bool spare;      /* kept back: only recycling may land here */
};

struct contig_frame_dir *fake_dir_new(int index, uint64_t page_len,
				      const struct fake_page_run *runs, size_t nruns);
/* Every page must be back (no frame file leaked). */
void fake_dir_free(struct contig_frame_dir *dir);
/* Pages of @dir that a frame file holds. */
uint32_t fake_dir_nheld(const struct contig_frame_dir *dir);
/* The directory and physical address of fake descriptor @fd; false if it
 * is not a fake descriptor or its page is not held by a frame file. */
bool fake_fd_phys(int fd, const struct contig_frame_dir **ret_dir, uint64_t *ret_phys);
/* Frames that contig_frame_recycle() deliberately lost since fake_reset(). */
uint32_t fake_nlost(void);

/* contig_pool_frame_at() for the harness's checks, so that checking does
 * not count as coverage of the code under test (tests/fuzz/ is left out of
 * coverage: coverage.ignore). */
const struct contig_frame *fake_frame_at(const struct contig_pool *pool, uint64_t phys);

/* The fake recycler: contig_recycler_push() queues; the harness drains. */
struct contig_recycler *fake_recycler_new(void);
void fake_recycler_free(struct contig_recycler *rec);
/* Recycle and hand back (contig_pool_frame_recycled()) up to @max queued
 * frames, oldest first, like the recycle thread and contig_server_recycled().
 * Returns how many were handed back. */
size_t fake_recycler_drain(struct contig_recycler *rec, size_t max);
size_t fake_recycler_len(const struct contig_recycler *rec);

/* What the fake send callback saw of one reply datagram. */
struct fake_reply {
	uint64_t seq;
	int status;    /* Contig__Status */
	int body_case; /* Contig__Reply__BodyCase */
	bool has_message;
	char message[128]; /* its start */
	/* alloc body */
	uint64_t buffer_id, phys, len, page_len, offset;
	uint32_t nframes, node;
	/* frames body */
	uint32_t first;
	/* stats body */
	uint32_t n_sessions, my_nbuffers, my_nframes, n_tags;
	uint64_t my_len;
	struct {
		uint32_t tag, nbuffers;
		uint64_t len;
	} tags[FAKE_MAX_TAGS]; /* the first FAKE_MAX_TAGS of n_tags */
	/* stats lists: totals, and the first FAKE_MAX_LISTED entries of the page */
	bool has_nbuffers_listed, has_nframes_listed, has_generation;
	uint32_t nbuffers_listed, nframes_listed, n_buffers, n_frames;
	struct {
		uint64_t id, phys, len;
		uint32_t pid, uid, pool, tag;
		int cache_type;
	} buffers[FAKE_MAX_LISTED];
	struct {
		uint64_t phys;
		uint32_t pool, state, owner_pid, nbuffers;
		bool has_owner;
		int cache_type;
	} frames[FAKE_MAX_LISTED];
	/* descriptors, as physical addresses (fake_fd_phys()); all valid */
	size_t nfds;
	uint64_t fd_phys[CONTIG_FDS_PER_DATAGRAM];
};

/* What server.c registers with rpc.c (contig_rpc_set_ops()), faked: send
 * unpacks, checks and records every reply on the connection. */
extern const struct contig_rpc_ops fake_conn_ops;

/* One client connection as rpc.c sees it. */
struct contig_conn {
	struct contig_pools *env;
	bool fail_sends;   /* the client stopped reading: sends fail (server: -ENOBUFS) */
	bool closing;      /* a send failed: close after this request (server.c) */
	/* replies to the request being handled */
	struct fake_reply *replies;
	size_t nreplies, cap;
};

#endif
