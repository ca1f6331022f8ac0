/* main.c: jrn-route's usage, options, the batch loop and main (parse →
 * set up → run → finish). The parts are described in jrn-route.h. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

static const char usage[] =
	"usage: jrn-route [OPTIONS] [FILE...]\n"
	"       jrn-route --tick [OPTIONS]\n"
	"       jrn-route --simulate [OPTIONS] [FILE...]\n"
	"       jrn-route --check [OPTIONS] [JOURNEY...]\n"
	"       jrn-route --explain CUSTOMER [OPTIONS]\n"
	"Pass action records (NDJSON) from FILEs or stdin through the policy gate and\n"
	"write each with \"route\":{decision,reason,sendAt,variant,cost,journey,step,\n"
	"version,channel} added: send, defer or suppress, never dropped. Events\n"
	"(records with a string \"type\" and no actionType) pass through unchanged.\n"
	"The gate and --tick end with one summary line on stderr: the counts of send,\n"
	"defer, suppress, rejected and events passed (--tick: first what it advanced).\n"
	"\n"
	"  The gate: recipient -> consent and suppressions -> channel fallback ->\n"
	"  quiet hours -> caps -> cooldown -> trigger window -> idempotency ->\n"
	"  budget (policy: in the configuration; jrn-route(1), GATE).\n"
	"\n"
	"  --journeys DIR        the journey files (JRN_JOURNEYS; config journeys.dir;\n"
	"                        default ./journeys when it exists)\n"
	"  --tick                advance every enrollment whose wait is due, fire the\n"
	"                        schedules, offer deferred actions again (cron)\n"
	"  --simulate            replay events through the journeys, the clock stepping\n"
	"                        by event time; nothing is written to the state file\n"
	"  --check               lint the journeys (all, or those named); exit 1 on errors\n"
	"  --explain CUSTOMER    each journey CUSTOMER is or was in, and every decision\n"
	JRN_CHECK_CONFIG_USAGE
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines to FILE as JSON\n"
	"  --dry-run             decide as usual; write nothing to the state file\n"
	"  -q, --quiet           nothing on stderr unless something fails: no summary,\n"
	"                        no line per rejected record\n"
	"  -v, --verbose         also the state file and config in use\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage, 3 some records were rejected.\n";

enum { OPT_JOURNEYS = JRN_OPT_TOOL_BASE, OPT_TICK, OPT_SIMULATE, OPT_CHECK, OPT_EXPLAIN };

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"journeys", required_argument, NULL, OPT_JOURNEYS},
	{"tick", no_argument, NULL, OPT_TICK},
	{"simulate", no_argument, NULL, OPT_SIMULATE},
	{"check", no_argument, NULL, OPT_CHECK},
	{"explain", required_argument, NULL, OPT_EXPLAIN},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

static int bad_journeys; /* journey files refused: exit 3 at the end */
#define interrupted route_interrupted

/* jrn-route's own options into R (ctx): 0 taken, -2 not an option, else
 * the exit status (said). */
static int take_opt(void *ctx, int c, const char *arg)
{
	route_run *R = ctx;
	enum route_mode m = M_GATE;
	switch (c) {
	case OPT_JOURNEYS:
		R->journeys_dir = arg;
		return 0;
	case OPT_TICK: m = M_TICK; break;
	case OPT_SIMULATE: m = M_SIMULATE; break;
	case OPT_CHECK: m = M_CHECK; break;
	case OPT_EXPLAIN:
		m = M_EXPLAIN;
		R->explain = arg;
		break;
	default:
		return -2;
	}
	if (R->mode != M_GATE && R->mode != m)
		return jrn_say(JRN_EXIT_USAGE, "--tick, --simulate, --check and --explain go one at a "
			       "time");
	R->mode = m;
	return 0;
}

static void on_signal(int sig)
{
	interrupted = sig;
}

/* The state file's trouble, said once with its path. */
static int db_fail(route_run *R, const jrn_err *e)
{
	return jrn_say(JRN_EXIT_FAIL, "%s: %s", R->opts.db_path, e->msg);
}

/* Whether the batch begun at began (ms, monotonic) ends now for another
 * writer: one waits for the lock (jrn_db_writers_waiting, asked at most
 * every 10 ms, *probed the last time) and the batch has held it
 * ROUTE_HOLD_MS. Over a steady stream the input never pauses for the
 * idle notice, and the lock would be held through batch after batch. */
static bool yield_now(route_run *R, int64_t began, int64_t *probed)
{
	if (R->opts.dry_run) /* (one transaction to the end) */
		return false;
	int64_t now = jrn_mono_ms();
	if (now - began < ROUTE_HOLD_MS || now - *probed < 10)
		return false;
	*probed = now;
	return jrn_db_writers_waiting(R->db);
}

static int run(route_run *R, char **files, int nfiles)
{
	jrn_err e;
	int status = JRN_EXIT_OK;
	size_t n = 0;
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	if (!rd)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	jrn_reader_idle_notice(rd, true);
	jrn_reader_stop_on(rd, &interrupted);
	/* the WAL copied into the file beside the decisions (a dry run
	 * commits nothing to copy) */
	jrn_checkpointer *ckpt = R->opts.dry_run ? NULL
				 : jrn_checkpointer_start(R->db, R->opts.db_path);
	/* reading on while the state file is locked by a writer upstream
	 * (a tool that writes to us before it commits) */
	jrn_read_ahead *ra = jrn_db_read_ahead(R->db, rd, R->opts.busy_ms);
	jrn_line ln;
	int rc;
	int64_t began = 0, probed = 0;
	while (!R->out.err && (rc = jrn_reader_next(rd, &ln, &e)) != 0) {
		if (rc < 0) { /* said, and the next FILE read: exit 1 at the end */
			jrn_say(0, "%s", e.msg);
			R->unreadable = true;
			continue;
		}
		if (rc == 1) {
			if (route_line(R, &ln) < 0) {
				status = JRN_EXIT_FAIL;
				break;
			}
			if (!n++)
				began = probed = jrn_mono_ms();
		}
		if (n && (n == ROUTE_BATCH || rc == 2 || yield_now(R, began, &probed))) {
			if (route_batch_end(R) < 0) {
				status = JRN_EXIT_FAIL;
				break;
			}
			n = 0;
		}
	}
	if (status != JRN_EXIT_FAIL && route_batch_end(R) < 0)
		status = JRN_EXIT_FAIL;
	store_drop(R->st); /* (empty but after a failure) */
	if (R->in_tx)
		jrn_db_rollback(R->db); /* a dry run, or a failure: nothing stays */
	R->in_tx = false;
	jrn_checkpointer_stop(ckpt);
	jrn_db_read_ahead_end(R->db, ra, R->opts.busy_ms);
	jrn_reader_free(rd);
	if (status == JRN_EXIT_FAIL)
		R->unreadable = false; /* (a failure of its own: no summary) */
	return R->unreadable ? JRN_EXIT_FAIL : status;
}

/* The journeys for the gate and --tick: the engine opened when there are
 * any, or when the state file has journey versions (their enrollments go
 * on). -1 to run, else the exit status (said). */
static int setup_engine(route_run *R, int *bad)
{
	jrn_err e;
	journeys js = {0};
	if (route_journeys_load(R, &js, bad, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	sqlite3_stmt *q = NULL; /* none loaded: stored versions still run */
	bool stored = sqlite3_prepare_v2(R->db, "SELECT 1 FROM journey_versions LIMIT 1", -1, &q,
					 NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_DONE;
	sqlite3_finalize(q);
	if (!js.n && !stored) {
		journeys_free(&js);
		return -1;
	}
	if (engine_open(R, &js, &e) < 0) {
		journeys_free(&js);
		return db_fail(R, &e);
	}
	return -1;
}

/* The configuration as jrn-route reads it at start (--check-config stops
 * here): the options resolved (jrn_opts_resolve) and the policy section
 * loaded into R->P. -1 to go on, else the exit status (said). */
static int setup_config(route_run *R)
{
	jrn_err e;
	int rc = jrn_opts_resolve(&R->opts, &e);
	if (rc < 0)
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	char w[JRN_PATH_SHOWN + 32];
	if (policy_load(&R->P, R->opts.config, &e) < 0) /* at its place when written */
		return jrn_say(JRN_EXIT_FAIL, "%s: %s",
			       *jrn_config_where_msg(R->opts.config, e.msg, w, sizeof w) ? w
			       : R->opts.config_path ? R->opts.config_path : "configuration", e.msg);
	return -1;
}

/* Options, configuration, state file, rejects: -1 to run, else the exit
 * status (said; --check-config: 0 when the configuration would do). */
static int setup(route_run *R, int argc, char **argv)
{
	jrn_err e;
	int rc = jrn_opts_parse(&R->opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take_opt, R);
	if (rc >= 0)
		return rc;
	if (R->opts.check_config && (R->mode != M_GATE || optind < argc))
		return jrn_say(JRN_EXIT_USAGE, "--check-config goes alone: no mode, no FILE");
	if ((rc = setup_config(R)) >= 0 || R->opts.check_config)
		return rc >= 0 ? rc : JRN_EXIT_OK;
	size_t max_claims = 0;
	if (R->mode == M_SIMULATE && store_private_max(&max_claims, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	bool lint_only = R->mode == M_CHECK && access(R->opts.db_path, F_OK) != 0; /* none made */
	/* --explain only reads, and --tick has nothing to advance in a new
	 * file: a mistyped --db (or cron's working directory) is said, not made */
	if ((R->mode == M_EXPLAIN || R->mode == M_TICK) && jrn_db_exists(R->opts.db_path, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (!lint_only && (R->mode == M_SIMULATE ? simulate_db_open(R, &e) /* the state file only read */
	     /* the gate's connection is shared with the thread that writes
	      * its decisions behind (store_behind) */
	     : R->mode == M_GATE ? jrn_db_open_serialized(R->opts.db_path, R->opts.busy_ms, &R->db, &e)
	     : jrn_db_open(R->opts.db_path, R->opts.busy_ms, &R->db, &e)) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (!lint_only && (!(R->st = store_open(R->sdb ? R->sdb : R->db, R->db, &e)) ||
			   !(R->reach = jrn_reach_open(R->db, &e)) ||
			   !(R->privacy = jrn_privacy_open(R->db, &e)) ||
			   /* the memory state: private (store_private) */
			   (R->mode == M_SIMULATE && store_private(R->st, max_claims, &e) < 0)))
		return db_fail(R, &e);
	if (jrn_rejects_open(&R->rej, "jrn-route", R->opts.rejects_path, R->opts.verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	jrn_out_init(&R->out, STDOUT_FILENO);
	if ((R->mode == M_GATE || R->mode == M_TICK) && (rc = setup_engine(R, &bad_journeys)) >= 0)
		return rc;
	/* the gate without journeys writes its decisions behind (with them,
	 * the engine writes enrollments on the same connection in line), and
	 * so does --simulate, whose decisions have a connection of their own
	 * (simulate.c) */
	if ((R->mode == M_SIMULATE || (R->mode == M_GATE && !R->eng)) && store_behind(R->st, &e) < 0)
		return db_fail(R, &e);
	if (R->opts.verbosity > 0)
		jrn_say(0, "state file %s%s; config %s", R->opts.db_path,
			R->opts.dry_run ? " (dry run: nothing written)" : "",
			R->opts.config_path ? R->opts.config_path : "none (the defaults)");
	return -1;
}

/* The counts line on stderr: by default after the gate and --tick, but
 * not after a failure or a refused --tick (said; the batch a failure
 * ended was not kept, so the counts would not be what happened; a FILE
 * that could not be read is no such failure: the others were routed) nor when
 * the reader went away (a normal end, as in every tool); with -v always,
 * and after --simulate too; never after --check or --explain, nor with -q. */
static void summary(const route_run *R, int status, bool pipe_closed)
{
	int v = R->opts.verbosity;
	bool done = status == JRN_EXIT_OK || status == JRN_EXIT_REJECTS || R->unreadable;
	bool say = R->mode == M_GATE || R->mode == M_TICK
		   ? v > 0 || (v == 0 && done && !pipe_closed)
		   : R->mode == M_SIMULATE && v > 0;
	if (say)
		jrn_say(0, "%llu send, %llu defer, %llu suppress, %llu rejected, %llu events passed%s",
			(unsigned long long)R->counts[D_SEND], (unsigned long long)R->counts[D_DEFER],
			(unsigned long long)R->counts[D_SUPPRESS], (unsigned long long)R->rej.count,
			(unsigned long long)R->passed, R->opts.dry_run ? " (dry run, nothing saved)" : "");
}

static void teardown(route_run *R)
{
	if (R->parser)
		jv_parser_free(R->parser);
	jrn_json_index_free(&R->ix);
	for (int i = 0; i < NFIELDS; i++)
		jrn_buf_free(&R->fbuf[i]);
	jrn_buf_free(&R->batch);
	jrn_buf_free(&R->scratch);
	jrn_buf_free(&R->keytext);
	engine_close(R);
	jrn_reach_close(R->reach);
	jrn_privacy_close(R->privacy);
	store_close(R->st);
	if (R->sdb)
		sqlite3_close(R->sdb); /* its one transaction rolled back */
	if (R->db)
		sqlite3_close(R->db);
	policy_free(&R->P);
	zone_free();
	gate_free();
	jrn_opts_free(&R->opts);
}

int main(int argc, char **argv)
{
	static route_run R;
	signal(SIGPIPE, SIG_IGN);
	jrn_opts_init(&R.opts, "jrn-route");
	R.P.cooldown = R.P.budgets = jv_invalid();
	int status = setup(&R, argc, argv);
	if (status < 0) {
		char **args = argv + optind;
		int nargs = argc - optind;
		switch (R.mode) {
		case M_GATE: status = run(&R, args, nargs); break;
		case M_TICK: status = nargs ? jrn_say(JRN_EXIT_USAGE, "--tick takes no FILEs") : mode_tick(&R); break;
		case M_SIMULATE: status = mode_simulate(&R, args, nargs); break;
		case M_CHECK: status = mode_check(&R, args, nargs); break;
		case M_EXPLAIN: status = nargs ? jrn_say(JRN_EXIT_USAGE, "--explain takes no FILEs") : mode_explain(&R); break;
		}
		/* the output written out first, so that the summary comes after it */
		status = jrn_finish(&R.out, NULL, status);
		summary(&R, status, R.out.err == EPIPE);
		if ((bad_journeys || engine_troubles(&R)) && status == JRN_EXIT_OK)
			status = JRN_EXIT_REJECTS; /* a journey file refused (said) */
		status = jrn_finish(NULL, &R.rej, status);
	} else if (R.rej.prog) {
		status = jrn_finish(NULL, &R.rej, status);
	}
	teardown(&R);
	if (interrupted) {
		signal((int)interrupted, SIG_DFL);
		raise((int)interrupted);
	}
	return status;
}
