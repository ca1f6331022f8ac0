/* cache.c: the answer cache, table ai_cache (jrn-state(5), schema 9).
 *
 * The key is the SHA-256 (32 bytes, stored as a BLOB) of a fixed binary
 * layout of what the prompt carries (ai_cache_key, jrn-ai.h): the tag
 * "jrn-ai cache key 3", task, model (its identity, ai_model.identity:
 * the JSON text of its name, kind and the settings its answers follow,
 * such as the endpoint's model id and base URL; rows keyed by its name
 * alone, as before, are misses that expire), prompt version; then the record,
 * one of two ways: a record read lightly (read.c's lite_take, ai_lite:
 * on a model whose answers are cached) as written, the 8 bytes 'L', its
 * customerId's bytes, for each of ai.fields its name and its value's
 * JSON text as it stands in the line (or absent), and the state
 * (optimize: the number of its members the question carries, then each
 * one's name and value's text as written; state: absent); any other as
 * parsed, the 8 bytes 'W' and the JSON text of the input's customerId,
 * profile and state (optimize; members in the order held); then the
 * insights' computed_at (optimize), the facts' numbers
 * as 8-byte doubles, their rfm, clv, lead and segments as JSON text (as
 * the record carried them when read lightly, else as held), their
 * categories and the traits' interests (which the rules answer reads; as
 * written, or as held). Every variable-length part is length-prefixed, every
 * number fixed-width, so the layout is injective, and a JSON text is
 * one value: a change to a fact, a field, the prompt file, the model or
 * the hour's insights is a miss. The same record written two ways (a
 * blank, 1.0 for 1, a member order) is two keys: a question asked
 * again, never a wrong answer. (Layout 2 made the JSON text of every
 * part from a parsed record: the parse, the text and the numbers'
 * snprintf were half of a run of cache hits. Layout 1 was the SHA-256
 * of the canonical JSON of [task, model, version, input]. Rows of
 * either are never matched again: misses that expire.) A row is good
 * until expires_at (created_at + ai.cache.ttl), and no longer than the
 * ai.cache.ttl of the run that reads it; an expired row is a miss
 * and is deleted by the next run that stores (one DELETE per run, on the
 * ai_cache_expires index). Writes go in the caller's transaction. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

/* a row's answer by its key, not expired at ?2 and made after ?3 (now
 * less the run's ai.cache.ttl: a row stored under a longer ttl is not
 * good for longer than this run's) (ai_cache_get, ai_cache_peek) */
#define GET_SQL \
	"SELECT output, tokens, cost FROM ai_cache WHERE key = ? AND expires_at > ? AND created_at > ?"

typedef struct {
	sqlite3_stmt *get, *put, *purge;
	bool purged;
	jrn_buf text;
	jrn_json_index ix; /* ai_cache_get's check of a row's text, reused */
} cache_state;

void ai_cache_free(ai_run *run)
{
	cache_state *C = run->cache;
	if (!C)
		return;
	sqlite3_finalize(C->get);
	sqlite3_finalize(C->put);
	sqlite3_finalize(C->purge);
	jrn_buf_free(&C->text);
	jrn_json_index_free(&C->ix);
	free(C);
	run->cache = NULL;
}

/* The run's statements, prepared on first use. NULL with e. */
static cache_state *cache_of(ai_run *run, jrn_err *e)
{
	cache_state *C = run->cache;
	if (C)
		return C;
	if (!(C = calloc(1, sizeof *C))) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	run->cache = C;
	if (jrn_db_prepare(run->db, GET_SQL, &C->get, e) < 0 ||
	    jrn_db_prepare(run->db, "INSERT OR REPLACE INTO ai_cache (key, task, model,"
			   " prompt_version, customer_id, output, tokens, cost, created_at, expires_at)"
			   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &C->put, e) < 0 ||
	    jrn_db_prepare(run->db, "DELETE FROM ai_cache WHERE expires_at <= ?", &C->purge, e) < 0)
		return NULL;
	return C;
}

/* Appends n as 8 bytes, least significant first. Inline, with the
 * room checked here: the key's parts are many and small, and jrn_buf_add
 * a call each was a third of ai_cache_key. (b is ai_cache_key's own,
 * NUL-terminated before it is read.) */
static inline int put_u64(jrn_buf *b, uint64_t n)
{
	if (b->cap - b->len <= 8 && jrn_buf_reserve(b, 8) < 0)
		return -1;
	unsigned char *w = (unsigned char *)b->p + b->len;
	for (int i = 0; i < 8; i++)
		w[i] = (unsigned char)(n >> (8 * i));
	b->len += 8;
	return 0;
}

/* Appends s[0..n) length-prefixed. */
static inline int put_str(jrn_buf *b, const char *s, size_t n)
{
	if (((n >= SIZE_MAX / 2 || b->cap - b->len <= n + 8) && jrn_buf_reserve(b, n + 8) < 0) ||
	    put_u64(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

/* Appends x's IEEE 754 bits; every NAN (an absent number) as one. */
static int put_num(jrn_buf *b, double x)
{
	uint64_t u;
	if (isnan(x))
		x = NAN;
	memcpy(&u, &x, 8);
	return put_u64(b, u);
}

/* Appends v's compact JSON text (members in the order held)
 * length-prefixed; jv_invalid() (absent) as the length 2^64-1 alone.
 * Consumes v. */
static int put_json(jrn_buf *b, jv v)
{
	if (!jv_is_valid(v)) {
		jv_free(v);
		return put_u64(b, UINT64_MAX);
	}
	size_t at = b->len;
	jrn_err e;
	if (put_u64(b, 0) < 0 || jrn_json_append(b, v, 0, &e) < 0)
		return -1;
	uint64_t n = b->len - at - 8;
	for (int i = 0; i < 8; i++)
		((unsigned char *)b->p)[at + (size_t)i] = (unsigned char)(n >> (8 * i));
	return 0;
}

int ai_cache_key(const char *task, const char *model, const char *version, const ai_req *r,
		 int64_t insights_at, unsigned char out[32])
{
	static jrn_buf b; /* the layout, reused (one run per process) */
	return ai_cache_key_in(&b, task, model, version, r, insights_at, out);
}

int ai_cache_key_in(jrn_buf *b, const char *task, const char *model, const char *version,
		    const ai_req *r, int64_t insights_at, unsigned char out[32])
{
	jrn_buf_reset(b);
	static const char tag[] = "jrn-ai cache key 3";
	const ai_facts *f = r->facts;
	const ai_lite *l = r->lite;
	int rc = put_str(b, tag, sizeof tag - 1) | put_str(b, task, strlen(task)) |
		 put_str(b, model, strlen(model)) | put_str(b, version, strlen(version));
	if (l) { /* the record as written: its spans */
		rc |= put_u64(b, 'L') | put_str(b, l->cid, l->cidlen) | put_u64(b, l->nf);
		for (size_t j = 0; j < l->nf; j++)
			rc |= put_str(b, l->names[j], strlen(l->names[j])) |
			      (l->fv[j] ? put_str(b, l->fv[j], l->fl[j]) : put_u64(b, UINT64_MAX));
		/* optimize's state as written, its members' names and values;
		 * state's none, as the layout had it */
		if (l->stated) {
			rc |= put_u64(b, l->nstate);
			for (size_t k = 0; k < 2 * l->nstate; k++)
				rc |= put_str(b, l->state[k].p, l->state[k].n);
		} else {
			rc |= put_u64(b, UINT64_MAX);
		}
	} else { /* as parsed */
		rc |= put_u64(b, 'W') | put_json(b, jv_object_get(jv_copy(r->input), KS("customerId"))) |
		      put_json(b, jv_object_get(jv_copy(r->input), KS("profile"))) |
		      put_json(b, jv_object_get(jv_copy(r->input), KS("state")));
	}
	rc |= put_u64(b, (uint64_t)insights_at);
	if (f) {
		const double num[] = {f->orders, f->total, f->last, f->first_seen, f->o7, f->o30,
				      f->c7, f->c30, f->v7, f->v30, f->carts};
		for (size_t i = 0; i < sizeof num / sizeof *num; i++)
			rc |= put_num(b, num[i]);
		const jv part[4] = {f->rfm, f->clv, f->lead, f->segments};
		for (int i = 0; i < 4; i++)
			rc |= f->text[i] ? put_str(b, f->text[i], f->tlen[i]) : put_json(b, jv_copy(part[i]));
		rc |= put_json(b, jv_copy(f->categories));
		/* the traits' interests, which the rules answer reads */
		rc |= f->text[4] ? put_str(b, f->text[4], f->tlen[4]) : put_json(b, jv_copy(f->interests));
	} else {
		rc |= put_u64(b, UINT64_MAX);
	}
	if (rc)
		return -1;
	b->p[b->len] = '\0';
	return jrn_sha256(b->p, b->len, out);
}

/* Whether the row's text s[0..n) can be written as it is (ai_cache_get's
 * text): an object (checked as the parse checks it: UTF-8, then
 * jrn_json_index_build's strict check) with members, none of them null at
 * the top level (add_members leaves those out). */
static bool text_as_is(cache_state *C, const char *s, size_t n)
{
	if (n < 3 || s[0] != '{' || s[n - 1] != '}' || jrn_utf8_invalid_at(s, n) != n ||
	    jrn_json_index_build(&C->ix, s, n, 1, NULL) < 0 || !C->ix.n)
		return false;
	for (size_t i = 0; i < C->ix.n; i++)
		if (C->ix.m[i].depth == 1 && C->ix.m[i].kind == 'n')
			return false;
	return true;
}

int ai_cache_answer(ai_run *run, char *s, size_t n, jv *answer, char **text, size_t *tlen,
		    jrn_err *e)
{
	cache_state *C = cache_of(run, e);
	if (!C) {
		free(s);
		return -1;
	}
	if (text) {
		*text = NULL;
		if (text_as_is(C, s, n)) {
			*text = s;
			*tlen = n;
			*answer = jv_null();
			return 1;
		}
	}
	jv v = jrn_parse_value(s, n, NULL);
	free(s);
	/* a row that does not read back is a miss, stored again */
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		*answer = v;
		return 1;
	}
	jv_free(v);
	return 0;
}

int ai_cache_get(ai_run *run, const unsigned char key[32], jv *answer, char **text,
		 size_t *tlen, long *tokens, double *cost, jrn_err *e)
{
	cache_state *C = cache_of(run, e);
	if (!C)
		return -1;
	if (text)
		*text = NULL;
	char *s;
	size_t n;
	int found = ai_cache_peek(run->db, &C->get, key, jrn_now(), run->ttl_ms, &s, &n, tokens, cost, e);
	return found == 1 ? ai_cache_answer(run, s, n, answer, text, tlen, e) : found;
}

int ai_cache_peek(sqlite3 *db, sqlite3_stmt **st, const unsigned char key[32], int64_t now,
		  int64_t ttl_ms, char **text, size_t *len, long *tokens, double *cost, jrn_err *e)
{
	*text = NULL;
	if (!*st && jrn_db_prepare(db, GET_SQL, st, e) < 0)
		return -1;
	sqlite3_bind_blob(*st, 1, key, 32, SQLITE_STATIC);
	sqlite3_bind_int64(*st, 2, now);
	sqlite3_bind_int64(*st, 3, now - ttl_ms);
	int rc = sqlite3_step(*st), found = 0;
	if (rc == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(*st, 0);
		size_t n = (size_t)sqlite3_column_bytes(*st, 0);
		if (!(*text = malloc(n + 1))) {
			found = jrn_fail(e, "out of memory");
		} else {
			if (n)
				memcpy(*text, s, n);
			(*text)[n] = '\0';
			*len = n;
			*tokens = (long)sqlite3_column_int64(*st, 1);
			*cost = sqlite3_column_double(*st, 2);
			found = 1;
		}
	} else if (rc != SQLITE_DONE) {
		found = jrn_fail(e, "reading the cache: %s", sqlite3_errmsg(db));
	}
	sqlite3_reset(*st);
	return found;
}

int ai_cache_put(ai_run *run, const unsigned char key[32], const char *task,
		 const char *customer, jv answer, long tokens, double cost, jrn_err *e)
{
	cache_state *C = cache_of(run, e);
	if (!C)
		return -1;
	int64_t now = jrn_now();
	if (!C->purged) {
		C->purged = true;
		sqlite3_bind_int64(C->purge, 1, now);
		int rc = sqlite3_step(C->purge);
		sqlite3_reset(C->purge);
		if (rc != SQLITE_DONE)
			return jrn_fail(e, "deleting expired cache rows: %s", sqlite3_errmsg(run->db));
	}
	jrn_buf_reset(&C->text);
	if (jrn_json_append(&C->text, jv_copy(answer), 0, e) < 0)
		return -1;
	sqlite3_stmt *st = C->put;
	sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, task, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, run->model->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, run->prompts[run->task].version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, customer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, C->text.p, (int)C->text.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, tokens);
	sqlite3_bind_double(st, 8, cost);
	sqlite3_bind_int64(st, 9, now);
	sqlite3_bind_int64(st, 10, now + run->ttl_ms);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "writing the cache: %s", sqlite3_errmsg(run->db));
	run->cache_puts++;
	return 0;
}
