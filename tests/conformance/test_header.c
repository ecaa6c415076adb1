/* test_header.c - contig_wdm.h is enough: a program that includes only it
 * (tests/wdm_only/wdm_only.c), built with -Wall -Wextra -Werror as C and as
 * C++ by the Makefile, runs against the real daemon and passes its own TAP
 * checks. Their lines are shown here as diagnostics.
 *
 * The programs are build/tests/wdm_only_c and build/tests/wdm_only_cxx,
 * found from this executable (build/tests/conformance/test_header).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static void program_path(const char *name, char *buf, size_t len)
{
	char exe[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		bail_out("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s/../%s", exe, name);
}

/* Run @path with stdout and stderr into one pipe; *ret_out gets what it
 * said. Returns its exit status, or 128 + signal, or -1 if it could not be
 * started. */
static int run(const char *path, char *out, size_t outlen)
{
	size_t used = 0;
	int fds[2], status;
	pid_t pid;

	out[0] = '\0';
	if (access(path, X_OK) < 0)
		return -1;
	fflush(stdout);
	if (pipe(fds) < 0)
		bail_out("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char scratch[256];
		ssize_t n = used + 1 < outlen ? read(fds[0], out + used, outlen - used - 1)
					      : read(fds[0], scratch, sizeof(scratch));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < outlen)
			used += (size_t)n;
	}
	out[used] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		bail_out("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool idle(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->npools == 1 && st->pools[0].free_len == st->pools[0].total_len &&
	       st->pools[0].nframes_recycling == 0 && st->nsessions == 1;
}

static void check_program(const char *name)
{
	char path[PATH_MAX], out[16384], copy[sizeof(out)];
	int status, nok = 0, nnot = 0;

	program_path(name, path, sizeof(path));
	status = run(path, out, sizeof(out));
	memcpy(copy, out, sizeof(copy));
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		diag("  %s: %s", name, l);
		nok += strncmp(l, "ok ", 3) == 0;
		nnot += strncmp(l, "not ok ", 7) == 0;
	}
	if (status == -1) {
		ok(false, "%s_includes_only_contig_wdm_h_and_runs", name);
		diag("  %s is not there or not executable: `make tests` builds it", path);
		return;
	}
	if (!ok(status == 0 && nok > 0 && nnot == 0, "%s_includes_only_contig_wdm_h_and_runs",
		name))
		diag("  exit status %d, %d ok, %d not ok", status, nok, nnot);
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:32M", NULL };
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_stats st;

	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	check_program("wdm_only_c");
	check_program("wdm_only_cxx");
	/* They freed everything and misused nothing. */
	ok(harness_wait_stats(c, idle, NULL), "wdm_only_programs_leave_every_frame_free");
	ok(contig_get_stats(c, &st) == 0 && st.nbugchecks == 0,
	   "wdm_only_programs_report_no_misuse");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
