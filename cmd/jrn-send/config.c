/* config.c: what jrn-send takes from the configuration and the flags: the
 * send settings, every provider (the common keys here, its type's own in
 * its file) and a fallback chain per channel. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jrn-send.h"
#include "mime.h"

const char *const channel_names[NCHANNELS] = {"email", "sms", "whatsapp", "webhook",
					      "retargeting"};

/* Puts "prefix: " before the message already in e; returns -1. */
static int err_prefix(jrn_err *e, const char *prefix)
{
	char was[sizeof e->msg];
	memcpy(was, e->msg, sizeof was);
	return jrn_fail(e, "%s: %s", prefix, was);
}

char *cfg_str(jv obj, const char *dotted)
{
	jv v = jrn_config_get(obj, dotted);
	char *s = jv_get_kind(v) == JV_KIND_STRING ? strdup(jv_string_value(v)) : NULL;
	jv_free(v);
	return s;
}

static bool cfg_num(jv obj, const char *dotted, double *d)
{
	jv v = jrn_config_get(obj, dotted);
	bool ok = jv_get_kind(v) == JV_KIND_NUMBER;
	if (ok)
		*d = jv_number_value(v);
	jv_free(v);
	return ok;
}

/* A duration at dotted (jrn_config_duration), the key named in errors. */
static int cfg_duration(jv obj, const char *dotted, int64_t *ms, jrn_err *e)
{
	return jrn_config_duration(obj, dotted, ms, e) < 0 ? err_prefix(e, dotted) : 0;
}

char *cfg_path(send_ctx *S, const char *s)
{
	const char *cp = S->opts.config_path;
	if (!s || s[0] == '/' || !cp || !strchr(cp, '/'))
		return s ? strdup(s) : NULL;
	const char *slash = strrchr(cp, '/');
	jrn_buf b = {0};
	jrn_buf_add(&b, cp, (size_t)(slash - cp) + 1);
	if (jrn_buf_adds(&b, s) < 0)
		return NULL;
	return b.p;
}

static void provider_free(provider *p)
{
	if (!p)
		return;
	free(p->name), free(p->url), free(p->ca_file), free(p->username), free(p->password);
	free(p->bearer), free(p->from), free(p->envelope_from), free(p->account_sid);
	free(p->auth_token), free(p->msid), free(p->status_callback), free(p->footer);
	free(p->secret), free(p->dir), free(p->endpoint);
	if (p->dirfd >= 0)
		close(p->dirfd);
	free(p);
}

static provider *provider_new(send_ctx *S, const provider_ops *ops, const char *name)
{
	provider *p = calloc(1, sizeof *p);
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return NULL;
	}
	p->ops = ops;
	p->dirfd = -1;
	p->tls = CURLUSESSL_ALL;
	p->connections = INT_MAX;
	p->timeout_ms = 30000;
	p->max_segments = S->cf.default_max_segments;
	p->batch_size = 1000;
	p->refilled = jrn_mono_ms();
	return p;
}

/* The keys every provider type may have (pc is the entry at where). */
static void provider_common(send_ctx *S, provider *p, jv pc, const char *where)
{
	p->url = cfg_str(pc, "url");
	char *ca = cfg_str(pc, "caFile");
	p->ca_file = cfg_path(S, ca);
	free(ca);
	p->username = cfg_str(pc, "username");
	p->password = cfg_str(pc, "password");
	p->bearer = cfg_str(pc, "bearer");
	p->from = cfg_str(pc, "from");
	char key[160];
	snprintf(key, sizeof key, "%s.from", where);
	p->from_shown = jrn_config_shown(S->opts.config, key, p->from);
	p->envelope_from = cfg_str(pc, "envelopeFrom");
	p->account_sid = cfg_str(pc, "accountSid");
	p->auth_token = cfg_str(pc, "authToken");
	p->msid = cfg_str(pc, "messagingServiceSid");
	p->status_callback = cfg_str(pc, "statusCallback");
	p->footer = cfg_str(pc, "footer");
	p->secret = cfg_str(pc, "secret");
	char *dir = cfg_str(pc, "dir");
	p->dir = cfg_path(S, dir);
	free(dir);
	char *tls = cfg_str(pc, "tls");
	if (tls && !strcmp(tls, "try"))
		p->tls = CURLUSESSL_TRY;
	else if (tls && !strcmp(tls, "none"))
		p->tls = CURLUSESSL_NONE;
	free(tls);
	double d;
	if (cfg_num(pc, "rate", &d))
		p->rate = d > 0 ? d : 0;
	if (cfg_num(pc, "connections", &d))
		p->connections = (int)d;
	if (cfg_num(pc, "costPerSegment", &d))
		p->cost_per_segment = d;
	if (cfg_num(pc, "maxSegments", &d))
		p->max_segments = (int)d;
	if (cfg_num(pc, "batchSize", &d))
		p->batch_size = (int)d;
}

/* Reads providers.CHANNEL[i] into a provider, checking what its type needs. */
static provider *provider_load(send_ctx *S, jv pc, const char *where, jrn_err *e)
{
	char *type = cfg_str(pc, "type");
	if (!type) {
		jrn_fail(e, "%s: no type (%s)", where, provider_type_names);
		return NULL;
	}
	const provider_ops *ops = provider_type(type);
	char *name = cfg_str(pc, "name");
	/* the name goes into records, messages and the ledger: never a value
	 * from ${NAME}, but the text as written */
	char key[160];
	snprintf(key, sizeof key, "%s.%s", where, name ? "name" : "type");
	provider *p = provider_new(S, ops ? ops : &spool_ops,
				   jrn_config_shown(S->opts.config, key, name ? name : type));
	free(name);
	free(type);
	if (!p) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	provider_common(S, p, pc, where);
	/* curl reads it at the first send: a missing one would fail each */
	if (p->ca_file && access(p->ca_file, R_OK) < 0) {
		jrn_fail(e, "%s.caFile: cannot read it: %s", where, strerror(errno));
		goto bad;
	}
	int64_t ms = p->timeout_ms;
	if (cfg_duration(pc, "timeout", &ms, e) < 0)
		goto bad;
	p->timeout_ms = (long)ms;
	p->tokens = p->rate > 1 ? p->rate : 1;
	if (p->ops->load(S, p, pc, where, e) < 0)
		goto bad;
	return p;
bad:
	provider_free(p);
	return NULL;
}

static int add_provider(send_conf *cf, provider *p, jrn_err *e)
{
	if (cf->nproviders == (int)(sizeof cf->providers / sizeof cf->providers[0])) {
		provider_free(p);
		return jrn_fail(e, "too many providers (at most 64)");
	}
	cf->providers[cf->nproviders++] = p;
	return 0;
}

/* send.idempotency.window into *ms: a duration (the length of the windows
 * counted from the epoch), 0 for "campaign"; default a day. 0 or -1 with e
 * (the schema has checked the value at load: this only converts it). */
static int load_window(jv cfg, int64_t *ms, jrn_err *e)
{
	*ms = SEND_WINDOW_DAY;
	char *w = cfg_str(cfg, "send.idempotency.window");
	int rc = 0;
	if (w && !strcmp(w, "campaign"))
		*ms = 0;
	else if (w && (jrn_duration_parse(w, ms, e) < 0 || *ms <= 0))
		rc = jrn_fail(e, "send.idempotency.window: expected a duration such as 30d, "
			      "or campaign, got '%.64s'",
			      jrn_config_shown(cfg, "send.idempotency.window", w));
	free(w);
	return rc;
}

/* send.*: parallel, batch size, segments, retries. */
static int load_send(send_ctx *S, jv cfg, jrn_err *e)
{
	send_conf *cf = &S->cf;
	double d;
	int64_t ms;
	static const int64_t backoff[] = {1000, 5000, 30000, 300000};

	cf->parallel = 16;
	cf->batch_size = 256;
	memcpy(cf->backoff, backoff, sizeof backoff);
	cf->nbackoff = 4;
	cf->jitter = 0.2;
	cf->max_wait = 5000;
	cf->default_max_segments = 10;
	if (cfg_num(cfg, "send.parallel", &d))
		cf->parallel = (int)d;
	if (cfg_num(cfg, "send.batchSize", &d))
		cf->batch_size = (int)d;
	if (cfg_num(cfg, "send.maxSegments", &d))
		cf->default_max_segments = (int)d;
	jv bo = jrn_config_get(cfg, "send.retry.backoff");
	if (jv_is_valid(bo)) {
		if (jv_get_kind(bo) != JV_KIND_ARRAY ||
		    jv_array_length(jv_copy(bo)) > (int)(sizeof cf->backoff / sizeof cf->backoff[0])) {
			jv_free(bo);
			return jrn_fail(e, "send.retry.backoff: expected a list of at most 16 durations");
		}
		cf->nbackoff = 0;
		jv_array_foreach(bo, i, item) {
			if (jv_get_kind(item) == JV_KIND_NUMBER && jv_number_value(item) >= 0) {
				ms = (int64_t)jv_number_value(item);
			} else if (jv_get_kind(item) != JV_KIND_STRING ||
				   jrn_duration_parse(jv_string_value(item), &ms, e) < 0) {
				jv_free(item);
				jv_free(bo);
				return jrn_fail(e, "send.retry.backoff[%d]: expected a duration", i);
			}
			jv_free(item);
			cf->backoff[cf->nbackoff++] = ms;
		}
	}
	jv_free(bo);
	if (cfg_num(cfg, "send.retry.jitter", &d)) {
		if (!(d >= 0 && d < 1))
			return jrn_fail(e, "send.retry.jitter: expected a number from 0 to below 1");
		cf->jitter = d;
	}
	if (cfg_duration(cfg, "send.retry.maxWait", &cf->max_wait, e) < 0)
		return -1;

	cf->mail_from = cfg_str(cfg, "send.from");
	cf->mail_from_shown = jrn_config_shown(cfg, "send.from", cf->mail_from);
	cf->reply_to = cfg_str(cfg, "send.replyTo");
	cf->unsub_mailto = cfg_str(cfg, "send.unsubscribe.mailto");
	cf->unsub_url = cfg_str(cfg, "send.unsubscribe.url");
	cf->unsub_url_shown = jrn_config_shown(cfg, "send.unsubscribe.url", cf->unsub_url);
	cf->unsub_secret = cfg_str(cfg, "send.unsubscribe.secret");
	if (cf->unsub_url && (!cf->unsub_secret || !*cf->unsub_secret))
		return jrn_fail(e, "send.unsubscribe.url needs send.unsubscribe.secret "
			       "(the key of the per-recipient token)");
	/* RFC 8058: one-click only over https */
	cf->unsub_one_click = cf->unsub_url && !strncasecmp(cf->unsub_url, "https://", 8);
	if (tracking_load(S, cfg, e) < 0)
		return -1;
	if (cf->track_url) { /* tracking's unsubscribe link replaces send.unsubscribe.url's */
		cf->unsub_one_click = !strncasecmp(cf->track_url, "https://", 8);
		cf->unsub_url_shown = cf->track_url_shown;
	}
	if (load_window(cfg, &cf->key_window, e) < 0)
		return -1;
	cf->default_region = cfg_str(cfg, "ingest.defaultCountry");
	cf->default_locale = cfg_str(cfg, "templates.defaultLocale");
	char *td = cfg_str(cfg, "templates.dir");
	cf->templates_dir = cfg_path(S, td ? td : "templates");
	free(td);
	return 0;
}

/* The spool: --spool, send.spool, or "spool" beside the state file. */
static int load_spool(send_ctx *S, jv cfg, const char *spool_flag, jrn_err *e)
{
	send_conf *cf = &S->cf;
	if (spool_flag) {
		cf->spool_dir = strdup(spool_flag);
		cf->spool_forced = true;
	} else {
		char *sd = cfg_str(cfg, "send.spool");
		if (sd) {
			cf->spool_dir = cfg_path(S, sd);
			free(sd);
		} else {
			const char *db = S->opts.db_path;
			const char *slash = strrchr(db, '/');
			jrn_buf b = {0};
			if (slash)
				jrn_buf_add(&b, db, (size_t)(slash - db) + 1);
			jrn_buf_adds(&b, "spool");
			cf->spool_dir = b.p;
		}
	}
	if (!cf->spool_dir || !cf->templates_dir)
		return jrn_fail(e, "out of memory");
	if (!(cf->spool_provider = provider_new(S, &spool_ops, "spool")) ||
	    add_provider(cf, cf->spool_provider, e) < 0)
		return jrn_fail(e, "out of memory");
	cf->spool_provider->local = true;
	cf->spool_provider->dir = strdup(cf->spool_dir);
	return 0;
}

/* providers.CHANNEL: the chain of ch; unconfigured channels named onto b. */
static int load_chain(send_ctx *S, jv cfg, int ch, jrn_buf *unconfigured, jrn_err *e)
{
	send_conf *cf = &S->cf;
	chain *c = &cf->chains[ch];
	char path[64];
	snprintf(path, sizeof path, "providers.%s", channel_names[ch]);
	jv list = jrn_config_get(cfg, path);
	if (!cf->spool_forced && jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, pc) {
			char where[96];
			snprintf(where, sizeof where, "%s[%d]", path, i);
			provider *p = provider_load(S, pc, where, e);
			jv_free(pc);
			if (!p || add_provider(cf, p, e) < 0) {
				jv_free(list);
				return -1;
			}
			if (c->n == (int)(sizeof c->p / sizeof c->p[0])) {
				jv_free(list);
				return jrn_fail(e, "%s: at most 8 providers in a chain", path);
			}
			c->p[c->n++] = p;
		}
	}
	jv_free(list);
	if (c->n == 0) {
		c->p[c->n++] = cf->spool_provider;
		if (!cf->spool_forced)
			jrn_buf_addf(unconfigured, "%s%s", unconfigured->len ? ", " : "",
				     channel_names[ch]);
	}
	return 0;
}

/* Mail that really leaves needs a sender: send.from, or the provider's
 * own from. jrn@localhost is for the spool only. 0 or -1 with e naming the
 * key, before anything is sent. */
static int check_sender(send_ctx *S, jrn_err *e)
{
	const chain *c = &S->cf.chains[CH_EMAIL];
	if (S->cf.mail_from)
		return 0;
	for (int i = 0; i < c->n; i++)
		if (!c->p[i]->ops->simulates && !c->p[i]->from)
			return jrn_fail(e, "providers.email[%d]: %s '%s' sends real mail but there "
				       "is no sender address: set send.from (or from: on the "
				       "provider)", i, c->p[i]->ops->type, c->p[i]->name);
	return 0;
}

int config_load(send_ctx *S, const char *spool_flag, jrn_err *e)
{
	send_conf *cf = &S->cf;
	jv cfg = S->opts.config;

	if (load_send(S, cfg, e) < 0 || load_spool(S, cfg, spool_flag, e) < 0)
		return -1;
	jrn_buf unconfigured = {0};
	for (int ch = 0; ch < NCHANNELS; ch++)
		if (load_chain(S, cfg, ch, &unconfigured, e) < 0) {
			jrn_buf_free(&unconfigured);
			return -1;
		}
	if (unconfigured.len && S->opts.verbosity > 0)
		jrn_say(0, "no providers for %s: simulated into the spool %s", unconfigured.p,
			cf->spool_dir);
	jrn_buf_free(&unconfigured);
	if (check_sender(S, e) < 0)
		return -1;

	/* the domain of Message-IDs: From's when it is a mailbox (else a
	 * mistake, maybe a secret from ${NAME}, that must not reach records:
	 * each mail fails on it), else the host's */
	const char *from = cf->mail_from ? cf->mail_from : cf->chains[CH_EMAIL].p[0]->from;
	char *fdisp = NULL, *faddr = NULL;
	const char *at = from && jrn_mime_parse_mailbox(from, &fdisp, &faddr, NULL) == 0
				 ? strrchr(faddr, '@') : NULL;
	cf->from_domain = strdup(at ? at + 1 : "localhost"); /* as the default From */
	free(fdisp);
	free(faddr);
	if (!cf->from_domain)
		return jrn_fail(e, "out of memory");
	return 0;
}

void config_free(send_ctx *S)
{
	send_conf *cf = &S->cf;
	for (int i = 0; i < cf->nproviders; i++)
		provider_free(cf->providers[i]);
	cf->nproviders = 0;
	free(cf->mail_from), free(cf->reply_to), free(cf->unsub_mailto), free(cf->unsub_url);
	free(cf->unsub_secret), free(cf->from_domain), free(cf->templates_dir);
	free(cf->default_locale), free(cf->default_region), free(cf->spool_dir);
	tracking_free(S);
}

bool chain_is_real(send_ctx *S, enum channel ch)
{
	const chain *c = &S->cf.chains[ch];
	for (int i = 0; i < c->n; i++)
		if (!c->p[i]->ops->simulates)
			return true;
	return false;
}
