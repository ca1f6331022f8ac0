/*
 * privacy.h: erased customers. The state file's own key (table state_keys,
 * name "privacy"), the keyed hash of an erased value (table erasures), the
 * question "is this id, e-mail address or phone number erased?" that
 * jrn-ingest and lib/reach.c ask, and the scope of one `jrn privacy
 * export|erase`: the customer's linked ids and addresses, which the erase
 * functions of lib/profile.c, lib/reach.c, lib/ledger.c and this file
 * read from temporary tables. The rules are the GDPR's (Regulation (EU)
 * 2016/679): art. 17 (erasure) and art. 20 (portability); the hash is
 * HMAC-SHA-256 (RFC 2104, FIPS 180-4) through OpenSSL.
 *
 * The key
 *   - 32 random bytes (OpenSSL RAND_bytes), made once by the first erase
 *     and kept in state_keys (name "privacy"). A copy of the state file
 *     carries its key: whoever holds the file can test a guessed address
 *     against erasures; without the file the hashes reveal nothing. The
 *     key is never printed.
 *
 * The hash (table erasures, column hash)
 *   - Lower-case hex HMAC-SHA-256 under the key of the value's bytes as
 *     the state file holds them: an id as given, an e-mail address as
 *     jrn_email_normalize gives it, a phone number in E.164 (the erase
 *     also hashes the normal form of an address stored otherwise). No
 *     kind is mixed in: a value is erased whatever field names it.
 *
 * The question (jrn_privacy_erased)
 *   - jrn_privacy_open reads erasures once: empty (the common case), and
 *     every question is answered "no" at once, without hashing; else it
 *     reads the key and every hash into memory (32 bytes each, sorted) and
 *     a question is one HMAC and a binary search, no I/O, the answer
 *     remembered for the next time the value is asked (at most
 *     JRN_PRIVACY_CACHE values, then the memory starts afresh). An erase done
 *     after the handle was opened is seen by the next run (jrn-ingest
 *     --listen: at its next start).
 *
 * The scope of an export or erase (jrn_privacy_scope)
 *   - ids: the customer, and every id linked to it, to a fixed point:
 *     identities of kind "id" both ways, merges that stand (not undone)
 *     both ways. An undone merge joined two people who are not one: it is
 *     not followed (an erase deletes its row, which holds the customer's
 *     profile as it was). At most JRN_PRIVACY_MAX_IDS ids.
 *   - addresses: the e-mail addresses and phone numbers of those ids: the
 *     profiles' email and phone, identities of kind email and phone, and
 *     the string values of e-mail and phone keys (email, phone, any key
 *     ending in Email or Phone, and the extra names given) in their
 *     events' bodies and their deliveries' records. An address another
 *     customer also holds (a household phone: a profile, an identity, or
 *     an event's e-mail or phone key of a customer outside the ids) is
 *     shared: it is the other customer's
 *     data too, so it is kept, neither deleted nor hashed, and counted as
 *     "shared".
 *   - The temporary tables temp.jrn_erase_ids(v), temp.jrn_erase_addrs(v)
 *     and temp.jrn_erase_vals(v) (both) hold them, and two SQL functions
 *     are registered on the connection: jrn_names(TEXT) is 1 when the text
 *     names a value (an id as a whole JSON string, an address within a
 *     string, as a whole: not inside a longer address) and jrn_scrub(TEXT)
 *     returns the text with each such string replaced by "<erased>" (an
 *     address inside a longer string: that part); text that is not JSON
 *     has each address replaced where it appears.
 *
 * Use: one thread at a time per handle. Nothing here begins or commits:
 * the caller owns the transaction.
 */
#ifndef JRN_PRIVACY_H
#define JRN_PRIVACY_H

#include "jrn.h"

/* The key's name in state_keys, and its size in bytes. */
#define JRN_PRIVACY_KEY_NAME "privacy"
#define JRN_PRIVACY_KEY_BYTES 32
/* The most ids one customer's scope may link (a longer chain or a bigger
 * cluster is refused: "more than 10000 linked ids"). */
#define JRN_PRIVACY_MAX_IDS 10000
/* What replaces an erased value in the rows that are kept. */
#define JRN_PRIVACY_ERASED "<erased>"
/* jrn_privacy_erased remembers the answers for up to this many distinct
 * values (a customer's id and addresses come again with each event), then
 * forgets them all and starts afresh: about 64 bytes a value. */
#define JRN_PRIVACY_CACHE (1 << 20)

typedef struct jrn_privacy jrn_privacy;

/* Reads erasures of db (borrowed; it must outlive the handle) once, and
 * when it has rows the key and the hashes. NULL with e: SQLite's message,
 * "erasures has rows but state_keys has no privacy key", out of memory. */
jrn_privacy *jrn_privacy_open(sqlite3 *db, jrn_err *e);
/* Frees P; NULL is a no-op. */
void jrn_privacy_close(jrn_privacy *P);
/* How many erased hashes P holds (0: every question is "no"). */
size_t jrn_privacy_count(const jrn_privacy *P);
/* Is s[0..n) erased? 1 yes, 0 no (also for P NULL), -1 when OpenSSL
 * fails (the caller decides; jrn-ingest stops, reach.c refuses). No I/O. */
int jrn_privacy_erased(jrn_privacy *P, const char *s, size_t n);

/* The state file's key into key: 1 read, 0 absent (and create false), 1
 * made (create true: JRN_PRIVACY_KEY_BYTES from RAND_bytes, written in the
 * caller's transaction), -1 with e (SQLite, a stored key of another size,
 * RAND_bytes failing). */
int jrn_privacy_key(sqlite3 *db, bool create, unsigned char key[JRN_PRIVACY_KEY_BYTES],
		    jrn_err *e);
/* The lower-case hex HMAC-SHA-256 of s[0..n) under key into hex[65].
 * 0, or -1 (hex empty) when OpenSSL fails. */
int jrn_privacy_hash(const unsigned char key[JRN_PRIVACY_KEY_BYTES], const char *s, size_t n,
		     char hex[65]);

/* ---- the scope of one export or erase ------------------------------------ */

typedef struct {
	int64_t ids;    /* linked ids, the customer included */
	int64_t addrs;  /* its own e-mail addresses and phone numbers */
	int64_t shared; /* addresses kept because another customer has them */
	bool known;     /* some row of the state file names an id */
} jrn_privacy_scope_info;

/* Builds the scope of customer (a checked id) as the top comment says:
 * fills the temporary tables, registers jrn_names and jrn_scrub. region
 * (ISO 3166 alpha-2) normalises phone numbers; fields (NULL-terminated,
 * may be NULL) names further e-mail and phone keys (ingest.emailFields,
 * ingest.phoneFields). Run it again for another customer on the same
 * connection: the tables are emptied first. 0 with *info, or -1 with e. */
int jrn_privacy_scope(sqlite3 *db, const char *customer, const char *region,
		      const char *const *fields, jrn_privacy_scope_info *info, jrn_err *e);

/* In the scope built: deletes the rows of events, scores, rfm_snapshots,
 * segment_members, segment_snapshots and source_cache that belong to a
 * linked id, scrubs the kept rows' JSON (events.body, scores.body,
 * source_cache.body) and audit.args that name a value, and adds to *counts
 * (an object, {"events":N,...}; anonymised rows as "TABLE.scrubbed"). The
 * consent rows that rest on the events must go first (jrn_reach_erase).
 * 0, or -1 with e. */
int jrn_privacy_erase_rest(sqlite3 *db, jv *counts, jrn_err *e);

/* In the scope built: writes into erasures the hash under key of every
 * linked id and address (and the normal form of an address stored
 * otherwise), at ts. The number of new rows, or -1 with e. */
int64_t jrn_privacy_record(sqlite3 *db, const unsigned char key[JRN_PRIVACY_KEY_BYTES],
			   int64_t ts, jrn_err *e);

/* Adds n to (*counts)[name] when n > 0 (counts an object, consumed and
 * replaced). For the erase functions of the other modules. */
void jrn_privacy_count_add(jv *counts, const char *name, int64_t n);

/* Runs steps[0..n) on db in the caller's transaction, each {name, SQL}
 * (the SQL stays in the file that owns its table: profile.c, reach.c,
 * ledger.c), adding each one's changed rows to (*counts)[name] as
 * jrn_privacy_count_add does. 0, or -1 with e ("NAME: SQLite's message")
 * at the first that fails. */
int jrn_privacy_steps(sqlite3 *db, const char *const (*steps)[2], size_t n, jv *counts,
		      jrn_err *e);

#endif
