/* test_service.c - contigd as a service: its configuration file checked
 * and printed (--check-config), the shipped default file, socket activation
 * the way systemd's contigd.socket does it, and log lines for the journal.
 *
 * Socket activation is done by hand, as systemd does it: the test binds and
 * listens, and the daemon gets the socket as fd 3 with LISTEN_FDS and
 * LISTEN_PID. A client connects and sends its hello before the daemon even
 * starts; it must be answered once the daemon is ready, and again by a
 * second daemon started on the same socket after the first stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

static char tmpdir[64];

/* The repository (for etc/) and build/contigd: <repo>/<build>/contigd. */
static void paths(char *repo, size_t repolen, char *bin, size_t binlen)
{
	char *p;

	harness_daemon_path(bin, binlen);
	snprintf(repo, repolen, "%s", bin);
	for (int i = 0; i < 2 && (p = strrchr(repo, '/')); i++)
		*p = '\0';
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		bail_out("cannot write %s", path);
}

/* Everything in @fd from the start, as a string (static buffer). */
static const char *slurp(int fd)
{
	static char buf[1 << 16];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Run "contigd ARGS..." to the end; its stdout and stderr into *ret_out and
 * *ret_err (static buffers, overwritten by the next call). Returns its exit
 * status, or -1 if it did not exit. */
static int run_contigd(const char *const *args, const char **ret_out, const char **ret_err)
{
	static char out[1 << 16], err[1 << 16];
	char repo[PATH_MAX], bin[PATH_MAX], outpath[128], errpath[128];
	const char *argv[16];
	int argc = 0, status, ofd, efd;
	pid_t pid;

	paths(repo, sizeof(repo), bin, sizeof(bin));
	argv[argc++] = bin;
	for (int i = 0; args[i] && argc < 15; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	snprintf(outpath, sizeof(outpath), "%s/out", tmpdir);
	snprintf(errpath, sizeof(errpath), "%s/err", tmpdir);
	ofd = open(outpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	efd = open(errpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (ofd < 0 || efd < 0)
		bail_out("open: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(ofd, STDOUT_FILENO);
		dup2(efd, STDERR_FILENO);
		unsetenv("NOTIFY_SOCKET");
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		status = -1;
	else
		status = WEXITSTATUS(status);
	snprintf(out, sizeof(out), "%s", slurp(ofd));
	snprintf(err, sizeof(err), "%s", slurp(efd));
	close(ofd);
	close(efd);
	*ret_out = out;
	*ret_err = err;
	return status;
}

static void test_check_config(void)
{
	char conf[128], again[128], first[1 << 16], why[160];
	bool alone = harness_hugepages_alone(why, sizeof(why)); /* the counts are machine-wide */
	uint64_t free_before = harness_free_hugepages(2u << 20);
	const char *out, *err;
	int status;

	snprintf(conf, sizeof(conf), "%s/good.conf", tmpdir);
	write_text(conf, "# a test configuration\n"
			 "pool = 0:2M:8M\n"
			 "log_level = warning\n"
			 "socket_group = root\n"
			 "max_bytes_per_user = 1G\n");
	status = run_contigd((const char *[]){ "--check-config", conf, "--socket", "/tmp/x.sock",
					       NULL },
			     &out, &err);
	if (!ok(status == 0, "check_config_accepts_a_valid_file"))
		diag("  status %d, stderr: %s", status, err);
	ok(strstr(out, "pool = 0:2M:8M\n") && strstr(out, "log_level = warning\n") &&
		   strstr(out, "socket = /tmp/x.sock\n") && strstr(out, "socket_group = root\n") &&
		   strstr(out, "max_bytes_per_user = 1G\n") &&
		   strstr(out, "max_connections = 1024\n"),
	   "check_config_prints_the_effective_configuration_with_defaults_and_options");
	if (alone)
		ok(harness_free_hugepages(2u << 20) == free_before,
		   "check_config_reserves_no_hugepages");
	else
		ok(true, "check_config_reserves_no_hugepages # SKIP %s", why);

	/* What it prints is a configuration file that says the same. */
	snprintf(first, sizeof(first), "%s", out);
	snprintf(again, sizeof(again), "%s/printed.conf", tmpdir);
	write_text(again, first);
	status = run_contigd((const char *[]){ "--check-config", again, NULL }, &out, &err);
	ok(status == 0 && strcmp(out, first) == 0,
	   "check_config_output_checks_to_the_same_output");

	write_text(conf, "pool = 0:2M:8M\n"
			 "\n"
			 "max_connections = many\n");
	status = run_contigd((const char *[]){ "--check-config", conf, NULL }, &out, &err);
	{
		char want[256];

		snprintf(want, sizeof(want), "%s:3: key 'max_connections'", conf);
		if (!ok(status == 1 && strstr(err, want) && !*out,
			"check_config_refuses_a_bad_value_naming_file_line_and_key"))
			diag("  status %d, stderr: %s", status, err);
	}
	write_text(conf, "pool = 0:2M:8M\nsocket_user = no-such-user-here\n");
	status = run_contigd((const char *[]){ "--check-config", conf, NULL }, &out, &err);
	ok(status == 1 && strstr(err, conf) && strstr(err, "socket_user") &&
		   strstr(err, "no-such-user-here"),
	   "check_config_refuses_an_unknown_user_naming_file_and_key");
	write_text(conf, "pool = 0:2M:8M\nsocket_user = no-such-user-here\n");
	status = run_contigd((const char *[]){ "--config", conf, "--socket", "/tmp/never.sock",
					       NULL },
			     &out, &err);
	ok(status == 2 && strstr(err, "socket_user"),
	   "a_daemon_given_an_unknown_user_exits_2_like_any_configuration_error");
	status = run_contigd((const char *[]){ "--check-config", "/nonexistent/contigd.conf", NULL },
			     &out, &err);
	ok(status == 1 && strstr(err, "/nonexistent/contigd.conf"),
	   "check_config_of_a_missing_file_names_it");
}

static void test_shipped_config(void)
{
	char repo[PATH_MAX], bin[PATH_MAX], path[PATH_MAX + 32], shipped[1 << 16];
	const char *out, *err;
	FILE *f;
	size_t n;

	paths(repo, sizeof(repo), bin, sizeof(bin));
	snprintf(path, sizeof(path), "%s/etc/contigd.conf", repo);
	f = fopen(path, "re");
	if (!f)
		bail_out("cannot read %s", path);
	n = fread(shipped, 1, sizeof(shipped) - 1, f);
	shipped[n] = '\0';
	fclose(f);
	run_contigd((const char *[]){ "--print-config", NULL }, &out, &err);
	ok(strcmp(out, shipped) == 0, "etc_contigd_conf_is_the_built_in_default");
	ok(run_contigd((const char *[]){ "--check-config", path, "--pool", "0:2M:2M", NULL }, &out,
		       &err) == 0,
	   "etc_contigd_conf_checks");
}

/* A listening socket of @type at @path, mode 0666. */
static int listener(const char *path, int type)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0 ||
	    chmod(path, 0666) < 0)
		bail_out("listen on %s: %s", path, strerror(errno));
	return fd;
}

/* Send a hello on a new connection to @path, without waiting for a reply. */
static int hello_early(const char *path)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;
	int sock = raw_connect(path);

	hello.version = CONTIG_PROTOCOL_VERSION;
	req.seq = 1;
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &hello;
	if (sock < 0 || raw_send(sock, &req) < 0)
		return -1;
	return sock;
}

static bool hello_answered(int sock)
{
	Contig__Reply *reply = raw_recv(sock, NULL);
	bool good = reply && reply->seq == 1 && reply->status == CONTIG__STATUS__OK &&
		    reply->body_case == CONTIG__REPLY__BODY_HELLO;

	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	close(sock);
	return good;
}

static void test_socket_activation(void)
{
	const char *const args[] = { "--pool", "0:2M:8M", NULL };
	struct harness_spawn how = { .activate = true };
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	char path[128];
	struct stat st;
	int early;

	snprintf(path, sizeof(path), "%s/activated.sock", tmpdir);
	how.listen_fd = listener(path, SOCK_SEQPACKET);
	early = hello_early(path);
	ok(early >= 0, "a_client_connects_before_the_daemon_starts");

	harness_daemon_start_how(&d, args, &how);
	ok(hello_answered(early), "the_daemon_answers_the_client_that_queued_while_it_started");
	ok(harness_daemon_log_has(&d, "(from systemd: socket activation)") &&
		   harness_daemon_log_has(&d, path),
	   "the_daemon_logs_the_activated_socket_it_listens_on");
	if (contig_connect(path, &c) < 0)
		bail_out("contig_connect %s: %s", path, contig_last_message());
	contig_alloc_req_init(&req, 2u << 20);
	if (contig_alloc(c, &req, &b) < 0)
		bail_out("alloc: %s", contig_last_message());
	memset(b.virt, 0x5a, b.len);
	ok(harness_phys_contiguous(getpid(), b.virt, b.len, b.phys),
	   "a_buffer_from_an_activated_daemon_is_where_pagemap_says");
	contig_free(c, b.virt);
	contig_disconnect(c);
	ok(stat(d.sock, &st) < 0 && errno == ENOENT,
	   "an_activated_daemon_binds_no_socket_of_its_own");
	ok(harness_daemon_stop(&d) == 0, "activated_daemon_stops_cleanly");
	ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode),
	   "the_activated_socket_file_stays_after_the_daemon_stops");

	/* Restart, as systemd does with contigd.socket kept open. */
	early = hello_early(path);
	ok(early >= 0, "a_client_connects_while_no_daemon_runs");
	harness_daemon_start_how(&d, args, &how);
	ok(hello_answered(early), "a_restarted_daemon_answers_the_client_that_queued_meanwhile");
	ok(harness_daemon_stop(&d) == 0, "restarted_daemon_stops_cleanly");
	close(how.listen_fd);
	unlink(path);

	/* A socket of the wrong kind is not used. */
	snprintf(path, sizeof(path), "%s/stream.sock", tmpdir);
	how.listen_fd = listener(path, SOCK_STREAM);
	harness_daemon_start_how(&d, args, &how);
	ok(harness_daemon_log_has(&d, "ignoring 1 descriptors passed by systemd"),
	   "a_stream_socket_passed_by_systemd_is_ignored_with_a_warning");
	c = harness_connect(&d);
	ok(c != NULL, "and_the_daemon_binds_its_own_socket_instead");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "that_daemon_stops_cleanly");
	close(how.listen_fd);
	unlink(path);
}

static void test_logging(void)
{
	char conf[128];
	const char *args[] = { "--config", conf, "--pool", "0:2M:8M", NULL };
	struct harness_spawn how = { .journal = true };
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	const char *log;
	int keep;

	snprintf(conf, sizeof(conf), "%s/log.conf", tmpdir);
	write_text(conf, "socket_group = root\n");
	harness_daemon_start_how(&d, args, &how);
	c = harness_connect(&d);
	contig_alloc_req_init(&req, 4096);
	req.align = 3;
	ok(contig_alloc(c, &req, &b) == -EINVAL, "a_malformed_request_is_refused");
	contig_alloc_req_init(&req, 4096);
	req.highest_phys = 4095; /* no frame lies at physical 0 */
	ok(contig_alloc(c, &req, &b) == -ENOMEM, "an_impossible_window_is_refused");
	contig_alloc_req_init(&req, 4096);
	for (int i = 0; i < 20; i++) {
		if (contig_alloc(c, &req, &b) < 0)
			bail_out("alloc: %s", contig_last_message());
		contig_free(c, b.virt);
	}
	contig_disconnect(c);
	keep = dup(d.log_fd); /* the harness closes its own at stop */
	ok(harness_daemon_stop(&d) == 0, "journal_daemon_stops_cleanly");
	log = slurp(keep);
	ok(strncmp(log, "<", 1) == 0 && strstr(log, "<6>ready: listening on"),
	   "under_the_journal_lines_carry_a_priority_prefix");
	ok(strstr(log, ": connected\n") != NULL, "a_connection_is_logged");
	ok(strstr(log, ": refused: invalid argument: align must be") != NULL,
	   "a_refused_request_is_logged_with_its_reason");
	ok(strstr(log, ": refused: no memory") != NULL, "a_request_refused_for_memory_is_logged_too");
	{
		/* 20 allocations and frees, and not one line for them. */
		int lines = 0;

		for (const char *p = log; (p = strchr(p, '\n')); p++)
			lines++;
		if (!ok(lines < 12, "allocations_make_no_log_lines_at_the_default_level"))
			diag("%d lines:\n%s", lines, log);
	}
	close(keep);

	write_text(conf, "socket_group = root\nlog_level = warning\n");
	harness_daemon_start_how(&d, args, NULL);
	c = harness_connect(&d);
	contig_disconnect(c);
	keep = dup(d.log_fd);
	ok(harness_daemon_stop(&d) == 0, "quiet_daemon_stops_cleanly");
	log = slurp(keep);
	ok(strstr(log, "connected") == NULL && strstr(log, "ready:") == NULL &&
		   strchr(log, '<') == NULL,
	   "log_level_warning_drops_info_lines_and_plain_stderr_has_no_prefix");
	close(keep);
}

/* What systemd sees: STATUS= lines with progress while the frames come in,
 * then READY=1, then STOPPING=1 at SIGTERM. */
static void test_notify(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char repo[PATH_MAX], bin[PATH_MAX], sock[128], all[1 << 14] = "", buf[512];
	int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), status;
	size_t used = 0;
	bool ready = false, stopping = false;
	unsigned nprogress = 0, last_in = 0, monotonic = 1;
	pid_t pid;

	paths(repo, sizeof(repo), bin, sizeof(bin));
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/notify", tmpdir);
	snprintf(sock, sizeof(sock), "%s/notify.sock", tmpdir);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		bail_out("notify socket: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", addr.sun_path, 1);
		execl(bin, bin, "--socket", sock, "--pool", "0:2M:64M", (char *)NULL);
		_exit(127);
	}
	while (!stopping) {
		struct pollfd p = { .fd = nfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 60000) <= 0)
			break; /* the daemon died or hung: the checks below fail */
		n = recv(nfd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			break;
		buf[n] = '\0';
		used += (size_t)snprintf(all + used, sizeof(all) - used, "%s\n", buf);
		if (strstr(buf, "STATUS=reserving 32 frames of 2048 kB on node 0: ")) {
			unsigned in = (unsigned)strtoul(strstr(buf, ": ") + 2, NULL, 10);

			monotonic = monotonic && !ready && in > last_in && in <= 32;
			last_in = in;
			nprogress++;
		}
		if (strstr(buf, "READY=1")) {
			ready = true;
			kill(pid, SIGTERM);
		}
		stopping = strstr(buf, "STOPPING=1") != NULL;
	}
	waitpid(pid, &status, 0);
	close(nfd);
	unlink(addr.sun_path);
	if (!ok(nprogress >= 2 && monotonic && last_in == 32,
		"status_counts_the_frames_in_while_reserving_before_ready"))
		diag("  notifications:\n%s", all);
	ok(ready && stopping && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "ready_then_stopping_at_sigterm_and_a_clean_exit");
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/contigd-service.XXXXXX");
	if (!mkdtemp(tmpdir))
		bail_out("mkdtemp: %s", strerror(errno));
	chmod(tmpdir, 0755);

	test_check_config();
	test_shipped_config();
	test_socket_activation();
	test_logging();
	test_notify();

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmpdir);
	}
	return done_testing();
}
