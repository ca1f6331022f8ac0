/* gate.c: the policy gate, its rules in the order of jrn-route(1) GATE:
 *
 *   recipient valid for the channel -> holdout -> consent and suppressions ->
 *   quiet hours -> frequency caps -> cooldown -> same trigger once per
 *   window -> idempotency key -> channel fallback -> budget.
 *
 * The first two are asked of each channel of the fallback chain (the
 * action's channel first, then the cheaper ones after it in
 * policy.fallback), so the action goes on the first channel that may
 * carry it; a budget too small for that channel tries the later ones.
 * Transactional actions pass quiet hours and caps, and need no
 * marketing consent, but never go to a suppressed address (a bounce, a
 * STOP). A key sent before whose record jrn-send rejected goes out again
 * (a resend) on its channel, past the key and budget rules. */
#include <stdlib.h>
#include <string.h>

#include "jrn-route.h"

const char *const decision_names[3] = {"send", "defer", "suppress"};

/* What the candidates came to. */
enum { C_OK, C_NO_RECIPIENT, C_INVALID, C_SUPPRESSED, C_REFUSED, C_ERASED };
static const char *const cand_reasons[] = {NULL, "no_recipient", "recipient_invalid",
					   "suppressed", "consent_revoked", "erased"};

static bool uses_phone(int c)
{
	return c == CH_SMS || c == CH_WHATSAPP;
}

/* A phone number in E.164 (jrn_phone_e164 under policy's region) into to:
 * 0, or -1 when it is not one. A customer's number comes back with each
 * of their actions: jrn_phone_memo remembers the answers (one region a
 * run: the policy's). */
static jrn_phone_memo *phone_memo;

static int phone_e164(route_run *R, const char *raw, jrn_buf *to)
{
	jrn_buf_reset(to);
	if (!phone_memo && !(phone_memo = jrn_phone_memo_new(R->P.region)))
		return jrn_phone_e164(raw, strlen(raw), R->P.region, to, NULL);
	return jrn_phone_memo_e164(phone_memo, raw, strlen(raw), to);
}

void gate_free(void)
{
	jrn_phone_memo_free(phone_memo);
	phone_memo = NULL;
}

/* Rule 1: a's recipient on channel c, normalized into R->scratch and
 * *addr (untouched for a channel that needs none): C_OK, C_NO_RECIPIENT
 * or C_INVALID. */
static int recipient(route_run *R, const action *a, int c, jrn_reach_text *addr)
{
	jrn_buf *to = &R->scratch;
	jrn_err why;
	jrn_buf_reset(to);
	if (c == CH_EMAIL || uses_phone(c)) {
		const char *raw = a->f[c == CH_EMAIL ? F_EMAIL : F_PHONE];
		if (!raw)
			return C_NO_RECIPIENT;
		int rc = c == CH_EMAIL ? jrn_email_normalize(raw, strlen(raw), to, &why)
				       : phone_e164(R, raw, to);
		if (rc < 0 || !to->p)
			return C_INVALID;
		*addr = (jrn_reach_text){to->p, to->len};
	}
	return C_OK;
}

/* The handle whose memo is on (jrn_reach_memo: consent and suppressions
 * looked up in memory while no other connection writes them). */
static jrn_reach *memo_for;

/* May a go on channel c? C_OK or another C_, or -1 with e. */
static int candidate(route_run *R, const action *a, int c, jrn_err *e)
{
	jrn_err why;
	jrn_reach_text addr[2] = {jrn_reach_str(a->f[F_CUSTOMER]), {NULL, 0}};
	int rr = recipient(R, a, c, &addr[1]);
	if (rr != C_OK)
		return rr;
	jrn_reach_ask q = {
		.customer = a->transactional ? (jrn_reach_text){NULL, 0} : jrn_reach_str(a->f[F_CUSTOMER]),
		.addresses = addr,
		.naddresses = 2,
		.channel = chan_names[c],
		.purpose = a->transactional ? JRN_REACH_TRANSACTIONAL : JRN_REACH_MARKETING,
	};
	jrn_reach_verdict v;
	if (memo_for != R->reach) { /* the gate only reads them: jrn_reach_memo */
		if (jrn_reach_memo(R->reach, true, &why) < 0)
			return jrn_fail(e, "reading suppressions: %s", why.msg);
		memo_for = R->reach;
	}
	jrn_reach_memo_tx(R->reach, R->sdb ? R->db_tx : store_tx(R->st)); /* R->db's */
	int rc = jrn_reach_may(R->reach, &q, &v, &why);
	if (rc < 0)
		return jrn_fail(e, "reading %s: %s", v.failed, why.msg);
	if (rc == 1)
		return C_OK;
	if (v.answer == JRN_REACH_SUPPRESSED)
		return v.reason && !strcmp(v.reason, "erased") ? C_ERASED : C_SUPPRESSED;
	return C_REFUSED;
}

/* The channels to try: a's own, then those after it in policy.fallback. */
static int chain_of(const route_run *R, const action *a, int out[4])
{
	int n = 0;
	out[n++] = a->channel;
	int at = -1;
	for (int i = 0; i < R->P.nfallback; i++)
		if (R->P.fallback[i] == a->channel)
			at = i;
	for (int i = at + 1; at >= 0 && i < R->P.nfallback; i++)
		out[n++] = R->P.fallback[i];
	return n;
}

/* The idempotency key: the action's, else SHA-256 of a JSON array (an
 * injective join: each member a JSON string or null): [customer,
 * journey, version, step, enrollment] for a journey's action, else
 * [customer, campaign, channel, template, trigger, the UTC date of t].
 * The array's text is built directly (no jv values: this runs for every
 * action). 0, -1 with e. */
static int make_key(route_run *R, const action *a, int64_t t, decision *d, jrn_err *e)
{
	if (a->f[F_KEY]) {
		d->key = a->f[F_KEY];
		return 0;
	}
	jrn_buf *b = &R->keytext;
	jrn_buf_reset(b);
	char ts[32], ver[24];
	const char *m[6];
	int n = 0;
	m[n++] = a->key_customer ? a->key_customer : a->f[F_CUSTOMER];
	if (a->f[F_JOURNEY]) {
		snprintf(ver, sizeof ver, "%lld", (long long)a->version);
		m[n++] = a->f[F_JOURNEY];
		m[n++] = a->has_version ? ver : NULL;
		m[n++] = a->f[F_STEP];
		m[n++] = a->f[F_ENROLLMENT];
	} else {
		jrn_time_format(t, ts);
		ts[10] = '\0';
		m[n++] = a->f[F_CAMPAIGN];
		m[n++] = chan_names[a->channel];
		m[n++] = a->f[F_TEMPLATE];
		m[n++] = a->f[F_TRIGGER];
		m[n++] = ts;
	}
	jrn_buf_adds(b, "[\"jrn-route/1\"");
	for (int i = 0; i < n; i++) {
		jrn_buf_addc(b, ',');
		if (!m[i])
			jrn_buf_adds(b, "null");
		else if (a->f[F_JOURNEY] && i == 2)
			jrn_buf_adds(b, m[i]); /* the version: a number */
		else
			jrn_json_append_str(b, m[i], strlen(m[i]));
	}
	if (jrn_buf_addc(b, ']') < 0)
		return jrn_fail(e, "out of memory");
	if (jrn_sha256_hex(b->p, b->len, d->keyhex) < 0)
		return jrn_fail(e, "SHA-256 failed");
	d->key = d->keyhex;
	d->key_derived = true;
	return 0;
}

/* The customer's zone: the action's timeZone (or profile.timeZone), the
 * profiles table's, policy.timeZone. NULL with why (a reject) when the
 * action's is not a zone; -1 on e through *fatal. */
static const char *zone_of(route_run *R, const action *a, char buf[ROUTE_ZONE_MAX + 2],
			   jrn_err *why, int *fatal, jrn_err *e)
{
	if (a->f[F_ZONE]) {
		jrn_err z;
		if (zone_check(a->f[F_ZONE], &z) < 0) {
			jrn_fail(why, "timeZone: %s", z.msg);
			return NULL;
		}
		return a->f[F_ZONE];
	}
	int rc = store_profile_zone(R->st, a->f[F_CUSTOMER], buf, e);
	if (rc < 0) {
		*fatal = 1;
		return NULL;
	}
	jrn_err ignored; /* a profile's zone that is not one: the policy's */
	return rc == 1 && zone_check(buf, &ignored) == 0 ? buf : R->P.zone;
}

/* What the recent sends say for caps, cooldown and the trigger window. */
typedef struct {
	const route_run *R;
	const action *a;
	int channel;
	int64_t t, now, cooldown;
	const char *offer;
	int64_t count[2], oldest[2]; /* [0] the channel's cap, [1] across channels */
	bool cooled, triggered;
} recent;

static void count_one(void *ctx, const char *channel, int64_t at, const char *offer,
		      const char *trigger, int64_t decided_at)
{
	recent *r = ctx;
	const policy *P = &r->R->P;
	if (channel) {
		const cap *cc = &P->caps[r->channel], *ca = &P->caps[CAP_ALL];
		if (cc->max >= 0 && !strcmp(channel, chan_names[r->channel]) && at > r->t - cc->window) {
			if (!r->count[0]++ || at < r->oldest[0])
				r->oldest[0] = at;
		}
		if (ca->max >= 0 && at > r->t - ca->window) {
			if (!r->count[1]++ || at < r->oldest[1])
				r->oldest[1] = at;
		}
	}
	if (r->cooldown > 0 && offer && r->offer && !strcmp(offer, r->offer) &&
	    at > r->t - r->cooldown)
		r->cooled = true;
	const char *tk = r->a->f[F_TRIGGER] ? r->a->f[F_TRIGGER] : r->a->f[F_JOURNEY];
	if (P->trigger_window > 0 && trigger && tk && !strcmp(trigger, tk) &&
	    decided_at > r->now - P->trigger_window)
		r->triggered = true;
}

/* Caps, cooldown, trigger: sets d (defer or suppress) and returns 1 when
 * one applies, 0 when none does, -1 with e. */
static int limits(route_run *R, const action *a, int64_t now, decision *d, jrn_err *e)
{
	const policy *P = &R->P;
	recent r = {.R = R, .a = a, .channel = d->channel, .t = d->send_at, .now = now};
	r.offer = a->f[F_OFFER] ? a->f[F_OFFER] : a->f[F_CAMPAIGN];
	r.cooldown = r.offer ? policy_cooldown(P, r.offer) : 0;
	bool capped = !a->transactional && (P->caps[d->channel].max >= 0 || P->caps[CAP_ALL].max >= 0);
	bool trig = P->trigger_window > 0 && (a->f[F_TRIGGER] || a->f[F_JOURNEY]);
	if (!capped && r.cooldown <= 0 && !trig)
		return 0;
	if (store_recent(R->st, a->f[F_CUSTOMER], now - P->lookback - 1, count_one, &r, e) < 0)
		return -1;
	for (int i = 0; capped && i < 2; i++) {
		const cap *c = &P->caps[i ? CAP_ALL : d->channel];
		if (c->max < 0 || r.count[i] < c->max)
			continue;
		d->kind = D_DEFER;
		d->reason = i ? "cap_all" : "cap_channel";
		int64_t free_at = r.oldest[i] + c->window;
		d->send_at = free_at > d->send_at ? free_at : d->send_at + c->window;
		return 1;
	}
	if (r.cooled || r.triggered) {
		d->kind = D_SUPPRESS;
		d->reason = r.cooled ? "cooldown" : "trigger_window";
		d->send_at = INT64_MIN;
		return 1;
	}
	return 0;
}

/* The budget of a's campaign on channel c: 1 fits (or none), 0 not, -1. */
static int fits_budget(route_run *R, const action *a, int c, jrn_err *e)
{
	double amount, spent;
	if (!a->f[F_CAMPAIGN] || !policy_budget(&R->P, a->f[F_CAMPAIGN], &amount))
		return 1;
	if (store_spent(R->st, a->f[F_CAMPAIGN], &spent, e) < 0)
		return -1;
	return spent + R->P.cost[c] <= amount + 1e-9;
}

/* The worst outcome of the chain when no channel is C_OK: the action's
 * own channel's, unless it has no recipient, then the first later one's
 * that has one. 2 a reject (no recipient anywhere: why), 0 with d set to
 * suppress. */
static int chain_fails(const action *a, int worst, decision *d, jrn_err *why)
{
	if (worst == C_NO_RECIPIENT) {
		jrn_fail(why, uses_phone(a->channel)
			 ? "no recipient: recipientPhone, profile.phone or phone"
			 : "no recipient: recipientEmail, profile.email or email");
		return 2;
	}
	d->kind = D_SUPPRESS;
	d->reason = cand_reasons[worst];
	return 0;
}

/* A holdout (an action with "holdout": true, a journey's control arm):
 * rule 1 alone over the chain, then suppressed "holdout" on the action's
 * own channel without asking consent or any later rule. 0 with d set, 2
 * a reject (why). */
static int holdout(route_run *R, const action *a, const int chain[4], int n, decision *d,
		   jrn_err *why)
{
	int worst = C_NO_RECIPIENT;
	for (int i = 0; i < n; i++) {
		jrn_reach_text addr;
		int rr = recipient(R, a, chain[i], &addr);
		if (rr == C_OK) {
			d->kind = D_SUPPRESS, d->reason = "holdout";
			return 0;
		}
		if (i == 0 || worst == C_NO_RECIPIENT)
			worst = rr;
	}
	return chain_fails(a, worst, d, why);
}

/* Recipient, reach and fallback: the first channel of the chain that may
 * carry a (the later ones are asked only when needed: ok[i] is -2 until
 * asked). 1 with d->channel set, 0 with d set to suppress, 2 a reject
 * (why), -1. */
static int choose(route_run *R, const action *a, int chain[4], int n, int ok[4], decision *d,
		  jrn_err *why, jrn_err *e)
{
	int worst = C_NO_RECIPIENT;
	for (int i = 0; i < n; i++)
		ok[i] = -2;
	for (int i = 0; i < n; i++) {
		ok[i] = candidate(R, a, chain[i], e);
		if (ok[i] < 0)
			return -1;
		if (ok[i] == C_OK) {
			d->channel = chain[i];
			return 1;
		}
		if (i == 0 || worst == C_NO_RECIPIENT)
			worst = ok[i];
	}
	return chain_fails(a, worst, d, why);
}

/* Rule 9's exception, a resend (jrn-route(1) Idempotency): the key was
 * decided send before, and jrn-send rejected that record itself, sending
 * nothing (deliveries.status rejected: a template missing, a field it
 * refuses). It goes again on the channel it was sent on (d->channel
 * chosen by rules 1-4 as usual; the first send's channel when that one
 * may still carry it, else suppressed for that channel's reason), through
 * the caps, cooldown and trigger window (store_recent leaves out the
 * sends jrn-send rejected: its first one is counted by no rule) but not
 * the key or the budget (its cost was spent then, on this channel). A
 * key resent and not yet taken by jrn-send is no resend again (a
 * duplicate). 1 with d decided (and a send's row written), 0 not a
 * resend (d as it was), -1 with e. */
static int resend(route_run *R, const action *a, decision *d, int64_t now, jrn_err *e)
{
	int first;
	int rc = store_resend(R->st, d->key, &first, e);
	if (rc <= 0)
		return rc;
	if (first != d->channel) {
		int ok = candidate(R, a, first, e);
		if (ok < 0)
			return -1;
		d->channel = first;
		if (ok != C_OK) {
			d->kind = D_SUPPRESS, d->reason = cand_reasons[ok], d->send_at = INT64_MIN;
			return 1;
		}
	}
	d->resend = true;
	if ((rc = limits(R, a, now, d, e)) != 0)
		return rc < 0 ? -1 : 1;
	d->kind = D_SEND, d->reason = "resend";
	d->has_cost = true, d->cost = R->P.cost[first];
	const char *tk = a->f[F_TRIGGER] ? a->f[F_TRIGGER] : a->f[F_JOURNEY];
	if (store_claim(R->st, a, d, tk, now, e) < 0)
		return -1;
	d->stored = true;
	return 1;
}

int gate_decide(route_run *R, const action *a, decision *d, jrn_err *why, jrn_err *e)
{
	int64_t now = jrn_now();
	int chain[4], ok[4];
	memset(d, 0, sizeof *d);
	d->channel = a->channel;
	d->send_at = INT64_MIN;
	int64_t t = a->send_at > now ? a->send_at : now;
	const char *cust = a->f[F_CUSTOMER], *raw = a->key_customer;
	int er = cust ? jrn_privacy_erased(R->privacy, cust, strlen(cust)) : 0;
	if (er == 0 && raw) /* (the id as written, when it names another now) */
		er = jrn_privacy_erased(R->privacy, raw, strlen(raw));
	if (er < 0)
		return jrn_fail(e, "the erased check failed (OpenSSL)");
	if (er) { /* jrn privacy erase: suppressed, and nothing of it kept */
		d->kind = D_SUPPRESS, d->reason = "erased", d->erased = true;
		return 0;
	}
	if (make_key(R, a, t, d, e) < 0)
		return -1;
	if (R->suppress_as) { /* a deferred action whose enrollment ended */
		d->kind = D_SUPPRESS, d->reason = R->suppress_as;
		return 0;
	}
	int n = chain_of(R, a, chain);
	if (a->holdout)
		return holdout(R, a, chain, n, d, why) == 2 ? 1 : 0;
	int rc = choose(R, a, chain, n, ok, d, why, e);
	if (rc != 1)
		return rc < 0 ? -1 : rc == 2 ? 1 : 0;
	d->kind = D_SEND;
	d->send_at = t;
	if (R->P.quiet && !a->transactional) {
		char buf[ROUTE_ZONE_MAX + 2];
		int fatal = 0;
		const char *zone = zone_of(R, a, buf, why, &fatal, e);
		if (!zone)
			return fatal ? -1 : 1;
		int64_t q = zone_after_quiet(zone, d->send_at, R->P.quiet_start, R->P.quiet_end);
		if (q != d->send_at)
			d->reason = "quiet_hours", d->send_at = q;
	}
	if ((rc = resend(R, a, d, now, e)) != 0)
		return rc < 0 ? -1 : 0;
	if ((rc = limits(R, a, now, d, e)) != 0)
		return rc < 0 ? -1 : 0;
	/* the budget: the chosen channel, else a later (cheaper) one of the
	 * chain (reads only); then the key, the rule before it: a send claims
	 * its key with its row (one probe of the key's index: store_claim),
	 * a budget's suppression asks whether the key was sent */
	int chosen = d->channel, at = 0;
	while (at < n && chain[at] != d->channel)
		at++;
	for (; at < n; at++) {
		if (ok[at] == -2 && (ok[at] = candidate(R, a, chain[at], e)) < 0)
			return -1;
		if (ok[at] != C_OK)
			continue;
		if ((rc = fits_budget(R, a, chain[at], e)) < 0)
			return -1;
		if (rc == 1)
			break;
	}
	if (at < n) { /* it fits: sent, unless its key was */
		double amount;
		d->budgeted = a->f[F_CAMPAIGN] && policy_budget(&R->P, a->f[F_CAMPAIGN], &amount);
		d->channel = chain[at];
		d->has_cost = true;
		d->cost = R->P.cost[chain[at]];
		if (d->channel != a->channel && !d->reason)
			d->reason = "fallback";
		const char *tk = a->f[F_TRIGGER] ? a->f[F_TRIGGER] : a->f[F_JOURNEY];
		if ((rc = store_claim(R->st, a, d, tk, now, e)) != 0) {
			d->stored = true;
			return rc < 0 ? -1 : 0;
		}
	} else { /* no room: the budget, unless its key was sent */
		if ((rc = store_key_sent(R->st, d->key, e)) <= 0) {
			d->kind = D_SUPPRESS, d->reason = "budget", d->send_at = INT64_MIN;
			return rc;
		}
	}
	/* a duplicate: on the channel chosen before the budget, at no cost */
	d->kind = D_SUPPRESS, d->reason = "duplicate", d->send_at = INT64_MIN;
	d->channel = chosen, d->has_cost = false, d->cost = 0;
	d->stored = false;
	return 0;
}
