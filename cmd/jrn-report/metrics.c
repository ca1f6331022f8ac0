/* metrics.c: jrn-report metrics — per group of sends (--by, default
 * campaign,channel): sends by outcome, engagement, conversions, revenue,
 * cost, ROI and rates. SQLite streams the rows of each part (sends,
 * engagement by delivery key merged with the deliveries in key order,
 * conversions) and C adds them into a hash table of the groups, sorted
 * at the end as ORDER BY would: memory is bounded by the number of
 * groups, not of events (issue 15). -vv also prints the whole report as
 * one statement (metrics_sql; the bench runs it in the sqlite3 shell).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

/* The fields --by takes and the SQL of each over a deliveries row w. */
static const char *const fields[] = {"campaign", "channel", "variant", "day", "hour",
				     "journey", "provider", NULL};
/* What --by takes (said when it is something else): the fields, or all
 * alone (one row for the whole window). */
static const char *const by_names[] = {"campaign", "channel", "variant", "day", "hour",
				       "journey", "provider", "all", NULL};
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

/* The statements the report runs (each row: the groups' columns first,
 * then the part's own): SQLite steps them and C adds the rows into the
 * groups, so that memory is bounded by the number of groups, not the
 * number of events or deliveries (issue 15; the GROUP BY of metrics_sql
 * sorted every row in temporary B-trees). */

/* Part 1, the sends: every delivery of the window, in rowid order (the
 * order of part 3's credits). */
static const char sends_rows_sql[] =
	"SELECT %s w.status, w.cost, w.seq, w.claimed_at FROM deliveries w"
	" WHERE w.claimed_at >= ?1 AND w.claimed_at < ?2 ORDER BY w.seq";

/* Part 2, the engagement: the window's engagement events by
 * deliveryKey, in the order of the index events_delivery (covering the
 * key, type and ts; the expression is written as in the index, or SQLite
 * does not use it), so that one key's events are consecutive. */
static const char engaged_rows_sql[] =
	"SELECT json_extract(body, '$.properties.deliveryKey'), type"
	" FROM events INDEXED BY events_delivery"
	" WHERE type IN ('email.delivered', 'sms.delivered', 'email.opened', 'email.clicked',"
	"  'consent.revoked', 'email.bounced', 'sms.failed') AND ts >= ?1 AND ts < ?2"
	"  AND instr(body, '\"deliveryKey\"') > 0"
	"  AND json_extract(body, '$.properties.deliveryKey') IS NOT NULL"
	" ORDER BY json_extract(body, '$.properties.deliveryKey')";

/* ... merged with the window's deliveries in key order (the unique index
 * on key: both are in BINARY order, so one pass over each). */
static const char keyed_rows_sql[] =
	"SELECT %s w.key FROM deliveries w WHERE w.claimed_at >= ?1 AND w.claimed_at < ?2"
	" ORDER BY w.key";

/* ... or, for a deliveryKey that is not text (a JSON number), looked up
 * (w.key's TEXT affinity converts it, as the join of metrics_sql did). */
static const char key_lookup_sql[] =
	"SELECT %s w.key FROM deliveries w WHERE w.key = ?3"
	" AND w.claimed_at >= ?1 AND w.claimed_at < ?2";

/* Part 3, the conversions: each order of the window with the seq of its
 * customer's last send at or before it (deliveries_sent alone: the orders
 * in customer order walk it in order), sorted by that seq, so that the
 * sends' pass (rowid order) meets them in step and no deliveries row is
 * read at random. ?3 is unused here (the lookback is checked in C
 * against the send's claimed_at). How SQLite runs it matters (measured
 * at 10M events, 300k orders; EXPLAIN QUERY PLAN):
 *   o  a co-routine sorted by SQLite's sorter: a LIMIT on it (to keep
 *      its ORDER BY) made SQLite sort in a temporary B-tree of 4 KiB
 *      pages inserted at random, 209k page writes and reads (2.2 s of
 *      CPU where the sorter takes 0.1); materialized, one more page
 *      cache (2 MB of RSS).
 *   m  materialized (appended in order, read once): o's ORDER BY is kept
 *      only under a query with no ORDER BY and one FROM term, and m not
 *      materialized is flattened into the last SELECT, which drops it
 *      and looks the sends up in time order, at random. */
static const char credits_sql[] =
	"WITH o AS NOT MATERIALIZED (SELECT customer_id, ts, amount"
	"  FROM events INDEXED BY events_orders"
	"  WHERE type = 'order.completed' AND ts >= ?1 AND ts < ?2 ORDER BY customer_id, ts),"
	" m AS MATERIALIZED (SELECT (SELECT d.seq FROM deliveries d INDEXED BY deliveries_sent"
	"   WHERE d.customer_id = o.customer_id AND d.claimed_at <= o.ts"
	"    AND d.status IN ('sent', 'queued', 'simulated')"
	"   ORDER BY d.claimed_at DESC, d.seq DESC LIMIT 1) AS seq, o.ts, o.amount FROM o)"
	" SELECT seq, ts, amount FROM m ORDER BY 1, 2%s";

/* One group: its values (owned, sqlite3_value_dup) and its sums. */
/* A sum of money that does not depend on the order of its terms (one
 * state file or the same rows split over several must give the same
 * figure): each amount in millionths of the unit, added exactly as an
 * integer. An amount that is not a whole number of millionths is rounded
 * to one; a sum past int64 (9.2e12 units) or a term past 2^53 millionths
 * is added as a double instead (inexact). */
typedef struct {
	int64_t micros;
	double rest;
} money;

static void money_add(money *m, double amount)
{
	double x = amount * 1e6;
	int64_t v;
	if (x > -9007199254740992.0 && x < 9007199254740992.0 &&
	    !__builtin_add_overflow(m->micros, (int64_t)llround(x), &v))
		m->micros = v;
	else
		m->rest += amount;
}

static double money_value(const money *m)
{
	return (double)m->micros / 1e6 + m->rest;
}

/* jrn_money(X): total(X) as money_add sums it (exact to a millionth,
 * whatever the order of the rows); NULLs are left out, no row is 0.0. */
static void money_step(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	(void)argc;
	money *m = sqlite3_aggregate_context(cx, sizeof *m);
	if (!m) {
		sqlite3_result_error_nomem(cx);
		return;
	}
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
		money_add(m, sqlite3_value_double(argv[0]));
}

static void money_final(sqlite3_context *cx)
{
	money *m = sqlite3_aggregate_context(cx, 0);
	sqlite3_result_double(cx, m ? money_value(m) : 0.0);
}

int report_money_register(sqlite3 *db)
{
	return sqlite3_create_function(db, "jrn_money", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				       NULL, money_step, money_final) == SQLITE_OK ? 0 : -1;
}

typedef struct {
	sqlite3_value **key;
	int64_t n, c[NCOUNTS];
	money revenue, cost;
} group;

/* A group's value as JSON: text as a string, numbers as numbers, NULL
 * as null. */
static jv value_jv(sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER: return jv_number((double)sqlite3_value_int64(v));
	case SQLITE_FLOAT: return jv_number(sqlite3_value_double(v));
	case SQLITE_NULL: return jv_null();
	default: return jv_string_sized((const char *)sqlite3_value_text(v),
					sqlite3_value_bytes(v));
	}
}

/* The row of a group (by[0..nby) first). */
static jv group_row(const group *gr, char *const *by, size_t nby)
{
	jv row = jv_object();
	double c[NCOUNTS];
	for (size_t i = 0; i < nby; i++)
		row = jv_object_set(row, jv_string(by[i]), value_jv(gr->key[i]));
	for (int i = 0; i < NCOUNTS; i++) {
		c[i] = (double)gr->c[i];
		row = jv_object_set(row, jv_string(counts[i]), jv_number(c[i]));
	}
	double revenue = money_value(&gr->revenue), cost = money_value(&gr->cost);
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

/* The groups, in a table hashed on their values. */
typedef struct {
	size_t nby;
	group *g;
	size_t ng, capg;
	size_t *slot; /* index + 1 into g, 0 empty */
	size_t nslot; /* a power of two */
} groups;

/* A column's class in SQLite's sort order: NULL, number, text, blob. */
static int value_class(sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_NULL: return 0;
	case SQLITE_INTEGER:
	case SQLITE_FLOAT: return 1;
	case SQLITE_TEXT: return 2;
	default: return 3;
	}
}

/* Compares two values as SQLite's ORDER BY and GROUP BY do (BINARY
 * collation; lang_select.html, "The ORDER BY clause"): <0, 0 or >0. */
static int value_cmp(sqlite3_value *a, sqlite3_value *b)
{
	int ca = value_class(a), cb = value_class(b);
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (ca == 0)
		return 0;
	if (ca == 1) {
		if (sqlite3_value_type(a) == SQLITE_INTEGER && sqlite3_value_type(b) == SQLITE_INTEGER) {
			sqlite3_int64 x = sqlite3_value_int64(a), y = sqlite3_value_int64(b);
			return x < y ? -1 : x > y;
		}
		double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
		return x < y ? -1 : x > y;
	}
	const void *pa = ca == 2 ? (const void *)sqlite3_value_text(a) : sqlite3_value_blob(a);
	const void *pb = ca == 2 ? (const void *)sqlite3_value_text(b) : sqlite3_value_blob(b);
	int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
	int r = memcmp(pa, pb, (size_t)(na < nb ? na : nb));
	return r ? r : na < nb ? -1 : na > nb;
}


/* h extended by v (numbers equal as value_cmp has them hash alike: a
 * whole double as the integer). */
static uint64_t value_hash(uint64_t h, sqlite3_value *v)
{
	int c = value_class(v);
	uint64_t x = (uint64_t)c;
	if (c == 1) {
		double d = sqlite3_value_double(v);
		sqlite3_int64 i = sqlite3_value_type(v) == SQLITE_INTEGER ? sqlite3_value_int64(v)
				  : d >= -9.2e18 && d <= 9.2e18 && d == (double)(sqlite3_int64)d
					  ? (sqlite3_int64)d
					  : 0;
		x = jrn_hash64(&i, sizeof i);
	} else if (c >= 2) {
		const void *p = c == 2 ? (const void *)sqlite3_value_text(v) : sqlite3_value_blob(v);
		x = jrn_hash64(p, (size_t)sqlite3_value_bytes(v)) + (uint64_t)c;
	}
	/* combined as boost's hash_combine does */
	return h ^ (x + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2));
}

/* The hash of columns 0..nby of st's row. */
static uint64_t row_hash(sqlite3_stmt *st, size_t nby)
{
	uint64_t h = 0;
	for (size_t i = 0; i < nby; i++)
		h = value_hash(h, sqlite3_column_value(st, (int)i));
	return h;
}

/* The group of st's current row (columns 0..nby), made when new; NULL
 * when out of memory. */
static group *group_of(groups *gs, sqlite3_stmt *st)
{
	if (gs->ng * 2 >= gs->nslot) { /* grow the slots (and rehash) */
		size_t n = gs->nslot ? gs->nslot * 2 : 64;
		size_t *slot = calloc(n, sizeof *slot);
		if (!slot)
			return NULL;
		free(gs->slot);
		gs->slot = slot, gs->nslot = n;
		for (size_t i = 0; i < gs->ng; i++) {
			uint64_t h = 0;
			for (size_t k = 0; k < gs->nby; k++)
				h = value_hash(h, gs->g[i].key[k]);
			size_t j = (size_t)h & (n - 1);
			while (slot[j])
				j = (j + 1) & (n - 1);
			slot[j] = i + 1;
		}
	}
	size_t j = (size_t)row_hash(st, gs->nby) & (gs->nslot - 1);
	for (; gs->slot[j]; j = (j + 1) & (gs->nslot - 1)) {
		group *g = &gs->g[gs->slot[j] - 1];
		size_t k = 0;
		while (k < gs->nby && value_cmp(g->key[k], sqlite3_column_value(st, (int)k)) == 0)
			k++;
		if (k == gs->nby)
			return g;
	}
	if (gs->ng == gs->capg) {
		size_t n = gs->capg ? gs->capg * 2 : 16;
		group *g = realloc(gs->g, n * sizeof *g);
		if (!g)
			return NULL;
		gs->g = g, gs->capg = n;
	}
	group *g = &gs->g[gs->ng];
	memset(g, 0, sizeof *g);
	if (gs->nby && !(g->key = calloc(gs->nby, sizeof *g->key)))
		return NULL;
	for (size_t k = 0; k < gs->nby; k++)
		if (!(g->key[k] = sqlite3_value_dup(sqlite3_column_value(st, (int)k)))) {
			while (k--)
				sqlite3_value_free(g->key[k]);
			free(g->key);
			return NULL;
		}
	gs->slot[j] = ++gs->ng;
	return g;
}

static void groups_free(groups *gs)
{
	for (size_t i = 0; i < gs->ng; i++) {
		for (size_t k = 0; k < gs->nby; k++)
			sqlite3_value_free(gs->g[i].key[k]);
		free(gs->g[i].key);
	}
	free(gs->g);
	free(gs->slot);
}

static size_t sort_nby; /* for group_cmp (qsort has no context) */

static int group_cmp(const void *a, const void *b)
{
	const group *x = a, *y = b;
	for (size_t k = 0; k < sort_nby; k++) {
		int r = value_cmp(x->key[k], y->key[k]);
		if (r)
			return r;
	}
	return 0;
}

/* Prepares fmt with the groups' columns gsel in its %s (said on -vv);
 * NULL when it fails (said). */
static sqlite3_stmt *prepare_part(report_run *run, const char *pre, const char *fmt,
				  const char *gsel)
{
	jrn_buf b = {0};
	sqlite3_stmt *st = NULL;
	if (pre)
		jrn_buf_adds(&b, pre);
	jrn_buf_addf(&b, fmt, gsel);
	if (!b.p) {
		jrn_say(JRN_EXIT_FAIL, "out of memory");
		return NULL;
	}
	if (run->opts.verbosity >= 2)
		jrn_say(0, "metrics: statement: %s", b.p);
	if (sqlite3_prepare_v2(run->db, b.p, -1, &st, NULL) != SQLITE_OK) {
		jrn_say(JRN_EXIT_FAIL, "metrics: %s", sqlite3_errmsg(run->db));
		st = NULL;
	}
	jrn_buf_free(&b);
	return st;
}

/* Adds the engagement flags of one delivery key (bits: 1 delivered, 2
 * opened, 4 clicked, 8 unsubscribed, 16 bounced) to the group of the
 * row of `at` (a deliveries row matched). NULL group: out of memory. */
static int add_engaged(groups *gs, sqlite3_stmt *at, unsigned flags)
{
	group *g = group_of(gs, at);
	if (!g)
		return -1;
	g->c[1] += (flags & 1) != 0; /* delivered */
	g->c[5] += (flags & 2) != 0; /* opened */
	g->c[6] += (flags & 4) != 0; /* clicked */
	g->c[7] += (flags & 8) != 0; /* unsubscribed */
	g->c[8] += (flags & 16) != 0; /* bounced */
	return 0;
}

/* The flags of an engagement event type (see add_engaged). */
static unsigned type_flags(const char *t)
{
	if (!t)
		return 0;
	if (!strcmp(t, "email.delivered") || !strcmp(t, "sms.delivered"))
		return 1;
	if (!strcmp(t, "email.opened"))
		return 1 | 2;
	if (!strcmp(t, "email.clicked"))
		return 1 | 4;
	if (!strcmp(t, "consent.revoked"))
		return 8;
	if (!strcmp(t, "email.bounced") || !strcmp(t, "sms.failed"))
		return 16;
	return 0;
}

/* The engagement part: the distinct delivery keys of the engagement
 * events (ev, in key order) merged with the window's deliveries (dl, in
 * key order), or looked up (lk) for a key that is not text. 0 or -1
 * (SQLite's error, or out of memory: said). */
static int engaged_part(report_run *run, groups *gs, sqlite3_stmt *ev, sqlite3_stmt *dl,
			sqlite3_stmt *lk)
{
	int rc = sqlite3_step(ev), drc = sqlite3_step(dl);
	int kc = (int)gs->nby; /* dl's and lk's key column */
	while (rc == SQLITE_ROW) {
		sqlite3_value *dk = sqlite3_value_dup(sqlite3_column_value(ev, 0));
		if (!dk)
			return jrn_say(JRN_EXIT_FAIL, "out of memory"), -1;
		unsigned flags = 0;
		do
			flags |= type_flags((const char *)sqlite3_column_text(ev, 1));
		while ((rc = sqlite3_step(ev)) == SQLITE_ROW &&
		       value_cmp(dk, sqlite3_column_value(ev, 0)) == 0);
		int bad = 0;
		if (sqlite3_value_type(dk) == SQLITE_TEXT) {
			const char *k = (const char *)sqlite3_value_text(dk);
			size_t n = (size_t)sqlite3_value_bytes(dk);
			int c = 1;
			while (drc == SQLITE_ROW) {
				const char *w = (const char *)sqlite3_column_text(dl, kc);
				size_t m = (size_t)sqlite3_column_bytes(dl, kc);
				c = memcmp(w, k, m < n ? m : n);
				if (!c)
					c = m < n ? -1 : m > n;
				if (c >= 0)
					break;
				drc = sqlite3_step(dl);
			}
			if (drc == SQLITE_ROW && c == 0)
				bad = add_engaged(gs, dl, flags);
		} else {
			sqlite3_reset(lk);
			sqlite3_bind_value(lk, 3, dk);
			int lrc = sqlite3_step(lk);
			if (lrc == SQLITE_ROW)
				bad = add_engaged(gs, lk, flags);
			else if (lrc != SQLITE_DONE)
				rc = lrc;
		}
		sqlite3_value_free(dk);
		if (bad)
			return jrn_say(JRN_EXIT_FAIL, "out of memory"), -1;
	}
	if (rc != SQLITE_DONE || (drc != SQLITE_ROW && drc != SQLITE_DONE))
		return jrn_say(JRN_EXIT_FAIL, "metrics: %s", sqlite3_errmsg(run->db)), -1;
	return 0;
}

/* The first step of st (the one that sorts the orders and the credits)
 * with a page cache of 512 KiB: SQLite's sorters keep up to the main
 * database's cache size in memory before they spill to temporary files,
 * and keep that buffer until the statement ends (vdbesort.c,
 * vdbeSorterInit; their floor is SQLITE_CONFIG_PMASZ pages, lowered in
 * main.c), so the 16 MiB of the read-only connection made the peak RSS
 * grow with the orders. The cache size is put back after. SQLite's
 * result code of the step. */
static int first_step_small(sqlite3 *db, sqlite3_stmt *st)
{
	sqlite3_stmt *q = NULL;
	int size = 0, have = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA cache_size", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		size = sqlite3_column_int(q, 0), have = 1;
	sqlite3_finalize(q);
	if (have)
		jrn_db_exec(db, "PRAGMA cache_size = -512", NULL);
	int rc = sqlite3_step(st);
	if (have) {
		char put[64];
		snprintf(put, sizeof put, "PRAGMA cache_size = %d", size);
		jrn_db_exec(db, put, NULL);
	}
	return rc;
}

int report_metrics_each(report_run *run, int64_t since, int64_t until, char *const *by,
			size_t nby, int (*each)(void *ctx, jv row), void *ctx)
{
	int status = JRN_EXIT_OK;
	groups gs = {.nby = nby};
	sqlite3_stmt *st[5] = {0}; /* sends, events, keyed, lookup, conversions */
	jrn_buf gsel = {0};
	for (size_t i = 0; i < nby; i++)
		jrn_buf_addf(&gsel, "%s AS g%zu, ", field_sql[field_at(by[i])], i);
	if (run->opts.verbosity >= 2) { /* -vv: the report as one statement, for the bench's sqlite3 run */
		jrn_buf sql = {0};
		metrics_sql(&sql, by, nby);
		if (sql.p)
			jrn_say(0, "metrics: SQL: %s", sql.p);
		jrn_buf_free(&sql);
	}
	const char *g = gsel.p ? gsel.p : "";
	if (nby && !gsel.p)
		status = jrn_say(JRN_EXIT_FAIL, "out of memory");
	else if (!(st[0] = prepare_part(run, NULL, sends_rows_sql, g)) ||
		 !(st[1] = prepare_part(run, NULL, engaged_rows_sql, g)) ||
		 !(st[2] = prepare_part(run, NULL, keyed_rows_sql, g)) ||
		 !(st[3] = prepare_part(run, NULL, key_lookup_sql, g)) ||
		 !(st[4] = prepare_part(run, NULL, credits_sql, "")))
		status = JRN_EXIT_FAIL;
	jrn_buf_free(&gsel);
	for (int i = 0; status == JRN_EXIT_OK && i < 5; i++) {
		sqlite3_bind_int64(st[i], 1, since);
		sqlite3_bind_int64(st[i], 2, until);
	}
	int rc = SQLITE_DONE, crc = SQLITE_DONE;
	if (status == JRN_EXIT_OK)
		crc = first_step_small(run->db, st[4]);
	/* the sends, and the conversions credited to them */
	while (status == JRN_EXIT_OK && (rc = sqlite3_step(st[0])) == SQLITE_ROW) {
		group *gr = group_of(&gs, st[0]);
		if (!gr) {
			status = jrn_say(JRN_EXIT_FAIL, "out of memory");
			break;
		}
		const char *s = (const char *)sqlite3_column_text(st[0], (int)nby);
		gr->n++;
		if (s && (!strcmp(s, "sent") || !strcmp(s, "queued") || !strcmp(s, "simulated")))
			gr->c[0]++;
		else if (s && !strcmp(s, "failed"))
			gr->c[2]++;
		else if (s && !strcmp(s, "suppressed"))
			gr->c[3]++;
		else if (s && !strcmp(s, "rejected"))
			gr->c[4]++;
		if (sqlite3_column_type(st[0], (int)nby + 1) != SQLITE_NULL)
			money_add(&gr->cost, sqlite3_column_double(st[0], (int)nby + 1));
		/* the orders credited to this send: at most the lookback after it */
		int64_t seq = sqlite3_column_int64(st[0], (int)nby + 2);
		int64_t at = sqlite3_column_int64(st[0], (int)nby + 3);
		while (crc == SQLITE_ROW && sqlite3_column_int64(st[4], 0) < seq)
			crc = sqlite3_step(st[4]);
		int counted = 0;
		for (; crc == SQLITE_ROW && sqlite3_column_int64(st[4], 0) == seq;
		     crc = sqlite3_step(st[4])) {
			if (sqlite3_column_int64(st[4], 1) - at > run->lookback_ms)
				continue;
			if (!counted++)
				gr->c[9]++;
			if (sqlite3_column_type(st[4], 2) != SQLITE_NULL)
				money_add(&gr->revenue, sqlite3_column_double(st[4], 2));
		}
	}
	if (status == JRN_EXIT_OK && crc != SQLITE_ROW && crc != SQLITE_DONE)
		status = jrn_say(JRN_EXIT_FAIL, "metrics: %s", sqlite3_errmsg(run->db));
	if (status == JRN_EXIT_OK && rc != SQLITE_DONE)
		status = jrn_say(JRN_EXIT_FAIL, "metrics: %s", sqlite3_errmsg(run->db));
	/* the engagement */
	if (status == JRN_EXIT_OK && engaged_part(run, &gs, st[1], st[2], st[3]) < 0)
		status = JRN_EXIT_FAIL;
	for (int i = 0; i < 5; i++)
		sqlite3_finalize(st[i]);
	/* the groups in the order of their values, those with sends */
	sort_nby = nby;
	if (status == JRN_EXIT_OK && gs.ng > 1)
		qsort(gs.g, gs.ng, sizeof *gs.g, group_cmp);
	for (size_t i = 0; status == JRN_EXIT_OK && i < gs.ng; i++)
		if (gs.g[i].n > 0)
			status = each(ctx, group_row(&gs.g[i], by, nby));
	groups_free(&gs);
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

int report_metrics_check(report_run *run)
{
	int status;
	if (run->nby == 1 && !strcmp(run->by[0], "all"))
		report_window_free(run); /* --by all: one row for the whole window */
	else if ((status = report_by_check(run, by_names, "campaign,channel")) != 0)
		return status;
	return report_duration(run, run->lookback_flag, "--lookback", "report.metrics.lookback",
			       7 * DAY_MS, &run->lookback_ms);
}

int report_metrics(report_run *run)
{
	int status = report_metrics_check(run); /* its set-up */
	if (status)
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
