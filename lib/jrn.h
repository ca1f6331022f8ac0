/*
 * jrn.h: the library every jrn tool stands on.
 *
 * Rules of the house: every public symbol starts with jrn_ / JRN_; lib/ never
 * exits and never decides to print (functions that report write to a stream
 * the caller hands them); jv arguments are consumed unless a comment says
 * "borrows"; functions that can fail return 0 on success and -1 on failure
 * with a message in a jrn_err.
 *
 * Where code goes. A tool is cmd/NAME.c while it is one concern under about
 * 1,500 lines; past that, or once it has pluggable parts (providers,
 * subcommands), it is a folder cmd/NAME/ with main.c (usage, options, the top
 * loop), one file per part and a private NAME.h. Code moves to lib/ when a
 * second tool needs it, with an API of its own (a handle and plain
 * arguments, no globals, no tool's types). This header declares what every
 * filter needs; a module with a type of its own and more than a handful of
 * functions has its own header named like its .c (rules.h, mime.h, ledger.h,
 * reach.h, yaml.h); headers used only inside lib/ end in -int.h.
 */
#ifndef JRN_H
#define JRN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jv.h>
#include <pthread.h>
#include <sqlite3.h>

#define JRN_VERSION "0.1.0"

/* Exit status of every tool. */
enum {
	JRN_EXIT_OK = 0,      /* every record done */
	JRN_EXIT_FAIL = 1,    /* a failure stopped the run */
	JRN_EXIT_USAGE = 2,   /* bad options or arguments */
	JRN_EXIT_REJECTS = 3, /* finished, but some records were rejected */
};

/* ---- errors (err.c) ------------------------------------------------------ */

/* An error message; the text is for humans, without the program name. */
typedef struct {
	char msg[1024];
} jrn_err;

/* Formats fmt into e (when e is not NULL) and returns -1, so callers can
 * `return jrn_fail(e, "...")`. */
int jrn_fail(jrn_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- growable byte buffer (buf.c) --------------------------------------- */

/* A byte buffer, always NUL-terminated when p != NULL. Owns p. */
typedef struct {
	char *p;
	size_t len, cap;
} jrn_buf;

/* Makes room for `more` further bytes; 0 or -1 (out of memory). */
int jrn_buf_reserve(jrn_buf *b, size_t more);
/* Appends n bytes / a C string / one byte; 0 or -1 (out of memory). */
int jrn_buf_add(jrn_buf *b, const void *s, size_t n);
int jrn_buf_adds(jrn_buf *b, const char *s);
int jrn_buf_addc(jrn_buf *b, char c);
int jrn_buf_addf(jrn_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Empties b, keeping its memory. */
void jrn_buf_reset(jrn_buf *b);
/* Frees b's memory; b is empty and reusable afterwards. */
void jrn_buf_free(jrn_buf *b);

/* n bytes of zeros, NULL when out of memory: mapped, asking for
 * transparent huge pages (madvise(2) MADV_HUGEPAGE), for the large
 * tables touched at random all over (jrn-route's recent sends' memo and
 * enrollment keys' filter, the phone numbers' memo). In 4 KiB pages
 * their first touches cost a page fault each, and their look-ups TLB
 * misses (each dear on a virtual machine). Where huge pages are off it
 * is plain zeroed memory, touched as it is used. jrn_huge_free(p, n)
 * unmaps what jrn_huge_alloc(n) gave (p NULL: nothing). */
void *jrn_huge_alloc(size_t n);
void jrn_huge_free(void *p, size_t n);

/* ---- UTF-8 (utf8.c) ------------------------------------------------------ */

/* Returns the offset of the first byte of s[0..len) that is not well-formed
 * UTF-8 (overlongs, surrogates and > U+10FFFF are ill-formed), or len. */
size_t jrn_utf8_invalid_at(const char *s, size_t len);

/* Checks s[0..len) as an identifier (customerId, campaignId, id,
 * idempotencyKey, a segment or stage name...): not empty and free of
 * control characters (U+0000-U+001F, U+007F), so that C strings, keys built
 * from several ids and terminals all see the same text. field names it in
 * the message: `customerId: control character U+0000 at byte 7`. 0, or -1
 * with e. Does not check UTF-8 (the reader did). */
int jrn_id_check(const char *s, size_t len, const char *field, jrn_err *e);

/* ---- JSON serializer (json.c) --------------------------------------------- */

enum {
	JRN_JSON_SORTED = 1, /* object keys in byte order: the canonical form */
};

/* Appends v as compact JSON (one line, no spaces) to b. Consumes v.
 * Returns 0, or -1 if v holds a NaN, an invalid value or memory runs out,
 * with the reason in e. A number read by jrn_parse_value that kept its
 * literal (see below) prints as written; other integers up to 2^53 print
 * exactly, other numbers as the shortest text that reads back to the same
 * double (infinity as the largest double). */
int jrn_json_append(jrn_buf *b, jv v, int flags, jrn_err *e);

/* Number literals. libjq 1.6 holds numbers as doubles; so that
 * 9007199254740993, 21-digit ids, 1.0000000000000001, 1e400 and 1e-400
 * keep their identity and print as written, the parser keeps the text of
 * every number whose decimal value differs from that of the shortest text
 * of its double, in a table owned by json.c (append-only, one entry per
 * distinct text for the life of the process, at most JRN_JSON_MAX_LITERALS),
 * and marks the jv with it in jv's `size` field, which libjq 1.6 copies
 * with numbers (jv_copy, arrays, objects) and never reads for them (jq 1.7
 * does the same with jv_number_with_literal). Arithmetic stays on doubles:
 * a number made by jv_number has no literal. 0.1, 1.0, 1E2 need none.
 * jrn_json_literal returns v's literal (borrowed; it lives as long as the
 * process) with its length in *len, or NULL when v has none. Borrows v. */
#define JRN_JSON_MAX_LITERALS (1 << 28)
const char *jrn_json_literal(jv v, size_t *len);

/* Checks that s[0..n) is exactly one JSON value (RFC 8259, strict: no NaN,
 * no leading zeros or '+'), nested at most JRN_JSON_MAX_DEPTH levels of
 * arrays and objects (so every record reads the same way in every tool),
 * with no lone surrogate escape ("\ud800" without a low surrogate after
 * it, or "\udc00" alone: RFC 8259 section 8.2) and no member name twice
 * in one object (I-JSON, RFC 7493 section 2.3; names compare decoded);
 * 0, or -1 with the reason and byte offset in e ("invalid JSON at byte 9:
 * duplicate member name \"type\""). Does not check UTF-8. */
#define JRN_JSON_MAX_DEPTH 256
int jrn_json_check(const char *s, size_t n, jrn_err *e);

/* Parses s[0..n) as one JSON text into a new jv (the caller's), by the
 * rules of jrn_json_check and with the same messages, after checking
 * UTF-8 ("invalid UTF-8 at byte N"); numbers keep their literals (above).
 * Returns the value, or jv_invalid with the reason in e (e may be NULL).
 * Texts over 2 GiB are refused (jv strings hold an int length). */
jv jrn_parse_value(const char *s, size_t n, jrn_err *e);

/* An index of an object's members as spans of the text, built while
 * checking it, so a tool can read a record's fields without building jv
 * values (parsing and freeing cost microseconds a record). */
typedef struct {
	const char *key;  /* the key's bytes inside its quotes */
	size_t klen;
	const char *val;  /* strings: inside the quotes; others: the whole text */
	size_t vlen;
	char kind;        /* '{' '[' '"' '0' (number) 't' 'f' 'n' */
	bool escaped;     /* a string value holding a backslash escape */
	bool kescaped;    /* a key holding one (never matched by find) */
	int parent;       /* index of the member whose object holds it; -1 top */
	int depth;        /* 1 for the top level */
	size_t next;      /* index of the first member after those inside its
			   * value (its next sibling's, when it has one) */
} jrn_json_member;

typedef struct {
	jrn_json_member *m;
	size_t n, cap;
} jrn_json_index;

/* Checks s[0..n) as jrn_json_check does and fills ix with the members of
 * the top-level object and of the objects nested in it by object members,
 * down to max_depth levels, in text order. 0 or -1 with e. ix owns its
 * array (jrn_json_index_free); spans point into s. */
int jrn_json_index_build(jrn_json_index *ix, const char *s, size_t n, int max_depth,
			 jrn_err *e);
/* The member named key of the object that is member `parent` (-1: the top
 * level), or NULL (names are never repeated: the check refuses that).
 * Visits that object's members only, stepping over their values'
 * members (next). */
const jrn_json_member *jrn_json_find(const jrn_json_index *ix, int parent, const char *key);
void jrn_json_index_free(jrn_json_index *ix);

/* Appends s[0..n) as a JSON string literal with quotes. 0 or -1 (memory). */
int jrn_json_append_str(jrn_buf *b, const char *s, size_t n);

/* ---- NDJSON input (ndjson.c) --------------------------------------------- */

/* One line of input as the reader saw it: BOM and CR/LF removed. p points
 * into the reader's buffer and is valid until the next jrn_reader_next. */
typedef struct {
	const char *file; /* "stdin" for standard input */
	uint64_t lineno;  /* 1-based line number in file */
	const char *p;
	size_t len;
} jrn_line;

typedef struct jrn_reader jrn_reader;

/* A reader over the named files in order; no files (or "-") is stdin.
 * Borrows files (they must outlive the reader). NULL when out of memory. */
jrn_reader *jrn_reader_new(char *const *files, int nfiles);
/* Next non-blank line: 1 with *line filled, 0 at the end of all input, -1
 * when a file cannot be opened or read (e says which and why; the reader
 * moves on to the next file, so calling again continues), 2 (only with
 * idle notices on) when no line is ready and the next call would wait:
 * the moment for a streaming tool to flush what it holds. */
int jrn_reader_next(jrn_reader *r, jrn_line *line, jrn_err *e);
/* Turns the rc 2 notices on or off (off by default). Input counts as idle
 * when nothing arrives for JRN_READER_IDLE_MS milliseconds. */
#define JRN_READER_IDLE_MS 50
void jrn_reader_idle_notice(jrn_reader *r, bool on);
/* Ends the input (jrn_reader_next returns 0) once *flag is set, also when a
 * read is waiting: a signal handler that sets it interrupts the read (so
 * install it without SA_RESTART). Borrows flag. Off by default. */
void jrn_reader_stop_on(jrn_reader *r, volatile sig_atomic_t *flag);
/* Reads ahead, for up to wait_ms milliseconds (0: what is there now),
 * whatever r's current input has ready, into memory of its own that
 * jrn_reader_next takes from before it reads again: no line it returned
 * moves. Only a pipe or socket is read so (a file never waits on its
 * writer); at most max bytes are held ahead, and past that, at its end,
 * or for a file, it just waits wait_ms. A read error is kept for
 * jrn_reader_next to report after the bytes before it. 1 when something
 * was read, else 0. (What jrn_db_read_ahead calls while the state file is
 * locked.) */
int jrn_reader_pump(jrn_reader *r, int wait_ms, size_t max);
void jrn_reader_free(jrn_reader *r);

/* Parses one line as a JSON object with jrn_parse_value (UTF-8, strict
 * JSON, no lone surrogates, no repeated names, literals kept). Returns the
 * object, or jv_invalid with the reason in e ("not a JSON object (got
 * an array)"). parser is unused (it cached libjq's parser once); it stays so
 * that callers need not change: start it at NULL, free it with
 * jv_parser_free when not NULL. */
jv jrn_parse_object(jv_parser **parser, const char *p, size_t len, jrn_err *e);
/* The same for text already known to be UTF-8 (no second UTF-8 pass). */
jv jrn_parse_checked_object(jv_parser **parser, const char *p, size_t len, jrn_err *e);
/* "object", "array", "string", "number", "boolean", "null" or "nothing":
 * the kind of the JSON text p[0..len) by its first byte. */
const char *jrn_json_kind_at(const char *p, size_t len);
/* A value's kind as every type error names it, with its article
 * ("customerId: expected a string, got a number"): "a string", "a number",
 * "a boolean", "null", "an array", "an object"; for a value read from a
 * YAML file (yaml true: jrn.yaml, segment and journey definitions), whose
 * messages speak YAML, "a list" and "a mapping" for the last two;
 * "nothing" for JV_KIND_INVALID. A static string; never fails. */
const char *jrn_kind_phrase(jv_kind k, bool yaml);

/* The largest magnitude of an amount (properties.amount, total, revenue,
 * value) jrn stores and sums: 10^15, where a double still holds every
 * cent (2^53 > 10^15 x 100). jrn-ingest refuses a larger one, jrn-score
 * leaves a stored one out, jrn events fix refuses to write one. */
#define JRN_AMOUNT_MAX 1e15
/* jrn_kind_phrase (yaml false) of the JSON text p[0..len), judged as
 * jrn_json_kind_at judges it: "an array" where that says "array". */
const char *jrn_json_kind_phrase_at(const char *p, size_t len);

/* ---- rejects (ndjson.c) -------------------------------------------------- */

/* Where rejected lines go: a diagnostic line "PROG: FILE:LINE: reason" on
 * diag (unless quiet), and with a rejects file one JSON object per line:
 * {"file","line","error","input"} (plus "inputBase64" when the input was not
 * UTF-8, so that nothing is lost). Counts them. */
typedef struct {
	const char *prog;
	FILE *diag;
	FILE *file; /* NULL: no --rejects */
	bool quiet;
	uint64_t count;
} jrn_rejects;

/* Opens path for appending (0 or -1 with e). NULL path: no rejects file. */
int jrn_rejects_open(jrn_rejects *r, const char *prog, const char *path,
		     bool quiet, jrn_err *e);
/* Reports one rejected line; 0, or -1 if the rejects file cannot be
 * written (e says why: a failure, since a record would be lost). */
int jrn_reject(jrn_rejects *r, const char *file, uint64_t lineno,
	       const char *input, size_t len, const char *reason, jrn_err *e);
/* Flushes and closes the rejects file: 0 or -1 with e. */
int jrn_rejects_close(jrn_rejects *r, jrn_err *e);

/* ---- NDJSON output (out.c) ----------------------------------------------- */

/* Buffered output to a file descriptor. A write error sets err (errno value;
 * EPIPE when the reader went away) and every later write is a no-op. */
typedef struct {
	int fd;
	int err;
	jrn_buf buf;
	struct jrn_out_writer *behind; /* jrn_out_behind's thread; NULL: write here */
} jrn_out;

void jrn_out_init(jrn_out *o, int fd);
/* Appends one record line (the newline is added). 0 or -1 (see o->err). */
int jrn_out_line(jrn_out *o, const char *p, size_t len);
/* Appends p[0..len) as it is (text, a piece of a document; no newline is
 * added). 0 or -1 (see o->err). */
int jrn_out_text(jrn_out *o, const char *p, size_t len);
/* Writes what is buffered, then p[0..len) (whole lines, each ending in a
 * newline: a batch built elsewhere) as it is, not copied through the
 * buffer. 0 or -1 (see o->err). */
int jrn_out_lines(jrn_out *o, const char *p, size_t len);
/* Writes what is buffered. 0 or -1 (see o->err). Behind (below): waits
 * until the thread has written every block handed to it. */
int jrn_out_flush(jrn_out *o);
/* Flushes and frees the buffer (the fd stays open); behind, also ends
 * and joins the thread. 0 or -1. */
int jrn_out_close(jrn_out *o);
/* From now on o's blocks are written by a thread of their own, so that
 * the caller goes on making the next one while the kernel copies the
 * last (a write of a large output to a file or pipe was a twentieth of
 * jrn-route --simulate's one busy thread). At most two blocks wait (the
 * one being written, one handed over): a caller that gets ahead waits.
 * A write error reaches o->err at the next hand-over, flush or close, so
 * a loop that stops on o->err stops a block or two later than it would
 * have; only for output that nothing else is ordered against (not before
 * a commit that says the records went out). 0, or -1 (no thread: o
 * writes here as before). */
int jrn_out_behind(jrn_out *o);
/* Writes b's bytes (whole lines, each ending in a newline: a batch built
 * elsewhere) after what is buffered, and leaves b empty, its storage
 * perhaps another's (behind: b's block is handed to the thread as it is,
 * not copied). 0 or -1 (see o->err). */
int jrn_out_give(jrn_out *o, jrn_buf *b);

/* ---- time (time.c) -------------------------------------------------------- */

/* Parses an RFC 3339 date-time ("2026-01-31T09:30:00.123+02:00", "Z" or an
 * offset, optional fraction, 'T' or ' ' between date and time) into
 * milliseconds since the Unix epoch, UTC; a fraction past milliseconds is
 * truncated. With JRN_TIME_DATE_OK a bare date "2026-01-31" is 00:00 UTC.
 * 0 or -1 (with e) if s[0..len) is not one. */
enum { JRN_TIME_DATE_OK = 1 };
int jrn_time_parse(const char *s, size_t len, int flags, int64_t *ms,
		   jrn_err *e);
/* The civil (proleptic Gregorian) date of day number z, days since
 * 1970-01-01 (negative before): year, month 1..12, day 1..31 (H. Hinnant,
 * "chrono-compatible low-level date algorithms", civil_from_days). */
void jrn_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL) into out[32];
 * returns the length. */
size_t jrn_time_format(int64_t ms, char out[32]);
/* Parses a duration: one or more NUMBER UNIT pairs ("90d", "36h", "1h30m",
 * "2w"; units ms s m h d w) into milliseconds. 0 or -1 with e. */
int jrn_duration_parse(const char *s, int64_t *ms, jrn_err *e);
/* A time as the tools' window flags take it (--since, --until, --from):
 * RFC 3339 or a date (jrn_time_parse with JRN_TIME_DATE_OK): 0 with *ms;
 * or a duration back from now ("7d": now - 7 d): 1 with *ms, which is
 * before 1970 when it reaches that far (the caller judges). -1 when s was
 * meant as a time (it starts YYYY-MM-DD) and is not one, the reason in e;
 * -2 when it is neither (e untouched: the caller says what it takes). */
int jrn_time_or_ago(const char *s, int64_t now, int64_t *ms, jrn_err *e);

/* The one clock: jrn_now() is the wall clock in ms, unless jrn_clock_set
 * fixed it (from --now or JRN_NOW). */
int64_t jrn_now(void);
void jrn_clock_set(int64_t ms);

/* ---- addresses (email.c, phone.cc, phone-memo.c) ------------------------ */

/* Normalises an e-mail address: trims ASCII white space, lower-cases it and
 * checks it is an addr-spec mail providers accept (dot-atom local part of at
 * most 64 octets, a domain of at least two labels). Appends the result to
 * out. 0, or -1 with the reason in e. */
int jrn_email_normalize(const char *s, size_t len, jrn_buf *out, jrn_err *e);

/* Parses a phone number with libphonenumber, using region (ISO 3166 alpha-2,
 * e.g. "US") for numbers without a +country code, and appends its E.164 form
 * to out. 0, or -1 with the reason in e (unparsable, not a valid number). */
int jrn_phone_e164(const char *s, size_t len, const char *region, jrn_buf *out,
		   jrn_err *e);

/* jrn_phone_e164's answers remembered, for a loop that meets a customer's
 * number again with each of their events or actions (jrn-ingest's
 * records, jrn-route's gate): libphonenumber's regular expressions cost
 * microseconds a number, a third of jrn-ingest's checking. One region
 * per memo; one thread per memo (no lock). jrn_phone_memo_new copies
 * region (NULL: numbers need their +country code) and returns NULL when
 * out of memory; its table (5.5 MB, jrn_huge_alloc) is mapped at the
 * first look-up. jrn_phone_memo_e164 appends s[0..len)'s E.164 form to
 * out: 0, or -1 when it is not a valid number, or out of memory (no
 * reason: jrn_phone_e164 gives it). Numbers of 64 bytes or more, or
 * whose E.164 form would not fit, are parsed each time, as is every
 * number when the table cannot be mapped. m is not NULL.
 * jrn_phone_memo_free(NULL) does nothing. */
typedef struct jrn_phone_memo jrn_phone_memo;
jrn_phone_memo *jrn_phone_memo_new(const char *region);
int jrn_phone_memo_e164(jrn_phone_memo *m, const char *s, size_t len, jrn_buf *out);
void jrn_phone_memo_free(jrn_phone_memo *m);

/* ---- hashing (hash.c) ----------------------------------------------------- */

/* Writes the lower-case hex SHA-256 of p[0..n) into out[65]; 0, or -1
 * (out empty) when OpenSSL fails. */
int jrn_sha256_hex(const void *p, size_t n, char out[65]);
/* The same as 32 bytes (FIPS 180-4), for a key kept as a BLOB; 0 or -1. */
int jrn_sha256(const void *p, size_t n, unsigned char out[32]);
/* Writes the lower-case hex HMAC-SHA256 of p[0..n) under key[0..klen)
 * (signed webhooks and links); 0, or -1 (out empty) when OpenSSL fails. */
int jrn_hmac_sha256_hex(const void *key, size_t klen, const void *p, size_t n, char out[65]);

/* ---- partitions (partition.c) ------------------------------------------- */

/* Kafka's seed for its keyed partitioner's murmur2. */
#define JRN_MURMUR2_SEED 0x9747b28cu

/* MurmurHash2 (32-bit) of p[0..n) with seed, exactly as Kafka's
 * Utils.murmur2 (Appleby's MurmurHash2; length mixed into the seed; bytes
 * little-endian). Not for security. */
uint32_t jrn_murmur2(const void *p, size_t n, uint32_t seed);

/* The partition (0..n-1) of the customer id[0..len) among n partitions:
 * (murmur2(id, seed 0x9747b28c) & 0x7fffffff) % n, Kafka's default keyed
 * partitioner (DefaultPartitioner / librdkafka "murmur2"). -1 when n <= 0.
 * With n = 8: "c1" -> 3, "customer-42" -> 1, "ann@example.com" -> 4. */
int jrn_partition_of(const char *id, size_t len, int n);

/* Moving a partition between state files (`jrn partition export|import|
 * drop`, cmd/jrn/partition.c): each module that owns a table (reach.c,
 * ledger.c, profile.c) has a jrn_MODULE_partition(db, step, counts, e)
 * that runs its part of a step inside the caller's transaction, adding
 * each table's changed rows to *counts (an object: {"consent":N,...}).
 * On db the other state file is attached as schema JRN_PART_SCHEMA, and
 * temporary tables hold what a step needs:
 *   temp.jrn_part_ids(v TEXT PRIMARY KEY): the partition's customers
 *     (export, drop);
 *   temp.jrn_part_off(t TEXT PRIMARY KEY, off INTEGER): for import, what
 *     to add to an attached row's integer key so that it follows every
 *     row of main (t names the table: "deliveries", "merges",
 *     "enrollments"; 0 when main has none in the way);
 *   temp.jrn_part_enr(old INTEGER PRIMARY KEY, new INTEGER): for import,
 *     each attached enrollment id and its new id, which the records
 *     naming it ("enrollment": N) take.
 * export copies main's rows into the attached file, import copies the
 * attached file's rows into main, drop deletes main's rows. */
#define JRN_PART_SCHEMA "jrn_part"
enum { JRN_PART_EXPORT = 1, JRN_PART_IMPORT, JRN_PART_DROP };

/* ---- configuration (config.c, config-schema.c) ------------------------- */

/* Loads a YAML configuration file into a jv object (read by yaml.c, see
 * yaml.h for how scalars are typed), expanding ${NAME} from the environment
 * in every string ("$${" keeps a literal "${"), and checks it against the
 * schema in config-schema.c: unknown keys, wrong types and bad durations
 * are errors. Values keep the form they were written in (a duration stays
 * "1h30m"; the getters below normalise). Errors read
 * "FILE:LINE:COLUMN: message". Returns the object or jv_invalid (with e).
 *
 * An unset ${NAME} is not a load error: a value that names one is kept as
 * written and unchecked, and the object gets a member JRN_CONFIG_UNRESOLVED
 * listing it (no file can write that key: the top level takes only the
 * schema's sections). Reading such a key fails (jrn_config_get, the
 * getters), and jrn_opts_resolve fails when the running tool reads its
 * section (jrn_config_require); other tools run. */
jv jrn_config_load(const char *path, jrn_err *e);
#define JRN_CONFIG_UNRESOLVED "$unresolved"
/* The loaded object's member {KEY: TEXT AS WRITTEN} for every string that
 * came (in whole or part) from ${NAME}; see jrn_config_shown. */
#define JRN_CONFIG_FROM_ENV "$env"
/* What a message may show for the string value at dotted in cfg
 * (borrowed): value itself, or, when that value came from ${NAME}, the
 * text as written in the file ("${SMTP_PASSWORD}", "smtp://${HOST}"),
 * borrowed from cfg (it lives as long as cfg). A secret from the
 * environment is never printed: every message that shows a config value
 * goes through this. dotted names list items with [i]
 * ("providers.email[0].from"). */
const char *jrn_config_shown(jv cfg, const char *dotted, const char *value);

/* The loaded object's member {"file": PATH, "tree": the position tree}
 * (lib/yaml.h), for jrn_config_where. */
#define JRN_CONFIG_POS "$pos"
/* Where the key (key true) or the value at dotted is written in the file
 * cfg (borrowed) was loaded from: "FILE:LINE:COLUMN" into out (n bytes;
 * FILE as jrn_path_shown shows it); for a key or item not written, the
 * place of the nearest part that is (the mapping that lacks it); "" when
 * cfg has no file (built by hand). dotted
 * names list items with [i] ("sources.list[0].url"); [0] of a mapping
 * written where a list of them may be is the mapping. For the sections
 * the schema leaves to their tools (sources, ai.models), whose messages
 * otherwise could not say where. Returns out. */
const char *jrn_config_where(jv cfg, const char *dotted, bool key, char *out, size_t n);
/* jrn_config_where of the value at the dotted path msg begins with
 * ("policy.caps.email: give both max and window", "policy.fallback[1]:
 * ..."), into out (n bytes): for a tool's message about its section, to
 * say where it is written. "" when msg begins with no such path or cfg
 * has no file. Returns out. */
const char *jrn_config_where_msg(jv cfg, const char *msg, char *out, size_t n);

/* The optimal-string-alignment distance of a (la bytes) and b (lb bytes):
 * Levenshtein's, with a swapped adjacent pair one edit (Damerau), ASCII
 * case ignored, for "did you mean" suggestions (config keys, journey
 * keys, jrn_nearest);
 * SIZE_MAX when b is 64 bytes or longer or a is longer than 256 (no
 * suggestion then). */
size_t jrn_edit_distance(const char *a, size_t la, const char *b, size_t lb);
/* The value at a dotted path ("db.path"), or jv_invalid() when absent; for
 * a key whose value names an unset ${NAME}, jv_invalid_with_msg with
 * "FILE:LINE:COLUMN: KEY: ${NAME} is not set" (still invalid, so a caller
 * that ignores the message reads it as absent). Borrows cfg. */
jv jrn_config_get(jv cfg, const char *dotted);

/* Every unset ${NAME} of cfg (borrowed), for `jrn doctor`: sets *out to an
 * array (the caller's to free) of {"key", "name", "line", "column"} in
 * document order, key as a dotted path with [i] for list items
 * ("send.unsubscribe.secret", "providers.email[0].password"), line and
 * column where "${" is written in the file. Returns how many (0: none), or
 * -1 with e (and *out invalid) when cfg is not an object. */
int jrn_config_unresolved(jv cfg, jv *out, jrn_err *e);
/* Whether the program prog (o->prog: "jrn-send", "jrn init") can run with
 * cfg (borrowed): 0 when no key it reads names an unset ${NAME}, else -1
 * with "FILE:LINE:COLUMN: KEY: ${NAME} is not set" for the first. Which
 * tool reads which keys is a table in config-schema.c; a program not in it
 * reads every key. jrn_opts_resolve calls it. */
int jrn_config_require(jv cfg, const char *prog, jrn_err *e);

/* A duration at a dotted path of cfg (borrowed): a string such as "90d"
 * (jrn_duration_parse) or a whole number of milliseconds from 0 to 2^53,
 * the same rule load checks durations with (config-schema.c). 1 with *ms set,
 * 0 when absent (*ms untouched), -1 with e when it is neither (e holds the
 * reason, without the path: the caller names the key). */
int jrn_config_duration(jv cfg, const char *dotted, int64_t *ms, jrn_err *e);

/* Typed getters like jrn_config_duration (cfg borrowed; 1 found with the
 * value set, 0 absent or null, -1 with the reason in e and no path): an
 * integer (at most 2^53 in magnitude), a number, a boolean, and a string
 * (*s a copy, the caller's to free). For keys the schema types, load has
 * already checked the value, so only a hand-built cfg can give -1 — or a
 * value naming an unset ${NAME}: then -1 with "FILE:LINE:COLUMN: KEY:
 * ${NAME} is not set" (this message does name the key). The same holds
 * for jrn_config_duration. */
int jrn_config_int(jv cfg, const char *dotted, int64_t *n, jrn_err *e);
int jrn_config_number(jv cfg, const char *dotted, double *d, jrn_err *e);
int jrn_config_bool(jv cfg, const char *dotted, bool *b, jrn_err *e);
int jrn_config_string(jv cfg, const char *dotted, char **s, jrn_err *e);

/* ---- common options (opts.c) --------------------------------------------- */

/* The most state files one reader combines (--db given several times, or
 * a list file): lib/multidb.c. */
#define JRN_DB_FILES_MAX 1024

/* What every tool's command line, environment and config decide together. */
typedef struct {
	const char *prog;
	const char *db_path;      /* --db, JRN_DB, config db.path, ./jrn.db */
	const char *config_path;  /* --config, JRN_CONFIG, ./jrn.yaml if any */
	const char *now;          /* --now, JRN_NOW */
	const char *rejects_path; /* --rejects */
	int verbosity;            /* -1 quiet, 0 normal, 1+ verbose (JRN_LOG) */
	bool verbosity_set;       /* -q or -v given: JRN_LOG does not apply */
	int busy_ms;              /* config db.busyTimeout, default 10 s */
	bool dry_run;
	bool check_config;        /* --check-config: set up from the config, then exit */
	jv config;                /* the loaded configuration, {} without one */
	char *owned[4];           /* strings the resolver allocated */
	/* every --db given, in order (db_path is the last; jrn-report,
	 * jrn-segment --count and jrn log read them all: lib/multidb.c);
	 * ndb may pass JRN_DB_FILES_MAX, the paths beyond are not kept */
	const char *db_paths[JRN_DB_FILES_MAX];
	size_t ndb;
} jrn_opts;

/* Long option codes shared by all tools (beyond single characters). */
enum {
	JRN_OPT_VERSION = 0x100,
	JRN_OPT_DB,
	JRN_OPT_CONFIG,
	JRN_OPT_NOW,
	JRN_OPT_REJECTS,
	JRN_OPT_DRY_RUN,
	JRN_OPT_CHECK_CONFIG,
	JRN_OPT_TOOL_BASE = 0x200, /* tools number their own options from here */
};

#define JRN_COMMON_SHORT "hqv"
#define JRN_COMMON_LONG                                           \
	{"help", no_argument, NULL, 'h'},                         \
	{"version", no_argument, NULL, JRN_OPT_VERSION},          \
	{"db", required_argument, NULL, JRN_OPT_DB},              \
	{"config", required_argument, NULL, JRN_OPT_CONFIG},      \
	{"now", required_argument, NULL, JRN_OPT_NOW},            \
	{"rejects", required_argument, NULL, JRN_OPT_REJECTS},    \
	{"quiet", no_argument, NULL, 'q'},                        \
	{"verbose", no_argument, NULL, 'v'}

/* --check-config, in the longopts of each tool that reads a section of
 * jrn.yaml: the tool loads the configuration as it finds it and runs its
 * start-up checks of it (the same function its start runs), says every
 * problem as it would at start, and exits before it reads input, opens
 * the state file or contacts anything: 0 it would start, 1 not, 2 usage
 * (jrn doctor runs each tool so). jrn_opts_take sets o->check_config. */
#define JRN_CHECK_CONFIG_LONG {"check-config", no_argument, NULL, JRN_OPT_CHECK_CONFIG}
/* The line each tool's usage gives --check-config. */
#define JRN_CHECK_CONFIG_USAGE \
	"      --check-config    check the configuration as this tool reads it at\n" \
	"                        start, then exit: 0 it would start, 1 not\n"

/* Sets defaults (prog is borrowed). */
void jrn_opts_init(jrn_opts *o, const char *prog);
/* Takes one getopt_long result: 1 if it was a common option (stored), 0 if
 * not ('h' and JRN_OPT_VERSION are left to the tool). */
int jrn_opts_take(jrn_opts *o, int c, const char *arg);
/* Applies the environment, loads the config and sets the clock, in the
 * precedence flag > environment > config > default, and checks that no key
 * o->prog reads names an unset ${NAME} (jrn_config_require). Returns 0; -2
 * with e when a flag's value is bad (--now yesterday): a usage error, which
 * the tool exits with as JRN_EXIT_USAGE; or -1 with e for any other failure
 * (a bad JRN_NOW or JRN_LOG, an unreadable or wrong config): JRN_EXIT_FAIL. */
int jrn_opts_resolve(jrn_opts *o, jrn_err *e);
void jrn_opts_free(jrn_opts *o);

/* ---- the tool's frame (tool.c) ------------------------------------------- */

struct option;

/* The program name the voice uses; jrn_opts_init sets it. Borrows prog. */
void jrn_prog_set(const char *prog);
const char *jrn_prog(void);
/* The tool's voice: writes "PROG: message" and a newline to stderr and
 * returns status, so a tool can `return jrn_say(JRN_EXIT_FAIL, ...)`.
 * Control characters in the message (an input's value quoted in it) are
 * written escaped (jrn_diag_text): one message is one line, and input
 * cannot forge another tool's line in a log. */
int jrn_say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s (a C string, borrowed) with each control character but tab written
 * as an escape ("\n", "\r", "\x1B"): a new string (the caller frees
 * it), or NULL when s has none (or memory ran out: then s as it is). */
char *jrn_diag_text(const char *s);

/* The option loop every tool runs: getopt_long over argv with shortopts and
 * longopts (which include JRN_COMMON_SHORT / JRN_COMMON_LONG); common
 * options go into o; -h writes usage to stdout; --version writes "PROG
 * VERSION"; every other option goes to take(ctx, c, optarg), which returns
 * 0 to go on, -2 for "not mine" (said as an unknown option), or an exit
 * status to stop with (having said why). An unknown option or a missing
 * argument writes "Try 'PROG --help'." to stderr. Returns -1 when the
 * command line is read (optind is at the first operand), or the status the
 * tool should exit with now (0 after -h/--version, 1 when writing their
 * text failed (jrn_print_text), 2 for usage). */
int jrn_opts_parse(jrn_opts *o, int argc, char **argv, const char *shortopts,
		   const struct option *longopts, const char *usage,
		   int (*take)(void *ctx, int c, const char *arg), void *ctx);

/* The end of a run: closes out (NULL: none) — a reader that went away
 * (EPIPE) is a normal end, another write error is said and makes the status
 * JRN_EXIT_FAIL — then closes rej (NULL: none; an error writing it is said,
 * JRN_EXIT_FAIL), and turns JRN_EXIT_OK into JRN_EXIT_REJECTS when lines
 * were rejected. Returns the status to exit with. */
int jrn_finish(jrn_out *out, jrn_rejects *rej, int status);

/* Writes text (usage, a version line, a short list; borrowed) to standard
 * output, past stdio (call it before anything is left in stdout's buffer),
 * and ends it as jrn_finish does: a reader that went away (EPIPE) is a
 * normal end, another write error (ENOSPC) is said ("PROG: writing output:
 * REASON"). Returns JRN_EXIT_OK, or JRN_EXIT_FAIL after a write error. */
int jrn_print_text(const char *text);

/* Milliseconds of a monotonic clock (intervals, timeouts; not the date). */
int64_t jrn_mono_ms(void);

/* Sleeps ms milliseconds (nothing when ms <= 0); a signal may end it
 * early, which the callers' loops allow for. */
void jrn_sleep_ms(int64_t ms);

/* The word of names (NULL-ended) nearest to s, for "did you mean"
 * suggestions (unknown commands, kinds, keys): the one fewest edits away
 * by Damerau-Levenshtein (optimal string alignment: a swapped adjacent
 * pair is one edit; ASCII case ignored), when at most 1 edit away from a
 * word of up to 4 letters ("rfn": "rfm"; "nope" is not near "pipe") or 2
 * from a longer one ("qeueu": "queue"), and fewer edits than the word has
 * letters ("x" is not near "op"); the first of equally near ones. NULL
 * when none is near enough, s is NULL, or s is one of names exactly
 * ("Queue" still gets "queue"). Borrows s and names. */
const char *jrn_nearest(const char *s, const char *const *names);
/* "unknown WHAT (did you mean NEAR?)", NEAR jrn_nearest's of s in names,
 * else "unknown WHAT (LIST)", into buf (size bytes, cut to fit). Returns
 * buf. Borrows the rest. */
const char *jrn_unknown_word(const char *what, const char *s, const char *const *names,
			     const char *list, char *buf, size_t size);

/* A 64-bit hash of p[0..n): FNV-1a with murmur3's final mix (so the low
 * bits, which index tables, depend on every byte). Not for security. */
uint64_t jrn_hash64(const void *p, size_t n);

/* A map from byte strings to dense indexes 0, 1, 2... in insertion order,
 * for per-customer (or per-key) arrays the caller keeps beside it. Keys are
 * copied. Open addressing, at most half full. */
typedef struct jrn_idmap jrn_idmap;
/* A new empty map, or NULL (out of memory). */
jrn_idmap *jrn_idmap_new(void);
/* The index of k[0..n), added as the next index when new (*added says
 * which; added may be NULL). -1 when out of memory. */
int64_t jrn_idmap_put(jrn_idmap *m, const char *k, size_t n, bool *added);
/* The index of k[0..n), or -1 when absent. */
int64_t jrn_idmap_get(const jrn_idmap *m, const char *k, size_t n);
/* How many keys; the key of index i (NUL-terminated, owned by the map, valid
 * until the next put), its length in *len when len is not NULL. */
size_t jrn_idmap_count(const jrn_idmap *m);
const char *jrn_idmap_key(const jrn_idmap *m, size_t i, size_t *len);
void jrn_idmap_free(jrn_idmap *m);

/* ---- state file (state.c) ------------------------------------------------- */

#define JRN_SCHEMA_VERSION 16

/* SQLite's process-wide settings, once (sqlite3_config must come before
 * the first connection): no memory statistics (SQLITE_CONFIG_MEMSTATUS
 * 0: a mutex and counters on every allocation). jrn_db_open calls it; a
 * tool opening a file itself (read-only) calls it first. */
void jrn_sqlite_configure(void);

/* Opens (creating if needed) the state file at path: WAL, busy timeout of
 * busy_ms, foreign keys, migrated to JRN_SCHEMA_VERSION. A new or empty
 * file (no schema) is initialised, also when another process creates it
 * at the same moment. Refuses, changing nothing, a file that is not
 * SQLite, is corrupt, is newer than this code, or is another program's
 * SQLite database (jrn_db_refuse_foreign; "PATH: " before its message).
 * On success *db is the caller's to sqlite3_close; 0 or -1 with e. */
int jrn_db_open(const char *path, int busy_ms, sqlite3 **db, jrn_err *e);
/* Whether db's main file is another program's SQLite database:
 * user_version 0 (no jrn migration ever ran) yet something in its schema,
 * or a user_version this jrn knows but no events table (migration 1
 * makes it; another program's own version). 0 when it is new, empty (a zero-length file, or
 * SQLite's with no schema: a jrn process may be creating it this moment)
 * or jrn's; -1 with e when it is foreign ("not a jrn state file: another
 * program's SQLite database (user_version 0 and N schema objects, the
 * first 'NAME')", or "(user_version V, no events table; ...)"), when it
 * has jrn's tables without a version (a copy made with sqlite3's .dump:
 * "jrn's tables but user_version 0, ..."), or cannot be read (SQLite's
 * reason; its code stays on db). NAME at most 60 bytes, controls as '?'.
 * Reads only. */
int jrn_db_refuse_foreign(sqlite3 *db, jrn_err *e);
/* jrn_db_open in SQLite's serialized mode (SQLITE_OPEN_FULLMUTEX: each
 * call on the connection holds its mutex), for a connection two threads
 * use in turn (jrn-route's gate writes its decisions behind on one);
 * jrn_db_open's are multi-thread (SQLITE_OPEN_NOMUTEX: one thread at a
 * time, no mutex). */
int jrn_db_open_serialized(const char *path, int busy_ms, sqlite3 **db, jrn_err *e);

/* A second connection to a state file that jrn_db_open has opened (and
 * migrated) in this process: read only (PRAGMA query_only), with
 * jrn_db_open's busy timeout and cache size, for reads on a thread of
 * their own. Its first read tells a damaged file. *db is the caller's to
 * sqlite3_close; 0 or -1 with e. */
int jrn_db_open_reader(const char *path, int busy_ms, sqlite3 **db, jrn_err *e);

/* Gives db (a connection jrn_db_open or jrn_db_open_reader opened: they
 * call this) its busy handler: waits of up to busy_ms in all, in SQLite's
 * steps (1, 2, 5 ms) then every 10 ms, and the writers' turns of
 * jrn_db_begin. Its state lives until db closes. 0, or -1 out of memory
 * (then db has no busy handler: set one). */
int jrn_db_attach_waits(sqlite3 *db, int busy_ms);
/* Whether another connection to db's state file waits for its write lock
 * in jrn_db_begin: for a writer that holds the lock through a long batch
 * to end it early. A probe (a flock(2) tried), cheap but a system call. */
bool jrn_db_writers_waiting(sqlite3 *db);

/* While db waits for a lock held by another connection, for up to
 * its busy time-out, rd's input is read ahead (jrn_reader_pump, at most
 * JRN_READ_AHEAD_MAX bytes) on the thread that called this; another
 * thread's waits only sleep. This keeps a pipeline from stalling where
 * the tool upstream holds the state file's write lock while it writes
 * to us (jrn-route writes a batch's records before committing it), and
 * we stop reading while we wait for that lock: the upstream write then
 * ends, it commits, and the lock is ours. Returns what
 * jrn_db_read_ahead_end takes (rd must outlive it), NULL out of memory
 * or when db reads ahead already (one at a time; then db's waits only
 * sleep, or pump that one). busy_ms is the busy time-out of a
 * connection jrn did not open. */
typedef struct jrn_read_ahead jrn_read_ahead;
#define JRN_READ_AHEAD_MAX ((size_t)256 << 20)
jrn_read_ahead *jrn_db_read_ahead(sqlite3 *db, jrn_reader *rd, int busy_ms);
/* The reading ahead ended, and ra freed (db's waits only sleep again; one
 * jrn did not open gets sqlite3_busy_timeout(busy_ms)). NULL ra: no-op. */
void jrn_db_read_ahead_end(sqlite3 *db, jrn_read_ahead *ra, int busy_ms);

/* Whether a state file is at path, for a tool that only reads one or
 * takes from it and so must not create it (jrn_db_open would). Makes
 * nothing, opens nothing: 0 when path names something other than a
 * directory (SQLite says next whether it is a state file), else -1 with
 * e in one wording for every tool: "PATH: no state file (jrn init or a
 * writer such as jrn-ingest makes one)" when nothing is there (ENOENT),
 * "PATH: is a directory, not a state file", "PATH: cannot open (REASON)"
 * for any other error (REASON strerror's, such as "Not a directory" or
 * "Permission denied"). PATH as jrn_path_shown shows it. */
int jrn_db_exists(const char *path, jrn_err *e);

/* jrn_db_open, except that with dry_run and no file at path an empty
 * state in memory is opened instead (a dry run creates nothing). */
int jrn_db_open_dry(const char *path, bool dry_run, int busy_ms, sqlite3 **db, jrn_err *e);

/* A path as a message that puts it before the reason shows it, so that
 * the reason always fits a jrn_err: path itself when it has at most
 * JRN_PATH_SHOWN - 1 bytes, else "..." and its tail (whole UTF-8
 * characters) in out, which is returned. (state.c) */
#define JRN_PATH_SHOWN 200
const char *jrn_path_shown(const char *path, char out[JRN_PATH_SHOWN]);
/* ---- several state files as one (multidb.c) -------------------------------- */

/* The state files o names, into *paths (n of them; free with
 * jrn_db_paths_free): every --db in order, or o->db_path alone when --db
 * was given at most once; a path "@FILE" stands for the paths listed in
 * FILE, one per line (blank lines and lines starting with '#' skipped;
 * a file whose name starts with '@' is given as ./@name). 0, or -1 with e
 * (FILE unreadable or empty, more than JRN_DB_FILES_MAX, out of memory).
 * Nothing is opened or checked here. */
int jrn_db_paths(const jrn_opts *o, char ***paths, size_t *n, jrn_err *e);
void jrn_db_paths_free(char **paths, size_t n);

/* Opens the state files paths[0..n) read-only as one (n >= 1; for one
 * file too, with the same rules): the tables named in tables (NULL-ended;
 * NULL: every table) of every file are copied into TEMP tables of the
 * same name, schema and indexes, which shadow main's for unqualified
 * names, so a tool's queries run unchanged. The k-th file's (from 0)
 * INTEGER PRIMARY KEYs (seq, id) and the columns naming them get k * 2^40
 * added, keeping them unique and in order. Refused, naming the file: one
 * that does not exist (nothing is created), a directory, a file given
 * twice (same device and inode), a file not of JRN_SCHEMA_VERSION, one
 * that is not SQLite, more than JRN_DB_FILES_MAX files, and a row whose
 * UNIQUE or PRIMARY KEY an earlier file holds (a customer in two files),
 * except in journey_versions (configuration every file holds alike) and
 * suppressions (keyed by address): there the first file's row is kept. The handle is query_only; *db is the
 * caller's to sqlite3_close. 0 or -1 with e. */
int jrn_db_open_many(char *const *paths, size_t n, const char *const *tables, int busy_ms,
		     sqlite3 **db, jrn_err *e);

/* pthread_create of fn(arg) into *th with every signal blocked in the new
 * thread: a tool's signals go to its main thread, whose reads stop on
 * them (EINTR; lib/ndjson.c). 0, or pthread_create's error. */
int jrn_thread_start(pthread_t *th, void *(*fn)(void *), void *arg);

/* A thread that checkpoints a writer's WAL beside it. SQLite's automatic
 * checkpoint runs inside the commit that crosses 1,000 WAL pages (32 MB at
 * jrn's 32 KiB pages), and that commit waits for the copy into the file.
 * jrn_checkpointer_start gives db (the writer's connection, path its file)
 * a WAL hook instead, which asks the thread (a connection of its own) for a
 * PASSIVE checkpoint past 1,000 pages; PASSIVE never blocks the writer
 * (sqlite.org/c3ref/wal_checkpoint_v2.html), and the WAL starts over at
 * the first commit after a checkpoint that copied all of it. Past 8,000
 * pages (the thread behind) the writer checkpoints itself, as SQLite
 * would. Returns the checkpointer, or NULL when it cannot start (out of
 * memory, no thread, the file not opened): db then keeps SQLite's own.
 * Only one per db; db must outlive it. */
typedef struct jrn_checkpointer jrn_checkpointer;
jrn_checkpointer *jrn_checkpointer_start(sqlite3 *db, const char *path);
/* Stops and frees c (NULL: nothing) after its writer's last commit, and
 * gives that connection SQLite's automatic checkpoint back. */
void jrn_checkpointer_stop(jrn_checkpointer *c);

/* Runs sql (no parameters, any number of statements): 0 or -1 with e. */
int jrn_db_exec(sqlite3 *db, const char *sql, jrn_err *e);
/* Prepares sql as a statement to be reused (SQLITE_PREPARE_PERSISTENT):
 * 0 with *st set, or -1 with SQLite's message in e (*st NULL). */
int jrn_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, jrn_err *e);
/* BEGIN IMMEDIATE (the write lock at once, waiting up to the busy timeout)
 * and COMMIT: 0 or -1 with e. Rollback ends an open transaction, if any.
 * Writers take turns: jrn_db_begin first lets go ahead every connection
 * already waiting in jrn_db_begin (for 50 ms at most: a live waiter asks
 * every 10 ms; the whole wait stays within the one busy time-out), and
 * while it waits itself it says so, with a shared flock(2) on the file
 * <state file>-writers (made by the first writer that waits). So a
 * writer that commits and begins again at once cannot keep the lock from
 * another for good (SQLite's busy wait is a sleep and a retry, not a
 * queue). */
int jrn_db_begin(sqlite3 *db, jrn_err *e);
int jrn_db_commit(sqlite3 *db, jrn_err *e);
void jrn_db_rollback(sqlite3 *db);
/* The SQL of the migration to schema `version` (1..JRN_SCHEMA_VERSION), or
 * NULL: for man pages and jrn doctor. */
const char *jrn_db_migration(int version);

#endif
