/* access.c - who may connect.
 *
 * DESIGN
 * Owns the translation of the configuration's socket_user, socket_group,
 * allow_users and allow_groups into ids (at startup, on the main thread),
 * and the admission check of each accepted peer (on the loop thread): a
 * peer must be root, in allow_users, or in one of allow_groups (its
 * primary group from SO_PEERCRED, or a supplementary one from
 * SO_PEERGROUPS), and max_connections must not be reached. The per-user
 * count (max_connections_per_user) is kept with the users' other counts in
 * session.c; only the wording of its refusal is here, so that every
 * refusal at accept reads the same.
 *
 * Knows no connection, session or reply: it never calls server.c, rpc.c
 * or session.c. It returns -errno and a reason; the caller refuses.
 */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A decimal user or group id: digits only, below (uid_t)-1, which chown()
 * takes as "leave it" and no one has. */
static int parse_id(const char *text, unsigned *ret_id)
{
	unsigned long long id;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	id = strtoull(text, &end, 10);
	if (errno || *end || id >= UINT32_MAX)
		return -EINVAL;
	*ret_id = (unsigned)id;
	return 0;
}

/* A user: a name in the user database, else a decimal uid. "root" is uid 0
 * without one: a minimal initramfs or a chroot may have no /etc/passwd, and
 * the built-in configuration names root. */
static int resolve_user(const char *name, uid_t *ret_uid)
{
	struct passwd *pw = getpwnam(name);

	if (pw) {
		*ret_uid = pw->pw_uid;
		return 0;
	}
	if (strcmp(name, "root") == 0) {
		*ret_uid = 0;
		return 0;
	}
	return parse_id(name, ret_uid) < 0 ? -ENOENT : 0;
}

/* A group: a name in the group database, else a decimal gid; "root" is gid
 * 0 without one. */
static int resolve_group(const char *name, gid_t *ret_gid)
{
	struct group *gr = getgrnam(name);

	if (gr) {
		*ret_gid = gr->gr_gid;
		return 0;
	}
	if (strcmp(name, "root") == 0) {
		*ret_gid = 0;
		return 0;
	}
	return parse_id(name, ret_gid) < 0 ? -ENOENT : 0;
}

/* "@key: no such user 'name'" into @err, and where the database it was
 * looked up in is missing altogether, that numbers still work. */
static void no_such(char *err, size_t errlen, const char *key, bool group, const char *name)
{
	const char *db = group ? "/etc/group" : "/etc/passwd";
	int n = snprintf(err, errlen, "%s: no such %s '%s'", key, group ? "group" : "user", name);

	if (n > 0 && (size_t)n < errlen && access(db, F_OK) < 0)
		snprintf(err + n, errlen - (size_t)n, " (there is no %s: give a number, or root)",
			 db);
}

/* Resolve each comma-separated name of @list into @ret_ids (uid_t or gid_t,
 * both unsigned int here). */
static int resolve_list(const char *list, bool groups, unsigned **ret_ids, size_t *ret_n,
			char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *name;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (name = strtok_r(copy, ", \t", &save); name; name = strtok_r(NULL, ", \t", &save)) {
		unsigned id, *grown;

		r = groups ? resolve_group(name, &id) : resolve_user(name, &id);
		if (r < 0) {
			no_such(err, errlen, groups ? "allow_groups" : "allow_users", groups, name);
			break;
		}
		grown = realloc(*ret_ids, (*ret_n + 1) * sizeof(*grown));
		if (!grown) {
			r = -ENOMEM;
			break;
		}
		*ret_ids = grown;
		(*ret_ids)[(*ret_n)++] = id;
	}
	free(copy);
	return r;
}

int contig_access_resolve(const struct contig_config *cfg, uid_t *ret_socket_uid,
			  gid_t *ret_socket_gid, struct contig_access *ret_access,
			  char *ret_warning, size_t warnlen, char *err, size_t errlen)
{
	struct contig_access a = { 0 };
	gid_t gid = 0;
	uid_t uid;
	int r;

	_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
		       "ids are unsigned int");
	ret_warning[0] = '\0';
	if (resolve_user(cfg->socket_user, &uid) < 0) {
		no_such(err, errlen, "socket_user", false, cfg->socket_user);
		return -ENOENT;
	}
	if (resolve_group(cfg->socket_group, &gid) < 0) {
		if (strcmp(cfg->socket_group, CONTIG_DEFAULT_SOCKET_GROUP) != 0) {
			no_such(err, errlen, "socket_group", true, cfg->socket_group);
			return -ENOENT;
		}
		/* With the socket open to others and an allow list, the list still
		 * admits whom it names: only the group is missing. */
		if ((cfg->socket_mode & 0002) && (cfg->allow_users || cfg->allow_groups))
			snprintf(ret_warning, warnlen,
				 "group '%s' does not exist: the socket's group is root instead "
				 "(allow_users and allow_groups still admit whom they name; run "
				 "'groupadd --system %s' to use the group)",
				 cfg->socket_group, cfg->socket_group);
		else
			snprintf(ret_warning, warnlen,
				 "group '%s' does not exist, so only root may connect; to let users "
				 "in, run 'groupadd --system %s' and add them to it (or set "
				 "socket_group and allow_groups)",
				 cfg->socket_group, cfg->socket_group);
		gid = 0;
	} else if (!cfg->allow_groups) {
		a.gids = malloc(sizeof(*a.gids));
		if (!a.gids)
			return -ENOMEM;
		a.gids[a.ngids++] = gid;
	}
	r = 0;
	if (cfg->allow_users)
		r = resolve_list(cfg->allow_users, false, (unsigned **)&a.uids, &a.nuids, err,
				 errlen);
	if (r == 0 && cfg->allow_groups)
		r = resolve_list(cfg->allow_groups, true, (unsigned **)&a.gids, &a.ngids, err,
				 errlen);
	if (r < 0) {
		contig_access_done(&a);
		return r;
	}
	*ret_socket_uid = uid;
	*ret_socket_gid = gid;
	*ret_access = a;
	return 0;
}

void contig_access_done(struct contig_access *a)
{
	free(a->uids);
	free(a->gids);
	*a = (struct contig_access){ 0 };
}

static bool has_id(const unsigned *ids, size_t n, unsigned id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* May the peer of @fd, with credentials @cred, connect? */
static bool peer_allowed(const struct contig_access *a, int fd, const struct ucred *cred)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0 || has_id(a->uids, a->nuids, cred->uid) ||
	    has_id(a->gids, a->ngids, cred->gid))
		return true;
	if (a->ngids == 0 || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (has_id(a->gids, a->ngids, groups[i]))
			return true;
	return false;
}

int contig_access_peer(int fd, struct ucred *ret_cred)
{
	socklen_t credlen = sizeof(*ret_cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret_cred, &credlen) < 0 ? -errno : 0;
}

int contig_access_admit(const struct contig_access *a, const struct contig_limits *lim, int fd,
			const struct ucred *cred, uint32_t nconns, char *why, size_t whylen)
{
	if (!peer_allowed(a, fd, cred)) {
		snprintf(why, whylen, "permission denied: uid %u is not root, not in "
			 "allow_users and not in a group of allow_groups", (unsigned)cred->uid);
		return -EACCES;
	}
	if (nconns > lim->max_connections) {
		snprintf(why, whylen, "quota exceeded: max_connections (%" PRIu64 ") reached",
			 lim->max_connections);
		return -EDQUOT;
	}
	return 0;
}

void contig_access_session_refused(const struct contig_limits *lim, uid_t uid, int err,
				   char *why, size_t whylen)
{
	if (err == -EUSERS)
		snprintf(why, whylen, "quota exceeded: max_connections_per_user (%" PRIu64
			 ") reached for uid %u", lim->max_connections_per_user, (unsigned)uid);
	else
		snprintf(why, whylen, "daemon out of memory");
}
