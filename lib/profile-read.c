/*
 * profile-read.c: the state file's part of a profile (profile-read.h).
 * Every part is a query keyed by customer_id in two forms: one customer,
 * its linked ids folded in (a recursive CTE over the id links), and every
 * customer in customer_id order, read in one pass and joined by merging
 * the ordered cursors, so reading every customer costs one scan of each
 * table, not a lookup per customer. The events of every customer are
 * grouped from the index events_customer as it is ordered.
 */
#include <stdlib.h>
#include <string.h>

#include "profile-read.h"

/* The parts, each as [one customer (linked ids folded), every customer in
 * order]. Column 0 is the customer id; column 1 the key of a part whose
 * rows are keyed (consent: channel; scores: kind; segments: segment): in
 * the folded form the first row of a key wins, so each query orders the
 * rows of one key by the fold rule of profile-read.h. */
enum { P_ROW, P_CONSENT, P_SCORES, P_RFM, P_SEGMENTS, P_CART, NPARTS };

#define ROW_COLS "email, phone, name, first_name, locale, time_zone, country, created_at," \
		 " traits, provenance"
#define RFM_COLS "json_object('recency', recency, 'frequency', frequency, 'monetary', monetary," \
		 " 'r', r, 'f', f, 'm', m, 'score', score, 'segment', segment)"
#define RFM_LAST "taken = (SELECT max(taken) FROM rfm_snapshots)"
/* The ids of one customer: itself and every id linked to it, to the end
 * of the chains (UNION: a cycle ends). */
#define IDS_CTE "WITH RECURSIVE ids(x) AS (SELECT ?1 UNION SELECT value FROM identities, ids" \
		" WHERE kind = 'id' AND customer_id = ids.x) "
/* The cart events (jrn-ingest's names of Segment's Product Added, Product
 * Removed, Cart Viewed, Checkout Started) and the lines of a whole cart. */
#define CART_TYPES "('cart.added', 'cart.removed', 'cart.viewed', 'checkout.started')"
/* (CASE, not AND: only CASE is sure to read no JSON from a body that is
 * not JSON, which a state file of an older version may hold) */
#define CART_LEN "CASE WHEN type NOT IN ('cart.viewed', 'checkout.started') THEN NULL" \
		 " WHEN NOT json_valid(body) THEN NULL" \
		 " WHEN json_type(body, '$.properties.products') = 'array'" \
		 " THEN json_array_length(body, '$.properties.products') END"
/* An order carrying a promotion (profile-read.h); instr first: most bodies
 * are not parsed at all. */
#define PROMO "(CASE WHEN NOT (instr(body, 'coupon') OR instr(body, 'discount')" \
	      " OR instr(body, 'promotion_id')) THEN 0 WHEN NOT json_valid(body) THEN 0 ELSE (" \
	      "json_type(body, '$.properties.coupon') = 'text'" \
	      " AND json_extract(body, '$.properties.coupon') <> ''" \
	      " OR json_type(body, '$.properties.discount') IN ('integer', 'real')" \
	      " AND json_extract(body, '$.properties.discount') > 0" \
	      " OR json_type(body, '$.properties.promotion_id') = 'text'" \
	      " AND json_extract(body, '$.properties.promotion_id') <> '') END)"

static const char *const part_sql[NPARTS][2] = {
	[P_ROW] = {"SELECT customer_id, " ROW_COLS " FROM profiles WHERE customer_id = ?1",
		   "SELECT customer_id, " ROW_COLS " FROM profiles ORDER BY customer_id"},
	[P_CONSENT] = {IDS_CTE "SELECT customer_id, channel, status FROM consent"
		       " WHERE customer_id IN ids"
		       " ORDER BY channel, status = 'revoked' DESC, customer_id = ?1 DESC, ts DESC",
		       "SELECT customer_id, channel, status FROM consent ORDER BY customer_id, channel"},
	[P_SCORES] = {IDS_CTE "SELECT customer_id, kind, body FROM scores WHERE customer_id IN ids"
		      " AND json_valid(body) ORDER BY kind, customer_id = ?1 DESC, computed_at DESC",
		      "SELECT customer_id, kind, body FROM scores WHERE json_valid(body)"
		      " ORDER BY customer_id, kind"},
	[P_RFM] = {IDS_CTE "SELECT customer_id, " RFM_COLS " FROM rfm_snapshots WHERE " RFM_LAST
		   " AND customer_id IN ids ORDER BY customer_id = ?1 DESC, customer_id LIMIT 1",
		   "SELECT customer_id, " RFM_COLS " FROM rfm_snapshots WHERE " RFM_LAST
		   " ORDER BY customer_id"},
	[P_SEGMENTS] = {IDS_CTE "SELECT ?1, segment FROM segment_members WHERE customer_id IN ids"
			" GROUP BY segment ORDER BY segment",
			"SELECT customer_id, segment FROM segment_members ORDER BY customer_id, segment"},
	[P_CART] = {IDS_CTE "SELECT ?1, type, ts, " CART_LEN " FROM events WHERE customer_id IN ids"
		    " AND type IN " CART_TYPES " ORDER BY ts, seq",
		    "SELECT customer_id, type, ts, " CART_LEN " FROM events WHERE type IN " CART_TYPES
		    " ORDER BY customer_id, ts, seq"},
};

/* The events of one customer and of every id linked to it: [without,
 * with] the orders carrying a promotion. */
#define SUM_SQL(promo) \
	IDS_CTE "SELECT min(ts), max(ts), count(*), sum(type = 'order.completed')," \
	" total(CASE WHEN type = 'order.completed' THEN amount END), " promo \
	" FROM events WHERE customer_id IN ids"
static const char *const sum_sql[2] = {
	SUM_SQL("0"), SUM_SQL("total(type = 'order.completed' AND " PROMO ")")};
static const char last_order_sql[] =
	IDS_CTE "SELECT id, ts, amount FROM events WHERE customer_id IN ids"
	" AND type = 'order.completed' ORDER BY ts DESC, seq DESC LIMIT 1";
static const char contact_sql[] =
	"WITH RECURSIVE up(x, d) AS (SELECT ?1, 0 UNION ALL SELECT i.customer_id, up.d + 1"
	" FROM identities i, up WHERE i.kind = 'id' AND i.value = up.x AND up.d < 64)"
	" SELECT email, phone, name, first_name, locale FROM profiles"
	" WHERE customer_id = (SELECT x FROM up ORDER BY d DESC LIMIT 1)";
/* contact_sql's two halves for an id no id link leaves (most): is there
 * one, and the id's own profile */
static const char linked_sql[] = "SELECT 1 FROM identities WHERE kind = 'id' AND value = ?1 LIMIT 1";
static const char own_contact_sql[] =
	"SELECT email, phone, name, first_name, locale FROM profiles WHERE customer_id = ?1";

struct jrn_profile_reader {
	sqlite3 *db;
	unsigned flags;
	sqlite3_stmt *part[NPARTS][2];
	sqlite3_stmt *sum, *last_order, *contact, *linked, *own_contact, *consent, *any_link,
		     *own_consent;
	jrn_buf prev, type; /* scratch, kept: no allocation per customer */
};

jrn_profile_reader *jrn_profile_reader_open(sqlite3 *db, unsigned flags, jrn_err *e)
{
	jrn_profile_reader *R = calloc(1, sizeof *R);
	if (!R) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	R->db = db;
	R->flags = flags;
	for (int i = 0; i < NPARTS; i++)
		for (int j = 0; j < 2; j++)
			if ((i != P_CART || (flags & JRN_PROFILE_CART)) &&
			    jrn_db_prepare(db, part_sql[i][j], &R->part[i][j], e) < 0)
				goto fail;
	if (jrn_db_prepare(db, sum_sql[!!(flags & JRN_PROFILE_PROMOTIONS)], &R->sum, e) < 0 ||
	    jrn_db_prepare(db, last_order_sql, &R->last_order, e) < 0)
		goto fail;
	return R;
fail:
	jrn_profile_reader_close(R);
	return NULL;
}

void jrn_profile_reader_close(jrn_profile_reader *R)
{
	if (!R)
		return;
	for (int i = 0; i < NPARTS; i++)
		for (int j = 0; j < 2; j++)
			sqlite3_finalize(R->part[i][j]);
	sqlite3_finalize(R->sum);
	sqlite3_finalize(R->last_order);
	sqlite3_finalize(R->contact);
	sqlite3_finalize(R->linked);
	sqlite3_finalize(R->own_contact);
	sqlite3_finalize(R->consent);
	sqlite3_finalize(R->any_link);
	sqlite3_finalize(R->own_consent);
	jrn_buf_free(&R->prev);
	jrn_buf_free(&R->type);
	free(R);
}

/* ---- writing the parts -------------------------------------------------------- */

static const char *const field_names[] = {"email", "phone", "name", "firstName", "locale",
					  "timeZone", "country", "createdAt"};
#define CREATED_AT 7

/* The members a flat score may not be named (they are the profile's). */
static bool reserved(const char *k)
{
	static const char *const names[] = {"customerId", "traits", "provenance", "consent",
					    "scores", "segments", "summary", "cart", "promotions"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strcmp(k, names[i]))
			return true;
	for (size_t i = 0; i < sizeof field_names / sizeof *field_names; i++)
		if (!strcmp(k, field_names[i]))
			return true;
	return false;
}

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

/* An integer in decimal (no printf: this runs a few times a customer). */
static void add_int(jrn_buf *out, int64_t v)
{
	char t[24], *p = t + sizeof t;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	jrn_buf_add(out, p, (size_t)(t + sizeof t - p));
}

static void add_number(jrn_buf *out, double d)
{
	if (d == (double)(int64_t)d && d > -9e15 && d < 9e15)
		add_int(out, (int64_t)d);
	else
		jrn_json_append(out, jv_number(d), 0, NULL);
}

static void add_col_text(jrn_buf *out, sqlite3_stmt *st, int col)
{
	jrn_json_append_str(out, (const char *)sqlite3_column_text(st, col),
			    (size_t)sqlite3_column_bytes(st, col));
}

static void add_col_raw(jrn_buf *out, sqlite3_stmt *st, int col)
{
	jrn_buf_add(out, sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
}

/* The unified fields, traits and provenance from a profiles row. */
static void row_from_stmt(jrn_buf *out, sqlite3_stmt *st, bool provenance)
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
	add_col_raw(out, st, 9);
	if (provenance) {
		add_key(out, "provenance");
		add_col_raw(out, st, 10);
	}
}

/* The same from a profile as jrn_profile_get gives it (borrowed). */
static void row_from_jv(jrn_buf *out, jv row, bool provenance)
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
	for (int i = 0; i < 1 + provenance; i++) {
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

/* An event summary. */
typedef struct {
	int64_t first, last, last_order_ts;
	uint64_t events, orders;
	double total, promo;
	bool write; /* JRN_PROFILE_SUMMARY: written, else only read */
} summary;

static void add_summary(jrn_buf *out, const summary *s, const char *oid, size_t oidn, double amount,
			bool has_amount)
{
	if (!s->write)
		return;
	add_key(out, "summary");
	jrn_buf_adds(out, "{\"events\":");
	add_int(out, (int64_t)s->events);
	if (s->events) {
		jrn_buf_adds(out, ",\"firstSeen\":");
		add_time(out, s->first);
		jrn_buf_adds(out, ",\"lastSeen\":");
		add_time(out, s->last);
	}
	jrn_buf_adds(out, ",\"orders\":");
	add_int(out, (int64_t)s->orders);
	jrn_buf_adds(out, ",\"orderTotal\":");
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

static void add_promotions(jrn_buf *out, const summary *s)
{
	if (!s->orders)
		return;
	add_key(out, "promotions");
	jrn_buf_adds(out, "{\"orders\":");
	add_int(out, (int64_t)s->orders);
	jrn_buf_adds(out, ",\"redeemed\":");
	add_number(out, s->promo);
	jrn_buf_adds(out, ",\"redeemedRatio\":");
	add_number(out, (double)(int64_t)(s->promo / (double)s->orders * 1e6 + 0.5) / 1e6);
	jrn_buf_addc(out, '}');
}

/* ---- the cursors ------------------------------------------------------------------ */

/* The customer in hand and the statement of each part: form 0, one
 * customer's rows (bound and stepped once); form 1, every customer's in
 * order, each standing on its next row. */
typedef struct {
	jrn_profile_reader *R;
	int form;
	const char *cust;
	size_t n;
	int rc[NPARTS]; /* last step of each statement */
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
	sqlite3_stmt *st = c->R->part[p][c->form];
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
	c->rc[p] = sqlite3_step(c->R->part[p][c->form]);
}

static int part_fail(cursor *c, jrn_err *e)
{
	for (int p = 0; p < NPARTS; p++)
		if (c->R->part[p][c->form] && c->rc[p] != SQLITE_ROW && c->rc[p] != SQLITE_DONE)
			return jrn_fail(e, "%s", sqlite3_errmsg(c->R->db));
	return 0;
}

/* Whether column 1 of st repeats the key in prev (then the row is a linked
 * id's, under a key the fold gave already); else prev takes it. */
static bool repeated(sqlite3_stmt *st, jrn_buf *prev)
{
	const char *k = (const char *)sqlite3_column_text(st, 1);
	size_t n = (size_t)sqlite3_column_bytes(st, 1);
	if (prev->p && prev->len == n && !memcmp(prev->p, k, n))
		return true;
	jrn_buf_reset(prev);
	jrn_buf_add(prev, k ? k : "", n);
	return false;
}

/* consent, scores (with rfm), segments of c's customer. */
static void write_keyed(cursor *c, jrn_buf *out, jrn_buf *prev)
{
	jrn_profile_reader *R = c->R;
	bool flat = R->flags & JRN_PROFILE_FLAT_SCORES;
	add_key(out, "consent");
	jrn_buf_addc(out, '{');
	jrn_buf_reset(prev);
	for (bool first = true; on_row(c, P_CONSENT); step(c, P_CONSENT)) {
		sqlite3_stmt *st = R->part[P_CONSENT][c->form];
		if (repeated(st, prev))
			continue;
		jrn_buf_adds(out, first ? "" : ",");
		first = false;
		add_col_text(out, st, 1);
		jrn_buf_addc(out, ':');
		add_col_text(out, st, 2);
	}
	jrn_buf_addc(out, '}');
	if (!flat) {
		add_key(out, "scores");
		jrn_buf_addc(out, '{');
	}
	bool first = !flat, rfm = false;
	for (; on_row(c, P_RFM); rfm = true, step(c, P_RFM)) {
		jrn_buf_adds(out, first ? "\"rfm\":" : ",\"rfm\":");
		first = false;
		add_col_raw(out, R->part[P_RFM][c->form], 1);
	}
	jrn_buf_reset(prev);
	for (; on_row(c, P_SCORES); step(c, P_SCORES)) {
		sqlite3_stmt *st = R->part[P_SCORES][c->form];
		const char *kind = (const char *)sqlite3_column_text(st, 1);
		if (repeated(st, prev) || (rfm && !strcmp(kind, "rfm")) || (flat && reserved(kind)))
			continue; /* the snapshot's row speaks for rfm */
		jrn_buf_adds(out, first ? "" : ",");
		first = false;
		add_col_text(out, st, 1);
		jrn_buf_addc(out, ':');
		add_col_raw(out, st, 2);
	}
	if (!flat)
		jrn_buf_addc(out, '}');
	add_key(out, "segments");
	jrn_buf_addc(out, '[');
	for (bool f = true; on_row(c, P_SEGMENTS); f = false, step(c, P_SEGMENTS)) {
		jrn_buf_adds(out, f ? "" : ",");
		add_col_text(out, R->part[P_SEGMENTS][c->form], 1);
	}
	jrn_buf_addc(out, ']');
}

/* Writes the row (or row_jv when valid) and the keyed parts of c's
 * customer. 0 or -1 with e. */
static int write_parts(cursor *c, jv row_jv, jrn_buf *out, jrn_err *e)
{
	bool prov = c->R->flags & JRN_PROFILE_PROVENANCE;
	add_key(out, "customerId");
	jrn_json_append_str(out, c->cust, c->n);
	if (jv_is_valid(row_jv)) {
		while (on_row(c, P_ROW))
			step(c, P_ROW);
		row_from_jv(out, row_jv, prov);
	} else if (on_row(c, P_ROW)) {
		row_from_stmt(out, c->R->part[P_ROW][c->form], prov);
		step(c, P_ROW);
	} else {
		jrn_buf_adds(out, prov ? ",\"traits\":{},\"provenance\":{}" : ",\"traits\":{}");
	}
	write_keyed(c, out, &c->R->prev);
	return part_fail(c, e);
}

/* The cart of c's customer (profile-read.h), its orders' last time
 * last_order (INT64_MIN: none). */
static void write_cart(cursor *c, int64_t last_order, jrn_buf *out)
{
	sqlite3_stmt *st = c->R->part[P_CART][c->form];
	int64_t items = 0, at = 0;
	const char *type = NULL;
	jrn_buf t = c->R->type;
	jrn_buf_reset(&t);
	bool any = false;
	for (; on_row(c, P_CART); step(c, P_CART)) {
		type = (const char *)sqlite3_column_text(st, 1);
		at = sqlite3_column_int64(st, 2);
		any = true;
		jrn_buf_reset(&t);
		jrn_buf_adds(&t, type ? type : "");
		if (at <= last_order)
			continue;
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			items = sqlite3_column_int64(st, 3);
		else if (type && !strcmp(type, "cart.added"))
			items++;
		else if (type && !strcmp(type, "cart.removed") && items > 0)
			items--;
	}
	if (any && t.p) {
		add_key(out, "cart");
		jrn_buf_adds(out, "{\"updatedAt\":");
		add_time(out, at);
		jrn_buf_adds(out, ",\"event\":");
		jrn_json_append_str(out, t.p, t.len);
		if (items > 0) {
			jrn_buf_adds(out, ",\"items\":");
			add_int(out, items);
		}
		jrn_buf_addc(out, '}');
	}
	c->R->type = t; /* kept for the next customer */
}

/* The event summary of customer and its linked ids, by index lookups,
 * into out and *s. 0 or -1 with e. */
static int point_summary(jrn_profile_reader *R, const char *customer, jrn_buf *out, summary *s,
			 jrn_err *e)
{
	*s = (summary){.write = R->flags & JRN_PROFILE_SUMMARY};
	sqlite3_bind_text(R->sum, 1, customer, -1, SQLITE_STATIC);
	if (sqlite3_step(R->sum) != SQLITE_ROW) {
		sqlite3_reset(R->sum);
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	}
	s->first = sqlite3_column_int64(R->sum, 0);
	s->last = sqlite3_column_int64(R->sum, 1);
	s->events = (uint64_t)sqlite3_column_int64(R->sum, 2);
	s->orders = (uint64_t)sqlite3_column_int64(R->sum, 3);
	s->total = sqlite3_column_double(R->sum, 4);
	s->promo = sqlite3_column_double(R->sum, 5);
	sqlite3_reset(R->sum);
	sqlite3_stmt *lo = R->last_order;
	sqlite3_bind_text(lo, 1, customer, -1, SQLITE_STATIC);
	int rc = s->orders ? sqlite3_step(lo) : SQLITE_DONE;
	if (rc == SQLITE_ROW) {
		s->last_order_ts = sqlite3_column_int64(lo, 1);
		add_summary(out, s, (const char *)sqlite3_column_text(lo, 0),
			    (size_t)sqlite3_column_bytes(lo, 0), sqlite3_column_double(lo, 2),
			    sqlite3_column_type(lo, 2) != SQLITE_NULL);
	} else {
		s->orders = 0; /* none read: no cart emptied, no promotions */
		add_summary(out, s, NULL, 0, 0, false);
	}
	sqlite3_reset(lo);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	return out->p ? 0 : jrn_fail(e, "out of memory");
}

/* The parts after the summary s: cart, promotions. */
static void write_tail(cursor *c, const summary *s, jrn_buf *out)
{
	if (c->R->flags & JRN_PROFILE_CART)
		write_cart(c, s->orders ? s->last_order_ts : INT64_MIN, out);
	if (c->R->flags & JRN_PROFILE_PROMOTIONS)
		add_promotions(out, s);
}

int jrn_profile_read(jrn_profile_reader *R, const char *customer, jv row, jrn_buf *out,
		     jrn_err *e)
{
	cursor c = {R, 0, customer, strlen(customer), {0}};
	for (int p = 0; p < NPARTS; p++) {
		sqlite3_stmt *st = R->part[p][0];
		if (!st)
			continue;
		sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
		c.rc[p] = p == P_CART ? SQLITE_DONE : sqlite3_step(st);
	}
	int rc = write_parts(&c, row, out, e);
	summary s;
	if (rc == 0)
		rc = point_summary(R, customer, out, &s, e);
	if (rc == 0 && R->part[P_CART][0]) {
		c.rc[P_CART] = sqlite3_step(R->part[P_CART][0]);
		write_tail(&c, &s, out);
		rc = part_fail(&c, e);
	} else if (rc == 0) {
		write_tail(&c, &s, out);
	}
	for (int p = 0; p < NPARTS; p++)
		if (R->part[p][0])
			sqlite3_reset(R->part[p][0]);
	if (rc == 0 && !out->p)
		rc = jrn_fail(e, "out of memory");
	return rc;
}

/* ---- every customer ------------------------------------------------------------- *
 *
 * The customers are the ids of the events (read from the index events_customer,
 * grouped as it is ordered) and of the profiles, merged in order; an id with an
 * id link (merged away, an alias) is not a customer. The summaries come from
 * that grouping and from the orders grouped by customer; a customer other ids
 * are linked to is read as one customer (jrn_profile_read: its linked ids
 * folded in by lookups), and the ordered cursors step past its rows. */

static const char all_events_sql[] =
	"SELECT customer_id, min(ts), max(ts), count(*) FROM events GROUP BY customer_id"
	" ORDER BY customer_id";
#define ALL_ORDERS_SQL(promo) \
	"SELECT customer_id, count(*), total(amount), max(ts), id, amount, " promo \
	" FROM events WHERE type = 'order.completed' GROUP BY customer_id ORDER BY customer_id"
static const char *const all_orders_sql[2] = {ALL_ORDERS_SQL("0"),
					      ALL_ORDERS_SQL("total(" PROMO ")")};
static const char all_profiles_sql[] = "SELECT customer_id FROM profiles ORDER BY customer_id";
static const char links_sql[] = "SELECT value, customer_id FROM identities WHERE kind = 'id'";

typedef struct {
	jrn_idmap *linked;  /* ids with an id link: not customers */
	jrn_idmap *targets; /* customers other ids are linked to */
	sqlite3_stmt *ev, *ord, *prof;
	int rev, rord, rprof;
} everyone;

static int load_links(jrn_profile_reader *R, everyone *a, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(R->db, links_sql, -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
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
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(R->db));
}

/* Byte order of two ids, as SQLite's BINARY collation. */
static int cmp_ids(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

/* The summary of c's customer from the grouped events and orders, into
 * out and *s. */
static void grouped_summary(everyone *a, cursor *c, jrn_buf *out, summary *s)
{
	*s = (summary){.write = c->R->flags & JRN_PROFILE_SUMMARY};
	if (!a->ord) /* nothing reads it */
		return;
	if (a->rev == SQLITE_ROW && cmp_key(a->ev, c->cust, c->n) == 0) {
		s->first = sqlite3_column_int64(a->ev, 1);
		s->last = sqlite3_column_int64(a->ev, 2);
		s->events = (uint64_t)sqlite3_column_int64(a->ev, 3);
	}
	while (a->rord == SQLITE_ROW && cmp_key(a->ord, c->cust, c->n) < 0)
		a->rord = sqlite3_step(a->ord);
	if (a->rord == SQLITE_ROW && cmp_key(a->ord, c->cust, c->n) == 0) {
		s->orders = (uint64_t)sqlite3_column_int64(a->ord, 1);
		s->total = sqlite3_column_double(a->ord, 2);
		s->last_order_ts = sqlite3_column_int64(a->ord, 3);
		s->promo = sqlite3_column_double(a->ord, 6);
		add_summary(out, s, (const char *)sqlite3_column_text(a->ord, 4),
			    (size_t)sqlite3_column_bytes(a->ord, 4), sqlite3_column_double(a->ord, 5),
			    sqlite3_column_type(a->ord, 5) != SQLITE_NULL);
		return;
	}
	add_summary(out, s, NULL, 0, 0, false);
}

/* The next customer id of the merged event and profile streams into buf,
 * stepping past it: 1, 0 at the end. */
static int next_id(everyone *a, jrn_buf *buf)
{
	for (;;) {
		bool ev = a->rev == SQLITE_ROW, pr = a->rprof == SQLITE_ROW;
		if (!ev && !pr)
			return 0;
		int d = !ev ? 1 : !pr ? -1
			: cmp_ids((const char *)sqlite3_column_text(a->ev, 0),
				  (size_t)sqlite3_column_bytes(a->ev, 0),
				  (const char *)sqlite3_column_text(a->prof, 0),
				  (size_t)sqlite3_column_bytes(a->prof, 0));
		sqlite3_stmt *from = d <= 0 ? a->ev : a->prof;
		size_t n = (size_t)sqlite3_column_bytes(from, 0);
		jrn_buf_reset(buf);
		jrn_buf_add(buf, sqlite3_column_text(from, 0), n);
		if (d >= 0) /* both: the profile stream steps; the event row stays for the summary */
			a->rprof = sqlite3_step(a->prof);
		if (jrn_idmap_count(a->linked) && jrn_idmap_get(a->linked, buf->p, n) >= 0) {
			if (d <= 0)
				a->rev = sqlite3_step(a->ev);
			continue;
		}
		return 1;
	}
}

/* The members of c's customer in the ordered form, into out. 0 or -1. */
static int ordered_one(everyone *a, cursor *c, jrn_buf *out, jrn_err *e)
{
	if (write_parts(c, jv_invalid(), out, e) < 0)
		return -1;
	summary s;
	grouped_summary(a, c, out, &s);
	write_tail(c, &s, out);
	return part_fail(c, e);
}

int jrn_profile_read_all(jrn_profile_reader *R,
			 int (*each)(void *ctx, const char *customer, jrn_buf *members), void *ctx,
			 jrn_err *e)
{
	everyone a = {jrn_idmap_new(), jrn_idmap_new(), NULL, NULL, NULL, 0, 0, 0};
	jrn_buf out = {0}, id = {0};
	int rc = -1;
	if (!a.linked || !a.targets) {
		jrn_fail(e, "out of memory");
		goto done;
	}
	if (load_links(R, &a, e) < 0)
		goto done;
	/* the orders grouped: a sort of them, only when something reads them */
	bool orders = R->flags & (JRN_PROFILE_SUMMARY | JRN_PROFILE_CART | JRN_PROFILE_PROMOTIONS);
	if (sqlite3_prepare_v2(R->db, all_events_sql, -1, &a.ev, NULL) != SQLITE_OK ||
	    (orders && sqlite3_prepare_v2(R->db, all_orders_sql[!!(R->flags & JRN_PROFILE_PROMOTIONS)],
					  -1, &a.ord, NULL) != SQLITE_OK) ||
	    sqlite3_prepare_v2(R->db, all_profiles_sql, -1, &a.prof, NULL) != SQLITE_OK) {
		jrn_fail(e, "%s", sqlite3_errmsg(R->db));
		goto done;
	}
	a.rev = sqlite3_step(a.ev);
	a.rord = orders ? sqlite3_step(a.ord) : SQLITE_DONE;
	a.rprof = sqlite3_step(a.prof);
	cursor c = {R, 1, NULL, 0, {0}};
	for (int p = 0; p < NPARTS; p++)
		c.rc[p] = R->part[p][1] ? sqlite3_step(R->part[p][1]) : SQLITE_DONE;
	rc = 0;
	while (rc == 0 && next_id(&a, &id) > 0) {
		c.cust = id.p;
		c.n = id.len;
		jrn_buf_reset(&out);
		if (jrn_idmap_count(a.targets) && jrn_idmap_get(a.targets, id.p, id.len) >= 0)
			rc = jrn_profile_read(R, id.p, jv_invalid(), &out, e);
		else
			rc = ordered_one(&a, &c, &out, e);
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
		rc = jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	for (int p = 0; p < NPARTS; p++)
		if (R->part[p][1])
			sqlite3_reset(R->part[p][1]);
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

/* The consent rows of the customer id names now (id links followed up,
 * at most JRN_PROFILE_READ_MAX_CHAIN) and of every id linked to it (and of
 * id itself), each channel's first row by the fold of profile-read.h. */
static const char consent_sql[] =
	"WITH RECURSIVE up(x, d) AS (SELECT ?1, 0 UNION ALL SELECT i.customer_id, up.d + 1"
	" FROM identities i, up WHERE i.kind = 'id' AND i.value = up.x AND up.d < 64),"
	" root(r) AS (SELECT x FROM up ORDER BY d DESC LIMIT 1),"
	" ids(x) AS (SELECT r FROM root UNION SELECT ?1 UNION SELECT value FROM identities, ids"
	" WHERE kind = 'id' AND customer_id = ids.x)"
	" SELECT channel, status FROM consent WHERE customer_id IN ids"
	" ORDER BY channel, status = 'revoked' DESC, customer_id = (SELECT r FROM root) DESC,"
	" ts DESC";

/* Does a link name id, either way (merged into another customer, or
 * another merged into it)? Both through an index: the primary key's
 * (kind, value), identities_customer. */
static const char any_link_sql[] =
	"SELECT EXISTS (SELECT 1 FROM identities WHERE kind = 'id' AND value = ?1)"
	" OR EXISTS (SELECT 1 FROM identities WHERE customer_id = ?1 AND kind = 'id')";
/* An unlinked id's own rows: one a channel (consent's primary key), which
 * is the fold of consent_sql over the one id. */
static const char own_consent_sql[] =
	"SELECT channel, status FROM consent WHERE customer_id = ?1 ORDER BY channel";

int jrn_profile_consent(jrn_profile_reader *R, const char *id, size_t n, jrn_buf *out,
			jrn_err *e)
{
	if ((!R->consent && jrn_db_prepare(R->db, consent_sql, &R->consent, e) < 0) ||
	    (!R->any_link && jrn_db_prepare(R->db, any_link_sql, &R->any_link, e) < 0) ||
	    (!R->own_consent && jrn_db_prepare(R->db, own_consent_sql, &R->own_consent, e) < 0))
		return -1;
	/* an id no link names is its own customer and has no other: its own
	 * rows, where the recursive statement (its three walks and its sort)
	 * cost several times as much (jrn-segment asks once a streamed
	 * profile) */
	sqlite3_bind_text(R->any_link, 1, id, (int)n, SQLITE_STATIC);
	int lrc = sqlite3_step(R->any_link);
	bool linked = lrc == SQLITE_ROW && sqlite3_column_int(R->any_link, 0);
	sqlite3_reset(R->any_link);
	sqlite3_clear_bindings(R->any_link);
	if (lrc != SQLITE_ROW)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	sqlite3_stmt *st = linked ? R->consent : R->own_consent;
	sqlite3_bind_text(st, 1, id, (int)n, SQLITE_STATIC);
	jrn_buf_reset(&R->prev);
	jrn_buf_addc(out, '{');
	int rc;
	bool first = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* repeated() reads column 1: the channel is column 0 here */
		const char *k = (const char *)sqlite3_column_text(st, 0);
		size_t kn = (size_t)sqlite3_column_bytes(st, 0);
		if (!first && R->prev.len == kn && !memcmp(R->prev.p, k, kn))
			continue;
		jrn_buf_reset(&R->prev);
		jrn_buf_add(&R->prev, k ? k : "", kn);
		jrn_buf_adds(out, first ? "" : ",");
		first = false;
		add_col_text(out, st, 0);
		jrn_buf_addc(out, ':');
		add_col_text(out, st, 1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	return jrn_buf_addc(out, '}') < 0 ? jrn_fail(e, "out of memory") : 0;
}

/* ---- one customer's contact fields ---------------------------------------------- */

jv jrn_profile_contact(jrn_profile_reader *R, const char *id, size_t n, jrn_err *e)
{
	static const char *const names[] = {"email", "phone", "name", "firstName", "locale"};
	if ((!R->contact && jrn_db_prepare(R->db, contact_sql, &R->contact, e) < 0) ||
	    (!R->linked && jrn_db_prepare(R->db, linked_sql, &R->linked, e) < 0) ||
	    (!R->own_contact && jrn_db_prepare(R->db, own_contact_sql, &R->own_contact, e) < 0))
		return jv_invalid();
	/* an id no link leaves is its own customer: two look-ups, where the
	 * recursive statement (and its sort) cost about three times as much */
	sqlite3_bind_text(R->linked, 1, id, (int)n, SQLITE_STATIC);
	int lrc = sqlite3_step(R->linked);
	sqlite3_reset(R->linked);
	sqlite3_clear_bindings(R->linked);
	if (lrc != SQLITE_ROW && lrc != SQLITE_DONE) {
		jrn_fail(e, "%s", sqlite3_errmsg(R->db));
		return jv_invalid();
	}
	sqlite3_stmt *st = lrc == SQLITE_ROW ? R->contact : R->own_contact;
	sqlite3_bind_text(st, 1, id, (int)n, SQLITE_STATIC);
	jv o = jv_object();
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		for (int i = 0; i < 5; i++)
			if (sqlite3_column_type(st, i) != SQLITE_NULL)
				o = jv_object_set(o, jv_string(names[i]),
						  jv_string_sized((const char *)sqlite3_column_text(st, i),
								  sqlite3_column_bytes(st, i)));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		jv_free(o);
		jrn_fail(e, "%s", sqlite3_errmsg(R->db));
		return jv_invalid();
	}
	return o;
}
