/* test_keeper.c - sessions survive a restart through the frame keeper, and
 * only through it (frames are sealed memfds, reachable by no path).
 *
 * DESIGN
 * Frames have no name (daemon/frames.c): a restarted daemon can reach the
 * frames a crashed one left only because the keeper (daemon/keeper.c), a
 * process of its own, holds a descriptor of each. This test checks that
 * from the outside:
 *   - what a client maps is a memfd named contigd-frame-<id>, sealed so
 *     it can never grow (F_SEAL_GROW | F_SEAL_SEAL), and nothing of the
 *     daemon is a hugetlbfs mount;
 *   - the keeper runs as its own process, outlives a SIGKILLed daemon, and
 *     its socket is root's alone (a nobody process cannot connect);
 *   - a client holds a 4 KiB and a 2 MiB buffer with patterns in them;
 *     the daemon is killed (SIGKILL) and started again: it adopts the
 *     frames from the keeper, the client reclaims its session by itself,
 *     and the patterns and physical addresses (read by this test in the
 *     client's pagemap) are unchanged;
 *   - the keeper killed while the daemon runs: the next frame recycled
 *     starts a new keeper, given every frame, and a SIGKILL after that
 *     loses nothing either;
 *   - killed once more, and the keeper killed too: the frames cannot be
 *     found, the session is refused, the client's next call fails with
 *     ECONNRESET;
 *   - a daemon stopped with no session left makes its keeper exit, and
 *     every hugepage is back.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define HUGETLBFS_MAGIC 0x958458f6
#define NOBODY 65534

enum op { OP_ALLOC, OP_CHECK, OP_QUIT };

struct res {
	int rc;
	uint64_t virt[2], phys[2];
	uint32_t nbuffers;
	bool intact;
	bool memfd;     /* both buffers map a contigd-frame memfd */
	int seals;      /* F_GET_SEALS of the 2 MiB buffer's frame */
	int grow_errno; /* ftruncate() of that frame to twice its size */
};

/* The descriptor of the mapping at @virt, from /proc/self/map_files (its
 * name from /proc/self/maps): what the library mapped is what we check. */
static int frame_of(const void *virt, bool *ret_memfd)
{
	char line[512], path[128];
	uintptr_t v = (uintptr_t)virt;
	FILE *f = fopen("/proc/self/maps", "re");
	int fd = -1;

	*ret_memfd = false;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || v < lo || v >= hi)
			continue;
		*ret_memfd = strstr(line, "/memfd:contigd-frame-") != NULL;
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", lo, hi);
		fd = open(path, O_RDWR | O_CLOEXEC);
		break;
	}
	if (f)
		fclose(f);
	return fd;
}

static uint8_t pattern(int buf, uint64_t off)
{
	return (uint8_t)(buf * 77 + off * 13 + 5);
}

/* The client: allocates on OP_ALLOC, checks its patterns and asks the
 * daemon for its stats (a call that needs the session) on OP_CHECK. */
static int client_main(int fd, void *arg)
{
	static const uint64_t lens[2] = { 4096, 2 << 20 };
	struct contig_client *c = NULL;
	struct contig_buffer bufs[2];
	enum op op;

	(void)arg;
	harness_close_inherited(fd);
	while (harness_try_recv(fd, &op, sizeof(op))) {
		struct res r = { 0 };

		if (op == OP_ALLOC) {
			r.rc = contig_connect(NULL, &c);
			for (int i = 0; i < 2 && r.rc == 0; i++) {
				struct contig_alloc_req req;

				contig_alloc_req_init(&req, lens[i]);
				r.rc = contig_alloc(c, &req, &bufs[i]);
				if (r.rc == 0)
					for (uint64_t off = 0; off < lens[i]; off++)
						((uint8_t *)bufs[i].virt)[off] = pattern(i, off);
			}
			if (r.rc == 0) {
				bool memfd[2];
				int small = frame_of(bufs[0].virt, &memfd[0]);
				int big = frame_of(bufs[1].virt, &memfd[1]);

				r.memfd = memfd[0] && memfd[1];
				r.seals = big >= 0 ? fcntl(big, F_GET_SEALS) : -1;
				r.grow_errno = big >= 0 && ftruncate(big, 4 << 20) < 0 ? errno : 0;
				if (small >= 0)
					close(small);
				if (big >= 0)
					close(big);
			}
		} else if (op == OP_CHECK) {
			struct contig_stats st;

			r.intact = true;
			for (int i = 0; i < 2; i++)
				for (uint64_t off = 0; off < lens[i]; off++)
					r.intact &= ((uint8_t *)bufs[i].virt)[off] == pattern(i, off);
			r.rc = contig_get_stats(c, &st);
			r.nbuffers = r.rc == 0 ? st.my_nbuffers : 0;
		} else {
			break;
		}
		for (int i = 0; i < 2; i++) {
			r.virt[i] = (uint64_t)(uintptr_t)bufs[i].virt;
			r.phys[i] = bufs[i].phys;
		}
		harness_send(fd, &r, sizeof(r));
	}
	contig_disconnect(c);
	return 0;
}

static struct res call(struct harness_child *ch, enum op op)
{
	struct res r;

	harness_send(ch->fd, &op, sizeof(op));
	harness_recv(ch->fd, &r, sizeof(r));
	return r;
}

/* No hugetlbfs is mounted for instance @inst under /run/contigd (where
 * its frame directories were once). */
static bool no_frame_mounts(const char *inst)
{
	char line[1024], prefix[96];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool none = true;

	snprintf(prefix, sizeof(prefix), " /run/contigd/%s-", inst);
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " hugetlbfs ") && strstr(line, prefix))
			none = false;
	if (f)
		fclose(f);
	return none;
}

static bool recycled_at_least(const struct contig_stats *st, void *arg)
{
	return st->nrecycled >= *(const uint64_t *)arg && st->pools[0].nframes_recycling == 0;
}

static bool is_hugetlbfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == HUGETLBFS_MAGIC;
}

/* What an older contigd left at /run/contigd/<inst>-2048kB: its own
 * hugetlbfs mount with a frame file holding a page. */
static bool plant_legacy_mount(const char *inst, char *path)
{
	char file[200];
	int fd;

	snprintf(path, 160, "/run/contigd/%s-2048kB", inst);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return false;
	if (mount("hugetlbfs", path, "hugetlbfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "pagesize=2M,size=4M,mode=0700") < 0) {
		rmdir(path);
		return false;
	}
	snprintf(file, sizeof(file), "%s/frame-0", path);
	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fallocate(fd, 0, 0, 2 * MiB) < 0) {
		if (fd >= 0)
			close(fd);
		umount2(path, MNT_DETACH);
		rmdir(path);
		return false;
	}
	close(fd);
	return true;
}

/* Has @pid exited (no such process, or a zombie its parent has not
 * reaped yet: the keeper is init's, which reaps when it gets to it)? */
static bool exited(pid_t pid)
{
	char path[64], stat_line[512], *paren;
	FILE *f;
	bool gone = true;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f && fgets(stat_line, sizeof(stat_line), f) && (paren = strrchr(stat_line, ')')))
		gone = paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
	if (f)
		fclose(f);
	return gone;
}

/* Can a nobody process connect to the keeper's socket? Returns its errno
 * (0: it could). */
static int nobody_connects(const char *path)
{
	int err = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		int sock = socket(AF_UNIX, SOCK_SEQPACKET, 0);

		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(255);
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
		_exit(connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &err, 0) != pid || !WIFEXITED(err))
		return -1;
	return WEXITSTATUS(err);
}

int main(void)
{
	const char *args[] = { "--pool", "0:2M:16M", NULL };
	char why[160];
	bool alone = harness_hugepages_alone(why, sizeof(why)); /* the counts are machine-wide */
	uint64_t free_before = harness_free_hugepages(2 * MiB);
	struct harness_daemon d;
	struct harness_child ch;
	struct res r, after;
	char inst[64], keeper_path[108], legacy[160];
	bool legacy_ok;
	struct stat st;
	pid_t keeper;
	off_t mark;
	bool same_phys = true;
	int err;

	harness_daemon_start(&d, args);
	harness_instance_name(d.sock, inst, sizeof(inst));
	snprintf(keeper_path, sizeof(keeper_path), "/run/contigd/%s.keeper", inst);
	keeper = harness_keeper_pid(d.sock);
	ok(keeper > 0 && keeper != d.pid, "a_frame_keeper_runs_as_a_process_of_its_own (pid %d)",
	   (int)keeper);
	memset(&st, 0, sizeof(st));
	err = stat(keeper_path, &st) < 0 ? errno : 0;
	ok(err == 0 && S_ISSOCK(st.st_mode) && st.st_uid == 0 && (st.st_mode & 077) == 0,
	   "its_socket_is_roots_alone (%s, mode %o)", keeper_path, (unsigned)(st.st_mode & 07777));
	err = nobody_connects(keeper_path);
	ok(err == EACCES, "a_nobody_process_cannot_connect_to_it (%s)",
	   err > 0 ? strerror(err) : err == 0 ? "it could" : "no answer");
	ok(no_frame_mounts(inst), "no_hugetlbfs_is_mounted_for_its_frames");

	harness_child_start(&ch, client_main, NULL);
	r = call(&ch, OP_ALLOC);
	if (r.rc < 0)
		bail_out("the client could not allocate: %d", r.rc);
	ok(r.memfd, "what_the_client_maps_are_contigd_frame_memfds");
	ok(r.seals == (F_SEAL_GROW | F_SEAL_SEAL), "its_frame_is_sealed_against_growth (seals %#x)",
	   (unsigned)r.seals);
	ok(r.grow_errno == EPERM, "growing_it_fails_with_eperm (%s)", strerror(r.grow_errno));

	/* 1. killed, started again: the keeper hands the frames over */
	harness_daemon_kill(&d, SIGKILL);
	ok(harness_keeper_pid(d.sock) == keeper, "the_keeper_outlives_the_daemon");
	mark = harness_daemon_log_len(&d);
	harness_daemon_restart(&d, args);
	ok(harness_daemon_log_since(&d, mark, "(2 adopted)"),
	   "the_restarted_daemon_adopts_the_two_frames_from_the_keeper");
	after = call(&ch, OP_CHECK);
	ok(after.rc == 0 && after.nbuffers == 2, "the_client_reclaims_its_session (rc %d, %u buffers)",
	   after.rc, after.nbuffers);
	ok(after.intact, "both_patterns_are_intact");
	for (int i = 0; i < 2; i++)
		same_phys &= after.virt[i] == r.virt[i] && after.phys[i] == r.phys[i] &&
			     harness_phys_of(ch.pid, (void *)(uintptr_t)r.virt[i]) == r.phys[i];
	ok(same_phys, "same_virtual_and_physical_addresses_per_pagemap");
	ok(harness_keeper_pid(d.sock) == keeper, "the_new_daemon_keeps_the_same_keeper");

	/* 2. the keeper killed while the daemon runs: the daemon's next word
	 * to it (a recycled frame) starts a new one with every frame, and a
	 * crash after that still loses nothing */
	{
		struct contig_client *other = harness_connect(&d);
		struct contig_alloc_req req;
		struct contig_buffer buf;
		struct contig_stats now;
		uint64_t want;
		pid_t old = harness_keeper_pid(d.sock);

		harness_keeper_stop(d.sock);
		if (contig_get_stats(other, &now) < 0)
			bail_out("stats: %s", contig_last_message());
		want = now.nrecycled + 1;
		contig_alloc_req_init(&req, 2 * MiB);
		if (contig_alloc(other, &req, &buf) < 0 || contig_free(other, buf.virt) < 0)
			bail_out("alloc/free: %s", contig_last_message());
		ok(harness_wait_stats(other, recycled_at_least, &want), "a_frame_is_recycled");
		keeper = harness_keeper_pid(d.sock);
		ok(keeper > 0 && keeper != old, "a_new_keeper_runs (pid %d, was %d)", (int)keeper,
		   (int)old);
		contig_disconnect(other);
	}
	harness_daemon_kill(&d, SIGKILL);
	mark = harness_daemon_log_len(&d);
	harness_daemon_restart(&d, args);
	ok(harness_daemon_log_since(&d, mark, "(2 adopted)"),
	   "the_new_keeper_had_every_frame_a_session_owns");
	after = call(&ch, OP_CHECK);
	ok(after.rc == 0 && after.nbuffers == 2 && after.intact,
	   "the_client_reclaims_its_session_intact (rc %d, %u buffers)", after.rc, after.nbuffers);

	/* 3. killed again, and the keeper too: nothing to find; and a mount
	 * an older contigd left (its frames were files there) is released */
	harness_daemon_kill(&d, SIGKILL);
	harness_keeper_stop(d.sock);
	legacy_ok = plant_legacy_mount(inst, legacy);
	mark = harness_daemon_log_len(&d);
	harness_daemon_restart(&d, args);
	if (legacy_ok)
		ok(harness_daemon_log_since(&d, mark, "mounts of an older contigd released") &&
			   !is_hugetlbfs(legacy),
		   "a_mount_an_older_contigd_left_is_released (%s)", legacy);
	else
		ok(true, "a_mount_an_older_contigd_left_is_released # SKIP could not mount "
			 "hugetlbfs at %s", legacy);
	ok(harness_daemon_log_since(&d, mark, "(0 adopted)"),
	   "without_the_keeper_the_daemon_adopts_nothing");
	ok(harness_keeper_pid(d.sock) > 0, "it_starts_a_new_keeper");
	after = call(&ch, OP_CHECK);
	ok(after.rc == -ECONNRESET, "the_client_learns_its_session_is_gone (rc %d)", after.rc);
	{
		enum op quit = OP_QUIT;

		harness_send(ch.fd, &quit, sizeof(quit));
	}
	ok(harness_child_wait(&ch) == 0, "the_client_exits_cleanly");
	keeper = harness_keeper_pid(d.sock);
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
	ok(harness_keeper_pid(d.sock) == 0 && keeper > 0 && exited(keeper),
	   "with_no_session_left_its_keeper_has_exited (pid %d)", (int)keeper);
	if (alone)
		ok(harness_free_hugepages(2 * MiB) == free_before,
		   "every_hugepage_is_back (%llu free, %llu before)",
		   (unsigned long long)harness_free_hugepages(2 * MiB),
		   (unsigned long long)free_before);
	else
		ok(true, "every_hugepage_is_back # SKIP %s", why);
	harness_instance_purge(d.sock);
	return done_testing();
}
