/*
 * attribution.c: jrn-report attribution. Conversions (order.completed
 * events with an amount, in the window) are credited to the customer's
 * touches (jrn-report.h: sends, opens, clicks, events with UTM campaign)
 * within the lookback before each, by the models of attribution.h; rows
 * per model and group (--by campaign and/or channel).
 *
 * Reading: two streams in (customer, time) order, merged here: the events
 * (conversions, opens and clicks, UTM-tagged events) by the index
 * events_customer, and the sends by deliveries_customer. Per customer a
 * queue holds the touches of the last lookback (a touch older than that is
 * in no later conversion's path); so memory is one customer's touches per
 * lookback, plus the groups.
 *
 * Touch fields:
 *   send          deliveries: campaign_id, channel, claimed_at (status
 *                 sent, queued or simulated)
 *   open, click   email.opened, email.clicked: the campaign and channel of
 *                 the deliveries row named by properties.deliveryKey, else
 *                 properties.campaignId and properties.channel (else email)
 *   UTM event     properties.utm_campaign, else context.campaign.name;
 *                 channel properties.utm_medium, else
 *                 context.campaign.medium, else "web"
 * A touch without a campaign counts under "(unknown)".
 *
 * A conversion's path: the touches in [t - lookback, t), in time order (a
 * touch at the conversion's own millisecond is not in its path). A
 * customer's non-converting path (Markov only): the touches in the window
 * [since, until) that are in no conversion's path, in time order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attribution.h"
#include "jrn-report.h"

#define ATTR_GROUPS_MAX 100000        /* groups in one report */
#define ATTR_MARKOV_GROUPS_MAX 1000   /* groups the Markov model solves */
#define ATTR_PATH_MAX 10000           /* touches of one customer's lookback */
#define ATTR_DEFAULT_LOOKBACK (30 * DAY_MS)
#define ATTR_DEFAULT_HALF_LIFE (7 * DAY_MS)
#define UNKNOWN_CAMPAIGN "(unknown)"

typedef struct {
	char *campaign, *channel;     /* NULL when not a --by field */
	double conv[ATTR_NMODELS], rev[ATTR_NMODELS];
	uint64_t touches;
} group;

typedef struct {
	attr_touch t;
	bool covered;                 /* in some conversion's path */
} qtouch;

typedef struct {
	report_run *run;
	int models[ATTR_NMODELS];     /* in --model order */
	int nmodels;
	bool want[ATTR_NMODELS];
	bool by_campaign, by_channel;
	int64_t lookback, half_life;
	int64_t since, until;         /* conversions; touches from since - lookback */
	/* groups: an array, and an open-addressing index of it */
	group *g;
	size_t ng, gcap;
	uint32_t *slot;               /* index + 1; 0 empty */
	size_t nslot;
	/* the conversions with no touch */
	uint64_t none_conv;
	double none_rev;
	/* touched conversions, for the Markov credit */
	uint64_t touched_conv;
	double touched_rev;
	attr_markov mk;
	/* one customer's queue and scratch */
	qtouch *q;
	size_t qhead, qlen, qcap;
	attr_touch *path;
	double *w;
	size_t pcap;
	int64_t null_last;            /* the Markov null path's last group, or -1 */
	uint64_t truncated;           /* touches dropped at ATTR_PATH_MAX */
} attr;

/* ---- options --------------------------------------------------------------- */

static int add_model(attr *a, const char *name, size_t len, const char *from)
{
	int m = attr_model_find(name, len);
	if (m < 0)
		return jrn_say(JRN_EXIT_USAGE,
			       "attribution: %s: no model '%.*s' (first, last, linear, time-decay, "
			       "position, markov)",
			       from, (int)len, name);
	if (a->want[m])
		return jrn_say(JRN_EXIT_USAGE, "attribution: %s: '%s' named twice", from,
			       attr_model_names[m]);
	a->want[m] = true;
	a->models[a->nmodels++] = m;
	return 0;
}

static int read_models(attr *a)
{
	report_run *run = a->run;
	if (run->model_flag) {
		const char *s = run->model_flag;
		for (;;) {
			const char *c = strchr(s, ',');
			size_t len = c ? (size_t)(c - s) : strlen(s);
			int rc = add_model(a, s, len, "--model");
			if (rc)
				return rc;
			if (!c)
				break;
			s = c + 1;
		}
		return 0;
	}
	jv list = jrn_config_get(run->opts.config, "report.attribution.models");
	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(list)), rc = 0;
		for (int i = 0; i < n && !rc; i++) {
			jv s = jv_array_get(jv_copy(list), i);
			const char *t = jv_string_value(s);
			rc = add_model(a, t, strlen(t), "report.attribution.models");
			jv_free(s);
		}
		jv_free(list);
		if (rc || a->nmodels)
			return rc;
	} else {
		jv_free(list);
	}
	for (int m = 0; m < ATTR_NMODELS; m++)
		add_model(a, attr_model_names[m], strlen(attr_model_names[m]), "default");
	return 0;
}

static int read_options(attr *a)
{
	report_run *run = a->run;
	static const char *const fields[] = {"campaign", "channel", NULL};
	int rc = report_by_check(run, fields, "campaign,channel");
	if (rc)
		return rc;
	a->by_campaign = report_by_index(run, "campaign") >= 0;
	a->by_channel = report_by_index(run, "channel") >= 0;
	rc = report_duration(run, run->lookback_flag, "--lookback", "report.attribution.lookback",
			     ATTR_DEFAULT_LOOKBACK, &a->lookback);
	if (!rc)
		rc = report_duration(run, run->half_life_flag, "--half-life",
				     "report.attribution.halfLife", ATTR_DEFAULT_HALF_LIFE,
				     &a->half_life);
	if (!rc)
		rc = read_models(a);
	a->since = run->since_ms;
	a->until = run->until_ms;
	return rc;
}

/* ---- groups ---------------------------------------------------------------- */

static uint64_t group_hash(const char *campaign, const char *channel)
{
	/* length-prefixed, so ("ab", "c") and ("a", "bc") differ */
	size_t a = campaign ? strlen(campaign) : 0, b = channel ? strlen(channel) : 0;
	uint64_t h = jrn_hash64(&a, sizeof a) * 31 + (campaign ? jrn_hash64(campaign, a) : 7);
	return (h * 31 + jrn_hash64(&b, sizeof b)) * 31 + (channel ? jrn_hash64(channel, b) : 7);
}

static bool same(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

static int rehash(attr *a, size_t nslot)
{
	uint32_t *s = calloc(nslot, sizeof *s);
	if (!s)
		return -1;
	for (size_t i = 0; i < a->ng; i++) {
		size_t j = group_hash(a->g[i].campaign, a->g[i].channel) & (nslot - 1);
		while (s[j])
			j = (j + 1) & (nslot - 1);
		s[j] = (uint32_t)(i + 1);
	}
	free(a->slot);
	a->slot = s;
	a->nslot = nslot;
	return 0;
}

/* The group of a touch (campaign and channel as read; NULL campaign:
 * "(unknown)"): its index, or -1 having said why. */
static int64_t group_of(attr *a, const char *campaign, const char *channel)
{
	if (!campaign)
		campaign = UNKNOWN_CAMPAIGN;
	if (!channel)
		channel = "";
	if (!a->by_campaign)
		campaign = NULL;
	if (!a->by_channel)
		channel = NULL;
	if (2 * (a->ng + 1) > a->nslot && rehash(a, a->nslot ? 2 * a->nslot : 256) < 0)
		return jrn_say(-1, "attribution: out of memory");
	size_t j = group_hash(campaign, channel) & (a->nslot - 1);
	while (a->slot[j]) {
		group *g = &a->g[a->slot[j] - 1];
		if (same(g->campaign, campaign) && same(g->channel, channel))
			return a->slot[j] - 1;
		j = (j + 1) & (a->nslot - 1);
	}
	if (a->ng == ATTR_GROUPS_MAX)
		return jrn_say(-1, "attribution: more than %d groups (ATTR_GROUPS_MAX); "
				   "narrow --by or the window",
			       ATTR_GROUPS_MAX);
	if (a->ng == a->gcap) {
		size_t cap = a->gcap ? 2 * a->gcap : 64;
		group *n = realloc(a->g, cap * sizeof *n);
		if (!n)
			return jrn_say(-1, "attribution: out of memory");
		a->g = n;
		a->gcap = cap;
	}
	group *g = &a->g[a->ng];
	memset(g, 0, sizeof *g);
	g->campaign = campaign ? strdup(campaign) : NULL;
	g->channel = channel ? strdup(channel) : NULL;
	if ((campaign && !g->campaign) || (channel && !g->channel)) {
		free(g->campaign);
		free(g->channel);
		return jrn_say(-1, "attribution: out of memory");
	}
	a->slot[j] = (uint32_t)(a->ng + 1);
	return (int64_t)a->ng++;
}

/* ---- one customer ---------------------------------------------------------- */

/* Says why a Markov transition could not be added; -1. */
static int markov_failed(void)
{
	if (errno == ERANGE)
		return jrn_say(-1, "attribution: markov: more than %d groups "
				   "(ATTR_MARKOV_GROUPS_MAX); narrow --by or the window, or leave "
				   "markov out of --model",
			       ATTR_MARKOV_GROUPS_MAX);
	return jrn_say(-1, "attribution: out of memory");
}

/* The customer's non-converting path grows by one touch, a transition at a
 * time (start -> first, ..., and at the customer's end last -> null). */
static int null_step(attr *a, uint32_t g)
{
	if (!a->want[ATTR_MARKOV])
		return 0;
	int64_t from = a->null_last < 0 ? ATTR_START : a->null_last;
	a->null_last = g;
	return attr_markov_edge(&a->mk, from, g) == 0 ? 0 : markov_failed();
}

static int reserve_path(attr *a, size_t n)
{
	if (n <= a->pcap)
		return 0;
	size_t cap = a->pcap ? a->pcap : 64;
	while (cap < n)
		cap *= 2;
	attr_touch *p = realloc(a->path, cap * sizeof *p);
	if (p)
		a->path = p;
	double *w = p ? realloc(a->w, cap * sizeof *w) : NULL;
	if (w)
		a->w = w;
	if (!p || !w)
		return jrn_say(-1, "attribution: out of memory");
	a->pcap = cap;
	return 0;
}

/* Takes the oldest touch off the queue: into the non-converting path when
 * no conversion took it and it is in the window. */
static int retire(attr *a)
{
	qtouch *t = &a->q[a->qhead];
	a->qhead++;
	a->qlen--;
	if (!t->covered && t->t.ts >= a->since && t->t.ts < a->until)
		return null_step(a, t->t.group);
	return 0;
}

static int retire_before(attr *a, int64_t ts)
{
	while (a->qlen && a->q[a->qhead].t.ts < ts)
		if (retire(a) < 0)
			return -1;
	return 0;
}

static int end_customer(attr *a)
{
	while (a->qlen)
		if (retire(a) < 0)
			return -1;
	a->qhead = 0;
	if (a->null_last >= 0) {
		int64_t last = a->null_last;
		a->null_last = -1;
		if (attr_markov_edge(&a->mk, last, ATTR_NULL) < 0)
			return markov_failed();
	}
	return 0;
}

static int add_touch(attr *a, int64_t ts, uint32_t g)
{
	if (retire_before(a, ts > INT64_MIN + a->lookback ? ts - a->lookback : INT64_MIN) < 0)
		return -1;
	if (a->qlen == ATTR_PATH_MAX) {
		a->truncated++;
		if (retire(a) < 0)
			return -1;
	}
	if (a->qhead + a->qlen == a->qcap) {
		if (a->qhead > 0) {
			memmove(a->q, a->q + a->qhead, a->qlen * sizeof *a->q);
			a->qhead = 0;
		} else {
			size_t cap = a->qcap ? 2 * a->qcap : 64;
			qtouch *n = realloc(a->q, cap * sizeof *n);
			if (!n)
				return jrn_say(-1, "attribution: out of memory");
			a->q = n;
			a->qcap = cap;
		}
	}
	a->q[a->qhead + a->qlen++] = (qtouch){{ts, g}, false};
	return 0;
}

static int add_conversion(attr *a, int64_t ts, double amount)
{
	if (retire_before(a, ts > INT64_MIN + a->lookback ? ts - a->lookback : INT64_MIN) < 0)
		return -1;
	size_t n = 0;
	while (n < a->qlen && a->q[a->qhead + n].t.ts < ts)
		n++;
	if (n == 0) {
		a->none_conv++;
		a->none_rev += amount;
		return 0;
	}
	if (reserve_path(a, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		a->q[a->qhead + i].covered = true;
		a->path[i] = a->q[a->qhead + i].t;
		a->g[a->path[i].group].touches++;
	}
	for (int k = 0; k < a->nmodels; k++) {
		int m = a->models[k];
		if (m == ATTR_MARKOV)
			continue;
		attr_weights(m, a->path, n, ts, a->half_life, a->w);
		for (size_t i = 0; i < n; i++) {
			group *g = &a->g[a->path[i].group];
			g->conv[m] += a->w[i];
			g->rev[m] += a->w[i] * amount;
		}
	}
	a->touched_conv++;
	a->touched_rev += amount;
	if (a->want[ATTR_MARKOV] && attr_markov_add(&a->mk, a->path, n, true) < 0)
		return markov_failed();
	return 0;
}

/* ---- reading --------------------------------------------------------------- */

/* Conversions and the touches among the events, by customer and time. ?1
 * ?2: the touches' range; ?3: the window's start (conversions). */
static const char EVENTS_SQL[] =
	"SELECT e.customer_id, e.ts, e.type = 'order.completed', e.amount,"
	" CASE WHEN e.type = 'order.completed' THEN NULL"
	"  WHEN e.type IN ('email.opened', 'email.clicked')"
	"  THEN coalesce(d.campaign_id, e.body ->> '$.properties.campaignId')"
	"  ELSE coalesce(e.body ->> '$.properties.utm_campaign',"
	"   e.body ->> '$.context.campaign.name') END,"
	" CASE WHEN e.type = 'order.completed' THEN NULL"
	"  WHEN e.type IN ('email.opened', 'email.clicked')"
	"  THEN coalesce(d.channel, e.body ->> '$.properties.channel', 'email')"
	"  ELSE coalesce(e.body ->> '$.properties.utm_medium',"
	"   e.body ->> '$.context.campaign.medium', 'web') END"
	" FROM events AS e INDEXED BY events_customer"
	" LEFT JOIN deliveries AS d ON e.type IN ('email.opened', 'email.clicked')"
	"  AND d.key = e.body ->> '$.properties.deliveryKey'"
	" WHERE e.ts >= ?1 AND e.ts < ?2 AND ("
	"  (e.type = 'order.completed' AND e.amount IS NOT NULL AND e.ts >= ?3)"
	"  OR e.type IN ('email.opened', 'email.clicked')"
	"  OR (e.type <> 'order.completed' AND ("
	"   (instr(e.body, 'utm_campaign') AND e.body ->> '$.properties.utm_campaign' IS NOT NULL)"
	"   OR (instr(e.body, '\"campaign\"') AND"
	"    e.body ->> '$.context.campaign.name' IS NOT NULL))))"
	" ORDER BY e.customer_id, e.ts, e.seq";

/* Sends, by customer and time. */
static const char SENDS_SQL[] =
	"SELECT customer_id, claimed_at, 0, NULL, campaign_id, channel"
	" FROM deliveries INDEXED BY deliveries_customer"
	" WHERE customer_id IS NOT NULL AND status IN ('sent', 'queued', 'simulated')"
	"  AND claimed_at >= ?1 AND claimed_at < ?2"
	" ORDER BY customer_id, claimed_at, seq";

/* One stream's current row: SQLITE_ROW, SQLITE_DONE, or an error. */
typedef struct {
	sqlite3_stmt *st;
	int rc;
} stream;

static int step(stream *s)
{
	s->rc = sqlite3_step(s->st);
	return s->rc == SQLITE_ROW || s->rc == SQLITE_DONE ? 0 : -1;
}

/* Whether a's row comes before b's: customer, then time; events first on
 * a tie (so a send at a conversion's millisecond is not in its path
 * either way). */
static bool before(stream *a, stream *b)
{
	if (a->rc != SQLITE_ROW)
		return false;
	if (b->rc != SQLITE_ROW)
		return true;
	int c = strcmp((const char *)sqlite3_column_text(a->st, 0),
		       (const char *)sqlite3_column_text(b->st, 0));
	if (c)
		return c < 0;
	return sqlite3_column_int64(a->st, 1) <= sqlite3_column_int64(b->st, 1);
}

static int prepare(attr *a, const char *sql, stream *s)
{
	sqlite3 *db = a->run->db;
	int64_t lo = a->since > INT64_MIN + a->lookback ? a->since - a->lookback : INT64_MIN;
	if (sqlite3_prepare_v2(db, sql, -1, &s->st, NULL) != SQLITE_OK)
		return jrn_say(-1, "attribution: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(s->st, 1, lo);
	sqlite3_bind_int64(s->st, 2, a->until);
	if (sqlite3_bind_parameter_count(s->st) >= 3)
		sqlite3_bind_int64(s->st, 3, a->since);
	if (step(s) < 0)
		return jrn_say(-1, "attribution: %s", sqlite3_errmsg(db));
	return 0;
}

/* Reads every row of both streams, customer by customer. */
static int read_all(attr *a)
{
	stream ev = {0}, se = {0};
	int rc = prepare(a, EVENTS_SQL, &ev);
	if (!rc)
		rc = prepare(a, SENDS_SQL, &se);
	char *cur = NULL;
	while (!rc && (ev.rc == SQLITE_ROW || se.rc == SQLITE_ROW)) {
		stream *s = before(&ev, &se) ? &ev : &se;
		const char *cust = (const char *)sqlite3_column_text(s->st, 0);
		if (!cur || strcmp(cur, cust) != 0) {
			if (cur && end_customer(a) < 0) {
				rc = -1;
				break;
			}
			free(cur);
			cur = strdup(cust ? cust : "");
			if (!cur) {
				rc = jrn_say(-1, "attribution: out of memory");
				break;
			}
		}
		int64_t ts = sqlite3_column_int64(s->st, 1);
		if (sqlite3_column_int(s->st, 2)) {
			rc = add_conversion(a, ts, sqlite3_column_double(s->st, 3));
		} else {
			int64_t g = group_of(a, (const char *)sqlite3_column_text(s->st, 4),
					     (const char *)sqlite3_column_text(s->st, 5));
			rc = g < 0 ? -1 : add_touch(a, ts, (uint32_t)g);
		}
		if (!rc && step(s) < 0)
			rc = jrn_say(-1, "attribution: %s", sqlite3_errmsg(a->run->db));
	}
	if (!rc && cur)
		rc = end_customer(a);
	free(cur);
	sqlite3_finalize(ev.st);
	sqlite3_finalize(se.st);
	return rc;
}

/* ---- rows ------------------------------------------------------------------ */

static int cmp_str(const char *x, const char *y)
{
	return x && y ? strcmp(x, y) : (x != NULL) - (y != NULL);
}

static int cmp_group(const void *x, const void *y)
{
	const group *a = x, *b = y;
	int c = cmp_str(a->campaign, b->campaign);
	return c ? c : cmp_str(a->channel, b->channel);
}

static jv str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

static int row(attr *a, int model, const group *g, double conv, double rev, uint64_t touches)
{
	jv r = jv_object_set(jv_object(), jv_string("model"), jv_string(attr_model_names[model]));
	for (size_t i = 0; i < a->run->nby; i++) {
		bool camp = strcmp(a->run->by[i], "campaign") == 0;
		r = jv_object_set(r, jv_string(camp ? "campaign" : "channel"),
				  g ? str_or_null(camp ? g->campaign : g->channel) : jv_null());
	}
	r = jv_object_set(r, jv_string("conversions"), jv_number(conv));
	r = jv_object_set(r, jv_string("revenue"), jv_number(rev));
	r = jv_object_set(r, jv_string("touches"), jv_number((double)touches));
	return report_row(a->run, r);
}

static int write_rows(attr *a)
{
	double *effect = NULL, esum = 0, p = 0;
	if (a->want[ATTR_MARKOV]) {
		effect = calloc(a->ng + 1, sizeof *effect);
		if (!effect || attr_markov_solve(&a->mk, &p, effect) < 0) {
			free(effect);
			return jrn_say(-1, "attribution: markov: out of memory, or a singular chain");
		}
		for (size_t i = 0; i < a->ng; i++)
			esum += effect[i];
		for (size_t i = 0; i < a->ng; i++) {
			double share = esum > 0 ? effect[i] / esum : 0;
			a->g[i].conv[ATTR_MARKOV] = (double)a->touched_conv * share;
			a->g[i].rev[ATTR_MARKOV] = a->touched_rev * share;
		}
	}
	free(effect);
	/* sort the groups; the index (slot) is not used past this point */
	if (a->ng)
		qsort(a->g, a->ng, sizeof *a->g, cmp_group);
	jv names = jv_array_append(jv_array(), jv_string("model"));
	for (size_t i = 0; i < a->run->nby; i++)
		names = jv_array_append(names, jv_string(a->run->by[i]));
	names = jv_array_append(names, jv_string("conversions"));
	names = jv_array_append(names, jv_string("revenue"));
	report_header(a->run, jv_array_append(names, jv_string("touches")));
	int rc = 0;
	for (int k = 0; k < a->nmodels && !rc; k++) {
		int m = a->models[k];
		for (size_t i = 0; i < a->ng && !rc; i++)
			if (a->g[i].touches)
				rc = row(a, m, &a->g[i], a->g[i].conv[m], a->g[i].rev[m],
					 a->g[i].touches);
		if (!rc && a->none_conv)
			rc = row(a, m, NULL, (double)a->none_conv, a->none_rev, 0);
	}
	return rc;
}

int report_attribution_check(report_run *run)
{
	attr a = {0};
	a.run = run;
	attr_markov_init(&a.mk, ATTR_MARKOV_GROUPS_MAX);
	int rc = read_options(&a); /* (the models are indexes: nothing to free) */
	attr_markov_free(&a.mk);
	return rc;
}

int report_attribution(report_run *run)
{
	attr a = {0};
	a.run = run;
	a.null_last = -1;
	attr_markov_init(&a.mk, ATTR_MARKOV_GROUPS_MAX);
	int rc = read_options(&a);
	if (!rc)
		rc = read_all(&a) < 0 ? JRN_EXIT_FAIL : 0;
	if (!rc)
		rc = write_rows(&a) < 0 ? JRN_EXIT_FAIL : 0;
	if (!rc && a.truncated)
		jrn_say(0, "attribution: %llu touches past %d in one customer's lookback "
			   "(ATTR_PATH_MAX) left out, the oldest first",
			(unsigned long long)a.truncated, ATTR_PATH_MAX);
	for (size_t i = 0; i < a.ng; i++) {
		free(a.g[i].campaign);
		free(a.g[i].channel);
	}
	free(a.g);
	free(a.slot);
	free(a.q);
	free(a.path);
	free(a.w);
	attr_markov_free(&a.mk);
	return rc;
}
