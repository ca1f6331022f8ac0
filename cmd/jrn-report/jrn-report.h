/*
 * jrn-report.h: what the parts of jrn-report share (private to
 * cmd/jrn-report/).
 *
 *   main.c         usage, options, parse → set up → open → run → finish
 *   kinds.c        the table of report kinds (one row per kind)
 *   window.c       --since/--until/--by and the other options read into
 *                  the run; the config's report.* keys
 *   output.c       rows out: NDJSON as they come, or collected for table,
 *                  csv and html; -o FILE
 *   html.c         --format html: one self-contained page, a chart per
 *                  report (inline SVG), the rows as a table
 *   metrics.c      metrics: sends, engagement, conversions, revenue, cost,
 *                  ROI and rates per group
 *   insights.c     metrics --save: the insights table (schema 11)
 *   funnel.c       funnel: ordered event types within a window per customer
 *   attribution.c  attribution: first, last, linear, time decay,
 *                  position-based, Markov removal effect
 *   cohorts.c      cohorts: retention and revenue by first-order period
 *   experiment.c   experiment: arms, lift, confidence interval, p-value, SRM
 *   journeys.c     journeys: per journey, version and step
 *   rfm.c          rfm: segment movement between snapshots, distribution
 *   kpis.c         kpis: seeds/004's table against its targets
 *
 * A kind is one row of kinds.c's table: its name, the kind-specific
 * options it takes (R_OPT_* bits; any other kind-specific option is a
 * usage error), its run, and how html draws it. A run reads the state file
 * (read-only, except insights with --save) and writes its rows with
 * report_row; it returns an exit status (JRN_EXIT_*) having said why it
 * failed. main.c ends the run (report_output_end, jrn_finish).
 *
 * Where the figures come from (every kind uses the same words):
 *   send        a deliveries row (lib/ledger.c) with status sent, queued or
 *               simulated; failed, suppressed and rejected rows are counted
 *               as such; campaign, channel, customer and time
 *               (claimed_at) from its columns, variant from record's
 *               testVariant.
 *   engagement  events email.delivered, email.opened, email.clicked,
 *               email.bounced, sms.delivered, sms.failed, consent.revoked
 *               (unsubscribed), whose properties.deliveryKey names the
 *               deliveries row (jrn-ingest --listen writes them so); when
 *               absent, properties.campaignId and properties.channel.
 *   touch       a send, an open, a click, or an event with
 *               properties.utm_campaign (or context.campaign.name, the
 *               Segment spec's place): for attribution.
 *   conversion  an order.completed event; revenue = its amount column.
 */
#ifndef JRN_REPORT_H
#define JRN_REPORT_H

#include <math.h>

#include "jrn.h"

#define DAY_MS 86400000LL

typedef enum {
	REPORT_NDJSON,
	REPORT_TABLE,
	REPORT_CSV,
	REPORT_HTML,
} report_format;

/* Kind-specific options, as bits (report_kind.options says which a kind
 * takes). The common ones (--since --until --by --format -o --db --config
 * --now -q -v) every kind takes. */
enum {
	R_OPT_SAVE = 1 << 0,       /* --save (metrics) */
	R_OPT_STEPS = 1 << 1,      /* --steps A,B,C (funnel) */
	R_OPT_WITHIN = 1 << 2,     /* --within DUR (funnel) */
	R_OPT_MODEL = 1 << 3,      /* --model NAME,... (attribution) */
	R_OPT_LOOKBACK = 1 << 4,   /* --lookback DUR (attribution, metrics) */
	R_OPT_HALF_LIFE = 1 << 5,  /* --half-life DUR (attribution) */
	R_OPT_PERIOD = 1 << 6,     /* --period day|week|month (cohorts) */
	R_OPT_JOURNEY = 1 << 7,    /* --journey NAME (experiment, journeys) */
	R_OPT_LEVEL = 1 << 8,      /* --level 0.95 (experiment) */
	R_OPT_FROM = 1 << 9,       /* --from T (rfm: the earlier snapshot) */
	R_OPT_TO = 1 << 10,        /* --to T (rfm: the later snapshot) */
	R_OPT_DRY_RUN = 1 << 11,   /* --dry-run (with --save) */
};

/* How html draws a kind's rows (html.c). x: the column of the categories
 * (NULL: the --by columns joined with " / ", or the first column);
 * series: numeric columns drawn, NULL-terminated (at most 6); for a
 * heatmap x and y are the two category columns and series[0] the value. */
typedef enum { CHART_NONE, CHART_BAR, CHART_LINE, CHART_HEATMAP } report_chart_type;
typedef struct {
	report_chart_type type;
	const char *x, *y;
	const char *series[7];
	const char *title;
} report_chart;

typedef struct report_run report_run;

typedef struct {
	const char *name;
	unsigned options;                /* R_OPT_* bits it takes */
	int (*run)(report_run *run);     /* an exit status, having said why */
	report_chart chart;
	const char *summary;             /* one line for --help and jrn(1) */
	/* --check-config: the set-up its run does before it reads (the same
	 * function: its options and its report.KIND keys), nothing read or
	 * written; an exit status, having said why. NULL: none to do. */
	int (*check)(report_run *run);
	/* without KIND, the check runs when report.KIND is written and, when
	 * set, this key too (funnel's steps: without them the run needs
	 * --steps, which only the caller knows) */
	const char *check_needs;
} report_kind;

extern const report_kind report_kinds[];
extern const size_t report_nkinds;

/* One invocation: the options, the window, the output, the state file. */
struct report_run {
	jrn_opts opts;
	const report_kind *kind;
	sqlite3 *db;             /* open read-write (save) or read-only */
	int64_t now_ms;          /* --now / JRN_NOW / the clock */
	int64_t since_ms;        /* the window [since_ms, until_ms): --since T */
	int64_t until_ms;        /* (a time, or a duration back from now: 24h), */
	bool since_given;        /* default: since the beginning; --until */
	bool until_given;        /* default: now */
	char **by;               /* --by fields, in order (owned); NULL: none */
	size_t nby;
	report_format format;
	const char *out_path;    /* -o FILE; NULL: stdout */
	unsigned given;          /* R_OPT_* bits given on the command line */
	bool save;
	const char *steps_flag, *within_flag, *model_flag, *lookback_flag,
		*half_life_flag, *period_flag, *journey_flag, *level_flag,
		*from_flag, *to_flag;  /* the kind-specific flags' text, as given */
	struct report_out *out;  /* output.c's state */
	uint64_t rows;           /* rows written so far */
	bool out_gone;           /* the reader went away (output.c) */
	int64_t lookback_ms;     /* metrics: --lookback, report.metrics.lookback */
};

/* ---- window.c ------------------------------------------------------------- */

/* Reads the window (--since, --until: RFC 3339 or a duration back from
 * run->now_ms; since after until is an error), --by's comma list into
 * run->by (each field once; the kind checks them with report_by_check) and
 * --format into run; checks -o and --dry-run (only with --save). The
 * texts are borrowed (NULL: not given). 0, or the exit status (said). */
int report_window(report_run *run, const char *since, const char *until, const char *by,
		  const char *format);
/* Frees run->by. */
void report_window_free(report_run *run);

/* For a kind's run: sets run->by from deflt (a comma list; NULL or "":
 * no grouping) when --by was not given, then checks every --by field is
 * one of fields (NULL-terminated). 0, or JRN_EXIT_USAGE said ("KIND: --by
 * X: not a field of this kind (a, b, c)"). */
int report_by_check(report_run *run, const char *const *fields, const char *deflt);
/* The position of field in run->by, or -1 when not grouped by it. */
int report_by_index(const report_run *run, const char *field);

/* A duration for a kind: flag's text when given (opt names it in the
 * message; more than 0 needed: else JRN_EXIT_USAGE said), else the config
 * key (dotted, e.g. "report.metrics.lookback"; NULL: none), else dflt.
 * 0 with *ms set, or the exit status (said). */
int report_duration(const report_run *run, const char *flag, const char *opt,
		    const char *key, int64_t dflt, int64_t *ms);

/* With -v: the state file, config and window in use, on stderr. */
void report_say_setup(const report_run *run);

/* ---- output.c ------------------------------------------------------------- */

/* Opens the output (-o FILE or stdout) for the run's format. 0, or -1
 * having said why. */
int report_output_begin(report_run *run);

/* Writes one row. Takes row (a jv object; its keys' order is the columns'
 * order for table and csv; numbers, strings, booleans and null print as
 * themselves, arrays and objects as compact JSON). NDJSON rows go out at
 * once; the other formats collect them. 0, or -1 having said why (a write
 * error; EPIPE ends the run quietly as elsewhere). */
int report_row(report_run *run, jv row);

/* Ends the output: writes table, csv or html from the rows collected
 * (html: report_html), flushes and closes; -o FILE: renames the
 * temporary file over FILE. 0, or -1 having said why (nothing said and 0
 * when the reader went away: report_output_gone). */
int report_output_end(report_run *run);

/* Ends the output of a failed run: NDJSON rows already written stay (they
 * are whole lines); the collected rows are dropped; -o's temporary file is
 * removed (FILE is left as it was). */
void report_output_abort(report_run *run);

/* Whether the reader of standard output went away (EPIPE): a normal end. */
bool report_output_gone(const report_run *run);

/* The column names (a jv array of strings, consumed) for table and csv
 * when the report has no rows (they print the header only then); with
 * rows, the rows' keys are the columns. A kind calls it before its rows;
 * without it an empty report prints nothing. */
void report_header(report_run *run, jv names);

/* The width of the UTF-8 text s[0..n) in terminal columns (wcwidth(3);
 * the C.UTF-8 LC_CTYPE must be set, as the table writer does). */
size_t report_text_width(const char *s, size_t n);

/* ---- html.c --------------------------------------------------------------- */

/* Writes the whole HTML page of rows (a jv array of objects, consumed) for
 * the run's kind and chart to f: self-contained, no network. 0, or -1
 * having said why. */
int report_html(report_run *run, jv rows, FILE *f);

/* ---- the kinds' runs (one file each) -------------------------------------- */

int report_metrics(report_run *run);
int report_funnel(report_run *run);
int report_attribution(report_run *run);
int report_cohorts(report_run *run);
int report_experiment(report_run *run);
int report_journeys(report_run *run);
int report_rfm(report_run *run);
int report_kpis(report_run *run);
/* Their --check-config (report_kind's check). */
int report_metrics_check(report_run *run);
int report_funnel_check(report_run *run);
int report_attribution_check(report_run *run);
int report_cohorts_check(report_run *run);
int report_experiment_check(report_run *run);
int report_kpis_check(report_run *run);

/* ---- metrics.c ------------------------------------------------------------ */

/* Registers jrn_money(X) on db: an aggregate as SQLite's total(X) (NULLs
 * left out, no row 0.0), summed exactly to a millionth whatever the order
 * of the rows (metrics' money), so that every kind's money is exact
 * ("0.1 + 0.2 is 0.3") and several state files combine to the same
 * figure. 0, or -1 (SQLite's error on db). */
int report_money_register(sqlite3 *db);

/* The metrics rows of the sends claimed in [since, until), grouped by
 * by[0..nby) (metrics' fields; nby 0: one row for the whole window, none
 * when it had no deliveries), in the groups' order, each given to each
 * (the row consumed; it returns an exit status, 0 to go on). Uses
 * run->db and run->lookback_ms. Returns 0 or the exit status (said, or
 * each's). */
int report_metrics_each(report_run *run, int64_t since, int64_t until, char *const *by,
			size_t nby, int (*each)(void *ctx, jv row), void *ctx);

/* ---- insights.c ----------------------------------------------------------- */

/* metrics --save: writes the run's rows (a jv array of the metrics rows,
 * consumed) to the insights table as one report run (kind 'metrics',
 * computed_at = now), with each rate's trend against the previous window
 * of the same length, in one transaction. 0, or -1 having said why. */
int report_save_insights(report_run *run, jv rows);

/* ---- funnel.c and cohorts.c: their pure parts (t/unit/jrn-report-kinds.c) */

/* A funnel's definition: its steps' event types (borrowed), at most
 * REPORT_FUNNEL_MAX_STEPS; the most time from step 1 to any later step
 * (ms); the window [since, until) step 1 must fall in. */
#define REPORT_FUNNEL_MAX_STEPS 32
typedef struct {
	const char *const *steps;
	size_t nsteps;
	int64_t within, since, until;
} report_funnel_def;

/* One customer's way through a funnel: k steps reached (0: not in it),
 * step 1's time and step k's, and gap[i] the ms from step i to step i+1
 * (gap[0] unused). Zero it for each customer. */
typedef struct {
	size_t k;
	int64_t first, prev;
	int64_t gap[REPORT_FUNNEL_MAX_STEPS];
} report_funnel_walk;

/* Feeds one event of the customer (type borrowed, its time ts) to w; the
 * events must come in (ts, seq) order. Step 1 is the first event of
 * steps[0] in the window; step k the first event of steps[k-1] after step
 * k-1 and at most within after step 1 (jrn-report(1), FUNNEL). */
void report_funnel_step(const report_funnel_def *d, report_funnel_walk *w, const char *type,
			int64_t ts);

/* The median of v[0..n) (sorted in place): the middle value, or the mean of
 * the two middle values when n is even; NAN when n is 0. */
double report_median(int64_t *v, size_t n);

/* Cohort periods, UTC: a day, an ISO week (from Monday), a calendar month. */
typedef enum { REPORT_DAY, REPORT_WEEK, REPORT_MONTH } report_period;
/* The number of the period holding ms: days since 1970-01-01, weeks since
 * the Monday 1969-12-29, or year * 12 + month - 1 (floor division, so a
 * time before 1970 falls in the period it is in). */
int64_t report_period_of(report_period k, int64_t ms);
/* The name of period p into out: 2026-03-01 (day), its Monday 2026-02-23
 * (week), 2026-03 (month). Returns out. */
char *report_period_name(report_period k, int64_t p, char out[48]);

#endif
