/* ring_driver.c - a Windows-style driver skeleton, in user space on contigd.
 *
 * The porting guide in one file: a receive path of a made-up network card
 * written only against contig_wdm.h, the way a WDM/NDIS driver would
 * write it, so that each Windows call can be read next to what it does here.
 *
 *   DriverEntry   allocates, once, what the device will DMA into:
 *                 - a descriptor ring of 256 x 16 bytes that a 32-bit DMA
 *                   engine must reach (below 4 GiB) and that must not cross a
 *                   64 KiB boundary (the engine's address counter is 16 bits);
 *                 - 256 packet buffers of 2 KiB in one write-combined area;
 *                 then points each descriptor at a packet buffer and
 *                 "programs" the device: it prints the physical addresses a
 *                 real driver would write into the card's registers.
 *   Unload        frees both areas.
 *
 * Build: make -C examples. Run with a daemon:
 *   build/contigd --socket /tmp/x.sock --pool 0:2M:64M &
 *   CONTIGD_SOCKET=/tmp/x.sock examples/ring_driver
 * Many machines have no hugepage below 4 GiB in contigd's pools: the ring
 * then cannot be had and the driver says so and fails to load, as a Windows
 * driver must when MmAllocateContiguousMemorySpecifyCache returns NULL.
 * `ring_driver --any-address` (or RING_DRIVER_ANY_ADDRESS=1) pretends the
 * device does 64-bit DMA, to see the rest of the skeleton run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contig_wdm.h"

/* Windows' status codes (contig_wdm.h has no NTSTATUS: it is not needed to
 * talk to contigd). */
typedef LONG NTSTATUS;
#define STATUS_SUCCESS ((NTSTATUS)0x00000000)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009A)
#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

#define RING_ENTRIES 256
#define PACKET_LEN 2048
#define RING_BOUNDARY 0x10000ull   /* 64 KiB: the ring may not cross one */
#define DMA32_HIGHEST 0xFFFFFFFFull /* last byte a 32-bit DMA engine reaches */

/* One receive descriptor as the (made-up) device reads it: 16 bytes. */
struct rx_desc {
	uint64_t buffer_phys; /* where the device writes the packet */
	uint16_t buffer_len;
	uint16_t status;      /* the device sets DONE here */
	uint32_t reserved;
};
_Static_assert(sizeof(struct rx_desc) == 16, "the device reads 16-byte descriptors");

/* What a WDM driver keeps in its device extension. */
struct device_extension {
	struct rx_desc *ring;              /* virtual: for the CPU */
	PHYSICAL_ADDRESS ring_phys;        /* physical: for the device */
	unsigned char *packets;            /* RING_ENTRIES * PACKET_LEN, write-combined */
	PHYSICAL_ADDRESS highest;          /* the device's DMA limit */
};

static PHYSICAL_ADDRESS phys_addr(uint64_t v)
{
	PHYSICAL_ADDRESS p;

	p.QuadPart = (LONGLONG)v;
	return p;
}

static void say_why_null(const char *what, uint64_t len, uint64_t highest)
{
	/* ContigWdmClient() is NULL only when no daemon answers: that is a
	 * different failure from "no memory that fits". */
	if (!ContigWdmClient()) {
		fprintf(stderr,
			"ring_driver: cannot reach contigd (socket $CONTIGD_SOCKET, else "
			"/run/contigd/contigd.sock): is the daemon running?\n");
		return;
	}
	fprintf(stderr, "ring_driver: no memory for the %s (%" PRIu64 " bytes", what, len);
	if (highest != UINT64_MAX)
		fprintf(stderr,
			" below 0x%" PRIx64 "): contigd has no free frame below 4 GiB on this "
			"machine, so a 32-bit device cannot be served here (`contigctl status` shows "
			"the pools; --any-address lifts the limit to try the rest)\n",
			highest);
	else
		fprintf(stderr, "): contigd's pools are full or too small\n");
}

/* DriverEntry: allocate once, at load, what the device needs for its whole
 * life (the advice of the MmAllocateContiguousMemory* documentation:
 * physical memory only fragments as the system runs). */
static NTSTATUS DriverEntry(struct device_extension *dx, int any_address)
{
	const SIZE_T ring_len = RING_ENTRIES * sizeof(struct rx_desc);
	const SIZE_T packets_len = (SIZE_T)RING_ENTRIES * PACKET_LEN;

	memset(dx, 0, sizeof(*dx));
	dx->highest = phys_addr(any_address ? UINT64_MAX : DMA32_HIGHEST);

	/* MmAllocateContiguousMemorySpecifyCache: physically contiguous memory
	 * inside [Lowest, Highest], never crossing a multiple of
	 * BoundaryAddressMultiple. Here contigd carves it out of a hugepage it
	 * reserved at startup and maps it into this process; the start is page
	 * aligned. The CPU mapping is cached (write-back) whatever the type:
	 * user space cannot change it, contigd only keeps types apart. */
	dx->ring = (struct rx_desc *)MmAllocateContiguousMemorySpecifyCache(
		ring_len, phys_addr(0), dx->highest, phys_addr(RING_BOUNDARY), MmCached);
	if (!dx->ring) {
		say_why_null("descriptor ring", ring_len, (uint64_t)dx->highest.QuadPart);
		return STATUS_INSUFFICIENT_RESOURCES;
	}

	/* The packet area is write-combined: the CPU only writes it in bulk
	 * (transmit) or the device does (receive). contigd gives it frames that
	 * hold no buffer of another cache type; write-combining itself is for
	 * the client's copies to provide (non-temporal stores). */
	dx->packets = (unsigned char *)MmAllocateContiguousMemorySpecifyCache(
		packets_len, phys_addr(0), dx->highest, phys_addr(0), MmWriteCombined);
	if (!dx->packets) {
		say_why_null("packet buffers", packets_len, (uint64_t)dx->highest.QuadPart);
		MmFreeContiguousMemory(dx->ring);
		dx->ring = NULL;
		return STATUS_INSUFFICIENT_RESOURCES;
	}

	/* MmGetPhysicalAddress: the address the device must be given for a
	 * virtual address. In the kernel it walks the page tables; here the
	 * library knows each buffer's physical base, so it is arithmetic, and
	 * it works for any byte inside a buffer (the packet buffers below). */
	dx->ring_phys = MmGetPhysicalAddress(dx->ring);
	memset(dx->ring, 0, ring_len);
	for (int i = 0; i < RING_ENTRIES; i++) {
		dx->ring[i].buffer_phys =
			(uint64_t)MmGetPhysicalAddress(dx->packets + (size_t)i * PACKET_LEN).QuadPart;
		dx->ring[i].buffer_len = PACKET_LEN;
	}
	return STATUS_SUCCESS;
}

/* What a real driver would write into the card: the ring's base (split in
 * two 32-bit registers, as such cards have), its length, and the
 * descriptors the card will fetch. */
static int program_device(const struct device_extension *dx)
{
	uint64_t ring = (uint64_t)dx->ring_phys.QuadPart;
	uint64_t ring_last = ring + RING_ENTRIES * sizeof(struct rx_desc) - 1;
	uint64_t highest = (uint64_t)dx->highest.QuadPart;
	int bad = 0;

	printf("RDBAL  (ring base, low 32 bits)  = 0x%08" PRIx64 "\n", ring & 0xffffffffu);
	printf("RDBAH  (ring base, high 32 bits) = 0x%08" PRIx64 "\n", ring >> 32);
	printf("RDLEN  (ring length)             = %zu bytes, %d descriptors\n",
	       RING_ENTRIES * sizeof(struct rx_desc), RING_ENTRIES);
	for (int i = 0; i < RING_ENTRIES; i++) {
		uint64_t b = dx->ring[i].buffer_phys;

		if (i < 4 || i == RING_ENTRIES - 1)
			printf("desc[%3d].buffer_phys          = 0x%" PRIx64 " (%u bytes)\n", i, b,
			       dx->ring[i].buffer_len);
		else if (i == 4)
			printf("...\n");
		if (b == 0 || b + PACKET_LEN - 1 > highest)
			bad++;
	}
	/* What the device relies on, checked once more before it is started. */
	if (ring == 0 || ring_last > highest || ring / RING_BOUNDARY != ring_last / RING_BOUNDARY) {
		fprintf(stderr, "ring_driver: the ring at 0x%" PRIx64 " breaks the device's limits\n",
			ring);
		return -1;
	}
	if (bad) {
		fprintf(stderr, "ring_driver: %d packet buffers out of the device's reach\n", bad);
		return -1;
	}
	printf("ring and packet buffers within the device's reach (last byte 0x%" PRIx64
	       "), ring inside one 64 KiB window: ok\n",
	       highest);
	return 0;
}

/* Unload: give everything back. contigd would also reclaim it when the
 * process exits, but a driver that frees at unload runs unchanged when it
 * is loaded and unloaded many times in one process. */
static void Unload(struct device_extension *dx)
{
	/* MmFreeContiguousMemory: free by base address, the preferred way. */
	MmFreeContiguousMemory(dx->ring);
	/* MmFreeContiguousMemorySpecifyCache: the same, but size and cache type
	 * must be those of the allocation; a mismatch frees nothing and is
	 * reported on stderr and in contigd's stats, where Windows would
	 * bug-check. */
	MmFreeContiguousMemorySpecifyCache(dx->packets, (SIZE_T)RING_ENTRIES * PACKET_LEN,
					   MmWriteCombined);
	dx->ring = NULL;
	dx->packets = NULL;
}

int main(int argc, char **argv)
{
	const char *env = getenv("RING_DRIVER_ANY_ADDRESS");
	int any_address = env && strcmp(env, "1") == 0;
	struct device_extension dx;
	NTSTATUS status;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--any-address") == 0) {
			any_address = 1;
		} else {
			fprintf(stderr, "usage: %s [--any-address]\n", argv[0]);
			return 2;
		}
	}
	status = DriverEntry(&dx, any_address);
	if (!NT_SUCCESS(status)) {
		fprintf(stderr, "ring_driver: DriverEntry failed with 0x%08" PRIx32 "\n",
			(uint32_t)status);
		return 1;
	}
	r = program_device(&dx);
	Unload(&dx);
	return r == 0 ? 0 : 1;
}
