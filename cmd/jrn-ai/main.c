/*
 * jrn-ai: the customer-state builder and the journey optimizer, as a
 * filter over profiles, on a table of models (the built-in `rules`, an
 * OpenAI-compatible endpoint), bounded by a cache, a budget, a JSON Schema
 * and an allow-list.
 *
 *   jrn-ai state     each profile with "state" added (the seed's Customer
 *                    State Schema, with where the answer came from)
 *   jrn-ai optimize  each record through, then its actions (the seed's
 *                    Journey Action Schema)
 *   jrn-ai eval      offline evaluation of a model over a past period
 *
 * This file: usage, options, the subcommand table, and main (parse → set
 * up → run → finish). The loop is core.c's; jrn-ai.h lists the parts.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-ai.h"
#include "eval.h"

static const char usage[] =
	"usage: jrn-ai state    [OPTIONS] [FILE...]\n"
	"       jrn-ai optimize [OPTIONS] [FILE...]\n"
	"       jrn-ai eval     --since T --until T [--model NAME]... [--horizon DUR]\n"
	"                       [--format table|ndjson] [OPTIONS]\n"
	"Build each customer's state, or the actions of its journey, with a model:\n"
	"the built-in rules, or one of ai.models in jrn.yaml.\n"
	"\n"
	"  state: each profile (NDJSON from FILEs, else standard input) with\n"
	"  \"state\":{segment,engagementLevel,journeyStage,nextBestActions,\n"
	"  predictedLifetimeValue,churnRiskScore,interests,source,model,\n"
	"  promptVersion,tokens,cost,cached} added\n"
	"  optimize: each record through unchanged, then one action record per\n"
	"  action {customerId,actionType,messageContent,campaignId,...,source,...}\n"
	"  Events (records with a string \"type\") pass through unchanged, unless\n"
	"  they carry a \"profile\" (state) or a \"state\" (optimize) object: then\n"
	"  they are their customer's record (jrn-ingest | jrn-merge | jrn-ai state\n"
	"  | jrn-ai optimize | jrn-route | jrn-send)\n"
	"  eval: each model's state at the cut-off --since scored against the\n"
	"  window [since, until): AUC, Brier, MAE, RMSE, Spearman, stage agreement,\n"
	"  kappa, tokens, cost; one row per model and one for jrn-score clv's BG/NBD\n"
	"\n"
	"  --model NAME          the model to ask: rules or a key of ai.models\n"
	"                        (default ai.model, else rules); eval: repeats, at\n"
	"                        most 8 (default rules and ai.model)\n"
	"  --budget N            stop asking the model after N tokens, or after\n"
	"                        N in the price table's currency when N has a\n"
	"                        decimal point (0.50); then the rules answer\n"
	"  --parallel N          questions in flight at once (1..256; default the\n"
	"                        model's inFlight, else 8)\n"
	"  --since T, --until T  eval: the cut-off and the end of the outcome window\n"
	"                        (RFC 3339, a date, or a duration back: 90d)\n"
	"  --horizon DUR         eval: the span predictedLifetimeValue forecasts\n"
	"                        (default the window's length)\n"
	"  --format FMT          eval: table (default) or ndjson, one line a model\n"
	"  --dry-run             ask nothing, write nothing to the cache: each\n"
	"                        record with \"aiRequest\" saying what would be asked\n"
	JRN_CHECK_CONFIG_USAGE
	"                        (the models, ai.*, the prompt files; no command: state)\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected records to FILE as JSON\n"
	"  -q, --quiet           nothing on stderr unless something fails\n"
	"  -v, --verbose         also the model, prompts, cache hits and each question\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage, 3 some records were rejected.\n";

enum {
	OPT_MODEL = JRN_OPT_TOOL_BASE,
	OPT_BUDGET,
	OPT_PARALLEL,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_HORIZON,
	OPT_FORMAT,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"model", required_argument, NULL, OPT_MODEL},
	{"budget", required_argument, NULL, OPT_BUDGET},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"horizon", required_argument, NULL, OPT_HORIZON},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* What main collects besides the run. */
typedef struct {
	ai_run *run;
	const char *parallel_flag, *since_flag, *until_flag;
	bool eval_only;          /* --horizon or --format given */
} ai_args;

/* Takes one of jrn-ai's own options (ctx: ai_args). */
static int take(void *ctx, int c, const char *arg)
{
	ai_args *a = ctx;
	switch (c) {
	case OPT_MODEL:
		a->run->model_flag = arg;
		if (ai_eval_opts.nmodels < AI_EVAL_MAX_MODELS)
			ai_eval_opts.models[ai_eval_opts.nmodels++] = arg;
		else
			ai_eval_opts.too_many = true;
		break;
	case OPT_BUDGET: a->run->budget_flag = arg; break;
	case OPT_PARALLEL: a->parallel_flag = arg; break;
	case OPT_SINCE: a->since_flag = ai_eval_opts.since = arg; break;
	case OPT_UNTIL: a->until_flag = ai_eval_opts.until = arg; break;
	case OPT_HORIZON: a->eval_only = true; ai_eval_opts.horizon = arg; break;
	case OPT_FORMAT: a->eval_only = true; ai_eval_opts.format = arg; break;
	default: return -2;
	}
	return 0;
}

/* --budget: N tokens (digits) or an amount with a decimal point. 0 or
 * JRN_EXIT_USAGE (said). */
static int parse_budget(ai_run *run)
{
	const char *s = run->budget_flag;
	if (!s)
		return 0;
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end || !(v > 0) || v > 1e15 || strspn(s, "0123456789.") != strlen(s))
		return jrn_say(JRN_EXIT_USAGE, "--budget '%s': expected a number of tokens (1000)"
			       " or an amount with a decimal point (0.50), above 0 and at most"
			       " 10^15", s);
	if (strchr(s, '.'))
		run->budget_cost = v;
	else
		run->budget_tokens = v;
	return 0;
}

/* --parallel: 1..AI_MAX_PARALLEL. 0 or JRN_EXIT_USAGE (said). */
static int parse_parallel(ai_run *run, const char *s)
{
	if (!s)
		return 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > AI_MAX_PARALLEL)
		return jrn_say(JRN_EXIT_USAGE, "--parallel '%s': expected a whole number from 1 to"
			       " %d (AI_MAX_PARALLEL)", s, AI_MAX_PARALLEL);
	run->parallel = (int)v;
	return 0;
}

/* A subcommand: its name, its task, whether it takes FILE operands and
 * --dry-run, and its run. */
typedef struct {
	const char *name;
	int task;
	bool operands;
	int (*run)(ai_run *run);
} ai_cmd;

static const ai_cmd cmds[] = {
	{"state", AI_STATE, true, ai_run_task},
	{"optimize", AI_OPTIMIZE, true, ai_run_task},
	{"eval", -1, false, ai_eval},
};

/* The subcommand sub (NULL: none given; with --check-config, state) with
 * optind at its operands, its options checked: the row, or NULL having
 * said why (usage). */
static const ai_cmd *command(const char *sub, const ai_args *a, int argc)
{
	const ai_cmd *cmd = !sub && a->run->opts.check_config ? &cmds[0] : NULL;
	for (size_t i = 0; sub && !cmd && i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(sub, cmds[i].name))
			cmd = &cmds[i];
	const char *bad = NULL;
	char hint[96];
	const char *names[sizeof cmds / sizeof *cmds + 1] = {0};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		names[i] = cmds[i].name;
	if (!sub && !cmd)
		bad = "a command is needed: state, optimize or eval";
	else if (!cmd)
		bad = jrn_unknown_word("command", sub, names, "state, optimize, eval", hint, sizeof hint);
	else if (optind < argc && !cmd->operands)
		bad = "no arguments beyond the options";
	else if (cmd->task >= 0 && (a->since_flag || a->until_flag))
		bad = "--since and --until belong to eval";
	else if (cmd->task >= 0 && a->eval_only)
		bad = "--horizon and --format belong to eval";
	else if (cmd->task < 0 && a->run->opts.dry_run)
		bad = "--dry-run belongs to state and optimize";
	else if (a->run->opts.check_config && optind < argc)
		bad = "--check-config takes no FILE";
	if (!bad)
		return cmd;
	jrn_say(JRN_EXIT_USAGE, "%s%s%s", sub && !cmd ? sub : "", sub && !cmd ? ": " : "", bad);
	fputs("Try 'jrn-ai --help'.\n", stderr);
	return NULL;
}

/* Opens the state file into run->db; with --dry-run and no state file,
 * an empty one in memory (nothing is created). 0 or the exit status
 * (said). */
static int open_state(ai_run *run)
{
	jrn_err e;
	bool fresh = !run->opts.dry_run && access(run->opts.db_path, F_OK) != 0;
	if (jrn_db_open_dry(run->opts.db_path, run->opts.dry_run, run->opts.busy_ms, &run->db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	/* the facts come from the state file: a new one (a mistyped --db, a
	 * wrong directory) has none, which the answers would not show */
	if (fresh && run->opts.verbosity >= 0) {
		char shown[JRN_PATH_SHOWN];
		jrn_say(0, "%s: no state file was there: made a new one, so no customer has facts"
			" (events, scores, segments) from it", jrn_path_shown(run->opts.db_path, shown));
	}
	/* The facts' and the cache's reads are random over 32 KiB pages:
	 * mapped, not copied by pread (about a tenth of the run). A
	 * connection's setting; where mmap is not available SQLite reads as
	 * before. */
	if (jrn_db_exec(run->db, "PRAGMA mmap_size = " AI_MMAP_SIZE_SQL, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", run->opts.db_path, e.msg);
	if (ai_facts_open(run, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	return 0;
}

/* Frees what the run holds; closing the state file can fail (said,
 * JRN_EXIT_FAIL). Returns status. */
static int teardown(ai_run *run, int status)
{
	ai_teardown(run);
	ai_keys_free();
	if (run->db && sqlite3_close(run->db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(run->db));
	jrn_opts_free(&run->opts);
	return status;
}

/* The set-up between the command line and the run: flags, config,
 * rejects file, state file, models. 0 or the exit status (said).
 * --check-config: flags, config and models (ai_setup), for any command,
 * without the rejects file and the state file. */
static int setup(ai_run *run, const ai_args *a, const ai_cmd *cmd)
{
	jrn_err e;
	int rc = jrn_opts_resolve(&run->opts, &e);
	if (rc < 0) /* -2: a bad flag value (--now yesterday), a usage error */
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	int status;
	if ((status = parse_budget(run)) || (status = parse_parallel(run, a->parallel_flag)))
		return status;
	if (run->opts.check_config)
		return ai_setup(run);
	if (cmd->task < 0)
		return 0;
	run->task = cmd->task;
	if (jrn_rejects_open(&run->rej, "jrn-ai", run->opts.rejects_path, run->opts.verbosity < 0,
			     &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	if ((status = open_state(run)))
		return status;
	return ai_setup(run);
}

int main(int argc, char **argv)
{
	static ai_run run;
	ai_args a = {.run = &run};

	signal(SIGPIPE, SIG_IGN);
	jrn_opts_init(&run.opts, "jrn-ai");
	jrn_out_init(&run.out, STDOUT_FILENO);
	run.fields = run.playbook = run.allow = jv_null();
	run.insights_at = -1;
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	if (sub) { /* getopt says its errors as argv[0]: "jrn-ai", not "state" */
		static char prog[] = "jrn-ai";
		argv++;
		argc--;
		argv[0] = prog;
	}
	int status = jrn_opts_parse(&run.opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take,
				    &a);
	if (status >= 0)
		return teardown(&run, status);
	const ai_cmd *cmd = command(sub, &a, argc);
	if (!cmd)
		return teardown(&run, JRN_EXIT_USAGE);
	run.files = argv + optind;
	run.nfiles = argc - optind;
	if ((status = setup(&run, &a, cmd)) == 0 && !run.opts.check_config)
		status = jrn_finish(&run.out, NULL, cmd->run(&run));
	status = teardown(&run, status);
	jrn_err e;
	if (run.rej.prog && jrn_rejects_close(&run.rej, &e) < 0)
		status = jrn_say(JRN_EXIT_FAIL, "--rejects: %s", e.msg);
	return jrn_finish(NULL, &run.rej, status);
}
