/* Unit tests of jsonschema.c: every case of the claimed files of the
 * official JSON-Schema-Test-Suite (t/fixtures/json-schema-test-suite/draft7,
 * run from the repository root; the list is jsonschema.h's), then the
 * errors' paths and messages, the shipped schemas (share/jrn/schemas/)
 * against good and bad answers, bounds, compile errors, and a
 * micro-benchmark (JRN_SCHEMA_BENCH=N validates N state objects and prints
 * the rate). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jrn.h"
#include "jsonschema.h"
#include "unit.h"

static const char *const claimed[] = {
	"additionalItems", "additionalProperties", "allOf", "anyOf", "boolean_schema",
	"const", "contains", "default", "definitions", "dependencies", "enum",
	"exclusiveMaximum", "exclusiveMinimum", "if-then-else", "items", "maxItems",
	"maxLength", "maxProperties", "maximum", "minItems", "minLength",
	"minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern",
	"patternProperties", "properties", "propertyNames", "ref", "required", "type",
	"uniqueItems", "optional/bignum", "optional/zeroTerminatedFloats",
};

static jv read_json(const char *path)
{
	FILE *f = fopen(path, "rb");
	jrn_buf b = {0};
	char chunk[8192];
	size_t n;
	if (!f)
		return jv_invalid_with_msg(jv_string_fmt("cannot open %s", path));
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		jrn_buf_add(&b, chunk, n);
	fclose(f);
	jrn_err e;
	jv v = jrn_parse_value(b.p ? b.p : "", b.len, &e);
	jrn_buf_free(&b);
	return v;
}

/* every case of one suite file; a TAP line per case */
static void suite_file(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "t/fixtures/json-schema-test-suite/draft7/%s.json", name);
	jv groups = read_json(path);
	CHECK(jv_get_kind(groups) == JV_KIND_ARRAY, "%s: the suite file reads", path);
	if (jv_get_kind(groups) != JV_KIND_ARRAY) {
		jv_free(groups);
		return;
	}
	jv_array_foreach(groups, gi, g) {
		jv desc = jv_object_get(jv_copy(g), jv_string("description"));
		jrn_err e = {{0}};
		jrn_schema *s = jrn_schema_compile(jv_object_get(jv_copy(g), jv_string("schema")), &e);
		jv tests = jv_object_get(jv_copy(g), jv_string("tests"));
		jv_array_foreach(tests, ti, t) {
			jv tdesc = jv_object_get(jv_copy(t), jv_string("description"));
			jv data = jv_object_get(jv_copy(t), jv_string("data"));
			bool want = jv_get_kind(jv_object_get(jv_copy(t), jv_string("valid"))) == JV_KIND_TRUE;
			int got = -2;
			jv errs = jv_invalid();
			if (s)
				got = jrn_schema_validate(s, data, &errs);
			CHECK(s && (got == 0) == want && got >= 0 &&
			      jv_array_length(jv_copy(errs)) == got,
			      "%s: %s: %s", name, jv_string_value(desc), jv_string_value(tdesc));
			if (!s)
				printf("#   compile: %s\n", e.msg);
			else if ((got == 0) != want)
				printf("#   got %d errors\n", got);
			jv_free(errs);
			jv_free(data);
			jv_free(tdesc);
			jv_free(t);
		}
		jrn_schema_free(s);
		jv_free(tests);
		jv_free(desc);
		jv_free(g);
	}
	jv_free(groups);
}

/* compiles json (a schema text); NULL with the error in *msg */
static jrn_schema *sch(const char *json, const char **msg)
{
	static jrn_err e;
	jv v = jrn_parse_value(json, strlen(json), &e);
	if (!jv_is_valid(v)) {
		jv_free(v);
		*msg = e.msg;
		return NULL;
	}
	jrn_schema *s = jrn_schema_compile(v, &e);
	*msg = s ? "" : e.msg;
	return s;
}

/* the compile error of schema json, or "(compiled)" */
static const char *compile_error(const char *json)
{
	const char *msg;
	jrn_schema *s = sch(json, &msg);
	if (s) {
		jrn_schema_free(s);
		return "(compiled)";
	}
	return msg;
}

/* the errors of instance against s as "path|keyword|message" lines joined
 * by "\n", or "valid" */
static const char *errors_of(const jrn_schema *s, const char *instance)
{
	static jrn_buf b;
	jrn_buf_reset(&b);
	jrn_err e;
	jv x = jrn_parse_value(instance, strlen(instance), &e);
	jv errs;
	int n = jrn_schema_validate(s, x, &errs);
	jv_free(x);
	if (n != jv_array_length(jv_copy(errs)))
		jrn_buf_addf(&b, "(count %d != %d)", n, jv_array_length(jv_copy(errs)));
	if (n == 0)
		jrn_buf_adds(&b, "valid");
	jv_array_foreach(errs, i, err) {
		jv p = jv_object_get(jv_copy(err), jv_string("path"));
		jv k = jv_object_get(jv_copy(err), jv_string("keyword"));
		jv m = jv_object_get(err, jv_string("message"));
		jrn_buf_addf(&b, "%s%s|%s|%s", i ? "\n" : "", jv_string_value(p), jv_string_value(k),
			     jv_string_value(m));
		jv_free(p);
		jv_free(k);
		jv_free(m);
	}
	jv_free(errs);
	return b.p;
}

/* the errors of instance against schema text */
static const char *check(const char *schema, const char *instance)
{
	const char *msg;
	jrn_schema *s = sch(schema, &msg);
	if (!s)
		return msg;
	const char *r = errors_of(s, instance);
	jrn_schema_free(s);
	return r;
}


static jrn_schema *shipped(const char *name)
{
	char path[128];
	jrn_err e = {{0}};
	snprintf(path, sizeof path, "share/jrn/schemas/%s.json", name);
	jrn_schema *s = jrn_schema_load(path, &e);
	CHECK(s != NULL, "%s compiles (%s)", path, s ? "ok" : e.msg);
	return s;
}

#define GOOD_STATE                                                                     \
	"{\"journeyStage\":\"purchase\",\"engagementLevel\":\"high\",\"segment\":\"loyal\"," \
	"\"churnRiskScore\":0.12,\"predictedLifetimeValue\":412.5,"                        \
	"\"nextBestActions\":[\"send a loyalty offer\"],\"interests\":[\"shoes\",\"running\"]}"

static void state_schema(void)
{
	jrn_schema *s = shipped("customer-state");
	if (!s)
		return;
	CHECK_STR(errors_of(s, GOOD_STATE), "valid", "customer-state: a good answer is valid");
	CHECK_STR(errors_of(s, "{\"journeyStage\":\"shopping\",\"engagementLevel\":\"high\","
			       "\"segment\":\"loyal\",\"churnRiskScore\":0.12,"
			       "\"predictedLifetimeValue\":0,\"nextBestActions\":[],\"interests\":[]}"),
		  "/journeyStage|enum|/journeyStage: \"shopping\" is not one of awareness, "
		  "consideration, purchase, retention, advocacy",
		  "customer-state: an unknown journeyStage");
	CHECK_STR(errors_of(s, "{\"journeyStage\":\"purchase\",\"engagementLevel\":\"high\","
			       "\"segment\":\"loyal\",\"churnRiskScore\":1.7,"
			       "\"predictedLifetimeValue\":0,\"nextBestActions\":[],\"interests\":[]}"),
		  "/churnRiskScore|maximum|/churnRiskScore: 1.7 is above the maximum 1",
		  "customer-state: churnRiskScore 1.7");
	CHECK_STR(errors_of(s, "{\"journeyStage\":\"purchase\",\"engagementLevel\":\"high\","
			       "\"segment\":\"loyal\",\"churnRiskScore\":0.5,"
			       "\"nextBestActions\":[],\"interests\":[]}"),
		  "|required|(root): the required member \"predictedLifetimeValue\" is missing",
		  "customer-state: a missing required member");
	CHECK_STR(errors_of(s, "{\"journeyStage\":\"purchase\",\"engagementLevel\":\"high\","
			       "\"segment\":\"loyal\",\"churnRiskScore\":0.5,\"predictedLifetimeValue\":1,"
			       "\"nextBestActions\":[],\"interests\":[],\"mood\":\"happy\"}"),
		  "/mood|additionalProperties|/mood: the member \"mood\" is not allowed (allowed: "
		  "journeyStage, engagementLevel, segment, churnRiskScore, predictedLifetimeValue, "
		  "nextBestActions, interests)",
		  "customer-state: an extra member");
	CHECK_STR(errors_of(s, "{\"journeyStage\":\"purchase\",\"engagementLevel\":\"high\","
			       "\"segment\":\"loyal\",\"churnRiskScore\":\"0.5\",\"predictedLifetimeValue\":-3,"
			       "\"nextBestActions\":\"call\",\"interests\":[\"a\",7]}"),
		  "/churnRiskScore|type|/churnRiskScore: \"0.5\" is a string, not number\n"
		  "/predictedLifetimeValue|minimum|/predictedLifetimeValue: -3 is below the minimum 0\n"
		  "/nextBestActions|type|/nextBestActions: \"call\" is a string, not array\n"
		  "/interests/1|type|/interests/1: 7 is a number, not string",
		  "customer-state: wrong types, each with its path");
	CHECK_STR(errors_of(s, "[]"), "|type|(root): [] is an array, not object",
		  "customer-state: an array at the top");
	CHECK_STR(errors_of(s, "{\"journeyStage\":null,\"engagementLevel\":\"high\",\"segment\":\"vip\","
			       "\"churnRiskScore\":0,\"predictedLifetimeValue\":0,\"nextBestActions\":[],"
			       "\"interests\":[]}"),
		  "/journeyStage|type|/journeyStage: null is null, not string\n"
		  "/journeyStage|enum|/journeyStage: null is not one of awareness, consideration, "
		  "purchase, retention, advocacy",
		  "customer-state: null where a string is required");
	jrn_schema_free(s);
}

#define ACTION(type, extra)                                                             \
	"{\"actionType\":\"" type "\",\"messageContent\":\"Hi\",\"campaignId\":\"c1\","    \
	"\"recipientEmail\":null,\"recipientPhone\":null,\"subject\":null,\"timing\":null," \
	"\"testVariant\":null,\"metricsToTrack\":null" extra "}"

static void action_schema(void)
{
	jrn_schema *s = shipped("journey-action");
	if (!s)
		return;
	CHECK_STR(errors_of(s, "{\"actions\":[" ACTION("email", "") "," ACTION("sms", "") "]}"),
		  "valid", "journey-action: two good actions (nulls) are valid");
	CHECK_STR(errors_of(s, "{\"actions\":[{\"actionType\":\"email\",\"messageContent\":\"Hi\","
			       "\"campaignId\":\"c1\",\"recipientEmail\":\"a@example.com\","
			       "\"recipientPhone\":\"+14155550100\",\"subject\":\"S\",\"timing\":\"now\","
			       "\"testVariant\":\"B\",\"metricsToTrack\":[\"opens\"]}]}"),
		  "valid", "journey-action: every optional member given");
	CHECK_STR(errors_of(s, "{\"actions\":[]}"), "valid", "journey-action: no actions is valid");
	CHECK_STR(errors_of(s, "{\"actions\":[" ACTION("fax", "") "]}"),
		  "/actions/0/actionType|enum|/actions/0/actionType: \"fax\" is not one of email, "
		  "sms, retargeting",
		  "journey-action: an unknown actionType");
	CHECK_STR(errors_of(s, "{\"actions\":[" ACTION("email", "") "," ACTION("email", "")
			       "," ACTION("email", "") "," ACTION("email", "") "," ACTION("email", "")
			       "," ACTION("email", "") "]}"),
		  "/actions|maxItems|/actions: the array has 6 items, more than the maximum 5",
		  "journey-action: six actions");
	CHECK_STR(errors_of(s, "{\"actions\":[{\"actionType\":\"sms\",\"messageContent\":\"Hi\"}]}"),
		  "/actions/0|required|/actions/0: the required member \"campaignId\" is missing\n"
		  "/actions/0|required|/actions/0: the required member \"recipientEmail\" is missing\n"
		  "/actions/0|required|/actions/0: the required member \"recipientPhone\" is missing\n"
		  "/actions/0|required|/actions/0: the required member \"subject\" is missing\n"
		  "/actions/0|required|/actions/0: the required member \"timing\" is missing\n"
		  "/actions/0|required|/actions/0: the required member \"testVariant\" is missing\n"
		  "/actions/0|required|/actions/0: the required member \"metricsToTrack\" is missing",
		  "journey-action: missing members, one error each");
	CHECK_STR(errors_of(s, "{\"actions\":[" ACTION("sms", ",\"channel\":\"x\"") "]}"),
		  "/actions/0/channel|additionalProperties|/actions/0/channel: the member "
		  "\"channel\" is not allowed (allowed: actionType, messageContent, campaignId, "
		  "recipientEmail, recipientPhone, subject, timing, testVariant, metricsToTrack)",
		  "journey-action: an extra member in an action");
	CHECK_STR(errors_of(s, "{\"actions\":[{\"actionType\":\"sms\",\"messageContent\":5,"
			       "\"campaignId\":\"c\",\"recipientEmail\":false,\"recipientPhone\":null,"
			       "\"subject\":null,\"timing\":null,\"testVariant\":null,"
			       "\"metricsToTrack\":\"opens\"}]}"),
		  "/actions/0/messageContent|type|/actions/0/messageContent: 5 is a number, not string\n"
		  "/actions/0/recipientEmail|type|/actions/0/recipientEmail: false is a boolean, not "
		  "string or null\n"
		  "/actions/0/metricsToTrack|type|/actions/0/metricsToTrack: \"opens\" is a string, "
		  "not array or null",
		  "journey-action: wrong types");
	CHECK_STR(errors_of(s, "{\"action\":[]}"),
		  "/action|additionalProperties|/action: the member \"action\" is not allowed "
		  "(allowed: actions)\n|required|(root): the required member \"actions\" is missing",
		  "journey-action: a misspelt top member");
	jrn_schema_free(s);
}

static void messages(void)
{
	CHECK_STR(check("{\"properties\":{\"a/b\":{\"properties\":{\"c~d\":{\"type\":\"integer\"}}}}}",
			"{\"a/b\":{\"c~d\":1.5}}"),
		  "/a~1b/c~0d|type|/a~1b/c~0d: 1.5 is a number, not integer",
		  "paths escape / and ~ (RFC 6901)");
	CHECK_STR(check("{\"type\":\"integer\"}", "1.0"), "valid", "1.0 is an integer");
	CHECK_STR(check("{\"type\":[\"integer\",\"null\"]}", "\"x\""),
		  "|type|(root): \"x\" is a string, not integer or null", "an array of types");
	CHECK_STR(check("{\"enum\":[1,\"a\",{\"b\":[true]}]}", "{\"b\":[false]}"),
		  "|enum|(root): {\"b\":[false]} is not one of 1, a, {\"b\":[true]}",
		  "enum message with values that are not strings");
	CHECK_STR(check("{\"enum\":[{\"a\":1,\"b\":2}]}", "{\"b\":2.0,\"a\":1}"), "valid",
		  "enum: JSON equality (member order, 2 == 2.0)");
	CHECK_STR(check("{\"uniqueItems\":true}", "[{\"a\":1,\"b\":2},3,{\"b\":2,\"a\":1.0}]"),
		  "|uniqueItems|(root): items 0 and 2 are equal, but the items must be unique",
		  "uniqueItems: JSON equality");
	CHECK_STR(check("{\"uniqueItems\":true}", "[1,true,0,false,[1],[true]]"), "valid",
		  "uniqueItems: 1 is not true, 0 is not false");
	jrn_buf big = {0};
	jrn_buf_adds(&big, "[");
	for (int i = 0; i < 20000; i++)
		jrn_buf_addf(&big, "%s%d", i ? "," : "", i);
	jrn_buf_adds(&big, ",{\"a\":1,\"b\":[2]},7,{\"b\":[2.0],\"a\":1}]");
	CHECK_STR(check("{\"uniqueItems\":true}", big.p),
		  "|uniqueItems|(root): items 7 and 20001 are equal, but the items must be unique\n"
		  "|uniqueItems|(root): items 20000 and 20002 are equal, but the items must be unique",
		  "uniqueItems on 20,003 items: sorted, JSON equality, first indices");
	big.len = 0;
	jrn_buf_adds(&big, "[");
	for (int i = 0; i < 20000; i++)
		jrn_buf_addf(&big, "%s%d", i ? "," : "", i);
	jrn_buf_adds(&big, "]");
	CHECK_STR(check("{\"uniqueItems\":true}", big.p), "valid", "uniqueItems: 20,000 distinct items");
	jrn_buf_free(&big);
	CHECK_STR(check("{\"maxLength\":2,\"minLength\":2}", "\"\xc3\xa9\xf0\x9f\x92\xa9\""), "valid",
		  "lengths count code points, not bytes");
	CHECK_STR(check("{\"maxLength\":1}", "\"\xc3\xa9\xc3\xa9\""),
		  "|maxLength|(root): the string is 2 characters long, longer than the maximum length 1",
		  "maxLength message");
	CHECK_STR(check("{\"minLength\":3}", "\"ab\""),
		  "|minLength|(root): the string is 2 characters long, shorter than the minimum length 3",
		  "minLength message");
	CHECK_STR(check("{\"pattern\":\"^[a-z]+$\"}", "\"abc1\""),
		  "|pattern|(root): \"abc1\" does not match the pattern ^[a-z]+$", "pattern message");
	CHECK_STR(check("{\"pattern\":\"^\\\\d+$\"}", "\"\xd9\xa3\""),
		  "|pattern|(root): \"\xd9\xa3\" does not match the pattern ^\\d+$",
		  "\\d is ASCII only (ECMA-262), not ARABIC-INDIC DIGIT THREE");
	CHECK_STR(check("{\"pattern\":\"b\"}", "\"abc\""), "valid", "pattern is not anchored");
	CHECK_STR(check("{\"multipleOf\":0.01}", "19.99"), "valid", "19.99 is a multiple of 0.01");
	CHECK_STR(check("{\"multipleOf\":0.01}", "19.995"),
		  "|multipleOf|(root): 19.995 is not a multiple of 0.01", "multipleOf message");
	CHECK_STR(check("{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", "[0,1]"),
		  "valid", "number keywords ignore arrays");
	CHECK_STR(check("{\"items\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}}", "[0,1]"),
		  "/0|exclusiveMinimum|/0: 0 is not above the exclusive minimum 0\n"
		  "/1|exclusiveMaximum|/1: 1 is not below the exclusive maximum 1",
		  "exclusive bounds messages, item paths");
	CHECK_STR(check("{\"items\":[{},{}],\"additionalItems\":false}", "[1,2,3]"),
		  "|additionalItems|(root): the array has 3 items, at most 2 are allowed",
		  "additionalItems message");
	CHECK_STR(check("{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "1"),
		  "|anyOf|(root): the value matches none of the 2 schemas of anyOf", "anyOf message");
	CHECK_STR(check("{\"oneOf\":[{\"minimum\":0},{\"maximum\":5}]}", "1"),
		  "|oneOf|(root): the value matches more than one of the 2 schemas of oneOf, it must "
		  "match exactly one", "oneOf message");
	CHECK_STR(check("{\"dependencies\":{\"a\":[\"b\"]}}", "{\"a\":1}"),
		  "|dependencies|(root): the member \"b\" is required when \"a\" is present",
		  "dependencies message");
	CHECK_STR(check("{\"const\":{\"a\":[1]}}", "{\"a\":[2]}"),
		  "|const|(root): the value must be {\"a\":[1]}", "const message");
	CHECK_STR(check("false", "1"), "|false|(root): no value is allowed here", "false schema");
	CHECK_STR(check("{\"enum\":[\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"\"]}", "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\""),
		  "|enum|(root): \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb... "
		  "is not one of aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "a long value is cut after 80 bytes in a message");
	/* 40 bad items: validation stops at JRN_SCHEMA_MAX_ERRORS */
	jrn_buf b = {0};
	jrn_buf_adds(&b, "[");
	for (int i = 0; i < 40; i++)
		jrn_buf_addf(&b, "%s\"x\"", i ? "," : "");
	jrn_buf_adds(&b, "]");
	const char *msg;
	jrn_schema *s = sch("{\"items\":{\"type\":\"integer\"}}", &msg);
	jv x = jv_parse(b.p), errs;
	int n = jrn_schema_validate(s, x, &errs);
	CHECK(n == JRN_SCHEMA_MAX_ERRORS && jv_array_length(jv_copy(errs)) == JRN_SCHEMA_MAX_ERRORS,
	      "40 errors stop at %d (got %d)", JRN_SCHEMA_MAX_ERRORS, n);
	CHECK(jrn_schema_validate(s, x, NULL) == JRN_SCHEMA_MAX_ERRORS,
	      "counting without errors gives the same number");
	jv_free(errs);
	jv_free(x);
	jrn_schema_free(s);
	jrn_buf_free(&b);
	s = sch("{\"type\":\"object\"}", &msg);
	x = jv_object();
	errs = jv_null();
	CHECK(jrn_schema_validate(s, x, &errs) == 0 && jv_get_kind(errs) == JV_KIND_ARRAY &&
	      jv_array_length(jv_copy(errs)) == 0, "valid: errors is an empty array");
	jv_free(errs);
	jv_free(x);
	jrn_schema_free(s);
}

static jv deep_array(int depth)
{
	jv x = jv_array();
	for (int i = 0; i < depth; i++)
		x = jv_array_append(jv_array(), x);
	return x;
}

static void bounds(void)
{
	const char *msg;
	jrn_schema *s = sch("{\"items\":{\"$ref\":\"#\"}}", &msg);
	jv x = deep_array(10000), errs;
	int n = jrn_schema_validate(s, x, &errs);
	jv e0 = jv_array_get(jv_copy(errs), 0);
	jv kw = jv_object_get(jv_copy(e0), jv_string("keyword"));
	jv m = jv_object_get(e0, jv_string("message"));
	CHECK(n == 1 && strcmp(jv_string_value(kw), "depth") == 0 &&
	      strstr(jv_string_value(m), "nested deeper than 512 levels (JRN_SCHEMA_MAX_DEPTH)"),
	      "a 10,000-deep array: one depth error, no stack overflow (%d)", n);
	jv_free(kw);
	jv_free(m);
	jv_free(errs);
	CHECK(jrn_schema_validate(s, x, NULL) == 1, "the same without collecting");
	jrn_schema_free(s);
	s = sch("{\"type\":\"array\",\"uniqueItems\":true,\"enum\":[[]]}", &msg);
	CHECK(jrn_schema_validate(s, x, NULL) == 1, "a 10,000-deep array against enum");
	jrn_schema_free(s);
	jv_free(x);
	s = sch("{\"items\":{\"$ref\":\"#\"}}", &msg);
	x = deep_array(200);
	CHECK(jrn_schema_validate(s, x, NULL) == 0, "a 200-deep array is checked whole");
	jv_free(x);
	jrn_schema_free(s);
	s = sch("{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},\"b\":{\"$ref\":"
		"\"#/definitions/a\"}},\"$ref\":\"#/definitions/a\"}", &msg);
	CHECK(s != NULL, "a $ref loop compiles");
	if (s) {
		CHECK_STR(errors_of(s, "1"), "|depth|(root): nested deeper than 512 levels "
			  "(JRN_SCHEMA_MAX_DEPTH); not checked further",
			  "a $ref loop is a depth error, not a hang");
		jrn_schema_free(s);
	}
	/* a schema nested deeper than the bound */
	jv deep = jv_object();
	for (int i = 0; i < 600; i++)
		deep = jv_object_set(jv_object(), jv_string("not"), deep);
	jrn_err e;
	s = jrn_schema_compile(deep, &e);
	CHECK(s == NULL && strstr(e.msg, "nested deeper than 512 levels (JRN_SCHEMA_MAX_DEPTH)"),
	      "a schema 600 deep is refused: %s", s ? "compiled" : e.msg);
	jrn_schema_free(s);
}

static void compile_errors(void)
{
	CHECK_STR(compile_error("{\"pattern\":\"a(\"}"),
		  "schema: pattern \"a(\" is not a valid regular expression: missing closing "
		  "parenthesis (at offset 2)", "an invalid regex is a compile error");
	CHECK_STR(compile_error("{\"patternProperties\":{\"[\":{}}}"),
		  "schema at /patternProperties/[: patternProperties \"[\" is not a valid regular "
		  "expression: missing terminating ] for character class (at offset 1)",
		  "an invalid patternProperties regex");
	CHECK_STR(compile_error("{\"properties\":{\"age\":{\"minimun\":0}}}"),
		  "schema at /properties/age: unknown keyword \"minimun\" (not a JSON Schema draft 7 "
		  "keyword; jsonschema.h lists the ones read)", "a misspelt keyword names itself");
	CHECK_STR(compile_error("{\"unevaluatedProperties\":false}"),
		  "schema: unknown keyword \"unevaluatedProperties\" (not a JSON Schema draft 7 "
		  "keyword; jsonschema.h lists the ones read)", "a later draft's keyword is refused");
	CHECK_STR(compile_error("{\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\",\"default\":1,"
				"\"examples\":[],\"format\":\"email\",\"$schema\":\"x\",\"$id\":\"http://e/x\","
				"\"definitions\":{\"x\":{\"bogus\":1}}}"),
		  "(compiled)", "annotations are accepted; unreferenced definitions are not compiled");
	CHECK_STR(compile_error("{\"properties\":{\"a\":{\"minimum\":\"1\"}}}"),
		  "schema at /properties/a: minimum must be a number", "a malformed keyword value");
	CHECK_STR(compile_error("{\"maxItems\":-1}"), "schema: maxItems must be a non-negative integer",
		  "a negative count");
	CHECK_STR(compile_error("{\"multipleOf\":0}"), "schema: multipleOf must be greater than 0",
		  "multipleOf 0");
	CHECK_STR(compile_error("{\"type\":\"float\"}"),
		  "schema: type must be one of null, boolean, object, array, number, string, integer, "
		  "or a non-empty array of them without repeats", "an unknown type");
	CHECK_STR(compile_error("{\"required\":[\"a\",\"a\"]}"),
		  "schema: required must be an array of distinct strings", "required twice");
	CHECK_STR(compile_error("{\"items\":3}"),
		  "schema at /items: a schema must be an object, true or false", "a schema that is a number");
	CHECK_STR(compile_error("{\"$ref\":\"#/definitions/none\"}"),
		  "schema: $ref \"#/definitions/none\" points to nothing", "a dangling $ref");
	CHECK_STR(compile_error("{\"$ref\":\"http://example.com/s.json\"}"),
		  "schema: $ref \"http://example.com/s.json\": no such document (only references "
		  "inside the schema and to http://json-schema.org/draft-07/schema are followed)",
		  "a remote $ref");
	CHECK_STR(compile_error("{\"allOf\":[]}"), "schema: allOf must be a non-empty array of schemas",
		  "an empty allOf");
	CHECK_STR(compile_error("{\"x-note\":{\"type\":\"string\"},\"$ref\":\"#/x-note\"}"), "(compiled)",
		  "a member reached by $ref is no unknown keyword");
	jrn_err e;
	jrn_schema *s = jrn_schema_load("t/no/such/schema.json", &e);
	CHECK(!s && strstr(e.msg, "t/no/such/schema.json: "), "load: a missing file: %s", e.msg);
	s = jrn_schema_compile(jv_parse("{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}"), &e);
	CHECK(s != NULL, "the built-in meta-schema compiles");
	if (s) {
		CHECK_STR(errors_of(s, "{\"type\":\"integer\",\"minimum\":0}"), "valid",
			  "meta-schema: a schema is valid");
		jv bad = jv_parse("{\"type\":\"float\"}");
		CHECK(jrn_schema_validate(s, bad, NULL) > 0, "meta-schema: type float is not");
		jv_free(bad);
		jrn_schema_free(s);
	}
}

/* JRN_SCHEMA_BENCH=N: N validations of a state answer, and the rate */
static void bench(void)
{
	const char *env = getenv("JRN_SCHEMA_BENCH");
	long n = env ? atol(env) : 50000;
	jrn_err e;
	jrn_schema *s = jrn_schema_load("share/jrn/schemas/customer-state.json", &e);
	jv x = jv_parse(GOOD_STATE);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long bad = 0;
	for (long i = 0; i < n && s; i++)
		bad += jrn_schema_validate(s, x, NULL) != 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# bench: %ld state answers validated in %.3f s (%.0f/s)\n", n, secs,
	       secs > 0 ? (double)n / secs : 0.0);
	CHECK(s && bad == 0, "bench: every answer valid");
	CHECK(!env || secs < 1.0 * (double)n / 50000, "bench: 50,000 answers in under a second (%.3f s)",
	      secs * 50000 / (double)(n ? n : 1));
	jv_free(x);
	jrn_schema_free(s);
}

int main(void)
{
	for (size_t i = 0; i < sizeof claimed / sizeof *claimed; i++)
		suite_file(claimed[i]);
	state_schema();
	action_schema();
	messages();
	bounds();
	compile_errors();
	bench();
	return unit_done();
}
