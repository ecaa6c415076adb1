/* config.c - contigd's configuration: sizes, pool specs, the file format.
 *
 * DESIGN
 * Everything here is a pure function of its input text except
 * contig_config_load(), which only reads one file. Parsing never builds
 * into the caller's struct: contig_config_parse() fills a local
 * struct contig_config and copies it to *ret_cfg only once the whole text
 * has parsed, so on any error the caller's struct is untouched and
 * contig_config_done() on the local one releases everything built so far.
 *
 * The text is copied once and cut in place: each '\n' becomes a NUL, a '#'
 * ends the line, and trim() shortens the key and the value inside the copy.
 * Pool specs and sizes are parsed from (pointer, length) pieces, so nothing
 * else is copied and no fixed-size buffer limits a line.
 *
 * Sizes: decimal, or hex after "0x", then an optional K/M/G/T (any case,
 * powers of 1024), then an optional "iB" (only after a letter) or "B".
 * Hex digits are taken greedily, so "0x1B" is 27 bytes, not 1 byte with a
 * "B" suffix. No sign, no whitespace, no overflow past UINT64_MAX.
 *
 * Limits on what the file controls: the file is at most CONFIG_MAX_LEN
 * bytes; a socket path must fit in sun_path with its NUL; a node is at most
 * CONFIG_MAX_NODE; a (node, page size, window) may appear once, and there
 * are at most CONFIG_MAX_POOLS pools (windows, below=, would otherwise
 * allow any number), which keeps the quadratic duplicate check and the
 * one-at-a-time array growth cheap. Node "all" is one more
 * node (CONTIG_POOL_ALL_NODES) to these rules: it may appear once per page
 * size, and is expanded only by contig_config_expand_all(), which is given
 * the nodes (the config never looks at the machine).
 *
 * Main thread only (strerror()).
 */
#include "config.h"

#include "fdpass.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define CONFIG_MAX_LEN (1u << 20)
#define CONFIG_MAX_NODE 1023
#define CONFIG_MAX_POOLS 4096u
#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)
#define SUN_PATH_LEN sizeof(((struct sockaddr_un *)0)->sun_path)

const char contig_config_default[] =
	"# contigd configuration.\n"
	"#\n"
	"# One \"key = value\" per line; '#' starts a comment.\n"
	"#\n"
	"# socket = PATH\n"
	"#     The listening socket.\n"
	"socket = " CONTIG_DEFAULT_SOCKET "\n"
	"\n"
	"# pool = NODE:PAGESIZE:SIZE\n"
	"#     Reserve SIZE bytes of PAGESIZE (2M or 1G) pages on NUMA node NODE.\n"
	"#     Repeat for more nodes or page sizes. Sizes take K, M, G or T.\n"
	"#     NODE \"all\": SIZE on every node that has memory, except where a\n"
	"#     pool of that page size names the node (all:2M:64M, 1:2M:256M).\n"
	"#     Options after SIZE, \",KEY=VALUE\" each (0:2M:256M,min_segment=128M):\n"
	"#     reserve=longest (default): try up to 'candidates' frames (8x the\n"
	"#       pool, or a size; at most half the node's free memory) and keep\n"
	"#       those forming the longest segments, giving the rest back;\n"
	"#       reserve=sorted: take the first frames the kernel gives, sorted.\n"
	"#     min_segment=SIZE: a largest segment shorter than SIZE stops the\n"
	"#       daemon (short=warn: only warns).\n"
	"#     below=ADDR: only frames wholly below physical address ADDR, for\n"
	"#       devices that reach less than all memory (4G: 32-bit DMA, a Windows\n"
	"#       driver's HighestAcceptableAddress 0xFFFFFFFF; 256M: 28-bit). Found\n"
	"#       by raising the kernel's hugepages as far as reserve_min_free allows\n"
	"#       and keeping those in the window; the rest go back. A window that\n"
	"#       cannot be filled is logged, and serves what was found. Requests\n"
	"#       that do not need the window go to the other pools while they have\n"
	"#       room. A node may have one pool per page size and window.\n"
	"#     when=memory_above: with below=, only where the node has memory at or\n"
	"#       above ADDR (elsewhere its other pools are all in the window).\n"
	"#     256 MiB of 2 MiB pages on node 0:\n"
	"pool = 0:2M:256M\n"
	"#     and 32 MiB below 4 GiB for 32-bit devices, unless all of node 0's\n"
	"#     memory is below 4 GiB:\n"
	"pool = 0:2M:32M,below=4G,when=memory_above\n"
	"\n"
	"# reserve_min_free = SIZE\n"
	"#     Reserving never leaves less free memory than this on a node: it\n"
	"#     bounds the hugepages added for a moment to find frames (candidates,\n"
	"#     below=). 0 is no floor.\n"
	"reserve_min_free = 1G\n"
	"\n"
	"# watermark_low = PERCENT, watermark_normal = PERCENT\n"
	"#     Allocations of low (normal) priority fail rather than leave less\n"
	"#     than this share of a pool free; high priority may take the last\n"
	"#     frame. Windows' NdisAllocateMemoryWithTagPriority priorities.\n"
	"#     They also keep users from starving one another: past its fair\n"
	"#     share of a pool (the pool divided among the users with a session,\n"
	"#     root aside), a user allocates there at low priority whatever it\n"
	"#     asks, so the last watermark_low of a pool stays for the users\n"
	"#     under their share. Root is exempt.\n"
	"watermark_low = 25%\n"
	"watermark_normal = 5%\n"
	"\n"
	"# Who may connect. The socket file gets this owner, group and mode; and\n"
	"# each connection's peer credentials (SO_PEERCRED) must be root, a user\n"
	"# in allow_users, or a member of a group in allow_groups (names or\n"
	"# numbers, comma-separated; allow_groups defaults to socket_group).\n"
	"socket_user = root\n"
	"socket_group = contigd\n"
	"socket_mode = 0660\n"
	"# allow_users =\n"
	"# allow_groups = contigd\n"
	"\n"
	"# Limits on what one client controls; each refusal names its key.\n"
	"# Byte limits count what a client keeps from others: the whole frames\n"
	"# (2 MiB or 1 GiB pages) its buffers pin. A buffer that needs a new frame\n"
	"# costs the frame; one packed into frames already held costs nothing.\n"
	"# They take K/M/G/T; 0 means no limit beyond the pools.\n"
	"#\n"
	"# Connections in all; one more is refused.\n"
	"max_connections = 1024\n"
	"# Connections of one uid (root included).\n"
	"max_connections_per_user = 64\n"
	"# Live buffers on one connection.\n"
	"max_buffers_per_connection = 16384\n"
	"# Live buffers of one uid, over all its connections.\n"
	"max_buffers_per_user = 65536\n"
	"# Bytes of the frames one connection pins.\n"
	"max_bytes_per_connection = 0\n"
	"# Bytes of the frames one uid pins, over all its connections.\n"
	"max_bytes_per_user = 0\n"
	"# Of each pool, the share one uid may pin (whole frames, at least one),\n"
	"# so that no user can take a pool from the others (1% to 100%; 100%: no\n"
	"# limit beyond the pools, for one trusted application). Root is exempt.\n"
	"max_share_per_user = 50%\n"
	"# Pool tags of one uid with live buffers, each counted on its own; the\n"
	"# buffers of any more count under the tag \"other\" (0xffffffff).\n"
	"max_tags_per_user = 64\n"
	"# Frames in one buffer (8192 frames of 2 MiB: 16 GiB).\n"
	"max_frames_per_buffer = 8192\n"
	"# Bytes in one request datagram (64 to 4096); a longer one closes the\n"
	"# connection.\n"
	"max_request_len = 4096\n"
	"# Replies waiting for a client that does not read them; one more and it\n"
	"# is disconnected and its memory recycled.\n"
	"max_queued_replies = 64\n"
	"\n"
	"# busy_poll_us = MICROSECONDS (0 to 1000)\n"
	"#     After each request, keep polling the connections without sleeping\n"
	"#     for this long before blocking again: the next request is seen some\n"
	"#     microseconds sooner, at the price of a CPU kept busy meanwhile.\n"
	"#     For clients that busy-poll too (CONTIGD_BUSY_POLL_US); 0 is off.\n"
	"busy_poll_us = 0\n"
	"\n"
	"# log_level = LEVEL\n"
	"#     The least important messages logged: emerg, alert, crit, err,\n"
	"#     warning, notice, info (one line per connection and per refused\n"
	"#     request) or debug; or 0 to 7.\n"
	"log_level = info\n"
	"\n"
	"# session_grace = DURATION (0, or 1s to 1h: ms, s, m or h)\n"
	"#     Sessions survive a restart of the daemon (a crash, an upgrade, a\n"
	"#     SIGTERM while clients hold buffers): their frames stay, a journal in\n"
	"#     /run/contigd records them, and a client that reconnects within\n"
	"#     this long after the new daemon is ready gets its session back with\n"
	"#     the same buffers. Sessions not reclaimed by then are recycled.\n"
	"#     0 turns it off: every frame is then released when the daemon stops.\n"
	"session_grace = 30s\n";

__attribute__((format(printf, 3, 4))) static void say(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Report "SOURCE:LINE: key 'KEY': REASON" and return -EINVAL. */
__attribute__((format(printf, 6, 7))) static int line_fail(char *err, size_t errlen,
							   const char *source, unsigned lineno,
							   const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return -EINVAL;
	n = snprintf(err, errlen, "%s:%u: key '%s': ", source, lineno, key);
	if (n < 0 || (size_t)n >= errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* @len as the file would say it: with the largest unit that divides it. */
static void format_size(uint64_t len, char *buf, size_t buflen)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (len && u < 3 && len % 1024 == 0) {
		len /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, buflen, "%" PRIu64, len);
	else
		snprintf(buf, buflen, "%" PRIu64 "%c", len, units[u]);
}

/* A precision for "%.*s" that stays positive however long the piece is. */
static int prec(size_t len)
{
	return len > INT_MAX ? INT_MAX : (int)len;
}

static int digit(char c, unsigned base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unit_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	}
	return 0;
}

static bool is_char(char c, char lower)
{
	return c == lower || c == toupper((unsigned char)lower);
}

/* contig_parse_size() on the @len bytes at @s. */
static int size_parse(const char *s, size_t len, uint64_t *ret_len)
{
	const char *end = s + len, *digits;
	unsigned base = 10;
	uint64_t n = 0;
	int shift, d;

	if (len >= 2 && s[0] == '0' && is_char(s[1], 'x')) {
		base = 16;
		s += 2;
	}
	for (digits = s; s < end && (d = digit(*s, base)) >= 0; s++) {
		if (n > (UINT64_MAX - d) / base)
			return -EINVAL;
		n = n * base + d;
	}
	if (s == digits)
		return -EINVAL;
	shift = s < end ? unit_shift(*s) : 0;
	if (shift)
		s++;
	if (shift && s < end && is_char(*s, 'i')) {
		if (++s == end || !is_char(*s, 'b'))
			return -EINVAL; /* "Ki" must be "KiB" */
		s++;
	} else if (s < end && is_char(*s, 'b')) {
		s++;
	}
	if (s != end)
		return -EINVAL;
	if (n > UINT64_MAX >> shift)
		return -EINVAL;
	*ret_len = n << shift;
	return 0;
}

int contig_parse_size(const char *text, uint64_t *ret_len)
{
	if (!text)
		return -EINVAL;
	return size_parse(text, strlen(text), ret_len);
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
		if (node > CONFIG_MAX_NODE)
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
		say(err, errlen, "pool \"%s\": option \"%.*s\" is not KEY=VALUE", text,
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
		if (size_parse(v, vlen, &spec->candidates_len) < 0 || !spec->candidates_len)
			goto bad;
		spec->candidates_x = 0;
	} else if (IS("min_segment")) {
		if (size_parse(v, vlen, &spec->min_segment_len) < 0)
			goto bad;
	} else if (IS("below")) {
		if (size_parse(v, vlen, &spec->below) < 0 || !spec->below)
			goto bad;
	} else if (IS("when") && VAL("memory_above")) {
		spec->when_memory_above = true;
	} else if (IS("reserve") || IS("short") || IS("when")) {
		goto bad;
	} else {
		say(err, errlen, "pool \"%s\": unknown option \"%.*s\" (reserve, candidates, "
		    "min_segment, short, below, when)", text, prec(klen), opt);
		return -EINVAL;
	}
	return 0;
bad:
	say(err, errlen, "pool \"%s\": %.*s: \"%.*s\" is not %s", text, prec(klen), opt,
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
		say(err, errlen, "pool \"%s\": candidates must be at least the pool's size", text);
		return -EINVAL;
	}
	if (spec->candidates_len % spec->page_len) {
		say(err, errlen, "pool \"%s\": candidates is not a multiple of the page size",
		    text);
		return -EINVAL;
	}
	if (spec->min_segment_len > spec->len) {
		say(err, errlen, "pool \"%s\": min_segment is larger than the pool", text);
		return -EINVAL;
	}
	if (spec->below % spec->page_len) {
		say(err, errlen, "pool \"%s\": below is not a multiple of the page size", text);
		return -EINVAL;
	}
	if (spec->when_memory_above && !spec->below) {
		say(err, errlen, "pool \"%s\": when=memory_above needs below=", text);
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
		say(err, errlen, "pool \"%s\": expected NODE:PAGESIZE:SIZE[,OPTION=VALUE...]",
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
		say(err, errlen, "pool \"%s\": node \"%.*s\" is not \"all\" or a number from 0 to %d",
		    text, prec(c1 - text), text, CONFIG_MAX_NODE);
		return -EINVAL;
	}
	if (size_parse(page, page_n, &spec.page_len) < 0) {
		say(err, errlen, "pool \"%s\": page size \"%.*s\" is not a size", text,
		    prec(page_n), page);
		return -EINVAL;
	}
	if (spec.page_len != PAGE_2M && spec.page_len != PAGE_1G) {
		say(err, errlen, "pool \"%s\": page size must be 2M or 1G", text);
		return -EINVAL;
	}
	if (size_parse(size, size_n, &spec.len) < 0) {
		say(err, errlen, "pool \"%s\": size \"%.*s\" is not a size", text, prec(size_n),
		    size);
		return -EINVAL;
	}
	if (!spec.len) {
		say(err, errlen, "pool \"%s\": size must be greater than 0", text);
		return -EINVAL;
	}
	if (spec.len % spec.page_len) {
		say(err, errlen, "pool \"%s\": size \"%.*s\" is not a multiple of the page size",
		    text, prec(size_n), size);
		return -EINVAL;
	}
	if (pool_options(text, opts, &spec, err, errlen) < 0)
		return -EINVAL;
	*ret_spec = spec;
	return 0;
}

/* Cut the whitespace off both ends of @s, in place. */
static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

static const char *page_name(uint64_t page_len)
{
	return page_len == PAGE_1G ? "1G" : "2M";
}

/* One "pool = ..." line: parse it, refuse a second (node, page size,
 * window), add it. */
static int pool_line(struct contig_config *cfg, const char *value, const char *source,
		     unsigned lineno, char *err, size_t errlen)
{
	struct contig_pool_spec spec;
	char why[256];
	size_t i;

	if (contig_config_parse_pool(value, &spec, why, sizeof(why)) < 0)
		return line_fail(err, errlen, source, lineno, "pool", "%s", why);
	if (cfg->npools >= CONFIG_MAX_POOLS)
		return line_fail(err, errlen, source, lineno, "pool",
				 "pool \"%s\": more than %u pools", value, CONFIG_MAX_POOLS);
	for (i = 0; i < cfg->npools; i++) {
		char window[48] = "";

		if (cfg->pools[i].node != spec.node || cfg->pools[i].page_len != spec.page_len ||
		    cfg->pools[i].below != spec.below)
			continue;
		if (spec.below) {
			format_size(spec.below, window + 7, sizeof(window) - 7);
			memcpy(window, " below ", 7);
		}
		if (spec.node == CONTIG_POOL_ALL_NODES)
			return line_fail(err, errlen, source, lineno, "pool",
					 "pool \"%s\": a %s pool%s on every node is already given",
					 value, page_name(spec.page_len), window);
		return line_fail(err, errlen, source, lineno, "pool",
				 "pool \"%s\": node %d already has a %s pool%s", value, spec.node,
				 page_name(spec.page_len), window);
	}
	if (contig_config_set_pool(cfg, &spec) < 0) {
		say(err, errlen, "%s:%u: out of memory", source, lineno);
		return -ENOMEM;
	}
	return 0;
}

/* ---- the keys ---- */

enum key_type {
	KEY_POOL,    /* NODE:PAGESIZE:SIZE, repeatable */
	KEY_PATH,    /* a socket path */
	KEY_NAME,    /* a user or group name, or a number */
	KEY_LIST,    /* comma-separated names */
	KEY_MODE,    /* octal permission bits */
	KEY_PERCENT, /* 0..100, optional '%' */
	KEY_SHARE,   /* a limit in percent, min..max, optional '%' (uint64_t) */
	KEY_COUNT,   /* an integer from min (K/M suffixes allowed) */
	KEY_BYTES,   /* a byte count; 0 = no limit */
	KEY_LEVEL,   /* a syslog priority name or 0..7 */
	KEY_DURATION, /* milliseconds from min to max: 0, or N with ms, s, m or h */
};

struct key {
	const char *name;
	enum key_type type;
	size_t offset; /* in struct contig_config */
	uint64_t min, max;
};

#define AT(field) offsetof(struct contig_config, field)

static const struct key keys[] = {
	{ "socket", KEY_PATH, AT(socket_path), 0, 0 },
	{ "socket_user", KEY_NAME, AT(socket_user), 0, 0 },
	{ "socket_group", KEY_NAME, AT(socket_group), 0, 0 },
	{ "socket_mode", KEY_MODE, AT(socket_mode), 0, 0777 },
	{ "allow_users", KEY_LIST, AT(allow_users), 0, 0 },
	{ "allow_groups", KEY_LIST, AT(allow_groups), 0, 0 },
	{ "pool", KEY_POOL, 0, 0, 0 },
	{ "reserve_min_free", KEY_BYTES, AT(reserve_min_free), 0, UINT64_MAX },
	{ "watermark_low", KEY_PERCENT, AT(watermark_low_pct), 0, 100 },
	{ "watermark_normal", KEY_PERCENT, AT(watermark_normal_pct), 0, 100 },
	{ "max_connections", KEY_COUNT, AT(limits.max_connections), 1, 1u << 20 },
	{ "max_connections_per_user", KEY_COUNT, AT(limits.max_connections_per_user), 1,
	  1u << 20 },
	{ "max_buffers_per_connection", KEY_COUNT, AT(limits.max_buffers_per_connection), 1,
	  1u << 30 },
	{ "max_buffers_per_user", KEY_COUNT, AT(limits.max_buffers_per_user), 1, 1u << 30 },
	{ "max_bytes_per_connection", KEY_BYTES, AT(limits.max_bytes_per_connection), 0,
	  UINT64_MAX },
	{ "max_bytes_per_user", KEY_BYTES, AT(limits.max_bytes_per_user), 0, UINT64_MAX },
	{ "max_share_per_user", KEY_SHARE, AT(limits.max_share_per_user), 1, 100 },
	{ "max_frames_per_buffer", KEY_COUNT, AT(limits.max_frames_per_buffer), 1,
	  CONTIG_MAX_FRAMES_PER_BUFFER },
	{ "max_request_len", KEY_BYTES, AT(limits.max_request_len), 64,
	  CONTIG_MAX_REQUEST_LEN },
	{ "max_queued_replies", KEY_COUNT, AT(limits.max_queued_replies), 1, 1u << 16 },
	{ "max_tags_per_user", KEY_COUNT, AT(limits.max_tags_per_user), 1, CONTIG_MAX_TAGS },
	{ "busy_poll_us", KEY_COUNT, AT(busy_poll_us), 0, 1000 },
	{ "log_level", KEY_LEVEL, AT(log_level), 0, 7 },
	{ "session_grace", KEY_DURATION, AT(session_grace_ms), 1000, 3600 * 1000 },
};

/* "0", or a whole number of ms, s, m or h, into milliseconds. */
static int parse_duration(const char *text, uint64_t *ret_ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	char *end;
	uint64_t v;

	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == '\0')
		return v == 0 ? (*ret_ms = 0, 0) : -EINVAL; /* a unit is required */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].ms)
				return -EINVAL;
			*ret_ms = v * units[i].ms;
			return 0;
		}
	return -EINVAL;
}

/* syslog(3)'s priorities, by value. */
static const char *const level_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* A copy of @value in the string field at @field (which must be empty). */
static int set_string(char **field, const char *value, const char *source, unsigned lineno,
		      char *err, size_t errlen)
{
	*field = strdup(value);
	if (!*field) {
		say(err, errlen, "%s:%u: out of memory", source, lineno);
		return -ENOMEM;
	}
	return 0;
}

/* Parse @value for @k into @cfg. */
static int set_key(struct contig_config *cfg, const struct key *k, const char *value,
		   const char *source, unsigned lineno, char *err, size_t errlen)
{
	char *field = (char *)cfg + k->offset, *end;
	unsigned long long v;
	uint64_t n;

	switch (k->type) {
	case KEY_POOL:
		return pool_line(cfg, value, source, lineno, err, errlen);
	case KEY_PATH:
		if (strlen(value) >= SUN_PATH_LEN)
			return line_fail(err, errlen, source, lineno, k->name,
					 "path is %zu bytes; a socket path holds at most %zu",
					 strlen(value), SUN_PATH_LEN - 1);
		return set_string((char **)field, value, source, lineno, err, errlen);
	case KEY_NAME:
		if (strchr(value, ',') || strchr(value, ' '))
			return line_fail(err, errlen, source, lineno, k->name,
					 "\"%s\" is not one user or group name", value);
		return set_string((char **)field, value, source, lineno, err, errlen);
	case KEY_LIST:
		return set_string((char **)field, value, source, lineno, err, errlen);
	case KEY_MODE:
		errno = 0;
		v = strtoull(value, &end, 8);
		if (errno || *end || value[0] == '-' || v > k->max)
			return line_fail(err, errlen, source, lineno, k->name,
					 "\"%s\" is not an octal mode such as 0660", value);
		*(unsigned *)field = (unsigned)v;
		return 0;
	case KEY_PERCENT:
	case KEY_SHARE:
		errno = 0;
		v = strtoull(value, &end, 10);
		if (*end == '%')
			end++;
		if (errno || end == value || *end || !isdigit((unsigned char)value[0]) ||
		    v < k->min || v > k->max)
			return line_fail(err, errlen, source, lineno, k->name,
					 "\"%s\" is not a percentage from %" PRIu64 " to %" PRIu64,
					 value, k->min, k->max);
		if (k->type == KEY_SHARE)
			*(uint64_t *)field = v;
		else
			*(unsigned *)field = (unsigned)v;
		return 0;
	case KEY_COUNT:
	case KEY_BYTES:
		if (contig_parse_size(value, &n) < 0 || n < k->min || n > k->max)
			return line_fail(err, errlen, source, lineno, k->name,
					 "\"%s\" is not a %s from %" PRIu64 " to %" PRIu64, value,
					 k->type == KEY_COUNT ? "count" : "byte count", k->min,
					 k->max);
		*(uint64_t *)field = n;
		return 0;
	case KEY_DURATION:
		if (parse_duration(value, &n) < 0 || (n && (n < k->min || n > k->max)))
			return line_fail(err, errlen, source, lineno, k->name,
					 "\"%s\" is not 0 or a duration from %" PRIu64 " s to %" PRIu64
					 " s, such as 30s, 1500ms or 2m", value, k->min / 1000,
					 k->max / 1000);
		*(uint64_t *)field = n;
		return 0;
	case KEY_LEVEL:
		for (unsigned i = 0; i <= k->max; i++) {
			char digit[2] = { (char)('0' + i), '\0' };

			if (strcmp(value, level_names[i]) == 0 || strcmp(value, digit) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		}
		return line_fail(err, errlen, source, lineno, k->name,
				 "\"%s\" is not a level: emerg, alert, crit, err, warning, notice, "
				 "info, debug, or 0 to 7", value);
	}
	return -EINVAL;
}

int contig_config_parse(const char *text, const char *source, struct contig_config *ret_cfg,
			char *err, size_t errlen)
{
	struct contig_config cfg = {
		.socket_mode = CONTIG_DEFAULT_SOCKET_MODE,
		.watermark_low_pct = CONTIG_DEFAULT_WATERMARK_LOW,
		.watermark_normal_pct = CONTIG_DEFAULT_WATERMARK_NORMAL,
		.limits = CONTIG_DEFAULT_LIMITS,
		.log_level = CONTIG_DEFAULT_LOG_LEVEL,
		.session_grace_ms = CONTIG_DEFAULT_SESSION_GRACE_MS,
		.reserve_min_free = CONTIG_DEFAULT_RESERVE_MIN_FREE,
	};
	unsigned lineno = 0, first_line[NKEYS] = { 0 };
	char *copy, *line, *next;
	int r = 0;

	if (!source)
		source = "<config>";
	copy = strdup(text);
	if (!copy) {
		say(err, errlen, "%s: out of memory", source);
		return -ENOMEM;
	}
	for (line = copy; line; line = next) {
		char *hash, *eq, *key, *value;
		const struct key *k;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			r = line_fail(err, errlen, source, lineno, key, "missing '='");
			goto out_free;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		if (!*key) {
			r = line_fail(err, errlen, source, lineno, key, "missing key before '='");
			goto out_free;
		}
		k = key_find(key);
		if (!k) {
			r = line_fail(err, errlen, source, lineno, key,
				      "unknown key (contigd --print-config lists them)");
			goto out_free;
		}
		if (!*value) {
			r = line_fail(err, errlen, source, lineno, key, "empty value");
			goto out_free;
		}
		if (k->type != KEY_POOL && first_line[k - keys]) {
			r = line_fail(err, errlen, source, lineno, key,
				      "given twice (first on line %u)", first_line[k - keys]);
			goto out_free;
		}
		first_line[k - keys] = lineno;
		r = set_key(&cfg, k, value, source, lineno, err, errlen);
		if (r < 0)
			goto out_free;
	}
	if (cfg.watermark_normal_pct > cfg.watermark_low_pct) {
		const struct key *k = key_find("watermark_normal");

		r = line_fail(err, errlen, source, first_line[k - keys], "watermark_normal",
			      "%u%% is above watermark_low (%u%%): normal priority would fail "
			      "before low", cfg.watermark_normal_pct, cfg.watermark_low_pct);
		goto out_free;
	}
	if ((!cfg.socket_path && !(cfg.socket_path = strdup(CONTIG_DEFAULT_SOCKET))) ||
	    (!cfg.socket_user && !(cfg.socket_user = strdup(CONTIG_DEFAULT_SOCKET_USER))) ||
	    (!cfg.socket_group && !(cfg.socket_group = strdup(CONTIG_DEFAULT_SOCKET_GROUP)))) {
		say(err, errlen, "%s: out of memory", source);
		r = -ENOMEM;
		goto out_free;
	}
	free(copy);
	*ret_cfg = cfg;
	return 0;

out_free:
	free(copy);
	contig_config_done(&cfg);
	return r;
}

int contig_config_load(const char *path, struct contig_config *ret_cfg, char *err, size_t errlen)
{
	size_t len = 0;
	char *text;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		say(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	/* One byte more than the limit tells a file at the limit from a larger one. */
	text = malloc(CONFIG_MAX_LEN + 2);
	if (!text) {
		say(err, errlen, "%s: %s", path, strerror(ENOMEM));
		r = -ENOMEM;
		goto out_close;
	}
	while (len <= CONFIG_MAX_LEN) {
		ssize_t n = read(fd, text + len, CONFIG_MAX_LEN + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			say(err, errlen, "%s: %s", path, strerror(-r));
			goto out_free;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > CONFIG_MAX_LEN) {
		say(err, errlen, "%s: larger than the %u MiB limit", path, CONFIG_MAX_LEN >> 20);
		r = -EFBIG;
		goto out_free;
	}
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		say(err, errlen, "%s: contains a NUL byte", path);
		r = -EINVAL;
		goto out_free;
	}
	r = contig_config_parse(text, path, ret_cfg, err, errlen);

out_free:
	free(text);
out_close:
	close(fd);
	return r;
}

int contig_config_set_pool(struct contig_config *cfg, const struct contig_pool_spec *spec)
{
	struct contig_pool_spec *pools;
	size_t i;

	assert(spec->page_len == PAGE_2M || spec->page_len == PAGE_1G);
	for (i = 0; i < cfg->npools; i++) {
		if (cfg->pools[i].node == spec->node && cfg->pools[i].page_len == spec->page_len &&
		    cfg->pools[i].below == spec->below) {
			cfg->pools[i] = *spec;
			return 0;
		}
	}
	if (cfg->npools >= SIZE_MAX / sizeof(*pools) - 1)
		return -ENOMEM;
	pools = realloc(cfg->pools, (cfg->npools + 1) * sizeof(*pools));
	if (!pools)
		return -ENOMEM;
	pools[cfg->npools] = *spec;
	cfg->pools = pools;
	cfg->npools++;
	return 0;
}

/* Does @cfg have a pool of @page_len and window @below named by node @node? */
static bool has_node_pool(const struct contig_config *cfg, int node, uint64_t page_len,
			  uint64_t below)
{
	for (size_t i = 0; i < cfg->npools; i++)
		if (cfg->pools[i].node == node && cfg->pools[i].page_len == page_len &&
		    cfg->pools[i].below == below)
			return true;
	return false;
}

int contig_config_expand_all(struct contig_config *cfg, const int *nodes, size_t nnodes)
{
	struct contig_pool_spec *pools;
	size_t n = 0;

	if (nnodes > CONFIG_MAX_NODE + 1)
		return -EINVAL;
	/* At most one "all" per page size, each at most nnodes pools. */
	pools = calloc(cfg->npools * (nnodes + 1) + 1, sizeof(*pools));
	if (!pools)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct contig_pool_spec *spec = &cfg->pools[i];

		if (spec->node != CONTIG_POOL_ALL_NODES) {
			pools[n++] = *spec;
			continue;
		}
		for (size_t k = 0; k < nnodes; k++) {
			bool dup = has_node_pool(cfg, nodes[k], spec->page_len, spec->below);

			for (size_t j = 0; j < n && !dup; j++)
				dup = pools[j].node == nodes[k] && pools[j].page_len == spec->page_len &&
				      pools[j].below == spec->below;
			if (!dup) {
				pools[n] = *spec; /* its options too */
				pools[n++].node = nodes[k];
			}
		}
	}
	free(cfg->pools);
	cfg->pools = pools;
	cfg->npools = n;
	return 0;
}

/* A pool's options that are not the defaults, as ",key=value" each. */
static void print_pool_options(const struct contig_pool_spec *spec, FILE *out)
{
	char buf[32];

	if (spec->reserve_sorted)
		fputs(",reserve=sorted", out);
	if (spec->candidates_len) {
		format_size(spec->candidates_len, buf, sizeof(buf));
		fprintf(out, ",candidates=%s", buf);
	} else if (spec->candidates_x && spec->candidates_x != CONTIG_POOL_CANDIDATES_X) {
		fprintf(out, ",candidates=%" PRIu32 "x", spec->candidates_x);
	}
	if (spec->min_segment_len) {
		format_size(spec->min_segment_len, buf, sizeof(buf));
		fprintf(out, ",min_segment=%s", buf);
	}
	if (spec->min_segment_warn)
		fputs(",short=warn", out);
	if (spec->below) {
		format_size(spec->below, buf, sizeof(buf));
		fprintf(out, ",below=%s", buf);
	}
	if (spec->when_memory_above)
		fputs(",when=memory_above", out);
}

void contig_config_print(const struct contig_config *cfg, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *field = (const char *)cfg + k->offset;
		char a[32], b[32];

		switch (k->type) {
		case KEY_POOL:
			for (size_t p = 0; p < cfg->npools; p++) {
				format_size(cfg->pools[p].page_len, a, sizeof(a));
				format_size(cfg->pools[p].len, b, sizeof(b));
				if (cfg->pools[p].node == CONTIG_POOL_ALL_NODES)
					fprintf(out, "pool = all:%s:%s", a, b);
				else
					fprintf(out, "pool = %d:%s:%s", cfg->pools[p].node, a, b);
				print_pool_options(&cfg->pools[p], out);
				fputc('\n', out);
			}
			break;
		case KEY_PATH:
		case KEY_NAME:
		case KEY_LIST:
			if (*(char *const *)field)
				fprintf(out, "%s = %s\n", k->name, *(char *const *)field);
			else
				fprintf(out, "# %s = (not set)\n", k->name);
			break;
		case KEY_MODE:
			fprintf(out, "%s = %04o\n", k->name, *(const unsigned *)field);
			break;
		case KEY_PERCENT:
			fprintf(out, "%s = %u%%\n", k->name, *(const unsigned *)field);
			break;
		case KEY_SHARE:
			fprintf(out, "%s = %" PRIu64 "%%\n", k->name, *(const uint64_t *)field);
			break;
		case KEY_COUNT:
			fprintf(out, "%s = %" PRIu64 "\n", k->name, *(const uint64_t *)field);
			break;
		case KEY_BYTES:
			format_size(*(const uint64_t *)field, a, sizeof(a));
			fprintf(out, "%s = %s\n", k->name, a);
			break;
		case KEY_LEVEL:
			fprintf(out, "%s = %s\n", k->name, level_names[*(const int *)field]);
			break;
		case KEY_DURATION: {
			uint64_t ms = *(const uint64_t *)field;

			if (ms % 1000)
				fprintf(out, "%s = %" PRIu64 "ms\n", k->name, ms);
			else
				fprintf(out, "%s = %" PRIu64 "s\n", k->name, ms / 1000);
			break;
		}
		}
	}
}

void contig_config_done(struct contig_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->socket_path);
	free(cfg->socket_user);
	free(cfg->socket_group);
	free(cfg->allow_users);
	free(cfg->allow_groups);
	free(cfg->pools);
	*cfg = (struct contig_config){ 0 };
}
