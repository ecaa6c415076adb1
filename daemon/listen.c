/* listen.c - the listening socket: systemd's or our own.
 *
 * DESIGN
 * Owns the choice of listening socket: with socket activation, the
 * SOCK_SEQPACKET Unix socket systemd passed (anything else passed is
 * closed: an older contigd stored the roots of its frame mounts there, and
 * frames now live with the keeper); without, a socket of our own, with
 * the configuration's path, owner and mode.
 *
 * The socket file, when we bind it ourselves (not socket activated), is
 * made so that no one else can turn what we do to it onto another file:
 * every directory on its path must be root's or ours and writable by no
 * one else unless sticky; its mode is set on the descriptor before bind(),
 * its owner on an O_PATH descriptor of what bind() made, never through a
 * path that could be a symlink by then. A stale socket file (nobody
 * listening) is replaced, a live one refused.
 * What is worth a log line goes through the caller's say
 * callback: it never logs itself (only main.c, server.c and rpc.c do),
 * never accepts a connection (server.c does), and is called by main.c
 * alone. Main thread.
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "errmsg.h"

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

/* Could anyone but root and us change what @path names? Every directory
 * from / down to the socket's must be owned by root or by us, and not be
 * writable by its group or others unless it is sticky (/tmp: others may
 * then add names, but not remove or rename ours). Otherwise someone could
 * replace the socket file, between our bind() and our setting its owner,
 * with a link to a file of their choice. Returns 0 or -EPERM (or -errno
 * if the directory cannot be found), with the reason in @err. */
static int check_socket_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (!realpath(dir, real)) {
		int e = errno;

		return contig_errmsg(err, errlen, -e, "socket %s: directory %s: %s", path, dir,
				     strerror(e));
	}
	/* "/", then each longer prefix of @real that ends before a '/', then @real */
	for (char *end = real;; end = strchr(end + 1, '/')) {
		char saved = end ? *end : '\0';
		const char *name = real;

		if (end == real)
			name = "/";
		else if (end)
			*end = '\0';
		if (lstat(name, &st) < 0) {
			int e = errno;

			return contig_errmsg(err, errlen, -e, "socket %s: directory %s: %s", path,
					     name, strerror(e));
		}
		if (st.st_uid != 0 && st.st_uid != geteuid())
			return contig_errmsg(err, errlen, -EPERM, "socket %s: refused: directory %s "
					     "belongs to uid %u, who could swap the socket file for a "
					     "link to any file; use a directory of root's (such as "
					     "/run/contigd)", path, name, (unsigned)st.st_uid);
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
			return contig_errmsg(err, errlen, -EPERM, "socket %s: refused: directory %s "
					     "is writable by its %s (mode %04o, not sticky), who could "
					     "swap the socket file for a link to any file; use a "
					     "directory only root may write to (such as /run/contigd)",
					     path, name,
					     (st.st_mode & S_IWOTH) ? "group or others" : "group",
					     (unsigned)(st.st_mode & 07777));
		if (!end)
			return 0; /* that was the socket's own directory */
		*end = saved;
	}
}

/* Create, bind and listen on the SOCK_SEQPACKET socket at @path, owned by
 * @uid:@gid with @mode, replacing a stale socket file but never a live one.
 * Refuses (-EPERM) a path that someone other than root and the daemon's
 * own user could change: a directory on the way to it that is owned by
 * another user, or writable by its group or others without the sticky
 * bit. Returns the listening fd or -errno, with the reason in @err. Main
 * thread, while it is the only one (it sets the umask for a moment). */
static int listen_own(const char *path, uid_t uid, gid_t gid, unsigned mode, char *err,
		      size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t umask_was;
	int fd, file, r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return contig_errmsg(err, errlen, -ENAMETOOLONG, "socket path %s is too long",
				     path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	r = check_socket_dir(path, err, errlen);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The file bind() makes takes the socket's mode, less the umask: set
	 * here on the descriptor, it is never set through the path, which
	 * could name something else by then. */
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		contig_errmsg(err, errlen, r, "socket %s: fchmod: %s", path, strerror(errno));
		goto out_close;
	}
	/* A socket file nobody listens on is left over from a crash: replace
	 * it. One somebody listens on belongs to a running daemon: refuse. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			close(probe);
			close(fd);
			return contig_errmsg(err, errlen, -EADDRINUSE,
					     "%s: another contigd is listening there", path);
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	umask_was = umask(0);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? -errno : 0;
	umask(umask_was);
	if (r < 0) {
		contig_errmsg(err, errlen, r, "bind %s: %s", path, strerror(-r));
		goto out_close;
	}
	/* The owner, on what the path names now, never through a symlink: it
	 * must be the socket file we just made (ours, one link). The file's
	 * permissions are the first gate; peer credentials the second
	 * (peer_allowed()). */
	file = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (file < 0 || fstat(file, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1) {
		r = -EPERM;
		contig_errmsg(err, errlen, r, "socket %s: refused: the file bind() made was "
			      "replaced before its owner was set", path);
		if (file >= 0)
			close(file);
		goto out_close;
	}
	r = fchownat(file, "", uid, gid, AT_EMPTY_PATH) < 0 ? -errno : 0;
	close(file);
	if (r < 0 || listen(fd, SOMAXCONN) < 0) {
		r = r < 0 ? r : -errno;
		contig_errmsg(err, errlen, r, "listen %s: %s", path, strerror(-r));
		unlink(path);
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return r;
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
	fd = listen_own(cfg->socket_path, uid, gid, cfg->socket_mode, err, sizeof(err));
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
