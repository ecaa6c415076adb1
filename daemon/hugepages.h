/* hugepages.h - the kernel's hugepage pools (hugepages.c): sizes, per-node
 * counts through sysfs, compaction. Called by main.c and reserve.c at
 * startup; any thread (no state). Errors are -errno, nothing here logs. */
#ifndef CONTIG_HUGEPAGES_H
#define CONTIG_HUGEPAGES_H

#include <stddef.h>
#include <stdint.h>

/* Page sizes the kernel offers for hugetlbfs, ascending (libhugetlbfs).
 * Returns how many were stored in @ret_lens (at most @max). */
int contig_hugepages_sizes(uint64_t *ret_lens, int max);

/* Make at least @nframes hugepages of @page_len free on @node, raising that
 * node's nr_hugepages when we may. *ret_added tells how many pages were
 * added to the kernel's pool (to give back with contig_hugepages_shrink()).
 * Returns 0, -ENOMEM (the kernel could not provide them) or -EACCES (we may
 * not ask), with the reason and the exact fix in @err. */
int contig_hugepages_ensure(int node, uint64_t page_len, uint64_t nframes, uint64_t *ret_added,
			    char *err, size_t errlen);

/* Best effort: raise @node's nr_hugepages so that up to @want pages of
 * @page_len are free, as far as the kernel can. *ret_added: pages added to
 * the kernel's pool (give them back with contig_hugepages_shrink());
 * *ret_free: free pages now. Returns 0 (also when the kernel could add
 * fewer, or none), -EACCES/-EPERM/-EROFS (we may not write the count:
 * nothing added), or -errno if the counts cannot be read. */
int contig_hugepages_grow(int node, uint64_t page_len, uint64_t want, uint64_t *ret_added,
			  uint64_t *ret_free);

/* Lower @node's nr_hugepages by @npages (pages this process added). */
int contig_hugepages_shrink(int node, uint64_t page_len, uint64_t npages);

/* Ask the kernel to compact @node's memory (its sysfs "compact", else
 * /proc/sys/vm/compact_memory: all nodes), so that more free hugepages
 * can be made, and more of them adjacent. Synchronous. Returns 0 or
 * -errno (-EACCES: not root). */
int contig_hugepages_compact(int node);

#endif
