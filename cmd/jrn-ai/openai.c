/* openai.c: the `openai` model: OpenAI-compatible Chat Completions over
 * libcurl's multi interface (see openai.h for the API it speaks).
 *
 * The transfer loop is a compact one of its own rather than jrn-send's
 * (cmd/jrn-send/transfer.c): that loop is woven with jrn-send's jobs,
 * provider chains, the outbox and the ledger, and what the two share that
 * is worth sharing (which statuses to retry, Retry-After, backoff with
 * jitter, header lines) is already lib/http.c's. The shape is the same:
 * a pending queue, easy handles reused (connections kept by the multi
 * handle), a token bucket in front, curl_multi_poll until the next ready
 * time. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jrn-ai.h"
#include "openai.h"

/* ---- configuration ----------------------------------------------------------- */

static const char *const model_keys[] = {
	"kind", "baseUrl", "model", "apiKey", "temperature", "maxTokens", "timeout",
	"inFlight", "rpm", "tpm", "price", "retries", "caFile", NULL,
};

void oai_model_free(oai_model *m)
{
	free(m->name);
	free(m->url);
	free(m->url_shown);
	free(m->model);
	if (m->api_key) /* a secret: not left in freed memory */
		explicit_bzero(m->api_key, strlen(m->api_key));
	free(m->api_key);
	free(m->ca_file);
	memset(m, 0, sizeof *m);
}

/* A number at where.key into *d within [lo, hi]: 1 found, 0 absent, -1 e. */
static int get_number(jv cfg, const char *where, const char *key, double lo, double hi,
		      double *d, jrn_err *e)
{
	char path[512];
	jrn_err ge;
	snprintf(path, sizeof path, "%s.%s", where, key);
	int rc = jrn_config_number(cfg, path, d, &ge);
	if (rc < 0)
		return jrn_fail(e, "%s: %s", path, ge.msg);
	if (rc == 1 && !(*d >= lo && *d <= hi))
		return jrn_fail(e, "%s: %g is out of range (%g to %g)", path, *d, lo, hi);
	return rc;
}

static int get_string(jv cfg, const char *where, const char *key, char **s, jrn_err *e)
{
	char path[512];
	jrn_err ge;
	snprintf(path, sizeof path, "%s.%s", where, key);
	int rc = jrn_config_string(cfg, path, s, &ge);
	if (rc < 0) /* the getter never shows the value: safe for apiKey */
		return jrn_fail(e, "%s: %s", path, strstr(ge.msg, "is not set") ? ge.msg
						 : "must be a string");
	return rc;
}

/* The checks of the member keys of mc: each known, with a suggestion. */
static int check_keys(jv mc, const char *where, jrn_err *e)
{
	int rc = 0;
	jv_object_foreach(mc, k, v)
	{
		const char *ks = jv_string_value(k);
		bool known = false;
		const char *best = NULL;
		size_t bestd = 3;
		for (int i = 0; model_keys[i]; i++) {
			if (!strcmp(ks, model_keys[i]))
				known = true;
			size_t d = jrn_edit_distance(ks, strlen(ks), model_keys[i], strlen(model_keys[i]));
			if (d < bestd)
				bestd = d, best = model_keys[i];
		}
		if (!known && rc == 0)
			rc = best ? jrn_fail(e, "%s: unknown key %s (did you mean %s?)", where, ks, best)
				  : jrn_fail(e, "%s: unknown key %s (a model of kind openai takes "
						"baseUrl, model, apiKey, temperature, maxTokens, timeout, "
						"inFlight, rpm, tpm, price, retries, caFile)", where, ks);
		jv_free(k);
		jv_free(v);
	}
	return rc;
}

int oai_model_load(oai_model *m, const char *name, jv mc, jv cfg, const char *where,
		   jrn_err *e)
{
	char path[512];
	double d;
	int rc;
	if (jv_get_kind(mc) != JV_KIND_OBJECT)
		return jrn_fail(e, "%s: must be a mapping", where);
	if (check_keys(mc, where, e) < 0)
		return -1;
	if (!(m->name = strdup(name)))
		return jrn_fail(e, "out of memory");

	char *base = NULL;
	if ((rc = get_string(cfg, where, "baseUrl", &base, e)) < 0)
		return -1;
	const char *bs = base ? base : "https://api.openai.com/v1";
	snprintf(path, sizeof path, "%s.baseUrl", where);
	const char *shown = base ? jrn_config_shown(cfg, path, base) : bs;
	size_t bl = strlen(bs), sl = strlen(shown);
	while (bl && bs[bl - 1] == '/')
		bl--;
	while (sl && shown[sl - 1] == '/')
		sl--;
	if (strncmp(bs, "http://", 7) && strncmp(bs, "https://", 8)) {
		jrn_fail(e, "%s: %.*s is not an http:// or https:// URL", path, (int)sl, shown);
		free(base);
		return -1;
	}
	m->url = malloc(bl + sizeof "/chat/completions");
	m->url_shown = malloc(sl + sizeof "/chat/completions");
	if (m->url) {
		memcpy(m->url, bs, bl);
		strcpy(m->url + bl, "/chat/completions");
	}
	if (m->url_shown) {
		memcpy(m->url_shown, shown, sl);
		strcpy(m->url_shown + sl, "/chat/completions");
	}
	free(base);
	if (!m->url || !m->url_shown)
		return jrn_fail(e, "out of memory");

	if ((rc = get_string(cfg, where, "model", &m->model, e)) < 0)
		return -1;
	if (rc == 0 || !*m->model)
		return jrn_fail(e, "%s.model: the model's id at the endpoint is required "
				   "(model: gpt-4o-mini)", where);
	if (get_string(cfg, where, "apiKey", &m->api_key, e) < 0)
		return -1;
	if (m->api_key && strpbrk(m->api_key, "\r\n"))
		return jrn_fail(e, "%s.apiKey: holds a line break", where);
	if (get_string(cfg, where, "caFile", &m->ca_file, e) < 0)
		return -1;
	/* curl reads it at the first question: a missing one would fail each */
	if (m->ca_file && access(m->ca_file, R_OK) < 0)
		return jrn_fail(e, "%s.caFile: cannot read it: %s", where, strerror(errno));

	m->temperature = -1;
	if ((rc = get_number(cfg, where, "temperature", 0, 2, &d, e)) < 0)
		return -1;
	if (rc == 1)
		m->temperature = d;
	if ((rc = get_number(cfg, where, "maxTokens", 1, 1000000, &d, e)) < 0)
		return -1;
	if (rc == 1 && d != floor(d))
		return jrn_fail(e, "%s.maxTokens: %g is not a whole number", where, d);
	m->max_tokens = rc == 1 ? (int64_t)d : 0;
	m->in_flight = 8;
	if ((rc = get_number(cfg, where, "inFlight", 1, OAI_MAX_IN_FLIGHT, &d, e)) < 0)
		return -1;
	if (rc == 1)
		m->in_flight = (int)d;
	m->retries = 3;
	if ((rc = get_number(cfg, where, "retries", 0, OAI_MAX_RETRIES, &d, e)) < 0)
		return -1;
	if (rc == 1)
		m->retries = (int)d;
	if (get_number(cfg, where, "rpm", 1e-9, 1e12, &m->rpm, e) < 0 ||
	    get_number(cfg, where, "tpm", 1e-9, 1e15, &m->tpm, e) < 0)
		return -1;
	if (get_number(cfg, where, "price.input", 0, 1e9, &m->price_in, e) < 0 ||
	    get_number(cfg, where, "price.output", 0, 1e9, &m->price_out, e) < 0)
		return -1;

	int64_t ms = 30000;
	jrn_err ge;
	snprintf(path, sizeof path, "%s.timeout", where);
	if (jrn_config_duration(cfg, path, &ms, &ge) < 0)
		return jrn_fail(e, "%s: %s", path, ge.msg);
	if (ms < 1 || ms > OAI_MAX_TIMEOUT_MS)
		return jrn_fail(e, "%s: %lld ms is out of range (1 ms to 10 min)", path, (long long)ms);
	m->timeout_ms = (long)ms;
	return 0;
}

/* ---- the request -------------------------------------------------------------- */

/* The text of the retry's user message: what was wrong, as a list. */
static int retry_text(jrn_buf *t, jv errors)
{
	jrn_buf_adds(t, "Your previous answer does not match the required JSON schema:\n");
	if (jv_get_kind(errors) == JV_KIND_ARRAY) {
		jv_array_foreach(errors, i, er)
		{
			/* (the message starts with its path: jrn_schema_validate) */
			jv msg = jv_object_get(er, jv_string("message"));
			jrn_buf_addf(t, "- %s\n",
				     jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "invalid");
			jv_free(msg);
			(void)i;
		}
	} else {
		jrn_buf_adds(t, "- it is not a JSON object as the schema asks\n");
	}
	return jrn_buf_adds(t, "Answer again with only a JSON object that matches the schema.");
}

/* The parts of a's body that every question of one prompt shares: pre,
 * up to the user message's content, and post, from the end of the
 * messages on (options and response_format with the schema). Built as
 * text once: serialising the schema through jv is most of a body's cost. */
static int body_parts(const oai_model *m, const oai_ask *a, jrn_buf *pre, jrn_buf *post,
		      jrn_err *e)
{
	const char *sys = a->system ? a->system : "";
	const char *name = a->schema_name ? a->schema_name : "answer";
	int rc = jrn_buf_adds(pre, "{\"model\":") | jrn_json_append_str(pre, m->model, strlen(m->model)) |
		 jrn_buf_adds(pre, ",\"messages\":[{\"role\":\"system\",\"content\":") |
		 jrn_json_append_str(pre, sys, strlen(sys)) |
		 jrn_buf_adds(pre, "},{\"role\":\"user\",\"content\":");
	rc |= jrn_buf_addc(post, ']');
	if (m->temperature >= 0) {
		rc |= jrn_buf_adds(post, ",\"temperature\":");
		if (jrn_json_append(post, jv_number(m->temperature), 0, e) < 0)
			return -1;
	}
	if (m->max_tokens > 0)
		rc |= jrn_buf_addf(post, ",\"max_tokens\":%lld", (long long)m->max_tokens);
	rc |= jrn_buf_adds(post, ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":") |
	      jrn_json_append_str(post, name, strlen(name)) |
	      jrn_buf_adds(post, ",\"strict\":true,\"schema\":");
	if (rc < 0)
		return jrn_fail(e, "out of memory");
	if (jrn_json_append(post, jv_copy(a->schema), 0, e) < 0)
		return -1;
	return jrn_buf_adds(post, "}}}") < 0 ? jrn_fail(e, "out of memory") : 0;
}

/* The body: pre, the user message's content (the input as compact JSON,
 * members in the order they were built: the same input makes the same
 * text, and sorting would cost three times the rest), the retry's two
 * messages, post. */
static int body_join(const oai_ask *a, const jrn_buf *pre, const jrn_buf *post, jrn_buf *body,
		     jrn_err *e)
{
	jrn_buf in = {0};
	if (jrn_json_append(&in, jv_copy(a->input), 0, e) < 0) {
		jrn_buf_free(&in);
		return -1;
	}
	int rc = jrn_buf_add(body, pre->p, pre->len) | jrn_json_append_str(body, in.p, in.len) |
		 jrn_buf_addc(body, '}');
	jrn_buf_free(&in);
	if (a->prev) {
		jrn_buf t = {0};
		rc |= retry_text(&t, a->errors);
		rc |= jrn_buf_adds(body, ",{\"role\":\"assistant\",\"content\":") |
		      jrn_json_append_str(body, a->prev, strlen(a->prev)) |
		      jrn_buf_adds(body, "},{\"role\":\"user\",\"content\":") |
		      jrn_json_append_str(body, t.p ? t.p : "", t.len) | jrn_buf_addc(body, '}');
		jrn_buf_free(&t);
	}
	rc |= jrn_buf_add(body, post->p, post->len);
	return rc < 0 ? jrn_fail(e, "out of memory") : 0;
}

int oai_request_body(const oai_model *m, const oai_ask *a, jrn_buf *body, jrn_err *e)
{
	jrn_buf pre = {0}, post = {0};
	int rc = body_parts(m, a, &pre, &post, e) < 0 ? -1 : body_join(a, &pre, &post, body, e);
	jrn_buf_free(&pre);
	jrn_buf_free(&post);
	return rc;
}

/* ---- the reply ------------------------------------------------------------------ */

void oai_reply_free(oai_reply *r)
{
	jv_free(r->value);
	free(r->content);
	memset(r, 0, sizeof *r);
	r->value = jv_invalid();
	r->retry_ms = -1;
}

/* Sets r->why from fmt..., with every occurrence of the API key (and of
 * any 8 bytes of it: OpenAI's 401 shows "sk-abc***wxyz") cut out, and
 * control characters as spaces. */
static void why(const oai_model *m, oai_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void why(const oai_model *m, oai_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	size_t kl = m->api_key ? strlen(m->api_key) : 0;
	for (char *p = r->why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (kl < 8)
		return;
	for (size_t off = 0; off + 8 <= kl; off++) {
		char pat[9];
		memcpy(pat, m->api_key + off, 8);
		pat[8] = 0;
		char *hit;
		while ((hit = strstr(r->why, pat))) {
			size_t rest = strlen(hit + 8);
			memcpy(hit, "***", 3);
			memmove(hit + 3, hit + 8, rest + 1);
		}
	}
}

static jv member(jv o, const char *k)
{
	return jv_get_kind(o) == JV_KIND_OBJECT ? jv_object_get(jv_copy(o), jv_string(k)) : jv_invalid();
}

static int64_t usage_int(jv usage, const char *k)
{
	jv v = member(usage, k);
	int64_t n = jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) >= 0 &&
				    jv_number_value(v) < 9e15
			    ? (int64_t)jv_number_value(v) : 0;
	jv_free(v);
	return n;
}

/* The server's error.message of a failed request, or "". */
static const char *error_message(jv reply, jv *hold)
{
	jv err = member(reply, "error");
	*hold = member(err, "message");
	jv_free(err);
	return jv_get_kind(*hold) == JV_KIND_STRING ? jv_string_value(*hold) : "";
}

enum oai_kind oai_reply_parse(const oai_model *m, long status, const char *body, size_t n,
			      oai_reply *r)
{
	oai_reply_free(r);
	jrn_err pe = {"an empty body"};
	jv reply = n ? jrn_parse_value(body, n, &pe) : jv_invalid();
	jv usage = member(reply, "usage");
	r->prompt_tokens = usage_int(usage, "prompt_tokens");
	r->completion_tokens = usage_int(usage, "completion_tokens");
	jv_free(usage);
	r->cost = (double)r->prompt_tokens * m->price_in / 1e6 +
		  (double)r->completion_tokens * m->price_out / 1e6;
	r->kind = OAI_FAILED;

	if (status != 200) {
		jv hold;
		const char *msg = error_message(reply, &hold);
		r->transient = jrn_http_transient(status);
		if (status == 401 || status == 403) /* the message may quote the key */
			why(m, r, "HTTP %ld: the endpoint refused the API key (apiKey)", status);
		else
			why(m, r, "HTTP %ld%s%.300s", status, *msg ? ": " : "", msg);
		jv_free(hold);
		goto out;
	}
	if (!jv_is_valid(reply) || jv_get_kind(reply) != JV_KIND_OBJECT) {
		why(m, r, "the reply is not a chat completion (%s)",
		    jv_is_valid(reply) ? "not a JSON object" : pe.msg);
		goto out;
	}
	jv choices = member(reply, "choices");
	jv c0 = jv_get_kind(choices) == JV_KIND_ARRAY && jv_array_length(jv_copy(choices)) > 0
			? jv_array_get(jv_copy(choices), 0) : jv_invalid();
	jv msg = member(c0, "message"), fin = member(c0, "finish_reason");
	jv content = member(msg, "content"), refusal = member(msg, "refusal");
	const char *fs = jv_get_kind(fin) == JV_KIND_STRING ? jv_string_value(fin) : "";
	if (jv_get_kind(content) == JV_KIND_STRING)
		r->content = strndup(jv_string_value(content),
				     (size_t)jv_string_length_bytes(jv_copy(content)));
	if (jv_get_kind(msg) != JV_KIND_OBJECT) {
		why(m, r, "the reply has no choices[0].message");
	} else if (jv_get_kind(refusal) == JV_KIND_STRING) {
		r->kind = OAI_REFUSED;
		why(m, r, "the model refused: %.300s", jv_string_value(refusal));
	} else if (!strcmp(fs, "content_filter")) {
		r->kind = OAI_REFUSED;
		why(m, r, "the endpoint's content filter stopped the answer (finish_reason content_filter)");
	} else if (!strcmp(fs, "length")) {
		r->kind = OAI_BAD;
		why(m, r, "the answer was cut at the token limit (finish_reason length%s)",
		    m->max_tokens ? "; maxTokens" : "");
	} else if (!r->content) {
		r->kind = OAI_BAD;
		why(m, r, "the answer has no content");
	} else {
		jrn_err ce;
		r->value = jrn_parse_value(r->content, strlen(r->content), &ce);
		if (jv_is_valid(r->value)) {
			r->kind = OAI_OK;
		} else {
			r->kind = OAI_BAD;
			why(m, r, "the answer is not JSON: %s", ce.msg);
		}
	}
	jv_free(choices), jv_free(c0), jv_free(msg), jv_free(fin), jv_free(content), jv_free(refusal);
out:
	jv_free(reply);
	return r->kind;
}

/* ---- the transfer ---------------------------------------------------------------- */

struct oai_client {
	const oai_model *m;
	CURLM *multi;
	CURL **pool;
	size_t npool, pool_cap;
	int parallel;
	double rtok, ttok; /* the buckets' tokens */
	int64_t refilled;
	uint64_t seed;
	uint64_t requests, connects; /* for -v: connections are reused */
	/* body_parts of the prompt last asked (system, schema_name, schema) */
	jrn_buf pre, post;
	const char *psys, *pname;
	jv pschema;
	struct curl_slist *hdrs; /* headers() */
	/* the circuit breaker (oai_run's comment in openai.h) */
	int down;            /* requests in a row the endpoint did not answer */
	int64_t open_until;  /* > 0: open (ms, monotonic): until then, none sent */
	bool probing;        /* half-open: the one request is in flight */
	char down_why[512];  /* the last of those failures */
};

/* j's body, from the parts of its prompt (built again when the prompt
 * changes). 0 or -1 with e. */
static int body_cached(oai_client *c, oai_job *j, jrn_err *e)
{
	const oai_ask *a = &j->ask;
	if (!c->pre.p || a->system != c->psys || a->schema_name != c->pname ||
	    !jv_identical(jv_copy(a->schema), jv_copy(c->pschema))) {
		jrn_buf_reset(&c->pre);
		jrn_buf_reset(&c->post);
		jv_free(c->pschema);
		c->pschema = jv_copy(a->schema);
		c->psys = a->system, c->pname = a->schema_name;
		if (body_parts(c->m, a, &c->pre, &c->post, e) < 0) {
			jrn_buf_free(&c->pre);
			return -1;
		}
	}
	return body_join(a, &c->pre, &c->post, &j->body, e);
}

oai_client *oai_client_new(const oai_model *m, int parallel, jrn_err *e)
{
	oai_client *c = calloc(1, sizeof *c);
	if (!c)
		return jrn_fail(e, "out of memory"), NULL;
	c->m = m;
	c->parallel = parallel > 0 ? parallel : m->in_flight;
	if (c->parallel > OAI_MAX_IN_FLIGHT)
		c->parallel = OAI_MAX_IN_FLIGHT;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->multi = curl_multi_init())) {
		free(c);
		return jrn_fail(e, "curl: cannot start"), NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->parallel * 2);
	/* a full bucket to begin with: a second's worth, at least one */
	c->rtok = m->rpm > 0 ? fmax(1, m->rpm / 60) : 0;
	c->ttok = m->tpm > 0 ? fmax(1, m->tpm / 60) : 0;
	c->refilled = jrn_mono_ms();
	c->seed = (uint64_t)jrn_mono_ms() ^ (uint64_t)(uintptr_t)c;
	c->pschema = jv_null();
	return c;
}

void oai_client_counts(const oai_client *c, uint64_t *requests, uint64_t *connects)
{
	*requests = c ? c->requests : 0;
	*connects = c ? c->connects : 0;
}

void oai_client_free(oai_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	jrn_buf_free(&c->pre);
	jrn_buf_free(&c->post);
	jv_free(c->pschema);
	curl_slist_free_all(c->hdrs);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	curl_global_cleanup();
	free(c);
}

void oai_job_free(oai_job *j)
{
	jrn_buf_free(&j->body);
	jrn_buf_free(&j->resp);
	oai_reply_free(&j->reply);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	oai_job *j = ud;
	if (j->resp.len + size * n > OAI_MAX_REPLY_BYTES) {
		j->too_long = true;
		return 0; /* CURLE_WRITE_ERROR: said as too long */
	}
	return jrn_buf_add(&j->resp, p, size * n) < 0 ? 0 : size * n;
}

static void easy_put(oai_client *c, CURL *h)
{
	if (c->npool == c->pool_cap) {
		size_t cap = c->pool_cap ? 2 * c->pool_cap : 32;
		CURL **n = realloc(c->pool, cap * sizeof *n);
		if (!n) {
			curl_easy_cleanup(h);
			return;
		}
		c->pool = n, c->pool_cap = cap;
	}
	curl_easy_reset(h);
	c->pool[c->npool++] = h;
}

/* Refills the buckets to now; the wait until both allow j (0: now). */
static int64_t bucket_wait(oai_client *c, const oai_job *j, int64_t now)
{
	const oai_model *m = c->m;
	double dt = (double)(now - c->refilled);
	c->refilled = now;
	int64_t wait = 0;
	if (m->rpm > 0) {
		c->rtok = fmin(fmax(1, m->rpm / 60), c->rtok + dt * m->rpm / 60000.0);
		if (c->rtok < 1)
			wait = (int64_t)ceil((1 - c->rtok) * 60000.0 / m->rpm);
	}
	if (m->tpm > 0) {
		/* a request larger than the bucket goes when it is full: the
		 * bucket runs into debt rather than never allowing it */
		double cap = fmax(1, m->tpm / 60), need = fmin(j->est_tokens, cap);
		c->ttok = fmin(cap, c->ttok + dt * m->tpm / 60000.0);
		if (c->ttok < need) {
			int64_t w = (int64_t)ceil((need - c->ttok) * 60000.0 / m->tpm);
			wait = w > wait ? w : wait;
		}
	}
	return wait > 0 ? wait : 0;
}

/* The request headers every request of c sends, once: the key's line is
 * built whole (jrn_http_header_add cuts at 1023 bytes; an Entra ID token
 * used as the key is longer) and its copy wiped. 0 or -1 (memory). */
static int headers(oai_client *c)
{
	if (jrn_http_header_add(&c->hdrs, "Content-Type: application/json") < 0 ||
	    jrn_http_header_add(&c->hdrs, "Accept: application/json") < 0) {
		curl_slist_free_all(c->hdrs);
		c->hdrs = NULL;
		return -1;
	}
	if (!c->m->api_key)
		return 0;
	jrn_buf b = {0};
	struct curl_slist *n = NULL;
	if (jrn_buf_adds(&b, "Authorization: Bearer ") == 0 && jrn_buf_adds(&b, c->m->api_key) == 0)
		n = curl_slist_append(c->hdrs, b.p);
	if (b.p)
		explicit_bzero(b.p, b.len);
	jrn_buf_free(&b);
	if (!n) {
		curl_slist_free_all(c->hdrs);
		c->hdrs = NULL;
		return -1;
	}
	c->hdrs = n;
	return 0;
}

/* Starts j's next attempt. 0, or -1 (j's reply says why). */
static int start(oai_client *c, oai_job *j)
{
	const oai_model *m = c->m;
	jrn_err e;
	if (!j->body.p && body_cached(c, j, &e) < 0) {
		why(m, &j->reply, "the request cannot be built: %s", e.msg);
		return -1;
	}
	if (!c->hdrs && headers(c) < 0) {
		why(m, &j->reply, "out of memory");
		return -1;
	}
	CURL *h = c->npool ? c->pool[--c->npool] : curl_easy_init();
	if (!h) {
		why(m, &j->reply, "curl: cannot make a handle");
		return -1;
	}
	jrn_buf_reset(&j->resp);
	j->errbuf[0] = 0;
	j->too_long = false;
	curl_easy_setopt(h, CURLOPT_PRIVATE, j);
	curl_easy_setopt(h, CURLOPT_URL, m->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, m->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, m->timeout_ms < 10000 ? m->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body.p);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body.len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "jrn-ai/" JRN_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (m->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
	if (curl_multi_add_handle(c->multi, h) != CURLM_OK) {
		easy_put(c, h);
		why(m, &j->reply, "curl_multi_add_handle failed");
		return -1;
	}
	j->reply.attempts++;
	return 0;
}

/* Says fmt's line through hk's say (-v lines) or, with notice, hk's
 * notice (said unless -q); nothing without that hook. */
static void say(const oai_hooks *hk, bool notice, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const oai_hooks *hk, bool notice, const char *fmt, ...)
{
	void (*fn)(void *, const char *) = !hk ? NULL : notice ? hk->notice : hk->say;
	if (!fn)
		return;
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fn(hk->ctx, msg);
}

/* How many requests in a row the endpoint must fail to answer for the
 * breaker to open: twice what is in flight (a blip that fails every
 * request in flight once is not an outage), at least OAI_BREAKER_MIN_FAILS. */
static int breaker_fails(const oai_client *c)
{
	return 2 * c->parallel > OAI_BREAKER_MIN_FAILS ? 2 * c->parallel : OAI_BREAKER_MIN_FAILS;
}

/* The breaker takes a finished request's outcome: failed (the endpoint did
 * not answer: r->why says how) or answered. Opens, opens again after a
 * half-open request failed, or closes; says so by hk's notice. */
static void breaker_count(oai_client *c, const oai_reply *r, bool failed, const oai_hooks *hk)
{
	if (!failed) {
		if (c->open_until || c->probing)
			say(hk, true, "%s: %s answers again: asking it again", c->m->name, c->m->url_shown);
		c->down = 0;
		c->open_until = 0;
		c->probing = false;
		return;
	}
	/* (a transport failure's why starts with the URL, which is said) */
	size_t ul = strlen(c->m->url_shown);
	const char *w = r->why;
	if (!strncmp(w, c->m->url_shown, ul) && w[ul] == ':' && w[ul + 1] == ' ')
		w += ul + 2;
	snprintf(c->down_why, sizeof c->down_why, "%s", w);
	if (c->down < INT_MAX)
		c->down++;
	if (c->probing || (!c->open_until && c->down >= breaker_fails(c))) {
		if (!c->probing)
			say(hk, true, "%s: %s: %d requests in a row had no answer, the last: %s; the"
				   " rules answer for what would be asked, and one request every %d s"
				   " until it answers", c->m->name, c->m->url_shown, c->down,
			       c->down_why, OAI_BREAKER_OPEN_MS / 1000);
		c->probing = false;
		c->open_until = jrn_mono_ms() + OAI_BREAKER_OPEN_MS;
	}
}

/* Whether the breaker is open at now (ms, monotonic): no request goes.
 * Past its time it is half-open: one request goes, and the others wait
 * for that one's outcome (c->probing). */
static bool breaker_open(const oai_client *c, int64_t now)
{
	return c->open_until && !c->probing && now < c->open_until;
}

/* A finished attempt of j: its reply, or its next try (1: requeued). */
static int finished(oai_client *c, oai_job *j, CURL *h, CURLcode res, const oai_hooks *hk)
{
	const oai_model *m = c->m;
	long code = 0;
	int64_t ra = -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	long nc = 0;
	if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nc) == CURLE_OK && nc > 0)
		c->connects += (uint64_t)nc;
	c->requests++;
	if (res == CURLE_OK)
		ra = jrn_http_retry_after_ms(h, INT64_C(1) << 40);
	oai_reply *r = &j->reply;
	int attempts = r->attempts;
	int64_t waited = r->waited_ms;
	bool transient;
	if (res == CURLE_OK) {
		oai_reply_parse(m, code, j->resp.p, j->resp.len, r);
		transient = r->kind == OAI_FAILED && r->transient;
	} else {
		oai_reply_free(r);
		r->kind = OAI_FAILED;
		if (res == CURLE_OPERATION_TIMEDOUT)
			why(m, r, "no answer within the time-out of %ld ms (timeout)", m->timeout_ms);
		else if (res == CURLE_WRITE_ERROR && j->too_long)
			why(m, r, "the reply is longer than 4 MiB (the limit)");
		else
			why(m, r, "%s: %s", m->url_shown, j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
		transient = res != CURLE_OPERATION_TIMEDOUT && !jrn_http_curl_permanent(res) &&
			    res != CURLE_WRITE_ERROR;
	}
	r->attempts = attempts;
	r->waited_ms = waited;
	r->retry_ms = ra;
	breaker_count(c, r, (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && j->too_long)) ||
				    (res == CURLE_OK && code >= 500), hk);
	if (m->tpm > 0) /* the bucket was charged an estimate: settle it */
		c->ttok += j->est_tokens - (double)(r->prompt_tokens + r->completion_tokens);
	if (!transient)
		return 0;
	if (attempts > m->retries) {
		size_t l = strlen(r->why);
		snprintf(r->why + l, sizeof r->why - l, " (after %d %s)", attempts,
			 attempts == 1 ? "try" : "tries");
		return 0;
	}
	if (ra > OAI_MAX_RETRY_WAIT_MS) {
		size_t l = strlen(r->why);
		snprintf(r->why + l, sizeof r->why - l,
			 " (Retry-After %lld s is over the limit of %d s: not tried again)",
			 (long long)(ra / 1000), OAI_MAX_RETRY_WAIT_MS / 1000);
		return 0;
	}
	int64_t wait = ra >= 0 ? ra : jrn_http_backoff_ms(attempts, OAI_BACKOFF_BASE_MS,
							     OAI_BACKOFF_CAP_MS, &c->seed);
	say(hk, false, "%s: %s; trying again in %lld ms%s", m->name, r->why, (long long)wait,
	    ra >= 0 ? " (Retry-After)" : "");
	j->ready = jrn_mono_ms() + wait;
	j->waiting = wait;
	r->waited_ms += wait;
	return 1;
}

/* long: one loop, like jrn-send's send_all: the queue, the buckets and
 * the multi handle's events read together */
int oai_run(oai_client *c, oai_job *jobs, size_t n, const oai_hooks *hk, jrn_err *e)
{
	const oai_model *m = c->m;
	oai_job **pend = malloc((n ? n : 1) * sizeof *pend);
	if (!pend)
		return jrn_fail(e, "out of memory");
	size_t npend = 0;
	int in_flight = 0;
	for (size_t i = 0; i < n; i++) {
		oai_job *j = &jobs[i];
		oai_reply_free(&j->reply);
		j->ready = 0;
		j->skipped = false;
		pend[npend++] = j;
	}
	/* pend[0..npend) waits; retries go back at its end */
	while (npend || in_flight) {
		int64_t now = jrn_mono_ms(), next = INT64_MAX;
		size_t keep = 0;
		for (size_t i = 0; i < npend; i++) {
			oai_job *j = pend[i];
			if (breaker_open(c, now)) { /* first or again: not sent */
				int tries = j->reply.attempts;
				oai_reply_free(&j->reply);
				j->reply.kind = OAI_FAILED;
				j->reply.attempts = tries;
				if (tries)
					why(m, &j->reply, "no answer after %d %s, not tried again: the last %d"
					    " requests to %s had none (the last: %s)", tries,
					    tries == 1 ? "try" : "tries", c->down, m->url_shown, c->down_why);
				else
					why(m, &j->reply, "not asked: the last %d requests to %s had no answer"
					    " (the last: %s)", c->down, m->url_shown, c->down_why);
				if (hk && hk->done)
					hk->done(hk->ctx, j);
				continue;
			}
			if (in_flight >= c->parallel || j->ready > now || c->probing) {
				if (j->ready > now && j->ready < next)
					next = j->ready;
				pend[keep++] = j;
				continue;
			}
			if (j->reply.attempts == 0 && hk && hk->may_start && !hk->may_start(hk->ctx, j)) {
				j->skipped = true;
				j->reply.kind = OAI_FAILED;
				why(m, &j->reply, "the budget is spent (--budget)");
				if (hk->done)
					hk->done(hk->ctx, j);
				continue;
			}
			if (!j->body.p) {
				jrn_err be;
				if (body_cached(c, j, &be) < 0) {
					j->reply.kind = OAI_FAILED;
					why(m, &j->reply, "the request cannot be built: %s", be.msg);
					if (hk && hk->done)
						hk->done(hk->ctx, j);
					continue;
				}
				/* the TPM limit counts the prompt (about 4 bytes a
				 * token) and the completion allowed */
				j->est_tokens = (double)j->body.len / 4 + (double)(m->max_tokens ? m->max_tokens : 256);
			}
			int64_t w = bucket_wait(c, j, now);
			if (w > 0) {
				if (now + w < next)
					next = now + w;
				pend[keep++] = j;
				continue;
			}
			if (m->rpm > 0)
				c->rtok -= 1;
			if (m->tpm > 0)
				c->ttok -= j->est_tokens;
			c->probing = c->open_until > 0; /* half-open: this is the one */
			if (start(c, j) < 0) {
				c->probing = false;
				j->reply.kind = OAI_FAILED;
				if (hk && hk->done)
					hk->done(hk->ctx, j);
				continue;
			}
			in_flight++;
		}
		/* compact: what waits moves to the front of the array */
		npend = keep;
		if (!in_flight) {
			if (!npend)
				break;
			jrn_sleep_ms(next == INT64_MAX ? 10 : next - jrn_mono_ms());
			continue;
		}
		int running = 0;
		if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
			free(pend);
			return jrn_fail(e, "curl_multi_perform failed");
		}
		CURLMsg *msg;
		int left;
		bool done_any = false;
		while ((msg = curl_multi_info_read(c->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *h = msg->easy_handle;
			CURLcode res = msg->data.result;
			oai_job *j = NULL;
			curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
			int again = finished(c, j, h, res, hk);
			curl_multi_remove_handle(c->multi, h);
			easy_put(c, h);
			in_flight--;
			done_any = true;
			if (again)
				pend[npend++] = j; /* never past n: j left pend when started */
			else if (hk && hk->done)
				hk->done(hk->ctx, j);
		}
		if (done_any)
			continue;
		int64_t ms = next == INT64_MAX ? 1000 : next - jrn_mono_ms();
		ms = ms < 0 ? 0 : ms > 1000 ? 1000 : ms;
		curl_multi_poll(c->multi, NULL, 0, (int)ms, NULL);
	}
	free(pend);
	return 0;
}

/* ---- the model kind: jrn-ai's interface (jrn-ai.h) ------------------------------ */

typedef struct {
	char *content;   /* the answer as written (owned) */
	size_t idx;      /* the core's record index */
} last_answer;

typedef struct {
	oai_model m;
	oai_client *c;
	ai_model *am;
	/* the previous call's answers, for the retry's assistant message:
	 * the core asks again right after the call whose answers failed */
	last_answer *last;
	size_t nlast;
	double call_tokens, call_cost; /* spent in this call so far */
} oai_priv;

static void last_free(oai_priv *P)
{
	for (size_t i = 0; i < P->nlast; i++)
		free(P->last[i].content);
	free(P->last);
	P->last = NULL;
	P->nlast = 0;
}

static int openai_open(ai_model *am, jv conf, jrn_err *e)
{
	oai_priv *P = calloc(1, sizeof *P);
	if (!P)
		return jrn_fail(e, "out of memory");
	am->priv = P;
	P->am = am;
	char where[320];
	snprintf(where, sizeof where, "ai.models.%s", am->name);
	jv cfg = am->run ? am->run->opts.config : jv_null();
	if (oai_model_load(&P->m, am->name, conf, cfg, where, e) == 0)
		return 0;
	/* the caller says "ai.models.NAME: " first: not twice */
	size_t wl = strlen(where);
	if (!strncmp(e->msg, where, wl) && (e->msg[wl] == '.' || e->msg[wl] == ':'))
		memmove(e->msg, e->msg + wl + (e->msg[wl] == '.' ? 1 : 2), strlen(e->msg + wl) + 1 -
			(e->msg[wl] == '.' ? 1 : 2));
	return -1;
}

static void openai_close(ai_model *am)
{
	oai_priv *P = am->priv;
	if (!P)
		return;
	uint64_t nreq, ncon;
	oai_client_counts(P->c, &nreq, &ncon);
	if (nreq && am->run && am->run->opts.verbosity > 0)
		jrn_say(0, "%s: %llu requests over %llu connections", am->name,
			(unsigned long long)nreq, (unsigned long long)ncon);
	oai_client_free(P->c);
	last_free(P);
	oai_model_free(&P->m);
	free(P);
	am->priv = NULL;
}

static bool may_start(void *ctx, oai_job *j)
{
	(void)j;
	oai_priv *P = ctx;
	const ai_run *run = P->am->run;
	/* --budget within one call: what this call has spent counts too */
	return !((run->budget_tokens > 0 && run->spent_tokens + P->call_tokens >= run->budget_tokens) ||
		 (run->budget_cost > 0 && run->spent_cost + P->call_cost >= run->budget_cost));
}

static void job_done(void *ctx, oai_job *j)
{
	oai_priv *P = ctx;
	P->call_tokens += (double)(j->reply.prompt_tokens + j->reply.completion_tokens);
	P->call_cost += j->reply.cost;
}

static void say_verbose(void *ctx, const char *msg)
{
	oai_priv *P = ctx;
	if (P->am->run->opts.verbosity > 0)
		jrn_say(0, "%s", msg);
}

/* The breaker's opening and closing: said unless -q. */
static void say_notice(void *ctx, const char *msg)
{
	oai_priv *P = ctx;
	if (P->am->run->opts.verbosity >= 0)
		jrn_say(0, "%s", msg);
}

static int openai_run(ai_model *am, ai_req *reqs, size_t n, const ai_prompt *p, jrn_err *e)
{
	oai_priv *P = am->priv;
	if (!P->c && !(P->c = oai_client_new(&P->m, am->run->parallel, e)))
		return -1;
	oai_job *jobs = calloc(n ? n : 1, sizeof *jobs);
	if (!jobs)
		return jrn_fail(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ai_req *r = &reqs[i];
		oai_ask *a = &jobs[i].ask;
		a->system = p->text;
		a->input = r->input;
		a->schema = p->schema;
		a->schema_name = p->schema_name;
		a->errors = r->errors;
		if (jv_get_kind(r->errors) == JV_KIND_ARRAY)
			for (size_t k = 0; k < P->nlast; k++)
				if (P->last[k].idx == r->idx)
					a->prev = P->last[k].content;
		jobs[i].reply.value = jv_invalid();
	}
	P->call_tokens = P->call_cost = 0;
	oai_hooks h = {.may_start = may_start, .done = job_done, .say = say_verbose,
		       .notice = say_notice, .ctx = P};
	int rc = oai_run(P->c, jobs, n, &h, e);
	last_free(P);
	P->last = calloc(n ? n : 1, sizeof *P->last);
	for (size_t i = 0; i < n; i++) {
		ai_req *r = &reqs[i];
		oai_reply *y = &jobs[i].reply;
		r->tokens_in = (long)y->prompt_tokens;
		r->tokens_out = (long)y->completion_tokens;
		r->cost = y->cost;
		jv_free(r->answer);
		r->answer = jv_invalid();
		free(r->why);
		r->why = NULL;
		if (rc == 0 && y->kind == OAI_OK) {
			r->answer = y->value;
			y->value = jv_invalid();
		} else {
			r->why = strdup(rc == 0 ? y->why : e->msg);
		}
		if (P->last && y->content) {
			P->last[P->nlast].idx = r->idx;
			P->last[P->nlast++].content = y->content;
			y->content = NULL;
		}
		oai_job_free(&jobs[i]);
	}
	free(jobs);
	return rc;
}

_Static_assert(OAI_MAX_IN_FLIGHT == AI_MAX_PARALLEL, "inFlight and --parallel: one limit");

static const char *const answer_keys[] = {"model", "baseUrl", "temperature", "maxTokens", NULL};

const ai_model_ops openai_ops = {
	.kind = "openai",
	.network = true,
	.answer_keys = answer_keys,
	.open = openai_open,
	.run = openai_run,
	.close = openai_close,
};
