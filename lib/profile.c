/* profile.c: the profile, identities and merges over the state file; the
 * rules are in profile.h's top comment. Statements are prepared once in
 * jrn_profile_open and reset after each use; none begins a transaction. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "privacy.h"

/* The unified fields: JSON name, column; created_at is a time. */
static const struct {
	const char *name, *col;
} fields[] = {
	{"email", "email"},   {"phone", "phone"},         {"name", "name"},
	{"firstName", "first_name"}, {"locale", "locale"}, {"timeZone", "time_zone"},
	{"country", "country"}, {"createdAt", "created_at"},
};
#define NFIELDS (sizeof fields / sizeof fields[0])
#define CREATED_AT 7

enum {
	S_GET, S_PUT, S_DEL, S_RESOLVE, S_CLAIM, S_CLAIMANTS, S_UNLINK, S_LINK, S_MERGE_ADD,
	S_MERGE_GET, S_MERGE_UNDO, S_UNDONE, S_KNOWN, NSTMT
};

static const char *const sql[NSTMT] = {
	[S_GET] = "SELECT email, phone, name, first_name, locale, time_zone, country, created_at,"
		  " traits, provenance, updated_at FROM profiles WHERE customer_id = ?1",
	[S_PUT] = "INSERT OR REPLACE INTO profiles (customer_id, email, phone, name, first_name,"
		  " locale, time_zone, country, created_at, traits, provenance, updated_at)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_DEL] = "DELETE FROM profiles WHERE customer_id = ?1",
	[S_RESOLVE] = "SELECT customer_id FROM identities WHERE kind = 'id' AND value = ?1",
	[S_CLAIM] = "INSERT OR IGNORE INTO identities (kind, value, customer_id, source, ts)"
		    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_CLAIMANTS] = "SELECT DISTINCT customer_id FROM identities WHERE kind = ?1 AND value = ?2",
	[S_UNLINK] = "DELETE FROM identities WHERE kind = 'id' AND value = ?1",
	[S_LINK] = "INSERT INTO identities (kind, value, customer_id, source, ts)"
		   " VALUES ('id', ?1, ?2, ?3, ?4)",
	[S_MERGE_ADD] = "INSERT INTO merges (from_id, into_id, reason, ts, moved)"
			" VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_MERGE_GET] = "SELECT from_id, into_id, undone_at, moved FROM merges WHERE id = ?1",
	[S_MERGE_UNDO] = "UPDATE merges SET undone_at = ?2 WHERE id = ?1",
	[S_UNDONE] = "SELECT 1 FROM merges WHERE undone_at IS NOT NULL AND"
		     " ((from_id = ?1 AND into_id = ?2) OR (from_id = ?2 AND into_id = ?1))",
	[S_KNOWN] = "SELECT 1 FROM profiles WHERE customer_id = ?1"
		    " UNION ALL SELECT 1 FROM events WHERE customer_id = ?1 LIMIT 1",
};

struct jrn_profile {
	sqlite3 *db;
	sqlite3_stmt *st[NSTMT];
	char **prec; /* sources.precedence, the first the highest */
	size_t nprec;
	int64_t shared_limit;
	char region[3]; /* ingest.defaultCountry, "" when none: phones without + */
	jrn_buf resolved;
	jv_parser *parser; /* stored JSON is read as every tool reads records */
};

static int db_fail(jrn_profile *P, jrn_err *e)
{
	return jrn_fail(e, "%s", sqlite3_errmsg(P->db));
}

static int bind_str(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no row; 0 or -1 with e. Resets it. */
static int run(jrn_profile *P, sqlite3_stmt *st, int bound, jrn_err *e)
{
	int rc = bound == SQLITE_OK ? sqlite3_step(st) : bound;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(P, e);
}

jrn_profile *jrn_profile_open(sqlite3 *db, jv cfg, jrn_err *e)
{
	jrn_profile *P = calloc(1, sizeof *P);
	if (!P) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	P->db = db;
	P->shared_limit = JRN_PROFILE_SHARED_LIMIT;
	for (int i = 0; i < NSTMT; i++)
		if (jrn_db_prepare(db, sql[i], &P->st[i], e) < 0)
			goto fail;
	jv prec = jv_get_kind(cfg) == JV_KIND_OBJECT ? jrn_config_get(cfg, "sources.precedence")
						    : jv_invalid();
	if (jv_is_valid(prec) && jv_get_kind(prec) != JV_KIND_NULL) {
		int n = jv_get_kind(prec) == JV_KIND_ARRAY ? jv_array_length(jv_copy(prec)) : -1;
		P->prec = n > 0 ? calloc((size_t)n, sizeof *P->prec) : NULL;
		for (int i = 0; i < n; i++) {
			jv s = jv_array_get(jv_copy(prec), i);
			if (jv_get_kind(s) == JV_KIND_STRING)
				P->prec[P->nprec++] = strdup(jv_string_value(s));
			else
				n = -1;
			jv_free(s);
		}
		if (n < 0) {
			jv_free(prec);
			jrn_fail(e, "sources.precedence: expected a list of source names");
			goto fail;
		}
	}
	jv_free(prec);
	if (jv_get_kind(cfg) == JV_KIND_OBJECT) {
		jv c = jrn_config_get(cfg, "ingest.defaultCountry");
		if (jv_get_kind(c) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(c)) == 2)
			memcpy(P->region, jv_string_value(c), 3);
		jv_free(c);
		int rc = jrn_config_int(cfg, "sources.sharedLimit", &P->shared_limit, e);
		if (rc < 0 || P->shared_limit < 1) {
			if (rc >= 0)
				jrn_fail(e, "sources.sharedLimit: expected 1 or more");
			goto fail;
		}
	}
	return P;
fail:
	jrn_profile_close(P);
	return NULL;
}

void jrn_profile_close(jrn_profile *P)
{
	if (!P)
		return;
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(P->st[i]);
	for (size_t i = 0; i < P->nprec; i++)
		free(P->prec[i]);
	free(P->prec);
	jrn_buf_free(&P->resolved);
	if (P->parser)
		jv_parser_free(P->parser);
	free(P);
}

int jrn_profile_rank(const jrn_profile *P, const char *source)
{
	for (size_t i = 0; source && i < P->nprec; i++)
		if (P->prec[i] && !strcmp(P->prec[i], source))
			return (int)(P->nprec - i);
	return 0;
}

/* ---- a profile as jv -------------------------------------------------------- */

/* The object stored as JSON text s (numbers kept as written), or {}. */
static jv parse_obj(jrn_profile *P, const char *s)
{
	jv v = s ? jrn_parse_checked_object(&P->parser, s, strlen(s), NULL) : jv_invalid();
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return jv_object();
	}
	return v;
}

jv jrn_profile_get(jrn_profile *P, const char *customer, jrn_err *e)
{
	sqlite3_stmt *st = P->st[S_GET];
	sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return jv_null();
	}
	if (rc != SQLITE_ROW) {
		db_fail(P, e);
		sqlite3_reset(st);
		return jv_invalid();
	}
	jv p = jv_object_set(jv_object(), jv_string("customerId"), jv_string(customer));
	for (size_t i = 0; i < NFIELDS; i++) {
		if (sqlite3_column_type(st, (int)i) == SQLITE_NULL)
			continue;
		if (i == CREATED_AT) {
			char t[32];
			size_t n = jrn_time_format(sqlite3_column_int64(st, (int)i), t);
			p = jv_object_set(p, jv_string(fields[i].name), jv_string_sized(t, (int)n));
		} else {
			p = jv_object_set(p, jv_string(fields[i].name),
					  jv_string((const char *)sqlite3_column_text(st, (int)i)));
		}
	}
	p = jv_object_set(p, jv_string("traits"),
			  parse_obj(P, (const char *)sqlite3_column_text(st, 8)));
	p = jv_object_set(p, jv_string("provenance"),
			  parse_obj(P, (const char *)sqlite3_column_text(st, 9)));
	char t[32];
	size_t n = jrn_time_format(sqlite3_column_int64(st, 10), t);
	p = jv_object_set(p, jv_string("updatedAt"), jv_string_sized(t, (int)n));
	sqlite3_reset(st);
	return p;
}

/* Writes profile p (borrowed) of customer at ts. 0 or -1 with e. */
static int put(jrn_profile *P, const char *customer, jv p, int64_t ts, jrn_err *e)
{
	sqlite3_stmt *st = P->st[S_PUT];
	jrn_buf traits = {0}, prov = {0};
	int rc = sqlite3_bind_text(st, 1, customer, -1, SQLITE_TRANSIENT);
	for (size_t i = 0; i < NFIELDS; i++) {
		jv v = jv_object_get(jv_copy(p), jv_string(fields[i].name));
		int64_t ms;
		if (jv_get_kind(v) != JV_KIND_STRING)
			rc |= sqlite3_bind_null(st, (int)i + 2);
		else if (i == CREATED_AT && jrn_time_parse(jv_string_value(v),
				(size_t)jv_string_length_bytes(jv_copy(v)), JRN_TIME_DATE_OK, &ms, NULL) == 0)
			rc |= sqlite3_bind_int64(st, (int)i + 2, ms);
		else if (i == CREATED_AT)
			rc |= sqlite3_bind_null(st, (int)i + 2);
		else
			rc |= sqlite3_bind_text(st, (int)i + 2, jv_string_value(v), -1, SQLITE_TRANSIENT);
		jv_free(v);
	}
	jv tr = jv_object_get(jv_copy(p), jv_string("traits"));
	jv pv = jv_object_get(jv_copy(p), jv_string("provenance"));
	if (jv_get_kind(tr) != JV_KIND_OBJECT) {
		jv_free(tr);
		tr = jv_object();
	}
	if (jv_get_kind(pv) != JV_KIND_OBJECT) {
		jv_free(pv);
		pv = jv_object();
	}
	if (jrn_json_append(&traits, tr, JRN_JSON_SORTED, e) < 0 ||
	    jrn_json_append(&prov, pv, JRN_JSON_SORTED, e) < 0) {
		jrn_buf_free(&traits);
		jrn_buf_free(&prov);
		sqlite3_reset(st);
		return -1;
	}
	rc |= sqlite3_bind_text(st, 10, traits.p, (int)traits.len, SQLITE_TRANSIENT);
	rc |= sqlite3_bind_text(st, 11, prov.p, (int)prov.len, SQLITE_TRANSIENT);
	rc |= sqlite3_bind_int64(st, 12, ts);
	jrn_buf_free(&traits);
	jrn_buf_free(&prov);
	return run(P, st, rc, e);
}

/* ---- the field rule ----------------------------------------------------------- */

/* Whether a value from source at ts replaces the field whose provenance
 * is old (borrowed; invalid or not an object: never set). */
static bool wins(const jrn_profile *P, const char *source, int64_t ts, jv old)
{
	if (jv_get_kind(old) != JV_KIND_OBJECT)
		return true;
	jv os = jv_object_get(jv_copy(old), jv_string("source"));
	jv oa = jv_object_get(jv_copy(old), jv_string("at"));
	int r = jrn_profile_rank(P, source);
	int o = jrn_profile_rank(P, jv_get_kind(os) == JV_KIND_STRING ? jv_string_value(os) : NULL);
	double at = jv_get_kind(oa) == JV_KIND_NUMBER ? jv_number_value(oa) : 0;
	jv_free(os);
	jv_free(oa);
	return r > o || (r == o && (double)ts >= at);
}

/* Sets field `path` ("email", "traits.plan") of *p to v (consumed) under
 * the rule: true when the value changed. */
static bool set_field(const jrn_profile *P, jv *p, const char *path, jv v, const char *source,
		      int64_t ts)
{
	jv prov = jv_object_get(jv_copy(*p), jv_string("provenance"));
	if (jv_get_kind(prov) != JV_KIND_OBJECT) {
		jv_free(prov);
		prov = jv_object();
	}
	jv old = jv_object_get(jv_copy(prov), jv_string(path));
	bool w = wins(P, source, ts, old);
	jv_free(old);
	if (!w) {
		jv_free(prov);
		jv_free(v);
		return false;
	}
	bool trait = !strncmp(path, "traits.", 7);
	jv holder = trait ? jv_object_get(jv_copy(*p), jv_string("traits")) : jv_copy(*p);
	if (jv_get_kind(holder) != JV_KIND_OBJECT) {
		jv_free(holder);
		holder = jv_object();
	}
	const char *key = trait ? path + 7 : path;
	jv cur = jv_object_get(jv_copy(holder), jv_string(key));
	bool changed = jv_get_kind(v) == JV_KIND_NULL ? jv_is_valid(cur) && jv_get_kind(cur) != JV_KIND_NULL
						      : !jv_equal(jv_copy(cur), jv_copy(v));
	jv_free(cur);
	if (jv_get_kind(v) == JV_KIND_NULL) {
		holder = jv_object_delete(holder, jv_string(key));
		jv_free(v);
	} else {
		holder = jv_object_set(holder, jv_string(key), v);
	}
	jv rec = jv_object_set(jv_object(), jv_string("source"), jv_string(source));
	rec = jv_object_set(rec, jv_string("at"), jv_number((double)ts));
	prov = jv_object_set(prov, jv_string(path), rec);
	if (trait) {
		*p = jv_object_set(*p, jv_string("traits"), holder);
	} else {
		jv_free(*p);
		*p = holder;
	}
	*p = jv_object_set(*p, jv_string("provenance"), prov);
	return changed;
}

/* The unified field a source key names, or -1 (a trait). */
static int field_of(const char *k)
{
	static const struct {
		const char *key;
		int field;
	} alt[] = {{"first_name", 3}, {"timezone", 5}};
	for (size_t i = 0; i < NFIELDS; i++)
		if (!strcmp(k, fields[i].name))
			return (int)i;
	for (size_t i = 0; i < sizeof alt / sizeof alt[0]; i++)
		if (!strcmp(k, alt[i].key))
			return alt[i].field;
	return -1;
}

/* An address in the one spelling identities compare: an e-mail address
 * normalised (jrn_email_normalize: trimmed, lower-case), a phone number
 * in E.164 (libphonenumber; numbers without + read in ingest.defaultCountry),
 * so that "Kim@Example.org" from one source and "kim@example.org" from
 * another are one claim. A value that is not a valid address stays as
 * written. Borrows v (a string); returns an owned string. */
static jv address_value(const jrn_profile *P, int f, jv v)
{
	jrn_buf b = {0};
	jrn_err why;
	const char *s = jv_string_value(v);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(v));
	int rc = f == 0 ? jrn_email_normalize(s, n, &b, &why)
			: jrn_phone_e164(s, n, P->region[0] ? P->region : NULL, &b, &why);
	jv out = rc == 0 && b.p && b.len <= INT_MAX ? jv_string_sized(b.p, (int)b.len) : jv_copy(v);
	jrn_buf_free(&b);
	return out;
}

/* A field's value as a source gave it: unified text fields take strings
 * (and null), email and phone in their normal spelling (address_value);
 * createdAt a time. Returns the value to set, or jv_invalid when it stays
 * a trait. Borrows v. */
static jv unified_value(const jrn_profile *P, int f, jv v)
{
	if (jv_get_kind(v) == JV_KIND_NULL)
		return jv_null();
	if (jv_get_kind(v) != JV_KIND_STRING)
		return jv_invalid();
	if (f == 0 || f == 1)
		return address_value(P, f, v);
	if (f == CREATED_AT) {
		int64_t ms;
		if (jrn_time_parse(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)),
				   JRN_TIME_DATE_OK, &ms, NULL) < 0)
			return jv_invalid();
		char t[32];
		size_t n = jrn_time_format(ms, t);
		return jv_string_sized(t, (int)n);
	}
	return jv_copy(v);
}

/* Applies values (consumed) to *p: the number of fields changed. Adds to
 * *claims (an array) [kind, value] for each email and phone given. */
static int apply_to(const jrn_profile *P, jv *p, jv values, const char *source, int64_t ts,
		    jv *claims, jv *paths)
{
	int changed = 0;
	jrn_buf path = {0};
	jv addr = jv_object_get(jv_copy(values), jv_string("address"));
	jv ac = jv_get_kind(addr) == JV_KIND_OBJECT ? jv_object_get(jv_copy(addr), jv_string("country"))
						   : jv_invalid();
	jv_free(addr);
	jv given = jv_object_get(jv_copy(values), jv_string("country"));
	if (jv_get_kind(ac) == JV_KIND_STRING && !jv_is_valid(given) &&
	    set_field(P, p, "country", jv_copy(ac), source, ts)) {
		changed++;
		if (paths)
			*paths = jv_array_append(*paths, jv_string("country"));
	}
	jv_free(ac);
	jv_free(given);
	jv_object_foreach(values, k, v) {
		int f = field_of(jv_string_value(k));
		jv u = f >= 0 ? unified_value(P, f, v) : jv_invalid();
		if (jv_is_valid(u)) {
			if ((f == 0 || f == 1) && jv_get_kind(u) == JV_KIND_STRING &&
			    jv_string_length_bytes(jv_copy(u)) > 0)
				*claims = jv_array_append(*claims, JV_ARRAY(jv_string(f ? "phone" : "email"),
									    jv_copy(u)));
			if (set_field(P, p, fields[f].name, u, source, ts)) {
				changed++;
				if (paths)
					*paths = jv_array_append(*paths, jv_string(fields[f].name));
			}
		} else {
			jv_free(u);
			jrn_buf_reset(&path);
			jrn_buf_adds(&path, "traits.");
			jrn_buf_adds(&path, jv_string_value(k));
			if (path.p && set_field(P, p, path.p, jv_copy(v), source, ts)) {
				changed++;
				if (paths)
					*paths = jv_array_append(*paths, jv_string(path.p));
			}
		}
		jv_free(k);
		jv_free(v);
	}
	jv_free(values);
	jrn_buf_free(&path);
	return changed;
}

int jrn_profile_fold(const jrn_profile *P, jv *profile, jv values, const char *source, int64_t ts,
		     jv *changed)
{
	if (jv_get_kind(values) != JV_KIND_OBJECT) {
		jv_free(values);
		return 0;
	}
	jv claims = jv_array();
	int n = apply_to(P, profile, values, source, ts, &claims, changed);
	jv_free(claims);
	return n;
}

/* customer's profile, or a new empty one. */
static jv get_or_new(jrn_profile *P, const char *customer, jrn_err *e)
{
	jv p = jrn_profile_get(P, customer, e);
	if (jv_get_kind(p) == JV_KIND_NULL) {
		jv_free(p);
		p = jv_object_set(jv_object(), jv_string("customerId"), jv_string(customer));
		p = jv_object_set(p, jv_string("traits"), jv_object());
		p = jv_object_set(p, jv_string("provenance"), jv_object());
	}
	return p;
}

int jrn_profile_apply(jrn_profile *P, const char *customer, jv values, const char *source,
		      int64_t ts, jrn_err *e)
{
	if (jv_get_kind(values) != JV_KIND_OBJECT) {
		jv_free(values);
		return jrn_fail(e, "values: expected an object");
	}
	jv p = get_or_new(P, customer, e);
	if (!jv_is_valid(p)) {
		jv_free(values);
		return -1;
	}
	bool fresh = !jv_object_has(jv_copy(p), jv_string("updatedAt"));
	jv claims = jv_array();
	int changed = apply_to(P, &p, values, source, ts, &claims, NULL);
	int rc = changed > 0 || fresh ? put(P, customer, p, ts, e) : 0;
	jv_free(p);
	int n = rc < 0 ? 0 : jv_array_length(jv_copy(claims));
	for (int i = 0; i < n && rc == 0; i++) {
		jv c = jv_array_get(jv_copy(claims), i);
		jv k = jv_array_get(jv_copy(c), 0), v = jv_array_get(c, 1);
		char reason[64];
		snprintf(reason, sizeof reason, "%s: shared %s", source, jv_string_value(k));
		if (jrn_profile_link(P, customer, jv_string_value(k), jv_string_value(v), source,
				     reason, ts, e) < 0)
			rc = -1;
		jv_free(k);
		jv_free(v);
	}
	jv_free(claims);
	return rc < 0 ? -1 : changed;
}

/* ---- identities and merges ------------------------------------------------------- */

const char *jrn_profile_resolve(jrn_profile *P, const char *id, jrn_err *e)
{
	sqlite3_stmt *st = P->st[S_RESOLVE];
	jrn_buf_reset(&P->resolved);
	if (jrn_buf_adds(&P->resolved, id) < 0) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	for (int hop = 0;; hop++) {
		sqlite3_bind_text(st, 1, P->resolved.p, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(st);
			return P->resolved.p;
		}
		if (rc != SQLITE_ROW) {
			db_fail(P, e);
			sqlite3_reset(st);
			return NULL;
		}
		if (hop >= JRN_PROFILE_MAX_CHAIN) {
			sqlite3_reset(st);
			jrn_fail(e, "%s: more than %d id links (the limit)", id, JRN_PROFILE_MAX_CHAIN);
			return NULL;
		}
		jrn_buf_reset(&P->resolved);
		jrn_buf_adds(&P->resolved, (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
}

/* 1 when sql S_UNDONE / S_KNOWN finds a row for a (and b), 0 not, -1. */
static int exists(jrn_profile *P, int which, const char *a, const char *b, jrn_err *e)
{
	sqlite3_stmt *st = P->st[which];
	sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(P, e);
	return rc == SQLITE_ROW;
}

/* Applies every field of from (borrowed) to *into with its own provenance. */
static void fold(const jrn_profile *P, jv *into, jv from)
{
	jv prov = jv_object_get(jv_copy(from), jv_string("provenance"));
	jv traits = jv_object_get(jv_copy(from), jv_string("traits"));
	if (jv_get_kind(prov) == JV_KIND_OBJECT) {
		jv_object_foreach(prov, k, rec) {
			const char *path = jv_string_value(k);
			bool trait = !strncmp(path, "traits.", 7);
			jv v = trait ? jv_object_get(jv_copy(traits), jv_string(path + 7))
				     : jv_object_get(jv_copy(from), jv_string(path));
			if (!jv_is_valid(v)) {
				jv_free(v);
				v = jv_null();
			}
			jv s = jv_object_get(jv_copy(rec), jv_string("source"));
			jv at = jv_object_get(jv_copy(rec), jv_string("at"));
			set_field(P, into, path, v, jv_get_kind(s) == JV_KIND_STRING ? jv_string_value(s) : "merge",
				  jv_get_kind(at) == JV_KIND_NUMBER ? (int64_t)jv_number_value(at) : 0);
			jv_free(s);
			jv_free(at);
			jv_free(k);
			jv_free(rec);
		}
	}
	jv_free(prov);
	jv_free(traits);
}

int jrn_profile_merge(jrn_profile *P, const char *from, const char *into, const char *reason,
		      int64_t ts, int64_t *id, jrn_err *e)
{
	if (!strcmp(from, into))
		return 0;
	jv fp = jrn_profile_get(P, from, e);
	if (!jv_is_valid(fp))
		return -1;
	jv ip = jrn_profile_get(P, into, e);
	if (!jv_is_valid(ip)) {
		jv_free(fp);
		return -1;
	}
	jv moved = jv_object_set(jv_object(), jv_string("from"), jv_copy(fp));
	moved = jv_object_set(moved, jv_string("into"), jv_copy(ip));
	int rc = 0;
	if (jv_get_kind(fp) == JV_KIND_OBJECT) {
		jv np = jv_get_kind(ip) == JV_KIND_OBJECT ? jv_copy(ip) : get_or_new(P, into, e);
		fold(P, &np, fp);
		rc = put(P, into, np, ts, e);
		jv_free(np);
		sqlite3_stmt *st = P->st[S_DEL];
		if (rc == 0)
			rc = run(P, st, sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT), e);
	}
	jv_free(fp);
	jv_free(ip);
	sqlite3_stmt *st = P->st[S_UNLINK];
	if (rc == 0)
		rc = run(P, st, sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT), e);
	st = P->st[S_LINK];
	if (rc == 0)
		rc = run(P, st, sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT) |
				sqlite3_bind_text(st, 2, into, -1, SQLITE_TRANSIENT) |
				sqlite3_bind_text(st, 3, "merge", -1, SQLITE_STATIC) |
				sqlite3_bind_int64(st, 4, ts), e);
	jrn_buf text = {0};
	if (rc == 0 && jrn_json_append(&text, moved, JRN_JSON_SORTED, e) < 0)
		rc = -1;
	else if (rc != 0)
		jv_free(moved);
	st = P->st[S_MERGE_ADD];
	if (rc == 0)
		rc = run(P, st, sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT) |
				sqlite3_bind_text(st, 2, into, -1, SQLITE_TRANSIENT) |
				sqlite3_bind_text(st, 3, reason, -1, SQLITE_TRANSIENT) |
				sqlite3_bind_int64(st, 4, ts) |
				sqlite3_bind_text(st, 5, text.p, (int)text.len, SQLITE_TRANSIENT), e);
	jrn_buf_free(&text);
	if (rc == 0 && id)
		*id = sqlite3_last_insert_rowid(P->db);
	return rc < 0 ? -1 : 1;
}

/* Restores customer's profile from a snapshot (borrowed; null: none). */
static int restore(jrn_profile *P, const char *customer, jv snap, int64_t ts, jrn_err *e)
{
	if (jv_get_kind(snap) == JV_KIND_OBJECT)
		return put(P, customer, snap, ts, e);
	sqlite3_stmt *st = P->st[S_DEL];
	return run(P, st, sqlite3_bind_text(st, 1, customer, -1, SQLITE_TRANSIENT), e);
}

int jrn_profile_unmerge(jrn_profile *P, int64_t id, int64_t ts, jrn_err *e)
{
	sqlite3_stmt *st = P->st[S_MERGE_GET];
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? jrn_fail(e, "merge %lld: no such merge", (long long)id)
					 : db_fail(P, e);
	}
	if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
		sqlite3_reset(st);
		return jrn_fail(e, "merge %lld: undone already", (long long)id);
	}
	char *from = strdup((const char *)sqlite3_column_text(st, 0));
	char *into = strdup((const char *)sqlite3_column_text(st, 1));
	jv moved = jv_parse((const char *)sqlite3_column_text(st, 3));
	sqlite3_reset(st);
	if (!from || !into || jv_get_kind(moved) != JV_KIND_OBJECT) {
		rc = jrn_fail(e, "merge %lld: cannot read its record", (long long)id);
		goto done;
	}
	const char *now_into = jrn_profile_resolve(P, into, e);
	if (!now_into) {
		rc = -1;
		goto done;
	}
	if (strcmp(now_into, into)) {
		rc = jrn_fail(e, "merge %lld: %s was merged into %s since: undo that merge first",
			      (long long)id, into, now_into);
		goto done;
	}
	jv f = jv_object_get(jv_copy(moved), jv_string("from"));
	jv i = jv_object_get(jv_copy(moved), jv_string("into"));
	rc = restore(P, from, f, ts, e);
	if (rc == 0)
		rc = restore(P, into, i, ts, e);
	jv_free(f);
	jv_free(i);
	st = P->st[S_UNLINK];
	if (rc == 0)
		rc = run(P, st, sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT), e);
	st = P->st[S_MERGE_UNDO];
	if (rc == 0)
		rc = run(P, st, sqlite3_bind_int64(st, 1, id) | sqlite3_bind_int64(st, 2, ts), e);
done:
	jv_free(moved);
	free(from);
	free(into);
	return rc;
}

/* The customers holding value of kind (resolved, without customer) and
 * how many customer ids claimed it: a jv array of strings, or invalid. */
static jv holders(jrn_profile *P, const char *customer, const char *kind, const char *value,
		  int *claimants, jrn_err *e)
{
	sqlite3_stmt *st = P->st[S_CLAIMANTS];
	jv ids = jv_array(), out = jv_array();
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		ids = jv_array_append(ids, jv_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		jv_free(ids);
		jv_free(out);
		db_fail(P, e);
		return jv_invalid();
	}
	*claimants = jv_array_length(jv_copy(ids));
	jv_array_foreach(ids, i, s) {
		const char *r = jrn_profile_resolve(P, jv_string_value(s), e);
		jv_free(s);
		if (!r) {
			jv_free(ids);
			jv_free(out);
			return jv_invalid();
		}
		bool dup = !strcmp(r, customer);
		jv_array_foreach(out, j, o) {
			dup = dup || !strcmp(jv_string_value(o), r);
			jv_free(o);
			(void)j;
		}
		if (!dup)
			out = jv_array_append(out, jv_string(r));
		(void)i;
	}
	jv_free(ids);
	return out;
}

int jrn_profile_link(jrn_profile *P, const char *customer, const char *kind, const char *value,
		     const char *source, const char *reason, int64_t ts, jrn_err *e)
{
	if (!strcmp(kind, "id")) {
		if (!strcmp(value, customer))
			return 0;
		const char *r = jrn_profile_resolve(P, value, e);
		if (!r)
			return -1;
		char *target = strdup(r);
		if (!target)
			return jrn_fail(e, "out of memory");
		int rc = 0;
		if (strcmp(target, customer)) {
			int known = exists(P, S_KNOWN, target, NULL, e);
			if (known < 0)
				rc = -1;
			else if (known)
				rc = jrn_profile_merge(P, target, customer, reason, ts, NULL, e);
			if (rc >= 0 && !strcmp(target, value) && !known) {
				sqlite3_stmt *st = P->st[S_LINK];
				rc = run(P, st, sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT) |
						sqlite3_bind_text(st, 2, customer, -1, SQLITE_TRANSIENT) |
						bind_str(st, 3, source) | sqlite3_bind_int64(st, 4, ts), e);
			}
		}
		free(target);
		return rc;
	}
	sqlite3_stmt *st = P->st[S_CLAIM];
	if (run(P, st, sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT) |
			sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT) |
			sqlite3_bind_text(st, 3, customer, -1, SQLITE_TRANSIENT) |
			bind_str(st, 4, source) | sqlite3_bind_int64(st, 5, ts), e) < 0)
		return -1;
	int claimants = 0, merged = 0;
	jv others = holders(P, customer, kind, value, &claimants, e);
	if (!jv_is_valid(others))
		return -1;
	if (claimants > P->shared_limit) {
		jv_free(others);
		return 0;
	}
	int rc = 0;
	jv_array_foreach(others, i, o) {
		int undone = rc < 0 ? 0 : exists(P, S_UNDONE, jv_string_value(o), customer, e);
		if (undone < 0)
			rc = -1;
		else if (!undone && rc == 0) {
			rc = jrn_profile_merge(P, jv_string_value(o), customer, reason, ts, NULL, e);
			merged += rc > 0;
			rc = rc < 0 ? -1 : 0;
		}
		jv_free(o);
		(void)i;
	}
	jv_free(others);
	return rc < 0 ? -1 : merged;
}

int jrn_profile_event(jrn_profile *P, const char *type, size_t tn, const char *body, size_t bn,
		      int64_t ts, jrn_err *e)
{
	bool identify = tn == 8 && !memcmp(type, "identify", 8);
	bool alias = tn == 5 && !memcmp(type, "alias", 5);
	if (!identify && !alias)
		return 0;
	jv ev = jrn_parse_object(&P->parser, body, bn, e);
	if (jv_get_kind(ev) != JV_KIND_OBJECT) {
		jv_free(ev);
		return jrn_fail(e, "%s event: not a JSON object", identify ? "identify" : "alias");
	}
	jv c = jv_object_get(jv_copy(ev), jv_string("customerId"));
	int rc = 0;
	if (jv_get_kind(c) != JV_KIND_STRING) {
		rc = jrn_fail(e, "%s event: no customerId", identify ? "identify" : "alias");
		goto done;
	}
	char *cust = strdup(jv_string_value(c));
	if (!cust) {
		rc = jrn_fail(e, "out of memory");
		goto done;
	}
	jv other = jv_object_get(jv_copy(ev), jv_string(identify ? "anonymousId" : "previousId"));
	if (identify) {
		jv traits = jv_object_get(jv_copy(ev), jv_string("traits"));
		if (jv_get_kind(traits) != JV_KIND_OBJECT) {
			jv_free(traits);
			traits = jv_object();
		}
		rc = jrn_profile_apply(P, cust, traits, "identify", ts, e);
	}
	if (rc >= 0 && jv_get_kind(other) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(other)) > 0) {
		int m = jrn_profile_link(P, cust, "id", jv_string_value(other), identify ? "identify" : "alias",
					 identify ? "identify: anonymousId" : "alias", ts, e);
		rc = m < 0 ? -1 : rc + m;
	}
	jv_free(other);
	free(cust);
done:
	jv_free(c);
	jv_free(ev);
	return rc;
}

/* ---- jrn privacy erase (privacy.h) -------------------------------------------- */

#define ERASE_IDS "(SELECT v FROM temp.jrn_erase_ids)"

int jrn_profile_erase(sqlite3 *db, jv *counts, jrn_err *e)
{
	static const char *const steps[][2] = {
		{"profiles", "DELETE FROM profiles WHERE customer_id IN " ERASE_IDS},
		{"profiles.scrubbed", "UPDATE profiles SET traits = jrn_scrub(traits) WHERE jrn_names(traits)"},
		{"identities", "DELETE FROM identities WHERE customer_id IN " ERASE_IDS
			       " OR (kind = 'id' AND value IN " ERASE_IDS ")"
			       " OR (kind IN ('email', 'phone') AND value IN"
			       " (SELECT v FROM temp.jrn_erase_addrs))"},
		{"merges", "DELETE FROM merges WHERE from_id IN " ERASE_IDS " OR into_id IN " ERASE_IDS},
		{"merges.scrubbed", "UPDATE merges SET moved = jrn_scrub(moved) WHERE jrn_names(moved)"},
	};
	return jrn_privacy_steps(db, steps, sizeof steps / sizeof *steps, counts, e);
}

/* ---- jrn partition export|import|drop (jrn.h) ---------------------------------- */

#define PART_IDS "(SELECT v FROM temp.jrn_part_ids)"

int jrn_profile_partition(sqlite3 *db, int step, jv *counts, jrn_err *e)
{
	static const char *const exp[][2] = {
		{"profiles", "INSERT INTO " JRN_PART_SCHEMA ".profiles SELECT * FROM main.profiles"
			     " WHERE customer_id IN " PART_IDS},
		{"identities", "INSERT INTO " JRN_PART_SCHEMA ".identities SELECT * FROM"
			       " main.identities WHERE customer_id IN " PART_IDS},
		{"merges", "INSERT INTO " JRN_PART_SCHEMA ".merges SELECT * FROM main.merges"
			   " WHERE into_id IN " PART_IDS " ORDER BY id"},
	};
	static const char *const imp[][2] = {
		{"profiles", "INSERT INTO main.profiles SELECT * FROM " JRN_PART_SCHEMA ".profiles"},
		{"identities", "INSERT INTO main.identities SELECT * FROM " JRN_PART_SCHEMA
			       ".identities"},
		{"merges", "INSERT INTO main.merges (id, from_id, into_id, reason, ts, undone_at, moved)"
			   " SELECT id + (SELECT off FROM temp.jrn_part_off WHERE t = 'merges'), from_id,"
			   " into_id, reason, ts, undone_at, moved FROM " JRN_PART_SCHEMA ".merges"
			   " ORDER BY id"},
	};
	static const char *const drop[][2] = {
		{"profiles", "DELETE FROM main.profiles WHERE customer_id IN " PART_IDS},
		{"identities", "DELETE FROM main.identities WHERE customer_id IN " PART_IDS},
		{"merges", "DELETE FROM main.merges WHERE into_id IN " PART_IDS},
	};
	switch (step) {
	case JRN_PART_EXPORT:
		return jrn_privacy_steps(db, exp, 3, counts, e);
	case JRN_PART_IMPORT:
		return jrn_privacy_steps(db, imp, 3, counts, e);
	case JRN_PART_DROP:
		return jrn_privacy_steps(db, drop, 3, counts, e);
	}
	return jrn_fail(e, "partition: unknown step %d", step);
}
