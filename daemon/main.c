/* main.c - contigd: argv, configuration, startup and shutdown order, uv_run.
 *
 * Startup: configuration -> pagemap privilege -> journal and frame keeper
 * -> per pool (those without a window first, then the window pools,
 * below=, narrowest first): frame set, kernel hugepages (a window pool: its
 * frames found), frames reserved and sorted -> listening socket -> READY=1.
 * Nothing is accepted before every frame is reserved.
 * Shutdown (SIGTERM/SIGINT): STOPPING=1 -> connections closed -> recycler
 * stopped -> every frame released -> hugepages this process added given back.
 *
 * Restarts (session_grace > 0): before the pools, the journal an earlier
 * instance left is read into a plan (restore.c); the frames its sessions
 * owned, which the keeper held (keeper.c), are adopted into the pools
 * (every other frame is released, and the pools are topped up with new
 * ones), and, once the recycler runs, its sessions rebuilt as orphans;
 * then a fresh journal of that state replaces the old one, and a timer
 * recycles the orphans no client reclaims within session_grace. A
 * shutdown while sessions hold buffers leaves their frames with the keeper
 * and the journal for the next instance, and releases only the rest.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <numa.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "access.h"
#include "config.h"
#include "contig_version.h" /* made by the Makefile from VERSION */
#include "fdpass.h"         /* CONTIG_PROTOCOL_VERSION */
#include "frames.h"
#include "hugepages.h"
#include "keeper.h"
#include "log.h"
#include "pagemap.h"
#include "physmem.h"
#include "pool.h"
#include "recycle.h"
#include "reserve.h"
#include "restore.h"
#include "segments.h" /* contig_segments_format(), for the log */
#include "server.h"
#include "session.h"

#define RUNTIME_DIR "/run/contigd"
#define MAX_PAGE_SIZES 4

struct daemon {
	struct contig_config cfg;
	struct contig_access access;
	uid_t socket_uid;
	gid_t socket_gid;
	struct contig_frame_dir *dirs[MAX_PAGE_SIZES];
	size_t ndirs;
	struct contig_pools pools;
	struct contig_server *server;
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	char instance[64];
	char journal_path[256];        /* "" when session_grace = 0 */
	struct contig_restore *restore; /* what the last instance left, until restored */
	uv_timer_t grace;              /* recycles the orphans nobody reclaimed */
	bool grace_started;
	bool keep;                     /* stopping: leave the sessions for the next instance */
	int listen_fd;                 /* passed by systemd, or -1 */
	struct contig_keeper *keeper;  /* holds the frames across restarts (session_grace) */
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

static void usage(FILE *out)
{
	fprintf(out,
		"usage: contigd [--config FILE] [--socket PATH] [--pool NODE:PAGESIZE:SIZE]...\n"
		"\n"
		"Reserve hugepage-backed, physically contiguous memory at startup and serve\n"
		"allocations to client processes over a Unix socket. Runs in the foreground\n"
		"and logs to stderr.\n"
		"\n"
		"  --config FILE   read the configuration from FILE (default: built in)\n"
		"  --socket PATH   listen on PATH (default %s)\n"
		"  --pool SPEC     reserve SIZE bytes of PAGESIZE (2M or 1G) pages on NODE,\n"
		"                  e.g. 0:2M:64M (NODE all: every node with memory);\n"
		"                  repeatable; replaces the configuration's pools\n"
		"  --print-config  print the built-in configuration and exit\n"
		"  --version       print the version and exit\n"
		"  --check-config FILE\n"
		"                  check FILE (with any --socket and --pool given), print the\n"
		"                  effective configuration and exit: 0 if valid, else 1 with\n"
		"                  the file, line and key at fault\n",
		CONTIG_DEFAULT_SOCKET);
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

/* Fill @cfg from the configuration file (or the built-in one) and the
 * options. *ret_check: --check-config was given (its FILE is the file);
 * *ret_source: what names the configuration in messages. */
static int parse_args(int argc, char **argv, struct contig_config *cfg, bool *ret_check,
		      const char **ret_source)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 's' },
		{ "pool", required_argument, NULL, 'p' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config_path = NULL, *socket_path = NULL;
	struct contig_pool_spec *pools = NULL;
	size_t npools = 0;
	char err[512];
	int c, r;

	while ((c = getopt_long(argc, argv, "c:s:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			*ret_check = true;
			/* fall through */
		case 'c':
			config_path = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'p': {
			struct contig_pool_spec *grown = realloc(pools, (npools + 1) * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			pools = grown;
			if (contig_config_parse_pool(optarg, &pools[npools], err, sizeof(err)) < 0) {
				fprintf(stderr, "contigd: --pool: %s\n", err);
				free(pools);
				return -EINVAL;
			}
			npools++;
			break;
		}
		case 'P':
			fputs(contig_config_default, stdout);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			/* The version the .pc file carries; the soname is its major. */
			printf("contigd %s\nwire protocol %u (clients: %s)\n", CONTIG_VERSION,
			       CONTIG_PROTOCOL_VERSION, CONTIG_SONAME);
			exit(0);
		default:
			usage(stderr);
			free(pools);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "contigd: unexpected argument '%s'\n", argv[optind]);
		free(pools);
		return -EINVAL;
	}
	*ret_source = config_path ? config_path : "(built-in configuration)";
	if (config_path)
		r = contig_config_load(config_path, cfg, err, sizeof(err));
	else
		r = contig_config_parse(contig_config_default, "(built-in configuration)", cfg, err,
					sizeof(err));
	if (r < 0) {
		fprintf(stderr, "contigd: %s\n", err);
		free(pools);
		return r;
	}
	if (npools) {
		cfg->npools = 0;
		for (size_t i = 0; i < npools && r == 0; i++)
			r = contig_config_set_pool(cfg, &pools[i]);
	}
	free(pools);
	if (r == 0 && socket_path) {
		char *copy = strdup(socket_path);

		if (!copy)
			return -ENOMEM;
		free(cfg->socket_path);
		cfg->socket_path = copy;
	}
	if (r == 0 && cfg->npools == 0) {
		fprintf(stderr, "contigd: no pools configured (give pool = ... or --pool)\n");
		r = -EINVAL;
	}
	return r;
}

static void say_restore(int level, const char *message, void *arg)
{
	(void)arg;
	contig_log(level, "%s", message);
}

/* A pool to build: the configuration's, or one the last instance's sessions
 * still have frames in. */
#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)

struct pool_target {
	int node;
	uint64_t page_len;
	uint64_t below;    /* window: frames wholly below this (0: none) */
	uint32_t nframes;  /* configured; a window pool: what was found */
	uint32_t nwanted;  /* configured */
	uint32_t nadopted; /* owned by restored sessions (at most: some may be refused) */
	const struct contig_pool_spec *spec; /* its configuration; NULL: no longer configured */
	struct contig_pool_spec fallback;    /* spec of a 1 GiB pool made of 2 MiB frames */
	uint64_t pre_added;                  /* hugepages added by fall_back_from_1g() */
	bool searched;                       /* a window pool: looked for (find_window()) */
};

/* "node 0, 2048 kB pages" and, for a window, " below 4 GiB": names a pool
 * in the log. */
static const char *pool_name(int node, uint64_t page_len, uint64_t below, char *buf, size_t len)
{
	int n = snprintf(buf, len, "node %d, %" PRIu64 " kB pages", node, page_len >> 10);

	if (below && n > 0 && (size_t)n < len) {
		if (below % (UINT64_C(1) << 30) == 0)
			snprintf(buf + n, len - n, " below %" PRIu64 " GiB", below >> 30);
		else
			snprintf(buf + n, len - n, " below %" PRIu64 " MiB", below >> 20);
	}
	return buf;
}

static uint32_t target_frames(const struct pool_target *t)
{
	return t->nframes > t->nadopted ? t->nframes : t->nadopted;
}

static struct contig_frame_dir *dir_for(struct daemon *d, uint64_t page_len)
{
	uint64_t sizes[8];
	int nsizes = contig_hugepages_sizes(sizes, 8), i;
	char err[512];
	int r;

	for (size_t k = 0; k < d->ndirs; k++)
		if (contig_frame_dir_page_len(d->dirs[k]) == page_len)
			return d->dirs[k];
	for (i = 0; i < nsizes && sizes[i] != page_len; i++)
		;
	if (i == nsizes) {
		contig_log(LOG_ERR, "the kernel offers no %" PRIu64 " kB hugepages (libhugetlbfs "
			   "finds none): use another page size", page_len >> 10);
		return NULL;
	}
	if (d->ndirs == MAX_PAGE_SIZES)
		return NULL;
	r = contig_frame_dir_open(page_len, d->instance, RUNTIME_DIR, d->keeper,
				  &d->dirs[d->ndirs], err, sizeof(err));
	if (r < 0) {
		contig_log(LOG_ERR, "%s", err);
		return NULL;
	}
	if (contig_frame_dir_nlegacy(d->dirs[d->ndirs]))
		contig_log(LOG_NOTICE, "%s: %u hugetlbfs mounts of an older contigd released (its "
			   "frames were files there; this one keeps them with the frame keeper, "
			   "so their sessions cannot be restored)",
			   contig_frame_dir_path(d->dirs[d->ndirs]),
			   contig_frame_dir_nlegacy(d->dirs[d->ndirs]));
	if (d->restore) {
		r = contig_restore_adopt(d->restore, d->dirs[d->ndirs], say_restore, NULL);
		if (r < 0) {
			contig_log(LOG_ERR, "%s: reading the frames left: %s",
				   contig_frame_dir_path(d->dirs[d->ndirs]), strerror(-r));
			contig_frame_dir_close(d->dirs[d->ndirs], true);
			return NULL;
		}
	}
	return d->dirs[d->ndirs++];
}

static int cmp_pool(const void *a, const void *b)
{
	const struct contig_pool *pa = *(struct contig_pool *const *)a;
	const struct contig_pool *pb = *(struct contig_pool *const *)b;

	if (pa->page_len != pb->page_len)
		return pa->page_len < pb->page_len ? -1 : 1;
	if (pa->node != pb->node)
		return pa->node - pb->node;
	/* no window first, then the wider ones */
	if (pa->below != pb->below)
		return !pa->below ? -1 : !pb->below ? 1 : pa->below > pb->below ? -1 : 1;
	return 0;
}

struct reserve_status {
	const struct contig_pool_spec *spec;
	uint64_t nframes;
};

/* STATUS= for systemctl status while a pool's frames come in. */
static void reserve_progress(size_t done, void *arg)
{
	const struct reserve_status *st = arg;

	sd_notifyf(0, "STATUS=reserving %" PRIu64 " frames of %" PRIu64 " kB on node %d: %zu in",
		   st->nframes, st->spec->page_len >> 10, st->spec->node, done);
}

/* The pools to build: each configured one, grown to what restored
 * sessions own in it, and any the configuration dropped that they still
 * own frames in. Returns how many, in the malloc'd *ret_targets. */
static int plan_targets(struct daemon *d, struct pool_target **ret_targets, size_t *ret_n)
{
	size_t n = 0, cap = d->cfg.npools + 8;
	struct pool_target *t = calloc(cap, sizeof(*t));
	uint64_t page_len, below;
	int node;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < d->cfg.npools; i++) {
		const struct contig_pool_spec *spec = &d->cfg.pools[i];
		char name[96];

		if (spec->when_memory_above && contig_physmem_has_above(spec->node, spec->below) == 0) {
			contig_log(LOG_INFO, "pool %s: not built (when=memory_above): all of node "
				   "%d's memory lies in the window, where its other pools serve it",
				   pool_name(spec->node, spec->page_len, spec->below, name,
					     sizeof(name)), spec->node);
			continue;
		}
		t[n++] = (struct pool_target){
			.node = spec->node,
			.page_len = spec->page_len,
			.below = spec->below,
			.nframes = (uint32_t)(spec->len / spec->page_len),
			.nwanted = (uint32_t)(spec->len / spec->page_len),
			.nadopted = contig_restore_nframes(d->restore, spec->node, spec->page_len,
							   spec->below),
			.spec = spec,
		};
	}
	for (size_t i = 0; contig_restore_pool(d->restore, i, &node, &page_len, &below); i++) {
		char name[96];
		size_t k;

		for (k = 0; k < n && !(t[k].node == node && t[k].page_len == page_len &&
				       t[k].below == below); k++)
			;
		if (k < n)
			continue;
		if (n == cap) {
			struct pool_target *grown = realloc(t, 2 * cap * sizeof(*t));

			if (!grown) {
				free(t);
				return -ENOMEM;
			}
			t = grown;
			cap *= 2;
		}
		t[n++] = (struct pool_target){
			.node = node,
			.page_len = page_len,
			.below = below,
			.nadopted = contig_restore_nframes(d->restore, node, page_len, below),
		};
		contig_log(LOG_NOTICE, "pool %s is no longer configured, but restored sessions "
			   "own %" PRIu32 " frames of it: it serves them until they are freed",
			   pool_name(node, page_len, below, name, sizeof(name)), t[n - 1].nadopted);
	}
	*ret_targets = t;
	*ret_n = n;
	return 0;
}

/* Can this process allocate memory on @node (libnuma: in its allowed
 * nodes, with memory)? Without NUMA there is only node 0. */
static bool node_has_memory(int node)
{
	long long size;

	if (numa_available() < 0)
		return node == 0;
	if (node > numa_max_node() || !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node))
		return false;
	size = numa_node_size64(node, NULL);
	return size > 0;
}

/* Expand each pool of every node ("all:...") to the nodes that have
 * memory, and say what it became. */
static int expand_all_nodes(struct contig_config *cfg)
{
	int max_node = numa_available() < 0 ? 0 : numa_max_node();
	int *nodes = calloc((size_t)max_node + 1, sizeof(*nodes));
	size_t nnodes = 0;
	int r;

	if (!nodes)
		return -ENOMEM;
	for (int n = 0; n <= max_node; n++)
		if (node_has_memory(n))
			nodes[nnodes++] = n;
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct contig_pool_spec *spec = &cfg->pools[i];
		char list[256] = "";
		size_t used = 0;

		if (spec->node != CONTIG_POOL_ALL_NODES)
			continue;
		for (size_t k = 0; k < nnodes && used < sizeof(list) - 16; k++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
						 k ? ", " : "", nodes[k]);
		contig_log(LOG_INFO, "pool all:%" PRIu64 "M:%" PRIu64 "M: on the nodes with memory "
			   "(%s) but those with a %" PRIu64 "M pool of their own",
			   spec->page_len >> 20, spec->len >> 20, list, spec->page_len >> 20);
	}
	r = contig_config_expand_all(cfg, nodes, nnodes);
	free(nodes);
	return r;
}

/* 1 GiB pools the kernel cannot give 1 GiB pages for (none free, and none
 * to be made: no 1 GiB of free contiguous memory, or no such page size)
 * fall back to 2 MiB frames, joining that node's 2 MiB pool if it has one,
 * with a logged reason; their frames are then chosen for the longest
 * segments (unless reserve=sorted). Pages of 1 GiB this makes free stay
 * for the pool (t->pre_added). A pool with frames restored sessions own
 * keeps its page size. */
static void fall_back_from_1g(struct pool_target *targets, size_t *ntargets)
{
	for (size_t i = 0; i < *ntargets; i++) {
		struct pool_target *t = &targets[i];
		uint64_t added = 0, nfree = 0, nframes_2m;
		size_t k;
		int r;

		if (t->page_len != PAGE_1G || t->nadopted || t->nframes == 0 || !t->spec || t->below)
			continue; /* a window pool looks for 1 GiB pages in its window, or finds none */
		r = contig_hugepages_grow(t->node, PAGE_1G, t->nframes, &added, &nfree);
		if (r == 0 && nfree >= t->nframes) {
			t->pre_added = added;
			continue;
		}
		contig_hugepages_shrink(t->node, PAGE_1G, added);
		nframes_2m = (uint64_t)t->nframes * (PAGE_1G / PAGE_2M);
		for (k = 0; k < *ntargets && !(targets[k].node == t->node &&
					       targets[k].page_len == PAGE_2M && !targets[k].below); k++)
			;
		if (r < 0)
			contig_log(LOG_WARNING, "pool node %d, 1048576 kB pages: the kernel offers "
				   "no 1 GiB pages here (%s); %" PRIu64 " frames of 2 MiB instead%s",
				   t->node, strerror(-r), nframes_2m,
				   k < *ntargets ? ", added to that node's 2 MiB pool" : "");
		else
			contig_log(LOG_WARNING, "pool node %d, 1048576 kB pages: the kernel could "
				   "make only %" PRIu64 " of the %" PRIu32 " 1 GiB pages free (too "
				   "little free memory, or too fragmented); %" PRIu64 " frames of "
				   "2 MiB instead%s", t->node, nfree, t->nframes, nframes_2m,
				   k < *ntargets ? ", added to that node's 2 MiB pool" : "");
		if (k < *ntargets) {
			targets[k].nframes += (uint32_t)nframes_2m;
			targets[k].nwanted += (uint32_t)nframes_2m;
			memmove(t, t + 1, (*ntargets - i - 1) * sizeof(*t));
			--*ntargets;
			i--;
			continue;
		}
		t->fallback = *t->spec;
		t->fallback.page_len = PAGE_2M;
		t->spec = &t->fallback;
		t->page_len = PAGE_2M;
		t->nframes = t->nwanted = (uint32_t)nframes_2m;
	}
}

/* For target @t's @nnew new frames: with reserve=longest, leave the frames
 * of the longest segments among its candidates first in the kernel's line
 * (reserve.c). Returns whether it did; on any failure it says why and the
 * reservation goes on plainly (which then fails, with its own message, if
 * the kernel has too few hugepages). */
static bool prepare_longest(const struct daemon *d, const struct pool_target *t, uint64_t nnew,
			    uint64_t prefer_above, unsigned nthreads,
			    struct contig_reserve_plan *plan, struct contig_reserve_report *rep)
{
	uint64_t max_candidates;
	char err[512];
	int r;

	if (!t->spec || nnew == 0)
		return false;
	max_candidates = contig_pool_spec_candidates(t->spec, nnew, t->page_len);
	if (max_candidates <= nnew)
		return false;
	*plan = (struct contig_reserve_plan){
		.node = t->node,
		.page_len = t->page_len,
		.nframes = nnew,
		.max_candidates = max_candidates,
		.compact = true,
		.nthreads = nthreads,
		.instance = d->instance,
		.runtime_dir = RUNTIME_DIR,
		.prefer_above = prefer_above,
		.min_free = d->cfg.reserve_min_free,
	};
	sd_notifyf(0, "STATUS=reserving up to %" PRIu64 " candidate frames of %" PRIu64
		   " kB on node %d", plan->max_candidates, t->page_len >> 10, t->node);
	r = contig_reserve_prepare(plan, rep, err, sizeof(err));
	if (r < 0) {
		contig_log(LOG_NOTICE, "pool node %d, %" PRIu64 " kB pages: no choice of frames (%s); "
			   "taking what the kernel gives", t->node, t->page_len >> 10, err);
		return false;
	}
	return true;
}

/* The end of the widest window narrower than @below (any window, for 0)
 * among the pools of @page_len on @node: frames below it are left for
 * those pools when there is a choice. 0 if there is none. */
static uint64_t narrower_window(const struct pool_target *targets, size_t ntargets, int node,
				uint64_t page_len, uint64_t below)
{
	uint64_t end = 0;

	for (size_t k = 0; k < ntargets; k++) {
		const struct pool_target *t = &targets[k];

		if (t->node == node && t->page_len == page_len && t->below &&
		    (!below || t->below < below) && t->below > end)
			end = t->below;
	}
	return end;
}

/* Window pool @t's new frames: found (reserve.c) and held, then released
 * first in line for the pool's reservation.
 * Window pools come after the others, the narrowest window first, so that
 * the others' candidates are faulted before a window's search gives most
 * of the node's memory back (on a VM that reports free pages to its host,
 * faulting them again costs more), and a wider window's pool leaves the
 * narrower one's frames alone when it can. A window that cannot be filled
 * serves what was found; one where nothing could be looked for serves
 * none. Returns whether frames were found (*ret_plan, *ret_rep then hold
 * what contig_reserve_finish() needs, and *ret_nnew how many). */
static int find_window(struct daemon *d, struct pool_target *t, struct pool_target *targets,
		       size_t ntargets, unsigned nthreads,
		       struct contig_reserve_plan *ret_plan, struct contig_reserve_report *ret_rep,
		       uint64_t *ret_nnew)
{
	uint64_t nnew = t->nframes > t->nadopted ? t->nframes - t->nadopted : 0;
	char name[96], err[512];
	int r;

	t->searched = true;
	*ret_nnew = 0;
	if (!t->spec || nnew == 0) {
		t->nframes = t->nadopted;
		return 0;
	}
	pool_name(t->node, t->page_len, t->below, name, sizeof(name));
	*ret_plan = (struct contig_reserve_plan){
		.node = t->node,
		.page_len = t->page_len,
		.nframes = nnew,
		.max_candidates = contig_pool_spec_candidates(t->spec, nnew, t->page_len),
		.nthreads = nthreads,
		.instance = d->instance,
		.runtime_dir = RUNTIME_DIR,
		.below = t->below,
		.prefer_above = narrower_window(targets, ntargets, t->node, t->page_len, t->below),
		.min_free = d->cfg.reserve_min_free,
	};
	sd_notifyf(0, "STATUS=looking for %" PRIu64 " frames of pool %s", nnew, name);
	r = contig_reserve_prepare(ret_plan, ret_rep, err, sizeof(err));
	if (r < 0) {
		contig_log(LOG_WARNING, "pool %s: could not look for frames in its window (%s): "
			   "it serves none", name, err);
		t->nframes = t->nadopted;
		return 0;
	}
	t->nframes = t->nadopted + (uint32_t)ret_rep->nkept;
	if (ret_rep->nkept < nnew)
		contig_log(LOG_WARNING, "pool %s: found %" PRIu64 " MiB of the %" PRIu64 " MiB "
			   "configured in its window (%" PRIu64 " hugepages made there of the %"
			   PRIu64 " added while leaving reserve_min_free = %" PRIu64 " MiB free); "
			   "serving what was found", name,
			   (uint64_t)ret_rep->nkept * t->page_len >> 20, nnew * t->page_len >> 20,
			   ret_rep->made_in_window == UINT64_MAX ? 0 : ret_rep->made_in_window,
			   ret_rep->raised, d->cfg.reserve_min_free >> 20);
	contig_reserve_let_go(ret_rep);
	*ret_nnew = ret_rep->nkept;
	return ret_rep->nkept > 0;
}

/* The order pools are built in: every pool without a window, as
 * configured, then the window pools, the narrowest window first. */
static void build_order(const struct pool_target *targets, size_t ntargets, size_t *order)
{
	size_t n = 0;

	for (size_t k = 0; k < ntargets; k++)
		if (!targets[k].below)
			order[n++] = k;
	for (size_t first = n; n < ntargets;) {
		size_t best = ntargets;

		for (size_t k = 0; k < ntargets; k++) {
			bool taken = false;

			for (size_t j = first; j < n && !taken; j++)
				taken = order[j] == k;
			if (targets[k].below && !taken &&
			    (best == ntargets || targets[k].below < targets[best].below))
				best = k;
		}
		order[n++] = best;
	}
}

static void log_window(const struct contig_pool *pool, const struct contig_reserve_plan *plan,
		       const struct contig_reserve_report *rep)
{
	char hist[512], name[96], made[48] = "unknown";

	contig_segments_format(rep->hist, hist, sizeof(hist));
	if (rep->made_in_window != UINT64_MAX)
		snprintf(made, sizeof(made), "%" PRIu64, rep->made_in_window);
	contig_log(LOG_INFO, "pool %s: chose %zu of the %" PRIu64 " candidate frames in the "
		   "window, of %" PRIu64 " tried (nr_hugepages raised by %" PRIu64 " for a "
		   "moment, %s of them made in zones reaching into the window%s; runs in the "
		   "window by length in frames: %s; the longest %" PRIu64 ", the chosen frames' "
		   "%" PRIu64 "); %" PRIu64 " of the pool's frames are the chosen ones; %" PRIu64
		   " hugepages given back; search %" PRIu64 " ms",
		   pool_name(pool->node, pool->page_len, plan->below, name, sizeof(name)),
		   rep->nkept, rep->nin_window, rep->ncandidates, rep->raised, made,
		   rep->from_tail ? ", listed oldest first: the oldest given back" : "", hist,
		   rep->longest_run, rep->longest_kept, rep->nmatched, rep->given_back,
		   rep->candidates_ms);
}

static void log_reservation(const struct contig_pool *pool, const struct contig_reserve_plan *plan,
			    const struct contig_reserve_report *rep)
{
	char hist[512], compaction[96] = "";

	contig_segments_format(rep->hist, hist, sizeof(hist));
	if (rep->compacted)
		snprintf(compaction, sizeof(compaction), ", compaction %" PRIu64 " ms%s",
			 rep->compact_ms, rep->compact_err ? " (refused)" : "");
	contig_log(LOG_INFO, "pool node %d, %" PRIu64 " kB pages: chose %" PRIu64 " of %" PRIu64
		   " candidate frames (runs by length in frames: %s; the longest %" PRIu64
		   ", the chosen frames' %" PRIu64 "); %" PRIu64 " of the pool's frames are the "
		   "chosen ones; %" PRIu64 " hugepages given back; candidates %" PRIu64 " ms%s",
		   pool->node, pool->page_len >> 10, plan->nframes, rep->ncandidates, hist,
		   rep->longest_run, rep->longest_kept, rep->nmatched, rep->given_back,
		   rep->candidates_ms, compaction);
}

static void log_segments(const struct contig_pool *pool, const struct contig_pool_info *info)
{
	char hist[512];

	char name[96];

	contig_segments_format(info->segment_hist, hist, sizeof(hist));
	contig_log(LOG_INFO, "pool %s: segments by length in frames: %s; largest buffer %" PRIu64
		   " MiB", pool_name(pool->node, pool->page_len, pool->below, name, sizeof(name)),
		   hist, info->largest_free_len >> 20);
}

static int reserve_pools(struct daemon *d)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int max_node = numa_available() < 0 ? 0 : numa_max_node();
	struct pool_target *targets;
	size_t ntargets, *order = NULL;
	char err[768];
	int r;

	r = plan_targets(d, &targets, &ntargets);
	if (r < 0)
		return r;
	if (ntargets == 0) {
		contig_log(LOG_ERR, "no pool to build: every configured pool was left out");
		free(targets);
		return -EINVAL;
	}
	for (size_t i = 0; i < ntargets; i++) {
		const struct pool_target *t = &targets[i];

		if (t->node > max_node) {
			contig_log(LOG_ERR, "pool %d:%" PRIu64 "M: this machine has no node %d "
				   "(nodes 0..%d)", t->node, t->page_len >> 20, t->node, max_node);
			free(targets);
			return -ENODEV;
		}
		if (!node_has_memory(t->node)) {
			contig_log(LOG_ERR, "pool %d:%" PRIu64 "M: node %d has no memory the daemon "
				   "may use (a node with CPUs only, or outside its cpuset); give "
				   "its pool to a node that has memory",
				   t->node, t->page_len >> 20, t->node);
			free(targets);
			return -ENODEV;
		}
	}
	fall_back_from_1g(targets, &ntargets);
	d->pools.pools = calloc(ntargets, sizeof(*d->pools.pools));
	if (!d->pools.pools) {
		free(targets);
		return -ENOMEM;
	}
	order = calloc(ntargets, sizeof(*order));
	if (!order) {
		free(targets);
		return -ENOMEM;
	}
	build_order(targets, ntargets, order);
	for (size_t i = 0; i < ntargets; i++) {
		struct pool_target *t = &targets[order[i]];
		struct contig_frame_file *adopted = NULL;
		uint32_t nadopted = 0, ndropped;
		uint64_t nnew, added = 0;
		struct contig_frame_dir *dir;
		struct contig_pool *pool;
		struct contig_pool_info info;
		struct contig_pool_spec spec = { .node = t->node, .page_len = t->page_len };
		struct reserve_status status = { .spec = &spec };
		struct contig_reserve_plan plan;
		struct contig_reserve_report rep;
		bool longest;
		char name[96];

		pool_name(t->node, t->page_len, t->below, name, sizeof(name));
		dir = dir_for(d, t->page_len);
		if (!dir) {
			r = -EIO;
			goto out;
		}
		r = contig_restore_take_files(d->restore, t->node, t->page_len, t->below, &adopted,
					      &nadopted);
		if (r < 0)
			goto out;
		nnew = target_frames(t) - nadopted;
		sd_notifyf(0, "STATUS=reserving %" PRIu64 " frames of %" PRIu64 " kB on node %d",
			   nnew, t->page_len >> 10, t->node);
		if (t->below) {
			/* Only what was found in the window, now first in line. */
			r = find_window(d, t, targets, ntargets, (unsigned)ncpu, &plan, &rep,
					&nnew);
			if (r < 0) {
				for (uint32_t k = 0; k < nadopted; k++)
					contig_frame_close(&adopted[k]);
				free(adopted);
				goto out;
			}
			longest = r > 0;
		} else {
			longest = prepare_longest(d, t, nnew,
						  narrower_window(targets, ntargets, t->node,
								  t->page_len, 0),
						  (unsigned)ncpu, &plan, &rep);
		}
		r = contig_hugepages_ensure(t->node, t->page_len, nnew, &added, err, sizeof(err));
		if (r < 0) {
			if (longest)
				contig_reserve_abandon(&plan, &rep);
			contig_log(LOG_ERR, "%s", err);
			for (uint32_t k = 0; k < nadopted; k++)
				contig_frame_close(&adopted[k]);
			free(adopted);
			goto out;
		}
		status.nframes = nnew;
		r = contig_pool_new(dir, t->node, adopted, nadopted, (uint32_t)nnew, (unsigned)ncpu,
				    reserve_progress, &status, &pool);
		if (r < 0) {
			contig_hugepages_shrink(t->node, t->page_len, added + t->pre_added);
			if (longest)
				contig_reserve_abandon(&plan, &rep);
			contig_log(LOG_ERR, "node %d: reserving %" PRIu64 " frames of %" PRIu64
				   " kB in %s failed: %s", t->node, nnew, t->page_len >> 10,
				   contig_frame_dir_path(dir),
				   r == -ENOSPC ? "no free hugepage on that node (another "
						  "process took them?)"
						: strerror(-r));
			for (uint32_t k = 0; k < nadopted; k++)
				contig_frame_close(&adopted[k]);
			free(adopted);
			goto out;
		}
		free(adopted);
		pool->below = t->below;
		pool->nframes_wanted = t->nwanted;
		if (longest)
			added += contig_reserve_finish(&plan, pool, &rep);
		/* Another process may have taken the frames found meanwhile: what
		 * came instead from outside the window goes, and its pages too. */
		ndropped = contig_pool_drop_outside(pool);
		if (ndropped) {
			uint64_t back = ndropped < added ? ndropped : added;

			contig_hugepages_shrink(t->node, t->page_len, back);
			added -= back;
			contig_log(LOG_WARNING, "pool %s: %" PRIu32 " of its new frames came from "
				   "outside the window (another process took free hugepages while "
				   "it was reserved) and were given back", name, ndropped);
		}
		pool->hugepages_added = added + t->pre_added +
					contig_restore_hugepages_added(d->restore, t->node, t->page_len,
								       t->below);
		d->pools.pools[d->pools.npools++] = pool;
		contig_pool_get_info(pool, &info);
		contig_log(LOG_INFO, "pool %s: %" PRIu64 " MiB in %" PRIu32 " frames (%" PRIu32
			   " adopted), %" PRIu32 " segments, largest segment %" PRIu64 " MiB%s",
			   name, info.total_len >> 20, info.nframes, nadopted, info.nsegments,
			   info.largest_segment_len >> 20,
			   added ? " (hugepages added to the kernel's pool)" : "");
		if (longest && t->below)
			log_window(pool, &plan, &rep);
		else if (longest)
			log_reservation(pool, &plan, &rep);
		log_segments(pool, &info);
		if (t->spec && info.largest_segment_len < t->spec->min_segment_len) {
			contig_log(t->spec->min_segment_warn ? LOG_WARNING : LOG_ERR,
				   "pool %s: largest segment %" PRIu64 " MiB, below its min_segment "
				   "of %" PRIu64 " MiB%s", name, info.largest_segment_len >> 20,
				   t->spec->min_segment_len >> 20,
				   t->spec->min_segment_warn
					   ? " (short=warn: serving anyway)"
					   : ": raise candidates, free or compact memory, or set "
					     "short=warn to serve anyway");
			if (!t->spec->min_segment_warn) {
				r = -ENOSPC;
				goto out;
			}
		}
		if (nadopted > t->nwanted && t->nwanted)
			contig_log(LOG_NOTICE, "pool %s: configured for %" PRIu32 " frames, but "
				   "restored sessions own %" PRIu32 ": it shrinks as they free them, "
				   "at the next start", name, t->nwanted, nadopted);
	}
	if (d->keeper) {
		size_t n = contig_keeper_release_rest(d->keeper);

		if (n)
			contig_log(LOG_INFO, "%zu frames the keeper held, of page sizes no pool "
				   "uses any more, were released", n);
	}
	qsort(d->pools.pools, d->pools.npools, sizeof(*d->pools.pools), cmp_pool);
	d->pools.limits = d->cfg.limits;
	d->pools.watermark_low_pct = d->cfg.watermark_low_pct;
	d->pools.watermark_normal_pct = d->cfg.watermark_normal_pct;
	d->pools.session_grace_ms = d->cfg.session_grace_ms;
	r = 0;
out:
	free(order);
	free(targets);
	return r;
}

/* Release the pools; with d->keep, the frames restored sessions own stay
 * (files, pages and mounts) for the next instance, and so do the hugepages
 * added to the kernel's pool (the journal counts them). */
static void release_pools(struct daemon *d)
{
	for (size_t i = 0; i < d->pools.npools; i++) {
		struct contig_pool *pool = d->pools.pools[i];
		int node = pool->node;
		uint64_t page_len = pool->page_len, added = pool->hugepages_added;

		contig_pool_free(pool, d->keep);
		if (!d->keep)
			contig_hugepages_shrink(node, page_len, added);
	}
	free(d->pools.pools);
	d->pools.pools = NULL;
	contig_tags_done(&d->pools.tags);
	free(d->pools.users);
	d->pools.npools = 0;
	for (size_t i = 0; i < d->ndirs; i++)
		contig_frame_dir_close(d->dirs[i], d->keep);
	d->ndirs = 0;
	/* With sessions to keep, the keeper goes on holding their frames. */
	contig_keeper_close(d->keeper, d->keep);
	d->keeper = NULL;
	if (d->pools.journal) {
		/* Without sessions to keep, nothing is left to restore. */
		if (!d->keep)
			unlink(contig_journal_path(d->pools.journal));
		contig_journal_close(d->pools.journal);
		d->pools.journal = NULL;
	}
	contig_restore_free(d->restore);
	d->restore = NULL;
}

/* Sessions worth keeping at a shutdown: journaled ones holding buffers. */
static uint32_t sessions_to_keep(const struct contig_pools *pools, uint32_t *ret_nbuffers)
{
	uint32_t n = 0, nbufs = 0;

	for (const struct contig_session *s = pools->sessions; s; s = s->next)
		if (s->journaled && s->nbuffers) {
			n++;
			nbufs += s->nbuffers;
		}
	*ret_nbuffers = nbufs;
	return n;
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct daemon *d = handle->data;
	uint32_t nkeep = 0, nbufs = 0;

	if (d->pools.journal && !d->pools.journal_failed)
		nkeep = sessions_to_keep(&d->pools, &nbufs);
	d->keep = nkeep > 0;
	d->pools.keep_sessions = d->keep;
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
	if (d->grace_started)
		uv_close((uv_handle_t *)&d->grace, NULL);
	d->grace_started = false;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

/* The grace period is over: the orphans no client reclaimed go as if their
 * clients had died. */
static void on_grace(uv_timer_t *timer)
{
	struct daemon *d = timer->data;
	struct contig_session *s, *next;

	for (s = d->pools.sessions; s; s = next) {
		next = s->next;
		if (!s->orphan)
			continue;
		contig_log(LOG_INFO, "session of pid %d (uid %u, %s) not reclaimed within %" PRIu64
			   " ms: releasing %" PRIu32 " buffers, %" PRIu32 " frames",
			   (int)s->pid, (unsigned)s->uid, s->comm, d->cfg.session_grace_ms,
			   s->nbuffers, s->nframes);
		contig_session_free(s);
	}
	uv_close((uv_handle_t *)&d->grace, NULL);
	d->grace_started = false;
}

/* After the recycler started: the last instance's sessions, as orphans,
 * then a fresh journal of everything. */
static int restore_sessions(struct daemon *d)
{
	char err[512];
	uint64_t valid;
	int r;

	if (!d->journal_path[0])
		return 0;
	if (d->restore && contig_restore_torn(d->restore, &valid))
		contig_log(LOG_WARNING, "journal %s: its last record was torn (a crash while "
			   "writing it): recovered the %" PRIu64 " bytes before it", d->journal_path,
			   valid);
	r = contig_restore_sessions(d->restore, &d->pools, say_restore, NULL);
	if (r < 0) {
		contig_log(LOG_ERR, "restoring sessions: %s", strerror(-r));
		return r;
	}
	contig_restore_free(d->restore);
	d->restore = NULL;
	r = contig_restore_compact(&d->pools, d->journal_path, err, sizeof(err));
	if (r < 0) {
		contig_log(LOG_ERR, "%s", err);
		return r;
	}
	if (d->pools.norphans) {
		contig_log(LOG_INFO, "%" PRIu32 " sessions restored: their clients have %" PRIu64
			   " ms to reclaim them", d->pools.norphans, d->cfg.session_grace_ms);
		uv_timer_init(&d->loop, &d->grace);
		d->grace.data = d;
		uv_timer_start(&d->grace, on_grace, d->cfg.session_grace_ms, 0);
		d->grace_started = true;
	}
	return 0;
}

/* Before the pools: what the last instance left, if sessions are to
 * survive restarts. Returns 0 or -errno (a journal this contigd cannot
 * read: it says which and why). */
static int load_journal(struct daemon *d)
{
	char err[512];
	int r;

	snprintf(d->journal_path, sizeof(d->journal_path), "%s/%s.journal", RUNTIME_DIR,
		 d->instance);
	if (!d->cfg.session_grace_ms) {
		unlink(d->journal_path); /* nothing is kept: the frames go too */
		d->journal_path[0] = '\0';
		return 0;
	}
	r = contig_restore_load(d->journal_path, &d->restore, err, sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		contig_log(LOG_ERR, "%s", err);
		return r;
	}
	if (contig_restore_nsessions(d->restore))
		contig_log(LOG_INFO, "journal %s: %zu sessions of the last contigd to restore",
			   d->journal_path, contig_restore_nsessions(d->restore));
	return 0;
}

/* With session_grace, the keeper that holds the frames across restarts
 * (keeper.c): the last instance's, whose frames the restore plan may
 * adopt, or a new one. Without, a keeper an earlier instance left is
 * dismissed: nothing of it is restored. Returns 0 or -errno. */
static int open_keeper(struct daemon *d)
{
	char err[512];
	int r;

	if (!d->journal_path[0]) {
		contig_keeper_dismiss(RUNTIME_DIR, d->instance);
		return 0;
	}
	r = contig_keeper_open(RUNTIME_DIR, d->instance, contig_restore_nsessions(d->restore) > 0,
			       &d->keeper, err, sizeof(err));
	if (r < 0)
		contig_log(LOG_ERR, "%s", err);
	return r;
}

/* One descriptor per frame (two with session_grace: see keeper.c), one
 * per connection and the frames in flight to clients: raise the soft limit on descriptors to the hard one (the
 * usual soft 1024 would stop a pool of 2 GiB of 2 MiB frames), and refuse
 * to start if even that cannot hold every frame and connection. */
static int raise_nofile(const struct contig_config *cfg)
{
	struct rlimit lim;
	uint64_t need = 64 + cfg->limits.max_connections;

	/* Two per frame with session_grace: the frame's and the keeper
	 * link's own (keeper.c keeps a copy to hand a new keeper). */
	for (size_t i = 0; i < cfg->npools; i++)
		need += cfg->pools[i].len / cfg->pools[i].page_len * (cfg->session_grace_ms ? 2 : 1);
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return -errno;
	if (lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) < 0) {
			int r = -errno;

			contig_log(LOG_ERR, "raising the descriptor limit to %llu: %s",
				   (unsigned long long)lim.rlim_max, strerror(-r));
			return r;
		}
	}
	if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
		contig_log(LOG_ERR, "the pools' frames and max_connections need %" PRIu64
			   " file descriptors, and the hard limit is %llu: raise it (LimitNOFILE= "
			   "in the unit, ulimit -Hn) or configure smaller pools", need,
			   (unsigned long long)lim.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

/* The path a listening socket is bound to, for the log. */
static void socket_name(int fd, char *buf, size_t len)
{
	struct sockaddr_un addr = { 0 };
	socklen_t addrlen = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) < 0 || !addr.sun_path[0])
		snprintf(buf, len, "an unnamed socket");
	else
		snprintf(buf, len, "%.*s", (int)sizeof(addr.sun_path), addr.sun_path);
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* What systemd passed (LISTEN_FDS): the listening socket (socket
 * activation). Anything else is closed (an older contigd stored the roots
 * of its frame mounts there: frames now live with the keeper). */
static void take_passed_fds(struct daemon *d)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), nother = 0;

	d->listen_fd = -1;
	if (n < 0)
		contig_log(LOG_WARNING, "descriptors passed by systemd: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (d->listen_fd < 0 && sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) > 0) {
			d->listen_fd = fd;
			continue;
		}
		close(fd);
		nother++;
	}
	if (nother)
		contig_log(LOG_WARNING, "ignoring %d descriptors passed by systemd: expected one "
			   "listening SOCK_SEQPACKET Unix socket", nother);
	strv_free(names);
}

/* The listening socket: from systemd (socket activation) or our own. */
static int open_listener(struct daemon *d, bool *ret_own)
{
	char err[512];
	int fd;

	if (d->listen_fd >= 0) {
		*ret_own = false;
		return d->listen_fd;
	}
	fd = contig_server_listen(d->cfg.socket_path, d->socket_uid, d->socket_gid,
				  d->cfg.socket_mode, err, sizeof(err));
	if (fd < 0)
		contig_log(LOG_ERR, "%s", err);
	*ret_own = true;
	return fd;
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
	if (parse_args(argc, argv, &d.cfg, &check, &source) < 0) {
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
	r = expand_all_nodes(&d.cfg);
	if (r < 0)
		goto out_config;
	r = raise_nofile(&d.cfg);
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
	take_passed_fds(&d);
	r = load_journal(&d);
	if (r == -EPROTO)
		bad_journal = true; /* restarting cannot fix it: exit 2 */
	if (r < 0)
		goto out_pools;
	r = open_keeper(&d);
	if (r < 0)
		goto out_pools;
	r = reserve_pools(&d);
	if (r < 0)
		goto out_pools;

	r = uv_loop_init(&d.loop);
	if (r < 0)
		goto out_pools;
	fd = open_listener(&d, &own_socket);
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
	r = restore_sessions(&d);
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

		socket_name(fd, name, sizeof(name));
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
