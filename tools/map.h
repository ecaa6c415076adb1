/* map.h - contigctl map: a picture of each pool's physical memory, one
 * cell per frame by state and owner, as terminal text (plain ASCII or ANSI
 * colour), as SVG, or as JSON.
 *
 * Single-threaded; a struct map owns what map_init() allocated until
 * map_done().
 */
#ifndef CONTIG_MAP_H
#define CONTIG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "contig.h"
#include "json.h"

/* Owners get letters A-Z, a-z, 0-9 in order of their first frame; the
 * rest share '+'. Owned frames whose owner the caller may not see: '#'. */
#define MAP_MAX_LETTERS 62

struct map_owner {
	int pid;           /* 0: owners the caller may not see */
	char comm[16];     /* "?" when stats did not name it */
	char letter;
	uint32_t nframes;
	uint64_t len;      /* bytes of its frames */
};

/* What the map adds to the pool totals of contig_stats. */
struct map_pool_summary {
	uint32_t nframes, nfree, nowned, nrecycling, nlost;
	uint32_t nfree_runs; /* runs of physically adjacent free frames */
	uint32_t nruns;      /* runs of physically adjacent frames of any state */
};

struct map {
	const struct contig_stats *stats;
	struct contig_frame_info *frames; /* by pool, then physical address */
	size_t nframes;
	struct map_owner *owners;         /* in order of first frame */
	size_t nowners;
	struct map_pool_summary summary[16]; /* per contig_stats.pools */
	unsigned width;                   /* cells (frames and gaps) per row */
	/* Each pool's window (contig_get_pool_windows()), per contig_stats.pools;
	 * NULL (as map_init() leaves it) or fewer: not shown. The caller owns it. */
	const struct contig_pool_window *windows;
	size_t nwindows;
};

/* Build the map of @frames (@n of them, sorted here in place; @m keeps
 * them but does not free them) over the pools of @stats, owners named from
 * stats->sessions. @width cells per row (4..1024). Returns 0 or -ENOMEM. */
int map_init(struct map *m, const struct contig_stats *stats, struct contig_frame_info *frames,
	     size_t n, unsigned width);
void map_done(struct map *m);

/* The owner record of @frame (NULL unless it is owned). */
const struct map_owner *map_owner_of(const struct map *m, const struct contig_frame_info *frame);

/* Pools whose index is @pool (-1: every pool), as rows of characters, each
 * starting with the physical address of its first frame; with @colour,
 * ANSI colours too. Then the legend. */
void map_print_text(const struct map *m, int pool, FILE *out, bool colour);

/* The same picture as an SVG document: one rect per frame (class "frame"
 * and its state), coloured by owner. */
void map_print_svg(const struct map *m, int pool, FILE *out);

/* The same as JSON: pools with their frames, and the owners. */
void map_print_json(const struct map *m, int pool, struct json *j);

/* "cached", "writecombined", ... for a MEMORY_CACHING_TYPE value; "?" else. */
const char *map_cache_name(int cache_type);

/* "free", "owned", "recycling", "lost". */
const char *map_status_name(int status);

/* A tag as four characters, as written in C ('Tag1': '1' in the low
 * byte); unprintable bytes as '.'. @ret_name has 5 bytes. */
void map_tag_name(uint32_t tag, char *ret_name);

/* The end of pool @pool's window (one past its highest byte), or 0 when
 * it has none or @windows does not say. */
uint64_t map_window_end(const struct contig_pool_window *windows, size_t nwindows, uint32_t pool);

/* @len as "2M", "1G", "12K" into @ret_text (MAP_SIZE_TEXT bytes). */
#define MAP_SIZE_TEXT 24
void map_size_text(uint64_t len, char *ret_text);

#endif
