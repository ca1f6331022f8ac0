/* rules.c: the segment rule language (see rules.h and jrn-segment(1)).
 *
 * Definitions are read with libyaml into a jv tree beside a position tree
 * of the same shape (so errors can say FILE:LINE), then compiled into
 * nodes: dotted paths are split into jv keys once, values are checked
 * against their operator once, relative times resolved once, regexes and
 * jq programs compiled once. Evaluating a record walks the nodes over the
 * span index of its text (jrn_json_index, built while checking it) and
 * allocates nothing; libjq's value of the record is parsed only when a
 * clause needs it (jq leaves, escaped strings, arrays inside arrays), and
 * -v explanations always read it. Event leaves read the customer's stored
 * events through one prepared statement, or, for a run over every
 * customer, counts gathered in one scan of the events (jrn_rule_preload).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <jq.h>

#include "rules.h"

#define MAX_DEPTH 1000

/* ---- compiled form --------------------------------------------------------- */

enum op {
	OP_EQUALS,
	OP_NOT_EQUALS,
	OP_CONTAINS,
	OP_NOT_CONTAINS,
	OP_GREATER_THAN,
	OP_LESS_THAN,
	OP_GTE,
	OP_LTE,
	OP_BETWEEN,
	OP_IN,
	OP_NOT_IN,
	OP_IS_SET,
	OP_IS_NOT_SET,
	OP_STARTS_WITH,
	OP_MATCHES,
	NOPS
};

static const char *const op_names[NOPS] = {
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

enum kind { N_ALL, N_ANY, N_NOT, N_FIELD, N_JQ, N_EVENT };

/* How a comparison reads its field: as a number, or as an RFC 3339 time. */
enum { V_NUMBER = 1, V_TIME };

typedef struct node {
	enum kind kind;
	int line;     /* in the definitions file; 0 when unknown */
	int rule_no;  /* leaves: 1-based, in document order within the segment */
	struct node **kid;
	int nkid;
	/* N_FIELD */
	char *field;  /* the dotted text, for messages */
	jv *path;     /* its keys */
	char **ckeys; /* the same as C strings, for the span index */
	int *idx;     /* per key: an array index when all digits, else -1 */
	int npath;
	int op;
	jv value;     /* as written */
	int vtype;    /* comparisons: V_NUMBER or V_TIME */
	double lo, hi;
	regex_t re;
	bool has_re;
	/* N_JQ */
	char *text;
	jq_state *jq;
	/* N_EVENT (kid[0], if any, is the where clause) */
	char *etype;
	bool negated;   /* not_event */
	int count_op;   /* OP_GTE, OP_LTE, OP_GREATER_THAN, OP_LESS_THAN, OP_EQUALS, OP_BETWEEN */
	double count_lo, count_hi;
	int64_t within; /* ms; 0 = all time */
	int leaf_id;    /* N_EVENT: its slot in the preloaded counts */
	const char *segname; /* N_EVENT, when preloaded: its segment's name */
} node;

typedef struct {
	char *name;
	char *description;
	int line;
	node *root;
} segment;

/* One stored event of the customer in hand. */
typedef struct {
	int64_t ts;
	size_t type_off, type_len, body_off, body_len;
} evrow;

struct jrn_rules {
	segment *seg;
	int n;
	char *file; /* owned */
	int64_t now;
	/* event leaves */
	bool any_events, events_body, events_unbounded;
	int64_t events_window; /* largest within */
	sqlite3_stmt *evq;
	jv key_customer;
	jrn_buf cust; /* the customer whose events are cached */
	bool cached;
	evrow *rows;
	size_t nrows, caprows;
	jrn_buf text;
	/* messages from jq's error callback while compiling */
	jrn_buf jqmsg;
	jrn_buf scratch; /* a string field, NUL-terminated for regexec */
	jrn_json_index evix; /* of the stored event in hand */
	jv_parser *evparser;
	/* jrn_rule_preload: per customer, the count of each event leaf */
	bool preloaded;
	const node **leaves;
	int nleaves;
	jrn_buf pool;       /* customer ids, NUL-terminated */
	size_t *slots;      /* hash of pool offsets + 1; 0 = empty */
	size_t nslots, ncust;
	uint32_t *counts;   /* ncust x nleaves */
	size_t counts_cap;
};

/* ---- the YAML reader --------------------------------------------------------
 *
 * Values: mappings -> objects, sequences -> arrays, plain scalars typed as
 * YAML 1.2's core schema says (null, booleans, numbers), quoted and block
 * scalars strings. Positions: a scalar's is its 1-based line; a mapping's
 * [line, {key: position}, [keys in order], {key: line of the key}]; a
 * sequence's [line, [position]]. */

static bool is_number_text(const char *s, size_t n, double *d)
{
	if (n == 0)
		return false;
	size_t i = 0;
	if (s[i] == '-' || s[i] == '+')
		i++;
	if (i >= n || !(isdigit((unsigned char)s[i]) || (s[i] == '.' && i + 1 < n &&
							 isdigit((unsigned char)s[i + 1]))))
		return false;
	for (size_t j = i; j < n; j++)
		if (!isdigit((unsigned char)s[j]) && s[j] != '.' && s[j] != 'e' && s[j] != 'E' &&
		    s[j] != '-' && s[j] != '+')
			return false;
	char *end;
	errno = 0;
	*d = strtod(s, &end);
	return end == s + n && errno == 0;
}

static jv plain_scalar(const char *s, size_t n)
{
	double d;
	if (n == 0 || (n == 1 && s[0] == '~') || (n == 4 && (!memcmp(s, "null", 4) ||
							       !memcmp(s, "Null", 4) ||
							       !memcmp(s, "NULL", 4))))
		return jv_null();
	if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)))
		return jv_true();
	if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))
		return jv_false();
	if (is_number_text(s, n, &d))
		return jv_number(d);
	return jv_string_sized(s, (int)n);
}

typedef struct {
	yaml_parser_t p;
	const char *file;
	jrn_err *e;
} yreader;

static int ynext(yreader *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->p, ev))
		return jrn_fail(y->e, "%s:%zu:%zu: %s%s%s", y->file, y->p.problem_mark.line + 1,
				y->p.problem_mark.column + 1, y->p.problem ? y->p.problem : "bad YAML",
				y->p.context ? " " : "", y->p.context ? y->p.context : "");
	return 0;
}

/* Reads the node that ev (consumed) starts into *val and *pos. */
static int ynode(yreader *y, yaml_event_t *ev, int depth, jv *val, jv *pos)
{
	int line = (int)ev->start_mark.line + 1;
	if (depth > MAX_DEPTH) {
		yaml_event_delete(ev);
		return jrn_fail(y->e, "%s:%d: nested too deep", y->file, line);
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *s = (const char *)ev->data.scalar.value;
		size_t n = ev->data.scalar.length;
		*val = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s, n)
									: jv_string_sized(s, (int)n);
		*pos = jv_number(line);
		yaml_event_delete(ev);
		return 0;
	}
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return jrn_fail(y->e, "%s:%d: aliases are not supported here", y->file, line);
	case YAML_SEQUENCE_START_EVENT: {
		yaml_event_delete(ev);
		jv arr = jv_array(), parr = jv_array();
		for (;;) {
			yaml_event_t c;
			if (ynext(y, &c) < 0)
				goto seq_fail;
			if (c.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&c);
				break;
			}
			jv v, p;
			if (ynode(y, &c, depth + 1, &v, &p) < 0)
				goto seq_fail;
			arr = jv_array_append(arr, v);
			parr = jv_array_append(parr, p);
		}
		*val = arr;
		*pos = JV_ARRAY(jv_number(line), parr);
		return 0;
seq_fail:
		jv_free(arr);
		jv_free(parr);
		return -1;
	}
	case YAML_MAPPING_START_EVENT: {
		yaml_event_delete(ev);
		jv obj = jv_object(), pobj = jv_object(), order = jv_array(), klines = jv_object();
		for (;;) {
			yaml_event_t k;
			if (ynext(y, &k) < 0)
				goto map_fail;
			if (k.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&k);
				break;
			}
			int kline = (int)k.start_mark.line + 1;
			if (k.type != YAML_SCALAR_EVENT) {
				yaml_event_delete(&k);
				jrn_fail(y->e, "%s:%d: keys must be plain strings", y->file, kline);
				goto map_fail;
			}
			jv key = jv_string_sized((const char *)k.data.scalar.value,
						 (int)k.data.scalar.length);
			yaml_event_delete(&k);
			jv dup = jv_object_get(jv_copy(obj), jv_copy(key));
			bool twice = jv_is_valid(dup);
			jv_free(dup);
			if (twice) {
				jrn_fail(y->e, "%s:%d: key '%s' given twice", y->file, kline,
					 jv_string_value(key));
				jv_free(key);
				goto map_fail;
			}
			yaml_event_t c;
			jv v, p;
			if (ynext(y, &c) < 0 || ynode(y, &c, depth + 1, &v, &p) < 0) {
				jv_free(key);
				goto map_fail;
			}
			obj = jv_object_set(obj, jv_copy(key), v);
			pobj = jv_object_set(pobj, jv_copy(key), p);
			klines = jv_object_set(klines, jv_copy(key), jv_number(kline));
			order = jv_array_append(order, key);
		}
		*val = obj;
		*pos = JV_ARRAY(jv_number(line), pobj, order, klines);
		return 0;
map_fail:
		jv_free(obj);
		jv_free(pobj);
		jv_free(order);
		jv_free(klines);
		return -1;
	}
	default:
		yaml_event_delete(ev);
		return jrn_fail(y->e, "%s:%d: unexpected YAML event", y->file, line);
	}
}

/* Reads the one document of path into *val and *pos. 0 or -1 with e. */
static int yaml_load(const char *path, jv *val, jv *pos, jrn_err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return jrn_fail(e, "%s: %s", path, strerror(errno));
	yreader y = {.file = path, .e = e};
	if (!yaml_parser_initialize(&y.p)) {
		fclose(f);
		return jrn_fail(e, "%s: out of memory", path);
	}
	yaml_parser_set_input_file(&y.p, f);
	int rc = -1;
	*val = jv_null();
	*pos = jv_null();
	yaml_event_t ev;
	bool have = false;
	for (;;) {
		if (ynext(&y, &ev) < 0)
			goto out;
		yaml_event_type_t t = ev.type;
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT ||
		    t == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		if (have) {
			jrn_fail(e, "%s:%zu: more than one document", path, ev.start_mark.line + 1);
			yaml_event_delete(&ev);
			goto out;
		}
		jv_free(*val);
		jv_free(*pos);
		*val = jv_null();
		*pos = jv_null();
		if (ynode(&y, &ev, 0, val, pos) < 0) {
			*val = jv_null();
			*pos = jv_null();
			goto out;
		}
		have = true;
	}
	rc = 0;
out:
	if (ferror(f) && rc == 0)
		rc = jrn_fail(e, "%s: %s", path, strerror(errno));
	yaml_parser_delete(&y.p);
	fclose(f);
	return rc;
}

/* Positions: borrowed in, owned out. */
static int pos_line(jv pos)
{
	if (jv_get_kind(pos) == JV_KIND_NUMBER)
		return (int)jv_number_value(pos);
	if (jv_get_kind(pos) == JV_KIND_ARRAY) {
		jv l = jv_array_get(jv_copy(pos), 0);
		int n = jv_get_kind(l) == JV_KIND_NUMBER ? (int)jv_number_value(l) : 0;
		jv_free(l);
		return n;
	}
	return 0;
}

static jv pos_key(jv pos, jv key /* borrowed */)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY)
		return jv_null();
	jv m = jv_array_get(jv_copy(pos), 1);
	if (jv_get_kind(m) != JV_KIND_OBJECT) {
		jv_free(m);
		return jv_null();
	}
	jv p = jv_object_get(m, jv_copy(key));
	return jv_is_valid(p) ? p : jv_null();
}

static jv pos_idx(jv pos, int i)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY)
		return jv_null();
	jv a = jv_array_get(jv_copy(pos), 1);
	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		return jv_null();
	}
	jv p = jv_array_get(a, i);
	return jv_is_valid(p) ? p : jv_null();
}

/* The line of key (borrowed) in the mapping at pos, or 0. */
static int pos_key_line(jv pos, jv key)
{
	if (jv_get_kind(pos) != JV_KIND_ARRAY || jv_array_length(jv_copy(pos)) != 4)
		return 0;
	jv l = jv_object_get(jv_array_get(jv_copy(pos), 3), jv_copy(key));
	int n = jv_get_kind(l) == JV_KIND_NUMBER ? (int)jv_number_value(l) : 0;
	jv_free(l);
	return n;
}

/* The keys of obj (borrowed) in document order when pos knows it, else
 * sorted. */
static jv keys_in_order(jv obj, jv pos)
{
	if (jv_get_kind(pos) == JV_KIND_ARRAY && jv_array_length(jv_copy(pos)) == 4)
		return jv_array_get(jv_copy(pos), 2);
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

static const char *kind_name(jv v)
{
	return jv_kind_name(jv_get_kind(v));
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
		*ms = now - d;
		return 1;
	}
	if (n > 3 && !strncmp(s, "in ", 3)) {
		if (jrn_duration_parse(s + 3, &d, NULL) < 0)
			return 0;
		*ms = now + d;
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
				     op_names[n->op], jv_string_value(v));
		t = V_TIME;
		*x = (double)ms;
	} else {
		return cfail(c, "%s needs a number or a time, got %s", op_names[n->op], kind_name(v));
	}
	if (n->vtype && n->vtype != t)
		return cfail(c, "%s needs two numbers or two times", op_names[n->op]);
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

static int find_op(const char *name)
{
	for (int i = 0; i < NOPS; i++)
		if (!strcmp(op_names[i], name))
			return i;
	return -1;
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
		jv_free(value);
		cfail(c, "unknown operator '%s'", opname);
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
		cfail(c, "%s needs a value", op_names[op]);
		goto fail;
	}
	switch (op) {
	case OP_EQUALS:
	case OP_NOT_EQUALS:
	case OP_CONTAINS:
	case OP_NOT_CONTAINS:
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			cfail(c, "%s needs a string, number, boolean or null, got object", op_names[op]);
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
			cfail(c, "%s needs a list, got %s", op_names[op], kind_name(v));
			goto fail;
		}
		break;
	case OP_IS_SET:
	case OP_IS_NOT_SET:
		break;
	case OP_STARTS_WITH:
	case OP_MATCHES:
		if (jv_get_kind(v) != JV_KIND_STRING) {
			cfail(c, "%s needs a string, got %s", op_names[op], kind_name(v));
			goto fail;
		}
		if (op == OP_MATCHES) {
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
			if (jv_get_kind(x) == JV_KIND_NUMBER && jv_number_value(x) > 0) {
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
					rc = cfail(c, "count: unknown operator '%s' (use equals, greater_than, "
						   "less_than, gte, lte or between)", jv_string_value(opk));
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
			rc = cfail(c, "unknown key '%s' in an event leaf (event, not_event, where, "
				   "count, within)", jv_string_value(k));
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

/* Compiles one rule node (v consumed, pos borrowed). */
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
			cfail(c, "unknown key in a field leaf (field, op, value, description)");
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
	jv val, pos;
	if (yaml_load(path, &val, &pos, e) < 0)
		return NULL;
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

static bool has_events(const node *n)
{
	if (n->kind == N_EVENT)
		return true;
	for (int i = 0; i < n->nkid; i++)
		if (has_events(n->kid[i]))
			return true;
	return false;
}

bool jrn_rule_needs_events(const jrn_rules *r, int i)
{
	for (int j = 0; j < r->n; j++)
		if ((i < 0 || i == j) && has_events(r->seg[j].root))
			return true;
	return false;
}

int jrn_rule_attach(jrn_rules *r, sqlite3 *db, jrn_err *e)
{
	sqlite3_finalize(r->evq);
	r->evq = NULL;
	r->cached = false;
	if (!db)
		return 0;
	const char *sql = r->events_body
		? "SELECT type, ts, body FROM events WHERE customer_id = ?1 AND ts >= ?2 AND ts <= ?3"
		: "SELECT type, ts, NULL FROM events WHERE customer_id = ?1 AND ts >= ?2 AND ts <= ?3";
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->evq, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return 0;
}

void jrn_rule_free(jrn_rules *r)
{
	if (!r)
		return;
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
	jrn_buf_free(&r->pool);
	free(r->slots);
	free(r->counts);
	free(r->file);
	free(r);
}

/* ---- evaluating ----------------------------------------------------------------- */

typedef struct {
	jrn_rules *r;
	jrn_buf *why;
	jrn_err *e;
	const char *seg;
	jrn_rule_rec *top; /* the record, for event leaves' customerId */
} ectx;

static bool negative_op(int op);

jv jrn_rule_rec_value(jrn_rule_rec *rec, jrn_err *e)
{
	if (!jv_is_valid(rec->v)) {
		jv_free(rec->v);
		if (!rec->p || !rec->parser) {
			jrn_fail(e, "no record");
			rec->v = jv_invalid();
		} else {
			rec->v = jrn_parse_checked_object(rec->parser, rec->p, rec->len, e);
		}
	}
	return rec->v;
}

/* The next element of the JSON array text s[0..n) (checked JSON) from *i
 * (start at 1): 1 with its span and kind ('"' spans exclude the quotes),
 * 0 at the end. */
static int arr_next(const char *s, size_t n, size_t *i, const char **el, size_t *elen, char *kind,
		    bool *escaped)
{
	size_t j = *i;
	while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == ','))
		j++;
	if (j >= n || s[j] == ']')
		return 0;
	*escaped = false;
	if (s[j] == '"') {
		size_t a = ++j;
		while (j < n && s[j] != '"') {
			if (s[j] == '\\') {
				*escaped = true;
				j++;
			}
			j++;
		}
		*el = s + a;
		*elen = j - a;
		*kind = '"';
		*i = j + 1;
		return 1;
	}
	size_t a = j;
	if (s[j] == '{' || s[j] == '[') {
		int depth = 0;
		bool str = false;
		for (; j < n; j++) {
			if (str) {
				if (s[j] == '\\')
					j++;
				else if (s[j] == '"')
					str = false;
			} else if (s[j] == '"') {
				str = true;
			} else if (s[j] == '{' || s[j] == '[') {
				depth++;
			} else if ((s[j] == '}' || s[j] == ']') && --depth == 0) {
				j++;
				break;
			}
		}
		*kind = s[a];
	} else {
		while (j < n && s[j] != ',' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' &&
		       s[j] != '\n' && s[j] != '\r')
			j++;
		*kind = s[a] == 't' || s[a] == 'f' || s[a] == 'n' ? s[a] : '0';
	}
	*el = s + a;
	*elen = j - a;
	*i = j;
	return 1;
}

/* Whether the scalar element (kind, text) equals v (borrowed): 1, 0, or -1
 * when it cannot tell from the text (escapes, nested values). */
static int el_equals(char kind, const char *t, size_t len, bool escaped, jv v)
{
	jv_kind vk = jv_get_kind(v);
	switch (kind) {
	case '"':
		if (vk != JV_KIND_STRING)
			return 0;
		if (escaped)
			return -1;
		return (size_t)jv_string_length_bytes(jv_copy(v)) == len &&
		       memcmp(jv_string_value(v), t, len) == 0;
	case '0':
		return vk == JV_KIND_NUMBER && strtod(t, NULL) == jv_number_value(v);
	case 't':
		return vk == JV_KIND_TRUE;
	case 'f':
		return vk == JV_KIND_FALSE;
	case 'n':
		return vk == JV_KIND_NULL;
	default:
		return vk == JV_KIND_ARRAY || vk == JV_KIND_OBJECT ? -1 : 0;
	}
}

/* Whether some element of the array text s[0..n) equals v (contains), or
 * equals some element of the list v (in, list true): 1, 0 or -1. */
static int arr_match(const char *s, size_t n, jv v, bool list)
{
	size_t i = 1;
	const char *el;
	size_t len;
	char kind;
	bool esc;
	int unsure = 0;
	while (arr_next(s, n, &i, &el, &len, &kind, &esc)) {
		if (!list) {
			int r = el_equals(kind, el, len, esc, v);
			if (r > 0)
				return 1;
			if (r < 0)
				unsure = -1;
			continue;
		}
		int m = jv_array_length(jv_copy(v));
		for (int k = 0; k < m; k++) {
			jv x = jv_array_get(jv_copy(v), k);
			int r = el_equals(kind, el, len, esc, x);
			jv_free(x);
			if (r > 0)
				return 1;
			if (r < 0)
				unsure = -1;
		}
	}
	return unsure;
}

/* The leaf decided from the span index alone: 0 or 1, or -1 when it needs
 * the jv value (an array or object in the way, an escape, a rare pair of
 * kinds). Allocates nothing. */
static int fast_leaf(jrn_rules *r, const node *n, const jrn_rule_rec *rec)
{
	const jrn_json_index *ix = rec->ix;
	const jrn_json_member *m = NULL;
	int parent = -1;
	if (n->npath > JRN_RULE_INDEX_DEPTH)
		return -1;
	for (int i = 0; i < n->npath; i++) {
		if (i > 0) {
			if (m->kind == '[')
				return -1;
			if (m->kind != '{') {
				m = NULL;
				break;
			}
			parent = (int)(m - ix->m);
		}
		m = jrn_json_find(ix, parent, n->ckeys[i]);
		if (!m)
			break;
	}
	bool pos;
	jv_kind vk = jv_get_kind(n->value);
	char k = m ? m->kind : 0;
	if (k == '"' && m->escaped)
		return -1;
	switch (n->op) {
	case OP_IS_SET:
	case OP_IS_NOT_SET:
		pos = k && k != 'n';
		break;
	case OP_EQUALS:
	case OP_NOT_EQUALS:
		if (!k)
			pos = false;
		else if (k == '"')
			pos = vk == JV_KIND_STRING &&
			      (size_t)jv_string_length_bytes(jv_copy(n->value)) == m->vlen &&
			      memcmp(jv_string_value(n->value), m->val, m->vlen) == 0;
		else if (k == '0')
			pos = vk == JV_KIND_NUMBER && strtod(m->val, NULL) == jv_number_value(n->value);
		else if (k == 'n')
			pos = vk == JV_KIND_NULL;
		else if (k == 't')
			pos = vk == JV_KIND_TRUE;
		else if (k == 'f')
			pos = vk == JV_KIND_FALSE;
		else
			return -1;
		break;
	case OP_CONTAINS:
	case OP_NOT_CONTAINS:
		if (k == '[') {
			int a = arr_match(m->val, m->vlen, n->value, false);
			if (a < 0)
				return -1;
			pos = a;
			break;
		}
		pos = k == '"' && vk == JV_KIND_STRING &&
		      memmem(m->val, m->vlen, jv_string_value(n->value),
			     (size_t)jv_string_length_bytes(jv_copy(n->value))) != NULL;
		break;
	case OP_GREATER_THAN:
	case OP_LESS_THAN:
	case OP_GTE:
	case OP_LTE:
	case OP_BETWEEN: {
		double x;
		int64_t ms;
		if (n->vtype == V_NUMBER && k == '0')
			x = strtod(m->val, NULL);
		else if (n->vtype == V_TIME && k == '"' &&
			 jrn_time_parse(m->val, m->vlen, JRN_TIME_DATE_OK, &ms, NULL) == 0)
			x = (double)ms;
		else {
			pos = false;
			break;
		}
		switch (n->op) {
		case OP_GREATER_THAN: pos = x > n->lo; break;
		case OP_LESS_THAN: pos = x < n->lo; break;
		case OP_GTE: pos = x >= n->lo; break;
		case OP_LTE: pos = x <= n->lo; break;
		default: pos = x >= n->lo && x <= n->hi; break;
		}
		break;
	}
	case OP_IN:
	case OP_NOT_IN: {
		if (!k) {
			pos = false;
			break;
		}
		if (k == '[') {
			/* the whole array may equal a list element: the jv way */
			int len = jv_array_length(jv_copy(n->value));
			for (int i = 0; i < len; i++) {
				jv el = jv_array_get(jv_copy(n->value), i);
				jv_kind ek = jv_get_kind(el);
				jv_free(el);
				if (ek == JV_KIND_ARRAY)
					return -1;
			}
			int a = arr_match(m->val, m->vlen, n->value, true);
			if (a < 0)
				return -1;
			pos = a;
			break;
		}
		if (k != '"' && k != '0')
			return -1;
		pos = false;
		int len = jv_array_length(jv_copy(n->value));
		for (int i = 0; !pos && i < len; i++) {
			jv el = jv_array_get(jv_copy(n->value), i);
			if (k == '"' && jv_get_kind(el) == JV_KIND_STRING)
				pos = (size_t)jv_string_length_bytes(jv_copy(el)) == m->vlen &&
				      memcmp(jv_string_value(el), m->val, m->vlen) == 0;
			else if (k == '0' && jv_get_kind(el) == JV_KIND_NUMBER)
				pos = strtod(m->val, NULL) == jv_number_value(el);
			jv_free(el);
		}
		break;
	}
	case OP_STARTS_WITH: {
		size_t want = (size_t)jv_string_length_bytes(jv_copy(n->value));
		pos = k == '"' && m->vlen >= want && memcmp(m->val, jv_string_value(n->value), want) == 0;
		break;
	}
	case OP_MATCHES:
		if (k != '"') {
			pos = false;
			break;
		}
		jrn_buf_reset(&r->scratch);
		if (jrn_buf_add(&r->scratch, m->val, m->vlen) < 0 || memchr(m->val, '\0', m->vlen))
			return -1;
		pos = regexec(&n->re, r->scratch.p, 0, NULL, 0) == 0;
		break;
	default:
		return -1;
	}
	return negative_op(n->op) ? !pos : pos;
}

/* The value at n's path in v (borrowed): owned, invalid when absent. */
static jv lookup(const node *n, jv v)
{
	jv cur = jv_copy(v);
	for (int i = 0; i < n->npath; i++) {
		jv_kind k = jv_get_kind(cur);
		if (k == JV_KIND_OBJECT) {
			cur = jv_object_get(cur, jv_copy(n->path[i]));
		} else if (k == JV_KIND_ARRAY && n->idx[i] >= 0) {
			cur = jv_array_get(cur, n->idx[i]);
		} else {
			jv_free(cur);
			return jv_invalid();
		}
		if (!jv_is_valid(cur))
			return cur;
	}
	return cur;
}

/* Borrows both. */
static bool same(jv a, jv b)
{
	return jv_equal(jv_copy(a), jv_copy(b));
}

static bool in_list(jv x, jv list)
{
	int n = jv_array_length(jv_copy(list));
	for (int i = 0; i < n; i++) {
		jv el = jv_array_get(jv_copy(list), i);
		bool eq = same(x, el);
		jv_free(el);
		if (eq)
			return true;
	}
	return false;
}

/* The field as a number or time for a comparison: true and *x, or false. */
static bool cmp_read(const node *n, jv got, double *x)
{
	if (n->vtype == V_NUMBER) {
		if (jv_get_kind(got) != JV_KIND_NUMBER)
			return false;
		*x = jv_number_value(got);
		return true;
	}
	if (jv_get_kind(got) != JV_KIND_STRING)
		return false;
	int64_t ms;
	if (jrn_time_parse(jv_string_value(got), (size_t)jv_string_length_bytes(jv_copy(got)),
			   JRN_TIME_DATE_OK, &ms, NULL) < 0)
		return false;
	*x = (double)ms;
	return true;
}

/* Borrows got; the positive form of the operator. */
static bool test_op(const node *n, jv got)
{
	jv_kind k = jv_get_kind(got);
	double x;
	switch (n->op) {
	case OP_IS_SET:
	case OP_IS_NOT_SET:
		return k != JV_KIND_INVALID && k != JV_KIND_NULL;
	case OP_EQUALS:
	case OP_NOT_EQUALS:
		return k != JV_KIND_INVALID && same(got, n->value);
	case OP_CONTAINS:
	case OP_NOT_CONTAINS:
		if (k == JV_KIND_STRING && jv_get_kind(n->value) == JV_KIND_STRING)
			return memmem(jv_string_value(got), (size_t)jv_string_length_bytes(jv_copy(got)),
				      jv_string_value(n->value),
				      (size_t)jv_string_length_bytes(jv_copy(n->value))) != NULL;
		if (k == JV_KIND_ARRAY)
			return in_list(n->value, got);
		return false;
	case OP_GREATER_THAN:
		return cmp_read(n, got, &x) && x > n->lo;
	case OP_LESS_THAN:
		return cmp_read(n, got, &x) && x < n->lo;
	case OP_GTE:
		return cmp_read(n, got, &x) && x >= n->lo;
	case OP_LTE:
		return cmp_read(n, got, &x) && x <= n->lo;
	case OP_BETWEEN:
		return cmp_read(n, got, &x) && x >= n->lo && x <= n->hi;
	case OP_IN:
	case OP_NOT_IN:
		if (k == JV_KIND_INVALID)
			return false;
		if (k == JV_KIND_ARRAY) {
			int len = jv_array_length(jv_copy(got));
			for (int i = 0; i < len; i++) {
				jv el = jv_array_get(jv_copy(got), i);
				bool hit = in_list(el, n->value);
				jv_free(el);
				if (hit)
					return true;
			}
			return in_list(got, n->value);
		}
		return in_list(got, n->value);
	case OP_STARTS_WITH: {
		if (k != JV_KIND_STRING)
			return false;
		size_t want = (size_t)jv_string_length_bytes(jv_copy(n->value));
		return (size_t)jv_string_length_bytes(jv_copy(got)) >= want &&
		       memcmp(jv_string_value(got), jv_string_value(n->value), want) == 0;
	}
	case OP_MATCHES:
		return k == JV_KIND_STRING && regexec(&n->re, jv_string_value(got), 0, NULL, 0) == 0;
	}
	return false;
}

static bool negative_op(int op)
{
	return op == OP_NOT_EQUALS || op == OP_NOT_CONTAINS || op == OP_NOT_IN || op == OP_IS_NOT_SET;
}

static void indent(jrn_buf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		jrn_buf_adds(b, "  ");
}

/* A short JSON rendering of v (borrowed) into b. */
static void show(jrn_buf *b, jv v)
{
	if (!jv_is_valid(v)) {
		jrn_buf_adds(b, "missing");
		return;
	}
	char tmp[80];
	jv_dump_string_trunc(jv_copy(v), tmp, sizeof tmp);
	jrn_buf_adds(b, tmp);
}

static void show_time(jrn_buf *b, double ms)
{
	char t[32];
	jrn_time_format((int64_t)ms, t);
	jrn_buf_adds(b, t);
}

/* The clause as written, normalised: "traits.plan equals \"pro\"". */
static void describe_leaf(jrn_buf *b, const node *n)
{
	jrn_buf_addf(b, "%s %s", n->field, op_names[n->op]);
	if (n->op == OP_IS_SET || n->op == OP_IS_NOT_SET)
		return;
	jrn_buf_addc(b, ' ');
	if (n->vtype == V_TIME) {
		if (n->op == OP_BETWEEN) {
			jrn_buf_addc(b, '[');
			show_time(b, n->lo);
			jrn_buf_addc(b, ',');
			show_time(b, n->hi);
			jrn_buf_addc(b, ']');
		} else {
			show_time(b, n->lo);
		}
		if (jv_get_kind(n->value) == JV_KIND_STRING &&
		    jrn_time_parse(jv_string_value(n->value),
				   (size_t)jv_string_length_bytes(jv_copy(n->value)), JRN_TIME_DATE_OK,
				   &(int64_t){0}, NULL) < 0) {
			jrn_buf_adds(b, " (");
			jrn_buf_adds(b, jv_string_value(n->value));
			jrn_buf_addc(b, ')');
		}
		return;
	}
	show(b, n->value);
}

static const char *count_sym(int op)
{
	switch (op) {
	case OP_EQUALS: return "=";
	case OP_GREATER_THAN: return ">";
	case OP_LESS_THAN: return "<";
	case OP_GTE: return ">=";
	case OP_LTE: return "<=";
	default: return "between";
	}
}

static void describe_event(jrn_buf *b, const node *n)
{
	jrn_buf_addf(b, "%s %s", n->negated ? "not_event" : "event", n->etype);
	if (!n->negated) {
		if (n->count_op == OP_BETWEEN)
			jrn_buf_addf(b, " count between [%g,%g]", n->count_lo, n->count_hi);
		else
			jrn_buf_addf(b, " count %s %g", count_sym(n->count_op), n->count_lo);
	}
	if (n->within) {
		int64_t w = n->within;
		if (w % 86400000 == 0)
			jrn_buf_addf(b, " within %lldd", (long long)(w / 86400000));
		else if (w % 3600000 == 0)
			jrn_buf_addf(b, " within %lldh", (long long)(w / 3600000));
		else
			jrn_buf_addf(b, " within %lldms", (long long)w);
	}
}

/* Loads the stored events of customer cust[0..len) into r's cache. */
static int load_events(jrn_rules *r, const char *cust, size_t len, jrn_err *e)
{
	if (r->cached && r->cust.len == len && memcmp(r->cust.p, cust, len) == 0)
		return 0;
	r->nrows = 0;
	r->cached = false;
	jrn_buf_reset(&r->text);
	jrn_buf_reset(&r->cust);
	if (jrn_buf_add(&r->cust, cust, len) < 0)
		return jrn_fail(e, "out of memory");
	if (!r->evq)
		return jrn_fail(e, "event leaves need the state file");
	sqlite3_stmt *st = r->evq;
	int64_t lo = r->events_unbounded ? INT64_MIN : r->now - r->events_window;
	if (sqlite3_bind_text(st, 1, cust, (int)len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, lo) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, r->now) != SQLITE_OK)
		goto db_fail;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nrows == r->caprows) {
			size_t cap = r->caprows ? r->caprows * 2 : 64;
			evrow *p = realloc(r->rows, cap * sizeof *p);
			if (!p) {
				sqlite3_reset(st);
				return jrn_fail(e, "out of memory");
			}
			r->rows = p;
			r->caprows = cap;
		}
		evrow *row = &r->rows[r->nrows];
		const unsigned char *type = sqlite3_column_text(st, 0);
		size_t tlen = (size_t)sqlite3_column_bytes(st, 0);
		row->ts = sqlite3_column_int64(st, 1);
		row->type_off = r->text.len;
		row->type_len = tlen;
		if (jrn_buf_add(&r->text, type ? (const char *)type : "", tlen) < 0 ||
		    jrn_buf_addc(&r->text, '\0') < 0) {
			sqlite3_reset(st);
			return jrn_fail(e, "out of memory");
		}
		const unsigned char *body = sqlite3_column_text(st, 2);
		size_t blen = body ? (size_t)sqlite3_column_bytes(st, 2) : 0;
		row->body_off = r->text.len;
		row->body_len = blen;
		if (blen && jrn_buf_add(&r->text, body, blen) < 0) {
			sqlite3_reset(st);
			return jrn_fail(e, "out of memory");
		}
		r->nrows++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		goto db_fail;
	r->cached = true;
	return 0;
db_fail:
	sqlite3_reset(st);
	return jrn_fail(e, "reading events: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
}

static int eval_node(ectx *x, const node *n, jrn_rule_rec *rec, int depth);

/* Whether the stored event body[0..len) matches n's where clause: it reads
 * the body's span index; the jv value is built only when a clause needs
 * it. 1, 0, or a JRN_RULE_ error. */
static int where_match(ectx *x, const node *n, const char *body, size_t len, int depth)
{
	jrn_rules *r = x->r;
	if (jrn_json_index_build(&r->evix, body, len, JRN_RULE_INDEX_DEPTH, NULL) < 0 ||
	    jrn_json_kind_at(body, len)[0] != 'o')
		return 0;
	jrn_rule_rec er = {body, len, &r->evix, jv_invalid(), &r->evparser};
	for (size_t k = 0; k < r->evix.n; k++)
		if (r->evix.m[k].kescaped)
			er.ix = NULL;
	jrn_buf *why = x->why;
	x->why = NULL;
	int rc = eval_node(x, n->kid[0], &er, depth + 1);
	x->why = why;
	jv_free(er.v);
	return rc;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* The preloaded customer's slot in r->slots: its entry, or the empty one
 * where it would go. */
static size_t *cust_slot(jrn_rules *r, const char *c, size_t n)
{
	size_t i = hash_bytes(c, n) & (r->nslots - 1);
	for (;; i = (i + 1) & (r->nslots - 1)) {
		size_t off = r->slots[i];
		if (!off)
			return &r->slots[i];
		const char *k = r->pool.p + off - 1;
		if (strlen(k) == n && memcmp(k, c, n) == 0)
			return &r->slots[i];
	}
}

/* The preloaded customer's index, adding it when add; -1 when absent or
 * out of memory (then *oom). */
static ssize_t cust_index(jrn_rules *r, const char *c, size_t n, bool add, bool *oom)
{
	if (!add) {
		if (!r->nslots)
			return -1;
		size_t *sl = cust_slot(r, c, n);
		if (!*sl)
			return -1;
		size_t off = *sl - 1;
		return (ssize_t)*(const size_t *)(r->pool.p + off - sizeof(size_t));
	}
	if ((r->ncust + 1) * 2 > r->nslots) {
		size_t ns = r->nslots ? r->nslots * 2 : 4096;
		size_t *old = r->slots, oldn = r->nslots;
		r->slots = calloc(ns, sizeof *r->slots);
		if (!r->slots) {
			r->slots = old;
			*oom = true;
			return -1;
		}
		r->nslots = ns;
		for (size_t i = 0; i < oldn; i++)
			if (old[i]) {
				const char *k = r->pool.p + old[i] - 1;
				*cust_slot(r, k, strlen(k)) = old[i];
			}
		free(old);
	}
	size_t *sl = cust_slot(r, c, n);
	if (*sl)
		return (ssize_t)*(const size_t *)(r->pool.p + *sl - 1 - sizeof(size_t));
	/* the pool holds, per customer: its index (aligned), then its id */
	size_t pad = (sizeof(size_t) - r->pool.len % sizeof(size_t)) % sizeof(size_t);
	size_t idx = r->ncust;
	if (jrn_buf_reserve(&r->pool, pad + sizeof idx + n + 1) < 0) {
		*oom = true;
		return -1;
	}
	memset(r->pool.p + r->pool.len, 0, pad);
	r->pool.len += pad;
	memcpy(r->pool.p + r->pool.len, &idx, sizeof idx);
	r->pool.len += sizeof idx;
	size_t off = r->pool.len;
	jrn_buf_add(&r->pool, c, n);
	jrn_buf_addc(&r->pool, '\0');
	sl = cust_slot(r, c, n);
	*sl = off + 1;
	if ((r->ncust + 1) * (size_t)r->nleaves > r->counts_cap) {
		size_t cap = r->counts_cap ? r->counts_cap * 2 : 4096 * (size_t)r->nleaves;
		uint32_t *p = realloc(r->counts, cap * sizeof *p);
		if (!p) {
			*oom = true;
			return -1;
		}
		r->counts = p;
		r->counts_cap = cap;
	}
	memset(r->counts + r->ncust * (size_t)r->nleaves, 0, (size_t)r->nleaves * sizeof *r->counts);
	r->ncust++;
	return (ssize_t)idx;
}

static int collect_leaves(jrn_rules *r, node *n, const char *seg)
{
	if (n->kind == N_EVENT) {
		n->segname = seg;
		const node **p = realloc(r->leaves, (size_t)(r->nleaves + 1) * sizeof *p);
		if (!p)
			return -1;
		r->leaves = p;
		n->leaf_id = r->nleaves;
		r->leaves[r->nleaves++] = n;
		return 0; /* where clauses hold no event leaves */
	}
	for (int i = 0; i < n->nkid; i++)
		if (collect_leaves(r, n->kid[i], seg) < 0)
			return -1;
	return 0;
}

int jrn_rule_preload(jrn_rules *r, sqlite3 *db, jrn_err *e)
{
	if (r->preloaded || !r->any_events)
		return 0;
	for (int i = 0; i < r->n; i++)
		if (collect_leaves(r, r->seg[i].root, r->seg[i].name) < 0)
			return jrn_fail(e, "out of memory");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT customer_id, type, ts, body FROM events", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	ectx x = {.r = r, .e = e, .seg = "", .top = NULL}; /* where clauses need no top */
	int rc;
	bool oom = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		size_t cn = (size_t)sqlite3_column_bytes(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		size_t tn = (size_t)sqlite3_column_bytes(st, 1);
		int64_t ts = sqlite3_column_int64(st, 2);
		if (!c || !type)
			continue;
		ssize_t ci = -1;
		for (int l = 0; l < r->nleaves; l++) {
			const node *n = r->leaves[l];
			if (ts > r->now || (n->within && ts < r->now - n->within) ||
			    strlen(n->etype) != tn || memcmp(n->etype, type, tn) != 0)
				continue;
			if (n->nkid) {
				const char *body = (const char *)sqlite3_column_text(st, 3);
				size_t bn = (size_t)sqlite3_column_bytes(st, 3);
				x.seg = n->segname;
				int m = body ? where_match(&x, n, body, bn, 1) : 0;
				if (m < 0) {
					sqlite3_finalize(st);
					return -1;
				}
				if (!m)
					continue;
			}
			if (ci < 0 && (ci = cust_index(r, c, cn, true, &oom)) < 0)
				break;
			r->counts[(size_t)ci * (size_t)r->nleaves + (size_t)l]++;
		}
		if (oom)
			break;
	}
	sqlite3_finalize(st);
	if (oom)
		return jrn_fail(e, "out of memory");
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "reading events: %s", sqlite3_errmsg(db));
	r->preloaded = true;
	return 0;
}

static int eval_event(ectx *x, const node *n, int depth)
{
	jrn_rules *r = x->r;
	jv cust = jv_invalid();
	const jrn_json_member *cm = x->top->ix ? jrn_json_find(x->top->ix, -1, "customerId") : NULL;
	if (cm && cm->kind == '"' && !cm->escaped) {
		cust = jv_string_sized(cm->val, (int)cm->vlen);
	} else {
		jv v = jrn_rule_rec_value(x->top, x->e);
		if (!jv_is_valid(v))
			return JRN_RULE_REJECT;
		cust = jv_object_get(jv_copy(v), jv_copy(r->key_customer));
	}
	double count = 0;
	int rc = 0;
	if (jv_get_kind(cust) == JV_KIND_STRING && r->preloaded) {
		bool oom = false;
		ssize_t ci = cust_index(r, jv_string_value(cust),
				       (size_t)jv_string_length_bytes(jv_copy(cust)), false, &oom);
		if (ci >= 0)
			count = r->counts[(size_t)ci * (size_t)r->nleaves + (size_t)n->leaf_id];
	} else if (jv_get_kind(cust) == JV_KIND_STRING) {
		if (load_events(r, jv_string_value(cust), (size_t)jv_string_length_bytes(jv_copy(cust)),
				x->e) < 0) {
			jv_free(cust);
			return JRN_RULE_FAIL;
		}
		int64_t lo = n->within ? r->now - n->within : INT64_MIN;
		for (size_t i = 0; i < r->nrows; i++) {
			evrow *row = &r->rows[i];
			if (row->ts < lo || row->ts > r->now || row->type_len != strlen(n->etype) ||
			    memcmp(r->text.p + row->type_off, n->etype, row->type_len) != 0)
				continue;
			if (n->nkid) {
				rc = where_match(x, n, r->text.p + row->body_off, row->body_len, depth);
				if (rc < 0) {
					jv_free(cust);
					return rc;
				}
				if (rc == 0)
					continue;
			}
			count++;
		}
	}
	jv_free(cust);
	bool in;
	switch (n->count_op) {
	case OP_EQUALS: in = count == n->count_lo; break;
	case OP_GREATER_THAN: in = count > n->count_lo; break;
	case OP_LESS_THAN: in = count < n->count_lo; break;
	case OP_LTE: in = count <= n->count_lo; break;
	case OP_BETWEEN: in = count >= n->count_lo && count <= n->count_hi; break;
	default: in = count >= n->count_lo; break;
	}
	if (n->negated)
		in = count == 0;
	if (x->why) {
		indent(x->why, depth);
		jrn_buf_addf(x->why, "%s  rule %d: ", in ? "yes" : "no ", n->rule_no);
		describe_event(x->why, n);
		jrn_buf_addf(x->why, "%s (found %g)\n", n->nkid ? " where ..." : "", count);
	}
	return in;
}

static int eval_node(ectx *x, const node *n, jrn_rule_rec *rec, int depth)
{
	int rc;
	switch (n->kind) {
	case N_ALL:
	case N_ANY: {
		bool want = n->kind == N_ANY; /* the value that decides */
		bool res = !want;
		size_t mark = x->why ? x->why->len : 0;
		if (x->why) {
			indent(x->why, depth);
			jrn_buf_adds(x->why, n->kind == N_ALL ? "?    all\n" : "?    any\n");
		}
		for (int i = 0; i < n->nkid; i++) {
			rc = eval_node(x, n->kid[i], rec, depth + 1);
			if (rc < 0)
				return rc;
			if ((rc == 1) == want) {
				res = want;
				if (!x->why)
					break;
			}
		}
		if (x->why)
			memcpy(x->why->p + mark + (size_t)depth * 2, res ? "yes" : "no ", 3);
		return res;
	}
	case N_NOT: {
		size_t mark = x->why ? x->why->len : 0;
		if (x->why) {
			indent(x->why, depth);
			jrn_buf_adds(x->why, "?    not\n");
		}
		rc = eval_node(x, n->kid[0], rec, depth + 1);
		if (rc < 0)
			return rc;
		if (x->why)
			memcpy(x->why->p + mark + (size_t)depth * 2, !rc ? "yes" : "no ", 3);
		return !rc;
	}
	case N_FIELD: {
		if (rec->ix && !x->why && (rc = fast_leaf(x->r, n, rec)) >= 0)
			return rc;
		jv v = jrn_rule_rec_value(rec, x->e);
		if (!jv_is_valid(v))
			return JRN_RULE_REJECT;
		jv got = lookup(n, v);
		bool res = test_op(n, got);
		if (negative_op(n->op))
			res = !res;
		if (x->why) {
			indent(x->why, depth);
			jrn_buf_addf(x->why, "%s  rule %d: ", res ? "yes" : "no ", n->rule_no);
			describe_leaf(x->why, n);
			jrn_buf_adds(x->why, " (got ");
			show(x->why, got);
			jrn_buf_adds(x->why, ")\n");
		}
		jv_free(got);
		return res;
	}
	case N_JQ: {
		jv v = jrn_rule_rec_value(rec, x->e);
		if (!jv_is_valid(v))
			return JRN_RULE_REJECT;
		jq_start(n->jq, jv_copy(v), 0);
		jv out = jq_next(n->jq);
		bool res;
		if (!jv_is_valid(out)) {
			if (jv_invalid_has_msg(jv_copy(out))) {
				jv msg = jv_invalid_get_msg(out);
				if (jv_get_kind(msg) == JV_KIND_STRING)
					jrn_fail(x->e, "segment '%s', rule %d: jq: %s", x->seg, n->rule_no,
						 jv_string_value(msg));
				else {
					char tmp[200];
					jv_dump_string_trunc(jv_copy(msg), tmp, sizeof tmp);
					jrn_fail(x->e, "segment '%s', rule %d: jq: %s", x->seg, n->rule_no, tmp);
				}
				jv_free(msg);
				return JRN_RULE_REJECT;
			}
			jv_free(out);
			res = false;
		} else {
			jv_kind k = jv_get_kind(out);
			res = k != JV_KIND_NULL && k != JV_KIND_FALSE;
			if (x->why) {
				indent(x->why, depth);
				jrn_buf_addf(x->why, "%s  rule %d: jq %s (got ", res ? "yes" : "no ",
					     n->rule_no, n->text);
				show(x->why, out);
				jrn_buf_adds(x->why, ")\n");
			}
			jv_free(out);
			return res;
		}
		if (x->why) {
			indent(x->why, depth);
			jrn_buf_addf(x->why, "no   rule %d: jq %s (no output)\n", n->rule_no, n->text);
		}
		return res;
	}
	case N_EVENT:
		return eval_event(x, n, depth);
	}
	return 0;
}

int jrn_rule_eval_rec(jrn_rules *r, int i, jrn_rule_rec *rec, jrn_buf *why, jrn_err *e)
{
	if (i < 0 || i >= r->n)
		return jrn_fail(e, "no segment %d", i), JRN_RULE_FAIL;
	ectx x = {.r = r, .why = why, .e = e, .seg = r->seg[i].name, .top = rec};
	return eval_node(&x, r->seg[i].root, rec, 1);
}

int jrn_rule_eval(jrn_rules *r, int i, jv rec, jrn_buf *why, jrn_err *e)
{
	jrn_rule_rec rr = {.v = rec};
	return jrn_rule_eval_rec(r, i, &rr, why, e);
}

/* ---- explaining ------------------------------------------------------------------ */

static void explain_node(jrn_buf *b, const node *n, int depth)
{
	indent(b, depth);
	switch (n->kind) {
	case N_ALL:
		jrn_buf_adds(b, "all");
		break;
	case N_ANY:
		jrn_buf_adds(b, "any");
		break;
	case N_NOT:
		jrn_buf_adds(b, "not");
		break;
	case N_FIELD:
		jrn_buf_addf(b, "rule %d: ", n->rule_no);
		describe_leaf(b, n);
		jrn_buf_adds(b, "  [path");
		for (int i = 0; i < n->npath; i++) {
			jrn_buf_addc(b, ' ');
			jrn_json_append_str(b, jv_string_value(n->path[i]),
					    (size_t)jv_string_length_bytes(jv_copy(n->path[i])));
		}
		if (n->vtype)
			jrn_buf_adds(b, n->vtype == V_TIME ? "; compared as times" : "; compared as numbers");
		if (n->op == OP_MATCHES)
			jrn_buf_adds(b, "; POSIX extended regex");
		jrn_buf_addc(b, ']');
		break;
	case N_JQ:
		jrn_buf_addf(b, "rule %d: jq %s", n->rule_no, n->text);
		break;
	case N_EVENT:
		jrn_buf_addf(b, "rule %d: ", n->rule_no);
		describe_event(b, n);
		if (n->nkid)
			jrn_buf_adds(b, " where");
		break;
	}
	if (n->line > 0)
		jrn_buf_addf(b, "  (line %d)", n->line);
	jrn_buf_addc(b, '\n');
	for (int i = 0; i < n->nkid; i++)
		explain_node(b, n->kid[i], depth + 1);
}

int jrn_rule_explain(const jrn_rules *r, int i, jrn_buf *out)
{
	if (i < 0 || i >= r->n)
		return -1;
	const segment *s = &r->seg[i];
	jrn_buf_addf(out, "segment %s", s->name);
	if (r->file && s->line > 0)
		jrn_buf_addf(out, " (%s:%d)", r->file, s->line);
	else if (r->file)
		jrn_buf_addf(out, " (%s)", r->file);
	jrn_buf_addc(out, '\n');
	if (s->description)
		jrn_buf_addf(out, "  description: %s\n", s->description);
	char t[32];
	jrn_time_format(r->now, t);
	jrn_buf_addf(out, "  now: %s\n", t);
	explain_node(out, s->root, 1);
	return out->p ? 0 : -1;
}
