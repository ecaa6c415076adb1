/* map.c - contigctl map: pictures of physical memory (see map.h).
 *
 * DESIGN
 * The frames of each pool are sorted by physical address and laid out as
 * a sequence of cells, one per frame, with one empty cell wherever the
 * next frame is not physically adjacent to the previous one (a segment
 * boundary); the sequence wraps every @width cells into rows, each row
 * labelled with the physical address of its first frame. The terminal
 * text, the SVG and the JSON all come from the same walk (for_cells()), so
 * the three pictures agree cell for cell.
 *
 * Owners are keyed by pid (a process with two connections is one owner
 * here); the caller sees the owner of a frame only if the daemon showed it
 * (root: all; others: their own), and the rest of the owned frames are
 * drawn as "owned by someone else".
 *
 * contigctl's: links libcontig and common/ only, never a daemon object,
 * and reaches the daemon only through libcontig's public API.
 */
#include "map.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static const char *const cache_names[] = {
	"noncached", "cached", "writecombined", "hwcoherent", "noncachedunordered", "uswc",
};

static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* Fill colours of owners in the SVG, and ANSI background colours (with a
 * foreground that reads on them) in the terminal, by owner number. */
static const char *const svg_colours[] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
	"#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939", "#843c39",
};
static const char *const ansi_colours[] = {
	"44;97", "43;30", "42;30", "41;97", "45;97", "46;30",
	"104;30", "103;30", "102;30", "101;30", "105;30", "106;30",
};
#define NCOLOURS (sizeof(svg_colours) / sizeof(svg_colours[0]))

#define SVG_FREE "#d9d9d9"
#define SVG_HIDDEN "#6b6b6b"
#define SVG_LOST "#000000"

const char *map_cache_name(int cache_type)
{
	if (cache_type < 0 || cache_type >= (int)(sizeof(cache_names) / sizeof(cache_names[0])))
		return "?";
	return cache_names[cache_type];
}

const char *map_status_name(int status)
{
	switch (status) {
	case CONTIG_FRAME_STATUS_FREE:
		return "free";
	case CONTIG_FRAME_STATUS_OWNED:
		return "owned";
	case CONTIG_FRAME_STATUS_RECYCLING:
		return "recycling";
	default:
		return "lost";
	}
}

void map_tag_name(uint32_t tag, char *ret_name)
{
	for (int k = 0; k < 4; k++) {
		char ch = (char)(tag >> (8 * (3 - k)));

		ret_name[k] = ch >= 32 && ch < 127 ? ch : '.';
	}
	ret_name[4] = '\0';
}

void map_size_text(uint64_t len, char *ret_text)
{
	if (len >= (UINT64_C(1) << 30) && len % (UINT64_C(1) << 30) == 0)
		snprintf(ret_text, MAP_SIZE_TEXT, "%" PRIu64 "G", len >> 30);
	else if (len >= (UINT64_C(1) << 20) && len % (UINT64_C(1) << 20) == 0)
		snprintf(ret_text, MAP_SIZE_TEXT, "%" PRIu64 "M", len >> 20);
	else
		snprintf(ret_text, MAP_SIZE_TEXT, "%" PRIu64 "K", len >> 10);
}

uint64_t map_window_end(const struct contig_pool_window *windows, size_t nwindows, uint32_t pool)
{
	if (!windows || pool >= nwindows || windows[pool].highest_phys == CONTIG_PHYS_MAX)
		return 0;
	return windows[pool].highest_phys + 1;
}

static int cmp_frame(const void *a, const void *b)
{
	const struct contig_frame_info *x = a, *y = b;

	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

static struct map_owner *owner_find(const struct map *m, int pid)
{
	for (size_t i = 0; i < m->nowners; i++)
		if (m->owners[i].pid == pid)
			return &m->owners[i];
	return NULL;
}

static uint64_t page_len_of(const struct map *m, uint32_t pool)
{
	return pool < m->stats->npools ? m->stats->pools[pool].page_len : 0;
}

/* Is @b physically right after @a, in the same pool? */
static bool adjacent(const struct map *m, const struct contig_frame_info *a,
		     const struct contig_frame_info *b)
{
	return a->pool == b->pool && b->phys == a->phys + page_len_of(m, a->pool);
}

int map_init(struct map *m, const struct contig_stats *stats, struct contig_frame_info *frames,
	     size_t n, unsigned width)
{
	memset(m, 0, sizeof(*m));
	m->stats = stats;
	m->frames = frames;
	m->nframes = n;
	m->width = width < 4 ? 4 : width > 1024 ? 1024 : width;
	if (n)
		qsort(frames, n, sizeof(*frames), cmp_frame);
	for (size_t i = 0; i < n; i++) {
		const struct contig_frame_info *f = &frames[i];
		struct map_pool_summary *ps = f->pool < 16 ? &m->summary[f->pool] : NULL;
		bool run_on = i > 0 && adjacent(m, &frames[i - 1], f);

		if (ps) {
			ps->nframes++;
			ps->nruns += !run_on;
			switch (f->status) {
			case CONTIG_FRAME_STATUS_FREE:
				ps->nfree++;
				ps->nfree_runs +=
					!(run_on && frames[i - 1].status == CONTIG_FRAME_STATUS_FREE);
				break;
			case CONTIG_FRAME_STATUS_OWNED:
				ps->nowned++;
				break;
			case CONTIG_FRAME_STATUS_RECYCLING:
				ps->nrecycling++;
				break;
			default:
				ps->nlost++;
			}
		}
		if (f->status == CONTIG_FRAME_STATUS_OWNED) {
			struct map_owner *o = owner_find(m, f->owner_pid);

			if (!o) {
				struct map_owner *grown =
					realloc(m->owners, (m->nowners + 1) * sizeof(*grown));

				if (!grown) {
					map_done(m);
					return -ENOMEM;
				}
				m->owners = grown;
				o = &m->owners[m->nowners++];
				memset(o, 0, sizeof(*o));
				o->pid = f->owner_pid;
				snprintf(o->comm, sizeof(o->comm), "%s", f->owner_pid ? "?" : "(others)");
			}
			o->nframes++;
			o->len += page_len_of(m, f->pool);
		}
	}
	/* Letters in order of first frame; the hidden owners are '#'. */
	for (size_t i = 0, k = 0; i < m->nowners; i++) {
		struct map_owner *o = &m->owners[i];

		if (o->pid == 0) {
			o->letter = '#';
			continue;
		}
		o->letter = k < MAP_MAX_LETTERS ? letters[k] : '+';
		k++;
		for (uint32_t s = 0; s < stats->nsessions_listed; s++)
			if (stats->sessions[s].pid == o->pid)
				snprintf(o->comm, sizeof(o->comm), "%s", stats->sessions[s].comm);
	}
	return 0;
}

void map_done(struct map *m)
{
	free(m->owners);
	m->owners = NULL;
	m->nowners = 0;
}

const struct map_owner *map_owner_of(const struct map *m, const struct contig_frame_info *f)
{
	return f->status == CONTIG_FRAME_STATUS_OWNED ? owner_find(m, f->owner_pid) : NULL;
}

/* Index of owner @o among the visible ones, for its colour. */
static size_t owner_number(const struct map *m, const struct map_owner *o)
{
	size_t k = 0;

	for (const struct map_owner *it = m->owners; it < o; it++)
		k += it->pid != 0;
	return k;
}

/* ---- the walk ---- */

/* What for_cells() reports. */
struct cell_walk {
	void (*pool_begin)(void *arg, uint32_t pool);
	void (*row_begin)(void *arg, uint32_t pool, unsigned row, uint64_t phys);
	/* @f NULL: a gap cell */
	void (*cell)(void *arg, unsigned row, unsigned col, const struct contig_frame_info *f);
	void (*row_end)(void *arg);
	void (*pool_end)(void *arg, uint32_t pool, unsigned nrows);
};

/* Lay out the frames of pool @pool (-1: each pool in turn) in cells and
 * rows, as the file comment says. */
static void for_cells(const struct map *m, int pool, const struct cell_walk *w, void *arg)
{
	size_t i = 0;

	while (i < m->nframes) {
		uint32_t p = m->frames[i].pool;
		unsigned row = 0, col = 0;
		bool in_row = false;

		if (pool >= 0 && p != (uint32_t)pool) {
			i++;
			continue;
		}
		w->pool_begin(arg, p);
		for (; i < m->nframes && m->frames[i].pool == p; i++) {
			const struct contig_frame_info *f = &m->frames[i];
			bool gap = i > 0 && m->frames[i - 1].pool == p && !adjacent(m, &m->frames[i - 1], f);

			for (int k = gap ? 0 : 1; k < 2; k++) {
				const struct contig_frame_info *c = k == 0 ? NULL : f;

				if (col == m->width) {
					w->row_end(arg);
					in_row = false;
					row++;
					col = 0;
				}
				/* A gap never opens a row: the row's address is a frame's. */
				if (!c && col == 0)
					continue;
				if (!in_row) {
					w->row_begin(arg, p, row, f->phys);
					in_row = true;
				}
				w->cell(arg, row, col++, c);
			}
		}
		if (in_row)
			w->row_end(arg);
		w->pool_end(arg, p, in_row ? row + 1 : row);
	}
}

static void pool_title(const struct map *m, uint32_t pool, char *buf, size_t len)
{
	const struct contig_pool_stats *ps = pool < m->stats->npools ? &m->stats->pools[pool] : NULL;
	const struct map_pool_summary *s = pool < 16 ? &m->summary[pool] : NULL;
	char page[MAP_SIZE_TEXT] = "?", total[MAP_SIZE_TEXT] = "?", below[MAP_SIZE_TEXT + 8] = "";
	uint64_t end = map_window_end(m->windows, m->nwindows, pool);

	if (ps) {
		map_size_text(ps->page_len, page);
		map_size_text((uint64_t)(s ? s->nframes : 0) * ps->page_len, total);
	}
	if (end) {
		memcpy(below, " below ", 7);
		map_size_text(end, below + 7);
	}
	snprintf(buf, len,
		 "pool %" PRIu32 ": node %d, %s pages%s, %" PRIu32 " frames (%s): %" PRIu32
		 " free in %" PRIu32 " runs, %" PRIu32 " owned, %" PRIu32 " recycling, %" PRIu32
		 " lost; %" PRIu32 " segments",
		 pool, ps ? ps->node : -1, page, below, s ? s->nframes : 0, total, s ? s->nfree : 0,
		 s ? s->nfree_runs : 0, s ? s->nowned : 0, s ? s->nrecycling : 0, s ? s->nlost : 0,
		 s ? s->nruns : 0);
}

/* ---- terminal ---- */

struct text {
	const struct map *m;
	FILE *out;
	bool colour;
};

static void text_pool_begin(void *arg, uint32_t pool)
{
	struct text *t = arg;
	char title[256];

	pool_title(t->m, pool, title, sizeof(title));
	fprintf(t->out, "%s\n", title);
}

static void text_row_begin(void *arg, uint32_t pool, unsigned row, uint64_t phys)
{
	struct text *t = arg;

	(void)pool;
	(void)row;
	fprintf(t->out, "0x%012" PRIx64 " ", phys);
}

static void text_cell(void *arg, unsigned row, unsigned col, const struct contig_frame_info *f)
{
	struct text *t = arg;
	const struct map_owner *o;

	(void)row;
	(void)col;
	if (!f) {
		fputc(' ', t->out);
		return;
	}
	switch (f->status) {
	case CONTIG_FRAME_STATUS_FREE:
		fputs(t->colour ? "\033[2m.\033[0m" : ".", t->out);
		break;
	case CONTIG_FRAME_STATUS_RECYCLING:
		fputs(t->colour ? "\033[33m~\033[0m" : "~", t->out);
		break;
	case CONTIG_FRAME_STATUS_OWNED:
		o = map_owner_of(t->m, f);
		if (!t->colour)
			fputc(o ? o->letter : '#', t->out);
		else if (o && o->pid)
			fprintf(t->out, "\033[%sm%c\033[0m", ansi_colours[owner_number(t->m, o) % NCOLOURS],
				o->letter);
		else
			fputs("\033[7m#\033[0m", t->out);
		break;
	default:
		fputs(t->colour ? "\033[41;97mX\033[0m" : "X", t->out);
	}
}

static void text_row_end(void *arg)
{
	fputc('\n', ((struct text *)arg)->out);
}

static void text_pool_end(void *arg, uint32_t pool, unsigned nrows)
{
	(void)pool;
	(void)nrows;
	fputc('\n', ((struct text *)arg)->out);
}

void map_print_text(const struct map *m, int pool, FILE *out, bool colour)
{
	static const struct cell_walk walk = { text_pool_begin, text_row_begin, text_cell,
					       text_row_end, text_pool_end };
	struct text t = { m, out, colour };

	for_cells(m, pool, &walk, &t);
	fprintf(out, "legend: %s free   %s recycling   %s lost   (blank) not adjacent: a gap in "
		     "physical memory; one cell per frame, %u per row\n",
		colour ? "\033[2m.\033[0m" : ".", colour ? "\033[33m~\033[0m" : "~",
		colour ? "\033[41;97mX\033[0m" : "X", m->width);
	for (size_t i = 0; i < m->nowners; i++) {
		const struct map_owner *o = &m->owners[i];
		char len[MAP_SIZE_TEXT], comm[CONTIG_ESCAPE_LEN(sizeof(o->comm))];

		map_size_text(o->len, len);
		if (colour && o->pid)
			fprintf(out, "  \033[%sm%c\033[0m", ansi_colours[owner_number(m, o) % NCOLOURS],
				o->letter);
		else if (colour)
			fputs("  \033[7m#\033[0m", out);
		else
			fprintf(out, "  %c", o->letter);
		if (o->pid)
			fprintf(out, " pid %-7d %-16s %6" PRIu32 " frames %8s\n", o->pid,
				contig_escape_str(o->comm, comm, sizeof(comm)), o->nframes, len);
		else
			fprintf(out, " owned by other processes (root sees whose) %6" PRIu32
				     " frames %8s\n",
				o->nframes, len);
	}
}

/* ---- SVG ---- */

#define SVG_CELL 12      /* pixels per cell, 1 of them spacing */
#define SVG_LABEL 150    /* the address column */
#define SVG_MARGIN 10
#define SVG_TITLE 24     /* a pool's heading */
#define SVG_LINE 16      /* a legend line */

static void svg_escape(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '<')
			fputs("&lt;", out);
		else if (*p == '>')
			fputs("&gt;", out);
		else if (*p == '&')
			fputs("&amp;", out);
		else if (*p == '"')
			fputs("&quot;", out);
		else if (*p < 0x20 || *p > 0x7e)
			fputc('?', out); /* keep the document valid whatever a comm holds */
		else
			fputc(*p, out);
	}
}

struct svg {
	const struct map *m;
	FILE *out;
	unsigned y;     /* top of the current pool's rows */
	unsigned height; /* measuring pass: the document's */
	bool measure;
};

static void svg_pool_begin(void *arg, uint32_t pool)
{
	struct svg *s = arg;
	char title[256];

	if (!s->measure) {
		pool_title(s->m, pool, title, sizeof(title));
		fprintf(s->out, "<text class=\"pool\" x=\"%d\" y=\"%u\">", SVG_MARGIN, s->y + 16);
		svg_escape(s->out, title);
		fputs("</text>\n", s->out);
	}
	s->y += SVG_TITLE;
}

static void svg_row_begin(void *arg, uint32_t pool, unsigned row, uint64_t phys)
{
	struct svg *s = arg;

	(void)pool;
	if (!s->measure)
		fprintf(s->out,
			"<text class=\"addr\" x=\"%d\" y=\"%u\">0x%012" PRIx64 "</text>\n",
			SVG_MARGIN, s->y + row * SVG_CELL + SVG_CELL - 2, phys);
}

static void svg_cell(void *arg, unsigned row, unsigned col, const struct contig_frame_info *f)
{
	struct svg *s = arg;
	const struct map_owner *o;
	const char *fill;
	char len[MAP_SIZE_TEXT];

	if (s->measure || !f)
		return;
	o = map_owner_of(s->m, f);
	switch (f->status) {
	case CONTIG_FRAME_STATUS_FREE:
		fill = SVG_FREE;
		break;
	case CONTIG_FRAME_STATUS_OWNED:
		fill = o && o->pid ? svg_colours[owner_number(s->m, o) % NCOLOURS] : SVG_HIDDEN;
		break;
	case CONTIG_FRAME_STATUS_RECYCLING:
		fill = "url(#recycling)";
		break;
	default:
		fill = SVG_LOST;
	}
	map_size_text(page_len_of(s->m, f->pool), len);
	fprintf(s->out,
		"<rect class=\"frame %s\" x=\"%u\" y=\"%u\" width=\"%d\" height=\"%d\" "
		"fill=\"%s\" data-phys=\"0x%" PRIx64 "\"",
		map_status_name(f->status), SVG_MARGIN + SVG_LABEL + col * SVG_CELL,
		s->y + row * SVG_CELL, SVG_CELL - 1, SVG_CELL - 1, fill, f->phys);
	if (o && o->pid)
		fprintf(s->out, " data-owner=\"%d\"", o->pid);
	fprintf(s->out, "><title>0x%" PRIx64 " (%s): %s", f->phys, len, map_status_name(f->status));
	if (o && o->pid) {
		fprintf(s->out, " by pid %d (", o->pid);
		svg_escape(s->out, o->comm);
		fprintf(s->out, "), %s, %" PRIu32 " buffers", map_cache_name(f->cache_type),
			f->nbuffers);
	}
	fputs("</title></rect>\n", s->out);
}

static void svg_row_end(void *arg)
{
	(void)arg;
}

static void svg_pool_end(void *arg, uint32_t pool, unsigned nrows)
{
	struct svg *s = arg;

	(void)pool;
	s->y += nrows * SVG_CELL + SVG_MARGIN;
}

void map_print_svg(const struct map *m, int pool, FILE *out)
{
	static const struct cell_walk walk = { svg_pool_begin, svg_row_begin, svg_cell,
					       svg_row_end, svg_pool_end };
	struct svg s = { m, out, SVG_TITLE + SVG_MARGIN, 0, true };
	unsigned width = SVG_MARGIN * 2 + SVG_LABEL + m->width * SVG_CELL;
	unsigned legend_y, y;

	if (width < 640)
		width = 640;
	/* Measure first: the document's height goes in its root element. */
	for_cells(m, pool, &walk, &s);
	legend_y = s.y;
	s.height = legend_y + (unsigned)(4 + m->nowners) * SVG_LINE + SVG_MARGIN;
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" "
		"viewBox=\"0 0 %u %u\" font-family=\"monospace\" font-size=\"11\">\n"
		"<title>contigd physical memory: one cell per frame</title>\n"
		"<defs><pattern id=\"recycling\" width=\"4\" height=\"4\" "
		"patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
		"<rect width=\"4\" height=\"4\" fill=\"" SVG_FREE "\"/>"
		"<rect width=\"2\" height=\"4\" fill=\"#e6a000\"/></pattern></defs>\n"
		"<rect class=\"background\" width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
		"<text class=\"heading\" x=\"%d\" y=\"%d\" font-size=\"14\">contigd physical "
		"memory: one cell per frame, %u cells per row, a blank cell where frames are not "
		"adjacent</text>\n",
		width, s.height, width, s.height, SVG_MARGIN, SVG_MARGIN + 12, m->width);
	s.measure = false;
	s.y = SVG_TITLE + SVG_MARGIN;
	for_cells(m, pool, &walk, &s);

	/* The legend: states, then owners. */
	y = legend_y;
	fprintf(out, "<g class=\"legend\">\n");
	{
		static const struct {
			const char *fill, *what;
		} states[] = {
			{ SVG_FREE, "free" },
			{ "url(#recycling)", "recycling (being revoked and zeroed)" },
			{ SVG_LOST, "lost (out of service)" },
		};

		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++, y += SVG_LINE)
			fprintf(out,
				"<rect class=\"key\" x=\"%d\" y=\"%u\" width=\"%d\" height=\"%d\" "
				"fill=\"%s\"/><text x=\"%d\" y=\"%u\">%s</text>\n",
				SVG_MARGIN, y, SVG_CELL - 1, SVG_CELL - 1, states[i].fill,
				SVG_MARGIN + SVG_CELL + 6, y + SVG_CELL - 2, states[i].what);
	}
	for (size_t i = 0; i < m->nowners; i++, y += SVG_LINE) {
		const struct map_owner *o = &m->owners[i];
		char len[MAP_SIZE_TEXT];

		map_size_text(o->len, len);
		fprintf(out,
			"<rect class=\"key\" x=\"%d\" y=\"%u\" width=\"%d\" height=\"%d\" "
			"fill=\"%s\"/><text x=\"%d\" y=\"%u\">",
			SVG_MARGIN, y, SVG_CELL - 1, SVG_CELL - 1,
			o->pid ? svg_colours[owner_number(m, o) % NCOLOURS] : SVG_HIDDEN,
			SVG_MARGIN + SVG_CELL + 6, y + SVG_CELL - 2);
		if (o->pid) {
			fprintf(out, "%c pid %d ", o->letter, o->pid);
			svg_escape(out, o->comm);
		} else {
			fputs("owned by other processes", out);
		}
		fprintf(out, ": %" PRIu32 " frames, %s</text>\n", o->nframes, len);
	}
	fputs("</g>\n</svg>\n", out);
}

/* ---- JSON ---- */

void map_print_json(const struct map *m, int pool, struct json *j)
{
	size_t i = 0;

	json_object_begin(j, NULL);
	json_u64(j, "row_width", m->width);
	json_array_begin(j, "pools");
	while (i < m->nframes) {
		uint32_t p = m->frames[i].pool;
		const struct contig_pool_stats *ps = &m->stats->pools[p];
		const struct map_pool_summary *s = &m->summary[p < 16 ? p : 0];

		if (pool >= 0 && p != (uint32_t)pool) {
			i++;
			continue;
		}
		json_object_begin(j, NULL);
		json_u64(j, "pool", p);
		json_i64(j, "node", ps->node);
		json_u64(j, "page_len", ps->page_len);
		if (map_window_end(m->windows, m->nwindows, p))
			json_u64(j, "below", map_window_end(m->windows, m->nwindows, p));
		json_u64(j, "nframes", s->nframes);
		json_u64(j, "nfree", s->nfree);
		json_u64(j, "nfree_runs", s->nfree_runs);
		json_u64(j, "nowned", s->nowned);
		json_u64(j, "nrecycling", s->nrecycling);
		json_u64(j, "nlost", s->nlost);
		json_u64(j, "nsegments", s->nruns);
		json_array_begin(j, "frames");
		for (; i < m->nframes && m->frames[i].pool == p; i++) {
			const struct contig_frame_info *f = &m->frames[i];
			const struct map_owner *o = map_owner_of(m, f);

			json_object_begin(j, NULL);
			json_u64(j, "phys", f->phys);
			json_hex(j, "phys_hex", f->phys);
			json_string(j, "state", map_status_name(f->status));
			json_bool(j, "adjacent_to_previous",
				  i > 0 && m->frames[i - 1].pool == p &&
					  adjacent(m, &m->frames[i - 1], f));
			if (o && o->pid) {
				char letter[2] = { o->letter, '\0' };

				json_i64(j, "owner_pid", o->pid);
				json_string(j, "owner", letter);
				json_string(j, "cache_type", map_cache_name(f->cache_type));
				json_u64(j, "nbuffers", f->nbuffers);
			} else if (o) {
				json_null(j, "owner_pid");
			}
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_array_begin(j, "owners");
	for (size_t k = 0; k < m->nowners; k++) {
		const struct map_owner *o = &m->owners[k];
		char letter[2] = { o->letter, '\0' };

		json_object_begin(j, NULL);
		json_string(j, "letter", letter);
		if (o->pid) {
			json_i64(j, "pid", o->pid);
			json_string(j, "comm", o->comm);
		} else {
			json_null(j, "pid");
		}
		json_u64(j, "nframes", o->nframes);
		json_u64(j, "len", o->len);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}
