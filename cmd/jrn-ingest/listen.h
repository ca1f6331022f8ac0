/*
 * listen.h: jrn-ingest --listen, the HTTP server (libmicrohttpd) and the
 * interface its endpoints are written against (private to cmd/jrn-ingest/).
 *
 *   listen.c        the server: options, the route table, requests read
 *                   whole (up to ingest.listen.maxBody), authentication,
 *                   the writer thread and its group commit, replies, the
 *                   signals; GET /healthz
 *   listen-events.c POST /events and the per-kind paths of
 *                   ingest.listen.endpoints
 *   track.c         (branch track) /o/ /c/ /u/ /twilio/inbound
 *                   /twilio/status
 *
 * The life of a request:
 *
 *   1. MHD's thread reads the request. No route for the path: 404; a route
 *      for the path but not the method: 405 with Allow; a body longer than
 *      ingest.listen.maxBody: 413 (said as soon as the length is known).
 *   2. The route's auth is checked (LISTEN_AUTH_SOURCE: a bearer token or
 *      an HMAC signature of a source of ingest.listen.sources; refused
 *      with 401). LISTEN_AUTH_HANDLER routes check for themselves.
 *   3. route->handle(req, rep) runs on an MHD thread (there may be more
 *      than one: a handler touches no global that it writes). It reads
 *      the request, queues the events to store with listen_emit /
 *      listen_emit_jv (and any other write with listen_emit_write), and
 *      fills rep. It returns 0, or -1 with rep holding an error reply
 *      (nothing it emitted is stored then).
 *   4. Nothing emitted: rep is sent at once. Else the request waits (its
 *      connection suspended) for the writer thread: the one thread that
 *      writes the state file. It takes every request waiting, checks each
 *      emitted line with record.c exactly as a line of a file (validation,
 *      normalisation, dedupe), stores them all and runs their writes in one
 *      transaction (group commit: the requests that came while the last
 *      transaction ran share the next one), commits, writes the stored
 *      events to stdout, and only then:
 *   5. route->done(req, results, n, rep), when set, may rewrite rep from
 *      the result of each emitted line (stored, duplicate, rejected and
 *      why), and rep is sent. A transaction that could not commit (state
 *      file locked past db.busyTimeout, disk full) answers 503 with
 *      Retry-After instead, whatever the handler wrote: never a 200 for an
 *      event that is not stored.
 *   With --publish (listen_env.publish) step 4 publishes the group's
 *   events to NATS JetStream instead, waiting for the stream's
 *   acknowledgements, and step 5 answers 200 only to a request whose every
 *   event was acknowledged (503 with Retry-After otherwise).
 *
 * Ownership: the request, its strings and everything it points to belong
 * to the server and live until the reply is sent; rep's body and headers
 * are copied into it (the listen_reply_* functions copy their arguments).
 */
#ifndef JRN_INGEST_LISTEN_H
#define JRN_INGEST_LISTEN_H

#include "jrn-ingest.h"

/* ---- routes ----------------------------------------------------------------- */

typedef enum {
	LISTEN_AUTH_NONE,    /* anyone: /healthz, tracking links, unsubscribe */
	LISTEN_AUTH_SOURCE,  /* a source of ingest.listen.sources (data, a
				listen_endpoint, may name which; NULL: any of
				them); with no sources configured it is open */
	LISTEN_AUTH_HANDLER, /* the handler checks (Twilio's signature) */
} listen_auth;

typedef struct listen_req listen_req;
typedef struct listen_reply listen_reply;
typedef struct listen_route listen_route;

/* What became of one emitted line, in emit order. */
typedef enum {
	LISTEN_STORED,    /* new: stored and written to stdout */
	LISTEN_DUPLICATE, /* an event of that id was stored before */
	LISTEN_REJECTED,  /* refused by record.c's checks: reason says why */
} listen_status;

typedef struct {
	listen_status status;
	const char *id;     /* the event's id (stored, duplicate), else NULL */
	const char *reason; /* rejected: the reason, as --rejects has it */
} listen_result;

struct listen_route {
	const char *method; /* "GET", "POST" (one per row; two rows for both) */
	const char *path;   /* "/events", or a prefix ending in '/': "/o/" */
	bool prefix;        /* path is a prefix: req->rest is what follows */
	listen_auth auth;
	/* Step 3 above. 0, or -1 with rep set to the error to answer. */
	int (*handle)(listen_req *req, listen_reply *rep);
	/* Step 5, or NULL. results (n of them) belong to the server. */
	void (*done)(listen_req *req, const listen_result *results, size_t n, listen_reply *rep);
	const void *data; /* the route's own (a per-kind endpoint's config) */
};

/* A path of ingest.listen.endpoints (and /events when listed there): the
 * route's data. kind: the kind its events get in properties.kind (one
 * with another kind is rejected); types: the event types it takes (NULL:
 * any); sources: the sources that may post (NULL: any). */
typedef struct {
	char *path, *kind;
	char **types;
	size_t ntypes;
	char **sources;
	size_t nsources;
} listen_endpoint;

/* ---- the request ---------------------------------------------------------------- */

typedef struct {
	const char *name, *value; /* decoded ('+' is a space, %XX a byte) */
} listen_param;

struct listen_req {
	const char *method;       /* "GET", "POST", ... */
	const char *path;         /* the path, percent-decoded, without ?query */
	const char *rest;         /* after route->path when route->prefix, else "" */
	const char *query;        /* the raw query after '?', or "" */
	const char *url;          /* the full URL as the client asked for it:
				     ingest.listen.publicUrl (scheme://host[:port]
				     [/base]) + the raw path and ?query, or without
				     publicUrl http(s)://HOST-header + the same */
	const char *body;         /* the body bytes (NUL after them), or "" */
	size_t body_len;
	const listen_param *form; /* the body's fields when its Content-Type is
				     application/x-www-form-urlencoded, in body
				     order (repeats kept); else none */
	size_t nform;
	const listen_route *route;
	const char *source;       /* LISTEN_AUTH_SOURCE: the source that
				     signed or held the token, else NULL */
	uint64_t number;          /* the request's number since the start:
				     rejects name "METHOD PATH#NUMBER:LINE" */
	int64_t now;              /* jrn_now() when the request came */
	void *server;             /* the server's (opaque) */
};

/* The value of the request header name (case-insensitive), or NULL. When
 * it repeats, the first. Borrowed from the request. */
const char *listen_header(const listen_req *req, const char *name);
/* The value of form field name (first of repeats), or NULL. */
const char *listen_form_get(const listen_req *req, const char *name);
/* The value of the query argument name, decoded, or NULL. */
const char *listen_query_get(const listen_req *req, const char *name);

/* ---- events to store ---------------------------------------------------------------- */

/* Queues one event, the JSON text json[0..len) (copied), to be checked and
 * stored as a line of a file is. 0, or -1 (out of memory, or more than
 * LISTEN_MAX_LINES lines in one request: rep should then say 413). */
int listen_emit(listen_req *req, const char *json, size_t len);
/* The same for an event as jv (consumed; serialised here). */
int listen_emit_jv(listen_req *req, jv ev);
/* A line the handler refuses itself, for reason (copied): it gets a
 * LISTEN_REJECTED result and goes to --rejects like record.c's rejects. */
int listen_emit_rejected(listen_req *req, const char *json, size_t len, const char *reason);
#define LISTEN_MAX_LINES 100000 /* events in one request */

/* What the writer thread lends a write: the state file and the writers of
 * its tables (lib/reach.c's consent and suppressions, lib/profile.c),
 * inside the group's transaction. */
typedef struct {
	sqlite3 *db;
	jrn_reach *reach;
	jrn_profile *profile;
} listen_db;
/* A write to run inside the transaction after the request's events are
 * stored: fn(d, arg, e) returns 0, or -1 with e (the transaction is rolled
 * back and the request, with every other of the group, answered 503).
 * free_arg(arg) runs once the request is done (NULL: nothing to free).
 * Runs on the writer thread. 0, or -1 (out of memory). */
typedef int (*listen_write_fn)(const listen_db *d, void *arg, jrn_err *e);
int listen_emit_write(listen_req *req, listen_write_fn fn, void *arg, void (*free_arg)(void *));

/* ---- the reply -------------------------------------------------------------- */

struct listen_reply {
	int status;               /* 200 unless set */
	const char *content_type; /* a static string; NULL: no body type */
	jrn_buf body;             /* owned by the reply */
	struct {
		char *name, *value;
	} headers[8];             /* owned: use listen_reply_header */
	int nheaders;
};

/* Adds header name: value (both copied; "Location", "Retry-After",
 * "Cache-Control", ...). 0, or -1 (out of memory or more than 8). */
int listen_reply_header(listen_reply *rep, const char *name, const char *value);
/* Sets status, the type and the body s[0..n) (copied). 0 or -1 (memory). */
int listen_reply_set(listen_reply *rep, int status, const char *type, const char *s, size_t n);
/* The error reply {"error": msg} as application/json with status; returns
 * -1 so that a handler can `return listen_reply_error(rep, 400, "...")`. */
int listen_reply_error(listen_reply *rep, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the routes of each part --------------------------------------------------------- */

/* listen-events.c: POST /events and the per-kind endpoints. */
int listen_events_handle(listen_req *req, listen_reply *rep);
void listen_events_done(listen_req *req, const listen_result *res, size_t n, listen_reply *rep);

/* track.c (branch track). Until it lands, listen.c's route table has
 * these paths answer 404 (listen_not_yet); wiring one is replacing
 * listen_not_yet by its handler in that row. Its setup and teardown go
 * where listen_run's comments "track: setup" and "track: free" are (one
 * line each). Its config keys go in ingest.listen (lib/config-schema.c's
 * listen_keys: "twilio" and "tracking" are declared there as S_OBJECT for
 * track.c to refine). */
int listen_track_open(listen_req *req, listen_reply *rep);     /* GET /o/ */
int listen_track_click(listen_req *req, listen_reply *rep);    /* GET /c/ */
int listen_unsub_page(listen_req *req, listen_reply *rep);     /* GET /u/ */
int listen_unsub_post(listen_req *req, listen_reply *rep);     /* POST /u/ */
int listen_twilio_inbound(listen_req *req, listen_reply *rep); /* POST */
int listen_twilio_status(listen_req *req, listen_reply *rep);  /* POST */
/* track.c's setup (ingest.listen.tracking and .twilio of opts->config, the
 * state file's path for its read-only lookups): 0, or -1 with e; and its
 * teardown. */
int listen_track_setup(const jrn_opts *opts, jrn_err *e);
void listen_track_free(void);
/* 404 "no such path": what the track rows answer until they are wired. */
int listen_not_yet(listen_req *req, listen_reply *rep);

/* ---- pure helpers (unit-tested: t/unit/jrn-ingest-listen.c) ----------------------------- */

/* The length of the JSON value that starts p[0..n) (text that
 * jrn_json_check passed): strings skipped with their escapes, brackets
 * counted, a scalar up to its delimiter. */
size_t listen_json_value_end(const char *p, size_t n);
/* Decodes a form field in place, as application/x-www-form-urlencoded
 * says (WHATWG URL, "application/x-www-form-urlencoded parsing"): '+' is a
 * space, %XX a byte (a '%' not followed by two hex digits stays). */
void listen_form_decode(char *s);

/* ---- the server (listen.c), called by main.c --------------------------------------------- */

/* What main.c lends the server: the store it writes with (the same
 * statements as the file path), the rejects, the output, and how to store
 * a batch and count its records. */
typedef struct {
	jrn_opts *opts;       /* borrowed: --db, --config, -q/-v */
	listen_db db;         /* NULL db: --dry-run */
	jrn_rejects *rej;
	/* store_batch(b, fresh, e): stores b's records in the open
	 * transaction, fresh[i] set when record i is new; 0 or -1 with e. */
	int (*store_batch)(batch *b, unsigned char *fresh, jrn_err *e);
	/* emit(b, fresh): writes the records to stdout as the file path
	 * does (--store-only, --all) and counts them; 0, or -1 when the
	 * output failed (EPIPE: the reader is gone). */
	int (*emit)(batch *b, const unsigned char *fresh);
	/* take_line(b, ln, rej, fatal): record.c's ingest_take_line, and
	 * with publish the server's max_payload (main.c's publish_fits):
	 * the same checks as a line of a file. */
	int (*take_line)(batch *b, const jrn_line *ln, jrn_rejects *rej, jrn_err *fatal);
	/* --publish: no state file (db.db NULL); store_batch publishes to
	 * NATS JetStream and waits for its acknowledgements, fresh[i] 1
	 * published, 2 a duplicate (the stream's Nats-Msg-Id window), 0
	 * not acknowledged (nats.h). A request is answered 200 only when
	 * every event of it was acknowledged, else 503; writes
	 * (listen_emit_write) are refused. health() is NULL when the
	 * server connection is up, else why not (GET /healthz). */
	bool publish;
	const char *(*health)(void);
	bool served; /* set by listen_run once it served (for the summary) */
} listen_env;

/* Serves ADDR:PORT (addr "127.0.0.1:8080", "[::1]:8080", ":8080" all
 * addresses) until SIGTERM or SIGINT, then stops accepting, answers what
 * is in flight and returns 0; 1 (said) when it cannot start or the output
 * fails. */
int listen_run(const char *addr, listen_env *env);
/* --check-config: listen_run's set-up alone (addr, NULL for none, parsed;
 * ingest.listen loaded, its TLS files read; tracking), freed again,
 * nothing bound, nothing read. 0, or the exit status listen_run would
 * start with (said). */
int listen_check(const char *addr, listen_env *env);

#endif
