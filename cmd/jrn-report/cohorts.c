/* cohorts.c: jrn-report cohorts — customers grouped by the period of their
 * first order, and in each later period the share who ordered again and
 * their revenue (jrn-report(1), COHORTS).
 *
 * A customer's cohort is the period (UTC day, ISO week from Monday, or
 * calendar month) of their first order.completed over all time; the
 * window [since, until) chooses the customers whose first order falls in
 * it. For each cohort, a row per period from the cohort's own (period 0)
 * to the one holding until - 1 ms (the last may be partial): orders at or
 * after until are not counted.
 *
 * Memory: SQL groups by (cohort, period); what stays here is the cohorts'
 * sizes (at most COHORTS_MAX_PERIODS of them).
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

#define COHORTS_MAX_PERIODS 1000   /* periods from the first cohort to until */


/* floor(a / b) for b > 0, in C and in SQL (whose % truncates like C's). */
static int64_t floor_div(int64_t a, int64_t b)
{
	return (a - ((a % b) + b) % b) / b;
}

#define SQL_DAY(x) "(((" x ") - (((" x ") % 86400000) + 86400000) % 86400000) / 86400000)"
#define SQL_WEEK(x) "(((" SQL_DAY(x) " + 3) - (((" SQL_DAY(x) " + 3) % 7) + 7) % 7) / 7)"
#define SQL_MONTH(x)                                                              \
	"(CAST(strftime('%Y', (((" x ") - (((" x ") % 1000) + 1000) % 1000) / 1000), " \
	"'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', (((" x ") - (((" x ")"    \
	" % 1000) + 1000) % 1000) / 1000), 'unixepoch') AS INTEGER) - 1)"

/* The first orders of every customer whose first order is in [?1, ?2). */
#define FIRSTS                                                                   \
	"WITH f AS (SELECT customer_id, min(ts) AS first FROM events"              \
	" WHERE type = 'order.completed' GROUP BY customer_id"                     \
	" HAVING first >= ?1 AND first < ?2) "

#define SIZES(P) FIRSTS "SELECT " P("first") " AS c, count(*) FROM f GROUP BY c ORDER BY c"
#define ACTIVE(P)                                                                 \
	FIRSTS "SELECT " P("f.first") " AS c, " P("o.ts") " AS p,"                 \
	" count(DISTINCT o.customer_id), jrn_money(o.amount)"                      \
	" FROM f JOIN events o ON o.customer_id = f.customer_id"                    \
	" WHERE o.type = 'order.completed' AND o.ts < ?2"                          \
	" GROUP BY c, p ORDER BY c, p"

static const char *const sizes_sql[] = {SIZES(SQL_DAY), SIZES(SQL_WEEK), SIZES(SQL_MONTH)};
static const char *const active_sql[] = {ACTIVE(SQL_DAY), ACTIVE(SQL_WEEK), ACTIVE(SQL_MONTH)};

int64_t report_period_of(report_period k, int64_t ms)
{
	int64_t day = floor_div(ms, DAY_MS), y;
	int m, d;
	switch (k) {
	case REPORT_DAY:
		return day;
	case REPORT_WEEK:
		return floor_div(day + 3, 7);   /* 1970-01-01 was a Thursday */
	default:
		jrn_civil_from_days(day, &y, &m, &d);
		return y * 12 + m - 1;
	}
}

char *report_period_name(report_period k, int64_t p, char out[48])
{
	int64_t y;
	int m, d;
	if (k == REPORT_MONTH) {
		snprintf(out, 48, "%04lld-%02d", (long long)floor_div(p, 12),
			 (int)(p - floor_div(p, 12) * 12 + 1));
		return out;
	}
	jrn_civil_from_days(k == REPORT_DAY ? p : p * 7 - 3, &y, &m, &d);
	snprintf(out, 48, "%04lld-%02d-%02d", (long long)y, m, d);
	return out;
}

static jv period_name(report_period k, int64_t p)
{
	char s[48];
	return jv_string(report_period_name(k, p, s));
}

static int read_period(report_run *run, report_period *k)
{
	char *cfg = NULL;
	const char *p = run->period_flag, *from = "--period";
	jrn_err e;
	if (!p) {
		if (jrn_config_string(run->opts.config, "report.cohorts.period", &cfg, &e) < 0)
			return jrn_say(JRN_EXIT_FAIL, "cohorts: report.cohorts.period: %s", e.msg);
		p = cfg ? cfg : "month";
		from = "report.cohorts.period";
	}
	int rc = 0;
	if (!strcmp(p, "day"))
		*k = REPORT_DAY;
	else if (!strcmp(p, "week"))
		*k = REPORT_WEEK;
	else if (!strcmp(p, "month"))
		*k = REPORT_MONTH;
	else
		rc = jrn_say(cfg ? JRN_EXIT_FAIL : JRN_EXIT_USAGE,
			     "cohorts: %s %s: not a period (day, week or month)", from,
			     cfg ? jrn_config_shown(run->opts.config, "report.cohorts.period", p) : p);
	free(cfg);
	return rc;
}

typedef struct {
	int64_t cohort, size;
} cohort;

static jv rate(double num, int64_t den)
{
	return den ? jv_number(num / (double)den) : jv_null();
}

/* Writes the rows of every cohort, period by period, from the sizes and the
 * (cohort, period) stream st. */
static int emit(report_run *run, report_period k, const cohort *C, size_t n, sqlite3_stmt *st,
		int64_t last)
{
	int step = sqlite3_step(st);
	for (size_t i = 0; i < n; i++) {
		for (int64_t p = C[i].cohort; p <= last; p++) {
			int64_t active = 0;
			double revenue = 0;
			while (step == SQLITE_ROW && (sqlite3_column_int64(st, 0) < C[i].cohort ||
						      (sqlite3_column_int64(st, 0) == C[i].cohort &&
						       sqlite3_column_int64(st, 1) < p)))
				step = sqlite3_step(st);
			if (step == SQLITE_ROW && sqlite3_column_int64(st, 0) == C[i].cohort &&
			    sqlite3_column_int64(st, 1) == p) {
				active = sqlite3_column_int64(st, 2);
				revenue = sqlite3_column_double(st, 3);
			}
			jv row = jv_object();
			row = jv_object_set(row, jv_string("cohort"), period_name(k, C[i].cohort));
			row = jv_object_set(row, jv_string("period"), jv_number((double)(p - C[i].cohort)));
			row = jv_object_set(row, jv_string("customers"), jv_number((double)C[i].size));
			row = jv_object_set(row, jv_string("active"), jv_number((double)active));
			row = jv_object_set(row, jv_string("revenue"), jv_number(revenue));
			row = jv_object_set(row, jv_string("retention"), rate((double)active, C[i].size));
			row = jv_object_set(row, jv_string("revenuePerCustomer"), rate(revenue, C[i].size));
			if (report_row(run, row) < 0)
				return JRN_EXIT_FAIL;
		}
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return jrn_say(JRN_EXIT_FAIL, "cohorts: %s", sqlite3_errmsg(run->db));
	return 0;
}

/* jrn-report cohorts: reads --period, the cohorts' sizes and their orders
 * per period, and writes a row per cohort and period (jrn-report(1),
 * COHORTS). Returns an exit status, having said why it failed. */
/* The set-up of a cohorts run before it reads: the period into *k, and
 * --by (none). 0, or an exit status having said why. */
static int cohorts_setup(report_run *run, report_period *k)
{
	static const char *const none[] = {NULL};
	int status = read_period(run, k);
	return status ? status : report_by_check(run, none, NULL);
}

int report_cohorts_check(report_run *run)
{
	report_period k = REPORT_MONTH;
	return cohorts_setup(run, &k);
}

int report_cohorts(report_run *run)
{
	report_period k = REPORT_MONTH;
	int status = cohorts_setup(run, &k);
	if (status)
		return status;
	static const char *const cols[] = {"cohort", "period", "customers", "active", "revenue",
					   "retention", "revenuePerCustomer"};
	jv names = jv_array();
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		names = jv_array_append(names, jv_string(cols[i]));
	report_header(run, names);
	int64_t since = run->since_given ? run->since_ms : INT64_MIN;
	int64_t until = run->until_given ? run->until_ms : run->now_ms;
	if (until <= since)
		return 0;
	/* Sorts for GROUP BY spill to temporary files past the page cache:
	 * memory stays flat however many rows are grouped. */
	jrn_db_exec(run->db, "PRAGMA temp_store = FILE", NULL);
	int64_t last = report_period_of(k, until - 1);
	jrn_err e;
	sqlite3_stmt *st = NULL;
	cohort *C = NULL;
	size_t n = 0;
	if (jrn_db_prepare(run->db, sizes_sql[k], &st, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "cohorts: %s", e.msg);
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t c = sqlite3_column_int64(st, 0);
		if (!n && last - c + 1 > COHORTS_MAX_PERIODS) {
			status = jrn_say(JRN_EXIT_FAIL,
					 "cohorts: %lld periods from the first cohort to the window's end: "
					 "over the limit of %d (a longer --period, or --since)",
					 (long long)(last - c + 1), COHORTS_MAX_PERIODS);
			break;
		}
		cohort *p = realloc(C, (n + 1) * sizeof *C);
		if (!p) {
			status = jrn_say(JRN_EXIT_FAIL, "cohorts: out of memory");
			break;
		}
		C = p;
		C[n].cohort = c;
		C[n++].size = sqlite3_column_int64(st, 1);
	}
	if (!status && step != SQLITE_DONE)
		status = jrn_say(JRN_EXIT_FAIL, "cohorts: %s", sqlite3_errmsg(run->db));
	sqlite3_finalize(st);
	st = NULL;
	if (!status && n) {
		if (jrn_db_prepare(run->db, active_sql[k], &st, &e) < 0) {
			status = jrn_say(JRN_EXIT_FAIL, "cohorts: %s", e.msg);
		} else {
			sqlite3_bind_int64(st, 1, since);
			sqlite3_bind_int64(st, 2, until);
			status = emit(run, k, C, n, st, last);
		}
	}
	sqlite3_finalize(st);
	free(C);
	return status;
}
