/*
 * sources.c: the table of source types and the sources of jrn.yaml's
 * sources.list (see jrn-merge.h). The state file is not a row: it is
 * always read, and is the profile the sources add to.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-merge.h"

static const merge_source_ops *const types[] = {
	&merge_file_ops,
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

static bool wanted(const char *name, char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return n == 0;
}

int merge_sources_load(jv cfg, char *const *names, int nnames, merge_source **out, size_t *nout,
		       jrn_err *e)
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
		char *name = NULL, *type = NULL;
		if (jrn_config_string(item, "name", &name, &why) <= 0 || !*name)
			rc = jrn_fail(e, "sources.list[%d].name: a source needs a name", i);
		else if (jrn_config_string(item, "type", &type, &why) <= 0)
			rc = jrn_fail(e, "sources.list[%d].type: a source needs a type (file)", i);
		else if (!type_of(type))
			rc = jrn_fail(e, "sources.list[%d].type: unknown type '%s' (file)", i, type);
		for (size_t j = 0; rc == 0 && j < k; j++)
			if (!strcmp(s[j].name, name))
				rc = jrn_fail(e, "sources.list[%d].name: '%s' twice", i, name);
		if (rc == 0 && !strcmp(name, "identify"))
			rc = jrn_fail(e, "sources.list[%d].name: 'identify' is jrn-ingest's", i);
		if (rc == 0 && wanted(name, names, nnames)) {
			s[k].ops = type_of(type);
			s[k].name = name;
			name = NULL;
			merge_source *m = &s[k++];
			m->unify = true;
			if (jrn_config_bool(item, "unify", &m->unify, &why) < 0)
				rc = jrn_fail(e, "sources.list[%d].unify: %s", i, why.msg);
			else if (m->ops->load(m, item, &why) < 0)
				rc = jrn_fail(e, "sources.list[%d] (%s): %s", i, m->name, why.msg);
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
		if (!found)
			rc = jrn_fail(e, "--source %s: no such source in sources.list", names[i]);
	}
	if (rc < 0) {
		merge_sources_free(s, k);
		return -1;
	}
	*out = s;
	*nout = k;
	return 0;
}
