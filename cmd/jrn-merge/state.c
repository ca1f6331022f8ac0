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
static const char order_by_seq_sql[] = "SELECT id, amount FROM events WHERE seq = ?1";

struct merge_state {
	sqlite3 *db;
	sqlite3_stmt *part[NPARTS][2];
	sqlite3_stmt *sum, *last_order, *order_by_seq;
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
	    jrn_db_prepare(db, last_order_sql, &S->last_order, e) < 0 ||
	    jrn_db_prepare(db, order_by_seq_sql, &S->order_by_seq, e) < 0)
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
	sqlite3_finalize(S->order_by_seq);
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
	int64_t first, last, last_order_ts, last_order_seq;
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
	if (rc < 0)
		return -1;

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
	rc = s.orders ? sqlite3_step(lo) : SQLITE_DONE;
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

/* ---- every customer (--all) ------------------------------------------------------- */

typedef struct {
	jrn_idmap *ids;  /* customer id -> slot */
	summary *sum;
	size_t cap;
	jrn_idmap *links; /* id -> index in to[] */
	char **to;
	size_t nto;
} everyone;

static summary *slot(everyone *a, const char *k, size_t n)
{
	int64_t i = jrn_idmap_put(a->ids, k, n, NULL);
	if (i < 0)
		return NULL;
	if ((size_t)i >= a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4096;
		summary *p = realloc(a->sum, cap * sizeof *p);
		if (!p)
			return NULL;
		memset(p + a->cap, 0, (cap - a->cap) * sizeof *p);
		a->sum = p;
		a->cap = cap;
	}
	return &a->sum[i];
}

/* The id k[0..n) names now, after id links (itself when none). */
static const char *resolve(everyone *a, const char *k, size_t n, size_t *len)
{
	const char *cur = k;
	*len = n;
	for (int hop = 0; hop < JRN_PROFILE_MAX_CHAIN; hop++) {
		int64_t i = jrn_idmap_get(a->links, cur, *len);
		if (i < 0)
			break;
		cur = a->to[i];
		*len = strlen(cur);
	}
	return cur;
}

static int load_links(merge_state *S, everyone *a, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(S->db, "SELECT value, customer_id FROM identities WHERE kind = 'id'",
			       -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t i = jrn_idmap_put(a->links, (const char *)sqlite3_column_text(st, 0),
					  (size_t)sqlite3_column_bytes(st, 0), NULL);
		if (i >= 0 && (size_t)i >= a->nto) {
			char **p = realloc(a->to, ((size_t)i + 1) * sizeof *p);
			if (!p)
				i = -1;
			else {
				a->to = p;
				a->to[i] = NULL;
				a->nto = (size_t)i + 1;
			}
		}
		if (i < 0) {
			sqlite3_finalize(st);
			return jrn_fail(e, "out of memory");
		}
		free(a->to[i]);
		a->to[i] = strdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(S->db));
}

/* One scan of the events into the customers' summaries. */
static int scan_events(merge_state *S, everyone *a, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(S->db, "SELECT customer_id, type, ts, amount, seq FROM events", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	int rc;
	bool linked = a->nto > 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (linked)
			k = resolve(a, k, n, &n);
		summary *s = slot(a, k, n);
		if (!s) {
			sqlite3_finalize(st);
			return jrn_fail(e, "out of memory");
		}
		int64_t ts = sqlite3_column_int64(st, 2);
		if (!s->events++ || ts < s->first)
			s->first = ts;
		if (s->events == 1 || ts > s->last)
			s->last = ts;
		const char *t = (const char *)sqlite3_column_text(st, 1);
		if (sqlite3_column_bytes(st, 1) == 15 && !memcmp(t, "order.completed", 15)) {
			int64_t seq = sqlite3_column_int64(st, 4);
			s->orders++;
			s->total += sqlite3_column_double(st, 3);
			if (s->orders == 1 || ts > s->last_order_ts ||
			    (ts == s->last_order_ts && seq > s->last_order_seq)) {
				s->last_order_ts = ts;
				s->last_order_seq = seq;
			}
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(S->db));
}

/* Adds the customers with a profile and no events. */
static int scan_profiles(merge_state *S, everyone *a, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(S->db, "SELECT customer_id FROM profiles", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!slot(a, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0))) {
			sqlite3_finalize(st);
			return jrn_fail(e, "out of memory");
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(S->db));
}

static const jrn_idmap *sort_map;

static int by_id(const void *x, const void *y)
{
	size_t an, bn;
	const char *a = jrn_idmap_key(sort_map, *(const size_t *)x, &an);
	const char *b = jrn_idmap_key(sort_map, *(const size_t *)y, &bn);
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

/* The last order's id and amount of a summary. */
static void add_all_summary(merge_state *S, const summary *s, jrn_buf *out)
{
	sqlite3_stmt *st = S->order_by_seq;
	if (s->orders) {
		sqlite3_bind_int64(st, 1, s->last_order_seq);
		if (sqlite3_step(st) == SQLITE_ROW) {
			add_summary(out, s, (const char *)sqlite3_column_text(st, 0),
				    (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_double(st, 1),
				    sqlite3_column_type(st, 1) != SQLITE_NULL);
			sqlite3_reset(st);
			return;
		}
		sqlite3_reset(st);
	}
	add_summary(out, s, NULL, 0, 0, false);
}

int merge_state_all(merge_state *S, int (*each)(void *ctx, const char *customer, jrn_buf *members),
		    void *ctx, jrn_err *e)
{
	everyone a = {jrn_idmap_new(), NULL, 0, jrn_idmap_new(), NULL, 0};
	size_t *order = NULL, n = 0;
	jrn_buf out = {0};
	int rc = -1;
	if (!a.ids || !a.links) {
		jrn_fail(e, "out of memory");
		goto done;
	}
	if (load_links(S, &a, e) < 0 || scan_events(S, &a, e) < 0 || scan_profiles(S, &a, e) < 0)
		goto done;
	n = jrn_idmap_count(a.ids);
	if (n && !(order = malloc(n * sizeof *order))) {
		jrn_fail(e, "out of memory");
		goto done;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		size_t kn;
		const char *k = jrn_idmap_key(a.ids, i, &kn);
		if (jrn_idmap_get(a.links, k, kn) < 0) /* merged away or linked: not a customer */
			order[m++] = i;
	}
	sort_map = a.ids;
	qsort(order, m, sizeof *order, by_id);
	cursor c = {S, 1, NULL, 0, {0}};
	for (int p = 0; p < NPARTS; p++)
		c.rc[p] = sqlite3_step(S->part[p][1]);
	rc = 0;
	for (size_t i = 0; i < m && rc == 0; i++) {
		c.cust = jrn_idmap_key(a.ids, order[i], &c.n);
		jrn_buf_reset(&out);
		if (write_parts(&c, jv_invalid(), &out, e) < 0) {
			rc = -1;
			break;
		}
		add_all_summary(S, &a.sum[order[i]], &out);
		if (!out.p) {
			rc = jrn_fail(e, "out of memory");
			break;
		}
		rc = each(ctx, c.cust, &out);
	}
	for (int p = 0; p < NPARTS; p++)
		sqlite3_reset(S->part[p][1]);
done:
	jrn_buf_free(&out);
	free(order);
	free(a.sum);
	for (size_t i = 0; i < a.nto; i++)
		free(a.to[i]);
	free(a.to);
	jrn_idmap_free(a.ids);
	jrn_idmap_free(a.links);
	return rc;
}
