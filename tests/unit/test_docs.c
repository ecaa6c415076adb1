/* test_docs.c - the documentation held to the code, printing TAP.
 *
 * DESIGN
 * Each fact is written once, and where a document must repeat what the
 * code knows, this test makes the two agree instead of trusting care:
 *
 * - The configuration keys come from daemon/config.c's own table, through
 *   contig_config_print() (which prints every key of it, the unset ones as
 *   "# key = (not set)"). Each must have its entry in man/contigd.8's
 *   CONFIGURATION section (a .TP tag "key = ..."), in the configuration
 *   reference table of docs/operating.md (a first cell naming `key`), and
 *   a line in the built-in configuration that `contigd --print-config`
 *   prints. Every key the two documents list must exist, so a renamed or
 *   dropped key fails too.
 * - The file map of HACKING.md ("## Layout": the paths in each row's first
 *   cell; a glob or a directory ending in '/' allowed) must name every file
 *   `git ls-files` lists, and every path it names must match one. Without
 *   git or a git tree (a copy of the tree, as in tools/chroot-test.sh)
 *   those two checks skip.
 *
 * The tree is found at CONTIG_SRCDIR, the directory make ran in.
 */
#include "config.h"
#include "tap.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CONTIG_SRCDIR
#define CONTIG_SRCDIR "."
#endif

struct names {
	char **v;
	size_t n, cap;
};

static void names_add(struct names *set, const char *name, size_t len)
{
	for (size_t i = 0; i < set->n; i++)
		if (strlen(set->v[i]) == len && !strncmp(set->v[i], name, len))
			return;
	if (set->n == set->cap) {
		set->cap = set->cap ? 2 * set->cap : 64;
		set->v = realloc(set->v, set->cap * sizeof(*set->v));
		if (!set->v)
			bail_out("out of memory");
	}
	set->v[set->n] = strndup(name, len);
	if (!set->v[set->n])
		bail_out("out of memory");
	set->n++;
}

static bool names_has(const struct names *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->v[i], name))
			return true;
	return false;
}

static void names_free(struct names *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i]);
	free(set->v);
	*set = (struct names){ 0 };
}

/* The whole of @path, NUL-terminated; bails out when it cannot be read. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re"), *out;
	char *text = NULL;
	size_t len = 0;
	int c;

	if (!f)
		bail_out("cannot read %s/%s", CONTIG_SRCDIR, path);
	out = open_memstream(&text, &len);
	if (!out)
		bail_out("open_memstream");
	while ((c = getc(f)) != EOF)
		putc(c, out);
	fclose(f);
	fclose(out);
	return text;
}

/* Every key of config.c's table, in its order. */
static void config_keys(struct names *keys)
{
	struct contig_config cfg = { 0 };
	char err[256] = "", *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *out;

	if (contig_config_parse(contig_config_default, "default", &cfg, err, sizeof(err)) < 0)
		bail_out("the built-in configuration does not parse: %s", err);
	out = open_memstream(&text, &len);
	if (!out)
		bail_out("open_memstream");
	contig_config_print(&cfg, out);
	fclose(out);
	contig_config_done(&cfg);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n;

		if (!strncmp(line, "# ", 2))
			line += 2;
		n = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (n && !strncmp(line + n, " = ", 3))
			names_add(keys, line, n);
	}
	free(text);
}

/* Every "name =" in @line (a lower-case word, spaces, then '='), into
 * @set; a pool option ("below=4G") has no space and is no key. */
static void words_before_equals(const char *line, struct names *set)
{
	for (const char *p = line; *p; p++) {
		size_t n, sp;

		if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		if (!islower((unsigned char)p[0]))
			continue;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		sp = strspn(p + n, " ");
		if (sp && p[n + sp] == '=')
			names_add(set, p, n);
	}
}

/* The keys man/contigd.8 gives an entry: the .TP tags of CONFIGURATION,
 * font escapes and quotes taken out ("socket_user = NAME, socket_group =
 * NAME" names two). */
static void man_keys(struct names *set)
{
	char *text = slurp("man/contigd.8"), *save = NULL, *line;
	bool in = false, tag = false;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char plain[1024];
		size_t n = 0;

		if (!strncmp(line, ".SH", 3)) {
			in = strstr(line, "CONFIGURATION") != NULL;
			continue;
		}
		if (!in)
			continue;
		if (!strcmp(line, ".TP")) {
			tag = true;
			continue;
		}
		if (!tag)
			continue;
		tag = false;
		for (const char *p = line; *p && n < sizeof(plain) - 1; p++) {
			if (p[0] == '\\' && p[1] == 'f' && p[2]) {
				p += 2; /* \fB, \fI, \fR, \fP */
				continue;
			}
			if (*p != '"')
				plain[n++] = *p;
		}
		plain[n] = '\0';
		words_before_equals(plain, set);
	}
	free(text);
}

/* The backquoted words of the first cell of each row of the table under
 * @heading in @path (up to the next heading of that level or above). */
static void table_first_cells(const char *path, const char *heading, struct names *set)
{
	char *text = slurp(path), *save = NULL, *line, *end;
	size_t level = strspn(heading, "#");
	bool in = false;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			size_t l = strspn(line, "#");

			if (!strcmp(line, heading))
				in = true;
			else if (l <= level)
				in = false;
			continue;
		}
		if (!in || line[0] != '|' || !(end = strchr(line + 1, '|')))
			continue;
		*end = '\0';
		for (char *p = strchr(line, '`'); p; p = strchr(p, '`')) {
			char *q = strchr(p + 1, '`');

			if (!q)
				break;
			names_add(set, p + 1, (size_t)(q - p - 1));
			p = q + 1;
		}
	}
	free(text);
}

static void test_config_keys(void)
{
	struct names keys = { 0 }, man = { 0 }, ops = { 0 }, dflt = { 0 };

	config_keys(&keys);
	if (!ok(keys.n >= 20, "config_c_lists_its_keys"))
		diag("  only %zu keys from contig_config_print()", keys.n);
	man_keys(&man);
	table_first_cells("docs/operating.md", "## Configuration", &ops);
	words_before_equals(contig_config_default, &dflt);
	for (size_t i = 0; i < keys.n; i++) {
		ok(names_has(&man, keys.v[i]), "key_%s_has_its_entry_in_man_contigd_8", keys.v[i]);
		ok(names_has(&ops, keys.v[i]), "key_%s_is_in_the_reference_of_docs_operating_md",
		   keys.v[i]);
		ok(names_has(&dflt, keys.v[i]), "key_%s_is_in_the_built_in_configuration", keys.v[i]);
	}
	for (size_t i = 0; i < man.n; i++)
		if (!names_has(&keys, man.v[i]))
			ok(false, "man_contigd_8_documents_%s_which_config_c_does_not_accept", man.v[i]);
	for (size_t i = 0; i < ops.n; i++)
		if (!names_has(&keys, ops.v[i]))
			ok(false, "docs_operating_md_documents_%s_which_config_c_does_not_accept",
			   ops.v[i]);
	names_free(&keys);
	names_free(&man);
	names_free(&ops);
	names_free(&dflt);
}

/* Does map entry @pat name @file? A directory ends in '/'; globs match
 * within one path component. */
static bool map_matches(const char *pat, const char *file)
{
	size_t n = strlen(pat);

	if (n && pat[n - 1] == '/')
		return !strncmp(file, pat, n);
	return fnmatch(pat, file, FNM_PATHNAME | FNM_PERIOD) == 0;
}

/* How many of @have no entry of @other matches (@have_patterns: @have is
 * the map, @other the files); the first 20 told, after @why. */
static size_t unmatched(const struct names *have, const struct names *other, bool have_patterns,
			const char *why)
{
	size_t n = 0;

	for (size_t i = 0; i < have->n; i++) {
		bool found = false;

		for (size_t j = 0; j < other->n && !found; j++)
			found = have_patterns ? map_matches(have->v[i], other->v[j])
					      : map_matches(other->v[j], have->v[i]);
		if (!found && n++ < 20)
			diag("  %s: %s", why, have->v[i]);
	}
	return n;
}

static void test_file_map(void)
{
	struct names map = { 0 }, tracked = { 0 };
	char line[4096];
	FILE *p = NULL;

	if (access(".git", F_OK) == 0)
		p = popen("git ls-files 2>/dev/null", "r");
	if (p) {
		while (fgets(line, sizeof(line), p))
			names_add(&tracked, line, strcspn(line, "\n"));
		if (pclose(p) != 0)
			names_free(&tracked);
	}
	if (!tracked.n) {
		printf("ok %d # skip every_tracked_file_is_in_the_file_map_of_HACKING_md: "
		       "no git tree here\n", ++tap_count);
		printf("ok %d # skip every_path_in_the_file_map_of_HACKING_md_exists: "
		       "no git tree here\n", ++tap_count);
		return;
	}
	table_first_cells("HACKING.md", "## Layout", &map);
	ok(unmatched(&tracked, &map, false, "not in HACKING.md's file map") == 0,
	   "every_tracked_file_is_in_the_file_map_of_HACKING_md");
	ok(unmatched(&map, &tracked, true, "in HACKING.md's file map, not tracked by git") == 0,
	   "every_path_in_the_file_map_of_HACKING_md_exists");
	names_free(&map);
	names_free(&tracked);
}

int main(void)
{
	if (chdir(CONTIG_SRCDIR) < 0)
		bail_out("cannot enter the tree %s", CONTIG_SRCDIR);
	test_config_keys();
	test_file_map();
	return done_testing();
}
