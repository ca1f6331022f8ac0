/* output.c: rows out. NDJSON goes out row by row as the kind writes it;
 * table, csv and html collect the rows (as many as the report has groups)
 * and write them at the end. -o FILE writes a temporary file beside FILE
 * (FILE.XXXXXX, mkstemp) and renames it over FILE when the run succeeded,
 * so that a failed run leaves no half file; FILE a symbolic link to a
 * regular file: the same beside the file it names, the link kept; FILE
 * something else that exists (a FIFO, a terminal, /dev/stdout): written
 * to directly, as the shell's > would. A regular FILE we may not write is
 * refused as > would refuse it.
 *
 *   table  columns in the rows' key order (first appearance), each as wide
 *          as its widest cell in terminal columns (wcwidth(3) under
 *          C.UTF-8), two spaces apart; numbers right-aligned (and the
 *          header over them), the rest left-aligned; control characters
 *          in strings shown escaped (\n, \t, \u001b) so a row is one line.
 *   csv    RFC 4180: a header row, then a record per row, CRLF line ends;
 *          a field holding a comma, a double quote, CR or LF is quoted,
 *          with its double quotes doubled; null is an empty field.
 *   both   numbers with at most 15 significant digits, money to the cent
 *          (number_text), strings as their text, true,
 *          false, null as such (csv: null empty), arrays and objects as
 *          compact JSON; a key a row lacks is an empty cell.
 */

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "jrn-report.h"

struct report_out {
	jrn_out o;
	char *tmp;       /* -o: the temporary file's path; NULL: stdout */
	char *target;    /* -o: the file renamed over (FILE, or what it links to) */
	bool direct;     /* -o names no regular file: written to directly */
	jv rows;         /* table, csv, html: the rows so far */
	jv columns;      /* report_header's names, or null */
	bool gone;       /* the reader went away (EPIPE) */
};

int report_output_begin(report_run *run)
{
	struct report_out *out = calloc(1, sizeof *out);
	if (!out)
		return jrn_say(JRN_EXIT_FAIL, "out of memory"), -1;
	run->out = out;
	out->rows = jv_array();
	out->columns = jv_null();
	int fd = STDOUT_FILENO;
	struct stat st;
	if (run->out_path && stat(run->out_path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if ((fd = open(run->out_path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0)
			return jrn_say(JRN_EXIT_FAIL, "-o %s: %s", run->out_path, strerror(errno)), -1;
		out->direct = true;
	} else if (run->out_path) {
		if (stat(run->out_path, &st) == 0 && access(run->out_path, W_OK) < 0)
			return jrn_say(JRN_EXIT_FAIL, "-o %s: %s", run->out_path, strerror(errno)), -1;
		/* a link: the file it names is the one replaced */
		out->target = realpath(run->out_path, NULL);
		if (!out->target && !(out->target = strdup(run->out_path)))
			return jrn_say(JRN_EXIT_FAIL, "out of memory"), -1;
		size_t n = strlen(out->target);
		if (!(out->tmp = malloc(n + 8)))
			return jrn_say(JRN_EXIT_FAIL, "out of memory"), -1;
		memcpy(out->tmp, out->target, n);
		memcpy(out->tmp + n, ".XXXXXX", 8);
		if ((fd = mkstemp(out->tmp)) < 0) {
			jrn_say(JRN_EXIT_FAIL, "-o %s: %s", run->out_path, strerror(errno));
			free(out->tmp);
			out->tmp = NULL;
			return -1;
		}
		mode_t mask = umask(0);
		umask(mask);
		(void)fchmod(fd, 0666 & ~mask); /* as a file the shell's > makes */
	}
	jrn_out_init(&out->o, fd);
	return 0;
}

void report_header(report_run *run, jv names)
{
	jv_free(run->out->columns);
	run->out->columns = names;
}

/* After a failed write: EPIPE is the reader going away (quiet), any other
 * error is said. Returns -1. */
static int write_failed(report_run *run)
{
	struct report_out *out = run->out;
	if (out->o.err == EPIPE && !out->tmp) {
		out->gone = true;
		return -1;
	}
	return jrn_say(JRN_EXIT_FAIL, "writing %s: %s", run->out_path ? run->out_path : "output",
		       strerror(out->o.err)), -1;
}

int report_row(report_run *run, jv row)
{
	struct report_out *out = run->out;
	if (out->gone || out->o.err) {
		jv_free(row);
		return -1;
	}
	run->rows++;
	if (run->format != REPORT_NDJSON) {
		out->rows = jv_array_append(out->rows, row);
		return 0;
	}
	jrn_buf line = {0};
	jrn_err e;
	if (jrn_json_append(&line, row, 0, &e) < 0) {
		jrn_buf_free(&line);
		return jrn_say(JRN_EXIT_FAIL, "%s: a row: %s", run->kind->name, e.msg), -1;
	}
	int rc = jrn_out_line(&out->o, line.p, line.len);
	jrn_buf_free(&line);
	return rc < 0 ? write_failed(run) : 0;
}

/* The columns: every key of the rows in order of first appearance, or
 * report_header's names when there are no rows. */
static jv columns_of(struct report_out *out)
{
	jv cols = jv_array(), seen = jv_object();
	jv_array_foreach(out->rows, i, row) {
		if (jv_get_kind(row) == JV_KIND_OBJECT) {
			jv_object_foreach(row, k, v) {
				jv_free(v);
				if (jv_object_has(jv_copy(seen), jv_copy(k))) {
					jv_free(k);
					continue;
				}
				seen = jv_object_set(seen, jv_copy(k), jv_true());
				cols = jv_array_append(cols, k);
			}
		}
		jv_free(row);
	}
	jv_free(seen);
	if (jv_array_length(jv_copy(cols)) == 0 && jv_get_kind(out->columns) == JV_KIND_ARRAY) {
		jv_free(cols);
		cols = jv_copy(out->columns);
	}
	return cols;
}

/* Appends the text of v (consumed) to b as a cell: see the top comment.
 * table: control characters escaped; csv: null as nothing. */
/* Whether the column col holds money in the orders' currency: revenue,
 * meanMonetary, or a name ending in Revenue or Amount. cost is not: a
 * provider's price is a fraction of a cent (an SMS segment). */
static bool money_column(const char *col)
{
	static const char *const ends[] = {"revenue", "Revenue", "Monetary", "monetary", "amount",
					   "Amount"};
	size_t n = col ? strlen(col) : 0;
	for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
		size_t k = strlen(ends[i]);
		if (n >= k && !strcmp(col + n - k, ends[i]))
			return true;
	}
	return false;
}

/* A number in table and csv: money (money_column) rounded to the cent,
 * then every number with at most 15 significant digits (DBL_DIG: each
 * decimal of up to 15 digits reads back as itself, while binary
 * arithmetic's noise, as in 0.1 + 0.2 = 0.30000000000000004, is in the
 * 16th and 17th), no trailing zeros; as JSON prints it otherwise
 * (integers, exponents). NDJSON keeps the double whole. */
static void number_text(jrn_buf *b, double d, const char *col)
{
	if (!isfinite(d)) {
		jrn_buf_adds(b, "null");
		return;
	}
	if (money_column(col))
		d = round(d * 100) / 100;
	if (d == 0)
		d = 0; /* no -0 */
	jrn_buf_addf(b, "%.15g", d);
}

static void cell_text(jrn_buf *b, jv v, bool table, const char *col)
{
	jrn_err e;
	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID:
		jv_free(v);
		return;
	case JV_KIND_NULL:
		if (table)
			jrn_buf_adds(b, "null");
		jv_free(v);
		return;
	case JV_KIND_STRING: {
		const char *s = jv_string_value(v);
		int n = jv_string_length_bytes(jv_copy(v));
		for (int i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (!table || (c >= 0x20 && c != 0x7f))
				jrn_buf_addc(b, (char)c);
			else if (c == '\n')
				jrn_buf_adds(b, "\\n");
			else if (c == '\t')
				jrn_buf_adds(b, "\\t");
			else if (c == '\r')
				jrn_buf_adds(b, "\\r");
			else
				jrn_buf_addf(b, "\\u%04x", c);
		}
		jv_free(v);
		return;
	}
	case JV_KIND_NUMBER:
		number_text(b, jv_number_value(v), col);
		jv_free(v);
		return;
	default:
		if (jrn_json_append(b, v, 0, &e) < 0)
			jrn_buf_adds(b, "?");
	}
}

/* The width of s[0..n) (UTF-8) in terminal columns: wcwidth of each
 * character (under the C.UTF-8 locale the caller set), 1 for a byte that
 * does not decode or a character wcwidth does not know, 0 for combining. */
size_t report_text_width(const char *s, size_t n)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t w = 0;
	while (n > 0) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, n, &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			memset(&st, 0, sizeof st);
			w++;
			s++;
			n--;
			continue;
		}
		int cw = wcwidth(wc);
		w += cw < 0 ? 1 : (size_t)cw;
		s += k;
		n -= k;
	}
	return w;
}

/* Appends the CSV field s[0..n) to b (RFC 4180: quoted when it holds a
 * comma, a double quote, CR or LF; double quotes doubled). */
static void csv_field(jrn_buf *b, const char *s, size_t n)
{
	if (strcspn(s, ",\"\r\n") >= n) {
		jrn_buf_add(b, s, n);
		return;
	}
	jrn_buf_addc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			jrn_buf_addc(b, '"');
		jrn_buf_addc(b, s[i]);
	}
	jrn_buf_addc(b, '"');
}

/* Writes the collected rows as CSV. 0 or -1 (out->o.err). */
static int write_csv(struct report_out *out, jv cols)
{
	jrn_buf line = {0}, cell = {0};
	int ncols = jv_array_length(jv_copy(cols)), rc = 0;
	if (ncols == 0)
		goto done;
	for (int c = 0; c < ncols; c++) {
		jv name = jv_array_get(jv_copy(cols), c);
		if (c)
			jrn_buf_addc(&line, ',');
		csv_field(&line, jv_string_value(name), (size_t)jv_string_length_bytes(jv_copy(name)));
		jv_free(name);
	}
	jrn_buf_addc(&line, '\r');
	rc = jrn_out_line(&out->o, line.p, line.len);
	jv_array_foreach(out->rows, i, row) {
		jrn_buf_reset(&line);
		for (int c = 0; c < ncols && rc == 0; c++) {
			jrn_buf_reset(&cell);
			jv cn = jv_array_get(jv_copy(cols), c);
			cell_text(&cell, jv_object_get(jv_copy(row), jv_copy(cn)), false,
				  jv_string_value(cn));
			jv_free(cn);
			if (c)
				jrn_buf_addc(&line, ',');
			csv_field(&line, cell.p ? cell.p : "", cell.len);
		}
		jrn_buf_addc(&line, '\r');
		if (rc == 0)
			rc = jrn_out_line(&out->o, line.p, line.len);
		jv_free(row);
	}
done:
	jrn_buf_free(&line);
	jrn_buf_free(&cell);
	return rc;
}

/* Pads b with n spaces. */
static void pad(jrn_buf *b, size_t n)
{
	while (n--)
		jrn_buf_addc(b, ' ');
}

/* Writes one table line of cells (texts[ncols]) to out. */
static int table_line(struct report_out *out, jrn_buf *line, char **texts, const size_t *width,
		      const bool *right, int ncols)
{
	jrn_buf_reset(line);
	for (int c = 0; c < ncols; c++) {
		const char *t = texts[c] ? texts[c] : "";
		size_t n = strlen(t), w = report_text_width(t, n);
		size_t gap = width[c] > w ? width[c] - w : 0;
		if (c)
			jrn_buf_adds(line, "  ");
		if (right[c])
			pad(line, gap);
		jrn_buf_add(line, t, n);
		if (!right[c] && c + 1 < ncols)
			pad(line, gap);
	}
	while (line->len > 0 && line->p[line->len - 1] == ' ')
		line->p[--line->len] = '\0';
	return jrn_out_line(&out->o, line->p ? line->p : "", line->len);
}

/* Writes the collected rows as an aligned table. 0 or -1 (out->o.err,
 * or out of memory with errno ENOMEM). */
static int write_table(struct report_out *out, jv cols)
{
	int ncols = jv_array_length(jv_copy(cols)), nrows = jv_array_length(jv_copy(out->rows));
	if (ncols == 0)
		return 0;
	char **text = calloc((size_t)(nrows + 1) * (size_t)ncols, sizeof *text);
	size_t *width = calloc((size_t)ncols, sizeof *width);
	bool *right = calloc((size_t)ncols, sizeof *right);
	int rc = text && width && right ? 0 : -1;
	char *old = setlocale(LC_CTYPE, NULL), *saved = old ? strdup(old) : NULL;
	setlocale(LC_CTYPE, "C.UTF-8");
	for (int r = -1; rc == 0 && r < nrows; r++) {
		jv row = r < 0 ? jv_null() : jv_array_get(jv_copy(out->rows), r);
		for (int c = 0; c < ncols; c++) {
			jv name = jv_array_get(jv_copy(cols), c);
			jrn_buf cell = {0};
			if (r < 0) {
				cell_text(&cell, name, true, NULL);
			} else {
				jv v = jv_object_get(jv_copy(row), jv_copy(name));
				right[c] |= jv_get_kind(v) == JV_KIND_NUMBER;
				cell_text(&cell, v, true, jv_string_value(name));
				jv_free(name);
			}
			char *t = cell.p ? cell.p : strdup("");
			text[(size_t)(r + 1) * (size_t)ncols + (size_t)c] = t;
			size_t w = t ? report_text_width(t, strlen(t)) : 0;
			if (w > width[c])
				width[c] = w;
		}
		jv_free(row);
	}
	jrn_buf line = {0};
	for (int r = 0; rc == 0 && r <= nrows; r++)
		rc = table_line(out, &line, text + (size_t)r * (size_t)ncols, width, right, ncols);
	jrn_buf_free(&line);
	setlocale(LC_CTYPE, saved ? saved : "C");
	free(saved);
	for (size_t i = 0; text && i < (size_t)(nrows + 1) * (size_t)ncols; i++)
		free(text[i]);
	free(text);
	free(width);
	free(right);
	if (rc < 0 && !out->o.err)
		out->o.err = ENOMEM;
	return rc;
}

/* Writes html through a stdio stream on a copy of the descriptor. */
static int write_html(report_run *run)
{
	struct report_out *out = run->out;
	if (jrn_out_flush(&out->o) < 0)
		return -1;
	int fd = dup(out->o.fd);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		out->o.err = errno;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = report_html(run, out->rows, f);
	out->rows = jv_array();
	if (fflush(f) != 0 || ferror(f)) {
		out->o.err = errno ? errno : EIO;
		rc = -1;
	}
	if (fclose(f) != 0 && rc == 0) {
		out->o.err = errno;
		rc = -1;
	}
	return rc;
}

/* Frees the output's state; removes the temporary file unless it was
 * renamed. */
static void output_free(report_run *run)
{
	struct report_out *out = run->out;
	if (out->tmp) {
		unlink(out->tmp);
		free(out->tmp);
	}
	if (out->direct && out->o.fd >= 0)
		close(out->o.fd);
	free(out->target);
	jv_free(out->rows);
	jv_free(out->columns);
	run->out_gone = out->gone;
	free(out);
	run->out = NULL;
}

int report_output_end(report_run *run)
{
	struct report_out *out = run->out;
	int rc = 0;
	if (!out)
		return 0;
	if (!out->gone && !out->o.err && run->format != REPORT_NDJSON) {
		if (run->format == REPORT_HTML) {
			rc = write_html(run);
			if (rc < 0 && !out->o.err) { /* report_html said why */
				jrn_out_close(&out->o);
				goto end;
			}
		} else {
			jv cols = columns_of(out);
			rc = run->format == REPORT_TABLE ? write_table(out, cols) : write_csv(out, cols);
			jv_free(cols);
		}
	}
	if (jrn_out_close(&out->o) < 0 || out->o.err || rc < 0) {
		rc = out->gone ? 0 : write_failed(run);
		if (out->gone)
			rc = 0;
		goto end;
	}
	if (out->tmp) {
		if (close(out->o.fd) < 0)
			rc = -1, jrn_say(JRN_EXIT_FAIL, "writing %s: %s", run->out_path, strerror(errno));
		else if (rename(out->tmp, out->target) < 0)
			rc = -1, jrn_say(JRN_EXIT_FAIL, "-o %s: %s", run->out_path, strerror(errno));
		else {
			free(out->tmp);
			out->tmp = NULL;
		}
		out->o.fd = -1;
	}
end:
	if (out->tmp && out->o.fd >= 0)
		close(out->o.fd);
	output_free(run);
	return rc;
}

void report_output_abort(report_run *run)
{
	struct report_out *out = run->out;
	if (!out)
		return;
	jrn_out_close(&out->o); /* NDJSON rows already out stay whole */
	if (out->tmp)
		close(out->o.fd);
	output_free(run);
}

bool report_output_gone(const report_run *run)
{
	return run->out ? run->out->gone : run->out_gone;
}
