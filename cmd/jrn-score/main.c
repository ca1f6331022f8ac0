/*
 * jrn-score: scores customers from the events in the state file.
 *
 *   jrn-score rfm   recency, frequency, monetary: rank-based 1..5 scores,
 *                   a weighted composite and a segment; dated snapshots and
 *                   segment changes against the previous snapshot (rfm.c).
 *   jrn-score clv   BG/NBD and Gamma-Gamma fitted by maximum likelihood:
 *                   P(alive), expected purchases, predicted value (clv.c,
 *                   clv-math.c).
 *   jrn-score lead  lead scores of profiles: behavioral points from the
 *                   stored events, demographic and firmographic from rules
 *                   on the profile (lib/rules.h, jrn-segment's language)
 *                   (lead.c).
 *
 * rfm and clv read the orders with one query, aggregate per customer in
 * memory and write one record per customer, sorted by customerId; lead is
 * a filter over profiles. This file: usage, options, the subcommand table,
 * and main (parse → set up → run → finish).
 */
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "jrn-score.h"

static const char usage[] =
	"usage: jrn-score rfm [OPTIONS]\n"
	"       jrn-score rfm --changes --run ID|last [OPTIONS]\n"
	"       jrn-score clv [OPTIONS]\n"
	"       jrn-score lead [OPTIONS] [FILE...]\n"
	"       jrn-score lead --all [OPTIONS]\n"
	"       jrn-score [rfm|clv|lead] --check-config [OPTIONS]\n"
	"Score the customers in the state file and write one record per customer.\n"
	"\n"
	"  rfm: {\"customerId\",\"rfm\":{recency,frequency,monetary,r,f,m,score,segment}}\n"
	"  --window DUR          frequency and monetary window (scoring.rfm.window; 180d)\n"
	"  --save                store the snapshot (taken = now, the run's ID) and check\n"
	"                        it is complete\n"
	"  --changes             also write rfm.segment.changed events against the\n"
	"                        previous snapshot (none: every customer from null);\n"
	"                        with --save they are stored in the events table too\n"
	"  --run ID              with --changes: write again the changes run ID (its\n"
	"                        time, or last) stored, and nothing else\n"
	"\n"
	"  clv: {\"customerId\",\"clv\":{pAlive,expectedPurchases,predictedValue,churnRisk}}\n"
	"  --calibration-end T   orders at or before T are fitted (default: now)\n"
	"  --horizon DUR         expected purchases over DUR (scoring.clv.horizon; 90d)\n"
	"  --params              write the fitted parameters as one JSON line instead\n"
	"  --save                store the scores (table scores, kind 'clv')\n"
	"\n"
	"  lead: each profile of the input (NDJSON from FILEs, else standard input,\n"
	"  even empty) with \"lead\":{score,behavioral,demographic,firmographic,grade}\n"
	"  added; events (records with a string \"type\") pass through unchanged;\n"
	"  rules from scoring.lead, else the seed's example rules\n"
	"  --all                 every customer of the state file instead of an input\n"
	"  --save                store the scores (table scores, kind 'lead')\n"
	"\n"
	"  --dry-run             with --save: do all the work, write nothing\n"
	JRN_CHECK_CONFIG_USAGE
	"                        (without a command: of rfm, clv and lead)\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected profiles to FILE as JSON\n"
	"  -q, --quiet           nothing on stderr unless something fails\n"
	"  -v, --verbose         also the state file, config and input in use\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage, 3 some profiles were rejected.\n";

enum {
	OPT_WINDOW = JRN_OPT_TOOL_BASE,
	OPT_SAVE,
	OPT_CHANGES,
	OPT_CAL_END,
	OPT_HORIZON,
	OPT_PARAMS,
	OPT_ALL,
	OPT_RUN,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"window", required_argument, NULL, OPT_WINDOW},
	{"save", no_argument, NULL, OPT_SAVE},
	{"changes", no_argument, NULL, OPT_CHANGES},
	{"calibration-end", required_argument, NULL, OPT_CAL_END},
	{"horizon", required_argument, NULL, OPT_HORIZON},
	{"params", no_argument, NULL, OPT_PARAMS},
	{"all", no_argument, NULL, OPT_ALL},
	{"run", required_argument, NULL, OPT_RUN},
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* The subcommand options given, as bits, to check each belongs. */
enum {
	F_WINDOW = 1,
	F_CHANGES = 2,
	F_CAL_END = 4,
	F_HORIZON = 8,
	F_PARAMS = 16,
	F_ALL = 32,
	F_RUN = 64,
};

/* Takes one of jrn-score's own options into the run (ctx). */
static int take(void *ctx, int c, const char *arg)
{
	score_run *run = ctx;
	switch (c) {
	case OPT_WINDOW: run->window_flag = arg; break;
	case OPT_SAVE: run->save = true; break;
	case OPT_CHANGES: run->changes = true; break;
	case OPT_CAL_END: run->cal_end_flag = arg; break;
	case OPT_HORIZON: run->horizon_flag = arg; break;
	case OPT_PARAMS: run->params_only = true; break;
	case OPT_ALL: run->all = true; break;
	case OPT_RUN: run->run_flag = arg; break;
	default: return -2;
	}
	return 0;
}

/* rfm's set-up: the run to replay (--run: its time, or last) and the
 * window. 0 or the exit status (said). */
static int setup_rfm(score_run *run)
{
	jrn_err e;
	const char *id = run->run_flag;
	if (id && !run->changes)
		return jrn_say(JRN_EXIT_USAGE, "--run replays the changes of a run: give --changes");
	if (id && run->save)
		return jrn_say(JRN_EXIT_USAGE, "--run replays a saved run: it takes no --save");
	if (id && !strcmp(id, "last"))
		run->run_ms = INT64_MIN;
	else if (id && jrn_time_parse(id, strlen(id), JRN_TIME_DATE_OK, &run->run_ms, &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "--run '%s': %s (a run is its time, or last)", id,
			       e.msg);
	if (score_duration(run, run->window_flag, "window", "scoring.rfm.window", 180 * DAY_MS,
			   &run->window_ms) < 0)
		return run->window_flag ? JRN_EXIT_USAGE : JRN_EXIT_FAIL;
	return 0;
}

/* clv's set-up: the calibration end, the horizon and the unit. 0 or the
 * exit status (said). */
static int setup_clv(score_run *run)
{
	jrn_err e;
	const char *cal = run->cal_end_flag;
	if (cal && jrn_time_parse(cal, strlen(cal), JRN_TIME_DATE_OK, &run->cal_end_ms, &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "--calibration-end '%s': %s", cal, e.msg);
	int bad = run->horizon_flag ? JRN_EXIT_USAGE : JRN_EXIT_FAIL;
	if (score_duration(run, run->horizon_flag, "horizon", "scoring.clv.horizon", 90 * DAY_MS,
			   &run->horizon_ms) < 0 ||
	    score_duration(run, NULL, "unit", "scoring.clv.unit", 7 * DAY_MS, &run->unit_ms) < 0)
		return bad;
	/* The series for 2F1 slows as the horizon outgrows the history. */
	if (run->horizon_ms > 3650 * DAY_MS)
		return jrn_say(bad, "%s: at most 3650 days",
			       run->horizon_flag ? "--horizon" : "scoring.clv.horizon");
	return 0;
}

/* lead's set-up: --all or FILE operands, not both. 0 or the exit status
 * (said). */
static int setup_lead(score_run *run)
{
	if (run->all && run->nfiles > 0)
		return jrn_say(JRN_EXIT_USAGE, "--all scores every customer of the state file: it"
			       " takes no FILE");
	return 0;
}

/* A subcommand: its name, the options that are not its own (and what to
 * say when given), whether it takes FILE operands, its set-up before the
 * state file opens (NULL: none; 0 or an exit status), the check of the
 * configuration its run reads (NULL: none beyond set-up; the exit status)
 * and its run. */
typedef struct {
	const char *name;
	unsigned foreign;
	const char *foreign_msg;
	bool operands;
	int (*setup)(score_run *run);
	int (*check)(score_run *run);
	int (*run)(score_run *run);
} score_cmd;

static const score_cmd cmds[] = {
	{"rfm", F_CAL_END | F_HORIZON | F_PARAMS | F_ALL,
	 "--calibration-end, --horizon and --params belong to clv, --all to lead", false,
	 setup_rfm, score_rfm_check, score_rfm},
	{"clv", F_WINDOW | F_CHANGES | F_ALL | F_RUN,
	 "--window, --changes and --run belong to rfm, --all to lead", false, setup_clv,
	 NULL, score_clv},
	{"lead", F_WINDOW | F_CHANGES | F_CAL_END | F_HORIZON | F_PARAMS | F_RUN,
	 "lead takes --all, --save, --dry-run and the common options only", true, setup_lead,
	 score_lead_check, score_lead},
};

/* --check-config: the set-up and the configuration check of cmd, or of
 * every subcommand when cmd is NULL (each says its own trouble). The exit
 * status: 0 when each would start. */
static int check_config(score_run *run, const score_cmd *cmd)
{
	int status = JRN_EXIT_OK;
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		const score_cmd *c = &cmds[i];
		if (cmd && cmd != c)
			continue;
		int rc = c->setup ? c->setup(run) : 0;
		if (rc == 0 && c->check)
			rc = c->check(run);
		if (rc > status)
			status = rc;
	}
	return status;
}

/* The subcommand of sub (NULL: none given) for the options parsed into run,
 * with optind at its operands: the row, or NULL having said why (usage). */
static const score_cmd *command(const char *sub, const score_run *run, int argc)
{
	const score_cmd *cmd = NULL;
	for (size_t i = 0; sub && !cmd && i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(sub, cmds[i].name))
			cmd = &cmds[i];
	unsigned given = (run->window_flag ? F_WINDOW : 0) | (run->changes ? F_CHANGES : 0) |
			 (run->cal_end_flag ? F_CAL_END : 0) | (run->horizon_flag ? F_HORIZON : 0) |
			 (run->params_only ? F_PARAMS : 0) | (run->all ? F_ALL : 0) |
			 (run->run_flag ? F_RUN : 0);
	const char *bad = NULL;
	char hint[96];
	const char *names[sizeof cmds / sizeof *cmds + 1] = {0};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		names[i] = cmds[i].name;
	if (!sub)
		bad = "a command is needed: rfm, clv or lead";
	else if (!cmd)
		bad = jrn_unknown_word("command", sub, names, "rfm, clv, lead", hint, sizeof hint);
	else if (optind < argc && !cmd->operands)
		bad = "no arguments beyond the options";
	else if (given & cmd->foreign)
		bad = cmd->foreign_msg;
	if (!bad)
		return cmd;
	jrn_say(JRN_EXIT_USAGE, "%s%s%s", sub && !cmd ? sub : "", sub && !cmd ? ": " : "", bad);
	fputs("Try 'jrn-score --help'.\n", stderr);
	return NULL;
}

/* Opens the state file into run->db; with --dry-run and no state file,
 * an empty one in memory (nothing is created). rfm, clv and lead --all
 * score the customers of the state file: without --save (they only read
 * it) a missing one is refused, not made (a typo in --db left an empty
 * file and "0 customers scored"). 0 or the exit status (said). */
static int open_state(score_run *run, const score_cmd *cmd)
{
	jrn_err e;
	if ((!cmd->operands || run->all) && !run->save && !run->opts.dry_run &&
	    jrn_db_exists(run->opts.db_path, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (jrn_db_open_dry(run->opts.db_path, run->opts.dry_run, run->opts.busy_ms, &run->db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	/* The orders are scattered over the event log and each page is read
	 * once: a small page cache that stays hot beats the state file's
	 * default 64 MB one (fresh memory faulted in for every page) and
	 * memory-mapping alike; the scan of 1M stored events took 0.09 s
	 * rather than 0.4 s (and 0.24 s mapped). */
	if (jrn_db_exec(run->db, "PRAGMA cache_size = -2048", &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", run->opts.db_path, e.msg);
	return 0;
}

/* The input named for -v. */
static const char *input_of(const score_run *run, const score_cmd *cmd)
{
	if (!cmd->operands)
		return "the events of the state file";
	if (run->all)
		return "every customer of the state file (--all)";
	return run->nfiles ? "the FILE operands" : "standard input";
}

/* Closes the state file (said when it fails: JRN_EXIT_FAIL) and frees the
 * options; returns status. */
static int teardown(score_run *run, int status)
{
	if (run->db && sqlite3_close(run->db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(run->db));
	jrn_opts_free(&run->opts);
	return status;
}

int main(int argc, char **argv)
{
	static score_run run;
	jrn_err e;

	signal(SIGPIPE, SIG_IGN);
	jrn_opts_init(&run.opts, "jrn-score");
	jrn_out_init(&run.out, STDOUT_FILENO);
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	if (sub) { /* getopt says its errors as argv[0]: "jrn-score", not "rfm" */
		static char prog[] = "jrn-score";
		argv++;
		argc--;
		argv[0] = prog;
	}
	int status = jrn_opts_parse(&run.opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take,
				    &run);
	if (status >= 0)
		return teardown(&run, status);
	if (run.opts.check_config && optind < argc)
		return teardown(&run, jrn_say(JRN_EXIT_USAGE, "--check-config takes no FILE"));
	/* --check-config without a command checks every command's */
	const score_cmd *cmd = NULL;
	if ((sub || !run.opts.check_config) && !(cmd = command(sub, &run, argc)))
		return teardown(&run, JRN_EXIT_USAGE);
	run.files = argv + optind;
	run.nfiles = argc - optind;
	/* -2: a bad flag value (--now yesterday), a usage error */
	int rc = jrn_opts_resolve(&run.opts, &e);
	if (rc < 0)
		return teardown(&run, jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg));
	/* Durations and times before the state file is opened (or created). */
	if (run.opts.check_config)
		return teardown(&run, check_config(&run, cmd));
	if (cmd->setup && (status = cmd->setup(&run)) != 0)
		return teardown(&run, status);
	if (jrn_rejects_open(&run.rej, "jrn-score", run.opts.rejects_path, true, &e) < 0)
		return teardown(&run, jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg));
	if ((status = open_state(&run, cmd)) == 0) {
		score_say_setup(&run, input_of(&run, cmd));
		status = jrn_finish(&run.out, NULL, cmd->run(&run));
	}
	status = teardown(&run, status);
	/* the rejects file last, in the words jrn-score has always used */
	if (jrn_rejects_close(&run.rej, &e) < 0)
		status = jrn_say(JRN_EXIT_FAIL, "--rejects: %s", e.msg);
	return jrn_finish(NULL, &run.rej, status);
}
