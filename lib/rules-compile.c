/* rules-compile.c: segment definitions into nodes (see rules.h and
 * jrn-segment(1)).
 *
 * Definitions are read by the one YAML reader (yaml.c) into a jv tree with
 * a position tree beside it (so errors can say FILE:LINE), then compiled
 * into nodes: dotted paths are split into jv keys once, values are checked
 * against their operator once, relative times resolved once (durations by
 * jrn_duration_parse), regexes and jq programs compiled once.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules-int.h"
#include "yaml.h"

const char *const jrn_rules_op_names[NOPS] = {
	[OP_EQUALS] = "equals",
	[OP_NOT_EQUALS] = "not_equals",
	[OP_CONTAINS] = "contains",
	[OP_NOT_CONTAINS] = "not_contains",
	[OP_GREATER_THAN] = "greater_than",
	[OP_LESS_THAN] = "less_than",
	[OP_GTE] = "gte",
	[OP_LTE] = "lte",
	[OP_BETWEEN] = "between",
	[OP_IN] = "in",
	[OP_NOT_IN] = "not_in",
	[OP_IS_SET] = "is_set",
	[OP_IS_NOT_SET] = "is_not_set",
	[OP_STARTS_WITH] = "starts_with",
	[OP_MATCHES] = "matches",
};

/* ---- positions (yaml.h): borrowed in, owned out --------------------------- */

static int pos_line(jv pos)
{
	return jrn_yaml_pos_at(pos).line;
}

static jv pos_key(jv pos, jv key /* borrowed */)
{
	return jrn_yaml_pos_value(pos, key);
}

static jv pos_idx(jv pos, int i)
{
	return jrn_yaml_pos_item(pos, i);
}

/* The line of key (borrowed) in the mapping at pos, or 0. */
static int pos_key_line(jv pos, jv key)
{
	return jrn_yaml_pos_key_at(pos, key).line;
}

/* The keys of obj (borrowed) in document order when pos knows it, else
 * sorted. */
static jv keys_in_order(jv obj, jv pos)
{
	jv keys = jrn_yaml_pos_keys(pos);
	if (jv_is_valid(keys))
		return keys;
	jv_free(keys);
	return jv_keys(jv_copy(obj));
}

/* ---- compiling --------------------------------------------------------------- */

typedef struct {
	jrn_rules *r;
	const char *seg;
	int rule_no;
	int line;  /* of the node in hand */
	jrn_err *e;
	bool in_event; /* compiling a where clause */
} cctx;

static int cfail(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(cctx *c, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char where[64] = "";
	if (c->rule_no > 0)
		snprintf(where, sizeof where, ", rule %d", c->rule_no);
	if (c->line > 0)
		return jrn_fail(c->e, "%s:%d: segment '%s'%s: %s", c->r->file ? c->r->file : "rules",
				c->line, c->seg, where, msg);
	if (c->r->file)
		return jrn_fail(c->e, "%s: segment '%s'%s: %s", c->r->file, c->seg, where, msg);
	return jrn_fail(c->e, "segment '%s'%s: %s", c->seg, where, msg);
}

static void node_free(node *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->nkid; i++)
		node_free(n->kid[i]);
	free(n->kid);
	free(n->field);
	for (int i = 0; i < n->npath; i++)
		jv_free(n->path[i]);
	free(n->path);
	free(n->idx);
	for (int i = 0; n->ckeys && i < n->npath; i++)
		free(n->ckeys[i]);
	free(n->ckeys);
	jv_free(n->value);
	if (n->has_re)
		regfree(&n->re);
	free(n->text);
	if (n->jq)
		jq_teardown(&n->jq);
	free(n->etype);
	free(n);
}

static node *node_new(enum kind k, int line)
{
	node *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->kind = k;
	n->line = line;
	n->value = jv_null();
	return n;
}

static int add_kid(node *n, node *k)
{
	node **p = realloc(n->kid, (size_t)(n->nkid + 1) * sizeof *p);
	if (!p)
		return -1;
	n->kid = p;
	n->kid[n->nkid++] = k;
	return 0;
}

/* v's kind for a message ("got a mapping"): definitions speak YAML. */
static const char *kind_name(jv v)
{
	return jrn_kind_phrase(jv_get_kind(v), true);
}

/* "30d ago", "in 2h", "now", or an RFC 3339 time / date: 1 and *ms, or 0. */
static int time_value(const char *s, int64_t now, int64_t *ms)
{
	size_t n = strlen(s);
	int64_t d;
	if (!strcmp(s, "now")) {
		*ms = now;
		return 1;
	}
	if (n > 4 && !strcmp(s + n - 4, " ago")) {
		char buf[64];
		if (n - 4 >= sizeof buf)
			return 0;
		memcpy(buf, s, n - 4);
		buf[n - 4] = '\0';
		if (jrn_duration_parse(buf, &d, NULL) < 0)
			return 0;
		*ms = jrn_rules_minus(now, d);
		return 1;
	}
	if (n > 3 && !strncmp(s, "in ", 3)) {
		if (jrn_duration_parse(s + 3, &d, NULL) < 0)
			return 0;
		*ms = jrn_rules_plus(now, d);
		return 1;
	}
	return jrn_time_parse(s, n, JRN_TIME_DATE_OK, ms, NULL) == 0;
}

/* A comparison value: a number, or a time. Sets *x and the node's vtype
 * (which must agree with a type already set). 0 or -1. */
static int cmp_value(cctx *c, node *n, jv v, double *x)
{
	int t;
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		t = V_NUMBER;
		*x = jv_number_value(v);
	} else if (jv_get_kind(v) == JV_KIND_STRING) {
		int64_t ms;
		if (!time_value(jv_string_value(v), c->r->now, &ms))
			return cfail(c, "%s needs a number or a time (\"30d ago\", RFC 3339), got '%s'",
				     jrn_rules_op_names[n->op], jv_string_value(v));
		t = V_TIME;
		*x = (double)ms;
	} else {
		return cfail(c, "%s needs a number or a time, got %s", jrn_rules_op_names[n->op], kind_name(v));
	}
	if (n->vtype && n->vtype != t)
		return cfail(c, "%s needs two numbers or two times", jrn_rules_op_names[n->op]);
	n->vtype = t;
	return 0;
}

static int split_path(cctx *c, node *n, const char *field)
{
	if (!*field)
		return cfail(c, "empty field");
	n->field = strdup(field);
	if (!n->field)
		return cfail(c, "out of memory");
	int parts = 1;
	for (const char *p = field; *p; p++)
		parts += *p == '.';
	n->path = calloc((size_t)parts, sizeof *n->path);
	n->idx = calloc((size_t)parts, sizeof *n->idx);
	n->ckeys = calloc((size_t)parts, sizeof *n->ckeys);
	if (!n->path || !n->idx || !n->ckeys)
		return cfail(c, "out of memory");
	const char *s = field;
	for (int i = 0; i < parts; i++) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		if (len == 0)
			return cfail(c, "field '%s': empty part", field);
		n->path[i] = jv_string_sized(s, (int)len);
		n->npath++;
		if (!(n->ckeys[i] = strndup(s, len)))
			return cfail(c, "out of memory");
		n->idx[i] = -1;
		if (len < 9) {
			int k = 0;
			size_t j = 0;
			for (; j < len && isdigit((unsigned char)s[j]); j++)
				k = k * 10 + (s[j] - '0');
			if (j == len)
				n->idx[i] = k;
		}
		s = dot ? dot + 1 : s + len;
	}
	return 0;
}

/* How much work regcomp may be given. glibc's regcomp expands counted
 * repetitions ({m,n} becomes n copies, a+ two), so that 30 bytes,
 * ((a{1,100}){1,100}){1,100}, take seconds and a gigabyte to compile; a
 * pattern is refused before compiling when it is longer than
 * JRN_RULE_RE_MAX_LEN bytes, holds a count above JRN_RULE_RE_MAX_COUNT, or
 * when its elements (a character, a bracket expression, ...), each counted
 * as many times as the counts around it multiply, pass
 * JRN_RULE_RE_MAX_SIZE. Within these, regcomp takes well under a second
 * (see jrn-segment(1), "Limits"). */
#define JRN_RULE_RE_MAX_LEN 4096
#define JRN_RULE_RE_MAX_COUNT 1000
#define JRN_RULE_RE_MAX_SIZE 4096

/* A counted repetition at s[i] ('{' then digits, optionally ',' and
 * digits, then '}'): its larger count (the smaller plus one for {m,}) in
 * *k and the index past it in *end; false when s[i] does not start one
 * (regcomp judges what it is). Counts stop growing past 10^8. */
static bool re_count(const char *s, size_t n, size_t i, long *k, size_t *end)
{
	long m = 0, hi = -1;
	size_t j = i + 1;
	/* glibc also reads {,n} as {0,n} */
	if (j >= n || !(isdigit((unsigned char)s[j]) || s[j] == ','))
		return false;
	for (; j < n && isdigit((unsigned char)s[j]); j++)
		m = m < 100000000 ? m * 10 + (s[j] - '0') : m;
	if (j < n && s[j] == ',') {
		j++;
		if (j < n && isdigit((unsigned char)s[j])) {
			hi = 0;
			for (; j < n && isdigit((unsigned char)s[j]); j++)
				hi = hi < 100000000 ? hi * 10 + (s[j] - '0') : hi;
		} else {
			hi = m + 1;
		}
	}
	if (j >= n || s[j] != '}')
		return false;
	*k = hi > m ? hi : m;
	*end = j + 1;
	return true;
}

/* The index past the bracket expression that opens at s[i] ('['), or n. */
static size_t re_bracket(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j < n && s[j] == '^')
		j++;
	if (j < n && s[j] == ']')
		j++;
	for (; j < n && s[j] != ']'; j++) {
		if (s[j] == '[' && j + 1 < n && (s[j + 1] == ':' || s[j + 1] == '=' || s[j + 1] == '.')) {
			char close = s[j + 1];
			size_t k = j + 2;
			while (k + 1 < n && !(s[k] == close && s[k + 1] == ']'))
				k++;
			j = k + 1 < n ? k + 1 : n - 1;
		}
	}
	return j < n ? j + 1 : n;
}

/* Checks pattern s[0..n) (a POSIX extended regular expression) against
 * the bounds above before regcomp sees it. 0, or -1 with e via cfail. */
static int re_check(cctx *c, const char *s, size_t n)
{
	if (n > JRN_RULE_RE_MAX_LEN)
		return cfail(c, "matches: pattern longer than %d bytes (the limit)",
			     JRN_RULE_RE_MAX_LEN);
	if (memchr(s, '\0', n))
		return cfail(c, "matches: the pattern holds a NUL character");
	/* Per open group: the expanded size of its elements so far, and of
	 * its last element (what a count multiplies). Groups nest at most
	 * n deep; the top level is frame 0. */
	enum { DEPTH = 256 };
	long total[DEPTH], last[DEPTH];
	int d = 0;
	total[0] = last[0] = 0;
	for (size_t i = 0; i < n;) {
		char ch = s[i];
		long k;
		size_t end;
		if (ch == '(') {
			if (d + 1 == DEPTH)
				return cfail(c, "matches: groups nested deeper than %d (the limit)", DEPTH - 1);
			d++;
			total[d] = last[d] = 0;
			i++;
			continue;
		}
		if (ch == ')' && d > 0) {
			long g = total[d] > 0 ? total[d] : 1;
			d--;
			total[d] += g;
			last[d] = g;
			i++;
		} else if (ch == '{' && re_count(s, n, i, &k, &end)) {
			if (k > JRN_RULE_RE_MAX_COUNT)
				return cfail(c, "matches: count %ld in a repetition {...} is above %d (the limit)",
					     k, JRN_RULE_RE_MAX_COUNT);
			/* the last element now stands k times: k - 1 more */
			long more = last[d] * (k > 0 ? k - 1 : 0);
			total[d] += more;
			last[d] += more;
			i = end;
		} else if (ch == '[') {
			i = re_bracket(s, n, i);
			total[d]++;
			last[d] = 1;
		} else if (ch == '+') {
			/* glibc writes a+ as aa*: the last element twice, so
			 * that a stacked a++++ doubles it each time */
			total[d] += last[d];
			last[d] *= 2;
			i++;
		} else {
			i += ch == '\\' && i + 1 < n ? 2 : 1;
			if (ch == '*' || ch == '?' || ch == '|')
				continue;
			total[d]++;
			last[d] = 1;
		}
		if (total[d] > JRN_RULE_RE_MAX_SIZE)
			return cfail(c, "matches: counted repetitions expand the pattern to more than "
				     "%d elements (the limit)", JRN_RULE_RE_MAX_SIZE);
	}
	return 0;
}

/* Short names users bring from other rule languages (MongoDB, JSON Logic,
 * Django): each the same operator as its long name. */
static const struct {
	const char *name;
	int op;
} op_aliases[] = {
	{"eq", OP_EQUALS},
	{"ne", OP_NOT_EQUALS},
	{"gt", OP_GREATER_THAN},
	{"lt", OP_LESS_THAN},
};

/* The operator called name (a long name or an alias), or -1. */
static int find_op(const char *name)
{
	for (int i = 0; i < NOPS; i++)
		if (!strcmp(jrn_rules_op_names[i], name))
			return i;
	for (size_t i = 0; i < sizeof op_aliases / sizeof op_aliases[0]; i++)
		if (!strcmp(op_aliases[i].name, name))
			return op_aliases[i].op;
	return -1;
}

/* Edit distance of a and b, ignoring ASCII case (short names only). */
static size_t op_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[32];
	if (la >= 32 || lb >= 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
					      tolower((unsigned char)b[j - 1]));
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

/* The operator name (long) nearest to name, if near enough to be a typo
 * ("greater_then", "Equals", "not_equal") or its start ("greater"), or
 * NULL. */
static const char *op_suggest(const char *name)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (int i = 0; i < NOPS; i++) {
		const char *k = jrn_rules_op_names[i];
		if (strlen(name) >= 4 && !strncasecmp(k, name, strlen(name)))
			return k;
		size_t limit = strlen(k) / 4 > 1 ? strlen(k) / 4 : 1;
		size_t d = op_distance(name, k);
		if (d <= limit && d < best_d)
			best = k, best_d = d;
	}
	return best;
}

/* "unknown operator 'x'" with a suggestion or the list of operators; for
 * cfail's "%s". */
static const char *op_unknown(char *buf, size_t n, const char *name)
{
	const char *near = op_suggest(name);
	if (near)
		snprintf(buf, n, "unknown operator '%.64s' (did you mean '%s'?)", name, near);
	else
		snprintf(buf, n, "unknown operator '%.64s' (operators: equals (eq), not_equals (ne), "
			 "contains, not_contains, greater_than (gt), less_than (lt), gte, lte, between, "
			 "in, not_in, is_set, is_not_set, starts_with, matches)", name);
	return buf;
}

/* A leaf {field, op, value}: field and op given, value consumed (invalid
 * when absent). */
static node *compile_leaf(cctx *c, const char *field, const char *opname, jv value)
{
	node *n = node_new(N_FIELD, c->line);
	if (!n) {
		jv_free(value);
		cfail(c, "out of memory");
		return NULL;
	}
	n->rule_no = c->rule_no;
	int op = find_op(opname);
	if (op < 0) {
		char msg[512];
		jv_free(value);
		cfail(c, "%s", op_unknown(msg, sizeof msg, opname));
		goto fail;
	}
	n->op = op;
	if (split_path(c, n, field) < 0) {
		jv_free(value);
		goto fail;
	}
	bool has = jv_is_valid(value);
	jv_free(n->value);
	n->value = has ? value : jv_null();
	jv v = n->value;
	if (!has && op != OP_IS_SET && op != OP_IS_NOT_SET) {
		cfail(c, "%s needs a value", jrn_rules_op_names[op]);
		goto fail;
	}
	switch (op) {
	case OP_EQUALS:
	case OP_NOT_EQUALS:
	case OP_CONTAINS:
	case OP_NOT_CONTAINS:
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			cfail(c, "%s needs a string, number, boolean or null, got %s", jrn_rules_op_names[op],
			      kind_name(v));
			goto fail;
		}
		break;
	case OP_GREATER_THAN:
	case OP_LESS_THAN:
	case OP_GTE:
	case OP_LTE:
		if (cmp_value(c, n, v, &n->lo) < 0)
			goto fail;
		break;
	case OP_BETWEEN: {
		if (jv_get_kind(v) != JV_KIND_ARRAY || jv_array_length(jv_copy(v)) != 2) {
			cfail(c, "between needs [LOW, HIGH], got %s", kind_name(v));
			goto fail;
		}
		jv a = jv_array_get(jv_copy(v), 0), b = jv_array_get(jv_copy(v), 1);
		int rc = cmp_value(c, n, a, &n->lo);
		if (rc == 0)
			rc = cmp_value(c, n, b, &n->hi);
		jv_free(a);
		jv_free(b);
		if (rc < 0)
			goto fail;
		if (n->lo > n->hi) {
			cfail(c, "between: LOW is above HIGH");
			goto fail;
		}
		break;
	}
	case OP_IN:
	case OP_NOT_IN:
		if (jv_get_kind(v) != JV_KIND_ARRAY) {
			cfail(c, "%s needs a list, got %s", jrn_rules_op_names[op], kind_name(v));
			goto fail;
		}
		break;
	case OP_IS_SET:
	case OP_IS_NOT_SET:
		break;
	case OP_STARTS_WITH:
	case OP_MATCHES:
		if (jv_get_kind(v) != JV_KIND_STRING) {
			cfail(c, "%s needs a string, got %s", jrn_rules_op_names[op], kind_name(v));
			goto fail;
		}
		if (op == OP_MATCHES) {
			if (re_check(c, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v))) < 0)
				goto fail;
			int rc = regcomp(&n->re, jv_string_value(v), REG_EXTENDED | REG_NOSUB);
			if (rc != 0) {
				char msg[256];
				regerror(rc, &n->re, msg, sizeof msg);
				cfail(c, "bad regular expression '%s': %s", jv_string_value(v), msg);
				goto fail;
			}
			n->has_re = true;
		}
		break;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

static void jq_err_cb(void *data, jv msg)
{
	jrn_buf *b = data;
	if (b->len == 0) {
		/* the first message, on one line */
		const char *s = jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "error";
		for (; *s; s++)
			jrn_buf_addc(b, *s == '\n' || *s == '\t' ? ' ' : *s);
		while (b->len > 0 && b->p[b->len - 1] == ' ')
			b->p[--b->len] = '\0';
	}
	jv_free(msg);
}

static node *compile_jq(cctx *c, jv expr)
{
	if (jv_get_kind(expr) != JV_KIND_STRING) {
		cfail(c, "jq needs an expression (a string), got %s", kind_name(expr));
		jv_free(expr);
		return NULL;
	}
	node *n = node_new(N_JQ, c->line);
	if (!n || !(n->text = strdup(jv_string_value(expr))) || !(n->jq = jq_init())) {
		jv_free(expr);
		node_free(n);
		cfail(c, "out of memory");
		return NULL;
	}
	jv_free(expr);
	n->rule_no = c->rule_no;
	jrn_buf_reset(&c->r->jqmsg);
	jq_set_error_cb(n->jq, jq_err_cb, &c->r->jqmsg);
	if (!jq_compile(n->jq, n->text)) {
		cfail(c, "jq expression '%s' does not compile: %s", n->text,
		      c->r->jqmsg.p ? c->r->jqmsg.p : "error");
		node_free(n);
		return NULL;
	}
	return n;
}

static node *compile_node(cctx *c, jv v, jv pos, int depth);

static bool is_key(jv k, const char *name)
{
	return !strcmp(jv_string_value(k), name);
}

/* {event: TYPE, where, count, within} or {not_event: ...}; v borrowed. */
static node *compile_event(cctx *c, jv v, jv pos, int depth)
{
	node *n = node_new(N_EVENT, c->line);
	if (!n) {
		cfail(c, "out of memory");
		return NULL;
	}
	n->rule_no = c->rule_no;
	n->count_op = OP_GTE;
	n->count_lo = 1;
	if (c->in_event) {
		cfail(c, "an event leaf cannot be inside a where clause");
		goto fail;
	}
	jv keys = jv_keys(jv_copy(v));
	int nk = jv_array_length(jv_copy(keys));
	int rc = 0;
	for (int i = 0; rc == 0 && i < nk; i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		jv x = jv_object_get(jv_copy(v), jv_copy(k));
		if (is_key(k, "event") || is_key(k, "not_event")) {
			n->negated = is_key(k, "not_event");
			if (n->etype) {
				rc = cfail(c, "give one of event and not_event");
			} else if (jv_get_kind(x) != JV_KIND_STRING || !*jv_string_value(x)) {
				rc = cfail(c, "%s needs an event type, got %s", jv_string_value(k), kind_name(x));
			} else if (!(n->etype = strdup(jv_string_value(x)))) {
				rc = cfail(c, "out of memory");
			}
		} else if (is_key(k, "within")) {
			jrn_err why;
			if (jv_get_kind(x) == JV_KIND_NUMBER && jv_number_value(x) > 0 &&
			    jv_number_value(x) >= 9223372036854775807.0) {
				rc = cfail(c, "within: too large (at most %lld ms)", (long long)INT64_MAX);
			} else if (jv_get_kind(x) == JV_KIND_NUMBER && jv_number_value(x) > 0) {
				n->within = (int64_t)jv_number_value(x);
			} else if (jv_get_kind(x) != JV_KIND_STRING) {
				rc = cfail(c, "within needs a duration such as 90d, got %s", kind_name(x));
			} else if (jrn_duration_parse(jv_string_value(x), &n->within, &why) < 0) {
				rc = cfail(c, "within: %s", why.msg);
			} else if (n->within <= 0) {
				rc = cfail(c, "within: must be above zero");
			}
		} else if (is_key(k, "count")) {
			if (jv_get_kind(x) == JV_KIND_NUMBER) {
				n->count_lo = jv_number_value(x);
			} else if (jv_get_kind(x) != JV_KIND_OBJECT || jv_object_length(jv_copy(x)) != 1) {
				rc = cfail(c, "count needs a number or one {OPERATOR: N}, such as {gte: 2}");
			} else {
				jv ck = jv_keys(jv_copy(x));
				jv opk = jv_array_get(ck, 0);
				jv cv = jv_object_get(jv_copy(x), jv_copy(opk));
				int op = find_op(jv_string_value(opk));
				if (op == OP_BETWEEN && jv_get_kind(cv) == JV_KIND_ARRAY &&
				    jv_array_length(jv_copy(cv)) == 2) {
					jv a = jv_array_get(jv_copy(cv), 0), b = jv_array_get(jv_copy(cv), 1);
					if (jv_get_kind(a) != JV_KIND_NUMBER || jv_get_kind(b) != JV_KIND_NUMBER)
						rc = cfail(c, "count: between needs two numbers");
					else {
						n->count_lo = jv_number_value(a);
						n->count_hi = jv_number_value(b);
						n->count_op = op;
					}
					jv_free(a);
					jv_free(b);
				} else if (op != OP_EQUALS && op != OP_GREATER_THAN && op != OP_LESS_THAN &&
					   op != OP_GTE && op != OP_LTE) {
					rc = cfail(c, "count: unknown operator '%s' (use equals (eq), greater_than "
						   "(gt), less_than (lt), gte, lte or between)", jv_string_value(opk));
				} else if (jv_get_kind(cv) != JV_KIND_NUMBER) {
					rc = cfail(c, "count: %s needs a number, got %s", jv_string_value(opk),
						   kind_name(cv));
				} else {
					n->count_op = op;
					n->count_lo = jv_number_value(cv);
				}
				jv_free(opk);
				jv_free(cv);
			}
		} else if (is_key(k, "where")) {
			bool was = c->in_event;
			int line = c->line;
			c->in_event = true;
			jv p = pos_key(pos, k);
			node *w = compile_node(c, jv_copy(x), p, depth + 1);
			jv_free(p);
			c->in_event = was;
			c->line = line;
			if (!w || add_kid(n, w) < 0) {
				node_free(w);
				rc = w ? cfail(c, "out of memory") : -1;
			}
		} else {
			static const char *const ev_keys[] = {"event", "not_event", "where", "count",
							      "within", NULL};
			const char *near = jrn_nearest(jv_string_value(k), ev_keys);
			if (near)
				rc = cfail(c, "unknown key '%s' in an event leaf (did you mean '%s'?)",
					   jv_string_value(k), near);
			else
				rc = cfail(c, "unknown key '%s' in an event leaf (event, not_event, "
					   "where, count, within)", jv_string_value(k));
		}
		jv_free(k);
		jv_free(x);
	}
	jv_free(keys);
	if (rc < 0)
		goto fail;
	if (n->negated && (n->count_op != OP_GTE || n->count_lo != 1)) {
		cfail(c, "not_event takes no count");
		goto fail;
	}
	c->r->any_events = true;
	if (n->nkid)
		c->r->events_body = true;
	if (n->within == 0)
		c->r->events_unbounded = true;
	else if (n->within > c->r->events_window)
		c->r->events_window = n->within;
	return n;
fail:
	node_free(n);
	return NULL;
}

/* Says which key of the field leaf v (borrowed; pos its positions) a
 * field leaf does not take, the first in document order, with the nearest
 * one it takes ("unknown key 'opp' in a field leaf (did you mean 'op'?)")
 * or the list of them. Returns -1 (the message in c->e). */
static int leaf_unknown_key(cctx *c, jv v, jv pos)
{
	static const char *const known[] = {"field", "op", "operator", "value", "description",
					    NULL};
	jv keys = keys_in_order(v, pos);
	const char *near = NULL;
	char name[72] = "";
	for (int i = 0; !name[0] && i < jv_array_length(jv_copy(keys)); i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		size_t j = 0;
		while (known[j] && strcmp(known[j], jv_string_value(k)))
			j++;
		if (!known[j]) {
			snprintf(name, sizeof name, "'%.64s' ", jv_string_value(k));
			near = jrn_nearest(jv_string_value(k), known);
			if (pos_key_line(pos, k) > 0)
				c->line = pos_key_line(pos, k);
		}
		jv_free(k);
	}
	jv_free(keys);
	if (near)
		return cfail(c, "unknown key %sin a field leaf (did you mean '%s'?)", name, near);
	return cfail(c, "unknown key %sin a field leaf (field, op, value, description)", name);
}

/* Compiles one rule node (v consumed, pos borrowed).
 * long: the compiler's dispatch over the forms of a rule (list, all/any,
 * not, field leaf, jq leaf, event leaf, shorthand), each checking its keys;
 * kept as one switch so the forms and their errors read side by side. */
static node *compile_node(cctx *c, jv v, jv pos, int depth)
{
	node *n = NULL;
	int line = pos_line(pos);
	if (line > 0)
		c->line = line;
	if (depth > MAX_DEPTH) {
		jv_free(v);
		cfail(c, "rules nested too deep");
		return NULL;
	}
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		/* a list: all of it */
		n = node_new(N_ALL, c->line);
		if (!n)
			goto oom;
		int len = jv_array_length(jv_copy(v));
		for (int i = 0; i < len; i++) {
			jv p = pos_idx(pos, i);
			node *k = compile_node(c, jv_array_get(jv_copy(v), i), p, depth + 1);
			jv_free(p);
			if (!k || add_kid(n, k) < 0) {
				node_free(k);
				if (k)
					goto oom;
				goto fail;
			}
		}
		jv_free(v);
		return n;
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		cfail(c, "a rule must be a mapping or a list, got %s", kind_name(v));
		jv_free(v);
		return NULL;
	}
	if (jv_object_length(jv_copy(v)) == 0) {
		cfail(c, "empty rule");
		jv_free(v);
		return NULL;
	}

	jv all = jv_object_get(jv_copy(v), jv_string("all"));
	jv any = jv_object_get(jv_copy(v), jv_string("any"));
	jv not = jv_object_get(jv_copy(v), jv_string("not"));
	jv field = jv_object_get(jv_copy(v), jv_string("field"));
	jv jqx = jv_object_get(jv_copy(v), jv_string("jq"));
	jv ev = jv_object_get(jv_copy(v), jv_string("event"));
	jv nev = jv_object_get(jv_copy(v), jv_string("not_event"));
	int forms = jv_is_valid(all) + jv_is_valid(any) + jv_is_valid(not) + jv_is_valid(field) +
		    jv_is_valid(jqx) + (jv_is_valid(ev) || jv_is_valid(nev));
	int nkeys = jv_object_length(jv_copy(v));

	if (forms > 1) {
		cfail(c, "a rule is one of all, any, not, field, jq, event (this one has several)");
	} else if (jv_is_valid(all) || jv_is_valid(any)) {
		const char *which = jv_is_valid(all) ? "all" : "any";
		jv list = jv_is_valid(all) ? jv_copy(all) : jv_copy(any);
		if (nkeys != 1) {
			cfail(c, "%s takes no other keys", which);
		} else if (jv_get_kind(list) != JV_KIND_ARRAY) {
			cfail(c, "%s needs a list of rules, got %s", which, kind_name(list));
		} else {
			n = node_new(jv_is_valid(all) ? N_ALL : N_ANY, c->line);
			jv lk = jv_string(which);
			jv lp = pos_key(pos, lk);
			jv_free(lk);
			int len = jv_array_length(jv_copy(list));
			for (int i = 0; n && i < len; i++) {
				jv p = pos_idx(lp, i);
				node *k = compile_node(c, jv_array_get(jv_copy(list), i), p, depth + 1);
				jv_free(p);
				if (!k || add_kid(n, k) < 0) {
					if (k)
						cfail(c, "out of memory");
					node_free(k);
					node_free(n);
					n = NULL;
					break;
				}
			}
			jv_free(lp);
			if (len == 0 && n) {
				cfail(c, "%s needs at least one rule", which);
				node_free(n);
				n = NULL;
			}
		}
		jv_free(list);
	} else if (jv_is_valid(not)) {
		if (nkeys != 1) {
			cfail(c, "not takes no other keys");
		} else {
			jv k = jv_string("not");
			jv p = pos_key(pos, k);
			jv_free(k);
			node *kid = compile_node(c, jv_copy(not), p, depth + 1);
			jv_free(p);
			if (kid) {
				n = node_new(N_NOT, line > 0 ? line : c->line);
				if (!n || add_kid(n, kid) < 0) {
					node_free(kid);
					node_free(n);
					n = NULL;
					cfail(c, "out of memory");
				}
			}
		}
	} else if (jv_is_valid(field)) {
		c->rule_no++;
		jv op = jv_object_get(jv_copy(v), jv_string("op"));
		jv oper = jv_object_get(jv_copy(v), jv_string("operator"));
		jv value = jv_object_get(jv_copy(v), jv_string("value"));
		int known = 1 + jv_is_valid(op) + jv_is_valid(oper) + jv_is_valid(value);
		known += jv_object_has(jv_copy(v), jv_string("description")) ? 1 : 0;
		if (jv_is_valid(op) && jv_is_valid(oper)) {
			cfail(c, "give one of op and operator");
		} else if (known != nkeys) {
			leaf_unknown_key(c, v, pos);
		} else if (jv_get_kind(field) != JV_KIND_STRING) {
			cfail(c, "field needs a dotted path (a string), got %s", kind_name(field));
		} else {
			jv o = jv_is_valid(op) ? jv_copy(op) : jv_copy(oper);
			if (!jv_is_valid(o))
				cfail(c, "field '%s' has no op", jv_string_value(field));
			else if (jv_get_kind(o) != JV_KIND_STRING)
				cfail(c, "op needs an operator name, got %s", kind_name(o));
			else
				n = compile_leaf(c, jv_string_value(field), jv_string_value(o), jv_copy(value));
			jv_free(o);
		}
		jv_free(op);
		jv_free(oper);
		jv_free(value);
	} else if (jv_is_valid(jqx)) {
		c->rule_no++;
		if (nkeys != 1)
			cfail(c, "jq takes no other keys");
		else
			n = compile_jq(c, jv_copy(jqx));
	} else if (jv_is_valid(ev) || jv_is_valid(nev)) {
		c->rule_no++;
		n = compile_event(c, v, pos, depth);
	} else {
		/* shorthand: {"a.b": VALUE} is equals, {"a.b": {op: value, ...}}
		 * one leaf per operator; several keys are all of them */
		jv keys = keys_in_order(v, pos);
		int len = jv_array_length(jv_copy(keys));
		node *all_n = node_new(N_ALL, c->line);
		bool ok = all_n != NULL;
		for (int i = 0; ok && i < len; i++) {
			jv k = jv_array_get(jv_copy(keys), i);
			jv x = jv_object_get(jv_copy(v), jv_copy(k));
			jv p = pos_key(pos, k);
			int l = pos_line(p);
			if (l > 0)
				c->line = l;
			jv_free(p);
			if (jv_get_kind(x) == JV_KIND_OBJECT) {
				jv ops = jv_keys(jv_copy(x));
				int no = jv_array_length(jv_copy(ops));
				if (no == 0) {
					cfail(c, "field '%s': empty operator mapping", jv_string_value(k));
					ok = false;
				}
				for (int j = 0; ok && j < no; j++) {
					jv o = jv_array_get(jv_copy(ops), j);
					c->rule_no++;
					node *leaf = compile_leaf(c, jv_string_value(k), jv_string_value(o),
								  jv_object_get(jv_copy(x), jv_copy(o)));
					jv_free(o);
					if (!leaf || add_kid(all_n, leaf) < 0) {
						if (leaf)
							cfail(c, "out of memory");
						node_free(leaf);
						ok = false;
					}
				}
				jv_free(ops);
			} else {
				c->rule_no++;
				node *leaf = compile_leaf(c, jv_string_value(k), "equals", jv_copy(x));
				if (!leaf || add_kid(all_n, leaf) < 0) {
					if (leaf)
						cfail(c, "out of memory");
					node_free(leaf);
					ok = false;
				}
			}
			jv_free(k);
			jv_free(x);
		}
		jv_free(keys);
		if (ok && all_n->nkid == 1) {
			n = all_n->kid[0];
			all_n->nkid = 0;
			node_free(all_n);
		} else if (ok) {
			n = all_n;
		} else {
			node_free(all_n);
		}
	}
	jv_free(all);
	jv_free(any);
	jv_free(not);
	jv_free(field);
	jv_free(jqx);
	jv_free(ev);
	jv_free(nev);
	jv_free(v);
	return n;
oom:
	cfail(c, "out of memory");
fail:
	node_free(n);
	jv_free(v);
	return NULL;
}

static jrn_rules *rules_new(const char *file)
{
	jrn_rules *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	if (file && !(r->file = strdup(file))) {
		free(r);
		return NULL;
	}
	r->now = jrn_now();
	r->key_customer = jv_string("customerId");
	return r;
}

static int add_segment(jrn_rules *r, const char *name, const char *desc, int line, node *root)
{
	segment *p = realloc(r->seg, (size_t)(r->n + 1) * sizeof *p);
	if (!p)
		return -1;
	r->seg = p;
	segment *s = &r->seg[r->n];
	s->name = strdup(name);
	s->description = desc ? strdup(desc) : NULL;
	s->line = line;
	s->root = root;
	if (!s->name || (desc && !s->description)) {
		free(s->name);
		free(s->description);
		return -1;
	}
	r->n++;
	return 0;
}

/* Compiles defs (consumed) with positions pos (borrowed) into r. */
static int compile_defs(jrn_rules *r, jv defs, jv pos, jrn_err *e)
{
	int rc = 0;
	if (jv_get_kind(defs) == JV_KIND_OBJECT) {
		jv seg = jv_object_get(jv_copy(defs), jv_string("segments"));
		if (jv_get_kind(seg) == JV_KIND_OBJECT) {
			jv k = jv_string("segments");
			jv p = pos_key(pos, k);
			jv_free(k);
			jv_free(defs);
			rc = compile_defs(r, seg, p, e);
			jv_free(p);
			return rc;
		}
		jv_free(seg);
	}
	if (jv_get_kind(defs) != JV_KIND_OBJECT) {
		rc = jrn_fail(e, "%s: segment definitions must be a mapping of name to "
			      "definition, got %s", r->file ? r->file : "rules", kind_name(defs));
		jv_free(defs);
		return rc;
	}
	jv names = keys_in_order(defs, pos);
	int len = jv_array_length(jv_copy(names));
	for (int i = 0; rc == 0 && i < len; i++) {
		jv name = jv_array_get(jv_copy(names), i);
		jv def = jv_object_get(jv_copy(defs), jv_copy(name));
		jv dpos = pos_key(pos, name);
		cctx c = {.r = r, .seg = jv_string_value(name), .e = e, .line = pos_key_line(pos, name)};
		int line = c.line;
		jv rule = jv_invalid(), desc = jv_invalid(), rpos = jv_null();
		if (jv_get_kind(def) != JV_KIND_OBJECT) {
			rc = cfail(&c, "a definition must be a mapping with a rule, got %s", kind_name(def));
		} else {
			jv keys = jv_keys(jv_copy(def));
			int nk = jv_array_length(jv_copy(keys));
			for (int j = 0; rc == 0 && j < nk; j++) {
				jv k = jv_array_get(jv_copy(keys), j);
				if (is_key(k, "rule") || is_key(k, "rules")) {
					if (jv_is_valid(rule)) {
						rc = cfail(&c, "give one of rule and rules");
					} else {
						rule = jv_object_get(jv_copy(def), jv_copy(k));
						jv_free(rpos);
						rpos = pos_key(dpos, k);
					}
				} else if (is_key(k, "description")) {
					desc = jv_object_get(jv_copy(def), jv_copy(k));
					if (jv_get_kind(desc) != JV_KIND_STRING)
						rc = cfail(&c, "description needs a string");
				} else if (!is_key(k, "name") && !is_key(k, "type")) {
					rc = cfail(&c, "unknown key '%s' (rule, description, name, type)",
						   jv_string_value(k));
				}
				jv_free(k);
			}
			jv_free(keys);
			if (rc == 0 && !jv_is_valid(rule))
				rc = cfail(&c, "no rule");
		}
		if (rc == 0) {
			node *root = compile_node(&c, rule, rpos, 0);
			rule = jv_invalid();
			if (!root)
				rc = -1;
			else if (add_segment(r, jv_string_value(name),
					     jv_get_kind(desc) == JV_KIND_STRING ? jv_string_value(desc) : NULL,
					     line, root) < 0) {
				node_free(root);
				rc = jrn_fail(e, "out of memory");
			}
		}
		jv_free(rule);
		jv_free(desc);
		jv_free(rpos);
		jv_free(dpos);
		jv_free(def);
		jv_free(name);
	}
	jv_free(names);
	jv_free(defs);
	return rc;
}

jrn_rules *jrn_rule_compile(jv defs, const char *file, jrn_err *e)
{
	jrn_rules *r = rules_new(file);
	if (!r) {
		jv_free(defs);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	if (compile_defs(r, defs, jv_null(), e) < 0) {
		jrn_rule_free(r);
		return NULL;
	}
	return r;
}

jrn_rules *jrn_rule_compile_one(const char *name, jv rule, jrn_err *e)
{
	jrn_rules *r = rules_new(NULL);
	if (!r) {
		jv_free(rule);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	cctx c = {.r = r, .seg = name, .e = e};
	node *root = compile_node(&c, rule, jv_null(), 0);
	if (!root || add_segment(r, name, NULL, 0, root) < 0) {
		if (root) {
			node_free(root);
			jrn_fail(e, "out of memory");
		}
		jrn_rule_free(r);
		return NULL;
	}
	return r;
}

jrn_rules *jrn_rule_load(const char *path, jrn_err *e)
{
	jrn_yaml_opts yo = {.flags = JRN_YAML_LINES, .what = "a segment file"};
	jv pos;
	jv val = jrn_yaml_load(path, &yo, &pos, e);
	if (!jv_is_valid(val)) {
		jv_free(pos);
		return NULL;
	}
	jrn_rules *r = rules_new(path);
	if (!r) {
		jv_free(val);
		jv_free(pos);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	int rc = compile_defs(r, val, pos, e);
	jv_free(pos);
	if (rc < 0) {
		jrn_rule_free(r);
		return NULL;
	}
	return r;
}

int jrn_rule_count(const jrn_rules *r)
{
	return r->n;
}

const char *jrn_rule_name(const jrn_rules *r, int i)
{
	return i >= 0 && i < r->n ? r->seg[i].name : NULL;
}

int jrn_rule_find(const jrn_rules *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->seg[i].name, name))
			return i;
	return -1;
}

/* After a jq program was stopped (rules-eval.c), its state and every other
 * may be mid-update: forget them all rather than free them. They stay
 * referenced from here (so that leak checkers see them as kept, not lost),
 * as many as fit. */
static jq_state *jq_kept[256];
static size_t jq_nkept;

static void forget_jq(node *n)
{
	if (!n)
		return;
	if (n->jq && jq_nkept < sizeof jq_kept / sizeof jq_kept[0])
		jq_kept[jq_nkept++] = n->jq;
	n->jq = NULL;
	for (int i = 0; i < n->nkid; i++)
		forget_jq(n->kid[i]);
}

void jrn_rule_free(jrn_rules *r)
{
	if (!r)
		return;
	for (int i = 0; r->jq_stuck && i < r->n; i++)
		forget_jq(r->seg[i].root);
	for (int i = 0; i < r->n; i++) {
		free(r->seg[i].name);
		free(r->seg[i].description);
		node_free(r->seg[i].root);
	}
	free(r->seg);
	sqlite3_finalize(r->evq);
	jv_free(r->key_customer);
	free(r->rows);
	jrn_buf_free(&r->text);
	jrn_buf_free(&r->cust);
	jrn_buf_free(&r->jqmsg);
	jrn_buf_free(&r->scratch);
	jrn_json_index_free(&r->evix);
	if (r->evparser)
		jv_parser_free(r->evparser);
	free(r->leaves);
	jrn_idmap_free(r->cust_ids);
	free(r->counts);
	free(r->file);
	free(r);
}
