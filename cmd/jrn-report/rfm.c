/* rfm.c: jrn-report rfm — how customers moved between RFM segments from one
 * snapshot of jrn-score rfm --save to another, and the later snapshot's
 * distribution (jrn-report(1), RFM).
 *
 * The snapshots: --to T chooses the latest snapshot taken at or before T,
 * --from T the same for the earlier one; without --to, the latest snapshot;
 * without --from, the latest before the --to one (none: every customer
 * comes from null). T is an RFC 3339 time or a duration back from now
 * (7d). --since and --until are not used: snapshots are instants.
 *
 * Rows of "level": "movement": from, to (the segments; null for a customer
 * absent from that snapshot), customers; then rows of "level":
 * "distribution", one per segment of the later snapshot: customers, share
 * (of the snapshot's customers), meanRecency (days), meanFrequency (orders),
 * meanMonetary. SQL groups them all: memory does not grow with customers.
 */
#include <stdlib.h>
#include <string.h>

#include "jrn-report.h"

static const char taken_sql[] =
	"SELECT max(taken) FROM rfm_snapshots WHERE taken <= ?1";
static const char count_sql[] =
	"SELECT count(*) FROM rfm_snapshots WHERE taken = ?1";

static const char movement_sql[] =
	"WITH a AS (SELECT customer_id, segment FROM rfm_snapshots WHERE taken = ?1),"
	" b AS (SELECT customer_id, segment FROM rfm_snapshots WHERE taken = ?2)"
	" SELECT a.segment, b.segment, count(*) FROM a FULL JOIN b"
	" ON a.customer_id = b.customer_id GROUP BY 1, 2 ORDER BY 1, 2";

static const char distribution_sql[] =
	"SELECT segment, count(*), avg(recency), avg(frequency), avg(monetary)"
	" FROM rfm_snapshots WHERE taken = ?1 GROUP BY segment ORDER BY segment";

/* A time as --from/--to take it. 0, or a usage status having said why. */
static int parse_time(const report_run *run, const char *flag, const char *s, int64_t *ms)
{
	if (jrn_time_or_ago(s, run->now_ms, ms, NULL) >= 0)
		return 0;
	return jrn_say(JRN_EXIT_USAGE, "rfm: %s %s: not an RFC 3339 time nor a duration (7d)", flag, s);
}

/* The time of the latest snapshot taken at or before t into *taken (1), or
 * 0 when there is none; -1 having said why. */
static int snapshot_at(report_run *run, int64_t t, int64_t *taken)
{
	sqlite3_stmt *st;
	jrn_err e;
	if (jrn_db_prepare(run->db, taken_sql, &st, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s", e.msg), -1;
	sqlite3_bind_int64(st, 1, t);
	int rc = sqlite3_step(st);
	int found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (found)
		*taken = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s", sqlite3_errmsg(run->db)), -1;
	return found;
}

static int64_t snapshot_size(report_run *run, int64_t taken)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	if (jrn_db_prepare(run->db, count_sql, &st, NULL) < 0)
		return 0;
	sqlite3_bind_int64(st, 1, taken);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The snapshot a flag names (--from or --to: the one taken at or before
 * its time) into *at. 0, or an exit status having said why. */
static int snapshot_of(report_run *run, const char *name, const char *flag, int64_t *at)
{
	int64_t t;
	int rc = parse_time(run, name, flag, &t);
	if (rc)
		return rc;
	if ((rc = snapshot_at(run, t, at)) < 0)
		return JRN_EXIT_FAIL;
	if (!rc)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s %s: no snapshot taken at or before it", name,
			       flag);
	return 0;
}

/* Chooses the two snapshots. 0 with *to set (*from_ok says whether *from
 * is), -1 when there is no snapshot at all (no rows), or an exit status
 * having said why. */
static int choose(report_run *run, int64_t *from, bool *from_ok, int64_t *to)
{
	int rc;
	int64_t t;
	*from_ok = false;
	/* both values checked before the state file is read: a bad one is a
	 * usage error also where there is no snapshot to choose */
	if ((run->from_flag && (rc = parse_time(run, "--from", run->from_flag, &t))) ||
	    (run->to_flag && (rc = parse_time(run, "--to", run->to_flag, &t))))
		return rc;
	if (run->to_flag) {
		if ((rc = snapshot_of(run, "--to", run->to_flag, to)))
			return rc;
	} else {
		if ((rc = snapshot_at(run, INT64_MAX, to)) < 0)
			return JRN_EXIT_FAIL;
		if (!rc) {
			if (run->opts.verbosity > 0)
				jrn_say(0, "rfm: no RFM snapshot in the state file (jrn-score rfm --save)");
			return -1;
		}
	}
	if (run->from_flag) {
		if ((rc = snapshot_of(run, "--from", run->from_flag, from)))
			return rc;
		if (*from > *to)
			return jrn_say(JRN_EXIT_USAGE,
				       "rfm: --from %s chooses a snapshot later than --to's", run->from_flag);
		*from_ok = true;
	} else if (*to > INT64_MIN) {
		if ((rc = snapshot_at(run, *to - 1, from)) < 0)
			return JRN_EXIT_FAIL;
		*from_ok = rc;
	}
	return 0;
}

static jv col_text_or_null(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return jv_null();
	return jv_string_sized((const char *)sqlite3_column_text(st, i), sqlite3_column_bytes(st, i));
}

static void say_snapshots(report_run *run, int64_t from, bool from_ok, int64_t to, int64_t n_to)
{
	char f[32], t[32];
	jrn_time_format(to, t);
	if (from_ok) {
		jrn_time_format(from, f);
		jrn_say(0, "rfm: from the snapshot taken %s (%lld customers) to the one taken %s "
			   "(%lld customers)", f, (long long)snapshot_size(run, from), t, (long long)n_to);
	} else {
		jrn_say(0, "rfm: no snapshot before the one taken %s (%lld customers): every customer "
			   "comes from null", t, (long long)n_to);
	}
}

/* jrn-report rfm: the movement rows, then the distribution rows (jrn-
 * report(1), RFM). Returns an exit status, having said why it failed. */
int report_rfm(report_run *run)
{
	static const char *const none[] = {NULL};
	int status = report_by_check(run, none, NULL);
	if (status)
		return status;
	/* snapshots, not a window of events: --since/--until would be ignored */
	if (run->since_given || run->until_given)
		return jrn_say(JRN_EXIT_USAGE, "rfm compares two snapshots: it takes --from and --to, "
			       "not --%s", run->since_given ? "since" : "until");
	static const char *const cols[] = {"level", "from", "to", "customers", "segment", "share",
					   "meanRecency", "meanFrequency", "meanMonetary"};
	jv names = jv_array();
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		names = jv_array_append(names, jv_string(cols[i]));
	report_header(run, names);
	int64_t from = 0, to = 0;
	bool from_ok;
	status = choose(run, &from, &from_ok, &to);
	if (status < 0)
		return 0;
	if (status)
		return status;
	int64_t total = snapshot_size(run, to);
	if (run->opts.verbosity > 0)
		say_snapshots(run, from, from_ok, to, total);
	sqlite3_stmt *st = NULL;
	jrn_err e;
	int rc;
	if (jrn_db_prepare(run->db, movement_sql, &st, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s", e.msg);
	if (from_ok)
		sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		jv row = jv_object();
		row = jv_object_set(row, jv_string("level"), jv_string("movement"));
		row = jv_object_set(row, jv_string("from"), col_text_or_null(st, 0));
		row = jv_object_set(row, jv_string("to"), col_text_or_null(st, 1));
		row = jv_object_set(row, jv_string("customers"),
				    jv_number((double)sqlite3_column_int64(st, 2)));
		if (report_row(run, row) < 0) {
			sqlite3_finalize(st);
			return JRN_EXIT_FAIL;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s", sqlite3_errmsg(run->db));
	if (jrn_db_prepare(run->db, distribution_sql, &st, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s", e.msg);
	sqlite3_bind_int64(st, 1, to);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 1);
		jv row = jv_object();
		row = jv_object_set(row, jv_string("level"), jv_string("distribution"));
		row = jv_object_set(row, jv_string("segment"), col_text_or_null(st, 0));
		row = jv_object_set(row, jv_string("customers"), jv_number((double)n));
		row = jv_object_set(row, jv_string("share"),
				    jv_number(total ? (double)n / (double)total : 0));
		row = jv_object_set(row, jv_string("meanRecency"), jv_number(sqlite3_column_double(st, 2)));
		row = jv_object_set(row, jv_string("meanFrequency"),
				    jv_number(sqlite3_column_double(st, 3)));
		row = jv_object_set(row, jv_string("meanMonetary"),
				    jv_number(sqlite3_column_double(st, 4)));
		if (report_row(run, row) < 0) {
			sqlite3_finalize(st);
			return JRN_EXIT_FAIL;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_say(JRN_EXIT_FAIL, "rfm: %s", sqlite3_errmsg(run->db));
	return 0;
}
