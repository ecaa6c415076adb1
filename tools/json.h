/* json.h - a small streaming JSON writer for contigctl's --json output.
 *
 * Values are written as they are given, members of an object with their
 * key, elements of an array with key NULL; the writer places the commas
 * and indentation. Strings are escaped so that any bytes give valid JSON
 * (bytes above 0x7f as \u00XX). Not thread-safe (one writer per stream).
 */
#ifndef CONTIG_JSON_H
#define CONTIG_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *out;
	int depth;
	bool nonempty[JSON_MAX_DEPTH]; /* the container at this depth has a value */
};

/* Start a document on @out. */
void json_init(struct json *j, FILE *out);

/* Containers; @key is the member name inside an object, NULL otherwise.
 * Nesting deeper than JSON_MAX_DEPTH is our bug (assert). */
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);

void json_string(struct json *j, const char *key, const char *value);
void json_u64(struct json *j, const char *key, uint64_t value);
void json_i64(struct json *j, const char *key, int64_t value);
/* A number with 4 decimals; NaN and infinities become null. */
void json_fixed(struct json *j, const char *key, double value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
/* A string "0x..." (physical addresses: exact, where jq's doubles are not
 * beyond 2^53). */
void json_hex(struct json *j, const char *key, uint64_t value);

/* End the document (a newline). */
void json_done(struct json *j);

#endif
