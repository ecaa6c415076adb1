/* contigctl - look at contigd and try allocations by hand, through libcontig.
 *
 *   contigctl [--socket PATH] status  [--json]
 *   contigctl [--socket PATH] clients [--json]
 *   contigctl [--socket PATH] tags    [--json]
 *   contigctl [--socket PATH] buffers [--json]
 *   contigctl [--socket PATH] map     [--json | --svg FILE] [--pool N] [--width N]
 *                                     [--color auto|always|never]
 *   contigctl [--socket PATH] metrics [--top N] [--openmetrics] [--output FILE]
 *   contigctl [--socket PATH] cdi     [--output FILE] [--container-path PATH] [--offline]
 *   contigctl [--socket PATH] alloc SIZE [--lowest A] [--highest A] [--boundary B]
 *             [--align A] [--node N|any] [--cache TYPE] [--tag ABCD]
 *             [--priority low|normal|high] [--hold]
 *
 * DESIGN
 * Every command is one look at the daemon through libcontig's public API
 * (contig_get_stats(), contig_list_buffers(), contig_list_frames()) and
 * prints it as a table, or with --json as one JSON document (json.c) for
 * jq. What the daemon shows depends on who asks (DESIGN.md): root sees
 * every client, its buffers, tags and frames' owners; anyone else the
 * pools' totals, the free frames' states and what its own connection
 * holds, which for contigctl itself is nothing: every frame not its own
 * comes without its physical address, and is left out of the map with a
 * note counting them by state.
 * map draws the frames (map.c). A process name is whatever its client
 * chose (prctl(PR_SET_NAME)): the text output shows it escaped (escape.c),
 * the JSON escapes every control character (json.c), the SVG replaces them.
 *
 * metrics prints the same look for Prometheus (metrics.c); cdi writes a
 * Container Device Interface spec that hands containers the socket
 * (cdi.c).
 *
 * alloc prints the buffer's physical address (and the rest of what the
 * daemon said), then frees it, or with --hold keeps it until stdin closes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "contig.h"
#include "cdi.h"
#include "contig_version.h" /* made by the Makefile from VERSION */
#include "escape.h"         /* a client's process name, shown as text */
#include "fdpass.h"         /* CONTIG_PROTOCOL_VERSION */
#include "json.h"
#include "map.h"
#include "metrics.h"
#include "segments.h" /* contig_segments_format(), as the daemon logs it */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: contigctl --version | --help\n"
		"       contigctl [--socket PATH] status  [--json]\n"
		"       contigctl [--socket PATH] clients [--json]\n"
		"       contigctl [--socket PATH] tags    [--json]\n"
		"       contigctl [--socket PATH] buffers [--json]\n"
		"       contigctl [--socket PATH] map     [--json | --svg FILE] [--pool N]\n"
		"                 [--width N] [--color auto|always|never]\n"
		"       contigctl [--socket PATH] metrics [--top N] [--openmetrics] [--output FILE]\n"
		"       contigctl [--socket PATH] cdi     [--output FILE] [--container-path PATH]\n"
		"                 [--offline]\n"
		"       contigctl [--socket PATH] alloc SIZE [--lowest ADDR] [--highest ADDR]\n"
		"                 [--boundary BYTES] [--align BYTES] [--node N|any]\n"
		"                 [--cache TYPE] [--tag ABCD] [--priority low|normal|high]\n"
		"                 [--hold]\n"
		"status: pools (total, free, largest buffer, fragmentation). clients: who holds\n"
		"what. tags: bytes and buffers per pool tag (poolmon). buffers: every live\n"
		"buffer. map: every frame by state and owner (as root; others see their own\n"
		"frames only, and how many others are in each state). metrics: all of it in\n"
		"Prometheus' text format (--output: written atomically, for node_exporter's\n"
		"textfile collector). cdi: a CDI spec giving containers the daemon's socket.\n"
		"SIZE and addresses take K/M/G suffixes or 0x hex. TYPE: noncached, cached,\n"
		"writecombined, hwcoherent, noncachedunordered, uswc, or 0..5.\n"
		"The socket is PATH, else $CONTIGD_SOCKET, else %s.\n",
		CONTIG_DEFAULT_SOCKET_PATH);
}

static int parse_u64(const char *text, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *text == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

/* A whole decimal number from 0 to INT_MAX, nothing after it. */
static int parse_int(const char *text, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 0 || v > INT_MAX)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int parse_cache(const char *text, int *ret)
{
	for (int i = CONTIG_NON_CACHED; i <= CONTIG_USWC_CACHED; i++)
		if (strcasecmp(text, map_cache_name(i)) == 0) {
			*ret = i;
			return 0;
		}
	return parse_int(text, ret); /* a number: the daemon judges it */
}


/* Options of the looking commands. */
struct look_opts {
	bool json;
	const char *svg;  /* map --svg FILE */
	int pool;         /* map --pool; -1: all */
	unsigned width;   /* map --width */
	int colour;       /* -1 auto, 0 never, 1 always */
};

/* Parse the options of command @argv[0]; returns 0, or 2 (usage error). */
static int parse_look(int argc, char **argv, bool is_map, struct look_opts *ret)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "pool", required_argument, NULL, 'p' },
		{ "width", required_argument, NULL, 'w' },
		{ "color", required_argument, NULL, 'c' },
		{ "colour", required_argument, NULL, 'c' },
		{ 0 },
	};
	struct look_opts o = { .pool = -1, .width = 64, .colour = -1 };
	uint64_t v;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'j') {
			o.json = true;
			continue;
		}
		if (!is_map || opt == '?')
			return 2;
		switch (opt) {
		case 's':
			o.svg = optarg;
			break;
		case 'p':
			if (parse_u64(optarg, &v) < 0 || v > 1024)
				return 2;
			o.pool = (int)v;
			break;
		case 'w':
			if (parse_u64(optarg, &v) < 0 || v < 4 || v > 1024)
				return 2;
			o.width = (unsigned)v;
			break;
		case 'c':
			if (strcmp(optarg, "auto") == 0)
				o.colour = -1;
			else if (strcmp(optarg, "always") == 0)
				o.colour = 1;
			else if (strcmp(optarg, "never") == 0)
				o.colour = 0;
			else
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (optind < argc || (o.json && o.svg))
		return 2;
	*ret = o;
	return 0;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "contigctl: %s: %s (%s)\n", what,
		*contig_last_message() ? contig_last_message() : "failed", strerror(-r));
	return 1;
}

/* The pools' totals and the visible sessions; a static buffer (it is large). */
static const struct contig_stats *get_stats(struct contig_client *c)
{
	static struct contig_stats st;

	return contig_get_stats(c, &st) < 0 ? NULL : &st;
}

/* Frames left out of get_frames() because the daemon hid where they are,
 * by status (enum contig_frame_status). */
static size_t hidden_frames, hidden_status[4];

/* The frames of the pools in @st (frames of pools beyond what contig_stats
 * holds, and other clients' frames the daemon hides, are left out).
 * Returns 0 or -errno. */
static int get_frames(struct contig_client *c, const struct contig_stats *st,
		      struct contig_frame_info **ret_frames, size_t *ret_n)
{
	struct contig_frame_info *frames;
	size_t n, kept = 0;
	int r = contig_list_frames(c, &frames, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (frames[i].pool >= st->npools)
			continue;
		if (frames[i].phys == 0) { /* not ours: whereabouts hidden */
			hidden_frames++;
			hidden_status[frames[i].status & 3]++;
			continue;
		}
		frames[kept++] = frames[i];
	}
	*ret_frames = frames;
	*ret_n = kept;
	return 0;
}

/* For callers other than root: say what get_frames() left out. */
static void note_hidden(FILE *out)
{
	if (hidden_frames)
		fprintf(out, "(%zu frames not shown, their physical addresses are for root only: "
			     "%zu free, %zu owned by other clients, %zu recycling, %zu lost)\n",
			hidden_frames, hidden_status[CONTIG_FRAME_STATUS_FREE],
			hidden_status[CONTIG_FRAME_STATUS_OWNED],
			hidden_status[CONTIG_FRAME_STATUS_RECYCLING],
			hidden_status[CONTIG_FRAME_STATUS_LOST]);
}

static const char *comm_of(const struct contig_stats *st, int pid)
{
	for (uint32_t i = 0; i < st->nsessions_listed; i++)
		if (st->sessions[i].pid == pid)
			return st->sessions[i].comm;
	return "?";
}

/* 1 - largest free run / free: 0 when all free memory is one run (or none). */
static double fragmentation(const struct contig_pool_stats *p)
{
	return p->free_len ? 1.0 - (double)p->largest_free_len / (double)p->free_len : 0.0;
}

/* ---- status ---- */

static int cmd_status(struct contig_client *c, const struct look_opts *o)
{
	const struct contig_stats *st = get_stats(c);
	struct contig_frame_info *frames = NULL;
	struct contig_pool_segments segs[16];
	struct contig_pool_window windows[16];
	size_t nframes = 0, nsegs = 0, nwindows = 0;
	struct map m;
	bool have_map;
	int r;

	if (!st)
		return fail("status", -EIO);
	if (contig_get_segments(c, segs, sizeof(segs) / sizeof(segs[0]), &nsegs) < 0)
		nsegs = 0;
	if (contig_get_pool_windows(c, windows, sizeof(windows) / sizeof(windows[0]), &nwindows) < 0)
		nwindows = 0;
	/* Free runs and lost frames come from the frame list (a newer daemon's),
	 * complete for root only: others are not shown where free frames are. */
	have_map = get_frames(c, st, &frames, &nframes) == 0 && hidden_frames == 0;
	r = map_init(&m, st, frames, nframes, 64);
	if (r < 0) {
		free(frames);
		return fail("status", r);
	}
	if (o->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_array_begin(&j, "pools");
		for (uint32_t i = 0; i < st->npools; i++) {
			const struct contig_pool_stats *p = &st->pools[i];

			json_object_begin(&j, NULL);
			json_u64(&j, "pool", i);
			json_i64(&j, "node", p->node);
			json_u64(&j, "page_len", p->page_len);
			json_u64(&j, "total_len", p->total_len);
			json_u64(&j, "free_len", p->free_len);
			json_u64(&j, "largest_free_len", p->largest_free_len);
			json_fixed(&j, "fragmentation", fragmentation(p));
			if (have_map) {
				json_u64(&j, "nfree_runs", m.summary[i].nfree_runs);
				json_u64(&j, "nframes_lost", m.summary[i].nlost);
			}
			json_u64(&j, "nframes", p->nframes);
			json_u64(&j, "nframes_owned", p->nframes_owned);
			json_u64(&j, "nframes_recycling", p->nframes_recycling);
			json_u64(&j, "nsegments", p->nsegments);
			json_u64(&j, "largest_segment_len", p->largest_segment_len);
			json_u64(&j, "nbuffers", p->nbuffers);
			json_u64(&j, "nclients", p->nclients);
			if (i < nsegs && segs[i].known) {
				/* [count of 1 frame, of 2-3, of 4-7, ...] */
				json_array_begin(&j, "segment_hist");
				for (unsigned b = 0; b < CONTIG_SEGMENT_BUCKETS; b++)
					json_u64(&j, NULL, segs[i].count[b]);
				json_array_end(&j);
				json_u64(&j, "nsegments_broken", segs[i].nbroken);
			}
			if (map_window_end(windows, nwindows, i))
				json_u64(&j, "below", map_window_end(windows, nwindows, i));
			if (i < nwindows && windows[i].wanted_len)
				json_u64(&j, "wanted_len", windows[i].wanted_len);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_u64(&j, "nsessions", st->nsessions);
		json_u64(&j, "nrecycled", st->nrecycled);
		json_u64(&j, "nrecycle_moved", st->nrecycle_moved);
		json_u64(&j, "nrecycle_truncated", st->nrecycle_truncated);
		json_u64(&j, "nframes_lost", st->nframes_lost);
		json_u64(&j, "nframes_recovered", st->nframes_recovered);
		json_u64(&j, "nrequests_waited", st->nrequests_waited);
		json_u64(&j, "nbugchecks", st->nbugchecks);
		json_object_end(&j);
		json_done(&j);
	} else {
		printf("%-4s %-4s %5s %8s %8s %8s %5s %5s %6s %6s %7s %8s %7s %7s %7s\n", "pool",
		       "node", "page", "total", "free", "largest", "frag", "runs", "frames", "owned",
		       "recycle", "segments", "buffers", "clients", "below");
		for (uint32_t i = 0; i < st->npools; i++) {
			const struct contig_pool_stats *p = &st->pools[i];
			char page[MAP_SIZE_TEXT], total[MAP_SIZE_TEXT], freeb[MAP_SIZE_TEXT];
			char largest[MAP_SIZE_TEXT], runs[MAP_SIZE_TEXT], below[MAP_SIZE_TEXT] = "-";

			map_size_text(p->page_len, page);
			map_size_text(p->total_len, total);
			map_size_text(p->free_len, freeb);
			map_size_text(p->largest_free_len, largest);
			snprintf(runs, sizeof(runs), "%" PRIu32, m.summary[i].nfree_runs);
			if (map_window_end(windows, nwindows, i))
				map_size_text(map_window_end(windows, nwindows, i), below);
			printf("%-4" PRIu32 " %-4d %5s %8s %8s %8s %5.2f %5s %6" PRIu32 " %6" PRIu32
			       " %7" PRIu32 " %8" PRIu32 " %7" PRIu32 " %7" PRIu32 " %7s\n",
			       i, p->node, page, total, freeb, largest, fragmentation(p),
			       have_map ? runs : "-", p->nframes, p->nframes_owned,
			       p->nframes_recycling, p->nsegments, p->nbuffers, p->nclients, below);
		}
		printf("sessions %" PRIu32 ", frames recycled %" PRIu64 " (moved %" PRIu64
		       ", truncated by their owner %" PRIu64 "), lost %" PRIu64 " (back %" PRIu64
		       "), misuses reported %" PRIu64 "\n",
		       st->nsessions, st->nrecycled, st->nrecycle_moved, st->nrecycle_truncated,
		       st->nframes_lost, st->nframes_recovered, st->nbugchecks);
		for (uint32_t i = 0; i < st->npools && i < nsegs; i++) {
			char text[512];

			if (!segs[i].known)
				continue;
			contig_segments_format(segs[i].count, text, sizeof(text));
			printf("pool %" PRIu32 " segments by length in frames: %s; broken by "
			       "recycling: %" PRIu64 "\n", i, text, segs[i].nbroken);
		}
		for (uint32_t i = 0; i < st->npools && i < nwindows; i++) {
			char total[MAP_SIZE_TEXT], wanted[MAP_SIZE_TEXT], below[MAP_SIZE_TEXT];

			if (!map_window_end(windows, nwindows, i) ||
			    windows[i].wanted_len <= st->pools[i].total_len)
				continue;
			map_size_text(st->pools[i].total_len, total);
			map_size_text(windows[i].wanted_len, wanted);
			map_size_text(map_window_end(windows, nwindows, i), below);
			printf("pool %" PRIu32 " found %s of the %s configured below %s: its window "
			       "held no more free memory\n", i, total, wanted, below);
		}
		printf("largest: the largest buffer a request could get now; frag: 1 - largest / "
		       "free; runs: runs of adjacent free frames; below: the pool's window, for "
		       "devices that reach only lower addresses\n");
	}
	map_done(&m);
	free(frames);
	return 0;
}

/* ---- clients ---- */

static int cmd_clients(struct contig_client *c, const struct look_opts *o)
{
	const struct contig_stats *st = get_stats(c);
	bool hidden;

	if (!st)
		return fail("clients", -EIO);
	/* Only the daemon's administrators get the list (DESIGN.md). */
	hidden = st->nsessions_listed == 0 && st->nsessions > 0;
	if (o->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_u64(&j, "nsessions", st->nsessions);
		json_bool(&j, "visible", !hidden);
		json_array_begin(&j, "clients");
		for (uint32_t i = 0; i < st->nsessions_listed; i++) {
			const struct contig_session_stats *s = &st->sessions[i];

			json_object_begin(&j, NULL);
			json_i64(&j, "pid", s->pid);
			json_u64(&j, "uid", s->uid);
			json_string(&j, "comm", s->comm);
			json_u64(&j, "len", s->len);
			json_u64(&j, "nbuffers", s->nbuffers);
			json_u64(&j, "nframes", s->nframes);
			json_u64(&j, "nbugchecks", s->nbugchecks);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_done(&j);
	} else {
		printf("%-8s %-6s %-16s %12s %8s %7s %8s\n", "pid", "uid", "process", "bytes",
		       "buffers", "frames", "misuses");
		for (uint32_t i = 0; i < st->nsessions_listed; i++) {
			const struct contig_session_stats *s = &st->sessions[i];
			char comm[CONTIG_ESCAPE_LEN(sizeof(s->comm))];

			printf("%-8d %-6u %-16s %12" PRIu64 " %8" PRIu32 " %7" PRIu32 " %8" PRIu64
			       "\n",
			       s->pid, s->uid, contig_escape_str(s->comm, comm, sizeof(comm)), s->len,
			       s->nbuffers, s->nframes, s->nbugchecks);
		}
	}
	if (hidden)
		fprintf(stderr, "contigctl: %" PRIu32 " sessions; only root sees whose\n",
			st->nsessions);
	return 0;
}

/* ---- tags ---- */

static int cmp_tag_bytes(const void *a, const void *b)
{
	const struct contig_tag_stats *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static int cmd_tags(struct contig_client *c, const struct look_opts *o)
{
	const struct contig_stats *st = get_stats(c);
	struct contig_tag_stats tags[sizeof(st->tags) / sizeof(st->tags[0])];
	uint32_t n;

	if (!st)
		return fail("tags", -EIO);
	/* poolmon's order: most bytes first. A tag no allocation succeeded
	 * under (the daemon makes its entry before it allocates) is no row. */
	n = 0;
	for (uint32_t i = 0; i < st->ntags; i++)
		if (st->tags[i].nallocs)
			tags[n++] = st->tags[i];
	qsort(tags, n, sizeof(tags[0]), cmp_tag_bytes);
	if (o->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_array_begin(&j, "tags");
		for (uint32_t i = 0; i < n; i++) {
			char name[5];

			map_tag_name(tags[i].tag, name);
			json_object_begin(&j, NULL);
			json_string(&j, "tag", name);
			json_u64(&j, "value", tags[i].tag);
			json_u64(&j, "nallocs", tags[i].nallocs);
			json_u64(&j, "nfrees", tags[i].nfrees);
			json_i64(&j, "diff", (int64_t)(tags[i].nallocs - tags[i].nfrees));
			json_u64(&j, "nbuffers", tags[i].nbuffers);
			json_u64(&j, "len", tags[i].len);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_done(&j);
		return 0;
	}
	/* poolmon's columns. A tag is four characters, shown as written in C
	 * ('Tag1' is stored with '1' in the low byte). */
	printf("%-6s %10s %10s %10s %14s\n", "tag", "allocs", "frees", "diff", "bytes");
	for (uint32_t i = 0; i < n; i++) {
		char name[5];

		map_tag_name(tags[i].tag, name);
		printf("%-6s %10" PRIu64 " %10" PRIu64 " %10" PRId64 " %14" PRIu64 "\n", name,
		       tags[i].nallocs, tags[i].nfrees, (int64_t)(tags[i].nallocs - tags[i].nfrees),
		       tags[i].len);
	}
	return 0;
}

/* ---- buffers ---- */

static int cmp_buffer(const void *a, const void *b)
{
	const struct contig_buffer_info *x = a, *y = b;

	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

static int cmd_buffers(struct contig_client *c, const struct look_opts *o)
{
	const struct contig_stats *st = get_stats(c);
	struct contig_buffer_info *bufs;
	size_t n;
	int r;

	if (!st)
		return fail("buffers", -EIO);
	r = contig_list_buffers(c, &bufs, &n);
	if (r < 0)
		return fail("buffers", r);
	if (n)
		qsort(bufs, n, sizeof(*bufs), cmp_buffer);
	if (o->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_array_begin(&j, "buffers");
		for (size_t i = 0; i < n; i++) {
			const struct contig_buffer_info *b = &bufs[i];
			char tag[5];

			map_tag_name(b->tag, tag);
			json_object_begin(&j, NULL);
			json_i64(&j, "pid", b->pid);
			json_u64(&j, "uid", b->uid);
			json_string(&j, "comm", comm_of(st, b->pid));
			json_u64(&j, "id", b->id);
			json_u64(&j, "phys", b->phys);
			json_hex(&j, "phys_hex", b->phys);
			json_u64(&j, "len", b->len);
			json_u64(&j, "pool", b->pool);
			json_i64(&j, "node", b->node);
			json_u64(&j, "page_len", b->page_len);
			json_string(&j, "cache_type", map_cache_name(b->cache_type));
			json_string(&j, "tag", tag);
			json_u64(&j, "tag_value", b->tag);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_done(&j);
	} else {
		printf("%-8s %-16s %-18s %10s %4s %5s %-18s %-4s\n", "pid", "process", "phys",
		       "bytes", "node", "page", "cache", "tag");
		for (size_t i = 0; i < n; i++) {
			const struct contig_buffer_info *b = &bufs[i];
			char tag[5], page[MAP_SIZE_TEXT];
			char comm[CONTIG_ESCAPE_LEN(sizeof(st->sessions[0].comm))];

			map_tag_name(b->tag, tag);
			map_size_text(b->page_len, page);
			printf("%-8d %-16s 0x%016" PRIx64 " %10" PRIu64 " %4d %5s %-18s %-4s\n", b->pid,
			       contig_escape_str(comm_of(st, b->pid), comm, sizeof(comm)), b->phys,
			       b->len, b->node, page, map_cache_name(b->cache_type), tag);
		}
	}
	free(bufs);
	return 0;
}

/* ---- map ---- */

static int cmd_map(struct contig_client *c, const struct look_opts *o)
{
	const struct contig_stats *st = get_stats(c);
	struct contig_pool_window windows[16];
	struct contig_frame_info *frames;
	size_t n;
	struct map m;
	int r;

	if (!st)
		return fail("map", -EIO);
	if (o->pool >= 0 && (uint32_t)o->pool >= st->npools) {
		fprintf(stderr, "contigctl: map: no pool %d (the daemon has %" PRIu32 ")\n", o->pool,
			st->npools);
		return 2;
	}
	r = get_frames(c, st, &frames, &n);
	if (r < 0)
		return fail("map", r);
	r = map_init(&m, st, frames, n, o->width);
	if (r < 0) {
		free(frames);
		return fail("map", r);
	}
	if (contig_get_pool_windows(c, windows, sizeof(windows) / sizeof(windows[0]),
				    &m.nwindows) == 0)
		m.windows = windows;
	if (o->svg) {
		FILE *f = fopen(o->svg, "w");

		if (f)
			map_print_svg(&m, o->pool, f);
		if (!f || ferror(f) || fclose(f) != 0) {
			fprintf(stderr, "contigctl: map: cannot write %s: %s\n", o->svg,
				strerror(errno));
			r = -EIO;
		}
	} else if (o->json) {
		struct json j;

		json_init(&j, stdout);
		map_print_json(&m, o->pool, &j);
		json_done(&j);
	} else {
		bool colour = o->colour == 1 ||
			      (o->colour < 0 && isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
			       !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0));

		map_print_text(&m, o->pool, stdout, colour);
		note_hidden(stdout);
	}
	map_done(&m);
	free(frames);
	return r < 0 ? 1 : 0;
}

static int cmd_alloc(struct contig_client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lowest", required_argument, NULL, 'l' },
		{ "highest", required_argument, NULL, 'H' },
		{ "boundary", required_argument, NULL, 'b' },
		{ "align", required_argument, NULL, 'a' },
		{ "node", required_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 'c' },
		{ "hold", no_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 't' },
		{ "priority", required_argument, NULL, 'p' },
		{ 0 },
	};
	struct contig_alloc_req req;
	struct contig_buffer buf;
	uint64_t len;
	int opt, hold = 0, r = 0;

	if (argc < 2 || parse_u64(argv[1], &len) < 0) {
		usage(stderr);
		return 2;
	}
	contig_alloc_req_init(&req, len);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': r = parse_u64(optarg, &req.lowest_phys); break;
		case 'H': r = parse_u64(optarg, &req.highest_phys); break;
		case 'b': r = parse_u64(optarg, &req.boundary); break;
		case 'a': r = parse_u64(optarg, &req.align); break;
		case 'n':
			if (strcmp(optarg, "any") == 0)
				req.node = CONTIG_NODE_ANY;
			else
				r = parse_int(optarg, &req.node);
			break;
		case 'c': r = parse_cache(optarg, &req.cache_type); break;
		case 'k': hold = 1; break;
		case 't':
			/* one to four characters, as a C multi-character constant 'ABCD' */
			req.tag = 0;
			if (!optarg[0] || strlen(optarg) > 4)
				r = -EINVAL;
			for (int k = 0; k < 4 && optarg[k]; k++) /* 'AB' is 0x4142 in C */
				req.tag = req.tag << 8 | (uint8_t)optarg[k];
			break;
		case 'p':
			if (strcmp(optarg, "low") == 0)
				req.priority = CONTIG_PRIORITY_LOW;
			else if (strcmp(optarg, "normal") == 0)
				req.priority = CONTIG_PRIORITY_NORMAL;
			else if (strcmp(optarg, "high") == 0)
				req.priority = CONTIG_PRIORITY_HIGH;
			else
				r = -EINVAL;
			break;
		default: usage(stderr); return 2;
		}
		if (r < 0) {
			fprintf(stderr, "contigctl: bad value '%s'\n", optarg);
			return 2;
		}
	}
	r = contig_alloc(c, &req, &buf);
	if (r < 0) {
		fprintf(stderr, "contigctl: alloc: %s (%s)\n", contig_last_message(), strerror(-r));
		return 1;
	}
	printf("phys 0x%" PRIx64 " len %" PRIu64 " node %d page %" PRIu64 "K virt %p\n", buf.phys,
	       buf.len, buf.node, buf.page_len >> 10, buf.virt);
	fflush(stdout);
	if (hold)
		while (getchar() != EOF)
			;
	contig_free(c, buf.virt);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct contig_client *c, const struct look_opts *o);
		bool is_map;
	} looks[] = {
		{ "status", cmd_status, false },   { "clients", cmd_clients, false },
		{ "tags", cmd_tags, false },       { "buffers", cmd_buffers, false },
		{ "map", cmd_map, true },
	};
	const char *socket_path = NULL;
	struct contig_client *c;
	struct look_opts o;
	int argi = 1, look = -1, r;

	if (argi + 1 < argc && strcmp(argv[argi], "--socket") == 0) {
		socket_path = argv[argi + 1];
		argi += 2;
	}
	if (argi < argc && strcmp(argv[argi], "--version") == 0) {
		/* contigctl links libcontig statically: its version is the library's. */
		printf("contigctl %s\nlibcontig %s (%s), wire protocol %u\n", CONTIG_VERSION,
		       CONTIG_VERSION, CONTIG_SONAME, CONTIG_PROTOCOL_VERSION);
		return 0;
	}
	if (argi >= argc || strcmp(argv[argi], "--help") == 0 || strcmp(argv[argi], "-h") == 0) {
		usage(argi >= argc ? stderr : stdout);
		return argi >= argc ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(looks) / sizeof(looks[0]); i++)
		if (strcmp(argv[argi], looks[i].name) == 0)
			look = (int)i;
	if (strcmp(argv[argi], "cdi") == 0) {
		r = cdi_cmd(socket_path, argc - argi, argv + argi);
		if (r == 2)
			usage(stderr);
		return r;
	}
	if (look < 0 && strcmp(argv[argi], "alloc") != 0 && strcmp(argv[argi], "metrics") != 0) {
		fprintf(stderr, "contigctl: unknown command '%s'\n", argv[argi]);
		usage(stderr);
		return 2;
	}
	if (look >= 0 && parse_look(argc - argi, argv + argi, looks[look].is_map, &o) != 0) {
		usage(stderr);
		return 2;
	}
	r = contig_connect(socket_path, &c);
	if (r < 0) {
		fprintf(stderr, "contigctl: %s\n", contig_last_message());
		/* metrics says so too, where its collector looks */
		if (strcmp(argv[argi], "metrics") == 0 &&
		    metrics_cmd(NULL, argc - argi, argv + argi) == 2) {
			usage(stderr);
			return 2;
		}
		return 1;
	}
	if (look >= 0)
		r = looks[look].fn(c, &o);
	else if (strcmp(argv[argi], "metrics") == 0)
		r = metrics_cmd(c, argc - argi, argv + argi);
	else
		r = cmd_alloc(c, argc - argi, argv + argi);
	contig_disconnect(c);
	if (r == 2)
		usage(stderr);
	return r;
}
