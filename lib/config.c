/* config.c: loading jrn.yaml (see jrn.yaml(5)).
 *
 * The file is read by the one YAML reader (yaml.c) with ${NAME} expanded
 * from the environment in string values, then checked against the schema
 * (config-schema.c): unknown keys (with a suggestion for a near miss) and
 * wrong types are errors that say FILE:LINE:COLUMN, read from the position
 * tree the reader builds beside the value.
 *
 * An unset ${NAME} is not an error at load: the value stays as written, is
 * not checked, and is listed under the member JRN_CONFIG_UNRESOLVED of the
 * loaded object ({"file": PATH, "refs": [{key, name, line, column}, ...]});
 * reading that key (jrn_config_get and the getters) fails, and so does
 * jrn_opts_resolve for a tool that reads its section (jrn_config_require).
 * The top level accepts no key but the schema's, so the member cannot
 * collide with one a file writes.
 *
 * Secrets. A value that came from ${NAME} is never shown: the checker's
 * messages show the scalar as written ("got '${SMTP_PASSWORD}'"), and the
 * loaded object keeps {KEY: TEXT AS WRITTEN} under JRN_CONFIG_FROM_ENV so
 * that a tool's own messages can do the same (jrn_config_shown).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-int.h"
#include "yaml.h"

#define EXACT_INT 9007199254740992.0 /* 2^53 */

/* "FILE:LINE:COLUMN: message" at a. Returns -1. */
static int fail_at(jrn_err *e, const char *file, jrn_yaml_at a, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(jrn_err *e, const char *file, jrn_yaml_at a, const char *fmt, ...)
{
	char msg[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char shown[JRN_PATH_SHOWN]; /* a long path must not push the reason out */
	return jrn_fail(e, "%s:%d:%d: %s", jrn_path_shown(file, shown), a.line, a.col, msg);
}

/* ---- the checker ----------------------------------------------------------- */

typedef struct {
	const char *file;
	jrn_err *e;
	jrn_buf path; /* "db.busyTimeout", "ingest.emailFields[1]" */
	jv unset;     /* the reader's unset references (yaml.h), keys as in path */
	jv env;       /* the reader's expanded references, the same way */
} checker;

/* The text to show for the string v (borrowed) at c->path: the value, or
 * the scalar as written ("${SMTP_PASSWORD}") when it came from ${NAME}. */
static const char *shown(const checker *c, jv v)
{
	const char *s = jv_string_value(v);
	jv_array_foreach(c->env, i, ref) {
		jv key = jv_object_get(jv_copy(ref), jv_string("key"));
		jv w = jv_object_get(ref, jv_string("written"));
		if (!strcmp(jv_string_value(key), c->path.p) && jv_get_kind(w) == JV_KIND_STRING)
			s = jv_string_value(w); /* c->env holds it */
		jv_free(key);
		jv_free(w);
	}
	return s;
}

/* Whether the value at c->path holds an unset ${NAME}. */
static bool is_unset(const checker *c)
{
	bool found = false;
	jv_array_foreach(c->unset, i, ref) {
		jv key = jv_object_get(ref, jv_string("key"));
		found = found || !strcmp(jv_string_value(key), c->path.p);
		jv_free(key);
	}
	return found;
}

/* One mapping at c->path became a list of one: the references in *list
 * move from "PATH.KEY" to "PATH[0].KEY", as the checked tree has them. */
static int refs_into_list(checker *c, jv *list)
{
	size_t n = c->path.len;
	jv_array_foreach(*list, i, ref) {
		jv key = jv_object_get(jv_copy(ref), jv_string("key"));
		const char *k = jv_string_value(key);
		if (!strncmp(k, c->path.p, n) && k[n] == '.') {
			jrn_buf b = {0};
			if (jrn_buf_add(&b, k, n) < 0 || jrn_buf_adds(&b, "[0]") < 0 ||
			    jrn_buf_adds(&b, k + n) < 0) {
				jv_free(key);
				jv_free(ref);
				jrn_buf_free(&b);
				return jrn_fail(c->e, "%s: out of memory", c->file);
			}
			ref = jv_object_set(ref, jv_string("key"), jv_string(b.p));
			*list = jv_array_set(*list, i, jv_copy(ref));
			jrn_buf_free(&b);
		}
		jv_free(key);
		jv_free(ref);
	}
	return 0;
}

/* v's kind for a message ("got a mapping"): jrn.yaml speaks YAML. */
static const char *kind_name(jv v)
{
	return jrn_kind_phrase(jv_get_kind(v), true);
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

static int type_error(checker *c, jrn_yaml_at a, const skey *k, jv v, const char *hint)
{
	return fail_at(c->e, c->file, a, "%s: expected %s, got %s%s", c->path.p,
		       expected(k), kind_name(v), hint ? hint : "");
}

/* a, or fallback when a is unknown (inside an alias). */
static jrn_yaml_at at_or(jrn_yaml_at a, jrn_yaml_at fallback)
{
	return a.line > 0 ? a : fallback;
}

static bool is_exact_int(double d)
{
	return d >= -EXACT_INT && d <= EXACT_INT && d == (double)(int64_t)d;
}

/* k's range: [.min, .max] when .max > .min; durations without one are
 * whole milliseconds from 0 to 2^53. */
static int in_range(checker *c, jrn_yaml_at a, const skey *k, double d)
{
	int64_t min = k->min, max = k->max;
	if (max <= min && k->type == S_DURATION)
		min = 0, max = (int64_t)EXACT_INT;
	if (max > min && (d < (double)min || d > (double)max))
		return fail_at(c->e, c->file, a, "%s: expected %s from %lld to %lld, got %.17g",
			       c->path.p, k->type == S_DURATION ? "milliseconds" : "an integer",
			       (long long)min, (long long)max, d);
	return 0;
}

static int check_section(checker *c, jv *obj, jv pos, const skey *keys, jrn_yaml_at where);
static int check_list(checker *c, jv *v, jv pos, const skey *k, jrn_yaml_at a);

/* Checks *v (a value at c->path, starting at a, with position tree pos,
 * borrowed) against k; may normalise *v. */
static int check_value(checker *c, jv *v, jv pos, const skey *k, jrn_yaml_at a)
{
	jv_kind kind = jv_get_kind(*v);
	if (kind == JV_KIND_STRING && is_unset(c))
		return 0; /* checked, and failed, where it is read */
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
			int64_t ms;
			if (jrn_config_duration_of(*v, &ms, NULL) < 0)
				return fail_at(c->e, c->file, a,
					       "%s: expected %s, got '%.64s' (units: ms s m h d w)",
					       c->path.p, expected(k), shown(c, *v));
			/* the key's own range holds for a written duration too */
			if (k->max > k->min && (ms < k->min || ms > k->max))
				return fail_at(c->e, c->file, a,
					       "%s: expected a duration from %lld ms to %lld ms, got "
					       "'%.64s' (%lld ms)", c->path.p, (long long)k->min,
					       (long long)k->max, shown(c, *v), (long long)ms);
		} else {
			return type_error(c, a, k, *v, NULL);
		}
		break;
	case S_LIST: {
		if (kind == JV_KIND_OBJECT) { /* one mapping: a list of one */
			if (refs_into_list(c, &c->unset) < 0 || refs_into_list(c, &c->env) < 0)
				return -1;
			*v = jv_array_append(jv_array(), *v);
			jv list_pos = jrn_yaml_pos_list_of(jv_copy(pos));
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
		/* each item a string, and what .check says of it (items are
		 * not normalised: a check here only judges) */
		for (int i = 0; i < n; i++) {
			jv item = jv_array_get(jv_copy(*v), i);
			jv_kind ik = jv_get_kind(item);
			const char *want = ik == JV_KIND_STRING && k->check ? k->check(&item) : NULL;
			if (ik == JV_KIND_STRING && !want) {
				jv_free(item);
				continue;
			}
			jv ent = jrn_yaml_pos_item(pos, i);
			jrn_yaml_at ia = at_or(jrn_yaml_pos_at(ent), a);
			jv_free(ent);
			size_t len = c->path.len;
			int rc;
			if (jrn_buf_addf(&c->path, "[%d]", i) < 0)
				rc = jrn_fail(c->e, "%s: out of memory", c->file);
			else if (want)
				rc = fail_at(c->e, c->file, ia, "%s: expected %s, got '%.64s'", c->path.p,
					     want, shown(c, item));
			else
				rc = fail_at(c->e, c->file, ia, "%s: expected a string, got %s", c->path.p,
					     kind_name(item));
			jv_free(item);
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
					       c->path.p, want, shown(c, *v));
			return fail_at(c->e, c->file, a, "%s: expected %s, got %s", c->path.p,
				       want, kind_name(*v));
		}
	}
	return 0;
}

/* Checks each item of the list *v (position tree pos, borrowed) as a
 * section of k->keys; "providers.email[1].url" in messages. */
static int check_list(checker *c, jv *v, jv pos, const skey *k, jrn_yaml_at a)
{
	int n = jv_array_length(jv_copy(*v));
	for (int i = 0; i < n; i++) {
		jv item = jv_array_get(jv_copy(*v), i);
		jv ent = jrn_yaml_pos_item(pos, i);
		jrn_yaml_at ia = at_or(jrn_yaml_pos_at(ent), a);
		size_t len = c->path.len;
		int rc;
		if (jrn_buf_addf(&c->path, "[%d]", i) < 0)
			rc = jrn_fail(c->e, "%s: out of memory", c->file);
		else if (jv_get_kind(item) != JV_KIND_OBJECT)
			rc = fail_at(c->e, c->file, ia, "%s: expected a mapping, got %s", c->path.p,
				     kind_name(item));
		else
			rc = check_section(c, &item, ent, k->keys, ia);
		c->path.len = len;
		if (c->path.p)
			c->path.p[len] = '\0';
		jv_free(ent);
		if (rc < 0) {
			jv_free(item);
			return -1;
		}
		*v = jv_array_set(*v, i, item);
	}
	return 0;
}

size_t jrn_edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	/* three rows of the table: i - 2, i - 1, i */
	size_t rows[3][64];
	if (lb >= sizeof rows[0] / sizeof rows[0][0] || la > 256)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		rows[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *up2 = rows[(i + 1) % 3], *up = rows[(i + 2) % 3], *row = rows[i % 3];
		row[0] = i;
		int x = tolower((unsigned char)a[i - 1]);
		for (size_t j = 1; j <= lb; j++) {
			int y = tolower((unsigned char)b[j - 1]);
			size_t best = up[j - 1] + (x != y);
			if (up[j] + 1 < best)
				best = up[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			/* a swapped adjacent pair: one edit */
			if (i > 1 && j > 1 && x == tolower((unsigned char)b[j - 2]) &&
			    y == tolower((unsigned char)a[i - 2]) && up2[j - 2] + 1 < best)
				best = up2[j - 2] + 1;
			row[j] = best;
		}
	}
	return rows[la % 3][lb];
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
		size_t d = jrn_edit_distance(s, n, k->name, kl);
		if (d <= limit && d < best_d)
			best = k->name, best_d = d;
	}
	return best;
}

/* Checks the keys of the mapping *obj (whose position tree is pos, borrowed,
 * and which starts at where) against keys. */
static int check_section(checker *c, jv *obj, jv pos, const skey *keys, jrn_yaml_at where)
{
	jv snap = jv_copy(*obj);
	int rc = 0;
	for (int it = jv_object_iter(snap); rc == 0 && jv_object_iter_valid(snap, it);
	     it = jv_object_iter_next(snap, it)) {
		jv key = jv_object_iter_key(snap, it);
		const char *name = jv_string_value(key);
		size_t nlen = (size_t)jv_string_length_bytes(jv_copy(key));
		jrn_yaml_at key_at = at_or(jrn_yaml_pos_key_at(pos, key), where);
		const skey *k = keys;
		while (k->name && strcmp(k->name, name))
			k++;
		if (!k->name || strlen(name) != nlen) {
			const char *near = suggest(name, nlen, keys);
			char hint[128] = "";
			if (near)
				snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
			if (c->path.len)
				rc = fail_at(c->e, c->file, key_at,
					     "unknown key '%.64s' in %s%s", name, c->path.p, hint);
			else
				rc = fail_at(c->e, c->file, key_at,
					     "unknown key '%.64s' at the top level%s", name, hint);
		} else {
			size_t len = c->path.len;
			if ((len && jrn_buf_addc(&c->path, '.') < 0) ||
			    jrn_buf_adds(&c->path, name) < 0) {
				rc = jrn_fail(c->e, "%s: out of memory", c->file);
			} else {
				jv v = jv_object_iter_value(snap, it);
				jv child = jrn_yaml_pos_value(pos, key);
				rc = check_value(c, &v, child, k, at_or(jrn_yaml_pos_at(child), where));
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
		jv_free(key);
	}
	jv_free(snap);
	return rc;
}

/* ---- the interface ------------------------------------------------------ */

/* {KEY: WRITTEN} from the reader's expanded references (consumed). */
static jv env_shown(jv refs)
{
	jv out = jv_object();
	jv_array_foreach(refs, i, ref) {
		jv key = jv_object_get(jv_copy(ref), jv_string("key"));
		jv w = jv_object_get(ref, jv_string("written"));
		if (jv_get_kind(key) == JV_KIND_STRING && jv_get_kind(w) == JV_KIND_STRING)
			out = jv_object_set(out, key, w);
		else
			jv_free(key), jv_free(w);
	}
	jv_free(refs);
	return out;
}

const char *jrn_config_shown(jv cfg, const char *dotted, const char *value)
{
	if (!dotted || jv_get_kind(cfg) != JV_KIND_OBJECT)
		return value;
	jv env = jv_object_get(jv_copy(cfg), jv_string(JRN_CONFIG_FROM_ENV));
	jv w = jv_get_kind(env) == JV_KIND_OBJECT ? jv_object_get(jv_copy(env), jv_string(dotted))
						  : jv_invalid();
	const char *s = jv_get_kind(w) == JV_KIND_STRING ? jv_string_value(w) : value;
	jv_free(w); /* cfg holds it: it lives as long as cfg */
	jv_free(env);
	return s;
}

jv jrn_config_load(const char *path, jrn_err *e)
{
	jv unset, env;
	jrn_yaml_opts yo = {.flags = JRN_YAML_ENV | JRN_YAML_ENV_KEEP,
			    .what = "the configuration", .unset = &unset, .env = &env};
	jv pos;
	jv cfg = jrn_yaml_load(path, &yo, &pos, e);
	int rc = jv_is_valid(cfg) ? 0 : -1;
	if (rc == 0) {
		if (jv_get_kind(cfg) == JV_KIND_NULL) { /* empty file, or comments only */
			jv_free(cfg);
			cfg = jv_object();
		} else if (jv_get_kind(cfg) != JV_KIND_OBJECT) {
			rc = fail_at(e, path, jrn_yaml_pos_at(pos),
				     "the top level must be a mapping of sections (db:, ingest:, ...), got %s",
				     kind_name(cfg));
		}
	}
	if (rc == 0) {
		checker c = {.file = path, .e = e, .unset = unset, .env = env};
		unset = env = jv_null();
		if (jrn_buf_adds(&c.path, "") < 0)
			rc = jrn_fail(e, "%s: out of memory", path);
		else
			rc = check_section(&c, &cfg, pos, jrn_config_schema, jrn_yaml_pos_at(pos));
		jrn_buf_free(&c.path);
		if (rc == 0 && jv_array_length(jv_copy(c.unset)) > 0)
			cfg = jv_object_set(cfg, jv_string(JRN_CONFIG_UNRESOLVED),
					    JV_OBJECT(jv_string("file"), jv_string(path),
						      jv_string("refs"), jv_copy(c.unset)));
		if (rc == 0 && jv_array_length(jv_copy(c.env)) > 0)
			cfg = jv_object_set(cfg, jv_string(JRN_CONFIG_FROM_ENV), env_shown(c.env));
		else
			jv_free(c.env);
		if (rc == 0) /* for jrn_config_where */
			cfg = jv_object_set(cfg, jv_string(JRN_CONFIG_POS),
					    JV_OBJECT(jv_string("file"), jv_string(path),
						      jv_string("tree"), jv_copy(pos)));
		jv_free(c.unset);
	}
	jv_free(unset);
	jv_free(env);
	jv_free(pos);
	if (rc < 0) {
		jv_free(cfg);
		return jv_invalid();
	}
	return cfg;
}

const char *jrn_config_where(jv cfg, const char *dotted, bool key, char *out, size_t n)
{
	if (!n)
		return out;
	out[0] = '\0';
	jv p = jv_get_kind(cfg) == JV_KIND_OBJECT ? jv_object_get(jv_copy(cfg), jv_string(JRN_CONFIG_POS))
						  : jv_invalid();
	jv file = jv_get_kind(p) == JV_KIND_OBJECT ? jv_object_get(jv_copy(p), jv_string("file"))
						  : jv_invalid();
	if (jv_get_kind(file) != JV_KIND_STRING) {
		jv_free(file);
		jv_free(p);
		return out;
	}
	jv cur = jv_object_get(p, jv_string("tree")); /* (p consumed) */
	jrn_yaml_at at = jrn_yaml_pos_at(cur);
	for (const char *s = dotted; *s && at.line;) {
		size_t len = strcspn(s, ".[");
		if (len) {
			jv k = jv_string_sized(s, (int)len);
			jrn_yaml_at kat = jrn_yaml_pos_key_at(cur, k);
			jv child = jrn_yaml_pos_value(cur, k);
			jv_free(k);
			if (!kat.line) { /* not written: where its mapping is */
				jv_free(child);
				break;
			}
			jv_free(cur);
			cur = child;
			at = jrn_yaml_pos_at(cur);
			/* the key itself when it is the last part (or the value
			 * has no place of its own) */
			if ((key && !s[len]) || !at.line)
				at = kat;
		}
		s += len;
		while (*s == '[') {
			char *end;
			long i = strtol(s + 1, &end, 10);
			if (*end != ']' || i < 0 || i > INT_MAX)
				break;
			jv item = jrn_yaml_pos_item(cur, (int)i);
			/* a mapping where a list of them may be: itself as [0] */
			if (jv_get_kind(item) == JV_KIND_NULL && i == 0) {
				jv ks = jrn_yaml_pos_keys(cur);
				if (jv_is_valid(ks))
					item = jv_copy(cur);
				jv_free(ks);
			}
			if (jv_get_kind(item) == JV_KIND_NULL) { /* no such item: where the list is */
				jv_free(item);
				break;
			}
			jv_free(cur);
			cur = item;
			at = jrn_yaml_pos_at(cur);
			s = end + 1;
		}
		if (*s == '.')
			s++;
		else if (*s)
			break;
	}
	jv_free(cur);
	char shown[JRN_PATH_SHOWN];
	if (at.line)
		snprintf(out, n, "%s:%d:%d", jrn_path_shown(jv_string_value(file), shown), at.line, at.col);
	else
		snprintf(out, n, "%s", jrn_path_shown(jv_string_value(file), shown));
	jv_free(file);
	return out;
}

const char *jrn_config_where_msg(jv cfg, const char *msg, char *out, size_t n)
{
	if (n)
		out[0] = '\0';
	/* a dotted path: names of letters, digits and _, joined by '.', each
	 * with [i]s after it, then ": " */
	size_t len = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]");
	if (!n || !len || len >= 256 || strncmp(msg + len, ": ", 2) || msg[0] == '.' || msg[0] == '[')
		return out;
	char path[256];
	memcpy(path, msg, len);
	path[len] = '\0';
	return jrn_config_where(cfg, path, false, out, n);
}

/* The first unset reference at key dotted (or, with below, at or below it)
 * in cfg (borrowed), owned, or invalid when none; *file set to the
 * configuration's path (borrowed from cfg). */
static jv find_unset(jv cfg, const char *dotted, bool below, const char **file)
{
	if (jv_get_kind(cfg) != JV_KIND_OBJECT)
		return jv_invalid();
	jv un = jv_object_get(jv_copy(cfg), jv_string(JRN_CONFIG_UNRESOLVED));
	if (jv_get_kind(un) != JV_KIND_OBJECT) {
		jv_free(un);
		return jv_invalid();
	}
	jv fv = jv_object_get(jv_copy(un), jv_string("file"));
	jv found = jv_invalid();
	size_t n = strlen(dotted);
	jv refs = jv_object_get(jv_copy(un), jv_string("refs"));
	if (jv_get_kind(refs) != JV_KIND_ARRAY) {
		jv_free(refs);
		refs = jv_array();
	}
	jv_array_foreach(refs, i, ref) {
		if (jv_get_kind(ref) != JV_KIND_OBJECT) { /* not load's: a hand-built cfg */
			jv_free(ref);
			continue;
		}
		jv key = jv_object_get(jv_copy(ref), jv_string("key"));
		const char *k = jv_get_kind(key) == JV_KIND_STRING ? jv_string_value(key) : NULL;
		bool hit = k && !strncmp(k, dotted, n) &&
			   (k[n] == '\0' || (below && (k[n] == '.' || k[n] == '[' || !n)));
		jv_free(key);
		if (hit && !jv_is_valid(found)) {
			jv_free(found);
			found = ref;
		} else {
			jv_free(ref);
		}
	}
	jv_free(refs);
	/* cfg holds un, which holds the path: it lives as long as cfg */
	*file = jv_get_kind(fv) == JV_KIND_STRING ? jv_string_value(fv) : "the configuration";
	jv_free(fv);
	jv_free(un);
	return found;
}

/* "FILE:LINE:COLUMN: KEY: ${NAME} is not set" for ref (borrowed). */
static int unset_error(jrn_err *e, const char *file, jv ref)
{
	jv key = jv_object_get(jv_copy(ref), jv_string("key"));
	jv name = jv_object_get(jv_copy(ref), jv_string("name"));
	jv line = jv_object_get(jv_copy(ref), jv_string("line"));
	jv col = jv_object_get(jv_copy(ref), jv_string("column"));
	bool ok = jv_get_kind(key) == JV_KIND_STRING && jv_get_kind(name) == JV_KIND_STRING &&
		  jv_get_kind(line) == JV_KIND_NUMBER && jv_get_kind(col) == JV_KIND_NUMBER;
	char shown[JRN_PATH_SHOWN];
	file = jrn_path_shown(file, shown);
	if (ok)
		jrn_fail(e, "%s:%d:%d: %s: ${%s} is not set", file, (int)jv_number_value(line),
			 (int)jv_number_value(col), jv_string_value(key), jv_string_value(name));
	else
		jrn_fail(e, "%s: a key names an unset environment variable", file);
	jv_free(key), jv_free(name), jv_free(line), jv_free(col);
	return -1;
}

int jrn_config_unset_at(jv cfg, const char *dotted, bool below, jrn_err *e)
{
	const char *file;
	jv ref = find_unset(cfg, dotted, below, &file);
	int rc = jv_is_valid(ref) ? unset_error(e, file, ref) : 0;
	jv_free(ref);
	return rc;
}

int jrn_config_unresolved(jv cfg, jv *out, jrn_err *e)
{
	*out = jv_invalid();
	if (jv_get_kind(cfg) != JV_KIND_OBJECT)
		return jrn_fail(e, "not a loaded configuration (%s)", kind_name(cfg));
	jv un = jv_object_get(jv_copy(cfg), jv_string(JRN_CONFIG_UNRESOLVED));
	jv refs = jv_get_kind(un) == JV_KIND_OBJECT ? jv_object_get(jv_copy(un), jv_string("refs"))
						    : jv_array();
	jv_free(un);
	if (jv_get_kind(refs) != JV_KIND_ARRAY) {
		jv_free(refs);
		refs = jv_array();
	}
	*out = refs;
	return jv_array_length(jv_copy(refs));
}

jv jrn_config_get(jv cfg, const char *dotted)
{
	if (!dotted)
		return jv_invalid();
	const char *file;
	jv ref = find_unset(cfg, dotted, false, &file);
	if (jv_is_valid(ref)) {
		jrn_err e;
		unset_error(&e, file, ref);
		jv_free(ref);
		return jv_invalid_with_msg(jv_string(e.msg));
	}
	jv_free(ref);
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
