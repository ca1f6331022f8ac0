/* policy.c: the policy: section of the configuration (jrn.yaml(5)), read
 * once and checked. The schema (lib/config-schema.c) types most keys at
 * load; what it leaves open (cooldown, budgets, fallback) is checked
 * here, each message naming its key. */
#include <stdlib.h>
#include <string.h>

#include "jrn-route.h"

const char *const chan_names[NCHAN] = {"email", "sms", "whatsapp", "webhook", "retargeting"};

static unsigned memo_gen; /* policy_load's count: the memo's generation (below) */

static int clock_minutes(const char *s)
{
	return ((s[0] - '0') * 10 + (s[1] - '0')) * 60 + (s[3] - '0') * 10 + (s[4] - '0');
}

/* policy.quietHours: both ends, or neither. */
static int load_quiet(policy *P, jv cfg, jrn_err *e)
{
	char *start = NULL, *end = NULL;
	int a = jrn_config_string(cfg, "policy.quietHours.start", &start, e);
	int b = a < 0 ? -1 : jrn_config_string(cfg, "policy.quietHours.end", &end, e);
	int rc = 0;
	if (a < 0 || b < 0)
		rc = -1;
	else if (a != b)
		rc = jrn_fail(e, "policy.quietHours: give both start and end (HH:MM, local time)");
	else if (a == 1) {
		P->quiet = true;
		P->quiet_start = clock_minutes(start);
		P->quiet_end = clock_minutes(end);
		if (P->quiet_start == P->quiet_end)
			rc = jrn_fail(e, "policy.quietHours: start and end are the same time");
	}
	free(start);
	free(end);
	return rc;
}

static int load_caps(policy *P, jv cfg, jrn_err *e)
{
	for (int c = 0; c <= NCHAN; c++) {
		char key[64];
		const char *name = c == CAP_ALL ? "all" : chan_names[c];
		P->caps[c].max = -1;
		snprintf(key, sizeof key, "policy.caps.%s.max", name);
		int m = jrn_config_int(cfg, key, &P->caps[c].max, e);
		snprintf(key, sizeof key, "policy.caps.%s.window", name);
		int w = m < 0 ? -1 : jrn_config_duration(cfg, key, &P->caps[c].window, e);
		if (m < 0 || w < 0)
			return -1;
		if (m == 0 && w == 0)
			continue;
		if (m == 0 || w == 0)
			return jrn_fail(e, "policy.caps.%s: give both max and window", name);
		if (P->caps[c].window > P->lookback)
			P->lookback = P->caps[c].window;
	}
	return 0;
}

/* A duration value (borrowed) by the configuration's one rule: 0 with *ms,
 * -1 with e. */
static int duration_of(jv val, int64_t *ms, jrn_err *e)
{
	jv o = jv_object_set(jv_object(), jv_string("d"), jv_copy(val));
	int rc = jrn_config_duration(o, "d", ms, e);
	jv_free(o);
	if (rc == 0)
		jrn_fail(e, "expected a duration such as 14d");
	return rc == 1 ? 0 : -1;
}

/* policy.cooldown into {name: ms}. */
static int load_cooldown(policy *P, jv cfg, jrn_err *e)
{
	jv v = jrn_config_get(cfg, "policy.cooldown");
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return 0;
	}
	int rc = 0;
	jv_object_foreach(v, k, val) {
		int64_t ms;
		jrn_err why;
		if (rc == 0 && duration_of(val, &ms, &why) < 0)
			rc = jrn_fail(e, "policy.cooldown.%.100s: %s", jv_string_value(k), why.msg);
		if (rc == 0) {
			P->cooldown = jv_object_set(P->cooldown, jv_copy(k), jv_number((double)ms));
			if (ms > P->lookback)
				P->lookback = ms;
		}
		jv_free(k);
		jv_free(val);
	}
	jv_free(v);
	return rc;
}

static int load_budgets(policy *P, jv cfg, jrn_err *e)
{
	jv v = jrn_config_get(cfg, "policy.budgets");
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return 0;
	}
	int rc = 0;
	jv_object_foreach(v, k, val) {
		if (rc == 0 && (jv_get_kind(val) != JV_KIND_NUMBER || !(jv_number_value(val) >= 0)))
			rc = jrn_fail(e, "policy.budgets.%.100s: expected an amount at least 0",
				      jv_string_value(k));
		if (rc == 0)
			P->budgets = jv_object_set(P->budgets, jv_copy(k), jv_copy(val));
		jv_free(k);
		jv_free(val);
	}
	jv_free(v);
	return rc;
}

static int load_fallback(policy *P, jv cfg, jrn_err *e)
{
	jv v = jrn_config_get(cfg, "policy.fallback");
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		P->fallback[0] = CH_WHATSAPP, P->fallback[1] = CH_SMS, P->fallback[2] = CH_EMAIL;
		P->nfallback = 3;
		return 0;
	}
	int rc = 0;
	P->nfallback = 0;
	jv_array_foreach(v, i, item) {
		int c = -1;
		for (int k = CH_EMAIL; k <= CH_WHATSAPP; k++)
			if (jv_get_kind(item) == JV_KIND_STRING && !strcmp(jv_string_value(item), chan_names[k]))
				c = k;
		for (int k = 0; c >= 0 && k < P->nfallback; k++)
			if (P->fallback[k] == c)
				c = -1;
		if (c < 0 && rc == 0)
			rc = jrn_fail(e, "policy.fallback[%d]: expected whatsapp, sms or email, each once", i);
		else if (c >= 0)
			P->fallback[P->nfallback++] = c;
		jv_free(item);
	}
	jv_free(v);
	return rc;
}

int policy_load(policy *P, jv cfg, jrn_err *e)
{
	memset(P, 0, sizeof *P);
	if (!++memo_gen) /* the memo's answers were another policy's */
		memo_gen = 1;
	P->cooldown = jv_object();
	P->budgets = jv_object();
	P->trigger_window = 86400000;
	if (jrn_config_string(cfg, "policy.timeZone", &P->zone, e) < 0)
		return -1;
	if (!P->zone && !(P->zone = strdup("UTC")))
		return jrn_fail(e, "out of memory");
	jrn_err z;
	if (zone_check(P->zone, &z) < 0) /* said as written when it came from ${NAME} */
		return jrn_fail(e, "policy.timeZone: '%.64s' is not a time zone of the system's zoneinfo",
				jrn_config_shown(cfg, "policy.timeZone", P->zone));
	int r = jrn_config_string(cfg, "policy.defaultRegion", &P->region, e);
	if (r == 0)
		r = jrn_config_string(cfg, "ingest.defaultCountry", &P->region, e);
	if (r < 0)
		return -1;
	if (jrn_config_duration(cfg, "policy.triggerWindow", &P->trigger_window, &z) < 0)
		return jrn_fail(e, "policy.triggerWindow: %s", z.msg);
	P->lookback = P->trigger_window;
	if (load_quiet(P, cfg, e) < 0 || load_caps(P, cfg, e) < 0 || load_cooldown(P, cfg, e) < 0 ||
	    load_budgets(P, cfg, e) < 0 || load_fallback(P, cfg, e) < 0)
		return -1;
	for (int c = 0; c < NCHAN; c++) {
		char key[64];
		snprintf(key, sizeof key, "policy.cost.%s", chan_names[c]);
		if (jrn_config_number(cfg, key, &P->cost[c], e) < 0)
			return -1;
		if (!(P->cost[c] >= 0))
			return jrn_fail(e, "%s: expected an amount at least 0", key);
	}
	return 0;
}

void policy_free(policy *P)
{
	free(P->zone);
	free(P->region);
	jv_free(P->cooldown);
	jv_free(P->budgets);
	P->zone = P->region = NULL;
	P->cooldown = P->budgets = jv_invalid();
}

/* The answers of policy_cooldown and policy_budget are remembered by name
 * (they are asked for every action, and a run has few campaigns): a
 * direct-mapped memo of POLICY_MEMO names of at most 47 bytes, each entry
 * valid for the policy_load that filled it (memo_gen). */
#define POLICY_MEMO 256
static struct policy_memo {
	unsigned gen;      /* 0: empty */
	char name[48];
	int has;           /* budget: 1 with amount, 0 none */
	double amount;     /* budget's amount; cooldown's ms */
} cooldown_memo[POLICY_MEMO], budget_memo[POLICY_MEMO];

static struct policy_memo *memo_find(struct policy_memo *memo, const char *name, bool *hit)
{
	size_t n = strlen(name);
	*hit = false;
	if (n >= sizeof memo->name)
		return NULL;
	struct policy_memo *m = &memo[jrn_hash64(name, n) % POLICY_MEMO];
	*hit = m->gen == memo_gen && !strcmp(m->name, name);
	if (!*hit) {
		m->gen = memo_gen;
		memcpy(m->name, name, n + 1);
	}
	return m;
}

/* name's number in obj, else "*"'s: 1 with *out, 0 none. Borrows obj. */
static int number_or_default(jv obj, const char *name, double *out)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(name));
	if (jv_get_kind(v) != JV_KIND_NUMBER) {
		jv_free(v);
		v = jv_object_get(jv_copy(obj), jv_string("*"));
	}
	int rc = jv_get_kind(v) == JV_KIND_NUMBER;
	if (rc)
		*out = jv_number_value(v);
	jv_free(v);
	return rc;
}

int64_t policy_cooldown(const policy *P, const char *name)
{
	bool hit;
	struct policy_memo *m = memo_find(cooldown_memo, name, &hit);
	if (hit)
		return (int64_t)m->amount;
	double ms = 0;
	if (!number_or_default(P->cooldown, name, &ms))
		ms = 0;
	if (m)
		m->amount = ms;
	return (int64_t)ms;
}

int policy_budget(const policy *P, const char *campaign, double *amount)
{
	bool hit;
	struct policy_memo *m = memo_find(budget_memo, campaign, &hit);
	if (hit) {
		*amount = m->amount;
		return m->has;
	}
	int rc = number_or_default(P->budgets, campaign, amount);
	if (m)
		m->has = rc, m->amount = rc ? *amount : 0;
	return rc;
}
