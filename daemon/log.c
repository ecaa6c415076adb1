/* log.c - one formatted line per call, with a journal priority prefix when
 * stderr is the journal. See log.h.
 *
 * Every line is escaped whole (escape.c): some of what is logged is a
 * client's choice (its process name, read from /proc), and none of it may
 * act on the terminal of whoever reads the log, nor forge a line of its
 * own. Escaping here, not at each call, covers every argument of every
 * call, now and later.
 *
 * DESIGN
 * The one place that writes log lines; it calls only escape.c and stdio,
 * never anything of the daemon's state, so that any file may log without
 * creating a circle.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"

static int max_level = LOG_INFO;
static bool journal;

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected us to; it
 * counts only if stderr is still that stream. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void contig_log_init(int level)
{
	max_level = level;
	journal = stderr_is_journal();
}

void contig_log(int level, const char *fmt, ...)
{
	char message[1024], line[1024];
	size_t n = 0;
	va_list ap;

	if (level > max_level)
		return;
	if (journal)
		n = (size_t)snprintf(line, sizeof(line), "<%d>", level);
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	/* (room is left for the newline) */
	n += contig_escape(message, strlen(message), line + n, sizeof(line) - n - 1);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}
