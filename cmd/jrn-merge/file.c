/*
 * file.c: the `file` source type: an NDJSON or CSV file keyed by a column
 * (sources.list[].key, default customerId), read and indexed once per run
 * (the whole file is held in memory: one buffer and an index). A customer
 * with one row gets the row (an object); with several, an array of the
 * first `limit` in file order. CSV: RFC 4180 (quoted fields, "" for a
 * quote, CRLF or LF), the first row names the columns, every row has as
 * many fields as it (else an error at the row), every value is a string,
 * an empty field is left out. A byte-order mark at the file's start is
 * dropped. Time of its values: the file's modification time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jrn-merge.h"

typedef struct {
	size_t off, len;
	int64_t next; /* the key's next row, -1: none */
} row;

typedef struct {
	jrn_buf text;     /* rows as JSON text */
	row *rows;
	size_t n, cap;
	jrn_idmap *keys;  /* key -> index in first[]/last[] */
	int64_t *first, *last;
	size_t nkeys_cap;
	char *key;
} file_src;

static int add_row(file_src *f, const char *k, size_t kn, size_t off, size_t len)
{
	int64_t ki = jrn_idmap_put(f->keys, k, kn, NULL);
	if (ki < 0)
		return -1;
	if ((size_t)ki >= f->nkeys_cap) {
		size_t cap = f->nkeys_cap ? f->nkeys_cap * 2 : 1024;
		int64_t *a = realloc(f->first, cap * sizeof *a);
		if (!a)
			return -1;
		f->first = a;
		if (!(a = realloc(f->last, cap * sizeof *a)))
			return -1;
		f->last = a;
		for (size_t i = f->nkeys_cap; i < cap; i++)
			f->first[i] = f->last[i] = -1;
		f->nkeys_cap = cap;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		row *r = realloc(f->rows, cap * sizeof *r);
		if (!r)
			return -1;
		f->rows = r;
		f->cap = cap;
	}
	f->rows[f->n] = (row){off, len, -1};
	if (f->last[ki] >= 0)
		f->rows[f->last[ki]].next = (int64_t)f->n;
	else
		f->first[ki] = (int64_t)f->n;
	f->last[ki] = (int64_t)f->n;
	f->n++;
	return 0;
}

/* The length of a byte-order mark at the start of f's text: 3, or 0.
 * Dropped there, as every tool's reader drops it (jrn-ingest(1), FORMAT):
 * a spreadsheet's "CSV UTF-8" export starts with one. */
static size_t bom_len(const file_src *f)
{
	return f->text.len >= 3 && !memcmp(f->text.p, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

/* NDJSON: each non-blank line an object with the key as a string. */
static int index_ndjson(file_src *f, const char *path, jrn_err *e)
{
	size_t len = f->text.len, lineno = 0;
	for (size_t i = bom_len(f); i < len;) {
		const char *p = f->text.p + i;
		const char *nl = memchr(p, '\n', len - i);
		size_t n = nl ? (size_t)(nl - p) : len - i;
		size_t next = i + n + 1;
		lineno++;
		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			i = next;
			continue;
		}
		if (jrn_utf8_invalid_at(p, n) < n)
			return jrn_fail(e, "%s:%zu: invalid UTF-8", path, lineno);
		jv v = jv_parse_sized(p, (int)n);
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			return jrn_fail(e, "%s:%zu: not a JSON object", path, lineno);
		}
		jv k = jv_object_get(v, jv_string(f->key));
		if (jv_get_kind(k) != JV_KIND_STRING) {
			jv_free(k);
			return jrn_fail(e, "%s:%zu: %s: expected a string", path, lineno, f->key);
		}
		int rc = add_row(f, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)),
				 (size_t)(p - f->text.p), n);
		jv_free(k);
		if (rc < 0)
			return jrn_fail(e, "out of memory");
		i = next;
	}
	return 0;
}

/* One CSV field from *p (quoted or not) into out; advances *p past it and
 * its separator; *eol says the row ended. -1 on an unterminated quote. */
static int csv_field(const char **p, const char *end, jrn_buf *out, bool *eol)
{
	const char *s = *p;
	jrn_buf_reset(out);
	jrn_buf_adds(out, "");
	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s >= end)
				return -1;
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					jrn_buf_addc(out, '"');
					s++;
					continue;
				}
				s++;
				break;
			}
			jrn_buf_addc(out, *s);
		}
	} else {
		const char *t = s;
		while (t < end && *t != ',' && *t != '\n' && *t != '\r')
			t++;
		jrn_buf_add(out, s, (size_t)(t - s));
		s = t;
	}
	*eol = s >= end || *s == '\n' || *s == '\r';
	if (s < end && *s == ',')
		s++;
	else {
		if (s < end && *s == '\r')
			s++;
		if (s < end && *s == '\n')
			s++;
	}
	*p = s;
	return 0;
}

/* CSV: rows converted to JSON objects, appended after the file's text. */
static int index_csv(file_src *f, const char *path, jrn_err *e)
{
	jv names = jv_array();
	jrn_buf field = {0};
	const size_t csv_len = f->text.len;
	const char *p = f->text.p + bom_len(f), *end = f->text.p + csv_len;
	size_t lineno = 1, col = 0;
	int keycol = -1, rc = 0;
	bool eol = false;
	jrn_buf obj = {0}, key = {0};
	if (jrn_utf8_invalid_at(p, (size_t)(end - p)) < (size_t)(end - p)) {
		rc = jrn_fail(e, "%s: invalid UTF-8", path);
		goto done;
	}
	while (p < end && !eol) { /* the header */
		if (csv_field(&p, end, &field, &eol) < 0) {
			rc = jrn_fail(e, "%s:%zu: unterminated quote", path, lineno);
			goto done;
		}
		if (!strcmp(field.p, f->key))
			keycol = jv_array_length(jv_copy(names));
		names = jv_array_append(names, jv_string(field.p));
	}
	if (keycol < 0) {
		rc = jrn_fail(e, "%s: no column %s", path, f->key);
		goto done;
	}
	int ncols = jv_array_length(jv_copy(names));
	while (p < end) {
		lineno++;
		jrn_buf_reset(&obj);
		jrn_buf_reset(&key);
		jrn_buf_adds(&obj, "{");
		bool any = false, has_key = false;
		eol = false;
		for (col = 0; !eol && p < end; col++) {
			if (csv_field(&p, end, &field, &eol) < 0) {
				rc = jrn_fail(e, "%s:%zu: unterminated quote", path, lineno);
				goto done;
			}
			if ((int)col >= ncols || field.len == 0)
				continue;
			jv nm = jv_array_get(jv_copy(names), (int)col);
			if (any)
				jrn_buf_addc(&obj, ',');
			jrn_json_append_str(&obj, jv_string_value(nm), (size_t)jv_string_length_bytes(jv_copy(nm)));
			jv_free(nm);
			jrn_buf_addc(&obj, ':');
			jrn_json_append_str(&obj, field.p, field.len);
			any = true;
			if ((int)col == keycol) {
				jrn_buf_add(&key, field.p, field.len);
				has_key = true;
			}
		}
		jrn_buf_addc(&obj, '}');
		if (!any)
			continue; /* a blank line */
		if ((int)col != ncols) { /* RFC 4180 2.4: as many as the header */
			rc = jrn_fail(e, "%s:%zu: %zu field%s, the header names %d", path, lineno, col,
				      col == 1 ? "" : "s", ncols);
			goto done;
		}
		if (!has_key) {
			rc = jrn_fail(e, "%s:%zu: %s: empty", path, lineno, f->key);
			goto done;
		}
		size_t off = f->text.len, at = (size_t)(p - f->text.p);
		if (jrn_buf_add(&f->text, obj.p, obj.len) < 0 || !obj.p ||
		    add_row(f, key.p, key.len, off, obj.len) < 0) {
			rc = jrn_fail(e, "out of memory");
			goto done;
		}
		/* the buffer may have moved: the rows go after the file's text */
		p = f->text.p + at;
		end = f->text.p + csv_len;
	}
done:
	jv_free(names);
	jrn_buf_free(&field);
	jrn_buf_free(&obj);
	jrn_buf_free(&key);
	return rc;
}

static void file_done(merge_source *s)
{
	file_src *f = s->priv;
	if (!f)
		return;
	jrn_buf_free(&f->text);
	free(f->rows);
	free(f->first);
	free(f->last);
	free(f->key);
	jrn_idmap_free(f->keys);
	free(f);
	s->priv = NULL;
}

static int read_all(const char *path, jrn_buf *b, int64_t *mtime, jrn_err *e)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	if (!fp)
		return jrn_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fileno(fp), &st) == 0)
		*mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		if (jrn_buf_add(b, chunk, n) < 0) {
			fclose(fp);
			return jrn_fail(e, "out of memory");
		}
	int bad = ferror(fp);
	fclose(fp);
	if (bad)
		return jrn_fail(e, "%s: read error", path);
	return jrn_buf_adds(b, "") < 0 ? jrn_fail(e, "out of memory") : 0;
}

static int file_load(merge_source *s, jv conf, jrn_err *e)
{
	file_src *f = calloc(1, sizeof *f);
	char *path = NULL, *format = NULL;
	int rc = -1;
	if (!f || !(f->keys = jrn_idmap_new())) {
		free(f);
		return jrn_fail(e, "out of memory");
	}
	s->priv = f;
	if (jrn_config_string(conf, "path", &path, e) <= 0) {
		if (!path)
			jrn_fail(e, "path: a file source needs a path");
		goto out;
	}
	if (jrn_config_string(conf, "key", &f->key, e) < 0 ||
	    jrn_config_string(conf, "format", &format, e) < 0)
		goto out;
	if (!f->key && !(f->key = strdup("customerId"))) {
		jrn_fail(e, "out of memory");
		goto out;
	}
	size_t pl = strlen(path);
	bool csv = format ? !strcmp(format, "csv") : pl > 4 && !strcasecmp(path + pl - 4, ".csv");
	if (format && !csv && strcmp(format, "ndjson")) {
		jrn_fail(e, "format: expected ndjson or csv, not '%s'", format);
		goto out;
	}
	if (read_all(path, &f->text, &s->ts, e) < 0)
		goto out;
	rc = csv ? index_csv(f, path, e) : index_ndjson(f, path, e);
	if (rc == 0 && !(s->key = strdup(f->key)))
		rc = jrn_fail(e, "out of memory");
out:
	free(path);
	free(format);
	return rc;
}

static int file_fetch(merge_source *s, const char *customer, size_t n, size_t limit, jrn_buf *out,
		      jrn_err *e)
{
	file_src *f = s->priv;
	int64_t ki = jrn_idmap_get(f->keys, customer, n);
	if (ki < 0)
		return 0;
	int64_t r = f->first[ki];
	bool many = f->rows[r].next >= 0;
	if (many)
		jrn_buf_addc(out, '[');
	for (size_t i = 0; r >= 0 && i < limit; r = f->rows[r].next, i++) {
		if (i)
			jrn_buf_addc(out, ',');
		jrn_buf_add(out, f->text.p + f->rows[r].off, f->rows[r].len);
	}
	if (many)
		jrn_buf_addc(out, ']');
	return out->p ? 1 : jrn_fail(e, "out of memory");
}

const merge_source_ops merge_file_ops = {"file", file_load, file_fetch, NULL, file_done};
