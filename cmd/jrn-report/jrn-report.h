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
};

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
 * (html: report_html), flushes and closes. 0, or -1 having said why. */
int report_output_end(report_run *run);

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

/* ---- insights.c ----------------------------------------------------------- */

/* metrics --save: writes the run's rows (a jv array of the metrics rows,
 * consumed) to the insights table as one report run (kind 'metrics',
 * computed_at = now), with each rate's trend against the previous window
 * of the same length, in one transaction. 0, or -1 having said why. */
int report_save_insights(report_run *run, jv rows);

#endif
