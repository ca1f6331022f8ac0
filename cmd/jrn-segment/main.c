/*
 * jrn-segment: evaluate segment rules over customer profiles; add
 * `segments: [...]` to each, or keep the members of one; store memberships
 * and the segment.entered / segment.exited events of a run, replay a run's
 * events, freeze snapshots, count reachable members, and alert on drift.
 *
 * Rules are compiled once (lib/rules.c) and evaluated on each record's jv
 * value; the output line is the input line with the segments spliced in,
 * so records pass through byte for byte otherwise. Records that are events
 * (a string member "type") pass through unchanged where they were read.
 *
 * A run that stores (--save, --changes, --snapshot) keeps each customer's
 * last verdict per segment and decides at the end of the input: segments
 * whose rule reads a profile member that no input record carries are left
 * out of the run (a partial profile must not exit everyone), the changes
 * against the stored memberships are taken, and memberships, change events
 * (in the events table), snapshot and population rows are written in one
 * transaction; the change events are printed after it commits.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jrn-segment.h"
#include "profile-read.h"
#include "reach.h"
#include "rules.h"

static const char usage[] =
	"usage: jrn-segment [OPTIONS] [FILE...]\n"
	"Evaluate segment rules over customer profiles (NDJSON) from FILEs or standard\n"
	"input (even when empty or a terminal) and write each with \"segments\": [...]\n"
	"added. Event records (with a string \"type\") pass through unchanged.\n"
	"\n"
	"  --all                 every customer of the state file, profiles completed\n"
	"                        from the stored scores (takes no FILEs, reads no stdin)\n"
	"  --segments FILE       segment definitions, YAML or JSON (JRN_SEGMENTS;\n"
	"                        config segments.file; default share/jrn/segments.yaml)\n"
	"  --only NAME           evaluate one segment; write only its members\n"
	"  --explain NAME        print the compiled form of segment NAME and exit\n"
	"  --list                print the segment names and exit\n"
	"  --count               write {segment,total,reachable} per segment, not profiles\n"
	"  --save                store memberships and this run's change events\n"
	"  --changes             write this run's segment.entered / segment.exited events\n"
	"                        (after the save commits), not profiles\n"
	"  --run ID              with --changes: replay the change events of the saved\n"
	"                        run ID ('last': the newest) from the state file\n"
	"  --snapshot NAME       freeze the members into the static snapshot NAME\n"
	"  --drift PCT           alert (exit 3) when a saved population moves more than\n"
	"                        PCT percent since the last saved run (default 20)\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"                        (with --count: again, or @FILE, for several files)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines to FILE as JSON\n"
	"  --dry-run             do all the work, write nothing to the state file\n"
	JRN_CHECK_CONFIG_USAGE
	"  -q, --quiet           nothing on stderr on success, no per-line diagnostics\n"
	"  -v, --verbose         also name the state file, config, inputs, and the\n"
	"                        segments left out of the run\n"
	"      --trace           why each record is in or out, clause by clause\n"
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
	OPT_RUN,
	OPT_TRACE,
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
	{"run", required_argument, NULL, OPT_RUN},
	{"trace", no_argument, NULL, OPT_TRACE},
	JRN_CHECK_CONFIG_LONG,
	{NULL, 0, NULL, 0},
};

/* ---- settings and state ------------------------------------------------------ */

static jrn_opts opts;
static jrn_rules *rules;
static int nseg, only = -1;
static bool do_count, do_save, do_changes, all_customers, trace;
static const char *snapshot_name, *run_flag;
static double drift_pct = 20;
static char run_id[64];          /* this run's id, in its change events */
static const char *segments_src; /* where the definitions came from, for -v */

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
static jv key_customer, key_segments, key_email, key_phone, key_consent, key_type;
static uint64_t nrec, nprofiles, nevents, nentered, nexited;

/* Stored memberships, for --changes and --save: "SEG\x1fCUSTOMER" keys
 * (NULL: none loaded). */
static jrn_idmap *stored;

/* A run that stores keeps each customer's last verdict per segment:
 * custs maps the customers to rows of nseg verdicts (first seen first). */
enum { V_NONE, V_OUT, V_IN };
static jrn_idmap *custs;
static unsigned char *verdict;
static size_t verdict_cap;   /* rows */
static jrn_idmap *carried;   /* top-level members some input profile has */
static bool reads_consent;  /* completed from the state file (consent.c) */
static jrn_err no_state;    /* why it cannot be, when there is no state file */
static char **skipped;       /* per segment: the member no input carries, or NULL */

/* The run's changes (entered or exited, in customer then segment order)
 * and snapshot rows: segment index and customer. */
typedef struct {
	int seg;
	bool in;
	char *cust;
} change;
typedef struct {
	change *v;
	size_t n, cap;
} changes;
static changes moves, snap;

/* ---- memberships ------------------------------------------------------------- */

static int member_key(jrn_buf *b, int seg, const char *cust, size_t n)
{
	jrn_buf_reset(b);
	return jrn_buf_adds(b, jrn_rule_name(rules, seg)) < 0 || jrn_buf_addc(b, '\x1f') < 0 ||
			       jrn_buf_add(b, cust, n) < 0 ? -1 : 0;
}

static int changes_add(changes *c, int seg, bool in, const char *cust, size_t n)
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
	c->v[c->n++] = (change){seg, in, s};
	return 0;
}

static void changes_free(changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].cust);
	free(c->v);
}

/* Whether segment i is evaluated in this run at all (--only). */
static bool wanted(int i)
{
	return only < 0 || i == only;
}

/* Keeps the verdicts of the record in hand (member[]) as customer
 * cid[0..n)'s, replacing an earlier record's. 0 or -1 with e. */
static int verdict_put(const char *cid, size_t n, jrn_err *e)
{
	if (!custs && !(custs = jrn_idmap_new()))
		return jrn_fail(e, "out of memory");
	int64_t k = jrn_idmap_put(custs, cid, n, NULL);
	size_t w = nseg ? (size_t)nseg : 1;
	if (k < 0)
		return jrn_fail(e, "out of memory");
	if ((size_t)k >= verdict_cap) {
		size_t cap = verdict_cap ? verdict_cap * 2 : 1024;
		unsigned char *p = realloc(verdict, cap * w);
		if (!p)
			return jrn_fail(e, "out of memory");
		memset(p + verdict_cap * w, V_NONE, (cap - verdict_cap) * w);
		verdict = p;
		verdict_cap = cap;
	}
	for (int i = 0; i < nseg; i++)
		if (wanted(i))
			verdict[(size_t)k * w + (size_t)i] = member[i] ? V_IN : V_OUT;
	return 0;
}

/* Notes the top-level members of a profile (rr) as carried by the input.
 * 0 or -1 with e. */
static int carry(jrn_rule_rec *rr, jrn_err *e)
{
	if (!carried && !(carried = jrn_idmap_new()))
		return jrn_fail(e, "out of memory");
	if (rr->ix) {
		for (size_t k = 0; k < rr->ix->n; k++) {
			const jrn_json_member *m = &rr->ix->m[k];
			if (m->parent == -1 && jrn_idmap_put(carried, m->key, m->klen, NULL) < 0)
				return jrn_fail(e, "out of memory");
		}
		return 0;
	}
	jv v = jrn_rule_rec_value(rr, e);
	if (!jv_is_valid(v))
		return -1;
	int rc = 0;
	jv_object_foreach(jv_copy(v), k, val) {
		if (rc == 0 && jrn_idmap_put(carried, jv_string_value(k),
					     (size_t)jv_string_length_bytes(jv_copy(k)), NULL) < 0)
			rc = jrn_fail(e, "out of memory");
		jv_free(k);
		jv_free(val);
	}
	return rc;
}

/* At the end of the input: the segments whose rule reads a profile member
 * that no input profile carries are left out of the run (not over --all,
 * whose profiles are completed from the state file). 0 or -1 with e. */
static int decide_skips(jrn_err *e)
{
	if (all_customers)
		return 0;
	jrn_buf f = {0};
	for (int i = 0; i < nseg; i++) {
		if (!wanted(i))
			continue;
		jrn_buf_reset(&f);
		int n = jrn_rule_fields(rules, i, &f);
		if (n < 0) {
			jrn_buf_free(&f);
			return jrn_fail(e, "out of memory");
		}
		const char *p = f.p;
		for (int j = 0; j < n && !skipped[i]; j++) {
			size_t len = strlen(p);
			if ((!carried || jrn_idmap_get(carried, p, len) < 0) && !(skipped[i] = strdup(p))) {
				jrn_buf_free(&f);
				return jrn_fail(e, "out of memory");
			}
			p += len + 1;
		}
	}
	jrn_buf_free(&f);
	return 0;
}

/* The changes of the run (verdicts against the stored memberships) and the
 * snapshot rows, into moves and snap. 0 or -1 with e. */
static int collect(jrn_err *e)
{
	jrn_buf k = {0};
	size_t n = custs ? jrn_idmap_count(custs) : 0, w = nseg ? (size_t)nseg : 1;
	for (size_t c = 0; c < n; c++) {
		size_t clen;
		const char *cid = jrn_idmap_key(custs, c, &clen);
		for (int i = 0; i < nseg; i++) {
			int v = verdict[c * w + (size_t)i];
			if (v == V_NONE || skipped[i])
				continue;
			if (member_key(&k, i, cid, clen) < 0)
				goto oom;
			bool was = stored && jrn_idmap_get(stored, k.p, k.len) >= 0;
			if ((do_save || do_changes) && (v == V_IN) != was &&
			    changes_add(&moves, i, v == V_IN, cid, clen) < 0)
				goto oom;
			if (v == V_IN && snapshot_name && changes_add(&snap, i, true, cid, clen) < 0)
				goto oom;
		}
	}
	jrn_buf_free(&k);
	for (size_t i = 0; i < moves.n; i++)
		*(moves.v[i].in ? &nentered : &nexited) += 1;
	return 0;
oom:
	jrn_buf_free(&k);
	return jrn_fail(e, "out of memory");
}

/* This run's id: its time (UTC, to the second) and 32 random bits,
 * "20260101T000000Z-1a2b3c4d". */
static void make_run_id(void)
{
	time_t t = (time_t)(jrn_now() / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	unsigned char r[4] = {0};
	if (getentropy(r, sizeof r) < 0) {
		uint64_t h = (uint64_t)jrn_mono_ms() ^ ((uint64_t)getpid() << 20);
		memcpy(r, &h, sizeof r);
	}
	size_t n = strftime(run_id, sizeof run_id, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(run_id + n, sizeof run_id - n, "-%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

/* ---- the state file ------------------------------------------------------------ */

/* The tables --count reads, copied from each of several state files. */
static const char *const count_tables[] = {
	"events", "profiles", "identities", "consent", "suppressions", "scores",
	"rfm_snapshots", "segment_members", NULL,
};

/* Several --db (or --db @FILE): read as one, read-only (lib/multidb.c);
 * for --count only (parse refuses several --db otherwise; a single
 * --db @FILE is refused here). 0 or -1 with e. */
static int open_many(jrn_err *e)
{
	char **paths;
	size_t n;
	if (!do_count || do_save || do_changes || snapshot_name || run_flag)
		return jrn_fail(e, "--db %s: several state files are for --count only", opts.db_path);
	if (jrn_db_paths(&opts, &paths, &n, e) < 0)
		return -1;
	int rc = jrn_db_open_many(paths, n, count_tables, opts.busy_ms, &db, e);
	jrn_db_paths_free(paths, n);
	return rc;
}

static bool several_db(void)
{
	return opts.ndb > 1 || (opts.db_path && opts.db_path[0] == '@');
}

/* Opens the state file once. A writer (--save; --snapshot of streamed
 * profiles) makes it when there is none (jrn(7), STATE FILE; a dry run an
 * empty one in memory); any other run (event leaves, --changes, --run,
 * --count, --all without --save) refuses a missing one with jrn_db_exists's
 * message and makes nothing. 0 or -1 with e. */
static int open_db(jrn_err *e)
{
	if (db)
		return 0;
	bool makes = !do_count && (do_save || (snapshot_name && !all_customers));
	if (!makes && !several_db() && jrn_db_exists(opts.db_path, e) < 0)
		return -1;
	if ((several_db() ? open_many(e)
			  : jrn_db_open_dry(opts.db_path, opts.dry_run, opts.busy_ms, &db, e)) < 0)
		return -1;
	/* Event leaves read each customer's events through events_customer,
	 * scattered over the file: mapped pages spare a copy per read (a
	 * third of the time on a state file larger than the page cache). */
	if (jrn_db_exec(db, "PRAGMA mmap_size = 17179869184", e) < 0)
		return -1;
	if (rules && jrn_rule_attach(rules, db, e) < 0) /* none for --run */
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

/* The segments the record in hand is in, as a JSON array, onto b. */
static void segments_array(jrn_buf *b)
{
	jrn_buf_addc(b, '[');
	bool first = true;
	for (int i = 0; i < nseg; i++) {
		if (!member[i])
			continue;
		if (!first)
			jrn_buf_addc(b, ',');
		first = false;
		jrn_buf_add(b, seg_json[i].p, seg_json[i].len);
	}
	jrn_buf_addc(b, ']');
}

/* The record's line with "segments":[...] set. */
static int emit_profile(jrn_rule_rec *rr, jrn_err *e)
{
	const char *p = rr->p;
	size_t len = rr->len;
	jrn_buf_reset(&line_buf);
	bool has;
	const jrn_json_member *sm = NULL;
	if (rr->ix) {
		sm = jrn_json_find(rr->ix, -1, "segments");
		has = sm != NULL;
	} else {
		jv v = jrn_rule_rec_value(rr, e);
		if (jv_get_kind(v) != JV_KIND_OBJECT)
			return -1;
		has = jv_object_has(jv_copy(v), jv_copy(key_segments));
	}
	if (sm && sm->kind == '[') {
		/* an array there (--all: the stored memberships): replaced in
		 * the text, the rest byte for byte */
		size_t at = (size_t)(sm->val - p);
		jrn_buf_add(&line_buf, p, at);
		segments_array(&line_buf);
		if (jrn_buf_add(&line_buf, sm->val + sm->vlen, len - at - sm->vlen) < 0)
			return jrn_fail(e, "out of memory");
	} else if (has) {
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
		jrn_buf_adds(&line_buf, empty ? "\"segments\":" : ",\"segments\":");
		segments_array(&line_buf);
		if (jrn_buf_adds(&line_buf, "}") < 0)
			return jrn_fail(e, "out of memory");
	}
	jrn_out_line(&out, line_buf.p, line_buf.len);
	return 0;
}

/* The change event of c into b (reset first): {"id","type","customerId",
 * "timestamp","properties":{"segment","run"}}, its id "seg_" and 32 hex
 * digits of the SHA-256 of type, segment, customer and run id, so the same
 * change of the same run always has the same id. 0 or -1 (memory). */
static int change_line(jrn_buf *b, const change *c)
{
	const char *type = c->in ? "segment.entered" : "segment.exited";
	char t[32], hex[65];
	size_t tn = jrn_time_format(jrn_now(), t);
	jrn_buf_reset(b);
	jrn_buf_addf(b, "%s\x1f%s\x1f%s\x1f", type, jrn_rule_name(rules, c->seg), run_id);
	jrn_buf_adds(b, c->cust);
	if (!b->p || jrn_sha256_hex(b->p, b->len, hex) < 0)
		return -1;
	jrn_buf_reset(b);
	jrn_buf_addf(b, "{\"id\":\"seg_%.32s\",\"type\":\"%s\",\"customerId\":", hex, type);
	jrn_json_append_str(b, c->cust, strlen(c->cust));
	jrn_buf_adds(b, ",\"timestamp\":\"");
	jrn_buf_add(b, t, tn);
	jrn_buf_adds(b, "\",\"properties\":{\"segment\":");
	jrn_buf_add(b, seg_json[c->seg].p, seg_json[c->seg].len);
	jrn_buf_addf(b, ",\"run\":\"%s\"", run_id);
	return jrn_buf_adds(b, "}}");
}

/* Writes the run's change events to stdout. 0 or -1 (memory). */
static int print_changes(void)
{
	for (size_t i = 0; i < moves.n && !out.err; i++) {
		if (change_line(&line_buf, &moves.v[i]) < 0)
			return -1;
		jrn_out_line(&out, line_buf.p, line_buf.len);
	}
	return 0;
}

/* ---- one record ------------------------------------------------------------------ */

/* Whether the record is an event (a string member "type"): 1, 0, or -1
 * when its value cannot be read (e says why). */
static int is_event(jrn_rule_rec *rr, jrn_err *e)
{
	if (rr->ix) {
		const jrn_json_member *m = jrn_json_find(rr->ix, -1, "type");
		return m && m->kind == '"';
	}
	jv v = jrn_rule_rec_value(rr, e);
	if (!jv_is_valid(v))
		return -1;
	jv t = jv_object_get(jv_copy(v), jv_copy(key_type));
	int is = jv_get_kind(t) == JV_KIND_STRING;
	jv_free(t);
	return is;
}

/* Evaluates the wanted segments on rr into member[]; with --trace says why
 * on stderr. 0, 1 (rejected: said), or -1 with fatal set. */
static int evaluate(const char *file, uint64_t lineno, jrn_rule_rec *rr, const char *cid,
		    jrn_err *fatal)
{
	jrn_err why;
	for (int i = 0; i < nseg; i++) {
		member[i] = false;
		if (!wanted(i))
			continue;
		jrn_buf *w = NULL;
		if (trace) {
			jrn_buf_reset(&why_buf);
			w = &why_buf;
		}
		int r = jrn_rule_eval_rec(rules, i, rr, w, &why);
		if (r == JRN_RULE_FAIL) /* the record in hand named: a jq time bound */
			return jrn_fail(fatal, "%s:%llu: %s", file, (unsigned long long)lineno, why.msg);
		if (r == JRN_RULE_REJECT && cid && !strcmp(file, "state")) {
			/* --all: "state:N" alone would not say who */
			jrn_err who;
			jrn_fail(&who, "customer %.200s: %s", cid, why.msg);
			why = who;
		}
		if (r == JRN_RULE_REJECT)
			return jrn_reject(&rej, file, lineno, rr->p, rr->len, why.msg, fatal) < 0 ? -1 : 1;
		member[i] = r == JRN_RULE_IN;
		if (w)
			/* the verdict, then the clause by clause lines under it */
			fprintf(stderr, "%s: %s:%llu%s%s%s: %s: %s\n%s", jrn_prog(), file,
				(unsigned long long)lineno, cid ? " (" : "", cid ? cid : "",
				cid ? ")" : "", jrn_rule_name(rules, i), member[i] ? "in" : "out",
				why_buf.p ? why_buf.p : "");
	}
	return 0;
}

/* Counts the record in hand for --count. 0 or -1 with fatal. */
static int count(jrn_rule_rec *rr, jrn_err *fatal)
{
	bool any = false;
	for (int i = 0; i < nseg; i++)
		any |= member[i];
	if (!any)
		return 0;
	jv v = jrn_rule_rec_value(rr, fatal);
	int reach = jv_is_valid(v) ? is_reachable(v, fatal) : -1;
	if (reach < 0)
		return -1;
	for (int i = 0; i < nseg; i++) {
		if (member[i]) {
			total[i]++;
			reachable[i] += (uint64_t)reach;
		}
	}
	return 0;
}

/* Takes one record (text rr->p[0..len)): an event passes through; a
 * profile is evaluated, kept (runs that store) and written. 0, or -1 with
 * fatal set. */
static int process(const char *file, uint64_t lineno, jrn_rule_rec *rr, jrn_err *fatal)
{
	jrn_err why;
	const char *p = rr->p;
	size_t len = rr->len;
	bool storing = do_save || do_changes || snapshot_name;
	int ev = is_event(rr, &why);
	if (ev < 0)
		return jrn_reject(&rej, file, lineno, p, len, why.msg, fatal);
	if (ev) {
		nevents++;
		jrn_out_line(&out, p, len); /* a write error ends the input loop */
		return 0;
	}
	const char *got;
	jv cust;
	if (seg_customer_of(rr, &cust, &got, &why) < 0)
		return jrn_reject(&rej, file, lineno, p, len, why.msg, fatal);
	bool has_cust = jv_get_kind(cust) == JV_KIND_STRING;
	const char *cid = has_cust ? jv_string_value(cust) : NULL;
	size_t clen = has_cust ? (size_t)jv_string_length_bytes(jv_copy(cust)) : 0;
	int rc;
	if (has_cust && jrn_id_check(cid, clen, "customerId", &why) < 0) {
		jv_free(cust);
		return jrn_reject(&rej, file, lineno, p, len, why.msg, fatal);
	}
	/* evaluated (counted, carried) as completed, written as read */
	jrn_rule_rec full = {.v = jv_invalid()}, *er = rr;
	if (got) { /* a string everywhere (every tool keys its customer by it) */
		jrn_fail(&why, "customerId: expected a string, got %s", got);
		rc = jrn_reject(&rej, file, lineno, p, len, why.msg, fatal) < 0 ? -1 : 1;
	} else if (!has_cust && storing) {
		rc = jrn_reject(&rej, file, lineno, p, len, "customerId: missing (needed to store "
				"memberships)", fatal) < 0 ? -1 : 1;
	} else if (reads_consent && (rc = seg_consent_complete(rr, cid, clen, no_state.msg[0] ?
				   no_state.msg : NULL, &full, &why)) != 0) {
		rc = rc < 0 ? jrn_fail(fatal, "%s: %s", opts.db_path, why.msg)
			    : jrn_reject(&rej, file, lineno, p, len, why.msg, fatal) < 0 ? -1 : 1;
	} else {
		rc = evaluate(file, lineno, er = full.p ? &full : rr, cid, fatal);
	}
	if (rc == 0) {
		nprofiles++;
		if ((do_count && count(er, fatal) < 0) ||
		    (storing && verdict_put(cid, clen, fatal) < 0) ||
		    (storing && !all_customers && carry(er, fatal) < 0))
			rc = -1;
	}
	jv_free(full.v);
	jv_free(cust);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
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

/* Drift alerts, said after the commit. */
static jrn_buf alerts;
static int nalerts;

/* Segment i's population after this run against the last saved run's
 * (last: the prepared query), as a drift alert in `alerts` when it moved
 * more than drift_pct. 0 or -1 with e. */
static int drift_of(sqlite3_stmt *last, int i, int64_t now_pop, jrn_err *e)
{
	const char *name = jrn_rule_name(rules, i);
	sqlite3_bind_text(last, 1, name, -1, SQLITE_STATIC);
	int s = sqlite3_step(last);
	if (s != SQLITE_ROW) {
		sqlite3_reset(last);
		return s == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(db));
	}
	int64_t prev = sqlite3_column_int64(last, 0);
	char t[32];
	jrn_time_format(sqlite3_column_int64(last, 1), t);
	sqlite3_reset(last);
	double pct = prev ? 100.0 * (double)(now_pop - prev) / (double)prev : 0;
	if (prev == 0 && now_pop > 0) {
		nalerts++;
		jrn_buf_addf(&alerts, "drift: segment '%s' went from 0 to %lld (it was empty) since %s\n",
			     name, (long long)now_pop, t);
	} else if (fabs(pct) > drift_pct) {
		nalerts++;
		jrn_buf_addf(&alerts, "drift: segment '%s' went from %lld to %lld (%+.1f%%) since %s, "
			     "more than %g%%\n", name, (long long)prev, (long long)now_pop, pct, t,
			     drift_pct);
	}
	return 0;
}

/* The run's writes: memberships and change events (--save), snapshot rows
 * (--snapshot), and per saved segment its population, checked for drift
 * against the last saved run: one transaction (with --dry-run none, and
 * nothing written). 0 or -1 with e (rolled back). */
static int save_run(jrn_err *e)
{
	sqlite3_stmt *ins = NULL, *del = NULL, *evt = NULL, *snp = NULL, *last = NULL, *pop = NULL,
		     *runs = NULL;
	int64_t now = jrn_now();
	bool write = !opts.dry_run;
	int rc = -1;
	if (write && jrn_db_begin(db, e) < 0)
		return -1;
	if (jrn_db_prepare(db, "INSERT OR IGNORE INTO segment_members (segment, customer_id, since)"
			   " VALUES (?, ?, ?)", &ins, e) < 0 ||
	    jrn_db_prepare(db, "DELETE FROM segment_members WHERE segment = ? AND customer_id = ?",
			   &del, e) < 0 ||
	    /* the insert jrn-ingest stores events with */
	    jrn_db_prepare(db, "INSERT OR IGNORE INTO events (id, type, customer_id, ts,"
			   " received_at, amount, body) VALUES (?, ?, ?, ?, ?, ?, ?)", &evt, e) < 0 ||
	    jrn_db_prepare(db, "INSERT OR IGNORE INTO segment_snapshots (name, segment, customer_id,"
			   " taken) VALUES (?, ?, ?, ?)", &snp, e) < 0 ||
	    jrn_db_prepare(db, "SELECT population, ran_at FROM segment_runs WHERE segment = ?"
			   " ORDER BY ran_at DESC LIMIT 1", &last, e) < 0 ||
	    jrn_db_prepare(db, "SELECT count(*) FROM segment_members WHERE segment = ?", &pop, e) < 0 ||
	    jrn_db_prepare(db, "INSERT OR REPLACE INTO segment_runs (segment, ran_at, population)"
			   " VALUES (?, ?, ?)", &runs, e) < 0)
		goto out;
	/* populations: what is stored, moved by this run's changes */
	for (int i = 0; do_save && i < nseg; i++) {
		if (!wanted(i) || skipped[i])
			continue;
		const char *name = jrn_rule_name(rules, i);
		sqlite3_bind_text(pop, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(pop) != SQLITE_ROW) {
			jrn_fail(e, "%s", sqlite3_errmsg(db));
			sqlite3_reset(pop);
			goto out;
		}
		int64_t n = sqlite3_column_int64(pop, 0);
		sqlite3_reset(pop);
		for (size_t k = 0; k < moves.n; k++)
			if (moves.v[k].seg == i)
				n += moves.v[k].in ? 1 : -1;
		if (drift_of(last, i, n, e) < 0)
			goto out;
		if (!write)
			continue;
		sqlite3_bind_text(runs, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(runs, 2, now);
		sqlite3_bind_int64(runs, 3, n);
		if (step_done(runs, e) < 0)
			goto out;
	}
	for (size_t i = 0; write && do_save && i < moves.n; i++) {
		const change *c = &moves.v[i];
		sqlite3_stmt *st = c->in ? ins : del;
		sqlite3_bind_text(st, 1, jrn_rule_name(rules, c->seg), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, c->cust, -1, SQLITE_STATIC);
		if (c->in)
			sqlite3_bind_int64(st, 3, now);
		if (step_done(st, e) < 0)
			goto out;
		if (change_line(&line_buf, c) < 0) {
			jrn_fail(e, "out of memory");
			goto out;
		}
		sqlite3_bind_text(evt, 1, line_buf.p + 7, 36, SQLITE_STATIC); /* "seg_..." */
		sqlite3_bind_text(evt, 2, c->in ? "segment.entered" : "segment.exited", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(evt, 3, c->cust, -1, SQLITE_STATIC);
		sqlite3_bind_int64(evt, 4, now);
		sqlite3_bind_int64(evt, 5, now);
		sqlite3_bind_null(evt, 6);
		sqlite3_bind_text(evt, 7, line_buf.p, (int)line_buf.len, SQLITE_STATIC);
		if (step_done(evt, e) < 0)
			goto out;
	}
	for (size_t i = 0; write && snapshot_name && i < snap.n; i++) {
		sqlite3_bind_text(snp, 1, snapshot_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(snp, 2, jrn_rule_name(rules, snap.v[i].seg), -1, SQLITE_STATIC);
		sqlite3_bind_text(snp, 3, snap.v[i].cust, -1, SQLITE_STATIC);
		sqlite3_bind_int64(snp, 4, now);
		if (step_done(snp, e) < 0)
			goto out;
	}
	if (write && jrn_db_commit(db, e) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && write)
		jrn_db_rollback(db);
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	sqlite3_finalize(evt);
	sqlite3_finalize(snp);
	sqlite3_finalize(last);
	sqlite3_finalize(pop);
	sqlite3_finalize(runs);
	return rc;
}

/* --changes --run ID: the change events of a saved run, from the events
 * table, in the order they were stored. The status (said on failure). */
static int replay(void)
{
	jrn_err e;
	sqlite3_stmt *st = NULL;
	if (open_db(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	const char *id = run_flag;
	char *newest = NULL;
	if (strcmp(id, "last") == 0) {
		if (jrn_db_prepare(db, "SELECT json_extract(body, '$.properties.run') FROM events"
				   " WHERE type IN ('segment.entered', 'segment.exited')"
				   " ORDER BY seq DESC LIMIT 1", &st, &e) < 0)
			return jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, e.msg);
		int s = sqlite3_step(st);
		const char *t = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		newest = t ? strdup(t) : NULL;
		sqlite3_finalize(st);
		if (s != SQLITE_ROW && s != SQLITE_DONE)
			return jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, sqlite3_errmsg(db));
		if (!newest)
			return jrn_say(JRN_EXIT_FAIL, "--run last: no saved run has change events");
		id = newest;
	}
	int status = JRN_EXIT_OK;
	uint64_t n = 0;
	if (jrn_db_prepare(db, "SELECT body FROM events WHERE type IN ('segment.entered',"
			   " 'segment.exited') AND json_extract(body, '$.properties.run') = ?"
			   " ORDER BY seq", &st, &e) < 0) {
		free(newest);
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, e.msg);
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s;
	while (!out.err && (s = sqlite3_step(st)) == SQLITE_ROW) {
		jrn_out_line(&out, (const char *)sqlite3_column_text(st, 0),
			     (size_t)sqlite3_column_bytes(st, 0));
		n++;
	}
	if (!out.err && s != SQLITE_DONE)
		status = jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	status = jrn_finish(&out, NULL, status);
	if (status == JRN_EXIT_OK && opts.verbosity >= 0)
		jrn_say(0, "run %s: %llu change events replayed", id, (unsigned long long)n);
	free(newest);
	return status;
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

static char *segments_path; /* owned: segments_src when it is a file */

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
		segments_src = opts.config_path;
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
	segments_src = segments_path = strdup(path);
	free(dflt);
done:
	jrn_buf_free(&full);
	jv_free(file);
	jv_free(defs);
	return r;
}

/* ---- main ------------------------------------------------------------------------- */

static const char *segments_flag, *only_name, *explain_name, *drift_flag;
static bool list;

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
	case OPT_RUN: run_flag = arg; return 0;
	case OPT_TRACE: trace = true; return 0;
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
	for (int i = optind; trace && i < argc; i++) /* `--trace c42` reads c42 as a FILE */
		if (strcmp(argv[i], "-") && access(argv[i], F_OK) < 0 && errno == ENOENT)
			return jrn_say(JRN_EXIT_USAGE, "%s: no such file (--trace takes no ID: it "
				       "traces every record read; for one, grep '\"%s\"' FILE | "
				       "jrn-segment --trace)", argv[i], argv[i]);
	if (run_flag && (!do_changes || do_save || do_count || snapshot_name || all_customers ||
			 only_name || optind < argc))
		return jrn_say(JRN_EXIT_USAGE, "--run ID replays a saved run: give it with --changes "
			       "alone (no --save, --count, --snapshot, --all, --only or FILEs)");
	if (run_flag && !*run_flag)
		return jrn_say(JRN_EXIT_USAGE, "--run: empty run id");
	if (opts.ndb > 1 && (!do_count || do_save || do_changes || snapshot_name || run_flag))
		return jrn_say(JRN_EXIT_USAGE, "several --db are for --count only (read-only; "
			       "no --save, --changes, --snapshot or --run)");
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

/* The configuration and the segments; --list, --check-config and
 * --explain end here. -1 to go on, else the status to exit with (said). */
static int set_up(void)
{
	jrn_err e;
	int rc = jrn_opts_resolve(&opts, &e);
	if (rc < 0)
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	if (run_flag && !opts.check_config)
		return -1; /* a replay needs no definitions */
	if (!drift_flag) {
		jv d = jrn_config_get(opts.config, "segments.drift");
		if (jv_get_kind(d) == JV_KIND_NUMBER && jv_number_value(d) >= 0)
			drift_pct = jv_number_value(d);
		jv_free(d);
	}
	if (!(rules = load_rules(segments_flag, &e)))
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	nseg = jrn_rule_count(rules);
	if (list || opts.check_config) { /* --check-config: the segments load, said nothing */
		for (int i = 0; list && i < nseg; i++)
			puts(jrn_rule_name(rules, i));
		return JRN_EXIT_OK;
	}
	if (explain_name)
		return explain();
	if (only_name && (only = jrn_rule_find(rules, only_name)) < 0)
		return jrn_say(JRN_EXIT_USAGE, "--only: no segment '%s'", only_name);
	reads_consent = !all_customers && seg_reads_consent(rules, only);

	seg_json = calloc((size_t)nseg + 1, sizeof *seg_json);
	member = calloc((size_t)nseg + 1, sizeof *member);
	total = calloc((size_t)nseg + 1, sizeof *total);
	reachable = calloc((size_t)nseg + 1, sizeof *reachable);
	skipped = calloc((size_t)nseg + 1, sizeof *skipped);
	if (!seg_json || !member || !total || !reachable || !skipped)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	for (int i = 0; i < nseg; i++) {
		const char *n = jrn_rule_name(rules, i);
		if (jrn_json_append_str(&seg_json[i], n, strlen(n)) < 0)
			return jrn_say(JRN_EXIT_FAIL, "out of memory");
	}
	if (do_save || do_changes)
		make_run_id();
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

/* -v: the state file, config, definitions and inputs in use. */
static void say_setup(char **files, int nfiles)
{
	jrn_say(0, "state %s, config %s", db ? opts.db_path : "(not opened)",
		opts.config_path ? opts.config_path : "(none: defaults)");
	if (rules)
		jrn_say(0, "segments %s (%d)", segments_src ? segments_src : "(unknown)", nseg);
	if (run_flag) {
		jrn_say(0, "input: none (replaying run %s)", run_flag);
		return;
	}
	if (all_customers) {
		jrn_say(0, "input: every customer of the state file, profiles completed from "
			"rfm_snapshots and scores");
		return;
	}
	jrn_buf b = {0};
	for (int i = 0; i < nfiles; i++)
		jrn_buf_addf(&b, "%s%s", i ? ", " : "", files[i]);
	jrn_say(0, "input: %s", nfiles ? b.p : "standard input");
	jrn_buf_free(&b);
}

/* The rejects file and, when the run needs it, the state file: the
 * stored memberships and the reach lookups. -1 to go on, else the status
 * (said). */
static int open_files(char **files, int nfiles)
{
	jrn_err e;
	if (jrn_rejects_open(&rej, "jrn-segment", opts.rejects_path, opts.verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	bool need_db = run_flag || all_customers || do_count || do_save || do_changes ||
		       snapshot_name || jrn_rule_needs_events(rules, only);
	/* consent (consent.c): from a state file there is, none created */
	need_db |= reads_consent && !run_flag && jrn_db_exists(opts.db_path, &no_state) == 0;
	if (need_db && open_db(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (db && reads_consent && seg_consent_open(db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (db)
		no_state.msg[0] = '\0';
	if (opts.verbosity > 0)
		say_setup(files, nfiles);
	int rc;
	if (db && snapshot_name && (rc = snapshot_free()) >= 0)
		return rc;
	if (db && (do_save || do_changes) && !run_flag && load_stored(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	if (db && do_count && !(reach = jrn_reach_open(db, &e)))
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	return -1;
}

/* The records of FILEs or stdin (empty input: no records). *status
 * JRN_EXIT_FAIL when a file could not be read (said); *failed with fatal
 * when the run cannot go on. */
static void read_input(char **files, int nfiles, int *status, bool *failed, jrn_err *fatal)
{
	jrn_err e;
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	if (!rd) {
		*failed = true;
		jrn_fail(fatal, "out of memory");
		return;
	}
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
		if (bad < ln.len)
			jrn_fail(&why, "invalid UTF-8 at byte %zu", bad + 1);
		if (bad < ln.len ||
		    jrn_json_index_build(&ix, ln.p, ln.len, JRN_RULE_INDEX_DEPTH, &why) < 0 ||
		    (strcmp(jrn_json_kind_at(ln.p, ln.len), "object") != 0 &&
		     jrn_fail(&why, "not a JSON object (got %s)", jrn_json_kind_phrase_at(ln.p, ln.len)))) {
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
}

/* --all: every customer of the state file as lib/profile-read reads it
 * (profile-read.h: ids after id links, linked ids folded in), its scores
 * as members of their own ("rfm", "clv", "lead": the record shape of
 * before the profile), with the cart and the promotions the shipped
 * segments read. */
typedef struct {
	bool *failed;
	jrn_err *fatal;
	uint64_t n;
	jrn_buf text;
} all_ctx;

/* One customer's profile: evaluated as a record "state:N". 0, or -1 to
 * stop (failed said in fatal, or the output closed). */
static int all_one(void *ctx, const char *cust, jrn_buf *members)
{
	all_ctx *a = ctx;
	jrn_buf *text = &a->text;
	nrec++;
	a->n++;
	jrn_buf_reset(text);
	jrn_buf_addc(text, '{');
	jrn_buf_add(text, members->p + 1, members->len - 1); /* past the first comma */
	if (jrn_buf_addc(text, '}') < 0) {
		jrn_fail(a->fatal, "out of memory");
		*a->failed = true;
		return -1;
	}
	jrn_err why;
	if (jrn_json_index_build(&ix, text->p, text->len, JRN_RULE_INDEX_DEPTH, &why) < 0) {
		/* a stored score or trait that does not read: that customer
		 * alone is rejected */
		jrn_err who;
		jrn_fail(&who, "customer %.200s: stored data is not JSON as jrn reads it: %s", cust,
			 why.msg);
		if (jrn_reject(&rej, "state", a->n, text->p, text->len, who.msg, a->fatal) < 0)
			*a->failed = true;
		return *a->failed ? -1 : 0;
	}
	jrn_rule_rec rr = {text->p, text->len, &ix, jv_invalid(), &parser};
	if (process("state", a->n, &rr, a->fatal) < 0)
		*a->failed = true;
	jv_free(rr.v);
	return *a->failed || out.err ? -1 : 0;
}

/* The parts of the --all profile to read: all when the profiles are
 * written; else (--count, --save, --changes, --snapshot) the summary, the
 * cart and the promotions, which cost a pass each, only when a wanted
 * segment reads them (a field leaf's first key "summary", "cart" or
 * "promotions") or may (a jq leaf). */
static unsigned all_parts(void)
{
	unsigned f = JRN_PROFILE_FLAT_SCORES;
	if (!do_count && !do_changes && !do_save && !snapshot_name)
		/* the profiles are written: whole */
		return f | JRN_PROFILE_SUMMARY | JRN_PROFILE_CART | JRN_PROFILE_PROMOTIONS;
	jrn_buf b = {0};
	for (int i = 0; i < nseg; i++) {
		if (!wanted(i))
			continue;
		jrn_buf_reset(&b);
		int n = jrn_rule_fields(rules, i, &b);
		const char *p = b.p;
		for (int j = 0; j < n; j++, p += strlen(p) + 1) {
			if (!strcmp(p, "cart"))
				f |= JRN_PROFILE_CART;
			if (!strcmp(p, "promotions"))
				f |= JRN_PROFILE_PROMOTIONS;
			if (!strcmp(p, "summary"))
				f |= JRN_PROFILE_SUMMARY;
		}
		jrn_buf_reset(&b);
		/* a jq leaf reads what it likes: its explain line "rule N: jq" */
		if (jrn_rule_explain(rules, i, &b) < 0 || (b.p && strstr(b.p, ": jq ")))
			f |= JRN_PROFILE_CART | JRN_PROFILE_PROMOTIONS | JRN_PROFILE_SUMMARY;
	}
	jrn_buf_free(&b);
	return f;
}

/* Every customer of the state file (--all). -1 to go on, else the status
 * to stop with (said). */
static int read_state(bool *failed, jrn_err *fatal)
{
	jrn_err e;
	/* one scan of the events for every event leaf, not a lookup per
	 * customer */
	if (jrn_rule_needs_events(rules, only) && jrn_rule_preload(rules, db, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	jrn_profile_reader *R = jrn_profile_reader_open(db, all_parts(), &e);
	if (!R)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	all_ctx a = {failed, fatal, 0, {0}};
	if (jrn_profile_read_all(R, all_one, &a, &e) < 0 && !*failed && !out.err) {
		jrn_fail(fatal, "%s", e.msg);
		*failed = true;
	}
	jrn_profile_reader_close(R);
	jrn_buf_free(&a.text);
	return -1;
}

/* Why nothing was saved, for the summary line (NULL: saved). */
static const char *not_saved;

/* After the records: the counts; for a run that stores, the segments left
 * out, the changes, the one transaction, then the change events. Returns
 * the status. */
static int finish_state(int status, bool failed)
{
	jrn_err e;
	bool storing = do_save || do_changes || snapshot_name;
	if (failed || out.err) {
		if (storing)
			not_saved = "output closed before the end of the input: nothing saved";
		return status;
	}
	for (int i = 0; do_count && i < nseg; i++) {
		if (!wanted(i))
			continue;
		jrn_buf_reset(&line_buf);
		jrn_buf_adds(&line_buf, "{\"segment\":");
		jrn_buf_add(&line_buf, seg_json[i].p, seg_json[i].len);
		jrn_buf_addf(&line_buf, ",\"total\":%llu,\"reachable\":%llu}",
			     (unsigned long long)total[i], (unsigned long long)reachable[i]);
		jrn_out_line(&out, line_buf.p, line_buf.len);
	}
	if (!storing)
		return status;
	if (status != JRN_EXIT_OK) {
		not_saved = "input not read in full: nothing saved";
		return status;
	}
	if (nprofiles == 0) {
		not_saved = nrec ? "no profiles in the input: nothing saved" : "no input: nothing saved";
		return status;
	}
	if (decide_skips(&e) < 0 || collect(&e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	for (int i = 0; opts.verbosity > 0 && i < nseg; i++)
		if (skipped[i])
			jrn_say(0, "segment '%s' not evaluated or saved: no input record carries '%s',"
				" which its rule reads (--all completes profiles)", jrn_rule_name(rules, i),
				skipped[i]);
	if ((do_save || snapshot_name) && save_run(&e) < 0) {
		not_saved = "nothing saved";
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, e.msg);
	}
	if (opts.dry_run)
		not_saved = "(dry run, nothing saved)";
	if (do_changes && print_changes() < 0)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	return status;
}

/* The summary line on stderr (not under -q). */
static void summary(void)
{
	bool storing = do_save || do_changes || snapshot_name;
	if (storing && nrec == 0 && not_saved) {
		jrn_say(0, "%s", not_saved);
		return;
	}
	jrn_buf b = {0};
	if (all_customers)
		jrn_buf_addf(&b, "%llu customer%s of the state file", (unsigned long long)nrec,
			     nrec == 1 ? "" : "s");
	else
		jrn_buf_addf(&b, "%llu record%s (%llu profile%s, %llu event%s passed through)",
			     (unsigned long long)nrec, nrec == 1 ? "" : "s",
			     (unsigned long long)nprofiles, nprofiles == 1 ? "" : "s",
			     (unsigned long long)nevents, nevents == 1 ? "" : "s");
	jrn_buf_addf(&b, ", %llu rejected", (unsigned long long)rej.count);
	int nskip = 0;
	for (int i = 0; skipped && i < nseg; i++)
		nskip += skipped[i] != NULL;
	if (nskip)
		jrn_buf_addf(&b, "; %d segment%s not evaluated (partial profiles; -v says which)", nskip,
			     nskip > 1 ? "s" : "");
	bool dry = not_saved && not_saved[0] == '(';
	if (not_saved && !dry) {
		jrn_buf_addf(&b, "; %s", not_saved);
	} else if (do_save || do_changes) {
		jrn_buf_addf(&b, "; run %s: %llu entered, %llu exited", run_id,
			     (unsigned long long)nentered, (unsigned long long)nexited);
		if (!do_save)
			jrn_buf_adds(&b, " (not saved: no --save)");
	}
	if (snapshot_name && (!not_saved || dry))
		jrn_buf_addf(&b, "; snapshot '%s': %zu members", snapshot_name, snap.n);
	if (dry)
		jrn_buf_addf(&b, " %s", not_saved);
	jrn_say(0, "%s", b.p ? b.p : "out of memory");
	jrn_buf_free(&b);
}

/* The run over the records, and its end: output closed, a failure said,
 * drift alerts as JRN_EXIT_REJECTS. Returns the status. */
static int run(char **files, int nfiles)
{
	int status = JRN_EXIT_OK;
	bool failed = false;
	jrn_err fatal = {{0}};

	jrn_out_init(&out, STDOUT_FILENO);
	if (run_flag)
		return replay();
	int stop = -1;
	if (all_customers)
		stop = read_state(&failed, &fatal);
	else
		read_input(files, nfiles, &status, &failed, &fatal);
	status = stop < 0 ? finish_state(status, failed) : stop;

	jrn_out_flush(&out); /* the records before the summary; an error is said below */
	/* a reader that went away ends a run quietly, unless it stores: then
	 * the summary names the run (its change events can be replayed) */
	bool quiet_end = out.err == EPIPE && !(do_save || do_changes || snapshot_name);
	for (char *p = alerts.p, *nl; p && (nl = strchr(p, '\n')); p = nl + 1)
		jrn_say(0, "%.*s", (int)(nl - p), p);
	/* what was done first, then why it failed (as jrn-ai): an output
	 * error or a fatal one is the last line */
	if (opts.verbosity >= 0 && stop < 0 && !failed && !quiet_end)
		summary();
	status = jrn_finish(&out, NULL, status);
	if (failed)
		status = jrn_say(JRN_EXIT_FAIL, "%s", fatal.msg);
	if (status == JRN_EXIT_OK && nalerts > 0)
		status = JRN_EXIT_REJECTS;
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
	seg_consent_close();
	seg_consent_free();
	if (rules)
		jrn_rule_attach(rules, NULL, &e);
	if (db && sqlite3_close(db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(db));
	status = jrn_finish(NULL, &rej, status);
	for (int i = 0; seg_json && i < nseg; i++)
		jrn_buf_free(&seg_json[i]);
	for (int i = 0; skipped && i < nseg; i++)
		free(skipped[i]);
	free(skipped);
	free(seg_json);
	free(member);
	free(total);
	free(reachable);
	free(verdict);
	changes_free(&moves);
	changes_free(&snap);
	jrn_idmap_free(stored);
	jrn_idmap_free(custs);
	jrn_idmap_free(carried);
	jrn_buf_free(&line_buf);
	jrn_buf_free(&why_buf);
	jrn_buf_free(&alerts);
	free(segments_path);
	jrn_rule_free(rules);
	jv_free(key_customer);
	jv_free(key_segments);
	jv_free(key_email);
	jv_free(key_phone);
	jv_free(key_consent);
	jv_free(key_type);
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
	key_type = jv_string("type");
	jrn_opts_init(&opts, "jrn-segment");
	int status = parse(argc, argv);
	if (status < 0)
		status = set_up();
	if (status < 0)
		status = open_files(argv + optind, argc - optind);
	if (status < 0)
		status = run(argv + optind, argc - optind);
	return teardown(status);
}
