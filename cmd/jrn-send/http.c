/* http.c: what the HTTP providers share: outcomes by curl result and
 * HTTP status (RFC 9110: 408, 425, 429 and 5xx are worth another try),
 * Retry-After, headers, signatures, form encoding, a JSON POST. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jrn-send.h"

/* Permanent curl errors: retrying cannot help (a configuration problem). */
bool curl_permanent(CURLcode rc)
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

/* Retry-After (seconds or an HTTP date) in ms, or -1. */
int64_t retry_after_ms(CURL *easy)
{
	struct curl_header *h;
	if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	const char *v = h->value;
	char *end;
	errno = 0;
	long long s = strtoll(v, &end, 10);
	/* a month at the most: a wait is added to the clock */
	if (end != v && !*end && !errno && s >= 0)
		return s > 30LL * 86400 ? 30LL * 86400 * 1000 : s * 1000;
	time_t t = curl_getdate(v, NULL);
	if (t == -1)
		return -1;
	/* the server's date is real time, whatever --now says */
	int64_t s2 = (int64_t)t - (int64_t)time(NULL);
	if (s2 > 30LL * 86400)
		s2 = 30LL * 86400;
	return s2 > 0 ? s2 * 1000 : 0;
}


/* Signs body for a webhook: X-Jrn-Timestamp and X-Jrn-Signature. */
int sign(struct curl_slist **h, const char *secret, const char *body, size_t len)
{
	char ts[32], sig[65];
	snprintf(ts, sizeof ts, "%lld", (long long)(jrn_now() / 1000));
	jrn_buf msg = {0};
	jrn_buf_addf(&msg, "%s.", ts);
	jrn_buf_add(&msg, body, len);
	int rc = msg.p ? jrn_hmac_sha256_hex(secret, strlen(secret), msg.p, msg.len, sig) : -1;
	jrn_buf_free(&msg);
	if (rc < 0 || add_header(h, "X-Jrn-Timestamp: %s", ts) < 0 ||
	    add_header(h, "X-Jrn-Signature: sha256=%s", sig) < 0)
		return -1;
	return 0;
}

/* URL-encodes s onto b (RFC 3986 unreserved kept). */
void url_encode(jrn_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			jrn_buf_addc(b, (char)c);
		else {
			char t[3] = {'%', hex[c >> 4], hex[c & 15]};
			jrn_buf_add(b, t, 3);
		}
	}
}

/* Form-encodes (application/x-www-form-urlencoded) name=value& onto b. */
void form_add(jrn_buf *b, const char *name, const char *value)
{
	if (!value)
		return;
	if (b->len)
		jrn_buf_addc(b, '&');
	url_encode(b, name);
	jrn_buf_addc(b, '=');
	url_encode(b, value);
}

enum outcome http_status_outcome(long code)
{
	if (code >= 200 && code < 300)
		return OUT_OK;
	return code == 408 || code == 425 || code == 429 || code >= 500 ? OUT_TRANSIENT
									 : OUT_PERMANENT;
}

enum outcome http_outcome(CURLcode res, long code, const char *errbuf, const jrn_buf *resp,
			  jrn_buf *msg)
{
	if (res != CURLE_OK) {
		jrn_buf_addf(msg, "%s", errbuf && errbuf[0] ? errbuf : curl_easy_strerror(res));
		return curl_permanent(res) ? OUT_PERMANENT : OUT_TRANSIENT;
	}
	if (code >= 200 && code < 300)
		return OUT_OK;
	jrn_buf_addf(msg, "HTTP %ld", code);
	if (resp && resp->p && resp->len) {
		size_t n = resp->len > 200 ? 200 : resp->len;
		jrn_buf_addf(msg, ": %.*s", (int)n, resp->p);
		for (size_t i = 0; msg->p && i < msg->len; i++)
			if (msg->p[i] == '\n' || msg->p[i] == '\r')
				msg->p[i] = ' ';
	}
	return http_status_outcome(code);
}

int add_header(struct curl_slist **h, const char *fmt, ...)
{
	char line[512];
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

int http_post_json(xfer *x, CURL *c, const char *url, const char *secret, const char *body,
		   size_t len)
{
	if (add_header(&x->hdrs, "Content-Type: application/json") < 0 ||
	    add_header(&x->hdrs, "Expect:") < 0 ||
	    (secret && sign(&x->hdrs, secret, body ? body : "", len) < 0))
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
	return 0;
}

