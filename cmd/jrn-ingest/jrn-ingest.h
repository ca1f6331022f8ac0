/*
 * jrn-ingest.h: what the parts of jrn-ingest share (private to
 * cmd/jrn-ingest/).
 *
 *   main.c    usage, options, set up, the store thread and the top loop:
 *             this thread reads lines into batches, the store thread
 *             inserts a batch in one transaction, then writes the records
 *             it stored to stdout (stored before shown, so a consumer never
 *             sees an event the state file lacks)
 *   record.c  one line: checked, normalised (ids, customers, e-mail and
 *             phone fields, consent) and added to a batch, on a fast path
 *             over the text's span index or through jv
 *   spec.c    Segment's spec and jrn's names: the type map
 *             (ingest.typeMap), the one normalised amount, the time of an
 *             event without a timestamp (no I/O)
 */
#ifndef JRN_INGEST_H
#define JRN_INGEST_H

#include "jrn.h"
#include "profile.h"
#include "privacy.h"
#include "reach.h"

/* ---- a batch: records as offsets into one text buffer ------------------ */

typedef struct {
	size_t off, len;
} span;

typedef struct {
	span body, id, type, customer, channel, source;
	int64_t ts, received;
	double amount;
	bool has_amount;
	jrn_reach_status consent; /* a consent event: its status */
} record;

typedef struct batch {
	jrn_buf text;
	record *recs;
	size_t n, cap;
	struct batch *next;
	uint64_t *seq; /* --from: per partition, the last stream sequence taken
			* (0: none), stored with the batch (nats.h) */
} batch;

/* ---- the keys of an event (spec.c) --------------------------------------- */

/* Keys made once (ingest_keys_init): jv strings cache their hash, so lookups
 * by these are cheap, and no record allocates its key names. */
enum {
	K_ID,
	K_MESSAGE_ID,
	K_TYPE,
	K_EVENT,
	K_CUSTOMER_ID,
	K_USER_ID,
	K_ANONYMOUS_ID,
	K_TIMESTAMP,
	K_PROPERTIES,
	K_TRAITS,
	K_CONTEXT,
	K_RECEIVED_AT,
	K_CHANNEL,
	K_SOURCE,
	K_AMOUNT,
	K_TOTAL,
	K_REVENUE,
	K_VALUE,
	K_ORIGINAL_TIMESTAMP,
	K_SENT_AT,
	NKEYS
};
extern const char *const ingest_key_names[NKEYS];
extern jv ingest_keys[NKEYS];
#define KEY(k) jv_copy(ingest_keys[k])

/* Makes / frees ingest_keys. */
void ingest_keys_init(void);
void ingest_keys_free(void);

/* ---- Segment's spec and jrn's names (spec.c) ------------------------------ */

/* The type map: the default rows (Segment's e-commerce spec v2 names and
 * page/screen calls to jrn's), then ingest.typeMap of cfg (borrowed), whose
 * values must be non-empty strings or null (keep the name as given). 0, or
 * -1 with e (without the config's file name). */
int ingest_typemap_load(jv cfg, jrn_err *e);
/* The jrn name of the type t[0..n) (owned by the map), or NULL when it is
 * kept as given. */
const char *ingest_typemap_find(const char *t, size_t n);
void ingest_typemap_free(void);

/* Whether an event of type t[0..n) needs an amount (the types RFM and CLV
 * read amounts of: order.completed, order.refunded). */
/* The keys of properties an amount is read from, in order: amount, total,
 * revenue, value. */
extern const int ingest_amount_keys[4];
bool ingest_needs_amount(const char *t, size_t n);
/* s[0..n) as a number when it is one in JSON's syntax after ASCII blanks
 * are trimmed ("19.99", " 5 "; not "1,99", "+5", ".5", "0x10"): 1 with *d
 * set (finite), 0 when it is not one. */
int ingest_number_text(const char *s, size_t n, double *d);
/* The largest magnitude an amount may have, inclusive (as jrn-score sums): sums of a
 * customer's amounts stay exact to the cent far beyond any real order. */
#define INGEST_AMOUNT_MAX JRN_AMOUNT_MAX /* the messages write it as 1e15 */
/* properties.amount, total, revenue, value of ev: a numeric string becomes
 * the number, any other value but a number or null is rejected, and so is
 * a number not finite or of magnitude beyond INGEST_AMOUNT_MAX
 * ("properties.amount: amount 1e308 is out of range (|amount| <= 1e15)"); without
 * properties.amount it is set from the first of the others; an event that
 * ingest_needs_amount without one is rejected. Consumes ev; returns it (with
 * *amount and *has set, *changed when it changed), or jv_invalid with the
 * reason (naming the field) in e. */
jv ingest_amounts(jv ev, bool *changed, double *amount, bool *has, jrn_err *e);
/* The time of ev: timestamp (RFC 3339, then written back in UTC with
 * milliseconds); without one, as Segment defines it, receivedAt - (sentAt -
 * originalTimestamp) when the three are given, else originalTimestamp, else
 * receivedAt (the given fields are kept; timestamp is set). *ts gets it,
 * or *defaulted is set when there is none. Consumes ev; returns it, or
 * jv_invalid with the reason in e. */
jv ingest_time(jv ev, bool *changed, int64_t *ts, bool *defaulted, jrn_err *e);

/* ---- one line (record.c) ---------------------------------------------------- */

/* What a line's checks take from the run: cfg (borrowed; the e-mail and
 * phone field names, the type map), the region for phone numbers
 * (borrowed, kept), jv_only (every record the jv way: tests). 0, or -1
 * with e. */
int ingest_record_setup(jv cfg, const char *country, bool jv_only, jrn_err *e);
/* The erased values (borrowed; NULL: none): a line naming one in
 * customerId, userId, anonymousId, previousId or an e-mail or phone field
 * is rejected with "FIELD: erased customer" (privacy.h). */
void ingest_record_privacy(jrn_privacy *P);
/* The longest record the state file takes (SQLITE_LIMIT_LENGTH). */
void ingest_record_limit(size_t max_record);
/* Parses, checks and normalises one line into batch b, or rejects it
 * through rej. 0, or -1 with fatal (out of memory, a rejects file that
 * cannot be written, SHA-256 failing). */
int ingest_take_line(batch *b, const jrn_line *ln, jrn_rejects *rej, jrn_err *fatal);
/* Frees what ingest_record_setup and the lines took. */
void ingest_record_free(void);

#endif
