/* fuzz/rules.c: segment files (jrn_rule_load) and the rule evaluator.
 *
 * The input is a segment file; fuzz/eval.c builds this file again with
 * FUZZ_EVAL, where the input is a segment file, a line "%%", then NDJSON
 * records. Files holding "jq" are skipped: jq leaves run libjq 1.6's
 * compiler and interpreter, not jrn's code (their time bound is tested in
 * t/hostile-bounds.bats).
 *
 * Oracles: a failure has a message "FILE:LINE: ..."; for a loaded set,
 * every segment has a name that jrn_rule_find gives back, an explanation
 * (jrn_rule_explain) and its fields (jrn_rule_fields: as many NULs as it
 * says); jrn_rule_compile over the same definitions read as YAML accepts
 * them too, with as many segments. Then every record (the input's, or a
 * few built in) is judged by every segment five ways that must agree on
 * in / out / error: the span-index fast path without and with an
 * explanation, the jv path without and with one, and a second set whose
 * event counts come from jrn_rule_preload rather than queries; an
 * explanation is never empty. Event leaves read an in-memory state file
 * holding a few events of customers c1 and c2. */
#include "fuzz.h"
#include "rules.h"
#include "yaml.h"

static sqlite3 *db;
static jv_parser *parser;

static const char *const builtin_records[] = {
	"{\"customerId\":\"c1\",\"email\":\"a@example.com\",\"lastSeenAt\":\"2025-12-30T10:00:00Z\","
	"\"traits\":{\"plan\":\"pro\",\"totalSpent\":900,\"tags\":[\"vip\",\"eu\"],"
	"\"createdAt\":\"2025-12-28T00:00:00Z\"},\"rfm\":{\"score\":\"555\",\"monetary\":700}}",
	"{\"customerId\":\"c2\",\"traits\":{\"plan\":\"free\",\"age\":17.5,\"name\":\"Zo\\u00eb\"},"
	"\"lastSeenAt\":\"2024-01-01T00:00:00.000Z\",\"consent\":null}",
	"{\"customerId\":\"c3\",\"a\":{\"b\":{\"c\":[1,2,{\"d\":true}]}},\"n\":-0,\"s\":\"\"}",
	"{\"type\":\"order.completed\",\"customerId\":\"c1\",\"timestamp\":\"2025-12-31T00:00:00Z\","
	"\"properties\":{\"amount\":12.5}}",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	jrn_err e;
	int64_t now;
	jrn_time_parse("2026-01-01T00:00:00Z", 20, 0, &now, &e);
	jrn_clock_set(now);
	if (jrn_db_open(":memory:", 1000, &db, &e) < 0 ||
	    jrn_db_exec(db,
			"INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES"
			" ('e1', 'order.completed', 'c1', 1767139200000, 0, 50,"
			"  '{\"type\":\"order.completed\",\"customerId\":\"c1\",\"properties\":{\"amount\":50,\"sku\":\"A\"}}'),"
			" ('e2', 'order.completed', 'c1', 1764547200000, 0, 500,"
			"  '{\"type\":\"order.completed\",\"customerId\":\"c1\",\"properties\":{\"amount\":500}}'),"
			" ('e3', 'page.viewed', 'c2', 1767200000000, 0, NULL,"
			"  '{\"type\":\"page.viewed\",\"customerId\":\"c2\",\"properties\":{\"path\":\"/\"}}'),"
			" ('e4', 'email.opened', 'c2', 1700000000000, 0, NULL, '{\"type\":\"email.opened\"}')",
			&e) < 0) {
		fprintf(stderr, "fuzz rules: %s\n", e.msg);
		abort();
	}
	return 0;
}

static int class_of(int r)
{
	return r == JRN_RULE_IN ? 1 : r == JRN_RULE_OUT ? 0 : -1;
}

/* Judges rec[0..len) by every segment of a (attached) and b (preloaded). */
static void judge(jrn_rules *a, jrn_rules *b, const char *p, size_t len)
{
	jrn_json_index ix = {0};
	jrn_err e;
	if (jrn_json_index_build(&ix, p, len, JRN_RULE_INDEX_DEPTH, &e) < 0 ||
	    jrn_utf8_invalid_at(p, len) != len || strcmp(jrn_json_kind_at(p, len), "object") != 0) {
		jrn_json_index_free(&ix);
		return; /* a tool rejects the record before any rule */
	}
	jv v = jrn_parse_object(&parser, p, len, &e);
	jrn_buf why = {0}, why2 = {0};
	for (int i = 0; i < jrn_rule_count(a); i++) {
		jrn_rule_rec r1 = {p, len, &ix, jv_invalid(), &parser};
		jrn_rule_rec r2 = {p, len, &ix, jv_invalid(), &parser};
		jrn_rule_rec r5 = {p, len, &ix, jv_invalid(), &parser};
		jrn_buf_reset(&why);
		jrn_buf_reset(&why2);
		int c1 = class_of(jrn_rule_eval_rec(a, i, &r1, NULL, &e));
		int c2 = class_of(jrn_rule_eval_rec(a, i, &r2, &why, &e));
		int c5 = class_of(jrn_rule_eval_rec(b, i, &r5, NULL, &e));
		FUZZ_CHECK(c1 == c2, "segment %s: fast path %d, explained %d: %.*s", jrn_rule_name(a, i),
			   c1, c2, (int)len, p);
		FUZZ_CHECK(c1 == c5, "segment %s: queried %d, preloaded %d: %.*s", jrn_rule_name(a, i),
			   c1, c5, (int)len, p);
		if (c2 >= 0)
			FUZZ_CHECK(why.len > 0, "segment %s: an empty explanation", jrn_rule_name(a, i));
		if (jv_is_valid(v)) {
			int c3 = class_of(jrn_rule_eval(a, i, v, NULL, &e));
			int c4 = class_of(jrn_rule_eval(a, i, v, &why2, &e));
			FUZZ_CHECK(c1 == c3 && c3 == c4, "segment %s: spans %d, jv %d, jv explained %d: %.*s",
				   jrn_rule_name(a, i), c1, c3, c4, (int)len, p);
		}
		jv_free(r1.v);
		jv_free(r2.v);
		jv_free(r5.v);
	}
	jrn_buf_free(&why);
	jrn_buf_free(&why2);
	jv_free(v);
	jrn_json_index_free(&ix);
}

static void check_set(jrn_rules *r)
{
	jrn_buf b = {0};
	for (int i = 0; i < jrn_rule_count(r); i++) {
		const char *name = jrn_rule_name(r, i);
		FUZZ_CHECK(name != NULL, "segment %d has no name", i);
		FUZZ_CHECK(jrn_rule_find(r, name) == i, "segment %s is not found by name", name);
		jrn_buf_reset(&b);
		FUZZ_CHECK(jrn_rule_explain(r, i, &b) == 0 && b.len > 0, "segment %s: no explanation",
			   name);
		jrn_buf_reset(&b);
		int n = jrn_rule_fields(r, i, &b);
		FUZZ_CHECK(n >= 0, "segment %s: jrn_rule_fields failed", name);
		size_t nuls = 0;
		for (size_t k = 0; k < b.len; k++)
			nuls += b.p[k] == '\0';
		FUZZ_CHECK(nuls == (size_t)n, "segment %s: %d fields, %zu NULs", name, n, nuls);
	}
	jrn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memmem(data, size, "jq", 2))
		return 0;
	size_t seglen = size;
	const uint8_t *recs = NULL;
#ifdef FUZZ_EVAL
	const uint8_t *sep = memmem(data, size, "\n%%\n", 4);
	if (sep) {
		seglen = (size_t)(sep - data) + 1;
		recs = sep + 4;
	}
#endif
	char path[64];
	int fd = fuzz_file(data, seglen, path);
	if (fd < 0)
		return 0;
	jrn_err e;
	e.msg[0] = '\0';
	jrn_rules *a = jrn_rule_load(path, &e);
	if (!a) {
		FUZZ_CHECK(strncmp(e.msg, path, strlen(path)) == 0, "a message without the file: %s",
			   e.msg);
		fuzz_file_close(fd);
		return 0;
	}
	check_set(a);

	jrn_yaml_opts yo = {.flags = JRN_YAML_LINES};
	jv defs = jrn_yaml_parse((const char *)data, seglen, "fuzz", &yo, NULL, &e);
	FUZZ_CHECK(jv_is_valid(defs), "a loaded file does not parse: %s", e.msg);
	if (jv_get_kind(defs) == JV_KIND_OBJECT && jv_object_has(jv_copy(defs), jv_string("segments")))
		defs = jv_object_get(defs, jv_string("segments"));
	jrn_rules *c = jrn_rule_compile(defs, "fuzz", &e);
	FUZZ_CHECK(c != NULL, "loaded, but jrn_rule_compile fails: %s", e.msg);
	FUZZ_CHECK(jrn_rule_count(c) == jrn_rule_count(a), "%d segments loaded, %d compiled",
		   jrn_rule_count(a), jrn_rule_count(c));
	jrn_rule_free(c);

	jrn_rules *b = jrn_rule_load(path, &e);
	FUZZ_CHECK(b != NULL, "a second load fails: %s", e.msg);
	FUZZ_CHECK(jrn_rule_attach(a, db, &e) == 0, "attach: %s", e.msg);
	FUZZ_CHECK(jrn_rule_preload(b, db, &e) == 0, "preload: %s", e.msg);
	if (recs) {
		const char *p = (const char *)recs, *end = (const char *)data + size;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			judge(a, b, p, len);
			p += len + 1;
		}
	} else {
		for (size_t i = 0; i < sizeof builtin_records / sizeof builtin_records[0]; i++)
			judge(a, b, builtin_records[i], strlen(builtin_records[i]));
	}
	jrn_rule_attach(a, NULL, &e);
	jrn_rule_free(a);
	jrn_rule_free(b);
	fuzz_file_close(fd);
	return 0;
}
