/* select.c - which candidate frames a pool keeps.
 *
 * DESIGN
 * The kernel's free hugepages on a machine that has run a while are
 * scattered: a pool reserved by taking whatever comes sorts into many short
 * segments. contigd therefore reserves more candidate frames than the pool
 * needs, and keeps the ones that form the longest segments
 * (contig_select_frames()); main.c gives the rest back.
 *
 * Algorithm: sort the candidates by physical address, cut them into runs
 * of adjacent pages, and sort the runs longest first (ties: lower address
 * first, so the choice is deterministic). Take whole runs while they fit;
 * from the first run that does not, take a part of exactly the size still
 * needed, at the offset whose physical address has the most trailing zero
 * bits (for a pool of 2 MiB frames, a 32 MiB part starts on a 32 MiB line
 * whenever the run allows it). Taking longest runs first is optimal for
 * the largest segment and, run by run, for the multiset of segment
 * lengths: no other choice of @nkeep frames has a longer largest segment,
 * and after it a longer second one, and so on. O(n log n).
 */
#include "select.h"

#include <errno.h>
#include <stdlib.h>

struct run {
	size_t first; /* index into the sorted candidates */
	size_t len;   /* frames */
	uint64_t phys;
};

struct cand {
	uint64_t phys;
	size_t index; /* in the caller's array */
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->phys < y->phys ? -1 : x->phys > y->phys;
}

/* Trailing zero bits of @phys (64 for 0). */
static unsigned alignment_of(uint64_t phys)
{
	return phys ? (unsigned)__builtin_ctzll(phys) : 64;
}

/* The offset in @r of a part of @need frames whose start is most aligned. */
static size_t best_offset(const struct run *r, size_t need, uint64_t page_len)
{
	size_t best = 0;
	unsigned best_align = 0;

	for (size_t off = 0; off + need <= r->len; off++) {
		unsigned a = alignment_of(r->phys + off * page_len);

		if (off == 0 || a > best_align) {
			best = off;
			best_align = a;
		}
	}
	return best;
}

int contig_select_frames(const uint64_t *phys, size_t n, uint64_t page_len, size_t nkeep,
			 bool *ret_keep)
{
	struct cand *c;
	struct run *runs;
	size_t nruns = 0, kept = 0;

	for (size_t i = 0; i < n; i++)
		ret_keep[i] = false;
	if (n == 0 || nkeep == 0)
		return 0;
	c = malloc(n * sizeof(*c));
	runs = malloc(n * sizeof(*runs));
	if (!c || !runs) {
		free(c);
		free(runs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		c[i] = (struct cand){ phys[i], i };
	qsort(c, n, sizeof(*c), cmp_cand);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || c[i].phys != c[i - 1].phys + page_len)
			runs[nruns++] = (struct run){ i, 0, c[i].phys };
		runs[nruns - 1].len++;
	}
	qsort(runs, nruns, sizeof(*runs), cmp_run);
	for (size_t r = 0; r < nruns && kept < nkeep; r++) {
		size_t need = nkeep - kept, off = 0, take = runs[r].len;

		if (take > need) {
			off = best_offset(&runs[r], need, page_len);
			take = need;
		}
		for (size_t k = 0; k < take; k++)
			ret_keep[c[runs[r].first + off + k].index] = true;
		kept += take;
	}
	free(c);
	free(runs);
	return (int)kept;
}
