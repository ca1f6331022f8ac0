/* hash.c: SHA-256 through OpenSSL 3. */
#include <pthread.h>

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jrn.h"

/* Fetched once: EVP_sha256() would make every EVP_Digest look the
 * algorithm up again, a lock and a search per record. */
static EVP_MD *sha256;

/* Each thread's digest context (sha256_key), made at its first digest
 * and freed when the thread ends (EVP_Digest made and freed one a
 * record: allocations, a provider context and their freeing each time). */
static pthread_key_t sha256_key;
static bool sha256_keyed;

static void free_ctx(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha256_keyed = pthread_key_create(&sha256_key, free_ctx) == 0;
}

int jrn_sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int mdlen = 0;
	pthread_once(&sha256_once, fetch_sha256);
	EVP_MD_CTX *ctx = sha256_keyed ? pthread_getspecific(sha256_key) : NULL;
	if (sha256_keyed && !ctx && (ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha256_key, ctx)) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	int ok = ctx ? EVP_DigestInit_ex2(ctx, sha256 ? sha256 : EVP_sha256(), NULL) &&
		       EVP_DigestUpdate(ctx, p, n) && EVP_DigestFinal_ex(ctx, md, &mdlen)
		     : EVP_Digest(p, n, md, &mdlen, sha256 ? sha256 : EVP_sha256(), NULL);
	if (!ok || mdlen != 32)
		return -1; /* only when OpenSSL is out of memory or broken */
	memcpy(out, md, 32);
	return 0;
}

int jrn_sha256_hex(const void *p, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	if (jrn_sha256(p, n, md) < 0) {
		out[0] = '\0';
		return -1;
	}
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

int jrn_hmac_sha256_hex(const void *key, size_t klen, const void *p, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (klen > INT_MAX || !HMAC(EVP_sha256(), key, (int)klen, p, n, md, &mdlen) || mdlen != 32) {
		out[0] = '\0';
		return -1;
	}
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}
