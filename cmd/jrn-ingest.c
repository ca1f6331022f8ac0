/*
 * jrn-ingest: take customer events in, check and normalise them, store each
 * once in the state file, and write the new ones to stdout.
 *
 * Two threads: this one reads, parses, checks and serialises records into
 * batches; the store thread inserts a batch in one transaction, then writes
 * the records it stored to stdout (stored before shown, so a consumer never
 * sees an event the state file lacks).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrn.h"
#include "reach.h"

static const char usage[] =
	"usage: jrn-ingest [OPTIONS] [FILE...]\n"
	"Read events (NDJSON) from FILEs or stdin, check and normalise them, store\n"
	"each once in the state file and write the newly stored ones to stdout.\n"
	"\n"
	"  --db PATH             state file (JRN_DB; default ./jrn.db)\n"
	"  --config PATH         configuration (JRN_CONFIG; default ./jrn.yaml if any)\n"
	"  --now TIME            the clock, RFC 3339 (JRN_NOW)\n"
	"  --rejects FILE        append rejected lines to FILE as JSON\n"
	"  --store-only          store, write nothing to stdout\n"
	"  --all                 also write duplicates (already stored) to stdout\n"
	"  --dry-run             check and normalise only; no state file\n"
	"  --country CC          region for phone numbers without +country (US)\n"
	"  --batch-size N        records per transaction (100000)\n"
	"  -q, --quiet           no summary, no per-line diagnostics\n"
	"  -v, --verbose         more diagnostics\n"
	"  -h, --help            this help\n"
	"      --version         print the version\n"
	"\n"
	"Exit status: 0 all stored, 1 failure, 2 usage, 3 some lines rejected.\n";

enum {
	OPT_STORE_ONLY = JRN_OPT_TOOL_BASE,
	OPT_ALL,
	OPT_COUNTRY,
	OPT_BATCH,
};

static const struct option longopts[] = {
	JRN_COMMON_LONG,
	{"dry-run", no_argument, NULL, JRN_OPT_DRY_RUN},
	{"store-only", no_argument, NULL, OPT_STORE_ONLY},
	{"all", no_argument, NULL, OPT_ALL},
	{"country", required_argument, NULL, OPT_COUNTRY},
	{"batch-size", required_argument, NULL, OPT_BATCH},
	{NULL, 0, NULL, 0},
};

/* ---- a batch: records as offsets into one text buffer ------------------ */

typedef struct {
	size_t off, len;
} span;

typedef struct {
	span body, id, type, customer, channel, source;
	int64_t ts, received;
	double amount;
	bool has_amount;
	jrn_reach_status consent; /* a consent event: its status */
} record;

typedef struct batch {
	jrn_buf text;
	record *recs;
	size_t n, cap;
	struct batch *next;
} batch;

/* Keys made once: jv strings cache their hash, so lookups by these are
 * cheap, and no record allocates its key names. */
enum {
	K_ID,
	K_MESSAGE_ID,
	K_TYPE,
	K_EVENT,
	K_CUSTOMER_ID,
	K_USER_ID,
	K_ANONYMOUS_ID,
	K_TIMESTAMP,
	K_PROPERTIES,
	K_TRAITS,
	K_CONTEXT,
	K_RECEIVED_AT,
	K_CHANNEL,
	K_SOURCE,
	K_AMOUNT,
	K_TOTAL,
	K_REVENUE,
	K_VALUE,
	K_ORIGINAL_TIMESTAMP,
	K_SENT_AT,
	NKEYS
};
static const char *const key_names[NKEYS] = {
	[K_ID] = "id",
	[K_MESSAGE_ID] = "messageId",
	[K_TYPE] = "type",
	[K_EVENT] = "event",
	[K_CUSTOMER_ID] = "customerId",
	[K_USER_ID] = "userId",
	[K_ANONYMOUS_ID] = "anonymousId",
	[K_TIMESTAMP] = "timestamp",
	[K_PROPERTIES] = "properties",
	[K_TRAITS] = "traits",
	[K_CONTEXT] = "context",
	[K_RECEIVED_AT] = "receivedAt",
	[K_CHANNEL] = "channel",
	[K_SOURCE] = "source",
	[K_AMOUNT] = "amount",
	[K_TOTAL] = "total",
	[K_REVENUE] = "revenue",
	[K_VALUE] = "value",
	[K_ORIGINAL_TIMESTAMP] = "originalTimestamp",
	[K_SENT_AT] = "sentAt",
};
static jv keys[NKEYS];
#define KEY(k) jv_copy(keys[k])

/* ---- settings and shared state ------------------------------------------ */

static jrn_opts opts;
static bool store_only, emit_all;
static const char *country;
static long batch_size = 100000;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static batch *free_list, *full_head, *full_tail;
static bool input_done;     /* reader: no more batches will come */
static bool stop;           /* store thread: stop reading (failure or EPIPE) */
static jrn_err store_err;   /* what stopped it, when it failed */
static int store_failed;
static uint64_t n_stored, n_dup;

static jrn_out out;
static size_t max_record = SIZE_MAX; /* the state file's SQLITE_LIMIT_LENGTH */
static jv_parser *parser; /* reused between lines */

/* ---- the store thread ----------------------------------------------------- */

static batch *take_full(void)
{
	pthread_mutex_lock(&mu);
	while (!full_head && !input_done)
		pthread_cond_wait(&cond, &mu);
	batch *b = full_head;
	if (b) {
		full_head = b->next;
		if (!full_head)
			full_tail = NULL;
	}
	pthread_mutex_unlock(&mu);
	return b;
}

static void give_free(batch *b)
{
	jrn_buf_reset(&b->text);
	b->n = 0;
	pthread_mutex_lock(&mu);
	b->next = free_list;
	free_list = b;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

static void halt(void)
{
	pthread_mutex_lock(&mu);
	stop = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

typedef struct {
	sqlite3 *db;
	sqlite3_stmt *insert;
	jrn_reach *reach;     /* consent events set the consent table */
	unsigned char *fresh; /* per record of the batch: newly stored */
	size_t fresh_cap;
} store;

static int bind_span(sqlite3_stmt *st, int i, const batch *b, span s)
{
	if (s.len == 0 && s.off == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text64(st, i, b->text.p + s.off, s.len, SQLITE_STATIC, SQLITE_UTF8);
}

static jrn_reach_text span_text(const batch *b, span s)
{
	return s.len == 0 && s.off == 0 ? (jrn_reach_text){NULL, 0}
					 : (jrn_reach_text){b->text.p + s.off, s.len};
}

static int store_batch(store *s, batch *b, jrn_err *e)
{
	if (b->n > s->fresh_cap) {
		unsigned char *p = realloc(s->fresh, b->n);
		if (!p)
			return jrn_fail(e, "out of memory");
		s->fresh = p;
		s->fresh_cap = b->n;
	}
	if (jrn_db_begin(s->db, e) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		const record *r = &b->recs[i];
		sqlite3_stmt *st = s->insert;
		int rc = bind_span(st, 1, b, r->id);
		rc |= bind_span(st, 2, b, r->type);
		rc |= bind_span(st, 3, b, r->customer);
		rc |= sqlite3_bind_int64(st, 4, r->ts);
		rc |= sqlite3_bind_int64(st, 5, r->received);
		rc |= r->has_amount ? sqlite3_bind_double(st, 6, r->amount) : sqlite3_bind_null(st, 6);
		rc |= bind_span(st, 7, b, r->body);
		if (rc != SQLITE_OK) {
			sqlite3_reset(st);
			goto fail;
		}
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto fail;
		s->fresh[i] = sqlite3_changes(s->db) > 0;
		if (s->fresh[i] && r->consent != JRN_REACH_NONE) {
			jrn_reach_consent c = {span_text(b, r->customer), span_text(b, r->channel),
					       r->consent, r->ts, span_text(b, r->source),
					       span_text(b, r->id)};
			if (jrn_reach_consent_set(s->reach, &c, e) < 0) {
				jrn_db_rollback(s->db);
				return -1;
			}
		}
	}
	if (jrn_db_commit(s->db, e) < 0) {
		jrn_db_rollback(s->db);
		return -1;
	}
	return 0;
fail:
	jrn_fail(e, "%s", sqlite3_errmsg(s->db));
	jrn_db_rollback(s->db);
	return -1;
}

static bool stopped(void)
{
	pthread_mutex_lock(&mu);
	bool s = stop;
	pthread_mutex_unlock(&mu);
	return s;
}

static void *store_main(void *arg)
{
	store *s = arg;
	batch *b;

	pthread_setname_np(pthread_self(), "jrn-ingest-db");
	while ((b = take_full())) {
		if (stopped()) {
			give_free(b);
			continue;
		}
		if (s->db && store_batch(s, b, &store_err) < 0) {
			store_failed = 1;
			halt();
			give_free(b);
			continue;
		}
		for (size_t i = 0; i < b->n; i++) {
			bool fresh = !s->db || s->fresh[i];
			if (fresh)
				n_stored++;
			else
				n_dup++;
			if (!store_only && (fresh || emit_all))
				jrn_out_line(&out, b->text.p + b->recs[i].body.off, b->recs[i].body.len);
		}
		if (!store_only && jrn_out_flush(&out) < 0)
			halt();
		give_free(b);
	}
	return NULL;
}

/* ---- the type map ----------------------------------------------------------
 *
 * Segment's e-commerce spec (v2) names and its page/screen calls, mapped to
 * the names jrn's models and shipped rules read: RFM and CLV read
 * order.completed and order.refunded, lead scoring's shipped rules
 * page.viewed, product.viewed and cart.added. ingest.typeMap adds to the
 * map or overrides a row (null: keep that name as given). jrn-ingest(1)
 * lists the rows. */

static const char *const default_type_map[][2] = {
	{"page", "page.viewed"},
	{"screen", "page.viewed"},
	{"Products Searched", "products.searched"},
	{"Product List Viewed", "product_list.viewed"},
	{"Product List Filtered", "product_list.filtered"},
	{"Promotion Viewed", "promotion.viewed"},
	{"Promotion Clicked", "promotion.clicked"},
	{"Product Clicked", "product.clicked"},
	{"Product Viewed", "product.viewed"},
	{"Product Added", "cart.added"},
	{"Product Removed", "cart.removed"},
	{"Cart Viewed", "cart.viewed"},
	{"Checkout Started", "checkout.started"},
	{"Checkout Step Viewed", "checkout_step.viewed"},
	{"Checkout Step Completed", "checkout_step.completed"},
	{"Payment Info Entered", "payment_info.entered"},
	{"Order Updated", "order.updated"},
	{"Order Completed", "order.completed"},
	{"Order Refunded", "order.refunded"},
	{"Order Cancelled", "order.cancelled"},
	{"Coupon Entered", "coupon.entered"},
	{"Coupon Applied", "coupon.applied"},
	{"Coupon Denied", "coupon.denied"},
	{"Coupon Removed", "coupon.removed"},
	{"Product Added to Wishlist", "wishlist.added"},
	{"Product Removed from Wishlist", "wishlist.removed"},
	{"Wishlist Product Added to Cart", "wishlist.carted"},
	{"Product Shared", "product.shared"},
	{"Cart Shared", "cart.shared"},
	{"Product Reviewed", "product.reviewed"},
};

static jrn_idmap *type_map; /* a name given → its index in type_to */
static char **type_to;      /* per index: the jrn name, or NULL (keep as given) */
static size_t type_to_cap;

/* Sets the row from[0..n) → to (NULL: keep as given; copied). 0 or -1
 * (memory). */
static int typemap_set(const char *from, size_t n, const char *to)
{
	int64_t i = jrn_idmap_put(type_map, from, n, NULL);
	if (i < 0)
		return -1;
	if ((size_t)i >= type_to_cap) {
		size_t cap = type_to_cap ? type_to_cap * 2 : 64;
		char **p = realloc(type_to, cap * sizeof *p);
		if (!p)
			return -1;
		memset(p + type_to_cap, 0, (cap - type_to_cap) * sizeof *p);
		type_to = p;
		type_to_cap = cap;
	}
	free(type_to[i]);
	type_to[i] = NULL;
	if (to && !(type_to[i] = strdup(to)))
		return -1;
	return 0;
}

/* The map: the default rows, then ingest.typeMap of cfg (borrowed), whose
 * values must be non-empty strings or null. 0, or -1 with e. */
static int typemap_load(jv cfg, jrn_err *e)
{
	if (!(type_map = jrn_idmap_new()))
		return jrn_fail(e, "out of memory");
	for (size_t i = 0; i < sizeof default_type_map / sizeof default_type_map[0]; i++)
		if (typemap_set(default_type_map[i][0], strlen(default_type_map[i][0]),
				default_type_map[i][1]) < 0)
			return jrn_fail(e, "out of memory");
	jv m = jrn_config_get(cfg, "ingest.typeMap");
	int rc = 0;
	if (jv_get_kind(m) == JV_KIND_OBJECT) {
		jv_object_foreach(m, k, v) {
			jv_kind vk = jv_get_kind(v);
			size_t kn = (size_t)jv_string_length_bytes(jv_copy(k));
			if (rc == 0 && (kn == 0 || (vk != JV_KIND_NULL && (vk != JV_KIND_STRING ||
					jv_string_length_bytes(jv_copy(v)) == 0))))
				rc = jrn_fail(e, "ingest.typeMap.%s: expected a non-empty event type or null, got %s",
					      jv_string_value(k), vk == JV_KIND_STRING ? "''" : jv_kind_name(vk));
			else if (rc == 0 && typemap_set(jv_string_value(k), kn,
							vk == JV_KIND_STRING ? jv_string_value(v) : NULL) < 0)
				rc = jrn_fail(e, "out of memory");
			jv_free(k);
			jv_free(v);
		}
	}
	jv_free(m);
	return rc;
}

/* The jrn name of the type t[0..n), or NULL when it is kept as given. */
static const char *typemap_find(const char *t, size_t n)
{
	int64_t i = jrn_idmap_get(type_map, t, n);
	return i < 0 ? NULL : type_to[i];
}

static void typemap_free(void)
{
	for (size_t i = 0; i < type_to_cap; i++)
		free(type_to[i]);
	free(type_to);
	jrn_idmap_free(type_map);
}

/* ---- amounts ---------------------------------------------------------------
 *
 * RFM and CLV read an order's amount from the events table's amount column,
 * which ingest fills from properties.amount, total, revenue or value (the
 * first that is a number). So that rules and models read one amount alike,
 * and nothing is stored that the nightly job refuses:
 *   - a numeric string ("19.99", blanks around allowed) in any of the four
 *     becomes the number; any other value but a number or null is rejected,
 *     naming the field;
 *   - without properties.amount, it is set from the first of total, revenue
 *     or value;
 *   - an order.completed or order.refunded without one is rejected. */

static const int amount_keys[] = {K_AMOUNT, K_TOTAL, K_REVENUE, K_VALUE};

static bool needs_amount(const char *t, size_t n)
{
	return (n == 15 && !memcmp(t, "order.completed", 15)) ||
	       (n == 14 && !memcmp(t, "order.refunded", 14));
}

/* s[0..n) as a number when it is one in JSON's syntax, after ASCII blanks
 * are trimmed: 1 with *d set (finite), 0 when it is not one. */
static int number_text(const char *s, size_t n, double *d)
{
	while (n > 0 && strchr(" \t\r\n", s[0]))
		s++, n--;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		if (++i >= n || !isdigit((unsigned char)s[i]))
			return 0;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !isdigit((unsigned char)s[i]))
			return 0;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	}
	if (i != n || n > 400)
		return 0;
	char buf[401];
	memcpy(buf, s, n);
	buf[n] = '\0';
	*d = strtod(buf, NULL);
	return isfinite(*d);
}

/* Applies the rules above to ev's properties. Consumes ev; returns it (with
 * *amount and *has set), or jv_invalid with the reason in e. */
static jv normalise_amounts(jv ev, bool *changed, double *amount, bool *has, jrn_err *e)
{
	jv props = jv_object_get(jv_copy(ev), KEY(K_PROPERTIES));
	bool props_changed = false;
	*has = false;
	if (jv_get_kind(props) == JV_KIND_OBJECT) {
		for (size_t i = 0; i < 4; i++) {
			jv v = jv_object_get(jv_copy(props), KEY(amount_keys[i]));
			jv_kind k = jv_get_kind(v);
			double d = 0;
			bool ok = k == JV_KIND_NUMBER && isfinite(d = jv_number_value(v));
			if (k == JV_KIND_STRING) {
				if (!(ok = number_text(jv_string_value(v),
						       (size_t)jv_string_length_bytes(jv_copy(v)), &d)))
					jrn_fail(e, "properties.%s: '%.64s' is not a number (write it as 19.99)",
						 key_names[amount_keys[i]], jv_string_value(v));
				else
					props = jv_object_set(props, KEY(amount_keys[i]), jv_number(d));
				props_changed |= ok;
			} else if (k != JV_KIND_INVALID && k != JV_KIND_NULL && !ok) {
				jrn_fail(e, "properties.%s: expected a number, got %s",
					 key_names[amount_keys[i]],
					 k == JV_KIND_NUMBER ? "an infinite one" : jv_kind_name(k));
			}
			jv_free(v);
			if (k != JV_KIND_INVALID && k != JV_KIND_NULL && !ok) {
				jv_free(props);
				jv_free(ev);
				return jv_invalid();
			}
			if (ok && !*has) {
				*amount = d;
				*has = true;
				if (i > 0) {
					props = jv_object_set(props, KEY(K_AMOUNT), jv_number(d));
					props_changed = true;
				}
			}
		}
	}
	if (props_changed) {
		ev = jv_object_set(ev, KEY(K_PROPERTIES), props);
		*changed = true;
	} else {
		jv_free(props);
	}
	jv type = jv_object_get(jv_copy(ev), KEY(K_TYPE));
	if (!*has && needs_amount(jv_string_value(type), (size_t)jv_string_length_bytes(jv_copy(type)))) {
		jrn_fail(e, "properties.amount: %s needs a number here (or in total, revenue or value)",
			 jv_string_value(type));
		jv_free(type);
		jv_free(ev);
		return jv_invalid();
	}
	jv_free(type);
	return ev;
}

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
			rc = jrn_fail(&why, "expected a string, got %s", jv_kind_name(jv_get_kind(v)));
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
	sub = normalise_contacts(sub, key_names[field], &sub_changed, e);
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
		jv_free(s);
		return ev;
	}
	const int alt[] = {K_USER_ID, K_ANONYMOUS_ID};
	for (int i = 0; i < 2 && rc == 0; i++) {
		rc = get_string(ev, alt[i], &s);
		if (rc < 0) {
			jv_free(ev);
			jrn_fail(e, "%s: expected a non-empty string", key_names[alt[i]]);
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

/* The time in field key of ev (borrowed): 1 with *ms, 0 when absent or
 * null, -1 with the reason (naming the field) in e. */
static int time_field(jv ev, int key, int64_t *ms, jrn_err *e)
{
	jv t = jv_object_get(jv_copy(ev), KEY(key));
	jv_kind k = jv_get_kind(t);
	int rc = 1;
	jrn_err why;
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL)
		rc = 0;
	else if (k != JV_KIND_STRING)
		rc = jrn_fail(e, "%s: expected an RFC 3339 string, got %s", key_names[key], jv_kind_name(k));
	else if (jrn_time_parse(jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)), 0, ms,
				&why) < 0)
		rc = jrn_fail(e, "%s: %s", key_names[key], why.msg);
	jv_free(t);
	return rc;
}

/* timestamp: RFC 3339, stored in UTC with milliseconds. Without one, as
 * Segment defines it: receivedAt - (sentAt - originalTimestamp) when the
 * three are given, else originalTimestamp, else receivedAt (the given
 * fields are kept). *ts gets it, or *defaulted is set when there is none.
 * Consumes ev; returns it, or jv_invalid with the reason in e. */
static jv normalise_time(jv ev, bool *changed, int64_t *ts, bool *defaulted, jrn_err *e)
{
	int64_t orig, sent, recv;
	int rc = time_field(ev, K_TIMESTAMP, ts, e);
	int ro = rc == 0 ? time_field(ev, K_ORIGINAL_TIMESTAMP, &orig, e) : 0;
	int rs = ro > 0 ? time_field(ev, K_SENT_AT, &sent, e) : 0;
	int rr = rc == 0 && ro >= 0 && rs >= 0 ? time_field(ev, K_RECEIVED_AT, &recv, e) : 0;
	if (rc < 0 || ro < 0 || rs < 0 || rr < 0) {
		jv_free(ev);
		return jv_invalid();
	}
	*defaulted = rc == 0 && ro == 0 && rr == 0;
	if (rc == 0 && !*defaulted)
		*ts = ro > 0 && rs > 0 && rr > 0 ? recv - (sent - orig) : ro > 0 ? orig : recv;
	if (*defaulted)
		return ev;
	char canon[32];
	size_t n = jrn_time_format(*ts, canon);
	jv t = jv_object_get(jv_copy(ev), KEY(K_TIMESTAMP));
	if (jv_get_kind(t) != JV_KIND_STRING || (size_t)jv_string_length_bytes(jv_copy(t)) != n ||
	    memcmp(canon, jv_string_value(t), n) != 0) {
		ev = jv_object_set(ev, KEY(K_TIMESTAMP), jv_string_sized(canon, (int)n));
		*changed = true;
	}
	jv_free(t);
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
		jv_free(s);
	} else {
		if ((rc = get_string(ev, K_MESSAGE_ID, &s)) < 0)
			goto bad_message_id;
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
		jv_free(type);
	}
	/* Segment's names (and page/screen calls) become jrn's */
	type = jv_object_get(jv_copy(ev), KEY(K_TYPE));
	const char *to = typemap_find(jv_string_value(type), (size_t)jv_string_length_bytes(jv_copy(type)));
	jv_free(type);
	if (to) {
		ev = jv_object_set(ev, KEY(K_TYPE), jv_string(to));
		*changed = true;
	}

	ev = normalise_customer(ev, changed, e);
	if (jv_is_valid(ev))
		ev = normalise_time(ev, changed, ts, defaulted, e);
	if (!jv_is_valid(ev))
		return ev;

	jv p = jv_object_get(jv_copy(ev), KEY(K_PROPERTIES));
	jv_kind pk = jv_get_kind(p);
	jv_free(p);
	if (pk != JV_KIND_INVALID && pk != JV_KIND_NULL && pk != JV_KIND_OBJECT) {
		jv_free(ev);
		jrn_fail(e, "properties: expected an object, got %s", jv_kind_name(pk));
		return jv_invalid();
	}
	jv tr = jv_object_get(jv_copy(ev), KEY(K_TRAITS));
	jv_kind tk = jv_get_kind(tr);
	jv_free(tr);
	if (tk != JV_KIND_INVALID && tk != JV_KIND_NULL && tk != JV_KIND_OBJECT) {
		jv_free(ev);
		jrn_fail(e, "traits: expected an object, got %s", jv_kind_name(tk));
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
	jv_free(ev);
	jrn_fail(e, "id: expected a non-empty string");
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

/* 1 taken into b, 0 not taken (use the jv path), -1 out of memory. */
static int take_fast(batch *b, const jrn_line *ln)
{
	const jrn_json_member *id = jrn_json_find(&ix, -1, "id");
	const jrn_json_member *type = jrn_json_find(&ix, -1, "type");
	const jrn_json_member *cust = jrn_json_find(&ix, -1, "customerId");
	const jrn_json_member *ts = jrn_json_find(&ix, -1, "timestamp");
	const jrn_json_member *props = jrn_json_find(&ix, -1, "properties");
	const jrn_json_member *traits = jrn_json_find(&ix, -1, "traits");
	const jrn_json_member *ctx = jrn_json_find(&ix, -1, "context");

	if (!plain_string(id) || !plain_string(type) || !plain_string(cust) ||
	    !plain_string(ts) || jrn_json_find(&ix, -1, "event"))
		return 0;
	if ((props && props->kind != '{') || (traits && traits->kind != '{'))
		return 0;
	if (type->vlen >= 8 && memcmp(type->val, "consent.", 8) == 0)
		return 0;
	if (typemap_find(type->val, type->vlen))
		return 0;

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
				   : jrn_phone_e164(m->val, m->vlen, country, &scratch, NULL);
		if (rc < 0)
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
		const jrn_json_member *a = jrn_json_find(&ix, pi, key_names[amount_keys[i]]);
		if (!a || a->kind == 'n')
			continue;
		if (a->kind != '0')
			return 0;
		/* the number is followed by ',' or '}', so strtod stops */
		double d = strtod(a->val, NULL);
		if (!isfinite(d) || (i > 0 && !has_amount))
			return 0;
		if (!has_amount)
			amount = d, has_amount = true;
	}
	if (!has_amount && needs_amount(type->val, type->vlen))
		return 0;

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
	if (add_span(b, id->val, id->vlen, &r->id) < 0 ||
	    add_span(b, type->val, type->vlen, &r->type) < 0 ||
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

/* Parses, checks and normalises one line into batch b (or rejects it). */
static int take_line(batch *b, const jrn_line *ln, jrn_rejects *rej, jrn_err *fatal)
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
		jrn_fail(&why, "not a JSON object (got %s)", kind);
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
		ev = normalise_amounts(ev, &changed, &amount, &has_amount, &why);
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

/* ---- main ----------------------------------------------------------------- */

static batch *take_free(void)
{
	pthread_mutex_lock(&mu);
	while (!free_list && !stop)
		pthread_cond_wait(&cond, &mu);
	batch *b = free_list;
	if (b)
		free_list = b->next;
	pthread_mutex_unlock(&mu);
	return b;
}

static void give_full(batch *b)
{
	b->next = NULL;
	pthread_mutex_lock(&mu);
	if (full_tail)
		full_tail->next = b;
	else
		full_head = b;
	full_tail = b;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}


/* The run's pieces, for teardown() to free whatever was set. */
static store st;
static jrn_rejects rej;
static batch pool[3];
static const char *country_flag, *batch_flag;
static char country_buf[8] = "US";

static int take_opt(void *ctx, int c, const char *arg)
{
	(void)ctx;
	switch (c) {
	case OPT_STORE_ONLY: store_only = true; return 0;
	case OPT_ALL: emit_all = true; return 0;
	case OPT_COUNTRY: country_flag = arg; return 0;
	case OPT_BATCH: batch_flag = arg; return 0;
	}
	return -2;
}

/* The command line: -1 to go on, else the status to exit with. */
static int parse(int argc, char **argv)
{
	int rc = jrn_opts_parse(&opts, argc, argv, JRN_COMMON_SHORT, longopts, usage, take_opt, NULL);
	if (rc >= 0)
		return rc;
	if (batch_flag) {
		char *end;
		batch_size = strtol(batch_flag, &end, 10);
		if (*end || batch_size < 1 || batch_size > 10000000)
			return jrn_say(JRN_EXIT_USAGE, "--batch-size: '%s' is not a number from 1 to 10000000",
				       batch_flag);
	}
	if (country_flag && !(strlen(country_flag) == 2 && isalpha((unsigned char)country_flag[0]) &&
			      isalpha((unsigned char)country_flag[1])))
		return jrn_say(JRN_EXIT_USAGE, "--country: '%s' is not a two-letter region code",
			       country_flag);
	if (store_only && opts.dry_run)
		return jrn_say(JRN_EXIT_USAGE, "--store-only and --dry-run exclude each other");
	return -1;
}

/* The configuration, the rejects file and the state file: -1 to go on,
 * else the status to exit with (said). */
static int set_up(void)
{
	jrn_err e;
	int rc = jrn_opts_resolve(&opts, &e);
	if (rc < 0) /* -2: a bad flag value such as --now yesterday */
		return jrn_say(rc == -2 ? JRN_EXIT_USAGE : JRN_EXIT_FAIL, "%s", e.msg);
	if (typemap_load(opts.config, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "%s%s%s", opts.config_path ? opts.config_path : "",
			       opts.config_path ? ": " : "", e.msg);
	jv cfg_country = jrn_config_get(opts.config, "ingest.defaultCountry");
	if (jv_get_kind(cfg_country) == JV_KIND_STRING)
		snprintf(country_buf, sizeof country_buf, "%s", jv_string_value(cfg_country));
	jv_free(cfg_country);
	country = country_flag ? country_flag : country_buf;
	jv cfg_batch = jrn_config_get(opts.config, "ingest.batchSize");
	if (!batch_flag && jv_get_kind(cfg_batch) == JV_KIND_NUMBER)
		batch_size = (long)jv_number_value(cfg_batch);
	jv_free(cfg_batch);
	if (names_from(&email_names, opts.config, "ingest.emailFields", "email") < 0 ||
	    names_from(&phone_names, opts.config, "ingest.phoneFields", "phone") < 0)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	if (jrn_rejects_open(&rej, "jrn-ingest", opts.rejects_path, opts.verbosity < 0, &e) < 0)
		return jrn_say(JRN_EXIT_FAIL, "--rejects %s", e.msg);
	if (!opts.dry_run) {
		if (jrn_db_open(opts.db_path, opts.busy_ms, &st.db, &e) < 0)
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		if (jrn_db_prepare(st.db, "INSERT OR IGNORE INTO events (id, type, customer_id, ts,"
				   " received_at, amount, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
				   &st.insert, &e) < 0 ||
		    !(st.reach = jrn_reach_open(st.db, &e)))
			return jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
		max_record = (size_t)sqlite3_limit(st.db, SQLITE_LIMIT_LENGTH, -1);
	}
	return -1;
}

/* -v: the state file, the config and the inputs in use, one line each. */
static void say_setup(char **files, int nfiles)
{
	if (opts.verbosity <= 0)
		return;
	jrn_say(0, "state file: %s", opts.dry_run ? "(none: dry run)" : opts.db_path);
	jrn_say(0, "config: %s", opts.config_path ? opts.config_path : "(none: defaults)");
	jrn_buf in = {0};
	for (int i = 0; i < nfiles; i++)
		jrn_buf_addf(&in, "%s%s", i ? ", " : "", strcmp(files[i], "-") ? files[i] : "stdin");
	jrn_say(0, "inputs: %s", nfiles ? (in.p ? in.p : "(out of memory)") : "stdin");
	jrn_buf_free(&in);
}

/* Reads every line into batches for the store thread until the input ends
 * or the store thread stops. *io_failed when a file could not be read,
 * *fatal_set (with fatal) when a line could not be taken. */
static void read_input(jrn_reader *rd, bool *io_failed, bool *fatal_set, jrn_err *fatal)
{
	jrn_err e;
	jrn_line ln;
	batch *b = take_free();
	jrn_reader_idle_notice(rd, true);
	while (b) {
		int rc = jrn_reader_next(rd, &ln, &e);
		if (rc < 0) {
			jrn_say(JRN_EXIT_FAIL, "%s", e.msg);
			*io_failed = true;
			continue;
		}
		if (rc == 1 && take_line(b, &ln, &rej, fatal) < 0) {
			*fatal_set = true;
			rc = 0;
		}
		/* A full batch, the end, or input that pauses (rc 2) ships it. */
		if (rc != 1 || b->n >= (size_t)batch_size || stopped()) {
			if (b->n > 0) {
				give_full(b);
				b = rc == 0 ? NULL : take_free();
			} else if (rc == 0) {
				give_free(b);
				b = NULL;
			}
			if (stopped() && b) {
				give_free(b);
				b = NULL;
			}
		}
	}
}

/* The run: the store thread, the input, the end of the run (output closed,
 * what went wrong said, the summary). Returns the status. */
static int run(char **files, int nfiles)
{
	int status = JRN_EXIT_OK;
	bool io_failed = false, fatal_set = false;
	jrn_err fatal = {{0}};
	pthread_t th;

	say_setup(files, nfiles);
	jrn_out_init(&out, STDOUT_FILENO);
	for (int i = 0; i < 3; i++) {
		pool[i].next = free_list;
		free_list = &pool[i];
	}
	if (pthread_create(&th, NULL, store_main, &st) != 0)
		return jrn_say(JRN_EXIT_FAIL, "cannot start the store thread");
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	if (rd) {
		read_input(rd, &io_failed, &fatal_set, &fatal);
	} else {
		status = jrn_say(JRN_EXIT_FAIL, "out of memory");
		halt();
	}
	pthread_mutex_lock(&mu);
	input_done = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
	jrn_reader_free(rd);

	bool pipe_closed = out.err == EPIPE;
	status = jrn_finish(&out, NULL, status);
	if (fatal_set)
		status = jrn_say(JRN_EXIT_FAIL, "%s", fatal.msg);
	if (store_failed)
		status = jrn_say(JRN_EXIT_FAIL, "%s: %s", opts.db_path, store_err.msg);
	if (io_failed)
		status = JRN_EXIT_FAIL;
	if (opts.verbosity >= 0 && !pipe_closed) {
		if (opts.dry_run)
			jrn_say(0, "%llu valid, %llu rejected (dry run, nothing saved)",
				(unsigned long long)n_stored, (unsigned long long)rej.count);
		else
			jrn_say(0, "%llu stored, %llu duplicate, %llu rejected",
				(unsigned long long)n_stored, (unsigned long long)n_dup,
				(unsigned long long)rej.count);
	}
	return status;
}

/* Frees whatever was set; closes the state file and the rejects file
 * (JRN_EXIT_REJECTS when lines were rejected). Returns the status. */
static int teardown(int status)
{
	if (parser)
		jv_parser_free(parser);
	jrn_json_index_free(&ix);
	jrn_buf_free(&scratch);
	free(edits);
	for (int i = 0; i < 3; i++) {
		jrn_buf_free(&pool[i].text);
		free(pool[i].recs);
	}
	jrn_reach_close(st.reach);
	sqlite3_finalize(st.insert);
	free(st.fresh);
	if (st.db && sqlite3_close(st.db) != SQLITE_OK)
		status = jrn_say(JRN_EXIT_FAIL, "closing the state file: %s", sqlite3_errmsg(st.db));
	status = jrn_finish(NULL, &rej, status);
	typemap_free();
	names_free(&email_names);
	names_free(&phone_names);
	jrn_opts_free(&opts);
	for (int i = 0; i < NKEYS; i++)
		jv_free(keys[i]);
	return status;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	jv_only = getenv("JRN_INGEST_JV") && !strcmp(getenv("JRN_INGEST_JV"), "1");
	for (int i = 0; i < NKEYS; i++)
		keys[i] = jv_string(key_names[i]);
	jrn_opts_init(&opts, "jrn-ingest");
	int status = parse(argc, argv);
	if (status < 0)
		status = set_up();
	if (status < 0)
		status = run(argv + optind, argc - optind);
	return teardown(status);
}
