/* select.h - which candidate frames a pool keeps, and how its segments
 * are distributed. Pure C: no syscalls, no libuv; unit-tested. */
#ifndef CONTIG_SELECT_H
#define CONTIG_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Segment-length histogram buckets: bucket i counts segments of 2^i to
 * 2^(i+1) - 1 frames; the last bucket takes every longer one. */
#define CONTIG_SEGMENT_BUCKETS 20

/* The bucket of a segment of @nframes (>= 1) frames. */
unsigned contig_segment_bucket(uint64_t nframes);

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

/* The runs of physically adjacent frames among the @n frames at @phys
 * (any order; sorted in place): the histogram of their lengths is added
 * into @hist (see CONTIG_SEGMENT_BUCKETS). Returns the longest run, in
 * frames (0 for no frames). */
uint64_t contig_segments_histogram(uint64_t *phys, size_t n, uint64_t page_len,
				   uint32_t hist[CONTIG_SEGMENT_BUCKETS]);

/* "1 x6, 2-3 x14, 128+ x1": the segments of @hist by length in frames
 * (empty buckets left out; "none" if all are) into @buf (@len bytes,
 * cut if too short). Shared by the daemon's log and contigctl. */
void contig_segments_format(const uint32_t hist[CONTIG_SEGMENT_BUCKETS], char *buf, size_t len);

#endif
