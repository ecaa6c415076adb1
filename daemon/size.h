/* size.h - byte counts as the configuration writes them ("64M", "1GiB",
 * "0x200000"): parsed, and printed back (see size.c). Pure C.
 */
#ifndef CONTIG_SIZE_H
#define CONTIG_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Parse a byte count such as "64M", "1GiB", "4096". Returns 0 and sets
 * *ret_len, or -EINVAL (empty, junk, or overflow). */
int contig_parse_size(const char *text, uint64_t *ret_len);

/* contig_parse_size() on the @len bytes at @s (no NUL needed). */
int contig_parse_size_n(const char *s, size_t len, uint64_t *ret_len);

/* @len as the file would say it, into @buf: with the largest unit that
 * divides it ("2M", "1G", "4097"). */
void contig_format_size(uint64_t len, char *buf, size_t buflen);

#endif
