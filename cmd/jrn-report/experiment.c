/*
 * experiment.c: jrn-report experiment. For each split of each journey
 * (jrn-route(1): "split: [{name, weight, next, holdout}...]"), one row
 * per arm: exposures, conversions, rate, and against the control arm the
 * lift, the difference's Wald and Newcombe intervals and the pooled
 * two-proportion z-test; per split the sample-ratio-mismatch check (the
 * exposures against the configured weights). The maths is stats.c's.
 *
 *   split      the newest version of the journey (journey_versions) that
 *              has a split step; its arms in the order written, weight
 *              default 1. A step's id names the split, else "step N" (N
 *              its 1-based place in steps).
 *   exposures  distinct customers with an enrollment of the journey that
 *              took the arm (enrollments.variant) and entered in the
 *              window [since, until); holdout arms count those held out.
 *   conversion the customer has such an enrollment that converted: when
 *              the journey has a goal (a goal step, or a goal: key), the
 *              enrollment's status is converted; else an order.completed
 *              event of the customer within report.experiment.window
 *              (default 7d) after the enrollment entered,
 *              [entered_at, entered_at + window).
 *   control    the first holdout arm, else the first arm.
 *   srm        the chi-square goodness of fit of the exposures against
 *              the weights over the split's arms (k - 1 degrees of
 *              freedom): flagged when its p-value is below 0.001.
 * An arm found in enrollments but not in the split (an older version's)
 * is a row of its split with weight null, left out of the SRM check.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"
#include "stats.h"
#include "yaml.h"

#define EXP_DEFAULT_LEVEL 0.95
#define EXP_DEFAULT_WINDOW (7 * DAY_MS)
#define EXP_SRM_ALPHA 0.001
#define EXP_ARMS_MAX 100 /* arms of one split (jrn-route's JOURNEY's limit) */
#define EXP_SPLITS_MAX 64 /* splits of one journey reported */

typedef struct {
	char *name;
	double weight;      /* NaN: not in the split */
	bool holdout;
	uint64_t exposures, conversions;
} arm;

typedef struct {
	report_run *run;
	double level;
	int64_t window;
} experiment;

static jv num(double d)
{
	return isnan(d) || isinf(d) ? jv_null() : jv_number(d);
}

static int read_level(experiment *x)
{
	report_run *run = x->run;
	x->level = EXP_DEFAULT_LEVEL;
	if (run->level_flag) {
		char *end;
		x->level = strtod(run->level_flag, &end);
		if (end == run->level_flag || *end || !(x->level > 0 && x->level < 1))
			return jrn_say(JRN_EXIT_USAGE,
				       "experiment: --level '%s': a number between 0 and 1 "
				       "(0.95) is needed",
				       run->level_flag);
		return 0;
	}
	jrn_err e;
	int r = jrn_config_number(run->opts.config, "report.experiment.level", &x->level, &e);
	if (r < 0)
		return jrn_say(JRN_EXIT_FAIL, "report.experiment.level: %s", e.msg);
	if (r == 0)
		x->level = EXP_DEFAULT_LEVEL;
	else if (!(x->level > 0 && x->level < 1))
		return jrn_say(JRN_EXIT_FAIL,
			       "report.experiment.level: %g: a number between 0 and 1 is needed",
			       x->level);
	return 0;
}

/* Whether the journey definition j (borrowed) has a goal. */
static bool has_goal(jv j)
{
	bool yes = jv_object_has(jv_copy(j), jv_string("goal"));
	jv steps = jv_object_get(jv_copy(j), jv_string("steps"));
	if (jv_get_kind(steps) == JV_KIND_ARRAY) {
		jv_array_foreach(steps, i, s) {
			if (jv_get_kind(s) == JV_KIND_OBJECT) {
				yes = jv_object_has(jv_copy(s), jv_string("goal")) || yes;
			}
			jv_free(s);
		}
	}
	jv_free(steps);
	return yes;
}

/* The splits of the definition j (borrowed): an array of {split: label,
 * arms: [...]} (owned), empty when none. */
static jv splits_of(jv j)
{
	jv out = jv_array();
	if (jv_get_kind(j) != JV_KIND_OBJECT)
		return out;
	jv steps = jv_object_get(jv_copy(j), jv_string("steps"));
	if (jv_get_kind(steps) == JV_KIND_ARRAY) {
		jv_array_foreach(steps, i, s) {
			jv arms = jv_get_kind(s) == JV_KIND_OBJECT
					  ? jv_object_get(jv_copy(s), jv_string("split"))
					  : jv_invalid();
			if (jv_get_kind(arms) == JV_KIND_ARRAY) {
				jv id = jv_object_get(jv_copy(s), jv_string("id"));
				jv label = jv_get_kind(id) == JV_KIND_STRING
						   ? id
						   : (jv_free(id), jv_string_fmt("step %d", i + 1));
				jv sp = jv_object_set(jv_object(), jv_string("split"), label);
				out = jv_array_append(out, jv_object_set(sp, jv_string("arms"), arms));
			} else {
				jv_free(arms);
			}
			jv_free(s);
		}
	}
	jv_free(steps);
	return out;
}

/* Reads the arms of split sp (borrowed) into *arms (*n of them). */
static int arms_of(jv sp, arm **arms, size_t *n)
{
	jv list = jv_object_get(jv_copy(sp), jv_string("arms"));
	int len = jv_array_length(jv_copy(list));
	*n = 0;
	*arms = calloc(EXP_ARMS_MAX + 1, sizeof **arms);
	if (!*arms) {
		jv_free(list);
		return jrn_say(-1, "experiment: out of memory");
	}
	for (int i = 0; i < len && *n < EXP_ARMS_MAX; i++) {
		jv a = jv_array_get(jv_copy(list), i);
		jv name = jv_get_kind(a) == JV_KIND_OBJECT ? jv_object_get(jv_copy(a), jv_string("name"))
							   : jv_invalid();
		if (jv_get_kind(name) == JV_KIND_STRING) {
			jv w = jv_object_get(jv_copy(a), jv_string("weight"));
			jv h = jv_object_get(jv_copy(a), jv_string("holdout"));
			arm *r = &(*arms)[(*n)++];
			r->name = strdup(jv_string_value(name));
			r->weight = jv_get_kind(w) == JV_KIND_NUMBER ? jv_number_value(w) : 1;
			r->holdout = jv_get_kind(h) == JV_KIND_TRUE;
			jv_free(w);
			jv_free(h);
		}
		jv_free(name);
		jv_free(a);
	}
	jv_free(list);
	return 0;
}

static const char COUNT_SQL[] =
	"SELECT en.variant, count(DISTINCT en.customer_id),"
	" count(DISTINCT CASE WHEN (?4 AND en.status = 'converted') OR (NOT ?4 AND EXISTS ("
	"  SELECT 1 FROM events AS o WHERE o.customer_id = en.customer_id"
	"  AND o.type = 'order.completed' AND o.ts >= en.entered_at"
	"  AND o.ts < en.entered_at + ?5)) THEN en.customer_id END)"
	" FROM enrollments AS en"
	" WHERE en.journey = ?1 AND en.variant IS NOT NULL"
	"  AND en.entered_at >= ?2 AND en.entered_at < ?3"
	" GROUP BY en.variant ORDER BY en.variant";

/* Counts each arm's exposures and conversions; a variant of no split
 * joins the first split's arms (weight NaN). */
static int count(experiment *x, const char *journey, bool goal, arm **arms, size_t *narms,
		 size_t nsplits)
{
	sqlite3 *db = x->run->db;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, COUNT_SQL, -1, &st, NULL) != SQLITE_OK)
		return jrn_say(-1, "experiment: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, x->run->since_ms);
	sqlite3_bind_int64(st, 3, x->run->until_ms);
	sqlite3_bind_int(st, 4, goal);
	sqlite3_bind_int64(st, 5, x->window);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		arm *found = NULL;
		for (size_t s = 0; s < nsplits && !found; s++)
			for (size_t i = 0; i < narms[s] && !found; i++)
				if (strcmp(arms[s][i].name, v) == 0)
					found = &arms[s][i];
		if (!found && narms[0] < EXP_ARMS_MAX + 1) {
			found = &arms[0][narms[0]++];
			found->name = strdup(v);
			found->weight = NAN;
		}
		if (found) {
			found->exposures = (uint64_t)sqlite3_column_int64(st, 1);
			found->conversions = (uint64_t)sqlite3_column_int64(st, 2);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_say(-1, "experiment: %s", sqlite3_errmsg(db));
	return 0;
}

/* The rows of one split. */
static int split_rows(experiment *x, const char *journey, const char *label, arm *a, size_t n)
{
	size_t ctl = 0, k = 0;
	bool holdout = false;
	for (size_t i = 0; i < n; i++)
		if (a[i].holdout && !isnan(a[i].weight) && !holdout) {
			ctl = i;
			holdout = true;
		}
	uint64_t obs[EXP_ARMS_MAX];
	double w[EXP_ARMS_MAX], chi2, p;
	for (size_t i = 0; i < n; i++)
		if (!isnan(a[i].weight)) {
			obs[k] = a[i].exposures;
			w[k++] = a[i].weight;
		}
	stats_srm(obs, w, k, &chi2, &p);
	for (size_t i = 0; i < n; i++) {
		stats_cmp c;
		stats_two_prop(a[i].conversions, a[i].exposures, a[ctl].conversions,
			       a[ctl].exposures, x->level, &c);
		bool is_ctl = i == ctl;
		jv r = jv_object_set(jv_object(), jv_string("journey"), jv_string(journey));
		r = jv_object_set(r, jv_string("split"), jv_string(label));
		r = jv_object_set(r, jv_string("arm"), jv_string(a[i].name));
		r = jv_object_set(r, jv_string("holdout"), jv_bool(a[i].holdout));
		r = jv_object_set(r, jv_string("control"), jv_bool(is_ctl));
		r = jv_object_set(r, jv_string("weight"), num(a[i].weight));
		r = jv_object_set(r, jv_string("exposures"), jv_number((double)a[i].exposures));
		r = jv_object_set(r, jv_string("conversions"), jv_number((double)a[i].conversions));
		r = jv_object_set(r, jv_string("rate"), num(c.p1));
		r = jv_object_set(r, jv_string("lift"), is_ctl ? jv_null() : num(c.lift));
		r = jv_object_set(r, jv_string("diff"), is_ctl ? jv_null() : num(c.diff));
		r = jv_object_set(r, jv_string("ciLow"), is_ctl ? jv_null() : num(c.wald_lo));
		r = jv_object_set(r, jv_string("ciHigh"), is_ctl ? jv_null() : num(c.wald_hi));
		r = jv_object_set(r, jv_string("newcombeLow"), is_ctl ? jv_null() : num(c.newcombe_lo));
		r = jv_object_set(r, jv_string("newcombeHigh"),
				  is_ctl ? jv_null() : num(c.newcombe_hi));
		r = jv_object_set(r, jv_string("z"), is_ctl ? jv_null() : num(c.z));
		r = jv_object_set(r, jv_string("pValue"), is_ctl ? jv_null() : num(c.p_value));
		r = jv_object_set(r, jv_string("srmChi2"), num(chi2));
		r = jv_object_set(r, jv_string("srmPValue"), num(p));
		r = jv_object_set(r, jv_string("srm"), isnan(p) ? jv_null() : jv_bool(p < EXP_SRM_ALPHA));
		if (report_row(x->run, r) < 0)
			return -1;
	}
	return 0;
}

/* One journey: its newest definition with a split, its counts, its rows. */
static int journey_rows(experiment *x, const char *journey, jv def)
{
	jv splits = splits_of(def);
	size_t ns = (size_t)jv_array_length(jv_copy(splits));
	arm *arms[EXP_SPLITS_MAX] = {0};
	size_t narms[EXP_SPLITS_MAX] = {0};
	int rc = 0;
	if (ns > EXP_SPLITS_MAX) {
		jrn_say(0, "experiment: journey %s: its first %d splits reported (EXP_SPLITS_MAX)",
			journey, EXP_SPLITS_MAX);
		ns = EXP_SPLITS_MAX;
	}
	for (size_t s = 0; s < ns && !rc; s++) {
		jv sp = jv_array_get(jv_copy(splits), (int)s);
		rc = arms_of(sp, &arms[s], &narms[s]);
		jv_free(sp);
	}
	if (!rc && ns)
		rc = count(x, journey, has_goal(def), arms, narms, ns);
	for (size_t s = 0; s < ns && !rc; s++) {
		jv sp = jv_array_get(jv_copy(splits), (int)s);
		jv label = jv_object_get(sp, jv_string("split"));
		rc = split_rows(x, journey, jv_string_value(label), arms[s], narms[s]);
		jv_free(label);
	}
	for (size_t s = 0; s < ns; s++) {
		for (size_t i = 0; arms[s] && i < narms[s]; i++)
			free(arms[s][i].name);
		free(arms[s]);
	}
	jv_free(splits);
	return rc;
}

/* The journeys, each with its newest version first. */
static const char JOURNEYS_SQL[] =
	"SELECT journey, version, source FROM journey_versions"
	" WHERE ?1 IS NULL OR journey = ?1 ORDER BY journey, version DESC";

static int all_journeys(experiment *x)
{
	sqlite3 *db = x->run->db;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, JOURNEYS_SQL, -1, &st, NULL) != SQLITE_OK)
		return jrn_say(-1, "experiment: %s", sqlite3_errmsg(db));
	if (x->run->journey_flag)
		sqlite3_bind_text(st, 1, x->run->journey_flag, -1, SQLITE_STATIC);
	char *done = NULL; /* the journey whose split was found */
	bool seen = false;
	int rc = 0, s;
	while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *j = (const char *)sqlite3_column_text(st, 0);
		seen = true;
		if (done && strcmp(done, j) == 0)
			continue;
		const char *src = (const char *)sqlite3_column_text(st, 2);
		jrn_err e;
		jv def = jrn_yaml_parse(src, (size_t)sqlite3_column_bytes(st, 2), j, NULL, NULL, &e);
		if (!jv_is_valid(def)) {
			jv_free(def);
			jrn_say(0, "experiment: journey %s version %lld: %s", j,
				(long long)sqlite3_column_int64(st, 1), e.msg);
			continue;
		}
		jv splits = splits_of(def);
		bool has = jv_array_length(splits) > 0;
		if (has) {
			free(done);
			done = strdup(j);
			rc = done ? journey_rows(x, j, def) : jrn_say(-1, "experiment: out of memory");
		}
		jv_free(def);
	}
	if (!rc && s != SQLITE_DONE)
		rc = jrn_say(-1, "experiment: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	free(done);
	if (!rc && x->run->journey_flag && !seen)
		return jrn_say(-1, "experiment: --journey %s: no such journey in the state file",
			       x->run->journey_flag);
	return rc;
}

/* The set-up of an experiment run before it reads: --by (none), the level
 * and the window into x. 0, or an exit status having said why. */
static int experiment_setup(experiment *x)
{
	static const char *const fields[] = {NULL};
	int rc = report_by_check(x->run, fields, NULL);
	if (!rc)
		rc = read_level(x);
	if (!rc)
		rc = report_duration(x->run, NULL, NULL, "report.experiment.window",
				     EXP_DEFAULT_WINDOW, &x->window);
	return rc;
}

int report_experiment_check(report_run *run)
{
	experiment x = {run, 0, 0};
	return experiment_setup(&x);
}

int report_experiment(report_run *run)
{
	experiment x = {run, 0, 0};
	int rc = experiment_setup(&x);
	if (rc)
		return rc;
	report_header(run, jv_parse("[\"journey\",\"split\",\"arm\",\"holdout\",\"control\","
				    "\"weight\",\"exposures\",\"conversions\",\"rate\",\"lift\","
				    "\"diff\",\"ciLow\",\"ciHigh\",\"newcombeLow\",\"newcombeHigh\","
				    "\"z\",\"pValue\",\"srmChi2\",\"srmPValue\",\"srm\"]"));
	return all_journeys(&x) < 0 ? JRN_EXIT_FAIL : 0;
}
