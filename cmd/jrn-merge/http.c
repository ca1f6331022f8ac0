/*
 * http.c: the `http` source type (jrn-merge(1), SOURCES). A GET of a URL
 * template per customer ({customerId} percent-encoded, RFC 3986), headers
 * from the config (values may come from ${NAME}; never printed), the
 * payload at a JSON pointer (RFC 6901) of the body. 404: the source knows
 * nothing of the customer. Retries on network errors, 408, 425, 429 and
 * 5xx (lib/http.c's rule) after Retry-After (at most RETRY_AFTER_MAX_MS)
 * or an exponential backoff with jitter. Answers 200 and 404 are kept in
 * the state file's source_cache for cacheTtl; failures never are.
 *
 * The network (merge_net): one curl multi handle for every request of
 * every record, at most `parallel` easy handles in it (the others wait in
 * a FIFO, retries in a list by due time), easy handles pooled and
 * connections reused (keep-alive).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "jrn-merge.h"

/* Limits (jrn-merge(1), SOURCES). */
#define BODY_MAX (16 << 20)        /* a response body */
#define RETRY_AFTER_MAX_MS 60000   /* a Retry-After wait */
#define BACKOFF_BASE_MS 100        /* the first retry's backoff */
#define BACKOFF_MAX_MS 10000
#define RETRIES_MAX 10
#define TIMEOUT_MAX_MS 600000      /* a request's time-out: 10 min */

typedef struct {
	char *url;               /* the template */
	struct curl_slist *hdrs; /* "Name: value" lines */
	char *pointer;           /* NULL: the whole body */
	int64_t timeout_ms, ttl_ms; /* ttl_ms -1: no cache */
	int retries;
} http_src;

typedef struct req req;
struct req {
	merge_source *s;
	merge_slot *slot;
	char *url, *customer;
	size_t limit;
	CURL *easy;
	jrn_buf body;
	int tries;
	int64_t due; /* monotonic ms: when a retry may go */
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	req *next, *prev; /* in fresh or retry (next only), or in live */
};

struct merge_net {
	CURLM *multi;
	long parallel, running;
	req *fresh, *fresh_tail; /* waiting to go, in order */
	req *retry;              /* waiting for their due time */
	req *live;               /* on the wire */
	long queued;             /* in fresh and retry */
	CURL **pool;
	size_t npool, pool_cap;
	sqlite3 *db;
	sqlite3_stmt *get, *put;
	uint64_t seed, requests;
	jrn_err fatal;
	bool failed;
};

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* "2s" or "250ms": a duration as a message shows it. */
static void fmt_ms(char *b, size_t n, int64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(b, n, "%llds", (long long)(ms / 1000));
	else
		snprintf(b, n, "%lldms", (long long)ms);
}

/* ---- load ------------------------------------------------------------------------ */

/* An RFC 7230 token: a header name. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
		    !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
			return false;
	return true;
}

/* RFC 6901: "" or "/" followed by tokens, "~" only as ~0 or ~1. */
static bool is_pointer(const char *p)
{
	if (*p && *p != '/')
		return false;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return false;
	return true;
}

static int load_headers(http_src *h, jv conf, jrn_err *e)
{
	jv hs = jv_object_get(jv_copy(conf), jv_string("headers"));
	int rc = 0;
	if (jv_get_kind(hs) == JV_KIND_OBJECT) {
		jv_object_foreach(hs, k, v) {
			const char *name = jv_string_value(k);
			if (rc == 0 && !is_token(name))
				rc = jrn_fail(e, "headers: '%s' is not a header name", name);
			else if (rc == 0 && jv_get_kind(v) != JV_KIND_STRING)
				rc = jrn_fail(e, "headers.%s: expected a string", name);
			else if (rc == 0 && strpbrk(jv_string_value(v), "\r\n"))
				/* the value is never shown: it may be a secret */
				rc = jrn_fail(e, "headers.%s: a value holds a line break", name);
			else if (rc == 0 &&
				 jrn_http_header_add(&h->hdrs, "%s: %s", name, jv_string_value(v)) < 0)
				rc = jrn_fail(e, "out of memory");
			jv_free(k);
			jv_free(v);
		}
	} else if (jv_is_valid(hs) && jv_get_kind(hs) != JV_KIND_NULL) {
		rc = jrn_fail(e, "headers: expected a mapping of header names to values");
	} else if (!jv_is_valid(hs)) {
		jv m = jv_invalid_get_msg(jv_copy(hs));
		if (jv_get_kind(m) == JV_KIND_STRING)
			rc = jrn_fail(e, "%s", jv_string_value(m));
		jv_free(m);
	}
	jv_free(hs);
	return rc;
}

static int http_load(merge_source *s, jv conf, jrn_err *e)
{
	http_src *h = calloc(1, sizeof *h);
	if (!h)
		return jrn_fail(e, "out of memory");
	s->priv = h;
	h->timeout_ms = 10000;
	h->ttl_ms = -1;
	h->retries = 2;
	jrn_err why;
	int64_t n;
	int got;
	if (!s->net)
		return jrn_fail(e, "no network (internal)");
	if (jrn_config_string(conf, "url", &h->url, &why) <= 0)
		return jrn_fail(e, "url: an http source needs a url");
	if (strncmp(h->url, "http://", 7) && strncmp(h->url, "https://", 8))
		return jrn_fail(e, "url: expected an http:// or https:// URL");
	if ((got = jrn_config_string(conf, "pointer", &h->pointer, &why)) < 0)
		return jrn_fail(e, "pointer: %s", why.msg);
	if (got > 0 && !is_pointer(h->pointer))
		return jrn_fail(e, "pointer: '%s' is not a JSON pointer (RFC 6901: \"\" or /a/b)", h->pointer);
	if ((got = jrn_config_duration(conf, "timeout", &h->timeout_ms, &why)) < 0 ||
	    (got > 0 && (h->timeout_ms < 1 || h->timeout_ms > TIMEOUT_MAX_MS)))
		return jrn_fail(e, "timeout: expected a duration from 1ms to 10m (the limit)");
	if ((got = jrn_config_duration(conf, "cacheTtl", &h->ttl_ms, &why)) < 0)
		return jrn_fail(e, "cacheTtl: %s", why.msg);
	if ((got = jrn_config_int(conf, "retries", &n, &why)) < 0 ||
	    (got > 0 && (n < 0 || n > RETRIES_MAX)))
		return jrn_fail(e, "retries: expected an integer from 0 to %d (the limit)", RETRIES_MAX);
	if (got > 0)
		h->retries = (int)n;
	if (jrn_config_string(conf, "key", &s->key, &why) < 0)
		return jrn_fail(e, "key: %s", why.msg);
	if (!s->key && !(s->key = strdup("customerId")))
		return jrn_fail(e, "out of memory");
	s->ts = jrn_now();
	return load_headers(h, conf, e);
}

static void http_done(merge_source *s)
{
	http_src *h = s->priv;
	if (!h)
		return;
	free(h->url);
	free(h->pointer);
	curl_slist_free_all(h->hdrs);
	free(h);
}

/* ---- answers ----------------------------------------------------------------------- */

static void slot_done(merge_slot *slot, int got)
{
	slot->got = got;
	slot->done = true;
	(*slot->left)--;
}

/* The value at pointer p (RFC 6901) of v (consumed), or jv_invalid. */
static jv at_pointer(jv v, const char *p)
{
	jrn_buf tok = {0};
	while (*p == '/' && jv_is_valid(v)) {
		const char *end = strchr(p + 1, '/');
		size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
		jrn_buf_reset(&tok);
		for (size_t i = 0; i < n; i++) {
			char c = p[1 + i];
			if (c == '~') {
				c = p[2 + i] == '1' ? '/' : '~';
				i++;
			}
			jrn_buf_addc(&tok, c);
		}
		const char *t = tok.p ? tok.p : "";
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			v = jv_object_get(v, jv_string(t));
		} else if (jv_get_kind(v) == JV_KIND_ARRAY) {
			char *x;
			long i = strtol(t, &x, 10);
			bool ok = *t && !*x && (t[0] != '0' || !t[1]) && t[0] != '-' && t[0] != '+';
			if (ok && i < jv_array_length(jv_copy(v)))
				v = jv_array_get(v, (int)i);
			else {
				jv_free(v);
				v = jv_invalid();
			}
		} else {
			jv_free(v);
			v = jv_invalid();
		}
		p += 1 + n;
	}
	jrn_buf_free(&tok);
	return v;
}

/* The payload of body[0..n) for a slot: 1 with slot->value, 0 (null: the
 * source knows nothing), -1 with slot->why. */
static int payload(const http_src *h, const char *body, size_t n, size_t limit, merge_slot *slot)
{
	jrn_err why;
	jv v = jrn_parse_value(body ? body : "", n, &why);
	if (!jv_is_valid(v)) {
		const char *m = why.msg;
		if (!strncmp(m, "invalid JSON", 12))
			return jrn_fail(&slot->why, "body is not JSON%s", m + 12);
		return jrn_fail(&slot->why, "body: %s", m);
	}
	if (h->pointer) {
		v = at_pointer(v, h->pointer);
		if (!jv_is_valid(v))
			return jrn_fail(&slot->why, "no %s in the body", h->pointer);
	}
	jv_kind k = jv_get_kind(v);
	if (k == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (k != JV_KIND_OBJECT && k != JV_KIND_ARRAY) {
		jv_free(v);
		return jrn_fail(&slot->why, "the payload%s%s is %s, not an object or an array",
				h->pointer ? " at " : "", h->pointer ? h->pointer : "",
				jrn_kind_phrase(k, false));
	}
	if (k == JV_KIND_ARRAY && (size_t)jv_array_length(jv_copy(v)) > limit)
		v = jv_array_slice(v, 0, (int)limit);
	jrn_buf_reset(&slot->value);
	if (jrn_json_append(&slot->value, v, 0, &why) < 0)
		return jrn_fail(&slot->why, "%s", why.msg);
	return 1;
}

/* Keeps an answer (status 200 with body, or 404) for the cache. */
static void cache_put(merge_net *N, const merge_source *s, const char *customer, int status,
		      const jrn_buf *body)
{
	if (!N->put || N->failed || ((const http_src *)s->priv)->ttl_ms < 0)
		return;
	sqlite3_reset(N->put);
	sqlite3_bind_text(N->put, 1, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(N->put, 2, customer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(N->put, 3, jrn_now());
	sqlite3_bind_int(N->put, 4, status);
	if (body)
		sqlite3_bind_text(N->put, 5, body->p, (int)body->len, SQLITE_STATIC);
	else
		sqlite3_bind_null(N->put, 5);
	if (sqlite3_step(N->put) != SQLITE_DONE) {
		jrn_fail(&N->fatal, "source_cache: %s", sqlite3_errmsg(N->db));
		N->failed = true;
	}
	sqlite3_reset(N->put);
}

/* A fresh cached answer of s for customer into slot: 1 (slot done), 0 none. */
static int cache_get(merge_net *N, const merge_source *s, const char *customer, merge_slot *slot)
{
	const http_src *h = s->priv;
	if (h->ttl_ms < 0 || !N->get)
		return 0;
	sqlite3_reset(N->get);
	sqlite3_bind_text(N->get, 1, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(N->get, 2, customer, -1, SQLITE_STATIC);
	int rc = 0;
	if (sqlite3_step(N->get) == SQLITE_ROW &&
	    jrn_now() - sqlite3_column_int64(N->get, 0) < h->ttl_ms) {
		int status = sqlite3_column_int(N->get, 1);
		jrn_buf_reset(&slot->value);
		if (status == 200 && sqlite3_column_type(N->get, 2) == SQLITE_TEXT) {
			jrn_buf_add(&slot->value, sqlite3_column_text(N->get, 2),
				    (size_t)sqlite3_column_bytes(N->get, 2));
			slot_done(slot, 1);
			rc = 1;
		} else if (status == 404) {
			slot_done(slot, 0);
			rc = 1;
		}
	}
	sqlite3_reset(N->get);
	return rc;
}

/* ---- requests ---------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	req *q = ctx;
	if (q->body.len + n > BODY_MAX) {
		q->too_big = true;
		return 0;
	}
	return jrn_buf_add(&q->body, p, n) < 0 ? 0 : n;
	(void)size;
}

static void req_free(req *q)
{
	free(q->url);
	free(q->customer);
	jrn_buf_free(&q->body);
	free(q);
}

static void release_easy(merge_net *N, req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		N->live = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->next = q->prev = NULL;
	curl_multi_remove_handle(N->multi, q->easy);
	N->running--;
	if (N->npool < N->pool_cap)
		N->pool[N->npool++] = q->easy;
	else
		curl_easy_cleanup(q->easy);
	q->easy = NULL;
}

/* Puts q on the wire. 0, or -1 (curl, memory: the slot gets why). */
static int send_req(merge_net *N, req *q)
{
	const http_src *h = q->s->priv;
	CURL *c = N->npool ? N->pool[--N->npool] : curl_easy_init();
	if (!c)
		return -1;
	curl_easy_reset(c);
	jrn_buf_reset(&q->body);
	q->too_big = false;
	q->errbuf[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(c, CURLOPT_PRIVATE, q);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "jrn-merge/" JRN_VERSION);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (curl_multi_add_handle(N->multi, c) != CURLM_OK) {
		curl_easy_cleanup(c);
		return -1;
	}
	q->easy = c;
	q->prev = NULL;
	if ((q->next = N->live))
		N->live->prev = q;
	N->live = q;
	q->tries++;
	N->running++;
	N->requests++;
	return 0;
}

/* Starts waiting requests up to the bound: due retries first. */
static void launch(merge_net *N)
{
	int64_t now = N->retry ? mono_ms() : 0;
	for (req **pp = &N->retry; *pp && N->running < N->parallel;) {
		req *q = *pp;
		if (q->due > now) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		N->queued--;
		if (send_req(N, q) < 0) {
			jrn_fail(&q->slot->why, "could not start a request (memory)");
			slot_done(q->slot, -1);
			req_free(q);
		}
	}
	while (N->fresh && N->running < N->parallel) {
		req *q = N->fresh;
		if (!(N->fresh = q->next))
			N->fresh_tail = NULL;
		N->queued--;
		if (send_req(N, q) < 0) {
			jrn_fail(&q->slot->why, "could not start a request (memory)");
			slot_done(q->slot, -1);
			req_free(q);
		}
	}
}

/* The end of q's transfer with curl result rc: another try, or its slot
 * done. */
static void finish(merge_net *N, req *q, CURLcode rc)
{
	const http_src *h = q->s->priv;
	long code = 0;
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &code);
	bool again = rc == CURLE_OK ? jrn_http_transient(code)
				    : !q->too_big && !jrn_http_curl_permanent(rc);
	if (again && q->tries <= h->retries) {
		int64_t wait = rc == CURLE_OK ? jrn_http_retry_after_ms(q->easy, RETRY_AFTER_MAX_MS) : -1;
		if (wait < 0)
			wait = jrn_http_backoff_ms(q->tries, BACKOFF_BASE_MS, BACKOFF_MAX_MS, &N->seed);
		release_easy(N, q);
		q->due = mono_ms() + wait;
		q->next = N->retry;
		N->retry = q;
		N->queued++;
		return;
	}
	merge_slot *slot = q->slot;
	/* "HTTP 503 after 3 tries", "timed out after 2s (3 tries)" */
	char after[48] = "", paren[48] = "", d[32];
	if (q->tries > 1) {
		snprintf(after, sizeof after, " after %d tries", q->tries);
		snprintf(paren, sizeof paren, " (%d tries)", q->tries);
	}
	int got = -1;
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		fmt_ms(d, sizeof d, h->timeout_ms);
		jrn_fail(&slot->why, "timed out after %s%s", d, paren);
	} else if (q->too_big) {
		jrn_fail(&slot->why, "a body over %d bytes (the limit)", BODY_MAX);
	} else if (rc != CURLE_OK) {
		jrn_fail(&slot->why, "%s%s", q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc), paren);
	} else if (code == 404) {
		got = 0;
		cache_put(N, q->s, q->customer, 404, NULL);
	} else if (code < 200 || code > 299) {
		jrn_fail(&slot->why, "HTTP %ld%s", code, after);
	} else if ((got = payload(h, q->body.p, q->body.len, q->limit, slot)) == 1) {
		cache_put(N, q->s, q->customer, 200, &slot->value);
	} else if (got == 0) {
		cache_put(N, q->s, q->customer, 404, NULL);
	}
	release_easy(N, q);
	slot_done(slot, got);
	req_free(q);
}

static int http_start(merge_source *s, const char *customer, size_t n, size_t limit, merge_slot *slot,
		      jrn_err *e)
{
	merge_net *N = s->net;
	const http_src *h = s->priv;
	slot->done = false;
	slot->got = 0;
	slot->why.msg[0] = 0;
	if (cache_get(N, s, customer, slot))
		return 0;
	req *q = calloc(1, sizeof *q);
	if (!q || !(q->customer = strndup(customer, n))) {
		free(q);
		return jrn_fail(e, "out of memory");
	}
	jrn_buf url = {0};
	for (const char *p = h->url; *p;) {
		const char *t = strstr(p, "{customerId}");
		size_t k = t ? (size_t)(t - p) : strlen(p);
		jrn_buf_add(&url, p, k);
		if (!t)
			break;
		jrn_http_pct_encode(&url, customer, n);
		p = t + strlen("{customerId}");
	}
	if (!url.p) {
		req_free(q);
		return jrn_fail(e, "out of memory");
	}
	q->url = url.p;
	q->s = s;
	q->slot = slot;
	q->limit = limit;
	if (N->fresh_tail)
		N->fresh_tail->next = q;
	else
		N->fresh = q;
	N->fresh_tail = q;
	N->queued++;
	return 0;
}

const merge_source_ops merge_http_ops = {"http", http_load, NULL, http_start, http_done};

/* ---- the network --------------------------------------------------------------------- */

merge_net *merge_net_open(long parallel, jrn_err *e)
{
	merge_net *N = calloc(1, sizeof *N);
	if (!N || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(N->multi = curl_multi_init())) {
		free(N);
		jrn_fail(e, "cannot set up curl");
		return NULL;
	}
	N->parallel = parallel;
	N->pool_cap = (size_t)parallel;
	N->pool = calloc(N->pool_cap, sizeof *N->pool);
	N->seed = (uint64_t)mono_ms() ^ ((uint64_t)getpid() << 32);
	curl_multi_setopt(N->multi, CURLMOPT_MAXCONNECTS, parallel);
	curl_multi_setopt(N->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, parallel);
	if (!N->pool) {
		merge_net_close(N);
		jrn_fail(e, "out of memory");
		return NULL;
	}
	return N;
}

int merge_net_db(merge_net *N, sqlite3 *db, jrn_err *e)
{
	N->db = db;
	if (sqlite3_prepare_v2(db,
			       "SELECT fetched_at, status, body FROM source_cache "
			       "WHERE source = ?1 AND customer_id = ?2",
			       -1, &N->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO source_cache (source, customer_id, fetched_at, status, body) "
			       "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source, customer_id) DO UPDATE "
			       "SET fetched_at = excluded.fetched_at, status = excluded.status, "
			       "body = excluded.body",
			       -1, &N->put, NULL) != SQLITE_OK)
		return jrn_fail(e, "source_cache: %s", sqlite3_errmsg(db));
	return 0;
}

long merge_net_run(merge_net *N, bool wait, jrn_err *e)
{
	int still;
	launch(N);
	if (wait) {
		int timeout = 1000;
		int64_t now = mono_ms();
		for (req *q = N->retry; q; q = q->next)
			if (q->due - now < timeout)
				timeout = q->due - now < 0 ? 0 : (int)(q->due - now);
		curl_multi_poll(N->multi, NULL, 0, timeout, NULL);
	}
	curl_multi_perform(N->multi, &still);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(N->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			req *q;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
			finish(N, q, m->data.result);
		}
	launch(N);
	if (N->failed)
		return jrn_fail(e, "%s", N->fatal.msg);
	return N->running + N->queued;
}

uint64_t merge_net_requests(const merge_net *N)
{
	return N ? N->requests : 0;
}

static void free_list(req *q)
{
	while (q) {
		req *n = q->next;
		req_free(q);
		q = n;
	}
}

void merge_net_close(merge_net *N)
{
	if (!N)
		return;
	free_list(N->fresh);
	free_list(N->retry);
	while (N->live) {
		req *q = N->live;
		release_easy(N, q);
		req_free(q);
	}
	for (size_t i = 0; i < N->npool; i++)
		curl_easy_cleanup(N->pool[i]);
	free(N->pool);
	if (N->multi)
		curl_multi_cleanup(N->multi);
	sqlite3_finalize(N->get);
	sqlite3_finalize(N->put);
	curl_global_cleanup();
	free(N);
}
