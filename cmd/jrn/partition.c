/*
 * partition.c: `jrn partition`: the partition function as a filter, and
 * moving a partition from one state file to another (issue 17).
 *
 *   jrn partition --of N [--field NAME] [FILE...]   add "partition": P
 *   jrn partition export [--dry-run] P --of N -o FILE  partition P into FILE
 *   jrn partition import [--dry-run] FILE              FILE into this state file
 *   jrn partition drop [--dry-run] P --of N        delete partition P here
 *
 * P = jrn_partition_of(customerId) (lib/partition.c: Kafka's keyed
 * partitioner, murmur2 with seed 0x9747b28c). export copies every row
 * keyed by the partition's customers, and the global rows a move needs,
 * into a new state file in one read transaction; import copies such a
 * file into this one in one write transaction, giving the rows whose key
 * is a number (events.seq, deliveries.seq, route_decisions.seq, merges.id,
 * enrollments.id) new numbers after those here, in their old order, and
 * the rows that name them the new numbers; drop deletes the partition's
 * rows. Which table is which is the table `tables` below and jrn(1),
 * "jrn partition". The SQL of consent and suppressions, deliveries and outbox,
 * profiles, identities and merges is in lib/reach.c, lib/ledger.c and
 * lib/profile.c (their one writer each).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "privacy.h"
#include "profile.h"
#include "reach.h"
#include "verbs.h"

/* The most partitions --of takes (Kafka's practical ceiling is far lower;
 * a NATS subject per partition stays short). */
#define PART_MAX 65536
/* The most dotted parts of --field (properties.customer.id: 3). */
#define PART_FIELD_DEPTH 8

static const char partition_usage[] =
	"usage: jrn partition --of N [--field NAME] [FILE...]\n"
	"       jrn partition export [--dry-run] P --of N -o FILE\n"
	"       jrn partition import [--dry-run] FILE\n"
	"       jrn partition drop [--dry-run] P --of N\n"
	"The first form adds \"partition\": P to each record, P the partition of its\n"
	"customerId (else userId, else anonymousId; or of --field, a dotted path)\n"
	"among N (1 to 65536), Kafka's keyed partitioner (murmur2). export writes\n"
	"everything keyed by partition P's customers into FILE, a new state file;\n"
	"import copies such a file into this state file; drop deletes partition P's\n"
	"rows from it. --dry-run prints the counts and saves nothing.\n"
	"See jrn(1), jrn partition.\n";

enum { OPT_OF = JRN_OPT_TOOL_BASE, OPT_FIELD };

typedef struct {
	long of;             /* --of, 0 when not given */
	const char *field;   /* --field */
	const char *output;  /* -o */
	char *segs[PART_FIELD_DEPTH];
	int nsegs;
	char *path;          /* --field's copy, cut into segs */
} part_flags;

/* A whole decimal number lo..hi from s, or -1. */
static long number(const char *s, long lo, long hi)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -1;
	long v = strtol(s, NULL, 10);
	return v < lo || v > hi ? -1 : v;
}

static int partition_take(void *ctx, int c, const char *arg)
{
	part_flags *f = ctx;
	switch (c) {
	case OPT_OF:
		if ((f->of = number(arg, 1, PART_MAX)) < 0)
			return jrn_say(JRN_EXIT_USAGE, "partition: --of '%s': expected a number of"
				       " partitions from 1 to %d", arg, PART_MAX);
		return 0;
	case OPT_FIELD:
		f->field = arg;
		return 0;
	case 'o':
		f->output = arg;
		return 0;
	}
	return -2;
}

/* Cuts --field at its dots into f->segs. 0, or a usage status (said). */
static int field_path(part_flags *f)
{
	if (!f->field)
		return 0;
	if (!(f->path = strdup(f->field)))
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	for (char *s = f->path, *dot;; s = dot + 1) {
		dot = strchr(s, '.');
		if (dot)
			*dot = '\0';
		if (!*s || f->nsegs == PART_FIELD_DEPTH)
			return jrn_say(JRN_EXIT_USAGE, "partition: --field '%s': expected NAME or"
				       " NAME.NAME... (at most %d names, none empty)", f->field,
				       PART_FIELD_DEPTH);
		f->segs[f->nsegs++] = s;
		if (!dot)
			return 0;
	}
}

/* ---- the SQL function jrn_partition(text, n) ------------------------------------ */

/* jrn_partition(TEXT, N): the partition of TEXT's UTF-8 bytes among N
 * (1..PART_MAX); NULL when either is NULL. */
static void sql_partition(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
		sqlite3_result_null(cx);
		return;
	}
	sqlite3_int64 n = sqlite3_value_int64(argv[1]);
	if (n < 1 || n > PART_MAX) {
		sqlite3_result_error(cx, "jrn_partition: N must be from 1 to 65536", -1);
		return;
	}
	const char *t = (const char *)sqlite3_value_text(argv[0]);
	int len = sqlite3_value_bytes(argv[0]);
	sqlite3_result_int(cx, jrn_partition_of(t ? t : "", (size_t)len, (int)n));
}

/* ---- the filter ----------------------------------------------------------------- */

/* The member at f's path (or customerId, else userId, else anonymousId),
 * its name in *name; NULL when absent. */
static const jrn_json_member *key_member(const jrn_json_index *ix, const part_flags *f,
					 const char **name)
{
	static const char *const ids[] = {"customerId", "userId", "anonymousId"};
	if (!f->nsegs) {
		for (size_t i = 0; i < 3; i++) {
			const jrn_json_member *m = jrn_json_find(ix, -1, ids[i]);
			if (m) {
				*name = ids[i];
				return m;
			}
		}
		*name = ids[0];
		return NULL;
	}
	*name = f->field;
	int parent = -1;
	const jrn_json_member *m = NULL;
	for (int i = 0; i < f->nsegs; i++) {
		if (!(m = jrn_json_find(ix, parent, f->segs[i])))
			return NULL;
		if (i + 1 < f->nsegs) {
			if (m->kind != '{')
				return NULL;
			parent = (int)(m - ix->m);
		}
	}
	return m;
}

/* The same through jv, for a record with a member name written with
 * escapes (the index does not match those): the key string in *key (the
 * caller's), 1 found, 0 absent, -1 not a string (*kind says what it is:
 * jrn_kind_phrase's "a number"). */
static int key_slow(const jrn_line *ln, const part_flags *f, const char **name, jv *key,
		    const char **kind, bool *has_partition)
{
	jv_parser *parser = NULL;
	jv v = jrn_parse_checked_object(&parser, ln->p, ln->len, NULL);
	if (parser)
		jv_parser_free(parser);
	*has_partition = jv_get_kind(v) == JV_KIND_OBJECT &&
			 jv_object_has(jv_copy(v), jv_string("partition"));
	static const char *const ids[] = {"customerId", "userId", "anonymousId"};
	jv at = jv_invalid();
	if (!f->nsegs) {
		*name = ids[0];
		for (size_t i = 0; i < 3 && !jv_is_valid(at); i++) {
			jv_free(at);
			at = jv_object_get(jv_copy(v), jv_string(ids[i]));
			if (jv_is_valid(at))
				*name = ids[i];
		}
	} else {
		*name = f->field;
		at = jv_copy(v);
		for (int i = 0; i < f->nsegs && jv_is_valid(at); i++)
			at = jv_get_kind(at) == JV_KIND_OBJECT ? jv_object_get(at, jv_string(f->segs[i]))
							       : (jv_free(at), jv_invalid());
	}
	jv_free(v);
	if (!jv_is_valid(at)) {
		jv_free(at);
		return 0;
	}
	if (jv_get_kind(at) != JV_KIND_STRING) {
		*kind = jrn_kind_phrase(jv_get_kind(at), false);
		jv_free(at);
		return -1;
	}
	*key = at;
	return 1;
}

/* The line of ln with "partition": P into out (replacing the value of a
 * "partition" member there already). 0, 1 rejected (why), -1 out of
 * memory. */
/* The rejection of a record without its key: the field --field names, or
 * each of the three the default tries. 1 (rejected). */
static int missing(const part_flags *f, const char *name, jrn_err *why)
{
	if (!f->nsegs)
		return jrn_fail(why, "customerId: missing (nor userId nor anonymousId given)"), 1;
	return jrn_fail(why, "%s: missing", name), 1;
}

static int tag(const jrn_line *ln, const part_flags *f, jrn_json_index *ix, jrn_buf *out,
	       jrn_err *why)
{
	size_t bad = jrn_utf8_invalid_at(ln->p, ln->len);
	if (bad < ln->len)
		return jrn_fail(why, "invalid UTF-8 at byte %zu", bad + 1), 1;
	const char *kind = jrn_json_kind_at(ln->p, ln->len);
	if (jrn_json_index_build(ix, ln->p, ln->len, f->nsegs ? f->nsegs : 1, why) < 0)
		return 1;
	if (strcmp(kind, "object") != 0)
		return jrn_fail(why, "not a JSON object (got %s)",
				jrn_json_kind_phrase_at(ln->p, ln->len)), 1;
	bool escaped = false;
	for (size_t i = 0; i < ix->n; i++)
		escaped |= ix->m[i].kescaped;
	const char *name, *p = NULL;
	size_t n = 0;
	jv key = jv_invalid();
	const jrn_json_member *pm = jrn_json_find(ix, -1, "partition");
	if (escaped) {
		bool has_partition;
		int rc = key_slow(ln, f, &name, &key, &kind, &has_partition);
		if (rc == 0)
			return missing(f, name, why);
		if (rc < 0)
			return jrn_fail(why, "%s: expected a string (got %s)", name, kind), 1;
		if (has_partition && !pm) {
			jv_free(key);
			return jrn_fail(why, "partition: a member of that name is written with escapes;"
					" write its name plainly"), 1;
		}
		p = jv_string_value(key);
		n = (size_t)jv_string_length_bytes(jv_copy(key));
	} else {
		const jrn_json_member *m = key_member(ix, f, &name);
		if (!m)
			return missing(f, name, why);
		if (m->kind != '"')
			return jrn_fail(why, "%s: expected a string (got %s)", name,
					jrn_json_kind_phrase_at(m->val, m->vlen)), 1;
		if (m->escaped) {
			key = jrn_parse_value(m->val - 1, m->vlen + 2, NULL);
			if (jv_get_kind(key) != JV_KIND_STRING) {
				jv_free(key);
				return -1;
			}
			p = jv_string_value(key);
			n = (size_t)jv_string_length_bytes(jv_copy(key));
		} else {
			p = m->val;
			n = m->vlen;
		}
	}
	int rc = jrn_id_check(p, n, name, why) < 0 ? 1 : 0;
	int part = rc ? 0 : jrn_partition_of(p, n, (int)f->of);
	jv_free(key);
	if (rc)
		return 1;
	jrn_buf_reset(out);
	size_t at, end;
	if (pm) { /* replace the value, quotes and all */
		at = (size_t)(pm->val - ln->p) - (pm->kind == '"');
		end = (size_t)(pm->val - ln->p) + pm->vlen + (pm->kind == '"');
		jrn_buf_add(out, ln->p, at);
		jrn_buf_addf(out, "%d", part);
	} else { /* before the closing brace */
		end = ln->len;
		while (end > 0 && ln->p[end - 1] != '}')
			end--;
		end--;
		jrn_buf_add(out, ln->p, end);
		jrn_buf_addf(out, ",\"partition\":%d", part);
	}
	jrn_buf_add(out, ln->p + end, ln->len - end);
	return out->p ? 0 : -1;
}

static int filter(const jrn_opts *o, const part_flags *f, char **files, int nfiles)
{
	jrn_rejects rej;
	jrn_err e;
	if (jrn_rejects_open(&rej, "jrn: partition", o->rejects_path, o->verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "partition: %s", e.msg);
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	jrn_out out;
	jrn_out_init(&out, STDOUT_FILENO);
	jrn_json_index ix = {0};
	jrn_buf line = {0};
	int status = JRN_EXIT_OK, rc;
	jrn_line ln;
	if (!rd)
		status = jrn_say(JRN_EXIT_FAIL, "out of memory");
	else
		jrn_reader_idle_notice(rd, true);
	while (rd && !out.err && (rc = jrn_reader_next(rd, &ln, &e)) != 0) {
		if (rc < 0) {
			status = jrn_say(JRN_EXIT_FAIL, "partition: %s", e.msg);
			continue;
		}
		if (rc == 2) { /* idle: a live pipeline gets what is here */
			jrn_out_flush(&out);
			continue;
		}
		jrn_err why;
		int t = tag(&ln, f, &ix, &line, &why);
		if (t == 0) {
			jrn_out_line(&out, line.p, line.len);
		} else if (t < 0) {
			status = jrn_say(JRN_EXIT_FAIL, "out of memory");
			break;
		} else if (jrn_reject(&rej, ln.file, ln.lineno, ln.p, ln.len, why.msg, &e) < 0) {
			status = jrn_say(JRN_EXIT_FAIL, "partition: %s", e.msg);
			break;
		}
	}
	jrn_reader_free(rd);
	jrn_json_index_free(&ix);
	jrn_buf_free(&line);
	return jrn_finish(&out, &rej, status);
}

/* ---- moving a partition: the tables --------------------------------------------- */

/* Every table of jrn-state(5), and what a move does with it. Customer
 * tables: keyed by customer_id (or by a row that is); global: copied whole
 * by export, merged by import, left by drop; left: neither copied nor
 * dropped (this file's own history or aggregates). */
#define IDS "(SELECT v FROM temp.jrn_part_ids)"
#define PS JRN_PART_SCHEMA
#define OFF(t) "(SELECT off FROM temp.jrn_part_off WHERE t = '" t "')"
#define NEW_ENR(c) "(SELECT new FROM temp.jrn_part_enr WHERE old = " c ")"

/* The customers of schema S's customer tables. */
#define CUSTOMERS(S)                                                                     \
	"SELECT customer_id FROM " S ".events UNION SELECT customer_id FROM " S ".consent"     \
	" UNION SELECT customer_id FROM " S ".profiles UNION SELECT customer_id FROM " S       \
	".identities UNION SELECT into_id FROM " S ".merges UNION SELECT customer_id FROM " S  \
	".scores UNION SELECT customer_id FROM " S ".rfm_snapshots UNION SELECT customer_id"   \
	" FROM " S ".segment_members UNION SELECT customer_id FROM " S ".segment_snapshots"    \
	" UNION SELECT customer_id FROM " S ".source_cache UNION SELECT customer_id FROM " S   \
	".deliveries UNION SELECT customer_id FROM " S ".route_decisions UNION SELECT"         \
	" customer_id FROM " S ".enrollments UNION SELECT customer_id FROM " S ".ai_cache"

/* The tables moved here (the others through reach.c, ledger.c, profile.c):
 * {name, export, import, drop}; NULL: nothing. ?1 is P. */
static const char *const tables[][4] = {
	{"events",
	 "INSERT INTO " PS ".events SELECT * FROM main.events WHERE customer_id IN " IDS " ORDER BY seq",
	 "INSERT INTO main.events (seq, id, type, customer_id, ts, received_at, amount, body)"
	 " SELECT seq + " OFF("events") ", id, type, customer_id, ts, received_at, amount, body"
	 " FROM " PS ".events ORDER BY seq",
	 NULL /* after consent: see drop_steps */},
	{"scores", "INSERT INTO " PS ".scores SELECT * FROM main.scores WHERE customer_id IN " IDS,
	 "INSERT INTO main.scores SELECT * FROM " PS ".scores",
	 "DELETE FROM main.scores WHERE customer_id IN " IDS},
	{"rfm_snapshots",
	 "INSERT INTO " PS ".rfm_snapshots SELECT * FROM main.rfm_snapshots WHERE customer_id IN " IDS,
	 "INSERT INTO main.rfm_snapshots SELECT * FROM " PS ".rfm_snapshots",
	 "DELETE FROM main.rfm_snapshots WHERE customer_id IN " IDS},
	{"segment_members",
	 "INSERT INTO " PS ".segment_members SELECT * FROM main.segment_members WHERE customer_id IN " IDS,
	 "INSERT INTO main.segment_members SELECT * FROM " PS ".segment_members",
	 "DELETE FROM main.segment_members WHERE customer_id IN " IDS},
	{"segment_snapshots",
	 "INSERT INTO " PS ".segment_snapshots SELECT * FROM main.segment_snapshots WHERE customer_id"
	 " IN " IDS,
	 "INSERT INTO main.segment_snapshots SELECT * FROM " PS ".segment_snapshots",
	 "DELETE FROM main.segment_snapshots WHERE customer_id IN " IDS},
	{"source_cache",
	 "INSERT INTO " PS ".source_cache SELECT * FROM main.source_cache WHERE customer_id IN " IDS,
	 "INSERT INTO main.source_cache SELECT * FROM " PS ".source_cache",
	 "DELETE FROM main.source_cache WHERE customer_id IN " IDS},
	{"ai_cache", "INSERT INTO " PS ".ai_cache SELECT * FROM main.ai_cache WHERE customer_id IN " IDS,
	 "INSERT INTO main.ai_cache SELECT * FROM " PS ".ai_cache",
	 "DELETE FROM main.ai_cache WHERE customer_id IN " IDS},
	{"enrollments",
	 "INSERT INTO " PS ".enrollments SELECT * FROM main.enrollments WHERE customer_id IN " IDS
	 " ORDER BY id",
	 "INSERT INTO main.enrollments (id, journey, version, customer_id, trigger_key, trigger_event,"
	 " status, step, due_at, wait_events, variant, entered_at, updated_at, ended_at, reason)"
	 " SELECT " NEW_ENR("id") ", journey, version, customer_id, trigger_key, trigger_event,"
	 " status, step, due_at, wait_events, variant, entered_at, updated_at, ended_at, reason"
	 " FROM " PS ".enrollments ORDER BY id",
	 NULL /* after enrollment_log */},
	{"enrollment_log",
	 "INSERT INTO " PS ".enrollment_log SELECT * FROM main.enrollment_log WHERE enrollment IN"
	 " (SELECT id FROM " PS ".enrollments)",
	 "INSERT INTO main.enrollment_log (enrollment, seq, at, step, what, detail) SELECT "
	 NEW_ENR("enrollment") ", seq, at, step, what, detail FROM " PS ".enrollment_log",
	 "DELETE FROM main.enrollment_log WHERE enrollment IN (SELECT id FROM main.enrollments"
	 " WHERE customer_id IN " IDS ")"},
	{"enrollments", NULL, NULL, "DELETE FROM main.enrollments WHERE customer_id IN " IDS},
	{"route_decisions",
	 "INSERT INTO " PS ".route_decisions SELECT * FROM main.route_decisions WHERE customer_id IN "
	 IDS " ORDER BY seq",
	 "INSERT INTO main.route_decisions (seq, key, customer_id, channel, campaign_id, offer,"
	 " trigger_key, journey, version, step, decision, reason, decided_at, send_at, cost,"
	 " enrollment, body) SELECT seq + " OFF("route_decisions") ", key, customer_id, channel,"
	 " campaign_id, offer, trigger_key, journey, version, step, decision, reason, decided_at,"
	 " send_at, cost, CASE WHEN typeof(enrollment) = 'integer' THEN coalesce("
	 NEW_ENR("enrollment") ", enrollment) ELSE enrollment END, CASE WHEN json_valid(body) AND"
	 " json_type(body, '$.enrollment') = 'integer' THEN coalesce((SELECT json_set(body,"
	 " '$.enrollment', new) FROM temp.jrn_part_enr WHERE old = json_extract(body,"
	 " '$.enrollment')), body) ELSE body END FROM " PS ".route_decisions ORDER BY seq",
	 /* the trigger route_send_keys_gone takes the claims along */
	 "DELETE FROM main.route_decisions WHERE customer_id IN " IDS},
	{"route_send_keys",
	 "INSERT INTO " PS ".route_send_keys SELECT * FROM main.route_send_keys WHERE seq IN"
	 " (SELECT seq FROM " PS ".route_decisions)",
	 "INSERT INTO main.route_send_keys (seq, hash) SELECT seq + " OFF("route_decisions") ","
	 " hash FROM " PS ".route_send_keys",
	 NULL},
	{"route_send_keys_11",
	 "INSERT INTO " PS ".route_send_keys_11 SELECT * FROM main.route_send_keys_11 WHERE key IN"
	 " (SELECT key FROM " PS ".route_decisions WHERE decision = 'send')",
	 "INSERT INTO main.route_send_keys_11 SELECT * FROM " PS ".route_send_keys_11", NULL},
	{"log_offsets",
	 "INSERT INTO " PS ".log_offsets SELECT * FROM main.log_offsets WHERE partition = ?1",
	 "INSERT INTO main.log_offsets SELECT * FROM " PS ".log_offsets",
	 "DELETE FROM main.log_offsets WHERE partition = ?1"},
	/* global */
	{"erasures", "INSERT INTO " PS ".erasures SELECT * FROM main.erasures",
	 "INSERT OR IGNORE INTO main.erasures SELECT * FROM " PS ".erasures", NULL},
	{"journey_versions", "INSERT INTO " PS ".journey_versions SELECT * FROM main.journey_versions",
	 "INSERT OR IGNORE INTO main.journey_versions SELECT * FROM " PS ".journey_versions", NULL},
	{"state_keys",
	 "INSERT INTO " PS ".state_keys SELECT * FROM main.state_keys WHERE name = '"
	 JRN_PRIVACY_KEY_NAME "'",
	 "INSERT OR IGNORE INTO main.state_keys SELECT * FROM " PS ".state_keys WHERE name = '"
	 JRN_PRIVACY_KEY_NAME "'",
	 NULL},
};

#define NTABLES (sizeof tables / sizeof *tables)

/* Runs sql (binding ?1 to p when it has a parameter), adding its changed
 * rows to (*counts)[name]. 0, or -1 with e. */
static int step(sqlite3 *db, const char *name, const char *sql, long p, jv *counts, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, p);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s: %s", name, sqlite3_errmsg(db));
	jrn_privacy_count_add(counts, name, sqlite3_changes64(db));
	return 0;
}

/* The modules' own tables, then this file's (column col of tables). On
 * export and import events come before consent; on drop consent (which
 * rests on events) and outbox go first, events last. */
static int run_steps(sqlite3 *db, int which, long p, jv *counts, jrn_err *e)
{
	int col = which == JRN_PART_EXPORT ? 1 : which == JRN_PART_IMPORT ? 2 : 3;
	if (which == JRN_PART_DROP &&
	    (jrn_reach_partition(db, which, counts, e) < 0 ||
	     jrn_ledger_partition(db, which, counts, e) < 0 ||
	     jrn_profile_partition(db, which, counts, e) < 0))
		return -1;
	for (size_t i = 0; i < NTABLES; i++)
		if (tables[i][col] && step(db, tables[i][0], tables[i][col], p, counts, e) < 0)
			return -1;
	if (which == JRN_PART_DROP)
		return step(db, "events", "DELETE FROM main.events WHERE customer_id IN " IDS, p,
			    counts, e);
	if (jrn_reach_partition(db, which, counts, e) < 0 ||
	    jrn_ledger_partition(db, which, counts, e) < 0 ||
	    jrn_profile_partition(db, which, counts, e) < 0)
		return -1;
	return 0;
}

/* The temporary tables (jrn.h, "Moving a partition"), empty. */
static int temp_tables(sqlite3 *db, jrn_err *e)
{
	return jrn_db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS jrn_part_ids (v TEXT PRIMARY KEY);"
			       "CREATE TEMP TABLE IF NOT EXISTS jrn_part_off (t TEXT PRIMARY KEY,"
			       " off INTEGER NOT NULL);"
			       "CREATE TEMP TABLE IF NOT EXISTS jrn_part_enr (old INTEGER PRIMARY KEY,"
			       " new INTEGER NOT NULL);"
			       "DELETE FROM temp.jrn_part_ids; DELETE FROM temp.jrn_part_off;"
			       "DELETE FROM temp.jrn_part_enr", e);
}

/* nats.partitions of o's configuration, or its default 8 (jrn.yaml(5)). */
static long cfg_partitions(const jrn_opts *o)
{
	jv v = jrn_config_get(o->config, "nats.partitions");
	long n = jv_get_kind(v) == JV_KIND_NUMBER ? (long)jv_number_value(v) : 8;
	jv_free(v);
	return n;
}

/* A wrong --of moves or deletes another partition's customers while the
 * right partition's log_offsets row stays: its consumer then goes on past
 * events it no longer holds. When main has log_offsets rows (a file fed
 * by jrn-ingest --from), p must be one of them and n must be the
 * partition count the consumer used: cfg_n (nats.partitions, or its
 * default 8). 0, or -1 with e naming what is wrong. */
static int check_of(sqlite3 *db, long p, long n, long cfg_n, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	jrn_buf owned = {0};
	bool has_p = false, any = false;
	int rc = sqlite3_prepare_v2(db, "SELECT DISTINCT partition FROM main.log_offsets"
				    " ORDER BY partition", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		long q = (long)sqlite3_column_int64(st, 0);
		has_p |= q == p;
		jrn_buf_addf(&owned, "%s%ld", any ? "," : "", q);
		any = true;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	int out = 0;
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		out = jrn_fail(e, "log_offsets: %s", sqlite3_errmsg(db));
	else if (any && !owned.p)
		out = jrn_fail(e, "out of memory");
	else if (any && n != cfg_n)
		out = jrn_fail(e, "--of %ld: this file is fed from a log of %ld partitions"
			       " (nats.partitions; log_offsets: %s): --of must be that count",
			       n, cfg_n, owned.p);
	else if (any && !has_p)
		out = jrn_fail(e, "partition %ld is not this file's: its log_offsets name"
			       " partitions %s (jrn-ingest --from keeps them)", p, owned.p);
	jrn_buf_free(&owned);
	return out;
}

/* An id link of main: the customer id ?id names now (lib/profile.c,
 * jrn_profile_resolve: the first of its links). */
#define LINK(id) "main.identities WHERE kind = 'id' AND value = " id

/* Fills temp.jrn_part_ids with partition p of n's customers of main
 * (after check_of): those whose standing id (the end of their id links,
 * as jrn_profile_resolve follows them, at most JRN_PROFILE_MAX_CHAIN)
 * hashes to p, so that a merged-away id's rows go with the customer it
 * was merged into (jrn(1)); their number, or -1 with e. */
static int64_t partition_ids(sqlite3 *db, long p, long n, long cfg_n, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (check_of(db, p, n, cfg_n, e) < 0)
		return -1;
	int rc = sqlite3_prepare_v2(db,
		"WITH RECURSIVE c(id) AS (" CUSTOMERS("main") "),"
		" r(id, cur, hop) AS (SELECT id, id, 0 FROM c WHERE id"
		" IS NOT NULL UNION ALL SELECT r.id, (SELECT customer_id FROM " LINK("r.cur") " LIMIT 1),"
		" r.hop + 1 FROM r WHERE r.hop < ?3 AND EXISTS (SELECT 1 FROM " LINK("r.cur") "))"
		" INSERT INTO temp.jrn_part_ids SELECT id FROM r WHERE (r.hop = ?3 OR NOT EXISTS"
		" (SELECT 1 FROM " LINK("r.cur") ")) AND jrn_partition(cur, ?2) = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, p);
		sqlite3_bind_int64(st, 2, n);
		sqlite3_bind_int(st, 3, JRN_PROFILE_MAX_CHAIN);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "customers: %s", sqlite3_errmsg(db));
	return sqlite3_changes64(db);
}

/* Registers jrn_partition on db and attaches path as JRN_PART_SCHEMA. */
static int attach(sqlite3 *db, const char *path, jrn_err *e)
{
	if (sqlite3_create_function(db, "jrn_partition", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				    sql_partition, NULL, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ? AS " PS, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s: %s", path, sqlite3_errmsg(db));
	return temp_tables(db, e);
}

/* Opens (creating or migrating) the state file at path and closes it, so
 * that it has this schema when attached. */
static int prepare_file(const jrn_opts *o, const char *path, jrn_err *e)
{
	sqlite3 *db = NULL;
	int rc = jrn_db_open(path, o->busy_ms, &db, e);
	sqlite3_close(db);
	return rc;
}

/* ---- export ------------------------------------------------------------------------ */

static void remove_file(const char *path)
{
	static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		jrn_buf b = {0};
		jrn_buf_addf(&b, "%s%s", path, tails[i]);
		if (b.p)
			unlink(b.p);
		jrn_buf_free(&b);
	}
}

static int part_export(sqlite3 *db, const jrn_opts *o, long p, long n, const char *path)
{
	jrn_err e;
	struct stat sb;
	char shown[JRN_PATH_SHOWN];
	if (lstat(path, &sb) == 0)
		return jrn_say(JRN_EXIT_FAIL, "partition export: %s exists: export writes a new state"
			       " file", jrn_path_shown(path, shown));
	jv counts = jv_object();
	if (prepare_file(o, path, &e) < 0) {
		jv_free(counts);
		remove_file(path);
		return jrn_say(JRN_EXIT_FAIL, "partition export: %s", e.msg);
	}
	int64_t ids;
	/* one transaction: a consistent snapshot of main, written at once */
	if (attach(db, path, &e) < 0 || jrn_db_exec(db, "BEGIN", &e) < 0 ||
	    (ids = partition_ids(db, p, n, cfg_partitions(o), &e)) < 0)
		goto fail;
	counts = jv_object_set(counts, jv_string("customers"), jv_number((double)ids));
	if (run_steps(db, JRN_PART_EXPORT, p, &counts, &e) < 0 ||
	    (!o->dry_run && jrn_db_exec(db, "COMMIT", &e) < 0))
		goto fail;
	if (o->dry_run)
		jrn_db_rollback(db);
	jrn_db_exec(db, "DETACH DATABASE " PS, NULL);
	if (o->dry_run)
		remove_file(path);
	if (o->verbosity >= 0)
		jrn_say(0, "partition export: partition %ld of %ld: %lld customer%s %s %s", p, n,
			(long long)ids, ids == 1 ? "" : "s", o->dry_run ? "(dry run, nothing saved), not into" : "into",
			jrn_path_shown(path, shown));
	admin_print(counts); /* a write error: admin_finish */
	return JRN_EXIT_OK;
fail:
	jv_free(counts);
	jrn_db_rollback(db);
	jrn_db_exec(db, "DETACH DATABASE " PS, NULL);
	remove_file(path);
	return jrn_say(JRN_EXIT_FAIL, "partition export: %s", e.msg);
}

/* ---- import ------------------------------------------------------------------------ */

/* What import refuses: the first row of each query names a conflict. */
static const char *const conflicts[][2] = {
	{"customer %s has events or a profile here already",
	 "SELECT v FROM temp.jrn_part_ids WHERE EXISTS (SELECT 1 FROM main.events WHERE"
	 " customer_id = v) OR EXISTS (SELECT 1 FROM main.profiles WHERE customer_id = v)"
	 " ORDER BY v LIMIT 1"},
	{"log_offsets: %s is owned here already",
	 "SELECT 'stream ' || s.stream || ' partition ' || s.partition FROM " PS ".log_offsets s"
	 " JOIN main.log_offsets m USING (stream, partition) LIMIT 1"},
	{"deliveries: key %s is here already",
	 "SELECT key FROM " PS ".deliveries WHERE key IN (SELECT key FROM main.deliveries) LIMIT 1"},
	{"route_decisions: the send key %s is claimed here already",
	 "SELECT d.key FROM " PS ".route_decisions d WHERE d.decision = 'send' AND (d.key IN"
	 " (SELECT key FROM main.route_send_keys_11) OR EXISTS (SELECT 1 FROM " PS ".route_send_keys"
	 " k JOIN main.route_send_keys mk ON mk.hash = k.hash JOIN main.route_decisions md ON"
	 " md.seq = mk.seq WHERE k.seq = d.seq AND md.key = d.key)) LIMIT 1"},
	{"journey_versions: %s differs here (another digest)",
	 "SELECT s.journey || ' version ' || s.version FROM " PS ".journey_versions s JOIN"
	 " main.journey_versions m USING (journey, version) WHERE m.digest <> s.digest LIMIT 1"},
	{"erasures: %s (hashed under another privacy key than this file's, so they would not"
	 " match here)",
	 "SELECT count(*) || ' erased values' FROM " PS ".erasures WHERE EXISTS (SELECT 1 FROM main"
	 ".state_keys m JOIN " PS ".state_keys s USING (name) WHERE name = '" JRN_PRIVACY_KEY_NAME
	 "' AND m.value <> s.value) HAVING count(*) > 0"},
};

/* The first conflict, said in e: 1; none: 0; -1 with e. */
static int conflict(sqlite3 *db, jrn_err *e)
{
	for (size_t i = 0; i < sizeof conflicts / sizeof *conflicts; i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, conflicts[i][1], -1, &st, NULL) != SQLITE_OK)
			return jrn_fail(e, "%s", sqlite3_errmsg(db));
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			jrn_fail(e, conflicts[i][0], (const char *)sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
			return 1;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return jrn_fail(e, "%s", sqlite3_errmsg(db));
	}
	return 0;
}

/* The offsets and the enrollments' new ids (jrn.h): each attached key +
 * off follows every key of main in the same order; 0 when main has none
 * at or past the attached file's first. */
static int offsets(sqlite3 *db, jrn_err *e)
{
	static const char *const keys[][2] = {
		{"events", "seq"}, {"deliveries", "seq"}, {"route_decisions", "seq"},
		{"merges", "id"}, {"enrollments", "id"},
	};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		jrn_buf q = {0};
		jrn_buf_addf(&q, "INSERT INTO temp.jrn_part_off VALUES ('%s', max(0,"
			     " coalesce((SELECT max(%s) FROM main.%s), 0) -"
			     " coalesce((SELECT min(%s) FROM " PS ".%s), 1) + 1))",
			     keys[i][0], keys[i][1], keys[i][0], keys[i][1], keys[i][0]);
		int rc = q.p ? jrn_db_exec(db, q.p, e) : jrn_fail(e, "out of memory");
		jrn_buf_free(&q);
		if (rc < 0)
			return -1;
	}
	return jrn_db_exec(db, "INSERT INTO temp.jrn_part_enr SELECT id, id + " OFF("enrollments")
			   " FROM " PS ".enrollments", e);
}

static int part_import(sqlite3 *db, const jrn_opts *o, const char *path, int argc, char **argv)
{
	jrn_err e;
	struct stat sb, self;
	char shown[JRN_PATH_SHOWN];
	if (stat(path, &sb) < 0)
		return jrn_say(JRN_EXIT_FAIL, "partition import: %s: %s", jrn_path_shown(path, shown),
			       strerror(errno));
	if (stat(o->db_path, &self) == 0 && self.st_dev == sb.st_dev && self.st_ino == sb.st_ino)
		return jrn_say(JRN_EXIT_FAIL, "partition import: %s is this state file",
			       jrn_path_shown(path, shown));
	if (prepare_file(o, path, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "partition import: %s", e.msg);
	jv counts = jv_object();
	int64_t ids = 0;
	int c = 0;
	if (attach(db, path, &e) < 0 || jrn_db_begin(db, &e) < 0)
		goto fail;
	if (jrn_db_exec(db, "INSERT INTO temp.jrn_part_ids SELECT customer_id FROM ("
			CUSTOMERS(PS) ") WHERE customer_id IS NOT NULL", &e) < 0)
		goto fail;
	ids = sqlite3_changes64(db);
	if ((c = conflict(db, &e)) != 0)
		goto fail;
	counts = jv_object_set(counts, jv_string("customers"), jv_number((double)ids));
	if (offsets(db, &e) < 0 || run_steps(db, JRN_PART_IMPORT, 0, &counts, &e) < 0)
		goto fail;
	if (o->dry_run)
		jrn_db_rollback(db);
	else if (admin_audit(db, "partition import", argc, argv, jv_copy(counts), &e) < 0 ||
		 jrn_db_commit(db, &e) < 0)
		goto fail;
	jrn_db_exec(db, "DETACH DATABASE " PS, NULL);
	if (o->verbosity >= 0)
		jrn_say(0, "partition import: %lld customer%s from %s%s", (long long)ids,
			ids == 1 ? "" : "s", jrn_path_shown(path, shown), o->dry_run ? " (dry run, nothing saved)" : "");
	admin_print(counts); /* a write error: admin_finish */
	return JRN_EXIT_OK;
fail:
	jv_free(counts);
	jrn_db_rollback(db);
	jrn_db_exec(db, "DETACH DATABASE " PS, NULL);
	return jrn_say(JRN_EXIT_FAIL, "partition import: %s%s", e.msg,
		       c > 0 ? "; nothing imported" : "");
}

/* ---- drop -------------------------------------------------------------------------- */

static int part_drop(sqlite3 *db, const jrn_opts *o, long p, long n, char **ops)
{
	char of[24], *args[] = {ops[0], ops[1], "--of", of};
	snprintf(of, sizeof of, "%ld", n);
	jrn_err e;
	jv counts = jv_object();
	int64_t ids;
	if (sqlite3_create_function(db, "jrn_partition", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				    sql_partition, NULL, NULL) != SQLITE_OK) {
		jrn_fail(&e, "%s", sqlite3_errmsg(db));
		goto fail;
	}
	if (temp_tables(db, &e) < 0 || jrn_db_begin(db, &e) < 0 ||
	    (ids = partition_ids(db, p, n, cfg_partitions(o), &e)) < 0)
		goto fail;
	counts = jv_object_set(counts, jv_string("customers"), jv_number((double)ids));
	if (run_steps(db, JRN_PART_DROP, p, &counts, &e) < 0)
		goto fail;
	if (o->dry_run) {
		jrn_db_rollback(db);
	} else if (admin_audit(db, "partition drop", 4, args, jv_copy(counts), &e) < 0 ||
		   jrn_db_commit(db, &e) < 0) {
		goto fail;
	}
	if (o->verbosity >= 0)
		jrn_say(0, "partition drop: partition %ld of %ld: %lld customer%s%s", p, n,
			(long long)ids, ids == 1 ? "" : "s", o->dry_run ? " (dry run, nothing deleted)" : " deleted");
	admin_print(counts); /* a write error: admin_finish */
	return JRN_EXIT_OK;
fail:
	jv_free(counts);
	jrn_db_rollback(db);
	return jrn_say(JRN_EXIT_FAIL, "partition drop: %s", e.msg);
}

/* ---- the verb ---------------------------------------------------------------------- */

/* Checks the operands and flags of the form sub takes; P into *p. -1 to
 * go on, or the usage status (said). */
static int check_form(const char *sub, const jrn_opts *o, const part_flags *f, int nops,
		      char **ops, long *p)
{
	bool moves = sub && strcmp(sub, "import") != 0;
	if (!sub) {
		if (!f->of || f->output || o->dry_run)
			goto usage;
		return -1;
	}
	if (f->field || (strcmp(sub, "export") == 0) != (f->output != NULL) || nops != 2 ||
	    (moves && !f->of) || (!moves && f->of))
		goto usage;
	if (moves && (*p = number(ops[1], 0, PART_MAX - 1)) < 0)
		return jrn_say(JRN_EXIT_USAGE, "partition %s: P '%s': expected a partition number",
			       sub, ops[1]);
	if (f->output && !strcmp(f->output, "-"))
		return jrn_say(JRN_EXIT_USAGE, "partition export: -o -: export writes a new state"
			       " file, not standard output");
	if (moves && *p >= f->of)
		return jrn_say(JRN_EXIT_USAGE, "partition %s: P %ld: expected less than --of %ld", sub,
			       *p, f->of);
	return -1;
usage:
	if (!sub && !f->of)
		jrn_say(0, "partition: --of N is required");
	else if (sub && moves && !f->of)
		jrn_say(0, "partition %s: --of N is required (the log's partition count)", sub);
	else if (sub && !strcmp(sub, "export") && !f->output)
		jrn_say(0, "partition export: -o FILE is required (the new state file)");
	else if (sub && nops != 2)
		jrn_say(0, "partition %s: expected one %s", sub, moves ? "partition P" : "FILE");
	else if (sub)
		jrn_say(0, "partition %s: %s is not an option of this form", sub,
			f->field ? "--field" : f->output ? "-o" : "--of");
	fputs(partition_usage, stderr);
	return JRN_EXIT_USAGE;
}

/* Whether the operand s reads as a mistyped subcommand (lower-case
 * letters alone, "move") rather than a file, and no file has that name. */
static bool word_not_file(const char *s)
{
	if (!*s)
		return false;
	for (const char *c = s; *c; c++)
		if (*c < 'a' || *c > 'z')
			return false;
	return access(s, F_OK) != 0;
}

int verb_partition(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"of", required_argument, NULL, OPT_OF},
		{"field", required_argument, NULL, OPT_FIELD},
		{"output", required_argument, NULL, 'o'},
		{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	signal(SIGPIPE, SIG_IGN);
	part_flags f = {0};
	jrn_opts o;
	sqlite3 *db = NULL;
	long p = 0;
	/* "export -1": getopt would call -1 an unknown option */
	for (int i = 2; i < argc && strcmp(argv[i - 1], "--"); i++)
		if ((!strcmp(argv[i - 1], "export") || !strcmp(argv[i - 1], "drop")) &&
		    argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9')
			return jrn_say(JRN_EXIT_USAGE, "partition %s: P '%s': expected a partition"
				       " number from 0", argv[i - 1], argv[i]);
	int rc = admin_parse(&o, argc, argv, JRN_COMMON_SHORT "o:", longopts, partition_usage,
			     partition_take, &f);
	const char *sub = rc < 0 && optind < argc ? argv[optind] : NULL;
	if (sub && strcmp(sub, "export") && strcmp(sub, "import") && strcmp(sub, "drop"))
		sub = NULL;
	if (rc < 0)
		rc = check_form(sub, &o, &f, argc - optind, argv + optind, &p);
	if (rc < 0 && (rc = field_path(&f)) == 0)
		rc = -1;
	static const char *const subs[] = {"export", "import", "drop", NULL};
	const char *near = rc < 0 && !sub && optind < argc ? jrn_nearest(argv[optind], subs) : NULL;
	if (rc < 0 && !sub && optind < argc && word_not_file(argv[optind]))
		rc = jrn_say(JRN_EXIT_FAIL, "partition: %s: no such file, nor a subcommand%s%s%s",
			     argv[optind], near ? " (did you mean " : " (export, import, drop",
			     near ? near : "", near ? "?)" : ")");
	if (rc < 0 && !sub)
		rc = filter(&o, &f, argv + optind, argc - optind);
	else if (rc < 0 && (rc = !strcmp(sub, "import") ? admin_open(&o, &db)
			      : admin_open_existing(&o, !strcmp(sub, "export") ? "partition export"
							       : "partition drop", &db)) == 0)
		rc = !strcmp(sub, "export") ? part_export(db, &o, p, f.of, f.output)
		     : !strcmp(sub, "import") ? part_import(db, &o, argv[optind + 1], argc - optind,
							      argv + optind)
					      : part_drop(db, &o, p, f.of, argv + optind);
	sqlite3_close(db);
	jrn_opts_free(&o);
	free(f.path);
	return rc;
}
