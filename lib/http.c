/* http.c: what jrn's HTTP clients share (see http.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

bool jrn_http_curl_permanent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_USE_SSL_FAILED:
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_FILESIZE_EXCEEDED:
		return true;
	default:
		return false;
	}
}

bool jrn_http_transient(long code)
{
	return code == 408 || code == 425 || code == 429 || code >= 500;
}

int64_t jrn_http_retry_after_parse(const char *v, int64_t now, int64_t cap_ms)
{
	char *end;
	errno = 0;
	long long s = strtoll(v, &end, 10);
	bool digits = v[0] >= '0' && v[0] <= '9';
	if (digits && end != v && !*end && !errno)
		return s > cap_ms / 1000 ? cap_ms : (int64_t)s * 1000;
	if (digits && errno == ERANGE && !*end)
		return cap_ms;
	time_t t = curl_getdate(v, NULL);
	if (t == -1)
		return -1;
	int64_t d = (int64_t)t - now;
	return d <= 0 ? 0 : d > cap_ms / 1000 ? cap_ms : d * 1000;
}

int64_t jrn_http_retry_after_ms(CURL *easy, int64_t cap_ms)
{
	struct curl_header *h;
	if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	return jrn_http_retry_after_parse(h->value, (int64_t)time(NULL), cap_ms);
}

int64_t jrn_http_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t *seed)
{
	int64_t d = base_ms;
	for (int i = 1; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	/* xorshift64*: enough to spread clients, not for secrets */
	uint64_t x = *seed ? *seed : 0x9e3779b97f4a7c15u;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*seed = x;
	uint64_t r = x * 0x2545f4914f6cdd1du;
	int64_t half = d / 2;
	return d - (half > 0 ? (int64_t)(r % (uint64_t)(half + 1)) : 0);
}

int jrn_http_header_add(struct curl_slist **h, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	struct curl_slist *n = curl_slist_append(*h, line);
	if (!n)
		return -1;
	*h = n;
	return 0;
}

int jrn_http_pct_encode(jrn_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (jrn_buf_addc(b, (char)c) < 0)
				return -1;
		} else {
			char t[3] = {'%', hex[c >> 4], hex[c & 15]};
			if (jrn_buf_add(b, t, 3) < 0)
				return -1;
		}
	}
	return 0;
}
