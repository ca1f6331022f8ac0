/*
 * sources.c: the table of source types and the sources of jrn.yaml's
 * sources.list (see jrn-merge.h). The state file is not a row: it is
 * always read, and is the profile the sources add to.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-merge.h"

static const merge_source_ops *const types[] = {
	&merge_file_ops,
	&merge_http_ops,
};
#define NTYPES (sizeof types / sizeof types[0])

static const merge_source_ops *type_of(const char *t)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (!strcmp(types[i]->type, t))
			return types[i];
	return NULL;
}

void merge_sources_free(merge_source *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		if (s[i].ops && s[i].ops->done)
			s[i].ops->done(&s[i]);
		free(s[i].name);
		free(s[i].key);
	}
	free(s);
}

/* The keys of sources: and of a source (jrn-merge(1), CONFIGURATION). The
 * section is open in lib/config-schema.c (tests use it as a scratch
 * section), so its keys are checked here. */
static const char *const section_keys[] = {"precedence", "sharedLimit", "historyLimit", "parallel",
					   "list", NULL};
static const char *const source_keys[] = {"name",    "type",    "path",    "format",   "key",
					  "unify",   "url",     "headers", "pointer",  "timeout",
					  "retries", "cacheTtl", NULL};

/* Fails e with "FILE:LINE:COLUMN: message": where the key (key) or the
 * value at dotted is written in cfg's file (jrn_config_where; "FILE: "
 * when that place is not known, nothing before the message when cfg has
 * no file). Returns -1. */
static int fail_at(jrn_err *e, jv cfg, const char *dotted, bool key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail_at(jrn_err *e, jv cfg, const char *dotted, bool key, const char *fmt, ...)
{
	char where[JRN_PATH_SHOWN + 32], msg[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	jrn_config_where(cfg, dotted, key, where, sizeof where);
	return jrn_fail(e, "%s%s%s", where, *where ? ": " : "", msg);
}

/* The keys one type of source reads, beside name, type, key and unify
 * (file.c, http.c): a key of the other type is an error, not ignored. */
static const struct {
	const char *type, *const keys[8];
} type_keys[] = {
	{"file", {"path", "format", NULL}},
	{"http", {"url", "headers", "pointer", "timeout", "retries", "cacheTtl", NULL}},
};

static bool known(const char *const *keys, const char *k);

/* A key of source it (borrowed, at path) that its type does not read:
 * 0, or -1 with e at that key. A type not known is load's to say. */
static int check_type_keys(jv cfg, jv it, const char *path, jrn_err *e)
{
	jv t = jv_object_get(jv_copy(it), jv_string("type"));
	int rc = 0;
	bool typed = false;
	for (size_t i = 0; i < sizeof type_keys / sizeof *type_keys; i++)
		typed = typed || (jv_get_kind(t) == JV_KIND_STRING &&
				  !strcmp(jv_string_value(t), type_keys[i].type));
	for (size_t i = 0; i < sizeof type_keys / sizeof *type_keys && rc == 0 && typed; i++) {
		if (!strcmp(jv_string_value(t), type_keys[i].type))
			continue;
		/* a key only this other type reads */
		for (const char *const *k = type_keys[i].keys; *k && rc == 0; k++) {
			bool mine = false;
			for (size_t j = 0; j < sizeof type_keys / sizeof *type_keys; j++)
				mine = mine || (!strcmp(jv_string_value(t), type_keys[j].type) &&
						known(type_keys[j].keys, *k));
			if (!mine && jv_object_has(jv_copy(it), jv_string(*k))) {
				char at[128];
				snprintf(at, sizeof at, "%s.%s", path, *k);
				rc = fail_at(e, cfg, at, true, "%s: only %s sources read it (this one is of type %s)",
					     at, type_keys[i].type, jv_string_value(t));
			}
		}
	}
	jv_free(t);
	return rc;
}

static bool known(const char *const *keys, const char *k)
{
	for (; *keys; keys++)
		if (!strcmp(*keys, k))
			return true;
	return false;
}

/* Unknown keys of obj (borrowed) under path in cfg (borrowed): 0 or -1
 * with e, "FILE:LINE:COLUMN: PATH: unknown key 'K' (did you mean NEAR?)",
 * else with the keys listed. */
static int check_keys(jv cfg, jv obj, const char *path, const char *const *keys, jrn_err *e)
{
	int rc = 0;
	jv_object_foreach(obj, k, v) {
		if (rc == 0 && !known(keys, jv_string_value(k))) {
			char what[160], list[200] = "", msg[sizeof what + sizeof list + 32], at[300];
			snprintf(what, sizeof what, "key '%.100s'", jv_string_value(k));
			for (size_t i = 0; keys[i]; i++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 i ? ", " : "", keys[i]);
			snprintf(at, sizeof at, "%s.%.200s", path, jv_string_value(k));
			rc = fail_at(e, cfg, at, true, "%s: %s", path,
				     jrn_unknown_word(what, jv_string_value(k), keys, list, msg,
						      sizeof msg));
		}
		jv_free(k);
		jv_free(v);
	}
	return rc;
}

int merge_sources_check(jv cfg, jrn_err *e)
{
	jv sec = jrn_config_get(cfg, "sources");
	int rc = 0;
	if (jv_get_kind(sec) == JV_KIND_OBJECT)
		rc = check_keys(cfg, sec, "sources", section_keys, e);
	jv_free(sec);
	int64_t par;
	jrn_err pwhy;
	int pgot = rc == 0 ? jrn_config_int(cfg, "sources.parallel", &par, &pwhy) : 0;
	if (pgot < 0 || (pgot > 0 && (par < 1 || par > MERGE_PARALLEL_MAX)))
		rc = fail_at(e, cfg, "sources.parallel", false,
			     "sources.parallel: expected an integer from 1 to %d (the limit)",
			     MERGE_PARALLEL_MAX);
	const char *ints[] = {"sources.sharedLimit", "sources.historyLimit"};
	for (int i = 0; i < 2 && rc == 0; i++) {
		int64_t n;
		jrn_err why;
		int got = jrn_config_int(cfg, ints[i], &n, &why);
		if (got < 0 || (got > 0 && (n < 1 || n > 1000000)))
			rc = fail_at(e, cfg, ints[i], false, "%s: expected an integer from 1 to 1000000",
				     ints[i]);
	}
	jv prec = jrn_config_get(cfg, "sources.precedence");
	if (rc == 0 && jv_is_valid(prec) && jv_get_kind(prec) != JV_KIND_NULL) {
		bool ok = jv_get_kind(prec) == JV_KIND_ARRAY;
		if (ok)
			jv_array_foreach(prec, i, x) {
				ok = ok && jv_get_kind(x) == JV_KIND_STRING;
				jv_free(x);
				(void)i;
			}
		if (!ok)
			rc = fail_at(e, cfg, "sources.precedence", false,
				     "sources.precedence: expected a list of source names");
	}
	jv_free(prec);
	jv list = jrn_config_get(cfg, "sources.list");
	if (jv_get_kind(list) == JV_KIND_OBJECT)
		list = JV_ARRAY(list);
	if (rc == 0 && jv_is_valid(list) && jv_get_kind(list) != JV_KIND_ARRAY &&
	    jv_get_kind(list) != JV_KIND_NULL)
		rc = fail_at(e, cfg, "sources.list", false, "sources.list: expected a list of sources");
	if (rc == 0 && jv_get_kind(list) == JV_KIND_ARRAY)
		jv_array_foreach(list, i, it) {
			char path[64];
			snprintf(path, sizeof path, "sources.list[%d]", i);
			if (rc == 0 && jv_get_kind(it) != JV_KIND_OBJECT)
				rc = fail_at(e, cfg, path, false, "%s: expected a mapping", path);
			else if (rc == 0)
				rc = check_keys(cfg, it, path, source_keys, e);
			if (rc == 0 && jv_get_kind(it) == JV_KIND_OBJECT)
				rc = check_type_keys(cfg, it, path, e);
			jv_free(it);
		}
	jv_free(list);
	return rc;
}

static bool wanted(const char *name, char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return n == 0;
}

/* A source's load failed with msg, which starts with the key it is about
 * ("format: ...", "headers.X: ..."): said at that key's value when the
 * source (item, borrowed) has it, else at the source (at:
 * "sources.list[i]", named name). -1. */
static int load_failed(jrn_err *e, jv cfg, jv item, const char *at, const char *name,
		       const char *msg)
{
	size_t kl = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
	char dotted[128];
	snprintf(dotted, sizeof dotted, "%s", at);
	if (kl && kl < 40 && (msg[kl] == ':' || msg[kl] == '.')) {
		if (jv_object_has(jv_copy(item), jv_string_sized(msg, (int)kl)))
			snprintf(dotted, sizeof dotted, "%s.%.*s", at, (int)kl, msg);
	}
	return fail_at(e, cfg, dotted, false, "%s (%s): %s", at, name, msg);
}

int merge_sources_load(jv cfg, char *const *names, int nnames, merge_net *net, merge_source **out,
		       size_t *nout, jrn_err *e)
{
	jv list = jrn_config_get(cfg, "sources.list");
	if (jv_get_kind(list) == JV_KIND_OBJECT)
		list = JV_ARRAY(list);
	int n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
	merge_source *s = calloc((size_t)n + 1, sizeof *s);
	size_t k = 0;
	int rc = 0;
	jrn_err why;
	*out = NULL;
	*nout = 0;
	if (!s) {
		jv_free(list);
		return jrn_fail(e, "out of memory");
	}
	for (int i = 0; i < n && rc == 0; i++) {
		jv item = jv_array_get(jv_copy(list), i);
		char *name = NULL, *type = NULL, at[64], nat[80], tat[80];
		snprintf(at, sizeof at, "sources.list[%d]", i);
		snprintf(nat, sizeof nat, "%s.name", at);
		snprintf(tat, sizeof tat, "%s.type", at);
		if (jrn_config_string(item, "name", &name, &why) <= 0 || !*name)
			rc = fail_at(e, cfg, nat, false, "%s: a source needs a name", nat);
		else if (jrn_config_string(item, "type", &type, &why) <= 0)
			rc = fail_at(e, cfg, tat, false, "%s: a source needs a type (file, http)", tat);
		else if (!type_of(type))
			rc = fail_at(e, cfg, tat, false, "%s: unknown type '%s' (file, http)", tat, type);
		for (size_t j = 0; rc == 0 && j < k; j++)
			if (!strcmp(s[j].name, name))
				rc = fail_at(e, cfg, nat, false, "%s: '%s' twice", nat, name);
		if (rc == 0 && !strcmp(name, "identify"))
			rc = fail_at(e, cfg, nat, false, "%s: 'identify' is jrn-ingest's", nat);
		if (rc == 0 && wanted(name, names, nnames)) {
			s[k].ops = type_of(type);
			s[k].name = name;
			name = NULL;
			merge_source *m = &s[k++];
			m->unify = true;
			m->net = net;
			if (jrn_config_bool(item, "unify", &m->unify, &why) < 0)
				rc = fail_at(e, cfg, at, false, "%s.unify: %s", at, why.msg);
			else if (m->ops->load(m, item, &why) < 0)
				rc = load_failed(e, cfg, item, at, m->name, why.msg);
		}
		free(name);
		free(type);
		jv_free(item);
	}
	jv_free(list);
	for (int i = 0; rc == 0 && i < nnames; i++) {
		bool found = false;
		for (size_t j = 0; j < k; j++)
			found = found || !strcmp(s[j].name, names[i]);
		if (!found) { /* the flag's value is wrong: a usage error (-2) */
			jrn_fail(e, "--source %s: no such source in sources.list", names[i]);
			rc = -2;
		}
	}
	if (rc < 0) {
		merge_sources_free(s, k);
		return rc;
	}
	*out = s;
	*nout = k;
	return 0;
}
