/* listen.h - the listening socket contigd serves: the one systemd passed
 * (socket activation) or its own. See listen.c.
 *
 * Main thread, at startup. Nothing here logs: what the caller should say
 * comes through @say.
 */
#ifndef CONTIG_LISTEN_H
#define CONTIG_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* A message for the log: @level is a syslog priority. */
typedef void contig_listen_say_fn(int level, const char *message, void *arg);

/* What systemd passed (LISTEN_FDS): the listening socket, or -1 if none.
 * Every other descriptor passed is closed, and @say told. */
int contig_listen_take_passed(contig_listen_say_fn *say, void *arg);

/* The listening socket: @passed_fd (from contig_listen_take_passed()) if
 * there is one, else a new one at cfg->socket_path owned by @uid:@gid
 * with cfg->socket_mode. *ret_own: the socket is ours (its path is removed
 * at shutdown). Returns the descriptor or -errno, after telling @say. */
int contig_listen_open(int passed_fd, const struct contig_config *cfg, uid_t uid, gid_t gid,
		       contig_listen_say_fn *say, void *arg, bool *ret_own);

/* The path listening socket @fd is bound to, for the log. */
void contig_listen_name(int fd, char *buf, size_t len);

#endif
