/* ctr_client.c - the client test_podman runs inside a container: it
 * connects through $CONTIGD_SOCKET (set by the CDI spec), allocates a
 * buffer, writes a pattern and says where it is; the host checks that
 * address and this process's accounting from outside.
 *
 *   ctr_client alloc   "READY <pid> <virt> <phys> <len>", then per line
 *                      on stdin "CHECK": "OK" if the pattern is intact
 *   ctr_client connect "CONNECT <errno> <message>": what a hello gets
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "contig.h"

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 131) ^ 0x3c);
}

int main(int argc, char **argv)
{
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	char line[64];
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	r = contig_connect(NULL, &c);
	if (argc > 1 && strcmp(argv[1], "connect") == 0) {
		printf("CONNECT %d %s\n", -r, r < 0 ? contig_last_message() : "ok");
		if (r == 0)
			contig_disconnect(c);
		return 0;
	}
	if (r < 0) {
		printf("FAIL connect: %s\n", contig_last_message());
		return 1;
	}
	contig_alloc_req_init(&req, 4u << 20);
	r = contig_alloc(c, &req, &b);
	if (r < 0) {
		printf("FAIL alloc: %s\n", contig_last_message());
		return 1;
	}
	for (size_t i = 0; i < b.len; i++)
		((uint8_t *)b.virt)[i] = pattern(i);
	printf("READY %d %" PRIxPTR " %" PRIx64 " %" PRIu64 "\n", (int)getpid(), (uintptr_t)b.virt,
	       b.phys, b.len);
	while (fgets(line, sizeof(line), stdin)) {
		size_t bad = 0;

		for (size_t i = 0; i < b.len; i++)
			bad += ((uint8_t *)b.virt)[i] != pattern(i);
		printf("%s %zu\n", bad ? "BAD" : "OK", bad);
	}
	contig_disconnect(c);
	return 0;
}
