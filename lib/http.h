/*
 * http.h: what jrn's HTTP clients share (jrn-send's providers, jrn-merge's
 * http sources, later jrn-ai's back-ends), over libcurl: which answers are
 * worth another try (RFC 9110 §15: 408, 425, 429 and 5xx; curl errors
 * other than configuration problems), the Retry-After header (RFC 9110
 * §10.2.3: seconds or an HTTP date), exponential backoff with jitter,
 * header lines, and percent-encoding (RFC 3986 §2.1, unreserved
 * characters §2.3 kept).
 *
 * Nothing here owns a transfer: each function takes a curl handle or a
 * buffer the caller owns. No function prints.
 */
#ifndef JRN_HTTP_H
#define JRN_HTTP_H

#include <curl/curl.h>

#include "jrn.h"

/* Whether the curl result rc is a configuration problem (bad URL or
 * protocol, certificate, login, size limit) that another try cannot help. */
bool jrn_http_curl_permanent(CURLcode rc);

/* Whether HTTP status code is worth another try: 408, 425, 429 and 5xx
 * (RFC 9110 §15.5.9, RFC 8470 §5.2, RFC 6585 §4, §15.6). */
bool jrn_http_transient(long code);

/* The wait a response's Retry-After header asks for, in ms: delay-seconds,
 * or an HTTP date less the real clock (whatever --now says: the server's
 * date is real time), never below 0 and at most cap_ms. -1 when easy (a
 * finished transfer, borrowed) has no Retry-After or one that is neither
 * form (RFC 9110 §10.2.3). */
int64_t jrn_http_retry_after_ms(CURL *easy, int64_t cap_ms);
/* The same rule over a header value v (borrowed) at real time now (unix
 * seconds): jrn_http_retry_after_ms is this with the response's value. */
int64_t jrn_http_retry_after_parse(const char *v, int64_t now, int64_t cap_ms);

/* The wait before try number attempt (1 = the first retry): base_ms *
 * 2^(attempt-1), at most cap_ms, less a random part of up to half of it
 * ("equal jitter"), so that many clients that failed together do not come
 * back together. *seed is the caller's PRNG state (any value; updated). */
int64_t jrn_http_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t *seed);

/* Appends the header line fmt... (at most 1023 bytes, longer is cut) to
 * *h (a list the caller frees with curl_slist_free_all). 0, or -1 when out
 * of memory (*h unchanged). */
int jrn_http_header_add(struct curl_slist **h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Percent-encodes s[0..n) onto b: RFC 3986's unreserved characters
 * (ALPHA DIGIT - . _ ~) as they are, every other byte (UTF-8 bytes one by
 * one) as %XX with upper-case hex. 0 or -1 (memory). */
int jrn_http_pct_encode(jrn_buf *b, const char *s, size_t n);

#endif
