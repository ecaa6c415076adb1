/* quota.c - who may take what (see quota.h).
 *
 * DESIGN
 * Owns the per-user records (pools->users: one per uid with a session)
 * and every rule about how much a session or a user may take. Quotas count
 * what a client keeps from others: whole frames. A frame's bytes are
 * charged to its session (frames_len: max_bytes_per_connection) and to its
 * user, in all (max_bytes_per_user) and per pool (max_share_per_user),
 * when session.c claims it, and released when it leaves for the recycler;
 * a buffer packed into frames already held costs nothing. So a client
 * that asks for 4 KiB buffers 2 MiB apart is charged 2 MiB for each, which
 * is what it takes from the pool. The buffer counts are checked before
 * placing (they do not depend on where the buffer goes); the byte limits
 * when a pool's frames are about to be claimed, pool by pool, so a request
 * that fits in held frames is never refused for them. The fast path's
 * carves count as buffers (a warm frame does not); they are reported after
 * the fact, so they are never refused: contig_quota_buffers_left() tells
 * the client the room left, 0 once past a limit.
 * Watermarks: low and normal priority leave watermark_low and
 * watermark_normal of a pool free (DESIGN.md), and so does any priority
 * of a user that would hold more than its fair share of the pool: its
 * usable frames over the users with a session, root aside. Root is
 * exempt from the share and the fair share (not from max_bytes_*), as the
 * administrator's tools and drivers are.
 *
 * It decides and counts; it never claims or frees a frame or a buffer
 * (session.c), never writes the journal and never logs. Loop thread only.
 */
#include "quota.h"

#include <errno.h>
#include <stdlib.h>

#include "pool.h"
#include "priority.h"
#include "state.h"

void contig_quota_count_buffer(struct contig_pools *pools, uid_t uid, uint64_t len, bool alloc)
{
	struct contig_user *u = contig_user_find(pools, uid);

	if (alloc) {
		u->nbuffers++;
		u->len += len;
	} else {
		u->nbuffers--;
		u->len -= len;
	}
}

/* Percentage of a pool that @priority must leave free. */
static unsigned watermark_pct(const struct contig_pools *env, uint32_t priority)
{
	if (priority >= CONTIG_PRIORITY_HIGH)
		return 0;
	return priority >= CONTIG_PRIORITY_NORMAL ? env->watermark_normal_pct
						  : env->watermark_low_pct;
}

/* Would taking @len bytes of frames leave @pool below the watermark? Frames
 * being recycled count as free: they will be in a moment. */
static bool below_watermark(const struct contig_pool *pool, uint64_t len, unsigned pct)
{
	uint64_t total = (uint64_t)(pool->nframes - pool->nlost) * pool->page_len;
	uint64_t avail = pool->free.free_len + (uint64_t)pool->nrecycling * pool->page_len;

	return pct && (avail < len || (avail - len) * 100 < total * pct);
}

struct contig_user *contig_user_find(struct contig_pools *pools, uid_t uid)
{
	for (size_t i = 0; i < pools->nusers; i++)
		if (pools->users[i].uid == uid)
			return &pools->users[i];
	return NULL;
}

int contig_quota_join(struct contig_pools *pools, uid_t uid)
{
	struct contig_user *u = contig_user_find(pools, uid), *grown;

	if (u && u->nsessions >= pools->limits.max_connections_per_user)
		return -EUSERS;
	if (!u) {
		/* (The pools are all made before the first session.) */
		uint64_t *pool_frames_len = calloc(pools->npools + 1, sizeof(*pool_frames_len));

		if (!pool_frames_len)
			return -ENOMEM;
		grown = realloc(pools->users, (pools->nusers + 1) * sizeof(*grown));
		if (!grown) {
			free(pool_frames_len);
			return -ENOMEM;
		}
		pools->users = grown;
		u = &pools->users[pools->nusers++];
		*u = (struct contig_user){ .uid = uid, .pool_frames_len = pool_frames_len };
		u->tags.max = pools->limits.max_tags_per_user;
	}
	u->nsessions++;
	return 0;
}

void contig_quota_leave(struct contig_pools *pools, uid_t uid)
{
	struct contig_user *u = contig_user_find(pools, uid);

	if (--u->nsessions == 0) {
		contig_tags_done(&u->tags);
		free(u->pool_frames_len);
		*u = pools->users[--pools->nusers];
	}
}


void contig_quota_done(struct contig_pools *pools)
{
	free(pools->users);
	pools->users = NULL;
	pools->nusers = 0;
}

int contig_quota_check_buffer(struct contig_pools *pools, uid_t uid, uint32_t nbuffers,
			      const char **ret_limit)
{
	const struct contig_limits *lim = &pools->limits;
	const struct contig_user *u = contig_user_find(pools, uid);
	const char *limit = NULL;

	if (nbuffers + 1 > lim->max_buffers_per_connection)
		limit = "max_buffers_per_connection";
	else if (u->nbuffers + 1 > lim->max_buffers_per_user)
		limit = "max_buffers_per_user";
	if (!limit)
		return 0;
	*ret_limit = limit;
	return -EDQUOT;
}

uint64_t contig_quota_buffers_left(struct contig_pools *pools, uid_t uid, uint32_t nbuffers)
{
	const struct contig_limits *lim = &pools->limits;
	const struct contig_user *u = contig_user_find(pools, uid);
	uint64_t conn = nbuffers < lim->max_buffers_per_connection
				? lim->max_buffers_per_connection - nbuffers
				: 0;
	uint64_t user = u->nbuffers < lim->max_buffers_per_user
				? lim->max_buffers_per_user - u->nbuffers
				: 0;

	return conn < user ? conn : user;
}

/* Would @held + @len bytes exceed @max (0: no limit)? */
static bool over(uint64_t held, uint64_t len, uint64_t max)
{
	return max && (len > max || held > max - len);
}

/* The usable bytes of @pool: its frames but the lost ones. */
static uint64_t pool_usable_len(const struct contig_pool *pool)
{
	return (uint64_t)(pool->nframes - pool->nlost) * pool->page_len;
}

/* What one user may hold of @pool under max_share_per_user @pct: whole
 * frames, at least one. */
static uint64_t share_len(const struct contig_pool *pool, uint64_t pct)
{
	uint64_t len = pool_usable_len(pool) / 100 * pct +
		       pool_usable_len(pool) % 100 * pct / 100;

	len -= len % pool->page_len;
	return len > pool->page_len ? len : pool->page_len;
}

/* Would claiming @len bytes of frames of pool @pi exceed a byte limit of
 * @s or of its user? The limit's key, or NULL. */
static const char *claim_over_quota(struct contig_pools *pools, uid_t uid, uint64_t frames_len,
				    size_t pi, uint64_t len)
{
	const struct contig_limits *lim = &pools->limits;
	const struct contig_user *u = contig_user_find(pools, uid);

	if (over(frames_len, len, lim->max_bytes_per_connection))
		return "max_bytes_per_connection";
	if (over(u->frames_len, len, lim->max_bytes_per_user))
		return "max_bytes_per_user";
	if (u->uid != 0 && lim->max_share_per_user < 100 &&
	    over(u->pool_frames_len[pi], len, share_len(pools->pools[pi],
							lim->max_share_per_user)))
		return "max_share_per_user";
	return NULL;
}

/* Would @s's user hold more than its fair share of pool @pi with @len
 * bytes more: the pool's usable bytes over the users (root aside) with a
 * session? Never for root. */
static bool over_fair_share(struct contig_pools *env, uid_t uid, size_t pi, uint64_t len)
{
	const struct contig_user *u = contig_user_find(env, uid);
	uint64_t nusers = 0;

	if (u->uid == 0)
		return false;
	for (size_t i = 0; i < env->nusers; i++)
		nusers += env->users[i].uid != 0;
	return u->pool_frames_len[pi] + len > pool_usable_len(env->pools[pi]) / nusers;
}

void contig_quota_charge(struct contig_pools *pools, uid_t uid, uint64_t *frames_len, size_t pi,
			 uint64_t len, bool claim)
{
	struct contig_user *u = contig_user_find(pools, uid);

	if (claim) {
		*frames_len += len;
		u->frames_len += len;
		u->pool_frames_len[pi] += len;
	} else {
		*frames_len -= len;
		u->frames_len -= len;
		u->pool_frames_len[pi] -= len;
	}
}

enum contig_quota_verdict contig_quota_claim(struct contig_pools *env, uid_t uid,
					     uint64_t frames_len, size_t pi, uint64_t len,
					     uint32_t priority, const char **ret_limit)
{
	const struct contig_pool *pool = env->pools[pi];
	unsigned pct = watermark_pct(env, priority);
	const char *limit = claim_over_quota(env, uid, frames_len, pi, len);

	if (limit) {
		*ret_limit = limit;
		return CONTIG_QUOTA_LIMIT;
	}
	if (below_watermark(pool, len, pct))
		return CONTIG_QUOTA_WATERMARK;
	/* Other users' protection: past its fair share, a user takes frames at
	 * low priority, whatever it asked for. */
	if (pct < env->watermark_low_pct && below_watermark(pool, len, env->watermark_low_pct) &&
	    over_fair_share(env, uid, pi, len))
		return CONTIG_QUOTA_FAIR_SHARE;
	return CONTIG_QUOTA_OK;
}
