/* listen.c - the listening socket: systemd's or our own.
 *
 * DESIGN
 * Owns the choice of listening socket: with socket activation, the
 * SOCK_SEQPACKET Unix socket systemd passed (anything else passed is
 * closed: an older contigd stored the roots of its frame mounts there, and
 * frames now live with the keeper); without, a socket of our own, made by
 * server.c's contig_server_listen() with the configuration's path, owner
 * and mode. What is worth a log line goes through the caller's say
 * callback: it never logs itself (only main.c, server.c and rpc.c do),
 * never accepts a connection (server.c does), and is called by main.c
 * alone. Main thread.
 */
#include "listen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "server.h" /* contig_server_listen() */

__attribute__((format(printf, 4, 5))) static void say(contig_listen_say_fn *say_fn, void *arg,
						      int level, const char *fmt, ...)
{
	char message[1024]; /* what a log line holds */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	say_fn(level, message, arg);
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int contig_listen_take_passed(contig_listen_say_fn *say_fn, void *arg)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), nother = 0, listen_fd = -1;

	if (n < 0)
		say(say_fn, arg, LOG_WARNING, "descriptors passed by systemd: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (listen_fd < 0 && sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) > 0) {
			listen_fd = fd;
			continue;
		}
		close(fd);
		nother++;
	}
	if (nother)
		say(say_fn, arg, LOG_WARNING, "ignoring %d descriptors passed by systemd: expected one "
		    "listening SOCK_SEQPACKET Unix socket", nother);
	strv_free(names);
	return listen_fd;
}

int contig_listen_open(int passed_fd, const struct contig_config *cfg, uid_t uid, gid_t gid,
		       contig_listen_say_fn *say_fn, void *arg, bool *ret_own)
{
	char err[512];
	int fd;

	if (passed_fd >= 0) {
		*ret_own = false;
		return passed_fd;
	}
	fd = contig_server_listen(cfg->socket_path, uid, gid, cfg->socket_mode, err, sizeof(err));
	if (fd < 0)
		say(say_fn, arg, LOG_ERR, "%s", err);
	*ret_own = true;
	return fd;
}

void contig_listen_name(int fd, char *buf, size_t len)
{
	struct sockaddr_un addr = { 0 };
	socklen_t addrlen = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) < 0 || !addr.sun_path[0])
		snprintf(buf, len, "an unnamed socket");
	else
		snprintf(buf, len, "%.*s", (int)sizeof(addr.sun_path), addr.sun_path);
}
