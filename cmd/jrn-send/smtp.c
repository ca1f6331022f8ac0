/* smtp.c: the SMTP provider: one message per transfer through libcurl
 * (smtp:// or smtps://, STARTTLS by tls:, AUTH by username/password or
 * XOAUTH2 bearer). Replies (RFC 5321 section 4.2, enhanced codes RFC 3463):
 * 5xx permanent, 4xx transient; 550-553 at RCPT is a hard bounce of the
 * address, unless the enhanced code says the refusal is not about the
 * mailbox (5.7.x policy, 5.2.x, ...). */
#include <stdlib.h>
#include <string.h>

#include "jrn-send.h"
#include "mime.h"

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t left = x->up_len - x->sent_off, k = size * n;
	if (k > left)
		k = left;
	memcpy(buf, x->up + x->sent_off, k);
	x->sent_off += k;
	return k;
}

/* SMTP replies arrive as CURLINFO_HEADER_IN: keep the last one, since
 * libcurl's own message for a refused DATA does not quote the server. */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
	(void)c;
	xfer *x = ud;
	if (type != CURLINFO_HEADER_IN || size < 4 || data[0] < '2' || data[0] > '5')
		return 0;
	/* the refusal, not the 221 of the QUIT that follows it */
	if ((x->reply[0] == '4' || x->reply[0] == '5') && data[0] < '4')
		return 0;
	size_t n = size < sizeof x->reply - 1 ? size : sizeof x->reply - 1;
	while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++)
		x->reply[i] = (unsigned char)data[i] < 0x20 ? ' ' : data[i];
	x->reply[n] = '\0';
	return 0;
}

/* The mailbox part of an address spec from the configuration. */
static char *addr_of(const char *spec)
{
	char *disp = NULL, *addr = NULL;
	jrn_err e;
	if (!spec || jrn_mime_parse_mailbox(spec, &disp, &addr, &e) < 0)
		return NULL;
	free(disp);
	return addr;
}

enum outcome smtp_outcome(CURLcode res, long code, const char *reply, const char *errbuf,
			  jrn_buf *msg, const char **suppress)
{
	if (res == CURLE_OK)
		return OUT_OK;
	enum outcome kind;
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(res);
	if (code >= 400 && reply[0])
		jrn_buf_addf(msg, "%s (%s)", reply, detail);
	else
		jrn_buf_addf(msg, "%s", detail);
	/* the provider's tls (required, the default) against a server that
	 * offers no STARTTLS: say which key decides it */
	if (res == CURLE_USE_SSL_FAILED)
		jrn_buf_adds(msg, " (the provider's tls is 'required'; 'none' for a server without"
				  " TLS, such as one on loopback)");
	if (code >= 500)
		kind = OUT_PERMANENT;
	else if (code >= 400)
		kind = OUT_TRANSIENT;
	else
		kind = curl_permanent(res) ? OUT_PERMANENT : OUT_TRANSIENT;
	/* a recipient refused for good: a hard bounce, unless the enhanced
	 * code says it is not the mailbox (5.7.1 relay denied is the
	 * sender's problem, not the address's) */
	const char *enh = reply[0] ? reply + 3 : "";
	while (*enh == ' ' || *enh == '-')
		enh++;
	bool other = enh[0] == '5' && enh[1] == '.' && enh[2] != '1';
	if (code >= 550 && code <= 553 && !other && !strncmp(errbuf, "RCPT failed", 11))
		*suppress = "bounced";
	return kind;
}

static int smtp_start(send_ctx *S, xfer *x, CURL *c)
{
	provider *p = x->p;
	job *j = x->jobs[0];
	const char *mail_from = S->cf.mail_from;
	char *env = addr_of(p->envelope_from ? p->envelope_from
			    : p->from ? p->from : mail_from ? mail_from : "jrn@localhost");
	char mf[600];
	snprintf(mf, sizeof mf, "<%s>", env ? env : "");
	free(env);
	if (add_header(&x->rcpts, "<%s>", j->to) < 0)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, p->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_USE_SSL, p->tls);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, mf);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, x->rcpts);
	if (p->username)
		curl_easy_setopt(c, CURLOPT_USERNAME, p->username);
	if (p->password)
		curl_easy_setopt(c, CURLOPT_PASSWORD, p->password);
	if (p->bearer)
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, p->bearer);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, x);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	x->up = j->payload.p;
	x->up_len = j->payload.len;
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_len);
	return 0;
}

static void smtp_done(xfer *x, CURL *c, CURLcode res, long code, enum outcome *kind,
		      jrn_buf *msg, int64_t *retry_ms)
{
	(void)c, (void)retry_ms;
	job *j = x->jobs[0];
	const char *suppress = NULL;
	*kind = smtp_outcome(res, code, x->reply, x->errbuf, msg, &suppress);
	if (suppress) {
		j->suppress_reason = suppress;
		snprintf(j->suppress_source, sizeof j->suppress_source, "smtp:%ld", code);
	}
}

/* type: smtp, with url smtp://HOST[:PORT] or smtps://... */
static int smtp_load(send_ctx *S, provider *p, jv pc, const char *where, jrn_err *e)
{
	(void)S, (void)pc;
	if (!p->url || (strncmp(p->url, "smtp://", 7) && strncmp(p->url, "smtps://", 8)))
		return jrn_fail(e, "%s: smtp needs url: smtp://HOST[:PORT] or smtps://...", where);
	if (p->bearer && !p->username)
		return jrn_fail(e, "%s: bearer (XOAUTH2) needs username", where);
	return 0;
}

const provider_ops smtp_ops = {
	.type = "smtp",
	.load = smtp_load,
	.start = smtp_start,
	.done = smtp_done,
};
