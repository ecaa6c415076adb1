/* json.c - a small streaming JSON writer (see json.h).
 *
 * DESIGN
 * One flag per open container says whether a value was written in it, so
 * the next one needs a comma first; each value goes on its own line,
 * indented two spaces per level, which keeps the output both valid for jq
 * and readable as it is. No allocation; nothing is buffered beyond stdio.
 *
 * contigctl's: links libcontig and common/ only, never a daemon object,
 * and reaches the daemon only through libcontig's public API.
 */
#include "json.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>

void json_init(struct json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->nonempty[0] = false;
}

static void put_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			/* Control characters, and bytes that may not be UTF-8. */
			if (*p < 0x20 || *p > 0x7e)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* Comma, newline, indentation and key before a value. */
static void value_begin(struct json *j, const char *key)
{
	if (j->depth > 0) {
		fputs(j->nonempty[j->depth] ? ",\n" : "\n", j->out);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->out);
	}
	j->nonempty[j->depth] = true;
	if (key) {
		put_string(j->out, key);
		fputs(": ", j->out);
	}
}

static void container_begin(struct json *j, const char *key, char open)
{
	value_begin(j, key);
	fputc(open, j->out);
	assert(j->depth + 1 < JSON_MAX_DEPTH);
	j->nonempty[++j->depth] = false;
}

static void container_end(struct json *j, char close)
{
	bool nonempty = j->nonempty[j->depth];

	assert(j->depth > 0);
	j->depth--;
	if (nonempty) {
		fputc('\n', j->out);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->out);
	}
	fputc(close, j->out);
}

void json_object_begin(struct json *j, const char *key)
{
	container_begin(j, key, '{');
}

void json_object_end(struct json *j)
{
	container_end(j, '}');
}

void json_array_begin(struct json *j, const char *key)
{
	container_begin(j, key, '[');
}

void json_array_end(struct json *j)
{
	container_end(j, ']');
}

void json_string(struct json *j, const char *key, const char *value)
{
	value_begin(j, key);
	put_string(j->out, value);
}

void json_u64(struct json *j, const char *key, uint64_t value)
{
	value_begin(j, key);
	fprintf(j->out, "%" PRIu64, value);
}

void json_i64(struct json *j, const char *key, int64_t value)
{
	value_begin(j, key);
	fprintf(j->out, "%" PRId64, value);
}

void json_fixed(struct json *j, const char *key, double value)
{
	value_begin(j, key);
	if (isfinite(value))
		fprintf(j->out, "%.4f", value);
	else
		fputs("null", j->out);
}

void json_bool(struct json *j, const char *key, bool value)
{
	value_begin(j, key);
	fputs(value ? "true" : "false", j->out);
}

void json_null(struct json *j, const char *key)
{
	value_begin(j, key);
	fputs("null", j->out);
}

void json_hex(struct json *j, const char *key, uint64_t value)
{
	value_begin(j, key);
	fprintf(j->out, "\"0x%" PRIx64 "\"", value);
}

void json_done(struct json *j)
{
	assert(j->depth == 0);
	fputc('\n', j->out);
}
