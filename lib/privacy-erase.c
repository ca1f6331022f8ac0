/* privacy-erase.c: the scope of one `jrn privacy export|erase` (the
 * customer's linked ids and addresses, in temporary tables), the SQL
 * functions jrn_names and jrn_scrub over it, the rows no other module
 * owns, and the erasures rows. The rules are in privacy.h's top comment. */
#include <stdlib.h>
#include <string.h>

#include "privacy.h"

/* An address shorter than this is not one (a@b.c has 5 bytes; E.164 more). */
#define ADDR_MIN 5

typedef struct {
	char *p, *q; /* the value; its JSON string form (quoted, escaped) */
	size_t n, qn;
	bool addr;   /* an address: also matched inside a longer string */
} value;

typedef struct {
	value *v;
	size_t n;
} scope;

static void scope_free(void *p)
{
	scope *S = p;
	if (!S)
		return;
	for (size_t i = 0; i < S->n; i++) {
		free(S->v[i].p);
		free(S->v[i].q);
	}
	free(S->v);
	free(S);
}

/* ---- matching and scrubbing ---------------------------------------------------- */

/* The index of the value s[0..n) equals, or -1. */
static long equal_to(const scope *S, const char *s, size_t n)
{
	for (size_t i = 0; i < S->n; i++)
		if (S->v[i].n == n && !memcmp(S->v[i].p, s, n))
			return (long)i;
	return -1;
}

/* A byte that would continue an address (so that ann@example.com is
 * not found inside joann@example.com or ann@example.com.au). */
static bool addr_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80;
}

/* The first place at or after from where v (an address) stands in s[0..n)
 * as a whole (no address byte before it; none after it but a final '.'),
 * or NULL. */
static const char *find_addr(const char *s, size_t n, size_t from, const value *v)
{
	while (from < n) {
		const char *hit = memmem(s + from, n - from, v->p, v->n);
		if (!hit)
			return NULL;
		size_t at = (size_t)(hit - s), end = at + v->n;
		bool before = at > 0 && addr_byte((unsigned char)s[at - 1]);
		bool after = end < n && addr_byte((unsigned char)s[end]) &&
			     !(s[end] == '.' && (end + 1 == n || !addr_byte((unsigned char)s[end + 1])));
		if (!before && !after)
			return hit;
		from = at + 1;
	}
	return NULL;
}

/* Whether s[0..n) holds an address. */
static bool holds_addr(const scope *S, const char *s, size_t n)
{
	for (size_t i = 0; i < S->n; i++)
		if (S->v[i].addr && find_addr(s, n, 0, &S->v[i]))
			return true;
	return false;
}

/* s[0..n) with every address in it replaced by JRN_PRIVACY_ERASED, into b. */
static int replace_addrs(const scope *S, const char *s, size_t n, jrn_buf *b)
{
	size_t at = 0;
	while (at < n) {
		size_t best = n, len = 0;
		for (size_t i = 0; i < S->n; i++) {
			if (!S->v[i].addr)
				continue;
			const char *hit = find_addr(s, n, at, &S->v[i]);
			if (hit && (size_t)(hit - s) < best)
				best = (size_t)(hit - s), len = S->v[i].n;
		}
		if (jrn_buf_add(b, s + at, best - at) < 0)
			return -1;
		if (best == n)
			break;
		if (jrn_buf_adds(b, JRN_PRIVACY_ERASED) < 0)
			return -1;
		at = best + len;
	}
	return b->p || jrn_buf_addc(b, '\0') == 0 ? 0 : -1;
}

/* A string as scrubbed (consumed); *changed set when it changed. */
static jv scrub_string(const scope *S, jv s, bool *changed)
{
	const char *p = jv_string_value(s);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	if (equal_to(S, p, n) >= 0) {
		jv_free(s);
		*changed = true;
		return jv_string(JRN_PRIVACY_ERASED);
	}
	if (!holds_addr(S, p, n))
		return s;
	jrn_buf b = {0};
	if (replace_addrs(S, p, n, &b) < 0) {
		jrn_buf_free(&b);
		return s;
	}
	jv_free(s);
	*changed = true;
	jv r = jv_string_sized(b.p, (int)b.len);
	jrn_buf_free(&b);
	return r;
}

/* v (consumed) with every string (keys too) scrubbed. */
static jv scrub_jv(const scope *S, jv v, bool *changed)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		return scrub_string(S, v, changed);
	case JV_KIND_ARRAY: {
		int n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n; i++) {
			bool c = false;
			jv x = scrub_jv(S, jv_array_get(jv_copy(v), i), &c);
			if (c) {
				*changed = true;
				v = jv_array_set(v, i, x);
			} else {
				jv_free(x);
			}
		}
		return v;
	}
	case JV_KIND_OBJECT: {
		bool any = false;
		jv out = jv_object();
		jv_object_foreach(v, k, x) {
			bool c = false;
			k = scrub_string(S, k, &c);
			x = scrub_jv(S, x, &c);
			any |= c;
			out = jv_object_set(out, k, x);
		}
		if (!any) {
			jv_free(out);
			return v;
		}
		jv_free(v);
		*changed = true;
		return out;
	}
	default:
		return v;
	}
}

/* Whether text names a value: an id as a whole JSON string, an address
 * anywhere; text with escapes is parsed and walked. */
static bool names(const scope *S, const char *t, size_t n)
{
	if (holds_addr(S, t, n))
		return true;
	for (size_t i = 0; i < S->n; i++)
		if (memmem(t, n, S->v[i].q, S->v[i].qn))
			return true;
	if (!memchr(t, '\\', n))
		return false;
	jv v = jrn_parse_value(t, n, NULL);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return false;
	}
	bool changed = false;
	jv_free(scrub_jv(S, v, &changed));
	return changed;
}

static void sql_names(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const scope *S = sqlite3_user_data(cx);
	const char *t = (const char *)sqlite3_value_text(argv[0]);
	size_t n = (size_t)sqlite3_value_bytes(argv[0]);
	sqlite3_result_int(cx, t && names(S, t, n));
}

static void sql_scrub(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const scope *S = sqlite3_user_data(cx);
	const char *t = (const char *)sqlite3_value_text(argv[0]);
	size_t n = (size_t)sqlite3_value_bytes(argv[0]);
	if (!t) {
		sqlite3_result_null(cx);
		return;
	}
	jrn_buf b = {0};
	jrn_err e;
	jv v = jrn_parse_value(t, n, NULL);
	int rc;
	if (jv_is_valid(v)) {
		bool changed = false;
		rc = jrn_json_append(&b, scrub_jv(S, v, &changed), 0, &e);
	} else {
		jv_free(v);
		rc = replace_addrs(S, t, n, &b);
	}
	if (rc < 0 || !b.p) {
		jrn_buf_free(&b);
		sqlite3_result_error_nomem(cx);
		return;
	}
	sqlite3_result_text64(cx, b.p, b.len, free, SQLITE_UTF8);
}

/* ---- the scope --------------------------------------------------------------------- */

static const char sql_tables[] =
	"PRAGMA temp_store = MEMORY;"
	"CREATE TEMP TABLE IF NOT EXISTS jrn_erase_ids (v TEXT PRIMARY KEY);"
	"CREATE TEMP TABLE IF NOT EXISTS jrn_erase_addrs (v TEXT PRIMARY KEY);"
	"CREATE TEMP TABLE IF NOT EXISTS jrn_erase_vals (v TEXT PRIMARY KEY);"
	"DELETE FROM temp.jrn_erase_ids; DELETE FROM temp.jrn_erase_addrs;"
	"DELETE FROM temp.jrn_erase_vals;";

#define IDS "(SELECT v FROM temp.jrn_erase_ids)"

/* One round of links, both ways; run until nothing is added. */
static const char *const sql_links[] = {
	"INSERT OR IGNORE INTO temp.jrn_erase_ids SELECT customer_id FROM identities"
	" WHERE kind = 'id' AND value IN " IDS,
	"INSERT OR IGNORE INTO temp.jrn_erase_ids SELECT value FROM identities"
	" WHERE kind = 'id' AND customer_id IN " IDS,
	"INSERT OR IGNORE INTO temp.jrn_erase_ids SELECT into_id FROM merges"
	" WHERE undone_at IS NULL AND from_id IN " IDS,
	"INSERT OR IGNORE INTO temp.jrn_erase_ids SELECT from_id FROM merges"
	" WHERE undone_at IS NULL AND into_id IN " IDS,
};

static const char *const sql_addrs[] = {
	"INSERT OR IGNORE INTO temp.jrn_erase_addrs SELECT email FROM profiles"
	" WHERE customer_id IN " IDS " AND length(email) >= 5",
	"INSERT OR IGNORE INTO temp.jrn_erase_addrs SELECT phone FROM profiles"
	" WHERE customer_id IN " IDS " AND length(phone) >= 5",
	"INSERT OR IGNORE INTO temp.jrn_erase_addrs SELECT value FROM identities"
	" WHERE kind IN ('email', 'phone') AND customer_id IN " IDS " AND length(value) >= 5",
};

/* The string values under contact keys of the linked ids' rows. */
static const char *const sql_contact_values[] = {
	"SELECT t.key, t.value FROM events e, json_tree(e.body) t WHERE e.customer_id IN " IDS
	" AND json_valid(e.body) AND t.type = 'text'",
	"SELECT t.key, t.value FROM deliveries d, json_tree(d.record) t WHERE d.customer_id IN " IDS
	" AND json_valid(d.record) AND t.type = 'text'",
	/* a deferred action's record (for a customer only the gate has
	 * seen, the one place her address is) */
	"SELECT t.key, t.value FROM route_decisions r, json_tree(r.body) t WHERE r.customer_id IN " IDS
	" AND r.body IS NOT NULL AND json_valid(r.body) AND t.type = 'text'",
};

static const char sql_shared[] =
	"DELETE FROM temp.jrn_erase_addrs WHERE v IN (SELECT email FROM profiles"
	" WHERE email IS NOT NULL AND customer_id NOT IN " IDS ") OR v IN (SELECT phone FROM"
	" profiles WHERE phone IS NOT NULL AND customer_id NOT IN " IDS ") OR v IN (SELECT value"
	" FROM identities WHERE kind IN ('email', 'phone') AND customer_id NOT IN " IDS ")";

static const char sql_known[] =
	"SELECT CASE WHEN EXISTS (SELECT 1 FROM events WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM profiles WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM identities WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM consent WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM scores WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM rfm_snapshots WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM segment_members WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM segment_snapshots WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM deliveries WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM source_cache WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM enrollments WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM ai_cache WHERE customer_id IN " IDS ")"
	" OR EXISTS (SELECT 1 FROM merges WHERE from_id IN " IDS " OR into_id IN " IDS ")"
	/* then, only when none of those names her (CASE is lazy where an
	 * OR of EXISTS runs every one), a customer the gate alone has seen
	 * (actions piped from a script): past the sends' index, a scan */
	" THEN 1 WHEN EXISTS (SELECT 1 FROM route_decisions WHERE customer_id IN " IDS ")"
	" THEN 1 ELSE 0 END";

static int64_t one_int(sqlite3 *db, const char *sql, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int64_t v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		jrn_fail(e, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

/* Runs sql (no result rows) and returns the rows it changed, or -1 with e. */
static int64_t run(sqlite3 *db, const char *sql, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return sqlite3_changes64(db);
}

static bool ends_with(const char *k, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n >= m && !memcmp(k + n - m, suffix, m);
}

static bool contact_key(const char *k, const char *const *fields)
{
	size_t n = strlen(k);
	if (!strcmp(k, "email") || !strcmp(k, "phone") || ends_with(k, n, "Email") ||
	    ends_with(k, n, "Phone"))
		return true;
	for (size_t i = 0; fields && fields[i]; i++)
		if (!strcmp(k, fields[i]))
			return true;
	return false;
}

/* Inserts s into temp table (a name) with st (prepared "INSERT ... (?)"). */
static int put(sqlite3 *db, sqlite3_stmt *st, const char *s, size_t n, jrn_err *e)
{
	sqlite3_reset(st);
	sqlite3_bind_text64(st, 1, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
	if (sqlite3_step(st) != SQLITE_DONE)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return 0;
}

/* The contact values of the ids' events and deliveries into the addresses. */
static int contact_values(sqlite3 *db, const char *const *fields, jrn_err *e)
{
	sqlite3_stmt *ins = NULL, *st = NULL;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO temp.jrn_erase_addrs VALUES (?)", -1, &ins,
			       NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = 0;
	for (size_t q = 0; rc == 0 && q < sizeof sql_contact_values / sizeof *sql_contact_values; q++) {
		if (sqlite3_prepare_v2(db, sql_contact_values[q], -1, &st, NULL) != SQLITE_OK) {
			rc = jrn_fail(e, "%s", sqlite3_errmsg(db));
			break;
		}
		int s;
		while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(st, 0);
			const char *v = (const char *)sqlite3_column_text(st, 1);
			size_t vn = (size_t)sqlite3_column_bytes(st, 1);
			if (k && v && vn >= ADDR_MIN && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
			    contact_key(k, fields))
				rc = put(db, ins, v, vn, e);
		}
		if (rc == 0 && s != SQLITE_DONE)
			rc = jrn_fail(e, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		st = NULL;
	}
	sqlite3_finalize(ins);
	return rc;
}

/* The normal form of each address stored otherwise, into the addresses. */
static int normal_forms(sqlite3 *db, const char *region, jrn_err *e)
{
	sqlite3_stmt *ins = NULL, *st = NULL;
	jrn_buf norm = {0};
	int rc = 0;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO temp.jrn_erase_addrs VALUES (?)", -1, &ins,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT v FROM temp.jrn_erase_addrs", -1, &st, NULL) != SQLITE_OK)
		rc = jrn_fail(e, "%s", sqlite3_errmsg(db));
	jv found = jv_array();
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		jrn_buf_reset(&norm);
		int ok = memchr(v, '@', n) ? jrn_email_normalize(v, n, &norm, NULL)
					   : jrn_phone_e164(v, n, region, &norm, NULL);
		if (ok == 0 && norm.p && (norm.len != n || memcmp(norm.p, v, n)))
			found = jv_array_append(found, jv_string_sized(norm.p, (int)norm.len));
	}
	jv_array_foreach(found, i, s) {
		if (rc == 0)
			rc = put(db, ins, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)), e);
		jv_free(s);
	}
	jv_free(found);
	jrn_buf_free(&norm);
	sqlite3_finalize(st);
	sqlite3_finalize(ins);
	return rc;
}

/* Another customer's event holding an address under a contact key: the
 * address is shared (theirs too). Deletes those from the addresses and
 * adds their number to *shared. A scan of the events per address, with
 * instr on its JSON form first. */
static int shared_in_events(sqlite3 *db, const char *const *fields, int64_t *shared, jrn_err *e)
{
	sqlite3_stmt *list = NULL, *find = NULL, *del = NULL;
	jv addrs = jv_array();
	int rc = 0;
	if (sqlite3_prepare_v2(db, "SELECT v FROM temp.jrn_erase_addrs", -1, &list, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT t.key FROM events e, json_tree(e.body) t"
			       " WHERE e.customer_id NOT IN " IDS " AND instr(e.body, ?1) > 0"
			       " AND json_valid(e.body) AND t.type = 'text' AND t.atom = ?2",
			       -1, &find, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM temp.jrn_erase_addrs WHERE v = ?", -1, &del, NULL) !=
		    SQLITE_OK)
		rc = jrn_fail(e, "%s", sqlite3_errmsg(db));
	while (rc == 0 && sqlite3_step(list) == SQLITE_ROW)
		addrs = jv_array_append(addrs, jv_string_sized((const char *)sqlite3_column_text(list, 0),
							       sqlite3_column_bytes(list, 0)));
	jv_array_foreach(addrs, i, a) {
		const char *v = jv_string_value(a);
		size_t n = (size_t)jv_string_length_bytes(jv_copy(a));
		jrn_buf q = {0};
		jrn_json_append_str(&q, v, n);
		bool found = false;
		int s = SQLITE_DONE;
		if (rc == 0 && q.p) {
			sqlite3_reset(find);
			sqlite3_bind_text64(find, 1, q.p, q.len, SQLITE_STATIC, SQLITE_UTF8);
			sqlite3_bind_text64(find, 2, v, n, SQLITE_STATIC, SQLITE_UTF8);
			while (!found && (s = sqlite3_step(find)) == SQLITE_ROW) {
				const char *k = (const char *)sqlite3_column_text(find, 0);
				found = k && sqlite3_column_type(find, 0) == SQLITE_TEXT && contact_key(k, fields);
			}
			if (!found && s != SQLITE_DONE)
				rc = jrn_fail(e, "%s", sqlite3_errmsg(db));
			sqlite3_reset(find);
		}
		if (rc == 0 && found) {
			(*shared)++;
			rc = put(db, del, v, n, e);
		}
		jrn_buf_free(&q);
		jv_free(a);
	}
	jv_free(addrs);
	sqlite3_finalize(list);
	sqlite3_finalize(find);
	sqlite3_finalize(del);
	return rc;
}

/* Reads the values into a scope for the SQL functions and registers them. */
static int register_functions(sqlite3 *db, jrn_err *e)
{
	scope *S = calloc(1, sizeof *S);
	sqlite3_stmt *st = NULL;
	if (!S)
		return jrn_fail(e, "out of memory");
	if (sqlite3_prepare_v2(db, "SELECT v, v IN (SELECT v FROM temp.jrn_erase_addrs)"
			       " FROM temp.jrn_erase_vals", -1, &st, NULL) != SQLITE_OK) {
		scope_free(S);
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	}
	size_t cap = 0;
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (S->n == cap) {
			cap = cap ? cap * 2 : 16;
			value *p = realloc(S->v, cap * sizeof *p);
			if (!p) {
				rc = jrn_fail(e, "out of memory");
				break;
			}
			S->v = p;
		}
		value *v = &S->v[S->n];
		jrn_buf q = {0};
		v->n = (size_t)sqlite3_column_bytes(st, 0);
		v->p = strndup((const char *)sqlite3_column_text(st, 0), v->n);
		v->addr = sqlite3_column_int(st, 1);
		jrn_json_append_str(&q, v->p ? v->p : "", v->n);
		v->q = q.p, v->qn = q.len;
		S->n++;
		if (!v->p || !v->q)
			rc = jrn_fail(e, "out of memory");
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		scope_free(S);
		return -1;
	}
	/* the scope is shared by both functions: jrn_scrub's registration owns it */
	if (sqlite3_create_function_v2(db, "jrn_names", 1, SQLITE_UTF8, S, sql_names, NULL, NULL,
				       NULL) != SQLITE_OK ||
	    sqlite3_create_function_v2(db, "jrn_scrub", 1, SQLITE_UTF8, S, sql_scrub, NULL, NULL,
				       scope_free) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return 0;
}

int jrn_privacy_scope(sqlite3 *db, const char *customer, const char *region,
		      const char *const *fields, jrn_privacy_scope_info *info, jrn_err *e)
{
	*info = (jrn_privacy_scope_info){0};
	sqlite3_stmt *ins = NULL;
	if (jrn_db_exec(db, sql_tables, e) < 0)
		return -1;
	if (sqlite3_prepare_v2(db, "INSERT INTO temp.jrn_erase_ids VALUES (?)", -1, &ins, NULL) !=
	    SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = put(db, ins, customer, strlen(customer), e);
	sqlite3_finalize(ins);
	if (rc < 0)
		return -1;
	for (int64_t added = 1; added > 0;) {
		added = 0;
		for (size_t i = 0; i < sizeof sql_links / sizeof *sql_links; i++) {
			int64_t n = run(db, sql_links[i], e);
			if (n < 0)
				return -1;
			added += n;
		}
		info->ids = one_int(db, "SELECT count(*) FROM temp.jrn_erase_ids", e);
		if (info->ids < 0)
			return -1;
		if (info->ids > JRN_PRIVACY_MAX_IDS)
			return jrn_fail(e, "more than %d linked ids (JRN_PRIVACY_MAX_IDS)",
					JRN_PRIVACY_MAX_IDS);
	}
	for (size_t i = 0; i < sizeof sql_addrs / sizeof *sql_addrs; i++)
		if (run(db, sql_addrs[i], e) < 0)
			return -1;
	if (contact_values(db, fields, e) < 0 || normal_forms(db, region, e) < 0)
		return -1;
	if ((info->shared = run(db, sql_shared, e)) < 0 ||
	    shared_in_events(db, fields, &info->shared, e) < 0 ||
	    (info->addrs = one_int(db, "SELECT count(*) FROM temp.jrn_erase_addrs", e)) < 0 ||
	    run(db, "INSERT OR IGNORE INTO temp.jrn_erase_vals SELECT v FROM temp.jrn_erase_ids"
		    " UNION SELECT v FROM temp.jrn_erase_addrs", e) < 0)
		return -1;
	int64_t known = one_int(db, sql_known, e);
	if (known < 0)
		return -1;
	info->known = known > 0;
	return register_functions(db, e);
}

/* ---- the rows no other module owns ---------------------------------------------- */

typedef struct {
	const char *name, *sql;
} step;

static const step rest[] = {
	{"events", "DELETE FROM events WHERE customer_id IN " IDS},
	{"events.scrubbed", "UPDATE events SET body = jrn_scrub(body) WHERE jrn_names(body)"},
	{"scores", "DELETE FROM scores WHERE customer_id IN " IDS},
	{"scores.scrubbed", "UPDATE scores SET body = jrn_scrub(body) WHERE jrn_names(body)"},
	{"rfm_snapshots", "DELETE FROM rfm_snapshots WHERE customer_id IN " IDS},
	{"segment_members", "DELETE FROM segment_members WHERE customer_id IN " IDS},
	{"segment_snapshots", "DELETE FROM segment_snapshots WHERE customer_id IN " IDS},
	{"source_cache", "DELETE FROM source_cache WHERE customer_id IN " IDS},
	{"route_decisions", "DELETE FROM route_decisions WHERE customer_id IN " IDS},
	/* a deferred action's record (body) of another customer naming hers */
	{"route_decisions.scrubbed",
	 "UPDATE route_decisions SET body = jrn_scrub(body) WHERE body IS NOT NULL AND jrn_names(body)"},
	/* her journeys: the step log first (it names enrollments by id) */
	{"enrollment_log", "DELETE FROM enrollment_log WHERE enrollment IN (SELECT id FROM enrollments"
			   " WHERE customer_id IN " IDS ")"},
	{"enrollments", "DELETE FROM enrollments WHERE customer_id IN " IDS},
	{"enrollments.scrubbed", "UPDATE enrollments SET trigger_event = jrn_scrub(trigger_event)"
				 " WHERE trigger_event IS NOT NULL AND jrn_names(trigger_event)"},
	{"enrollment_log.scrubbed", "UPDATE enrollment_log SET detail = jrn_scrub(detail)"
				    " WHERE detail IS NOT NULL AND jrn_names(detail)"},
	{"source_cache.scrubbed",
	 "UPDATE source_cache SET body = jrn_scrub(body) WHERE body IS NOT NULL AND jrn_names(body)"},
	/* jrn-ai's cached answers about her, and any other answer naming her
	 * (deleted, not scrubbed: a scrubbed answer would be served again) */
	{"ai_cache", "DELETE FROM ai_cache WHERE customer_id IN " IDS " OR jrn_names(output)"},
	{"audit.scrubbed", "UPDATE audit SET args = jrn_scrub(args) WHERE jrn_names(args)"},
};

int jrn_privacy_erase_rest(sqlite3 *db, jv *counts, jrn_err *e)
{
	for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) {
		jrn_err why;
		int64_t n = run(db, rest[i].sql, &why);
		if (n < 0)
			return jrn_fail(e, "%s: %s", rest[i].name, why.msg);
		jrn_privacy_count_add(counts, rest[i].name, n);
	}
	return 0;
}

int64_t jrn_privacy_record(sqlite3 *db, const unsigned char key[JRN_PRIVACY_KEY_BYTES],
			   int64_t ts, jrn_err *e)
{
	sqlite3_stmt *st = NULL, *ins = NULL;
	if (sqlite3_prepare_v2(db, "SELECT v FROM temp.jrn_erase_vals", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO erasures (hash, ts) VALUES (?, ?)", -1,
			       &ins, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
	}
	int64_t added = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char hex[65];
		if (jrn_privacy_hash(key, (const char *)sqlite3_column_text(st, 0),
				     (size_t)sqlite3_column_bytes(st, 0), hex) < 0) {
			added = jrn_fail(e, "cannot compute HMAC-SHA-256 (OpenSSL failed)");
			break;
		}
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, hex, 64, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 2, ts);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			added = jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
			break;
		}
		added += sqlite3_changes(db);
	}
	if (added >= 0 && rc != SQLITE_DONE)
		added = jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_finalize(ins);
	return added;
}
