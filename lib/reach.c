/* reach.c: consent and suppressions over the state file; the rules are in
 * reach.h's top comment. Every statement is prepared once in
 * jrn_reach_open and reset after each use; none begins a transaction. */
#include <stdlib.h>

#include "reach.h"
#include "privacy.h"

/* Addresses go into the suppression lookup this many at a time. Up to
 * this many, the whole question is one statement, one step (jrn-segment
 * --count asks it per member with a profile's customerId, email and
 * phone; outside a transaction each step is a read transaction of its
 * own, which costs more than the lookups). */
#define ADDR_CHUNK 3

/* jrn_reach_memo: the memo holds while both tables have at most this many
 * rows (reach.h). */
#define MEMO_ROWS 65536

/* A process that has written consent or suppressions (through any handle,
 * on any connection) uses no memo from then on: its writes, and their
 * rollback, would not show in PRAGMA data_version. */
static bool reach_wrote;

/* The hashes (jrn_hash64) of every suppressed address and of every
 * customer with a consent row (granted or revoked: the read stays bounded
 * by MEMO_ROWS, consent having no index on status): open addressing, 0
 * empty (a hash
 * of 0 is stored as 1). A hash found is a maybe: the statement answers. */
typedef struct {
	uint64_t *slot;
	size_t cap; /* a power of two, at least twice the entries */
} hash_set;

struct jrn_reach {
	sqlite3 *db;
	sqlite3_stmt *consent_set, *consent_get, *suppress, *suppressed, *may;
	jrn_buf reason; /* the last suppression reason read */
	jrn_privacy *privacy; /* erased values (privacy.h), read once */
	/* jrn_reach_memo */
	bool memo_on, memo_valid;
	int64_t memo_version; /* PRAGMA data_version when it was read */
	unsigned tx, checked_tx; /* jrn_reach_memo_tx: the caller's, the one checked in */
	sqlite3_stmt *version, *all_suppressed, *all_revoked;
	hash_set addresses, customers;
};

static const char sql_consent_set[] =
	"INSERT INTO consent (customer_id, channel, status, ts, source, event_id)"
	" VALUES (?, ?, ?, ?, ?, ?)"
	" ON CONFLICT (customer_id, channel) DO UPDATE SET status = excluded.status,"
	" ts = excluded.ts, source = excluded.source, event_id = excluded.event_id"
	" WHERE excluded.ts >= consent.ts";
/* ?2 NULL: every channel */
static const char sql_consent_get[] =
	"SELECT status FROM consent WHERE customer_id = ?1"
	" AND (?2 IS NULL OR channel IN (?2, 'all'))";
static const char sql_suppress[] =
	"INSERT INTO suppressions (address, channel, reason, ts, source)"
	" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";
/* ?1..?3: addresses (NULL for none); ?4 NULL: every channel */
static const char sql_suppressed[] =
	"SELECT reason, address FROM suppressions WHERE address IN (?1, ?2, ?3)"
	" AND (?4 IS NULL OR channel IN (?4, 'all')) LIMIT 1";
/* Both at once, suppressions first: ?1..?4 as above, ?5 the customer. A
 * row with a reason is a suppression (reason is NOT NULL), one without a
 * revoked consent; no row, neither. (One step costs what the old query of
 * jrn-segment did; a LEFT JOIN of the two cost half as much again.) */
static const char sql_may[] =
	"SELECT reason, address FROM suppressions WHERE address IN (?1, ?2, ?3)"
	" AND (?4 IS NULL OR channel IN (?4, 'all'))"
	" UNION ALL SELECT NULL, NULL FROM consent WHERE customer_id = ?5"
	" AND (?4 IS NULL OR channel IN (?4, 'all')) AND status = 'revoked' LIMIT 1";

jrn_reach *jrn_reach_open(sqlite3 *db, jrn_err *e)
{
	jrn_reach *R = calloc(1, sizeof *R);
	if (!R) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	R->db = db;
	if (jrn_db_prepare(db, sql_consent_set, &R->consent_set, e) < 0 ||
	    jrn_db_prepare(db, sql_consent_get, &R->consent_get, e) < 0 ||
	    jrn_db_prepare(db, sql_suppress, &R->suppress, e) < 0 ||
	    jrn_db_prepare(db, sql_suppressed, &R->suppressed, e) < 0 ||
	    jrn_db_prepare(db, sql_may, &R->may, e) < 0 ||
	    !(R->privacy = jrn_privacy_open(db, e))) {
		jrn_reach_close(R);
		return NULL;
	}
	return R;
}

void jrn_reach_close(jrn_reach *R)
{
	if (!R)
		return;
	sqlite3_finalize(R->consent_set);
	sqlite3_finalize(R->consent_get);
	sqlite3_finalize(R->suppress);
	sqlite3_finalize(R->suppressed);
	sqlite3_finalize(R->may);
	sqlite3_finalize(R->version);
	sqlite3_finalize(R->all_suppressed);
	sqlite3_finalize(R->all_revoked);
	free(R->addresses.slot);
	free(R->customers.slot);
	jrn_privacy_close(R->privacy);
	jrn_buf_free(&R->reason);
	free(R);
}

/* Binds t as text, or NULL when it is none. */
static int bind_text(sqlite3_stmt *st, int i, jrn_reach_text t)
{
	if (!t.p)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text64(st, i, t.p, t.n, SQLITE_STATIC, SQLITE_UTF8);
}

static int bind_cstr(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Steps a write: 1 when it changed a row, 0 when not, -1 with e. */
static int step_write(jrn_reach *R, sqlite3_stmt *st, int bound, jrn_err *e)
{
	reach_wrote = true;
	int rc = bound == SQLITE_OK ? sqlite3_step(st) : bound;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	return sqlite3_changes(R->db) > 0;
}

/* ---- consent ------------------------------------------------------------------ */

int jrn_reach_consent_set(jrn_reach *R, const jrn_reach_consent *c, jrn_err *e)
{
	if (c->status != JRN_REACH_GRANTED && c->status != JRN_REACH_REVOKED)
		return jrn_fail(e, "bad consent status");
	sqlite3_stmt *st = R->consent_set;
	int rc = bind_text(st, 1, c->customer);
	rc |= bind_text(st, 2, c->channel);
	rc |= sqlite3_bind_text(st, 3, c->status == JRN_REACH_GRANTED ? "granted" : "revoked", -1,
				SQLITE_STATIC);
	rc |= sqlite3_bind_int64(st, 4, c->ts);
	rc |= bind_text(st, 5, c->source);
	rc |= bind_text(st, 6, c->event_id);
	return step_write(R, st, rc, e);
}

int jrn_reach_consent_get(jrn_reach *R, jrn_reach_text customer, const char *channel,
			  jrn_err *e)
{
	sqlite3_stmt *st = R->consent_get;
	int status = JRN_REACH_NONE;
	int rc = bind_text(st, 1, customer) | bind_cstr(st, 2, channel);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *s = (const char *)sqlite3_column_text(st, 0);
			if (s && !strcmp(s, "revoked")) {
				status = JRN_REACH_REVOKED;
				rc = SQLITE_DONE;
				break;
			}
			status = JRN_REACH_GRANTED;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? status : jrn_fail(e, "%s", sqlite3_errmsg(R->db));
}

/* ---- suppressions ------------------------------------------------------------- */

int jrn_reach_suppress(jrn_reach *R, jrn_reach_text address, const char *channel,
		       const char *reason, int64_t ts, const char *source, jrn_err *e)
{
	sqlite3_stmt *st = R->suppress;
	int rc = bind_text(st, 1, address);
	rc |= bind_cstr(st, 2, channel);
	rc |= bind_cstr(st, 3, reason);
	rc |= sqlite3_bind_int64(st, 4, ts);
	rc |= bind_cstr(st, 5, source);
	return step_write(R, st, rc, e);
}

/* Binds a[0..n) (n <= ADDR_CHUNK; NULL beyond) and channel to ?1..?4. */
static int bind_addresses(sqlite3_stmt *st, const jrn_reach_text *a, size_t n, const char *channel)
{
	int rc = SQLITE_OK;
	for (size_t i = 0; i < ADDR_CHUNK; i++)
		rc |= i < n ? bind_text(st, (int)i + 1, a[i]) : sqlite3_bind_null(st, (int)i + 1);
	return rc | bind_cstr(st, ADDR_CHUNK + 1, channel);
}

/* A suppression found: its reason (column 0) into R->reason, *which the
 * index in a[0..n) of its address (column 1). 0, or -1 out of memory. */
static int take_found(jrn_reach *R, sqlite3_stmt *st, const jrn_reach_text *a, size_t n,
		      size_t *which)
{
	const char *r = (const char *)sqlite3_column_text(st, 0);
	const void *addr = sqlite3_column_blob(st, 1);
	size_t alen = (size_t)sqlite3_column_bytes(st, 1);
	jrn_buf_reset(&R->reason);
	if (jrn_buf_adds(&R->reason, r ? r : "") < 0)
		return -1;
	*which = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i].p && a[i].n == alen && (alen == 0 || !memcmp(a[i].p, addr, alen))) {
			*which = i;
			break;
		}
	return 0;
}

/* Looks up a[0..n) (n <= ADDR_CHUNK; entries with p NULL skipped): 1 with
 * R->reason and *which set, 0, or -1 with e. */
static int suppressed_chunk(jrn_reach *R, const jrn_reach_text *a, size_t n, const char *channel,
			    size_t *which, jrn_err *e)
{
	sqlite3_stmt *st = R->suppressed;
	int rc = bind_addresses(st, a, n, channel);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int found = 0;
	if (rc == SQLITE_ROW) {
		found = take_found(R, st, a, n, which) < 0 ? -1 : 1;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	if (found < 0)
		return jrn_fail(e, "out of memory");
	return rc == SQLITE_DONE ? found : jrn_fail(e, "%s", sqlite3_errmsg(R->db));
}

/* Any of a[0..n) suppressed on channel: 1 (R->reason, *which), 0, -1. */
static int suppressed_any(jrn_reach *R, const jrn_reach_text *a, size_t n, const char *channel,
			  size_t *which, jrn_err *e)
{
	for (size_t at = 0; at < n; at += ADDR_CHUNK) {
		size_t k = n - at < ADDR_CHUNK ? n - at : ADDR_CHUNK;
		bool any = false;
		for (size_t i = 0; i < k; i++)
			any |= a[at + i].p != NULL;
		if (!any)
			continue;
		int rc = suppressed_chunk(R, a + at, k, channel, which, e);
		if (rc != 0) {
			*which += at;
			return rc;
		}
	}
	return 0;
}

int jrn_reach_suppressed(jrn_reach *R, jrn_reach_text address, const char *channel,
			 const char **reason, jrn_err *e)
{
	size_t which;
	int rc = address.p ? suppressed_chunk(R, &address, 1, channel, &which, e) : 0;
	if (reason)
		*reason = rc == 1 ? R->reason.p : NULL;
	return rc;
}

/* ---- the question ---------------------------------------------------------------- */

/* The question in one step (q->naddresses <= ADDR_CHUNK). */
static int may_at_once(jrn_reach *R, const jrn_reach_ask *q, jrn_reach_verdict *v, jrn_err *e)
{
	sqlite3_stmt *st = R->may;
	int rc = bind_addresses(st, q->addresses, q->naddresses, q->channel) |
		 bind_text(st, ADDR_CHUNK + 2, q->customer);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int may = 1;
	if (rc == SQLITE_ROW) {
		rc = SQLITE_DONE;
		may = 0;
		if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
			v->answer = JRN_REACH_SUPPRESSED;
			if (take_found(R, st, q->addresses, q->naddresses, &v->address) < 0)
				may = -1;
			v->reason = R->reason.p;
		} else {
			v->answer = JRN_REACH_REFUSED;
		}
	}
	sqlite3_reset(st);
	if (may < 0) {
		v->failed = "suppressions";
		return jrn_fail(e, "out of memory");
	}
	if (rc != SQLITE_DONE) {
		v->failed = "suppressions";
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	}
	return may;
}

/* An erased customer or address (privacy.h): 0 with v saying "erased"
 * (v->address: the address's index, 0 for the customer), 1 when none is,
 * -1 when OpenSSL failed (v->failed "erasures"). */
static int erased_any(jrn_reach *R, const jrn_reach_ask *q, jrn_reach_verdict *v)
{
	int rc = q->customer.p ? jrn_privacy_erased(R->privacy, q->customer.p, q->customer.n) : 0;
	for (size_t i = 0; rc == 0 && i < q->naddresses; i++)
		if (q->addresses[i].p &&
		    (rc = jrn_privacy_erased(R->privacy, q->addresses[i].p, q->addresses[i].n)) == 1)
			v->address = i;
	if (rc < 0)
		v->failed = "erasures";
	if (rc == 1) {
		v->answer = JRN_REACH_SUPPRESSED;
		v->reason = "erased";
	}
	return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

/* ---- the memo (jrn_reach_memo) ---------------------------------------------------- */

static uint64_t hash_of(const char *p, size_t n)
{
	uint64_t h = jrn_hash64(p, n);
	return h ? h : 1;
}

static bool set_has(const hash_set *s, uint64_t h)
{
	for (size_t i = h & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return true;
	return false;
}

static void set_add(hash_set *s, uint64_t h)
{
	size_t i = h & (s->cap - 1);
	while (s->slot[i] && s->slot[i] != h)
		i = (i + 1) & (s->cap - 1);
	s->slot[i] = h;
}

/* Reads st's column 0 of every row into s, made just large enough for
 * them (a small set stays in the CPU's cache): 1 when they were at most
 * MEMO_ROWS, 0 when more (s then is not to be used), -1 with e. */
static int set_load(jrn_reach *R, sqlite3_stmt *st, hash_set *s, jrn_err *e)
{
	uint64_t *h = malloc(MEMO_ROWS * sizeof *h);
	if (!h)
		return jrn_fail(e, "out of memory");
	sqlite3_bind_int(st, 1, MEMO_ROWS + 1);
	int rc, n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < MEMO_ROWS)
		h[n++] = hash_of(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(h);
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	}
	if (rc == SQLITE_ROW) { /* a row past MEMO_ROWS */
		free(h);
		return 0;
	}
	size_t cap = 16;
	while (cap < 2 * (size_t)n)
		cap *= 2;
	if (cap != s->cap) {
		free(s->slot);
		s->cap = 0;
		if (!(s->slot = malloc(cap * sizeof *s->slot))) {
			free(h);
			return jrn_fail(e, "out of memory");
		}
		s->cap = cap;
	}
	memset(s->slot, 0, cap * sizeof *s->slot);
	for (int i = 0; i < n; i++)
		set_add(s, h[i]);
	free(h);
	return 1;
}

/* Makes the memo hold what the state file holds now (reread when another
 * connection has committed since it was read): R->memo_valid. 0, -1. */
static int memo_fresh(jrn_reach *R, jrn_err *e)
{
	if (R->memo_valid && R->tx && R->tx == R->checked_tx && !sqlite3_get_autocommit(R->db))
		return 0;
	R->checked_tx = 0;
	int rc = sqlite3_step(R->version);
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(R->version, 0) : 0;
	sqlite3_reset(R->version);
	if (rc != SQLITE_ROW)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	R->checked_tx = sqlite3_get_autocommit(R->db) ? 0 : R->tx;
	if (R->memo_valid && v == R->memo_version)
		return 0;
	R->memo_valid = false;
	int a = set_load(R, R->all_suppressed, &R->addresses, e);
	int c = a == 1 ? set_load(R, R->all_revoked, &R->customers, e) : a;
	if (c < 0)
		return -1;
	R->memo_valid = a == 1 && c == 1;
	R->memo_version = v;
	return 0;
}

/* 1 when the memo says that nothing can block q (no address of it
 * suppressed on any channel, its customer without a consent row), 0 when
 * the statements must say, -1 with e. */
static int memo_clear(jrn_reach *R, const jrn_reach_ask *q, jrn_err *e)
{
	if (reach_wrote)
		return 0;
	if (memo_fresh(R, e) < 0)
		return -1;
	if (!R->memo_valid)
		return 0;
	for (size_t i = 0; i < q->naddresses; i++)
		if (q->addresses[i].p && set_has(&R->addresses, hash_of(q->addresses[i].p, q->addresses[i].n)))
			return 0;
	return !q->customer.p || !set_has(&R->customers, hash_of(q->customer.p, q->customer.n));
}

int jrn_reach_memo(jrn_reach *R, bool on, jrn_err *e)
{
	R->memo_on = on;
	R->memo_valid = false;
	if (!on || R->version)
		return 0;
	if (jrn_db_prepare(R->db, "PRAGMA data_version", &R->version, e) < 0 ||
	    jrn_db_prepare(R->db, "SELECT address FROM suppressions LIMIT ?1", &R->all_suppressed, e) < 0 ||
	    jrn_db_prepare(R->db, "SELECT customer_id FROM consent LIMIT ?1",
			   &R->all_revoked, e) < 0) {
		R->memo_on = false;
		return -1;
	}
	return 0;
}

void jrn_reach_memo_tx(jrn_reach *R, unsigned tx)
{
	R->tx = tx;
}

int jrn_reach_may(jrn_reach *R, const jrn_reach_ask *q, jrn_reach_verdict *v, jrn_err *e)
{
	*v = (jrn_reach_verdict){JRN_REACH_MAY, NULL, 0, NULL};
	/* q->purpose: both purposes get the same answer (reach.h) */
	if (jrn_privacy_count(R->privacy) > 0) {
		int erased = erased_any(R, q, v);
		if (erased != 1)
			return erased < 0 ? jrn_fail(e, "cannot compute HMAC-SHA-256 (OpenSSL failed)")
					  : 0;
	}
	if (R->memo_on) {
		int clear = memo_clear(R, q, e);
		if (clear != 0) {
			if (clear < 0)
				v->failed = "suppressions";
			return clear;
		}
	}
	if (q->naddresses <= ADDR_CHUNK)
		return may_at_once(R, q, v, e);
	int rc = suppressed_any(R, q->addresses, q->naddresses, q->channel, &v->address, e);
	if (rc < 0) {
		v->failed = "suppressions";
		return -1;
	}
	if (rc > 0) {
		v->answer = JRN_REACH_SUPPRESSED;
		v->reason = R->reason.p;
		return 0;
	}
	if (!q->customer.p)
		return 1;
	rc = jrn_reach_consent_get(R, q->customer, q->channel, e);
	if (rc < 0) {
		v->failed = "consent";
		return -1;
	}
	if (rc == JRN_REACH_REVOKED) {
		v->answer = JRN_REACH_REFUSED;
		return 0;
	}
	return 1;
}

/* ---- a profile's own consent ---------------------------------------------------- */

/* A status that refuses: false, "revoked" or "unsubscribed". Borrows. */
static bool refusing(jv s)
{
	jv_kind k = jv_get_kind(s);
	return k == JV_KIND_FALSE ||
	       (k == JV_KIND_STRING && (!strcmp(jv_string_value(s), "revoked") ||
					!strcmp(jv_string_value(s), "unsubscribed")));
}

bool jrn_reach_profile_refuses(jv consent, const char *channel)
{
	bool refuses = false;
	if (jv_get_kind(consent) != JV_KIND_OBJECT)
		return false;
	jv_object_foreach(consent, k, v) { /* borrows consent */
		const char *name = jv_string_value(k);
		if (!refuses && (!channel || !strcmp(name, channel) || !strcmp(name, "all"))) {
			jv s = jv_get_kind(v) == JV_KIND_OBJECT
				       ? jv_object_get(jv_copy(v), jv_string("status"))
				       : jv_copy(v);
			refuses = refusing(s);
			jv_free(s);
		}
		jv_free(k);
		jv_free(v);
	}
	return refuses;
}

int jrn_reach_unsuppress(jrn_reach *R, jrn_reach_text address, const char *channel, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	reach_wrote = true;
	if (sqlite3_prepare_v2(R->db, "DELETE FROM suppressions WHERE address = ?1"
			       " AND (?2 IS NULL OR channel = ?2)", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	int bound = bind_text(st, 1, address);
	if (bound == SQLITE_OK)
		bound = bind_cstr(st, 2, channel);
	int rc = bound == SQLITE_OK ? sqlite3_step(st) : bound;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	return sqlite3_changes(R->db);
}

/* ---- jrn privacy erase (privacy.h) -------------------------------------------- */

int jrn_reach_erase(sqlite3 *db, jv *counts, jrn_err *e)
{
	static const char *const steps[][2] = {
		{"consent", "DELETE FROM consent WHERE customer_id IN (SELECT v FROM temp.jrn_erase_ids)"},
		{"suppressions", "DELETE FROM suppressions WHERE address IN"
				 " (SELECT v FROM temp.jrn_erase_vals)"},
	};
	reach_wrote = true;
	return jrn_privacy_steps(db, steps, sizeof steps / sizeof *steps, counts, e);
}

/* ---- jrn partition export|import|drop (jrn.h) ---------------------------------- */

int jrn_reach_partition(sqlite3 *db, int step, jv *counts, jrn_err *e)
{
	/* consent is the customer's; suppressions are an address's, global:
	 * copied whole, merged without replacing a row here, never dropped */
	static const char *const exp[][2] = {
		{"consent", "INSERT INTO " JRN_PART_SCHEMA ".consent SELECT * FROM main.consent"
			    " WHERE customer_id IN (SELECT v FROM temp.jrn_part_ids)"},
		{"suppressions", "INSERT INTO " JRN_PART_SCHEMA ".suppressions SELECT * FROM"
				 " main.suppressions"},
	};
	static const char *const imp[][2] = {
		{"consent", "INSERT INTO main.consent SELECT * FROM " JRN_PART_SCHEMA ".consent"},
		{"suppressions", "INSERT OR IGNORE INTO main.suppressions SELECT * FROM "
				 JRN_PART_SCHEMA ".suppressions"},
	};
	static const char *const drop[][2] = {
		{"consent", "DELETE FROM main.consent WHERE customer_id IN"
			    " (SELECT v FROM temp.jrn_part_ids)"},
	};
	reach_wrote = true;
	switch (step) {
	case JRN_PART_EXPORT:
		return jrn_privacy_steps(db, exp, 2, counts, e);
	case JRN_PART_IMPORT:
		return jrn_privacy_steps(db, imp, 2, counts, e);
	case JRN_PART_DROP:
		return jrn_privacy_steps(db, drop, 1, counts, e);
	}
	return jrn_fail(e, "partition: unknown step %d", step);
}
