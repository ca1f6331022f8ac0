/*
 * rules.h: the segment rule language, compiled once and evaluated per
 * record (jrn-segment; jrn-route and jrn-score reuse it).
 *
 * A rule is a tree: {all: [...]}, {any: [...]}, {not: RULE}, a list (all of
 * it), a leaf {field, op, value}, a jq leaf {jq: EXPR}, an event leaf
 * {event: TYPE, where: RULE, count: {gte: N}, within: 90d} or
 * {not_event: TYPE, within: 45d}, or the shorthand {"a.b": {gte: 3}} /
 * {"a.b": VALUE}. See jrn-segment(1).
 */
#ifndef JRN_RULES_H
#define JRN_RULES_H

#include "jrn.h"

/* Bounds (see jrn-segment(1), "Limits"). A jq leaf may run for
 * JRN_RULE_JQ_SECONDS of CPU on one record: past that, evaluating returns
 * JRN_RULE_FAIL (libjq cannot be stopped safely, so the run stops) and
 * every later jq leaf of the set fails too. Evaluating a set with jq leaves
 * installs a SIGPROF handler and uses ITIMER_PROF while a jq program runs.
 * A `matches` pattern is refused when compiling if it is longer than 4096
 * bytes, holds a count {m,n} above 1000, or its counted repetitions expand
 * it past 4096 elements (regcomp would take seconds and gigabytes). */
#define JRN_RULE_JQ_SECONDS 1

/* A compiled set of named segments. */
typedef struct jrn_rules jrn_rules;

/* What jrn_rule_eval returns. */
enum {
	JRN_RULE_OUT = 0,     /* the record is not in the segment */
	JRN_RULE_IN = 1,      /* it is */
	JRN_RULE_REJECT = -1, /* the record cannot be judged (jq error): reject it */
	JRN_RULE_FAIL = -2,   /* the run cannot go on (state file error) */
};

/* Reads segment definitions from a YAML or JSON file (a mapping of name to
 * {rule: RULE, description}, at the top or under `segments:`) and compiles
 * them, relative times against jrn_now(). Returns the set (the caller's, to
 * jrn_rule_free) or NULL with "FILE:LINE: segment 'x', rule N: why" in e. */
jrn_rules *jrn_rule_load(const char *path, jrn_err *e);

/* Compiles definitions already in a jv (consumed): an object of name to
 * definition, as jrn_rule_load reads. file names them in messages (may be
 * NULL). Returns the set or NULL with e. */
jrn_rules *jrn_rule_compile(jv defs, const char *file, jrn_err *e);

/* Compiles one rule (consumed) as a segment named name: for tools with a
 * rule of their own (jrn-route conditions). Returns the set or NULL. */
jrn_rules *jrn_rule_compile_one(const char *name, jv rule, jrn_err *e);

/* The number of segments in r, and the name of segment i (owned by r). */
int jrn_rule_count(const jrn_rules *r);
const char *jrn_rule_name(const jrn_rules *r, int i);

/* The index of the segment called name, or -1. */
int jrn_rule_find(const jrn_rules *r, const char *name);

/* True when segment i (or any, with i = -1) has event leaves, which need
 * the state file (jrn_rule_attach). */
bool jrn_rule_needs_events(const jrn_rules *r, int i);

/* Gives event leaves the state file to read (borrowed; it must outlive r
 * or a later attach with NULL) with one prepared statement on
 * events (customer_id, ts). 0 or -1 with e. */
int jrn_rule_attach(jrn_rules *r, sqlite3 *db, jrn_err *e);

/* A record as the rules read it: its text, the span index of the text
 * (jrn_json_index_build, max depth JRN_RULE_INDEX_DEPTH; NULL: none), and
 * its jv value, parsed only when a clause needs it (jq leaves, arrays,
 * escapes). v starts as jv_invalid() and is the caller's to jv_free;
 * parser is a jrn_parse_checked_object cache. */
#define JRN_RULE_INDEX_DEPTH 16
typedef struct {
	const char *p;
	size_t len;
	const jrn_json_index *ix;
	jv v;
	jv_parser **parser;
} jrn_rule_rec;

/* The jv value of rec (borrowed from it), parsed now if not yet; an
 * invalid value when the text does not parse (e says why). */
jv jrn_rule_rec_value(jrn_rule_rec *rec, jrn_err *e);

/* Reads every stored event once (one scan of the events table) and keeps,
 * per customer seen, the count each event leaf needs: for runs over every
 * customer, where a scan beats an index lookup per customer. Event leaves
 * then read those counts, not db. Memory: customers x event leaves.
 * 0 or -1 with e. */
int jrn_rule_preload(jrn_rules *r, sqlite3 *db, jrn_err *e);

/* Evaluates segment i on rec, reading the span index where it can and the
 * jv value where it must; otherwise as jrn_rule_eval. */
int jrn_rule_eval_rec(jrn_rules *r, int i, jrn_rule_rec *rec, jrn_buf *why, jrn_err *e);

/* Evaluates segment i on rec (borrowed). With why not NULL every clause is
 * evaluated and described there, one line each, indented by depth.
 * Returns JRN_RULE_IN or JRN_RULE_OUT, or JRN_RULE_REJECT / JRN_RULE_FAIL
 * with the reason in e. */
int jrn_rule_eval(jrn_rules *r, int i, jv rec, jrn_buf *why, jrn_err *e);

/* Appends the compiled form of segment i to out as indented text: each
 * clause with its normalised operator, its path, resolved times and
 * windows, and the line it came from. 0 or -1 (memory). */
int jrn_rule_explain(const jrn_rules *r, int i, jrn_buf *out);

/* The profile members segment i reads: for each field leaf (not those in
 * event leaves' where clauses, which read stored events, nor jq leaves,
 * whose reads are unknown) the first key of its path ("rfm" for
 * rfm.score), appended to out followed by a NUL byte, in document order,
 * repeats kept. Returns how many, or -1 (memory, or no segment i). */
int jrn_rule_fields(const jrn_rules *r, int i, jrn_buf *out);

/* Frees r and everything it compiled (jq programs, regexes, statements). */
void jrn_rule_free(jrn_rules *r);

#endif
