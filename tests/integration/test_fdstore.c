/* test_fdstore.c - sessions survive a restart through systemd's file
 * descriptor store, with the mounts invisible by path (PrivateMounts).
 *
 * DESIGN
 * Under systemd the daemon's hugetlbfs mounts live in the service's own
 * mount namespace and die with the process; a restarted daemon can reach
 * the frames a crashed one left only through the mount roots it stored
 * (sd_notify FDSTORE=1, FDNAME=frames-<kB>kB.<part>) and systemd passes
 * back (LISTEN_FDS, LISTEN_FDNAMES). The harness plays systemd: it runs
 * the daemon in a mount namespace of its own, holds what it stores, and
 * passes it back at the restart.
 *
 * A client process holds a 4 KiB and a 2 MiB buffer with patterns in them.
 * The daemon is killed (SIGKILL) and started again, in a new namespace:
 *   - with the stored roots: it adopts the frames, the client reclaims its
 *     session by itself, and the patterns and physical addresses (read by
 *     this test in the client's pagemap) are unchanged;
 *   - without them (killed once more): the frames cannot be found, the
 *     session is refused, the client's next call fails with ECONNRESET,
 *     and once the harness lets go of the roots every hugepage is back.
 *
 * Skipped (1..0 # SKIP, with the reason) where the daemon cannot have a
 * private mount namespace: a container without CAP_SYS_ADMIN, or a chroot,
 * whose "/" is no mount point and so cannot be made private.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "harness.h"

#define HUGETLBFS_MAGIC 0x958458f6

enum op { OP_ALLOC, OP_CHECK, OP_QUIT };

struct res {
	int rc;
	uint64_t virt[2], phys[2];
	uint32_t nbuffers;
	bool intact;
};

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

static bool is_hugetlbfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == HUGETLBFS_MAGIC;
}

int main(void)
{
	const char *args[] = { "--pool", "0:2M:16M", NULL };
	const struct harness_spawn private = { .private_mounts = true };
	const struct harness_spawn from_store = { .private_mounts = true, .pass_stored = true };
	char why[160];
	bool alone = harness_hugepages_alone(why, sizeof(why)); /* the counts are machine-wide */
	uint64_t free_before = harness_free_hugepages(2 * MiB);
	struct harness_daemon d;
	struct harness_child ch;
	struct res r, after;
	char inst[64], mount_path[160];
	struct statfs sf;
	off_t mark;
	bool same_phys = true;
	const char *missing = harness_private_mounts_missing();

	if (missing)
		skip_all("%s", missing);
	harness_daemon_start_how(&d, args, &private);
	ok(d.nstored == 1 && !strcmp(d.stored[0].name, "frames-2048kB.0"),
	   "the_daemon_stores_its_mount_root (%d stored, %s)", d.nstored,
	   d.nstored ? d.stored[0].name : "-");
	harness_instance_name(d.sock, inst, sizeof(inst));
	snprintf(mount_path, sizeof(mount_path), "/run/contigd/%s-2048kB", inst);
	ok(!is_hugetlbfs(mount_path), "its_mount_is_not_visible_outside_its_namespace (%s)",
	   mount_path);

	harness_child_start(&ch, client_main, NULL);
	r = call(&ch, OP_ALLOC);
	if (r.rc < 0)
		bail_out("the client could not allocate: %d", r.rc);

	/* 1. killed, started again with what it stored */
	harness_daemon_kill(&d, SIGKILL);
	ok(d.nstored == 1 && fstatfs(d.stored[0].fd, &sf) == 0 &&
		   (unsigned long)sf.f_type == HUGETLBFS_MAGIC,
	   "the_stored_root_outlives_the_daemon_and_its_namespace");
	mark = harness_daemon_log_len(&d);
	harness_daemon_restart_how(&d, args, &from_store);
	ok(harness_daemon_log_since(&d, mark, "(2 adopted)"),
	   "the_restarted_daemon_adopts_the_two_frames_through_the_store");
	after = call(&ch, OP_CHECK);
	ok(after.rc == 0 && after.nbuffers == 2, "the_client_reclaims_its_session (rc %d, %u buffers)",
	   after.rc, after.nbuffers);
	ok(after.intact, "both_patterns_are_intact");
	for (int i = 0; i < 2; i++)
		same_phys &= after.virt[i] == r.virt[i] && after.phys[i] == r.phys[i] &&
			     harness_phys_of(ch.pid, (void *)(uintptr_t)r.virt[i]) == r.phys[i];
	ok(same_phys, "same_virtual_and_physical_addresses_per_pagemap");
	ok(d.nstored == 1, "the_new_daemon_stores_its_root_again");

	/* 2. killed again, started without the store: nothing to find */
	harness_daemon_kill(&d, SIGKILL);
	mark = harness_daemon_log_len(&d);
	harness_daemon_restart_how(&d, args, &private); /* lets go of the old root */
	ok(harness_daemon_log_since(&d, mark, "(0 adopted)"),
	   "without_the_store_the_daemon_adopts_nothing");
	after = call(&ch, OP_CHECK);
	ok(after.rc == -ECONNRESET, "the_client_learns_its_session_is_gone (rc %d)", after.rc);
	{
		enum op quit = OP_QUIT;

		harness_send(ch.fd, &quit, sizeof(quit));
	}
	ok(harness_child_wait(&ch) == 0, "the_client_exits_cleanly");
	ok(harness_daemon_stop(&d) == 0, "daemon_stops_cleanly");
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
