/* escape.h - bytes a client chose, made safe to show on a terminal or in a
 * log line. Pure C (common/); shared by the daemon's log and contigctl's
 * text output.
 */
#ifndef CONTIG_ESCAPE_H
#define CONTIG_ESCAPE_H

#include <stddef.h>

/* Bytes of buffer that escaping @n bytes may need, NUL included. */
#define CONTIG_ESCAPE_LEN(n) (4 * (n) + 1)

/* Write the @len bytes at @text into @buf (@buflen bytes, at least 1) so
 * that only printable ASCII comes out: bytes 0x20 to 0x7e stay as they are,
 * a backslash becomes two, and every other byte (control characters,
 * escape sequences, DEL, anything not ASCII) becomes \xHH. The result is
 * NUL-terminated and unambiguous; if it does not fit, it is cut before the
 * first escape that does not fit whole. Returns its length. Any thread. */
size_t contig_escape(const char *text, size_t len, char *buf, size_t buflen);

/* contig_escape() of the string @text into @buf; returns @buf, for use as a
 * printf argument. */
const char *contig_escape_str(const char *text, char *buf, size_t buflen);

#endif
