/*
 * rules-int.h: what the parts of the rule engine share, inside lib/ only.
 * rules.h is the public contract; the parts split by verb (as jq splits
 * jv.c, jv_parse.c, jv_print.c):
 *
 *   rules-compile.c  definitions (jv, positions from yaml.c) -> nodes
 *   rules-eval.c     a record through the nodes (span index first)
 *   rules-events.c   event leaves: the state file, the preloaded counts
 *   rules-explain.c  nodes as text (--explain, and the -v reasons)
 *
 * Functions shared between the parts are named jrn_rules_* (the public
 * API is jrn_rule_*).
 */
#ifndef JRN_RULES_INT_H
#define JRN_RULES_INT_H

#include <regex.h>
#include <jq.h>

#include "rules.h"

#define MAX_DEPTH 1000

/* ---- compiled form --------------------------------------------------------- */

enum op {
	OP_EQUALS,
	OP_NOT_EQUALS,
	OP_CONTAINS,
	OP_NOT_CONTAINS,
	OP_GREATER_THAN,
	OP_LESS_THAN,
	OP_GTE,
	OP_LTE,
	OP_BETWEEN,
	OP_IN,
	OP_NOT_IN,
	OP_IS_SET,
	OP_IS_NOT_SET,
	OP_STARTS_WITH,
	OP_MATCHES,
	NOPS
};

enum kind { N_ALL, N_ANY, N_NOT, N_FIELD, N_JQ, N_EVENT };

/* How a comparison reads its field: as a number, or as an RFC 3339 time. */
enum { V_NUMBER = 1, V_TIME };

typedef struct node {
	enum kind kind;
	int line;     /* in the definitions file; 0 when unknown */
	int rule_no;  /* leaves: 1-based, in document order within the segment */
	struct node **kid;
	int nkid;
	/* N_FIELD */
	char *field;  /* the dotted text, for messages */
	jv *path;     /* its keys */
	char **ckeys; /* the same as C strings, for the span index */
	int *idx;     /* per key: an array index when all digits, else -1 */
	int npath;
	int op;
	jv value;     /* as written */
	int vtype;    /* comparisons: V_NUMBER or V_TIME */
	double lo, hi;
	regex_t re;
	bool has_re;
	/* N_JQ */
	char *text;
	jq_state *jq;
	/* N_EVENT (kid[0], if any, is the where clause) */
	char *etype;
	bool negated;   /* not_event */
	int count_op;   /* OP_GTE, OP_LTE, OP_GREATER_THAN, OP_LESS_THAN, OP_EQUALS, OP_BETWEEN */
	double count_lo, count_hi;
	int64_t within; /* ms; 0 = all time */
	int leaf_id;    /* N_EVENT: its slot in the preloaded counts */
	const char *segname; /* N_EVENT, when preloaded: its segment's name */
} node;

typedef struct {
	char *name;
	char *description;
	int line;
	node *root;
} segment;

/* One stored event of the customer in hand. */
typedef struct {
	int64_t ts;
	size_t type_off, type_len, body_off, body_len;
} evrow;

struct jrn_rules {
	segment *seg;
	int n;
	char *file; /* owned */
	int64_t now;
	/* event leaves */
	bool any_events, events_body, events_unbounded;
	int64_t events_window; /* largest within */
	sqlite3_stmt *evq;
	jv key_customer;
	jrn_buf cust; /* the customer whose events are cached */
	bool cached;
	evrow *rows;
	size_t nrows, caprows;
	jrn_buf text;
	/* a jq program passed its time bound: no jq_state is touched again */
	bool jq_stuck;
	/* messages from jq's error callback while compiling */
	jrn_buf jqmsg;
	jrn_buf scratch; /* a string field, NUL-terminated for regexec */
	jrn_json_index evix; /* of the stored event in hand */
	jv_parser *evparser;
	/* jrn_rule_preload: per customer, the count of each event leaf */
	bool preloaded;
	const node **leaves;
	int nleaves;
	jrn_idmap *cust_ids; /* customer id -> its row of counts */
	uint32_t *counts;    /* customers x nleaves */
	size_t counts_cap;
};

/* now - d and now + d, saturated at the ends of int64_t: a clock before
 * 1970 (--now 1900-01-01) and a huge window (within: 15250w) must not
 * overflow; "earlier than any time" is then INT64_MIN. */
static inline int64_t jrn_rules_minus(int64_t now, int64_t d)
{
	int64_t v;
	return __builtin_sub_overflow(now, d, &v) ? (d > 0 ? INT64_MIN : INT64_MAX) : v;
}

static inline int64_t jrn_rules_plus(int64_t now, int64_t d)
{
	int64_t v;
	return __builtin_add_overflow(now, d, &v) ? (d > 0 ? INT64_MAX : INT64_MIN) : v;
}

/* The operators' names as written in rules, indexed by enum op. */
extern const char *const jrn_rules_op_names[NOPS];

/* ---- evaluating ------------------------------------------------------------ */

/* One evaluation of a segment. */
typedef struct {
	jrn_rules *r;
	jrn_buf *why;
	jrn_err *e;
	const char *seg;
	jrn_rule_rec *top; /* the record, for event leaves' customerId */
} ectx;

/* Evaluates node n on rec: 1 in, 0 out, or a JRN_RULE_ error (rules-eval.c).
 * With x->why, describes each clause there, indented by depth. */
int jrn_rules_eval_node(ectx *x, const node *n, jrn_rule_rec *rec, int depth);
/* An event leaf on the customer of x->top (rules-events.c): the same. */
int jrn_rules_eval_event(ectx *x, const node *n, int depth);

/* ---- describing (rules-explain.c) ------------------------------------------ */

/* depth levels of two spaces. */
void jrn_rules_indent(jrn_buf *b, int depth);
/* A short JSON rendering of v (borrowed; "missing" when invalid). */
void jrn_rules_show(jrn_buf *b, jv v);
/* A leaf as written, normalised: "traits.plan equals \"pro\"". */
void jrn_rules_describe_leaf(jrn_buf *b, const node *n);
/* An event leaf: "event order.completed count >= 2 within 90d". */
void jrn_rules_describe_event(jrn_buf *b, const node *n);

#endif
