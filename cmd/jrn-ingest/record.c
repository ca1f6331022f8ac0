/*
 * record.c: one line of jrn-ingest (see jrn-ingest.h): checked, normalised
 * and added to a batch.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ingest.h"

static const char *country;                /* region for phone numbers */
static jrn_phone_memo *phones;             /* the fast path's answers (country's) */
static size_t max_record = SIZE_MAX;       /* the state file's SQLITE_LIMIT_LENGTH */
static jv_parser *parser;                  /* reused between lines */

/* ---- normalising one event ---------------------------------------------- */

/* A string field of obj: 1 and *s set when it is a non-empty string, 0 when
 * absent or null, -1 when present with another type or empty. Borrows. */
static int get_string(jv obj, int key, jv *s)
{
	jv v = jv_object_get(jv_copy(obj), KEY(key));
	jv_kind k = jv_get_kind(v);
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (k != JV_KIND_STRING || jv_string_length_bytes(jv_copy(v)) == 0) {
		jv_free(v);
		return -1;
	}
	*s = v;
	return 1;
}

/* Checks the string s as an identifier named field (jrn_id_check): 0, or
 * -1 with e. Borrows s. */
static int id_ok(jv s, const char *field, jrn_err *e)
{
	return jrn_id_check(jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)), field, e);
}

/* Field names from the config, as C strings for the per-key test. */
typedef struct {
	char **v;
	int n;
} names;

static names email_names, phone_names;

static bool in_names(const names *l, const char *k, size_t n)
{
	for (int i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && memcmp(l->v[i], k, n) == 0)
			return true;
	return false;
}

/* Fills l from a config list (or the one default); 0 or -1 (memory). */
static int names_from(names *l, jv cfg, const char *path, const char *dflt)
{
	jv v = jrn_config_get(cfg, path);
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		v = JV_ARRAY(jv_string(dflt));
	}
	int n = jv_array_length(jv_copy(v));
	l->v = calloc((size_t)n + 1, sizeof *l->v);
	for (int i = 0; l->v && i < n; i++) {
		jv name = jv_array_get(jv_copy(v), i);
		l->v[i] = strdup(jv_get_kind(name) == JV_KIND_STRING ? jv_string_value(name) : "");
		jv_free(name);
		if (!l->v[i]) {
			jv_free(v);
			return -1;
		}
		l->n++;
	}
	jv_free(v);
	return l->v ? 0 : -1;
}

static void names_free(names *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static bool ends_with(const char *k, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n > m && memcmp(k + n - m, suffix, m) == 0;
}

/* 1 for a key that holds an e-mail address, 2 for a phone number, else 0. */
static int contact_kind(const char *k, size_t n)
{
	if (in_names(&email_names, k, n) || ends_with(k, n, "Email"))
		return 1;
	if (in_names(&phone_names, k, n) || ends_with(k, n, "Phone"))
		return 2;
	return 0;
}

/* Normalises the e-mail and phone fields of one object (the event itself,
 * its properties, traits or context.traits). Consumes obj; returns it, or
 * jv_invalid with the reason in e. where names the object in messages. */
static jv normalise_contacts(jv obj, const char *where, bool *changed, jrn_err *e)
{
	jrn_buf norm = {0};
	jv updates = jv_object();
	int rc = 0;

	for (int it = jv_object_iter(obj); rc == 0 && jv_object_iter_valid(obj, it);
	     it = jv_object_iter_next(obj, it)) {
		jv key = jv_object_iter_key(obj, it);
		const char *k = jv_string_value(key);
		int kind = contact_kind(k, (size_t)jv_string_length_bytes(jv_copy(key)));
		jv v = kind ? jv_object_iter_value(obj, it) : jv_null();
		if (jv_get_kind(v) == JV_KIND_NULL) {
			jv_free(v);
			jv_free(key);
			continue;
		}
		jrn_err why;
		if (jv_get_kind(v) != JV_KIND_STRING) {
			rc = jrn_fail(&why, "expected a string, got %s", jrn_kind_phrase(jv_get_kind(v), false));
		} else {
			jrn_buf_reset(&norm);
			size_t len = (size_t)jv_string_length_bytes(jv_copy(v));
			rc = kind == 1 ? jrn_email_normalize(jv_string_value(v), len, &norm, &why)
				       : jrn_phone_e164(jv_string_value(v), len, country, &norm, &why);
		}
		if (rc < 0)
			jrn_fail(e, "%s%s%s: %s", where, *where ? "." : "", k, why.msg);
		else if ((size_t)jv_string_length_bytes(jv_copy(v)) != norm.len ||
			 memcmp(jv_string_value(v), norm.p, norm.len) != 0)
			updates = jv_object_set(updates, jv_copy(key),
						jv_string_sized(norm.p, (int)norm.len));
		jv_free(key);
		jv_free(v);
	}
	jrn_buf_free(&norm);
	if (rc < 0) {
		jv_free(updates);
		jv_free(obj);
		return jv_invalid();
	}
	if (jv_object_length(jv_copy(updates)) > 0) {
		*changed = true;
		obj = jv_object_merge(obj, updates);
	} else {
		jv_free(updates);
	}
	return obj;
}

/* Normalises a nested object field (properties, traits) in place. */
static jv normalise_nested(jv ev, int field, bool *changed, jrn_err *e)
{
	jv sub = jv_object_get(jv_copy(ev), KEY(field));
	if (jv_get_kind(sub) != JV_KIND_OBJECT) {
		jv_free(sub);
		return ev;
	}
	bool sub_changed = false;
	sub = normalise_contacts(sub, ingest_key_names[field], &sub_changed, e);
	if (!jv_is_valid(sub)) {
		jv_free(ev);
		return jv_invalid();
	}
	if (sub_changed) {
		*changed = true;
		return jv_object_set(ev, KEY(field), sub);
	}
	jv_free(sub);
	return ev;
}


/* customerId, else Segment's userId, else anonymousId. Consumes ev;
 * returns it, or jv_invalid with the reason in e. */
static jv normalise_customer(jv ev, bool *changed, jrn_err *e)
{
	jv s;
	int rc = get_string(ev, K_CUSTOMER_ID, &s);
	if (rc < 0) {
		jv_free(ev);
		jrn_fail(e, "customerId: expected a non-empty string");
		return jv_invalid();
	}
	if (rc > 0) {
		rc = id_ok(s, "customerId", e);
		jv_free(s);
		if (rc < 0) {
			jv_free(ev);
			return jv_invalid();
		}
		return ev;
	}
	const int alt[] = {K_USER_ID, K_ANONYMOUS_ID};
	for (int i = 0; i < 2 && rc == 0; i++) {
		rc = get_string(ev, alt[i], &s);
		if (rc < 0) {
			jv_free(ev);
			jrn_fail(e, "%s: expected a non-empty string", ingest_key_names[alt[i]]);
			return jv_invalid();
		}
		if (rc > 0 && id_ok(s, ingest_key_names[alt[i]], e) < 0) {
			jv_free(s);
			jv_free(ev);
			return jv_invalid();
		}
		if (rc > 0) {
			ev = jv_object_set(ev, KEY(K_CUSTOMER_ID), s);
			*changed = true;
		}
	}
	if (rc == 0) {
		jv_free(ev);
		jrn_fail(e, "customerId: missing (nor userId nor anonymousId given)");
		return jv_invalid();
	}
	return ev;
}

/* Takes a parsed event, maps Segment-spec calls, checks and normalises it.
 * Consumes ev; returns the event or jv_invalid (reason in e). *changed says
 * whether it differs from the input; *ts gets its time, *defaulted whether
 * the time was missing (and must become now). */
static jv normalise(jv ev, bool *changed, int64_t *ts, bool *defaulted, jrn_err *e)
{
	jv s;
	int rc;

	/* id: given, or Segment's messageId; derived later when absent. */
	if ((rc = get_string(ev, K_ID, &s)) < 0)
		goto bad_id;
	if (rc > 0) {
		rc = id_ok(s, "id", e);
		jv_free(s);
		if (rc < 0)
			goto bad;
	} else {
		if ((rc = get_string(ev, K_MESSAGE_ID, &s)) < 0)
			goto bad_message_id;
		if (rc > 0 && id_ok(s, "messageId", e) < 0) {
			jv_free(s);
			goto bad;
		}
		if (rc > 0) {
			ev = jv_object_set(ev, KEY(K_ID), s);
			*changed = true;
		}
	}

	/* type: Segment's track call names the event in `event`. */
	jv type = jv_invalid();
	rc = get_string(ev, K_TYPE, &type);
	jv event = jv_invalid();
	int has_event = get_string(ev, K_EVENT, &event);
	if (has_event > 0 && (rc == 0 || (rc > 0 && !strcmp(jv_string_value(type), "track")))) {
		jv_free(type);
		ev = jv_object_set(ev, KEY(K_TYPE), event);
		*changed = true;
	} else {
		jv_free(event);
		if (rc <= 0) {
			jv_free(ev);
			jrn_fail(e, rc == 0 ? "type: missing" : "type: expected a non-empty string");
			return jv_invalid();
		}
		/* a track call without its event's name would be stored as an
		 * event of type "track", which no tool reads */
		bool track = !strcmp(jv_string_value(type), "track");
		jv_free(type);
		if (track) {
			jv_free(ev);
			jrn_fail(e, has_event == 0 ? "event: missing (a track call names its event)"
						   : "event: expected a non-empty string");
			return jv_invalid();
		}
	}
	/* Segment's names (and page/screen calls) become jrn's */
	type = jv_object_get(jv_copy(ev), KEY(K_TYPE));
	const char *to = ingest_typemap_find(jv_string_value(type), (size_t)jv_string_length_bytes(jv_copy(type)));
	jv_free(type);
	if (to) {
		ev = jv_object_set(ev, KEY(K_TYPE), jv_string(to));
		*changed = true;
	}

	ev = normalise_customer(ev, changed, e);
	if (jv_is_valid(ev))
		ev = ingest_time(ev, changed, ts, defaulted, e);
	if (!jv_is_valid(ev))
		return ev;

	jv p = jv_object_get(jv_copy(ev), KEY(K_PROPERTIES));
	jv_kind pk = jv_get_kind(p);
	jv_free(p);
	if (pk != JV_KIND_INVALID && pk != JV_KIND_OBJECT) { /* null too, as jrn-ingest(1) says */
		jv_free(ev);
		jrn_fail(e, "properties: expected an object, got %s", jrn_kind_phrase(pk, false));
		return jv_invalid();
	}
	jv tr = jv_object_get(jv_copy(ev), KEY(K_TRAITS));
	jv_kind tk = jv_get_kind(tr);
	jv_free(tr);
	if (tk != JV_KIND_INVALID && tk != JV_KIND_NULL && tk != JV_KIND_OBJECT) {
		jv_free(ev);
		jrn_fail(e, "traits: expected an object, got %s", jrn_kind_phrase(tk, false));
		return jv_invalid();
	}

	ev = normalise_contacts(ev, "", changed, e);
	if (jv_is_valid(ev))
		ev = normalise_nested(ev, K_PROPERTIES, changed, e);
	if (jv_is_valid(ev))
		ev = normalise_nested(ev, K_TRAITS, changed, e);
	if (jv_is_valid(ev)) {
		/* context.traits, as Segment's track calls carry them */
		jv ctx = jv_object_get(jv_copy(ev), KEY(K_CONTEXT));
		if (jv_get_kind(ctx) == JV_KIND_OBJECT) {
			bool c = false;
			ctx = normalise_nested(ctx, K_TRAITS, &c, e);
			if (!jv_is_valid(ctx)) {
				jv_free(ev);
				jrn_buf tmp = {0};
				jrn_buf_addf(&tmp, "context.%s", e->msg);
				jrn_fail(e, "%s", tmp.p ? tmp.p : "context: invalid");
				jrn_buf_free(&tmp);
				return jv_invalid();
			}
			if (c) {
				*changed = true;
				ev = jv_object_set(ev, KEY(K_CONTEXT), ctx);
			} else {
				jv_free(ctx);
			}
		} else {
			jv_free(ctx);
		}
	}
	return ev;

bad_id:
	jrn_fail(e, "id: expected a non-empty string");
bad:
	jv_free(ev);
	return jv_invalid();
bad_message_id:
	jv_free(ev);
	jrn_fail(e, "messageId: expected a non-empty string");
	return jv_invalid();
}

/* Copies a string field of ev into the batch text; a null span if absent. */
static int add_field(batch *b, jv ev, int key, span *sp)
{
	jv v = jv_object_get(jv_copy(ev), KEY(key));
	*sp = (span){0, 0};
	if (jv_get_kind(v) == JV_KIND_STRING) {
		size_t n = (size_t)jv_string_length_bytes(jv_copy(v));
		/* off 0 with len 0 means NULL; keep a leading byte so real
		 * offsets are never 0 */
		if (b->text.len == 0 && jrn_buf_addc(&b->text, '\n') < 0) {
			jv_free(v);
			return -1;
		}
		sp->off = b->text.len;
		sp->len = n;
		if (jrn_buf_add(&b->text, jv_string_value(v), n) < 0) {
			jv_free(v);
			return -1;
		}
	}
	jv_free(v);
	return 0;
}

/* ---- the fast path: records read from their index, not from jv ----------- */

/* A record that needs at most new values spliced in (a canonical time, a
 * normalised address) is read from the span index of its text and stored
 * without building jv values: libjq's parse and free are most of the cost
 * of a record. Anything unusual (a missing id, Segment calls, consent,
 * escapes in the fields read, a value to reject) goes the jv path, which
 * also gives the precise reasons. */

typedef struct {
	size_t off, len;         /* the span of the line replaced */
	size_t rep_off, rep_len; /* by these bytes of the scratch buffer */
} edit;

static jrn_json_index ix;
static bool jv_only; /* JRN_INGEST_JV=1: every record the jv way (tests) */
static jrn_buf scratch;
static edit *edits;
static size_t n_edits, edits_cap;

static jrn_privacy *privacy; /* erased values; NULL or empty: none */

/* Whether s[0..n) is erased (privacy.h); OpenSSL failing counts as erased
 * on the fast path, which then leaves the line to the jv path. */
static bool erased(const char *s, size_t n)
{
	return jrn_privacy_erased(privacy, s, n) != 0;
}

static bool plain_string(const jrn_json_member *m)
{
	return m && m->kind == '"' && !m->escaped && m->vlen > 0;
}

static int add_edit(const jrn_line *ln, const char *at, size_t len, size_t rep_off)
{
	if (n_edits == edits_cap) {
		size_t cap = edits_cap ? edits_cap * 2 : 8;
		edit *p = realloc(edits, cap * sizeof *p);
		if (!p)
			return -1;
		edits = p;
		edits_cap = cap;
	}
	edits[n_edits++] = (edit){(size_t)(at - ln->p), len, rep_off, scratch.len - rep_off};
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const edit *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int add_span(batch *b, const char *p, size_t n, span *sp)
{
	if (b->text.len == 0 && jrn_buf_addc(&b->text, '\n') < 0)
		return -1;
	*sp = (span){b->text.len, n};
	return jrn_buf_add(&b->text, p, n);
}

static int index_of(const jrn_json_member *m)
{
	return m ? (int)(m - ix.m) : -100;
}

/* Whether p[0..n), a checked JSON object, is what jrn_json_append (flags
 * 0) prints of its parse, so that a Segment call can be spliced instead of
 * serialised: no backslash (the only escapes it writes are of bytes that
 * cannot be raw), nothing but tokens outside strings, and numbers only as
 * integers of at most 15 digits (which print back alike); anything else
 * goes the jv path. */
static bool prints_alike(const char *p, size_t n)
{
	if (memchr(p, '\\', n))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '"') {
			const char *q = memchr(p + i + 1, '"', n - i - 1);
			if (!q)
				return false;
			i = (size_t)(q - p);
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t s = i + (c == '-'), j = s;
			while (j < n && p[j] >= '0' && p[j] <= '9')
				j++;
			if (j == s || j - s > 15 || (p[s] == '0' && (j - s > 1 || c == '-')) ||
			    (j < n && (p[j] == '.' || p[j] == 'e' || p[j] == 'E')))
				return false;
			i = j - 1;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			return false;
		}
	}
	return n > 0 && p[n - 1] == '}';
}

/* A string jrn_json_append writes as it is (a mapped type name). */
static bool plain_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
			return false;
	return n > 0;
}

/* Whether the line (its index in ix) is a Segment track call the fast
 * path takes: type "track", a plain event, no id nor customerId, a line
 * that prints alike. Then *id and *cust become messageId and userId (NULL
 * when absent: take_fast checks them) and *tname, *tlen the stored type
 * (event, or its mapping: static or the type map's, not owned). */
static bool segment_call(const jrn_line *ln, const jrn_json_member *event, const jrn_json_member *type,
			 const jrn_json_member **id, const jrn_json_member **cust, const char **tname,
			 size_t *tlen)
{
	if (*id || *cust || !plain_string(event) || !plain_string(type) || type->vlen != 5 ||
	    memcmp(type->val, "track", 5) != 0 || !prints_alike(ln->p, ln->len))
		return false;
	*id = jrn_json_find(&ix, -1, "messageId");
	*cust = jrn_json_find(&ix, -1, "userId");
	*tname = event->val;
	*tlen = event->vlen;
	const char *to = ingest_typemap_find(event->val, event->vlen);
	if (to) {
		*tname = to;
		*tlen = strlen(to);
		return plain_text(to, *tlen);
	}
	return true;
}

/* The edits of a Segment call, as the jv path makes them: type set in
 * place to tname, then id and customerId appended (jq keeps an object's
 * insertion order). 0, or -1 out of memory. */
static int segment_edits(const jrn_line *ln, const jrn_json_member *type, const jrn_json_member *id,
			 const jrn_json_member *cust, const char *tname, size_t tlen)
{
	size_t at = scratch.len;
	if (jrn_buf_add(&scratch, tname, tlen) < 0 || add_edit(ln, type->val, type->vlen, at) < 0)
		return -1;
	at = scratch.len;
	if (jrn_buf_adds(&scratch, ",\"id\":\"") < 0 || jrn_buf_add(&scratch, id->val, id->vlen) < 0 ||
	    jrn_buf_adds(&scratch, "\",\"customerId\":\"") < 0 ||
	    jrn_buf_add(&scratch, cust->val, cust->vlen) < 0 || jrn_buf_addc(&scratch, '"') < 0 ||
	    add_edit(ln, ln->p + ln->len - 1, 0, at) < 0)
		return -1;
	return 0;
}

/* 1 taken into b, 0 not taken (use the jv path), -1 out of memory.
 * A Segment track call ({"type":"track","event":E,"messageId":M,
 * "userId":U}, no id nor customerId) is taken when its line prints alike:
 * the jv path sets type to E (or its mapping) in place and appends id and
 * customerId, which is spliced here the same, byte for byte. */
static int take_fast(batch *b, const jrn_line *ln)
{
	const jrn_json_member *id = jrn_json_find(&ix, -1, "id");
	const jrn_json_member *type = jrn_json_find(&ix, -1, "type");
	const jrn_json_member *cust = jrn_json_find(&ix, -1, "customerId");
	const jrn_json_member *ts = jrn_json_find(&ix, -1, "timestamp");
	const jrn_json_member *props = jrn_json_find(&ix, -1, "properties");
	const jrn_json_member *traits = jrn_json_find(&ix, -1, "traits");
	const jrn_json_member *ctx = jrn_json_find(&ix, -1, "context");
	const jrn_json_member *event = jrn_json_find(&ix, -1, "event");
	const char *tname = type ? type->val : NULL; /* the stored type */
	size_t tlen = type ? type->vlen : 0;

	if (event && !segment_call(ln, event, type, &id, &cust, &tname, &tlen))
		return 0;
	if (!plain_string(id) || !plain_string(type) || !plain_string(cust) || !plain_string(ts))
		return 0;
	/* an id with a control character (raw DEL): the jv path says why */
	if (jrn_id_check(id->val, id->vlen, "id", NULL) < 0 ||
	    jrn_id_check(cust->val, cust->vlen, "customerId", NULL) < 0)
		return 0;
	if ((props && props->kind != '{') || (traits && traits->kind != '{'))
		return 0;
	if (tlen >= 8 && memcmp(tname, "consent.", 8) == 0)
		return 0;
	if (!event && ingest_typemap_find(type->val, type->vlen))
		return 0;
	/* an erased customer: the jv path rejects it, naming the field */
	bool check = jrn_privacy_count(privacy) > 0;
	if (check) {
		if (erased(cust->val, cust->vlen))
			return 0;
		static const char *const other_ids[] = {"userId", "anonymousId", "previousId"};
		for (size_t i = 0; i < 3; i++) {
			const jrn_json_member *m = jrn_json_find(&ix, -1, other_ids[i]);
			if (m && (!plain_string(m) || erased(m->val, m->vlen)))
				return 0;
		}
	}

	int64_t t;
	if (jrn_time_parse(ts->val, ts->vlen, 0, &t, NULL) < 0)
		return 0;
	jrn_buf_reset(&scratch);
	n_edits = 0;
	char canon[32];
	size_t cn = jrn_time_format(t, canon);
	if (cn != ts->vlen || memcmp(canon, ts->val, cn) != 0) {
		if (jrn_buf_add(&scratch, canon, cn) < 0 || add_edit(ln, ts->val, ts->vlen, 0) < 0)
			return -1;
	}

	/* e-mail and phone fields of the event, properties, traits and
	 * context.traits */
	int pi = index_of(props), ti = index_of(traits);
	int ci = ctx && ctx->kind == '{' ? index_of(jrn_json_find(&ix, index_of(ctx), "traits")) : -100;
	if (ci >= 0 && ix.m[ci].kind != '{')
		return 0;
	for (size_t i = 0; i < ix.n; i++) {
		const jrn_json_member *m = &ix.m[i];
		if (m->parent != -1 && m->parent != pi && m->parent != ti && m->parent != ci)
			continue;
		if (m->kescaped)
			return 0;
		int kind = contact_kind(m->key, m->klen);
		if (!kind || m->kind == 'n')
			continue;
		if (m->kind != '"' || m->escaped)
			return 0;
		size_t at = scratch.len;
		int rc = kind == 1 ? jrn_email_normalize(m->val, m->vlen, &scratch, NULL)
				   : jrn_phone_memo_e164(phones, m->val, m->vlen, &scratch);
		if (rc < 0 || (check && erased(scratch.p + at, scratch.len - at)))
			return 0;
		if (scratch.len - at != m->vlen || memcmp(scratch.p + at, m->val, m->vlen) != 0) {
			if (add_edit(ln, m->val, m->vlen, at) < 0)
				return -1;
		} else {
			scratch.len = at;
		}
	}

	/* amounts: only plain numbers, properties.amount first (anything else,
	 * or an order without one, goes the jv way: coerced or rejected) */
	double amount = 0;
	bool has_amount = false;
	for (size_t i = 0; props && i < 4; i++) {
		const jrn_json_member *a = jrn_json_find(&ix, pi, ingest_key_names[ingest_amount_keys[i]]);
		if (!a || a->kind == 'n')
			continue;
		if (a->kind != '0')
			return 0;
		/* the number is followed by ',' or '}', so strtod stops */
		double d = strtod(a->val, NULL);
		if (!(fabs(d) <= INGEST_AMOUNT_MAX) || (i > 0 && !has_amount))
			return 0;
		if (!has_amount)
			amount = d, has_amount = true;
	}
	if (!has_amount && ingest_needs_amount(tname, tlen))
		return 0;
	if (event && segment_edits(ln, type, id, cust, tname, tlen) < 0)
		return -1;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		record *p = realloc(b->recs, cap * sizeof *p);
		if (!p)
			return -1;
		b->recs = p;
		b->cap = cap;
	}
	record *r = &b->recs[b->n];
	memset(r, 0, sizeof *r);
	r->ts = t;
	r->received = jrn_now();
	r->has_amount = has_amount;
	r->amount = amount;
	size_t mark = b->text.len;
	if (add_span(b, id->val, id->vlen, &r->id) < 0 ||
	    add_span(b, tname, tlen, &r->type) < 0 ||
	    add_span(b, cust->val, cust->vlen, &r->customer) < 0)
		return -1;

	/* The body: the line itself, with the edits spliced in. */
	r->body.off = b->text.len;
	if (n_edits > 1)
		qsort(edits, n_edits, sizeof *edits, by_offset);
	size_t pos = 0;
	for (size_t i = 0; i < n_edits; i++) {
		if (jrn_buf_add(&b->text, ln->p + pos, edits[i].off - pos) < 0 ||
		    jrn_buf_add(&b->text, scratch.p + edits[i].rep_off, edits[i].rep_len) < 0)
			return -1;
		pos = edits[i].off + edits[i].len;
	}
	if (jrn_buf_add(&b->text, ln->p + pos, ln->len - pos) < 0)
		return -1;
	r->body.len = b->text.len - r->body.off;
	if (r->body.len >= max_record) { /* grown past it: the jv path says so */
		b->text.len = mark;
		return 0;
	}
	b->n++;
	return 1;
}

/* The consent status an event of type consent.granted / consent.revoked
 * sets (else JRN_REACH_NONE); such an event needs properties.channel.
 * Consumes ev; returns it, or jv_invalid with the reason in why. */
static jv consent_of(jv ev, jrn_reach_status *consent, jrn_err *why)
{
	jv type = jv_object_get(jv_copy(ev), KEY(K_TYPE));
	if (!strcmp(jv_string_value(type), "consent.granted"))
		*consent = JRN_REACH_GRANTED;
	else if (!strcmp(jv_string_value(type), "consent.revoked"))
		*consent = JRN_REACH_REVOKED;
	jv_free(type);
	if (*consent != JRN_REACH_NONE) {
		jv ch = jv_getpath(jv_copy(ev), JV_ARRAY(KEY(K_PROPERTIES), KEY(K_CHANNEL)));
		if (jv_get_kind(ch) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(ch)) == 0) {
			jrn_fail(why, "properties.channel: consent events need a channel");
			jv_free(ev);
			ev = jv_invalid();
		} else if (id_ok(ch, "properties.channel", why) < 0) {
			jv_free(ev);
			ev = jv_invalid();
		}
		jv_free(ch);
	}
	return ev;
}

/* No id: the hash of the canonical record, before the time defaults, so
 * the same line ingested again gets the same id. 0 (*ev has an id), -1
 * with why (reject the line; *ev freed), -2 when SHA-256 failed (fatal;
 * *ev freed). */
static int derive_id(jv *ev, bool *changed, jrn_err *why)
{
	jv id = jv_object_get(jv_copy(*ev), KEY(K_ID));
	jv_kind k = jv_get_kind(id);
	jv_free(id);
	if (k == JV_KIND_STRING)
		return 0;
	jrn_buf canon = {0};
	char hex[65], idtext[40];
	if (jrn_json_append(&canon, jv_copy(*ev), JRN_JSON_SORTED, why) < 0) {
		jrn_buf_free(&canon);
		jv_free(*ev);
		*ev = jv_invalid();
		return -1;
	}
	int hashed = jrn_sha256_hex(canon.p, canon.len, hex);
	jrn_buf_free(&canon);
	if (hashed < 0) {
		jv_free(*ev);
		*ev = jv_invalid();
		return -2;
	}
	snprintf(idtext, sizeof idtext, "evt_%.32s", hex);
	*ev = jv_object_set(*ev, KEY(K_ID), jv_string(idtext));
	*changed = true;
	return 0;
}

/* The first field of ev (borrowed) whose value is erased:
 * userId, anonymousId, previousId, customerId, then the e-mail and phone fields of the
 * event, properties, traits and context.traits (normalised already).
 * 1 with why ("traits.email: erased customer": the field, never the
 * value), 0 when none, -1 when OpenSSL failed (fatal). */
static int erased_field(jv ev, jrn_err *why)
{
	/* the fields the sender writes first: a customerId jrn-ingest made
	 * from userId is named as userId */
	static const char *const ids[] = {"userId", "anonymousId", "previousId", "customerId"};
	for (size_t i = 0; i < 4; i++) {
		jv v = jv_object_get(jv_copy(ev), jv_string(ids[i]));
		int rc = jv_get_kind(v) == JV_KIND_STRING
				 ? jrn_privacy_erased(privacy, jv_string_value(v),
						      (size_t)jv_string_length_bytes(jv_copy(v)))
				 : 0;
		jv_free(v);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			jrn_fail(why, "%s: erased customer", ids[i]);
			return 1;
		}
	}
	static const char *const where[] = {"", "properties", "traits", "context.traits"};
	for (size_t w = 0; w < 4; w++) {
		jv obj = w == 0	  ? jv_copy(ev)
			 : w == 3 ? jv_getpath(jv_copy(ev), JV_ARRAY(KEY(K_CONTEXT), KEY(K_TRAITS)))
				  : jv_object_get(jv_copy(ev), KEY(w == 1 ? K_PROPERTIES : K_TRAITS));
		int rc = 0;
		if (jv_get_kind(obj) == JV_KIND_OBJECT) {
			jv_object_foreach(obj, k, v) {
				size_t kn = (size_t)jv_string_length_bytes(jv_copy(k));
				if (rc == 0 && jv_get_kind(v) == JV_KIND_STRING &&
				    contact_kind(jv_string_value(k), kn) &&
				    (rc = jrn_privacy_erased(privacy, jv_string_value(v),
							     (size_t)jv_string_length_bytes(jv_copy(v)))) > 0)
					jrn_fail(why, "%s%s%s: erased customer", where[w], *where[w] ? "." : "",
						 jv_string_value(k));
				jv_free(k);
				jv_free(v);
			}
		}
		jv_free(obj);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Parses, checks and normalises one line into batch b (or rejects it). */
int ingest_take_line(batch *b, const jrn_line *ln, jrn_rejects *rej, jrn_err *fatal)
{
	jrn_err why;
	bool changed = false, defaulted = false;
	int64_t ts = 0;

	size_t bad = jrn_utf8_invalid_at(ln->p, ln->len);
	if (bad < ln->len) {
		jrn_fail(&why, "invalid UTF-8 at byte %zu", bad + 1);
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	}
	if (jrn_json_index_build(&ix, ln->p, ln->len, 3, &why) < 0)
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	const char *kind = jrn_json_kind_at(ln->p, ln->len);
	if (strcmp(kind, "object") != 0) {
		jrn_fail(&why, "not a JSON object (got %s)", jrn_json_kind_phrase_at(ln->p, ln->len));
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	}
	if (ln->len >= max_record) {
		jrn_fail(&why, "record of %zu bytes is longer than the state file takes (%zu bytes)",
			 ln->len, max_record - 1);
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	}
	int fast = jv_only ? 0 : take_fast(b, ln);
	if (fast != 0)
		return fast > 0 ? 0 : jrn_fail(fatal, "out of memory");

	jv ev = jrn_parse_checked_object(&parser, ln->p, ln->len, &why);
	if (jv_is_valid(ev))
		ev = normalise(ev, &changed, &ts, &defaulted, &why);

	/* Consent events also set the consent table; they need a channel. */
	jrn_reach_status consent = JRN_REACH_NONE;
	if (jv_is_valid(ev))
		ev = consent_of(ev, &consent, &why);
	double amount = 0;
	bool has_amount = false;
	if (jv_is_valid(ev))
		ev = ingest_amounts(ev, &changed, &amount, &has_amount, &why);
	int er = jv_is_valid(ev) && jrn_privacy_count(privacy) > 0 ? erased_field(ev, &why) : 0;
	if (er < 0) {
		jv_free(ev);
		return jrn_fail(fatal, "cannot compute HMAC-SHA-256 (OpenSSL failed)");
	}
	if (er > 0) {
		jv_free(ev);
		ev = jv_invalid();
	}
	int idrc = jv_is_valid(ev) ? derive_id(&ev, &changed, &why) : -1;
	if (idrc == -2)
		return jrn_fail(fatal, "cannot compute SHA-256 (OpenSSL failed)");
	if (idrc < 0) {
		jv_free(ev);
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	}

	int64_t now = jrn_now();
	if (defaulted) {
		char t[32];
		size_t n = jrn_time_format(now, t);
		ev = jv_object_set(ev, KEY(K_TIMESTAMP), jv_string_sized(t, (int)n));
		ev = jv_object_set(ev, KEY(K_RECEIVED_AT), jv_string_sized(t, (int)n));
		ts = now;
		changed = true;
	}

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		record *p = realloc(b->recs, cap * sizeof *p);
		if (!p)
			goto oom;
		b->recs = p;
		b->cap = cap;
	}
	record *r = &b->recs[b->n];
	memset(r, 0, sizeof *r);
	r->ts = ts;
	r->received = now;
	r->consent = consent;
	r->amount = amount;
	r->has_amount = has_amount;

	if (add_field(b, ev, K_ID, &r->id) < 0 || add_field(b, ev, K_TYPE, &r->type) < 0 ||
	    add_field(b, ev, K_CUSTOMER_ID, &r->customer) < 0)
		goto oom;
	jv props = jv_object_get(jv_copy(ev), KEY(K_PROPERTIES));
	if (jv_get_kind(props) == JV_KIND_OBJECT && consent != JRN_REACH_NONE) {
		if (add_field(b, props, K_CHANNEL, &r->channel) < 0 ||
		    add_field(b, props, K_SOURCE, &r->source) < 0) {
			jv_free(props);
			goto oom;
		}
	}
	jv_free(props);
	if (consent != JRN_REACH_NONE && r->source.len == 0 && jrn_buf_adds(&b->text, "ingest") == 0)
		r->source = (span){b->text.len - 6, 6};

	/* The body: the input bytes themselves when nothing changed (they are
	 * checked JSON), else the serialised event. */
	r->body.off = b->text.len;
	if (!changed) {
		jv_free(ev);
		if (jrn_buf_add(&b->text, ln->p, ln->len) < 0)
			goto oom;
	} else if (jrn_json_append(&b->text, ev, 0, &why) < 0) {
		b->text.len = r->body.off;
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	}
	r->body.len = b->text.len - r->body.off;
	if (r->body.len >= max_record) {
		/* grown past the limit by normalisation (rare: a fresh id) */
		b->text.len = r->body.off;
		jrn_fail(&why, "record of %zu bytes is longer than the state file takes (%zu bytes)",
			 r->body.len, max_record - 1);
		return jrn_reject(rej, ln->file, ln->lineno, ln->p, ln->len, why.msg, fatal);
	}
	b->n++;
	return 0;
oom:
	jv_free(ev);
	return jrn_fail(fatal, "out of memory");
}

/* ---- setting up ------------------------------------------------------------ */

int ingest_record_setup(jv cfg, const char *region, bool every_jv, jrn_err *e)
{
	country = region;
	jv_only = every_jv;
	if (!(phones = jrn_phone_memo_new(region)) ||
	    names_from(&email_names, cfg, "ingest.emailFields", "email") < 0 ||
	    names_from(&phone_names, cfg, "ingest.phoneFields", "phone") < 0)
		return jrn_fail(e, "out of memory");
	return ingest_typemap_load(cfg, e);
}

void ingest_record_privacy(jrn_privacy *P)
{
	privacy = P;
}

void ingest_record_limit(size_t n)
{
	max_record = n;
}

void ingest_record_free(void)
{
	if (parser)
		jv_parser_free(parser);
	jrn_json_index_free(&ix);
	jrn_buf_free(&scratch);
	free(edits);
	names_free(&email_names);
	names_free(&phone_names);
	jrn_phone_memo_free(phones);
	phones = NULL;
	ingest_typemap_free();
}
