/* test_config.c - unit tests for daemon/config.c, printing TAP.
 *
 * Hand-picked cases for every error path (each checks that the message
 * names the part that is wrong), plus three randomized checks against a
 * reference: sizes spelled at random must parse back to their value,
 * random contig_config_set_pool() calls must leave the same pools as a
 * simple (node, page size) table, and random files of limit keys must give
 * the defaults with each value applied, or the error of the first value out
 * of its key's range. The seed is printed; set CONFIG_SEED to
 * replay a run. Files go in a fresh temporary directory, removed at the end.
 * Run under ASan/LSan so that a leak on an error path fails the run.
 */
#include "config.h"
#include "fdpass.h"
#include "tap.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
/* A pool spec with default options. */
#define POOL(node_, page_, len_) { .node = (node_), .page_len = (page_), .len = (len_) }
#define TIB (UINT64_C(1) << 40)

static char tmpdir[64];

/* Write @len bytes of @text to tmpdir/@name; the path goes to @path. */
static void write_file(const char *name, const char *text, size_t len, char *path, size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f))
		bail_out("cannot write %s", path);
}

static void test_default(void)
{
	struct contig_config cfg = { 0 };
	char err[256] = "";
	int r;

	r = contig_config_parse(contig_config_default, "default", &cfg, err, sizeof(err));
	if (!ok(r == 0, "default_config_parses"))
		diag("  %d: %s", r, err);
	ok(cfg.socket_path && !strcmp(cfg.socket_path, CONTIG_DEFAULT_SOCKET),
	   "default_config_socket_is_CONTIG_DEFAULT_SOCKET");
	is_u64(cfg.npools, 2, "default_config_has_two_pools");
	if (cfg.npools == 2) {
		is_u64(cfg.pools[0].node, 0, "default_pool_is_on_node_0");
		is_u64(cfg.pools[0].page_len, 2 * MIB, "default_pool_uses_2M_pages");
		is_u64(cfg.pools[0].len, 256 * MIB, "default_pool_is_256M");
		is_u64(cfg.pools[0].below, 0, "default_pool_has_no_window");
		ok(cfg.pools[1].node == 0 && cfg.pools[1].page_len == 2 * MIB &&
			   cfg.pools[1].len >= 32 * MIB && cfg.pools[1].below == 4 * GIB &&
			   cfg.pools[1].when_memory_above,
		   "default_adds_at_least_32M_below_4G_where_node_0_has_memory_above_it");
	}
	is_u64(cfg.reserve_min_free, CONTIG_DEFAULT_RESERVE_MIN_FREE,
	       "default_reserve_min_free_is_CONTIG_DEFAULT_RESERVE_MIN_FREE");
	contig_config_done(&cfg);
}

static void test_sizes(void)
{
	static const struct {
		const char *text;
		uint64_t len;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "007", 7 },
		{ "4k", 4 * KIB },
		{ "4K", 4 * KIB },
		{ "64M", 64 * MIB },
		{ "64m", 64 * MIB },
		{ "1G", GIB },
		{ "2T", 2 * TIB },
		{ "1KiB", KIB },
		{ "1kib", KIB },
		{ "1KIB", KIB },
		{ "2MiB", 2 * MIB },
		{ "1KB", KIB },
		{ "3gb", 3 * GIB },
		{ "4096B", 4096 },
		{ "0x1000", 0x1000 },
		{ "0X10M", 16 * MIB },
		{ "0xaBcD", 0xabcd },
		{ "0x1B", 0x1b }, /* hex digits are greedy: B is a digit here */
		{ "0x1KiB", KIB },
		{ "18446744073709551615", UINT64_MAX },
		{ "0xffffffffffffffff", UINT64_MAX },
		{ "16777215T", ((UINT64_C(1) << 24) - 1) << 40 },
		{ "17179869183G", ((UINT64_C(1) << 34) - 1) << 30 },
	};
	static const char *const bad[] = {
		"",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1 M",
		"K",
		"B",
		"iB",
		"1X",
		"1P",
		"1E",
		"1KK",
		"1Ki",
		"1iB",
		"1KiBB",
		"1KBB",
		"1BB",
		"0x",
		"0xg",
		"0x-1",
		"1.5G",
		"1e3",
		"abc",
		"12abc",
		"18446744073709551616",
		"99999999999999999999999",
		"0x10000000000000000",
		"16777216T",
		"17179869184G",
		"18014398509481984K",
	};
	uint64_t len;
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		len = 12345;
		r = contig_parse_size(good[i].text, &len);
		if (!ok(r == 0 && len == good[i].len, "size \"%s\" parses to %" PRIu64,
			good[i].text, good[i].len))
			diag("  r=%d len=%" PRIu64, r, len);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = 12345;
		r = contig_parse_size(bad[i], &len);
		ok(r == -EINVAL && len == 12345, "size \"%s\" is rejected, ret_len untouched",
		   bad[i]);
	}
	len = 12345;
	ok(contig_parse_size(NULL, &len) == -EINVAL && len == 12345, "size NULL is rejected");
}

/* Spell a random size in a random legal way and parse it back. */
static void test_sizes_random(void)
{
	static const char *const units[] = { "", "K", "M", "G", "T" };
	static const char *const tails[] = { "", "B", "iB", "ib", "IB", "b" };
	int i, bad = 0;

	for (i = 0; i < 5000 && bad < 5; i++) {
		int unit = rand() % 5, tail = rand() % 6;
		uint64_t n = ((uint64_t)rand() << 31 ^ (uint64_t)rand()) >> (rand() % 62);
		uint64_t want, got = 0;
		char text[64], u[2] = "";
		int r;

		/* no "iB" without a unit letter */
		if (!unit && tail >= 2)
			tail = 1;
		n >>= 10 * unit;
		want = n << 10 * unit;
		if (unit)
			u[0] = rand() % 2 ? units[unit][0] : units[unit][0] + 'a' - 'A';
		if (rand() % 2)
			snprintf(text, sizeof(text), "%" PRIu64 "%s%s", n, u, tails[tail]);
		else
			snprintf(text, sizeof(text), "0x%" PRIx64 "%s%s", n, u, tails[tail]);
		r = contig_parse_size(text, &got);
		/* "0x1B" is 27, not 1 byte: hex digits are greedy, so skip that spelling */
		if (text[1] == 'x' && !unit && tail == 1)
			continue;
		if (r != 0 || got != want) {
			diag("  \"%s\": r=%d got %" PRIu64 " want %" PRIu64, text, r, got, want);
			bad++;
		}
	}
	ok(!bad, "size_random_spellings_parse_to_their_value");
}

static void test_pool_good(void)
{
	static const struct {
		const char *text;
		struct contig_pool_spec spec;
	} good[] = {
		{ "0:2M:256M", POOL(0, 2 * MIB, 256 * MIB) },
		{ "1023:1G:4G", POOL(1023, GIB, 4 * GIB) },
		{ "3:2097152:0x400000", POOL(3, 2 * MIB, 4 * MIB) },
		{ "0:2MiB:2M", POOL(0, 2 * MIB, 2 * MIB) },
		{ "7:1gib:1G", POOL(7, GIB, GIB) },
		{ "01:1024M:1T", POOL(1, GIB, TIB) },
	};
	struct contig_pool_spec spec;
	char err[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&spec, 0xa5, sizeof(spec));
		err[0] = '\0';
		r = contig_config_parse_pool(good[i].text, &spec, err, sizeof(err));
		if (!ok(r == 0 && spec.node == good[i].spec.node &&
				spec.page_len == good[i].spec.page_len &&
				spec.len == good[i].spec.len,
			"pool \"%s\" parses to {%d, %" PRIu64 ", %" PRIu64 "}", good[i].text,
			good[i].spec.node, good[i].spec.page_len, good[i].spec.len))
			diag("  r=%d err=%s", r, err);
	}
}

static void test_pool_bad(void)
{
	static const struct {
		const char *text;
		const char *why; /* what follows 'pool "TEXT": ' */
	} bad[] = {
		{ "", "expected NODE:PAGESIZE:SIZE[,OPTION=VALUE...]" },
		{ "0", "expected NODE:PAGESIZE:SIZE[,OPTION=VALUE...]" },
		{ "0:2M", "expected NODE:PAGESIZE:SIZE[,OPTION=VALUE...]" },
		{ "0:2M:64M:1", "expected NODE:PAGESIZE:SIZE[,OPTION=VALUE...]" },
		{ "x:2M:64M", "node \"x\" is not \"all\" or a number from 0 to 1023" },
		{ ":2M:64M", "node \"\" is not \"all\" or a number from 0 to 1023" },
		{ "1024:2M:64M", "node \"1024\" is not \"all\" or a number from 0 to 1023" },
		{ "-1:2M:64M", "node \"-1\" is not \"all\" or a number from 0 to 1023" },
		{ " 0:2M:64M", "node \" 0\" is not \"all\" or a number from 0 to 1023" },
		{ "99999999999:2M:64M", "node \"99999999999\" is not \"all\" or a number from 0 to 1023" },
		{ "0:3M:64M", "page size must be 2M or 1G" },
		{ "0:4K:64M", "page size must be 2M or 1G" },
		{ "0:0:64M", "page size must be 2M or 1G" },
		{ "0:2G:64G", "page size must be 2M or 1G" },
		{ "0:2Q:64M", "page size \"2Q\" is not a size" },
		{ "0::64M", "page size \"\" is not a size" },
		{ "0:2M:", "size \"\" is not a size" },
		{ "0:2M:lots", "size \"lots\" is not a size" },
		{ "0:2M:64M ", "size \"64M \" is not a size" },
		{ "0:2M:0x10000000000000000", "size \"0x10000000000000000\" is not a size" },
		{ "0:2M:0", "size must be greater than 0" },
		{ "0:2M:3M", "size \"3M\" is not a multiple of the page size" },
		{ "0:2M:4K", "size \"4K\" is not a multiple of the page size" },
		{ "0:1G:1536M", "size \"1536M\" is not a multiple of the page size" },
	};
	struct contig_pool_spec spec, sentinel;
	char err[256], want[256];
	size_t i;
	int r;

	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec = sentinel;
		err[0] = '\0';
		r = contig_config_parse_pool(bad[i].text, &spec, err, sizeof(err));
		snprintf(want, sizeof(want), "pool \"%s\": %s", bad[i].text, bad[i].why);
		if (!ok(r == -EINVAL && !strcmp(err, want) &&
				!memcmp(&spec, &sentinel, sizeof(spec)),
			"pool \"%s\" is rejected: %s", bad[i].text, bad[i].why))
			diag("  r=%d err=%s", r, err);
	}

	spec = sentinel;
	r = contig_config_parse_pool("0:3M:64M", &spec, NULL, 0);
	ok(r == -EINVAL && !memcmp(&spec, &sentinel, sizeof(spec)), "pool_error_with_NULL_err");
	memset(err, 'z', sizeof(err));
	r = contig_config_parse_pool("0:3M:64M", &spec, err, 8);
	ok(r == -EINVAL && !strcmp(err, "pool \"0") && err[8] == 'z',
	   "pool_error_truncates_to_errlen");
	r = contig_config_parse_pool("0:3M:64M", &spec, err, 0);
	ok(r == -EINVAL && err[0] == 'p', "pool_error_with_errlen_0_writes_nothing");
}

/* Parse @text as "t.conf"; expect -EINVAL and exactly @want in err, *cfg untouched. */
static void parse_fails(const char *text, const char *want, const char *name)
{
	struct contig_config cfg = { .socket_path = (char *)"sentinel", .npools = 77,
				      .watermark_low_pct = 11 }, before = cfg;
	char err[512] = "";
	int r;

	r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
	if (!ok(r == -EINVAL && !strcmp(err, want) && !memcmp(&cfg, &before, sizeof(cfg)), "%s",
		name))
		diag("  r=%d err=%s\n#   want %s", r, err, want);
	r = contig_config_parse(text, "t.conf", &cfg, NULL, 0);
	ok(r == -EINVAL && !memcmp(&cfg, &before, sizeof(cfg)), "%s (NULL err)", name);
}

static void test_parse(void)
{
	static const char text[] = "# a comment line\n"
				   "\n"
				   "   \t\n"
				   "  socket\t=   /tmp/x.sock   # trailing comment\r\n"
				   "pool=0:2M:64M\n"
				   "\tpool = 0:1G:2G\t\n"
				   "pool = 1:2M:2M# no space before the comment\n"
				   "   # indented comment\n"
				   "pool = 3:1GiB:0x40000000";
	struct contig_config cfg = { 0 };
	char err[512] = "", path[108], line[160];
	int r;

	r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
	if (!ok(r == 0, "parse_accepts_comments_blank_lines_whitespace_crlf_and_no_final_newline"))
		diag("  r=%d err=%s", r, err);
	ok(cfg.socket_path && !strcmp(cfg.socket_path, "/tmp/x.sock"),
	   "parse_trims_socket_path_and_drops_trailing_comment");
	is_u64(cfg.npools, 4, "parse_keeps_every_pool");
	if (cfg.npools == 4) {
		ok(cfg.pools[0].node == 0 && cfg.pools[0].page_len == 2 * MIB &&
			   cfg.pools[0].len == 64 * MIB && cfg.pools[1].node == 0 &&
			   cfg.pools[1].page_len == GIB && cfg.pools[1].len == 2 * GIB &&
			   cfg.pools[2].node == 1 && cfg.pools[2].page_len == 2 * MIB &&
			   cfg.pools[2].len == 2 * MIB && cfg.pools[3].node == 3 &&
			   cfg.pools[3].page_len == GIB && cfg.pools[3].len == GIB,
		   "parse_keeps_pools_in_file_order_with_their_values");
	}
	contig_config_done(&cfg);

	r = contig_config_parse("pool = 0:2M:2M\n", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.socket_path && !strcmp(cfg.socket_path, CONTIG_DEFAULT_SOCKET) &&
		   cfg.npools == 1,
	   "parse_without_socket_uses_CONTIG_DEFAULT_SOCKET");
	contig_config_done(&cfg);

	r = contig_config_parse("", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.npools == 0 && cfg.pools == NULL && cfg.socket_path &&
		   !strcmp(cfg.socket_path, CONTIG_DEFAULT_SOCKET),
	   "parse_of_empty_text_gives_no_pools_and_the_default_socket");
	contig_config_done(&cfg);

	/* the longest path sun_path holds with its NUL: 107 bytes */
	memset(path, 'a', 107);
	path[0] = '/';
	path[107] = '\0';
	snprintf(line, sizeof(line), "socket = %s\n", path);
	r = contig_config_parse(line, "t.conf", &cfg, NULL, 0);
	ok(r == 0 && cfg.socket_path && strlen(cfg.socket_path) == 107,
	   "parse_accepts_a_107_byte_socket_path");
	contig_config_done(&cfg);

	r = contig_config_parse("pool = 0:2M:2M\npool = 0:1G:1G\npool = 1:2M:2M\n", "t.conf", &cfg,
				err, sizeof(err));
	ok(r == 0 && cfg.npools == 3,
	   "parse_accepts_same_node_other_page_size_and_same_page_size_other_node");
	contig_config_done(&cfg);
}

static void test_parse_errors(void)
{
	char text[512], want[512], path[109];

	parse_fails("socket = /x\n\nsockets = /y\n",
		    "t.conf:3: key 'sockets': unknown key (contigd --print-config lists them)",
		    "parse_rejects_unknown_key_naming_line_and_key");
	parse_fails("# c\npool 0:2M:64M\n", "t.conf:2: key 'pool 0:2M:64M': missing '='",
		    "parse_rejects_line_without_equals");
	parse_fails("socket =\n", "t.conf:1: key 'socket': empty value",
		    "parse_rejects_empty_socket");
	parse_fails("pool = # nothing\n", "t.conf:1: key 'pool': empty value",
		    "parse_rejects_value_that_is_only_a_comment");
	parse_fails("\n = 5\n", "t.conf:2: key '': missing key before '='",
		    "parse_rejects_missing_key");
	parse_fails("pool = 0:2M:2M\nPool = 1:2M:2M\n",
		    "t.conf:2: key 'Pool': unknown key (contigd --print-config lists them)",
		    "parse_keys_are_case_sensitive");
	parse_fails("socket = /x\npool = 0:2M:64M\npool = 1:2M:2M\n# c\npool = 0:2MiB:128M\n",
		    "t.conf:5: key 'pool': pool \"0:2MiB:128M\": node 0 already has a 2M pool",
		    "parse_rejects_duplicate_node_and_page_size_without_leaking");
	parse_fails("pool = 1:1G:1G\npool = 1:1024M:2G\n",
		    "t.conf:2: key 'pool': pool \"1:1024M:2G\": node 1 already has a 1G pool",
		    "parse_rejects_duplicate_1G_pool");
	parse_fails("socket = /x\npool = 0:3M:64M\n",
		    "t.conf:2: key 'pool': pool \"0:3M:64M\": page size must be 2M or 1G",
		    "parse_reports_bad_pool_with_line_and_pool_reason");
	parse_fails("socket = /x\nsocket = /y\n",
		    "t.conf:2: key 'socket': given twice (first on line 1)",
		    "parse_rejects_second_socket");

	memset(path, 'a', 108);
	path[0] = '/';
	path[108] = '\0';
	snprintf(text, sizeof(text), "pool = 0:2M:2M\nsocket = %s\n", path);
	snprintf(want, sizeof(want),
		 "t.conf:2: key 'socket': path is 108 bytes; a socket path holds at most 107");
	parse_fails(text, want, "parse_rejects_socket_path_too_long_for_sun_path");
}

static void test_load(void)
{
	struct contig_config cfg = { 0 }, before;
	char path[256], want[512], err[512] = "";
	size_t big_len = (1u << 20) + 1;
	char *big;
	int r;

	write_file("default.conf", contig_config_default, strlen(contig_config_default), path,
		   sizeof(path));
	r = contig_config_load(path, &cfg, err, sizeof(err));
	if (!ok(r == 0 && cfg.npools == 2 && cfg.pools[0].len == 256 * MIB && cfg.socket_path &&
			!strcmp(cfg.socket_path, CONTIG_DEFAULT_SOCKET),
		"load_reads_and_parses_a_file"))
		diag("  r=%d err=%s", r, err);
	contig_config_done(&cfg);
	unlink(path);

	write_file("bad.conf", "socket = /x\nbogus = 1\n", 22, path, sizeof(path));
	r = contig_config_load(path, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:2: key 'bogus': unknown key (contigd --print-config lists them)", path);
	if (!ok(r == -EINVAL && !strcmp(err, want), "load_names_the_file_and_line_in_parse_errors"))
		diag("  r=%d err=%s", r, err);
	unlink(path);

	cfg = (struct contig_config){ .socket_path = (char *)"sentinel", .npools = 77 };
	before = cfg;
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	r = contig_config_load(path, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	if (!ok(r == -ENOENT && !strcmp(err, want) && !memcmp(&cfg, &before, sizeof(cfg)),
		"load_of_missing_file_is_ENOENT_with_path_and_strerror"))
		diag("  r=%d err=%s", r, err);
	ok(contig_config_load(path, &cfg, NULL, 0) == -ENOENT, "load_error_with_NULL_err");

	r = contig_config_load(tmpdir, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: %s", tmpdir, strerror(EISDIR));
	if (!ok(r == -EISDIR && !strcmp(err, want), "load_of_directory_is_EISDIR"))
		diag("  r=%d err=%s", r, err);

	write_file("nul.conf", "pool = 0:2M:2M\0\npool = 1:2M:2M\n", 31, path, sizeof(path));
	r = contig_config_load(path, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: contains a NUL byte", path);
	if (!ok(r == -EINVAL && !strcmp(err, want), "load_rejects_a_NUL_byte"))
		diag("  r=%d err=%s", r, err);
	unlink(path);

	/* exactly 1 MiB: comment padding, then a pool line at the very end */
	big = malloc(big_len);
	if (!big)
		bail_out("out of memory");
	memset(big, ' ', big_len);
	big[0] = big[1] = '#';
	big[big_len - 17] = '\n';
	memcpy(big + big_len - 16, "pool = 0:2M:64M\n", 16);
	write_file("limit.conf", big + 1, big_len - 1, path, sizeof(path));
	r = contig_config_load(path, &cfg, err, sizeof(err));
	if (!ok(r == 0 && cfg.npools == 1 && cfg.pools[0].len == 64 * MIB,
		"load_accepts_a_file_of_exactly_1_MiB"))
		diag("  r=%d err=%s", r, err);
	contig_config_done(&cfg);
	unlink(path);

	write_file("big.conf", big, big_len, path, sizeof(path));
	r = contig_config_load(path, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: larger than the 1 MiB limit", path);
	if (!ok(r == -EFBIG && !strcmp(err, want), "load_rejects_a_file_over_1_MiB_with_EFBIG"))
		diag("  r=%d err=%s", r, err);
	unlink(path);
	free(big);
}

static void test_set_pool(void)
{
	struct contig_config cfg = { 0 };
	struct contig_pool_spec spec;
	char err[256];
	int r;

	if (contig_config_parse("pool = 0:2M:256M\n", "one", &cfg, err, sizeof(err)))
		bail_out("one pool: %s", err);
	spec = (struct contig_pool_spec)POOL(0, 2 * MIB, 512 * MIB);
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 1 && cfg.pools[0].len == 512 * MIB,
	   "set_pool_replaces_the_same_node_and_page_size");
	spec = (struct contig_pool_spec)POOL(0, GIB, 2 * GIB);
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 2 && cfg.pools[1].page_len == GIB &&
		   cfg.pools[0].len == 512 * MIB,
	   "set_pool_appends_another_page_size_on_the_same_node");
	spec = (struct contig_pool_spec)POOL(1, 2 * MIB, 2 * MIB);
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 3 && cfg.pools[2].node == 1 && cfg.pools[0].node == 0 &&
		   cfg.pools[1].node == 0,
	   "set_pool_appends_the_same_page_size_on_another_node");
	spec = (struct contig_pool_spec)POOL(0, 2 * MIB, 32 * MIB);
	spec.below = 4 * GIB;
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 4 && cfg.pools[3].below == 4 * GIB &&
		   cfg.pools[0].len == 512 * MIB && cfg.pools[0].below == 0,
	   "set_pool_appends_a_window_beside_the_same_node_and_page_size");
	spec.len = 64 * MIB;
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 4 && cfg.pools[3].len == 64 * MIB,
	   "set_pool_replaces_the_same_node_page_size_and_window");
	contig_config_done(&cfg);
	ok(cfg.socket_path == NULL && cfg.pools == NULL && cfg.npools == 0,
	   "config_done_leaves_a_zeroed_config");
	contig_config_done(&cfg);
	contig_config_done(NULL);
	ok(1, "config_done_accepts_zeroed_and_NULL");

	spec = (struct contig_pool_spec)POOL(5, GIB, GIB);
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 1 && cfg.pools[0].node == 5 && cfg.socket_path == NULL,
	   "set_pool_works_on_a_zeroed_config");
	contig_config_done(&cfg);
}

/* Random set_pool calls against a table indexed by (node, page size). */
static void test_set_pool_random(void)
{
	struct contig_config cfg = { 0 };
	uint64_t model[4][2] = { { 0 } }; /* len, 0 = absent */
	size_t i, count;
	int step, node, big, bad = 0;

	for (step = 0; step < 2000 && !bad; step++) {
		struct contig_pool_spec spec;

		node = rand() % 4;
		big = rand() % 2;
		spec.node = node;
		spec.page_len = big ? GIB : 2 * MIB;
		spec.len = spec.page_len * (1 + rand() % 8);
		if (contig_config_set_pool(&cfg, &spec)) {
			diag("  step %d: set_pool failed", step);
			bad = 1;
			break;
		}
		model[node][big] = spec.len;

		count = 0;
		for (node = 0; node < 4; node++)
			for (big = 0; big < 2; big++)
				count += model[node][big] != 0;
		if (cfg.npools != count) {
			diag("  step %d: %zu pools, model has %zu", step, cfg.npools, count);
			bad = 1;
		}
		for (i = 0; i < cfg.npools && !bad; i++) {
			const struct contig_pool_spec *p = &cfg.pools[i];

			big = p->page_len == GIB;
			if (p->node < 0 || p->node >= 4 || model[p->node][big] != p->len) {
				diag("  step %d: pool %zu {%d, %" PRIu64 ", %" PRIu64
				     "} not in model",
				     step, i, p->node, p->page_len, p->len);
				bad = 1;
			}
		}
	}
	ok(!bad, "set_pool_random_calls_match_a_node_by_page_size_table");
	contig_config_done(&cfg);
}

/* Priority watermarks: defaults, percent syntax, range, and their order. */
static void test_watermarks(void)
{
	struct contig_config cfg;
	char err[512] = "";
	int r;

	r = contig_config_parse(contig_config_default, "default", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.watermark_low_pct == 25 && cfg.watermark_normal_pct == 5,
	   "default_watermarks_are_25_and_5_percent");
	if (r == 0)
		contig_config_done(&cfg);
	r = contig_config_parse("pool = 0:2M:4M\n", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.watermark_low_pct == CONTIG_DEFAULT_WATERMARK_LOW &&
		   cfg.watermark_normal_pct == CONTIG_DEFAULT_WATERMARK_NORMAL,
	   "watermarks_default_when_not_given");
	if (r == 0)
		contig_config_done(&cfg);
	r = contig_config_parse("watermark_low = 40%\nwatermark_normal = 10\n", "t.conf", &cfg, err,
				sizeof(err));
	ok(r == 0 && cfg.watermark_low_pct == 40 && cfg.watermark_normal_pct == 10,
	   "watermarks_take_percent_with_or_without_sign");
	if (r == 0)
		contig_config_done(&cfg);
	parse_fails("watermark_low = 101%\n",
		    "t.conf:1: key 'watermark_low': \"101%\" is not a percentage from 0 to 100",
		    "watermark_above_100_is_refused");
	parse_fails("watermark_low = -1\n",
		    "t.conf:1: key 'watermark_low': \"-1\" is not a percentage from 0 to 100",
		    "negative_watermark_is_refused");
	parse_fails("watermark_low = 5\nwatermark_normal = 6\n",
		    "t.conf:2: key 'watermark_normal': 6% is above watermark_low (5%): normal "
		    "priority would fail before low",
		    "normal_watermark_above_low_is_refused");
}

/* max_share_per_user: a limit in percent, 1 to 100, default 50%, printed
 * back with its sign. */
static void test_share_key(void)
{
	struct contig_config cfg;
	char err[512] = "", *text = NULL;
	size_t len = 0;
	FILE *out;
	int r;

	r = contig_config_parse(contig_config_default, "default", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.limits.max_share_per_user == 50 && CONTIG_DEFAULT_SHARE_PER_USER == 50,
	   "default_max_share_per_user_is_50_percent");
	if (r == 0)
		contig_config_done(&cfg);
	r = contig_config_parse("max_share_per_user = 100%\n", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.limits.max_share_per_user == 100, "max_share_per_user_100_percent_parses");
	if (r == 0)
		contig_config_done(&cfg);
	r = contig_config_parse("max_share_per_user = 1\n", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.limits.max_share_per_user == 1, "max_share_per_user_takes_no_sign_too");
	out = open_memstream(&text, &len);
	if (r == 0 && out) {
		contig_config_print(&cfg, out);
		fclose(out);
	}
	ok(text && strstr(text, "\nmax_share_per_user = 1%\n"),
	   "print_writes_max_share_per_user_with_its_sign");
	free(text);
	if (r == 0)
		contig_config_done(&cfg);
	parse_fails("max_share_per_user = 0%\n",
		    "t.conf:1: key 'max_share_per_user': \"0%\" is not a percentage from 1 to 100",
		    "max_share_per_user_0_is_refused");
	parse_fails("max_share_per_user = 101\n",
		    "t.conf:1: key 'max_share_per_user': \"101\" is not a percentage from 1 to 100",
		    "max_share_per_user_above_100_is_refused");
	parse_fails("max_share_per_user = 2M\n",
		    "t.conf:1: key 'max_share_per_user': \"2M\" is not a percentage from 1 to 100",
		    "max_share_per_user_is_no_size");
}

/* ---- access and limit keys ---- */

/* Every limit key, with the range its error states. */
static const struct limit_key {
	const char *name;
	size_t offset; /* in struct contig_limits */
	bool bytes;    /* KEY_BYTES ("byte count"), else KEY_COUNT ("count") */
	uint64_t min, max;
} limit_keys[] = {
	{ "max_connections", offsetof(struct contig_limits, max_connections), false, 1, 1u << 20 },
	{ "max_connections_per_user", offsetof(struct contig_limits, max_connections_per_user),
	  false, 1, 1u << 20 },
	{ "max_buffers_per_connection",
	  offsetof(struct contig_limits, max_buffers_per_connection), false, 1, 1u << 30 },
	{ "max_buffers_per_user", offsetof(struct contig_limits, max_buffers_per_user), false, 1,
	  1u << 30 },
	{ "max_bytes_per_connection", offsetof(struct contig_limits, max_bytes_per_connection),
	  true, 0, UINT64_MAX },
	{ "max_bytes_per_user", offsetof(struct contig_limits, max_bytes_per_user), true, 0,
	  UINT64_MAX },
	{ "max_frames_per_buffer", offsetof(struct contig_limits, max_frames_per_buffer), false, 1,
	  1u << 20 },
	{ "max_request_len", offsetof(struct contig_limits, max_request_len), true, 64,
	  CONTIG_MAX_REQUEST_LEN },
	{ "max_queued_replies", offsetof(struct contig_limits, max_queued_replies), false, 1,
	  1u << 16 },
	{ "max_tags_per_user", offsetof(struct contig_limits, max_tags_per_user), false, 1,
	  CONTIG_MAX_TAGS },
};

#define NLIMITS (sizeof(limit_keys) / sizeof(limit_keys[0]))

static uint64_t *limit_field(struct contig_limits *lim, const struct limit_key *k)
{
	return (uint64_t *)((char *)lim + k->offset);
}

static bool same_limits(const struct contig_limits *a, const struct contig_limits *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* What the parser says about a value of @k outside its range. */
static void range_error(char *buf, size_t len, unsigned lineno, const struct limit_key *k,
			const char *value)
{
	snprintf(buf, len, "t.conf:%u: key '%s': \"%s\" is not a %s from %" PRIu64 " to %" PRIu64,
		 lineno, k->name, value, k->bytes ? "byte count" : "count", k->min, k->max);
}

static void test_limit_defaults(void)
{
	const struct contig_limits want = CONTIG_DEFAULT_LIMITS;
	struct contig_config cfg = { 0 };
	char err[512] = "", needle[64];
	size_t i, missing = 0;
	int r;

	r = contig_config_parse("", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && same_limits(&cfg.limits, &want),
	   "limits_not_given_are_CONTIG_DEFAULT_LIMITS");
	ok(r == 0 && cfg.socket_user && !strcmp(cfg.socket_user, CONTIG_DEFAULT_SOCKET_USER) &&
		   cfg.socket_group && !strcmp(cfg.socket_group, CONTIG_DEFAULT_SOCKET_GROUP) &&
		   cfg.socket_mode == CONTIG_DEFAULT_SOCKET_MODE && !cfg.allow_users &&
		   !cfg.allow_groups,
	   "access_keys_not_given_are_root_contigd_0660_and_no_allow_lists");
	contig_config_done(&cfg);
	ok(cfg.socket_user == NULL && cfg.socket_group == NULL && cfg.allow_users == NULL &&
		   cfg.allow_groups == NULL,
	   "config_done_releases_the_access_strings");

	r = contig_config_parse(contig_config_default, "default", &cfg, err, sizeof(err));
	if (!ok(r == 0 && same_limits(&cfg.limits, &want),
		"default_file_parses_to_CONTIG_DEFAULT_LIMITS"))
		diag("  r=%d err=%s", r, err);
	ok(r == 0 && cfg.socket_user && !strcmp(cfg.socket_user, CONTIG_DEFAULT_SOCKET_USER) &&
		   cfg.socket_group && !strcmp(cfg.socket_group, CONTIG_DEFAULT_SOCKET_GROUP) &&
		   cfg.socket_mode == CONTIG_DEFAULT_SOCKET_MODE && !cfg.allow_users &&
		   !cfg.allow_groups,
	   "default_file_gives_the_default_socket_owner_group_mode_and_no_allow_lists");
	contig_config_done(&cfg);

	/* --print-config documents every limit, each on a line of its own. */
	for (i = 0; i < NLIMITS; i++) {
		const char *at;

		snprintf(needle, sizeof(needle), "\n%s = ", limit_keys[i].name);
		at = strstr(contig_config_default, needle);
		if (!at || strstr(at + 1, needle)) {
			diag("  %s: %s in the default file", limit_keys[i].name,
			     at ? "twice" : "not");
			missing++;
		}
	}
	ok(!missing, "default_file_sets_every_limit_key_once");
	for (i = 0, missing = 0; i < NLIMITS; i++) {
		const struct limit_key *k = &limit_keys[i];
		uint64_t v = *limit_field((struct contig_limits *)&want, k);

		if (v < k->min || v > k->max) {
			diag("  %s default %" PRIu64 " outside %" PRIu64 "..%" PRIu64, k->name, v,
			     k->min, k->max);
			missing++;
		}
	}
	ok(!missing, "every_default_limit_lies_in_its_keys_range");
}

static void test_mode_key(void)
{
	static const struct {
		const char *text;
		unsigned mode;
	} good[] = {
		{ "0660", 0660 }, { "0600", 0600 }, { "0", 0 },
		{ "777", 0777 },  { "0777", 0777 }, { "00640", 0640 },
	};
	static const char *const bad[] = {
		"1000", "01000", "0778", "8", "-1", "-0660", "0x1b0", "rw-rw----", "0660 0",
		"99999999999999999999999",
	};
	struct contig_config cfg;
	char text[128], want[256], err[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "socket_mode = %s\n", good[i].text);
		r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
		if (!ok(r == 0 && cfg.socket_mode == good[i].mode,
			"socket_mode \"%s\" parses to %#o", good[i].text, good[i].mode))
			diag("  r=%d err=%s", r, err);
		if (r == 0)
			contig_config_done(&cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "socket_mode = %s\n", bad[i]);
		snprintf(want, sizeof(want),
			 "t.conf:1: key 'socket_mode': \"%s\" is not an octal mode such as 0660",
			 bad[i]);
		snprintf(err, sizeof(err), "socket_mode \"%s\" is refused naming the key", bad[i]);
		parse_fails(text, want, err);
	}
}

static void test_name_and_list_keys(void)
{
	static const char text[] = "socket_user = nobody\n"
				   "socket_group = 65534\n"
				   "allow_users = alice, 1000,bob\n"
				   "allow_groups = video\n";
	static const char *const name_keys[] = { "socket_user", "socket_group" };
	static const char *const bad_names[] = { "root,adm", "root adm", "a, b" };
	struct contig_config cfg;
	char line[128], want[256], name[128], err[256];
	int r;

	r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
	if (!ok(r == 0, "access_keys_parse"))
		diag("  r=%d err=%s", r, err);
	if (r == 0) {
		ok(!strcmp(cfg.socket_user, "nobody") && !strcmp(cfg.socket_group, "65534"),
		   "socket_user_and_socket_group_keep_a_name_or_a_number_as_given");
		ok(cfg.allow_users && !strcmp(cfg.allow_users, "alice, 1000,bob") &&
			   cfg.allow_groups && !strcmp(cfg.allow_groups, "video"),
		   "allow_lists_are_kept_verbatim_for_the_daemon_to_resolve");
		contig_config_done(&cfg);
	}
	for (size_t k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
			snprintf(line, sizeof(line), "%s = %s\n", name_keys[k], bad_names[i]);
			snprintf(want, sizeof(want),
				 "t.conf:1: key '%s': \"%s\" is not one user or group name",
				 name_keys[k], bad_names[i]);
			snprintf(name, sizeof(name), "%s \"%s\" is refused: one name only",
				 name_keys[k], bad_names[i]);
			parse_fails(line, want, name);
		}
	}
	parse_fails("allow_users =\n", "t.conf:1: key 'allow_users': empty value",
		    "empty_allow_users_is_refused");
	parse_fails("allow_groups = # none\n", "t.conf:1: key 'allow_groups': empty value",
		    "allow_groups_that_is_only_a_comment_is_refused");
}

/* Each limit: both ends of its range, a K/M/G spelling, and the values just
 * outside, refused with the key and the range. */
static void test_limit_keys(void)
{
	const struct contig_limits defaults = CONTIG_DEFAULT_LIMITS;
	struct contig_config cfg;
	char text[256], value[64], want[512], name[256], err[512];
	size_t i;
	int r;

	for (i = 0; i < NLIMITS; i++) {
		const struct limit_key *k = &limit_keys[i];
		struct contig_limits expect = defaults;
		const uint64_t ends[2] = { k->min, k->max };

		for (int e = 0; e < 2; e++) {
			snprintf(text, sizeof(text), "%s = %" PRIu64 "\n", k->name, ends[e]);
			*limit_field(&expect, k) = ends[e];
			r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
			if (!ok(r == 0 && same_limits(&cfg.limits, &expect),
				"%s_takes_%s_%" PRIu64 "_and_changes_nothing_else", k->name,
				e ? "its_maximum" : "its_minimum", ends[e]))
				diag("  r=%d err=%s", r, err);
			if (r == 0)
				contig_config_done(&cfg);
		}
		/* a suffix spelling of the maximum */
		if (k->max % 1024 == 0) {
			uint64_t m = k->max;
			const char *unit = "K";

			m /= 1024;
			if (m % 1024 == 0) {
				m /= 1024;
				unit = "M";
			}
			if (m % 1024 == 0) {
				m /= 1024;
				unit = "G";
			}
			snprintf(text, sizeof(text), "%s = %" PRIu64 "%s\n", k->name, m, unit);
			r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
			if (!ok(r == 0 && *limit_field(&cfg.limits, k) == k->max,
				"%s_takes_a_suffix: %" PRIu64 "%s", k->name, m, unit))
				diag("  r=%d err=%s", r, err);
			if (r == 0)
				contig_config_done(&cfg);
		}
		if (k->min > 0) {
			snprintf(value, sizeof(value), "%" PRIu64, k->min - 1);
			snprintf(text, sizeof(text), "%s = %s\n", k->name, value);
			range_error(want, sizeof(want), 1, k, value);
			snprintf(name, sizeof(name), "%s_below_its_minimum_is_refused_naming_key_and_range",
				 k->name);
			parse_fails(text, want, name);
		}
		if (k->max < UINT64_MAX)
			snprintf(value, sizeof(value), "%" PRIu64, k->max + 1);
		else
			snprintf(value, sizeof(value), "18446744073709551616");
		snprintf(text, sizeof(text), "# limits\n\n%s = %s\n", k->name, value);
		range_error(want, sizeof(want), 3, k, value);
		snprintf(name, sizeof(name), "%s_above_its_maximum_is_refused_naming_key_and_range",
			 k->name);
		parse_fails(text, want, name);
		snprintf(text, sizeof(text), "%s = -1\n", k->name);
		range_error(want, sizeof(want), 1, k, "-1");
		snprintf(name, sizeof(name), "%s_negative_is_refused", k->name);
		parse_fails(text, want, name);
		snprintf(text, sizeof(text), "%s = lots\n", k->name);
		range_error(want, sizeof(want), 1, k, "lots");
		snprintf(name, sizeof(name), "%s_not_a_number_is_refused", k->name);
		parse_fails(text, want, name);
	}
	/* 0 means no limit for the byte limits */
	r = contig_config_parse("max_bytes_per_connection = 0\nmax_bytes_per_user = 64M\n",
				"t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.limits.max_bytes_per_connection == 0 &&
		   cfg.limits.max_bytes_per_user == 64 * MIB,
	   "byte_limits_take_0_and_size_suffixes");
	if (r == 0)
		contig_config_done(&cfg);
}

/* Every key but pool, given twice, is refused at the second line, naming
 * the first. */
static void test_keys_given_twice(void)
{
	static const struct {
		const char *key, *value;
	} keys[] = {
		{ "socket", "/tmp/x.sock" },
		{ "socket_user", "root" },
		{ "socket_group", "0" },
		{ "socket_mode", "0600" },
		{ "allow_users", "nobody" },
		{ "allow_groups", "daemon" },
		{ "watermark_low", "30%" },
		{ "watermark_normal", "3%" },
		{ "max_connections", "10" },
		{ "max_connections_per_user", "2" },
		{ "max_buffers_per_connection", "4" },
		{ "max_buffers_per_user", "8" },
		{ "max_bytes_per_connection", "1M" },
		{ "max_bytes_per_user", "2M" },
		{ "max_frames_per_buffer", "3" },
		{ "max_request_len", "128" },
		{ "max_queued_replies", "4" },
		{ "max_tags_per_user", "16" },
	};
	char text[256], want[256], name[128];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text), "# c\n%s = %s\npool = 0:2M:2M\n\n%s = %s\n", keys[i].key,
			 keys[i].value, keys[i].key, keys[i].value);
		snprintf(want, sizeof(want), "t.conf:5: key '%s': given twice (first on line 2)",
			 keys[i].key);
		snprintf(name, sizeof(name), "%s_given_twice_is_refused_naming_the_first_line",
			 keys[i].key);
		parse_fails(text, want, name);
	}
}

static uint64_t rand64(void)
{
	return (uint64_t)rand() << 62 ^ (uint64_t)rand() << 31 ^ (uint64_t)rand();
}

/* Random files of limit keys, in random order, with values in and out of
 * range, against a model: the defaults with each value applied, or the
 * error of the first bad line. */
static void test_limits_random(void)
{
	int bad = 0, nrefused = 0, iter;

	for (iter = 0; iter < 3000 && bad < 5; iter++) {
		struct contig_limits want = CONTIG_DEFAULT_LIMITS;
		struct contig_config cfg;
		char text[4096], want_err[512] = "", err[512] = "";
		size_t order[NLIMITS], n = 0, count = (size_t)rand() % (NLIMITS + 1);
		unsigned lineno = 0;
		int r;

		for (size_t i = 0; i < NLIMITS; i++)
			order[i] = i;
		for (size_t i = NLIMITS - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		text[0] = '\0';
		for (size_t i = 0; i < count; i++) {
			const struct limit_key *k = &limit_keys[order[i]];
			uint64_t span = k->max - k->min, v;
			char value[64];
			bool valid = true;

			if (rand() % 4 == 0) {
				n += (size_t)snprintf(text + n, sizeof(text) - n, "# x\n");
				lineno++;
			}
			switch (rand() % 8) {
			case 0:
				v = k->min;
				break;
			case 1:
				v = k->max;
				break;
			case 6:
				valid = false;
				if (k->min > 0) {
					snprintf(value, sizeof(value), "%" PRIu64, k->min - 1);
					break;
				}
				/* fall through - no value below 0 */
			case 7:
				valid = false;
				if (k->max < UINT64_MAX)
					snprintf(value, sizeof(value), "%" PRIu64, k->max + 1);
				else
					snprintf(value, sizeof(value), "0x10000000000000000");
				break;
			default:
				v = k->min + (span == UINT64_MAX ? rand64() : rand64() % (span + 1));
				break;
			}
			if (valid) {
				if (rand() % 2)
					snprintf(value, sizeof(value), "%" PRIu64, v);
				else
					snprintf(value, sizeof(value), "0x%" PRIx64, v);
			}
			lineno++;
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n", k->name,
					      value);
			if (want_err[0])
				continue;
			if (valid)
				*limit_field(&want, k) = v;
			else
				range_error(want_err, sizeof(want_err), lineno, k, value);
		}
		r = contig_config_parse(text, "t.conf", &cfg, err, sizeof(err));
		nrefused += want_err[0] != '\0';
		if (want_err[0] ? r != -EINVAL || strcmp(err, want_err)
				: r != 0 || !same_limits(&cfg.limits, &want)) {
			diag("  iteration %d: r=%d err=%s\n#   want %s\n#   text:\n%s", iter, r, err,
			     want_err[0] ? want_err : "success", text);
			bad++;
		}
		if (r == 0)
			contig_config_done(&cfg);
	}
	diag("  %d random limit files, %d of them with a value out of range", iter, nrefused);
	ok(!bad, "random_limit_files_parse_as_the_model_says");
}

static void test_log_level(void)
{
	static const char *const names[] = { "emerg", "alert", "crit", "err",
					     "warning", "notice", "info", "debug" };
	struct contig_config cfg = { 0 };
	char text[64], err[256];
	bool all = true;

	ok(contig_config_parse("pool = 0:2M:2M\n", "t.conf", &cfg, err, sizeof(err)) == 0 &&
		   cfg.log_level == CONTIG_DEFAULT_LOG_LEVEL,
	   "log_level_defaults_to_info");
	contig_config_done(&cfg);
	for (int i = 0; i < 8; i++) {
		for (int as_digit = 0; as_digit < 2; as_digit++) {
			if (as_digit)
				snprintf(text, sizeof(text), "log_level = %d\n", i);
			else
				snprintf(text, sizeof(text), "log_level = %s\n", names[i]);
			all = all && contig_config_parse(text, "t.conf", &cfg, err, sizeof(err)) == 0 &&
			      cfg.log_level == i;
			contig_config_done(&cfg);
		}
	}
	ok(all, "log_level_takes_each_syslog_name_and_number");
	parse_fails("log_level = 8\n",
		    "t.conf:1: key 'log_level': \"8\" is not a level: emerg, alert, crit, err, "
		    "warning, notice, info, debug, or 0 to 7",
		    "log_level_8_is_refused_naming_the_key");
	parse_fails("log_level = INFO\n",
		    "t.conf:1: key 'log_level': \"INFO\" is not a level: emerg, alert, crit, err, "
		    "warning, notice, info, debug, or 0 to 7",
		    "log_level_names_are_lower_case");
}

static void test_session_grace(void)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} good[] = { { "0", 0 }, { "30s", 30000 }, { "1500ms", 1500 }, { "2m", 120000 },
		     { "1h", 3600000 }, { "1s", 1000 } };
	static const char *const bad[] = { "30", "1.5s", "-1s", "999ms", "2h", "5 s", "s", "30S" };
	struct contig_config cfg = { 0 };
	char text[64], err[256];
	bool all = true;

	ok(contig_config_parse("pool = 0:2M:2M\n", "t.conf", &cfg, err, sizeof(err)) == 0 &&
		   cfg.session_grace_ms == 30000,
	   "session_grace_defaults_to_30_s");
	contig_config_done(&cfg);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "session_grace = %s\n", good[i].text);
		if (contig_config_parse(text, "t.conf", &cfg, err, sizeof(err)) != 0 ||
		    cfg.session_grace_ms != good[i].ms) {
			diag("  %s: %s", good[i].text, err);
			all = false;
		}
		contig_config_done(&cfg);
	}
	ok(all, "session_grace_takes_0_and_ms_s_m_h");
	all = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "session_grace = %s\n", bad[i]);
		if (contig_config_parse(text, "t.conf", &cfg, err, sizeof(err)) == 0) {
			diag("  %s was accepted", bad[i]);
			all = false;
			contig_config_done(&cfg);
		}
	}
	ok(all, "session_grace_refuses_no_unit_fractions_and_out_of_range");
	parse_fails("session_grace = 30\n",
		    "t.conf:1: key 'session_grace': \"30\" is not 0 or a duration from 1 s to "
		    "3600 s, such as 30s, 1500ms or 2m",
		    "session_grace_without_a_unit_is_refused_naming_the_key");
}

/* Field by field: a pool spec has padding, which memcmp would compare. */
static bool same_pools(const struct contig_config *a, const struct contig_config *b)
{
	for (size_t i = 0; i < a->npools; i++)
		if (a->pools[i].node != b->pools[i].node ||
		    a->pools[i].page_len != b->pools[i].page_len || a->pools[i].len != b->pools[i].len ||
		    a->pools[i].reserve_sorted != b->pools[i].reserve_sorted ||
		    contig_pool_spec_candidates(&a->pools[i], 1000, a->pools[i].page_len) !=
			    contig_pool_spec_candidates(&b->pools[i], 1000, b->pools[i].page_len) ||
		    a->pools[i].min_segment_len != b->pools[i].min_segment_len ||
		    a->pools[i].min_segment_warn != b->pools[i].min_segment_warn ||
		    a->pools[i].below != b->pools[i].below ||
		    a->pools[i].when_memory_above != b->pools[i].when_memory_above)
			return false;
	return true;
}

/* contig_config_print() of a parsed file parses back to the same
 * configuration, for the built-in default and for a file setting every key. */
static void print_round_trips(const char *text, const char *name)
{
	struct contig_config a = { 0 }, b = { 0 };
	char err[256] = "", *out = NULL;
	size_t outlen = 0;
	FILE *f;
	bool same;

	if (contig_config_parse(text, "a.conf", &a, err, sizeof(err)) < 0)
		bail_out("%s: %s", name, err);
	f = open_memstream(&out, &outlen);
	if (!f)
		bail_out("open_memstream");
	contig_config_print(&a, f);
	fclose(f);
	if (!ok(contig_config_parse(out, "printed", &b, err, sizeof(err)) == 0, "%s: printed_parses",
		name))
		diag("  %s\n%s", err, out);
	same = !strcmp(a.socket_path, b.socket_path) && !strcmp(a.socket_user, b.socket_user) &&
	       !strcmp(a.socket_group, b.socket_group) && a.socket_mode == b.socket_mode &&
	       !a.allow_users == !b.allow_users &&
	       (!a.allow_users || !strcmp(a.allow_users, b.allow_users)) &&
	       !a.allow_groups == !b.allow_groups &&
	       (!a.allow_groups || !strcmp(a.allow_groups, b.allow_groups)) &&
	       a.npools == b.npools &&
	       same_pools(&a, &b) &&
	       a.watermark_low_pct == b.watermark_low_pct &&
	       a.watermark_normal_pct == b.watermark_normal_pct &&
	       !memcmp(&a.limits, &b.limits, sizeof(a.limits)) && a.busy_poll_us == b.busy_poll_us &&
	       a.log_level == b.log_level && a.session_grace_ms == b.session_grace_ms &&
	       a.reserve_min_free == b.reserve_min_free;
	if (!ok(same, "%s: printed_configuration_is_the_same", name))
		diag("%s", out);
	free(out);
	contig_config_done(&a);
	contig_config_done(&b);
}

static void test_print(void)
{
	print_round_trips(contig_config_default, "default");
	print_round_trips("socket = /tmp/p.sock\n"
			  "pool = 0:2M:64M\npool = 1:1G:3G\npool = 2:2M:6M\n"
			  "watermark_low = 40%\nwatermark_normal = 7\n"
			  "socket_user = 0\nsocket_group = disk\nsocket_mode = 0600\n"
			  "allow_users = alice,bob\nallow_groups = video, 44\n"
			  "max_connections = 3\nmax_connections_per_user = 2\n"
			  "max_buffers_per_connection = 5\nmax_buffers_per_user = 7K\n"
			  "max_bytes_per_connection = 12345\nmax_bytes_per_user = 3G\n"
			  "max_frames_per_buffer = 9\nmax_request_len = 100\n"
			  "max_queued_replies = 4\nbusy_poll_us = 50\nlog_level = debug\nsession_grace = 1500ms\n"
			  "reserve_min_free = 3G\n",
			  "every_key");
}

/* Does @cfg hold exactly the pools @want, in that order? */
static bool pools_are(const struct contig_config *cfg, const struct contig_pool_spec *want,
		      size_t n)
{
	if (cfg->npools != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (cfg->pools[i].node != want[i].node || cfg->pools[i].page_len != want[i].page_len ||
		    cfg->pools[i].len != want[i].len)
			return false;
	return true;
}

/* "all:PAGESIZE:SIZE": parsed, refused twice, printed back as written, and
 * expanded over the nodes given, a pool named by node winning. */
static void test_pool_all(void)
{
	struct contig_config cfg = { 0 };
	struct contig_pool_spec spec;
	char err[512] = "";
	int r;

	r = contig_config_parse_pool("all:2M:64M", &spec, err, sizeof(err));
	ok(r == 0 && spec.node == CONTIG_POOL_ALL_NODES && spec.page_len == 2 * MIB &&
		   spec.len == 64 * MIB,
	   "pool_all_parses_to_every_node");
	r = contig_config_parse_pool("ALL:2M:64M", &spec, err, sizeof(err));
	ok(r == -EINVAL && strstr(err, "is not \"all\""), "pool_all_is_lower_case");
	parse_fails("pool = all:2M:64M\npool = all:2M:32M\n",
		    "t.conf:2: key 'pool': pool \"all:2M:32M\": a 2M pool on every node is "
		    "already given",
		    "parse_rejects_second_all_pool_of_a_page_size");
	print_round_trips("pool = all:2M:64M\npool = 1:2M:8M\npool = all:1G:1G\n",
			  "pool_all_round_trips");

	r = contig_config_parse("pool = 0:1G:1G\npool = all:2M:16M\npool = 2:2M:8M\n"
				"pool = all:1G:2G\n",
				"t.conf", &cfg, err, sizeof(err));
	if (!ok(r == 0 && cfg.npools == 4, "pool_all_mixed_with_named_nodes_parses"))
		diag("  r=%d err=%s", r, err);
	if (r == 0) {
		static const int nodes[] = { 0, 2, 3 };
		static const struct contig_pool_spec want[] = {
			POOL(0, GIB, GIB),          POOL(0, 2 * MIB, 16 * MIB), POOL(3, 2 * MIB, 16 * MIB),
			POOL(2, 2 * MIB, 8 * MIB), POOL(2, GIB, 2 * GIB),      POOL(3, GIB, 2 * GIB),
		};

		r = contig_config_expand_all(&cfg, nodes, 3);
		if (!ok(r == 0 && pools_are(&cfg, want, 6),
			"expand_all_gives_each_node_its_pool_and_a_named_node_wins"))
			for (size_t i = 0; i < cfg.npools; i++)
				diag("  pool %zu: %d:%" PRIu64 ":%" PRIu64, i, cfg.pools[i].node,
				     cfg.pools[i].page_len, cfg.pools[i].len);
		r = contig_config_expand_all(&cfg, nodes, 3);
		ok(r == 0 && pools_are(&cfg, want, 6), "expand_all_twice_changes_nothing");
	}
	contig_config_done(&cfg);

	r = contig_config_parse("pool = all:2M:16M\n", "t.conf", &cfg, err, sizeof(err));
	if (r == 0) {
		r = contig_config_expand_all(&cfg, NULL, 0);
		ok(r == 0 && cfg.npools == 0, "expand_all_over_no_node_leaves_no_pool");
	} else {
		ok(0, "expand_all_over_no_node_leaves_no_pool");
	}
	contig_config_done(&cfg);
}

/* Pool options (issue 10): each parses to its field, defaults are zero,
 * bad ones are refused naming the option, and all round-trip. */
static void test_pool_options(void)
{
	static const struct {
		const char *text;
		bool sorted, warn;
		uint64_t candidates, min_segment;
	} good[] = {
		{ "0:2M:64M", false, false, 8 * 32, 0 },
		{ "0:2M:64M,reserve=sorted", true, false, 32, 0 },
		{ "0:2M:64M,reserve=longest,candidates=16x", false, false, 16 * 32, 0 },
		{ "0:2M:64M,candidates=1G", false, false, 512, 0 },
		{ "0:2M:64M,min_segment=32M,short=warn", false, true, 8 * 32, 32 * MIB },
		{ "all:1G:2G,candidates=1x,min_segment=1G", false, false, 2, 1 * GIB },
	};
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "0:2M:64M,", "option \"\" is not KEY=VALUE" },
		{ "0:2M:64M,reserve", "option \"reserve\" is not KEY=VALUE" },
		{ "0:2M:64M,reserve=best", "reserve: \"best\" is not longest or sorted" },
		{ "0:2M:64M,short=maybe", "short: \"maybe\" is not error or warn" },
		{ "0:2M:64M,candidates=0x",
		  "candidates: \"0x\" is not a multiple of the pool (1x to 64x) or a size" },
		{ "0:2M:64M,candidates=65x",
		  "candidates: \"65x\" is not a multiple of the pool (1x to 64x) or a size" },
		{ "0:2M:64M,candidates=32M", "candidates must be at least the pool's size" },
		{ "0:2M:64M,candidates=65M", "candidates is not a multiple of the page size" },
		{ "0:2M:64M,min_segment=128M", "min_segment is larger than the pool" },
		{ "0:2M:64M,min_segment=lots", "min_segment: \"lots\" is not a size" },
		{ "0:2M:64M,colour=blue",
		  "unknown option \"colour\" (reserve, candidates, min_segment, short, below, "
		  "when)" },
		{ "0:2M:64M,below=0", "below: \"0\" is not a physical address above 0" },
		{ "0:2M:64M,below=low", "below: \"low\" is not a physical address above 0" },
		{ "0:2M:64M,below=3M", "below is not a multiple of the page size" },
		{ "0:1G:1G,below=4095M", "below is not a multiple of the page size" },
		{ "0:2M:64M,when=memory_above", "when=memory_above needs below=" },
		{ "0:2M:64M,below=4G,when=always", "when: \"always\" is not memory_above" },
	};
	struct contig_pool_spec spec;
	char err[256], want[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r = contig_config_parse_pool(good[i].text, &spec, err, sizeof(err));

		if (!ok(r == 0 && spec.reserve_sorted == good[i].sorted &&
				spec.min_segment_warn == good[i].warn &&
				contig_pool_spec_candidates(&spec, spec.len / spec.page_len,
							    spec.page_len) == good[i].candidates &&
				spec.min_segment_len == good[i].min_segment,
			"pool \"%s\" parses with its options", good[i].text))
			diag("  r=%d err=%s", r, r ? err : "");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = contig_config_parse_pool(bad[i].text, &spec, err, sizeof(err));

		snprintf(want, sizeof(want), "pool \"%s\": %s", bad[i].text, bad[i].why);
		if (!ok(r == -EINVAL && !strcmp(err, want), "pool \"%s\" is rejected: %s",
			bad[i].text, bad[i].why))
			diag("  r=%d err=%s", r, err);
	}
	print_round_trips("pool = 0:2M:64M,reserve=sorted\n"
			  "pool = 1:2M:64M,candidates=16x,min_segment=32M,short=warn\n"
			  "pool = 0:1G:2G,candidates=4G\n"
			  "pool = all:2M:8M,candidates=1x\n"
			  "pool = 0:2M:32M,below=4G,when=memory_above\n"
			  "pool = 0:2M:16M,below=256M,reserve=sorted\n",
			  "pool_options_round_trip");
}

/* Windows (issue 19): below= parses to the window's end, a pool is known
 * by (node, page size, window), and "all" expands a window pool as any. */
static void test_pool_windows(void)
{
	struct contig_config cfg = { 0 };
	struct contig_pool_spec spec;
	char err[512] = "";
	int r;

	r = contig_config_parse_pool("0:2M:32M,below=4G,when=memory_above", &spec, err,
				     sizeof(err));
	ok(r == 0 && spec.below == 4 * GIB && spec.when_memory_above && spec.len == 32 * MIB,
	   "below_and_when_parse");
	r = contig_config_parse_pool("0:2M:16M,below=0x10000000", &spec, err, sizeof(err));
	ok(r == 0 && spec.below == 256 * MIB && !spec.when_memory_above,
	   "below_takes_an_address_in_hex");
	r = contig_config_parse("pool = 0:2M:64M\npool = 0:2M:32M,below=4G\n"
				"pool = 0:2M:16M,below=256M\n", "t.conf", &cfg, err, sizeof(err));
	ok(r == 0 && cfg.npools == 3, "a_node_may_have_a_pool_per_window");
	contig_config_done(&cfg);
	parse_fails("pool = 0:2M:32M,below=4G\npool = 0:2M:8M,below=4G\n",
		    "t.conf:2: key 'pool': pool \"0:2M:8M,below=4G\": node 0 already has a 2M "
		    "pool below 4G",
		    "parse_rejects_a_second_pool_of_the_same_window");
	parse_fails("pool = all:2M:32M,below=4G\npool = all:2M:8M,below=4G\n",
		    "t.conf:2: key 'pool': pool \"all:2M:8M,below=4G\": a 2M pool below 4G on "
		    "every node is already given",
		    "parse_rejects_a_second_window_pool_on_every_node");
	r = contig_config_parse("pool = all:2M:32M,below=4G\npool = 1:2M:8M,below=4G\n"
				"pool = all:2M:64M\n", "t.conf", &cfg, err, sizeof(err));
	if (r == 0) {
		static const int nodes[] = { 0, 1 };

		r = contig_config_expand_all(&cfg, nodes, 2);
		ok(r == 0 && cfg.npools == 4 && cfg.pools[0].node == 0 &&
			   cfg.pools[0].below == 4 * GIB && cfg.pools[1].node == 1 &&
			   cfg.pools[1].len == 8 * MIB && cfg.pools[2].below == 0 &&
			   cfg.pools[3].below == 0 && cfg.pools[3].node == 1,
		   "expand_all_keeps_windows_apart_and_a_named_node_wins_in_its_window");
	} else {
		ok(0, "expand_all_keeps_windows_apart_and_a_named_node_wins_in_its_window");
	}
	contig_config_done(&cfg);
	parse_fails("reserve_min_free = lots\n",
		    "t.conf:1: key 'reserve_min_free': \"lots\" is not a byte count from 0 to "
		    "18446744073709551615",
		    "reserve_min_free_must_be_a_size");
}

int main(void)
{
	const char *seed_text = getenv("CONFIG_SEED");
	const char *base = getenv("TMPDIR");
	unsigned seed;

	seed = seed_text ? (unsigned)strtoul(seed_text, NULL, 0) : (unsigned)getpid();
	diag("CONFIG_SEED=%u", seed);
	srand(seed);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", base && *base ? base : "/tmp");
	if (strlen(tmpdir) >= sizeof(tmpdir) - 1 || !mkdtemp(tmpdir))
		bail_out("cannot make a temporary directory");

	test_default();
	test_sizes();
	test_sizes_random();
	test_pool_good();
	test_pool_bad();
	test_parse();
	test_parse_errors();
	test_load();
	test_set_pool();
	test_set_pool_random();
	test_watermarks();
	test_share_key();
	test_limit_defaults();
	test_mode_key();
	test_name_and_list_keys();
	test_limit_keys();
	test_keys_given_twice();
	test_limits_random();
	test_log_level();
	test_session_grace();
	test_print();
	test_pool_all();
	test_pool_options();
	test_pool_windows();

	if (rmdir(tmpdir))
		diag("cannot remove %s", tmpdir);
	return done_testing();
}
