/* mustache.c: Mustache templates over jv data (see mustache.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jrn.h"
#include "mustache.h"

enum { N_TEXT, N_VAR, N_SECTION, N_INVERTED, N_PARTIAL };

typedef struct mnode {
	int type;
	int line;
	char *text;   /* TEXT: the text; VAR: the default; PARTIAL: indent */
	size_t len;
	char *name;   /* VAR, SECTION, INVERTED, PARTIAL: the name as written */
	size_t nlen;
	jv *keys;     /* the dotted name split; nkeys 0 for "." */
	int nkeys;
	bool escape, has_def;
	struct mnode **kids;
	size_t nkids, cap;
} mnode;

struct jrn_mustache {
	mnode root;
};

/* ---- tree ---------------------------------------------------------------- */

static void node_clear(mnode *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		node_clear(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	for (int i = 0; i < n->nkeys; i++)
		jv_free(n->keys[i]);
	free(n->keys);
	free(n->text);
	free(n->name);
}

void jrn_mustache_free(jrn_mustache *t)
{
	if (!t)
		return;
	node_clear(&t->root);
	free(t);
}

static char *dup_span(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* A new child of parent, or NULL (out of memory). */
static mnode *node_add(mnode *parent, int type, int line)
{
	if (parent->nkids == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		mnode **k = realloc(parent->kids, cap * sizeof *k);
		if (!k)
			return NULL;
		parent->kids = k;
		parent->cap = cap;
	}
	mnode *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->type = type;
	n->line = line;
	parent->kids[parent->nkids++] = n;
	return n;
}

/* Sets n's name and its keys from s[0..len). 0 or -1 (memory). */
static int node_name(mnode *n, const char *s, size_t len)
{
	n->name = dup_span(s, len);
	if (!n->name)
		return -1;
	n->nlen = len;
	if (len == 1 && s[0] == '.')
		return 0;
	size_t parts = 1;
	for (size_t i = 0; i < len; i++)
		parts += s[i] == '.';
	n->keys = malloc(parts * sizeof *n->keys);
	if (!n->keys)
		return -1;
	size_t from = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			n->keys[n->nkeys++] = jv_string_sized(s + from, (int)(i - from));
			from = i + 1;
		}
	}
	return 0;
}

/* ---- parser -------------------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s))
		(*s)++, (*n)--;
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

/* The first occurrence of [pre] + pat in s[from..len), or -1. */
static long find(const char *s, size_t from, size_t len, char pre,
		 const char *pat, size_t plen)
{
	size_t need = plen + (pre ? 1 : 0);
	for (size_t i = from; i + need <= len; i++) {
		if (pre && s[i] != pre)
			continue;
		if (memcmp(s + i + (pre ? 1 : 0), pat, plen) == 0)
			return (long)i;
	}
	return -1;
}

typedef struct {
	const char *s;
	size_t len;
	size_t lpos; /* line counting: lines before lpos */
	int line;
} parser;

/* The 1-based line number of position pos (pos never goes backwards by
 * much: count from the last position when we can). */
static int line_at(parser *p, size_t pos)
{
	if (pos < p->lpos) {
		p->lpos = 0;
		p->line = 1;
	}
	for (; p->lpos < pos; p->lpos++)
		p->line += p->s[p->lpos] == '\n';
	return p->line;
}

/* long: the template lexer and compiler are one pass over the text, a loop
 * with one case per tag kind (the spec's sigils), standalone-line trimming
 * and the section stack all in view; split up, the cases would share a
 * dozen locals through a struct for no gain in clarity. */
jrn_mustache *jrn_mustache_compile(const char *s, size_t len, jrn_err *e)
{
	jrn_mustache *t = calloc(1, sizeof *t);
	mnode **stack = malloc((JRN_MUSTACHE_MAX_DEPTH + 1) * sizeof *stack);
	if (!t || !stack) {
		free(t);
		free(stack);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	parser ps = {s, len, 0, 1};
	int depth = 0;
	stack[0] = &t->root;
	const char *otag = "{{", *ctag = "}}";
	size_t olen = 2, clen = 2;
	size_t text_from = 0;

	for (;;) {
		mnode *cur = stack[depth];
		long at = find(s, text_from, len, 0, otag, olen);
		if (at < 0) {
			if (text_from < len) {
				mnode *n = node_add(cur, N_TEXT, 0);
				if (!n || !(n->text = dup_span(s + text_from, len - text_from)))
					goto oom;
				n->len = len - text_from;
			}
			break;
		}
		/* The tag is s[p..q): open delimiter at p, content from cs
		 * (a sigil first when typed), close delimiter at ce (after
		 * a '}' or '=' for those kinds). Every offset below is at or
		 * past the one before it, so no length can underflow: a close
		 * delimiter right after the open one (whatever its first
		 * byte, even a sigil as in {{=< >=}}<>) is an empty tag, and
		 * a typed tag's close is looked for only past its sigil. */
		size_t p = (size_t)at;
		int line = line_at(&ps, p);
		size_t cs = p + olen;
		if (cs + clen <= len && memcmp(s + cs, ctag, clen) == 0) {
			jrn_fail(e, "line %d: empty tag", line);
			goto fail;
		}
		char type = cs < len ? s[cs] : '\0';
		bool typed = type != '\0' && strchr("#^/!>&{=", type) != NULL;
		long ce;
		if (type == '{')
			ce = find(s, cs + 1, len, '}', ctag, clen);
		else if (type == '=')
			ce = find(s, cs + 1, len, '=', ctag, clen);
		else
			ce = find(s, typed ? cs + 1 : cs, len, 0, ctag, clen);
		if (ce < 0) {
			jrn_fail(e, "line %d: unclosed tag", line);
			goto fail;
		}
		size_t q = (size_t)ce + clen + ((type == '{' || type == '=') ? 1 : 0);
		size_t from = typed ? cs + 1 : cs; /* ce >= from: see above */
		const char *c = s + from;
		size_t cn = (size_t)ce - from;
		trim(&c, &cn);

		/* A tag of these kinds alone on its line takes the line away. */
		size_t text_to = p, next = q, ls = p;
		bool standalone = false;
		if (type && strchr("#^/!>=", type)) {
			while (ls > 0 && s[ls - 1] != '\n')
				ls--;
			bool ok = ls >= text_from;
			for (size_t i = ls; ok && i < p; i++)
				ok = s[i] == ' ' || s[i] == '\t';
			size_t r = q;
			while (ok && r < len && (s[r] == ' ' || s[r] == '\t'))
				r++;
			if (ok) {
				if (r == len)
					next = r;
				else if (s[r] == '\n')
					next = r + 1;
				else if (s[r] == '\r' && r + 1 < len && s[r + 1] == '\n')
					next = r + 2;
				else
					ok = false;
			}
			if (ok) {
				standalone = true;
				text_to = ls;
			} else {
				next = q;
			}
		}
		if (text_to > text_from) {
			mnode *n = node_add(cur, N_TEXT, 0);
			if (!n || !(n->text = dup_span(s + text_from, text_to - text_from)))
				goto oom;
			n->len = text_to - text_from;
		}
		text_from = next;

		if (type == '!')
			continue;
		if (type == '=') {
			/* Two delimiters apart by white space, none holding '='. */
			size_t i = 0;
			while (i < cn && !is_space(c[i]) && c[i] != '=')
				i++;
			size_t o_n = i;
			while (i < cn && is_space(c[i]))
				i++;
			size_t c_from = i;
			while (i < cn && !is_space(c[i]) && c[i] != '=')
				i++;
			if (o_n == 0 || c_from == o_n || i == c_from || i != cn) {
				jrn_fail(e, "line %d: bad set-delimiter tag", line);
				goto fail;
			}
			otag = c;
			olen = o_n;
			ctag = c + c_from;
			clen = cn - c_from;
			continue;
		}
		if (cn == 0) {
			jrn_fail(e, "line %d: empty tag", line);
			goto fail;
		}
		if (type == '#' || type == '^') {
			if (depth == JRN_MUSTACHE_MAX_DEPTH) {
				jrn_fail(e, "line %d: sections nested deeper than %d",
					 line, JRN_MUSTACHE_MAX_DEPTH);
				goto fail;
			}
			mnode *n = node_add(cur, type == '#' ? N_SECTION : N_INVERTED, line);
			if (!n || node_name(n, c, cn) < 0)
				goto oom;
			stack[++depth] = n;
		} else if (type == '/') {
			if (depth == 0) {
				jrn_fail(e, "line %d: {{/%.*s}} closes no open section",
					 line, (int)cn, c);
				goto fail;
			}
			if (cur->nlen != cn || memcmp(cur->name, c, cn) != 0) {
				jrn_fail(e, "line %d: {{/%.*s}} does not close section '%s' opened on line %d",
					 line, (int)cn, c, cur->name, cur->line);
				goto fail;
			}
			depth--;
		} else if (type == '>') {
			mnode *n = node_add(cur, N_PARTIAL, line);
			if (!n || !(n->name = dup_span(c, cn)))
				goto oom;
			n->nlen = cn;
			if (standalone && p > ls) {
				if (!(n->text = dup_span(s + ls, p - ls)))
					goto oom;
				n->len = p - ls;
			}
		} else {
			mnode *n = node_add(cur, N_VAR, line);
			if (!n)
				goto oom;
			n->escape = !(type == '{' || type == '&');
			const char *bar = memchr(c, '|', cn);
			size_t nn = cn;
			if (bar) {
				const char *d = bar + 1;
				size_t dn = cn - (size_t)(d - c);
				trim(&d, &dn);
				nn = (size_t)(bar - c);
				const char *nm = c;
				trim(&nm, &nn);
				c = nm;
				if (nn == 0) {
					jrn_fail(e, "line %d: empty name before '|'", line);
					goto fail;
				}
				if (!(n->text = dup_span(d, dn)))
					goto oom;
				n->len = dn;
				n->has_def = true;
			}
			if (node_name(n, c, nn) < 0)
				goto oom;
		}
	}
	if (depth > 0) {
		jrn_fail(e, "line %d: section '%s' is not closed", stack[depth]->line,
			 stack[depth]->name);
		goto fail;
	}
	free(stack);
	return t;
oom:
	jrn_fail(e, "out of memory");
fail:
	free(stack);
	jrn_mustache_free(t);
	return NULL;
}

/* ---- renderer ------------------------------------------------------------ */

typedef struct {
	char *name;
	char *indent;
	jrn_mustache *t;
} pcache;

typedef struct {
	jrn_buf *out;
	jv partials;
	int flags;
	jv *stack; /* borrowed values: the context stack */
	size_t n, cap;
	int sections; /* sections we are inside */
	int depth;    /* sections and partials we are inside */
	pcache *pc;
	size_t npc, cappc;
	size_t was;   /* out->len when the render began */
	size_t steps; /* template nodes rendered so far */
	jrn_err *e;
} rstate;

/* Appends s[0..n) to the output: 0, or -1 with e (out of memory, or the
 * render would pass JRN_MUSTACHE_MAX_OUTPUT bytes). Every byte of output
 * goes through here, so the bound holds as the output grows. */
static int out_add(rstate *r, const char *s, size_t n)
{
	if (n > JRN_MUSTACHE_MAX_OUTPUT - (r->out->len - r->was))
		return jrn_fail(r->e, "template renders more than %d MiB (the limit)",
				JRN_MUSTACHE_MAX_OUTPUT >> 20);
	if (jrn_buf_add(r->out, s, n) < 0)
		return jrn_fail(r->e, "out of memory");
	return 0;
}

static int out_adds(rstate *r, const char *s)
{
	return out_add(r, s, strlen(s));
}

/* The value of n's name, a new reference, or jv_invalid() when missing. */
static jv lookup(const rstate *r, const mnode *n)
{
	if (n->nkeys == 0)
		return jv_copy(r->stack[r->n - 1]);
	jv v = jv_invalid();
	for (size_t i = r->n; i-- > 0;) {
		if (jv_get_kind(r->stack[i]) != JV_KIND_OBJECT)
			continue;
		v = jv_object_get(jv_copy(r->stack[i]), jv_copy(n->keys[0]));
		if (jv_is_valid(v))
			break;
	}
	for (int k = 1; k < n->nkeys && jv_is_valid(v); k++) {
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			return jv_invalid();
		}
		v = jv_object_get(v, jv_copy(n->keys[k]));
	}
	return v;
}

static bool truthy(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
	case JV_KIND_FALSE:
		return false;
	case JV_KIND_ARRAY:
		return jv_array_length(jv_copy(v)) > 0;
	default:
		return true;
	}
}

/* JSON string contents: what goes between the quotes. */
static int put_json(rstate *r, const char *s, size_t n)
{
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char rep[8];
		if (c == '"' || c == '\\')
			rep[0] = '\\', rep[1] = (char)c, rep[2] = '\0';
		else if (c == '\n' || c == '\r' || c == '\t')
			rep[0] = '\\', rep[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't', rep[2] = '\0';
		else if (c < 0x20)
			snprintf(rep, sizeof rep, "\\u%04x", c);
		else
			continue;
		if (out_add(r, s + from, i - from) < 0 || out_adds(r, rep) < 0)
			return -1;
		from = i + 1;
	}
	return out_add(r, s + from, n - from);
}

static int put(rstate *r, const char *s, size_t n, bool escape)
{
	if (!escape || (r->flags & JRN_MUSTACHE_TEXT))
		return out_add(r, s, n);
	if (r->flags & JRN_MUSTACHE_JSON)
		return put_json(r, s, n);
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if (out_add(r, s + from, i - from) < 0 || out_adds(r, rep) < 0)
			return -1;
		from = i + 1;
	}
	return out_add(r, s + from, n - from);
}

/* Appends the text of v (consumed). 0, or -1 with e (as out_add). */
static int put_value(rstate *r, jv v, bool escape)
{
	int rc = 0;
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		rc = put(r, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)), escape);
		jv_free(v);
		break;
	case JV_KIND_NULL:
	case JV_KIND_INVALID:
		jv_free(v);
		break;
	case JV_KIND_TRUE:
		rc = out_adds(r, "true");
		jv_free(v);
		break;
	case JV_KIND_FALSE:
		rc = out_adds(r, "false");
		jv_free(v);
		break;
	default: {
		/* Numbers, arrays, objects: as compact JSON. */
		jrn_buf b = {0};
		if (jrn_json_append(&b, v, 0, r->e) < 0) {
			jrn_buf_free(&b);
			return -1;
		}
		rc = put(r, b.p ? b.p : "", b.len, escape);
		jrn_buf_free(&b);
		return rc;
	}
	}
	return rc;
}

static int push(rstate *r, jv v)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		jv *s = realloc(r->stack, cap * sizeof *s);
		if (!s)
			return jrn_fail(r->e, "out of memory");
		r->stack = s;
		r->cap = cap;
	}
	r->stack[r->n++] = v;
	return 0;
}

/* Renders parent's kids; line: where the tag that got us here is. */
static int render_nodes(rstate *r, const mnode *parent, int line);

/* Renders kids of n with v (borrowed) atop the context stack. */
static int render_in(rstate *r, const mnode *n, jv v)
{
	if (push(r, v) < 0)
		return -1;
	int rc = render_nodes(r, n, n->line);
	r->n--;
	return rc;
}

/* The compiled partial named name with each line indented, from the cache
 * or compiled now; *t NULL when there is no such partial. 0 or -1. */
static int get_partial(rstate *r, const mnode *n, jrn_mustache **t)
{
	const char *indent = n->text ? n->text : "";
	for (size_t i = 0; i < r->npc; i++) {
		if (strcmp(r->pc[i].name, n->name) == 0 && strcmp(r->pc[i].indent, indent) == 0) {
			*t = r->pc[i].t;
			return 0;
		}
	}
	*t = NULL;
	if (jv_get_kind(r->partials) != JV_KIND_OBJECT)
		return 0;
	jv src = jv_object_get(jv_copy(r->partials), jv_string_sized(n->name, (int)n->nlen));
	if (!jv_is_valid(src))
		return 0;
	if (jv_get_kind(src) != JV_KIND_STRING) {
		jv_free(src);
		return jrn_fail(r->e, "line %d: partial '%s' is not a string", n->line, n->name);
	}
	const char *s = jv_string_value(src);
	size_t len = (size_t)jv_string_length_bytes(jv_copy(src));
	jrn_buf b = {0};
	int rc = 0;
	if (n->len) {
		/* Indent every line of the partial's text. */
		for (size_t i = 0; i < len && rc == 0; i++) {
			if (i == 0 || s[i - 1] == '\n')
				rc = jrn_buf_add(&b, n->text, n->len);
			if (rc == 0)
				rc = jrn_buf_addc(&b, s[i]);
		}
		s = b.p ? b.p : "";
		len = b.len;
	}
	jrn_mustache *pt = NULL;
	pcache *pc = NULL;
	if (rc == 0 && r->npc == r->cappc) {
		size_t cap = r->cappc ? r->cappc * 2 : 4;
		pc = realloc(r->pc, cap * sizeof *pc);
		if (pc) {
			r->pc = pc;
			r->cappc = cap;
		}
	} else {
		pc = r->pc;
	}
	if (rc < 0 || !pc) {
		rc = jrn_fail(r->e, "out of memory");
	} else {
		jrn_err pe;
		pt = jrn_mustache_compile(s, len, &pe);
		if (!pt) {
			rc = jrn_fail(r->e, "partial '%s': %s", n->name, pe.msg);
		} else {
			pcache *c = &r->pc[r->npc];
			c->name = strdup(n->name);
			c->indent = strdup(indent);
			c->t = pt;
			if (!c->name || !c->indent) {
				free(c->name);
				free(c->indent);
				jrn_mustache_free(pt);
				rc = jrn_fail(r->e, "out of memory");
			} else {
				r->npc++;
				*t = pt;
			}
		}
	}
	jrn_buf_free(&b);
	jv_free(src);
	return rc;
}

static int render_nodes(rstate *r, const mnode *parent, int line)
{
	/* The template's own top level is not a nesting level. */
	if (++r->depth > JRN_MUSTACHE_MAX_DEPTH + 1) {
		r->depth--;
		return jrn_fail(r->e, "line %d: sections and partials nested deeper than %d",
				line, JRN_MUSTACHE_MAX_DEPTH);
	}
	/* Every pass counts, even over a section with nothing inside. */
	int rc = 0;
	for (size_t i = 0; i <= parent->nkids && rc == 0; i++) {
		if (++r->steps > JRN_MUSTACHE_MAX_STEPS) {
			rc = jrn_fail(r->e, "line %d: template renders more than %d tags and texts "
				      "(the limit)", line, JRN_MUSTACHE_MAX_STEPS);
			break;
		}
		if (i == parent->nkids)
			break;
		const mnode *n = parent->kids[i];
		switch (n->type) {
		case N_TEXT:
			rc = out_add(r, n->text, n->len);
			break;
		case N_VAR: {
			jv v = lookup(r, n);
			jv_kind k = jv_get_kind(v);
			if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
				jv_free(v);
				if (n->has_def) {
					rc = put(r, n->text, n->len, n->escape);
				} else if ((r->flags & JRN_MUSTACHE_STRICT) && r->sections == 0) {
					rc = jrn_fail(r->e, "line %d: variable '%s' is %s and has no default",
						      n->line, n->name,
						      k == JV_KIND_NULL ? "null" : "missing");
				}
			} else {
				rc = put_value(r, v, n->escape);
			}
			break;
		}
		case N_SECTION:
		case N_INVERTED: {
			jv v = lookup(r, n);
			bool yes = truthy(v);
			r->sections++;
			if (n->type == N_INVERTED) {
				if (!yes)
					rc = render_nodes(r, n, n->line);
			} else if (yes && jv_get_kind(v) == JV_KIND_ARRAY) {
				int len = jv_array_length(jv_copy(v));
				for (int j = 0; j < len && rc == 0; j++) {
					jv el = jv_array_get(jv_copy(v), j);
					rc = render_in(r, n, el);
					jv_free(el);
				}
			} else if (yes) {
				rc = render_in(r, n, v);
			}
			r->sections--;
			jv_free(v);
			break;
		}
		case N_PARTIAL: {
			jrn_mustache *t;
			rc = get_partial(r, n, &t);
			if (rc == 0 && t)
				rc = render_nodes(r, &t->root, n->line);
			break;
		}
		}
	}
	r->depth--;
	return rc;
}

int jrn_mustache_render(const jrn_mustache *t, jv data, jv partials, int flags,
			jrn_buf *out, jrn_err *e)
{
	size_t was = out->len;
	rstate r = {.out = out, .partials = partials, .flags = flags, .was = was, .e = e};
	int rc = push(&r, data);
	if (rc == 0)
		rc = render_nodes(&r, &t->root, 1);
	for (size_t i = 0; i < r.npc; i++) {
		free(r.pc[i].name);
		free(r.pc[i].indent);
		jrn_mustache_free(r.pc[i].t);
	}
	free(r.pc);
	free(r.stack);
	if (rc < 0 && out->p) {
		out->len = was;
		out->p[was] = '\0';
	}
	return rc;
}

bool jrn_template_name_ok(const char *s, size_t n)
{
	bool ok = n > 0 && s[0] != '.' && n <= 200;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.';
	return ok;
}
