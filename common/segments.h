/* segments.h - runs of physically adjacent frames ("segments"), their
 * length histogram, and that histogram as text. Pure C, shared by the
 * daemon (pools, reserve, log) and contigctl; unit-tested (test_select). */
#ifndef CONTIG_SEGMENTS_H
#define CONTIG_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

/* Segment-length histogram buckets: bucket i counts segments of 2^i to
 * 2^(i+1) - 1 frames; the last bucket takes every longer one. The public
 * client/contig.h repeats this value (it is installed alone);
 * client/wire.c includes both, so a difference does not compile quietly. */
#define CONTIG_SEGMENT_BUCKETS 20

/* The bucket of a segment of @nframes (>= 1) frames. */
unsigned contig_segment_bucket(uint64_t nframes);

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
