/*
 * suppressions.c: `jrn suppressions`: the operator's verbs over suppressed
 * addresses, written through lib/reach (the one writer of the table).
 *
 *   jrn suppressions import [--channel C] [--reason R] [FILE...]
 *   jrn suppressions list [--channel C]
 *   jrn suppressions remove [--channel C] ADDRESS...
 *
 * import reads standard input (or FILEs): one address a line, or NDJSON
 * objects {"address", "channel", "reason"} (a complaint list); e-mail
 * addresses are normalised as jrn-ingest stores them, anything else is
 * taken as written (a phone number in E.164, or a customer id). A line
 * that is neither is rejected (exit 3, --rejects FILE keeps it).
 */
#include <stdlib.h>
#include <string.h>

#include "reach.h"
#include "verbs.h"

static const char supp_usage[] =
	"usage: jrn suppressions import [--channel C] [--reason R] [--dry-run] [FILE...]\n"
	"       jrn suppressions list [--channel C]\n"
	"       jrn suppressions remove [--channel C] [--dry-run] ADDRESS...\n"
	"import: one address a line, or NDJSON {\"address\",\"channel\",\"reason\"};\n"
	"channel \"all\" and reason \"complained\" unless given. list: NDJSON.\n";

enum { OPT_CHANNEL = JRN_OPT_TOOL_BASE, OPT_REASON };

typedef struct {
	const char *channel, *reason;
} supp_flags;

static int supp_take(void *ctx, int c, const char *arg)
{
	supp_flags *f = ctx;
	if (c != OPT_CHANNEL && c != OPT_REASON)
		return -2;
	if (!*arg)
		return jrn_say(JRN_EXIT_USAGE, "suppressions: --%s: an empty value",
			       c == OPT_CHANNEL ? "channel" : "reason");
	*(c == OPT_CHANNEL ? &f->channel : &f->reason) = arg;
	return 0;
}

/* ---- list --------------------------------------------------------------------- */

static int supp_list(sqlite3 *db, const supp_flags *f)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT address, channel, reason, ts, source FROM suppressions"
			       " WHERE ?1 IS NULL OR channel = ?1 ORDER BY ts, address, channel",
			       -1, &st, NULL) != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "suppressions: %s", sqlite3_errmsg(db));
	if (f->channel)
		sqlite3_bind_text(st, 1, f->channel, -1, SQLITE_STATIC);
	while (!admin_gone() && sqlite3_step(st) == SQLITE_ROW) {
		char t[32];
		jrn_time_format(sqlite3_column_int64(st, 3), t);
		jv r = JV_OBJECT(jv_string("address"), jv_string((const char *)sqlite3_column_text(st, 0)),
				 jv_string("channel"), jv_string((const char *)sqlite3_column_text(st, 1)),
				 jv_string("reason"), jv_string((const char *)sqlite3_column_text(st, 2)),
				 jv_string("time"), jv_string(t));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			r = jv_object_set(r, jv_string("source"),
					  jv_string((const char *)sqlite3_column_text(st, 4)));
		admin_print(r); /* a write error ends the loop (admin_gone) */
	}
	sqlite3_finalize(st);
	return JRN_EXIT_OK;
}

/* ---- import ------------------------------------------------------------------- */

typedef struct {
	jrn_reach *R;
	const supp_flags *f;
	long added, already;
	jv_parser *parser;
} importer;

/* One line: 1 added, 0 there already, -1 with e (a fault of the line), -2
 * with e (the state file failed). */
static int import_line(importer *im, const jrn_line *l, jrn_err *e)
{
	const char *channel = im->f->channel ? im->f->channel : "all";
	const char *reason = im->f->reason ? im->f->reason : "complained";
	jv obj = jv_invalid();
	const char *addr = l->p;
	size_t len = l->len;
	while (len && (*addr == ' ' || *addr == '\t'))
		addr++, len--;
	while (len && (addr[len - 1] == ' ' || addr[len - 1] == '\t'))
		len--;
	if (len && *addr == '{') {
		obj = jrn_parse_object(&im->parser, l->p, l->len, e);
		if (!jv_is_valid(obj))
			return -1;
		jv a = jv_object_get(jv_copy(obj), jv_string("address"));
		jv c = jv_object_get(jv_copy(obj), jv_string("channel"));
		jv r = jv_object_get(jv_copy(obj), jv_string("reason"));
		int bad = jv_get_kind(a) != JV_KIND_STRING ||
			  (jv_is_valid(c) && jv_get_kind(c) != JV_KIND_STRING) ||
			  (jv_is_valid(r) && jv_get_kind(r) != JV_KIND_STRING);
		if (!bad) {
			addr = jv_string_value(a);
			len = strlen(addr);
			if (jv_is_valid(c))
				channel = jv_string_value(c);
			if (jv_is_valid(r))
				reason = jv_string_value(r);
		}
		/* the strings live in obj until it is freed below */
		jv_free(a);
		jv_free(c);
		jv_free(r);
		if (bad || !*channel || !*reason) {
			jv_free(obj);
			return jrn_fail(e, "expected {\"address\": STRING} with string channel and reason");
		}
	}
	jrn_buf norm = {0};
	int rc;
	if (!len || memchr(addr, '@', len) ? jrn_email_normalize(addr, len, &norm, e) < 0
					   : jrn_buf_add(&norm, addr, len) < 0) {
		rc = len ? -1 : jrn_fail(e, "no address");
	} else {
		jrn_err why;
		rc = jrn_reach_suppress(im->R, (jrn_reach_text){norm.p, norm.len}, channel, reason,
					jrn_now(), "jrn suppressions import", &why);
		if (rc < 0) {
			jrn_fail(e, "%s", why.msg);
			rc = -2;
		}
	}
	jrn_buf_free(&norm);
	jv_free(obj);
	return rc;
}

static int supp_import(sqlite3 *db, const jrn_opts *o, const supp_flags *f, int argc,
		       char **argv, int first)
{
	jrn_err e;
	jrn_rejects rej;
	importer im = {.f = f};
	if (jrn_rejects_open(&rej, "jrn", o->rejects_path, o->verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "suppressions import: %s", e.msg);
	jrn_reader *r = jrn_reader_new(argv + first, argc - first);
	int status = JRN_EXIT_OK;
	if (!r || !(im.R = jrn_reach_open(db, &e)) || jrn_db_begin(db, &e) < 0) {
		status = jrn_say(JRN_EXIT_FAIL, "suppressions import: %s", r ? e.msg : "out of memory");
		goto out;
	}
	jrn_line l;
	int got;
	while (status == JRN_EXIT_OK && (got = jrn_reader_next(r, &l, &e)) != 0) {
		if (got < 0) {
			status = jrn_say(JRN_EXIT_FAIL, "suppressions import: %s", e.msg);
			break;
		}
		int rc = import_line(&im, &l, &e);
		if (rc == -2)
			status = jrn_say(JRN_EXIT_FAIL, "suppressions import: %s", e.msg);
		else if (rc == -1 && jrn_reject(&rej, l.file, l.lineno, l.p, l.len, e.msg, &e) < 0)
			status = jrn_say(JRN_EXIT_FAIL, "suppressions import: %s", e.msg);
		im.added += rc == 1;
		im.already += rc == 0;
	}
	jv counts = JV_OBJECT(jv_string("added"), jv_number(im.added), jv_string("already"),
			      jv_number(im.already), jv_string("rejected"), jv_number(rej.count));
	if (status != JRN_EXIT_OK || o->dry_run) {
		jv_free(counts);
		jrn_db_rollback(db);
	} else if (admin_audit(db, "suppressions import", argc - 1, argv + 1, counts, &e) < 0 ||
		   jrn_db_commit(db, &e) < 0) {
		jrn_db_rollback(db);
		status = jrn_say(JRN_EXIT_FAIL, "suppressions import: %s", e.msg);
	}
	if (status == JRN_EXIT_OK && o->verbosity >= 0)
		jrn_say(0, "suppressions import: %ld added, %ld already suppressed, %llu rejected%s",
			im.added, im.already, (unsigned long long)rej.count,
			o->dry_run ? " (dry run, nothing saved)" : "");
out:
	if (im.parser)
		jv_parser_free(im.parser);
	jrn_reach_close(im.R);
	jrn_reader_free(r);
	return jrn_finish(NULL, &rej, status);
}

/* ---- remove ------------------------------------------------------------------- */

static int supp_remove(sqlite3 *db, const jrn_opts *o, const supp_flags *f, int argc,
		       char **argv, int first)
{
	jrn_err e;
	long removed = 0, missing = 0;
	if (first >= argc) {
		fputs(supp_usage, stderr);
		return JRN_EXIT_USAGE;
	}
	jrn_reach *R = jrn_reach_open(db, &e);
	if (!R || jrn_db_begin(db, &e) < 0)
		goto fail;
	for (int i = first; i < argc; i++) {
		jrn_buf norm = {0};
		jrn_err why;
		const char *a = argv[i];
		if (!strchr(a, '@') || jrn_email_normalize(a, strlen(a), &norm, &why) < 0) {
			jrn_buf_reset(&norm);
			jrn_buf_adds(&norm, a);
		}
		int n = jrn_reach_unsuppress(R, (jrn_reach_text){norm.p, norm.len}, f->channel, &e);
		jrn_buf_free(&norm);
		if (n < 0)
			goto fail;
		if (n == 0)
			jrn_say(0, "suppressions remove: %s: not suppressed%s%s", a,
				f->channel ? " on " : "", f->channel ? f->channel : "");
		removed += n;
		missing += n == 0;
	}
	jv counts = JV_OBJECT(jv_string("removed"), jv_number(removed), jv_string("missing"),
			      jv_number(missing));
	if (o->dry_run) {
		jv_free(counts);
		jrn_db_rollback(db);
	} else if (admin_audit(db, "suppressions remove", argc - 1, argv + 1, counts, &e) < 0 ||
		   jrn_db_commit(db, &e) < 0) {
		goto fail;
	}
	jrn_reach_close(R);
	if (o->verbosity >= 0)
		jrn_say(0, "suppressions remove: %ld removed, %ld not found%s", removed, missing,
			o->dry_run ? " (dry run, nothing saved)" : "");
	return missing ? JRN_EXIT_FAIL : JRN_EXIT_OK;
fail:
	jrn_db_rollback(db);
	jrn_reach_close(R);
	return jrn_say(JRN_EXIT_FAIL, "suppressions remove: %s", e.msg);
}

int verb_suppressions(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"channel", required_argument, NULL, OPT_CHANNEL},
		{"reason", required_argument, NULL, OPT_REASON},
		{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	supp_flags f = {0};
	jrn_opts o;
	sqlite3 *db = NULL;
	int rc = admin_parse(&o, argc, argv, JRN_COMMON_SHORT, longopts, supp_usage, supp_take, &f);
	const char *sub = rc < 0 && optind < argc ? argv[optind] : "";
	static const char *const subs[] = {"import", "list", "remove", NULL};
	if (rc < 0 && strcmp(sub, "import") && strcmp(sub, "list") && strcmp(sub, "remove"))
		rc = admin_bad_sub("suppressions", sub, subs, supp_usage);
	if (rc < 0 && !strcmp(sub, "list") && argc - optind > 1)
		rc = (fputs(supp_usage, stderr), JRN_EXIT_USAGE);
	/* import may make the state file; list and remove read what is in one */
	if (rc < 0 && (rc = !strcmp(sub, "import") ? admin_open(&o, &db)
			   : admin_open_existing(&o, !strcmp(sub, "list") ? "suppressions list"
								     : "suppressions remove", &db)) == 0) {
		if (!strcmp(sub, "list"))
			rc = supp_list(db, &f);
		else if (!strcmp(sub, "import"))
			rc = supp_import(db, &o, &f, argc, argv, optind + 1);
		else
			rc = supp_remove(db, &o, &f, argc, argv, optind + 1);
	}
	sqlite3_close(db);
	jrn_opts_free(&o);
	return rc;
}
