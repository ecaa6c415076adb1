/* test_threads.c - libcontig is safe from any thread: several threads of one
 * client allocate, write, verify and free at once, and no buffer ever
 * overlaps another (each thread's pattern survives the others' writes, and
 * pagemap agrees with the library's physical addresses). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NTHREADS 4
#define ROUNDS 300
#define LIVE 8

struct worker {
	struct contig_client *c;
	unsigned seed;
	int id;
	int failures;
	int phys_mismatches;
	int allocs;
};

static bool pattern_intact(const struct contig_buffer *b, uint8_t v)
{
	const uint8_t *p = b->virt;

	for (uint64_t i = 0; i < b->len; i += 512)
		if (p[i] != v)
			return false;
	return p[b->len - 1] == v;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct contig_buffer live[LIVE] = { 0 };

	for (int round = 0; round < ROUNDS; round++) {
		int slot = (int)(rand_r(&w->seed) % LIVE);
		uint8_t v = (uint8_t)(w->id * 16 + slot + 1);
		struct contig_alloc_req req;

		if (live[slot].virt) {
			if (!pattern_intact(&live[slot], v))
				w->failures++;
			if (contig_free(w->c, live[slot].virt) < 0)
				w->failures++;
			live[slot].virt = NULL;
			continue;
		}
		contig_alloc_req_init(&req, 4096 * (1 + rand_r(&w->seed) % 64));
		if (contig_alloc(w->c, &req, &live[slot]) < 0) {
			live[slot].virt = NULL;
			continue; /* the pool may be momentarily full: not an error */
		}
		w->allocs++;
		memset(live[slot].virt, v, live[slot].len);
		if (harness_phys_of(getpid(), live[slot].virt) != live[slot].phys)
			w->phys_mismatches++;
	}
	for (int slot = 0; slot < LIVE; slot++)
		if (live[slot].virt) {
			if (!pattern_intact(&live[slot], (uint8_t)(w->id * 16 + slot + 1)))
				w->failures++;
			contig_free(w->c, live[slot].virt);
		}
	return NULL;
}

static bool all_free(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->pools[0].free_len == st->pools[0].total_len && st->my_nbuffers == 0;
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:32M", NULL };
	struct worker w[NTHREADS];
	pthread_t tid[NTHREADS];
	struct harness_daemon d;
	struct contig_client *c;
	int failures = 0, mismatches = 0, allocs = 0;

	harness_daemon_start(&d, args);
	c = harness_connect(&d);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .c = c, .seed = 1234u + (unsigned)i, .id = i };
		pthread_create(&tid[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		failures += w[i].failures;
		mismatches += w[i].phys_mismatches;
		allocs += w[i].allocs;
	}
	diag("%d allocations from %d threads", allocs, NTHREADS);
	ok(allocs > NTHREADS * ROUNDS / 4, "threads_allocate_concurrently");
	ok(failures == 0, "no_buffer_is_overwritten_by_another_thread");
	ok(mismatches == 0, "library_phys_matches_pagemap_under_concurrency");
	/* (The fast path's empty warm frames given back first.) */
	ok(contig_trim(c) == 0 && harness_wait_stats(c, all_free, NULL),
	   "everything_freed_returns_to_the_pool");
	contig_disconnect(c);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	return done_testing();
}
