/* rules-eval.c: a record through the compiled nodes (see rules.h).
 *
 * Evaluating a record walks the nodes over the span index of its text
 * (jrn_json_index, built while checking it) and allocates nothing; libjq's
 * value of the record is parsed only when a clause needs it (jq leaves,
 * escaped strings, arrays inside arrays), and -v explanations always read
 * it. Event leaves are rules-events.c's.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rules-int.h"

/* ---- jq under a time bound --------------------------------------------------
 *
 * libjq 1.6 has no way to stop a program from outside (`def f: f; f` runs
 * for ever), so a jq leaf runs under a CPU timer (ITIMER_PROF: user and
 * system time, so a program that only allocates is caught too) of
 * JRN_RULE_JQ_SECONDS. When it fires, the handler jumps out of jq_next.
 * What it left behind cannot be trusted: the jq_state is half way through
 * an instruction, and the heap may be half way through a malloc. So the
 * state is never touched again (jrn_rule_free leaks it on purpose) and the
 * evaluation returns JRN_RULE_FAIL: the run stops (exit 1) with a message
 * naming the segment, the rule and the limit, instead of going on over a
 * heap that might be damaged. Rebuilding a fresh jq_state and rejecting
 * only that record would look kinder but could corrupt every later record
 * silently; see jrn-segment(1), "Limits". */
static sigjmp_buf jq_jump;
static volatile sig_atomic_t jq_running;

static void jq_timeout(int sig)
{
	(void)sig;
	if (jq_running) {
		jq_running = 0;
		siglongjmp(jq_jump, 1);
	}
}

/* Installs the handler once. 0 or -1. */
static int jq_timer_setup(void)
{
	static bool done;
	if (done)
		return 0;
	struct sigaction sa = {0};
	sa.sa_handler = jq_timeout;
	sa.sa_flags = SA_NODEFER; /* the jump leaves the handler: nothing to unblock */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPROF, &sa, NULL) < 0)
		return -1;
	done = true;
	return 0;
}

/* Runs n's jq program on v (borrowed): its first output (owned; invalid
 * with or without a message when none or an error), or, when the time
 * bound passed or the bound could not be set, jv_invalid() with *stuck
 * set and x->e saying why. */
static jv jq_first(ectx *x, const node *n, jv v, bool *stuck)
{
	static const struct itimerval off;
	struct itimerval on = {.it_value = {.tv_sec = JRN_RULE_JQ_SECONDS}};
	*stuck = false;
	if (x->r->jq_stuck || jq_timer_setup() < 0) {
		*stuck = true;
		jrn_fail(x->e, "segment '%s', rule %d: %s", x->seg, n->rule_no,
			 x->r->jq_stuck ? "jq stopped earlier in this run"
					: "jq: cannot set its time limit");
		return jv_invalid();
	}
	if (sigsetjmp(jq_jump, 0) != 0) {
		setitimer(ITIMER_PROF, &off, NULL);
		x->r->jq_stuck = true;
		*stuck = true;
		jrn_fail(x->e, "segment '%s', rule %d: jq ran for more than %d s of CPU on one record "
			 "(the limit); the run stops, as libjq cannot be interrupted safely",
			 x->seg, n->rule_no, JRN_RULE_JQ_SECONDS);
		return jv_invalid();
	}
	setitimer(ITIMER_PROF, &on, NULL);
	jq_running = 1;
	jq_start(n->jq, jv_copy(v), 0);
	jv out = jq_next(n->jq);
	jq_running = 0;
	setitimer(ITIMER_PROF, &off, NULL);
	return out;
}

static bool negative_op(int op);

jv jrn_rule_rec_value(jrn_rule_rec *rec, jrn_err *e)
{
	if (!jv_is_valid(rec->v)) {
		jv_free(rec->v);
		if (!rec->p || !rec->parser) {
			jrn_fail(e, "no record");
			rec->v = jv_invalid();
		} else {
			rec->v = jrn_parse_checked_object(rec->parser, rec->p, rec->len, e);
		}
	}
	return rec->v;
}

/* The next element of the JSON array text s[0..n) (checked JSON) from *i
 * (start at 1): 1 with its span and kind ('"' spans exclude the quotes),
 * 0 at the end. */
static int arr_next(const char *s, size_t n, size_t *i, const char **el, size_t *elen, char *kind,
		    bool *escaped)
{
	size_t j = *i;
	while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == ','))
		j++;
	if (j >= n || s[j] == ']')
		return 0;
	*escaped = false;
	if (s[j] == '"') {
		size_t a = ++j;
		while (j < n && s[j] != '"') {
			if (s[j] == '\\') {
				*escaped = true;
				j++;
			}
			j++;
		}
		*el = s + a;
		*elen = j - a;
		*kind = '"';
		*i = j + 1;
		return 1;
	}
	size_t a = j;
	if (s[j] == '{' || s[j] == '[') {
		int depth = 0;
		bool str = false;
		for (; j < n; j++) {
			if (str) {
				if (s[j] == '\\')
					j++;
				else if (s[j] == '"')
					str = false;
			} else if (s[j] == '"') {
				str = true;
			} else if (s[j] == '{' || s[j] == '[') {
				depth++;
			} else if ((s[j] == '}' || s[j] == ']') && --depth == 0) {
				j++;
				break;
			}
		}
		*kind = s[a];
	} else {
		while (j < n && s[j] != ',' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' &&
		       s[j] != '\n' && s[j] != '\r')
			j++;
		*kind = s[a] == 't' || s[a] == 'f' || s[a] == 'n' ? s[a] : '0';
	}
	*el = s + a;
	*elen = j - a;
	*i = j;
	return 1;
}

/* Whether the scalar element (kind, text) equals v (borrowed): 1, 0, or -1
 * when it cannot tell from the text (escapes, nested values). */
static int el_equals(char kind, const char *t, size_t len, bool escaped, jv v)
{
	jv_kind vk = jv_get_kind(v);
	switch (kind) {
	case '"':
		if (vk != JV_KIND_STRING)
			return 0;
		if (escaped)
			return -1;
		return (size_t)jv_string_length_bytes(jv_copy(v)) == len &&
		       memcmp(jv_string_value(v), t, len) == 0;
	case '0':
		return vk == JV_KIND_NUMBER && strtod(t, NULL) == jv_number_value(v);
	case 't':
		return vk == JV_KIND_TRUE;
	case 'f':
		return vk == JV_KIND_FALSE;
	case 'n':
		return vk == JV_KIND_NULL;
	default:
		return vk == JV_KIND_ARRAY || vk == JV_KIND_OBJECT ? -1 : 0;
	}
}

/* Whether some element of the array text s[0..n) equals v (contains), or
 * equals some element of the list v (in, list true): 1, 0 or -1. */
static int arr_match(const char *s, size_t n, jv v, bool list)
{
	size_t i = 1;
	const char *el;
	size_t len;
	char kind;
	bool esc;
	int unsure = 0;
	while (arr_next(s, n, &i, &el, &len, &kind, &esc)) {
		if (!list) {
			int r = el_equals(kind, el, len, esc, v);
			if (r > 0)
				return 1;
			if (r < 0)
				unsure = -1;
			continue;
		}
		int m = jv_array_length(jv_copy(v));
		for (int k = 0; k < m; k++) {
			jv x = jv_array_get(jv_copy(v), k);
			int r = el_equals(kind, el, len, esc, x);
			jv_free(x);
			if (r > 0)
				return 1;
			if (r < 0)
				unsure = -1;
		}
	}
	return unsure;
}

/* The leaf decided from the span index alone: 0 or 1, or -1 when it needs
 * the jv value (an array or object in the way, an escape, a rare pair of
 * kinds). Allocates nothing. */
static int fast_leaf(jrn_rules *r, const node *n, const jrn_rule_rec *rec)
{
	const jrn_json_index *ix = rec->ix;
	const jrn_json_member *m = NULL;
	int parent = -1;
	if (n->npath > JRN_RULE_INDEX_DEPTH)
		return -1;
	for (int i = 0; i < n->npath; i++) {
		if (i > 0) {
			if (m->kind == '[')
				return -1;
			if (m->kind != '{') {
				m = NULL;
				break;
			}
			parent = (int)(m - ix->m);
		}
		m = jrn_json_find(ix, parent, n->ckeys[i]);
		if (!m)
			break;
	}
	bool pos;
	jv_kind vk = jv_get_kind(n->value);
	char k = m ? m->kind : 0;
	if (k == '"' && m->escaped)
		return -1;
	switch (n->op) {
	case OP_IS_SET:
	case OP_IS_NOT_SET:
		pos = k && k != 'n';
		break;
	case OP_EQUALS:
	case OP_NOT_EQUALS:
		if (!k)
			pos = false;
		else if (k == '"')
			pos = vk == JV_KIND_STRING &&
			      (size_t)jv_string_length_bytes(jv_copy(n->value)) == m->vlen &&
			      memcmp(jv_string_value(n->value), m->val, m->vlen) == 0;
		else if (k == '0')
			pos = vk == JV_KIND_NUMBER && strtod(m->val, NULL) == jv_number_value(n->value);
		else if (k == 'n')
			pos = vk == JV_KIND_NULL;
		else if (k == 't')
			pos = vk == JV_KIND_TRUE;
		else if (k == 'f')
			pos = vk == JV_KIND_FALSE;
		else
			return -1;
		break;
	case OP_CONTAINS:
	case OP_NOT_CONTAINS:
		if (k == '[') {
			int a = arr_match(m->val, m->vlen, n->value, false);
			if (a < 0)
				return -1;
			pos = a;
			break;
		}
		pos = k == '"' && vk == JV_KIND_STRING &&
		      memmem(m->val, m->vlen, jv_string_value(n->value),
			     (size_t)jv_string_length_bytes(jv_copy(n->value))) != NULL;
		break;
	case OP_GREATER_THAN:
	case OP_LESS_THAN:
	case OP_GTE:
	case OP_LTE:
	case OP_BETWEEN: {
		double x;
		int64_t ms;
		if (n->vtype == V_NUMBER && k == '0')
			x = strtod(m->val, NULL);
		else if (n->vtype == V_TIME && k == '"' &&
			 jrn_time_parse(m->val, m->vlen, JRN_TIME_DATE_OK, &ms, NULL) == 0)
			x = (double)ms;
		else {
			pos = false;
			break;
		}
		switch (n->op) {
		case OP_GREATER_THAN: pos = x > n->lo; break;
		case OP_LESS_THAN: pos = x < n->lo; break;
		case OP_GTE: pos = x >= n->lo; break;
		case OP_LTE: pos = x <= n->lo; break;
		default: pos = x >= n->lo && x <= n->hi; break;
		}
		break;
	}
	case OP_IN:
	case OP_NOT_IN: {
		if (!k) {
			pos = false;
			break;
		}
		if (k == '[') {
			/* the whole array may equal a list element: the jv way */
			int len = jv_array_length(jv_copy(n->value));
			for (int i = 0; i < len; i++) {
				jv el = jv_array_get(jv_copy(n->value), i);
				jv_kind ek = jv_get_kind(el);
				jv_free(el);
				if (ek == JV_KIND_ARRAY)
					return -1;
			}
			int a = arr_match(m->val, m->vlen, n->value, true);
			if (a < 0)
				return -1;
			pos = a;
			break;
		}
		if (k != '"' && k != '0')
			return -1;
		pos = false;
		int len = jv_array_length(jv_copy(n->value));
		for (int i = 0; !pos && i < len; i++) {
			jv el = jv_array_get(jv_copy(n->value), i);
			if (k == '"' && jv_get_kind(el) == JV_KIND_STRING)
				pos = (size_t)jv_string_length_bytes(jv_copy(el)) == m->vlen &&
				      memcmp(jv_string_value(el), m->val, m->vlen) == 0;
			else if (k == '0' && jv_get_kind(el) == JV_KIND_NUMBER)
				pos = strtod(m->val, NULL) == jv_number_value(el);
			jv_free(el);
		}
		break;
	}
	case OP_STARTS_WITH: {
		size_t want = (size_t)jv_string_length_bytes(jv_copy(n->value));
		pos = k == '"' && m->vlen >= want && memcmp(m->val, jv_string_value(n->value), want) == 0;
		break;
	}
	case OP_MATCHES:
		if (k != '"') {
			pos = false;
			break;
		}
		jrn_buf_reset(&r->scratch);
		if (jrn_buf_add(&r->scratch, m->val, m->vlen) < 0 || memchr(m->val, '\0', m->vlen))
			return -1;
		pos = regexec(&n->re, r->scratch.p, 0, NULL, 0) == 0;
		break;
	default:
		return -1;
	}
	return negative_op(n->op) ? !pos : pos;
}

/* The value at n's path in v (borrowed): owned, invalid when absent. */
static jv lookup(const node *n, jv v)
{
	jv cur = jv_copy(v);
	for (int i = 0; i < n->npath; i++) {
		jv_kind k = jv_get_kind(cur);
		if (k == JV_KIND_OBJECT) {
			cur = jv_object_get(cur, jv_copy(n->path[i]));
		} else if (k == JV_KIND_ARRAY && n->idx[i] >= 0) {
			cur = jv_array_get(cur, n->idx[i]);
		} else {
			jv_free(cur);
			return jv_invalid();
		}
		if (!jv_is_valid(cur))
			return cur;
	}
	return cur;
}

/* Borrows both. */
static bool same(jv a, jv b)
{
	return jv_equal(jv_copy(a), jv_copy(b));
}

static bool in_list(jv x, jv list)
{
	int n = jv_array_length(jv_copy(list));
	for (int i = 0; i < n; i++) {
		jv el = jv_array_get(jv_copy(list), i);
		bool eq = same(x, el);
		jv_free(el);
		if (eq)
			return true;
	}
	return false;
}

/* The field as a number or time for a comparison: true and *x, or false. */
static bool cmp_read(const node *n, jv got, double *x)
{
	if (n->vtype == V_NUMBER) {
		if (jv_get_kind(got) != JV_KIND_NUMBER)
			return false;
		*x = jv_number_value(got);
		return true;
	}
	if (jv_get_kind(got) != JV_KIND_STRING)
		return false;
	int64_t ms;
	if (jrn_time_parse(jv_string_value(got), (size_t)jv_string_length_bytes(jv_copy(got)),
			   JRN_TIME_DATE_OK, &ms, NULL) < 0)
		return false;
	*x = (double)ms;
	return true;
}

/* Borrows got; the positive form of the operator. */
static bool test_op(const node *n, jv got)
{
	jv_kind k = jv_get_kind(got);
	double x;
	switch (n->op) {
	case OP_IS_SET:
	case OP_IS_NOT_SET:
		return k != JV_KIND_INVALID && k != JV_KIND_NULL;
	case OP_EQUALS:
	case OP_NOT_EQUALS:
		return k != JV_KIND_INVALID && same(got, n->value);
	case OP_CONTAINS:
	case OP_NOT_CONTAINS:
		if (k == JV_KIND_STRING && jv_get_kind(n->value) == JV_KIND_STRING)
			return memmem(jv_string_value(got), (size_t)jv_string_length_bytes(jv_copy(got)),
				      jv_string_value(n->value),
				      (size_t)jv_string_length_bytes(jv_copy(n->value))) != NULL;
		if (k == JV_KIND_ARRAY)
			return in_list(n->value, got);
		return false;
	case OP_GREATER_THAN:
		return cmp_read(n, got, &x) && x > n->lo;
	case OP_LESS_THAN:
		return cmp_read(n, got, &x) && x < n->lo;
	case OP_GTE:
		return cmp_read(n, got, &x) && x >= n->lo;
	case OP_LTE:
		return cmp_read(n, got, &x) && x <= n->lo;
	case OP_BETWEEN:
		return cmp_read(n, got, &x) && x >= n->lo && x <= n->hi;
	case OP_IN:
	case OP_NOT_IN:
		if (k == JV_KIND_INVALID)
			return false;
		if (k == JV_KIND_ARRAY) {
			int len = jv_array_length(jv_copy(got));
			for (int i = 0; i < len; i++) {
				jv el = jv_array_get(jv_copy(got), i);
				bool hit = in_list(el, n->value);
				jv_free(el);
				if (hit)
					return true;
			}
			return in_list(got, n->value);
		}
		return in_list(got, n->value);
	case OP_STARTS_WITH: {
		if (k != JV_KIND_STRING)
			return false;
		size_t want = (size_t)jv_string_length_bytes(jv_copy(n->value));
		return (size_t)jv_string_length_bytes(jv_copy(got)) >= want &&
		       memcmp(jv_string_value(got), jv_string_value(n->value), want) == 0;
	}
	case OP_MATCHES:
		return k == JV_KIND_STRING && regexec(&n->re, jv_string_value(got), 0, NULL, 0) == 0;
	}
	return false;
}

static bool negative_op(int op)
{
	return op == OP_NOT_EQUALS || op == OP_NOT_CONTAINS || op == OP_NOT_IN || op == OP_IS_NOT_SET;
}

int jrn_rules_eval_node(ectx *x, const node *n, jrn_rule_rec *rec, int depth)
{
	int rc;
	switch (n->kind) {
	case N_ALL:
	case N_ANY: {
		bool want = n->kind == N_ANY; /* the value that decides */
		bool res = !want;
		size_t mark = x->why ? x->why->len : 0;
		if (x->why) {
			jrn_rules_indent(x->why, depth);
			jrn_buf_adds(x->why, n->kind == N_ALL ? "?    all\n" : "?    any\n");
		}
		for (int i = 0; i < n->nkid; i++) {
			rc = jrn_rules_eval_node(x, n->kid[i], rec, depth + 1);
			if (rc < 0)
				return rc;
			if ((rc == 1) == want) {
				res = want;
				if (!x->why)
					break;
			}
		}
		if (x->why)
			memcpy(x->why->p + mark + (size_t)depth * 2, res ? "yes" : "no ", 3);
		return res;
	}
	case N_NOT: {
		size_t mark = x->why ? x->why->len : 0;
		if (x->why) {
			jrn_rules_indent(x->why, depth);
			jrn_buf_adds(x->why, "?    not\n");
		}
		rc = jrn_rules_eval_node(x, n->kid[0], rec, depth + 1);
		if (rc < 0)
			return rc;
		if (x->why)
			memcpy(x->why->p + mark + (size_t)depth * 2, !rc ? "yes" : "no ", 3);
		return !rc;
	}
	case N_FIELD: {
		if (rec->ix && !x->why && (rc = fast_leaf(x->r, n, rec)) >= 0)
			return rc;
		jv v = jrn_rule_rec_value(rec, x->e);
		if (!jv_is_valid(v))
			return JRN_RULE_REJECT;
		jv got = lookup(n, v);
		bool res = test_op(n, got);
		if (negative_op(n->op))
			res = !res;
		if (x->why) {
			jrn_rules_indent(x->why, depth);
			jrn_buf_addf(x->why, "%s  rule %d: ", res ? "yes" : "no ", n->rule_no);
			jrn_rules_describe_leaf(x->why, n);
			jrn_buf_adds(x->why, " (got ");
			jrn_rules_show(x->why, got);
			jrn_buf_adds(x->why, ")\n");
		}
		jv_free(got);
		return res;
	}
	case N_JQ: {
		jv v = jrn_rule_rec_value(rec, x->e);
		if (!jv_is_valid(v))
			return JRN_RULE_REJECT;
		bool stuck;
		jv out = jq_first(x, n, v, &stuck);
		if (stuck)
			return JRN_RULE_FAIL;
		bool res;
		if (!jv_is_valid(out)) {
			if (jv_invalid_has_msg(jv_copy(out))) {
				jv msg = jv_invalid_get_msg(out);
				if (jv_get_kind(msg) == JV_KIND_STRING)
					jrn_fail(x->e, "segment '%s', rule %d: jq: %s", x->seg, n->rule_no,
						 jv_string_value(msg));
				else {
					char tmp[200];
					jv_dump_string_trunc(jv_copy(msg), tmp, sizeof tmp);
					jrn_fail(x->e, "segment '%s', rule %d: jq: %s", x->seg, n->rule_no, tmp);
				}
				jv_free(msg);
				return JRN_RULE_REJECT;
			}
			jv_free(out);
			res = false;
		} else {
			jv_kind k = jv_get_kind(out);
			res = k != JV_KIND_NULL && k != JV_KIND_FALSE;
			if (x->why) {
				jrn_rules_indent(x->why, depth);
				jrn_buf_addf(x->why, "%s  rule %d: jq %s (got ", res ? "yes" : "no ",
					     n->rule_no, n->text);
				jrn_rules_show(x->why, out);
				jrn_buf_adds(x->why, ")\n");
			}
			jv_free(out);
			return res;
		}
		if (x->why) {
			jrn_rules_indent(x->why, depth);
			jrn_buf_addf(x->why, "no   rule %d: jq %s (no output)\n", n->rule_no, n->text);
		}
		return res;
	}
	case N_EVENT:
		return jrn_rules_eval_event(x, n, depth);
	}
	return 0;
}

int jrn_rule_eval_rec(jrn_rules *r, int i, jrn_rule_rec *rec, jrn_buf *why, jrn_err *e)
{
	if (i < 0 || i >= r->n)
		return jrn_fail(e, "no segment %d", i), JRN_RULE_FAIL;
	ectx x = {.r = r, .why = why, .e = e, .seg = r->seg[i].name, .top = rec};
	return jrn_rules_eval_node(&x, r->seg[i].root, rec, 1);
}

int jrn_rule_eval(jrn_rules *r, int i, jv rec, jrn_buf *why, jrn_err *e)
{
	jrn_rule_rec rr = {.v = rec};
	return jrn_rule_eval_rec(r, i, &rr, why, e);
}
