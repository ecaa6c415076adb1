/* poolspec.c - one pool as the configuration and --pool name it:
 * "NODE:PAGESIZE:SIZE[,OPTION=VALUE...]", parsed and printed back.
 *
 * DESIGN
 * NODE is 0..CONTIG_POOL_MAX_NODE or "all" (CONTIG_POOL_ALL_NODES, which
 * the configuration expands once the daemon knows the nodes); PAGESIZE
 * is 2M or 1G, written any way size.c reads; SIZE a positive multiple of
 * it. The options after the size (reserve, candidates, min_segment,
 * short, below, when) say how reserve.c reserves the pool's frames; each
 * is checked against the others here, so that a spec that parses is one
 * the daemon can build. The text is read in (pointer, length) pieces:
 * nothing copied, no fixed-size buffer limits a line. Printing writes
 * the options that are not the defaults, so that parsing the text gives
 * the same spec.
 *
 * Pure functions of their input: no state, no allocation, no logging
 * (reasons go back in @err). It knows nothing of the configuration's
 * keys or of duplicate pools (config.c), and never calls any daemon file
 * but size.c.
 */
#include "poolspec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "errmsg.h"
#include "size.h"

#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)

/* A precision for "%.*s" that stays positive however long the piece is. */
static int prec(size_t len)
{
	return len > INT_MAX ? INT_MAX : (int)len;
}

static int node_parse(const char *s, size_t len, int *ret_node)
{
	int node = 0;
	size_t i;

	if (!len)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		node = node * 10 + (s[i] - '0');
		if (node > CONTIG_POOL_MAX_NODE)
			return -EINVAL;
	}
	*ret_node = node;
	return 0;
}

uint64_t contig_pool_spec_candidates(const struct contig_pool_spec *spec, uint64_t nframes,
				     uint64_t page_len)
{
	uint64_t x = spec->candidates_x ? spec->candidates_x : CONTIG_POOL_CANDIDATES_X;

	if (spec->reserve_sorted)
		return nframes;
	if (spec->candidates_len)
		return spec->candidates_len / page_len;
	return nframes * x;
}

/* One ",key=value" of a pool line (@opt, @len bytes) into @spec. */
static int pool_option(const char *text, const char *opt, size_t len,
		       struct contig_pool_spec *spec, char *err, size_t errlen)
{
	const char *eq = memchr(opt, '=', len);
	size_t klen = eq ? (size_t)(eq - opt) : len, vlen = eq ? len - klen - 1 : 0;
	const char *v = eq ? eq + 1 : "";

#define IS(key) (klen == strlen(key) && !strncmp(opt, key, klen))
#define VAL(val) (vlen == strlen(val) && !strncmp(v, val, vlen))
	if (!eq) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": option \"%.*s\" is not KEY=VALUE", text,
		    prec(len), opt);
		return -EINVAL;
	}
	if (IS("reserve") && (VAL("longest") || VAL("sorted"))) {
		spec->reserve_sorted = VAL("sorted");
	} else if (IS("short") && (VAL("error") || VAL("warn"))) {
		spec->min_segment_warn = VAL("warn");
	} else if (IS("candidates") && vlen > 1 && v[vlen - 1] == 'x') {
		uint64_t x = 0;

		for (size_t i = 0; i + 1 < vlen; i++) {
			if (!isdigit((unsigned char)v[i]) || x > CONTIG_POOL_CANDIDATES_X_MAX)
				goto bad;
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (x < 1 || x > CONTIG_POOL_CANDIDATES_X_MAX)
			goto bad;
		spec->candidates_x = (uint32_t)x;
		spec->candidates_len = 0;
	} else if (IS("candidates")) {
		if (contig_parse_size_n(v, vlen, &spec->candidates_len) < 0 || !spec->candidates_len)
			goto bad;
		spec->candidates_x = 0;
	} else if (IS("min_segment")) {
		if (contig_parse_size_n(v, vlen, &spec->min_segment_len) < 0)
			goto bad;
	} else if (IS("below")) {
		if (contig_parse_size_n(v, vlen, &spec->below) < 0 || !spec->below)
			goto bad;
	} else if (IS("when") && VAL("memory_above")) {
		spec->when_memory_above = true;
	} else if (IS("reserve") || IS("short") || IS("when")) {
		goto bad;
	} else {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": unknown option \"%.*s\" (reserve, candidates, "
		    "min_segment, short, below, when)", text, prec(klen), opt);
		return -EINVAL;
	}
	return 0;
bad:
	(void)contig_errmsg(err, errlen, 0, "pool \"%s\": %.*s: \"%.*s\" is not %s", text, prec(klen), opt,
	    prec(vlen), v,
	    IS("reserve") ? "longest or sorted"
	    : IS("short") ? "error or warn"
	    : IS("when") ? "memory_above"
	    : IS("candidates") ? "a multiple of the pool (1x to 64x) or a size"
	    : IS("below") ? "a physical address above 0"
			       : "a size");
	return -EINVAL;
#undef IS
#undef VAL
}

/* The options after a pool's size, from @opts (at a ',') to the end. */
static int pool_options(const char *text, const char *opts, struct contig_pool_spec *spec,
			char *err, size_t errlen)
{
	while (*opts == ',') {
		const char *opt = opts + 1, *next = strchr(opt, ',');
		size_t len = next ? (size_t)(next - opt) : strlen(opt);
		int r = pool_option(text, opt, len, spec, err, errlen);

		if (r < 0)
			return r;
		opts = opt + len;
	}
	if (spec->candidates_len && spec->candidates_len < spec->len) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": candidates must be at least the pool's size", text);
		return -EINVAL;
	}
	if (spec->candidates_len % spec->page_len) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": candidates is not a multiple of the page size",
		    text);
		return -EINVAL;
	}
	if (spec->min_segment_len > spec->len) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": min_segment is larger than the pool", text);
		return -EINVAL;
	}
	if (spec->below % spec->page_len) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": below is not a multiple of the page size", text);
		return -EINVAL;
	}
	if (spec->when_memory_above && !spec->below) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": when=memory_above needs below=", text);
		return -EINVAL;
	}
	return 0;
}

int contig_config_parse_pool(const char *text, struct contig_pool_spec *ret_spec, char *err,
			     size_t errlen)
{
	struct contig_pool_spec spec = { 0 };
	const char *c1, *c2, *page, *size, *opts;
	size_t page_n, size_n;

	opts = strchr(text, ',');
	if (!opts)
		opts = text + strlen(text);
	c1 = memchr(text, ':', (size_t)(opts - text));
	c2 = c1 ? memchr(c1 + 1, ':', (size_t)(opts - c1 - 1)) : NULL;
	if (!c2 || memchr(c2 + 1, ':', (size_t)(opts - c2 - 1))) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": expected NODE:PAGESIZE:SIZE[,OPTION=VALUE...]",
		    text);
		return -EINVAL;
	}
	page = c1 + 1;
	page_n = c2 - page;
	size = c2 + 1;
	size_n = (size_t)(opts - size);

	if (c1 - text == 3 && !strncmp(text, "all", 3)) {
		spec.node = CONTIG_POOL_ALL_NODES;
	} else if (node_parse(text, c1 - text, &spec.node) < 0) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": node \"%.*s\" is not \"all\" or a number from 0 to %d",
		    text, prec(c1 - text), text, CONTIG_POOL_MAX_NODE);
		return -EINVAL;
	}
	if (contig_parse_size_n(page, page_n, &spec.page_len) < 0) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": page size \"%.*s\" is not a size", text,
		    prec(page_n), page);
		return -EINVAL;
	}
	if (spec.page_len != PAGE_2M && spec.page_len != PAGE_1G) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": page size must be 2M or 1G", text);
		return -EINVAL;
	}
	if (contig_parse_size_n(size, size_n, &spec.len) < 0) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": size \"%.*s\" is not a size", text, prec(size_n),
		    size);
		return -EINVAL;
	}
	if (!spec.len) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": size must be greater than 0", text);
		return -EINVAL;
	}
	if (spec.len % spec.page_len) {
		(void)contig_errmsg(err, errlen, 0, "pool \"%s\": size \"%.*s\" is not a multiple of the page size",
		    text, prec(size_n), size);
		return -EINVAL;
	}
	if (pool_options(text, opts, &spec, err, errlen) < 0)
		return -EINVAL;
	*ret_spec = spec;
	return 0;
}

/* A pool's options that are not the defaults, as ",key=value" each. */
static void print_pool_options(const struct contig_pool_spec *spec, FILE *out)
{
	char buf[32];

	if (spec->reserve_sorted)
		fputs(",reserve=sorted", out);
	if (spec->candidates_len) {
		contig_format_size(spec->candidates_len, buf, sizeof(buf));
		fprintf(out, ",candidates=%s", buf);
	} else if (spec->candidates_x && spec->candidates_x != CONTIG_POOL_CANDIDATES_X) {
		fprintf(out, ",candidates=%" PRIu32 "x", spec->candidates_x);
	}
	if (spec->min_segment_len) {
		contig_format_size(spec->min_segment_len, buf, sizeof(buf));
		fprintf(out, ",min_segment=%s", buf);
	}
	if (spec->min_segment_warn)
		fputs(",short=warn", out);
	if (spec->below) {
		contig_format_size(spec->below, buf, sizeof(buf));
		fprintf(out, ",below=%s", buf);
	}
	if (spec->when_memory_above)
		fputs(",when=memory_above", out);
}

void contig_pool_spec_print(const struct contig_pool_spec *spec, FILE *out)
{
	char a[32], b[32];

	contig_format_size(spec->page_len, a, sizeof(a));
	contig_format_size(spec->len, b, sizeof(b));
	if (spec->node == CONTIG_POOL_ALL_NODES)
		fprintf(out, "all:%s:%s", a, b);
	else
		fprintf(out, "%d:%s:%s", spec->node, a, b);
	print_pool_options(spec, out);
}
