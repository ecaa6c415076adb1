/* size.c - byte counts as the configuration writes them: parsed, and
 * printed back.
 *
 * DESIGN
 * Sizes: decimal, or hex after "0x", then an optional K/M/G/T (any case,
 * powers of 1024), then an optional "iB" (only after a letter) or "B".
 * Hex digits are taken greedily, so "0x1B" is 27 bytes, not 1 byte with a
 * "B" suffix. No sign, no whitespace, no overflow past UINT64_MAX. Parsed
 * from (pointer, length) pieces, so a caller cutting a line into parts
 * (poolspec.c) copies nothing. Printing uses the largest unit that
 * divides the size, so that parsing the text gives the same number.
 *
 * Pure functions of their input: no state, no allocation, no logging. It
 * never calls any other file of the daemon.
 */
#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* @len as the file would say it: with the largest unit that divides it. */
void contig_format_size(uint64_t len, char *buf, size_t buflen)
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

int contig_parse_size_n(const char *s, size_t len, uint64_t *ret_len)
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
	return contig_parse_size_n(text, strlen(text), ret_len);
}
