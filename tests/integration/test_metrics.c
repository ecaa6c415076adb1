/* test_metrics.c - contigctl metrics against what clients did, read the way
 * Prometheus reads it: through Debian's node_exporter and its textfile
 * collector, over HTTP.
 *
 * Two clients (one with a process name made to break a careless exporter:
 * a quote, a backslash, a newline, a byte that is not UTF-8) allocate
 * tagged buffers; one allocation is refused. contigctl metrics --output
 * writes the textfile; a strict parser (the text format 0.0.4: names,
 * label escapes, one TYPE per family before its samples, families whole,
 * no label set twice) checks the document and reads the values, which
 * must be what the clients did; promtool check metrics must accept it too
 * where Debian's prometheus package is installed. Then node_exporter
 * (Debian's prometheus-node-exporter, from `make deps OPTIONAL=1`; skipped without it)
 * serves the directory on a free loopback port, and an HTTP GET of
 * /metrics must show the same values and no textfile scrape error. The
 * Grafana dashboard in the tree may name only metrics the document has.
 * Last, a request that can only be served by a frame being recycled
 * waits, and the requests-waited counter counts it (check_waited()).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define TAG(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* ---- a strict reader of the text format ---- */

struct sample {
	char *key;  /* name{label="unescaped value",...} in the document's order */
	double value;
};

struct doc {
	struct sample *v;
	size_t n;
	char families[128][96];
	size_t nfamilies;
	char why[256]; /* the first fault, "" if none */
};

static bool name_ok(const char *s, size_t len, bool colon)
{
	if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_' || (colon && s[0] == ':')))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (colon && s[i] == ':')))
			return false;
	return true;
}

static bool value_ok(const char *s, double *ret)
{
	char *end;

	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) {
		*ret = strcmp(s, "NaN") == 0 ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
		return true;
	}
	errno = 0;
	*ret = strtod(s, &end);
	return !errno && end != s && !*end;
}

/* The family a sample name belongs to, among the TYPEs seen. */
static int family_of(const struct doc *d, const char *name)
{
	static const char *const suffixes[] = { "", "_bucket", "_sum", "_count" };

	for (size_t f = 0; f < d->nfamilies; f++)
		for (size_t s = 0; s < 4; s++) {
			size_t fl = strlen(d->families[f]);

			if (strncmp(name, d->families[f], fl) == 0 &&
			    strcmp(name + fl, suffixes[s]) == 0)
				return (int)f;
		}
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @key's labels (after its name, @nl bytes) in name order, and an le
 * label's number written one way: Prometheus' order and float format are
 * not ours, and the same sample must compare equal. (Values with a comma
 * or '="' inside would confuse this; the test's values have none.) */
static void normalise(char *key, size_t nl)
{
	char *labels[16], *copy, *save, *tok, out[1024];
	size_t n = 0, len;

	if (key[nl] != '{')
		return;
	len = strlen(key);
	copy = strndup(key + nl + 1, len - nl - 2); /* inside the braces */
	for (tok = strtok_r(copy, ",", &save); tok && n < 16; tok = strtok_r(NULL, ",", &save))
		labels[n++] = tok;
	qsort(labels, n, sizeof(labels[0]), cmp_str);
	snprintf(out, sizeof(out), "%.*s{", (int)nl, key);
	for (size_t i = 0; i < n; i++) {
		char num[40];
		double v;

		if (strncmp(labels[i], "le=\"", 4) == 0 && strcmp(labels[i] + 4, "+Inf\"") != 0) {
			v = strtod(labels[i] + 4, NULL);
			snprintf(num, sizeof(num), "le=\"%.17g\"", v);
			labels[i] = num;
		}
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "",
			 labels[i]);
	}
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "}");
	snprintf(key, 1024, "%s", out);
	free(copy);
}

static void doc_fault(struct doc *d, int line, const char *what)
{
	if (!d->why[0])
		snprintf(d->why, sizeof(d->why), "line %d: %s", line, what);
}

static void doc_parse(struct doc *d, const char *text)
{
	int line = 0, current = -1;

	memset(d, 0, sizeof(*d));
	while (*text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char *l = strndup(text, len), *p;

		line++;
		text += len + (eol ? 1 : 0);
		if (!eol)
			doc_fault(d, line, "no newline at the end");
		if (strncmp(l, "# TYPE ", 7) == 0) {
			char name[96], type[16];

			if (sscanf(l + 7, "%95s %15s", name, type) != 2 ||
			    !name_ok(name, strlen(name), true) ||
			    (strcmp(type, "gauge") && strcmp(type, "counter") &&
			     strcmp(type, "histogram")))
				doc_fault(d, line, "bad TYPE line");
			for (size_t f = 0; f < d->nfamilies; f++)
				if (strcmp(d->families[f], name) == 0)
					doc_fault(d, line, "a family's TYPE twice (not written whole)");
			if (d->nfamilies < 128) {
				snprintf(d->families[d->nfamilies], 96, "%s", name);
				current = (int)d->nfamilies++;
			}
		} else if (l[0] == '#') {
			if (strncmp(l, "# HELP ", 7) != 0)
				doc_fault(d, line, "a comment that is neither HELP nor TYPE");
		} else if (l[0]) {
			char key[1024], *k = key, *sp;
			size_t nl = strcspn(l, "{ ");
			double v;

			if (!name_ok(l, nl, true))
				doc_fault(d, line, "bad metric name");
			memcpy(k, l, nl);
			k += nl;
			p = l + nl;
			if (*p == '{') {
				*k++ = *p++;
				while (*p && *p != '}') {
					size_t ln = strcspn(p, "=");

					if (!name_ok(p, ln, false) || p[ln] != '=' || p[ln + 1] != '"') {
						doc_fault(d, line, "bad label");
						break;
					}
					memcpy(k, p, ln + 2);
					k += ln + 2;
					p += ln + 2;
					while (*p && *p != '"') {
						if (*p == '\\') {
							p++;
							if (*p != '\\' && *p != '"' && *p != 'n')
								doc_fault(d, line, "bad escape in a label value");
							*k++ = *p == 'n' ? '\n' : *p;
							p++;
						} else {
							*k++ = *p++;
						}
						if (k - key > 900)
							break;
					}
					if (*p != '"') {
						doc_fault(d, line, "unterminated label value");
						break;
					}
					*k++ = *p++;
					if (*p == ',')
						*k++ = *p++;
				}
				if (*p == '}')
					*k++ = *p++;
				else
					doc_fault(d, line, "unterminated label set");
			}
			*k = '\0';
			normalise(key, nl);
			if (*p != ' ')
				doc_fault(d, line, "no space before the value");
			sp = p + 1;
			if (!value_ok(sp, &v))
				doc_fault(d, line, "bad value");
			{
				char *name = strndup(l, nl);

				if (current < 0 || family_of(d, name) != current)
					doc_fault(d, line,
						  "a sample outside its family (or before its TYPE)");
				free(name);
			}
			d->v = realloc(d->v, (d->n + 1) * sizeof(*d->v));
			d->v[d->n].value = v;
			d->v[d->n].key = strdup(key);
			d->n++;
			for (size_t i = 0; i + 1 < d->n; i++)
				if (strcmp(d->v[i].key, d->v[d->n - 1].key) == 0)
					doc_fault(d, line, "the same label set twice");
		}
		free(l);
	}
}

/* The value of the sample @key (as doc stores it), or NAN. */
static double doc_get(const struct doc *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].key, key) == 0)
			return d->v[i].value;
	return NAN;
}

/* Does the document have samples of metric @name (a sample name)? */
static bool doc_has_name(const struct doc *d, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < d->n; i++)
		if (strncmp(d->v[i].key, name, len) == 0 &&
		    (d->v[i].key[len] == '{' || d->v[i].key[len] == '\0'))
			return true;
	return false;
}

static void doc_free(struct doc *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].key);
	free(d->v);
}

/* ---- the clients ---- */

/* Client A's process name: a quote, a backslash, a newline, a byte that is
 * not UTF-8; and how contigctl must show it once a parser has undone the
 * format's escapes (contig_escape(): printable ASCII only). */
static const char comm_a[] = "m\"q\\\n\xffz";
static const char comm_a_shown[] = "m\"q\\\\\\x0a\\xffz";

struct client_spec {
	const char *comm;
	uint32_t tag;
	uint64_t len[4];   /* buffers kept */
	uint64_t freed;    /* one more, allocated and freed (0: none) */
	bool refused;      /* and one that cannot fit (1 GiB) */
};

static int client_main(int fd, void *arg)
{
	const struct client_spec *cs = arg;
	struct contig_client *c;
	struct contig_alloc_req req;
	struct contig_buffer b;
	char byte = 'r';

	harness_close_inherited(fd);
	prctl(PR_SET_NAME, cs->comm, 0, 0, 0);
	if (contig_connect(NULL, &c) < 0)
		return 2;
	for (int i = 0; i < 4 && cs->len[i]; i++) {
		contig_alloc_req_init(&req, cs->len[i]);
		req.tag = cs->tag;
		if (contig_alloc(c, &req, &b) < 0)
			return 3;
		memset(b.virt, 0x6d, b.len);
	}
	if (cs->freed) {
		contig_alloc_req_init(&req, cs->freed);
		req.tag = cs->tag;
		if (contig_alloc(c, &req, &b) < 0 || contig_free(c, b.virt) < 0)
			return 4;
	}
	if (cs->refused) {
		contig_alloc_req_init(&req, GiB);
		req.tag = cs->tag;
		if (contig_alloc(c, &req, &b) != -ENOMEM)
			return 5;
	}
	harness_send(fd, &byte, 1);
	/* hold everything until the parent closes its end or kills us */
	harness_try_recv(fd, &byte, 1);
	contig_disconnect(c);
	return 0;
}

/* ---- node_exporter ---- */

static const char *node_exporter_bin(void)
{
	static const char *const paths[] = { "/usr/bin/prometheus-node-exporter",
					     "/usr/local/bin/node_exporter",
					     "/usr/bin/node_exporter" };

	for (size_t i = 0; i < 3; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Run @cmd (sh -c), its output into the TAP stream as comments. */
static int run_quiet(const char *cmd, char *tail, size_t taillen)
{
	FILE *p = popen(cmd, "r");
	char line[512];
	int st;

	if (!p)
		return -1;
	tail[0] = '\0';
	while (fgets(line, sizeof(line), p))
		snprintf(tail, taillen, "%s", line); /* keep the last line: the reason */
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* node_exporter's path, or NULL with @why: the test never installs it
 * (`make deps OPTIONAL=1` does), so that a test run never reaches the
 * network. */
static const char *get_node_exporter(char *why, size_t whylen)
{
	const char *bin = node_exporter_bin();

	if (!bin)
		snprintf(why, whylen, "no node_exporter (make deps OPTIONAL=1, as root, installs "
				      "prometheus-node-exporter)");
	return bin;
}

/* A loopback port no one listens on now. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		bail_out("a free loopback port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Start node_exporter on @port with the textfile collector alone, reading
 * @dir; returns its pid once it says it listens (its log, read until that
 * line: no sleep), or -1 with its log in @log. */
static pid_t start_node_exporter(const char *bin, int port, const char *dir, char *log,
				 size_t loglen)
{
	char listen[64], textdir[640];
	int pipefd[2];
	size_t n = 0;
	pid_t pid;

	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
	snprintf(textdir, sizeof(textdir), "--collector.textfile.directory=%s", dir);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		bail_out("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pipefd[1], 2);
		dup2(pipefd[1], 1);
		execl(bin, bin, listen, "--collector.disable-defaults", "--collector.textfile",
		      textdir, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	log[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 30000) <= 0)
			break;
		r = read(pipefd[0], log + n, loglen - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		log[n] = '\0';
		if (strstr(log, "Listening on")) {
			/* keep reading its log in the background: a full pipe
			 * must not stop it */
			if (fork() == 0) {
				char sink[4096];

				while (read(pipefd[0], sink, sizeof(sink)) > 0)
					;
				_exit(0);
			}
			close(pipefd[0]);
			return pid;
		}
		if (n + 1 >= loglen)
			break;
	}
	close(pipefd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* GET http://127.0.0.1:@port@path; the body (malloc'd) or NULL. */
static char *http_get(int port, const char *path)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char req[256], *buf = NULL, *body;
	size_t n = 0, cap = 0;
	ssize_t r;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return NULL;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return NULL;
	}
	do {
		if (n + 65536 > cap)
			buf = realloc(buf, cap += 1 << 20);
		r = read(fd, buf + n, cap - n - 1);
		if (r > 0)
			n += (size_t)r;
	} while (r > 0);
	close(fd);
	buf[n] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || !body) {
		diag("http: %.200s", buf);
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* The contigd_ families of a scrape (HELP, TYPE and samples), as text. */
static char *contigd_part(const char *text)
{
	char *out = calloc(1, strlen(text) + 1), *o = out;

	while (*text) {
		const char *eol = strchrnul(text, '\n');
		const char *name = text;

		if (strncmp(name, "# HELP ", 7) == 0 || strncmp(name, "# TYPE ", 7) == 0)
			name += 7;
		if (strncmp(name, "contigd_", 8) == 0) {
			memcpy(o, text, (size_t)(eol - text));
			o += eol - text;
			*o++ = '\n';
		}
		text = *eol ? eol + 1 : eol;
	}
	return out;
}

/* ---- the test ---- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* contigctl metrics --output @file; parsed into @d. */
static bool scrape_file(const char *file, struct doc *d)
{
	const char *args[] = { "metrics", "--output", file, NULL };
	char err[512], *out = NULL, *text;
	int rc = harness_run_program("contigctl", 0, args, &out, err, sizeof(err));

	free(out);
	if (rc != 0) {
		diag("contigctl metrics: exit %d: %s", rc, err);
		return false;
	}
	text = read_file(file);
	if (!text)
		return false;
	doc_parse(d, text);
	free(text);
	return true;
}

static bool pred_gone(const struct contig_stats *st, void *arg)
{
	uint32_t want = *(uint32_t *)arg;

	return st->nsessions == want && st->pools[0].nframes_recycling == 0;
}

static void check_dashboard(const struct doc *d)
{
	const char *src = getenv("CONTIGD_SRCDIR");
	char path[512], *json, *p;
	size_t nnames = 0, nmissing = 0;

	snprintf(path, sizeof(path), "%s/docs/grafana/contigd.json", src ? src : ".");
	json = read_file(path);
	if (!json) {
		ok(false, "grafana_dashboard_is_in_the_tree (%s)", path);
		return;
	}
	for (p = json; (p = strstr(p, "contigd_"));) {
		size_t len = 8;
		char name[96];

		while (islower((unsigned char)p[len]) || isdigit((unsigned char)p[len]) ||
		       p[len] == '_')
			len++;
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		p += len;
		/* the datasource's uid and the dashboard's own are no metrics */
		if (strcmp(name, "contigd_") == 0 || strncmp(name, "contigd_dashboard", 17) == 0)
			continue;
		nnames++;
		if (!doc_has_name(d, name)) {
			diag("the dashboard names %s, which contigctl metrics does not write", name);
			nmissing++;
		}
	}
	ok(nnames > 10 && nmissing == 0,
	   "grafana_dashboard_names_only_metrics_that_exist (%zu references)", nnames);
	free(json);
}

/* ---- a request that waits for recycling ---- */

#define MAX_HELD 64

static void raw_alloc_req(Contig__Request *req, Contig__AllocRequest *a, uint64_t seq,
			  uint64_t len)
{
	contig__request__init(req);
	contig__alloc_request__init(a);
	a->len = len;
	req->seq = seq;
	req->body_case = CONTIG__REQUEST__BODY_ALLOC;
	req->alloc = a;
}

static void raw_free_req(Contig__Request *req, Contig__FreeRequest *f, uint64_t seq, uint64_t id)
{
	contig__request__init(req);
	contig__free_request__init(f);
	f->buffer_id = id;
	req->seq = seq;
	req->body_case = CONTIG__REQUEST__BODY_FREE;
	req->free = f;
}

/* The pool full (every free frame taken by a raw session of root, which
 * the watermarks exempt), two of its 2 MiB buffers freed and two 2 MiB
 * allocates sent back to back with the frees, unanswered: the first free
 * keeps its frame for the session, the second sends its frame to the
 * recycler, and the loop reads the allocates microseconds later, long
 * before a 2 MiB frame is truncated, faulted and zeroed. So at least one
 * allocate waits for recycling (at most both: one may find the kept frame
 * not enough), and the counter says so, in stats and in the metrics. */
static void check_waited(const struct harness_daemon *d, struct contig_client *watch,
			 const char *file)
{
	Contig__Request req[4];
	Contig__AllocRequest a[2];
	Contig__FreeRequest f[2];
	uint64_t ids[MAX_HELD], seq = 1000, before, after;
	int sock = raw_connect_hello(d->sock), n = 0, fd, nok = 0;
	struct contig_stats st;
	struct doc doc;

	if (sock < 0)
		bail_out("raw connect: %s", strerror(errno));
	while (n < MAX_HELD && (fd = raw_alloc_fd(sock, seq++, 2 * MiB, &ids[n])) >= 0) {
		close(fd);
		n++;
	}
	if (n < 2 || contig_get_stats(watch, &st) < 0)
		bail_out("filling the pool: %d frames", n);
	before = st.nrequests_waited;
	raw_free_req(&req[0], &f[0], seq++, ids[n - 1]);
	raw_free_req(&req[1], &f[1], seq++, ids[n - 2]);
	raw_alloc_req(&req[2], &a[0], seq++, 2 * MiB);
	raw_alloc_req(&req[3], &a[1], seq++, 2 * MiB);
	for (int i = 0; i < 4; i++)
		if (raw_send(sock, &req[i]) < 0)
			bail_out("send: %s", strerror(errno));
	for (int i = 0; i < 4; i++) {
		Contig__Reply *r = raw_recv(sock, &fd);

		if (fd >= 0)
			close(fd);
		if (r && r->status == CONTIG__STATUS__OK)
			nok++;
		if (r)
			contig__reply__free_unpacked(r, NULL);
	}
	if (contig_get_stats(watch, &st) < 0)
		bail_out("stats: %s", contig_last_message());
	after = st.nrequests_waited;
	if (!ok(nok == 4 && after - before >= 1 && after - before <= 2,
		"an_allocate_that_finds_only_a_frame_being_recycled_waits_and_is_counted"))
		diag("  %d of 4 answered OK; %llu counted", nok,
		     (unsigned long long)(after - before));
	if (!scrape_file(file, &doc))
		bail_out("no metrics");
	ok(doc_get(&doc, "contigd_requests_waited_for_recycling_total") == (double)after,
	   "the_metric_says_the_same (%g)",
	   doc_get(&doc, "contigd_requests_waited_for_recycling_total"));
	doc_free(&doc);
	close(sock);
}

int main(void)
{
	static const char *const args[] = { "--pool", "0:2M:32M", NULL };
	struct client_spec a = { .comm = comm_a, .tag = TAG('M', 't', 'A', '1'),
				 .len = { 1 * MiB, 2 * MiB, 1 * MiB } };
	struct client_spec b = { .comm = "metrics-b", .tag = TAG('M', 't', 'B', '1'),
				 .len = { 4 * MiB }, .freed = 1 * MiB, .refused = true };
	struct harness_daemon d;
	struct harness_child ca, cb;
	struct contig_client *c;
	struct doc doc, after;
	char dir[] = "/tmp/contigd-metrics.XXXXXX", file[128], key[512], why[512], log[8192];
	char byte;
	uint32_t nsessions;
	int port;
	pid_t ne;
	const char *bin;

	signal(SIGPIPE, SIG_IGN);
	harness_daemon_start(&d, args);
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(file, sizeof(file), "%s/contigd.prom", dir);
	harness_child_start(&ca, client_main, &a);
	harness_child_start(&cb, client_main, &b);
	harness_recv(ca.fd, &byte, 1);
	harness_recv(cb.fd, &byte, 1);

	if (!ok(scrape_file(file, &doc), "contigctl_metrics_output_writes_the_file"))
		bail_out("no metrics");
	ok(!doc.why[0], "the_document_passes_a_strict_text_format_parser%s%s",
	   doc.why[0] ? ": " : "", doc.why);
	{
		char cmd[256], tail[512];
		int rc;

		if (access("/usr/bin/promtool", X_OK) != 0) {
			printf("ok %d # skip promtool_check_metrics_accepts_it: no promtool "
			       "(Debian package prometheus)\n", ++tap_count);
		} else {
			snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", file);
			rc = run_quiet(cmd, tail, sizeof(tail));
			if (!ok(rc == 0 && !tail[0], "promtool_check_metrics_accepts_it"))
				diag("promtool: exit %d: %s", rc, tail);
		}
	}
	ok(doc_get(&doc, "contigd_up") == 1, "contigd_up_is_1");
	ok(doc_get(&doc, "contigd_pool_size_bytes{below=\"none\",node=\"0\",page_size=\"2097152\"}") ==
		   32.0 * MiB,
	   "pool_size_is_the_configured_32_MiB");
	{
		double nfree = doc_get(&doc, "contigd_pool_frames{below=\"none\",node=\"0\","
					     "page_size=\"2097152\",state=\"free\"}");
		double nowned = doc_get(&doc, "contigd_pool_frames{below=\"none\",node=\"0\","
					      "page_size=\"2097152\",state=\"owned\"}");
		double freeb = doc_get(&doc, "contigd_pool_free_bytes{below=\"none\",node=\"0\","
					     "page_size=\"2097152\"}");

		ok(nfree + nowned == 16 && nowned >= 4 && freeb == nfree * 2 * MiB,
		   "pool_frames_free_and_owned_add_up (free %g, owned %g)", nfree, nowned);
	}
	snprintf(key, sizeof(key), "contigd_client_bytes{comm=\"%s\",pid=\"%d\",uid=\"0\"}",
		 comm_a_shown, (int)ca.pid);
	ok(doc_get(&doc, key) == 4.0 * MiB,
	   "client_bytes_of_a_hostile_process_name_escaped_and_right");
	snprintf(key, sizeof(key), "contigd_client_buffers{comm=\"metrics-b\",pid=\"%d\",uid=\"0\"}",
		 (int)cb.pid);
	ok(doc_get(&doc, key) == 1, "client_buffers_of_the_other_client");
	ok(doc_get(&doc, "contigd_client_bytes{comm=\"other\",pid=\"other\",uid=\"other\"}") == 0,
	   "other_bucket_is_empty_with_two_clients");
	ok(doc_get(&doc, "contigd_tag_bytes{tag=\"MtA1\",tag_value=\"0x4d744131\"}") == 4.0 * MiB &&
		   doc_get(&doc, "contigd_tag_buffers{tag=\"MtA1\",tag_value=\"0x4d744131\"}") == 3,
	   "tag_bytes_and_buffers_per_tag");
	ok(doc_get(&doc, "contigd_tag_allocations_total{tag=\"MtB1\",tag_value=\"0x4d744231\"}") == 2 &&
		   doc_get(&doc, "contigd_tag_frees_total{tag=\"MtB1\",tag_value=\"0x4d744231\"}") ==
			   1,
	   "tag_allocations_and_frees");
	ok(doc_get(&doc, "contigd_allocations_total") == 5 &&
		   doc_get(&doc, "contigd_frees_total") == 1,
	   "allocations_and_frees_total (%g, %g)", doc_get(&doc, "contigd_allocations_total"),
	   doc_get(&doc, "contigd_frees_total"));
	ok(doc_get(&doc, "contigd_live_bytes") == 8.0 * MiB &&
		   doc_get(&doc, "contigd_live_buffers") == 4,
	   "live_bytes_and_buffers");
	ok(doc_get(&doc, "contigd_refusals_total{reason=\"no_range\",status=\"no_memory\"}") == 1 &&
		   doc_get(&doc, "contigd_refusals_total{reason=\"watermark\",status=\"no_memory\"}") ==
			   0,
	   "the_refused_allocation_counted_by_reason");
	{
		double count = doc_get(&doc, "contigd_request_duration_seconds_count{request=\"alloc\"}");
		double inf = doc_get(&doc, "contigd_request_duration_seconds_bucket{le=\"+Inf\","
					   "request=\"alloc\"}");
		double sum = doc_get(&doc, "contigd_request_duration_seconds_sum{request=\"alloc\"}");
		double prev = 0;
		bool mono = true;

		for (size_t i = 0; i < doc.n; i++)
			if (strncmp(doc.v[i].key, "contigd_request_duration_seconds_bucket{", 40) ==
				    0 &&
			    strstr(doc.v[i].key, "request=\"alloc\"")) {
				mono = mono && doc.v[i].value >= prev;
				prev = doc.v[i].value;
			}
		ok(count == 6 && inf == count && sum > 0 && mono,
		   "alloc_latency_histogram_counts_every_allocate (count %g, +Inf %g, sum %g)",
		   count, inf, sum);
	}

	/* node_exporter, over HTTP */
	bin = get_node_exporter(why, sizeof(why));
	if (!bin) {
		printf("ok %d # skip node_exporter_serves_the_same_values: %s\n", ++tap_count, why);
		printf("ok %d # skip node_exporter_sees_no_textfile_error: %s\n", ++tap_count, why);
	} else if ((ne = start_node_exporter(bin, port = free_port(), dir, log, sizeof(log))) < 0) {
		ok(false, "node_exporter_starts");
		diag("%s", log);
	} else {
		char *body;
		struct doc scraped;
		size_t same = 0;

		body = http_get(port, "/metrics");
		if (!body) {
			ok(false, "node_exporter_serves_the_same_values (no scrape: %s)", log);
			ok(false, "node_exporter_sees_no_textfile_error");
		} else {
			char *part = contigd_part(body);

			doc_parse(&scraped, part);
			for (size_t i = 0; i < doc.n; i++) {
				double v = doc_get(&scraped, doc.v[i].key);

				if (v == doc.v[i].value)
					same++;
				else if (same + 3 > i)
					diag("scraped %s: %g, the file says %g", doc.v[i].key, v,
					     doc.v[i].value);
			}
			ok(same == doc.n && scraped.n == doc.n && !scraped.why[0],
			   "node_exporter_serves_the_same_values (%zu of %zu samples)", same, doc.n);
			ok(strstr(body, "\nnode_textfile_scrape_error 0\n") != NULL,
			   "node_exporter_sees_no_textfile_error");
			doc_free(&scraped);
			free(part);
			free(body);
		}
		kill(ne, SIGTERM);
		waitpid(ne, NULL, 0);
	}
	check_dashboard(&doc);

	/* client A dies: what it held returns, and the counters say so */
	kill(ca.pid, SIGKILL);
	harness_child_wait(&ca);
	c = harness_connect(&d);
	nsessions = 2; /* client B and this one */
	if (!harness_wait_stats(c, pred_gone, &nsessions))
		bail_out("the dead client's session never went");
	contig_disconnect(c);
	if (!ok(scrape_file(file, &after), "metrics_again_after_a_client_died"))
		bail_out("no metrics");
	snprintf(key, sizeof(key), "contigd_client_bytes{comm=\"%s\",pid=\"%d\",uid=\"0\"}",
		 comm_a_shown, (int)ca.pid);
	ok(isnan(doc_get(&after, key)) && doc_get(&after, "contigd_live_bytes") == 4.0 * MiB &&
		   doc_get(&after, "contigd_buffers_released_total") == 3,
	   "a_dead_clients_buffers_are_released_and_counted");
	doc_free(&after);
	doc_free(&doc);

	c = harness_connect(&d);
	check_waited(&d, c, file);
	contig_disconnect(c);

	close(cb.fd);
	is_u64(harness_child_wait(&cb), 0, "client_b_exits_cleanly");
	unlink(file);
	rmdir(dir);
	is_u64(harness_daemon_stop(&d), 0, "daemon_stops_cleanly");
	return done_testing();
}
