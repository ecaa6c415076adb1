/* options.h - contigd's command line. See options.c.
 *
 * Main thread, once, before anything else.
 */
#ifndef CONTIG_OPTIONS_H
#define CONTIG_OPTIONS_H

#include <stdbool.h>

#include "config.h"

/* Fill @cfg from the configuration file (or the built-in one) and the
 * options. --help, --version and --print-config print and exit(0).
 * *ret_check: --check-config was given (its FILE is the file); set as
 * soon as it is seen, so that a failure tells the caller which exit code
 * to use. *ret_source: what names the configuration in messages. Returns
 * 0, or -EINVAL / -ENOMEM / config.c's error after printing the reason to
 * stderr (@cfg then holds what was parsed, for contig_config_done()). */
int contig_options_parse(int argc, char **argv, struct contig_config *cfg, bool *ret_check,
			 const char **ret_source);

#endif
