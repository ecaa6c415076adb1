/* test_journal.c - unit tests for daemon/journal.c, printing TAP.
 *
 * Random sequences of records are written and replayed against the list
 * kept here; then the file is cut at every byte of its last record (a torn
 * write) and at random points, and bytes are flipped: replay must give
 * back exactly the whole records before the damage and say where it
 * stopped. Headers of other formats and files that are not journals are
 * refused by name. JOURNAL_SEED replays a run.
 */
#include "journal.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_RECORDS 5000

static char dir[64], path[128];

struct replayed {
	struct contig_journal_record recs[MAX_RECORDS];
	size_t n;
	size_t stop_after; /* SIZE_MAX: never stop */
};

static int collect(const struct contig_journal_record *rec, void *arg)
{
	struct replayed *r = arg;

	if (r->n == MAX_RECORDS)
		return -ENOSPC;
	r->recs[r->n++] = *rec;
	return r->n == r->stop_after ? 7 : 0;
}

static uint64_t rnd64(void)
{
	return (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^ (uint64_t)rand();
}

/* A random record of a random type, with only that type's fields set (the
 * rest zero, as replay gives them back). */
static struct contig_journal_record random_record(void)
{
	struct contig_journal_record r = { 0 };

	r.type = (enum contig_journal_type)(1 + rand() % 7);
	if (r.type != CONTIG_JOURNAL_FRAME_RELEASE && r.type != CONTIG_JOURNAL_POOL)
		for (unsigned i = 0; i < CONTIG_TOKEN_LEN; i++)
			r.token[i] = (uint8_t)rand();
	switch (r.type) {
	case CONTIG_JOURNAL_SESSION_OPEN:
		r.uid = (uint32_t)rand();
		r.pid = (uint32_t)rand();
		snprintf(r.comm, sizeof(r.comm), "proc-%d", rand() % 100000);
		break;
	case CONTIG_JOURNAL_SESSION_CLOSE:
		break;
	case CONTIG_JOURNAL_FRAME_OWN:
		r.cache_type = rand() % 6;
		r.phys = rnd64();
		/* fall through */
	case CONTIG_JOURNAL_FRAME_RELEASE:
		r.node = (uint32_t)(rand() % 4);
		r.page_len = rand() % 2 ? 2u << 20 : 1u << 30;
		r.file_id = rnd64();
		break;
	case CONTIG_JOURNAL_BUFFER_ALLOC:
		r.id = rnd64();
		r.node = (uint32_t)(rand() % 4);
		r.page_len = 2u << 20;
		r.phys = rnd64();
		r.len = rnd64();
		r.req_len = rnd64();
		r.cache_type = rand() % 6;
		r.tag = (uint32_t)rand();
		r.seq = rnd64();
		/* constraints: absent (their default) or any value */
		r.lowest = rand() % 2 ? rnd64() : 0;
		r.highest = rand() % 2 ? rnd64() : UINT64_MAX;
		r.boundary = rand() % 2 ? rnd64() : 0;
		r.align = rand() % 2 ? rnd64() : 0;
		r.priority = (uint32_t)(rand() % 48);
		break;
	case CONTIG_JOURNAL_BUFFER_FREE:
		r.id = rnd64();
		break;
	case CONTIG_JOURNAL_POOL:
		r.node = (uint32_t)(rand() % 4);
		r.page_len = 2u << 20;
		r.hugepages_added = rnd64();
		break;
	case CONTIG_JOURNAL_CARVES: /* not drawn: its arrays are not compared here */
		break;
	}
	return r;
}

static off_t file_len(void)
{
	struct stat st;

	if (stat(path, &st) < 0)
		bail_out("stat %s: %s", path, strerror(errno));
	return st.st_size;
}

static bool same(const struct contig_journal_record *a, const struct contig_journal_record *b,
		 size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof(*a)) != 0)
			return false;
	return true;
}

/* Write @n random records into a new journal; @ends[0] is the header's
 * length and @ends[i + 1] the file's length after record i. */
static void write_journal(struct contig_journal_record *recs, size_t n, off_t *ends)
{
	struct contig_journal *j;
	char err[256];

	if (contig_journal_create(path, &j, err, sizeof(err)) < 0)
		bail_out("create: %s", err);
	if (contig_journal_publish(j) < 0)
		bail_out("publish: %s", strerror(errno));
	ends[0] = (off_t)contig_journal_len(j);
	for (size_t i = 0; i < n; i++) {
		recs[i] = random_record();
		if (contig_journal_add(j, &recs[i]) < 0)
			bail_out("append: %s", strerror(errno));
		ends[i + 1] = (off_t)contig_journal_len(j);
	}
	contig_journal_close(j);
}

static void test_round_trip(void)
{
	static struct contig_journal_record recs[MAX_RECORDS];
	static off_t ends[MAX_RECORDS + 1];
	static struct replayed got;
	bool all = true;

	for (int round = 0; round < 20; round++) {
		size_t n = (size_t)(rand() % MAX_RECORDS);
		uint64_t valid;
		int torn, r;

		write_journal(recs, n, ends);
		got.n = 0;
		got.stop_after = SIZE_MAX;
		r = contig_journal_replay(path, collect, &got, &valid, &torn, NULL, 0);
		if (r != 0 || got.n != n || !same(recs, got.recs, n) || torn ||
		    valid != (uint64_t)file_len()) {
			diag("round %d: r %d, %zu of %zu records, torn %d", round, r, got.n, n, torn);
			all = false;
		}
	}
	ok(all, "every_record_written_is_replayed_in_order_and_unchanged");
}

/* A daemon that dies leaves its journal open, allocated past its last
 * record: a child that adds records and _exit()s without closing (and one
 * growing it past its first allocation) leaves every record whole. */
static void test_left_open(void)
{
	static struct contig_journal_record recs[MAX_RECORDS];
	static struct replayed got;
	size_t counts[] = { 0, 7, MAX_RECORDS };
	bool all = true;

	for (size_t c = 0; c < 3; c++) {
		size_t n = counts[c];
		uint64_t valid;
		int torn, status;
		pid_t pid;

		for (size_t i = 0; i < n; i++)
			recs[i] = random_record();
		pid = fork();
		if (pid == 0) {
			struct contig_journal *j;

			if (contig_journal_create(path, &j, NULL, 0) < 0 ||
			    contig_journal_publish(j) < 0)
				_exit(2);
			for (size_t i = 0; i < n; i++)
				if (contig_journal_add(j, &recs[i]) < 0)
					_exit(3);
			_exit(0); /* no close: as a crash leaves it */
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bail_out("journal writer child failed");
		got.n = 0;
		got.stop_after = SIZE_MAX;
		if (contig_journal_replay(path, collect, &got, &valid, &torn, NULL, 0) != 0 ||
		    got.n != n || !same(recs, got.recs, n) || torn || valid >= (uint64_t)file_len()) {
			diag("%zu records: %zu replayed, torn %d, valid %llu of %lld", n, got.n, torn,
			     (unsigned long long)valid, (long long)file_len());
			all = false;
		}
	}
	ok(all, "a_journal_left_open_replays_whole_and_untorn_and_its_zero_tail_ends_it");
}

static void test_torn_tail(void)
{
	static struct contig_journal_record recs[8];
	static off_t ends[9];
	static struct replayed got;
	off_t last_start;
	bool all = true;

	write_journal(recs, 8, ends);
	last_start = ends[7];
	/* Cut inside the last record at every byte: seven records remain. */
	for (off_t cut = ends[8] - 1; cut > last_start; cut--) {
		uint64_t valid;
		int torn;

		if (truncate(path, cut) < 0)
			bail_out("truncate: %s", strerror(errno));
		got.n = 0;
		got.stop_after = SIZE_MAX;
		if (contig_journal_replay(path, collect, &got, &valid, &torn, NULL, 0) != 0 ||
		    got.n != 7 || !same(recs, got.recs, 7) || !torn || valid != (uint64_t)last_start)
			all = false;
	}
	ok(all, "a_last_record_cut_anywhere_is_dropped_and_the_rest_kept");
}

static void test_corruption(void)
{
	static struct contig_journal_record recs[50];
	static off_t ends[51];
	static struct replayed got;
	bool all = true;

	for (int round = 0; round < 100; round++) {
		size_t k = (size_t)(rand() % 50);
		off_t at;
		uint8_t byte;
		uint64_t valid;
		int fd, torn;

		write_journal(recs, 50, ends);
		/* Flip a byte somewhere in record k: its length, CRC or body. */
		at = ends[k] + rand() % (ends[k + 1] - ends[k]);
		fd = open(path, O_RDWR);
		if (fd < 0 || pread(fd, &byte, 1, at) != 1)
			bail_out("corrupting: %s", strerror(errno));
		byte ^= (uint8_t)(1 + rand() % 255);
		if (pwrite(fd, &byte, 1, at) != 1)
			bail_out("corrupting: %s", strerror(errno));
		close(fd);
		got.n = 0;
		got.stop_after = SIZE_MAX;
		if (contig_journal_replay(path, collect, &got, &valid, &torn, NULL, 0) != 0 ||
		    got.n != k || !same(recs, got.recs, k) || !torn || valid != (uint64_t)ends[k]) {
			diag("round %d: record %zu corrupted at %lld: %zu replayed, torn %d", round,
			     k, (long long)at, got.n, torn);
			all = false;
		}
	}
	ok(all, "a_corrupted_record_ends_the_journal_just_before_it");
}

static void test_callback_stops(void)
{
	static struct contig_journal_record recs[20];
	static off_t ends[21];
	static struct replayed got;

	write_journal(recs, 20, ends);
	got.n = 0;
	got.stop_after = 5;
	ok(contig_journal_replay(path, collect, &got, NULL, NULL, NULL, 0) == 7 && got.n == 5,
	   "a_callback_error_stops_the_replay_and_is_returned");
}

/* A file holding one frame around @body (@len bytes), its length and CRC
 * right, as journal.c frames records. */
static void write_raw_header(const uint8_t *body, uint32_t len)
{
	uint8_t head[8];
	uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), body, len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	for (int i = 0; i < 4; i++) {
		head[i] = (uint8_t)(len >> (8 * i));
		head[4 + i] = (uint8_t)(crc >> (8 * i));
	}
	if (fd < 0 || write(fd, head, 8) != 8 || write(fd, body, len) != (ssize_t)len)
		bail_out("write");
	close(fd);
}

static void test_refusals(void)
{
	char err[512] = "";
	struct contig_journal *j;
	static struct replayed got;
	int fd;

	ok(contig_journal_replay("/nonexistent/journal", collect, &got, NULL, NULL, err,
				 sizeof(err)) == -ENOENT &&
		   strstr(err, "/nonexistent/journal"),
	   "a_missing_journal_is_enoent_and_named");

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "hello, world\n", 13) != 13)
		bail_out("write");
	close(fd);
	ok(contig_journal_replay(path, collect, &got, NULL, NULL, err, sizeof(err)) == -EPROTO &&
		   strstr(err, "not a contigd journal"),
	   "a_file_that_is_not_a_journal_is_refused");

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	close(fd);
	ok(contig_journal_replay(path, collect, &got, NULL, NULL, err, sizeof(err)) == -EPROTO,
	   "an_empty_file_is_not_a_journal");

	/* Header { format = CONTIG_JOURNAL_FORMAT + 1 }: field 1 of field 1. */
	{
		const uint8_t body[] = { 0x0a, 0x02, 0x08, (uint8_t)(CONTIG_JOURNAL_FORMAT + 1) };

		write_raw_header(body, sizeof(body));
		if (!ok(contig_journal_replay(path, collect, &got, NULL, NULL, err, sizeof(err)) ==
				    -EPROTO &&
				strstr(err, "format 2 is newer"),
			"a_journal_of_a_newer_format_is_refused_naming_it"))
			diag("  %s", err);
	}
	/* An older format (0) reads. */
	{
		const uint8_t body[] = { 0x0a, 0x02, 0x08, 0x00 };

		write_raw_header(body, sizeof(body));
		got.n = 0;
		ok(contig_journal_replay(path, collect, &got, NULL, NULL, err, sizeof(err)) == 0 &&
			   got.n == 0,
		   "a_journal_of_an_older_format_reads");
	}
	if (contig_journal_create(path, &j, err, sizeof(err)) < 0)
		bail_out("create: %s", err);
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp), "%s.new", path);
		unlink(path);
		ok(access(path, F_OK) < 0 && access(tmp, F_OK) == 0,
		   "create_writes_a_temporary_file_only");
	}
	ok(contig_journal_publish(j) == 0, "publish_succeeds");
	contig_journal_close(j);
	ok(file_len() > 0 && access(path, F_OK) == 0, "publish_leaves_a_journal_with_a_header");
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp), "%s.new", path);
		ok(access(tmp, F_OK) < 0, "publish_leaves_no_temporary_file");
	}
}

/* A fast-path report's record (Carves) and a warm frame's BufferAlloc: the
 * carves and the frees come back as written, req_len absent meaning len;
 * the largest report a request can carry fits one record. */
struct carves_seen {
	struct contig_carve_entry e[128];
	uint64_t f[8];
	size_t ne, nf, nrec;
	bool warm;
};

static int collect_carves(const struct contig_journal_record *rec, void *arg)
{
	struct carves_seen *c = arg;

	if (rec->type == CONTIG_JOURNAL_BUFFER_ALLOC)
		c->warm = rec->warm;
	if (rec->type != CONTIG_JOURNAL_CARVES)
		return 0;
	c->nrec++;
	for (size_t i = 0; i < rec->ncarves && c->ne < 128; i++)
		c->e[c->ne++] = rec->carves[i];
	for (size_t i = 0; i < rec->nfrees && c->nf < 8; i++)
		c->f[c->nf++] = rec->frees[i];
	return 0;
}

static void test_carves(void)
{
	struct contig_carve_entry e[120];
	const uint64_t frees[] = { 0x8000000000000001ull, 7 };
	struct contig_journal_record warm = { .type = CONTIG_JOURNAL_BUFFER_ALLOC, .id = 0x100000001,
					      .page_len = 2u << 20, .len = 2u << 20,
					      .req_len = 2u << 20, .highest = UINT64_MAX,
					      .priority = 32, .warm = true };
	struct contig_journal_record rec = { .type = CONTIG_JOURNAL_CARVES, .carves = e,
					     .ncarves = 120, .frees = frees, .nfrees = 2 };
	struct carves_seen got = { 0 };
	struct contig_journal *j;
	bool same_all = true;

	for (size_t i = 0; i < 120; i++)
		e[i] = (struct contig_carve_entry){ .id = UINT64_MAX - i, .frame_id = 0x100000001,
						    .offset = i << 12, .len = 4096,
						    .req_len = i % 2 ? 4096 : 100 + i,
						    .tag = 0xffffffffu - (uint32_t)i };
	if (contig_journal_create(path, &j, NULL, 0) < 0 || contig_journal_publish(j) < 0)
		bail_out("create");
	ok(contig_journal_add(j, &warm) == 0 && contig_journal_add(j, &rec) == 0,
	   "a_warm_frame_and_a_report_of_120_carves_fit_a_record_each");
	contig_journal_close(j);
	ok(contig_journal_replay(path, collect_carves, &got, NULL, NULL, NULL, 0) == 0 &&
		   got.nrec == 1 && got.warm,
	   "they_replay_as_one_carves_record_and_a_warm_buffer");
	for (size_t i = 0; i < 120; i++)
		same_all &= got.ne == 120 && got.e[i].id == e[i].id &&
			    got.e[i].frame_id == e[i].frame_id && got.e[i].offset == e[i].offset &&
			    got.e[i].len == e[i].len && got.e[i].req_len == e[i].req_len &&
			    got.e[i].tag == e[i].tag;
	ok(same_all && got.nf == 2 && got.f[0] == frees[0] && got.f[1] == frees[1],
	   "carves_and_frees_come_back_as_written");
}

int main(void)
{
	const char *seed_text = getenv("JOURNAL_SEED");
	unsigned seed = seed_text ? (unsigned)strtoul(seed_text, NULL, 0) : (unsigned)getpid();

	diag("JOURNAL_SEED=%u", seed);
	srand(seed);
	snprintf(dir, sizeof(dir), "/tmp/test_journal.XXXXXX");
	if (!mkdtemp(dir))
		bail_out("mkdtemp");
	snprintf(path, sizeof(path), "%s/journal", dir);

	test_round_trip();
	test_left_open();
	test_torn_tail();
	test_corruption();
	test_callback_stops();
	test_refusals();
	test_carves();

	unlink(path);
	rmdir(dir);
	return done_testing();
}
