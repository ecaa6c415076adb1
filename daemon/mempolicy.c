/* mempolicy.c - NUMA placement: the calling thread's memory policy, and the
 * node a mapped page is on.
 *
 * DESIGN
 * The one file that speaks the kernel's memory policy interface (through
 * libnuma: set_mempolicy() via numa_set_membind()/numa_set_localalloc(),
 * and get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)). frames.c binds the
 * reserving thread strictly to a node before it faults a frame's hugepage
 * in (MPOL_BIND: no fallback, so a node without free pages fails with
 * ENOSPC) and asks afterwards where the page really is.
 *
 * A policy is per thread, which is why bind and unbind bracket a single
 * fault on the thread that does it. On a kernel or machine without NUMA
 * (numa_available() < 0) binding does nothing and every page is on node 0.
 *
 * Owns: nothing (no state). Never calls: memfds, pagemap, sysfs, or any
 * other contigd file; never logs.
 */
#include "mempolicy.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>

void contig_mempolicy_bind(int node)
{
	struct bitmask *mask;

	if (numa_available() < 0)
		return;
	mask = numa_allocate_nodemask();
	numa_bitmask_setbit(mask, (unsigned)node);
	numa_set_membind(mask);
	numa_bitmask_free(mask);
}

void contig_mempolicy_unbind(void)
{
	if (numa_available() >= 0)
		numa_set_localalloc();
}

int contig_mempolicy_node_of(void *virt)
{
	int node = -1;

	if (numa_available() < 0)
		return 0;
	if (get_mempolicy(&node, NULL, 0, virt, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -errno;
	return node;
}
