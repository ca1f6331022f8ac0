/* Unit tests of jrn-ingest --listen's pure parts: where a JSON value ends
 * (a Segment batch is split over its own bytes) and form decoding. */
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "unit.h"

/* The value at the start of s, as text. */
static const char *first(const char *s)
{
	static char out[256];
	size_t n = listen_json_value_end(s, strlen(s));
	snprintf(out, sizeof out, "%.*s", (int)n, s);
	return out;
}

static const char *decoded(const char *s)
{
	static char out[256];
	snprintf(out, sizeof out, "%s", s);
	listen_form_decode(out);
	return out;
}

int main(void)
{
	CHECK_STR(first("{\"a\":1},{\"b\":2}"), "{\"a\":1}", "an object, then the next");
	CHECK_STR(first("{\"a\":\"}\"} ,x"), "{\"a\":\"}\"}", "a brace inside a string");
	CHECK_STR(first("{\"a\":\"\\\"}\"}]"), "{\"a\":\"\\\"}\"}", "an escaped quote before a brace");
	CHECK_STR(first("{\"a\":\"\\\\\"},1"), "{\"a\":\"\\\\\"}", "an escaped backslash ends the string");
	CHECK_STR(first("[1,[2,{\"x\":[]}]],3"), "[1,[2,{\"x\":[]}]]", "nested arrays and objects");
	CHECK_STR(first("\"s,]\",2"), "\"s,]\"", "a string at the top");
	CHECK_STR(first("12.5e3,7"), "12.5e3", "a number up to the comma");
	CHECK_STR(first("true]"), "true", "a literal up to the bracket");
	CHECK_STR(first("null \n,"), "null", "a literal up to a blank");
	CHECK_STR(first("{\"a\":\"x\\\\\\\"]\"},9"), "{\"a\":\"x\\\\\\\"]\"}",
		  "three backslashes: the quote after them is escaped");
	CHECK_STR(first("{\"a\":\"x\\\\\\\\\"},9"), "{\"a\":\"x\\\\\\\\\"}",
		  "four backslashes: the quote after them ends the string");
	CHECK_STR(first("\"\\\"\",1"), "\"\\\"\"", "a string at the top holding only an escaped quote");
	CHECK_STR(first("{\"a\":\"unclosed"), "{\"a\":\"unclosed", "an unterminated string: to the end");
	CHECK_STR(first("{\n \"a\" : [ 1 ,\n 2 ] }\n,"), "{\n \"a\" : [ 1 ,\n 2 ] }", "blanks inside");

	CHECK_STR(decoded("a+b%20c"), "a b c", "plus and %%20 are spaces");
	CHECK_STR(decoded("%2B%26%3d"), "+&=", "escaped delimiters, either case");
	CHECK_STR(decoded("100%"), "100%", "a lone percent sign stays");
	CHECK_STR(decoded("%zz%4"), "%zz%4", "bad escapes stay");
	CHECK_STR(decoded("%E2%82%AC"), "\xE2\x82\xAC", "UTF-8 bytes");
	CHECK_STR(decoded(""), "", "empty");
	return unit_done();
}
