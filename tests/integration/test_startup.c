/* test_startup.c - the daemon refuses to start when it cannot keep its
 * promises, and says why; it sizes the kernel's hugepage pool itself when
 * it may, and gives back what it added. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NR_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

/* Run contigd as user nobody: no CAP_SYS_ADMIN, so no physical addresses. */
static int run_unprivileged(char *log, size_t loglen)
{
	char dir[] = "/tmp/contigd-nobody.XXXXXX", path[64], bin[4096];
	int status, fd;
	pid_t pid;

	harness_daemon_path(bin, sizeof(bin));
	if (!mkdtemp(dir))
		bail_out("mkdtemp");
	chmod(dir, 0777);
	snprintf(path, sizeof(path), "%s/sock", dir);
	{
		char logpath[80];

		snprintf(logpath, sizeof(logpath), "%s/log", dir);
		fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0666);
		unlink(logpath);
	}
	pid = fork();
	if (pid == 0) {
		dup2(fd, STDERR_FILENO);
		if (setgid(65534) < 0 || setuid(65534) < 0) {
			dprintf(STDERR_FILENO, "test: cannot become nobody: %s\n", strerror(errno));
			_exit(126);
		}
		execl(bin, bin, "--socket", path, "--pool", "0:2M:4M", (char *)NULL);
		dprintf(STDERR_FILENO, "test: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	waitpid(pid, &status, 0);
	ssize_t n = pread(fd, log, loglen - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	close(fd);
	rmdir(dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
	char log[8192], conf[] = "/tmp/contigd-conf.XXXXXX", why[160];
	bool alone = harness_hugepages_alone(why, sizeof(why)); /* the counts are machine-wide */
	int status, fd;

	status = run_unprivileged(log, sizeof(log));
	ok(status != 0 && strstr(log, "CAP_SYS_ADMIN"),
	   "refuses_to_start_without_the_right_to_read_physical_addresses");
	diag("  %s", log);

	{
		static const char *const args[] = { "--pool", "7:2M:4M", NULL };

		status = harness_daemon_fail(args, log, sizeof(log));
		ok(status != 0 && strstr(log, "no node 7"), "refuses_a_pool_on_a_missing_node");
	}
	{
		static const char *const args[] = { "--pool", "0:3M:6M", NULL };

		status = harness_daemon_fail(args, log, sizeof(log));
		ok(status == 2 && strstr(log, "2M or 1G"), "refuses_a_page_size_other_than_2M_or_1G");
	}
	{
		static const char *const args[] = { "--config", "/nonexistent/contigd.conf", NULL };

		status = harness_daemon_fail(args, log, sizeof(log));
		ok(status == 2 && strstr(log, "/nonexistent/contigd.conf"),
		   "a_missing_config_file_is_named");
	}
	{
		/* One descriptor per frame: a hard limit below the pool's frames
		 * and max_connections is refused with the fix named (in a child:
		 * a hard limit, once lowered, stays); a low soft limit under a
		 * high hard one is simply raised. */
		const char *const args[] = { "--pool", "0:2M:64M", NULL };
		struct harness_daemon low;
		struct rlimit saved, lim;
		pid_t pid;

		if (getrlimit(RLIMIT_NOFILE, &saved) < 0)
			bail_out("getrlimit: %s", strerror(errno));
		pid = fork();
		if (pid == 0) {
			lim.rlim_cur = lim.rlim_max = 512;
			if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
				_exit(3);
			status = harness_daemon_fail(args, log, sizeof(log));
			_exit(status != 0 && strstr(log, "file descriptors") &&
					      strstr(log, "LimitNOFILE")
				      ? 0
				      : 1);
		}
		ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			   WEXITSTATUS(status) == 0,
		   "refuses_a_descriptor_limit_below_its_frames_and_connections");
		if (getenv("CONTIGD_VALGRIND")) {
			/* valgrind fixes the descriptors it gives its guest at start */
			ok(true, "starts_with_a_soft_descriptor_limit_below_its_frames # SKIP "
				 "under valgrind");
			ok(true, "that_daemon_stops_cleanly # SKIP under valgrind");
		} else {
			lim.rlim_cur = 64;
			lim.rlim_max = saved.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
				bail_out("setrlimit: %s", strerror(errno));
			harness_daemon_start(&low, args);
			if (setrlimit(RLIMIT_NOFILE, &saved) < 0)
				bail_out("setrlimit: %s", strerror(errno));
			ok(true, "starts_with_a_soft_descriptor_limit_below_its_frames");
			ok(harness_daemon_stop(&low) == 0, "that_daemon_stops_cleanly");
		}
	}
	fd = mkstemp(conf);
	if (fd < 0 || write(fd, "# test\npool = 0:2M:4M\nfrobnicate = 1\n", 37) != 37)
		bail_out("writing %s", conf);
	close(fd);
	{
		const char *const args[] = { "--config", conf, NULL };
		char want[128];

		snprintf(want, sizeof(want), "%s:3", conf);
		status = harness_daemon_fail(args, log, sizeof(log));
		ok(status == 2 && strstr(log, want) && strstr(log, "frobnicate"),
		   "a_bad_config_line_is_named_by_file_line_and_key");
	}
	unlink(conf);

	/* Two daemons on one socket: the second refuses, the first serves on. */
	{
		static const char *const args[] = { "--pool", "0:2M:4M", NULL };
		struct harness_daemon d;
		struct contig_client *c;
		struct contig_stats st;
		const char *second[] = { "--socket", NULL, "--pool", "0:2M:4M", NULL };

		harness_daemon_start(&d, args);
		second[1] = d.sock;
		status = harness_daemon_fail(second, log, sizeof(log));
		ok(status != 0 && (strstr(log, "another contigd") || strstr(log, "in use")),
		   "a_second_daemon_on_the_same_socket_refuses");
		c = harness_connect(&d);
		ok(contig_get_stats(c, &st) == 0, "the_first_daemon_keeps_serving");
		contig_disconnect(c);
		ok(harness_daemon_stop(&d) == 0, "first_daemon_stops_cleanly");
	}

	/* Short of hugepages, as root: it raises nr_hugepages, then gives back.
	 * (Sized on the free count, and checked on nr_hugepages: only while
	 * they are this test's alone.) */
	if (!alone) {
		static const char *const names[] = { "raises_nr_hugepages_when_short",
						     "reserves_every_frame_it_was_asked_for",
						     "stops_cleanly", "gives_the_added_hugepages_back" };

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			ok(true, "%s # SKIP %s", names[i], why);
	} else {
		uint64_t nr = harness_read_u64(NR_2M), nfree = harness_free_hugepages(2 * MiB);
		char pool[64];
		const char *args[] = { "--pool", pool, NULL };
		struct harness_daemon d;
		struct contig_client *c;
		struct contig_stats st;

		snprintf(pool, sizeof(pool), "0:2M:%lluM", (unsigned long long)(nfree + 8) * 2);
		harness_daemon_start(&d, args);
		ok(harness_read_u64(NR_2M) >= nr + 8, "raises_nr_hugepages_when_short");
		c = harness_connect(&d);
		ok(contig_get_stats(c, &st) == 0 && st.pools[0].nframes == nfree + 8,
		   "reserves_every_frame_it_was_asked_for");
		contig_disconnect(c);
		ok(harness_daemon_stop(&d) == 0, "stops_cleanly");
		is_u64(harness_read_u64(NR_2M), nr, "gives_the_added_hugepages_back");
	}
	return done_testing();
}
