/* frames.c - hugepage frames: files on hugetlbfs, placed, faulted, located.
 *
 * DESIGN
 * A frame is one hugepage held by one file in a directory this daemon
 * instance owns (<runtime dir>/<instance>-<size>kB/frame-<id>). Files,
 * not anonymous memory, because (1) a file descriptor is what we hand to a
 * client over SCM_RIGHTS, (2) truncating the file revokes every client
 * mapping of it at once, and (3) files outlive the daemon process.
 *
 * The directory is a private hugetlbfs mount limited (size=) to the bytes
 * of the pools of that page size. A client holds its frames' descriptors
 * read-write (it must, to map them shared and writable), so it can grow a
 * frame file with ftruncate(); on an unlimited mount it could then fault in
 * any number of hugepages from the host, outside every pool and quota. On
 * our mount every page is already a frame: growth faults fail (SIGBUS in
 * the client that tried). Page sizes come from libhugetlbfs.
 *
 * Reserving a frame: create the file; bind this thread's memory policy to
 * the node (libnuma, strict MPOL_BIND); fallocate() one page, which makes
 * hugetlbfs allocate and zero the hugepage under that policy and fail with
 * ENOSPC instead of SIGBUS when the node has none; map it briefly to read
 * the physical address from /proc/self/pagemap and confirm the node with
 * get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR); unmap (at startup, all frames'
 * mappings at once, after the workers: see reserve_job). The page stays in
 * the file's page cache until the file is truncated.
 *
 * Frames outlive the daemon: a restarted instance keeps the mount
 * (contig_frame_dir_open() with keep) and finds the frames in it
 * (contig_frame_dir_scan()), each re-located through pagemap. A mount's
 * size is fixed when it is mounted, so a directory is one or more mounts
 * ("parts": a pool that grew at a restart adds one, and so does each
 * window pool, whose size is known only once its frames are found:
 * contig_frame_dir_grow()), and each is kept full:
 * room a pool does not use is filled with ballast frames that are never
 * served (contig_frame_dir_fill()), so no client can grow a file into it.
 *
 * Recycling a frame truncates and unlinks its file before creating the
 * next one, so that the kernel's LIFO free list hands the same page back.
 * A client may still hold the old descriptor: it names an empty, unlinked
 * file, useless to it.
 *
 * Reading PFNs from pagemap needs CAP_SYS_ADMIN; without it the kernel
 * reports zeros, which contig_frames_init() detects.
 */
#include "frames.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hugetlbfs.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "errmsg.h"

#define PAGEMAP_PFN_MASK ((UINT64_C(1) << 55) - 1)
#define PAGEMAP_PRESENT (UINT64_C(1) << 63)
/* Attempts to re-fault a recycled frame: 0.1 ms doubling to 10 ms, about
 * 0.3 s in all. */
#define RECYCLE_TRIES 36

/* One hugetlbfs mount of the directory. The first is <path>; a pool that
 * grew while frames of an earlier instance were adopted adds <path>.1 and
 * so on (a mount's size cannot change). Every mount is kept full of frames
 * (or ballast): no client can grow a file into spare room. */
struct part {
	char *path;
	int dirfd;                   /* the mount's root, where its frame files live */
	uint64_t nslots;             /* pages the mount may hold */
	atomic_uint_fast64_t nfiles; /* frame files in it (each holds one page) */
};

#define MAX_PARTS CONTIG_FRAME_DIR_MAX_PARTS

struct contig_frame_dir {
	uint64_t page_len;
	char *path;   /* <runtime_dir>/<instance>-<kB>kB: the first part */
	struct part parts[MAX_PARTS];
	unsigned nparts;
	int lockfd;   /* lock_path, held while we live */
	char *lock_path; /* <path>.lock */
	atomic_uint_fast64_t next_id;
	struct contig_frame_file *ballast; /* frames that fill spare room, never served */
	size_t nballast;
};

static int pagemap_fd = -1;

static int node_of(void *virt);

int contig_frames_init(char *err, size_t errlen)
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
	r = contig_frames_virt_to_phys(probe, &phys);
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

void contig_frames_done(void)
{
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	pagemap_fd = -1;
}

int contig_frames_virt_to_phys(const void *virt, uint64_t *ret_phys)
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

int contig_frames_page_sizes(uint64_t *ret_lens, int max)
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

/* ---- the directory ---- */

static bool is_hugetlbfs(const char *path, uint64_t page_len)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (uint64_t)st.f_type == HUGETLBFS_MAGIC &&
	       (uint64_t)st.f_bsize == page_len;
}

/* Remove the frame files in @dirfd: they pin hugepages. */
static void remove_files(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "frame-", 6) == 0)
			unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

/* The path of part @i: <path>, then <path>.1, ... */
static char *part_path(const struct contig_frame_dir *dir, unsigned i)
{
	char *p;

	if (i == 0)
		return strdup(dir->path);
	return asprintf(&p, "%s.%u", dir->path, i) < 0 ? NULL : p;
}

/* Empty and detach a mount an earlier instance left at @path. */
static void remove_mount(const char *path, uint64_t page_len)
{
	if (is_hugetlbfs(path, page_len)) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0) {
			remove_files(fd);
			close(fd);
		}
		umount2(path, MNT_DETACH);
	}
	rmdir(path);
}

/* Mount part dir->nparts: its own hugetlbfs, limited to @nslots pages. */
static int mount_part(struct contig_frame_dir *dir, uint64_t nslots, char *err, size_t errlen)
{
	struct part *pt = &dir->parts[dir->nparts];
	char opts[96];
	int e;

	if (dir->nparts == MAX_PARTS)
		return contig_errmsg(err, errlen, -ENOSPC, "%s: too many mounts (the pools of %" PRIu64
			    " kB pages grew %u times, by window pools or while sessions were "
			    "restored): use fewer window pools of this page size, or restart "
			    "contigd with no clients", dir->path, dir->page_len >> 10, MAX_PARTS);
	pt->path = part_path(dir, dir->nparts);
	if (!pt->path)
		return -ENOMEM;
	if (mkdir(pt->path, 0700) < 0 && errno != EEXIST) {
		e = errno;
		free(pt->path);
		return contig_errmsg(err, errlen, -e, "mkdir %s: %s", pt->path, strerror(e));
	}
	snprintf(opts, sizeof(opts), "pagesize=%" PRIu64 "K,size=%" PRIu64 ",mode=0700",
		 dir->page_len >> 10, nslots * dir->page_len);
	if (mount("hugetlbfs", pt->path, "hugetlbfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) <
	    0) {
		e = errno;
		rmdir(pt->path);
		contig_errmsg(err, errlen, -e, "mounting hugetlbfs (%s) at %s failed: %s%s", opts, pt->path,
		     strerror(e), e == EPERM ? ": run contigd as root" : "");
		free(pt->path);
		return -e;
	}
	pt->dirfd = open(pt->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pt->dirfd < 0) {
		e = errno;
		umount2(pt->path, MNT_DETACH);
		rmdir(pt->path);
		contig_errmsg(err, errlen, -e, "open %s: %s", pt->path, strerror(e));
		free(pt->path);
		return -e;
	}
	pt->nslots = nslots;
	atomic_init(&pt->nfiles, 0);
	dir->nparts++;
	return 0;
}

/* Take over the mounts an earlier instance left, frame files and all:
 * part i from @stored[i] if the service manager kept its root for us (the
 * mount may then be in no namespace we can see), else from its path,
 * <path>, <path>.1, ... while they are hugetlbfs of our page size. */
static int keep_parts(struct contig_frame_dir *dir, int *stored, char *err, size_t errlen)
{
	for (unsigned i = 0; i < MAX_PARTS; i++) {
		struct part *pt = &dir->parts[dir->nparts];
		struct statfs st;

		pt->path = part_path(dir, i);
		if (!pt->path)
			return -ENOMEM;
		if (stored[i] >= 0) {
			if (fstatfs(stored[i], &st) < 0 || (uint64_t)st.f_type != HUGETLBFS_MAGIC ||
			    (uint64_t)st.f_bsize != dir->page_len) {
				close(stored[i]);
				stored[i] = -1;
				free(pt->path);
				pt->path = NULL;
				break;
			}
			pt->dirfd = stored[i];
			stored[i] = -1;
			pt->nslots = (uint64_t)st.f_blocks;
			atomic_init(&pt->nfiles, 0);
			dir->nparts++;
			continue;
		}
		if (!is_hugetlbfs(pt->path, dir->page_len) || statfs(pt->path, &st) < 0) {
			free(pt->path);
			pt->path = NULL;
			break;
		}
		pt->dirfd = open(pt->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pt->dirfd < 0) {
			int e = errno;

			contig_errmsg(err, errlen, -e, "open %s: %s", pt->path, strerror(e));
			free(pt->path);
			pt->path = NULL;
			return -e;
		}
		pt->nslots = (uint64_t)st.f_blocks;
		atomic_init(&pt->nfiles, 0);
		dir->nparts++;
	}
	return 0;
}

/* Create and lock dir->lock_path. Its owner unlinks it at exit, so a lock
 * won on a file that was unlinked meanwhile is worth nothing: check that
 * the path still names the locked file, else start again. */
static int lock_file(struct contig_frame_dir *dir, char *err, size_t errlen)
{
	for (int tries = 0; tries < 8; tries++) {
		struct stat held, named;

		dir->lockfd = open(dir->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (dir->lockfd < 0)
			return contig_errmsg(err, errlen, -errno, "open %s: %s", dir->lock_path,
				    strerror(errno));
		if (flock(dir->lockfd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(dir->lockfd);
			dir->lockfd = -1;
			return contig_errmsg(err, errlen, e == EWOULDBLOCK ? -EBUSY : -e,
				    "%s is held by another contigd (same socket path?)",
				    dir->lock_path);
		}
		if (fstat(dir->lockfd, &held) == 0 && stat(dir->lock_path, &named) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino)
			return 0;
		close(dir->lockfd);
		dir->lockfd = -1;
	}
	return contig_errmsg(err, errlen, -EBUSY, "%s keeps changing under us", dir->lock_path);
}

int contig_frame_dir_open(uint64_t page_len, uint64_t limit_len, const char *instance,
			  const char *runtime_dir, bool keep, int *stored,
			  struct contig_frame_dir **ret_dir, char *err, size_t errlen)
{
	struct contig_frame_dir *dir = calloc(1, sizeof(*dir));
	uint64_t nslots = limit_len / page_len, have = 0;
	char path[512];
	int r;

	if (!dir)
		return -ENOMEM;
	dir->page_len = page_len;
	dir->lockfd = -1;
	if (mkdir(runtime_dir, 0755) < 0 && errno != EEXIST) {
		r = contig_errmsg(err, errlen, -errno, "mkdir %s: %s", runtime_dir, strerror(errno));
		goto out_free;
	}
	/* The lock lives outside the mount, so that checking for a live
	 * instance and (re)mounting cannot race with another daemon. */
	snprintf(path, sizeof(path), "%s/%s-%" PRIu64 "kB.lock", runtime_dir, instance,
		 page_len >> 10);
	dir->lock_path = strdup(path);
	if (!dir->lock_path) {
		r = -ENOMEM;
		goto out_free;
	}
	r = lock_file(dir, err, errlen);
	if (r < 0)
		goto out_free;
	snprintf(path, sizeof(path), "%s/%s-%" PRIu64 "kB", runtime_dir, instance, page_len >> 10);
	dir->path = strdup(path);
	if (!dir->path) {
		r = -ENOMEM;
		goto out_free;
	}
	if (keep) {
		r = keep_parts(dir, stored, err, errlen);
		if (r < 0)
			goto out_free;
	}
	for (unsigned i = 0; i < MAX_PARTS; i++)
		if (stored[i] >= 0) { /* a kept mount not taken over: empty it */
			remove_files(stored[i]);
			close(stored[i]);
			stored[i] = -1;
		}
	if (dir->nparts == 0) {
		/* Nothing kept: what a dead instance left goes (clients of it
		 * may still hold files open in a detached mount). */
		for (unsigned i = 0; i < MAX_PARTS; i++) {
			char *p = part_path(dir, i);

			if (!p) {
				r = -ENOMEM;
				goto out_free;
			}
			remove_mount(p, page_len);
			free(p);
		}
	}
	for (unsigned i = 0; i < dir->nparts; i++)
		have += dir->parts[i].nslots;
	if (have < nslots) {
		r = mount_part(dir, nslots - have, err, errlen);
		if (r < 0)
			goto out_free;
	}
	*ret_dir = dir;
	return 0;

out_free:
	contig_frame_dir_close(dir, keep);
	return r;
}

int contig_frame_dir_grow(struct contig_frame_dir *dir, uint64_t nslots, char *err,
			  size_t errlen)
{
	uint64_t have = contig_frame_dir_nslots(dir);

	return have < nslots ? mount_part(dir, nslots - have, err, errlen) : 0;
}

void contig_frame_dir_close(struct contig_frame_dir *dir, bool keep)
{
	if (!dir)
		return;
	for (size_t i = 0; i < dir->nballast; i++) {
		if (keep)
			close(dir->ballast[i].fd);
		else
			contig_frame_release(dir, &dir->ballast[i]);
	}
	free(dir->ballast);
	for (unsigned i = 0; i < dir->nparts; i++) {
		struct part *pt = &dir->parts[i];

		if (!keep)
			remove_files(pt->dirfd);
		close(pt->dirfd);
		/* Detach: clients may still hold (empty, unlinked) frame files. */
		if (!keep && umount2(pt->path, MNT_DETACH) == 0)
			rmdir(pt->path);
		free(pt->path);
	}
	if (dir->lockfd >= 0) {
		/* Unlinked while still held: see lock_file(). */
		unlink(dir->lock_path);
		close(dir->lockfd);
	}
	free(dir->lock_path);
	free(dir->path);
	free(dir);
}

void contig_frame_mount_release(int rootfd)
{
	remove_files(rootfd);
	close(rootfd);
}

unsigned contig_frame_dir_nparts(const struct contig_frame_dir *dir)
{
	return dir->nparts;
}

int contig_frame_dir_part_fd(const struct contig_frame_dir *dir, unsigned i)
{
	return dir->parts[i].dirfd;
}

uint64_t contig_frame_dir_nslots(const struct contig_frame_dir *dir)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < dir->nparts; i++)
		n += dir->parts[i].nslots;
	return n;
}

int contig_frame_dir_scan(struct contig_frame_dir *dir, struct contig_frame_found **ret_found,
			  size_t *ret_n)
{
	struct contig_frame_found *found = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (unsigned i = 0; i < dir->nparts && r == 0; i++) {
		struct part *pt = &dir->parts[i];
		int fd = openat(pt->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *e;

		if (!d) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			break;
		}
		while (r == 0 && (e = readdir(d))) {
			struct contig_frame_found *f;
			char *end;
			uint64_t id;
			struct stat st;

			if (strncmp(e->d_name, "frame-", 6) != 0)
				continue;
			errno = 0;
			id = strtoull(e->d_name + 6, &end, 10);
			if (errno || *end || end == e->d_name + 6) {
				unlinkat(pt->dirfd, e->d_name, 0); /* not ours to keep */
				continue;
			}
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 64;
				struct contig_frame_found *grown = realloc(found, ncap * sizeof(*found));

				if (!grown) {
					r = -ENOMEM;
					break;
				}
				found = grown;
				cap = ncap;
			}
			f = &found[n];
			*f = (struct contig_frame_found){ .file = { .fd = -1, .id = id, .part = i },
							  .node = -1 };
			f->file.fd = openat(pt->dirfd, e->d_name, O_RDWR | O_CLOEXEC);
			if (f->file.fd < 0)
				continue;
			atomic_fetch_add(&pt->nfiles, 1);
			n++;
			if (id >= atomic_load(&dir->next_id))
				atomic_store(&dir->next_id, id + 1);
			/* A file its client truncated (or grew) holds no whole page. */
			f->whole = fstat(f->file.fd, &st) == 0 && (uint64_t)st.st_size == dir->page_len;
			if (f->whole) {
				void *virt = mmap(NULL, dir->page_len, PROT_READ,
						  MAP_SHARED | MAP_POPULATE, f->file.fd, 0);

				if (virt == MAP_FAILED) {
					f->whole = false;
				} else {
					if (contig_frames_virt_to_phys(virt, &f->file.phys) < 0)
						f->whole = false;
					f->node = node_of(virt);
					munmap(virt, dir->page_len);
				}
			}
		}
		closedir(d);
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			contig_frame_release(dir, &found[i].file);
		free(found);
		return r;
	}
	*ret_found = found;
	*ret_n = n;
	return 0;
}

int contig_frame_dir_fill(struct contig_frame_dir *dir, int node)
{
	for (;;) {
		struct contig_frame_file file, *grown;
		int r = contig_frame_reserve(dir, node, &file);

		if (r == -ENOSPC)
			return 0; /* every mount full (or the kernel short: then they are
				     not, and a client could grow a file into it) */
		if (r < 0)
			return r;
		grown = realloc(dir->ballast, (dir->nballast + 1) * sizeof(*grown));
		if (!grown) {
			contig_frame_release(dir, &file);
			return -ENOMEM;
		}
		dir->ballast = grown;
		dir->ballast[dir->nballast++] = file;
	}
}

size_t contig_frame_dir_nballast(const struct contig_frame_dir *dir)
{
	return dir->nballast;
}

const char *contig_frame_dir_path(const struct contig_frame_dir *dir)
{
	return dir->path;
}

uint64_t contig_frame_dir_page_len(const struct contig_frame_dir *dir)
{
	return dir->page_len;
}

/* ---- the kernel's hugepage pool ---- */

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

int contig_memory_compact(int node)
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

/* ---- frames ---- */

/* Bind the calling thread's allocations strictly to @node (libnuma). */
static void bind_node(int node)
{
	struct bitmask *mask;

	if (numa_available() < 0)
		return;
	mask = numa_allocate_nodemask();
	numa_bitmask_setbit(mask, (unsigned)node);
	numa_set_membind(mask);
	numa_bitmask_free(mask);
}

static void unbind_node(void)
{
	if (numa_available() >= 0)
		numa_set_localalloc();
}

static int node_of(void *virt)
{
	int node = -1;

	if (numa_available() < 0)
		return 0;
	if (get_mempolicy(&node, NULL, 0, virt, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -errno;
	return node;
}

/* Reserve one frame into *ret_file. With @ret_virt, the brief mapping used
 * to locate the page is kept and returned for the caller to munmap();
 * without, it is unmapped here. */
/* A part with room for one more file, counted in; NULL if all are full. */
static struct part *part_claim(struct contig_frame_dir *dir)
{
	for (unsigned i = 0; i < dir->nparts; i++) {
		struct part *pt = &dir->parts[i];
		uint_fast64_t n = atomic_load(&pt->nfiles);

		while (n < pt->nslots)
			if (atomic_compare_exchange_weak(&pt->nfiles, &n, n + 1))
				return pt;
	}
	return NULL;
}

static int frame_reserve(struct contig_frame_dir *dir, int node, struct contig_frame_file *ret_file,
			 void **ret_virt)
{
	struct part *pt = part_claim(dir);
	uint64_t id = atomic_fetch_add(&dir->next_id, 1);
	uint64_t phys = 0;
	char name[32];
	void *virt;
	int fd, r, got;

	if (!pt)
		return -ENOSPC;
	snprintf(name, sizeof(name), "frame-%" PRIu64, id);
	fd = openat(pt->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		atomic_fetch_sub(&pt->nfiles, 1);
		return -errno;
	}
	bind_node(node);
	r = fallocate(fd, 0, 0, (off_t)dir->page_len) < 0 ? -errno : 0;
	unbind_node();
	if (r < 0)
		goto out_unlink;
	virt = mmap(NULL, dir->page_len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (virt == MAP_FAILED) {
		r = -errno;
		goto out_unlink;
	}
	r = contig_frames_virt_to_phys(virt, &phys);
	got = node_of(virt);
	if (r == 0 && got != node)
		r = got < 0 ? got : -EXDEV;
	if (r == 0 && phys % dir->page_len)
		r = -EIO; /* a hugepage is always aligned to its size */
	if (r < 0 || !ret_virt)
		munmap(virt, dir->page_len);
	if (r < 0)
		goto out_unlink;
	if (ret_virt)
		*ret_virt = virt;
	ret_file->fd = fd;
	ret_file->id = id;
	ret_file->phys = phys;
	ret_file->part = (uint8_t)(pt - dir->parts);
	ret_file->truncated = false;
	return 0;

out_unlink:
	if (ftruncate(fd, 0) < 0) {
		/* nothing more to do: unlink and close free the page anyway */
	}
	unlinkat(pt->dirfd, name, 0);
	close(fd);
	atomic_fetch_sub(&pt->nfiles, 1);
	return r;
}

int contig_frame_reserve(struct contig_frame_dir *dir, int node, struct contig_frame_file *ret_file)
{
	return frame_reserve(dir, node, ret_file, NULL);
}

void contig_frame_release(struct contig_frame_dir *dir, struct contig_frame_file *file)
{
	char name[32];

	if (file->fd < 0)
		return;
	snprintf(name, sizeof(name), "frame-%" PRIu64, file->id);
	/* Truncation is what revokes clients' mappings; unlink alone would not. */
	if (ftruncate(file->fd, 0) < 0) {
		/* cannot happen on hugetlbfs for a file we opened O_RDWR */
	}
	unlinkat(dir->parts[file->part].dirfd, name, 0);
	close(file->fd);
	file->fd = -1;
	atomic_fetch_sub(&dir->parts[file->part].nfiles, 1);
}

void contig_frame_close(struct contig_frame_file *file)
{
	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
}

int contig_frame_recycle(struct contig_frame_dir *dir, int node, struct contig_frame_file *file)
{
	struct timespec pause = { 0, 100 * 1000 };
	struct stat st;
	bool truncated;
	int r;

	truncated = fstat(file->fd, &st) == 0 && (uint64_t)st.st_size != dir->page_len;
	contig_frame_release(dir, file);
	/* Our mount holds exactly the pools, so the new file can only get a
	 * page once the old one is back. Truncation unmaps it everywhere, but
	 * a client's own munmap() racing with it may hold the last reference a
	 * little longer (until its TLB flush): wait for that, boundedly (a
	 * page pinned for longer, e.g. by a client's I/O, makes the frame
	 * lost rather than stall recycling). */
	for (int tries = 0; tries < RECYCLE_TRIES; tries++) {
		r = contig_frame_reserve(dir, node, file);
		if (r != -ENOSPC)
			break;
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 10 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
	file->truncated = truncated;
	return r;
}

/* Reserving many frames at startup, one worker per CPU. The workers keep
 * each frame's locating mapping (virts[i]) and the caller unmaps them all
 * once the workers are gone: an munmap() while another thread of the
 * process runs on another CPU shoots down its TLB with an interrupt, which
 * on a VM costs a guest exit per frame (measured here: about a quarter of
 * the startup time of a 1 GiB pool). */
struct reserve_job {
	struct contig_frame_dir *dir;
	int node;
	size_t nframes;
	struct contig_frame_file *files;
	void **virts;
	atomic_size_t next;
	atomic_size_t done;                           /* frames reserved so far */
	void (*progress)(size_t done, void *arg);     /* called by the caller's thread */
	void *progress_arg;
	atomic_int error;
	bool upto;                                    /* -ENOSPC ends it, no error */
};

/* Reserve frames until none is left; with @report, also tell job->progress
 * each time another sixteenth of them is in. Returns the count last told. */
static size_t reserve_frames(struct reserve_job *job, bool report)
{
	size_t i, step = job->nframes / 16 ? job->nframes / 16 : 1, reported = 0;

	while ((i = atomic_fetch_add(&job->next, 1)) < job->nframes) {
		size_t done;
		int r;

		if (atomic_load(&job->error))
			break;
		r = frame_reserve(job->dir, job->node, &job->files[i], &job->virts[i]);
		if (r < 0) {
			int none = 0;

			job->files[i].fd = -1;
			if (r == -ENOSPC && job->upto)
				r = 1; /* stops every worker; not an error */
			atomic_compare_exchange_strong(&job->error, &none, r);
		}
		done = atomic_fetch_add(&job->done, 1) + 1;
		if (report && job->progress && done - reported >= step) {
			reported = done;
			job->progress(done, job->progress_arg);
		}
	}
	return reported;
}

static void *reserve_worker(void *arg)
{
	reserve_frames(arg, false);
	return NULL;
}

static int reserve_many(struct contig_frame_dir *dir, int node, size_t nframes, unsigned nthreads,
			void (*progress)(size_t done, void *arg), void *progress_arg, bool upto,
			struct contig_frame_file *ret_files)
{
	struct reserve_job job = { .dir = dir, .node = node, .nframes = nframes, .files = ret_files,
				   .progress = progress, .progress_arg = progress_arg, .upto = upto };
	pthread_t tids[64];
	unsigned nstarted = 0;
	size_t reported;

	job.virts = calloc(nframes ? nframes : 1, sizeof(*job.virts));
	if (!job.virts)
		return -ENOMEM;
	for (size_t i = 0; i < nframes; i++)
		ret_files[i].fd = -1;
	if (nthreads > 64)
		nthreads = 64;
	if (nthreads > nframes)
		nthreads = (unsigned)nframes;
	for (; nstarted + 1 < nthreads; nstarted++)
		if (pthread_create(&tids[nstarted], NULL, reserve_worker, &job) != 0)
			break;
	reported = reserve_frames(&job, true);
	for (unsigned t = 0; t < nstarted; t++)
		pthread_join(tids[t], NULL);
	/* The other threads may have reserved the last ones: say all are in. */
	if (progress && !atomic_load(&job.error) && reported < nframes)
		progress(nframes, progress_arg);
	for (size_t i = 0; i < nframes; i++)
		if (job.virts[i])
			munmap(job.virts[i], dir->page_len);
	free(job.virts);
	if (atomic_load(&job.error) > 0) /* upto: ran out of pages */
		return 0;
	if (atomic_load(&job.error)) {
		for (size_t i = 0; i < nframes; i++)
			contig_frame_release(dir, &ret_files[i]);
		return atomic_load(&job.error);
	}
	return 0;
}

int contig_frame_reserve_many(struct contig_frame_dir *dir, int node, size_t nframes,
			      unsigned nthreads, void (*progress)(size_t done, void *arg),
			      void *progress_arg, struct contig_frame_file *ret_files)
{
	return reserve_many(dir, node, nframes, nthreads, progress, progress_arg, false, ret_files);
}

int contig_frame_reserve_upto(struct contig_frame_dir *dir, int node, size_t max, unsigned nthreads,
			      struct contig_frame_file *ret_files, size_t *ret_n)
{
	size_t n = 0;
	int r;

	r = reserve_many(dir, node, max, nthreads, NULL, NULL, true, ret_files);
	if (r < 0)
		return r;
	for (size_t i = 0; i < max; i++)
		if (ret_files[i].fd >= 0)
			ret_files[n++] = ret_files[i];
	*ret_n = n;
	return 0;
}
