/* replay.c - every input that once crashed a fuzz target, replayed as a
 * regression test under prove (no clang, no libFuzzer needed).
 *
 * Built twice by the Makefile, linked with fuzz_reply.c (REPLAY_PREFIX
 * "reply-") and with fuzz_request.c (REPLAY_PREFIX "request-"); each input
 * in tests/fuzz/crashes/ whose name starts with the prefix runs in a child
 * through the target's LLVMFuzzerTestOneInput(), whose own checks abort on
 * a violation (a leaked descriptor, a broken invariant). The file name of
 * each input names the bug it found.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path)
{
	static uint8_t data[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return 2;
	n = fread(data, 1, sizeof(data), f);
	fclose(f);
	LLVMFuzzerTestOneInput(data, n);
	return 0;
}

int main(void)
{
	char exe[PATH_MAX - 64], dir[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct dirent *e;
	DIR *d;
	int nfound = 0;

	/* build/tests/fuzz/<this> -> the tree is three levels up */
	if (len < 0)
		bail_out("readlink: %s", strerror(errno));
	exe[len] = '\0';
	for (int i = 0; i < 4; i++)
		*strrchr(exe, '/') = '\0';
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/crashes", exe);
	d = opendir(dir);
	if (!d)
		bail_out("opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		char path[PATH_MAX + 256];
		int status;
		pid_t pid;

		if (strncmp(e->d_name, REPLAY_PREFIX, strlen(REPLAY_PREFIX)) != 0)
			continue;
		nfound++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			/* the target's own diagnostics go to stderr */
			_exit(replay(path));
		}
		waitpid(pid, &status, 0);
		if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fixed_%s", e->d_name))
			diag("  %s: %s %d", path, WIFEXITED(status) ? "exit" : "signal",
			     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	closedir(d);
	if (nfound == 0)
		ok(1, "no %s crash inputs to replay # SKIP", REPLAY_PREFIX);
	return done_testing();
}
