/* record.c: an input line into an action (the fields jrn-send reads, and
 * the journey fields), and the decided record out: the line as read with
 * route spliced in before its closing brace, so every other byte passes
 * through as it came. */
#include <stdlib.h>
#include <string.h>

#include "jrn-route.h"

/* The top-level members the gate reads, found in one pass over the
 * record's members (asking jrn_json_find for each name scanned them all
 * once a name, 26 times a record). */
enum {
	K_TYPE, K_ACTIONTYPE, K_CHANNEL, K_STATE, K_HOLDOUT, K_JVERSION, K_SENDAT, K_PRIORITY,
	K_CATEGORY, K_CUSTOMER, K_CAMPAIGN, K_OFFER, K_TRIGGER, K_TEMPLATE, K_KEY, K_JOURNEY,
	K_STEP, K_ENROLLMENT, K_ENROLLMENTID, K_REMAIL, K_RPHONE, K_EMAIL, K_PHONE, K_ZONE,
	K_VARIANT, K_PROFILE, NKEYS
};
static const char *const key_names[NKEYS] = {
	"type", "actionType", "channel", "state", "holdout", "journeyVersion", "sendAt", "priority",
	"category", "customerId", "campaignId", "offerId", "trigger", "template", "idempotencyKey",
	"journey", "step", "enrollment", "enrollmentId", "recipientEmail", "recipientPhone",
	"email", "phone", "timeZone", "testVariant", "profile",
};

/* top[K_...]: the member of that name at the top of R->ix, or NULL, as
 * jrn_json_find(&R->ix, -1, name) answers (an escaped name is not one). */
static void find_top(const route_run *R, const jrn_json_member *top[NKEYS])
{
	static size_t len[NKEYS];
	if (!len[0])
		for (int k = 0; k < NKEYS; k++)
			len[k] = strlen(key_names[k]);
	memset(top, 0, NKEYS * sizeof *top);
	for (size_t i = 0; i < R->ix.n; i++) {
		const jrn_json_member *m = &R->ix.m[i];
		if (m->parent != -1 || m->kescaped)
			continue;
		for (int k = 0; k < NKEYS; k++)
			if (m->klen == len[k] && !memcmp(m->key, key_names[k], len[k])) {
				top[k] = m;
				break;
			}
	}
}

/* The string (or, for ids, number) member m (NULL: absent) named name
 * into slot: 1 with *out set, 0 absent or null, -1 with why when it is
 * another kind. An escaped string is decoded. */
static int get_m(route_run *R, const jrn_json_member *m, const char *name, int slot,
		 const char **out, bool number_ok, jrn_err *why)
{
	*out = NULL;
	if (!m || m->kind == 'n')
		return 0;
	if (m->kind != '"' && !(number_ok && m->kind == '0'))
		return jrn_fail(why, "%s: expected a string, got %s", name,
				jrn_json_kind_phrase_at(m->val, m->vlen));
	jrn_buf *b = &R->fbuf[slot];
	jrn_buf_reset(b);
	if (m->kind == '"' && m->escaped) {
		jv s = jrn_parse_value(m->val - 1, m->vlen + 2, NULL);
		if (jv_get_kind(s) == JV_KIND_STRING)
			jrn_buf_add(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
		jv_free(s);
	} else {
		jrn_buf_add(b, m->val, m->vlen);
	}
	if (!b->p && jrn_buf_add(b, "", 0) < 0)
		return jrn_fail(why, "out of memory");
	/* the gate reads these as C strings: a NUL inside would cut one
	 * ("email\u0000x" read as email, an address cut short); ids are
	 * checked by get_id with jrn_id_check, testVariant here */
	if ((!number_ok || slot == F_VARIANT) && memchr(b->p, '\0', b->len))
		return jrn_fail(why, "%s: a NUL character (\\u0000) inside", name);
	*out = b->p;
	return 1;
}

/* The top-level member top[k] as get_m. */
static int get(route_run *R, const jrn_json_member *const top[NKEYS], int k, int slot,
	       const char **out, bool number_ok, jrn_err *why)
{
	return get_m(R, top[k], key_names[k], slot, out, number_ok, why);
}

/* An id member: as get, then jrn_id_check (no NUL inside, no control). A
 * number is taken as its text, but for customerId, a string everywhere
 * (jrn-ingest and jrn-merge refuse a number too: the customer's events
 * and profile are keyed by the string). */
static int get_id(route_run *R, const jrn_json_member *const top[NKEYS], int k, int slot,
		  const char **out, jrn_err *why)
{
	const jrn_json_member *m = top[k];
	if (k == K_CUSTOMER && m && m->kind == '0')
		return jrn_fail(why, "customerId: expected a string, got %s",
				jrn_json_kind_phrase_at(m->val, m->vlen));
	int rc = get(R, top, k, slot, out, true, why);
	if (rc == 1 && jrn_id_check(*out, R->fbuf[slot].len, key_names[k], why) < 0)
		return -1;
	return rc;
}

/* The first of top-level top[k], profile.`inner`, top-level top[plain]
 * (plain -1: none). */
static int get_addr(route_run *R, const jrn_json_member *const top[NKEYS], int k,
		    const char *inner, int plain, int slot, const char **out, jrn_err *why)
{
	int rc = get(R, top, k, slot, out, false, why);
	const jrn_json_member *p = top[K_PROFILE];
	if (rc == 0 && p && p->kind == '{')
		rc = get_m(R, jrn_json_find(&R->ix, (int)(p - R->ix.m), inner), inner, slot, out,
			   false, why);
	if (rc == 0 && plain >= 0)
		rc = get(R, top, plain, slot, out, false, why);
	return rc;
}

static int read_channel(route_run *R, const jrn_json_member *const top[NKEYS], action *a,
			jrn_err *why)
{
	const char *ch;
	int rc = get(R, top, K_ACTIONTYPE, F_TEMPLATE, &ch, false, why);
	if (rc == 0)
		rc = get(R, top, K_CHANNEL, F_TEMPLATE, &ch, false, why);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return jrn_fail(why, "no channel: actionType (email, sms, whatsapp, webhook or "
				"retargeting)");
	for (int c = 0; c < NCHAN; c++)
		if (!strcmp(ch, chan_names[c])) {
			a->channel = c;
			return 0;
		}
	return jrn_fail(why, "actionType '%.64s' is not email, sms, whatsapp, webhook or retargeting",
			ch);
}

static bool is_transactional(route_run *R, const jrn_json_member *const top[NKEYS], jrn_err *why)
{
	const char *v;
	if (get(R, top, K_PRIORITY, F_TEMPLATE, &v, false, why) == 1 && !strcmp(v, "transactional"))
		return true;
	return get(R, top, K_CATEGORY, F_TEMPLATE, &v, false, why) == 1 &&
	       !strcmp(v, "transactional");
}

/* journeyVersion (a whole number) and sendAt (RFC 3339 with a zone). */
static int read_numbers(route_run *R, const jrn_json_member *const top[NKEYS], action *a,
			jrn_err *why)
{
	const jrn_json_member *m = top[K_JVERSION];
	if (m && m->kind != 'n') {
		char *end;
		long long v = m->kind == '0' ? strtoll(m->val, &end, 10) : 0;
		if (m->kind != '0' || end != m->val + m->vlen || v < 0)
			return jrn_fail(why, "journeyVersion: expected a whole number at least 0");
		a->has_version = true;
		a->version = v;
	}
	const char *s;
	int rc = get(R, top, K_SENDAT, F_TEMPLATE, &s, false, why);
	if (rc < 0)
		return -1;
	jrn_err te;
	if (rc == 1 && jrn_time_parse(s, strlen(s), 0, &a->send_at, &te) < 0)
		return jrn_fail(why, "sendAt: expected an RFC 3339 time with a zone, such as "
				"2027-12-24T09:00:00Z (%s)", te.msg);
	return 0;
}

int record_read(route_run *R, const jrn_line *ln, action *a, jrn_err *why)
{
	memset(a, 0, sizeof *a);
	a->send_at = INT64_MIN;
	bool ready = R->ix_ready;
	R->ix_ready = false;
	size_t bad = jrn_utf8_invalid_at(ln->p, ln->len);
	if (bad < ln->len) {
		jrn_fail(why, "invalid UTF-8 at byte %zu", bad + 1);
		return 1;
	}
	if (!ready && jrn_json_index_build(&R->ix, ln->p, ln->len, 2, why) < 0)
		return 1;
	if (strcmp(jrn_json_kind_at(ln->p, ln->len), "object")) {
		jrn_fail(why, "not a JSON object (got %s)", jrn_json_kind_phrase_at(ln->p, ln->len));
		return 1;
	}
	const jrn_json_member *top[NKEYS];
	find_top(R, top);
	/* an event (a string type, no channel) is not an action: it passes
	 * through, for the journeys to come */
	const jrn_json_member *type = top[K_TYPE];
	bool channel = top[K_ACTIONTYPE] || top[K_CHANNEL];
	if (type && type->kind == '"' && !channel)
		return 2;
	/* a customer's state (jrn-ai: {"customerId", "state": {"journeyStage"}})
	 * passes through too, for the journeys' stage triggers */
	const jrn_json_member *state = top[K_STATE];
	if (state && state->kind == '{' && !type && !channel)
		return 2;
	a->text = ln->p;
	a->text_len = ln->len;
	const jrn_json_member *hold = top[K_HOLDOUT];
	if (hold && hold->kind != 'n') {
		if (hold->kind != 't' && hold->kind != 'f') {
			jrn_fail(why, "holdout: expected true or false, got %s",
				 hold->kind == '"' ? jrn_kind_phrase(JV_KIND_STRING, false)
						    : jrn_json_kind_phrase_at(hold->val, hold->vlen));
			return 1;
		}
		a->holdout = hold->kind == 't';
	}
	if (read_channel(R, top, a, why) < 0 || read_numbers(R, top, a, why) < 0)
		return 1;
	a->transactional = is_transactional(R, top, why);
	static const struct { int k, slot; } ids[] = {
		{K_CUSTOMER, F_CUSTOMER}, {K_CAMPAIGN, F_CAMPAIGN}, {K_OFFER, F_OFFER},
		{K_TRIGGER, F_TRIGGER}, {K_TEMPLATE, F_TEMPLATE}, {K_KEY, F_KEY},
		{K_JOURNEY, F_JOURNEY}, {K_STEP, F_STEP}, {K_ENROLLMENT, F_ENROLLMENT},
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (get_id(R, top, ids[i].k, ids[i].slot, &a->f[ids[i].slot], why) < 0)
			return 1;
	/* enrollmentId: the spelling before journeys wrote "enrollment" */
	if (!a->f[F_ENROLLMENT] &&
	    get_id(R, top, K_ENROLLMENTID, F_ENROLLMENT, &a->f[F_ENROLLMENT], why) < 0)
		return 1;
	if (!a->f[F_CUSTOMER]) {
		jrn_fail(why, "customerId: missing");
		return 1;
	}
	if (get_addr(R, top, K_REMAIL, "email", K_EMAIL, F_EMAIL, &a->f[F_EMAIL], why) < 0 ||
	    get_addr(R, top, K_RPHONE, "phone", K_PHONE, F_PHONE, &a->f[F_PHONE], why) < 0 ||
	    get_addr(R, top, K_ZONE, "timeZone", -1, F_ZONE, &a->f[F_ZONE], why) < 0 ||
	    get(R, top, K_VARIANT, F_VARIANT, &a->f[F_VARIANT], true, why) < 0)
		return 1;
	return 0;
}

/* A cost as JSON text into b, as jrn_json_append prints the number; a
 * run has a few costs (one a channel), so the last COST_MEMO are kept. */
#define COST_MEMO 8
static int cost_json(double cost, jrn_buf *b, jrn_err *e)
{
	static struct { double v; char text[40]; bool set; } memo[COST_MEMO];
	static unsigned next;
	for (int i = 0; i < COST_MEMO; i++)
		if (memo[i].set && !memcmp(&memo[i].v, &cost, sizeof cost))
			return jrn_buf_adds(b, memo[i].text) < 0 ? jrn_fail(e, "out of memory") : 0;
	size_t at = b->len;
	if (jrn_json_append(b, jv_number(cost), 0, e) < 0)
		return -1;
	if (b->len - at < sizeof memo[0].text) {
		unsigned i = next++ % COST_MEMO;
		memo[i].v = cost, memo[i].set = true;
		memcpy(memo[i].text, b->p + at, b->len - at);
		memo[i].text[b->len - at] = '\0';
	}
	return 0;
}

/* "name": into b */
static void add_name(jrn_buf *b, const char *name)
{
	jrn_buf_adds(b, ",\"");
	jrn_buf_adds(b, name);
	jrn_buf_adds(b, "\":");
}

/* route's value into b. */
static int route_json(const action *a, const decision *d, jrn_buf *b, jrn_err *e)
{
	char ts[32];
	jrn_buf_adds(b, "{\"decision\":\"");
	jrn_buf_adds(b, decision_names[d->kind]);
	jrn_buf_adds(b, "\",\"reason\":");
	if (d->reason) {
		jrn_buf_addc(b, '"');
		jrn_buf_adds(b, d->reason);
		jrn_buf_addc(b, '"');
	} else {
		jrn_buf_adds(b, "null");
	}
	jrn_buf_adds(b, ",\"sendAt\":");
	if (d->send_at != INT64_MIN) {
		jrn_time_format(d->send_at, ts);
		jrn_buf_addc(b, '"');
		jrn_buf_adds(b, ts);
		jrn_buf_addc(b, '"');
	} else {
		jrn_buf_adds(b, "null");
	}
	const char *strs[] = {"variant", a->f[F_VARIANT], "cost", NULL, "journey", a->f[F_JOURNEY],
			      "step", a->f[F_STEP]};
	for (size_t i = 0; i < 8; i += 2) {
		add_name(b, strs[i]);
		if (i == 2 && d->has_cost) {
			if (cost_json(d->cost, b, e) < 0)
				return -1;
		} else if (strs[i + 1]) {
			jrn_json_append_str(b, strs[i + 1], strlen(strs[i + 1]));
		} else {
			jrn_buf_adds(b, "null");
		}
	}
	if (a->has_version)
		jrn_buf_addf(b, ",\"version\":%lld", (long long)a->version);
	else
		jrn_buf_adds(b, ",\"version\":null");
	jrn_buf_adds(b, ",\"channel\":\"");
	jrn_buf_adds(b, chan_names[d->channel]);
	jrn_buf_addc(b, '"');
	if (d->channel != a->channel) {
		jrn_buf_adds(b, ",\"from\":\"");
		jrn_buf_adds(b, chan_names[a->channel]);
		jrn_buf_addc(b, '"');
	}
	jrn_buf_addc(b, '}');
	return b->p ? 0 : jrn_fail(e, "out of memory");
}

/* The slow way: the record as a jv, members set, printed again. */
static int write_jv(route_run *R, const jrn_line *ln, const action *a, const decision *d,
		    jv route, jrn_err *e)
{
	jrn_err why;
	jv rec = jrn_parse_checked_object(&R->parser, ln->p, ln->len, &why);
	if (!jv_is_valid(rec)) {
		jv_free(route);
		return jrn_fail(e, "%s", why.msg);
	}
	rec = jv_object_set(rec, jv_string("route"), route);
	if (d->channel != a->channel) {
		rec = jv_object_set(rec, jv_string("actionType"), jv_string(chan_names[d->channel]));
		if (jv_object_has(jv_copy(rec), jv_string("channel")))
			rec = jv_object_set(rec, jv_string("channel"), jv_string(chan_names[d->channel]));
	}
	if (d->key_derived)
		rec = jv_object_set(rec, jv_string("idempotencyKey"), jv_string(d->keyhex));
	return jrn_json_append(&R->batch, rec, 0, e);
}

int record_write(route_run *R, const jrn_line *ln, const action *a, const decision *d, jrn_err *e)
{
	jrn_buf *b = &R->scratch;
	jrn_buf_reset(b);
	if (route_json(a, d, b, e) < 0)
		return -1;
	bool slow = d->channel != a->channel;
	for (size_t i = 0; !slow && i < R->ix.n; i++) /* a route to replace, or a key we cannot see */
		slow = R->ix.m[i].parent == -1 &&
		       (R->ix.m[i].kescaped || (R->ix.m[i].klen == 5 && !memcmp(R->ix.m[i].key, "route", 5)));
	int rc;
	if (slow) {
		rc = write_jv(R, ln, a, d, jrn_parse_value(b->p, b->len, NULL), e);
	} else {
		size_t end = ln->len;
		while (end && ln->p[end - 1] != '}')
			end--;
		jrn_buf_add(&R->batch, ln->p, end - 1);
		if (R->ix.n > 0)
			jrn_buf_addc(&R->batch, ',');
		if (d->key_derived) {
			jrn_buf_adds(&R->batch, "\"idempotencyKey\":\"");
			jrn_buf_add(&R->batch, d->keyhex, 64);
			jrn_buf_adds(&R->batch, "\",");
		}
		jrn_buf_adds(&R->batch, "\"route\":");
		jrn_buf_add(&R->batch, b->p, b->len);
		rc = jrn_buf_addc(&R->batch, '}');
		if (rc < 0)
			jrn_fail(e, "out of memory");
	}
	return rc < 0 ? -1 : jrn_buf_addc(&R->batch, '\n');
}
