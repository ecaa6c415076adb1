/* error.h - libcontig's error state: the reason for the calling thread's
 * last failure, which contig_last_message() returns.
 *
 * Internal to libcontig. Every client file that fails a call says why
 * through contig_fail(); it includes nothing but this header for that.
 */
#ifndef CONTIG_ERROR_H
#define CONTIG_ERROR_H

/* Bytes a message keeps, its terminating NUL included. */
#define CONTIG_MESSAGE_LEN 256

/* Record the reason for a failure for contig_last_message(); returns @err. */
__attribute__((format(printf, 2, 3))) int contig_fail(int err, const char *fmt, ...);

/* Forget the last failure: contig_last_message() says "" until the next. */
void contig_clear_message(void);

#endif
