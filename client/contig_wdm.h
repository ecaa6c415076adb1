/* contig_wdm.h - the Windows contiguous-memory routines, under their own
 * names and types, on top of libcontig.
 *
 * Driver code written against MmAllocateContiguousMemory* / MmFree* /
 * MmGetPhysicalAddress / NdisAllocateMemoryWithTagPriority / NdisFreeMemory
 * compiles against this header (C or C++) and runs in user space: link with
 * -lcontig. The routines connect lazily to the daemon at $CONTIGD_SOCKET
 * (else /run/contigd/contigd.sock) on first use and are safe to call from
 * any thread.
 *
 * Where user space differs from the kernel (see README.md, "Porting a
 * Windows driver"):
 * - Where Windows would bug-check (a bad free), these routines free nothing,
 *   write one line to stderr per call site naming the routine and the
 *   reason, and count it in the daemon's stats (nbugchecks).
 * - PreferredNode is strict on every machine, also one with one node: a node
 *   without a pool gives NULL (only MM_ANY_NODE_OK takes any node).
 * - IRQL does not exist; every routine may block for one round trip to the
 *   daemon (MmGetPhysicalAddress never does).
 * - The CPU mapping is write-back whatever the cache type; buffers of
 *   different cache types never share a hugepage.
 */
#ifndef CONTIG_WDM_H
#define CONTIG_WDM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CONTIG_WDM_EXPORT __attribute__((visibility("default")))
#else
#define CONTIG_WDM_EXPORT
#endif

typedef void VOID;
typedef void *PVOID;
typedef size_t SIZE_T;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef uint32_t DWORD;
typedef int64_t LONGLONG;
typedef unsigned int UINT;
typedef PVOID NDIS_HANDLE;

typedef union _LARGE_INTEGER {
	struct {
		DWORD LowPart;
		LONG HighPart;
	} u;
	LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

/* Read as an unsigned 64-bit value: a HighestAcceptableAddress of -1 (all
 * ones) means "no limit", as Windows drivers write it. */
typedef LARGE_INTEGER PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

typedef enum _MEMORY_CACHING_TYPE {
	MmNotMapped = -1,
	MmNonCached = 0,
	MmCached = 1,
	MmWriteCombined = 2,
	MmFrameBufferCached = 2,
	MmHardwareCoherentCached = 3,
	MmNonCachedUnordered = 4,
	MmUSWCCached = 5,
	MmMaximumCacheType = 6
} MEMORY_CACHING_TYPE;

typedef ULONG NODE_REQUIREMENT;
#define MM_ANY_NODE_OK 0x80000000u

/* Special-pool variants behave as their base priority. */
typedef enum _EX_POOL_PRIORITY {
	LowPoolPriority = 0,
	LowPoolPrioritySpecialPoolOverrun = 8,
	LowPoolPrioritySpecialPoolUnderrun = 9,
	NormalPoolPriority = 16,
	NormalPoolPrioritySpecialPoolOverrun = 24,
	NormalPoolPrioritySpecialPoolUnderrun = 25,
	HighPoolPriority = 32,
	HighPoolPrioritySpecialPoolOverrun = 40,
	HighPoolPrioritySpecialPoolUnderrun = 41
} EX_POOL_PRIORITY;

/* Cached, physically contiguous, in [0, HighestAcceptableAddress], on any
 * node. NULL if no range satisfies the request. */
CONTIG_WDM_EXPORT PVOID MmAllocateContiguousMemory(SIZE_T NumberOfBytes,
						    PHYSICAL_ADDRESS HighestAcceptableAddress);

/* Physically contiguous, inside [Lowest, Highest] (inclusive), never crossing
 * a multiple of BoundaryAddressMultiple (0 = no boundary; else a power of
 * two not smaller than NumberOfBytes), of CacheType, on any node; the start
 * is page aligned. NULL if no range satisfies every constraint or one is
 * malformed (size 0, bad boundary, unknown cache type). */
CONTIG_WDM_EXPORT PVOID MmAllocateContiguousMemorySpecifyCache(
	SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
	PHYSICAL_ADDRESS HighestAcceptableAddress, PHYSICAL_ADDRESS BoundaryAddressMultiple,
	MEMORY_CACHING_TYPE CacheType);

/* The same, on exactly PreferredNode (MM_ANY_NODE_OK: any node). */
CONTIG_WDM_EXPORT PVOID MmAllocateContiguousMemorySpecifyCacheNode(
	SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
	PHYSICAL_ADDRESS HighestAcceptableAddress, PHYSICAL_ADDRESS BoundaryAddressMultiple,
	MEMORY_CACHING_TYPE CacheType, NODE_REQUIREMENT PreferredNode);

/* Free what an MmAllocateContiguousMemory* routine returned. Any other
 * address (NULL, interior, already freed, from NdisAllocateMemory...) frees
 * nothing and is reported. */
CONTIG_WDM_EXPORT VOID MmFreeContiguousMemory(PVOID BaseAddress);

/* Free only if NumberOfBytes and CacheType are those of the allocation;
 * otherwise free nothing and report the mismatch. */
CONTIG_WDM_EXPORT VOID MmFreeContiguousMemorySpecifyCache(PVOID BaseAddress,
							  SIZE_T NumberOfBytes,
							  MEMORY_CACHING_TYPE CacheType);

/* Physical address of any byte inside a live buffer; 0 for any other
 * address. No round trip. */
CONTIG_WDM_EXPORT PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress);

/* A cached, physically contiguous block on any node, counted under Tag in
 * the daemon's stats. Low and normal priority fail while the pool is below
 * its watermarks (README.md, "Configuration"); high may take the last
 * frame. NdisHandle is not used. NULL on failure. */
CONTIG_WDM_EXPORT PVOID NdisAllocateMemoryWithTagPriority(NDIS_HANDLE NdisHandle, UINT Length,
							  ULONG Tag, EX_POOL_PRIORITY Priority);

/* Free what NdisAllocateMemoryWithTagPriority returned; MemoryFlags must be
 * 0 (Length is then ignored). Anything else frees nothing and is reported. */
CONTIG_WDM_EXPORT VOID NdisFreeMemory(PVOID VirtualAddress, UINT Length, UINT MemoryFlags);

/* contigd's own: the connection the routines above use (connecting now if
 * needed), for contig.h calls such as contig_get_stats(); NULL if the
 * daemon cannot be reached. Owned by the library. */
struct contig_client;
CONTIG_WDM_EXPORT struct contig_client *ContigWdmClient(void);

#ifdef __cplusplus
}
#endif

#endif
