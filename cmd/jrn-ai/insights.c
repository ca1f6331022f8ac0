/* insights.c: the latest hourly insights for jrn-ai optimize (jrn-ai(1),
 * INSIGHTS): the rows of the newest run of `jrn-report metrics --save`
 * (table insights, jrn-state(5): kind 'metrics', the greatest computed_at
 * not after --now), read once per process.
 *
 * They go three ways:
 *   - the optimize system prompt: the prompt file, then the line "The
 *     latest hourly insights (jrn-report metrics):" and one JSON object
 *     {"optimizationInsights", "lastOptimized", "performanceTrends"} (the
 *     seed's "Store Optimization Insights" node: aggregated metrics, the
 *     time they were computed as RFC 3339, the trends);
 *   - the rules model's channel order (rules.c, by_insights): the channel
 *     rows' sent, conversionRate and clickRate;
 *   - the cache key (cache.c): computed_at, so that a new hour's insights
 *     are not answered from an older hour's cache.
 * optimizationInsights is {"window": {"start", "end"}, "all": METRICS,
 * DIMENSION: {GROUP: METRICS, ...}, ...}, GROUP the group_key's one value
 * as text, else the group_key array's JSON text; performanceTrends the
 * same shape with the trend objects (rows without one left out), or null.
 * A row that does not read (metrics not a JSON object, group_key not a
 * JSON array, trend neither NULL nor an object) is ignored, said once for
 * the run; no good row at all is no insights: optimize works as without
 * the table's rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

static const char head[] = "\n\nThe latest hourly insights (jrn-report metrics):\n";

/* The group's name: the one value of key (borrowed) as text, else key's
 * JSON text. A new string. */
static jv group_name(jv key)
{
	if (jv_array_length(jv_copy(key)) == 1) {
		jv v = jv_array_get(jv_copy(key), 0);
		if (jv_get_kind(v) == JV_KIND_STRING)
			return v;
		jv_free(v);
	}
	return jv_dump_string(jv_copy(key), 0);
}

/* o[dim][name] = v, or o[dim] = v when name is invalid. Consumes dim,
 * name and v. */
static jv put(jv o, jv dim, jv name, jv v)
{
	if (!jv_is_valid(name)) {
		jv_free(name);
		return jv_object_set(o, dim, v);
	}
	jv d = jv_object_get(jv_copy(o), jv_copy(dim));
	if (jv_get_kind(d) != JV_KIND_OBJECT) {
		jv_free(d);
		d = jv_object();
	}
	return jv_object_set(o, dim, jv_object_set(d, name, v));
}

/* The number member name of o (borrowed), or NAN. */
static double num(jv o, const char *name)
{
	jv v = jv_object_get(jv_copy(o), jv_string(name));
	double x = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;
	jv_free(v);
	return isfinite(x) ? x : NAN;
}

/* A channel row's numbers into run->chan. */
static void channel_row(ai_run *run, jv key, jv metrics)
{
	static const char *const ch[3] = {"email", "sms", "retargeting"};
	jv v = jv_array_length(jv_copy(key)) == 1 ? jv_array_get(jv_copy(key), 0) : jv_invalid();
	for (int i = 0; i < 3 && jv_get_kind(v) == JV_KIND_STRING; i++)
		if (!strcmp(jv_string_value(v), ch[i])) {
			run->chan[i].sent = num(metrics, "sent");
			run->chan[i].conversion = num(metrics, "conversionRate");
			run->chan[i].click = num(metrics, "clickRate");
		}
	jv_free(v);
}

/* The JSON column c of st: a value, jv_null() for NULL, invalid when it
 * does not parse. */
static jv json_col(sqlite3_stmt *st, int c)
{
	if (sqlite3_column_type(st, c) == SQLITE_NULL)
		return jv_null();
	return jrn_parse_value((const char *)sqlite3_column_text(st, c),
			       (size_t)sqlite3_column_bytes(st, c), NULL);
}

/* Reads the rows of run computed_at into *opt and *trend; the count of
 * good rows, or -1 with e. The first bad row's reason into bad[n], their
 * count into *nbad. */
static int read_rows(ai_run *run, int64_t at, jv *opt, jv *trend, int *nbad, char *bad,
		     size_t n, jrn_err *e)
{
	sqlite3_stmt *st;
	if (jrn_db_prepare(run->db, "SELECT dimension, group_key, window_start, window_end, metrics,"
			   " trend FROM insights WHERE kind = 'metrics' AND computed_at = ?"
			   " ORDER BY dimension, group_key", &st, e) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, at);
	int good = 0, s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *dim = (const char *)sqlite3_column_text(st, 0);
		dim = dim ? dim : "";
		jv key = json_col(st, 1), m = json_col(st, 4), t = json_col(st, 5);
		const char *why = jv_get_kind(m) != JV_KIND_OBJECT ? "metrics: not a JSON object"
				  : jv_get_kind(key) != JV_KIND_ARRAY ? "group_key: not a JSON array"
				  : jv_get_kind(t) != JV_KIND_OBJECT && jv_get_kind(t) != JV_KIND_NULL
				  ? "trend: neither NULL nor a JSON object"
				  : good >= AI_MAX_INSIGHTS ? "more than 1000 rows (AI_MAX_INSIGHTS)" : NULL;
		if (why) {
			if (!(*nbad)++)
				snprintf(bad, n, "%s %s: %s", dim, sqlite3_column_text(st, 1)
					 ? (const char *)sqlite3_column_text(st, 1) : "", why);
		} else {
			if (!good++) {
				char a[32], b[32];
				jrn_time_format(sqlite3_column_int64(st, 2), a);
				jrn_time_format(sqlite3_column_int64(st, 3), b);
				*opt = jv_object_set(*opt, jv_string("window"),
						     JV_OBJECT(jv_string("start"), jv_string(a),
							       jv_string("end"), jv_string(b)));
			}
			bool all = !strcmp(dim, "all");
			jv name = all ? jv_invalid() : group_name(key);
			if (!strcmp(dim, "channel"))
				channel_row(run, key, m);
			if (jv_get_kind(t) == JV_KIND_OBJECT)
				*trend = put(*trend, jv_string(dim), jv_copy(name), jv_copy(t));
			*opt = put(*opt, jv_string(dim), name, jv_copy(m));
		}
		jv_free(key);
		jv_free(m);
		jv_free(t);
	}
	int rc = s == SQLITE_DONE ? good : jrn_fail(e, "reading insights: %s", sqlite3_errmsg(run->db));
	sqlite3_finalize(st);
	return rc;
}

/* Appends the insights (borrowed) to the optimize prompt's text. 0 or -1. */
static int to_prompt(ai_prompt *p, jv ins)
{
	jrn_buf b = {0};
	jrn_err e;
	if (jrn_buf_add(&b, p->text, p->len) < 0 || jrn_buf_adds(&b, head) < 0 ||
	    jrn_json_append(&b, jv_copy(ins), 0, &e) < 0 || jrn_buf_addc(&b, '\n') < 0) {
		jrn_buf_free(&b);
		return -1;
	}
	free(p->text);
	p->text = b.p;
	p->len = b.len;
	return 0;
}

int ai_insights_load(ai_run *run)
{
	jrn_err e;
	for (int i = 0; i < 3; i++)
		run->chan[i].sent = run->chan[i].conversion = run->chan[i].click = NAN;
	run->insights_at = -1;
	sqlite3_stmt *st;
	if (jrn_db_prepare(run->db, "SELECT max(computed_at) FROM insights WHERE kind = 'metrics'"
			   " AND computed_at <= ?", &st, &e) < 0)
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	sqlite3_bind_int64(st, 1, jrn_now());
	int s = sqlite3_step(st);
	bool none = s != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL;
	int64_t at = none ? -1 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (s != SQLITE_ROW)
		return jrn_say(-1, "%s: reading insights: %s", run->opts.db_path, sqlite3_errmsg(run->db));
	if (none)
		return 0;
	jv opt = jv_object(), trend = jv_object();
	int nbad = 0;
	char bad[300] = "";
	int good = read_rows(run, at, &opt, &trend, &nbad, bad, sizeof bad, &e);
	char when[32];
	jrn_time_format(at, when);
	if (good < 0) {
		jv_free(opt);
		jv_free(trend);
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	}
	if (nbad && run->opts.verbosity >= 0)
		jrn_say(0, "insights of %s: %d row%s ignored (the first: %s)", when, nbad,
			nbad == 1 ? "" : "s", bad);
	if (!good) {
		jv_free(opt);
		jv_free(trend);
		for (int i = 0; i < 3; i++)
			run->chan[i].sent = run->chan[i].conversion = run->chan[i].click = NAN;
		return 0;
	}
	if (!jv_object_length(jv_copy(trend))) {
		jv_free(trend);
		trend = jv_null();
	}
	jv ins = JV_OBJECT(jv_string("optimizationInsights"), opt, jv_string("lastOptimized"),
			   jv_string(when), jv_string("performanceTrends"), trend);
	int rc = to_prompt(&run->prompts[AI_OPTIMIZE], ins);
	jv_free(ins);
	if (rc < 0)
		return jrn_say(-1, "out of memory");
	run->insights_at = at;
	if (run->opts.verbosity > 0)
		jrn_say(0, "insights of %s: %d row%s, in the optimize prompt", when, good,
			good == 1 ? "" : "s");
	return 0;
}
