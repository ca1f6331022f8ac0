/*
 * state.c: the state file's part of a profile (see jrn-merge.h). Every
 * part is a query keyed by customer_id in two forms: one customer (a
 * record) and every customer in customer_id order (--all), read in one
 * pass and joined by merging the ordered cursors, so --all costs one scan
 * of each table, not a lookup per customer. The events are summed in one
 * scan of the table into per-customer slots.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-merge.h"

/* The parts, each as [one customer, every customer in order]. Column 0 is
 * the customer id in the ordered form. */
enum { P_ROW, P_CONSENT, P_SCORES, P_RFM, P_SEGMENTS, NPARTS };

#define ROW_COLS "email, phone, name, first_name, locale, time_zone, country, created_at," \
		 " traits, provenance, updated_at"
#define RFM_COLS "json_object('recency', recency, 'frequency', frequency, 'monetary', monetary," \
		 " 'r', r, 'f', f, 'm', m, 'score', score, 'segment', segment)"
#define RFM_LAST "taken = (SELECT max(taken) FROM rfm_snapshots)"

static const char *const part_sql[NPARTS][2] = {
	[P_ROW] = {"SELECT customer_id, " ROW_COLS " FROM profiles WHERE customer_id = ?1",
		   "SELECT customer_id, " ROW_COLS " FROM profiles ORDER BY customer_id"},
	[P_CONSENT] = {"SELECT customer_id, channel, status FROM consent WHERE customer_id = ?1"
		       " ORDER BY channel",
		       "SELECT customer_id, channel, status FROM consent ORDER BY customer_id, channel"},
	[P_SCORES] = {"SELECT customer_id, kind, body FROM scores WHERE customer_id = ?1"
		      " AND json_valid(body) ORDER BY kind",
		      "SELECT customer_id, kind, body FROM scores WHERE json_valid(body)"
		      " ORDER BY customer_id, kind"},
	[P_RFM] = {"SELECT customer_id, " RFM_COLS " FROM rfm_snapshots WHERE " RFM_LAST
		   " AND customer_id = ?1",
		   "SELECT customer_id, " RFM_COLS " FROM rfm_snapshots WHERE " RFM_LAST
		   " ORDER BY customer_id"},
	[P_SEGMENTS] = {"SELECT customer_id, segment FROM segment_members WHERE customer_id = ?1"
			" ORDER BY segment",
			"SELECT customer_id, segment FROM segment_members ORDER BY customer_id, segment"},
};

/* The events of one customer and of every id linked to it. */
#define IDS_CTE "WITH RECURSIVE ids(x) AS (SELECT ?1 UNION SELECT value FROM identities, ids" \
		" WHERE kind = 'id' AND customer_id = ids.x) "
static const char sum_sql[] =
	IDS_CTE "SELECT min(ts), max(ts), count(*), sum(type = 'order.completed'),"
	" total(CASE WHEN type = 'order.completed' THEN amount END) FROM events"
	" WHERE customer_id IN ids";
static const char last_order_sql[] =
	IDS_CTE "SELECT id, ts, amount FROM events WHERE customer_id IN ids"
	" AND type = 'order.completed' ORDER BY ts DESC, seq DESC LIMIT 1";

struct merge_state {
	sqlite3 *db;
	sqlite3_stmt *part[NPARTS][2];
	sqlite3_stmt *sum, *last_order;
	jrn_err *e;
};

merge_state *merge_state_open(sqlite3 *db, jrn_err *e)
{
	merge_state *S = calloc(1, sizeof *S);
	if (!S) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	S->db = db;
	for (int i = 0; i < NPARTS; i++)
		for (int j = 0; j < 2; j++)
			if (jrn_db_prepare(db, part_sql[i][j], &S->part[i][j], e) < 0)
				goto fail;
	if (jrn_db_prepare(db, sum_sql, &S->sum, e) < 0 ||
	    jrn_db_prepare(db, last_order_sql, &S->last_order, e) < 0)
		goto fail;
	return S;
fail:
	merge_state_close(S);
	return NULL;
}

void merge_state_close(merge_state *S)
{
	if (!S)
		return;
	for (int i = 0; i < NPARTS; i++)
		for (int j = 0; j < 2; j++)
			sqlite3_finalize(S->part[i][j]);
	sqlite3_finalize(S->sum);
	sqlite3_finalize(S->last_order);
	free(S);
}

/* ---- writing the parts -------------------------------------------------------- */

static const char *const field_names[] = {"email", "phone", "name", "firstName", "locale",
					  "timeZone", "country", "createdAt"};
#define CREATED_AT 7

static void add_key(jrn_buf *out, const char *k)
{
	jrn_buf_addc(out, ',');
	jrn_json_append_str(out, k, strlen(k));
	jrn_buf_addc(out, ':');
}

static void add_time(jrn_buf *out, int64_t ms)
{
	char t[32];
	size_t n = jrn_time_format(ms, t);
	jrn_buf_addc(out, '"');
	jrn_buf_add(out, t, n);
	jrn_buf_addc(out, '"');
}

static void add_number(jrn_buf *out, double d)
{
	if (d == (double)(int64_t)d && d > -9e15 && d < 9e15)
		jrn_buf_addf(out, "%lld", (long long)d);
	else
		jrn_json_append(out, jv_number(d), 0, NULL);
}

static void add_col_text(jrn_buf *out, sqlite3_stmt *st, int col)
{
	jrn_json_append_str(out, (const char *)sqlite3_column_text(st, col),
			    (size_t)sqlite3_column_bytes(st, col));
}

/* The unified fields, traits and provenance from a profiles row (columns
 * from 1: the ordered form's layout). */
static void row_from_stmt(jrn_buf *out, sqlite3_stmt *st)
{
	for (int i = 0; i < 8; i++) {
		int c = i + 1;
		if (sqlite3_column_type(st, c) == SQLITE_NULL)
			continue;
		add_key(out, field_names[i]);
		if (i == CREATED_AT)
			add_time(out, sqlite3_column_int64(st, c));
		else
			add_col_text(out, st, c);
	}
	add_key(out, "traits");
	jrn_buf_add(out, sqlite3_column_text(st, 9), (size_t)sqlite3_column_bytes(st, 9));
	add_key(out, "provenance");
	jrn_buf_add(out, sqlite3_column_text(st, 10), (size_t)sqlite3_column_bytes(st, 10));
}

/* The same from a profile as jrn_profile_get gives it (borrowed). */
static void row_from_jv(jrn_buf *out, jv row)
{
	for (int i = 0; i < 8; i++) {
		jv v = jv_object_get(jv_copy(row), jv_string(field_names[i]));
		if (jv_get_kind(v) == JV_KIND_STRING) {
			add_key(out, field_names[i]);
			jrn_json_append(out, v, 0, NULL);
		} else {
			jv_free(v);
		}
	}
	const char *objs[] = {"traits", "provenance"};
	for (int i = 0; i < 2; i++) {
		jv v = jv_object_get(jv_copy(row), jv_string(objs[i]));
		add_key(out, objs[i]);
		if (jv_get_kind(v) == JV_KIND_OBJECT)
			jrn_json_append(out, v, JRN_JSON_SORTED, NULL);
		else {
			jv_free(v);
			jrn_buf_adds(out, "{}");
		}
	}
}

/* Writes the current row of part p of st (columns from 1) into out; `first`
 * says whether it opens the part's object or array. */
static void part_row(jrn_buf *out, int p, sqlite3_stmt *st, bool first)
{
	switch (p) {
	case P_CONSENT:
		jrn_buf_adds(out, first ? "" : ",");
		add_col_text(out, st, 1);
		jrn_buf_addc(out, ':');
		add_col_text(out, st, 2);
		break;
	case P_SCORES:
		jrn_buf_adds(out, first ? "" : ",");
		add_col_text(out, st, 1);
		jrn_buf_addc(out, ':');
		jrn_buf_add(out, sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
		break;
	case P_RFM:
		jrn_buf_adds(out, first ? "\"rfm\":" : ",\"rfm\":");
		jrn_buf_add(out, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
		break;
	case P_SEGMENTS:
		jrn_buf_adds(out, first ? "" : ",");
		add_col_text(out, st, 1);
		break;
	}
}

/* An event summary. */
typedef struct {
	int64_t first, last, last_order_ts;
	uint64_t events, orders;
	double total;
} summary;

static void add_summary(jrn_buf *out, const summary *s, const char *oid, size_t oidn, double amount,
			bool has_amount)
{
	add_key(out, "summary");
	jrn_buf_addf(out, "{\"events\":%llu", (unsigned long long)s->events);
	if (s->events) {
		jrn_buf_adds(out, ",\"firstSeen\":");
		add_time(out, s->first);
		jrn_buf_adds(out, ",\"lastSeen\":");
		add_time(out, s->last);
	}
	jrn_buf_addf(out, ",\"orders\":%llu,\"orderTotal\":", (unsigned long long)s->orders);
	add_number(out, s->total);
	if (oid) {
		jrn_buf_adds(out, ",\"lastOrder\":{\"id\":");
		jrn_json_append_str(out, oid, oidn);
		jrn_buf_adds(out, ",\"at\":");
		add_time(out, s->last_order_ts);
		if (has_amount) {
			jrn_buf_adds(out, ",\"amount\":");
			add_number(out, amount);
		}
		jrn_buf_addc(out, '}');
	}
	jrn_buf_addc(out, '}');
}

/* The parts that follow the row: consent, scores (with rfm), segments. The
 * statements are positioned by the caller: `more(p)` says whether part p's
 * statement is on a row of this customer, `next(p)` steps it. */
typedef struct {
	merge_state *S;
	int form;            /* 0: one customer, 1: ordered */
	const char *cust;
	size_t n;
	int rc[NPARTS];      /* last step of each ordered statement */
} cursor;

static int cmp_key(sqlite3_stmt *st, const char *k, size_t n)
{
	const void *a = sqlite3_column_text(st, 0);
	size_t an = (size_t)sqlite3_column_bytes(st, 0);
	int c = memcmp(a, k, an < n ? an : n);
	return c ? c : (an > n) - (an < n);
}

/* Whether part p's statement stands on a row of the cursor's customer,
 * skipping rows of ids before it (ordered form). */
static bool on_row(cursor *c, int p)
{
	sqlite3_stmt *st = c->S->part[p][c->form];
	if (c->form == 0)
		return c->rc[p] == SQLITE_ROW;
	while (c->rc[p] == SQLITE_ROW) {
		int d = cmp_key(st, c->cust, c->n);
		if (d == 0)
			return true;
		if (d > 0)
			return false;
		c->rc[p] = sqlite3_step(st);
	}
	return false;
}

static void step(cursor *c, int p)
{
	c->rc[p] = sqlite3_step(c->S->part[p][c->form]);
}

static int part_fail(cursor *c, jrn_err *e)
{
	for (int p = 0; p < NPARTS; p++)
		if (c->rc[p] != SQLITE_ROW && c->rc[p] != SQLITE_DONE)
			return jrn_fail(e, "%s", sqlite3_errmsg(c->S->db));
	return 0;
}

/* Writes the row (or row_jv when valid) and the parts of c's customer. */
static int write_parts(cursor *c, jv row_jv, jrn_buf *out, jrn_err *e)
{
	add_key(out, "customerId");
	jrn_json_append_str(out, c->cust, c->n);
	if (jv_is_valid(row_jv)) {
		while (on_row(c, P_ROW))
			step(c, P_ROW);
		row_from_jv(out, row_jv);
	} else if (on_row(c, P_ROW)) {
		row_from_stmt(out, c->S->part[P_ROW][c->form]);
		step(c, P_ROW);
	} else {
		jrn_buf_adds(out, ",\"traits\":{},\"provenance\":{}");
	}
	add_key(out, "consent");
	jrn_buf_addc(out, '{');
	for (bool first = true; on_row(c, P_CONSENT); first = false, step(c, P_CONSENT))
		part_row(out, P_CONSENT, c->S->part[P_CONSENT][c->form], first);
	jrn_buf_addc(out, '}');
	add_key(out, "scores");
	jrn_buf_addc(out, '{');
	bool first = true, rfm = false;
	for (; on_row(c, P_RFM); first = false, rfm = true, step(c, P_RFM))
		part_row(out, P_RFM, c->S->part[P_RFM][c->form], first);
	for (; on_row(c, P_SCORES); step(c, P_SCORES)) {
		sqlite3_stmt *st = c->S->part[P_SCORES][c->form];
		if (rfm && !strcmp((const char *)sqlite3_column_text(st, 1), "rfm"))
			continue; /* the snapshot's row speaks for rfm */
		part_row(out, P_SCORES, st, first);
		first = false;
	}
	jrn_buf_addc(out, '}');
	add_key(out, "segments");
	jrn_buf_addc(out, '[');
	for (bool f = true; on_row(c, P_SEGMENTS); f = false, step(c, P_SEGMENTS))
		part_row(out, P_SEGMENTS, c->S->part[P_SEGMENTS][c->form], f);
	jrn_buf_addc(out, ']');
	return part_fail(c, e);
}

/* The event summary of customer and its linked ids, by index lookups. */
static int point_summary(merge_state *S, const char *customer, jrn_buf *out, jrn_err *e)
{
	summary s = {0};
	sqlite3_bind_text(S->sum, 1, customer, -1, SQLITE_STATIC);
	if (sqlite3_step(S->sum) != SQLITE_ROW) {
		sqlite3_reset(S->sum);
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	}
	s.first = sqlite3_column_int64(S->sum, 0);
	s.last = sqlite3_column_int64(S->sum, 1);
	s.events = (uint64_t)sqlite3_column_int64(S->sum, 2);
	s.orders = (uint64_t)sqlite3_column_int64(S->sum, 3);
	s.total = sqlite3_column_double(S->sum, 4);
	sqlite3_reset(S->sum);
	sqlite3_stmt *lo = S->last_order;
	sqlite3_bind_text(lo, 1, customer, -1, SQLITE_STATIC);
	int rc = s.orders ? sqlite3_step(lo) : SQLITE_DONE;
	if (rc == SQLITE_ROW) {
		s.last_order_ts = sqlite3_column_int64(lo, 1);
		add_summary(out, &s, (const char *)sqlite3_column_text(lo, 0),
			    (size_t)sqlite3_column_bytes(lo, 0), sqlite3_column_double(lo, 2),
			    sqlite3_column_type(lo, 2) != SQLITE_NULL);
	} else {
		add_summary(out, &s, NULL, 0, 0, false);
	}
	sqlite3_reset(lo);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	return out->p ? 0 : jrn_fail(e, "out of memory");
}

int merge_state_profile(merge_state *S, const char *customer, jv row, jrn_buf *out, jrn_err *e)
{
	cursor c = {S, 0, customer, strlen(customer), {0}};
	for (int p = 0; p < NPARTS; p++) {
		sqlite3_stmt *st = S->part[p][0];
		sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
		c.rc[p] = sqlite3_step(st);
	}
	int rc = write_parts(&c, row, out, e);
	for (int p = 0; p < NPARTS; p++)
		sqlite3_reset(S->part[p][0]);
	return rc < 0 ? -1 : point_summary(S, customer, out, e);
}

/* ---- every customer (--all) ------------------------------------------------------- *
 *
 * The customers are the ids of the events (read from the index events_customer,
 * grouped as it is ordered) and of the profiles, merged in order; an id with an
 * id link (merged away, an alias) is not a customer. The summaries come from
 * that grouping and from the orders grouped by customer; a customer other ids
 * are linked to gets its summary by lookups instead (its linked ids' events). */

static const char all_events_sql[] =
	"SELECT customer_id, min(ts), max(ts), count(*) FROM events GROUP BY customer_id"
	" ORDER BY customer_id";
static const char all_orders_sql[] =
	"SELECT customer_id, count(*), total(amount), max(ts), id, amount FROM events"
	" WHERE type = 'order.completed' GROUP BY customer_id ORDER BY customer_id";
static const char all_profiles_sql[] = "SELECT customer_id FROM profiles ORDER BY customer_id";
static const char links_sql[] = "SELECT value, customer_id FROM identities WHERE kind = 'id'";

typedef struct {
	jrn_idmap *linked;  /* ids with an id link: not customers */
	jrn_idmap *targets; /* customers other ids are linked to */
	sqlite3_stmt *ev, *ord, *prof;
	int rev, rord, rprof;
} everyone;

static int load_links(merge_state *S, everyone *a, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(S->db, links_sql, -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (jrn_idmap_put(a->linked, (const char *)sqlite3_column_text(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0), NULL) < 0 ||
		    jrn_idmap_put(a->targets, (const char *)sqlite3_column_text(st, 1),
				  (size_t)sqlite3_column_bytes(st, 1), NULL) < 0) {
			sqlite3_finalize(st);
			return jrn_fail(e, "out of memory");
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(S->db));
}

/* Byte order of two ids, as SQLite's BINARY collation. */
static int cmp_ids(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

/* The summary of c's customer from the grouped events and orders. */
static void grouped_summary(everyone *a, cursor *c, jrn_buf *out)
{
	summary s = {0};
	if (a->rev == SQLITE_ROW && cmp_key(a->ev, c->cust, c->n) == 0) {
		s.first = sqlite3_column_int64(a->ev, 1);
		s.last = sqlite3_column_int64(a->ev, 2);
		s.events = (uint64_t)sqlite3_column_int64(a->ev, 3);
	}
	while (a->rord == SQLITE_ROW && cmp_key(a->ord, c->cust, c->n) < 0)
		a->rord = sqlite3_step(a->ord);
	if (a->rord == SQLITE_ROW && cmp_key(a->ord, c->cust, c->n) == 0) {
		s.orders = (uint64_t)sqlite3_column_int64(a->ord, 1);
		s.total = sqlite3_column_double(a->ord, 2);
		s.last_order_ts = sqlite3_column_int64(a->ord, 3);
		add_summary(out, &s, (const char *)sqlite3_column_text(a->ord, 4),
			    (size_t)sqlite3_column_bytes(a->ord, 4), sqlite3_column_double(a->ord, 5),
			    sqlite3_column_type(a->ord, 5) != SQLITE_NULL);
		return;
	}
	add_summary(out, &s, NULL, 0, 0, false);
}

/* The next customer id of the merged event and profile streams into
 * *id (a copy in buf), stepping past it: 1, 0 at the end. */
static int next_id(everyone *a, jrn_buf *buf)
{
	for (;;) {
		bool ev = a->rev == SQLITE_ROW, pr = a->rprof == SQLITE_ROW;
		if (!ev && !pr)
			return 0;
		const char *k;
		size_t n;
		int d = !ev ? 1 : !pr ? -1
			: cmp_ids((const char *)sqlite3_column_text(a->ev, 0), (size_t)sqlite3_column_bytes(a->ev, 0),
				  (const char *)sqlite3_column_text(a->prof, 0), (size_t)sqlite3_column_bytes(a->prof, 0));
		sqlite3_stmt *from = d <= 0 ? a->ev : a->prof;
		k = (const char *)sqlite3_column_text(from, 0);
		n = (size_t)sqlite3_column_bytes(from, 0);
		jrn_buf_reset(buf);
		jrn_buf_add(buf, k, n);
		if (d == 0) /* both: the profile stream steps; the event row stays for the summary */
			a->rprof = sqlite3_step(a->prof);
		if (d > 0)
			a->rprof = sqlite3_step(a->prof);
		if (jrn_idmap_count(a->linked) && jrn_idmap_get(a->linked, buf->p, n) >= 0) {
			if (d <= 0)
				a->rev = sqlite3_step(a->ev);
			continue;
		}
		return 1;
	}
}

int merge_state_all(merge_state *S, int (*each)(void *ctx, const char *customer, jrn_buf *members),
		    void *ctx, jrn_err *e)
{
	everyone a = {jrn_idmap_new(), jrn_idmap_new(), NULL, NULL, NULL, 0, 0, 0};
	jrn_buf out = {0}, id = {0};
	int rc = -1;
	if (!a.linked || !a.targets) {
		jrn_fail(e, "out of memory");
		goto done;
	}
	if (load_links(S, &a, e) < 0)
		goto done;
	if (sqlite3_prepare_v2(S->db, all_events_sql, -1, &a.ev, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(S->db, all_orders_sql, -1, &a.ord, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(S->db, all_profiles_sql, -1, &a.prof, NULL) != SQLITE_OK) {
		jrn_fail(e, "%s", sqlite3_errmsg(S->db));
		goto done;
	}
	a.rev = sqlite3_step(a.ev);
	a.rord = sqlite3_step(a.ord);
	a.rprof = sqlite3_step(a.prof);
	cursor c = {S, 1, NULL, 0, {0}};
	for (int p = 0; p < NPARTS; p++)
		c.rc[p] = sqlite3_step(S->part[p][1]);
	rc = 0;
	while (rc == 0 && next_id(&a, &id) > 0) {
		c.cust = id.p;
		c.n = id.len;
		jrn_buf_reset(&out);
		if (write_parts(&c, jv_invalid(), &out, e) < 0) {
			rc = -1;
			break;
		}
		if (jrn_idmap_count(a.targets) && jrn_idmap_get(a.targets, id.p, id.len) >= 0)
			rc = point_summary(S, id.p, &out, e);
		else
			grouped_summary(&a, &c, &out);
		if (a.rev == SQLITE_ROW && cmp_key(a.ev, id.p, id.len) == 0)
			a.rev = sqlite3_step(a.ev);
		if (rc == 0 && !out.p)
			rc = jrn_fail(e, "out of memory");
		if (rc == 0)
			rc = each(ctx, id.p, &out);
	}
	if (rc == 0 && ((a.rev != SQLITE_DONE && a.rev != SQLITE_ROW) ||
			(a.rord != SQLITE_DONE && a.rord != SQLITE_ROW) ||
			(a.rprof != SQLITE_DONE && a.rprof != SQLITE_ROW)))
		rc = jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	for (int p = 0; p < NPARTS; p++)
		sqlite3_reset(S->part[p][1]);
done:
	sqlite3_finalize(a.ev);
	sqlite3_finalize(a.ord);
	sqlite3_finalize(a.prof);
	jrn_buf_free(&out);
	jrn_buf_free(&id);
	jrn_idmap_free(a.linked);
	jrn_idmap_free(a.targets);
	return rc;
}
