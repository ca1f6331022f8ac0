/* enroll.c: the SQL of the journey engine: journey_versions, enrollments,
 * enrollment_log and journey_schedules (schema 8, jrn-state(5)). Every
 * statement is prepared once and reused; the caller holds the
 * transaction. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum {
	Q_VLATEST, Q_VINSERT, Q_VSOURCE, Q_GET, Q_ACTIVE, Q_LAST, Q_BYKEY, Q_INSERT, Q_UPDATE,
	Q_CUSTOMER, Q_DUE, Q_OLDER, Q_LOG, Q_FGET, Q_FSET, Q_SEGMENT, Q_PROFILES, Q_ENTRY, Q_ACTIVE_OF, Q_UPDATE_ACTIVE, NQ
};

static const char *const sql[NQ] = {
	[Q_VLATEST] = "SELECT version, digest, created_at FROM journey_versions WHERE journey = ?"
		      " ORDER BY version DESC LIMIT 1",
	[Q_VINSERT] = "INSERT INTO journey_versions (journey, version, digest, source, file,"
		      " created_at) VALUES (?, ?, ?, ?, ?, ?)",
	[Q_VSOURCE] = "SELECT source, file FROM journey_versions WHERE journey = ? AND version = ?",
	[Q_GET] = "SELECT id, journey, version, customer_id, trigger_key, trigger_event, status,"
		  " step, due_at, wait_events, variant, entered_at, updated_at, ended_at, reason"
		  " FROM enrollments WHERE id = ?",
	[Q_ACTIVE] = "SELECT id FROM enrollments WHERE journey = ? AND customer_id = ?"
		     " AND status = 'active'",
	[Q_LAST] = "SELECT max(entered_at) FROM enrollments WHERE customer_id = ?2 AND journey = ?1",
	[Q_BYKEY] = "SELECT 1 FROM enrollments WHERE customer_id = ?2 AND journey = ?1"
		    " AND trigger_key = ?3 LIMIT 1",
	[Q_INSERT] = "INSERT INTO enrollments (journey, version, customer_id, trigger_key,"
		     " trigger_event, status, entered_at, updated_at)"
		     " VALUES (?, ?, ?, ?, ?, 'active', ?7, ?7)",
	[Q_UPDATE] = "UPDATE enrollments SET version = ?2, status = ?3, step = ?4, due_at = ?5,"
		     " wait_events = ?6, variant = ?7, updated_at = ?8, ended_at = ?9, reason = ?10"
		     " WHERE id = ?1",
	/* Q_UPDATE of a row that is active and stays so: neither status nor
	 * journey nor customer_id set, so SQLite leaves enrollments_active
	 * (partial on status) alone and rewrites only enrollments_due */
	[Q_UPDATE_ACTIVE] = "UPDATE enrollments SET version = ?2, step = ?4, due_at = ?5,"
			    " wait_events = ?6, variant = ?7, updated_at = ?8, ended_at = ?9,"
			    " reason = ?10 WHERE id = ?1 AND status = 'active'",
	[Q_CUSTOMER] = "SELECT id FROM enrollments WHERE customer_id = ? AND status = 'active'"
		       " ORDER BY id",
	/* by the partial index enrollments_due: (due_at, id) after the
	 * cursor, so a tick reads only what is due, however many have ended */
	[Q_DUE] = "SELECT id, due_at FROM enrollments WHERE status = 'active' AND due_at <= ?1"
		  " AND (due_at, id) > (?2, ?3) ORDER BY due_at, id LIMIT ?4",
	[Q_OLDER] = "SELECT id FROM enrollments WHERE journey = ? AND version < ?"
		    " AND status = 'active' ORDER BY id",
	[Q_LOG] = "INSERT INTO enrollment_log (enrollment, seq, at, step, what, detail)"
		  " VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM enrollment_log"
		  " WHERE enrollment = ?1), ?2, ?3, ?4, ?5)",
	[Q_FGET] = "SELECT fired_at FROM journey_schedules WHERE journey = ?",
	[Q_FSET] = "INSERT INTO journey_schedules (journey, fired_at) VALUES (?1, ?2)"
		   " ON CONFLICT (journey) DO UPDATE SET fired_at = excluded.fired_at",
	[Q_SEGMENT] = "SELECT customer_id FROM segment_members WHERE segment = ?1"
		      " AND customer_id > ?2 ORDER BY customer_id LIMIT ?3",
	[Q_PROFILES] = "SELECT customer_id FROM profiles WHERE customer_id > ?2"
		       " ORDER BY customer_id LIMIT ?3",
	/* Q_BYKEY, Q_ACTIVE and Q_LAST in one pass over the customer's rows
	 * of the journey (enrollments_customer): at most one is active
	 * (enrollments_active), so max() of its id is it */
	/* by the partial index, so that a customer's ended enrollments are
	 * not read (the planner takes enrollments_customer otherwise) */
	[Q_ACTIVE_OF] = "SELECT id FROM enrollments INDEXED BY enrollments_active"
			" WHERE journey = ?1 AND customer_id = ?2 AND status = 'active'",
	[Q_ENTRY] = "SELECT max(trigger_key = ?3), max(CASE WHEN status = 'active' THEN id END),"
		    " max(entered_at) FROM enrollments WHERE customer_id = ?2 AND journey = ?1",
};

struct enroll_db {
	sqlite3 *db;
	sqlite3_stmt *q[NQ];
	/* enroll_due_watch: the earliest due (watch_at, watch_id) as the
	 * caller read it, stale once a write may have changed it */
	int64_t watch_id, watch_at;
	bool watch_stale;
	/* enroll_keys_track: a Bloom filter of ENROLL_KEY_BITS bits over
	 * every (journey, customer, trigger_key) inserted; NULL: none */
	uint64_t *keys;
};

/* The filter's size: 8 MiB, whatever the run; 4 bits a key, so that at
 * 1M enrollments one absent key in 70,000 still looks present (and is
 * then looked up). */
#define ENROLL_KEY_BITS (1u << 26)
#define ENROLL_KEY_PROBES 4

enroll_db *enroll_open(sqlite3 *db, jrn_err *e)
{
	enroll_db *D = calloc(1, sizeof *D);
	if (!D) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	D->db = db;
	D->watch_stale = true;
	for (int i = 0; i < NQ; i++)
		if (jrn_db_prepare(db, sql[i], &D->q[i], e) < 0) {
			enroll_close(D);
			return NULL;
		}
	return D;
}

void enroll_close(enroll_db *D)
{
	if (!D)
		return;
	for (int i = 0; i < NQ; i++)
		sqlite3_finalize(D->q[i]);
	jrn_huge_free(D->keys, ENROLL_KEY_BITS / 8);
	free(D);
}

void enroll_row_free(enroll_row *r)
{
	char **s[] = {&r->journey, &r->customer, &r->trigger_key, &r->trigger_event, &r->status,
		      &r->step, &r->wait_events, &r->variant, &r->reason};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		free(*s[i]);
		*s[i] = NULL;
	}
}

/* Resets st; 0 when rc is a row or done, else -1 with SQLite's message. */
static int done(enroll_db *D, sqlite3_stmt *st, int rc, jrn_err *e)
{
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		jrn_fail(e, "%s", sqlite3_errmsg(D->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t t)
{
	if (t != INT64_MIN)
		sqlite3_bind_int64(st, i, t);
	else
		sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? strdup(s) : NULL;
}

static int64_t col_time(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, i);
}

int enroll_version_latest(enroll_db *D, const char *name, int64_t *version, char digest[65],
			  int64_t *created_at, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_VLATEST];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	if (found) {
		*version = sqlite3_column_int64(st, 0);
		const char *d = (const char *)sqlite3_column_text(st, 1);
		snprintf(digest, 65, "%s", d ? d : "");
		if (created_at)
			*created_at = sqlite3_column_int64(st, 2);
	}
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int enroll_version_insert(enroll_db *D, const journey *J, int64_t version, int64_t now,
			  jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_VINSERT];
	sqlite3_bind_text(st, 1, J->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_text(st, 3, J->digest, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, J->source ? J->source : "", -1, SQLITE_STATIC);
	bind_opt(st, 5, J->file);
	sqlite3_bind_int64(st, 6, now);
	return done(D, st, sqlite3_step(st), e);
}

int enroll_version_source(enroll_db *D, const char *name, int64_t version, jrn_buf *src,
			  jrn_buf *file, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_VSOURCE];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	jrn_buf_reset(src);
	jrn_buf_reset(file);
	if (found) {
		jrn_buf_add(src, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		jrn_buf_add(file, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
		if (jrn_buf_add(src, "", 0) < 0 || jrn_buf_add(file, "", 0) < 0) {
			done(D, st, rc, e);
			return jrn_fail(e, "out of memory");
		}
	}
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int enroll_get(enroll_db *D, int64_t id, enroll_row *r, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_GET];
	memset(r, 0, sizeof *r);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	if (found) {
		r->id = sqlite3_column_int64(st, 0);
		r->journey = col_dup(st, 1);
		r->version = sqlite3_column_int64(st, 2);
		r->customer = col_dup(st, 3);
		r->trigger_key = col_dup(st, 4);
		r->trigger_event = col_dup(st, 5);
		r->status = col_dup(st, 6);
		r->step = col_dup(st, 7);
		r->due_at = col_time(st, 8);
		r->wait_events = col_dup(st, 9);
		r->variant = col_dup(st, 10);
		r->entered_at = sqlite3_column_int64(st, 11);
		r->updated_at = sqlite3_column_int64(st, 12);
		r->ended_at = col_time(st, 13);
		r->reason = col_dup(st, 14);
		if (!r->journey || !r->customer || !r->status) {
			enroll_row_free(r);
			done(D, st, rc, e);
			return jrn_fail(e, "enrollment %lld: out of memory", (long long)id);
		}
	}
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int64_t enroll_active(enroll_db *D, const char *journey, const char *customer, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_ACTIVE];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	return done(D, st, rc, e) < 0 ? -1 : id;
}

int enroll_last_entry(enroll_db *D, const char *journey, const char *customer, int64_t *at,
		      jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_LAST];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (found)
		*at = sqlite3_column_int64(st, 0);
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int enroll_by_trigger(enroll_db *D, const char *journey, const char *customer, const char *key,
		      jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_BYKEY];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int enroll_keys_track(enroll_db *D)
{
	if (!D->keys && !(D->keys = jrn_huge_alloc(ENROLL_KEY_BITS / 8)))
		return -1;
	return 0;
}

/* The filter's hash of (journey, customer, key): NUL-separated, which is
 * injective (none of them holds a NUL: jrn_id_check); 0 out of memory. */
static uint64_t key_hash(const char *journey, const char *customer, const char *key)
{
	size_t a = strlen(journey), b = strlen(customer), c = strlen(key);
	char small[256], *t = a + b + c + 2 <= sizeof small ? small : malloc(a + b + c + 2);
	uint64_t h = 0;
	if (t) {
		memcpy(t, journey, a);
		t[a] = '\0';
		memcpy(t + a + 1, customer, b);
		t[a + 1 + b] = '\0';
		memcpy(t + a + b + 2, key, c);
		h = jrn_hash64(t, a + b + c + 2);
		if (t != small)
			free(t);
	}
	return h;
}

int enroll_entry(enroll_db *D, const char *journey, const char *customer, const char *key,
		 int64_t *active, int64_t *last, jrn_err *e)
{
	if (D->keys) { /* known enrollments: three cheap lookups */
		bool maybe = route_bloom_has(D->keys, ENROLL_KEY_BITS, ENROLL_KEY_PROBES,
					     key_hash(journey, customer, key));
		int rc = maybe ? enroll_by_trigger(D, journey, customer, key, e) : 0;
		if (rc != 0)
			return rc;
		sqlite3_stmt *st = D->q[Q_ACTIVE_OF];
		sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		*active = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		if (done(D, st, rc, e) < 0)
			return -1;
		rc = enroll_last_entry(D, journey, customer, last, e);
		return rc < 0 ? -1 : rc ? 2 : 0;
	}
	sqlite3_stmt *st = D->q[Q_ENTRY];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = 0;
	*active = 0;
	if (rc == SQLITE_ROW) {
		found = sqlite3_column_int(st, 0) ? 1 : 0;
		*active = sqlite3_column_int64(st, 1); /* NULL: 0 */
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			*last = sqlite3_column_int64(st, 2);
			found |= 2;
		}
	}
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int64_t enroll_insert(enroll_db *D, const char *journey, int64_t version, const char *customer,
		      const char *key, const char *event, size_t elen, int64_t now, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_INSERT];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_text(st, 3, customer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
	if (event)
		sqlite3_bind_text(st, 5, event, (int)elen, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, now);
	if (done(D, st, sqlite3_step(st), e) < 0)
		return -1;
	if (D->keys)
		route_bloom_add(D->keys, ENROLL_KEY_BITS, ENROLL_KEY_PROBES, key_hash(journey, customer, key));
	return sqlite3_last_insert_rowid(D->db);
}

void enroll_due_watch(enroll_db *D, int64_t id, int64_t at)
{
	D->watch_id = id;
	D->watch_at = at;
	D->watch_stale = false;
}

bool enroll_due_stale(const enroll_db *D)
{
	return D->watch_stale;
}

/* Binds r's columns 1, 2 and 4..10 of the enrollment updates (3, the
 * status, is the caller's: the update of an active row has none). */
static void bind_row(sqlite3_stmt *st, const enroll_row *r)
{
	sqlite3_bind_int64(st, 1, r->id);
	sqlite3_bind_int64(st, 2, r->version);
	bind_opt(st, 4, r->step);
	bind_time(st, 5, r->due_at);
	bind_opt(st, 6, r->wait_events);
	bind_opt(st, 7, r->variant);
	sqlite3_bind_int64(st, 8, r->updated_at);
	bind_time(st, 9, r->ended_at);
	bind_opt(st, 10, r->reason);
}

int enroll_update(enroll_db *D, const enroll_row *r, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_UPDATE];
	/* the earliest due changes only when its row changes, or another
	 * row becomes active and due before it (enroll_insert's rows have no
	 * due_at; nothing here deletes) */
	if (r->id == D->watch_id ||
	    (r->due_at != INT64_MIN && r->status && !strcmp(r->status, "active") &&
	     (r->due_at < D->watch_at || (r->due_at == D->watch_at && r->id < D->watch_id))))
		D->watch_stale = true;
	if (r->status && !strcmp(r->status, "active")) {
		/* most often it was active: one index less to rewrite */
		sqlite3_stmt *up = D->q[Q_UPDATE_ACTIVE];
		bind_row(up, r);
		if (done(D, up, sqlite3_step(up), e) < 0)
			return -1;
		if (sqlite3_changes(D->db) > 0)
			return 0;
	}
	bind_row(st, r);
	sqlite3_bind_text(st, 3, r->status, -1, SQLITE_TRANSIENT);
	return done(D, st, sqlite3_step(st), e);
}

/* Appends column 0 of each row of st (bound) to ids; with after_id not
 * NULL, the last row's column 0 and 1 go to *after_id and *after_due (a
 * cursor). The number of rows, or -1 with e. */
static int collect_at(enroll_db *D, sqlite3_stmt *st, jrn_buf *ids, int64_t *after_due,
		      int64_t *after_id, jrn_err *e)
{
	int rc, n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (after_id) {
			*after_id = id;
			*after_due = sqlite3_column_int64(st, 1);
		}
		if (jrn_buf_add(ids, &id, sizeof id) < 0) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return jrn_fail(e, "out of memory");
		}
		n++;
	}
	return done(D, st, rc, e) < 0 ? -1 : n;
}

static int collect(enroll_db *D, sqlite3_stmt *st, jrn_buf *ids, jrn_err *e)
{
	return collect_at(D, st, ids, NULL, NULL, e);
}

int enroll_customer_active(enroll_db *D, const char *customer, jrn_buf *ids, jrn_err *e)
{
	sqlite3_bind_text(D->q[Q_CUSTOMER], 1, customer, -1, SQLITE_STATIC);
	return collect(D, D->q[Q_CUSTOMER], ids, e);
}

int enroll_customer_active_of(enroll_db *D, const journeys *js, const char *customer,
			      jrn_buf *ids, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_ACTIVE_OF];
	size_t start = ids->len;
	int n = 0;
	for (int i = 0; i < js->n; i++) {
		sqlite3_bind_text(st, 1, js->v[i]->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		if (done(D, st, rc, e) < 0)
			return -1;
		if (!id)
			continue;
		/* in id order (as enroll_customer_active), each once */
		int64_t *v = (int64_t *)(void *)(ids->p + start);
		int k = n;
		while (k > 0 && v[k - 1] > id)
			k--;
		if (k > 0 && v[k - 1] == id)
			continue;
		if (jrn_buf_add(ids, &id, sizeof id) < 0)
			return jrn_fail(e, "out of memory");
		v = (int64_t *)(void *)(ids->p + start);
		memmove(v + k + 1, v + k, (size_t)(n - k) * sizeof id);
		v[k] = id;
		n++;
	}
	return n;
}

int enroll_due(enroll_db *D, int64_t now, int64_t *after_due, int64_t *after_id, int limit,
	       jrn_buf *ids, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_DUE];
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, *after_due);
	sqlite3_bind_int64(st, 3, *after_id);
	sqlite3_bind_int(st, 4, limit);
	return collect_at(D, st, ids, after_due, after_id, e);
}

int enroll_older(enroll_db *D, const char *journey, int64_t version, jrn_buf *ids, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_OLDER];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	return collect(D, st, ids, e);
}

int enroll_log(enroll_db *D, int64_t enrollment, int64_t at, const char *step, const char *what,
	       const char *detail, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_LOG];
	sqlite3_bind_int64(st, 1, enrollment);
	sqlite3_bind_int64(st, 2, at);
	bind_opt(st, 3, step);
	sqlite3_bind_text(st, 4, what, -1, SQLITE_STATIC);
	bind_opt(st, 5, detail);
	return done(D, st, sqlite3_step(st), e);
}

int enroll_fired_get(enroll_db *D, const char *journey, int64_t *at, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_FGET];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
	if (found)
		*at = sqlite3_column_int64(st, 0);
	return done(D, st, rc, e) < 0 ? -1 : found;
}

int enroll_fired_set(enroll_db *D, const char *journey, int64_t at, jrn_err *e)
{
	sqlite3_stmt *st = D->q[Q_FSET];
	sqlite3_bind_text(st, 1, journey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at);
	return done(D, st, sqlite3_step(st), e);
}

int enroll_audience(enroll_db *D, const char *segment, const char *after, int limit,
		    int (*fn)(void *ctx, const char *customer), void *ctx, jrn_err *e)
{
	sqlite3_stmt *st = D->q[segment ? Q_SEGMENT : Q_PROFILES];
	if (segment)
		sqlite3_bind_text(st, 1, segment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, limit);
	/* the ids first: fn writes to the tables this reads */
	jrn_buf ids = {0};
	int rc, n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		jrn_buf_add(&ids, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		if (jrn_buf_addc(&ids, '\0') < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		n++;
	}
	if (done(D, st, rc, e) < 0) {
		jrn_buf_free(&ids);
		return -1;
	}
	const char *p = ids.p;
	for (int i = 0; i < n; i++, p += strlen(p) + 1)
		if (fn(ctx, p) < 0) {
			jrn_buf_free(&ids);
			return -1;
		}
	jrn_buf_free(&ids);
	return n;
}

int enroll_others_active(enroll_db *D, const journeys *js, jrn_err *e)
{
	sqlite3_stmt *names = NULL, *any = NULL;
	int rc = sqlite3_prepare_v2(D->db, "SELECT journey, count(*), max(version) FROM journey_versions"
				    " GROUP BY journey", -1, &names, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(D->db, "SELECT 1 FROM enrollments WHERE journey = ?1 AND"
					" status = 'active' AND version IS NOT ?2 LIMIT 1", -1, &any,
					NULL);
	int found = 0;
	while (rc == SQLITE_OK && !found && (rc = sqlite3_step(names)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		const char *name = (const char *)sqlite3_column_text(names, 0);
		const journey *J = NULL;
		for (int i = 0; name && i < js->n && !J; i++)
			if (!strcmp(js->v[i]->name, name))
				J = js->v[i];
		if (J && sqlite3_column_int64(names, 1) == 1 &&
		    sqlite3_column_int64(names, 2) == J->version)
			continue; /* one version, the loaded one: every enrollment is on it */
		sqlite3_bind_text(any, 1, name, -1, SQLITE_STATIC);
		if (J)
			sqlite3_bind_int64(any, 2, J->version);
		else
			sqlite3_bind_null(any, 2);
		int q = sqlite3_step(any);
		found = q == SQLITE_ROW;
		rc = q == SQLITE_ROW || q == SQLITE_DONE ? SQLITE_OK : q;
		sqlite3_reset(any);
	}
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		jrn_fail(e, "%s", sqlite3_errmsg(D->db));
	sqlite3_finalize(names);
	sqlite3_finalize(any);
	return rc != SQLITE_OK && rc != SQLITE_DONE ? -1 : found;
}
