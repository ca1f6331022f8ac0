/*
 * jrn-route.h: what the parts of jrn-route share. Private to cmd/jrn-route/.
 *
 * jrn-route is the policy gate every action passes before jrn-send: an
 * action record in, the same record out with route:{decision, reason,
 * sendAt, variant, cost, journey, step, version, channel, key} added.
 * Journeys (the next part, issue 12) plug in by filling an `action` and
 * calling gate_decide, exactly as the reader of input records does.
 *
 * The parts:
 *   main.c    usage, options, the batch loop, main
 *   policy.c  the policy: section of the configuration, checked
 *   record.c  an input line into an action; a decided record out
 *   gate.c    the gate: the rules in their order (jrn-route(1), GATE)
 *   store.c   the gate's memory: migration 7's tables, the profiles'
 *             time zones, the ledger's recent deliveries (lib/ledger.h)
 *   zone.c    local time in a customer's zone (the system's zoneinfo)
 *
 * Every batch of records is decided inside one transaction of the state
 * file (BEGIN IMMEDIATE ... COMMIT); each decision is written as it is
 * made, so later records of the batch see it (caps count what this run
 * already let through). Records are written out after the commit.
 */
#ifndef JRN_ROUTE_H
#define JRN_ROUTE_H

#include "jrn.h"
#include "ledger.h"
#include "privacy.h"
#include "reach.h"

/* A Bloom filter over 64-bit hashes: nbits bits in words, k probes of h
 * by double hashing (Kirsch and Mitzenmacher, "Less hashing, same
 * performance", 2006), the second hash splitmix64's finalizer of h.
 * route_bloom_add sets h's bits; route_bloom_has: are they all set (a
 * maybe; false: h was never added). The enrollments' trigger keys
 * (enroll.c) and --simulate's claims past PRIV_MAX (store.c). */
static inline uint64_t route_bloom_step(uint64_t h)
{
	uint64_t g = h + 0x9e3779b97f4a7c15u;
	g = (g ^ (g >> 30)) * 0xbf58476d1ce4e5b9u;
	g = (g ^ (g >> 27)) * 0x94d049bb133111ebu;
	return (g ^ (g >> 31)) | 1;
}

static inline void route_bloom_add(uint64_t *w, uint64_t nbits, int k, uint64_t h)
{
	uint64_t g = route_bloom_step(h);
	for (int i = 0; i < k; i++) {
		uint64_t b = (h + (uint64_t)i * g) % nbits;
		w[b / 64] |= 1ull << (b % 64);
	}
}

static inline bool route_bloom_has(const uint64_t *w, uint64_t nbits, int k, uint64_t h)
{
	uint64_t g = route_bloom_step(h);
	for (int i = 0; i < k; i++) {
		uint64_t b = (h + (uint64_t)i * g) % nbits;
		if (!(w[b / 64] >> (b % 64) & 1))
			return false;
	}
	return true;
}

/* Channels the gate knows; the order is jrn-send's actionType list. */
enum chan { CH_EMAIL, CH_SMS, CH_WHATSAPP, CH_WEBHOOK, CH_RETARGETING, NCHAN };
extern const char *const chan_names[NCHAN];
#define CAP_ALL NCHAN /* caps[CAP_ALL]: across channels */

/* Bounds, each named in its message and in jrn-route(1). */
#define ROUTE_BATCH 10000         /* records per transaction */
#define ROUTE_HOLD_MS 100         /* a batch's hold on the write lock once
				   * another writer waits (ms) */
#define ROUTE_ZONE_MAX 64        /* bytes of a time zone name */
#define ROUTE_RECENT_MAX 10000   /* a customer's recent sends read per decision */

typedef struct {
	int64_t max;    /* -1: no cap */
	int64_t window; /* ms */
} cap;

/* policy: as read and checked (policy.c). */
typedef struct {
	char *zone;              /* policy.timeZone, default "UTC" */
	char *region;            /* policy.defaultRegion or ingest.defaultCountry; NULL */
	bool quiet;              /* policy.quietHours given */
	int quiet_start, quiet_end; /* minutes of the local day */
	cap caps[NCHAN + 1];
	jv cooldown;             /* {name: ms} (owned); "*" the default */
	int64_t trigger_window;  /* policy.triggerWindow, default 24h; 0: off */
	int fallback[3];         /* policy.fallback, default whatsapp, sms, email */
	int nfallback;
	double cost[NCHAN];      /* policy.cost */
	jv budgets;              /* {campaign: amount} (owned); "*" the default */
	int64_t lookback;        /* the longest window: how far back to read */
} policy;

/* Reads o->config's policy (borrowed) into P: 0, or -1 with e naming the
 * key. policy_free frees what it holds. */
int policy_load(policy *P, jv config, jrn_err *e);
void policy_free(policy *P);
/* The cooldown of name (campaign or offer) in ms, 0 for none. */
int64_t policy_cooldown(const policy *P, const char *name);
/* The budget of campaign: 1 with *amount, 0 for none. */
int policy_budget(const policy *P, const char *campaign, double *amount);

/* Strings of an action: NUL-terminated, NULL when absent. */
enum {
	F_CUSTOMER, F_CAMPAIGN, F_OFFER, F_TRIGGER, F_TEMPLATE, F_KEY, F_EMAIL, F_PHONE,
	F_ZONE, F_JOURNEY, F_STEP, F_ENROLLMENT, F_VARIANT, NFIELDS
};

/* What the gate reads of one action. */
typedef struct {
	int channel;               /* the channel asked for */
	const char *f[NFIELDS];
	const char *key_customer;  /* the customerId as read, when f[F_CUSTOMER] is the
				    * customer it names now (store_standing): the key's */
	bool transactional;        /* priority or category "transactional" */
	bool has_version;
	int64_t version;           /* journeyVersion */
	int64_t send_at;           /* sendAt asked for; INT64_MIN: none */
	bool holdout;              /* "holdout": true: suppressed "holdout" */
	const char *text;          /* the record as read (borrowed), for a */
	size_t text_len;           /* deferral's route_decisions.body */
} action;

enum decision_kind { D_SEND, D_DEFER, D_SUPPRESS };
extern const char *const decision_names[3];

/* What the gate decided. */
typedef struct {
	enum decision_kind kind;
	const char *reason;        /* a reason code (static), or NULL */
	int64_t send_at;           /* send and defer: when; else INT64_MIN */
	int channel;               /* the channel it goes on */
	bool has_cost;
	double cost;
	const char *key;           /* the idempotency key: the action's, or keyhex */
	char keyhex[65];           /* a derived key (SHA-256, hex) */
	bool key_derived;          /* the action had none: keyhex is added */
	bool erased;               /* the customer was erased (jrn privacy erase):
				    * suppressed "erased" and not stored */
	bool stored;               /* its row is written already (store_claim) */
	bool budgeted;             /* its campaign has a budget (policy.budgets) */
	bool resend;               /* a key decided send before (store_resend): a
				    * send's row written again, its cost not spent */
} decision;

/* The gate's memory and lookups (store.c). */
typedef struct store store;
/* Prepares the statements over db (borrowed), the profiles' time zones
 * read from profiles (borrowed; db itself but in --simulate, whose
 * decisions have a database of their own). NULL with e. */
store *store_open(sqlite3 *db, sqlite3 *profiles, jrn_err *e);
/* The connection S writes its decisions on (store_open's db). */
sqlite3 *store_db(const store *S);
void store_close(store *S);
/* Marks S's state as private: it began empty, and no other connection
 * reads or writes it (--simulate's memory state, simulate.c). Its sends'
 * keys are then claimed in memory, the first max_claims of them
 * (route_send_keys gets a row only for those past it: memory stays flat),
 * a customer no send was written for (of the first max_claims customers
 * with one) is not looked up in route_decisions, and a send's cost is
 * added to route_budgets only when its campaign has a budget (the only
 * reader). 0, -1 with e. */
int store_private(store *S, size_t max_claims, jrn_err *e);
/* JRN_SIMULATE_CLAIMS (a number from 0 to PRIV_MAX; unset or empty:
 * PRIV_MAX) into *max: store_private's max_claims, for tests. 0, -1
 * with e. */
int store_private_max(size_t *max, jrn_err *e);
/* Writes S's decisions behind: their rows, claims and spending are queued
 * as decided and written in order by a thread of S's own, on S's
 * connection (which must be serialized: jrn_db_open_serialized), while
 * the next are decided; the sets and memos answer for the queued ones,
 * and every read of a table they touch waits for them first
 * (store_sync). Not while another part (journeys) writes on the
 * connection: the SQLite lock would then be taken in turns, each step
 * of one waiting for the other's (--simulate gives the private state a
 * connection of its own). 0 (also when SQLite has no threads: written in
 * line), -1 with e. */
int store_behind(store *S, jrn_err *e);
/* Waits until every queued write is written: 0, or -1 with the first
 * write's failure in e (said once; the caller rolls the transaction
 * back). Every transaction's end must come after it. 0 when not behind. */
int store_sync(store *S, jrn_err *e);
/* Has a write behind failed? 0 not (so far), or -1 with its failure in e
 * as store_sync gives it, without waiting for what is queued. 0 when not
 * behind. */
int store_poll(store *S, jrn_err *e);
/* Drops the writes still queued, once the one in flight is done: before a
 * rollback (a failure, a dry run), so that nothing is written after the
 * transaction ends. */
void store_drop(store *S);
/* The transaction's number: it changes whenever one ends on S's
 * connection (the commit and rollback hooks), never 0. */
unsigned store_tx(const store *S);

/* The profile's time_zone of customer, copied into out (ROUTE_ZONE_MAX+1
 * bytes): 1 found, 0 none, -1 with e. */
int store_profile_zone(store *S, const char *customer, char *out, jrn_err *e);

/* The customer id customer names now: the end of its id links (table
 * identities, kind 'id': an anonymous id identified, an alias; lib/
 * profile.c's jrn_profile_resolve, at most JRN_PROFILE_MAX_CHAIN), or
 * customer itself (borrowed) when it has none. The result is valid until
 * the next call; NULL with e. */
const char *store_standing(store *S, const char *customer, jrn_err *e);
/* Is key decided 'send' already? 1 yes, 0 no, -1 with e. */
int store_key_sent(store *S, const char *key, jrn_err *e);
/* Is key a resend (jrn-route(1) Idempotency): decided 'send' before, and
 * its record rejected by jrn-send, which sent nothing (deliveries.status
 * rejected: a claim may take the key again, lib/ledger.h), and not resent
 * since (a send row of reason resend decided at or after the rejection:
 * pending, jrn-send has not taken it yet)? 1 yes with
 * *channel (chan_names) the ledger's, 0 no (never in the private state of
 * --simulate), -1 with e. */
int store_resend(store *S, const char *key, int *channel, jrn_err *e);
/* The customer's sends since `since`: route's own (those jrn-send has not
 * claimed yet) and the ledger's. fn(ctx, channel, at, offer, trigger,
 * decided_at) for each (strings valid during the call; the ledger's rows
 * have no offer or trigger, NULL). 0, -1 with e. */
typedef void store_sent_fn(void *ctx, const char *channel, int64_t at, const char *offer,
			   const char *trigger, int64_t decided_at);
int store_recent(store *S, const char *customer, int64_t since, store_sent_fn *fn, void *ctx,
		 jrn_err *e);
/* What campaign has spent: 0 with *spent (0 when no row), -1 with e. */
int store_spent(store *S, const char *campaign, double *spent, jrn_err *e);
/* A send's row written now, its key checked and then claimed in
 * route_send_keys (schema 12: the row's seq and the key's 64-bit hash)
 * inside the caller's write transaction: 1 claimed (set d->stored), 0
 * the key was decided 'send' before (nothing written), -1 with e. A
 * resend (d->resend) is written without the check.
 * trigger_key and now as store_write's. */
int store_claim(store *S, const action *a, const decision *d, const char *trigger_key,
		int64_t now, jrn_err *e);
/* Writes a decision of a (borrowed) unless d->stored, and adds a send's cost to its
 * campaign's spending. route_decisions.enrollment is a's enrollment;
 * a deferral's body is a->text, with the derived key spliced in when the
 * gate derived one (--tick offers it again at send_at). 0, -1 with e. */
int store_write(store *S, const action *a, const decision *d, const char *trigger_key,
		int64_t now, jrn_err *e);

/* Local time (zone.c). A zone name is checked once and remembered. */
/* 0 when zone names a file of the system's zoneinfo (TZDIR, else
 * /usr/share/zoneinfo) by the name rules of jrn-route(1); -1 with e. */
int zone_check(const char *zone, jrn_err *e);
/* The zone's offset from UTC at utc (ms), in seconds. */
int zone_offset(const char *zone, int64_t utc);
/* The first instant at or after t whose local time of day in zone is
 * outside [start, end) (minutes; a window past midnight when start > end),
 * or t itself when t is outside it. Correct across DST changes: the end
 * time is converted back with the offset in force then. */
int64_t zone_after_quiet(const char *zone, int64_t t, int start, int end);
void zone_free(void);

/* What a run does (main.c dispatches on it). */
enum route_mode { M_GATE, M_TICK, M_SIMULATE, M_CHECK, M_EXPLAIN };

struct engine; /* journey.h */

/* The run. */
typedef struct {
	enum route_mode mode;
	const char *journeys_dir;   /* --journeys, else NULL */
	const char *explain;        /* --explain CUSTOMER */
	struct engine *eng;         /* the journeys and their statements; NULL: none */
	jrn_opts opts;
	policy P;
	sqlite3 *db;
	sqlite3 *sdb;               /* --simulate: the gate's decisions' own
				     * temporary database (simulate.c); else NULL */
	unsigned db_tx;             /* --simulate: R->db's transactions ended
				     * (its hooks, simulate.c; store_tx counts
				     * them where the store shares R->db), from 1 */
	store *st;
	jrn_reach *reach;
	jrn_privacy *privacy; /* erased customers: suppressed, never stored */
	const char *suppress_as;    /* set around route_line by the offer of a
				     * deferred action whose enrollment has
				     * ended: the gate suppresses it with this
				     * reason (static) */
	const char *acting_for;     /* set around route_action by a journey's
				     * action step (engine.c): its customer,
				     * named with acting_enrollment in a
				     * rejection's message (the step's file and
				     * line alone name every customer's) */
	int64_t acting_enrollment;
	jrn_err rejected_why;       /* the last rejection's reason (route_action),
				     * for the enrollment's log */
	jrn_rejects rej;
	jrn_out out;
	jrn_json_index ix;
	bool ix_ready;              /* ix already holds the next record_read's line
				     * (--simulate's sim_line built it for the time) */
	jrn_buf fbuf[NFIELDS];      /* the action's strings */
	jrn_buf batch;              /* the batch's output, written after commit */
	jrn_buf scratch;
	jrn_buf keytext;            /* a derived key's JSON array */
	jv_parser *parser;
	uint64_t counts[3];         /* decisions by kind */
	uint64_t passed;            /* events passed through */
	bool in_tx;
	bool unreadable;            /* a FILE could not be read (said); the others were routed */
} route_run;

/* Reads ln into a (record.c): 0 read, 1 rejected (why says), 2 an event
 * (a string "type" and no actionType or channel) or a customer state
 * record (a "state" object and no type, actionType or channel: jrn-ai's)
 * that passes through as it is. a->text points into ln. */
int record_read(route_run *R, const jrn_line *ln, action *a, jrn_err *why);
/* Appends ln's record with route added (and actionType and idempotencyKey
 * when the gate changed or derived them) and a newline to R->batch. 0, -1
 * with e. */
int record_write(route_run *R, const jrn_line *ln, const action *a, const decision *d,
		 jrn_err *e);

/* The reason a deferred action offered again is suppressed for, given
 * the status of the enrollment it came from (NULL: none, or no
 * enrollment): "enrollment_exited" or "enrollment_converted" when the
 * enrollment ended so (an exit event, a goal) after the action was
 * deferred; NULL when it is active or completed (batch.c). */
const char *route_ended_reason(const char *status);

/* Set by SIGINT and SIGTERM (main.c): loops stop at the next record. */
extern volatile sig_atomic_t route_interrupted;

/* One action record (JSON text of len bytes, borrowed) through the gate
 * into the batch as if it were a line of input named file:lineno: decided
 * and written, or rejected (main.c). Journeys' steps and the tick's
 * deferred actions come this way. 0, or -1 fatal (said). */
int route_line(route_run *R, const jrn_line *ln);

/* An event record (record_read's 2), already passed through into the
 * batch, given to the journeys (engine.c): exits, goals and wait_fors of
 * the customer's enrollments, then the triggers. R->ix is still ln's
 * (record_read's). 0, -1 fatal (said). */
int engine_event(route_run *R, const jrn_line *ln);

/* Ends the batch: its output written, its transaction committed (main.c).
 * 0, or -1 fatal (said). */
int route_batch_end(route_run *R);

/* --simulate's state (simulate.c), opened by setup instead of the state
 * file: a temporary database ("") migrated, and the state file, when
 * there is one, attached read-only for the tables that say who the
 * customers are (jrn-route(1), SIMULATION), as R->db; a second for the
 * gate's decisions as R->sdb, its one transaction begun. 0, or -1 with e
 * (R->sdb may be set still: teardown closes it). */
int simulate_db_open(route_run *R, jrn_err *e);

/* --simulate's end of a batch (simulate.c): its output written, its
 * transaction left open. The run is one transaction of each of the two
 * databases (R->db's committed at its end by route_batch_end, R->sdb's
 * rolled back when it is closed): commits of a state no one
 * else reads cost writes of the same pages again and again, and with
 * journal_mode MEMORY one transaction from the start journals almost
 * nothing. The decisions queued behind are not waited for (nothing is
 * kept: the output is a forecast), only a write that failed is said
 * (store_poll); route_batch_end waits for them all at the end. 0, or -1
 * fatal (said). */
int simulate_flush(route_run *R);

/* The modes besides the gate, each returning the exit status (said). */
int mode_tick(route_run *R);                          /* tick.c */
int mode_simulate(route_run *R, char **files, int n); /* simulate.c */
int mode_check(route_run *R, char **names, int n);    /* check.c */
int mode_explain(route_run *R);                       /* explain.c */

/* Decides a (gate.c): 0 decided (d), 1 rejected (why), -1 fatal (e). */
int gate_decide(route_run *R, const action *a, decision *d, jrn_err *why, jrn_err *e);
/* Frees what the gate remembers across calls (its phone-number memo). */
void gate_free(void);

#endif
