/* poolplan.c - the pools to build, planned from the configuration.
 *
 * DESIGN
 * Owns the targets: one per pool the daemon is to build. Planned from the
 * configuration (its "all" nodes expanded first, by
 * contig_poolplan_expand_nodes(), to the nodes this process may use;
 * when=memory_above pools left out where the node has no memory above
 * the window) and from the restore plan (a configured pool grown to what
 * restored sessions own in it; a pool the configuration dropped kept for
 * them). Then checked (every node exists and has memory), then 1 GiB
 * pools the kernel cannot give 1 GiB pages for turned into 2 MiB frames
 * (joining that node's 2 MiB pool if it has one), and put in build
 * order: pools without a window as configured, then the window pools,
 * narrowest window first (poolset.c's find_window() says why).
 *
 * What it touches of the machine: libnuma (which nodes have memory),
 * physmem.c (memory above a window) and hugepages.c (growing the 1 GiB
 * pool to see whether it can). What is worth a log line goes through the
 * caller's say callback: it never logs itself. It never reserves a frame,
 * opens a frame set or the keeper, never builds a pool (poolset.c does,
 * from the plan), and never calls poolset.c, main.c, server.c or rpc.c.
 * Main thread only.
 *
 * Also what the pools cost the process: contig_poolplan_raise_nofile()
 * (a descriptor per frame, two with the keeper).
 */
#include "poolplan.h"

#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>

#include "hugepages.h"
#include "physmem.h"

#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)

/* What planning needs: the configuration, the restore plan, the caller's
 * callback. */
struct plan_ctx {
	const struct contig_config *cfg;
	struct contig_restore *restore;
	contig_restore_say_fn *say;
	void *say_arg;
};

/* One line for the log, through the caller's callback (the same 1024
 * bytes a log line holds). */
__attribute__((format(printf, 3, 4))) static void say(const struct plan_ctx *ctx, int level,
						      const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ctx->say(level, message, ctx->say_arg);
}

const char *contig_pool_name(int node, uint64_t page_len, uint64_t below, char *buf, size_t len)
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

uint32_t contig_pool_target_frames(const struct contig_pool_target *t)
{
	return t->nframes > t->nadopted ? t->nframes : t->nadopted;
}

/* The pools to build: each configured one, grown to what restored
 * sessions own in it, and any the configuration dropped that they still
 * own frames in. Returns how many, in the malloc'd *ret_targets. */
static int plan_targets(const struct plan_ctx *ctx, struct contig_pool_target **ret_targets, size_t *ret_n)
{
	size_t n = 0, cap = ctx->cfg->npools + 8;
	struct contig_pool_target *t = calloc(cap, sizeof(*t));
	uint64_t page_len, below;
	int node;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < ctx->cfg->npools; i++) {
		const struct contig_pool_spec *spec = &ctx->cfg->pools[i];
		char name[96];

		if (spec->when_memory_above && contig_physmem_has_above(spec->node, spec->below) == 0) {
			say(ctx, LOG_INFO, "pool %s: not built (when=memory_above): all of node "
				 "%d's memory lies in the window, where its other pools serve it",
				 contig_pool_name(spec->node, spec->page_len, spec->below, name,
					     sizeof(name)), spec->node);
			continue;
		}
		t[n++] = (struct contig_pool_target){
			.node = spec->node,
			.page_len = spec->page_len,
			.below = spec->below,
			.nframes = (uint32_t)(spec->len / spec->page_len),
			.nwanted = (uint32_t)(spec->len / spec->page_len),
			.nadopted = contig_restore_nframes(ctx->restore, spec->node, spec->page_len,
							   spec->below),
			.spec = spec,
		};
	}
	for (size_t i = 0; contig_restore_pool(ctx->restore, i, &node, &page_len, &below); i++) {
		char name[96];
		size_t k;

		for (k = 0; k < n && !(t[k].node == node && t[k].page_len == page_len &&
				       t[k].below == below); k++)
			;
		if (k < n)
			continue;
		if (n == cap) {
			struct contig_pool_target *grown = realloc(t, 2 * cap * sizeof(*t));

			if (!grown) {
				free(t);
				return -ENOMEM;
			}
			t = grown;
			cap *= 2;
		}
		t[n++] = (struct contig_pool_target){
			.node = node,
			.page_len = page_len,
			.below = below,
			.nadopted = contig_restore_nframes(ctx->restore, node, page_len, below),
		};
		say(ctx, LOG_NOTICE, "pool %s is no longer configured, but restored sessions "
			 "own %" PRIu32 " frames of it: it serves them until they are freed",
			 contig_pool_name(node, page_len, below, name, sizeof(name)), t[n - 1].nadopted);
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

int contig_poolplan_expand_nodes(struct contig_config *cfg, contig_restore_say_fn *say_fn,
				 void *arg)
{
	const struct plan_ctx ctx_ = { .say = say_fn, .say_arg = arg }, *ctx = &ctx_;
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
		say(ctx, LOG_INFO, "pool all:%" PRIu64 "M:%" PRIu64 "M: on the nodes with memory "
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
static void fall_back_from_1g(const struct plan_ctx *ctx, struct contig_pool_target *targets,
			      size_t *ntargets)
{
	for (size_t i = 0; i < *ntargets; i++) {
		struct contig_pool_target *t = &targets[i];
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
			say(ctx, LOG_WARNING, "pool node %d, 1048576 kB pages: the kernel offers "
				 "no 1 GiB pages here (%s); %" PRIu64 " frames of 2 MiB instead%s",
				 t->node, strerror(-r), nframes_2m,
				 k < *ntargets ? ", added to that node's 2 MiB pool" : "");
		else
			say(ctx, LOG_WARNING, "pool node %d, 1048576 kB pages: the kernel could "
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

uint64_t contig_poolplan_narrower_window(const struct contig_poolplan *plan, int node,
					 uint64_t page_len, uint64_t below)
{
	uint64_t end = 0;

	for (size_t k = 0; k < plan->ntargets; k++) {
		const struct contig_pool_target *t = &plan->targets[k];

		if (t->node == node && t->page_len == page_len && t->below &&
		    (!below || t->below < below) && t->below > end)
			end = t->below;
	}
	return end;
}

/* The order pools are built in: every pool without a window, as
 * configured, then the window pools, the narrowest window first. */
static void build_order(const struct contig_pool_target *targets, size_t ntargets, size_t *order)
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

/* Every target's node must exist and have memory this process may use. */
static int check_nodes(const struct plan_ctx *ctx, const struct contig_pool_target *targets,
		       size_t ntargets)
{
	int max_node = numa_available() < 0 ? 0 : numa_max_node();

	for (size_t i = 0; i < ntargets; i++) {
		const struct contig_pool_target *t = &targets[i];

		if (t->node > max_node) {
			say(ctx, LOG_ERR, "pool %d:%" PRIu64 "M: this machine has no node %d "
				 "(nodes 0..%d)", t->node, t->page_len >> 20, t->node, max_node);
			return -ENODEV;
		}
		if (!node_has_memory(t->node)) {
			say(ctx, LOG_ERR, "pool %d:%" PRIu64 "M: node %d has no memory the daemon "
				 "may use (a node with CPUs only, or outside its cpuset); give "
				 "its pool to a node that has memory",
				 t->node, t->page_len >> 20, t->node);
			return -ENODEV;
		}
	}
	return 0;
}

int contig_poolplan_make(const struct contig_config *cfg, struct contig_restore *restore,
			 contig_restore_say_fn *say_fn, void *arg, struct contig_poolplan *ret_plan)
{
	const struct plan_ctx ctx_ = { cfg, restore, say_fn, arg }, *ctx = &ctx_;
	struct contig_poolplan plan = { 0 };
	int r;

	r = plan_targets(ctx, &plan.targets, &plan.ntargets);
	if (r < 0)
		return r;
	if (plan.ntargets == 0) {
		say(ctx, LOG_ERR, "no pool to build: every configured pool was left out");
		r = -EINVAL;
		goto fail;
	}
	r = check_nodes(ctx, plan.targets, plan.ntargets);
	if (r < 0)
		goto fail;
	fall_back_from_1g(ctx, plan.targets, &plan.ntargets);
	plan.order = calloc(plan.ntargets, sizeof(*plan.order));
	if (!plan.order) {
		r = -ENOMEM;
		goto fail;
	}
	build_order(plan.targets, plan.ntargets, plan.order);
	*ret_plan = plan;
	return 0;

fail:
	contig_poolplan_done(&plan);
	return r;
}

void contig_poolplan_done(struct contig_poolplan *plan)
{
	free(plan->order);
	free(plan->targets);
	*plan = (struct contig_poolplan){ 0 };
}

int contig_poolplan_raise_nofile(const struct contig_config *cfg, contig_restore_say_fn *say_fn,
				 void *arg)
{
	const struct plan_ctx ctx_ = { .say = say_fn, .say_arg = arg }, *ctx = &ctx_;
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

			say(ctx, LOG_ERR, "raising the descriptor limit to %llu: %s",
			    (unsigned long long)lim.rlim_max, strerror(-r));
			return r;
		}
	}
	if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
		say(ctx, LOG_ERR, "the pools' frames and max_connections need %" PRIu64
			 " file descriptors, and the hard limit is %llu: raise it (LimitNOFILE= "
			 "in the unit, ulimit -Hn) or configure smaller pools", need,
			 (unsigned long long)lim.rlim_cur);
		return -EMFILE;
	}
	return 0;
}
