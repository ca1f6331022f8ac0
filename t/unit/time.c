/* Unit tests of time.c: RFC 3339 parsing and printing, durations, clock. */
#include <stdint.h>
#include <stdlib.h>

#include "jrn.h"
#include "unit.h"

/* The canonical form of s, or "ERR: reason". */
static const char *canon(const char *s, int flags)
{
	static char out[1100];
	jrn_err e;
	int64_t ms;
	if (jrn_time_parse(s, strlen(s), flags, &ms, &e) < 0) {
		snprintf(out, sizeof out, "ERR: %s", e.msg);
		return out;
	}
	jrn_time_format(ms, out);
	return out;
}

/* The milliseconds of s; INT64_MIN when refused. */
static int64_t ms_of(const char *s)
{
	int64_t ms;
	if (jrn_time_parse(s, strlen(s), 0, &ms, NULL) < 0)
		return INT64_MIN;
	return ms;
}

/* The reason s is refused, or "(accepted)". */
static const char *why(const char *s, int flags)
{
	static jrn_err e;
	int64_t ms;
	if (jrn_time_parse(s, strlen(s), flags, &ms, &e) == 0)
		return "(accepted)";
	return e.msg;
}

static bool has(const char *msg, const char *part)
{
	return strstr(msg, part) != NULL;
}

static const char *fmt(int64_t ms)
{
	static char out[32];
	size_t n = jrn_time_format(ms, out);
	if (n != strlen(out))
		return "(length mismatch)";
	return out;
}

static int64_t dur(const char *s)
{
	int64_t ms;
	if (jrn_duration_parse(s, &ms, NULL) < 0)
		return -1;
	return ms;
}

static const char *dur_why(const char *s)
{
	static jrn_err e;
	int64_t ms;
	if (jrn_duration_parse(s, &ms, &e) == 0)
		return "(accepted)";
	return e.msg;
}

int main(void)
{
	/* ---- parse: values ---- */
	CHECK(ms_of("1970-01-01T00:00:00Z") == 0, "epoch");
	CHECK(ms_of("1970-01-01T00:00:00.001Z") == 1, "epoch + 1 ms");
	CHECK(ms_of("2000-03-01T00:00:00Z") == 951868800000LL, "2000-03-01");
	CHECK(ms_of("2024-02-29T12:00:00Z") == 1709208000000LL, "2024-02-29 leap day");
	CHECK(ms_of("1900-03-01T00:00:00Z") == -2203891200000LL, "1900-03-01 before epoch");
	CHECK(ms_of("1969-07-20T20:17:40Z") == -14182940000LL, "moon landing");
	CHECK(ms_of("0001-01-01T00:00:00Z") == -62135596800000LL, "year 1");
	CHECK(ms_of("0000-01-01T00:00:00Z") == -62167219200000LL, "year 0");
	CHECK(ms_of("9999-12-31T23:59:59.999Z") == 253402300799999LL, "last millisecond of 9999");
	CHECK(ms_of("2038-01-19T03:14:08Z") == 2147483648000LL, "past 2^31 seconds");

	/* ---- parse: canonical form ---- */
	CHECK_STR(canon("2026-01-31T09:30:00.123+02:00", 0), "2026-01-31T07:30:00.123Z", "offset east");
	CHECK_STR(canon("2026-01-31T09:30:00-05:30", 0), "2026-01-31T15:00:00.000Z", "offset west with minutes");
	CHECK_STR(canon("2026-01-31T23:30:00-01:00", 0), "2026-02-01T00:30:00.000Z", "offset crosses midnight forward");
	CHECK_STR(canon("2026-03-01T00:30:00+01:00", 0), "2026-02-28T23:30:00.000Z", "offset crosses midnight back into February");
	CHECK_STR(canon("2024-03-01T00:30:00+01:00", 0), "2024-02-29T23:30:00.000Z", "back into a leap day");
	CHECK_STR(canon("2026-12-31T23:00:00-02:00", 0), "2027-01-01T01:00:00.000Z", "offset crosses the year forward");
	CHECK_STR(canon("2027-01-01T00:59:59+01:00", 0), "2026-12-31T23:59:59.000Z", "offset crosses the year back");
	CHECK_STR(canon("2026-06-15T12:00:00+23:59", 0), "2026-06-14T12:01:00.000Z", "largest offset");
	CHECK_STR(canon("2026-06-15T12:00:00-23:59", 0), "2026-06-16T11:59:00.000Z", "smallest offset");
	CHECK_STR(canon("2026-06-15T12:00:00-00:00", 0), "2026-06-15T12:00:00.000Z", "-00:00 is UTC");
	CHECK_STR(canon("2026-06-15T12:00:00+00:00", 0), "2026-06-15T12:00:00.000Z", "+00:00 is UTC");
	CHECK_STR(canon("2026-06-15t12:00:00z", 0), "2026-06-15T12:00:00.000Z", "lower-case t and z");
	CHECK_STR(canon("2026-06-15 12:00:00Z", 0), "2026-06-15T12:00:00.000Z", "space separator");
	CHECK_STR(canon("2026-06-15T12:00:00.5Z", 0), "2026-06-15T12:00:00.500Z", "1-digit fraction");
	CHECK_STR(canon("2026-06-15T12:00:00.05Z", 0), "2026-06-15T12:00:00.050Z", "2-digit fraction");
	CHECK_STR(canon("2026-06-15T12:00:00.123456789Z", 0), "2026-06-15T12:00:00.123Z", "9-digit fraction truncated");
	CHECK_STR(canon("2026-06-15T12:00:00.999999999999999999999Z", 0), "2026-06-15T12:00:00.999Z", "21-digit fraction truncated, not rounded");
	CHECK_STR(canon("2026-06-15T12:00:00.000Z", 0), "2026-06-15T12:00:00.000Z", "canonical is a fixed point");
	CHECK_STR(canon("1969-12-31T23:59:59.9999Z", 0), "1969-12-31T23:59:59.999Z", "fraction before epoch floors");
	CHECK(ms_of("1969-12-31T23:59:59.9999Z") == -1, "-0.1 ms floors to -1");
	CHECK(ms_of("1969-12-31T23:59:59.0001Z") == -1000, "-999.9 ms floors to -1000");
	CHECK_STR(canon("1900-02-28T23:59:59.999+00:00", 0), "1900-02-28T23:59:59.999Z", "1900");
	CHECK_STR(canon("2000-02-29T00:00:00Z", 0), "2000-02-29T00:00:00.000Z", "2000 is leap");
	CHECK_STR(canon("0000-02-29T00:00:00Z", 0), "0000-02-29T00:00:00.000Z", "year 0 is leap");
	CHECK_STR(canon("0000-01-01T01:00:00+01:00", 0), "0000-01-01T00:00:00.000Z", "earliest instant");
	CHECK_STR(canon("9999-12-31T23:59:59.999999Z", 0), "9999-12-31T23:59:59.999Z", "latest instant");

	/* ---- parse: dates ---- */
	CHECK_STR(canon("2026-01-31", JRN_TIME_DATE_OK), "2026-01-31T00:00:00.000Z", "bare date with DATE_OK");
	CHECK_STR(canon("1960-12-31", JRN_TIME_DATE_OK), "1960-12-31T00:00:00.000Z", "bare date before epoch");
	CHECK(has(why("2026-01-31", 0), "date without a time"), "bare date refused without DATE_OK: %s", why("2026-01-31", 0));
	CHECK(has(why("2026-02-30", JRN_TIME_DATE_OK), "bad day 30"), "bare date validated: %s", why("2026-02-30", JRN_TIME_DATE_OK));
	CHECK_STR(canon("2026-01-31T10:00:00+01:00", JRN_TIME_DATE_OK), "2026-01-31T09:00:00.000Z", "DATE_OK still takes date-times");

	/* ---- parse: refusals ---- */
	CHECK(has(why("2026-13-01T00:00:00Z", 0), "bad month 13"), "month 13: %s", why("2026-13-01T00:00:00Z", 0));
	CHECK(has(why("2026-00-01T00:00:00Z", 0), "bad month 00"), "month 0: %s", why("2026-00-01T00:00:00Z", 0));
	CHECK(has(why("2026-01-00T00:00:00Z", 0), "bad day 00"), "day 0: %s", why("2026-01-00T00:00:00Z", 0));
	CHECK(has(why("2026-01-32T00:00:00Z", 0), "bad day 32"), "day 32: %s", why("2026-01-32T00:00:00Z", 0));
	CHECK(has(why("2026-04-31T00:00:00Z", 0), "bad day 31"), "April 31: %s", why("2026-04-31T00:00:00Z", 0));
	CHECK(has(why("2023-02-29T00:00:00Z", 0), "has 28 days"), "Feb 29 in 2023: %s", why("2023-02-29T00:00:00Z", 0));
	CHECK(has(why("1900-02-29T00:00:00Z", 0), "bad day 29"), "1900 is not leap: %s", why("1900-02-29T00:00:00Z", 0));
	CHECK_STR(why("2100-02-29T00:00:00Z", 0), "bad day 29: 2100-02 has 28 days", "2100 is not leap");
	CHECK(has(why("2026-01-01T24:00:00Z", 0), "bad hour 24"), "hour 24: %s", why("2026-01-01T24:00:00Z", 0));
	CHECK(has(why("2026-01-01T00:60:00Z", 0), "bad minute 60"), "minute 60: %s", why("2026-01-01T00:60:00Z", 0));
	CHECK(has(why("2016-12-31T23:59:60Z", 0), "leap second not supported"), "leap second: %s", why("2016-12-31T23:59:60Z", 0));
	CHECK(has(why("2026-01-01T00:00:61Z", 0), "bad second 61"), "second 61: %s", why("2026-01-01T00:00:61Z", 0));
	CHECK(has(why("2026-01-01T00:00:00", 0), "missing time zone offset"), "no zone: %s", why("2026-01-01T00:00:00", 0));
	CHECK(has(why("2026-01-01T00:00:00.123", 0), "missing time zone offset"), "no zone after fraction: %s", why("2026-01-01T00:00:00.123", 0));
	CHECK(has(why("2026-01-01T00:00:00+24:00", 0), "offset hour 24"), "offset hour 24: %s", why("2026-01-01T00:00:00+24:00", 0));
	CHECK(has(why("2026-01-01T00:00:00+01:60", 0), "offset minute 60"), "offset minute 60: %s", why("2026-01-01T00:00:00+01:60", 0));
	CHECK(has(why("2026-01-01T00:00:00+0100", 0), "+HH:MM"), "offset without colon: %s", why("2026-01-01T00:00:00+0100", 0));
	CHECK(has(why("2026-01-01T00:00:00+01", 0), "+HH:MM"), "offset without minutes: %s", why("2026-01-01T00:00:00+01", 0));
	CHECK(has(why("2026-01-01T00:00:00.Z", 0), "no digits after '.'"), "empty fraction: %s", why("2026-01-01T00:00:00.Z", 0));
	CHECK(has(why("2026-01-01T00:00:00ZZ", 0), "after the time zone"), "trailing Z: %s", why("2026-01-01T00:00:00ZZ", 0));
	CHECK(has(why("2026-01-01T00:00:00Z ", 0), "after the time zone"), "trailing space: %s", why("2026-01-01T00:00:00Z ", 0));
	CHECK(has(why("2026-01-01T00:00:00+01:00:00", 0), "after the time zone"), "offset with seconds: %s", why("2026-01-01T00:00:00+01:00:00", 0));
	CHECK(has(why("2026-01-01T00:00:00 UTC", 0), "not an RFC 3339 date-time"), "zone name: %s", why("2026-01-01T00:00:00 UTC", 0));
	CHECK(has(why("2026-01-01T00:00Z", 0), "not an RFC 3339 date-time"), "no seconds: %s", why("2026-01-01T00:00Z", 0));
	CHECK(has(why("2026-01-01_00:00:00Z", 0), "'T'"), "bad separator: %s", why("2026-01-01_00:00:00Z", 0));
	CHECK(has(why("2026-01-01  00:00:00Z", 0), "not an RFC 3339"), "two spaces: %s", why("2026-01-01  00:00:00Z", 0));
	CHECK(has(why("26-01-01T00:00:00Z", 0), "not an RFC 3339 date-time"), "2-digit year: %s", why("26-01-01T00:00:00Z", 0));
	CHECK(has(why("12026-01-01T00:00:00Z", 0), "not an RFC 3339 date-time"), "5-digit year: %s", why("12026-01-01T00:00:00Z", 0));
	CHECK(has(why("2026-1-01T00:00:00Z", 0), "not an RFC 3339 date-time"), "1-digit month: %s", why("2026-1-01T00:00:00Z", 0));
	CHECK(has(why("2026/01/01T00:00:00Z", 0), "not an RFC 3339 date-time"), "slashes: %s", why("2026/01/01T00:00:00Z", 0));
	CHECK(has(why("2026-01-01T0a:00:00Z", 0), "HH:MM:SS"), "letter in hour: %s", why("2026-01-01T0a:00:00Z", 0));
	CHECK(has(why("-026-01-01T00:00:00Z", 0), "not an RFC 3339"), "sign in year: %s", why("-026-01-01T00:00:00Z", 0));
	CHECK(has(why("", 0), "not an RFC 3339 date-time"), "empty: %s", why("", 0));
	CHECK(has(why("now", 0), "not an RFC 3339 date-time"), "garbage: %s", why("now", 0));
	CHECK(has(why("1767225600", 0), "not an RFC 3339 date-time"), "epoch seconds: %s", why("1767225600", 0));
	CHECK(has(why("0000-01-01T00:00:00+00:01", 0), "out of range"), "before year 0 in UTC: %s", why("0000-01-01T00:00:00+00:01", 0));
	CHECK(has(why("9999-12-31T23:59:59-00:01", 0), "out of range"), "after 9999 in UTC: %s", why("9999-12-31T23:59:59-00:01", 0));
	{
		/* The length is the whole story: no NUL needed, none looked past. */
		const char *s = "2026-01-31T09:30:00Zjunk";
		int64_t ms = 7;
		CHECK(jrn_time_parse(s, 20, 0, &ms, NULL) == 0 && ms == ms_of("2026-01-31T09:30:00Z"), "parses s[0..len) only");
		CHECK(jrn_time_parse(s, 19, 0, &ms, NULL) < 0, "a cut-off zone is missing");
		CHECK(jrn_time_parse(s, 21, 0, &ms, NULL) < 0, "one byte too many is refused");
		char *heap = malloc(20);
		memcpy(heap, s, 20); /* exactly 20 bytes, no NUL: ASan/valgrind watch */
		CHECK(jrn_time_parse(heap, 20, 0, &ms, NULL) == 0, "unterminated buffer");
		CHECK(jrn_time_parse(heap, 19, 0, &ms, NULL) < 0, "unterminated, cut");
		for (size_t n = 0; n < 20; n++)
			if (jrn_time_parse(heap, n, JRN_TIME_DATE_OK, &ms, NULL) == 0 && n != 10)
				CHECK(0, "prefix of %zu bytes accepted", n);
		free(heap);
		const char nul[] = "2026-01-31T09:30:00\0Z";
		CHECK(jrn_time_parse(nul, sizeof nul - 1, 0, &ms, NULL) < 0, "embedded NUL refused");
	}
	{
		int64_t ms = 12345;
		CHECK(jrn_time_parse("bad", 3, 0, &ms, NULL) < 0 && ms == 12345, "failure leaves *ms alone, NULL e is fine");
	}

	/* ---- format ---- */
	CHECK_STR(fmt(0), "1970-01-01T00:00:00.000Z", "format epoch");
	CHECK_STR(fmt(1), "1970-01-01T00:00:00.001Z", "format 1 ms");
	CHECK_STR(fmt(-1), "1969-12-31T23:59:59.999Z", "format -1 ms");
	CHECK_STR(fmt(-1000), "1969-12-31T23:59:59.000Z", "format -1 s");
	CHECK_STR(fmt(-1001), "1969-12-31T23:59:58.999Z", "format -1001 ms");
	CHECK_STR(fmt(-86400000), "1969-12-31T00:00:00.000Z", "format -1 day exactly");
	CHECK_STR(fmt(-86400001), "1969-12-30T23:59:59.999Z", "format -1 day - 1 ms");
	CHECK_STR(fmt(951782400000LL), "2000-02-29T00:00:00.000Z", "format 2000-02-29");
	CHECK_STR(fmt(-2203891200001LL), "1900-02-28T23:59:59.999Z", "format 1900-02-28");
	CHECK_STR(fmt(1709208000000LL), "2024-02-29T12:00:00.000Z", "format 2024-02-29");
	CHECK_STR(fmt(1767225599999LL), "2025-12-31T23:59:59.999Z", "format end of 2025");
	CHECK_STR(fmt(-62167219200000LL), "0000-01-01T00:00:00.000Z", "format year 0");
	CHECK_STR(fmt(253402300799999LL), "9999-12-31T23:59:59.999Z", "format year 9999");
	CHECK(jrn_time_format(0, (char[32]){0}) == 24, "format returns 24");
	CHECK_STR(fmt(-62167219200001LL), "-0001-12-31T23:59:59.999Z", "format before year 0: signed");
	CHECK_STR(fmt(253402300800000LL), "+10000-01-01T00:00:00.000Z", "format year 10000: signed");
	CHECK(strlen(fmt(INT64_MIN)) < 32 && fmt(INT64_MIN)[0] == '-', "format INT64_MIN fits: %s", fmt(INT64_MIN));
	CHECK(strlen(fmt(INT64_MAX)) < 32 && fmt(INT64_MAX)[0] == '+', "format INT64_MAX fits: %s", fmt(INT64_MAX));
	CHECK_STR(fmt(INT64_MIN), "-292275055-05-16T16:47:04.192Z", "format INT64_MIN");
	CHECK_STR(fmt(INT64_MAX), "+292278994-08-17T07:12:55.807Z", "format INT64_MAX");

	/* ---- round trips ---- */
	{
		/* Every day from 0000 to 9999 at a varying time of day, and
		 * then a spread of milliseconds: format, parse, compare. */
		int bad = 0;
		int64_t n = 0;
		for (int64_t ms = -62167219200000LL; ms <= 253402300799999LL; ms += 86400000LL + 3723001LL) {
			char out[32];
			int64_t back;
			size_t len = jrn_time_format(ms, out);
			if (len != 24 || jrn_time_parse(out, len, 0, &back, NULL) < 0 || back != ms)
				bad++;
			n++;
		}
		CHECK(bad == 0 && n > 3000000, "round trip of %lld instants over 0000-9999 (%d bad)", (long long)n, bad);
		bad = 0;
		for (int64_t ms = -5000; ms <= 5000; ms++) {
			char out[32];
			int64_t back;
			size_t len = jrn_time_format(ms, out);
			if (jrn_time_parse(out, len, 0, &back, NULL) < 0 || back != ms)
				bad++;
		}
		CHECK(bad == 0, "round trip of every ms around the epoch (%d bad)", bad);
		/* Parse, format, parse again is stable. */
		const char *samples[] = {"2026-01-31T09:30:00.123+02:00", "1901-12-13T20:45:52-08:00",
					 "2000-02-29 23:59:59.999999-12:00", "1999-12-31t23:59:59.1z"};
		for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
			char out[32];
			int64_t a = ms_of(samples[i]), b;
			size_t len = jrn_time_format(a, out);
			CHECK(a != INT64_MIN && jrn_time_parse(out, len, 0, &b, NULL) == 0 && a == b,
			      "round trip of %s via %s", samples[i], out);
		}
	}

	/* ---- durations ---- */
	CHECK(dur("500ms") == 500, "ms");
	CHECK(dur("10s") == 10000, "s");
	CHECK(dur("15m") == 900000, "m");
	CHECK(dur("36h") == 129600000, "h");
	CHECK(dur("90d") == 7776000000LL, "d");
	CHECK(dur("2w") == 1209600000, "w");
	CHECK(dur("1h30m") == 5400000, "1h30m");
	CHECK(dur("1m1ms") == 60001, "m then ms");
	CHECK(dur("1ms1m") == 60001, "ms then m");
	CHECK(dur("1w2d3h4m5s6ms") == 788645006LL, "every unit");
	CHECK(dur("30m30m") == 3600000, "repeated unit adds up");
	CHECK(dur("0s") == 0, "zero");
	CHECK(dur("007s") == 7000, "leading zeros");
	CHECK(dur("9223372036854775807ms") == INT64_MAX, "INT64_MAX ms");
	CHECK(dur("15250284452w") == 15250284452LL * 604800000LL, "largest whole weeks");
	CHECK(has(dur_why("15250284453w"), "too large"), "weeks overflow: %s", dur_why("15250284453w"));
	CHECK(has(dur_why("9223372036854775808ms"), "too large"), "number overflow: %s", dur_why("9223372036854775808ms"));
	CHECK(has(dur_why("99999999999999999999999999s"), "too large"), "long number: %s", dur_why("99999999999999999999999999s"));
	CHECK(has(dur_why("9223372036854775807ms1ms"), "too large"), "sum overflow: %s", dur_why("9223372036854775807ms1ms"));
	CHECK(has(dur_why(""), "empty"), "empty: %s", dur_why(""));
	CHECK(has(dur_why("10"), "missing unit"), "no unit: %s", dur_why("10"));
	CHECK(has(dur_why("1h30"), "missing unit"), "no unit at the end: %s", dur_why("1h30"));
	CHECK(has(dur_why("0"), "0 needs a unit too"), "a bare 0: %s", dur_why("0"));
	CHECK(has(dur_why("00"), "missing unit after 0"), "00 is a number without a unit: %s",
	      dur_why("00"));
	CHECK(has(dur_why("10x"), "unknown unit 'x'"), "unknown unit: %s", dur_why("10x"));
	CHECK(has(dur_why("10min"), "unknown unit 'min'"), "min is not a unit: %s", dur_why("10min"));
	CHECK(has(dur_why("10H"), "unknown unit 'H'"), "units are lower case: %s", dur_why("10H"));
	CHECK(has(dur_why("10us"), "unknown unit"), "microseconds: %s", dur_why("10us"));
	CHECK(has(dur_why("-5m"), "negative"), "negative: %s", dur_why("-5m"));
	CHECK(has(dur_why("+5m"), "want a number"), "plus sign: %s", dur_why("+5m"));
	CHECK(has(dur_why("1.5h"), "whole numbers"), "fraction: %s", dur_why("1.5h"));
	CHECK(has(dur_why("h"), "want a number"), "unit alone: %s", dur_why("h"));
	CHECK(has(dur_why("1h 30m"), "want a number"), "inner space: %s", dur_why("1h 30m"));
	CHECK(has(dur_why(" 1h"), "want a number"), "leading space: %s", dur_why(" 1h"));
	CHECK(has(dur_why("1h "), "missing unit") || has(dur_why("1h "), "want a number"), "trailing space: %s", dur_why("1h "));
	CHECK(has(dur_why("1hm"), "unknown unit 'hm'"), "two units: %s", dur_why("1hm"));
	CHECK(has(dur_why("10%"), "missing unit"), "symbol: %s", dur_why("10%"));
	CHECK(has(dur_why("1d-1h"), "want a number"), "inner minus: %s", dur_why("1d-1h"));
	CHECK(has(dur_why("10x"), "'10x'"), "reason quotes the input: %s", dur_why("10x"));
	CHECK(jrn_duration_parse(NULL, &(int64_t){0}, NULL) < 0, "NULL string refused");

	/* a window flag: a time, or a duration back from now */
	{
		int64_t t = 0, now = 1767225600000LL; /* 2026-01-01T00:00:00Z */
		jrn_err e = {0};
		CHECK(jrn_time_or_ago("2025-12-31", now, &t, &e) == 0 && t == now - 86400000LL,
		      "a date is a time (0)");
		CHECK(jrn_time_or_ago("1d", now, &t, &e) == 1 && t == now - 86400000LL,
		      "a duration is now minus it (1)");
		CHECK(jrn_time_or_ago("1000000d", now, &t, &e) == 1 && t < 0,
		      "a duration past 1970 is given back, for the caller to judge");
		CHECK(jrn_time_or_ago("2025-12-31T00:00:00", now, &t, &e) == -1 &&
		      has(e.msg, "missing time zone offset"), "meant as a time: its reason: %s", e.msg);
		CHECK(jrn_time_or_ago("yesterday", now, &t, &e) == -2, "neither: -2");
		CHECK(jrn_time_or_ago("", now, &t, &e) == -2, "empty: -2");
	}

	/* ---- clock ---- */
	{
		int64_t a = jrn_now();
		CHECK(a > 1700000000000LL && a < 4102444800000LL, "wall clock is plausible: %lld", (long long)a);
		jrn_clock_set(ms_of("2026-01-31T09:30:00Z"));
		CHECK_STR(fmt(jrn_now()), "2026-01-31T09:30:00.000Z", "fixed clock");
		CHECK(jrn_now() == jrn_now(), "fixed clock stands still");
		jrn_clock_set(-1);
		CHECK(jrn_now() == -1, "fixed clock before 1970");
	}
	return unit_done();
}
