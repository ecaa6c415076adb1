/* physmem.c - a node's physical memory: where it lies, what of it is free.
 *
 * DESIGN
 * Three read-only views the kernel gives, each parsed once per question:
 *   - where: /sys/devices/system/node/nodeN/memoryM links name the node's
 *     memory blocks, block M covering [M * B, (M + 1) * B) with B from
 *     /sys/devices/system/memory/block_size_bytes (hex). Kernels without
 *     memory hotplug have no blocks: then /proc/iomem's top-level "System
 *     RAM" lines (inclusive hex ranges; zeros unless root) are used, which
 *     are the whole machine's, not the node's.
 *   - free by zone: /proc/zoneinfo, a "Node N, zone NAME" line per zone,
 *     then its "pages free" and "start_pfn:" among many others. A zone is
 *     counted if it starts below the address asked about: on x86 a 4 GiB
 *     window gets DMA and DMA32, never Normal (which starts at 4 GiB).
 *   - free on the node: MemFree in /sys/devices/system/node/nodeN/meminfo,
 *     else /proc/meminfo.
 * Sizes in these files are in kB or base pages; everything returned is in
 * bytes.
 */
#include "physmem.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_hex(const char *path, uint64_t *ret)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f)
		return -errno;
	r = fscanf(f, "%" SCNx64, ret) == 1 ? 0 : -EIO;
	fclose(f);
	return r;
}

/* From the node's memory blocks: 1, 0, or -ENOENT if it lists none. */
static int blocks_above(int node, uint64_t phys)
{
	char path[96];
	uint64_t block_len;
	struct dirent *e;
	bool any = false, above = false;
	DIR *d;

	if (read_hex("/sys/devices/system/memory/block_size_bytes", &block_len) < 0 || !block_len)
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
	d = opendir(path);
	if (!d)
		return -ENOENT;
	while ((e = readdir(d)) && !above) {
		char *end;
		uint64_t m;

		if (strncmp(e->d_name, "memory", 6) != 0 || !e->d_name[6])
			continue;
		m = strtoull(e->d_name + 6, &end, 10);
		if (*end)
			continue; /* memory_failure and the like */
		any = true;
		above = (m + 1) * block_len > phys; /* ends above: some of it is */
	}
	closedir(d);
	return any ? above : -ENOENT;
}

/* From /proc/iomem's System RAM ranges (the machine's). */
static int iomem_above(uint64_t phys)
{
	FILE *f = fopen("/proc/iomem", "re");
	char line[256];
	bool any_nonzero = false, above = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end;

		if (line[0] == ' ' || !strstr(line, ": System RAM"))
			continue; /* nested entries are parts of a top-level one */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2)
			continue;
		any_nonzero |= end != 0;
		above |= end >= phys;
	}
	fclose(f);
	if (!any_nonzero)
		return -EPERM;
	return above;
}

int contig_physmem_has_above(int node, uint64_t phys)
{
	int r = blocks_above(node, phys);

	return r == -ENOENT ? iomem_above(phys) : r;
}

int contig_physmem_zone_free_below(int node, uint64_t phys, uint64_t *ret_len)
{
	FILE *f = fopen("/proc/zoneinfo", "re");
	uint64_t base = (uint64_t)sysconf(_SC_PAGESIZE), total = 0, zone_free = 0;
	bool in_node = false, seen_node = false, have_free = false;
	char line[256];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int n;
		uint64_t v;

		if (sscanf(line, "Node %d, zone", &n) == 1) {
			in_node = n == node;
			seen_node |= in_node;
			have_free = false;
		} else if (in_node && sscanf(line, " pages free %" SCNu64, &v) == 1) {
			zone_free = v;
			have_free = true;
		} else if (in_node && have_free && sscanf(line, " start_pfn: %" SCNu64, &v) == 1) {
			if (v * base < phys)
				total += zone_free * base;
			have_free = false;
		}
	}
	fclose(f);
	if (!seen_node)
		return -ENOENT;
	*ret_len = total;
	return 0;
}

int contig_physmem_node_free(int node, uint64_t *ret_len)
{
	char path[96], line[256];
	uint64_t kb;
	bool per_node = true;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	f = fopen(path, "re");
	if (!f && errno == ENOENT && node == 0) {
		per_node = false;
		f = fopen("/proc/meminfo", "re");
	}
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, "MemFree:");

		if (at && (per_node || at == line) && sscanf(at, "MemFree: %" SCNu64, &kb) == 1) {
			fclose(f);
			*ret_len = kb << 10;
			return 0;
		}
	}
	fclose(f);
	return -EIO;
}
