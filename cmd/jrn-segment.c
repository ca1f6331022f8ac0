/*
 * jrn-segment: evaluate segment rules over customer profiles; add
 * `segments: [...]` to each, or keep the members of one; store memberships,
 * emit entered/exited events, freeze snapshots, count reachable members,
 * and alert on drift.
 *
 * Rules are compiled once (lib/rules.c) and evaluated on each record's jv
 * value; the output line is the input line with the segments spliced in,
 * so records pass through byte for byte otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn.h"
#include "reach.h"
#include "rules.h"

static const char usage[] =
	"usage: jrn-segment [OPTIONS] [FILE...]\n"
	"Evaluate segment rules over customer profiles (NDJSON) from FILEs or stdin\n"
	"and write each with \"segments\": [...] added. With no input (stdin a\n"
	"terminal or empty, or --all), every customer in the state file.\n"
	"\n"
	"  --segments FILE       segment definitions, YAML or JSON (JRN_SEGMENTS;\n"
	"                        config segments.file; default share/jrn/segments.yaml)\n"
	"  --only NAME           evaluate one segment; write only its members\n"
	"  --explain NAME        print the compiled form of segment NAME and exit\n"
	"  --list                print the segment names and exit\n"
	"  --count               write {segment,total,reachable} per segment, not profiles\n"
	"  --save                store memberships (entered: since now; exited: removed)\n"
	"  --changes             write segment.entered / segment.exited events against\n"
	"                        the stored memberships, not profiles\n"
	"  --snapshot NAME       freeze the members into the static snapshot NAME\n"
	"  --drift PCT           alert (exit 3) when a population moves more than PCT\n"
	"                        percent since the last saved run (default 20)\n"
	"  --all                 evaluate every customer in the state file\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines to FILE as JSON\n"
	"  --dry-run             evaluate, but write nothing to the state file\n"
	"  -q, --quiet           no per-line diagnostics\n"
	"  -v, --verbose         why each record is in or out, clause by clause\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure, 2 usage, 3 records rejected or drift.\n";

enum {
	OPT_SEGMENTS = JRN_OPT_TOOL_BASE,
	OPT_ONLY,
	OPT_EXPLAIN,
	OPT_LIST,
	OPT_COUNT,
	OPT_SAVE,
	OPT_CHANGES,
	OPT_SNAPSHOT,
	OPT_DRIFT,
	OPT_ALL,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"segments", required_argument, NULL, OPT_SEGMENTS},
	{"only", required_argument, NULL, OPT_ONLY},
	{"explain", required_argument, NULL, OPT_EXPLAIN},
	{"list", no_argument, NULL, OPT_LIST},
	{"count", no_argument, NULL, OPT_COUNT},
	{"save", no_argument, NULL, OPT_SAVE},
	{"changes", no_argument, NULL, OPT_CHANGES},
	{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
	{"drift", required_argument, NULL, OPT_DRIFT},
	{"all", no_argument, NULL, OPT_ALL},
	{NULL, 0, NULL, 0},
};

/* ---- settings and state ------------------------------------------------------ */

static jrn_opts opts;
static jrn_rules *rules;
static int nseg, only = -1;
static bool do_count, do_save, do_changes, all_customers;
static const char *snapshot_name;
static double drift_pct = 20;

static sqlite3 *db;
static jrn_reach *reach;  /* --count: who may be contacted */
static jrn_out out;
static jv_parser *parser;
static jrn_json_index ix;
static jrn_rejects rej;
static jrn_buf line_buf, why_buf;
static jrn_buf *seg_json; /* per segment: its name as a JSON string */
static bool *member;      /* per segment: the record in hand is in it */
static uint64_t *total, *reachable;
static jv key_customer, key_segments, key_email, key_phone, key_consent;

/* Stored memberships, for --changes and --save: "SEG\x1fCUSTOMER" keys
 * (NULL: none loaded). */
static jrn_idmap *stored;

/* Changes to write at the end: segment index and customer. */
typedef struct {
	int seg;
	char *cust;
} change;
typedef struct {
	change *v;
	size_t n, cap;
} changes;
static changes entered, exited, snap;

/* ---- memberships ------------------------------------------------------------- */

static int member_key(jrn_buf *b, int seg, const char *cust, size_t n)
{
	jrn_buf_reset(b);
	return jrn_buf_adds(b, jrn_rule_name(rules, seg)) < 0 || jrn_buf_addc(b, '\x1f') < 0 ||
			       jrn_buf_add(b, cust, n) < 0 ? -1 : 0;
}

static int changes_add(changes *c, int seg, const char *cust, size_t n)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		change *p = realloc(c->v, cap * sizeof *p);
		if (!p)
			return -1;
		c->v = p;
		c->cap = cap;
	}
	char *s = strndup(cust, n);
	if (!s)
		return -1;
	c->v[c->n++] = (change){seg, s};
	return 0;
}

static void changes_free(changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].cust);
	free(c->v);
}

/* ---- the state file ------------------------------------------------------------ */

static int open_db(jrn_err *e)
{
	if (db)
		return 0;
	if (jrn_db_open(opts.db_path, opts.busy_ms, &db, e) < 0)
		return -1;
	/* Event leaves read each customer's events through events_customer,
	 * scattered over the file: mapped pages spare a copy per read (a
	 * third of the time on a state file larger than the page cache). */
	if (jrn_db_exec(db, "PRAGMA mmap_size = 17179869184", e) < 0)
		return -1;
	if (jrn_rule_attach(rules, db, e) < 0)
		return -1;
	return 0;
}

static int load_stored(jrn_err *e)
{
	sqlite3_stmt *st;
	jrn_buf k = {0};
	if (!stored && !(stored = jrn_idmap_new()))
		return jrn_fail(e, "out of memory");
	if (sqlite3_prepare_v2(db, "SELECT segment, customer_id FROM segment_members", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *seg = (const char *)sqlite3_column_text(st, 0);
		int i = seg ? jrn_rule_find(rules, seg) : -1;
		if (i < 0 || (only >= 0 && i != only))
			continue;
		const char *c = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		if (!c || member_key(&k, i, c, n) < 0 || jrn_idmap_put(stored, k.p, k.len, NULL) < 0) {
			sqlite3_finalize(st);
			jrn_buf_free(&k);
			return jrn_fail(e, "out of memory");
		}
	}
	jrn_buf_free(&k);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(db));
}

/* Reachable, as jrn-segment(1) says: the profile's own consent object
 * refuses no channel, and lib/reach finds neither a revoked consent of the
 * customer nor a suppression of its customerId, email or phone (as they
 * stand in the profile) on any channel. 1, 0, or -1 with e. Borrows rec. */
static int is_reachable(jv rec, jrn_err *e)
{
	jv consent = jv_object_get(jv_copy(rec), jv_copy(key_consent));
	bool refuses = jrn_reach_profile_refuses(consent, NULL);
	jv_free(consent);
	if (refuses || !reach)
		return !refuses;
	jv vals[3] = {jv_object_get(jv_copy(rec), jv_copy(key_customer)),
		      jv_object_get(jv_copy(rec), jv_copy(key_email)),
		      jv_object_get(jv_copy(rec), jv_copy(key_phone))};
	jrn_reach_text addr[3];
	for (int i = 0; i < 3; i++)
		addr[i] = jv_get_kind(vals[i]) == JV_KIND_STRING
				  ? (jrn_reach_text){jv_string_value(vals[i]),
						     (size_t)jv_string_length_bytes(jv_copy(vals[i]))}
				  : (jrn_reach_text){NULL, 0};
	jrn_reach_ask q = {addr[0], addr, 3, NULL, JRN_REACH_MARKETING};
	jrn_reach_verdict v;
	int rc = jrn_reach_may(reach, &q, &v, e);
	for (int i = 0; i < 3; i++)
		jv_free(vals[i]);
	return rc;
}

/* ---- output -------------------------------------------------------------------- */

/* The record's line with "segments":[...] set. */
static int emit_profile(jrn_rule_rec *rr, jrn_err *e)
{
	const char *p = rr->p;
	size_t len = rr->len;
	jrn_buf_reset(&line_buf);
	bool has;
	if (rr->ix) {
		has = jrn_json_find(rr->ix, -1, "segments") != NULL;
	} else {
		jv v = jrn_rule_rec_value(rr, e);
		if (jv_get_kind(v) != JV_KIND_OBJECT)
			return -1;
		has = jv_object_has(jv_copy(v), jv_copy(key_segments));
	}
	if (has) {
		jv rec = jrn_rule_rec_value(rr, e);
		if (!jv_is_valid(rec))
			return -1;
		jv arr = jv_array();
		for (int i = 0; i < nseg; i++)
			if (member[i])
				arr = jv_array_append(arr, jv_string(jrn_rule_name(rules, i)));
		if (jrn_json_append(&line_buf, jv_object_set(jv_copy(rec), jv_copy(key_segments), arr),
				    0, e) < 0)
			return -1;
	} else {
		size_t close = len;
		while (close > 0 && p[close - 1] != '}')
			close--;
		if (close == 0)
			return jrn_fail(e, "not an object");
		close--;
		size_t k = close;
		while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t' || p[k - 1] == '\n' || p[k - 1] == '\r'))
			k--;
		bool empty = k > 0 && p[k - 1] == '{';
		jrn_buf_add(&line_buf, p, close);
		jrn_buf_adds(&line_buf, empty ? "\"segments\":[" : ",\"segments\":[");
		bool first = true;
		for (int i = 0; i < nseg; i++) {
			if (!member[i])
				continue;
			if (!first)
				jrn_buf_addc(&line_buf, ',');
			first = false;
			jrn_buf_add(&line_buf, seg_json[i].p, seg_json[i].len);
		}
		if (jrn_buf_adds(&line_buf, "]}") < 0)
			return jrn_fail(e, "out of memory");
	}
	jrn_out_line(&out, line_buf.p, line_buf.len);
	return 0;
}

static int emit_change(const char *type, int seg, const char *cust, size_t n)
{
	char t[32], hex[65];
	size_t tn = jrn_time_format(jrn_now(), t);
	jrn_buf_reset(&line_buf);
	jrn_buf_addf(&line_buf, "%s\x1f%s\x1f", type, t);
	jrn_buf_add(&line_buf, seg_json[seg].p, seg_json[seg].len);
	jrn_buf_add(&line_buf, cust, n);
	if (!line_buf.p || jrn_sha256_hex(line_buf.p, line_buf.len, hex) < 0)
		return -1;
	jrn_buf_reset(&line_buf);
	jrn_buf_addf(&line_buf, "{\"id\":\"seg_%.32s\",\"type\":\"%s\",\"customerId\":", hex, type);
	jrn_json_append_str(&line_buf, cust, n);
	jrn_buf_adds(&line_buf, ",\"timestamp\":\"");
	jrn_buf_add(&line_buf, t, tn);
	jrn_buf_adds(&line_buf, "\",\"properties\":{\"segment\":");
	jrn_buf_add(&line_buf, seg_json[seg].p, seg_json[seg].len);
	if (jrn_buf_adds(&line_buf, "}}") < 0)
		return -1;
	return jrn_out_line(&out, line_buf.p, line_buf.len);
}

/* ---- one record ------------------------------------------------------------------ */

/* Evaluates and writes one record (text p[0..len), parsed rec borrowed).
 * 0, or -1 with fatal set. */
static int process(const char *file, uint64_t lineno, jrn_rule_rec *rr, jrn_err *fatal)
{
	jrn_err why;
	bool any = false;
	const char *p = rr->p;
	size_t len = rr->len;
	/* customerId: from the span index when plain, else from the value */
	jv cust = jv_invalid();
	const jrn_json_member *cm = rr->ix ? jrn_json_find(rr->ix, -1, "customerId") : NULL;
	if (cm && cm->kind == '"' && !cm->escaped) {
		cust = jv_string_sized(cm->val, (int)cm->vlen);
	} else if (!rr->ix || (cm && cm->kind == '"')) {
		jv v = jrn_rule_rec_value(rr, &why);
		if (!jv_is_valid(v))
			return jrn_reject(&rej, file, lineno, p, len, why.msg, fatal);
		cust = jv_object_get(jv_copy(v), jv_copy(key_customer));
	}
	bool has_cust = jv_get_kind(cust) == JV_KIND_STRING;
	const char *cid = has_cust ? jv_string_value(cust) : NULL;
	size_t clen = has_cust ? (size_t)jv_string_length_bytes(jv_copy(cust)) : 0;
	int rc = 0;

	if (!has_cust && (do_save || do_changes || snapshot_name)) {
		jv_free(cust);
		return jrn_reject(&rej, file, lineno, p, len, "customerId: missing (needed to store "
				  "memberships)", fatal);
	}
	for (int i = 0; i < nseg; i++) {
		member[i] = false;
		if (only >= 0 && i != only)
			continue;
		jrn_buf *w = NULL;
		if (opts.verbosity > 0) {
			jrn_buf_reset(&why_buf);
			w = &why_buf;
		}
		int r = jrn_rule_eval_rec(rules, i, rr, w, &why);
		if (r == JRN_RULE_FAIL) {
			jv_free(cust);
			return jrn_fail(fatal, "%s", why.msg);
		}
		if (r == JRN_RULE_REJECT) {
			jv_free(cust);
			return jrn_reject(&rej, file, lineno, p, len, why.msg, fatal);
		}
		member[i] = r == JRN_RULE_IN;
		any |= member[i];
		if (w)
			/* the verdict, then the clause by clause lines under it */
			fprintf(stderr, "%s: %s:%llu%s%s%s: %s: %s\n%s", jrn_prog(), file,
				(unsigned long long)lineno, has_cust ? " (" : "", has_cust ? cid : "",
				has_cust ? ")" : "", jrn_rule_name(rules, i), member[i] ? "in" : "out",
				why_buf.p ? why_buf.p : "");
	}

	if (do_count && any) {
		jv v = jrn_rule_rec_value(rr, fatal);
		int reach = jv_is_valid(v) ? is_reachable(v, fatal) : -1;
		if (reach < 0)
			rc = -1;
		for (int i = 0; rc == 0 && i < nseg; i++) {
			if (member[i]) {
				total[i]++;
				reachable[i] += (uint64_t)reach;
			}
		}
	} else if (do_count || do_save) {
		for (int i = 0; i < nseg; i++)
			total[i] += member[i];
	}

	if (rc == 0 && has_cust && (do_save || do_changes || snapshot_name)) {
		jrn_buf k = {0};
		for (int i = 0; rc == 0 && i < nseg; i++) {
			if (only >= 0 && i != only)
				continue;
			if (member_key(&k, i, cid, clen) < 0) {
				rc = jrn_fail(fatal, "out of memory");
				break;
			}
			bool was = stored && jrn_idmap_get(stored, k.p, k.len) >= 0;
			if (member[i] && !was) {
				if ((do_save && changes_add(&entered, i, cid, clen) < 0) ||
				    (do_changes && emit_change("segment.entered", i, cid, clen) < 0 && !out.err))
					rc = jrn_fail(fatal, "out of memory");
			} else if (!member[i] && was) {
				if ((do_save && changes_add(&exited, i, cid, clen) < 0) ||
				    (do_changes && emit_change("segment.exited", i, cid, clen) < 0 && !out.err))
					rc = jrn_fail(fatal, "out of memory");
			}
			if (rc == 0 && member[i] && snapshot_name && changes_add(&snap, i, cid, clen) < 0)
				rc = jrn_fail(fatal, "out of memory");
		}
		jrn_buf_free(&k);
	}
	jv_free(cust);
	if (rc < 0)
		return -1;
	if (do_count || do_changes)
		return 0;
	if (only >= 0) {
		if (member[only])
			jrn_out_line(&out, p, len);
		return 0;
	}
	return emit_profile(rr, fatal);
}

/* ---- the end of a run: the state file ---------------------------------------------- */

static int step_done(sqlite3_stmt *st, jrn_err *e)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(db));
}

static int write_changes(jrn_err *e)
{
	sqlite3_stmt *ins = NULL, *del = NULL, *snp = NULL;
	int64_t now = jrn_now();
	int rc = -1;
	if (jrn_db_begin(db, e) < 0)
		return -1;
	if (jrn_db_prepare(db, "INSERT OR IGNORE INTO segment_members (segment, customer_id, since)"
			   " VALUES (?, ?, ?)", &ins, e) < 0 ||
	    jrn_db_prepare(db, "DELETE FROM segment_members WHERE segment = ? AND customer_id = ?",
			   &del, e) < 0 ||
	    jrn_db_prepare(db, "INSERT OR IGNORE INTO segment_snapshots (name, segment, customer_id,"
			   " taken) VALUES (?, ?, ?, ?)", &snp, e) < 0)
		goto out;
	for (size_t i = 0; do_save && i < entered.n; i++) {
		sqlite3_bind_text(ins, 1, jrn_rule_name(rules, entered.v[i].seg), -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, entered.v[i].cust, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, now);
		if (step_done(ins, e) < 0)
			goto out;
	}
	for (size_t i = 0; do_save && i < exited.n; i++) {
		sqlite3_bind_text(del, 1, jrn_rule_name(rules, exited.v[i].seg), -1, SQLITE_STATIC);
		sqlite3_bind_text(del, 2, exited.v[i].cust, -1, SQLITE_STATIC);
		if (step_done(del, e) < 0)
			goto out;
	}
	for (size_t i = 0; snapshot_name && i < snap.n; i++) {
		sqlite3_bind_text(snp, 1, snapshot_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(snp, 2, jrn_rule_name(rules, snap.v[i].seg), -1, SQLITE_STATIC);
		sqlite3_bind_text(snp, 3, snap.v[i].cust, -1, SQLITE_STATIC);
		sqlite3_bind_int64(snp, 4, now);
		if (step_done(snp, e) < 0)
			goto out;
	}
	if (jrn_db_commit(db, e) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		jrn_db_rollback(db);
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	sqlite3_finalize(snp);
	return rc;
}

/* Populations against the last saved run; with --save, records this one.
 * Returns the number of drift alerts, or -1 with e. */
static int check_drift(jrn_err *e)
{
	sqlite3_stmt *last = NULL, *pop = NULL, *ins = NULL;
	int alerts = 0, rc = -1;
	if (jrn_db_prepare(db, "SELECT population, ran_at FROM segment_runs WHERE segment = ?"
			   " ORDER BY ran_at DESC LIMIT 1", &last, e) < 0 ||
	    jrn_db_prepare(db, "SELECT count(*) FROM segment_members WHERE segment = ?", &pop, e) < 0 ||
	    jrn_db_prepare(db, "INSERT OR REPLACE INTO segment_runs (segment, ran_at, population)"
			   " VALUES (?, ?, ?)", &ins, e) < 0)
		goto out;
	bool write = do_save && !opts.dry_run;
	if (write && jrn_db_begin(db, e) < 0)
		goto out;
	for (int i = 0; i < nseg; i++) {
		if (only >= 0 && i != only)
			continue;
		const char *name = jrn_rule_name(rules, i);
		int64_t now_pop = (int64_t)total[i];
		if (write) {
			sqlite3_bind_text(pop, 1, name, -1, SQLITE_STATIC);
			if (sqlite3_step(pop) != SQLITE_ROW) {
				jrn_fail(e, "%s", sqlite3_errmsg(db));
				sqlite3_reset(pop);
				goto rollback;
			}
			now_pop = sqlite3_column_int64(pop, 0);
			sqlite3_reset(pop);
		}
		sqlite3_bind_text(last, 1, name, -1, SQLITE_STATIC);
		int s = sqlite3_step(last);
		if (s == SQLITE_ROW) {
			int64_t prev = sqlite3_column_int64(last, 0);
			char t[32];
			jrn_time_format(sqlite3_column_int64(last, 1), t);
			double pct = prev ? 100.0 * (double)(now_pop - prev) / (double)prev
					  : (now_pop ? INFINITY : 0);
			if (fabs(pct) > drift_pct) {
				alerts++;
				jrn_say(0, "drift: segment '%s' went from %lld to %lld (%+.1f%%) since %s, "
					"more than %g%%", name, (long long)prev, (long long)now_pop, pct, t,
					drift_pct);
			}
		} else if (s != SQLITE_DONE) {
			jrn_fail(e, "%s", sqlite3_errmsg(db));
			sqlite3_reset(last);
			goto rollback;
		}
		sqlite3_reset(last);
		if (write) {
			sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 2, jrn_now());
			sqlite3_bind_int64(ins, 3, now_pop);
			if (step_done(ins, e) < 0)
				goto rollback;
		}
	}
	if (write && jrn_db_commit(db, e) < 0)
		goto rollback;
	rc = alerts;
	goto out;
rollback:
	if (write)
		jrn_db_rollback(db);
out:
	sqlite3_finalize(last);
	sqlite3_finalize(pop);
	sqlite3_finalize(ins);
	return rc;
}

/* ---- finding the definitions ---------------------------------------------------- */

static char *default_segments(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	static const char *const rel[] = {"/../share/jrn/segments.yaml",
					  "/../../share/jrn/segments.yaml"};
	for (size_t i = 0; i < 2; i++) {
		jrn_buf b = {0};
		if (jrn_buf_adds(&b, exe) < 0 || jrn_buf_adds(&b, rel[i]) < 0) {
			jrn_buf_free(&b);
			return NULL;
		}
		if (access(b.p, R_OK) == 0)
			return b.p;
		jrn_buf_free(&b);
	}
	return NULL;
}

static jrn_rules *load_rules(const char *flag, jrn_err *e)
{
	const char *path = flag ? flag : getenv("JRN_SEGMENTS");
	if (path && !*path)
		path = NULL;
	jv file = jrn_config_get(opts.config, "segments.file");
	jv defs = jrn_config_get(opts.config, "segments.definitions");
	jrn_rules *r = NULL;
	jrn_buf full = {0};
	if (!path && jv_get_kind(defs) == JV_KIND_OBJECT) {
		r = jrn_rule_compile(jv_copy(defs), opts.config_path, e);
		goto done;
	}
	if (!path && jv_get_kind(file) == JV_KIND_STRING) {
		const char *p = jv_string_value(file);
		const char *slash = strrchr(opts.config_path, '/');
		if (p[0] != '/' && slash)
			jrn_buf_add(&full, opts.config_path, (size_t)(slash - opts.config_path + 1));
		jrn_buf_adds(&full, p);
		path = full.p;
	}
	char *dflt = NULL;
	if (!path) {
		path = dflt = default_segments();
		if (!path) {
			jrn_fail(e, "no segment definitions: give --segments FILE");
			goto done;
		}
	}
	r = jrn_rule_load(path, e);
	free(dflt);
done:
	jrn_buf_free(&full);
	jv_free(file);
	jv_free(defs);
	return r;
}

/* ---- main ------------------------------------------------------------------------- */

static const char *segments_flag, *only_name, *explain_name, *drift_flag;
static bool list, from_state;
static uint64_t nrec;

static int take_opt(void *ctx, int c, const char *arg)
{
	(void)ctx;
	switch (c) {
	case OPT_SEGMENTS: segments_flag = arg; return 0;
	case OPT_ONLY: only_name = arg; return 0;
	case OPT_EXPLAIN: explain_name = arg; return 0;
	case OPT_LIST: list = true; return 0;
	case OPT_COUNT: do_count = true; return 0;
	case OPT_SAVE: do_save = true; return 0;
	case OPT_CHANGES: do_changes = true; return 0;
	case OPT_SNAPSHOT: snapshot_name = arg; return 0;
	case OPT_DRIFT: drift_flag = arg; return 0;
	case OPT_ALL: all_customers = true; return 0;
	}
	return -2;
}

/* The command line: -1 to go on, else the status to exit with. */
static int parse(int argc, char **argv)
{
	int rc = jrn_opts_parse(&opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take_opt, NULL);
	if (rc >= 0)
		return rc;
	if (drift_flag) {
		char *end;
		errno = 0;
		drift_pct = strtod(drift_flag, &end);
		if (*end || end == drift_flag || errno || !(drift_pct >= 0))
			return jrn_say(JRN_EXIT_USAGE, "--drift: '%s' is not a percentage", drift_flag);
	}
	if (snapshot_name && !*snapshot_name)
		return jrn_say(JRN_EXIT_USAGE, "--snapshot: empty name");
	if (all_customers && optind < argc)
		return jrn_say(JRN_EXIT_USAGE, "--all takes no FILEs");
	return -1;
}

/* --explain NAME: the compiled form on stdout. The status. */
static int explain(void)
{
	int i = jrn_rule_find(rules, explain_name), status = JRN_EXIT_OK;
	if (i < 0)
		return jrn_say(JRN_EXIT_USAGE, "--explain: no segment '%s'", explain_name);
	jrn_buf b = {0};
	if (jrn_rule_explain(rules, i, &b) < 0) {
		status = jrn_say(JRN_EXIT_FAIL, "out of memory");
	} else {
		fputs(b.p, stdout);
		if (fflush(stdout) != 0 && errno != EPIPE)
			status = jrn_say(JRN_EXIT_FAIL, "writing output: %s", strerror(errno));
	}
	jrn_buf_free(&b);
	return status;
}

/* The configuration and the segments; --list and --explain end here. -1
 * to go on, else the status to exit with (said). */
static int set_up(void)
{
	jrn_err e;
	if (jrn_opts_resolve(&opts, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (!drift_flag) {
		jv d = jrn_config_get(opts.config, "segments.drift");
		if (jv_get_kind(d) == JV_KIND_NUMBER && jv_number_value(d) >= 0)
			drift_pct = jv_number_value(d);
		jv_free(d);
	}
	if (!(rules = load_rules(segments_flag, &e)))
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	nseg = jrn_rule_count(rules);
	if (list) {
		for (int i = 0; i < nseg; i++)
			puts(jrn_rule_name(rules, i));
		return JRN_EXIT_OK;
	}
	if (explain_name)
		return explain();
	if (only_name && (only = jrn_rule_find(rules, only_name)) < 0)
		return jrn_say(JRN_EXIT_USAGE, "--only: no segment '%s'", only_name);

	seg_json = calloc((size_t)nseg + 1, sizeof *seg_json);
	member = calloc((size_t)nseg + 1, sizeof *member);
	total = calloc((size_t)nseg + 1, sizeof *total);
	reachable = calloc((size_t)nseg + 1, sizeof *reachable);
	if (!seg_json || !member || !total || !reachable)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	for (int i = 0; i < nseg; i++) {
		const char *n = jrn_rule_name(rules, i);
		if (jrn_json_append_str(&seg_json[i], n, strlen(n)) < 0)
			return jrn_say(JRN_EXIT_FAIL, "out of memory");
	}
	return -1;
}

/* Fails when the snapshot NAME exists already. -1 to go on, else the
 * status (said). */
static int snapshot_free(void)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM segment_snapshots WHERE name = ? LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "%s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, snapshot_name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return jrn_say(JRN_EXIT_FAIL, "--snapshot: snapshot '%s' exists already", snapshot_name);
	if (rc != SQLITE_DONE)
		return jrn_say(JRN_EXIT_FAIL, "%s", sqlite3_errmsg(db));
	return -1;
}

/* The rejects file and, when the run needs it, the state file: the
 * stored memberships and the reach lookups. -1 to go on, else the status
 * (said). */
static int open_files(int nfiles)
{
	jrn_err e;
	if (jrn_rejects_open(&rej, "jrn-segment", opts.rejects_path, opts.verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	from_state = all_customers || (nfiles == 0 && isatty(STDIN_FILENO));
	bool need_db = from_state || do_count || do_save || do_changes || snapshot_name ||
		       jrn_rule_needs_events(rules, only);
	if (need_db && open_db(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	int rc;
	if (db && snapshot_name && (rc = snapshot_free()) >= 0)
		return rc;
	if (db && (do_save || do_changes) && load_stored(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (db && do_count && !(reach = jrn_reach_open(db, &e)))
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	return -1;
}

/* The profiles of FILEs or stdin. -1 to go on (*status JRN_EXIT_FAIL when
 * a file could not be read), else the status to stop with (said). */
static int read_input(char **files, int nfiles, int *status, bool *failed, jrn_err *fatal)
{
	jrn_err e;
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	if (!rd)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	jrn_line ln;
	int rc;
	while (!*failed && !out.err && (rc = jrn_reader_next(rd, &ln, &e)) != 0) {
		if (rc < 0) {
			*status = jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
			continue;
		}
		if (rc != 1)
			continue;
		nrec++;
		jrn_err why;
		size_t bad = jrn_utf8_invalid_at(ln.p, ln.len);
		const char *kind = "object";
		if (bad < ln.len)
			jrn_fail(&why, "invalid UTF-8 at byte %zu", bad + 1);
		if (bad < ln.len ||
		    jrn_json_index_build(&ix, ln.p, ln.len, JRN_RULE_INDEX_DEPTH, &why) < 0 ||
		    (strcmp(kind = jrn_json_kind_at(ln.p, ln.len), "object") != 0 &&
		     jrn_fail(&why, "not a JSON object (got %s)", kind))) {
			if (jrn_reject(&rej, ln.file, ln.lineno, ln.p, ln.len, why.msg, fatal) < 0)
				*failed = true;
			continue;
		}
		jrn_rule_rec rr = {ln.p, ln.len, &ix, jv_invalid(), &parser};
		/* an escaped key could hide a member from the index */
		for (size_t k = 0; k < ix.n; k++)
			if (ix.m[k].kescaped)
				rr.ix = NULL;
		if (process(ln.file, ln.lineno, &rr, fatal) < 0)
			*failed = true;
		jv_free(rr.v);
	}
	jrn_reader_free(rd);
	if (nrec == 0 && nfiles == 0 && *status == JRN_EXIT_OK)
		from_state = true; /* empty stdin: every customer in the state file */
	return -1;
}

/* Every customer of the state file. -1 to go on, else the status to stop
 * with (said). */
static int read_state(bool *failed, jrn_err *fatal)
{
	jrn_err e;
	if (open_db(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	/* one scan of the events for every event leaf, not a lookup per
	 * customer */
	if (jrn_rule_needs_events(rules, only) && jrn_rule_preload(rules, db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT customer_id FROM events ORDER BY customer_id", -1,
			       &st, NULL) != SQLITE_OK)
		return jrn_say(JRN_EXIT_FAIL, "%s", sqlite3_errmsg(db));
	jrn_buf text = {0};
	uint64_t n = 0;
	int rc;
	while (!*failed && !out.err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *cid = (const char *)sqlite3_column_text(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		jrn_buf_reset(&text);
		jrn_buf_adds(&text, "{\"customerId\":");
		jrn_json_append_str(&text, cid ? cid : "", len);
		if (jrn_buf_addc(&text, '}') < 0) {
			jrn_fail(fatal, "out of memory");
			*failed = true;
			break;
		}
		if (jrn_json_index_build(&ix, text.p, text.len, JRN_RULE_INDEX_DEPTH, fatal) < 0) {
			*failed = true;
			break;
		}
		jrn_rule_rec rr = {text.p, text.len, &ix, jv_invalid(), &parser};
		if (process("state", ++n, &rr, fatal) < 0)
			*failed = true;
		jv_free(rr.v);
	}
	if (!*failed && !out.err && rc != SQLITE_DONE) {
		jrn_fail(fatal, "%s", sqlite3_errmsg(db));
		*failed = true;
	}
	sqlite3_finalize(st);
	jrn_buf_free(&text);
	return -1;
}

/* After the records: the counts, the memberships and snapshot, the drift
 * check. Returns the status; *drift the number of drift alerts. */
static int finish_state(int status, bool failed, int *drift)
{
	jrn_err e;
	bool pipe_closed = out.err == EPIPE;
	if (failed || pipe_closed)
		return status;
	for (int i = 0; do_count && i < nseg; i++) {
		if (only >= 0 && i != only)
			continue;
		jrn_buf_reset(&line_buf);
		jrn_buf_adds(&line_buf, "{\"segment\":");
		jrn_buf_add(&line_buf, seg_json[i].p, seg_json[i].len);
		jrn_buf_addf(&line_buf, ",\"total\":%llu,\"reachable\":%llu}",
			     (unsigned long long)total[i], (unsigned long long)reachable[i]);
		jrn_out_line(&out, line_buf.p, line_buf.len);
	}
	if (db && !opts.dry_run && (do_save || snapshot_name) && write_changes(&e) < 0)
		status = jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, e.msg);
	if (status == JRN_EXIT_OK && db && (do_save || do_count)) {
		*drift = check_drift(&e);
		if (*drift < 0)
			status = jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, e.msg);
	}
	return status;
}

/* The run over the records, and its end: output closed, a failure said,
 * drift alerts as JRN_EXIT_REJECTS. Returns the status. */
static int run(char **files, int nfiles)
{
	int status = JRN_EXIT_OK, stop = -1, drift = 0;
	bool failed = false;
	jrn_err fatal = {{0}};

	jrn_out_init(&out, STDOUT_FILENO);
	if (!from_state)
		stop = read_input(files, nfiles, &status, &failed, &fatal);
	if (stop < 0 && from_state && !failed)
		stop = read_state(&failed, &fatal);
	status = stop < 0 ? finish_state(status, failed, &drift) : stop;

	bool pipe_closed = out.err == EPIPE;
	status = jrn_finish(&out, NULL, status);
	if (failed)
		status = jrn_say(JRN_EXIT_FAIL, "%s", fatal.msg);
	if (status == JRN_EXIT_OK && drift > 0)
		status = JRN_EXIT_REJECTS;
	if (opts.verbosity > 0 && !pipe_closed)
		jrn_say(0, "%llu records, %llu rejected", (unsigned long long)nrec,
			(unsigned long long)rej.count);
	return status;
}

/* Frees whatever was set; closes the state file and the rejects file
 * (JRN_EXIT_REJECTS when records were rejected). Returns the status. */
static int teardown(int status)
{
	jrn_err e;
	if (parser)
		jv_parser_free(parser);
	jrn_json_index_free(&ix);
	jrn_reach_close(reach);
	if (rules)
		jrn_rule_attach(rules, NULL, &e);
	if (db && sqlite3_close(db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(db));
	status = jrn_finish(NULL, &rej, status);
	for (int i = 0; seg_json && i < nseg; i++)
		jrn_buf_free(&seg_json[i]);
	free(seg_json);
	free(member);
	free(total);
	free(reachable);
	changes_free(&entered);
	changes_free(&exited);
	changes_free(&snap);
	jrn_idmap_free(stored);
	jrn_buf_free(&line_buf);
	jrn_buf_free(&why_buf);
	jrn_rule_free(rules);
	jv_free(key_customer);
	jv_free(key_segments);
	jv_free(key_email);
	jv_free(key_phone);
	jv_free(key_consent);
	jrn_opts_free(&opts);
	return status;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	key_customer = jv_string("customerId");
	key_segments = jv_string("segments");
	key_email = jv_string("email");
	key_phone = jv_string("phone");
	key_consent = jv_string("consent");
	jrn_opts_init(&opts, "jrn-segment");
	int status = parse(argc, argv);
	if (status < 0)
		status = set_up();
	if (status < 0)
		status = open_files(argc - optind);
	if (status < 0)
		status = run(argv + optind, argc - optind);
	return teardown(status);
}
