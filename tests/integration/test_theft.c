/* test_theft.c - no client takes a hugepage the daemon does not account to
 * it, even while the daemon recycles (issue 20, item 1), and a frame lost
 * to some other process comes back once that process lets go.
 *
 * 1. A thief, an ordinary member of the socket group (nobody) on the raw
 *    protocol, keeps the descriptors of three frames it freed and of one it
 *    still owns, and spins: fallocate() and ftruncate() into the freed ones,
 *    growing the owned one to four pages and faulting them in. Meanwhile
 *    the test allocates and frees a whole frame 200 times, so the daemon
 *    recycles all the while (truncate, re-fault), which is when a page
 *    passes through the kernel's free list. Not one call of the thief may
 *    succeed, none of its files may ever hold more than its own page, the
 *    daemon loses no frame, and every hugepage is back at the end.
 *    (Before frames were sealed memfds, the thief caught every recycled
 *    page into its old file, and the pool emptied while it was charged
 *    nothing.)
 * 2. A hog (nobody too: MAP_HUGETLB needs no privilege) takes every free
 *    2 MiB hugepage of the machine and spins taking more, while the test
 *    churns frames again: a recycled page it catches is lost to the pool.
 *    When the hog exits, the daemon's retries bring every lost frame back
 *    (counted and logged), and the pool is whole again.
 *
 * Both parts read machine-wide hugepage counts and part 2 empties the
 * machine's free pool on purpose: they take the hugepage lock
 * (harness_hugepages_alone()) and skip where they cannot have it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define FRAME (2 * MiB)
#define POOL "0:2M:32M" /* 16 frames */
#define NFRAMES 16
#define NOBODY 65534
#define NKEPT 3      /* freed frames whose descriptors the thief keeps */
#define NCHURN 200   /* frames recycled under the thief */
#define NCHURN_HOG 150
#define HOG_MAX 65536

static struct harness_daemon dm;
static struct contig_client *me;

static void drop_to_nobody(void)
{
	if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		_exit(126);
}

/* ---- 1. the thief ---- */

struct thief_report {
	int ready;                /* its frames allocated and freed as planned */
	uint64_t tries;           /* rounds of attack */
	uint64_t won;             /* calls that succeeded (each one a page or a size gained) */
	uint64_t max_kept_bytes;  /* the most any freed frame's file held */
	uint64_t max_owned_bytes; /* the most its owned frame's file held */
	int64_t owned_size;       /* its owned frame's size at the end */
};

static uint64_t held_bytes(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static sigjmp_buf bus_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_env, 1);
}

/* Fault in the byte at @p: whether a page was there (or came). A SIGBUS
 * (no page to be had) is a no. */
static bool faults_in(const volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile bool got = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (!sigsetjmp(bus_env, 1)) {
		(void)*p;
		got = true;
	}
	sigaction(SIGBUS, &old, NULL);
	return got;
}

/* A stats round trip whose reply is dropped: something to wait on that
 * is not a sleep. */
static void raw_stats_free(int sock, uint64_t seq)
{
	Contig__Reply *reply = raw_stats(sock, seq);

	if (reply)
		contig__reply__free_unpacked(reply, NULL);
}

static int thief_main(int ctl, void *arg)
{
	struct thief_report rep = { 0 };
	int sock, kept[NKEPT], owned;
	uint64_t id, ids[NKEPT], seq = 2;
	struct stat st;
	char stop;

	(void)arg;
	drop_to_nobody();
	sock = raw_connect_hello(dm.sock);
	rep.ready = 1;
	/* The owned frame first, then three held at once and freed: a session
	 * keeps the frame its free empties for a while (session.c, kept
	 * frames), so a frame freed and then allocated again would be the
	 * same one; the stats requests below give the kept one back. */
	owned = raw_alloc_fd(sock, seq++, FRAME, &id);
	rep.ready &= owned >= 0;
	for (int i = 0; i < NKEPT; i++) {
		kept[i] = raw_alloc_fd(sock, seq++, FRAME, &ids[i]);
		rep.ready &= kept[i] >= 0;
	}
	for (int i = 0; i < NKEPT; i++)
		rep.ready &= raw_free(sock, seq++, ids[i]) == CONTIG__STATUS__OK;
	/* From the moment the daemon has truncated its freed frames (a round
	 * trip orders our free before any later request; the recycler runs
	 * soon after), a page in one of them is a page gained. */
	for (int i = 0; rep.ready && i < NKEPT; i++) {
		struct stat kst;
		int spins = 0;

		while (fstat(kept[i], &kst) == 0 && kst.st_size != 0 && spins++ < 1000000)
			raw_stats_free(sock, seq++);
		rep.ready &= kst.st_size == 0;
	}
	harness_send(ctl, &rep, sizeof(rep));
	while (rep.ready) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };
		uint8_t *m;

		if (poll(&p, 1, 0) > 0)
			break;
		rep.tries++;
		for (int i = 0; i < NKEPT; i++) {
			rep.won += fallocate(kept[i], 0, 0, FRAME) == 0;
			rep.won += ftruncate(kept[i], FRAME) == 0;
			if (held_bytes(kept[i]) > rep.max_kept_bytes)
				rep.max_kept_bytes = held_bytes(kept[i]);
		}
		rep.won += ftruncate(owned, 4 * FRAME) == 0;
		rep.won += fallocate(owned, 0, FRAME, 3 * FRAME) == 0;
		m = mmap(NULL, 4 * FRAME, PROT_READ, MAP_SHARED | MAP_NORESERVE, owned, 0);
		if (m != MAP_FAILED) {
			/* A fault past the end is SIGBUS; touch only what the
			 * file claims to have. */
			if (fstat(owned, &st) == 0 && (uint64_t)st.st_size > FRAME)
				rep.won += faults_in(m + FRAME);
			munmap(m, 4 * FRAME);
		}
		if (held_bytes(owned) > rep.max_owned_bytes)
			rep.max_owned_bytes = held_bytes(owned);
	}
	if (rep.ready)
		harness_recv(ctl, &stop, 1);
	rep.owned_size = fstat(owned, &st) == 0 ? (int64_t)st.st_size : -1;
	harness_send(ctl, &rep, sizeof(rep));
	close(sock);
	return 0;
}

/* Allocate and free one whole frame @n times: each free recycles it (the
 * stats request after it gives back the frame the session would keep
 * otherwise, session.c's kept frames). */
static int churn(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct contig_alloc_req req;
		struct contig_buffer buf;
		int r;

		contig_alloc_req_init(&req, FRAME);
		r = contig_alloc(me, &req, &buf);
		if (r < 0) {
			diag("  allocation %u: %s", i, contig_last_message());
			return r;
		}
		((volatile uint8_t *)buf.virt)[0] = 1;
		r = contig_free(me, buf.virt);
		if (r < 0) {
			diag("  free %u: %s", i, contig_last_message());
			return r;
		}
		{
			struct contig_stats st;

			if (contig_get_stats(me, &st) < 0)
				return -EIO;
		}
	}
	return 0;
}

/* Only the test's own client, nothing owned or recycling, nothing lost. */
static bool whole(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->nsessions == 1 && st->pools[0].nframes_owned == 0 &&
	       st->pools[0].nframes_recycling == 0 &&
	       st->pools[0].nframes == NFRAMES; /* (counts no lost frame) */
}

static struct contig_stats stats_now(void)
{
	struct contig_stats st;

	if (contig_get_stats(me, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st;
}

static void test_thief(uint64_t free_before, bool alone, const char *why)
{
	struct thief_report rep;
	struct harness_child thief;
	struct contig_stats before = stats_now(), after;
	char stop = 1;
	int r;

	harness_child_start(&thief, thief_main, NULL);
	harness_recv(thief.fd, &rep, sizeof(rep));
	if (!ok(rep.ready, "the_thief_holds_3_freed_and_recycled_frame_descriptors_and_owns_one"))
		bail_out("the thief could not set up");
	r = churn(NCHURN);
	is_u64((uint64_t)-r, 0, "200_frames_are_allocated_and_freed_under_the_attack");
	harness_send(thief.fd, &stop, 1);
	harness_recv(thief.fd, &rep, sizeof(rep));
	diag("  the thief attacked %llu times", (unsigned long long)rep.tries);
	ok(rep.tries > 0, "the_thief_ran_while_frames_were_recycled");
	if (!ok(rep.won == 0, "no_fallocate_ftruncate_or_fault_of_the_thief_succeeds"))
		diag("  %llu of its calls succeeded", (unsigned long long)rep.won);
	ok(rep.max_kept_bytes == 0, "its_freed_frames_never_hold_a_page_again (at most %llu bytes)",
	   (unsigned long long)rep.max_kept_bytes);
	ok(rep.max_owned_bytes == FRAME && rep.owned_size == FRAME,
	   "its_owned_frame_never_holds_more_than_its_page (%llu bytes, size %lld)",
	   (unsigned long long)rep.max_owned_bytes, (long long)rep.owned_size);
	ok(harness_child_wait(&thief) == 0, "the_thief_exits");
	ok(harness_wait_stats(me, whole, NULL), "the_pool_is_whole_after_the_thief_is_gone");
	after = stats_now();
	ok(after.nrecycled - before.nrecycled >= NCHURN, "the_daemon_recycled_all_along (%llu)",
	   (unsigned long long)(after.nrecycled - before.nrecycled));
	is_u64(after.nframes_lost - before.nframes_lost, 0, "no_frame_was_lost_to_the_thief");
	if (alone)
		ok(harness_free_hugepages(FRAME) == free_before,
		   "every_hugepage_the_thief_touched_is_back (%llu free, %llu before)",
		   (unsigned long long)harness_free_hugepages(FRAME),
		   (unsigned long long)free_before);
	else
		ok(true, "every_hugepage_the_thief_touched_is_back # SKIP %s", why);
}

/* ---- 2. the hog ---- */

/* Take one 2 MiB hugepage from the kernel: MAP_HUGETLB fails at once when
 * none is free. */
static bool take_one(void)
{
	void *m = mmap(NULL, FRAME, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);

	return m != MAP_FAILED;
}

static int hog_main(int ctl, void *arg)
{
	uint64_t held = 0, caught = 0;
	char stop;

	(void)arg;
	drop_to_nobody();
	while (held < HOG_MAX && take_one())
		held++;
	harness_send(ctl, &held, sizeof(held));
	for (;;) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };

		if (take_one())
			caught++;
		else if (poll(&p, 1, 0) > 0)
			break;
	}
	harness_recv(ctl, &stop, 1);
	harness_send(ctl, &caught, sizeof(caught));
	harness_recv(ctl, &stop, 1); /* held until the parent has looked */
	return 0;
}

/* Nothing recycling (the churn's last frame is home or lost). */
static bool quiet(const struct contig_stats *st, void *arg)
{
	(void)arg;
	return st->pools[0].nframes_recycling == 0 && st->pools[0].nframes_owned == 0;
}

static void test_hog(void)
{
	struct contig_stats before = stats_now(), during, after;
	struct harness_child hog;
	uint64_t held, caught, lost;
	off_t mark = harness_daemon_log_len(&dm);
	char go = 1;
	int r;

	harness_child_start(&hog, hog_main, NULL);
	harness_recv(hog.fd, &held, sizeof(held));
	diag("  the hog took the %llu free hugepages", (unsigned long long)held);
	r = churn(NCHURN_HOG);
	/* A request may find no frame: the hog has them. */
	ok(r == 0 || r == -ENOMEM || r == -ENOSPC, "the_daemon_serves_or_refuses_while_pages_are_caught "
	   "(%d)", r);
	harness_send(hog.fd, &go, 1);
	harness_recv(hog.fd, &caught, sizeof(caught));
	ok(harness_wait_stats(me, quiet, NULL), "recycling_settles");
	during = stats_now();
	lost = during.nframes_lost - before.nframes_lost;
	diag("  the hog caught %llu pages; %llu frames lost, %u out of service now",
	     (unsigned long long)caught, (unsigned long long)lost,
	     NFRAMES - during.pools[0].nframes);
	harness_send(hog.fd, &go, 1);
	ok(harness_child_wait(&hog) == 0, "the_hog_exits_and_lets_go");
	ok(harness_wait_stats(me, whole, NULL), "every_lost_frame_comes_back");
	after = stats_now();
	is_u64(after.nframes_recovered - before.nframes_recovered, lost,
	       "each_loss_is_counted_back_once");
	if (lost)
		ok(harness_daemon_log_since(&dm, mark, "back in service"),
		   "the_log_says_each_came_back");
	else
		ok(true, "the_log_says_each_came_back # SKIP the hog caught no frame's page this "
			 "time (it races the daemon's re-fault)");
}

int main(void)
{
	static const char conf[] = "socket_group = 0\nsocket_mode = 0666\nallow_users = nobody\n";
	char path[128], dir[64], why[160];
	const char *args[] = { "--config", path, "--pool", POOL, NULL };
	bool alone = harness_hugepages_alone(why, sizeof(why));
	uint64_t free_before;
	FILE *f;

	alarm(600);
	snprintf(dir, sizeof(dir), "/tmp/contigd-theft-XXXXXX");
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/contigd.conf", dir);
	f = fopen(path, "w");
	if (!f || fputs(conf, f) < 0 || fclose(f))
		bail_out("cannot write %s", path);
	harness_daemon_start(&dm, args);
	unlink(path);
	rmdir(dir);
	/* Every user may reach the socket: its mode is the only gate. */
	if (chmod(dm.dir, 0711) < 0)
		bail_out("chmod %s: %s", dm.dir, strerror(errno));
	me = harness_connect(&dm);
	free_before = harness_free_hugepages(FRAME); /* the pool is in */

	test_thief(free_before, alone, why);
	if (alone)
		test_hog();
	else
		ok(true, "lost_frames_come_back # SKIP the hog would empty the machine's free "
			 "hugepages: %s", why);

	contig_disconnect(me);
	ok(harness_daemon_stop(&dm) == 0, "daemon_stops_cleanly");
	harness_instance_purge(dm.sock);
	return done_testing();
}
