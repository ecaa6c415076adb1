/* frames.c - hugepage frames: sealed hugetlb memfds, placed, faulted, located.
 *
 * DESIGN
 * A frame is one hugepage held by one hugetlb memfd of its own
 * (memfd_create(MFD_HUGETLB), named contigd-frame-<id> in /proc/PID/maps).
 * A file, not anonymous memory, because (1) a file descriptor is what we
 * hand to a client over SCM_RIGHTS, (2) truncating the file revokes every
 * client mapping of it at once, and (3) a descriptor held by another
 * process (the keeper, keeper.c) outlives the daemon.
 *
 * A client holds its frames' descriptors read-write (it must, to map them
 * shared and writable), so whatever a writable descriptor allows, a
 * hostile client does. Each frame is therefore sealed F_SEAL_GROW |
 * F_SEAL_SEAL once its page is in: no ftruncate(), fallocate() or write()
 * can make it larger than its one page, ever, and no one can add
 * F_SEAL_SHRINK to stop our truncation. Recycling truncates the frame to
 * nothing, so a descriptor a client kept is from then on a file of size 0
 * that can never hold a page again: no window in which a client's
 * descriptor could catch the page on its way back to us. (Files on a
 * hugetlbfs mount, what frames were before, cannot be sealed; a quota on
 * the mount left a free slot between truncation and re-fault, and a client
 * spinning fallocate() on its old descriptor caught the page.) Within its
 * size a client may punch its own page out and fault another in; the pool
 * then finds the page moved when the frame comes back, and recycling looks
 * for the old one (contig_frame_recycle()).
 *
 * Reserving a frame: bind this thread's memory policy to the node
 * (mempolicy.c: strict MPOL_BIND; a startup worker binds once for all its
 * frames); memfd_create; fallocate() one page, which sizes the file and
 * makes hugetlbfs allocate and zero the hugepage under that policy and
 * fail with ENOSPC instead of SIGBUS when the node has none; seal; map it
 * briefly to read the physical address (pagemap.c) and confirm the node
 * (mempolicy.c: get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR)); unmap. At
 * startup the locating comes after every page is in, and the mappings go
 * in one munmap(): see reserve_job. The page stays in the file until the
 * file is truncated or its last reference goes.
 *
 * Frames outlive the daemon through the keeper: every frame reserved is
 * handed to it, every frame released or recycled taken back, so a
 * restarted instance finds the frames in the keeper (contig_frame_dir_scan())
 * and locates each again through pagemap. A set of frames of one page size
 * has no directory any more: only an id counter, a lock for the instance
 * and the keeper link (none for scratch sets: reserve.c).
 *
 * Owns: the frame memfds (create, size, fallocate, seal, map to locate,
 * truncate, close), the id counter, the instance lock and the reserving
 * workers. Speaks one kernel interface, memfds of hugetlb pages; where a
 * page is comes from pagemap.c and mempolicy.c, the kernel's hugepage
 * counts are hugepages.c's. Never calls: the pools, sessions, journal or
 * anything above them (keeper.c is told of every frame, below us); never
 * logs (errors are -errno, reasons go to @err).
 */
#include "frames.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h> /* HUGETLBFS_MAGIC */
#include <linux/memfd.h> /* MFD_HUGE_SHIFT */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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
#include "keeper.h"
#include "mempolicy.h"
#include "pagemap.h"

/* Attempts to re-fault a recycled frame: 0.1 ms doubling to 10 ms, about
 * 0.3 s in all; at most this many wrong pages held while looking for the
 * old one. */
#define RECYCLE_TRIES 36
#define RECYCLE_MAX_WRONG 8

struct contig_frame_dir {
	uint64_t page_len;
	unsigned huge_log2; /* log2(page_len), for memfd_create() */
	char *path;         /* <runtime_dir>/<instance>-<kB>kB: names the set in messages */
	int lockfd;         /* lock_path, held while we live */
	char *lock_path;    /* <path>.lock */
	atomic_uint_fast64_t next_id;
	struct contig_keeper *keeper; /* NULL: these frames need not outlive us */
	unsigned nlegacy;   /* mounts of an older contigd released at open */
};

/* ---- the set of frames of one page size ---- */

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

/* An older contigd kept frames as files on a hugetlbfs mount at @path
 * (and @path.1, ... for pools that grew): nothing adopts those now, so
 * their pages go back to the kernel (clients that still map a file keep
 * that page until they unmap it) and the mounts are detached. Returns how
 * many mounts there were. */
static unsigned release_legacy_mounts(const char *path)
{
	unsigned n = 0;

	for (unsigned part = 0; part < 8; part++) {
		char p[600];
		struct statfs st;
		DIR *d;
		struct dirent *e;

		if (part == 0)
			snprintf(p, sizeof(p), "%s", path);
		else
			snprintf(p, sizeof(p), "%s.%u", path, part);
		if (statfs(p, &st) < 0 || (uint64_t)st.f_type != HUGETLBFS_MAGIC)
			break;
		d = opendir(p);
		while (d && (e = readdir(d)))
			if (strncmp(e->d_name, "frame-", 6) == 0)
				unlinkat(dirfd(d), e->d_name, 0);
		if (d)
			closedir(d);
		if (umount2(p, MNT_DETACH) == 0)
			rmdir(p);
		n++;
	}
	return n;
}

int contig_frame_dir_open(uint64_t page_len, const char *instance, const char *runtime_dir,
			  struct contig_keeper *keeper, struct contig_frame_dir **ret_dir,
			  char *err, size_t errlen)
{
	struct contig_frame_dir *dir = calloc(1, sizeof(*dir));
	char path[512];
	int r;

	if (!dir)
		return -ENOMEM;
	dir->page_len = page_len;
	dir->lockfd = -1;
	dir->keeper = keeper;
	for (uint64_t len = page_len; len > 1; len >>= 1)
		dir->huge_log2++;
	if (mkdir(runtime_dir, 0755) < 0 && errno != EEXIST) {
		r = contig_errmsg(err, errlen, -errno, "mkdir %s: %s", runtime_dir, strerror(errno));
		goto out_free;
	}
	snprintf(path, sizeof(path), "%s/%s-%" PRIu64 "kB", runtime_dir, instance, page_len >> 10);
	dir->path = strdup(path);
	if (asprintf(&dir->lock_path, "%s.lock", path) < 0)
		dir->lock_path = NULL;
	if (!dir->path || !dir->lock_path) {
		r = -ENOMEM;
		goto out_free;
	}
	r = lock_file(dir, err, errlen);
	if (r < 0)
		goto out_free;
	dir->nlegacy = release_legacy_mounts(dir->path);
	*ret_dir = dir;
	return 0;

out_free:
	contig_frame_dir_close(dir, false);
	return r;
}

void contig_frame_dir_close(struct contig_frame_dir *dir, bool keep)
{
	(void)keep; /* the frames are the pools' (and the keeper's), not ours */
	if (!dir)
		return;
	if (dir->lockfd >= 0) {
		/* Unlinked while still held: see lock_file(). */
		unlink(dir->lock_path);
		close(dir->lockfd);
	}
	free(dir->lock_path);
	free(dir->path);
	free(dir);
}

/* The seals every frame carries: see the DESIGN note. */
#define FRAME_SEALS (F_SEAL_GROW | F_SEAL_SEAL)

int contig_frame_dir_scan(struct contig_frame_dir *dir, struct contig_frame_found **ret_found,
			  size_t *ret_n)
{
	struct contig_frame_found *found;
	struct contig_kept *kept = NULL;
	size_t n = dir->keeper ? contig_keeper_take(dir->keeper, dir->page_len, &kept) : 0;

	found = calloc(n ? n : 1, sizeof(*found));
	if (!found) {
		for (size_t i = 0; i < n; i++)
			close(kept[i].fd);
		free(kept);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct contig_frame_found *f = &found[i];
		struct stat st;

		*f = (struct contig_frame_found){ .file = { .fd = kept[i].fd, .id = kept[i].id },
						  .node = -1 };
		if (kept[i].id >= atomic_load(&dir->next_id))
			atomic_store(&dir->next_id, kept[i].id + 1);
		/* One of ours holds exactly its page, with our seals; a frame
		 * its client truncated (or punched) holds no whole page. */
		f->whole = fstat(f->file.fd, &st) == 0 && (uint64_t)st.st_size == dir->page_len &&
			   (uint64_t)st.st_blocks * 512 == dir->page_len &&
			   fcntl(f->file.fd, F_GET_SEALS) == FRAME_SEALS;
		if (f->whole) {
			void *virt = mmap(NULL, dir->page_len, PROT_READ, MAP_SHARED | MAP_POPULATE,
					  f->file.fd, 0);

			if (virt == MAP_FAILED) {
				f->whole = false;
			} else {
				if (contig_pagemap_virt_to_phys(virt, &f->file.phys) < 0)
					f->whole = false;
				f->node = contig_mempolicy_node_of(virt);
				munmap(virt, dir->page_len);
			}
		}
	}
	free(kept);
	*ret_found = found;
	*ret_n = n;
	return 0;
}

unsigned contig_frame_dir_nlegacy(const struct contig_frame_dir *dir)
{
	return dir->nlegacy;
}

const char *contig_frame_dir_path(const struct contig_frame_dir *dir)
{
	return dir->path;
}

uint64_t contig_frame_dir_page_len(const struct contig_frame_dir *dir)
{
	return dir->page_len;
}

/* ---- frames ---- */

/* Create frame @id's memfd and fault its page in on the node the calling
 * thread is bound to (the caller binds: contig_mempolicy_bind()), then
 * seal it. fallocate() sizes the file as it allocates (no ftruncate()).
 * Returns the descriptor or -errno. */
static int frame_create(struct contig_frame_dir *dir, uint64_t id)
{
	char name[48];
	int fd;

	snprintf(name, sizeof(name), "contigd-frame-%" PRIu64, id);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING |
					((unsigned)dir->huge_log2 << MFD_HUGE_SHIFT));
	if (fd < 0)
		return -errno;
	/* No client may grow it, nor change that. */
	if (fallocate(fd, 0, 0, (off_t)dir->page_len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, FRAME_SEALS) < 0) {
		int r = -errno;

		close(fd); /* the last reference: its page, if any, goes back */
		return r;
	}
	return fd;
}

/* Where the page of @file, mapped and present at @virt, is: fills
 * file->phys; -EXDEV if it is not on @node. */
static int frame_locate(struct contig_frame_dir *dir, int node, void *virt,
			struct contig_frame_file *file)
{
	int r = contig_pagemap_virt_to_phys(virt, &file->phys);
	int got = r < 0 ? r : contig_mempolicy_node_of(virt);

	if (r == 0 && got != node)
		r = got < 0 ? got : -EXDEV;
	if (r == 0 && file->phys % dir->page_len)
		r = -EIO; /* a hugepage is always aligned to its size */
	return r;
}

/* Reserve one frame into *ret_file: a sealed hugetlb memfd holding one
 * page of @node, mapped just long enough to locate it. The keeper is not
 * told: the caller does. */
static int frame_reserve(struct contig_frame_dir *dir, int node, struct contig_frame_file *ret_file)
{
	uint64_t id = atomic_fetch_add(&dir->next_id, 1);
	struct contig_frame_file file = { .id = id };
	void *virt;
	int r;

	contig_mempolicy_bind(node);
	file.fd = frame_create(dir, id);
	contig_mempolicy_unbind();
	if (file.fd < 0)
		return file.fd;
	virt = mmap(NULL, dir->page_len, PROT_READ, MAP_SHARED | MAP_POPULATE, file.fd, 0);
	if (virt == MAP_FAILED) {
		r = -errno;
		goto out_close;
	}
	r = frame_locate(dir, node, virt, &file);
	munmap(virt, dir->page_len);
	if (r < 0)
		goto out_close;
	*ret_file = file;
	return 0;

out_close:
	close(file.fd);
	return r;
}

/* Tell the keeper of @files[0..n) (those with a descriptor). */
static void keep(struct contig_frame_dir *dir, const struct contig_frame_file *files, size_t n)
{
	struct contig_kept *kept;
	size_t k = 0;

	if (!dir->keeper || !n)
		return;
	kept = malloc(n * sizeof(*kept));
	if (!kept)
		return; /* not kept: lost at a restart, like a keeper that is gone */
	for (size_t i = 0; i < n; i++)
		if (files[i].fd >= 0)
			kept[k++] = (struct contig_kept){ dir->page_len, files[i].id, files[i].fd };
	contig_keeper_update(dir->keeper, dir->page_len, kept, k, NULL, 0);
	free(kept);
}

int contig_frame_reserve(struct contig_frame_dir *dir, int node, struct contig_frame_file *ret_file)
{
	int r = frame_reserve(dir, node, ret_file);

	if (r == 0)
		keep(dir, ret_file, 1);
	return r;
}

/* Give @file's page back without telling the keeper. */
static void frame_drop(struct contig_frame_file *file)
{
	if (file->fd < 0)
		return;
	/* Truncation is what revokes clients' mappings; close alone would not. */
	if (ftruncate(file->fd, 0) < 0) {
		/* cannot happen: a frame may always shrink (no F_SEAL_SHRINK) */
	}
	close(file->fd);
	file->fd = -1;
}

void contig_frame_release(struct contig_frame_dir *dir, struct contig_frame_file *file)
{
	if (file->fd < 0)
		return;
	if (dir->keeper)
		contig_keeper_update(dir->keeper, dir->page_len, NULL, 0, &file->id, 1);
	frame_drop(file);
}

void contig_frame_close(struct contig_frame_file *file)
{
	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
}

int contig_frame_recycle(struct contig_frame_dir *dir, int node, struct contig_frame_file *file,
			 bool retry)
{
	struct timespec pause = { 0, 100 * 1000 };
	struct contig_frame_file wrong[RECYCLE_MAX_WRONG], got;
	uint64_t old_id = file->id, want = file->phys;
	unsigned nwrong = 0;
	bool truncated = false, found = false;
	struct stat st;
	int r = -ENOSPC;

	if (file->fd >= 0) {
		truncated = fstat(file->fd, &st) == 0 && (uint64_t)st.st_size != dir->page_len;
		frame_drop(file);
	}
	/* The kernel's free list is LIFO, so the next fault on @node normally
	 * gets the page just freed. Not always: a client's own munmap() racing
	 * with the truncation may hold the last reference a little longer
	 * (until its TLB flush), and any process may take a free hugepage
	 * (MAP_HUGETLB needs no privilege). So: fault until the old page comes
	 * back, holding the wrong ones meanwhile (so that each fault gets
	 * another), boundedly; then take a wrong one (the frame moved) or, with
	 * none, call it lost. A retry (of a lost frame) does not wait. */
	for (int tries = 0; tries < RECYCLE_TRIES; tries++) {
		r = frame_reserve(dir, node, &got);
		if (r == 0 && got.phys == want) {
			found = true;
			break;
		}
		if (r == 0) {
			wrong[nwrong++] = got;
			if (nwrong == RECYCLE_MAX_WRONG)
				break;
		} else if (r != -ENOSPC || retry) {
			break;
		}
		if (retry)
			continue;
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 10 * 1000 * 1000)
			pause.tv_nsec *= 2;
	}
	if (!found && nwrong) {
		got = wrong[0]; /* moved: pool.c says whether that broke a segment */
		wrong[0] = wrong[--nwrong];
		found = true;
	}
	while (nwrong)
		frame_drop(&wrong[--nwrong]);
	if (found) {
		*file = got;
		r = 0;
	} else {
		file->fd = -1;
		file->phys = want; /* what a retry looks for */
		if (r == 0)
			r = -EIO;
	}
	if (dir->keeper) {
		struct contig_kept kept = { dir->page_len, file->id, file->fd };

		contig_keeper_update(dir->keeper, dir->page_len, &kept, found ? 1 : 0,
				     &old_id, old_id != file->id || !found ? 1 : 0);
	}
	file->truncated = truncated;
	return r;
}

/* Reserving many frames at startup, one worker per CPU, in two phases.
 *
 * 1. Each worker binds its memory policy to the node once, then takes
 *    frames by index: memfd_create, fallocate (the kernel zeroes the page:
 *    what takes the time), seal, and mmap() without faulting it, at
 *    slot i of one virtual region reserved for the job.
 * 2. Once every page is in, the workers locate them, a chunk of adjacent
 *    slots at a time: one madvise(MADV_POPULATE_READ) maps a whole
 *    chunk, then pagemap and get_mempolicy() per frame.
 * Then the caller unmaps the region at once.
 *
 * Why: faulting a frame's mapping in takes the kernel's hugetlb fault
 * mutex, hashed from the file and offset into a small table (16 here),
 * which another worker's fallocate() holds for as long as it zeroes its
 * page: locating right after each fallocate() spun on that mutex (perf:
 * about 5 % of a 1 GiB start). Mapping every frame into one region
 * costs one munmap() for the job, not one per frame; an munmap() while
 * another thread runs shoots down its TLB with an interrupt, a guest exit
 * per frame on a VM. */
struct reserve_job {
	struct contig_frame_dir *dir;
	int node;
	size_t nframes;
	struct contig_frame_file *files;
	char *region;                                 /* nframes slots of page_len */
	atomic_size_t next;
	atomic_size_t done;                           /* frames reserved so far */
	atomic_size_t next_chunk;                     /* phase 2 */
	void (*progress)(size_t done, void *arg);     /* called by the caller's thread */
	void *progress_arg;
	atomic_int error;
	bool upto;                                    /* -ENOSPC ends it, no error */
	size_t reported;                              /* last told; the caller's thread */
};

/* Frames located per chunk in phase 2. */
#define LOCATE_CHUNK 32

static void job_fail(struct reserve_job *job, int r)
{
	int none = 0;

	if (r == -ENOSPC && job->upto)
		r = 1; /* stops every worker; not an error */
	atomic_compare_exchange_strong(&job->error, &none, r);
}

static void *slot(const struct reserve_job *job, size_t i)
{
	return job->region + i * job->dir->page_len;
}

/* Phase 1: create frames until none is left; with job->report, also tell
 * job->progress each time another sixteenth of them is in. */
static void reserve_frames(struct reserve_job *job, bool report)
{
	size_t i, step = job->nframes / 16 ? job->nframes / 16 : 1, reported = 0;

	contig_mempolicy_bind(job->node);
	while ((i = atomic_fetch_add(&job->next, 1)) < job->nframes) {
		struct contig_frame_file *f = &job->files[i];
		size_t done;

		if (atomic_load(&job->error))
			break;
		f->id = atomic_fetch_add(&job->dir->next_id, 1);
		f->fd = frame_create(job->dir, f->id);
		if (f->fd >= 0 && mmap(slot(job, i), job->dir->page_len, PROT_READ,
				       MAP_SHARED | MAP_FIXED, f->fd, 0) == MAP_FAILED) {
			job_fail(job, -errno);
			frame_drop(f);
		} else if (f->fd < 0) {
			job_fail(job, f->fd);
			f->fd = -1;
		}
		done = atomic_fetch_add(&job->done, 1) + 1;
		if (report && job->progress && done - reported >= step) {
			reported = done;
			job->progress(done, job->progress_arg);
		}
	}
	if (report)
		job->reported = reported;
	contig_mempolicy_unbind();
}

/* Phase 2: locate the frames of one chunk of slots after another. */
static void locate_frames(struct reserve_job *job)
{
	uint64_t len = job->dir->page_len;
	size_t c;

	while ((c = atomic_fetch_add(&job->next_chunk, 1) * LOCATE_CHUNK) < job->nframes) {
		size_t end = c + LOCATE_CHUNK < job->nframes ? c + LOCATE_CHUNK : job->nframes;
		bool whole = true;

		for (size_t i = c; i < end; i++)
			whole = whole && job->files[i].fd >= 0;
		/* A chunk with holes (slots left PROT_NONE) is mapped frame by frame. */
		if (whole && madvise(slot(job, c), (end - c) * len, MADV_POPULATE_READ) < 0)
			whole = false;
		for (size_t i = c; i < end; i++) {
			struct contig_frame_file *f = &job->files[i];
			int r = 0;

			if (f->fd < 0)
				continue;
			if (!whole && madvise(slot(job, i), len, MADV_POPULATE_READ) < 0)
				r = -errno;
			if (r == 0)
				r = frame_locate(job->dir, job->node, slot(job, i), f);
			if (r < 0) {
				job_fail(job, r);
				frame_drop(f);
			}
		}
	}
}

static void *reserve_worker(void *arg)
{
	reserve_frames(arg, false);
	return NULL;
}

static void *locate_worker(void *arg)
{
	locate_frames(arg);
	return NULL;
}

/* Run @fn on up to @nthreads threads, the caller's one of them. */
static void run_workers(void *(*fn)(void *), void (*own)(struct reserve_job *),
			struct reserve_job *job, unsigned nthreads)
{
	pthread_t tids[64];
	unsigned nstarted = 0;

	for (; nstarted + 1 < nthreads; nstarted++)
		if (pthread_create(&tids[nstarted], NULL, fn, job) != 0)
			break;
	own(job);
	for (unsigned t = 0; t < nstarted; t++)
		pthread_join(tids[t], NULL);
}

static void reserve_own(struct reserve_job *job)
{
	reserve_frames(job, true);
}

static int reserve_many(struct contig_frame_dir *dir, int node, size_t nframes, unsigned nthreads,
			void (*progress)(size_t done, void *arg), void *progress_arg, bool upto,
			struct contig_frame_file *ret_files)
{
	struct reserve_job job = { .dir = dir, .node = node, .nframes = nframes, .files = ret_files,
				   .progress = progress, .progress_arg = progress_arg, .upto = upto };
	uint64_t len = dir->page_len, span = (nframes + 1) * len;
	char *area;
	int error;

	for (size_t i = 0; i < nframes; i++)
		ret_files[i] = (struct contig_frame_file){ .fd = -1 };
	if (!nframes)
		return 0;
	/* Slots aligned to the page size, as a hugetlb mapping must be. */
	area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return -errno;
	job.region = (char *)(((uintptr_t)area + len - 1) & ~(uintptr_t)(len - 1));
	if (nthreads > 64)
		nthreads = 64;
	if (nthreads > nframes)
		nthreads = (unsigned)nframes;
	run_workers(reserve_worker, reserve_own, &job, nthreads);
	if (atomic_load(&job.error) >= 0) {
		unsigned nlocate = (unsigned)((nframes + LOCATE_CHUNK - 1) / LOCATE_CHUNK);

		run_workers(locate_worker, locate_frames, &job,
			    nthreads < nlocate ? nthreads : nlocate);
	}
	munmap(area, span);
	error = atomic_load(&job.error);
	/* The other threads may have reserved the last ones: say all are in. */
	if (progress && !error && job.reported < nframes)
		progress(nframes, progress_arg);
	if (error >= 0)
		keep(dir, ret_files, nframes); /* all in as few datagrams as may be */
	if (error > 0) /* upto: ran out of pages */
		return 0;
	if (error) {
		for (size_t i = 0; i < nframes; i++)
			frame_drop(&ret_files[i]);
		return error;
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
