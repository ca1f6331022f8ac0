/*
 * jrn-report: reports from the state file, one kind at a time.
 *
 *   jrn-report KIND [--since T] [--until T] [--by FIELD,...]
 *                   [--format ndjson|table|csv|html] [-o FILE] [OPTIONS]
 *
 * Each kind is a row of kinds.c's table and a file (jrn-report.h says
 * which). This file: usage (the kinds listed from the table), the options,
 * which kind takes which option, opening the state file (read-only, except
 * metrics --save) and main (parse → set up → open → run → finish).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-report.h"

static const char usage_head[] =
	"usage: jrn-report KIND [--since T] [--until T] [--by FIELD,...]\n"
	"                  [--format ndjson|table|csv|html] [-o FILE] [OPTIONS]\n"
	"Report from the state file: one JSON object per row (NDJSON), or a table,\n"
	"CSV or a self-contained HTML page.\n"
	"\n"
	"Kinds:\n";

static const char usage_tail[] =
	"\n"
	"  --since T             the window's start: RFC 3339, or a duration back from\n"
	"                        now (24h, 7d); default: the beginning\n"
	"  --until T             the window's end (excluded), the same forms; default: now\n"
	"  --by FIELD,...        group by these fields (each kind says which it takes)\n"
	"  --format F            ndjson (default), table, csv or html\n"
	"  -o, --output FILE     write FILE whole (through a temporary file renamed at\n"
	"                        the end), not standard output\n"
	JRN_CHECK_CONFIG_USAGE
	"                        (without KIND: each kind whose report.KIND is written)\n"
	"\n"
	"  metrics:      --lookback DUR (report.metrics.lookback; 7d), --save, --dry-run\n"
	"  funnel:       --steps A,B,C, --within DUR\n"
	"  attribution:  --model NAME,..., --lookback DUR, --half-life DUR\n"
	"  cohorts:      --period day|week|month\n"
	"  experiment:   --journey NAME, --level P\n"
	"  journeys:     --journey NAME\n"
	"  rfm:          --from T, --to T\n"
	"\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db); must exist\n"
	"                        (again, or @FILE listing paths: several files as one)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  -q, --quiet           nothing on stderr unless something fails\n"
	"  -v, --verbose         also the state file, config and window in use\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage.\n";

enum {
	OPT_SINCE = JRN_OPT_TOOL_BASE,
	OPT_UNTIL,
	OPT_BY,
	OPT_FORMAT,
	OPT_SAVE,
	OPT_STEPS,
	OPT_WITHIN,
	OPT_MODEL,
	OPT_LOOKBACK,
	OPT_HALF_LIFE,
	OPT_PERIOD,
	OPT_JOURNEY,
	OPT_LEVEL,
	OPT_FROM,
	OPT_TO,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"by", required_argument, NULL, OPT_BY},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"output", required_argument, NULL, 'o'},
	{"save", no_argument, NULL, OPT_SAVE},
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"steps", required_argument, NULL, OPT_STEPS},
	{"within", required_argument, NULL, OPT_WITHIN},
	{"model", required_argument, NULL, OPT_MODEL},
	{"lookback", required_argument, NULL, OPT_LOOKBACK},
	{"half-life", required_argument, NULL, OPT_HALF_LIFE},
	{"period", required_argument, NULL, OPT_PERIOD},
	{"journey", required_argument, NULL, OPT_JOURNEY},
	{"level", required_argument, NULL, OPT_LEVEL},
	{"from", required_argument, NULL, OPT_FROM},
	{"to", required_argument, NULL, OPT_TO},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* The kind-specific options: their bit, spelling and place in the run. */
static const struct {
	unsigned bit;
	const char *name;
	size_t field; /* offsetof the flag's text in report_run; 0: none */
} kopts[] = {
	{R_OPT_SAVE, "--save", 0},
	{R_OPT_STEPS, "--steps", offsetof(report_run, steps_flag)},
	{R_OPT_WITHIN, "--within", offsetof(report_run, within_flag)},
	{R_OPT_MODEL, "--model", offsetof(report_run, model_flag)},
	{R_OPT_LOOKBACK, "--lookback", offsetof(report_run, lookback_flag)},
	{R_OPT_HALF_LIFE, "--half-life", offsetof(report_run, half_life_flag)},
	{R_OPT_PERIOD, "--period", offsetof(report_run, period_flag)},
	{R_OPT_JOURNEY, "--journey", offsetof(report_run, journey_flag)},
	{R_OPT_LEVEL, "--level", offsetof(report_run, level_flag)},
	{R_OPT_FROM, "--from", offsetof(report_run, from_flag)},
	{R_OPT_TO, "--to", offsetof(report_run, to_flag)},
	{R_OPT_DRY_RUN, "--dry-run", 0},
};
#define NKOPTS (sizeof kopts / sizeof kopts[0])

/* The window's and output's options' text, until window.c reads it. */
typedef struct {
	report_run *run;
	const char *since, *until, *by, *format;
} parsed;

/* Takes one of jrn-report's own options (ctx: the parsed text). */
static int take(void *ctx, int c, const char *arg)
{
	parsed *p = ctx;
	report_run *run = p->run;
	switch (c) {
	case OPT_SINCE: p->since = arg; return 0;
	case OPT_UNTIL: p->until = arg; return 0;
	case OPT_BY: p->by = arg; return 0;
	case OPT_FORMAT: p->format = arg; return 0;
	case 'o': run->out_path = arg; return 0;
	case OPT_SAVE: run->save = true; run->given |= R_OPT_SAVE; return 0;
	}
	if (c < OPT_STEPS || c > OPT_TO)
		return -2;
	size_t i = (size_t)(c - OPT_STEPS) + 1; /* kopts[1..] follow OPT_STEPS.. */
	*(const char **)((char *)run + kopts[i].field) = arg;
	run->given |= kopts[i].bit;
	return 0;
}

/* The usage text: the head, one line per kind of the table, the tail.
 * Written into b (the caller frees it). */
static const char *usage_of(jrn_buf *b)
{
	jrn_buf_adds(b, usage_head);
	for (size_t i = 0; i < report_nkinds; i++)
		jrn_buf_addf(b, "  %-12s  %s\n", report_kinds[i].name, report_kinds[i].summary);
	jrn_buf_adds(b, usage_tail);
	return b->p ? b->p : usage_head;
}

/* The names of the kinds, "metrics, funnel, ..." into b. */
static void kind_names(jrn_buf *b, unsigned with_option)
{
	for (size_t i = 0, n = 0; i < report_nkinds; i++)
		if (!with_option || (report_kinds[i].options & with_option))
			jrn_buf_addf(b, "%s%s", n++ ? ", " : "", report_kinds[i].name);
}

/* The kind named sub (NULL: none given), checked against the options
 * given: its row, or NULL having said why (a usage error). */
static const report_kind *kind_of(const char *sub, const report_run *run, int argc,
				  char **argv)
{
	const report_kind *k = NULL;
	jrn_buf names = {0};
	for (size_t i = 0; sub && !k && i < report_nkinds; i++)
		if (!strcmp(sub, report_kinds[i].name))
			k = &report_kinds[i];
	const char **all = !k && sub ? calloc(report_nkinds + 1, sizeof *all) : NULL;
	for (size_t i = 0; all && i < report_nkinds; i++)
		all[i] = report_kinds[i].name;
	const char *near = all ? jrn_nearest(sub, all) : NULL;
	free(all);
	if (!k && near) {
		jrn_say(JRN_EXIT_USAGE, "unknown kind '%s' (did you mean %s?)", sub, near);
	} else if (!k) {
		kind_names(&names, 0);
		jrn_say(JRN_EXIT_USAGE, "%s%s%s (the kinds: %s)", sub ? "unknown kind '" : "",
			sub ? sub : "a kind is needed", sub ? "'" : "", names.p);
	} else if (optind < argc) {
		jrn_say(JRN_EXIT_USAGE, "%s: no arguments beyond the options (got '%s')", sub,
			argv[optind]);
		k = NULL;
	} else {
		for (size_t i = 0; i < NKOPTS; i++) {
			if (!(run->given & kopts[i].bit) || (k->options & kopts[i].bit))
				continue;
			kind_names(&names, kopts[i].bit);
			jrn_say(JRN_EXIT_USAGE, "%s: %s is for %s only", sub, kopts[i].name, names.p);
			k = NULL;
			break;
		}
	}
	if (!k)
		fputs("Try 'jrn-report --help'.\n", stderr);
	jrn_buf_free(&names);
	return k;
}

/* Opens the existing state file at path (jrn_db_exists has said it is
 * there and not a directory) read-only into *out (the caller's to
 * close): a file that is not SQLite, is damaged, or whose schema (PRAGMA
 * user_version) is not this code's JRN_SCHEMA_VERSION is refused (older:
 * jrn-report does not migrate, a tool that writes does; 0: not a state
 * file). 0, or -1 with e naming the path. */
static int open_readonly(const char *path, int busy_ms, sqlite3 **out, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	const char *p = jrn_path_shown(path, shown);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	jrn_sqlite_configure();
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		jrn_fail(e, "%s: cannot open state file: %s", p,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, busy_ms);
	int version = -1;
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0)
		jrn_fail(e, "%s: not a usable state file: %s", p, sqlite3_errmsg(db));
	else if (version == 0)
		jrn_fail(e, "%s: not a jrn state file (schema version 0)", p);
	else if (version < JRN_SCHEMA_VERSION)
		jrn_fail(e, "%s: state file of schema %d, jrn-report reads %d: it opens the file"
			 " read-only and does not migrate it (a tool that writes the file, such as"
			 " jrn-ingest < /dev/null, does)", p, version, JRN_SCHEMA_VERSION);
	else if (version > JRN_SCHEMA_VERSION)
		jrn_fail(e, "%s: state file of schema %d is newer than this jrn-report (%d)", p,
			 version, JRN_SCHEMA_VERSION);
	/* a page cache of 16 MiB: the reports read events scattered over the
	 * file (orders by time), which the default 2 MB cache read again and
	 * again; SQLite's sorters take up to the cache size each, so 64 MiB
	 * (jrn_db_open's) made 124 MB of RSS over 2M events where 16 MiB made
	 * 56 MB in no more CPU (t/bench/report.sh) */
	else if (jrn_db_exec(db, "PRAGMA query_only = ON; PRAGMA cache_size = -16384", e) == 0) {
		*out = db;
		return 0;
	}
	sqlite3_close(db);
	return -1;
}

/* The tables a report reads, copied from each of several state files. */
static const char *const report_tables[] = {
	"events", "deliveries", "profiles", "rfm_snapshots", "enrollments", "enrollment_log",
	"journey_versions", "route_decisions", "segment_members", "scores", "consent",
	"suppressions", NULL,
};

/* Opens the state file at path into run->db: read-only (it must exist,
 * and is not migrated: a file of an older schema is refused, naming the
 * version), or for metrics --save without --dry-run read-write through
 * jrn_db_open (which migrates it). 0 or the exit status (said). */
static int open_one(report_run *run, const char *path)
{
	jrn_err e;
	if (jrn_db_exists(path, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (run->save && !run->opts.dry_run) {
		if (jrn_db_open(path, run->opts.busy_ms, &run->db, &e) < 0)
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		return 0;
	}
	if (open_readonly(path, run->opts.busy_ms, &run->db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	return 0;
}

/* Opens the several state files of --db (given more than once, or
 * @FILE) as one into run->db, read-only (lib/multidb.c): metrics --save
 * is refused (a usage error: the insights belong to one file; run it on
 * each). 0 or the exit status (said). */
static int open_many(report_run *run)
{
	jrn_err e;
	char **paths;
	size_t n;
	if (jrn_db_paths(&run->opts, &paths, &n, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (run->save && n > 1) {
		jrn_db_paths_free(paths, n);
		return jrn_say(JRN_EXIT_USAGE, "--save writes one state file: not with several"
			       " --db (save each file's metrics with its own run)");
	}
	if (run->save) { /* an @FILE of one: that file, as --db FILE */
		int status = open_one(run, paths[0]);
		jrn_db_paths_free(paths, n);
		return status;
	}
	int rc = jrn_db_open_many(paths, n, report_tables, run->opts.busy_ms, &run->db, &e);
	for (size_t i = 0; rc == 0 && run->opts.verbosity >= 1 && i < n; i++)
		jrn_say(0, "combining state file %zu of %zu: %s", i + 1, n, paths[i]);
	jrn_db_paths_free(paths, n);
	return rc < 0 ? jrn_say(JRN_EXIT_FAIL, "%s", e.msg) : 0;
}

/* Opens --db into run->db: one file (open_one), or several (open_many).
 * 0 or the exit status (said). */
static int open_state(report_run *run)
{
	const char *path = run->opts.db_path;
	int status = run->opts.ndb > 1 || path[0] == '@' ? open_many(run) : open_one(run, path);
	if (status == 0 && report_money_register(run->db) < 0)
		status = jrn_say(JRN_EXIT_FAIL, "%s", sqlite3_errmsg(run->db));
	return status;
}

/* Closes the state file and frees what the run holds; returns status. */
static int teardown(report_run *run, int status)
{
	if (run->db && sqlite3_close(run->db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(run->db));
	report_window_free(run);
	jrn_opts_free(&run->opts);
	return status;
}

/* Runs the kind and ends the output: the output is kept only when the run
 * succeeded (-o FILE is renamed into place then, else removed); a reader
 * that went away (EPIPE) is a normal end. Returns the exit status. */
static int run_kind(report_run *run)
{
	int status = report_output_begin(run) < 0 ? JRN_EXIT_FAIL : JRN_EXIT_OK;
	if (status == JRN_EXIT_OK)
		status = run->kind->run(run);
	if (status == JRN_EXIT_OK || status == JRN_EXIT_REJECTS) {
		if (report_output_end(run) < 0)
			status = JRN_EXIT_FAIL;
	} else {
		report_output_abort(run);
	}
	if (report_output_gone(run))
		status = JRN_EXIT_OK;
	if (status == JRN_EXIT_OK && run->opts.verbosity >= 0)
		jrn_say(0, "%s: %" PRIu64 " row%s", run->kind->name, run->rows,
			run->rows == 1 ? "" : "s");
	return status;
}

/* Whether the configuration of run writes the value at dotted. */
static bool config_has(const report_run *run, const char *dotted)
{
	jv v = jrn_config_get(run->opts.config, dotted);
	bool has = jv_is_valid(v) || jv_invalid_has_msg(jv_copy(v));
	jv_free(v);
	return has;
}

/* --check-config: the kind's check (report_kind), or without one each
 * kind's whose report.KIND section is written (and its check_needs key,
 * when it has one). The exit status, each trouble said. */
static int check_config(report_run *run)
{
	if (run->kind)
		return run->kind->check ? run->kind->check(run) : JRN_EXIT_OK;
	int status = JRN_EXIT_OK;
	for (size_t i = 0; i < report_nkinds; i++) {
		const report_kind *k = &report_kinds[i];
		char section[64];
		snprintf(section, sizeof section, "report.%s", k->name);
		if (!k->check || !config_has(run, section) ||
		    (k->check_needs && !config_has(run, k->check_needs)))
			continue;
		run->kind = k;
		report_window_free(run); /* the --by a kind defaults to is its own */
		int rc = k->check(run);
		if (rc > status)
			status = rc;
	}
	run->kind = NULL;
	return status;
}

int main(int argc, char **argv)
{
	static report_run run;
	jrn_buf usage = {0};
	parsed p = {.run = &run};
	jrn_err e;

	signal(SIGPIPE, SIG_IGN);
	/* Before SQLite initialises (else SQLITE_MISUSE, harmless). A
	 * sorter keeps max(cache size, PMASZ pages) in memory before it
	 * spills to a temporary file (vdbesort.c, vdbeSorterInit); the
	 * default of 250 pages is 8 MiB with the state file's 32 KiB pages,
	 * which made metrics' sorts of the orders (issue 15) grow the RSS
	 * with the events whatever the cache size. 16 pages (512 KiB) leaves
	 * the cache size (16 MiB here) the limit. The memory statistics
	 * take a global mutex on every allocation and nothing reads them
	 * (as jrn_db_open's configure_sqlite). */
	sqlite3_config(SQLITE_CONFIG_PMASZ, 16u);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_config(SQLITE_CONFIG_MMAP_SIZE, (sqlite3_int64)0, (sqlite3_int64)0);
	jrn_opts_init(&run.opts, "jrn-report");
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	if (sub) { /* getopt says its errors as argv[0]: "jrn-report", not the kind */
		static char prog[] = "jrn-report";
		argv++;
		argc--;
		argv[0] = prog;
	}
	int status = jrn_opts_parse(&run.opts, argc, argv, JRN_COMMON_SHORT "o:", longopts,
				    usage_of(&usage), take, &p);
	jrn_buf_free(&usage);
	if (status >= 0)
		return teardown(&run, status);
	if (run.opts.dry_run)
		run.given |= R_OPT_DRY_RUN;
	/* --check-config without a KIND: each kind's whose section is written
	 * (a kind's options and --by need their KIND) */
	if (run.opts.check_config && !sub && (run.given || p.by))
		return teardown(&run, jrn_say(JRN_EXIT_USAGE, "--check-config: --by and a kind's"
					      " options need the KIND"));
	if (!(run.opts.check_config && !sub) && !(run.kind = kind_of(sub, &run, argc, argv)))
		return teardown(&run, JRN_EXIT_USAGE);
	if (run.opts.check_config && optind < argc)
		return teardown(&run, jrn_say(JRN_EXIT_USAGE, "--check-config takes no FILE"));
	/* -2: a bad flag value (--now yesterday), a usage error */
	int rc = jrn_opts_resolve(&run.opts, &e);
	if (rc < 0)
		return teardown(&run, jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg));
	run.now_ms = jrn_now();
	if ((status = report_window(&run, p.since, p.until, p.by, p.format)) != 0)
		return teardown(&run, status);
	if (run.opts.check_config) /* the kind's set-up: no state file, no output */
		return teardown(&run, check_config(&run));
	if ((status = open_state(&run)) != 0)
		return teardown(&run, status);
	report_say_setup(&run);
	return teardown(&run, run_kind(&run));
}
