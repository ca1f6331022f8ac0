/* rules.c: the `rules` model: the customer state by a fixed mapping from
 * what jrn knows (the input's facts: orders, event counts in windows,
 * rfm, clv, lead, segments; facts.c), and actions from the per-stage
 * playbook (ai.playbook, config.c's defaults). No network, deterministic:
 * the same input gives the same answer. The mapping, rule by rule, is
 * the table RULES MODEL of jrn-ai(1); change both together. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

/* The number at input.facts.A.B (B NULL: input.facts.A), or NAN when
 * absent or not a number. Borrows input. */
static double fact(jv input, const char *a, const char *b)
{
	jv f = jv_object_get(jv_copy(input), jv_string("facts"));
	jv v = jv_get_kind(f) == JV_KIND_OBJECT ? jv_object_get(f, jv_string(a)) : (jv_free(f), jv_invalid());
	if (b)
		v = jv_get_kind(v) == JV_KIND_OBJECT ? jv_object_get(v, jv_string(b)) : (jv_free(v), jv_invalid());
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;
	jv_free(v);
	return isfinite(d) ? d : NAN;
}

/* The string at input.facts.A.B, copied into out[n] ("" when absent). */
static void fact_str(jv input, const char *a, const char *b, char *out, size_t n)
{
	jv f = jv_object_get(jv_copy(input), jv_string("facts"));
	jv v = jv_get_kind(f) == JV_KIND_OBJECT ? jv_object_get(f, jv_string(a)) : (jv_free(f), jv_invalid());
	v = jv_get_kind(v) == JV_KIND_OBJECT ? jv_object_get(v, jv_string(b)) : (jv_free(v), jv_invalid());
	snprintf(out, n, "%s", jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
	jv_free(v);
}

/* x, or 0 when NAN (a count that is absent counts as none). */
static double z(double x)
{
	return isnan(x) ? 0 : x;
}

static double round_to(double x, double scale)
{
	double r = round(x * scale) / scale;
	return r == 0 ? 0 : r;
}

/* journeyStage from the order history and recency (jrn-ai(1), RULES MODEL). */
static const char *stage_of(jv in)
{
	double orders = z(fact(in, "orders", "count"));
	double last = fact(in, "orders", "daysSinceLast");
	double carts = z(fact(in, "events", "carts30d"));
	double seen = z(fact(in, "events", "visits30d")) + z(fact(in, "events", "clicks30d"));
	if (orders >= 5 && !isnan(last) && last <= 90)
		return "advocacy";
	if (orders >= 2 || (orders == 1 && !isnan(last) && last > 30))
		return "retention";
	if (orders == 1 || carts > 0)
		return "purchase";
	if (seen > 0)
		return "consideration";
	return "awareness";
}

/* engagementLevel from opens, clicks and visits in 7 and 30 days. */
static const char *engagement_of(jv in)
{
	double o7 = z(fact(in, "events", "opens7d")), c7 = z(fact(in, "events", "clicks7d"));
	double v7 = z(fact(in, "events", "visits7d"));
	double all30 = z(fact(in, "events", "opens30d")) + z(fact(in, "events", "clicks30d")) +
		       z(fact(in, "events", "visits30d"));
	if (c7 + v7 >= 3 || o7 + c7 + v7 >= 5)
		return "high";
	if (o7 + c7 + v7 >= 1 || all30 >= 3)
		return "medium";
	if (all30 >= 1)
		return "low";
	return "inactive";
}

/* churnRiskScore: 1 - clv.pAlive when clv is known, else the recency
 * curve 1 - exp(-days since the last order / 90); without orders 0.3
 * when active in 30 days, else 0.7. Rounded to 1e-4. */
static double churn_of(jv in)
{
	double p = fact(in, "clv", "pAlive");
	if (!isnan(p))
		return round_to(fmin(1, fmax(0, 1 - p)), 1e4);
	double last = fact(in, "orders", "daysSinceLast");
	if (!isnan(last))
		return round_to(1 - exp(-fmax(0, last) / 90.0), 1e4);
	double all30 = z(fact(in, "events", "opens30d")) + z(fact(in, "events", "clicks30d")) +
		       z(fact(in, "events", "visits30d"));
	return all30 > 0 ? 0.3 : 0.7;
}

/* segment: from the RFM segment's name when it is one of the enum's
 * (VIP, Loyal, At Risk; Hibernating is churned), else from clv.pAlive,
 * recency and frequency. */
static const char *segment_of(jv in, double churn)
{
	char rfm[64];
	fact_str(in, "rfm", "segment", rfm, sizeof rfm);
	static const char *const map[][2] = {
		{"vip", "vip"}, {"loyal", "loyal"}, {"at risk", "at_risk"}, {"at_risk", "at_risk"},
		{"hibernating", "churned"}, {"churned", "churned"}, {"new", "new"}, {"active", "active"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(rfm, map[i][0]))
			return map[i][1];
	double orders = z(fact(in, "orders", "count"));
	double last = fact(in, "orders", "daysSinceLast");
	double first = fact(in, "orders", "daysSinceFirst");
	double p = fact(in, "clv", "pAlive");
	if (orders >= 1 && ((!isnan(p) && p < 0.2) || (!isnan(last) && last > 180)))
		return "churned";
	if (orders >= 1 && ((!isnan(p) && p < 0.5) || (!isnan(last) && last > 90)))
		return "at_risk";
	if (orders >= 10)
		return "vip";
	if (orders >= 3)
		return "loyal";
	if (orders == 0 || (!isnan(first) && first <= 30))
		return "new";
	(void)churn;
	return "active";
}

/* predictedLifetimeValue: clv.predictedValue when known, else the spend
 * so far (orders.total, else rfm.monetary) times 1 - churnRiskScore.
 * Rounded to cents, at least 0. */
static double value_of(jv in, double churn)
{
	double v = fact(in, "clv", "predictedValue");
	if (isnan(v)) {
		double spent = fact(in, "orders", "total");
		if (isnan(spent))
			spent = z(fact(in, "rfm", "monetary"));
		v = spent * (1 - churn);
	}
	return round_to(fmax(0, v), 100);
}

/* The playbook's actions for a state: the segment's entry for at_risk and
 * churned when the playbook has one, else the stage's. A new reference,
 * an array (empty when the playbook has neither). */
static jv plays_of(const ai_run *run, const char *stage, const char *segment)
{
	jv pb = run->playbook;
	if (jv_get_kind(pb) != JV_KIND_OBJECT)
		return jv_array();
	jv a = jv_invalid();
	if (!strcmp(segment, "at_risk") || !strcmp(segment, "churned"))
		a = jv_object_get(jv_copy(pb), jv_string(segment));
	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		a = jv_object_get(jv_copy(pb), jv_string(stage));
	}
	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		a = jv_array();
	}
	return a;
}

/* interests: the profile's traits.interests (strings) then the facts'
 * categories, without repeats, at most 10. */
static jv interests_of(jv in)
{
	jv out = jv_array();
	jv prof = jv_object_get(jv_copy(in), jv_string("profile"));
	jv tr = jv_get_kind(prof) == JV_KIND_OBJECT ? jv_object_get(prof, jv_string("traits"))
						     : (jv_free(prof), jv_invalid());
	jv ti = jv_get_kind(tr) == JV_KIND_OBJECT ? jv_object_get(tr, jv_string("interests"))
						   : (jv_free(tr), jv_invalid());
	jv f = jv_object_get(jv_copy(in), jv_string("facts"));
	jv cats = jv_get_kind(f) == JV_KIND_OBJECT ? jv_object_get(f, jv_string("categories"))
						    : (jv_free(f), jv_invalid());
	jv lists[2] = {ti, cats};
	for (int l = 0; l < 2; l++) {
		if (jv_get_kind(lists[l]) != JV_KIND_ARRAY)
			continue;
		jv_array_foreach(lists[l], i, s) {
			bool dup = jv_get_kind(s) != JV_KIND_STRING || jv_array_length(jv_copy(out)) >= 10;
			jv_array_foreach(out, k, o) {
				dup = dup || jv_equal(jv_copy(o), jv_copy(s));
				jv_free(o);
				(void)k;
			}
			out = dup ? (jv_free(s), out) : jv_array_append(out, s);
			(void)i;
		}
	}
	jv_free(ti);
	jv_free(cats);
	return out;
}

jv ai_rules_state(const ai_run *run, jv in)
{
	const char *stage = stage_of(in), *eng = engagement_of(in);
	double churn = churn_of(in);
	const char *seg = segment_of(in, churn);
	jv plays = plays_of(run, stage, seg);
	jv nba = jv_array();
	jv_array_foreach(plays, i, p) {
		jv c = jv_get_kind(p) == JV_KIND_OBJECT ? jv_object_get(p, jv_string("campaignId"))
							 : (jv_free(p), jv_invalid());
		nba = jv_get_kind(c) == JV_KIND_STRING ? jv_array_append(nba, c) : (jv_free(c), nba);
		(void)i;
	}
	jv_free(plays);
	jv st = jv_object();
	st = jv_object_set(st, jv_string("customerId"),
			   jv_object_get(jv_copy(in), jv_string("customerId")));
	st = jv_object_set(st, jv_string("segment"), jv_string(seg));
	st = jv_object_set(st, jv_string("engagementLevel"), jv_string(eng));
	st = jv_object_set(st, jv_string("journeyStage"), jv_string(stage));
	st = jv_object_set(st, jv_string("nextBestActions"), nba);
	st = jv_object_set(st, jv_string("predictedLifetimeValue"), jv_number(value_of(in, churn)));
	st = jv_object_set(st, jv_string("churnRiskScore"), jv_number(churn));
	st = jv_object_set(st, jv_string("interests"), interests_of(in));
	return st;
}

/* The state's string member key (borrowed state), copied into out[n]. */
static void state_str(jv state, const char *key, char *out, size_t n)
{
	jv v = jv_get_kind(state) == JV_KIND_OBJECT ? jv_object_get(jv_copy(state), jv_string(key))
						     : jv_invalid();
	snprintf(out, n, "%s", jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
	jv_free(v);
}

/* The action keys of the schema, in its order; a playbook entry's other
 * keys (template, priority...) are not the schema's and stay out. */
static const char *const action_keys[] = {
	"actionType", "messageContent", "campaignId", "recipientEmail", "recipientPhone",
	"subject", "timing", "testVariant", "metricsToTrack",
};

jv ai_rules_optimize(const ai_run *run, jv in)
{
	jv state = jv_object_get(jv_copy(in), jv_string("state"));
	char stage[32], seg[32];
	state_str(state, "journeyStage", stage, sizeof stage);
	state_str(state, "segment", seg, sizeof seg);
	jv_free(state);
	jv plays = plays_of(run, stage, seg);
	jv acts = jv_array();
	int n = 0;
	jv_array_foreach(plays, i, p) {
		if (jv_get_kind(p) != JV_KIND_OBJECT || n >= AI_MAX_ACTIONS) {
			jv_free(p);
			continue;
		}
		jv a = jv_object();
		for (size_t k = 0; k < sizeof action_keys / sizeof *action_keys; k++) {
			jv v = jv_object_get(jv_copy(p), jv_string(action_keys[k]));
			a = jv_object_set(a, jv_string(action_keys[k]), jv_is_valid(v) ? v : jv_null());
		}
		jv_free(p);
		acts = jv_array_append(acts, a);
		n++;
		(void)i;
	}
	jv_free(plays);
	return jv_object_set(jv_object(), jv_string("actions"), acts);
}

/* The model's run: each question answered from its input. */
static int rules_run(ai_model *m, ai_req *reqs, size_t n, const ai_prompt *p, jrn_err *e)
{
	(void)e;
	for (size_t i = 0; i < n; i++) {
		jv_free(reqs[i].answer);
		reqs[i].answer = p->task == AI_STATE ? ai_rules_state(m->run, reqs[i].input)
						     : ai_rules_optimize(m->run, reqs[i].input);
	}
	return 0;
}

static int rules_open(ai_model *m, jv conf, jrn_err *e)
{
	(void)m;
	(void)conf;
	(void)e;
	return 0;
}

static void rules_close(ai_model *m)
{
	(void)m;
}

const ai_model_ops rules_ops = {
	.kind = "rules",
	.network = false,
	.open = rules_open,
	.run = rules_run,
	.close = rules_close,
};
