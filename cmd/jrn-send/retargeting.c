/* retargeting.c: the retargeting provider: hashed identifiers (SHA-256 of
 * the normalised email and E.164 phone) added to an audience named by the
 * campaign: appended to DIR/CAMPAIGN.ndjson (dir:), or posted in batches of
 * the same audience to url: as {"campaignId", "members": [...]}, signed
 * like a webhook, under one Idempotency-Key for the batch. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn-send.h"

/* A campaign id as a file name: itself when it is plain, else a hash. */
static void campaign_file(const char *campaign, jrn_buf *b)
{
	bool plain = *campaign && *campaign != '.' && strlen(campaign) <= 100;
	for (const char *s = campaign; plain && *s; s++)
		plain = isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.';
	if (plain) {
		jrn_buf_adds(b, campaign);
	} else {
		char h[65];
		jrn_sha256_hex(campaign, strlen(campaign), h);
		jrn_buf_addf(b, "campaign-%.16s", h);
	}
}

/* The audience line of a retargeting job (hashed identifiers only). */
void audience_member(const job *j, jrn_buf *b, bool with_campaign)
{
	char ts[32];
	jrn_buf_addc(b, '{');
	if (with_campaign) {
		jrn_buf_adds(b, "\"campaignId\":");
		jrn_json_append_str(b, j->campaign, strlen(j->campaign));
		jrn_buf_addc(b, ',');
	}
	jrn_buf_adds(b, "\"hashedEmail\":");
	if (j->hashed_email[0])
		jrn_buf_addf(b, "\"%s\"", j->hashed_email);
	else
		jrn_buf_adds(b, "null");
	jrn_buf_adds(b, ",\"hashedPhone\":");
	if (j->hashed_phone[0])
		jrn_buf_addf(b, "\"%s\"", j->hashed_phone);
	else
		jrn_buf_adds(b, "null");
	if (with_campaign) {
		jrn_time_format(jrn_now(), ts);
		jrn_buf_addf(b, ",\"addedAt\":\"%s\"", ts);
	}
	jrn_buf_addc(b, '}');
}

/* Appends j's member line to the audience file of its campaign. 0 or -1
 * (err). */
static int retargeting_send_local(send_ctx *S, job *j, provider *p, jrn_buf *err)
{
	(void)S;
	jrn_buf b = {0}, name = {0}, path = {0};
	int rc = -1;
	campaign_file(j->campaign, &name);
	jrn_buf_adds(&name, ".ndjson");
	audience_member(j, &b, true);
	jrn_buf_addc(&b, '\n');
	jrn_buf_addf(&path, "%s/%s", p->dir, name.p);
	int fd = path.p ? open(path.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666) : -1;
	if (fd < 0 && errno == ENOENT && mkdirs(p->dir) == 0)
		fd = open(path.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	/* one write(2) per line: O_APPEND keeps lines of concurrent runs whole */
	if (!b.p || fd < 0 || write_all(fd, b.p, b.len) < 0 || close(fd) < 0)
		jrn_buf_addf(err, "%s: %s", path.p ? path.p : p->dir, strerror(errno));
	else
		rc = 0;
	jrn_buf_free(&path);
	if (rc == 0 && !j->message_id)
		j->message_id = strndup(j->keyhash, 32);
	jrn_buf_free(&b);
	jrn_buf_free(&name);
	return rc;
}

/* The batch x->jobs (one audience) as one POST. */
static int retargeting_start(send_ctx *S, xfer *x, CURL *c)
{
	(void)S;
	job *j = x->jobs[0];
	jrn_buf *b = &x->body;
	char key[65];
	jrn_buf keys = {0};
	jrn_buf_adds(b, "{\"campaignId\":");
	jrn_json_append_str(b, j->campaign, strlen(j->campaign));
	jrn_buf_adds(b, ",\"members\":[");
	for (size_t i = 0; i < x->njobs; i++) {
		if (i)
			jrn_buf_addc(b, ',');
		audience_member(x->jobs[i], b, false);
		jrn_buf_adds(&keys, x->jobs[i]->keyhash);
	}
	jrn_buf_adds(b, "]}");
	int rc = keys.p ? jrn_sha256_hex(keys.p, keys.len, key) : -1;
	jrn_buf_free(&keys);
	if (!b->p || rc < 0 || add_header(&x->hdrs, "Idempotency-Key: %s", key) < 0)
		return -1;
	return http_post_json(x, c, x->p->url, x->p->secret, b->p, b->len);
}

static void retargeting_done(xfer *x, CURL *c, CURLcode res, long code, enum outcome *kind,
			     jrn_buf *msg, int64_t *retry_ms)
{
	*kind = http_outcome(res, code, x->errbuf, &x->resp, msg);
	if (res == CURLE_OK && (code < 200 || code >= 300))
		*retry_ms = code == 429 || code == 503 ? retry_after_ms(c) : -1;
}

static bool same_audience(const job *a, const job *b)
{
	return !strcmp(a->campaign, b->campaign);
}

/* type: retargeting, with url (uploads) or dir (audience files). */
static int retargeting_load(send_ctx *S, provider *p, jv pc, const char *where, jrn_err *e)
{
	(void)S, (void)pc;
	if (!p->url == !p->dir)
		return jrn_fail(e, "%s: retargeting needs url or dir (one of them)", where);
	p->local = p->dir != NULL;
	return 0;
}

const provider_ops retargeting_ops = {
	.type = "retargeting",
	.load = retargeting_load,
	.send_local = retargeting_send_local,
	.start = retargeting_start,
	.done = retargeting_done,
	.same_batch = same_audience,
};
