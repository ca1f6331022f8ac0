/* funnel.c: jrn-report funnel — customers reaching each of an ordered list
 * of event types, in order, within a time of the first (jrn-report(1),
 * FUNNEL).
 *
 * A customer is in the funnel when their first event of step 1's type in
 * the window [since, until) is there; that event is their step 1. They
 * reach step k when an event of step k's type comes after their step k-1
 * (a later time, or the same millisecond and stored later: events are read
 * in (ts, seq) order) and at most --within after their step 1; the first
 * such event is their step k (the earliest match reaches the most steps).
 * The later steps may fall after --until: the window chooses who enters.
 *
 * Memory: the events of the steps' types are read once, sorted by customer,
 * and one customer is held at a time; what stays is, per group and step, a
 * count and the times from the previous step (for the median), so memory
 * grows with the customers in the funnel, never with the events.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

#define FUNNEL_MIN_STEPS 2
#define FUNNEL_MAX_STEPS REPORT_FUNNEL_MAX_STEPS
#define FUNNEL_MAX_GROUPS 4096          /* countries with --by country */
#define FUNNEL_DEFAULT_WITHIN (7 * DAY_MS)
#define FUNNEL_MAX_WITHIN (3660 * DAY_MS)

typedef struct {
	int64_t *v;
	size_t n, cap;
} i64vec;

typedef struct {
	uint64_t reached[FUNNEL_MAX_STEPS];
	i64vec gap[FUNNEL_MAX_STEPS];   /* ms from step k-1 to step k */
} fgroup;

typedef struct {
	char *steps[FUNNEL_MAX_STEPS];
	size_t nsteps;
	int64_t within;
	bool by_country;
	jrn_idmap *keys;        /* group key -> index ('n' null, 's' + country) */
	fgroup *groups;
	size_t ngroups, cap;
	sqlite3_stmt *country;  /* the profile's country of a customer */
} funnel;

static int vec_push(i64vec *a, int64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		int64_t *v = realloc(a->v, cap * sizeof *v);
		if (!v)
			return -1;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

double report_median(int64_t *v, size_t n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof *v, cmp_i64);
	if (n % 2)
		return (double)v[n / 2];
	return ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

static jv median(i64vec *a)
{
	double m = report_median(a->v, a->n);
	return isnan(m) ? jv_null() : jv_number(m);
}

static jv rate(uint64_t num, uint64_t den)
{
	return den ? jv_number((double)num / (double)den) : jv_null();
}

/* Adds one step type (s[0..n)), checked as an id. 0, or a usage status
 * having said why. */
static int add_step(funnel *F, const char *s, size_t n, const char *from)
{
	jrn_err e;
	if (F->nsteps == FUNNEL_MAX_STEPS)
		return jrn_say(JRN_EXIT_USAGE, "funnel: %s: more than %d steps (the limit)", from,
			       FUNNEL_MAX_STEPS);
	if (jrn_id_check(s, n, "step", &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "funnel: %s: step %zu: %s", from, F->nsteps + 1, e.msg);
	if (!(F->steps[F->nsteps] = strndup(s, n)))
		return jrn_say(JRN_EXIT_FAIL, "funnel: out of memory");
	F->nsteps++;
	return 0;
}

/* The steps: --steps A,B,C, else report.funnel.steps; 2 to 32 of them. */
static int read_steps(report_run *run, funnel *F)
{
	int rc;
	if (run->steps_flag) {
		for (const char *s = run->steps_flag;;) {
			const char *comma = strchr(s, ',');
			size_t n = comma ? (size_t)(comma - s) : strlen(s);
			if ((rc = add_step(F, s, n, "--steps")))
				return rc;
			if (!comma)
				break;
			s = comma + 1;
		}
	} else {
		jv list = jrn_config_get(run->opts.config, "report.funnel.steps");
		if (!jv_is_valid(list) && jv_invalid_has_msg(jv_copy(list))) {
			jv msg = jv_invalid_get_msg(list);
			rc = jrn_say(JRN_EXIT_FAIL, "funnel: %s", jv_string_value(msg));
			jv_free(msg);
			return rc;
		}
		if (jv_get_kind(list) != JV_KIND_ARRAY) {
			jv_free(list);
			return jrn_say(JRN_EXIT_USAGE,
				       "funnel: no steps: give --steps A,B,... or report.funnel.steps");
		}
		rc = 0;
		jv_array_foreach(list, i, s) {
			if (!rc && jv_get_kind(s) == JV_KIND_STRING)
				rc = add_step(F, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)),
					      "report.funnel.steps");
			jv_free(s);
		}
		jv_free(list);
		if (rc)
			return rc;
	}
	if (F->nsteps < FUNNEL_MIN_STEPS)
		return jrn_say(JRN_EXIT_USAGE, "funnel: %zu step: a funnel has at least %d steps",
			       F->nsteps, FUNNEL_MIN_STEPS);
	return 0;
}

/* --within DUR, else report.funnel.within, else 7d; more than 0, at most
 * 3660d. */
static int read_within(report_run *run, funnel *F)
{
	int status = report_duration(run, run->within_flag, "funnel: --within", "report.funnel.within",
				     FUNNEL_DEFAULT_WITHIN, &F->within);
	if (!status && F->within > FUNNEL_MAX_WITHIN)
		status = jrn_say(JRN_EXIT_USAGE, "funnel: --within %s: over the limit of 3660d",
				 run->within_flag);
	return status;
}

/* --by: nothing, or country (profiles.country). */
static int read_by(report_run *run, funnel *F)
{
	static const char *const fields[] = {"country", NULL};
	int status = report_by_check(run, fields, NULL);
	F->by_country = report_by_index(run, "country") >= 0;
	return status;
}

/* The group of customer c (its country, or one group). Its index, or -1
 * having said why. */
static int64_t group_of(funnel *F, const char *c, size_t clen)
{
	char stack[256];
	jrn_buf key = {0};
	const unsigned char *country = NULL;
	int n = 0;
	if (F->by_country) {
		sqlite3_reset(F->country);
		sqlite3_bind_text(F->country, 1, c, (int)clen, SQLITE_STATIC);
		if (sqlite3_step(F->country) == SQLITE_ROW &&
		    sqlite3_column_type(F->country, 0) != SQLITE_NULL) {
			country = sqlite3_column_text(F->country, 0);
			n = sqlite3_column_bytes(F->country, 0);
		}
	}
	const char *k = stack;
	size_t klen = 1;
	stack[0] = country ? 's' : 'n';
	if (country) {
		if ((size_t)n + 1 <= sizeof stack) {
			memcpy(stack + 1, country, (size_t)n);
		} else {
			if (jrn_buf_addc(&key, 's') < 0 || jrn_buf_add(&key, country, (size_t)n) < 0)
				return jrn_say(JRN_EXIT_FAIL, "funnel: out of memory"), -1;
			k = key.p;
		}
		klen += (size_t)n;
	}
	bool added;
	int64_t g = jrn_idmap_put(F->keys, k, klen, &added);
	jrn_buf_free(&key);
	if (g < 0)
		return jrn_say(JRN_EXIT_FAIL, "funnel: out of memory"), -1;
	if (added) {
		if ((size_t)g >= FUNNEL_MAX_GROUPS)
			return jrn_say(JRN_EXIT_FAIL, "funnel: more than %d countries (the limit of groups)",
				       FUNNEL_MAX_GROUPS), -1;
		if (F->ngroups == F->cap) {
			size_t cap = F->cap ? F->cap * 2 : 8;
			fgroup *p = realloc(F->groups, cap * sizeof *p);
			if (!p)
				return jrn_say(JRN_EXIT_FAIL, "funnel: out of memory"), -1;
			F->groups = p;
			F->cap = cap;
		}
		memset(&F->groups[F->ngroups++], 0, sizeof(fgroup));
	}
	return g;
}

void report_funnel_step(const report_funnel_def *d, report_funnel_walk *w, const char *type,
			int64_t ts)
{
	if (!w->k) {
		if (ts >= d->since && ts < d->until && !strcmp(type, d->steps[0])) {
			w->k = 1;
			w->first = w->prev = ts;
		}
		return;
	}
	if (w->k == d->nsteps || ts - w->first > d->within || strcmp(type, d->steps[w->k]))
		return;
	w->gap[w->k++] = ts - w->prev;
	w->prev = ts;
}

/* Counts a finished walk into its customer's group. 0, or -1 having said
 * why. */
static int walk_end(funnel *F, const report_funnel_walk *w, const char *c, size_t clen)
{
	if (!w->k)
		return 0;
	int64_t g = group_of(F, c, clen);
	if (g < 0)
		return -1;
	fgroup *G = &F->groups[g];
	for (size_t i = 0; i < w->k; i++) {
		G->reached[i]++;
		if (i && vec_push(&G->gap[i], w->gap[i]) < 0)
			return jrn_say(JRN_EXIT_FAIL, "funnel: out of memory"), -1;
	}
	return 0;
}

/* Reads the events of the steps' types, customer by customer. */
static int scan(report_run *run, funnel *F)
{
	jrn_err e;
	sqlite3_stmt *st = NULL;
	jv types = jv_array();
	for (size_t i = 0; i < F->nsteps; i++)
		types = jv_array_append(types, jv_string(F->steps[i]));
	jv text = jv_dump_string(types, 0);
	int rc = jrn_db_prepare(run->db,
				"SELECT customer_id, type, ts FROM events"
				" WHERE type IN (SELECT value FROM json_each(?1))"
				" ORDER BY customer_id, ts, seq", &st, &e);
	if (rc == 0 && F->by_country)
		rc = jrn_db_prepare(run->db, "SELECT country FROM profiles WHERE customer_id = ?1",
				    &F->country, &e);
	if (rc < 0) {
		jv_free(text);
		sqlite3_finalize(st);
		return jrn_say(JRN_EXIT_FAIL, "funnel: %s", e.msg);
	}
	sqlite3_bind_text(st, 1, jv_string_value(text), -1, SQLITE_TRANSIENT);
	jv_free(text);
	/* The sort by customer spills to temporary files past the page cache,
	 * so memory stays flat however many events there are (in memory, the
	 * sorter would hold every event of the steps' types). */
	if (jrn_db_exec(run->db, "PRAGMA temp_store = FILE", &e) < 0) {
		sqlite3_finalize(st);
		return jrn_say(JRN_EXIT_FAIL, "funnel: %s", e.msg);
	}
	report_funnel_def d = {(const char *const *)F->steps, F->nsteps, F->within,
			       run->since_given ? run->since_ms : INT64_MIN,
			       run->until_given ? run->until_ms : run->now_ms};
	jrn_buf cur = {0};
	bool have = false;
	report_funnel_walk w = {0};
	int status = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		size_t clen = (size_t)sqlite3_column_bytes(st, 0);
		if (!have || cur.len != clen || memcmp(cur.p, c, clen)) {
			if (have && walk_end(F, &w, cur.p, cur.len) < 0) {
				status = JRN_EXIT_FAIL;
				break;
			}
			jrn_buf_reset(&cur);
			if (jrn_buf_add(&cur, c, clen) < 0) {
				status = jrn_say(JRN_EXIT_FAIL, "funnel: out of memory");
				break;
			}
			have = true;
			memset(&w, 0, sizeof w);
		}
		report_funnel_step(&d, &w, (const char *)sqlite3_column_text(st, 1),
				   sqlite3_column_int64(st, 2));
	}
	if (!status && step != SQLITE_DONE)
		status = jrn_say(JRN_EXIT_FAIL, "funnel: %s", sqlite3_errmsg(run->db));
	if (!status && have && walk_end(F, &w, cur.p, cur.len) < 0)
		status = JRN_EXIT_FAIL;
	jrn_buf_free(&cur);
	sqlite3_finalize(st);
	jrn_db_exec(run->db, "PRAGMA temp_store = MEMORY", NULL);
	return status;
}

static const funnel *sort_ctx;

/* Groups in order: no country first, then countries in byte order. */
static int cmp_group(const void *a, const void *b)
{
	size_t la, lb;
	const char *ka = jrn_idmap_key(sort_ctx->keys, *(const size_t *)a, &la);
	const char *kb = jrn_idmap_key(sort_ctx->keys, *(const size_t *)b, &lb);
	int c = memcmp(ka, kb, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

static int emit(report_run *run, funnel *F)
{
	size_t *order = malloc((F->ngroups ? F->ngroups : 1) * sizeof *order);
	if (!order)
		return jrn_say(JRN_EXIT_FAIL, "funnel: out of memory");
	for (size_t i = 0; i < F->ngroups; i++)
		order[i] = i;
	sort_ctx = F;
	qsort(order, F->ngroups, sizeof *order, cmp_group);
	jv names = jv_array();
	if (F->by_country)
		names = jv_array_append(names, jv_string("country"));
	static const char *const cols[] = {"step", "type", "customers", "dropOff", "conversionFromStart",
					   "conversionFromPrevious", "medianTimeFromPrevious"};
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		names = jv_array_append(names, jv_string(cols[i]));
	report_header(run, names);
	for (size_t i = 0; i < F->ngroups; i++) {
		size_t klen;
		const char *key = jrn_idmap_key(F->keys, order[i], &klen);
		fgroup *G = &F->groups[order[i]];
		for (size_t k = 0; k < F->nsteps; k++) {
			jv row = jv_object();
			if (F->by_country)
				row = jv_object_set(row, jv_string("country"),
						    key[0] == 's' ? jv_string_sized(key + 1, (int)klen - 1)
								  : jv_null());
			uint64_t prev = k ? G->reached[k - 1] : G->reached[0];
			row = jv_object_set(row, jv_string("step"), jv_number((double)(k + 1)));
			row = jv_object_set(row, jv_string("type"), jv_string(F->steps[k]));
			row = jv_object_set(row, jv_string("customers"), jv_number((double)G->reached[k]));
			row = jv_object_set(row, jv_string("dropOff"),
					    jv_number((double)(prev - G->reached[k])));
			row = jv_object_set(row, jv_string("conversionFromStart"),
					    rate(G->reached[k], G->reached[0]));
			row = jv_object_set(row, jv_string("conversionFromPrevious"),
					    rate(G->reached[k], prev));
			row = jv_object_set(row, jv_string("medianTimeFromPrevious"),
					    k ? median(&G->gap[k]) : jv_null());
			if (report_row(run, row) < 0) {
				free(order);
				return JRN_EXIT_FAIL;
			}
		}
	}
	free(order);
	return 0;
}

/* jrn-report funnel: reads the steps, --within and --by, scans the events
 * and writes a row per group and step (jrn-report(1), FUNNEL). Returns an
 * exit status, having said why it failed. */
/* The set-up of a funnel run before it reads: its steps, within and --by
 * into F. 0, or an exit status having said why. */
static int funnel_setup(report_run *run, funnel *F)
{
	int status = read_steps(run, F);
	if (!status)
		status = read_within(run, F);
	if (!status)
		status = read_by(run, F);
	return status;
}

int report_funnel_check(report_run *run)
{
	funnel F = {0};
	int status = funnel_setup(run, &F);
	for (size_t i = 0; i < F.nsteps; i++)
		free(F.steps[i]);
	return status;
}

int report_funnel(report_run *run)
{
	funnel F = {0};
	int status = funnel_setup(run, &F);
	if (!status && !(F.keys = jrn_idmap_new()))
		status = jrn_say(JRN_EXIT_FAIL, "funnel: out of memory");
	if (!status)
		status = scan(run, &F);
	if (!status)
		status = emit(run, &F);
	for (size_t i = 0; i < F.nsteps; i++)
		free(F.steps[i]);
	for (size_t g = 0; g < F.ngroups; g++)
		for (size_t k = 0; k < FUNNEL_MAX_STEPS; k++)
			free(F.groups[g].gap[k].v);
	free(F.groups);
	jrn_idmap_free(F.keys);
	sqlite3_finalize(F.country);
	return status;
}
