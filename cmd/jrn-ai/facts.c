/* facts.c: what the state file knows of a batch's customers, for the
 * input of every question (jrn-ai.h, ai_req.input.facts). One query per
 * table per batch: the customerIds go in as one JSON array bound to
 * json_each, so a batch of 1,024 profiles costs six statements, not six
 * thousand. What a record carries itself (rfm, clv, lead, segments: jrn-score
 * or jrn-segment ran upstream) wins over the state file.
 *
 * Windows: 7 and 30 days before now (--now), events after now ignored.
 * Event types counted: opens email.opened; clicks email.clicked; visits
 * page.viewed and product.viewed; carts cart.added and cart.updated;
 * orders order.completed (its amount column summed). Categories: the
 * properties.category of product.viewed, cart.added and order.completed
 * events of the last 90 days, the three most frequent. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

enum { Q_EVENTS, Q_ORDERS, Q_RFM, Q_SCORES, Q_SEGMENTS, Q_CATEGORIES, NQ };

static const char *const sql[NQ] = {
	"SELECT customer_id,"
	" sum(type = 'email.opened' AND ts > ?2), sum(type = 'email.opened'),"
	" sum(type = 'email.clicked' AND ts > ?2), sum(type = 'email.clicked'),"
	" sum(type IN ('page.viewed', 'product.viewed') AND ts > ?2),"
	" sum(type IN ('page.viewed', 'product.viewed')),"
	" sum(type IN ('cart.added', 'cart.updated'))"
	" FROM events WHERE customer_id IN (SELECT value FROM json_each(?1))"
	" AND ts > ?3 AND ts <= ?4 GROUP BY customer_id",

	"SELECT customer_id, count(*), total(amount), max(ts), min(ts) FROM events"
	" WHERE customer_id IN (SELECT value FROM json_each(?1))"
	" AND type = 'order.completed' AND ts <= ?4 GROUP BY customer_id",

	"SELECT customer_id, recency, frequency, monetary, r, f, m, score, segment"
	" FROM rfm_snapshots WHERE taken = (SELECT max(taken) FROM rfm_snapshots WHERE taken <= ?4)"
	" AND customer_id IN (SELECT value FROM json_each(?1))",

	"SELECT customer_id, kind, body FROM scores"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) AND kind IN ('clv', 'lead')",

	"SELECT customer_id, segment FROM segment_members"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) ORDER BY customer_id, segment",

	"SELECT customer_id, c, count(*) AS n FROM (SELECT customer_id,"
	" json_extract(body, '$.properties.category') AS c FROM events"
	" WHERE customer_id IN (SELECT value FROM json_each(?1)) AND ts > ?5 AND ts <= ?4"
	" AND type IN ('product.viewed', 'cart.added', 'order.completed'))"
	" WHERE typeof(c) = 'text' GROUP BY customer_id, c ORDER BY customer_id, n DESC, c",
};

/* A customer the state file knows nothing of: every member there, so the
 * input has one shape (the prompts and the cache key see the same keys). */
static const char empty_facts[] =
	"{\"rfm\":null,\"clv\":null,\"lead\":null,\"segments\":[],\"categories\":[],"
	"\"events\":{\"opens7d\":0,\"opens30d\":0,\"clicks7d\":0,\"clicks30d\":0,"
	"\"visits7d\":0,\"visits30d\":0,\"carts30d\":0},"
	"\"orders\":{\"count\":0,\"total\":0,\"daysSinceLast\":null,\"daysSinceFirst\":null}}";

typedef struct {
	sqlite3_stmt *st[NQ];
	jrn_idmap *ids;
	jv *facts;   /* per customer of the batch */
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
	jv o = jv_object();
	switch (q) {
	case Q_EVENTS:
		for (int i = 0; i < 7; i++)
			o = jv_object_set(o, jv_string(ev[i]), jv_number(sqlite3_column_double(st, i + 1)));
		*f = jv_object_set(*f, jv_string("events"), o);
		return;
	case Q_ORDERS:
		o = jv_object_set(o, jv_string("count"), col(st, 1));
		o = jv_object_set(o, jv_string("total"), jv_number(round(sqlite3_column_double(st, 2) * 100) / 100));
		o = jv_object_set(o, jv_string("daysSinceLast"), jv_number(days(now, sqlite3_column_int64(st, 3))));
		o = jv_object_set(o, jv_string("daysSinceFirst"), jv_number(days(now, sqlite3_column_int64(st, 4))));
		*f = jv_object_set(*f, jv_string("orders"), o);
		return;
	case Q_RFM:
		for (int i = 0; i < 8; i++)
			o = jv_object_set(o, jv_string(rfm[i]), col(st, i + 1));
		*f = jv_object_set(*f, jv_string("rfm"), o);
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
	case Q_SEGMENTS:
	case Q_CATEGORIES: {
		jv_free(o);
		const char *key = q == Q_SEGMENTS ? "segments" : "categories";
		jv a = jv_object_get(jv_copy(*f), jv_string(key));
		if (q == Q_SEGMENTS || jv_array_length(jv_copy(a)) < 3)
			a = jv_array_append(a, col(st, 1));
		*f = jv_object_set(*f, jv_string(key), a);
		return;
	}
	}
	jv_free(o);
}

/* Makes F ready for a batch of n questions: the statements, the map of
 * the batch's customers, their empty facts. The customers' JSON array
 * into ids. 0 or -1 with e. */
static int batch_start(ai_run *run, facts_state *F, ai_req *reqs, size_t n, jrn_buf *ids,
		       jrn_err *e)
{
	for (int q = 0; q < NQ; q++)
		if (!F->st[q] && jrn_db_prepare(run->db, sql[q], &F->st[q], e) < 0)
			return -1;
	jrn_idmap_free(F->ids);
	if (!(F->ids = jrn_idmap_new()) || (n > F->cap && !(F->facts = realloc(F->facts, n * sizeof *F->facts))))
		return jrn_fail(e, "out of memory");
	F->cap = n > F->cap ? n : F->cap;
	if (jrn_buf_addc(ids, '[') < 0)
		return jrn_fail(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		jv c = jv_object_get(jv_copy(reqs[i].input), jv_string("customerId"));
		bool added = false;
		int64_t k = jrn_idmap_put(F->ids, jv_string_value(c), (size_t)jv_string_length_bytes(jv_copy(c)), &added);
		if (k < 0 || (added && ((k && jrn_buf_addc(ids, ',') < 0) ||
					jrn_json_append_str(ids, jv_string_value(c),
							    (size_t)jv_string_length_bytes(jv_copy(c))) < 0))) {
			jv_free(c);
			return jrn_fail(e, "out of memory");
		}
		if (added)
			F->facts[k] = jv_parse(empty_facts);
		jv_free(c);
	}
	return jrn_buf_addc(ids, ']') < 0 ? jrn_fail(e, "out of memory") : 0;
}

/* What the record carries (rfm, clv, lead, segments) over the facts f
 * (consumed); the result. */
static jv carried(jv f, jv rec)
{
	static const char *const keys[] = {"rfm", "clv", "lead", "segments"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		jv v = jv_object_get(jv_copy(rec), jv_string(keys[i]));
		jv_kind k = jv_get_kind(v);
		if (k == JV_KIND_OBJECT || (k == JV_KIND_ARRAY && i == 3))
			f = jv_object_set(f, jv_string(keys[i]), v);
		else
			jv_free(v);
	}
	return f;
}

int ai_facts_fill(ai_run *run, ai_req *reqs, size_t n, const jv *recs, jrn_err *e)
{
	if (!run->facts && !(run->facts = calloc(1, sizeof(facts_state))))
		return jrn_fail(e, "out of memory");
	facts_state *F = run->facts;
	jrn_buf ids = {0};
	int64_t now = jrn_now();
	int rc = batch_start(run, F, reqs, n, &ids, e);
	for (int q = 0; q < NQ && rc == 0; q++) {
		sqlite3_stmt *st = F->st[q];
		sqlite3_bind_text(st, 1, ids.p, (int)ids.len, SQLITE_STATIC);
		if (sqlite3_bind_parameter_count(st) >= 2) {
			sqlite3_bind_int64(st, 2, now - 7 * DAY_MS);
			sqlite3_bind_int64(st, 3, now - 30 * DAY_MS);
		}
		sqlite3_bind_int64(st, 4, now);
		if (sqlite3_bind_parameter_count(st) >= 5)
			sqlite3_bind_int64(st, 5, now - 90 * DAY_MS);
		int s;
		while ((s = sqlite3_step(st)) == SQLITE_ROW)
			take_row(F, q, st, now);
		if (s != SQLITE_DONE)
			rc = jrn_fail(e, "reading the state file: %s", sqlite3_errmsg(run->db));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	size_t nk = F->ids ? jrn_idmap_count(F->ids) : 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		jv c = jv_object_get(jv_copy(reqs[i].input), jv_string("customerId"));
		int64_t k = jrn_idmap_get(F->ids, jv_string_value(c), (size_t)jv_string_length_bytes(jv_copy(c)));
		jv_free(c);
		jv f = carried(jv_copy(F->facts[k]), recs[reqs[i].idx]);
		reqs[i].input = jv_object_set(reqs[i].input, jv_string("facts"), f);
	}
	for (size_t k = 0; k < nk; k++)
		jv_free(F->facts[k]);
	jrn_buf_free(&ids);
	return rc;
}
