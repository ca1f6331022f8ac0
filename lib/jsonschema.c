/*
 * jsonschema.c: compiling a JSON Schema draft 7 (see jsonschema.h for what
 * is held to which standard) into a graph of nodes (jsonschema-int.h): a
 * $ref is an edge, so recursive schemas are loops. Nodes are named by base
 * URI "#" JSON Pointer while compiling, so every location compiles once.
 * jsonschema-validate.c walks an instance beside the graph.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema-int.h"

/* a name for a compiled node (base URI "#" JSON Pointer), or a resource (a
 * document or a subschema with $id) */
typedef struct {
	char *key;
	node *n;
	jv doc;
} entry;

typedef struct {
	entry *v;
	size_t n, cap;
} table;


/* ---- the draft-07 meta-schema, http://json-schema.org/draft-07/schema ---- */

/* As published at that address (draft-handrews-json-schema-validation-01's
 * meta-schema), compacted. */
static const char meta_schema[] =
#include "jsonschema-meta.inc"
	;
static const char meta_uri[] = "http://json-schema.org/draft-07/schema";

const char *const jrn_schema_type_names[7] = {
	"null", "boolean", "object", "array", "number", "string", "integer",
};

/* ---- small helpers ---------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
	return realloc(p, n ? n : 1);
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

int jrn_schema_ptr_add(jrn_buf *b, const char *name, size_t len)
{
	if (jrn_buf_addc(b, '/') < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int r = name[i] == '~' ? jrn_buf_adds(b, "~0")
		      : name[i] == '/' ? jrn_buf_adds(b, "~1") : jrn_buf_addc(b, name[i]);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* ---- compiling -------------------------------------------------------------- */

typedef struct {
	jrn_schema *s;
	jrn_err *e;
	table memo;      /* key -> node */
	table res;       /* resource URI (or URI#name) -> its jv */
	table unknown;   /* keys of members that are not keywords */
	bool meta_loaded;
	bool failed;
} cctx;

static int table_put(table *t, const char *key, node *n, jv doc)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		entry *v = xrealloc(t->v, cap * sizeof *v);
		if (!v)
			return -1;
		t->v = v;
		t->cap = cap;
	}
	char *k = strdup(key);
	if (!k)
		return -1;
	t->v[t->n++] = (entry){k, n, doc};
	return 0;
}

static entry *table_get(const table *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
	return NULL;
}

static void table_free(table *t, bool docs)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].key);
		if (docs)
			jv_free(t->v[i].doc);
	}
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* records a compile error once (the first one wins); where is the key of
 * the schema location (base URI "#" JSON Pointer) */
__attribute__((format(printf, 3, 4)))
static node *cfail(cctx *c, const char *where, const char *fmt, ...)
{
	if (!c->failed) {
		char msg[900];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		const char *hash = strchr(where, '#');
		const char *ptr = hash ? hash + 1 : where;
		size_t pl = strlen(ptr);
		if (pl > 200) /* keep the message whole: the pointer's end */
			jrn_fail(c->e, "schema at .../%s: %s", ptr + pl - 120, msg);
		else if (*ptr)
			jrn_fail(c->e, "schema at %s: %s", ptr, msg);
		else
			jrn_fail(c->e, "schema: %s", msg);
		c->failed = true;
	}
	return NULL;
}

static node *new_node(cctx *c, int boolean)
{
	jrn_schema *s = c->s;
	if (s->nnodes == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		node **v = xrealloc(s->nodes, cap * sizeof *v);
		if (!v)
			return cfail(c, "", "out of memory");
		s->nodes = v;
		s->cap = cap;
	}
	node *n = calloc(1, sizeof *n);
	if (!n)
		return cfail(c, "", "out of memory");
	n->boolean = boolean;
	n->enumv = jv_null();
	n->constv = jv_null();
	s->nodes[s->nnodes++] = n;
	return n;
}

static void regex_free(pcre2_code *re);

static void free_node(node *n)
{
	jv_free(n->enumv);
	for (size_t i = 0; i < n->nenum_strs; i++)
		free(n->enum_strs[i]);
	free(n->enum_strs);
	free(n->enum_lens);
	jv_free(n->constv);
	free(n->pattern_src);
	regex_free(n->pattern);
	for (size_t i = 0; i < n->nprops; i++)
		free(n->props[i].name);
	free(n->props);
	for (size_t i = 0; i < n->npats; i++) {
		free(n->pats[i].src);
		regex_free(n->pats[i].re);
	}
	free(n->pats);
	for (size_t i = 0; i < n->ndeps; i++) {
		free(n->deps[i].name);
		for (size_t j = 0; j < n->deps[i].nnames; j++)
			free(n->deps[i].names[j]);
		free(n->deps[i].names);
	}
	free(n->deps);
	free(n->tuple.v);
	free(n->allof.v);
	free(n->anyof.v);
	free(n->oneof.v);
	free(n);
}

/* ---- URIs (RFC 3986 section 5.2, without dot segments) ---- */

static size_t scheme_len(const char *u)
{
	size_t i = 0;
	if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
		return 0;
	while (u[i] && (u[i] == '+' || u[i] == '-' || u[i] == '.' ||
			(u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'z') ||
			(u[i] >= 'A' && u[i] <= 'Z')))
		i++;
	return u[i] == ':' ? i + 1 : 0;
}

/* ref resolved against base (neither has to be absolute) into b */
static int uri_resolve(jrn_buf *b, const char *base, const char *ref)
{
	jrn_buf_reset(b);
	size_t blen = strcspn(base, "#");
	if (scheme_len(ref) || !*base)
		return jrn_buf_adds(b, ref);
	if (ref[0] == '#')
		return jrn_buf_add(b, base, blen) < 0 ? -1 : jrn_buf_adds(b, ref);
	size_t sl = scheme_len(base);
	if (ref[0] == '/' && ref[1] == '/')
		return jrn_buf_add(b, base, sl) < 0 ? -1 : jrn_buf_adds(b, ref);
	size_t auth_end = sl; /* end of scheme://authority */
	if (base[sl] == '/' && base[sl + 1] == '/')
		auth_end = sl + 2 + strcspn(base + sl + 2, "/#?");
	if (ref[0] == '/')
		return jrn_buf_add(b, base, auth_end) < 0 ? -1 : jrn_buf_adds(b, ref);
	size_t dir = blen;
	while (dir > auth_end && base[dir - 1] != '/')
		dir--;
	if (jrn_buf_add(b, base, dir) < 0)
		return -1;
	if (dir == auth_end && auth_end > sl && jrn_buf_addc(b, '/') < 0)
		return -1;
	return jrn_buf_adds(b, ref);
}

/* decodes %XX escapes of s in place (RFC 3986 section 2.1) */
static void percent_decode(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		int hi, lo;
		if (p[0] == '%' && p[1] && p[2] &&
		    (hi = (p[1] >= 'a' ? p[1] - 'a' + 10 : p[1] >= 'A' ? p[1] - 'A' + 10 : p[1] - '0')) >= 0 &&
		    hi < 16 &&
		    (lo = (p[2] >= 'a' ? p[2] - 'a' + 10 : p[2] >= 'A' ? p[2] - 'A' + 10 : p[2] - '0')) >= 0 &&
		    lo < 16) {
			*o++ = (char)(hi * 16 + lo);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
}

/* Finds the subschemas of doc that carry $id and records them in c->res
 * under their absolute URI (and URI#name for a plain-name fragment). The
 * values of enum, const, default and examples are data, not schemas. */
static int scan_ids(cctx *c, jv doc, const char *base, int depth)
{
	jv_kind k = jv_get_kind(doc);
	if (depth > JRN_SCHEMA_MAX_DEPTH || (k != JV_KIND_OBJECT && k != JV_KIND_ARRAY))
		return 0;
	jrn_buf here = {0};
	int rc = 0;
	if (k == JV_KIND_OBJECT) {
		jv id = jv_object_get(jv_copy(doc), jv_string("$id"));
		jv ref = jv_object_get(jv_copy(doc), jv_string("$ref"));
		bool has_ref = jv_get_kind(ref) == JV_KIND_STRING;
		jv_free(ref);
		if (!has_ref && jv_get_kind(id) == JV_KIND_STRING) {
			if (uri_resolve(&here, base, jv_string_value(id)) < 0) {
				rc = -1;
			} else {
				char *hash = strchr(here.p, '#');
				if (hash && (!hash[1] || hash[1] == '/'))
					here.len = (size_t)(hash - here.p), *hash = 0;
				if (!table_get(&c->res, here.p))
					rc = table_put(&c->res, here.p, NULL, jv_copy(doc));
				base = here.p;
			}
		}
		jv_free(id);
		jv_object_foreach(doc, key, val) {
			const char *kn = jv_string_value(key);
			if (rc == 0 && strcmp(kn, "enum") && strcmp(kn, "const") &&
			    strcmp(kn, "default") && strcmp(kn, "examples"))
				rc = scan_ids(c, val, base, depth + 1);
			jv_free(key);
			jv_free(val);
		}
	} else {
		jv_array_foreach(doc, i, val) {
			if (rc == 0)
				rc = scan_ids(c, val, base, depth + 1);
			jv_free(val);
		}
	}
	jrn_buf_free(&here);
	return rc;
}

static node *compile(cctx *c, jv sch, const char *base, const char *key, int depth);

/* compiles member `name` of schema object sch (a subschema) */
static node *sub(cctx *c, jv sch, const char *name, const char *base, const char *key, int depth)
{
	jrn_buf k = {0};
	jv v = jv_object_get(jv_copy(sch), jv_string(name));
	node *n = NULL;
	if (jrn_buf_adds(&k, key) < 0 || jrn_schema_ptr_add(&k, name, strlen(name)) < 0)
		cfail(c, key, "out of memory");
	else
		n = compile(c, v, base, k.p, depth + 1);
	jv_free(v);
	jrn_buf_free(&k);
	return n;
}

/* compiles the array member `name` of sch, each item a schema, into l */
static int sub_list(cctx *c, jv sch, const char *name, node_list *l, bool nonempty,
		    const char *base, const char *key, int depth)
{
	jv a = jv_object_get(jv_copy(sch), jv_string(name));
	int n = jv_get_kind(a) == JV_KIND_ARRAY ? jv_array_length(jv_copy(a)) : -1;
	if (n < 0 || (nonempty && n == 0)) {
		jv_free(a);
		cfail(c, key, "%s must be %s array of schemas", name, nonempty ? "a non-empty" : "an");
		return -1;
	}
	l->v = calloc((size_t)n + 1, sizeof *l->v);
	if (!l->v) {
		jv_free(a);
		cfail(c, key, "out of memory");
		return -1;
	}
	jrn_buf k = {0};
	for (int i = 0; i < n && !c->failed; i++) {
		jrn_buf_reset(&k);
		if (jrn_buf_adds(&k, key) < 0 || jrn_schema_ptr_add(&k, name, strlen(name)) < 0 ||
		    jrn_buf_addf(&k, "/%d", i) < 0) {
			cfail(c, key, "out of memory");
			break;
		}
		jv it = jv_array_get(jv_copy(a), i);
		l->v[i] = compile(c, it, base, k.p, depth + 1);
		jv_free(it);
		l->n = (size_t)i + 1;
	}
	jrn_buf_free(&k);
	jv_free(a);
	return c->failed ? -1 : 0;
}

/* the member `name` as a number: 1 present, 0 absent, -1 malformed */
static int get_number(cctx *c, jv sch, const char *name, const char *key, double *d)
{
	jv v = jv_object_get(jv_copy(sch), jv_string(name));
	int rc = 0;
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		*d = jv_number_value(v);
		rc = 1;
	} else if (jv_get_kind(v) != JV_KIND_INVALID) {
		cfail(c, key, "%s must be a number", name);
		rc = -1;
	}
	jv_free(v);
	return rc;
}

/* the member `name` as a non-negative integer: 1, 0 absent, -1 malformed */
static int get_count(cctx *c, jv sch, const char *name, const char *key, uint64_t *u)
{
	double d;
	int rc = get_number(c, sch, name, key, &d);
	if (rc == 1) {
		if (!(d >= 0 && d == floor(d) && d < 1.8e19)) {
			cfail(c, key, "%s must be a non-negative integer", name);
			return -1;
		}
		*u = (uint64_t)d;
	}
	return rc;
}

static bool has(jv sch, const char *name)
{
	return jv_object_has(jv_copy(sch), jv_string(name));
}

/* PCRE2 (libpcre2-8) runs pattern and patternProperties: UTF-8 mode with
 * its UTF check, PCRE2_ALT_BSUX and PCRE2_EXTRA_ALT_BSUX for ECMA-262's
 * \\uHHHH, \\u{...} and \\x escapes (pcre2api(3), "ECMAScript
 * compatibility"), unanchored like ECMA-262's RegExp.prototype.test (draft 7
 * §6.3.3). A compiled pcre2_code is read-only while matching, so several
 * threads may search it; each search takes its own match data. */
int jrn_schema_regex_search(pcre2_code *re, const char *s, size_t n)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	if (!md)
		return -1;
	int r = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return r >= 0 ? 1 : r == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static void regex_free(pcre2_code *re)
{
	pcre2_code_free(re);
}

static int regex_compile(cctx *c, const char *src, size_t len, pcre2_code **re, const char *key,
			 const char *kw)
{
	int err;
	PCRE2_SIZE off;
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	if (!cc) {
		cfail(c, key, "%s: out of memory", kw);
		return -1;
	}
	pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
	*re = pcre2_compile((PCRE2_SPTR)src, len, PCRE2_UTF | PCRE2_ALT_BSUX, &err, &off, cc);
	pcre2_compile_context_free(cc);
	if (!*re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof msg);
		cfail(c, key, "%s \"%.200s\" is not a valid regular expression: %s (at offset %zu)",
		      kw, src, (char *)msg, (size_t)off);
		return -1;
	}
	return 0;
}

/* a keyword of draft 7 or an annotation this validator accepts */
static bool known_keyword(const char *k)
{
	static const char *const words[] = {
		"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum",
		"minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
		"items", "additionalItems", "maxItems", "minItems", "uniqueItems",
		"contains", "maxProperties", "minProperties", "required", "properties",
		"patternProperties", "additionalProperties", "dependencies",
		"propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not",
		"$ref", "title", "description", "$comment", "default", "examples",
		"format", "readOnly", "writeOnly", "contentMediaType",
		"contentEncoding", "$schema", "$id", "definitions",
	};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strcmp(k, words[i]) == 0)
			return true;
	return false;
}

/* ---- $ref ---- */

/* Loads the built-in meta-schema as the resource meta_uri. */
static int load_meta(cctx *c)
{
	if (c->meta_loaded)
		return 0;
	c->meta_loaded = true;
	jv m = jv_parse(meta_schema);
	if (!jv_is_valid(m)) {
		jv_free(m);
		cfail(c, "", "the built-in meta-schema does not parse");
		return -1;
	}
	c->s->docs = jv_array_append(c->s->docs, jv_copy(m));
	int rc = scan_ids(c, m, meta_uri, 0);
	jv_free(m);
	return rc;
}

/* Walks the JSON Pointer ptr (already percent-decoded) from doc; the value
 * found (the caller's), or jv_invalid. */
static jv pointer_walk(jv doc, const char *ptr)
{
	jv v = jv_copy(doc);
	jrn_buf tok = {0};
	while (*ptr == '/' && jv_is_valid(v)) {
		const char *end = strchr(ptr + 1, '/');
		size_t n = end ? (size_t)(end - ptr - 1) : strlen(ptr + 1);
		jrn_buf_reset(&tok);
		for (size_t i = 0; i < n; i++) {
			char ch = ptr[1 + i];
			if (ch == '~' && i + 1 < n && (ptr[2 + i] == '0' || ptr[2 + i] == '1'))
				ch = ptr[2 + i++] == '0' ? '~' : '/';
			if (jrn_buf_addc(&tok, ch) < 0) {
				jv_free(v);
				jrn_buf_free(&tok);
				return jv_invalid();
			}
		}
		const char *t = tok.p ? tok.p : "";
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			v = jv_object_get(v, jv_string_sized(t, (int)tok.len));
		} else if (jv_get_kind(v) == JV_KIND_ARRAY) {
			char *e;
			errno = 0;
			long i = strtol(t, &e, 10);
			if (!*t || *e || errno || i < 0 || (t[0] == '0' && t[1]) ||
			    i >= jv_array_length(jv_copy(v))) {
				jv_free(v);
				v = jv_invalid();
			} else {
				v = jv_array_get(v, (int)i);
			}
		} else {
			jv_free(v);
			v = jv_invalid();
		}
		ptr += 1 + n;
	}
	jrn_buf_free(&tok);
	if (*ptr) {
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

/* the node that $ref `ref` (in a schema whose base URI is base) names */
static node *resolve_ref(cctx *c, const char *ref, const char *base, const char *key, int depth)
{
	jrn_buf abs = {0}, k = {0};
	node *n = NULL;
	if (uri_resolve(&abs, base, ref) < 0 || jrn_buf_adds(&abs, "") < 0)
		return cfail(c, key, "out of memory");
	char *hash = strchr(abs.p, '#');
	char *frag = hash ? hash + 1 : abs.p + abs.len;
	if (hash)
		*hash = 0;
	percent_decode(frag);
	if (jrn_buf_addf(&k, "%s#%s", abs.p, frag) < 0) {
		cfail(c, key, "out of memory");
		goto out;
	}
	entry *m = table_get(&c->memo, k.p);
	if (m) {
		n = m->n;
		goto out;
	}
	if (*frag && *frag != '/') { /* a plain name given by an $id "#name" */
		entry *r = table_get(&c->res, k.p);
		if (r)
			n = compile(c, r->doc, abs.p, k.p, depth + 1);
		else
			cfail(c, key, "$ref \"%s\" names no subschema", ref);
		goto out;
	}
	entry *r = table_get(&c->res, abs.p);
	if (!r && strcmp(abs.p, meta_uri) == 0 && load_meta(c) == 0)
		r = table_get(&c->res, abs.p);
	if (!r) {
		cfail(c, key, "$ref \"%s\": no such document (only references inside the schema "
			      "and to %s are followed)", ref, meta_uri);
		goto out;
	}
	jv target = pointer_walk(r->doc, frag);
	if (!jv_is_valid(target)) {
		jv_free(target);
		cfail(c, key, "$ref \"%s\" points to nothing", ref);
		goto out;
	}
	n = compile(c, target, abs.p, k.p, depth + 1);
	jv_free(target);
out:
	jrn_buf_free(&abs);
	jrn_buf_free(&k);
	return n;
}

/* ---- keywords ---- */

static int compile_type(cctx *c, node *n, jv sch, const char *key)
{
	jv t = jv_object_get(jv_copy(sch), jv_string("type"));
	jv_kind k = jv_get_kind(t);
	int rc = 0;
	if (k == JV_KIND_INVALID) {
		jv_free(t);
		return 0;
	}
	if (k == JV_KIND_STRING)
		t = jv_array_append(jv_array(), t);
	else if (k != JV_KIND_ARRAY)
		rc = -1;
	if (rc == 0) {
		jv_array_foreach(t, i, name) {
			unsigned bit = 0;
			for (size_t j = 0; j < 7; j++)
				if (jv_get_kind(name) == JV_KIND_STRING &&
				    strcmp(jv_string_value(name), jrn_schema_type_names[j]) == 0)
					bit = 1u << j;
			if (!bit || (n->types & bit))
				rc = -1;
			n->types |= bit;
			jv_free(name);
		}
	}
	jv_free(t);
	if (rc < 0 || n->types == 0)
		cfail(c, key, "type must be one of null, boolean, object, array, number, string, "
			      "integer, or a non-empty array of them without repeats");
	return rc < 0 || n->types == 0 ? -1 : 0;
}

static int compile_scalars(cctx *c, node *n, jv sch, const char *key)
{
	static const struct { const char *name; int bit; size_t off; } nums[] = {
		{"minimum", H_MINIMUM, offsetof(node, minimum)},
		{"maximum", H_MAXIMUM, offsetof(node, maximum)},
		{"exclusiveMinimum", H_XMIN, offsetof(node, xmin)},
		{"exclusiveMaximum", H_XMAX, offsetof(node, xmax)},
		{"multipleOf", H_MULTIPLE, offsetof(node, multiple)},
	}, counts[] = {
		{"minLength", H_MINLEN, offsetof(node, minlen)},
		{"maxLength", H_MAXLEN, offsetof(node, maxlen)},
		{"minItems", H_MINITEMS, offsetof(node, minitems)},
		{"maxItems", H_MAXITEMS, offsetof(node, maxitems)},
		{"minProperties", H_MINPROPS, offsetof(node, minprops)},
		{"maxProperties", H_MAXPROPS, offsetof(node, maxprops)},
	};
	for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
		int r = get_number(c, sch, nums[i].name, key, (double *)((char *)n + nums[i].off));
		if (r < 0)
			return -1;
		if (r)
			n->has |= nums[i].bit;
	}
	if ((n->has & H_MULTIPLE) && !(n->multiple > 0))
		return cfail(c, key, "multipleOf must be greater than 0"), -1;
	for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
		int r = get_count(c, sch, counts[i].name, key, (uint64_t *)((char *)n + counts[i].off));
		if (r < 0)
			return -1;
		if (r)
			n->has |= counts[i].bit;
	}
	jv v = jv_object_get(jv_copy(sch), jv_string("enum"));
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		n->enumv = v;
		n->has |= H_ENUM;
		size_t len = (size_t)jv_array_length(jv_copy(v));
		n->enum_strs = calloc(len + 1, sizeof *n->enum_strs);
		n->enum_lens = calloc(len + 1, sizeof *n->enum_lens);
		if (!n->enum_strs || !n->enum_lens)
			return cfail(c, key, "out of memory"), -1;
		jv_array_foreach(v, i, m) {
			if (jv_get_kind(m) == JV_KIND_STRING) {
				size_t l = (size_t)jv_string_length_bytes(jv_copy(m));
				char *d = xstrndup(jv_string_value(m), l);
				if (d) {
					n->enum_strs[n->nenum_strs] = d;
					n->enum_lens[n->nenum_strs++] = l;
				}
			} else {
				n->enum_others = true;
			}
			jv_free(m);
		}
	} else if (jv_get_kind(v) != JV_KIND_INVALID) {
		jv_free(v);
		return cfail(c, key, "enum must be an array"), -1;
	}
	if (has(sch, "const")) {
		n->constv = jv_object_get(jv_copy(sch), jv_string("const"));
		n->has |= H_CONST;
	}
	v = jv_object_get(jv_copy(sch), jv_string("uniqueItems"));
	if (jv_get_kind(v) == JV_KIND_TRUE)
		n->unique = true;
	else if (jv_get_kind(v) != JV_KIND_FALSE && jv_get_kind(v) != JV_KIND_INVALID)
		return jv_free(v), cfail(c, key, "uniqueItems must be true or false"), -1;
	jv_free(v);
	v = jv_object_get(jv_copy(sch), jv_string("pattern"));
	if (jv_get_kind(v) == JV_KIND_STRING) {
		n->pattern_src = strdup(jv_string_value(v));
		if (!n->pattern_src ||
		    regex_compile(c, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)),
				  &n->pattern, key, "pattern") < 0) {
			jv_free(v);
			return cfail(c, key, "out of memory"), -1;
		}
	} else if (jv_get_kind(v) != JV_KIND_INVALID) {
		jv_free(v);
		return cfail(c, key, "pattern must be a string"), -1;
	}
	jv_free(v);
	return 0;
}

/* the prop of n named name, added when missing; NULL on no memory */
static prop *prop_get(node *n, const char *name, size_t len)
{
	for (size_t i = 0; i < n->nprops; i++)
		if (n->props[i].len == len && memcmp(n->props[i].name, name, len) == 0)
			return &n->props[i];
	prop *v = xrealloc(n->props, (n->nprops + 1) * sizeof *v);
	if (!v)
		return NULL;
	n->props = v;
	prop *p = &v[n->nprops];
	*p = (prop){xstrndup(name, len), len, NULL, false};
	if (!p->name)
		return NULL;
	n->nprops++;
	return p;
}

/* "required": an array of unique strings */
static int compile_required(cctx *c, node *n, jv sch, const char *key)
{
	jv r = jv_object_get(jv_copy(sch), jv_string("required"));
	if (jv_get_kind(r) == JV_KIND_INVALID)
		return 0;
	int rc = jv_get_kind(r) == JV_KIND_ARRAY ? 0 : -1;
	if (rc == 0) {
		jv_array_foreach(r, i, name) {
			if (rc == 0 && jv_get_kind(name) == JV_KIND_STRING) {
				prop *p = prop_get(n, jv_string_value(name),
						   (size_t)jv_string_length_bytes(jv_copy(name)));
				if (!p || p->required)
					rc = -1;
				else
					p->required = true, n->nrequired++;
			} else {
				rc = -1;
			}
			jv_free(name);
		}
	}
	jv_free(r);
	if (rc < 0)
		cfail(c, key, "required must be an array of distinct strings");
	return rc;
}

/* properties, patternProperties: objects of schemas */
static int compile_props(cctx *c, node *n, jv sch, bool patterns, const char *base,
			 const char *key, int depth)
{
	const char *kw = patterns ? "patternProperties" : "properties";
	jv o = jv_object_get(jv_copy(sch), jv_string(kw));
	if (jv_get_kind(o) == JV_KIND_INVALID)
		return 0;
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		return cfail(c, key, "%s must be an object of schemas", kw), -1;
	}
	jrn_buf k = {0};
	jv_object_foreach(o, name, val) {
		const char *nm = jv_string_value(name);
		size_t len = (size_t)jv_string_length_bytes(jv_copy(name));
		jrn_buf_reset(&k);
		if (!c->failed && (jrn_buf_adds(&k, key) < 0 ||
				   jrn_schema_ptr_add(&k, kw, strlen(kw)) < 0 ||
				   jrn_schema_ptr_add(&k, nm, len) < 0))
			cfail(c, key, "out of memory");
		if (!c->failed && patterns) {
			pattern_prop *v = xrealloc(n->pats, (n->npats + 1) * sizeof *v);
			if (!v) {
				cfail(c, key, "out of memory");
			} else {
				n->pats = v;
				pattern_prop *pp = &v[n->npats++];
				*pp = (pattern_prop){xstrndup(nm, len), NULL, NULL};
				if (regex_compile(c, nm, len, &pp->re, k.p, "patternProperties") == 0)
					pp->schema = compile(c, val, base, k.p, depth + 1);
			}
		} else if (!c->failed) {
			prop *p = prop_get(n, nm, len);
			if (!p)
				cfail(c, key, "out of memory");
			else
				p->schema = compile(c, val, base, k.p, depth + 1);
		}
		jv_free(name);
		jv_free(val);
	}
	jrn_buf_free(&k);
	jv_free(o);
	return c->failed ? -1 : 0;
}

/* dependencies: an object of schemas or arrays of property names */
static int compile_deps(cctx *c, node *n, jv sch, const char *base, const char *key, int depth)
{
	jv o = jv_object_get(jv_copy(sch), jv_string("dependencies"));
	if (jv_get_kind(o) == JV_KIND_INVALID)
		return 0;
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		return cfail(c, key, "dependencies must be an object"), -1;
	}
	n->deps = calloc((size_t)jv_object_length(jv_copy(o)) + 1, sizeof *n->deps);
	jrn_buf k = {0};
	jv_object_foreach(o, name, val) {
		dependency *d = n->deps ? &n->deps[n->ndeps++] : NULL;
		if (!d) {
			cfail(c, key, "out of memory");
		} else if (!c->failed) {
			d->len = (size_t)jv_string_length_bytes(jv_copy(name));
			d->name = xstrndup(jv_string_value(name), d->len);
			if (jv_get_kind(val) == JV_KIND_ARRAY) {
				d->names = calloc((size_t)jv_array_length(jv_copy(val)) + 1, sizeof *d->names);
				jv_array_foreach(val, i, s) {
					if (jv_get_kind(s) != JV_KIND_STRING)
						cfail(c, key, "dependencies/%s must be a schema or an array "
							      "of strings", d->name ? d->name : "");
					else if (d->names)
						d->names[d->nnames++] = strdup(jv_string_value(s));
					jv_free(s);
				}
			} else {
				jrn_buf_reset(&k);
				if (jrn_buf_adds(&k, key) < 0 || jrn_schema_ptr_add(&k, "dependencies", 12) < 0 ||
				    jrn_schema_ptr_add(&k, jv_string_value(name), d->len) < 0)
					cfail(c, key, "out of memory");
				else
					d->schema = compile(c, val, base, k.p, depth + 1);
			}
		}
		jv_free(name);
		jv_free(val);
	}
	jrn_buf_free(&k);
	jv_free(o);
	return c->failed ? -1 : 0;
}

static int compile_applicators(cctx *c, node *n, jv sch, const char *base, const char *key,
			       int depth)
{
	static const struct { const char *name; size_t off; } one[] = {
		{"additionalProperties", offsetof(node, addprops)},
		{"propertyNames", offsetof(node, propnames)},
		{"additionalItems", offsetof(node, additems)},
		{"contains", offsetof(node, contains)},
		{"if", offsetof(node, if_)},
		{"then", offsetof(node, then_)},
		{"else", offsetof(node, else_)},
		{"not", offsetof(node, not_)},
	}, many[] = {
		{"allOf", offsetof(node, allof)},
		{"anyOf", offsetof(node, anyof)},
		{"oneOf", offsetof(node, oneof)},
	};
	for (size_t i = 0; i < sizeof one / sizeof *one && !c->failed; i++)
		if (has(sch, one[i].name))
			*(node **)((char *)n + one[i].off) = sub(c, sch, one[i].name, base, key, depth);
	for (size_t i = 0; i < sizeof many / sizeof *many && !c->failed; i++)
		if (has(sch, many[i].name))
			sub_list(c, sch, many[i].name, (node_list *)((char *)n + many[i].off), true,
				 base, key, depth);
	jv items = jv_object_get(jv_copy(sch), jv_string("items"));
	if (jv_get_kind(items) == JV_KIND_ARRAY) {
		n->tuple_form = true;
		sub_list(c, sch, "items", &n->tuple, false, base, key, depth);
	} else if (jv_get_kind(items) != JV_KIND_INVALID) {
		n->items = sub(c, sch, "items", base, key, depth);
	}
	jv_free(items);
	if (!c->failed)
		compile_props(c, n, sch, false, base, key, depth);
	if (!c->failed)
		compile_props(c, n, sch, true, base, key, depth);
	if (!c->failed)
		compile_required(c, n, sch, key);
	if (!c->failed)
		compile_deps(c, n, sch, base, key, depth);
	return c->failed ? -1 : 0;
}

/* Compiles the schema sch (borrowed) found at key (base URI "#" pointer);
 * the node, or NULL once c has failed. A node already compiled under key
 * is returned again (so $ref loops close). */
static node *compile(cctx *c, jv sch, const char *base, const char *key, int depth)
{
	if (c->failed)
		return NULL;
	if (depth > JRN_SCHEMA_MAX_DEPTH)
		return cfail(c, key, "nested deeper than %d levels (JRN_SCHEMA_MAX_DEPTH)",
			     JRN_SCHEMA_MAX_DEPTH);
	entry *m = table_get(&c->memo, key);
	if (m)
		return m->n;
	jv_kind k = jv_get_kind(sch);
	if (k != JV_KIND_OBJECT && k != JV_KIND_TRUE && k != JV_KIND_FALSE)
		return cfail(c, key, "a schema must be an object, true or false");
	node *n = new_node(c, k == JV_KIND_OBJECT ? -1 : k == JV_KIND_TRUE);
	if (!n || table_put(&c->memo, key, n, jv_null()) < 0)
		return cfail(c, key, "out of memory");
	if (k != JV_KIND_OBJECT)
		return n;
	jv ref = jv_object_get(jv_copy(sch), jv_string("$ref"));
	if (jv_get_kind(ref) != JV_KIND_INVALID) {
		/* draft 7 section 8.3: the other members of a $ref object are ignored */
		if (jv_get_kind(ref) != JV_KIND_STRING)
			cfail(c, key, "$ref must be a string");
		else
			n->ref = resolve_ref(c, jv_string_value(ref), base, key, depth);
		jv_free(ref);
		return c->failed ? NULL : n;
	}
	jv_free(ref);
	jrn_buf idbase = {0}, idkey = {0};
	jv id = jv_object_get(jv_copy(sch), jv_string("$id"));
	if (jv_get_kind(id) == JV_KIND_STRING) {
		if (uri_resolve(&idbase, base, jv_string_value(id)) < 0 || jrn_buf_adds(&idbase, "") < 0)
			cfail(c, key, "out of memory");
		char *hash = idbase.p ? strchr(idbase.p, '#') : NULL;
		if (hash && hash[1] && hash[1] != '/') {        /* "#name": an alias */
			if (!table_get(&c->memo, idbase.p) && table_put(&c->memo, idbase.p, n, jv_null()) < 0)
				cfail(c, key, "out of memory");
		} else if (idbase.p) {
			if (hash)
				*hash = 0, idbase.len = (size_t)(hash - idbase.p);
			if (jrn_buf_addf(&idkey, "%s#", idbase.p) < 0 ||
			    (!table_get(&c->memo, idkey.p) && table_put(&c->memo, idkey.p, n, jv_null()) < 0))
				cfail(c, key, "out of memory");
			base = idbase.p;
			key = idkey.p;
		}
	} else if (jv_get_kind(id) != JV_KIND_INVALID) {
		cfail(c, key, "$id must be a string");
	}
	jv_free(id);
	jrn_buf uk = {0};
	jv_object_foreach(sch, name, val) {
		const char *nm = jv_string_value(name);
		if (!c->failed && !known_keyword(nm)) {
			jrn_buf_reset(&uk);
			if (jrn_buf_adds(&uk, key) < 0 ||
			    jrn_schema_ptr_add(&uk, nm, (size_t)jv_string_length_bytes(jv_copy(name))) < 0 ||
			    table_put(&c->unknown, uk.p, NULL, jv_null()) < 0)
				cfail(c, key, "out of memory");
		}
		jv_free(name);
		jv_free(val);
	}
	jrn_buf_free(&uk);
	if (!c->failed && compile_type(c, n, sch, key) == 0 && compile_scalars(c, n, sch, key) == 0)
		compile_applicators(c, n, sch, base, key, depth);
	jrn_buf_free(&idbase);
	jrn_buf_free(&idkey);
	return c->failed ? NULL : n;
}

/* Fails c when a member that is no keyword is not reached by a $ref. */
static void check_unknown(cctx *c)
{
	for (size_t i = 0; i < c->unknown.n && !c->failed; i++) {
		const char *u = c->unknown.v[i].key;
		size_t ul = strlen(u);
		bool used = false;
		for (size_t j = 0; j < c->memo.n && !used; j++) {
			const char *m = c->memo.v[j].key;
			used = strncmp(m, u, ul) == 0 && (m[ul] == 0 || m[ul] == '/');
		}
		if (!used) {
			const char *slash = strrchr(u, '/');
			jrn_buf where = {0};
			jrn_buf_add(&where, u, (size_t)(slash - u));
			jrn_buf_adds(&where, "");
			cfail(c, where.p ? where.p : "", "unknown keyword \"%s\" (not a JSON Schema "
				  "draft 7 keyword; jsonschema.h lists the ones read)", slash + 1);
			jrn_buf_free(&where);
		}
	}
}

void jrn_schema_free(jrn_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nnodes; i++)
		free_node(s->nodes[i]);
	free(s->nodes);
	jv_free(s->docs);
	free(s);
}

jrn_schema *jrn_schema_compile(jv schema, jrn_err *e)
{
	jrn_schema *s = calloc(1, sizeof *s);
	if (!s) {
		jv_free(schema);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	s->docs = jv_array_append(jv_array(), jv_copy(schema));
	cctx c = {.s = s, .e = e};
	if (table_put(&c.res, "", NULL, jv_copy(schema)) < 0 || scan_ids(&c, schema, "", 0) < 0)
		cfail(&c, "", "out of memory");
	s->root = compile(&c, schema, "", "#", 0);
	check_unknown(&c);
	table_free(&c.memo, false);
	table_free(&c.res, true);
	table_free(&c.unknown, false);
	jv_free(schema);
	if (c.failed || !s->root) {
		if (!c.failed)
			jrn_fail(e, "schema: cannot be compiled");
		jrn_schema_free(s);
		return NULL;
	}
	return s;
}

jrn_schema *jrn_schema_load(const char *path, jrn_err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		jrn_fail(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	jrn_buf b = {0};
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (jrn_buf_add(&b, chunk, n) < 0)
			break;
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad) {
		jrn_buf_free(&b);
		jrn_fail(e, "%s: read error", path);
		return NULL;
	}
	jrn_err pe;
	jv v = jrn_parse_value(b.p ? b.p : "", b.len, &pe);
	jrn_buf_free(&b);
	if (!jv_is_valid(v)) {
		jv_free(v);
		jrn_fail(e, "%s: %s", path, pe.msg);
		return NULL;
	}
	jrn_schema *s = jrn_schema_compile(v, &pe);
	if (!s)
		jrn_fail(e, "%s: %s", path, pe.msg);
	return s;
}

