/* Unit tests of ndjson.c: the line reader, parsing, rejects; and out.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "jrn.h"
#include "unit.h"

static char dir[] = "/tmp/jrn-unit-XXXXXX";

static char *write_file(const char *name, const char *data, size_t n)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	fwrite(data, 1, n, f);
	fclose(f);
	return p;
}

/* All lines of the files, joined as "FILE:LINE:TEXT|" for comparison. */
static char *read_all(char **files, int n)
{
	static jrn_buf b;
	jrn_buf_reset(&b);
	jrn_reader *r = jrn_reader_new(files, n);
	jrn_line ln;
	jrn_err e;
	int rc;
	while ((rc = jrn_reader_next(r, &ln, &e)) != 0) {
		if (rc < 0) {
			jrn_buf_addf(&b, "ERR(%s)|", strrchr(e.msg, ':') + 2);
			continue;
		}
		jrn_buf_addf(&b, "%s:%llu:%.*s|", strrchr(ln.file, '/') + 1,
			     (unsigned long long)ln.lineno, (int)ln.len, ln.p);
	}
	jrn_reader_free(r);
	return b.p ? b.p : "";
}

/* ---- jrn_reader_pump and jrn_db_read_ahead ---- */

/* stdin made the read end of a new pipe; the write end into *w. */
static int stdin_pipe(int *w)
{
	int fd[2];
	if (pipe(fd) < 0 || dup2(fd[0], 0) < 0)
		return -1;
	close(fd[0]);
	*w = fd[1];
	return 0;
}

/* A writer upstream, as jrn-route: n lines "line N" into fd, then (when
 * db is set) its transaction committed, then fd closed. */
typedef struct {
	int fd, n;
	sqlite3 *db;
	int wrote;
} upstream;

static void *upstream_main(void *arg)
{
	upstream *u = arg;
	char line[64];
	for (int i = 1; i <= u->n; i++) {
		int len = snprintf(line, sizeof line, "line %d\n", i);
		if (write(u->fd, line, (size_t)len) != len)
			break;
		u->wrote = i;
	}
	if (u->db)
		sqlite3_exec(u->db, "COMMIT", NULL, NULL, NULL);
	close(u->fd);
	return NULL;
}

/* How many lines rd gives to its end, and whether they are "line N" on
 * from N = from + 1 (from lines were read before). */
static int count_lines(jrn_reader *rd, int from, bool *in_order)
{
	jrn_line ln;
	jrn_err e;
	int n = from, rc;
	*in_order = true;
	while ((rc = jrn_reader_next(rd, &ln, &e)) == 1) {
		char want[32];
		int len = snprintf(want, sizeof want, "line %d", ++n);
		if (ln.len != (size_t)len || memcmp(ln.p, want, (size_t)len))
			*in_order = false;
	}
	return rc == 0 ? n : -1;
}

static void test_pump(void)
{
	int saved = dup(0), w;
	jrn_line ln;
	jrn_err e;
	if (saved < 0 || stdin_pipe(&w) < 0) {
		CHECK(0, "a pipe on stdin");
		return;
	}
	jrn_reader *r = jrn_reader_new(NULL, 0);
	CHECK(write(w, "a\nb\n", 4) == 4, "written");
	CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.len == 1 && ln.p[0] == 'a', "the first line");
	const char *a = ln.p;
	CHECK(write(w, "c\nd\n", 4) == 4, "written more");
	CHECK(jrn_reader_pump(r, 0, JRN_READ_AHEAD_MAX) == 1, "pumped what was ready");
	CHECK(a[0] == 'a' && a == ln.p, "the line returned has not moved");
	CHECK(jrn_reader_pump(r, 0, JRN_READ_AHEAD_MAX) == 0, "nothing more ready");
	int64_t t0 = jrn_mono_ms();
	CHECK(jrn_reader_pump(r, 60, JRN_READ_AHEAD_MAX) == 0 && jrn_mono_ms() - t0 >= 55,
	      "nothing comes: it waits wait_ms");
	close(w);
	CHECK(jrn_reader_pump(r, 0, JRN_READ_AHEAD_MAX) == 0, "the end read ahead");
	const char *want[] = {"b", "c", "d"};
	for (int i = 0; i < 3; i++)
		CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.len == 1 && ln.p[0] == want[i][0] &&
			      ln.lineno == (uint64_t)i + 2,
		      "line %s after the pump, numbered %d", want[i], i + 2);
	CHECK(jrn_reader_next(r, &ln, &e) == 0, "then the end, kept for after the lines");
	jrn_reader_free(r);

	/* max: nothing is held past it */
	if (stdin_pipe(&w) == 0) {
		r = jrn_reader_new(NULL, 0);
		CHECK(write(w, "x\n", 2) == 2, "written");
		CHECK(jrn_reader_pump(r, 0, 0) == 0, "max 0: nothing read ahead");
		close(w);
		CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.p[0] == 'x', "the line read as usual");
		CHECK(jrn_reader_next(r, &ln, &e) == 0, "the end");
		jrn_reader_free(r);
	}

	/* more than a pipe holds, pumped while the writer writes */
	if (stdin_pipe(&w) == 0) {
		r = jrn_reader_new(NULL, 0);
		upstream u = {w, 200000, NULL, 0};
		pthread_t th;
		pthread_create(&th, NULL, upstream_main, &u);
		/* (the input is opened by the first jrn_reader_next) */
		CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.len == 6, "the first line");
		int64_t until = jrn_mono_ms() + 10000;
		while (jrn_mono_ms() < until && u.wrote < u.n)
			jrn_reader_pump(r, 10, JRN_READ_AHEAD_MAX);
		bool all = u.wrote == u.n;
		CHECK(all, "the writer wrote all %d lines (%d) while we only pumped", u.n, u.wrote);
		if (!all)
			jrn_reader_free(r), r = NULL, close(0); /* (the writer fails, and ends) */
		pthread_join(th, NULL);
		bool ok;
		if (r)
			CHECK(count_lines(r, 1, &ok) == u.n && ok, "every line, in order");
		jrn_reader_free(r);
	}

	/* a file is not read ahead */
	char *f = write_file("f", "p\nq\n", 4);
	r = jrn_reader_new(&f, 1);
	CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.p[0] == 'p', "a file's line");
	CHECK(jrn_reader_pump(r, 0, JRN_READ_AHEAD_MAX) == 0, "a file is not pumped");
	CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.p[0] == 'q', "its next line");
	jrn_reader_free(r);

	dup2(saved, 0);
	close(saved);
}

/* The deadlock jrn_db_read_ahead breaks: upstream holds the write lock
 * while it writes more than a pipe holds to us; we wait for that lock. */
static void test_read_ahead(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/ra.db", dir);
	sqlite3 *up = NULL, *down = NULL;
	jrn_err e;
	int saved = dup(0), w;
	if (jrn_db_open(path, 1000, &up, &e) < 0 || jrn_db_open(path, 1000, &down, &e) < 0 ||
	    saved < 0 || stdin_pipe(&w) < 0) {
		CHECK(0, "two connections and a pipe: %s", e.msg);
		return;
	}
	jrn_reader *r = jrn_reader_new(NULL, 0);
	jrn_read_ahead *ra = jrn_db_read_ahead(down, r, 1000);
	CHECK(ra != NULL, "read ahead set up");
	CHECK(sqlite3_exec(up, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "upstream takes the lock");
	upstream u = {w, 100000, up, 0};
	pthread_t th;
	pthread_create(&th, NULL, upstream_main, &u);
	jrn_line ln;
	CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.len == 6, "the first line");
	int64_t t0 = jrn_mono_ms();
	int rc = sqlite3_exec(down, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	CHECK(rc == SQLITE_OK, "we get the lock once upstream has written it all and committed (%d)", rc);
	CHECK(jrn_mono_ms() - t0 < 1000, "before the busy time-out");
	if (rc == SQLITE_OK) {
		sqlite3_exec(down, "COMMIT", NULL, NULL, NULL);
		pthread_join(th, NULL);
		bool ok;
		CHECK(count_lines(r, 1, &ok) == u.n && ok, "every line upstream wrote, in order");
	} else { /* stalled: the writer ends on a closed pipe */
		close(0);
		pthread_join(th, NULL);
		sqlite3_exec(up, "ROLLBACK", NULL, NULL, NULL);
	}

	/* a lock never given back: SQLITE_BUSY after busy_ms, as before */
	CHECK(sqlite3_exec(up, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "upstream locks again");
	t0 = jrn_mono_ms();
	rc = sqlite3_exec(down, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	int64_t waited = jrn_mono_ms() - t0;
	CHECK(rc == SQLITE_BUSY && waited >= 950 && waited < 3000, "busy after the time-out (%d, %lld ms)", rc,
	      (long long)waited);
	sqlite3_exec(up, "ROLLBACK", NULL, NULL, NULL);
	jrn_db_read_ahead_end(down, ra, 1000);
	jrn_db_read_ahead_end(down, NULL, 1000);
	jrn_reader_free(r);
	sqlite3_close(up);
	sqlite3_close(down);
	dup2(saved, 0);
	close(saved);
}

/* ---- jrn_out_behind ---- */

/* Reads fd to its end into the jrn_buf arg, in small reads with pauses,
 * so that the writer gets ahead of it and waits. */
static void *slow_reader(void *arg)
{
	jrn_buf *got = ((void **)arg)[0];
	int fd = *(int *)((void **)arg)[1];
	char chunk[4096];
	ssize_t n;
	int k = 0;
	while ((n = read(fd, chunk, sizeof chunk)) > 0) {
		jrn_buf_add(got, chunk, (size_t)n);
		if (++k % 64 == 0)
			usleep(1000);
	}
	return NULL;
}

static void test_out_behind(void)
{
	/* through a pipe to a slow reader: records (past the 256 KiB block
	 * many times), given batches and copied lines come out whole and in
	 * order; a given batch comes back empty and usable */
	int fds[2];
	if (pipe(fds) != 0)
		return;
	jrn_buf got = {0}, want = {0}, batch = {0};
	void *arg[2] = {&got, &fds[0]};
	pthread_t th;
	pthread_create(&th, NULL, slow_reader, arg);
	jrn_out o;
	jrn_out_init(&o, fds[1]);
	CHECK(jrn_out_behind(&o) == 0 && o.behind, "behind: a thread");
	int bad = 0;
	for (int i = 0; i < 60000; i++) {
		char line[64];
		snprintf(line, sizeof line, "{\"n\":%d,\"pad\":\"%.*s\"}", i, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		jrn_buf_addf(&want, "%s\n", line);
		if (i % 7 == 0) {
			jrn_buf_addf(&batch, "%s\n", line);
			if (i % 700 == 0) {
				bad |= jrn_out_give(&o, &batch) < 0 || batch.len != 0;
				jrn_buf_addf(&batch, "%s", ""); /* usable again */
			}
			continue;
		}
		if (batch.len) /* in order: the batch so far goes first */
			bad |= jrn_out_give(&o, &batch) < 0;
		bad |= (i % 5 == 0 ? jrn_out_lines(&o, line, strlen(line)) < 0 ||
				     jrn_out_lines(&o, "\n", 1) < 0
				   : jrn_out_line(&o, line, strlen(line)) < 0);
	}
	bad |= jrn_out_give(&o, &batch) < 0;
	CHECK(!bad, "behind: every write accepted, a given batch left empty");
	CHECK(jrn_out_flush(&o) == 0 && o.behind, "behind: flushed, the thread still there");
	CHECK(jrn_out_line(&o, "last", 4) == 0, "behind: a write after a flush");
	jrn_buf_adds(&want, "last\n");
	CHECK(jrn_out_close(&o) == 0 && !o.behind, "behind: closed, the thread joined");
	close(fds[1]);
	pthread_join(th, NULL);
	CHECK(got.len == want.len && !memcmp(got.p, want.p, want.len),
	      "behind: the reader got every byte in order (%zu of %zu)", got.len, want.len);
	close(fds[0]);
	/* a reader that went away: EPIPE reaches o.err by the flush at the
	 * latest, later writes fail fast, close says so */
	if (pipe(fds) == 0) {
		close(fds[0]);
		jrn_out_init(&o, fds[1]);
		CHECK(jrn_out_behind(&o) == 0, "behind: a thread for a closed pipe");
		jrn_buf_reset(&batch);
		for (int i = 0; i < 20000; i++)
			jrn_buf_addf(&batch, "line %d\n", i);
		jrn_out_give(&o, &batch);
		CHECK(batch.len == 0, "behind: the batch taken");
		CHECK(jrn_out_flush(&o) < 0 && o.err == EPIPE, "behind: EPIPE at the flush");
		CHECK(jrn_out_line(&o, "y", 1) < 0, "behind: later writes fail fast");
		jrn_buf_adds(&batch, "z\n");
		CHECK(jrn_out_give(&o, &batch) < 0 && batch.len == 0, "behind: a later batch dropped, left empty");
		CHECK(jrn_out_close(&o) < 0 && o.err == EPIPE, "behind: close says EPIPE");
		close(fds[1]);
	}
	jrn_buf_free(&got);
	jrn_buf_free(&want);
	jrn_buf_free(&batch);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;

	char *f1 = write_file("a", "one\ntwo\n", 8);
	CHECK_STR(read_all(&f1, 1), "a:1:one|a:2:two|", "two lines");
	f1 = write_file("a", "one\r\n\r\n  \t \nthree", 17);
	CHECK_STR(read_all(&f1, 1), "a:1:one|a:4:three|", "CRLF, blank lines skipped, last line without newline");
	f1 = write_file("a", "\xef\xbb\xbf" "bom\n\xef\xbb\xbf" "not-first\n", 20);
	CHECK_STR(read_all(&f1, 1), "a:1:bom|a:2:\xef\xbb\xbf" "not-first|", "BOM only at the start");
	f1 = write_file("a", "", 0);
	CHECK_STR(read_all(&f1, 1), "", "empty file");
	f1 = write_file("a", "\n\n\n", 3);
	CHECK_STR(read_all(&f1, 1), "", "only newlines");
	{
		char *files[3];
		files[0] = write_file("a", "x\n", 2);
		files[1] = write_file("missing-never-written", "", 0);
		unlink(files[1]);
		files[2] = write_file("c", "y\n", 2);
		CHECK_STR(read_all(files, 3), "a:1:x|ERR(No such file or directory)|c:1:y|",
			  "a missing file is an error and the next file goes on");
	}
	{
		/* a line longer than the 1 MiB read chunk, across two chunks */
		size_t n = 3 * 1024 * 1024;
		char *big = malloc(n + 8);
		memset(big, 'z', n);
		memcpy(big + n, "\nend\n", 5);
		char *f = write_file("big", big, n + 5);
		jrn_reader *r = jrn_reader_new(&f, 1);
		jrn_line ln;
		jrn_err e;
		CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.len == n && ln.p[n - 1] == 'z', "3 MiB line whole");
		CHECK(jrn_reader_next(r, &ln, &e) == 1 && ln.len == 3 && ln.lineno == 2, "the line after it");
		CHECK(jrn_reader_next(r, &ln, &e) == 0, "then the end");
		jrn_reader_free(r);
		free(big);
	}

	jv_parser *p = NULL;
	jrn_err e;
	jv v = jrn_parse_object(&p, "{\"a\":1}", 7, &e);
	CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "an object");
	jv_free(v);
	v = jrn_parse_object(&p, "{\"b\":[1,{\"c\":null}]}", 20, &e);
	CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "the parser is reused");
	jv_free(v);
	v = jrn_parse_object(&p, "[1]", 3, &e);
	CHECK(!jv_is_valid(v), "array refused");
	CHECK_STR(e.msg, "not a JSON object (got an array)", "reason");
	jv_free(v);
	v = jrn_parse_object(&p, "{\"a\":\"\xff\"}", 8, &e);
	CHECK_STR(e.msg, "invalid UTF-8 at byte 7", "bad UTF-8 reason");
	jv_free(v);
	v = jrn_parse_object(&p, "{\"a\":nan}", 9, &e);
	CHECK(!jv_is_valid(v), "nan refused although libjq takes it");
	jv_free(v);
	{
		/* the depth limit comes back as a reason, not a crash */
		jrn_buf deep = {0};
		jrn_buf_adds(&deep, "{\"a\":");
		for (int i = 0; i < 300; i++)
			jrn_buf_addc(&deep, '[');
		for (int i = 0; i < 300; i++)
			jrn_buf_addc(&deep, ']');
		jrn_buf_addc(&deep, '}');
		v = jrn_parse_object(&p, deep.p, deep.len, &e);
		CHECK(!jv_is_valid(v) && strstr(e.msg, "invalid JSON") != NULL, "deep nesting: %s", e.msg);
		jv_free(v);
		v = jrn_parse_object(&p, "{\"ok\":true}", 11, &e);
		CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "the parser recovers after an error");
		jv_free(v);
		jrn_buf_free(&deep);
	}
	v = jrn_parse_object(&p, "{\"a\":\"\\ud800\"}", 14, &e);
	CHECK(!jv_is_valid(v), "lone surrogate refused");
	CHECK_STR(e.msg, "invalid JSON at byte 7: lone surrogate escape \\ud800", "its reason");
	jv_free(v);
	v = jrn_parse_object(&p, "{\"a\":1,\"a\":2}", 13, &e);
	CHECK_STR(e.msg, "invalid JSON at byte 8: duplicate member name \"a\"", "a name twice refused");
	jv_free(v);
	v = jrn_parse_checked_object(&p, "{\"n\":9007199254740993}", 22, &e);
	{
		jrn_buf b = {0};
		jrn_json_append(&b, v, 0, &e);
		CHECK_STR(b.p, "{\"n\":9007199254740993}", "checked objects keep literals");
		jrn_buf_free(&b);
	}
	v = jrn_parse_checked_object(&p, "\"s\"", 3, &e);
	CHECK_STR(e.msg, "not a JSON object (got a string)", "checked: not an object");
	jv_free(v);
	CHECK(p == NULL, "no libjq parser is made any more");
	if (p)
		jv_parser_free(p);

	/* kinds as messages name them: bare, and with their article */
	CHECK_STR(jrn_json_kind_at(" [1]", 4), "array", "bare kind after blanks");
	CHECK_STR(jrn_json_kind_at("  ", 2), "nothing", "bare kind of nothing");
	CHECK_STR(jrn_json_kind_at("false", 5), "boolean", "bare kind of false: boolean, not jq's 'true'");
	CHECK_STR(jrn_json_kind_at("true", 4), "boolean", "bare kind of true");
	CHECK_STR(jrn_json_kind_phrase_at(" [1]", 4), "an array", "an array");
	CHECK_STR(jrn_json_kind_phrase_at("{}", 2), "an object", "an object");
	CHECK_STR(jrn_json_kind_phrase_at("-1", 2), "a number", "a number");
	CHECK_STR(jrn_json_kind_phrase_at("false", 5), "a boolean", "a boolean");
	CHECK_STR(jrn_json_kind_phrase_at("null", 4), "null", "null has no article");
	CHECK_STR(jrn_json_kind_phrase_at("", 0), "nothing", "nothing");
	CHECK_STR(jrn_kind_phrase(JV_KIND_STRING, false), "a string", "a string");
	CHECK_STR(jrn_kind_phrase(JV_KIND_TRUE, true), "a boolean", "a boolean in YAML");
	CHECK_STR(jrn_kind_phrase(JV_KIND_ARRAY, true), "a list", "YAML's list");
	CHECK_STR(jrn_kind_phrase(JV_KIND_OBJECT, true), "a mapping", "YAML's mapping");
	CHECK_STR(jrn_kind_phrase(JV_KIND_INVALID, false), "nothing", "invalid is nothing");

	{
		jrn_rejects rj;
		char path[300];
		snprintf(path, sizeof path, "%s/rejects", dir);
		CHECK(jrn_rejects_open(&rj, "t", path, true, &e) == 0, "rejects open");
		CHECK(jrn_reject(&rj, "in", 3, "bad\"line", 8, "why", &e) == 0, "reject written");
		CHECK(jrn_reject(&rj, "in", 4, "x\xffy", 3, "utf8", &e) == 0, "reject of bad UTF-8 written");
		CHECK(rj.count == 2, "counted");
		CHECK(jrn_rejects_close(&rj, &e) == 0, "closed");
		FILE *f = fopen(path, "r");
		char line[512];
		CHECK(fgets(line, sizeof line, f) != NULL, "first reject line");
		CHECK_STR(line, "{\"file\":\"in\",\"line\":3,\"error\":\"why\",\"input\":\"bad\\\"line\"}\n", "reject record");
		CHECK(fgets(line, sizeof line, f) != NULL, "second reject line");
		CHECK_STR(line, "{\"file\":\"in\",\"line\":4,\"error\":\"utf8\",\"input\":\"x\xef\xbf\xbdy\",\"inputBase64\":\"eP95\"}\n",
			  "lossy input plus exact base64");
		fclose(f);
		CHECK(jrn_rejects_open(&rj, "t", "/nonexistent/dir/rejects", true, &e) < 0, "unwritable rejects file");
	}
	{
		int fds[2];
		if (pipe(fds) == 0) {
			jrn_out o;
			close(fds[0]);
			jrn_out_init(&o, fds[1]);
			jrn_out_line(&o, "x", 1);
			CHECK(jrn_out_flush(&o) < 0 && o.err == EPIPE, "closed pipe: EPIPE remembered");
			CHECK(jrn_out_line(&o, "y", 1) < 0, "later writes fail fast");
			jrn_out_close(&o);
			close(fds[1]);
		}
	}
	{
		/* jrn_out_lines: what is buffered first, then the lines as they
		 * are; a closed pipe as jrn_out_line says it */
		char path[300];
		snprintf(path, sizeof path, "%s/lines", dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		jrn_out o;
		jrn_out_init(&o, fd);
		jrn_out_line(&o, "a", 1);
		CHECK(jrn_out_lines(&o, "b\nc\n", 4) == 0, "lines written");
		jrn_out_line(&o, "d", 1);
		CHECK(jrn_out_close(&o) == 0, "closed");
		close(fd);
		char got[32] = "";
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
		got[n] = '\0';
		if (f)
			fclose(f);
		CHECK_STR(got, "a\nb\nc\nd\n", "in order: the buffer, the lines, the next line");
		int fds[2];
		if (pipe(fds) == 0) {
			close(fds[0]);
			jrn_out_init(&o, fds[1]);
			CHECK(jrn_out_lines(&o, "x\n", 2) < 0 && o.err == EPIPE, "lines to a closed pipe: EPIPE");
			CHECK(jrn_out_line(&o, "y", 1) < 0, "and later writes fail fast");
			jrn_out_close(&o);
			close(fds[1]);
		}
	}
	test_pump();
	test_read_ahead();
	test_out_behind();
	if (unit_rmtree(dir) != 0)
		return 1;
	return unit_done();
}
