/* lead.c: jrn-score lead: lead scores of profiles (NDJSON from FILEs, else
 * standard input, or with --all every customer of the state file; events,
 * records with a string "type", pass through unchanged in their place):
 * behavioral points from the
 * stored events (at most maxOccurrences each, the newest first, halved
 * every scoring.lead.halfLife), demographic and firmographic points from
 * rules on the profile (lib/rules.h, jrn-segment's language); a grade hot,
 * warm or cold. Rules from scoring.lead, else the seed's example rules. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-score.h"
#include "profile-read.h"
#include "rules.h"

/* The seed's example rules (001, Lead Scoring), used without scoring.lead. */
static const char default_lead[] =
	"{\"behavioral\":["
	"{\"name\":\"page_visit\",\"event\":\"page.viewed\",\"points\":1,\"maxOccurrences\":50},"
	"{\"name\":\"product_view\",\"event\":\"product.viewed\",\"points\":5,\"maxOccurrences\":20},"
	"{\"name\":\"add_to_cart\",\"event\":\"cart.added\",\"points\":10,\"maxOccurrences\":10},"
	"{\"name\":\"email_open\",\"event\":\"email.opened\",\"points\":2,\"maxOccurrences\":30},"
	"{\"name\":\"email_click\",\"event\":\"email.clicked\",\"points\":5,\"maxOccurrences\":20},"
	"{\"name\":\"form_submit\",\"event\":\"form.submitted\",\"points\":15,\"maxOccurrences\":5}],"
	"\"demographic\":["
	"{\"name\":\"job_title\",\"points\":20,\"condition\":"
	"{\"traits.jobTitle\":{\"in\":[\"CEO\",\"CTO\",\"VP\",\"Director\"]}}},"
	"{\"name\":\"company_size\",\"points\":15,\"condition\":"
	"{\"traits.company.size\":{\"greater_than\":100}}},"
	"{\"name\":\"industry\",\"points\":10,\"condition\":"
	"{\"traits.company.industry\":{\"in\":[\"Technology\",\"Finance\",\"Healthcare\"]}}}],"
	"\"firmographic\":["
	"{\"name\":\"revenue\",\"points\":25,\"condition\":"
	"{\"traits.company.revenue\":{\"greater_than\":10000000}}},"
	"{\"name\":\"location\",\"points\":10,\"condition\":"
	"{\"traits.company.country\":{\"in\":[\"US\",\"UK\",\"CA\"]}}}]}";

enum { LEAD_BEHAVIORAL, LEAD_DEMOGRAPHIC, LEAD_FIRMOGRAPHIC };

typedef struct {
	int kind;
	char *name;
	char *event;       /* behavioral: the event type */
	double points;
	int64_t max;       /* behavioral: occurrences counted at most; 0 no limit */
	int64_t within;    /* behavioral: only events this recent; 0 any */
	jrn_rules *cond;   /* NULL: none (behavioral) */
	int64_t count;     /* per profile */
} lead_rule;

/* What a run of lead holds. */
typedef struct {
	lead_rule *rules;
	int nrules;
	double grade_hot, grade_warm;
	int64_t half_life;        /* 0: no decay */
	sqlite3_stmt *evs;        /* a customer's events up to now, newest first */
	sqlite3_stmt *ins;        /* --save: INSERT OR REPLACE INTO scores */
	jrn_profile_reader *reader; /* --all: every customer's profile */
	jrn_reader *rd;           /* else: the profiles */
	jv_parser *parser, *evparser;
	jrn_buf line, pending;    /* --save: records wait for the commit */
	uint64_t lines, scored, events, rejected; /* for the summary */
	uint64_t saved; /* with --save: the scores stored (a profile with a customerId) */
} lead_state;

static void lead_free(lead_state *L)
{
	for (int i = 0; i < L->nrules; i++) {
		free(L->rules[i].name);
		free(L->rules[i].event);
		if (L->rules[i].cond)
			jrn_rule_free(L->rules[i].cond);
	}
	free(L->rules);
	sqlite3_finalize(L->evs);
	sqlite3_finalize(L->ins);
	jrn_profile_reader_close(L->reader);
	jrn_reader_free(L->rd);
	if (L->parser)
		jv_parser_free(L->parser);
	if (L->evparser)
		jv_parser_free(L->evparser);
	jrn_buf_free(&L->line);
	jrn_buf_free(&L->pending);
}

/* scoring.lead.grades into L; 0 or -1 (said). */
static int lead_grades(jv config, jv conf, const char *cfg, lead_state *L)
{
	int rc = 0;
	jv g = jv_object_get(jv_copy(conf), jv_string("grades"));
	if (jv_is_valid(g)) {
		jv hot = jv_get_kind(g) == JV_KIND_OBJECT ? jv_object_get(jv_copy(g), jv_string("hot"))
							   : jv_invalid();
		jv warm = jv_get_kind(g) == JV_KIND_OBJECT ? jv_object_get(jv_copy(g), jv_string("warm"))
							    : jv_invalid();
		if (jv_get_kind(hot) == JV_KIND_NUMBER)
			L->grade_hot = jv_number_value(hot);
		if (jv_get_kind(warm) == JV_KIND_NUMBER)
			L->grade_warm = jv_number_value(warm);
		if (jv_get_kind(g) != JV_KIND_OBJECT || L->grade_warm > L->grade_hot)
			rc = score_cfg_say(config, cfg, "scoring.lead.grades: expected {hot: NUMBER,"
					   " warm: NUMBER}, warm <= hot");
		jv_free(hot);
		jv_free(warm);
	}
	jv_free(g);
	return rc;
}

/* What is wrong with rule `item` of kind k (its fields given), or NULL;
 * l->within set from "within". */
static const char *lead_rule_bad(int k, jv item, jv name, jv ev, jv pts, jv max, jv cond,
				 jv within, lead_rule *l)
{
	if (jv_get_kind(item) != JV_KIND_OBJECT)
		return "expected a mapping";
	if (jv_get_kind(pts) != JV_KIND_NUMBER || !isfinite(jv_number_value(pts)))
		return "points: expected a number";
	if (k == LEAD_BEHAVIORAL && jv_get_kind(ev) != JV_KIND_STRING)
		return "event: expected an event type";
	if (k != LEAD_BEHAVIORAL && !jv_is_valid(cond))
		return "condition: expected a rule";
	if (jv_is_valid(max) && (jv_get_kind(max) != JV_KIND_NUMBER || jv_number_value(max) < 1))
		return "maxOccurrences: expected a whole number of at least 1";
	if (jv_is_valid(name) && jv_get_kind(name) != JV_KIND_STRING)
		return "name: expected text";
	jrn_err de;
	if (jv_is_valid(within) && (jv_get_kind(within) != JV_KIND_STRING ||
				    jrn_duration_parse(jv_string_value(within), &l->within, &de) < 0))
		return "within: expected a duration such as 30d";
	return NULL;
}

/* Rule i of kind k, `item` (borrowed), into L->rules[L->nrules] (room made
 * by the caller), compiled and attached to the state file. 0 or -1 (said). */
static int lead_rule_add(score_run *run, lead_state *L, const char *cfg, int k, int i, jv item)
{
	static const char *const kinds[3] = {"behavioral", "demographic", "firmographic"};
	int rc = 0;
	lead_rule *l = &L->rules[L->nrules];
	memset(l, 0, sizeof *l);
	l->kind = k;
	jv name = jv_object_get(jv_copy(item), jv_string("name"));
	jv ev = jv_object_get(jv_copy(item), jv_string("event"));
	jv pts = jv_object_get(jv_copy(item), jv_string("points"));
	jv max = jv_object_get(jv_copy(item), jv_string("maxOccurrences"));
	jv cond = jv_object_get(jv_copy(item), jv_string("condition"));
	jv within = jv_object_get(jv_copy(item), jv_string("within"));
	char where[96];
	snprintf(where, sizeof where, "scoring.lead.%s[%d]", kinds[k], i);
	const char *bad = lead_rule_bad(k, item, name, ev, pts, max, cond, within, l);
	if (bad) {
		rc = score_cfg_say(run->opts.config, cfg, "%s: %s", where, bad);
	} else {
		char dflt[32];
		snprintf(dflt, sizeof dflt, "%s%d", kinds[k], i + 1);
		l->name = strdup(jv_is_valid(name) ? jv_string_value(name) : dflt);
		l->event = k == LEAD_BEHAVIORAL ? strdup(jv_string_value(ev)) : NULL;
		l->points = jv_number_value(pts);
		l->max = jv_is_valid(max) ? (int64_t)jv_number_value(max) : 0;
		L->nrules++;
		if (!l->name || (k == LEAD_BEHAVIORAL && !l->event)) {
			rc = jrn_say(-1, "out of memory");
		} else if (jv_is_valid(cond)) {
			jrn_err ce;
			l->cond = jrn_rule_compile_one(l->name, jv_copy(cond), &ce);
			if (!l->cond)
				rc = score_cfg_say(run->opts.config, cfg, "%s: condition: %s", where, ce.msg);
			else if (jrn_rule_needs_events(l->cond, -1) &&
				 jrn_rule_attach(l->cond, run->db, &ce) < 0)
				rc = jrn_say(-1, "%s: %s", where, ce.msg);
		}
	}
	jv_free(name);
	jv_free(ev);
	jv_free(pts);
	jv_free(max);
	jv_free(cond);
	jv_free(within);
	return rc;
}

/* Compiles the rules of scoring.lead (or the defaults) into L. 0 or -1
 * (said). */
static int lead_config(score_run *run, lead_state *L)
{
	static const char *const kinds[3] = {"behavioral", "demographic", "firmographic"};
	const char *cfg = run->opts.config_path ? run->opts.config_path : "config";
	jv conf = jrn_config_get(run->opts.config, "scoring.lead");
	if (!jv_is_valid(conf)) {
		jv_free(conf);
		conf = jv_parse(default_lead);
	}
	if (jv_get_kind(conf) != JV_KIND_OBJECT) {
		jv_free(conf);
		return score_cfg_say(run->opts.config, cfg, "scoring.lead: expected a mapping");
	}
	int rc = lead_grades(run->opts.config, conf, cfg, L);
	if (rc == 0 && score_config_duration(run, "scoring.lead.halfLife", &L->half_life) < 0)
		rc = -1;
	for (int k = 0; rc == 0 && k < 3; k++) {
		jv list = jv_object_get(jv_copy(conf), jv_string(kinds[k]));
		int n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0;
		if (jv_is_valid(list) && jv_get_kind(list) != JV_KIND_ARRAY)
			rc = score_cfg_say(run->opts.config, cfg, "scoring.lead.%s: expected a list of rules",
					   kinds[k]);
		lead_rule *more = n > 0 ? realloc(L->rules, (size_t)(L->nrules + n) * sizeof *more)
					: NULL;
		if (n > 0 && !more)
			rc = jrn_say(-1, "out of memory");
		else if (more)
			L->rules = more;
		for (int i = 0; rc == 0 && i < n; i++) {
			jv item = jv_array_get(jv_copy(list), i);
			rc = lead_rule_add(run, L, cfg, k, i, item);
			jv_free(item);
		}
		jv_free(list);
	}
	jv_free(conf);
	return rc;
}

/* The behavioral points of the events of the profile's customer (newest
 * first, so maxOccurrences keeps the most recent) added to sc[0]: 1 done,
 * 0 rejected (reason in e), -1 failed (said). */
static int lead_behavior(score_run *run, lead_state *L, int64_t now, double sc[3], jrn_err *e)
{
	sqlite3_stmt *evs = L->evs;
	int rc, res = 1;
	while (res == 1 && (rc = sqlite3_step(evs)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(evs, 0);
		int64_t age = now - sqlite3_column_int64(evs, 1);
		jv ev = jv_invalid();
		for (int i = 0; type && i < L->nrules; i++) {
			lead_rule *l = &L->rules[i];
			if (l->kind != LEAD_BEHAVIORAL || strcmp(l->event, type) != 0 ||
			    (l->max && l->count >= l->max) || (l->within && age > l->within))
				continue;
			if (l->cond) {
				if (!jv_is_valid(ev)) {
					jv_free(ev);
					ev = jrn_parse_checked_object(&L->evparser,
								      (const char *)sqlite3_column_text(evs, 2),
								      (size_t)sqlite3_column_bytes(evs, 2), e);
					if (!jv_is_valid(ev)) {
						/* one customer's bad record: that
						 * profile is rejected, the run goes on */
						jrn_err why = *e;
						const char *id = (const char *)sqlite3_column_text(evs, 3);
						jrn_fail(e, "stored event %.200s does not parse: %s",
							 id ? id : "?", why.msg);
						res = 0;
						break;
					}
				}
				int r = jrn_rule_eval(l->cond, 0, ev, NULL, e);
				if (r == JRN_RULE_REJECT) {
					res = 0;
					break;
				}
				if (r == JRN_RULE_FAIL) {
					res = jrn_say(-1, "%s", e->msg);
					break;
				}
				if (r != JRN_RULE_IN)
					continue;
			}
			l->count++;
			double w = L->half_life > 0
					   ? exp2(-(double)(age > 0 ? age : 0) / (double)L->half_life) : 1;
			sc[LEAD_BEHAVIORAL] += l->points * w;
		}
		jv_free(ev);
	}
	if (res == 1 && rc != SQLITE_DONE)
		res = score_db_fail(run, "reading events");
	sqlite3_reset(evs);
	return res;
}

/* Scores one profile (borrowed) into sc[3]: 1 done, 0 rejected (reason in
 * e), -1 failed (said). */
static int lead_score(score_run *run, lead_state *L, jv prof, double sc[3], jrn_err *e)
{
	int64_t now = jrn_now();
	sc[0] = sc[1] = sc[2] = 0;
	for (int i = 0; i < L->nrules; i++) {
		lead_rule *l = &L->rules[i];
		l->count = 0;
		if (l->kind == LEAD_BEHAVIORAL)
			continue;
		int r = jrn_rule_eval(l->cond, 0, prof, NULL, e);
		if (r == JRN_RULE_REJECT)
			return 0;
		if (r == JRN_RULE_FAIL)
			return jrn_say(-1, "%s", e->msg);
		if (r == JRN_RULE_IN)
			sc[l->kind] += l->points;
	}
	jv id = jv_object_get(jv_copy(prof), jv_string("customerId"));
	jv_kind ik = jv_get_kind(id);
	if (ik == JV_KIND_INVALID || ik == JV_KIND_NULL) {
		jv_free(id);
		return 1; /* no customer (a prospect): no events */
	}
	if (ik != JV_KIND_STRING) { /* a string everywhere: the events are keyed by it */
		jv_free(id);
		jrn_fail(e, "customerId: expected a string, got %s", jrn_kind_phrase(ik, false));
		return 0;
	}
	if (jrn_id_check(jv_string_value(id), (size_t)jv_string_length_bytes(jv_copy(id)),
			 "customerId", e) < 0) {
		jv_free(id);
		return 0;
	}
	sqlite3_bind_text(L->evs, 1, jv_string_value(id), jv_string_length_bytes(jv_copy(id)),
			  SQLITE_TRANSIENT);
	jv_free(id);
	sqlite3_bind_int64(L->evs, 2, now);
	return lead_behavior(run, L, now, sc, e);
}

/* A profile that cannot be scored: said (unless quiet), kept in --rejects.
 * 0 or -1 (the rejects file failed: said). */
static int lead_reject(score_run *run, const jrn_line *ln, const char *reason)
{
	char why[sizeof(jrn_err)];
	jrn_err e;
	snprintf(why, sizeof why, "%s", reason);
	const char *file = ln->file ? ln->file : "state";
	if (run->opts.verbosity >= 0)
		jrn_say(0, "%s:%llu: %s", file, (unsigned long long)ln->lineno, why);
	if (jrn_reject(&run->rej, file, ln->lineno, ln->p ? ln->p : "", ln->len, why, &e) < 0)
		return jrn_say(-1, "--rejects: %s", e.msg);
	return 0;
}

/* Prepares the statements and the source of profiles. 0 or -1 (said). */
static int lead_open(score_run *run, lead_state *L)
{
	/* the customer's events and those of every id linked to it (an
	 * anonymousId, an alias, a customer merged in: profile-read.h) */
	if (sqlite3_prepare_v2(run->db, "WITH RECURSIVE ids(x) AS (SELECT ?1 UNION SELECT value"
			       " FROM identities, ids WHERE kind = 'id' AND customer_id = ids.x)"
			       " SELECT type, ts, body, id FROM events WHERE customer_id IN ids"
			       " AND ts <= ?2 ORDER BY ts DESC, seq DESC", -1, &L->evs, NULL) != SQLITE_OK ||
	    (run->save && sqlite3_prepare_v2(run->db, "INSERT OR REPLACE INTO scores (customer_id,"
					     " kind, value, body, computed_at) VALUES (?, 'lead', ?,"
					     " ?, ?)", -1, &L->ins, NULL) != SQLITE_OK))
		return score_db_fail(run, "preparing");
	if (run->all) {
		jrn_err e;
		if (!(L->reader = jrn_profile_reader_open(run->db, JRN_PROFILE_FLAT_SCORES | JRN_PROFILE_SUMMARY,
							   &e)))
			return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	} else if (!(L->rd = jrn_reader_new(run->files, run->nfiles))) {
		return jrn_say(-1, "out of memory");
	} else {
		jrn_reader_idle_notice(L->rd, true);
	}
	return 0;
}

/* The next profile into *prof (and its line into *ln, for rejects): 1, or
 * 3 for an event (a record with a string "type": *ln is to pass through,
 * *prof unset), 0 at the end, 2 to go on to the next (a bad line rejected,
 * input that cannot be read said: *io_failed), -1 failed (said). */
static int lead_next(score_run *run, lead_state *L, jv *prof, jrn_line *ln, bool *io_failed)
{
	jrn_err e;
	int rc = jrn_reader_next(L->rd, ln, &e);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		jrn_say(-1, "%s", e.msg);
		*io_failed = true;
		return 2;
	}
	if (rc == 2) { /* input pauses: hand on what is done */
		if (!run->save && jrn_out_flush(&run->out) < 0 && run->out.err == EPIPE)
			return 0;
		return 2;
	}
	L->lines++;
	*prof = jrn_parse_object(&L->parser, ln->p, ln->len, &e);
	if (!jv_is_valid(*prof)) {
		jv_free(*prof);
		L->rejected++;
		return lead_reject(run, ln, e.msg) < 0 ? -1 : 2;
	}
	jv type = jv_object_get(jv_copy(*prof), jv_string("type"));
	bool event = jv_get_kind(type) == JV_KIND_STRING;
	jv_free(type);
	if (event) {
		jv_free(*prof);
		return 3;
	}
	return 1;
}

/* Writes line p[0..len) now, or with --save keeps it for after the commit,
 * so records and events come out in input order either way: 1, or 0 when
 * the reader went away (stop), -1 out of memory (said). */
static int lead_put(score_run *run, lead_state *L, const char *p, size_t len)
{
	if (run->save) {
		if (jrn_buf_add(&L->pending, p, len) < 0 || jrn_buf_addc(&L->pending, '\n') < 0)
			return jrn_say(-1, "out of memory");
	} else if (jrn_out_line(&run->out, p, len) < 0 && run->out.err == EPIPE) {
		return 0;
	}
	return 1;
}

/* --save: stores the scores `lead` (borrowed) of profile prof's customer,
 * if it has one, computed at now. 0 or -1 (said). */
static int lead_save(score_run *run, lead_state *L, jv prof, jv lead, double total, int64_t now)
{
	jrn_err e;
	int rc = 0;
	jv id = jv_object_get(jv_copy(prof), jv_string("customerId"));
	if (jv_get_kind(id) == JV_KIND_STRING) {
		jrn_buf_reset(&L->line);
		if (jrn_json_append(&L->line, jv_copy(lead), 0, &e) < 0) {
			jv_free(id);
			return jrn_say(-1, "%s", e.msg);
		}
		sqlite3_bind_text(L->ins, 1, jv_string_value(id), jv_string_length_bytes(jv_copy(id)),
				  SQLITE_TRANSIENT);
		sqlite3_bind_double(L->ins, 2, total);
		sqlite3_bind_text(L->ins, 3, L->line.p, (int)L->line.len, SQLITE_STATIC);
		sqlite3_bind_int64(L->ins, 4, now);
		int s = sqlite3_step(L->ins);
		sqlite3_reset(L->ins);
		if (s != SQLITE_DONE)
			rc = score_db_fail(run, "saving the scores");
		else
			L->saved++;
	}
	jv_free(id);
	return rc;
}

/* Scores, saves and writes one profile (consumed): 1 done, 2 rejected, 0
 * the reader went away (stop), -1 failed (said). */
static int lead_one(score_run *run, lead_state *L, jv prof, const jrn_line *ln, int64_t now)
{
	jrn_err e;
	double sc[3];
	int r = lead_score(run, L, prof, sc, &e);
	if (r <= 0) {
		jv_free(prof);
		return r < 0 || lead_reject(run, ln, e.msg) < 0 ? -1 : 2;
	}
	for (int k = 0; k < 3; k++)
		sc[k] = score_round(sc[k], 100);
	double total = score_round(sc[0] + sc[1] + sc[2], 100);
	const char *grade = total >= L->grade_hot ? "hot" : total >= L->grade_warm ? "warm" : "cold";
	jv lead = JV_OBJECT(jv_string("score"), jv_number(total),
			    jv_string("behavioral"), jv_number(sc[0]),
			    jv_string("demographic"), jv_number(sc[1]),
			    jv_string("firmographic"), jv_number(sc[2]),
			    jv_string("grade"), jv_string(grade));
	if (L->ins && lead_save(run, L, prof, lead, total, now) < 0) {
		jv_free(prof);
		jv_free(lead);
		return -1;
	}
	prof = jv_object_set(prof, jv_string("lead"), lead);
	jrn_buf_reset(&L->line);
	if (jrn_json_append(&L->line, prof, 0, &e) < 0)
		return jrn_say(-1, "%s", e.msg);
	/* with --save, records wait until the commit: stored before shown */
	L->scored++;
	return lead_put(run, L, L->line.p, L->line.len);
}

/* The summary line: the profiles scored, the events passed through, the
 * rejects and what was saved; "no input: nothing saved" for an empty input
 * with --save. */
static void lead_summary(score_run *run, const lead_state *L)
{
	if (run->save && !run->all && L->lines == 0) {
		score_summary(run, "no input: nothing saved");
		return;
	}
	char saved[48] = "";
	if (run->save)
		snprintf(saved, sizeof saved, "; %" PRIu64 " score%s %s", L->saved,
			 L->saved == 1 ? "" : "s", run->opts.dry_run ? "computed" : "saved");
	score_summary(run, "lead: %" PRIu64 " profile%s scored, %" PRIu64 " event%s passed through,"
		      " %" PRIu64 " rejected%s", L->scored, L->scored == 1 ? "" : "s", L->events,
		      L->events == 1 ? "" : "s", L->rejected, saved);
}

/* --all: what each customer's profile needs. */
typedef struct {
	score_run *run;
	lead_state *L;
	int64_t now;
	uint64_t n;
	int rc; /* lead_one's last: 0 stop, -1 failed */
	jrn_buf text;
} lead_all_ctx;

/* One customer's profile (lib/profile-read: traits, the unified fields,
 * consent, stored scores): scored as the record "state:N". */
static int lead_all_one(void *ctx, const char *cust, jrn_buf *members)
{
	(void)cust;
	lead_all_ctx *a = ctx;
	jrn_err e;
	a->n++;
	jrn_buf_reset(&a->text);
	jrn_buf_addc(&a->text, '{');
	jrn_buf_add(&a->text, members->p + 1, members->len - 1);
	if (jrn_buf_addc(&a->text, '}') < 0) {
		a->rc = jrn_say(-1, "out of memory");
		return -1;
	}
	jrn_line ln = {.file = NULL, .lineno = a->n, .p = a->text.p, .len = a->text.len};
	jv prof = jrn_parse_object(&a->L->parser, a->text.p, a->text.len, &e);
	if (!jv_is_valid(prof)) {
		jv_free(prof);
		a->L->rejected++;
		a->rc = lead_reject(a->run, &ln, e.msg) < 0 ? -1 : 2;
		return a->rc < 0 ? -1 : 0;
	}
	a->rc = lead_one(a->run, a->L, prof, &ln, a->now);
	if (a->rc == 2)
		a->L->rejected++;
	return a->rc <= 0 ? -1 : 0;
}

/* --all: every customer. 0 done, -1 failed (said). */
static int lead_all(score_run *run, lead_state *L, int64_t now)
{
	jrn_err e;
	lead_all_ctx a = {run, L, now, 0, 1, {0}};
	int rc = jrn_profile_read_all(L->reader, lead_all_one, &a, &e);
	jrn_buf_free(&a.text);
	if (rc < 0 && a.rc > 0)
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	return a.rc < 0 ? -1 : 0;
}

/* With --save, after the commit: writes the records and events kept. */
static void lead_flush_pending(score_run *run, const jrn_buf *p)
{
	for (size_t off = 0; off < p->len && !run->out.err;) {
		const char *nl = memchr(p->p + off, '\n', p->len - off);
		jrn_out_line(&run->out, p->p + off, (size_t)(nl - (p->p + off)));
		off = (size_t)(nl - p->p) + 1;
	}
}

int score_lead_check(score_run *run)
{
	lead_state L = {.grade_hot = 80, .grade_warm = 50};
	int rc = lead_config(run, &L);
	lead_free(&L);
	return rc < 0 ? JRN_EXIT_FAIL : JRN_EXIT_OK;
}

int score_lead(score_run *run)
{
	int status = JRN_EXIT_FAIL;
	lead_state L = {.grade_hot = 80, .grade_warm = 50};
	bool in_tx = false, io_failed = false;

	if (lead_config(run, &L) < 0 || lead_open(run, &L) < 0)
		goto done;
	if (run->save) {
		if (jrn_db_begin(run->db, NULL) < 0) {
			score_db_fail(run, "starting a transaction");
			goto done;
		}
		in_tx = true;
	}
	int64_t now = jrn_now();
	if (run->all && lead_all(run, &L, now) < 0)
		goto done;
	for (; !run->all;) {
		jv prof;
		jrn_line ln = {0};
		int rc = lead_next(run, &L, &prof, &ln, &io_failed);
		if (rc == 2)
			continue;
		if (rc == 3) { /* an event: unchanged, in its place */
			L.events++;
			rc = lead_put(run, &L, ln.p, ln.len);
		} else if (rc == 1) {
			rc = lead_one(run, &L, prof, &ln, now);
			if (rc == 2)
				L.rejected++;
		}
		if (rc < 0)
			goto done;
		if (rc == 0)
			break;
	}
	if (in_tx) {
		if (score_db_end(run) < 0)
			goto done;
		in_tx = false;
		lead_flush_pending(run, &L.pending);
	}
	jrn_out_flush(&run->out);
	lead_summary(run, &L);
	status = io_failed ? JRN_EXIT_FAIL : JRN_EXIT_OK;
done:
	if (in_tx)
		jrn_db_rollback(run->db);
	lead_free(&L);
	return status;
}
