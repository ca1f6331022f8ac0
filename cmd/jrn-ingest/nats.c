/*
 * nats.c: jrn-ingest --publish and --from over NATS JetStream (nats.h says
 * the contract; jrn-ingest(1) NATS the rules).
 */
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nats.h"

#define MAX_URLS 16
#define OWN_SERVER_MS 500 /* own_server's wait for the replies */
#define END_SUB_MS 2000   /* end_sub's wait for the server's PONG */
#define PLACE_TRIES 20    /* subscribe's; on three replicas (2/3)^20: 1 consumer in 3,300 stays away */

struct ingest_nats {
	natsConnection *nc;
	natsOptions *no;
	jsCtx *js;
	char *stream, *subject, *urls_shown;
	int parts, verbosity;
	bool created; /* ensure_stream made the stream */
	int64_t ack_ms, deadline_ms, max_payload;
	/* the ack handler's view of the batch being published */
	pthread_mutex_t mu;
	const batch *b;
	unsigned char *state, *resent;
	int32_t *slots; /* open addressing: record index by id, -1 empty */
	size_t nslots;
	/* per record, its message while one is in flight (else NULL), and
	 * the first record not acknowledged: acknowledgements come back in
	 * publish order, so on_ack finds most by their message at the
	 * cursor, not by their id (read and written with __atomic: the
	 * publishing thread sets an entry as the ack thread reads others) */
	natsMsg **msgs;
	size_t msgs_cap, cursor;
	natsMsg **failed; /* answered with an error: to re-send */
	size_t nfailed, failed_cap;
	char last_err[200];
	bool outage, closing; /* closing: the callbacks keep quiet */
	bool unanswered;      /* a request or publish went unanswered: a late
			       * answer may come, so drained at close */
	bool published;       /* something was published: its last
			       * acknowledgement may still be in the library's
			       * hands, so drained at close too */
	/* --from */
	natsSubscription **subs; /* per partition, NULL when not owned (or all are) */
	natsSubscription *one;   /* every partition owned: one consumer of them
				  * all (<subject>.*), or NULL */
	uint64_t *end;           /* --drain: the last sequence to reach */
	uint64_t *seen;          /* the last sequence taken */
	bool drain;
	int next; /* the partition to wait on next */
	/* messages taken, destroyed 4,096 at a time (about 2 MB held): the
	 * library hands each natsMsg_Destroy to its collector thread, and
	 * wakes it when it waits, so one at a time woke it for most messages
	 * (256 at a time: 0.13 s of the main thread over 200,000 messages;
	 * 4,096: 0.07 s) */
	natsMsg *dead[4096];
	int ndead;
	char **names; /* per owned partition: "nats:<subject>.<p>", the rejects' FILE */
	char *self;      /* the name of the server this connection is on, when it
			  * holds a replica of the stream (self_holds_replica) */
	bool self_asked; /* self_holds_replica was asked */
};

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void bury(ingest_nats *N);

static void sleep_ms(int64_t ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* ---- the settings ------------------------------------------------------- */

int ingest_nats_url_check(const char *urls, jrn_err *e)
{
	int n = 0;
	const char *p = urls;
	if (!*urls)
		return jrn_fail(e, "no URL (nats://HOST:PORT)");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (++n > MAX_URLS)
			return jrn_fail(e, "more than %d URLs (the limit)", MAX_URLS);
		if (len < 8 || strncmp(p, "nats://", 7))
			return jrn_fail(e, "'%.*s' is not nats://HOST[:PORT]", (int)len, p);
		const char *h = p + 7, *stop = p + len, *colon = NULL;
		for (const char *q = h; q < stop; q++) {
			if (*q == ':')
				colon = q;
			else if (!(*q == '.' || *q == '-' || *q == '_' || (*q >= '0' && *q <= '9') ||
				   (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
				return jrn_fail(e, "'%.*s' is not nats://HOST[:PORT]", (int)len, p);
		}
		if ((colon ? colon : stop) == h)
			return jrn_fail(e, "'%.*s': no host", (int)len, p);
		if (colon) {
			long port = 0;
			for (const char *q = colon + 1; q < stop; q++)
				port = (*q >= '0' && *q <= '9' && port < 100000) ? port * 10 + (*q - '0') : -1;
			if (colon + 1 == stop || port < 1 || port > 65535)
				return jrn_fail(e, "'%.*s': the port is not 1 to 65535", (int)len, p);
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

static int part_number(const char **s, long *v)
{
	char *end;
	if (**s < '0' || **s > '9')
		return -1;
	errno = 0;
	*v = strtol(*s, &end, 10);
	if (errno || *v >= INGEST_NATS_MAX_PARTITIONS)
		return -1;
	*s = end;
	return 0;
}

int ingest_nats_partitions(const char *list, int n, unsigned char *owned, jrn_err *e)
{
	if (owned)
		memset(owned, 0, (size_t)n);
	const char *s = list;
	if (!*s)
		return jrn_fail(e, "an empty list (0,3,5 or 0-3 or P/N)");
	for (;;) {
		const char *item = s;
		long a, b;
		if (part_number(&s, &a) < 0)
			return jrn_fail(e, "'%s' is not a list of partitions (0,3,5 or 0-3 or P/N, each below %d)",
					list, INGEST_NATS_MAX_PARTITIONS);
		b = a;
		if (*s == '/') {
			s++;
			if (part_number(&s, &b) < 0 || b < 1 || (*s && *s != ','))
				return jrn_fail(e, "'%s' is not P/N", list);
			if (a >= b)
				return jrn_fail(e, "%ld/%ld: %ld is not below %ld", a, b, a, b);
			if (n && b != n)
				return jrn_fail(e, "%ld/%ld: %ld is not the %d partitions of the stream"
						" (nats.partitions)", a, b, b, n);
			b = a;
		} else if (*s == '-') {
			s++;
			if (part_number(&s, &b) < 0 || b < a)
				return jrn_fail(e, "'%.*s' is not a range LOW-HIGH", (int)(s - item), item);
		}
		if (n && b >= n)
			return jrn_fail(e, "%ld: not below the %d partitions (nats.partitions)", b, n);
		for (long p = a; owned && p <= b; p++) {
			if (owned[p])
				return jrn_fail(e, "'%s': partition %ld given twice", list, p);
			owned[p] = 1;
		}
		if (!*s)
			return 0;
		if (*s != ',')
			return jrn_fail(e, "'%s' is not a list of partitions (0,3,5 or 0-3 or P/N)", list);
		s++;
	}
}

/* A stream name as JetStream takes it: 1 to 64 of [A-Za-z0-9_-]. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (; *s; s++)
		if (!(*s == '_' || *s == '-' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

/* A subject prefix: dot-separated tokens of name_ok's characters, at most
 * 200 bytes. */
static bool subject_ok(const char *s)
{
	if (strlen(s) > 200 || !*s || *s == '.' || s[strlen(s) - 1] == '.' || strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (!(*s == '.' || *s == '_' || *s == '-' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

static int get_int(jv cfg, const char *key, int64_t def, int64_t *v, jrn_err *e)
{
	*v = def;
	return jrn_config_int(cfg, key, v, e) < 0 ? -1 : 0;
}

static int get_ms(jv cfg, const char *key, int64_t def, int64_t *v, jrn_err *e)
{
	*v = def;
	return jrn_config_duration(cfg, key, v, e) < 0 ? -1 : 0;
}

static int get_str(jv cfg, const char *key, const char *def, char **v, jrn_err *e)
{
	*v = NULL;
	if (jrn_config_string(cfg, key, v, e) < 0)
		return -1;
	if (!*v && !(*v = strdup(def)))
		return jrn_fail(e, "out of memory");
	return 0;
}

/* ---- connection, outages ------------------------------------------------ */

static void on_disconnect(natsConnection *nc, void *closure)
{
	(void)nc;
	ingest_nats *N = closure;
	if (!N->outage && !N->closing)
		jrn_say(0, "nats: the server is gone (%s): retrying", N->urls_shown);
	N->outage = true;
}

static void on_reconnect(natsConnection *nc, void *closure)
{
	ingest_nats *N = closure;
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	if (!N->closing)
		jrn_say(0, "nats: connected again (%s)", url);
	N->outage = false;
}

/* Reconnect back-off: 100 ms doubling to 5 s (jrn-ingest(1) NATS). */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
	(void)nc;
	ingest_nats *N = closure;
	if (N->verbosity > 0)
		jrn_say(0, "nats: reconnect attempt %d", attempts);
	int64_t d = 100;
	for (int i = 1; i < attempts && d < 5000; i++)
		d *= 2;
	return d < 5000 ? d : 5000;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure);

static int nats_fail(jrn_err *e, const char *what, natsStatus s)
{
	const char *text = natsStatus_GetText(s);
	const char *last = nats_GetLastError(NULL);
	/* libnats' last error starts with its source place, "(conn.c:2088): ",
	 * and often only repeats the status: neither is said */
	if (last && *last == '(') {
		const char *end = strstr(last, "): ");
		last = end ? end + 3 : last;
	}
	if (!last || !*last || !strcmp(last, text))
		return jrn_fail(e, "%s: %s", what, text);
	return jrn_fail(e, "%s: %s: %s", what, text, last);
}

/* nats_fail of a request (to the JetStream API) that failed: its answer
 * may still come, so N is drained at close. */
static int request_fail(ingest_nats *N, jrn_err *e, const char *what, natsStatus s)
{
	N->unanswered = true;
	return nats_fail(e, what, s);
}

/* The server's authentication and TLS from cfg (jrn-ingest(1), NATS
 * SECURITY): nats.user with nats.password, or nats.token, or
 * nats.credentials (a .creds file: a user JWT and its NKey seed, NATS's
 * decentralised auth); nats.tls.ca (the CA bundle the servers' certificates
 * are checked against), nats.tls.cert with nats.tls.key (a client
 * certificate), any of them making the connection TLS. Secrets come from
 * ${NAME} and are never shown. 0, or -1 with e and *usage set when the
 * configuration itself is wrong (exit 2) rather than a file unreadable. */
static int auth_options(ingest_nats *N, jv cfg, bool *usage, jrn_err *e)
{
	char *k[7] = {0};
	static const char *const names[7] = {"nats.user", "nats.password", "nats.token",
					     "nats.credentials", "nats.tls.ca", "nats.tls.cert",
					     "nats.tls.key"};
	int rc = 0;
	*usage = true;
	for (int i = 0; i < 7 && rc == 0; i++)
		if (get_str(cfg, names[i], "", &k[i], e) < 0)
			rc = -1;
	const char *user = rc ? "" : k[0], *pass = rc ? "" : k[1], *token = rc ? "" : k[2],
		   *creds = rc ? "" : k[3], *ca = rc ? "" : k[4], *cert = rc ? "" : k[5],
		   *key = rc ? "" : k[6];
	if (rc == 0 && !*user != !*pass)
		rc = jrn_fail(e, "nats.user and nats.password go together");
	else if (rc == 0 && (!!*user + !!*token + !!*creds) > 1)
		rc = jrn_fail(e, "nats.user, nats.token and nats.credentials exclude each other");
	else if (rc == 0 && !*cert != !*key)
		rc = jrn_fail(e, "nats.tls.cert and nats.tls.key go together");
	if (rc == 0)
		*usage = false;
	for (int i = 3; rc == 0 && i < 7; i++) /* the files: readable, else why not */
		if (*k[i] && access(k[i], R_OK) != 0)
			rc = jrn_fail(e, "%s: %s: %s", names[i], jrn_config_shown(cfg, names[i], k[i]),
				      strerror(errno));
	natsStatus s = NATS_OK;
	int bad = -1; /* names[bad] failed */
	if (rc == 0) {
		if (*user && (s = natsOptions_SetUserInfo(N->no, user, pass)) != NATS_OK)
			bad = 0;
		else if (*token && (s = natsOptions_SetToken(N->no, token)) != NATS_OK)
			bad = 2;
		else if (*creds && (s = natsOptions_SetUserCredentialsFromFiles(N->no, creds, NULL)) != NATS_OK)
			bad = 3;
		else if ((*ca || *cert) && (s = natsOptions_SetSecure(N->no, true)) != NATS_OK)
			rc = jrn_fail(e, "nats.tls: %s", natsStatus_GetText(s));
		else if (*ca && (s = natsOptions_LoadCATrustedCertificates(N->no, ca)) != NATS_OK)
			bad = 4;
		else if (*cert && (s = natsOptions_LoadCertificatesChain(N->no, cert, key)) != NATS_OK)
			bad = 5;
	}
	if (bad >= 3) { /* a file: named as written, with libnats' reason */
		const char *le = nats_GetLastError(NULL);
		if (le && *le == '(' && strstr(le, "): ")) /* "(opts.c:380): " */
			le = strstr(le, "): ") + 3;
		if (bad == 5 && le && strstr(le, "private key")) /* the chain's key, not its certificate */
			bad = 6;
		rc = jrn_fail(e, "%s: %s: %s", names[bad], jrn_config_shown(cfg, names[bad], k[bad]),
			      le && *le ? le : natsStatus_GetText(s));
	} else if (bad >= 0) {
		rc = jrn_fail(e, "%s: %s", names[bad], natsStatus_GetText(s));
	}
	for (int i = 0; i < 7; i++)
		free(k[i]);
	return rc;
}

static int connect_to(ingest_nats *N, jv cfg, const char *urls, int64_t batch, int *status,
		      jrn_err *e)
{
	char *copy = strdup(urls);
	const char *list[MAX_URLS];
	int n = 0;
	if (!copy)
		return jrn_fail(e, "out of memory");
	for (char *save, *t = strtok_r(copy, ",", &save); t && n < MAX_URLS;
	     t = strtok_r(NULL, ",", &save))
		list[n++] = t;
	natsStatus s = natsOptions_Create(&N->no);
	if (s == NATS_OK)
		s = natsOptions_SetServers(N->no, list, n);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(N->no, -1);
	if (s == NATS_OK)
		s = natsOptions_SetCustomReconnectDelay(N->no, reconnect_delay, N);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(N->no, on_disconnect, N);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(N->no, on_reconnect, N);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(N->no, 64 * 1024 * 1024);
	if (s == NATS_OK)
		s = natsOptions_SetName(N->no, "jrn-ingest");
	free(copy);
	if (s != NATS_OK)
		return nats_fail(e, "nats options", s);
	bool usage = false;
	if (auth_options(N, cfg, &usage, e) < 0) {
		if (usage)
			*status = JRN_EXIT_USAGE;
		return -1;
	}
	s = natsConnection_Connect(&N->nc, N->no);
	if (s != NATS_OK)
		return nats_fail(e, N->urls_shown, s);
	N->max_payload = natsConnection_GetMaxPayload(N->nc);
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = N;
	/* At most batch publishes in flight; one more waits for room (the
	 * flow control of a pipeline) up to nats.ackTimeout, not libnats'
	 * 200 ms: a short stall under a busy R3 stream turned every window into
	 * a stop-and-wait round and said "unacked" of a publish never sent. */
	jo.PublishAsync.MaxPending = batch;
	jo.PublishAsync.StallWait = N->ack_ms;
	s = natsConnection_JetStream(&N->js, N->nc, &jo);
	if (s != NATS_OK)
		return nats_fail(e, "JetStream", s);
	return 0;
}

/* The stream: created when missing, else checked (nats.h). -1 with e. */
static int ensure_stream(ingest_nats *N, int64_t replicas, const char *storage, int64_t dup_ms,
			 jrn_err *e)
{
	char subj[256], desc[64];
	snprintf(subj, sizeof subj, "%s.*", N->subject);
	snprintf(desc, sizeof desc, "jrn partitions=%d", N->parts);
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, N->js, N->stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND) {
		jsStreamConfig sc;
		jsStreamConfig_Init(&sc);
		const char *subjects[1] = {subj};
		sc.Name = N->stream;
		sc.Description = desc;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Replicas = replicas;
		sc.Storage = strcmp(storage, "memory") ? js_FileStorage : js_MemoryStorage;
		sc.Duplicates = dup_ms * 1000000;
		s = js_AddStream(&si, N->js, &sc, NULL, &jerr);
		if (s != NATS_OK)
			return request_fail(N, e, "creating the stream", s);
		N->created = true;
		if (N->verbosity > 0)
			jrn_say(0, "stream %s created (%s, %d partitions)", N->stream, subj, N->parts);
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_OK)
		return request_fail(N, e, "the stream's info", s);
	int rc = 0;
	jsStreamConfig *c = si->Config;
	if (c->SubjectsLen != 1 || strcmp(c->Subjects[0], subj))
		rc = jrn_fail(e, "stream %s exists with other subjects (%s%s), not %s (nats.subject):"
			      " jrn never changes a stream", N->stream,
			      c->SubjectsLen ? c->Subjects[0] : "none", c->SubjectsLen > 1 ? ", ..." : "",
			      subj);
	else if (!c->Description || strcmp(c->Description, desc))
		rc = jrn_fail(e, "stream %s exists with another partition count ('%s'), not %d"
			      " (nats.partitions): jrn never changes a stream", N->stream,
			      c->Description ? c->Description : "no description", N->parts);
	jsStreamInfo_Destroy(si);
	return rc;
}

/* long: reads and checks every nats: key, in the order jrn.yaml(5) lists them */
ingest_nats *ingest_nats_open(jv cfg, const char *urls, int verbosity, int *status, jrn_err *e)
{
	ingest_nats *N = calloc(1, sizeof *N);
	char *url = NULL, *storage = NULL;
	int64_t parts, replicas, dup_ms, batch;
	*status = JRN_EXIT_USAGE;
	if (!N) {
		*status = JRN_EXIT_FAIL;
		jrn_fail(e, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&N->mu, NULL);
	N->verbosity = verbosity;
	if (get_str(cfg, "nats.url", "", &url, e) < 0 || get_str(cfg, "nats.stream", "JRN", &N->stream, e) < 0 ||
	    get_str(cfg, "nats.subject", "jrn.events", &N->subject, e) < 0 ||
	    get_str(cfg, "nats.storage", "file", &storage, e) < 0 ||
	    get_int(cfg, "nats.partitions", 8, &parts, e) < 0 ||
	    get_int(cfg, "nats.replicas", 1, &replicas, e) < 0 ||
	    get_ms(cfg, "nats.duplicateWindow", 120000, &dup_ms, e) < 0 ||
	    get_ms(cfg, "nats.ackTimeout", 5000, &N->ack_ms, e) < 0 ||
	    get_ms(cfg, "nats.deadline", 60000, &N->deadline_ms, e) < 0 ||
	    get_int(cfg, "nats.batch", 4096, &batch, e) < 0)
		goto fail;
	N->parts = (int)parts;
	if (!name_ok(N->stream)) {
		jrn_fail(e, "nats.stream: '%s' is not 1 to 64 of A-Z a-z 0-9 _ -", N->stream);
		goto fail;
	}
	if (!subject_ok(N->subject)) {
		jrn_fail(e, "nats.subject: '%s' is not dot-separated tokens of A-Z a-z 0-9 _ -"
			 " (at most 200 bytes)", N->subject);
		goto fail;
	}
	const char *use = urls ? urls : url;
	if (!*use) {
		jrn_fail(e, "no server: give --publish URL, --from URL or nats.url");
		goto fail;
	}
	N->urls_shown = strdup(urls ? urls : jrn_config_shown(cfg, "nats.url", url));
	if (!N->urls_shown || ingest_nats_url_check(use, e) < 0) {
		if (!N->urls_shown)
			jrn_fail(e, "out of memory");
		else if (!urls) {
			jrn_err e2 = *e;
			jrn_fail(e, "nats.url: %s", e2.msg);
		}
		goto fail;
	}
	*status = JRN_EXIT_FAIL;
	if (connect_to(N, cfg, use, batch, status, e) < 0 ||
	    ensure_stream(N, replicas, storage, dup_ms, e) < 0)
		goto fail;
	free(url);
	free(storage);
	return N;
fail:
	free(url);
	free(storage);
	ingest_nats_close(N);
	return NULL;
}

int ingest_nats_count(const ingest_nats *N) { return N->parts; }
bool ingest_nats_created(const ingest_nats *N) { return N->created; }
const char *ingest_nats_stream(const ingest_nats *N) { return N->stream; }
int64_t ingest_nats_max_payload(const ingest_nats *N) { return N->max_payload; }
bool ingest_nats_connected(ingest_nats *N)
{
	return natsConnection_Status(N->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* Ends subscription sub of nc: unsubscribed, then a round trip to the
 * server (its PONG comes after every message it sent before the UNSUB,
 * and the connection's reader thread handles them in order), then
 * destroyed. Why: libnats 3.4.1's reader thread takes a subscription
 * from the connection's table and then uses it without a reference
 * (conn.c natsConn_processMsg), so one destroyed while a message for it
 * is being read is used after it was freed (AddressSanitizer caught it
 * with own_server's subscription, whose other servers' replies were
 * still coming). Not connected: nothing can be read for it. */
static void end_sub(natsConnection *nc, natsSubscription *sub)
{
	if (!sub)
		return;
	natsSubscription_Unsubscribe(sub);
	if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED)
		natsConnection_FlushTimeout(nc, END_SUB_MS);
	natsSubscription_Destroy(sub);
}

/* Drains nc (natsConnection_Drain): every message its subscriptions
 * hold goes to their handlers, and the connection is closed, waiting up
 * to ms for that. Why: libnats 3.4.1's collector thread, which frees
 * every natsMsg_Destroy'd message, ends at nats_CloseAndWait, and a
 * close or natsSubscription_Destroy leaves what a subscription still
 * holds (a late acknowledgement of a publish re-sent) to be freed by its
 * delivery thread whenever that ends, which can be after the collector:
 * lost (sub.c natsSub_deliverMsgs, nats.c _close, _freeGC; a leak
 * LeakSanitizer caught after a leader kill; and the last acknowledgement
 * of a run, handled, whose message the delivery thread destroys after
 * our handler returned, which may be after the close: caught under
 * load, every publish answered at once). A drain ends each
 * subscription only once its messages are handled. Not connected (or no
 * answer within ms): closed as it stands. */
static void drain_close(natsConnection *nc, int64_t ms)
{
	if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED ||
	    natsConnection_DrainTimeout(nc, ms) != NATS_OK)
		return;
	for (int64_t until = mono_ms() + ms + 1000; !natsConnection_IsClosed(nc) && mono_ms() < until;)
		sleep_ms(1);
}

void ingest_nats_close(ingest_nats *N)
{
	if (!N)
		return;
	N->closing = true;
	bury(N);
	for (int p = 0; N->subs && p < N->parts; p++)
		end_sub(N->nc, N->subs[p]);
	end_sub(N->nc, N->one);
	if ((N->unanswered || N->published) && N->nc) /* (before jsCtx_Destroy ends its subscription) */
		drain_close(N->nc, N->ack_ms);
	jsCtx_Destroy(N->js);
	natsConnection_Close(N->nc);
	natsConnection_Destroy(N->nc);
	natsOptions_Destroy(N->no);
	/* while the collector runs (on_ack, the one other writer, was
	 * called by the subscription the close ended) */
	pthread_mutex_lock(&N->mu);
	for (size_t i = 0; i < N->nfailed; i++)
		natsMsg_Destroy(N->failed[i]);
	N->nfailed = 0;
	pthread_mutex_unlock(&N->mu);
	nats_CloseAndWait(5000); /* the library's threads end before N is freed */
	free(N->failed);
	free(N->subs);
	for (int p = 0; N->names && p < N->parts; p++)
		free(N->names[p]);
	free(N->names);
	free(N->end);
	free(N->seen);
	free(N->slots);
	free(N->resent);
	free(N->msgs);
	free(N->stream);
	free(N->subject);
	free(N->urls_shown);
	free(N->self);
	pthread_mutex_destroy(&N->mu);
	free(N);
}

/* ---- publishing ------------------------------------------------------------ */

static size_t slot_of(const char *id, size_t n, size_t nslots)
{
	return (size_t)jrn_hash64(id, n) & (nslots - 1);
}

/* Indexes b's records by id. -1 with e. */
static int index_batch(ingest_nats *N, const batch *b, jrn_err *e)
{
	size_t want = 16;
	while (want < 2 * b->n)
		want *= 2;
	if (want > N->nslots) {
		int32_t *p = realloc(N->slots, want * sizeof *p);
		unsigned char *r = realloc(N->resent, want);
		if (p)
			N->slots = p;
		if (r)
			N->resent = r;
		if (!p || !r)
			return jrn_fail(e, "out of memory");
	}
	if (b->n > N->msgs_cap) {
		natsMsg **m = realloc(N->msgs, b->n * sizeof *m);
		if (!m)
			return jrn_fail(e, "out of memory");
		N->msgs = m;
		N->msgs_cap = b->n;
	}
	N->nslots = want;
	memset(N->slots, 0xff, want * sizeof *N->slots);
	memset(N->resent, 0, b->n);
	if (b->n)
		memset(N->msgs, 0, b->n * sizeof *N->msgs);
	N->cursor = 0;
	for (size_t i = 0; i < b->n; i++) {
		span id = b->recs[i].id;
		size_t k = slot_of(b->text.p + id.off, id.len, want);
		while (N->slots[k] >= 0)
			k = (k + 1) & (want - 1);
		N->slots[k] = (int32_t)i;
	}
	return 0;
}

/* msg is no longer in flight: record i's entry, when it holds msg, is
 * cleared (mu held). */
static void forget(ingest_nats *N, long i, natsMsg *msg)
{
	if (__atomic_load_n(&N->msgs[i], __ATOMIC_RELAXED) == msg)
		__atomic_store_n(&N->msgs[i], NULL, __ATOMIC_RELAXED);
}

/* Record i was acknowledged (pa, borrowed) for message msg: its state,
 * msg no longer in flight, the cursor past what is acknowledged (mu
 * held). */
static void acked(ingest_nats *N, long i, const jsPubAck *pa, natsMsg *msg)
{
	N->state[i] = pa->Duplicate && !N->resent[i] ? 2 : 1;
	forget(N, i, msg);
	while (N->cursor < N->b->n && N->state[N->cursor])
		N->cursor++;
}

/* The record msg was published for (mu held): looked for among the next
 * 64 from the cursor by its message, else among the records of its
 * Nats-Msg-Id's id: the one whose message it is, else the first not
 * acknowledged, so that no entry of N->msgs is left
 * holding msg once the caller destroys it. -1 when none is waiting. */
static long record_of(ingest_nats *N, natsMsg *msg)
{
	for (size_t k = N->cursor, end = N->b->n - k > 64 ? k + 64 : N->b->n; k < end; k++)
		if (__atomic_load_n(&N->msgs[k], __ATOMIC_RELAXED) == msg)
			return (long)k;
	const char *id = NULL;
	if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK)
		return -1;
	size_t n = strlen(id);
	long first = -1;
	for (size_t k = slot_of(id, n, N->nslots); N->slots[k] >= 0; k = (k + 1) & (N->nslots - 1)) {
		long i = N->slots[k];
		span s = N->b->recs[i].id;
		if (s.len != n || memcmp(N->b->text.p + s.off, id, n))
			continue;
		if (__atomic_load_n(&N->msgs[i], __ATOMIC_RELAXED) == msg)
			return i;
		if (first < 0 && !N->state[i])
			first = i;
	}
	return first;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	ingest_nats *N = closure;
	pthread_mutex_lock(&N->mu);
	if (pa && N->b) {
		long i = record_of(N, msg);
		if (i >= 0)
			acked(N, i, pa, msg);
		pthread_mutex_unlock(&N->mu);
		natsMsg_Destroy(msg); /* (out of the lock: the publishing thread waits on it) */
		return;
	} else if (pae) {
		snprintf(N->last_err, sizeof N->last_err, "%s%s%s", natsStatus_GetText(pae->Err),
			 pae->ErrText ? ": " : "", pae->ErrText ? pae->ErrText : "");
		natsMsg **f = N->failed;
		if (N->nfailed == N->failed_cap) {
			size_t cap = N->failed_cap ? 2 * N->failed_cap : 256;
			f = realloc(N->failed, cap * sizeof *f);
			if (f) {
				N->failed = f;
				N->failed_cap = cap;
			}
		}
		if (N->nfailed < N->failed_cap)
			N->failed[N->nfailed++] = msg; /* re-sent by the publishing loop */
		else { /* out of memory: it stays unacked, counted at the deadline */
			long i = N->b ? record_of(N, msg) : -1;
			if (i >= 0)
				forget(N, i, msg);
			natsMsg_Destroy(msg);
		}
	} else {
		natsMsg_Destroy(msg);
	}
	pthread_mutex_unlock(&N->mu);
}

/* Record i as a message: "<subject>.<p>", Nats-Msg-Id. NULL when out of memory. */
static natsMsg *make_msg(ingest_nats *N, const batch *b, size_t i)
{
	const record *r = &b->recs[i];
	char subj[256];
	int p = jrn_partition_of(b->text.p + r->customer.off, r->customer.len, N->parts);
	snprintf(subj, sizeof subj, "%s.%d", N->subject, p);
	char small[128];
	char *id = r->id.len < sizeof small ? small : malloc(r->id.len + 1);
	natsMsg *m = NULL;
	if (id) {
		memcpy(id, b->text.p + r->id.off, r->id.len);
		id[r->id.len] = '\0';
	}
	if (!id || natsMsg_Create(&m, subj, NULL, b->text.p + r->body.off, (int)r->body.len) != NATS_OK ||
	    natsMsgHeader_Set(m, "Nats-Msg-Id", id) != NATS_OK) {
		natsMsg_Destroy(m);
		m = NULL;
	}
	if (id != small)
		free(id);
	if (m)
		__atomic_store_n(&N->msgs[i], m, __ATOMIC_RELAXED);
	return m;
}

typedef struct {
	natsMsg **m;
	size_t n, cap;
} msg_list;

static int list_add(msg_list *l, natsMsg *m)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		natsMsg **p = realloc(l->m, cap * sizeof *p);
		if (!p)
			return -1;
		l->m = p;
		l->cap = cap;
	}
	l->m[l->n++] = m;
	return 0;
}

/* Whether publishing must pause: a publish was answered with an error, or
 * the connection is not up (what is written now would wait in libnats'
 * reconnect buffer and reach the stream before what the dead connection
 * lost). Either way what follows waits for the unanswered ones to be taken
 * back and re-sent in order, so that no event of a customer is stored
 * before an earlier one. */
static bool must_pause(ingest_nats *N)
{
	pthread_mutex_lock(&N->mu);
	bool pause = N->nfailed > 0;
	if (!pause && natsConnection_Status(N->nc) != NATS_CONN_STATUS_CONNECTED) {
		pause = true;
		snprintf(N->last_err, sizeof N->last_err, "not connected");
	}
	pthread_mutex_unlock(&N->mu);
	return pause;
}

/* Publishes resend[0] and waits for its answer: the probe that a stream
 * leader answers again before the rest goes out pipelined (one publish in
 * flight cannot overtake another). Marks its record acknowledged and
 * destroys it on success. 0 on success, -1 when it stays to re-send. */
static int probe(ingest_nats *N, natsMsg *m)
{
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = N->ack_ms;
	jsPubAck *pa = NULL;
	jsErrCode code = 0;
	natsStatus s = js_PublishMsg(&pa, N->js, m, &po, &code);
	if (s != NATS_OK) {
		snprintf(N->last_err, sizeof N->last_err, "%s", natsStatus_GetText(s));
		return -1;
	}
	pthread_mutex_lock(&N->mu);
	long i = record_of(N, m);
	if (i >= 0)
		acked(N, i, pa, m);
	pthread_mutex_unlock(&N->mu);
	jsPubAck_Destroy(pa);
	natsMsg_Destroy(m);
	return 0;
}

/* Publishes resend's messages (in the batch's order; the first one alone,
 * waiting for its answer), then b's records from *next on, until a publish
 * stalls or fails or must_pause says so; what was not sent goes back to
 * resend. -1 when out of memory. */
static int send_round(ingest_nats *N, const batch *b, size_t *next, msg_list *resend)
{
	msg_list keep = {0};
	bool stalled = false;
	for (size_t k = 0; k < resend->n; k++) {
		natsStatus s = NATS_TIMEOUT;
		if (!stalled && k == 0)
			s = probe(N, resend->m[k]) == 0 ? NATS_OK : NATS_TIMEOUT;
		else if (!stalled && !must_pause(N))
			s = js_PublishMsgAsync(N->js, &resend->m[k], NULL);
		if (s != NATS_OK) {
			stalled = true;
			if (list_add(&keep, resend->m[k]) < 0)
				return -1;
		}
	}
	free(resend->m);
	*resend = keep;
	while (!stalled && *next < b->n) {
		if (must_pause(N))
			break;
		natsMsg *m = make_msg(N, b, *next);
		if (!m)
			return -1;
		natsStatus s = js_PublishMsgAsync(N->js, &m, NULL);
		(*next)++;
		if (s != NATS_OK) {
			stalled = true;
			snprintf(N->last_err, sizeof N->last_err, "%s", natsStatus_GetText(s));
			if (list_add(resend, m) < 0)
				return -1;
		}
	}
	return 0;
}

typedef struct {
	size_t i; /* the record's place in the batch */
	natsMsg *m;
} pending_msg;

static int by_index(const void *a, const void *b)
{
	size_t x = ((const pending_msg *)a)->i, y = ((const pending_msg *)b)->i;
	return (x > y) - (x < y);
}

/* Takes back what is unanswered or answered with an error into resend,
 * marking those records as re-sent. -1 when out of memory. */
static int take_back(ingest_nats *N, msg_list *resend)
{
	natsMsgList pend = {0};
	int rc = 0;
	if (js_PublishAsyncGetPendingList(&pend, N->js) == NATS_OK) {
		for (int k = 0; k < pend.Count; k++)
			if (list_add(resend, pend.Msgs[k]) == 0)
				pend.Msgs[k] = NULL;
			else
				rc = -1;
		natsMsgList_Destroy(&pend);
	}
	pthread_mutex_lock(&N->mu);
	for (size_t k = 0; k < N->nfailed; k++)
		if (list_add(resend, N->failed[k]) < 0) {
			natsMsg_Destroy(N->failed[k]);
			rc = -1;
		}
	N->nfailed = 0;
	/* libnats' pending list comes in its hash table's order: put it back
	 * in the batch's, dropping what was answered meanwhile */
	pending_msg *at = malloc((resend->n ? resend->n : 1) * sizeof *at);
	if (!at) {
		pthread_mutex_unlock(&N->mu);
		return -1;
	}
	size_t kept = 0;
	for (size_t k = 0; k < resend->n; k++) {
		/* its record (the one whose message it is, else the first of its
		 * id not acknowledged): one acknowledged meanwhile needs it no more */
		long i = record_of(N, resend->m[k]);
		if (i >= 0 && N->state[i]) {
			forget(N, i, resend->m[k]);
			i = -1;
		}
		if (i < 0) {
			natsMsg_Destroy(resend->m[k]);
			continue;
		}
		N->resent[i] = 1;
		at[kept++] = (pending_msg){(size_t)i, resend->m[k]};
	}
	pthread_mutex_unlock(&N->mu);
	qsort(at, kept, sizeof *at, by_index);
	for (size_t k = 0; k < kept; k++)
		resend->m[k] = at[k].m;
	resend->n = kept;
	free(at);
	return rc;
}

/* How many of b's records have no answer yet, waiting until the monotonic
 * time until (ms) for the ack handlers still running: nothing is pending
 * in libnats once js_PublishAsyncComplete returns, but a handler may still
 * be on its way to set state[i]. */
static size_t await_handlers(ingest_nats *N, const batch *b, const unsigned char *state, int64_t until)
{
	for (;;) {
		size_t missing = 0;
		pthread_mutex_lock(&N->mu);
		for (size_t i = 0; i < b->n; i++)
			missing += !state[i];
		pthread_mutex_unlock(&N->mu);
		if (!missing || mono_ms() >= until)
			return missing;
		sleep_ms(1);
	}
}

int ingest_nats_publish(ingest_nats *N, const batch *b, unsigned char *state, jrn_err *e)
{
	memset(state, 0, b->n);
	N->published = N->published || b->n > 0;
	if (index_batch(N, b, e) < 0)
		return -1;
	pthread_mutex_lock(&N->mu);
	N->b = b;
	N->state = state;
	N->last_err[0] = 0;
	pthread_mutex_unlock(&N->mu);
	int64_t start = mono_ms(), backoff = 100;
	size_t next = 0;
	msg_list resend = {0};
	int rc = 0;
	bool said = false;
	for (;;) {
		if (send_round(N, b, &next, &resend) < 0) {
			rc = jrn_fail(e, "out of memory");
			break;
		}
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = N->ack_ms;
		natsStatus s = js_PublishAsyncComplete(N->js, &po);
		if (s == NATS_OK && resend.n == 0 && next == b->n) {
			pthread_mutex_lock(&N->mu);
			bool errs = N->nfailed > 0;
			pthread_mutex_unlock(&N->mu);
			if (!errs)
				break;
		}
		N->unanswered = true; /* a round more: what it takes back may be answered late */
		if (take_back(N, &resend) < 0) {
			rc = jrn_fail(e, "out of memory");
			break;
		}
		if (resend.n == 0 && next == b->n)
			break;
		if (mono_ms() - start >= N->deadline_ms) {
			size_t unacked = 0;
			for (size_t i = 0; i < b->n; i++)
				unacked += !state[i];
			rc = jrn_fail(e, "%zu events unacked after %lld ms (nats.deadline)%s%s", unacked,
				      (long long)N->deadline_ms, N->last_err[0] ? "; last error: " : "",
				      N->last_err);
			break;
		}
		if (resend.n && (!said || N->verbosity > 0))
			jrn_say(0, "nats: %zu publishes unacked (%s): re-sending", resend.n,
				N->last_err[0] ? N->last_err : "no answer within nats.ackTimeout");
		said = true;
		if (N->last_err[0]) {
			sleep_ms(backoff);
			backoff = backoff < 2000 ? backoff * 2 : 2000;
		}
		N->last_err[0] = 0;
	}
	for (size_t k = 0; k < resend.n; k++)
		natsMsg_Destroy(resend.m[k]);
	free(resend.m);
	if (rc == 0 && await_handlers(N, b, state, mono_ms() + N->ack_ms) > 0)
		rc = jrn_fail(e, "%zu events unacked: their acknowledgements were not handled within"
			      " %lld ms (nats.ackTimeout)", await_handlers(N, b, state, 0),
			      (long long)N->ack_ms);
	if (rc < 0) { /* what is still in flight is not this batch's any more */
		natsMsgList pend = {0};
		if (js_PublishAsyncGetPendingList(&pend, N->js) == NATS_OK)
			natsMsgList_Destroy(&pend);
	}
	pthread_mutex_lock(&N->mu);
	N->b = NULL;
	N->state = NULL;
	pthread_mutex_unlock(&N->mu);
	return rc;
}

/* ---- consuming ---------------------------------------------------------------- */

/* The name of the server this connection is on, asked of every server of
 * the account with $SYS.REQ.ACCOUNT.PING.CONNZ (the account-scoped
 * system request each nats-server answers with a reply naming itself,
 * {"server":{"name","id",...},"data":...}: nats-server events.go,
 * "System Events" in the NATS docs), the reply whose id is the one the
 * connection's INFO gave (natsConnection_GetConnectedServerId); the
 * filter {"cid": ours} keeps the replies small. Returns it malloc'd, or
 * NULL when no reply names it within ms (a server without a system
 * account, a user refused the subject: the request has no responders). */
static char *own_server(natsConnection *nc, int64_t ms)
{
	char id[128], body[64];
	uint64_t cid = 0;
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	char *name = NULL;
	if (natsConnection_GetConnectedServerId(nc, id, sizeof id) != NATS_OK ||
	    natsConnection_GetClientID(nc, &cid) != NATS_OK || natsInbox_Create(&inbox) != NATS_OK)
		return NULL;
	snprintf(body, sizeof body, "{\"cid\":%llu}", (unsigned long long)cid);
	if (natsConnection_SubscribeSync(&sub, nc, inbox) == NATS_OK &&
	    natsConnection_PublishRequestString(nc, "$SYS.REQ.ACCOUNT.PING.CONNZ", inbox,
						body) == NATS_OK)
		for (int64_t until = mono_ms() + ms, left; !name && (left = until - mono_ms()) > 0;) {
			natsMsg *m = NULL;
			if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
				break;
			int len = natsMsg_GetDataLength(m); /* (0: a status, no responders) */
			jv r = len > 0 ? jv_parse_sized(natsMsg_GetData(m), len) : jv_invalid();
			jv sid = jv_getpath(jv_copy(r), JV_ARRAY(jv_string("server"), jv_string("id")));
			jv sname = jv_getpath(r, JV_ARRAY(jv_string("server"), jv_string("name")));
			if (jv_get_kind(sid) == JV_KIND_STRING && jv_get_kind(sname) == JV_KIND_STRING &&
			    !strcmp(jv_string_value(sid), id))
				name = strdup(jv_string_value(sname));
			jv_free(sname);
			jv_free(sid);
			natsMsg_Destroy(m);
		}
	end_sub(nc, sub);
	natsInbox_Destroy(inbox);
	return name;
}

/* Whether this connection's server holds a replica of the stream, its
 * name then in N->self (asked once): only then can a consumer be placed
 * on it. */
static bool self_holds_replica(ingest_nats *N)
{
	if (N->self_asked)
		return N->self != NULL;
	N->self_asked = true;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	if (js_GetStreamInfo(&si, N->js, N->stream, NULL, &jerr) != NATS_OK || !si->Cluster) {
		jsStreamInfo_Destroy(si); /* (one server: nothing to choose) */
		return false;
	}
	char *name = own_server(N->nc, OWN_SERVER_MS);
	bool peer = name && si->Cluster->Leader && !strcmp(si->Cluster->Leader, name);
	for (int i = 0; name && !peer && i < si->Cluster->ReplicasLen; i++)
		peer = si->Cluster->Replicas[i]->Name && !strcmp(si->Cluster->Replicas[i]->Name, name);
	jsStreamInfo_Destroy(si);
	if (N->verbosity > 0)
		jrn_say(0, "nats: connected to server %s%s", name ? name : "(its name not known)",
			!name ? "" : peer ? ", a replica of the stream" : ", not a replica of the stream");
	if (peer)
		N->self = name;
	else
		free(name);
	return peer;
}

/* Whether sub's consumer was placed on a server other than this
 * connection's, one of the stream's replicas: its messages would then
 * go through two servers, the one that reads them from its replica and
 * ours. */
static bool placed_elsewhere(ingest_nats *N, natsSubscription *sub)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	if (!self_holds_replica(N) || natsSubscription_GetConsumerInfo(&ci, sub, NULL, &jerr) != NATS_OK)
		return false;
	bool away = ci->Cluster && ci->Cluster->Leader && strcmp(ci->Cluster->Leader, N->self);
	jsConsumerInfo_Destroy(ci);
	return away;
}

/* An ordered consumer of subj from stream sequence seq on, into *sub. A
 * clustered server places a consumer of one replica on a peer of the
 * stream at random (nats-server createGroupForConsumer), so one is made
 * again, up to PLACE_TRIES times, until it is on the server this
 * connection is on: each message then costs one server, not two (over
 * 200,000 events on three nodes sharing two CPUs: 1.7 s of the servers'
 * CPU against 2.6). 0, or -1 with e. */
static int subscribe(ingest_nats *N, const char *subj, uint64_t seq, natsSubscription **sub,
		     jrn_err *e)
{
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = N->stream;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverByStartSequence;
	so.Config.OptStartSeq = seq;
	for (int k = 1;; k++) {
		natsStatus s = js_SubscribeSync(sub, N->js, subj, NULL, &so, NULL);
		if (s != NATS_OK)
			return request_fail(N, e, subj, s);
		if (k == PLACE_TRIES || !placed_elsewhere(N, *sub)) {
			if (N->verbosity > 0)
				jrn_say(0, "nats: consumer of %s made %d %s", subj, k, k == 1 ? "time" : "times");
			return 0;
		}
		end_sub(N->nc, *sub);
		*sub = NULL;
	}
}

int ingest_nats_follow(ingest_nats *N, const unsigned char *owned, const uint64_t *start,
		       bool drain, jrn_err *e)
{
	N->subs = calloc((size_t)N->parts, sizeof *N->subs);
	N->end = calloc((size_t)N->parts, sizeof *N->end);
	N->seen = calloc((size_t)N->parts, sizeof *N->seen);
	N->names = calloc((size_t)N->parts, sizeof *N->names);
	if (!N->subs || !N->end || !N->seen || !N->names)
		return jrn_fail(e, "out of memory");
	N->drain = drain;
	/* Every partition owned (the one machine of a --drain, a rebuild):
	 * one ordered consumer of <subject>.* from the next sequence of the
	 * earliest partition with messages still to take (one taken up to its
	 * last message is not waited for: a quiet partition's old offset
	 * would replay the stream after it), each message's partition read
	 * from its subject. A consumer per partition filters the stream's
	 * messages for its own, so the server reads each message once for
	 * every partition (measured: 0.80 of the time over 200,000 events, 8
	 * partitions, 3 nodes) */
	bool all = N->parts > 1;
	for (int p = 0; p < N->parts; p++)
		all = all && owned[p];
	uint64_t from = UINT64_MAX, past = 0;
	for (int p = 0; p < N->parts; p++) {
		if (!owned[p])
			continue;
		char subj[256];
		snprintf(subj, sizeof subj, "%s.%d", N->subject, p);
		if (!(N->names[p] = malloc(strlen(subj) + 6)))
			return jrn_fail(e, "out of memory");
		sprintf(N->names[p], "nats:%s", subj);
		N->seen[p] = start[p];
		uint64_t end = 0; /* the partition's last sequence (0: none) */
		if (drain || all) {
			natsMsg *last = NULL;
			jsErrCode jerr = 0;
			natsStatus s = js_GetLastMsg(&last, N->js, N->stream, subj, NULL, &jerr);
			if (s == NATS_OK)
				end = natsMsg_GetSequence(last);
			else if (s != NATS_NOT_FOUND)
				return request_fail(N, e, subj, s);
			natsMsg_Destroy(last);
		}
		if (drain)
			N->end[p] = end;
		if (end > start[p] && start[p] < from)
			from = start[p];
		past = start[p] > past ? start[p] : past;
		past = end > past ? end : past;
		if (!all && subscribe(N, subj, start[p] + 1, &N->subs[p], e) < 0)
			return -1;
	}
	if (all) {
		char subj[256];
		snprintf(subj, sizeof subj, "%s.*", N->subject);
		/* (every partition taken to its end: from past the last of them) */
		return subscribe(N, subj, (from == UINT64_MAX ? past : from) + 1, &N->one, e);
	}
	return 0;
}

/* Whether --drain is done: every owned partition at its end. */
static bool drained(ingest_nats *N)
{
	for (int p = 0; p < N->parts; p++)
		if (N->names[p] && N->seen[p] < N->end[p])
			return false;
	return true;
}

/* The stream sequence of a JetStream message from its reply subject,
 * "$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.
 * <time>.<pending>" (9 tokens), or with "<domain>.<account hash>." after
 * "$JS.ACK." (11, or 12 with a token after: ADR-15, JetStream subject
 * naming); 0 when reply is not such a subject (natsMsg_GetMetaData reads
 * it then, at the cost of its copies). */
static uint64_t stream_seq(const char *reply)
{
	if (!reply || strncmp(reply, "$JS.ACK.", 8))
		return 0;
	const char *tok[13];
	int n = 0;
	for (const char *q = reply; n < 13; n++) {
		tok[n] = q;
		if (!(q = strchr(q, '.')))
			break;
		q++;
	}
	n++;
	int at = n == 9 ? 5 : n == 11 || n == 12 ? 7 : -1;
	if (at < 0)
		return 0;
	uint64_t v = 0;
	const char *d = tok[at];
	if (*d < '0' || *d > '9')
		return 0;
	for (; *d >= '0' && *d <= '9'; d++) {
		if (v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*d - '0');
	}
	return *d == '.' ? v : 0;
}

/* Destroys the messages taken so far (N->dead). */
static void bury(ingest_nats *N)
{
	for (int i = 0; i < N->ndead; i++)
		natsMsg_Destroy(N->dead[i]);
	N->ndead = 0;
}

/* Message m, taken: destroyed with others (bury). */
static void done_with(ingest_nats *N, natsMsg *m)
{
	if (N->ndead == (int)(sizeof N->dead / sizeof *N->dead))
		bury(N);
	N->dead[N->ndead++] = m;
}

/* Takes message m of partition p into b: 1 (stored or rejected), 0 when
 * the partition has it already (skipped), -1 with fatal. */
static int take_msg(ingest_nats *N, int p, natsMsg *m, batch *b, jrn_rejects *rej, jrn_err *fatal)
{
	uint64_t seq = stream_seq(natsMsg_GetReply(m));
	jsMsgMetaData *meta = NULL;
	if (!seq && natsMsg_GetMetaData(&meta, m) == NATS_OK) {
		seq = meta->Sequence.Stream;
		jsMsgMetaData_Destroy(meta);
	}
	if (seq <= N->seen[p]) /* seen already (a consumer reset, or a
				* partition behind another in one consumer): skip */
		return 0;
	jrn_line ln = {N->names[p], seq, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)};
	size_t before = b->n;
	if (ingest_take_line(b, &ln, rej, fatal) < 0)
		return -1;
	N->seen[p] = seq;
	b->seq[p] = seq;
	if (b->n > before) {
		const record *r = &b->recs[b->n - 1];
		int q = jrn_partition_of(b->text.p + r->customer.off, r->customer.len, N->parts);
		if (q != p) {
			char why[200];
			snprintf(why, sizeof why, "customerId: partition %d of %d, not %d as its subject says",
				 q, N->parts, p);
			b->n--;
			if (jrn_reject(rej, ln.file, ln.lineno, ln.p, ln.len, why, fatal) < 0)
				return -1;
		}
	}
	return 1;
}

/* Takes message m of the consumer of every partition (N->one) into b,
 * its partition read from its subject, <subject>.<p>: take_msg's 1 or 0
 * (skipped), 0 for a message on another subject of the stream (not
 * jrn's: left alone), or -1 with fatal. */
static int take_any(ingest_nats *N, natsMsg *m, batch *b, jrn_rejects *rej, jrn_err *fatal)
{
	const char *subj = natsMsg_GetSubject(m);
	size_t k = strlen(N->subject);
	if (!subj || strncmp(subj, N->subject, k) || subj[k] != '.' || subj[k + 1] < '0' ||
	    subj[k + 1] > '9')
		return 0;
	long p = 0;
	for (const char *d = subj + k + 1; *d; d++) {
		if (*d < '0' || *d > '9' || p >= N->parts)
			return 0;
		p = p * 10 + (*d - '0');
	}
	if (p >= N->parts || (p > 0 && subj[k + 1] == '0'))
		return 0;
	return take_msg(N, (int)p, m, b, rej, fatal);
}

/* Takes message m of partition p (-1: of every partition, N->one) into
 * b and destroys it (done_with): take_msg's or take_any's 1, 0, -1. */
static int take_one(ingest_nats *N, int p, natsMsg *m, batch *b, jrn_rejects *rej, jrn_err *fatal)
{
	int rc = p < 0 ? take_any(N, m, b, rej, fatal) : take_msg(N, p, m, b, rej, fatal);
	done_with(N, m);
	return rc;
}

/* Takes what subscription sub (of partition p, -1: N->one) holds now
 * into b, at most max - *taken messages; *more when it held any. 0, or
 * -1 with fatal. */
static int take_held(ingest_nats *N, natsSubscription *sub, int p, batch *b, size_t max,
		     size_t *taken, bool *more, jrn_rejects *rej, jrn_err *fatal)
{
	int pending = 0;
	if (!sub || natsSubscription_GetPending(sub, &pending, NULL) != NATS_OK)
		return 0;
	for (; pending > 0 && *taken < max; pending--) {
		natsMsg *m = NULL;
		if (natsSubscription_NextMsg(&m, sub, 1) != NATS_OK)
			break;
		int rc = take_one(N, p, m, b, rej, fatal);
		if (rc < 0)
			return -1;
		*taken += (size_t)rc;
		*more = true;
	}
	return 0;
}

/* Takes what partitions' queues hold now into b, at most max - *taken
 * messages. 0, or -1 with fatal. */
static int take_pending(ingest_nats *N, batch *b, size_t max, size_t *taken, jrn_rejects *rej,
			jrn_err *fatal)
{
	bool more = false;
	if (N->one)
		return take_held(N, N->one, -1, b, max, taken, &more, rej, fatal);
	for (more = true; more && *taken < max;) {
		more = false;
		for (int p = 0; p < N->parts && *taken < max; p++)
			if (take_held(N, N->subs[p], p, b, max, taken, &more, rej, fatal) < 0)
				return -1;
	}
	return 0;
}

/* Waits up to ms on one partition (in turn; N->one when it reads them
 * all) for a message and takes it into b. 1 when one was taken, 0 when
 * none came (or it was skipped), -1 with fatal. */
static int wait_one(ingest_nats *N, batch *b, int64_t ms, jrn_rejects *rej, jrn_err *fatal)
{
	for (int k = 0; k < (N->one ? 1 : N->parts); k++) {
		int p = N->one ? -1 : (N->next + k) % N->parts;
		natsSubscription *sub = N->one ? N->one : N->subs[p];
		if (!sub)
			continue;
		if (!N->one)
			N->next = p + 1;
		natsMsg *m = NULL;
		if (natsSubscription_NextMsg(&m, sub, ms) != NATS_OK)
			return 0;
		return take_one(N, p, m, b, rej, fatal);
	}
	return 0;
}

static int fill(ingest_nats *N, batch *b, size_t max, bool (*busy)(void), jrn_rejects *rej,
		bool *done, jrn_err *fatal)
{
	if (!b->seq && !(b->seq = calloc((size_t)N->parts, sizeof *b->seq)))
		return jrn_fail(fatal, "out of memory");
	memset(b->seq, 0, (size_t)N->parts * sizeof *b->seq);
	size_t taken = 0;
	*done = false;
	/* A batch is one transaction: it is filled while messages keep coming,
	 * up to max or INGEST_NATS_LINGER_MS after its first message (Kafka's
	 * linger), so that a lone event waits at most that long, and past it
	 * for as long as the store thread is still on the last batch, so that
	 * a stream read at speed is stored in large transactions. With the
	 * linger alone, a --drain of 200,000 events (3 nodes on 2 CPUs) was
	 * stored in 17 batches of 3,400 to 32,000 where a file takes 8 up to
	 * 100,000, and the store thread took twice as long. */
	int64_t first = 0;
	for (;;) {
		if (take_pending(N, b, max, &taken, rej, fatal) < 0)
			return -1;
		if (taken && !first)
			first = mono_ms();
		if (taken >= max)
			return 1;
		if (N->drain && drained(N)) {
			*done = !taken;
			return taken ? 1 : 0;
		}
		int64_t left = taken ? first + INGEST_NATS_LINGER_MS - mono_ms() : 200;
		if (left <= 0 && !(busy && busy()))
			return 1;
		if (left <= 0)
			left = 5; /* (busy: on until it is not, or max) */
		int got = wait_one(N, b, taken && left > 5 ? 5 : left, rej, fatal);
		if (got < 0)
			return -1;
		taken += (size_t)got;
		if (!got && !taken)
			return 0; /* nothing came: the caller checks signals */
	}
}

int ingest_nats_fill(ingest_nats *N, batch *b, size_t max, bool (*busy)(void), jrn_rejects *rej,
		     bool *done, jrn_err *fatal)
{
	int rc = fill(N, b, max, busy, rej, done, fatal);
	bury(N); /* nothing held while the batch is stored */
	return rc;
}

int ingest_nats_offsets_save(ingest_nats *N, sqlite3 *db, const batch *b, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	if (jrn_db_prepare(db, "INSERT INTO log_offsets (stream, partition, seq, updated_at)"
			   " VALUES (?, ?, ?, ?) ON CONFLICT (stream, partition) DO UPDATE SET"
			   " seq = max(seq, excluded.seq), updated_at = excluded.updated_at",
			   &st, e) < 0)
		return -1;
	int rc = 0;
	for (int p = 0; p < N->parts && rc == 0; p++) {
		if (!b->seq[p])
			continue;
		sqlite3_bind_text(st, 1, N->stream, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, p);
		sqlite3_bind_int64(st, 3, (int64_t)b->seq[p]);
		sqlite3_bind_int64(st, 4, jrn_now());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = jrn_fail(e, "log_offsets: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int ingest_nats_offsets_load(ingest_nats *N, sqlite3 *db, uint64_t *start, jrn_err *e)
{
	sqlite3_stmt *st = NULL;
	memset(start, 0, (size_t)N->parts * sizeof *start);
	if (jrn_db_prepare(db, "SELECT partition, seq FROM log_offsets WHERE stream = ?", &st, e) < 0)
		return -1;
	sqlite3_bind_text(st, 1, N->stream, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int p = sqlite3_column_int(st, 0);
		if (p >= 0 && p < N->parts)
			start[p] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		jrn_fail(e, "log_offsets: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
