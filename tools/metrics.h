/* metrics.h - contigd's state in the Prometheus text exposition format
 * (contigctl metrics). Pure C over libcontig's structs: no socket.
 */
#ifndef CONTIG_TOOLS_METRICS_H
#define CONTIG_TOOLS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "contig.h"

struct metrics_opts {
	unsigned top;      /* clients shown by name; the rest add up in "other" */
	bool openmetrics;  /* OpenMetrics 1.0 text (family names, "# EOF") */
};

/* Write @st and @ctr (one look at the daemon: contig_get_counters()) and
 * the pools' @windows (@nwindows, in the order of @st->pools) to @out;
 * @st NULL: no daemon answered (contigd_up 0 alone).
 * Returns 0, or -EIO if writing failed. */
int metrics_print(FILE *out, const struct contig_stats *st, const struct contig_counters *ctr,
		  const struct contig_pool_window *windows, size_t nwindows,
		  const struct metrics_opts *o);

/* The value @text as a label value: '\\', '"' and newline escaped as the
 * format wants, after contig_escape() (so that any bytes a client chose
 * come out as printable ASCII, which is valid UTF-8). Writes at most
 * @buflen bytes, NUL included, cutting the value short if it must. */
void metrics_label_value(const char *text, char *buf, size_t buflen);

/* contigctl metrics [--top N] [--openmetrics] [--output FILE]: one look
 * at the daemon through @c, printed, or written to FILE atomically (a
 * temporary file in its directory, renamed over it: a collector never
 * reads half a document). @argv[0] is "metrics"; @c NULL: no daemon
 * answered (the document says contigd_up 0). Returns the exit status:
 * 0, 1 (failed, said on stderr) or 2 (usage). */
int metrics_cmd(struct contig_client *c, int argc, char **argv);

#endif
