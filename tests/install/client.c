/* client.c - a program built out of the tree against an installed libcontig:
 * only the installed headers (contig.h, contig_wdm.h) and what
 * `pkg-config --cflags --libs contig` says. test_install.sh builds it and
 * runs it against a daemon.
 *
 *   client SOCKET
 *
 * Allocates a 64 KiB buffer that must not cross 64 KiB through contig.h,
 * writes it, checks its physical address with contig_virt_to_phys(),
 * frees it; then the same size through the Windows routines of
 * contig_wdm.h on the same socket (CONTIGD_SOCKET). Prints "phys 0x..."
 * for each and exits 0 only if everything held.
 */
#define _POSIX_C_SOURCE 200809L /* setenv() */

#include <contig.h>
#include <contig_wdm.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEN (64u << 10)

static int fail(const char *what, int r)
{
	fprintf(stderr, "client: %s: %d (%s)\n", what, r, contig_last_message());
	return 1;
}

int main(int argc, char **argv)
{
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer buf;
	PHYSICAL_ADDRESS highest, phys;
	uint64_t inner;
	PVOID virt;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: client SOCKET\n");
		return 2;
	}
	r = contig_connect(argv[1], &c);
	if (r < 0)
		return fail("contig_connect", r);
	contig_alloc_req_init(&req, LEN);
	req.boundary = LEN;
	r = contig_alloc(c, &req, &buf);
	if (r < 0)
		return fail("contig_alloc", r);
	memset(buf.virt, 0xa5, LEN);
	if (contig_virt_to_phys(c, (char *)buf.virt + 4096, &inner) < 0 ||
	    inner != buf.phys + 4096 || buf.phys == 0 || buf.phys / LEN != (buf.phys + LEN - 1) / LEN)
		return fail("physical address", -1);
	printf("phys 0x%" PRIx64 " len %" PRIu64 " node %d\n", buf.phys, buf.len, buf.node);
	r = contig_free(c, buf.virt);
	if (r < 0)
		return fail("contig_free", r);
	contig_disconnect(c);

	/* The Windows routines connect lazily to $CONTIGD_SOCKET. */
	if (setenv("CONTIGD_SOCKET", argv[1], 1) < 0)
		return fail("setenv", -1);
	highest.QuadPart = -1;
	virt = MmAllocateContiguousMemory(LEN, highest);
	if (!virt)
		return fail("MmAllocateContiguousMemory", -1);
	phys = MmGetPhysicalAddress(virt);
	if (phys.QuadPart == 0)
		return fail("MmGetPhysicalAddress", -1);
	printf("phys 0x%" PRIx64 " (MmAllocateContiguousMemory)\n", (uint64_t)phys.QuadPart);
	MmFreeContiguousMemory(virt);
	return 0;
}
