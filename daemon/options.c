/* options.c - contigd's command line: the options, --help, --version,
 * and the configuration they name, loaded and overridden.
 *
 * DESIGN
 * Owns the option table and the usage text. Turns argv into a
 * struct contig_config (config.c parses files, poolspec.c --pool specs; the
 * options --socket and --pool override the file's). What it has to say
 * goes to stdout (--help, --version, --print-config) or stderr (a bad
 * command line), before any log is set up: it never calls contig_log(),
 * never starts anything, and is called by main.c alone.
 */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contig_version.h" /* made by the Makefile from VERSION */
#include "fdpass.h"         /* CONTIG_PROTOCOL_VERSION */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: contigd [--config FILE] [--socket PATH] [--pool NODE:PAGESIZE:SIZE]...\n"
		"\n"
		"Reserve hugepage-backed, physically contiguous memory at startup and serve\n"
		"allocations to client processes over a Unix socket. Runs in the foreground\n"
		"and logs to stderr.\n"
		"\n"
		"  --config FILE   read the configuration from FILE (default: built in)\n"
		"  --socket PATH   listen on PATH (default %s)\n"
		"  --pool SPEC     reserve SIZE bytes of PAGESIZE (2M or 1G) pages on NODE,\n"
		"                  e.g. 0:2M:64M (NODE all: every node with memory);\n"
		"                  repeatable; replaces the configuration's pools\n"
		"  --print-config  print the built-in configuration and exit\n"
		"  --version       print the version and exit\n"
		"  --check-config FILE\n"
		"                  check FILE (with any --socket and --pool given), print the\n"
		"                  effective configuration and exit: 0 if valid, else 1 with\n"
		"                  the file, line and key at fault\n",
		CONTIG_DEFAULT_SOCKET);
}

int contig_options_parse(int argc, char **argv, struct contig_config *cfg, bool *ret_check,
			 const char **ret_source)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 's' },
		{ "pool", required_argument, NULL, 'p' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config_path = NULL, *socket_path = NULL;
	struct contig_pool_spec *pools = NULL;
	size_t npools = 0;
	char err[512];
	int c, r;

	while ((c = getopt_long(argc, argv, "c:s:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			*ret_check = true;
			/* fall through */
		case 'c':
			config_path = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'p': {
			struct contig_pool_spec *grown = realloc(pools, (npools + 1) * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			pools = grown;
			if (contig_config_parse_pool(optarg, &pools[npools], err, sizeof(err)) < 0) {
				fprintf(stderr, "contigd: --pool: %s\n", err);
				free(pools);
				return -EINVAL;
			}
			npools++;
			break;
		}
		case 'P':
			fputs(contig_config_default, stdout);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			/* The version the .pc file carries; the soname is its major. */
			printf("contigd %s\nwire protocol %u (clients: %s)\n", CONTIG_VERSION,
			       CONTIG_PROTOCOL_VERSION, CONTIG_SONAME);
			exit(0);
		default:
			usage(stderr);
			free(pools);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "contigd: unexpected argument '%s'\n", argv[optind]);
		free(pools);
		return -EINVAL;
	}
	*ret_source = config_path ? config_path : "(built-in configuration)";
	if (config_path)
		r = contig_config_load(config_path, cfg, err, sizeof(err));
	else
		r = contig_config_parse(contig_config_default, "(built-in configuration)", cfg, err,
					sizeof(err));
	if (r < 0) {
		fprintf(stderr, "contigd: %s\n", err);
		free(pools);
		return r;
	}
	if (npools) {
		cfg->npools = 0;
		for (size_t i = 0; i < npools && r == 0; i++)
			r = contig_config_set_pool(cfg, &pools[i]);
	}
	free(pools);
	if (r == 0 && socket_path) {
		char *copy = strdup(socket_path);

		if (!copy)
			return -ENOMEM;
		free(cfg->socket_path);
		cfg->socket_path = copy;
	}
	if (r == 0 && cfg->npools == 0) {
		fprintf(stderr, "contigd: no pools configured (give pool = ... or --pool)\n");
		r = -EINVAL;
	}
	return r;
}
