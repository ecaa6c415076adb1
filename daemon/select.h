/* select.h - which candidate frames a pool keeps. Pure C: no syscalls, no
 * libuv; unit-tested. (The segment histogram and its text, which contigctl
 * shares, are in common/segments.h.) */
#ifndef CONTIG_SELECT_H
#define CONTIG_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Choose @nkeep of the @n candidate frames whose pages (each @page_len
 * bytes, a power of two; distinct, aligned, in any order) start at
 * @phys[0..n), so that the kept frames form segments as long as possible:
 * whole runs of physically adjacent candidates, longest first; of the last
 * run needed, only the part that is needed, placed where its physical
 * start is most aligned (so that buffers with boundary or alignment
 * constraints find room). The largest segment of the result is therefore
 * the longest run among the candidates, or all @nkeep frames. Sets
 * @ret_keep[i] for each kept candidate. Returns how many were kept
 * (min(@nkeep, @n)), or -ENOMEM. */
int contig_select_frames(const uint64_t *phys, size_t n, uint64_t page_len, size_t nkeep,
			 bool *ret_keep);

#endif
