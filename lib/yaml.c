/* yaml.c: YAML to jv, with positions (see yaml.h for what it reads).
 *
 * libyaml's event API drives a parser that keeps its own stack of open
 * mappings and sequences on the heap (no recursion), so nesting depth costs
 * no C stack; JRN_YAML_MAX_DEPTH only turns an absurd file into a clean
 * error. Beside each value it builds the value's position tree (yaml.h).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define JRN_YAML_LIBYAML 1
#include <yaml.h> /* lib/yaml.h, then libyaml's (see the end of lib/yaml.h) */

/* ---- errors ------------------------------------------------------------- */

/* A position in the file, 0-based as libyaml counts. */
typedef struct {
	size_t line, col;
} at;

static at at_mark(yaml_mark_t m)
{
	return (at){m.line, m.column};
}

/* An open mapping or sequence. */
typedef struct {
	bool map;
	jv val;   /* the object or array being built */
	jv kids;  /* positions: {key: [kline, kcol, pos]} or [pos, ...] (1-based) */
	jv order; /* a mapping's keys in document order */
	jv key;   /* a mapping's key waiting for its value, or invalid */
	at key_at;
	at start;
	char *anchor; /* to define when the node ends, or NULL */
	size_t nodes; /* nodes within, aliases counted expanded */
	int unset_from; /* the parser's unset references before this node */
} frame;

typedef struct {
	const char *file;
	const char *what; /* "the configuration", "the file" */
	int flags;
	const char *text;
	size_t len;
	jrn_err *e;
	frame *stack;
	size_t depth, cap;
	jv anchors; /* name -> [value, nodes, [[KEY_SUFFIX, NAME, LINE, COL], ...]] */
	jv unset;   /* [{key, name, line, column, written[, set]}, ...]: the unset
		     * references (JRN_YAML_ENV_KEEP) and, marked "set", the
		     * expanded ones (for o->env) */
	jv root, root_pos;
	size_t aliased; /* nodes reached through aliases, in all */
} parser;

/* "FILE:LINE:COLUMN: message", 1-based ("FILE:LINE: message" with
 * JRN_YAML_LINES). Returns -1. */
static int fail_at(parser *p, at a, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(parser *p, at a, const char *fmt, ...)
{
	char msg[sizeof p->e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->flags & JRN_YAML_LINES)
		return jrn_fail(p->e, "%s:%zu: %s", p->file, a.line + 1, msg);
	return jrn_fail(p->e, "%s:%zu:%zu: %s", p->file, a.line + 1, a.col + 1, msg);
}

static int fail_oom(parser *p)
{
	return jrn_fail(p->e, "%s: out of memory", p->file);
}

/* ---- reading ------------------------------------------------------------ */

static int read_file(const char *path, jrn_buf *b, jrn_err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return jrn_fail(e, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return jrn_fail(e, "%s: %s", path, strerror(EISDIR));
	}
	errno = 0;
	for (;;) {
		if (jrn_buf_reserve(b, 65536) < 0) {
			fclose(f);
			return jrn_fail(e, "%s: out of memory", path);
		}
		size_t n = fread(b->p + b->len, 1, b->cap - b->len - 1, f);
		b->len += n;
		b->p[b->len] = '\0';
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		int err = errno;
		fclose(f);
		return jrn_fail(e, "%s: %s", path, strerror(err ? err : EIO));
	}
	fclose(f);
	return 0;
}

/* Number of UTF-8 characters (not continuation bytes) in s[0..n). */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

/* ---- positions ----------------------------------------------------------- */

/* [LINE, COL] of a (1-based), and the rest when given. */
static jv pos_new(at a)
{
	return JV_ARRAY(jv_number((double)a.line + 1), jv_number((double)a.col + 1));
}

static int pos_num(jv arr, int i)
{
	jv n = jv_array_get(jv_copy(arr), i);
	int v = jv_get_kind(n) == JV_KIND_NUMBER ? (int)jv_number_value(n) : 0;
	jv_free(n);
	return v;
}

jrn_yaml_at jrn_yaml_pos_at(jv pos)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY)
		return (jrn_yaml_at){0, 0};
	return (jrn_yaml_at){pos_num(pos, 0), pos_num(pos, 1)};
}

/* The [KEY_LINE, KEY_COL, VALUE_POS] entry of key in the mapping at pos
 * (both borrowed), or invalid. */
static jv pos_entry(jv pos, jv key)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY || jv_array_length(jv_copy(pos)) != 4 ||
	    jv_get_kind(key) != JV_KIND_STRING)
		return jv_invalid();
	jv kids = jv_array_get(jv_copy(pos), 2);
	if (jv_get_kind(kids) != JV_KIND_OBJECT) {
		jv_free(kids);
		return jv_invalid();
	}
	return jv_object_get(kids, jv_copy(key));
}

jv jrn_yaml_pos_value(jv pos, jv key)
{
	jv ent = pos_entry(pos, key);
	if (!jv_is_valid(ent)) {
		jv_free(ent);
		return jv_null();
	}
	return jv_array_get(ent, 2);
}

jrn_yaml_at jrn_yaml_pos_key_at(jv pos, jv key)
{
	jv ent = pos_entry(pos, key);
	jrn_yaml_at a = {0, 0};
	if (jv_is_valid(ent))
		a = (jrn_yaml_at){pos_num(ent, 0), pos_num(ent, 1)};
	jv_free(ent);
	return a;
}

jv jrn_yaml_pos_item(jv pos, int i)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY || jv_array_length(jv_copy(pos)) != 3)
		return jv_null();
	jv kids = jv_array_get(jv_copy(pos), 2);
	if (jv_get_kind(kids) != JV_KIND_ARRAY || i < 0 || i >= jv_array_length(jv_copy(kids))) {
		jv_free(kids);
		return jv_null();
	}
	return jv_array_get(kids, i);
}

jv jrn_yaml_pos_keys(jv pos)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY || jv_array_length(jv_copy(pos)) != 4)
		return jv_invalid();
	return jv_array_get(jv_copy(pos), 3);
}

jv jrn_yaml_pos_list_of(jv pos)
{
	jrn_yaml_at a = jrn_yaml_pos_at(pos);
	return JV_ARRAY(jv_number(a.line), jv_number(a.col), JV_ARRAY(pos));
}

/* ---- the parser ---------------------------------------------------------- */

static bool key_expected(const parser *p)
{
	return p->depth && p->stack[p->depth - 1].map &&
	       !jv_is_valid(p->stack[p->depth - 1].key);
}

static int unset_count(const parser *p)
{
	return jv_array_length(jv_copy(p->unset));
}

/* The path of the node about to be delivered into the innermost open
 * container ("send.unsubscribe.secret", "providers.email[0]"; "" for the
 * root), or invalid when out of memory. */
static jv node_path(const parser *p)
{
	jrn_buf b = {0};
	int rc = jrn_buf_adds(&b, "");
	for (size_t i = 0; rc == 0 && i < p->depth; i++) {
		const frame *f = &p->stack[i];
		if (!f->map)
			rc = jrn_buf_addf(&b, "[%d]", jv_array_length(jv_copy(f->val)));
		else if (jv_is_valid(f->key))
			rc = (b.len ? jrn_buf_addc(&b, '.') : 0) < 0 ||
			     jrn_buf_add(&b, jv_string_value(f->key),
					 (size_t)jv_string_length_bytes(jv_copy(f->key))) < 0 ? -1 : 0;
	}
	jv path = rc == 0 && b.len <= INT_MAX ? jv_string_sized(b.p, (int)b.len) : jv_invalid();
	jrn_buf_free(&b);
	return path;
}

/* Lists a ${name} written at a, in the value at node_path: unset, or with
 * set expanded (then with written, the scalar as written; consumed). */
static int record_unset(parser *p, jv key, const char *name, at a, jv written, bool set)
{
	if (!jv_is_valid(key) || (set && !jv_is_valid(written))) {
		jv_free(key);
		jv_free(written);
		return fail_oom(p);
	}
	jv ref = jv_object();
	ref = jv_object_set(ref, jv_string("key"), key);
	ref = jv_object_set(ref, jv_string("name"), jv_string(name));
	ref = jv_object_set(ref, jv_string("line"), jv_number((double)a.line + 1));
	ref = jv_object_set(ref, jv_string("column"), jv_number((double)a.col + 1));
	if (set) {
		ref = jv_object_set(ref, jv_string("written"), written);
		ref = jv_object_set(ref, jv_string("set"), jv_true());
	} else {
		jv_free(written);
	}
	p->unset = jv_array_append(p->unset, ref);
	return 0;
}

/* Defines anchor name as v (a node of nodes nodes); the unset references
 * listed from index from on lie inside it, and an alias repeats them. */
static int define_anchor(parser *p, const char *name, jv v, size_t nodes, int from)
{
	jv refs = jv_array();
	if (unset_count(p) > from) {
		jv path = node_path(p);
		if (!jv_is_valid(path)) {
			jv_free(refs);
			jv_free(v);
			return fail_oom(p);
		}
		size_t plen = (size_t)jv_string_length_bytes(jv_copy(path));
		for (int i = from; i < unset_count(p); i++) {
			jv ref = jv_array_get(jv_copy(p->unset), i);
			jv key = jv_object_get(jv_copy(ref), jv_string("key"));
			jv item = JV_ARRAY(jv_string(jv_string_value(key) + plen),
					   jv_object_get(jv_copy(ref), jv_string("name")),
					   jv_object_get(jv_copy(ref), jv_string("line")),
					   jv_object_get(jv_copy(ref), jv_string("column")));
			jv w = jv_object_get(jv_copy(ref), jv_string("written"));
			item = jv_array_append(item, jv_is_valid(w) ? w : jv_null());
			item = jv_array_append(item, jv_bool(jv_object_has(jv_copy(ref),
									   jv_string("set"))));
			refs = jv_array_append(refs, item);
			jv_free(key);
			jv_free(ref);
		}
		jv_free(path);
	}
	p->anchors = jv_object_set(p->anchors, jv_string(name),
				   JV_ARRAY(v, jv_number((double)nodes), refs));
	return 0;
}

/* The node that just ended (v, with its position pos) goes into the open
 * container, or becomes the root. Consumes v and pos. */
static int deliver(parser *p, jv v, jv pos, size_t nodes)
{
	if (!p->depth) {
		jv_free(p->root);
		jv_free(p->root_pos);
		p->root = v;
		p->root_pos = pos;
		return 0;
	}
	frame *f = &p->stack[p->depth - 1];
	f->nodes += nodes;
	if (f->map) {
		jv key = f->key;
		f->key = jv_invalid();
		f->val = jv_object_set(f->val, jv_copy(key), v);
		f->order = jv_array_append(f->order, jv_copy(key));
		f->kids = jv_object_set(f->kids, key,
					JV_ARRAY(jv_number((double)f->key_at.line + 1),
						 jv_number((double)f->key_at.col + 1), pos));
	} else {
		f->val = jv_array_append(f->val, v);
		f->kids = jv_array_append(f->kids, pos);
	}
	return 0;
}

/* A key for the innermost (mapping) frame. Consumes key. */
static int take_key(parser *p, jv key, at a)
{
	frame *f = &p->stack[p->depth - 1];
	if (jv_object_has(jv_copy(f->val), jv_copy(key))) {
		jv first = jv_object_get(jv_copy(f->kids), jv_copy(key));
		int fl = pos_num(first, 0), fc = pos_num(first, 1);
		jv_free(first);
		if (p->flags & JRN_YAML_LINES)
			fail_at(p, a, "key '%s' given twice (first at line %d)", jv_string_value(key), fl);
		else
			fail_at(p, a, "duplicate key '%s' (first at %d:%d)", jv_string_value(key), fl, fc);
		jv_free(key);
		return -1;
	}
	f->key = key;
	f->key_at = a;
	return 0;
}

/* The position of byte off of a scalar's value, when the value is the
 * source text as is (one line, no escapes); else where the scalar starts. */
static at inner_at(const yaml_event_t *ev, const char *s, size_t n, size_t off)
{
	at a = at_mark(ev->start_mark);
	size_t q;
	switch (ev->data.scalar.style) {
	case YAML_PLAIN_SCALAR_STYLE: q = 0; break;
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE: q = 1; break;
	default: return a;
	}
	if (ev->end_mark.line != ev->start_mark.line ||
	    ev->end_mark.column - ev->start_mark.column != utf8_chars(s, n) + 2 * q)
		return a;
	a.col += q + utf8_chars(s, off);
	return a;
}

static bool name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* A string value with ${NAME} expanded, or invalid (with the error). */
static jv expand(parser *p, const yaml_event_t *ev, const char *s, size_t n)
{
	if (n > INT_MAX) {
		fail_at(p, at_mark(ev->start_mark), "string too long");
		return jv_invalid();
	}
	if (!(p->flags & JRN_YAML_ENV) || !memchr(s, '$', n))
		return jv_string_sized(s, (int)n);

	jrn_buf b = {0};
	size_t i = 0, run = 0; /* s[run..i) is literal text not yet copied */
	int oom = 0;
	bool kept = false; /* an unset name under JRN_YAML_ENV_KEEP */
	while (i < n) {
		if (s[i] != '$') {
			i++;
			continue;
		}
		if (i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') {
			if (jrn_buf_add(&b, s + run, i - run) < 0 || jrn_buf_adds(&b, "${") < 0)
				oom = 1;
			run = i += 3;
			continue;
		}
		if (i + 1 >= n || s[i + 1] != '{') {
			i++; /* a lone '$' */
			continue;
		}
		size_t start = i + 2, end = start;
		while (end < n && s[end] != '}')
			end++;
		if (end == n) {
			fail_at(p, inner_at(ev, s, n, i),
				"'${' without a closing '}' (write '$${' for a literal '${')");
			goto fail;
		}
		bool ok = end > start && name_start(s[start]);
		for (size_t j = start; ok && j < end; j++)
			ok = name_char(s[j]);
		if (!ok) {
			int len = end - start > 64 ? 64 : (int)(end - start);
			fail_at(p, inner_at(ev, s, n, i),
				"bad environment variable name '${%.*s%s}' (letters, digits and '_', "
				"not starting with a digit; write '$${' for a literal '${')",
				len, s + start, end - start > 64 ? "..." : "");
			goto fail;
		}
		char *name = strndup(s + start, end - start);
		if (!name) {
			fail_oom(p);
			goto fail;
		}
		const char *val = getenv(name);
		if (!val && (p->flags & JRN_YAML_ENV_KEEP)) {
			int rc = record_unset(p, node_path(p), name, inner_at(ev, s, n, i),
					      jv_null(), false);
			free(name);
			if (rc < 0)
				goto fail;
			kept = true;
			run = i = end + 1;
			continue;
		}
		if (!val) {
			fail_at(p, inner_at(ev, s, n, i),
				"environment variable %s is not set", name);
			free(name);
			goto fail;
		}
		/* listed so that messages can show ${NAME}, never the value */
		int rc = record_unset(p, node_path(p), name, inner_at(ev, s, n, i),
				      jv_string_sized(s, (int)n), true);
		free(name);
		if (rc < 0)
			goto fail;
		if (jrn_buf_add(&b, s + run, i - run) < 0 || jrn_buf_adds(&b, val) < 0)
			oom = 1;
		run = i = end + 1;
	}
	if (jrn_buf_add(&b, s + run, n - run) < 0)
		oom = 1;
	if (oom) {
		fail_oom(p);
		goto fail;
	}
	if (kept) { /* as written: the reader fails if the value is used */
		jrn_buf_free(&b);
		return jv_string_sized(s, (int)n);
	}
	if (b.len > INT_MAX) {
		fail_at(p, at_mark(ev->start_mark), "string too long");
		goto fail;
	}
	jv v = jv_string_sized(b.p, (int)b.len);
	jrn_buf_free(&b);
	return v;
fail:
	jrn_buf_free(&b);
	return jv_invalid();
}

/* What a plain scalar resolves to (YAML 1.2 core schema). */
enum { R_STR, R_NULL, R_BOOL, R_INT, R_FLOAT };

static bool is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

static bool any_of(const char *s, size_t n, const char *a, const char *b, const char *c)
{
	return is(s, n, a) || is(s, n, b) || is(s, n, c);
}

/* Digits of base in s[0..n), exactly (at most 2^53): 1, or 0 when s is not
 * such a number, or -1 (too large). */
static int parse_uint(const char *s, size_t n, int base, double *out)
{
	uint64_t v = 0;
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int d;
		char c = s[i];
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return 0;
		if (d >= base)
			return 0;
		if (v > ((uint64_t)1 << 53)) /* keep scanning: it may not be a number */
			continue;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (v > ((uint64_t)1 << 53))
		return -1;
	*out = (double)v;
	return 1;
}

static bool is_float(const char *s, size_t n)
{
	size_t i = 0, before = 0, after = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, before++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, after++;
	}
	if (!before && !after)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, exp++;
		if (!exp)
			return false;
	}
	return i == n;
}

/* Resolves a plain scalar. Sets *cls; on a value JSON cannot hold returns
 * invalid with the reason in *why. */
static jv resolve_plain(const char *s, size_t n, int *cls, const char **why)
{
	double d;
	int r;
	*why = NULL;
	if (n == 0 || any_of(s, n, "null", "Null", "NULL") || is(s, n, "~"))
		return *cls = R_NULL, jv_null();
	if (any_of(s, n, "true", "True", "TRUE"))
		return *cls = R_BOOL, jv_true();
	if (any_of(s, n, "false", "False", "FALSE"))
		return *cls = R_BOOL, jv_false();
	*cls = R_INT;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		r = parse_uint(s + 2, n - 2, s[1] == 'x' ? 16 : 8, &d);
		if (r > 0)
			return jv_number(d);
		if (r < 0)
			goto too_large;
	} else {
		size_t sign = (s[0] == '+' || s[0] == '-');
		r = parse_uint(s + sign, n - sign, 10, &d);
		if (r > 0)
			return jv_number(s[0] == '-' && d != 0 ? -d : d);
		if (r < 0)
			goto too_large;
	}
	*cls = R_FLOAT;
	if (is_float(s, n)) {
		/* s is NUL-terminated (libyaml) and a float to its end. */
		d = strtod(s, NULL);
		if (isinf(d)) {
			*why = "number out of range";
			return jv_invalid();
		}
		return jv_number(d);
	}
	size_t sign = (s[0] == '+' || s[0] == '-');
	if (any_of(s + sign, n - sign, ".inf", ".Inf", ".INF")) {
		*why = "JSON has no infinity (quote it to keep it as a string)";
		return jv_invalid();
	}
	if (any_of(s, n, ".nan", ".NaN", ".NAN")) {
		*why = "JSON has no NaN (quote it to keep it as a string)";
		return jv_invalid();
	}
	*cls = R_STR;
	return jv_invalid();
too_large:
	*why = "integer too large to keep exactly (beyond 2^53); quote it to keep it as a string";
	return jv_invalid();
}

#define CORE_TAG "tag:yaml.org,2002:"

/* The value of a scalar event that is not a mapping key, or invalid. */
static jv scalar_value(parser *p, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *want = NULL; /* an explicit core tag: str, null, ... */
	at a = at_mark(ev->start_mark);

	if (tag && strcmp(tag, "!") != 0) {
		size_t cl = strlen(CORE_TAG);
		want = strncmp(tag, CORE_TAG, cl) == 0 ? tag + cl : "";
		if (!strcmp(want, "str"))
			return expand(p, ev, s, n);
		if (strcmp(want, "null") && strcmp(want, "bool") && strcmp(want, "int") &&
		    strcmp(want, "float")) {
			fail_at(p, a, "unsupported tag '%s'", tag);
			return jv_invalid();
		}
	} else if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		return expand(p, ev, s, n);
	}

	int cls;
	const char *why;
	jv v = resolve_plain(s, n, &cls, &why);
	if (why) {
		fail_at(p, a, "'%.64s': %s", s, why);
		return jv_invalid();
	}
	if (want) {
		bool ok = !strcmp(want, "null") ? cls == R_NULL
			: !strcmp(want, "bool") ? cls == R_BOOL
			: !strcmp(want, "int")  ? cls == R_INT
			: cls == R_INT || cls == R_FLOAT;
		if (!ok) {
			jv_free(v);
			fail_at(p, a, "'%.64s' is not a valid !!%s", s, want);
			return jv_invalid();
		}
	}
	if (cls != R_STR)
		return v;
	jv_free(v);
	return expand(p, ev, s, n);
}

static int on_scalar(parser *p, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	at a = at_mark(ev->start_mark);

	if (key_expected(p)) {
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is(s, n, "<<") &&
		    !ev->data.scalar.tag)
			return fail_at(p, a,
				       "merge keys ('<<') are not supported; write the keys out");
		const char *tag = (const char *)ev->data.scalar.tag;
		if (tag && strcmp(tag, "!") && strcmp(tag, CORE_TAG "str"))
			return fail_at(p, a, "unsupported tag '%s'", tag);
		if (n > INT_MAX)
			return fail_at(p, a, "key too long");
		jv key = jv_string_sized(s, (int)n);
		if (anchor)
			define_anchor(p, anchor, jv_copy(key), 1, unset_count(p));
		return take_key(p, key, a);
	}
	int from = unset_count(p);
	jv v = scalar_value(p, ev);
	if (!jv_is_valid(v))
		return -1;
	if (anchor && define_anchor(p, anchor, jv_copy(v), 1, from) < 0) {
		jv_free(v);
		return -1;
	}
	return deliver(p, v, pos_new(a), 1);
}

static int on_alias(parser *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	at a = at_mark(ev->start_mark);
	jv def = jv_object_get(jv_copy(p->anchors), jv_string(name));
	if (!jv_is_valid(def)) {
		jv_free(def);
		for (size_t i = 0; i < p->depth; i++)
			if (p->stack[i].anchor && !strcmp(p->stack[i].anchor, name))
				return fail_at(p, a,
					       "alias *%s refers to a node that contains it", name);
		return fail_at(p, a, "undefined alias *%s", name);
	}
	jv v = jv_array_get(jv_copy(def), 0);
	jv nv = jv_array_get(jv_copy(def), 1);
	jv refs = jv_array_get(def, 2);
	size_t nodes = (size_t)jv_number_value(nv);
	jv_free(nv);
	if (!key_expected(p) && jv_array_length(jv_copy(refs)) > 0) {
		/* the alias's value holds references: list them again here */
		jv path = node_path(p);
		int rc = jv_is_valid(path) ? 0 : fail_oom(p);
		jv_array_foreach(refs, i, r) {
			jv suffix = jv_array_get(jv_copy(r), 0), name = jv_array_get(jv_copy(r), 1);
			jv written = jv_array_get(jv_copy(r), 4), set = jv_array_get(jv_copy(r), 5);
			jrn_buf k = {0};
			if (rc == 0 && (jrn_buf_adds(&k, jv_string_value(path)) < 0 ||
					jrn_buf_adds(&k, jv_string_value(suffix)) < 0))
				rc = fail_oom(p);
			if (rc == 0)
				rc = record_unset(p, jv_string(k.p),  jv_string_value(name),
						  (at){(size_t)pos_num(r, 2) - 1, (size_t)pos_num(r, 3) - 1},
						  jv_copy(written), jv_get_kind(set) == JV_KIND_TRUE);
			jrn_buf_free(&k);
			jv_free(suffix);
			jv_free(name);
			jv_free(written);
			jv_free(set);
			jv_free(r);
		}
		jv_free(path);
		if (rc < 0) {
			jv_free(refs);
			jv_free(v);
			return -1;
		}
	}
	jv_free(refs);

	if (key_expected(p)) {
		if (jv_get_kind(v) != JV_KIND_STRING) {
			jv_free(v);
			return fail_at(p, a, "a mapping key must be a string");
		}
		return take_key(p, v, a);
	}
	p->aliased += nodes;
	if (p->aliased > JRN_YAML_MAX_ALIASED) {
		jv_free(v);
		return fail_at(p, a,
			       "aliases expand to more than %zu nodes (the limit)", JRN_YAML_MAX_ALIASED);
	}
	return deliver(p, v, pos_new(a), nodes);
}

static int on_start(parser *p, const yaml_event_t *ev, bool map)
{
	at a = at_mark(ev->start_mark);
	const char *tag = (const char *)(map ? ev->data.mapping_start.tag
					     : ev->data.sequence_start.tag);
	const char *anchor = (const char *)(map ? ev->data.mapping_start.anchor
						: ev->data.sequence_start.anchor);
	if (key_expected(p))
		return fail_at(p, a, "a mapping key must be a scalar, not a %s",
			       map ? "mapping" : "list");
	if (tag && strcmp(tag, "!") && strcmp(tag, map ? CORE_TAG "map" : CORE_TAG "seq"))
		return fail_at(p, a, "unsupported tag '%s'", tag);
	if (p->depth >= JRN_YAML_MAX_DEPTH)
		return fail_at(p, a, "nested deeper than %d levels", JRN_YAML_MAX_DEPTH);
	if (p->depth == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		frame *st = realloc(p->stack, cap * sizeof *st);
		if (!st)
			return fail_oom(p);
		p->stack = st;
		p->cap = cap;
	}
	char *anchor_copy = NULL;
	if (anchor && !(anchor_copy = strdup(anchor)))
		return fail_oom(p);
	p->stack[p->depth++] = (frame){
		.map = map,
		.val = map ? jv_object() : jv_array(),
		.kids = map ? jv_object() : jv_array(),
		.order = jv_array(),
		.key = jv_invalid(),
		.start = a,
		.anchor = anchor_copy,
		.unset_from = unset_count(p),
	};
	return 0;
}

static int on_end(parser *p)
{
	frame f = p->stack[--p->depth];
	jv_free(f.key); /* always invalid: libyaml gives every key a value */
	size_t nodes = f.nodes + 1;
	if (f.anchor) {
		int rc = define_anchor(p, f.anchor, jv_copy(f.val), nodes, f.unset_from);
		free(f.anchor);
		if (rc < 0) {
			jv_free(f.val);
			jv_free(f.kids);
			jv_free(f.order);
			return -1;
		}
	}
	jv pos = jv_array_append(pos_new(f.start), f.kids);
	if (f.map)
		pos = jv_array_append(pos, f.order);
	else
		jv_free(f.order);
	return deliver(p, f.val, pos, nodes);
}

/* libyaml's own error, as FILE:LINE:COLUMN. */
static int syntax_error(parser *p, const yaml_parser_t *yp)
{
	const char *problem = yp->problem ? yp->problem : "syntax error";
	if (yp->error == YAML_MEMORY_ERROR)
		return fail_oom(p);
	if (yp->error == YAML_READER_ERROR) {
		/* No mark: count lines and characters up to the byte offset. */
		const char *s = p->text ? p->text : "";
		size_t off = yp->problem_offset < p->len ? yp->problem_offset : p->len;
		at a = {0, 0};
		size_t bol = 0;
		for (size_t i = 0; i < off; i++)
			if (s[i] == '\n')
				a.line++, bol = i + 1;
		a.col = utf8_chars(s + bol, off - bol);
		if (yp->problem_value != -1)
			return fail_at(p, a, "%s (byte 0x%02X)", problem,
				       (unsigned)yp->problem_value & 0xFFu);
		return fail_at(p, a, "%s", problem);
	}
	if (yp->context)
		return fail_at(p, at_mark(yp->problem_mark), "%s (%s at %zu:%zu)",
			       problem, yp->context, yp->context_mark.line + 1,
			       yp->context_mark.column + 1);
	return fail_at(p, at_mark(yp->problem_mark), "%s", problem);
}

/* Runs libyaml over the text: 0 with p->root set (if there was a document),
 * or -1 with the error. */
static int parse(parser *p, yaml_parser_t *yp)
{
	int docs = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(yp, &ev))
			return syntax_error(p, yp);
		int rc = 0;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = fail_at(p, at_mark(ev.start_mark),
					     "a second YAML document: %s is one document", p->what);
			break;
		case YAML_SCALAR_EVENT: rc = on_scalar(p, &ev); break;
		case YAML_ALIAS_EVENT: rc = on_alias(p, &ev); break;
		case YAML_SEQUENCE_START_EVENT: rc = on_start(p, &ev, false); break;
		case YAML_MAPPING_START_EVENT: rc = on_start(p, &ev, true); break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: rc = on_end(p); break;
		default: break;
		}
		yaml_event_delete(&ev);
		if (rc < 0)
			return -1;
	}
}


/* ---- the interface ------------------------------------------------------ */

/* Hands the references (consumed; null on error) to the caller: the unset
 * ones to *o->unset, the expanded ones to *o->env (each without "set"). */
static void split_refs(const jrn_yaml_opts *o, jv refs)
{
	jv unset = jv_array(), env = jv_array();
	if (jv_get_kind(refs) == JV_KIND_ARRAY) {
		jv_array_foreach(refs, i, r) {
			if (jv_object_has(jv_copy(r), jv_string("set")))
				env = jv_array_append(env, jv_object_delete(r, jv_string("set")));
			else
				unset = jv_array_append(unset, r);
		}
	} else {
		jv_free(unset);
		jv_free(env);
		unset = jv_null(), env = jv_null();
	}
	jv_free(refs);
	if (o->unset)
		*o->unset = unset;
	else
		jv_free(unset);
	if (o->env)
		*o->env = env;
	else
		jv_free(env);
}

jv jrn_yaml_parse(const char *text, size_t len, const char *name, const jrn_yaml_opts *o,
		  jv *pos, jrn_err *e)
{
	if (pos)
		*pos = jv_null();
	if (o && o->unset)
		*o->unset = jv_null();
	if (o && o->env)
		*o->env = jv_null();
	yaml_parser_t yp;
	if (!yaml_parser_initialize(&yp)) {
		jrn_fail(e, "%s: out of memory", name);
		return jv_invalid();
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)(text ? text : ""), len);
	parser p = {
		.file = name,
		.what = o && o->what ? o->what : "the file",
		.flags = o ? o->flags : 0,
		.text = text,
		.len = len,
		.e = e,
		.anchors = jv_object(),
		.unset = jv_array(),
		.root = jv_null(),
		.root_pos = jv_null(),
	};
	int rc = parse(&p, &yp);
	yaml_parser_delete(&yp);
	while (p.depth) {
		frame *f = &p.stack[--p.depth];
		jv_free(f->val);
		jv_free(f->kids);
		jv_free(f->order);
		jv_free(f->key);
		free(f->anchor);
	}
	free(p.stack);
	jv_free(p.anchors);
	if (o && (o->unset || o->env))
		split_refs(o, rc < 0 ? jv_null() : jv_copy(p.unset));
	jv_free(p.unset);
	if (rc < 0) {
		jv_free(p.root);
		jv_free(p.root_pos);
		return jv_invalid();
	}
	if (pos)
		*pos = p.root_pos;
	else
		jv_free(p.root_pos);
	return p.root;
}

jv jrn_yaml_load(const char *path, const jrn_yaml_opts *o, jv *pos, jrn_err *e)
{
	jrn_buf text = {0};
	if (pos)
		*pos = jv_null();
	if (o && o->unset)
		*o->unset = jv_null();
	if (o && o->env)
		*o->env = jv_null();
	if (read_file(path, &text, e) < 0) {
		jrn_buf_free(&text);
		return jv_invalid();
	}
	jv v = jrn_yaml_parse(text.p, text.len, path, o, pos, e);
	jrn_buf_free(&text);
	return v;
}
