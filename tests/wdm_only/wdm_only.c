/* wdm_only.c - a driver's view of contigd: this file includes nothing from
 * the project but contig_wdm.h, links -lcontig, and must build with -Wall
 * -Wextra -Werror both as C11 (build/tests/wdm_only_c) and as C++17
 * (build/tests/wdm_only_cxx). Run against a daemon ($CONTIGD_SOCKET), it
 * allocates, writes, translates and frees with the Windows routines and
 * prints TAP; tests/conformance/test_header runs both builds.
 */
#include <stdio.h>
#include <string.h>

#include "contig_wdm.h"

#ifdef __cplusplus
#define LANG "cxx_"
#else
#define LANG "c_"
#endif

#define PAGE_LEN 4096u /* pagemap's unit on the machines contigd supports */

/* Written as a Windows driver writes 'wdmT' (first character high). */
#define WDM_TAG ((ULONG)'w' << 24 | (ULONG)'d' << 16 | (ULONG)'m' << 8 | (ULONG)'T')

static int ntests, nfailed;

static int tap(int cond, const char *name)
{
	printf("%sok %d - " LANG "%s\n", cond ? "" : "not ", ++ntests, name);
	if (!cond)
		nfailed++;
	return cond;
}

/* The physical address of @virt according to /proc/self/pagemap (with stdio
 * only), or 0 when the kernel does not show frame numbers (not root). */
static unsigned long long pagemap_phys(const void *virt)
{
	unsigned long long entry = 0, v = (unsigned long long)(size_t)virt;
	FILE *f = fopen("/proc/self/pagemap", "rb");

	if (!f)
		return 0;
	setvbuf(f, NULL, _IONBF, 0);
	if (fseek(f, (long)(v / PAGE_LEN * 8), SEEK_SET) != 0 || fread(&entry, 8, 1, f) != 1)
		entry = 0;
	fclose(f);
	if (!(entry >> 63))
		return 0;
	entry &= (1ull << 55) - 1;
	return entry ? entry * PAGE_LEN + v % PAGE_LEN : 0;
}

/* Every byte of @p takes @fill and gives it back. */
static int writable(unsigned char *p, size_t len, unsigned char fill)
{
	memset(p, fill, len);
	for (size_t i = 0; i < len; i++)
		if (p[i] != fill)
			return 0;
	return 1;
}

static void mm_routines(void)
{
	PHYSICAL_ADDRESS lowest, highest, boundary, phys;
	const SIZE_T len = 3 * PAGE_LEN + 100;
	unsigned long long pm;
	unsigned char *p;

	lowest.QuadPart = 0;
	highest.QuadPart = -1; /* no limit, as Windows drivers write it */
	boundary.QuadPart = 0;
	p = (unsigned char *)MmAllocateContiguousMemorySpecifyCache(len, lowest, highest, boundary,
								    MmCached);
	if (!tap(p != NULL, "specifycache_with_highest_minus_1_allocates")) {
		printf("# NULL: is contigd running at $CONTIGD_SOCKET, with a free frame?\n");
		return;
	}
	tap(writable(p, len, 0x5a), "specifycache_buffer_is_writable");
	phys = MmGetPhysicalAddress(p);
	printf("# MmAllocateContiguousMemorySpecifyCache: %p, physical 0x%llx\n", (void *)p,
	       (unsigned long long)phys.QuadPart);
	tap(phys.QuadPart != 0 && phys.QuadPart % PAGE_LEN == 0,
	    "getphysicaladdress_of_the_base_is_page_aligned");
	tap(MmGetPhysicalAddress(p + len - 1).QuadPart == phys.QuadPart + (LONGLONG)len - 1,
	    "getphysicaladdress_of_the_last_byte_is_base_plus_offset");
	pm = pagemap_phys(p + PAGE_LEN + 7);
	if (pm == 0)
		printf("ok %d - " LANG "getphysicaladdress_agrees_with_pagemap # SKIP pagemap shows "
		       "no frame numbers here\n",
		       ++ntests);
	else
		tap(pm == (unsigned long long)phys.QuadPart + PAGE_LEN + 7,
		    "getphysicaladdress_agrees_with_pagemap");
	MmFreeContiguousMemory(p);
	tap(MmGetPhysicalAddress(p).QuadPart == 0, "freecontiguousmemory_frees_the_buffer");
}

static void ndis_routines(void)
{
	const UINT len = 2000;
	PHYSICAL_ADDRESS phys;
	unsigned char *p;

	p = (unsigned char *)NdisAllocateMemoryWithTagPriority(NULL, len, WDM_TAG,
							       NormalPoolPriority);
	if (!tap(p != NULL, "ndisallocatememorywithtagpriority_allocates"))
		return;
	tap(writable(p, len, 0xa5), "ndis_block_is_writable");
	phys = MmGetPhysicalAddress(p);
	printf("# NdisAllocateMemoryWithTagPriority: %p, physical 0x%llx\n", (void *)p,
	       (unsigned long long)phys.QuadPart);
	tap(phys.QuadPart != 0, "getphysicaladdress_of_an_ndis_block_answers");
	NdisFreeMemory(p, len, 0);
	tap(MmGetPhysicalAddress(p).QuadPart == 0, "ndisfreememory_frees_the_block");
}

int main(void)
{
	mm_routines();
	ndis_routines();
	printf("1..%d\n", ntests);
	return nfailed ? 1 : 0;
}
