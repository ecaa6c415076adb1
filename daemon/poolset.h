/* poolset.h - the pools built from the configuration: every configured
 * pool (low-window pools included, and those the last instance's sessions
 * still own frames in), the frame set of each page size, and the link to
 * the frame keeper. See poolset.c.
 *
 * Main thread, at startup and after the loop has stopped. Nothing here
 * logs: what the caller should say comes through @say.
 */
#ifndef CONTIG_POOLSET_H
#define CONTIG_POOLSET_H

#include <stdbool.h>

#include "config.h"
#include "restore.h"
#include "state.h"

struct contig_poolset;

/* A message for the log: @level is a syslog priority (the same shape as
 * contig_restore_say_fn, so one callback serves both). */
typedef void contig_poolset_say_fn(int level, const char *message, void *arg);

/* Build the pools of @cfg into @pools (pools->pools, pools->npools, in
 * the order allocation looks at them): with session_grace, open the frame
 * keeper of @instance under @runtime_dir (without, dismiss any an earlier
 * instance left); per page size a frame set, which adopts the frames of
 * @restore (NULL: nothing to restore) that are still valid; then each
 * pool, those without a window first, then the window pools, narrowest
 * first, reserved and sorted. @pools must outlive the set; the rest is
 * used only during the call. Returns 0 and *ret_set, or -errno after
 * saying why (what was built is released: nothing is left in @pools). */
int contig_poolset_build(const struct contig_config *cfg, struct contig_restore *restore,
			 const char *runtime_dir, const char *instance,
			 contig_poolset_say_fn *say, void *arg, struct contig_pools *pools,
			 struct contig_poolset **ret_set);

/* Release @set's pools (in @pools), its frame sets and the keeper link.
 * With @keep, the frames restored sessions own stay with the keeper for
 * the next instance, and so do the hugepages added to the kernel's pool
 * (the journal counts them); without, those hugepages are given back.
 * Accepts NULL. */
void contig_poolset_release(struct contig_poolset *set, struct contig_pools *pools, bool keep);

#endif
