/*
 * events.c: `jrn events`: the operator's verbs over stored events.
 *
 *   jrn events delete ID...            delete events by id
 *   jrn events fix ID --set PATH=VALUE correct an event's body
 *   jrn events --bad-amount            list events whose amount is not a number
 *
 * delete and fix write in one transaction with their audit row; --dry-run
 * does the work and rolls it back. An event a consent row rests on (its
 * proof, jrn-state(5)) is not deleted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verbs.h"

static const char events_usage[] =
	"usage: jrn events delete [--dry-run] ID...\n"
	"       jrn events fix [--dry-run] ID --set PATH=VALUE [--set PATH=VALUE...]\n"
	"       jrn events --bad-amount\n"
	"Deletes or corrects stored events (each change audit-logged), or lists\n"
	"the events whose amount (properties.amount, total, revenue or value) is\n"
	"not a number or beyond 10^15. VALUE is JSON when it reads as JSON, else\n"
	"a string.\n";

enum { OPT_SET = JRN_OPT_TOOL_BASE, OPT_BAD_AMOUNT };

typedef struct {
	const char **sets;
	size_t nsets;
	bool bad_amount;
} events_flags;

static int events_take(void *ctx, int c, const char *arg)
{
	events_flags *f = ctx;
	if (c == OPT_BAD_AMOUNT) {
		f->bad_amount = true;
		return 0;
	}
	if (c != OPT_SET)
		return -2;
	if (!strchr(arg, '=') || arg[0] == '=')
		return jrn_say(JRN_EXIT_USAGE, "events: --set '%s': expected PATH=VALUE", arg);
	const char **p = realloc(f->sets, (f->nsets + 1) * sizeof *p);
	if (!p)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	f->sets = p;
	f->sets[f->nsets++] = arg;
	return 0;
}

/* ---- --bad-amount ------------------------------------------------------------ */

/* an amount member jrn-score cannot sum: not a number, or beyond
 * JRN_AMOUNT_MAX (1e15) in magnitude */
#define AMOUNT_NOT_NUMBER(k) \
	"json_type(body, '$.properties." k "') NOT IN ('integer', 'real', 'null') OR" \
	" abs(json_extract(body, '$.properties." k "')) > 1e15"

static int bad_amounts(sqlite3 *db, const jrn_opts *o)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT body FROM events WHERE " AMOUNT_NOT_NUMBER("amount")
			       " OR " AMOUNT_NOT_NUMBER("total") " OR " AMOUNT_NOT_NUMBER("revenue")
			       " OR " AMOUNT_NOT_NUMBER("value") " ORDER BY seq", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "events: %s", sqlite3_errmsg(db));
	long n = 0;
	while (!admin_gone() && sqlite3_step(st) == SQLITE_ROW) {
		admin_write((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		admin_write("\n", 1); /* a write error ends the loop (admin_gone) */
		n++;
	}
	sqlite3_finalize(st);
	if (o->verbosity >= 0)
		jrn_say(0, "events: %ld event%s with an amount that is not a number or beyond 10^15%s", n,
			n == 1 ? "" : "s",
			n ? " (correct them: jrn events fix ID --set properties.amount=NUMBER)" : "");
	return JRN_EXIT_OK;
}

/* ---- delete ------------------------------------------------------------------- */

static int delete_ids(sqlite3 *db, int n, char **ids, long *deleted, long *missing, long *kept,
		      jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "DELETE FROM events WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	for (int i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
			jrn_say(0, "events delete: %s: a consent row rests on it (its proof); kept",
				ids[i]);
			(*kept)++;
		} else if (rc != SQLITE_DONE) {
			sqlite3_finalize(st);
			return jrn_fail(e, "%s", sqlite3_errmsg(db));
		} else if (sqlite3_changes(db) == 0) {
			jrn_say(0, "events delete: %s: no such event", ids[i]);
			(*missing)++;
		} else {
			(*deleted)++;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

static int events_delete(sqlite3 *db, const jrn_opts *o, int argc, char **argv, int first)
{
	jrn_err e;
	long deleted = 0, missing = 0, kept = 0;
	if (first >= argc) {
		fputs(events_usage, stderr);
		return JRN_EXIT_USAGE;
	}
	if (jrn_db_begin(db, &e) < 0 ||
	    delete_ids(db, argc - first, argv + first, &deleted, &missing, &kept, &e) < 0)
		goto fail;
	jv counts = JV_OBJECT(jv_string("deleted"), jv_number(deleted), jv_string("missing"),
			      jv_number(missing), jv_string("kept"), jv_number(kept));
	if (o->dry_run)
		jrn_db_rollback(db);
	else if (admin_audit(db, "events delete", argc - 1, argv + 1, counts, &e) < 0 ||
		 jrn_db_commit(db, &e) < 0)
		goto fail;
	if (o->verbosity >= 0)
		jrn_say(0, "events delete: %ld deleted, %ld not found, %ld kept%s", deleted, missing,
			kept, o->dry_run ? " (dry run, nothing saved)" : "");
	if (o->dry_run)
		jv_free(counts);
	return missing || kept ? JRN_EXIT_FAIL : JRN_EXIT_OK;
fail:
	jrn_db_rollback(db);
	return jrn_say(JRN_EXIT_FAIL, "events delete: %s", e.msg);
}

/* ---- fix ---------------------------------------------------------------------- */

/* Applies one PATH=VALUE to body (consumed): the new body, or jv_invalid
 * with e. */
static jv apply_set(jv body, const char *set, jrn_err *e)
{
	const char *eq = strchr(set, '=');
	jv path = jv_array();
	for (const char *p = set; p < eq;) {
		const char *dot = memchr(p, '.', (size_t)(eq - p));
		const char *end = dot ? dot : eq;
		if (end == p) {
			jv_free(path);
			jv_free(body);
			jrn_fail(e, "--set '%s': an empty name in the path", set);
			return jv_invalid();
		}
		path = jv_array_append(path, jv_string_sized(p, (int)(end - p)));
		p = end + 1;
	}
	jv first = jv_array_get(jv_copy(path), 0);
	bool is_id = !strcmp(jv_string_value(first), "id");
	jv_free(first);
	if (is_id) {
		jv_free(path);
		jv_free(body);
		jrn_fail(e, "--set '%s': the id is the event's key (delete it and ingest it anew)", set);
		return jv_invalid();
	}
	jv value = jrn_parse_value(eq + 1, strlen(eq + 1), NULL);
	if (!jv_is_valid(value)) {
		jv_free(value);
		value = jv_string(eq + 1);
	}
	return jv_setpath(body, path, value);
}

/* The amount members of body's properties (consumed) as jrn-ingest
 * takes them (jrn-ingest(1), AMOUNTS): a number of magnitude up to
 * JRN_AMOUNT_MAX, null, or a string that is a JSON number ("19.99"),
 * which becomes that number. The new body, or jv_invalid with e in
 * jrn-ingest's words ("properties.amount: 'abc' is not a number (write it
 * as 19.99)"), so that a fix cannot store what jrn-ingest refuses and
 * jrn-score would leave out; an order (order.completed, order.refunded)
 * keeps a number in one of them. */
static jv fix_amounts(jv body, jrn_err *e)
{
	static const char *const keys[] = {"amount", "total", "revenue", "value"};
	jv props = jv_object_get(jv_copy(body), jv_string("properties"));
	bool has = false;
	for (size_t i = 0; i < 4 && jv_get_kind(props) == JV_KIND_OBJECT; i++) {
		jv v = jv_object_get(jv_copy(props), jv_string(keys[i]));
		jv_kind k = jv_get_kind(v);
		bool bad = false; /* (jrn_fail's -1 is true) */
		if (k == JV_KIND_STRING) {
			jv n = jrn_parse_value(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)), NULL);
			if (jv_get_kind(n) != JV_KIND_NUMBER) {
				bad = jrn_fail(e, "properties.%s: '%.64s' is not a number (write it as 19.99)",
						keys[i], jv_string_value(v));
				jv_free(n);
			} else {
				jv_free(v);
				v = jv_copy(n);
				props = jv_object_set(props, jv_string(keys[i]), n);
				k = JV_KIND_NUMBER;
			}
		} else if (k != JV_KIND_NUMBER && k != JV_KIND_NULL && k != JV_KIND_INVALID) {
			bad = jrn_fail(e, "properties.%s: expected a number, got %s", keys[i],
					jrn_kind_phrase(k, false));
		}
		if (!bad && k == JV_KIND_NUMBER && !(fabs(jv_number_value(v)) <= JRN_AMOUNT_MAX))
			bad = jrn_fail(e, "properties.%s: amount %.15g is out of range (|amount| <= 1e15)",
					keys[i], jv_number_value(v));
		has |= k == JV_KIND_NUMBER;
		jv_free(v);
		if (bad) {
			jv_free(props);
			jv_free(body);
			return jv_invalid();
		}
	}
	jv type = jv_object_get(jv_copy(body), jv_string("type"));
	if (!has && jv_get_kind(type) == JV_KIND_STRING &&
	    (!strcmp(jv_string_value(type), "order.completed") ||
	     !strcmp(jv_string_value(type), "order.refunded"))) {
		jrn_fail(e, "properties.amount: %s needs a number here (or in total, revenue or value)",
			 jv_string_value(type));
		jv_free(type);
		jv_free(props);
		jv_free(body);
		return jv_invalid();
	}
	jv_free(type);
	if (jv_get_kind(props) == JV_KIND_OBJECT)
		return jv_object_set(body, jv_string("properties"), props);
	jv_free(props);
	return body;
}

/* The columns of a body (borrowed) as jrn-ingest stores them. */
typedef struct {
	const char *type, *customer;
	int64_t ts;
	bool has_amount;
	double amount;
} event_cols;

static int columns_of(jv body, event_cols *c, jrn_err *e)
{
	jv type = jv_object_get(jv_copy(body), jv_string("type"));
	jv cust = jv_object_get(jv_copy(body), jv_string("customerId"));
	jv ts = jv_object_get(jv_copy(body), jv_string("timestamp"));
	jv props = jv_object_get(jv_copy(body), jv_string("properties"));
	int rc = 0;
	memset(c, 0, sizeof *c);
	if (jv_get_kind(type) != JV_KIND_STRING || !jv_string_length_bytes(jv_copy(type)))
		rc = jrn_fail(e, "the event would have no type");
	else if (jv_get_kind(cust) != JV_KIND_STRING || !jv_string_length_bytes(jv_copy(cust)))
		rc = jrn_fail(e, "the event would have no customerId");
	else if (jv_get_kind(ts) != JV_KIND_STRING ||
		 jrn_time_parse(jv_string_value(ts), (size_t)jv_string_length_bytes(jv_copy(ts)), 0,
				&c->ts, e) < 0)
		rc = jrn_fail(e, "the event's timestamp would not be an RFC 3339 time");
	static const char *const keys[] = {"amount", "total", "revenue", "value"};
	for (size_t i = 0; rc == 0 && i < 4 && !c->has_amount &&
			   jv_get_kind(props) == JV_KIND_OBJECT; i++) {
		jv a = jv_object_get(jv_copy(props), jv_string(keys[i]));
		if (jv_get_kind(a) == JV_KIND_NUMBER) {
			c->amount = jv_number_value(a);
			c->has_amount = true;
		}
		jv_free(a);
	}
	/* the strings stay alive in body, which holds them */
	c->type = jv_get_kind(type) == JV_KIND_STRING ? jv_string_value(type) : NULL;
	c->customer = jv_get_kind(cust) == JV_KIND_STRING ? jv_string_value(cust) : NULL;
	jv_free(type);
	jv_free(cust);
	jv_free(ts);
	jv_free(props);
	return rc;
}

static int store_fixed(sqlite3 *db, const char *id, jv body, jrn_err *e)
{
	event_cols c;
	jrn_buf text = {0};
	if (columns_of(body, &c, e) < 0 || jrn_json_append(&text, jv_copy(body), 0, e) < 0) {
		jrn_buf_free(&text);
		return -1;
	}
	sqlite3_stmt *st;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "UPDATE events SET type = ?2, customer_id = ?3, ts = ?4,"
			       " amount = ?5, body = ?6 WHERE id = ?1", -1, &st, NULL) != SQLITE_OK) {
		jrn_buf_free(&text);
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c.type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, c.customer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, c.ts);
	if (c.has_amount)
		sqlite3_bind_double(st, 5, c.amount);
	sqlite3_bind_text(st, 6, text.p, (int)text.len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
	else
		jrn_fail(e, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	jrn_buf_free(&text);
	return rc;
}

/* The stored body of id: the object, jv_null when there is no such event,
 * or jv_invalid with e. */
static jv load_body(sqlite3 *db, const char *id, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT body FROM events WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
		jrn_fail(e, "%s", sqlite3_errmsg(db));
		return jv_invalid();
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	jv body = jv_null();
	jrn_err why = {{0}};
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		body = jrn_parse_value(text ? text : "", (size_t)sqlite3_column_bytes(st, 0), &why);
	}
	sqlite3_finalize(st);
	if (!jv_is_valid(body)) {
		jv_free(body);
		jrn_fail(e, "%s: the stored body is not JSON as jrn reads it: %s", id, why.msg);
		return jv_invalid();
	}
	return body;
}

static int events_fix(sqlite3 *db, const jrn_opts *o, const events_flags *f, int argc,
		      char **argv, int first)
{
	jrn_err e;
	if (argc - first != 1 || f->nsets == 0) {
		fputs(events_usage, stderr);
		return JRN_EXIT_USAGE;
	}
	const char *id = argv[first];
	if (jrn_db_begin(db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "events fix: %s", e.msg);
	jv body = load_body(db, id, &e);
	if (jv_get_kind(body) == JV_KIND_NULL) {
		jrn_db_rollback(db);
		return jrn_say(JRN_EXIT_FAIL, "events fix: %s: no such event", id);
	}
	for (size_t i = 0; i < f->nsets && jv_is_valid(body); i++)
		body = apply_set(body, f->sets[i], &e);
	if (jv_is_valid(body))
		body = fix_amounts(body, &e);
	if (!jv_is_valid(body) || store_fixed(db, id, body, &e) < 0)
		goto fail;
	if (!o->dry_run && (admin_audit(db, "events fix", argc - 1, argv + 1,
					JV_OBJECT(jv_string("fixed"), jv_number(1)), &e) < 0 ||
			    jrn_db_commit(db, &e) < 0))
		goto fail;
	jrn_db_rollback(db); /* a dry run */
	admin_print(body); /* a write error: admin_finish */
	if (o->verbosity >= 0)
		jrn_say(0, "events fix: 1 event fixed%s", o->dry_run ? " (dry run, nothing saved)" : "");
	return JRN_EXIT_OK;
fail:
	jv_free(body);
	jrn_db_rollback(db);
	return jrn_say(JRN_EXIT_FAIL, "events fix: %s: %s", id, e.msg);
}

int verb_events(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"set", required_argument, NULL, OPT_SET},
		{"bad-amount", no_argument, NULL, OPT_BAD_AMOUNT},
		{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	events_flags f = {0};
	jrn_opts o;
	sqlite3 *db = NULL;
	int rc = admin_parse(&o, argc, argv, JRN_COMMON_SHORT, longopts, events_usage,
			     events_take, &f);
	const char *sub = rc < 0 && optind < argc ? argv[optind] : NULL;
	static const char *const subs[] = {"delete", "fix", NULL};
	if (rc < 0 && (f.bad_amount ? sub != NULL : !sub || (strcmp(sub, "delete") &&
							      strcmp(sub, "fix"))))
		rc = admin_bad_sub("events", sub, subs, events_usage);
	if (rc < 0 && (rc = admin_open_existing(&o, f.bad_amount ? "events" : !strcmp(sub, "delete")
								? "events delete" : "events fix", &db)) == 0) {
		if (f.bad_amount)
			rc = bad_amounts(db, &o);
		else if (!strcmp(sub, "delete"))
			rc = events_delete(db, &o, argc, argv, optind + 1);
		else
			rc = events_fix(db, &o, &f, argc, argv, optind + 1);
	}
	sqlite3_close(db);
	free(f.sets);
	jrn_opts_free(&o);
	return rc;
}
