/*
 * jrn-merge: one customer profile from the state file and the sources of
 * jrn.yaml, added to each record as "profile" (see jrn-merge(1)).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-merge.h"
#include "privacy.h"

static const char usage[] =
	"usage: jrn-merge [OPTIONS] [FILE...]\n"
	"       jrn-merge --all [OPTIONS]\n"
	"       jrn-merge --unmerge ID [OPTIONS]\n"
	"Add to each record with a customerId (events, actions, bare {\"customerId\"})\n"
	"the customer's profile: \"profile\":{customerId, email, phone, name, firstName,\n"
	"locale, timeZone, country, createdAt, traits, provenance, consent, scores,\n"
	"segments, summary, sources, errors}. Records from FILEs, else standard input.\n"
	"\n"
	"  --all                 a record {\"customerId\",\"profile\"} per customer of the\n"
	"                        state file instead of an input, in id order\n"
	"  --source NAME         read only this source of sources.list (repeatable)\n"
	"  --require NAME        a failure of source NAME rejects the record (repeatable)\n"
	"  --parallel N          http requests in flight at once, 1 to 1024 (default 64;\n"
	"                        sources.parallel)\n"
	"  --save                store what the sources gave into the profile, by the\n"
	"                        field rule (jrn-merge(1), PROFILE)\n"
	"  --unmerge ID          undo merge ID of the merge log (table merges)\n"
	"  --dry-run             with --save or --unmerge: do the work, write nothing\n"
	JRN_CHECK_CONFIG_USAGE
	"                        (sources: each file source's file is read)\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected records to FILE as JSON\n"
	"  -q, --quiet           nothing on stderr unless something fails\n"
	"  -v, --verbose         also the state file, config and sources in use\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage, 3 some records were rejected or\n"
	"have profile.errors.\n";

enum { OPT_ALL = JRN_OPT_TOOL_BASE, OPT_SOURCE, OPT_REQUIRE, OPT_SAVE, OPT_UNMERGE, OPT_PARALLEL };

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"all", no_argument, NULL, OPT_ALL},
	{"source", required_argument, NULL, OPT_SOURCE},
	{"require", required_argument, NULL, OPT_REQUIRE},
	{"save", no_argument, NULL, OPT_SAVE},
	{"unmerge", required_argument, NULL, OPT_UNMERGE},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* At most this many --source and --require each. */
#define MAX_NAMED 64
/* Records per transaction; it also ends when the input idles. */
#define BATCH 1000
/* Records read ahead while their http sources answer: WINDOW_PER x
 * --parallel, at least WINDOW_MIN (jrn-merge(1), SOURCES). */
#define WINDOW_PER 4
#define WINDOW_MIN 64

/* A record read ahead, in the window until its sources are all in. */
typedef struct {
	jrn_buf text;       /* the input line, or (--all) the state file's members */
	jrn_buf cust;       /* the customer, resolved */
	const char *file;   /* where the line came from (the reader's, borrowed) */
	uint64_t lineno;
	bool has_profile;
	merge_slot *slots;  /* one per source; asynchronous ones used */
	size_t left;        /* slots not done */
} wrec;

/* One run. */
typedef struct {
	jrn_opts opts;
	jrn_out out;
	jrn_rejects rej;
	sqlite3 *db;
	jrn_profile *P;
	jrn_privacy *priv;    /* erased ids (jrn privacy erase) */
	merge_state *S;
	merge_source *src;
	size_t nsrc;
	char *only[MAX_NAMED], *req[MAX_NAMED];
	int nonly, nreq;
	bool all, save;
	const char *unmerge;
	int64_t history;      /* sources.historyLimit */
	long parallel;        /* --parallel, sources.parallel */
	merge_net *net;       /* NULL: no asynchronous source */
	wrec *win;            /* a ring of wcap records: whead the oldest */
	size_t wcap, whead, wlen;
	uint64_t pushed;
	jrn_err stop;         /* --all: why each_customer stopped the pass */
	bool in_tx;
	size_t in_batch;
	uint64_t profiles, with_errors, changed, saved;
	jrn_json_index ix;
	jrn_buf line, members, value, cust;
	jv_parser *parser;
} run_t;

static int take(void *ctx, int c, const char *arg)
{
	run_t *r = ctx;
	switch (c) {
	case OPT_ALL: r->all = true; return 0;
	case OPT_SAVE: r->save = true; return 0;
	case OPT_UNMERGE: r->unmerge = arg; return 0;
	case OPT_PARALLEL: {
		char *end;
		long n = strtol(arg, &end, 10);
		if (!*arg || *end || n < 1 || n > MERGE_PARALLEL_MAX)
			return jrn_say(JRN_EXIT_USAGE, "--parallel %s: expected an integer from 1 to %d (the limit)",
				       arg, MERGE_PARALLEL_MAX);
		r->parallel = n;
		return 0;
	}
	case OPT_SOURCE:
	case OPT_REQUIRE: {
		int *n = c == OPT_SOURCE ? &r->nonly : &r->nreq;
		if (*n >= MAX_NAMED)
			return jrn_say(JRN_EXIT_USAGE, "more than %d --%s (the limit)", MAX_NAMED,
				       c == OPT_SOURCE ? "source" : "require");
		(c == OPT_SOURCE ? r->only : r->req)[(*n)++] = (char *)arg;
		return 0;
	}
	}
	return -2;
}

/* ---- transactions ------------------------------------------------------------ */

static int tx_begin(run_t *r, jrn_err *e)
{
	if (r->in_tx)
		return 0;
	int rc = r->save ? jrn_db_begin(r->db, e) : jrn_db_exec(r->db, "BEGIN", e);
	r->in_tx = rc == 0;
	r->in_batch = 0;
	return rc;
}

/* Ends the transaction: COMMIT, or ROLLBACK for --dry-run. */
static int tx_end(run_t *r, jrn_err *e)
{
	if (!r->in_tx)
		return 0;
	r->in_tx = false;
	if (r->opts.dry_run) {
		jrn_db_rollback(r->db);
		return 0;
	}
	if (jrn_db_commit(r->db, e) < 0) {
		jrn_db_rollback(r->db);
		return -1;
	}
	return 0;
}

/* ---- one profile --------------------------------------------------------------- */

/* Folds (and with --save applies) a source's value text v[0..n) into *row. */
static int take_values(run_t *r, jv *row, const merge_source *s, const char *v, size_t n, jv *changed,
		       jrn_err *e)
{
	jv val = jv_parse_sized(v, (int)n);
	jv items = jv_get_kind(val) == JV_KIND_ARRAY ? val : JV_ARRAY(val);
	int rc = 0;
	jv_array_foreach(items, i, it) {
		if (s->key && jv_get_kind(it) == JV_KIND_OBJECT)
			it = jv_object_delete(it, jv_string(s->key));
		if (r->save && jv_get_kind(it) == JV_KIND_OBJECT &&
		    jrn_profile_apply(r->P, r->cust.p, jv_copy(it), s->name, s->ts, e) < 0)
			rc = -1;
		jrn_profile_fold(r->P, row, it, s->name, s->ts, changed);
		(void)i;
	}
	jv_free(items);
	return rc;
}

/* r->members: the profile's members of customer r->cust (resolved), the
 * sources' answers and errors: synchronous sources asked now, asynchronous
 * ones read from w's slots (w NULL: there are none). given, when not
 * NULL, holds the state file's members already (--all). 1 when a required
 * source failed (why in e), 0 done, -1 failure (e). */
static int build(run_t *r, wrec *w, const jrn_buf *given, jrn_err *e)
{
	jrn_buf srcs = {0}, errs = {0};
	jv row = jv_invalid(), changed = jv_array();
	int rc = 0;
	for (size_t i = 0; i < r->nsrc && rc == 0; i++) {
		merge_source *s = &r->src[i];
		jrn_err own;
		const jrn_err *wy = &own;
		const jrn_buf *val = &r->value;
		int got;
		if (s->ops->start) {
			got = w->slots[i].got;
			val = &w->slots[i].value;
			wy = &w->slots[i].why;
		} else {
			jrn_buf_reset(&r->value);
			got = s->ops->fetch(s, r->cust.p, r->cust.len, (size_t)r->history, &r->value, &own);
		}
		if (got < 0 && s->require) {
			jrn_fail(e, "source %s: %s", s->name, wy->msg);
			rc = 1;
		} else if (got < 0) {
			jrn_buf_adds(&errs, errs.len ? "," : "");
			jrn_buf_adds(&errs, "{\"source\":");
			jrn_json_append_str(&errs, s->name, strlen(s->name));
			jrn_buf_adds(&errs, ",\"error\":");
			jrn_json_append_str(&errs, wy->msg, strlen(wy->msg));
			jrn_buf_addc(&errs, '}');
		} else if (got > 0) {
			jrn_buf_addc(&srcs, srcs.len ? ',' : '{');
			jrn_json_append_str(&srcs, s->name, strlen(s->name));
			jrn_buf_addc(&srcs, ':');
			jrn_buf_add(&srcs, val->p, val->len);
			if (s->unify && !jv_is_valid(row)) {
				row = jrn_profile_get(r->P, r->cust.p, e);
				if (jv_get_kind(row) == JV_KIND_NULL)
					row = jv_object_set(jv_object(), jv_string("customerId"),
							    jv_string(r->cust.p));
				if (!jv_is_valid(row))
					rc = -1;
			}
			if (rc == 0 && s->unify &&
			    take_values(r, &row, s, val->p, val->len, &changed, e) < 0)
				rc = -1;
		}
	}
	jrn_buf_reset(&r->members);
	if (rc == 0 && given && !jv_is_valid(row))
		jrn_buf_add(&r->members, given->p, given->len);
	else if (rc == 0 && merge_state_profile(r->S, r->cust.p, row, &r->members, e) < 0)
		rc = -1;
	if (rc == 0) {
		if (srcs.len) {
			jrn_buf_adds(&r->members, ",\"sources\":");
			jrn_buf_add(&r->members, srcs.p, srcs.len);
			jrn_buf_addc(&r->members, '}');
		}
		if (errs.len) {
			jrn_buf_adds(&r->members, ",\"errors\":[");
			jrn_buf_add(&r->members, errs.p, errs.len);
			jrn_buf_addc(&r->members, ']');
			r->with_errors++;
		}
		if (jv_array_length(jv_copy(changed)) > 0) {
			jrn_buf_adds(&r->members, ",\"changed\":");
			jrn_json_append(&r->members, jv_copy(changed), 0, NULL);
			r->changed++;
			r->saved += r->save && !r->opts.dry_run;
		}
		if (!r->members.p)
			rc = jrn_fail(e, "out of memory");
	}
	jv_free(row);
	jv_free(changed);
	jrn_buf_free(&srcs);
	jrn_buf_free(&errs);
	r->profiles += rc == 0;
	return rc;
}

/* Sets r->cust to the customer id[0..n) names now. 0, 1 when id was
 * erased by jrn privacy erase (nothing set: the record is rejected, so
 * that no profile of the person is made again), or -1 with e. */
static int resolve(run_t *r, const char *id, size_t n, jrn_err *e)
{
	int erased = jrn_privacy_erased(r->priv, id, n);
	if (erased < 0)
		return jrn_fail(e, "the erased check failed (OpenSSL)");
	if (erased)
		return 1;
	jrn_buf_reset(&r->cust);
	if (jrn_buf_add(&r->cust, id, n) < 0)
		return jrn_fail(e, "out of memory");
	const char *c = jrn_profile_resolve(r->P, r->cust.p, e);
	if (!c)
		return -1;
	if (c != r->cust.p && strcmp(c, r->cust.p)) {
		char *t = strdup(c);
		if (!t)
			return jrn_fail(e, "out of memory");
		jrn_buf_reset(&r->cust);
		jrn_buf_adds(&r->cust, t);
		free(t);
	}
	return 0;
}

/* What take_line makes of resolve's answer got: 0 go on, -1 reject (why
 * set), -2 fatal (resolve set its e). */
static int resolved(int got, jrn_err *why)
{
	if (got < 0)
		return -2;
	if (got > 0)
		return jrn_fail(why, "customerId: erased customer");
	return 0;
}

/* ---- records ---------------------------------------------------------------------- */

/* Writes the record text[0..len) with "profile" (r->members) added. */
static int emit(run_t *r, const char *text, size_t len, bool has_profile, jrn_err *e)
{
	const jrn_line l = {.p = text, .len = len}, *ln = &l;
	jrn_buf *o = &r->line;
	jrn_buf_reset(o);
	if (has_profile) { /* a "profile" member already: replaced, through jv */
		jv rec = jrn_parse_checked_object(&r->parser, ln->p, ln->len, e);
		jrn_buf_adds(o, "{");
		jrn_buf_add(o, r->members.p + 1, r->members.len - 1);
		jrn_buf_addc(o, '}');
		jv prof = jv_parse_sized(o->p, (int)o->len);
		jrn_buf_reset(o);
		if (!jv_is_valid(rec) || jrn_json_append(o, jv_object_set(rec, jv_string("profile"), prof), 0, e) < 0)
			return -1;
	} else {
		size_t end = ln->len;
		while (end && ln->p[end - 1] != '}')
			end--;
		jrn_buf_add(o, ln->p, end - 1);
		jrn_buf_adds(o, ",\"profile\":{");
		jrn_buf_add(o, r->members.p + 1, r->members.len - 1);
		jrn_buf_adds(o, "}}");
	}
	if (!o->p)
		return jrn_fail(e, "out of memory");
	jrn_out_line(&r->out, o->p, o->len);
	return 0;
}

/* ---- the window: records whose http sources are on the way ------------------------ */

/* --all: writes {"customerId","profile"} with members m. */
static int emit_all(run_t *r, const char *customer, const jrn_buf *m)
{
	jrn_buf *o = &r->line;
	jrn_buf_reset(o);
	jrn_buf_adds(o, "{\"customerId\":");
	jrn_json_append_str(o, customer, strlen(customer));
	jrn_buf_adds(o, ",\"profile\":{");
	jrn_buf_add(o, m->p + 1, m->len - 1);
	jrn_buf_adds(o, "}}");
	if (!o->p || jrn_out_line(&r->out, o->p, o->len) < 0)
		return -1;
	return 0;
}

/* Writes the oldest record of the window (its sources all in), or rejects
 * it, and drops it. 0, or -1 when the run cannot go on (e). */
static int out_one(run_t *r, jrn_err *e)
{
	wrec *w = &r->win[r->whead];
	jrn_err why;
	jrn_buf_reset(&r->cust);
	int rc = jrn_buf_add(&r->cust, w->cust.p, w->cust.len) < 0 ? jrn_fail(&why, "out of memory")
		 : build(r, w, r->all ? &w->text : NULL, &why);
	if (rc > 0 && r->all)
		rc = jrn_fail(e, "%s: %s", w->cust.p, why.msg);
	else if (rc > 0)
		rc = jrn_reject(&r->rej, w->file, w->lineno, w->text.p, w->text.len, why.msg, e);
	else if (rc < 0)
		rc = jrn_fail(e, "%s", why.msg);
	else
		rc = r->all ? emit_all(r, w->cust.p, &r->members)
			    : emit(r, w->text.p, w->text.len, w->has_profile, e);
	r->whead = (r->whead + 1) % r->wcap;
	r->wlen--;
	return rc;
}

enum { READY, ROOM, EMPTY };

/* Moves the requests on and writes, in input order, the records at the
 * head of the window whose sources are all in: those ready now (READY),
 * until a quarter of the window is free (ROOM: so that a full window
 * waits on the network once per many records, not once per record), or
 * all (EMPTY), waiting on the network as needed. 0 or -1 (e). */
static int drain(run_t *r, int until, jrn_err *e)
{
	bool wait = false;
	for (;;) {
		if (r->net && merge_net_run(r->net, wait, e) < 0)
			return -1;
		while (r->wlen && r->win[r->whead].left == 0)
			if (out_one(r, e) < 0)
				return -1;
		if (until == READY || r->wlen == 0 || (until == ROOM && r->wlen <= r->wcap - r->wcap / 4))
			return 0;
		wait = true;
	}
}

/* Puts the record text[0..n) of customer r->cust in the window (making
 * room first) and starts its asynchronous sources. 0 or -1 (e). */
static int push(run_t *r, const char *text, size_t n, const char *file, uint64_t lineno,
		bool has_profile, jrn_err *e)
{
	if (r->wlen == r->wcap && drain(r, ROOM, e) < 0)
		return -1;
	wrec *w = &r->win[(r->whead + r->wlen) % r->wcap];
	jrn_buf_reset(&w->text);
	jrn_buf_reset(&w->cust);
	if (jrn_buf_add(&w->text, text, n) < 0 || jrn_buf_add(&w->cust, r->cust.p, r->cust.len) < 0)
		return jrn_fail(e, "out of memory");
	w->file = file;
	w->lineno = lineno;
	w->has_profile = has_profile;
	w->left = 0;
	r->wlen++;
	for (size_t i = 0; i < r->nsrc; i++) {
		merge_source *s = &r->src[i];
		if (!s->ops->start)
			continue;
		w->left++;
		if (s->ops->start(s, w->cust.p, w->cust.len, (size_t)r->history, &w->slots[i], e) < 0)
			return -1;
	}
	/* the network moves on every few records read (each run looks at
	 * every transfer), and whenever the window is full */
	return ++r->pushed % 16 ? 0 : drain(r, READY, e);
}

static int window_open(run_t *r, jrn_err *e)
{
	r->wcap = (size_t)r->parallel * WINDOW_PER;
	if (r->wcap < WINDOW_MIN)
		r->wcap = WINDOW_MIN;
	if (!(r->win = calloc(r->wcap, sizeof *r->win)))
		return jrn_fail(e, "out of memory");
	for (size_t i = 0; i < r->wcap; i++) {
		if (!(r->win[i].slots = calloc(r->nsrc, sizeof *r->win[i].slots)))
			return jrn_fail(e, "out of memory");
		for (size_t j = 0; j < r->nsrc; j++)
			r->win[i].slots[j].left = &r->win[i].left;
	}
	return 0;
}

static void window_free(run_t *r)
{
	for (size_t i = 0; r->win && i < r->wcap; i++) {
		jrn_buf_free(&r->win[i].text);
		jrn_buf_free(&r->win[i].cust);
		for (size_t j = 0; r->win[i].slots && j < r->nsrc; j++)
			jrn_buf_free(&r->win[i].slots[j].value);
		free(r->win[i].slots);
	}
	free(r->win);
}

/* One input line: 0 done or rejected, -1 fatal (e). */
static int take_line(run_t *r, const jrn_line *ln, jrn_err *fatal)
{
	jrn_err why;
	size_t bad = jrn_utf8_invalid_at(ln->p, ln->len);
	if (bad < ln->len) {
		jrn_fail(&why, "invalid UTF-8 at byte %zu", bad + 1);
		goto reject;
	}
	if (jrn_json_index_build(&r->ix, ln->p, ln->len, 1, &why) < 0)
		goto reject;
	if (strcmp(jrn_json_kind_at(ln->p, ln->len), "object")) {
		jrn_fail(&why, "not a JSON object (got %s)", jrn_json_kind_phrase_at(ln->p, ln->len));
		goto reject;
	}
	const jrn_json_member *m = jrn_json_find(&r->ix, -1, "customerId");
	if (!m) {
		jrn_fail(&why, "customerId: missing");
		goto reject;
	}
	if (m->kind != '"') {
		jrn_fail(&why, "customerId: expected a string, got %s",
			 jrn_json_kind_phrase_at(m->val, m->vlen));
		goto reject;
	}
	int rc;
	if (m->escaped) {
		jv rec = jrn_parse_checked_object(&r->parser, ln->p, ln->len, &why);
		jv c = jv_is_valid(rec) ? jv_object_get(rec, jv_string("customerId")) : rec;
		if (!jv_is_valid(c)) {
			jv_free(c);
			goto reject;
		}
		size_t n = (size_t)jv_string_length_bytes(jv_copy(c));
		rc = jrn_id_check(jv_string_value(c), n, "customerId", &why);
		if (rc == 0)
			rc = resolved(resolve(r, jv_string_value(c), n, fatal), &why);
		jv_free(c);
	} else {
		rc = jrn_id_check(m->val, m->vlen, "customerId", &why);
		if (rc == 0)
			rc = resolved(resolve(r, m->val, m->vlen, fatal), &why);
	}
	if (rc == -2)
		return -1;
	if (rc < 0)
		goto reject;
	bool has_profile = jrn_json_find(&r->ix, -1, "profile") != NULL;
	if (r->net)
		return push(r, ln->p, ln->len, ln->file, ln->lineno, has_profile, fatal);
	rc = build(r, NULL, NULL, &why);
	if (rc > 0)
		goto reject;
	if (rc < 0)
		return jrn_fail(fatal, "%s", why.msg);
	return emit(r, ln->p, ln->len, has_profile, fatal);
reject:
	return jrn_reject(&r->rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
}

static int read_records(run_t *r, char **files, int nfiles, jrn_err *e)
{
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	if (!rd)
		return jrn_fail(e, "out of memory");
	jrn_reader_idle_notice(rd, true);
	jrn_line ln;
	int rc, status = 0;
	while (!r->out.err && (rc = jrn_reader_next(rd, &ln, e)) != 0) {
		if (rc == 2 || (rc == 1 && r->in_batch >= BATCH)) { /* idle: commit, show */
			/* idle: the records read ahead are written first */
			if ((rc == 2 && r->wlen && (tx_begin(r, e) < 0 || drain(r, EMPTY, e) < 0)) ||
			    tx_end(r, e) < 0 || jrn_out_flush(&r->out) < 0) {
				status = -1;
				break;
			}
			if (rc == 2)
				continue;
		}
		if (rc < 0) {
			jrn_say(0, "%s", e->msg);
			status = 1;
			continue;
		}
		if (tx_begin(r, e) < 0 || take_line(r, &ln, e) < 0) {
			status = -1;
			break;
		}
		r->in_batch++;
	}
	jrn_reader_free(rd);
	if (status >= 0 && r->wlen && (tx_begin(r, e) < 0 || drain(r, EMPTY, e) < 0))
		status = -1;
	if (status >= 0 && tx_end(r, e) < 0)
		status = -1;
	return status;
}

/* --all: one record per customer. */
static int each_customer(void *ctx, const char *customer, jrn_buf *members)
{
	run_t *r = ctx;
	jrn_err e;
	if (!r->nsrc) {
		r->profiles++;
		return emit_all(r, customer, members);
	}
	jrn_buf_reset(&r->cust);
	jrn_buf_adds(&r->cust, customer);
	int rc = r->net ? push(r, members->p, members->len, NULL, 0, false, &e) : build(r, NULL, members, &e);
	if (rc != 0 && r->net)
		return r->stop = e, -1;
	if (rc != 0)
		return jrn_fail(&r->stop, "%s: %s", customer, e.msg);
	return r->net ? 0 : emit_all(r, customer, &r->members);
}

/* ---- set up, run, finish ------------------------------------------------------------ */

/* The sources, the network and the window when one of them is http. */
static int load_sources(run_t *r, jrn_err *e)
{
	int64_t par = MERGE_PARALLEL_DEFAULT;
	if (!r->parallel && jrn_config_int(r->opts.config, "sources.parallel", &par, e) >= 0)
		r->parallel = (long)par;
	if (!(r->net = merge_net_open(r->parallel, e)))
		return -1;
	int rc = merge_sources_load(r->opts.config, r->only, r->nonly, r->net, &r->src, &r->nsrc, e);
	if (rc < 0)
		return rc;
	bool async = false;
	for (size_t i = 0; i < r->nsrc; i++)
		async = async || r->src[i].ops->start;
	if (!async) {
		merge_net_close(r->net);
		r->net = NULL;
		return 0;
	}
	return window_open(r, e);
}

/* Options, configuration, sources, rejects and state file: 0 to run, else
 * the exit status (said). --check-config runs the same steps with the
 * state file one in memory (the profile's keys of sources are checked
 * where it opens) and no rejects file, and returns 0 when all would do. */
static int set_up(run_t *r, int nfiles)
{
	jrn_err e;
	bool check = r->opts.check_config;
	if (check && (r->all || nfiles || r->unmerge || r->save))
		return jrn_say(JRN_EXIT_USAGE, "--check-config goes alone: no FILE, --all, --save or"
			       " --unmerge");
	if (r->all && nfiles)
		return jrn_say(JRN_EXIT_USAGE, "--all reads the state file: no FILE operands");
	if (r->unmerge && (r->all || nfiles || r->save))
		return jrn_say(JRN_EXIT_USAGE, "--unmerge goes alone (with --dry-run)");
	int rc = jrn_opts_resolve(&r->opts, &e);
	if (rc < 0)
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	if (merge_sources_check(r->opts.config, &e) < 0) /* (FILE:LINE:COLUMN: in e) */
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	r->history = 100;
	if (jrn_config_int(r->opts.config, "sources.historyLimit", &r->history, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "sources.historyLimit: %s", e.msg);
	rc = r->unmerge ? 0 : load_sources(r, &e);
	if (rc < 0) /* (a source's place in the file in e; -2: --source names none) */
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	for (int i = 0; i < r->nreq; i++) {
		bool found = false;
		for (size_t j = 0; j < r->nsrc; j++)
			if (!strcmp(r->src[j].name, r->req[i]))
				found = r->src[j].require = true;
		if (!found && !r->unmerge)
			return jrn_say(JRN_EXIT_USAGE, "--require %s: no such source in use", r->req[i]);
	}
	if (!check && jrn_rejects_open(&r->rej, "jrn-merge", r->opts.rejects_path,
				       r->opts.verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	/* --all without --save only reads the customers of the state file: a
	 * missing one is refused, not made */
	if ((r->all && !r->save && jrn_db_exists(r->opts.db_path, &e) < 0) ||
	    jrn_db_open(check ? ":memory:" : r->opts.db_path, r->opts.busy_ms, &r->db, &e) < 0 ||
	    !(r->P = jrn_profile_open(r->db, r->opts.config, &e)) ||
	    !(r->priv = jrn_privacy_open(r->db, &e)) ||
	    !(r->S = merge_state_open(r->db, &e)) || (r->net && merge_net_db(r->net, r->db, &e) < 0))
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (check)
		return 0;
	if (r->opts.verbosity > 0) {
		jrn_say(0, "state file: %s", r->opts.db_path);
		jrn_say(0, "config: %s", r->opts.config_path ? r->opts.config_path : "(none: defaults)");
		for (size_t i = 0; i < r->nsrc; i++)
			jrn_say(0, "source: %s (%s)", r->src[i].name, r->src[i].ops->type);
		if (r->net)
			jrn_say(0, "http: at most %ld requests in flight, %zu records read ahead", r->parallel,
				r->wcap);
	}
	return 0;
}

static int do_unmerge(run_t *r)
{
	jrn_err e;
	char *end;
	long long id = strtoll(r->unmerge, &end, 10);
	if (!*r->unmerge || *end || id <= 0)
		return jrn_say(JRN_EXIT_USAGE, "--unmerge %s: expected a merge id", r->unmerge);
	r->save = true;
	if (tx_begin(r, &e) < 0 || jrn_profile_unmerge(r->P, id, jrn_now(), &e) < 0 || tx_end(r, &e) < 0) {
		jrn_db_rollback(r->db);
		r->in_tx = false;
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	}
	if (r->opts.verbosity >= 0)
		jrn_say(0, "merge %lld %s", id, r->opts.dry_run ? "would be undone (dry run)" : "undone");
	return 0;
}

/* ", N http requests" for the summary, or "" without http sources. */
static const char *requests(const run_t *r)
{
	static char b[48];
	if (!r->net)
		return "";
	snprintf(b, sizeof b, ", %llu http requests", (unsigned long long)merge_net_requests(r->net));
	return b;
}

static int run(run_t *r, char **files, int nfiles)
{
	jrn_err e;
	if (r->unmerge)
		return do_unmerge(r);
	int rc;
	if (r->all) {
		/* one pass over the tables: mapped, the pages are not copied */
		jrn_db_exec(r->db, "PRAGMA mmap_size = 4294967296", NULL);
		rc = tx_begin(r, &e) < 0 ? -1 : merge_state_all(r->S, each_customer, r, &e);
		if (rc == 0)
			rc = drain(r, EMPTY, &e);
		else if (r->stop.msg[0])
			e = r->stop;
		if (tx_end(r, &e) < 0)
			rc = -1;
	} else {
		rc = read_records(r, files, nfiles, &e);
	}
	if (rc < 0 && !r->out.err)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	/* a reader that went away is a normal end, nothing said (jrn(7)),
	 * unless the run saved; the output written out first to know */
	if (!r->save && r->out.err == 0)
		jrn_out_flush(&r->out);
	if (r->opts.verbosity >= 0 && !(r->out.err == EPIPE && !r->save))
		jrn_say(0, "%llu profile%s, %llu rejected, %llu with errors, %llu changed by sources%s%s",
			(unsigned long long)r->profiles, r->profiles == 1 ? "" : "s",
			(unsigned long long)r->rej.count,
			(unsigned long long)r->with_errors, (unsigned long long)r->changed,
			!r->save ? "" : r->opts.dry_run ? " (dry run, nothing saved)" : ", saved",
			requests(r));
	return rc > 0 ? JRN_EXIT_FAIL : r->with_errors ? JRN_EXIT_REJECTS : JRN_EXIT_OK;
}

static int teardown(run_t *r, int status)
{
	if (r->in_tx)
		jrn_db_rollback(r->db);
	merge_sources_free(r->src, r->nsrc);
	window_free(r);
	merge_net_close(r->net);
	merge_state_close(r->S);
	jrn_profile_close(r->P);
	jrn_privacy_close(r->priv);
	if (r->db)
		sqlite3_close(r->db);
	if (r->parser)
		jv_parser_free(r->parser);
	jrn_json_index_free(&r->ix);
	jrn_buf_free(&r->line);
	jrn_buf_free(&r->members);
	jrn_buf_free(&r->value);
	jrn_buf_free(&r->cust);
	status = jrn_finish(&r->out, &r->rej, status);
	jrn_opts_free(&r->opts);
	return status;
}

int main(int argc, char **argv)
{
	static run_t r;
	signal(SIGPIPE, SIG_IGN);
	jrn_opts_init(&r.opts, "jrn-merge");
	jrn_out_init(&r.out, STDOUT_FILENO);
	int status = jrn_opts_parse(&r.opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take, &r);
	if (status >= 0)
		return teardown(&r, status);
	if ((status = set_up(&r, argc - optind)) != 0 || r.opts.check_config)
		return teardown(&r, status);
	return teardown(&r, run(&r, argv + optind, argc - optind));
}
