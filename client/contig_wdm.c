/* contig_wdm.c - the Windows contiguous-memory routines on top of libcontig.
 *
 * DESIGN
 * One process-wide connection, made on first use (and retried on the next
 * call if the daemon was not there), shared by every thread: libcontig
 * serialises calls on it. A forked child has its own session on it
 * (libcontig opens it at the child's first call); the parent's buffers
 * stay mapped and translated in the child, and a child freeing one frees
 * nothing and is a misuse like any bad free. The lock here guards only the
 * client pointer and the call sites; it is never held across a libcontig
 * call, so fork() (whose handlers take libcontig's locks, then this one)
 * cannot deadlock on it. Each routine is a thin translation: Windows
 * parameters become a struct contig_alloc_req, and the daemon alone judges
 * them (size 0, a bad boundary, an unknown cache type or node all come back
 * as errors, hence NULL), so there is one definition of what is valid.
 *
 * Which family allocated a buffer (Mm* or Ndis*) travels with it in
 * libcontig's user_data, so that each free routine frees only its own
 * family's memory, as Windows requires.
 *
 * Misuse that Windows answers with a bug check (bad frees) frees nothing;
 * it is written to stderr once per call site (the caller's return address),
 * so that a loop does not flood the log, and every occurrence is reported
 * to the daemon, which counts it (stats: nbugchecks).
 */
#include "contig_wdm.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "contig.h"

#define FAMILY_MM 0x4d4d            /* "MM": MmAllocateContiguousMemory* */
#define FAMILY_NDIS 0x4e444953      /* "NDIS": NdisAllocateMemoryWithTagPriority */
#define MAX_SITES 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct contig_client *client;
static bool connect_failed_said;
static const void *sites[MAX_SITES]; /* call sites already reported */
static size_t nsites;

static void fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&lock);
}

static void atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* The shared connection, made now if there is none. NULL if the daemon
 * cannot be reached (said once on stderr). */
static struct contig_client *client_get(void)
{
	struct contig_client *c, *mine;
	bool say = false;

	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&lock);
	c = client;
	pthread_mutex_unlock(&lock);
	if (c)
		return c;
	if (contig_connect(NULL, &mine) < 0) {
		pthread_mutex_lock(&lock);
		say = !connect_failed_said;
		connect_failed_said = true;
		pthread_mutex_unlock(&lock);
		if (say)
			fprintf(stderr, "contig_wdm: %s\n", contig_last_message());
		return NULL;
	}
	/* Another thread may have connected meanwhile: keep one. */
	pthread_mutex_lock(&lock);
	if (!client)
		client = mine;
	c = client;
	pthread_mutex_unlock(&lock);
	if (c != mine)
		contig_disconnect(mine);
	return c;
}

/* Has @site misbehaved before? Records it if not. */
static bool site_seen(const void *site)
{
	bool seen = false;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nsites && !seen; i++)
		seen = sites[i] == site;
	if (!seen && nsites < MAX_SITES)
		sites[nsites++] = site;
	pthread_mutex_unlock(&lock);
	return seen;
}

/* What Windows would bug-check on: say it (once per call site), count it. */
__attribute__((format(printf, 3, 4))) static void misuse(const char *routine, const void *site,
							 const char *fmt, ...)
{
	struct contig_client *c;
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!site_seen(site))
		fprintf(stderr,
			"contig_wdm: %s called from %p: %s; nothing freed (Windows would "
			"bug-check)\n",
			routine, site, reason);
	c = client_get();
	if (c)
		contig_report_misuse(c, routine, reason);
}

static PVOID alloc(SIZE_T len, uint64_t lowest, uint64_t highest, uint64_t boundary, int cache,
		   int node, uint32_t tag, uint32_t priority, uint64_t family)
{
	struct contig_client *c = client_get();
	struct contig_alloc_req req;
	struct contig_buffer buf;

	if (!c)
		return NULL;
	contig_alloc_req_init(&req, len);
	req.lowest_phys = lowest;
	req.highest_phys = highest;
	req.boundary = boundary;
	req.cache_type = cache;
	req.node = node;
	req.tag = tag;
	req.priority = priority;
	req.user_data = family;
	if (contig_alloc(c, &req, &buf) < 0)
		return NULL;
	return buf.virt;
}

/* The live buffer that starts exactly at @base and belongs to @family, or
 * a reason why there is none (returned for misuse()). */
static const char *find_base(struct contig_client *c, const void *base, uint64_t family,
			     struct contig_buffer *ret_buf)
{
	if (!base)
		return "the address is NULL";
	if (!c)
		return "no connection to contigd, so no live allocation";
	if (contig_buffer_of(c, base, ret_buf) < 0)
		return "not a live allocation (never allocated, or already freed)";
	if (ret_buf->virt != base)
		return "points inside an allocation, not at its base";
	if (ret_buf->user_data != family)
		return family == FAMILY_MM ? "allocated by NdisAllocateMemoryWithTagPriority: "
					     "free it with NdisFreeMemory"
					   : "allocated by an MmAllocateContiguousMemory routine: "
					     "free it with MmFreeContiguousMemory";
	return NULL;
}

/* Free the live buffer at @base; NULL, or why it was not freed (for
 * misuse()): gone meanwhile, or a parent's, inherited over fork(). */
static const char *free_why(struct contig_client *c, void *base)
{
	int r = contig_free(c, base);

	if (r == 0)
		return NULL;
	return r == -ENOENT ? "already freed (by another thread)" : contig_last_message();
}

CONTIG_WDM_EXPORT PVOID MmAllocateContiguousMemory(SIZE_T NumberOfBytes,
						    PHYSICAL_ADDRESS HighestAcceptableAddress)
{
	return alloc(NumberOfBytes, 0, (uint64_t)HighestAcceptableAddress.QuadPart, 0, MmCached,
		     CONTIG_NODE_ANY, 0, CONTIG_PRIORITY_HIGH, FAMILY_MM);
}

CONTIG_WDM_EXPORT PVOID MmAllocateContiguousMemorySpecifyCache(
	SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
	PHYSICAL_ADDRESS HighestAcceptableAddress, PHYSICAL_ADDRESS BoundaryAddressMultiple,
	MEMORY_CACHING_TYPE CacheType)
{
	return alloc(NumberOfBytes, (uint64_t)LowestAcceptableAddress.QuadPart,
		     (uint64_t)HighestAcceptableAddress.QuadPart,
		     (uint64_t)BoundaryAddressMultiple.QuadPart, CacheType, CONTIG_NODE_ANY, 0,
		     CONTIG_PRIORITY_HIGH, FAMILY_MM);
}

CONTIG_WDM_EXPORT PVOID MmAllocateContiguousMemorySpecifyCacheNode(
	SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
	PHYSICAL_ADDRESS HighestAcceptableAddress, PHYSICAL_ADDRESS BoundaryAddressMultiple,
	MEMORY_CACHING_TYPE CacheType, NODE_REQUIREMENT PreferredNode)
{
	/* A node number the daemon cannot have (above INT_MAX) stays invalid. */
	int node = PreferredNode == MM_ANY_NODE_OK ? CONTIG_NODE_ANY
			: PreferredNode > 0x7fffffffu ? 0x7fffffff : (int)PreferredNode;

	return alloc(NumberOfBytes, (uint64_t)LowestAcceptableAddress.QuadPart,
		     (uint64_t)HighestAcceptableAddress.QuadPart,
		     (uint64_t)BoundaryAddressMultiple.QuadPart, CacheType, node, 0,
		     CONTIG_PRIORITY_HIGH, FAMILY_MM);
}

CONTIG_WDM_EXPORT VOID MmFreeContiguousMemory(PVOID BaseAddress)
{
	const void *site = __builtin_return_address(0);
	struct contig_client *c = BaseAddress ? client_get() : NULL;
	struct contig_buffer buf;
	const char *why = find_base(c, BaseAddress, FAMILY_MM, &buf);

	if (!why)
		why = free_why(c, BaseAddress);
	if (why)
		misuse("MmFreeContiguousMemory", site, "BaseAddress %p: %s", BaseAddress, why);
}

CONTIG_WDM_EXPORT VOID MmFreeContiguousMemorySpecifyCache(PVOID BaseAddress,
							  SIZE_T NumberOfBytes,
							  MEMORY_CACHING_TYPE CacheType)
{
	const void *site = __builtin_return_address(0);
	struct contig_client *c = BaseAddress ? client_get() : NULL;
	struct contig_buffer buf;
	const char *why = find_base(c, BaseAddress, FAMILY_MM, &buf);
	int r;

	if (why) {
		misuse("MmFreeContiguousMemorySpecifyCache", site, "BaseAddress %p: %s",
		       BaseAddress, why);
		return;
	}
	r = contig_free_checked(c, BaseAddress, NumberOfBytes, CacheType);
	if (r == -EILSEQ)
		misuse("MmFreeContiguousMemorySpecifyCache", site,
		       "NumberOfBytes %zu and CacheType %d do not match the allocation (%" PRIu64
		       " bytes, CacheType %d)",
		       (size_t)NumberOfBytes, (int)CacheType, buf.req_len, buf.cache_type);
	else if (r < 0)
		misuse("MmFreeContiguousMemorySpecifyCache", site, "BaseAddress %p: %s",
		       BaseAddress, contig_last_message());
}

CONTIG_WDM_EXPORT PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress)
{
	PHYSICAL_ADDRESS pa;
	struct contig_client *c;
	uint64_t phys;

	pa.QuadPart = 0;
	/* No connection means no buffers: nothing to connect for. */
	pthread_mutex_lock(&lock);
	c = client;
	pthread_mutex_unlock(&lock);
	if (c && contig_virt_to_phys(c, BaseAddress, &phys) == 0)
		pa.QuadPart = (LONGLONG)phys;
	return pa;
}

CONTIG_WDM_EXPORT PVOID NdisAllocateMemoryWithTagPriority(NDIS_HANDLE NdisHandle, UINT Length,
							  ULONG Tag, EX_POOL_PRIORITY Priority)
{
	(void)NdisHandle;
	return alloc(Length, 0, CONTIG_PHYS_MAX, 0, MmCached, CONTIG_NODE_ANY, Tag,
		     (uint32_t)Priority, FAMILY_NDIS);
}

CONTIG_WDM_EXPORT VOID NdisFreeMemory(PVOID VirtualAddress, UINT Length, UINT MemoryFlags)
{
	const void *site = __builtin_return_address(0);
	struct contig_client *c;
	struct contig_buffer buf;
	const char *why;

	(void)Length; /* ignored with MemoryFlags 0, as documented */
	if (MemoryFlags != 0) {
		misuse("NdisFreeMemory", site,
		       "MemoryFlags 0x%x must be 0 for memory from NdisAllocateMemoryWithTagPriority",
		       MemoryFlags);
		return;
	}
	c = VirtualAddress ? client_get() : NULL;
	why = find_base(c, VirtualAddress, FAMILY_NDIS, &buf);
	if (!why)
		why = free_why(c, VirtualAddress);
	if (why)
		misuse("NdisFreeMemory", site, "VirtualAddress %p: %s", VirtualAddress, why);
}

CONTIG_WDM_EXPORT struct contig_client *ContigWdmClient(void)
{
	return client_get();
}
