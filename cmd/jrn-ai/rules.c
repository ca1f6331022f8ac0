/* rules.c: the `rules` model: the customer state by a fixed mapping from
 * what jrn knows (the input's facts: orders, event counts in windows,
 * rfm, clv, lead, segments; facts.c), and actions from the per-stage
 * playbook (ai.playbook, config.c's defaults). No network, deterministic:
 * the same input gives the same answer. The mapping, rule by rule, is
 * the table RULES MODEL of jrn-ai(1); change both together. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jrn-ai.h"

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
static const char *stage_of(const ai_facts *f)
{
	double orders = z(f->orders), last = f->last;
	if (orders >= 5 && !isnan(last) && last <= 90)
		return "advocacy";
	if (orders >= 2 || (orders == 1 && !isnan(last) && last > 30))
		return "retention";
	if (orders == 1 || z(f->carts) > 0)
		return "purchase";
	if (z(f->v30) + z(f->c30) > 0)
		return "consideration";
	return "awareness";
}

/* engagementLevel from opens, clicks and visits in 7 and 30 days. */
static const char *engagement_of(const ai_facts *f)
{
	double o7 = z(f->o7), c7 = z(f->c7), v7 = z(f->v7);
	double all30 = z(f->o30) + z(f->c30) + z(f->v30);
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
static double churn_of(const ai_facts *f)
{
	if (!isnan(f->p_alive))
		return round_to(fmin(1, fmax(0, 1 - f->p_alive)), 1e4);
	if (!isnan(f->last))
		return round_to(1 - exp(-fmax(0, f->last) / 90.0), 1e4);
	return z(f->o30) + z(f->c30) + z(f->v30) > 0 ? 0.3 : 0.7;
}

/* segment: from the RFM segment's name when it is one of the enum's
 * (VIP, Loyal, At Risk; Hibernating is churned), else from clv.pAlive,
 * recency and frequency. */
static const char *segment_of(const ai_facts *f)
{
	static const char *const map[][2] = {
		{"vip", "vip"}, {"loyal", "loyal"}, {"at risk", "at_risk"}, {"at_risk", "at_risk"},
		{"hibernating", "churned"}, {"churned", "churned"}, {"new", "new"}, {"active", "active"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(f->rfm_segment, map[i][0]))
			return map[i][1];
	double orders = z(f->orders), last = f->last, p = f->p_alive;
	if (orders >= 1 && ((!isnan(p) && p < 0.2) || (!isnan(last) && last > 180)))
		return "churned";
	if (orders >= 1 && ((!isnan(p) && p < 0.5) || (!isnan(last) && last > 90)))
		return "at_risk";
	if (orders >= 10)
		return "vip";
	if (orders >= 3)
		return "loyal";
	if (orders == 0 || (!isnan(f->first_seen) && f->first_seen <= 30))
		return "new";
	return "active";
}

/* predictedLifetimeValue: clv.predictedValue when known, else the spend
 * so far (orders.total, else rfm.monetary) times 1 - churnRiskScore.
 * Rounded to cents, at least 0. */
static double value_of(const ai_facts *f, double churn)
{
	double v = f->predicted;
	if (isnan(v))
		v = (isnan(f->total) ? z(f->monetary) : f->total) * (1 - churn);
	return round_to(fmax(0, v), 100);
}

/* The names the playbook is keyed by, as static strings (for ai_lit);
 * AI_PLAYS of them. */
static const char *const play_names[AI_PLAYS] = {
	"awareness", "consideration", "purchase", "retention", "advocacy", "at_risk", "churned",
};

/* s as the static string of play_names, or NULL. */
static const char *play_name(const char *s)
{
	for (size_t i = 0; i < sizeof play_names / sizeof *play_names; i++)
		if (!strcmp(s, play_names[i]))
			return play_names[i];
	return NULL;
}

/* The playbook's actions for a state: the segment's entry for at_risk and
 * churned when the playbook has one, else the stage's. A new reference,
 * an array (empty when the playbook has neither); *entry the index in
 * play_names of the entry taken, or AI_PLAYS (none) when entry is given. */
static jv plays_of_entry(const ai_run *run, const char *stage, const char *segment, int *entry)
{
	jv pb = run->playbook;
	if (entry)
		*entry = AI_PLAYS;
	if (jv_get_kind(pb) != JV_KIND_OBJECT)
		return jv_array();
	jv a = jv_invalid();
	stage = play_name(stage);
	segment = play_name(segment);
	const char *took = NULL;
	if (segment && (!strcmp(segment, "at_risk") || !strcmp(segment, "churned")))
		a = jv_object_get(jv_copy(pb), ai_lit(took = segment));
	if (jv_get_kind(a) != JV_KIND_ARRAY && stage) {
		jv_free(a);
		a = jv_object_get(jv_copy(pb), ai_lit(took = stage));
	}
	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		a = jv_array();
		took = NULL;
	}
	for (int i = 0; entry && took && i < AI_PLAYS; i++)
		if (took == play_names[i])
			*entry = i;
	return a;
}

static jv plays_of(const ai_run *run, const char *stage, const char *segment)
{
	return plays_of_entry(run, stage, segment, NULL);
}

/* interests: the profile's traits.interests (strings) then the facts'
 * categories, without repeats, at most 10. */
static jv interests_of(const ai_facts *f)
{
	jv out = jv_array();
	int n = 0;
	const jv lists[2] = {f->interests, f->categories};
	for (int l = 0; l < 2; l++) {
		if (jv_get_kind(lists[l]) != JV_KIND_ARRAY)
			continue;
		jv_array_foreach(lists[l], i, s) {
			bool dup = jv_get_kind(s) != JV_KIND_STRING || n >= 10;
			for (int k = 0; !dup && k < n; k++) {
				jv o = jv_array_get(jv_copy(out), k);
				dup = !strcmp(jv_string_value(o), jv_string_value(s));
				jv_free(o);
			}
			if (dup) {
				jv_free(s);
			} else {
				out = jv_array_append(out, s);
				n++;
			}
			(void)i;
		}
	}
	return out;
}

jv ai_rules_state(const ai_run *run, const ai_facts *f)
{
	const char *stage = stage_of(f), *eng = engagement_of(f);
	double churn = churn_of(f);
	const char *seg = segment_of(f);
	jv plays = plays_of(run, stage, seg);
	jv nba = jv_array();
	jv_array_foreach(plays, i, p) {
		jv c = jv_get_kind(p) == JV_KIND_OBJECT ? jv_object_get(p, KS("campaignId"))
							 : (jv_free(p), jv_invalid());
		nba = jv_get_kind(c) == JV_KIND_STRING ? jv_array_append(nba, c) : (jv_free(c), nba);
		(void)i;
	}
	jv_free(plays);
	jv st = jv_object();
	st = jv_object_set(st, KS("segment"), ai_lit(seg));
	st = jv_object_set(st, KS("engagementLevel"), ai_lit(eng));
	st = jv_object_set(st, KS("journeyStage"), ai_lit(stage));
	st = jv_object_set(st, KS("nextBestActions"), nba);
	st = jv_object_set(st, KS("predictedLifetimeValue"), jv_number(value_of(f, churn)));
	st = jv_object_set(st, KS("churnRiskScore"), jv_number(churn));
	st = jv_object_set(st, KS("interests"), interests_of(f));
	return st;
}

/* The state's string member key (borrowed state), copied into out[n]. */
static void state_str(jv state, const char *key, char *out, size_t n)
{
	jv v = jv_get_kind(state) == JV_KIND_OBJECT ? jv_object_get(jv_copy(state), ai_lit(key))
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

/* The channel index of play p (borrowed): 0 email, 1 sms, 2
 * retargeting, -1 other. */
static int channel_of(jv p)
{
	static const char *const ch[3] = {"email", "sms", "retargeting"};
	jv t = jv_get_kind(p) == JV_KIND_OBJECT ? jv_object_get(jv_copy(p), KS("actionType"))
						 : jv_invalid();
	int c = -1;
	for (int i = 0; i < 3 && jv_get_kind(t) == JV_KIND_STRING; i++)
		if (!strcmp(jv_string_value(t), ch[i]))
			c = i;
	jv_free(t);
	return c;
}

/* Whether channel a goes before channel b by the insights: a higher
 * conversionRate, else (equal, or either unknown) a higher clickRate; an
 * unknown rate is below every known one. */
static bool better(const ai_run *run, int a, int b)
{
	double ca = run->chan[a].conversion, cb = run->chan[b].conversion;
	double ka = run->chan[a].click, kb = run->chan[b].click;
	ca = isnan(ca) ? -1 : ca, cb = isnan(cb) ? -1 : cb;
	ka = isnan(ka) ? -1 : ka, kb = isnan(kb) ? -1 : kb;
	return ca > cb || (ca == cb && ka > kb);
}

/* The plays (consumed) in the insights' order (jrn-ai(1), INSIGHTS): the
 * plays on channels with at least ai.insights.minSends sends in the
 * latest insights are sorted among their own places by better(), stably;
 * the others keep their places. Without insights, plays as they are. */
static jv by_insights(const ai_run *run, jv plays)
{
	int n = jv_array_length(jv_copy(plays));
	if (run->insights_at < 0 || n < 2 || n > AI_MAX_ACTIONS)
		return plays;
	int ch[AI_MAX_ACTIONS], at[AI_MAX_ACTIONS], k = 0;
	for (int i = 0; i < n; i++) {
		jv p = jv_array_get(jv_copy(plays), i);
		ch[i] = channel_of(p);
		jv_free(p);
		if (ch[i] >= 0 && !isnan(run->chan[ch[i]].sent) &&
		    run->chan[ch[i]].sent >= (double)run->min_sends)
			at[k++] = i;
	}
	/* insertion sort of the places at[0..k) by their channels: stable */
	int order[AI_MAX_ACTIONS];
	for (int i = 0; i < k; i++) {
		int j = i;
		while (j > 0 && better(run, ch[at[i]], ch[order[j - 1]])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = at[i];
	}
	jv out = jv_copy(plays);
	for (int i = 0; i < k; i++)
		out = jv_array_set(out, at[i], jv_array_get(jv_copy(plays), order[i]));
	jv_free(plays);
	return out;
}

jv ai_rules_optimize(const ai_run *run, jv in)
{
	jv state = jv_object_get(jv_copy(in), KS("state"));
	char stage[32], seg[32];
	state_str(state, "journeyStage", stage, sizeof stage);
	state_str(state, "segment", seg, sizeof seg);
	jv_free(state);
	int entry;
	jv plays = plays_of_entry(run, stage, seg, &entry);
	/* the same entry, the same answer for the whole run: made once, then
	 * shared (jv_copy is a reference count) */
	jv *memo = run->rules_answers ? &run->rules_answers[entry] : NULL;
	if (memo && jv_is_valid(*memo)) {
		jv_free(plays);
		return jv_copy(*memo);
	}
	plays = by_insights(run, plays);
	jv acts = jv_array();
	int n = 0;
	jv_array_foreach(plays, i, p) {
		if (jv_get_kind(p) != JV_KIND_OBJECT || n >= AI_MAX_ACTIONS) {
			jv_free(p);
			continue;
		}
		jv a = jv_object();
		for (size_t k = 0; k < sizeof action_keys / sizeof *action_keys; k++) {
			jv v = jv_object_get(jv_copy(p), ai_lit(action_keys[k]));
			a = jv_object_set(a, ai_lit(action_keys[k]), jv_is_valid(v) ? v : jv_null());
		}
		jv_free(p);
		acts = jv_array_append(acts, a);
		n++;
		(void)i;
	}
	jv_free(plays);
	jv answer = jv_object_set(jv_object(), KS("actions"), acts);
	if (memo)
		*memo = jv_copy(answer);
	return answer;
}

/* The model's run: each question answered from its input. */
static int rules_run(ai_model *m, ai_req *reqs, size_t n, const ai_prompt *p, jrn_err *e)
{
	(void)e;
	for (size_t i = 0; i < n; i++) {
		jv_free(reqs[i].answer);
		reqs[i].answer = p->task == AI_STATE ? ai_rules_state(m->run, reqs[i].facts)
						     : ai_rules_optimize(m->run, reqs[i].input);
	}
	return 0;
}

int ai_timing_at(const char *s, size_t len, int64_t now, int64_t *at)
{
	char buf[64];
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (!len || (len == 3 && !strncasecmp(s, "now", 3)) ||
	    (len == 11 && !strncasecmp(s, "immediately", 11)))
		return 0;
	if (len >= sizeof buf)
		return -1;
	int64_t ms;
	if (jrn_time_parse(s, len, 0, &ms, NULL) == 0) {
		*at = ms;
		return 1;
	}
	if (len > 3 && !strncasecmp(s, "in ", 3))
		s += 3, len -= 3;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (jrn_duration_parse(buf, &ms, NULL) == 0 && ms >= 0) {
		*at = now + ms;
		return 1;
	}
	/* "2 hours", "3 days": one whole number and a unit's word */
	static const struct { const char *word; int64_t ms; } units[] = {
		{"minute", 60000}, {"hour", 3600000}, {"day", 86400000}, {"week", 604800000},
	};
	char *end;
	errno = 0;
	long long k = strtoll(buf, &end, 10);
	if (end == buf || errno || k < 0 || k > 100000 || *end != ' ')
		return -1;
	while (*end == ' ')
		end++;
	size_t wl = strlen(end);
	if (wl > 1 && (end[wl - 1] == 's' || end[wl - 1] == 'S'))
		wl--;
	for (size_t u = 0; u < sizeof units / sizeof *units; u++)
		if (wl == strlen(units[u].word) && !strncasecmp(end, units[u].word, wl)) {
			*at = now + k * units[u].ms;
			return 1;
		}
	return -1;
}

/* A model of kind rules reads kind (and price, read for every model)
 * and nothing else: another key (an openai model's temperature, say)
 * would be ignored, so it is refused as unknown (config.c's model_failed
 * says it at its place). */
static int rules_open(ai_model *m, jv conf, jrn_err *e)
{
	(void)m;
	int rc = 0;
	if (jv_get_kind(conf) != JV_KIND_OBJECT)
		return 0;
	jv_object_foreach(conf, k, v) {
		const char *ks = jv_string_value(k);
		if (rc == 0 && strcmp(ks, "kind") && strcmp(ks, "price"))
			rc = jrn_fail(e, "unknown key %s (a model of kind rules takes only kind and"
				      " price: its answers follow ai.playbook)", ks);
		jv_free(k);
		jv_free(v);
	}
	return rc;
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
