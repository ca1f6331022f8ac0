/* Unit tests of jrn-send's providers: each type's outcome mapping (what a
 * reply means: done, worth another try, never; and which refusals suppress
 * the address), and the table of types. Linked with cmd/jrn-send's parts. */
#include <stdlib.h>

#include "jrn-send.h"
#include "unit.h"

/* ---- SMTP (RFC 5321 replies, RFC 3463 enhanced codes) ---------------------- */

static enum outcome smtp(CURLcode res, long code, const char *reply, const char *errbuf,
			 const char **suppress, jrn_buf *msg)
{
	*suppress = NULL;
	jrn_buf_reset(msg);
	return smtp_outcome(res, code, reply, errbuf, msg, suppress);
}

static void test_smtp(void)
{
	const char *sup;
	jrn_buf msg = {0};
	CHECK(smtp(CURLE_OK, 250, "250 2.0.0 Ok: queued", "", &sup, &msg) == OUT_OK && !sup,
	      "smtp: 250 is sent");
	for (long code = 550; code <= 553; code++) {
		char reply[64];
		snprintf(reply, sizeof reply, "%ld 5.1.1 <x@example.com>: no such user", code);
		enum outcome k = smtp(CURLE_SEND_ERROR, code, reply, "RCPT failed: 550", &sup, &msg);
		CHECK(k == OUT_PERMANENT && sup && !strcmp(sup, "bounced"),
		      "smtp: %ld 5.1.1 at RCPT: permanent, suppressed as bounced", code);
	}
	CHECK(smtp(CURLE_SEND_ERROR, 550, "550 no such user", "RCPT failed: 550", &sup, &msg) ==
			  OUT_PERMANENT && sup && !strcmp(sup, "bounced"),
	      "smtp: 550 without an enhanced code at RCPT: bounced");
	CHECK(smtp(CURLE_SEND_ERROR, 550, "550 5.7.1 Relaying denied", "RCPT failed: 550", &sup,
		   &msg) == OUT_PERMANENT && !sup,
	      "smtp: 5.7.1 policy refusal: permanent, but no suppression");
	CHECK(smtp(CURLE_SEND_ERROR, 554, "554 5.7.0 Policy", "RCPT failed: 554", &sup, &msg) ==
			  OUT_PERMANENT && !sup,
	      "smtp: 554 is permanent, not a bounce");
	CHECK(smtp(CURLE_SEND_ERROR, 552, "552-5.2.2 Mailbox full", "RCPT failed: 552", &sup, &msg) ==
			  OUT_PERMANENT && !sup,
	      "smtp: 552 5.2.2 (mailbox full) does not suppress");
	CHECK(smtp(CURLE_SEND_ERROR, 550, "550 5.1.1 no such user", "DATA failed: 550", &sup, &msg) ==
			  OUT_PERMANENT && !sup,
	      "smtp: 550 after DATA is not a recipient refusal");
	CHECK(smtp(CURLE_SEND_ERROR, 450, "450 4.2.0 Try later", "RCPT failed: 450", &sup, &msg) ==
			  OUT_TRANSIENT && !sup,
	      "smtp: 4xx is transient");
	CHECK_STR(msg.p, "450 4.2.0 Try later (RCPT failed: 450)", "smtp: the message quotes the reply");
	CHECK(smtp(CURLE_COULDNT_CONNECT, 0, "", "", &sup, &msg) == OUT_TRANSIENT,
	      "smtp: a refused connection is transient");
	CHECK(smtp(CURLE_LOGIN_DENIED, 535, "", "Login denied", &sup, &msg) == OUT_PERMANENT,
	      "smtp: a login denied is permanent");
	CHECK(smtp(CURLE_USE_SSL_FAILED, 0, "", "", &sup, &msg) == OUT_PERMANENT,
	      "smtp: TLS required and not offered is permanent");
	jrn_buf_free(&msg);
}

/* ---- Twilio (error codes: twilio.com/docs/api/errors) ------------------------ */

static enum outcome twilio(long http, const char *body, const char **suppress, int *code,
			   jrn_buf *msg)
{
	*suppress = NULL;
	*code = -1;
	jrn_buf_reset(msg);
	return twilio_outcome(http, body, body ? strlen(body) : 0, msg, suppress, code);
}

static void test_twilio(void)
{
	const char *sup;
	int code;
	jrn_buf msg = {0};
	static const int invalid[] = {21211, 21614, 21612};
	for (size_t i = 0; i < 3; i++) {
		char body[128];
		snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"bad To\",\"status\":400}",
			 invalid[i]);
		CHECK(twilio(400, body, &sup, &code, &msg) == OUT_PERMANENT && sup &&
			      !strcmp(sup, "invalid") && code == invalid[i],
		      "twilio: %d is permanent and suppresses as invalid", invalid[i]);
	}
	CHECK_STR(msg.p, "HTTP 400, Twilio error 21612: bad To", "twilio: the message names the code");
	CHECK(twilio(400, "{\"code\":21610,\"message\":\"STOP\"}", &sup, &code, &msg) ==
			  OUT_PERMANENT && sup && !strcmp(sup, "unsubscribed"),
	      "twilio: 21610 (replied STOP) suppresses as unsubscribed");
	CHECK(twilio(429, "{\"code\":20429,\"message\":\"Too Many Requests\"}", &sup, &code, &msg) ==
			  OUT_TRANSIENT && !sup,
	      "twilio: 20429 is transient");
	CHECK(twilio(429, NULL, &sup, &code, &msg) == OUT_TRANSIENT && !sup && code == 0,
	      "twilio: HTTP 429 without a body is transient");
	CHECK_STR(msg.p, "HTTP 429", "twilio: the message without a body");
	CHECK(twilio(500, "{\"code\":20500,\"message\":\"Internal\"}", &sup, &code, &msg) ==
			  OUT_TRANSIENT && !sup,
	      "twilio: 5xx is transient");
	CHECK(twilio(503, "<html>down</html>", &sup, &code, &msg) == OUT_TRANSIENT,
	      "twilio: 503 with a non-JSON body is transient");
	CHECK(twilio(401, "{\"code\":20003,\"message\":\"Authenticate\"}", &sup, &code, &msg) ==
			  OUT_PERMANENT && !sup,
	      "twilio: 401 (20003) is permanent and suppresses nothing");
	CHECK(twilio(400, "{\"code\":21408,\"message\":\"Permission\"}", &sup, &code, &msg) ==
			  OUT_PERMANENT && !sup,
	      "twilio: another 4xx code is permanent, nothing suppressed");
	jrn_buf_free(&msg);
}

/* ---- HTTP (webhooks, audience uploads; RFC 9110) ---------------------------- */

static void test_http(void)
{
	jrn_buf msg = {0}, resp = {0};
	CHECK(http_status_outcome(200) == OUT_OK && http_status_outcome(204) == OUT_OK,
	      "http: 2xx is done");
	CHECK(http_status_outcome(408) == OUT_TRANSIENT && http_status_outcome(425) == OUT_TRANSIENT &&
		      http_status_outcome(429) == OUT_TRANSIENT,
	      "http: 408, 425, 429 are transient");
	CHECK(http_status_outcome(500) == OUT_TRANSIENT && http_status_outcome(502) == OUT_TRANSIENT &&
		      http_status_outcome(503) == OUT_TRANSIENT,
	      "http: 5xx is transient");
	CHECK(http_status_outcome(400) == OUT_PERMANENT && http_status_outcome(401) == OUT_PERMANENT &&
		      http_status_outcome(404) == OUT_PERMANENT && http_status_outcome(410) == OUT_PERMANENT,
	      "http: other 4xx are permanent");
	CHECK(http_status_outcome(301) == OUT_PERMANENT, "http: a redirect not followed is permanent");
	jrn_buf_adds(&resp, "bad\nrequest");
	CHECK(http_outcome(CURLE_OK, 400, "", &resp, &msg) == OUT_PERMANENT, "http: 400 with a body");
	CHECK_STR(msg.p, "HTTP 400: bad request", "http: the body in the message, on one line");
	jrn_buf_reset(&msg);
	CHECK(http_outcome(CURLE_OPERATION_TIMEDOUT, 0, "Operation timed out", NULL, &msg) ==
			  OUT_TRANSIENT,
	      "http: a timeout is transient");
	CHECK_STR(msg.p, "Operation timed out", "http: curl's message");
	jrn_buf_reset(&msg);
	CHECK(http_outcome(CURLE_URL_MALFORMAT, 0, "", NULL, &msg) == OUT_PERMANENT,
	      "http: a malformed URL is permanent");
	CHECK(http_outcome(CURLE_OK, 201, "", NULL, &msg) == OUT_OK, "http: 201 is done");
	jrn_buf_free(&msg);
	jrn_buf_free(&resp);
}

static void test_table(void)
{
	static const char *const types[] = {"smtp", "twilio", "webhook", "retargeting", "spool"};
	for (size_t i = 0; i < 5; i++) {
		const provider_ops *ops = provider_type(types[i]);
		CHECK(ops && !strcmp(ops->type, types[i]) && ops->load,
		      "the table has %s, with a load", types[i]);
		CHECK(ops && (ops->send_local || (ops->start && ops->done)),
		      "%s can send (locally, or start and done)", types[i]);
	}
	CHECK(provider_type("pigeon") == NULL, "an unknown type is not in the table");
	CHECK(provider_type("spool") == &spool_ops && spool_ops.simulates,
	      "the spool simulates");
	CHECK(!provider_type("smtp")->simulates && !provider_type("webhook")->simulates,
	      "the others deliver");
	CHECK(provider_type("retargeting")->same_batch && !provider_type("smtp")->same_batch,
	      "only audiences go in batches");
}

int main(void)
{
	test_smtp();
	test_twilio();
	test_http();
	test_table();
	return unit_done();
}
