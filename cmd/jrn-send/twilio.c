/* twilio.c: the Twilio provider for SMS and WhatsApp: a form POST to
 * BASE/2010-04-01/Accounts/SID/Messages.json with Basic authentication
 * and an I-Twilio-Idempotency-Token; the message id is the response's sid.
 * Error codes: https://www.twilio.com/docs/api/errors */
#include <stdlib.h>
#include <string.h>

#include "jrn-send.h"

enum outcome twilio_outcome(long http, const char *body, size_t len, jrn_buf *msg,
			    const char **suppress, int *code_out)
{
	jv v = body ? jv_parse_sized(body, (int)len) : jv_invalid();
	int code = 0;
	size_t before = msg->len;
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv c = jv_object_get(jv_copy(v), jv_string("code"));
		if (jv_get_kind(c) == JV_KIND_NUMBER)
			code = (int)jv_number_value(c);
		jv_free(c);
		jv m = jv_object_get(jv_copy(v), jv_string("message"));
		if (jv_get_kind(m) == JV_KIND_STRING)
			jrn_buf_addf(msg, "HTTP %ld, Twilio error %d: %s", http, code, jv_string_value(m));
		jv_free(m);
	}
	jv_free(v);
	if (msg->len == before)
		jrn_buf_addf(msg, "HTTP %ld", http);
	*code_out = code;
	switch (code) {
	case 21211: /* invalid 'To' */
	case 21614: /* 'To' is not a mobile number */
	case 21612: /* cannot route to this number */
		*suppress = "invalid";
		return OUT_PERMANENT;
	case 21610: /* the recipient replied STOP */
		*suppress = "unsubscribed";
		return OUT_PERMANENT;
	case 20429: /* too many requests */
		return OUT_TRANSIENT;
	}
	return http == 408 || http == 425 || http == 429 || http >= 500 ? OUT_TRANSIENT
									: OUT_PERMANENT;
}

static int twilio_start(send_ctx *S, xfer *x, CURL *c)
{
	(void)S;
	provider *p = x->p;
	job *j = x->jobs[0];
	jrn_buf *f = &x->body, to = {0}, from = {0};
	bool wa = j->channel == CH_WHATSAPP;
	jrn_buf_addf(&to, "%s%s", wa ? "whatsapp:" : "", j->to);
	if (p->from)
		jrn_buf_addf(&from, "%s%s", wa && strncmp(p->from, "whatsapp:", 9) ? "whatsapp:" : "",
			     p->from);
	form_add(f, "To", to.p);
	if (p->msid)
		form_add(f, "MessagingServiceSid", p->msid);
	else
		form_add(f, "From", from.p);
	form_add(f, "Body", j->payload.p ? j->payload.p : "");
	form_add(f, "StatusCallback", p->status_callback);
	jrn_buf_free(&to);
	jrn_buf_free(&from);
	if (!f->p || add_header(&x->hdrs, "I-Twilio-Idempotency-Token: %s", j->keyhash) < 0 ||
	    add_header(&x->hdrs, "Accept: application/json") < 0 ||
	    add_header(&x->hdrs, "Content-Type: application/x-www-form-urlencoded") < 0)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, p->endpoint);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(c, CURLOPT_USERNAME, p->account_sid);
	curl_easy_setopt(c, CURLOPT_PASSWORD, p->auth_token);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->p);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
	return 0;
}

/* 2xx: sent, the id from the response's sid; otherwise Twilio's error. */
static void twilio_done(xfer *x, CURL *c, CURLcode res, long code, enum outcome *kind,
			jrn_buf *msg, int64_t *retry_ms)
{
	job *j = x->jobs[0];
	if (res != CURLE_OK) {
		*kind = http_outcome(res, code, x->errbuf, &x->resp, msg);
	} else if (code >= 200 && code < 300) {
		*kind = OUT_OK;
		if (!x->resp.p)
			return;
		jv v = jv_parse_sized(x->resp.p, (int)x->resp.len);
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			jv sid = jv_object_get(jv_copy(v), jv_string("sid"));
			if (jv_get_kind(sid) == JV_KIND_STRING) {
				free(j->message_id);
				j->message_id = strdup(jv_string_value(sid));
			}
			jv_free(sid);
		}
		jv_free(v);
	} else {
		const char *suppress = NULL;
		int tcode = 0;
		*kind = twilio_outcome(code, x->resp.p, x->resp.len, msg, &suppress, &tcode);
		if (suppress) {
			j->suppress_reason = suppress;
			snprintf(j->suppress_source, sizeof j->suppress_source, "twilio:%d", tcode);
		}
		*retry_ms = code == 429 || code == 503 ? retry_after_ms(c) : -1;
	}
}

/* type: twilio, with accountSid, authToken, from or messagingServiceSid,
 * and baseUrl (default https://api.twilio.com). */
static int twilio_load(send_ctx *S, provider *p, jv pc, const char *where, jrn_err *e)
{
	(void)S;
	if (!p->account_sid || !p->auth_token)
		return jrn_fail(e, "%s: twilio needs accountSid and authToken", where);
	if (!p->from && !p->msid)
		return jrn_fail(e, "%s: twilio needs from or messagingServiceSid", where);
	char *base = cfg_str(pc, "baseUrl");
	jrn_buf b = {0};
	const char *bu = base ? base : "https://api.twilio.com";
	size_t bl = strlen(bu);
	while (bl && bu[bl - 1] == '/')
		bl--;
	jrn_buf_add(&b, bu, bl);
	char *sid = curl_easy_escape(NULL, p->account_sid, 0);
	jrn_buf_addf(&b, "/2010-04-01/Accounts/%s/Messages.json", sid ? sid : "");
	curl_free(sid);
	free(base);
	if (!b.p)
		return jrn_fail(e, "out of memory");
	p->endpoint = b.p;
	return 0;
}

const provider_ops twilio_ops = {
	.type = "twilio",
	.load = twilio_load,
	.start = twilio_start,
	.done = twilio_done,
};
