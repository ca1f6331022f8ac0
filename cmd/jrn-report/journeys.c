/* journeys.c: jrn-report journeys — per journey and version, what became of
 * the enrollments, and per step what it did (jrn-report(1), JOURNEYS).
 *
 * The enrollments counted are those that entered in the window [since,
 * until) (enrollments.entered_at), with --journey NAME only that journey's.
 * A row of "level": "journey" per journey and version (the version the
 * enrollment runs now), followed by a row of "level": "step" per step that
 * any of them executed, in the order the steps first ran.
 *
 *   entered     the enrollments; active, completed, converted, exited: those
 *               whose status is that now; exitReasons: the exited ones by
 *               their reason ({"cart.cleared": 2}; "(none)" when none was
 *               recorded); conversionRate = converted / entered;
 *               medianTimeToComplete: the median of ended_at - entered_at
 *               over the completed ones, ms (of an even count, the mean of
 *               the two middle values); null when none completed.
 *   executed    enrollment_log rows of the step of what the step does when
 *               it runs (action, wait, goal, branch, split, update): once
 *               each time an enrollment ran it.
 *   sent        keys of route_decisions of the step's enrollments decided
 *               send whose deliveries row (by key) says sent, queued or
 *               simulated (a resend's two rows are one);
 *   failed      ... whose deliveries row says failed;
 *   deferred, suppressed  route_decisions decided defer, suppress.
 *
 * Every figure is a GROUP BY in SQL: memory does not grow with the data.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

#define ENROLLED                                                                   \
	"WITH e AS (SELECT id, journey, version, status, reason, entered_at, ended_at" \
	" FROM enrollments WHERE entered_at >= ?1 AND entered_at < ?2"               \
	" AND (?3 IS NULL OR journey = ?3)) "

/* The median by the two middle rows of a window (one when the count is odd). */
static const char journeys_sql[] =
	ENROLLED
	", g AS (SELECT journey, version, count(*) AS entered, sum(status = 'active') AS active,"
	" sum(status = 'completed') AS completed, sum(status = 'converted') AS converted,"
	" sum(status = 'exited') AS exited FROM e GROUP BY journey, version)"
	", x AS (SELECT journey, version, json_group_object(r, n) AS reasons FROM"
	" (SELECT journey, version, coalesce(reason, '(none)') AS r, count(*) AS n FROM e"
	"  WHERE status = 'exited' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) GROUP BY 1, 2)"
	", m AS (SELECT journey, version, avg(d) AS med FROM"
	" (SELECT journey, version, d,"
	"  row_number() OVER (PARTITION BY journey, version ORDER BY d) AS i,"
	"  count(*) OVER (PARTITION BY journey, version) AS n FROM"
	"  (SELECT journey, version, ended_at - entered_at AS d FROM e"
	"   WHERE status = 'completed' AND ended_at IS NOT NULL))"
	" WHERE i IN ((n + 1) / 2, n / 2 + 1) GROUP BY 1, 2)"
	" SELECT g.journey, g.version, entered, active, completed, converted, exited,"
	" x.reasons, m.med FROM g LEFT JOIN x USING (journey, version)"
	" LEFT JOIN m USING (journey, version) ORDER BY g.journey, g.version";

static const char steps_sql[] =
	ENROLLED
	", l AS (SELECT e.journey, e.version, l.step, count(*) AS executed, min(l.at) AS first"
	" FROM e JOIN enrollment_log l ON l.enrollment = e.id WHERE l.step IS NOT NULL"
	" AND l.what IN ('action', 'wait', 'goal', 'branch', 'split', 'update')"
	" GROUP BY 1, 2, 3)"
	", d AS (SELECT e.journey, e.version, r.step,"
	/* (by key: a resend is a second send row of one delivery) */
	" count(DISTINCT CASE WHEN r.decision = 'send' AND dl.status IN ('sent', 'queued',"
	" 'simulated') THEN r.key END) AS sent,"
	" total(r.decision = 'defer') AS deferred, total(r.decision = 'suppress') AS suppressed,"
	" count(DISTINCT CASE WHEN r.decision = 'send' AND dl.status = 'failed' THEN r.key END)"
	" AS failed"
	" FROM e JOIN route_decisions r ON r.enrollment = e.id"
	" LEFT JOIN deliveries dl ON r.decision = 'send' AND dl.key = r.key"
	" WHERE r.step IS NOT NULL GROUP BY 1, 2, 3)"
	" SELECT l.journey, l.version, l.step, l.executed, coalesce(d.sent, 0),"
	" coalesce(d.deferred, 0), coalesce(d.suppressed, 0), coalesce(d.failed, 0)"
	" FROM l LEFT JOIN d USING (journey, version, step)"
	" ORDER BY l.journey, l.version, l.first, l.step";

static jv col_text(sqlite3_stmt *st, int i)
{
	return jv_string_sized((const char *)sqlite3_column_text(st, i), sqlite3_column_bytes(st, i));
}

static jv col_int(sqlite3_stmt *st, int i)
{
	return jv_number((double)sqlite3_column_int64(st, i));
}

static bool same_group(sqlite3_stmt *a, sqlite3_stmt *b)
{
	return sqlite3_column_bytes(a, 0) == sqlite3_column_bytes(b, 0) &&
	       !memcmp(sqlite3_column_blob(a, 0), sqlite3_column_blob(b, 0),
		       (size_t)sqlite3_column_bytes(a, 0)) &&
	       sqlite3_column_int64(a, 1) == sqlite3_column_int64(b, 1);
}

static jv journey_row(sqlite3_stmt *st)
{
	jrn_err e;
	int64_t entered = sqlite3_column_int64(st, 2), converted = sqlite3_column_int64(st, 5);
	jv reasons = jv_object();
	if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
		jv_free(reasons);
		reasons = jrn_parse_value((const char *)sqlite3_column_text(st, 7),
					  (size_t)sqlite3_column_bytes(st, 7), &e);
		if (!jv_is_valid(reasons)) {
			jv_free(reasons);
			reasons = jv_object();
		}
	}
	jv row = jv_object();
	row = jv_object_set(row, jv_string("level"), jv_string("journey"));
	row = jv_object_set(row, jv_string("journey"), col_text(st, 0));
	row = jv_object_set(row, jv_string("version"), col_int(st, 1));
	row = jv_object_set(row, jv_string("entered"), col_int(st, 2));
	row = jv_object_set(row, jv_string("active"), col_int(st, 3));
	row = jv_object_set(row, jv_string("completed"), col_int(st, 4));
	row = jv_object_set(row, jv_string("converted"), col_int(st, 5));
	row = jv_object_set(row, jv_string("exited"), col_int(st, 6));
	row = jv_object_set(row, jv_string("exitReasons"), reasons);
	row = jv_object_set(row, jv_string("conversionRate"),
			    entered ? jv_number((double)converted / (double)entered) : jv_null());
	row = jv_object_set(row, jv_string("medianTimeToComplete"),
			    sqlite3_column_type(st, 8) == SQLITE_NULL
				    ? jv_null() : jv_number(sqlite3_column_double(st, 8)));
	return row;
}

static jv step_row(sqlite3_stmt *st)
{
	jv row = jv_object();
	row = jv_object_set(row, jv_string("level"), jv_string("step"));
	row = jv_object_set(row, jv_string("journey"), col_text(st, 0));
	row = jv_object_set(row, jv_string("version"), col_int(st, 1));
	row = jv_object_set(row, jv_string("step"), col_text(st, 2));
	static const char *const names[] = {"executed", "sent", "deferred", "suppressed", "failed"};
	for (int i = 0; i < 5; i++)
		row = jv_object_set(row, jv_string(names[i]), col_int(st, 3 + i));
	return row;
}

static int prepare(report_run *run, const char *sql, sqlite3_stmt **st)
{
	jrn_err e;
	if (jrn_db_prepare(run->db, sql, st, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "journeys: %s", e.msg);
	sqlite3_bind_int64(*st, 1, run->since_given ? run->since_ms : INT64_MIN);
	sqlite3_bind_int64(*st, 2, run->until_given ? run->until_ms : run->now_ms);
	if (run->journey_flag)
		sqlite3_bind_text(*st, 3, run->journey_flag, -1, SQLITE_STATIC);
	return 0;
}

/* jrn-report journeys: a journey row per journey and version, each followed
 * by its step rows (jrn-report(1), JOURNEYS). Returns an exit status,
 * having said why it failed. */
int report_journeys(report_run *run)
{
	jrn_err e;
	static const char *const none[] = {NULL};
	int status = report_by_check(run, none, NULL);
	if (status)
		return status;
	if (run->journey_flag &&
	    jrn_id_check(run->journey_flag, strlen(run->journey_flag), "--journey", &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "journeys: %s", e.msg);
	static const char *const cols[] = {"level", "journey", "version", "entered", "active",
		"completed", "converted", "exited", "exitReasons", "conversionRate",
		"medianTimeToComplete", "step", "executed", "sent", "deferred", "suppressed", "failed"};
	jv names = jv_array();
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		names = jv_array_append(names, jv_string(cols[i]));
	report_header(run, names);
	/* Sorts for GROUP BY spill to temporary files past the page cache:
	 * memory stays flat however many rows are grouped. */
	jrn_db_exec(run->db, "PRAGMA temp_store = FILE", NULL);
	sqlite3_stmt *J = NULL, *S = NULL;
	status = prepare(run, journeys_sql, &J);
	if (!status)
		status = prepare(run, steps_sql, &S);
	int js = SQLITE_DONE, ss = SQLITE_DONE;
	if (!status) {
		ss = sqlite3_step(S);
		while ((js = sqlite3_step(J)) == SQLITE_ROW) {
			if (report_row(run, journey_row(J)) < 0) {
				status = JRN_EXIT_FAIL;
				break;
			}
			for (; ss == SQLITE_ROW && same_group(J, S); ss = sqlite3_step(S))
				if (report_row(run, step_row(S)) < 0) {
					status = JRN_EXIT_FAIL;
					break;
				}
			if (status)
				break;
		}
	}
	if (!status && ((js != SQLITE_DONE) || (ss != SQLITE_DONE && ss != SQLITE_ROW)))
		status = jrn_say(JRN_EXIT_FAIL, "journeys: %s", sqlite3_errmsg(run->db));
	sqlite3_finalize(J);
	sqlite3_finalize(S);
	return status;
}
