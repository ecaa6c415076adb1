/* contigctl - look at contigd and try allocations by hand, through libcontig.
 *
 *   contigctl [--socket PATH] status
 *   contigctl [--socket PATH] alloc SIZE [--lowest A] [--highest A] [--boundary B]
 *             [--align A] [--node N|any] [--cache TYPE] [--tag ABCD]
 *             [--priority low|normal|high] [--hold]
 *
 * alloc prints the buffer's physical address (and the rest of what the
 * daemon said), then frees it, or with --hold keeps it until stdin closes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "contig.h"

static const char *cache_names[] = {
	"noncached", "cached", "writecombined", "hwcoherent", "noncachedunordered", "uswc",
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: contigctl [--socket PATH] status\n"
		"       contigctl [--socket PATH] alloc SIZE [--lowest ADDR] [--highest ADDR]\n"
		"                 [--boundary BYTES] [--align BYTES] [--node N|any]\n"
		"                 [--cache TYPE] [--tag ABCD] [--priority low|normal|high]\n"
		"                 [--hold]\n"
		"SIZE and addresses take K/M/G suffixes or 0x hex. TYPE: noncached, cached,\n"
		"writecombined, hwcoherent, noncachedunordered, uswc, or 0..5.\n"
		"The socket is PATH, else $CONTIGD_SOCKET, else %s.\n",
		CONTIG_DEFAULT_SOCKET_PATH);
}

static int parse_u64(const char *text, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *text == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int parse_cache(const char *text, int *ret)
{
	for (int i = 0; i < (int)(sizeof(cache_names) / sizeof(cache_names[0])); i++)
		if (strcasecmp(text, cache_names[i]) == 0) {
			*ret = i;
			return 0;
		}
	if (text[0] >= '0' && text[0] <= '9') {
		*ret = atoi(text); /* the daemon judges the value */
		return 0;
	}
	return -EINVAL;
}

static void print_size(uint64_t len)
{
	if (len >= (1ull << 30) && len % (1ull << 30) == 0)
		printf("%" PRIu64 "G", len >> 30);
	else if (len >= (1ull << 20) && len % (1ull << 20) == 0)
		printf("%" PRIu64 "M", len >> 20);
	else
		printf("%" PRIu64 "K", len >> 10);
}

static int cmd_status(struct contig_client *c)
{
	struct contig_stats st;
	int r = contig_get_stats(c, &st);

	if (r < 0) {
		fprintf(stderr, "contigctl: status: %s\n", contig_last_message());
		return 1;
	}
	printf("%-5s %-5s %8s %8s %10s %8s %8s %8s %8s %8s\n", "node", "page", "total", "free",
	       "largest", "frames", "owned", "segments", "buffers", "clients");
	for (uint32_t i = 0; i < st.npools; i++) {
		const struct contig_pool_stats *p = &st.pools[i];

		printf("%-5d ", p->node);
		print_size(p->page_len);
		printf("%*s", p->page_len >= (1ull << 30) ? 4 : 3, "");
		printf("%7" PRIu64 "M %7" PRIu64 "M %9" PRIu64 "M %8" PRIu32 " %8" PRIu32
		       " %8" PRIu32 " %8" PRIu32 " %8" PRIu32 "\n",
		       p->total_len >> 20, p->free_len >> 20, p->largest_free_len >> 20,
		       p->nframes, p->nframes_owned, p->nsegments, p->nbuffers, p->nclients);
	}
	printf("sessions %" PRIu32 ", frames recycled %" PRIu64 " (moved %" PRIu64 "), lost %" PRIu64
	       ", misuses reported %" PRIu64 "\n",
	       st.nsessions, st.nrecycled, st.nrecycle_moved, st.nframes_lost, st.nbugchecks);
	if (st.nsessions_listed) {
		printf("\n%-8s %-6s %-16s %8s %10s %7s %8s\n", "pid", "uid", "process", "buffers",
		       "bytes", "frames", "misuses");
		for (uint32_t i = 0; i < st.nsessions_listed; i++) {
			const struct contig_session_stats *ss = &st.sessions[i];

			printf("%-8d %-6u %-16s %8" PRIu32 " %10" PRIu64 " %7" PRIu32 " %8" PRIu64 "\n",
			       ss->pid, ss->uid, ss->comm, ss->nbuffers, ss->len, ss->nframes,
			       ss->nbugchecks);
		}
	}
	if (st.ntags == 0)
		return 0;
	/* poolmon's columns; a tag is four characters, shown as written in C
	 * ('Tag1' is stored with '1' in the low byte). */
	printf("\n%-6s %10s %10s %10s %12s\n", "tag", "allocs", "frees", "live", "bytes");
	for (uint32_t i = 0; i < st.ntags; i++) {
		const struct contig_tag_stats *t = &st.tags[i];
		char name[5];

		for (int k = 0; k < 4; k++) {
			char ch = (char)(t->tag >> (8 * (3 - k)));

			name[k] = ch >= 32 && ch < 127 ? ch : '.';
		}
		name[4] = '\0';
		printf("%-6s %10" PRIu64 " %10" PRIu64 " %10" PRIu32 " %12" PRIu64 "\n", name,
		       t->nallocs, t->nfrees, t->nbuffers, t->len);
	}
	return 0;
}

static int cmd_alloc(struct contig_client *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lowest", required_argument, NULL, 'l' },
		{ "highest", required_argument, NULL, 'H' },
		{ "boundary", required_argument, NULL, 'b' },
		{ "align", required_argument, NULL, 'a' },
		{ "node", required_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 'c' },
		{ "hold", no_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 't' },
		{ "priority", required_argument, NULL, 'p' },
		{ 0 },
	};
	struct contig_alloc_req req;
	struct contig_buffer buf;
	uint64_t len;
	int opt, hold = 0, r = 0;

	if (argc < 2 || parse_u64(argv[1], &len) < 0) {
		usage(stderr);
		return 2;
	}
	contig_alloc_req_init(&req, len);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': r = parse_u64(optarg, &req.lowest_phys); break;
		case 'H': r = parse_u64(optarg, &req.highest_phys); break;
		case 'b': r = parse_u64(optarg, &req.boundary); break;
		case 'a': r = parse_u64(optarg, &req.align); break;
		case 'n':
			req.node = strcmp(optarg, "any") == 0 ? CONTIG_NODE_ANY : atoi(optarg);
			break;
		case 'c': r = parse_cache(optarg, &req.cache_type); break;
		case 'k': hold = 1; break;
		case 't':
			/* four characters, as a C multi-character constant 'ABCD' */
			req.tag = 0;
			for (int k = 0; k < 4 && optarg[k]; k++)
				req.tag |= (uint32_t)(uint8_t)optarg[k] << (8 * (3 - k));
			break;
		case 'p':
			if (strcmp(optarg, "low") == 0)
				req.priority = CONTIG_PRIORITY_LOW;
			else if (strcmp(optarg, "normal") == 0)
				req.priority = CONTIG_PRIORITY_NORMAL;
			else if (strcmp(optarg, "high") == 0)
				req.priority = CONTIG_PRIORITY_HIGH;
			else
				r = -EINVAL;
			break;
		default: usage(stderr); return 2;
		}
		if (r < 0) {
			fprintf(stderr, "contigctl: bad value '%s'\n", optarg);
			return 2;
		}
	}
	r = contig_alloc(c, &req, &buf);
	if (r < 0) {
		fprintf(stderr, "contigctl: alloc: %s (%s)\n", contig_last_message(), strerror(-r));
		return 1;
	}
	printf("phys 0x%" PRIx64 " len %" PRIu64 " node %d page %" PRIu64 "K virt %p\n", buf.phys,
	       buf.len, buf.node, buf.page_len >> 10, buf.virt);
	fflush(stdout);
	if (hold)
		while (getchar() != EOF)
			;
	contig_free(c, buf.virt);
	return 0;
}

int main(int argc, char **argv)
{
	const char *socket_path = NULL;
	struct contig_client *c;
	int argi = 1, r;

	if (argi + 1 < argc && strcmp(argv[argi], "--socket") == 0) {
		socket_path = argv[argi + 1];
		argi += 2;
	}
	if (argi >= argc || strcmp(argv[argi], "--help") == 0 || strcmp(argv[argi], "-h") == 0) {
		usage(argi >= argc ? stderr : stdout);
		return argi >= argc ? 2 : 0;
	}
	if (strcmp(argv[argi], "status") != 0 && strcmp(argv[argi], "alloc") != 0) {
		fprintf(stderr, "contigctl: unknown command '%s'\n", argv[argi]);
		usage(stderr);
		return 2;
	}
	r = contig_connect(socket_path, &c);
	if (r < 0) {
		fprintf(stderr, "contigctl: %s\n", contig_last_message());
		return 1;
	}
	if (strcmp(argv[argi], "status") == 0)
		r = cmd_status(c);
	else
		r = cmd_alloc(c, argc - argi, argv + argi);
	contig_disconnect(c);
	return r;
}
