/* Unit tests of lib/yaml.c: the scalars jrn.yaml and segment files used to
 * read differently (now one reader, so one answer, checked through both
 * front ends), positions, anchors and the alias cap, ${NAME} and "$${". */
#include <stdlib.h>
#include <unistd.h>

#include "jrn.h"
#include "rules.h"
#include "unit.h"
#include "yaml.h"

/* text parsed with flags: its compact JSON, or "ERR " and the message. */
static const char *parse(const char *text, int flags)
{
	static jrn_buf out;
	jrn_err e;
	jrn_yaml_opts o = {.flags = flags};
	jrn_buf_reset(&out);
	jv pos;
	jv v = jrn_yaml_parse(text, strlen(text), "t.yaml", &o, &pos, &e);
	jv_free(pos);
	if (!jv_is_valid(v)) {
		jv_free(v);
		jrn_buf_addf(&out, "ERR %s", e.msg);
		return out.p;
	}
	jv s = jv_dump_string(v, 0);
	jrn_buf_adds(&out, jv_string_value(s));
	jv_free(s);
	return out.p;
}

static void put(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(name);
		exit(99);
	}
}

/* The scalar text s as jrn.yaml reads it: "sources: {v: S}" -> the JSON of
 * v, or "ERR " and the message. */
static const char *via_config(const char *s)
{
	static jrn_buf out;
	char text[256];
	jrn_err e;
	snprintf(text, sizeof text, "sources:\n  v: %s\n", s);
	put("jrn.yaml", text);
	jrn_buf_reset(&out);
	jv cfg = jrn_config_load("jrn.yaml", &e);
	if (!jv_is_valid(cfg)) {
		jv_free(cfg);
		jrn_buf_addf(&out, "ERR %s", e.msg);
		return out.p;
	}
	jv v = jrn_config_get(cfg, "sources.v");
	jv d = jv_dump_string(v, 0);
	jrn_buf_adds(&out, jv_string_value(d));
	jv_free(d);
	jv_free(cfg);
	return out.p;
}

/* The same scalar as a segment file reads it: "s: {rule: {v: S}}" -> the
 * value the compiled leaf compares with (from jrn_rule_explain), or "ERR "
 * and the message. */
static const char *via_rules(const char *s)
{
	static jrn_buf out;
	char text[256];
	jrn_err e;
	snprintf(text, sizeof text, "s:\n  rule: {v: %s}\n", s);
	put("s.yaml", text);
	jrn_buf_reset(&out);
	jrn_rules *r = jrn_rule_load("s.yaml", &e);
	if (!r) {
		jrn_buf_addf(&out, "ERR %s", e.msg);
		return out.p;
	}
	jrn_buf ex = {0};
	jrn_rule_explain(r, 0, &ex);
	const char *at = ex.p ? strstr(ex.p, "v equals ") : NULL;
	if (at) {
		at += strlen("v equals ");
		jrn_buf_add(&out, at, strcspn(at, " "));
	}
	jrn_buf_free(&ex);
	jrn_rule_free(r);
	return out.p ? out.p : "";
}

static void test_scalars(void)
{
	/* What differed between jrn.yaml and segment files before yaml.c. */
	static const struct {
		const char *text, *value; /* value: JSON, or the start of the error */
	} same[] = {
		{"0x1F", "31"},
		{"0o17", "15"},
		{"9007199254740992", "9007199254740992"},
		{"-9007199254740992", "-9007199254740992"},
		{"9007199254740993", "ERR '9007199254740993': integer too large"},
		{"12345678901234567890", "ERR '12345678901234567890': integer too large"},
		{"1e999", "ERR '1e999': number out of range"},
		{".inf", "ERR '.inf': JSON has no infinity"},
		{"-.Inf", "ERR '-.Inf': JSON has no infinity"},
		{".nan", "ERR '.nan': JSON has no NaN"},
		{"'0x1F'", "\"0x1F\""},
		{"\"12345678901234567890\"", "\"12345678901234567890\""},
		{"!!str 0x1F", "\"0x1F\""},
		{"1e3", "1000"},
		{"+7", "7"},
		{"0x", "\"0x\""},
		{"1_000", "\"1_000\""},
		{"yes", "\"yes\""},
		{"~", "null"},
		{"True", "true"},
	};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		const char *want = same[i].value;
		bool err = !strncmp(want, "ERR ", 4);
		char got[512];
		snprintf(got, sizeof got, "%s", parse(same[i].text, 0));
		if (err) {
			/* the error names file:line:col of the scalar */
			char full[300];
			snprintf(full, sizeof full, "ERR t.yaml:1:1: %s", want + 4);
			CHECK(!strncmp(got, full, strlen(full)), "%s: %s", same[i].text, got);
			snprintf(full, sizeof full, "ERR jrn.yaml:2:6: %s", want + 4);
			const char *c = via_config(same[i].text);
			CHECK(!strncmp(c, full, strlen(full)), "jrn.yaml, %s: %s", same[i].text, c);
			snprintf(full, sizeof full, "ERR s.yaml:2: %s", want + 4);
			const char *r = via_rules(same[i].text);
			CHECK(!strncmp(r, full, strlen(full)), "segment file, %s: %s", same[i].text, r);
		} else {
			CHECK_STR(got, want, "%s", same[i].text);
			CHECK_STR(via_config(same[i].text), want, "jrn.yaml: %s", same[i].text);
			CHECK_STR(via_rules(same[i].text), want, "segment file: %s", same[i].text);
		}
	}
	CHECK_STR(parse("", 0), "null", "an empty text is null");
	CHECK_STR(parse("!!int abc", 0), "ERR t.yaml:1:1: 'abc' is not a valid !!int", "a tag that does not fit");
	CHECK_STR(parse("a: 1\n---\nb: 2\n", 0),
		  "ERR t.yaml:2:1: a second YAML document: the file is one document", "two documents");
}

static void test_positions(void)
{
	const char *text = "z: 1\na:\n  b: [x, {c: 1}]\n  'd': |\n    t\n";
	jrn_err e;
	jv pos;
	jv v = jrn_yaml_parse(text, strlen(text), "t.yaml", NULL, &pos, &e);
	CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "parsed");
	jrn_yaml_at a = jrn_yaml_pos_at(pos);
	CHECK(a.line == 1 && a.col == 1, "the root at 1:1 (%d:%d)", a.line, a.col);
	jv keys = jrn_yaml_pos_keys(pos);
	jv d = jv_dump_string(keys, 0);
	CHECK_STR(jv_string_value(d), "[\"z\",\"a\"]", "keys in document order");
	jv_free(d);
	jv ka = jv_string("a"), kb = jv_string("b"), kc = jv_string("c"), kd = jv_string("d");
	a = jrn_yaml_pos_key_at(pos, ka);
	CHECK(a.line == 2 && a.col == 1, "key a at 2:1 (%d:%d)", a.line, a.col);
	jv pa = jrn_yaml_pos_value(pos, ka);
	a = jrn_yaml_pos_at(pa);
	CHECK(a.line == 3 && a.col == 3, "a's mapping at 3:3 (%d:%d)", a.line, a.col);
	jv pb = jrn_yaml_pos_value(pa, kb);
	a = jrn_yaml_pos_at(pb);
	CHECK(a.line == 3 && a.col == 6, "b's list at 3:6 (%d:%d)", a.line, a.col);
	jv p1 = jrn_yaml_pos_item(pb, 1);
	a = jrn_yaml_pos_at(p1);
	CHECK(a.line == 3 && a.col == 10, "item 1 at 3:10 (%d:%d)", a.line, a.col);
	a = jrn_yaml_pos_key_at(p1, kc);
	CHECK(a.line == 3 && a.col == 11, "its key c at 3:11 (%d:%d)", a.line, a.col);
	jv p9 = jrn_yaml_pos_item(pb, 9);
	CHECK(jv_get_kind(p9) == JV_KIND_NULL, "no item 9");
	a = jrn_yaml_pos_key_at(pa, kd);
	CHECK(a.line == 4 && a.col == 3, "a quoted key at 4:3 (%d:%d)", a.line, a.col);
	jv pd = jrn_yaml_pos_value(pa, kd);
	a = jrn_yaml_pos_at(pd);
	CHECK(a.line == 4 && a.col == 8, "a block scalar at its indicator, 4:8 (%d:%d)", a.line, a.col);
	jv missing = jrn_yaml_pos_value(pa, kc);
	CHECK(jv_get_kind(missing) == JV_KIND_NULL && jrn_yaml_pos_at(missing).line == 0,
	      "an absent key has no position");
	jv_free(missing);
	jv_free(pd);
	jv_free(p9);
	jv_free(p1);
	jv_free(pb);
	jv_free(pa);
	jv_free(ka);
	jv_free(kb);
	jv_free(kc);
	jv_free(kd);
	jv_free(pos);
	jv_free(v);

	CHECK_STR(parse("a: 1\nb: 2\na: 3\n", 0), "ERR t.yaml:3:1: duplicate key 'a' (first at 1:1)",
		  "a duplicate key, both places");
	CHECK_STR(parse("a: 1\nb: 2\na: 3\n", JRN_YAML_LINES),
		  "ERR t.yaml:3: key 'a' given twice (first at line 1)", "JRN_YAML_LINES: lines only");
	CHECK_STR(parse("a: [1,\n", 0),
		  "ERR t.yaml:2:1: did not find expected node content (while parsing a flow node at 2:1)",
		  "libyaml's errors, 1-based");
}

static void test_aliases(void)
{
	CHECK_STR(parse("a: &x [1, {b: 2}]\nc: *x\n", 0), "{\"a\":[1,{\"b\":2}],\"c\":[1,{\"b\":2}]}",
		  "an alias repeats its anchor's value");
	const char *text = "a: &x {b: 1}\nc: *x\n";
	jv pos;
	jv v = jrn_yaml_parse(text, strlen(text), "t.yaml", NULL, &pos, NULL);
	jv kc = jv_string("c"), kb = jv_string("b");
	jv pc = jrn_yaml_pos_value(pos, kc);
	jrn_yaml_at a = jrn_yaml_pos_at(pc);
	CHECK(a.line == 2 && a.col == 4, "an alias's position is where it is written (%d:%d)", a.line,
	      a.col);
	CHECK(jrn_yaml_pos_key_at(pc, kb).line == 0, "nothing inside an alias has a position");
	jv_free(pc);
	jv_free(kc);
	jv_free(kb);
	jv_free(pos);
	jv_free(v);
	CHECK_STR(parse("a: *nope\n", 0), "ERR t.yaml:1:4: undefined alias *nope", "undefined alias");
	CHECK_STR(parse("a: &r [1, *r]\n", 0), "ERR t.yaml:1:11: alias *r refers to a node that contains it",
		  "an alias inside its own anchor");
	CHECK_STR(parse("a: &a {x: 1}\nb:\n  <<: *a\n", 0),
		  "ERR t.yaml:3:3: merge keys ('<<') are not supported; write the keys out", "merge keys");

	/* A billion laughs: each level ten aliases of the one before. The
	 * values are shared (cheap to build), but a reader of the tree would
	 * walk 10^9 nodes; the cap stops it at the alias that crosses
	 * 100,000 (issue 10: the old cap of 2^24 let 620 bytes cost 53 s). */
	jrn_buf b = {0};
	jrn_buf_adds(&b, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i <= 9; i++) {
		jrn_buf_addf(&b, "l%d: &l%d [", i, i);
		for (int j = 0; j < 10; j++)
			jrn_buf_addf(&b, "%s*l%d", j ? ", " : "", i - 1);
		jrn_buf_adds(&b, "]\n");
	}
	const char *got = parse(b.p, 0);
	CHECK(!strncmp(got, "ERR t.yaml:5:", 13) &&
	      strstr(got, "aliases expand to more than 100000 nodes (the limit)"),
	      "the alias cap: %s", got);
	CHECK(!strncmp(parse("l0: &l0 [x, x]\nl1: &l1 [*l0, *l0]\nl2: [*l1, *l1]\n", 0), "{\"l0\":", 6),
	      "aliases below the cap");
	/* nested aliases of mappings, each level twice the one before */
	jrn_buf_reset(&b);
	jrn_buf_adds(&b, "l0: &l0 {k: v}\n");
	for (int i = 1; i <= 25; i++)
		jrn_buf_addf(&b, "l%d: &l%d [*l%d, *l%d]\n", i, i, i - 1, i - 1);
	CHECK_STR(parse(b.p, 0), "ERR t.yaml:16:12: aliases expand to more than 100000 nodes (the limit)",
		  "nested aliases stop at the cap");
	CHECK_STR(parse(b.p, JRN_YAML_LINES), "ERR t.yaml:16: aliases expand to more than 100000 nodes (the limit)",
		  "the same, by line");
	jrn_buf_free(&b);
	/* tags on keys: refused like tags on values (issue 10) */
	CHECK_STR(parse("!foo a: 1\n", 0), "ERR t.yaml:1:1: unsupported tag '!foo'", "a tag on a key");
	CHECK_STR(parse("a:\n  !!int 5: x\n", 0), "ERR t.yaml:2:3: unsupported tag 'tag:yaml.org,2002:int'",
		  "!!int on a key");
	CHECK_STR(parse("!!str a: 1\n! b: 2\n", 0), "{\"a\":1,\"b\":2}", "!!str and ! on keys are fine");
}

static void test_env(void)
{
	setenv("JRN_UT_HOST", "mx.example", 1);
	unsetenv("JRN_UT_UNSET");
	CHECK_STR(parse("h: ${JRN_UT_HOST}\nu: \"smtp://${JRN_UT_HOST}:25\"\n", JRN_YAML_ENV),
		  "{\"h\":\"mx.example\",\"u\":\"smtp://mx.example:25\"}", "${NAME} expands with JRN_YAML_ENV");
	CHECK_STR(parse("h: ${JRN_UT_HOST}\n", 0), "{\"h\":\"${JRN_UT_HOST}\"}", "and stays as written without");
	CHECK_STR(parse("h: $${JRN_UT_HOST} $5 x$\n", JRN_YAML_ENV), "{\"h\":\"${JRN_UT_HOST} $5 x$\"}",
		  "$${ is a literal ${; a lone $ stays");
	CHECK_STR(parse("h: $${JRN_UT_HOST}\n", 0), "{\"h\":\"$${JRN_UT_HOST}\"}", "$${ untouched without the flag");
	CHECK_STR(parse("${JRN_UT_HOST}: 1\n", JRN_YAML_ENV), "{\"${JRN_UT_HOST}\":1}", "keys never expand");
	CHECK_STR(parse("h: \"ab${JRN_UT_UNSET}\"\n", JRN_YAML_ENV),
		  "ERR t.yaml:1:7: environment variable JRN_UT_UNSET is not set", "unset: its place inside the string");
	CHECK_STR(parse("h: x ${JRN_UT_HOST\n", JRN_YAML_ENV),
		  "ERR t.yaml:1:6: '${' without a closing '}' (write '$${' for a literal '${')", "unterminated");
	setenv("JRN_UT_NUM", "42", 1);
	CHECK_STR(parse("n: ${JRN_UT_NUM}\n", JRN_YAML_ENV), "{\"n\":\"42\"}", "an expanded value stays a string");
}

/* text parsed with JRN_YAML_ENV | JRN_YAML_ENV_KEEP: "VALUE UNSET" as
 * compact JSON, or "ERR " and the message. */
static const char *keep(const char *text)
{
	static jrn_buf out;
	jrn_err e;
	jv unset = jv_invalid();
	jrn_yaml_opts o = {.flags = JRN_YAML_ENV | JRN_YAML_ENV_KEEP, .unset = &unset};
	jrn_buf_reset(&out);
	jv v = jrn_yaml_parse(text, strlen(text), "t.yaml", &o, NULL, &e);
	if (!jv_is_valid(v)) {
		jv_free(v);
		jrn_buf_addf(&out, "ERR %s (unset %s)", e.msg, jv_get_kind(unset) == JV_KIND_NULL ? "null" : "?");
		jv_free(unset);
		return out.p;
	}
	jv s = jv_dump_string(v, 0), u = jv_dump_string(unset, 0);
	jrn_buf_addf(&out, "%s %s", jv_string_value(s), jv_string_value(u));
	jv_free(s);
	jv_free(u);
	return out.p;
}

static void test_env_keep(void)
{
	setenv("JRN_UT_HOST", "mx.example", 1);
	unsetenv("JRN_UT_UNSET");
	unsetenv("JRN_UT_U2");
	CHECK_STR(keep("h: ${JRN_UT_HOST}\n"), "{\"h\":\"mx.example\"} []", "keep: set names expand");
	CHECK_STR(keep("a:\n  b: x${JRN_UT_HOST}y${JRN_UT_UNSET}$${z}\n"),
		  "{\"a\":{\"b\":\"x${JRN_UT_HOST}y${JRN_UT_UNSET}$${z}\"}} "
		  "[{\"key\":\"a.b\",\"name\":\"JRN_UT_UNSET\",\"line\":2,\"column\":22}]",
		  "keep: an unset name keeps the whole string as written, listed with key and position");
	CHECK_STR(keep("l:\n  - x\n  - {p: \"${JRN_UT_UNSET}\", q: ['${JRN_UT_U2}']}\n"),
		  "{\"l\":[\"x\",{\"p\":\"${JRN_UT_UNSET}\",\"q\":[\"${JRN_UT_U2}\"]}]} "
		  "[{\"key\":\"l[1].p\",\"name\":\"JRN_UT_UNSET\",\"line\":3,\"column\":10},"
		  "{\"key\":\"l[1].q[0]\",\"name\":\"JRN_UT_U2\",\"line\":3,\"column\":33}]",
		  "keep: keys through lists");
	CHECK_STR(keep("a: &A {s: '${JRN_UT_UNSET}'}\nb: {c: *A}\nd: &D '${JRN_UT_U2}'\ne: [*D]\n"),
		  "{\"a\":{\"s\":\"${JRN_UT_UNSET}\"},\"b\":{\"c\":{\"s\":\"${JRN_UT_UNSET}\"}},"
		  "\"d\":\"${JRN_UT_U2}\",\"e\":[\"${JRN_UT_U2}\"]} "
		  "[{\"key\":\"a.s\",\"name\":\"JRN_UT_UNSET\",\"line\":1,\"column\":12},"
		  "{\"key\":\"b.c.s\",\"name\":\"JRN_UT_UNSET\",\"line\":1,\"column\":12},"
		  "{\"key\":\"d\",\"name\":\"JRN_UT_U2\",\"line\":3,\"column\":4},"
		  "{\"key\":\"e[0]\",\"name\":\"JRN_UT_U2\",\"line\":3,\"column\":4}]",
		  "keep: an alias repeats the references under its own key (an anchored scalar: where its node starts)");
	CHECK_STR(keep("${JRN_UT_UNSET}\n"),
		  "\"${JRN_UT_UNSET}\" [{\"key\":\"\",\"name\":\"JRN_UT_UNSET\",\"line\":1,\"column\":1}]",
		  "keep: the root's key is empty");
	CHECK_STR(keep("a: '${JRN_UT_UNSET}'\nb: ${1x}\n"),
		  "ERR t.yaml:2:4: bad environment variable name '${1x}' (letters, digits and '_', not starting "
		  "with a digit; write '$${' for a literal '${') (unset null)",
		  "keep: a bad name is still an error, and unset is null");
}

int main(void)
{
	char dir[] = "/tmp/jrn-unit-yaml.XXXXXX";
	if (!mkdtemp(dir) || chdir(dir) < 0) {
		perror("mkdtemp");
		return 99;
	}
	jrn_clock_set(0);
	test_scalars();
	test_positions();
	test_aliases();
	test_env();
	test_env_keep();
	unlink("jrn.yaml");
	unlink("s.yaml");
	if (chdir("/") == 0)
		rmdir(dir);
	return unit_done();
}
