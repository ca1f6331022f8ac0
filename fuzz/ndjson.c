/* fuzz/ndjson.c: the NDJSON reader and per-line record parsing.
 *
 * The input is a file, read by jrn_reader as a tool reads a file named on
 * its command line (twice in a row: two files). Oracles: the reader gives
 * exactly the lines of a plain reference split (on '\n'; a last line
 * without one counts; one '\r' before it dropped; a BOM at the start of a
 * file's first line dropped; lines of only spaces, tabs and '\r' skipped)
 * with their 1-based numbers, the second file's from 1 again; each line
 * goes through jrn_parse_object as a tool's record would, and an accepted
 * record prints (jrn_json_append) to text that parses back jv_equal. */
#include "fuzz.h"

static jv_parser *parser;

typedef struct {
	const char *p;
	size_t len;
	uint64_t lineno;
} ref_line;

static bool blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* The reference split of s[0..n) into *out (malloc'd); returns the count. */
static size_t split(const char *s, size_t n, ref_line **out)
{
	ref_line *v = malloc((n + 1) * sizeof *v);
	size_t k = 0, i = 0;
	uint64_t lineno = 0;
	if (!v)
		abort();
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (s + i)) : n - i;
		const char *p = s + i;
		i += len + (nl != NULL);
		lineno++;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
			p += 3, len -= 3;
		if (blank(p, len))
			continue;
		v[k++] = (ref_line){p, len, lineno};
	}
	*out = v;
	return k;
}

static void record(const jrn_line *ln)
{
	jrn_err e;
	jv v = jrn_parse_object(&parser, ln->p, ln->len, &e);
	if (!jv_is_valid(v)) {
		FUZZ_CHECK(e.msg[0] != '\0', "a rejected line without a reason");
		jv_free(v);
		return;
	}
	jrn_buf b = {0};
	FUZZ_CHECK(jrn_json_append(&b, jv_copy(v), JRN_JSON_SORTED, &e) == 0, "append: %s", e.msg);
	jv w = jrn_parse_object(&parser, b.p, b.len, &e);
	FUZZ_CHECK(jv_is_valid(w), "printed record does not parse: %s", b.p);
	FUZZ_CHECK(jv_equal(v, w), "printed record parses to another value: %s", b.p);
	jrn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_file(data, size, path);
	if (fd < 0)
		return 0;
	ref_line *ref;
	size_t nref = split((const char *)data, size, &ref);

	char *files[2] = {path, path};
	jrn_reader *r = jrn_reader_new(files, 2);
	FUZZ_CHECK(r != NULL, "jrn_reader_new");
	jrn_line ln;
	jrn_err e;
	size_t k = 0;
	int rc;
	while ((rc = jrn_reader_next(r, &ln, &e)) == 1) {
		FUZZ_CHECK(k < 2 * nref, "more lines than the reference's %zu", nref);
		const ref_line *want = &ref[k % (nref ? nref : 1)];
		FUZZ_CHECK(ln.lineno == want->lineno && ln.len == want->len &&
			   memcmp(ln.p, want->p, ln.len) == 0,
			   "line %zu: reader %s:%llu (%zu bytes), reference line %llu (%zu bytes)",
			   k, ln.file, (unsigned long long)ln.lineno, ln.len,
			   (unsigned long long)want->lineno, want->len);
		if (k < nref)
			record(&ln);
		k++;
	}
	FUZZ_CHECK(rc == 0, "reader failed: %s", e.msg);
	FUZZ_CHECK(k == 2 * nref, "%zu lines, reference %zu", k, 2 * nref);
	jrn_reader_free(r);
	free(ref);
	fuzz_file_close(fd);
	return 0;
}
