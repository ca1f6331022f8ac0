/* opts.c: the options, environment and configuration every tool shares,
 * resolved in one order: flag > environment > config file > default. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn.h"

void jrn_opts_init(jrn_opts *o, const char *prog)
{
	memset(o, 0, sizeof *o);
	o->prog = prog;
	jrn_prog_set(prog);
	o->busy_ms = 10000;
	o->config = jv_object();
}

int jrn_opts_take(jrn_opts *o, int c, const char *arg)
{
	switch (c) {
	case JRN_OPT_DB:
		o->db_path = arg;
		if (o->ndb < JRN_DB_FILES_MAX)
			o->db_paths[o->ndb] = arg;
		o->ndb++;
		return 1;
	case JRN_OPT_CONFIG: o->config_path = arg; return 1;
	case JRN_OPT_NOW: o->now = arg; return 1;
	case JRN_OPT_REJECTS: o->rejects_path = arg; return 1;
	case JRN_OPT_DRY_RUN: o->dry_run = true; return 1;
	case JRN_OPT_CHECK_CONFIG: o->check_config = true; return 1;
	case 'q': o->verbosity = -1; o->verbosity_set = true; return 1;
	case 'v':
		o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1;
		o->verbosity_set = true;
		return 1;
	}
	return 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Keeps a string the options now point to, to free it with them. */
static const char *own(jrn_opts *o, char *s)
{
	for (size_t i = 0; i < sizeof o->owned / sizeof o->owned[0]; i++)
		if (!o->owned[i])
			return o->owned[i] = s;
	return s; /* not reached: more slots than owned strings */
}

int jrn_opts_resolve(jrn_opts *o, jrn_err *e)
{
	const char *log = env("JRN_LOG");
	if (!o->verbosity_set && log) {
		if (!strcmp(log, "quiet") || !strcmp(log, "error"))
			o->verbosity = -1;
		else if (!strcmp(log, "info") || !strcmp(log, "normal"))
			o->verbosity = 0;
		else if (!strcmp(log, "verbose") || !strcmp(log, "debug"))
			o->verbosity = 1;
		else
			return jrn_fail(e, "JRN_LOG: '%s' is not one of quiet, info, verbose", log);
	}
	if (!o->db_path)
		o->db_path = env("JRN_DB");
	if (!o->config_path)
		o->config_path = env("JRN_CONFIG");
	bool now_flag = o->now != NULL; /* a bad flag is usage, a bad JRN_NOW not */
	if (!o->now)
		o->now = env("JRN_NOW");

	/* ./jrn.yaml is read when present, as `jrn init` leaves it. */
	const char *cfg = o->config_path;
	if (!cfg && access("jrn.yaml", F_OK) == 0)
		cfg = "jrn.yaml";
	if (cfg) {
		jv c = jrn_config_load(cfg, e);
		if (!jv_is_valid(c))
			return -1;
		jv_free(o->config);
		o->config = c;
		o->config_path = cfg;
		if (jrn_config_require(o->config, o->prog, e) < 0)
			return -1;
	}

	jv path = jrn_config_get(o->config, "db.path");
	if (!o->db_path && jv_get_kind(path) == JV_KIND_STRING) {
		/* A relative db.path is relative to the config file's directory. */
		const char *p = jv_string_value(path);
		const char *slash = strrchr(o->config_path, '/');
		jrn_buf full = {0};
		if (p[0] != '/' && slash)
			jrn_buf_add(&full, o->config_path, (size_t)(slash - o->config_path + 1));
		jrn_buf_adds(&full, p);
		char *s = full.p;
		if (!s) {
			jv_free(path);
			return jrn_fail(e, "out of memory");
		}
		o->db_path = own(o, s);
	}
	jv_free(path);
	if (!o->db_path)
		o->db_path = "jrn.db";

	jv busy = jrn_config_get(o->config, "db.busyTimeout");
	if (jv_get_kind(busy) == JV_KIND_NUMBER) {
		o->busy_ms = (int)jv_number_value(busy);
	} else if (jv_get_kind(busy) == JV_KIND_STRING) {
		int64_t ms;
		if (jrn_duration_parse(jv_string_value(busy), &ms, e) < 0) {
			jv_free(busy);
			return -1;
		}
		o->busy_ms = ms > 0x7fffffff ? 0x7fffffff : (int)ms;
	}
	jv_free(busy);

	if (o->now) {
		int64_t ms;
		jrn_err te;
		if (jrn_time_parse(o->now, strlen(o->now), JRN_TIME_DATE_OK, &ms, &te) < 0) {
			jrn_fail(e, "--now/JRN_NOW '%s': %s", o->now, te.msg);
			return now_flag ? -2 : -1;
		}
		jrn_clock_set(ms);
	}
	return 0;
}

void jrn_opts_free(jrn_opts *o)
{
	for (size_t i = 0; i < sizeof o->owned / sizeof o->owned[0]; i++) {
		free(o->owned[i]);
		o->owned[i] = NULL;
	}
	jv_free(o->config);
	o->config = jv_null();
}
