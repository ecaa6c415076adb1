/* priority.h - the priorities a request may carry, as both sides read them.
 *
 * DESIGN
 * An allocate request carries a Windows EX_POOL_PRIORITY value (the wire
 * field is a plain uint32). The daemon refuses a value above
 * CONTIG_PRIORITY_MAX and sorts the rest into three classes by the two
 * thresholds below: low (0..15) and normal (16..31) fail while a pool is
 * below their watermark, high (32..47; the special-pool variants 8/9,
 * 24/25, 40/41 behave as their base) may take the last frame.
 *
 * The values the public API offers (LOW, NORMAL, HIGH) are repeated in
 * client/contig.h, which is installed alone and so cannot include this
 * file; client/contig.c includes both, so the two cannot differ without a
 * macro-redefinition diagnostic (the tree builds warning-free).
 * Values only: no code, and never an include of a daemon/ or client/ header.
 */
#ifndef CONTIG_PRIORITY_H
#define CONTIG_PRIORITY_H

#define CONTIG_PRIORITY_LOW 0u
#define CONTIG_PRIORITY_NORMAL 16u
#define CONTIG_PRIORITY_HIGH 32u
/* The highest value a request may carry (HighPoolPrioritySpecialPoolUnderrun
 * is 41; 32..47 all mean high). */
#define CONTIG_PRIORITY_MAX 47u

#endif
