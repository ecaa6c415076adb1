/* escape.c - see escape.h.
 *
 * DESIGN
 * A client names its own process (prctl(PR_SET_NAME): 15 arbitrary bytes)
 * and its tags, and those reach root's terminal through the daemon's log
 * and contigctl. Whatever could make a terminal act (ESC, CSI, BEL, a
 * newline that forges a log line, a C1 control in a non-UTF-8 locale) is
 * shown as \xHH instead; the backslash itself is doubled so that the text
 * reads back to exactly the bytes the client chose. One function, used by
 * every place that prints or logs such bytes.
 *
 * Pure C, no syscalls: it lives in common/ because the daemon and
 * contigctl both call it. Must never include a daemon/ or client/ header.
 */
#include "escape.h"

size_t contig_escape(const char *text, size_t len, char *buf, size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		char esc[4];
		size_t k = 0;

		if (ch == '\\') {
			esc[k++] = '\\';
			esc[k++] = '\\';
		} else if (ch >= 0x20 && ch <= 0x7e) {
			esc[k++] = (char)ch;
		} else {
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[ch >> 4];
			esc[k++] = hex[ch & 15];
		}
		if (n + k >= buflen)
			break;
		for (size_t j = 0; j < k; j++)
			buf[n++] = esc[j];
	}
	if (buflen)
		buf[n] = '\0';
	return n;
}

const char *contig_escape_str(const char *text, char *buf, size_t buflen)
{
	size_t len = 0;

	while (text[len])
		len++;
	contig_escape(text, len, buf, buflen);
	return buf;
}
