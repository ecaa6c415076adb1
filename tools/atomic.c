/* atomic.c - write a file whole or not at all: a temporary file beside
 * it, renamed over it (rename(2) within one directory is atomic). The
 * temporary name starts with a dot and ends in random letters, so that
 * no reader matching *.prom or *.json takes it for the real file.
 *
 * DESIGN
 * Knows files, not contigd: calls only libc, never libcontig or a daemon
 * object (contigctl links libcontig and common/ only).
 */
#include "atomic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_write(const char *path, int (*print)(FILE *out, void *arg), void *arg)
{
	size_t len = strlen(path) + 16;
	const char *slash = strrchr(path, '/');
	char *tmp = malloc(len);
	FILE *f;
	int fd, r;

	if (!tmp)
		return -ENOMEM;
	if (slash)
		snprintf(tmp, len, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
	else
		snprintf(tmp, len, ".%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		r = -errno;
		close(fd);
		goto out_unlink;
	}
	r = print(f, arg);
	if (r == 0 && (fflush(f) != 0 || ferror(f)))
		r = -EIO;
	if (r == 0 && fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0) {
		free(tmp);
		return 0;
	}
out_unlink:
	unlink(tmp);
	free(tmp);
	return r;
}
