/* recycle.c - the background thread that revokes, re-faults and verifies
 * frames (Redis bio.c's shape: one queue, one worker, one way back).
 *
 * DESIGN
 * Recycling a 2 MiB frame takes ~0.2 ms (truncate: the kernel unmaps the
 * page from every client and frees it; fallocate: it allocates and zeroes
 * a page, normally the same one; then the physical address and node are
 * read back). That is too long for the event loop, so it happens here.
 *
 * Frames travel between threads as linked lists under one mutex: @todo
 * from the loop to the worker, @done back. The worker wakes the loop by
 * writing to an eventfd the loop polls; wake-ups coalesce (the counter
 * sums them), so the loop drains the whole @done list each time. Not
 * uv_async_send(): libuv 1.44 makes the loop spin and sched_yield() while a
 * send is half done, and when the worker shares the loop's CPU the yield
 * hands it the rest of a time slice of page zeroing; a 16 MiB free waited
 * 3.5 ms for its reply that way (perf sched_switch: the loop in
 * sched_yield). One eventfd write cannot be caught half done.
 *
 * One worker, one frame at a time: truncating several frames before
 * re-faulting them would let the kernel shuffle their pages.
 *
 * While a frame is on these lists only the worker touches its @file and
 * @recycle_err; the loop thread touches nothing of it.
 *
 * Priority: the worker runs at nice 19 (idle priority) unless a request
 * waits for a frame (contig_recycler_hurry(), from server.c, which knows
 * who waits): zeroing pages ahead of demand must not take the CPU from
 * the loop thread or from the clients it answers (on 2 vCPUs a recycle
 * thread at the loop's priority made 2 of 1280 allocations wait in make
 * bench's section 6, issue 22). A request that waits raises it to the
 * loop's nice, and the last one served lowers it again. Raising needs
 * RLIMIT_NICE (systemd's LimitNICE=+0) or CAP_SYS_NICE; without either the
 * worker keeps the loop's priority, since it could not be raised back
 * (contig_recycler_idle() says which). Nice 19, not SCHED_IDLE: it still
 * gets a share of a CPU that other programs keep busy, so recycling ends
 * on a loaded machine even when nobody waits.
 *
 * The worker calls contig_frame_recycle() (frames.c) and nothing else of
 * the daemon: never a pool's segments, a session, the journal, the keeper
 * or libuv, which are the loop thread's; frames go home through the
 * callback the loop runs (server.c).
 */
#include "recycle.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#define IDLE_NICE 19

struct contig_recycler {
	uv_poll_t wakeup;  /* on @efd: the worker finished frames */
	int efd;
	uv_check_t check; /* wakes the worker after the loop's callbacks ran */
	bool pushed;      /* loop thread only: frames pushed since the last check */
	int nclosed;      /* handles closed at stop */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct contig_frame *todo, **todo_tail; /* FIFO */
	struct contig_frame *done;
	bool stopping;
	contig_recycle_done_cb on_done;
	void *data;
	pid_t tid;         /* the worker's, set before start returns */
	int base_nice;     /* the loop's, the worker's when hurried */
	bool idle;         /* the worker may run at IDLE_NICE (can be raised back) */
	bool hurried;      /* loop thread only: the worker is at base_nice */
};

static void *worker(void *arg)
{
	struct contig_recycler *rec = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&rec->lock);
	rec->tid = gettid();
	if (rec->idle && setpriority(PRIO_PROCESS, (id_t)rec->tid, IDLE_NICE) < 0)
		rec->idle = false;
	pthread_cond_signal(&rec->wake); /* start() waits for @tid */
	for (;;) {
		struct contig_frame *f;

		while (!rec->todo && !rec->stopping)
			pthread_cond_wait(&rec->wake, &rec->lock);
		if (rec->stopping)
			break; /* contig_recycler_stop() cancels what is left */
		f = rec->todo;
		rec->todo = f->next;
		if (!rec->todo)
			rec->todo_tail = &rec->todo;
		pthread_mutex_unlock(&rec->lock);

		f->recycle_err = contig_frame_recycle(f->pool->dir, f->pool->node, &f->file,
						      f->retrying);

		pthread_mutex_lock(&rec->lock);
		f->next = rec->done;
		rec->done = f;
		/* Under the lock, so that stop() cannot close @efd meanwhile. */
		if (eventfd_write(rec->efd, 1) < 0) {
			/* only on a counter overflow: the loop wakes anyway */
		}
	}
	pthread_mutex_unlock(&rec->lock);
	return NULL;
}

static void drain(struct contig_recycler *rec)
{
	struct contig_frame *done;

	pthread_mutex_lock(&rec->lock);
	done = rec->done;
	rec->done = NULL;
	pthread_mutex_unlock(&rec->lock);
	if (done)
		rec->on_done(done, rec->data);
}

static void on_wakeup(uv_poll_t *handle, int status, int events)
{
	struct contig_recycler *rec = handle->data;
	eventfd_t n;

	(void)status;
	(void)events;
	if (eventfd_read(rec->efd, &n) < 0) {
		/* EAGAIN: a drain already took what the wake-up announced */
	}
	drain(rec);
}

/* After the callbacks of a loop iteration: the replies they sent are out,
 * so the worker, which may share their CPU, can start now without delaying
 * one (a free of 8 frames answered after 8 recycles, 0.9 ms, otherwise). */
static void on_check(uv_check_t *handle)
{
	struct contig_recycler *rec = handle->data;

	if (!rec->pushed)
		return;
	rec->pushed = false;
	pthread_mutex_lock(&rec->lock);
	pthread_cond_signal(&rec->wake);
	pthread_mutex_unlock(&rec->lock);
}

/* Whether this process may lower a thread's nice value back to @nice:
 * RLIMIT_NICE allows 20 - rlim_cur and up, CAP_SYS_NICE (bit 23 of
 * CapEff) anything. */
static bool can_raise_to(int nice)
{
	struct rlimit rl;
	char line[256];
	bool cap = false;
	FILE *f;

	if (getrlimit(RLIMIT_NICE, &rl) == 0 &&
	    (rl.rlim_cur == RLIM_INFINITY || 20 - (long long)rl.rlim_cur <= nice))
		return true;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "CapEff:", 7) == 0) {
			cap = (strtoull(line + 7, NULL, 16) >> 23) & 1;
			break;
		}
	fclose(f);
	return cap;
}

int contig_recycler_start(uv_loop_t *loop, contig_recycle_done_cb on_done, void *data,
			  struct contig_recycler **ret_rec)
{
	struct contig_recycler *rec = calloc(1, sizeof(*rec));
	int r;

	if (!rec)
		return -ENOMEM;
	rec->todo_tail = &rec->todo;
	rec->on_done = on_done;
	rec->data = data;
	rec->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rec->efd < 0) {
		free(rec);
		return -errno;
	}
	pthread_mutex_init(&rec->lock, NULL);
	pthread_cond_init(&rec->wake, NULL);
	errno = 0;
	rec->base_nice = getpriority(PRIO_PROCESS, 0);
	rec->idle = errno == 0 && rec->base_nice < IDLE_NICE && can_raise_to(rec->base_nice);
	/* The worker writes to @efd only after a push, so it may start first;
	 * that keeps the error path free of handle closing. */
	r = -pthread_create(&rec->thread, NULL, worker, rec);
	if (r < 0)
		goto out_free;
	pthread_mutex_lock(&rec->lock);
	while (!rec->tid)
		pthread_cond_wait(&rec->wake, &rec->lock);
	pthread_mutex_unlock(&rec->lock);
	r = uv_poll_init(loop, &rec->wakeup, rec->efd);
	if (r < 0)
		goto out_join;
	rec->wakeup.data = rec;
	uv_poll_start(&rec->wakeup, UV_READABLE, on_wakeup);
	uv_check_init(loop, &rec->check);
	rec->check.data = rec;
	uv_check_start(&rec->check, on_check);
	uv_unref((uv_handle_t *)&rec->check); /* it alone keeps no loop running */
	*ret_rec = rec;
	return 0;

out_join:
	pthread_mutex_lock(&rec->lock);
	rec->stopping = true;
	pthread_cond_signal(&rec->wake);
	pthread_mutex_unlock(&rec->lock);
	pthread_join(rec->thread, NULL);
out_free:
	pthread_cond_destroy(&rec->wake);
	pthread_mutex_destroy(&rec->lock);
	close(rec->efd);
	free(rec);
	return r;
}

void contig_recycler_push(struct contig_recycler *rec, struct contig_frame *frame)
{
	frame->next = NULL;
	pthread_mutex_lock(&rec->lock);
	*rec->todo_tail = frame;
	rec->todo_tail = &frame->next;
	pthread_mutex_unlock(&rec->lock);
	rec->pushed = true; /* on_check() wakes the worker */
}

void contig_recycler_kick(struct contig_recycler *rec)
{
	on_check(&rec->check);
}

void contig_recycler_hurry(struct contig_recycler *rec, bool hurry)
{
	if (!rec || !rec->idle || rec->hurried == hurry)
		return;
	/* (A failure leaves the worker where it was: it still finishes.) */
	if (setpriority(PRIO_PROCESS, (id_t)rec->tid, hurry ? rec->base_nice : IDLE_NICE) == 0)
		rec->hurried = hurry;
}

bool contig_recycler_idle(const struct contig_recycler *rec)
{
	return rec && rec->idle;
}

/* Both handles' close callbacks come here; the second frees. */
static void on_close(uv_handle_t *handle)
{
	struct contig_recycler *rec = handle->data;

	if (++rec->nclosed < 2)
		return;
	pthread_cond_destroy(&rec->wake);
	pthread_mutex_destroy(&rec->lock);
	close(rec->efd);
	free(rec);
}

void contig_recycler_stop(struct contig_recycler *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&rec->lock);
	rec->stopping = true;
	pthread_cond_signal(&rec->wake);
	pthread_mutex_unlock(&rec->lock);
	pthread_join(rec->thread, NULL);
	/* At exit every frame is released anyway: re-faulting would be wasted. */
	while (rec->todo) {
		struct contig_frame *f = rec->todo;

		rec->todo = f->next;
		f->recycle_err = -ECANCELED;
		f->next = rec->done;
		rec->done = f;
	}
	rec->todo_tail = &rec->todo;
	drain(rec);
	uv_close((uv_handle_t *)&rec->check, on_close);
	uv_close((uv_handle_t *)&rec->wakeup, on_close);
}
