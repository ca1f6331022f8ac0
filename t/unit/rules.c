/* Unit tests of lib/rules.c: operators, trees, shorthand, times, jq leaves,
 * compile errors with their positions, event leaves on a state file. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jrn.h"
#include "rules.h"
#include "unit.h"

static jrn_err err;

static int disagree;

/* Compiles rule (JSON text) and evaluates it on rec (JSON text), on the jv
 * value and on the span index: the result, -10 when the rule does not
 * compile (message in err), -30 when the two ways disagree. */
static int ev(const char *rule, const char *rec)
{
	jv r = jv_parse(rule);
	if (!jv_is_valid(r)) {
		jv_free(r);
		return -20;
	}
	jrn_rules *rs = jrn_rule_compile_one("t", r, &err);
	if (!rs)
		return -10;
	jv v = jv_parse(rec);
	int res = jrn_rule_eval(rs, 0, v, NULL, &err);
	jv_free(v);

	jrn_json_index ix = {0};
	jv_parser *parser = NULL;
	if (jrn_json_index_build(&ix, rec, strlen(rec), JRN_RULE_INDEX_DEPTH, &err) < 0)
		res = -40;
	jrn_rule_rec rr = {rec, strlen(rec), &ix, jv_invalid(), &parser};
	int fast = jrn_rule_eval_rec(rs, 0, &rr, NULL, &err);
	jv_free(rr.v);
	if (parser)
		jv_parser_free(parser);
	jrn_json_index_free(&ix);
	jrn_rule_free(rs);
	if (fast != res) {
		disagree++;
		return -30;
	}
	return res;
}

/* The compile error of rule, or "" when it compiles. */
static const char *cerr(const char *rule)
{
	jv r = jv_parse(rule);
	jrn_rules *rs = jrn_rule_compile_one("t", r, &err);
	if (rs) {
		jrn_rule_free(rs);
		return "";
	}
	return err.msg;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_operators(void)
{
	const char *rec = "{\"plan\":\"pro\",\"n\":5,\"tags\":[\"a\",\"b\"],\"name\":\"Ann Smith\","
			  "\"t\":\"2025-12-01T00:00:00Z\",\"nul\":null,\"o\":{\"p\":{\"q\":1}},"
			  "\"arr\":[{\"x\":7}],\"flag\":true}";
	CHECK(ev("{\"field\":\"plan\",\"op\":\"equals\",\"value\":\"pro\"}", rec) == 1, "equals string");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"equals\",\"value\":\"PRO\"}", rec) == 0, "equals is case-sensitive");
	CHECK(ev("{\"field\":\"n\",\"op\":\"equals\",\"value\":5.0}", rec) == 1, "equals number by value");
	CHECK(ev("{\"field\":\"n\",\"op\":\"equals\",\"value\":\"5\"}", rec) == 0, "equals: no type coercion");
	CHECK(ev("{\"field\":\"flag\",\"op\":\"equals\",\"value\":true}", rec) == 1, "equals boolean");
	CHECK(ev("{\"field\":\"nul\",\"op\":\"equals\",\"value\":null}", rec) == 1, "equals null");
	CHECK(ev("{\"field\":\"missing\",\"op\":\"equals\",\"value\":null}", rec) == 0, "missing is not null");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"not_equals\",\"value\":\"trial\"}", rec) == 1, "not_equals");
	CHECK(ev("{\"field\":\"missing\",\"op\":\"not_equals\",\"value\":\"x\"}", rec) == 1, "not_equals on missing");
	CHECK(ev("{\"field\":\"name\",\"op\":\"contains\",\"value\":\"n Sm\"}", rec) == 1, "contains substring");
	CHECK(ev("{\"field\":\"name\",\"op\":\"contains\",\"value\":\"xyz\"}", rec) == 0, "contains: absent substring");
	CHECK(ev("{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"b\"}", rec) == 1, "contains array element");
	CHECK(ev("{\"field\":\"tags\",\"op\":\"contains\",\"value\":\"c\"}", rec) == 0, "contains: not an element");
	CHECK(ev("{\"field\":\"tags\",\"op\":\"not_contains\",\"value\":\"c\"}", rec) == 1, "not_contains");
	CHECK(ev("{\"field\":\"n\",\"op\":\"contains\",\"value\":\"5\"}", rec) == 0, "contains on a number");
	CHECK(ev("{\"field\":\"n\",\"op\":\"greater_than\",\"value\":4}", rec) == 1, "greater_than");
	CHECK(ev("{\"field\":\"n\",\"op\":\"greater_than\",\"value\":5}", rec) == 0, "greater_than is strict");
	CHECK(ev("{\"field\":\"n\",\"op\":\"less_than\",\"value\":6}", rec) == 1, "less_than");
	CHECK(ev("{\"field\":\"n\",\"op\":\"gte\",\"value\":5}", rec) == 1, "gte equal");
	CHECK(ev("{\"field\":\"n\",\"op\":\"lte\",\"value\":4.5}", rec) == 0, "lte");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"gte\",\"value\":1}", rec) == 0, "comparison on a string field");
	CHECK(ev("{\"field\":\"n\",\"op\":\"between\",\"value\":[5,10]}", rec) == 1, "between inclusive low");
	CHECK(ev("{\"field\":\"n\",\"op\":\"between\",\"value\":[1,5]}", rec) == 1, "between inclusive high");
	CHECK(ev("{\"field\":\"n\",\"op\":\"between\",\"value\":[6,10]}", rec) == 0, "between outside");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"in\",\"value\":[\"basic\",\"pro\"]}", rec) == 1, "in");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"in\",\"value\":[]}", rec) == 0, "in empty list");
	CHECK(ev("{\"field\":\"tags\",\"op\":\"in\",\"value\":[\"b\",\"z\"]}", rec) == 1, "in: array field intersects");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"not_in\",\"value\":[\"trial\"]}", rec) == 1, "not_in");
	CHECK(ev("{\"field\":\"missing\",\"op\":\"not_in\",\"value\":[\"trial\"]}", rec) == 1, "not_in on missing");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"is_set\"}", rec) == 1, "is_set");
	CHECK(ev("{\"field\":\"nul\",\"op\":\"is_set\"}", rec) == 0, "null is not set");
	CHECK(ev("{\"field\":\"missing\",\"op\":\"is_not_set\"}", rec) == 1, "is_not_set");
	CHECK(ev("{\"field\":\"name\",\"op\":\"starts_with\",\"value\":\"Ann\"}", rec) == 1, "starts_with");
	CHECK(ev("{\"field\":\"name\",\"op\":\"starts_with\",\"value\":\"Smith\"}", rec) == 0, "starts_with not");
	CHECK(ev("{\"field\":\"name\",\"op\":\"matches\",\"value\":\"^A.n [A-Z]\"}", rec) == 1, "matches ERE");
	CHECK(ev("{\"field\":\"name\",\"op\":\"matches\",\"value\":\"(x|y)+$\"}", rec) == 0, "matches not");
	CHECK(ev("{\"field\":\"o.p.q\",\"op\":\"equals\",\"value\":1}", rec) == 1, "dotted path three deep");
	CHECK(ev("{\"field\":\"o.p.q.r\",\"op\":\"is_set\"}", rec) == 0, "path through a number");
	CHECK(ev("{\"field\":\"arr.0.x\",\"op\":\"equals\",\"value\":7}", rec) == 1, "array index in a path");
	CHECK(ev("{\"field\":\"arr.1.x\",\"op\":\"is_set\"}", rec) == 0, "array index out of range");
	CHECK(ev("{\"field\":\"plan\",\"operator\":\"equals\",\"value\":\"pro\"}", rec) == 1,
	      "'operator' as in the seed");

	/* issue 9: the short names, each the same operator as its long name */
	CHECK(ev("{\"field\":\"n\",\"op\":\"gt\",\"value\":4}", rec) == 1, "gt is greater_than");
	CHECK(ev("{\"field\":\"n\",\"op\":\"gt\",\"value\":5}", rec) == 0, "gt is strict");
	CHECK(ev("{\"field\":\"n\",\"op\":\"lt\",\"value\":6}", rec) == 1, "lt is less_than");
	CHECK(ev("{\"field\":\"n\",\"op\":\"lt\",\"value\":5}", rec) == 0, "lt is strict");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"eq\",\"value\":\"pro\"}", rec) == 1, "eq is equals");
	CHECK(ev("{\"field\":\"n\",\"op\":\"eq\",\"value\":\"5\"}", rec) == 0, "eq: no type coercion either");
	CHECK(ev("{\"field\":\"plan\",\"op\":\"ne\",\"value\":\"pro\"}", rec) == 0, "ne is not_equals");
	CHECK(ev("{\"field\":\"missing\",\"op\":\"ne\",\"value\":\"x\"}", rec) == 1, "ne on missing");
	CHECK(ev("{\"field\":\"t\",\"op\":\"lt\",\"value\":\"2026-01-01\"}", rec) == 1, "lt with a time");
	CHECK(ev("{\"field\":\"n\",\"op\":\"gt\",\"value\":\"soon\"}", rec) == -10,
	      "gt checks its value as greater_than does");
	CHECK(strstr(err.msg, "greater_than needs a number or a time") != NULL, "and names the long name: %s", err.msg);

	/* what the span index reads, beside the jv value */
	const char *r2 = "{\"s\":\"a\\\"b\",\"arr\":[\"x\",2,true,null,{\"k\":[1]},[3],\"y\\\\z\"],"
			 "\"n\":1e2,\"o\":{\"p\":[1,2]},\"dup\":2,\"t\":true,\"z\":null}";
	CHECK(ev("{\"field\":\"s\",\"op\":\"equals\",\"value\":\"a\\\"b\"}", r2) == 1, "escaped string");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"contains\",\"value\":2}", r2) == 1, "array contains a number");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"contains\",\"value\":true}", r2) == 1, "array contains true");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"contains\",\"value\":null}", r2) == 1, "array contains null");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"contains\",\"value\":\"y\\\\z\"}", r2) == 1, "array contains an escaped string");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"contains\",\"value\":\"k\"}", r2) == 0, "nested keys are not elements");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"contains\",\"value\":[3]}", r2) == 1, "array contains an array");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"in\",\"value\":[\"q\",\"x\"]}", r2) == 1, "array field in a list");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"not_in\",\"value\":[\"q\"]}", r2) == 1, "array field not in a list");
	CHECK(ev("{\"field\":\"o.p\",\"op\":\"in\",\"value\":[[1,2]]}", r2) == 1, "a whole array in a list");
	CHECK(ev("{\"field\":\"n\",\"op\":\"equals\",\"value\":100}", r2) == 1, "exponent number");
	CHECK(ev("{\"field\":\"n\",\"op\":\"in\",\"value\":[100,\"100\"]}", r2) == 1, "number in a list");
	/* a name given twice: the span index refuses the record (issue 10) */
	{
		jrn_json_index dix = {0};
		CHECK(jrn_json_index_build(&dix, "{\"dup\":1,\"dup\":2}", 17, JRN_RULE_INDEX_DEPTH, &err) < 0 &&
		      strstr(err.msg, "duplicate member name \"dup\"") != NULL,
		      "repeated key: refused by the span index");
		jrn_json_index_free(&dix);
	}
	CHECK(ev("{\"field\":\"t\",\"op\":\"equals\",\"value\":true}", r2) == 1, "true");
	CHECK(ev("{\"field\":\"z\",\"op\":\"is_not_set\"}", r2) == 1, "null is not set");
	CHECK(ev("{\"field\":\"o\",\"op\":\"is_set\"}", r2) == 1, "an object is set");
	CHECK(ev("{\"field\":\"o\",\"op\":\"equals\",\"value\":[1]}", r2) == 0, "an object is not an array");
	CHECK(ev("{\"field\":\"o.p.q\",\"op\":\"is_set\"}", r2) == 0, "a key of an array");
	CHECK(ev("{\"field\":\"s.x\",\"op\":\"is_not_set\"}", r2) == 1, "a key of a string");
	CHECK(ev("{\"field\":\"s\",\"op\":\"matches\",\"value\":\"^a\\\"\"}", r2) == 1, "matches an escaped string");
	CHECK(ev("{\"field\":\"arr\",\"op\":\"starts_with\",\"value\":\"x\"}", r2) == 0, "starts_with on an array");
	CHECK(disagree == 0, "the span index and the jv value agree everywhere");
}

static void test_times(void)
{
	/* the clock is 2026-01-01 */
	const char *rec = "{\"a\":\"2025-12-20T00:00:00Z\",\"b\":\"2025-06-01\",\"c\":\"not a time\"}";
	CHECK(ev("{\"field\":\"a\",\"op\":\"gte\",\"value\":\"30d ago\"}", rec) == 1, "within 30d ago");
	CHECK(ev("{\"field\":\"a\",\"op\":\"gte\",\"value\":\"7d ago\"}", rec) == 0, "not within 7d ago");
	CHECK(ev("{\"field\":\"b\",\"op\":\"less_than\",\"value\":\"90d ago\"}", rec) == 1, "bare date before 90d ago");
	CHECK(ev("{\"field\":\"a\",\"op\":\"greater_than\",\"value\":\"2025-12-19T23:59:59+00:00\"}", rec) == 1,
	      "RFC 3339 value");
	CHECK(ev("{\"field\":\"a\",\"op\":\"between\",\"value\":[\"30d ago\",\"now\"]}", rec) == 1, "between times");
	CHECK(ev("{\"field\":\"a\",\"op\":\"lte\",\"value\":\"in 1d\"}", rec) == 1, "in 1d");
	CHECK(ev("{\"field\":\"c\",\"op\":\"gte\",\"value\":\"30d ago\"}", rec) == 0, "a field that is not a time");
	CHECK(ev("{\"field\":\"a\",\"op\":\"gte\",\"value\":\"2w1d ago\"}", rec) == 1, "compound duration");
}

static void test_trees(void)
{
	const char *rec = "{\"a\":1,\"b\":2,\"s\":\"x\"}";
	CHECK(ev("{\"all\":[{\"field\":\"a\",\"op\":\"equals\",\"value\":1},{\"field\":\"b\",\"op\":\"equals\",\"value\":2}]}", rec) == 1, "all true");
	CHECK(ev("{\"all\":[{\"field\":\"a\",\"op\":\"equals\",\"value\":1},{\"field\":\"b\",\"op\":\"equals\",\"value\":3}]}", rec) == 0, "all false");
	CHECK(ev("{\"any\":[{\"field\":\"a\",\"op\":\"equals\",\"value\":9},{\"field\":\"b\",\"op\":\"equals\",\"value\":2}]}", rec) == 1, "any true");
	CHECK(ev("{\"not\":{\"field\":\"a\",\"op\":\"equals\",\"value\":1}}", rec) == 0, "not");
	CHECK(ev("[{\"field\":\"a\",\"op\":\"equals\",\"value\":1},{\"not\":{\"any\":[{\"field\":\"s\",\"op\":\"equals\",\"value\":\"y\"}]}}]", rec) == 1,
	      "a list is all; nesting");
	CHECK(ev("{\"a\":1,\"b\":{\"gte\":2,\"lte\":2}}", rec) == 1, "shorthand: equals and operator maps");
	CHECK(ev("{\"a\":{\"gt\":0}}", rec) == 1, "shorthand: an operator alias (gt)");
	CHECK(ev("{\"a\":{\"above\":0}}", rec) == -10, "shorthand: unknown operator refused");
	/* deep nesting */
	char deep[20000] = "";
	for (int i = 0; i < 100; i++)
		strcat(deep, "{\"not\":");
	strcat(deep, "{\"field\":\"a\",\"op\":\"equals\",\"value\":1}");
	for (int i = 0; i < 100; i++)
		strcat(deep, "}");
	CHECK(ev(deep, rec) == 1, "100 nested nots");
}

static void test_jq(void)
{
	const char *rec = "{\"a\":3,\"s\":\"x\"}";
	CHECK(ev("{\"jq\":\".a > 2\"}", rec) == 1, "jq true");
	CHECK(ev("{\"jq\":\".a > 5\"}", rec) == 0, "jq false");
	CHECK(ev("{\"jq\":\".missing\"}", rec) == 0, "jq null is out");
	CHECK(ev("{\"jq\":\"empty\"}", rec) == 0, "jq no output is out");
	CHECK(ev("{\"jq\":\".s\"}", rec) == 1, "jq string is truthy");
	CHECK(ev("{\"jq\":\".s + 1\"}", rec) == JRN_RULE_REJECT, "jq run-time error rejects");
	CHECK(strstr(err.msg, "rule 1: jq:") != NULL, "the reject names the rule: %s", err.msg);
	CHECK(ev("{\"jq\":\".a >\"}", rec) == -10, "jq that does not compile");
	CHECK(strstr(err.msg, "does not compile") != NULL, "says so: %s", err.msg);
}

static void test_errors(void)
{
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"above\",\"value\":1}"),
		  "segment 't', rule 1: unknown operator 'above' (operators: equals (eq), not_equals (ne), "
		  "contains, not_contains, greater_than (gt), less_than (lt), gte, lte, between, in, not_in, "
		  "is_set, is_not_set, starts_with, matches)", "unknown operator: the list");
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"greater_then\",\"value\":1}"),
		  "segment 't', rule 1: unknown operator 'greater_then' (did you mean 'greater_than'?)",
		  "unknown operator: a typo gets a suggestion");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"greater\",\"value\":1}"), "(did you mean 'greater_than'?)") != NULL,
	      "unknown operator: a start gets a suggestion");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"Equals\",\"value\":1}"), "(did you mean 'equals'?)") != NULL,
	      "unknown operator: case is not ignored, but suggested");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"ge\",\"value\":1}"), "(did you mean 'gte'?)") != NULL,
	      "unknown operator: ge suggests gte");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"a(\"}"), "bad regular expression 'a('") != NULL,
	      "bad regex named: %s", err.msg);
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"gte\",\"value\":\"soon\"}"), "needs a number or a time") != NULL,
	      "comparison with a non-time string");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"gte\",\"value\":true}"), "needs a number or a time, got a boolean") != NULL,
	      "comparison with a boolean");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"in\",\"value\":\"x\"}"), "in needs a list") != NULL, "in with a string");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"between\",\"value\":[1]}"), "between needs") != NULL, "between with one");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"between\",\"value\":[1,\"now\"]}"), "two numbers or two times") != NULL,
	      "between mixing kinds");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"between\",\"value\":[5,1]}"), "LOW is above HIGH") != NULL, "between reversed");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"equals\"}"), "needs a value") != NULL, "missing value");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"starts_with\",\"value\":1}"), "needs a string") != NULL, "starts_with number");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"equals\",\"value\":1,\"valeu\":2}"), "unknown key") != NULL, "typo key");
	CHECK(strstr(cerr("{\"field\":\"a..b\",\"op\":\"is_set\"}"), "empty part") != NULL, "empty path part");
	CHECK(strstr(cerr("{\"all\":[]}"), "at least one") != NULL, "empty all");
	CHECK(strstr(cerr("{\"all\":[{\"a\":1}],\"any\":[{\"a\":1}]}"), "several") != NULL, "two forms");
	CHECK(strstr(cerr("{}"), "empty rule") != NULL, "empty rule");
	CHECK(strstr(cerr("{\"event\":\"x\",\"within\":\"soon\"}"), "within:") != NULL, "bad within");
	CHECK(strstr(cerr("{\"event\":\"x\",\"count\":{\"in\":1}}"), "count: unknown operator 'in' (use equals (eq), greater_than (gt)") != NULL, "bad count op");
	CHECK(strstr(cerr("{\"not_event\":\"x\",\"count\":3}"), "not_event takes no count") != NULL, "not_event count");
	CHECK(strstr(cerr("{\"event\":\"x\",\"where\":{\"event\":\"y\"}}"), "inside a where") != NULL, "event in where");
	CHECK(strstr(cerr("{\"event\":\"x\",\"when\":1}"), "unknown key 'when'") != NULL, "event typo key");
	CHECK(strstr(cerr("[{\"a\":1},{\"field\":\"b\",\"op\":\"nope\",\"value\":1}]"), "rule 2: unknown operator 'nope'") != NULL,
	      "rules are numbered in order: %s", err.msg);
}

/* Issue 10: bounds and hostile inputs of the rule compiler and evaluator. */
static void test_hostile(void)
{
	/* matches: refused before regcomp (which took 9.5 s and 1.2 GB) */
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"((a{1,100}){1,100}){1,100}\"}"),
		  "segment 't', rule 1: matches: counted repetitions expand the pattern to more than "
		  "4096 elements (the limit)", "nested counted repetitions refused");
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"x{1,1001}\"}"),
		  "segment 't', rule 1: matches: count 1001 in a repetition {...} is above 1000 (the limit)",
		  "a count above 1000 refused");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"(a{1,100}){,100}\"}"),
		     "more than 4096 elements") != NULL, "{,n} counts too");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"x{1000}y{1000}z{1000}w{1000}v{97}\"}"),
		     "more than 4096 elements") != NULL, "counts in a row add up");
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"(a{1,64}){1,64}\"}"), "",
		  "64 x 64 is within the bound");
	/* the fuzzer's: S+ stacked 50 times, each + doubling what regcomp builds */
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"^x\\\\.SSS++++++++++++++++++++++++++++++++++++++++++++++++++com$\"}"),
		     "more than 4096 elements") != NULL, "stacked + refused: %s", err.msg);
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"^[a-z]+(\\\\.[a-z]+)+@x+$\"}"), "",
		  "ordinary + within the bound");
	CHECK_STR(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"[{]{1,1000}\\\\{5000}\"}"), "",
		  "braces in brackets and escaped are not counts");
	CHECK(strstr(cerr("{\"field\":\"a\",\"op\":\"matches\",\"value\":\"a\\u0000b\"}"),
		     "holds a NUL") != NULL, "a NUL in a pattern: %s", err.msg);
	{
		jrn_buf b = {0};
		jrn_buf_adds(&b, "{\"field\":\"a\",\"op\":\"matches\",\"value\":\"");
		for (int i = 0; i < 4097; i++)
			jrn_buf_addc(&b, 'a');
		jrn_buf_adds(&b, "\"}");
		CHECK_STR(cerr(b.p), "segment 't', rule 1: matches: pattern longer than 4096 bytes (the limit)",
			  "a pattern of 4097 bytes refused");
		jrn_buf_free(&b);
	}
	CHECK(ev("{\"field\":\"e\",\"op\":\"matches\",\"value\":\"^[a-z]{1,10}@x[.]com$\"}",
		 "{\"e\":\"ann@x.com\"}") == 1, "an ordinary pattern with counts matches");

	/* jq: a program that never ends stops at the time bound; the set is
	 * stopped, other jq leaves fail too, freeing it is safe. In a child
	 * process, which ends with _exit: what the stopped program held is
	 * left behind on purpose, and a leak checker at exit would say so. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		jrn_rules *rs = jrn_rule_compile_one("t", jv_parse("{\"jq\":\"def f: f; f\"}"), &err);
		jv v = jv_parse("{\"a\":1}");
		int r1 = rs ? jrn_rule_eval(rs, 0, jv_copy(v), NULL, &err) : 0;
		int bad = r1 != JRN_RULE_FAIL;
		bad |= strcmp(err.msg, "segment 't', rule 1: jq ran for more than 1 s of CPU on one "
			      "record (the limit); the run stops, as libjq cannot be interrupted "
			      "safely") != 0 ? 2 : 0;
		int r2 = rs ? jrn_rule_eval(rs, 0, jv_copy(v), NULL, &err) : 0;
		bad |= r2 != JRN_RULE_FAIL || !strstr(err.msg, "stopped earlier") ? 4 : 0;
		jrn_rule_free(rs);
		jv_free(v);
		bad |= ev("{\"jq\":\".a > 2\"}", "{\"a\":3}") != 1 ? 8 : 0;
		_exit(bad);
	}
	int status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && !(WEXITSTATUS(status) & 1), "def f: f; f stops the run");
	CHECK(WIFEXITED(status) && !(WEXITSTATUS(status) & 2), "and says why: jq ran for more than 1 s");
	CHECK(WIFEXITED(status) && !(WEXITSTATUS(status) & 4), "no jq state is touched again");
	CHECK(WIFEXITED(status) && !(WEXITSTATUS(status) & 8), "a new set runs jq again");

	/* within: a clock before 1970 and a huge window do not overflow */
	jrn_clock_set(-2208988800000); /* 1900-01-01 */
	CHECK(ev("{\"field\":\"t\",\"op\":\"gte\",\"value\":\"15250000w ago\"}", "{\"t\":\"1800-01-01\"}") == 1,
	      "N ago before 1970 saturates");
	CHECK(ev("{\"field\":\"t\",\"op\":\"lte\",\"value\":\"in 15250000w\"}", "{\"t\":\"1800-01-01\"}") == 1,
	      "in N saturates");
	CHECK_STR(cerr("{\"event\":\"x\",\"within\":\"106751991167d\"}"), "", "a huge within compiles");
	CHECK(strstr(cerr("{\"event\":\"x\",\"within\":1e300}"), "within: too large") != NULL,
	      "a within number beyond int64 refused: %s", err.msg);
	jrn_clock_set(1767225600000);

	/* a second document after the first node: an error, nothing leaked
	 * (make asan checks the leak) */
	char path[] = "/tmp/jrn-rules-hostile-XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0) {
		close(fd);
		write_file(path, "a\n---\nb\n");
		jrn_rules *r = jrn_rule_load(path, &err);
		CHECK(r == NULL && strstr(err.msg, ":2: a second YAML document") != NULL,
		      "a second document: %s", err.msg);
		write_file(path, "!foo vip:\n  rule: {plan: pro}\n");
		r = jrn_rule_load(path, &err);
		CHECK(r == NULL && strstr(err.msg, ":1: unsupported tag '!foo'") != NULL,
		      "a tag on a segment's name is refused as jrn.yaml refuses it: %s", err.msg);
		write_file(path, "!!str vip:\n  rule: {plan: pro}\n");
		r = jrn_rule_load(path, &err);
		CHECK(r != NULL, "!!str on a key is fine");
		jrn_rule_free(r);
		unlink(path);
	}
	jrn_rules *r = jrn_rule_load("/tmp", &err);
	CHECK(r == NULL, "a directory is not a segment file");
	CHECK_STR(err.msg, "/tmp: Is a directory", "and says so");
}

static void test_files(void)
{
	char dir[] = "/tmp/jrn-rules-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	char path[200];
	snprintf(path, sizeof path, "%s/s.yaml", dir);
	write_file(path, "segments:\n"
			 "  vip:\n"
			 "    description: big spenders\n"
			 "    rule:\n"
			 "      all:\n"
			 "        - {field: rfm.score, op: gte, value: 38}\n"
			 "        - field: plan\n"
			 "          op: above\n"
			 "          value: 3\n");
	jrn_rules *r = jrn_rule_load(path, &err);
	CHECK(r == NULL, "unknown operator in a file");
	char want[600];
	snprintf(want, sizeof want, "%s:7: segment 'vip', rule 2: unknown operator 'above' (operators: "
		 "equals (eq), not_equals (ne), contains, not_contains, greater_than (gt), less_than (lt), "
		 "gte, lte, between, in, not_in, is_set, is_not_set, starts_with, matches)", path);
	CHECK_STR(err.msg, want, "FILE:LINE of the leaf");

	write_file(path, "b: {rule: {x: 1}}\na: {rule: [{jq: '.x == 2'}]}\n");
	r = jrn_rule_load(path, &err);
	CHECK(r != NULL, "a bare mapping of segments loads: %s", r ? "" : err.msg);
	if (r) {
		CHECK(jrn_rule_count(r) == 2, "two segments");
		CHECK_STR(jrn_rule_name(r, 0), "b", "in file order (1)");
		CHECK_STR(jrn_rule_name(r, 1), "a", "in file order (2)");
		CHECK(jrn_rule_find(r, "a") == 1 && jrn_rule_find(r, "zz") == -1, "find");
		CHECK(!jrn_rule_needs_events(r, -1), "no event leaves");
		jv rec = jv_parse("{\"x\":2}");
		CHECK(jrn_rule_eval(r, 0, rec, NULL, &err) == 0, "b out");
		CHECK(jrn_rule_eval(r, 1, rec, NULL, &err) == 1, "a in");
		jrn_buf why = {0};
		jrn_rule_eval(r, 0, rec, &why, &err);
		CHECK(why.p && strstr(why.p, "no   rule 1: x equals 1 (got 2)"), "why shows the value got");
		jrn_buf_free(&why);
		jrn_buf ex = {0};
		CHECK(jrn_rule_explain(r, 1, &ex) == 0 && strstr(ex.p, "rule 1: jq .x == 2  (line 2)"),
		      "explain shows the jq leaf and its line");
		jrn_buf_free(&ex);
		jv_free(rec);
		jrn_rule_free(r);
	}

	snprintf(path, sizeof path, "%s/s.json", dir);
	write_file(path, "{\"segments\":{\"m\":{\"rule\":{\"field\":\"e\",\"op\":\"matches\",\"value\":\"[\"}}}}\n");
	r = jrn_rule_load(path, &err);
	CHECK(r == NULL && strstr(err.msg, "s.json:1: segment 'm', rule 1: bad regular expression"),
	      "JSON files load the same way: %s", err.msg);

	write_file(path, "a:\n  rule: {x: 1}\na:\n  rule: {x: 2}\n");
	r = jrn_rule_load(path, &err);
	CHECK(r == NULL && strstr(err.msg, ":3: key 'a' given twice"), "duplicate key: %s", err.msg);
	write_file(path, "a: [\n");
	r = jrn_rule_load(path, &err);
	CHECK(r == NULL, "bad YAML: %s", err.msg);
	write_file(path, "a: {rul: {x: 1}}\n");
	r = jrn_rule_load(path, &err);
	CHECK(r == NULL && strstr(err.msg, "unknown key 'rul'"), "unknown definition key: %s", err.msg);
	unlink(path);
	snprintf(path, sizeof path, "%s/s.yaml", dir);
	unlink(path);
	r = jrn_rule_load(path, &err);
	CHECK(r == NULL && strstr(err.msg, "No such file"), "missing file: %s", err.msg);
	rmdir(dir);
}

static void test_events(void)
{
	char dir[] = "/tmp/jrn-rules-XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	char path[200];
	snprintf(path, sizeof path, "%s/jrn.db", dir);
	sqlite3 *db;
	CHECK(jrn_db_open(path, 1000, &db, &err) == 0, "state file");
	/* c1: three orders (10, 60, 70) at 100, 50 and 10 days before now, one
	 * page view 200 days ago; one order in the future */
	CHECK(jrn_db_exec(db,
		"INSERT INTO events (id,type,customer_id,ts,received_at,body) VALUES"
		" ('1','order.completed','c1',1767225600000-100*86400000,0,'{\"properties\":{\"amount\":10}}'),"
		" ('2','order.completed','c1',1767225600000-50*86400000,0,'{\"properties\":{\"amount\":60}}'),"
		" ('3','order.completed','c1',1767225600000-10*86400000,0,'{\"properties\":{\"amount\":70}}'),"
		" ('4','page.viewed','c1',1767225600000-200*86400000,0,'{}'),"
		" ('5','order.completed','c1',1767225600000+86400000,0,'{\"properties\":{\"amount\":99}}')",
		&err) == 0, "events: %s", err.msg);
	jv defs = jv_parse(
		"{\"two90\":{\"rule\":{\"event\":\"order.completed\",\"count\":{\"gte\":2},\"within\":\"90d\"}},"
		"\"three90\":{\"rule\":{\"event\":\"order.completed\",\"count\":{\"gte\":3},\"within\":\"90d\"}},"
		"\"big\":{\"rule\":{\"event\":\"order.completed\",\"where\":{\"properties.amount\":{\"gte\":60}},\"count\":2}},"
		"\"ever3\":{\"rule\":{\"event\":\"order.completed\",\"count\":{\"equals\":3}}},"
		"\"gt2in90\":{\"rule\":{\"event\":\"order.completed\",\"count\":{\"gt\":2},\"within\":\"90d\"}},"
		"\"lt3in90\":{\"rule\":{\"event\":\"order.completed\",\"count\":{\"lt\":3},\"within\":\"90d\"}},"
		"\"eq3\":{\"rule\":{\"event\":\"order.completed\",\"count\":{\"eq\":3}}},"
		"\"quiet45\":{\"rule\":{\"not_event\":\"order.completed\",\"within\":\"45d\"}},"
		"\"quiet5\":{\"rule\":{\"not_event\":\"order.completed\",\"within\":\"5d\"}},"
		"\"nopage\":{\"rule\":{\"not_event\":\"page.viewed\",\"within\":\"180d\"}}}");
	jrn_rules *r = jrn_rule_compile(defs, NULL, &err);
	CHECK(r != NULL, "compiles: %s", r ? "" : err.msg);
	if (!r)
		return;
	CHECK(jrn_rule_needs_events(r, -1), "needs events");
	CHECK(jrn_rule_attach(r, db, &err) == 0, "attach");
	jv c1 = jv_parse("{\"customerId\":\"c1\"}"), c2 = jv_parse("{\"customerId\":\"c2\"}");
	struct {
		const char *seg;
		int c1, c2;
	} cases[] = {
		{"two90", 1, 0}, {"three90", 0, 0}, {"big", 1, 0}, {"ever3", 1, 0},
		{"quiet45", 0, 1}, {"quiet5", 1, 1}, {"nopage", 1, 1},
		{"gt2in90", 0, 0}, {"lt3in90", 1, 1}, {"eq3", 1, 0}, /* count: gt, lt, eq */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int k = jrn_rule_find(r, cases[i].seg);
		CHECK(jrn_rule_eval(r, k, c1, NULL, &err) == cases[i].c1, "%s on c1", cases[i].seg);
		CHECK(jrn_rule_eval(r, k, c2, NULL, &err) == cases[i].c2, "%s on c2", cases[i].seg);
	}
	/* the same from one scan of the events */
	CHECK(jrn_rule_preload(r, db, &err) == 0, "preload");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int k = jrn_rule_find(r, cases[i].seg);
		CHECK(jrn_rule_eval(r, k, c1, NULL, &err) == cases[i].c1, "preloaded: %s on c1", cases[i].seg);
		CHECK(jrn_rule_eval(r, k, c2, NULL, &err) == cases[i].c2, "preloaded: %s on c2", cases[i].seg);
	}
	jrn_buf why = {0};
	jrn_rule_eval(r, jrn_rule_find(r, "two90"), c1, &why, &err);
	CHECK(why.p && strstr(why.p, "yes  rule 1: event order.completed count >= 2 within 90d (found 2)"),
	      "why counts the events");
	jrn_buf_free(&why);
	jv_free(c1);
	jv_free(c2);
	jrn_rule_free(r);
	sqlite3_close(db);
	CHECK(unit_rmtree(dir) == 0, "cleanup");
}

int main(void)
{
	jrn_clock_set(1767225600000); /* 2026-01-01T00:00:00Z */
	test_operators();
	test_times();
	test_trees();
	test_jq();
	test_errors();
	test_files();
	test_events();
	test_hostile();
	return unit_done();
}
