/* store.h: what store.c (the gate's memory, its reads) and behind.c (its
 * writes behind, on a thread of their own: store_behind) share: the
 * store's layout, the queued ops' encoding and the functions each calls
 * of the other. Private to jrn-route. */
#ifndef JRN_ROUTE_STORE_H
#define JRN_ROUTE_STORE_H

#include <pthread.h>

#include "jrn-route.h"

#define STORE_SPENT_MEMO 64
/* store_behind: queued writes are handed to the writer thread in runs of
 * about this many bytes (a few hundred decisions) */
#define BEHIND_RUN (256 * 1024)
#define PEND_SLOTS 65536
/* --simulate's private state (store_private) holds at most PRIV_MAX sends'
 * claims and customers in memory (hash tables of 32 MB and 16 MB at
 * most); the claims past it go to route_send_keys behind a Bloom filter
 * of PRIV_BLOOM_BITS (8 MiB) and PRIV_BLOOM_PROBES probes: a key never
 * claimed asks the table once in 25 at 10M claims past it, once in
 * 500,000 at 1M */
#define PRIV_MAX (1 << 20)
#define PRIV_BLOOM_BITS ((uint64_t)1 << 26)
#define PRIV_BLOOM_PROBES 5

/* A customer's recent sends, remembered across decisions (store_recent):
 * RECENT_MEMO customers in sets of RECENT_WAYS by hash, the newest first,
 * each with at most RECENT_ROWS sends (a customer with more is read each
 * time); offers and triggers as indexes into a table of at most
 * RECENT_NAMES names of at most 63 bytes. A memo holds while no other
 * connection has written the state file (PRAGMA data_version, asked once
 * a transaction) and this one's transactions commit; this connection's
 * own sends are added as they are written. 16 ways of 262,144: the
 * bench's 100,000 customers in 4 ways of 131,072 left 36% of them in
 * sets of five or more, each read again at every action (430,000
 * queries for 1M actions); 8 ways left 1% (113,000 queries, the first
 * sight of each customer included), for 48 MB instead of 30; 16 ways
 * leave 1,069 reads past the first sights (14,359 with 8), in the same
 * 48 MB, a set's tags still one cache line. */
#define RECENT_MEMO 262144
/* The sets in use start at RECENT_SETS_MIN and double (each set split in
 * two in place, nothing forgotten) once a stage has evicted a
 * RECENT_GROW_AT-th as many memos as it has sets, up to RECENT_MEMO /
 * RECENT_WAYS: a run that sees few customers (a tick of 10,000) touches
 * 6 MB of the memo, not 48, and one that sees many reads few of them
 * again for the memo's being small at first. */
#define RECENT_SETS_MIN 2048
#define RECENT_GROW_AT 16
#define RECENT_WAYS 16
#define RECENT_ROWS 6
#define RECENT_NAMES 4096

struct recent_row {
	int64_t at, decided_at;
	int16_t offer, trigger; /* names[i - 1]; 0 for none (RECENT_NAMES fits) */
	int8_t channel;         /* chan_names; -1: counted by the ledger's row */
};
_Static_assert(RECENT_NAMES <= INT16_MAX, "a name's index fits a recent_row");

struct recent_memo {
	uint32_t epoch;         /* valid when the store's; 0 empty */
	uint8_t n;
	char customer[27];
	int64_t since;          /* the rows are those at or after it */
	struct recent_row row[RECENT_ROWS];
};

struct store {
	sqlite3 *db;
	sqlite3 *pdb; /* where the profiles' zones are read (store_open's profiles) */
	sqlite3_stmt *zone, *key, *claim, *recent, *spent, *insert, *spend, *version, *delivered,
		     *any_delivered, *unsent, *link, *links_all;
	/* store_standing: the hashes of every id that has an id link (table
	 * identities, kind 'id'), loaded once an epoch (linked_epoch: 0 not
	 * loaded), so that only such an id is looked up; its answer */
	uint64_t *linked;
	size_t linked_cap, linked_n;
	uint32_t linked_epoch;
	jrn_buf standing;
	struct recent_memo *recent_memo; /* RECENT_MEMO, allocated when first used */
	size_t nsets;                    /* sets in use: a power of two */
	size_t evicted;                  /* memos evicted since the last doubling */
	uint32_t *recent_tag;            /* each memo's customer's hash (odd); a set's in
					  * one cache line, read before its memos */
	uint32_t epoch;                  /* the memos' */
	unsigned checked_gen;            /* the transaction whose data_version was read */
	int64_t data_version;
	char (*names)[64];               /* RECENT_NAMES, open addressing by hash */
	int32_t *name_ix;                /* the names' slots: index + 1, 0 empty */
	int nnames;
	jrn_ledger_recent *ledger;
	/* the ledger (deliveries) had no row when transaction deliv_gen
	 * first asked: only jrn-send writes it, never this connection, and
	 * no other connection writes while this one's transaction lasts
	 * (BEGIN IMMEDIATE), so for the rest of it no key is in the ledger
	 * and no customer has a delivery: no query asks it */
	unsigned deliv_gen;
	bool deliv_none;
	jrn_buf body; /* a deferral's record, its derived key spliced in */
	/* store_behind: the writes (route_decisions rows, their claims, the
	 * budgets' spending) queued in fill, in order, as encoded by op_*;
	 * handed to the writer thread as work, which it empties; main waits
	 * (store_sync) before it reads a table the writes touch, and before
	 * the transaction ends */
	struct behind {
		bool on;
		pthread_t th;
		pthread_mutex_t mu;
		pthread_cond_t cond;
		jrn_buf fill, work;
		bool has_work, quit, failed;
		jrn_err err; /* the first failed write's */
		/* runs are numbered from 1 as handed on: fill is run `run`,
		 * the writer has written every run up to `written` (set under
		 * mu, read with __atomic); pend[hash of a customer % PEND_SLOTS]
		 * is the last run that queued a send of a customer of that
		 * slot, so that store_recent waits only when one of the
		 * customer's sends may be queued still */
		uint32_t run, written;
		uint32_t *pend;
		/* the same for the claims' keys and the spending's campaigns
		 * (store_key_sent, store_spent), by their names' hashes */
		uint32_t *kpend;
		/* the writer's write failed and SQLite rolled the transaction
		 * back (its rollback hook ran on the writer's thread):
		 * store_sync makes the memos stale on main's */
		bool rolled_back;
		/* the writer's own: the spending of the run it writes, summed
		 * per campaign in the order queued and written at the run's
		 * end (spend_add, spend_flush); campaigns point into work */
		struct spend_sum {
			const char *camp;
			uint32_t n;
			bool row;       /* spent holds a value (the table's, or added) */
			double spent;
			int64_t at;
		} *sums;
		size_t nsums;
		sqlite3_stmt *sum_get, *sum_set;
	} w;
	/* the claimed keys' hashes (route_send_keys.hash, and jrn_hash64 of
	 * each route_send_keys_11 key): a superset of the sent keys' while
	 * keys_epoch is the memos' epoch (read in full once an epoch, this
	 * connection's claims added as written), so that a key whose hash is
	 * not there was not sent, without a query; open addressing, 0 for
	 * an empty slot (a hash of 0 is keys_zero) */
	uint64_t *keys;
	size_t keys_cap, keys_n;         /* slots (a power of two), hashes held */
	bool keys_zero;
	uint32_t keys_epoch;             /* 0: not loaded */
	uint32_t keys_epoch_seen;        /* the epoch keys_probes counts in */
	size_t keys_probes, keys_last;   /* queries this epoch; hashes last loaded */
	sqlite3_stmt *keys_all, *keys_old;
	/* the customers with a send in route_decisions (jrn_hash64 of each
	 * customer_id, 0 kept as 1): a superset while custs_epoch is the
	 * memos' epoch (read in full once an epoch, when the queries it
	 * spares outweigh the read, and this connection's sends added as
	 * written), so that a customer not there has no send to read and
	 * store_recent asks no query: the first sight of each of a run's
	 * customers was a query of the customer index (100,000 of the
	 * gate bench's 114,000) */
	uint64_t *custs;
	size_t custs_cap, custs_n;
	uint32_t custs_epoch, custs_epoch_seen; /* 0: not loaded; the epoch custs_probes counts in */
	size_t custs_probes;
	int64_t custs_rows; /* the decisions' count (max(seq)) as read once in custs_epoch_seen */
	sqlite3_stmt *custs_all, *max_seq;
	/* store_private: the state began empty and only this connection
	 * uses it (--simulate's memory state). Its claims are a map in
	 * memory from a key's hash to its send's seq (open addressing, a
	 * hash held as often as it was claimed, 0 for an empty slot, a hash
	 * of 0 kept as 1: the decision row says whether it is the key), and
	 * route_send_keys gets no row (up to priv_max); priv_cust holds the hashes of the
	 * customers it wrote a send for (a maybe: store_recent asks the
	 * table), so that a customer not there has no send to read */
	bool priv;
	int64_t priv_next;               /* the next decision's seq (the table began empty) */
	uint64_t *priv_hash;
	int64_t *priv_seq;
	size_t priv_cap, priv_n;
	uint64_t *priv_cust;
	size_t cust_cap, cust_n;
	/* memory flat in the input: past priv_max claims (PRIV_MAX, or
	 * JRN_SIMULATE_CLAIMS) a send's claim is written behind into
	 * route_send_keys as the gate's are, its hash set in priv_bloom (a
	 * Bloom filter of PRIV_BLOOM_BITS, which a key's look-up asks before
	 * the table); past priv_max customers priv_cust stops growing and
	 * every customer not in it is a maybe (cust_full) */
	size_t priv_max;
	uint64_t *priv_bloom;
	bool cust_full;
	sqlite3_stmt *by_seq;
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

/* A queued write, in S->w.fill: its kind, then for OP_DECISION whether it
 * claims its key and the key's hash (8 bytes), then its parameters in
 * order, each a P_* tag and its value (an int64 or a double as 8 bytes, a
 * text as its length in 4 and its bytes). */
enum { OP_DECISION = 'd', OP_SPEND = 's' };
enum { P_NULL, P_INT, P_REAL, P_TEXT };
#define DECISION_PARAMS 17
#define SPEND_PARAMS 3

/* An op's parameter as queue_decision and store_write gather it, before
 * it is encoded: a P_* tag and its value. */
typedef struct {
	char tag;
	int64_t i;
	double x;
	const char *s;
	size_t n;
} op_param;

/* store.c */
/* Resets st after a step that returned rc: 0, or -1 with the step's
 * message in e (taken under the connection's lock when a writer is
 * behind, so that it is this step's). */
int store_done(store *S, sqlite3_stmt *st, int rc, jrn_err *e);
/* The commit hook: the transaction ended, every memo of it is stale.
 * ctx is S; 0 (the commit goes on). */
int store_tx_commit(void *ctx);

/* behind.c */
/* An op's text parameter: s's n bytes (n < 0: strlen), NULL for none. */
op_param behind_text(const char *s, ssize_t n);
/* Appends an op to S's queue (its head, then its n parameters) in one
 * piece: 0, -1 out of memory (or a text longer than SQLite binds). */
int behind_put(store *S, const char *head, size_t headn, const op_param *v, int n, jrn_err *e);
/* An op was queued: handed on to the writer when a run's worth is. */
void behind_queued(store *S);
/* May a write of the name hashed h (a slot of pend) still be queued? */
bool behind_pending(const store *S, const uint32_t *pend, uint64_t h);
/* Stops the writer (store_close): what is queued and not handed on is
 * dropped. */
void behind_stop(store *S);

#endif
