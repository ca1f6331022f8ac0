/* jrn-ai's pure parts: the rules model's mapping on facts given as
 * numbers (rules.c; jrn-ai(1), RULES MODEL), the facts as the input's
 * object (facts.c), and the cache key (cache.c): injective over its
 * parts, independent of member order. */
#include <math.h>
#include <string.h>

#include "jrn-ai.h"
#include "unit.h"

/* Facts with no orders and no events. */
static ai_facts none(void)
{
	ai_facts f = {.last = NAN, .first_seen = NAN, .p_alive = NAN, .predicted = NAN,
		      .monetary = NAN};
	f.rfm = f.clv = f.lead = f.interests = jv_null();
	f.segments = jv_array();
	f.categories = jv_array();
	return f;
}

/* The state's member key as text (numbers as %g). */
static const char *member(jv st, const char *key)
{
	static char out[128];
	jv v = jv_object_get(jv_copy(st), jv_string(key));
	if (jv_get_kind(v) == JV_KIND_STRING)
		snprintf(out, sizeof out, "%s", jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		snprintf(out, sizeof out, "%g", jv_number_value(v));
	else
		snprintf(out, sizeof out, "(%d)", (int)jv_get_kind(v));
	jv_free(v);
	return out;
}

static void check_state(const ai_run *run, ai_facts f, const char *stage, const char *eng,
			const char *seg, const char *churn, const char *value, const char *what)
{
	jv st = ai_rules_state(run, &f);
	CHECK_STR(member(st, "journeyStage"), stage, "%s: journeyStage", what);
	CHECK_STR(member(st, "engagementLevel"), eng, "%s: engagementLevel", what);
	CHECK_STR(member(st, "segment"), seg, "%s: segment", what);
	CHECK_STR(member(st, "churnRiskScore"), churn, "%s: churnRiskScore", what);
	CHECK_STR(member(st, "predictedLifetimeValue"), value, "%s: predictedLifetimeValue", what);
	jv_free(st);
	ai_facts_clear(&f);
}

/* key's 32 bytes as hex into out[65]; out. */
static const char *key_hex(const unsigned char key[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", key[i]);
	return out;
}

int main(void)
{
	static ai_run run;
	run.playbook = jv_null();

	ai_facts f = none();
	check_state(&run, f, "awareness", "inactive", "new", "0.7", "0", "nothing known");

	f = none();
	f.v30 = 1;
	check_state(&run, f, "consideration", "low", "new", "0.3", "0", "one visit in 30 days");

	f = none();
	f.carts = 1;
	f.c7 = 1;
	f.v7 = 2;
	check_state(&run, f, "purchase", "high", "new", "0.7", "0", "a cart, 3 clicks and visits in 7 days");

	f = none();
	f.orders = 1;
	f.total = 100;
	f.last = 90;
	f.first_seen = 200;
	check_state(&run, f, "retention", "inactive", "active", "0.6321", "36.79",
		    "one order 90 days ago: the recency curve");

	f = none();
	f.orders = 6;
	f.total = 600;
	f.last = 10;
	f.o7 = 5;
	f.clv = jv_parse("{\"pAlive\":0.9,\"predictedValue\":250.555}");
	f.p_alive = 0.9;
	f.predicted = 250.555;
	check_state(&run, f, "advocacy", "high", "loyal", "0.1", "250.56", "clv known");

	f = none();
	f.orders = 3;
	f.last = 200;
	f.total = 30;
	check_state(&run, f, "retention", "inactive", "churned", "0.8916", "3.25",
		    "three orders, the last 200 days ago");

	f = none();
	f.orders = 1;
	f.last = 5;
	snprintf(f.rfm_segment, sizeof f.rfm_segment, "At Risk");
	f.monetary = 50;
	f.total = NAN;
	check_state(&run, f, "purchase", "inactive", "at_risk", "0.054", "47.3",
		    "RFM's At Risk; value from rfm.monetary");

	/* interests: traits first, then categories, no repeats */
	f = none();
	f.interests = jv_parse("[\"tea\",\"lamps\",3]");
	jv_free(f.categories);
	f.categories = jv_parse("[\"lamps\",\"mugs\"]");
	jv st = ai_rules_state(&run, &f);
	jv in = jv_object_get(st, jv_string("interests"));
	jv want = jv_parse("[\"tea\",\"lamps\",\"mugs\"]");
	CHECK(jv_equal(jv_copy(in), want), "interests: traits, then categories, strings once each");
	jv_free(in);

	/* the facts as the input's object */
	jv o = ai_facts_jv(&f);
	jv ev = jv_object_get(jv_copy(o), jv_string("events"));
	CHECK(jv_get_kind(ev) == JV_KIND_OBJECT && jv_object_length(jv_copy(ev)) == 7,
	      "facts: events has the 7 counts");
	jv_free(ev);
	jv fs = jv_object_get(o, jv_string("firstSeenDays"));
	CHECK(jv_get_kind(fs) == JV_KIND_NULL, "facts: an unknown first sight is null");
	jv_free(fs);
	ai_facts_clear(&f);

	/* the cache key: the layout of cache.c, injective */
	unsigned char a[32], b[32], c[32];
	ai_facts kf = none();
	ai_req ra = {.input = jv_parse("{\"customerId\":\"c1\",\"profile\":{\"a\":1,\"b\":2}}"),
		     .facts = &kf};
	ai_req rb = ra;
	CHECK(ai_cache_key("state", "gpt", "abc", &ra, -1, a) == 0 &&
	      ai_cache_key("state", "gpt", "abc", &rb, -1, b) == 0 && !memcmp(a, b, 32),
	      "cache key: the same question, the same key");
	CHECK(ai_cache_key("state", "gptabc", "", &ra, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: [model, version] is injective (gpt+abc is not gptabc+\"\")");
	CHECK(ai_cache_key("optimize", "gpt", "abc", &ra, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: the task is in it");
	CHECK(ai_cache_key("state", "gpt", "abc", &ra, 1764547200000, c) == 0 && memcmp(a, c, 32),
	      "cache key: the insights' computed_at is in it");
	kf.o7 = 1;
	CHECK(ai_cache_key("state", "gpt", "abc", &ra, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: a fact's number is in it");
	kf.o7 = 0;
	jv_free(kf.segments);
	kf.segments = jv_parse("[\"x\"]");
	CHECK(ai_cache_key("state", "gpt", "abc", &ra, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: a fact's object is in it");
	jv_free(kf.segments);
	kf.segments = jv_null();
	rb.input = jv_parse("{\"customerId\":\"c1\",\"profile\":{\"a\":12}}");
	CHECK(ai_cache_key("state", "gpt", "abc", &rb, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: the profile's fields are in it");
	jv_free(rb.input);
	rb.input = jv_parse("{\"customerId\":\"c2\",\"profile\":{\"a\":1,\"b\":2}}");
	CHECK(ai_cache_key("state", "gpt", "abc", &rb, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: the customer is in it");
	jv_free(rb.input);
	/* a profile read lightly: its spans, the fields by name */
	const char *names1[] = {"a", "b"}, *names2[] = {"b", "a"};
	const char *fv[] = {"1", "2"};
	size_t fl[] = {1, 1};
	ai_lite l1 = {.cid = "c1", .cidlen = 2, .nf = 2, .names = names1, .fv = fv, .fl = fl};
	ai_lite l2 = l1;
	ai_req rl = ra;
	rl.lite = &l1;
	unsigned char d[32];
	CHECK(ai_cache_key("state", "gpt", "abc", &rl, -1, c) == 0 && memcmp(a, c, 32),
	      "cache key: a profile read lightly is hashed as written, not as parsed");
	l2.names = names2;
	rl.lite = &l2;
	CHECK(ai_cache_key("state", "gpt", "abc", &rl, -1, d) == 0 && memcmp(c, d, 32),
	      "cache key (light): the fields' names are in it");
	l2 = l1;
	l2.cid = "c2";
	CHECK(ai_cache_key("state", "gpt", "abc", &rl, -1, d) == 0 && memcmp(c, d, 32),
	      "cache key (light): the customer is in it");
	l2 = l1;
	const char *fv2[] = {"1", NULL};
	l2.fv = fv2;
	CHECK(ai_cache_key("state", "gpt", "abc", &rl, -1, d) == 0 && memcmp(c, d, 32),
	      "cache key (light): whether a field is there is in it");
	l2 = l1;
	kf.text[0] = "{\"segment\":\"VIP\"}";
	kf.tlen[0] = strlen(kf.text[0]);
	CHECK(ai_cache_key("state", "gpt", "abc", &rl, -1, d) == 0 && memcmp(c, d, 32),
	      "cache key (light): a part carried as text is in it");
	kf.text[0] = NULL;
	kf.tlen[0] = 0;
	CHECK(ai_cache_key("state", "gpt", "abc", &rl, -1, d) == 0 && !memcmp(c, d, 32),
	      "cache key (light): the same spans, the same key");
	/* the bytes themselves: a key is what rows are found by, so one
	 * that changes orphans every row of every state file (cache.c's
	 * layout 3: a change is a new layout, said there). Pinned from the
	 * layout as first written: a parsed question, one read lightly, and
	 * optimize's read lightly with its state's spans */
	char hex[65];
	CHECK_STR(key_hex(a, hex), "169391202837b52d2576df7b319b51084a35d1cb551a153ba2c2d835b1fe126d", "cache key: layout 3's bytes, a parsed question");
	CHECK_STR(key_hex(c, hex), "df4513a8267df86a52bda9a7aa7eef94a99c900c492894783b748b77dc5c99aa", "cache key: layout 3's bytes, a question read lightly");
	ai_span sp[4] = {{"journeyStage", 12}, {"\"purchase\"", 10}, {"churnRiskScore", 14}, {"0.12", 4}};
	l2 = l1;
	l2.state = sp;
	l2.nstate = 2;
	l2.stated = true;
	CHECK(ai_cache_key("optimize", "gpt", "abc", &rl, 1764547200000, d) == 0, "cache key: optimize's");
	CHECK_STR(key_hex(d, hex), "cb0f46f5db6552738d024702ef59eab1b5c670f0e0cc2caddbc9b835a524e8f3", "cache key: layout 3's bytes, optimize's state read lightly");
	jv_free(ra.input);
	ai_facts_clear(&kf);

	/* an action's timing as a time to send (ai_timing_at) */
	const int64_t now = 1767225600000; /* 2026-01-01T00:00:00Z */
	static const struct { const char *t; int rc; int64_t after; } tm[] = {
		{"24h", 1, 86400000},           {"1h30m", 1, 5400000},
		{"in 2h", 1, 7200000},          {"In 3d", 1, 259200000},
		{"2 hours", 1, 7200000},        {"in 3 days", 1, 259200000},
		{"1 week", 1, 604800000},       {" 10 minutes ", 1, 600000},
		{"2026-01-02T09:00:00+01:00", 1, 115200000}, /* 08:00Z: 32 h */
		{"now", 0, 0},                  {"Immediately", 0, 0}, {"", 0, 0}, {"  ", 0, 0},
		{"next tuesday", -1, 0},        {"2 fortnights", -1, 0}, {"-2h", -1, 0},
		{"in", -1, 0},                  {"2026-01-02", -1, 0},
	};
	for (size_t i = 0; i < sizeof tm / sizeof *tm; i++) {
		int64_t at = -1;
		int rc = ai_timing_at(tm[i].t, strlen(tm[i].t), now, &at);
		CHECK(rc == tm[i].rc && (rc != 1 || at == now + tm[i].after),
		      "timing '%s': %d, %lld ms after now", tm[i].t, rc, (long long)(at - now));
	}
	ai_keys_free();
	return unit_done();
}
