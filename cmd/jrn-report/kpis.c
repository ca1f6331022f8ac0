/* kpis.c: jrn-report kpis — seeds/004's KPI table (§8, §15, H.3) against
 * its targets (jrn-report(1), KPIS).
 *
 * One row per KPI, in this order: kpi, value, target, met, numerator,
 * denominator (and for the uplift the baseline's). The window is [since,
 * until); a "send" is a deliveries row whose status is sent, queued or
 * simulated (jrn-report.h). Every figure is one SQL statement of
 * aggregates: memory does not grow with the data. A window where every
 * denominator is 0 has no rows (the empty-window rule of every kind).
 * A value meets its target when it is more than it (the seed prints
 * "> 12%"), or for campaignRoi at least it (H.3: "minimum ROI threshold
 * = 10:1"); report.kpis.targets replaces targets (null: none).
 *
 *   cartRecoveryRate  abandoned carts followed by an order.completed of the
 *       same customer after the abandonment and at most recoveryWithin (7d:
 *       the abandoned-cart journey's goal) after it / abandoned carts. An
 *       abandoned cart: a cart.abandoned event in the window, or an
 *       enrollment of cartJourney (abandoned-cart) that entered in the
 *       window and took an action step (its cart stayed idle long enough
 *       for the first reminder), unless its trigger was such an event.
 *   churnWinbackRate  recipients of winbackCampaign (churn-winback) with an
 *       order.completed at most winbackWithin (14d, seeds/004 §8) after
 *       their first send in the window / those recipients.
 *   openRate, clickRate  e-mail sends in the window with an email.opened
 *       (email.clicked) event / e-mail sends in the window. An event names
 *       its send by properties.deliveryKey; one without it counts for the
 *       sends of properties.campaignId to its customer.
 *   segmentConversionUplift  the conversion rate of the customers sent to
 *       in the window minus that of the customers held out (route_decisions
 *       suppressed with reason holdout in the window; a held-out customer
 *       is not counted among the sent): converted = an order.completed at
 *       most horizon (14d) after the first send (hold-out) in the window.
 *   campaignRoi  revenue / cost (seeds/004 H.6: "Revenue generated / Cost
 *       spent"): the amounts of the order.completed events in the window
 *       whose customer had a send at most horizon before the order / the
 *       cost of the sends in the window.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

#define SENT "status IN ('sent', 'queued', 'simulated')"
#define ORDERED(c, t, within)                                                     \
	"EXISTS (SELECT 1 FROM events o WHERE o.type = 'order.completed'"          \
	" AND o.customer_id = " c " AND o.ts > " t " AND o.ts <= " t " + " within ")"

/* ?1 since, ?2 until, ?3 journey, ?4 recoveryWithin */
static const char cart_sql[] =
	"WITH ab AS (SELECT customer_id AS c, ts AS t FROM events"
	" WHERE type = 'cart.abandoned' AND ts >= ?1 AND ts < ?2"
	" UNION ALL SELECT n.customer_id, n.entered_at FROM enrollments n"
	" WHERE n.journey = ?3 AND n.entered_at >= ?1 AND n.entered_at < ?2"
	" AND EXISTS (SELECT 1 FROM enrollment_log l WHERE l.enrollment = n.id AND l.what = 'action')"
	" AND NOT EXISTS (SELECT 1 FROM events x WHERE x.id = n.trigger_key"
	"  AND x.type = 'cart.abandoned' AND x.ts >= ?1 AND x.ts < ?2))"
	" SELECT total(" ORDERED("ab.c", "ab.t", "?4") "), count(*) FROM ab";

/* ?1 since, ?2 until, ?3 campaign, ?4 winbackWithin */
static const char winback_sql[] =
	"WITH r AS (SELECT customer_id AS c, min(claimed_at) AS t FROM deliveries"
	" WHERE campaign_id = ?3 AND " SENT " AND claimed_at >= ?1 AND claimed_at < ?2"
	" AND customer_id IS NOT NULL GROUP BY customer_id)"
	" SELECT total(" ORDERED("r.c", "r.t", "?4") "), count(*) FROM r";

/* ?1 since, ?2 until, ?3 the event type */
static const char engaged_sql[] =
	"WITH s AS (SELECT key, customer_id, campaign_id FROM deliveries"
	" WHERE channel = 'email' AND " SENT " AND claimed_at >= ?1 AND claimed_at < ?2),"
	" k AS (SELECT DISTINCT body ->> '$.properties.deliveryKey' AS key FROM events"
	"  WHERE type = ?3 AND body ->> '$.properties.deliveryKey' IS NOT NULL)"
	" SELECT total(s.key IN (SELECT key FROM k) OR EXISTS (SELECT 1 FROM events e"
	"  WHERE e.type = ?3 AND e.customer_id = s.customer_id"
	"  AND e.body ->> '$.properties.deliveryKey' IS NULL"
	"  AND e.body ->> '$.properties.campaignId' = s.campaign_id)), count(*) FROM s";

/* ?1 since, ?2 until, ?3 horizon */
static const char uplift_sql[] =
	"WITH h AS (SELECT customer_id AS c, min(decided_at) AS t FROM route_decisions"
	" WHERE decision = 'suppress' AND reason = 'holdout' AND decided_at >= ?1 AND decided_at < ?2"
	" GROUP BY customer_id),"
	" s AS (SELECT customer_id AS c, min(claimed_at) AS t FROM deliveries"
	" WHERE " SENT " AND claimed_at >= ?1 AND claimed_at < ?2 AND customer_id IS NOT NULL"
	" AND customer_id NOT IN (SELECT c FROM h) GROUP BY customer_id)"
	" SELECT (SELECT total(" ORDERED("s.c", "s.t", "?3") ") FROM s), (SELECT count(*) FROM s),"
	" (SELECT total(" ORDERED("h.c", "h.t", "?3") ") FROM h), (SELECT count(*) FROM h)";

/* ?1 since, ?2 until, ?3 horizon */
static const char roi_sql[] =
	"SELECT (SELECT jrn_money(o.amount) FROM events o WHERE o.type = 'order.completed'"
	"  AND o.ts >= ?1 AND o.ts < ?2 AND EXISTS (SELECT 1 FROM deliveries d"
	"  WHERE d.customer_id = o.customer_id AND d." SENT
	"  AND d.claimed_at <= o.ts AND d.claimed_at >= o.ts - ?3)),"
	" (SELECT jrn_money(cost) FROM deliveries WHERE " SENT " AND claimed_at >= ?1 AND claimed_at < ?2)";

enum { K_CART, K_WINBACK, K_OPEN, K_CLICK, K_UPLIFT, K_ROI, NKPIS };

/* The KPIs, their seeds/004 targets, and whether reaching the target is
 * enough ("minimum", >=) or it must be passed (">", as the seed prints). */
static const struct {
	const char *name;
	double target;     /* NAN: the seed gives none */
	bool at_least;
} kpis[NKPIS] = {
	[K_CART] = {"cartRecoveryRate", 0.12, false},       /* §15: > 12% recovered */
	[K_WINBACK] = {"churnWinbackRate", 0.08, false},    /* §15: > 8% reactivated */
	[K_OPEN] = {"openRate", 0.30, false},               /* §15: > 30% */
	[K_CLICK] = {"clickRate", 0.06, false},             /* §15: > 6% */
	[K_UPLIFT] = {"segmentConversionUplift", NAN, false}, /* §8: no target */
	[K_ROI] = {"campaignRoi", 10, true},                /* H.3: minimum 10:1 */
};

typedef struct {
	double target[NKPIS];     /* NAN: none */
	char *cart_journey, *winback_campaign;
	int64_t recovery_within, winback_within, horizon;
} kpi_conf;

/* report.kpis.targets: each key a KPI's name, each value a number or null
 * (no target). 0, or an exit status having said why. */
static int read_targets(report_run *run, kpi_conf *K)
{
	for (int i = 0; i < NKPIS; i++)
		K->target[i] = kpis[i].target;
	jv t = jrn_config_get(run->opts.config, "report.kpis.targets");
	if (!jv_is_valid(t) && jv_invalid_has_msg(jv_copy(t))) {
		jv msg = jv_invalid_get_msg(t);
		int rc = jrn_say(JRN_EXIT_FAIL, "kpis: %s", jv_string_value(msg));
		jv_free(msg);
		return rc;
	}
	if (jv_get_kind(t) != JV_KIND_OBJECT) {
		jv_free(t);
		return 0;
	}
	int status = 0;
	jv_object_foreach(t, key, val) {
		int i = 0;
		while (i < NKPIS && strcmp(kpis[i].name, jv_string_value(key)))
			i++;
		jv_kind k = jv_get_kind(val);
		if (status) {
		} else if (i == NKPIS) {
			status = jrn_say(JRN_EXIT_FAIL,
					 "kpis: report.kpis.targets.%s: not a KPI (cartRecoveryRate, "
					 "churnWinbackRate, openRate, clickRate, segmentConversionUplift, "
					 "campaignRoi)", jv_string_value(key));
		} else if (k == JV_KIND_NULL) {
			K->target[i] = NAN;
		} else if (k == JV_KIND_NUMBER) {
			K->target[i] = jv_number_value(val);
		} else {
			status = jrn_say(JRN_EXIT_FAIL, "kpis: report.kpis.targets.%s: not a number",
					 jv_string_value(key));
		}
		jv_free(key);
		jv_free(val);
	}
	jv_free(t);
	return status;
}

static int read_string(report_run *run, const char *key, const char *dflt, char **out)
{
	jrn_err e;
	if (jrn_config_string(run->opts.config, key, out, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "kpis: %s: %s", key, e.msg);
	if (!*out && !(*out = strdup(dflt)))
		return jrn_say(JRN_EXIT_FAIL, "kpis: out of memory");
	return 0;
}

static int read_conf(report_run *run, kpi_conf *K)
{
	int status = read_targets(run, K);
	if (!status)
		status = read_string(run, "report.kpis.cartJourney", "abandoned-cart", &K->cart_journey);
	if (!status)
		status = read_string(run, "report.kpis.winbackCampaign", "churn-winback",
				     &K->winback_campaign);
	if (!status)
		status = report_duration(run, NULL, NULL, "report.kpis.recoveryWithin", 7 * DAY_MS,
					 &K->recovery_within);
	if (!status)
		status = report_duration(run, NULL, NULL, "report.kpis.winbackWithin", 14 * DAY_MS,
					 &K->winback_within);
	if (!status)
		status = report_duration(run, NULL, NULL, "report.kpis.horizon", 14 * DAY_MS, &K->horizon);
	return status;
}

/* Runs sql with the window as ?1 ?2 and then a text (NULL: none) and up to
 * one integer (< 0: none) bound in turn; its one row's columns go to
 * out[0..n). 0, or an exit status having said why. */
static int query(report_run *run, const char *sql, const char *text, int64_t num, double *out,
		 int n)
{
	sqlite3_stmt *st;
	jrn_err e;
	if (jrn_db_prepare(run->db, sql, &st, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "kpis: %s", e.msg);
	int i = 1;
	sqlite3_bind_int64(st, i++, run->since_ms);
	sqlite3_bind_int64(st, i++, run->until_ms);
	if (text)
		sqlite3_bind_text(st, i++, text, -1, SQLITE_STATIC);
	if (num >= 0)
		sqlite3_bind_int64(st, i++, num);
	int rc = sqlite3_step(st);
	for (int k = 0; rc == SQLITE_ROW && k < n; k++)
		out[k] = sqlite3_column_double(st, k);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return jrn_say(JRN_EXIT_FAIL, "kpis: %s", sqlite3_errmsg(run->db));
	return 0;
}

static jv num_or_null(double x)
{
	return isnan(x) ? jv_null() : jv_number(x);
}

/* A KPI's row (value NAN: null), its target and whether it was met, added
 * to rows; *any is set when its denominators are not all 0. */
static void add(jv *rows, bool *any, const kpi_conf *K, int i, double value, double num, double den,
		const double *baseline)
{
	double t = K->target[i];
	jv row = jv_object();
	row = jv_object_set(row, jv_string("kpi"), jv_string(kpis[i].name));
	row = jv_object_set(row, jv_string("value"), num_or_null(value));
	row = jv_object_set(row, jv_string("target"), num_or_null(t));
	row = jv_object_set(row, jv_string("met"),
			    isnan(t) || isnan(value) ? jv_null()
						     : jv_bool(kpis[i].at_least ? value >= t : value > t));
	row = jv_object_set(row, jv_string("numerator"), jv_number(num));
	row = jv_object_set(row, jv_string("denominator"), jv_number(den));
	if (baseline) {
		row = jv_object_set(row, jv_string("baselineNumerator"), jv_number(baseline[0]));
		row = jv_object_set(row, jv_string("baselineDenominator"), jv_number(baseline[1]));
		*any |= baseline[1] != 0;
	}
	*any |= den != 0;
	*rows = jv_array_append(*rows, row);
}

static double ratio(double num, double den)
{
	return den ? num / den : NAN;
}

/* The six rows into *rows; *any says whether any had data. */
static int compute(report_run *run, const kpi_conf *K, jv *rows, bool *any)
{
	double v[4];
	int s;
	if ((s = query(run, cart_sql, K->cart_journey, K->recovery_within, v, 2)))
		return s;
	add(rows, any, K, K_CART, ratio(v[0], v[1]), v[0], v[1], NULL);
	if ((s = query(run, winback_sql, K->winback_campaign, K->winback_within, v, 2)))
		return s;
	add(rows, any, K, K_WINBACK, ratio(v[0], v[1]), v[0], v[1], NULL);
	if ((s = query(run, engaged_sql, "email.opened", -1, v, 2)))
		return s;
	add(rows, any, K, K_OPEN, ratio(v[0], v[1]), v[0], v[1], NULL);
	if ((s = query(run, engaged_sql, "email.clicked", -1, v, 2)))
		return s;
	add(rows, any, K, K_CLICK, ratio(v[0], v[1]), v[0], v[1], NULL);
	if ((s = query(run, uplift_sql, NULL, K->horizon, v, 4)))
		return s;
	add(rows, any, K, K_UPLIFT, ratio(v[0], v[1]) - ratio(v[2], v[3]), v[0], v[1], v + 2);
	if ((s = query(run, roi_sql, NULL, K->horizon, v, 2)))
		return s;
	add(rows, any, K, K_ROI, ratio(v[0], v[1]), v[0], v[1], NULL);
	return 0;
}

/* jrn-report kpis: the six KPI rows (jrn-report(1), KPIS). Returns an exit
 * status, having said why it failed. */
/* The set-up of a kpis run before it reads: --by (none) and the
 * configuration into K (its strings the caller's to free). 0, or an exit
 * status having said why. */
static int kpis_setup(report_run *run, kpi_conf *K)
{
	static const char *const none[] = {NULL};
	int status = report_by_check(run, none, NULL);
	return status ? status : read_conf(run, K);
}

int report_kpis_check(report_run *run)
{
	kpi_conf K = {0};
	int status = kpis_setup(run, &K);
	free(K.cart_journey);
	free(K.winback_campaign);
	return status;
}

int report_kpis(report_run *run)
{
	kpi_conf K = {0};
	int status = kpis_setup(run, &K);
	if (status) {
		free(K.cart_journey);
		free(K.winback_campaign);
		return status;
	}
	static const char *const cols[] = {"kpi", "value", "target", "met", "numerator", "denominator",
					   "baselineNumerator", "baselineDenominator"};
	jv names = jv_array();
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		names = jv_array_append(names, jv_string(cols[i]));
	report_header(run, names);
	/* Sorts for GROUP BY spill to temporary files past the page cache:
	 * memory stays flat however many rows are grouped. */
	jrn_db_exec(run->db, "PRAGMA temp_store = FILE", NULL);
	jv rows = jv_array();
	bool any = false;
	status = compute(run, &K, &rows, &any);
	if (!status && any) {
		jv_array_foreach(rows, i, row) {
			if (!status && report_row(run, row) < 0)
				status = JRN_EXIT_FAIL;
			else if (status)
				jv_free(row);
		}
	}
	jv_free(rows);
	free(K.cart_journey);
	free(K.winback_campaign);
	return status;
}
