/* range.c - constrained allocator over sets of free physical ranges.
 *
 * DESIGN
 * A set is an AVL tree of its free ranges ordered by address. Each node
 * also records, for its subtree, the longest range (max_len) and how
 * aligned a buffer its ranges can hold (fit: the most aligned address in
 * any range, and the largest naturally aligned block inside any range, as
 * log2). A set serves one pool's free frames or one session's free pages,
 * and with many live buffers it holds about one range per buffer (the
 * gaps between them), so every operation must cost O(log n), never O(n):
 *
 *   take, give   one descent from the root that records the links it
 *                follows (struct path), then the change: shrink, grow or
 *                move a node's range in place (front and back trims, merges
 *                with one neighbour), link one new leaf (a split in the
 *                middle, a range touching no neighbour), or unlink one node
 *                (a range taken whole, the merge of both neighbours; a node
 *                with two children takes its successor's range and the
 *                successor, which has no left child, goes instead). Then
 *                the path is brought up to date bottom up, and only as far
 *                as something changes: after a resize in place, max_len and
 *                fit of the node and its ancestors (path_resize: a range
 *                that grew needs no other node, one that shrank only where
 *                it gave the subtree its max_len or fit); after a node came
 *                or went, each node's height, max_len and fit and at most
 *                one single or double rotation (node_fix), up to the first
 *                node above the change whose height, max_len and fit come
 *                out as they were. The neighbours give merges with are the
 *                last nodes where the descent went right and left.
 *                O(log n), and one malloc() only when the set outgrows its
 *                chunks (below).
 *   is_free      one descent to the range that holds phys. O(log n).
 *   largest      the root's max_len. O(1).
 *   find         first fit by address: an in-order walk that skips what
 *                cannot hold the buffer. A subtree is skipped whole when
 *                none of its ranges is long enough (max_len < len), holds a
 *                multiple of align, or holds an aligned block of
 *                min(align, 2^floor(log2(len))) bytes, which the buffer
 *                starts with; a node ending too low sends the walk to its
 *                right child only, a node starting above @highest to its
 *                left child only. Each range met that passes is tried (the
 *                formula below); the first that holds the buffer is the
 *                answer. The walk recurses into left children and loops
 *                into right ones, so its stack is at most the tree's
 *                height.
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
 * too low" means "ends before floor + len - 1": after a failure, all the
 * ranges that end below the next possible start are skipped in one
 * O(log n) descent, not one by one. A range tried fails only when the
 * floor cuts it (the range that straddles @lowest), when its aligned
 * start comes too close to its end, or when a boundary pushes the start
 * past its end; so find costs O(log n) plus O(log n) per such failure.
 * The fit keeps those few: with 2 MiB alignment over 4 KiB fragments, the
 * walk enters only subtrees that hold a 2 MiB-aligned address, and each
 * failure moves the floor to the next such address.
 *
 * Memory: a node is 48 bytes on LP64 (phys, len, max_len, two children,
 * height, and two bytes each of its own and its subtree's fit). Nodes come
 * from chunks of the set's own (4 nodes, then as many as the set has, at
 * most 1024 per chunk), so a node costs 48 bytes, not malloc's 64 for a
 * 48-byte block, and take and give call malloc only when the set outgrows
 * its chunks. Unlinked nodes go to a spare list and are reused; the chunks
 * are freed only by contig_range_set_done(), so a set keeps the memory of
 * its largest size. Nothing points into struct contig_range_set, so the
 * daemon may move a set by value.
 *
 * Invariants: rangeint.h, beside the structures they are about
 * (rangecheck.c checks them). Any arithmetic that would pass 2^64 means
 * "does not fit", never a wrap.
 *
 * Errors: every check (-EINVAL, -ENOENT, -EEXIST, -EOVERFLOW) and the one
 * allocation a call may need (-ENOMEM) come before the first change, so a
 * call that fails leaves the set as it was. Beyond range.h: take and give
 * return -EINVAL for a range that is empty or passes 2^64 (is_free says
 * false for one), and give returns -EOVERFLOW rather than complete a set of
 * all 2^64 addresses, whose length and free_len would not fit in a
 * uint64_t.
 *
 * No syscalls, no libuv, no globals. A set belongs to one thread.
 */
#include "range.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rangeint.h"

#define CHUNK_MIN 4    /* nodes in a set's first chunk */
#define CHUNK_MAX 1024 /* nodes in any chunk: 48 KiB */

/* A node's height, max_len and fit, to see whether a change reached it. */
struct summary {
	uint64_t max_len;
	unsigned char height;
	unsigned char fit[NFITS];
};

_Static_assert(sizeof(void *) != 8 || sizeof(struct contig_range_node) == 48,
	       "a node is 48 bytes on LP64");

/* The links a descent followed: link[0] is &set->root, link[i + 1] is a
 * child link of *link[i]. The last may point at an empty slot. */
struct path {
	struct contig_range_node **link[MAX_HEIGHT + 1];
	int depth; /* links in use */
};

static bool is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* ---------------------------------------------------------------------- */
/* Nodes and their chunks */

static void summary_get(const struct contig_range_node *n, struct summary *ret_sum)
{
	ret_sum->max_len = n->max_len;
	ret_sum->height = n->height;
	memcpy(ret_sum->fit, n->fit, NFITS);
}

static bool summary_same(const struct contig_range_node *n, const struct summary *sum)
{
	return n->max_len == sum->max_len && n->height == sum->height &&
	       memcmp(n->fit, sum->fit, NFITS) == 0;
}

/* Give @set one more chunk of spare nodes. */
static int chunk_add(struct contig_range_set *set)
{
	size_t nnodes = set->nnodes < CHUNK_MIN ? CHUNK_MIN :
			set->nnodes > CHUNK_MAX ? CHUNK_MAX :
						  set->nnodes;
	struct contig_range_chunk *chunk;
	size_t i;

	chunk = malloc(sizeof(*chunk) + nnodes * sizeof(chunk->nodes[0]));
	if (!chunk)
		return -ENOMEM;
	chunk->next = set->chunks;
	chunk->nnodes = nnodes;
	set->chunks = chunk;
	/* Handed out in address order, the first nodes of a tree sit together. */
	for (i = nnodes; i-- > 0;) {
		chunk->nodes[i].child[0] = set->spare;
		set->spare = &chunk->nodes[i];
	}
	set->nnodes += nnodes;
	return 0;
}

/* A leaf holding [phys, phys + len), not yet linked; NULL if no memory. */
static struct contig_range_node *node_new(struct contig_range_set *set, uint64_t phys,
					  uint64_t len)
{
	struct contig_range_node *n;

	if (!set->spare && chunk_add(set) < 0)
		return NULL;
	n = set->spare;
	set->spare = n->child[0];
	n->phys = phys;
	n->len = len;
	n->max_len = len;
	n->child[0] = n->child[1] = NULL;
	n->height = 1;
	range_fit(phys, len, n->own_fit);
	memcpy(n->fit, n->own_fit, NFITS);
	return n;
}

static void node_free(struct contig_range_set *set, struct contig_range_node *n)
{
	n->child[0] = set->spare;
	set->spare = n;
}

/* ---------------------------------------------------------------------- */
/* AVL balance */

/* Recompute @n's height, max_len and fit from its own and its children's. */
static void node_update(struct contig_range_node *n)
{
	uint64_t m = n->len;
	unsigned char h = 0, fa = n->own_fit[FIT_ADDR], fb = n->own_fit[FIT_BLOCK];
	int d;

	for (d = 0; d < 2; d++) {
		const struct contig_range_node *c = n->child[d];

		if (!c)
			continue;
		if (c->max_len > m)
			m = c->max_len;
		if (c->height > h)
			h = c->height;
		if (c->fit[FIT_ADDR] > fa)
			fa = c->fit[FIT_ADDR];
		if (c->fit[FIT_BLOCK] > fb)
			fb = c->fit[FIT_BLOCK];
	}
	n->max_len = m;
	n->height = (unsigned char)(h + 1);
	n->fit[FIT_ADDR] = fa;
	n->fit[FIT_BLOCK] = fb;
}

/* Lift @n's child on side @dir above @n; returns the subtree's new root. */
static struct contig_range_node *rotate(struct contig_range_node *n, int dir)
{
	struct contig_range_node *c = n->child[dir];

	n->child[dir] = c->child[!dir];
	c->child[!dir] = n;
	node_update(n);
	node_update(c);
	return c;
}

/* Make @n's subtree balanced again after one insertion or removal below
 * it (its children are balanced, their heights differ by at most two) and
 * bring its height and max_len up to date; returns the subtree's root. */
static struct contig_range_node *node_fix(struct contig_range_node *n)
{
	int h0 = height(n->child[0]), h1 = height(n->child[1]);
	struct contig_range_node *c;
	int dir;

	if (h0 - h1 < 2 && h1 - h0 < 2) {
		node_update(n);
		return n;
	}
	dir = h1 > h0; /* the taller side */
	c = n->child[dir];
	/* Its inner grandchild taller: lift that first (a double rotation). */
	if (height(c->child[!dir]) > height(c->child[dir]))
		n->child[dir] = rotate(c, !dir);
	return rotate(n, dir);
}

/* ---------------------------------------------------------------------- */
/* Paths */

static void path_push(struct path *p, struct contig_range_node **link)
{
	assert(p->depth < MAX_HEIGHT + 1);
	p->link[p->depth++] = link;
}

/* Fix the nodes at the first @depth links of @p, bottom up. The node at
 * link @dirty and those below it changed; above it, a subtree whose height,
 * max_len and fit come out as they were leaves its ancestors as they were,
 * so the walk stops there. */
static void path_fix(struct path *p, int depth, int dirty)
{
	while (depth-- > 0) {
		struct contig_range_node *n = *p->link[depth];
		struct summary was;

		if (!n)
			continue;
		summary_get(n, &was);
		n = *p->link[depth] = node_fix(n);
		if (depth <= dirty && summary_same(n, &was))
			return;
	}
}

/* The node at link @i of @p had its range resized in place from @old_len
 * bytes, to one that holds the old one or lies inside it (no node came or
 * went, so no height changes): bring its own_fit, and the max_len and fit
 * of it and its ancestors up to date, as far up as they change. A range
 * that grew raises them without looking at any other node; one that
 * shrank only matters where it gave a subtree its max_len or a fit. */
static void path_resize(struct path *p, int i, uint64_t old_len)
{
	struct contig_range_node *n = *p->link[i];
	unsigned char old_fit[NFITS], new_fit[NFITS];
	uint64_t len = n->len;
	struct summary was;
	bool changed;
	int c;

	memcpy(old_fit, n->own_fit, NFITS);
	range_fit(n->phys, n->len, new_fit);
	memcpy(n->own_fit, new_fit, NFITS);
	for (; i >= 0; i--) {
		n = *p->link[i];
		changed = false;
		if (len > old_len) {
			if (n->max_len < len) {
				n->max_len = len;
				changed = true;
			}
			for (c = 0; c < NFITS; c++) {
				if (n->fit[c] < new_fit[c]) {
					n->fit[c] = new_fit[c];
					changed = true;
				}
			}
		} else {
			/* What the old range gave this subtree, it may lose. */
			changed = n->max_len == old_len;
			for (c = 0; c < NFITS; c++)
				changed = changed || (n->fit[c] == old_fit[c] &&
						      new_fit[c] < old_fit[c]);
			if (changed) {
				summary_get(n, &was);
				node_update(n);
				changed = !summary_same(n, &was);
			}
		}
		if (!changed)
			return;
	}
}

/* Descend towards @phys down to an empty slot, recording the links in @p.
 * *ret_below is the index in @p of the last range starting at or below
 * @phys, *ret_above of the first starting above it; -1 for none. The slot
 * at the end is where a range starting at @phys would go. */
static void path_search(struct contig_range_set *set, uint64_t phys, struct path *p,
			int *ret_below, int *ret_above)
{
	struct contig_range_node **link = &set->root;
	int below = -1, above = -1;

	p->depth = 0;
	for (;;) {
		struct contig_range_node *n = *link;

		path_push(p, link);
		if (!n)
			break;
		if (n->phys <= phys) {
			below = p->depth - 1;
			link = &n->child[1];
		} else {
			above = p->depth - 1;
			link = &n->child[0];
		}
	}
	*ret_below = below;
	*ret_above = above;
}

/* Link leaf @n into the empty slot at the end of @p and rebalance. */
static void path_insert(struct contig_range_set *set, struct path *p, struct contig_range_node *n)
{
	assert(!*p->link[p->depth - 1]);
	*p->link[p->depth - 1] = n;
	/* The leaf is up to date; its parent is the first to change. */
	path_fix(p, p->depth - 1, p->depth - 2);
	set->nranges++;
}

/* Unlink the node at the end of @p, rebalance, and keep it as a spare. */
static void path_remove(struct contig_range_set *set, struct path *p)
{
	struct contig_range_node **link = p->link[p->depth - 1];
	struct contig_range_node *n = *link, *gone = n;
	int dirty = p->depth - 1;

	if (n->child[0] && n->child[1]) {
		/* The successor has no left child: move its range here and
		 * unlink it instead. */
		link = &n->child[1];
		path_push(p, link);
		while ((*link)->child[0]) {
			link = &(*link)->child[0];
			path_push(p, link);
		}
		gone = *link;
		n->phys = gone->phys;
		n->len = gone->len;
		memcpy(n->own_fit, gone->own_fit, NFITS);
	}
	*link = gone->child[0] ? gone->child[0] : gone->child[1];
	/* What took gone's place is up to date; its parent is the first to
	 * change, and n too if it took the successor's range. */
	if (dirty > p->depth - 2)
		dirty = p->depth - 2;
	path_fix(p, p->depth - 1, dirty);
	node_free(set, gone);
	set->nranges--;
}

/* ---------------------------------------------------------------------- */
/* The set */

void contig_range_set_init(struct contig_range_set *set)
{
	set->root = NULL;
	set->spare = NULL;
	set->chunks = NULL;
	set->nranges = 0;
	set->nnodes = 0;
	set->free_len = 0;
}

void contig_range_set_done(struct contig_range_set *set)
{
	struct contig_range_chunk *chunk, *next;

	if (!set)
		return;
	for (chunk = set->chunks; chunk; chunk = next) {
		next = chunk->next;
		free(chunk);
	}
	contig_range_set_init(set);
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

/* Could a range in @n's subtree hold the buffer? */
static bool could_fit(const struct contig_range_node *n, const struct walk *w)
{
	return n->max_len >= w->req->len && n->fit[FIT_ADDR] >= w->need[FIT_ADDR] &&
	       n->fit[FIT_BLOCK] >= w->need[FIT_BLOCK];
}

/* Could @n's range, or one below it, still hold the buffer? */
static bool reaches_floor(const struct contig_range_node *n, const struct walk *w)
{
	uint64_t last = node_last(n);

	return last >= w->floor && last - w->floor >= w->req->len - 1;
}

/* Try the range of @n, which reaches the floor and starts at or below
 * @highest. */
static enum fit fit_range(const struct contig_range_node *n, struct walk *w, uint64_t *ret_phys)
{
	uint64_t from = n->phys > w->floor ? n->phys : w->floor;
	uint64_t phys, last;

	if (n->len < w->req->len)
		return FIT_NONE;
	/* Starts only grow from here on: past @highest is past for good. */
	if (!first_start(w->req, from, &phys, &last) || last > w->req->highest)
		return FIT_PAST;
	if (last > node_last(n)) {
		/* Align or boundary pushed the start too far: every later
		 * start is at or above this one. */
		w->floor = phys;
		return FIT_NONE;
	}
	*ret_phys = phys;
	return FIT_FOUND;
}

/* First fit in the subtree at @n, in address order. Recurses only into
 * left children, so no deeper than the tree's height. */
static enum fit find_in(const struct contig_range_node *n, struct walk *w, uint64_t *ret_phys)
{
	enum fit fit;

	while (n && could_fit(n, w)) {
		if (!reaches_floor(n, w)) {
			n = n->child[1]; /* @n and all below it end too low */
			continue;
		}
		if (n->phys > w->req->highest) {
			n = n->child[0]; /* @n and all above it start too high */
			continue;
		}
		fit = find_in(n->child[0], w, ret_phys);
		if (fit == FIT_NONE && reaches_floor(n, w))
			fit = fit_range(n, w, ret_phys);
		if (fit != FIT_NONE)
			return fit;
		n = n->child[1];
	}
	return FIT_NONE;
}

int contig_range_find(const struct contig_range_set *set, const struct contig_range_req *req,
		      uint64_t *ret_phys)
{
	int align = log2_floor(req->align), len = log2_floor(req->len);
	struct walk w = { req, req->lowest, { 0 } };

	assert(contig_range_req_check(req, NULL) == 0);
	/* Its start is a multiple of 2^align, and so is the block of
	 * 2^min(align, len) bytes that the buffer starts with. */
	w.need[FIT_ADDR] = (unsigned char)align;
	w.need[FIT_BLOCK] = (unsigned char)(align < len ? align : len);
	return find_in(set->root, &w, ret_phys) == FIT_FOUND ? 0 : -ENOSPC;
}

int contig_range_take(struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	struct contig_range_node *r, *split;
	uint64_t last, r_last;
	int below, above;
	struct path p;

	if (!last_byte(phys, len, &last))
		return -EINVAL;
	path_search(set, phys, &p, &below, &above);
	if (below < 0)
		return -ENOENT;
	r = *p.link[below];
	r_last = node_last(r);
	if (r_last < last)
		return -ENOENT;

	if (r->phys == phys && r_last == last) {
		p.depth = below + 1;
		path_remove(set, &p);
	} else if (r->phys == phys) {
		r->phys = last + 1;
		r->len -= len;
		path_resize(&p, below, r->len + len);
	} else if (r_last == last) {
		r->len -= len;
		path_resize(&p, below, r->len + len);
	} else {
		/* The split needs a node; get it before touching anything. */
		split = node_new(set, last + 1, r_last - last);
		if (!split)
			return -ENOMEM;
		r->len = phys - r->phys;
		path_resize(&p, below, r_last - r->phys + 1);
		/* The descent went right at r and then left all the way, as
		 * every range in r's right subtree starts above r_last: it
		 * ended in r's successor slot, the place for split. */
		path_insert(set, &p, split);
	}
	set->free_len -= len;
	return 0;
}

int contig_range_give(struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	struct contig_range_node *left = NULL, *right = NULL, *n;
	int below, above;
	uint64_t last;
	struct path p;

	if (!last_byte(phys, len, &last))
		return -EINVAL;
	path_search(set, phys, &p, &below, &above);
	if (below >= 0)
		left = *p.link[below];
	if (above >= 0)
		right = *p.link[above];
	if ((left && node_last(left) >= phys) || (right && right->phys <= last))
		return -EEXIST;
	/* Disjoint, so the sum is at most 2^64; only all of it is too much. */
	if (len > UINT64_MAX - set->free_len)
		return -EOVERFLOW;

	/* No overlap, so left's last byte < phys and last < right->phys. */
	if (left && node_last(left) + 1 != phys)
		left = NULL;
	if (right && last + 1 != right->phys)
		right = NULL;
	if (left && right) {
		/* Resizing moves no node, so the path to right stays valid. */
		left->len += len + right->len;
		path_resize(&p, below, left->len - len - right->len);
		p.depth = above + 1;
		path_remove(set, &p);
	} else if (left) {
		left->len += len;
		path_resize(&p, below, left->len - len);
	} else if (right) {
		right->phys = phys;
		right->len += len;
		path_resize(&p, above, right->len - len);
	} else {
		n = node_new(set, phys, len);
		if (!n)
			return -ENOMEM;
		path_insert(set, &p, n);
	}
	set->free_len += len;
	return 0;
}

bool contig_range_is_free(const struct contig_range_set *set, uint64_t phys, uint64_t len)
{
	const struct contig_range_node *n = set->root;
	uint64_t last;

	if (!last_byte(phys, len, &last))
		return false;
	while (n) {
		if (n->phys > phys)
			n = n->child[0];
		else if (node_last(n) < phys)
			n = n->child[1];
		else
			return node_last(n) >= last; /* the one range holding phys */
	}
	return false;
}

uint64_t contig_range_largest(const struct contig_range_set *set)
{
	return max_len(set->root);
}
