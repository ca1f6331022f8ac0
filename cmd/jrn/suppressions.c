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
 * addresses are normalised as jrn-ingest stores them, phone numbers
 * (a leading '+') to E.164 by libphonenumber, anything else is taken as
 * written (a customer id). A line that is none of these is rejected
 * (exit 3, --rejects FILE keeps it): an address that does not parse, one
 * holding a control character or a byte-order mark, a plain line holding
 * white space ("Ann <ann@example.com>", a CSV row; a customer id with a
 * space comes as NDJSON), a channel that is not one of channels[].
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

/* The channels a suppression names: every channel, and those jrn-send
 * sends on (jrn-send(1)). A typo ("emial") would suppress nothing. */
static const char *const channels[] = {"all",     "email",       "sms", "whatsapp",
				       "webhook", "retargeting", NULL};
#define CHANNEL_LIST "all, email, sms, whatsapp, webhook or retargeting"

/* Checks channel c: NULL when it is one of channels[], else the reason
 * ("unknown channel 'emial' (did you mean 'email'?)") in buf. */
static const char *bad_channel(const char *c, char *buf, size_t size)
{
	for (int i = 0; channels[i]; i++)
		if (!strcmp(c, channels[i]))
			return NULL;
	char what[96];
	snprintf(what, sizeof what, "channel '%.80s'", c);
	return jrn_unknown_word(what, c, channels, CHANNEL_LIST, buf, size);
}

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
	char why[160];
	if (c == OPT_CHANNEL && bad_channel(arg, why, sizeof why))
		return jrn_say(JRN_EXIT_USAGE, "suppressions: --channel: %s", why);
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

/* Checks address a[0..n) before it is normalised: not empty, valid
 * UTF-8, no control character (jrn_id_check), no byte-order mark (a
 * U+FEFF that a file joined to another kept: invisible, it would match
 * nobody), and, on a plain line (!json), no white space but in a phone
 * number (a leading '+': "+41 44 668 18 00"). 0, or -1 with e. */
static int address_check(const char *a, size_t n, bool json, jrn_err *e)
{
	if (!n)
		return jrn_fail(e, "no address");
	size_t bad = jrn_utf8_invalid_at(a, n);
	if (bad < n)
		return jrn_fail(e, "address: invalid UTF-8 at byte %zu", bad + 1);
	if (jrn_id_check(a, n, "address", e) < 0)
		return -1;
	if (memmem(a, n, "\xef\xbb\xbf", 3))
		return jrn_fail(e, "address: byte-order mark (U+FEFF) not at the start of the input");
	if (!json && *a != '+' && (memchr(a, ' ', n) || memchr(a, '\t', n)))
		return jrn_fail(e, "not an address: it holds white space (a customer id with a space"
				   " comes as NDJSON {\"address\": ...})");
	return 0;
}

/* Appends the form phone number a[0..n) is suppressed under to out: its
 * E.164 form by libphonenumber ("+41 44 668 18 00": +41446681800), else,
 * when it is written in E.164 already (+ and 2 to 15 digits, ITU-T
 * E.164), as written: a number the library's metadata does not know yet
 * is still suppressed, since a complaint left out is a message sent. 0,
 * or -1 with e. */
static int phone_form(const char *a, size_t n, jrn_buf *out, jrn_err *e)
{
	if (jrn_phone_e164(a, n, NULL, out, e) == 0)
		return 0;
	size_t d = 1;
	while (d < n && a[d] >= '0' && a[d] <= '9')
		d++;
	if (d < n || n < 3 || n > 16 || a[1] == '0')
		return -1; /* (jrn_phone_e164's reason) */
	jrn_buf_reset(out);
	return jrn_buf_add(out, a, n) < 0 ? jrn_fail(e, "out of memory") : 0;
}

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
	char why[160];
	if (bad_channel(channel, why, sizeof why)) {
		jv_free(obj);
		return jrn_fail(e, "%s", why);
	}
	jrn_buf norm = {0};
	int rc = address_check(addr, len, jv_is_valid(obj), e);
	if (rc == 0 && (memchr(addr, '@', len) ? jrn_email_normalize(addr, len, &norm, e)
			: *addr == '+'         ? phone_form(addr, len, &norm, e)
					       : jrn_buf_add(&norm, addr, len)) < 0)
		rc = -1; /* (said in e; out of memory is said so too) */
	if (rc < 0) {
		rc = -1;
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
		/* normalised as import stores it, else as written */
		if (strchr(a, '@') ? jrn_email_normalize(a, strlen(a), &norm, &why) < 0
		    : *a != '+' || phone_form(a, strlen(a), &norm, &why) < 0) {
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
