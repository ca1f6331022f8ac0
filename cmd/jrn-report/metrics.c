/* metrics.c: jrn-report metrics — per group of sends (--by, default
 * campaign,channel): sends by outcome, engagement, conversions, revenue,
 * cost, ROI and rates. One SQL statement aggregates (GROUP BY) and the
 * rows stream out as SQLite steps: memory holds one row, whatever the
 * number of events.
 *
 * The rules (jrn-report.h's words; jrn-report(1), METRICS):
 *   sends      deliveries rows with claimed_at in the window [since, until):
 *              sent = status sent, queued or simulated; failed, suppressed,
 *              rejected their statuses; cost = the sum of deliveries.cost
 *              of every row.
 *   engagement events of the window (ts in [since, until), read through
 *              the events_delivery index (schema 14), in key order) whose
 *              properties.deliveryKey names one of the window's sends (a
 *              lookup of deliveries.key): each count is of distinct
 *              deliveries (a message opened three times is opened once).
 *              delivered: email.delivered or sms.delivered, or an open or
 *              a click (which prove it arrived); opened: email.opened;
 *              clicked: email.clicked; unsubscribed: consent.revoked;
 *              bounced: email.bounced or sms.failed. An event without a
 *              deliveryKey is not counted here (attribution reads those).
 *   conversion an order.completed event of the window is credited to its
 *              customer's LAST send (sent, queued, simulated) at or before
 *              it, when that send is at most the lookback before it
 *              (--lookback, report.metrics.lookback, 7d) and is one of the
 *              window's sends: one order counts once, for one send (the
 *              last-touch rule; `jrn-report attribution` has the others).
 *              revenue = the sum of those orders' amount.
 *   roi        (revenue - cost) / cost; null when cost is 0.
 *   rates      deliveryRate = delivered / sent, openRate = opened /
 *              sent, clickRate = clicked / sent (seed 004, as kpis),
 *              clickToOpenRate = clicked / opened, conversionRate =
 *              converted / sent, unsubscribeRate = unsubscribed /
 *              delivered, bounceRate = bounced / sent; null when the
 *              denominator is 0 (fractions, not percent).
 */
#include <string.h>

#include "jrn-report.h"

/* The fields --by takes and the SQL of each over a deliveries row w. */
static const char *const fields[] = {"campaign", "channel", "variant", "day", "hour",
				     "journey", "provider", NULL};
static const char *const field_sql[] = {
	"w.campaign_id",
	"w.channel",
	"coalesce(json_extract(w.record, '$.testVariant'), json_extract(w.record, '$.route.variant'))",
	"strftime('%Y-%m-%d', w.claimed_at / 1000, 'unixepoch')",
	"strftime('%Y-%m-%dT%H:00:00Z', w.claimed_at / 1000, 'unixepoch')",
	"json_extract(w.record, '$.route.journey')",
	"w.provider",
};

/* The count columns, in the statement's and the row's order. */
static const char *const counts[] = {"sent", "delivered", "failed", "suppressed", "rejected",
				     "opened", "clicked", "unsubscribed", "bounced", "converted"};
#define NCOUNTS 10

static const char sends_sql[] =
	"SELECT %s count(*) AS n,"
	" total(w.status IN ('sent', 'queued', 'simulated')) AS sent, 0 AS delivered,"
	" total(w.status = 'failed') AS failed, total(w.status = 'suppressed') AS suppressed,"
	" total(w.status = 'rejected') AS rejected, 0 AS opened, 0 AS clicked,"
	" 0 AS unsubscribed, 0 AS bounced, 0 AS converted, 0 AS revenue,"
	" total(w.cost) AS cost"
	" FROM deliveries w WHERE w.claimed_at >= ?1 AND w.claimed_at < ?2 %s";

static const char engagement_sql[] =
	"SELECT %s 0, 0, total(e.dlv), 0, 0, 0, total(e.opn), total(e.clk), total(e.uns),"
	" total(e.bnc), 0, 0, 0"
	" FROM (SELECT dk, max(type IN ('email.delivered', 'sms.delivered', 'email.opened',"
	"        'email.clicked')) AS dlv, max(type = 'email.opened') AS opn,"
	"        max(type = 'email.clicked') AS clk, max(type = 'consent.revoked') AS uns,"
	"        max(type IN ('email.bounced', 'sms.failed')) AS bnc"
	"       FROM (SELECT type, json_extract(body, '$.properties.deliveryKey') AS dk"
	"             FROM events INDEXED BY events_delivery"
	"             WHERE type IN ('email.delivered', 'sms.delivered',"
	"              'email.opened', 'email.clicked', 'consent.revoked', 'email.bounced',"
	"              'sms.failed') AND ts >= ?1 AND ts < ?2"
	"              AND instr(body, '\"deliveryKey\"') > 0"
	"              AND json_extract(body, '$.properties.deliveryKey') IS NOT NULL)"
	"       WHERE dk IS NOT NULL GROUP BY dk) e"
	" JOIN deliveries w ON w.key = e.dk"
	" WHERE w.claimed_at >= ?1 AND w.claimed_at < ?2 %s";

/* The window's orders, read from the covering index events_orders
 * (schema 14) and sorted by customer, so that the last-send lookups
 * below walk deliveries_sent in order instead of at random (measured at
 * 10M events: t/bench/report.sh). The statement's WITH clause. */
static const char orders_cte[] =
	"WITH o AS MATERIALIZED (SELECT customer_id, ts, amount FROM events INDEXED BY events_orders"
	" WHERE type = 'order.completed' AND ts >= ?1 AND ts < ?2 ORDER BY customer_id, ts) ";

/* The last send's lookup is in the join's ON (not a column of a subquery
 * in FROM, which SQLite flattened into two evaluations per order). */
static const char conversions_sql[] =
	"SELECT %s 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(DISTINCT w.seq), total(o.amount), 0"
	" FROM o JOIN deliveries w ON w.seq = (SELECT d.seq FROM deliveries d"
	"        INDEXED BY deliveries_sent"
	"        WHERE d.customer_id = o.customer_id AND d.claimed_at <= o.ts"
	"          AND d.status IN ('sent', 'queued', 'simulated')"
	"        ORDER BY d.claimed_at DESC, d.seq DESC LIMIT 1)"
	" WHERE w.claimed_at >= ?1 AND w.claimed_at < ?2 AND o.ts - w.claimed_at <= ?3 %s";

/* The SQL index of a --by field. */
static size_t field_at(const char *name)
{
	size_t i = 0;
	while (fields[i] && strcmp(fields[i], name))
		i++;
	return i;
}

/* Builds the statement for the groups by[0..nby) into b. */
static void metrics_sql(jrn_buf *b, char *const *by, size_t nby)
{
	jrn_buf sel = {0}, grp = {0}, outer = {0};
	for (size_t i = 0; i < nby; i++) {
		jrn_buf_addf(&sel, "%s AS g%zu, ", field_sql[field_at(by[i])], i);
		jrn_buf_addf(&grp, "%sg%zu", i ? ", " : "GROUP BY ", i);
		jrn_buf_addf(&outer, "g%zu, ", i);
	}
	const char *s = sel.p ? sel.p : "", *g = grp.p ? grp.p : "";
	jrn_buf_adds(b, orders_cte);
	jrn_buf_addf(b, "SELECT %s", outer.p ? outer.p : "");
	for (size_t i = 0; i < NCOUNTS; i++)
		jrn_buf_addf(b, "sum(%s), ", counts[i]);
	jrn_buf_adds(b, "total(revenue), total(cost) FROM (");
	jrn_buf_addf(b, sends_sql, s, g);
	jrn_buf_adds(b, " UNION ALL ");
	/* the later parts' columns take the first part's names */
	jrn_buf_addf(b, engagement_sql, s, g);
	jrn_buf_adds(b, " UNION ALL ");
	jrn_buf_addf(b, conversions_sql, s, g);
	jrn_buf_addf(b, ") %s HAVING sum(n) > 0", g);
	if (nby) {
		jrn_buf_adds(b, " ORDER BY ");
		for (size_t i = 0; i < nby; i++)
			jrn_buf_addf(b, "%sg%zu", i ? ", " : "", i);
	}
	jrn_buf_free(&sel);
	jrn_buf_free(&grp);
	jrn_buf_free(&outer);
}

/* num / den, or null when den is 0. */
static jv rate(double num, double den)
{
	return den == 0 ? jv_null() : jv_number(num / den);
}

/* A column as JSON: text as a string, numbers as numbers, NULL as null. */
static jv column_jv(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER: return jv_number((double)sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: return jv_number(sqlite3_column_double(st, i));
	case SQLITE_NULL: return jv_null();
	default: return jv_string_sized((const char *)sqlite3_column_text(st, i),
					sqlite3_column_bytes(st, i));
	}
}

/* The row of the statement's current step (groups by[0..nby) first). */
static jv metrics_row(sqlite3_stmt *st, char *const *by, size_t nby)
{
	jv row = jv_object();
	double c[NCOUNTS];
	for (size_t i = 0; i < nby; i++)
		row = jv_object_set(row, jv_string(by[i]), column_jv(st, (int)i));
	for (int i = 0; i < NCOUNTS; i++) {
		c[i] = (double)sqlite3_column_int64(st, (int)nby + i);
		row = jv_object_set(row, jv_string(counts[i]), jv_number(c[i]));
	}
	double revenue = sqlite3_column_double(st, (int)nby + NCOUNTS);
	double cost = sqlite3_column_double(st, (int)nby + NCOUNTS + 1);
	double sent = c[0], delivered = c[1], opened = c[5], clicked = c[6], unsub = c[7],
	       bounced = c[8], converted = c[9];
	row = jv_object_set(row, jv_string("revenue"), jv_number(revenue));
	row = jv_object_set(row, jv_string("cost"), jv_number(cost));
	row = jv_object_set(row, jv_string("roi"), rate(revenue - cost, cost));
	row = jv_object_set(row, jv_string("deliveryRate"), rate(delivered, sent));
	/* seed 004's OPEN / SENT and CLICK / SENT, as kpis has them */
	row = jv_object_set(row, jv_string("openRate"), rate(opened, sent));
	row = jv_object_set(row, jv_string("clickRate"), rate(clicked, sent));
	row = jv_object_set(row, jv_string("clickToOpenRate"), rate(clicked, opened));
	row = jv_object_set(row, jv_string("conversionRate"), rate(converted, sent));
	row = jv_object_set(row, jv_string("unsubscribeRate"), rate(unsub, delivered));
	row = jv_object_set(row, jv_string("bounceRate"), rate(bounced, sent));
	return row;
}

int report_metrics_each(report_run *run, int64_t since, int64_t until, char *const *by,
			size_t nby, int (*each)(void *ctx, jv row), void *ctx)
{
	jrn_buf sql = {0};
	sqlite3_stmt *st = NULL;
	metrics_sql(&sql, by, nby);
	if (!sql.p)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	if (run->opts.verbosity >= 2) /* -vv: the statement, for the bench's sqlite3 run */
		jrn_say(0, "metrics: SQL: %s", sql.p);
	int rc = sqlite3_prepare_v2(run->db, sql.p, -1, &st, NULL);
	jrn_buf_free(&sql);
	if (rc != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "metrics: %s", sqlite3_errmsg(run->db));
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	sqlite3_bind_int64(st, 3, run->lookback_ms);
	int status = JRN_EXIT_OK;
	while (status == JRN_EXIT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		status = each(ctx, metrics_row(st, by, nby));
	if (status == JRN_EXIT_OK && rc != SQLITE_DONE)
		status = jrn_say(JRN_EXIT_FAIL, "metrics: %s", sqlite3_errmsg(run->db));
	sqlite3_finalize(st);
	return status;
}

/* Writes one row; with --save also keeps it for insights (ctx: the jv
 * array, or NULL). */
typedef struct {
	report_run *run;
	jv kept;
} emit_ctx;

static int emit(void *ctx, jv row)
{
	emit_ctx *x = ctx;
	if (x->run->save)
		x->kept = jv_array_append(x->kept, jv_copy(row));
	return report_row(x->run, row) < 0 ? JRN_EXIT_FAIL : JRN_EXIT_OK;
}

int report_metrics(report_run *run)
{
	int status;
	if (run->nby == 1 && !strcmp(run->by[0], "all"))
		report_window_free(run); /* --by all: one row for the whole window */
	else if ((status = report_by_check(run, fields, "campaign,channel")) != 0)
		return status;
	if ((status = report_duration(run, run->lookback_flag, "--lookback",
				      "report.metrics.lookback", 7 * DAY_MS, &run->lookback_ms)) != 0)
		return status;
	jv names = jv_array();
	for (size_t i = 0; i < run->nby; i++)
		names = jv_array_append(names, jv_string(run->by[i]));
	for (size_t i = 0; i < NCOUNTS; i++)
		names = jv_array_append(names, jv_string(counts[i]));
	static const char *const tail[] = {"revenue", "cost", "roi", "deliveryRate", "openRate",
					   "clickRate", "clickToOpenRate", "conversionRate",
					   "unsubscribeRate", "bounceRate"};
	for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
		names = jv_array_append(names, jv_string(tail[i]));
	report_header(run, names);
	emit_ctx x = {run, jv_array()};
	status = report_metrics_each(run, run->since_ms, run->until_ms, run->by, run->nby, emit, &x);
	if (status == JRN_EXIT_OK && run->save)
		return report_save_insights(run, x.kept) < 0 ? JRN_EXIT_FAIL : JRN_EXIT_OK;
	jv_free(x.kept);
	return status;
}
