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

/* s through jrn_parse_value and jrn_json_append: the text, or the error */
static const char *rt(const char *json, int flags)
{
	static jrn_buf b;
	static jrn_err e;
	jrn_buf_reset(&b);
	jv v = jrn_parse_value(json, strlen(json), &e);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return e.msg;
	}
	if (jrn_json_append(&b, v, flags, &e) < 0)
		return e.msg;
	return b.p;
}

/* the checker's and the parser's verdicts on s: the same text, or a
 * description of how they differ */
static const char *same(const char *s)
{
	static char out[2200];
	jrn_err c, p;
	int ck = jrn_json_check(s, strlen(s), &c);
	jv v = jrn_parse_value(s, strlen(s), &p);
	int pk = jv_is_valid(v) ? 0 : -1;
	jv_free(v);
	if (ck == 0 && pk == 0)
		return "(accepted)";
	if (ck != pk || strcmp(c.msg, p.msg) != 0)
		snprintf(out, sizeof out, "check %d '%s' / parse %d '%s'", ck, ck ? c.msg : "",
			 pk, pk ? p.msg : "");
	else
		snprintf(out, sizeof out, "%s", c.msg);
	return out;
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

	/* ---- the parser: the checker's rules and messages ---- */
	{
		static const char *const texts[] = {
			"{\"a\":1}", "{\"a\":01}", "{\"a\":1} x", "[1,]", "{\"a\" 1}", "{\"a\":1",
			"tru", "", "   ", "{1:2}", "\"\\x\"", "\"\\u12\"", "\"a\tb\"", "[1}",
			"{\"a\":[1,{\"b\":nan}]}", "\"\\ud800\"", "\"\\udc00\"", "\"x\\ud800\\u0041\"",
			"\"\\ud800\\udc00\"", "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}",
			"{\"a\":{\"b\":1,\"c\":{\"b\":1}}}", "[{\"x\":1,\"y\":2,\"x\":3}]",
			"\xef\xbb\xbf{}", "{\"a\":\xef\xbb\xbf}", "{\"a\":\x01}",
		};
		for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
			CHECK(strncmp(same(texts[i]), "check", 5) != 0, "check and parse agree on text %zu: %s",
			      i, same(texts[i]));
	}
	CHECK_STR(why("\"\\ud800\""), "invalid JSON at byte 2: lone surrogate escape \\ud800", "lone high surrogate");
	CHECK_STR(why("[\"a\\uDC00\"]"), "invalid JSON at byte 4: lone surrogate escape \\uDC00", "lone low surrogate, as written");
	CHECK_STR(why("\"\\ud800\\u0041\""), "invalid JSON at byte 2: lone surrogate escape \\ud800", "high then not low");
	CHECK_STR(why("\"\\ud800\\ud800\""), "invalid JSON at byte 2: lone surrogate escape \\ud800", "high then high");
	CHECK_STR(why("{\"type\":\"a\",\"customerId\":\"c\",\"type\":\"b\"}"),
		  "invalid JSON at byte 30: duplicate member name \"type\"", "a name twice");
	CHECK_STR(why("{\"a\":[{\"b\":1,\"b\":2}]}"), "invalid JSON at byte 14: duplicate member name \"b\"", "at depth");
	CHECK_STR(why("{\"a\":1,\"\\u0061\":2}"), "invalid JSON at byte 8: duplicate member name \"a\"", "names compare decoded");
	CHECK_STR(why("{\"a\\u0000\":1,\"a\\u0000\":2}"), "invalid JSON at byte 14: duplicate member name \"a\\u0000\"", "NUL in a name");
	CHECK(ok("{\"a\":1,\"a\\u0000\":2,\"b\":{\"a\":1}}"), "different names, same name in another object");
	{
		/* many names: the sorted way finds the first one seen before */
		jrn_buf big = {0};
		jrn_buf_addc(&big, '{');
		for (int i = 0; i < 1000; i++)
			jrn_buf_addf(&big, "\"k%d\":%d,", i, i);
		jrn_buf_adds(&big, "\"k500\":1,\"k7\":2}");
		char want[100];
		snprintf(want, sizeof want, "invalid JSON at byte %zu: duplicate member name \"k500\"",
			 big.len - 15);
		CHECK_STR(why(big.p), want, "a name twice among 1000");
		CHECK_STR(same(big.p), want, "the parser says the same");
		big.p[big.len - 16 + 2] = 'x'; /* "kx00" */
		snprintf(want, sizeof want, "invalid JSON at byte %zu: duplicate member name \"k7\"",
			 big.len - 6);
		CHECK_STR(why(big.p), want, "the next one");
		jrn_buf_free(&big);
	}
	CHECK_STR(why("\xef\xbb\xbf{}"), "invalid JSON at byte 1: byte-order mark (U+FEFF) not at the start of the input", "a BOM");
	CHECK_STR(rt("{\"a\":\"\xff\"}", 0), "invalid UTF-8 at byte 7", "parse: UTF-8 checked");
	CHECK_STR(rt("{\"b\":1,\"a\":[true,false,null,\"x\\n\\u00e9\\ud83d\\ude00\"]}", 0),
		  "{\"b\":1,\"a\":[true,false,null,\"x\\n\xc3\xa9\xf0\x9f\x98\x80\"]}", "parse: values and escapes");
	CHECK_STR(rt("\"a\\u0000b\"", 0), "\"a\\u0000b\"", "parse: NUL inside a string kept");

	/* ---- number literals ---- */
	CHECK_STR(rt("[9007199254740993,10215234567890123,123456789012345678901]", 0),
		  "[9007199254740993,10215234567890123,123456789012345678901]", "big integers as written");
	CHECK_STR(rt("[1.0000000000000001,1e400,-1e400,1e-400,-1e-400,1E400]", 0),
		  "[1.0000000000000001,1e400,-1e400,1e-400,-1e-400,1E400]", "precision, overflow, underflow as written");
	CHECK_STR(rt("[0.1,1.0,1E2,1.5e300,-0,100.0,123.45,1e-7,9007199254740992,0.30000000000000004]", 0),
		  "[0.1,1,100,1.5e+300,-0,100,123.45,1e-07,9007199254740992,0.30000000000000004]",
		  "numbers a double holds print as before");
	CHECK_STR(rt("[1e-300,1.7976931348623157e308,5e-324,12345678901234567e-2]", 0),
		  "[1e-300,1.7976931348623157e+308,5e-324,123456789012345.67]",
		  "edges: a literal only when the printed text would mean another value");
	CHECK_STR(rt("{\"b\":9007199254740993,\"a\":1}", JRN_JSON_SORTED), "{\"a\":1,\"b\":9007199254740993}",
		  "sorted (the canonical form) keeps literals");
	{
		jrn_err e;
		jrn_buf b = {0};
		jv v = jrn_parse_value("{\"n\":9007199254740993,\"m\":[1e400]}", 34, &e);
		jv n = jv_object_get(jv_copy(v), jv_string("n"));
		size_t len = 0;
		const char *lit = jrn_json_literal(n, &len);
		CHECK(lit && len == 16 && memcmp(lit, "9007199254740993", 16) == 0, "jv_object_get keeps the literal");
		jv c = jv_copy(n);
		CHECK(jrn_json_literal(c, NULL) == lit, "jv_copy keeps it");
		jv arr = jv_array_set(jv_array(), 3, jv_copy(n));
		jv el = jv_array_get(jv_copy(arr), 3);
		CHECK(jrn_json_literal(el, NULL) == lit, "jv_array_set and jv_array_get keep it");
		jv obj = jv_object_set(jv_object(), jv_string("x"), jv_copy(n));
		jv got = jv_object_get(jv_copy(obj), jv_string("x"));
		CHECK(jrn_json_literal(got, NULL) == lit, "jv_object_set keeps it");
		jv sum = jv_number(jv_number_value(n) + 0);
		CHECK(jrn_json_literal(sum, NULL) == NULL, "a number made by arithmetic has none");
		jrn_json_append(&b, sum, 0, &e);
		CHECK_STR(b.p, "9007199254740992", "and prints from its double");
		jv again = jrn_parse_value("9007199254740993", 16, &e);
		CHECK(jrn_json_literal(again, NULL) == lit, "the same text is interned once");
		jv forged = jv_number(1.5);
		forged.size = again.size;
		CHECK(jrn_json_literal(forged, NULL) == NULL, "a literal whose double is not the jv's is ignored");
		jrn_buf_reset(&b);
		jrn_json_append(&b, jv_copy(v), 0, &e);
		CHECK_STR(b.p, "{\"n\":9007199254740993,\"m\":[1e400]}", "the whole value");
		jv m = jv_getpath(jv_copy(v), JV_ARRAY(jv_string("m"), jv_number(0)));
		CHECK(jv_number_value(m) > 1e308, "1e400 reads as infinity for arithmetic");
		jv_free(m);
		jv_free(n);
		jv_free(c);
		jv_free(el);
		jv_free(arr);
		jv_free(got);
		jv_free(obj);
		jv_free(again);
		jv_free(v);
		jrn_buf_free(&b);
	}

	/* the index: find steps over values' members (next), and finds a
	 * name at its own level only */
	{
		const char *t = "{\"a\":{\"b\":{\"c\":1,\"e\":2},\"d\":[{\"e\":3}]},\"e\":\"x\\\"y\","
				"\"f\":{},\"g\":{\"h\":{\"i\":{\"j\":4}}},\"b\":5}";
		jrn_json_index ix = {0};
		jrn_err e;
		CHECK(jrn_json_index_build(&ix, t, strlen(t), 3, &e) == 0, "the index is built");
		const jrn_json_member *a = jrn_json_find(&ix, -1, "a"), *b = jrn_json_find(&ix, -1, "b");
		const jrn_json_member *e1 = jrn_json_find(&ix, -1, "e");
		CHECK(a && a->kind == '{' && b && b->kind == '0' && b->vlen == 1 && *b->val == '5',
		      "a top-level name after an object's members");
		CHECK(e1 && e1->kind == '"' && e1->escaped && e1->vlen == 4, "a top-level string with an escape");
		const jrn_json_member *ab = jrn_json_find(&ix, (int)(a - ix.m), "b");
		CHECK(ab && ab->depth == 2 && jrn_json_find(&ix, (int)(a - ix.m), "c") == NULL,
		      "a's b; its c is b's, not a's");
		const jrn_json_member *abe = ab ? jrn_json_find(&ix, (int)(ab - ix.m), "e") : NULL;
		CHECK(abe && *abe->val == '2', "b's e, not the top level's");
		CHECK(jrn_json_find(&ix, (int)(a - ix.m), "e") == NULL, "an array's objects are not indexed");
		const jrn_json_member *f = jrn_json_find(&ix, -1, "f");
		CHECK(f && jrn_json_find(&ix, (int)(f - ix.m), "a") == NULL, "an empty object has none");
		const jrn_json_member *g = jrn_json_find(&ix, -1, "g"), *h = g ? jrn_json_find(&ix, (int)(g - ix.m), "h") : NULL;
		const jrn_json_member *i = h ? jrn_json_find(&ix, (int)(h - ix.m), "i") : NULL;
		CHECK(i && i->depth == 3 && jrn_json_find(&ix, (int)(i - ix.m), "j") == NULL,
		      "past max_depth nothing is indexed");
		CHECK(jrn_json_find(&ix, (int)(e1 - ix.m), "x") == NULL, "a string has no members");
		jrn_json_index_free(&ix);
	}

	/* strings: the eight-byte steps stop at every '"', '\\' and control
	 * byte wherever it stands, and let high bytes through */
	{
		static const char *const put[] = {"\"", "\\", "\x01", "\x1f", "\n", "\\n", "\\u00e9", ""};
		bool ok = true;
		for (size_t len = 0; len < 40 && ok; len++) {
			for (size_t at = 0; at <= len && ok; at++) {
				for (size_t k = 0; k < sizeof put / sizeof *put && ok; k++) {
					/* {"k":"...?..."}: ? put at `at` among a's and é's */
					jrn_buf b = {0};
					jrn_buf_adds(&b, "{\"k\":\"");
					for (size_t j = 0; j < len; j++) {
						if (j == at)
							jrn_buf_adds(&b, put[k]);
						jrn_buf_adds(&b, j % 3 ? "a" : "\xc3\xa9");
					}
					if (at == len)
						jrn_buf_adds(&b, put[k]);
					jrn_buf_adds(&b, "\"}");
					jrn_err e;
					jrn_json_index ix = {0};
					int rc = jrn_json_index_build(&ix, b.p, b.len, 1, &e);
					bool valid = k >= 5, esc = k == 5 || k == 6;
					ok = (rc == 0) == valid && (!valid || (ix.n == 1 && ix.m[0].escaped == esc &&
									     ix.m[0].vlen == b.len - 8));
					if (!ok)
						fprintf(stderr, "# len %zu at %zu put %zu: rc %d (%s)\n", len, at, k, rc,
							rc ? e.msg : "");
					jrn_json_index_free(&ix);
					jrn_buf_free(&b);
				}
			}
		}
		CHECK(ok, "a quote, backslash or control byte anywhere is refused; escapes and high bytes are not");
	}
	return unit_done();
}
