/* poolspec.h - one pool as the configuration and --pool name it:
 * "NODE:PAGESIZE:SIZE[,OPTION=VALUE...]" (see poolspec.c). Pure C.
 */
#ifndef CONTIG_POOLSPEC_H
#define CONTIG_POOLSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The highest NUMA node a pool may name. */
#define CONTIG_POOL_MAX_NODE 1023

/* A pool spec's node meaning "this much on every node that has memory"
 * ("all:2M:64M"): kept as written in the configuration (printed back as
 * "all"), and expanded by contig_config_expand_all() at startup. */
#define CONTIG_POOL_ALL_NODES (-1)

struct contig_pool_spec {
	int node; /* 0..CONTIG_POOL_MAX_NODE, or CONTIG_POOL_ALL_NODES */
	uint64_t page_len;
	uint64_t len;
	/* How its frames are reserved (daemon/reserve.c); options after the
	 * size, ",key=value" each. Zero is the default of each. */
	bool reserve_sorted;      /* reserve=sorted: what the kernel gives, sorted */
	uint32_t candidates_x;    /* candidates=Nx: try up to N times the pool (0: 8) */
	uint64_t candidates_len;  /* candidates=SIZE: that many bytes instead (0: by _x) */
	uint64_t min_segment_len; /* min_segment=SIZE: a largest segment shorter fails */
	bool min_segment_warn;    /* short=warn: ... only warns */
	uint64_t below;           /* below=ADDR: every frame wholly below this physical
				     address (a multiple of page_len; 0: anywhere) */
	bool when_memory_above;   /* when=memory_above: no pool where the node has no
				     memory at or above @below */
};

/* candidates=Nx when none is given, and the most N may be. */
#define CONTIG_POOL_CANDIDATES_X 8
#define CONTIG_POOL_CANDIDATES_X_MAX 64

/* The most frames @spec's reservation of @nframes new frames of @page_len
 * tries: @nframes with reserve=sorted, else candidates=SIZE in frames, or
 * candidates=Nx times @nframes (which differs from the configured size
 * when frames were adopted, or a 1 GiB pool's fallback joined the pool). */
uint64_t contig_pool_spec_candidates(const struct contig_pool_spec *spec, uint64_t nframes,
				     uint64_t page_len);

/* Parse "NODE:PAGESIZE:SIZE[,OPTION=VALUE...]" (e.g. "0:2M:64M",
 * "all:2M:256M,min_segment=128M"; NODE "all" gives CONTIG_POOL_ALL_NODES;
 * options: reserve=longest|sorted, candidates=Nx|SIZE, min_segment=SIZE,
 * short=error|warn, below=ADDR, when=memory_above). Returns 0 and fills
 * *ret_spec, or -EINVAL with a reason written to @err (if not NULL). */
int contig_config_parse_pool(const char *text, struct contig_pool_spec *ret_spec,
			     char *err, size_t errlen);

/* Write @spec in the syntax contig_config_parse_pool() reads
 * ("0:2M:64M,below=4G"): the options that are not the defaults only. */
void contig_pool_spec_print(const struct contig_pool_spec *spec, FILE *out);

#endif
