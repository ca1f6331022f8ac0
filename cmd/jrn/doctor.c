/* doctor.c: `jrn doctor`: what would stop the tools, found before cron
 * does: the configuration (every unset ${NAME}, with the key that names
 * it; jrn.yaml(5)), the state file (there, readable, its schema), each
 * tool's own start-up checks of the configuration (jrn-TOOL
 * --check-config, run as jrn runs tools) and the jobs: of jrn run. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "verbs.h"

extern char **environ;

/* The first error writing doctor's output (errno), kept from the flush
 * before each tool runs to the end: a flush that failed empties the
 * buffer, and the last one then succeeds. 0: none. */
static int write_errno;

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

/* The tools doctor runs with --check-config, and the sections of jrn.yaml
 * each reads (config-schema.c's readers): a tool not installed is a
 * problem only when the configuration has one of them. */
static const struct {
	const char *name;
	const char *sections[4]; /* ended by NULL */
} tools[] = {
	{"jrn-ingest", {"ingest", "nats", NULL}},
	{"jrn-merge", {"sources", NULL}},
	{"jrn-segment", {"segments", NULL}},
	{"jrn-score", {"scoring", NULL}},
	{"jrn-ai", {"ai", NULL}},
	{"jrn-route", {"policy", NULL}},
	{"jrn-send", {"send", "providers", "templates", NULL}},
	{"jrn-report", {"report", NULL}},
};

/* Runs tool i with --check-config (and --config path when config, the
 * --config given, is set), found as jrn finds tools (beside jrn, then on
 * PATH), its stdin /dev/null, its stdout and stderr doctor's: each of its
 * messages is its own, "jrn-TOOL: ...". Says on stdout when it would not
 * start, or is not installed; cfg (borrowed) says whether that matters.
 * Returns 1 for a problem, else 0. */
static int tool_check(size_t i, const char *config, jv cfg)
{
	const char *name = tools[i].name;
	char *argv[] = {(char *)name, "--check-config", config ? "--config" : NULL,
			(char *)config, NULL};
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return printf("%s: cannot run it: out of memory\n", name) > 0;
	int rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	char *path = jrn_tool_beside(name);
	pid_t pid;
	if (fflush(stdout) != 0 && !write_errno) /* its lines after doctor's */
		write_errno = errno;
	fflush(stderr);
	if (rc == 0)
		rc = path ? posix_spawn(&pid, path, &fa, NULL, argv, environ)
			  : posix_spawnp(&pid, name, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	free(path);
	if (rc == ENOENT) {
		bool needed = false;
		for (const char *const *s = tools[i].sections; *s && !needed; s++)
			needed = jv_object_has(jv_copy(cfg), jv_string(*s));
		printf("%s: not installed (not beside jrn, nor on PATH)%s\n", name,
		       needed ? ", and the configuration has its section" : "");
		return needed;
	}
	if (rc != 0)
		return printf("%s: cannot run it: %s\n", name, strerror(rc)) > 0;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return printf("%s: %s\n", name, strerror(errno)) > 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		printf("%s: would not start (%s --check-config: exit %d)\n", name, name,
		       WEXITSTATUS(st));
	else
		printf("%s: %s --check-config died of signal %d\n", name, name,
		       WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 1;
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
	bool loaded = true;
	const char *path = config_path(&o);
	jv cfg = jv_object();
	if (path) {
		jrn_err e;
		jv_free(cfg);
		cfg = jrn_config_load(path, &e);
		if (!jv_is_valid(cfg)) {
			printf("%s\n", e.msg);
			problems++;
			loaded = false;
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
	/* the tools' own checks, and jobs:, once the file loads (else each
	 * tool would say the same load error again) */
	if (loaded) {
		for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
			problems += tool_check(i, o.config_path, cfg);
		problems += jobs_check(cfg, path);
	}
	jv_free(cfg);
	jrn_opts_free(&o);
	if (fflush(stdout) != 0 && !write_errno)
		write_errno = errno;
	if (write_errno && write_errno != EPIPE)
		return jrn_say(JRN_EXIT_FAIL, "writing output: %s", strerror(write_errno));
	return problems ? JRN_EXIT_FAIL : JRN_EXIT_OK;
}
