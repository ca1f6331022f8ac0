/*
 * listen.c: jrn-ingest --listen, the HTTP server (listen.h draws a
 * request's life). libmicrohttpd reads and answers on its own thread(s)
 * (ingest.listen.threads, epoll); one writer thread owns the state file
 * and commits what the requests waiting for it emitted, in one
 * transaction per group; the main thread waits for SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "listen.h"

/* ---- settings (read once; the handler threads only read them) ------------ */

typedef struct {
	char *name;
	char *bearer, *hmac; /* one of them; from ${NAME}s: never printed */
	char *sig_header, *ts_header;
	int64_t window_ms;
} source;

static struct {
	int64_t max_body, timeout_ms, retry_ms;
	int max_conn, threads;
	char *public_url; /* without a trailing '/' */
	char *tls_cert, *tls_key;
	source *sources;
	size_t nsources;
	listen_endpoint *endpoints;
	size_t nendpoints;
} cfg;

static listen_env *env;
static bool tls;

/* ---- the route table -------------------------------------------------------
 *
 * track.c (branch track) wires its rows by replacing listen_not_yet. The
 * endpoints of ingest.listen.endpoints follow (built at start). */
static int healthz(listen_req *req, listen_reply *rep);

static const listen_route fixed_routes[] = {
	{"GET", "/healthz", false, LISTEN_AUTH_NONE, healthz, NULL, NULL},
	{"POST", "/events", false, LISTEN_AUTH_SOURCE, listen_events_handle, listen_events_done, NULL},
	{"GET", "/o/", true, LISTEN_AUTH_NONE, listen_track_open, NULL, NULL},
	{"GET", "/c/", true, LISTEN_AUTH_NONE, listen_track_click, NULL, NULL},
	{"GET", "/u/", true, LISTEN_AUTH_NONE, listen_unsub_page, NULL, NULL},
	{"POST", "/u/", true, LISTEN_AUTH_NONE, listen_unsub_post, NULL, NULL},
	{"POST", "/twilio/inbound", false, LISTEN_AUTH_HANDLER, listen_twilio_inbound, NULL, NULL},
	{"POST", "/twilio/status", false, LISTEN_AUTH_HANDLER, listen_twilio_status, NULL, NULL},
};
#define NFIXED (sizeof fixed_routes / sizeof fixed_routes[0])

static listen_route *routes;
static size_t nroutes;

int listen_not_yet(listen_req *req, listen_reply *rep)
{
	return listen_reply_error(rep, 404, "no such path: %s", req->path);
}

static bool route_matches(const listen_route *r, const char *path)
{
	if (r->prefix)
		return !strncmp(path, r->path, strlen(r->path)) && path[strlen(r->path)];
	return !strcmp(path, r->path);
}

/* The route for method and path, or NULL with *path_known set when some
 * route takes the path with another method (allow gets their list). */
static const listen_route *route_find(const char *method, const char *path, bool *path_known,
				      char *allow, size_t allow_size)
{
	*path_known = false;
	allow[0] = 0;
	for (size_t i = 0; i < nroutes; i++) {
		if (!route_matches(&routes[i], path))
			continue;
		if (!strcmp(routes[i].method, method))
			return &routes[i];
		if (!strstr(allow, routes[i].method)) {
			size_t n = strlen(allow);
			snprintf(allow + n, allow_size - n, "%s%s", n ? ", " : "", routes[i].method);
		}
		*path_known = true;
	}
	return NULL;
}

/* ---- a request in the server --------------------------------------------------- */

enum { PH_READING, PH_QUEUED, PH_STORED, PH_FAILED };

typedef struct {
	size_t off, len;   /* the line in lines */
	char *reason;      /* rejected before record.c (the handler's), owned */
} eline;

typedef struct {
	listen_write_fn fn;
	void *arg;
	void (*free_arg)(void *);
} ewrite;

typedef struct conn_state {
	listen_req req; /* first: a listen_req * is a conn_state * */
	struct MHD_Connection *conn;
	char *raw_uri;
	char *path;
	jrn_buf body;
	bool too_big, answered;
	int phase;
	listen_reply rep;
	/* what the handler emitted */
	jrn_buf lines;
	eline *el;
	size_t nel, elcap;
	ewrite *w;
	size_t nw;
	/* what the writer made of it */
	listen_result *results;
	jrn_buf rtext; /* ids and reasons; results point into it */
	listen_param *form;
	char *form_text;
	struct conn_link *link;
	struct conn_state *next;
} conn_state;

/* A connection, for the reaper: a request must come in whole within
 * ingest.listen.timeout of the connection's opening or of its previous
 * reply (MHD's own time-out only closes connections idle that long, and a
 * client sending a byte a second is never idle). */
typedef struct conn_link {
	struct conn_link *prev, *next;
	int fd;
	int64_t since;  /* CLOCK_MONOTONIC ms: opened, or the last reply done */
	bool serving;   /* the request is in: being handled or stored */
} conn_link;

static pthread_mutex_t links_mu = PTHREAD_MUTEX_INITIALIZER;
static conn_link *links;

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void link_serving(conn_link *l, bool on)
{
	if (!l)
		return;
	pthread_mutex_lock(&links_mu);
	l->serving = on;
	l->since = mono_ms();
	pthread_mutex_unlock(&links_mu);
}

/* Shuts down the connections past their time (the main thread, once a
 * second); MHD then sees them closed and frees them. */
static void reap(void)
{
	int64_t now = mono_ms();
	pthread_mutex_lock(&links_mu);
	for (conn_link *l = links; l; l = l->next)
		if (!l->serving && l->fd >= 0 && now - l->since > cfg.timeout_ms) {
			shutdown(l->fd, SHUT_RDWR);
			l->since = INT64_MAX / 2;
		}
	pthread_mutex_unlock(&links_mu);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;      /* the writer waits: queued, quit */
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER; /* the main thread: active is 0 */
static conn_state *q_head, *q_tail;
static bool writer_quit;
static size_t active;      /* requests begun and not yet completed */
static uint64_t requests;  /* numbered from 1 */
static bool output_failed;

/* ---- the request's helpers (listen.h) ---------------------------------------- */

const char *listen_header(const listen_req *req, const char *name)
{
	const conn_state *c = (const conn_state *)req;
	return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

const char *listen_form_get(const listen_req *req, const char *name)
{
	for (size_t i = 0; i < req->nform; i++)
		if (!strcmp(req->form[i].name, name))
			return req->form[i].value;
	return NULL;
}

const char *listen_query_get(const listen_req *req, const char *name)
{
	const conn_state *c = (const conn_state *)req;
	return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, name);
}

static int add_line(conn_state *c, const char *json, size_t len, char *reason)
{
	if (c->nel >= LISTEN_MAX_LINES) {
		free(reason);
		return -1;
	}
	if (c->nel == c->elcap) {
		size_t cap = c->elcap ? c->elcap * 2 : 8;
		eline *p = realloc(c->el, cap * sizeof *p);
		if (!p) {
			free(reason);
			return -1;
		}
		c->el = p;
		c->elcap = cap;
	}
	c->el[c->nel] = (eline){c->lines.len, len, reason};
	if (jrn_buf_add(&c->lines, json, len) < 0) {
		free(reason);
		return -1;
	}
	c->nel++;
	return 0;
}

int listen_emit(listen_req *req, const char *json, size_t len)
{
	return add_line((conn_state *)req, json, len, NULL);
}

int listen_emit_jv(listen_req *req, jv ev)
{
	jrn_buf b = {0};
	jrn_err e;
	int rc = jrn_json_append(&b, ev, 0, &e);
	if (rc == 0)
		rc = listen_emit(req, b.p, b.len);
	jrn_buf_free(&b);
	return rc;
}

int listen_emit_rejected(listen_req *req, const char *json, size_t len, const char *reason)
{
	char *r = strdup(reason);
	if (!r)
		return -1;
	return add_line((conn_state *)req, json, len, r);
}

int listen_emit_write(listen_req *req, listen_write_fn fn, void *arg, void (*free_arg)(void *))
{
	conn_state *c = (conn_state *)req;
	ewrite *p = realloc(c->w, (c->nw + 1) * sizeof *p);
	if (!p)
		return -1;
	c->w = p;
	c->w[c->nw++] = (ewrite){fn, arg, free_arg};
	return 0;
}

/* ---- the reply's helpers -------------------------------------------------------- */

int listen_reply_header(listen_reply *rep, const char *name, const char *value)
{
	if (rep->nheaders >= 8)
		return -1;
	char *n = strdup(name), *v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -1;
	}
	rep->headers[rep->nheaders].name = n;
	rep->headers[rep->nheaders].value = v;
	rep->nheaders++;
	return 0;
}

int listen_reply_set(listen_reply *rep, int status, const char *type, const char *s, size_t n)
{
	rep->status = status;
	rep->content_type = type;
	jrn_buf_reset(&rep->body);
	return jrn_buf_add(&rep->body, s, n);
}

int listen_reply_error(listen_reply *rep, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rep->status = status;
	rep->content_type = "application/json";
	jrn_buf_reset(&rep->body);
	jrn_buf_adds(&rep->body, "{\"error\":");
	jrn_json_append_str(&rep->body, msg, strlen(msg));
	jrn_buf_adds(&rep->body, "}\n");
	return -1;
}

static void reply_free(listen_reply *rep)
{
	jrn_buf_free(&rep->body);
	for (int i = 0; i < rep->nheaders; i++) {
		free(rep->headers[i].name);
		free(rep->headers[i].value);
	}
	rep->nheaders = 0;
}

/* ---- the writer thread: group commit ---------------------------------------------- */

/* Where record.c's rejects say why: jrn_reject writes "PROG: FILE:LINE:
 * REASON" there, and the writer reads the reason back for the reply. */
static FILE *why_f;
static char *why_p;
static size_t why_n;
static bool quiet;
static uint64_t why_rewound = UINT64_MAX; /* rej->count when why_f was last rewound */

static int take_lines(batch *b, conn_state *c, size_t *first, jrn_err *fatal)
{
	char file[600];
	snprintf(file, sizeof file, "%s %s#%llu", c->req.method, c->req.path,
		 (unsigned long long)c->req.number);
	jrn_rejects *rej = env->rej;
	for (size_t i = 0; i < c->nel; i++) {
		eline *l = &c->el[i];
		jrn_line ln = {file, i + 1, c->lines.p + l->off, l->len};
		size_t n0 = b->n;
		first[i] = SIZE_MAX;
		if (l->reason) {
			if (jrn_reject(rej, file, i + 1, ln.p, ln.len, l->reason, fatal) < 0)
				return -1;
			continue;
		}
		/* back to the start of why_f when a reject wrote there (jrn_reject
		 * counts every one it writes): not once a line */
		if (rej->count != why_rewound) {
			fseek(why_f, 0, SEEK_SET);
			why_rewound = rej->count;
		}
		uint64_t rc0 = rej->count;
		if (env->take_line(b, &ln, rej, fatal) < 0)
			return -1;
		if (b->n > n0) {
			first[i] = n0;
			continue;
		}
		if (rej->count == rc0)
			continue;
		fflush(why_f);
		char *nl = memchr(why_p, '\n', why_n);
		size_t len = nl ? (size_t)(nl - why_p) : why_n;
		if (!quiet)
			fprintf(stderr, "%.*s\n", (int)len, why_p);
		/* the reason: after "PROG: FILE:LINE: " */
		char pre[700];
		int pl = snprintf(pre, sizeof pre, "%s: %s:%zu: ", rej->prog, file, i + 1);
		const char *why = why_p, *end = why_p + len;
		if (pl > 0 && (size_t)pl <= len && !memcmp(why_p, pre, pl))
			why += pl;
		l->reason = strndup(why, end - why);
		if (!l->reason)
			return jrn_fail(fatal, "out of memory");
	}
	return 0;
}

/* Results for c from the group's batch b (fresh per record, as
 * env->store_batch set it). 0, or -1 when c is to be answered 503: out of
 * memory, or (--publish) one of its events not acknowledged. */
static int make_results(conn_state *c, const batch *b, const unsigned char *fresh,
			const size_t *first)
{
	for (size_t i = 0; env->publish && i < c->nel; i++)
		if (first[i] != SIZE_MAX && !fresh[first[i]])
			return -1;
	c->results = calloc(c->nel ? c->nel : 1, sizeof *c->results);
	if (!c->results)
		return -1;
	size_t *offs = calloc(c->nel ? c->nel : 1, sizeof *offs);
	if (!offs)
		return -1;
	for (size_t i = 0; i < c->nel; i++) {
		offs[i] = SIZE_MAX;
		if (first[i] != SIZE_MAX) {
			const record *r = &b->recs[first[i]];
			bool stored = env->publish ? fresh[first[i]] == 1 : fresh[first[i]];
			c->results[i].status = stored ? LISTEN_STORED : LISTEN_DUPLICATE;
			offs[i] = c->rtext.len;
			jrn_buf_add(&c->rtext, b->text.p + r->id.off, r->id.len);
		} else {
			c->results[i].status = LISTEN_REJECTED;
			offs[i] = c->rtext.len;
			jrn_buf_adds(&c->rtext, c->el[i].reason ? c->el[i].reason : "rejected");
		}
		if (jrn_buf_addc(&c->rtext, 0) < 0) {
			free(offs);
			return -1;
		}
	}
	for (size_t i = 0; i < c->nel; i++) {
		const char *s = c->rtext.p + offs[i];
		if (c->results[i].status == LISTEN_REJECTED)
			c->results[i].reason = s;
		else
			c->results[i].id = s;
	}
	free(offs);
	return 0;
}

/* The writer's last commit: "" when it succeeded (or none yet), else why
 * it failed (healthz answers 503 with it until a commit succeeds).
 * Guarded by write_mu. */
static char write_failed[sizeof ((jrn_err *)0)->msg];
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

static void write_outcome(const char *why)
{
	pthread_mutex_lock(&write_mu);
	snprintf(write_failed, sizeof write_failed, "%s", why ? why : "");
	pthread_mutex_unlock(&write_mu);
}

/* --publish: the group's events (taken into b, first per emitted line)
 * published and their acknowledgements awaited; each request answered from
 * its own (make_results), the acknowledged new ones written to stdout.
 * fresh: b->n bytes, or NULL when the group could not be taken (e says
 * why): every request 503. */
static void publish_group(conn_state *group, batch *b, unsigned char *fresh, const size_t *first,
			  jrn_err *e)
{
	bool writes = false;
	for (conn_state *c = group; c; c = c->next)
		writes |= c->nw > 0;
	if (fresh && writes) /* (listen_run refuses the routes that write) */
		fresh = NULL, jrn_fail(e, "a write that needs a state file, with --publish");
	if (fresh && env->store_batch(b, fresh, e) < 0) {
		write_outcome(e->msg);
		jrn_say(0, "nats: %s (a request with such an event answered 503)", e->msg);
	} else if (!fresh) {
		write_outcome(e->msg);
		jrn_say(0, "%s (answered 503)", e->msg);
	} else if (b->n) { /* (a group of rejects alone published nothing) */
		write_outcome(NULL);
	}
	/* the acknowledged ones, even of a failing group: published */
	if (fresh && env->emit(b, fresh) < 0 && !output_failed) {
		output_failed = true;
		kill(getpid(), SIGTERM);
	}
	size_t k = 0;
	for (conn_state *c = group; c; c = c->next) {
		bool cok = fresh && make_results(c, b, fresh, first + k) == 0;
		k += c->nel;
		c->phase = cok ? PH_STORED : PH_FAILED;
	}
	jrn_buf_reset(&b->text);
	b->n = 0;
}

/* The group: every request waiting, in one transaction. */
static void commit_group(conn_state *group, batch *b, jrn_buf *firsts, jrn_buf *fresh)
{
	jrn_err e = {{0}};
	bool ok = true;
	size_t nlines = 0;
	for (conn_state *c = group; c; c = c->next)
		nlines += c->nel;
	jrn_buf_reset(firsts);
	if (jrn_buf_reserve(firsts, nlines * sizeof(size_t) + 1) < 0)
		ok = !jrn_fail(&e, "out of memory");
	size_t *first = (size_t *)firsts->p, k = 0;
	for (conn_state *c = group; c && ok; c = c->next) {
		if (take_lines(b, c, first + k, &e) < 0)
			ok = false;
		k += c->nel;
	}
	jrn_buf_reset(fresh);
	if (ok && jrn_buf_reserve(fresh, b->n + 1) < 0)
		ok = !jrn_fail(&e, "out of memory");
	if (env->publish) {
		publish_group(group, b, ok ? (unsigned char *)fresh->p : NULL, first, &e);
		return;
	}
	if (ok && jrn_db_begin(env->db.db, &e) < 0)
		ok = false;
	if (ok && env->store_batch(b, (unsigned char *)fresh->p, &e) < 0)
		ok = false;
	for (conn_state *c = group; c && ok; c = c->next)
		for (size_t i = 0; i < c->nw && ok; i++)
			if (c->w[i].fn(&env->db, c->w[i].arg, &e) < 0)
				ok = false;
	if (ok && jrn_db_commit(env->db.db, &e) < 0)
		ok = false;
	write_outcome(ok ? NULL : e.msg);
	if (!ok) {
		jrn_db_rollback(env->db.db);
		jrn_say(0, "%s: %s (answered 503)", env->opts->db_path, e.msg);
	} else if (env->emit(b, (unsigned char *)fresh->p) < 0 && !output_failed) {
		output_failed = true;
		kill(getpid(), SIGTERM);
	}
	k = 0;
	for (conn_state *c = group; c; c = c->next) {
		bool cok = ok && make_results(c, b, (unsigned char *)fresh->p, first + k) == 0;
		k += c->nel;
		c->phase = cok ? PH_STORED : PH_FAILED;
	}
	jrn_buf_reset(&b->text);
	b->n = 0;
}

static void *writer_main(void *arg)
{
	(void)arg;
	batch b = {0};
	jrn_buf firsts = {0}, fresh = {0};
	pthread_setname_np(pthread_self(), "jrn-ingest-db");
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!q_head && !writer_quit)
			pthread_cond_wait(&cond, &mu);
		conn_state *group = q_head;
		q_head = q_tail = NULL;
		pthread_mutex_unlock(&mu);
		if (!group)
			break;
		commit_group(group, &b, &firsts, &fresh);
		for (conn_state *c = group, *next; c; c = next) {
			next = c->next;
			c->next = NULL;
			MHD_resume_connection(c->conn);
		}
	}
	jrn_buf_free(&b.text);
	free(b.recs);
	jrn_buf_free(&firsts);
	jrn_buf_free(&fresh);
	return NULL;
}

/* ---- GET /healthz ------------------------------------------------------------------- */

static sqlite3 *health_db;
static pthread_mutex_t health_mu = PTHREAD_MUTEX_INITIALIZER;

static int healthz(listen_req *req, listen_reply *rep)
{
	(void)req;
	const char *msg = NULL;
	char why[256];
	pthread_mutex_lock(&health_mu);
	if (health_db) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(health_db, "SELECT count(*) FROM sqlite_master", -1, &st,
					    NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		msg = rc == SQLITE_ROW ? NULL : sqlite3_errmsg(health_db);
		snprintf(why, sizeof why, "%s", msg ? msg : "");
		sqlite3_finalize(st);
	} else { /* --publish: the server connection */
		msg = env->health ? env->health() : NULL;
		snprintf(why, sizeof why, "%s", msg ? msg : "");
	}
	pthread_mutex_unlock(&health_mu);
	char wf[sizeof write_failed];
	pthread_mutex_lock(&write_mu);
	memcpy(wf, write_failed, sizeof wf);
	pthread_mutex_unlock(&write_mu);
	if (msg || wf[0]) {
		char ra[32];
		snprintf(ra, sizeof ra, "%lld", (long long)((cfg.retry_ms + 999) / 1000));
		listen_reply_header(rep, "Retry-After", ra);
		if (!msg) /* reads work, writes do not (locked, read-only) */
			return listen_reply_error(rep, 503, "the last %s failed: %s",
						  env->publish ? "publish" : "write", wf);
		return listen_reply_error(rep, 503, "%s: %s", env->publish ? "NATS server not reachable"
					  : "state file not reachable", why);
	}
	pthread_mutex_lock(&mu);
	size_t n = active;
	pthread_mutex_unlock(&mu);
	char body[128];
	int len = snprintf(body, sizeof body, "{\"status\":\"ok\",\"requests\":%zu}\n", n);
	listen_reply_header(rep, "Cache-Control", "no-store");
	return listen_reply_set(rep, 200, "application/json", body, (size_t)len) < 0 ? -1 : 0;
}

/* ---- authentication ------------------------------------------------------------------ */

static bool endpoint_allows(const listen_endpoint *ep, const char *name)
{
	if (!ep || !ep->sources)
		return true;
	for (size_t i = 0; i < ep->nsources; i++)
		if (!strcmp(ep->sources[i], name))
			return true;
	return false;
}

static bool same(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && CRYPTO_memcmp(a, b, an) == 0;
}

/* 0 when source s vouches for the request, else -1 with why. */
static int check_source(const source *s, conn_state *c, const char **why)
{
	if (s->bearer) {
		const char *h = listen_header(&c->req, "Authorization");
		if (!h || strncasecmp(h, "Bearer ", 7)) {
			*why = "no bearer token (Authorization: Bearer TOKEN)";
			return -1;
		}
		if (!same(h + 7, strlen(h + 7), s->bearer, strlen(s->bearer))) {
			*why = "wrong bearer token";
			return -1;
		}
		return 0;
	}
	const char *ts = listen_header(&c->req, s->ts_header);
	const char *sig = listen_header(&c->req, s->sig_header);
	if (!ts || !sig) {
		*why = "no signature or timestamp header";
		return -1;
	}
	char *end;
	errno = 0;
	long long t = strtoll(ts, &end, 10);
	if (errno || end == ts || *end || t < 0 || t > INT64_MAX / 1000) {
		*why = "timestamp is not a number of seconds";
		return -1;
	}
	int64_t skew = c->req.now - (int64_t)t * 1000;
	if (skew > s->window_ms || -skew > s->window_ms) {
		*why = "timestamp outside the replay window";
		return -1;
	}
	jrn_buf m = {0};
	char hex[65];
	int rc = jrn_buf_adds(&m, ts);
	rc |= jrn_buf_addc(&m, '.');
	rc |= jrn_buf_add(&m, c->body.p ? c->body.p : "", c->body.len);
	rc |= rc ? -1 : jrn_hmac_sha256_hex(s->hmac, strlen(s->hmac), m.p, m.len, hex);
	jrn_buf_free(&m);
	if (rc) {
		*why = "cannot compute HMAC-SHA256";
		return -1;
	}
	if (!strncasecmp(sig, "sha256=", 7))
		sig += 7;
	char low[65];
	size_t n = strlen(sig);
	for (size_t i = 0; i < n && i < 64; i++)
		low[i] = (sig[i] >= 'A' && sig[i] <= 'F') ? sig[i] + 32 : sig[i];
	if (!same(low, n, hex, 64)) {
		*why = "bad signature";
		return -1;
	}
	return 0;
}

/* LISTEN_AUTH_SOURCE: 0 with req.source set, or -1 with rep set to 401. */
static int authenticate(conn_state *c)
{
	const listen_endpoint *ep = c->req.route->data;
	if (cfg.nsources == 0)
		return 0;
	const char *why = "no credentials";
	bool presented = false; /* why is about credentials the request had */
	for (size_t i = 0; i < cfg.nsources; i++) {
		const source *s = &cfg.sources[i];
		if (!endpoint_allows(ep, s->name))
			continue;
		const char *w = NULL;
		if (check_source(s, c, &w) == 0) {
			c->req.source = s->name;
			return 0;
		}
		/* "wrong bearer token" says more than another source's "no ..." */
		bool had = strncmp(w, "no ", 3) != 0;
		if (had || !presented)
			why = w;
		presented = presented || had;
	}
	listen_reply_header(&c->rep, "WWW-Authenticate", "Bearer");
	return listen_reply_error(&c->rep, 401, "not authenticated: %s", why);
}

/* ---- MHD's callbacks --------------------------------------------------------------------- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 32;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decodes s in place ('+' a space, %XX a byte). */
void listen_form_decode(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* The body's form fields (application/x-www-form-urlencoded). */
static int parse_form(conn_state *c)
{
	const char *ct = listen_header(&c->req, "Content-Type");
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))
		return 0;
	c->form_text = malloc(c->body.len + 1);
	size_t n = 1;
	for (size_t i = 0; i < c->body.len; i++)
		n += c->body.p[i] == '&';
	c->form = calloc(n, sizeof *c->form);
	if (!c->form_text || !c->form)
		return -1;
	memcpy(c->form_text, c->body.p ? c->body.p : "", c->body.len);
	c->form_text[c->body.len] = 0;
	char *save = NULL;
	for (char *f = strtok_r(c->form_text, "&", &save); f; f = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(f, '=');
		char *v = eq ? eq + 1 : f + strlen(f);
		if (eq)
			*eq = 0;
		listen_form_decode(f);
		listen_form_decode(v);
		c->form[c->req.nform++] = (listen_param){f, v};
	}
	c->req.form = c->form;
	return 0;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **sc,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		conn_link *l = calloc(1, sizeof *l);
		if (!l)
			return;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		l->fd = ci ? ci->connect_fd : -1;
		l->since = mono_ms();
		pthread_mutex_lock(&links_mu);
		l->next = links;
		if (links)
			links->prev = l;
		links = l;
		pthread_mutex_unlock(&links_mu);
		*sc = l;
	} else if (*sc) {
		conn_link *l = *sc;
		pthread_mutex_lock(&links_mu);
		if (l->prev)
			l->prev->next = l->next;
		else
			links = l->next;
		if (l->next)
			l->next->prev = l->prev;
		pthread_mutex_unlock(&links_mu);
		free(l);
		*sc = NULL;
	}
}

static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	conn_state *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	c->link = ci ? ci->socket_context : NULL;
	c->raw_uri = strdup(uri);
	c->conn = conn;
	c->rep.status = 200;
	pthread_mutex_lock(&mu);
	active++;
	c->req.number = ++requests;
	pthread_mutex_unlock(&mu);
	return c;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe; /* a request cut short is freed the same way */
	conn_state *c = *con_cls;
	if (!c)
		return;
	*con_cls = NULL;
	link_serving(c->link, false);
	free(c->raw_uri);
	free(c->path);
	free((char *)c->req.url);
	jrn_buf_free(&c->body);
	reply_free(&c->rep);
	jrn_buf_free(&c->lines);
	for (size_t i = 0; i < c->nel; i++)
		free(c->el[i].reason);
	free(c->el);
	for (size_t i = 0; i < c->nw; i++)
		if (c->w[i].free_arg)
			c->w[i].free_arg(c->w[i].arg);
	free(c->w);
	free(c->results);
	jrn_buf_free(&c->rtext);
	free(c->form);
	free(c->form_text);
	free(c);
	pthread_mutex_lock(&mu);
	/* not cond: that would wake the writer for nothing at every reply */
	if (--active == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&mu);
}

static enum MHD_Result send_reply(conn_state *c, listen_reply *rep)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		rep->body.len, rep->body.p ? rep->body.p : "", MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (rep->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
	for (int i = 0; i < rep->nheaders; i++)
		MHD_add_response_header(r, rep->headers[i].name, rep->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)rep->status, r);
	MHD_destroy_response(r);
	c->answered = true;
	return ret;
}

static enum MHD_Result send_error(conn_state *c, int status, const char *fmt, const char *arg)
{
	listen_reply_error(&c->rep, status, fmt, arg);
	return send_reply(c, &c->rep);
}

/* The full URL as the client asked (listen.h). */
static char *full_url(conn_state *c)
{
	jrn_buf u = {0};
	if (cfg.public_url) {
		jrn_buf_adds(&u, cfg.public_url);
	} else {
		const char *host = listen_header(&c->req, "Host");
		jrn_buf_adds(&u, tls ? "https://" : "http://");
		jrn_buf_adds(&u, host ? host : "localhost");
	}
	if (jrn_buf_adds(&u, c->raw_uri ? c->raw_uri : "/") < 0) {
		jrn_buf_free(&u);
		return NULL;
	}
	return u.p;
}

/* The first call for a request: route, method, length. */
static enum MHD_Result begin(conn_state *c, const char *url, const char *method)
{
	char allow[64];
	bool known;
	c->path = strdup(url);
	if (!c->path)
		return MHD_NO;
	c->req.method = method;
	c->req.path = c->path;
	const char *q = c->raw_uri ? strchr(c->raw_uri, '?') : NULL;
	c->req.query = q ? q + 1 : "";
	c->req.now = jrn_now();
	c->req.server = c;
	c->req.url = full_url(c);
	const listen_route *r = route_find(method, c->path, &known, allow, sizeof allow);
	if (!r && !known)
		return send_error(c, 404, "no such path: %s", c->path);
	if (!r) {
		listen_reply_header(&c->rep, "Allow", allow);
		return send_error(c, 405, "method not allowed (allowed: %s)", allow);
	}
	c->req.route = r;
	c->req.rest = r->prefix ? c->path + strlen(r->path) : "";
	const char *cl = listen_header(&c->req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);
		if (*end == 0 && n > (unsigned long long)cfg.max_body) {
			char lim[32];
			snprintf(lim, sizeof lim, "%lld", (long long)cfg.max_body);
			return send_error(c, 413, "body longer than ingest.listen.maxBody (%s bytes)",
					  lim);
		}
		if (*end == 0 && jrn_buf_reserve(&c->body, (size_t)n + 1) < 0)
			return MHD_NO;
	}
	return MHD_YES;
}

/* The whole request is in: authenticate, run the handler, queue or answer. */
static enum MHD_Result dispatch(conn_state *c)
{
	if (c->too_big) {
		char lim[32];
		snprintf(lim, sizeof lim, "%lld", (long long)cfg.max_body);
		return send_error(c, 413, "body longer than ingest.listen.maxBody (%s bytes)", lim);
	}
	if (jrn_buf_reserve(&c->body, 1) < 0 || parse_form(c) < 0)
		return send_error(c, 500, "%s", "out of memory");
	c->req.body = c->body.p;
	c->req.body_len = c->body.len;
	link_serving(c->link, true);
	const listen_route *r = c->req.route;
	if (r->auth == LISTEN_AUTH_SOURCE && authenticate(c) < 0)
		return send_reply(c, &c->rep);
	if (r->handle(&c->req, &c->rep) < 0 || (c->nel == 0 && c->nw == 0))
		return send_reply(c, &c->rep);
	pthread_mutex_lock(&mu);
	if (writer_quit) { /* stopping, past the time-out: not stored */
		pthread_mutex_unlock(&mu);
		listen_reply_header(&c->rep, "Retry-After", "1");
		return send_error(c, 503, "%s", "the server is stopping: nothing stored, try again");
	}
	c->phase = PH_QUEUED;
	MHD_suspend_connection(c->conn);
	if (q_tail)
		q_tail->next = c;
	else
		q_head = c;
	q_tail = c;
	pthread_cond_signal(&cond); /* the writer: the one waiting on it */
	pthread_mutex_unlock(&mu);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)conn;
	(void)version;
	conn_state *c = *con_cls;
	if (!c)
		return MHD_NO; /* out of memory in uri_logged */
	if (c->answered) {
		*upload_size = 0; /* a body after an early answer: dropped */
		return MHD_YES;
	}
	if (!c->req.method)
		return begin(c, url, method);
	if (*upload_size > 0) {
		if (!c->too_big && c->body.len + *upload_size > (size_t)cfg.max_body) {
			c->too_big = true;
			jrn_buf_free(&c->body);
		}
		if (!c->too_big && jrn_buf_add(&c->body, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (c->phase == PH_READING)
		return dispatch(c);
	if (c->phase == PH_QUEUED) /* resumed before the writer was done: cannot be */
		return MHD_YES;
	if (c->phase == PH_FAILED) {
		char ra[32];
		snprintf(ra, sizeof ra, "%lld", (long long)((cfg.retry_ms + 999) / 1000));
		reply_free(&c->rep);
		listen_reply_header(&c->rep, "Retry-After", ra);
		return send_error(c, 503, "%s", env->publish
				  ? "not every event was acknowledged by the stream: try again (those"
				    " that were are answered duplicate)"
				  : "state file busy or failing: nothing stored, try again");
	}
	if (c->req.route->done)
		c->req.route->done(&c->req, c->results, c->nel, &c->rep);
	return send_reply(c, &c->rep);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (env->opts->verbosity <= 0)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	jrn_say(0, "http: %s", msg);
}

/* ---- settings from the config ---------------------------------------------------------- */

static char *cfg_str(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	char *s = jv_get_kind(v) == JV_KIND_STRING ? strdup(jv_string_value(v)) : NULL;
	jv_free(v);
	return s;
}

static int cfg_strs(jv obj, const char *key, char ***out, size_t *n)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	*out = NULL;
	*n = 0;
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		int len = jv_array_length(jv_copy(v));
		*out = calloc(len + 1, sizeof **out);
		for (int i = 0; *out && i < len; i++) {
			jv s = jv_array_get(jv_copy(v), i);
			if (jv_get_kind(s) == JV_KIND_STRING)
				(*out)[(*n)++] = strdup(jv_string_value(s));
			jv_free(s);
		}
	}
	jv_free(v);
	return 0;
}

static jv cfg_list(const char *dotted)
{
	jv v = jrn_config_get(env->opts->config, dotted);
	if (jv_get_kind(v) == JV_KIND_OBJECT)
		return JV_ARRAY(v);
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		return jv_array();
	}
	return v;
}

static int load_sources(jrn_err *e)
{
	jv l = cfg_list("ingest.listen.sources");
	int n = jv_array_length(jv_copy(l));
	cfg.sources = calloc(n + 1, sizeof *cfg.sources);
	for (int i = 0; cfg.sources && i < n; i++) {
		jv o = jv_array_get(jv_copy(l), i);
		source *s = &cfg.sources[cfg.nsources++];
		s->name = cfg_str(o, "name");
		s->bearer = cfg_str(o, "bearer");
		s->hmac = cfg_str(o, "hmac");
		s->sig_header = cfg_str(o, "signatureHeader");
		s->ts_header = cfg_str(o, "timestampHeader");
		jv w = jv_object_get(jv_copy(o), jv_string("window"));
		s->window_ms = 300000;
		if (jv_get_kind(w) == JV_KIND_NUMBER)
			s->window_ms = (int64_t)jv_number_value(w);
		else if (jv_get_kind(w) == JV_KIND_STRING &&
			 jrn_duration_parse(jv_string_value(w), &s->window_ms, e) < 0) {
			jv_free(w);
			jv_free(o);
			jv_free(l);
			return -1;
		}
		jv_free(w);
		jv_free(o);
		if (!s->name || !*s->name)
			return jv_free(l), jrn_fail(e, "ingest.listen.sources[%d]: no name", i);
		if (!s->bearer == !s->hmac)
			return jv_free(l), jrn_fail(e, "ingest.listen.sources[%d] (%s): give one of "
						    "bearer and hmac", i, s->name);
		if ((s->bearer && !*s->bearer) || (s->hmac && !*s->hmac))
			return jv_free(l), jrn_fail(e, "ingest.listen.sources[%d] (%s): empty secret",
						    i, s->name);
		if (!s->sig_header)
			s->sig_header = strdup("X-Jrn-Signature");
		if (!s->ts_header)
			s->ts_header = strdup("X-Jrn-Timestamp");
	}
	jv_free(l);
	return cfg.sources ? 0 : jrn_fail(e, "out of memory");
}

static int load_endpoints(jrn_err *e)
{
	jv l = cfg_list("ingest.listen.endpoints");
	int n = jv_array_length(jv_copy(l));
	cfg.endpoints = calloc(n + 1, sizeof *cfg.endpoints);
	routes = calloc(NFIXED + n, sizeof *routes);
	if (!cfg.endpoints || !routes)
		return jv_free(l), jrn_fail(e, "out of memory");
	memcpy(routes, fixed_routes, sizeof fixed_routes);
	nroutes = NFIXED;
	for (int i = 0; i < n; i++) {
		jv o = jv_array_get(jv_copy(l), i);
		listen_endpoint *ep = &cfg.endpoints[cfg.nendpoints++];
		ep->path = cfg_str(o, "path");
		ep->kind = cfg_str(o, "kind");
		cfg_strs(o, "types", &ep->types, &ep->ntypes);
		if (jv_object_has(jv_copy(o), jv_string("sources")))
			cfg_strs(o, "sources", &ep->sources, &ep->nsources);
		jv_free(o);
		if (!ep->path || ep->path[0] != '/' || strchr(ep->path, '?'))
			return jv_free(l), jrn_fail(e, "ingest.listen.endpoints[%d]: path must start "
						    "with '/' (without ?query)", i);
		for (size_t k = 0; k < ep->nsources; k++) {
			size_t j = 0;
			while (j < cfg.nsources && strcmp(cfg.sources[j].name, ep->sources[k]))
				j++;
			if (j == cfg.nsources)
				return jv_free(l), jrn_fail(e, "ingest.listen.endpoints[%d] (%s): no "
							    "source named '%s'", i, ep->path,
							    ep->sources[k]);
		}
		size_t r = 0;
		while (r < nroutes && strcmp(routes[r].path, ep->path))
			r++;
		if (r < nroutes && routes[r].handle != listen_events_handle)
			return jv_free(l), jrn_fail(e, "ingest.listen.endpoints[%d]: %s is taken", i,
						    ep->path);
		if (r < nroutes && routes[r].data)
			return jv_free(l), jrn_fail(e, "ingest.listen.endpoints[%d]: %s given twice",
						    i, ep->path);
		if (r == nroutes)
			routes[nroutes++] = fixed_routes[1];
		routes[r].path = ep->path;
		routes[r].data = ep;
	}
	jv_free(l);
	return 0;
}

static int load_int(const char *key, int64_t *v, int64_t dflt, bool duration, jrn_err *e)
{
	jv x = jrn_config_get(env->opts->config, key);
	bool set = jv_get_kind(x) != JV_KIND_NULL && jv_get_kind(x) != JV_KIND_INVALID;
	jv_free(x);
	*v = dflt;
	if (!set)
		return 0;
	return duration ? jrn_config_duration(env->opts->config, key, v, e)
			: jrn_config_int(env->opts->config, key, v, e);
}

static char *read_file(const char *path, jrn_err *e)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return jrn_fail(e, "%s: %s", path, strerror(errno)), NULL;
	jrn_buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1 << 20))
		jrn_buf_add(&b, chunk, n);
	fclose(f);
	if (!b.p)
		return jrn_fail(e, "%s: empty", path), NULL;
	return b.p;
}

static char *tls_cert_pem, *tls_key_pem;

static int load_config(jrn_err *e)
{
	int64_t v;
	if (load_int("ingest.listen.maxBody", &cfg.max_body, 1 << 20, false, e) < 0 ||
	    load_int("ingest.listen.timeout", &cfg.timeout_ms, 30000, true, e) < 0 ||
	    load_int("ingest.listen.retryAfter", &cfg.retry_ms, 1000, true, e) < 0)
		return -1;
	if (load_int("ingest.listen.maxConnections", &v, 1024, false, e) < 0)
		return -1;
	cfg.max_conn = (int)v;
	if (load_int("ingest.listen.threads", &v, 1, false, e) < 0)
		return -1;
	cfg.threads = (int)v;
	jv cf = jrn_config_get(env->opts->config, "ingest.listen");
	if (jv_get_kind(cf) == JV_KIND_OBJECT) {
		cfg.public_url = cfg_str(cf, "publicUrl");
		jv t = jv_object_get(jv_copy(cf), jv_string("tls"));
		if (jv_get_kind(t) == JV_KIND_OBJECT) {
			cfg.tls_cert = cfg_str(t, "cert");
			cfg.tls_key = cfg_str(t, "key");
		}
		jv_free(t);
	}
	jv_free(cf);
	if (cfg.public_url) {
		size_t n = strlen(cfg.public_url);
		if (strncmp(cfg.public_url, "http://", 7) && strncmp(cfg.public_url, "https://", 8))
			return jrn_fail(e, "ingest.listen.publicUrl: not an http:// or https:// URL");
		while (n > 0 && cfg.public_url[n - 1] == '/')
			cfg.public_url[--n] = 0;
	}
	if (!cfg.tls_cert != !cfg.tls_key)
		return jrn_fail(e, "ingest.listen.tls: give both cert and key");
	if (cfg.tls_cert) {
		if (!(tls_cert_pem = read_file(cfg.tls_cert, e)) ||
		    !(tls_key_pem = read_file(cfg.tls_key, e)))
			return -1;
		tls = true;
	}
	return load_sources(e) < 0 ? -1 : load_endpoints(e);
}

static void free_config(void)
{
	for (size_t i = 0; i < cfg.nsources; i++) {
		source *s = &cfg.sources[i];
		free(s->name);
		free(s->bearer);
		free(s->hmac);
		free(s->sig_header);
		free(s->ts_header);
	}
	free(cfg.sources);
	for (size_t i = 0; i < cfg.nendpoints; i++) {
		listen_endpoint *ep = &cfg.endpoints[i];
		free(ep->path);
		free(ep->kind);
		for (size_t k = 0; k < ep->ntypes; k++)
			free(ep->types[k]);
		free(ep->types);
		for (size_t k = 0; k < ep->nsources; k++)
			free(ep->sources[k]);
		free(ep->sources);
	}
	free(cfg.endpoints);
	free(cfg.public_url);
	free(cfg.tls_cert);
	free(cfg.tls_key);
	free(tls_cert_pem);
	if (tls_key_pem)
		OPENSSL_cleanse(tls_key_pem, strlen(tls_key_pem));
	free(tls_key_pem);
	free(routes);
}

/* ---- the run ------------------------------------------------------------------------------- */

/* ADDR:PORT into a socket address: 0, or -1 with e. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len, jrn_err *e)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || colon - addr >= (ptrdiff_t)sizeof host)
		return jrn_fail(e, "--listen: '%s' is not ADDR:PORT", addr);
	memcpy(host, addr, colon - addr);
	host[colon - addr] = 0;
	char *h = host;
	size_t hl = strlen(h);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h[hl - 1] = 0;
		h++;
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return jrn_fail(e, "--listen: '%s': port is not a number from 0 to 65535", addr);
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
	if (rc)
		return jrn_fail(e, "--listen: '%s': %s (give a numeric address)", addr,
				gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static struct MHD_Daemon *start(struct sockaddr_storage *ss, jrn_err *e)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls_opts[] = {
		{tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ss,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((cfg.timeout_ms + 999) / 1000),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_conn,
		MHD_OPTION_URI_LOG_CALLBACK, uri_logged, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg.threads > 1 ? cfg.threads : 0),
		MHD_OPTION_ARRAY, tls_opts,
		MHD_OPTION_END);
	if (!d)
		jrn_fail(e, "%s", errno ? strerror(errno) : "libmicrohttpd refused (see -v)");
	return d;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread), then stops the
 * daemon: no new connection, the requests in flight answered (each
 * bounded by the connection time-out), the writer drained. */
static void serve_until_signal(struct MHD_Daemon *d, const sigset_t *set, pthread_t *writer)
{
	int sig;
	struct timespec second = {1, 0};
	while ((sig = sigtimedwait(set, NULL, &second)) < 0)
		reap();
	if (env->opts->verbosity >= 0 && !output_failed)
		jrn_say(0, "%s: finishing the requests in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
	MHD_socket s = MHD_quiesce_daemon(d);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (cfg.timeout_ms + 999) / 1000 + 1;
	pthread_mutex_lock(&mu);
	while (active > 0 && pthread_cond_timedwait(&idle_cond, &mu, &until) == 0)
		;
	/* the writer answers what is queued, then stops: nothing is queued
	 * after this, so no connection stays suspended for MHD_stop_daemon */
	writer_quit = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	pthread_join(*writer, NULL);
	MHD_stop_daemon(d);
}

/* listen_run's set-up from e_ and the configuration, nothing bound:
 * addr (NULL: none) into *ss and *sl, ingest.listen loaded (its TLS
 * files read), tracking set up. -1 to go on, else the exit status (said;
 * what was loaded freed). */
static int listen_setup(const char *addr, listen_env *e_, struct sockaddr_storage *ss,
			socklen_t *sl)
{
	jrn_err e;
	env = e_;
	quiet = env->opts->verbosity < 0;
	if (addr && parse_addr(addr, ss, sl, &e) < 0)
		return jrn_say(JRN_EXIT_USAGE, "%s", e.msg);
	if (load_config(&e) < 0) {
		free_config();
		return jrn_say(JRN_EXIT_FAIL, "%s%s%s", env->opts->config_path ? env->opts->config_path : "",
			       env->opts->config_path ? ": " : "", e.msg);
	}
	/* track: setup */
	if (listen_track_setup(env->opts, &e) < 0) {
		listen_track_free();
		free_config();
		return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
	}
	return -1;
}

int listen_check(const char *addr, listen_env *e_)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int status = listen_setup(addr, e_, &ss, &sl);
	if (status >= 0)
		return status;
	listen_track_free();
	free_config();
	return JRN_EXIT_OK;
}

int listen_run(const char *addr, listen_env *e_)
{
	jrn_err e;
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int status = listen_setup(addr, e_, &ss, &sl);
	if (status >= 0)
		return status;
	status = JRN_EXIT_OK;
	if (!env->publish &&
	    sqlite3_open_v2(env->opts->db_path, &health_db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		listen_track_free();
		free_config();
		return jrn_say(JRN_EXIT_FAIL, "%s: %s", env->opts->db_path, sqlite3_errmsg(health_db));
	}
	if (health_db)
		sqlite3_busy_timeout(health_db, 1000);
	why_f = open_memstream(&why_p, &why_n);
	bool was_quiet = env->rej->quiet;
	FILE *was_diag = env->rej->diag;
	env->rej->quiet = false;
	env->rej->diag = why_f;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t th;
	struct MHD_Daemon *d = NULL;
	/* no commit (and no reply waiting on it) waits for a checkpoint */
	jrn_checkpointer *ckpt = env->db.db ? jrn_checkpointer_start(env->db.db, env->opts->db_path)
					     : NULL;
	if (!why_f || pthread_create(&th, NULL, writer_main, NULL) != 0) {
		status = jrn_say(JRN_EXIT_FAIL, "cannot start the writer thread");
		goto out;
	}
	if (cfg.nsources == 0 && env->opts->verbosity >= 0)
		jrn_say(0, "no ingest.listen.sources: the event endpoints take requests from anyone");
	errno = 0;
	d = start(&ss, &e);
	if (d) {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		char host[INET6_ADDRSTRLEN] = "";
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
		env->served = true;
		/* said with -q too when the port was 0: it is not known otherwise */
		if (env->opts->verbosity >= 0 || ((struct sockaddr_in *)&ss)->sin_port == 0)
			jrn_say(0, "listening on %s%s%s:%u (%s)", ss.ss_family == AF_INET6 ? "[" : "",
				host, ss.ss_family == AF_INET6 ? "]" : "",
				info ? (unsigned)info->port : 0u, tls ? "https" : "http");
		serve_until_signal(d, &set, &th);
	} else {
		status = jrn_say(JRN_EXIT_FAIL, "--listen %s: %s", addr, e.msg);
		pthread_mutex_lock(&mu);
		writer_quit = true;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&mu);
		pthread_join(th, NULL);
	}
	if (output_failed)
		status = JRN_EXIT_FAIL;
out:
	jrn_checkpointer_stop(ckpt);
	/* track: free */
	listen_track_free();
	env->rej->quiet = was_quiet;
	env->rej->diag = was_diag;
	if (why_f)
		fclose(why_f);
	free(why_p);
	sqlite3_close(health_db);
	free_config();
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return status;
}
