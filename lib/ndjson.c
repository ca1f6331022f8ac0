/* ndjson.c: reading NDJSON from files and stdin, parsing one object per
 * line, and reporting the lines that are rejected. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jrn.h"

#define READ_CHUNK (1 << 20)

struct jrn_reader {
	char *const *files;
	int nfiles, next_file; /* files[next_file] is opened next */
	int fd;                /* -1: no file open */
	const char *name;
	uint64_t lineno;
	int eof;
	bool idle_notice, idle_told;
	volatile sig_atomic_t *stop; /* set by a signal handler: end the input */
	bool stopped;
	char *buf;
	size_t cap, start, end, scan; /* data is buf[start..end); no '\n' in [start..scan) */
	bool pipe;                    /* fd is a pipe or socket: jrn_reader_pump reads it */
	char *ahead;                  /* jrn_reader_pump's: ahead[ahead_off..ahead_len) */
	size_t ahead_cap, ahead_len, ahead_off;
	bool ahead_eof;               /* ... then the end of the input */
	int ahead_errno;              /* ... then a read error (0: none) */
};

jrn_reader *jrn_reader_new(char *const *files, int nfiles)
{
	static char *const std_in[] = {"-"};
	jrn_reader *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->files = nfiles > 0 ? files : std_in;
	r->nfiles = nfiles > 0 ? nfiles : 1;
	r->fd = -1;
	return r;
}

void jrn_reader_idle_notice(jrn_reader *r, bool on)
{
	r->idle_notice = on;
}

void jrn_reader_stop_on(jrn_reader *r, volatile sig_atomic_t *flag)
{
	r->stop = flag;
}

void jrn_reader_free(jrn_reader *r)
{
	if (!r)
		return;
	if (r->fd > 0)
		close(r->fd);
	free(r->buf);
	free(r->ahead);
	free(r);
}

static int open_next(jrn_reader *r, jrn_err *e)
{
	const char *f = r->files[r->next_file++];

	r->name = f;
	r->lineno = 0;
	r->eof = 0;
	r->start = r->end = r->scan = 0;
	r->ahead_len = r->ahead_off = 0;
	r->ahead_eof = false, r->ahead_errno = 0;
	struct stat st;
	if (strcmp(f, "-") == 0) {
		r->name = "stdin";
		r->fd = 0;
	} else {
		r->fd = open(f, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0)
			return jrn_fail(e, "%s: %s", f, strerror(errno));
		posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	r->pipe = fstat(r->fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	return 0;
}

int jrn_reader_pump(jrn_reader *r, int wait_ms, size_t max)
{
	int64_t until = jrn_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	int got = 0;
	for (;;) {
		int64_t left = until - jrn_mono_ms();
		if (left < 0)
			left = 0;
		if (r->fd < 0 || !r->pipe || r->eof || r->ahead_eof || r->ahead_errno ||
		    r->ahead_len >= max || (r->stop && *r->stop)) {
			if (left > 0)
				poll(NULL, 0, (int)left); /* (a signal ends it early) */
			return got;
		}
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int ready = poll(&pfd, 1, (int)left);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return got;
		if (r->ahead_cap - r->ahead_len < READ_CHUNK / 2 && r->ahead_cap < max) {
			/* doubled, but never past max (or READ_CHUNK): reading
			 * stops at max, so room beyond it would never be used */
			size_t cap = r->ahead_cap ? r->ahead_cap * 2 : READ_CHUNK;
			if (cap > max)
				cap = max > READ_CHUNK ? max : READ_CHUNK;
			char *p = realloc(r->ahead, cap);
			if (!p) { /* no room to read ahead: wait as a plain time-out would */
				if (left > 0)
					poll(NULL, 0, (int)left);
				return got;
			}
			r->ahead = p;
			r->ahead_cap = cap;
		}
		ssize_t n = read(r->fd, r->ahead + r->ahead_len, r->ahead_cap - r->ahead_len);
		if (n > 0)
			r->ahead_len += (size_t)n, got = 1;
		else if (n == 0)
			r->ahead_eof = true;
		else if (errno != EINTR && errno != EAGAIN)
			r->ahead_errno = errno;
	}
}

/* fill's part: what jrn_reader_pump read, into the buffer (room made).
 * 1 taken (or the end or an error it met: rc in *rc), 0 nothing ahead. */
static int take_ahead(jrn_reader *r, int *rc, jrn_err *e)
{
	*rc = 0;
	if (r->ahead_off < r->ahead_len) {
		size_t n = r->ahead_len - r->ahead_off;
		if (n > r->cap - r->end)
			n = r->cap - r->end;
		memcpy(r->buf + r->end, r->ahead + r->ahead_off, n);
		r->end += n;
		r->ahead_off += n;
		if (r->ahead_off == r->ahead_len) { /* drained: a long wait's memory back */
			r->ahead_off = r->ahead_len = 0;
			if (r->ahead_cap > READ_CHUNK) {
				free(r->ahead);
				r->ahead = NULL, r->ahead_cap = 0;
			}
		}
		return 1;
	}
	if (r->ahead_eof) {
		r->ahead_eof = false;
		r->eof = 1;
		return 1;
	}
	if (r->ahead_errno) {
		int err = r->ahead_errno;
		r->ahead_errno = 0;
		*rc = jrn_fail(e, "%s: %s", r->name, strerror(err));
		return 1;
	}
	return 0;
}

static void close_current(jrn_reader *r)
{
	if (r->fd > 0)
		close(r->fd);
	r->fd = -1;
}

/* Reads more input into the buffer, first moving what is left to its
 * start and growing it when one line fills it. 0, or -1 with e; 1 when
 * idle notices are on and the read would wait (told once per wait). */
static int fill(jrn_reader *r, jrn_err *e)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->scan -= r->start;
		r->start = 0;
	}
	if (r->cap - r->end < READ_CHUNK / 2) {
		size_t cap = r->cap ? r->cap * 2 : READ_CHUNK;
		char *p = realloc(r->buf, cap);
		if (!p)
			return jrn_fail(e, "%s: out of memory for a line of %zu bytes",
					r->name, r->end);
		r->buf = p;
		r->cap = cap;
	}
	int rc;
	if (r->stop && *r->stop) { /* (before what was read ahead: a stop ends the input) */
		r->stopped = true;
		return 0;
	}
	if (take_ahead(r, &rc, e)) {
		r->idle_told = false;
		return rc;
	}
	if (r->idle_notice && !r->idle_told) {
		/* Idle means quiet for a moment, not a pipe drained for a
		 * microsecond: a bulk load through a pipe must not be cut
		 * into tiny batches. */
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int ready;
		while ((ready = poll(&pfd, 1, JRN_READER_IDLE_MS)) < 0 && errno == EINTR)
			if (r->stop && *r->stop) {
				r->stopped = true;
				return 0;
			}
		if (ready == 0) {
			r->idle_told = true;
			return 1;
		}
	}
	r->idle_told = false;
	for (;;) {
		if (r->stop && *r->stop) {
			r->stopped = true;
			return 0;
		}
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n > 0) {
			r->end += (size_t)n;
			return 0;
		}
		if (n == 0) {
			r->eof = 1;
			return 0;
		}
		if (errno != EINTR)
			return jrn_fail(e, "%s: %s", r->name, strerror(errno));
	}
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

int jrn_reader_next(jrn_reader *r, jrn_line *line, jrn_err *e)
{
	for (;;) {
		if (r->stopped)
			return 0;
		if (r->fd < 0) {
			if (r->next_file >= r->nfiles)
				return 0;
			if (open_next(r, e) < 0)
				return -1;
		}
		char *nl = r->end > r->scan ? memchr(r->buf + r->scan, '\n', r->end - r->scan) : NULL;
		size_t len;
		if (nl) {
			len = (size_t)(nl - (r->buf + r->start));
		} else if (!r->eof) {
			r->scan = r->end;
			int rc = fill(r, e);
			if (rc < 0) {
				close_current(r);
				return -1;
			}
			if (rc > 0)
				return 2;
			continue;
		} else if (r->start < r->end) {
			len = r->end - r->start; /* a last line without '\n' */
		} else {
			close_current(r);
			continue;
		}
		char *p = r->buf + r->start;
		r->start += len + (nl != NULL);
		r->scan = r->start;
		r->lineno++;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (r->lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
			p += 3;
			len -= 3;
		}
		if (blank(p, len))
			continue;
		line->file = r->name;
		line->lineno = r->lineno;
		line->p = p;
		line->len = len;
		return 1;
	}
}

/* The kind of JSON value that starts at the first non-blank byte
 * (JV_KIND_INVALID: none; JV_KIND_TRUE for either literal). */
static jv_kind kind_at(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i == len)
		return JV_KIND_INVALID;
	switch (p[i]) {
	case '{': return JV_KIND_OBJECT;
	case '[': return JV_KIND_ARRAY;
	case '"': return JV_KIND_STRING;
	case 't': case 'f': return JV_KIND_TRUE;
	case 'n': return JV_KIND_NULL;
	default: return JV_KIND_NUMBER;
	}
}

const char *jrn_json_kind_at(const char *p, size_t len)
{
	jv_kind k = kind_at(p, len);
	return k == JV_KIND_INVALID ? "nothing" : k == JV_KIND_TRUE ? "boolean" : jv_kind_name(k);
}

const char *jrn_kind_phrase(jv_kind k, bool yaml)
{
	switch (k) {
	case JV_KIND_NULL: return "null";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE: return "a boolean";
	case JV_KIND_NUMBER: return "a number";
	case JV_KIND_STRING: return "a string";
	case JV_KIND_ARRAY: return yaml ? "a list" : "an array";
	case JV_KIND_OBJECT: return yaml ? "a mapping" : "an object";
	default: return "nothing";
	}
}

const char *jrn_json_kind_phrase_at(const char *p, size_t len)
{
	return jrn_kind_phrase(kind_at(p, len), false);
}

int jrn_rejects_open(jrn_rejects *r, const char *prog, const char *path,
		     bool quiet, jrn_err *e)
{
	memset(r, 0, sizeof *r);
	r->prog = prog;
	r->diag = stderr;
	r->quiet = quiet;
	if (!path)
		return 0;
	r->file = fopen(path, "ae");
	if (!r->file)
		return jrn_fail(e, "%s: %s", path, strerror(errno));
	return 0;
}

/* Appends s[0..n) as a JSON string, with each ill-formed byte as U+FFFD. */
static int append_lossy(jrn_buf *b, const char *s, size_t n)
{
	jrn_buf clean = {0};
	int rc = 0;
	while (n > 0 && rc == 0) {
		size_t ok = jrn_utf8_invalid_at(s, n);
		rc = jrn_buf_add(&clean, s, ok);
		if (ok < n && rc == 0)
			rc = jrn_buf_add(&clean, "\xEF\xBF\xBD", 3);
		if (ok < n)
			ok++;
		s += ok;
		n -= ok;
	}
	if (rc == 0)
		rc = jrn_json_append_str(b, clean.p ? clean.p : "", clean.len);
	jrn_buf_free(&clean);
	return rc;
}

int jrn_reject(jrn_rejects *r, const char *file, uint64_t lineno,
	       const char *input, size_t len, const char *reason, jrn_err *e)
{
	r->count++;
	if (!r->quiet) { /* one line, whatever the reason quotes (jrn_say) */
		char *shown = jrn_diag_text(reason);
		fprintf(r->diag, "%s: %s:%llu: %s\n", r->prog, file,
			(unsigned long long)lineno, shown ? shown : reason);
		free(shown);
	}
	if (!r->file)
		return 0;

	jrn_buf b = {0};
	int utf8 = jrn_utf8_invalid_at(input, len) == len;
	int rc = jrn_buf_adds(&b, "{\"file\":");
	rc |= jrn_json_append_str(&b, file, strlen(file));
	rc |= jrn_buf_addf(&b, ",\"line\":%llu,\"error\":", (unsigned long long)lineno);
	rc |= jrn_json_append_str(&b, reason, strlen(reason));
	rc |= jrn_buf_adds(&b, ",\"input\":");
	rc |= utf8 ? jrn_json_append_str(&b, input, len) : append_lossy(&b, input, len);
	if (!utf8 && rc == 0) {
		/* The exact bytes, since a JSON string cannot carry them. */
		if (len > (SIZE_MAX / 4) * 3 - 3 || jrn_buf_reserve(&b, (len + 2) / 3 * 4 + 32) < 0) {
			rc = -1;
		} else {
			rc |= jrn_buf_adds(&b, ",\"inputBase64\":\"");
			size_t done = 0;
			while (rc == 0 && done < len) {
				/* EVP_EncodeBlock takes an int length: go in slices. */
				size_t n = len - done > (3u << 28) ? (3u << 28) : len - done;
				int out = EVP_EncodeBlock((unsigned char *)b.p + b.len,
							  (const unsigned char *)input + done, (int)n);
				b.len += (size_t)out;
				done += n;
			}
			b.p[b.len] = '\0';
			rc |= jrn_buf_adds(&b, "\"");
		}
	}
	rc |= jrn_buf_adds(&b, "}\n");
	if (rc != 0) {
		jrn_buf_free(&b);
		return jrn_fail(e, "out of memory writing a reject");
	}
	size_t want = b.len, w = fwrite(b.p, 1, want, r->file);
	jrn_buf_free(&b);
	if (w != want || ferror(r->file))
		return jrn_fail(e, "writing rejects: %s", strerror(errno));
	return 0;
}

int jrn_rejects_close(jrn_rejects *r, jrn_err *e)
{
	if (!r->file)
		return 0;
	int bad = ferror(r->file) | fflush(r->file);
	int err = errno;
	bad |= fclose(r->file);
	r->file = NULL;
	return bad ? jrn_fail(e, "writing rejects: %s", strerror(err)) : 0;
}
