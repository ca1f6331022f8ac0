/* tool.c: the frame every tool's main() shares: its voice on stderr, the
 * option loop's common part, the end of a run; and small pieces three tools
 * had written each for themselves: a monotonic clock, a string → index map,
 * prepared statements and transactions.
 *
 * The voice is the one place lib/ writes to stderr, and only when a tool
 * calls it: the program name comes from jrn_opts_init. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jrn.h"

static const char *prog_name = "jrn";

void jrn_prog_set(const char *prog)
{
	if (prog && *prog)
		prog_name = prog;
}

const char *jrn_prog(void)
{
	return prog_name;
}

char *jrn_diag_text(const char *s)
{
	size_t extra = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		extra += (*p < 0x20 && *p != '\t') || *p == 0x7f ? 3 : 0; /* (at most "\\xNN") */
	if (!extra)
		return NULL;
	char *out = malloc(strlen(s) + extra + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*o++ = '\\', *o++ = *p == '\n' ? 'n' : 'r';
		else if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			o += sprintf(o, "\\x%02X", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

int jrn_say(int status, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	/* one write of the whole line, so lines of tools sharing a stderr do
	 * not interleave; without memory, the message in pieces */
	if (n >= 0) {
		char *shown = jrn_diag_text(msg);
		fprintf(stderr, "%s: %s\n", prog_name, shown ? shown : msg);
		free(shown);
		free(msg);
	} else {
		fprintf(stderr, "%s: ", prog_name);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	return status;
}

/* A standard descriptor the caller closed (`>&-`) would be taken by the
 * next socket or file the tool opens (libnats, curl, SMTP), and the tool
 * would write its output into that connection. Each closed one of 0, 1, 2
 * gets /dev/null opened the other way round (0 for writing, 1 and 2 for
 * reading): it stays taken, and reading or writing it still fails with
 * EBADF as a closed one does. */
static void hold_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
		if (got >= 0 && got != fd) {
			dup2(got, fd);
			close(got);
		}
	}
}

int jrn_opts_parse(jrn_opts *o, int argc, char **argv, const char *shortopts,
		   const struct option *longopts, const char *usage,
		   int (*take)(void *ctx, int c, const char *arg), void *ctx)
{
	int c;
	hold_std_fds();
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (jrn_opts_take(o, c, optarg))
			continue;
		if (c == 'h')
			return jrn_print_text(usage);
		if (c == JRN_OPT_VERSION) {
			char v[128];
			snprintf(v, sizeof v, "%s %s\n", o->prog, JRN_VERSION);
			return jrn_print_text(v);
		}
		int rc = c == '?' || c == ':' || !take ? -2 : take(ctx, c, optarg);
		if (rc == -2) {
			fprintf(stderr, "Try '%s --help'.\n", o->prog);
			return JRN_EXIT_USAGE;
		}
		if (rc > 0)
			return rc;
	}
	return -1;
}

int jrn_finish(jrn_out *out, jrn_rejects *rej, int status)
{
	if (out) {
		bool pipe_closed = out->err == EPIPE;
		if (jrn_out_close(out) < 0 && !pipe_closed && out->err != 0 && out->err != EPIPE)
			status = jrn_say(JRN_EXIT_FAIL, "writing output: %s", strerror(out->err));
	}
	if (rej) {
		jrn_err e;
		uint64_t n = rej->count;
		if (jrn_rejects_close(rej, &e) < 0)
			status = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		if (status == JRN_EXIT_OK && n > 0)
			status = JRN_EXIT_REJECTS;
	}
	return status;
}

int jrn_print_text(const char *text)
{
	jrn_out out;
	jrn_out_init(&out, STDOUT_FILENO);
	jrn_out_lines(&out, text, strlen(text)); /* an error stays in out.err */
	return jrn_finish(&out, NULL, JRN_EXIT_OK);
}

int64_t jrn_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jrn_sleep_ms(int64_t ms)
{
	if (ms > 0) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
}

int jrn_db_open_dry(const char *path, bool dry_run, int busy_ms, sqlite3 **db, jrn_err *e)
{
	if (dry_run && access(path, F_OK) != 0)
		path = ":memory:";
	return jrn_db_open(path, busy_ms, db, e);
}

/* ---- did you mean ---------------------------------------------------------- */

const char *jrn_nearest(const char *s, const char *const *names)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (; s && *names; names++) {
		size_t len = strlen(*names), limit = len >= 5 ? 2 : 1;
		if (!strcmp(s, *names))
			return NULL;
		size_t d = jrn_edit_distance(s, strlen(s), *names, len);
		if (d <= limit && d < len && d < best_d)
			best = *names, best_d = d;
	}
	return best;
}

const char *jrn_unknown_word(const char *what, const char *s, const char *const *names,
			     const char *list, char *buf, size_t size)
{
	const char *near = jrn_nearest(s, names);
	if (near)
		snprintf(buf, size, "unknown %s (did you mean %s?)", what, near);
	else
		snprintf(buf, size, "unknown %s (%s)", what, list);
	return buf;
}

/* ---- string → index map ---------------------------------------------------- */

uint64_t jrn_hash64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then murmur3's final mix */
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

struct jrn_idmap {
	size_t *slot;  /* 1 + index; 0 empty */
	size_t mask;   /* slots - 1 */
	struct ent { uint64_t hash; size_t key, len; } *ent;
	size_t n, cap;
	jrn_buf keys;  /* every key, NUL-terminated, back to back */
};

jrn_idmap *jrn_idmap_new(void)
{
	return calloc(1, sizeof(jrn_idmap));
}

static int idmap_grow(jrn_idmap *m)
{
	size_t nslots = m->slot ? (m->mask + 1) * 2 : 1024;
	if (nslots > SIZE_MAX / sizeof(size_t))
		return -1;
	size_t *s = calloc(nslots, sizeof *s);
	if (!s)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = m->ent[i].hash & (nslots - 1);
		while (s[j])
			j = (j + 1) & (nslots - 1);
		s[j] = i + 1;
	}
	free(m->slot);
	m->slot = s;
	m->mask = nslots - 1;
	return 0;
}

/* The slot of k: holding it, or the empty one where it would go. */
static size_t *idmap_slot(const jrn_idmap *m, const char *k, size_t n, uint64_t h)
{
	size_t j = h & m->mask;
	while (m->slot[j]) {
		const struct ent *x = &m->ent[m->slot[j] - 1];
		if (x->hash == h && x->len == n && memcmp(m->keys.p + x->key, k, n) == 0)
			break;
		j = (j + 1) & m->mask;
	}
	return &m->slot[j];
}

int64_t jrn_idmap_get(const jrn_idmap *m, const char *k, size_t n)
{
	if (!m->slot)
		return -1;
	size_t *s = idmap_slot(m, k, n, jrn_hash64(k, n));
	return *s ? (int64_t)*s - 1 : -1;
}

int64_t jrn_idmap_put(jrn_idmap *m, const char *k, size_t n, bool *added)
{
	if (added)
		*added = false;
	if ((!m->slot || m->n + 1 > (m->mask + 1) / 2) && idmap_grow(m) < 0)
		return -1;
	uint64_t h = jrn_hash64(k, n);
	size_t *s = idmap_slot(m, k, n, h);
	if (*s)
		return (int64_t)*s - 1;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		struct ent *e = cap < SIZE_MAX / sizeof *e ? realloc(m->ent, cap * sizeof *e) : NULL;
		if (!e)
			return -1;
		m->ent = e;
		m->cap = cap;
	}
	size_t off = m->keys.len;
	if (jrn_buf_add(&m->keys, k, n) < 0 || jrn_buf_addc(&m->keys, '\0') < 0)
		return -1;
	m->ent[m->n] = (struct ent){h, off, n};
	*s = ++m->n;
	if (added)
		*added = true;
	return (int64_t)m->n - 1;
}

size_t jrn_idmap_count(const jrn_idmap *m)
{
	return m->n;
}

const char *jrn_idmap_key(const jrn_idmap *m, size_t i, size_t *len)
{
	if (len)
		*len = m->ent[i].len;
	return m->keys.p + m->ent[i].key;
}

void jrn_idmap_free(jrn_idmap *m)
{
	if (!m)
		return;
	free(m->slot);
	free(m->ent);
	jrn_buf_free(&m->keys);
	free(m);
}

/* ---- statements and transactions ------------------------------------------ */

int jrn_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, jrn_err *e)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	}
	return 0;
}

int jrn_db_commit(sqlite3 *db, jrn_err *e)
{
	return jrn_db_exec(db, "COMMIT", e);
}

void jrn_db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}
