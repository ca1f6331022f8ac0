/* tick.c: jrn-route --tick (jrn-route(1), TICK): refuse a clock earlier
 * than the last tick, advance every enrollment whose wait is due, fire the
 * schedules, offer the deferred actions again. ROUTE_BATCH enrollments
 * (or actions) a transaction; each batch's output is written before its
 * commit (main.c batch_end), so a tick killed before a commit is redone by
 * the next one under the same idempotency keys. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define TICK_KEY "route.tick" /* state_keys: the last tick's clock, ms as text */

static int begin(route_run *R)
{
	jrn_err e;
	if (R->in_tx)
		return 0;
	if (jrn_db_begin(R->db, &e) < 0)
		return jrn_say(-1, "%s: %s", R->opts.db_path, e.msg);
	R->in_tx = true;
	return 0;
}

static int sql_fail(route_run *R)
{
	return jrn_say(-1, "%s: %s", R->opts.db_path, sqlite3_errmsg(R->db));
}

/* The last tick's clock against now: 0 (and now stored), 1 refused (said,
 * exit 2), -1 fatal (said). In the open transaction. */
static int clock_check(route_run *R, int64_t now)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(R->db, "SELECT CAST(value AS TEXT) FROM state_keys WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_fail(R);
	sqlite3_bind_text(st, 1, TICK_KEY, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int64_t last = rc == SQLITE_ROW ? strtoll((const char *)sqlite3_column_text(st, 0), NULL, 10)
		       : INT64_MIN;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(R);
	if (last != INT64_MIN && now < last) {
		char a[32], b[32];
		jrn_time_format(now, a);
		jrn_time_format(last, b);
		jrn_say(0, "--tick: the clock %s is earlier than the last tick %s: refused (a tick "
			"never goes back in time)", a, b);
		return 1;
	}
	char text[24];
	snprintf(text, sizeof text, "%lld", (long long)now);
	if (sqlite3_prepare_v2(R->db, "INSERT INTO state_keys (name, value, created_at)"
			       " VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET"
			       " value = excluded.value", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(R);
	sqlite3_bind_text(st, 1, TICK_KEY, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(R);
}

/* Every enrollment due by now, ROUTE_BATCH a transaction, in the order
 * they fell due, each advanced at most once by this tick (an advanced
 * one is due later than now: every wait is above 0). The number
 * advanced, or -1. */
static int64_t advance_due(route_run *R, int64_t now)
{
	jrn_err e;
	jrn_buf ids = {0};
	int64_t after_due = INT64_MIN, after_id = 0, total = 0;
	int n = 0;
	bool failed = false;
	do {
		if (begin(R) < 0) {
			failed = true;
			break;
		}
		jrn_buf_reset(&ids);
		n = enroll_due(engine_db(R), now, &after_due, &after_id, ROUTE_BATCH, &ids, &e);
		if (n < 0) {
			failed = jrn_say(-1, "%s: %s", R->opts.db_path, e.msg);
			break;
		}
		const int64_t *id = (const int64_t *)(void *)ids.p;
		for (int k = 0; k < n && !failed && !route_interrupted; k++) {
			int rc = engine_due(R, id[k]);
			failed = rc < 0;
			total += rc > 0;
		}
		if (failed || route_batch_end(R) < 0) {
			failed = true;
			break;
		}
	} while (n == ROUTE_BATCH && !route_interrupted);
	jrn_buf_free(&ids);
	return failed ? -1 : total;
}

/* The deferred actions whose time has come (route_decisions with a body,
 * send_at <= now) through the gate again; each old row's body is cleared
 * in the same transaction. The number offered, or -1. */
static int64_t offer_deferred(route_run *R, int64_t now)
{
	sqlite3_stmt *sel, *clear;
	if (sqlite3_prepare_v2(R->db, "SELECT seq, body, (SELECT status FROM enrollments WHERE id ="
			       " route_decisions.enrollment) FROM route_decisions WHERE decision = 'defer'"
			       " AND body IS NOT NULL AND send_at <= ?1 AND seq > ?2 ORDER BY seq"
			       " LIMIT ?3", -1, &sel, NULL) != SQLITE_OK)
		return sql_fail(R);
	if (sqlite3_prepare_v2(R->db, "UPDATE route_decisions SET body = NULL WHERE seq = ?", -1,
			       &clear, NULL) != SQLITE_OK) {
		sqlite3_finalize(sel);
		return sql_fail(R);
	}
	int64_t after = 0, total = 0;
	int n, rc = 0;
	jrn_buf body = {0};
	do {
		n = 0;
		if ((rc = begin(R)) < 0)
			break;
		/* the first batch's rows, read before any is offered again:
		 * a deferral again adds a row this statement must not see */
		jrn_buf rows = {0};
		sqlite3_bind_int64(sel, 1, now);
		sqlite3_bind_int64(sel, 2, after);
		sqlite3_bind_int(sel, 3, ROUTE_BATCH);
		while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
			int64_t seq = sqlite3_column_int64(sel, 0);
			size_t len = (size_t)sqlite3_column_bytes(sel, 1);
			const char *reason =
				route_ended_reason((const char *)sqlite3_column_text(sel, 2));
			jrn_buf_add(&rows, &seq, sizeof seq);
			jrn_buf_add(&rows, &reason, sizeof reason);
			jrn_buf_add(&rows, &len, sizeof len);
			jrn_buf_add(&rows, sqlite3_column_blob(sel, 1), len);
			n++;
		}
		sqlite3_reset(sel);
		if (rc != SQLITE_DONE) {
			jrn_buf_free(&rows);
			rc = sql_fail(R);
			break;
		}
		rc = 0;
		for (size_t off = 0; off < rows.len && rc == 0;) {
			int64_t seq;
			size_t len;
			const char *reason;
			memcpy(&seq, rows.p + off, sizeof seq);
			memcpy(&reason, rows.p + off + sizeof seq, sizeof reason);
			memcpy(&len, rows.p + off + sizeof seq + sizeof reason, sizeof len);
			off += sizeof seq + sizeof reason + sizeof len;
			jrn_buf_reset(&body);
			jrn_buf_add(&body, rows.p + off, len);
			jrn_buf_add(&body, "", 0);
			off += len;
			sqlite3_bind_int64(clear, 1, seq);
			if (sqlite3_step(clear) != SQLITE_DONE)
				rc = sql_fail(R);
			sqlite3_reset(clear);
			jrn_line ln = {"route_decisions", (uint64_t)seq, body.p ? body.p : "", len};
			R->suppress_as = reason;
			if (rc == 0)
				rc = route_line(R, &ln);
			R->suppress_as = NULL;
			after = seq;
			total++;
		}
		jrn_buf_free(&rows);
		if (rc < 0 || route_batch_end(R) < 0) {
			rc = -1;
			break;
		}
	} while (n == ROUTE_BATCH && !route_interrupted);
	jrn_buf_free(&body);
	sqlite3_finalize(sel);
	sqlite3_finalize(clear);
	return rc < 0 ? -1 : total;
}

int mode_tick(route_run *R)
{
	int64_t now = jrn_now();
	if (begin(R) < 0)
		return JRN_EXIT_FAIL;
	int rc = clock_check(R, now);
	if (rc != 0) {
		jrn_db_rollback(R->db);
		R->in_tx = false;
		return rc > 0 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL;
	}
	jrn_err e;
	if (R->eng && engine_versions(R, &e) < 0) {
		jrn_db_rollback(R->db);
		R->in_tx = false;
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", R->opts.db_path, e.msg);
	}
	int64_t advanced = 0, enrolled = 0, offered = 0;
	if (R->eng && (advanced = advance_due(R, now)) >= 0 && !route_interrupted)
		enrolled = engine_schedules(R, now);
	if (advanced >= 0 && enrolled >= 0 && !route_interrupted)
		offered = offer_deferred(R, now);
	if (advanced >= 0 && enrolled >= 0 && offered >= 0 && R->in_tx && route_batch_end(R) < 0)
		advanced = -1;
	if (R->in_tx) /* a dry run, or a failure: nothing stays */
		jrn_db_rollback(R->db);
	R->in_tx = false;
	if (advanced < 0 || enrolled < 0 || offered < 0)
		return JRN_EXIT_FAIL;
	if (R->opts.verbosity >= 0) /* then main's counts line */
		jrn_say(0, "tick: %lld enrollments advanced, %lld enrolled by schedules, %lld deferred "
			"actions offered again", (long long)advanced, (long long)enrolled,
			(long long)offered);
	return JRN_EXIT_OK;
}
