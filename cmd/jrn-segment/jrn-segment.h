/*
 * jrn-segment.h: what the parts of jrn-segment share. main.c holds the
 * options, the run and the state file's memberships; consent.c completes
 * a streamed profile that lacks "consent" from the state file when a
 * wanted segment's rule reads it (jrn-segment(1), "CONSENT OF STREAMED
 * PROFILES"), so a revoked customer is never read as "not revoked";
 * record.c reads a record's customerId.
 */
#ifndef JRN_SEGMENT_H
#define JRN_SEGMENT_H

#include "jrn.h"
#include "rules.h"

/* Whether a field leaf of a wanted segment of r (only: that one; -1:
 * every one) reads the profile member "consent". */
bool seg_reads_consent(const jrn_rules *r, int only);

/* Opens the consent reader over db (borrowed: it must outlive
 * seg_consent_close). 0 or -1 with e. */
int seg_consent_open(sqlite3 *db, jrn_err *e);
/* Closes it; a no-op when not open. */
void seg_consent_close(void);

/* When rr (a profile record) has no top-level "consent": *full becomes
 * rr's text with "consent" added as the state file holds it for the
 * customer cid[0..clen) (jrn_profile_consent: the --all profile's), its
 * own index and value (full->v the caller's to jv_free; the text is valid
 * until the next call). Otherwise full->p is NULL. 0; 1 when the record
 * cannot be completed (no customerId, or no state file: no_state is why,
 * NULL when open): why says so, to reject it; -1 with why on a state file
 * error (the run stops). */
int seg_consent_complete(jrn_rule_rec *rr, const char *cid, size_t clen, const char *no_state,
			 jrn_rule_rec *full, jrn_err *why);

/* Frees the completion's buffers. */
void seg_consent_free(void);

/* The customerId of the profile record rr into *cust (a new jv: a string,
 * or null or jv_invalid() when absent; the caller's), with *got the kind
 * of one there that is neither a string nor null, as jrn_kind_phrase
 * says it ("a number", "an object"...; *cust then invalid), else NULL.
 * 0, or -1 with why (rr does not parse: to reject it). */
int seg_customer_of(jrn_rule_rec *rr, jv *cust, const char **got, jrn_err *why);

#endif
