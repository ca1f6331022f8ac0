/* insights.c: metrics --save, the insights table (schema 11; jrn-state(5))
 * that jrn-ai optimize reads.
 *
 * One run (kind 'metrics', computed_at = the clock) holds the rows of the
 * dimensions 'all' (group_key []), 'campaign', 'channel' and the --by
 * dimension when it is none of those (its fields joined with commas: the
 * default 'campaign,channel'). metrics is the row without its group
 * columns (counts, money, roi and rates, as written); trend is, for each
 * rate, this window's minus the previous window's (the same length, just
 * before: [since - (until - since), since)), a member null when either is
 * null; trend is NULL when that group had no sends in the previous window,
 * and for every group when the window has no start (no --since). The run
 * is written in one transaction that first deletes a run of the same
 * computed_at, so a second --save at the same --now replaces it. With
 * --dry-run everything is computed and nothing written.
 */
#include <inttypes.h>
#include <string.h>

#include "jrn-report.h"

static const char *const rates[] = {"deliveryRate", "openRate", "clickRate",
				    "clickToOpenRate", "conversionRate", "unsubscribeRate",
				    "bounceRate"};
#define NRATES (sizeof rates / sizeof *rates)

/* The group key of row: a JSON array of its by[0..nby) values (compact
 * JSON text in b). */
static void group_key(jrn_buf *b, jv row, char *const *by, size_t nby)
{
	jv key = jv_array();
	jrn_err e;
	for (size_t i = 0; i < nby; i++)
		key = jv_array_append(key, jv_object_get(jv_copy(row), jv_string(by[i])));
	jrn_buf_reset(b);
	if (jrn_json_append(b, key, 0, &e) < 0)
		jrn_buf_adds(b, "[]");
}

/* Collects rows into an object {group key: row} (ctx). */
typedef struct {
	jv map;
	char *const *by;
	size_t nby;
	jrn_buf key;
} collect_ctx;

static int collect(void *ctx, jv row)
{
	collect_ctx *c = ctx;
	group_key(&c->key, row, c->by, c->nby);
	c->map = jv_object_set(c->map, jv_string(c->key.p), row);
	return JRN_EXIT_OK;
}

/* The trend of row against prev (borrowed; invalid: none): an object of
 * each rate's change, or null when prev had no sends. */
static jv trend_of(jv row, jv prev)
{
	if (!jv_is_valid(prev))
		return jv_null();
	jv sent = jv_object_get(jv_copy(prev), jv_string("sent"));
	bool none = jv_get_kind(sent) != JV_KIND_NUMBER || jv_number_value(sent) == 0;
	jv_free(sent);
	if (none)
		return jv_null();
	jv t = jv_object();
	for (size_t i = 0; i < NRATES; i++) {
		jv a = jv_object_get(jv_copy(row), jv_string(rates[i]));
		jv b = jv_object_get(jv_copy(prev), jv_string(rates[i]));
		bool both = jv_get_kind(a) == JV_KIND_NUMBER && jv_get_kind(b) == JV_KIND_NUMBER;
		t = jv_object_set(t, jv_string(rates[i]),
				  both ? jv_number(jv_number_value(a) - jv_number_value(b)) : jv_null());
		jv_free(a);
		jv_free(b);
	}
	return t;
}

/* One dimension of the run. */
typedef struct {
	const char *name;     /* "all", "campaign", ... */
	char *const *by;
	size_t nby;
} dimension;

/* Writes (unless dry) the rows of one dimension: cur (an object {key:
 * row}, consumed) against prev (the same of the previous window, or null;
 * consumed). ins: the prepared INSERT. 0, or -1 having said why. */
static int save_dimension(report_run *run, sqlite3_stmt *ins, const dimension *d, jv cur,
			  jv prev, uint64_t *saved)
{
	jrn_buf m = {0}, t = {0};
	jrn_err e;
	int rc = 0;
	int64_t start = run->since_given ? run->since_ms : 0;
	jv_object_foreach(cur, key, row) {
		jv p = jv_get_kind(prev) == JV_KIND_OBJECT ? jv_object_get(jv_copy(prev), jv_copy(key))
							   : jv_invalid();
		jv trend = trend_of(row, p);
		jv_free(p);
		jv metrics = jv_copy(row);
		for (size_t i = 0; i < d->nby; i++)
			metrics = jv_object_delete(metrics, jv_string(d->by[i]));
		jrn_buf_reset(&m);
		jrn_buf_reset(&t);
		bool has_trend = jv_get_kind(trend) == JV_KIND_OBJECT;
		int r1 = jrn_json_append(&m, metrics, 0, &e);
		int r2 = has_trend ? jrn_json_append(&t, trend, 0, &e) : (jv_free(trend), 0);
		if (rc == 0 && (r1 < 0 || r2 < 0))
			rc = (jrn_say(JRN_EXIT_FAIL, "--save: %s", e.msg), -1);
		if (rc == 0 && ins) {
			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, run->now_ms);
			sqlite3_bind_text(ins, 2, d->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 3, jv_string_value(key), -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ins, 4, start);
			sqlite3_bind_int64(ins, 5, run->until_ms);
			sqlite3_bind_text(ins, 6, m.p, (int)m.len, SQLITE_STATIC);
			if (has_trend)
				sqlite3_bind_text(ins, 7, t.p, (int)t.len, SQLITE_STATIC);
			else
				sqlite3_bind_null(ins, 7);
			if (sqlite3_step(ins) != SQLITE_DONE)
				rc = (jrn_say(JRN_EXIT_FAIL, "--save: %s", sqlite3_errmsg(run->db)), -1);
		}
		if (rc == 0)
			(*saved)++;
		jv_free(key);
		jv_free(row);
	}
	jv_free(cur);
	jv_free(prev);
	jrn_buf_free(&m);
	jrn_buf_free(&t);
	return rc;
}

/* The rows of dimension d over [since, until) as {key: row} into *out.
 * 0, or -1 having said why. */
static int rows_of(report_run *run, const dimension *d, int64_t since, int64_t until, jv *out)
{
	collect_ctx c = {jv_object(), d->by, d->nby, {0}};
	int status = report_metrics_each(run, since, until, d->by, d->nby, collect, &c);
	jrn_buf_free(&c.key);
	if (status != JRN_EXIT_OK) {
		jv_free(c.map);
		return -1;
	}
	*out = c.map;
	return 0;
}

/* The dimensions of the run: all, campaign, channel, and --by's when it is
 * none of those (its name into byname). */
static size_t dimensions(const report_run *run, dimension d[4], jrn_buf *byname)
{
	static char *campaign[] = {"campaign"}, *channel[] = {"channel"};
	size_t n = 0;
	d[n++] = (dimension){"all", NULL, 0};
	d[n++] = (dimension){"campaign", campaign, 1};
	d[n++] = (dimension){"channel", channel, 1};
	bool same = run->nby == 0 ||
		    (run->nby == 1 && (!strcmp(run->by[0], "campaign") || !strcmp(run->by[0], "channel")));
	if (!same) {
		for (size_t i = 0; i < run->nby; i++)
			jrn_buf_addf(byname, "%s%s", i ? "," : "", run->by[i]);
		d[n++] = (dimension){byname->p, run->by, run->nby};
	}
	return n;
}

int report_save_insights(report_run *run, jv rows)
{
	dimension d[4];
	jrn_buf byname = {0};
	size_t nd = dimensions(run, d, &byname);
	bool dry = run->opts.dry_run;
	sqlite3_stmt *ins = NULL;
	jrn_err e;
	uint64_t saved = 0;
	int rc = 0;
	int64_t len = run->since_given ? run->until_ms - run->since_ms : 0;
	if (!dry) {
		if (jrn_db_begin(run->db, &e) < 0) {
			jv_free(rows);
			jrn_buf_free(&byname);
			return jrn_say(JRN_EXIT_FAIL, "--save: %s", e.msg), -1;
		}
		sqlite3_stmt *del = NULL;
		if (sqlite3_prepare_v2(run->db, "DELETE FROM insights WHERE kind = 'metrics'"
					" AND computed_at = ?1", -1, &del, NULL) != SQLITE_OK ||
		    sqlite3_bind_int64(del, 1, run->now_ms) != SQLITE_OK ||
		    sqlite3_step(del) != SQLITE_DONE ||
		    sqlite3_prepare_v2(run->db, "INSERT INTO insights (kind, computed_at, dimension,"
				       " group_key, window_start, window_end, metrics, trend)"
				       " VALUES ('metrics', ?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &ins,
				       NULL) != SQLITE_OK)
			rc = (jrn_say(JRN_EXIT_FAIL, "--save: %s", sqlite3_errmsg(run->db)), -1);
		sqlite3_finalize(del);
	}
	for (size_t i = 0; rc == 0 && i < nd; i++) {
		jv cur = jv_invalid(), prev = jv_null();
		bool mine = i == 3 || (d[i].nby == run->nby &&
				       (run->nby == 0 || !strcmp(d[i].by[0], run->by[0])));
		if (mine) { /* the rows already written */
			collect_ctx c = {jv_object(), d[i].by, d[i].nby, {0}};
			jv_array_foreach(rows, k, row) {
				(void)k;
				collect(&c, row);
			}
			jrn_buf_free(&c.key);
			cur = c.map;
		} else if (rows_of(run, &d[i], run->since_ms, run->until_ms, &cur) < 0) {
			rc = -1;
			break;
		}
		if (run->since_given && len > 0 &&
		    rows_of(run, &d[i], run->since_ms - len, run->since_ms, &prev) < 0) {
			jv_free(cur);
			rc = -1;
			break;
		}
		rc = save_dimension(run, dry ? NULL : ins, &d[i], cur, prev, &saved);
	}
	sqlite3_finalize(ins);
	if (!dry && rc == 0 && jrn_db_commit(run->db, &e) < 0)
		rc = (jrn_say(JRN_EXIT_FAIL, "--save: %s", e.msg), -1);
	if (!dry && rc < 0)
		jrn_db_rollback(run->db);
	if (rc == 0 && run->opts.verbosity >= 0) {
		char at[32];
		jrn_time_format(run->now_ms, at);
		jrn_say(0, "metrics: %s %" PRIu64 " insights (computed at %s)",
			dry ? "would save" : "saved", saved, at);
	}
	jv_free(rows);
	jrn_buf_free(&byname);
	return rc;
}
