/* webhook.c: the webhook provider: the action (or its json template) POSTed
 * as JSON to url, with an Idempotency-Key and an HMAC-SHA256 signature
 * (X-Jrn-Timestamp, X-Jrn-Signature: sha256=HEX over "TIMESTAMP.BODY"). */
#include <stdlib.h>
#include <string.h>

#include "jrn-send.h"

static int webhook_start(send_ctx *S, xfer *x, CURL *c)
{
	(void)S;
	job *j = x->jobs[0];
	if (add_header(&x->hdrs, "Idempotency-Key: %s", j->keyhash) < 0)
		return -1;
	return http_post_json(x, c, x->p->url, x->p->secret, j->payload.p, j->payload.len);
}

/* 2xx is done (the message id from X-Request-Id); the rest by status. */
static void webhook_done(xfer *x, CURL *c, CURLcode res, long code, enum outcome *kind,
			 jrn_buf *msg, int64_t *retry_ms)
{
	*kind = http_outcome(res, code, x->errbuf, &x->resp, msg);
	if (*kind == OUT_OK) {
		struct curl_header *h;
		if (curl_easy_header(c, "X-Request-Id", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
			job *j = x->jobs[0];
			free(j->message_id);
			j->message_id = strdup(h->value);
		}
	} else if (res == CURLE_OK) {
		*retry_ms = code == 429 || code == 503 ? retry_after_ms(c) : -1;
	}
}

/* type: webhook, with url and secret. */
static int webhook_load(send_ctx *S, provider *p, jv pc, const char *where, jrn_err *e)
{
	(void)S, (void)pc;
	if (!p->url || !p->secret)
		return jrn_fail(e, "%s: webhook needs url and secret", where);
	return 0;
}

const provider_ops webhook_ops = {
	.type = "webhook",
	.load = webhook_load,
	.start = webhook_start,
	.done = webhook_done,
};
