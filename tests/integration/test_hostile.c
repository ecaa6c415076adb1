/* test_hostile.c - what an ordinary member of the socket group cannot do
 * with a client of its own (issue 20, items 4 to 7), each tried the way an
 * attacker would, against the real daemon and the real contigctl:
 *
 *   4. learn where another client's memory is: by diffing its frame list
 *      around the other's allocation, or by the index at which it once saw
 *      its own frame;
 *   5. reach root's terminal with its process name (escape sequences, a
 *      newline that forges a log line): in the daemon's log and in every
 *      contigctl text output;
 *   6. take the table of pool tags from others: by using 1100 tags one
 *      after the other, or by holding 1100 at once;
 *   7. have the daemon chown/chmod a file of its choice through the socket
 *      path: a symlink planted at the socket path in a directory it owns, or
 *      swapped in between bind() and the owner being set (made certain with
 *      ptrace: the daemon is stopped right after its bind() returns).
 *
 * The attacker is a child process that drops to nobody and then runs
 * libcontig on the parent's command; the victim is the test itself (root)
 * or another nobody. No sleeps: each step is a round trip to the daemon,
 * whose single loop orders everything; a wedged daemon fails the test by
 * SIGALRM.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FRAME (2 * MiB)
#define POOL "0:2M:32M" /* 16 frames */
#define NOBODY 65534u
#define MAX_LISTED 64
#define NTAGS 1100 /* more than the daemon's table of 1024 */
#define TAG_OTHER 0xffffffffu
#define EVIL_COMM "ev\033[2J\a\nforged" /* clears the screen, rings, forges a line */

static char confdir[64];

/* ---- the attacker: a nobody client run by command ---- */

enum op { OP_ALLOC, OP_FREE, OP_LIST, OP_SETTLE, OP_CHURN_TAGS, OP_HOLD_TAGS, OP_FREE_ALL };

struct cmd {
	int op;
	uint64_t len, lowest, highest;
	uint32_t tag, n;
	int buf;
};

struct res {
	int rc;
	char message[200];
	int buf;       /* OP_ALLOC: for OP_FREE */
	uint64_t phys; /* OP_ALLOC */
	uint32_t nframes, nother; /* OP_LIST; OP_HOLD_TAGS: buffers counted under "other" */
	struct contig_frame_info frames[MAX_LISTED];
};

struct attacker {
	const char *comm;
	struct harness_child ch;
};

#define NBUFS 16

static bool recycled(const struct contig_stats *st, void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < st->npools; i++)
		if (st->pools[i].nframes_recycling)
			return false;
	return true;
}

/* Allocate @n 4 KiB buffers tagged @first, @first + 1, ... on @c. */
static int alloc_tagged(struct contig_client *c, uint32_t first, uint32_t n,
			struct contig_buffer *ret_bufs)
{
	struct contig_alloc_req *reqs = calloc(n, sizeof(*reqs));
	int r;

	if (!reqs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		contig_alloc_req_init(&reqs[i], 4096);
		reqs[i].tag = first + i;
	}
	r = contig_alloc_many(c, reqs, n, ret_bufs);
	free(reqs);
	return r;
}

static int free_bufs(struct contig_client *c, const struct contig_buffer *bufs, uint32_t n)
{
	void **virts = calloc(n ? n : 1, sizeof(*virts));
	int r;

	if (!virts)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		virts[i] = bufs[i].virt;
	r = contig_free_many(c, virts, n);
	free(virts);
	return r;
}

static int attacker_main(int fd, void *arg)
{
	const struct attacker *a = arg;
	static struct res res;
	struct contig_buffer bufs[NBUFS], *held = NULL;
	struct contig_client *c;
	uint32_t nheld = 0;
	int nbufs = 0;
	struct cmd cmd;

	harness_close_inherited(fd);
	prctl(PR_SET_NAME, a->comm, 0, 0, 0);
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return 3;
	if (contig_connect(NULL, &c) < 0)
		return 4;
	while (harness_try_recv(fd, &cmd, sizeof(cmd))) {
		memset(&res, 0, sizeof(res));
		res.buf = -1;
		switch (cmd.op) {
		case OP_ALLOC: {
			struct contig_alloc_req req;

			contig_alloc_req_init(&req, cmd.len);
			req.lowest_phys = cmd.lowest;
			req.highest_phys = cmd.highest ? cmd.highest : CONTIG_PHYS_MAX;
			req.tag = cmd.tag;
			res.rc = nbufs < NBUFS ? contig_alloc(c, &req, &bufs[nbufs]) : -ENOSPC;
			if (res.rc == 0) {
				res.phys = bufs[nbufs].phys;
				res.buf = nbufs++;
			}
			break;
		}
		case OP_FREE:
			res.rc = cmd.buf >= 0 && cmd.buf < nbufs && bufs[cmd.buf].virt
					 ? contig_free(c, bufs[cmd.buf].virt)
					 : -EBADF;
			if (res.rc == 0)
				bufs[cmd.buf].virt = NULL;
			break;
		case OP_LIST: {
			struct contig_frame_info *frames;
			size_t n;

			res.rc = contig_list_frames(c, &frames, &n);
			if (res.rc == 0) {
				res.nframes = n < MAX_LISTED ? (uint32_t)n : MAX_LISTED;
				memcpy(res.frames, frames, res.nframes * sizeof(*frames));
				free(frames);
			}
			break;
		}
		case OP_SETTLE:
			res.rc = harness_wait_stats(c, recycled, NULL) ? 0 : -ETIMEDOUT;
			break;
		case OP_CHURN_TAGS: {
			/* @n tags, 100 live at a time, each freed: none left live. */
			struct contig_buffer batch[100];

			for (uint32_t done = 0; res.rc == 0 && done < cmd.n; done += 100) {
				uint32_t k = cmd.n - done < 100 ? cmd.n - done : 100;

				res.rc = alloc_tagged(c, cmd.tag + done, k, batch);
				if (res.rc == 0)
					res.rc = free_bufs(c, batch, k);
			}
			break;
		}
		case OP_HOLD_TAGS:
			/* @n buffers of @n tags, kept; how many were counted under "other"? */
			free(held);
			held = calloc(cmd.n, sizeof(*held));
			res.rc = held ? alloc_tagged(c, cmd.tag, cmd.n, held) : -ENOMEM;
			if (res.rc == 0) {
				/* the daemon's account of them, not the requests' */
				struct contig_buffer_info *infos;
				size_t n;

				nheld = cmd.n;
				res.rc = contig_list_buffers(c, &infos, &n);
				for (size_t i = 0; res.rc == 0 && i < n; i++)
					res.nother += infos[i].tag == TAG_OTHER;
				if (res.rc == 0)
					free(infos);
			}
			break;
		case OP_FREE_ALL:
			res.rc = held ? free_bufs(c, held, nheld) : 0;
			free(held);
			held = NULL;
			nheld = 0;
			break;
		default:
			res.rc = -EINVAL;
		}
		snprintf(res.message, sizeof(res.message), "%s", contig_last_message());
		harness_send(fd, &res, sizeof(res));
	}
	free(held);
	contig_disconnect(c);
	return 0;
}

static void attacker_start(struct attacker *a, const char *comm)
{
	a->comm = comm;
	harness_child_start(&a->ch, attacker_main, a);
}

static void attacker_stop(struct attacker *a)
{
	int status = harness_child_wait(&a->ch);

	if (status != 0)
		diag("  attacker %s exited with status %d", a->comm, status);
}

/* Have the attacker do @cmd; the result stays valid until the next call. */
static const struct res *ask(struct attacker *a, struct cmd cmd)
{
	static struct res res;

	harness_send(a->ch.fd, &cmd, sizeof(cmd));
	if (!harness_try_recv(a->ch.fd, &res, sizeof(res))) {
		memset(&res, 0, sizeof(res));
		res.rc = -ECHILD;
		snprintf(res.message, sizeof(res.message), "the attacker process died");
	}
	return &res;
}

/* ---- 4: physical addresses ---- */

/* Is @l a list where only the caller's own frames (owner @pid) have an
 * address, they come first, and the rest follow by state alone? */
static bool list_shape_ok(const struct res *l, int pid, uint32_t *ret_nmine)
{
	uint32_t i = 0;

	for (; i < l->nframes && l->frames[i].phys && l->frames[i].owner_pid == pid; i++)
		;
	*ret_nmine = i;
	for (uint32_t k = i; k < l->nframes; k++)
		if (l->frames[k].phys || l->frames[k].owner_pid ||
		    (k > i && l->frames[k].status < l->frames[k - 1].status))
			return false;
	return true;
}

static void test_frame_addresses(struct contig_client *me)
{
	struct attacker a;
	struct res before, after, later;
	struct contig_buffer v[2], pinned;
	uint64_t mine, victim[2];
	uint32_t nmine = 0, own_index = UINT32_MAX, leaked = 0;
	const struct res *r;
	int own;

	attacker_start(&a, "addr-thief");
	r = ask(&a, (struct cmd){ .op = OP_ALLOC, .len = FRAME });
	if (r->rc < 0)
		bail_out("attacker alloc: %s", r->message);
	own = r->buf;
	mine = r->phys;
	before = *ask(&a, (struct cmd){ .op = OP_LIST });
	if (before.rc < 0 || before.nframes != 16)
		bail_out("attacker list: %d %s (%u frames)", before.rc, before.message, before.nframes);
	for (uint32_t i = 0; i < before.nframes; i++)
		if (before.frames[i].phys == mine)
			own_index = i;
	{
		bool only_own = own_index != UINT32_MAX;

		for (uint32_t i = 0; i < before.nframes; i++)
			only_own &= !before.frames[i].phys ||
				    (before.frames[i].phys == mine &&
				     before.frames[i].owner_pid == a.ch.pid);
		if (!ok(only_own, "a_non_root_client_sees_the_physical_address_of_its_own_frames_only"))
			for (uint32_t i = 0; i < before.nframes; i++)
				if (before.frames[i].phys && before.frames[i].phys != mine)
					diag("  entry %u: %s frame at 0x%llx", i,
					     before.frames[i].status == CONTIG_FRAME_STATUS_FREE ? "free"
												   : "other",
					     (unsigned long long)before.frames[i].phys);
	}
	ok(list_shape_ok(&before, a.ch.pid, &nmine) && nmine == 1,
	   "a_non_root_frame_list_is_its_own_frames_then_the_others_by_state_alone");

	/* The victim takes two frames; the attacker lists again and diffs. */
	for (int i = 0; i < 2; i++) {
		if (contig_alloc(me, &(struct contig_alloc_req){ .len = FRAME,
								 .highest_phys = CONTIG_PHYS_MAX,
								 .cache_type = CONTIG_CACHED,
								 .node = CONTIG_NODE_ANY,
								 .priority = CONTIG_PRIORITY_HIGH },
				 &v[i]) < 0)
			bail_out("victim alloc: %s", contig_last_message());
		memset(v[i].virt, 0x5a, 4096);
		victim[i] = harness_phys_of(getpid(), v[i].virt);
		if (victim[i] != v[i].phys)
			bail_out("pagemap 0x%llx, libcontig 0x%llx", (unsigned long long)victim[i],
				 (unsigned long long)v[i].phys);
	}
	after = *ask(&a, (struct cmd){ .op = OP_LIST });
	for (uint32_t i = 0; i < after.nframes && i < before.nframes; i++) {
		/* An address seen before where a frame of someone else is now,
		 * or an address seen now that is not the attacker's. */
		uint64_t guess = after.frames[i].status == CONTIG_FRAME_STATUS_OWNED &&
						 after.frames[i].owner_pid != a.ch.pid
					 ? before.frames[i].phys
					 : after.frames[i].phys != mine ? after.frames[i].phys : 0;

		leaked += guess && (guess == victim[0] || guess == victim[1]);
	}
	if (!ok(after.rc == 0 && leaked == 0,
		"diffing_the_frame_list_around_another_clients_allocation_finds_none_of_its_addresses"))
		diag("  %u of the victim's 2 frame addresses found by the diff", leaked);

	/* The index at which the attacker saw its own frame: after it gave
	 * the frame back and the victim took that very frame, does the entry
	 * at that index follow the frame? */
	if (ask(&a, (struct cmd){ .op = OP_FREE, .buf = own })->rc < 0 ||
	    ask(&a, (struct cmd){ .op = OP_SETTLE })->rc < 0)
		bail_out("attacker free");
	if (contig_alloc(me, &(struct contig_alloc_req){ .len = FRAME, .lowest_phys = mine,
							 .highest_phys = mine + FRAME - 1,
							 .cache_type = CONTIG_CACHED,
							 .node = CONTIG_NODE_ANY,
							 .priority = CONTIG_PRIORITY_HIGH },
			 &pinned) < 0) {
		ok(true, "a_frame_list_index_the_client_once_owned_does_not_follow_that_frame # SKIP "
			 "the recycled frame came back elsewhere: %s", contig_last_message());
	} else {
		later = *ask(&a, (struct cmd){ .op = OP_LIST });
		if (!ok(later.rc == 0 && own_index < later.nframes &&
				later.frames[own_index].status != CONTIG_FRAME_STATUS_OWNED &&
				list_shape_ok(&later, a.ch.pid, &nmine) && nmine == 0,
			"a_frame_list_index_the_client_once_owned_does_not_follow_that_frame"))
			diag("  entry %u (0x%llx when it was the attacker's) is now %d", own_index,
			     (unsigned long long)mine, later.frames[own_index].status);
		contig_free(me, pinned.virt);
	}
	contig_free(me, v[0].virt);
	contig_free(me, v[1].virt);
	attacker_stop(&a);
}

/* ---- 5: a process name that is an escape sequence ---- */

static char errbuf[4096];

/* Run contigctl with @args as root: see harness_run_program(). */
static int run_ctl(const char *const *args, char **ret_out)
{
	return harness_run_program("contigctl", 0, args, ret_out, errbuf, sizeof(errbuf));
}

/* The first byte of @text (@len bytes) a terminal could act on, other than
 * the newline that ends a line; -1 if none. */
static long first_control(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if ((ch < 0x20 && ch != '\n') || ch >= 0x7f)
			return (long)i;
	}
	return -1;
}

static void test_escapes(const struct harness_daemon *dm)
{
	static const char escaped[] = "ev\\x1b[2J\\x07\\x0aforged";
	static const char *const cmds[][4] = {
		{ "clients", NULL }, { "buffers", NULL },
		{ "map", "--color", "never", NULL }, { "tags", NULL },
	};
	static char log[1 << 20];
	struct attacker a;
	const struct res *r;
	ssize_t n;
	long at;
	char *out;

	attacker_start(&a, EVIL_COMM);
	/* A buffer under a tag of control bytes too (ESC [ 2 A). */
	r = ask(&a, (struct cmd){ .op = OP_ALLOC, .len = 4096, .tag = 0x1b5b3241u });
	if (r->rc < 0)
		bail_out("attacker alloc: %s", r->message);

	/* (the allocate's reply came after the daemon logged the connection) */
	n = pread(dm->log_fd, log, sizeof(log) - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	at = first_control(log, n > 0 ? (size_t)n : 0);
	if (!ok(at < 0, "the_daemons_log_holds_no_control_character_a_client_chose"))
		diag("  byte 0x%02x at %ld: ...%.60s", (unsigned char)log[at], at,
		     log + (at > 30 ? at - 30 : 0));
	ok(strstr(log, escaped) != NULL, "the_daemons_log_shows_the_clients_name_escaped");

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int status = run_ctl(cmds[i], &out);

		at = first_control(out, strlen(out));
		if (!ok(status == 0 && at < 0, "contigctl_%s_text_holds_no_control_character_a_client_chose",
			cmds[i][0]))
			diag("  status %d, byte 0x%02x at %ld: %.200s %s", status,
			     at >= 0 ? (unsigned char)out[at] : 0, at, out, errbuf);
		if (strcmp(cmds[i][0], "clients") == 0)
			ok(strstr(out, escaped) != NULL, "contigctl_clients_shows_the_clients_name_escaped");
		free(out);
	}
	{
		static const char *const json[] = { "clients", "--json", NULL };
		int status = run_ctl(json, &out);

		at = first_control(out, strlen(out));
		ok(status == 0 && at < 0 && strstr(out, "\\u001b[2J\\u0007\\nforged"),
		   "contigctl_json_escapes_every_control_character_of_a_clients_name");
		free(out);
	}
	ask(&a, (struct cmd){ .op = OP_FREE, .buf = r->buf });
	attacker_stop(&a);
}

/* ---- 6: the table of pool tags ---- */

/* The tag @c's own new 4 KiB buffer tagged @tag is counted under. */
static uint32_t tag_counted(struct contig_client *c, uint32_t tag)
{
	struct contig_buffer_info *bufs;
	struct contig_buffer b;
	struct contig_alloc_req req;
	uint32_t counted = 0;
	size_t n;

	contig_alloc_req_init(&req, 4096);
	req.tag = tag;
	if (contig_alloc(c, &req, &b) < 0)
		bail_out("alloc: %s", contig_last_message());
	/* (the list is the daemon's own account, not the reply's) */
	if (contig_list_buffers(c, &bufs, &n) < 0)
		bail_out("list: %s", contig_last_message());
	for (size_t i = 0; i < n; i++)
		if (bufs[i].id == b.id)
			counted = bufs[i].tag;
	free(bufs);
	contig_free(c, b.virt);
	return counted;
}

static void test_tags(struct contig_client *me)
{
	const uint32_t victim_tag = 0x56494354u, victim_tag2 = 0x56494332u; /* 'VICT', 'VIC2' */
	struct contig_stats st;
	const struct contig_tag_stats *other = NULL;
	struct attacker a;
	const struct res *r;
	uint32_t got;

	attacker_start(&a, "tag-hog");
	r = ask(&a, (struct cmd){ .op = OP_CHURN_TAGS, .tag = 0x7a000000u, .n = NTAGS });
	if (r->rc < 0)
		bail_out("churn: %s", r->message);
	got = tag_counted(me, victim_tag);
	if (!ok(got == victim_tag, "a_new_tag_counts_on_its_own_after_another_client_used_1100"))
		diag("  counted under 0x%08x", got);
	if (contig_get_stats(me, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	for (uint32_t i = 0; i < st.ntags; i++)
		if (st.tags[i].tag == TAG_OTHER)
			other = &st.tags[i];
	if (!ok(other && other->nbuffers == 0 && other->nallocs == other->nfrees &&
			other->nallocs >= NTAGS - 1024,
		"tags_pruned_without_a_live_buffer_keep_their_totals_under_other"))
		diag("  other: %s", other ? "wrong counts" : "not listed");

	/* Holding 1100 tags at once: past max_tags_per_user (64 by default)
	 * they count under "other", and another user's new tag has room. */
	r = ask(&a, (struct cmd){ .op = OP_HOLD_TAGS, .tag = 0x7b000000u, .n = NTAGS });
	if (r->rc < 0)
		bail_out("hold: %s", r->message);
	if (!ok(r->nother == NTAGS - 64, "a_user_past_max_tags_per_user_counts_the_rest_under_other"))
		diag("  %u of %u under other", r->nother, NTAGS);
	got = tag_counted(me, victim_tag2);
	if (!ok(got == victim_tag2,
		"a_new_tag_counts_on_its_own_while_another_user_holds_1100_tags"))
		diag("  counted under 0x%08x", got);
	ask(&a, (struct cmd){ .op = OP_FREE_ALL });
	attacker_stop(&a);
}

/* ---- 7: the socket file ---- */

/* What became of one daemon run. */
struct run {
	bool skipped;  /* ptrace could not be had */
	bool ready;    /* it sent READY=1 (and was then stopped) */
	int status;    /* its exit status, 128 + signal */
	bool swapped;  /* the swap ran, right after bind() */
	char log[4096];
};

/* Receive one notify datagram into @buf (NUL-terminated), closing any
 * descriptor it carries (the daemon's frame mounts, for systemd's store). */
static void recv_notify(int nfd, char *buf, size_t len)
{
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { buf, len - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(nfd, &msg, MSG_CMSG_CLOEXEC);

	buf[n > 0 ? n : 0] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				close(((int *)CMSG_DATA(c))[i]);
}

/* Follow the traced daemon @pid system call by system call; right after a
 * bind() returns with @sock a socket, call @swap and let the daemon go on
 * (detached, running: true). Also let it go at the listen() of @sock, or see
 * it exit (false, *@ret_status). The notify socket @nfd is drained at
 * every stop: a sendmsg() to a full one would block the daemon, and with
 * it this loop. */
static bool trace(pid_t pid, const char *sock, void (*swap)(const char *), int nfd,
		  struct run *ret, int *ret_status)
{
	long nr = -1;
	int status, sig = 0;

	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0)
		bail_out("PTRACE_SETOPTIONS: %s", strerror(errno));
	for (;;) {
		struct __ptrace_syscall_info info;
		struct stat st;
		char msg[4096];

		while (recv(nfd, msg, sizeof(msg), MSG_DONTWAIT) > 0)
			; /* (only READY=1 matters, and it comes after listen()) */
		if (ptrace(PTRACE_SYSCALL, pid, 0, sig) < 0 || waitpid(pid, &status, 0) != pid)
			bail_out("ptrace: %s", strerror(errno));
		sig = 0;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			*ret_status = status;
			return false;
		}
		if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
			sig = WSTOPSIG(status); /* a signal: deliver it */
			continue;
		}
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info), &info) <= 0)
			bail_out("PTRACE_GET_SYSCALL_INFO: %s", strerror(errno));
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
			nr = (long)info.entry.nr;
			/* (the frame keeper's socket comes first: not that one) */
			if (nr == SYS_listen && lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
				ptrace(PTRACE_DETACH, pid, 0, 0);
				return true;
			}
		} else if (info.op == PTRACE_SYSCALL_INFO_EXIT && nr == SYS_bind &&
			   lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			swap(sock);
			ret->swapped = true;
			ptrace(PTRACE_DETACH, pid, 0, 0);
			return true;
		}
	}
}

/* Run the daemon on socket @sock with @conf until it is ready (then stop
 * it) or exits; with @swap, under ptrace, as trace() says. */
static void run_daemon(const char *sock, const char *conf, void (*swap)(const char *),
		       struct run *ret)
{
	char bin[4096], notify[128], logpath[128], confpath[128];
	const char *argv[] = { bin, "--socket", sock, "--config", confpath, "--pool", "0:2M:2M",
			       NULL };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int nfd, logfd, pidfd, status = 0;
	bool running = true, reaped = false;
	FILE *f;
	pid_t pid;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	harness_daemon_path(bin, sizeof(bin));
	snprintf(notify, sizeof(notify), "%s/notify", confdir);
	snprintf(logpath, sizeof(logpath), "%s/run.log", confdir);
	snprintf(confpath, sizeof(confpath), "%s/run.conf", confdir);
	f = fopen(confpath, "w");
	if (!f || fputs(conf, f) < 0 || fclose(f))
		bail_out("cannot write %s", confpath);
	unlink(notify);
	memcpy(addr.sun_path, notify, strlen(notify) + 1);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		bail_out("notify socket: %s", strerror(errno));
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		bail_out("open %s: %s", logpath, strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(logfd, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", notify, 1);
		if (swap) {
			/* LeakSanitizer (make asan) needs ptrace itself at exit,
			 * which a traced process cannot have. */
			char asan[512];

			snprintf(asan, sizeof(asan), "%s%sdetect_leaks=0",
				 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
				 getenv("ASAN_OPTIONS") ? ":" : "");
			setenv("ASAN_OPTIONS", asan, 1);
			if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
				_exit(125);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (swap) {
		/* Stopped at exec; exit status 125: no ptrace here. */
		if (waitpid(pid, &status, 0) != pid)
			bail_out("waitpid: %s", strerror(errno));
		if (!WIFSTOPPED(status)) {
			ret->skipped = WIFEXITED(status) && WEXITSTATUS(status) == 125;
			running = false;
			reaped = true;
		} else {
			running = trace(pid, sock, swap, nfd, ret, &status);
			reaped = !running;
		}
	}
	pidfd = running ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	while (running) {
		struct pollfd pfd[2] = { { nfd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
		char msg[4096];

		if (pidfd < 0 || poll(pfd, 2, 120 * 1000) <= 0)
			bail_out("contigd neither ready nor gone after 120 s");
		if (pfd[0].revents & POLLIN) {
			recv_notify(nfd, msg, sizeof(msg));
			if (strstr(msg, "READY=1")) {
				ret->ready = true;
				kill(pid, SIGTERM);
				running = false;
			}
		} else if (pfd[1].revents) {
			running = false;
		}
	}
	if (!reaped && waitpid(pid, &status, 0) != pid)
		bail_out("waitpid: %s", strerror(errno));
	ret->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	n = pread(logfd, ret->log, sizeof(ret->log) - 1, 0);
	ret->log[n > 0 ? n : 0] = '\0';
	if (pidfd >= 0)
		close(pidfd);
	close(logfd);
	close(nfd);
	unlink(notify);
	unlink(logpath);
	unlink(confpath);
	harness_instance_purge(sock);
}

/* A root file the daemon must never chown or chmod (it would give it to
 * socket_group 65534 with mode 0666). */
static char target[128];
static const char sock_conf[] = "socket_user = 0\nsocket_group = 65534\nsocket_mode = 0666\n";
static int swap_rc;

static bool target_intact(void)
{
	struct stat st;
	bool intact = lstat(target, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
		      st.st_gid == 0 && (st.st_mode & 07777) == 0600;

	if (!intact)
		diag("  %s is now %u:%u %04o", target, (unsigned)st.st_uid, (unsigned)st.st_gid,
		     (unsigned)(st.st_mode & 07777));
	/* as it was, for the next case */
	if (chown(target, 0, 0) < 0 || chmod(target, 0600) < 0)
		bail_out("chown %s: %s", target, strerror(errno));
	return intact;
}

/* A symlink to the target, renamed over @sock: as whoever runs it. */
static int plant(const char *sock)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s.planted", sock);
	unlink(tmp);
	return symlink(target, tmp) < 0 || rename(tmp, sock) < 0 ? -errno : 0;
}

/* plant() as nobody, the owner of the directory. */
static void plant_as_nobody(const char *sock)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0 ? 3
		      : plant(sock) < 0 ? 4 : 0);
	swap_rc = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
			  ? WEXITSTATUS(status)
			  : -1;
}

static void plant_as_root(const char *sock)
{
	swap_rc = plant(sock);
}

/* confdir/@name, owned by @uid (its group too) with @mode. */
static void make_dir(char *buf, size_t len, const char *name, uid_t uid, mode_t mode)
{
	snprintf(buf, len, "%s/%s", confdir, name);
	if (mkdir(buf, 0700) < 0 || chown(buf, uid, uid) < 0 || chmod(buf, mode) < 0)
		bail_out("mkdir %s: %s", buf, strerror(errno));
}

static void remove_dir(const char *dir, const char *sock)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s.planted", sock);
	unlink(tmp);
	unlink(sock);
	rmdir(dir);
}

static bool refused_naming(const struct run *r, const char *dir)
{
	bool good = !r->ready && r->status != 0 && strstr(r->log, "refused") &&
		    strstr(r->log, dir);

	if (!good)
		diag("  %s, status %d; log:\n%s", r->ready ? "ready" : "not ready", r->status,
		     r->log);
	return good;
}

static void test_socket_dir(void)
{
	static const struct {
		mode_t mode;
		const char *name;
	} writable[] = {
		{ 0777, "a_socket_directory_others_may_write_is_refused_at_startup" },
		{ 0775, "a_socket_directory_its_group_may_write_is_refused_at_startup" },
	};
	char dir[128], sub[160], sock[192];
	struct run r;
	int fd;

	snprintf(target, sizeof(target), "%s/target", confdir);
	fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd) < 0 || !target_intact())
		bail_out("target %s: %s", target, strerror(errno));

	/* A directory nobody owns, where nobody planted a symlink at the
	 * socket's path before the daemon started. */
	make_dir(dir, sizeof(dir), "nobodys", NOBODY, 0755);
	snprintf(sock, sizeof(sock), "%s/contigd.sock", dir);
	plant_as_nobody(sock);
	if (swap_rc != 0)
		bail_out("nobody cannot plant a symlink in %s (%d)", dir, swap_rc);
	run_daemon(sock, sock_conf, NULL, &r);
	ok(refused_naming(&r, dir), "a_socket_directory_another_user_owns_is_refused_at_startup");
	ok(target_intact(), "a_symlink_planted_at_the_socket_path_changes_no_file");
	remove_dir(dir, sock);

	/* The same directory, the symlink swapped in right after bind(). */
	make_dir(dir, sizeof(dir), "nobodys-race", NOBODY, 0755);
	snprintf(sock, sizeof(sock), "%s/contigd.sock", dir);
	run_daemon(sock, sock_conf, plant_as_nobody, &r);
	if (r.skipped) {
		ok(true, "a_symlink_its_owner_swaps_in_after_bind_changes_no_file # SKIP no ptrace");
	} else {
		if (!ok(target_intact(), "a_symlink_its_owner_swaps_in_after_bind_changes_no_file"))
			diag("  swapped %s (%d); log:\n%s", r.swapped ? "yes" : "no", swap_rc, r.log);
	}
	remove_dir(dir, sock);

	/* Writable by others, or by the group, without the sticky bit. */
	for (size_t i = 0; i < sizeof(writable) / sizeof(writable[0]); i++) {
		make_dir(dir, sizeof(dir), "writable", 0, writable[i].mode);
		snprintf(sock, sizeof(sock), "%s/contigd.sock", dir);
		run_daemon(sock, sock_conf, NULL, &r);
		ok(refused_naming(&r, dir), "%s", writable[i].name);
		remove_dir(dir, sock);
	}

	/* A directory above the socket's that another user owns. */
	make_dir(dir, sizeof(dir), "nobodys-parent", NOBODY, 0755);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	if (mkdir(sub, 0755) < 0)
		bail_out("mkdir %s: %s", sub, strerror(errno));
	snprintf(sock, sizeof(sock), "%s/contigd.sock", sub);
	run_daemon(sock, sock_conf, NULL, &r);
	ok(refused_naming(&r, dir), "a_directory_above_the_socket_another_user_owns_is_refused");
	remove_dir(sub, sock);
	rmdir(dir);

	/* Sticky and root's, as /tmp: others may add names, not take ours. */
	make_dir(dir, sizeof(dir), "sticky", 0, 01777);
	snprintf(sock, sizeof(sock), "%s/contigd.sock", dir);
	run_daemon(sock, sock_conf, NULL, &r);
	if (!ok(r.ready && r.status == 0, "a_sticky_socket_directory_such_as_tmp_is_accepted"))
		diag("  status %d; log:\n%s", r.status, r.log);
	remove_dir(dir, sock);

	/* Root's own directory, the socket file swapped for a symlink right
	 * after bind() (as only root could here): the daemon must notice, not
	 * follow it. */
	make_dir(dir, sizeof(dir), "roots", 0, 0755);
	snprintf(sock, sizeof(sock), "%s/contigd.sock", dir);
	run_daemon(sock, sock_conf, plant_as_root, &r);
	if (r.skipped) {
		ok(true, "a_socket_file_replaced_after_bind_is_never_followed # SKIP no ptrace");
		ok(true, "a_socket_file_replaced_after_bind_stops_the_daemon # SKIP no ptrace");
	} else {
		ok(r.swapped && swap_rc == 0 && target_intact(),
		   "a_socket_file_replaced_after_bind_is_never_followed");
		if (!ok(!r.ready && r.status != 0 && strstr(r.log, "replaced"),
			"a_socket_file_replaced_after_bind_stops_the_daemon"))
			diag("  status %d; log:\n%s", r.status, r.log);
	}
	remove_dir(dir, sock);
	unlink(target);
}

int main(void)
{
	static const char conf[] = "socket_group = 0\nsocket_mode = 0666\nallow_users = nobody\n";
	char path[128];
	const char *args[] = { "--config", path, "--pool", POOL, NULL };
	struct harness_daemon dm;
	struct contig_client *me;
	FILE *f;

	alarm(600);
	snprintf(confdir, sizeof(confdir), "/tmp/contigd-hostile-XXXXXX");
	if (!mkdtemp(confdir) || chmod(confdir, 0711) < 0)
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/contigd.conf", confdir);
	f = fopen(path, "w");
	if (!f || fputs(conf, f) < 0 || fclose(f))
		bail_out("cannot write %s", path);
	harness_daemon_start(&dm, args);
	unlink(path);
	/* Every user may reach the socket: its mode is the only gate. */
	if (chmod(dm.dir, 0711) < 0)
		bail_out("chmod %s: %s", dm.dir, strerror(errno));
	me = harness_connect(&dm);

	test_frame_addresses(me);
	test_escapes(&dm);
	test_tags(me);

	contig_disconnect(me);
	ok(harness_daemon_stop(&dm) == 0, "daemon_stops_cleanly");
	test_socket_dir();
	rmdir(confdir);
	return done_testing();
}
