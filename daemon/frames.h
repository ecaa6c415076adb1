/* frames.h - hugepage frames: one hugetlbfs file per hugepage.
 *
 * The only part of contigd that creates hugepage files, maps them, sizes the
 * kernel's hugepage pools and reads /proc/self/pagemap. Functions that take
 * a struct contig_frame_dir may be called from any thread (the loop thread,
 * the startup faulting threads, the recycle thread); they keep no state but
 * the directory's file counter. Errors are returned as -errno, with a reason
 * written to @err where the signature has one; nothing here logs.
 */
#ifndef CONTIG_FRAMES_H
#define CONTIG_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The directory of frame files of one page size, on a hugetlbfs mount of
 * that size, locked (flock) for one daemon instance. */
struct contig_frame_dir;

/* One frame: an open hugetlbfs file holding exactly one faulted-in hugepage. */
struct contig_frame_file {
	int fd;        /* O_RDWR; the daemon keeps it, never a mapping */
	uint64_t id;   /* names the file: <dir>/frame-<id> */
	uint64_t phys; /* physical address of the hugepage */
	uint8_t part;  /* which mount of the directory holds it */
	bool truncated; /* set by contig_frame_recycle(): its owner had truncated it */
};

/* A frame file an earlier instance left (contig_frame_dir_scan()). */
struct contig_frame_found {
	struct contig_frame_file file; /* fd open; phys valid if whole */
	int node;                      /* where its page is, -1 if unknown */
	bool whole;                    /* holds exactly one page, located */
};

/* Check that this process can read physical addresses from
 * /proc/self/pagemap (CAP_SYS_ADMIN) and open it for later reads. Returns 0,
 * or -EPERM / -errno with the reason and the fix in @err. Call once, first. */
int contig_frames_init(char *err, size_t errlen);
void contig_frames_done(void);

/* Physical address of the mapped byte at @virt (which must be faulted in),
 * or -errno. Thread-safe. */
int contig_frames_virt_to_phys(const void *virt, uint64_t *ret_phys);

/* Page sizes the kernel offers for hugetlbfs, ascending (libhugetlbfs).
 * Returns how many were stored in @ret_lens (at most @max). */
int contig_frames_page_sizes(uint64_t *ret_lens, int max);

/* Open the frame directory of @page_len for the daemon instance @instance:
 * a private hugetlbfs mount at <runtime_dir>/<instance>-<kB>kB, limited to
 * @limit_len bytes (the pools of that page size), so that no client can
 * grow a frame file into hugepages outside the pools. Takes an exclusive
 * lock (<path>.lock): a second daemon with the same instance name fails
 * with -EBUSY. Mounts left by a dead instance are, without @keep, emptied
 * (giving their hugepages back) and replaced; with @keep, kept with their
 * files (see contig_frame_dir_scan()), and a further mount is added if
 * they hold fewer than @limit_len bytes. @stored[0..CONTIG_FRAME_DIR_MAX_PARTS)
 * are the roots of such mounts that a service manager kept for us (-1:
 * none; the mount then is looked for by path): they are taken over with
 * @keep, else emptied; either way consumed (set to -1). Returns 0 and
 * *ret_dir, or -errno with the reason in @err. */
int contig_frame_dir_open(uint64_t page_len, uint64_t limit_len, const char *instance,
			  const char *runtime_dir, bool keep, int *stored,
			  struct contig_frame_dir **ret_dir, char *err, size_t errlen);

#define CONTIG_FRAME_DIR_MAX_PARTS 8

/* Make @dir hold at least @nslots pages in all, adding a mount (part) for
 * the difference: for pools whose size is known only after the directory
 * was opened (window pools). Returns 0, or -errno with the reason in @err
 * (-ENOSPC: CONTIG_FRAME_DIR_MAX_PARTS mounts already). */
int contig_frame_dir_grow(struct contig_frame_dir *dir, uint64_t nslots, char *err,
			  size_t errlen);

/* Release every frame file under @rootfd (the root of a kept mount no
 * directory took over) and close it. */
void contig_frame_mount_release(int rootfd);

/* The mounts of @dir: how many, and the root of each (for a service
 * manager to keep across restarts; the directory still owns it). */
unsigned contig_frame_dir_nparts(const struct contig_frame_dir *dir);
int contig_frame_dir_part_fd(const struct contig_frame_dir *dir, unsigned i);

/* Without @keep: release every frame file left (ballast included), detach
 * the mounts (clients may still hold empty frame files open). With @keep:
 * leave files and mounts for the next instance (only descriptors close).
 * Drops the lock either way. Accepts NULL. */
void contig_frame_dir_close(struct contig_frame_dir *dir, bool keep);

/* Pages the directory's mounts hold together. */
uint64_t contig_frame_dir_nslots(const struct contig_frame_dir *dir);

/* Every frame file in the mounts kept from an earlier instance, opened,
 * with the physical address and node of its page read again (pagemap,
 * get_mempolicy). The caller releases (contig_frame_release()) or keeps
 * each file. Returns 0 with *ret_found (malloc'd) and *ret_n, or -errno.
 * Main thread, at startup. */
int contig_frame_dir_scan(struct contig_frame_dir *dir, struct contig_frame_found **ret_found,
			  size_t *ret_n);

/* Fill every mount's spare room with ballast frames on @node (held until
 * the directory closes, never served). Returns 0 or -errno. Main thread. */
int contig_frame_dir_fill(struct contig_frame_dir *dir, int node);
size_t contig_frame_dir_nballast(const struct contig_frame_dir *dir);

/* Path of the directory, for messages. */
const char *contig_frame_dir_path(const struct contig_frame_dir *dir);

/* Size of the pages of the frames in @dir. */
uint64_t contig_frame_dir_page_len(const struct contig_frame_dir *dir);

/* Make at least @nframes hugepages of @page_len free on @node, raising that
 * node's nr_hugepages when we may. *ret_added tells how many pages were
 * added to the kernel's pool (to give back with contig_hugepages_shrink()).
 * Returns 0, -ENOMEM (the kernel could not provide them) or -EACCES (we may
 * not ask), with the reason and the exact fix in @err. */
int contig_hugepages_ensure(int node, uint64_t page_len, uint64_t nframes, uint64_t *ret_added,
			    char *err, size_t errlen);

/* Best effort: raise @node's nr_hugepages so that up to @want pages of
 * @page_len are free, as far as the kernel can. *ret_added: pages added to
 * the kernel's pool (give them back with contig_hugepages_shrink());
 * *ret_free: free pages now. Returns 0 (also when the kernel could add
 * fewer, or none), -EACCES/-EPERM/-EROFS (we may not write the count:
 * nothing added), or -errno if the counts cannot be read. */
int contig_hugepages_grow(int node, uint64_t page_len, uint64_t want, uint64_t *ret_added,
			  uint64_t *ret_free);

/* Ask the kernel to compact @node's memory (its sysfs "compact", else
 * /proc/sys/vm/compact_memory: all nodes), so that more free hugepages
 * can be made, and more of them adjacent. Synchronous. Returns 0 or
 * -errno (-EACCES: not root). */
int contig_memory_compact(int node);

/* Lower @node's nr_hugepages by @npages (pages this process added). */
int contig_hugepages_shrink(int node, uint64_t page_len, uint64_t npages);

/* Create a frame file in @dir, allocate its hugepage on @node (strict
 * binding: no fallback to another node), map it just long enough to read
 * its physical address, and verify its node. Returns 0 and fills *ret_file,
 * -ENOSPC if no hugepage is free on @node, -EXDEV if the page landed on
 * another node, or -errno. Any thread. */
int contig_frame_reserve(struct contig_frame_dir *dir, int node, struct contig_frame_file *ret_file);

/* Reserve @nframes frames on @node using up to @nthreads threads (the
 * kernel zeroes each new hugepage, which is what takes the time). If
 * @progress is not NULL, the calling thread calls it with the number of
 * frames reserved so far, about every sixteenth of them.
 * Returns 0 with @ret_files filled, or the first error (every frame already
 * reserved is then released). */
int contig_frame_reserve_many(struct contig_frame_dir *dir, int node, size_t nframes,
			      unsigned nthreads, void (*progress)(size_t done, void *arg),
			      void *progress_arg, struct contig_frame_file *ret_files);

/* Like contig_frame_reserve_many(), but best effort: reserves frames
 * until @max are in or no hugepage is free (-ENOSPC is no error). Returns
 * 0 with the frames in @ret_files[0..*ret_n), or -errno (nothing kept). */
int contig_frame_reserve_upto(struct contig_frame_dir *dir, int node, size_t max, unsigned nthreads,
			      struct contig_frame_file *ret_files, size_t *ret_n);

/* Give the hugepage back to the kernel: truncate the file to 0 (the kernel
 * unmaps it from every process that still maps it: they get SIGBUS on the
 * next access), unlink it and close it. fd is set to -1. Any thread. */
void contig_frame_release(struct contig_frame_dir *dir, struct contig_frame_file *file);

/* Close @file's descriptor and leave the file (and its page) for the next
 * instance. fd is set to -1. */
void contig_frame_close(struct contig_frame_file *file);

/* Release @file and reserve a new one on @node in its place (normally the
 * same physical page; the caller compares file->phys). Returns as
 * contig_frame_reserve(); on error the frame is lost (fd -1). Any thread. */
int contig_frame_recycle(struct contig_frame_dir *dir, int node, struct contig_frame_file *file);

#endif
