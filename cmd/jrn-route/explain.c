/* explain.c: jrn-route --explain CUSTOMER (jrn-route(1), EXPLAIN): each
 * enrollment of the customer, newest first, with its log; then the gate's
 * decisions for the customer that came from no journey. Text, read-only. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "profile.h"

static const char *when(sqlite3_stmt *st, int i, char buf[32])
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return "-";
	jrn_time_format(sqlite3_column_int64(st, i), buf);
	return buf;
}

static const char *text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "-";
}

static void line(route_run *R, jrn_buf *b)
{
	if (b->p)
		jrn_out_line(&R->out, b->p, b->len);
	jrn_buf_reset(b);
}

/* An action's log detail ({"decision","reason","channel"}) as words. */
static void action_words(jrn_buf *b, const char *detail)
{
	jv d = detail ? jrn_parse_value(detail, strlen(detail), NULL) : jv_invalid();
	jv dec = jv_get_kind(d) == JV_KIND_OBJECT ? jv_object_get(jv_copy(d), jv_string("decision"))
		 : jv_invalid();
	if (jv_get_kind(dec) != JV_KIND_STRING) {
		jrn_buf_adds(b, detail ? detail : "");
	} else {
		jv ch = jv_object_get(jv_copy(d), jv_string("channel"));
		jv why = jv_object_get(jv_copy(d), jv_string("reason"));
		jrn_buf_adds(b, jv_string_value(dec));
		if (jv_get_kind(ch) == JV_KIND_STRING)
			jrn_buf_addf(b, " %s", jv_string_value(ch));
		if (jv_get_kind(why) == JV_KIND_STRING)
			jrn_buf_addf(b, ": %s", jv_string_value(why));
		jv_free(ch);
		jv_free(why);
	}
	jv_free(dec);
	jv_free(d);
}

/* The enrollments of customer with their logs; the number, or -1. */
static int enrollments(route_run *R, const char *customer, jrn_buf *b)
{
	sqlite3_stmt *st, *lg;
	if (sqlite3_prepare_v2(R->db, "SELECT id, journey, version, status, step, variant,"
			       " entered_at, ended_at, reason, due_at FROM enrollments"
			       " WHERE customer_id = ? ORDER BY entered_at DESC, id DESC",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(R->db, "SELECT at, step, what, detail FROM enrollment_log"
			       " WHERE enrollment = ? ORDER BY seq", -1, &lg, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
	int n = 0, rc;
	char t1[32], t2[32];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		jrn_buf_addf(b, "journey %s v%lld (enrollment %lld): %s", text(st, 1),
			     (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 0),
			     text(st, 3));
		if (sqlite3_column_type(st, 8) != SQLITE_NULL)
			jrn_buf_addf(b, " (%s)", text(st, 8));
		if (!strcmp(text(st, 3), "active"))
			jrn_buf_addf(b, ", at step %s, due %s", text(st, 4), when(st, 9, t1));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			jrn_buf_addf(b, ", variant %s", text(st, 5));
		jrn_buf_addf(b, "; entered %s, ended %s", when(st, 6, t1), when(st, 7, t2));
		line(R, b);
		sqlite3_bind_int64(lg, 1, sqlite3_column_int64(st, 0));
		while (sqlite3_step(lg) == SQLITE_ROW) {
			const char *what = text(lg, 2);
			jrn_buf_addf(b, "  %s  %-12s %-9s ", when(lg, 0, t1), text(lg, 1), what);
			const char *detail = (const char *)sqlite3_column_text(lg, 3);
			if (!strcmp(what, "action"))
				action_words(b, detail);
			else if (detail)
				jrn_buf_adds(b, detail);
			while (b->len && b->p[b->len - 1] == ' ')
				b->p[--b->len] = '\0';
			line(R, b);
		}
		sqlite3_reset(lg);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(lg);
	return rc == SQLITE_DONE ? n : -1;
}

/* The gate's decisions for customer that came from no journey. */
static int decisions(route_run *R, const char *customer, jrn_buf *b)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(R->db, "SELECT decided_at, channel, campaign_id, decision, reason,"
			       " send_at, key FROM route_decisions WHERE customer_id = ?"
			       " AND journey IS NULL AND enrollment IS NULL ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
	int n = 0, rc;
	char t1[32], t2[32];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!n++) {
			jrn_buf_adds(b, "decisions outside journeys:");
			line(R, b);
		}
		jrn_buf_addf(b, "  %s  %s %s campaign %s", when(st, 0, t1), text(st, 3), text(st, 1),
			     text(st, 2));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			jrn_buf_addf(b, ": %s", text(st, 4));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			jrn_buf_addf(b, ", sendAt %s", when(st, 5, t2));
		jrn_buf_addf(b, ", key %s", text(st, 6));
		line(R, b);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

int mode_explain(route_run *R)
{
	jrn_err e;
	if (jrn_id_check(R->explain, strlen(R->explain), "--explain", &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "%s", e.msg);
	jrn_profile *P = jrn_profile_open(R->db, R->opts.config, &e);
	if (!P)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", R->opts.db_path, e.msg);
	const char *now = jrn_profile_resolve(P, R->explain, &e);
	char *customer = now ? strdup(now) : NULL;
	jrn_profile_close(P);
	if (!customer)
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", R->opts.db_path, now ? "out of memory" : e.msg);
	jrn_buf b = {0};
	if (strcmp(customer, R->explain)) {
		jrn_buf_addf(&b, "%s was merged into %s", R->explain, customer);
		line(R, &b);
	}
	int n = enrollments(R, customer, &b), m = n < 0 ? -1 : decisions(R, customer, &b);
	int status = JRN_EXIT_OK;
	if (n < 0 || m < 0)
		status = jrn_say(JRN_EXIT_FAIL, "%s: %s", R->opts.db_path, sqlite3_errmsg(R->db));
	else if (n == 0 && m == 0)
		status = jrn_say(JRN_EXIT_FAIL, "--explain %s: no enrollments and no decisions",
				 customer);
	jrn_buf_free(&b);
	free(customer);
	return status;
}
