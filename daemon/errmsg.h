/* errmsg.h - the one helper behind every "@err, @errlen" parameter of the
 * files that do not log (frames.c, hugepages.c, pagemap.c, journal.c,
 * reserve.c): write the reason, return the code. */
#ifndef CONTIG_ERRMSG_H
#define CONTIG_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Format the reason into @err (@errlen bytes, NUL-terminated, cut if
 * longer; nothing if @err is NULL or @errlen 0) and return @code. */
__attribute__((format(printf, 4, 5))) static inline int contig_errmsg(char *err, size_t errlen,
								      int code, const char *fmt,
								      ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

#endif
