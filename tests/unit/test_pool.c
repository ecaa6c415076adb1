/* test_pool.c - tests for daemon/pool.c's segments, printing TAP.
 *
 * DESIGN
 * On the fuzz harness's fake frames (tests/fuzz/fake.c: physical addresses
 * from a fixed map, no memory behind them, recycling that moves a frame to
 * a spare page when told to): a pool of four adjacent frames is one
 * segment; a frame taken, recycled and moved away to a spare page breaks
 * it (the pool counts it, and flags the frame, which is what the daemon
 * logs); the segment histogram follows; a frame moved from a page with no
 * neighbour in service breaks nothing. The daemon's real recycling moves a
 * frame only when another process takes its page in the moment between
 * truncating and re-faulting it, which no test can arrange; this is where
 * the rule is proved.
 */
#include <stdlib.h>

#include "fake.h"
#include "pool.h"
#include "tap.h"

#define P (UINT64_C(2) << 20)
#define BASE (UINT64_C(1) << 30)
#define SPARE (UINT64_C(4) << 30)

/* Take @f (as a session would), queue it for recycling, recycle it. */
static bool recycle(struct contig_pool *pool, struct contig_frame *f, struct contig_recycler *rec)
{
	if (contig_pool_take(pool, f->phys, P, NULL, 1) < 0)
		return false;
	contig_pool_frame_recycling(f);
	contig_recycler_push(rec, f);
	return fake_recycler_drain(rec, 1) == 1;
}

int main(void)
{
	const struct fake_page_run runs[] = {
		{ BASE, 4, false },
		{ SPARE, 1, true },
	};
	const struct fake_chaos always_move = { .move_pct = 100 };
	struct contig_recycler *rec;
	struct contig_frame_dir *dir;
	struct contig_pool *pool;
	struct contig_pool_info info;
	struct contig_frame *f;
	int r;

	fake_reset(1, &always_move);
	dir = fake_dir_new(0, P, runs, 2);
	rec = fake_recycler_new();
	r = contig_pool_new(dir, 0, NULL, 0, 4, 1, NULL, NULL, &pool);
	if (r < 0)
		bail_out("contig_pool_new: %d", r);
	contig_pool_get_info(pool, &info);
	ok(info.nsegments == 1 && info.largest_segment_len == 4 * P && info.segment_hist[2] == 1 &&
		   info.segment_hist[0] == 0 && info.nsegments_broken == 0,
	   "four_adjacent_frames_are_one_segment_of_4");

	/* the second frame moves to the spare page */
	f = contig_pool_frame_at(pool, BASE + P);
	ok(f && recycle(pool, f, rec) && f->phys == SPARE, "a_recycled_frame_moves_to_the_spare");
	contig_pool_get_info(pool, &info);
	ok(f->broke_segment && pool->nsegments_broken == 1 && info.nsegments_broken == 1,
	   "moving_away_from_its_neighbours_broke_a_segment");
	ok(info.nsegments == 3 && info.segment_hist[0] == 2 && info.segment_hist[1] == 1 &&
		   info.largest_segment_len == 2 * P,
	   "now_1_1_and_2_frames (%u segments)", info.nsegments);

	/* the moved frame, alone at SPARE, moves back into the gap */
	ok(recycle(pool, f, rec) && f->phys == BASE + P, "it_moves_back_to_the_free_page");
	contig_pool_get_info(pool, &info);
	ok(!f->broke_segment && info.nsegments_broken == 1,
	   "leaving_a_page_with_no_neighbour_breaks_nothing");
	ok(info.nsegments == 1 && info.segment_hist[2] == 1, "one_segment_of_4_again");

	/* an end frame moving away breaks a segment too */
	f = contig_pool_frame_at(pool, BASE + 3 * P);
	ok(f && recycle(pool, f, rec) && f->phys == SPARE && f->broke_segment &&
		   pool->nsegments_broken == 2,
	   "an_end_frame_moving_away_breaks_it_too");

	contig_pool_free(pool, false);
	fake_recycler_free(rec);
	fake_dir_free(dir);
	return done_testing();
}
