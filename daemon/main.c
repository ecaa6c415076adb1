/* main.c - contigd: startup and shutdown order, signals, uv_run.
 *
 * Startup: configuration -> pagemap privilege -> journal -> the pool set
 * (poolset.c: frame keeper, then per pool, those without a window first,
 * then the window pools, below=, narrowest first: frame set, kernel
 * hugepages (a window pool: its frames found), frames reserved and sorted)
 * -> listening socket -> READY=1.
 * Nothing is accepted before every frame is reserved.
 * Shutdown (SIGTERM/SIGINT): STOPPING=1 -> connections closed -> recycler
 * stopped -> every frame released -> hugepages this process added given back.
 *
 * Restarts (session_grace > 0; the steps in restart.c): before the pools,
 * the journal an earlier instance left is read into a plan (restore.c);
 * the frames its sessions owned, which the keeper held (keeper.c), are
 * adopted into the pools (every other frame is released, and the pools
 * are topped up with new ones), and, once the recycler runs, its sessions rebuilt as orphans;
 * then a fresh journal of that state replaces the old one, and a timer
 * recycles the orphans no client reclaims within session_grace. A
 * shutdown while sessions hold buffers leaves their frames with the keeper
 * and the journal for the next instance, and releases only the rest.
 *
 * main.c orders these steps and logs what the modules it calls report
 * (say_restore()); it never builds or walks a pool itself (poolset.c,
 * pool.c), never reads or writes the journal (restart.c, restore.c) and
 * never touches a frame or a session.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "access.h"
#include "config.h"
#include "keeperd.h"
#include "listen.h"
#include "log.h"
#include "options.h"
#include "pagemap.h"
#include "poolplan.h"
#include "poolset.h"
#include "recycle.h"
#include "restart.h"
#include "server.h"
#include "session.h"

#define RUNTIME_DIR "/run/contigd"

struct daemon {
	struct contig_config cfg;
	struct contig_access access;
	uid_t socket_uid;
	gid_t socket_gid;
	struct contig_pools pools;
	struct contig_poolset *poolset; /* the pools built from cfg, frame sets, keeper link */
	struct contig_server *server;
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	char instance[64];
	struct contig_restart *restart; /* journal, restore plan, grace timer */
	bool keep;                     /* stopping: leave the sessions for the next instance */
	int listen_fd;                 /* passed by systemd, or -1 */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run the loop until every handle is closed. With busy_poll_us, after each
 * wake-up the loop keeps polling without sleeping (UV_RUN_NOWAIT: epoll
 * with a zero timeout, over every connection alike) until no request has
 * come for busy_poll_us, then blocks again: a client that answers quickly
 * is served without a wake-up on either side. */
static void run_loop(struct daemon *d)
{
	uint64_t spin_ns = d->cfg.busy_poll_us * 1000u;

	if (!spin_ns || !d->server) {
		uv_run(&d->loop, UV_RUN_DEFAULT);
		return;
	}
	while (uv_run(&d->loop, UV_RUN_ONCE)) {
		uint64_t seen, idle_since = now_ns();

		if (!d->server) /* stopping: no more requests to wait for */
			continue;
		seen = contig_server_nrequests(d->server);
		while (d->server && now_ns() - idle_since < spin_ns) {
			if (!uv_run(&d->loop, UV_RUN_NOWAIT))
				return;
			if (d->server && contig_server_nrequests(d->server) != seen) {
				seen = contig_server_nrequests(d->server);
				idle_since = now_ns();
			}
		}
	}
}

/* The frame directory is named for the socket, so that two daemons on two
 * sockets never share frames, and a restarted one finds its own. */
static void instance_name(const char *socket_path, char *buf, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	if (strcmp(socket_path, CONTIG_DEFAULT_SOCKET) == 0) {
		snprintf(buf, len, "contigd");
		return;
	}
	for (const char *p = socket_path; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(buf, len, "contigd-%016" PRIx64, h);
}

/* The say callback of the files that do not log (restore.c, restart.c,
 * poolset.c, listen.c): their messages, logged. */
static void say_restore(int level, const char *message, void *arg)
{
	(void)arg;
	contig_log(level, "%s", message);
}

/* Release the pools and the journal; with d->keep, the frames restored
 * sessions own stay (with the keeper) for the next instance, and so do the
 * hugepages added to the kernel's pool and the journal that counts them. */
static void release_pools(struct daemon *d)
{
	contig_poolset_release(d->poolset, &d->pools, d->keep);
	d->poolset = NULL;
	contig_tags_done(&d->pools.tags);
	contig_quota_done(&d->pools);
	contig_restart_done(d->restart, d->keep);
	d->restart = NULL;
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct daemon *d = handle->data;
	uint32_t nkeep = 0, nbufs = 0;

	d->keep = contig_restart_stopping(d->restart, &nkeep, &nbufs);
	if (d->keep)
		contig_log(LOG_INFO, "%s: shutting down; %" PRIu32 " sessions with %" PRIu32
			   " buffers stay for the next contigd, which gives them %" PRIu64
			   " ms to reconnect", strsignal(signum), nkeep, nbufs,
			   d->cfg.session_grace_ms);
	else
		contig_log(LOG_INFO, "%s: shutting down", strsignal(signum));
	sd_notify(0, "STOPPING=1");
	contig_server_stop(d->server);
	d->server = NULL;
	contig_recycler_stop(d->pools.recycler);
	d->pools.recycler = NULL;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	char err[512];
	bool own_socket, check = false, bad_journal = false;
	const char *source = NULL;
	int r, fd;

	if (argc == 3 && !strcmp(argv[1], CONTIG_KEEPER_ARG))
		return contig_keeper_main(3, argv[2]); /* spawned by keeper.c */
	signal(SIGPIPE, SIG_IGN);
	contig_log_init(LOG_INFO);
	if (contig_options_parse(argc, argv, &d.cfg, &check, &source) < 0) {
		contig_config_done(&d.cfg);
		return check ? 1 : 2;
	}
	contig_log_init(d.cfg.log_level);
	{
		char warning[512];

		/* Names of users and groups are the part of the configuration
		 * that only this machine can check: --check-config does too. */
		r = contig_access_resolve(&d.cfg, &d.socket_uid, &d.socket_gid, &d.access,
					  warning, sizeof(warning), err, sizeof(err));
		if (r < 0) {
			/* A configuration error like any other: exit 2 (the unit
			 * does not restart what cannot start). */
			contig_log(LOG_ERR, "%s: %s", source, err);
			contig_access_done(&d.access);
			contig_config_done(&d.cfg);
			return check ? 1 : 2;
		}
		if (warning[0])
			contig_log(LOG_WARNING, "%s", warning);
	}
	if (check) {
		contig_config_print(&d.cfg, stdout);
		goto out_config;
	}
	r = contig_poolplan_expand_nodes(&d.cfg, say_restore, NULL);
	if (r < 0)
		goto out_config;
	r = contig_poolplan_raise_nofile(&d.cfg, say_restore, NULL);
	if (r < 0)
		goto out_config;
	r = contig_pagemap_init(err, sizeof(err));
	if (r < 0) {
		contig_log(LOG_ERR, "%s", err);
		goto out_config;
	}
	if (mkdir(RUNTIME_DIR, 0755) < 0 && errno != EEXIST)
		contig_log(LOG_WARNING, "mkdir %s: %s", RUNTIME_DIR, strerror(errno));
	instance_name(d.cfg.socket_path, d.instance, sizeof(d.instance));
	d.listen_fd = contig_listen_take_passed(say_restore, NULL);
	r = contig_restart_load(RUNTIME_DIR, d.instance, d.cfg.session_grace_ms, &d.pools,
				say_restore, NULL, &d.restart);
	if (r == -EPROTO)
		bad_journal = true; /* restarting cannot fix it: exit 2 */
	if (r < 0)
		goto out_pools;
	r = contig_poolset_build(&d.cfg, contig_restart_plan(d.restart), RUNTIME_DIR, d.instance,
				 say_restore, NULL, &d.pools, &d.poolset);
	if (r < 0)
		goto out_pools;
	d.pools.limits = d.cfg.limits;
	d.pools.watermark_low_pct = d.cfg.watermark_low_pct;
	d.pools.watermark_normal_pct = d.cfg.watermark_normal_pct;
	d.pools.session_grace_ms = d.cfg.session_grace_ms;

	r = uv_loop_init(&d.loop);
	if (r < 0)
		goto out_pools;
	fd = contig_listen_open(d.listen_fd, &d.cfg, d.socket_uid, d.socket_gid, say_restore, NULL,
				&own_socket);
	if (fd < 0) {
		r = fd;
		goto out_loop;
	}
	/* The server only needs the recycler once clients connect, which
	 * cannot happen before uv_run(). */
	r = contig_server_start(&d.loop, fd, own_socket ? d.cfg.socket_path : NULL, &d.pools,
				&d.access, &d.server);
	if (r < 0) {
		close(fd);
		goto out_loop;
	}
	r = contig_recycler_start(&d.loop, contig_server_recycled, d.server, &d.pools.recycler);
	if (r < 0) {
		contig_server_stop(d.server);
		goto out_run;
	}
	if (!contig_recycler_idle(d.pools.recycler))
		contig_log(LOG_NOTICE, "the recycle thread runs at the loop's priority: it could "
			   "not be raised back from idle priority when a request waits (no "
			   "RLIMIT_NICE, e.g. LimitNICE=+0, and no CAP_SYS_NICE)");
	r = contig_restart_resume(d.restart, &d.loop);
	if (r < 0) {
		contig_server_stop(d.server);
		contig_recycler_stop(d.pools.recycler);
		goto out_run;
	}
	uv_signal_init(&d.loop, &d.sigterm);
	uv_signal_init(&d.loop, &d.sigint);
	d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);

	{
		char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

		contig_listen_name(fd, name, sizeof(name));
		contig_log(LOG_INFO, "ready: listening on %s%s", name,
			   own_socket ? "" : " (from systemd: socket activation)");
	}
	sd_notify(0, "READY=1\nSTATUS=serving");
out_run:
	run_loop(&d);
out_loop:
	if (uv_loop_close(&d.loop) < 0)
		contig_log(LOG_WARNING, "event loop closed with handles open");
out_pools:
	release_pools(&d);
	contig_pagemap_done();
out_config:
	contig_access_done(&d.access);
	contig_config_done(&d.cfg);
	if (r == 0 && !check)
		contig_log(LOG_INFO, d.keep ? "stopped; the sessions' frames and journal stay "
				       "for the next contigd"
				     : "stopped; every frame released");
	return r < 0 ? (bad_journal ? 2 : 1) : 0;
}
