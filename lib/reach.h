/*
 * reach.h: who may be contacted. Consent and suppressions, and the one
 * answer to "may we contact customer C on channel X for a marketing or a
 * transactional message?". This module is the only writer of the state
 * file's consent and suppressions tables (their columns: jrn-state(5)).
 *
 * Consent (table consent: one row per customer and channel)
 *   - A row's status is granted or revoked. Its channel is the name the
 *     consent event gave in properties.channel (email, sms, whatsapp,
 *     webhook, retargeting, or any other); the channel "all" speaks for
 *     every channel.
 *   - Written from consent.granted / consent.revoked events: the newest
 *     event wins by its time; of two with the same time, the one written
 *     last (jrn-ingest(1): "the one read last"). An older event leaves the
 *     row as it is. Only events newly stored are written (the caller's
 *     rule: a duplicate event is not news).
 *   - Read for channel X: the rows of X and of "all". Revoked in either is
 *     revoked (a refusal is never outweighed by a grant elsewhere); else
 *     granted in either is granted; else none.
 *   - No row ("none") is no refusal: jrn is opt-out, it records refusals.
 *     A marketing message and a transactional one may both go; a granted
 *     row is kept as the proof of consent, it is not required.
 *   - Revoked blocks marketing and transactional messages alike on that
 *     channel. This is what jrn-send has always done (it looks consent up
 *     for every message, whatever its category); the purpose is part of
 *     the question so that callers state it, and both purposes get the
 *     same answer today.
 *
 * Suppressions (table suppressions: one row per address and channel)
 *   - An address that must not be contacted on a channel ("all": on every
 *     channel), with a reason. jrn-send writes bounced (SMTP 550 to 553 on
 *     a recipient), invalid (Twilio 21211, 21614, 21612) and unsubscribed
 *     (Twilio 21610, the recipient sent STOP); operators add their own
 *     (complained, or any word). Every reason blocks every message on its
 *     channel, marketing and transactional: a bounced or invalid address
 *     cannot receive, and a stop recorded against an address is one the
 *     carriers enforce themselves. The reason is reported, never judged.
 *   - Lifted only by an operator (jrn_reach_unsuppress, jrn suppressions
 *     remove), never by a tool.
 *   - Written once: the first suppression of an address on a channel
 *     stays (its reason and time are the record); a later one changes
 *     nothing.
 *   - Addresses match byte for byte. Writers and askers pass the normal
 *     form jrn-ingest stores: e-mail addresses as jrn_email_normalize
 *     gives them, phone numbers in E.164 (jrn_phone_e164). This module
 *     does not normalise (a phone number would need its region).
 *
 * The question (jrn_reach_may): first erasures (privacy.h): when the
 * customer id or an asked address was erased by jrn privacy erase, the
 * answer is JRN_REACH_SUPPRESSED with reason "erased" (read once, when the
 * handle is opened; nothing is hashed while erasures is empty); then the
 * suppressions, any of the asked
 * addresses on the channel or on "all"; then the customer's consent for
 * the channel, as read above. A channel of NULL asks about every channel
 * at once: a suppression or a revoked consent on any channel blocks (this
 * is jrn-segment --count's "reachable", jrn-segment(1)).
 *
 * What stays the caller's, as parameters:
 *   - Which addresses are looked up. jrn-send asks about the recipient of
 *     the message; jrn-segment --count about the profile's customerId (an
 *     operator may suppress a customer id as an address), email and phone,
 *     as they stand in the profile.
 *   - A profile's own consent object (jrn-segment --count reads it beside
 *     the state file): jrn_reach_profile_refuses.
 *
 * Use: R = jrn_reach_open(db, &e) over a state file from jrn_db_open; its
 * statements are prepared once and reused, with bound parameters only.
 * The caller owns the transaction: nothing here begins, commits or rolls
 * back, so a batch of writes (or of lookups) goes in one transaction of
 * the caller's (jrn_db_begin / jrn_db_commit), and a rollback undoes the
 * writes. One thread at a time per handle, as for its connection. Errors
 * carry SQLite's message as it is, so tools keep their wording.
 */
#ifndef JRN_REACH_H
#define JRN_REACH_H

#include <string.h>

#include "jrn.h"

typedef struct jrn_reach jrn_reach;

/* A string given by pointer and length (not necessarily NUL-terminated, so
 * spans of a tool's buffers bind as they are). p NULL: none. Borrowed for
 * the length of the call. */
typedef struct {
	const char *p;
	size_t n;
} jrn_reach_text;

/* A C string as a jrn_reach_text (NULL stays none). */
static inline jrn_reach_text jrn_reach_str(const char *s)
{
	return (jrn_reach_text){s, s ? strlen(s) : 0};
}

/* A consent status as read: no row, granted, revoked. */
typedef enum { JRN_REACH_NONE, JRN_REACH_GRANTED, JRN_REACH_REVOKED } jrn_reach_status;

/* What the message is for. See the top comment: both get the same answer
 * today. */
typedef enum { JRN_REACH_MARKETING, JRN_REACH_TRANSACTIONAL } jrn_reach_purpose;

/* A handle over db (borrowed: it must outlive the handle) with the
 * statements prepared; NULL with SQLite's message in e when they cannot be
 * (a file without the schema), or "out of memory". */
jrn_reach *jrn_reach_open(sqlite3 *db, jrn_err *e);
/* Finalises the statements (db stays open). NULL is a no-op. */
void jrn_reach_close(jrn_reach *R);

/* ---- consent ---------------------------------------------------------------- */

/* One consent event. */
typedef struct {
	jrn_reach_text customer; /* customerId, non-empty */
	jrn_reach_text channel;  /* properties.channel, non-empty */
	jrn_reach_status status; /* JRN_REACH_GRANTED or JRN_REACH_REVOKED */
	int64_t ts;              /* the event's time, ms since the epoch (UTC) */
	jrn_reach_text source;   /* properties.source; none: SQL NULL */
	jrn_reach_text event_id; /* the stored event's id (a foreign key into
				  * events: the event must be stored first) */
} jrn_reach_consent;

/* Writes c under newest wins: 1 when it became the customer's consent for
 * the channel (no row, an older one, or one of the same time), 0 when the
 * row holds a newer event and stays, -1 with SQLite's message in e (also
 * for a status other than granted or revoked: "bad consent status"). */
int jrn_reach_consent_set(jrn_reach *R, const jrn_reach_consent *c, jrn_err *e);

/* The customer's consent for channel (a C string; NULL: any channel, so
 * revoked when any row is revoked, else granted when any is granted), as
 * the top comment reads it: JRN_REACH_NONE, _GRANTED or _REVOKED, or -1
 * with SQLite's message in e. */
int jrn_reach_consent_get(jrn_reach *R, jrn_reach_text customer, const char *channel,
			  jrn_err *e);

/* ---- suppressions ------------------------------------------------------------ */

/* Suppresses address (normal form) on channel ("all": every channel) for
 * reason (non-empty), at ts (ms), with source (NULL: SQL NULL; jrn-send
 * writes "smtp:550", "twilio:21211"). 1 when added, 0 when the address was
 * suppressed on that channel already (the first stays), -1 with SQLite's
 * message in e. */
int jrn_reach_suppress(jrn_reach *R, jrn_reach_text address, const char *channel,
		       const char *reason, int64_t ts, const char *source, jrn_err *e);

/* Lifts the suppressions of address (normal form) on channel (a C string,
 * that row only: "all" lifts the "all" row; NULL: every channel), as an
 * operator does (jrn suppressions remove). The number of rows removed
 * (0: none), or -1 with SQLite's message in e. */
int jrn_reach_unsuppress(jrn_reach *R, jrn_reach_text address, const char *channel, jrn_err *e);

/* Is address suppressed on channel (a C string: its rows and "all"; NULL:
 * any channel)? 1 with *reason set to the row's reason (owned by R, valid
 * until the next call on R; reason may be NULL), 0 when not, -1 with
 * SQLite's message in e. */
int jrn_reach_suppressed(jrn_reach *R, jrn_reach_text address, const char *channel,
			 const char **reason, jrn_err *e);

/* ---- the question -------------------------------------------------------------- */

typedef struct {
	jrn_reach_text customer;          /* consent is looked up by it; none: not */
	const jrn_reach_text *addresses;  /* suppressions are looked up by these */
	size_t naddresses;                /* (entries with p NULL are skipped) */
	const char *channel;              /* "email", "sms"...; NULL: every channel */
	jrn_reach_purpose purpose;
} jrn_reach_ask;

typedef enum {
	JRN_REACH_MAY,        /* nothing blocks */
	JRN_REACH_SUPPRESSED, /* an address is suppressed: reason, address */
	JRN_REACH_REFUSED,    /* the customer's consent is revoked */
} jrn_reach_answer;

typedef struct {
	jrn_reach_answer answer;
	const char *reason;   /* SUPPRESSED: the suppression's reason (owned by
			       * R, valid until the next call on R) */
	size_t address;       /* SUPPRESSED: the index in q->addresses of an
			       * address found suppressed */
	const char *failed;   /* on -1: "suppressions" or "consent", the table
			       * that could not be read (with up to three
			       * addresses one statement reads both, and a
			       * failure says "suppressions", read first) */
} jrn_reach_verdict;

/* Answers q as the top comment says: 1 when the message may go, 0 when it
 * may not (v says why), -1 when the state file could not say (v->failed
 * names the table, e holds SQLite's message; then nothing may be sent). */
int jrn_reach_may(jrn_reach *R, const jrn_reach_ask *q, jrn_reach_verdict *v, jrn_err *e);

/* The memo (on: false when made, off again with on false): jrn_reach_may
 * first looks q up in memory, in the hashes of every suppressed address
 * and of every customer with a consent row; when none of q's is there, q
 * may go (1) without a statement; else the statements answer as without
 * the memo, so the answers are the same. The memo is read again whenever
 * PRAGMA data_version (asked once a call) says another connection has
 * committed, and is not used while either table has more than 65,536 rows
 * (the limit: then every call reads the state file, as without it). A
 * process that writes consent or suppressions (any jrn_reach_* write,
 * any handle) uses no memo from its first write on, since its own writes
 * and their rollback do not change PRAGMA data_version. For a reader that
 * asks many times (jrn-route's gate). Returns 0, or -1 with SQLite's
 * message in e (the memo then off). */
int jrn_reach_memo(jrn_reach *R, bool on, jrn_err *e);
/* Names the caller's transaction for the memo: tx is any number that
 * changes whenever a transaction on R's connection ends (jrn-route's
 * store counts them in its commit and rollback hooks), 0 for none. While
 * it stays the same and the connection is inside a transaction, the memo
 * is not checked against PRAGMA data_version again: no other connection's
 * commit shows inside a transaction (a WAL read snapshot, or the write
 * lock of BEGIN IMMEDIATE). Asking once a transaction, not once a call,
 * spares a statement per call; jrn-route's gate asks from the thread
 * beside the one that writes its decisions, and a statement a call
 * contended with it for the connection. */
void jrn_reach_memo_tx(jrn_reach *R, unsigned tx);

/* A profile's own consent object, as jrn-segment reads it: members
 * {"email": "revoked"} or {"email": {"status": "revoked"}}; a status of
 * "revoked", "unsubscribed" or false refuses. True when it refuses channel
 * (its member or "all"; NULL: any member). Anything but an object refuses
 * nothing. Borrows consent. */
bool jrn_reach_profile_refuses(jv consent, const char *channel);

/* ---- jrn privacy erase ------------------------------------------------------ */

/* In the scope jrn_privacy_scope built on db (privacy.h): deletes the
 * consent rows of the linked ids and the suppressions of every linked id
 * and address (jrn_reach_may answers "erased" for them from now on).
 * Adds the rows changed to *counts (an object: {"TABLE": N}, scrubbed
 * rows as "TABLE.scrubbed"). Inside the caller's transaction. 0, or -1
 * with e naming the table. */
int jrn_reach_erase(sqlite3 *db, jv *counts, jrn_err *e);

/* ---- jrn partition export|import|drop (jrn.h) ----------------------------- */

/* One step (JRN_PART_EXPORT, _IMPORT, _DROP) of moving a partition, for
 * consent (the partition's customers' rows: copied, or deleted by drop)
 * and suppressions (global, by address: export copies them all, import
 * adds those missing here and keeps a row here over the file's, drop
 * leaves them). Uses the attached schema and temp tables jrn.h describes;
 * inside the caller's transaction; consent rests on events (event_id), so
 * events go first on export and import, consent first on drop. Adds the
 * rows written to *counts. 0, or -1 with e naming the table. */
int jrn_reach_partition(sqlite3 *db, int step, jv *counts, jrn_err *e);

#endif
