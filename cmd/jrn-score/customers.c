/* customers.c: the per-customer aggregates of jrn-score rfm, keyed by
 * customerId over jrn_idmap (lib/tool.c: FNV-1a with a final mix, open
 * addressing), and the order of customers by id. */
#include <stdlib.h>
#include <string.h>

#include "jrn-score.h"

int score_custs_init(score_custs *t)
{
	memset(t, 0, sizeof *t);
	t->ids = jrn_idmap_new();
	return t->ids ? 0 : -1;
}

int score_custs_grow(score_custs *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	score_cust *c = cap < SIZE_MAX / sizeof *c ? realloc(t->c, cap * sizeof *c) : NULL;
	if (!c)
		return -1;
	t->c = c;
	t->cap = cap;
	return 0;
}

void score_custs_free(score_custs *t)
{
	jrn_idmap_free(t->ids);
	free(t->c);
	memset(t, 0, sizeof *t);
}

/* An id's bytes. */
typedef struct {
	const char *p;
	size_t len;
} id_span;

/* Byte order of the ids of two indexes, then the shorter first (SQLite's
 * BINARY). */
static int cmp_id(const void *a, const void *b, void *arg)
{
	const id_span *x = (const id_span *)arg + *(const size_t *)a;
	const id_span *y = (const id_span *)arg + *(const size_t *)b;
	int d = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return d ? d : (x->len > y->len) - (x->len < y->len);
}

int score_sort_by_id(const jrn_idmap *ids, size_t *ix, size_t n)
{
	/* the ids' spans by index, so that comparing two needs no call into
	 * the map (a sort compares some n log2 n times) */
	size_t count = jrn_idmap_count(ids);
	id_span *span = malloc((count ? count : 1) * sizeof *span);
	if (!span)
		return -1;
	for (size_t i = 0; i < count; i++)
		span[i].p = jrn_idmap_key(ids, i, &span[i].len);
	qsort_r(ix, n, sizeof *ix, cmp_id, span);
	free(span);
	return 0;
}

int score_read_orders(score_run *run, score_custs *t, int64_t now, int64_t window,
		      uint64_t *n_orders, uint64_t *n_refunds)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(run->db, "SELECT customer_id, ts, amount, type, id FROM events"
			       " WHERE type IN ('order.completed', 'order.refunded')", -1, &st,
			       NULL) != SQLITE_OK)
		return score_db_fail(run, "reading orders");
	int64_t from = now - window;
	uint64_t orders = 0, refunds = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t ts = sqlite3_column_int64(st, 1);
		if (ts > now)
			continue;
		const char *type = (const char *)sqlite3_column_text(st, 3);
		bool refund = type && type[6] == 'r'; /* "order.refunded" */
		if (refund && ts <= from)
			continue;
		double amount;
		if (!score_amount(st, 2, &amount)) {
			run->bad_amounts++;
			continue;
		}
		if (score_amount_too_big(run, st, 4, 0, amount))
			continue;
		const char *id = (const char *)sqlite3_column_text(st, 0);
		score_cust *c = id ? score_custs_get(t, id, (size_t)sqlite3_column_bytes(st, 0)) : NULL;
		if (!c) {
			jrn_say(JRN_EXIT_FAIL, "%s", id ? "out of memory" : "an event without a customer");
			goto fail;
		}
		if (refund) {
			amount = -fabs(amount);
			refunds++;
		} else {
			orders++;
			if (ts > c->last)
				c->last = ts;
			if (ts <= from)
				continue;
			c->freq++;
		}
		/* Neumaier's compensated sum */
		double s = c->sum + amount;
		c->comp += fabs(c->sum) >= fabs(amount) ? (c->sum - s) + amount : (amount - s) + c->sum;
		c->sum = s;
	}
	if (rc != SQLITE_DONE) {
		score_db_fail(run, "reading orders");
		goto fail;
	}
	sqlite3_finalize(st);
	*n_orders = orders;
	*n_refunds = refunds;
	return 0;
fail:
	sqlite3_finalize(st);
	return -1;
}
