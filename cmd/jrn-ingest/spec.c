/*
 * spec.c: Segment's spec and jrn's names (see jrn-ingest.h): the keys of an
 * event, the type map, the one normalised amount, the time of an event
 * without a timestamp. No I/O.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ingest.h"

const char *const ingest_key_names[NKEYS] = {
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
jv ingest_keys[NKEYS];

void ingest_keys_init(void)
{
	for (int i = 0; i < NKEYS; i++)
		ingest_keys[i] = jv_string(ingest_key_names[i]);
}

void ingest_keys_free(void)
{
	for (int i = 0; i < NKEYS; i++)
		jv_free(ingest_keys[i]);
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
int ingest_typemap_load(jv cfg, jrn_err *e)
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
					      jv_string_value(k), vk == JV_KIND_STRING ? "''" : jrn_kind_phrase(vk, true));
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
const char *ingest_typemap_find(const char *t, size_t n)
{
	int64_t i = jrn_idmap_get(type_map, t, n);
	return i < 0 ? NULL : type_to[i];
}

void ingest_typemap_free(void)
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

const int ingest_amount_keys[] = {K_AMOUNT, K_TOTAL, K_REVENUE, K_VALUE};

bool ingest_needs_amount(const char *t, size_t n)
{
	return (n == 15 && !memcmp(t, "order.completed", 15)) ||
	       (n == 14 && !memcmp(t, "order.refunded", 14));
}

/* s[0..n) as a number when it is one in JSON's syntax, after ASCII blanks
 * are trimmed: 1 with *d set (finite), 0 when it is not one. */
int ingest_number_text(const char *s, size_t n, double *d)
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
/* "properties.KEY: amount 1e308 is out of range (|amount| <= 1e15)" into
 * e, the number (consumed) as written when its literal was kept. */
static void amount_range_fail(const char *key, jv num, jrn_err *e)
{
	jrn_buf t = {0};
	jrn_err why;
	if (jrn_json_append(&t, num, 0, &why) < 0 || !t.p)
		jrn_buf_adds(&t, "?");
	/* 1e+308 as 1e308 */
	char *plus = t.p ? strstr(t.p, "e+") : NULL;
	if (plus)
		memmove(plus + 1, plus + 2, strlen(plus + 2) + 1);
	jrn_fail(e, "properties.%s: amount %.40s is out of range (|amount| <= 1e15)", key,
		 t.p ? t.p : "?");
	jrn_buf_free(&t);
}

jv ingest_amounts(jv ev, bool *changed, double *amount, bool *has, jrn_err *e)
{
	jv props = jv_object_get(jv_copy(ev), KEY(K_PROPERTIES));
	bool props_changed = false;
	*has = false;
	if (jv_get_kind(props) == JV_KIND_OBJECT) {
		for (size_t i = 0; i < 4; i++) {
			jv v = jv_object_get(jv_copy(props), KEY(ingest_amount_keys[i]));
			jv_kind k = jv_get_kind(v);
			double d = 0;
			bool ok = k == JV_KIND_NUMBER;
			if (ok)
				d = jv_number_value(v);
			if (k == JV_KIND_STRING) {
				if (!(ok = ingest_number_text(jv_string_value(v),
						       (size_t)jv_string_length_bytes(jv_copy(v)), &d)))
					jrn_fail(e, "properties.%s: '%.64s' is not a number (write it as 19.99)",
						 ingest_key_names[ingest_amount_keys[i]], jv_string_value(v));
				else
					props = jv_object_set(props, KEY(ingest_amount_keys[i]), jv_number(d));
				props_changed |= ok;
			} else if (k != JV_KIND_INVALID && k != JV_KIND_NULL && !ok) {
				jrn_fail(e, "properties.%s: expected a number, got %s",
					 ingest_key_names[ingest_amount_keys[i]],
					 jrn_kind_phrase(k, false));
			}
			if (ok && !(fabs(d) <= INGEST_AMOUNT_MAX)) {
				amount_range_fail(ingest_key_names[ingest_amount_keys[i]],
						  k == JV_KIND_NUMBER ? jv_copy(v) : jv_number(d), e);
				ok = false;
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
	if (!*has && ingest_needs_amount(jv_string_value(type), (size_t)jv_string_length_bytes(jv_copy(type)))) {
		jrn_fail(e, "properties.amount: %s needs a number here (or in total, revenue or value)",
			 jv_string_value(type));
		jv_free(type);
		jv_free(ev);
		return jv_invalid();
	}
	jv_free(type);
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
		rc = jrn_fail(e, "%s: expected an RFC 3339 string, got %s", ingest_key_names[key],
			      jrn_kind_phrase(k, false));
	else if (jrn_time_parse(jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)), 0, ms,
				&why) < 0)
		rc = jrn_fail(e, "%s: %s", ingest_key_names[key], why.msg);
	jv_free(t);
	return rc;
}

/* timestamp: RFC 3339, stored in UTC with milliseconds. Without one, as
 * Segment defines it: receivedAt - (sentAt - originalTimestamp) when the
 * three are given, else originalTimestamp, else receivedAt (the given
 * fields are kept). *ts gets it, or *defaulted is set when there is none.
 * Consumes ev; returns it, or jv_invalid with the reason in e. */
jv ingest_time(jv ev, bool *changed, int64_t *ts, bool *defaulted, jrn_err *e)
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
