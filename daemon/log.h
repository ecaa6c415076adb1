/* log.h - contigd's log lines, to stderr.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with a
 * <N> priority prefix that the journal understands (sd-daemon.h's
 * SD_ERR...); otherwise lines are plain text. Lines above the configured
 * level are dropped. Any thread (one write per line).
 */
#ifndef CONTIG_LOG_H
#define CONTIG_LOG_H

#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

/* Decide the format from the environment and set the level. */
void contig_log_init(int max_level);

__attribute__((format(printf, 2, 3))) void contig_log(int level, const char *fmt, ...);

#endif
