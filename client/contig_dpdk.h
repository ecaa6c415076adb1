/* contig_dpdk.h - contigd buffers as DPDK memory (libcontig_dpdk).
 *
 * A DPDK application that runs without hugepages of its own (EAL options
 * --no-huge -m 16 --no-shconf, or --in-memory with an empty --huge-dir) can
 * still put its mbuf pools, rings and memzones in physically contiguous
 * memory: allocate a contigd buffer and add it to DPDK's malloc heap under a
 * name of its own, with the buffer's physical addresses as the IOVA table.
 * Everything DPDK then allocates on that heap's socket id
 * (rte_pktmbuf_pool_create(..., socket), rte_ring_create(), rte_memzone_
 * reserve(), rte_eth_rx_queue_setup(), rte_zmalloc_socket()) lives in the
 * buffer, and its IOVA (rte_mbuf_data_iova(), mz->iova) is the physical
 * address, in every IOVA mode. The other way in is an mbuf pool whose data
 * rooms are in contigd buffers registered as external memory
 * (contig_dpdk_extbuf_pool_create()).
 *
 * Build with `pkg-config --cflags --libs libdpdk` and -lcontig_dpdk -lcontig;
 * the extbuf pool uses an API DPDK 22.11 marks experimental, so this library
 * is compiled with ALLOW_EXPERIMENTAL_API.
 * Every function is to be called after rte_eal_init(), from one thread at a
 * time (as DPDK's own heap functions). Errors are negative errno values with
 * rte_errno set to the same (positive) value (rte_strerror() names it); when
 * it was libcontig's call that failed, contig_last_message() has the
 * daemon's reason.
 *
 * Gotchas (README.md, "Using contigd from DPDK"):
 *  - Adding memory to a heap zeroes all of it.
 *  - A heap needs page-aligned memory: the buffer's virtual address and
 *    length must be multiples of its page size (2 MiB), or at least of
 *    4 KiB, which this library then tells DPDK is the page size.
 *    contig_dpdk_heap_alloc() asks for such a buffer.
 *  - Under --no-huge DPDK neither checks nor needs the IOVA contiguity of
 *    its own memory; RTE_MEMZONE_IOVA_CONTIG on a contigd heap is right
 *    because contigd's buffers are physically contiguous.
 *  - Debian's DPDK runs IOVA-as-VA under --no-huge, so rte_mem_virt2iova()
 *    of DPDK's own (non-contigd) memory returns the virtual address, while
 *    rte_mbuf_data_iova() and memzone IOVAs on a contigd heap are physical.
 *  - DPDK allows at most 32 heaps, and 128 memory segment lists in all.
 */
#ifndef CONTIG_DPDK_H
#define CONTIG_DPDK_H

#include <stddef.h>
#include <stdint.h>

#include <rte_mempool.h>

#include "contig.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Add the live buffer @buf of @client (as contig_alloc() returned it) to
 * the DPDK malloc heap @heap_name (at most 31 bytes),
 * creating the heap if there is none of that name, with one IOVA per page:
 * the buffer's physical addresses. Zeroes the buffer. Returns the heap's
 * socket id (>= 0) to pass to DPDK's *_socket() calls; -ENOENT (@buf is not
 * a live buffer of @client), -EINVAL (not page-aligned; a bad name), or
 * what DPDK returns (-ENOSPC: 32 heaps or 128 segment lists in use,
 * -EEXIST: some of that memory is DPDK's already, in a heap or registered
 * as external memory: DPDK itself would take it twice). */
int contig_dpdk_heap_attach(struct contig_client *client, const char *heap_name,
			    const struct contig_buffer *buf);

/* Allocate a buffer satisfying @req, its length rounded up to a multiple
 * of 2 MiB and its physical start aligned to 2 MiB (at least: a larger
 * @req->align is kept), and attach it as contig_dpdk_heap_attach() does. Returns the
 * socket id and *ret_buf, or -errno (as contig_alloc() and
 * contig_dpdk_heap_attach(); nothing stays allocated on failure). */
int contig_dpdk_heap_alloc(struct contig_client *client, const char *heap_name,
			   const struct contig_alloc_req *req, struct contig_buffer *ret_buf);

/* Take @buf out of the heap @heap_name, and destroy the heap if that was
 * its last memory. Everything DPDK allocated in the buffer must have been
 * freed first (mempools, rings, memzones, stopped and closed ports):
 * -EBUSY otherwise, and nothing changes. Does not free the buffer. Returns
 * 0, -ENOENT (no such heap, or @buf is not in it), or -errno. */
int contig_dpdk_heap_detach(const char *heap_name, const struct contig_buffer *buf);

/* contig_dpdk_heap_detach(), then contig_free() of @buf. Returns 0 or the
 * first error (the buffer stays allocated if the detach failed). */
int contig_dpdk_heap_free(struct contig_client *client, const char *heap_name,
			  const struct contig_buffer *buf);

/* An mbuf pool of @n mbufs (rte_pktmbuf_pool_create_extbuf()) whose data
 * rooms (@data_room_size bytes each, headroom included) are carved out of
 * the @nbufs live buffers @bufs of @client, which are first registered with
 * rte_extmem_register() with their physical addresses as IOVAs; the mbuf
 * headers themselves go on @socket_id (a contigd heap's, for headers in
 * contigd memory too). Returns the pool, or NULL with rte_errno set
 * (ENOENT: a buffer is not live; EINVAL: the buffers hold fewer than @n data
 * rooms, or one is not 4 KiB-aligned; or DPDK's). */
struct rte_mempool *contig_dpdk_extbuf_pool_create(struct contig_client *client, const char *name,
						   unsigned n, unsigned cache_size,
						   uint16_t priv_size, uint16_t data_room_size,
						   int socket_id, const struct contig_buffer *bufs,
						   unsigned nbufs);

/* Free @mp (from contig_dpdk_extbuf_pool_create() with the same @bufs)
 * and unregister the buffers; every mbuf must be back in the pool. The
 * buffers stay allocated. Accepts NULL. Returns 0 or -errno (the first
 * unregister that failed). */
int contig_dpdk_extbuf_pool_free(struct rte_mempool *mp, const struct contig_buffer *bufs,
				 unsigned nbufs);

#ifdef __cplusplus
}
#endif

#endif
