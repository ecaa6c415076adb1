/* test_access.c - who may connect, and every limit on what a client
 * controls (issue 4, "Who may connect" and "Limits on everything a client
 * controls"; DESIGN.md, "Wire protocol"): the socket file's owner, group
 * and mode; peer credentials checked against allow_users and allow_groups
 * (primary and supplementary groups); what stats show to root and to
 * others; and each max_* limit reached exactly at its edge, refused one
 * past it with QUOTA_EXCEEDED (-EDQUOT in libcontig) naming its key, and
 * usable again once something is given back.
 *
 * Each configuration runs in a daemon of its own, its file written to a
 * temporary directory. Clients of other users are child processes that
 * drop to a uid, gid and supplementary groups of the test's choosing and
 * then run libcontig on the parent's command (a request/reply over a
 * socketpair), so that the parent can interleave them with its own root
 * clients. No sleeps: the daemon's loop is single-threaded, so a stats
 * round trip from another client orders everything the daemon did before
 * it (log lines included). A wedged daemon fails the test by SIGALRM.
 */
#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "raw.h"

#define PAGE UINT64_C(4096)
#define FRAME (2 * MiB)
#define SMALL_POOL "0:2M:16M"
#define BIG_POOL "0:2M:256M" /* enough frames that some are physically adjacent */
#define NOBODY 65534u

/* Windows-style pool tags: 'NOBD' is stored as the bytes N, O, B, D. */
#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_ROOT TAG('R', 'O', 'O', 'T')
#define TAG_NOBODY TAG('N', 'O', 'B', 'D')

static char confdir[64];

/* ---- daemons ---- */

/* Start a daemon with the configuration @conf (written to confdir/@name.conf)
 * and @pool, and let every user reach its socket's directory: the socket
 * file's own mode is then the only gate the kernel applies. */
static void start_daemon(struct harness_daemon *dm, const char *name, const char *conf,
			 const char *pool)
{
	char path[128];
	const char *args[] = { "--config", path, "--pool", pool, NULL };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.conf", confdir, name);
	f = fopen(path, "w");
	if (!f || fputs(conf, f) < 0 || fclose(f))
		bail_out("cannot write %s", path);
	harness_daemon_start(dm, args);
	unlink(path); /* read before READY=1 */
	if (chmod(dm->dir, 0711) < 0)
		bail_out("chmod %s: %s", dm->dir, strerror(errno));
}

static void stop_daemon(struct harness_daemon *dm, const char *name)
{
	ok(harness_daemon_stop(dm) == 0, "daemon_with_%s_stops_cleanly", name);
}

/* How many lines of the daemon's log contain @needle; the first of them
 * goes to @first. */
static int log_lines(const struct harness_daemon *dm, const char *needle, char *first,
		     size_t firstlen)
{
	static char log[1 << 20];
	ssize_t n = pread(dm->log_fd, log, sizeof(log) - 1, 0);
	char *save = NULL, *line;
	int count = 0;

	if (first && firstlen)
		first[0] = '\0';
	if (n <= 0)
		return 0;
	log[n] = '\0';
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, needle))
			continue;
		if (count++ == 0 && first)
			snprintf(first, firstlen, "%s", line);
	}
	return count;
}

static struct contig_stats stats_of(struct contig_client *c)
{
	struct contig_stats st;

	if (contig_get_stats(c, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	return st;
}

static bool nsessions_is(const struct contig_stats *st, void *arg)
{
	return st->nsessions == *(const uint32_t *)arg;
}

/* Only @arg sessions, nothing owned, nothing being recycled. */
static bool settled(const struct contig_stats *st, void *arg)
{
	return st->nsessions == *(const uint32_t *)arg && st->pools[0].nframes_owned == 0 &&
	       st->pools[0].nframes_recycling == 0;
}

static const struct contig_session_stats *session_of(const struct contig_stats *st, pid_t pid)
{
	for (uint32_t i = 0; i < st->nsessions_listed; i++)
		if (st->sessions[i].pid == (int)pid)
			return &st->sessions[i];
	return NULL;
}

static const struct contig_tag_stats *tag_of(const struct contig_stats *st, uint32_t tag)
{
	for (uint32_t i = 0; i < st->ntags; i++)
		if (st->tags[i].tag == tag)
			return &st->tags[i];
	return NULL;
}

/* Allocate @len bytes (with @tag) on @c; returns contig_alloc()'s result. */
static int alloc_len(struct contig_client *c, uint64_t len, uint32_t tag,
		     struct contig_buffer *ret_buf)
{
	struct contig_alloc_req req;

	contig_alloc_req_init(&req, len);
	req.tag = tag;
	return contig_alloc(c, &req, ret_buf);
}

/* A refusal with -EDQUOT whose message names @key. */
static bool quota_named(int rc, const char *message, const char *key)
{
	return rc == -EDQUOT && strstr(message, "quota exceeded") && strstr(message, key);
}

/* Expect the next allocation of @len on @c to be refused naming @key. */
static void expect_quota(struct contig_client *c, uint64_t len, const char *key, const char *name)
{
	struct contig_buffer b;
	int rc = alloc_len(c, len, 0, &b);

	if (!ok(quota_named(rc, contig_last_message(), key), "%s", name))
		diag("  rc %d: %s (want -EDQUOT naming \"%s\")", rc, contig_last_message(), key);
	if (rc == 0)
		contig_free(c, b.virt);
}

/* ---- clients of other users ---- */

struct user {
	uid_t uid;
	gid_t gid;
	size_t ngroups;
	gid_t groups[4];
	const char *comm; /* process name, as the daemon's stats and logs show it */
};

enum op { OP_CONNECT, OP_DISCONNECT, OP_ALLOC, OP_FREE, OP_STATS };

struct cmd {
	int op;
	int conn; /* which of the child's connections */
	uint64_t len;
	uint32_t tag;
	int buf; /* OP_FREE: what OP_ALLOC returned */
};

struct res {
	int rc;
	int buf;         /* OP_ALLOC: index for OP_FREE */
	bool pattern_ok; /* OP_ALLOC: the buffer holds what the child wrote */
	char message[256];
	struct contig_stats stats;
};

#define RCONNS 4
#define RBUFS 64

static int remote_main(int fd, void *arg)
{
	const struct user *u = arg;
	struct contig_client *conns[RCONNS] = { NULL };
	struct {
		void *virt;
		int conn;
	} bufs[RBUFS];
	static struct res res;
	struct cmd cmd;
	int nbufs = 0;

	harness_close_inherited(fd);
	prctl(PR_SET_NAME, u->comm, 0, 0, 0);
	if (setgroups(u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
		return 3;
	if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid)
		return 4;
	while (harness_try_recv(fd, &cmd, sizeof(cmd))) {
		struct contig_client *c = cmd.conn >= 0 && cmd.conn < RCONNS ? conns[cmd.conn] : NULL;

		memset(&res, 0, sizeof(res));
		res.buf = -1;
		switch (cmd.op) {
		case OP_CONNECT:
			res.rc = c || cmd.conn < 0 || cmd.conn >= RCONNS
					 ? -EBADF
					 : contig_connect(NULL, &conns[cmd.conn]);
			break;
		case OP_DISCONNECT:
			for (int i = 0; i < nbufs; i++)
				if (bufs[i].conn == cmd.conn)
					bufs[i].virt = NULL;
			contig_disconnect(c);
			if (c)
				conns[cmd.conn] = NULL;
			res.rc = c ? 0 : -EBADF;
			break;
		case OP_ALLOC: {
			struct contig_alloc_req req;
			struct contig_buffer b;

			if (!c || nbufs == RBUFS) {
				res.rc = -EBADF;
				break;
			}
			contig_alloc_req_init(&req, cmd.len);
			req.tag = cmd.tag;
			res.rc = contig_alloc(c, &req, &b);
			if (res.rc == 0) {
				pattern_fill(b.virt, b.len, (uint64_t)nbufs + 1);
				res.pattern_ok = pattern_holds(b.virt, b.len, (uint64_t)nbufs + 1);
				bufs[nbufs].virt = b.virt;
				bufs[nbufs].conn = cmd.conn;
				res.buf = nbufs++;
			}
			break;
		}
		case OP_FREE:
			if (cmd.buf < 0 || cmd.buf >= nbufs || !bufs[cmd.buf].virt) {
				res.rc = -EBADF;
				break;
			}
			res.rc = contig_free(conns[bufs[cmd.buf].conn], bufs[cmd.buf].virt);
			if (res.rc == 0)
				bufs[cmd.buf].virt = NULL;
			break;
		case OP_STATS:
			res.rc = c ? contig_get_stats(c, &res.stats) : -EBADF;
			break;
		default:
			res.rc = -EINVAL;
		}
		/* The test reads the daemon's view from another process next:
		 * report fast-path buffers now rather than within the bound
		 * (contig_flush() of every connection: a free may be on one
		 * other than cmd.conn). */
		for (int i = 0; i < RCONNS && res.rc == 0 && cmd.op != OP_STATS; i++)
			if (conns[i] && contig_flush(conns[i]) < 0)
				res.rc = -EPROTO;
		snprintf(res.message, sizeof(res.message), "%s", contig_last_message());
		harness_send(fd, &res, sizeof(res));
	}
	for (int i = 0; i < RCONNS; i++)
		contig_disconnect(conns[i]);
	return 0;
}

/* Have child @ch do @op; the result stays valid until the next call. */
static const struct res *remote(struct harness_child *ch, int op, int conn, uint64_t len,
				uint32_t tag, int buf)
{
	static struct res res;
	struct cmd cmd = { .op = op, .conn = conn, .len = len, .tag = tag, .buf = buf };

	harness_send(ch->fd, &cmd, sizeof(cmd));
	if (!harness_try_recv(ch->fd, &res, sizeof(res))) {
		memset(&res, 0, sizeof(res));
		res.rc = -ECHILD;
		res.buf = -1;
		snprintf(res.message, sizeof(res.message), "the client process died");
	}
	return &res;
}

static const struct res *r_connect(struct harness_child *ch, int conn)
{
	return remote(ch, OP_CONNECT, conn, 0, 0, -1);
}

static const struct res *r_alloc(struct harness_child *ch, int conn, uint64_t len, uint32_t tag)
{
	return remote(ch, OP_ALLOC, conn, len, tag, -1);
}

static int r_free(struct harness_child *ch, int buf)
{
	return remote(ch, OP_FREE, 0, 0, 0, buf)->rc;
}

static void r_start(struct harness_child *ch, const struct user *u)
{
	harness_child_start(ch, remote_main, (void *)u);
}

static void r_stop(struct harness_child *ch, const char *who)
{
	int status = harness_child_wait(ch);

	if (status != 0)
		diag("  the %s client exited with status %d", who, status);
}

/* On @ch's connection @conn: allocate 64 KiB, check that it holds what was
 * written, free it. */
static bool r_alloc_and_free(struct harness_child *ch, int conn)
{
	const struct res *r = r_alloc(ch, conn, 64 * 1024, 0);
	bool good = r->rc == 0 && r->pattern_ok;
	int buf = r->buf;

	if (!good)
		diag("  alloc: %d %s", r->rc, r->message);
	return good && r_free(ch, buf) == 0;
}

static const struct user nobody = { NOBODY, NOBODY, 0, { 0 }, "nobody-client" };

/* A group that exists in /etc/group other than root's, for socket_group
 * and allow_groups by name. */
static const char *some_group(gid_t *ret_gid)
{
	static const char *const names[] = { "daemon", "nogroup", "users", "adm" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct group *gr = getgrnam(names[i]);

		if (gr && gr->gr_gid != 0) {
			*ret_gid = gr->gr_gid;
			return names[i];
		}
	}
	bail_out("no group daemon, nogroup, users or adm in /etc/group");
}

/* ---- who may connect ---- */

static void check_socket_file(const char *name, const char *conf, uid_t uid, gid_t gid,
			      mode_t mode)
{
	struct harness_daemon dm;
	struct contig_client *c;
	struct stat st;
	int rc;

	start_daemon(&dm, name, conf, "0:2M:4M");
	if (!ok(lstat(dm.sock, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == uid &&
			st.st_gid == gid && (st.st_mode & 07777) == mode,
		"socket_file_gets_owner_%u_group_%u_mode_%#o_from_the_config", (unsigned)uid,
		(unsigned)gid, (unsigned)mode))
		diag("  %u:%u %#o", (unsigned)st.st_uid, (unsigned)st.st_gid,
		     (unsigned)(st.st_mode & 07777));
	rc = contig_connect(dm.sock, &c);
	ok(rc == 0, "root_connects_to_a_socket_owned_by_%u_group_%u_mode_%#o", (unsigned)uid,
	   (unsigned)gid, (unsigned)mode);
	if (rc == 0)
		contig_disconnect(c);
	stop_daemon(&dm, name);
}

static void test_socket_file(void)
{
	struct passwd *pw = getpwnam("nobody");
	char conf[256];
	const char *group;
	gid_t gid;

	if (!pw || pw->pw_uid != NOBODY)
		bail_out("user nobody is not uid %u here", NOBODY);
	group = some_group(&gid);
	snprintf(conf, sizeof(conf), "socket_user = nobody\nsocket_group = %s\nsocket_mode = 0640\n",
		 group);
	check_socket_file("socket_owner_by_name", conf, NOBODY, gid, 0640);
	check_socket_file("socket_owner_by_number",
			  "socket_user = 0\nsocket_group = 65534\nsocket_mode = 0602\n", 0, 65534,
			  0602);
}

/* A socket_user, socket_group or allow list naming nobody known stops the
 * daemon at startup, saying which. */
static void test_unknown_names(void)
{
	static const struct {
		const char *conf, *want;
	} cases[] = {
		{ "socket_user = no-such-user-x\n", "socket_user: no such user 'no-such-user-x'" },
		{ "socket_group = no-such-group-x\n",
		  "socket_group: no such group 'no-such-group-x'" },
		{ "allow_users = nobody, no-such-user-y\n",
		  "allow_users: no such user 'no-such-user-y'" },
		{ "allow_groups = 0,no-such-group-y\n",
		  "allow_groups: no such group 'no-such-group-y'" },
	};
	char path[128], sock[128], log[4096];

	snprintf(sock, sizeof(sock), "%s/never.sock", confdir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "--config", path, "--socket", sock, "--pool", "0:2M:2M", NULL };
		FILE *f;
		int status;

		snprintf(path, sizeof(path), "%s/unknown%zu.conf", confdir, i);
		f = fopen(path, "w");
		if (!f || fputs(cases[i].conf, f) < 0 || fclose(f))
			bail_out("cannot write %s", path);
		status = harness_daemon_fail(args, log, sizeof(log));
		if (!ok(status != 0 && strstr(log, cases[i].want),
			"daemon_refuses_to_start_when_%.*s_names_no_one_and_says_so",
			(int)strcspn(cases[i].conf, " "), cases[i].conf))
			diag("  exit %d: %s", status, log);
		unlink(path);
	}
}

/* No user database at all (a minimal initramfs, a bare chroot): the
 * daemon, in a mount namespace with an empty /etc, starts with the
 * built-in configuration (socket_user root, socket_group contigd) and with
 * "root" and numbers named, the socket root's; a name other than root is
 * refused, saying there is no /etc/passwd. */
static void test_no_user_database(void)
{
	static const char *const names[] = {
		"the_built_in_configuration_starts_without_a_user_database",
		"socket_user_and_group_root_need_no_user_database",
		"numeric_socket_user_and_group_need_no_user_database",
	};
	static const char *const confs[] = { NULL, "socket_user = root\nsocket_group = root\n",
					     "socket_user = 0\nsocket_group = 0\n" };
	const char *missing = harness_private_mounts_missing();
	char etc[128], path[128], sock[128], log[4096];
	struct harness_spawn how = { .etc_dir = etc };
	int status;

	if (missing) {
		for (size_t i = 0; i < 3; i++)
			ok(true, "%s # SKIP %s", names[i], missing);
		ok(true, "a_user_name_without_a_user_database_is_refused_and_says_so # SKIP %s",
		   missing);
		return;
	}
	snprintf(etc, sizeof(etc), "%s/empty-etc", confdir);
	if (mkdir(etc, 0755) < 0)
		bail_out("mkdir %s: %s", etc, strerror(errno));
	snprintf(path, sizeof(path), "%s/nodb.conf", confdir);
	for (size_t i = 0; i < 3; i++) {
		const char *with_conf[] = { "--config", path, "--pool", "0:2M:4M", NULL };
		const char *builtin[] = { "--pool", "0:2M:4M", NULL };
		struct harness_daemon dm;
		struct stat st;
		FILE *f;

		if (confs[i]) {
			f = fopen(path, "w");
			if (!f || fputs(confs[i], f) < 0 || fclose(f))
				bail_out("cannot write %s", path);
		}
		harness_daemon_start_how(&dm, confs[i] ? with_conf : builtin, &how);
		if (!ok(lstat(dm.sock, &st) == 0 && st.st_uid == 0 && st.st_gid == 0, "%s",
			names[i]))
			diag("  socket %u:%u", (unsigned)st.st_uid, (unsigned)st.st_gid);
		if (!confs[i])
			ok(harness_daemon_log_has(&dm, "group 'contigd' does not exist"),
			   "without_a_user_database_the_missing_group_contigd_is_a_warning");
		ok(harness_daemon_stop(&dm) == 0, "daemon_without_a_user_database_stops_cleanly");
		unlink(path);
	}
	/* What shows that the namespace's /etc really was empty. */
	{
		const char *args[] = { "--config", path, "--socket", sock, "--pool", "0:2M:2M", NULL };
		FILE *f = fopen(path, "w");

		snprintf(sock, sizeof(sock), "%s/never.sock", confdir);
		if (!f || fputs("socket_user = nobody\n", f) < 0 || fclose(f))
			bail_out("cannot write %s", path);
		status = harness_daemon_fail_how(args, &how, log, sizeof(log));
		if (!ok(status != 0 && strstr(log, "socket_user: no such user 'nobody' (there is "
						   "no /etc/passwd: give a number, or root)"),
			"a_user_name_without_a_user_database_is_refused_and_says_so"))
			diag("  exit %d: %s", status, log);
		unlink(path);
	}
	rmdir(etc);
}

static const struct {
	const char *name;
	size_t offset;
} limit_keys[] = {
	{ "max_connections", offsetof(struct contig_limits, max_connections) },
	{ "max_connections_per_user", offsetof(struct contig_limits, max_connections_per_user) },
	{ "max_buffers_per_connection",
	  offsetof(struct contig_limits, max_buffers_per_connection) },
	{ "max_buffers_per_user", offsetof(struct contig_limits, max_buffers_per_user) },
	{ "max_bytes_per_connection", offsetof(struct contig_limits, max_bytes_per_connection) },
	{ "max_bytes_per_user", offsetof(struct contig_limits, max_bytes_per_user) },
	{ "max_frames_per_buffer", offsetof(struct contig_limits, max_frames_per_buffer) },
	{ "max_request_len", offsetof(struct contig_limits, max_request_len) },
	{ "max_queued_replies", offsetof(struct contig_limits, max_queued_replies) },
};

#define NLIMITS (sizeof(limit_keys) / sizeof(limit_keys[0]))

static size_t limit_index(const char *name)
{
	for (size_t i = 0; i < NLIMITS; i++)
		if (!strcmp(limit_keys[i].name, name))
			return i;
	bail_out("no limit %s", name);
}

/* `contigd --print-config`: each limit's value (UINT64_MAX if absent) and
 * the socket_* lines. Returns false if it could not run. */
static bool print_config(uint64_t values[NLIMITS], char *user, char *group, unsigned *mode)
{
	char bin[600], cmd[700], line[512];
	FILE *p;

	harness_daemon_path(bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "'%s' --print-config", bin);
	for (size_t i = 0; i < NLIMITS; i++)
		values[i] = UINT64_MAX;
	user[0] = group[0] = '\0';
	*mode = 0;
	fflush(stdout);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p)) {
		char key[64], value[64];

		if (line[0] == '#' || sscanf(line, "%63s = %63s", key, value) != 2)
			continue;
		for (size_t i = 0; i < NLIMITS; i++)
			if (!strcmp(key, limit_keys[i].name))
				values[i] = strtoull(value, NULL, 10);
		if (!strcmp(key, "socket_user"))
			snprintf(user, 64, "%s", value);
		else if (!strcmp(key, "socket_group"))
			snprintf(group, 64, "%s", value);
		else if (!strcmp(key, "socket_mode"))
			*mode = (unsigned)strtoul(value, NULL, 8);
	}
	return pclose(p) == 0;
}

/* A raw hello on @path: the max_frames_per_buffer it reports (0 if none). */
static uint64_t hello_max_frames(const char *path)
{
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__HelloRequest hello = CONTIG__HELLO_REQUEST__INIT;
	int sock = raw_connect(path);
	Contig__Reply *reply;
	uint64_t v = 0;

	hello.version = CONTIG_PROTOCOL_VERSION;
	req.body_case = CONTIG__REQUEST__BODY_HELLO;
	req.hello = &hello;
	reply = raw_call(sock, &req, 1, NULL);
	if (reply && reply->status == CONTIG__STATUS__OK &&
	    reply->body_case == CONTIG__REPLY__BODY_HELLO)
		v = reply->hello->max_frames_per_buffer;
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	close(sock);
	return v;
}

/* The built-in configuration on a machine without group contigd: the
 * daemon starts, says how to create the group, and lets root alone in. */
static void test_default_config(void)
{
	static const char *const args[] = { "--pool", "0:2M:4M", NULL };
	const struct contig_limits defaults = CONTIG_DEFAULT_LIMITS;
	const struct user root_group_member = { NOBODY, NOBODY, 1, { 0 }, "rootgrp-client" };
	uint64_t printed[NLIMITS];
	char user[64], group[64];
	struct harness_daemon dm;
	struct harness_child ch;
	struct contig_client *c;
	const struct res *r;
	struct stat st;
	unsigned mode;
	size_t nwrong = 0;
	bool ran;
	int rc;

	ran = print_config(printed, user, group, &mode);
	for (size_t i = 0; i < NLIMITS; i++) {
		uint64_t want = *(const uint64_t *)((const char *)&defaults + limit_keys[i].offset);

		if (printed[i] != want) {
			diag("  %s: --print-config says %" PRIu64 ", compiled default %" PRIu64,
			     limit_keys[i].name, printed[i], want);
			nwrong++;
		}
	}
	ok(ran && nwrong == 0, "print_config_states_every_limit_with_the_value_the_daemon_uses");
	ok(ran && !strcmp(user, CONTIG_DEFAULT_SOCKET_USER) &&
		   !strcmp(group, CONTIG_DEFAULT_SOCKET_GROUP) &&
		   mode == CONTIG_DEFAULT_SOCKET_MODE,
	   "print_config_states_socket_root_group_contigd_mode_0660");

	if (getgrnam(CONTIG_DEFAULT_SOCKET_GROUP)) {
		for (int i = 0; i < 6; i++)
			ok(true, "default_config_without_group_contigd # SKIP group contigd exists");
		return;
	}
	harness_daemon_start(&dm, args); /* no --config: the built-in one */
	if (chmod(dm.dir, 0711) < 0)
		bail_out("chmod %s: %s", dm.dir, strerror(errno));
	ok(log_lines(&dm, "groupadd --system contigd", NULL, 0) == 1,
	   "without_group_contigd_the_daemon_starts_and_warns_naming_groupadd_--system_contigd");
	if (!ok(lstat(dm.sock, &st) == 0 && st.st_uid == 0 && st.st_gid == 0 &&
			(st.st_mode & 07777) == 0660,
		"without_group_contigd_the_socket_is_root_group_root_0660"))
		diag("  %u:%u %#o", (unsigned)st.st_uid, (unsigned)st.st_gid,
		     (unsigned)(st.st_mode & 07777));
	rc = contig_connect(dm.sock, &c);
	ok(rc == 0, "root_connects_with_the_default_config");
	if (rc == 0)
		contig_disconnect(c);
	is_u64(hello_max_frames(dm.sock), printed[limit_index("max_frames_per_buffer")],
	       "default_daemon_reports_the_max_frames_per_buffer_print_config_states");

	r_start(&ch, &nobody);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == -EACCES, "default_socket_file_keeps_other_users_out"))
		diag("  %d: %s", r->rc, r->message);
	r_stop(&ch, "nobody");
	/* Group root may open the file, but the warning said only root gets in. */
	r_start(&ch, &root_group_member);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == -EACCES && strstr(r->message, "permission denied"),
		"default_config_refuses_a_member_of_group_root_as_the_warning_says"))
		diag("  %d: %s", r->rc, r->message);
	r_stop(&ch, "root group member");
	stop_daemon(&dm, "the_default_config");
}

/* Refused: not root, not in allow_users, in no group of allow_groups. */
static void test_refused(void)
{
	static const char conf[] = "socket_group = 0\nsocket_mode = 0666\n";
	const struct user root_group_member = { NOBODY, NOBODY, 1, { 0 }, "rootgrp-client" };
	struct harness_daemon dm;
	struct harness_child ch;
	struct contig_client *watcher;
	struct contig_stats before, after;
	const struct res *r;
	char needle[64], line[512];
	int nlines;

	start_daemon(&dm, "refusal", conf, SMALL_POOL);
	watcher = harness_connect(&dm);
	before = stats_of(watcher);

	r_start(&ch, &nobody);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == -EACCES && strstr(r->message, "permission denied") &&
			strstr(r->message, "allow_users") && strstr(r->message, "allow_groups"),
		"a_user_not_allowed_is_refused_at_connect_with_EACCES_and_the_reason"))
		diag("  %d: %s", r->rc, r->message);
	after = stats_of(watcher); /* also orders the daemon's log line before us */
	ok(before.nsessions == 1 && after.nsessions == 1 && after.nsessions_listed == 1 &&
		   session_of(&after, getpid()) && !session_of(&after, ch.pid),
	   "a_refused_client_never_gets_a_session");
	snprintf(needle, sizeof(needle), "(pid %d,", (int)ch.pid);
	nlines = log_lines(&dm, needle, line, sizeof(line));
	if (!ok(nlines == 1 && strstr(line, "uid 65534") && strstr(line, "nobody-client") &&
			strstr(line, "refused: permission denied"),
		"the_daemon_logs_one_line_naming_the_refused_client_and_the_reason"))
		diag("  %d lines, first: %s", nlines, line);
	r_stop(&ch, "nobody");

	/* allow_groups defaults to socket_group: a member of group 0 gets in. */
	r_start(&ch, &root_group_member);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == 0, "allow_groups_defaults_to_socket_group"))
		diag("  %d: %s", r->rc, r->message);
	ok(r_alloc_and_free(&ch, 0), "a_member_of_socket_group_allocates_and_frees");
	r_stop(&ch, "root group member");

	contig_disconnect(watcher);
	stop_daemon(&dm, "default_allow_lists");
}

/* Admitted by allow_users, by a supplementary group (SO_PEERGROUPS) or by
 * the primary group; and what stats show to root and to the others. */
static void test_admitted(void)
{
	gid_t gid;
	const char *group = some_group(&gid);
	const struct user stranger = { 60000, 60000, 0, { 0 }, "stranger" };
	const struct user suppl = { 60001, 60001, 1, { 60020 }, "suppl-member" };
	const struct user primary = { 60002, gid, 0, { 0 }, "primary-member" };
	const struct user root_group_member = { 60003, 60003, 1, { 0 }, "rootgrp-member" };
	struct harness_daemon dm;
	struct harness_child ch;
	struct contig_client *rootc;
	struct contig_buffer rootbuf;
	const struct contig_session_stats *ses;
	const struct contig_tag_stats *tag;
	struct contig_stats st;
	const struct res *r;
	char conf[256], comm[32] = "";
	int bufs[2];
	FILE *f;

	snprintf(conf, sizeof(conf),
		 "socket_group = 0\nsocket_mode = 0666\nallow_users = nobody\n"
		 "allow_groups = 60020, %s\n",
		 group);
	start_daemon(&dm, "admission", conf, SMALL_POOL);
	rootc = harness_connect(&dm);
	if (alloc_len(rootc, PAGE, TAG_ROOT, &rootbuf) < 0)
		bail_out("root alloc: %s", contig_last_message());
	pattern_fill(rootbuf.virt, rootbuf.len, 0x600d);

	r_start(&ch, &nobody);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == 0, "a_user_in_allow_users_is_admitted"))
		diag("  %d: %s", r->rc, r->message);
	r = r_alloc(&ch, 0, 64 * 1024, TAG_NOBODY);
	bufs[0] = r->buf;
	ok(r->rc == 0 && r->pattern_ok, "an_admitted_user_allocates_and_uses_its_buffer");
	bufs[1] = r_alloc(&ch, 0, PAGE, TAG_NOBODY)->buf;

	/* Root sees every session and every tag. */
	st = stats_of(rootc);
	f = fopen("/proc/self/comm", "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	ses = session_of(&st, ch.pid);
	if (!ok(st.nsessions == 2 && st.nsessions_listed == 2 && ses && ses->uid == NOBODY &&
			!strcmp(ses->comm, "nobody-client") && ses->nbuffers == 2 &&
			ses->len == 64 * 1024 + PAGE,
		"root_stats_list_the_other_users_session_with_pid_uid_process_name_and_buffers"))
		diag("  %u sessions, %u listed; other: %s uid %u comm %s nbuffers %u",
		     st.nsessions, st.nsessions_listed, ses ? "found" : "missing",
		     ses ? ses->uid : 0, ses ? ses->comm : "", ses ? ses->nbuffers : 0);
	ses = session_of(&st, getpid());
	ok(ses && ses->uid == 0 && !strcmp(ses->comm, comm) && ses->nbuffers == 1,
	   "root_stats_list_roots_own_session_too");
	tag = tag_of(&st, TAG_NOBODY);
	ok(tag && tag->nbuffers == 2 && tag->len == 64 * 1024 + PAGE && tag_of(&st, TAG_ROOT) &&
		   tag_of(&st, TAG_ROOT)->nbuffers == 1,
	   "root_stats_show_every_sessions_tags");

	/* The other user sees only its own. */
	r = remote(&ch, OP_STATS, 0, 0, 0, -1);
	if (!ok(r->rc == 0 && r->stats.nsessions_listed == 0,
		"other_users_stats_list_no_sessions"))
		diag("  %d: %u listed", r->rc, r->stats.nsessions_listed);
	ok(r->rc == 0 && r->stats.ntags == 1 && r->stats.tags[0].tag == TAG_NOBODY &&
		   r->stats.tags[0].nbuffers == 2 && !tag_of(&r->stats, TAG_ROOT),
	   "other_users_stats_show_only_their_own_tags");
	ok(r->rc == 0 && r->stats.my_nbuffers == 2 && r->stats.my_len == 64 * 1024 + PAGE,
	   "other_users_stats_count_only_their_own_buffers");
	ok(r_free(&ch, bufs[0]) == 0 && r_free(&ch, bufs[1]) == 0,
	   "the_admitted_user_frees_its_buffers");
	r_stop(&ch, "nobody");

	r_start(&ch, &stranger);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == -EACCES && strstr(r->message, "permission denied"),
		"a_user_in_neither_list_is_still_refused"))
		diag("  %d: %s", r->rc, r->message);
	r_stop(&ch, "stranger");

	r_start(&ch, &suppl);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == 0, "a_supplementary_group_in_allow_groups_admits_by_number"))
		diag("  %d: %s", r->rc, r->message);
	ok(r->rc == 0 && r_alloc_and_free(&ch, 0),
	   "a_client_admitted_by_a_supplementary_group_allocates_and_frees");
	r_stop(&ch, "supplementary group member");

	r_start(&ch, &primary);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == 0, "a_primary_group_in_allow_groups_admits_by_name"))
		diag("  %d: %s", r->rc, r->message);
	ok(r->rc == 0 && r_alloc_and_free(&ch, 0),
	   "a_client_admitted_by_its_primary_group_allocates_and_frees");
	r_stop(&ch, "primary group member");

	r_start(&ch, &root_group_member);
	r = r_connect(&ch, 0);
	if (!ok(r->rc == -EACCES, "given_allow_groups_replaces_socket_group_as_the_allowed_group"))
		diag("  %d: %s", r->rc, r->message);
	r_stop(&ch, "root group member");

	ok(pattern_holds(rootbuf.virt, rootbuf.len, 0x600d) && contig_free(rootc, rootbuf.virt) == 0,
	   "roots_buffer_untouched_by_the_other_users");
	contig_disconnect(rootc);
	stop_daemon(&dm, "allow_lists");
}

/* ---- limits ---- */

static void test_per_connection_limits(void)
{
	static const char conf[] = "max_buffers_per_connection = 4\nmax_bytes_per_connection = 4M\n";
	struct harness_daemon dm;
	struct contig_client *a, *b;
	struct contig_buffer bufs[4], x, y, z;
	struct contig_stats st;
	int nok = 0, rc;

	start_daemon(&dm, "per_connection", conf, SMALL_POOL);
	a = harness_connect(&dm);
	b = harness_connect(&dm);

	for (int i = 0; i < 4; i++)
		nok += alloc_len(a, PAGE, 0, &bufs[i]) == 0;
	is_u64(nok, 4, "max_buffers_per_connection_4_allows_4_buffers");
	expect_quota(a, PAGE, "max_buffers_per_connection (4)",
		     "the_5th_buffer_is_refused_naming_max_buffers_per_connection");
	st = stats_of(a);
	ok(st.my_nbuffers == 4 && st.my_len == 4 * PAGE, "a_refused_buffer_takes_nothing");
	rc = alloc_len(b, PAGE, 0, &x);
	ok(rc == 0 && contig_free(b, x.virt) == 0,
	   "the_per_connection_buffer_limit_leaves_another_connection_of_the_user_alone");
	ok(contig_free(a, bufs[3].virt) == 0 && alloc_len(a, PAGE, 0, &bufs[3]) == 0,
	   "after_a_free_the_connection_allocates_again");
	expect_quota(a, PAGE, "max_buffers_per_connection (4)",
		     "back_at_the_edge_the_next_buffer_is_refused_again");
	for (int i = 0; i < 4; i++)
		contig_free(a, bufs[i].virt);

	/* Bytes are the frames pinned: 4M is two frames, a whole one and
	 * one that a page needs and 60K more pack into. */
	ok(alloc_len(b, FRAME, 0, &x) == 0 && alloc_len(b, PAGE, 0, &y) == 0 &&
		   alloc_len(b, 60 * 1024, 0, &z) == 0,
	   "max_bytes_per_connection_4M_allows_two_frames_and_what_packs_into_them");
	st = stats_of(b);
	ok(st.my_nframes == 2 && st.my_len == FRAME + 64 * 1024,
	   "buffers_packed_into_a_held_frame_cost_no_frame_more");
	expect_quota(b, FRAME, "max_bytes_per_connection (4194304)",
		     "a_buffer_that_needs_a_third_frame_is_refused_naming_max_bytes_per_connection");
	ok(contig_free(b, x.virt) == 0 && alloc_len(b, FRAME, 0, &x) == 0,
	   "after_a_frame_goes_back_the_connection_may_take_a_frame_again");
	contig_free(b, x.virt);
	contig_free(b, y.virt);
	contig_free(b, z.virt);
	rc = alloc_len(a, FRAME, 0, &x);
	ok(rc == 0 && contig_free(a, x.virt) == 0,
	   "the_per_connection_byte_limit_leaves_another_connection_of_the_user_alone");

	contig_disconnect(a);
	contig_disconnect(b);
	stop_daemon(&dm, "per_connection_limits");
}

static void test_per_user_limits(void)
{
	static const char conf[] = "socket_mode = 0666\nallow_users = nobody\n"
				   "max_buffers_per_user = 6\nmax_bytes_per_user = 4M\n"
				   "max_connections_per_user = 2\n";
	struct harness_daemon dm;
	struct harness_child ch;
	struct contig_client *a, *b, *c;
	struct contig_buffer ab[4], bb[4];
	const struct res *r;
	int nok = 0, cbufs[7], ncbufs = 0, rc;
	uint32_t three = 3;

	start_daemon(&dm, "per_user", conf, SMALL_POOL);
	a = harness_connect(&dm);
	b = harness_connect(&dm);
	r_start(&ch, &nobody);
	r = r_connect(&ch, 0);
	if (r->rc != 0)
		bail_out("nobody cannot connect: %s", r->message);

	/* buffers: 3 on each of root's connections */
	for (int i = 0; i < 3; i++) {
		nok += alloc_len(a, PAGE, 0, &ab[i]) == 0;
		nok += alloc_len(b, PAGE, 0, &bb[i]) == 0;
	}
	is_u64(nok, 6, "max_buffers_per_user_6_allows_6_buffers_across_two_connections");
	expect_quota(a, PAGE, "max_buffers_per_user (6)",
		     "the_users_7th_buffer_is_refused_naming_max_buffers_per_user");
	expect_quota(b, PAGE, "max_buffers_per_user (6)",
		     "the_users_7th_buffer_is_refused_on_its_other_connection_too");
	for (nok = 0; ncbufs < 6; ncbufs++) {
		r = r_alloc(&ch, 0, PAGE, 0);
		cbufs[ncbufs] = r->buf;
		nok += r->rc == 0;
	}
	is_u64(nok, 6, "another_uid_gets_its_own_6_buffers_while_root_is_at_its_limit");
	r = r_alloc(&ch, 0, PAGE, 0);
	ok(quota_named(r->rc, r->message, "max_buffers_per_user (6)"),
	   "the_other_uids_7th_buffer_is_refused_too");
	ok(contig_free(a, ab[0].virt) == 0 && alloc_len(b, PAGE, 0, &bb[3]) == 0,
	   "a_free_on_one_connection_lets_the_users_other_connection_allocate");
	for (int i = 1; i < 3; i++)
		contig_free(a, ab[i].virt);
	for (int i = 0; i < 4; i++)
		contig_free(b, bb[i].virt);
	while (ncbufs > 0)
		r_free(&ch, cbufs[--ncbufs]);

	/* bytes, that is frames pinned: a frame on each connection is 4M */
	rc = alloc_len(a, FRAME, 0, &ab[0]);
	rc |= alloc_len(b, FRAME - PAGE, 0, &bb[0]);
	rc |= alloc_len(b, PAGE, 0, &bb[1]);
	ok(rc == 0, "max_bytes_per_user_4M_allows_two_frames_across_two_connections");
	expect_quota(a, 1, "max_bytes_per_user (4194304)",
		     "a_byte_that_needs_a_third_frame_is_refused_naming_max_bytes_per_user");
	r = r_alloc(&ch, 0, 2 * FRAME, 0);
	if (r->rc == 0) {
		cbufs[ncbufs++] = r->buf;
	} else {
		r = r_alloc(&ch, 0, FRAME, 0); /* no two frames adjacent: one at a time */
		cbufs[ncbufs++] = r->buf;
		r = r_alloc(&ch, 0, FRAME, 0);
		cbufs[ncbufs++] = r->buf;
	}
	ok(r->rc == 0 && r->pattern_ok,
	   "another_uid_allocates_its_own_4M_while_root_is_at_its_limit");
	r = r_alloc(&ch, 0, 1, 0);
	ok(quota_named(r->rc, r->message, "max_bytes_per_user (4194304)"),
	   "the_other_uid_is_held_to_its_own_4M");
	ok(contig_free(b, bb[0].virt) == 0 && contig_free(b, bb[1].virt) == 0 &&
		   alloc_len(a, 1, 0, &ab[1]) == 0,
	   "a_frame_freed_on_one_connection_serves_the_users_other_connection");
	contig_free(a, ab[0].virt);
	contig_free(a, ab[1].virt);
	while (ncbufs > 0)
		r_free(&ch, cbufs[--ncbufs]);

	/* connections: root has a and b */
	rc = contig_connect(dm.sock, &c);
	if (!ok(quota_named(rc, contig_last_message(), "max_connections_per_user (2)"),
		"the_users_3rd_connection_is_refused_naming_max_connections_per_user"))
		diag("  %d: %s", rc, contig_last_message());
	if (rc == 0)
		contig_disconnect(c);
	r = r_connect(&ch, 1);
	ok(r->rc == 0, "another_uid_gets_its_own_2_connections");
	r = r_connect(&ch, 2);
	ok(quota_named(r->rc, r->message, "max_connections_per_user (2)") &&
		   strstr(r->message, "uid 65534"),
	   "the_other_uids_3rd_connection_is_refused_naming_the_key_and_uid");
	contig_disconnect(a);
	ok(harness_wait_stats(b, nsessions_is, &three), "a_closed_connection_ends_its_session");
	rc = contig_connect(dm.sock, &a);
	ok(rc == 0, "after_one_connection_closes_the_user_connects_again");
	if (rc == 0)
		contig_disconnect(a);

	r_stop(&ch, "nobody");
	contig_disconnect(b);
	stop_daemon(&dm, "per_user_limits");
}

/* Issue 20, item 2: bytes are counted as the frames a client keeps from
 * others. 4 KiB buffers 2 MiB apart each pin a frame of their own: with
 * max_bytes_per_connection = 8M the fifth is refused, where counting the
 * buffers' bytes (16 KiB) let one client hold every frame of the pool. */
static void test_bytes_are_frames_pinned(void)
{
	static const char conf[] = "max_bytes_per_connection = 8M\nmax_bytes_per_user = 12M\n";
	struct harness_daemon dm;
	struct contig_client *a, *b;
	struct contig_buffer bufs[8], x;
	struct contig_alloc_req req;
	struct contig_stats st;
	int n = 0, rc = 0, nb = 0;

	start_daemon(&dm, "frames_pinned", conf, SMALL_POOL);
	a = harness_connect(&dm);
	b = harness_connect(&dm);
	contig_alloc_req_init(&req, PAGE);
	req.align = FRAME;
	while (n < 8 && (rc = contig_alloc(a, &req, &bufs[n])) == 0)
		n++;
	if (!ok(n == 4 && quota_named(rc, contig_last_message(),
				      "max_bytes_per_connection (8388608)"),
		"4K_buffers_2M_aligned_are_refused_once_their_frames_reach_max_bytes_per_connection"))
		diag("  %d buffers of 4 KiB 2 MiB apart, then %d: %s", n, rc,
		     contig_last_message());
	st = stats_of(a);
	ok(st.my_nframes == (uint32_t)n && st.my_len == (uint64_t)n * PAGE,
	   "each_2M_aligned_4K_buffer_pinned_a_frame_of_its_own");
	rc = alloc_len(a, 64 * 1024, 0, &x);
	ok(rc == 0 && stats_of(a).my_nframes == (uint32_t)n,
	   "at_its_limit_a_client_still_packs_buffers_into_the_frames_it_holds");
	if (rc == 0)
		contig_free(a, x.virt);
	/* The same user's other connection has 12M - 8M = two frames left. */
	while (nb < 4 && contig_alloc(b, &req, &x) == 0)
		nb++;
	if (!ok(nb == 2 && quota_named(-EDQUOT, contig_last_message(),
				       "max_bytes_per_user (12582912)"),
		"2M_aligned_4K_buffers_of_the_users_other_connection_stop_at_max_bytes_per_user"))
		diag("  %d more, then: %s", nb, contig_last_message());
	/* (With the fast path a frame emptied by a free stays a's, in its
	 * warm reserve, until given back: contig_trim().) */
	ok(n > 0 && contig_free(a, bufs[n - 1].virt) == 0 && contig_trim(a) == 0 &&
		   contig_alloc(b, &req, &x) == 0,
	   "a_frame_given_back_by_one_connection_serves_the_users_other_connection");
	contig_disconnect(a);
	contig_disconnect(b);
	stop_daemon(&dm, "frames_pinned");
}

/* Issue 20, item 3: one greedy user cannot take a pool from the others.
 * Two users besides root, both in group nogroup (allowed); the pool has 8
 * frames. With the built-in limits (max_share_per_user = 50%) the greedy
 * one stops at 4 frames and the other gets the rest; with the share off,
 * the fair share (8 frames over 2 users) still keeps the last
 * watermark_low (25%: 2 frames) for the user under it, at any priority. */
static const struct user greedy = { NOBODY, NOBODY, 0, { 0 }, "greedy" };
static const struct user modest = { NOBODY - 1, NOBODY, 0, { 0 }, "modest" };

/* Have @ch take whole frames, at most @max, until refused. Returns how
 * many it got; the refusal is in *ret_res. */
static int r_take_frames(struct harness_child *ch, int max, struct res *ret_res)
{
	int n = 0;

	for (const struct res *r; n < max; n++) {
		r = r_alloc(ch, 0, FRAME, 0);
		*ret_res = *r;
		if (r->rc != 0 || !r->pattern_ok)
			break;
	}
	return n;
}

static void r_connect_or_bail(struct harness_child *ch, const char *who)
{
	const struct res *r = r_connect(ch, 0);

	if (r->rc != 0)
		bail_out("%s cannot connect: %s", who, r->message);
}

static void test_share_and_fair_share(void)
{
	static const char access[] = "socket_mode = 0666\nallow_groups = 65534\n";
	static const char share_off[] = "socket_mode = 0666\nallow_groups = 65534\n"
					"max_share_per_user = 100%\n";
	struct harness_daemon dm;
	struct harness_child g, m;
	struct contig_client *root;
	struct contig_buffer rb[8];
	struct res res;
	uint32_t three = 3;
	int n, nm, nr = 0;

	/* The built-in limits: only access is configured. */
	start_daemon(&dm, "share_default", access, SMALL_POOL);
	root = harness_connect(&dm);
	while (nr < 8 && alloc_len(root, FRAME, 0, &rb[nr]) == 0)
		nr++;
	ok(nr == 8, "root_is_exempt_from_max_share_per_user");
	while (nr > 0)
		contig_free(root, rb[--nr].virt);
	r_start(&g, &greedy);
	r_start(&m, &modest);
	r_connect_or_bail(&g, "greedy");
	r_connect_or_bail(&m, "modest");
	n = r_take_frames(&g, 8, &res);
	if (!ok(n == 4 && quota_named(res.rc, res.message, "max_share_per_user (50% of the pool)"),
		"with_the_built_in_limits_a_greedy_user_stops_at_half_of_the_pool_naming_max_share_per_user"))
		diag("  it took %d of 8 frames, then %d: %s", n, res.rc, res.message);
	nm = r_take_frames(&m, 8, &res);
	if (!ok(nm == 4, "a_second_user_still_gets_its_half_while_the_greedy_one_holds_its_share"))
		diag("  it took %d frames, then %d: %s", nm, res.rc, res.message);
	r_stop(&g, "greedy");
	r_stop(&m, "modest");
	ok(harness_wait_stats(root, settled, &(uint32_t){ 1 }), "both_users_frames_come_back");
	contig_disconnect(root);
	stop_daemon(&dm, "the_built_in_share");

	/* No share: the fair share and watermark_low alone. */
	start_daemon(&dm, "share_off", share_off, SMALL_POOL);
	root = harness_connect(&dm);
	r_start(&g, &greedy);
	r_connect_or_bail(&g, "greedy");
	n = r_take_frames(&g, 8, &res);
	ok(n == 8, "alone_a_user_may_take_the_whole_pool_with_max_share_per_user_100");
	r_stop(&g, "greedy");
	ok(harness_wait_stats(root, settled, &(uint32_t){ 1 }), "the_lone_users_frames_come_back");
	r_start(&g, &greedy);
	r_start(&m, &modest);
	r_connect_or_bail(&g, "greedy");
	r_connect_or_bail(&m, "modest");
	if (!harness_wait_stats(root, nsessions_is, &three))
		bail_out("the two users' sessions do not show");
	n = r_take_frames(&g, 8, &res);
	if (!ok(n == 6 && res.rc == -ENOMEM && strstr(res.message, "fair share"),
		"past_its_fair_share_a_greedy_user_cannot_take_the_last_watermark_low_of_a_pool"))
		diag("  it took %d of 8 frames, then %d: %s", n, res.rc, res.message);
	nm = r_take_frames(&m, 8, &res);
	if (!ok(nm == 2, "the_last_frames_of_a_pool_go_to_the_user_under_its_fair_share"))
		diag("  it took %d frames, then %d: %s", nm, res.rc, res.message);
	r_stop(&g, "greedy");
	r_stop(&m, "modest");
	contig_disconnect(root);
	stop_daemon(&dm, "the_fair_share");
}

static void test_max_connections(void)
{
	struct harness_daemon dm;
	struct contig_client *c[3], *extra;
	Contig__Reply *reply;
	struct contig_stats st;
	uint32_t two = 2;
	int nok = 0, rc, sock, nlines;
	bool named;

	start_daemon(&dm, "max_connections", "max_connections = 3\n", SMALL_POOL);
	for (int i = 0; i < 3; i++)
		nok += contig_connect(dm.sock, &c[i]) == 0;
	if (nok != 3)
		bail_out("max_connections = 3 did not admit 3: %s", contig_last_message());
	ok(true, "max_connections_3_admits_3_connections");
	rc = contig_connect(dm.sock, &extra);
	if (!ok(quota_named(rc, contig_last_message(), "max_connections (3)"),
		"the_4th_connection_is_refused_naming_max_connections"))
		diag("  %d: %s", rc, contig_last_message());
	if (rc == 0)
		contig_disconnect(extra);

	sock = raw_connect(dm.sock);
	reply = raw_recv(sock, NULL);
	named = reply && reply->seq == 0 && reply->status == CONTIG__STATUS__QUOTA_EXCEEDED &&
		reply->message && strstr(reply->message, "max_connections (3)");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(named && raw_closed_after(sock, CONTIG__STATUS__QUOTA_EXCEEDED),
	   "a_raw_connection_past_max_connections_gets_QUOTA_EXCEEDED_unasked_then_eof");
	close(sock);

	st = stats_of(c[0]);
	ok(st.nsessions == 3 && st.nsessions_listed == 3, "refused_connections_hold_no_session");
	nlines = log_lines(&dm, "refused: quota exceeded: max_connections (3) reached", NULL, 0);
	if (!ok(nlines == 2, "each_refused_connection_is_logged_once_naming_max_connections"))
		diag("  %d lines", nlines);

	contig_disconnect(c[2]);
	ok(harness_wait_stats(c[0], nsessions_is, &two), "a_closed_connection_frees_its_place");
	rc = contig_connect(dm.sock, &c[2]);
	ok(rc == 0, "after_one_closes_a_new_connection_is_admitted");
	rc = contig_connect(dm.sock, &extra);
	ok(quota_named(rc, contig_last_message(), "max_connections (3)"),
	   "at_the_limit_again_the_next_is_refused_again");
	if (rc == 0)
		contig_disconnect(extra);
	for (int i = 0; i < 3; i++)
		contig_disconnect(c[i]);
	stop_daemon(&dm, "max_connections");
}

/* Buffers of max_frames_per_buffer frames are allowed, longer ones refused.
 * Multi-frame buffers need physically adjacent frames, which the kernel
 * may not give: the sizes come from the pool's largest_free_len. */
static void test_max_frames_per_buffer(void)
{
	struct harness_daemon dm;
	struct contig_client *c;
	struct contig_buffer b;
	struct contig_stats st;
	uint64_t largest;
	int rc;

	start_daemon(&dm, "max_frames", "max_frames_per_buffer = 2\n", BIG_POOL);
	c = harness_connect(&dm);
	is_u64(hello_max_frames(dm.sock), 2, "hello_reports_the_configured_max_frames_per_buffer");
	st = stats_of(c);
	largest = st.pools[0].largest_free_len;
	diag("  largest_free_len %" PRIu64 " MiB in %u segments", largest >> 20,
	     st.pools[0].nsegments);
	if (largest >= 2 * FRAME) {
		rc = alloc_len(c, 2 * FRAME, 0, &b);
		ok(rc == 0 && b.len == 2 * FRAME &&
			   harness_phys_contiguous(getpid(), b.virt, b.len, b.phys),
		   "a_buffer_of_exactly_max_frames_per_buffer_frames_is_allowed");
		if (rc == 0)
			contig_free(c, b.virt);
	} else {
		ok(true, "a_buffer_of_exactly_max_frames_per_buffer_frames_is_allowed # SKIP no "
			 "two frames are adjacent");
	}
	if (largest >= 3 * FRAME) {
		expect_quota(c, 3 * FRAME, "max_frames_per_buffer (2)",
			     "a_buffer_of_3_frames_is_refused_naming_max_frames_per_buffer");
		expect_quota(c, 2 * FRAME + PAGE, "max_frames_per_buffer (2)",
			     "a_buffer_one_page_longer_than_2_frames_is_refused");
		st = stats_of(c);
		ok(st.my_nbuffers == 0 && st.my_nframes == 0,
		   "a_buffer_refused_for_its_frames_takes_nothing");
	} else {
		for (int i = 0; i < 3; i++)
			ok(true, "a_buffer_of_3_frames_is_refused # SKIP no three frames are "
				 "adjacent");
	}
	contig_disconnect(c);
	stop_daemon(&dm, "max_frames_per_buffer_2");
}

static int alloc_window(struct contig_client *c, uint64_t len, uint64_t lowest, uint64_t highest,
			struct contig_buffer *ret_buf)
{
	struct contig_alloc_req req;

	contig_alloc_req_init(&req, len);
	req.lowest_phys = lowest;
	req.highest_phys = highest;
	return contig_alloc(c, &req, ret_buf);
}

/* max_frames_per_buffer = 1 also holds for space in frames the client
 * already holds. Two adjacent frames F and G: F holds a buffer on all but
 * its last page, G a page at its very end; the free space the client holds
 * across their seam is then exactly 2 MiB, and a buffer there would span
 * both frames. */
static void test_max_frames_in_held_frames(void)
{
	static struct contig_buffer whole[256];
	struct harness_daemon dm;
	struct contig_client *c;
	struct contig_buffer b, pin;
	struct contig_stats st;
	size_t n = 0, f, g;
	uint64_t seam;
	int rc;

	start_daemon(&dm, "max_frames_1", "max_frames_per_buffer = 1\n", BIG_POOL);
	c = harness_connect(&dm);
	rc = alloc_len(c, FRAME, 0, &b);
	ok(rc == 0, "max_frames_per_buffer_1_allows_a_one_frame_buffer");
	if (rc == 0)
		contig_free(c, b.virt);
	st = stats_of(c);
	if (st.pools[0].largest_free_len >= 2 * FRAME)
		expect_quota(c, FRAME + PAGE, "max_frames_per_buffer (1)",
			     "a_two_frame_buffer_is_refused_naming_max_frames_per_buffer");
	else
		ok(true, "a_two_frame_buffer_is_refused # SKIP no two frames are adjacent");

	/* Each buffer of a frame less a page takes a frame of its own, from
	 * its start: where the frames are. */
	while (n < 256 && alloc_len(c, FRAME - PAGE, 0, &whole[n]) == 0)
		n++;
	for (f = 0, g = n; f < n && g == n; f++)
		for (g = 0; g < n && whole[g].phys != whole[f].phys + FRAME; g++)
			;
	if (g == n) {
		ok(true, "a_buffer_in_held_frames_never_spans_more_than_max_frames_per_buffer # "
			 "SKIP no two frames are adjacent");
		goto out;
	}
	f--;
	seam = whole[g].phys;
	if (alloc_window(c, PAGE, seam + FRAME - PAGE, seam + FRAME - 1, &pin) < 0 ||
	    contig_free(c, whole[g].virt) < 0)
		bail_out("cannot pin the last page of the frame at 0x%" PRIx64 ": %s", seam,
			 contig_last_message());
	whole[g].virt = NULL;
	rc = alloc_window(c, FRAME, seam - PAGE, seam + FRAME - PAGE - 1, &b);
	if (!ok((rc == -EDQUOT && strstr(contig_last_message(), "max_frames_per_buffer")) ||
			rc == -ENOMEM,
		"a_buffer_in_held_frames_never_spans_more_than_max_frames_per_buffer"))
		diag("  rc %d: a %" PRIu64 "-byte buffer at 0x%" PRIx64
		     " spans the frames at 0x%" PRIx64 " and 0x%" PRIx64
		     " with max_frames_per_buffer = 1",
		     rc, b.len, b.phys, whole[f].phys, seam);
	if (rc == 0)
		contig_free(c, b.virt);
	contig_free(c, pin.virt);
out:
	for (size_t i = 0; i < n; i++)
		if (whole[i].virt)
			contig_free(c, whole[i].virt);
	contig_disconnect(c);
	stop_daemon(&dm, "max_frames_per_buffer_1");
}

/* A report request of exactly @len bytes (its reason pads it). */
static size_t pack_report(uint8_t *buf, size_t cap, size_t len)
{
	static char reason[257];

	for (size_t pad = 0; pad < sizeof(reason) - 1; pad++) {
		Contig__Request req = CONTIG__REQUEST__INIT;
		Contig__ReportRequest rep = CONTIG__REPORT_REQUEST__INIT;

		memset(reason, 'r', pad);
		reason[pad] = '\0';
		rep.routine = (char *)"test_access";
		rep.reason = reason;
		req.body_case = CONTIG__REQUEST__BODY_REPORT;
		req.report = &rep;
		req.seq = 9;
		if (contig__request__get_packed_size(&req) == len)
			return raw_pack(&req, buf, cap);
	}
	bail_out("cannot build a %zu-byte request", len);
}

/* Send copies of @req without reading a reply until the daemon closes the
 * connection (or @nmax are sent). Returns whether it was closed. */
static bool flood(const char *path, Contig__Request *req, int nmax, int *ret_nsent)
{
	uint8_t buf[CONTIG_MAX_REQUEST_LEN];
	int sock = raw_connect_hello(path), nsent = 0;
	bool closed = false;

	while (nsent < nmax && !closed) {
		int r;

		req->seq = (uint64_t)nsent + 2;
		r = raw_send_bytes(sock, buf, raw_pack(req, buf, sizeof(buf)), MSG_DONTWAIT);
		if (r == 0) {
			nsent++;
		} else if (r == -EAGAIN) {
			struct pollfd p = { .fd = sock, .events = POLLOUT };

			poll(&p, 1, 1000); /* room, or the hang-up */
		} else {
			closed = true;
		}
	}
	/* Read what was queued: EOF means the daemon gave up on us. */
	for (int i = 0; !closed && i < 1000000; i++) {
		int err;
		Contig__Reply *reply = raw_recv_err(sock, NULL, &err);

		if (reply) {
			contig__reply__free_unpacked(reply, NULL);
			continue;
		}
		if (err == -EPROTO)
			continue;
		closed = err == 0 || err == -ECONNRESET;
		break;
	}
	close(sock);
	*ret_nsent = nsent;
	return closed;
}

static void test_request_len_and_queued_replies(void)
{
	static const char conf[] = "max_request_len = 128\nmax_queued_replies = 4\n";
	uint8_t buf[256];
	struct harness_daemon dm;
	struct contig_client *watcher;
	struct contig_buffer b;
	Contig__Request req = CONTIG__REQUEST__INIT;
	Contig__StatsRequest sreq;
	Contig__AllocRequest areq = CONTIG__ALLOC_REQUEST__INIT;
	Contig__Reply *reply;
	uint32_t one = 1;
	int sock, nsent, rc;
	bool closed, answered;

	start_daemon(&dm, "transport", conf, SMALL_POOL);
	watcher = harness_connect(&dm);
	/* (contig_trim(): a fast-path warm frame's free fits too, and the
	 * checks below want no frame owned.) */
	rc = alloc_len(watcher, PAGE, 0, &b);
	ok(rc == 0 && contig_free(watcher, b.virt) == 0 && contig_trim(watcher) == 0,
	   "libcontig_requests_fit_in_a_max_request_len_of_128");
	{
		/* A fast-path report may take 4096 bytes: this daemon's hello
		 * turns the fast path off, and many small buffers (more than
		 * one report's worth) are each a round trip that fits. */
		static struct contig_buffer many[300];
		size_t nok = 0, nfast = 0;

		for (size_t i = 0; i < 300; i++)
			if (alloc_len(watcher, PAGE, 0, &many[i]) == 0) {
				nok++;
				nfast += (many[i].id & UINT64_C(0x80000000)) != 0;
			}
		for (size_t i = 0; i < nok; i++)
			contig_free(watcher, many[i].virt);
		if (!ok(nok == 300 && nfast == 0 && contig_flush(watcher) == 0 &&
				stats_of(watcher).my_nbuffers == 0,
			"below_4096_every_small_buffer_is_a_round_trip_and_the_session_lives"))
			diag("  %zu of 300 served, %zu from the fast path: %s", nok, nfast,
			     contig_last_message());
		contig_trim(watcher);
	}

	sock = raw_connect_hello(dm.sock);
	reply = NULL;
	if (raw_send_bytes(sock, buf, pack_report(buf, sizeof(buf), 128), 0) == 0)
		reply = raw_recv(sock, NULL);
	answered = reply && reply->seq == 9 && reply->status == CONTIG__STATUS__OK;
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	reply = raw_stats(sock, 10);
	ok(answered && reply, "a_request_of_exactly_max_request_len_is_answered");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	reply = NULL;
	if (raw_send_bytes(sock, buf, pack_report(buf, sizeof(buf), 129), 0) == 0)
		reply = raw_recv(sock, NULL);
	closed = reply && reply->status == CONTIG__STATUS__PROTOCOL_ERROR && reply->message &&
		 strstr(reply->message, "max_request_len");
	if (reply)
		contig__reply__free_unpacked(reply, NULL);
	ok(closed && raw_closed_after(sock, CONTIG__STATUS__PROTOCOL_ERROR),
	   "a_request_one_byte_over_max_request_len_closes_the_connection_naming_it");
	close(sock);
	stats_of(watcher);
	ok(log_lines(&dm, "request larger than max_request_len", NULL, 0) >= 1,
	   "the_log_names_max_request_len");

	raw_stats_req(&req, &sreq);
	closed = flood(dm.sock, &req, 100000, &nsent);
	diag("  stats flood: %d requests sent", nsent);
	ok(closed, "a_client_that_sends_without_reading_is_disconnected");
	stats_of(watcher);
	ok(log_lines(&dm, "max_queued_replies 4 reached", NULL, 0) == 1,
	   "the_daemon_logs_one_line_naming_max_queued_replies");
	ok(harness_wait_stats(watcher, settled, &one), "the_flooding_clients_session_is_gone");

	areq.len = PAGE;
	req.body_case = CONTIG__REQUEST__BODY_ALLOC;
	req.alloc = &areq;
	closed = flood(dm.sock, &req, 100000, &nsent);
	diag("  alloc flood: %d requests sent", nsent);
	ok(closed, "a_client_that_allocates_without_reading_is_disconnected");
	ok(harness_wait_stats(watcher, settled, &one),
	   "the_memory_of_a_client_dropped_for_its_reply_queue_is_recycled");
	ok(log_lines(&dm, "max_queued_replies 4 reached", NULL, 0) == 2,
	   "the_second_overflow_is_logged_naming_max_queued_replies_too");

	contig_disconnect(watcher);
	stop_daemon(&dm, "max_request_len_and_max_queued_replies");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(getenv("CONTIGD_VALGRIND") ? 900 : 90); /* a wedged daemon fails, not hangs, the test */
	if (geteuid() != 0)
		bail_out("needs root: it starts clients as other users");
	snprintf(confdir, sizeof(confdir), "/tmp/test_access.XXXXXX");
	if (!mkdtemp(confdir))
		bail_out("mkdtemp: %s", strerror(errno));

	test_socket_file();
	test_unknown_names();
	test_no_user_database();
	test_default_config();
	test_refused();
	test_admitted();
	test_per_connection_limits();
	test_per_user_limits();
	test_bytes_are_frames_pinned();
	test_share_and_fair_share();
	test_max_connections();
	test_max_frames_per_buffer();
	test_max_frames_in_held_frames();
	test_request_len_and_queued_replies();

	if (rmdir(confdir))
		diag("cannot remove %s: %s", confdir, strerror(errno));
	return done_testing();
}
