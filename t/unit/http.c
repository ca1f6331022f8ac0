/* Unit tests of http.c: transient statuses, Retry-After (RFC 9110
 * §10.2.3), backoff with jitter, header lines, percent-encoding (RFC 3986). */
#include <stdlib.h>

#include "http.h"
#include "unit.h"

static const char *pct(const char *s, size_t n)
{
	static jrn_buf b;
	jrn_buf_free(&b);
	b = (jrn_buf){0};
	if (jrn_http_pct_encode(&b, s, n) < 0)
		return "(error)";
	return b.p ? b.p : "";
}

int main(void)
{
	CHECK(!jrn_http_transient(200) && !jrn_http_transient(404) && !jrn_http_transient(401),
	      "200, 404, 401: not worth another try");
	CHECK(jrn_http_transient(408) && jrn_http_transient(425) && jrn_http_transient(429) &&
		      jrn_http_transient(500) && jrn_http_transient(503) && jrn_http_transient(599),
	      "408, 425, 429, 5xx: worth another try");
	CHECK(jrn_http_curl_permanent(CURLE_URL_MALFORMAT) && !jrn_http_curl_permanent(CURLE_OPERATION_TIMEDOUT) &&
		      !jrn_http_curl_permanent(CURLE_COULDNT_CONNECT),
	      "a bad URL is permanent, a time-out or a refused connection is not");

	/* Retry-After: Sun, 06 Nov 1994 08:49:37 GMT is 784111777 */
	const int64_t now = 784111777, cap = 60000;
	CHECK(jrn_http_retry_after_parse("2", now, cap) == 2000, "seconds");
	CHECK(jrn_http_retry_after_parse("0", now, cap) == 0, "zero seconds");
	CHECK(jrn_http_retry_after_parse("120", now, cap) == 60000, "seconds over the cap: the cap");
	CHECK(jrn_http_retry_after_parse("99999999999999999999999", now, cap) == 60000, "a huge number: the cap");
	CHECK(jrn_http_retry_after_parse("Sun, 06 Nov 1994 08:49:47 GMT", now, cap) == 10000, "an IMF-fixdate 10 s ahead");
	CHECK(jrn_http_retry_after_parse("Sunday, 06-Nov-94 08:49:47 GMT", now, cap) == 10000, "an RFC 850 date");
	CHECK(jrn_http_retry_after_parse("Sun, 06 Nov 1994 08:49:00 GMT", now, cap) == 0, "a date past: no wait");
	CHECK(jrn_http_retry_after_parse("Mon, 07 Nov 1994 08:49:37 GMT", now, cap) == 60000, "a date a day ahead: the cap");
	CHECK(jrn_http_retry_after_parse("-5", now, cap) == -1, "negative: not a Retry-After");
	CHECK(jrn_http_retry_after_parse("soon", now, cap) == -1, "words: not a Retry-After");
	CHECK(jrn_http_retry_after_parse("", now, cap) == -1, "empty: not a Retry-After");
	CHECK(jrn_http_retry_after_parse("2 s", now, cap) == -1, "a number with a unit: not a Retry-After");

	/* backoff: base * 2^(n-1), capped, less up to half at random */
	uint64_t seed = 42;
	int ok = 1;
	for (int i = 0; i < 1000; i++) {
		int64_t a = jrn_http_backoff_ms(1, 100, 10000, &seed), b = jrn_http_backoff_ms(3, 100, 10000, &seed),
			c = jrn_http_backoff_ms(30, 100, 10000, &seed);
		ok = ok && a >= 50 && a <= 100 && b >= 200 && b <= 400 && c >= 5000 && c <= 10000;
	}
	CHECK(ok, "backoff within [d/2, d] for tries 1, 3 and 30 (capped at 10 s)");
	int64_t first = jrn_http_backoff_ms(5, 100, 10000, &seed), differs = 0;
	for (int i = 0; i < 20; i++)
		differs += jrn_http_backoff_ms(5, 100, 10000, &seed) != first;
	CHECK(differs > 0, "jitter: the waits differ");
	seed = 0;
	int64_t z = jrn_http_backoff_ms(1, 100, 10000, &seed);
	CHECK(z >= 50 && z <= 100 && seed != 0, "a zero seed still jitters");

	CHECK_STR(pct("abcXYZ019-._~", 13), "abcXYZ019-._~", "unreserved characters kept");
	CHECK_STR(pct("a/b c", 5), "a%2Fb%20c", "'/' and ' ' encoded");
	CHECK_STR(pct("\xc3\xa9", 2), "%C3%A9", "UTF-8 byte by byte, upper-case hex");
	CHECK_STR(pct("?#[]@!$&'()*+,;=%", 17), "%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25", "reserved characters and the percent sign encoded");
	CHECK_STR(pct("a\0b", 3), "a%00b", "a NUL byte within n encoded");
	CHECK_STR(pct("", 0), "", "empty");

	struct curl_slist *h = NULL;
	CHECK(jrn_http_header_add(&h, "X-A: %s", "1") == 0 && jrn_http_header_add(&h, "X-B: %d", 2) == 0,
	      "header lines added");
	CHECK_STR(h ? h->data : NULL, "X-A: 1", "first line");
	CHECK_STR(h && h->next ? h->next->data : NULL, "X-B: 2", "second line");
	char big[2000];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	CHECK(jrn_http_header_add(&h, "X-C: %s", big) == 0 && strlen(h->next->next->data) == 1023,
	      "a line over 1023 bytes is cut");
	curl_slist_free_all(h);
	pct("", 0);
	return unit_done();
}
