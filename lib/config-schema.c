/* config-schema.c: every key of jrn.yaml (see jrn.yaml(5)), and the typed
 * getters that hand tools normalised values.
 *
 * This is the one file a tool edits to add its keys: a table of skey rows
 * per section (config-int.h says what each type accepts), hooked into
 * jrn_config_schema. config.c checks a loaded file against these tables,
 * so a value a getter reads has already been checked at load (a bad
 * duration fails there with FILE:LINE:COLUMN), and the getters only
 * convert it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

/* ---- the sections ---------------------------------------------------------
 *
 * One table per section; a tool adds its section by writing a table here
 * and changing its S_OBJECT line in jrn_config_schema to S_SECTION with
 * .keys (and documents the keys in jrn.yaml(5)). */

#define KEY(n, t, ...) {.name = (n), .type = (t), __VA_ARGS__}
#define END {.name = NULL}

static const char *check_country(jv *v);
static const char *check_provider_type(jv *v);
static const char *check_tls(jv *v);
static const char *check_key_window(jv *v);
static const char *check_clock(jv *v);
static const char *check_zone(jv *v);
static const char *check_nats_storage(jv *v);
static const char *check_channel(jv *v);

static const skey db_keys[] = {
	KEY("path", S_STRING),
	KEY("busyTimeout", S_DURATION, .min = 0, .max = INT_MAX),
	END,
};

/* jrn-ingest --listen: tracking tokens and Twilio webhooks (jrn-ingest(1),
 * TRACKING AND UNSUBSCRIBE, TWILIO) */
static const skey listen_tracking_keys[] = {
	KEY("secret", S_STRING),
	END,
};

static const skey listen_twilio_keys[] = {
	KEY("authToken", S_STRING),
	KEY("help", S_STRING),
	END,
};

/* jrn-ingest --listen (jrn-ingest(1) LISTEN, jrn.yaml(5)). */
static const skey listen_source_keys[] = {
	KEY("name", S_STRING),
	KEY("bearer", S_STRING),          /* a token: Authorization: Bearer TOKEN */
	KEY("hmac", S_STRING),            /* a secret: HMAC-SHA256 of "TIMESTAMP.BODY" */
	KEY("signatureHeader", S_STRING),
	KEY("timestampHeader", S_STRING),
	KEY("window", S_DURATION, .min = 1000, .max = INT64_C(86400000)),
	END,
};

static const skey listen_endpoint_keys[] = {
	KEY("path", S_STRING),
	KEY("kind", S_STRING),
	KEY("types", S_STRINGS),
	KEY("sources", S_STRINGS),
	END,
};

static const skey listen_tls_keys[] = {
	KEY("cert", S_STRING),
	KEY("key", S_STRING),
	END,
};

static const skey listen_keys[] = {
	KEY("maxBody", S_INT, .min = 1, .max = INT64_C(1) << 30),
	KEY("timeout", S_DURATION, .min = 1000, .max = INT64_C(3600000)),
	KEY("maxConnections", S_INT, .min = 1, .max = 65536),
	KEY("threads", S_INT, .min = 1, .max = 64),
	KEY("retryAfter", S_DURATION, .min = 1000, .max = INT64_C(3600000)),
	KEY("publicUrl", S_STRING),
	KEY("tls", S_SECTION, .keys = listen_tls_keys),
	KEY("sources", S_LIST, .keys = listen_source_keys),
	KEY("endpoints", S_LIST, .keys = listen_endpoint_keys),
	KEY("tracking", S_SECTION, .keys = listen_tracking_keys),
	KEY("twilio", S_SECTION, .keys = listen_twilio_keys),
	END,
};

static const skey ingest_keys[] = {
	KEY("defaultCountry", S_STRING, .check = check_country),
	KEY("batchSize", S_INT, .min = 1, .max = 10000000),
	KEY("emailFields", S_STRINGS),
	KEY("phoneFields", S_STRINGS),
	KEY("typeMap", S_OBJECT),  /* {name: jrn type or null}: jrn-ingest checks it */
	KEY("listen", S_SECTION, .keys = listen_keys),
	END,
};

static const skey segments_keys[] = {
	KEY("file", S_STRING),
	KEY("definitions", S_OBJECT),
	KEY("drift", S_NUMBER),
	END,
};

static const skey rfm_keys[] = {
	KEY("window", S_DURATION),
	KEY("weights", S_ANY),     /* three numbers: jrn-score checks them */
	KEY("segments", S_ANY),    /* [{name, min}]: jrn-score checks them */
	KEY("method", S_STRING),
	KEY("thresholds", S_OBJECT),
	END,
};

static const skey clv_keys[] = {
	KEY("horizon", S_DURATION),
	KEY("unit", S_DURATION),
	END,
};

static const skey lead_keys[] = {
	KEY("grades", S_OBJECT),
	KEY("behavioral", S_ANY),  /* rules: jrn-score compiles them */
	KEY("demographic", S_ANY),
	KEY("firmographic", S_ANY),
	KEY("halfLife", S_DURATION),
	END,
};

static const skey scoring_keys[] = {
	KEY("rfm", S_SECTION, .keys = rfm_keys),
	KEY("clv", S_SECTION, .keys = clv_keys),
	KEY("lead", S_SECTION, .keys = lead_keys),
	END,
};

/* jrn-send (see jrn-send(1)): one table for every provider type; jrn-send
 * checks which keys a type needs. */
static const skey provider_keys[] = {
	KEY("type", S_STRING, .check = check_provider_type),
	KEY("name", S_STRING),
	KEY("url", S_STRING),
	KEY("tls", S_STRING, .check = check_tls),
	KEY("caFile", S_STRING),
	KEY("username", S_STRING),
	KEY("password", S_STRING),
	KEY("bearer", S_STRING),
	KEY("from", S_STRING),
	KEY("envelopeFrom", S_STRING),
	KEY("rate", S_NUMBER),
	KEY("connections", S_INT, .min = 1, .max = 1024),
	KEY("timeout", S_DURATION, .min = 1, .max = INT_MAX),
	KEY("baseUrl", S_STRING),
	KEY("accountSid", S_STRING),
	KEY("authToken", S_STRING),
	KEY("messagingServiceSid", S_STRING),
	KEY("statusCallback", S_STRING),
	KEY("costPerSegment", S_NUMBER),
	KEY("maxSegments", S_INT, .min = 1, .max = 255),
	KEY("footer", S_STRING),
	KEY("secret", S_STRING),
	KEY("dir", S_STRING),
	KEY("batchSize", S_INT, .min = 1, .max = 1000000),
	END,
};

static const skey providers_keys[] = {
	KEY("email", S_LIST, .keys = provider_keys),
	KEY("sms", S_LIST, .keys = provider_keys),
	KEY("whatsapp", S_LIST, .keys = provider_keys),
	KEY("webhook", S_LIST, .keys = provider_keys),
	KEY("retargeting", S_LIST, .keys = provider_keys),
	END,
};

static const skey unsubscribe_keys[] = {
	KEY("mailto", S_STRING),
	KEY("url", S_STRING),
	KEY("secret", S_STRING),
	END,
};

/* jrn-send: tracked links and the unsubscribe link (jrn-send(1), TRACKING) */
static const skey tracking_keys[] = {
	KEY("url", S_STRING),
	KEY("secret", S_STRING),
	END,
};

static const skey retry_keys[] = {
	KEY("backoff", S_ANY), /* a list of durations: jrn-send checks it */
	KEY("jitter", S_NUMBER),
	KEY("maxWait", S_DURATION, .min = 0, .max = INT_MAX),
	END,
};

/* jrn-send: how long a derived idempotency key lasts (jrn-send(1)). */
static const skey idempotency_keys[] = {
	KEY("window", S_STRING, .check = check_key_window),
	END,
};

static const skey send_keys[] = {
	KEY("from", S_STRING),
	KEY("replyTo", S_STRING),
	KEY("unsubscribe", S_SECTION, .keys = unsubscribe_keys),
	KEY("tracking", S_SECTION, .keys = tracking_keys),
	KEY("retry", S_SECTION, .keys = retry_keys),
	KEY("idempotency", S_SECTION, .keys = idempotency_keys),
	KEY("spool", S_STRING),
	KEY("parallel", S_INT, .min = 1, .max = 4096),
	KEY("batchSize", S_INT, .min = 1, .max = 1000000),
	KEY("maxSegments", S_INT, .min = 1, .max = 255),
	END,
};

static const skey templates_keys[] = {
	KEY("dir", S_STRING),
	KEY("defaultLocale", S_STRING),
	END,
};

/* jrn-route's policy gate (jrn-route(1), jrn.yaml(5)). */
static const skey quiet_keys[] = {
	KEY("start", S_STRING, .check = check_clock),
	KEY("end", S_STRING, .check = check_clock),
	END,
};

static const skey cap_keys[] = {
	KEY("max", S_INT, .min = 0, .max = 10000), /* jrn-route reads at most 10,000 sends */
	KEY("window", S_DURATION, .min = 1, .max = INT64_C(366) * 86400000),
	END,
};

static const skey caps_keys[] = {
	KEY("all", S_SECTION, .keys = cap_keys),
	KEY("email", S_SECTION, .keys = cap_keys),
	KEY("sms", S_SECTION, .keys = cap_keys),
	KEY("whatsapp", S_SECTION, .keys = cap_keys),
	KEY("webhook", S_SECTION, .keys = cap_keys),
	KEY("retargeting", S_SECTION, .keys = cap_keys),
	END,
};

static const skey cost_keys[] = {
	KEY("email", S_NUMBER),
	KEY("sms", S_NUMBER),
	KEY("whatsapp", S_NUMBER),
	KEY("webhook", S_NUMBER),
	KEY("retargeting", S_NUMBER),
	END,
};

static const skey policy_keys[] = {
	KEY("timeZone", S_STRING, .check = check_zone),
	KEY("defaultRegion", S_STRING, .check = check_country),
	KEY("quietHours", S_SECTION, .keys = quiet_keys),
	KEY("caps", S_SECTION, .keys = caps_keys),
	KEY("cooldown", S_OBJECT),  /* {campaign, offer or "*": duration}: jrn-route checks */
	KEY("triggerWindow", S_DURATION, .min = 0, .max = INT64_C(366) * 86400000),
	KEY("fallback", S_STRINGS), /* channels: jrn-route checks */
	KEY("cost", S_SECTION, .keys = cost_keys),
	KEY("budgets", S_OBJECT),   /* {campaign or "*": amount}: jrn-route checks */
	END,
};

/* jrn-ai (jrn-ai(1), jrn.yaml(5)): jrn-ai checks each model's keys by
 * its kind, and the playbook's entries. */
static const skey ai_cache_keys[] = {
	KEY("ttl", S_DURATION, .min = 0, .max = INT64_C(3660) * 86400000),
	KEY("rules", S_BOOL),
	END,
};

static const skey ai_allow_keys[] = {
	KEY("channels", S_STRINGS, .check = check_channel),
	KEY("campaigns", S_STRINGS),
	END,
};

static const skey ai_prompts_keys[] = {
	KEY("dir", S_STRING),
	END,
};

static const skey ai_insights_keys[] = {
	KEY("minSends", S_INT, .min = 1, .max = 1000000000),
	END,
};

static const skey ai_keys[] = {
	KEY("model", S_STRING),
	KEY("models", S_OBJECT),   /* NAME: {kind, ...}: jrn-ai checks by kind */
	KEY("cache", S_SECTION, .keys = ai_cache_keys),
	KEY("fields", S_STRINGS),
	KEY("sendContact", S_BOOL),
	KEY("playbook", S_OBJECT), /* stage or segment: [action]: jrn-ai checks */
	KEY("allow", S_SECTION, .keys = ai_allow_keys),
	KEY("prompts", S_SECTION, .keys = ai_prompts_keys),
	KEY("insights", S_SECTION, .keys = ai_insights_keys),
	KEY("touchpoints", S_STRINGS), /* optimize's event types: jrn-ai checks */
	END,
};

/* jrn-report (jrn-report(1), jrn.yaml(5)): one section per kind; each
 * kind's owner adds its keys to its own list. */
static const skey report_metrics_keys[] = {
	KEY("lookback", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	END,
};

static const skey report_funnel_keys[] = {
	KEY("steps", S_STRINGS),
	KEY("within", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	END,
};

static const skey report_attribution_keys[] = {
	KEY("lookback", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	KEY("halfLife", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	KEY("models", S_STRINGS),
	END,
};

static const skey report_cohorts_keys[] = {
	KEY("period", S_STRING),
	END,
};

static const skey report_experiment_keys[] = {
	KEY("level", S_NUMBER),
	KEY("window", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	END,
};

static const skey report_kpis_keys[] = {
	KEY("targets", S_OBJECT),  /* kpi name: number: jrn-report checks */
	KEY("cartJourney", S_STRING),
	KEY("recoveryWithin", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	KEY("winbackCampaign", S_STRING),
	KEY("winbackWithin", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	KEY("horizon", S_DURATION, .min = 1, .max = INT64_C(3660) * 86400000),
	END,
};

static const skey report_html_keys[] = {
	KEY("title", S_STRING),
	END,
};

static const skey report_keys[] = {
	KEY("metrics", S_SECTION, .keys = report_metrics_keys),
	KEY("funnel", S_SECTION, .keys = report_funnel_keys),
	KEY("attribution", S_SECTION, .keys = report_attribution_keys),
	KEY("cohorts", S_SECTION, .keys = report_cohorts_keys),
	KEY("experiment", S_SECTION, .keys = report_experiment_keys),
	KEY("kpis", S_SECTION, .keys = report_kpis_keys),
	KEY("html", S_SECTION, .keys = report_html_keys),
	END,
};

/* nats.tls: the servers' CA bundle, a client certificate and its key
 * (files; any of them makes the connection TLS). */
static const skey nats_tls_keys[] = {
	KEY("ca", S_STRING),
	KEY("cert", S_STRING),
	KEY("key", S_STRING),
	END,
};

/* jrn-ingest --publish / --from: NATS JetStream (jrn-ingest(1) NATS,
 * jrn.yaml(5)); url and the names are checked by jrn-ingest (nats.c). */
static const skey nats_keys[] = {
	KEY("url", S_STRING),
	KEY("stream", S_STRING),
	KEY("subject", S_STRING),
	KEY("partitions", S_INT, .min = 1, .max = 4096),
	KEY("replicas", S_INT, .min = 1, .max = 5),
	KEY("storage", S_STRING, .check = check_nats_storage),
	KEY("duplicateWindow", S_DURATION, .min = 1000, .max = INT64_C(7) * 86400000),
	KEY("ackTimeout", S_DURATION, .min = 100, .max = 600000),
	KEY("deadline", S_DURATION, .min = 1000, .max = INT64_C(86400000)),
	KEY("batch", S_INT, .min = 1, .max = 1000000),
	KEY("user", S_STRING),
	KEY("password", S_STRING),    /* a secret: ${NAME} */
	KEY("token", S_STRING),       /* a secret: ${NAME} */
	KEY("credentials", S_STRING), /* a .creds file (user JWT and NKey seed) */
	KEY("tls", S_SECTION, .keys = nats_tls_keys),
	END,
};

/* The top level: every section of jrn.yaml. */
const skey jrn_config_schema[] = {
	KEY("db", S_SECTION, .keys = db_keys),
	KEY("ingest", S_SECTION, .keys = ingest_keys),
	KEY("sources", S_OBJECT),  /* jrn-merge checks its keys (jrn-merge(1)) */
	KEY("segments", S_SECTION, .keys = segments_keys),
	KEY("scoring", S_SECTION, .keys = scoring_keys),
	KEY("ai", S_SECTION, .keys = ai_keys),
	KEY("journeys", S_OBJECT),
	KEY("policy", S_SECTION, .keys = policy_keys),
	KEY("providers", S_SECTION, .keys = providers_keys),
	KEY("send", S_SECTION, .keys = send_keys),
	KEY("templates", S_SECTION, .keys = templates_keys),
	KEY("report", S_SECTION, .keys = report_keys),
	KEY("jobs", S_OBJECT),      /* name: pipeline string or list: jrn run checks */
	KEY("nats", S_SECTION, .keys = nats_keys),
	END,
};

/* ---- who reads what ---------------------------------------------------------
 *
 * The keys each tool reads (a section, or one key of another tool's
 * section), so that an unset ${NAME} fails only the tools that read it
 * (jrn_config_require, called by jrn_opts_resolve). A tool adding keys of
 * its own adds them to its row; a program not in this table reads every
 * key. "jrn" stands for every "jrn SUBCOMMAND" too. */
static const struct {
	const char *prog;
	const char *keys[12]; /* ended by NULL */
} readers[] = {
	{"jrn-ingest", {"db", "ingest", "sources", "nats"}},
	{"jrn-merge", {"db", "sources"}},
	{"jrn-segment", {"db", "segments"}},
	{"jrn-score", {"db", "scoring"}},
	{"jrn-send", {"db", "send", "providers", "templates", "ingest.defaultCountry"}},
	{"jrn-route", {"db", "policy", "ingest.defaultCountry"}},
	/* jrn-ai: a model's own keys (an API key) are read when it is asked */
	{"jrn-ai", {"db", "ai.model", "ai.cache", "ai.fields", "ai.sendContact", "ai.playbook",
		    "ai.allow", "ai.prompts", "ai.insights", "ai.touchpoints"}},
	{"jrn-report", {"db", "report"}},
	{"jrn", {"db", "jobs", "nats.partitions"}},
};

int jrn_config_require(jv cfg, const char *prog, jrn_err *e)
{
	for (size_t i = 0; prog && i < sizeof readers / sizeof readers[0]; i++) {
		size_t n = strlen(readers[i].prog);
		if (strncmp(prog, readers[i].prog, n) || (prog[n] && prog[n] != ' '))
			continue;
		for (const char *const *k = readers[i].keys; *k; k++)
			if (jrn_config_unset_at(cfg, *k, true, e) < 0)
				return -1;
		return 0;
	}
	return jrn_config_unset_at(cfg, "", true, e);
}

static const char *check_provider_type(jv *v)
{
	static const char *const types[] = {"smtp", "twilio", "webhook", "retargeting", "spool"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(jv_string_value(*v), types[i]))
			return NULL;
	return "smtp, twilio, webhook, retargeting or spool";
}

static const char *check_tls(jv *v)
{
	const char *s = jv_string_value(*v);
	return !strcmp(s, "required") || !strcmp(s, "try") || !strcmp(s, "none")
		       ? NULL : "required, try or none";
}

/* nats.storage: file or memory (JetStream's two kinds). */
static const char *check_nats_storage(jv *v)
{
	const char *s = jv_string_value(*v);
	return !strcmp(s, "file") || !strcmp(s, "memory") ? NULL : "file or memory";
}

/* A channel of an action (seeds/000's Journey Action Schema, actionType):
 * ai.allow.channels. */
static const char *check_channel(jv *v)
{
	const char *s = jv_string_value(*v);
	return !strcmp(s, "email") || !strcmp(s, "sms") || !strcmp(s, "retargeting")
		       ? NULL : "a channel (email, sms or retargeting)";
}

/* send.idempotency.window: a duration above zero, or "campaign". */
static const char *check_key_window(jv *v)
{
	const char *s = jv_string_value(*v);
	int64_t ms;
	if (!strcmp(s, "campaign") || (jrn_duration_parse(s, &ms, NULL) == 0 && ms > 0))
		return NULL;
	return "a duration such as 30d, or campaign";
}

/* policy.quietHours: a local time of day "HH:MM", 00:00 to 23:59. */
static const char *check_clock(jv *v)
{
	const char *s = jv_string_value(*v);
	bool ok = strlen(s) == 5 && s[2] == ':';
	for (int i = 0; ok && i < 5; i++)
		ok = i == 2 || (s[i] >= '0' && s[i] <= '9');
	if (ok && ((s[0] - '0') * 10 + (s[1] - '0') > 23 || s[3] > '5'))
		ok = false;
	return ok ? NULL : "a time of day HH:MM from 00:00 to 23:59";
}

/* policy.timeZone: an IANA zone name as jrn-route takes it (the file is
 * looked for when jrn-route runs): letters, digits and _ + - /, at most 64
 * bytes, no "..", not starting with '/'. */
static const char *check_zone(jv *v)
{
	const char *s = jv_string_value(*v);
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 64 && s[0] != '/' && !strstr(s, "..");
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		     (s[i] >= '0' && s[i] <= '9') || strchr("_+-/", s[i]);
	return ok ? NULL : "an IANA time zone name such as Europe/Berlin";
}

/* ISO 3166 alpha-2: two ASCII letters, kept in capitals. */
static const char *check_country(jv *v)
{
	const char *s = jv_string_value(*v);
	char up[3];
	if (jv_string_length_bytes(jv_copy(*v)) != 2)
		return "a two-letter ISO 3166 country code such as US";
	for (int i = 0; i < 2; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return "a two-letter ISO 3166 country code such as US";
		up[i] = c;
	}
	up[2] = '\0';
	jv_free(*v);
	*v = jv_string(up);
	return NULL;
}

/* ---- the getters ----------------------------------------------------------- */

#define EXACT_INT 9007199254740992.0 /* 2^53 */

/* A getter's answer for an invalid v (consumed): 0 (absent), or -1 with
 * the message jrn_config_get left (an unset ${NAME}). */
static int absent(jv v, jrn_err *e)
{
	if (!jv_invalid_has_msg(jv_copy(v))) {
		jv_free(v);
		return 0;
	}
	jv msg = jv_invalid_get_msg(v);
	jrn_fail(e, "%s", jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "invalid");
	jv_free(msg);
	return -1;
}

int jrn_config_duration_of(jv v, int64_t *ms, jrn_err *e)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);
		if (!(d >= 0 && d <= EXACT_INT) || d != (double)(int64_t)d)
			return jrn_fail(e, "expected a duration such as 90d or whole milliseconds");
		*ms = (int64_t)d;
		return 0;
	}
	case JV_KIND_STRING:
		return jrn_duration_parse(jv_string_value(v), ms, e);
	default:
		return jrn_fail(e, "expected a duration such as 90d, not %s",
				jrn_kind_phrase(jv_get_kind(v), true));
	}
}

int jrn_config_duration(jv cfg, const char *dotted, int64_t *ms, jrn_err *e)
{
	jv v = jrn_config_get(cfg, dotted);
	int rc = 1;
	if (!jv_is_valid(v))
		return absent(v, e);
	if (jv_get_kind(v) == JV_KIND_NULL)
		rc = 0;
	else if (jrn_config_duration_of(v, ms, e) < 0) {
		rc = -1;
		/* the parser quotes the text: from ${NAME}, say it as written */
		const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
		const char *shown = s ? jrn_config_shown(cfg, dotted, s) : NULL;
		if (shown && shown != s)
			jrn_fail(e, "bad duration '%s'", shown);
	}
	jv_free(v);
	return rc;
}

int jrn_config_int(jv cfg, const char *dotted, int64_t *n, jrn_err *e)
{
	jv v = jrn_config_get(cfg, dotted);
	int rc = 1;
	if (!jv_is_valid(v))
		return absent(v, e);
	if (jv_get_kind(v) == JV_KIND_NULL) {
		rc = 0;
	} else {
		double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0.5;
		if (!(d >= -EXACT_INT && d <= EXACT_INT) || d != (double)(int64_t)d)
			rc = jrn_fail(e, "expected an integer, not %s",
				      jv_get_kind(v) == JV_KIND_NUMBER ? "a number with a fraction"
								       : jrn_kind_phrase(jv_get_kind(v), true));
		else
			*n = (int64_t)d;
	}
	jv_free(v);
	return rc;
}

int jrn_config_number(jv cfg, const char *dotted, double *d, jrn_err *e)
{
	jv v = jrn_config_get(cfg, dotted);
	int rc = 1;
	if (!jv_is_valid(v))
		return absent(v, e);
	if (jv_get_kind(v) == JV_KIND_NULL)
		rc = 0;
	else if (jv_get_kind(v) != JV_KIND_NUMBER)
		rc = jrn_fail(e, "expected a number, not %s", jrn_kind_phrase(jv_get_kind(v), true));
	else
		*d = jv_number_value(v);
	jv_free(v);
	return rc;
}

int jrn_config_bool(jv cfg, const char *dotted, bool *b, jrn_err *e)
{
	jv v = jrn_config_get(cfg, dotted);
	int rc = 1;
	jv_kind k = jv_get_kind(v);
	if (!jv_is_valid(v))
		return absent(v, e);
	if (k == JV_KIND_NULL)
		rc = 0;
	else if (k != JV_KIND_TRUE && k != JV_KIND_FALSE)
		rc = jrn_fail(e, "expected true or false, not %s", jrn_kind_phrase(k, true));
	else
		*b = k == JV_KIND_TRUE;
	jv_free(v);
	return rc;
}

int jrn_config_string(jv cfg, const char *dotted, char **s, jrn_err *e)
{
	jv v = jrn_config_get(cfg, dotted);
	int rc = 1;
	if (!jv_is_valid(v))
		return absent(v, e);
	if (jv_get_kind(v) == JV_KIND_NULL)
		rc = 0;
	else if (jv_get_kind(v) != JV_KIND_STRING)
		rc = jrn_fail(e, "expected a string, not %s", jrn_kind_phrase(jv_get_kind(v), true));
	else if (!(*s = strdup(jv_string_value(v))))
		rc = jrn_fail(e, "out of memory");
	jv_free(v);
	return rc;
}
