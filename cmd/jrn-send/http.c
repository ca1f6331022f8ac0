/* http.c: what the HTTP providers share: outcomes by curl result and
 * HTTP status, signatures, form encoding, a JSON POST. The rules they
 * share with jrn-merge (which answers are worth another try, Retry-After,
 * header lines, percent-encoding) are lib/http.c's. */
#include <stdlib.h>
#include <string.h>

#include "jrn-send.h"

/* Permanent curl errors: lib/http.c's rule. */
bool curl_permanent(CURLcode rc)
{
	return jrn_http_curl_permanent(rc);
}

/* Retry-After (seconds or an HTTP date) in ms, at most a month (a wait is
 * added to the clock), or -1: lib/http.c's parser. */
int64_t retry_after_ms(CURL *easy)
{
	return jrn_http_retry_after_ms(easy, 30LL * 86400 * 1000);
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

/* URL-encodes s onto b (RFC 3986 unreserved kept): lib/http.c's. */
void url_encode(jrn_buf *b, const char *s)
{
	jrn_http_pct_encode(b, s, strlen(s));
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
	return jrn_http_transient(code) ? OUT_TRANSIENT : OUT_PERMANENT;
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

