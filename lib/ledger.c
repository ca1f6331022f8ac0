/* ledger.c: the deliveries ledger and the outbox; the states and who
 * commits are in ledger.h. The only writer of the tables deliveries and
 * outbox. */
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "privacy.h"

struct jrn_ledger {
	sqlite3 *db;
	sqlite3_stmt *claim, *get, *record, *queue, *unqueue, *due, *due_claim, *stuck,
		*take_over, *count, *count_all;
};

/* A claim is 'sending' (or 'queued' for a later time, or 'simulated' when
 * claimed and recorded at once). A key that ended failed, suppressed or
 * rejected is claimed again; one found simulated is claimed again by a
 * real send (?8), since a simulation must not block the real thing. */
static const char sql_claim[] =
	"INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, attempts,"
	" claimed_at, updated_at, record, provider, message_id, cost, segments)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?11, ?6, ?6, ?7, ?9, ?10, ?12, ?13)"
	" ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
	" claimed_at = excluded.claimed_at, updated_at = excluded.updated_at,"
	" record = excluded.record, attempts = excluded.attempts, error = NULL,"
	" provider = excluded.provider, message_id = excluded.message_id,"
	" cost = excluded.cost, segments = excluded.segments"
	" WHERE deliveries.status IN ('failed', 'suppressed', 'rejected')"
	" OR (deliveries.status = 'simulated' AND ?8)";

jrn_ledger *jrn_ledger_open(sqlite3 *db, jrn_err *e)
{
	jrn_ledger *L = calloc(1, sizeof *L);
	if (!L) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	L->db = db;
	if (jrn_db_prepare(db, sql_claim, &L->claim, e) < 0 ||
	    jrn_db_prepare(db, "SELECT status, provider, message_id FROM deliveries WHERE key = ?",
			   &L->get, e) < 0 ||
	    jrn_db_prepare(db,
		    "UPDATE deliveries SET status = ?2, provider = ?3, message_id = ?4, attempts = ?5,"
		    " error = ?6, cost = ?7, segments = ?8, updated_at = ?9 WHERE key = ?1",
		    &L->record, e) < 0 ||
	    jrn_db_prepare(db,
		    "INSERT INTO outbox (key, send_at, provider, attempt, record) VALUES (?1, ?2, ?3, ?4, ?5)"
		    " ON CONFLICT (key) DO UPDATE SET send_at = excluded.send_at,"
		    " provider = excluded.provider, attempt = excluded.attempt, record = excluded.record",
		    &L->queue, e) < 0 ||
	    jrn_db_prepare(db, "DELETE FROM outbox WHERE key = ?", &L->unqueue, e) < 0 ||
	    jrn_db_prepare(db,
		    "SELECT key, provider, attempt, record FROM outbox WHERE send_at <= ?1"
		    " ORDER BY send_at, key LIMIT ?2 OFFSET ?3", &L->due, e) < 0 ||
	    jrn_db_prepare(db,
		    "UPDATE deliveries SET status = 'sending', claimed_at = ?2, updated_at = ?2"
		    " WHERE key = ?1 AND status = 'queued'", &L->due_claim, e) < 0 ||
	    jrn_db_prepare(db,
		    "SELECT key, record, provider, attempts, claimed_at FROM deliveries"
		    " WHERE status = 'sending' ORDER BY claimed_at, key", &L->stuck, e) < 0 ||
	    jrn_db_prepare(db,
		    "UPDATE deliveries SET claimed_at = max(?2, claimed_at + 1), updated_at = ?2"
		    " WHERE key = ?1 AND status = 'sending' AND claimed_at = ?3", &L->take_over, e) < 0 ||
	    jrn_db_prepare(db,
		    "SELECT count(*) FROM deliveries WHERE customer_id = ?1 AND channel = ?2"
		    " AND claimed_at >= ?3 AND claimed_at < ?4"
		    " AND status IN ('sending', 'queued', 'sent', 'simulated')", &L->count, e) < 0 ||
	    jrn_db_prepare(db,
		    "SELECT count(*) FROM deliveries WHERE customer_id = ?1"
		    " AND claimed_at >= ?3 AND claimed_at < ?4"
		    " AND status IN ('sending', 'queued', 'sent', 'simulated')", &L->count_all, e) < 0) {
		jrn_ledger_close(L);
		return NULL;
	}
	return L;
}

void jrn_ledger_close(jrn_ledger *L)
{
	if (!L)
		return;
	sqlite3_stmt *all[] = {L->claim, L->get, L->record, L->queue, L->unqueue, L->due,
			       L->due_claim, L->stuck, L->take_over, L->count, L->count_all};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(all[i]);
	free(L);
}

/* Runs a statement that returns no rows, then resets it: 0, or -1 with e. */
static int step_done(jrn_ledger *L, sqlite3_stmt *st, jrn_err *e)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int jrn_ledger_claim(jrn_ledger *L, const jrn_delivery *d, bool over_simulated, jrn_err *e)
{
	sqlite3_stmt *st = L->claim;
	sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
	bind_text(st, 2, d->customer);
	bind_text(st, 3, d->channel);
	bind_text(st, 4, d->campaign);
	bind_text(st, 5, d->status);
	sqlite3_bind_int64(st, 6, d->now);
	sqlite3_bind_text(st, 7, d->record ? d->record : "", d->record ? (int)d->record_len : 0,
			  SQLITE_STATIC);
	sqlite3_bind_int(st, 8, over_simulated);
	bind_text(st, 9, d->provider);
	bind_text(st, 10, d->message_id);
	sqlite3_bind_int(st, 11, d->attempts);
	if (d->has_cost)
		sqlite3_bind_double(st, 12, d->cost);
	if (d->has_segments)
		sqlite3_bind_int(st, 13, d->segments);
	if (step_done(L, st, e) < 0)
		return -1;
	return sqlite3_changes(L->db) > 0;
}

int jrn_ledger_record(jrn_ledger *L, const jrn_delivery *d, jrn_err *e)
{
	sqlite3_stmt *st = L->record;
	sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
	bind_text(st, 2, d->status);
	bind_text(st, 3, d->provider);
	bind_text(st, 4, d->message_id);
	sqlite3_bind_int(st, 5, d->attempts);
	if (d->error)
		sqlite3_bind_text(st, 6, d->error, (int)d->error_len, SQLITE_STATIC);
	if (d->has_cost)
		sqlite3_bind_double(st, 7, d->cost);
	if (d->has_segments)
		sqlite3_bind_int(st, 8, d->segments);
	sqlite3_bind_int64(st, 9, d->now);
	return step_done(L, st, e);
}

int jrn_ledger_queue(jrn_ledger *L, const char *key, int64_t send_at, int provider,
		     int attempt, const char *record, size_t len, jrn_err *e)
{
	sqlite3_stmt *st = L->queue;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, send_at);
	sqlite3_bind_int(st, 3, provider);
	sqlite3_bind_int(st, 4, attempt);
	sqlite3_bind_text(st, 5, record ? record : "", record ? (int)len : 0, SQLITE_STATIC);
	return step_done(L, st, e);
}

static char *column_dup(sqlite3_stmt *st, int col, bool *oom)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

int jrn_ledger_get(jrn_ledger *L, const char *key, jrn_ledger_entry *out, jrn_err *e)
{
	sqlite3_stmt *st = L->get;
	memset(out, 0, sizeof *out);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	bool oom = false;
	if (rc == SQLITE_ROW) {
		out->status = column_dup(st, 0, &oom);
		out->provider = column_dup(st, 1, &oom);
		out->message_id = column_dup(st, 2, &oom);
	} else if (rc != SQLITE_DONE) {
		jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (oom) {
		jrn_ledger_entry_free(out);
		return jrn_fail(e, "out of memory");
	}
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void jrn_ledger_entry_free(jrn_ledger_entry *x)
{
	free(x->status);
	free(x->provider);
	free(x->message_id);
	memset(x, 0, sizeof *x);
}

int64_t jrn_ledger_due(jrn_ledger *L, int64_t now, int limit, int64_t offset,
		       jrn_ledger_due_fn *fn, void *ctx, jrn_err *e)
{
	sqlite3_stmt *st = L->due;
	int64_t n = 0;
	int rc;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	sqlite3_bind_int64(st, 3, offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *rec = (const char *)sqlite3_column_text(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		int stop = fn(ctx, key ? key : "", sqlite3_column_int(st, 1),
			      sqlite3_column_int(st, 2), rec, rec ? len : 0);
		if (stop) {
			sqlite3_reset(st);
			return stop;
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	return n;
}

int jrn_ledger_claim_due(jrn_ledger *L, const char *key, int64_t now, jrn_err *e)
{
	sqlite3_bind_text(L->due_claim, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(L->due_claim, 2, now);
	if (step_done(L, L->due_claim, e) < 0)
		return -1;
	bool mine = sqlite3_changes(L->db) > 0;
	sqlite3_bind_text(L->unqueue, 1, key, -1, SQLITE_STATIC);
	if (step_done(L, L->unqueue, e) < 0)
		return -1;
	return mine;
}

int64_t jrn_ledger_stuck(jrn_ledger *L, jrn_ledger_stuck_fn *fn, void *ctx, jrn_err *e)
{
	sqlite3_stmt *st = L->stuck;
	int64_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *rec = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		int stop = fn(ctx, key ? key : "", rec, rec ? len : 0,
			      (const char *)sqlite3_column_text(st, 2), sqlite3_column_int(st, 3),
			      sqlite3_column_int64(st, 4));
		if (stop) {
			sqlite3_reset(st);
			return stop;
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	return n;
}

int jrn_ledger_take_over(jrn_ledger *L, const char *key, int64_t claimed_at, int64_t now,
			 jrn_err *e)
{
	sqlite3_bind_text(L->take_over, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(L->take_over, 2, now);
	sqlite3_bind_int64(L->take_over, 3, claimed_at);
	if (step_done(L, L->take_over, e) < 0)
		return -1;
	return sqlite3_changes(L->db) > 0;
}

int jrn_ledger_count(jrn_ledger *L, const char *customer, const char *channel, int64_t since,
		     int64_t until, int64_t *n, jrn_err *e)
{
	sqlite3_stmt *st = channel ? L->count : L->count_all;
	sqlite3_bind_text(st, 1, customer ? customer : "", -1, SQLITE_STATIC);
	if (channel)
		sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	sqlite3_bind_int64(st, 4, until);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int jrn_ledger_cancel(jrn_ledger *L, const char *key, const char *reason, int64_t now,
		      jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(L->db, "UPDATE deliveries SET status = 'failed', error = ?2,"
			       " updated_at = ?3 WHERE key = ?1 AND status = 'queued'", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(L->db));
	if (sqlite3_changes(L->db) == 0)
		return 0;
	sqlite3_bind_text(L->unqueue, 1, key, -1, SQLITE_STATIC);
	return step_done(L, L->unqueue, e) < 0 ? -1 : 1;
}

/* ---- for jrn-route's frequency caps (ledger.h) ------------------------------- */

struct jrn_ledger_recent {
	sqlite3 *db;
	sqlite3_stmt *st;
};

jrn_ledger_recent *jrn_ledger_recent_open(sqlite3 *db, jrn_err *e)
{
	jrn_ledger_recent *R = calloc(1, sizeof *R);
	if (!R) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	R->db = db;
	if (jrn_db_prepare(db,
		    "SELECT channel, claimed_at FROM deliveries WHERE customer_id = ?1"
		    " AND claimed_at >= ?2 AND status IN ('sending', 'queued', 'sent', 'simulated')",
		    &R->st, e) < 0) {
		free(R);
		return NULL;
	}
	return R;
}

void jrn_ledger_recent_close(jrn_ledger_recent *R)
{
	if (!R)
		return;
	sqlite3_finalize(R->st);
	free(R);
}

int64_t jrn_ledger_recent_walk(jrn_ledger_recent *R, const char *customer, int64_t since,
			       jrn_ledger_recent_fn *fn, void *ctx, jrn_err *e)
{
	sqlite3_bind_text(R->st, 1, customer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(R->st, 2, since);
	int64_t n = 0;
	int rc, stop = 0;
	while ((rc = sqlite3_step(R->st)) == SQLITE_ROW) {
		n++;
		const char *ch = (const char *)sqlite3_column_text(R->st, 0);
		if ((stop = fn(ctx, ch ? ch : "", sqlite3_column_int64(R->st, 1))) != 0)
			break;
	}
	if (!stop && rc != SQLITE_DONE)
		jrn_fail(e, "%s", sqlite3_errmsg(R->db));
	sqlite3_reset(R->st);
	sqlite3_clear_bindings(R->st);
	return stop ? stop : rc == SQLITE_DONE ? n : -1;
}

/* ---- jrn privacy erase (privacy.h) -------------------------------------------- */

/* The deliveries that are the customer's: theirs, or sent to an address of theirs. */
#define ERASE_DELIVERIES                                                                  \
	"SELECT key FROM deliveries WHERE customer_id IN (SELECT v FROM temp.jrn_erase_ids)" \
	" OR (json_valid(record) AND (json_extract(record, '$.recipientEmail') IN"          \
	" (SELECT v FROM temp.jrn_erase_vals) OR json_extract(record, '$.recipientPhone') IN" \
	" (SELECT v FROM temp.jrn_erase_vals)))"

int jrn_ledger_erase(sqlite3 *db, jv *counts, jv *keys, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, ERASE_DELIVERIES, -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "deliveries: %s", sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*keys = jv_array_append(*keys, jv_string_sized((const char *)sqlite3_column_text(st, 0),
							       sqlite3_column_bytes(st, 0)));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "deliveries: %s", sqlite3_errmsg(db));
	static const char *const steps[][2] = {
		{"outbox", "DELETE FROM outbox WHERE key IN (" ERASE_DELIVERIES ")"},
		{"outbox.scrubbed", "UPDATE outbox SET record = jrn_scrub(record) WHERE jrn_names(record)"},
		{"deliveries", "DELETE FROM deliveries WHERE key IN (" ERASE_DELIVERIES ")"},
		{"deliveries.scrubbed",
		 "UPDATE deliveries SET record = jrn_scrub(record), error = jrn_scrub(error)"
		 " WHERE jrn_names(record) OR jrn_names(error)"},
	};
	return jrn_privacy_steps(db, steps, sizeof steps / sizeof *steps, counts, e);
}

/* ---- jrn partition export|import|drop (jrn.h) ---------------------------------- */

#define PART_IDS "(SELECT v FROM temp.jrn_part_ids)"
/* A record's "enrollment": N, given the attached enrollment's new id. */
#define PART_ENR(x)                                                                       \
	"CASE WHEN json_valid(" x ") AND json_type(" x ", '$.enrollment') = 'integer' THEN"  \
	" coalesce((SELECT json_set(" x ", '$.enrollment', new) FROM temp.jrn_part_enr"      \
	" WHERE old = json_extract(" x ", '$.enrollment')), " x ") ELSE " x " END"
#define DELIVERY_COLS                                                                     \
	"key, customer_id, channel, campaign_id, status, provider, message_id, attempts,"   \
	" error, cost, segments, claimed_at, updated_at"

int jrn_ledger_partition(sqlite3 *db, int step, jv *counts, jrn_err *e)
{
	static const char *const exp[][2] = {
		{"deliveries", "INSERT INTO " JRN_PART_SCHEMA ".deliveries SELECT * FROM main.deliveries"
			       " WHERE customer_id IN " PART_IDS " ORDER BY seq"},
		{"outbox", "INSERT INTO " JRN_PART_SCHEMA ".outbox SELECT * FROM main.outbox WHERE key"
			   " IN (SELECT key FROM " JRN_PART_SCHEMA ".deliveries)"},
	};
	static const char *const imp[][2] = {
		{"deliveries", "INSERT INTO main.deliveries (seq, " DELIVERY_COLS ", record) SELECT"
			       " seq + (SELECT off FROM temp.jrn_part_off WHERE t = 'deliveries'), "
			       DELIVERY_COLS ", " PART_ENR("record") " FROM " JRN_PART_SCHEMA
			       ".deliveries ORDER BY seq"},
		{"outbox", "INSERT INTO main.outbox (key, send_at, provider, attempt, record) SELECT"
			   " key, send_at, provider, attempt, " PART_ENR("record") " FROM "
			   JRN_PART_SCHEMA ".outbox"},
	};
	static const char *const drop[][2] = {
		{"outbox", "DELETE FROM main.outbox WHERE key IN (SELECT key FROM main.deliveries"
			   " WHERE customer_id IN " PART_IDS ")"},
		{"deliveries", "DELETE FROM main.deliveries WHERE customer_id IN " PART_IDS},
	};
	switch (step) {
	case JRN_PART_EXPORT:
		return jrn_privacy_steps(db, exp, 2, counts, e);
	case JRN_PART_IMPORT:
		return jrn_privacy_steps(db, imp, 2, counts, e);
	case JRN_PART_DROP:
		return jrn_privacy_steps(db, drop, 2, counts, e);
	}
	return jrn_fail(e, "partition: unknown step %d", step);
}
