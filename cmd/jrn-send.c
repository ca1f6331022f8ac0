/*
 * jrn-send: deliver action records by email (SMTP), SMS and WhatsApp
 * (Twilio), signed webhooks and hashed retargeting audiences, or into a
 * spool directory; write each record back with `delivery` added.
 *
 * Every send goes claim -> send -> record: the action's idempotency key is
 * claimed in the deliveries ledger (status 'sending', committed) before
 * anything leaves, and the outcome is recorded after. A run killed in
 * between leaves the claim behind, which blocks a second send and shows up
 * in --stuck. Records are read in batches; a batch's transfers run
 * together through libcurl's multi interface (connections reused), with
 * retries, backoff, token-bucket rates and a fallback chain per channel.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <curl/curl.h>

#include "jrn.h"
#include "mime.h"
#include "mustache.h"
#include "sms.h"

static const char usage[] =
	"usage: jrn-send [OPTIONS] [FILE...]\n"
	"       jrn-send --due [OPTIONS]\n"
	"       jrn-send --stuck [--resend] [OPTIONS]\n"
	"Deliver action records (NDJSON) from FILEs or stdin by email, SMS, WhatsApp,\n"
	"webhook or retargeting audience, and write each with \"delivery\" added.\n"
	"\n"
	"  --spool DIR           deliver nothing: write every message into DIR\n"
	"  --parallel N          transfers in flight (config send.parallel; default 16)\n"
	"  --batch-size N        records per ledger transaction (default 256)\n"
	"  --due                 send what the outbox holds for now (retries, sendAt)\n"
	"  --stuck               list actions a killed run left claimed but unrecorded\n"
	"  --resend              with --stuck: send them again, with idempotency tokens\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines and records to FILE as JSON\n"
	"  --dry-run             render and check each message; send and record nothing\n"
	"  -q, --quiet           no per-record diagnostics\n"
	"  -v, --verbose         defaults used, and a summary at the end\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 done, 1 failure (or some records failed), 2 usage,\n"
	"3 some records rejected.\n";

enum {
	OPT_SPOOL = JRN_OPT_TOOL_BASE,
	OPT_PARALLEL,
	OPT_BATCH,
	OPT_DUE,
	OPT_STUCK,
	OPT_RESEND,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"spool", required_argument, NULL, OPT_SPOOL},
	{"parallel", required_argument, NULL, OPT_PARALLEL},
	{"batch-size", required_argument, NULL, OPT_BATCH},
	{"due", no_argument, NULL, OPT_DUE},
	{"stuck", no_argument, NULL, OPT_STUCK},
	{"resend", no_argument, NULL, OPT_RESEND},
	{NULL, 0, NULL, 0},
};

/* ---- channels, providers, jobs ------------------------------------------ */

enum channel { CH_EMAIL, CH_SMS, CH_WHATSAPP, CH_WEBHOOK, CH_RETARGETING, NCHANNELS };
static const char *const channel_names[NCHANNELS] = {"email", "sms", "whatsapp", "webhook",
						     "retargeting"};

enum ptype { P_SPOOL, P_SMTP, P_TWILIO, P_WEBHOOK, P_RETARGETING };

typedef struct provider {
	enum ptype type;
	char *name;
	/* from the configuration (owned) */
	char *url, *ca_file, *username, *password, *bearer, *from, *envelope_from;
	char *account_sid, *auth_token, *msid, *status_callback, *footer, *secret, *dir;
	long tls; /* CURLUSESSL_ALL, _TRY or _NONE */
	double rate, cost_per_segment;
	int connections, max_segments, batch_size;
	long timeout_ms;
	/* run state */
	double tokens;
	int64_t refilled; /* monotonic ms */
	int in_flight;
	int dirfd;      /* spool: its directory, once opened */
	char *endpoint; /* twilio: the Messages.json URL */
} provider;

typedef struct {
	provider *p[8];
	int n;
} chain;

enum status {
	ST_NONE,       /* still to send */
	ST_SENT, ST_SIMULATED, ST_DUPLICATE, ST_QUEUED, ST_FAILED, ST_REJECTED,
	ST_SUPPRESSED, ST_DEFERRED, ST_DRYRUN, ST_STUCK,
	NSTATUS,
};
static const char *const status_names[NSTATUS] = {
	"none", "sent", "simulated", "duplicate", "queued", "failed", "rejected",
	"suppressed", "deferred", "dry-run", "stuck",
};

/* One action record on its way through. */
typedef struct job {
	jv rec;                  /* the record (owned) */
	char *text;              /* its text as read (owned) */
	size_t len;
	const char *file;
	uint64_t lineno;
	enum channel channel;
	bool channel_known;      /* actionType named a channel */
	enum status status;
	char *key;               /* the idempotency key */
	char keyhash[65];        /* sha256 of it: file names, Message-ID, tokens */
	char *customer, *campaign;
	char *to;                /* the normalised recipient (email or E.164) */
	char hashed_email[65], hashed_phone[65];
	jrn_buf payload;         /* MIME message, SMS text or webhook body */
	char *message_id;
	jrn_buf error;
	int prov;                /* index in the chain of the provider in use */
	int attempt;             /* attempts on that provider */
	int attempts;            /* attempts in all */
	int segments;
	double cost;
	bool has_cost;
	int64_t send_at;         /* ST_QUEUED: when (jrn_now clock) */
	int64_t ready;           /* next attempt, monotonic ms */
	bool claimed;            /* holds a ledger claim this run, to record */
	bool inserted;           /* this run's claim put its key in the ledger */
	bool from_outbox;        /* --due */
	bool resend;             /* --stuck --resend */
	int64_t claimed_at;      /* --stuck: the claim as read, to take it over */
	bool bad_line;           /* not a JSON object: to --rejects only, not stdout */
	char *stuck_provider;    /* --stuck: the provider of the unrecorded attempt */
	const char *suppress_reason; /* the provider said: never again */
	char suppress_source[40];
} job;

/* One transfer in flight: one job, or a batch of retargeting members. */
typedef struct xfer {
	provider *p;
	job **jobs;
	size_t njobs;
	CURL *easy;
	struct curl_slist *hdrs, *rcpts;
	jrn_buf body, resp;
	size_t sent_off;
} xfer;

/* ---- the run's state ------------------------------------------------------ */

static jrn_opts opts;
static sqlite3 *db;
static sqlite3_stmt *st_claim, *st_status, *st_record, *st_outbox_put, *st_outbox_del,
	*st_suppressed, *st_consent, *st_suppress_add, *st_due, *st_due_claim, *st_stuck,
	*st_restamp;
static jrn_out out;
static jrn_rejects rej;
static jv_parser *parser;
static jrn_json_index emit_ix; /* replace_member's, reused */
static CURLM *multi;
static CURL **easy_pool;
static size_t easy_pool_n, easy_pool_cap;

static chain chains[NCHANNELS];
static provider *providers[64];
static int nproviders;
static provider *spool_provider;
static bool spool_forced;
static char *spool_dir;

static int parallel = 16, batch_size = 256;
static int64_t backoff[16] = {1000, 5000, 30000, 300000};
static int nbackoff = 4;
static double jitter = 0.2;
static int64_t max_wait = 5000;
static int default_max_segments = 10;
static char *mail_from, *reply_to, *unsub_mailto, *unsub_url, *unsub_secret;
static char *from_domain;
static char *templates_dir, *default_locale, *default_region;
static bool warned_unsub;
static volatile sig_atomic_t interrupted;

static uint64_t counts[NSTATUS], channel_counts[NCHANNELS];

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "jrn-send: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return JRN_EXIT_FAIL;
}

/* Puts "prefix: " before the message already in e; returns -1. */
static int err_prefix(jrn_err *e, const char *prefix)
{
	char was[sizeof e->msg];
	memcpy(was, e->msg, sizeof was);
	return jrn_fail(e, "%s: %s", prefix, was);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void on_signal(int sig)
{
	interrupted = sig;
}

/* ---- configuration -------------------------------------------------------- */

/* The string at dotted path in the config, copied, or NULL. */
static char *cfg_str(jv obj, const char *dotted)
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

/* A duration from the config: a string ("5s") or integer milliseconds. */
static int cfg_duration(jv obj, const char *dotted, int64_t *ms, jrn_err *e)
{
	jv v = jrn_config_get(obj, dotted);
	int rc = 0;
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		*ms = (int64_t)jv_number_value(v);
	else if (jv_get_kind(v) == JV_KIND_STRING && jrn_duration_parse(jv_string_value(v), ms, e) < 0)
		rc = err_prefix(e, dotted);
	jv_free(v);
	return rc;
}

/* A path from the config, relative to the config file's directory. */
static char *cfg_path(const char *s)
{
	if (!s || s[0] == '/' || !opts.config_path || !strchr(opts.config_path, '/'))
		return xstrdup(s);
	const char *slash = strrchr(opts.config_path, '/');
	jrn_buf b = {0};
	jrn_buf_add(&b, opts.config_path, (size_t)(slash - opts.config_path) + 1);
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

static provider *provider_new(enum ptype type, const char *name)
{
	provider *p = calloc(1, sizeof *p);
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return NULL;
	}
	p->type = type;
	p->dirfd = -1;
	p->tls = CURLUSESSL_ALL;
	p->connections = INT_MAX;
	p->timeout_ms = 30000;
	p->max_segments = default_max_segments;
	p->batch_size = 1000;
	p->refilled = mono_ms();
	return p;
}

/* Reads providers.CHANNEL[i] into a provider, checking what its type needs. */
static provider *provider_load(jv pc, const char *where, jrn_err *e)
{
	static const char *const types[] = {"spool", "smtp", "twilio", "webhook", "retargeting"};
	char *type = cfg_str(pc, "type");
	if (!type) {
		jrn_fail(e, "%s: no type (smtp, twilio, webhook, retargeting or spool)", where);
		return NULL;
	}
	enum ptype t = P_SPOOL;
	for (int i = 0; i < 5; i++)
		if (!strcmp(type, types[i]))
			t = (enum ptype)i;
	char *name = cfg_str(pc, "name");
	provider *p = provider_new(t, name ? name : type);
	free(name);
	free(type);
	if (!p) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	p->url = cfg_str(pc, "url");
	char *ca = cfg_str(pc, "caFile");
	p->ca_file = cfg_path(ca);
	free(ca);
	p->username = cfg_str(pc, "username");
	p->password = cfg_str(pc, "password");
	p->bearer = cfg_str(pc, "bearer");
	p->from = cfg_str(pc, "from");
	p->envelope_from = cfg_str(pc, "envelopeFrom");
	p->account_sid = cfg_str(pc, "accountSid");
	p->auth_token = cfg_str(pc, "authToken");
	p->msid = cfg_str(pc, "messagingServiceSid");
	p->status_callback = cfg_str(pc, "statusCallback");
	p->footer = cfg_str(pc, "footer");
	p->secret = cfg_str(pc, "secret");
	char *dir = cfg_str(pc, "dir");
	p->dir = cfg_path(dir);
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
	int64_t ms = p->timeout_ms;
	if (cfg_duration(pc, "timeout", &ms, e) < 0)
		goto bad;
	p->timeout_ms = (long)ms;
	p->tokens = p->rate > 1 ? p->rate : 1;

	switch (t) {
	case P_SMTP:
		if (!p->url || (strncmp(p->url, "smtp://", 7) && strncmp(p->url, "smtps://", 8))) {
			jrn_fail(e, "%s: smtp needs url: smtp://HOST[:PORT] or smtps://...", where);
			goto bad;
		}
		if (p->bearer && !p->username) {
			jrn_fail(e, "%s: bearer (XOAUTH2) needs username", where);
			goto bad;
		}
		break;
	case P_TWILIO: {
		if (!p->account_sid || !p->auth_token) {
			jrn_fail(e, "%s: twilio needs accountSid and authToken", where);
			goto bad;
		}
		if (!p->from && !p->msid) {
			jrn_fail(e, "%s: twilio needs from or messagingServiceSid", where);
			goto bad;
		}
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
		if (!b.p) {
			jrn_fail(e, "out of memory");
			goto bad;
		}
		p->endpoint = b.p;
		break;
	}
	case P_WEBHOOK:
		if (!p->url || !p->secret) {
			jrn_fail(e, "%s: webhook needs url and secret", where);
			goto bad;
		}
		break;
	case P_RETARGETING:
		if (!p->url == !p->dir) {
			jrn_fail(e, "%s: retargeting needs url or dir (one of them)", where);
			goto bad;
		}
		break;
	case P_SPOOL:
		break;
	}
	return p;
bad:
	provider_free(p);
	return NULL;
}

static int add_provider(provider *p, jrn_err *e)
{
	if (nproviders == (int)(sizeof providers / sizeof providers[0])) {
		provider_free(p);
		return jrn_fail(e, "too many providers (at most 64)");
	}
	providers[nproviders++] = p;
	return 0;
}

/* Everything jrn-send takes from the configuration and the flags. */
static int load_config(const char *spool_flag, jrn_err *e)
{
	jv cfg = opts.config;
	double d;
	int64_t ms;

	if (cfg_num(cfg, "send.parallel", &d))
		parallel = (int)d;
	if (cfg_num(cfg, "send.batchSize", &d))
		batch_size = (int)d;
	if (cfg_num(cfg, "send.maxSegments", &d))
		default_max_segments = (int)d;
	jv bo = jrn_config_get(cfg, "send.retry.backoff");
	if (jv_is_valid(bo)) {
		if (jv_get_kind(bo) != JV_KIND_ARRAY ||
		    jv_array_length(jv_copy(bo)) > (int)(sizeof backoff / sizeof backoff[0])) {
			jv_free(bo);
			return jrn_fail(e, "send.retry.backoff: expected a list of at most 16 durations");
		}
		nbackoff = 0;
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
			backoff[nbackoff++] = ms;
		}
	}
	jv_free(bo);
	if (cfg_num(cfg, "send.retry.jitter", &d)) {
		if (!(d >= 0 && d < 1))
			return jrn_fail(e, "send.retry.jitter: expected a number from 0 to below 1");
		jitter = d;
	}
	if (cfg_duration(cfg, "send.retry.maxWait", &max_wait, e) < 0)
		return -1;

	mail_from = cfg_str(cfg, "send.from");
	reply_to = cfg_str(cfg, "send.replyTo");
	unsub_mailto = cfg_str(cfg, "send.unsubscribe.mailto");
	unsub_url = cfg_str(cfg, "send.unsubscribe.url");
	unsub_secret = cfg_str(cfg, "send.unsubscribe.secret");
	if (unsub_url && (!unsub_secret || !*unsub_secret))
		return jrn_fail(e, "send.unsubscribe.url needs send.unsubscribe.secret "
			       "(the key of the per-recipient token)");
	default_region = cfg_str(cfg, "ingest.defaultCountry");
	default_locale = cfg_str(cfg, "templates.defaultLocale");
	char *td = cfg_str(cfg, "templates.dir");
	templates_dir = cfg_path(td ? td : "templates");
	free(td);

	/* the spool: --spool, send.spool, or "spool" beside the state file */
	if (spool_flag) {
		spool_dir = strdup(spool_flag);
		spool_forced = true;
	} else {
		char *sd = cfg_str(cfg, "send.spool");
		if (sd) {
			spool_dir = cfg_path(sd);
			free(sd);
		} else {
			const char *slash = strrchr(opts.db_path, '/');
			jrn_buf b = {0};
			if (slash)
				jrn_buf_add(&b, opts.db_path, (size_t)(slash - opts.db_path) + 1);
			jrn_buf_adds(&b, "spool");
			spool_dir = b.p;
		}
	}
	if (!spool_dir || !templates_dir)
		return jrn_fail(e, "out of memory");
	if (!(spool_provider = provider_new(P_SPOOL, "spool")) || add_provider(spool_provider, e) < 0)
		return jrn_fail(e, "out of memory");
	spool_provider->dir = strdup(spool_dir);

	jrn_buf unconfigured = {0};
	for (int ch = 0; ch < NCHANNELS; ch++) {
		char path[64];
		snprintf(path, sizeof path, "providers.%s", channel_names[ch]);
		jv list = jrn_config_get(cfg, path);
		if (!spool_forced && jv_get_kind(list) == JV_KIND_ARRAY) {
			jv_array_foreach(list, i, pc) {
				char where[96];
				snprintf(where, sizeof where, "%s[%d]", path, i);
				provider *p = provider_load(pc, where, e);
				jv_free(pc);
				if (!p || add_provider(p, e) < 0) {
					jv_free(list);
					jrn_buf_free(&unconfigured);
					return -1;
				}
				if (chains[ch].n == (int)(sizeof chains[ch].p / sizeof chains[ch].p[0])) {
					jv_free(list);
					jrn_buf_free(&unconfigured);
					return jrn_fail(e, "%s: at most 8 providers in a chain", path);
				}
				if (p->type == P_SPOOL && !p->dir)
					p->dir = strdup(spool_dir);
				chains[ch].p[chains[ch].n++] = p;
			}
		}
		jv_free(list);
		if (chains[ch].n == 0) {
			chains[ch].p[chains[ch].n++] = spool_provider;
			if (!spool_forced)
				jrn_buf_addf(&unconfigured, "%s%s", unconfigured.len ? ", " : "",
					     channel_names[ch]);
		}
	}
	if (unconfigured.len && opts.verbosity > 0)
		fprintf(stderr, "jrn-send: no providers for %s: simulated into the spool %s\n",
			unconfigured.p, spool_dir);
	jrn_buf_free(&unconfigured);

	/* the domain of Message-IDs: From's, else the host's */
	const char *from = mail_from ? mail_from : chains[CH_EMAIL].p[0]->from;
	const char *at = from ? strrchr(from, '@') : NULL;
	if (at) {
		size_t n = strcspn(at + 1, "> \t");
		from_domain = strndup(at + 1, n);
	} else {
		from_domain = strdup("localhost"); /* as the default From, jrn@localhost */
	}
	if (!from_domain)
		return jrn_fail(e, "out of memory");
	return 0;
}

/* ---- the ledger ------------------------------------------------------------ */

static int prep_stmt(sqlite3_stmt **st, const char *sql, jrn_err *e)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return 0;
}

static int open_ledger(jrn_err *e)
{
	if (jrn_db_open(opts.db_path, opts.busy_ms, &db, e) < 0)
		return -1; /* the message names the file */
	/* A claim is 'sending' (or 'queued' for a later time). A key that
	 * ended failed, suppressed or rejected is claimed again; one found
	 * simulated is claimed again by a real send (?8), since a simulation
	 * must not block the real thing. */
	if (prep_stmt(&st_claim,
		    "INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, attempts,"
		    " claimed_at, updated_at, record, provider, message_id, cost, segments)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?11, ?6, ?6, ?7, ?9, ?10, ?12, ?13)"
		    " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
		    " claimed_at = excluded.claimed_at, updated_at = excluded.updated_at,"
		    " record = excluded.record, attempts = excluded.attempts, error = NULL,"
		    " provider = excluded.provider, message_id = excluded.message_id,"
		    " cost = excluded.cost, segments = excluded.segments"
		    " WHERE deliveries.status IN ('failed', 'suppressed', 'rejected')"
		    " OR (deliveries.status = 'simulated' AND ?8)",
		    e) < 0 ||
	    prep_stmt(&st_status, "SELECT status, provider, message_id FROM deliveries WHERE key = ?", e) < 0 ||
	    prep_stmt(&st_record,
		    "UPDATE deliveries SET status = ?2, provider = ?3, message_id = ?4, attempts = ?5,"
		    " error = ?6, cost = ?7, segments = ?8, updated_at = ?9 WHERE key = ?1", e) < 0 ||
	    prep_stmt(&st_outbox_put,
		    "INSERT INTO outbox (key, send_at, provider, attempt, record) VALUES (?1, ?2, ?3, ?4, ?5)"
		    " ON CONFLICT (key) DO UPDATE SET send_at = excluded.send_at,"
		    " provider = excluded.provider, attempt = excluded.attempt, record = excluded.record",
		    e) < 0 ||
	    prep_stmt(&st_outbox_del, "DELETE FROM outbox WHERE key = ?", e) < 0 ||
	    prep_stmt(&st_suppressed,
		    "SELECT reason FROM suppressions WHERE address = ?1 AND channel IN (?2, 'all')"
		    " LIMIT 1", e) < 0 ||
	    prep_stmt(&st_consent,
		    "SELECT 1 FROM consent WHERE customer_id = ?1 AND channel IN (?2, 'all')"
		    " AND status = 'revoked' LIMIT 1", e) < 0 ||
	    prep_stmt(&st_suppress_add,
		    "INSERT INTO suppressions (address, channel, reason, ts, source)"
		    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING", e) < 0 ||
	    prep_stmt(&st_due,
		    "SELECT key, provider, attempt, record FROM outbox WHERE send_at <= ?1"
		    " ORDER BY send_at, key LIMIT ?2 OFFSET ?3", e) < 0 ||
	    prep_stmt(&st_due_claim,
		    "UPDATE deliveries SET status = 'sending', claimed_at = ?2, updated_at = ?2"
		    " WHERE key = ?1 AND status = 'queued'", e) < 0 ||
	    prep_stmt(&st_stuck,
		    "SELECT key, record, provider, attempts, claimed_at FROM deliveries"
		    " WHERE status = 'sending' ORDER BY claimed_at, key", e) < 0 ||
	    prep_stmt(&st_restamp,
		    "UPDATE deliveries SET claimed_at = max(?2, claimed_at + 1), updated_at = ?2"
		    " WHERE key = ?1 AND status = 'sending' AND claimed_at = ?3", e) < 0)
		return err_prefix(e, opts.db_path);
	return 0;
}

static void close_ledger(void)
{
	sqlite3_stmt **all[] = {&st_claim, &st_status, &st_record, &st_outbox_put, &st_outbox_del,
				&st_suppressed, &st_consent, &st_suppress_add, &st_due,
				&st_due_claim, &st_stuck, &st_restamp};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
	if (db)
		sqlite3_close(db);
	db = NULL;
}

/* Runs a prepared statement that returns no rows (and resets it). */
static int step_done(sqlite3_stmt *st, jrn_err *e)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return jrn_fail(e, "%s: %s", opts.db_path, sqlite3_errmsg(db));
	return 0;
}

static int begin(jrn_err *e)
{
	if (jrn_db_exec(db, "BEGIN IMMEDIATE", e) < 0)
		return err_prefix(e, opts.db_path);
	return 0;
}

static int begin_read(jrn_err *e)
{
	if (jrn_db_exec(db, "BEGIN", e) < 0)
		return err_prefix(e, opts.db_path);
	return 0;
}

static int commit(jrn_err *e)
{
	if (jrn_db_exec(db, "COMMIT", e) < 0) {
		jrn_err ignore;
		jrn_db_exec(db, "ROLLBACK", &ignore);
		return err_prefix(e, opts.db_path);
	}
	return 0;
}

static void rollback(void)
{
	jrn_err ignore;
	if (!sqlite3_get_autocommit(db))
		jrn_db_exec(db, "ROLLBACK", &ignore);
}

/* ---- record fields ---------------------------------------------------------- */

/* The string at a dotted path of the record (borrows rec), or NULL; numbers
 * are turned into their text in tmp. */
static const char *rec_str(jv rec, const char *dotted, char tmp[32])
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

/* ---- templates ----------------------------------------------------------- */

typedef struct {
	char *path;
	jrn_mustache *t; /* NULL: the file does not exist */
} tmpl_entry;

static tmpl_entry *tmpl_cache;
static size_t tmpl_n, tmpl_cap;

typedef struct {
	char *name, *locale; /* footer, de: footer.de.mustache */
	char *text;
} partial_file;
static partial_file *partial_files;
static size_t npartial_files;
static bool partials_scanned;

typedef struct {
	char *chain; /* "de-AT\nde\n" */
	jv partials;
} partial_set;
static partial_set *partial_sets;
static size_t npartial_sets;

static int read_whole(const char *path, jrn_buf *b, jrn_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : jrn_fail(e, "%s: %s", path, strerror(errno));
	for (;;) {
		if (jrn_buf_reserve(b, 65536) < 0) {
			close(fd);
			return jrn_fail(e, "out of memory");
		}
		ssize_t n = read(fd, b->p + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return jrn_fail(e, "%s: %s", path, strerror(err));
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->p[b->len] = '\0';
	}
	close(fd);
	return 0;
}

/* The compiled template at path (cached), or NULL with *absent set when
 * there is no such file; NULL without it is an error in e. */
static const jrn_mustache *tmpl_get(const char *path, bool *absent, jrn_err *e)
{
	*absent = false;
	for (size_t i = 0; i < tmpl_n; i++)
		if (!strcmp(tmpl_cache[i].path, path)) {
			*absent = !tmpl_cache[i].t;
			return tmpl_cache[i].t;
		}
	jrn_buf b = {0};
	int rc = read_whole(path, &b, e);
	if (rc < 0) {
		jrn_buf_free(&b);
		return NULL;
	}
	jrn_mustache *t = NULL;
	if (rc == 0) {
		size_t bad = jrn_utf8_invalid_at(b.p ? b.p : "", b.len);
		if (bad < b.len) {
			jrn_fail(e, "%s: invalid UTF-8 at byte %zu", path, bad + 1);
			jrn_buf_free(&b);
			return NULL;
		}
		jrn_err ce;
		t = jrn_mustache_compile(b.p ? b.p : "", b.len, &ce);
		jrn_buf_free(&b);
		if (!t) {
			jrn_fail(e, "%s: %s", path, ce.msg);
			return NULL;
		}
	}
	jrn_buf_free(&b);
	if (tmpl_n == tmpl_cap) {
		size_t cap = tmpl_cap ? 2 * tmpl_cap : 16;
		tmpl_entry *ne = realloc(tmpl_cache, cap * sizeof *ne);
		if (!ne) {
			jrn_mustache_free(t);
			jrn_fail(e, "out of memory");
			return NULL;
		}
		tmpl_cache = ne, tmpl_cap = cap;
	}
	if (!(tmpl_cache[tmpl_n].path = strdup(path))) {
		jrn_mustache_free(t);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	tmpl_cache[tmpl_n++].t = t;
	*absent = !t;
	return t;
}

/* The locales to try, best first, as "de-AT\nde\n\n" ("" = no locale). */
static void locale_chain(jv rec, jrn_buf *b)
{
	const char *loc = rec_str(rec, "locale", NULL);
	if (!loc)
		loc = rec_str(rec, "profile.locale", NULL);
	if (!loc)
		loc = rec_str(rec, "traits.locale", NULL);
	if (!loc)
		loc = rec_str(rec, "profile.traits.locale", NULL);
	if (!loc)
		loc = default_locale;
	jrn_buf_reset(b);
	for (int pass = 0; loc && pass < 2; pass++) {
		size_t n = strlen(loc);
		/* only plain tags: a locale is part of a file name */
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)loc[i]) && loc[i] != '-' && loc[i] != '_')
				n = 0;
		if (n) {
			jrn_buf_add(b, loc, n);
			jrn_buf_addc(b, '\n');
			size_t lang = strcspn(loc, "-_");
			if (lang < n) {
				jrn_buf_add(b, loc, lang);
				jrn_buf_addc(b, '\n');
			}
		}
		loc = pass == 0 && default_locale && loc != default_locale ? default_locale : NULL;
	}
	jrn_buf_addc(b, '\n');
}

/* The template NAME[.LOCALE].PART for the first locale of chain that has
 * one; NULL when none does (*found false) or on error (*found true, e). */
static const jrn_mustache *tmpl_find(const char *name, const char *part, const char *chain,
				     jrn_buf *path_out, bool *found, jrn_err *e)
{
	*found = false;
	for (const char *l = chain; *l || l == chain; ) {
		size_t n = strcspn(l, "\n");
		jrn_buf_reset(path_out);
		jrn_buf_addf(path_out, "%s/%s", templates_dir, name);
		if (n)
			jrn_buf_addf(path_out, ".%.*s", (int)n, l);
		if (jrn_buf_addf(path_out, ".%s", part) < 0) {
			*found = true;
			jrn_fail(e, "out of memory");
			return NULL;
		}
		bool absent;
		const jrn_mustache *t = tmpl_get(path_out->p, &absent, e);
		if (t || !absent) {
			*found = true;
			return t;
		}
		if (!n)
			break;
		l += n + 1;
	}
	return NULL;
}

/* Partials for a locale chain: every NAME[.LOCALE].mustache of the templates
 * directory, the best locale of each name. Borrowed (cached). */
static jv partials_for(const char *chain)
{
	if (!partials_scanned) {
		partials_scanned = true;
		DIR *d = opendir(templates_dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (n <= 9 || strcmp(de->d_name + n - 9, ".mustache") || de->d_name[0] == '.')
				continue;
			jrn_buf path = {0}, text = {0};
			jrn_err e;
			jrn_buf_addf(&path, "%s/%s", templates_dir, de->d_name);
			if (path.p && read_whole(path.p, &text, &e) == 0) {
				partial_file *nf = realloc(partial_files,
							   (npartial_files + 1) * sizeof *nf);
				if (nf) {
					partial_files = nf;
					char *base = strndup(de->d_name, n - 9);
					char *dot = base ? strchr(base, '.') : NULL;
					if (dot)
						*dot = '\0';
					nf[npartial_files].name = base;
					nf[npartial_files].locale = strdup(dot ? dot + 1 : "");
					nf[npartial_files].text = text.p ? text.p : strdup("");
					text.p = NULL;
					if (base && nf[npartial_files].locale && nf[npartial_files].text)
						npartial_files++;
				}
			}
			jrn_buf_free(&path);
			jrn_buf_free(&text);
		}
		if (d)
			closedir(d);
	}
	for (size_t i = 0; i < npartial_sets; i++)
		if (!strcmp(partial_sets[i].chain, chain))
			return partial_sets[i].partials;
	jv set = jv_object();
	/* worst locale first, so better ones overwrite */
	const char *locs[16];
	size_t lens[16], nl = 0;
	for (const char *l = chain; nl < 16;) {
		size_t n = strcspn(l, "\n");
		locs[nl] = l, lens[nl++] = n;
		if (!n || !l[n])
			break;
		l += n + 1;
	}
	for (size_t k = nl; k-- > 0;)
		for (size_t i = 0; i < npartial_files; i++)
			if (strlen(partial_files[i].locale) == lens[k] &&
			    !strncmp(partial_files[i].locale, locs[k], lens[k]))
				set = jv_object_set(set, jv_string(partial_files[i].name),
						    jv_string(partial_files[i].text));
	partial_set *ns = realloc(partial_sets, (npartial_sets + 1) * sizeof *ns);
	char *c = strdup(chain);
	if (!ns || !c) {
		free(c);
		if (ns)
			partial_sets = ns;
		jv_free(set);
		return jv_null();
	}
	partial_sets = ns;
	ns[npartial_sets].chain = c;
	ns[npartial_sets++].partials = set;
	return set;
}

static void templates_free(void)
{
	for (size_t i = 0; i < tmpl_n; i++) {
		free(tmpl_cache[i].path);
		jrn_mustache_free(tmpl_cache[i].t);
	}
	free(tmpl_cache);
	for (size_t i = 0; i < npartial_files; i++)
		free(partial_files[i].name), free(partial_files[i].locale), free(partial_files[i].text);
	free(partial_files);
	for (size_t i = 0; i < npartial_sets; i++) {
		free(partial_sets[i].chain);
		jv_free(partial_sets[i].partials);
	}
	free(partial_sets);
}

/* Renders template name's PART (strictly) into out. 1 rendered, 0 no such
 * template, -1 error in e (a missing variable names itself). */
static int render_part(const char *name, const char *part, jv data, const char *chain,
		       jrn_buf *out, jrn_err *e)
{
	jrn_buf path = {0};
	bool found;
	const jrn_mustache *t = tmpl_find(name, part, chain, &path, &found, e);
	int rc = 0;
	if (t) {
		jrn_err re;
		jrn_buf_reset(out);
		/* {{x}} escapes for what the part is: HTML, JSON, or plain text */
		int flags = JRN_MUSTACHE_STRICT | (!strcmp(part, "html") ? 0
						   : !strcmp(part, "json") ? JRN_MUSTACHE_JSON
						   : JRN_MUSTACHE_TEXT);
		if (jrn_mustache_render(t, data, partials_for(chain), flags, out, &re) < 0)
			rc = jrn_fail(e, "template %s: %s", path.p + strlen(templates_dir) + 1, re.msg);
		else
			rc = 1;
		if (rc == 1 && !out->p)
			jrn_buf_adds(out, "");
	} else if (found) {
		rc = -1;
	}
	jrn_buf_free(&path);
	return rc;
}

/* ---- preparing a job: channel, key, recipient, content ------------------- */

static void job_free(job *j)
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

static void job_error(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_error(job *j, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	jrn_buf_reset(&j->error);
	jrn_buf_adds(&j->error, msg);
}

/* URL-encodes s onto b (RFC 3986 unreserved kept). */
static void url_encode(jrn_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			jrn_buf_addc(b, (char)c);
		else {
			char t[3] = {'%', hex[c >> 4], hex[c & 15]};
			jrn_buf_add(b, t, 3);
		}
	}
}

/* Form-encodes (application/x-www-form-urlencoded) name=value& onto b. */
static void form_add(jrn_buf *b, const char *name, const char *value)
{
	if (!value)
		return;
	if (b->len)
		jrn_buf_addc(b, '&');
	url_encode(b, name);
	jrn_buf_addc(b, '=');
	url_encode(b, value);
}

/* The signed unsubscribe link of a recipient, appended to b. */
static int unsubscribe_url(jrn_buf *b, const job *j)
{
	char token[65];
	jrn_buf msg = {0};
	jrn_buf_addf(&msg, "%s\n%s\n%s", j->customer ? j->customer : "", j->to ? j->to : "",
		     j->campaign ? j->campaign : "");
	int rc = msg.p ? jrn_hmac_sha256_hex(unsub_secret, strlen(unsub_secret), msg.p, msg.len, token)
		       : -1;
	jrn_buf_free(&msg);
	if (rc < 0)
		return -1;
	jrn_buf_adds(b, unsub_url);
	jrn_buf_addc(b, strchr(unsub_url, '?') ? '&' : '?');
	jrn_buf_adds(b, "c=");
	url_encode(b, j->customer ? j->customer : "");
	jrn_buf_adds(b, "&k=");
	url_encode(b, j->campaign ? j->campaign : "");
	jrn_buf_adds(b, "&t=");
	return jrn_buf_adds(b, token);
}

static bool is_marketing(jv rec)
{
	const char *cat = rec_str(rec, "category", NULL);
	return !cat || strcmp(cat, "transactional");
}

/* Builds the email message of j into j->payload. 0, or -1 (j->error says). */
static int prepare_email(job *j, const char *chain)
{
	jrn_err e;
	jv data = jv_copy(j->rec);
	jrn_buf unsub = {0}, subject = {0}, text = {0}, html = {0}, from = {0}, to = {0},
		lu = {0}, mid = {0};
	char *fdisp = NULL, *faddr = NULL;
	int rc = -1;
	const char *tname = rec_str(j->rec, "template", NULL);
	bool marketing = is_marketing(j->rec);

	if (unsub_url) {
		if (unsubscribe_url(&unsub, j) < 0 || !unsub.p) {
			job_error(j, "out of memory");
			goto done;
		}
		data = jv_object_set(data, jv_string("unsubscribeUrl"), jv_string(unsub.p));
	}
	if (tname) {
		int s = render_part(tname, "subject", data, chain, &subject, &e);
		int t = s < 0 ? 0 : render_part(tname, "txt", data, chain, &text, &e);
		int h = s < 0 || t < 0 ? 0 : render_part(tname, "html", data, chain, &html, &e);
		if (s < 0 || t < 0 || h < 0) {
			job_error(j, "%s", e.msg);
			goto done;
		}
		if (t == 0 && h == 0) {
			job_error(j, "template '%s': no %s.txt or %s.html in %s", tname, tname, tname,
				  templates_dir);
			goto done;
		}
		/* a subject file ends with its newline; a header must not */
		while (subject.len && (subject.p[subject.len - 1] == '\n' ||
				       subject.p[subject.len - 1] == '\r'))
			subject.p[--subject.len] = '\0';
	}
	if (!subject.p) {
		const char *s = rec_str(j->rec, "subject", NULL);
		if (!s) {
			job_error(j, "no subject: the action has none and no template gives one");
			goto done;
		}
		jrn_buf_adds(&subject, s);
	}
	if (!text.p) {
		const char *m = rec_str(j->rec, "messageContent", NULL);
		if (m)
			jrn_buf_adds(&text, m);
		else if (!html.p) {
			job_error(j, "no content: the action has no messageContent and no template");
			goto done;
		}
	}
	if (!text.p && html.p) {
		job_error(j, "template '%s': an HTML part needs a %s.txt part beside it", tname, tname);
		goto done;
	}

	const provider *p0 = chains[CH_EMAIL].p[j->prov < chains[CH_EMAIL].n ? j->prov : 0];
	const char *fromspec = p0->from ? p0->from : mail_from ? mail_from : "jrn <jrn@localhost>";
	if (jrn_mime_parse_mailbox(fromspec, &fdisp, &faddr, &e) < 0) {
		job_error(j, "from '%s': %s", fromspec, e.msg);
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
	jrn_buf_addf(&mid, "<%.32s@%s>", j->keyhash, from_domain);
	if (marketing && (unsub_mailto || unsub_url)) {
		if (unsub_mailto)
			jrn_buf_addf(&lu, "<mailto:%s?subject=unsubscribe>", unsub_mailto);
		if (unsub_url)
			jrn_buf_addf(&lu, "%s<%s>", lu.len ? ", " : "", unsub.p);
	} else if (marketing && !warned_unsub && opts.verbosity >= 0) {
		warned_unsub = true;
		fputs("jrn-send: note: no send.unsubscribe in the configuration: marketing mail "
		      "goes out without List-Unsubscribe\n", stderr);
	}
	const char *extra[] = {"X-Jrn-Campaign", j->campaign ? j->campaign : "", "X-Jrn-Key",
			       j->keyhash, NULL};
	jrn_mime_msg m = {
		.from = from.p,
		.to = to.p,
		.reply_to = reply_to,
		.subject = subject.p,
		.text = text.p,
		.html = html.p,
		.message_id = mid.p,
		.date_ms = jrn_now(),
		.list_unsubscribe = lu.p,
		.one_click = marketing && unsub_url != NULL,
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
static int prepare_sms(job *j, const char *chain)
{
	jrn_err e;
	const char *tname = rec_str(j->rec, "template", NULL);
	const provider *p0 = chains[j->channel].p[j->prov < chains[j->channel].n ? j->prov : 0];
	jrn_buf_reset(&j->payload);
	int rc = 0;
	if (tname) {
		if (j->channel == CH_WHATSAPP)
			rc = render_part(tname, "whatsapp", j->rec, chain, &j->payload, &e);
		if (rc == 0)
			rc = render_part(tname, "sms", j->rec, chain, &j->payload, &e);
		if (rc < 0) {
			job_error(j, "%s", e.msg);
			return -1;
		}
		if (rc == 0) {
			job_error(j, "template '%s': no %s.sms in %s", tname, tname, templates_dir);
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
static int prepare_webhook(job *j, const char *chain)
{
	jrn_err e;
	const char *tname = rec_str(j->rec, "template", NULL);
	jrn_buf_reset(&j->payload);
	if (tname) {
		int rc = render_part(tname, "json", j->rec, chain, &j->payload, &e);
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

/* Is the address suppressed, or consent revoked? The reason, or NULL;
 * *broken when the state file could not say (then nothing may be sent). */
static const char *suppressed(const job *j, char why[128], bool *broken)
{
	const char *ch = channel_names[j->channel];
	*broken = false;
	if (!db)
		return NULL;
	if (j->to) {
		sqlite3_bind_text(st_suppressed, 1, j->to, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_suppressed, 2, ch, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st_suppressed);
		if (rc == SQLITE_ROW)
			snprintf(why, 128, "suppressed: %s",
				 (const char *)sqlite3_column_text(st_suppressed, 0));
		else if (rc != SQLITE_DONE)
			snprintf(why, 128, "cannot read the suppressions: %s", sqlite3_errmsg(db));
		sqlite3_reset(st_suppressed);
		if (rc != SQLITE_DONE) {
			*broken = rc != SQLITE_ROW;
			return why;
		}
	}
	if (j->customer) {
		sqlite3_bind_text(st_consent, 1, j->customer, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_consent, 2, ch, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st_consent);
		if (rc == SQLITE_ROW)
			snprintf(why, 128, "consent for %s revoked", ch);
		else if (rc != SQLITE_DONE)
			snprintf(why, 128, "cannot read the consent: %s", sqlite3_errmsg(db));
		sqlite3_reset(st_consent);
		if (rc != SQLITE_DONE) {
			*broken = rc != SQLITE_ROW;
			return why;
		}
	}
	return NULL;
}

/* Decides what j is and builds what it sends. Sets j->status when the job
 * goes no further (rejected, deferred, suppressed, queued for later). */
static void prepare(job *j)
{
	char tmp[32], tmp2[32], why[128];
	jrn_err e;
	jrn_buf b = {0};

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
	const char *cust = rec_str(j->rec, "customerId", tmp);
	const char *camp = rec_str(j->rec, "campaignId", tmp2);
	j->customer = xstrdup(cust);
	j->campaign = xstrdup(camp);

	/* the idempotency key: given, or seed 004's customer + campaign +
	 * channel + template + day */
	const char *given = rec_str(j->rec, "idempotencyKey", tmp);
	if (given) {
		j->key = strdup(given);
	} else {
		char day[32];
		jrn_time_format(jrn_now(), day);
		const char *tn = rec_str(j->rec, "template", NULL);
		jrn_buf_addf(&b, "%s\x1f%s\x1f%s\x1f%s\x1f%.10s", cust ? cust : "", camp ? camp : "",
			     channel_names[ch], tn ? tn : "", day);
		if (b.p && jrn_sha256_hex(b.p, b.len, j->keyhash) == 0)
			j->key = strdup(j->keyhash);
		jrn_buf_free(&b);
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
		job_error(j, "route: %s", r ? r : "suppress");
		return;
	}

	/* the recipient */
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
					return;
				}
			} else if (ch == CH_EMAIL) {
				for (size_t i = 0; i < b.len; i++)
					if ((unsigned char)b.p[i] >= 0x80) {
						j->status = ST_REJECTED;
						job_error(j, "recipient '%.64s': an address with "
							     "non-ASCII characters needs SMTPUTF8, "
							     "which jrn-send does not speak", em);
						jrn_buf_free(&b);
						return;
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
			if (jrn_phone_e164(ph, strlen(ph), default_region ? default_region : "US", &b,
					   &e) < 0 || !b.p) {
				if (ch != CH_RETARGETING) {
					j->status = ST_REJECTED;
					job_error(j, "recipient '%.64s': %s", ph, e.msg);
					jrn_buf_free(&b);
					return;
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
		job_error(j, ch == CH_EMAIL ? "no recipient: recipientEmail, profile.email or email"
					    : "no recipient: recipientPhone, profile.phone or phone");
		return;
	}
	if (ch == CH_RETARGETING && !j->hashed_email[0] && !j->hashed_phone[0]) {
		j->status = ST_REJECTED;
		job_error(j, "no valid email or phone to add to an audience");
		return;
	}
	if (ch == CH_RETARGETING && !j->campaign) {
		j->status = ST_REJECTED;
		job_error(j, "retargeting needs a campaignId (the audience)");
		return;
	}
	bool broken;
	const char *sw = suppressed(j, why, &broken);
	if (sw) {
		j->status = broken ? ST_FAILED : ST_SUPPRESSED;
		job_error(j, "%s", sw);
		return;
	}

	/* a template name is part of a file name: nothing that leaves the
	 * templates directory */
	const char *tn = rec_str(j->rec, "template", NULL);
	if (tn) {
		bool ok = tn[0] != '.' && strlen(tn) <= 200;
		for (const char *c = tn; ok && *c; c++)
			ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.';
		if (!ok) {
			j->status = ST_REJECTED;
			job_error(j, "template '%.64s': a name of letters, digits, '-', '_' and '.', "
				     "not starting with '.'", tn);
			return;
		}
	}

	/* the content */
	jrn_buf chain = {0};
	locale_chain(j->rec, &chain);
	int rc = 0;
	if (!chain.p)
		rc = -1, job_error(j, "out of memory");
	else if (ch == CH_EMAIL)
		rc = prepare_email(j, chain.p);
	else if (ch == CH_SMS || ch == CH_WHATSAPP)
		rc = prepare_sms(j, chain.p);
	else if (ch == CH_WEBHOOK)
		rc = prepare_webhook(j, chain.p);
	jrn_buf_free(&chain);
	if (rc < 0) {
		j->status = ST_REJECTED;
		return;
	}

	/* a send time in the future: into the outbox */
	const char *sa = rec_str(j->rec, "route.sendAt", NULL);
	int64_t when;
	if (sa && !j->from_outbox && jrn_time_parse(sa, strlen(sa), 0, &when, &e) == 0 &&
	    when > jrn_now()) {
		j->status = ST_QUEUED;
		j->send_at = when;
	}
}

/* ---- sending: spool and audience files (no network) --------------------- */

static int mkdirs(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -1;
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0777) < 0 && errno != EEXIST) {
				free(p);
				return -1;
			}
			*s = '/';
		}
	int rc = mkdir(p, 0777) < 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k, n -= (size_t)k;
	}
	return 0;
}

/* Writes a file whole under its name in p's directory: a temporary name
 * first, then rename, so a reader of the directory never sees half a
 * message. The directory is opened once (created if missing) and named by
 * its descriptor after that: no path walk per message. */
static int write_file_atomic(provider *p, const char *name, const char *data, size_t n,
			     jrn_buf *err)
{
	static long pid;
	char tmp[256];
	if (!pid)
		pid = (long)getpid();
	if (p->dirfd < 0) {
		if (mkdirs(p->dir) < 0 ||
		    (p->dirfd = open(p->dir, O_DIRECTORY | O_PATH | O_CLOEXEC)) < 0) {
			jrn_buf_addf(err, "%s: %s", p->dir, strerror(errno));
			return -1;
		}
	}
	snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", name, pid);
	int fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || write_all(fd, data, n) < 0 || close(fd) < 0 ||
	    renameat(p->dirfd, tmp, p->dirfd, name) < 0) {
		jrn_buf_addf(err, "%s/%s: %s", p->dir, fd < 0 ? tmp : name, strerror(errno));
		if (fd >= 0)
			unlinkat(p->dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

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
static void audience_member(const job *j, jrn_buf *b, bool with_campaign)
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

/* Sends j through a provider that needs no network. 0 or -1 (err). */
static int send_local(job *j, provider *p, jrn_buf *err)
{
	jrn_buf b = {0}, name = {0};
	int rc = -1;
	if (p->type == P_RETARGETING) {
		campaign_file(j->campaign, &name);
		jrn_buf_adds(&name, ".ndjson");
		audience_member(j, &b, true);
		jrn_buf_addc(&b, '\n');
		jrn_buf path = {0};
		jrn_buf_addf(&path, "%s/%s", p->dir, name.p);
		int fd = path.p ? open(path.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666) : -1;
		if (fd < 0 && errno == ENOENT && mkdirs(p->dir) == 0)
			fd = open(path.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		/* one write(2) per line: O_APPEND keeps lines of concurrent
		 * runs whole */
		if (!b.p || fd < 0 || write_all(fd, b.p, b.len) < 0 || close(fd) < 0)
			jrn_buf_addf(err, "%s: %s", path.p ? path.p : p->dir, strerror(errno));
		else
			rc = 0;
		jrn_buf_free(&path);
		goto done;
	}
	/* the spool */
	if (j->channel == CH_EMAIL) {
		jrn_buf_addf(&name, "%.32s.eml", j->keyhash);
		rc = write_file_atomic(p, name.p, j->payload.p, j->payload.len, err);
		goto done;
	}
	jrn_buf_addf(&name, "%.32s.json", j->keyhash);
	jrn_buf_adds(&b, "{\"channel\":\"");
	jrn_buf_adds(&b, channel_names[j->channel]);
	jrn_buf_adds(&b, "\",\"provider\":");
	jrn_json_append_str(&b, p->name, strlen(p->name));
	jrn_buf_adds(&b, ",\"key\":");
	jrn_json_append_str(&b, j->key, strlen(j->key));
	if (j->to) {
		jrn_buf_adds(&b, ",\"to\":");
		jrn_json_append_str(&b, j->to, strlen(j->to));
	}
	if (j->channel == CH_SMS || j->channel == CH_WHATSAPP) {
		jrn_buf_adds(&b, ",\"body\":");
		jrn_json_append_str(&b, j->payload.p, j->payload.len);
		jrn_buf_addf(&b, ",\"segments\":%d", j->segments);
	} else if (j->channel == CH_WEBHOOK) {
		jrn_buf_adds(&b, ",\"body\":");
		jrn_buf_add(&b, j->payload.p, j->payload.len);
	} else if (j->channel == CH_RETARGETING) {
		jrn_buf_adds(&b, ",\"member\":");
		audience_member(j, &b, true);
	}
	jrn_buf_adds(&b, "}\n");
	if (!b.p || !name.p)
		jrn_buf_adds(err, "out of memory");
	else
		rc = write_file_atomic(p, name.p, b.p, b.len, err);
done:
	if (rc == 0 && !j->message_id)
		j->message_id = strndup(j->keyhash, 32);
	jrn_buf_free(&b);
	jrn_buf_free(&name);
	return rc;
}

/* ---- sending: the network, through libcurl's multi interface ------------ */

enum outcome { OUT_OK, OUT_TRANSIENT, OUT_PERMANENT };

typedef struct {
	xfer base;
	char errbuf[CURL_ERROR_SIZE];
	char reply[256]; /* SMTP: the server's last reply line, for errors */
	const char *up;  /* the upload (SMTP) */
	size_t up_len;
} xfer_full;

static job **requeued;
static size_t nrequeued, requeued_cap;
/* The members of one audience batch retry together: one clock reading
 * for all their outcomes (0: read the clock). */
static int64_t outcome_clock;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	xfer_full *x = ud;
	size_t left = x->up_len - x->base.sent_off, k = size * n;
	if (k > left)
		k = left;
	memcpy(buf, x->up + x->base.sent_off, k);
	x->base.sent_off += k;
	return k;
}

/* SMTP replies arrive as CURLINFO_HEADER_IN: keep the last one, since
 * libcurl's own message for a refused DATA does not quote the server. */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
	(void)c;
	xfer_full *x = ud;
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

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	xfer_full *x = ud;
	/* a response body is read for ids and error codes: 1 MiB is plenty */
	if (x->base.resp.len + size * n > (1u << 20))
		return size * n;
	return jrn_buf_add(&x->base.resp, p, size * n) < 0 ? 0 : size * n;
}

/* Permanent curl errors: retrying cannot help (a configuration problem). */
static bool curl_permanent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_USE_SSL_FAILED:
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_FILESIZE_EXCEEDED:
		return true;
	default:
		return false;
	}
}

static int64_t jittered(int64_t ms)
{
	if (jitter <= 0)
		return ms;
	double f = 1 - jitter + 2 * jitter * ((double)random() / RAND_MAX);
	return (int64_t)(ms * f);
}

static void requeue(job *j)
{
	if (nrequeued == requeued_cap) {
		size_t cap = requeued_cap ? 2 * requeued_cap : 64;
		job **n = realloc(requeued, cap * sizeof *n);
		if (!n) {
			j->status = ST_FAILED;
			job_error(j, "out of memory");
			return;
		}
		requeued = n, requeued_cap = cap;
	}
	requeued[nrequeued++] = j;
}

/* What happened to one attempt of j on p: done, or another try later (here
 * or from the outbox), or the next provider, or failed. */
static void outcome(job *j, provider *p, enum outcome kind, const char *msg, int64_t retry_after)
{
	if (kind == OUT_OK) {
		j->status = p->type == P_SPOOL ? ST_SIMULATED : ST_SENT;
		j->suppress_reason = NULL; /* another provider's refusal was not the address */
		jrn_buf_reset(&j->error);
		if (j->channel == CH_SMS || j->channel == CH_WHATSAPP) {
			j->cost = j->segments * p->cost_per_segment;
			j->has_cost = true;
		}
		return;
	}
	jrn_buf_reset(&j->error);
	jrn_buf_addf(&j->error, "%s: %s", p->name, msg);
	if (kind == OUT_TRANSIENT && j->attempt <= nbackoff) {
		int64_t wait = retry_after >= 0 ? retry_after : jittered(backoff[j->attempt - 1]);
		if (wait <= max_wait) {
			j->ready = (outcome_clock ? outcome_clock : mono_ms()) + wait;
			requeue(j);
			if (opts.verbosity > 0)
				fprintf(stderr, "jrn-send: %s:%llu: %s; retrying in %lld ms\n", j->file,
					(unsigned long long)j->lineno, j->error.p, (long long)wait);
		} else {
			j->status = ST_QUEUED;
			j->send_at = jrn_now() + wait;
			if (opts.verbosity > 0)
				fprintf(stderr, "jrn-send: %s:%llu: %s; queued for jrn-send --due in %lld s\n",
					j->file, (unsigned long long)j->lineno, j->error.p,
					(long long)(wait / 1000));
		}
		return;
	}
	const chain *c = &chains[j->channel];
	if (j->prov + 1 < c->n) {
		if (opts.verbosity >= 0)
			fprintf(stderr, "jrn-send: %s:%llu: %s; trying %s\n", j->file,
				(unsigned long long)j->lineno, j->error.p, c->p[j->prov + 1]->name);
		j->prov++;
		j->attempt = 0;
		j->ready = 0;
		requeue(j);
		return;
	}
	j->status = ST_FAILED;
}

/* Twilio's error codes: which say the number will never work. */
static void twilio_error(job *j, long http, const jrn_buf *resp, enum outcome *kind, jrn_buf *msg)
{
	jv v = resp->p ? jv_parse_sized(resp->p, (int)resp->len) : jv_invalid();
	int code = 0;
	const char *text = NULL;
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv c = jv_object_get(jv_copy(v), jv_string("code"));
		if (jv_get_kind(c) == JV_KIND_NUMBER)
			code = (int)jv_number_value(c);
		jv_free(c);
		jv m = jv_object_get(jv_copy(v), jv_string("message"));
		if (jv_get_kind(m) == JV_KIND_STRING)
			jrn_buf_addf(msg, "HTTP %ld, Twilio error %d: %s", http, code, jv_string_value(m));
		jv_free(m);
		text = msg->p;
	}
	jv_free(v);
	if (!text)
		jrn_buf_addf(msg, "HTTP %ld", http);
	switch (code) {
	case 21211: /* invalid 'To' */
	case 21614: /* 'To' is not a mobile number */
	case 21612: /* cannot route to this number */
		*kind = OUT_PERMANENT;
		j->suppress_reason = "invalid";
		snprintf(j->suppress_source, sizeof j->suppress_source, "twilio:%d", code);
		return;
	case 21610: /* the recipient replied STOP */
		*kind = OUT_PERMANENT;
		j->suppress_reason = "unsubscribed";
		snprintf(j->suppress_source, sizeof j->suppress_source, "twilio:%d", code);
		return;
	case 20429: /* too many requests */
		*kind = OUT_TRANSIENT;
		return;
	}
	*kind = http == 408 || http == 425 || http == 429 || http >= 500 ? OUT_TRANSIENT : OUT_PERMANENT;
}

/* Retry-After (seconds or an HTTP date) in ms, or -1. */
static int64_t retry_after_ms(CURL *easy)
{
	struct curl_header *h;
	if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	const char *v = h->value;
	char *end;
	errno = 0;
	long long s = strtoll(v, &end, 10);
	/* a month at the most: a wait is added to the clock */
	if (end != v && !*end && !errno && s >= 0)
		return s > 30LL * 86400 ? 30LL * 86400 * 1000 : s * 1000;
	time_t t = curl_getdate(v, NULL);
	if (t == -1)
		return -1;
	/* the server's date is real time, whatever --now says */
	int64_t s2 = (int64_t)t - (int64_t)time(NULL);
	if (s2 > 30LL * 86400)
		s2 = 30LL * 86400;
	return s2 > 0 ? s2 * 1000 : 0;
}

static CURL *easy_get(void)
{
	if (easy_pool_n)
		return easy_pool[--easy_pool_n];
	return curl_easy_init();
}

static void easy_put(CURL *c)
{
	if (easy_pool_n == easy_pool_cap) {
		size_t cap = easy_pool_cap ? 2 * easy_pool_cap : 32;
		CURL **n = realloc(easy_pool, cap * sizeof *n);
		if (!n) {
			curl_easy_cleanup(c);
			return;
		}
		easy_pool = n, easy_pool_cap = cap;
	}
	curl_easy_reset(c);
	easy_pool[easy_pool_n++] = c;
}

static void xfer_free(xfer_full *x)
{
	if (!x)
		return;
	curl_slist_free_all(x->base.hdrs);
	curl_slist_free_all(x->base.rcpts);
	jrn_buf_free(&x->base.body);
	jrn_buf_free(&x->base.resp);
	free(x->base.jobs);
	free(x);
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

static int add_header(struct curl_slist **h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **h, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	struct curl_slist *n = curl_slist_append(*h, line);
	if (!n)
		return -1;
	*h = n;
	return 0;
}

/* Signs body for a webhook: X-Jrn-Timestamp and X-Jrn-Signature. */
static int sign(struct curl_slist **h, const char *secret, const char *body, size_t len)
{
	char ts[32], sig[65];
	snprintf(ts, sizeof ts, "%lld", (long long)(jrn_now() / 1000));
	jrn_buf msg = {0};
	jrn_buf_addf(&msg, "%s.", ts);
	jrn_buf_add(&msg, body, len);
	int rc = msg.p ? jrn_hmac_sha256_hex(secret, strlen(secret), msg.p, msg.len, sig) : -1;
	jrn_buf_free(&msg);
	if (rc < 0 || add_header(h, "X-Jrn-Timestamp: %s", ts) < 0 ||
	    add_header(h, "X-Jrn-Signature: sha256=%s", sig) < 0)
		return -1;
	return 0;
}

/* Starts the transfer of jobs[0..n) (n > 1 only for audience batches) on
 * p. 0, or -1 with the jobs' outcome already decided. */
static int xfer_start(provider *p, job **jobs, size_t n)
{
	xfer_full *x = calloc(1, sizeof *x);
	const char *why = "out of memory";
	if (!x || !(x->base.jobs = malloc(n * sizeof *jobs)))
		goto fail;
	memcpy(x->base.jobs, jobs, n * sizeof *jobs);
	x->base.njobs = n;
	x->base.p = p;
	CURL *c = x->base.easy = easy_get();
	if (!c)
		goto fail;
	job *j = jobs[0];
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms < 10000 ? p->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "jrn-send/" JRN_VERSION);
	if (p->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);

	if (p->type == P_SMTP) {
		char *env = addr_of(p->envelope_from ? p->envelope_from
						     : p->from ? p->from : mail_from ? mail_from : "jrn@localhost");
		char mf[600];
		snprintf(mf, sizeof mf, "<%s>", env ? env : "");
		free(env);
		if (add_header(&x->base.rcpts, "<%s>", j->to) < 0)
			goto fail;
		curl_easy_setopt(c, CURLOPT_URL, p->url);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		curl_easy_setopt(c, CURLOPT_USE_SSL, p->tls);
		curl_easy_setopt(c, CURLOPT_MAIL_FROM, mf);
		curl_easy_setopt(c, CURLOPT_MAIL_RCPT, x->base.rcpts);
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
	} else if (p->type == P_TWILIO) {
		jrn_buf *f = &x->base.body, to = {0}, from = {0};
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
		if (!f->p || add_header(&x->base.hdrs, "I-Twilio-Idempotency-Token: %s", j->keyhash) < 0 ||
		    add_header(&x->base.hdrs, "Accept: application/json") < 0 ||
		    add_header(&x->base.hdrs, "Content-Type: application/x-www-form-urlencoded") < 0)
			goto fail;
		curl_easy_setopt(c, CURLOPT_URL, p->endpoint);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, p->account_sid);
		curl_easy_setopt(c, CURLOPT_PASSWORD, p->auth_token);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->p);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->len);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->base.hdrs);
	} else {
		/* webhook, or an audience batch */
		const char *body = j->payload.p;
		size_t len = j->payload.len;
		if (p->type == P_RETARGETING) {
			jrn_buf *b = &x->base.body;
			char key[65];
			jrn_buf keys = {0};
			jrn_buf_adds(b, "{\"campaignId\":");
			jrn_json_append_str(b, j->campaign, strlen(j->campaign));
			jrn_buf_adds(b, ",\"members\":[");
			for (size_t i = 0; i < n; i++) {
				if (i)
					jrn_buf_addc(b, ',');
				audience_member(jobs[i], b, false);
				jrn_buf_adds(&keys, jobs[i]->keyhash);
			}
			jrn_buf_adds(b, "]}");
			int rc = keys.p ? jrn_sha256_hex(keys.p, keys.len, key) : -1;
			jrn_buf_free(&keys);
			if (!b->p || rc < 0 || add_header(&x->base.hdrs, "Idempotency-Key: %s", key) < 0)
				goto fail;
			body = b->p, len = b->len;
		} else if (add_header(&x->base.hdrs, "Idempotency-Key: %s", j->keyhash) < 0) {
			goto fail;
		}
		if (add_header(&x->base.hdrs, "Content-Type: application/json") < 0 ||
		    add_header(&x->base.hdrs, "Expect:") < 0 ||
		    (p->secret && sign(&x->base.hdrs, p->secret, body ? body : "", len) < 0))
			goto fail;
		curl_easy_setopt(c, CURLOPT_URL, p->url);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->base.hdrs);
	}
	if (curl_multi_add_handle(multi, c) != CURLM_OK) {
		why = "curl_multi_add_handle failed";
		goto fail;
	}
	p->in_flight++;
	for (size_t i = 0; i < n; i++) {
		jobs[i]->attempt++;
		jobs[i]->attempts++;
	}
	return 0;
fail:
	for (size_t i = 0; i < n; i++) {
		jobs[i]->attempt++;
		jobs[i]->attempts++;
		outcome(jobs[i], p, OUT_PERMANENT, why, -1);
	}
	if (x && x->base.easy)
		easy_put(x->base.easy);
	xfer_free(x);
	return -1;
}

/* A finished transfer: each of its jobs' outcome. */
static void xfer_done(CURL *c, CURLcode res)
{
	xfer_full *x = NULL;
	curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&x);
	provider *p = x->base.p;
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	enum outcome kind = OUT_OK;
	jrn_buf msg = {0};
	int64_t ra = -1;
	job *j = x->base.jobs[0];

	if (p->type == P_SMTP) {
		if (res != CURLE_OK) {
			const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(res);
			if (code >= 400 && x->reply[0])
				jrn_buf_addf(&msg, "%s (%s)", x->reply, detail);
			else
				jrn_buf_addf(&msg, "%s", detail);
			if (code >= 500)
				kind = OUT_PERMANENT;
			else if (code >= 400)
				kind = OUT_TRANSIENT;
			else
				kind = curl_permanent(res) ? OUT_PERMANENT : OUT_TRANSIENT;
			/* a recipient refused for good: a hard bounce, unless the
			 * enhanced code says it is not the mailbox (5.7.1 relay
			 * denied is the sender's problem, not the address's) */
			const char *enh = x->reply[0] ? x->reply + 3 : "";
			while (*enh == ' ' || *enh == '-')
				enh++;
			bool other = enh[0] == '5' && enh[1] == '.' && enh[2] != '1';
			if (code >= 550 && code <= 553 && !other && !strncmp(x->errbuf, "RCPT failed", 11)) {
				j->suppress_reason = "bounced";
				snprintf(j->suppress_source, sizeof j->suppress_source, "smtp:%ld", code);
			}
		}
	} else if (res != CURLE_OK) {
		jrn_buf_addf(&msg, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
		kind = curl_permanent(res) ? OUT_PERMANENT : OUT_TRANSIENT;
	} else if (code >= 200 && code < 300) {
		if (p->type == P_TWILIO && x->base.resp.p) {
			jv v = jv_parse_sized(x->base.resp.p, (int)x->base.resp.len);
			if (jv_get_kind(v) == JV_KIND_OBJECT) {
				jv sid = jv_object_get(jv_copy(v), jv_string("sid"));
				if (jv_get_kind(sid) == JV_KIND_STRING) {
					free(j->message_id);
					j->message_id = strdup(jv_string_value(sid));
				}
				jv_free(sid);
			}
			jv_free(v);
		} else if (p->type == P_WEBHOOK) {
			struct curl_header *h;
			if (curl_easy_header(c, "X-Request-Id", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
				free(j->message_id);
				j->message_id = strdup(h->value);
			}
		}
	} else if (p->type == P_TWILIO) {
		twilio_error(j, code, &x->base.resp, &kind, &msg);
		ra = code == 429 || code == 503 ? retry_after_ms(c) : -1;
	} else {
		jrn_buf_addf(&msg, "HTTP %ld", code);
		if (x->base.resp.p && x->base.resp.len) {
			size_t n = x->base.resp.len > 200 ? 200 : x->base.resp.len;
			jrn_buf_addf(&msg, ": %.*s", (int)n, x->base.resp.p);
			for (size_t i = 0; msg.p && i < msg.len; i++)
				if (msg.p[i] == '\n' || msg.p[i] == '\r')
					msg.p[i] = ' ';
		}
		kind = code == 408 || code == 425 || code == 429 || code >= 500 ? OUT_TRANSIENT
										 : OUT_PERMANENT;
		ra = code == 429 || code == 503 ? retry_after_ms(c) : -1;
	}
	if (kind == OUT_OK && p->type == P_SMTP && !j->message_id)
		j->message_id = NULL;
	if (x->base.njobs > 1) {
		/* one wait and one clock for the batch, so that it is tried
		 * again whole, under the same Idempotency-Key */
		outcome_clock = mono_ms();
		if (kind == OUT_TRANSIENT && ra < 0 && j->attempt <= nbackoff)
			ra = jittered(backoff[j->attempt - 1]);
	}
	for (size_t i = 0; i < x->base.njobs; i++)
		outcome(x->base.jobs[i], p, kind, msg.p ? msg.p : "", ra);
	outcome_clock = 0;
	jrn_buf_free(&msg);
	p->in_flight--;
	curl_multi_remove_handle(multi, c);
	easy_put(c);
	xfer_free(x);
}

/* Milliseconds until p's token bucket holds a token (0: take it now). */
static int64_t bucket_take(provider *p, int64_t now)
{
	if (p->rate <= 0)
		return 0;
	double cap = p->rate > 1 ? p->rate : 1;
	p->tokens += (double)(now - p->refilled) * p->rate / 1000.0;
	p->refilled = now;
	if (p->tokens > cap)
		p->tokens = cap;
	if (p->tokens >= 1) {
		p->tokens -= 1;
		return 0;
	}
	int64_t wait = (int64_t)ceil((1 - p->tokens) * 1000.0 / p->rate);
	return wait > 0 ? wait : 1;
}

/* Moves the jobs outcome() queued for another try to the end of the
 * pending queue (growing it and its twin, the keep array). */
static void take_requeued(job ***pend, job ***keep, size_t *npend)
{
	job **grown = realloc(*pend, (*npend + nrequeued) * sizeof **pend);
	if (grown)
		*pend = grown;
	job **grown2 = grown ? realloc(*keep, (*npend + nrequeued) * sizeof **keep) : NULL;
	if (grown2)
		*keep = grown2;
	if (!grown || !grown2) {
		for (size_t k = 0; k < nrequeued; k++) {
			requeued[k]->status = ST_FAILED;
			job_error(requeued[k], "out of memory");
		}
	} else {
		memcpy(*pend + *npend, requeued, nrequeued * sizeof **pend);
		*npend += nrequeued;
	}
	nrequeued = 0;
}

/* Sends every job of jobs[0..n) whose status is ST_NONE, through its
 * chain, until each has an outcome. */
static void send_all(job **jobs, size_t n)
{
	job **pend = malloc((n ? n : 1) * sizeof *pend), **keep = malloc((n ? n : 1) * sizeof *keep);
	size_t npend = 0;
	int in_flight = 0;
	if (!pend || !keep) {
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->status == ST_NONE) {
				jobs[i]->status = ST_FAILED;
				job_error(jobs[i], "out of memory");
			}
		free(pend);
		free(keep);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->status == ST_NONE)
			jobs[i]->ready = 0, pend[npend++] = jobs[i];

	while (npend || in_flight) {
		int64_t now = mono_ms(), next = INT64_MAX;
		size_t nkeep = 0;
		nrequeued = 0;
		for (size_t i = 0; i < npend; i++) {
			job *j = pend[i];
			if (!j) /* taken into an audience batch */
				continue;
			if (interrupted) {
				/* not started: back to the outbox, for --due */
				j->status = ST_QUEUED;
				j->send_at = jrn_now();
				job_error(j, "interrupted before sending");
				continue;
			}
			provider *p = chains[j->channel].p[j->prov];
			if (j->ready > now) {
				next = j->ready < next ? j->ready : next;
				keep[nkeep++] = j;
				continue;
			}
			if (p->type == P_SPOOL || (p->type == P_RETARGETING && p->dir)) {
				jrn_buf err = {0};
				j->attempt++;
				j->attempts++;
				if (send_local(j, p, &err) < 0)
					outcome(j, p, OUT_PERMANENT, err.p ? err.p : "out of memory", -1);
				else
					outcome(j, p, OUT_OK, NULL, -1);
				jrn_buf_free(&err);
				continue;
			}
			int64_t wait = 0;
			if (in_flight >= parallel || p->in_flight >= p->connections ||
			    (wait = bucket_take(p, now)) > 0) {
				if (wait > 0 && now + wait < next)
					next = now + wait;
				keep[nkeep++] = j;
				continue;
			}
			size_t nb = 1;
			job *batch_one[1] = {j}, **batch = batch_one;
			job **many = NULL;
			if (p->type == P_RETARGETING) {
				/* members of the same audience, up to batchSize */
				many = malloc((size_t)p->batch_size * sizeof *many);
				if (many) {
					many[0] = j;
					for (size_t k = i + 1; k < npend && nb < (size_t)p->batch_size; k++) {
						job *o = pend[k];
						if (o && o->ready <= now && o->channel == j->channel &&
						    chains[o->channel].p[o->prov] == p &&
						    !strcmp(o->campaign, j->campaign)) {
							many[nb++] = o;
							pend[k] = NULL;
						}
					}
					batch = many;
				}
			}
			if (xfer_start(p, batch, nb) == 0)
				in_flight++;
			free(many);
		}
		/* jobs to try again join the queue behind the waiting ones */
		memcpy(pend, keep, nkeep * sizeof *pend);
		npend = nkeep;
		if (nrequeued) {
			take_requeued(&pend, &keep, &npend);
			continue; /* a job may be ready at once (the next provider) */
		}
		if (!in_flight) {
			if (!npend)
				break;
			int64_t ms = next == INT64_MAX ? 10 : next - mono_ms();
			if (ms > 0) {
				struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
				nanosleep(&ts, NULL);
			}
			continue;
		}
		int running = 0;
		curl_multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		bool done_any = false;
		while ((m = curl_multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			xfer_done(m->easy_handle, m->data.result);
			in_flight--;
			done_any = true;
		}
		if (nrequeued)
			take_requeued(&pend, &keep, &npend);
		if (done_any)
			continue;
		int64_t ms = next == INT64_MAX ? 1000 : next - mono_ms();
		if (ms < 0)
			ms = 0;
		if (ms > 1000)
			ms = 1000;
		curl_multi_poll(multi, NULL, 0, (int)ms, NULL);
	}
	free(pend);
	free(keep);
}

/* ---- claim, record, write --------------------------------------------------- */

static bool chain_is_real(enum channel ch)
{
	for (int i = 0; i < chains[ch].n; i++)
		if (chains[ch].p[i]->type != P_SPOOL)
			return true;
	return false;
}

/* Why key is a duplicate, from the ledger. */
static void duplicate_reason(job *j)
{
	sqlite3_bind_text(st_status, 1, j->key, -1, SQLITE_STATIC);
	if (sqlite3_step(st_status) == SQLITE_ROW) {
		const char *st = (const char *)sqlite3_column_text(st_status, 0);
		const char *prov = (const char *)sqlite3_column_text(st_status, 1);
		const char *mid = (const char *)sqlite3_column_text(st_status, 2);
		if (st && !strcmp(st, "sending"))
			job_error(j, "claimed by a run that has not recorded an outcome "
				     "(in flight, or stuck: see jrn-send --stuck)");
		else if (st && !strcmp(st, "queued"))
			job_error(j, "queued in the outbox already");
		else
			job_error(j, "%s already%s%s%s%s", st ? st : "?", prov ? " by " : "",
				  prov ? prov : "", mid ? ", " : "", mid ? mid : "");
	}
	sqlite3_reset(st_status);
}

static int outbox_put(job *j, jrn_err *e)
{
	sqlite3_bind_text(st_outbox_put, 1, j->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st_outbox_put, 2, j->send_at);
	sqlite3_bind_int(st_outbox_put, 3, j->prov);
	sqlite3_bind_int(st_outbox_put, 4, j->attempt);
	sqlite3_bind_text(st_outbox_put, 5, j->text, (int)j->len, SQLITE_STATIC);
	return step_done(st_outbox_put, e);
}

/* Claims the key of every job about to be sent or queued, in one
 * transaction, before anything leaves. 0 or -1 with e. */
static int claim(job **jobs, size_t n, jrn_err *e)
{
	int64_t now = jrn_now();
	if (begin(e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		if (j->from_outbox) {
			/* --due: the outbox row is taken whatever becomes of it */
			sqlite3_bind_text(st_due_claim, 1, j->key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st_due_claim, 2, now);
			if (step_done(st_due_claim, e) < 0)
				goto fail;
			bool mine = sqlite3_changes(db) > 0;
			sqlite3_bind_text(st_outbox_del, 1, j->key, -1, SQLITE_STATIC);
			if (step_done(st_outbox_del, e) < 0)
				goto fail;
			if (!mine) {
				if (j->status == ST_NONE) {
					j->status = ST_DUPLICATE;
					duplicate_reason(j);
				}
				continue;
			}
			j->claimed = true;
			if (j->status == ST_QUEUED) /* not due after all */
				j->status = ST_NONE;
			continue;
		}
		if (j->resend) {
			/* taken over only if nobody else took it since it
			 * was read: two --resend runs cannot both send it */
			sqlite3_bind_text(st_restamp, 1, j->key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st_restamp, 2, now);
			sqlite3_bind_int64(st_restamp, 3, j->claimed_at);
			if (step_done(st_restamp, e) < 0)
				goto fail;
			if (sqlite3_changes(db) == 0) {
				if (j->status == ST_NONE) {
					j->status = ST_DUPLICATE;
					duplicate_reason(j);
				}
			} else {
				j->claimed = true;
			}
			continue;
		}
		if (j->status != ST_NONE && j->status != ST_QUEUED)
			continue;
		/* A channel that only spools is claimed and recorded in one
		 * write, the file written inside the transaction: a crash
		 * rolls the rows back, and the next run writes the same files
		 * again under the same names, so nothing is simulated twice. */
		provider *sp = chains[j->channel].p[0];
		bool spool_only = j->status == ST_NONE && chains[j->channel].n == 1 &&
				  sp->type == P_SPOOL;
		bool sms = j->channel == CH_SMS || j->channel == CH_WHATSAPP;
		double cost = sms ? j->segments * sp->cost_per_segment : 0;
		if (spool_only && !j->message_id && !(j->message_id = strndup(j->keyhash, 32))) {
			jrn_fail(e, "out of memory");
			goto fail;
		}
		sqlite3_bind_text(st_claim, 1, j->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_claim, 2, j->customer, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_claim, 3, channel_names[j->channel], -1, SQLITE_STATIC);
		sqlite3_bind_text(st_claim, 4, j->campaign, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_claim, 5, spool_only ? "simulated" : j->status == ST_QUEUED ? "queued"
							 : "sending", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st_claim, 6, now);
		sqlite3_bind_text(st_claim, 7, j->text, (int)j->len, SQLITE_STATIC);
		sqlite3_bind_int(st_claim, 8, chain_is_real(j->channel));
		sqlite3_bind_int(st_claim, 11, spool_only);
		if (spool_only) {
			sqlite3_bind_text(st_claim, 9, sp->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st_claim, 10, j->message_id, -1, SQLITE_STATIC);
			if (sms) {
				sqlite3_bind_double(st_claim, 12, cost);
				sqlite3_bind_int(st_claim, 13, j->segments);
			}
		}
		if (step_done(st_claim, e) < 0)
			goto fail;
		if (sqlite3_changes(db) == 0) {
			j->status = ST_DUPLICATE;
			duplicate_reason(j);
			for (size_t k = 0; k < i; k++)
				if (jobs[k]->inserted && !strcmp(jobs[k]->key, j->key)) {
					job_error(j, "the same key as %s:%llu", jobs[k]->file,
						  (unsigned long long)jobs[k]->lineno);
					break;
				}
			continue;
		}
		j->inserted = true;
		if (spool_only) {
			jrn_buf err = {0};
			j->attempt++;
			j->attempts++;
			if (send_local(j, sp, &err) < 0) {
				/* failed, in the same transaction: never a
				 * simulated row without its file */
				outcome(j, sp, OUT_PERMANENT, err.p ? err.p : "out of memory", -1);
				sqlite3_bind_text(st_record, 1, j->key, -1, SQLITE_STATIC);
				sqlite3_bind_text(st_record, 2, "failed", -1, SQLITE_STATIC);
				sqlite3_bind_text(st_record, 3, sp->name, -1, SQLITE_STATIC);
				sqlite3_bind_int(st_record, 5, j->attempts);
				if (j->error.p)
					sqlite3_bind_text(st_record, 6, j->error.p, (int)j->error.len,
							  SQLITE_STATIC);
				sqlite3_bind_int64(st_record, 9, now);
				jrn_buf_free(&err);
				if (step_done(st_record, e) < 0)
					goto fail;
			} else {
				j->status = ST_SIMULATED;
				j->cost = cost;
				j->has_cost = sms;
				jrn_buf_free(&err);
			}
			continue;
		}
		if (j->status == ST_QUEUED) {
			if (outbox_put(j, e) < 0)
				goto fail;
			continue; /* recorded as it is */
		}
		j->claimed = true;
	}
	return commit(e);
fail:
	rollback();
	return -1;
}

/* Records the outcome of every claimed job, in one transaction. */
static int record(job **jobs, size_t n, jrn_err *e)
{
	int64_t now = jrn_now();
	if (begin(e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		if (!j->claimed)
			continue;
		/* an outbox action may turn out suppressed or no longer
		 * render by the time it is due */
		const char *st = j->status == ST_SENT ? "sent" : j->status == ST_SIMULATED ? "simulated"
			       : j->status == ST_QUEUED ? "queued"
			       : j->status == ST_SUPPRESSED ? "suppressed"
			       : j->status == ST_REJECTED ? "rejected" : "failed";
		sqlite3_bind_text(st_record, 1, j->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st_record, 2, st, -1, SQLITE_STATIC);
		if (j->attempts)
			sqlite3_bind_text(st_record, 3, chains[j->channel].p[j->prov]->name, -1,
					  SQLITE_STATIC);
		if (j->message_id && (j->status == ST_SENT || j->status == ST_SIMULATED))
			sqlite3_bind_text(st_record, 4, j->message_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st_record, 5, j->attempts);
		if (j->error.p && j->status != ST_SENT && j->status != ST_SIMULATED)
			sqlite3_bind_text(st_record, 6, j->error.p, (int)j->error.len, SQLITE_STATIC);
		if (j->has_cost)
			sqlite3_bind_double(st_record, 7, j->cost);
		if (j->channel == CH_SMS || j->channel == CH_WHATSAPP)
			sqlite3_bind_int(st_record, 8, j->segments);
		sqlite3_bind_int64(st_record, 9, now);
		if (step_done(st_record, e) < 0)
			goto fail;
		if (j->status == ST_QUEUED && outbox_put(j, e) < 0)
			goto fail;
		if (j->suppress_reason && j->to) {
			sqlite3_bind_text(st_suppress_add, 1, j->to, -1, SQLITE_STATIC);
			sqlite3_bind_text(st_suppress_add, 2, channel_names[j->channel], -1, SQLITE_STATIC);
			sqlite3_bind_text(st_suppress_add, 3, j->suppress_reason, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st_suppress_add, 4, now);
			sqlite3_bind_text(st_suppress_add, 5, j->suppress_source, -1, SQLITE_STATIC);
			if (step_done(st_suppress_add, e) < 0)
				goto fail;
		}
	}
	return commit(e);
fail:
	rollback();
	return -1;
}

/* The delivery object of j, as JSON, onto b. */
static void delivery_json(const job *j, jrn_buf *b)
{
	char ts[32];
	jrn_buf_addf(b, "{\"status\":\"%s\"", status_names[j->status]);
	if (j->attempts && j->status != ST_DUPLICATE) {
		const char *pn = chains[j->channel].p[j->prov]->name;
		jrn_buf_adds(b, ",\"provider\":");
		jrn_json_append_str(b, pn, strlen(pn));
	}
	if (j->message_id && (j->status == ST_SENT || j->status == ST_SIMULATED)) {
		jrn_buf_adds(b, ",\"messageId\":");
		jrn_json_append_str(b, j->message_id, strlen(j->message_id));
	}
	jrn_buf_addf(b, ",\"attempts\":%d", j->attempts);
	if (j->error.p && j->error.len && j->status != ST_SENT && j->status != ST_SIMULATED) {
		jrn_buf_adds(b, ",\"error\":");
		jrn_json_append_str(b, j->error.p, j->error.len);
	}
	if (j->has_cost)
		jrn_buf_addf(b, ",\"cost\":%.10g", j->cost);
	if ((j->channel == CH_SMS || j->channel == CH_WHATSAPP) && j->segments)
		jrn_buf_addf(b, ",\"segments\":%d", j->segments);
	if (j->key) {
		jrn_buf_adds(b, ",\"key\":");
		jrn_json_append_str(b, j->key, strlen(j->key));
	}
	if (j->status == ST_QUEUED || (j->status == ST_DRYRUN && j->send_at)) {
		jrn_time_format(j->send_at, ts);
		jrn_buf_addf(b, ",\"sendAt\":\"%s\"", ts);
	}
	jrn_buf_addc(b, '}');
}

/* Writes text[0..len), a JSON object, to out with the value of its one
 * top-level member key replaced by val: 1 done, 0 when it cannot be done
 * that way (no such member, or twice, or an escaped key that might be it). */
static int replace_member(const char *text, size_t len, const char *key, const char *val,
			  size_t vlen, jrn_buf *out)
{
	jrn_json_index *ix = &emit_ix;
	jrn_err e;
	if (jrn_json_index_build(ix, text, len, 1, &e) < 0)
		return 0;
	const jrn_json_member *m = NULL;
	size_t klen = strlen(key);
	for (size_t i = 0; i < ix->n; i++) {
		if (ix->m[i].parent != -1)
			continue;
		if (ix->m[i].kescaped)
			return 0;
		if (ix->m[i].klen == klen && !memcmp(ix->m[i].key, key, klen)) {
			if (m)
				return 0;
			m = &ix->m[i];
		}
	}
	if (!m)
		return 0;
	const char *v0 = m->val, *v1 = m->val + m->vlen;
	if (m->kind == '"')
		v0--, v1++; /* the quotes */
	jrn_buf_reset(out);
	jrn_buf_add(out, text, (size_t)(v0 - text));
	jrn_buf_add(out, val, vlen);
	jrn_buf_add(out, v1, (size_t)(text + len - v1));
	return out->p ? 1 : 0;
}

/* Writes j with its delivery: the text as read with the member spliced in
 * before the closing brace, so everything else passes byte for byte. */
static int emit(job *j, jrn_buf *line, jrn_err *e)
{
	jrn_buf d = {0};
	delivery_json(j, &d);
	jrn_buf_reset(line);
	int rc = 0;
	if (!d.p) {
		rc = jrn_fail(e, "out of memory");
	} else if (!jv_object_has(jv_copy(j->rec), jv_string("delivery")) && memchr(j->text, '}', j->len)) {
		size_t end = j->len;
		while (end && j->text[end - 1] != '}')
			end--;
		bool empty = jv_object_length(jv_copy(j->rec)) == 0;
		jrn_buf_add(line, j->text, end - 1);
		if (!empty)
			jrn_buf_addc(line, ',');
		jrn_buf_adds(line, "\"delivery\":");
		jrn_buf_add(line, d.p, d.len);
		jrn_buf_addc(line, '}');
	} else if (replace_member(j->text, j->len, "delivery", d.p, d.len, line) == 1) {
		/* done: the old delivery replaced in place, the rest as read */
	} else {
		jv dv = jv_parse_sized(d.p, (int)d.len);
		if (jrn_json_append(line, jv_object_set(jv_copy(j->rec), jv_string("delivery"), dv), 0,
				    e) < 0)
			rc = -1;
	}
	jrn_buf_free(&d);
	if (rc == 0 && !line->p)
		rc = jrn_fail(e, "out of memory");
	if (rc == 0)
		jrn_out_line(&out, line->p, line->len);
	return rc;
}

static int unclaimed(job **jobs, size_t n, jrn_err *e);
static int write_batch(job **jobs, size_t n, int rc, jrn_err *e);

/* One batch: prepare, claim, send, record, write. 0, or -1 with e when the
 * state file failed (the batch's records are still written). */
static int process_batch(job **jobs, size_t n, jrn_err *e)
{
	int rc = 0;
	bool have_work = false;
	/* one read transaction for the batch's suppression and consent
	 * lookups, not a lock and an unlock each */
	if (begin_read(e) < 0)
		return unclaimed(jobs, n, e);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->status == ST_NONE && !jobs[i]->key)
			prepare(jobs[i]);
		if (jobs[i]->status == ST_NONE || jobs[i]->status == ST_QUEUED || jobs[i]->from_outbox ||
		    jobs[i]->resend)
			have_work = true;
	}
	if (!opts.dry_run && commit(e) < 0)
		return unclaimed(jobs, n, e);
	if (opts.dry_run) {
		for (size_t i = 0; i < n; i++) {
			job *j = jobs[i];
			if (j->status != ST_NONE && j->status != ST_QUEUED)
				continue;
			if (j->from_outbox || j->resend) { /* their ledger row is their claim */
				j->status = ST_DRYRUN;
				continue;
			}
			sqlite3_bind_text(st_status, 1, j->key, -1, SQLITE_STATIC);
			int found = sqlite3_step(st_status) == SQLITE_ROW;
			const char *st = found ? (const char *)sqlite3_column_text(st_status, 0) : NULL;
			bool dup = st && strcmp(st, "failed") && strcmp(st, "suppressed") &&
				   strcmp(st, "rejected") &&
				   !(strcmp(st, "simulated") == 0 && chain_is_real(j->channel));
			sqlite3_reset(st_status);
			if (dup) {
				j->status = ST_DUPLICATE;
				duplicate_reason(j);
			} else {
				j->status = ST_DRYRUN; /* sendAt stays when it was for later */
			}
		}
	} else if (have_work) {
		if (claim(jobs, n, e) < 0)
			return unclaimed(jobs, n, e);
		send_all(jobs, n);
		if (record(jobs, n, e) < 0) {
			char was[sizeof e->msg];
			memcpy(was, e->msg, sizeof was);
			jrn_fail(e, "%s; the batch's sends stay claimed: see jrn-send --stuck", was);
			rc = -1;
		}
	}
	if (opts.dry_run && commit(e) < 0)
		return unclaimed(jobs, n, e);
	return write_batch(jobs, n, rc, e);
}

/* The state file failed before the batch was claimed: nothing was sent;
 * each record still comes out, failed, and the rejects still go out. */
static int unclaimed(job **jobs, size_t n, jrn_err *e)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->status == ST_NONE || jobs[i]->status == ST_QUEUED) {
			jobs[i]->status = ST_FAILED;
			job_error(jobs[i], "not sent: %s", e->msg);
		}
	write_batch(jobs, n, -1, e);
	return -1;
}

/* Writes the batch's records, reports its rejects and failures. Returns
 * rc, or -1 when writing failed (e says why). */
static int write_batch(job **jobs, size_t n, int rc, jrn_err *e)
{
	jrn_buf line = {0};
	static bool rejects_broken; /* said once, not once a record */
	for (size_t i = 0; i < n; i++) {
		job *j = jobs[i];
		jrn_err we;
		counts[j->status]++;
		if (j->channel_known)
			channel_counts[j->channel]++;
		if (j->status == ST_REJECTED && !rejects_broken &&
		    jrn_reject(&rej, j->file, j->lineno, j->text, j->len,
			       j->error.p ? j->error.p : "rejected", &we) < 0) {
			rejects_broken = true;
			if (rc == 0)
				*e = we;
			rc = -1;
		}
		if (j->status == ST_FAILED && opts.verbosity >= 0)
			fprintf(stderr, "jrn-send: %s:%llu: %s to %s failed: %s\n", j->file,
				(unsigned long long)j->lineno, channel_names[j->channel],
				j->to ? j->to : j->campaign ? j->campaign : "?",
				j->error.p ? j->error.p : "");
		if (!j->bad_line && emit(j, &line, &we) < 0) {
			if (rc == 0)
				*e = we;
			rc = -1;
		}
	}
	jrn_buf_free(&line);
	jrn_out_flush(&out);
	return rc;
}

/* ---- the main loop ------------------------------------------------------- */

static job *job_new(const char *file, uint64_t lineno, const char *p, size_t len)
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

static void batch_free(job **jobs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		job_free(jobs[i]);
	*n = 0;
}

/* Jobs from ledger rows (--due, --stuck): the record text in column col. */
static job *job_from_row(sqlite3_stmt *st, int col, uint64_t rowno, jrn_err *e)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);
	job *j = job_new("state", rowno, text ? text : "{}", text ? len : 2);
	if (!j) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	jrn_err pe;
	j->rec = jrn_parse_object(&parser, j->text, j->len, &pe);
	if (!jv_is_valid(j->rec)) {
		jv_free(j->rec);
		j->rec = jv_object();
		j->status = ST_REJECTED;
		job_error(j, "stored record: %s", pe.msg);
	}
	return j;
}

/* --due: everything in the outbox whose time has come, batch by batch. */
static int run_due(job **jobs, jrn_err *e)
{
	uint64_t rowno = 0;
	for (;;) {
		size_t n = 0;
		sqlite3_bind_int64(st_due, 1, jrn_now());
		sqlite3_bind_int(st_due, 2, batch_size);
		/* a real run takes the rows it sends out of the outbox; a dry
		 * run leaves them, so it pages past them */
		sqlite3_bind_int64(st_due, 3, opts.dry_run ? (sqlite3_int64)rowno : 0);
		int rc;
		while ((rc = sqlite3_step(st_due)) == SQLITE_ROW) {
			job *j = job_from_row(st_due, 3, ++rowno, e);
			if (!j) {
				sqlite3_reset(st_due);
				batch_free(jobs, &n);
				return -1;
			}
			const char *key = (const char *)sqlite3_column_text(st_due, 0);
			j->from_outbox = true;
			j->prov = sqlite3_column_int(st_due, 1);
			j->attempt = sqlite3_column_int(st_due, 2);
			jobs[n++] = j;
			if (j->status == ST_NONE) {
				prepare(j);
				if (j->prov >= chains[j->channel].n)
					j->prov = 0, j->attempt = 0;
			}
			/* the key it was queued under, whatever the record says now */
			free(j->key);
			j->key = strdup(key ? key : "");
			if (!j->key || jrn_sha256_hex(j->key, strlen(j->key), j->keyhash) < 0) {
				sqlite3_reset(st_due);
				batch_free(jobs, &n);
				return jrn_fail(e, "out of memory");
			}
		}
		sqlite3_reset(st_due);
		if (rc != SQLITE_DONE) {
			batch_free(jobs, &n);
			return jrn_fail(e, "%s: %s", opts.db_path, sqlite3_errmsg(db));
		}
		if (n == 0)
			return 0;
		rc = process_batch(jobs, n, e);
		batch_free(jobs, &n);
		if (rc < 0 || out.err || interrupted)
			return rc;
	}
}

/* --stuck: the claims nobody recorded; with --resend, sent again. The rows
 * are read whole first: sending changes the rows the query walks. */
static int run_stuck(bool resend, job **jobs, jrn_err *e)
{
	if (!resend)
		warned_unsub = true; /* nothing goes out: no note about what would */
	job **all = NULL;
	size_t nall = 0, cap = 0;
	uint64_t rowno = 0;
	int rc;
	while ((rc = sqlite3_step(st_stuck)) == SQLITE_ROW) {
		if (nall == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			job **grown = realloc(all, ncap * sizeof *grown);
			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			all = grown, cap = ncap;
		}
		job *j = job_from_row(st_stuck, 1, ++rowno, e);
		if (!j) {
			rc = SQLITE_NOMEM;
			break;
		}
		all[nall++] = j;
		const char *key = (const char *)sqlite3_column_text(st_stuck, 0);
		const char *prov = (const char *)sqlite3_column_text(st_stuck, 2);
		if (j->status == ST_NONE)
			prepare(j);
		free(j->key);
		j->key = strdup(key ? key : "");
		j->stuck_provider = prov ? strdup(prov) : NULL;
		j->attempts = sqlite3_column_int(st_stuck, 3);
		j->claimed_at = sqlite3_column_int64(st_stuck, 4);
		if (!j->key || jrn_sha256_hex(j->key, strlen(j->key), j->keyhash) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_reset(st_stuck);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < nall; i++)
			job_free(all[i]);
		free(all);
		return jrn_fail(e, "%s: %s", opts.db_path,
				rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db));
	}
	jrn_buf line = {0};
	size_t n = 0;
	int status = 0;
	for (size_t i = 0; i < nall; i++) {
		job *j = all[i];
		all[i] = NULL;
		if (resend) {
			/* one that cannot go out now (no longer renders,
			 * suppressed since) is recorded failed, which frees
			 * its key, rather than listed as stuck for ever */
			j->attempts = 0;
			j->resend = true;
			jobs[n++] = j;
			if (n == (size_t)batch_size) {
				if (process_batch(jobs, n, e) < 0)
					status = -1;
				batch_free(jobs, &n);
				if (status < 0 || out.err || interrupted) {
					for (size_t k = i + 1; k < nall; k++)
						job_free(all[k]);
					break;
				}
			}
			continue;
		}
		/* listed as it is: {"status":"stuck", provider, attempts, key, claimedAt} */
		char ts[32];
		jrn_time_format(j->claimed_at, ts);
		jrn_buf d = {0};
		jrn_buf_adds(&d, "{\"status\":\"stuck\"");
		if (j->stuck_provider) {
			jrn_buf_adds(&d, ",\"provider\":");
			jrn_json_append_str(&d, j->stuck_provider, strlen(j->stuck_provider));
		}
		jrn_buf_addf(&d, ",\"attempts\":%d,\"key\":", j->attempts);
		jrn_json_append_str(&d, j->key, strlen(j->key));
		if (j->status == ST_REJECTED && j->error.p) {
			jrn_buf_adds(&d, ",\"error\":");
			jrn_json_append_str(&d, j->error.p, j->error.len);
		}
		jrn_buf_addf(&d, ",\"claimedAt\":\"%s\"}", ts);
		jv dv = d.p ? jv_parse_sized(d.p, (int)d.len) : jv_invalid();
		jrn_buf_reset(&line);
		if (jv_is_valid(dv) &&
		    jrn_json_append(&line, jv_object_set(jv_copy(j->rec), jv_string("delivery"), dv), 0,
				    e) == 0)
			jrn_out_line(&out, line.p, line.len);
		else
			jv_free(dv);
		jrn_buf_free(&d);
		counts[ST_STUCK]++;
		job_free(j);
	}
	free(all);
	jrn_buf_free(&line);
	if (n && process_batch(jobs, n, e) < 0)
		status = -1;
	batch_free(jobs, &n);
	return status;
}

static int parse_count(const char *flag, const char *s, int max, int *out_v)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || end == s || errno || v < 1 || v > max) {
		fprintf(stderr, "jrn-send: %s: '%s' is not a number from 1 to %d\n", flag, s, max);
		return -1;
	}
	*out_v = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	jrn_err e;
	int c, status = JRN_EXIT_OK;
	const char *spool_flag = NULL, *parallel_flag = NULL, *batch_flag = NULL;
	bool due = false, stuck = false, resend = false, failed = false;
	job **jobs = NULL;
	size_t n = 0;

	signal(SIGPIPE, SIG_IGN);
	jrn_opts_init(&opts, "jrn-send");
	while ((c = getopt_long(argc, argv, JRN_COMMON_SHORT, longopts, NULL)) != -1) {
		if (jrn_opts_take(&opts, c, optarg))
			continue;
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			jrn_opts_free(&opts);
			return JRN_EXIT_OK;
		case JRN_OPT_VERSION:
			puts("jrn-send " JRN_VERSION);
			jrn_opts_free(&opts);
			return JRN_EXIT_OK;
		case OPT_SPOOL: spool_flag = optarg; break;
		case OPT_PARALLEL: parallel_flag = optarg; break;
		case OPT_BATCH: batch_flag = optarg; break;
		case OPT_DUE: due = true; break;
		case OPT_STUCK: stuck = true; break;
		case OPT_RESEND: resend = true; break;
		default:
			fputs("Try 'jrn-send --help'.\n", stderr);
			jrn_opts_free(&opts);
			return JRN_EXIT_USAGE;
		}
	}
	const char *conflict = due && stuck ? "--due and --stuck go separately"
			       : resend && !stuck ? "--resend goes with --stuck"
			       : (due || stuck) && optind < argc ? "--due and --stuck take no FILEs"
			       : spool_flag && !*spool_flag ? "--spool: empty directory name"
			       : NULL;
	if (conflict) {
		fprintf(stderr, "jrn-send: %s\n", conflict);
		jrn_opts_free(&opts);
		return JRN_EXIT_USAGE;
	}
	if (jrn_opts_resolve(&opts, &e) < 0) {
		status = die("%s", e.msg);
		goto done_opts;
	}
	if (load_config(spool_flag, &e) < 0) {
		status = die("%s", e.msg);
		goto done_config;
	}
	if ((parallel_flag && parse_count("--parallel", parallel_flag, 4096, &parallel) < 0) ||
	    (batch_flag && parse_count("--batch-size", batch_flag, 1000000, &batch_size) < 0)) {
		status = JRN_EXIT_USAGE;
		goto done_config;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(multi = curl_multi_init())) {
		status = die("%s", "cannot start libcurl");
		goto done_config;
	}
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)parallel * 2);
	srandom((unsigned)(getpid() ^ time(NULL)));
	if (open_ledger(&e) < 0) {
		status = die("%s", e.msg);
		goto done_curl;
	}
	if (jrn_rejects_open(&rej, "jrn-send", opts.rejects_path, opts.verbosity < 0, &e) < 0) {
		status = die("--rejects %s", e.msg);
		goto done_db;
	}
	if (!(jobs = malloc((size_t)batch_size * sizeof *jobs))) {
		status = die("%s", "out of memory");
		goto done_rejects;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	jrn_out_init(&out, STDOUT_FILENO);

	if (due) {
		if (run_due(jobs, &e) < 0) {
			fprintf(stderr, "jrn-send: %s\n", e.msg);
			failed = true;
		}
	} else if (stuck) {
		if (run_stuck(resend, jobs, &e) < 0) {
			fprintf(stderr, "jrn-send: %s\n", e.msg);
			failed = true;
		}
	} else {
		jrn_reader *rd = jrn_reader_new(argv + optind, argc - optind);
		if (!rd) {
			status = die("%s", "out of memory");
			goto done_out;
		}
		jrn_reader_idle_notice(rd, true);
		jrn_reader_stop_on(rd, &interrupted);
		jrn_line ln;
		int rc;
		while (!failed && !out.err && !interrupted && (rc = jrn_reader_next(rd, &ln, &e)) != 0) {
			if (rc < 0) {
				fprintf(stderr, "jrn-send: %s\n", e.msg);
				status = JRN_EXIT_FAIL;
				continue;
			}
			if (rc == 1) {
				jrn_err why;
				jv rec = jrn_parse_object(&parser, ln.p, ln.len, &why);
				job *j = job_new(ln.file, ln.lineno, ln.p, ln.len);
				if (!j) {
					jv_free(rec);
					fprintf(stderr, "jrn-send: out of memory\n");
					failed = true;
					break;
				}
				if (jv_is_valid(rec)) {
					j->rec = rec;
				} else {
					/* rejected in its turn, so --rejects keeps input order */
					jv_free(rec);
					j->rec = jv_object();
					j->bad_line = true;
					j->status = ST_REJECTED;
					job_error(j, "%s", why.msg);
				}
				jobs[n++] = j;
			}
			if (n && (n == (size_t)batch_size || rc == 2)) {
				if (process_batch(jobs, n, &e) < 0) {
					fprintf(stderr, "jrn-send: %s\n", e.msg);
					failed = true;
				}
				batch_free(jobs, &n);
			}
		}
		if (n && !failed) {
			if (process_batch(jobs, n, &e) < 0) {
				fprintf(stderr, "jrn-send: %s\n", e.msg);
				failed = true;
			}
		}
		batch_free(jobs, &n);
		jrn_reader_free(rd);
	}

done_out:;
	bool pipe_closed = out.err == EPIPE;
	if (jrn_out_close(&out) < 0 && !pipe_closed && out.err != 0) {
		fprintf(stderr, "jrn-send: writing output: %s\n", strerror(out.err));
		status = JRN_EXIT_FAIL;
	}
	if (interrupted && opts.verbosity >= 0)
		fputs("jrn-send: interrupted: actions not yet sent are queued for jrn-send --due;"
		      " input not yet read was not claimed\n", stderr);
	if (failed || counts[ST_FAILED] > 0)
		status = JRN_EXIT_FAIL;
	if (status == JRN_EXIT_OK && (rej.count > 0))
		status = JRN_EXIT_REJECTS;
	if (opts.verbosity >= 0 && !pipe_closed) {
		/* one line: the five that matter always, the others when seen */
		static const enum status always[] = {ST_SENT, ST_DUPLICATE, ST_QUEUED, ST_FAILED,
						     ST_REJECTED};
		jrn_buf s = {0};
		for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
			jrn_buf_addf(&s, "%s%llu %s", i ? ", " : "",
				     (unsigned long long)(always[i] == ST_REJECTED ? rej.count
										   : counts[always[i]]),
				     status_names[always[i]]);
		for (int i = 1; i < NSTATUS; i++)
			if (counts[i] && i != ST_SENT && i != ST_DUPLICATE && i != ST_QUEUED &&
			    i != ST_FAILED && i != ST_REJECTED)
				jrn_buf_addf(&s, ", %llu %s", (unsigned long long)counts[i], status_names[i]);
		const char *sep = " (";
		for (int c = 0; c < NCHANNELS; c++)
			if (channel_counts[c]) {
				jrn_buf_addf(&s, "%s%s %llu", sep, channel_names[c],
					     (unsigned long long)channel_counts[c]);
				sep = ", ";
			}
		if (*sep == ',')
			jrn_buf_addc(&s, ')');
		fprintf(stderr, "jrn-send: %s\n", s.p ? s.p : "");
		jrn_buf_free(&s);
	}
	if (parser)
		jv_parser_free(parser);
	jrn_json_index_free(&emit_ix);
	free(jobs);
done_rejects:
	if (jrn_rejects_close(&rej, &e) < 0)
		status = die("%s", e.msg);
done_db:
	close_ledger();
done_curl:
	for (size_t i = 0; i < easy_pool_n; i++)
		curl_easy_cleanup(easy_pool[i]);
	free(easy_pool);
	free(requeued);
	if (multi)
		curl_multi_cleanup(multi);
	curl_global_cleanup();
done_config:
	for (int i = 0; i < nproviders; i++)
		provider_free(providers[i]);
	templates_free();
	free(mail_from), free(reply_to), free(unsub_mailto), free(unsub_url), free(unsub_secret);
	free(from_domain), free(templates_dir), free(default_locale), free(default_region);
	free(spool_dir);
done_opts:
	jrn_opts_free(&opts);
	if (interrupted) {
		/* cleaned up: now die of the signal, so the caller sees it */
		signal((int)interrupted, SIG_DFL);
		raise((int)interrupted);
	}
	return status;
}
