/* cache.c: the answer cache, table ai_cache (jrn-state(5), schema 9).
 *
 * The key is the SHA-256 (32 bytes, stored as a BLOB) of the canonical
 * JSON text (keys sorted) of the array [task, model, prompt version,
 * input]: the input is exactly what the prompt carries, so a change to a
 * fact, a field, the prompt file or the model is a miss; the array makes
 * the key injective (no two tuples print the same). A row is good until
 * expires_at (created_at + ai.cache.ttl); an expired row is a miss and is
 * deleted by the next run that stores (one DELETE per run, on the
 * ai_cache_expires index). Writes go in the caller's transaction. */
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"

typedef struct {
	sqlite3_stmt *get, *put, *purge;
	bool purged;
	jrn_buf text;
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
	if (jrn_db_prepare(run->db, "SELECT output, tokens, cost FROM ai_cache WHERE key = ?"
			   " AND expires_at > ?", &C->get, e) < 0 ||
	    jrn_db_prepare(run->db, "INSERT OR REPLACE INTO ai_cache (key, task, model,"
			   " prompt_version, customer_id, output, tokens, cost, created_at, expires_at)"
			   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &C->put, e) < 0 ||
	    jrn_db_prepare(run->db, "DELETE FROM ai_cache WHERE expires_at <= ?", &C->purge, e) < 0)
		return NULL;
	return C;
}

int ai_cache_key(const char *task, const char *model, const char *version, jv input,
		 unsigned char out[32])
{
	jrn_buf b = {0};
	jrn_err e;
	jv a = JV_ARRAY(jv_string(task), jv_string(model), jv_string(version), jv_copy(input));
	char hex[65];
	int rc = jrn_json_append(&b, a, JRN_JSON_SORTED, &e);
	if (rc == 0)
		rc = jrn_sha256_hex(b.p, b.len, hex);
	jrn_buf_free(&b);
	for (int i = 0; rc == 0 && i < 32; i++)
		out[i] = (unsigned char)strtoul((char[3]){hex[2 * i], hex[2 * i + 1], 0}, NULL, 16);
	return rc;
}

int ai_cache_get(ai_run *run, const unsigned char key[32], jv *answer, long *tokens,
		 double *cost, jrn_err *e)
{
	cache_state *C = cache_of(run, e);
	if (!C)
		return -1;
	sqlite3_stmt *st = C->get;
	sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, jrn_now());
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		jv v = jrn_parse_value((const char *)sqlite3_column_text(st, 0),
				       (size_t)sqlite3_column_bytes(st, 0), NULL);
		/* a row that does not read back is a miss, stored again */
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			*answer = v;
			*tokens = (long)sqlite3_column_int64(st, 1);
			*cost = sqlite3_column_double(st, 2);
			found = 1;
		} else {
			jv_free(v);
		}
	} else if (rc != SQLITE_DONE) {
		found = jrn_fail(e, "reading the cache: %s", sqlite3_errmsg(run->db));
	}
	sqlite3_reset(st);
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
	return 0;
}
