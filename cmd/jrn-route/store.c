/* store.c: the gate's memory (schema 7's route_decisions and
 * route_budgets, jrn-state(5)), the profiles' time zones, and the ledger's
 * recent deliveries (lib/ledger.h). Statements prepared once, reused;
 * the caller holds the transaction. */
#include <stdlib.h>
#include <string.h>

#include "jrn-route.h"

#define STORE_SPENT_MEMO 64

struct store {
	sqlite3 *db;
	sqlite3_stmt *zone, *key, *recent, *spent, *insert, *spend;
	jrn_ledger_recent *ledger;
	jrn_buf body; /* a deferral's record, its derived key spliced in */
	/* what each campaign has spent, as read and then added to in this
	 * transaction (only this connection writes while it lasts): valid
	 * while gen is the transaction's (the commit and rollback hooks end
	 * it); direct-mapped, campaign names of at most 47 bytes */
	unsigned gen;
	struct spent_memo {
		unsigned gen;
		char campaign[48];
		double spent;
	} memo[STORE_SPENT_MEMO];
};

/* A transaction ended: every memo of it is stale. */
static int tx_commit(void *ctx)
{
	store *S = ctx;
	if (!++S->gen)
		S->gen = 1;
	return 0; /* the commit goes on */
}

static void tx_rollback(void *ctx)
{
	tx_commit(ctx);
}

/* campaign's memo entry (NULL: not remembered), *hit when it holds this
 * transaction's figure. */
static struct spent_memo *spent_find(store *S, const char *campaign, bool *hit)
{
	size_t n = strlen(campaign);
	*hit = false;
	if (n >= sizeof S->memo[0].campaign)
		return NULL;
	struct spent_memo *m = &S->memo[jrn_hash64(campaign, n) % STORE_SPENT_MEMO];
	*hit = m->gen == S->gen && !strcmp(m->campaign, campaign);
	return m;
}

store *store_open(sqlite3 *db, jrn_err *e)
{
	store *S = calloc(1, sizeof *S);
	if (!S) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	S->db = db;
	S->gen = 1;
	sqlite3_commit_hook(db, tx_commit, S);
	sqlite3_rollback_hook(db, tx_rollback, S);
	if (jrn_db_prepare(db, "SELECT time_zone FROM profiles WHERE customer_id = ?", &S->zone, e) < 0 ||
	    jrn_db_prepare(db, "SELECT 1 FROM route_decisions WHERE key = ? AND decision = 'send'",
			   &S->key, e) < 0 ||
	    /* route's sends that jrn-send has not put in the ledger (a key
	     * there is counted from the ledger, by its status) */
	    jrn_db_prepare(db,
		    "SELECT channel, coalesce(send_at, decided_at), offer, trigger_key, decided_at,"
		    " EXISTS (SELECT 1 FROM deliveries d WHERE d.key = r.key)"
		    " FROM route_decisions r WHERE customer_id = ?1"
		    " AND (decided_at >= ?2 OR send_at >= ?2)"
		    " AND decision = 'send' LIMIT ?3", &S->recent, e) < 0 ||
	    jrn_db_prepare(db, "SELECT spent FROM route_budgets WHERE campaign_id = ?", &S->spent, e) < 0 ||
	    jrn_db_prepare(db,
		    "INSERT INTO route_decisions (key, customer_id, channel, campaign_id, offer,"
		    " trigger_key, journey, version, step, decision, reason, decided_at, send_at, cost,"
		    " enrollment, body)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
		    " ON CONFLICT DO NOTHING", /* a send's key taken: store_claim's duplicate */
		    &S->insert, e) < 0 ||
	    jrn_db_prepare(db,
		    "INSERT INTO route_budgets (campaign_id, spent, updated_at) VALUES (?1, ?2, ?3)"
		    " ON CONFLICT (campaign_id) DO UPDATE SET spent = spent + excluded.spent,"
		    " updated_at = excluded.updated_at", &S->spend, e) < 0 ||
	    !(S->ledger = jrn_ledger_recent_open(db, e))) {
		store_close(S);
		return NULL;
	}
	return S;
}

void store_close(store *S)
{
	if (!S)
		return;
	sqlite3_stmt *all[] = {S->zone, S->key, S->recent, S->spent, S->insert, S->spend};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(all[i]);
	jrn_ledger_recent_close(S->ledger);
	sqlite3_commit_hook(S->db, NULL, NULL);
	sqlite3_rollback_hook(S->db, NULL, NULL);
	jrn_buf_free(&S->body);
	free(S);
}

static int done(store *S, sqlite3_stmt *st, int rc, jrn_err *e)
{
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		jrn_fail(e, "%s", sqlite3_errmsg(S->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_profile_zone(store *S, const char *customer, char *out, jrn_err *e)
{
	sqlite3_bind_text(S->zone, 1, customer, -1, SQLITE_STATIC);
	int rc = sqlite3_step(S->zone), found = 0;
	if (rc == SQLITE_ROW && sqlite3_column_type(S->zone, 0) == SQLITE_TEXT) {
		const char *z = (const char *)sqlite3_column_text(S->zone, 0);
		size_t n = (size_t)sqlite3_column_bytes(S->zone, 0);
		if (n > ROUTE_ZONE_MAX)
			n = ROUTE_ZONE_MAX + 1; /* too long: zone_check says so */
		memcpy(out, z, n);
		out[n] = '\0';
		found = 1;
	}
	return done(S, S->zone, rc, e) < 0 ? -1 : found;
}

int store_key_sent(store *S, const char *key, jrn_err *e)
{
	sqlite3_bind_text(S->key, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(S->key);
	return done(S, S->key, rc, e) < 0 ? -1 : rc == SQLITE_ROW;
}

typedef struct {
	store_sent_fn *fn;
	void *ctx;
} ledger_walk;

static int from_ledger(void *ctx, const char *channel, int64_t at)
{
	ledger_walk *w = ctx;
	w->fn(w->ctx, channel, at, NULL, NULL, at);
	return 0;
}

int store_recent(store *S, const char *customer, int64_t since, store_sent_fn *fn, void *ctx,
		 jrn_err *e)
{
	sqlite3_stmt *st = S->recent;
	sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int(st, 3, ROUTE_RECENT_MAX);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		bool in_ledger = sqlite3_column_int(st, 5);
		const char *ch = (const char *)sqlite3_column_text(st, 0);
		/* cooldown and trigger still see it; the caps count the
		 * ledger's row instead (channel NULL: not counted) */
		fn(ctx, in_ledger ? NULL : ch, sqlite3_column_int64(st, 1),
		   (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
		   sqlite3_column_int64(st, 4));
	}
	if (done(S, st, rc, e) < 0)
		return -1;
	ledger_walk w = {fn, ctx};
	return jrn_ledger_recent_walk(S->ledger, customer, since, from_ledger, &w, e) < 0 ? -1 : 0;
}

int store_spent(store *S, const char *campaign, double *spent, jrn_err *e)
{
	bool hit;
	struct spent_memo *m = spent_find(S, campaign, &hit);
	if (hit) {
		*spent = m->spent;
		return 0;
	}
	sqlite3_bind_text(S->spent, 1, campaign, -1, SQLITE_STATIC);
	int rc = sqlite3_step(S->spent);
	*spent = rc == SQLITE_ROW ? sqlite3_column_double(S->spent, 0) : 0;
	if (done(S, S->spent, rc, e) < 0)
		return -1;
	if (m && !sqlite3_get_autocommit(S->db)) { /* inside a transaction: remembered */
		m->gen = S->gen;
		snprintf(m->campaign, sizeof m->campaign, "%s", campaign);
		m->spent = *spent;
	}
	return 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* A deferral's body: the record as read, with the key the gate derived
 * spliced in before its closing brace (so that --tick offers it again
 * under the same key, whatever the date then); into S->body. 0, -1. */
static int deferred_body(store *S, const action *a, const decision *d, jrn_err *e)
{
	jrn_buf *b = &S->body;
	jrn_buf_reset(b);
	if (!d->key_derived) {
		jrn_buf_add(b, a->text, a->text_len);
		return b->p || !a->text_len ? 0 : jrn_fail(e, "out of memory");
	}
	size_t end = a->text_len; /* an action has members: customerId at least */
	while (end && a->text[end - 1] != '}')
		end--;
	if (!end)
		return jrn_fail(e, "a deferred record is not an object");
	jrn_buf_add(b, a->text, end - 1);
	jrn_buf_addf(b, ",\"idempotencyKey\":\"%s\"}", d->keyhex);
	return b->p ? 0 : jrn_fail(e, "out of memory");
}

/* The decision's row (route_decisions): 1 written, 0 not (a send whose
 * key is taken), -1 with e. */
static int insert(store *S, const action *a, const decision *d, const char *trigger_key,
		  int64_t now, jrn_err *e)
{
	sqlite3_stmt *st = S->insert;
	if (d->kind == D_DEFER && a->text) {
		if (deferred_body(S, a, d, e) < 0)
			return -1;
		sqlite3_bind_text(st, 16, S->body.p ? S->body.p : "", (int)S->body.len, SQLITE_STATIC);
	}
	bind_opt(st, 15, a->f[F_ENROLLMENT]);
	const char *offer = a->f[F_OFFER] ? a->f[F_OFFER] : a->f[F_CAMPAIGN];
	sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->f[F_CUSTOMER], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, chan_names[d->channel], -1, SQLITE_STATIC);
	bind_opt(st, 4, a->f[F_CAMPAIGN]);
	bind_opt(st, 5, offer);
	bind_opt(st, 6, trigger_key);
	bind_opt(st, 7, a->f[F_JOURNEY]);
	if (a->has_version)
		sqlite3_bind_int64(st, 8, a->version);
	bind_opt(st, 9, a->f[F_STEP]);
	sqlite3_bind_text(st, 10, decision_names[d->kind], -1, SQLITE_STATIC);
	bind_opt(st, 11, d->reason);
	sqlite3_bind_int64(st, 12, now);
	if (d->send_at != INT64_MIN)
		sqlite3_bind_int64(st, 13, d->send_at);
	if (d->has_cost)
		sqlite3_bind_double(st, 14, d->cost);
	if (done(S, st, sqlite3_step(st), e) < 0)
		return -1;
	return sqlite3_changes(S->db) > 0;
}

int store_claim(store *S, const action *a, const decision *d, const char *trigger_key,
		int64_t now, jrn_err *e)
{
	return insert(S, a, d, trigger_key, now, e);
}

int store_write(store *S, const action *a, const decision *d, const char *trigger_key,
		int64_t now, jrn_err *e)
{
	if (!d->stored && insert(S, a, d, trigger_key, now, e) < 0)
		return -1;
	if (d->kind != D_SEND || !d->has_cost || !a->f[F_CAMPAIGN])
		return 0;
	sqlite3_bind_text(S->spend, 1, a->f[F_CAMPAIGN], -1, SQLITE_STATIC);
	sqlite3_bind_double(S->spend, 2, d->cost);
	sqlite3_bind_int64(S->spend, 3, now);
	if (done(S, S->spend, sqlite3_step(S->spend), e) < 0)
		return -1;
	bool hit;
	struct spent_memo *m = spent_find(S, a->f[F_CAMPAIGN], &hit);
	if (hit) /* as the row now says: spent + cost, added in the same order */
		m->spent += d->cost;
	return 0;
}
