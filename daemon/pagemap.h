/* pagemap.h - physical addresses of this process's pages, read from
 * /proc/self/pagemap (pagemap.c). Used by frames.c to locate each frame's
 * page; main.c opens and closes it. */
#ifndef CONTIG_PAGEMAP_H
#define CONTIG_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

/* Check that this process can read physical addresses from
 * /proc/self/pagemap (CAP_SYS_ADMIN) and open it for later reads. Returns 0,
 * or -EPERM / -errno with the reason and the fix in @err. Call once, first,
 * before any other thread starts. */
int contig_pagemap_init(char *err, size_t errlen);

/* Close it. Main thread, at exit, once no other thread reads it. */
void contig_pagemap_done(void);

/* Physical address of the mapped byte at @virt (which must be faulted in),
 * or -errno (-EFAULT: not present). Any thread, after contig_pagemap_init(). */
int contig_pagemap_virt_to_phys(const void *virt, uint64_t *ret_phys);

#endif
