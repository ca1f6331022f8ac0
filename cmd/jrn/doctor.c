/* doctor.c: `jrn doctor`: what would stop the tools, found before cron
 * does: the configuration (every unset ${NAME}, with the key that names
 * it; jrn.yaml(5)) and the state file (there, readable, its schema). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verbs.h"

static const char doctor_usage[] = "usage: jrn doctor [--config FILE] [--db PATH]\n";

/* The config file as the tools find it: --config, JRN_CONFIG, ./jrn.yaml. */
static const char *config_path(const jrn_opts *o)
{
	const char *p = o->config_path ? o->config_path : getenv("JRN_CONFIG");
	if (p && *p)
		return p;
	return access("jrn.yaml", F_OK) == 0 ? "jrn.yaml" : NULL;
}

/* Prints each unset ${NAME} of cfg; returns how many, or -1. */
static int unresolved(jv cfg, const char *path)
{
	jv list;
	jrn_err e;
	int n = jrn_config_unresolved(cfg, &list, &e);
	if (n < 0)
		return jrn_say(-1, "doctor: %s", e.msg);
	for (int i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(list), i);
		jv k = jv_object_get(jv_copy(u), jv_string("key"));
		jv nm = jv_object_get(jv_copy(u), jv_string("name"));
		jv l = jv_object_get(jv_copy(u), jv_string("line"));
		jv c = jv_object_get(u, jv_string("column"));
		printf("%s:%d:%d: %s: ${%s} is not set\n", path, (int)jv_number_value(l),
		       (int)jv_number_value(c), jv_string_value(k), jv_string_value(nm));
		jv_free(k), jv_free(nm), jv_free(l), jv_free(c);
	}
	jv_free(list);
	return n;
}

/* Reports the state file at path without creating it: 0 fine, 1 not. */
static int state_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		printf("%s: no state file yet (jrn init or the first tool creates it)\n", path);
		return 0;
	}
	sqlite3 *db = NULL;
	int version = -1, rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	sqlite3_stmt *s = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	else
		rc = SQLITE_ERROR;
	const char *why = rc == SQLITE_OK ? NULL : db ? sqlite3_errmsg(db) : "cannot open";
	int bad = 0;
	jrn_err e;
	if (why)
		bad = printf("%s: not a readable state file: %s\n", path, why) > 0;
	else if (jrn_db_refuse_foreign(db, &e) < 0)
		bad = printf("%s: %s\n", path, e.msg) > 0;
	else if (version > JRN_SCHEMA_VERSION)
		bad = printf("%s: schema %d is newer than this jrn (%d)\n", path, version,
			     JRN_SCHEMA_VERSION) > 0;
	else
		printf("%s: state file, schema %d of %d%s\n", path, version, JRN_SCHEMA_VERSION,
		       version < JRN_SCHEMA_VERSION ? " (the next tool migrates it)" : "");
	sqlite3_finalize(s);
	sqlite3_close(db);
	return bad;
}

int verb_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {JRN_COMMON_LONG, {NULL, 0, NULL, 0}};
	jrn_opts o;
	admin_opts_init(&o, argv);
	optind = 1;
	int rc = jrn_opts_parse(&o, argc, argv, JRN_COMMON_SHORT, longopts, doctor_usage, NULL, NULL);
	if (rc >= 0 || optind < argc) {
		if (rc < 0)
			fputs(doctor_usage, stderr);
		jrn_opts_free(&o);
		return rc >= 0 ? rc : JRN_EXIT_USAGE;
	}
	int problems = 0;
	const char *path = config_path(&o);
	jv cfg = jv_object();
	if (path) {
		jrn_err e;
		jv_free(cfg);
		cfg = jrn_config_load(path, &e);
		if (!jv_is_valid(cfg)) {
			printf("%s\n", e.msg);
			problems++;
			cfg = jv_object();
		} else {
			int n = unresolved(cfg, path);
			problems += n < 0 ? 1 : n;
			if (n == 0)
				printf("%s: configuration, every ${NAME} set\n", path);
		}
	} else {
		printf("no jrn.yaml here (nor --config, JRN_CONFIG): the built-in defaults\n");
	}
	/* the state file as the tools find it: --db, JRN_DB, db.path, ./jrn.db */
	const char *db = o.db_path ? o.db_path : getenv("JRN_DB");
	jrn_buf full = {0};
	if (!db || !*db) {
		jv p = jrn_config_get(cfg, "db.path");
		if (jv_get_kind(p) == JV_KIND_STRING) {
			const char *s = jv_string_value(p), *slash = strrchr(path, '/');
			if (s[0] != '/' && slash)
				jrn_buf_add(&full, path, (size_t)(slash - path + 1));
			jrn_buf_adds(&full, s);
		}
		jv_free(p);
		db = full.p ? full.p : "jrn.db";
	}
	problems += state_file(db);
	jrn_buf_free(&full);
	jv_free(cfg);
	jrn_opts_free(&o);
	if (fflush(stdout) != 0 && errno != EPIPE)
		return jrn_say(JRN_EXIT_FAIL, "writing output: %s", strerror(errno));
	return problems ? JRN_EXIT_FAIL : JRN_EXIT_OK;
}
