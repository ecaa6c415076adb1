/* test_podman.c - a driver in a container, with real podman (rootful) and
 * the CDI spec contigctl cdi writes: slow (a container start is a second or
 * more), so `make test-containers` runs it, and .ci/run runs that once;
 * `make test` does not.
 *
 * The container's root filesystem is made here from the build's
 * ctr_client and the libraries ldd names (no registry, no image). The spec
 * goes to /var/run/cdi (which runtimes prefer to /etc/cdi), the container
 * is started with --device contigd.io/memory=default alone, and the client
 * inside allocates and writes. From the host: the daemon accounts it under
 * its host pid (not the pid it has inside) and uid 0, its buffer is at the
 * physical address the host's /proc/<host pid>/pagemap gives and that
 * contigctl buffers shows, the data is intact; killed, its memory returns.
 * Then a container with its own user namespace (--uidmap 0:100000): its
 * root reaches the daemon as uid 100000, which is refused like any other
 * uid not allowed; it is never the daemon's root.
 *
 * Skips (TAP) when not root, without podman, or where podman cannot run a
 * container here (the reason is podman's own message).
 * CONTIGD_PODMAN_OPTS: podman's global options (default
 * "--runtime runc --cgroup-manager cgroupfs", what this kind of VM needs).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define CDI_FILE "/var/run/cdi/contigd-test-podman.json"

static char rootfs[] = "/tmp/contigd-rootfs.XXXXXX";

/* A container running @cmd (ctr_client's argument) with @extra podman run
 * options; its stdin and stdout are our pipes. */
struct ctr {
	pid_t pid; /* podman's */
	FILE *in, *out;
};

static void ctr_start(struct ctr *c, const char *extra, const char *cmd)
{
	const char *opts = getenv("CONTIGD_PODMAN_OPTS");
	char line[2048];
	int to[2], from[2];

	snprintf(line, sizeof(line),
		 "exec podman %s run --rm -i --network none --ulimit nofile=1024:1024 "
		 "--ulimit nproc=1024:1024 %s --rootfs %s /ctr_client %s 2>&1",
		 opts ? opts : "--runtime runc --cgroup-manager cgroupfs", extra, rootfs, cmd);
	if (pipe(to) < 0 || pipe(from) < 0)
		bail_out("pipe: %s", strerror(errno));
	c->pid = fork();
	if (c->pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->in = fdopen(to[1], "w");
	c->out = fdopen(from[0], "r");
	setvbuf(c->in, NULL, _IOLBF, 0);
}

/* The next line the container prints that starts with @prefix (others are
 * podman's messages: kept in @log); false at its end. */
static bool ctr_line(struct ctr *c, const char *prefix, char *buf, size_t len, char *log,
		     size_t loglen)
{
	while (fgets(buf, (int)len, c->out)) {
		if (strncmp(buf, prefix, strlen(prefix)) == 0)
			return true;
		if (log && strlen(log) + strlen(buf) < loglen)
			strcat(log, buf);
	}
	return false;
}

static int ctr_wait(struct ctr *c)
{
	int st;

	fclose(c->in);
	fclose(c->out);
	if (waitpid(c->pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void make_rootfs(void)
{
	char client[512], cmd[2048];

	harness_build_path("tests/containers/ctr_client", client, sizeof(client));
	if (!mkdtemp(rootfs))
		bail_out("mkdtemp: %s", strerror(errno));
	/* the client and every library ldd names, at the same paths; and the
	 * directories a runtime mounts over */
	snprintf(cmd, sizeof(cmd),
		 "set -e; r=%s; cp %s $r/ctr_client; "
		 "for l in $(ldd %s | grep -o '/[^ ]*'); do "
		 "mkdir -p $r$(dirname $l); cp -L $l $r$l; done; "
		 "mkdir -p $r/proc $r/sys $r/dev $r/tmp $r/etc $r/run; chmod -R a+rX $r",
		 rootfs, client, client);
	if (system(cmd) != 0)
		bail_out("making the root filesystem in %s failed", rootfs);
}

static void cleanup(void)
{
	char cmd[256];

	unlink(CDI_FILE);
	if (strchr(rootfs, 'X') == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", rootfs);
		if (system(cmd) != 0)
			diag("could not remove %s", rootfs);
	}
}

static bool pred_all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->nsessions == 1 && st->pools[0].free_len == st->pools[0].total_len;
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:32M", NULL };
	struct harness_daemon d;
	struct ctr c;
	struct contig_client *cl;
	struct contig_buffer_info *bufs = NULL;
	size_t nbufs = 0;
	char line[512], log[4096] = "", err[512], *out = NULL;
	int inner_pid, host_pid = -1, rc;
	unsigned host_uid = ~0u;
	uint64_t virt, phys, len;

	if (geteuid() != 0)
		skip_all("podman runs rootful containers as root only");
	if (access("/usr/bin/podman", X_OK) != 0)
		skip_all("no podman (Debian package podman)");
	make_rootfs();
	atexit(cleanup);
	/* Can podman run a container here at all? (no device: the client
	 * then finds no socket, which is fine) */
	ctr_start(&c, "", "connect");
	if (!ctr_line(&c, "CONNECT", line, sizeof(line), log, sizeof(log))) {
		ctr_wait(&c);
		log[strcspn(log, "\n")] = '\0';
		skip_all("podman cannot run a container here: %.300s", log);
	}
	ctr_wait(&c);

	harness_daemon_start(&d, args);
	{
		const char *a[] = { "--socket", d.sock, "cdi", "--output", CDI_FILE, NULL };
		char *spec;

		mkdir("/var/run/cdi", 0755);
		rc = harness_run_program("contigctl", 0, a, &out, err, sizeof(err));
		free(out);
		out = NULL;
		spec = NULL;
		if (rc == 0) {
			FILE *f = fopen(CDI_FILE, "r");
			static char text[4096];
			size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

			text[n] = '\0';
			if (f)
				fclose(f);
			spec = text;
		}
		ok(rc == 0 && spec && strstr(spec, "\"kind\": \"contigd.io/memory\"") &&
			   strstr(spec, "\"name\": \"default\"") && strstr(spec, d.sock),
		   "contigctl_cdi_writes_a_spec_for_the_daemons_socket");
	}

	/* a driver in a container */
	log[0] = '\0';
	ctr_start(&c, "--device contigd.io/memory=default", "alloc");
	if (!ctr_line(&c, "READY", line, sizeof(line), log, sizeof(log)) ||
	    sscanf(line, "READY %d %" SCNx64 " %" SCNx64 " %" SCNu64, &inner_pid, &virt, &phys,
		   &len) != 4) {
		ok(false, "a_client_in_a_container_allocates_through_the_cdi_device");
		diag("%s", log);
		bail_out("no client in the container");
	}
	ok(true, "a_client_in_a_container_allocates_through_the_cdi_device (phys 0x%" PRIx64 ")",
	   phys);
	cl = harness_connect(&d);
	if (contig_list_buffers(cl, &bufs, &nbufs) == 0)
		for (size_t i = 0; i < nbufs; i++)
			if (bufs[i].phys == phys) {
				host_pid = bufs[i].pid;
				host_uid = bufs[i].uid;
			}
	free(bufs);
	ok(host_pid > 0 && host_pid != inner_pid && kill(host_pid, 0) == 0,
	   "the_daemon_accounts_the_host_pid (%d; %d inside)", host_pid, inner_pid);
	is_u64(host_uid, 0, "the_daemon_accounts_uid_0_for_a_container_without_a_user_namespace");
	ok(host_pid > 0 && harness_phys_contiguous(host_pid, (const void *)(uintptr_t)virt, len, phys),
	   "the_hosts_pagemap_of_the_container_process_shows_the_buffers_physical_address");
	{
		const char *a[] = { "--socket", d.sock, "buffers", "--json", NULL };
		char hex[32];

		snprintf(hex, sizeof(hex), "0x%" PRIx64, phys);
		rc = harness_run_program("contigctl", 0, a, &out, err, sizeof(err));
		ok(rc == 0 && out && strstr(out, hex), "contigctl_buffers_on_the_host_shows_it");
		free(out);
		out = NULL;
	}
	fputs("CHECK\n", c.in);
	ok(ctr_line(&c, "OK 0", line, sizeof(line), NULL, 0), "the_data_the_client_wrote_is_intact");
	/* killed: its memory returns */
	if (host_pid > 0)
		kill(host_pid, SIGKILL);
	ctr_wait(&c);
	ok(harness_wait_stats(cl, pred_all_free, NULL),
	   "a_killed_container_clients_memory_returns_to_the_pool");

	/* its own user namespace: root inside is uid 100000 outside. The test
	 * daemon's socket is opened to all, so that what refuses is the
	 * daemon's own check of the peer's credentials. */
	{
		struct contig_stats st;
		struct contig_counters before, after;
		uint64_t denied0 = 0, denied1 = 0;

		chmod(d.dir, 0755);
		chmod(d.sock, 0666);
		contig_get_counters(cl, &st, &before);
		log[0] = '\0';
		ctr_start(&c, "--device contigd.io/memory=default --uidmap 0:100000:65536 "
			      "--gidmap 0:100000:65536", "connect");
		if (!ctr_line(&c, "CONNECT", line, sizeof(line), log, sizeof(log))) {
			ctr_wait(&c);
			log[strcspn(log, "\n")] = '\0';
			printf("ok %d # skip a_containers_root_under_a_user_namespace_is_not_the_daemons_"
			       "root: podman --uidmap: %.300s\n", ++tap_count, log);
		} else {
			ctr_wait(&c);
			contig_get_counters(cl, &st, &after);
			for (uint32_t i = 0; i < after.nrefusals; i++)
				if (strcmp(after.refusals[i].reason, "connection_denied") == 0) {
					denied1 = after.refusals[i].count;
					denied0 = before.refusals[i].count;
				}
			line[strcspn(line, "\n")] = '\0';
			ok(strncmp(line, "CONNECT 0 ", 10) != 0 && denied1 == denied0 + 1,
			   "a_containers_root_under_a_user_namespace_is_not_the_daemons_root (%s)",
			   line);
		}
	}
	contig_disconnect(cl);
	is_u64(harness_daemon_stop(&d), 0, "daemon_stops_cleanly");
	return done_testing();
}
