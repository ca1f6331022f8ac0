/* prepare.c: a job per action record: its channel, idempotency key,
 * recipient and content (an email's MIME message, an SMS text, a webhook
 * body), or the reason it goes no further. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "jrn-send.h"
#include "mime.h"
#include "profile-read.h"
#include "sms.h"

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The string at a dotted path of the record (borrows rec), or NULL; numbers
 * are turned into their text in tmp. */
const char *rec_str(jv rec, const char *dotted, char tmp[32])
{
	jv v = jv_copy(rec);
	const char *p = dotted;
	while (*p) {
		size_t n = strcspn(p, ".");
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			return NULL;
		}
		v = jv_object_get(v, jv_string_sized(p, (int)n));
		p += n + (p[n] == '.');
	}
	const char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		/* the string lives on inside rec, which the caller holds */
		s = jv_string_value(v);
	} else if (jv_get_kind(v) == JV_KIND_NUMBER && tmp) {
		double d = jv_number_value(v);
		if (d == (double)(int64_t)d && fabs(d) < 9007199254740992.0)
			snprintf(tmp, 32, "%lld", (long long)d);
		else
			snprintf(tmp, 32, "%.17g", d);
		s = tmp;
	}
	jv_free(v);
	return s && *s ? s : NULL;
}

void job_free(job *j)
{
	if (!j)
		return;
	jv_free(j->rec);
	free(j->text), free(j->key), free(j->customer), free(j->campaign), free(j->to);
	free(j->message_id);
	free(j->stuck_provider);
	jrn_buf_free(&j->payload);
	jrn_buf_free(&j->error);
	free(j);
}

void job_error(job *j, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	jrn_buf_reset(&j->error);
	jrn_buf_adds(&j->error, msg);
}

/* The signed unsubscribe link of a recipient, appended to b. */
static int unsubscribe_url(send_ctx *S, jrn_buf *b, const job *j)
{
	char token[65];
	jrn_buf msg = {0};
	jrn_buf_addf(&msg, "%s\n%s\n%s", j->customer ? j->customer : "", j->to ? j->to : "",
		     j->campaign ? j->campaign : "");
	const char *key = S->cf.unsub_secret;
	int rc = msg.p ? jrn_hmac_sha256_hex(key, strlen(key), msg.p, msg.len, token)
		       : -1;
	jrn_buf_free(&msg);
	if (rc < 0)
		return -1;
	jrn_buf_adds(b, S->cf.unsub_url);
	jrn_buf_addc(b, strchr(S->cf.unsub_url, '?') ? '&' : '?');
	jrn_buf_adds(b, "c=");
	url_encode(b, j->customer ? j->customer : "");
	jrn_buf_adds(b, "&k=");
	url_encode(b, j->campaign ? j->campaign : "");
	jrn_buf_adds(b, "&t=");
	return jrn_buf_adds(b, token);
}

/* The unsubscribe link of j into b: send.tracking's (BASE/u/TOKEN), else
 * send.unsubscribe.url's, else none (b left empty). 0 or -1. */
static int unsubscribe_link(send_ctx *S, jrn_buf *b, const job *j)
{
	if (S->cf.track_url && tracking_unsub_url(S, j, b) < 0)
		return -1;
	if (!b->p && S->cf.unsub_url && (unsubscribe_url(S, b, j) < 0 || !b->p))
		return -1;
	return 0;
}

/* m, an action's messageContent, appended to b with each Mustache tag of
 * the unsubscribe link ({{unsubscribeUrl}} or {{{unsubscribeUrl}}},
 * spaces inside the braces allowed) replaced by url as it is (plain text:
 * no HTML escaping). jrn-route --check asks a marketing e-mail's
 * messageContent for that tag; no other text of it is taken as Mustache
 * (a model's answer may hold braces). With url NULL (no link configured)
 * the tag is dropped, as the List-Unsubscribe header is then (-v says
 * so). 0 or -1 (out of memory). */
static int content_with_link(jrn_buf *b, const char *m, const char *url)
{
	static const char name[] = "unsubscribeUrl";
	const char *p = m;
	int rc = 0;
	for (const char *o; (o = strstr(p, "{{")); ) {
		const char *q = o + 2;
		bool triple = *q == '{';
		q += triple;
		q += strspn(q, " \t");
		bool tag = !strncmp(q, name, sizeof name - 1);
		if (tag) {
			q += sizeof name - 1;
			q += strspn(q, " \t");
			tag = !strncmp(q, triple ? "}}}" : "}}", triple ? 3 : 2);
		}
		if (!tag) { /* (a tag may start one brace on: "{{{unsubscribeUrl}}") */
			rc |= jrn_buf_add(b, p, (size_t)(o + 1 - p));
			p = o + 1;
			continue;
		}
		rc |= jrn_buf_add(b, p, (size_t)(o - p));
		if (url)
			rc |= jrn_buf_adds(b, url);
		p = q + (triple ? 3 : 2);
	}
	rc |= jrn_buf_adds(b, p);
	return rc < 0 || !b->p ? -1 : 0;
}

static bool is_marketing(jv rec)
{
	const char *cat = rec_str(rec, "category", NULL);
	return !cat || strcmp(cat, "transactional");
}

/* Rejects j when its top-level key is there but neither a string nor
 * null ("subject: expected a string, got a number"), which would read as
 * absent (even where a template would give it: the action is wrong). 0,
 * or -1 (j->error says). */
static int want_string(job *j, const char *key)
{
	jv v = jv_object_get(jv_copy(j->rec), jv_string(key));
	jv_kind k = jv_get_kind(v);
	jv_free(v);
	if (k == JV_KIND_STRING || k == JV_KIND_NULL || k == JV_KIND_INVALID)
		return 0;
	job_error(j, "%s: expected a string, got %s", key, jrn_kind_phrase(k, false));
	return -1;
}

/* The subject of an e-mail that jrn-route's gate made of an SMS or a
 * WhatsApp message (route.from sms or whatsapp: policy.fallback), which
 * has none by nature: the first line of its messageContent, spaces
 * trimmed, cut at the last space before 78 bytes (RFC 5322 2.1.1's line
 * length) with "..." when longer. The text is the one the marketer wrote
 * for this customer, which a fixed default would not be. 1 with *out
 * set, 0 when rec is no fallback or has no such text. */
static int fallback_subject(jv rec, jrn_buf *out)
{
	const char *from = rec_str(rec, "route.from", NULL);
	const char *m = rec_str(rec, "messageContent", NULL);
	if (!from || (strcmp(from, "sms") && strcmp(from, "whatsapp")) || !m)
		return 0;
	while (*m == ' ' || *m == '\t' || *m == '\r' || *m == '\n')
		m++;
	size_t n = strcspn(m, "\r\n");
	while (n && (m[n - 1] == ' ' || m[n - 1] == '\t'))
		n--;
	if (!n)
		return 0;
	if (n > 78) {
		size_t cut = 75; /* room for "..." */
		while (cut && m[cut] != ' ')
			cut--;
		if (!cut) /* one long word: at a UTF-8 boundary */
			for (cut = 75; cut && ((unsigned char)m[cut] & 0xC0) == 0x80; cut--)
				;
		while (cut && m[cut - 1] == ' ')
			cut--;
		jrn_buf_add(out, m, cut);
		jrn_buf_adds(out, "...");
	} else {
		jrn_buf_add(out, m, n);
	}
	return out->p ? 1 : 0;
}

/* Builds the email message of j into j->payload. 0, or -1 (j->error says). */
static int prepare_email(send_ctx *S, job *j, const char *chain)
{
	jrn_err e;
	jv data = jv_copy(j->rec);
	jrn_buf unsub = {0}, subject = {0}, text = {0}, html = {0}, from = {0}, to = {0},
		lu = {0}, mid = {0};
	char *fdisp = NULL, *faddr = NULL;
	int rc = -1;
	const char *tname = rec_str(j->rec, "template", NULL);
	bool marketing = is_marketing(j->rec);

	if (unsubscribe_link(S, &unsub, j) < 0) {
		job_error(j, "out of memory");
		goto done;
	}
	if (unsub.p)
		data = jv_object_set(data, jv_string("unsubscribeUrl"), jv_string(unsub.p));
	if (tname) {
		int s = render_part(S, tname, "subject", data, chain, &subject, &e);
		int t = s < 0 ? 0 : render_part(S, tname, "txt", data, chain, &text, &e);
		int h = s < 0 || t < 0 ? 0 : render_part(S, tname, "html", data, chain, &html, &e);
		if (s < 0 || t < 0 || h < 0) {
			job_error(j, "%s", e.msg);
			goto done;
		}
		if (t == 0 && h == 0) {
			job_error(j, "template '%s': no %s.txt or %s.html in %s", tname, tname, tname,
				  S->cf.templates_dir);
			goto done;
		}
		/* a subject file ends with its newline; a header must not */
		while (subject.len && (subject.p[subject.len - 1] == '\n' ||
				       subject.p[subject.len - 1] == '\r'))
			subject.p[--subject.len] = '\0';
	}
	if (!subject.p) {
		const char *s = rec_str(j->rec, "subject", NULL);
		if (!s && !fallback_subject(j->rec, &subject)) { /* route.from: the text's line */
			job_error(j, "no subject: the action has none and no template gives one");
			goto done;
		}
		jrn_buf_adds(&subject, s ? s : "");
	}
	if (!text.p) {
		const char *m = rec_str(j->rec, "messageContent", NULL);
		if (m ? content_with_link(&text, m, unsub.p) < 0 : !html.p) {
			job_error(j, m ? "out of memory"
				       : "no content: the action has no messageContent and no template");
			goto done;
		}
	}
	if (!text.p && html.p) {
		job_error(j, "template '%s': an HTML part needs a %s.txt part beside it", tname, tname);
		goto done;
	}
	if (S->cf.track_url && tracking_apply(S, j, &text, &html) < 0) {
		job_error(j, "out of memory");
		goto done;
	}

	const provider *p0 = S->cf.chains[CH_EMAIL].p[j->prov < S->cf.chains[CH_EMAIL].n ? j->prov : 0];
	const char *fromspec = p0->from ? p0->from
			       : S->cf.mail_from ? S->cf.mail_from : "jrn <jrn@localhost>";
	const char *fromshown = p0->from ? p0->from_shown
				: S->cf.mail_from ? S->cf.mail_from_shown : fromspec;
	if (jrn_mime_parse_mailbox(fromspec, &fdisp, &faddr, &e) < 0) {
		/* e.msg may quote the address: say what it is as written */
		job_error(j, "from '%s': %s", fromshown,
			  fromshown == fromspec ? e.msg : "not a valid mailbox");
		goto done;
	}
	if (jrn_mime_address(&from, fdisp, faddr) < 0) {
		job_error(j, "out of memory");
		goto done;
	}
	char tmp[32];
	const char *name = rec_str(j->rec, "profile.name", tmp);
	jrn_buf full = {0};
	if (!name) {
		const char *first = rec_str(j->rec, "profile.firstName", NULL);
		const char *last = rec_str(j->rec, "profile.lastName", NULL);
		if (first || last)
			jrn_buf_addf(&full, "%s%s%s", first ? first : "", first && last ? " " : "",
				     last ? last : "");
		name = full.p;
	}
	int arc = jrn_mime_address(&to, name, j->to);
	jrn_buf_free(&full);
	if (arc < 0) {
		job_error(j, "out of memory");
		goto done;
	}
	jrn_buf_addf(&mid, "<%.32s@%s>", j->keyhash, S->cf.from_domain);
	if (marketing && (S->cf.unsub_mailto || unsub.p)) {
		if (S->cf.unsub_mailto)
			jrn_buf_addf(&lu, "<mailto:%s?subject=unsubscribe>", S->cf.unsub_mailto);
		if (unsub.p)
			jrn_buf_addf(&lu, "%s<%s>", lu.len ? ", " : "", unsub.p);
		if (unsub.p && !S->cf.unsub_one_click && !S->warned_one_click) {
			S->warned_one_click = true;
			if (S->opts.verbosity >= 0)
				jrn_say(0, "warning: %s '%s' is not https: marketing mail goes out "
					"without List-Unsubscribe-Post (RFC 8058 one-click needs https)",
					S->cf.track_url ? "send.tracking.url" : "send.unsubscribe.url",
					S->cf.unsub_url_shown);
		}
	} else if (marketing && !S->warned_unsub) {
		/* a choice, not a fault (the template may carry the link): said
		 * under -v only, so cron does not mail it every run */
		S->warned_unsub = true;
		if (S->opts.verbosity > 0)
			jrn_say(0, "note: no send.unsubscribe in the configuration: marketing mail "
				"goes out without List-Unsubscribe");
	}
	const char *extra[] = {"X-Jrn-Campaign", j->campaign ? j->campaign : "", "X-Jrn-Key",
			       j->keyhash, NULL};
	jrn_mime_msg m = {
		.from = from.p,
		.to = to.p,
		.reply_to = S->cf.reply_to,
		.subject = subject.p,
		.text = text.p,
		.html = html.p,
		.message_id = mid.p,
		.date_ms = jrn_now(),
		.list_unsubscribe = lu.p,
		.one_click = marketing && S->cf.unsub_one_click && unsub.p,
		.extra = extra,
	};
	if (!from.p || !to.p || !mid.p) {
		job_error(j, "out of memory");
		goto done;
	}
	jrn_buf_reset(&j->payload);
	if (jrn_mime_build(&j->payload, &m, &e) < 0) {
		job_error(j, "%s", e.msg);
		goto done;
	}
	free(j->message_id);
	j->message_id = strdup(mid.p);
	rc = 0;
done:
	jv_free(data);
	free(fdisp);
	free(faddr);
	jrn_buf_free(&unsub), jrn_buf_free(&subject), jrn_buf_free(&text), jrn_buf_free(&html);
	jrn_buf_free(&from), jrn_buf_free(&to), jrn_buf_free(&lu), jrn_buf_free(&mid);
	return rc;
}

/* The SMS or WhatsApp text of j into j->payload, measured. 0 or -1. */
static int prepare_sms(send_ctx *S, job *j, const char *chain)
{
	jrn_err e;
	const char *tname = rec_str(j->rec, "template", NULL);
	int np = S->cf.chains[j->channel].n;
	const provider *p0 = S->cf.chains[j->channel].p[j->prov < np ? j->prov : 0];
	jrn_buf_reset(&j->payload);
	int rc = 0;
	if (tname) {
		if (j->channel == CH_WHATSAPP)
			rc = render_part(S, tname, "whatsapp", j->rec, chain, &j->payload, &e);
		if (rc == 0)
			rc = render_part(S, tname, "sms", j->rec, chain, &j->payload, &e);
		if (rc < 0) {
			job_error(j, "%s", e.msg);
			return -1;
		}
		if (rc == 0) {
			job_error(j, "template '%s': no %s.sms in %s", tname, tname, S->cf.templates_dir);
			return -1;
		}
		while (j->payload.len && (j->payload.p[j->payload.len - 1] == '\n' ||
					  j->payload.p[j->payload.len - 1] == '\r'))
			j->payload.p[--j->payload.len] = '\0';
	} else {
		const char *m = rec_str(j->rec, "messageContent", NULL);
		if (!m) {
			job_error(j, "no content: the action has no messageContent and no template");
			return -1;
		}
		jrn_buf_adds(&j->payload, m);
	}
	if (p0->footer && *p0->footer && is_marketing(j->rec)) {
		jrn_buf_addc(&j->payload, '\n');
		jrn_buf_adds(&j->payload, p0->footer);
	}
	if (!j->payload.p) {
		job_error(j, "out of memory");
		return -1;
	}
	jrn_sms_info info;
	if (jrn_sms_measure(j->payload.p, j->payload.len, &info, &e) < 0) {
		job_error(j, "%s", e.msg);
		return -1;
	}
	j->segments = (int)info.segments;
	if (j->segments > p0->max_segments) {
		job_error(j, "the text takes %d %s segments, more than maxSegments %d", j->segments,
			  info.encoding == JRN_SMS_GSM7 ? "GSM-7" : "UCS-2", p0->max_segments);
		return -1;
	}
	return 0;
}

/* The webhook body: the json template, else the record as read. 0 or -1. */
static int prepare_webhook(send_ctx *S, job *j, const char *chain)
{
	jrn_err e;
	const char *tname = rec_str(j->rec, "template", NULL);
	jrn_buf_reset(&j->payload);
	if (tname) {
		int rc = render_part(S, tname, "json", j->rec, chain, &j->payload, &e);
		if (rc < 0) {
			job_error(j, "%s", e.msg);
			return -1;
		}
		if (rc == 1) {
			while (j->payload.len && isspace((unsigned char)j->payload.p[j->payload.len - 1]))
				j->payload.p[--j->payload.len] = '\0';
			if (jrn_json_check(j->payload.p, j->payload.len, &e) < 0) {
				job_error(j, "template '%s.json' did not render JSON: %s", tname, e.msg);
				return -1;
			}
			return 0;
		}
	}
	if (jrn_buf_add(&j->payload, j->text, j->len) < 0) {
		job_error(j, "out of memory");
		return -1;
	}
	return 0;
}

/* The recipient of j on channel ch: j->to (a normalised email address or
 * E.164 number), or the hashed identifiers of an audience member. 0, or -1
 * with j->status set (rejected). */
static int prepare_recipient(send_ctx *S, job *j, int ch)
{
	jrn_err e;
	jrn_buf b = {0};

	/* there, not a string: said by its kind, not as "no recipient" */
	if ((ch == CH_EMAIL && want_string(j, "recipientEmail") < 0) ||
	    ((ch == CH_SMS || ch == CH_WHATSAPP) && want_string(j, "recipientPhone") < 0)) {
		j->status = ST_REJECTED;
		return -1;
	}
	if (ch == CH_EMAIL || ch == CH_RETARGETING) {
		const char *em = rec_str(j->rec, "recipientEmail", NULL);
		if (!em)
			em = rec_str(j->rec, "profile.email", NULL);
		if (!em)
			em = rec_str(j->rec, "email", NULL);
		if (em) {
			if (jrn_email_normalize(em, strlen(em), &b, &e) < 0 || !b.p) {
				if (ch == CH_EMAIL) {
					j->status = ST_REJECTED;
					job_error(j, "recipient '%.64s': %s", em, e.msg);
					jrn_buf_free(&b);
					return -1;
				}
			} else if (ch == CH_EMAIL) {
				for (size_t i = 0; i < b.len; i++)
					if ((unsigned char)b.p[i] >= 0x80) {
						j->status = ST_REJECTED;
						job_error(j, "recipient '%.64s': an address with "
							     "non-ASCII characters needs SMTPUTF8, "
							     "which jrn-send does not speak", em);
						jrn_buf_free(&b);
						return -1;
					}
				j->to = b.p;
				b.p = NULL;
			} else {
				jrn_sha256_hex(b.p, b.len, j->hashed_email);
			}
		}
		jrn_buf_free(&b);
	}
	if (ch == CH_SMS || ch == CH_WHATSAPP || ch == CH_RETARGETING) {
		const char *ph = rec_str(j->rec, "recipientPhone", NULL);
		if (!ph)
			ph = rec_str(j->rec, "profile.phone", NULL);
		if (!ph)
			ph = rec_str(j->rec, "phone", NULL);
		if (ph) {
			const char *region = S->cf.default_region ? S->cf.default_region : "US";
			if (jrn_phone_e164(ph, strlen(ph), region, &b, &e) < 0 || !b.p) {
				if (ch != CH_RETARGETING) {
					j->status = ST_REJECTED;
					job_error(j, "recipient '%.64s': %s", ph, e.msg);
					jrn_buf_free(&b);
					return -1;
				}
			} else if (ch != CH_RETARGETING) {
				j->to = b.p;
				b.p = NULL;
			} else {
				jrn_sha256_hex(b.p, b.len, j->hashed_phone);
			}
		}
		jrn_buf_free(&b);
	}
	if ((ch == CH_EMAIL || ch == CH_SMS || ch == CH_WHATSAPP) && !j->to) {
		j->status = ST_REJECTED;
		job_error(j, ch == CH_EMAIL ? "no recipient: recipientEmail, profile.email, email or"
					      " the stored profile's email"
					    : "no recipient: recipientPhone, profile.phone, phone or"
					      " the stored profile's phone");
		return -1;
	}
	if (ch == CH_RETARGETING && !j->hashed_email[0] && !j->hashed_phone[0]) {
		j->status = ST_REJECTED;
		job_error(j, "no valid email or phone to add to an audience");
		return -1;
	}
	if (ch == CH_RETARGETING && !j->campaign) {
		j->status = ST_REJECTED;
		job_error(j, "retargeting needs a campaignId (the audience)");
		return -1;
	}
	return 0;
}

/* The member sendAt of obj (borrowed; what) into *ms: 1 when it is an RFC
 * 3339 time with a zone, 0 when absent or null (*ms untouched), -1 with
 * j rejected naming the field (what) and the form it takes. */
static int send_at_of(job *j, jv obj, const char *what, int64_t *ms)
{
	jv v = jv_get_kind(obj) == JV_KIND_OBJECT ? jv_object_get(jv_copy(obj), jv_string("sendAt"))
						  : jv_invalid();
	jv_kind k = jv_get_kind(v);
	jrn_err e;
	int rc = 0;
	if (k == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		int len = jv_string_length_bytes(jv_copy(v));
		rc = 1;
		if (jrn_time_parse(s, (size_t)len, 0, ms, &e) < 0) {
			jrn_buf shown = {0}; /* as JSON: it may hold anything */
			jrn_json_append_str(&shown, s, len > 64 ? 64 : (size_t)len);
			j->status = ST_REJECTED;
			job_error(j, "%s: expected an RFC 3339 time with a zone, such as "
				  "2027-12-24T09:00:00Z, got %s%s (%s)", what, shown.p ? shown.p : "?",
				  len > 64 ? "..." : "", e.msg);
			jrn_buf_free(&shown);
			rc = -1;
		}
	} else if (k != JV_KIND_INVALID && k != JV_KIND_NULL) {
		j->status = ST_REJECTED;
		job_error(j, "%s: expected an RFC 3339 time with a zone, such as "
			  "2027-12-24T09:00:00Z, got %s", what, jrn_kind_phrase(k, false));
		rc = -1;
	}
	jv_free(v);
	return rc;
}

/* When j may go, into *ms when it says (else *ms untouched): route.sendAt
 * (jrn-route's, which already holds the action's own sendAt and the caps'),
 * or, for an action not routed, its own sendAt, which jrn-route(1) reads
 * as "send no earlier": an action sent straight to jrn-send waits as long.
 * 0, or -1 with j rejected naming the field and the form it takes. */
static int read_send_at(job *j, int64_t *ms)
{
	jv route = jv_object_get(jv_copy(j->rec), jv_string("route"));
	int rc = send_at_of(j, route, "route.sendAt", ms);
	jv_free(route);
	if (rc == 0)
		rc = send_at_of(j, j->rec, "sendAt", ms);
	return rc < 0 ? -1 : 0;
}

int derive_key(const char *const *f, const size_t *len, int n, char out[65])
{
	jrn_buf b = {0};
	int rc = 0;
	out[0] = '\0';
	for (int i = 0; i < n && rc == 0; i++) {
		if (memchr(f[i], '\x1f', len[i]) || memchr(f[i], '\0', len[i]))
			rc = -1; /* the join would not be injective */
		else if ((i && jrn_buf_addc(&b, '\x1f') < 0) || jrn_buf_add(&b, f[i], len[i]) < 0)
			rc = -1;
	}
	if (rc == 0 && jrn_sha256_hex(b.p ? b.p : "", b.len, out) < 0)
		rc = -1;
	jrn_buf_free(&b);
	return rc;
}

/* The id at top-level member name of j (a string, or a number as its
 * text in tmp; customerId a string only) into *s and *len, or NULL when
 * absent or null; -1 with j rejected when it is of another kind, or not
 * an id (jrn_id_check: empty, or a control character such as the NUL
 * that would cut a C string short). */
static int read_id(job *j, const char *name, char tmp[32], const char **s, size_t *len)
{
	jv v = jv_object_get(jv_copy(j->rec), jv_string(name));
	*s = NULL;
	*len = 0;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		*s = jv_string_value(v); /* lives on inside j->rec */
		*len = (size_t)jv_string_length_bytes(jv_copy(v));
	} else if (jv_get_kind(v) == JV_KIND_NUMBER && strcmp(name, "customerId")) {
		*s = rec_str(j->rec, name, tmp);
		*len = *s ? strlen(*s) : 0;
	} else if (jv_get_kind(v) != JV_KIND_INVALID && jv_get_kind(v) != JV_KIND_NULL) {
		/* (customerId: a string, as every tool keys the customer) */
		j->status = ST_REJECTED;
		job_error(j, "%s: expected a string, got %s", name, jrn_kind_phrase(jv_get_kind(v), false));
		jv_free(v);
		return -1;
	}
	jv_free(v);
	jrn_err e;
	if (*s && jrn_id_check(*s, *len, name, &e) < 0) {
		j->status = ST_REJECTED;
		job_error(j, "%s", e.msg);
		return -1;
	}
	return 0;
}

void key_window(int64_t window, int64_t now, char out[64])
{
	char ts[32];
	if (window <= 0) {
		snprintf(out, 64, "campaign");
		return;
	}
	int64_t start = now / window * window;
	if (start > now) /* before 1970: division rounds toward zero */
		start -= window;
	jrn_time_format(start, ts);
	if (window == SEND_WINDOW_DAY)
		snprintf(out, 64, "%.10s", ts); /* the UTC date, as keys always had */
	else
		snprintf(out, 64, "%s/%lld", ts, (long long)window);
}

/* A template name is part of a file name and of the derived key: letters,
 * digits, '-', '_' and '.', not empty nor starting with '.', at most 200
 * bytes (so nothing that leaves the templates directory, and no NUL).
 * 0, or -1 with j rejected. */
static int check_template(job *j)
{
	jv t = jv_object_get(jv_copy(j->rec), jv_string("template"));
	int rc = 0;
	if (jv_get_kind(t) == JV_KIND_STRING) {
		const char *tn = jv_string_value(t);
		size_t n = (size_t)jv_string_length_bytes(jv_copy(t));
		if (!jrn_template_name_ok(tn, n)) {
			jrn_buf shown = {0}; /* as JSON: it may hold anything */
			jrn_json_append_str(&shown, tn, n > 64 ? 64 : n);
			j->status = ST_REJECTED;
			job_error(j, "template %s%s: a name of letters, digits, '-', '_' and '.', "
				  "not empty nor starting with '.'", shown.p ? shown.p : "?",
				  n > 64 ? "..." : "");
			jrn_buf_free(&shown);
			rc = -1;
		}
	}
	jv_free(t);
	return rc;
}

/* Whether the record has a string at any of the dotted names (NULL-ended). */
static bool has_any(jv rec, const char *const *names)
{
	for (; *names; names++)
		if (rec_str(rec, *names, NULL))
			return true;
	return false;
}

/* The stored profile fills what the record lacks (jrn-send(1), "The stored
 * profile"): for each of email (e-mail and retargeting actions), phone
 * (sms, whatsapp, retargeting), name (e-mail) and locale, when the record
 * has neither the field nor profile.X, the stored profile of the customer
 * the record's customerId names now (id links followed) gives profile.X.
 * *orig gets the record as read (j->rec then the record filled, seen by
 * the recipient, the To: name, the locale chain and the templates; the
 * caller puts orig back, so the output and the outbox keep the record as
 * read). 0, or -1 with j failed (the state file could not be read). */
static int fill_from_store(send_ctx *S, job *j, int ch, jv *orig)
{
	static const char *const email[] = {"recipientEmail", "profile.email", "email", NULL};
	static const char *const phone[] = {"recipientPhone", "profile.phone", "phone", NULL};
	static const char *const name[] = {"profile.name", "profile.firstName", "profile.lastName",
					   NULL};
	static const char *const locale[] = {"locale", "profile.locale", "traits.locale",
					     "profile.traits.locale", NULL};
	if (!S->db || !j->customer || ch == CH_WEBHOOK)
		return 0;
	bool want[4] = {
		(ch == CH_EMAIL || ch == CH_RETARGETING) && !has_any(j->rec, email),
		ch != CH_EMAIL && !has_any(j->rec, phone),
		ch == CH_EMAIL && !has_any(j->rec, name),
		!has_any(j->rec, locale),
	};
	if (!want[0] && !want[1] && !want[2] && !want[3])
		return 0;
	jv prof = jv_object_get(jv_copy(j->rec), jv_string("profile"));
	if (jv_get_kind(prof) == JV_KIND_NULL || !jv_is_valid(prof)) {
		jv_free(prof);
		prof = jv_object();
	} else if (jv_get_kind(prof) != JV_KIND_OBJECT) {
		jv_free(prof); /* not ours to replace */
		return 0;
	}
	jrn_err e;
	if (!S->profiles && !(S->profiles = jrn_profile_reader_open(S->db, 0, &e))) {
		jv_free(prof);
		j->status = ST_FAILED;
		job_error(j, "the stored profile: %s", e.msg);
		return -1;
	}
	jv got = jrn_profile_contact(S->profiles, j->customer, strlen(j->customer), &e);
	if (!jv_is_valid(got)) {
		jv_free(prof);
		j->status = ST_FAILED;
		job_error(j, "the stored profile: %s", e.msg);
		return -1;
	}
	static const char *const keys[][2] = {{"email", NULL}, {"phone", NULL},
					      {"name", "firstName"}, {"locale", NULL}};
	int set = 0;
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 2 && want[i] && keys[i][k]; k++) {
			jv v = jv_object_get(jv_copy(got), jv_string(keys[i][k]));
			if (jv_get_kind(v) == JV_KIND_STRING) {
				prof = jv_object_set(prof, jv_string(keys[i][k]), v);
				set++;
			} else {
				jv_free(v);
			}
		}
	jv_free(got);
	if (!set) {
		jv_free(prof);
		return 0;
	}
	*orig = j->rec;
	j->rec = jv_object_set(jv_copy(*orig), jv_string("profile"), prof);
	return 0;
}

static void prepare_job(send_ctx *S, job *j, jv *orig);

/* Decides what j is and builds what it sends. Sets j->status when the job
 * goes no further (rejected, deferred, suppressed, queued for later). */
void prepare(send_ctx *S, job *j)
{
	jv orig = jv_invalid();
	prepare_job(S, j, &orig);
	if (jv_is_valid(orig)) {
		jv_free(j->rec);
		j->rec = orig;
	}
}

static void prepare_job(send_ctx *S, job *j, jv *orig)
{
	char tmp[32], tmp2[32], why[128];

	/* an event on its way down the line (jrn-route passes them through
	 * beside the journeys' actions): out again untouched, counted */
	if (!jv_object_has(jv_copy(j->rec), jv_string("actionType")) &&
	    !jv_object_has(jv_copy(j->rec), jv_string("channel"))) {
		jv t = jv_object_get(jv_copy(j->rec), jv_string("type"));
		jv st = jv_object_get(jv_copy(j->rec), jv_string("state"));
		bool event = jv_get_kind(t) == JV_KIND_STRING || jv_get_kind(st) == JV_KIND_OBJECT;
		jv_free(t);
		jv_free(st);
		if (event) {
			j->status = ST_PASSED;
			return;
		}
	}
	const char *at = rec_str(j->rec, "actionType", NULL);
	int ch = -1;
	for (int i = 0; at && i < NCHANNELS; i++)
		if (!strcmp(at, channel_names[i]))
			ch = i;
	if (ch < 0) {
		j->status = ST_REJECTED;
		job_error(j, at ? "actionType '%.64s' is not email, sms, whatsapp, webhook or retargeting"
				: "no actionType (email, sms, whatsapp, webhook or retargeting)%s", at ? at : "");
		return;
	}
	j->channel = (enum channel)ch;
	j->channel_known = true;
	/* the ids: checked whole (a NUL must not cut one short: two actions
	 * would share a key, two customers a consent) */
	const char *cust, *camp, *given;
	size_t cust_len, camp_len, given_len;
	char tmp3[32];
	if (read_id(j, "customerId", tmp, &cust, &cust_len) < 0 ||
	    read_id(j, "campaignId", tmp2, &camp, &camp_len) < 0 ||
	    read_id(j, "idempotencyKey", tmp3, &given, &given_len) < 0 ||
	    check_template(j) < 0)
		return;
	j->customer = xstrdup(cust);
	j->campaign = xstrdup(camp);

	/* the idempotency key: given, or seed 004's customer + campaign +
	 * channel + template + the window of send.idempotency.window */
	if (given) {
		j->key = strdup(given);
	} else {
		char win[64];
		key_window(S->cf.key_window, jrn_now(), win);
		const char *tn = rec_str(j->rec, "template", NULL);
		const char *f[] = {cust ? cust : "", camp ? camp : "", channel_names[ch],
				   tn ? tn : "", win};
		size_t len[] = {cust ? cust_len : 0, camp ? camp_len : 0, strlen(channel_names[ch]),
				tn ? strlen(tn) : 0, strlen(win)};
		if (derive_key(f, len, 5, j->keyhash) == 0)
			j->key = strdup(j->keyhash);
	}
	if (!j->key || jrn_sha256_hex(j->key, strlen(j->key), j->keyhash) < 0) {
		j->status = ST_REJECTED;
		job_error(j, "out of memory");
		return;
	}

	/* jrn-route's decision */
	const char *decision = rec_str(j->rec, "route.decision", NULL);
	if (decision && !strcmp(decision, "defer")) {
		j->status = ST_DEFERRED;
		return;
	}
	if (decision && !strcmp(decision, "suppress")) {
		const char *r = rec_str(j->rec, "route.reason", NULL);
		j->status = ST_SUPPRESSED;
		j->route_duplicate = r && !strcmp(r, "duplicate");
		job_error(j, "route: %s", r ? r : "suppress");
		return;
	}

	/* a send time that cannot be read is no "now": a reject */
	int64_t send_at = INT64_MIN;
	if (!j->from_outbox && read_send_at(j, &send_at) < 0)
		return;
	if (fill_from_store(S, j, ch, orig) < 0 || prepare_recipient(S, j, ch) < 0)
		return;
	bool broken;
	const char *sw = reach_blocked(S, j, is_marketing(j->rec), why, &broken);
	if (sw) {
		j->status = broken ? ST_FAILED : ST_SUPPRESSED;
		job_error(j, "%s", sw);
		return;
	}

	/* the content */
	jrn_buf chain = {0};
	locale_chain(S, j->rec, &chain);
	int rc = 0;
	if (!chain.p)
		rc = -1, job_error(j, "out of memory");
	else if ((ch == CH_EMAIL && want_string(j, "subject") < 0) ||
		 (ch != CH_WEBHOOK && want_string(j, "messageContent") < 0))
		rc = -1; /* there, not a string: no "no subject" */
	else if (ch == CH_EMAIL)
		rc = prepare_email(S, j, chain.p);
	else if (ch == CH_SMS || ch == CH_WHATSAPP)
		rc = prepare_sms(S, j, chain.p);
	else if (ch == CH_WEBHOOK)
		rc = prepare_webhook(S, j, chain.p);
	jrn_buf_free(&chain);
	if (rc < 0) {
		j->status = ST_REJECTED;
		return;
	}

	/* a send time in the future: into the outbox */
	if (send_at > jrn_now()) {
		j->status = ST_QUEUED;
		j->send_at = send_at;
	}
}

job *job_new(const char *file, uint64_t lineno, const char *p, size_t len)
{
	job *j = calloc(1, sizeof *j);
	if (!j || !(j->text = malloc(len + 1))) {
		free(j);
		return NULL;
	}
	memcpy(j->text, p, len);
	j->text[len] = '\0';
	j->len = len;
	j->file = file;
	j->lineno = lineno;
	j->rec = jv_invalid();
	return j;
}
