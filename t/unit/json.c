/* Unit tests of json.c (serializer, strict check) and utf8.c. */
#include <stdlib.h>
#include <string.h>

#include "jrn.h"
#include "unit.h"

static const char *ser(const char *json, int flags)
{
	static jrn_buf b;
	static jrn_err e;
	jrn_buf_reset(&b);
	jv v = jv_parse(json);
	if (jrn_json_append(&b, v, flags, &e) < 0)
		return e.msg;
	return b.p;
}

static int ok(const char *s)
{
	jrn_err e;
	return jrn_json_check(s, strlen(s), &e) == 0;
}

static const char *why(const char *s)
{
	static jrn_err e;
	if (jrn_json_check(s, strlen(s), &e) == 0)
		return "(accepted)";
	return e.msg;
}

int main(void)
{
	CHECK_STR(ser("{\"b\":1,\"a\":[true,false,null]}", 0), "{\"b\":1,\"a\":[true,false,null]}", "keys keep their order");
	CHECK_STR(ser("{\"b\":1,\"a\":{\"d\":1,\"c\":2}}", JRN_JSON_SORTED), "{\"a\":{\"c\":2,\"d\":1},\"b\":1}", "sorted, nested");
	CHECK_STR(ser("0.1", 0), "0.1", "0.1 shortest");
	CHECK_STR(ser("1.5e300", 0), "1.5e+300", "large exponent");
	CHECK_STR(ser("-42", 0), "-42", "negative integer");
	CHECK_STR(ser("9007199254740991", 0), "9007199254740991", "2^53-1 exact");
	CHECK_STR(ser("100.0", 0), "100", "integral double prints as integer");
	CHECK_STR(ser("123.45", 0), "123.45", "money");
	CHECK_STR(ser("1e-7", 0), "1e-07", "small");
	CHECK_STR(ser("\"a\\\"b\\\\c\\n\\t\\u0001\"", 0), "\"a\\\"b\\\\c\\n\\t\\u0001\"", "escapes");
	CHECK_STR(ser("\"\\u00e9\\u20ac\"", 0), "\"\xc3\xa9\xe2\x82\xac\"", "UTF-8 raw");
	CHECK_STR(ser("\"/\"", 0), "\"/\"", "slash unescaped");
	CHECK_STR(ser("{}", 0), "{}", "empty object");
	CHECK_STR(ser("[]", 0), "[]", "empty array");
	CHECK_STR(ser("[[[[1]]]]", 0), "[[[[1]]]]", "nested arrays");
	{
		jrn_buf b = {0};
		jrn_err e;
		CHECK(jrn_json_append(&b, jv_number(0.0 / 0.0), 0, &e) < 0, "NaN refused");
		CHECK(strstr(e.msg, "NaN") != NULL, "NaN reason: %s", e.msg);
		jrn_buf_free(&b);
	}

	CHECK(ok("{\"a\":1}"), "object");
	CHECK(ok(" [1, 2.5, -0.5e10, true, false, null, \"x\"] "), "array with ws");
	CHECK(ok("{\"a\":{\"b\":[{}]}}"), "nesting");
	CHECK(ok("\"\\ud83d\\ude00\""), "surrogate pair escape");
	CHECK(ok("-0"), "-0");
	CHECK(ok("1E+2"), "1E+2");
	CHECK(!ok("nan"), "nan");
	CHECK(!ok("NaN"), "NaN");
	CHECK(!ok("01"), "leading zero");
	CHECK(!ok("+1"), "plus");
	CHECK(!ok(".5"), ".5");
	CHECK(!ok("1."), "1.");
	CHECK(!ok("1e"), "1e");
	CHECK(!ok("-"), "-");
	CHECK(!ok("{\"a\":1,}"), "trailing comma");
	CHECK(!ok("[1,]"), "trailing comma in array");
	CHECK(!ok("{'a':1}"), "single quotes");
	CHECK(!ok("{\"a\" 1}"), "no colon");
	CHECK(!ok("{\"a\":1"), "unclosed");
	CHECK(!ok("[1}"), "mismatched");
	CHECK(!ok("{\"a\":1}}"), "extra close");
	CHECK(!ok("{} {}"), "two values");
	CHECK(!ok("\"a\tb\""), "raw tab in string");
	CHECK(!ok("\"\\x\""), "bad escape");
	CHECK(!ok("\"\\u12\""), "short \\u");
	CHECK(!ok("tru"), "truncated literal");
	CHECK(!ok(""), "empty");
	CHECK(!ok("   "), "blank");
	CHECK(!ok("{1:2}"), "number key");
	CHECK_STR(why("{\"a\":01}"), "invalid JSON at byte 6: bad number", "message names the byte");
	CHECK_STR(why("{\"a\":1} x"), "invalid JSON at byte 9: more after the value", "extra data");
	{
		/* deep nesting grows the stack past its first levels, up to
		 * libjq's limit of 256 */
		size_t depth = 256;
		char *s = malloc(depth * 2 + 3);
		memset(s, '[', depth);
		memset(s + depth, ']', depth);
		s[depth * 2] = 0;
		CHECK(ok(s), "256 levels of nesting");
		s[depth * 2 - 1] = 0;
		CHECK(!ok(s), "unbalanced deep nesting");
		memset(s, '[', depth + 1);
		memset(s + depth + 1, ']', depth + 1);
		s[depth * 2 + 2] = 0;
		CHECK_STR(why(s), "invalid JSON at byte 257: nested deeper than 256 levels", "257 levels");
		free(s);
	}

	CHECK(jrn_utf8_invalid_at("plain ascii text here", 21) == 21, "ascii");
	CHECK(jrn_utf8_invalid_at("caf\xc3\xa9", 5) == 5, "2-byte");
	CHECK(jrn_utf8_invalid_at("\xe2\x82\xac", 3) == 3, "3-byte");
	CHECK(jrn_utf8_invalid_at("\xf0\x9f\x98\x80", 4) == 4, "4-byte");
	CHECK(jrn_utf8_invalid_at("abc\xff", 4) == 3, "0xff");
	CHECK(jrn_utf8_invalid_at("\xc0\xaf", 2) == 0, "overlong 2-byte");
	CHECK(jrn_utf8_invalid_at("\xe0\x80\xaf", 3) == 0, "overlong 3-byte");
	CHECK(jrn_utf8_invalid_at("\xed\xa0\x80", 3) == 0, "surrogate");
	CHECK(jrn_utf8_invalid_at("\xf4\x90\x80\x80", 4) == 0, "above U+10FFFF");
	CHECK(jrn_utf8_invalid_at("12345678\xc3", 9) == 8, "truncated at the end");
	CHECK(jrn_utf8_invalid_at("\xc3(", 2) == 0, "bad continuation");
	CHECK(jrn_utf8_invalid_at("abcdefgh\x80", 9) == 8, "lone continuation after a word");

	{
		jrn_err e;
		CHECK(jrn_id_check("c-1", 3, "customerId", &e) == 0, "plain id");
		CHECK(jrn_id_check("caf\xc3\xa9", 5, "customerId", &e) == 0, "UTF-8 id");
		CHECK(jrn_id_check("", 0, "customerId", &e) < 0 && strcmp(e.msg, "customerId: empty") == 0,
		      "empty id");
		CHECK(jrn_id_check("spring\0x", 8, "campaignId", &e) < 0 &&
		      strcmp(e.msg, "campaignId: control character U+0000 at byte 7") == 0, "NUL in an id");
		CHECK(jrn_id_check("a\x1f" "b", 3, "id", &e) < 0 &&
		      strcmp(e.msg, "id: control character U+001F at byte 2") == 0, "unit separator in an id");
		CHECK(jrn_id_check("a\x7f", 2, "id", &e) < 0, "DEL in an id");
	}
	return unit_done();
}
