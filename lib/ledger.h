/*
 * ledger.h: the deliveries ledger and the outbox (tables `deliveries` and
 * `outbox`, schema migration 3, jrn-state(5)): the idempotency protocol
 * claim -> send -> record that every tool sending to customers follows, and
 * the count of deliveries that frequency caps read.
 *
 * A key is claimed in the ledger, and the claim committed, before anything
 * leaves; the outcome is recorded after. A run killed in between leaves the
 * claim ('sending') behind: it blocks a second send of the key and is listed
 * by jrn_ledger_stuck until someone takes it over.
 *
 * The states of a key (deliveries.status) and the calls that move them:
 *
 *      (none), or failed | suppressed | rejected, or simulated when
 *      over_simulated: what a claim may take
 *        │
 *        ├── claim "sending" ──> sending ── record ──> sent | simulated |
 *        │                        │  ^  ^                failed | suppressed |
 *        │                        │  │  └ take_over      rejected
 *        │                 record │  │    (restamps the
 *        │            + queue     v  │ claim_due         claim as read)
 *        ├── claim "queued" ───> queued (the outbox row holds when)
 *        │   + queue
 *        └── claim "simulated" ─> simulated (spool only: recorded at once)
 *
 *   call       from                                to
 *   claim      (none), failed, suppressed,         sending | queued |
 *              rejected; simulated if              simulated (recorded at
 *              over_simulated                      once: spool only)
 *   record     sending                             sent, simulated, failed,
 *                                                  suppressed, rejected,
 *                                                  queued (with queue)
 *   queue      queued (the caller's row)           the outbox row written
 *   claim_due  queued                              sending; outbox row gone
 *   take_over  sending, claimed_at as read         sending, restamped
 *   cancel     queued                              failed (error: the
 *                                                  reason); outbox row gone
 *
 *   A claim of a key that is sending, queued, sent (or simulated without
 *   over_simulated) changes nothing and returns 0: a duplicate.
 *
 *   A claim may also write "suppressed" or "rejected" at once (followed
 *   by a record of the same status for the error): jrn-send notes an
 *   action it did not send, so that reports count it; such a row is
 *   claimed again like any other of those statuses.
 *
 * Who commits: the ledger never opens or ends a transaction. Each call is
 * one or two statements; the caller wraps a batch of calls in
 * jrn_db_begin / jrn_db_commit (claims are committed before the sends they
 * guard; a failed batch is rolled back with jrn_db_rollback). Outside a
 * transaction each statement commits by itself.
 *
 * Errors are SQLite's message, without the file name (the caller knows it).
 * Strings are borrowed for the length of a call; times are milliseconds
 * since the epoch (jrn_now's clock).
 */
#ifndef JRN_LEDGER_H
#define JRN_LEDGER_H

#include "jrn.h"

typedef struct jrn_ledger jrn_ledger;

/* One row of the ledger as a call gives it: what claim and record write.
 * NULL strings (and false has_ flags) are SQL NULLs. */
typedef struct {
	const char *key;          /* the idempotency key (required) */
	const char *customer;     /* customer_id (claim) */
	const char *channel;      /* "email", "sms", ... (claim; required there) */
	const char *campaign;     /* campaign_id (claim) */
	const char *status;       /* the status to write (see the states above) */
	const char *provider;     /* the provider's name */
	const char *message_id;   /* the provider's id of the message */
	int attempts;             /* attempts in all */
	const char *error;        /* record: why it failed, error_len bytes */
	size_t error_len;
	bool has_cost;            /* cost: money, in the provider's unit */
	double cost;
	bool has_segments;        /* segments: SMS segments */
	int segments;
	const char *record;       /* claim: the action as read, record_len bytes */
	size_t record_len;
	int64_t now;              /* claimed_at / updated_at */
} jrn_delivery;

/* A ledger over db (borrowed: it must outlive the ledger), its statements
 * prepared. NULL with e when they cannot be (a state file older than
 * schema 3, or out of memory). */
jrn_ledger *jrn_ledger_open(sqlite3 *db, jrn_err *e);
/* Finalises the statements; NULL is fine. The db stays open. */
void jrn_ledger_close(jrn_ledger *L);

/* Claims d->key: a new row with d's key, customer, channel, campaign,
 * status ("sending", "queued", or "simulated" for a send recorded in the
 * same write), provider, message_id, attempts, cost, segments, record,
 * claimed_at = updated_at = now. A key whose row is failed, suppressed or
 * rejected (or simulated, when over_simulated) is taken again: the row is
 * overwritten and its error cleared. 1 claimed, 0 held already (someone
 * else's claim or a final send), -1 with e. */
int jrn_ledger_claim(jrn_ledger *L, const jrn_delivery *d, bool over_simulated, jrn_err *e);

/* Records the outcome of a claim: status, provider, message_id, attempts,
 * error, cost, segments and updated_at = now of the row of d->key (what d
 * leaves NULL becomes NULL). 0 or -1 with e. */
int jrn_ledger_record(jrn_ledger *L, const jrn_delivery *d, jrn_err *e);

/* Puts key into the outbox: due at send_at, on the chain's provider index
 * provider after attempt attempts, with the action record[0..len) as read;
 * replaces the key's row if it has one. The delivery row (queued) is the
 * caller's: claim or record it in the same transaction. 0 or -1 with e. */
int jrn_ledger_queue(jrn_ledger *L, const char *key, int64_t send_at, int provider,
		     int attempt, const char *record, size_t len, jrn_err *e);

/* What the ledger holds of key: copies (malloc'd, NULL for SQL NULL) the
 * caller frees with jrn_ledger_entry_free. */
typedef struct {
	char *status, *provider, *message_id;
} jrn_ledger_entry;
/* 1 found (*out filled), 0 no such key, -1 with e (out empty). */
int jrn_ledger_get(jrn_ledger *L, const char *key, jrn_ledger_entry *out, jrn_err *e);
void jrn_ledger_entry_free(jrn_ledger_entry *x);

/* The outbox rows due at now (send_at <= now), oldest first (send_at, key),
 * at most limit of them from offset on: fn(ctx, key, provider, attempt,
 * record, len) for each (strings valid during the call). The rows stay:
 * claim_due takes them. fn returns 0 to go on or a value other than 0 and -1
 * that stops the walk and is returned. Otherwise the number of rows, or -1
 * with e. */
typedef int jrn_ledger_due_fn(void *ctx, const char *key, int provider, int attempt,
			      const char *record, size_t len);
int64_t jrn_ledger_due(jrn_ledger *L, int64_t now, int limit, int64_t offset,
		       jrn_ledger_due_fn *fn, void *ctx, jrn_err *e);

/* Takes a due key: its row moves from queued to sending (claimed_at =
 * updated_at = now) and its outbox row goes, whether or not the row was
 * still queued. 1 taken, 0 not queued any more (another run took it), -1
 * with e. */
int jrn_ledger_claim_due(jrn_ledger *L, const char *key, int64_t now, jrn_err *e);

/* The claims nobody recorded (status sending), oldest first (claimed_at,
 * key): fn(ctx, key, record, len, provider or NULL, attempts, claimed_at)
 * for each; fn's return as for jrn_ledger_due. The number of rows or -1
 * with e. Read the rows whole before taking any over: taking them over
 * changes the rows this walks. */
typedef int jrn_ledger_stuck_fn(void *ctx, const char *key, const char *record, size_t len,
				const char *provider, int attempts, int64_t claimed_at);
int64_t jrn_ledger_stuck(jrn_ledger *L, jrn_ledger_stuck_fn *fn, void *ctx, jrn_err *e);

/* Takes over a stuck claim of key, but only if it is still the claim as
 * read (status sending, claimed_at == claimed_at): claimed_at becomes the
 * later of now and claimed_at + 1, so two runs that read the same claim
 * cannot both take it. 1 taken, 0 someone else did (or it was recorded),
 * -1 with e. */
int jrn_ledger_take_over(jrn_ledger *L, const char *key, int64_t claimed_at, int64_t now,
			 jrn_err *e);

/* Cancels a queued send (jrn queue cancel): the row of key moves from
 * queued to failed with error = reason (non-empty) and updated_at = now,
 * and its outbox row goes. Failed, the key may be claimed again: a later
 * run that derives the same key sends it. 1 cancelled, 0 when key is not
 * queued (no such key, or another status), -1 with e. */
int jrn_ledger_cancel(jrn_ledger *L, const char *key, const char *reason, int64_t now,
		      jrn_err *e);

/* How many deliveries customer had on channel (NULL: every channel) claimed
 * in [since, until): rows sending, queued, sent or simulated (what went or
 * will go out; failed, suppressed and rejected ones did not reach the
 * customer). For frequency caps. 0 with *n set, or -1 with e. */
int jrn_ledger_count(jrn_ledger *L, const char *customer, const char *channel, int64_t since,
		     int64_t until, int64_t *n, jrn_err *e);

/* ---- for jrn-route's frequency caps --------------------------------------- */

/* A reader of a customer's recent deliveries, over db (borrowed: it must
 * outlive the reader), its statement prepared once: NULL with e when it
 * cannot be (a state file older than schema 3, or out of memory). Kept
 * apart from jrn_ledger so that the ledger's handle stays as it is. */
typedef struct jrn_ledger_recent jrn_ledger_recent;
jrn_ledger_recent *jrn_ledger_recent_open(sqlite3 *db, jrn_err *e);
/* Finalises the statement; NULL is fine. The db stays open. */
void jrn_ledger_recent_close(jrn_ledger_recent *R);

/* The deliveries of customer claimed at or after since that went or will go
 * out (status sending, queued, sent or simulated, as jrn_ledger_count
 * counts): fn(ctx, channel, claimed_at) for each, in no order (channel
 * valid during the call). fn returns 0 to go on; anything else stops the
 * walk and is returned. Otherwise the number of rows, or -1 with e. */
typedef int jrn_ledger_recent_fn(void *ctx, const char *channel, int64_t claimed_at);
int64_t jrn_ledger_recent_walk(jrn_ledger_recent *R, const char *customer, int64_t since,
			       jrn_ledger_recent_fn *fn, void *ctx, jrn_err *e);

/* ---- jrn privacy erase ------------------------------------------------------ */

/* In the scope jrn_privacy_scope built on db (privacy.h): deletes the
 * deliveries of the linked ids and those whose recipientEmail or
 * recipientPhone is an erased value, with their outbox rows, and scrubs
 * the kept rows' records that name a value. *keys (an array) gets the
 * keys of the deliveries deleted, for their spool files.
 * Adds the rows changed to *counts (an object: {"TABLE": N}, scrubbed
 * rows as "TABLE.scrubbed"). Inside the caller's transaction. 0, or -1
 * with e naming the table. */
int jrn_ledger_erase(sqlite3 *db, jv *counts, jv *keys, jrn_err *e);

/* ---- jrn partition export|import|drop (jrn.h) ----------------------------- */

/* One step (JRN_PART_EXPORT, _IMPORT, _DROP) of moving a partition, for
 * deliveries (the rows whose customer_id is one of the partition's; a row
 * without a customer stays where it is) and their outbox rows. Import
 * gives each delivery seq + the offset of "deliveries" (temp.jrn_part_off)
 * and sets a record's "enrollment" to its new id (temp.jrn_part_enr).
 * Uses the attached schema and temp tables jrn.h describes, inside the
 * caller's transaction; adds the rows written to *counts. 0, or -1 with
 * e naming the table (a key here already: "deliveries: UNIQUE constraint
 * failed"). */
int jrn_ledger_partition(sqlite3 *db, int step, jv *counts, jrn_err *e);

#endif
