/*
 * queue.c: `jrn queue`: the sends waiting in the outbox (jrn-send's
 * scheduled sends and retries; lib/ledger.h draws their states).
 *
 *   jrn queue list             one NDJSON object per outbox row, due first
 *   jrn queue cancel KEY...    the delivery becomes failed ("cancelled by
 *                              WHO"), its outbox row goes (lib/ledger)
 */
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "verbs.h"

static const char queue_usage[] =
	"usage: jrn queue list\n"
	"       jrn queue cancel [--dry-run] KEY...\n"
	"list: the outbox as NDJSON, soonest first. cancel: the queued sends of\n"
	"KEY... become failed and leave the outbox (audit-logged).\n";

static jv col_text(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL
		       ? jv_null()
		       : jv_string((const char *)sqlite3_column_text(st, i));
}

static int queue_list(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT o.key, o.send_at, o.provider, o.attempt, d.customer_id,"
			       " d.channel, d.campaign_id, d.status FROM outbox o"
			       " LEFT JOIN deliveries d ON d.key = o.key ORDER BY o.send_at, o.key",
			       -1, &st, NULL) != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "queue: %s", sqlite3_errmsg(db));
	while (!admin_gone() && sqlite3_step(st) == SQLITE_ROW) {
		char t[32];
		jrn_time_format(sqlite3_column_int64(st, 1), t);
		jv r = JV_OBJECT(jv_string("key"), col_text(st, 0), jv_string("sendAt"), jv_string(t),
				 jv_string("provider"), jv_number(sqlite3_column_int(st, 2)),
				 jv_string("attempt"), jv_number(sqlite3_column_int(st, 3)),
				 jv_string("customerId"), col_text(st, 4),
				 jv_string("channel"), col_text(st, 5),
				 jv_string("campaignId"), col_text(st, 6),
				 jv_string("status"), col_text(st, 7));
		admin_print(r); /* a write error ends the loop (admin_gone) */
	}
	sqlite3_finalize(st);
	return JRN_EXIT_OK;
}

static int queue_cancel(sqlite3 *db, const jrn_opts *o, int argc, char **argv, int first)
{
	jrn_err e;
	long cancelled = 0, missing = 0;
	if (first >= argc) {
		fputs(queue_usage, stderr);
		return JRN_EXIT_USAGE;
	}
	jrn_buf reason = {0};
	jrn_buf_addf(&reason, "cancelled by %s", admin_who());
	jrn_ledger *L = jrn_ledger_open(db, &e);
	if (!reason.p || !L || jrn_db_begin(db, &e) < 0)
		goto fail;
	for (int i = first; i < argc; i++) {
		int n = jrn_ledger_cancel(L, argv[i], reason.p, jrn_now(), &e);
		if (n < 0)
			goto fail;
		if (n == 0)
			jrn_say(0, "queue cancel: %s: not queued", argv[i]);
		cancelled += n;
		missing += n == 0;
	}
	jv counts = JV_OBJECT(jv_string("cancelled"), jv_number(cancelled), jv_string("missing"),
			      jv_number(missing));
	if (o->dry_run) {
		jv_free(counts);
		jrn_db_rollback(db);
	} else if (admin_audit(db, "queue cancel", argc - 1, argv + 1, counts, &e) < 0 ||
		   jrn_db_commit(db, &e) < 0) {
		goto fail;
	}
	jrn_ledger_close(L);
	jrn_buf_free(&reason);
	if (o->verbosity >= 0)
		jrn_say(0, "queue cancel: %ld cancelled, %ld not queued%s", cancelled, missing,
			o->dry_run ? " (dry run, nothing saved)" : "");
	return missing ? JRN_EXIT_FAIL : JRN_EXIT_OK;
fail:
	jrn_db_rollback(db);
	jrn_ledger_close(L);
	if (!reason.p)
		jrn_fail(&e, "out of memory");
	jrn_buf_free(&reason);
	return jrn_say(JRN_EXIT_FAIL, "queue cancel: %s", e.msg);
}

int verb_queue(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	jrn_opts o;
	sqlite3 *db = NULL;
	int rc = admin_parse(&o, argc, argv, JRN_COMMON_SHORT, longopts, queue_usage, NULL, NULL);
	const char *sub = rc < 0 && optind < argc ? argv[optind] : "";
	static const char *const subs[] = {"list", "cancel", NULL};
	if (rc < 0 && !(!strcmp(sub, "list") && argc - optind == 1) && strcmp(sub, "cancel"))
		rc = admin_bad_sub("queue", sub, subs, queue_usage);
	if (rc < 0 && (rc = admin_open_existing(&o, !strcmp(sub, "list") ? "queue list" : "queue cancel",
						&db)) == 0)
		rc = !strcmp(sub, "list") ? queue_list(db) : queue_cancel(db, &o, argc, argv, optind + 1);
	sqlite3_close(db);
	jrn_opts_free(&o);
	return rc;
}
