/* metrics.c - contigd's state in the Prometheus text exposition format.
 *
 * DESIGN
 * One look at the daemon (contig_get_counters(): stats and counters from
 * one reply, plus the pools' windows) becomes one document in the text
 * format node_exporter's textfile collector and promtool read (0.0.4), or
 * with --openmetrics in OpenMetrics 1.0 text: there a family's TYPE and HELP
 * name it without "_total", and the document ends with "# EOF". Names
 * follow Prometheus' conventions: contigd_ prefix, base units (bytes,
 * seconds) in the name, counters end in _total. Each family is written
 * whole (HELP, TYPE, then all its samples), as both formats require.
 *
 * Label values a client chose (its process name, its pool tag) go through
 * contig_escape() first: only printable ASCII comes out, so a name with a
 * newline, a quote or bytes that are not UTF-8 can neither break the
 * document nor make it invalid; then '\\' and '"' are escaped as the format
 * wants. Cardinality is bounded: per pool (a handful, from the
 * configuration), per tag (at most 64 per stats reply: daemon-side
 * max_tags_per_user and CONTIG_STATS_MAX_TAGS), and per client only the
 * top N by bytes (--top, default 10), the rest summed into one "other"
 * series; rows of the same (pid, uid, comm) are merged, so that no two
 * samples share a label set.
 *
 * contigctl's: links libcontig and common/ only, never a daemon object,
 * and reaches the daemon only through libcontig's public API.
 */
#include "metrics.h"

#include "atomic.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "map.h"

/* Longest label set we write: a few labels of escaped, bounded values. */
#define LABELS_LEN 512

struct writer {
	FILE *out;
	bool om;
	const char *family; /* the current family's name */
	bool counter;       /* its samples end in _total */
};

/* Start family @name (for a counter: without _total) of @type. */
static void family(struct writer *w, const char *name, const char *type, const char *help)
{
	bool counter = strcmp(type, "counter") == 0;
	/* 0.0.4 names a counter's family as its samples are named. */
	const char *suffix = counter && !w->om ? "_total" : "";

	w->family = name;
	w->counter = counter;
	fprintf(w->out, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, suffix, help, name, suffix, type);
}

/* One sample of the current family: @suffix after its name ("_bucket"),
 * @labels ("" or 'a="b",c="d"'). */
static void sample(struct writer *w, const char *suffix, const char *labels, const char *value)
{
	fprintf(w->out, "%s%s%s%s%s%s %s\n", w->family, suffix, w->counter ? "_total" : "",
		*labels ? "{" : "", labels, *labels ? "}" : "", value);
}

static void sample_u64(struct writer *w, const char *labels, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, v);
	sample(w, "", labels, text);
}

void metrics_label_value(const char *text, char *buf, size_t buflen)
{
	char esc[CONTIG_ESCAPE_LEN(32)];
	size_t n = 0;

	/* (values are short: a process name has 15 bytes, a tag 4) */
	contig_escape(text, strnlen(text, 32), esc, sizeof(esc));
	for (const char *p = esc; *p; p++) {
		/* (contig_escape() left no newline; a quote or a backslash
		 * takes two bytes) */
		size_t need = *p == '\\' || *p == '"' ? 2 : 1;

		if (n + need >= buflen)
			break;
		if (need == 2)
			buf[n++] = '\\';
		buf[n++] = *p;
	}
	if (buflen)
		buf[n] = '\0';
}

/* Append label @key="@value" (escaped) to @labels (LABELS_LEN bytes). */
static void label(char *labels, const char *key, const char *value)
{
	char v[256];
	size_t len = strlen(labels);

	metrics_label_value(value, v, sizeof(v));
	snprintf(labels + len, LABELS_LEN - len, "%s%s=\"%s\"", len ? "," : "", key, v);
}

static void label_u64(char *labels, const char *key, uint64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, value);
	label(labels, key, text);
}

/* The labels that name pool @i: node, page size, window. */
static void pool_labels(const struct contig_stats *st, const struct contig_pool_window *windows,
			size_t nwindows, uint32_t i, char *labels)
{
	char below[24] = "none";

	labels[0] = '\0';
	label_u64(labels, "node", (uint64_t)st->pools[i].node);
	label_u64(labels, "page_size", st->pools[i].page_len);
	if (i < nwindows && windows[i].highest_phys != CONTIG_PHYS_MAX)
		snprintf(below, sizeof(below), "0x%" PRIx64, windows[i].highest_phys + 1);
	label(labels, "below", below);
}

/* A pool gauge or counter: @value(pool) for each pool. */
static void per_pool(struct writer *w, const struct contig_stats *st,
		     const struct contig_pool_window *windows, size_t nwindows,
		     uint64_t (*value)(const struct contig_stats *, const struct contig_counters *,
				       uint32_t),
		     const struct contig_counters *ctr)
{
	char labels[LABELS_LEN];

	for (uint32_t i = 0; i < st->npools; i++) {
		pool_labels(st, windows, nwindows, i, labels);
		sample_u64(w, labels, value(st, ctr, i));
	}
}

#define POOL_VALUE(fn, expr)                                                                     \
	static uint64_t fn(const struct contig_stats *st, const struct contig_counters *ctr,     \
			   uint32_t i)                                                           \
	{                                                                                        \
		const struct contig_pool_stats *p = &st->pools[i];                               \
		(void)ctr;                                                                       \
		(void)p;                                                                         \
		return (expr);                                                                   \
	}
POOL_VALUE(pool_size, p->total_len)
POOL_VALUE(pool_free, p->free_len)
POOL_VALUE(pool_largest_free, p->largest_free_len)
POOL_VALUE(pool_segments, p->nsegments)
POOL_VALUE(pool_largest_segment, p->largest_segment_len)
POOL_VALUE(pool_buffers, p->nbuffers)
POOL_VALUE(pool_clients, p->nclients)

static void print_pools(struct writer *w, const struct contig_stats *st,
			const struct contig_counters *ctr,
			const struct contig_pool_window *windows, size_t nwindows)
{
	static const char *const states[] = { "free", "owned", "recycling", "lost" };
	char labels[LABELS_LEN];

	family(w, "contigd_pool_size_bytes", "gauge", "Bytes of all frames of the pool.");
	per_pool(w, st, windows, nwindows, pool_size, ctr);
	family(w, "contigd_pool_free_bytes", "gauge", "Bytes of the pool's frames no one owns.");
	per_pool(w, st, windows, nwindows, pool_free, ctr);
	family(w, "contigd_pool_largest_free_bytes", "gauge",
	       "The longest run of free physically adjacent frames: the largest buffer a new "
	       "request could get.");
	per_pool(w, st, windows, nwindows, pool_largest_free, ctr);
	family(w, "contigd_pool_frames", "gauge", "Frames (hugepages) of the pool by state.");
	for (uint32_t i = 0; i < st->npools; i++) {
		const struct contig_pool_stats *p = &st->pools[i];
		uint64_t lost = ctr->known && i < 16 ? ctr->pool_nframes_lost[i] : 0;
		uint64_t n[4] = { p->page_len ? p->free_len / p->page_len : 0, p->nframes_owned,
				  p->nframes_recycling, lost };

		for (int s = 0; s < 4; s++) {
			/* (a daemon that does not count lost frames shows none) */
			if (s == 3 && !ctr->known)
				continue;
			pool_labels(st, windows, nwindows, i, labels);
			label(labels, "state", states[s]);
			sample_u64(w, labels, n[s]);
		}
	}
	family(w, "contigd_pool_segments", "gauge", "Runs of physically adjacent frames in the pool.");
	per_pool(w, st, windows, nwindows, pool_segments, ctr);
	family(w, "contigd_pool_largest_segment_bytes", "gauge",
	       "The longest run of physically adjacent frames, owned or free.");
	per_pool(w, st, windows, nwindows, pool_largest_segment, ctr);
	family(w, "contigd_pool_buffers", "gauge", "Live buffers in the pool.");
	per_pool(w, st, windows, nwindows, pool_buffers, ctr);
	family(w, "contigd_pool_clients", "gauge", "Clients owning frames of the pool.");
	per_pool(w, st, windows, nwindows, pool_clients, ctr);
}

static void print_tags(struct writer *w, const struct contig_stats *st)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "contigd_tag_buffers", "gauge", "Live buffers allocated under the pool tag." },
		{ "contigd_tag_bytes", "gauge", "Bytes in live buffers allocated under the pool tag." },
		{ "contigd_tag_allocations", "counter",
		  "Buffers allocated under the pool tag (restarts from 0 when the tag had no live "
		  "buffer left and was pruned)." },
		{ "contigd_tag_frees", "counter", "Buffers under the pool tag freed." },
	};
	char labels[LABELS_LEN];

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(w, fams[f].name, fams[f].type, fams[f].help);
		for (uint32_t i = 0; i < st->ntags; i++) {
			const struct contig_tag_stats *t = &st->tags[i];
			uint64_t v[] = { t->nbuffers, t->len, t->nallocs, t->nfrees };
			char name[5], hex[12];

			/* (as contigctl tags: a tag no allocation succeeded under
			 * is no row; the daemon makes its entry before it tries) */
			if (!t->nallocs)
				continue;
			/* tag: readable (unprintable bytes as '.'); tag_value: the
			 * tag's number, which tells apart tags that read the same */
			map_tag_name(t->tag, name);
			snprintf(hex, sizeof(hex), "0x%08" PRIx32, t->tag);
			labels[0] = '\0';
			label(labels, "tag", name);
			label(labels, "tag_value", hex);
			sample_u64(w, labels, v[f]);
		}
	}
}

/* Live buffers, bytes and frames of one client, or of all others. */
struct client_row {
	int pid;
	unsigned uid;
	char comm[16];
	uint64_t nbuffers, len, nframes;
};

static int cmp_row(const void *a, const void *b)
{
	const struct client_row *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	if (x->nbuffers != y->nbuffers)
		return x->nbuffers > y->nbuffers ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void print_clients(struct writer *w, const struct contig_stats *st,
			  const struct contig_counters *ctr, unsigned top)
{
	static const struct {
		const char *name, *help;
	} fams[] = {
		{ "contigd_client_buffers", "Live buffers of the client (the top clients by bytes; "
					    "the rest as pid=\"other\")." },
		{ "contigd_client_bytes", "Bytes in live buffers of the client." },
		{ "contigd_client_frames", "Frames the client owns." },
	};
	struct client_row rows[sizeof(st->sessions) / sizeof(st->sessions[0])], other = { 0 };
	uint64_t nframes = 0;
	size_t n = 0;
	char labels[LABELS_LEN];

	for (uint32_t i = 0; i < st->nsessions_listed; i++) {
		const struct contig_session_stats *s = &st->sessions[i];
		size_t j;

		/* a client holding nothing (contigctl itself) is no row */
		if (!s->nbuffers && !s->nframes)
			continue;
		for (j = 0; j < n; j++)
			if (rows[j].pid == s->pid && rows[j].uid == s->uid &&
			    strncmp(rows[j].comm, s->comm, sizeof(rows[j].comm)) == 0)
				break;
		if (j == n) {
			memset(&rows[n], 0, sizeof(rows[n]));
			rows[n].pid = s->pid;
			rows[n].uid = s->uid;
			memcpy(rows[n].comm, s->comm, sizeof(rows[n].comm));
			rows[n].comm[sizeof(rows[n].comm) - 1] = '\0';
			n++;
		}
		rows[j].nbuffers += s->nbuffers;
		rows[j].len += s->len;
		rows[j].nframes += s->nframes;
	}
	qsort(rows, n, sizeof(rows[0]), cmp_row);
	if (n > top)
		n = top;
	/* "other": everything not shown, from the daemon's totals (which
	 * also cover sessions past what one stats reply lists, and a caller
	 * other than root, who is shown no client at all). */
	for (uint32_t i = 0; i < st->npools; i++)
		nframes += st->pools[i].nframes_owned;
	other.nbuffers = ctr->known ? ctr->live_nbuffers : 0;
	other.len = ctr->known ? ctr->live_len : 0;
	other.nframes = nframes;
	for (size_t j = 0; j < n; j++) {
		other.nbuffers -= rows[j].nbuffers < other.nbuffers ? rows[j].nbuffers
								      : other.nbuffers;
		other.len -= rows[j].len < other.len ? rows[j].len : other.len;
		other.nframes -= rows[j].nframes < other.nframes ? rows[j].nframes : other.nframes;
	}
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(w, fams[f].name, "gauge", fams[f].help);
		for (size_t j = 0; j <= n; j++) {
			const struct client_row *r = j < n ? &rows[j] : &other;
			uint64_t v[] = { r->nbuffers, r->len, r->nframes };

			labels[0] = '\0';
			if (j < n) {
				label_u64(labels, "pid", (uint64_t)r->pid);
				label_u64(labels, "uid", r->uid);
				label(labels, "comm", r->comm);
			} else {
				label(labels, "pid", "other");
				label(labels, "uid", "other");
				label(labels, "comm", "other");
			}
			sample_u64(w, labels, v[f]);
		}
	}
}

static void print_counters(struct writer *w, const struct contig_stats *st,
			   const struct contig_counters *ctr)
{
	const struct {
		const char *name, *type, *help;
		uint64_t value;
		bool needs_known;
	} plain[] = {
		{ "contigd_clients", "gauge", "Connected clients.", st->nsessions, false },
		{ "contigd_live_buffers", "gauge", "Live buffers of every client.",
		  ctr->live_nbuffers, true },
		{ "contigd_live_bytes", "gauge", "Bytes in live buffers of every client.",
		  ctr->live_len, true },
		{ "contigd_allocations", "counter", "Buffers allocated.", ctr->nallocs, true },
		{ "contigd_frees", "counter", "Buffers freed by a free request.", ctr->nfrees, true },
		{ "contigd_buffers_released", "counter",
		  "Buffers released because their client disconnected or died.", ctr->nreleased,
		  true },
		{ "contigd_frames_recycled", "counter",
		  "Frames revoked, zeroed and put back into their pool.", st->nrecycled, false },
		{ "contigd_frames_recycle_moved", "counter",
		  "Recycled frames that came back on another physical page.", st->nrecycle_moved,
		  false },
		{ "contigd_frames_recycle_truncated", "counter",
		  "Recycled frames whose owner had truncated their file.", st->nrecycle_truncated,
		  false },
		{ "contigd_frames_lost", "counter",
		  "Frames that could not be re-faulted and went out of service.", st->nframes_lost,
		  false },
		{ "contigd_frames_recovered", "counter",
		  "Lost frames a retry brought back into service.", st->nframes_recovered, false },
		{ "contigd_requests_waited_for_recycling", "counter",
		  "Requests put aside until a frame being recycled came back.",
		  st->nrequests_waited, false },
		{ "contigd_misuses_reported", "counter",
		  "Misuses clients reported (bad frees the Windows routines would bug-check on).",
		  st->nbugchecks, false },
		{ "contigd_sessions_restored", "counter",
		  "Sessions this instance adopted from the one before it (a restart).",
		  ctr->nsessions_restored, true },
		{ "contigd_sessions_resumed", "counter",
		  "Restored sessions their client reclaimed.", ctr->nsessions_resumed, true },
		{ "contigd_orphan_sessions", "gauge",
		  "Restored sessions still waiting for their client.", ctr->norphans, true },
		{ "contigd_start_time_seconds", "gauge",
		  "When the daemon started, in seconds since the epoch.", ctr->start_time, true },
	};
	char labels[LABELS_LEN];

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (plain[i].needs_known && !ctr->known)
			continue;
		family(w, plain[i].name, plain[i].type, plain[i].help);
		sample_u64(w, "", plain[i].value);
	}
	if (!ctr->known)
		return;
	family(w, "contigd_refusals", "counter",
	       "Requests and connections refused, by reason and the wire status sent.");
	for (uint32_t i = 0; i < ctr->nrefusals; i++) {
		static const char *const statuses[] = {
			"ok",        "invalid_argument",  "no_memory",   "quota_exceeded", "not_found",
			"mismatch",  "permission_denied", "unsupported", "protocol_error",
		};
		int s = ctr->refusals[i].status;

		labels[0] = '\0';
		label(labels, "reason", ctr->refusals[i].reason);
		label(labels, "status", s >= 0 && s < 9 ? statuses[s] : "unknown");
		sample_u64(w, labels, ctr->refusals[i].count);
	}
}

static void print_latency(struct writer *w, const struct contig_counters *ctr)
{
	char labels[LABELS_LEN], text[32];

	if (!ctr->known)
		return;
	family(w, "contigd_request_duration_seconds", "histogram",
	       "Time the daemon took over a request, from its arrival (or first arrival, if it "
	       "waited for frames being recycled) until its reply was sent.");
	for (uint32_t k = 0; k < ctr->nlatency; k++) {
		const struct contig_latency *l = &ctr->latency[k];
		uint64_t cum = 0;

		for (uint32_t b = 0; b <= l->nbuckets; b++) {
			cum += l->bucket_count[b];
			labels[0] = '\0';
			label(labels, "request", l->request);
			if (b < l->nbuckets)
				snprintf(text, sizeof(text), "%.10g", (double)l->le_ns[b] / 1e9);
			else
				snprintf(text, sizeof(text), "+Inf");
			label(labels, "le", text);
			snprintf(text, sizeof(text), "%" PRIu64, cum);
			sample(w, "_bucket", labels, text);
		}
		labels[0] = '\0';
		label(labels, "request", l->request);
		snprintf(text, sizeof(text), "%.9f", (double)l->sum_ns / 1e9);
		sample(w, "_sum", labels, text);
		snprintf(text, sizeof(text), "%" PRIu64, l->count);
		sample(w, "_count", labels, text);
	}
}

int metrics_print(FILE *out, const struct contig_stats *st, const struct contig_counters *ctr,
		  const struct contig_pool_window *windows, size_t nwindows,
		  const struct metrics_opts *o)
{
	struct writer w = { .out = out, .om = o->openmetrics };

	family(&w, "contigd_up", "gauge", "1 if contigd answered, 0 if no daemon did.");
	sample(&w, "", "", st ? "1" : "0");
	if (!st)
		goto out;
	print_pools(&w, st, ctr, windows, nwindows);
	print_tags(&w, st);
	print_clients(&w, st, ctr, o->top);
	print_counters(&w, st, ctr);
	print_latency(&w, ctr);
out:
	if (o->openmetrics)
		fprintf(out, "# EOF\n");
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

/* What metrics_print() needs, for atomic_write(): node_exporter's
 * textfile collector reads whatever is there at scrape time. */
struct metrics_doc {
	const struct contig_stats *st;
	const struct contig_counters *ctr;
	const struct contig_pool_window *windows;
	size_t nwindows;
	const struct metrics_opts *o;
};

static int print_doc(FILE *out, void *arg)
{
	const struct metrics_doc *doc = arg;

	return metrics_print(out, doc->st, doc->ctr, doc->windows, doc->nwindows, doc->o);
}

int metrics_cmd(struct contig_client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "top", required_argument, NULL, 't' },
		{ "openmetrics", no_argument, NULL, 'o' },
		{ "output", required_argument, NULL, 'O' },
		{ 0 },
	};
	struct metrics_opts o = { .top = 10 };
	/* static: large */
	static struct contig_stats st;
	static struct contig_counters ctr;
	struct contig_pool_window windows[sizeof(st.pools) / sizeof(st.pools[0])];
	struct metrics_doc doc;
	const char *output = NULL;
	size_t nwindows = 0;
	char *end;
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			errno = 0;
			o.top = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || o.top > 256)
				return 2;
			break;
		case 'o':
			o.openmetrics = true;
			break;
		case 'O':
			output = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return 2;
	if (!c) {
		/* Say so where the collector looks, rather than leave the last
		 * good numbers there. */
		struct metrics_doc down = { .o = &o };

		if (output)
			atomic_write(output, print_doc, &down);
		else
			metrics_print(stdout, NULL, NULL, NULL, 0, &o);
		return 1;
	}
	r = contig_get_counters(c, &st, &ctr);
	if (r == 0)
		r = contig_get_pool_windows(c, windows, sizeof(windows) / sizeof(windows[0]),
					    &nwindows);
	if (r < 0) {
		fprintf(stderr, "contigctl: metrics: %s (%s)\n",
			*contig_last_message() ? contig_last_message() : "failed", strerror(-r));
		return 1;
	}
	doc = (struct metrics_doc){ &st, &ctr, windows, nwindows, &o };
	r = output ? atomic_write(output, print_doc, &doc) : print_doc(stdout, &doc);
	if (r < 0) {
		fprintf(stderr, "contigctl: metrics: writing %s: %s\n", output ? output : "stdout",
			strerror(-r));
		return 1;
	}
	return 0;
}
