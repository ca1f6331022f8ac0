/* hash.c: SHA-256 through OpenSSL 3. */
#include <pthread.h>

#include <limits.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jrn.h"

/* Fetched once: EVP_sha256() would make every EVP_Digest look the
 * algorithm up again, a lock and a search per record. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int jrn_sha256_hex(const void *p, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	pthread_once(&sha256_once, fetch_sha256);
	if (!EVP_Digest(p, n, md, &mdlen, sha256 ? sha256 : EVP_sha256(), NULL) ||
	    mdlen != 32) {
		/* Only when OpenSSL is out of memory or broken. */
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
