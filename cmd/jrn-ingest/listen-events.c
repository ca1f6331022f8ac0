/*
 * listen-events.c: POST /events and the per-kind endpoints of
 * ingest.listen.endpoints (jrn-ingest(1) LISTEN).
 *
 * The body is one JSON event (pretty-printed or not), NDJSON lines, or a
 * Segment batch {"batch": [event, ...]} (Segment's HTTP Tracking API,
 * /v1/batch). Each event is emitted as one line for record.c: the checks,
 * normalisation and dedupe of a line of a file. An endpoint with a kind
 * sets properties.kind (and refuses an event of another kind); one with
 * types refuses an event whose type (after Segment's event name and
 * ingest.typeMap) is not one of them. Runs on an MHD thread: it builds
 * its own jv strings (ingest_keys are shared, and libjq's reference
 * counts are not atomic).
 */
#include <string.h>

#include "listen.h"

/* The type an event will have in jrn (record.c's rule: Segment's track
 * call names it in `event`; then ingest.typeMap), or NULL. Borrows ev;
 * the result is owned by ev or the type map. */
static const char *type_of(jv ev, jv *hold)
{
	jv type = jv_object_get(jv_copy(ev), jv_string("type"));
	jv event = jv_object_get(jv_copy(ev), jv_string("event"));
	bool has_type = jv_get_kind(type) == JV_KIND_STRING;
	if (jv_get_kind(event) == JV_KIND_STRING &&
	    (!has_type || !strcmp(jv_string_value(type), "track"))) {
		jv_free(type);
		type = event;
	} else {
		jv_free(event);
	}
	if (jv_get_kind(type) != JV_KIND_STRING) {
		jv_free(type);
		*hold = jv_null();
		return NULL;
	}
	*hold = type;
	const char *to = ingest_typemap_find(jv_string_value(type),
					     (size_t)jv_string_length_bytes(jv_copy(type)));
	return to ? to : jv_string_value(type);
}

/* One event of the body: checked against the endpoint (kind, types) and
 * emitted. 0, or -1 (out of memory, too many lines). */
static int take(listen_req *req, const listen_endpoint *ep, const char *p, size_t n)
{
	if (!ep || (!ep->kind && !ep->types))
		return listen_emit(req, p, n);
	jrn_err why;
	jv ev = jrn_parse_value(p, n, &why);
	if (jv_get_kind(ev) != JV_KIND_OBJECT) {
		jv_free(ev); /* record.c says what is wrong with it */
		return listen_emit(req, p, n);
	}
	char reason[640];
	if (ep->types) {
		jv hold;
		const char *t = type_of(ev, &hold);
		bool ok = t == NULL; /* no type: record.c rejects it */
		for (size_t i = 0; !ok && i < ep->ntypes; i++)
			ok = !strcmp(ep->types[i], t);
		if (!ok)
			snprintf(reason, sizeof reason, "type: '%.200s' is not one that %.200s takes "
				 "(ingest.listen.endpoints types)", t, ep->path);
		jv_free(hold);
		if (!ok) {
			jv_free(ev);
			return listen_emit_rejected(req, p, n, reason);
		}
	}
	if (!ep->kind) {
		jv_free(ev);
		return listen_emit(req, p, n);
	}
	jv props = jv_object_get(jv_copy(ev), jv_string("properties"));
	jv_kind pk = jv_get_kind(props);
	if (pk != JV_KIND_OBJECT && pk != JV_KIND_INVALID) {
		jv_free(props);
		jv_free(ev);
		return listen_emit(req, p, n); /* record.c: properties: expected an object */
	}
	if (pk == JV_KIND_INVALID)
		props = jv_object();
	jv k = jv_object_get(jv_copy(props), jv_string("kind"));
	if (jv_get_kind(k) == JV_KIND_INVALID) {
		jv_free(k);
		props = jv_object_set(props, jv_string("kind"), jv_string(ep->kind));
		ev = jv_object_set(ev, jv_string("properties"), props);
		return listen_emit_jv(req, ev);
	}
	bool same = jv_get_kind(k) == JV_KIND_STRING && !strcmp(jv_string_value(k), ep->kind);
	if (!same) {
		jv d = jv_dump_string(jv_copy(k), 0);
		snprintf(reason, sizeof reason, "properties.kind: %.200s where %.200s takes kind '%.100s'",
			 jv_string_value(d), ep->path, ep->kind);
		jv_free(d);
	}
	jv_free(k);
	jv_free(props);
	jv_free(ev);
	return same ? listen_emit(req, p, n) : listen_emit_rejected(req, p, n, reason);
}

static int too_many(listen_reply *rep)
{
	return listen_reply_error(rep, 413, "more than %d events in one request (or out of memory)",
				  LISTEN_MAX_LINES);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The end of the JSON value at p[0..n), which jrn_json_check passed: the
 * offset after it (strings skipped with their escapes, brackets counted). */
size_t listen_json_value_end(const char *p, size_t n)
{
	size_t i = 0;
	int depth = 0;
	do {
		char c = p[i];
		if (c == '"') { /* to the next quote after an even run of backslashes */
			size_t from = i + 1;
			for (;;) {
				const char *q = memchr(p + from, '"', n - from);
				if (!q) {
					i = n;
					break;
				}
				size_t k = (size_t)(q - p), bs = 0;
				while (p[k - bs - 1] == '\\') /* stops at the opening quote */
					bs++;
				if (bs % 2 == 0) {
					i = k + 1;
					break;
				}
				from = k + 1;
			}
		} else if (c == '{' || c == '[') {
			depth++, i++;
		} else if (c == '}' || c == ']') {
			depth--, i++;
		} else if (depth > 0) {
			i++;
		} else { /* a scalar at the top: up to a delimiter */
			while (i < n && !blank(p[i]) && p[i] != ',' && p[i] != ']' && p[i] != '}')
				i++;
		}
	} while (depth > 0 && i < n);
	return i;
}

/* A Segment batch: each element of the array a[0..n) (checked JSON), as
 * its own bytes (a multi-line element is compacted through jv). */
static int take_batch(listen_req *req, const listen_endpoint *ep, const char *a, size_t n,
		      listen_reply *rep)
{
	size_t i = 1, count = 0; /* after '[' */
	for (;;) {
		while (i < n && (blank(a[i]) || a[i] == ','))
			i++;
		if (i >= n || a[i] == ']')
			break;
		size_t len = listen_json_value_end(a + i, n - i);
		int rc;
		if (memchr(a + i, '\n', len)) {
			jrn_buf b = {0};
			jrn_err e;
			rc = jrn_json_append(&b, jrn_parse_value(a + i, len, &e), 0, &e);
			if (rc == 0)
				rc = take(req, ep, b.p, b.len);
			jrn_buf_free(&b);
		} else {
			rc = take(req, ep, a + i, len);
		}
		if (rc < 0)
			return too_many(rep);
		count++;
		i += len;
	}
	return count ? 0 : listen_reply_error(rep, 400, "empty batch");
}

/* NDJSON: each non-blank line (CR before LF dropped). */
static int take_lines(listen_req *req, const listen_endpoint *ep, const char *p, size_t n,
		      listen_reply *rep)
{
	size_t taken = 0;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;
		size_t line = len;
		if (line > 0 && p[line - 1] == '\r')
			line--;
		size_t k = 0;
		while (k < line && (p[k] == ' ' || p[k] == '\t'))
			k++;
		if (k < line) {
			if (take(req, ep, p, line) < 0)
				return too_many(rep);
			taken++;
		}
		if (!nl)
			break;
		p += len + 1;
		n -= len + 1;
	}
	return taken ? 0 : listen_reply_error(rep, 400, "no event in the body");
}

int listen_events_handle(listen_req *req, listen_reply *rep)
{
	const listen_endpoint *ep = req->route->data;
	const char *p = req->body;
	size_t n = req->body_len;
	/* a byte-order mark at the body's start is dropped, as the reader
	 * drops one at the start of a file (a body is an input of its own) */
	if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3, n -= 3;
	while (n > 0 && blank(*p))
		p++, n--;
	while (n > 0 && blank(p[n - 1]))
		n--;
	if (n == 0)
		return listen_reply_error(rep, 400, "no event in the body");
	rep->status = 200;
	rep->content_type = "application/json";
	bool lines = memchr(p, '\n', n) != NULL;
	/* A batch: its elements' own bytes, once the body is checked JSON. */
	jrn_err e;
	if (p[0] == '{' && memmem(p, n, "\"batch\"", 7) &&
	    jrn_utf8_invalid_at(p, n) == n) {
		jrn_json_index ix = {0};
		if (jrn_json_index_build(&ix, p, n, 1, &e) == 0) {
			const jrn_json_member *m = jrn_json_find(&ix, -1, "batch");
			if (m && m->kind == '[') {
				int rc = take_batch(req, ep, m->val, m->vlen, rep);
				jrn_json_index_free(&ix);
				return rc;
			}
		}
		jrn_json_index_free(&ix);
	}
	/* One object over several lines: parse the whole body. */
	if (p[0] == '{' && lines) {
		jv v = jrn_parse_value(p, n, &e);
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			jrn_buf b = {0};
			int rc = jrn_json_append(&b, v, 0, &e);
			if (rc == 0)
				rc = take(req, ep, b.p, b.len);
			jrn_buf_free(&b);
			return rc < 0 ? too_many(rep) : 0;
		}
		jv_free(v);
	}
	return lines ? take_lines(req, ep, p, n, rep) : (take(req, ep, p, n) < 0 ? too_many(rep) : 0);
}

static const char *const status_names[] = {"stored", "duplicate", "rejected"};

/* The reply: {"stored":N,"duplicate":N,"rejected":N,"results":[{"line":1,
 * "status":"stored","id":"..."}, {"line":2,"status":"rejected","reason":
 * "..."}]}; 200 unless every line was rejected (400: nothing to resend). */
void listen_events_done(listen_req *req, const listen_result *res, size_t n, listen_reply *rep)
{
	(void)req;
	size_t count[3] = {0};
	for (size_t i = 0; i < n; i++)
		count[res[i].status]++;
	jrn_buf *b = &rep->body;
	jrn_buf_reset(b);
	jrn_buf_addf(b, "{\"stored\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"results\":[", count[0],
		     count[1], count[2]);
	for (size_t i = 0; i < n; i++) {
		/* by hand, not jrn_buf_addf: a batch has 1,000 of these */
		char num[24], *d = num + sizeof num;
		size_t v = i + 1;
		do
			*--d = (char)('0' + v % 10);
		while ((v /= 10) > 0);
		jrn_buf_adds(b, i ? ",{\"line\":" : "{\"line\":");
		jrn_buf_add(b, d, (size_t)(num + sizeof num - d));
		jrn_buf_adds(b, ",\"status\":\"");
		jrn_buf_adds(b, status_names[res[i].status]);
		jrn_buf_adds(b, "\",");
		const char *s = res[i].status == LISTEN_REJECTED ? res[i].reason : res[i].id;
		jrn_buf_adds(b, res[i].status == LISTEN_REJECTED ? "\"reason\":" : "\"id\":");
		jrn_json_append_str(b, s ? s : "", s ? strlen(s) : 0);
		jrn_buf_addc(b, '}');
	}
	jrn_buf_adds(b, "]}\n");
	rep->status = n > 0 && count[2] == n ? 400 : 200;
	rep->content_type = "application/json";
}
