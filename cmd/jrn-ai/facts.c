/* facts.c: what the state file knows of a batch's customers, for the
 * input of every question (jrn-ai.h, ai_req.input.facts). One query per
 * table per batch: the customerIds go in as one JSON array bound to
 * json_each, so a batch of 1,024 profiles costs six statements, not six
 * thousand. What a record carries itself wins over the state file, and
 * the state file is not asked for it: rfm, clv, lead (top level, under
 * "scores", or under "profile" or "profile.scores", as jrn-score and
 * jrn-merge write them), segments (top level or under "profile") and
 * jrn-merge's summary (orders, orderTotal, lastOrder.at, firstSeen).
 *
 * Windows: 7 and 30 days before now (--now), events after now ignored.
 * Event types counted: opens email.opened; clicks email.clicked; visits
 * page.viewed and product.viewed; carts cart.added and cart.updated;
 * orders order.completed (its amount column summed). Categories: the
 * properties.category of product.viewed, cart.added and order.completed
 * events of the last 30 days, the three most frequent (ties by name). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

enum { Q_EVENTS, Q_ORDERS, Q_RFM, Q_SCORES, Q_SEGMENTS, NQ };

static const char *const sql[NQ] = {
	"SELECT customer_id,"
	" sum(type = 'email.opened' AND ts > ?2), sum(type = 'email.opened'),"
	" sum(type = 'email.clicked' AND ts > ?2), sum(type = 'email.clicked'),"
	" sum(type IN ('page.viewed', 'product.viewed') AND ts > ?2),"
	" sum(type IN ('page.viewed', 'product.viewed')),"
	" sum(type IN ('cart.added', 'cart.updated')),"
	" group_concat(CASE WHEN type IN ('product.viewed', 'cart.added', 'order.completed')"
	" THEN json_extract(body, '$.properties.category') END, char(30))"
	" FROM events WHERE customer_id IN (SELECT value FROM json_each(?1))"
	" AND ts > ?3 AND ts <= ?4 GROUP BY customer_id",

	"SELECT customer_id, sum(type = 'order.completed'),"
	" total(CASE WHEN type = 'order.completed' THEN amount END),"
	" max(CASE WHEN type = 'order.completed' THEN ts END), min(ts) FROM events"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) AND ts <= ?4"
	" GROUP BY customer_id",

	"SELECT customer_id, recency, frequency, monetary, r, f, m, score, segment"
	" FROM rfm_snapshots WHERE taken = (SELECT max(taken) FROM rfm_snapshots WHERE taken <= ?4)"
	" AND customer_id IN (SELECT value FROM json_each(?1))",

	"SELECT customer_id, kind, body FROM scores"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) AND kind IN ('clv', 'lead')",

	"SELECT customer_id, segment FROM segment_members"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) ORDER BY customer_id, segment",

};

/* A customer the state file knows nothing of: every member there, so the
 * input has one shape (the prompts and the cache key see the same keys). */
static const char empty_facts[] =
	"{\"rfm\":null,\"clv\":null,\"lead\":null,\"segments\":[],\"categories\":[],"
	"\"events\":{\"opens7d\":0,\"opens30d\":0,\"clicks7d\":0,\"clicks30d\":0,"
	"\"visits7d\":0,\"visits30d\":0,\"carts30d\":0},"
	"\"orders\":{\"count\":0,\"total\":0,\"daysSinceLast\":null},\"firstSeenDays\":null}";

typedef struct {
	sqlite3_stmt *st[NQ];
	jrn_idmap *ids;
	jv *facts;   /* per customer of the batch */
	jv empty;    /* empty_facts, parsed once */
	size_t cap;
} facts_state;

void ai_facts_free(ai_run *run)
{
	facts_state *F = run->facts;
	if (!F)
		return;
	for (int i = 0; i < NQ; i++)
		sqlite3_finalize(F->st[i]);
	jrn_idmap_free(F->ids);
	free(F->facts);
	jv_free(F->empty);
	free(F);
	run->facts = NULL;
}

/* The facts object of the row's customer (column 0), or NULL when not
 * one of the batch's. */
static jv *of_row(facts_state *F, sqlite3_stmt *st)
{
	const char *id = (const char *)sqlite3_column_text(st, 0);
	int64_t k = id ? jrn_idmap_get(F->ids, id, (size_t)sqlite3_column_bytes(st, 0)) : -1;
	return k < 0 ? NULL : &F->facts[k];
}

/* The value of column c as a jv: a number, text, or null. */
static jv col(sqlite3_stmt *st, int c)
{
	switch (sqlite3_column_type(st, c)) {
	case SQLITE_INTEGER: return jv_number((double)sqlite3_column_int64(st, c));
	case SQLITE_FLOAT: return jv_number(sqlite3_column_double(st, c));
	case SQLITE_TEXT: return jv_string_sized((const char *)sqlite3_column_text(st, c),
						 sqlite3_column_bytes(st, c));
	default: return jv_null();
	}
}

/* Whole days from ms to now, at least 0. */
static double days(int64_t now, int64_t ms)
{
	return ms >= now ? 0 : floor((double)(now - ms) / DAY_MS);
}

/* The three most frequent of the categories in s[0..n) (separated by
 * U+001E; the first AI_MAX_CATEGORIES distinct ones counted), ties by
 * name: an array of strings. */
#define AI_MAX_CATEGORIES 64
static jv top_categories(const char *s, size_t n)
{
	struct {
		const char *p;
		size_t len;
		int count;
	} c[AI_MAX_CATEGORIES];
	int nc = 0;
	for (const char *p = s, *end = s + n; p < end;) {
		const char *q = memchr(p, 0x1e, (size_t)(end - p));
		size_t len = (size_t)((q ? q : end) - p);
		int i = 0;
		while (i < nc && (c[i].len != len || memcmp(c[i].p, p, len)))
			i++;
		if (i < nc)
			c[i].count++;
		else if (nc < AI_MAX_CATEGORIES && len)
			c[nc++] = (typeof(c[0])){p, len, 1};
		p = q ? q + 1 : end;
	}
	jv out = jv_array();
	for (int k = 0; k < 3 && nc; k++) {
		int b = 0;
		for (int i = 1; i < nc; i++) {
			size_t m = c[i].len < c[b].len ? c[i].len : c[b].len;
			int cmp = memcmp(c[i].p, c[b].p, m);
			if (c[i].count > c[b].count ||
			    (c[i].count == c[b].count && (cmp < 0 || (cmp == 0 && c[i].len < c[b].len))))
				b = i;
		}
		out = jv_array_append(out, jv_string_sized(c[b].p, (int)c[b].len));
		c[b] = c[--nc];
	}
	return out;
}

/* Adds one row of query q to its customer's facts. */
static void take_row(facts_state *F, int q, sqlite3_stmt *st, int64_t now)
{
	jv *f = of_row(F, st);
	if (!f)
		return;
	static const char *const ev[] = {"opens7d", "opens30d", "clicks7d", "clicks30d",
					  "visits7d", "visits30d", "carts30d"};
	static const char *const rfm[] = {"recency", "frequency", "monetary", "r", "f", "m",
					   "score", "segment"};
	static jv evk[7], rfmk[8];
	jv o = jv_object();
	switch (q) {
	case Q_EVENTS:
		for (int i = 0; i < 7; i++)
			o = jv_object_set(o, ai_key(&evk[i], ev[i]), jv_number(sqlite3_column_double(st, i + 1)));
		*f = jv_object_set(*f, KS("events"), o);
		if (sqlite3_column_type(st, 8) == SQLITE_TEXT)
			*f = jv_object_set(*f, KS("categories"),
					   top_categories((const char *)sqlite3_column_text(st, 8),
							  (size_t)sqlite3_column_bytes(st, 8)));
		return;
	case Q_ORDERS:
		o = jv_object_set(o, KS("count"), col(st, 1));
		o = jv_object_set(o, KS("total"), jv_number(round(sqlite3_column_double(st, 2) * 100) / 100));
		o = jv_object_set(o, KS("daysSinceLast"),
				  sqlite3_column_type(st, 3) == SQLITE_NULL ? jv_null()
				  : jv_number(days(now, sqlite3_column_int64(st, 3))));
		*f = jv_object_set(*f, KS("orders"), o);
		*f = jv_object_set(*f, KS("firstSeenDays"), jv_number(days(now, sqlite3_column_int64(st, 4))));
		return;
	case Q_RFM:
		for (int i = 0; i < 8; i++)
			o = jv_object_set(o, ai_key(&rfmk[i], rfm[i]), col(st, i + 1));
		*f = jv_object_set(*f, KS("rfm"), o);
		return;
	case Q_SCORES: {
		jv_free(o);
		jv body = jv_parse_sized((const char *)sqlite3_column_text(st, 2), sqlite3_column_bytes(st, 2));
		if (jv_get_kind(body) == JV_KIND_OBJECT)
			*f = jv_object_set(*f, col(st, 1), body);
		else
			jv_free(body);
		return;
	}
	case Q_SEGMENTS: {
		jv_free(o);
		jv a = jv_object_get(jv_copy(*f), KS("segments"));
		*f = jv_object_set(*f, KS("segments"), jv_array_append(a, col(st, 1)));
		return;
	}
	}
	jv_free(o);
}

/* The members of an object that carried() reads. */
enum { P_RFM, P_CLV, P_LEAD, P_SCORES, P_SEGMENTS, P_SUMMARY, P_PROFILE, NP };
static const char *const part_names[NP] = {"rfm", "clv", "lead", "scores", "segments",
					   "summary", "profile"};

/* o's (borrowed) members named in part_names into out (new references;
 * jv_invalid() when absent), in one pass. */
static void parts_of(jv o, jv out[NP])
{
	for (int i = 0; i < NP; i++)
		out[i] = jv_invalid();
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return;
	jv_object_foreach(jv_copy(o), k, v) {
		const char *ks = jv_string_value(k);
		int i = 0;
		while (i < NP && strcmp(ks, part_names[i]))
			i++;
		if (i < NP) {
			jv_free(out[i]);
			out[i] = v;
		} else {
			jv_free(v);
		}
		jv_free(k);
	}
}

static void parts_free(jv p[NP])
{
	for (int i = 0; i < NP; i++)
		jv_free(p[i]);
}

/* The time at member a (and b within it) of sum (borrowed) as ms into *ms:
 * 1, or 0 when absent or not one. */
static int carried_time(jv sum, const char *a, const char *b, int64_t *ms)
{
	static jv ka[2], kb;
	jv t = jv_get_kind(sum) == JV_KIND_OBJECT
		       ? jv_object_get(jv_copy(sum), ai_key(&ka[b != NULL], a)) : jv_invalid();
	if (b)
		t = jv_get_kind(t) == JV_KIND_OBJECT ? jv_object_get(t, ai_key(&kb, b))
						      : (jv_free(t), jv_invalid());
	int ok = jv_get_kind(t) == JV_KIND_STRING &&
		 jrn_time_parse(jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)), 0, ms,
				NULL) == 0;
	jv_free(t);
	return ok;
}

/* The member of sum (borrowed) named by slot/name, a number, or invalid. */
static jv sum_num(jv sum, jv *slot, const char *name)
{
	jv v = jv_get_kind(sum) == JV_KIND_OBJECT ? jv_object_get(jv_copy(sum), ai_key(slot, name))
						   : jv_invalid();
	return jv_get_kind(v) == JV_KIND_NUMBER ? v : (jv_free(v), jv_invalid());
}

/* What the record rec (borrowed) carries, as facts members (an object),
 * and in *need the queries still to run for it (bits 1 << Q_*). */
static jv carried(jv rec, int64_t now, unsigned *need)
{
	static const int q[3] = {Q_RFM, Q_SCORES, Q_SCORES};
	static jv keys[3], kcount, ktotal;
	jv top[NP], prof[NP], st[NP], sp[NP];
	parts_of(rec, top);
	parts_of(top[P_PROFILE], prof);
	parts_of(top[P_SCORES], st);
	parts_of(prof[P_SCORES], sp);
	jv f = jv_object();
	unsigned n = 1u << Q_EVENTS;
	for (int i = 0; i < 3; i++) {
		jv *c[4] = {&top[i], &st[i], &prof[i], &sp[i]};
		int j = 0;
		while (j < 4 && jv_get_kind(*c[j]) != JV_KIND_OBJECT)
			j++;
		if (j < 4)
			f = jv_object_set(f, ai_key(&keys[i], part_names[i]), jv_copy(*c[j]));
		else
			n |= 1u << q[i];
	}
	jv seg = jv_get_kind(top[P_SEGMENTS]) == JV_KIND_ARRAY ? top[P_SEGMENTS] : prof[P_SEGMENTS];
	if (jv_get_kind(seg) == JV_KIND_ARRAY)
		f = jv_object_set(f, KS("segments"), jv_copy(seg));
	else
		n |= 1u << Q_SEGMENTS;
	jv sum = jv_get_kind(top[P_SUMMARY]) == JV_KIND_OBJECT ? top[P_SUMMARY] : prof[P_SUMMARY];
	jv cnt = sum_num(sum, &kcount, "orders"), tot = sum_num(sum, &ktotal, "orderTotal");
	int64_t last, first;
	if (jv_is_valid(cnt) && jv_is_valid(tot) && carried_time(sum, "firstSeen", NULL, &first)) {
		bool has_last = carried_time(sum, "lastOrder", "at", &last);
		jv o = jv_object_set(jv_object(), KS("count"), jv_copy(cnt));
		o = jv_object_set(o, KS("total"), jv_number(round(jv_number_value(tot) * 100) / 100));
		o = jv_object_set(o, KS("daysSinceLast"), has_last ? jv_number(days(now, last)) : jv_null());
		f = jv_object_set(f, KS("orders"), o);
		f = jv_object_set(f, KS("firstSeenDays"), jv_number(days(now, first)));
	} else {
		n |= 1u << Q_ORDERS;
	}
	jv_free(cnt);
	jv_free(tot);
	parts_free(top);
	parts_free(prof);
	parts_free(st);
	parts_free(sp);
	*need = n;
	return f;
}

/* Makes F ready for a batch of n questions: the statements, the map of
 * the batch's customers, their empty facts, and per query the JSON array
 * of the customers it is needed for (need[i] of reqs[i]) into ids[q].
 * 0 or -1 with e. */
static int batch_start(ai_run *run, facts_state *F, ai_req *reqs, size_t n,
		       const unsigned *need, jrn_buf ids[NQ], jrn_err *e)
{
	for (int q = 0; q < NQ; q++)
		if (!F->st[q] && jrn_db_prepare(run->db, sql[q], &F->st[q], e) < 0)
			return -1;
	if (!jv_is_valid(F->empty))
		F->empty = jv_parse(empty_facts);
	jrn_idmap_free(F->ids);
	if (!(F->ids = jrn_idmap_new()) || (n > F->cap && !(F->facts = realloc(F->facts, n * sizeof *F->facts))))
		return jrn_fail(e, "out of memory");
	F->cap = n > F->cap ? n : F->cap;
	unsigned *sent = calloc(n ? n : 1, sizeof *sent); /* per customer: the queries it is in */
	if (!sent)
		return jrn_fail(e, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		jv c = jv_object_get(jv_copy(reqs[i].input), KS("customerId"));
		const char *id = jv_string_value(c);
		size_t len = (size_t)jv_string_length_bytes(jv_copy(c));
		bool added = false;
		int64_t k = jrn_idmap_put(F->ids, id, len, &added);
		if (k < 0)
			rc = jrn_fail(e, "out of memory");
		else if (added)
			F->facts[k] = jv_copy(F->empty);
		for (int q = 0; q < NQ && rc == 0; q++) {
			if (!(need[i] & 1u << q) || (sent[k] & 1u << q))
				continue;
			sent[k] |= 1u << q;
			if (jrn_buf_addc(&ids[q], ids[q].len ? ',' : '[') < 0 ||
			    jrn_json_append_str(&ids[q], id, len) < 0)
				rc = jrn_fail(e, "out of memory");
		}
		jv_free(c);
	}
	free(sent);
	for (int q = 0; q < NQ && rc == 0; q++)
		if (jrn_buf_adds(&ids[q], ids[q].len ? "]" : "[]") < 0)
			rc = jrn_fail(e, "out of memory");
	return rc;
}

/* Runs query q over the customers in ids (JSON array) into F. 0 or -1
 * with e. */
static int run_query(ai_run *run, facts_state *F, int q, const jrn_buf *ids, int64_t now,
		     jrn_err *e)
{
	if (ids->len <= 2)
		return 0;
	sqlite3_stmt *st = F->st[q];
	int np = sqlite3_bind_parameter_count(st);
	sqlite3_bind_text(st, 1, ids->p, (int)ids->len, SQLITE_STATIC);
	if (np >= 3) {
		sqlite3_bind_int64(st, 2, now - 7 * DAY_MS);
		sqlite3_bind_int64(st, 3, now - 30 * DAY_MS);
	}
	sqlite3_bind_int64(st, 4, now);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		take_row(F, q, st, now);
	int rc = s == SQLITE_DONE ? 0 : jrn_fail(e, "reading the state file: %s", sqlite3_errmsg(run->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int ai_facts_fill(ai_run *run, ai_req *reqs, size_t n, const jv *recs, jrn_err *e)
{
	if (!run->facts) {
		if (!(run->facts = calloc(1, sizeof(facts_state))))
			return jrn_fail(e, "out of memory");
		((facts_state *)run->facts)->empty = jv_invalid();
	}
	facts_state *F = run->facts;
	jrn_buf ids[NQ] = {{0}};
	int64_t now = jrn_now();
	unsigned *need = malloc((n ? n : 1) * sizeof *need);
	jv *own = malloc((n ? n : 1) * sizeof *own);
	if (!need || !own) {
		free(need);
		free(own);
		return jrn_fail(e, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		own[i] = carried(recs[reqs[i].idx], now, &need[i]);
	int rc = batch_start(run, F, reqs, n, need, ids, e);
	for (int q = 0; q < NQ && rc == 0; q++)
		rc = run_query(run, F, q, &ids[q], now, e);
	size_t nk = F->ids ? jrn_idmap_count(F->ids) : 0;
	unsigned *uses = calloc(nk ? nk : 1, sizeof *uses);
	if (!uses && rc == 0)
		rc = jrn_fail(e, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		jv c = jv_object_get(jv_copy(reqs[i].input), KS("customerId"));
		uses[jrn_idmap_get(F->ids, jv_string_value(c), (size_t)jv_string_length_bytes(jv_copy(c)))]++;
		jv_free(c);
	}
	for (size_t i = 0; i < n; i++) {
		jv f = jv_invalid();
		if (rc == 0) {
			jv c = jv_object_get(jv_copy(reqs[i].input), KS("customerId"));
			int64_t k = jrn_idmap_get(F->ids, jv_string_value(c),
						  (size_t)jv_string_length_bytes(jv_copy(c)));
			jv_free(c);
			/* the last question of a customer takes its facts */
			f = --uses[k] ? jv_copy(F->facts[k]) : F->facts[k];
			if (!uses[k])
				F->facts[k] = jv_invalid();
			jv_object_foreach(own[i], key, v) f = jv_object_set(f, key, v);
			reqs[i].input = jv_object_set(reqs[i].input, KS("facts"), f);
		}
		jv_free(own[i]);
	}
	for (size_t k = 0; k < nk; k++)
		jv_free(F->facts[k]);
	for (int q = 0; q < NQ; q++)
		jrn_buf_free(&ids[q]);
	free(uses);
	free(need);
	free(own);
	return rc;
}
