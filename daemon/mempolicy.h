/* mempolicy.h - NUMA placement of the calling thread's allocations, and the
 * node of a mapped page (mempolicy.c, through libnuma). Used by frames.c. */
#ifndef CONTIG_MEMPOLICY_H
#define CONTIG_MEMPOLICY_H

/* Bind the calling thread's allocations strictly to @node (MPOL_BIND, no
 * fallback); nothing without NUMA. Undo with contig_mempolicy_unbind(). */
void contig_mempolicy_bind(int node);

/* Back to local allocation for the calling thread. */
void contig_mempolicy_unbind(void);

/* The node of the page mapped at @virt (faulted in): >= 0, 0 without NUMA,
 * or -errno. Any thread. */
int contig_mempolicy_node_of(void *virt);

#endif
