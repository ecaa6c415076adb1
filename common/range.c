/* range.c - constrained allocator over sets of free physical ranges.
 *
 * DESIGN
 * A set is a B+tree of its free ranges ordered by address (rangeint.h):
 * leaves hold up to 16 ranges each in sorted arrays, inner nodes up to 16
 * children, each with a summary of the child's subtree (its lowest
 * address, its longest range, and how aligned a buffer its ranges can
 * hold: fit, the most aligned address in any range and the largest
 * naturally aligned block inside any range, as log2). A set serves one
 * pool's free frames or one session's free pages, and with many live
 * buffers it holds about one range per buffer (the gaps between them), so
 * every operation must cost O(log n), never O(n).
 *
 * Why a B-tree: with 100 000 live buffers (27 000 ranges) the AVL tree
 * this replaces was 15 levels of 48-byte nodes, 1.3 MiB, larger than L2:
 * a cycle (find, take, give) visited 80 nodes against 15 with 10 live
 * buffers, and missed L1 64 times. A node of 16 entries holds the keys,
 * lengths and fits in parallel arrays (a few cache lines each, scanned
 * without pointer chasing), so 27 000 ranges take 5 levels, and the
 * levels above the leaves, about 120 KiB, stay in L2. What that bought,
 * and why the cost still grows with the height (each level's key count
 * and the walk back up that first fit's maxima need): bench/README.md.
 * Size-segregated free lists (TLSF) would not do: find promises the
 * lowest address that fits, in a window, which needs the ranges in
 * address order.
 *
 *   descent      in each node, the count of keys <= the address (a linear,
 *                branch-free scan of at most 16 keys) picks the child; in
 *                the leaf it is the index of the range after the one that
 *                starts at or below the address. An inner node's keys are
 *                exact: each is its child's lowest address, so the range
 *                after the leaf's last starts at the key after the path's
 *                deepest non-last entry. O(height * 16).
 *   take, give   one descent, then the change in the leaf: shrink, grow or
 *                move a range in place (front and back trims, a merge with
 *                one neighbour), insert one range (a split in the middle,
 *                a range touching no neighbour), or delete one (a range
 *                taken whole, the merge of both neighbours). Then the path
 *                is brought up to date bottom up, each node's summary into
 *                its parent's entry, and only as far as a summary changes:
 *                from the old and new value of the one entry that changed
 *                (path_change: a node is scanned again only for a maximum
 *                that entry held and lost), or, above a split or a merge,
 *                from the whole node (path_update). An insert into a full node splits it
 *                (8 and 9 entries) and inserts the new half into the
 *                parent, up to a new root; a delete that leaves a non-root
 *                node below 6 entries merges it with a sibling (when the
 *                two fit in one node) or shares the two evenly, and a
 *                merge deletes one entry from the parent, up to the root,
 *                which goes when it has one child left. A give that merges
 *                with a neighbour heading the next leaf finds it with a
 *                second descent. O(height * 16), and malloc() only when
 *                a split needs more nodes than the spares (below).
 *   is_free      one descent. O(height * 16).
 *   largest      the largest len among the root's entries. O(16).
 *   find         first fit by address: a walk over the tree in address
 *                order that skips what cannot hold the buffer. An entry
 *                (a child's subtree or a range) is skipped when its len is
 *                too short, when none of its ranges holds a multiple of
 *                align, or an aligned block of min(align,
 *                2^floor(log2(len))) bytes, which the buffer starts with;
 *                when it ends too low (the next key, or the range's last
 *                byte, says so); the walk stops at the first entry that
 *                starts above @highest. Each range met that passes is
 *                tried (the formula below); the first that holds the
 *                buffer is the answer. Each node's scan starts at the
 *                entry holding the floor (below). The walk recurses into
 *                children, so its stack is the tree's height.
 *
 * In one free range the lowest start >= from = max(range.phys, floor)
 * that satisfies align and boundary is
 *	s = round_up(from, align);
 *	if [s, s + len) crosses a multiple of boundary:
 *		s = round_up(s, max(align, boundary));
 * because a start inside the same boundary block at or above s crosses too,
 * and the next block's first byte is aligned to both and holds len bytes
 * (boundary >= len). That start only grows with @from: once it ends above
 * @highest (or overflows) no later range can do better and the walk stops;
 * and when it ends past its range (align or boundary pushed it there), no
 * later range can hold a buffer that starts below it. So the walk keeps a
 * floor, first @lowest, raised to s by each range that fails, and "ends
 * too low" means "ends before floor + len - 1": after a failure, the
 * entries that end below the next possible start are passed over by
 * their keys, a whole subtree per entry. A range tried fails only when the
 * floor cuts it (the range that straddles @lowest), when its aligned
 * start comes too close to its end, or when a boundary pushes the start
 * past its end; so find costs O(height * 16), plus at most that per such
 * failure. The fit keeps those few: with 2 MiB alignment over 4 KiB
 * fragments, the walk enters only subtrees that hold a 2 MiB-aligned
 * address, and each failure moves the floor to the next such address.
 *
 * Memory: a node is 424 bytes on LP64 (16 keys, lengths and child
 * pointers, 2 x 16 fits, two counts), allocated cache-line aligned as 448
 * (7 lines); every node but the root holds at least 6 entries, so n
 * ranges take at most n / 6 leaves and n / 30 inner nodes in all: at most
 * about 90 bytes per range, plus the root (bench_range: 50 bytes per
 * range at 27 000 ranges, 14 per live buffer). Nodes come from
 * aligned_alloc() one at a time; a node that leaves the tree goes to a
 * spare list of at most 8 (3.5 KiB), and the rest back to free(), so a
 * set holds what its current size needs, not its largest. Before an
 * insert, as many spares as the full nodes on the path need are made
 * ready, so that a split never fails half way. Nothing points into struct
 * contig_range_set, so the
 * daemon may move a set by value.
 *
 * Invariants: rangeint.h, beside the structures they are about
 * (rangecheck.c checks them). Any arithmetic that would pass 2^64 means
 * "does not fit", never a wrap.
 *
 * Errors: every check (-EINVAL, -ENOENT, -EEXIST, -EOVERFLOW) and the
 * allocations a call may need (-ENOMEM) come before the first change, so
 * a call that fails leaves the set's ranges as they were. Beyond range.h:
 * take and give return -EINVAL for a range that is empty or passes 2^64
 * (is_free says false for one), and give returns -EOVERFLOW rather than
 * complete a set of all 2^64 addresses, whose length and free_len would
 * not fit in a uint64_t.
 *
 * No syscalls, no libuv, no globals. A set belongs to one thread.
 */
#include "range.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rangeint.h"


/* What a node takes: its size rounded up to whole cache lines. */
#define NODE_BYTES ((sizeof(struct contig_range_node) + 63) / 64 * 64)

_Static_assert(NODE_MAX % 4 == 0, "count_le() and node_len() take 4 slots at a time");
_Static_assert(sizeof(void *) != 8 || sizeof(struct contig_range_node) == 424,
	       "a node is 424 bytes on LP64");

/* What an entry says: of a range, or of a child's subtree. */
struct summary {
	uint64_t key;
	uint64_t len;
	unsigned char fit[NFITS];
};

/* No entry: what path_change() is told an entry that came was before, or
 * one that went is after. No real entry has len 0. */
static const struct summary NONE = { 0, 0, { 0, 0 } };

/* The nodes a descent passed: node[0] is the root, node[depth - 1] a
 * leaf; idx[i] is the entry of node[i] the descent took (in the leaf: the
 * number of its ranges starting at or below the address). */
struct path {
	struct contig_range_node *node[MAX_DEPTH];
	int idx[MAX_DEPTH];
	int depth;
};

static bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* ---------------------------------------------------------------------- */
/* Nodes and entries */

/* Keep the unused slots of @n at key UINT64_MAX, len 0 and fits 0, so
 * that count_le() and the scans of node_summary() need not read n. */
static void slots_clear(struct contig_range_node *n)
{
	int i;

	for (i = n->n; i < NODE_MAX; i++) {
		n->key[i] = UINT64_MAX;
		n->len[i] = 0;
		n->fit[FIT_ADDR][i] = 0;
		n->fit[FIT_BLOCK][i] = 0;
	}
}

/* A node from the spares (spares_ready() made sure there is one). */
static struct contig_range_node *node_take(struct contig_range_set *set)
{
	struct contig_range_node *n = set->spare;

	assert(n);
	set->spare = n->child[0];
	set->nspare--;
	n->n = 0;
	n->level = 0;
	slots_clear(n);
	return n;
}

static void node_put(struct contig_range_set *set, struct contig_range_node *n)
{
	if (set->nspare >= SPARE_MAX) {
		free(n);
		set->nnodes--;
		return;
	}
	n->child[0] = set->spare;
	set->spare = n;
	set->nspare++;
}

/* Have at least @need spare nodes; -ENOMEM (and no change to the ranges)
 * if malloc() cannot give them. */
static int spares_ready(struct contig_range_set *set, size_t need)
{
	while (set->nspare < need) {
		/* Cache-line aligned: each array starts a line. */
		struct contig_range_node *n = aligned_alloc(64, NODE_BYTES);

		if (!n)
			return -ENOMEM;
		set->nnodes++;
		n->child[0] = set->spare;
		set->spare = n;
		set->nspare++;
	}
	return 0;
}

/* Number of keys of @n at or below @x: the keys are sorted, so it is the
 * index of the first key above @x. Branch-free over all 16 slots, whose
 * unused keys are UINT64_MAX, so that the scan need not wait for n (the
 * clamp is for @x == UINT64_MAX), in four independent counts. */
static int count_le(const struct contig_range_node *n, uint64_t x)
{
	const uint64_t *k = n->key;
	int i, c[4] = { 0, 0, 0, 0 };

	for (i = 0; i < NODE_MAX; i += 4) {
		c[0] += k[i] <= x;
		c[1] += k[i + 1] <= x;
		c[2] += k[i + 2] <= x;
		c[3] += k[i + 3] <= x;
	}
	i = c[0] + c[1] + c[2] + c[3];
	return i < n->n ? i : n->n;
}

/* The longest len of @n's entries: over all 16 slots, branch-free (the
 * unused ones say 0). */
static uint64_t node_len(const struct contig_range_node *n)
{
	uint64_t m[4] = { 0, 0, 0, 0 };
	int i, j;

	/* Four independent maxima, not one chain of 16. */
	for (i = 0; i < NODE_MAX; i += 4)
		for (j = 0; j < 4; j++)
			m[j] = n->len[i + j] > m[j] ? n->len[i + j] : m[j];
	m[0] = m[1] > m[0] ? m[1] : m[0];
	m[2] = m[3] > m[2] ? m[3] : m[2];
	return m[2] > m[0] ? m[2] : m[0];
}

/* The largest fit @f of @n's entries, as node_len(). */
static unsigned char node_fit(const struct contig_range_node *n, int f)
{
	unsigned char m = 0;
	int i;

	for (i = 0; i < NODE_MAX; i++)
		m = n->fit[f][i] > m ? n->fit[f][i] : m;
	return m;
}

static void node_summary(const struct contig_range_node *n, struct summary *ret_sum)
{
	ret_sum->key = n->key[0];
	ret_sum->len = node_len(n);
	ret_sum->fit[FIT_ADDR] = node_fit(n, FIT_ADDR);
	ret_sum->fit[FIT_BLOCK] = node_fit(n, FIT_BLOCK);
}

static void range_summary(uint64_t phys, uint64_t len, struct summary *ret_sum)
{
	ret_sum->key = phys;
	ret_sum->len = len;
	range_fit(phys, len, ret_sum->fit);
}

static void entry_set(struct contig_range_node *n, int i, const struct summary *s)
{
	n->key[i] = s->key;
	n->len[i] = s->len;
	n->fit[FIT_ADDR][i] = s->fit[FIT_ADDR];
	n->fit[FIT_BLOCK][i] = s->fit[FIT_BLOCK];
}

static bool entry_is(const struct contig_range_node *n, int i, const struct summary *s)
{
	return n->key[i] == s->key && n->len[i] == s->len &&
	       n->fit[FIT_ADDR][i] == s->fit[FIT_ADDR] && n->fit[FIT_BLOCK][i] == s->fit[FIT_BLOCK];
}

/* Copy @cnt entries of @src from @si to @dst at @di (the same node too). */
static void entries_move(struct contig_range_node *dst, int di, const struct contig_range_node *src,
			 int si, int cnt)
{
	size_t k = (size_t)cnt;

	if (cnt <= 0)
		return;
	memmove(&dst->key[di], &src->key[si], k * sizeof(dst->key[0]));
	memmove(&dst->len[di], &src->len[si], k * sizeof(dst->len[0]));
	memmove(&dst->fit[FIT_ADDR][di], &src->fit[FIT_ADDR][si], k);
	memmove(&dst->fit[FIT_BLOCK][di], &src->fit[FIT_BLOCK][si], k);
	if (src->level > 0)
		memmove(&dst->child[di], &src->child[si], k * sizeof(dst->child[0]));
}

static void entry_insert(struct contig_range_node *n, int pos, const struct summary *s,
			 struct contig_range_node *child)
{
	entries_move(n, pos + 1, n, pos, n->n - pos);
	entry_set(n, pos, s);
	n->child[pos] = child;
	n->n++;
}

static void entry_delete(struct contig_range_node *n, int pos)
{
	entries_move(n, pos, n, pos + 1, n->n - pos - 1);
	n->n--;
	n->key[n->n] = UINT64_MAX;
	n->len[n->n] = 0;
	n->fit[FIT_ADDR][n->n] = 0;
	n->fit[FIT_BLOCK][n->n] = 0;
}

/* ---------------------------------------------------------------------- */
/* Paths */

/* Descend towards @x from the root (which must exist), recording the path
 * in @p; returns the number of the leaf's ranges starting at or below @x
 * (also p->idx[p->depth - 1]). Each child taken is the last whose key is
 * at or below @x, or the first when none is. */
static int path_search(const struct contig_range_set *set, uint64_t x, struct path *p)
{
	struct contig_range_node *n = set->root;
	int d, c;

	for (d = 0;; d++) {
		assert(d < MAX_DEPTH);
		c = count_le(n, x);
		p->node[d] = n;
		if (n->level == 0) {
			p->idx[d] = c;
			p->depth = d + 1;
			return c;
		}
		p->idx[d] = c ? c - 1 : 0;
		n = n->child[p->idx[d]];
	}
}

/* The first byte of the range after the leaf of @p's last one, if any. */
static bool path_next_key(const struct path *p, uint64_t *ret_key)
{
	int d;

	for (d = p->depth - 2; d >= 0; d--) {
		if (p->idx[d] + 1 < p->node[d]->n) {
			*ret_key = p->node[d]->key[p->idx[d] + 1];
			return true;
		}
	}
	return false;
}

/* The node at depth @d of @p changed: bring its parent's entry for it, and
 * so on up, up to date, as far as a summary changes. */
static void path_update(struct path *p, int d)
{
	struct summary s;

	for (; d > 0; d--) {
		struct contig_range_node *parent = p->node[d - 1];
		int k = p->idx[d - 1];

		node_summary(p->node[d], &s);
		if (entry_is(parent, k, &s))
			return;
		entry_set(parent, k, &s);
	}
}

/* What entry @i of @n says. */
static void entry_get(const struct contig_range_node *n, int i, struct summary *ret_sum)
{
	ret_sum->key = n->key[i];
	ret_sum->len = n->len[i];
	ret_sum->fit[FIT_ADDR] = n->fit[FIT_ADDR][i];
	ret_sum->fit[FIT_BLOCK] = n->fit[FIT_BLOCK][i];
}

/* One entry of the node at depth @d of @p went from @was to @now (for an
 * entry that came or went, the other is NONE): as path_update(), but each
 * parent's entry is worked out from the old and new value of the one
 * entry below it that changed, and a node is scanned again only where
 * that entry held a maximum that it no longer does. */
static void path_change(struct path *p, int d, struct summary was, struct summary now)
{
	for (; d > 0; d--) {
		const struct contig_range_node *n = p->node[d];
		struct contig_range_node *parent = p->node[d - 1];
		int k = p->idx[d - 1], f;
		struct summary cur;

		/* The parent's entry said n's old maxima: raised by the new
		 * value, or scanned again (that one maximum only) where the
		 * old value held it and the new one is lower. */
		entry_get(parent, k, &cur);
		if (now.len >= cur.len)
			cur.len = now.len;
		else if (was.len == cur.len)
			cur.len = node_len(n);
		for (f = 0; f < NFITS; f++) {
			if (now.fit[f] >= cur.fit[f])
				cur.fit[f] = now.fit[f];
			else if (was.fit[f] == cur.fit[f])
				cur.fit[f] = node_fit(n, f);
		}
		cur.key = n->key[0];
		if (entry_is(parent, k, &cur))
			return;
		entry_get(parent, k, &was);
		entry_set(parent, k, &cur);
		now = cur;
	}
}

/* Make entry @i of the leaf of @p the range [phys, phys + len), in place. */
static void leaf_change(struct path *p, int i, uint64_t phys, uint64_t len)
{
	struct contig_range_node *leaf = p->node[p->depth - 1];
	struct summary was, now;

	entry_get(leaf, i, &was);
	range_summary(phys, len, &now);
	entry_set(leaf, i, &now);
	path_change(p, p->depth - 1, was, now);
}

/* Spare nodes an insert into the leaf of @p may need: one per full node
 * from the leaf up, and a new root if the root is full too. */
static size_t path_spares(const struct path *p)
{
	size_t need = 0;
	int d;

	for (d = p->depth - 1; d >= 0 && p->node[d]->n == NODE_MAX; d--)
		need++;
	return d < 0 ? need + 1 : need;
}

/* Put the entry @s (with @child in an inner node) at @pos of the node at
 * depth @d of @p, splitting full nodes on the way up. The spares are
 * ready (path_spares). */
static void path_insert(struct contig_range_set *set, struct path *p, int d, int pos,
			const struct summary *s, struct contig_range_node *child)
{
	struct contig_range_node *n = p->node[d], *r, *root;
	struct summary sn, sr;
	int keep = (NODE_MAX + 2) / 2; /* entries left in n: 9, r gets 8 */

	if (n->n < NODE_MAX) {
		entry_insert(n, pos, s, child);
		/* Below a split two entries changed: scan. */
		if (child)
			path_update(p, d);
		else
			path_change(p, d, NONE, *s);
		return;
	}
	r = node_take(set);
	r->level = n->level;
	if (pos < keep) {
		entries_move(r, 0, n, keep - 1, NODE_MAX - (keep - 1));
		r->n = (unsigned char)(NODE_MAX - (keep - 1));
		n->n = (unsigned char)(keep - 1);
		entry_insert(n, pos, s, child);
	} else {
		entries_move(r, 0, n, keep, NODE_MAX - keep);
		r->n = (unsigned char)(NODE_MAX - keep);
		n->n = (unsigned char)keep;
		entry_insert(r, pos - keep, s, child);
	}
	slots_clear(n);
	node_summary(n, &sn);
	node_summary(r, &sr);
	if (d == 0) {
		root = node_take(set);
		root->level = (unsigned char)(n->level + 1);
		entry_insert(root, 0, &sn, n);
		entry_insert(root, 1, &sr, r);
		set->root = root;
		return;
	}
	entry_set(p->node[d - 1], p->idx[d - 1], &sn);
	path_insert(set, p, d - 1, p->idx[d - 1] + 1, &sr, r);
}

/* Move entries between siblings @a and @b (a before b) until they hold
 * half of them each (a the odd one). */
static void share(struct contig_range_node *a, struct contig_range_node *b)
{
	int total = a->n + b->n, want = (total + 1) / 2, k;

	if (a->n > want) {
		k = a->n - want;
		entries_move(b, k, b, 0, b->n);
		entries_move(b, 0, a, want, k);
	} else {
		k = want - a->n;
		entries_move(a, a->n, b, 0, k);
		entries_move(b, 0, b, k, b->n - k);
	}
	a->n = (unsigned char)want;
	b->n = (unsigned char)(total - want);
	slots_clear(a);
	slots_clear(b);
}

/* Delete the entry at @pos of the node at depth @d of @p (its child, if
 * any, is gone already), merging or sharing a node left too small. */
static void path_delete(struct contig_range_set *set, struct path *p, int d, int pos)
{
	struct contig_range_node *n = p->node[d], *parent, *a, *b;
	struct summary s, gone;
	int k, ka;

	entry_get(n, pos, &gone);
	entry_delete(n, pos);
	if (d == 0) {
		if (n->n == 0) {
			set->root = NULL;
			node_put(set, n);
		} else if (n->level > 0 && n->n == 1) {
			set->root = n->child[0];
			node_put(set, n);
		}
		return;
	}
	if (n->n >= NODE_MIN) {
		/* Below a merge two entries changed: scan. */
		if (n->level > 0)
			path_update(p, d);
		else
			path_change(p, d, gone, NONE);
		return;
	}
	parent = p->node[d - 1];
	k = p->idx[d - 1];
	ka = k + 1 < parent->n ? k : k - 1; /* a, b: n and a sibling, in order */
	a = parent->child[ka];
	b = parent->child[ka + 1];
	if (a->n + b->n <= NODE_MAX) {
		entries_move(a, a->n, b, 0, b->n);
		a->n = (unsigned char)(a->n + b->n);
		node_summary(a, &s);
		entry_set(parent, ka, &s);
		node_put(set, b);
		path_delete(set, p, d - 1, ka + 1);
		return;
	}
	share(a, b);
	node_summary(a, &s);
	entry_set(parent, ka, &s);
	node_summary(b, &s);
	entry_set(parent, ka + 1, &s);
	path_update(p, d - 1);
}

/* ---------------------------------------------------------------------- */
/* The set */

void contig_range_set_init(struct contig_range_set *set)
{
	set->root = NULL;
	set->spare = NULL;
	set->nranges = 0;
	set->nnodes = 0;
	set->nspare = 0;
	set->free_len = 0;
}

static void node_free_all(struct contig_range_node *n)
{
	int i;

	if (n->level > 0)
		for (i = 0; i < n->n; i++)
			node_free_all(n->child[i]);
	free(n);
}

void contig_range_set_done(struct contig_range_set *set)
{
	struct contig_range_node *n, *next;

	if (!set)
		return;
	if (set->root)
		node_free_all(set->root);
	for (n = set->spare; n; n = next) {
		next = n->child[0];
		free(n);
	}
	contig_range_set_init(set);
}

size_t contig_range_set_bytes(const struct contig_range_set *set)
{
	return set->nnodes * NODE_BYTES;
}

int contig_range_req_check(const struct contig_range_req *req, const char **ret_field)
{
	const char *field = NULL;
	uint64_t last;

	if (req->len == 0)
		field = "len";
	else if (!is_pow2(req->align))
		field = "align";
	else if (!last_byte(req->lowest, req->len, &last))
		field = "lowest"; /* no buffer of this length starts at or above it */
	else if (req->highest < req->lowest)
		field = "highest";
	else if (req->boundary != 0 && (!is_pow2(req->boundary) || req->boundary < req->len))
		field = "boundary";
	if (!field)
		return 0;
	if (ret_field)
		*ret_field = field;
	return -EINVAL;
}

/* The lowest start >= @from that is aligned and does not cross a boundary,
 * with its last byte; false if that passes 2^64. */
static bool first_start(const struct contig_range_req *req, uint64_t from, uint64_t *ret_phys,
			uint64_t *ret_last)
{
	uint64_t phys, last;

	if (!round_up(from, req->align, &phys) || !last_byte(phys, req->len, &last))
		return false;
	if (req->boundary != 0 && phys / req->boundary != last / req->boundary) {
		uint64_t step = req->align > req->boundary ? req->align : req->boundary;

		if (!round_up(phys, step, &phys) || !last_byte(phys, req->len, &last))
			return false;
	}
	*ret_phys = phys;
	*ret_last = last;
	return true;
}

enum fit {
	FIT_NONE,  /* not here: go on in address order */
	FIT_FOUND, /* *ret_phys is the answer */
	FIT_PAST,  /* not here nor anywhere above: stop */
};

/* A first-fit walk. @floor starts at req->lowest and rises to the start
 * each failed range computed, below which no later range can fit. */
struct walk {
	const struct contig_range_req *req;
	uint64_t floor;
	unsigned char need[NFITS]; /* the least fit a range holding it has */
};

/* Could something ending at @last (or below) still hold the buffer? */
static bool reaches_floor(uint64_t last, const struct walk *w)
{
	return last >= w->floor && last - w->floor >= w->req->len - 1;
}

/* Try the range [phys, last], which reaches the floor, is long enough and
 * starts at or below @highest. */
static enum fit fit_range(uint64_t phys, uint64_t last, struct walk *w, uint64_t *ret_phys)
{
	uint64_t from = phys > w->floor ? phys : w->floor;
	uint64_t start, end;

	/* Starts only grow from here on: past @highest is past for good. */
	if (!first_start(w->req, from, &start, &end) || end > w->req->highest)
		return FIT_PAST;
	if (end > last) {
		/* Align or boundary pushed the start too far: every later
		 * start is at or above this one. */
		w->floor = start;
		return FIT_NONE;
	}
	*ret_phys = start;
	return FIT_FOUND;
}

/* First fit in the subtree at @n, whose ranges end at or below @last, in
 * address order. Recurses once per level. */
static enum fit find_in(const struct contig_range_node *n, uint64_t last, struct walk *w,
			uint64_t *ret_phys)
{
	int i = 0;
	enum fit fit;

	/* Entries before the one holding the floor end below it. */
	if (w->floor > n->key[0])
		i = count_le(n, w->floor) - 1;
	for (; i < n->n; i++) {
		uint64_t end;

		if (n->len[i] < w->req->len || n->fit[FIT_ADDR][i] < w->need[FIT_ADDR] ||
		    n->fit[FIT_BLOCK][i] < w->need[FIT_BLOCK])
			continue;
		if (n->key[i] > w->req->highest)
			return FIT_PAST; /* this one and all after start too high */
		if (n->level == 0)
			end = entry_last(n, i);
		else
			end = i + 1 < n->n ? n->key[i + 1] - 1 : last;
		if (!reaches_floor(end, w))
			continue;
		if (n->level == 0)
			fit = fit_range(n->key[i], end, w, ret_phys);
		else
			fit = find_in(n->child[i], end, w, ret_phys);
		if (fit != FIT_NONE)
			return fit;
	}
	return FIT_NONE;
}

int contig_range_find(const struct contig_range_set *set, const struct contig_range_req *req,
		      uint64_t *ret_phys)
{
	int align = log2_floor(req->align), len = log2_floor(req->len);
	struct walk w = { req, req->lowest, { 0 } };

	assert(contig_range_req_check(req, NULL) == 0);
	if (!set->root)
		return -ENOSPC;
	/* Its start is a multiple of 2^align, and so is the block of
	 * 2^min(align, len) bytes that the buffer starts with. */
	w.need[FIT_ADDR] = (unsigned char)align;
	w.need[FIT_BLOCK] = (unsigned char)(align < len ? align : len);
	return find_in(set->root, UINT64_MAX, &w, ret_phys) == FIT_FOUND ? 0 : -ENOSPC;
}

int contig_range_take(struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	struct contig_range_node *leaf;
	uint64_t last, r_phys, r_last;
	struct summary s;
	struct path p;
	int c, d, r, err;

	if (!last_byte(phys, len, &last))
		return -EINVAL;
	if (!set->root)
		return -ENOENT;
	c = path_search(set, phys, &p);
	d = p.depth - 1;
	leaf = p.node[d];
	/* The range holding phys, if any, is the last starting at or below
	 * it, and it is in this leaf: only a phys below every range gives
	 * c == 0. */
	if (c == 0)
		return -ENOENT;
	r = c - 1;
	r_phys = leaf->key[r];
	r_last = entry_last(leaf, r);
	if (r_last < last)
		return -ENOENT;

	if (r_phys == phys && r_last == last) {
		path_delete(set, &p, d, r);
		set->nranges--;
	} else if (r_phys == phys) {
		leaf_change(&p, r, last + 1, r_last - last);
	} else if (r_last == last) {
		leaf_change(&p, r, r_phys, phys - r_phys);
	} else {
		/* The split may need nodes; get them before touching anything. */
		err = spares_ready(set, path_spares(&p));
		if (err < 0)
			return err;
		leaf_change(&p, r, r_phys, phys - r_phys);
		range_summary(last + 1, r_last - last, &s);
		path_insert(set, &p, d, r + 1, &s, NULL);
		set->nranges++;
	}
	set->free_len -= len;
	return 0;
}

/* Give [phys, last] when it touches the range that opens the next leaf,
 * at @next, and, if @join_left, the last range of the leaf of @p. */
static void give_across(struct contig_range_set *set, struct path *p, uint64_t phys,
			uint64_t last, uint64_t next, bool join_left)
{
	struct contig_range_node *leaf;
	struct path q;
	uint64_t next_len;
	int c;

	path_search(set, next, &q);
	leaf = q.node[q.depth - 1];
	next_len = leaf->len[0];
	if (!join_left) {
		leaf_change(&q, 0, phys, next_len + (last - phys + 1));
		return;
	}
	/* The delete may reshape the tree: descend again afterwards. */
	path_delete(set, &q, q.depth - 1, 0);
	set->nranges--;
	c = path_search(set, phys, p);
	leaf = p->node[p->depth - 1];
	leaf_change(p, c - 1, leaf->key[c - 1], leaf->len[c - 1] + (last - phys + 1) + next_len);
}

int contig_range_give(struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	struct contig_range_node *leaf;
	bool has_next, join_left, join_right;
	uint64_t last, next = 0;
	struct summary s;
	struct path p;
	int c, d, err;

	if (!last_byte(phys, len, &last))
		return -EINVAL;
	if (!set->root) {
		err = spares_ready(set, 1);
		if (err < 0)
			return err;
		set->root = node_take(set);
		range_summary(phys, len, &s);
		entry_insert(set->root, 0, &s, NULL);
		set->nranges = 1;
		set->free_len = len;
		return 0;
	}
	c = path_search(set, phys, &p);
	d = p.depth - 1;
	leaf = p.node[d];
	/* The range before is the leaf's (c - 1); the one after is the
	 * leaf's c, or opens the next leaf. */
	if (c > 0 && entry_last(leaf, c - 1) >= phys)
		return -EEXIST;
	if (c < leaf->n) {
		next = leaf->key[c];
		has_next = true;
	} else {
		has_next = path_next_key(&p, &next);
	}
	if (has_next && next <= last)
		return -EEXIST;
	/* Disjoint, so the sum is at most 2^64; only all of it is too much. */
	if (len > UINT64_MAX - set->free_len)
		return -EOVERFLOW;

	/* No overlap, so the last byte before < phys and last < next. */
	join_left = c > 0 && entry_last(leaf, c - 1) + 1 == phys;
	join_right = has_next && last + 1 == next;
	if (join_right && c == leaf->n) {
		give_across(set, &p, phys, last, next, join_left);
	} else if (join_left && join_right) {
		leaf_change(&p, c - 1, leaf->key[c - 1], leaf->len[c - 1] + len + leaf->len[c]);
		path_delete(set, &p, d, c);
		set->nranges--;
	} else if (join_left) {
		leaf_change(&p, c - 1, leaf->key[c - 1], leaf->len[c - 1] + len);
	} else if (join_right) {
		leaf_change(&p, c, phys, leaf->len[c] + len);
	} else {
		err = spares_ready(set, path_spares(&p));
		if (err < 0)
			return err;
		range_summary(phys, len, &s);
		path_insert(set, &p, d, c, &s, NULL);
		set->nranges++;
	}
	set->free_len += len;
	return 0;
}

bool contig_range_is_free(const struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	const struct contig_range_node *leaf;
	uint64_t last;
	struct path p;
	int c;

	if (!last_byte(phys, len, &last) || !set->root)
		return false;
	c = path_search(set, phys, &p);
	leaf = p.node[p.depth - 1];
	/* The one range that can hold phys: the last starting at or below it. */
	return c > 0 && entry_last(leaf, c - 1) >= last;
}

uint64_t contig_range_largest(const struct contig_range_set *set)
{
	struct summary s;

	if (!set->root)
		return 0;
	node_summary(set->root, &s);
	return s.len;
}
