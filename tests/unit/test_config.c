/* test_config.c - unit tests for daemon/config.c, printing TAP.
 *
 * Hand-picked cases for every error path (each checks that the message
 * names the part that is wrong), plus two randomized checks against a
 * reference: sizes spelled at random must parse back to their value, and
 * random contig_config_set_pool() calls must leave the same pools as a
 * simple (node, page size) table. The seed is printed; set CONFIG_SEED to
 * replay a run. Files go in a fresh temporary directory, removed at the end.
 * Run under ASan/LSan so that a leak on an error path fails the run.
 */
#include "config.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
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
	is_u64(cfg.npools, 1, "default_config_has_one_pool");
	if (cfg.npools == 1) {
		is_u64(cfg.pools[0].node, 0, "default_pool_is_on_node_0");
		is_u64(cfg.pools[0].page_len, 2 * MIB, "default_pool_uses_2M_pages");
		is_u64(cfg.pools[0].len, 256 * MIB, "default_pool_is_256M");
	}
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
		{ "0:2M:256M", { 0, 2 * MIB, 256 * MIB } },
		{ "1023:1G:4G", { 1023, GIB, 4 * GIB } },
		{ "3:2097152:0x400000", { 3, 2 * MIB, 4 * MIB } },
		{ "0:2MiB:2M", { 0, 2 * MIB, 2 * MIB } },
		{ "7:1gib:1G", { 7, GIB, GIB } },
		{ "01:1024M:1T", { 1, GIB, TIB } },
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
		{ "", "expected NODE:PAGESIZE:SIZE" },
		{ "0", "expected NODE:PAGESIZE:SIZE" },
		{ "0:2M", "expected NODE:PAGESIZE:SIZE" },
		{ "0:2M:64M:1", "expected NODE:PAGESIZE:SIZE" },
		{ "x:2M:64M", "node \"x\" is not a number from 0 to 1023" },
		{ ":2M:64M", "node \"\" is not a number from 0 to 1023" },
		{ "1024:2M:64M", "node \"1024\" is not a number from 0 to 1023" },
		{ "-1:2M:64M", "node \"-1\" is not a number from 0 to 1023" },
		{ " 0:2M:64M", "node \" 0\" is not a number from 0 to 1023" },
		{ "99999999999:2M:64M", "node \"99999999999\" is not a number from 0 to 1023" },
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
	if (!ok(r == 0 && cfg.npools == 1 && cfg.pools[0].len == 256 * MIB && cfg.socket_path &&
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

	if (contig_config_parse(contig_config_default, "default", &cfg, err, sizeof(err)))
		bail_out("default config: %s", err);
	spec = (struct contig_pool_spec){ 0, 2 * MIB, 512 * MIB };
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 1 && cfg.pools[0].len == 512 * MIB,
	   "set_pool_replaces_the_same_node_and_page_size");
	spec = (struct contig_pool_spec){ 0, GIB, 2 * GIB };
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 2 && cfg.pools[1].page_len == GIB &&
		   cfg.pools[0].len == 512 * MIB,
	   "set_pool_appends_another_page_size_on_the_same_node");
	spec = (struct contig_pool_spec){ 1, 2 * MIB, 2 * MIB };
	r = contig_config_set_pool(&cfg, &spec);
	ok(r == 0 && cfg.npools == 3 && cfg.pools[2].node == 1 && cfg.pools[0].node == 0 &&
		   cfg.pools[1].node == 0,
	   "set_pool_appends_the_same_page_size_on_another_node");
	contig_config_done(&cfg);
	ok(cfg.socket_path == NULL && cfg.pools == NULL && cfg.npools == 0,
	   "config_done_leaves_a_zeroed_config");
	contig_config_done(&cfg);
	contig_config_done(NULL);
	ok(1, "config_done_accepts_zeroed_and_NULL");

	spec = (struct contig_pool_spec){ 5, GIB, GIB };
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

	if (rmdir(tmpdir))
		diag("cannot remove %s", tmpdir);
	return done_testing();
}
