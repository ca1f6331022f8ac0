/* admin.c: what jrn's verbs share: the common options and the state file,
 * the audit log, their output on stdout. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "verbs.h"

void admin_opts_init(jrn_opts *o, char **argv)
{
	static char said[64], prog[64];
	snprintf(said, sizeof said, "jrn: %s", argv[0]);
	snprintf(prog, sizeof prog, "jrn %s", argv[0]);
	argv[0] = said; /* getopt_long's prefix */
	jrn_opts_init(o, prog);
	jrn_prog_set("jrn");
}

int admin_parse(jrn_opts *o, int argc, char **argv, const char *shortopts,
		const struct option *longopts, const char *usage,
		int (*take)(void *ctx, int c, const char *arg), void *ctx)
{
	admin_opts_init(o, argv);
	optind = 0; /* glibc: start afresh */
	int rc = jrn_opts_parse(o, argc, argv, shortopts, longopts, usage, take, ctx);
	if (rc >= 0)
		return rc;
	jrn_err e;
	rc = jrn_opts_resolve(o, &e);
	if (rc == -2)
		return jrn_say(JRN_EXIT_USAGE, "%s", e.msg);
	if (rc < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	return -1;
}

int admin_bad_sub(const char *verb, const char *sub, const char *const *subs,
		  const char *usage)
{
	const char *near = sub ? jrn_nearest(sub, subs) : NULL;
	if (near)
		jrn_say(0, "%s: %s: unknown command (did you mean %s?)", verb, sub, near);
	fputs(usage, stderr);
	return JRN_EXIT_USAGE;
}

int admin_open(const jrn_opts *o, sqlite3 **db)
{
	jrn_err e;
	if (o->verbosity > 0) {
		jrn_say(0, "state file %s", o->db_path);
		jrn_say(0, "config %s", o->config_path ? o->config_path : "(none: defaults)");
	}
	if (jrn_db_open(o->db_path, o->busy_ms, db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	return 0;
}

int admin_open_existing(const jrn_opts *o, const char *verb, sqlite3 **db)
{
	jrn_err e;
	if (jrn_db_exists(o->db_path, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", verb, e.msg);
	return admin_open(o, db);
}

const char *admin_who(void)
{
	static char uid[32];
	const char *u = getenv("USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_name && *pw->pw_name)
		return pw->pw_name;
	snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
	return uid;
}

int admin_audit(sqlite3 *db, const char *verb, int argc, char **argv, jv counts,
		jrn_err *e)
{
	jrn_buf args = {0}, cnt = {0};
	jv a = jv_array();
	for (int i = 0; i < argc; i++)
		a = jv_array_append(a, jv_string(argv[i]));
	int rc = -1;
	sqlite3_stmt *st = NULL;
	if (jrn_json_append(&args, a, 0, e) < 0) {
		jv_free(counts);
		goto out;
	}
	if (jrn_json_append(&cnt, counts, JRN_JSON_SORTED, e) < 0)
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO audit (ts, who, verb, args, counts)"
			       " VALUES (?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
		jrn_fail(e, "audit log: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, jrn_now());
	sqlite3_bind_text(st, 2, admin_who(), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, verb, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, args.p, (int)args.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, cnt.p, (int)cnt.len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		jrn_fail(e, "audit log: %s", sqlite3_errmsg(db));
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	jrn_buf_free(&args);
	jrn_buf_free(&cnt);
	return rc;
}

/* The verbs' standard output: one buffered writer (lib/out.c), never
 * stdio, so that a write error keeps its errno for admin_finish. */
static jrn_out out = {.fd = STDOUT_FILENO};
static bool unprintable; /* a value had no JSON form (said): exit 1 */

int admin_print(jv v)
{
	jrn_buf b = {0};
	jrn_err e;
	if (out.err) {
		jv_free(v);
		return -1;
	}
	if (jrn_json_append(&b, v, 0, &e) < 0) {
		jrn_buf_free(&b);
		unprintable = true;
		return jrn_say(-1, "%s", e.msg);
	}
	int rc = jrn_out_line(&out, b.p, b.len);
	jrn_buf_free(&b);
	return rc;
}

int admin_write(const char *p, size_t len)
{
	return jrn_out_text(&out, p, len);
}

bool admin_gone(void)
{
	return out.err != 0;
}

int admin_finish(int status)
{
	if (unprintable && status == JRN_EXIT_OK)
		status = JRN_EXIT_FAIL;
	return jrn_finish(&out, NULL, status);
}
