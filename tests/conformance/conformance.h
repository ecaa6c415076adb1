/* conformance.h - the helpers the conformance tests (test_*.c here) share.
 * Each test is one executable that includes this header once, so
 * everything here is static and marked unused: a test takes what it needs
 * and is warned about nothing it leaves.
 *
 * It offers:
 *  - units and addresses: PAGE, KiB, FRAME, NO_LIMIT, POOL_NODE, pa(),
 *    round_page(), phys_of() (MmGetPhysicalAddress as a number), alloc()
 *    (MmAllocateContiguousMemorySpecifyCache, any window), and `self`, the
 *    process whose pagemap is read;
 *  - the daemon: start_daemon() (one pool, sets self, connects the shim),
 *    and through the shim's own connection wdm_client(), stats(),
 *    my_nbuffers(), all_free(), settle() / settle_on() (wait until every
 *    frame is back in the pool, recycled: a round trip per poll, not a
 *    sleep); at the end ok_pool_whole() and finish() (daemon_stops_cleanly
 *    and the plan);
 *  - one verdict per test, the first broken promise explaining it: check()
 *    and verdict(); live() and gone() for a buffer that must (not) be there;
 *  - a probe around a bad call: stderr captured, the daemon's misuse count
 *    (nbugchecks) and this connection's buffers compared (probe_start(),
 *    probe_stop(), probe_expect(), lines_name());
 *  - skip(), intact(), cmp_u64(), and the cache types by name
 *    (cache_type_names[], bad_cache_types[]);
 *  - a request to ...SpecifyCache or ...SpecifyCacheNode and where pagemap
 *    and get_mempolicy say its result is (struct wbuf: wb(), wb_node(),
 *    wb_alloc(), wb_locate(), wb_broken(), wb_granted(), wb_refused();
 *    nwrong_node);
 *  - the pool as pagemap shows it, to build windows around real frames:
 *    map_frames() fills frames[] (sorted), nframes, longest_run, longest_at.
 *
 * Every physical address is checked against /proc/<self>/pagemap, never
 * taken from the library. Main thread only, except phys_of(), alloc() and
 * the pagemap readers, which any thread may call.
 */
#ifndef CONTIG_CONFORMANCE_H
#define CONTIG_CONFORMANCE_H

#include <ctype.h>
#include <errno.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contig_wdm.h"
#include "harness.h"

#define PAGE UINT64_C(4096)
#define KiB UINT64_C(1024)
#define FRAME (2 * MiB)
#define NO_LIMIT UINT64_MAX
#define MAX_FRAMES 64 /* at most this many frames in a test's pool */
#define POOL_NODE 0   /* every test's daemon has its pool on node 0 */

/* This process, whose pagemap the tests read; start_daemon() sets it (a
 * test that starts the daemon itself sets it too). */
__attribute__((unused)) static pid_t self;

/* ---- units and addresses ---- */

__attribute__((unused)) static PHYSICAL_ADDRESS pa(uint64_t v)
{
	PHYSICAL_ADDRESS p;

	p.QuadPart = (LONGLONG)v;
	return p;
}

__attribute__((unused)) static uint64_t round_page(uint64_t len)
{
	return (len + PAGE - 1) & ~(PAGE - 1);
}

/* MmGetPhysicalAddress, as the unsigned value Windows drivers use. */
__attribute__((unused)) static uint64_t phys_of(const void *virt)
{
	return (uint64_t)MmGetPhysicalAddress((PVOID)virt).QuadPart;
}

/* A buffer from MmAllocateContiguousMemorySpecifyCache, any window, no
 * boundary; NULL if refused. */
__attribute__((unused)) static void *alloc(uint64_t len, MEMORY_CACHING_TYPE cache)
{
	return MmAllocateContiguousMemorySpecifyCache((SIZE_T)len, pa(0), pa(UINT64_MAX), pa(0),
						      cache);
}

/* ---- the daemon, through the shim's own connection ---- */

/* ContigWdmClient(), connecting now if needed; bails out without one. */
__attribute__((unused)) static struct contig_client *wdm_client(void)
{
	struct contig_client *c = ContigWdmClient();

	if (!c)
		bail_out("ContigWdmClient: no connection to the daemon");
	return c;
}

/* The daemon's stats, as the shim's connection sees them; bails out on error. */
__attribute__((unused)) static void stats(struct contig_stats *ret_st)
{
	if (contig_get_stats(wdm_client(), ret_st) < 0)
		bail_out("stats: %s", contig_last_message());
}

__attribute__((unused)) static uint32_t my_nbuffers(void)
{
	struct contig_stats st;

	stats(&st);
	return st.my_nbuffers;
}

/* The one pool is whole again: every frame free and recycled, no buffer in
 * it, and the connection asked holds nothing. */
__attribute__((unused)) static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->npools == 1 && st->pools[0].free_len == st->pools[0].total_len &&
	       st->pools[0].nframes_recycling == 0 && st->pools[0].nbuffers == 0 &&
	       st->my_nbuffers == 0 && st->my_nframes == 0;
}

/* Does the pool come back whole, as all_free() says? The empty warm frames
 * of the fast path of @c and of the shim's connection are given back first
 * (contig_trim()); then polled through @c (recycling is asynchronous):
 * each poll is a round trip, not a sleep. */
__attribute__((unused)) static bool pool_comes_back(struct contig_client *c)
{
	struct contig_client *shim = ContigWdmClient();

	return (!shim || contig_trim(shim) == 0) && (c == shim || contig_trim(c) == 0) &&
	       harness_wait_stats(c, all_free, NULL);
}

/* Wait until pool_comes_back(@c). Then fills *ret_st unless it is NULL.
 * Bails out if the pool does not come back. */
__attribute__((unused)) static void settle_on(struct contig_client *c,
					      struct contig_stats *ret_st)
{
	if (!pool_comes_back(c))
		bail_out("the pool did not return to all free");
	if (ret_st && contig_get_stats(c, ret_st) < 0)
		bail_out("stats: %s", contig_last_message());
}

/* settle_on() the shim's connection. */
__attribute__((unused)) static void settle(void)
{
	settle_on(wdm_client(), NULL);
}

/* Start the daemon with one pool, "--pool @pool" of @pool_len bytes, set
 * self and connect the shim; bails out unless the daemon shows that pool.
 * (A test that must see the shim's first connection starts it itself.) */
__attribute__((unused)) static void start_daemon(struct harness_daemon *d, const char *pool,
						 uint64_t pool_len)
{
	const char *const args[] = { "--pool", pool, NULL };
	struct contig_stats st;

	self = getpid();
	harness_daemon_start(d, args);
	if (!ContigWdmClient())
		bail_out("ContigWdmClient: no connection to %s", d->sock);
	stats(&st);
	if (st.npools != 1 || st.pools[0].total_len != pool_len)
		bail_out("want one pool of %" PRIu64 " MiB", pool_len >> 20);
}

/* ok @name: every frame is back in the pool, whole (@pool_len bytes) with
 * none lost, as the shim's connection sees it. */
__attribute__((unused)) static void ok_pool_whole(const char *name, uint64_t pool_len)
{
	struct contig_stats st;

	ok(pool_comes_back(wdm_client()) &&
		   contig_get_stats(ContigWdmClient(), &st) == 0 && st.nframes_lost == 0 &&
		   st.pools[0].total_len == pool_len,
	   "%s", name);
}

/* The last test, daemon_stops_cleanly, then the plan. Returns main()'s exit
 * status. */
__attribute__((unused)) static int finish(struct harness_daemon *d)
{
	ok(harness_daemon_stop(d) == 0, "daemon_stops_cleanly");
	return done_testing();
}

/* ---- one verdict per test: the first broken promise explains it ---- */

__attribute__((unused)) static char failure[512];

/* Returns @cond; if it is false and nothing failed yet in this test,
 * remembers why for verdict(). */
__attribute__((unused, format(printf, 2, 3))) static bool check(bool cond, const char *fmt, ...)
{
	va_list ap;

	if (!cond && !failure[0]) {
		va_start(ap, fmt);
		vsnprintf(failure, sizeof(failure), fmt, ap);
		va_end(ap);
	}
	return cond;
}

/* Report @name: ok unless a check() failed since the last verdict. */
__attribute__((unused)) static void verdict(const char *name)
{
	if (!ok(!failure[0], "%s", name))
		diag("  %s", failure);
	failure[0] = '\0';
}

/* @p is a live buffer of @len (rounded) bytes, physically contiguous per
 * pagemap from a page-aligned start that MmGetPhysicalAddress agrees with
 * for its first and last byte, and every byte takes @fill and gives it
 * back. */
__attribute__((unused)) static bool live(const char *what, void *p, uint64_t len, uint8_t fill)
{
	uint64_t phys = phys_of(p), rlen = round_page(len);
	unsigned char *b = p;

	if (!check(phys != 0, "%s: MmGetPhysicalAddress(%p) is 0: it is gone", what, p))
		return false;
	if (!check(phys % PAGE == 0 && (uintptr_t)p % PAGE == 0,
		   "%s: start %p / 0x%" PRIx64 " is not page aligned", what, p, phys))
		return false;
	if (!check(phys == harness_phys_of(self, p),
		   "%s: MmGetPhysicalAddress says 0x%" PRIx64 ", pagemap 0x%" PRIx64, what, phys,
		   harness_phys_of(self, p)))
		return false;
	if (!check(harness_phys_contiguous(self, p, rlen, phys),
		   "%s: not physically contiguous per pagemap", what))
		return false;
	if (!check(phys_of(b + rlen - 1) == phys + rlen - 1,
		   "%s: MmGetPhysicalAddress of the last byte is not base + len - 1", what))
		return false;
	memset(b, fill, rlen);
	for (uint64_t i = 0; i < rlen; i++)
		if (!check(b[i] == fill, "%s: byte %" PRIu64 " does not keep what was written",
			   what, i))
			return false;
	return true;
}

/* @p no longer names a buffer. */
__attribute__((unused)) static bool gone(const char *what, void *p)
{
	return check(phys_of(p) == 0, "%s: MmGetPhysicalAddress(%p) still answers 0x%" PRIx64,
		     what, p, phys_of(p));
}

/* ---- stderr and the daemon's misuse count around a bad call ---- */

struct probe {
	int saved_fd;
	FILE *file;
	uint64_t nbugchecks;
	uint32_t my_nbuffers;
	uint64_t my_len;
	char out[4096];
	int nlines;
};

/* Note the counts and capture stderr until probe_stop(). */
__attribute__((unused)) static void probe_start(struct probe *pr)
{
	struct contig_stats st;

	stats(&st);
	pr->nbugchecks = st.nbugchecks;
	pr->my_nbuffers = st.my_nbuffers;
	pr->my_len = st.my_len;
	fflush(stderr);
	pr->file = tmpfile();
	pr->saved_fd = dup(STDERR_FILENO);
	if (!pr->file || pr->saved_fd < 0 || dup2(fileno(pr->file), STDERR_FILENO) < 0)
		bail_out("redirecting stderr: %s", strerror(errno));
}

/* Stop capturing; pr->out holds what was written to stderr meanwhile and
 * pr->nlines its lines. */
__attribute__((unused)) static void probe_stop(struct probe *pr)
{
	size_t n;

	fflush(stderr);
	if (dup2(pr->saved_fd, STDERR_FILENO) < 0)
		bail_out("restoring stderr: %s", strerror(errno));
	close(pr->saved_fd);
	rewind(pr->file);
	n = fread(pr->out, 1, sizeof(pr->out) - 1, pr->file);
	pr->out[n] = '\0';
	fclose(pr->file);
	pr->nlines = 0;
	for (char *s = pr->out; *s; s++)
		pr->nlines += *s == '\n';
}

/* Does @line name @routine as a whole word (MmFreeContiguousMemory is a
 * prefix of MmFreeContiguousMemorySpecifyCache)? */
__attribute__((unused)) static bool names_routine(const char *line, const char *routine)
{
	size_t n = strlen(routine);

	for (const char *s = line; (s = strstr(s, routine)); s += n)
		if ((s == line || !(isalnum((unsigned char)s[-1]) || s[-1] == '_')) &&
		    !(isalnum((unsigned char)s[n]) || s[n] == '_'))
			return true;
	return false;
}

/* Every line captured names @routine. */
__attribute__((unused)) static bool lines_name(const struct probe *pr, const char *routine)
{
	char copy[sizeof(pr->out)];

	memcpy(copy, pr->out, sizeof(copy));
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!names_routine(l, routine))
			return check(false, "a line does not name %s: \"%s\"", routine, l);
	return true;
}

/* Show what was said, as diagnostics. */
__attribute__((unused)) static void diag_lines(const struct probe *pr)
{
	char copy[sizeof(pr->out)];

	memcpy(copy, pr->out, sizeof(copy));
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		diag("  stderr: %s", l);
}

/* After @ncalls bad calls to @routine from @nsites sites never reported
 * before: one line per site naming the routine, @ncalls more misuses in
 * the daemon's count, and this connection still holds what it held. */
__attribute__((unused)) static void probe_expect(struct probe *pr, const char *routine,
						 int ncalls, int nsites)
{
	struct contig_stats st;

	probe_stop(pr);
	stats(&st);
	diag_lines(pr);
	check(st.my_nbuffers == pr->my_nbuffers && st.my_len == pr->my_len,
	      "something was freed: %u buffers / %" PRIu64 " bytes before, %u / %" PRIu64
	      " after",
	      pr->my_nbuffers, pr->my_len, st.my_nbuffers, st.my_len);
	check(pr->nlines == nsites, "%d line(s) on stderr, want %d: \"%s\"", pr->nlines, nsites,
	      pr->out);
	lines_name(pr, routine);
	check(st.nbugchecks == pr->nbugchecks + (uint64_t)ncalls,
	      "nbugchecks went from %" PRIu64 " to %" PRIu64 ", want +%d", pr->nbugchecks,
	      st.nbugchecks, ncalls);
}

/* ---- small TAP and memory helpers ---- */

__attribute__((unused)) static void skip(const char *name, const char *why)
{
	ok(true, "%s # SKIP %s", name, why);
}

/* Every byte of [virt, virt + len) is @v. */
__attribute__((unused)) static bool intact(const void *virt, uint64_t len, uint8_t v)
{
	const uint8_t *p = virt;

	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

__attribute__((unused)) static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The cache types, indexed by MEMORY_CACHING_TYPE, as test names spell
 * them; and values that are none, which every routine must refuse. */
#define NCACHE_TYPES (MmUSWCCached + 1)
__attribute__((unused)) static const char *const cache_type_names[NCACHE_TYPES] = {
	"MmNonCached", "MmCached", "MmWriteCombined", "MmHardwareCoherentCached",
	"MmNonCachedUnordered", "MmUSWCCached",
};
#define NBAD_CACHE_TYPES 3
__attribute__((unused)) static const struct {
	int type;
	const char *name;
} bad_cache_types[NBAD_CACHE_TYPES] = { { MmMaximumCacheType, "MmMaximumCacheType" },
			{ MmNotMapped, "MmNotMapped" },
			{ 42, "42" } };

/* ---- one request, what the routine returned, and where it is ---- */

struct wbuf {
	uint64_t len; /* NumberOfBytes */
	uint64_t lowest, highest, boundary;
	MEMORY_CACHING_TYPE cache;
	bool by_node;          /* ...SpecifyCacheNode with @node; else ...SpecifyCache */
	NODE_REQUIREMENT node; /* PreferredNode */
	void *virt;            /* what the routine returned */
	uint64_t pm;           /* pagemap's address of the first byte; 0: not contiguous */
	int kernel_node;       /* by_node: get_mempolicy's node of the first and last byte; -1 */
};

/* Granted buffers (by_node) whose node get_mempolicy did not confirm. */
__attribute__((unused)) static int nwrong_node;

/* A request to MmAllocateContiguousMemorySpecifyCache. */
__attribute__((unused)) static struct wbuf wb(uint64_t len, uint64_t lowest, uint64_t highest,
					      uint64_t boundary, MEMORY_CACHING_TYPE cache)
{
	return (struct wbuf){ .len = len, .lowest = lowest, .highest = highest,
			      .boundary = boundary, .cache = cache, .kernel_node = -1 };
}

/* A request to MmAllocateContiguousMemorySpecifyCacheNode. */
__attribute__((unused)) static struct wbuf wb_node(uint64_t len, uint64_t lowest,
						   uint64_t highest, uint64_t boundary,
						   MEMORY_CACHING_TYPE cache,
						   NODE_REQUIREMENT node)
{
	struct wbuf w = wb(len, lowest, highest, boundary, cache);

	w.by_node = true;
	w.node = node;
	return w;
}

/* Where pagemap puts the first byte of [virt, virt + len), if all of it is
 * physically contiguous from there; else 0. */
__attribute__((unused)) static uint64_t pagemap_phys(const void *virt, uint64_t len)
{
	uint64_t phys = harness_phys_of(self, virt);

	if (phys == 0 || !harness_phys_contiguous(self, virt, len, phys))
		return 0;
	return phys;
}

/* The kernel's node for the first and the last byte of [virt, virt + len),
 * or -1 if it cannot say or they differ. */
__attribute__((unused)) static int kernel_node_of(void *virt, uint64_t len)
{
	int first = -1, last = -1;

	if (get_mempolicy(&first, NULL, 0, virt, MPOL_F_NODE | MPOL_F_ADDR) < 0 ||
	    get_mempolicy(&last, NULL, 0, (char *)virt + len - 1, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -1;
	return first == last ? first : -1;
}

/* Fill in where w->virt, just returned by a routine, is: pagemap's address
 * and, by_node, the kernel's node. */
__attribute__((unused)) static void wb_locate(struct wbuf *w)
{
	w->pm = w->virt ? pagemap_phys(w->virt, w->len) : 0;
	w->kernel_node = w->by_node && w->virt ? kernel_node_of(w->virt, w->len) : -1;
}

/* Call the routine with @w's parameters; returns what it did. */
__attribute__((unused)) static void *wb_alloc(struct wbuf *w)
{
	if (w->by_node)
		w->virt = MmAllocateContiguousMemorySpecifyCacheNode(
			(SIZE_T)w->len, pa(w->lowest), pa(w->highest), pa(w->boundary), w->cache,
			w->node);
	else
		w->virt = MmAllocateContiguousMemorySpecifyCache((SIZE_T)w->len, pa(w->lowest),
								 pa(w->highest), pa(w->boundary),
								 w->cache);
	wb_locate(w);
	return w->virt;
}

/* by_node: is the buffer on the node get_mempolicy should report? With
 * MM_ANY_NODE_OK the only node with a pool is the right one. */
__attribute__((unused)) static bool wb_on_its_node(const struct wbuf *w)
{
	return w->kernel_node == (w->node == MM_ANY_NODE_OK ? POOL_NODE : (int)w->node);
}

/* Which documented promise @w breaks per pagemap (and get_mempolicy), or
 * NULL. */
__attribute__((unused)) static const char *wb_broken(const struct wbuf *w)
{
	uint64_t last;

	if (!w->virt)
		return "NULL";
	if ((uintptr_t)w->virt % PAGE)
		return "base virtual address not page aligned";
	if (w->pm == 0)
		return "not physically contiguous per pagemap";
	if (w->pm % PAGE)
		return "physical start not page aligned";
	/* The buffer is the size rounded up to pages (DESIGN.md). */
	last = w->pm + round_page(w->len) - 1;
	if (w->pm < w->lowest || last > w->highest)
		return "not inside [Lowest, Highest]";
	if (w->boundary && w->pm / w->boundary != last / w->boundary)
		return "crosses a multiple of BoundaryAddressMultiple";
	if (w->by_node && !wb_on_its_node(w))
		return "not on the node get_mempolicy should report";
	return NULL;
}

__attribute__((unused)) static void wb_diag(const struct wbuf *w, const char *why)
{
	if (w->by_node)
		diag("  %s: NumberOfBytes %" PRIu64 ", [0x%" PRIx64 ", 0x%" PRIx64
		     "], boundary 0x%" PRIx64 ", cache type %d, node 0x%x -> %p, pagemap 0x%" PRIx64
		     ", kernel node %d",
		     why, w->len, w->lowest, w->highest, w->boundary, (int)w->cache, w->node,
		     w->virt, w->pm, w->kernel_node);
	else
		diag("  %s: NumberOfBytes %" PRIu64 ", [0x%" PRIx64 ", 0x%" PRIx64
		     "], boundary 0x%" PRIx64 ", cache type %d -> %p, pagemap 0x%" PRIx64,
		     why, w->len, w->lowest, w->highest, w->boundary, (int)w->cache, w->virt,
		     w->pm);
}

/* Report @name: @w was granted, keeps every promise per pagemap, and @cond
 * holds. Frees it unless @keep and it is good. Returns whether it was. */
__attribute__((unused)) static bool wb_granted(struct wbuf *w, bool cond, bool keep,
					       const char *name)
{
	bool good = w->virt && !wb_broken(w) && cond;

	if (w->by_node && w->virt && !wb_on_its_node(w))
		nwrong_node++;
	if (!ok(good, "%s", name))
		wb_diag(w, w->virt ? (wb_broken(w) ? wb_broken(w) : "granted, not where it must be")
				   : "NULL");
	if (w->virt && !(keep && good)) {
		MmFreeContiguousMemory(w->virt);
		w->virt = NULL;
	}
	return good;
}

/* Report @name: @w is refused (NULL). A buffer granted by mistake is freed. */
__attribute__((unused)) static void wb_refused(struct wbuf *w, const char *name)
{
	wb_alloc(w);
	if (!ok(w->virt == NULL, "%s", name))
		wb_diag(w, "granted, but NULL was due");
	if (w->virt) {
		MmFreeContiguousMemory(w->virt);
		w->virt = NULL;
	}
}

/* ---- the pool as pagemap shows it ---- */

/* Each frame's physical address, sorted; the longest run of adjacent
 * frames, in bytes, starts at frames[longest_at]. */
__attribute__((unused)) static uint64_t frames[MAX_FRAMES];
__attribute__((unused)) static size_t nframes;
__attribute__((unused)) static uint64_t longest_run;
__attribute__((unused)) static size_t longest_at;

/* Take every frame once, each as @frame requests it (2 MiB that may not
 * cross a 2 MiB multiple is one whole frame), read where each is, free
 * them; map again if recycling moved a frame to another page. @exhausted,
 * unless NULL, runs once while every frame is held. Reports @name_all (the
 * pool's @npool frames were granted) and @name_whole (each was one whole
 * frame), then sorts frames[] and finds the longest run. Bails out if there
 * is no stable map to build windows around. */
__attribute__((unused)) static void map_frames(struct wbuf frame, uint64_t npool,
					       void (*exhausted)(void), const char *name_all,
					       const char *name_whole)
{
	static void *bufs[MAX_FRAMES];
	bool whole = true;
	uint64_t run = 0;

	for (int attempt = 0;; attempt++) {
		struct contig_stats st;
		uint64_t moved;

		settle();
		stats(&st);
		moved = st.nrecycle_moved;
		whole = true;
		for (nframes = 0; nframes < MAX_FRAMES; nframes++) {
			struct wbuf w = frame;

			if (!wb_alloc(&w))
				break;
			bufs[nframes] = w.virt;
			frames[nframes] = w.pm;
			if (wb_broken(&w) || w.pm % FRAME)
				whole = false;
		}
		if (attempt == 0 && exhausted)
			exhausted();
		for (size_t i = 0; i < nframes; i++)
			MmFreeContiguousMemory(bufs[i]);
		settle();
		stats(&st);
		if (st.nrecycle_moved == moved)
			break;
		if (attempt == 2)
			bail_out("frames keep moving to other pages on recycling: no stable map");
		diag("a frame came back on another page; mapping the pool again");
	}
	is_u64(nframes, npool, name_all);
	ok(whole, "%s", name_whole);
	if (nframes == 0 || !whole)
		bail_out("no frame map to build windows around");
	qsort(frames, nframes, sizeof(frames[0]), cmp_u64);
	for (size_t i = 0; i < nframes; i++) {
		if (i > 0 && frames[i] == frames[i - 1])
			bail_out("frame 0x%" PRIx64 " granted twice", frames[i]);
		if (i == 0 || frames[i] != frames[i - 1] + FRAME)
			run = 0;
		run += FRAME;
		if (run > longest_run) {
			longest_run = run;
			longest_at = i + 1 - run / FRAME;
		}
	}
}

#endif
