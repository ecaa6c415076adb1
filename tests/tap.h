/* tap.h - the Test Anything Protocol, for tests run by prove.
 *
 * A test file calls ok()/is_u64() any number of times and ends with
 * done_testing(), which prints the plan and returns the exit status.
 * Header-only; each test executable includes it once.
 */
#ifndef CONTIG_TAP_H
#define CONTIG_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count;
static int tap_failed;

__attribute__((unused, format(printf, 2, 3))) static bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

/* Comment lines (prove shows them with -v). */
__attribute__((unused, format(printf, 1, 2))) static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define is_u64(got, want, name)                                                             \
	do {                                                                                \
		uint64_t got_ = (got), want_ = (want);                                      \
		if (!ok(got_ == want_, "%s", name))                                         \
			diag("  got 0x%" PRIx64 ", want 0x%" PRIx64, got_, want_);          \
	} while (0)

/* Stop the whole test file: a precondition failed. */
__attribute__((unused, noreturn, format(printf, 1, 2))) static void bail_out(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

/* Skip the whole test file: the environment lacks what it needs (prove
 * shows "skipped: @fmt"). Call before any ok(). */
__attribute__((unused, noreturn, format(printf, 1, 2))) static void skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(0);
}

__attribute__((unused)) static int done_testing(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
