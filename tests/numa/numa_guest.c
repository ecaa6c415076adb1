/* numa_guest.c - the node rules of contigd on a real multi-node kernel: the
 * TAP test that runs inside the qemu guests of tests/numa/test_numa.sh (as
 * root, as the guest's only job), against the real daemon and libcontig.
 *
 * The machine is read from sysfs, not assumed: the nodes, which of them
 * have memory (has_memory) and which CPUs each has (cpulist). Every check
 * of where memory lies is made here, independently of the daemon: each
 * 4 KiB page of a buffer is looked up in /proc/self/pagemap (physical
 * address, present, contiguous from the reply's phys), asked for its node
 * with get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), and its physical address
 * is checked to lie in a memory block sysfs lists under that node
 * (/sys/devices/system/node/nodeN/memoryK, K = phys / block_size_bytes).
 *
 * What it proves, with the daemon started as the README says:
 *  - "all:2M:16M" reserves a pool on every node with memory and none on a
 *    node with CPUs only; a pool named by node wins over it; contigctl
 *    status shows one line per pool with its node;
 *  - 4 KiB, 2 MiB and 6 MiB (three frames) buffers asked on each node lie
 *    wholly on that node, memory-only nodes included; a 6 MiB buffer on
 *    any node lies wholly on one (where the kernel gave a pool no three
 *    adjacent hugepages, its largest free run says so, and the check is
 *    that the request is refused, not served elsewhere);
 *  - any node (CONTIG_NODE_ANY and MmAllocateContiguousMemorySpecifyCacheNode
 *    with MM_ANY_NODE_OK) from a client pinned to a CPU lands on that CPU's
 *    node when it has a pool, and succeeds elsewhere when it has none;
 *  - a strict request for an exhausted node fails with -ENOMEM and a
 *    message naming the node while other nodes have room; any node keeps
 *    succeeding while any node has room, and fails only when all are full;
 *  - after the frames are freed and recycled they come back on their node;
 *  - a node with memory but no pool, a node with no memory, and a node the
 *    machine does not have are errors that name the node;
 *  - the hugepages the daemon added on each node are given back at exit.
 *
 * No sleeps: the daemon's READY=1 and stats round trips (harness).
 */
#include <errno.h>
#include <inttypes.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contig.h"
#include "contig_wdm.h"
#include "harness.h"

#define MAX_NODES 16
#define POOL_MB 16  /* per node: 8 frames of 2 MiB */
#define SMALL_MB 8  /* the pool a named node gets instead of "all"'s */

struct node {
	bool exists;
	bool memory;
	int cpu; /* one CPU of the node, -1 if none */
};

static struct node nodes[MAX_NODES];
static int nnodes;
static uint64_t block_len; /* sysfs memory block size */

static bool read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return true;
}

/* Is @n in a sysfs list such as "0,2-3"? */
static bool list_has(const char *list, int n)
{
	const char *p = list;

	while (*p >= '0' && *p <= '9') {
		char *end;
		long a = strtol(p, &end, 10), b = a;

		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		if (n >= a && n <= b)
			return true;
		p = *end == ',' ? end + 1 : end;
	}
	return false;
}

static void read_topology(void)
{
	char mem[256], path[128], buf[256];

	if (!read_text("/sys/devices/system/node/has_memory", mem, sizeof(mem)))
		bail_out("no /sys/devices/system/node: no NUMA in this kernel");
	if (!read_text("/sys/devices/system/memory/block_size_bytes", buf, sizeof(buf)))
		bail_out("no /sys/devices/system/memory/block_size_bytes");
	block_len = strtoull(buf, NULL, 16);
	for (int n = 0; n < MAX_NODES; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
		if (!read_text(path, buf, sizeof(buf)))
			continue;
		nodes[n].exists = true;
		nodes[n].memory = list_has(mem, n);
		nodes[n].cpu = buf[0] >= '0' && buf[0] <= '9' ? atoi(buf) : -1;
		nnodes = n + 1;
		diag("node %d: %s, cpu %d", n, nodes[n].memory ? "memory" : "no memory",
		     nodes[n].cpu);
	}
}

/* Hugepage count @what of node @n, 2 MiB pages. */
static long node_hugepages(int n, const char *what)
{
	char path[160], buf[32];

	snprintf(path, sizeof(path),
		 "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/%s", n, what);
	return read_text(path, buf, sizeof(buf)) ? atol(buf) : -1;
}

/* Does sysfs list the memory block holding @phys under node @n? */
static bool phys_on_node(uint64_t phys, int n)
{
	char path[160];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/memory%" PRIu64, n,
		 phys / block_len);
	return access(path, F_OK) == 0;
}

/* Every 4 KiB page of @b: present in pagemap at b->phys + offset, on node
 * @n by get_mempolicy and by sysfs. Writes each page first (a fault the
 * kernel would serve from another node would show). Says what is wrong. */
static bool buffer_on_node(const struct contig_buffer *b, int n)
{
	for (uint64_t off = 0; off < b->len; off += HARNESS_PAGE) {
		char *virt = (char *)b->virt + off;
		uint64_t phys;
		int node = -1;

		*(volatile char *)virt = 1;
		phys = harness_phys_of(getpid(), virt);
		if (phys != b->phys + off) {
			diag("  page +0x%" PRIx64 ": pagemap 0x%" PRIx64 ", reply says 0x%" PRIx64, off,
			     phys, b->phys + off);
			return false;
		}
		if (get_mempolicy(&node, NULL, 0, virt, MPOL_F_NODE | MPOL_F_ADDR) < 0 || node != n) {
			diag("  page +0x%" PRIx64 " (phys 0x%" PRIx64 "): get_mempolicy node %d (%s), "
			     "want %d", off, phys, node, strerror(errno), n);
			return false;
		}
		if (!phys_on_node(phys, n)) {
			diag("  phys 0x%" PRIx64 ": its memory block is not under node %d", phys, n);
			return false;
		}
	}
	return true;
}

/* The node get_mempolicy gives the first page of @b, -1 on error. */
static int node_of(const struct contig_buffer *b)
{
	int node = -1;

	*(volatile char *)b->virt = 1;
	if (get_mempolicy(&node, NULL, 0, b->virt, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -1;
	return node;
}

static int alloc_on(struct contig_client *c, uint64_t len, int node, struct contig_buffer *ret)
{
	struct contig_alloc_req req;

	contig_alloc_req_init(&req, len);
	req.node = node;
	return contig_alloc(c, &req, ret);
}

static int first_mem_node(int skip)
{
	for (int n = 0; n < nnodes; n++)
		if (nodes[n].memory && n != skip)
			return n;
	return -1;
}

static int last_mem_node(void)
{
	for (int n = nnodes - 1; n >= 0; n--)
		if (nodes[n].memory)
			return n;
	return -1;
}

/* Frames of node @n's pool in test_every_node(): the last node with memory
 * has a pool of its own, SMALL_MB, the others "all"'s POOL_MB. */
static int frames_of(int n)
{
	return (n == last_mem_node() ? SMALL_MB : POOL_MB) / 2;
}

/* ---- a client pinned to one CPU, asking for any node ---- */

struct pinned {
	int cpu;
	int want_node; /* the node it must land on; -1: any node but @not_node */
	int not_node;
};

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* In a child pinned to a->cpu: CONTIG_NODE_ANY and MM_ANY_NODE_OK each give
 * a 2 MiB buffer on the node it expects. Exit status: 0, or which failed. */
static int pinned_main(int fd, void *arg)
{
	const struct pinned *a = arg;
	struct contig_client *c;
	struct contig_buffer b;
	PHYSICAL_ADDRESS lo = { .QuadPart = 0 }, hi = { .QuadPart = -1 }, bd = { .QuadPart = 0 };
	unsigned cpu = 0, node = 0;
	PVOID v;
	int r, got;

	(void)fd;
	if (pin(a->cpu) < 0 || getcpu(&cpu, &node) < 0 || (int)cpu != a->cpu)
		return 10;
	if (contig_connect(NULL, &c) < 0)
		return 11;
	r = alloc_on(c, 2 * MiB, CONTIG_NODE_ANY, &b);
	if (r < 0) {
		printf("#   cpu %d: any node: %s\n", a->cpu, contig_last_message());
		return 12;
	}
	got = node_of(&b);
	if (got != b.node || (a->want_node >= 0 && got != a->want_node) ||
	    (a->want_node < 0 && got == a->not_node)) {
		printf("#   cpu %d: any node gave node %d (reply %d)\n", a->cpu, got, b.node);
		return 13;
	}
	if (!buffer_on_node(&b, got))
		return 14;
	v = MmAllocateContiguousMemorySpecifyCacheNode(2 * MiB, lo, hi, bd, MmCached,
							 MM_ANY_NODE_OK);
	if (!v)
		return 15;
	{
		struct contig_buffer wb = { .virt = v, .len = 2 * MiB,
					    .phys = (uint64_t)MmGetPhysicalAddress(v).QuadPart };

		if ((a->want_node >= 0 && node_of(&wb) != a->want_node) ||
		    !buffer_on_node(&wb, node_of(&wb)))
			return 16;
	}
	MmFreeContiguousMemory(v);
	contig_free(c, b.virt);
	contig_disconnect(c);
	return 0;
}

static void pinned_check(int cpu, int want_node, int not_node, const char *name)
{
	struct pinned a = { cpu, want_node, not_node };
	struct harness_child ch;
	int st;

	fflush(stdout);
	harness_child_start(&ch, pinned_main, &a);
	st = harness_child_wait(&ch);
	if (!ok(st == 0, "%s", name))
		diag("  child exit %d", st);
}

/* ---- the daemon with a pool on every node ---- */

struct held {
	struct contig_buffer b[64];
	int n;
};

/* Strict 2 MiB requests on @node until one fails: how many succeeded, and
 * the failure in *ret_r / @msg. */
static int exhaust(struct contig_client *c, int node, struct held *h, int *ret_r, char *msg,
		   size_t msglen)
{
	int count = 0, r;

	while (h->n < 64 && (r = alloc_on(c, 2 * MiB, node, &h->b[h->n])) == 0) {
		if (h->b[h->n].node != node || node_of(&h->b[h->n]) != node)
			diag("  exhausting node %d: a buffer on node %d", node, node_of(&h->b[h->n]));
		h->n++;
		count++;
	}
	*ret_r = r;
	snprintf(msg, msglen, "%s", contig_last_message());
	return count;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < st->npools; i++)
		if (st->pools[i].free_len != st->pools[i].total_len || st->pools[i].nframes_recycling)
			return false;
	return true;
}

static uint64_t pool_len_of(const struct contig_stats *st, int node)
{
	for (uint32_t i = 0; i < st->npools; i++)
		if (st->pools[i].node == node)
			return st->pools[i].total_len;
	return 0;
}

/* contigctl status: one line per pool, with its node; returns a bit per
 * node seen. */
static unsigned status_nodes(const char *sock)
{
	char bin[512], cmd[1200], line[512];
	unsigned seen = 0;
	FILE *p;

	harness_build_path("contigctl", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "CONTIGD_SOCKET=%s %s status", sock, bin);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned idx;
		int node;

		printf("#   | %s", line);
		if (sscanf(line, "%u %d", &idx, &node) == 2 && node >= 0 && node < MAX_NODES)
			seen |= 1u << node;
	}
	return pclose(p) == 0 ? seen : 0;
}

/* "all" plus a named pool on the last node: a pool per node with memory,
 * of the right size, in the stats and in contigctl status, its hugepages
 * on that node. */
static void check_pools(struct contig_client *c, const struct harness_daemon *d,
			const long *before)
{
	struct contig_stats st;
	unsigned want_bits = 0, seen;
	bool good = true;
	int r = contig_get_stats(c, &st);

	for (int n = 0; n < nnodes; n++) {
		uint64_t want = nodes[n].memory ? (uint64_t)frames_of(n) * 2 * MiB : 0;

		if (nodes[n].memory)
			want_bits |= 1u << n;
		if (r < 0 || pool_len_of(&st, n) != want) {
			diag("  node %d: pool of %" PRIu64 " bytes, want %" PRIu64, n,
			     r < 0 ? 0 : pool_len_of(&st, n), want);
			good = false;
		}
	}
	ok(good && st.npools == (uint32_t)__builtin_popcount(want_bits),
	   "pool_all_gives_every_node_with_memory_a_pool_and_a_named_node_wins");
	seen = status_nodes(d->sock);
	if (!ok(seen == want_bits, "contigctl_status_shows_a_pool_per_node"))
		diag("  nodes seen 0x%x, want 0x%x", seen, want_bits);
	for (int n = 0; n < nnodes; n++) {
		long nr = node_hugepages(n, "nr_hugepages");

		if (!nodes[n].memory)
			continue;
		/* The guest has no hugepages but the daemon's: it raised this
		 * node's own count by the pool's frames. */
		if (!ok(nr >= before[n] + frames_of(n),
			"node_%d_hugepages_reserved_on_that_node", n))
			diag("  nr %ld free %ld", nr, node_hugepages(n, "free_hugepages"));
	}
}

/* The largest buffer a request on @node could get now (CONTIG_NODE_ANY:
 * on any node), once every frame is back from recycling. */
static uint64_t largest_free_on(struct contig_client *c, int node)
{
	struct contig_stats st;
	uint64_t best = 0;

	/* (The fast path keeps empty warm frames: give them back first.) */
	if (contig_trim(c) < 0 || !harness_wait_stats(c, all_free, NULL) ||
	    contig_get_stats(c, &st) < 0)
		return 0;
	for (uint32_t i = 0; i < st.npools; i++)
		if ((node == CONTIG_NODE_ANY || st.pools[i].node == node) &&
		    st.pools[i].largest_free_len > best)
			best = st.pools[i].largest_free_len;
	return best;
}

/* Allocate @len on @node and check it lies wholly on one node (@node's).
 * Three frames need three adjacent free hugepages, which a small pool in a
 * guest may not have been given: where the pool's largest free run is too
 * short the check is that the request is refused with -ENOMEM, not
 * served from elsewhere. */
static void check_buffer_on(struct contig_client *c, uint64_t len, int node, const char *what,
			    const char *where)
{
	uint64_t largest = largest_free_on(c, node);
	struct contig_buffer b;
	int r = alloc_on(c, len, node, &b);
	int want = node == CONTIG_NODE_ANY && r == 0 ? node_of(&b) : node;

	if (largest < len) {
		if (!ok(r == -ENOMEM, "%s refused with -ENOMEM: the largest free run is %" PRIu64
			" KiB", what, largest >> 10))
			diag("  r=%d %s", r, r < 0 ? contig_last_message() : "");
	} else if (!ok(r == 0 && b.node == want && buffer_on_node(&b, want), "%s lies wholly on %s",
		       what, where)) {
		diag("  r=%d %s; largest free run %" PRIu64 " KiB", r,
		     r < 0 ? contig_last_message() : "", largest >> 10);
	}
	if (r == 0)
		contig_free(c, b.virt);
}

/* 4 KiB, 2 MiB and 6 MiB (three frames) on each node: wholly on it. */
static void check_buffers_per_node(struct contig_client *c)
{
	static const uint64_t lens[] = { 4096, 2 * MiB, 6 * MiB };
	char what[64], where[32];

	for (int n = 0; n < nnodes; n++) {
		if (!nodes[n].memory)
			continue;
		for (size_t i = 0; i < 3; i++) {
			snprintf(what, sizeof(what), "node_%d%s: %" PRIu64 " KiB buffer", n,
				 nodes[n].cpu < 0 ? "_memory_only" : "", lens[i] >> 10);
			snprintf(where, sizeof(where), "node %d", n);
			check_buffer_on(c, lens[i], n, what, where);
		}
	}
	/* Any node, three frames: still one node for all of them. */
	check_buffer_on(c, 6 * MiB, CONTIG_NODE_ANY, "any_node_6_MiB_buffer", "one node");
}

/* Any node from each CPU: that CPU's node first; a CPU on a node without
 * memory still gets memory. */
static void check_any_from_each_cpu(void)
{
	for (int n = 0; n < nnodes; n++) {
		char name[128];

		if (nodes[n].cpu < 0)
			continue;
		snprintf(name, sizeof(name), "any_node_from_cpu_%d_lands_on_%s", nodes[n].cpu,
			 nodes[n].memory ? "its node" : "a node with memory (its own has none)");
		pinned_check(nodes[n].cpu, nodes[n].memory ? n : -1, n, name);
	}
}

/* Exhaust one node (one with a CPU other than the first node with memory,
 * if there is one) with strict requests, then every other but @room, then
 * @room: strict fails naming the node while others have room, any node
 * succeeds while one has room. The buffers stay in @h. */
static void check_exhaustion(struct contig_client *c, struct held *h, int room)
{
	PHYSICAL_ADDRESS lo = { .QuadPart = 0 }, hi = { .QuadPart = -1 }, bd = { .QuadPart = 0 };
	int victim = first_mem_node(room), r, count;
	struct contig_buffer b;
	char msg[512], want[32];
	PVOID v;

	for (int n = nnodes - 1; n >= 0; n--)
		if (nodes[n].memory && nodes[n].cpu >= 0 && n != room)
			victim = n;
	count = exhaust(c, victim, h, &r, msg, sizeof(msg));
	snprintf(want, sizeof(want), "on node %d", victim);
	if (!ok(r == -ENOMEM && count == frames_of(victim) && strstr(msg, want),
		"strict_request_for_exhausted_node_%d_fails_naming_it", victim))
		diag("  r=%d after %d buffers: %s", r, count, msg);
	r = alloc_on(c, 2 * MiB, room, &b);
	ok(r == 0 && buffer_on_node(&b, room), "strict_request_for_node_%d_succeeds_meanwhile",
	   room);
	if (r == 0)
		contig_free(c, b.virt);
	if (nodes[victim].cpu >= 0)
		pinned_check(nodes[victim].cpu, -1, victim,
			     "any_node_from_a_cpu_of_the_exhausted_node_lands_elsewhere");

	/* Every node full but @room: any node still succeeds, there. */
	for (int n = 0; n < nnodes; n++)
		if (nodes[n].memory && n != victim && n != room)
			exhaust(c, n, h, &r, msg, sizeof(msg));
	r = alloc_on(c, 2 * MiB, CONTIG_NODE_ANY, &b);
	if (!ok(r == 0 && b.node == room && buffer_on_node(&b, room),
		"any_node_succeeds_on_the_one_node_with_room (%d)", room))
		diag("  r=%d %s", r, r < 0 ? contig_last_message() : "");
	if (r == 0)
		contig_free(c, b.virt);
	v = MmAllocateContiguousMemorySpecifyCacheNode(2 * MiB, lo, hi, bd, MmCached,
							 MM_ANY_NODE_OK);
	ok(v != NULL, "MM_ANY_NODE_OK_succeeds_while_one_node_has_room");
	if (v)
		MmFreeContiguousMemory(v);
	v = MmAllocateContiguousMemorySpecifyCacheNode(2 * MiB, lo, hi, bd, MmCached,
							 (NODE_REQUIREMENT)victim);
	ok(v == NULL, "MmAllocateContiguousMemorySpecifyCacheNode_on_the_full_node_is_NULL");
	if (v)
		MmFreeContiguousMemory(v);

	exhaust(c, room, h, &r, msg, sizeof(msg));
	r = alloc_on(c, 2 * MiB, CONTIG_NODE_ANY, &b);
	if (!ok(r == -ENOMEM && strstr(contig_last_message(), "any node"),
		"any_node_fails_only_when_every_node_is_full"))
		diag("  r=%d %s", r, contig_last_message());
}

/* Free @h: once recycled, each node's pool gives all its frames again, each
 * on that node. */
static void check_recycled(struct contig_client *c, struct held *h)
{
	for (int i = 0; i < h->n; i++)
		contig_free(c, h->b[i].virt);
	h->n = 0;
	ok(harness_wait_stats(c, all_free, NULL), "every_frame_recycled");
	for (int n = 0; n < nnodes; n++) {
		struct contig_buffer b;
		bool good = true;
		int frames = 0;

		if (!nodes[n].memory)
			continue;
		while (h->n < 64 && alloc_on(c, 2 * MiB, n, &b) == 0) {
			good = good && buffer_on_node(&b, n);
			h->b[h->n++] = b;
			frames++;
		}
		ok(good && frames == frames_of(n),
		   "after_recycling_node_%d_gives_all_%d_frames_on_node_%d", n, frames, n);
		while (h->n)
			contig_free(c, h->b[--h->n].virt);
	}
	ok(harness_wait_stats(c, all_free, NULL), "every_frame_recycled_again");
}

/* The daemon with "all:2M:16M" and the last node's own 8 MiB pool. */
static void test_every_node(void)
{
	struct harness_daemon d;
	struct contig_client *c;
	struct held h = { .n = 0 };
	char all[32], named[32];
	long before[MAX_NODES];
	bool good = true;

	for (int n = 0; n < nnodes; n++)
		before[n] = node_hugepages(n, "nr_hugepages");
	snprintf(all, sizeof(all), "all:2M:%dM", POOL_MB);
	snprintf(named, sizeof(named), "%d:2M:%dM", last_mem_node(), SMALL_MB);
	{
		const char *args[] = { "--pool", all, "--pool", named, NULL };

		harness_daemon_start(&d, args);
	}
	c = harness_connect(&d);
	check_pools(c, &d, before);
	check_buffers_per_node(c);
	check_any_from_each_cpu();
	if (!harness_wait_stats(c, all_free, NULL))
		bail_out("frames not recycled");
	check_exhaustion(c, &h, first_mem_node(-1));
	check_recycled(c, &h);
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	for (int n = 0; n < nnodes; n++)
		if (node_hugepages(n, "nr_hugepages") != before[n]) {
			diag("  node %d: nr_hugepages %ld, %ld before", n,
			     node_hugepages(n, "nr_hugepages"), before[n]);
			good = false;
		}
	ok(good, "hugepages_given_back_on_every_node");
}

/* A node with memory but no pool: strict fails naming it, any succeeds. */
static void test_node_without_pool(void)
{
	struct harness_daemon d;
	struct contig_client *c;
	struct contig_buffer b;
	int first = first_mem_node(-1), other = first_mem_node(first), r;
	char pool[32], want[64];
	const char *args[] = { "--pool", pool, NULL };

	snprintf(pool, sizeof(pool), "%d:2M:%dM", first, SMALL_MB);
	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	r = alloc_on(c, 4096, other, &b);
	snprintf(want, sizeof(want), "node %d has no pool", other);
	if (!ok(r == -ENOMEM && strstr(contig_last_message(), want),
		"strict_request_for_node_%d_without_a_pool_fails_naming_it", other))
		diag("  r=%d %s", r, contig_last_message());
	r = alloc_on(c, 4096, CONTIG_NODE_ANY, &b);
	ok(r == 0 && buffer_on_node(&b, first), "any_node_then_takes_node_%d", first);
	if (r == 0)
		contig_free(c, b.virt);
	if (nodes[other].cpu >= 0)
		pinned_check(nodes[other].cpu, first, -1,
			     "any_node_from_a_cpu_of_the_node_without_a_pool_lands_on_the_pool");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_without_pool_stops_cleanly");
}

/* Pools the machine cannot have: the daemon refuses to start, naming the node. */
static void test_bad_pools(void)
{
	char log[4096], pool[32], want[64];
	const char *args[] = { "--pool", pool, NULL };
	int st;

	snprintf(pool, sizeof(pool), "%d:2M:8M", nnodes);
	snprintf(want, sizeof(want), "has no node %d", nnodes);
	st = harness_daemon_fail(args, log, sizeof(log));
	if (!ok(st != 0 && strstr(log, want), "pool_on_node_%d_the_machine_lacks_fails_naming_it",
		nnodes))
		diag("  exit %d: %s", st, log);
	for (int n = 0; n < nnodes; n++) {
		if (nodes[n].memory)
			continue;
		snprintf(pool, sizeof(pool), "%d:2M:8M", n);
		snprintf(want, sizeof(want), "node %d has no memory", n);
		st = harness_daemon_fail(args, log, sizeof(log));
		if (!ok(st != 0 && strstr(log, want),
			"pool_on_node_%d_without_memory_fails_naming_it", n))
			diag("  exit %d: %s", st, log);
	}
}

int main(void)
{
	int nmem = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	read_topology();
	for (int n = 0; n < nnodes; n++)
		nmem += nodes[n].memory;
	if (nmem < 2)
		bail_out("%d nodes with memory: this test needs a multi-node machine", nmem);
	test_bad_pools();
	test_node_without_pool();
	test_every_node();
	return done_testing();
}
