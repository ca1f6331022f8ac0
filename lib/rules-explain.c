/* rules-explain.c: compiled nodes as text (see rules.h): --explain, and
 * the descriptions the -v reasons use.
 */
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

void jrn_rules_indent(jrn_buf *b, int depth)
{
	for (int i = 0; i < depth; i++)
		jrn_buf_adds(b, "  ");
}

/* A short JSON rendering of v (borrowed) into b. */
void jrn_rules_show(jrn_buf *b, jv v)
{
	if (!jv_is_valid(v)) {
		jrn_buf_adds(b, "missing");
		return;
	}
	char tmp[80];
	jv_dump_string_trunc(jv_copy(v), tmp, sizeof tmp);
	jrn_buf_adds(b, tmp);
}

static void show_time(jrn_buf *b, double ms)
{
	char t[32];
	jrn_time_format((int64_t)ms, t);
	jrn_buf_adds(b, t);
}

/* The clause as written, normalised: "traits.plan equals \"pro\"". */
void jrn_rules_describe_leaf(jrn_buf *b, const node *n)
{
	jrn_buf_addf(b, "%s %s", n->field, jrn_rules_op_names[n->op]);
	if (n->op == OP_IS_SET || n->op == OP_IS_NOT_SET)
		return;
	jrn_buf_addc(b, ' ');
	if (n->vtype == V_TIME) {
		if (n->op == OP_BETWEEN) {
			jrn_buf_addc(b, '[');
			show_time(b, n->lo);
			jrn_buf_addc(b, ',');
			show_time(b, n->hi);
			jrn_buf_addc(b, ']');
		} else {
			show_time(b, n->lo);
		}
		if (jv_get_kind(n->value) == JV_KIND_STRING &&
		    jrn_time_parse(jv_string_value(n->value),
				   (size_t)jv_string_length_bytes(jv_copy(n->value)), JRN_TIME_DATE_OK,
				   &(int64_t){0}, NULL) < 0) {
			jrn_buf_adds(b, " (");
			jrn_buf_adds(b, jv_string_value(n->value));
			jrn_buf_addc(b, ')');
		}
		return;
	}
	jrn_rules_show(b, n->value);
}

static const char *count_sym(int op)
{
	switch (op) {
	case OP_EQUALS: return "=";
	case OP_GREATER_THAN: return ">";
	case OP_LESS_THAN: return "<";
	case OP_GTE: return ">=";
	case OP_LTE: return "<=";
	default: return "between";
	}
}

void jrn_rules_describe_event(jrn_buf *b, const node *n)
{
	jrn_buf_addf(b, "%s %s", n->negated ? "not_event" : "event", n->etype);
	if (!n->negated) {
		if (n->count_op == OP_BETWEEN)
			jrn_buf_addf(b, " count between [%g,%g]", n->count_lo, n->count_hi);
		else
			jrn_buf_addf(b, " count %s %g", count_sym(n->count_op), n->count_lo);
	}
	if (n->within) {
		int64_t w = n->within;
		if (w % 86400000 == 0)
			jrn_buf_addf(b, " within %lldd", (long long)(w / 86400000));
		else if (w % 3600000 == 0)
			jrn_buf_addf(b, " within %lldh", (long long)(w / 3600000));
		else
			jrn_buf_addf(b, " within %lldms", (long long)w);
	}
}

static void explain_node(jrn_buf *b, const node *n, int depth)
{
	jrn_rules_indent(b, depth);
	switch (n->kind) {
	case N_ALL:
		jrn_buf_adds(b, "all");
		break;
	case N_ANY:
		jrn_buf_adds(b, "any");
		break;
	case N_NOT:
		jrn_buf_adds(b, "not");
		break;
	case N_FIELD:
		jrn_buf_addf(b, "rule %d: ", n->rule_no);
		jrn_rules_describe_leaf(b, n);
		jrn_buf_adds(b, "  [path");
		for (int i = 0; i < n->npath; i++) {
			jrn_buf_addc(b, ' ');
			jrn_json_append_str(b, jv_string_value(n->path[i]),
					    (size_t)jv_string_length_bytes(jv_copy(n->path[i])));
		}
		if (n->vtype)
			jrn_buf_adds(b, n->vtype == V_TIME ? "; compared as times" : "; compared as numbers");
		if (n->op == OP_MATCHES)
			jrn_buf_adds(b, "; POSIX extended regex");
		jrn_buf_addc(b, ']');
		break;
	case N_JQ:
		jrn_buf_addf(b, "rule %d: jq %s", n->rule_no, n->text);
		break;
	case N_EVENT:
		jrn_buf_addf(b, "rule %d: ", n->rule_no);
		jrn_rules_describe_event(b, n);
		if (n->nkid)
			jrn_buf_adds(b, " where");
		break;
	}
	if (n->line > 0)
		jrn_buf_addf(b, "  (line %d)", n->line);
	jrn_buf_addc(b, '\n');
	for (int i = 0; i < n->nkid; i++)
		explain_node(b, n->kid[i], depth + 1);
}

int jrn_rule_explain(const jrn_rules *r, int i, jrn_buf *out)
{
	if (i < 0 || i >= r->n)
		return -1;
	const segment *s = &r->seg[i];
	jrn_buf_addf(out, "segment %s", s->name);
	if (r->file && s->line > 0)
		jrn_buf_addf(out, " (%s:%d)", r->file, s->line);
	else if (r->file)
		jrn_buf_addf(out, " (%s)", r->file);
	jrn_buf_addc(out, '\n');
	if (s->description)
		jrn_buf_addf(out, "  description: %s\n", s->description);
	char t[32];
	jrn_time_format(r->now, t);
	jrn_buf_addf(out, "  now: %s\n", t);
	explain_node(out, s->root, 1);
	return out->p ? 0 : -1;
}


/* Field leaves under n, not inside event leaves (their where clauses read
 * the stored event, not the profile). */
static int fields_node(const node *n, jrn_buf *out)
{
	if (n->kind == N_EVENT)
		return 0;
	if (n->kind == N_FIELD && n->npath > 0) {
		const char *k = jv_string_value(n->path[0]);
		size_t len = (size_t)jv_string_length_bytes(jv_copy(n->path[0]));
		if (jrn_buf_add(out, k, len) < 0 || jrn_buf_addc(out, '\0') < 0)
			return -1;
		return 1;
	}
	int count = 0;
	for (int i = 0; i < n->nkid; i++) {
		int c = fields_node(n->kid[i], out);
		if (c < 0)
			return -1;
		count += c;
	}
	return count;
}

int jrn_rule_fields(const jrn_rules *r, int i, jrn_buf *out)
{
	if (i < 0 || i >= r->n)
		return -1;
	return fields_node(r->seg[i].root, out);
}
