/* fuzz/time.c: RFC 3339 times and durations (lib/time.c).
 *
 * The first byte picks what the rest is. Oracles: a parsed time formats
 * (jrn_time_format) to 24 characters that parse back to the same instant;
 * any 64-bit instant formats within its 32-byte buffer; a parsed duration
 * equals the sum computed here independently in 128-bit arithmetic (and a
 * refused one has a reason: too large exactly when that sum passes
 * INT64_MAX); every failure has a message. */
#include "fuzz.h"

/* The reference: NUMBER UNIT pairs summed in __int128, or -1 when the
 * text is not one, -2 when it is but passes INT64_MAX. */
static __int128 ref_duration(const char *s)
{
	__int128 total = 0;
	const char *p = s;
	if (!*p)
		return -1;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		__int128 n = 0;
		bool big = false;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > INT64_MAX)
				big = true, n = (__int128)INT64_MAX + 1;
		}
		if (big) /* a number too large is said before a missing unit */
			return -2;
		const char *u = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		size_t ul = (size_t)(p - u);
		__int128 scale;
		if (ul == 2 && !memcmp(u, "ms", 2))
			scale = 1;
		else if (ul == 1 && *u == 's')
			scale = 1000;
		else if (ul == 1 && *u == 'm')
			scale = 60000;
		else if (ul == 1 && *u == 'h')
			scale = 3600000;
		else if (ul == 1 && *u == 'd')
			scale = 86400000;
		else if (ul == 1 && *u == 'w')
			scale = 604800000;
		else
			return -1;
		total += n * scale;
		if (total > INT64_MAX)
			return -2;
	}
	return total;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	jrn_err e;
	e.msg[0] = '\0';
	switch (data[0] % 3) {
	case 0: { /* a time */
		int flags = data[0] & 4 ? JRN_TIME_DATE_OK : 0;
		int64_t ms;
		if (jrn_time_parse(s, n, flags, &ms, &e) < 0) {
			FUZZ_CHECK(e.msg[0], "a refused time without a reason");
			break;
		}
		char out[32];
		size_t len = jrn_time_format(ms, out);
		FUZZ_CHECK(len == 24 && strlen(out) == 24, "%lld formats to %zu chars", (long long)ms,
			   len);
		int64_t back;
		FUZZ_CHECK(jrn_time_parse(out, len, 0, &back, &e) == 0 && back == ms,
			   "%s does not parse back to %lld: %s", out, (long long)ms, e.msg);
		break;
	}
	case 1: { /* any instant */
		int64_t ms = 0;
		memcpy(&ms, s, n < 8 ? n : 8);
		char out[32];
		size_t len = jrn_time_format(ms, out);
		FUZZ_CHECK(len < 32 && strlen(out) == len, "%lld formats to %zu chars", (long long)ms, len);
		break;
	}
	default: { /* a duration */
		char *d = fuzz_strndup((const uint8_t *)s, n);
		int64_t ms;
		__int128 want = ref_duration(d);
		if (strlen(d) != n) { /* a NUL inside: the C string ends there */
			free(d);
			break;
		}
		int rc = jrn_duration_parse(d, &ms, &e);
		if (want >= 0)
			FUZZ_CHECK(rc == 0 && ms == (int64_t)want, "'%s' is %lld ms, parsed %d %lld (%s)",
				   d, (long long)want, rc, (long long)ms, rc ? e.msg : "");
		else
			FUZZ_CHECK(rc < 0 && e.msg[0] &&
				   (want == -2) == ends_with(e.msg, "': too large"),
				   "'%s' (%s) parsed %d: %s", d, want == -2 ? "too large" : "not one", rc,
				   e.msg);
		free(d);
	}
	}
	return 0;
}
