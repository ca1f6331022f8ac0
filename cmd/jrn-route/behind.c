/* behind.c: the gate's writes behind (store_behind, jrn-route(1) STATE):
 * the decisions' rows, their claims and the campaigns' spending queued by
 * store.c as decided, encoded in runs, and written in order by a thread
 * of their own on the store's connection while the next are decided;
 * store_sync waits for them. */
#include <stdlib.h>
#include <string.h>

#include "store.h"

op_param behind_text(const char *s, ssize_t n)
{
	return s ? (op_param){.tag = P_TEXT, .s = s, .n = n < 0 ? strlen(s) : (size_t)n}
		 : (op_param){.tag = P_NULL};
}

/* Appends an op to S's queue: its head (kind, and for a decision its
 * claim and hash) and its parameters, in one piece: room is made first,
 * so that a failure leaves nothing of it. 0, -1 out of memory (or a text
 * longer than SQLite binds). */
int behind_put(store *S, const char *head, size_t headn, const op_param *v, int n, jrn_err *e)
{
	size_t size = headn;
	for (int i = 0; i < n; i++) {
		if (v[i].tag == P_TEXT && v[i].n > INT32_MAX)
			return jrn_fail(e, "a value of over 2 GiB");
		size += 1 + (v[i].tag == P_TEXT ? 4 + v[i].n : v[i].tag == P_NULL ? 0 : 8);
	}
	jrn_buf *b = &S->w.fill;
	if (jrn_buf_reserve(b, size) < 0)
		return jrn_fail(e, "out of memory");
	char *q = b->p + b->len;
	memcpy(q, head, headn);
	q += headn;
	for (int i = 0; i < n; i++) {
		*q++ = v[i].tag;
		if (v[i].tag == P_INT) {
			memcpy(q, &v[i].i, 8);
			q += 8;
		} else if (v[i].tag == P_REAL) {
			memcpy(q, &v[i].x, 8);
			q += 8;
		} else if (v[i].tag == P_TEXT) {
			uint32_t len = (uint32_t)v[i].n;
			memcpy(q, &len, 4);
			memcpy(q + 4, v[i].s, v[i].n);
			q += 4 + v[i].n;
		}
	}
	b->len += size;
	b->p[b->len] = '\0';
	return 0;
}

/* Binds st's parameters 1..n from the op at *p, moving *p past them
 * (SQLITE_STATIC: the op lives until the run is done). */
static void op_bind(sqlite3_stmt *st, int n, const char **p)
{
	const char *q = *p;
	for (int i = 1; i <= n; i++) {
		int64_t v;
		double x;
		uint32_t len;
		switch (*q++) {
		case P_INT: memcpy(&v, q, sizeof v); q += sizeof v; sqlite3_bind_int64(st, i, v); break;
		case P_REAL: memcpy(&x, q, sizeof x); q += sizeof x; sqlite3_bind_double(st, i, x); break;
		case P_TEXT:
			memcpy(&len, q, sizeof len);
			q += sizeof len;
			sqlite3_bind_text(st, i, q, (int)len, SQLITE_STATIC);
			q += len;
			break;
		default: sqlite3_bind_null(st, i); break;
		}
	}
	*p = q;
}

/* A run's spending is summed per campaign and written once a campaign at
 * its end: a read and a write where each send's cost was an upsert (a
 * tenth of the gate bench's time). At most SPEND_SUMS campaigns a run are
 * summed; the spending of any other is upserted as it comes, as before
 * (a campaign is one or the other for the whole run, so each row's value
 * is still the upserts' one by one). */
#define SPEND_SUMS 64

/* Writes the run's sums (the writer's thread, under the connection's
 * lock): each campaign's spent as the upserts one by one would have left
 * it (spend_add adds in their order, from the row's value). 0, -1 with e
 * (the sums are dropped either way). */
static int spend_flush(store *S, jrn_err *e)
{
	struct behind *w = &S->w;
	int rc = 0;
	for (size_t i = 0; i < w->nsums && rc == 0; i++) {
		const struct spend_sum *u = &w->sums[i];
		sqlite3_bind_text(w->sum_set, 1, u->camp, (int)u->n, SQLITE_STATIC);
		sqlite3_bind_double(w->sum_set, 2, u->spent);
		sqlite3_bind_int64(w->sum_set, 3, u->at);
		rc = store_done(S, w->sum_set, sqlite3_step(w->sum_set), e);
	}
	w->nsums = 0;
	return rc;
}

/* A spending op's campaign (n bytes), cost and time added to the run's
 * sums: its campaign's row read the first time the run sees it, then
 * cost added as route_budgets' upsert adds it (spent + cost: SQLite adds
 * the two as doubles, as C does), or taken as the spent of a new row.
 * Past SPEND_SUMS campaigns, the upsert itself. 0, -1 with e. */
static int spend_add(store *S, const char *camp, uint32_t n, double cost, int64_t at, jrn_err *e)
{
	struct behind *w = &S->w;
	struct spend_sum *u = NULL;
	for (size_t i = 0; i < w->nsums && !u; i++)
		if (w->sums[i].n == n && !memcmp(w->sums[i].camp, camp, n))
			u = &w->sums[i];
	if (!u && w->nsums == SPEND_SUMS) { /* the upsert, as written in line */
		sqlite3_bind_text(S->spend, 1, camp, (int)n, SQLITE_STATIC);
		sqlite3_bind_double(S->spend, 2, cost);
		sqlite3_bind_int64(S->spend, 3, at);
		return store_done(S, S->spend, sqlite3_step(S->spend), e);
	}
	if (!u) {
		u = &w->sums[w->nsums];
		*u = (struct spend_sum){.camp = camp, .n = n};
		sqlite3_bind_text(w->sum_get, 1, camp, (int)n, SQLITE_STATIC);
		int rc = sqlite3_step(w->sum_get);
		if (rc == SQLITE_ROW)
			u->row = true, u->spent = sqlite3_column_double(w->sum_get, 0);
		if (store_done(S, w->sum_get, rc, e) < 0)
			return -1;
		w->nsums++;
	}
	u->spent = u->row ? u->spent + cost : cost;
	u->row = true;
	u->at = at;
	return 0;
}

/* The writer thread: runs each op of a run, in order (the spending
 * summed: spend_add). 0, -1 with e at the first that fails (the rest of
 * the run is not written). */
static int behind_op(store *S, const char **pp, jrn_err *e)
{
	const char *p = *pp;
	/* main's transaction may have ended under it (SQLite rolls one back
	 * on some errors of main's own): then nothing is written, each
	 * statement would commit on its own */
	if (sqlite3_get_autocommit(S->db))
		return jrn_fail(e, "the transaction ended before its decisions were written");
	char kind = *p++;
	if (kind == OP_SPEND) { /* as store_write queues it: text, real, int */
		uint32_t n;
		double cost;
		int64_t at;
		if (p[0] != P_TEXT)
			return jrn_fail(e, "a queued spending has no campaign");
		memcpy(&n, p + 1, sizeof n);
		const char *camp = p + 1 + sizeof n;
		p = camp + n;
		if (p[0] != P_REAL || p[1 + sizeof cost] != P_INT)
			return jrn_fail(e, "a queued spending has no cost or time");
		memcpy(&cost, p + 1, sizeof cost);
		p += 1 + sizeof cost;
		memcpy(&at, p + 1, sizeof at);
		*pp = p + 1 + sizeof at;
		return spend_add(S, camp, n, cost, at, e);
	}
	bool claim = *p++;
	int64_t h;
	memcpy(&h, p, sizeof h);
	p += sizeof h;
	op_bind(S->insert, DECISION_PARAMS, &p);
	*pp = p;
	if (store_done(S, S->insert, sqlite3_step(S->insert), e) < 0)
		return -1;
	if (!claim)
		return 0;
	sqlite3_bind_int64(S->claim, 1, sqlite3_last_insert_rowid(S->db));
	sqlite3_bind_int64(S->claim, 2, h);
	return store_done(S, S->claim, sqlite3_step(S->claim), e);
}

/* Each op of a run, in order, on the writer's thread: each under the
 * connection's lock (its statements, last_insert_rowid and message are
 * its own). 0, -1 with e at the first that fails (the rest of the run is
 * not written). */
static int behind_run(store *S, const jrn_buf *work, jrn_err *e)
{
	sqlite3_mutex *m = sqlite3_db_mutex(S->db);
	const char *p = work->p, *end = work->p + work->len;
	while (p < end) {
		sqlite3_mutex_enter(m);
		int rc = behind_op(S, &p, e);
		sqlite3_mutex_leave(m);
		if (rc < 0) {
			S->w.nsums = 0;
			return -1;
		}
	}
	if (!S->w.nsums)
		return 0;
	sqlite3_mutex_enter(m);
	int rc = sqlite3_get_autocommit(S->db)
		 ? jrn_fail(e, "the transaction ended before its decisions were written")
		 : spend_flush(S, e);
	S->w.nsums = 0;
	sqlite3_mutex_leave(m);
	return rc;
}

static void *behind_main(void *arg)
{
	store *S = arg;
	struct behind *w = &S->w;
	pthread_setname_np(pthread_self(), "jrn-route-db");
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->has_work && !w->quit)
			pthread_cond_wait(&w->cond, &w->mu);
		if (!w->has_work)
			break;
		bool skip = w->failed; /* a failed run's followers are not written either */
		pthread_mutex_unlock(&w->mu);
		jrn_err e;
		int rc = skip ? 0 : behind_run(S, &w->work, &e);
		pthread_mutex_lock(&w->mu);
		if (rc < 0 && !w->failed)
			w->failed = true, w->err = e;
		jrn_buf_reset(&w->work);
		w->has_work = false;
		__atomic_store_n(&w->written, w->written + 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Hands the queued writes to the writer, once it is done with its run. */
static void behind_hand(store *S)
{
	struct behind *w = &S->w;
	pthread_mutex_lock(&w->mu);
	while (w->has_work)
		pthread_cond_wait(&w->cond, &w->mu);
	jrn_buf t = w->work;
	w->work = w->fill, w->fill = t;
	w->has_work = true;
	w->run++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/* An op was queued: handed on when a run's worth is. */
void behind_queued(store *S)
{
	if (S->w.fill.len >= BEHIND_RUN)
		behind_hand(S);
}

/* May a write of the name hashed h (a slot of pend) still be queued? */
bool behind_pending(const store *S, const uint32_t *pend, uint64_t h)
{
	return S->w.on && pend[h % PEND_SLOTS] > __atomic_load_n(&S->w.written, __ATOMIC_ACQUIRE);
}

/* What store_behind made for the writer, freed (its thread not running). */
static void behind_free(struct behind *w)
{
	free(w->pend);
	free(w->kpend);
	free(w->sums);
	w->pend = w->kpend = NULL;
	w->sums = NULL;
	sqlite3_finalize(w->sum_get);
	sqlite3_finalize(w->sum_set);
	w->sum_get = w->sum_set = NULL;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
}

int store_behind(store *S, jrn_err *e)
{
	struct behind *w = &S->w;
	if (w->on)
		return 0;
	/* a connection that is not serialized has no lock (jrn_db_open's):
	 * written in line */
	if (!sqlite3_db_mutex(S->db) || pthread_mutex_init(&w->mu, NULL) != 0)
		return 0;
	if (pthread_cond_init(&w->cond, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		return 0;
	}
	w->run = 1, w->written = 0;
	w->pend = calloc(PEND_SLOTS, sizeof *w->pend);
	w->kpend = calloc(PEND_SLOTS, sizeof *w->kpend);
	w->sums = malloc(SPEND_SUMS * sizeof *w->sums);
	jrn_err pe;
	const char *why = !w->pend || !w->kpend || !w->sums ? "out of memory"
			  : jrn_db_prepare(S->db, "SELECT spent FROM route_budgets WHERE campaign_id = ?",
					   &w->sum_get, &pe) < 0 ||
			    jrn_db_prepare(S->db, "INSERT INTO route_budgets (campaign_id, spent, updated_at)"
					   " VALUES (?1, ?2, ?3) ON CONFLICT (campaign_id) DO UPDATE SET"
					   " spent = excluded.spent, updated_at = excluded.updated_at",
					   &w->sum_set, &pe) < 0 ? pe.msg
			  : jrn_thread_start(&w->th, behind_main, S) != 0 ? "cannot start a thread"
			  : NULL;
	if (why) {
		behind_free(w);
		return jrn_fail(e, "%s", why);
	}
	w->on = true;
	return 0;
}

int store_sync(store *S, jrn_err *e)
{
	struct behind *w = &S->w;
	if (!w->on)
		return 0;
	if (w->fill.len)
		behind_hand(S);
	pthread_mutex_lock(&w->mu);
	while (w->has_work)
		pthread_cond_wait(&w->cond, &w->mu);
	bool failed = w->failed;
	if (failed)
		*e = w->err, w->failed = false;
	pthread_mutex_unlock(&w->mu);
	if (__atomic_exchange_n(&w->rolled_back, false, __ATOMIC_ACQ_REL)) {
		store_tx_commit(S); /* as the rollback hook would have on this thread */
		if (!++S->epoch)
			S->epoch = 1;
	}
	return failed ? -1 : 0;
}

int store_poll(store *S, jrn_err *e)
{
	struct behind *w = &S->w;
	if (!w->on)
		return 0;
	pthread_mutex_lock(&w->mu);
	bool failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? store_sync(S, e) : 0;
}

void store_drop(store *S)
{
	struct behind *w = &S->w;
	if (!w->on)
		return;
	pthread_mutex_lock(&w->mu);
	while (w->has_work)
		pthread_cond_wait(&w->cond, &w->mu);
	w->failed = false;
	pthread_mutex_unlock(&w->mu);
	jrn_buf_reset(&w->fill);
	__atomic_store_n(&w->rolled_back, false, __ATOMIC_RELEASE);
}

/* Stops the writer: what is queued and not handed on is dropped (the
 * caller's transaction is rolled back, or was committed after a sync). */
void behind_stop(store *S)
{
	struct behind *w = &S->w;
	if (!w->on)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	behind_free(w);
	jrn_buf_free(&w->fill);
	jrn_buf_free(&w->work);
	w->on = false;
}

