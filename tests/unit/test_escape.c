/* test_escape.c - tests for common/escape.c, printing TAP.
 *
 * Hand-picked cases (a terminal escape sequence, a forged log line, a
 * backslash, bytes above 0x7e), then random byte strings: the output is
 * printable ASCII only, and reading the escapes back gives exactly the
 * input; a buffer too short cuts the output before a whole escape.
 * ESCAPE_SEED=N picks the seed (the default is printed as a diag).
 */
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "tap.h"

/* The bytes @text stands for (the inverse of contig_escape()); returns
 * their number, or -1 if @text is not an escape's output. */
static long unescape(const char *text, char *out)
{
	long n = 0;

	for (const char *p = text; *p; p++) {
		unsigned v = 0;

		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return -1;
		if (*p != '\\') {
			out[n++] = *p;
			continue;
		}
		if (p[1] == '\\') {
			out[n++] = '\\';
			p++;
			continue;
		}
		if (p[1] != 'x' || !p[2] || !p[3])
			return -1;
		for (int k = 2; k < 4; k++) {
			char h = p[k];

			if (h >= '0' && h <= '9')
				v = v * 16 + (unsigned)(h - '0');
			else if (h >= 'a' && h <= 'f')
				v = v * 16 + (unsigned)(h - 'a' + 10);
			else
				return -1;
		}
		/* A printable byte is never escaped: the form is unique. */
		if (v >= 0x20 && v <= 0x7e && v != '\\')
			return -1;
		out[n++] = (char)v;
		p += 3;
	}
	return n;
}

int main(void)
{
	char buf[CONTIG_ESCAPE_LEN(64)];
	unsigned seed = getenv("ESCAPE_SEED") ? (unsigned)atoi(getenv("ESCAPE_SEED")) : 20u;
	bool round_trip = true, printable = true;

	is_u64(contig_escape("holder-alpha", 12, buf, sizeof(buf)), 12,
	       "printable_ascii_is_left_as_it_is");
	ok(strcmp(buf, "holder-alpha") == 0, "printable_ascii_text_is_unchanged");
	contig_escape_str("\033[31mred\a", buf, sizeof(buf));
	ok(strcmp(buf, "\\x1b[31mred\\x07") == 0, "an_escape_sequence_and_bel_become_hex");
	contig_escape_str("x\nclient 9: forged", buf, sizeof(buf));
	ok(strcmp(buf, "x\\x0aclient 9: forged") == 0, "a_newline_cannot_forge_a_log_line");
	contig_escape_str("a\\x1b", buf, sizeof(buf));
	ok(strcmp(buf, "a\\\\x1b") == 0, "a_backslash_is_doubled_so_text_cannot_pose_as_an_escape");
	contig_escape("\x7f\x80\x9b\xff", 4, buf, sizeof(buf));
	ok(strcmp(buf, "\\x7f\\x80\\x9b\\xff") == 0, "del_c1_and_high_bytes_become_hex");
	contig_escape("a\0b", 3, buf, sizeof(buf));
	ok(strcmp(buf, "a\\x00b") == 0, "a_nul_inside_the_length_becomes_hex");
	is_u64(contig_escape("ab\033", 3, buf, 6), 2, "a_short_buffer_cuts_before_a_whole_escape");
	ok(strcmp(buf, "ab") == 0, "the_cut_output_is_nul_terminated");
	is_u64(contig_escape("abc", 3, buf, 1), 0, "a_one_byte_buffer_holds_the_empty_string");

	diag("ESCAPE_SEED=%u", seed);
	srand(seed);
	for (int iter = 0; iter < 20000; iter++) {
		char in[64], back[64];
		size_t len = (size_t)(rand() % 64);
		long n;

		for (size_t i = 0; i < len; i++)
			in[i] = (char)(rand() % 256);
		contig_escape(in, len, buf, sizeof(buf));
		for (const char *p = buf; *p; p++)
			printable &= (unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e;
		n = unescape(buf, back);
		round_trip &= n == (long)len && memcmp(in, back, len) == 0;
	}
	ok(printable, "random_bytes_escape_to_printable_ascii_only");
	ok(round_trip, "random_bytes_read_back_exactly_from_their_escape");
	return done_testing();
}
