/*
 * jrn-score.h: what the parts of jrn-score share (private to cmd/jrn-score/).
 *
 *   main.c       usage, options, the subcommand table, parse → set up →
 *                run → finish
 *   common.c     what every subcommand's run uses: state-file errors,
 *                rejected events, durations from flags and the config
 *   customers.c  the per-customer aggregates of the orders, keyed by
 *                customerId over jrn_idmap, and their order by id
 *   rfm.c        jrn-score rfm: recency, frequency, monetary
 *   clv.c        jrn-score clv: the orders (data), the fit, the forecast,
 *                the saved scores and the records, as separate steps
 *   clv-math.c   the pure CLV maths: the BG/NBD and Gamma-Gamma
 *                likelihoods, 2F1, Nelder and Mead's simplex, the forecast
 *                formulas (no I/O, no globals; t/unit/jrn-score-clv.c)
 *   lead.c       jrn-score lead: lead scores of profiles
 *
 * A subcommand is one row of main.c's table: its name, the options that are
 * not its own, whether it takes FILE operands, how it sets itself up from
 * the options before the state file opens, and its run. Runs return an exit
 * status (JRN_EXIT_*) having said why they failed; main.c ends the run.
 */
#ifndef JRN_SCORE_H
#define JRN_SCORE_H

#include <math.h>

#include "jrn.h"

#define DAY_MS 86400000LL

/* One invocation: the options, the streams and the state file. */
typedef struct {
	jrn_opts opts;
	jrn_out out;
	jrn_rejects rej;
	sqlite3 *db;
	const char *window_flag, *cal_end_flag, *horizon_flag;
	const char *run_flag; /* rfm: --run ID (with --changes: a replay) */
	bool save, changes, params_only;
	bool all;            /* lead: --all, every customer of the state file */
	uint64_t bad_amounts; /* stored orders or refunds skipped: no numeric amount */
	uint64_t big_amounts; /* ... and skipped as beyond SCORE_MAX_AMOUNT: said */
	int64_t window_ms;   /* rfm: --window, scoring.rfm.window, 180d */
	int64_t horizon_ms;  /* clv: --horizon, scoring.clv.horizon, 90d */
	int64_t unit_ms;     /* clv: scoring.clv.unit, 7d */
	int64_t cal_end_ms;  /* clv: --calibration-end when cal_end_flag */
	int64_t run_ms;      /* rfm: --run, the run's time; INT64_MIN: last */
	char **files;        /* lead: the FILE operands (borrowed from argv) */
	int nfiles;
} score_run;

/* The subcommands' runs: an exit status, having said why they failed. */
int score_rfm(score_run *run);
int score_clv(score_run *run);
int score_lead(score_run *run);
/* --check-config: the configuration of rfm (scoring.rfm's weights, method,
 * thresholds, segments) or lead (scoring.lead's rules), read by the same
 * function the run reads it with, and dropped; nothing else is touched.
 * JRN_EXIT_OK, or JRN_EXIT_FAIL having said why as the run would. */
int score_rfm_check(score_run *run);
int score_lead_check(score_run *run);

/* ---- common.c ------------------------------------------------------------- */

/* Says a message about the scoring section of config (borrowed; its
 * file's name cfg), fmt's text beginning with the dotted path it is about
 * ("scoring.rfm.weights: ..."), after where that is written
 * (jrn_config_where_msg: "jrn.yaml:3:14: "), else after cfg. Returns -1. */
int score_cfg_say(jv config, const char *cfg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Says "DB: what: SQLite's message" and returns -1. */
int score_db_fail(score_run *run, const char *what);

/* -v: the notes naming the state file, the config and the input (a phrase
 * such as "standard input"); nothing unless verbose. */
void score_say_setup(const score_run *run, const char *input);

/* The run's summary line on stderr unless quiet, or unless the reader of
 * the output went away and nothing was saved (the output is flushed
 * first to know): "jrn-score: " and fmt's
 * text, then what every subcommand adds: the stored events skipped for a
 * non-numeric amount (once, with where to repair them) and, with
 * --dry-run, "(dry run, nothing saved)". */
void score_summary(score_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the run's transaction: COMMIT, or with --dry-run ROLLBACK (all the
 * work done, nothing written). 0, or -1 (said). */
int score_db_end(score_run *run);

/* The duration at the config's dotted path (scoring.rfm.window): 1 with
 * *ms set, 0 when absent (*ms untouched), -1 when it is not one, said as
 * "CONFIG: PATH: reason" (a negative or too large number: "expected a
 * duration such as 180d"). Through jrn_config_duration. */
int score_config_duration(score_run *run, const char *path, int64_t *ms);

/* The duration of --NAME (flag, when not NULL), else of the config's
 * cfg_path, else dflt, into *ms; 0, or -1 (said) when it does not parse or
 * is not longer than zero. */
int score_duration(score_run *run, const char *flag, const char *name, const char *cfg_path,
		   int64_t dflt, int64_t *ms);

/* Rounds x to 1/scale (scale 1e6: probabilities and counts; 1e4: money;
 * 100: points), without -0. */
static inline double score_round(double x, double scale)
{
	double r = round(x * scale) / scale;
	return r == 0 ? 0 : r;
}

/* Appends x as a JSON number (jrn_json_append); 0 or -1 (NaN, memory),
 * with errno EDOM for a number that is not finite, else ENOMEM. */
int score_num(jrn_buf *b, double x);

/* Says why a record could not be built (score_num or the buffer failed:
 * errno EDOM "a score is not a finite number", else "out of memory") and
 * returns -1. */
int score_build_fail(void);

/* The largest order or refund amount jrn-score sums, in magnitude: 10^15.
 * Sums of at most 2^63 such amounts stay finite, and the CLV fit's
 * squares too; a larger amount is an error in the data, not an order. */
#define SCORE_MAX_AMOUNT JRN_AMOUNT_MAX

/* Whether the amount of the stored event of row st (its id in column
 * id_col, its customer in cust_col) is beyond SCORE_MAX_AMOUNT: then it is
 * said ("event ID (customer C): amount 1e+308 is beyond 10^15 in
 * magnitude, the limit; left out"), counted in run->big_amounts (the run
 * ends with exit 3), and the caller leaves the event out: 1; else 0. */
int score_amount_too_big(score_run *run, sqlite3_stmt *st, int id_col, int cust_col,
			 double amount);

/* The status of a run that did its work: JRN_EXIT_REJECTS when events
 * were left out (run->big_amounts), else JRN_EXIT_OK. */
int score_done_status(const score_run *run);

/* An order's amount in column col of st: 1 with *x when it is a finite
 * number, else 0 (the caller skips the event and counts it in
 * run->bad_amounts: a state file written before jrn-ingest refused string
 * amounts may hold one, and one stored event must not fail every nightly
 * run). */
static inline int score_amount(sqlite3_stmt *st, int col, double *x)
{
	int t = sqlite3_column_type(st, col);
	if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
		return 0;
	*x = sqlite3_column_double(st, col);
	return isfinite(*x);
}

/* ---- customers.c ------------------------------------------------------------ */

/* One customer's RFM aggregates and scores. */
typedef struct {
	int64_t last;     /* last order at or before now; INT64_MIN: none */
	int64_t freq;     /* orders in the window */
	double sum, comp; /* monetary, Neumaier-compensated */
	int recency, r, f, m;
	double monetary, score;
	int prev;         /* --changes: segment in the previous snapshot, 1-based; 0 none */
	int seg;          /* index into the segments */
} score_cust;

/* The customers seen: ids maps a customerId to its index in c[0..n). */
typedef struct {
	jrn_idmap *ids;
	score_cust *c;
	size_t n, cap;
} score_custs;

/* An empty table: 0, or -1 (out of memory). Free with score_custs_free. */
int score_custs_init(score_custs *t);
void score_custs_free(score_custs *t);
/* Makes room for index t->n (c[] one longer): 0 or -1 (out of memory). */
int score_custs_grow(score_custs *t);

/* The customer with id s[0..n), added (no orders yet: last INT64_MIN, the
 * rest 0) when new. NULL when out of memory. The pointer is valid until
 * the next call. Inline: once per order in the scan. */
static inline score_cust *score_custs_get(score_custs *t, const char *s, size_t n)
{
	bool added;
	int64_t i = jrn_idmap_put(t->ids, s, n, &added);
	if (i < 0)
		return NULL;
	if (added) {
		if (t->n == t->cap && score_custs_grow(t) < 0)
			return NULL;
		t->c[t->n++] = (score_cust){.last = INT64_MIN};
	}
	return &t->c[i];
}

/* Reads the orders and refunds up to now into t (empty at first): per
 * customer the last order (at or before now), the orders after now -
 * window (freq) and their amounts less the refunds of that window (sum,
 * comp). An order or refund without a numeric amount is skipped and
 * counted in run->bad_amounts. Counts into *n_orders and *n_refunds. 0, or -1
 * (said). Inside the caller's transaction. */
int score_read_orders(score_run *run, score_custs *t, int64_t now, int64_t window,
		      uint64_t *n_orders, uint64_t *n_refunds);

/* Sorts ix[0..n) (indexes of ids) by the ids, in byte order (SQLite's
 * BINARY collation, so the records come out as ORDER BY customer_id).
 * 0, or -1 when out of memory (ix as it was). */
int score_sort_by_id(const jrn_idmap *ids, size_t *ix, size_t n);

/* ---- rfm.c: the pure rules (unit-tested) ------------------------------------ */

/* A segment: the customers with a composite score of at least min. */
typedef struct {
	char *name;
	double min;
} rfm_segment;

typedef struct {
	double key;
	size_t i;
} rfm_rank_item;

/* Ranks one dimension (which: 0 r, 1 f, 2 m) of the customers c[it[k].i]:
 * it[0..n) is sorted by key, ascending from worst to best, and each gets 1
 * + floor(5 W / n), W the number of customers strictly worse (ties share
 * the lower score). */
void rfm_rank_scores(rfm_rank_item *it, size_t n, score_cust *c, int which);

/* The score 1..5 of value v of dimension d (0 recency in days: 5 within
 * the first bound, 1 past the last; 1 frequency, 2 monetary: 1 + the
 * bounds reached) under four ascending bounds (scoring.rfm.thresholds). */
static inline int rfm_threshold_score(int d, double v, const double bound[4])
{
	int reached = 0;
	for (int i = 0; i < 4; i++)
		reached += d == 0 ? v > bound[i] : v >= bound[i];
	return d == 0 ? 5 - reached : 1 + reached;
}

/* The segment of a composite score: the first of segs[0..n) (highest min
 * first) whose min it reaches, else the last. */
static inline int rfm_segment_of(double score, const rfm_segment *segs, int n)
{
	for (int s = 0; s < n; s++)
		if (score >= segs[s].min)
			return s;
	return n - 1;
}

/* Monetary to 1/10000 of the currency unit: sums of the same amounts in
 * another order give the same value, so ties are ties everywhere. */
static inline double rfm_round4(double x)
{
	return score_round(x, 10000.0);
}

#endif
