/*
 * profile.h: who a customer is. The unified profile (email, phone, name,
 * firstName, locale, timeZone, country, createdAt, and traits: any other
 * key), where each field came from, which ids, e-mail addresses and phone
 * numbers belong to whom, and merges of two customers into one. This
 * module is the only writer of the state file's profiles, identities and
 * merges tables (their columns: jrn-state(5)); jrn-ingest (identify and
 * alias events) and jrn-merge --save write through it.
 *
 * The field rule (every write of a field, jrn_profile_apply)
 *   - Each field set remembers its provenance: the source that set it
 *     ("identify", a source name of jrn.yaml's sources:, "merge" keeps the
 *     merged profile's own) and the time of its value.
 *   - A new value replaces the field when its source has a higher
 *     precedence, or the same precedence and a time not older (of two
 *     equal, the one written last). Precedence: sources.precedence, a list
 *     of source names, the first the highest; a source not listed is below
 *     every listed one. So a CRM listed first keeps its e-mail address
 *     against a newer identify call, and among unlisted sources the newest
 *     value wins.
 *   - null is a value: it clears the field (under the same rule).
 *   - The unified fields are read from these keys of what a source gives:
 *     email, phone, name, firstName (or first_name), locale, timeZone (or
 *     timezone), country (or address.country), createdAt (an RFC 3339 time
 *     or a date; any other value stays a trait). Every other key is a trait
 *     (traits.KEY), set by the same rule one key at a time.
 *
 * Identities (table identities: kind, value, customer)
 *   - Kinds: "id" (a customer id that names another customer now: an
 *     alias's previousId, an identify call's anonymousId, a customer merged
 *     away), "email", "phone". An id link is unique per value; email and
 *     phone values may belong to several customers (a household phone).
 *   - email and phone are kept in one spelling, so that sources agree:
 *     an e-mail address trimmed and lower-cased (jrn_email_normalize), a
 *     phone number in E.164 (jrn_phone_e164; without + it is read in
 *     ingest.defaultCountry); a value that is not a valid address stays
 *     as written.
 *   - Every email or phone value a source gives is claimed for the
 *     customer (rows are kept: the claim history counts claimants).
 *   - A claim of a value that other customers hold merges them into the
 *     claiming customer, unless the value is shared: claimed by more than
 *     sources.sharedLimit customer ids (default 2; 1: never merge on a
 *     value), or the two were unmerged before (an undone merge is never
 *     redone by a claim).
 *   - An alias (previousId, userId) or an identify call's anonymousId
 *     links the id to the customer; when the id is a known customer (a
 *     profile or events), that customer is merged in (reason "alias",
 *     "identify: anonymousId").
 *   - jrn_profile_resolve follows id links to the customer an id names now.
 *
 * Merges (table merges)
 *   - Merging F into I: F's fields are applied to I's profile by the field
 *     rule with their own provenance, F's profile row goes, the id link
 *     F -> I is written, and a merges row records both profiles as they
 *     were and the reason (a kind of value, never the value).
 *   - Unmerging restores both profiles as they were before the merge
 *     (fields written to I since are lost; replaying the events or
 *     jrn-merge --save sets them again), drops the id link and marks the
 *     row undone.
 *
 * Use: P = jrn_profile_open(db, cfg, &e) over a state file from
 * jrn_db_open. The caller owns the transaction (nothing here begins,
 * commits or rolls back). One thread at a time per handle. Customer ids
 * are C strings the caller checked (jrn_id_check).
 */
#ifndef JRN_PROFILE_H
#define JRN_PROFILE_H

#include "jrn.h"

typedef struct jrn_profile jrn_profile;

/* Default of sources.sharedLimit. */
#define JRN_PROFILE_SHARED_LIMIT 2
/* How many id links jrn_profile_resolve follows (a longer chain fails). */
#define JRN_PROFILE_MAX_CHAIN 64

/* A handle over db (borrowed) reading sources.precedence and
 * sources.sharedLimit of cfg (borrowed; {} or null: the defaults). NULL
 * with e: statements that cannot be prepared (SQLite's message), a bad
 * config value ("sources.precedence: expected a list of source names"),
 * or out of memory. */
jrn_profile *jrn_profile_open(sqlite3 *db, jv cfg, jrn_err *e);
/* Finalises the statements; NULL is a no-op. */
void jrn_profile_close(jrn_profile *P);

/* The precedence of source (0: not listed; higher wins). */
int jrn_profile_rank(const jrn_profile *P, const char *source);

/* Applies the members of values (consumed; an object as a source gives
 * it, see the top comment) to customer's profile from source at ts (ms),
 * creating the profile when there is none, and claims its email and phone
 * values (which may merge). The number of fields that changed (0: none),
 * or -1 with e (SQLite's message, or "values: expected an object"). */
int jrn_profile_apply(jrn_profile *P, const char *customer, jv values, const char *source,
		      int64_t ts, jrn_err *e);

/* Applies values (consumed; not an object: nothing) to *profile (an object
 * as jrn_profile_get gives it, or {"customerId"}) in memory under the
 * field rule, writing nothing and claiming nothing: what a save would do.
 * The number of fields changed; *changed (an array, when not NULL) gets
 * each changed field's path ("email", "traits.plan"). */
int jrn_profile_fold(const jrn_profile *P, jv *profile, jv values, const char *source, int64_t ts,
		     jv *changed);

/* Claims value (kind "email" or "phone") for customer, merging as the top
 * comment says; or links an id (kind "id") to customer, merging it in when
 * it is a known customer. reason names the merge ("alias"). The number of
 * merges done, or -1 with e. */
int jrn_profile_link(jrn_profile *P, const char *customer, const char *kind, const char *value,
		     const char *source, const char *reason, int64_t ts, jrn_err *e);

/* Merges customer from into customer into (see the top comment), at ts,
 * with reason (non-empty). 1 merged (*id, when not NULL, gets the merges
 * row's id), 0 nothing to do (the same customer), -1 with e. */
int jrn_profile_merge(jrn_profile *P, const char *from, const char *into, const char *reason,
		      int64_t ts, int64_t *id, jrn_err *e);

/* Undoes merge id at ts. 0, or -1 with e ("merge 7: no such merge",
 * "merge 7: undone already", "merge 7: u-7 was merged into u-8 since:
 * undo that merge first": merges are undone newest first). */
int jrn_profile_unmerge(jrn_profile *P, int64_t id, int64_t ts, jrn_err *e);

/* The customer id names now (following id links), as a C string owned by
 * P valid until the next call on P; id itself when it has no link. NULL
 * with e on a SQLite error or a chain longer than JRN_PROFILE_MAX_CHAIN. */
const char *jrn_profile_resolve(jrn_profile *P, const char *id, jrn_err *e);

/* customer's stored profile: {"customerId", the unified fields set,
 * "createdAt" as RFC 3339, "traits":{}, "provenance":{FIELD:{"source",
 * "at"}}, "updatedAt"}; jv_null() when it has none; jv_invalid with e on
 * error. The caller owns the result. Does not resolve customer. */
jv jrn_profile_get(jrn_profile *P, const char *customer, jrn_err *e);

/* What jrn-ingest calls for each event it newly stores (type[0..tn), the
 * stored body[0..bn) as JSON text, its time ts): an "identify" event
 * applies its traits (source "identify") and links its anonymousId; an
 * "alias" event links its previousId. Other types return 0 at once. The
 * number of fields changed and merges done, or -1 with e (the body is
 * not a JSON object, SQLite). */
int jrn_profile_event(jrn_profile *P, const char *type, size_t tn, const char *body, size_t bn,
		      int64_t ts, jrn_err *e);

/* ---- jrn privacy erase ------------------------------------------------------ */

/* In the scope jrn_privacy_scope built on db (privacy.h): deletes the
 * profiles of the linked ids, their identities (and the id links naming
 * them, and identities of their addresses), the merges rows naming them
 * (standing or undone), and scrubs the kept profiles' traits and merges'
 * moved that name a value.
 * Adds the rows changed to *counts (an object: {"TABLE": N}, scrubbed
 * rows as "TABLE.scrubbed"). Inside the caller's transaction. 0, or -1
 * with e naming the table. */
int jrn_profile_erase(sqlite3 *db, jv *counts, jrn_err *e);

/* ---- jrn partition export|import|drop (jrn.h) ----------------------------- */

/* One step (JRN_PART_EXPORT, _IMPORT, _DROP) of moving a partition, for
 * profiles and identities (the rows whose customer_id is one of the
 * partition's) and merges (those into one of its customers: the customer
 * that stands owns the log). Import gives each merge id + the offset of
 * "merges" (temp.jrn_part_off). Uses the attached schema and temp tables
 * jrn.h describes, inside the caller's transaction; adds the rows written
 * to *counts. 0, or -1 with e naming the table. */
int jrn_profile_partition(sqlite3 *db, int step, jv *counts, jrn_err *e);

#endif
