/*
 * openai.h: jrn-ai's `openai` model, an OpenAI-compatible Chat Completions
 * client (OpenAI, Azure's compatible endpoint, Ollama, vLLM, llama.cpp's
 * server): request building, reply parsing and the transfer loop, as
 * functions of their own so that t/unit/jrn-ai-openai.c tests them without
 * a server. Private to cmd/jrn-ai/.
 *
 * The API it speaks: POST {baseUrl}/chat/completions, OpenAI's "Create chat
 * completion" (https://platform.openai.com/docs/api-reference/chat/create;
 * the sliced spec t/peers/openai-chat-completions.json), with Structured
 * Outputs (response_format {type: json_schema, json_schema: {name, strict:
 * true, schema}}, https://platform.openai.com/docs/guides/structured-outputs).
 */
#ifndef JRN_AI_OPENAI_H
#define JRN_AI_OPENAI_H

#include <curl/curl.h>

#include "http.h"
#include "jrn.h"

/* Bounds, each named in its message. */
#define OAI_MAX_IN_FLIGHT 256           /* inFlight: jrn-ai.h's AI_MAX_PARALLEL */
#define OAI_MAX_RETRIES 10              /* retries */
#define OAI_MAX_RETRY_WAIT_MS 60000     /* a longer Retry-After: no retry */
#define OAI_MAX_REPLY_BYTES (4u << 20)  /* a longer reply is a failure */
#define OAI_MAX_TIMEOUT_MS 600000       /* timeout: at most 10 min */
#define OAI_BACKOFF_BASE_MS 500         /* backoff: 0.5 s, 1 s, 2 s ... */
#define OAI_BACKOFF_CAP_MS 8000         /* ... at most 8 s */
#define OAI_BREAKER_MIN_FAILS 8         /* the breaker opens after max(this, 2 x in flight) */
#define OAI_BREAKER_OPEN_MS 5000        /* ... failures in a row, for this long */

/* One configured model of kind openai (ai.models.NAME). Owns its strings. */
typedef struct oai_model {
	char *name;          /* NAME */
	char *url;           /* baseUrl + "/chat/completions" */
	char *url_shown;     /* the same as messages may show it (jrn_config_shown) */
	char *model;         /* the model's id at the endpoint: "gpt-4o-mini" */
	char *api_key;       /* the secret; NULL: no Authorization header */
	char *ca_file;       /* caFile: a CA bundle for a private endpoint */
	double temperature;  /* < 0: not sent */
	int64_t max_tokens;  /* maxTokens; 0: not sent */
	long timeout_ms;     /* timeout per request (default 30 s) */
	int in_flight;       /* inFlight (default 8) */
	int retries;         /* retries of 429, 5xx, connection failures (default 3) */
	double rpm, tpm;     /* requests and tokens a minute; 0: no limit */
	double price_in, price_out; /* price.input, price.output per 1M tokens */
} oai_model;

/* Reads ai.models.NAME (mc borrowed: the model's object; cfg borrowed: the
 * whole configuration, for jrn_config_shown; where: "ai.models.NAME") into
 * m (zeroed by the caller; freed with oai_model_free even on failure).
 * Keys: kind (openai), baseUrl (default https://api.openai.com/v1), model
 * (required), apiKey, temperature (0..2), maxTokens (1..1000000), timeout
 * (a duration, 1 ms..10 min, default 30s), inFlight (1..256, default 8),
 * rpm, tpm (> 0), price {input, output} (>= 0, per 1M tokens), retries
 * (0..10, default 3), caFile. An unknown key is an error, with a
 * suggestion. The apiKey's value is never in a message. 0, or -1 with e. */
int oai_model_load(oai_model *m, const char *name, jv mc, jv cfg, const char *where,
		   jrn_err *e);
void oai_model_free(oai_model *m);

/* What one request asks. Everything borrowed. */
typedef struct oai_ask {
	const char *system;     /* the system prompt (NUL-terminated) */
	jv input;               /* the minimised input: the user message is its compact
				 * JSON, members in the order they were set */
	jv schema;              /* the answer's JSON Schema (strict-mode shaped) */
	const char *schema_name;/* json_schema.name: [A-Za-z0-9_-]{1,64} */
	/* a second try after an answer that failed the schema: the answer as
	 * the model wrote it (prev, NULL: first try) and the validator's
	 * errors (an array of {path, keyword, message}; jv_null when none) */
	const char *prev;
	jv errors;
} oai_ask;

/* Appends the request body for a to body: {model, messages: [system, user
 * (, assistant: prev, user: the errors and "answer again")], temperature,
 * max_tokens, response_format: {type: json_schema, json_schema: {name,
 * strict: true, schema}}}. 0, or -1 with e (memory, an input that does not
 * serialise). */
int oai_request_body(const oai_model *m, const oai_ask *a, jrn_buf *body, jrn_err *e);

/* What a reply came to. */
enum oai_kind {
	OAI_OK,        /* value holds the answer (JSON; not yet schema-checked) */
	OAI_BAD,       /* the model answered, but not JSON or cut at the token
			* limit: worth the schema retry */
	OAI_REFUSED,   /* message.refusal, or finish_reason content_filter */
	OAI_FAILED,    /* the request failed (HTTP status, transport, time-out,
			* a reply that is no chat completion) */
};

typedef struct oai_reply {
	enum oai_kind kind;
	jv value;                /* OAI_OK: the parsed content (owned); else jv_invalid */
	char *content;           /* the content as written (owned; NULL when none) */
	int64_t prompt_tokens, completion_tokens; /* usage; 0 when absent */
	double cost;             /* by the model's price table */
	char why[512];           /* not OAI_OK: the reason, never a secret */
	bool transient;          /* OAI_FAILED by 408/425/429/5xx: worth a retry */
	int64_t retry_ms;        /* Retry-After in ms; -1 none */
	int attempts;            /* requests made (oai_run) */
	int64_t waited_ms;       /* time spent waiting before retries (oai_run) */
} oai_reply;

/* Parses a finished exchange into r (r's previous jv and content freed
 * first; a zeroed r is fine): status is the HTTP status, body[0..n) the
 * reply's body. choices[0].message.content is parsed as JSON (the answer);
 * message.refusal or finish_reason content_filter make OAI_REFUSED;
 * finish_reason length OAI_BAD; a status other than 200 OAI_FAILED with
 * the server's error.message (OpenAI's error object), r->transient by
 * jrn_http_transient. usage.prompt_tokens and completion_tokens give the
 * tokens and the cost (price per 1M tokens) whatever the kind. Any text of
 * the server's that holds m->api_key is cut out (OpenAI's 401 echoes part
 * of a wrong key). Returns r->kind. */
enum oai_kind oai_reply_parse(const oai_model *m, long status, const char *body, size_t n,
			      oai_reply *r);
/* Frees r's members; r is reusable (zeroed). */
void oai_reply_free(oai_reply *r);

/* One request of a run: ask in, reply out. */
typedef struct oai_job {
	oai_ask ask;
	oai_reply reply;
	/* the loop's */
	jrn_buf body, resp;
	char errbuf[CURL_ERROR_SIZE];
	int64_t ready;       /* monotonic ms of the next attempt */
	int64_t waiting;     /* the wait it is in, for waited_ms */
	double est_tokens;   /* what the token bucket was charged */
	bool skipped;        /* never sent: the caller's may_start said no */
	bool too_long;       /* the reply passed OAI_MAX_REPLY_BYTES */
} oai_job;

/* Hooks of a run (all optional): may_start(ctx, j) before each first
 * request of a job (false: the job is left unsent, skipped set, kind
 * OAI_FAILED with why "budget spent"); done(ctx, j) as each job ends
 * (reply final), in the order they end; say(ctx, msg) for -v lines;
 * notice(ctx, msg) for what is said without -v (the circuit breaker
 * opening and closing). */
typedef struct oai_hooks {
	bool (*may_start)(void *ctx, oai_job *j);
	void (*done)(void *ctx, oai_job *j);
	void (*say)(void *ctx, const char *msg);
	void (*notice)(void *ctx, const char *msg);
	void *ctx;
} oai_hooks;

/* A run's transfer state: a curl multi handle (connections kept from one
 * run to the next), easy handles reused, the buckets. */
typedef struct oai_client oai_client;
/* A client for m (borrowed: must outlive it) with parallel requests in
 * flight (0: m->in_flight). NULL with e (curl failed). */
oai_client *oai_client_new(const oai_model *m, int parallel, jrn_err *e);
void oai_client_free(oai_client *c);
/* The requests c has made (retries each count) and the connections it
 * opened for them (CURLINFO_NUM_CONNECTS): fewer connections than
 * requests means they were reused. 0 and 0 for c NULL. */
void oai_client_counts(const oai_client *c, uint64_t *requests, uint64_t *connects);

/* Runs jobs[0..n) (ask set, reply zeroed) through c: up to the parallel
 * limit in flight, the rpm and tpm buckets, 408/425/429/5xx and
 * connection failures tried again up to m->retries times after
 * Retry-After (at most OAI_MAX_RETRY_WAIT_MS; longer: no retry) or the
 * backoff; a time-out is not tried again (the model may have answered and
 * billed). Each job ends with a reply: never an exit, never a print (say
 * is the caller's). 0, or -1 with e when the run cannot go on (memory,
 * curl).
 *
 * A circuit breaker (M. Nygard, "Release It!", 2nd ed., ch. 5, "Circuit
 * Breaker": closed, open, half-open) stands in front of every request,
 * kept in c from one run to the next: when max(OAI_BREAKER_MIN_FAILS,
 * 2 x in flight) requests in a row end with no answer from the endpoint
 * (a transport failure: refused, reset, a name not resolved, TLS, a
 * time-out; or a 5xx; a 429 is an answer), it opens for
 * OAI_BREAKER_OPEN_MS: a job that would be sent, first or again, ends at
 * once OAI_FAILED, its why naming the last failure. Then one request goes
 * (half-open): any answer closes the breaker, a failure opens it again.
 * A dead endpoint so costs a run a few requests, not every record's
 * retries and backoff (hours for 100,000 records). */
int oai_run(oai_client *c, oai_job *jobs, size_t n, const oai_hooks *h, jrn_err *e);
/* Frees what a job holds (request, reply); the job is reusable. */
void oai_job_free(oai_job *j);

#endif
