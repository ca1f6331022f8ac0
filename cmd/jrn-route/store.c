/* store.c: the gate's memory (schema 7's route_decisions and
 * route_budgets, schema 12's route_send_keys, jrn-state(5)), the
 * profiles' time zones, and the ledger's recent deliveries
 * (lib/ledger.h). Statements prepared once, reused; the caller holds the
 * transaction (BEGIN IMMEDIATE: no other connection writes while it
 * lasts, which the send keys' check-then-claim and the ledger's
 * once-a-transaction emptiness rely on). Its writes go through behind.c
 * when they are written behind (store_behind); store.h is what the two
 * share. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "store.h"

/* A rejection in jrn-send's ledger (d) and a resend (r) decided in the
 * same millisecond (a fixed clock: JRN_NOW, jrn run --now, a pipeline
 * route | send): which came first? The rejected record says: one that
 * was itself a resend answered the resend (route | send ran it), so the
 * key may go again; one that was not (the first send's rejection) came
 * before it, and the resend is still pending. */
#define REJ_OF_RESEND "json_extract(d.record, '$.route.reason') IS 'resend'"

/* Is this the thread that writes S's decisions behind (store_behind)? */
static bool on_writer(const store *S)
{
	return S->w.on && pthread_equal(pthread_self(), S->w.th);
}

/* A transaction ended: every memo of it is stale. */
int store_tx_commit(void *ctx)
{
	store *S = ctx;
	if (!++S->gen)
		S->gen = 1;
	return 0; /* the commit goes on */
}

static void tx_rollback(void *ctx)
{
	store *S = ctx;
	if (on_writer(S)) { /* a failed write: the memos are main's (store_sync) */
		__atomic_store_n(&S->w.rolled_back, true, __ATOMIC_RELEASE);
		return;
	}
	store_tx_commit(ctx);
	if (!++S->epoch) /* the memos hold sends that were never written */
		S->epoch = 1;
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

unsigned store_tx(const store *S)
{
	return S->gen;
}

sqlite3 *store_db(const store *S)
{
	return S->db;
}

store *store_open(sqlite3 *db, sqlite3 *profiles, jrn_err *e)
{
	store *S = calloc(1, sizeof *S);
	if (!S) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	S->db = db;
	S->pdb = profiles;
	S->gen = 1;
	S->epoch = 1;
	sqlite3_commit_hook(db, store_tx_commit, S);
	sqlite3_rollback_hook(db, tx_rollback, S);
	if (jrn_db_prepare(profiles, "SELECT time_zone FROM profiles WHERE customer_id = ?", &S->zone,
			   e) < 0 ||
	    jrn_db_prepare(profiles, "SELECT customer_id FROM identities WHERE kind = 'id' AND value = ?1",
			   &S->link, e) < 0 ||
	    jrn_db_prepare(profiles, "SELECT value FROM identities WHERE kind = 'id'", &S->links_all,
			   e) < 0 ||
	    /* a claimed key: its hash's rows whose decision has the key, or a
	     * send of before schema 12 */
	    jrn_db_prepare(db,
		    "SELECT 1 FROM route_send_keys k JOIN route_decisions r ON r.seq = k.seq"
		    " WHERE k.hash = ?1 AND r.key = ?2 AND r.decision = 'send'"
		    " UNION ALL SELECT 1 FROM route_send_keys_11 WHERE key = ?2 LIMIT 1",
		    &S->key, e) < 0 ||
	    jrn_db_prepare(db, "INSERT INTO route_send_keys (seq, hash) VALUES (?1, ?2)", &S->claim,
			   e) < 0 ||
	    /* route's sends, each with where the ledger has it: NULL or 0
	     * not yet (a resend, decided after the ledger's rejection; at
	     * the same ms, when that rejection was not of a resend: REJ_OF),
	     * 1 there (counted from the ledger, by its status), 2 rejected
	     * there, nothing sent (counted by no rule) */
	    jrn_db_prepare(db,
		    "SELECT channel, coalesce(send_at, decided_at), offer, trigger_key, decided_at,"
		    " (SELECT CASE WHEN d.status != 'rejected' THEN 1"
		    " WHEN d.updated_at > r.decided_at OR (d.updated_at = r.decided_at"
		    " AND (r.reason IS NOT 'resend' OR " REJ_OF_RESEND ")) THEN 2 ELSE 0 END"
		    " FROM deliveries d WHERE d.key = r.key)"
		    " FROM route_decisions r WHERE customer_id = ?1"
		    " AND (decided_at >= ?2 OR send_at >= ?2)"
		    " AND decision = 'send' LIMIT ?3", &S->recent, e) < 0 ||
	    jrn_db_prepare(db, "SELECT spent FROM route_budgets WHERE campaign_id = ?", &S->spent, e) < 0 ||
	    jrn_db_prepare(db, "PRAGMA data_version", &S->version, e) < 0 ||
	    jrn_db_prepare(db, "SELECT hash FROM route_send_keys", &S->keys_all, e) < 0 ||
	    jrn_db_prepare(db, "SELECT key FROM route_send_keys_11", &S->keys_old, e) < 0 ||
	    /* in the order of the sends' customer index (schema 15; SQLite
	     * 3.40 reads each send's row too, the index's WHERE column not
	     * counting as covered: once a run at most, custs_load) */
	    jrn_db_prepare(db, "SELECT DISTINCT customer_id FROM route_decisions"
			   " WHERE decision = 'send'", &S->custs_all, e) < 0 ||
	    jrn_db_prepare(db, "SELECT max(seq) FROM route_decisions", &S->max_seq, e) < 0 ||
	    jrn_db_prepare(db, "SELECT 1 FROM deliveries WHERE key = ?", &S->delivered, e) < 0 ||
	    /* a key jrn-send took and did not send (a claim may take it
	     * again: lib/ledger.c) */
	    /* a key rejected by jrn-send, unless resent since (pending; at
	     * the same ms, when that rejection was not of a resend) */
	    jrn_db_prepare(db,
		    "SELECT d.channel FROM deliveries d WHERE d.key = ?1 AND d.status = 'rejected'"
		    " AND NOT EXISTS (SELECT 1 FROM route_send_keys k JOIN route_decisions r"
		    " ON r.seq = k.seq WHERE k.hash = ?2 AND r.key = ?1 AND r.decision = 'send'"
		    " AND r.reason = 'resend' AND (r.decided_at > d.updated_at"
		    " OR (r.decided_at = d.updated_at AND NOT " REJ_OF_RESEND ")))", &S->unsent, e) < 0 ||
	    jrn_db_prepare(db, "SELECT EXISTS (SELECT 1 FROM deliveries)", &S->any_delivered, e) < 0 ||
	    jrn_db_prepare(db,
		    /* ?17, the seq: NULL (the next rowid) but in the private
		     * state, which numbers its decisions itself (store_private) */
		    "INSERT INTO route_decisions (key, customer_id, channel, campaign_id, offer,"
		    " trigger_key, journey, version, step, decision, reason, decided_at, send_at, cost,"
		    " enrollment, body, seq)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
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

/* A table of cap slots of 8 bytes, zeroed: from malloc while small,
 * else mapped (jrn_huge_alloc: the kernel's zeroed pages, 2 MiB at a
 * fault). Not calloc, nor malloc and memset: perf showed a large block
 * of either taking copy-on-write faults (do_wp_page) at its first
 * writes, each flushing the TLBs of the CPUs the writer and the
 * checkpointer run on (3% of a 1M-action run). NULL when out of
 * memory. */
#define TABLE_MAPPED ((size_t)1 << 21)
static void *table_alloc(size_t cap)
{
	if (cap > SIZE_MAX / 8)
		return NULL;
	if (cap * 8 >= TABLE_MAPPED)
		return jrn_huge_alloc(cap * 8);
	void *p = malloc(cap * 8);
	if (p)
		memset(p, 0, cap * 8);
	return p;
}

/* Frees what table_alloc(cap) gave (NULL: nothing). */
static void table_free(void *p, size_t cap)
{
	if (cap * 8 >= TABLE_MAPPED)
		jrn_huge_free(p, cap * 8);
	else
		free(p);
}

void store_close(store *S)
{
	if (!S)
		return;
	behind_stop(S);
	sqlite3_stmt *all[] = {S->zone, S->key, S->claim, S->recent, S->spent, S->insert, S->spend,
			       S->version, S->delivered, S->any_delivered, S->keys_all, S->keys_old,
			       S->by_seq, S->custs_all, S->max_seq, S->unsent, S->link, S->links_all};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(all[i]);
	jrn_ledger_recent_close(S->ledger);
	sqlite3_commit_hook(S->db, NULL, NULL);
	sqlite3_rollback_hook(S->db, NULL, NULL);
	jrn_buf_free(&S->body);
	jrn_buf_free(&S->standing);
	table_free(S->linked, S->linked_cap);
	table_free(S->keys, S->keys_cap);
	table_free(S->priv_hash, S->priv_cap);
	table_free(S->priv_seq, S->priv_cap);
	table_free(S->priv_cust, S->cust_cap);
	free(S->priv_bloom);
	table_free(S->custs, S->custs_cap);
	jrn_huge_free(S->recent_memo, RECENT_MEMO * sizeof *S->recent_memo);
	jrn_huge_free(S->recent_tag, RECENT_MEMO * sizeof *S->recent_tag);
	free(S->names);
	free(S->name_ix);
	free(S);
}

int store_done(store *S, sqlite3_stmt *st, int rc, jrn_err *e)
{
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		/* with a writer behind, the connection's message may be its
		 * step's, not this one's: taken under the connection's lock, and
		 * only when its code is this step's (the writer takes its own
		 * under the lock it holds across its step) */
		sqlite3_mutex *m = S->w.on && !on_writer(S) ? sqlite3_db_mutex(S->db) : NULL;
		sqlite3_mutex_enter(m);
		if (m && (sqlite3_errcode(S->db) & 0xff) != (rc & 0xff))
			jrn_fail(e, "%s", sqlite3_errstr(rc));
		else
			jrn_fail(e, "%s", sqlite3_errmsg(S->db));
		sqlite3_mutex_leave(m);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* One step of st, a statement on the profiles' connection: SQLITE_ROW,
 * SQLITE_DONE (st reset), or -1 with e (st reset). On a connection of
 * this thread alone (not the decisions'), its message is this step's. */
static int pdb_step(store *S, sqlite3_stmt *st, jrn_err *e)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return rc;
	if (S->pdb != S->db && rc != SQLITE_DONE) {
		jrn_fail(e, "%s", sqlite3_errmsg(S->pdb));
		sqlite3_reset(st);
		return -1;
	}
	return store_done(S, st, rc, e) < 0 ? -1 : SQLITE_DONE;
}

int store_profile_zone(store *S, const char *customer, char *out, jrn_err *e)
{
	sqlite3_bind_text(S->zone, 1, customer, -1, SQLITE_STATIC);
	int rc = pdb_step(S, S->zone, e), found = 0;
	if (rc != SQLITE_ROW)
		return rc < 0 ? -1 : 0;
	if (sqlite3_column_type(S->zone, 0) == SQLITE_TEXT) {
		const char *z = (const char *)sqlite3_column_text(S->zone, 0);
		size_t n = (size_t)sqlite3_column_bytes(S->zone, 0);
		if (n > ROUTE_ZONE_MAX)
			n = ROUTE_ZONE_MAX + 1; /* too long: zone_check says so */
		memcpy(out, z, n);
		out[n] = '\0';
		found = 1;
	}
	return store_done(S, S->zone, SQLITE_DONE, e) < 0 ? -1 : found;
}

static int memo_check(store *S, jrn_err *e);
static int hash_grow(uint64_t **hash, int64_t **val, size_t *cap, size_t n);
static void set_put(uint64_t *t, size_t cap, uint64_t h, size_t *n);
static bool set_has(const uint64_t *t, size_t cap, uint64_t h);

/* id's hash in the set of linked ids (0 is kept apart as 1). */
static uint64_t link_hash(const char *id)
{
	uint64_t h = jrn_hash64(id, strlen(id));
	return h ? h : 1;
}

/* Whether id may have an id link: by the set of linked ids, loaded
 * once this epoch (the gate's transaction: no other connection writes
 * meanwhile, and jrn-route writes no identities; outside one, or out of
 * memory, every id may). 1 maybe, 0 no, -1 with e. */
static int may_link(store *S, const char *id, jrn_err *e)
{
	if (sqlite3_get_autocommit(S->db))
		return 1;
	if (memo_check(S, e) < 0)
		return -1;
	if (S->linked_epoch != S->epoch) {
		S->linked_n = 0, S->linked_epoch = S->epoch;
		if (S->linked)
			memset(S->linked, 0, S->linked_cap * sizeof *S->linked);
		int rc;
		while ((rc = pdb_step(S, S->links_all, e)) == SQLITE_ROW) {
			if (S->linked_epoch && hash_grow(&S->linked, NULL, &S->linked_cap, S->linked_n) < 0)
				S->linked_epoch = 0; /* (out of memory: every id may) */
			else if (S->linked_epoch)
				set_put(S->linked, S->linked_cap,
					link_hash((const char *)sqlite3_column_text(S->links_all, 0)),
					&S->linked_n);
		}
		if (rc < 0)
			return S->linked_epoch = 0, -1;
		if (!S->linked_epoch)
			return 1;
	}
	return S->linked_n && set_has(S->linked, S->linked_cap, link_hash(id));
}

const char *store_standing(store *S, const char *customer, jrn_err *e)
{
	const char *id = customer;
	for (int hop = 0; hop < JRN_PROFILE_MAX_CHAIN; hop++) {
		int may = may_link(S, id, e);
		if (may <= 0) {
			if (may < 0)
				return NULL;
			break;
		}
		sqlite3_bind_text(S->link, 1, id, -1, SQLITE_TRANSIENT);
		int rc = pdb_step(S, S->link, e);
		if (rc < 0)
			return NULL;
		if (rc == SQLITE_DONE)
			break;
		jrn_buf_reset(&S->standing);
		if (jrn_buf_adds(&S->standing, (const char *)sqlite3_column_text(S->link, 0)) < 0) {
			sqlite3_reset(S->link);
			jrn_fail(e, "out of memory");
			return NULL;
		}
		if (store_done(S, S->link, SQLITE_DONE, e) < 0)
			return NULL;
		id = S->standing.p;
	}
	return id;
}

/* A key's hash in route_send_keys (schema 12) is jrn_hash64 of its
 * bytes, as a signed integer. */

static int memo_check(store *S, jrn_err *e);

/* ---- the claimed keys' hashes ---- */

/* Sets and maps of 64-bit hashes: open addressing over cap slots (a
 * power of two), 0 for an empty slot (the callers keep a hash of 0
 * apart). */

/* Doubles the slots of a set or map of *cap (0 at first: 4,096) when
 * n + 1 would fill half of them: hashes in *hash, with their values in
 * *val for a map (NULL: a set). 0, -1 out of memory (it is unchanged). */
static int hash_grow(uint64_t **hash, int64_t **val, size_t *cap, size_t n)
{
	if (2 * (n + 1) <= *cap)
		return 0;
	size_t nc = *cap ? 2 * *cap : 4096;
	uint64_t *h = table_alloc(nc);
	int64_t *v = val ? table_alloc(nc) : NULL;
	if (!h || (val && !v)) {
		table_free(h, nc);
		table_free(v, nc);
		return -1;
	}
	for (size_t i = 0; i < *cap; i++) {
		if (!(*hash)[i])
			continue;
		size_t j = (*hash)[i] & (nc - 1);
		while (h[j])
			j = (j + 1) & (nc - 1);
		h[j] = (*hash)[i];
		if (val)
			v[j] = (*val)[i];
	}
	table_free(*hash, *cap);
	*hash = h;
	if (val) {
		table_free(*val, *cap);
		*val = v;
	}
	*cap = nc;
	return 0;
}

/* Puts h (not 0) into the set t of cap slots, once; *n counts those held. */
static void set_put(uint64_t *t, size_t cap, uint64_t h, size_t *n)
{
	size_t j = h & (cap - 1);
	while (t[j] && t[j] != h)
		j = (j + 1) & (cap - 1);
	if (!t[j])
		t[j] = h, ++*n;
}

/* Is h (not 0) in the set t of cap slots (0: none yet)? */
static bool set_has(const uint64_t *t, size_t cap, uint64_t h)
{
	for (size_t j = cap ? h & (cap - 1) : 0; cap && t[j]; j = (j + 1) & (cap - 1))
		if (t[j] == h)
			return true;
	return false;
}

/* Adds hash h to the set, growing it (a half-full table doubles). 0, -1
 * out of memory (the set is then dropped: keys_epoch 0). */
static int keys_add(store *S, uint64_t h)
{
	if (!h) {
		S->keys_zero = true;
		return 0;
	}
	if (hash_grow(&S->keys, NULL, &S->keys_cap, S->keys_n) < 0) {
		S->keys_epoch = 0;
		return -1;
	}
	set_put(S->keys, S->keys_cap, h, &S->keys_n);
	return 0;
}

static bool keys_has(const store *S, uint64_t h)
{
	return h ? set_has(S->keys, S->keys_cap, h) : S->keys_zero;
}

/* Reads every claimed key's hash into the set for this epoch. 0 loaded,
 * 1 not (out of memory: the queries answer), -1 with e. */
static int keys_load(store *S, jrn_err *e)
{
	if (store_sync(S, e) < 0)
		return -1;
	S->keys_n = 0, S->keys_zero = false, S->keys_epoch = S->epoch;
	if (S->keys)
		memset(S->keys, 0, S->keys_cap * sizeof *S->keys);
	int rc, oom = 0;
	while ((rc = sqlite3_step(S->keys_all)) == SQLITE_ROW)
		if (!oom && keys_add(S, (uint64_t)sqlite3_column_int64(S->keys_all, 0)) < 0)
			oom = 1;
	if (store_done(S, S->keys_all, rc, e) < 0)
		return S->keys_epoch = 0, -1;
	while ((rc = sqlite3_step(S->keys_old)) == SQLITE_ROW)
		if (!oom && keys_add(S, jrn_hash64(sqlite3_column_text(S->keys_old, 0),
						   (size_t)sqlite3_column_bytes(S->keys_old, 0))) < 0)
			oom = 1;
	if (store_done(S, S->keys_old, rc, e) < 0)
		return S->keys_epoch = 0, -1;
	S->keys_last = S->keys_n;
	if (oom)
		S->keys_epoch = 0;
	return oom;
}

/* May the set answer for h? Only inside a transaction (no other
 * connection writes while it lasts), once the epoch's queries have cost
 * about what reading the set does (a 64th as many queries as hashes last
 * read, at least 64: a file that other connections write between each
 * batch is not read in full at each). 1 yes, 0 ask the table, -1 with e. */
static int keys_ready(store *S, jrn_err *e)
{
	if (sqlite3_get_autocommit(S->db) || memo_check(S, e) < 0)
		return sqlite3_get_autocommit(S->db) ? 0 : -1;
	if (S->keys_epoch == S->epoch)
		return 1;
	if (S->keys_epoch_seen != S->epoch)
		S->keys_epoch_seen = S->epoch, S->keys_probes = 0;
	if (++S->keys_probes <= 64 || S->keys_probes <= S->keys_last / 64)
		return 0;
	int rc = keys_load(S, e);
	return rc < 0 ? -1 : rc == 0;
}

/* Adds customer hash h (0 kept as 1) to the customers with a send. 0, -1
 * out of memory (the set is then dropped: the table answers). */
static int custs_add(store *S, uint64_t h)
{
	if (hash_grow(&S->custs, NULL, &S->custs_cap, S->custs_n) < 0) {
		S->custs_epoch = 0;
		return -1;
	}
	set_put(S->custs, S->custs_cap, h ? h : 1, &S->custs_n);
	return 0;
}

/* Reads every customer with a send into the set for this epoch. 0, -1
 * with e (out of memory leaves the set unloaded: the queries answer). */
static int custs_load(store *S, jrn_err *e)
{
	if (store_sync(S, e) < 0) /* the sends queued are in the table */
		return -1;
	S->custs_n = 0, S->custs_epoch = S->epoch;
	if (S->custs)
		memset(S->custs, 0, S->custs_cap * sizeof *S->custs);
	int rc;
	bool oom = false;
	while ((rc = sqlite3_step(S->custs_all)) == SQLITE_ROW)
		if (!oom && custs_add(S, jrn_hash64(sqlite3_column_text(S->custs_all, 0),
						    (size_t)sqlite3_column_bytes(S->custs_all, 0))) < 0)
			oom = true;
	if (store_done(S, S->custs_all, rc, e) < 0)
		return S->custs_epoch = 0, -1;
	if (oom)
		S->custs_epoch = 0;
	return 0;
}

/* May customer (its hash h) have a send to read? In the private state,
 * when this connection wrote one; else when the set (loaded once this
 * epoch's queries pass 64 and a 64th of the decisions, so that a short
 * run against a large file reads no index in full) has it, or it is not
 * loaded. 1 maybe, 0 no, -1 with e. */
static int custs_maybe(store *S, uint64_t h, jrn_err *e)
{
	if (S->priv)
		return S->cust_full || set_has(S->priv_cust, S->cust_cap, h ? h : 1);
	if (sqlite3_get_autocommit(S->db)) /* outside a transaction: no epoch holds */
		return 1;
	if (S->custs_epoch != S->epoch) {
		if (S->custs_epoch_seen != S->epoch)
			S->custs_epoch_seen = S->epoch, S->custs_probes = 0;
		if (++S->custs_probes <= 64)
			return 1;
		if (S->custs_probes == 65) { /* an estimate, once: queued rows need not count */
			int rc = sqlite3_step(S->max_seq);
			S->custs_rows = rc == SQLITE_ROW ? sqlite3_column_int64(S->max_seq, 0) : 0;
			if (store_done(S, S->max_seq, rc, e) < 0)
				return -1;
		}
		if ((int64_t)S->custs_probes <= S->custs_rows / 64)
			return 1;
		if (custs_load(S, e) < 0)
			return -1;
		if (S->custs_epoch != S->epoch)
			return 1;
	}
	return set_has(S->custs, S->custs_cap, h ? h : 1);
}

int store_private_max(size_t *max, jrn_err *e)
{
	const char *v = getenv("JRN_SIMULATE_CLAIMS");
	*max = PRIV_MAX;
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > PRIV_MAX)
		return jrn_fail(e, "JRN_SIMULATE_CLAIMS: expected a number from 0 to %d, got '%s'",
				PRIV_MAX, v);
	*max = (size_t)n;
	return 0;
}

int store_private(store *S, size_t max_claims, jrn_err *e)
{
	S->priv = true;
	S->priv_max = max_claims;
	/* its seqs counted here, so that a send's is known when its row is
	 * queued behind (store_behind), not yet written */
	S->priv_next = 1;
	return jrn_db_prepare(S->db, "SELECT 1 FROM route_decisions WHERE seq = ?1 AND key = ?2"
			      " AND decision = 'send'", &S->by_seq, e);
}

/* Does the private state's next claim go to route_send_keys (the
 * claims in memory are priv_max)? */
static bool priv_spills(const store *S)
{
	return S->priv && S->priv_n >= S->priv_max;
}

/* Adds (h, seq) to the private claims (a second claim of a hash is a
 * second entry) or, past priv_max, h to the Bloom filter of the claims
 * in route_send_keys; and the customer's hash ch to the customers with a
 * send (once; past priv_max of them, none more: cust_full). 0, -1 out of
 * memory. */
static int priv_add(store *S, uint64_t h, int64_t seq, uint64_t ch)
{
	h = h ? h : 1, ch = ch ? ch : 1;
	if (priv_spills(S)) {
		if (!S->priv_bloom && !(S->priv_bloom = calloc(PRIV_BLOOM_BITS / 64, sizeof *S->priv_bloom)))
			return -1;
		route_bloom_add(S->priv_bloom, PRIV_BLOOM_BITS, PRIV_BLOOM_PROBES, h);
	} else {
		if (hash_grow(&S->priv_hash, &S->priv_seq, &S->priv_cap, S->priv_n) < 0)
			return -1;
		size_t j = h & (S->priv_cap - 1);
		while (S->priv_hash[j])
			j = (j + 1) & (S->priv_cap - 1);
		S->priv_hash[j] = h, S->priv_seq[j] = seq, S->priv_n++;
	}
	if (S->cust_full)
		return 0;
	if (S->cust_n >= S->priv_max && !set_has(S->priv_cust, S->cust_cap, ch)) {
		S->cust_full = true;
		return 0;
	}
	if (hash_grow(&S->priv_cust, NULL, &S->cust_cap, S->cust_n) < 0)
		return -1;
	set_put(S->priv_cust, S->cust_cap, ch, &S->cust_n);
	return 0;
}

/* Does route_send_keys hold a claim of key (its hash h), the writes
 * behind of h waited for? 1, 0, -1 with e. */
static int key_claimed(store *S, const char *key, uint64_t h, jrn_err *e)
{
	if (behind_pending(S, S->w.kpend, h) && store_sync(S, e) < 0)
		return -1;
	sqlite3_bind_int64(S->key, 1, (int64_t)h);
	sqlite3_bind_text(S->key, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(S->key);
	return store_done(S, S->key, rc, e) < 0 ? -1 : rc == SQLITE_ROW;
}

/* store_key_sent in the private state: each send claimed under the key's
 * hash h asked whether it is the key; past priv_max, the Bloom filter,
 * then route_send_keys. */
static int priv_key_sent(store *S, const char *key, uint64_t h, jrn_err *e)
{
	uint64_t k = h ? h : 1;
	for (size_t j = k & (S->priv_cap - 1); S->priv_cap && S->priv_hash[j]; j = (j + 1) & (S->priv_cap - 1)) {
		if (S->priv_hash[j] != k)
			continue;
		/* its row may be queued still */
		if (behind_pending(S, S->w.kpend, h) && store_sync(S, e) < 0)
			return -1;
		sqlite3_bind_int64(S->by_seq, 1, S->priv_seq[j]);
		sqlite3_bind_text(S->by_seq, 2, key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(S->by_seq);
		if (store_done(S, S->by_seq, rc, e) < 0)
			return -1;
		if (rc == SQLITE_ROW)
			return 1;
	}
	if (!S->priv_bloom || !route_bloom_has(S->priv_bloom, PRIV_BLOOM_BITS, PRIV_BLOOM_PROBES, k))
		return 0;
	return key_claimed(S, key, h, e); /* maybe among those past priv_max */
}

int store_key_sent(store *S, const char *key, jrn_err *e)
{
	uint64_t h = jrn_hash64(key, strlen(key));
	if (S->priv)
		return priv_key_sent(S, key, h, e);
	int ready = keys_ready(S, e);
	if (ready < 0)
		return -1;
	if (ready && !keys_has(S, h))
		return 0;
	return key_claimed(S, key, h, e);
}

/* Is the ledger empty for the rest of this transaction? 1 yes (asked
 * once a transaction), 0 no or outside a transaction, -1 with e. */
static int ledger_empty(store *S, jrn_err *e)
{
	if (sqlite3_get_autocommit(S->db))
		return 0;
	if (S->deliv_gen == S->gen)
		return S->deliv_none;
	int rc = sqlite3_step(S->any_delivered);
	bool none = rc == SQLITE_ROW && sqlite3_column_int(S->any_delivered, 0) == 0;
	if (store_done(S, S->any_delivered, rc, e) < 0)
		return -1;
	S->deliv_gen = S->gen, S->deliv_none = none;
	return none;
}

int store_resend(store *S, const char *key, int *channel, jrn_err *e)
{
	if (S->priv) /* --simulate: the ledger is not its own */
		return 0;
	/* the cheap questions first: a ledger empty in this transaction, a
	 * key never sent (the set of claimed keys, in memory once loaded) */
	int rc = ledger_empty(S, e);
	if (rc)
		return rc < 0 ? -1 : 0;
	if ((rc = store_key_sent(S, key, e)) <= 0) /* (the writes behind of key synced) */
		return rc;
	sqlite3_bind_text(S->unsent, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(S->unsent, 2, (int64_t)jrn_hash64(key, strlen(key)));
	rc = sqlite3_step(S->unsent);
	int c = -1;
	if (rc == SQLITE_ROW) {
		const char *ch = (const char *)sqlite3_column_text(S->unsent, 0);
		while (ch && ++c < NCHAN && strcmp(ch, chan_names[c]))
			;
	}
	if (store_done(S, S->unsent, rc, e) < 0)
		return -1;
	*channel = c;
	return c >= 0 && c < NCHAN; /* (a channel the gate does not know: no resend) */
}

/* ---- the recent sends' memo ---- */

/* name's index + 1 (0 for NULL), -1 when it cannot be remembered. */
static int32_t name_of(store *S, const char *name)
{
	if (!name)
		return 0;
	size_t n = strlen(name);
	if (n >= 64)
		return -1;
	if (!S->names) {
		S->names = calloc(RECENT_NAMES, sizeof *S->names);
		S->name_ix = calloc(2 * RECENT_NAMES, sizeof *S->name_ix);
		if (!S->names || !S->name_ix)
			return -1;
	}
	for (size_t h = jrn_hash64(name, n) % (2 * RECENT_NAMES);; h = (h + 1) % (2 * RECENT_NAMES)) {
		int32_t ix = S->name_ix[h];
		if (!ix) {
			if (S->nnames == RECENT_NAMES)
				return -1;
			memcpy(S->names[S->nnames], name, n + 1);
			S->name_ix[h] = ++S->nnames;
			return S->nnames;
		}
		if (!strcmp(S->names[ix - 1], name))
			return ix;
	}
}

static const char *name_at(const store *S, int32_t ix)
{
	return ix ? S->names[ix - 1] : NULL;
}

/* Once a transaction: another connection's commit since the last one
 * makes every memo stale. 0, -1 with e. */
static int memo_check(store *S, jrn_err *e)
{
	if (S->checked_gen == S->gen)
		return 0;
	int rc = sqlite3_step(S->version);
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(S->version, 0) : 0;
	if (store_done(S, S->version, rc, e) < 0)
		return -1;
	if (S->checked_gen && v != S->data_version && !++S->epoch)
		S->epoch = 1;
	S->checked_gen = S->gen, S->data_version = v;
	return 0;
}

/* Doubles the sets in use: set i's valid memos whose hash has the new
 * bit go to set i + nsets, the rest stay, each keeping its order (the
 * newest first); stale ones are dropped. */
static void memo_grow(store *S)
{
	size_t half = S->nsets;
	_Static_assert(RECENT_SETS_MIN && !(RECENT_SETS_MIN & (RECENT_SETS_MIN - 1)) &&
		       RECENT_MEMO / RECENT_WAYS % RECENT_SETS_MIN == 0,
		       "the memo's sets double from a power of two up to its size");
	for (size_t i = 0; i < half; i++) {
		struct recent_memo *lo = &S->recent_memo[i * RECENT_WAYS],
				   *hi = &S->recent_memo[(i + half) * RECENT_WAYS];
		uint32_t *tlo = &S->recent_tag[i * RECENT_WAYS], *thi = &S->recent_tag[(i + half) * RECENT_WAYS];
		int nlo = 0, nhi = 0;
		for (int w = 0; w < RECENT_WAYS; w++) {
			if (!tlo[w] || lo[w].epoch != S->epoch)
				continue;
			uint64_t h = jrn_hash64(lo[w].customer, strlen(lo[w].customer));
			if (h & half) {
				hi[nhi] = lo[w], thi[nhi++] = tlo[w];
			} else {
				if (nlo != w)
					lo[nlo] = lo[w], tlo[nlo] = tlo[w];
				nlo++;
			}
		}
		for (int w = nlo; w < RECENT_WAYS; w++)
			tlo[w] = 0;
		/* hi's ways past nhi: never used before (tags 0) */
	}
	S->nsets = 2 * half;
	S->evicted = 0;
}

/* customer's set of memos (NULL: none kept), *hit its valid memo or NULL,
 * *tag its tags (RECENT_WAYS, in step with the set's memos); n is
 * strlen(customer) and h its jrn_hash64, which the callers reckon once. */
static struct recent_memo *memo_set(store *S, const char *customer, size_t n, uint64_t h,
				    struct recent_memo **hit, uint32_t **tag)
{
	*hit = NULL;
	if (n >= sizeof S->recent_memo->customer)
		return NULL;
	if (!S->recent_memo) {
		S->recent_memo = jrn_huge_alloc(RECENT_MEMO * sizeof *S->recent_memo);
		/* a set's tags (64 bytes) in one cache line (mapped: page-aligned) */
		S->recent_tag = jrn_huge_alloc(RECENT_MEMO * sizeof *S->recent_tag);
		if (!S->recent_memo || !S->recent_tag) {
			jrn_huge_free(S->recent_memo, RECENT_MEMO * sizeof *S->recent_memo);
			jrn_huge_free(S->recent_tag, RECENT_MEMO * sizeof *S->recent_tag);
			S->recent_memo = NULL, S->recent_tag = NULL;
			return NULL;
		}
		S->nsets = RECENT_SETS_MIN;
	}
	size_t at = (h & (S->nsets - 1)) * RECENT_WAYS;
	uint32_t t = (uint32_t)(h >> 32) | 1;
	struct recent_memo *set = &S->recent_memo[at];
	*tag = &S->recent_tag[at];
	for (int w = 0; w < RECENT_WAYS; w++)
		if ((*tag)[w] == t && set[w].epoch == S->epoch && !strcmp(set[w].customer, customer))
			*hit = &set[w];
	return set;
}

/* What store_recent read, gathered into a memo (m->epoch 0 when it does
 * not fit). */
typedef struct {
	store *S;
	struct recent_memo *m;
	store_sent_fn *fn;
	void *ctx;
} gather;

static void memo_add(store *S, struct recent_memo *m, const char *channel, int64_t at,
		     const char *offer, const char *trigger, int64_t decided_at)
{
	if (!m->epoch)
		return;
	int ch = -1;
	if (channel) {
		while (++ch < NCHAN && strcmp(channel, chan_names[ch]))
			;
		if (ch == NCHAN)
			ch = -2; /* a channel the gate does not know: not remembered */
	}
	int32_t o = name_of(S, offer), t = name_of(S, trigger);
	if (m->n == RECENT_ROWS || ch == -2 || o < 0 || t < 0) {
		m->epoch = 0;
		return;
	}
	m->row[m->n++] = (struct recent_row){at, decided_at, (int16_t)o, (int16_t)t, (int8_t)ch};
}

static void gathered(gather *g, const char *channel, int64_t at, const char *offer,
		     const char *trigger, int64_t decided_at)
{
	if (g->m)
		memo_add(g->S, g->m, channel, at, offer, trigger, decided_at);
	g->fn(g->ctx, channel, at, offer, trigger, decided_at);
}

static int from_ledger(void *ctx, const char *channel, int64_t at)
{
	gathered(ctx, channel, at, NULL, NULL, at);
	return 0;
}

int store_recent(store *S, const char *customer, int64_t since, store_sent_fn *fn, void *ctx,
		 jrn_err *e)
{
	if (memo_check(S, e) < 0)
		return -1;
	uint32_t *tag = NULL;
	size_t n = strlen(customer);
	uint64_t h = jrn_hash64(customer, n);
	struct recent_memo *hit, *set = memo_set(S, customer, n, h, &hit, &tag);
	if (hit && since >= hit->since) {
		/* the rows before since are dropped: a later question from a
		 * since as late (the clock does not go back) never reads them,
		 * and one from earlier asks the table (since >= hit->since
		 * fails), so that the memo's room goes to the rows still read */
		int kept = 0;
		for (int i = 0; i < hit->n; i++) {
			const struct recent_row *r = &hit->row[i];
			if (r->decided_at < since && r->at < since)
				continue;
			fn(ctx, r->channel < 0 ? NULL : chan_names[r->channel], r->at,
			   name_at(S, r->offer), name_at(S, r->trigger), r->decided_at);
			hit->row[kept++] = *r;
		}
		hit->n = (uint8_t)kept, hit->since = since;
		return 0;
	}
	gather g = {S, NULL, fn, ctx};
	if (set) { /* a new memo, the newest of its set (its own old one, if any, goes;
		    * else the first empty or stale one, else the oldest): only the
		    * memos before it move */
		int w = 0;
		while (w < RECENT_WAYS - 1 && &set[w] != hit && tag[w] && set[w].epoch == S->epoch)
			w++;
		if (&set[w] != hit && tag[w] && set[w].epoch == S->epoch &&
		    ++S->evicted >= S->nsets / RECENT_GROW_AT && S->nsets < RECENT_MEMO / RECENT_WAYS) {
			memo_grow(S); /* then this customer's set again, in the new layout */
			set = memo_set(S, customer, n, h, &hit, &tag);
			w = 0;
			while (w < RECENT_WAYS - 1 && tag[w] && set[w].epoch == S->epoch)
				w++;
		}
		memmove(set + 1, set, (size_t)w * sizeof *set);
		memmove(tag + 1, tag, (size_t)w * sizeof *tag);
		tag[0] = (uint32_t)(h >> 32) | 1;
		g.m = set;
		*g.m = (struct recent_memo){.epoch = S->epoch, .since = since};
		memcpy(g.m->customer, customer, n + 1);
	}
	int maybe = custs_maybe(S, h, e);
	if (maybe <= 0) { /* no send of it: only the ledger's */
		int none = maybe < 0 ? -1 : ledger_empty(S, e);
		if (none < 0 || (!none && jrn_ledger_recent_walk(S->ledger, customer, since, from_ledger,
								 &g, e) < 0)) {
			if (g.m)
				g.m->epoch = 0;
			return -1;
		}
		return 0;
	}
	sqlite3_stmt *st = S->recent;
	if (behind_pending(S, S->w.pend, h) && store_sync(S, e) < 0) {
		if (g.m)
			g.m->epoch = 0;
		return -1;
	}
	sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int(st, 3, ROUTE_RECENT_MAX);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int in_ledger = sqlite3_column_int(st, 5);
		const char *ch = (const char *)sqlite3_column_text(st, 0);
		if (in_ledger == 2) /* rejected by jrn-send: never sent */
			continue;
		/* cooldown and trigger still see it; the caps count the
		 * ledger's row instead (channel NULL: not counted) */
		gathered(&g, in_ledger ? NULL : ch, sqlite3_column_int64(st, 1),
			 (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
			 sqlite3_column_int64(st, 4));
	}
	int none = rc == SQLITE_DONE ? ledger_empty(S, e) : -1;
	if (store_done(S, st, rc, e) < 0 || none < 0 ||
	    (!none && jrn_ledger_recent_walk(S->ledger, customer, since, from_ledger, &g, e) < 0)) {
		if (g.m)
			g.m->epoch = 0;
		return -1;
	}
	return 0;
}

/* A send this connection wrote, added to its customer's memo when there is
 * one (a key jrn-send already holds is counted by the ledger's row, as
 * store_recent's query does). 0, -1 with e. */
static int memo_sent(store *S, const action *a, const decision *d, const char *trigger_key,
		     int64_t now, uint64_t ch, jrn_err *e)
{
	struct recent_memo *hit;
	uint32_t *tag;
	const char *cust = a->f[F_CUSTOMER];
	if (!S->recent_memo || (memo_set(S, cust, strlen(cust), ch, &hit, &tag), !hit))
		return 0;
	int none = ledger_empty(S, e);
	if (none < 0)
		return -1;
	bool in_ledger = false;
	if (!none && !d->resend) { /* (a resend's ledger row is its rejection) */
		sqlite3_bind_text(S->delivered, 1, d->key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(S->delivered);
		in_ledger = rc == SQLITE_ROW;
		if (store_done(S, S->delivered, rc, e) < 0)
			return -1;
	}
	const char *offer = a->f[F_OFFER] ? a->f[F_OFFER] : a->f[F_CAMPAIGN];
	memo_add(S, hit, in_ledger ? NULL : chan_names[d->channel],
		 d->send_at != INT64_MIN ? d->send_at : now, offer, trigger_key, now);
	return 0;
}

int store_spent(store *S, const char *campaign, double *spent, jrn_err *e)
{
	bool hit;
	struct spent_memo *m = spent_find(S, campaign, &hit);
	if (hit) {
		*spent = m->spent;
		return 0;
	}
	if (behind_pending(S, S->w.kpend, jrn_hash64(campaign, strlen(campaign))) &&
	    store_sync(S, e) < 0)
		return -1;
	sqlite3_bind_text(S->spent, 1, campaign, -1, SQLITE_STATIC);
	int rc = sqlite3_step(S->spent);
	*spent = rc == SQLITE_ROW ? sqlite3_column_double(S->spent, 0) : 0;
	if (store_done(S, S->spent, rc, e) < 0)
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
	jrn_buf_adds(b, ",\"idempotencyKey\":\"");
	jrn_buf_add(b, d->keyhex, 64);
	jrn_buf_adds(b, "\"}");
	return b->p ? 0 : jrn_fail(e, "out of memory");
}

/* The decision's row queued (as insert binds it; seq: the private state's
 * number for it), with its claim of key hash h when it is a send (ch: its
 * customer's hash). 0, -1 with e. */
static int queue_decision(store *S, const action *a, const decision *d, const char *trigger_key,
			  int64_t now, int64_t seq, uint64_t h, uint64_t ch, jrn_err *e)
{
	const char *offer = a->f[F_OFFER] ? a->f[F_OFFER] : a->f[F_CAMPAIGN];
	const op_param null = {.tag = P_NULL};
	if (d->kind == D_DEFER && a->text && deferred_body(S, a, d, e) < 0)
		return -1;
	op_param v[DECISION_PARAMS] = {
		behind_text(d->key, -1), behind_text(a->f[F_CUSTOMER], -1), behind_text(chan_names[d->channel], -1),
		behind_text(a->f[F_CAMPAIGN], -1), behind_text(offer, -1), behind_text(trigger_key, -1),
		behind_text(a->f[F_JOURNEY], -1),
		a->has_version ? (op_param){.tag = P_INT, .i = a->version} : null,
		behind_text(a->f[F_STEP], -1), behind_text(decision_names[d->kind], -1), behind_text(d->reason, -1),
		{.tag = P_INT, .i = now},
		d->send_at != INT64_MIN ? (op_param){.tag = P_INT, .i = d->send_at} : null,
		d->has_cost ? (op_param){.tag = P_REAL, .x = d->cost} : null,
		behind_text(a->f[F_ENROLLMENT], -1),
		d->kind == D_DEFER && a->text ? behind_text(S->body.p ? S->body.p : "", (ssize_t)S->body.len)
					      : null,
		S->priv ? (op_param){.tag = P_INT, .i = seq} : null,
	};
	/* the private state claims in memory (priv_add), not in route_send_keys,
	 * up to priv_max */
	char head[10] = {OP_DECISION, d->kind == D_SEND && (!S->priv || priv_spills(S))};
	int64_t hs = (int64_t)h;
	memcpy(head + 2, &hs, sizeof hs);
	if (behind_put(S, head, sizeof head, v, DECISION_PARAMS, e) < 0)
		return -1;
	if (d->kind == D_SEND) {
		S->w.pend[ch % PEND_SLOTS] = S->w.run;
		S->w.kpend[h % PEND_SLOTS] = S->w.run;
	}
	behind_queued(S);
	return 0;
}

static int claimed(store *S, const action *a, const decision *d, const char *trigger_key,
		   int64_t now, uint64_t h, uint64_t ch, jrn_err *e);

/* The decision's row (route_decisions): 1 written, 0 not (a send whose
 * key is taken), -1 with e. */
static int insert(store *S, const action *a, const decision *d, const char *trigger_key,
		  int64_t now, jrn_err *e)
{
	sqlite3_stmt *st = S->insert;
	int taken;
	if (d->kind == D_SEND && !d->resend && (taken = store_key_sent(S, d->key, e)) != 0)
		return taken < 0 ? -1 : 0; /* store_claim's duplicate */
	/* a send's key's hash and its customer's (the claim, the sets, the memo) */
	const char *cust = a->f[F_CUSTOMER];
	uint64_t h = d->kind == D_SEND ? jrn_hash64(d->key, strlen(d->key)) : 0;
	uint64_t ch = d->kind == D_SEND ? jrn_hash64(cust, strlen(cust)) : 0;
	int64_t seq = S->priv ? S->priv_next++ : 0;
	if (S->w.on) {
		if (queue_decision(S, a, d, trigger_key, now, seq, h, ch, e) < 0)
			return -1;
		if (d->kind == D_SEND && S->priv && priv_add(S, h, seq, ch) < 0)
			return jrn_fail(e, "out of memory");
		return d->kind == D_SEND ? claimed(S, a, d, trigger_key, now, h, ch, e) : 1;
	}
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
	if (S->priv)
		sqlite3_bind_int64(st, 17, seq);
	if (store_done(S, st, sqlite3_step(st), e) < 0)
		return -1;
	if (d->kind != D_SEND)
		return 1;
	/* the claim: the send's seq and its key's hash */
	if (S->priv) {
		if (priv_spills(S)) { /* past priv_max: in route_send_keys */
			sqlite3_bind_int64(S->claim, 1, seq);
			sqlite3_bind_int64(S->claim, 2, (int64_t)h);
			if (store_done(S, S->claim, sqlite3_step(S->claim), e) < 0)
				return -1;
		}
		if (priv_add(S, h, seq, ch) < 0)
			return jrn_fail(e, "out of memory");
		return memo_sent(S, a, d, trigger_key, now, ch, e) < 0 ? -1 : 1;
	}
	sqlite3_bind_int64(S->claim, 1, sqlite3_last_insert_rowid(S->db));
	sqlite3_bind_int64(S->claim, 2, (int64_t)h);
	if (store_done(S, S->claim, sqlite3_step(S->claim), e) < 0)
		return -1;
	return claimed(S, a, d, trigger_key, now, h, ch, e);
}

/* A send's claim of key hash h written (or queued): remembered in the
 * sets and memos that hold while this transaction lasts. 1, -1 with e. */
static int claimed(store *S, const action *a, const decision *d, const char *trigger_key,
		   int64_t now, uint64_t h, uint64_t ch, jrn_err *e)
{
	if (S->keys_epoch == S->epoch)
		keys_add(S, h); /* out of memory: the set is dropped, the table answers */
	if (S->custs_epoch == S->epoch)
		custs_add(S, ch); /* as keys_add */
	if (memo_sent(S, a, d, trigger_key, now, ch, e) < 0)
		return -1;
	return 1;
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
	/* (the private state's spending is read only for a budget; a
	 * resend's cost was counted when it was first admitted) */
	if (d->kind != D_SEND || !d->has_cost || !a->f[F_CAMPAIGN] || (S->priv && !d->budgeted) ||
	    d->resend)
		return 0;
	if (S->w.on) {
		const char *camp = a->f[F_CAMPAIGN];
		op_param v[SPEND_PARAMS] = {behind_text(camp, -1), {.tag = P_REAL, .x = d->cost},
					    {.tag = P_INT, .i = now}};
		char head[1] = {OP_SPEND};
		if (behind_put(S, head, sizeof head, v, SPEND_PARAMS, e) < 0)
			return -1;
		S->w.kpend[jrn_hash64(camp, strlen(camp)) % PEND_SLOTS] = S->w.run;
		behind_queued(S);
	} else {
		sqlite3_bind_text(S->spend, 1, a->f[F_CAMPAIGN], -1, SQLITE_STATIC);
		sqlite3_bind_double(S->spend, 2, d->cost);
		sqlite3_bind_int64(S->spend, 3, now);
		if (store_done(S, S->spend, sqlite3_step(S->spend), e) < 0)
			return -1;
	}
	bool hit;
	struct spent_memo *m = spent_find(S, a->f[F_CAMPAIGN], &hit);
	if (hit) /* as the row now says: spent + cost, added in the same order */
		m->spent += d->cost;
	return 0;
}
