/* log.c: `jrn log [JOB] [-n N] [--json]`: the recent runs of jrn run,
 * newest first, each with its stages (tables runs and run_stages). Over
 * several state files (--db repeated, or --db @FILE; lib/multidb.c) the
 * runs of all, newest start first, each naming its file ("db"): the
 * combined ids are the file's id plus k * 2^40 for the k-th file. */
#include <stdlib.h>
#include <string.h>

#include "verbs.h"

static const char log_usage[] =
	"usage: jrn log [-n N] [--json] [--db PATH]... [--config PATH] [JOB]\n"
	"The last N runs (default 10) of jrn run, newest first, with their stages:\n"
	"a table, or with --json one object per run. With several --db (or --db @FILE,\n"
	"one path a line) the runs of every file, each naming its file.\n";

typedef struct {
	long n;
	bool json;
	char **paths; /* several files: their paths (k-th file: id >> 40 == k) */
	size_t npaths;
} log_flags;

#define FILE_ID_BITS 40 /* lib/multidb.c's offset of the k-th file's ids */

enum { OPT_JSON = JRN_OPT_TOOL_BASE };

static int log_take(void *ctx, int c, const char *arg)
{
	log_flags *f = ctx;
	if (c == OPT_JSON) {
		f->json = true;
		return 0;
	}
	if (c != 'n')
		return -2;
	char *end;
	f->n = strtol(arg, &end, 10);
	if (!*arg || *end || f->n < 1)
		return jrn_say(JRN_EXIT_USAGE, "log: -n '%s': not a positive whole number", arg);
	return 0;
}

static jv col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? jv_null()
							  : jv_number((double)sqlite3_column_int64(st, i));
}

static jv col_time(sqlite3_stmt *st, int i)
{
	char t[32];
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return jv_null();
	jrn_time_format(sqlite3_column_int64(st, i), t);
	return jv_string(t);
}

/* The stages of run id as a jv array, or jv_invalid with e. */
static jv stages_of(sqlite3 *db, int64_t id, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT stage, command, pid, started_at, ended_at, elapsed_ms,"
			       " status, lines_out, bytes_out FROM run_stages WHERE run_id = ?"
			       " ORDER BY stage", -1, &st, NULL) != SQLITE_OK) {
		jrn_fail(e, "%s", sqlite3_errmsg(db));
		return jv_invalid();
	}
	sqlite3_bind_int64(st, 1, id);
	jv a = jv_array();
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		jv s = jv_object();
		s = jv_object_set(s, jv_string("stage"), col_int(st, 0));
		s = jv_object_set(s, jv_string("command"),
				  jv_string((const char *)sqlite3_column_text(st, 1)));
		s = jv_object_set(s, jv_string("pid"), col_int(st, 2));
		s = jv_object_set(s, jv_string("started"), col_time(st, 3));
		s = jv_object_set(s, jv_string("ended"), col_time(st, 4));
		s = jv_object_set(s, jv_string("elapsedMs"), col_int(st, 5));
		s = jv_object_set(s, jv_string("status"), col_int(st, 6));
		s = jv_object_set(s, jv_string("lines"), col_int(st, 7));
		s = jv_object_set(s, jv_string("bytes"), col_int(st, 8));
		a = jv_array_append(a, s);
	}
	if (step != SQLITE_DONE) {
		jrn_fail(e, "%s", sqlite3_errmsg(db));
		jv_free(a);
		a = jv_invalid();
	}
	sqlite3_finalize(st);
	return a;
}

static void add_status(jrn_buf *b, jv st)
{
	if (jv_get_kind(st) == JV_KIND_NUMBER)
		jrn_buf_addf(b, "exit %-3d", (int)jv_number_value(st));
	else
		jrn_buf_addf(b, "%-8s", "running?");
	jv_free(st);
}

/* A command on one line: control characters as \n, \t or \xHH. */
static void add_command(jrn_buf *b, const char *s)
{
	for (; *s; s++)
		if (*s == '\n')
			jrn_buf_adds(b, "\\n");
		else if (*s == '\t')
			jrn_buf_adds(b, "\\t");
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			jrn_buf_addf(b, "\\x%02x", (unsigned char)*s);
		else
			jrn_buf_addc(b, *s);
	jrn_buf_addc(b, '\n');
}

/* One run (consumed) as text, written to stdout: a line for the run (its
 * file's path in parentheses when several were read), an indented line
 * per stage. 0, or -1 when out of memory (said). */
static int print_run(jv r)
{
	jrn_buf b = {0};
	jv db = jv_object_get(jv_copy(r), jv_string("db"));
	jv ms = jv_object_get(jv_copy(r), jv_string("elapsedMs"));
	jv started = jv_object_get(jv_copy(r), jv_string("started"));
	jv job = jv_object_get(jv_copy(r), jv_string("job"));
	jrn_buf_addf(&b, "run %-5d %-12s %s  ", (int)jv_number_value(jv_object_get(jv_copy(r),
		     jv_string("run"))), jv_string_value(job), jv_string_value(started));
	add_status(&b, jv_object_get(jv_copy(r), jv_string("status")));
	if (jv_get_kind(ms) == JV_KIND_NUMBER)
		jrn_buf_addf(&b, "  %.3fs", jv_number_value(ms) / 1000.0);
	if (jv_get_kind(db) == JV_KIND_STRING)
		jrn_buf_addf(&b, "  (%s)", jv_string_value(db));
	jv_free(db);
	jrn_buf_addc(&b, '\n');
	jv_free(ms);
	jv_free(started);
	jv_free(job);
	jv stages = jv_object_get(r, jv_string("stages"));
	jv_array_foreach(stages, i, s) {
		jv lines = jv_object_get(jv_copy(s), jv_string("lines"));
		jv cmd = jv_object_get(jv_copy(s), jv_string("command"));
		jrn_buf_addf(&b, "  %d  ", i + 1);
		add_status(&b, jv_object_get(jv_copy(s), jv_string("status")));
		if (jv_get_kind(lines) == JV_KIND_NUMBER)
			jrn_buf_addf(&b, " %8.0f lines  ", jv_number_value(lines));
		else
			jrn_buf_addf(&b, " %8s lines  ", "-");
		add_command(&b, jv_string_value(cmd));
		jv_free(lines);
		jv_free(cmd);
		jv_free(s);
	}
	jv_free(stages);
	int rc = b.p ? 0 : jrn_say(-1, "out of memory");
	if (b.p)
		admin_write(b.p, b.len); /* a write error: admin_gone, admin_finish */
	jrn_buf_free(&b);
	return rc;
}

/* Writes the runs (of job, NULL: every job) that f asks for; with none,
 * says so on stderr unless -q (stdout stays empty). The exit status. */
static int show_runs(sqlite3 *db, const char *job, const log_flags *f, const jrn_opts *o)
{
	sqlite3_stmt *st;
	jrn_err e;
	long nruns = 0;
	const char *sql = f->paths
		? "SELECT id, job, pid, started_at, ended_at, elapsed_ms, status, pipeline"
		  " FROM runs WHERE ?1 IS NULL OR job = ?1"
		  " ORDER BY started_at DESC, id >> 40, id DESC LIMIT ?2"
		: "SELECT id, job, pid, started_at, ended_at, elapsed_ms, status, pipeline"
		  " FROM runs WHERE ?1 IS NULL OR job = ?1 ORDER BY id DESC LIMIT ?2";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "log: %s", sqlite3_errmsg(db));
	if (job)
		sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, f->n);
	int rc = JRN_EXIT_OK, step = SQLITE_DONE;
	/* the output's end (EPIPE, a write error) stops the runs */
	while (rc == JRN_EXIT_OK && !admin_gone() && (step = sqlite3_step(st)) == SQLITE_ROW) {
		nruns++;
		jv r = jv_object();
		int64_t id = sqlite3_column_int64(st, 0);
		if (f->paths) {
			size_t k = (size_t)(id >> FILE_ID_BITS);
			r = jv_object_set(r, jv_string("run"),
					  jv_number((double)(id & ((1LL << FILE_ID_BITS) - 1))));
			r = jv_object_set(r, jv_string("db"), jv_string(k < f->npaths ? f->paths[k]
										    : "?"));
		} else {
			r = jv_object_set(r, jv_string("run"), col_int(st, 0));
		}
		r = jv_object_set(r, jv_string("job"),
				  jv_string((const char *)sqlite3_column_text(st, 1)));
		r = jv_object_set(r, jv_string("pid"), col_int(st, 2));
		r = jv_object_set(r, jv_string("started"), col_time(st, 3));
		r = jv_object_set(r, jv_string("ended"), col_time(st, 4));
		r = jv_object_set(r, jv_string("elapsedMs"), col_int(st, 5));
		r = jv_object_set(r, jv_string("status"), col_int(st, 6));
		r = jv_object_set(r, jv_string("pipeline"),
				  jv_string((const char *)sqlite3_column_text(st, 7)));
		jv stages = stages_of(db, id, &e);
		if (!jv_is_valid(stages)) {
			jv_free(r);
			rc = jrn_say(JRN_EXIT_FAIL, "log: %s", e.msg);
			break;
		}
		r = jv_object_set(r, jv_string("stages"), stages);
		if (f->json)
			admin_print(r);
		else if (print_run(r) < 0)
			rc = JRN_EXIT_FAIL;
	}
	/* a read that fails part-way is a failure, not "no runs" */
	if (rc == JRN_EXIT_OK && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = jrn_say(JRN_EXIT_FAIL, "log: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (rc == JRN_EXIT_OK && nruns == 0 && o->verbosity >= 0) {
		char shown[JRN_PATH_SHOWN], many[32];
		if (f->paths)
			snprintf(many, sizeof many, "%zu state files", f->npaths);
		jrn_say(0, "log: no runs%s%s in %s", job ? " of " : "", job ? job : "",
			f->paths ? many : jrn_path_shown(o->db_path, shown));
	}
	return rc;
}

/* Several state files (lib/multidb.c): their runs and stages, read-only,
 * into *db; the paths kept in f. 0 or the exit status (said). */
static int open_many(const jrn_opts *o, log_flags *f, sqlite3 **db)
{
	static const char *const tables[] = {"runs", "run_stages", NULL};
	jrn_err e;
	if (jrn_db_paths(o, &f->paths, &f->npaths, &e) < 0 ||
	    jrn_db_open_many(f->paths, f->npaths, tables, o->busy_ms, db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "log: %s", e.msg);
	return 0;
}

int verb_log(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	log_flags f = {.n = 10};
	jrn_opts o;
	sqlite3 *db = NULL;
	int rc = admin_parse(&o, argc, argv, "n:" JRN_COMMON_SHORT, longopts, log_usage,
			     log_take, &f);
	if (rc < 0 && argc - optind > 1)
		rc = (fputs(log_usage, stderr), JRN_EXIT_USAGE);
	/* rc 0 here is --help or --version done, not a state file opened */
	if (rc < 0 && (rc = (o.ndb > 1 || o.db_path[0] == '@') ? open_many(&o, &f, &db)
			    : admin_open_existing(&o, "log", &db)) == 0)
		rc = show_runs(db, optind < argc ? argv[optind] : NULL, &f, &o);
	sqlite3_close(db);
	jrn_db_paths_free(f.paths, f.npaths);
	jrn_opts_free(&o);
	return rc;
}
