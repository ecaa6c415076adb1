/* access.h - who may connect: the socket's owner, the allow lists, and the
 * admission of each peer by its credentials and the connection limits.
 *
 * Main thread resolves (contig_access_resolve) before the loop runs; the
 * loop thread admits (contig_access_peer, contig_access_admit).
 */
#ifndef CONTIG_ACCESS_H
#define CONTIG_ACCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"

/* Who may connect: root, these users, and members of these groups. */
struct contig_access {
	uid_t *uids;
	size_t nuids;
	gid_t *gids;
	size_t ngids;
};

/* Resolve the configuration's socket_user and socket_group (names or
 * decimal numbers; "root" is 0 even with no user database) and its
 * allow_users / allow_groups lists (allow_groups NULL: socket_group). A
 * socket_group that does not exist is not an error when it is the default
 * "contigd": the socket then gets group root and only root may connect,
 * and *ret_warning says so and how to fix it (else ""). Returns 0, or
 * -ENOENT / -ENOMEM with the reason in @err. Main thread. */
int contig_access_resolve(const struct contig_config *cfg, uid_t *ret_socket_uid,
			  gid_t *ret_socket_gid, struct contig_access *ret_access,
			  char *ret_warning, size_t warnlen, char *err, size_t errlen);
void contig_access_done(struct contig_access *access);

/* The credentials of the peer of connected socket @fd (SO_PEERCRED).
 * Returns 0 or -errno. */
int contig_access_peer(int fd, struct ucred *ret_cred);

/* May the peer of @fd, with credentials @cred, connect, now that @nconns
 * connections are open (its own included)? Returns 0; -EACCES if it is not
 * root, not in allow_users and not in a group of allow_groups (primary, or
 * supplementary from SO_PEERGROUPS); -EDQUOT if max_connections of @lim is
 * exceeded. On refusal the reason, as the client and the log see it, is in
 * @why. */
int contig_access_admit(const struct contig_access *access, const struct contig_limits *lim,
			int fd, const struct ucred *cred, uint32_t nconns, char *why,
			size_t whylen);

/* The reason, into @why, that a session for uid @uid could not be made
 * (contig_session_new()'s error @err: -EUSERS is max_connections_per_user
 * of @lim, anything else the daemon's memory). */
void contig_access_session_refused(const struct contig_limits *lim, uid_t uid, int err,
				   char *why, size_t whylen);

#endif
