/* frames.h - hugepage frames: one sealed hugetlb memfd per hugepage.
 *
 * The only part of contigd that creates hugepage files and maps them (the
 * kernel's hugepage counts are hugepages.h's, physical addresses
 * pagemap.h's, node placement mempolicy.h's). Functions that take
 * a struct contig_frame_dir may be called from any thread (the loop thread,
 * the startup faulting threads, the recycle thread); they keep no state but
 * the set's id counter (and tell the keeper, which has its own lock).
 * Errors are returned as -errno, with a reason written to @err where the
 * signature has one; nothing here logs. contig_pagemap_init() must have
 * succeeded before the first frame is reserved or scanned.
 */
#ifndef CONTIG_FRAMES_H
#define CONTIG_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct contig_keeper;

/* The frames of one page size of one daemon instance (once a directory of
 * hugetlbfs files, hence the name): their id counter, a lock (flock) that
 * makes the instance the only one, and the keeper they are handed to. */
struct contig_frame_dir;

/* One frame: a sealed hugetlb memfd holding exactly one faulted-in page. */
struct contig_frame_file {
	int fd;        /* O_RDWR; the daemon keeps it, never a mapping */
	uint64_t id;   /* unique in its set over the instance's life (the journal's
			  file id; contigd-frame-<id> in /proc/PID/maps) */
	uint64_t phys; /* physical address of the hugepage */
	bool truncated; /* set by contig_frame_recycle(): its owner had truncated it */
};

/* A frame an earlier instance left with the keeper (contig_frame_dir_scan()). */
struct contig_frame_found {
	struct contig_frame_file file; /* fd open; phys valid if whole */
	int node;                      /* where its page is, -1 if unknown */
	bool whole;                    /* holds exactly one page, located */
};

/* Open the frames of @page_len for the daemon instance @instance: take its
 * lock (<runtime_dir>/<instance>-<kB>kB.lock; a second daemon with the same
 * instance name fails with -EBUSY), and hand every frame reserved to
 * @keeper (NULL: frames that need not outlive this process, such as a
 * search's scratch). Returns 0 and *ret_dir, or -errno with the reason in
 * @err. */
int contig_frame_dir_open(uint64_t page_len, const char *instance, const char *runtime_dir,
			  struct contig_keeper *keeper, struct contig_frame_dir **ret_dir,
			  char *err, size_t errlen);

/* Drop the lock. The frames are their pools' (and the keeper's), which
 * release or keep them; @keep is for symmetry. Accepts NULL. */
void contig_frame_dir_close(struct contig_frame_dir *dir, bool keep);

/* The frames of @dir's page size an earlier instance left with the keeper,
 * each with the physical address and node of its page read again
 * (pagemap.h, mempolicy.h) and whole only if it still holds its one page
 * with our seals. The caller releases (contig_frame_release()) or keeps
 * each. Returns 0 with *ret_found (malloc'd) and *ret_n, or -errno. Main
 * thread, at startup. */
int contig_frame_dir_scan(struct contig_frame_dir *dir, struct contig_frame_found **ret_found,
			  size_t *ret_n);

/* Mounts an older contigd left at <runtime_dir>/<instance>-<kB>kB (frames
 * were files on hugetlbfs then), emptied and detached at open: nothing
 * adopts them. */
unsigned contig_frame_dir_nlegacy(const struct contig_frame_dir *dir);

/* <runtime_dir>/<instance>-<kB>kB, naming the set in messages. */
const char *contig_frame_dir_path(const struct contig_frame_dir *dir);

/* Size of the pages of the frames in @dir. */
uint64_t contig_frame_dir_page_len(const struct contig_frame_dir *dir);

/* Create a frame in @dir (a hugetlb memfd), allocate its hugepage on @node
 * (strict binding: no fallback to another node), seal it, map it just long
 * enough to read its physical address, verify its node, and hand it to the
 * keeper. Returns 0 and fills *ret_file,
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

/* Give the hugepage back to the kernel: truncate the frame to 0 (the
 * kernel unmaps it from every process that still maps it: they get SIGBUS
 * on the next access; a descriptor a client kept can never hold a page
 * again), take it back from the keeper, and close it. fd is set to -1.
 * Any thread. */
void contig_frame_release(struct contig_frame_dir *dir, struct contig_frame_file *file);

/* Close @file's descriptor and leave the frame (and its page) with the
 * keeper, for the next instance. fd is set to -1. */
void contig_frame_close(struct contig_frame_file *file);

/* Release @file (if it still has a descriptor) and reserve a new frame on
 * @node in its place, looking for the page it had (file->phys), which the
 * kernel normally hands back; the caller compares file->phys. With @retry
 * (a frame lost earlier) nothing is waited for. Returns as
 * contig_frame_reserve(); on error the frame is lost (fd -1, phys kept for
 * a retry). The keeper is told either way. Any thread. */
int contig_frame_recycle(struct contig_frame_dir *dir, int node, struct contig_frame_file *file,
			 bool retry);

#endif
