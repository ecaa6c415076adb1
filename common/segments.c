/* segments.c - see segments.h.
 *
 * DESIGN
 * How contigd describes the physical layout of a set of frames: runs of
 * physically adjacent frames ("segments"), counted in power-of-two
 * buckets of length, and that histogram as one line of text. The daemon
 * logs it at startup and sends it in stats replies (a repeated count per
 * bucket); contigctl prints the reply with the same function, so the log
 * and the tool always read alike.
 *
 * Pure C (libc's qsort and snprintf only): no syscalls, no daemon or
 * client state. Must never include a daemon/ or client/ header.
 */
#include "segments.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

unsigned contig_segment_bucket(uint64_t nframes)
{
	unsigned b = 0;

	while (nframes > 1 && b < CONTIG_SEGMENT_BUCKETS - 1) {
		nframes >>= 1;
		b++;
	}
	return b;
}

uint64_t contig_segments_histogram(uint64_t *phys, size_t n, uint64_t page_len,
				   uint32_t hist[CONTIG_SEGMENT_BUCKETS])
{
	uint64_t run = 0, longest = 0;

	qsort(phys, n, sizeof(*phys), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && phys[i] != phys[i - 1] + page_len) {
			hist[contig_segment_bucket(run)]++;
			run = 0;
		}
		run++;
		if (run > longest)
			longest = run;
	}
	if (run)
		hist[contig_segment_bucket(run)]++;
	return longest;
}

void contig_segments_format(const uint32_t hist[CONTIG_SEGMENT_BUCKETS], char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	snprintf(buf, len, "none");
	for (unsigned b = 0; b < CONTIG_SEGMENT_BUCKETS && used + 1 < len; b++) {
		uint64_t lo = UINT64_C(1) << b, hi = (lo << 1) - 1;
		const char *sep = used ? ", " : "";
		int n;

		if (!hist[b])
			continue;
		if (b == CONTIG_SEGMENT_BUCKETS - 1)
			n = snprintf(buf + used, len - used, "%s%" PRIu64 "+ x%" PRIu32, sep, lo,
				     hist[b]);
		else if (lo == hi)
			n = snprintf(buf + used, len - used, "%s%" PRIu64 " x%" PRIu32, sep, lo,
				     hist[b]);
		else
			n = snprintf(buf + used, len - used, "%s%" PRIu64 "-%" PRIu64 " x%" PRIu32,
				     sep, lo, hi, hist[b]);
		if (n < 0 || (size_t)n >= len - used)
			break; /* cut */
		used += (size_t)n;
	}
}
