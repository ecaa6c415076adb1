/* config.c - contigd's configuration: the one table of keys, the file
 * format, the effective configuration printed back.
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
 * Pool specs (poolspec.c) and sizes (size.c) are parsed from (pointer,
 * length) pieces, so nothing else is copied and no fixed-size buffer
 * limits a line. The built-in configuration is configdefault.c's text.
 *
 * The table of keys below is the only list of keys: parsing, printing
 * and test_docs (which checks the man page and docs/operating.md against
 * it) all walk it.
 *
 * Limits on what the file controls: the file is at most CONFIG_MAX_LEN
 * bytes; a socket path must fit in sun_path with its NUL; a node is at most
 * CONTIG_POOL_MAX_NODE; a (node, page size, window) may appear once, and there
 * are at most CONFIG_MAX_POOLS pools (windows, below=, would otherwise
 * allow any number), which keeps the quadratic duplicate check and the
 * one-at-a-time array growth cheap. Node "all" is one more
 * node (CONTIG_POOL_ALL_NODES) to these rules: it may appear once per page
 * size, and is expanded only by contig_config_expand_all(), which is given
 * the nodes (the config never looks at the machine).
 *
 * Main thread only (strerror()). It never logs (reasons go back in @err),
 * never looks at the machine, and calls no daemon file but poolspec.c and
 * size.c.
 */
#include "config.h"

#include "errmsg.h"
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
#define CONFIG_MAX_POOLS 4096u
#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)
#define SUN_PATH_LEN sizeof(((struct sockaddr_un *)0)->sun_path)

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
			contig_format_size(spec.below, window + 7, sizeof(window) - 7);
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
		(void)contig_errmsg(err, errlen, 0, "%s:%u: out of memory", source, lineno);
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
		(void)contig_errmsg(err, errlen, 0, "%s:%u: out of memory", source, lineno);
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
		(void)contig_errmsg(err, errlen, 0, "%s: out of memory", source);
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
		(void)contig_errmsg(err, errlen, 0, "%s: out of memory", source);
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
		(void)contig_errmsg(err, errlen, 0, "%s: %s", path, strerror(-r));
		return r;
	}
	/* One byte more than the limit tells a file at the limit from a larger one. */
	text = malloc(CONFIG_MAX_LEN + 2);
	if (!text) {
		(void)contig_errmsg(err, errlen, 0, "%s: %s", path, strerror(ENOMEM));
		r = -ENOMEM;
		goto out_close;
	}
	while (len <= CONFIG_MAX_LEN) {
		ssize_t n = read(fd, text + len, CONFIG_MAX_LEN + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			(void)contig_errmsg(err, errlen, 0, "%s: %s", path, strerror(-r));
			goto out_free;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > CONFIG_MAX_LEN) {
		(void)contig_errmsg(err, errlen, 0, "%s: larger than the %u MiB limit", path, CONFIG_MAX_LEN >> 20);
		r = -EFBIG;
		goto out_free;
	}
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		(void)contig_errmsg(err, errlen, 0, "%s: contains a NUL byte", path);
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

	if (nnodes > CONTIG_POOL_MAX_NODE + 1)
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

void contig_config_print(const struct contig_config *cfg, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *field = (const char *)cfg + k->offset;
		char a[32];

		switch (k->type) {
		case KEY_POOL:
			for (size_t p = 0; p < cfg->npools; p++) {
				fputs("pool = ", out);
				contig_pool_spec_print(&cfg->pools[p], out);
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
			contig_format_size(*(const uint64_t *)field, a, sizeof(a));
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
