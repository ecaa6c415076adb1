/* cdi.c - a CDI spec (Container Device Interface) for contigd.
 *
 * DESIGN
 * A container needs exactly one thing from the host to use contigd: the
 * daemon's socket. Buffers arrive over it as file descriptors (SCM_RIGHTS),
 * so no device node, no hugetlbfs mount and no capability is handed in.
 * The spec (kind contigd.io/memory, device "default") bind-mounts the
 * socket file and sets CONTIGD_SOCKET to where it is inside; podman
 * (--device contigd.io/memory=default), containerd and CRI-O read it from
 * /etc/cdi or /var/run/cdi.
 *
 * The socket named is the one contigctl itself would use (--socket,
 * $CONTIGD_SOCKET, the default), made an absolute path. A daemon is asked
 * for a hello there; when none answers the spec is written all the same
 * and stderr says so; --offline asks none (make install, before the
 * service runs).
 * Bind-mounting the file, not its directory, keeps the daemon's other
 * files out of the container; it needs a socket file that outlives a
 * daemon restart, which systemd's contigd.socket provides (a daemon that
 * binds its own socket makes a new file, which running containers do not
 * see: mount the directory instead, docs/containers.md).
 *
 * cdiVersion 0.5.0: the oldest that the runtimes of Debian 12 read
 * (podman 4.3), and enough for mounts and env.
 *
 * contigctl's: links libcontig and common/ only, never a daemon object,
 * and reaches the daemon only through libcontig's public API.
 */
#include "cdi.h"

#include "atomic.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contig.h"
#include "json.h"

static void print_spec(FILE *out, const char *host_path, const char *container_path)
{
	struct json j;
	char env[PATH_MAX + 32];

	snprintf(env, sizeof(env), "CONTIGD_SOCKET=%s", container_path);
	json_init(&j, out);
	json_object_begin(&j, NULL);
	json_string(&j, "cdiVersion", "0.5.0");
	json_string(&j, "kind", "contigd.io/memory");
	json_array_begin(&j, "devices");
	json_object_begin(&j, NULL);
	json_string(&j, "name", "default");
	json_object_begin(&j, "containerEdits");
	json_array_begin(&j, "env");
	json_string(&j, NULL, env);
	json_array_end(&j);
	json_array_begin(&j, "mounts");
	json_object_begin(&j, NULL);
	json_string(&j, "hostPath", host_path);
	json_string(&j, "containerPath", container_path);
	json_array_begin(&j, "options");
	json_string(&j, NULL, "bind");
	json_string(&j, NULL, "rw");
	json_array_end(&j);
	json_object_end(&j);
	json_array_end(&j);
	json_object_end(&j);
	json_object_end(&j);
	json_array_end(&j);
	json_object_end(&j);
	json_done(&j);
}

struct spec_paths {
	const char *host, *container;
};

static int print_paths(FILE *out, void *arg)
{
	const struct spec_paths *p = arg;

	print_spec(out, p->host, p->container);
	return 0;
}

int cdi_cmd(const char *socket_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "container-path", required_argument, NULL, 'c' },
		{ "offline", no_argument, NULL, 'f' },
		{ 0 },
	};
	const char *output = NULL, *container_path = NULL;
	char host_path[PATH_MAX], cwd[PATH_MAX];
	struct contig_client *c;
	bool offline = false;
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'O')
			output = optarg;
		else if (opt == 'f')
			offline = true;
		else if (opt == 'c' && optarg[0] == '/')
			container_path = optarg;
		else
			return 2;
	}
	if (optind < argc)
		return 2;
	if (!socket_path)
		socket_path = getenv("CONTIGD_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = CONTIG_DEFAULT_SOCKET_PATH;
	/* A mount needs an absolute path; the socket's directory may not
	 * exist yet (make install), so no realpath(). */
	if (socket_path[0] == '/') {
		snprintf(host_path, sizeof(host_path), "%s", socket_path);
	} else if (!getcwd(cwd, sizeof(cwd)) ||
		   snprintf(host_path, sizeof(host_path), "%s/%s", cwd, socket_path) >=
			   (int)sizeof(host_path)) {
		fprintf(stderr, "contigctl: cdi: %s: cannot make it an absolute path\n",
			socket_path);
		return 1;
	}
	if (!container_path)
		container_path = host_path;
	if (!offline && contig_connect(host_path, &c) < 0)
		fprintf(stderr, "contigctl: cdi: no contigd answers at %s (%s); the spec names it "
				"all the same\n", host_path, contig_last_message());
	else if (!offline)
		contig_disconnect(c);
	if (!output) {
		print_spec(stdout, host_path, container_path);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	/* Whole or not at all: a runtime may read the directory at any moment. */
	r = atomic_write(output, print_paths, &(struct spec_paths){ host_path, container_path });
	if (r < 0) {
		fprintf(stderr, "contigctl: cdi: writing %s: %s\n", output, strerror(-r));
		return 1;
	}
	return 0;
}
