/* hugepages.c - the kernel's hugepage pools: which sizes it offers, how many
 * pages each node has and has free, growing and shrinking them, compaction.
 *
 * DESIGN
 * The one file that reads and writes the kernel's hugepage counts. Per
 * node and page size, in sysfs:
 *   /sys/devices/system/node/nodeN/hugepages/hugepages-<kB>kB/{nr,free}_hugepages
 * or, on a kernel without NUMA, the one pool in
 *   /sys/kernel/mm/hugepages/hugepages-<kB>kB/.
 * Writing nr_hugepages asks the kernel for more (or fewer) pages; it adds
 * what it can, so every write is read back: the caller learns how many
 * pages it added and gives exactly those back (contig_hugepages_shrink()).
 * Compaction ("compact" of the node, else /proc/sys/vm/compact_memory)
 * lets the kernel make more hugepages, and more of them adjacent. The page
 * sizes come from libhugetlbfs (which reads the same sysfs directories).
 *
 * Owns: nothing (no state; the kernel's counts are machine-wide, and what
 * this process added is its callers' to remember). Never calls: memfds,
 * pagemap, mempolicy, or any other contigd file (errmsg.h aside); never
 * logs (the reasons go to @err).
 */
#include "hugepages.h"

#include <errno.h>
#include <hugetlbfs.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "errmsg.h"

int contig_hugepages_sizes(uint64_t *ret_lens, int max)
{
	long sizes[8];
	int n = gethugepagesizes(sizes, 8);

	if (n < 0)
		return 0;
	/* libhugetlbfs lists them in sysfs order; we promise ascending. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
			long t = sizes[j];

			sizes[j] = sizes[j - 1];
			sizes[j - 1] = t;
		}
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++)
		ret_lens[i] = (uint64_t)sizes[i];
	return n;
}

static void sysfs_path(char *buf, size_t len, int node, uint64_t page_len, const char *leaf)
{
	char node_dir[128];
	struct stat st;

	snprintf(node_dir, sizeof(node_dir), "/sys/devices/system/node/node%d", node);
	if (stat(node_dir, &st) == 0)
		snprintf(buf, len, "%s/hugepages/hugepages-%" PRIu64 "kB/%s", node_dir,
			 page_len >> 10, leaf);
	else /* kernel without NUMA: one pool */
		snprintf(buf, len, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/%s",
			 page_len >> 10, leaf);
}

static int read_count(int node, uint64_t page_len, const char *leaf, uint64_t *ret)
{
	char path[256];
	FILE *f;
	int r;

	sysfs_path(path, sizeof(path), node, page_len, leaf);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = fscanf(f, "%" SCNu64, ret) == 1 ? 0 : -EIO;
	fclose(f);
	return r;
}

static int write_count(int node, uint64_t page_len, const char *leaf, uint64_t value)
{
	char path[256];
	FILE *f;
	int r = 0;

	sysfs_path(path, sizeof(path), node, page_len, leaf);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fprintf(f, "%" PRIu64 "\n", value) < 0)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

int contig_hugepages_ensure(int node, uint64_t page_len, uint64_t nframes, uint64_t *ret_added,
			    char *err, size_t errlen)
{
	uint64_t nr, nfree, want;
	char path[256];
	int r;

	r = read_count(node, page_len, "free_hugepages", &nfree);
	if (r == 0)
		r = read_count(node, page_len, "nr_hugepages", &nr);
	if (r < 0)
		return contig_errmsg(err, errlen, r,
			    "node %d has no %" PRIu64 " kB hugepages (%s): the kernel does not "
			    "offer this size there",
			    node, page_len >> 10, strerror(-r));
	if (nfree >= nframes) {
		*ret_added = 0;
		return 0;
	}
	want = nr + (nframes - nfree);
	sysfs_path(path, sizeof(path), node, page_len, "nr_hugepages");
	r = write_count(node, page_len, "nr_hugepages", want);
	if (r == -EACCES || r == -EPERM || r == -EROFS)
		return contig_errmsg(err, errlen, -EACCES,
			    "node %d has %" PRIu64 " free %" PRIu64 " kB hugepages, the pool needs "
			    "%" PRIu64 ", and this process may not add more: as root, run "
			    "'echo %" PRIu64 " > %s' (or start contigd as root)",
			    node, nfree, page_len >> 10, nframes, want, path);
	if (r < 0)
		return contig_errmsg(err, errlen, r, "writing %s: %s", path, strerror(-r));
	{
		uint64_t nr_before = nr, added;

		if (read_count(node, page_len, "nr_hugepages", &nr) < 0 ||
		    read_count(node, page_len, "free_hugepages", &nfree) < 0)
			return contig_errmsg(err, errlen, -EIO, "cannot read back %s", path);
		added = nr > nr_before ? nr - nr_before : 0;
		if (nfree < nframes) {
			/* Give back what we got: a partial pool helps no one. */
			contig_hugepages_shrink(node, page_len, added);
			return contig_errmsg(err, errlen, -ENOMEM,
				    "node %d: asked the kernel for %" PRIu64 " more %" PRIu64
				    " kB hugepages but only %" PRIu64 " of the %" PRIu64
				    " needed are free (too little free memory, or too fragmented): "
				    "free memory, or run 'echo 3 > /proc/sys/vm/drop_caches; "
				    "echo 1 > /proc/sys/vm/compact_memory' and start again",
				    node, want - nr_before, page_len >> 10, nfree, nframes);
		}
		*ret_added = added;
	}
	return 0;
}

int contig_hugepages_grow(int node, uint64_t page_len, uint64_t want, uint64_t *ret_added,
			  uint64_t *ret_free)
{
	uint64_t nr, nfree, nr_after;
	int r;

	r = read_count(node, page_len, "free_hugepages", &nfree);
	if (r == 0)
		r = read_count(node, page_len, "nr_hugepages", &nr);
	if (r < 0)
		return r;
	*ret_added = 0;
	*ret_free = nfree;
	if (nfree >= want)
		return 0;
	r = write_count(node, page_len, "nr_hugepages", nr + (want - nfree));
	if (r < 0 && r != -ENOMEM) /* ENOMEM: the kernel added what it could */
		return r;
	if (read_count(node, page_len, "nr_hugepages", &nr_after) < 0 ||
	    read_count(node, page_len, "free_hugepages", &nfree) < 0)
		return -EIO;
	*ret_added = nr_after > nr ? nr_after - nr : 0;
	*ret_free = nfree;
	return 0;
}

int contig_hugepages_compact(int node)
{
	char path[128];
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/compact", node);
	f = fopen(path, "we");
	if (!f && errno == ENOENT)
		f = fopen("/proc/sys/vm/compact_memory", "we");
	if (!f)
		return -errno;
	if (fputs("1\n", f) < 0)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

int contig_hugepages_shrink(int node, uint64_t page_len, uint64_t npages)
{
	uint64_t nr;
	int r;

	if (npages == 0)
		return 0;
	r = read_count(node, page_len, "nr_hugepages", &nr);
	if (r < 0)
		return r;
	return write_count(node, page_len, "nr_hugepages", nr > npages ? nr - npages : 0);
}
