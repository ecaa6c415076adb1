/* test_contigctl.c - contigctl as an operator uses it (issue 6, "contigctl
 * for operators"): status, clients, tags, buffers and map, as tables, as
 * JSON and as SVG, read from the real build/contigctl binary run against
 * the real daemon while real client processes hold tagged buffers.
 *
 * What contigctl prints is checked against what the test knows on its own:
 * the buffers each holder process allocated and the physical addresses the
 * test reads itself from /proc/<holder>/pagemap; the pool totals from
 * contig_get_stats() on the test's own connection. The JSON is parsed by a
 * small parser here (so "valid JSON" is asserted, not assumed), the SVG
 * checked for well-formedness by a small checker here. A holder that runs
 * as nobody checks what the daemon shows it (its own buffers and frame
 * owners only), and contigctl run as nobody must show no other process.
 *
 * No sleeps: every holder reports over its socketpair once its buffers
 * are allocated, and the daemon's loop orders each request after those.
 * A wedged daemon fails the test by SIGALRM.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PAGE UINT64_C(4096)
#define FRAME (2 * MiB)
#define POOL "0:2M:64M" /* 32 frames */
#define POOL_FRAMES 32
#define NOBODY 65534u
#define NMANY 3000 /* 4 KiB buffers: more than one stats datagram lists */
#define HOLD_MAX 4

/* A tag as contigctl writes and shows it: 'ABCD' as a C multi-character
 * constant, 'A' in the high byte. */
#define CTAG(s) ((uint32_t)(s)[0] << 24 | (uint32_t)(s)[1] << 16 | (uint32_t)(s)[2] << 8 | (uint32_t)(s)[3])

static char confdir[64];

/* ---- a small JSON parser, to check what contigctl --json prints ---- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype type;
	bool b;
	double num;
	uint64_t u;      /* J_NUM written as a non-negative integer */
	bool is_uint;
	char *str;       /* J_STR */
	struct jval *v;  /* J_ARR, J_OBJ: elements / member values */
	char **keys;     /* J_OBJ */
	size_t n;
};

static void jfree(struct jval *j)
{
	for (size_t i = 0; i < j->n; i++) {
		jfree(&j->v[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->v);
	free(j->keys);
	free(j->str);
	memset(j, 0, sizeof(*j));
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
		(*p)++;
}

static bool jparse_value(const char **p, struct jval *out, int depth);

static bool jparse_string(const char **p, char **ret)
{
	size_t cap = 16, n = 0;
	char *s = malloc(cap);

	if (**p != '"')
		goto out_fail;
	for ((*p)++; **p != '"'; (*p)++) {
		unsigned char ch = (unsigned char)**p;

		if (ch < 0x20)
			goto out_fail; /* raw control characters are not JSON */
		if (ch == '\\') {
			(*p)++;
			switch (**p) {
			case '"': case '\\': case '/': ch = (unsigned char)**p; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'u': {
				unsigned v = 0;

				for (int k = 1; k <= 4; k++) {
					char h = (*p)[k];

					if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
					      (h >= 'A' && h <= 'F')))
						goto out_fail;
					v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
				}
				*p += 4;
				ch = v < 256 ? (unsigned char)v : '?';
				break;
			}
			default:
				goto out_fail;
			}
		}
		if (n + 2 > cap)
			s = realloc(s, cap *= 2);
		s[n++] = (char)ch;
	}
	(*p)++;
	s[n] = '\0';
	*ret = s;
	return true;

out_fail:
	free(s);
	return false;
}

static bool jparse_number(const char **p, struct jval *out)
{
	const char *start = *p;
	char *end;

	if (**p == '-')
		(*p)++;
	if (!(**p >= '0' && **p <= '9'))
		return false;
	if (**p == '0' && (*p)[1] >= '0' && (*p)[1] <= '9')
		return false; /* no leading zeros */
	while (**p >= '0' && **p <= '9')
		(*p)++;
	out->is_uint = *start != '-' && **p != '.' && **p != 'e' && **p != 'E';
	if (**p == '.') {
		(*p)++;
		if (!(**p >= '0' && **p <= '9'))
			return false;
		while (**p >= '0' && **p <= '9')
			(*p)++;
	}
	if (**p == 'e' || **p == 'E') {
		(*p)++;
		if (**p == '+' || **p == '-')
			(*p)++;
		if (!(**p >= '0' && **p <= '9'))
			return false;
		while (**p >= '0' && **p <= '9')
			(*p)++;
	}
	out->type = J_NUM;
	out->num = strtod(start, &end);
	if (out->is_uint)
		out->u = strtoull(start, NULL, 10);
	return end == *p;
}

static bool jparse_container(const char **p, struct jval *out, int depth, bool object)
{
	char close = object ? '}' : ']';

	out->type = object ? J_OBJ : J_ARR;
	(*p)++;
	skip_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		char *key = NULL;

		out->v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
		memset(&out->v[out->n], 0, sizeof(*out->v));
		if (object) {
			out->keys = realloc(out->keys, (out->n + 1) * sizeof(*out->keys));
			skip_ws(p);
			if (!jparse_string(p, &key))
				return false;
			out->keys[out->n] = key;
			skip_ws(p);
			if (**p != ':') {
				out->n++;
				return false;
			}
			(*p)++;
		}
		if (!jparse_value(p, &out->v[out->n++], depth + 1))
			return false;
		skip_ws(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		if (**p != ',')
			return false;
		(*p)++;
	}
}

static bool jparse_value(const char **p, struct jval *out, int depth)
{
	if (depth > 32)
		return false;
	skip_ws(p);
	switch (**p) {
	case '{':
		return jparse_container(p, out, depth, true);
	case '[':
		return jparse_container(p, out, depth, false);
	case '"':
		out->type = J_STR;
		return jparse_string(p, &out->str);
	case 't':
		out->type = J_BOOL;
		out->b = true;
		return strncmp(*p, "true", 4) == 0 && (*p += 4);
	case 'f':
		out->type = J_BOOL;
		return strncmp(*p, "false", 5) == 0 && (*p += 5);
	case 'n':
		out->type = J_NULL;
		return strncmp(*p, "null", 4) == 0 && (*p += 4);
	default:
		return jparse_number(p, out);
	}
}

/* Parse the whole of @text as one JSON value. */
static bool jparse(const char *text, struct jval *out)
{
	const char *p = text;
	bool good;

	memset(out, 0, sizeof(*out));
	good = jparse_value(&p, out, 0);
	skip_ws(&p);
	if (!good || *p) {
		jfree(out);
		return false;
	}
	return true;
}

static const struct jval *jget(const struct jval *obj, const char *key)
{
	if (!obj || obj->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->v[i];
	return NULL;
}

/* Member @key as an unsigned integer; UINT64_MAX if absent or not one. */
static uint64_t jget_u64(const struct jval *obj, const char *key)
{
	const struct jval *v = jget(obj, key);

	return v && v->type == J_NUM && v->is_uint ? v->u : UINT64_MAX;
}

static const char *jget_str(const struct jval *obj, const char *key)
{
	const struct jval *v = jget(obj, key);

	return v && v->type == J_STR ? v->str : "";
}

/* Array member @key (NULL if absent). */
static const struct jval *jget_arr(const struct jval *obj, const char *key)
{
	const struct jval *v = jget(obj, key);

	return v && v->type == J_ARR ? v : NULL;
}

/* ---- a small XML well-formedness check, for the SVG ---- */

/* Is @doc well-formed XML with root element <svg>: tags balanced and
 * nested, attributes name="value" without '<', only the predefined
 * entities? Names the first fault in @why. */
static bool xml_well_formed(const char *doc, char *why, size_t whylen)
{
	char stack[64][32];
	int depth = 0, nroots = 0;
	const char *p = doc;

	if (strncmp(p, "<?xml ", 6) == 0) {
		p = strstr(p, "?>");
		if (!p)
			return snprintf(why, whylen, "unterminated declaration"), false;
		p += 2;
	}
	while (*p) {
		if (*p == '&') {
			static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
			bool known = false;

			for (size_t i = 0; i < 5; i++)
				known |= strncmp(p, ents[i], strlen(ents[i])) == 0;
			if (!known && p[1] != '#')
				return snprintf(why, whylen, "bad entity at %.20s", p), false;
			p++;
			continue;
		}
		if (*p != '<') {
			if (depth == 0 && !(*p == ' ' || *p == '\n'))
				return snprintf(why, whylen, "text outside the root: %.20s", p), false;
			p++;
			continue;
		}
		if (p[1] == '/') {
			size_t n = strcspn(p + 2, ">");

			if (depth == 0 || n != strlen(stack[depth - 1]) ||
			    strncmp(p + 2, stack[depth - 1], n) != 0 || p[2 + n] != '>')
				return snprintf(why, whylen, "mismatched end tag %.20s", p), false;
			depth--;
			p += n + 3;
			continue;
		}
		{
			char name[32];
			size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-:");

			if (n == 0 || n >= sizeof(name))
				return snprintf(why, whylen, "bad tag at %.20s", p), false;
			memcpy(name, p + 1, n);
			name[n] = '\0';
			p += 1 + n;
			/* attributes */
			for (;;) {
				size_t an;

				while (*p == ' ' || *p == '\n')
					p++;
				if (*p == '>' || (p[0] == '/' && p[1] == '>'))
					break;
				an = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-:");
				if (an == 0 || p[an] != '=' || p[an + 1] != '"')
					return snprintf(why, whylen, "bad attribute at %.30s", p), false;
				p += an + 2;
				while (*p && *p != '"') {
					if (*p == '<')
						return snprintf(why, whylen, "'<' in an attribute"), false;
					p++;
				}
				if (!*p)
					return snprintf(why, whylen, "unterminated attribute"), false;
				p++;
			}
			if (depth == 0 && (nroots++ > 0 || strcmp(name, "svg") != 0))
				return snprintf(why, whylen, "root element is %s", name), false;
			if (*p == '/') {
				p += 2;
				continue;
			}
			p++;
			if (depth == 64)
				return snprintf(why, whylen, "too deep"), false;
			snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
		}
	}
	if (depth != 0 || nroots != 1)
		return snprintf(why, whylen, "%d elements left open", depth), false;
	return true;
}

/* The value of attribute @name in the tag starting at @tag ("" if none),
 * into @buf. */
static const char *attr_of(const char *tag, const char *name, char *buf, size_t len)
{
	const char *end = strchr(tag, '>');
	char pat[48];
	const char *a;

	snprintf(pat, sizeof(pat), " %s=\"", name);
	a = strstr(tag, pat);
	buf[0] = '\0';
	if (a && end && a < end) {
		size_t n;

		a += strlen(pat);
		n = strcspn(a, "\"");
		if (n >= len)
			n = len - 1;
		memcpy(buf, a, n);
		buf[n] = '\0';
	}
	return buf;
}

/* ---- running contigctl ---- */

/* contigctl's stderr of the last run (shown when a check fails). */
static char errbuf[4096];

/* Run contigctl with @args as @uid (0: root): see harness_run_program(). */
static int run_ctl(uid_t uid, const char *const *args, char **ret_out)
{
	return harness_run_program("contigctl", uid, args, ret_out, errbuf, sizeof(errbuf));
}

/* Run contigctl and parse its stdout as JSON into @ret; false if it failed
 * or did not print one JSON value. */
static bool ctl_json(uid_t uid, const char *const *args, struct jval *ret)
{
	char *out;
	int status = run_ctl(uid, args, &out);
	bool good = status == 0 && jparse(out, ret);

	if (!good)
		diag("  contigctl %s %s: status %d, output: %.300s, stderr: %s", args[0],
		     args[1] ? args[1] : "", status, out, errbuf);
	free(out);
	return good;
}

/* ---- holders: client processes that keep tagged buffers ---- */

struct holder_spec {
	const char *comm;
	uid_t uid;                /* 0: stays root */
	uint32_t nbufs;
	uint64_t len[HOLD_MAX];
	uint32_t tag[HOLD_MAX];
	uint32_t freed_tag;       /* first allocate and free one 4 KiB buffer of it (0: no) */
	uint32_t nmany;           /* then this many 4 KiB buffers tagged many_tag */
	uint32_t many_tag;
};

struct holder_report {
	int rc;
	char message[200];
	struct {
		uint64_t virt, phys, len;
	} bufs[HOLD_MAX];
	/* What the daemon shows this holder itself (contig_list_*()). */
	int list_rc;
	uint32_t nlisted, nlisted_mine;  /* buffers listed; of them its own pid */
	uint32_t nframes, nframes_mine, nframes_hidden, nframes_other;
	uint32_t my_nframes;             /* stats: frames it owns */
};

static int holder_main(int fd, void *arg)
{
	const struct holder_spec *h = arg;
	static struct holder_report rep;
	struct contig_client *c = NULL;
	struct contig_buffer b;
	struct contig_alloc_req req;
	struct contig_buffer_info *bufs = NULL;
	struct contig_frame_info *frames = NULL;
	struct contig_stats st;
	size_t nbufs = 0, nframes = 0;
	char byte;

	harness_close_inherited(fd);
	prctl(PR_SET_NAME, h->comm, 0, 0, 0);
	if (h->uid && (setgroups(0, NULL) < 0 || setgid(h->uid) < 0 || setuid(h->uid) < 0))
		return 3;
	rep.rc = contig_connect(NULL, &c);
	if (rep.rc == 0 && h->freed_tag) {
		contig_alloc_req_init(&req, PAGE);
		req.tag = h->freed_tag;
		rep.rc = contig_alloc(c, &req, &b);
		if (rep.rc == 0)
			rep.rc = contig_free(c, b.virt);
	}
	for (uint32_t i = 0; rep.rc == 0 && i < h->nbufs; i++) {
		contig_alloc_req_init(&req, h->len[i]);
		req.tag = h->tag[i];
		rep.rc = contig_alloc(c, &req, &b);
		if (rep.rc == 0) {
			memset(b.virt, 0x5a, b.len); /* fault it in: pagemap shows it */
			rep.bufs[i].virt = (uintptr_t)b.virt;
			rep.bufs[i].phys = b.phys;
			rep.bufs[i].len = b.len;
		}
	}
	if (rep.rc == 0 && h->nmany) {
		struct contig_alloc_req *reqs = calloc(h->nmany, sizeof(*reqs));
		struct contig_buffer *many = calloc(h->nmany, sizeof(*many));

		for (uint32_t i = 0; reqs && i < h->nmany; i++) {
			contig_alloc_req_init(&reqs[i], PAGE);
			reqs[i].tag = h->many_tag;
		}
		rep.rc = reqs && many ? contig_alloc_many(c, reqs, h->nmany, many) : -ENOMEM;
		free(reqs);
		free(many); /* the buffers stay allocated and mapped */
	}
	if (rep.rc == 0) {
		rep.list_rc = contig_list_buffers(c, &bufs, &nbufs);
		if (rep.list_rc == 0)
			rep.list_rc = contig_list_frames(c, &frames, &nframes);
		if (rep.list_rc == 0)
			rep.list_rc = contig_get_stats(c, &st);
	}
	if (rep.rc == 0 && rep.list_rc == 0) {
		rep.nlisted = (uint32_t)nbufs;
		for (size_t i = 0; i < nbufs; i++)
			rep.nlisted_mine += bufs[i].pid == getpid();
		rep.nframes = (uint32_t)nframes;
		for (size_t i = 0; i < nframes; i++) {
			if (frames[i].status != CONTIG_FRAME_STATUS_OWNED)
				continue;
			if (frames[i].owner_pid == getpid())
				rep.nframes_mine++;
			else if (frames[i].owner_pid == 0 && frames[i].phys == 0)
				rep.nframes_hidden++; /* owner and whereabouts both hidden */
			else
				rep.nframes_other++;
		}
		rep.my_nframes = st.my_nframes;
	}
	snprintf(rep.message, sizeof(rep.message), "%s", contig_last_message());
	free(bufs);
	free(frames);
	harness_send(fd, &rep, sizeof(rep));
	/* Hold everything until the parent closes its end. */
	while (read(fd, &byte, 1) > 0)
		;
	contig_disconnect(c);
	return 0;
}

struct holder {
	const struct holder_spec *spec;
	struct harness_child ch;
	struct holder_report rep;
	uint64_t pagemap_phys[HOLD_MAX]; /* read by the test itself */
};

static void holder_start(struct holder *h, const struct holder_spec *spec)
{
	h->spec = spec;
	harness_child_start(&h->ch, holder_main, (void *)spec);
	harness_recv(h->ch.fd, &h->rep, sizeof(h->rep));
	if (h->rep.rc < 0)
		bail_out("holder %s: %d %s", spec->comm, h->rep.rc, h->rep.message);
	for (uint32_t i = 0; i < spec->nbufs; i++)
		h->pagemap_phys[i] =
			harness_phys_of(h->ch.pid, (const void *)(uintptr_t)h->rep.bufs[i].virt);
}

static void holder_stop(struct holder *h)
{
	int status = harness_child_wait(&h->ch);

	if (status != 0)
		diag("  holder %s exited with status %d", h->spec->comm, status);
}

/* Bytes the holder holds, as the daemon counts them (4 KiB rounding). */
static uint64_t holder_len(const struct holder *h)
{
	uint64_t len = (uint64_t)h->spec->nmany * PAGE;

	for (uint32_t i = 0; i < h->spec->nbufs; i++)
		len += harness_round_page(h->spec->len[i]);
	return len;
}

static const struct jval *find_by_u64(const struct jval *arr, const char *key, uint64_t v)
{
	for (size_t i = 0; arr && i < arr->n; i++)
		if (jget_u64(&arr->v[i], key) == v)
			return &arr->v[i];
	return NULL;
}

/* ---- the tests ---- */

static const struct holder_spec spec_a = {
	.comm = "holder-alpha",
	.nbufs = 3,
	.len = { 1536 * 1024, 64 * 1024, 5000 }, /* one frame each: adjacency is luck */
	.tag = { CTAG("ABCD"), CTAG("ABCD"), CTAG("NDIS") },
	.freed_tag = CTAG("ABCD"),
};
static const struct holder_spec spec_b = {
	.comm = "holder-beta",
	.nbufs = 2,
	.len = { 2 * MiB, 8192 },
	.tag = { CTAG("DMA1"), CTAG("NDIS") },
	.nmany = NMANY,
	.many_tag = CTAG("MANY"),
};
static const struct holder_spec spec_nobody = {
	.comm = "holder-nobody",
	.uid = NOBODY,
	.nbufs = 2,
	.len = { 1 * MiB, PAGE },
	.tag = { CTAG("NOBD"), CTAG("NOBD") },
};

static struct holder holders[3];
#define NHOLDERS 3

static void test_status(struct contig_client *me)
{
	static const char *const args[] = { "status", "--json", NULL };
	static const char *const text_args[] = { "status", NULL };
	struct contig_stats st;
	const struct contig_pool_stats *p;
	const struct jval *pools, *jp;
	struct jval j;
	char *out;
	uint64_t runs;

	if (!ok(ctl_json(0, args, &j), "status_json_is_valid_json"))
		return;
	if (contig_get_stats(me, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	p = &st.pools[0];
	pools = jget_arr(&j, "pools");
	jp = pools && pools->n == st.npools ? &pools->v[0] : NULL;
	if (!ok(jp && jget_u64(jp, "total_len") == p->total_len &&
			jget_u64(jp, "free_len") == p->free_len &&
			jget_u64(jp, "largest_free_len") == p->largest_free_len &&
			jget_u64(jp, "nframes") == p->nframes &&
			jget_u64(jp, "nframes_owned") == p->nframes_owned &&
			jget_u64(jp, "nsegments") == p->nsegments &&
			jget_u64(jp, "nbuffers") == p->nbuffers &&
			jget_u64(jp, "nclients") == p->nclients && jget_u64(jp, "page_len") == FRAME,
		"status_json_pool_numbers_match_contig_get_stats"))
		diag("  free %llu vs %llu, owned %llu vs %u, buffers %llu vs %u",
		     (unsigned long long)jget_u64(jp, "free_len"), (unsigned long long)p->free_len,
		     (unsigned long long)jget_u64(jp, "nframes_owned"), p->nframes_owned,
		     (unsigned long long)jget_u64(jp, "nbuffers"), p->nbuffers);
	/* contigctl's own connection is one more session. */
	ok(jget_u64(&j, "nsessions") == st.nsessions + 1, "status_json_counts_sessions");
	ok(jp && jget(jp, "fragmentation") && jget(jp, "fragmentation")->type == J_NUM &&
		   fabs(jget(jp, "fragmentation")->num -
			(1.0 - (double)p->largest_free_len / (double)p->free_len)) < 1e-3,
	   "status_fragmentation_is_one_minus_largest_over_free");
	/* Every free run is at most the largest one; there is one per free frame at most. */
	runs = jget_u64(jp, "nfree_runs");
	ok(runs != UINT64_MAX && runs * p->largest_free_len >= p->free_len &&
		   runs <= p->free_len / FRAME && (runs == 1) == (p->largest_free_len == p->free_len),
	   "status_free_runs_agree_with_free_and_largest");
	jfree(&j);

	if (run_ctl(0, text_args, &out) == 0) {
		char total[32], freeb[32];
		unsigned pool, frames, owned;
		int node;
		const char *line = strchr(out, '\n');

		snprintf(freeb, sizeof(freeb), "%lluM", (unsigned long long)(p->free_len >> 20));
		ok(line && sscanf(line + 1, "%u %d %*s %31s %*s %*s %*s %*s %u %u", &pool, &node,
				  total, &frames, &owned) == 5 &&
			   pool == 0 && node == 0 && strcmp(total, "64M") == 0 &&
			   frames == POOL_FRAMES && owned == p->nframes_owned && strstr(line, freeb),
		   "status_table_shows_the_pool_row");
	} else {
		ok(false, "status_table_shows_the_pool_row");
	}
	free(out);
}

static void test_clients(void)
{
	static const char *const args[] = { "clients", "--json", NULL };
	const struct jval *clients;
	struct jval j;
	bool good = true;

	if (!ok(ctl_json(0, args, &j), "clients_json_is_valid_json"))
		return;
	clients = jget_arr(&j, "clients");
	for (int i = 0; i < NHOLDERS; i++) {
		const struct holder *h = &holders[i];
		const struct jval *c = find_by_u64(clients, "pid", (uint64_t)h->ch.pid);
		uint32_t nbufs = h->spec->nbufs + h->spec->nmany;

		if (!c || jget_u64(c, "len") != holder_len(h) || jget_u64(c, "nbuffers") != nbufs ||
		    jget_u64(c, "uid") != h->spec->uid || strcmp(jget_str(c, "comm"), h->spec->comm)) {
			diag("  %s (pid %d): %s, len %llu (want %llu)", h->spec->comm, (int)h->ch.pid,
			     c ? "listed" : "missing", (unsigned long long)jget_u64(c, "len"),
			     (unsigned long long)holder_len(h));
			good = false;
		}
	}
	ok(good, "clients_json_lists_each_holder_with_its_uid_name_bytes_and_buffers");
	ok(jget(&j, "visible") && jget(&j, "visible")->b, "clients_json_is_complete_for_root");
	jfree(&j);
}

static void test_buffers(void)
{
	static const char *const args[] = { "buffers", "--json", NULL };
	const struct jval *bufs;
	struct jval j;
	bool good = true, phys_seen = true;
	size_t want = 0, nmany = 0;

	if (!ok(ctl_json(0, args, &j), "buffers_json_is_valid_json"))
		return;
	bufs = jget_arr(&j, "buffers");
	for (int i = 0; i < NHOLDERS; i++)
		want += holders[i].spec->nbufs + holders[i].spec->nmany;
	if (!ok(bufs && bufs->n == want, "buffers_json_lists_every_live_buffer_across_pages"))
		diag("  %zu listed, %zu live", bufs ? bufs->n : 0, want);
	for (int i = 0; i < NHOLDERS; i++) {
		const struct holder *h = &holders[i];

		for (uint32_t k = 0; k < h->spec->nbufs; k++) {
			const struct jval *b = find_by_u64(bufs, "phys", h->pagemap_phys[k]);
			char tag[5];

			memcpy(tag, (const char[4]){ (char)(h->spec->tag[k] >> 24),
						     (char)(h->spec->tag[k] >> 16),
						     (char)(h->spec->tag[k] >> 8), (char)h->spec->tag[k] },
			       4);
			tag[4] = '\0';
			phys_seen &= h->pagemap_phys[k] != 0 && h->pagemap_phys[k] == h->rep.bufs[k].phys;
			if (!b || jget_u64(b, "pid") != (uint64_t)h->ch.pid ||
			    jget_u64(b, "len") != h->rep.bufs[k].len ||
			    jget_u64(b, "tag_value") != h->spec->tag[k] ||
			    strcmp(jget_str(b, "tag"), tag) || strcmp(jget_str(b, "comm"), h->spec->comm) ||
			    jget_u64(b, "node") != 0 || jget_u64(b, "page_len") != FRAME ||
			    strcmp(jget_str(b, "cache_type"), "cached")) {
				diag("  %s buffer %u at pagemap 0x%llx: %s", h->spec->comm, k,
				     (unsigned long long)h->pagemap_phys[k], b ? "differs" : "missing");
				good = false;
			}
		}
	}
	ok(phys_seen, "pagemap_agrees_with_libcontig_on_each_holders_buffer");
	ok(good, "buffers_json_phys_equal_pagemap_with_owner_len_tag_node_and_cache");
	for (size_t i = 0; bufs && i < bufs->n; i++)
		nmany += jget_u64(&bufs->v[i], "tag_value") == CTAG("MANY") &&
			 jget_u64(&bufs->v[i], "pid") == (uint64_t)holders[1].ch.pid;
	ok(nmany == NMANY, "buffers_json_has_all_small_buffers_of_one_client");
	jfree(&j);
}

/* The tags row @name of `contigctl tags`: allocs, frees, diff, bytes. */
static bool tags_row(const char *out, const char *name, uint64_t *ret)
{
	for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char tag[8];
		unsigned long long a, f, b;
		long long d;

		if (sscanf(line, "%7s %llu %llu %lld %llu", tag, &a, &f, &d, &b) == 5 &&
		    strcmp(tag, name) == 0) {
			ret[0] = a;
			ret[1] = f;
			ret[2] = (uint64_t)d;
			ret[3] = b;
			return true;
		}
	}
	return false;
}

static void test_tags(void)
{
	static const char *const args[] = { "tags", "--json", NULL };
	static const char *const text_args[] = { "tags", NULL };
	const struct jval *tags, *t;
	struct jval j;
	uint64_t row[4];
	char *out;

	if (!ok(ctl_json(0, args, &j), "tags_json_is_valid_json"))
		return;
	tags = jget_arr(&j, "tags");
	/* ABCD: three allocated (one freed at once), two live: 1.5 MiB + 64 KiB. */
	t = find_by_u64(tags, "value", CTAG("ABCD"));
	if (!ok(t && !strcmp(jget_str(t, "tag"), "ABCD") && jget_u64(t, "nallocs") == 3 &&
			jget_u64(t, "nfrees") == 1 && jget_u64(t, "diff") == 2 &&
			jget_u64(t, "nbuffers") == 2 && jget_u64(t, "len") == 1536 * 1024 + 64 * 1024,
		"tags_json_counts_allocs_frees_diff_and_bytes"))
		diag("  ABCD: %s", t ? "wrong counts" : "missing");
	/* NDIS: one from each root holder. */
	t = find_by_u64(tags, "value", CTAG("NDIS"));
	ok(t && jget_u64(t, "nbuffers") == 2 && jget_u64(t, "len") == 8192 + 8192,
	   "tags_json_sums_a_tag_over_processes");
	t = find_by_u64(tags, "value", CTAG("MANY"));
	ok(t && jget_u64(t, "nbuffers") == NMANY && jget_u64(t, "len") == NMANY * PAGE,
	   "tags_json_counts_many_buffers");
	ok(tags && tags->n >= 2 && jget_u64(&tags->v[0], "len") >= jget_u64(&tags->v[1], "len"),
	   "tags_most_bytes_first");
	jfree(&j);
	if (run_ctl(0, text_args, &out) != 0)
		out[0] = '\0';
	ok(tags_row(out, "ABCD", row) && row[0] == 3 && row[1] == 1 && row[2] == 2 &&
		   row[3] == 1536 * 1024 + 64 * 1024,
	   "tags_table_shows_poolmon_columns");
	free(out);
}

/* The frame (2 MiB aligned) of physical address @phys is owned by @pid in
 * the SVG @doc? */
static bool svg_frame_owner(const char *doc, uint64_t phys, int pid)
{
	char pat[64], buf[32];
	const char *r;

	snprintf(pat, sizeof(pat), "data-phys=\"0x%llx\"",
		 (unsigned long long)(phys - phys % FRAME));
	r = strstr(doc, pat);
	if (!r)
		return false;
	while (r > doc && *r != '<')
		r--;
	return strncmp(r, "<rect class=\"frame owned\"", 25) == 0 &&
	       atoi(attr_of(r, "data-owner", buf, sizeof(buf))) == pid;
}

static void test_map_svg(struct contig_client *me)
{
	char path[128], why[128] = "", fill[32], free_fill[32] = "", cls[64];
	const char *args[] = { "map", "--svg", path, NULL };
	struct contig_stats st;
	size_t nframes = 0, nowned = 0, len;
	bool fills_differ = true, good = true;
	char *out, *doc;
	FILE *f;

	snprintf(path, sizeof(path), "%s/map.svg", confdir);
	if (!ok(run_ctl(0, args, &out) == 0, "map_svg_writes_a_file")) {
		free(out);
		return;
	}
	free(out);
	f = fopen(path, "re");
	if (!f)
		bail_out("open %s: %s", path, strerror(errno));
	doc = malloc(1 << 22);
	len = fread(doc, 1, (1 << 22) - 1, f);
	doc[len] = '\0';
	fclose(f);
	unlink(path);
	if (!ok(xml_well_formed(doc, why, sizeof(why)), "map_svg_is_well_formed_svg"))
		diag("  %s", why);
	if (contig_get_stats(me, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	for (const char *r = strstr(doc, "<rect "); r; r = strstr(r + 1, "<rect ")) {
		attr_of(r, "class", cls, sizeof(cls));
		if (strncmp(cls, "frame", 5) != 0)
			continue;
		nframes++;
		attr_of(r, "fill", fill, sizeof(fill));
		if (!strcmp(cls, "frame free")) {
			if (free_fill[0] && strcmp(free_fill, fill))
				fills_differ = false; /* free frames share one colour */
			snprintf(free_fill, sizeof(free_fill), "%s", fill);
		}
	}
	for (const char *r = strstr(doc, "<rect class=\"frame owned\""); r;
	     r = strstr(r + 1, "<rect class=\"frame owned\"")) {
		nowned++;
		if (!strcmp(attr_of(r, "fill", fill, sizeof(fill)), free_fill) || !fill[0])
			fills_differ = false;
	}
	if (!ok(nframes == POOL_FRAMES, "map_svg_has_one_rect_per_frame_of_the_pool"))
		diag("  %zu frame rects", nframes);
	if (!ok(nowned == st.pools[0].nframes_owned, "map_svg_owned_rects_are_the_owned_frames"))
		diag("  %zu owned rects, %u owned frames", nowned, st.pools[0].nframes_owned);
	ok(fills_differ && free_fill[0], "map_svg_colours_owned_frames_apart_from_free_ones");
	for (int i = 0; i < NHOLDERS; i++)
		for (uint32_t k = 0; k < holders[i].spec->nbufs; k++)
			good &= svg_frame_owner(doc, holders[i].pagemap_phys[k], holders[i].ch.pid);
	ok(good, "map_svg_frame_under_each_buffer_is_owned_by_its_holder");
	{
		char title[64];

		snprintf(title, sizeof(title), "pool 0: node 0, 2M pages, %d frames", POOL_FRAMES);
		ok(strstr(doc, title) && strstr(doc, "class=\"legend\"") &&
			   strstr(doc, "holder-alpha") && strstr(doc, "holder-beta"),
		   "map_svg_has_pool_title_and_legend_naming_the_owners");
	}
	free(doc);
}

static void test_map_text_and_json(void)
{
	static const char *const args[] = { "map", NULL };
	static const char *const json_args[] = { "map", "--json", NULL };
	const struct jval *pools, *frames, *owners;
	size_t ncells = 0, nletters = 0;
	struct jval j;
	bool legend = true, owners_good = true;
	char *out;

	ok(run_ctl(0, args, &out) == 0 && !strchr(out, '\033'),
	   "map_text_is_plain_ascii_when_stdout_is_not_a_tty");
	/* Rows: "0x<address> <cells>"; a cell per frame, blanks between segments. */
	for (const char *line = out; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *cells;

		if (strncmp(line, "0x", 2) != 0 || !(cells = strchr(line, ' ')))
			continue;
		for (cells++; *cells && *cells != '\n'; cells++) {
			ncells += *cells != ' ';
			nletters += *cells >= 'A' && *cells <= 'Z';
		}
	}
	if (!ok(ncells == POOL_FRAMES, "map_text_has_one_cell_per_frame"))
		diag("  %zu cells:\n%s", ncells, out);
	for (int i = 0; i < NHOLDERS; i++) {
		char want[64];

		snprintf(want, sizeof(want), "pid %-7d %s", (int)holders[i].ch.pid,
			 holders[i].spec->comm);
		legend &= strstr(out, want) != NULL;
	}
	ok(legend && nletters > 0, "map_text_legend_names_each_owner_by_pid_and_process");
	free(out);

	if (!ok(ctl_json(0, json_args, &j), "map_json_is_valid_json"))
		return;
	pools = jget_arr(&j, "pools");
	frames = pools && pools->n == 1 ? jget_arr(&pools->v[0], "frames") : NULL;
	owners = jget_arr(&j, "owners");
	ok(frames && frames->n == POOL_FRAMES, "map_json_lists_every_frame");
	for (int i = 0; i < NHOLDERS; i++) {
		const struct jval *o = find_by_u64(owners, "pid", (uint64_t)holders[i].ch.pid);

		owners_good &= o && !strcmp(jget_str(o, "comm"), holders[i].spec->comm) &&
			       jget_u64(o, "nframes") != UINT64_MAX && jget_u64(o, "nframes") > 0;
	}
	ok(owners_good, "map_json_names_each_owner");
	jfree(&j);
}

/* What nobody sees: through libcontig in its holder, and through contigctl. */
static void test_nobody(void)
{
	static const char *const bargs[] = { "buffers", "--json", NULL };
	static const char *const cargs[] = { "clients", "--json", NULL };
	static const char *const margs[] = { "map", "--json", NULL };
	static const char *const sargs[] = { "status", "--json", NULL };
	const struct holder_report *r = &holders[2].rep;
	const struct jval *arr, *frames;
	struct jval j;
	bool hidden = true;

	ok(r->list_rc == 0 && r->nlisted == 2 && r->nlisted_mine == 2,
	   "a_non_root_client_lists_only_its_own_buffers");
	if (!ok(r->list_rc == 0 && r->nframes == POOL_FRAMES && r->nframes_mine == r->my_nframes &&
			r->nframes_mine > 0 && r->nframes_other == 0 && r->nframes_hidden > 0,
		"a_non_root_client_sees_every_frames_state_but_only_its_own_owners_and_addresses"))
		diag("  rc %d: %u frames, %u mine (%u owned), %u hidden, %u others'", r->list_rc,
		     r->nframes, r->nframes_mine, r->my_nframes, r->nframes_hidden, r->nframes_other);

	if (ok(ctl_json(NOBODY, bargs, &j), "contigctl_buffers_runs_as_nobody")) {
		arr = jget_arr(&j, "buffers");
		ok(arr && arr->n == 0, "contigctl_as_nobody_lists_no_other_process_buffers");
		jfree(&j);
	}
	if (ctl_json(NOBODY, cargs, &j)) {
		arr = jget_arr(&j, "clients");
		ok(arr && arr->n == 0 && jget(&j, "visible") && !jget(&j, "visible")->b,
		   "contigctl_clients_as_nobody_shows_no_process");
		jfree(&j);
	} else {
		ok(false, "contigctl_clients_as_nobody_shows_no_process");
	}
	if (ctl_json(NOBODY, margs, &j)) {
		/* contigctl is a session of its own and holds nothing: no frame
		 * is its own, so none has an address for it, and its map draws
		 * none (issue 20: not even the free ones). */
		size_t nshown = 0;

		arr = jget_arr(&j, "pools");
		for (size_t p = 0; arr && p < arr->n; p++) {
			frames = jget_arr(&arr->v[p], "frames");
			nshown += frames ? frames->n : 0;
			for (size_t i = 0; frames && i < frames->n; i++)
				if (jget(&frames->v[i], "owner_pid") &&
				    jget(&frames->v[i], "owner_pid")->type != J_NULL)
					hidden = false;
		}
		ok(arr && nshown == 0 && hidden, "contigctl_map_as_nobody_draws_no_frame_of_others");
		jfree(&j);
	} else {
		ok(false, "contigctl_map_as_nobody_draws_no_frame_of_others");
	}
	{
		static const char *const targs[] = { "map", NULL };
		unsigned n = 0, nfree = 0, nowned = 0, nrec = 0, nlost = 0;
		const char *note;
		char *out;

		if (run_ctl(NOBODY, targs, &out) != 0)
			out[0] = '\0';
		note = strstr(out, "frames not shown");
		while (note && note > out && note[-1] != '(')
			note--;
		if (!ok(note && sscanf(note, "%u frames not shown, their physical addresses are for "
					     "root only: %u free, %u owned by other clients, %u "
					     "recycling, %u lost)", &n, &nfree, &nowned, &nrec,
				       &nlost) == 5 &&
				n == POOL_FRAMES && nfree + nowned + nrec + nlost == n && nowned > 0,
			"contigctl_map_as_nobody_counts_the_frames_it_does_not_show_by_state"))
			diag("  output: %s", out);
		free(out);
	}
	if (ctl_json(NOBODY, sargs, &j)) {
		arr = jget_arr(&j, "pools");
		ok(arr && arr->n == 1 && jget_u64(&arr->v[0], "total_len") == 64 * MiB,
		   "contigctl_status_as_nobody_shows_the_pools_totals");
		jfree(&j);
	} else {
		ok(false, "contigctl_status_as_nobody_shows_the_pools_totals");
	}
}

static void test_usage(void)
{
	static const char *const bad[] = { "map", "--json", "--svg", "/dev/null", NULL };
	static const char *const unknown[] = { "frobnicate", NULL };
	char *out;

	ok(run_ctl(0, bad, &out) == 2, "map_refuses_json_and_svg_together");
	free(out);
	ok(run_ctl(0, unknown, &out) == 2, "an_unknown_command_is_a_usage_error");
	free(out);
}

int main(void)
{
	static const char conf[] = "socket_group = 0\nsocket_mode = 0666\nallow_users = nobody\n";
	char path[128];
	const char *args[] = { "--config", path, "--pool", POOL, NULL };
	struct harness_daemon dm;
	struct contig_client *me;
	FILE *f;

	alarm(300);
	snprintf(confdir, sizeof(confdir), "/tmp/contigctl-test-XXXXXX");
	if (!mkdtemp(confdir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/contigd.conf", confdir);
	f = fopen(path, "w");
	if (!f || fputs(conf, f) < 0 || fclose(f))
		bail_out("cannot write %s", path);
	harness_daemon_start(&dm, args);
	unlink(path);
	/* Every user may reach the socket: its mode is the only gate. */
	if (chmod(dm.dir, 0711) < 0)
		bail_out("chmod %s: %s", dm.dir, strerror(errno));
	me = harness_connect(&dm);

	holder_start(&holders[0], &spec_a);
	holder_start(&holders[1], &spec_b);
	holder_start(&holders[2], &spec_nobody);

	test_status(me);
	test_clients();
	test_buffers();
	test_tags();
	test_map_svg(me);
	test_map_text_and_json();
	test_nobody();
	test_usage();

	for (int i = 0; i < NHOLDERS; i++)
		holder_stop(&holders[i]);
	contig_disconnect(me);
	ok(harness_daemon_stop(&dm) == 0, "daemon_stops_cleanly");
	rmdir(confdir);
	return done_testing();
}
