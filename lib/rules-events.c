/* rules-events.c: event leaves (see rules.h).
 *
 * An event leaf counts the customer's stored events of a type (within a
 * window, matching a where clause). It reads them through one prepared
 * statement per customer (cached while the customer stays the same), or,
 * for a run over every customer, from counts gathered in one scan of the
 * events table (jrn_rule_preload).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

/* A preloaded count that marks a customer with a stored event that cannot
 * be read for a where clause (jrn_rule_preload). */
#define UNREADABLE UINT32_MAX
/* where_match's answer for such an event: a reject of the customer (a jq
 * error in a where clause stays JRN_RULE_REJECT, which fails a preload). */
#define UNREADABLE_BODY (-3)

static bool has_events(const node *n)
{
	if (n->kind == N_EVENT)
		return true;
	for (int i = 0; i < n->nkid; i++)
		if (has_events(n->kid[i]))
			return true;
	return false;
}

bool jrn_rule_needs_events(const jrn_rules *r, int i)
{
	for (int j = 0; j < r->n; j++)
		if ((i < 0 || i == j) && has_events(r->seg[j].root))
			return true;
	return false;
}

/* A customer's events are those of every id linked to it too (an alias's
 * previousId, an anonymousId, a customer merged in: identities kind "id",
 * lib/profile-read.h), to the end of the chains. */
#define IDS_CTE "WITH RECURSIVE ids(x) AS (SELECT ?1 UNION SELECT value FROM identities, ids" \
		" WHERE kind = 'id' AND customer_id = ids.x) "

int jrn_rule_attach(jrn_rules *r, sqlite3 *db, jrn_err *e)
{
	sqlite3_finalize(r->evq);
	r->evq = NULL;
	r->cached = false;
	if (!db)
		return 0;
	const char *sql = r->events_body
		? IDS_CTE "SELECT type, ts, body FROM events WHERE customer_id IN ids"
		  " AND ts >= ?2 AND ts <= ?3"
		: IDS_CTE "SELECT type, ts, NULL FROM events WHERE customer_id IN ids"
		  " AND ts >= ?2 AND ts <= ?3";
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->evq, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return 0;
}

/* Loads the stored events of customer cust[0..len) into r's cache. */
static int load_events(jrn_rules *r, const char *cust, size_t len, jrn_err *e)
{
	if (r->cached && r->cust.len == len && memcmp(r->cust.p, cust, len) == 0)
		return 0;
	r->nrows = 0;
	r->cached = false;
	jrn_buf_reset(&r->text);
	jrn_buf_reset(&r->cust);
	if (jrn_buf_add(&r->cust, cust, len) < 0)
		return jrn_fail(e, "out of memory");
	if (!r->evq)
		return jrn_fail(e, "event leaves need the state file");
	sqlite3_stmt *st = r->evq;
	int64_t lo = r->events_unbounded ? INT64_MIN : jrn_rules_minus(r->now, r->events_window);
	if (sqlite3_bind_text(st, 1, cust, (int)len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, lo) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, r->now) != SQLITE_OK)
		goto db_fail;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nrows == r->caprows) {
			size_t cap = r->caprows ? r->caprows * 2 : 64;
			evrow *p = realloc(r->rows, cap * sizeof *p);
			if (!p) {
				sqlite3_reset(st);
				return jrn_fail(e, "out of memory");
			}
			r->rows = p;
			r->caprows = cap;
		}
		evrow *row = &r->rows[r->nrows];
		const unsigned char *type = sqlite3_column_text(st, 0);
		size_t tlen = (size_t)sqlite3_column_bytes(st, 0);
		row->ts = sqlite3_column_int64(st, 1);
		row->type_off = r->text.len;
		row->type_len = tlen;
		if (jrn_buf_add(&r->text, type ? (const char *)type : "", tlen) < 0 ||
		    jrn_buf_addc(&r->text, '\0') < 0) {
			sqlite3_reset(st);
			return jrn_fail(e, "out of memory");
		}
		const unsigned char *body = sqlite3_column_text(st, 2);
		size_t blen = body ? (size_t)sqlite3_column_bytes(st, 2) : 0;
		row->body_off = r->text.len;
		row->body_len = blen;
		if (blen && jrn_buf_add(&r->text, body, blen) < 0) {
			sqlite3_reset(st);
			return jrn_fail(e, "out of memory");
		}
		r->nrows++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		goto db_fail;
	r->cached = true;
	return 0;
db_fail:
	sqlite3_reset(st);
	return jrn_fail(e, "reading events: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
}

/* Whether the stored event body[0..len) matches n's where clause: it reads
 * the body's span index; the jv value is built only when a clause needs
 * it. 1, 0, a JRN_RULE_ error, or UNREADABLE_BODY (with x->e). */
static int where_match(ectx *x, const node *n, const char *body, size_t len, int depth)
{
	jrn_rules *r = x->r;
	jrn_err bad;
	if (jrn_json_index_build(&r->evix, body, len, JRN_RULE_INDEX_DEPTH, &bad) < 0) {
		/* stored before the readers refused it (a lone surrogate, a
		 * name twice): this customer cannot be judged, the others can */
		jrn_fail(x->e, "a stored event of type %s is not JSON as jrn reads it: %s",
			 n->etype, bad.msg);
		return UNREADABLE_BODY;
	}
	if (jrn_json_kind_at(body, len)[0] != 'o')
		return 0;
	jrn_rule_rec er = {body, len, &r->evix, jv_invalid(), &r->evparser};
	for (size_t k = 0; k < r->evix.n; k++)
		if (r->evix.m[k].kescaped)
			er.ix = NULL;
	jrn_buf *why = x->why;
	x->why = NULL;
	int rc = jrn_rules_eval_node(x, n->kid[0], &er, depth + 1);
	x->why = why;
	jv_free(er.v);
	return rc;
}

/* The preloaded customer's row in r->counts, added (with zero counts) when
 * add; -1 when absent, or out of memory (then *oom). */
static ssize_t cust_index(jrn_rules *r, const char *c, size_t n, bool add, bool *oom)
{
	if (!add)
		return r->cust_ids ? (ssize_t)jrn_idmap_get(r->cust_ids, c, n) : -1;
	if (!r->cust_ids && !(r->cust_ids = jrn_idmap_new())) {
		*oom = true;
		return -1;
	}
	bool added;
	int64_t idx = jrn_idmap_put(r->cust_ids, c, n, &added);
	if (idx < 0) {
		*oom = true;
		return -1;
	}
	if (!added)
		return (ssize_t)idx;
	size_t row = (size_t)idx * (size_t)r->nleaves;
	if (row + (size_t)r->nleaves > r->counts_cap) {
		size_t cap = r->counts_cap ? r->counts_cap * 2 : 4096 * (size_t)r->nleaves;
		uint32_t *p = realloc(r->counts, cap * sizeof *p);
		if (!p) {
			*oom = true;
			return -1;
		}
		r->counts = p;
		r->counts_cap = cap;
	}
	memset(r->counts + row, 0, (size_t)r->nleaves * sizeof *r->counts);
	return (ssize_t)idx;
}

static int collect_leaves(jrn_rules *r, node *n, const char *seg)
{
	if (n->kind == N_EVENT) {
		n->segname = seg;
		const node **p = realloc(r->leaves, (size_t)(r->nleaves + 1) * sizeof *p);
		if (!p)
			return -1;
		r->leaves = p;
		n->leaf_id = r->nleaves;
		r->leaves[r->nleaves++] = n;
		return 0; /* where clauses hold no event leaves */
	}
	for (int i = 0; i < n->nkid; i++)
		if (collect_leaves(r, n->kid[i], seg) < 0)
			return -1;
	return 0;
}

/* The id links (identities kind "id": value -> customer) of db: ids maps
 * a linked id to its index in to[], the offset of the customer it names in
 * text. 0 or -1 with e. */
typedef struct {
	jrn_idmap *ids;
	size_t *to, n;
	jrn_buf text;
} id_links;

static void links_free(id_links *l)
{
	jrn_idmap_free(l->ids);
	free(l->to);
	jrn_buf_free(&l->text);
}

static int links_load(sqlite3 *db, id_links *l, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT value, customer_id FROM identities WHERE kind = 'id'", -1,
			       &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = SQLITE_DONE;
	bool oom = !(l->ids = jrn_idmap_new());
	while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		bool added;
		int64_t i = jrn_idmap_put(l->ids, (const char *)sqlite3_column_text(st, 0),
					  (size_t)sqlite3_column_bytes(st, 0), &added);
		if (i >= 0 && !added)
			continue; /* one link per value (profile.h); the first kept */
		size_t *to = i < 0 ? NULL : realloc(l->to, ((size_t)i + 1) * sizeof *to);
		if (!to) {
			oom = true;
			break;
		}
		l->to = to;
		l->to[i] = l->text.len;
		l->n = (size_t)i + 1;
		if (jrn_buf_add(&l->text, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1)) < 0 ||
		    jrn_buf_addc(&l->text, '\0') < 0)
			oom = true;
	}
	sqlite3_finalize(st);
	if (oom)
		return jrn_fail(e, "out of memory");
	return rc == SQLITE_DONE ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(db));
}

/* The customer id c[0..*n) names now: its link followed to the end (at
 * most 64 links, as lib/profile.h's JRN_PROFILE_MAX_CHAIN), else c. */
static const char *links_resolve(const id_links *l, const char *c, size_t *n)
{
	for (int hop = 0; hop < 64 && l->n; hop++) {
		int64_t i = jrn_idmap_get(l->ids, c, *n);
		if (i < 0)
			break;
		c = l->text.p + l->to[i];
		*n = strlen(c);
	}
	return c;
}

int jrn_rule_preload(jrn_rules *r, sqlite3 *db, jrn_err *e)
{
	if (r->preloaded || !r->any_events)
		return 0;
	for (int i = 0; i < r->n; i++)
		if (collect_leaves(r, r->seg[i].root, r->seg[i].name) < 0)
			return jrn_fail(e, "out of memory");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT customer_id, type, ts, body FROM events", -1, &st,
			       NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	/* a linked id's events count for the customer it names */
	id_links links = {0};
	if (links_load(db, &links, e) < 0) {
		sqlite3_finalize(st);
		links_free(&links);
		return -1;
	}
	ectx x = {.r = r, .e = e, .seg = "", .top = NULL}; /* where clauses need no top */
	int rc;
	bool oom = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		size_t cn = (size_t)sqlite3_column_bytes(st, 0);
		if (c && links.n)
			c = links_resolve(&links, c, &cn);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		size_t tn = (size_t)sqlite3_column_bytes(st, 1);
		int64_t ts = sqlite3_column_int64(st, 2);
		if (!c || !type)
			continue;
		ssize_t ci = -1;
		for (int l = 0; l < r->nleaves; l++) {
			const node *n = r->leaves[l];
			if (ts > r->now || (n->within && ts < jrn_rules_minus(r->now, n->within)) ||
			    strlen(n->etype) != tn || memcmp(n->etype, type, tn) != 0)
				continue;
			if (n->nkid) {
				const char *body = (const char *)sqlite3_column_text(st, 3);
				size_t bn = (size_t)sqlite3_column_bytes(st, 3);
				x.seg = n->segname;
				int m = body ? where_match(&x, n, body, bn, 1) : 0;
				if (m == UNREADABLE_BODY) {
					/* the customer's leaf is marked: judging
					 * it rejects that customer alone */
					if (ci < 0 && (ci = cust_index(r, c, cn, true, &oom)) < 0)
						break;
					r->counts[(size_t)ci * (size_t)r->nleaves + (size_t)l] = UNREADABLE;
					continue;
				}
				if (m < 0) {
					sqlite3_finalize(st);
					links_free(&links);
					return -1;
				}
				if (!m)
					continue;
			}
			if (ci < 0 && (ci = cust_index(r, c, cn, true, &oom)) < 0)
				break;
			uint32_t *cnt = &r->counts[(size_t)ci * (size_t)r->nleaves + (size_t)l];
			if (*cnt < UNREADABLE - 1)
				(*cnt)++;
		}
		if (oom)
			break;
	}
	sqlite3_finalize(st);
	links_free(&links);
	if (oom)
		return jrn_fail(e, "out of memory");
	if (rc != SQLITE_DONE)
		return jrn_fail(e, "reading events: %s", sqlite3_errmsg(db));
	r->preloaded = true;
	return 0;
}

int jrn_rules_eval_event(ectx *x, const node *n, int depth)
{
	jrn_rules *r = x->r;
	jv cust = jv_invalid();
	const jrn_json_member *cm = x->top->ix ? jrn_json_find(x->top->ix, -1, "customerId") : NULL;
	if (cm && cm->kind == '"' && !cm->escaped) {
		cust = jv_string_sized(cm->val, (int)cm->vlen);
	} else {
		jv v = jrn_rule_rec_value(x->top, x->e);
		if (!jv_is_valid(v))
			return JRN_RULE_REJECT;
		cust = jv_object_get(jv_copy(v), jv_copy(r->key_customer));
	}
	double count = 0;
	int rc = 0;
	if (jv_get_kind(cust) == JV_KIND_STRING && r->preloaded) {
		bool oom = false;
		ssize_t ci = cust_index(r, jv_string_value(cust),
				       (size_t)jv_string_length_bytes(jv_copy(cust)), false, &oom);
		if (ci >= 0)
			count = r->counts[(size_t)ci * (size_t)r->nleaves + (size_t)n->leaf_id];
		if (count == UNREADABLE) {
			jv_free(cust);
			jrn_fail(x->e, "a stored event of type %s is not JSON as jrn reads it", n->etype);
			return JRN_RULE_REJECT;
		}
	} else if (jv_get_kind(cust) == JV_KIND_STRING) {
		if (load_events(r, jv_string_value(cust), (size_t)jv_string_length_bytes(jv_copy(cust)),
				x->e) < 0) {
			jv_free(cust);
			return JRN_RULE_FAIL;
		}
		int64_t lo = n->within ? jrn_rules_minus(r->now, n->within) : INT64_MIN;
		for (size_t i = 0; i < r->nrows; i++) {
			evrow *row = &r->rows[i];
			if (row->ts < lo || row->ts > r->now || row->type_len != strlen(n->etype) ||
			    memcmp(r->text.p + row->type_off, n->etype, row->type_len) != 0)
				continue;
			if (n->nkid) {
				rc = where_match(x, n, r->text.p + row->body_off, row->body_len, depth);
				if (rc < 0) {
					jv_free(cust);
					return rc == UNREADABLE_BODY ? JRN_RULE_REJECT : rc;
				}
				if (rc == 0)
					continue;
			}
			count++;
		}
	}
	jv_free(cust);
	bool in;
	switch (n->count_op) {
	case OP_EQUALS: in = count == n->count_lo; break;
	case OP_GREATER_THAN: in = count > n->count_lo; break;
	case OP_LESS_THAN: in = count < n->count_lo; break;
	case OP_LTE: in = count <= n->count_lo; break;
	case OP_BETWEEN: in = count >= n->count_lo && count <= n->count_hi; break;
	default: in = count >= n->count_lo; break;
	}
	if (n->negated)
		in = count == 0;
	if (x->why) {
		jrn_rules_indent(x->why, depth);
		jrn_buf_addf(x->why, "%s  rule %d: ", in ? "yes" : "no ", n->rule_no);
		jrn_rules_describe_event(x->why, n);
		jrn_buf_addf(x->why, "%s (found %g)\n", n->nkid ? " where ..." : "", count);
	}
	return in;
}
