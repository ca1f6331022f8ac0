/*
 * jrn-send.h: what the parts of jrn-send share. Private to cmd/jrn-send/.
 *
 * jrn-send delivers action records by email (SMTP), SMS and WhatsApp
 * (Twilio), signed webhooks and hashed retargeting audiences, or into a
 * spool directory, and writes each record back with `delivery` added.
 *
 * Every send goes claim -> send -> record through the deliveries ledger
 * (lib/ledger.h). Records are read in batches; a batch's transfers run
 * together through libcurl's multi interface (connections reused), with
 * retries, backoff, token-bucket rates and a fallback chain per channel.
 *
 * The parts:
 *   main.c      usage, options, the three modes (input, --due, --stuck)
 *   config.c    the configuration: settings and a fallback chain per channel
 *   template.c  Mustache templates and partials per locale
 *   prepare.c   a job per record: channel, key, recipient, content
 *   reach.c     consent and suppression lookups, the suppression write
 *   batch.c     one batch: prepare, claim, send, record, write (the ledger)
 *   transfer.c  the transfer loop: curl multi, retries, backoff, buckets
 *   http.c      HTTP helpers shared by the HTTP providers
 *   output.c    each record with its delivery, and the summary line
 *   providers.c the table of provider types
 *   smtp.c twilio.c webhook.c retargeting.c spool.c: one file per type
 *   tracking.c  send.tracking: tracked links, open pixel, unsubscribe link
 *
 * The run's state is one send_ctx, made by main() and handed to every
 * part; nothing else is global but the signal flag.
 */
#ifndef JRN_SEND_H
#define JRN_SEND_H

#include <signal.h>

#include <curl/curl.h>

#include "http.h"
#include "jrn.h"
#include "ledger.h"
#include "mustache.h"

/* ---- channels, providers, jobs ---------------------------------------------- */

enum channel { CH_EMAIL, CH_SMS, CH_WHATSAPP, CH_WEBHOOK, CH_RETARGETING, NCHANNELS };
extern const char *const channel_names[NCHANNELS];

enum status {
	ST_NONE,       /* still to send */
	ST_SENT, ST_SIMULATED, ST_DUPLICATE, ST_QUEUED, ST_FAILED, ST_REJECTED,
	ST_SUPPRESSED, ST_DEFERRED, ST_DRYRUN, ST_STUCK,
	ST_PASSED,     /* an event (a string "type", or a "state" object, and no
			* actionType or channel): written out as read */
	NSTATUS,
};
extern const char *const status_names[NSTATUS];

/* What one attempt came to. */
enum outcome { OUT_OK, OUT_TRANSIENT, OUT_PERMANENT };

typedef struct send_ctx send_ctx;
typedef struct provider provider;
typedef struct job job;
typedef struct xfer xfer;

/* A provider type: one file each (smtp.c, twilio.c, ...), one row of the
 * table in providers.c. The transfer loop calls these and never names a
 * type. */
typedef struct provider_ops {
	const char *type;   /* its name in the configuration: type: smtp */
	/* Reads what the type needs beyond the common keys (read by
	 * config.c) from the config entry pc (borrowed) and checks it; sets
	 * p->local when it sends without the network. where names the entry
	 * for messages. 0, or -1 with e. */
	int (*load)(send_ctx *S, provider *p, jv pc, const char *where, jrn_err *e);
	/* Sends j without the network (p->local). 0, or -1 with the reason
	 * appended to err. */
	int (*send_local)(send_ctx *S, job *j, provider *p, jrn_buf *err);
	/* Sets up the curl handle c of x (x->jobs[0..x->njobs) on x->p): URL,
	 * authentication, body, headers. 0, or -1 (out of memory). */
	int (*start)(send_ctx *S, xfer *x, CURL *c);
	/* The outcome of a finished transfer: res and the response code
	 * (HTTP status or SMTP reply) in; *kind, the message for failures
	 * (msg), a Retry-After wait (*retry_ms, -1 none) out; may set the
	 * jobs' message ids and suppression reasons. */
	void (*done)(xfer *x, CURL *c, CURLcode res, long code, enum outcome *kind, jrn_buf *msg,
		     int64_t *retry_ms);
	/* Whether b may ride in the same transfer as a (NULL: one job a
	 * transfer); such a batch is limited to p->batch_size jobs. */
	bool (*same_batch)(const job *a, const job *b);
	bool simulates;     /* delivers nothing: a success is 'simulated' */
} provider_ops;

/* The table (providers.c): the type named type, or NULL. */
const provider_ops *provider_type(const char *type);
/* The types' names for messages: "smtp, twilio, webhook, retargeting or spool". */
extern const char provider_type_names[];
extern const provider_ops spool_ops; /* the fallback of every channel */

struct provider {
	const provider_ops *ops;
	char *name;
	/* from the configuration (owned) */
	char *url, *ca_file, *username, *password, *bearer, *from, *envelope_from;
	char *account_sid, *auth_token, *msid, *status_callback, *footer, *secret, *dir;
	/* what messages show for from: the value, or the text as written
	 * when it came from ${NAME} (jrn_config_shown; borrowed from the
	 * configuration or from). (name is itself as shown: it goes into
	 * records and the ledger.) */
	const char *from_shown;
	long tls; /* CURLUSESSL_ALL, _TRY or _NONE */
	double rate, cost_per_segment;
	int connections, max_segments, batch_size;
	long timeout_ms;
	bool local;     /* sends without the network (ops->send_local) */
	/* run state */
	double tokens;
	int64_t refilled; /* monotonic ms */
	int in_flight;
	int dirfd;      /* spool: its directory, once opened */
	char *endpoint; /* twilio: the Messages.json URL */
};

typedef struct {
	provider *p[8];
	int n;
} chain;

/* One action record on its way through. */
struct job {
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
	bool route_duplicate;    /* route.reason "duplicate": the key's row, if any, stands */
	int64_t claimed_at;      /* --stuck: the claim as read, to take it over */
	bool bad_line;           /* not a JSON object: to --rejects only, not stdout */
	char *stuck_provider;    /* --stuck: the provider of the unrecorded attempt */
	const char *suppress_reason; /* the provider said: never again */
	char suppress_source[40];
};

/* One transfer in flight: one job, or a batch of audience members. */
struct xfer {
	provider *p;
	job **jobs;
	size_t njobs;
	CURL *easy;
	struct curl_slist *hdrs, *rcpts;
	jrn_buf body, resp;
	size_t sent_off;
	char errbuf[CURL_ERROR_SIZE];
	char reply[256]; /* SMTP: the server's last reply line, for errors */
	const char *up;  /* an upload (SMTP) */
	size_t up_len;
};

/* ---- the run's state ---------------------------------------------------------- */

/* The default idempotency window: a day, whose key part is the UTC date. */
#define SEND_WINDOW_DAY INT64_C(86400000)

/* What the configuration and the flags decide (config.c). */
typedef struct {
	int parallel, batch_size;
	int64_t backoff[16];
	int nbackoff;
	double jitter;
	int64_t max_wait;
	int default_max_segments;
	char *mail_from, *reply_to, *unsub_mailto, *unsub_url, *unsub_secret;
	/* send.from and send.unsubscribe.url as messages show them: never a
	 * value that came from ${NAME} (jrn_config_shown) */
	const char *mail_from_shown, *unsub_url_shown;
	bool unsub_one_click;  /* unsub_url is https: List-Unsubscribe-Post (RFC 8058) */
	/* send.tracking (tracking.c): the listener's base URL (no trailing
	 * '/') and the tokens' secret, or NULL; the URL as messages show it */
	char *track_url, *track_secret;
	const char *track_url_shown;
	/* send.idempotency.window: derived keys are per window of this many
	 * ms counted from the epoch (SEND_WINDOW_DAY: the UTC day); 0 for
	 * "campaign", no window at all */
	int64_t key_window;
	char *from_domain;
	char *templates_dir, *default_locale, *default_region;
	char *spool_dir;
	bool spool_forced;
	chain chains[NCHANNELS];
	provider *providers[64];
	int nproviders;
	provider *spool_provider;
} send_conf;

/* Compiled templates and partial sets (template.c). */
typedef struct {
	struct tmpl_entry *cache;
	size_t n, cap;
	struct partial_file *files;
	size_t nfiles;
	bool scanned;
	struct partial_set *sets;
	size_t nsets;
} send_templates;

/* The transfer loop's state (transfer.c). */
typedef struct {
	CURLM *multi;
	CURL **pool;
	size_t npool, pool_cap;
	job **requeued;
	size_t nrequeued, requeued_cap;
	/* The members of one audience batch retry together: one clock
	 * reading for all their outcomes (0: read the clock). */
	int64_t outcome_clock;
} send_transfer;

struct send_ctx {
	jrn_opts opts;
	send_conf cf;
	send_templates tm;
	send_transfer tx;
	sqlite3 *db;
	jrn_ledger *ledger;
	struct jrn_reach *reach;  /* reach.c: consent and suppressions (lib/reach) */
	struct jrn_profile_reader *profiles; /* prepare.c: stored contact fields
					      * (lib/profile-read), opened on first use */
	jrn_out out;
	jrn_rejects rej;
	jv_parser *parser;
	jrn_json_index emit_ix; /* replace_member's, reused */
	bool warned_unsub;      /* the -v note on mail without List-Unsubscribe, said */
	bool warned_one_click;  /* the warning on an http unsubscribe URL, said */
	bool rejects_broken;    /* said once, not once a record */
	bool trace;             /* --trace: a line per retry and per job queued by one */
	uint64_t counts[NSTATUS], channel_counts[NCHANNELS];
};

/* Set by SIGINT and SIGTERM: stop reading, queue what was not sent. */
extern volatile sig_atomic_t send_interrupted;

/* ---- config.c ------------------------------------------------------------------ */

/* Sets S->cf from S->opts.config and the --spool flag (NULL: none): the
 * send settings, the providers and the chain of every channel. 0 or -1
 * with e. */
int config_load(send_ctx *S, const char *spool_flag, jrn_err *e);
/* Frees what config_load made. */
void config_free(send_ctx *S);
/* A string of the config entry obj (borrowed) at dotted, copied, or NULL. */
char *cfg_str(jv obj, const char *dotted);
/* A path from the config, relative to the config file's directory; copied. */
char *cfg_path(send_ctx *S, const char *s);
/* The provider in use for j: its chain's p[j->prov]. */
static inline provider *job_provider(send_ctx *S, const job *j)
{
	return S->cf.chains[j->channel].p[j->prov];
}
/* Does ch's chain hold a provider that really delivers? */
bool chain_is_real(send_ctx *S, enum channel ch);

/* ---- template.c ----------------------------------------------------------------- */

/* The locales to try for rec (borrowed), best first, as "de-AT\nde\n\n"
 * into b ("" = no locale). */
void locale_chain(send_ctx *S, jv rec, jrn_buf *b);
/* Renders template name's PART (strictly) with data (borrowed) into out,
 * for the locale chain. 1 rendered, 0 no such template, -1 error in e (a
 * missing variable names itself). */
int render_part(send_ctx *S, const char *name, const char *part, jv data, const char *chain,
		jrn_buf *out, jrn_err *e);
/* Frees the compiled templates and partials. */
void templates_free(send_ctx *S);
/* Reads the file at path whole into b: 0, 1 no such file, -1 with e. */
int read_whole(const char *path, jrn_buf *b, jrn_err *e);

/* ---- prepare.c ------------------------------------------------------------------- */

/* A job for the line p[0..len) of file (borrowed) at lineno, its record
 * not parsed yet (jv_invalid); NULL when out of memory. */
job *job_new(const char *file, uint64_t lineno, const char *p, size_t len);
/* Frees j and all it owns; NULL is fine. */
void job_free(job *j);
/* Sets j's error message (replacing any). */
void job_error(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string at a dotted path of rec (borrowed; so is the result), or NULL;
 * numbers are turned into their text in tmp (NULL: strings only). */
const char *rec_str(jv rec, const char *dotted, char tmp[32]);
/* Decides what j is and builds what it sends. Sets j->status when the job
 * goes no further (rejected, deferred, suppressed, queued for later). */
void prepare(send_ctx *S, job *j);
/* The window part of a derived idempotency key into out: for window ms
 * (send_conf.key_window) and the clock now, the start of the window
 * holding now, windows counted from 1970-01-01T00:00:00Z ("2025-12-08T00:
 * 00:00.000Z/2592000000"), or the UTC date alone for SEND_WINDOW_DAY
 * ("2026-01-01"); "campaign" for window 0 (no window). */
void key_window(int64_t window, int64_t now, char out[64]);
/* The derived idempotency key of the n fields f[i][0..len[i]) (customer,
 * campaign, channel, template, window) into out[65]: the hex SHA-256 of
 * the fields joined by U+001F, as every version of jrn-send has made it.
 * The join is injective, so no two different field lists meet: a field
 * holding U+001F or NUL is refused here (-1), and prepare rejects such ids
 * before (jrn_id_check). 0, or -1 (such a field, or OpenSSL failed). */
int derive_key(const char *const *f, const size_t *len, int n, char out[65]);

/* ---- reach.c -------------------------------------------------------------------- */

/* Opens lib/reach over S->db (S->reach). 0 or -1 with e. */
int reach_open(send_ctx *S, jrn_err *e);
/* Closes it (S->db stays open). */
void reach_close(send_ctx *S);
/* May j go (jrn_reach_may: j's address on j's channel, j's customer's
 * consent, for a marketing or a transactional message)? NULL, or the
 * reason it may not in why; *broken when the state file could not say
 * (then nothing may be sent). */
const char *reach_blocked(send_ctx *S, const job *j, bool marketing, char why[128], bool *broken);
/* Suppresses address on channel for reason (from source), at now; an
 * existing suppression stays. 0 or -1 with SQLite's message in e. */
int reach_suppress(send_ctx *S, const char *address, const char *channel, const char *reason,
		   const char *source, int64_t now, jrn_err *e);

/* ---- batch.c -------------------------------------------------------------------- */

/* Opens the state file, the ledger and the reach statements. 0 or -1 with
 * e (naming the file). */
int ledger_open(send_ctx *S, jrn_err *e);
/* Closes what ledger_open opened, whatever it got to. */
void ledger_close(send_ctx *S);
/* Puts the state file's name before the message in e; returns -1. */
int db_fail(send_ctx *S, jrn_err *e);
/* One batch: prepare, claim, send, record, write. 0, or -1 with e when the
 * state file failed (the batch's records are still written). */
int process_batch(send_ctx *S, job **jobs, size_t n, jrn_err *e);
/* A job from a ledger row (--due, --stuck): the record text[0..len). NULL
 * with e when out of memory. */
job *job_from_row(send_ctx *S, const char *text, size_t len, uint64_t rowno, jrn_err *e);

/* ---- transfer.c ------------------------------------------------------------------ */

/* Starts libcurl and the multi handle (connections kept: twice
 * cf.parallel). 0 or -1. */
int transfer_init(send_ctx *S);
/* Frees the handles and libcurl's global state. */
void transfer_free(send_ctx *S);
/* Sends every job of jobs[0..n) whose status is ST_NONE, through its
 * chain, until each has an outcome. */
void send_all(send_ctx *S, job **jobs, size_t n);
/* What happened to one attempt of j on p: done, or another try later (here
 * or from the outbox), or the next provider, or failed. */
void outcome(send_ctx *S, job *j, provider *p, enum outcome kind, const char *msg,
	     int64_t retry_after);

/* ---- http.c ---------------------------------------------------------------------- */

/* Permanent curl errors: retrying cannot help (a configuration problem). */
bool curl_permanent(CURLcode rc);
/* What an HTTP status says: 2xx OK; 408, 425, 429, 5xx transient; others
 * permanent. */
enum outcome http_status_outcome(long code);
/* The outcome of an HTTP transfer by curl result and status, the message
 * ("HTTP 500: <up to 200 bytes of body>" or curl's) appended to msg. */
enum outcome http_outcome(CURLcode res, long code, const char *errbuf, const jrn_buf *resp,
			  jrn_buf *msg);
/* Retry-After (seconds or an HTTP date) of the response in ms, at most 30
 * days, or -1. */
int64_t retry_after_ms(CURL *easy);
/* Appends a header line to *h: 0 or -1 (out of memory); lib/http.c's. */
#define add_header jrn_http_header_add
/* Signs body for a webhook: X-Jrn-Timestamp and X-Jrn-Signature. 0 or -1. */
int sign(struct curl_slist **h, const char *secret, const char *body, size_t len);
/* URL-encodes s onto b (RFC 3986 unreserved kept). */
void url_encode(jrn_buf *b, const char *s);
/* Form-encodes (application/x-www-form-urlencoded) name=value& onto b. */
void form_add(jrn_buf *b, const char *name, const char *value);
/* Sets up c for a JSON POST of body[0..len) to url with x's headers plus
 * Content-Type, Expect: and, with a secret, the signature. 0 or -1. */
int http_post_json(xfer *x, CURL *c, const char *url, const char *secret, const char *body,
		   size_t len);

/* ---- output.c -------------------------------------------------------------------- */

/* Writes the batch's records, reports its rejects and failures. Returns
 * rc, or -1 when writing failed (e says why). */
int write_batch(send_ctx *S, job **jobs, size_t n, int rc, jrn_err *e);
/* Writes the stuck claim j (not sent) as a record with its delivery. */
void write_stuck(send_ctx *S, job *j, jrn_buf *line, jrn_err *e);
/* The summary line on stderr ("jrn-send: 3 sent, 0 duplicate, ..."), with
 * rejected records counted as the rejects file did. */
void summary(send_ctx *S, uint64_t rejected);

/* ---- spool.c, retargeting.c: files ------------------------------------------- */

/* mkdir -p path: 0 or -1 with errno. */
int mkdirs(const char *path);
/* Writes p[0..n) whole to fd: 0 or -1 with errno. */
int write_all(int fd, const char *p, size_t n);
/* The audience line of a retargeting job j (hashed identifiers only) onto
 * b; with_campaign adds campaignId and addedAt (the spool and audience
 * files), without them it is a member of an upload batch. */
void audience_member(const job *j, jrn_buf *b, bool with_campaign);

/* ---- tracking.c: send.tracking (jrn-send(1), TRACKING) ----------------------- */

/* Reads send.tracking.url and .secret from cfg (borrowed) into S->cf
 * (both or neither; an http(s) URL without query or fragment). 0, or -1
 * with e. */
int tracking_load(send_ctx *S, jv cfg, jrn_err *e);
/* Frees what tracking_load set. */
void tracking_free(send_ctx *S);
/* Appends j's unsubscribe link BASE/u/TOKEN (the token's channel j's) to
 * out. 0; 1 when j cannot be tracked (no customer: out unchanged); -1 out
 * of memory. */
int tracking_unsub_url(send_ctx *S, const job *j, jrn_buf *out);
/* Appends the HTML part s[0..n) to out with its links made BASE/c/TOKEN
 * and the open pixel before </body> (at the end without one); the text
 * part likewise, links only. 0 or -1 (out of memory). */
int tracking_html(send_ctx *S, const job *j, const char *s, size_t n, jrn_buf *out);
int tracking_text(send_ctx *S, const job *j, const char *s, size_t n, jrn_buf *out);
/* Rewrites the text and html parts of j's e-mail (either may be empty:
 * p NULL) in place with the two above. 0 or -1 (out of memory). */
int tracking_apply(send_ctx *S, const job *j, jrn_buf *text, jrn_buf *html);
/* Appends the 1x1 <img> of BASE/o/TOKEN to out (nothing when j cannot be
 * tracked). 0 or -1. */
int tracking_pixel(send_ctx *S, const job *j, jrn_buf *out);

/* ---- the providers' own mappings (for their unit tests) ------------------------- */

/* SMTP: the outcome of a transfer with curl result res, reply code code,
 * the server's last reply line (may be "") and curl's error text; message
 * appended to msg; *suppress "bounced" when the recipient was refused for
 * good (550-553 at RCPT, unless a 5.x.x enhanced code other than 5.1.x
 * says it is not the mailbox), else untouched. */
enum outcome smtp_outcome(CURLcode res, long code, const char *reply, const char *errbuf,
			  jrn_buf *msg, const char **suppress);
/* Twilio: the outcome of HTTP status http with the response body[0..len)
 * (may be NULL); message appended to msg; *suppress and *code (Twilio's
 * error code, 0 none) set when the number will never work (21211, 21614,
 * 21612 invalid; 21610 unsubscribed). */
enum outcome twilio_outcome(long http, const char *body, size_t len, jrn_buf *msg,
			    const char **suppress, int *code);

#endif
