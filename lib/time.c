/* time.c: RFC 3339 timestamps, durations and the one clock.
 *
 * Timestamps are parsed and printed by hand: jrn-ingest reads one per
 * record, and sscanf, mktime and friends are slow, locale- and TZ-bound. */
#include <string.h>
#include <time.h>

#include "jrn.h"

#define MS_PER_DAY 86400000LL

/* Proleptic Gregorian date to days since 1970-01-01 and back, after Howard
 * Hinnant's "chrono-Compatible Low-Level Date Algorithms". */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void jrn_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int y, int m)
{
	static const unsigned char n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

static int isdig(char c)
{
	return c >= '0' && c <= '9';
}

/* The value of the n digits at p, or -1 if one is not a digit. */
static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdig(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The smallest and largest instants whose UTC form has a four-digit year,
 * so that everything parsed can be printed and parsed back. */
#define MIN_MS (-62167219200000LL)  /* 0000-01-01T00:00:00.000Z */
#define MAX_MS (253402300799999LL)  /* 9999-12-31T23:59:59.999Z */

#define NOT_RFC3339 "not an RFC 3339 date-time"

int jrn_time_parse(const char *s, size_t len, int flags, int64_t *ms,
		   jrn_err *e)
{
	/* YYYY-MM-DD */
	const char *want = flags & JRN_TIME_DATE_OK ? " (want YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"
						    : " (want YYYY-MM-DDTHH:MM:SSZ)";
	if (len < 10 || s[4] != '-' || s[7] != '-')
		return jrn_fail(e, NOT_RFC3339 "%s", want);
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || mo < 0 || d < 0)
		return jrn_fail(e, NOT_RFC3339 "%s", want);
	if (mo < 1 || mo > 12)
		return jrn_fail(e, "bad month %02d", mo);
	if (d < 1 || d > days_in_month(y, mo))
		return jrn_fail(e, "bad day %02d: %04d-%02d has %d days", d, y, mo,
				days_in_month(y, mo));
	int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY;
	if (len == 10) {
		if (!(flags & JRN_TIME_DATE_OK))
			return jrn_fail(e, NOT_RFC3339 ": a date without a time");
		*ms = t;
		return 0;
	}

	/* [Tt ]HH:MM:SS */
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return jrn_fail(e, NOT_RFC3339 ": want 'T' after the date");
	if (len < 19 || s[13] != ':' || s[16] != ':')
		return jrn_fail(e, NOT_RFC3339 ": want HH:MM:SS after the date");
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (h < 0 || mi < 0 || sec < 0)
		return jrn_fail(e, NOT_RFC3339 ": want HH:MM:SS after the date");
	if (h > 23)
		return jrn_fail(e, "bad hour %02d", h);
	if (mi > 59)
		return jrn_fail(e, "bad minute %02d", mi);
	if (sec == 60)
		return jrn_fail(e, "leap second not supported");
	if (sec > 59)
		return jrn_fail(e, "bad second %02d", sec);
	t += (h * 3600 + mi * 60 + sec) * 1000LL;

	/* .fraction: any number of digits, truncated to milliseconds. The
	 * fraction is never negative, so truncating it floors the instant,
	 * before 1970 too. */
	size_t i = 19;
	if (i < len && s[i] == '.') {
		size_t start = ++i;
		int frac = 0;
		for (; i < len && isdig(s[i]); i++)
			if (i - start < 3)
				frac = frac * 10 + (s[i] - '0');
		if (i == start)
			return jrn_fail(e, NOT_RFC3339 ": no digits after '.'");
		for (size_t n = i - start; n < 3; n++)
			frac *= 10;
		t += frac;
	}

	/* Z or +HH:MM or -HH:MM, and nothing after it. */
	if (i == len)
		return jrn_fail(e, "missing time zone offset (want Z or +HH:MM)");
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		if (len - i < 6 || s[i + 3] != ':')
			return jrn_fail(e, NOT_RFC3339 ": want +HH:MM or -HH:MM as the offset");
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || om < 0)
			return jrn_fail(e, NOT_RFC3339 ": want +HH:MM or -HH:MM as the offset");
		if (oh > 23)
			return jrn_fail(e, "bad time zone offset hour %02d", oh);
		if (om > 59)
			return jrn_fail(e, "bad time zone offset minute %02d", om);
		/* local = UTC + offset */
		int64_t off = (oh * 3600 + om * 60) * 1000LL;
		t += s[i] == '+' ? -off : off;
		i += 6;
	} else {
		return jrn_fail(e, NOT_RFC3339 ": want Z or +HH:MM after the time");
	}
	if (i != len)
		return jrn_fail(e, NOT_RFC3339 ": unexpected text after the time zone");
	if (t < MIN_MS || t > MAX_MS)
		return jrn_fail(e, "date-time out of range (years 0000-9999 in UTC)");
	*ms = t;
	return 0;
}

/* Writes v as exactly n digits (v < 10^n). */
static void put(char *p, int64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

size_t jrn_time_format(int64_t ms, char out[32])
{
	/* Floor division: -1 ms is 1969-12-31T23:59:59.999Z. */
	int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d;
	jrn_civil_from_days(days, &y, &m, &d);

	/* Years beyond 0000-9999 (only from ms the parser never returns)
	 * print signed with more digits, as ISO 8601's expanded form; the
	 * widest, for INT64_MIN, is 30 characters. */
	char *p = out;
	if (y < 0) {
		*p++ = '-';
		y = -y;
	} else if (y > 9999) {
		*p++ = '+';
	}
	int yd = 4;
	for (int64_t v = 10000; v <= y; v *= 10)
		yd++;
	put(p, y, yd);
	p += yd;
	p[0] = '-';
	put(p + 1, m, 2);
	p[3] = '-';
	put(p + 4, d, 2);
	p[6] = 'T';
	int64_t sec = rem / 1000;
	put(p + 7, sec / 3600, 2);
	p[9] = ':';
	put(p + 10, sec / 60 % 60, 2);
	p[12] = ':';
	put(p + 13, sec % 60, 2);
	p[15] = '.';
	put(p + 16, rem % 1000, 3);
	p[19] = 'Z';
	p[20] = '\0';
	return (size_t)(p + 20 - out);
}

int jrn_duration_parse(const char *s, int64_t *ms, jrn_err *e)
{
	if (!s || !*s)
		return jrn_fail(e, "bad duration '': empty");
	if (*s == '-')
		return jrn_fail(e, "bad duration '%s': negative durations are not allowed", s);
	int64_t total = 0;
	const char *p = s;
	while (*p) {
		if (!isdig(*p))
			return jrn_fail(e, "bad duration '%s': want a number at '%s'", s, p);
		int64_t n = 0;
		for (; isdig(*p); p++)
			if (__builtin_mul_overflow(n, 10, &n) ||
			    __builtin_add_overflow(n, *p - '0', &n))
				return jrn_fail(e, "bad duration '%s': too large", s);
		if (*p == '.')
			return jrn_fail(e, "bad duration '%s': whole numbers only", s);
		/* The unit: the run of letters after the number. */
		const char *u = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		size_t ulen = (size_t)(p - u);
		int64_t scale;
		if (ulen == 0 && n == 0 && !*p && p - s == 1)
			return jrn_fail(e, "bad duration '%s': 0 needs a unit too, as every "
				       "duration does (0s, 0h, 0d)", s);
		if (ulen == 0)
			return jrn_fail(e, "bad duration '%s': missing unit after %lld "
				       "(use ms, s, m, h, d or w)", s, (long long)n);
		else if (ulen == 2 && u[0] == 'm' && u[1] == 's')
			scale = 1;
		else if (ulen == 1 && *u == 's')
			scale = 1000;
		else if (ulen == 1 && *u == 'm')
			scale = 60 * 1000;
		else if (ulen == 1 && *u == 'h')
			scale = 3600 * 1000;
		else if (ulen == 1 && *u == 'd')
			scale = 86400 * 1000;
		else if (ulen == 1 && *u == 'w')
			scale = 7 * 86400 * 1000LL;
		else
			return jrn_fail(e, "bad duration '%s': unknown unit '%.*s' "
				       "(use ms, s, m, h, d or w)", s, (int)ulen, u);
		if (__builtin_mul_overflow(n, scale, &n) ||
		    __builtin_add_overflow(total, n, &total))
			return jrn_fail(e, "bad duration '%s': too large", s);
	}
	*ms = total;
	return 0;
}

int jrn_time_or_ago(const char *s, int64_t now, int64_t *ms, jrn_err *e)
{
	size_t n = strlen(s);
	int64_t d;
	if (jrn_time_parse(s, n, JRN_TIME_DATE_OK, ms, e) == 0)
		return 0;
	if (jrn_duration_parse(s, &d, NULL) == 0) {
		*ms = now - d;
		return 1;
	}
	return n >= 10 && s[4] == '-' && s[7] == '-' ? -1 : -2;
}

static bool clock_fixed;
static int64_t clock_ms;

int64_t jrn_now(void)
{
	if (clock_fixed)
		return clock_ms;
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (int64_t)time(NULL) * 1000; /* CLOCK_REALTIME cannot fail */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jrn_clock_set(int64_t ms)
{
	clock_ms = ms;
	clock_fixed = true;
}
