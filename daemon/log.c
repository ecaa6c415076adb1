/* log.c - one formatted line per call, with a journal priority prefix when
 * stderr is the journal. See log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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
	char line[1024];
	int n = 0;
	va_list ap;

	if (level > max_level)
		return;
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>", level);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}
