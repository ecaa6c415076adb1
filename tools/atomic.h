/* atomic.h - write a file whole or not at all (see atomic.c). */
#ifndef CONTIG_ATOMIC_H
#define CONTIG_ATOMIC_H

#include <stdio.h>

/* Write @path as @print makes it (returning 0 or -errno), readable by
 * everyone (0644): into .<name>.XXXXXX beside it, synced, then renamed
 * over it, so that a reader that lists the directory at any moment (a
 * collector reading *.prom, a container runtime reading *.json) sees the
 * old file or the new one, never part of one, nor the temporary file.
 * Returns 0 or -errno (the temporary file is then gone). */
int atomic_write(const char *path, int (*print)(FILE *out, void *arg), void *arg);

#endif
