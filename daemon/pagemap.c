/* pagemap.c - physical addresses from /proc/self/pagemap.
 *
 * DESIGN
 * The one file that reads /proc/self/pagemap. Each 8-byte entry describes
 * one base page of this process's address space: bit 63 says it is
 * present, bits 0-54 hold its page frame number, so the physical address
 * of a byte is PFN * base page size + its offset in the page. The file is
 * opened once, at startup, and read with pread() from any thread.
 *
 * Reading PFNs needs CAP_SYS_ADMIN; without it the kernel reports zeros
 * rather than an error, which contig_pagemap_init() detects with a probe
 * page of its own.
 *
 * Owns: the pagemap descriptor. Never calls: memfds, mempolicy, sysfs,
 * or any other contigd file (errmsg.h aside); never logs.
 */
#include "pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errmsg.h"

#define PAGEMAP_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define PAGEMAP_PRESENT (UINT64_C(1) << 63)

static int pagemap_fd = -1;

int contig_pagemap_init(char *err, size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t phys = 0;
	void *probe;
	int r;

	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0)
		return contig_errmsg(err, errlen, -errno, "cannot open /proc/self/pagemap: %s",
			    strerror(errno));
	probe = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED)
		return contig_errmsg(err, errlen, -errno, "mmap: %s", strerror(errno));
	*(volatile char *)probe = 1;
	r = contig_pagemap_virt_to_phys(probe, &phys);
	munmap(probe, page);
	if (r < 0 || phys == 0) {
		close(pagemap_fd);
		pagemap_fd = -1;
		return contig_errmsg(err, errlen, -EPERM,
			    "cannot read physical addresses from /proc/self/pagemap (the kernel "
			    "shows page frame numbers only to CAP_SYS_ADMIN): run contigd as root "
			    "or grant it CAP_SYS_ADMIN");
	}
	return 0;
}

void contig_pagemap_done(void)
{
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	pagemap_fd = -1;
}

int contig_pagemap_virt_to_phys(const void *virt, uint64_t *ret_phys)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t v = (uintptr_t)virt;
	uint64_t entry;
	ssize_t n;

	n = pread(pagemap_fd, &entry, sizeof(entry), (off_t)(v / page * sizeof(entry)));
	if (n != sizeof(entry))
		return n < 0 ? -errno : -EIO;
	if (!(entry & PAGEMAP_PRESENT))
		return -EFAULT;
	*ret_phys = (entry & PAGEMAP_PFN_MASK) * (uint64_t)page + v % page;
	return 0;
}
