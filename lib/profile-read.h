/*
 * profile-read.h: reading "who a customer is" from the state file, for
 * every tool that reads one customer or every customer (jrn-merge,
 * jrn-segment --all, jrn-score lead, jrn-send). Reading only: lib/profile.c
 * is the one writer of profiles, identities and merges (profile.h).
 *
 * A profile, as this module writes it (JSON members, no braces, each
 * preceded by a comma, in this order):
 *   "customerId", the unified fields set (email, phone, name, firstName,
 *   locale, timeZone, country, createdAt as RFC 3339), "traits":{...},
 *   ["provenance":{...}], "consent":{CHANNEL: "granted"|"revoked"},
 *   "scores":{"rfm":{...},"clv":{...},"lead":{...}} (or, with
 *   JRN_PROFILE_FLAT_SCORES, each score a member of its own: "rfm","clv",
 *   "lead"), "segments":[stored memberships], ["summary":{events, firstSeen,
 *   lastSeen, orders, orderTotal, lastOrder}], ["cart":{...}],
 *   ["promotions":{...}]; the members in [] only with their flag below
 *   (each costs a pass over the events).
 *
 * Who is a customer (every customer, jrn_profile_read_all): every id of an
 * event or a profile, once, after id links: an id with an id link (an
 * alias's previousId, an anonymousId, a customer merged away: identities
 * kind "id") is not a customer of its own; what is stored under it counts
 * for the customer it names (following links to the end).
 *
 * Folding linked ids into their customer (the same in both forms):
 *   - events: all count (summary, cart, promotions);
 *   - consent, per channel: "revoked" under any of the ids wins; else the
 *     customer's own; else the newest of a linked id's;
 *   - scores, per kind (rfm from the newest snapshot first, else the scores
 *     table's rfm): the customer's own; else the newest linked id's;
 *   - segments: the union of the memberships;
 *   - the unified fields and traits: the customer's own profile row (a
 *     merge applied the merged profile's fields to it, profile.h).
 *
 * The cart (JRN_PROFILE_CART), from the cart events jrn-ingest stores
 * (jrn-ingest(1): Segment's "Product Added" cart.added, "Product Removed"
 * cart.removed, "Cart Viewed" cart.viewed, "Checkout Started"
 * checkout.started): present when the customer has one; "updatedAt" the
 * newest one's time, "event" its type, "items" the lines in the cart
 * (present only when more than 0): counted over the cart events after the
 * customer's last order.completed (an order empties the cart), in time
 * order: a cart.viewed or checkout.started with properties.products (an
 * array, as Segment's spec gives the whole cart) sets the count to its
 * length, cart.added adds one, cart.removed takes one (not below 0).
 *
 * Promotions (JRN_PROFILE_PROMOTIONS), when the customer has an order:
 * {"orders": N, "redeemed": M, "redeemedRatio": M/N}, M the
 * order.completed events carrying a promotion: properties.coupon a
 * non-empty string, properties.discount a number above 0 (Segment's
 * Order Completed fields) or properties.promotion_id a non-empty string
 * (Segment's promotion events' field).
 *
 * One customer (jrn_profile_read) costs a few index lookups; every
 * customer costs one ordered pass over each table, joined by merging the
 * cursors (no query per customer), except for a customer other ids are
 * linked to, whose parts are looked up (those are few: merges and
 * aliases). Use a handle from one thread; the caller owns the transaction.
 */
#ifndef JRN_PROFILE_READ_H
#define JRN_PROFILE_READ_H

#include "jrn.h"

typedef struct jrn_profile_reader jrn_profile_reader;

/* What a reader writes beyond the common members (flags, or-ed). */
enum {
	JRN_PROFILE_PROVENANCE = 1 << 0,  /* "provenance" after "traits" */
	JRN_PROFILE_FLAT_SCORES = 1 << 1, /* scores as members of their own
					   * (jrn-segment's records), not
					   * under "scores"; a kind that is
					   * the name of another member is
					   * left out */
	JRN_PROFILE_CART = 1 << 2,        /* "cart" (above) */
	JRN_PROFILE_PROMOTIONS = 1 << 3,  /* "promotions" (above) */
	JRN_PROFILE_SUMMARY = 1 << 4,     /* "summary" (above) */
};

/* A reader over db (borrowed; a state file of schema 5 or later) writing
 * the parts of flags. NULL with e (SQLite's message, out of memory). */
jrn_profile_reader *jrn_profile_reader_open(sqlite3 *db, unsigned flags, jrn_err *e);
/* Finalises its statements; NULL is a no-op. */
void jrn_profile_reader_close(jrn_profile_reader *R);

/* Appends to out (the caller's) customer's profile members (see the top
 * comment), linked ids folded in. row, when valid (borrowed: an object as
 * jrn_profile_get gives it), stands for the stored profile row (jrn-merge:
 * what the sources changed); otherwise the row is read. customer is a C
 * string the caller checked (jrn_id_check); it is not resolved (an id
 * merged away reads as the empty customer it is now). 0, or -1 with e. */
int jrn_profile_read(jrn_profile_reader *R, const char *customer, jv row, jrn_buf *out,
		     jrn_err *e);

/* Every customer of the state file (see the top comment), in byte order
 * of id (SQLite's BINARY): calls each(ctx, customer, members) with the
 * customer as a C string and its members as jrn_profile_read writes them
 * (both valid during the call; members may be changed by each). each
 * returns 0 to go on or -1 to stop (then this returns -1 and e is as each
 * left it). 0, or -1 with e. */
int jrn_profile_read_all(jrn_profile_reader *R,
			 int (*each)(void *ctx, const char *customer, jrn_buf *members), void *ctx,
			 jrn_err *e);

/* The contact fields of the stored profile of the customer id names now
 * (id links followed, at most JRN_PROFILE_READ_MAX_CHAIN): an object with
 * those of email, phone, name, firstName and locale that are set (the
 * caller owns it; {} when there is no profile), or jv_invalid with e.
 * Prepared statements kept in R and reused: an id no link leaves is read
 * with two look-ups, a linked one with one recursive statement. */
#define JRN_PROFILE_READ_MAX_CHAIN 64
jv jrn_profile_contact(jrn_profile_reader *R, const char *id, size_t n, jrn_err *e);

/* Appends to out (the caller's) the consent object {CHANNEL: "granted" |
 * "revoked"} of the customer id[0..n) names now (id links followed up, at
 * most JRN_PROFILE_READ_MAX_CHAIN), with the consent of id itself and of
 * every id linked to that customer folded in as above (per channel:
 * "revoked" under any of them wins; else the customer's own; else the
 * newest): the "consent" member --all's profile of that customer holds;
 * {} when no row. For tools that complete a profile read from elsewhere
 * (jrn-segment, a record without "consent"). Prepared statements kept in
 * R and reused, the id bound: an id no link names either way is read with
 * two look-ups, a linked one with one recursive statement. 0, or -1 with
 * e. */
int jrn_profile_consent(jrn_profile_reader *R, const char *id, size_t n, jrn_buf *out,
			jrn_err *e);

#endif
