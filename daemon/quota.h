/* quota.h - who may take what: the per-user records, the buffer and byte
 * limits of a session and of its user, the share and fair share of a
 * pool, the watermarks. See quota.c.
 *
 * Loop thread only.
 */
#ifndef CONTIG_QUOTA_H
#define CONTIG_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tags.h"

struct contig_pools;

/* What the sessions of one uid hold together. */
struct contig_user {
	uid_t uid;
	uint32_t nsessions;
	uint64_t nbuffers;
	uint64_t len;             /* bytes of live buffers */
	uint64_t frames_len;      /* bytes of the frames its sessions own (max_bytes_per_user) */
	uint64_t *pool_frames_len; /* the same per pool, in pools->pools order
				      (max_share_per_user, the fair share) */
	struct contig_tags tags; /* of its live buffers: at most max_tags_per_user */
};

/* The record of @uid (NULL if it has no session). */
struct contig_user *contig_user_find(struct contig_pools *pools, uid_t uid);

/* A new session of @uid: its user's record, made if needed. Returns 0,
 * -EUSERS if @uid already has max_connections_per_user sessions, or
 * -ENOMEM. */
int contig_quota_join(struct contig_pools *pools, uid_t uid);

/* A session of @uid is gone: the record goes with its last session. */
void contig_quota_leave(struct contig_pools *pools, uid_t uid);

/* At exit, after the last session: the records' array released. */
void contig_quota_done(struct contig_pools *pools);

/* Would one more buffer exceed the buffer count of a session that has
 * @nbuffers, or of its user @uid?
 * Returns 0, or -EDQUOT with *ret_limit naming the limit. (Bytes are
 * frames: contig_quota_claim().) */
int contig_quota_check_buffer(struct contig_pools *pools, uid_t uid, uint32_t nbuffers,
			      const char **ret_limit);

/* How many more buffers a session that has @nbuffers, of user @uid, may
 * hold under max_buffers_per_connection and max_buffers_per_user (0 when
 * past either). */
uint64_t contig_quota_buffers_left(struct contig_pools *pools, uid_t uid, uint32_t nbuffers);

/* Count a buffer of @len bytes to user @uid: allocated (@alloc) or freed. */
void contig_quota_count_buffer(struct contig_pools *pools, uid_t uid, uint64_t len, bool alloc);

/* What stands in the way of a session of @uid that holds @frames_len
 * bytes of frames claiming @len bytes more of pool @pi
 * (pools->pools[@pi]) at @priority. */
enum contig_quota_verdict {
	CONTIG_QUOTA_OK,
	CONTIG_QUOTA_LIMIT,      /* a byte limit of the session or user: *ret_limit names it */
	CONTIG_QUOTA_WATERMARK,  /* the pool would fall below @priority's watermark */
	CONTIG_QUOTA_FAIR_SHARE, /* below watermark_low, the user past its fair share */
};
enum contig_quota_verdict contig_quota_claim(struct contig_pools *pools, uid_t uid,
					     uint64_t frames_len, size_t pi, uint64_t len,
					     uint32_t priority, const char **ret_limit);

/* Charge (@claim) or release @len bytes of frames of pool @pi to a
 * session (its *@frames_len) and
 * its user. */
void contig_quota_charge(struct contig_pools *pools, uid_t uid, uint64_t *frames_len, size_t pi,
			 uint64_t len, bool claim);

#endif
