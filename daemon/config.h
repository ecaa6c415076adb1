/* config.h - contigd's configuration: the file format and the embedded
 * default; the --pool NODE:PAGESIZE:SIZE syntax is poolspec.h's, sizes
 * size.h's (both included here).
 *
 * Pure C (no libuv, no syscalls beyond reading the file); unit-tested by
 * tests/unit/test_config.c. Main thread only.
 *
 * File format: one "key = value" per line; '#' starts a comment; blank lines
 * are ignored; whitespace around keys and values is ignored. Keys:
 *   socket = PATH                  listening socket (default CONTIG_DEFAULT_SOCKET)
 *   pool   = NODE:PAGESIZE:SIZE    reserve SIZE bytes of PAGESIZE pages on NODE;
 *                                  repeatable; the same (node, page size,
 *                                  window) twice is an error
 *   reserve_min_free = SIZE        free memory reserving leaves on a node (1G)
 *   watermark_low = PERCENT        low-priority allocations fail rather than
 *                                  leave less than this share of a pool free
 *                                  (default 25%)
 *   watermark_normal = PERCENT     the same for normal priority (default 5%;
 *                                  not above watermark_low)
 *   max_share_per_user = PERCENT   of each pool, what one uid may pin (50%)
 *   socket_user, socket_group, socket_mode
 *                                  owner, group and mode of the socket file
 *                                  (root, contigd, 0660)
 *   allow_users, allow_groups      who may connect besides root (names or
 *                                  numbers, comma-separated; allow_groups
 *                                  defaults to socket_group)
 *   max_* (struct contig_limits)   limits on what a client controls
 *   busy_poll_us, log_level
 *   session_grace = DURATION       how long a session the daemon restored
 *                                  at restart waits for its client (0: keep
 *                                  no journal; default 30s)
 * Every key but pool may be given once.
 * Sizes are decimal or 0x hex and take a K, M, G or T suffix (powers of
 * 1024, optional "iB"/"B"); NODE is 0..1023; PAGESIZE must be 2M or 1G
 * (written any way that means 2 MiB or 1 GiB); SIZE must be a positive
 * multiple of PAGESIZE. The socket path must be shorter than 108 bytes and
 * given at most once; files are at most 1 MiB.
 */
#ifndef CONTIG_CONFIG_H
#define CONTIG_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "poolspec.h"
#include "size.h"

#define CONTIG_DEFAULT_SOCKET "/run/contigd/contigd.sock"
#define CONTIG_DEFAULT_SOCKET_USER "root"
#define CONTIG_DEFAULT_SOCKET_GROUP "contigd"
#define CONTIG_DEFAULT_SOCKET_MODE 0660
#define CONTIG_DEFAULT_WATERMARK_LOW 25
#define CONTIG_DEFAULT_WATERMARK_NORMAL 5
#define CONTIG_DEFAULT_SHARE_PER_USER 50 /* percent of each pool */
#define CONTIG_DEFAULT_LOG_LEVEL 6 /* LOG_INFO */
#define CONTIG_DEFAULT_SESSION_GRACE_MS 30000
#define CONTIG_DEFAULT_RESERVE_MIN_FREE (UINT64_C(1) << 30)

/* The configuration used when no --config is given. */
extern const char contig_config_default[];

/* Limits on everything a client controls (systemd's rule). Each has a
 * default, a key of the same name, and an error that names it. */
struct contig_limits {
	uint64_t max_connections;
	uint64_t max_connections_per_user;
	uint64_t max_buffers_per_connection;
	uint64_t max_buffers_per_user;
	/* Byte limits count what a client keeps from others: the bytes of the
	 * frames (whole hugepages) its buffers pin, charged when a frame is
	 * claimed and released when it goes back; a buffer packed into a frame
	 * already held costs nothing more. */
	uint64_t max_bytes_per_connection; /* 0: no limit beyond the pools */
	uint64_t max_bytes_per_user;       /* 0: no limit beyond the pools */
	/* Percent of each pool's frames one uid may pin (whole frames, at
	 * least one); 100: no limit beyond the pools. Root is exempt. */
	uint64_t max_share_per_user;
	uint64_t max_frames_per_buffer;
	uint64_t max_request_len;          /* at most CONTIG_MAX_REQUEST_LEN */
	uint64_t max_queued_replies;
	uint64_t max_tags_per_user;        /* tags with live buffers, at most CONTIG_MAX_TAGS */
};

/* Pool tags one table of tags holds (session.h): the daemon-wide one, a
 * session's; past that, the daemon counts a buffer under "other" so that
 * no client can grow the daemon's memory. */
#define CONTIG_MAX_TAGS 1024

#define CONTIG_DEFAULT_LIMITS                                                                      \
	((struct contig_limits){                                                                   \
		.max_connections = 1024,                                                           \
		.max_connections_per_user = 64,                                                    \
		.max_buffers_per_connection = 16384,                                               \
		.max_buffers_per_user = 65536,                                                     \
		.max_bytes_per_connection = 0,                                                     \
		.max_bytes_per_user = 0,                                                           \
		.max_share_per_user = CONTIG_DEFAULT_SHARE_PER_USER,                               \
		.max_frames_per_buffer = 8192,                                                     \
		.max_request_len = 4096,                                                           \
		.max_queued_replies = 64,                                                          \
		.max_tags_per_user = 64,                                                           \
	})

struct contig_config {
	char *socket_path; /* malloc'd */
	struct contig_pool_spec *pools; /* malloc'd array */
	size_t npools;
	unsigned watermark_low_pct;    /* 0..100 */
	unsigned watermark_normal_pct; /* 0..watermark_low_pct */
	char *socket_user;             /* owner of the socket file (name or number) */
	char *socket_group;            /* its group */
	unsigned socket_mode;          /* its permission bits */
	char *allow_users;             /* comma-separated, NULL: none but root */
	char *allow_groups;            /* comma-separated, NULL: socket_group */
	struct contig_limits limits;
	uint64_t busy_poll_us;         /* spin this long after a request; 0: off */
	int log_level;                 /* LOG_EMERG..LOG_DEBUG: the least important logged */
	uint64_t session_grace_ms;     /* how long restored sessions wait; 0: no journal */
	uint64_t reserve_min_free;     /* bytes reserving leaves free on a node (0: no floor) */
};

/* Parse configuration @text; @source names it in messages ("FILE:LINE: ...").
 * Returns 0 and fills *ret_cfg (which the caller releases with
 * contig_config_done()), -EINVAL with the reason in @err, or -ENOMEM. */
int contig_config_parse(const char *text, const char *source, struct contig_config *ret_cfg,
			char *err, size_t errlen);

/* Read and parse the file at @path. Returns as contig_config_parse(),
 * -EFBIG over 1 MiB, -EINVAL if it holds a NUL byte, or -errno if it cannot
 * be read (reason in @err). */
int contig_config_load(const char *path, struct contig_config *ret_cfg, char *err, size_t errlen);

/* Add @spec to @cfg, or replace the pool with the same (node, page size,
 * window).
 * Returns 0 or -ENOMEM. */
int contig_config_set_pool(struct contig_config *cfg, const struct contig_pool_spec *spec);

/* Replace each pool of every node (CONTIG_POOL_ALL_NODES) in @cfg by one
 * pool of its page size and size per node of @nodes (@nnodes node numbers,
 * the nodes that have memory), in their order, at its place, except on a
 * node that has a pool of that page size of its own: a pool named by node
 * wins over "all". Pure: the caller finds the nodes. Returns 0, -EINVAL
 * (more than CONFIG_MAX_NODE + 1 nodes) or -ENOMEM, with @cfg untouched on
 * error. */
int contig_config_expand_all(struct contig_config *cfg, const int *nodes, size_t nnodes);

/* Write the effective configuration @cfg to @out in the file's syntax,
 * every key in the order of the parser's key table, one line each (a pool
 * line per pool; an unset name or list as a comment). Parsing the output
 * gives the same configuration. */
void contig_config_print(const struct contig_config *cfg, FILE *out);

/* Release what @cfg holds; accepts a zeroed or half-built config. */
void contig_config_done(struct contig_config *cfg);

#endif
