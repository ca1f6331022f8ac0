/* track.c: the tracking, unsubscribe and Twilio endpoints of jrn-ingest
 * --listen (jrn-ingest(1), TRACKING AND UNSUBSCRIBE and TWILIO).
 *
 * A handler turns one request into a reply and the events to store before
 * it is sent (NDJSON lines, stored by the listener like any POSTed event:
 * checked, deduplicated, committed, written to stdout), plus, for Twilio's
 * 30003/30005/30006, a suppression written in the same transaction
 * (track_store_extra, through lib/reach.c). Lookups (a phone number's
 * customers, a MessageSid's delivery) read the state file on the
 * connection the listener hands over; nothing here writes it.
 *
 *   GET  /o/TOKEN         1x1 GIF; email.opened
 *   GET  /c/TOKEN         302 to the token's target; email.clicked
 *   GET  /u/TOKEN         a confirmation page with a button (a form POST)
 *   POST /u/TOKEN         body List-Unsubscribe=One-Click (RFC 8058, and
 *                         the button): consent.revoked; 200, idempotent
 *   POST /twilio/inbound  STOP... / START... / HELP (Twilio's advanced
 *                         opt-out keywords): consent events, TwiML reply
 *   POST /twilio/status   MessageStatus: sms.delivered / sms.failed; 204
 *
 * A token that does not verify is 404 and stores nothing (so a probe
 * learns nothing from the answer); a Twilio request whose X-Twilio-
 * Signature does not verify is 403.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jrn-ingest.h"
#include "track.h"

static struct {
	char *secret;       /* ingest.tracking.secret */
	char *twilio_token; /* ingest.twilio.authToken */
	char *twilio_url;   /* ingest.twilio.url: the public base URL Twilio calls */
	char *help;         /* ingest.twilio.help */
	char *region;       /* ingest.defaultCountry */
} T;

/* GIF89a, 1x1, one transparent pixel (43 bytes). */
static const unsigned char gif[] = {
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

static char *str_at(jv cfg, const char *dotted)
{
	jv v = jrn_config_get(cfg, dotted);
	char *s = jv_get_kind(v) == JV_KIND_STRING && *jv_string_value(v)
			  ? strdup(jv_string_value(v)) : NULL;
	jv_free(v);
	return s;
}

int track_setup(jv cfg, jrn_err *e)
{
	track_free();
	T.secret = str_at(cfg, "ingest.tracking.secret");
	T.twilio_token = str_at(cfg, "ingest.twilio.authToken");
	T.twilio_url = str_at(cfg, "ingest.twilio.url");
	T.help = str_at(cfg, "ingest.twilio.help");
	T.region = str_at(cfg, "ingest.defaultCountry");
	if (T.twilio_url) {
		size_t n = strlen(T.twilio_url);
		if (strncasecmp(T.twilio_url, "http://", 7) && strncasecmp(T.twilio_url, "https://", 8))
			return jrn_fail(e, "ingest.twilio.url: not an http or https URL");
		while (n && T.twilio_url[n - 1] == '/')
			T.twilio_url[--n] = '\0';
	}
	if (!T.help)
		T.help = strdup("Reply STOP to unsubscribe, START to subscribe again.");
	return T.help ? 0 : jrn_fail(e, "out of memory");
}

void track_free(void)
{
	free(T.secret), free(T.twilio_token), free(T.twilio_url), free(T.help), free(T.region);
	memset(&T, 0, sizeof T);
}

int track_path(const char *path)
{
	if (!strncmp(path, "/o/", 3) || !strncmp(path, "/c/", 3) || !strncmp(path, "/u/", 3))
		return 1;
	return !strcmp(path, "/twilio/inbound") || !strcmp(path, "/twilio/status");
}

void track_reply_free(track_reply *r)
{
	jrn_buf_free(&r->body), jrn_buf_free(&r->events);
	free(r->location), free(r->suppress_address);
	memset(r, 0, sizeof *r);
}

/* ---- replies and events ------------------------------------------------------ */

static int reply(track_reply *r, int status, const char *type, const char *body)
{
	r->status = status;
	r->content_type = type;
	jrn_buf_reset(&r->body);
	return body ? jrn_buf_adds(&r->body, body) : 0;
}

/* Appends ev (consumed) as one NDJSON line to r->events, with timestamp
 * now; 0 or -1 with e. */
static int event_add(track_reply *r, jv ev, int64_t now, jrn_err *e)
{
	char ts[32];
	jrn_time_format(now, ts);
	ev = jv_object_set(ev, jv_string("timestamp"), jv_string(ts));
	if (jrn_json_append(&r->events, ev, 0, e) < 0 || jrn_buf_addc(&r->events, '\n') < 0)
		return jrn_fail(e, "out of memory");
	return 0;
}

/* A stable event id: "PREFIX-" and the SHA-256 of the JSON array of the
 * parts (injective), so a repeated request is a duplicate. */
static jv stable_id(const char *prefix, jv parts)
{
	jrn_buf b = {0};
	char hex[65];
	jrn_err e;
	jv id = jv_invalid();
	if (jrn_json_append(&b, parts, 0, &e) == 0 && jrn_sha256_hex(b.p, b.len, hex) == 0) {
		char s[96];
		snprintf(s, sizeof s, "%s-%.40s", prefix, hex);
		id = jv_string(s);
	}
	jrn_buf_free(&b);
	return id;
}

static void html_escape(jrn_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': jrn_buf_adds(b, "&amp;"); break;
		case '<': jrn_buf_adds(b, "&lt;"); break;
		case '>': jrn_buf_adds(b, "&gt;"); break;
		case '"': jrn_buf_adds(b, "&quot;"); break;
		case '\'': jrn_buf_adds(b, "&#39;"); break;
		default: jrn_buf_addc(b, *s);
		}
	}
}

/* ---- tokens: /o/ /c/ /u/ ------------------------------------------------------- */

static const char page_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width\">"
	"<meta name=\"robots\" content=\"noindex\"><title>Unsubscribe</title></head><body>\n";

static int token_request(const track_request *q, track_reply *r, jrn_err *e)
{
	char kind = q->path[1];
	const char *tok = q->path + 3;
	jrn_track_token t = {0};
	jrn_err why;
	if (!T.secret || jrn_track_verify(T.secret, strlen(T.secret), tok, strlen(tok), &t, &why) < 0 ||
	    t.kind != kind) {
		jrn_track_token_free(&t);
		return reply(r, 404, "text/plain; charset=utf-8", "not found\n");
	}
	bool get = !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");
	bool post = !strcmp(q->method, "POST");
	int rc = 0;
	jv props = JV_OBJECT(jv_string("deliveryKey"), jv_string(t.key), jv_string("campaignId"),
			     jv_string(t.campaign), jv_string("channel"), jv_string(t.channel));
	if (!*t.campaign)
		props = jv_object_delete(props, jv_string("campaignId"));
	jv ev = JV_OBJECT(jv_string("customerId"), jv_string(t.customer));
	if (q->user_agent && *q->user_agent &&
	    jrn_utf8_invalid_at(q->user_agent, strlen(q->user_agent)) == strlen(q->user_agent))
		ev = jv_object_set(ev, jv_string("context"),
				   JV_OBJECT(jv_string("userAgent"), jv_string(q->user_agent)));

	if (kind == 'o' || kind == 'c') {
		if (!get) {
			r->allow = "GET, HEAD";
			rc = reply(r, 405, "text/plain; charset=utf-8", "method not allowed\n");
			goto done;
		}
		ev = jv_object_set(ev, jv_string("type"),
				   jv_string(kind == 'o' ? "email.opened" : "email.clicked"));
		if (kind == 'c')
			props = jv_object_set(props, jv_string("url"), jv_string(t.url));
		ev = jv_object_set(ev, jv_string("properties"), props);
		props = jv_invalid();
		rc = event_add(r, ev, q->now, e);
		ev = jv_invalid();
		if (rc < 0)
			goto done;
		if (kind == 'o') {
			r->status = 200;
			r->content_type = "image/gif";
			rc = jrn_buf_add(&r->body, gif, sizeof gif);
		} else {
			r->location = strdup(t.url);
			rc = reply(r, 302, "text/plain; charset=utf-8", "");
			if (!r->location || jrn_buf_adds(&r->body, t.url) < 0 ||
			    jrn_buf_addc(&r->body, '\n') < 0)
				rc = jrn_fail(e, "out of memory");
		}
		goto done;
	}
	/* /u/ */
	if (get) {
		rc = reply(r, 200, "text/html; charset=utf-8", page_head);
		jrn_buf_adds(&r->body, "<h1>Unsubscribe</h1>\n<p>Stop receiving ");
		html_escape(&r->body, t.channel);
		jrn_buf_adds(&r->body, " messages");
		if (*t.campaign) {
			jrn_buf_adds(&r->body, " like this one (");
			html_escape(&r->body, t.campaign);
			jrn_buf_addc(&r->body, ')');
		}
		jrn_buf_adds(&r->body, "?</p>\n<form method=\"post\" action=\"\">"
				       "<input type=\"hidden\" name=\"List-Unsubscribe\" "
				       "value=\"One-Click\">"
				       "<button type=\"submit\" id=\"unsubscribe\">Unsubscribe</button>"
				       "</form>\n</body></html>\n");
		goto done;
	}
	if (!post) {
		r->allow = "GET, HEAD, POST";
		rc = reply(r, 405, "text/plain; charset=utf-8", "method not allowed\n");
		goto done;
	}
	jv form = jrn_form_parse(q->body ? q->body : "", q->body_len, &why);
	const char *lu = jv_is_valid(form) ? jrn_form_get(form, "List-Unsubscribe") : NULL;
	bool one_click = lu && !strcmp(lu, "One-Click");
	jv_free(form);
	if (!one_click) {
		rc = reply(r, 400, "text/plain; charset=utf-8",
			   "the body must be List-Unsubscribe=One-Click (RFC 8058)\n");
		goto done;
	}
	props = jv_object_set(props, jv_string("scope"), jv_string("channel"));
	ev = jv_object_set(ev, jv_string("type"), jv_string("consent.revoked"));
	ev = jv_object_set(ev, jv_string("id"),
			   stable_id("unsubscribe", JV_ARRAY(jv_string(t.key), jv_string(t.channel))));
	ev = jv_object_set(ev, jv_string("properties"), props);
	props = jv_invalid();
	rc = event_add(r, ev, q->now, e);
	ev = jv_invalid();
	if (rc == 0) {
		rc = reply(r, 200, "text/html; charset=utf-8", page_head);
		jrn_buf_adds(&r->body, "<h1>Unsubscribed</h1>\n<p>You will not receive further ");
		html_escape(&r->body, t.channel);
		jrn_buf_adds(&r->body, " messages from us.</p>\n</body></html>\n");
	}
done:
	jv_free(props), jv_free(ev);
	jrn_track_token_free(&t);
	return rc < 0 ? jrn_fail(e, "out of memory") : 0;
}

/* ---- Twilio ---------------------------------------------------------------------- */

/* Twilio's advanced opt-out keywords (support.twilio.com, "Twilio support
 * for opt-out keywords (SMS STOP filtering)"): the whole body, trimmed,
 * case-insensitive. */
static const char *const stop_words[] = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",
					 "QUIT", NULL};
static const char *const start_words[] = {"START", "YES", "UNSTOP", NULL};

static bool keyword(const char *body, const char *const *words)
{
	while (*body && isspace((unsigned char)*body))
		body++;
	size_t n = strlen(body);
	while (n && isspace((unsigned char)body[n - 1]))
		n--;
	for (; *words; words++)
		if (strlen(*words) == n && !strncasecmp(body, *words, n))
			return true;
	return false;
}

static void xml_escape(jrn_buf *b, const char *s)
{
	html_escape(b, s);
}

/* The customers (at most TRACK_MAX_PHONE_CUSTOMERS) whose identities
 * claim phone (E.164), as an array of strings, or jv_invalid with e. */
static jv phone_customers(sqlite3 *db, const char *phone, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	jv out = jv_array();
	if (sqlite3_prepare_v2(db,
			       "SELECT DISTINCT customer_id FROM identities WHERE kind = 'phone' "
			       "AND value = ?1 ORDER BY customer_id LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK) {
		jrn_fail(e, "%s", sqlite3_errmsg(db));
		jv_free(out);
		return jv_invalid();
	}
	sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, TRACK_MAX_PHONE_CUSTOMERS);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		out = jv_array_append(out, jv_string((const char *)sqlite3_column_text(st, 0)));
	if (rc != SQLITE_DONE) {
		jrn_fail(e, "%s", sqlite3_errmsg(db));
		jv_free(out);
		out = jv_invalid();
	}
	sqlite3_finalize(st);
	return out;
}

/* Checks X-Twilio-Signature; 1 when it holds, 0 after a 403 reply. */
static int twilio_signed(const track_request *q, jv form, track_reply *r)
{
	jrn_buf url = {0};
	if (T.twilio_url)
		jrn_buf_addf(&url, "%s%s", T.twilio_url, q->path);
	else
		jrn_buf_adds(&url, q->url ? q->url : "");
	if (q->query && *q->query)
		jrn_buf_addf(&url, "?%s", q->query);
	bool ok = T.twilio_token && url.p &&
		  jrn_twilio_check(T.twilio_token, strlen(T.twilio_token), url.p, form,
				   q->twilio_signature);
	jrn_buf_free(&url);
	if (!ok)
		reply(r, 403, "text/plain; charset=utf-8", "bad or missing X-Twilio-Signature\n");
	return ok;
}

static int twilio_inbound(const track_request *q, jv form, track_reply *r, jrn_err *e)
{
	const char *from = jrn_form_get(form, "From"), *body = jrn_form_get(form, "Body");
	const char *sid = jrn_form_get(form, "MessageSid");
	bool stop = body && keyword(body, stop_words), start = body && keyword(body, start_words);
	bool help = body && (keyword(body, (const char *const[]){"HELP", "INFO", NULL}));
	if (stop || start) {
		jrn_buf phone = {0};
		jrn_err why;
		if (!from || jrn_phone_e164(from, strlen(from), T.region ? T.region : "US", &phone,
					    &why) < 0) {
			jrn_buf_free(&phone);
			return reply(r, 400, "text/plain; charset=utf-8",
				     "From: not a phone number\n") < 0 ? -1 : 0;
		}
		jv who = phone_customers(q->db, phone.p, e);
		if (!jv_is_valid(who)) {
			jrn_buf_free(&phone);
			return -1;
		}
		if (jv_array_length(jv_copy(who)) == 0) /* nobody known: the number speaks for itself */
			who = jv_array_append(who, jv_string(phone.p));
		int rc = 0;
		jv_array_foreach(who, i, c) {
			jv props = JV_OBJECT(jv_string("channel"), jv_string("sms"), jv_string("from"),
					     jv_string(phone.p), jv_string("keyword"),
					     jv_string(body), jv_string("source"), jv_string("twilio"));
			if (sid)
				props = jv_object_set(props, jv_string("messageSid"), jv_string(sid));
			jv ev = JV_OBJECT(jv_string("type"),
					  jv_string(stop ? "consent.revoked" : "consent.granted"),
					  jv_string("customerId"), jv_copy(c), jv_string("properties"), props);
			/* Twilio retries a webhook: the same message is the same event */
			if (sid)
				ev = jv_object_set(ev, jv_string("id"),
						   stable_id("twilio", JV_ARRAY(jv_string(sid), c)));
			else
				jv_free(c);
			if (rc == 0 && event_add(r, ev, q->now, e) < 0)
				rc = -1;
			else if (rc)
				jv_free(ev);
		}
		jv_free(who);
		jrn_buf_free(&phone);
		if (rc < 0)
			return -1;
	}
	/* Twilio answers STOP and START itself (advanced opt-out); HELP gets
	 * ours when it is not configured there */
	if (reply(r, 200, "text/xml; charset=utf-8",
		  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>") < 0)
		return -1;
	if (help) {
		jrn_buf_adds(&r->body, "<Message>");
		xml_escape(&r->body, T.help);
		jrn_buf_adds(&r->body, "</Message>");
	}
	return jrn_buf_adds(&r->body, "</Response>\n");
}

/* The delivery whose message_id is sid: *key, *customer, *campaign
 * (malloc'd, NULL when not found). 0 or -1 with e. */
static int delivery_of(sqlite3 *db, const char *sid, char **key, char **customer, char **campaign,
		       jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	*key = *customer = *campaign = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT key, customer_id, campaign_id FROM deliveries "
			       "WHERE message_id = ?1 ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *c = (const char *)sqlite3_column_text(st, 1);
		const char *m = (const char *)sqlite3_column_text(st, 2);
		*key = k ? strdup(k) : NULL;
		*customer = c ? strdup(c) : NULL;
		*campaign = m ? strdup(m) : NULL;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(db));
}

static int twilio_status(const track_request *q, jv form, track_reply *r, jrn_err *e)
{
	const char *sid = jrn_form_get(form, "MessageSid"), *st = jrn_form_get(form, "MessageStatus");
	const char *to = jrn_form_get(form, "To"), *code = jrn_form_get(form, "ErrorCode");
	if (!sid || !*sid || !st)
		return reply(r, 400, "text/plain; charset=utf-8",
			     "MessageSid and MessageStatus are required\n") < 0 ? -1 : 0;
	const char *type = !strcmp(st, "delivered") ? "sms.delivered"
			   : !strcmp(st, "undelivered") || !strcmp(st, "failed") ? "sms.failed"
										: NULL;
	if (!type) /* queued, sent, accepted, ...: no engagement yet */
		return reply(r, 204, NULL, NULL);
	char *key, *customer, *campaign;
	if (delivery_of(q->db, sid, &key, &customer, &campaign, e) < 0)
		return -1;
	jrn_buf phone = {0};
	jrn_err why;
	bool have_to = to && jrn_phone_e164(to, strlen(to), T.region ? T.region : "US", &phone,
					    &why) == 0;
	int rc = 0;
	const char *who = customer ? customer : have_to ? phone.p : NULL;
	if (!who) {
		rc = reply(r, 400, "text/plain; charset=utf-8",
			   "unknown MessageSid and no To: no customer to record it for\n");
		goto done;
	}
	jv props = JV_OBJECT(jv_string("channel"), jv_string("sms"), jv_string("messageSid"),
			     jv_string(sid), jv_string("status"), jv_string(st));
	if (key)
		props = jv_object_set(props, jv_string("deliveryKey"), jv_string(key));
	if (campaign && *campaign)
		props = jv_object_set(props, jv_string("campaignId"), jv_string(campaign));
	if (code && *code)
		props = jv_object_set(props, jv_string("errorCode"), jv_string(code));
	jv ev = JV_OBJECT(jv_string("type"), jv_string(type), jv_string("customerId"), jv_string(who),
			  jv_string("id"), stable_id("twilio", JV_ARRAY(jv_string(sid), jv_string(st))),
			  jv_string("properties"), props);
	if (event_add(r, ev, q->now, e) < 0) {
		rc = -1;
		goto done;
	}
	/* 30003 unreachable handset, 30005 unknown destination, 30006
	 * landline or unreachable carrier (Twilio's error dictionary) */
	if (code && have_to &&
	    (!strcmp(code, "30003") || !strcmp(code, "30005") || !strcmp(code, "30006"))) {
		r->suppress_address = strdup(phone.p);
		r->suppress_reason = !strcmp(code, "30003") ? "unreachable" : "invalid";
		snprintf(r->suppress_source, sizeof r->suppress_source, "twilio:%s", code);
		if (!r->suppress_address) {
			rc = jrn_fail(e, "out of memory");
			goto done;
		}
	}
	rc = reply(r, 204, NULL, NULL);
done:
	free(key), free(customer), free(campaign);
	jrn_buf_free(&phone);
	return rc;
}

static int twilio_request(const track_request *q, track_reply *r, jrn_err *e)
{
	if (strcmp(q->method, "POST")) {
		r->allow = "POST";
		return reply(r, 405, "text/plain; charset=utf-8", "method not allowed\n");
	}
	jrn_err why;
	jv form = jrn_form_parse(q->body ? q->body : "", q->body_len, &why);
	if (!jv_is_valid(form)) {
		/* the signature cannot hold over what was not read */
		return reply(r, 403, "text/plain; charset=utf-8", "bad or missing X-Twilio-Signature\n");
	}
	int rc = 0;
	if (twilio_signed(q, form, r))
		rc = !strcmp(q->path, "/twilio/inbound") ? twilio_inbound(q, form, r, e)
							  : twilio_status(q, form, r, e);
	jv_free(form);
	return rc;
}

int track_handle(const track_request *q, track_reply *r, jrn_err *e)
{
	memset(r, 0, sizeof *r);
	if (!strncmp(q->path, "/twilio/", 8))
		return twilio_request(q, r, e);
	return token_request(q, r, e);
}

int track_store_extra(const track_reply *r, jrn_reach *R, int64_t now, jrn_err *e)
{
	if (!r->suppress_address)
		return 0;
	return jrn_reach_suppress(R, jrn_reach_str(r->suppress_address), "sms", r->suppress_reason,
				  now, r->suppress_source, e) < 0 ? -1 : 0;
}
