/* Unit tests of ndjson.c: the line reader, parsing, rejects; and out.c. */
#include <errno.h>
#include <fcntl.h>
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
	CHECK_STR(e.msg, "not a JSON object (got array)", "reason");
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
	CHECK_STR(e.msg, "not a JSON object (got string)", "checked: not an object");
	jv_free(v);
	CHECK(p == NULL, "no libjq parser is made any more");
	if (p)
		jv_parser_free(p);

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
	if (unit_rmtree(dir) != 0)
		return 1;
	return unit_done();
}
