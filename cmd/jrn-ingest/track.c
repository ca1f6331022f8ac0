/* track.c: the tracking, unsubscribe and Twilio endpoints of jrn-ingest
 * --listen (jrn-ingest(1), TRACKING AND UNSUBSCRIBE and TWILIO), the rows
 * of listen.c's route table that listen.h names.
 *
 * A handler turns one request into a reply and the events to store before
 * it is sent (listen_emit_jv: stored by the writer thread like any POSTed
 * event, checked, deduplicated, committed, written to stdout; the reply
 * goes after the commit), plus, for Twilio's 30003/30005/30006, a
 * suppression written in the same transaction (listen_emit_write, through
 * lib/reach.c's writer). Lookups (a phone number's customers, a
 * MessageSid's delivery) read the state file on a read-only connection of
 * their own, opened per Twilio request (handlers may run on several
 * threads); nothing here writes it.
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

#include "listen.h"
#include "track.h"

/* At most this many customers are found for one phone number (a household
 * number is shared): the consent events of a STOP go to each. */
#define TRACK_MAX_PHONE_CUSTOMERS 100

static struct {
	char *secret;       /* ingest.listen.tracking.secret */
	char *twilio_token; /* ingest.listen.twilio.authToken */
	char *help;         /* ingest.listen.twilio.help */
	char *region;       /* ingest.defaultCountry */
	char *db_path;
	int busy_ms;
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

int listen_track_setup(const jrn_opts *opts, jrn_err *e)
{
	listen_track_free();
	T.secret = str_at(opts->config, "ingest.listen.tracking.secret");
	T.twilio_token = str_at(opts->config, "ingest.listen.twilio.authToken");
	T.help = str_at(opts->config, "ingest.listen.twilio.help");
	T.region = str_at(opts->config, "ingest.defaultCountry");
	T.db_path = strdup(opts->db_path);
	T.busy_ms = opts->busy_ms;
	if (!T.help)
		T.help = strdup("Reply STOP to unsubscribe, START to subscribe again.");
	if (!T.help || !T.db_path)
		return jrn_fail(e, "out of memory");
	if (opts->verbosity > 0 && !T.secret)
		jrn_say(0, "note: no ingest.listen.tracking.secret: /o/, /c/ and /u/ answer 404");
	if (opts->verbosity > 0 && !T.twilio_token)
		jrn_say(0, "note: no ingest.listen.twilio.authToken: /twilio/ answers 403");
	return 0;
}

void listen_track_free(void)
{
	free(T.secret), free(T.twilio_token), free(T.help), free(T.region), free(T.db_path);
	memset(&T, 0, sizeof T);
}

/* ---- replies and events ------------------------------------------------------ */

static int reply(listen_reply *rep, int status, const char *type, const char *body)
{
	return listen_reply_set(rep, status, type, body ? body : "", body ? strlen(body) : 0);
}

/* 404 as for a path with no route: a bad token tells a probe nothing. */
static int not_found(listen_req *req, listen_reply *rep)
{
	return listen_reply_error(rep, 404, "no such path: %s", req->path);
}

/* Queues ev (consumed) with timestamp req->now. 0, or -1 after a 503
 * reply (out of memory). */
static int event_add(listen_req *req, listen_reply *rep, jv ev)
{
	char ts[32];
	jrn_time_format(req->now, ts);
	ev = jv_object_set(ev, jv_string("timestamp"), jv_string(ts));
	if (listen_emit_jv(req, ev) < 0)
		return listen_reply_error(rep, 503, "out of memory");
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

/* Reads req->rest as a token of kind into *t: 0, or -1 (t empty). */
static int token_of(listen_req *req, char kind, jrn_track_token *t)
{
	jrn_err why;
	*t = (jrn_track_token){0};
	if (!T.secret ||
	    jrn_track_verify(T.secret, strlen(T.secret), req->rest, strlen(req->rest), t, &why) < 0)
		return -1;
	if (t->kind != kind) {
		jrn_track_token_free(t);
		return -1;
	}
	return 0;
}

/* The event of t (borrowed) of type: customerId, properties (deliveryKey,
 * campaignId when there is one, channel), context.userAgent. */
static jv token_event(listen_req *req, const jrn_track_token *t, const char *type)
{
	jv props = JV_OBJECT(jv_string("deliveryKey"), jv_string(t->key), jv_string("channel"),
			     jv_string(t->channel));
	if (*t->campaign)
		props = jv_object_set(props, jv_string("campaignId"), jv_string(t->campaign));
	jv ev = JV_OBJECT(jv_string("type"), jv_string(type), jv_string("customerId"),
			  jv_string(t->customer), jv_string("properties"), props);
	const char *ua = listen_header(req, "User-Agent");
	if (ua && *ua && strlen(ua) <= 1024 && jrn_utf8_invalid_at(ua, strlen(ua)) == strlen(ua))
		ev = jv_object_set(ev, jv_string("context"),
				   JV_OBJECT(jv_string("userAgent"), jv_string(ua)));
	return ev;
}

int listen_track_open(listen_req *req, listen_reply *rep)
{
	jrn_track_token t;
	if (token_of(req, 'o', &t) < 0)
		return not_found(req, rep);
	int rc = event_add(req, rep, token_event(req, &t, "email.opened"));
	jrn_track_token_free(&t);
	if (rc < 0)
		return -1;
	if (listen_reply_set(rep, 200, "image/gif", (const char *)gif, sizeof gif) < 0 ||
	    listen_reply_header(rep, "Cache-Control", "no-store, private") < 0)
		return listen_reply_error(rep, 503, "out of memory");
	return 0;
}

int listen_track_click(listen_req *req, listen_reply *rep)
{
	jrn_track_token t;
	if (token_of(req, 'c', &t) < 0)
		return not_found(req, rep);
	jv ev = token_event(req, &t, "email.clicked");
	ev = jv_object_set(ev, jv_string("properties"),
			   jv_object_set(jv_object_get(jv_copy(ev), jv_string("properties")),
					 jv_string("url"), jv_string(t.url)));
	int rc = event_add(req, rep, ev);
	/* the target is the signed one, never a parameter: no open redirect */
	if (rc == 0 && (reply(rep, 302, "text/plain; charset=utf-8", t.url) < 0 ||
			listen_reply_header(rep, "Location", t.url) < 0 ||
			listen_reply_header(rep, "Cache-Control", "no-store, private") < 0))
		rc = listen_reply_error(rep, 503, "out of memory");
	jrn_track_token_free(&t);
	return rc;
}

int listen_unsub_page(listen_req *req, listen_reply *rep)
{
	jrn_track_token t;
	if (token_of(req, 'u', &t) < 0)
		return not_found(req, rep);
	jrn_buf b = {0};
	jrn_buf_adds(&b, page_head);
	jrn_buf_adds(&b, "<h1>Unsubscribe</h1>\n<p>Stop receiving ");
	html_escape(&b, t.channel);
	jrn_buf_adds(&b, " messages from us?</p>\n<form method=\"post\">"
			 "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
			 "<button type=\"submit\" id=\"unsubscribe\">Unsubscribe</button>"
			 "</form>\n</body></html>\n");
	jrn_track_token_free(&t);
	int rc = b.p ? reply(rep, 200, "text/html; charset=utf-8", b.p) : -1;
	jrn_buf_free(&b);
	if (rc < 0 || listen_reply_header(rep, "Cache-Control", "no-store, private") < 0)
		return listen_reply_error(rep, 503, "out of memory");
	return 0;
}

/* The confirmation after an unsubscribe: 0, or -1 after a 503 reply. */
static int unsub_done_page(listen_reply *rep, const jrn_track_token *t)
{
	jrn_buf b = {0};
	jrn_buf_adds(&b, page_head);
	jrn_buf_adds(&b, "<h1>Unsubscribed</h1>\n<p>You will receive no more ");
	html_escape(&b, t->channel);
	jrn_buf_adds(&b, " messages from us.</p>\n</body></html>\n");
	int rc = b.p ? reply(rep, 200, "text/html; charset=utf-8", b.p) : -1;
	jrn_buf_free(&b);
	return rc < 0 ? listen_reply_error(rep, 503, "out of memory") : 0;
}

static sqlite3 *read_db(listen_reply *rep);

/* Whether t's customer is revoked on t's channel now (lib/reach.h's
 * reading: the channel's row or "all"): 1, 0, or -1 after a 503 reply. */
static int already_revoked(listen_reply *rep, const jrn_track_token *t)
{
	sqlite3 *db = read_db(rep);
	if (!db)
		return -1;
	jrn_err e;
	jrn_reach *R = jrn_reach_open(db, &e);
	int st = R ? jrn_reach_consent_get(R, jrn_reach_str(t->customer), t->channel, &e) : -1;
	jrn_reach_close(R);
	sqlite3_close(db);
	if (st < 0)
		return listen_reply_error(rep, 503, "state file: %s", e.msg);
	return st == JRN_REACH_REVOKED;
}

int listen_unsub_post(listen_req *req, listen_reply *rep)
{
	int rc_page = 0;
	jrn_track_token t;
	if (token_of(req, 'u', &t) < 0)
		return not_found(req, rep);
	jrn_err why;
	jv form = jrn_form_parse(req->body, req->body_len, &why);
	const char *lu = jv_is_valid(form) ? jrn_form_get(form, "List-Unsubscribe") : NULL;
	bool one_click = lu && !strcmp(lu, "One-Click");
	jv_free(form);
	if (!one_click) {
		jrn_track_token_free(&t);
		return listen_reply_error(rep, 400, "the body must be List-Unsubscribe=One-Click "
					  "(RFC 8058)");
	}
	/* Idempotent: a customer already revoked on the channel gets the same
	 * answer and nothing new is stored. Otherwise a new event (not one id
	 * per link: an old mail's link must still work after a re-grant) */
	int was = already_revoked(rep, &t);
	if (was != 0) {
		if (was > 0)
			rc_page = unsub_done_page(rep, &t);
		jrn_track_token_free(&t);
		return was > 0 ? rc_page : -1;
	}
	jv ev = token_event(req, &t, "consent.revoked");
	jv props = jv_object_get(jv_copy(ev), jv_string("properties"));
	props = jv_object_set(props, jv_string("scope"), jv_string("channel"));
	props = jv_object_set(props, jv_string("source"), jv_string("unsubscribe"));
	ev = jv_object_set(ev, jv_string("properties"), props);
	int rc = event_add(req, rep, ev);
	if (rc == 0)
		rc = unsub_done_page(rep, &t);
	jrn_track_token_free(&t);
	return rc;
}

/* ---- Twilio ---------------------------------------------------------------------- */

/* Twilio's advanced opt-out keywords (support.twilio.com, "Twilio support
 * for opt-out keywords (SMS STOP filtering)"): the whole body, trimmed,
 * case-insensitive. */
static const char *const stop_words[] = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",
					 "QUIT", NULL};
static const char *const start_words[] = {"START", "YES", "UNSTOP", NULL};

/* body without its leading and trailing white space: *n bytes from the
 * pointer returned (into body). */
static const char *trim(const char *body, size_t *n)
{
	while (*body && isspace((unsigned char)*body))
		body++;
	*n = strlen(body);
	while (*n && isspace((unsigned char)body[*n - 1]))
		(*n)--;
	return body;
}

static bool keyword(const char *body, const char *const *words)
{
	size_t n;
	body = trim(body, &n);
	for (; *words; words++)
		if (strlen(*words) == n && !strncasecmp(body, *words, n))
			return true;
	return false;
}

/* The keyword as stored: the body trimmed (a new jv string). */
static jv kw_text(const char *body)
{
	size_t n;
	const char *p = trim(body, &n);
	return jv_string_sized(p, (int)n);
}

/* Text as XML character data or attribute value (the same five escapes). */
#define xml_escape html_escape

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

/* A read-only connection to the state file for one request's lookups, or
 * NULL after a 503 reply. */
static sqlite3 *read_db(listen_reply *rep)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(T.db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		listen_reply_error(rep, 503, "state file: %s", db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, T.busy_ms > 0 ? T.busy_ms : 10000);
	return db;
}

/* The body as form pairs with X-Twilio-Signature checked over req->url
 * (the URL Twilio called: ingest.listen.publicUrl behind a proxy) and
 * them; jv_invalid after a 403 reply. */
static jv twilio_form(listen_req *req, listen_reply *rep)
{
	jrn_err why;
	jv form = jrn_form_parse(req->body, req->body_len, &why);
	if (jv_is_valid(form) && T.twilio_token &&
	    jrn_twilio_check(T.twilio_token, strlen(T.twilio_token), req->url, form,
			     listen_header(req, "X-Twilio-Signature")))
		return form;
	jv_free(form);
	listen_reply_error(rep, 403, "bad or missing X-Twilio-Signature");
	return jv_invalid();
}

int listen_twilio_inbound(listen_req *req, listen_reply *rep)
{
	jv form = twilio_form(req, rep);
	if (!jv_is_valid(form))
		return -1;
	const char *from = jrn_form_get(form, "From"), *body = jrn_form_get(form, "Body");
	const char *sid = jrn_form_get(form, "MessageSid");
	bool stop = body && keyword(body, stop_words), start = body && keyword(body, start_words);
	bool help = body && keyword(body, (const char *const[]){"HELP", "INFO", NULL});
	int rc = 0;
	jrn_buf phone = {0};
	if (stop || start) {
		jrn_err why;
		if (!from || jrn_phone_e164(from, strlen(from), T.region ? T.region : "US", &phone,
					    &why) < 0) {
			rc = listen_reply_error(rep, 400, "From: not a phone number");
			goto done;
		}
		sqlite3 *db = read_db(rep);
		if (!db) {
			rc = -1;
			goto done;
		}
		jv who = phone_customers(db, phone.p, &why);
		sqlite3_close(db);
		if (!jv_is_valid(who)) {
			rc = listen_reply_error(rep, 503, "state file: %s", why.msg);
			goto done;
		}
		/* a number no customer claims: the number itself is the customer */
		if (jv_array_length(jv_copy(who)) == 0)
			who = jv_array_append(who, jv_string(phone.p));
		jv_array_foreach(who, i, c) {
			jv props = JV_OBJECT(jv_string("channel"), jv_string("sms"), jv_string("from"),
					     jv_string(phone.p), jv_string("keyword"), kw_text(body),
					     jv_string("source"), jv_string("twilio"));
			if (sid)
				props = jv_object_set(props, jv_string("messageSid"), jv_string(sid));
			jv ev = JV_OBJECT(jv_string("type"),
					  jv_string(stop ? "consent.revoked" : "consent.granted"),
					  jv_string("customerId"), jv_copy(c), jv_string("properties"), props);
			/* Twilio retries a webhook: the same message is the same event */
			if (sid)
				ev = jv_object_set(ev, jv_string("id"),
						   stable_id("twilio", JV_ARRAY(jv_string(sid), jv_copy(c))));
			jv_free(c);
			if (rc == 0)
				rc = event_add(req, rep, ev);
			else
				jv_free(ev);
		}
		jv_free(who);
		if (rc < 0)
			goto done;
	}
	/* TwiML. Twilio answers STOP and START itself (its advanced opt-out);
	 * HELP gets ingest.listen.twilio.help */
	jrn_buf b = {0};
	jrn_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>");
	if (help) {
		jrn_buf_adds(&b, "<Message>");
		xml_escape(&b, T.help);
		jrn_buf_adds(&b, "</Message>");
	}
	jrn_buf_adds(&b, "</Response>\n");
	rc = b.p ? reply(rep, 200, "text/xml; charset=utf-8", b.p) : -1;
	jrn_buf_free(&b);
	if (rc < 0)
		rc = listen_reply_error(rep, 503, "out of memory");
done:
	jrn_buf_free(&phone);
	jv_free(form);
	return rc;
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

typedef struct {
	char *address;
	char reason[16];
	char source[32];
} suppression;

static int suppress_write(const listen_db *d, void *arg, jrn_err *e)
{
	suppression *s = arg;
	if (!d->reach) /* --dry-run */
		return 0;
	return jrn_reach_suppress(d->reach, jrn_reach_str(s->address), "sms", s->reason, jrn_now(),
				  s->source, e) < 0 ? -1 : 0;
}

static void suppression_free(void *arg)
{
	suppression *s = arg;
	if (s)
		free(s->address);
	free(s);
}

int listen_twilio_status(listen_req *req, listen_reply *rep)
{
	jv form = twilio_form(req, rep);
	if (!jv_is_valid(form))
		return -1;
	const char *sid = jrn_form_get(form, "MessageSid"), *st = jrn_form_get(form, "MessageStatus");
	const char *to = jrn_form_get(form, "To"), *code = jrn_form_get(form, "ErrorCode");
	char *key = NULL, *customer = NULL, *campaign = NULL;
	jrn_buf phone = {0};
	jrn_err why;
	int rc = 0;
	if (!sid || !*sid || !st || !*st) {
		rc = listen_reply_error(rep, 400, "MessageSid and MessageStatus are required");
		goto done;
	}
	const char *type = !strcmp(st, "delivered") ? "sms.delivered"
			   : !strcmp(st, "undelivered") || !strcmp(st, "failed") ? "sms.failed"
										: NULL;
	if (!type) { /* queued, sent, accepted...: nothing to record yet */
		rc = reply(rep, 204, NULL, NULL);
		goto done;
	}
	sqlite3 *db = read_db(rep);
	if (!db) {
		rc = -1;
		goto done;
	}
	rc = delivery_of(db, sid, &key, &customer, &campaign, &why);
	sqlite3_close(db);
	if (rc < 0) {
		rc = listen_reply_error(rep, 503, "state file: %s", why.msg);
		goto done;
	}
	bool have_to = to && jrn_phone_e164(to, strlen(to), T.region ? T.region : "US", &phone,
					    &why) == 0;
	const char *who = customer ? customer : have_to ? phone.p : NULL;
	if (!who) {
		rc = listen_reply_error(rep, 400, "MessageSid %s names no delivery and To no number", sid);
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
	if ((rc = event_add(req, rep, ev)) < 0)
		goto done;
	/* 30003 unreachable handset, 30005 unknown destination, 30006
	 * landline or unreachable carrier (Twilio's error dictionary) */
	if (code && have_to &&
	    (!strcmp(code, "30003") || !strcmp(code, "30005") || !strcmp(code, "30006"))) {
		suppression *s = calloc(1, sizeof *s);
		if (s)
			s->address = strdup(phone.p);
		if (!s || !s->address) {
			suppression_free(s);
			rc = listen_reply_error(rep, 503, "out of memory");
			goto done;
		}
		snprintf(s->reason, sizeof s->reason, "%s", !strcmp(code, "30003") ? "unreachable"
											 : "invalid");
		snprintf(s->source, sizeof s->source, "twilio:%s", code);
		if (listen_emit_write(req, suppress_write, s, suppression_free) < 0) {
			suppression_free(s);
			rc = listen_reply_error(rep, 503, "out of memory");
			goto done;
		}
	}
	rc = reply(rep, 204, NULL, NULL);
done:
	free(key), free(customer), free(campaign);
	jrn_buf_free(&phone);
	jv_free(form);
	return rc;
}
