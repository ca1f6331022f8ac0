/* Unit tests of hash.c: SHA-256 against the FIPS 180-2 vectors. */
#include <stdlib.h>

#include "jrn.h"
#include "unit.h"

static const char *sha(const void *p, size_t n)
{
	static char out[65];
	memset(out, 'X', sizeof out);
	jrn_sha256_hex(p, n, out);
	return out;
}

int main(void)
{
	CHECK_STR(sha("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
	CHECK_STR(sha(NULL, 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "NULL, 0 bytes");
	CHECK_STR(sha("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
	CHECK_STR(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "448-bit message");
	CHECK_STR(sha("abcdef", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "hashes p[0..n) only");
	CHECK_STR(sha("\0", 1), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "one NUL byte");
	{
		unsigned char all[256];
		for (int i = 0; i < 256; i++)
			all[i] = (unsigned char)i;
		CHECK_STR(sha(all, sizeof all), "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880", "every byte value");
	}
	{
		size_t n = 1000000;
		char *a = malloc(n);
		if (!a)
			return 1;
		memset(a, 'a', n);
		CHECK_STR(sha(a, n), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a's");
		free(a);
	}
	{
		const char *h = sha("abc", 3);
		int hex = 1;
		for (int i = 0; i < 64; i++)
			if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
				hex = 0;
		CHECK(hex && h[64] == '\0' && strlen(h) == 64, "64 lower-case hex digits and a NUL");
	}
	{
		/* The same input twice: the cached algorithm gives the same. */
		char a[65], b[65];
		jrn_sha256_hex("{\"a\":1}", 7, a);
		jrn_sha256_hex("{\"a\":1}", 7, b);
		CHECK_STR(a, b, "stable across calls");
		jrn_sha256_hex("{\"a\":2}", 7, b);
		CHECK(strcmp(a, b) != 0, "one byte changes the digest");
	}
	{
		/* jrn_sha256: the same digest as bytes (FIPS 180-2 "abc") */
		unsigned char md[32];
		char hex[65];
		CHECK(jrn_sha256("abc", 3, md) == 0, "jrn_sha256 runs");
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "jrn_sha256 abc");
		CHECK(jrn_sha256(NULL, 0, md) == 0 && md[0] == 0xe3 && md[31] == 0x55, "jrn_sha256 of nothing");
	}
	{
		/* RFC 4231 test cases 1 and 2 */
		char out[65];
		unsigned char key1[20];
		memset(key1, 0x0b, sizeof key1);
		CHECK(jrn_hmac_sha256_hex(key1, 20, "Hi There", 8, out) == 0, "HMAC case 1 runs");
		CHECK_STR(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "RFC 4231 case 1");
		jrn_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out);
		CHECK_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "RFC 4231 case 2");
		/* a key longer than the block is hashed first (case 6) */
		unsigned char key6[131];
		memset(key6, 0xaa, sizeof key6);
		const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
		jrn_hmac_sha256_hex(key6, sizeof key6, m6, strlen(m6), out);
		CHECK_STR(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", "RFC 4231 case 6");
	}
	return unit_done();
}
