/* error.c - libcontig's error state: why the calling thread's last call
 * failed.
 *
 * DESIGN
 * Owns one thread-local message, written by contig_fail() (any client
 * file: contig.c, wire.c, cache.c), cleared by contig_clear_message()
 * (contig.c, where a call starts) and read by contig_last_message() (the
 * public API). It is meaningful after a call returned an error. Thread-
 * local, so threads sharing a client do not read each other's.
 *
 * It owns nothing else and never calls another libcontig file: wire.c and
 * contig.c both reach it, neither reaches the other through it.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

#include "contig.h"

static __thread char last_message[CONTIG_MESSAGE_LEN];

int contig_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return err;
}

CONTIG_EXPORT const char *contig_last_message(void)
{
	return last_message;
}

void contig_clear_message(void)
{
	last_message[0] = '\0';
}
