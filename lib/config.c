/* config.c: the YAML configuration file (see jrn.yaml(5)).
 *
 * The file is read whole, parsed with libyaml's event API into a jv tree
 * (mappings -> objects, sequences -> arrays, plain scalars typed like the
 * YAML 1.2 core schema, quoted and block scalars strings), ${NAME} expanded
 * from the environment in string values, and checked against the schema
 * table below. Beside the value tree the parser builds a position tree of
 * the same shape, so that the checker can say FILE:LINE:COLUMN for any key
 * or value it refuses.
 *
 * The parser keeps its own stack of open mappings and sequences on the heap
 * (no recursion), so nesting depth costs no C stack; MAX_DEPTH only turns an
 * absurd file into a clean error.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "jrn.h"

#define MAX_DEPTH 10000
/* Aliases share values, so a small file can describe a huge tree ("billion
 * laughs"); whoever walks the tree later would pay for every node. */
#define MAX_ALIASED_NODES ((size_t)1 << 24)
#define EXACT_INT 9007199254740992.0 /* 2^53 */

/* ---- the schema ------------------------------------------------------------
 *
 * One table per section; a later tool adds its section by writing a table
 * and changing its S_OBJECT line in top_keys to S_SECTION with .keys. */

enum stype {
	S_ANY,      /* any value at all */
	S_STRING,   /* a string; .check may refine (and normalise) it */
	S_INT,      /* an integer, within [.min, .max] when .max > .min */
	S_NUMBER,   /* any number */
	S_BOOL,     /* true or false */
	S_DURATION, /* "1h30m" (units ms s m h d w), or integer ms in [.min, .max] */
	S_STRINGS,  /* a list of strings */
	S_OBJECT,   /* any mapping: a section a later tool will define */
	S_SECTION,  /* a mapping of the keys in .keys and no others */
	S_LIST,     /* a list of such mappings (one mapping alone is a list of one) */
};

typedef struct skey {
	const char *name;
	enum stype type;
	const struct skey *keys; /* S_SECTION, S_LIST: its keys, ended by END */
	int64_t min, max;        /* S_INT, S_DURATION */
	/* Optional further check of a value of the right type: returns NULL
	 * when it is fine (it may replace *v with a normalised value), or the
	 * description of what was expected. */
	const char *(*check)(jv *v);
} skey;

#define KEY(n, t, ...) {.name = (n), .type = (t), __VA_ARGS__}
#define END {.name = NULL}

static const char *check_country(jv *v);
static const char *check_provider_type(jv *v);
static const char *check_tls(jv *v);

static const skey db_keys[] = {
	KEY("path", S_STRING),
	KEY("busyTimeout", S_DURATION, .min = 0, .max = INT_MAX),
	END,
};

static const skey ingest_keys[] = {
	KEY("defaultCountry", S_STRING, .check = check_country),
	KEY("batchSize", S_INT, .min = 1, .max = 10000000),
	KEY("emailFields", S_STRINGS),
	KEY("phoneFields", S_STRINGS),
	END,
};

static const skey segments_keys[] = {
	KEY("file", S_STRING),
	KEY("definitions", S_OBJECT),
	KEY("drift", S_NUMBER),
	END,
};

static const skey rfm_keys[] = {
	KEY("window", S_DURATION),
	KEY("weights", S_ANY),     /* three numbers: jrn-score checks them */
	KEY("segments", S_ANY),    /* [{name, min}]: jrn-score checks them */
	KEY("method", S_STRING),
	KEY("thresholds", S_OBJECT),
	END,
};

static const skey clv_keys[] = {
	KEY("horizon", S_DURATION),
	KEY("unit", S_DURATION),
	END,
};

static const skey lead_keys[] = {
	KEY("grades", S_OBJECT),
	KEY("behavioral", S_ANY),  /* rules: jrn-score compiles them */
	KEY("demographic", S_ANY),
	KEY("firmographic", S_ANY),
	KEY("halfLife", S_DURATION),
	END,
};

static const skey scoring_keys[] = {
	KEY("rfm", S_SECTION, .keys = rfm_keys),
	KEY("clv", S_SECTION, .keys = clv_keys),
	KEY("lead", S_SECTION, .keys = lead_keys),
	END,
};

/* jrn-send (see jrn-send(1)): one table for every provider type; jrn-send
 * checks which keys a type needs. */
static const skey provider_keys[] = {
	KEY("type", S_STRING, .check = check_provider_type),
	KEY("name", S_STRING),
	KEY("url", S_STRING),
	KEY("tls", S_STRING, .check = check_tls),
	KEY("caFile", S_STRING),
	KEY("username", S_STRING),
	KEY("password", S_STRING),
	KEY("bearer", S_STRING),
	KEY("from", S_STRING),
	KEY("envelopeFrom", S_STRING),
	KEY("rate", S_NUMBER),
	KEY("connections", S_INT, .min = 1, .max = 1024),
	KEY("timeout", S_DURATION, .min = 1, .max = INT_MAX),
	KEY("baseUrl", S_STRING),
	KEY("accountSid", S_STRING),
	KEY("authToken", S_STRING),
	KEY("messagingServiceSid", S_STRING),
	KEY("statusCallback", S_STRING),
	KEY("costPerSegment", S_NUMBER),
	KEY("maxSegments", S_INT, .min = 1, .max = 255),
	KEY("footer", S_STRING),
	KEY("secret", S_STRING),
	KEY("dir", S_STRING),
	KEY("batchSize", S_INT, .min = 1, .max = 1000000),
	END,
};

static const skey providers_keys[] = {
	KEY("email", S_LIST, .keys = provider_keys),
	KEY("sms", S_LIST, .keys = provider_keys),
	KEY("whatsapp", S_LIST, .keys = provider_keys),
	KEY("webhook", S_LIST, .keys = provider_keys),
	KEY("retargeting", S_LIST, .keys = provider_keys),
	END,
};

static const skey unsubscribe_keys[] = {
	KEY("mailto", S_STRING),
	KEY("url", S_STRING),
	KEY("secret", S_STRING),
	END,
};

static const skey retry_keys[] = {
	KEY("backoff", S_ANY), /* a list of durations: jrn-send checks it */
	KEY("jitter", S_NUMBER),
	KEY("maxWait", S_DURATION, .min = 0, .max = INT_MAX),
	END,
};

static const skey send_keys[] = {
	KEY("from", S_STRING),
	KEY("replyTo", S_STRING),
	KEY("unsubscribe", S_SECTION, .keys = unsubscribe_keys),
	KEY("retry", S_SECTION, .keys = retry_keys),
	KEY("spool", S_STRING),
	KEY("parallel", S_INT, .min = 1, .max = 4096),
	KEY("batchSize", S_INT, .min = 1, .max = 1000000),
	KEY("maxSegments", S_INT, .min = 1, .max = 255),
	END,
};

static const skey templates_keys[] = {
	KEY("dir", S_STRING),
	KEY("defaultLocale", S_STRING),
	END,
};

static const skey top_keys[] = {
	KEY("db", S_SECTION, .keys = db_keys),
	KEY("ingest", S_SECTION, .keys = ingest_keys),
	KEY("sources", S_OBJECT),
	KEY("segments", S_SECTION, .keys = segments_keys),
	KEY("scoring", S_SECTION, .keys = scoring_keys),
	KEY("ai", S_OBJECT),
	KEY("journeys", S_OBJECT),
	KEY("policy", S_OBJECT),
	KEY("providers", S_SECTION, .keys = providers_keys),
	KEY("send", S_SECTION, .keys = send_keys),
	KEY("templates", S_SECTION, .keys = templates_keys),
	KEY("report", S_OBJECT),
	END,
};

static const char *check_provider_type(jv *v)
{
	static const char *const types[] = {"smtp", "twilio", "webhook", "retargeting", "spool"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(jv_string_value(*v), types[i]))
			return NULL;
	return "smtp, twilio, webhook, retargeting or spool";
}

static const char *check_tls(jv *v)
{
	const char *s = jv_string_value(*v);
	return !strcmp(s, "required") || !strcmp(s, "try") || !strcmp(s, "none")
		       ? NULL : "required, try or none";
}

/* ISO 3166 alpha-2: two ASCII letters, kept in capitals. */
static const char *check_country(jv *v)
{
	const char *s = jv_string_value(*v);
	char up[3];
	if (jv_string_length_bytes(jv_copy(*v)) != 2)
		return "a two-letter ISO 3166 country code such as US";
	for (int i = 0; i < 2; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return "a two-letter ISO 3166 country code such as US";
		up[i] = c;
	}
	up[2] = '\0';
	jv_free(*v);
	*v = jv_string(up);
	return NULL;
}

/* ---- errors ------------------------------------------------------------- */

/* A position in the file, 0-based as libyaml counts. */
typedef struct {
	size_t line, col;
} at;

static at at_mark(yaml_mark_t m)
{
	return (at){m.line, m.column};
}

/* "FILE:LINE:COLUMN: message", 1-based. Returns -1. */
static int fail_at(jrn_err *e, const char *file, at a, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(jrn_err *e, const char *file, at a, const char *fmt, ...)
{
	char msg[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return jrn_fail(e, "%s:%zu:%zu: %s", file, a.line + 1, a.col + 1, msg);
}

/* ---- reading ------------------------------------------------------------ */

static int read_file(const char *path, jrn_buf *b, jrn_err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return jrn_fail(e, "%s: %s", path, strerror(errno));
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

/* ---- the parser ---------------------------------------------------------- */

/* An open mapping or sequence. */
typedef struct {
	bool map;
	jv val;  /* the object or array being built */
	jv pos;  /* its positions, same shape: entries [kline,kcol,vline,vcol,child] */
	jv key;  /* a mapping's key waiting for its value, or invalid */
	at key_at;
	at start;
	char *anchor; /* to define when the node ends, or NULL */
	size_t nodes; /* nodes within, aliases counted expanded */
} frame;

typedef struct {
	const char *file;
	const jrn_buf *text;
	jrn_err *e;
	frame *stack;
	size_t depth, cap;
	jv anchors; /* name -> [value, nodes] */
	jv root, root_pos;
	at root_at;
	bool have_root;
	size_t aliased; /* nodes reached through aliases, in all */
} parser;

static int fail_oom(parser *p)
{
	return jrn_fail(p->e, "%s: out of memory", p->file);
}

static bool key_expected(const parser *p)
{
	return p->depth && p->stack[p->depth - 1].map &&
	       !jv_is_valid(p->stack[p->depth - 1].key);
}

/* A new position entry: where the key and the value start, and the
 * value's own position tree (null for scalars and aliases). */
static jv pos_entry(at k, at v, jv child)
{
	return JV_ARRAY(jv_number((double)k.line), jv_number((double)k.col),
			jv_number((double)v.line), jv_number((double)v.col), child);
}

static at pos_get(jv ent, int i, at fallback)
{
	if (jv_get_kind(ent) != JV_KIND_ARRAY)
		return fallback;
	jv l = jv_array_get(jv_copy(ent), i), c = jv_array_get(jv_copy(ent), i + 1);
	at a = {(size_t)jv_number_value(l), (size_t)jv_number_value(c)};
	jv_free(l);
	jv_free(c);
	return a;
}

static int define_anchor(parser *p, const char *name, jv v, size_t nodes)
{
	p->anchors = jv_object_set(p->anchors, jv_string(name),
				   JV_ARRAY(v, jv_number((double)nodes)));
	return 0;
}

/* The node that just ended (v, its position tree pos, starting at a) goes
 * into the open container, or becomes the root. Consumes v and pos. */
static int deliver(parser *p, jv v, jv pos, at a, size_t nodes)
{
	if (!p->depth) {
		p->root = v;
		p->root_pos = pos;
		p->root_at = a;
		p->have_root = true;
		return 0;
	}
	frame *f = &p->stack[p->depth - 1];
	f->nodes += nodes;
	if (f->map) {
		jv key = f->key;
		f->key = jv_invalid();
		f->val = jv_object_set(f->val, jv_copy(key), v);
		f->pos = jv_object_set(f->pos, key, pos_entry(f->key_at, a, pos));
	} else {
		f->val = jv_array_append(f->val, v);
		f->pos = jv_array_append(f->pos, pos_entry(a, a, pos));
	}
	return 0;
}

/* A key for the innermost (mapping) frame. Consumes key. */
static int take_key(parser *p, jv key, at a)
{
	frame *f = &p->stack[p->depth - 1];
	if (jv_object_has(jv_copy(f->val), jv_copy(key))) {
		jv first = jv_object_get(jv_copy(f->pos), jv_copy(key));
		at fa = pos_get(first, 0, a);
		jv_free(first);
		fail_at(p->e, p->file, a, "duplicate key '%s' (first at %zu:%zu)",
			jv_string_value(key), fa.line + 1, fa.col + 1);
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
		fail_at(p->e, p->file, at_mark(ev->start_mark), "string too long");
		return jv_invalid();
	}
	if (!memchr(s, '$', n))
		return jv_string_sized(s, (int)n);

	jrn_buf b = {0};
	size_t i = 0, run = 0; /* s[run..i) is literal text not yet copied */
	int oom = 0;
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
			fail_at(p->e, p->file, inner_at(ev, s, n, i),
				"'${' without a closing '}' (write '$${' for a literal '${')");
			goto fail;
		}
		bool ok = end > start && name_start(s[start]);
		for (size_t j = start; ok && j < end; j++)
			ok = name_char(s[j]);
		if (!ok) {
			int len = end - start > 64 ? 64 : (int)(end - start);
			fail_at(p->e, p->file, inner_at(ev, s, n, i),
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
		if (!val) {
			fail_at(p->e, p->file, inner_at(ev, s, n, i),
				"environment variable %s is not set", name);
			free(name);
			goto fail;
		}
		free(name);
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
	if (b.len > INT_MAX) {
		fail_at(p->e, p->file, at_mark(ev->start_mark), "string too long");
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
			fail_at(p->e, p->file, a, "unsupported tag '%s'", tag);
			return jv_invalid();
		}
	} else if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		return expand(p, ev, s, n);
	}

	int cls;
	const char *why;
	jv v = resolve_plain(s, n, &cls, &why);
	if (why) {
		fail_at(p->e, p->file, a, "'%.64s': %s", s, why);
		return jv_invalid();
	}
	if (want) {
		bool ok = !strcmp(want, "null") ? cls == R_NULL
			: !strcmp(want, "bool") ? cls == R_BOOL
			: !strcmp(want, "int")  ? cls == R_INT
			: cls == R_INT || cls == R_FLOAT;
		if (!ok) {
			jv_free(v);
			fail_at(p->e, p->file, a, "'%.64s' is not a valid !!%s", s, want);
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
			return fail_at(p->e, p->file, a,
				       "merge keys ('<<') are not supported; write the keys out");
		if (n > INT_MAX)
			return fail_at(p->e, p->file, a, "key too long");
		jv key = jv_string_sized(s, (int)n);
		if (anchor)
			define_anchor(p, anchor, jv_copy(key), 1);
		return take_key(p, key, a);
	}
	jv v = scalar_value(p, ev);
	if (!jv_is_valid(v))
		return -1;
	if (anchor)
		define_anchor(p, anchor, jv_copy(v), 1);
	return deliver(p, v, jv_null(), a, 1);
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
				return fail_at(p->e, p->file, a,
					       "alias *%s refers to a node that contains it", name);
		return fail_at(p->e, p->file, a, "undefined alias *%s", name);
	}
	jv v = jv_array_get(jv_copy(def), 0);
	jv nv = jv_array_get(def, 1);
	size_t nodes = (size_t)jv_number_value(nv);
	jv_free(nv);

	if (key_expected(p)) {
		if (jv_get_kind(v) != JV_KIND_STRING) {
			jv_free(v);
			return fail_at(p->e, p->file, a, "a mapping key must be a string");
		}
		return take_key(p, v, a);
	}
	p->aliased += nodes;
	if (p->aliased > MAX_ALIASED_NODES) {
		jv_free(v);
		return fail_at(p->e, p->file, a,
			       "aliases expand to more than %zu nodes", MAX_ALIASED_NODES);
	}
	return deliver(p, v, jv_null(), a, nodes);
}

static int on_start(parser *p, const yaml_event_t *ev, bool map)
{
	at a = at_mark(ev->start_mark);
	const char *tag = (const char *)(map ? ev->data.mapping_start.tag
					     : ev->data.sequence_start.tag);
	const char *anchor = (const char *)(map ? ev->data.mapping_start.anchor
						: ev->data.sequence_start.anchor);
	if (key_expected(p))
		return fail_at(p->e, p->file, a, "a mapping key must be a scalar, not a %s",
			       map ? "mapping" : "list");
	if (tag && strcmp(tag, "!") && strcmp(tag, map ? CORE_TAG "map" : CORE_TAG "seq"))
		return fail_at(p->e, p->file, a, "unsupported tag '%s'", tag);
	if (p->depth >= MAX_DEPTH)
		return fail_at(p->e, p->file, a, "nested deeper than %d levels", MAX_DEPTH);
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
		.pos = map ? jv_object() : jv_array(),
		.key = jv_invalid(),
		.start = a,
		.anchor = anchor_copy,
	};
	return 0;
}

static int on_end(parser *p)
{
	frame f = p->stack[--p->depth];
	jv_free(f.key); /* always invalid: libyaml gives every key a value */
	size_t nodes = f.nodes + 1;
	if (f.anchor) {
		define_anchor(p, f.anchor, jv_copy(f.val), nodes);
		free(f.anchor);
	}
	return deliver(p, f.val, f.pos, f.start, nodes);
}

/* libyaml's own error, as FILE:LINE:COLUMN. */
static int syntax_error(parser *p, const yaml_parser_t *yp)
{
	const char *problem = yp->problem ? yp->problem : "syntax error";
	if (yp->error == YAML_MEMORY_ERROR)
		return fail_oom(p);
	if (yp->error == YAML_READER_ERROR) {
		/* No mark: count lines and characters up to the byte offset. */
		const char *s = p->text->p ? p->text->p : "";
		size_t off = yp->problem_offset < p->text->len ? yp->problem_offset : p->text->len;
		at a = {0, 0};
		size_t bol = 0;
		for (size_t i = 0; i < off; i++)
			if (s[i] == '\n')
				a.line++, bol = i + 1;
		a.col = utf8_chars(s + bol, off - bol);
		if (yp->problem_value != -1)
			return fail_at(p->e, p->file, a, "%s (byte 0x%02X)", problem,
				       (unsigned)yp->problem_value & 0xFFu);
		return fail_at(p->e, p->file, a, "%s", problem);
	}
	if (yp->context)
		return fail_at(p->e, p->file, at_mark(yp->problem_mark), "%s (%s at %zu:%zu)",
			       problem, yp->context, yp->context_mark.line + 1,
			       yp->context_mark.column + 1);
	return fail_at(p->e, p->file, at_mark(yp->problem_mark), "%s", problem);
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
				rc = fail_at(p->e, p->file, at_mark(ev.start_mark),
					     "a second YAML document: the configuration is one document");
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

/* ---- the checker ----------------------------------------------------------- */

typedef struct {
	const char *file;
	jrn_err *e;
	jrn_buf path; /* "db.busyTimeout", "ingest.emailFields[1]" */
} checker;

static const char *kind_name(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL: return "null";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE: return "a boolean";
	case JV_KIND_NUMBER: return "a number";
	case JV_KIND_STRING: return "a string";
	case JV_KIND_ARRAY: return "a list";
	case JV_KIND_OBJECT: return "a mapping";
	default: return "nothing";
	}
}

static const char *expected(const skey *k)
{
	switch (k->type) {
	case S_STRING: return "a string";
	case S_INT: return "an integer";
	case S_NUMBER: return "a number";
	case S_BOOL: return "a boolean (true or false)";
	case S_DURATION: return "a duration (like 5s or 1h30m) or an integer of milliseconds";
	case S_STRINGS: return "a list of strings";
	case S_OBJECT:
	case S_SECTION: return "a mapping";
	case S_LIST: return "a list of mappings";
	default: return "anything";
	}
}

static int type_error(checker *c, at a, const skey *k, jv v, const char *hint)
{
	return fail_at(c->e, c->file, a, "%s: expected %s, got %s%s", c->path.p,
		       expected(k), kind_name(v), hint ? hint : "");
}

static bool is_exact_int(double d)
{
	return d >= -EXACT_INT && d <= EXACT_INT && d == (double)(int64_t)d;
}

/* NUMBER UNIT pairs, one or more: "90d", "1h30m", "250ms" (whole numbers,
 * units ms s m h d w, at most 2^63 - 1 ms), as jrn_duration_parse takes. */
static bool duration_ok(const char *s)
{
	int64_t total = 0;
	if (!*s)
		return false;
	while (*s) {
		int64_t n = 0, scale;
		if (*s < '0' || *s > '9')
			return false;
		for (; *s >= '0' && *s <= '9'; s++)
			if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, *s - '0', &n))
				return false;
		if (s[0] == 'm' && s[1] == 's')
			scale = 1, s += 2;
		else if (*s == 's')
			scale = 1000, s++;
		else if (*s == 'm')
			scale = 60000, s++;
		else if (*s == 'h')
			scale = 3600000, s++;
		else if (*s == 'd')
			scale = 86400000, s++;
		else if (*s == 'w')
			scale = 604800000, s++;
		else
			return false;
		if (__builtin_mul_overflow(n, scale, &n) || __builtin_add_overflow(total, n, &total))
			return false;
	}
	return true;
}

static int in_range(checker *c, at a, const skey *k, double d)
{
	if (k->max > k->min && (d < (double)k->min || d > (double)k->max))
		return fail_at(c->e, c->file, a, "%s: expected %s from %lld to %lld, got %.17g",
			       c->path.p, k->type == S_DURATION ? "milliseconds" : "an integer",
			       (long long)k->min, (long long)k->max, d);
	return 0;
}

static int check_section(checker *c, jv *obj, jv pos, const skey *keys, at where);
static int check_list(checker *c, jv *v, jv pos, const skey *k, at a);

/* Checks *v (a value at c->path, starting at a, with position tree pos,
 * borrowed) against k; may normalise *v. */
static int check_value(checker *c, jv *v, jv pos, const skey *k, at a)
{
	jv_kind kind = jv_get_kind(*v);
	switch (k->type) {
	case S_ANY:
		return 0;
	case S_OBJECT:
	case S_SECTION:
		if (kind == JV_KIND_NULL) { /* a section with every key commented out */
			jv_free(*v);
			*v = jv_object();
			return 0;
		}
		if (kind != JV_KIND_OBJECT)
			return type_error(c, a, k, *v, NULL);
		return k->type == S_SECTION ? check_section(c, v, pos, k->keys, a) : 0;
	case S_STRING:
		if (kind != JV_KIND_STRING)
			return type_error(c, a, k, *v, NULL);
		break;
	case S_INT:
		if (kind != JV_KIND_NUMBER || !is_exact_int(jv_number_value(*v)))
			return type_error(c, a, k, *v,
					  kind == JV_KIND_NUMBER ? " with a fraction" : NULL);
		if (in_range(c, a, k, jv_number_value(*v)) < 0)
			return -1;
		break;
	case S_NUMBER:
		if (kind != JV_KIND_NUMBER)
			return type_error(c, a, k, *v, NULL);
		break;
	case S_BOOL:
		if (kind != JV_KIND_TRUE && kind != JV_KIND_FALSE) {
			const char *s = kind == JV_KIND_STRING ? jv_string_value(*v) : "";
			bool yn = !strcasecmp(s, "yes") || !strcasecmp(s, "no") ||
				  !strcasecmp(s, "on") || !strcasecmp(s, "off") ||
				  !strcasecmp(s, "y") || !strcasecmp(s, "n");
			return type_error(c, a, k, *v, yn ? " (YAML 1.2: write true or false)" : NULL);
		}
		break;
	case S_DURATION:
		if (kind == JV_KIND_NUMBER) {
			if (!is_exact_int(jv_number_value(*v)))
				return type_error(c, a, k, *v, " with a fraction");
			if (in_range(c, a, k, jv_number_value(*v)) < 0)
				return -1;
		} else if (kind == JV_KIND_STRING) {
			if (!duration_ok(jv_string_value(*v)))
				return fail_at(c->e, c->file, a,
					       "%s: expected %s, got '%.64s' (units: ms s m h d w)",
					       c->path.p, expected(k), jv_string_value(*v));
		} else {
			return type_error(c, a, k, *v, NULL);
		}
		break;
	case S_LIST: {
		if (kind == JV_KIND_OBJECT) { /* one mapping: a list of one */
			*v = jv_array_append(jv_array(), *v);
			jv list_pos = jv_array_append(jv_array(), pos_entry(a, a, jv_copy(pos)));
			int rc = check_list(c, v, list_pos, k, a);
			jv_free(list_pos);
			return rc;
		}
		if (kind != JV_KIND_ARRAY)
			return type_error(c, a, k, *v, NULL);
		return check_list(c, v, pos, k, a);
	}
	case S_STRINGS: {
		if (kind != JV_KIND_ARRAY)
			return type_error(c, a, k, *v, NULL);
		int n = jv_array_length(jv_copy(*v));
		for (int i = 0; i < n; i++) {
			jv item = jv_array_get(jv_copy(*v), i);
			const char *got = kind_name(item);
			jv_kind ik = jv_get_kind(item);
			jv_free(item);
			if (ik == JV_KIND_STRING)
				continue;
			jv ent = jv_get_kind(pos) == JV_KIND_ARRAY ? jv_array_get(jv_copy(pos), i)
								   : jv_null();
			at ia = pos_get(ent, 2, a);
			jv_free(ent);
			size_t len = c->path.len;
			if (jrn_buf_addf(&c->path, "[%d]", i) < 0)
				return jrn_fail(c->e, "%s: out of memory", c->file);
			int rc = fail_at(c->e, c->file, ia, "%s: expected a string, got %s",
					 c->path.p, got);
			c->path.len = len;
			c->path.p[len] = '\0';
			return rc;
		}
		return 0;
	}
	}
	if (k->check) {
		const char *want = k->check(v);
		if (want) {
			if (jv_get_kind(*v) == JV_KIND_STRING)
				return fail_at(c->e, c->file, a, "%s: expected %s, got '%.64s'",
					       c->path.p, want, jv_string_value(*v));
			return fail_at(c->e, c->file, a, "%s: expected %s, got %s", c->path.p,
				       want, kind_name(*v));
		}
	}
	return 0;
}

/* Checks each item of the list *v (position tree pos, borrowed) as a
 * section of k->keys; "providers.email[1].url" in messages. */
static int check_list(checker *c, jv *v, jv pos, const skey *k, at a)
{
	int n = jv_array_length(jv_copy(*v));
	for (int i = 0; i < n; i++) {
		jv item = jv_array_get(jv_copy(*v), i);
		jv ent = jv_get_kind(pos) == JV_KIND_ARRAY ? jv_array_get(jv_copy(pos), i) : jv_null();
		jv child = jv_get_kind(ent) == JV_KIND_ARRAY ? jv_array_get(jv_copy(ent), 4) : jv_null();
		at ia = pos_get(ent, 2, a);
		size_t len = c->path.len;
		int rc;
		if (jrn_buf_addf(&c->path, "[%d]", i) < 0)
			rc = jrn_fail(c->e, "%s: out of memory", c->file);
		else if (jv_get_kind(item) != JV_KIND_OBJECT)
			rc = fail_at(c->e, c->file, ia, "%s: expected a mapping, got %s", c->path.p,
				     kind_name(item));
		else
			rc = check_section(c, &item, child, k->keys, ia);
		c->path.len = len;
		if (c->path.p)
			c->path.p[len] = '\0';
		jv_free(ent);
		jv_free(child);
		if (rc < 0) {
			jv_free(item);
			return -1;
		}
		*v = jv_array_set(*v, i, item);
	}
	return 0;
}

/* Levenshtein distance, ignoring ASCII case; b is a schema key (short). */
static size_t distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[64], i, j;
	if (lb >= sizeof row / sizeof row[0])
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			char x = a[i - 1], y = b[j - 1];
			if (x >= 'A' && x <= 'Z')
				x = (char)(x - 'A' + 'a');
			if (y >= 'A' && y <= 'Z')
				y = (char)(y - 'A' + 'a');
			size_t best = diag + (x != y);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = row[j];
			row[j] = best;
		}
	}
	return row[lb];
}

/* The known key closest to s, if it is close enough to be a typo. */
static const char *suggest(const char *s, size_t n, const skey *keys)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (const skey *k = keys; k->name; k++) {
		size_t kl = strlen(k->name);
		size_t limit = kl / 3 > 1 ? kl / 3 : 1;
		if ((n > kl ? n - kl : kl - n) > limit)
			continue;
		size_t d = distance(s, n, k->name, kl);
		if (d <= limit && d < best_d)
			best = k->name, best_d = d;
	}
	return best;
}

/* Checks the keys of the mapping *obj (whose position tree is pos, borrowed,
 * and which starts at where) against keys. */
static int check_section(checker *c, jv *obj, jv pos, const skey *keys, at where)
{
	jv snap = jv_copy(*obj);
	int rc = 0;
	for (int it = jv_object_iter(snap); rc == 0 && jv_object_iter_valid(snap, it);
	     it = jv_object_iter_next(snap, it)) {
		jv key = jv_object_iter_key(snap, it);
		const char *name = jv_string_value(key);
		size_t nlen = (size_t)jv_string_length_bytes(jv_copy(key));
		jv ent = jv_get_kind(pos) == JV_KIND_OBJECT
				 ? jv_object_get(jv_copy(pos), jv_copy(key))
				 : jv_null();
		const skey *k = keys;
		while (k->name && strcmp(k->name, name))
			k++;
		if (!k->name || strlen(name) != nlen) {
			const char *near = suggest(name, nlen, keys);
			char hint[128] = "";
			if (near)
				snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
			if (c->path.len)
				rc = fail_at(c->e, c->file, pos_get(ent, 0, where),
					     "unknown key '%.64s' in %s%s", name, c->path.p, hint);
			else
				rc = fail_at(c->e, c->file, pos_get(ent, 0, where),
					     "unknown key '%.64s' at the top level%s", name, hint);
		} else {
			size_t len = c->path.len;
			if ((len && jrn_buf_addc(&c->path, '.') < 0) ||
			    jrn_buf_adds(&c->path, name) < 0) {
				rc = jrn_fail(c->e, "%s: out of memory", c->file);
			} else {
				jv v = jv_object_iter_value(snap, it);
				jv child = jv_get_kind(ent) == JV_KIND_ARRAY ? jv_array_get(jv_copy(ent), 4)
									     : jv_null();
				rc = check_value(c, &v, child, k, pos_get(ent, 2, where));
				jv_free(child);
				if (rc == 0)
					*obj = jv_object_set(*obj, jv_copy(key), v);
				else
					jv_free(v);
			}
			c->path.len = len;
			if (c->path.p)
				c->path.p[len] = '\0';
		}
		jv_free(ent);
		jv_free(key);
	}
	jv_free(snap);
	return rc;
}

/* ---- the interface ------------------------------------------------------ */

jv jrn_config_load(const char *path, jrn_err *e)
{
	jrn_buf text = {0};
	if (read_file(path, &text, e) < 0) {
		jrn_buf_free(&text);
		return jv_invalid();
	}
	yaml_parser_t yp;
	if (!yaml_parser_initialize(&yp)) {
		jrn_buf_free(&text);
		jrn_fail(e, "%s: out of memory", path);
		return jv_invalid();
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)(text.p ? text.p : ""),
				     text.len);
	parser p = {
		.file = path,
		.text = &text,
		.e = e,
		.anchors = jv_object(),
		.root = jv_null(),
		.root_pos = jv_null(),
	};
	int rc = parse(&p, &yp);
	yaml_parser_delete(&yp);
	while (p.depth) {
		frame *f = &p.stack[--p.depth];
		jv_free(f->val);
		jv_free(f->pos);
		jv_free(f->key);
		free(f->anchor);
	}
	free(p.stack);
	jv_free(p.anchors);

	jv cfg = p.root;
	if (rc == 0) {
		if (jv_get_kind(cfg) == JV_KIND_NULL) { /* empty file, or comments only */
			jv_free(cfg);
			cfg = jv_object();
		} else if (jv_get_kind(cfg) != JV_KIND_OBJECT) {
			rc = fail_at(e, path, p.root_at,
				     "the top level must be a mapping of sections (db:, ingest:, ...), got %s",
				     kind_name(cfg));
		}
	}
	if (rc == 0) {
		checker c = {.file = path, .e = e};
		if (jrn_buf_adds(&c.path, "") < 0)
			rc = jrn_fail(e, "%s: out of memory", path);
		else
			rc = check_section(&c, &cfg, p.root_pos, top_keys, p.root_at);
		jrn_buf_free(&c.path);
	}
	jv_free(p.root_pos);
	jrn_buf_free(&text);
	if (rc < 0) {
		jv_free(cfg);
		return jv_invalid();
	}
	return cfg;
}

jv jrn_config_get(jv cfg, const char *dotted)
{
	if (!dotted)
		return jv_invalid();
	jv cur = jv_copy(cfg);
	for (const char *s = dotted;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (jv_get_kind(cur) != JV_KIND_OBJECT || n > INT_MAX) {
			jv_free(cur);
			return jv_invalid();
		}
		cur = jv_object_get(cur, jv_string_sized(s, (int)n));
		if (!jv_is_valid(cur) || !dot)
			return cur;
		s = dot + 1;
	}
}

int jrn_config_duration(jv cfg, const char *dotted, int64_t *ms, jrn_err *e)
{
	jv v = jrn_config_get(cfg, dotted);
	int rc = 1;
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		rc = 0;
	} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d < 0 || d != (double)(int64_t)d)
			rc = jrn_fail(e, "expected a duration such as 90d or whole milliseconds");
		else
			*ms = (int64_t)d;
	} else if (jv_get_kind(v) == JV_KIND_STRING) {
		if (jrn_duration_parse(jv_string_value(v), ms, e) < 0)
			rc = -1;
	} else {
		rc = jrn_fail(e, "expected a duration such as 90d, not %s", jv_kind_name(jv_get_kind(v)));
	}
	jv_free(v);
	return rc;
}
