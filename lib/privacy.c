/* privacy.c: erased customers: the state file's key, the keyed hash, the
 * question "is this value erased?", and the scope of one export or erase
 * with its SQL functions; the rules are in privacy.h's top comment. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "privacy.h"

/* ---- HMAC-SHA-256 with the padded key absorbed once (RFC 2104) ---------- */

typedef struct {
	EVP_MD_CTX *inner, *outer, *tmp; /* inner: key ^ ipad absorbed; outer: ^ opad */
} hmac;

static void hmac_free(hmac *h)
{
	EVP_MD_CTX_free(h->inner);
	EVP_MD_CTX_free(h->outer);
	EVP_MD_CTX_free(h->tmp);
	*h = (hmac){0};
}

static int hmac_init(hmac *h, const unsigned char key[JRN_PRIVACY_KEY_BYTES])
{
	unsigned char pad[64];
	h->inner = EVP_MD_CTX_new();
	h->outer = EVP_MD_CTX_new();
	h->tmp = EVP_MD_CTX_new();
	if (!h->inner || !h->outer || !h->tmp)
		goto fail;
	memset(pad, 0x36, sizeof pad);
	for (int i = 0; i < JRN_PRIVACY_KEY_BYTES; i++)
		pad[i] ^= key[i];
	if (!EVP_DigestInit_ex(h->inner, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(h->inner, pad, sizeof pad))
		goto fail;
	memset(pad, 0x5c, sizeof pad);
	for (int i = 0; i < JRN_PRIVACY_KEY_BYTES; i++)
		pad[i] ^= key[i];
	if (!EVP_DigestInit_ex(h->outer, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(h->outer, pad, sizeof pad))
		goto fail;
	OPENSSL_cleanse(pad, sizeof pad);
	return 0;
fail:
	OPENSSL_cleanse(pad, sizeof pad);
	hmac_free(h);
	return -1;
}

static int hmac_run(hmac *h, const char *s, size_t n, unsigned char md[32])
{
	unsigned int len = 0;
	if (!EVP_MD_CTX_copy_ex(h->tmp, h->inner) || !EVP_DigestUpdate(h->tmp, s, n) ||
	    !EVP_DigestFinal_ex(h->tmp, md, &len) || len != 32 ||
	    !EVP_MD_CTX_copy_ex(h->tmp, h->outer) || !EVP_DigestUpdate(h->tmp, md, 32) ||
	    !EVP_DigestFinal_ex(h->tmp, md, &len) || len != 32)
		return -1;
	return 0;
}

static void to_hex(const unsigned char md[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

static int from_hex(const char *s, size_t n, unsigned char md[32])
{
	if (n != 64)
		return -1;
	for (int i = 0; i < 64; i++) {
		int c = s[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		if (i % 2 == 0)
			md[i / 2] = (unsigned char)(d << 4);
		else
			md[i / 2] |= (unsigned char)d;
	}
	return 0;
}

int jrn_privacy_hash(const unsigned char key[JRN_PRIVACY_KEY_BYTES], const char *s, size_t n,
		     char hex[65])
{
	hmac h = {0};
	unsigned char md[32];
	hex[0] = '\0';
	if (hmac_init(&h, key) < 0)
		return -1;
	int rc = hmac_run(&h, s, n, md);
	hmac_free(&h);
	if (rc == 0)
		to_hex(md, hex);
	return rc;
}

/* ---- the key ---------------------------------------------------------------- */

int jrn_privacy_key(sqlite3 *db, bool create, unsigned char key[JRN_PRIVACY_KEY_BYTES],
		    jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM state_keys WHERE name = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return jrn_fail(e, "state_keys: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, JRN_PRIVACY_KEY_NAME, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 0);
		const void *p = sqlite3_column_blob(st, 0);
		if (n != JRN_PRIVACY_KEY_BYTES || !p) {
			sqlite3_finalize(st);
			return jrn_fail(e, "state_keys: the privacy key has %d bytes, not %d", n,
					JRN_PRIVACY_KEY_BYTES);
		}
		memcpy(key, p, JRN_PRIVACY_KEY_BYTES);
		sqlite3_finalize(st);
		return 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "state_keys: %s", sqlite3_errmsg(db));
	if (!create)
		return 0;
	if (RAND_bytes(key, JRN_PRIVACY_KEY_BYTES) != 1)
		return jrn_fail(e, "cannot make the privacy key (OpenSSL RAND_bytes failed)");
	if (sqlite3_prepare_v2(db, "INSERT INTO state_keys (name, value, created_at) VALUES (?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "state_keys: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, JRN_PRIVACY_KEY_NAME, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, key, JRN_PRIVACY_KEY_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, jrn_now());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "state_keys: %s", sqlite3_errmsg(db));
	return 1;
}

/* ---- the question -------------------------------------------------------------- */

struct jrn_privacy {
	unsigned char (*hashes)[32]; /* sorted */
	size_t n;
	hmac h;
	jrn_idmap *seen;      /* values asked before (customers repeat) */
	unsigned char *found; /* per index of seen: 1 erased, 0 not */
	size_t found_cap;
};

static int by_hash(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Reads every hash of erasures into P. 0 or -1 with e. */
static int load_hashes(jrn_privacy *P, sqlite3 *db, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	if (sqlite3_prepare_v2(db, "SELECT hash FROM erasures", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (P->n == cap) {
			cap = cap ? cap * 2 : 64;
			void *p = realloc(P->hashes, cap * sizeof *P->hashes);
			if (!p) {
				sqlite3_finalize(st);
				return jrn_fail(e, "out of memory");
			}
			P->hashes = p;
		}
		const char *h = (const char *)sqlite3_column_text(st, 0);
		if (h && from_hex(h, (size_t)sqlite3_column_bytes(st, 0), P->hashes[P->n]) == 0)
			P->n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
	qsort(P->hashes, P->n, sizeof *P->hashes, by_hash);
	return 0;
}

jrn_privacy *jrn_privacy_open(sqlite3 *db, jrn_err *e)
{
	jrn_privacy *P = calloc(1, sizeof *P);
	if (!P) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM erasures LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
		free(P);
		return NULL;
	}
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return P; /* nothing erased: every question is "no" */
	unsigned char key[JRN_PRIVACY_KEY_BYTES];
	int k = rc == SQLITE_ROW ? jrn_privacy_key(db, false, key, e)
				 : jrn_fail(e, "erasures: %s", sqlite3_errmsg(db));
	if (k == 0)
		jrn_fail(e, "erasures has rows but state_keys has no privacy key");
	if (k <= 0 || load_hashes(P, db, e) < 0 ||
	    (hmac_init(&P->h, key) < 0 && jrn_fail(e, "OpenSSL: cannot start HMAC-SHA-256"))) {
		OPENSSL_cleanse(key, sizeof key);
		jrn_privacy_close(P);
		return NULL;
	}
	OPENSSL_cleanse(key, sizeof key);
	return P;
}

void jrn_privacy_close(jrn_privacy *P)
{
	if (!P)
		return;
	hmac_free(&P->h);
	free(P->hashes);
	jrn_idmap_free(P->seen);
	free(P->found);
	free(P);
}

size_t jrn_privacy_count(const jrn_privacy *P)
{
	return P ? P->n : 0;
}

int jrn_privacy_erased(jrn_privacy *P, const char *s, size_t n)
{
	if (!P || P->n == 0)
		return 0;
	if (P->seen && jrn_idmap_count(P->seen) >= JRN_PRIVACY_CACHE) {
		jrn_idmap_free(P->seen); /* start afresh: memory stays bounded */
		P->seen = NULL;
	}
	if (!P->seen)
		P->seen = jrn_idmap_new();
	bool added = false;
	int64_t i = P->seen ? jrn_idmap_put(P->seen, s, n, &added) : -1;
	if (i >= 0 && !added)
		return P->found[i];
	unsigned char md[32];
	if (hmac_run(&P->h, s, n, md) < 0)
		return -1;
	int erased = bsearch(md, P->hashes, P->n, sizeof *P->hashes, by_hash) != NULL;
	if (i >= 0 && (size_t)i >= P->found_cap) {
		size_t cap = P->found_cap ? P->found_cap * 2 : 1024;
		while (cap <= (size_t)i)
			cap *= 2;
		unsigned char *p = realloc(P->found, cap);
		if (!p) { /* the answer stands; the cache forgets */
			jrn_idmap_free(P->seen);
			P->seen = NULL;
			return erased;
		}
		P->found = p, P->found_cap = cap;
	}
	if (i >= 0)
		P->found[i] = (unsigned char)erased;
	return erased;
}

void jrn_privacy_count_add(jv *counts, const char *name, int64_t n)
{
	if (n <= 0)
		return;
	jv old = jv_object_get(jv_copy(*counts), jv_string(name));
	double was = jv_get_kind(old) == JV_KIND_NUMBER ? jv_number_value(old) : 0;
	jv_free(old);
	*counts = jv_object_set(*counts, jv_string(name), jv_number(was + (double)n));
}

int jrn_privacy_steps(sqlite3 *db, const char *const (*steps)[2], size_t n, jv *counts,
		      jrn_err *e)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(db, steps[i][1], -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return jrn_fail(e, "%s: %s", steps[i][0], sqlite3_errmsg(db));
		jrn_privacy_count_add(counts, steps[i][0], sqlite3_changes64(db));
	}
	return 0;
}
