/*
 * privacy.c: `jrn privacy`: a customer's data, for a data-portability
 * request (GDPR art. 20), and its erasure (art. 17).
 *
 *   jrn privacy export CUSTOMER           one JSON document on stdout
 *   jrn privacy erase [--dry-run] [--spool DIR] CUSTOMER
 *
 * Both work on the scope lib/privacy.c builds: the customer, every id
 * linked to it, their e-mail addresses and phone numbers (privacy.h's top
 * comment). erase removes or anonymises every row that names them in one
 * transaction (each table through the module that owns it), with PRAGMA
 * secure_delete on so freed pages keep no bytes, leaves their keyed
 * hashes in erasures, writes one audit row naming no personal data,
 * deletes the spool files of their sends, and checkpoints the WAL. An
 * unknown customer is an error (exit 1, "no such customer") for both.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "privacy.h"
#include "profile.h"
#include "reach.h"
#include "verbs.h"

static const char privacy_usage[] =
	"usage: jrn privacy export CUSTOMER\n"
	"       jrn privacy erase [--dry-run] [--spool DIR] CUSTOMER\n"
	"export writes everything the state file holds about CUSTOMER and every\n"
	"id linked to it as one JSON document (one line) on stdout. erase removes\n"
	"or anonymises it all in one transaction, keeps only keyed hashes so that\n"
	"old data ingested again is rejected and sends are suppressed (\"erased\"),\n"
	"and deletes the spool files of its sends. --dry-run prints the counts and\n"
	"writes nothing. An unknown CUSTOMER is an error (exit 1).\n";

enum { OPT_SPOOL = JRN_OPT_TOOL_BASE };

typedef struct {
	const char *spool;
} privacy_flags;

static int privacy_take(void *ctx, int c, const char *arg)
{
	privacy_flags *f = ctx;
	if (c != OPT_SPOOL)
		return -2;
	f->spool = arg;
	return 0;
}

/* ---- the scope, from the config ------------------------------------------------- */

/* Builds the scope of customer with the config's region and contact field
 * names (ingest.defaultCountry, ingest.emailFields, ingest.phoneFields). */
static int scope_of(sqlite3 *db, const jrn_opts *o, const char *customer,
		    jrn_privacy_scope_info *info, jrn_err *e)
{
	jv keep = jv_array();
	jv country = jrn_config_get(o->config, "ingest.defaultCountry");
	const char *region = jv_get_kind(country) == JV_KIND_STRING ? jv_string_value(country) : "US";
	const char *fields[33] = {0};
	size_t nf = 0;
	static const char *const lists[] = {"ingest.emailFields", "ingest.phoneFields"};
	for (size_t l = 0; l < 2; l++) {
		jv list = jrn_config_get(o->config, lists[l]);
		if (jv_get_kind(list) == JV_KIND_ARRAY)
			jv_array_foreach(list, i, name) {
				if (jv_get_kind(name) == JV_KIND_STRING && nf < 32) {
					keep = jv_array_append(keep, jv_copy(name));
					fields[nf++] = jv_string_value(name);
				}
				jv_free(name);
			}
		jv_free(list);
	}
	int rc = jrn_privacy_scope(db, customer, region, fields, info, e);
	jv_free(country);
	jv_free(keep);
	return rc;
}

/* ---- export ------------------------------------------------------------------------ */

#define IDS "(SELECT v FROM temp.jrn_erase_ids)"
#define VALS "(SELECT v FROM temp.jrn_erase_vals)"
#define DELIVERY_KEYS                                                                        \
	"(SELECT key FROM deliveries WHERE customer_id IN " IDS " OR (json_valid(record) AND" \
	" (json_extract(record, '$.recipientEmail') IN " VALS " OR"                            \
	" json_extract(record, '$.recipientPhone') IN " VALS ")))"

static const char *const sections[][2] = {
	{"profiles", "SELECT * FROM profiles WHERE customer_id IN " IDS},
	{"identities", "SELECT * FROM identities WHERE customer_id IN " IDS " OR value IN " VALS},
	{"merges", "SELECT * FROM merges WHERE from_id IN " IDS " OR into_id IN " IDS " ORDER BY id"},
	{"events", "SELECT * FROM events WHERE customer_id IN " IDS " ORDER BY ts, seq"},
	{"consent", "SELECT * FROM consent WHERE customer_id IN " IDS},
	{"suppressions", "SELECT * FROM suppressions WHERE address IN " VALS},
	{"scores", "SELECT * FROM scores WHERE customer_id IN " IDS},
	{"rfmSnapshots", "SELECT * FROM rfm_snapshots WHERE customer_id IN " IDS " ORDER BY taken"},
	{"segmentMembers", "SELECT * FROM segment_members WHERE customer_id IN " IDS},
	{"segmentSnapshots", "SELECT * FROM segment_snapshots WHERE customer_id IN " IDS},
	{"deliveries", "SELECT * FROM deliveries WHERE key IN " DELIVERY_KEYS " ORDER BY seq"},
	{"outbox", "SELECT * FROM outbox WHERE key IN " DELIVERY_KEYS},
	{"sourceCache", "SELECT * FROM source_cache WHERE customer_id IN " IDS},
	{"routeDecisions", "SELECT * FROM route_decisions WHERE customer_id IN " IDS " ORDER BY seq"},
	{"aiCache", "SELECT lower(hex(key)) AS key, task, model, prompt_version, customer_id, output,"
		    " tokens, cost, created_at, expires_at FROM ai_cache WHERE customer_id IN " IDS
		    " ORDER BY created_at, key"},
	{"enrollments", "SELECT * FROM enrollments WHERE customer_id IN " IDS " ORDER BY id"},
	{"enrollmentLog", "SELECT l.* FROM enrollment_log l JOIN enrollments n ON n.id = l.enrollment"
			  " WHERE n.customer_id IN " IDS " ORDER BY l.enrollment, l.seq"},
	{"audit", "SELECT * FROM audit WHERE jrn_names(args) ORDER BY seq"},
};

/* Columns that hold JSON text: exported as the value they hold. */
static bool json_column(const char *name)
{
	static const char *const cols[] = {"body", "record", "traits", "provenance", "moved",
					   "args", "counts", "trigger_event", "wait_events",
					   "detail", "output"};
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		if (!strcmp(name, cols[i]))
			return true;
	return false;
}

/* The current row of st as an object, column name to value. */
static jv row_object(sqlite3_stmt *st)
{
	jv row = jv_object();
	for (int c = 0; c < sqlite3_column_count(st); c++) {
		const char *name = sqlite3_column_name(st, c);
		jv v;
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_INTEGER:
			v = jv_number((double)sqlite3_column_int64(st, c));
			break;
		case SQLITE_FLOAT:
			v = jv_number(sqlite3_column_double(st, c));
			break;
		case SQLITE_NULL:
			v = jv_null();
			break;
		default: {
			const char *t = (const char *)sqlite3_column_text(st, c);
			size_t n = (size_t)sqlite3_column_bytes(st, c);
			v = json_column(name) ? jrn_parse_value(t, n, NULL) : jv_invalid();
			if (!jv_is_valid(v)) {
				jv_free(v);
				v = jv_string_sized(t, (int)n);
			}
		}
		}
		row = jv_object_set(row, jv_string(name), v);
	}
	return row;
}

/* Writes b to stdout and empties it (a write error: admin_finish). */
static void flush(jrn_buf *b)
{
	if (b->len)
		admin_write(b->p, b->len);
	jrn_buf_reset(b);
}

/* Streams the sections, one row at a time (memory flat in the rows). */
static int export_sections(sqlite3 *db, jrn_buf *b, jrn_err *e)
{
	for (size_t s = 0; s < sizeof sections / sizeof *sections; s++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sections[s][1], -1, &st, NULL) != SQLITE_OK)
			return jrn_fail(e, "%s: %s", sections[s][0], sqlite3_errmsg(db));
		jrn_buf_addf(b, ",\"%s\":[", sections[s][0]);
		int rc = SQLITE_DONE, n = 0;
		/* the output's end (EPIPE, a write error) stops the rows */
		while (!admin_gone() && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n++)
				jrn_buf_addc(b, ',');
			if (jrn_json_append(b, row_object(st), 0, e) < 0) {
				sqlite3_finalize(st);
				return -1;
			}
			flush(b);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW)
			return jrn_fail(e, "%s: %s", sections[s][0], sqlite3_errmsg(db));
		jrn_buf_addc(b, ']');
	}
	return 0;
}

/* The ids and addresses of the scope as two arrays. */
static jv scope_lists(sqlite3 *db)
{
	jv out = jv_object();
	static const char *const q[][2] = {
		{"ids", "SELECT v FROM temp.jrn_erase_ids ORDER BY v"},
		{"addresses", "SELECT v FROM temp.jrn_erase_addrs ORDER BY v"},
	};
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st;
		jv a = jv_array();
		if (sqlite3_prepare_v2(db, q[i][1], -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				a = jv_array_append(a, jv_string_sized((const char *)sqlite3_column_text(st, 0),
								       sqlite3_column_bytes(st, 0)));
			sqlite3_finalize(st);
		}
		out = jv_object_set(out, jv_string(q[i][0]), a);
	}
	return out;
}

static bool erased_before(sqlite3 *db, const char *customer);

static int privacy_export(sqlite3 *db, const jrn_opts *o, const char *customer)
{
	jrn_err e;
	jrn_privacy_scope_info info;
	jrn_buf b = {0};
	/* one read transaction: a consistent snapshot of every table */
	if (jrn_db_exec(db, "BEGIN", &e) < 0 || scope_of(db, o, customer, &info, &e) < 0)
		goto fail;
	if (!info.known) {
		jrn_db_rollback(db);
		return jrn_say(JRN_EXIT_FAIL, "privacy export: %s: no such customer%s", customer,
			       erased_before(db, customer) ? " (erased already)" : "");
	}
	char now[32];
	size_t nn = jrn_time_format(jrn_now(), now);
	jv head = jv_object_merge(JV_OBJECT(jv_string("customerId"), jv_string(customer),
					    jv_string("exportedAt"), jv_string_sized(now, (int)nn)),
				  scope_lists(db));
	if (jrn_json_append(&b, head, 0, &e) < 0)
		goto fail;
	b.p[--b.len] = '\0'; /* reopen the object */
	if (export_sections(db, &b, &e) < 0)
		goto fail;
	jrn_buf_adds(&b, "}\n");
	if (!b.p) {
		jrn_fail(&e, "out of memory");
		goto fail;
	}
	flush(&b);
	jrn_buf_free(&b);
	jrn_db_rollback(db);
	if (o->verbosity > 0)
		jrn_say(0, "privacy export: %lld ids, %lld addresses", (long long)info.ids,
			(long long)info.addrs);
	return JRN_EXIT_OK;
fail:
	jrn_buf_free(&b);
	jrn_db_rollback(db);
	return jrn_say(JRN_EXIT_FAIL, "privacy export: %s", e.msg);
}

/* ---- erase: the spool ------------------------------------------------------------- */

/* The spool directory: --spool, send.spool of the config (relative to the
 * config's directory), else "spool" beside the state file (jrn-send(1)). */
static char *spool_dir(const jrn_opts *o, const char *flag)
{
	jrn_buf b = {0};
	jv sd = jrn_config_get(o->config, "send.spool");
	const char *base = NULL, *name = "spool";
	if (flag) {
		name = flag;
	} else if (jv_get_kind(sd) == JV_KIND_STRING) {
		name = jv_string_value(sd);
		base = o->config_path;
	} else {
		base = o->db_path;
	}
	const char *slash = base && name[0] != '/' ? strrchr(base, '/') : NULL;
	if (slash)
		jrn_buf_add(&b, base, (size_t)(slash - base) + 1);
	jrn_buf_adds(&b, name);
	jv_free(sd);
	return b.p;
}

/* Whether file name of dir (open) is the customer's: named by the hash of
 * a deleted delivery's key (keyhashes, a string of 32-char hashes), or
 * its text names a value (jrn_names). -1 on a read error. */
static int spool_file_names(int dirfd, const char *name, const char *keyhashes,
			    sqlite3_stmt *names_st)
{
	const char *dot = strrchr(name, '.');
	if (dot && dot - name == 32 && (!strcmp(dot, ".eml") || !strcmp(dot, ".json"))) {
		for (const char *k = keyhashes; *k; k += 32)
			if (!memcmp(k, name, 32))
				return 1;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	jrn_buf text = {0};
	char chunk[65536];
	ssize_t k;
	while ((k = read(fd, chunk, sizeof chunk)) > 0)
		jrn_buf_add(&text, chunk, (size_t)k);
	close(fd);
	if (k < 0) {
		jrn_buf_free(&text);
		return -1;
	}
	sqlite3_reset(names_st);
	sqlite3_bind_text64(names_st, 1, text.p ? text.p : "", text.len, SQLITE_STATIC, SQLITE_UTF8);
	int hit = sqlite3_step(names_st) == SQLITE_ROW && sqlite3_column_int(names_st, 0);
	sqlite3_reset(names_st);
	jrn_buf_free(&text);
	return hit;
}

/* The customer's spool files (names appended to *files, an array). */
static int spool_scan(sqlite3 *db, const char *dir, jv keys, jv *files, jrn_err *e)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : jrn_fail(e, "%s: %s", dir, strerror(errno));
	jrn_buf hashes = {0};
	jv_array_foreach(keys, i, k) {
		char hex[65];
		if (jrn_sha256_hex(jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)),
				   hex) == 0)
			jrn_buf_add(&hashes, hex, 32);
		jv_free(k);
	}
	jrn_buf_addc(&hashes, '\0');
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT jrn_names(?)", -1, &st, NULL) == SQLITE_OK
			 ? 0
			 : jrn_fail(e, "%s", sqlite3_errmsg(db));
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		int hit = spool_file_names(dirfd(d), de->d_name, hashes.p ? hashes.p : "", st);
		if (hit < 0)
			rc = jrn_fail(e, "%s/%s: %s", dir, de->d_name, strerror(errno));
		else if (hit)
			*files = jv_array_append(*files, jv_string(de->d_name));
	}
	sqlite3_finalize(st);
	closedir(d);
	jrn_buf_free(&hashes);
	return rc;
}

/* ---- erase ------------------------------------------------------------------------- */

/* Every table's rows, through the module that owns it. */
static int erase_rows(sqlite3 *db, jv *counts, jv *keys, jrn_err *e)
{
	unsigned char key[JRN_PRIVACY_KEY_BYTES];
	if (jrn_reach_erase(db, counts, e) < 0 || jrn_ledger_erase(db, counts, keys, e) < 0 ||
	    jrn_profile_erase(db, counts, e) < 0 || jrn_privacy_erase_rest(db, counts, e) < 0 ||
	    jrn_privacy_key(db, true, key, e) < 0)
		return -1;
	int64_t n = jrn_privacy_record(db, key, jrn_now(), e);
	memset(key, 0, sizeof key);
	if (n < 0)
		return -1;
	jrn_privacy_count_add(counts, "erasures", n);
	return 0;
}

/* Whether customer's hash is in erasures already (for the message). */
static bool erased_before(sqlite3 *db, const char *customer)
{
	jrn_err e;
	jrn_privacy *P = jrn_privacy_open(db, &e);
	bool was = P && jrn_privacy_erased(P, customer, strlen(customer)) == 1;
	jrn_privacy_close(P);
	return was;
}

/* Deletes the spool files (files: names, consumed); the number deleted,
 * or -1 (said). */
static int spool_delete(const char *dir, jv files)
{
	int n = 0, failed = 0;
	jv_array_foreach(files, i, f) {
		jrn_buf p = {0};
		jrn_buf_addf(&p, "%s/%s", dir, jv_string_value(f));
		if (p.p && unlink(p.p) == 0)
			n++;
		else if (errno != ENOENT)
			failed = jrn_say(-1, "privacy erase: %s: %s", p.p ? p.p : dir, strerror(errno));
		jrn_buf_free(&p);
		jv_free(f);
	}
	jv_free(files);
	return failed ? -1 : n;
}

static int privacy_erase(sqlite3 *db, const jrn_opts *o, const char *customer, const char *spool)
{
	jrn_err e;
	jrn_privacy_scope_info info;
	jv counts = jv_object(), keys = jv_array(), files = jv_array();
	char *dir = spool_dir(o, spool);
	int status = JRN_EXIT_FAIL;
	if (jrn_db_exec(db, "PRAGMA secure_delete = ON", &e) < 0 || jrn_db_begin(db, &e) < 0 ||
	    scope_of(db, o, customer, &info, &e) < 0)
		goto fail;
	if (!info.known) {
		jrn_db_rollback(db);
		jrn_say(JRN_EXIT_FAIL, "privacy erase: %s: no such customer%s", customer,
			erased_before(db, customer) ? " (erased already)" : "");
		goto out;
	}
	jrn_privacy_count_add(&counts, "ids", info.ids);
	jrn_privacy_count_add(&counts, "addresses", info.addrs);
	jrn_privacy_count_add(&counts, "shared", info.shared);
	if (erase_rows(db, &counts, &keys, &e) < 0 ||
	    (dir && spool_scan(db, dir, keys, &files, &e) < 0))
		goto fail;
	jrn_privacy_count_add(&counts, "spool", jv_array_length(jv_copy(files)));
	if (!o->dry_run) {
		unsigned char key[JRN_PRIVACY_KEY_BYTES];
		char hex[65], *args[] = {"erase", hex};
		if (jrn_privacy_key(db, false, key, &e) < 0 ||
		    jrn_privacy_hash(key, customer, strlen(customer), hex) < 0 ||
		    admin_audit(db, "privacy erase", 2, args, jv_copy(counts), &e) < 0 ||
		    jrn_db_commit(db, &e) < 0)
			goto fail;
		memset(key, 0, sizeof key);
		if (dir && spool_delete(dir, jv_copy(files)) < 0)
			goto out;
		/* the WAL holds the pages as they were until a checkpoint */
		if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
		    SQLITE_OK)
			jrn_say(0, "privacy erase: the WAL could not be checkpointed (%s): it keeps old"
				" pages until the next checkpoint", sqlite3_errmsg(db));
	} else {
		jrn_db_rollback(db);
	}
	admin_print(jv_copy(counts)); /* a write error: admin_finish */
	status = JRN_EXIT_OK;
	if (o->verbosity >= 0)
		jrn_say(0, "privacy erase: %lld ids, %lld addresses erased%s", (long long)info.ids,
			(long long)info.addrs, o->dry_run ? " (dry run, nothing saved)" : "");
	goto out;
fail:
	jrn_db_rollback(db);
	jrn_say(JRN_EXIT_FAIL, "privacy erase: %s", e.msg);
out:
	jv_free(counts);
	jv_free(keys);
	jv_free(files);
	free(dir);
	return status;
}

int verb_privacy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
		{"spool", required_argument, NULL, OPT_SPOOL},
		JRN_COMMON_LONG,
		{NULL, 0, NULL, 0},
	};
	privacy_flags f = {0};
	jrn_opts o;
	sqlite3 *db = NULL;
	int rc = admin_parse(&o, argc, argv, JRN_COMMON_SHORT, longopts, privacy_usage,
			     privacy_take, &f);
	const char *sub = rc < 0 && optind < argc ? argv[optind] : NULL;
	bool export = sub && !strcmp(sub, "export");
	static const char *const subs[] = {"export", "erase", NULL};
	if (rc < 0 && (!sub || (!export && strcmp(sub, "erase")) || optind + 2 != argc ||
		       (export && (o.dry_run || f.spool))))
		rc = admin_bad_sub("privacy", sub, subs, privacy_usage);
	jrn_err e;
	const char *customer = rc < 0 ? argv[optind + 1] : NULL;
	if (customer && jrn_id_check(customer, strlen(customer), "CUSTOMER", &e) < 0)
		rc = jrn_say(JRN_EXIT_USAGE, "privacy %s: %s", sub, e.msg);
	if (rc < 0 && (rc = admin_open_existing(&o, export ? "privacy export" : "privacy erase", &db)) == 0)
		rc = export ? privacy_export(db, &o, customer) : privacy_erase(db, &o, customer, f.spool);
	sqlite3_close(db);
	jrn_opts_free(&o);
	return rc;
}
