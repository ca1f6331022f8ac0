/*
 * jsonschema-validate.c: validating an instance against a compiled schema
 * (jsonschema.h). A path into the instance is a chain of segments on the C
 * stack, rendered only when an error is reported, so a valid instance costs
 * no allocation.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema-int.h"

/* A step of the path from the instance's top to the value checked: a
 * member name (key != NULL) or an array index. Lives on the C stack. */
typedef struct seg {
	const struct seg *up;
	const char *key;
	size_t klen, idx;
} seg;

typedef struct {
	int n;        /* errors found */
	int limit;    /* stop at this many */
	bool collect; /* build the error objects into errs */
	bool oom;
	jv errs;
} vctx;

static bool full(const vctx *v)
{
	return v->n >= v->limit;
}

static int path_render(jrn_buf *b, const seg *s)
{
	if (!s)
		return 0;
	if (path_render(b, s->up) < 0)
		return -1;
	if (s->key)
		return jrn_schema_ptr_add(b, s->key, s->klen);
	return jrn_buf_addf(b, "/%zu", s->idx);
}

/* x (borrowed) as JSON text for a message, cut after 80 bytes; the
 * caller frees it */
static char *show(jv x)
{
	jrn_buf b = {0};
	jrn_err e;
	if (jrn_json_append(&b, jv_copy(x), 0, &e) < 0 || !b.p) {
		jrn_buf_free(&b);
		return strdup("(a value)");
	}
	if (b.len > 80) {
		size_t cut = 80;
		while (cut > 0 && (b.p[cut] & 0xC0) == 0x80)
			cut--;
		b.len = cut;
		b.p[cut] = 0;
		jrn_buf_adds(&b, "...");
	}
	return b.p;
}

static char *show_number(double d)
{
	return show(jv_number(d));
}

/* counts an error; when collecting, adds {path, keyword, message} with the
 * message "PATH: " + fmt ("(root)" for the whole instance) */
__attribute__((format(printf, 4, 5)))
static void report(vctx *v, const seg *at, const char *kw, const char *fmt, ...)
{
	if (full(v))
		return;
	v->n++;
	if (!v->collect || v->oom)
		return;
	jrn_buf p = {0}, m = {0};
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || path_render(&p, at) < 0 || jrn_buf_adds(&p, "") < 0 ||
	    jrn_buf_addf(&m, "%s: %s", p.len ? p.p : "(root)", msg) < 0) {
		v->oom = true;
	} else {
		jv o = jv_object();
		o = jv_object_set(o, jv_string("path"), jv_string(p.p));
		o = jv_object_set(o, jv_string("keyword"), jv_string(kw));
		o = jv_object_set(o, jv_string("message"), jv_string(m.p));
		v->errs = jv_array_append(v->errs, o);
	}
	if (r >= 0)
		free(msg);
	jrn_buf_free(&p);
	jrn_buf_free(&m);
}

static void validate(vctx *v, const node *n, jv x, const seg *at, int depth);

/* whether x is valid against n (checked quietly, to the first error) */
static bool passes(const node *n, jv x, const seg *at, int depth)
{
	vctx q = {.limit = 1};
	validate(&q, n, x, at, depth);
	return q.n == 0;
}

static unsigned kind_bits(jv x)
{
	switch (jv_get_kind(x)) {
	case JV_KIND_NULL: return T_NULL;
	case JV_KIND_TRUE:
	case JV_KIND_FALSE: return T_BOOLEAN;
	case JV_KIND_OBJECT: return T_OBJECT;
	case JV_KIND_ARRAY: return T_ARRAY;
	case JV_KIND_STRING: return T_STRING;
	case JV_KIND_NUMBER: {
		double d = jv_number_value(x);
		return T_NUMBER | (isfinite(d) && d == floor(d) ? T_INTEGER : 0);
	}
	default: return 0;
	}
}

static void type_error(vctx *v, const node *n, jv x, const seg *at)
{
	if (!v->collect)
		return report(v, at, "type", "wrong type");
	char want[160] = "";
	size_t len = 0, count = 0, total = (size_t)__builtin_popcount(n->types);
	size_t nt = 7;
	for (size_t jj = 1; jj <= nt; jj++) {  /* null last: "string or null" */
		size_t j = jj % nt;
		if (!(n->types & (1u << j)))
			continue;
		count++;
		len += (size_t)snprintf(want + len, sizeof want - len, "%s%s",
					count == 1 ? "" : count == total ? " or " : ", ", jrn_schema_type_names[j]);
	}
	unsigned got = kind_bits(x);
	const char *gotname = got & T_INTEGER && !(n->types & T_NUMBER) ? "a number"
			    : got & T_NUMBER ? "a number" : got & T_STRING ? "a string"
			    : got & T_OBJECT ? "an object" : got & T_ARRAY ? "an array"
			    : got & T_BOOLEAN ? "a boolean" : "null";
	char *s = show(x);
	report(v, at, "type", "%s is %s, not %s", s, gotname, want);
	free(s);
}

static void enum_error(vctx *v, const node *n, jv x, const seg *at)
{
	if (!v->collect)
		return report(v, at, "enum", "not allowed");
	jrn_buf list = {0};
	jv_array_foreach(n->enumv, i, m) {
		if (list.len < 600) {
			if (i)
				jrn_buf_adds(&list, ", ");
			if (jv_get_kind(m) == JV_KIND_STRING) {
				jrn_buf_adds(&list, jv_string_value(m));
			} else {
				char *s = show(m);
				jrn_buf_adds(&list, s);
				free(s);
			}
		} else if (!strstr(list.p, ", ...")) {
			jrn_buf_adds(&list, ", ...");
		}
		jv_free(m);
	}
	char *s = show(x);
	report(v, at, "enum", "%s is not one of %s", s, list.p ? list.p : "(nothing)");
	free(s);
	jrn_buf_free(&list);
}

static bool in_enum(const node *n, jv x)
{
	if (jv_get_kind(x) == JV_KIND_STRING) {  /* a string equals only a string */
		const char *s = jv_string_value(x);
		size_t len = (size_t)jv_string_length_bytes(jv_copy(x));
		for (size_t i = 0; i < n->nenum_strs; i++)
			if (n->enum_lens[i] == len && memcmp(n->enum_strs[i], s, len) == 0)
				return true;
		return false;
	}
	if (!n->enum_others)
		return false;
	bool found = false;
	jv_array_foreach(n->enumv, i, m) {
		if (!found && jv_equal(jv_copy(m), jv_copy(x)))
			found = true;
		jv_free(m);
	}
	return found;
}

static bool multiple_of(double d, double m)
{
	double q = d / m;
	if (!isfinite(q))
		return false;
	return fabs(q - nearbyint(q)) <= 1e-9 * fmax(1.0, fabs(q));
}

static void check_number(vctx *v, const node *n, jv x, const seg *at)
{
	double d = jv_number_value(x);
	static const struct { int bit; const char *kw, *what; } tests[] = {
		{H_MINIMUM, "minimum", "is below the minimum"},
		{H_MAXIMUM, "maximum", "is above the maximum"},
		{H_XMIN, "exclusiveMinimum", "is not above the exclusive minimum"},
		{H_XMAX, "exclusiveMaximum", "is not below the exclusive maximum"},
		{H_MULTIPLE, "multipleOf", "is not a multiple of"},
	};
	for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
		if (!(n->has & tests[i].bit))
			continue;
		double b = i == 0 ? n->minimum : i == 1 ? n->maximum : i == 2 ? n->xmin
			 : i == 3 ? n->xmax : n->multiple;
		bool bad = i == 0 ? d < b : i == 1 ? d > b : i == 2 ? d <= b : i == 3 ? d >= b
			 : !multiple_of(d, b);
		if (!bad)
			continue;
		if (!v->collect) {
			report(v, at, tests[i].kw, "out of range");
			continue;
		}
		char *sx = show(x), *sb = show_number(b);
		report(v, at, tests[i].kw, "%s %s %s", sx, tests[i].what, sb);
		free(sx);
		free(sb);
	}
}

static void check_string(vctx *v, const node *n, jv x, const seg *at)
{
	const char *s = jv_string_value(x);
	size_t bytes = (size_t)jv_string_length_bytes(jv_copy(x));
	if (n->has & (H_MINLEN | H_MAXLEN)) {
		uint64_t cps = 0;   /* code points: bytes that do not continue one */
		for (size_t i = 0; i < bytes; i++)
			cps += ((unsigned char)s[i] & 0xC0) != 0x80;
		if ((n->has & H_MINLEN) && cps < n->minlen)
			report(v, at, "minLength", "the string is %" PRIu64 " characters long, shorter "
			       "than the minimum length %" PRIu64, cps, n->minlen);
		if ((n->has & H_MAXLEN) && cps > n->maxlen)
			report(v, at, "maxLength", "the string is %" PRIu64 " characters long, longer "
			       "than the maximum length %" PRIu64, cps, n->maxlen);
	}
	if (n->pattern && !jrn_schema_regex_search(n->pattern, s, bytes)) {
		char *sx = v->collect ? show(x) : NULL;
		report(v, at, "pattern", "%s does not match the pattern %s", sx ? sx : "",
		       n->pattern_src);
		free(sx);
	}
}

/* uniqueItems compares every pair of an array up to this long, without
 * allocating; a longer one is sorted (O(n log n)) */
#define UNIQUE_SMALL 32

/* uniqueItems for a long array: its indices sorted by item (jv_sort's
 * order, in which items that are JSON-equal are neighbours, stable), then
 * each neighbour pair compared */
static void unique_sorted(vctx *v, jv x, size_t len, const seg *at)
{
	jv idx = jv_array();
	for (size_t i = 0; i < len; i++)
		idx = jv_array_append(idx, jv_number((double)i));
	jv sorted = jv_sort(idx, jv_copy(x));
	size_t prev = (size_t)jv_number_value(jv_array_get(jv_copy(sorted), 0));
	for (size_t k = 1; k < len && !full(v); k++) {
		size_t cur = (size_t)jv_number_value(jv_array_get(jv_copy(sorted), (int)k));
		if (jv_equal(jv_array_get(jv_copy(x), (int)prev), jv_array_get(jv_copy(x), (int)cur)))
			report(v, at, "uniqueItems", "items %zu and %zu are equal, but the items "
			       "must be unique", prev, cur);
		else
			prev = cur;
	}
	jv_free(sorted);
}

static void check_array(vctx *v, const node *n, jv x, const seg *at, int depth)
{
	size_t len = (size_t)jv_array_length(jv_copy(x));
	if ((n->has & H_MINITEMS) && len < n->minitems)
		report(v, at, "minItems", "the array has %zu items, fewer than the minimum %" PRIu64,
		       len, n->minitems);
	if ((n->has & H_MAXITEMS) && len > n->maxitems)
		report(v, at, "maxItems", "the array has %zu items, more than the maximum %" PRIu64,
		       len, n->maxitems);
	if (n->tuple_form && n->additems && n->additems->boolean == 0 && len > n->tuple.n) {
		report(v, at, "additionalItems", "the array has %zu items, at most %zu are allowed",
		       len, n->tuple.n);
	}
	bool contained = false;
	for (size_t i = 0; i < len && !full(v); i++) {
		jv it = jv_array_get(jv_copy(x), (int)i);
		seg s = {at, NULL, 0, i};
		const node *sub = n->items;
		if (n->tuple_form)
			sub = i < n->tuple.n ? n->tuple.v[i]
			    : n->additems && n->additems->boolean != 0 ? n->additems : NULL;
		if (sub)
			validate(v, sub, it, &s, depth + 1);
		if (n->contains && !contained)
			contained = passes(n->contains, it, &s, depth + 1);
		if (n->unique && len <= UNIQUE_SMALL) {
			for (size_t j = i + 1; j < len && !full(v); j++) {
				jv other = jv_array_get(jv_copy(x), (int)j);
				if (jv_equal(jv_copy(it), other))
					report(v, at, "uniqueItems", "items %zu and %zu are equal, but the "
					       "items must be unique", i, j);
			}
		}
		jv_free(it);
	}
	if (n->unique && len > UNIQUE_SMALL && !full(v))
		unique_sorted(v, x, len, at);
	if (n->contains && !contained)
		report(v, at, "contains", "no item of the array matches the contains schema");
}

static bool has_member(jv x, const char *name)
{
	return jv_object_has(jv_copy(x), jv_string(name));
}

/* one member name (borrowed) of x against properties, patternProperties,
 * additionalProperties and propertyNames; returns whether it is required */
static bool check_member(vctx *v, const node *n, jv name, jv val, const seg *at, int depth)
{
	const char *k = jv_string_value(name);
	size_t klen = (size_t)jv_string_length_bytes(jv_copy(name));
	seg s = {at, k, klen, 0};
	bool matched = false, required = false;
	for (size_t i = 0; i < n->nprops; i++) {
		const prop *p = &n->props[i];
		if (p->len == klen && memcmp(p->name, k, klen) == 0) {
			required = p->required;
			if (p->schema) {
				matched = true;
				validate(v, p->schema, val, &s, depth + 1);
			}
			break;
		}
	}
	for (size_t i = 0; i < n->npats && !full(v); i++) {
		if (jrn_schema_regex_search(n->pats[i].re, k, klen)) {
			matched = true;
			validate(v, n->pats[i].schema, val, &s, depth + 1);
		}
	}
	if (!matched && n->addprops && !full(v)) {
		if (n->addprops->boolean == 0) {
			jrn_buf allowed = {0};
			for (size_t i = 0; v->collect && i < n->nprops && allowed.len < 600; i++)
				if (n->props[i].schema)
					jrn_buf_addf(&allowed, "%s%s", allowed.len ? ", " : "",
						     n->props[i].name);
			report(v, &s, "additionalProperties", "the member \"%s\" is not allowed%s%s%s",
			       k, allowed.p ? " (allowed: " : "", allowed.p ? allowed.p : "",
			       allowed.p ? ")" : "");
			jrn_buf_free(&allowed);
		} else {
			validate(v, n->addprops, val, &s, depth + 1);
		}
	}
	if (n->propnames && !full(v) && !passes(n->propnames, name, &s, depth + 1))
		report(v, &s, "propertyNames", "the member name \"%s\" is not allowed by "
		       "propertyNames", k);
	return required;
}

static void check_object(vctx *v, const node *n, jv x, const seg *at, int depth)
{
	size_t count = 0, required = 0;
	jv_object_foreach(x, name, val) {
		count++;
		if (!full(v) && check_member(v, n, name, val, at, depth))
			required++;
		jv_free(name);
		jv_free(val);
	}
	if ((n->has & H_MINPROPS) && count < n->minprops)
		report(v, at, "minProperties", "the object has %zu members, fewer than the minimum "
		       "%" PRIu64, count, n->minprops);
	if ((n->has & H_MAXPROPS) && count > n->maxprops)
		report(v, at, "maxProperties", "the object has %zu members, more than the maximum "
		       "%" PRIu64, count, n->maxprops);
	if (required < n->nrequired && !full(v))
		for (size_t i = 0; i < n->nprops; i++)
			if (n->props[i].required && !has_member(x, n->props[i].name))
				report(v, at, "required", "the required member \"%s\" is missing",
				       n->props[i].name);
	for (size_t i = 0; i < n->ndeps && !full(v); i++) {
		const dependency *d = &n->deps[i];
		if (!has_member(x, d->name))
			continue;
		if (d->schema)
			validate(v, d->schema, x, at, depth + 1);
		for (size_t j = 0; j < d->nnames; j++)
			if (!has_member(x, d->names[j]))
				report(v, at, "dependencies", "the member \"%s\" is required when \"%s\" "
				       "is present", d->names[j], d->name);
	}
}

static void check_logic(vctx *v, const node *n, jv x, const seg *at, int depth)
{
	for (size_t i = 0; i < n->allof.n && !full(v); i++)
		validate(v, n->allof.v[i], x, at, depth + 1);
	if (n->anyof.n && !full(v)) {
		bool any = false;
		for (size_t i = 0; i < n->anyof.n && !any; i++)
			any = passes(n->anyof.v[i], x, at, depth + 1);
		if (!any)
			report(v, at, "anyOf", "the value matches none of the %zu schemas of anyOf",
			       n->anyof.n);
	}
	if (n->oneof.n && !full(v)) {
		size_t ok = 0;
		for (size_t i = 0; i < n->oneof.n && ok < 2; i++)
			ok += passes(n->oneof.v[i], x, at, depth + 1);
		if (ok != 1)
			report(v, at, "oneOf", "the value matches %s of the %zu schemas of oneOf, "
			       "it must match exactly one", ok ? "more than one" : "none", n->oneof.n);
	}
	if (n->not_ && !full(v) && passes(n->not_, x, at, depth + 1))
		report(v, at, "not", "the value matches the schema of not, which it must not");
	if (n->if_ && !full(v)) {
		const node *next = passes(n->if_, x, at, depth + 1) ? n->then_ : n->else_;
		if (next)
			validate(v, next, x, at, depth + 1);
	}
}

static void validate(vctx *v, const node *n, jv x, const seg *at, int depth)
{
	if (full(v))
		return;
	if (depth > JRN_SCHEMA_MAX_DEPTH)
		return report(v, at, "depth", "nested deeper than %d levels "
			      "(JRN_SCHEMA_MAX_DEPTH); not checked further", JRN_SCHEMA_MAX_DEPTH);
	if (n->ref)
		return validate(v, n->ref, x, at, depth + 1);
	if (n->boolean >= 0) {
		if (n->boolean == 0)
			report(v, at, "false", "no value is allowed here");
		return;
	}
	unsigned bits = kind_bits(x);
	if (n->types && !(n->types & bits))
		type_error(v, n, x, at);
	if ((n->has & H_ENUM) && !in_enum(n, x))
		enum_error(v, n, x, at);
	if ((n->has & H_CONST) && !jv_equal(jv_copy(n->constv), jv_copy(x))) {
		char *s = v->collect ? show(n->constv) : NULL;
		report(v, at, "const", "the value must be %s", s ? s : "");
		free(s);
	}
	if (bits & T_NUMBER)
		check_number(v, n, x, at);
	else if (bits & T_STRING)
		check_string(v, n, x, at);
	else if (bits & T_ARRAY)
		check_array(v, n, x, at, depth);
	else if (bits & T_OBJECT)
		check_object(v, n, x, at, depth);
	check_logic(v, n, x, at, depth);
}

int jrn_schema_validate(const jrn_schema *s, jv instance, jv *errors)
{
	vctx v = {.limit = JRN_SCHEMA_MAX_ERRORS, .collect = errors != NULL};
	v.errs = errors ? jv_array() : jv_invalid();
	validate(&v, s->root, instance, NULL, 0);
	if (errors)
		*errors = v.errs;
	return v.oom ? -1 : v.n;
}
