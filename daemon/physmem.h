/* physmem.h - a node's physical memory as the kernel describes it: where
 * it lies, and how much of it is free, by zone.
 *
 * What reserving a pool below an address (below=) needs to know before it
 * asks the kernel for hugepages: whether the node has memory above the
 * window at all, and how many pages the kernel made inside it. Read-only;
 * nothing here changes the machine. Main thread, at startup.
 */
#ifndef CONTIG_PHYSMEM_H
#define CONTIG_PHYSMEM_H

#include <stdint.h>

/* Has @node memory at or above physical address @phys? From the node's
 * memory blocks in sysfs, else (a kernel without memory hotplug or NUMA
 * in sysfs) from the System RAM ranges of /proc/iomem, which are then the
 * whole machine's. Returns 1, 0, or -errno if it cannot tell (-EPERM:
 * /proc/iomem shows addresses to root only). */
int contig_physmem_has_above(int node, uint64_t phys);

/* Bytes free now in @node's zones that begin below @phys (/proc/zoneinfo):
 * the zones the kernel can take pages below @phys from. Comparing it before
 * and after raising nr_hugepages tells how many hugepages were made there.
 * Returns 0 and *ret_len, or -errno (-ENOENT: no such node). */
int contig_physmem_zone_free_below(int node, uint64_t phys, uint64_t *ret_len);

/* Free bytes on @node (its MemFree, or the machine's without NUMA in sysfs).
 * Returns 0 and *ret_len, or -errno. */
int contig_physmem_node_free(int node, uint64_t *ret_len);

#endif
