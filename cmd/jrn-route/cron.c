/* cron.c: cron expressions for journeys' schedule triggers (journey.h).
 * The syntax of crontab(5) (Vixie cron, the one Debian ships): five
 * fields, minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
 * jan-dec), day of week (0-7 or sun-sat; 0 and 7 are Sunday); each a list
 * of items separated by ',', an item '*', N, N-M or a name, each with an
 * optional /STEP (N/STEP is N-MAX/STEP). @yearly (@annually), @monthly,
 * @weekly, @daily (@midnight) and @hourly stand for their five fields;
 * @reboot means nothing to a journey and is refused. When both day
 * fields are restricted (neither starts with '*'), a day matches when
 * either does; else both must (crontab(5)).
 *
 * Times are local to a zone (the system's zoneinfo, via zone.c). A local
 * time that a change to summer time skips fires at the first instant
 * after the gap (the change itself); one that the change back repeats
 * fires once, at its first occurrence. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journey.h"

struct cron_expr {
	uint64_t minute;   /* bit m */
	uint32_t hour;     /* bit h */
	uint32_t dom;      /* bit d (1-31) */
	uint32_t month;    /* bit m (1-12) */
	uint32_t dow;      /* bit d (0-6, Sunday 0) */
	bool dom_star, dow_star;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
					  "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

typedef struct {
	const char *what;
	int lo, hi;
	const char *const *names; /* names[i] is lo + i (months 1.., days 0..) */
	int nnames;
} field_def;

static const field_def fields[5] = {
	{"minute", 0, 59, NULL, 0},
	{"hour", 0, 23, NULL, 0},
	{"day of month", 1, 31, NULL, 0},
	{"month", 1, 12, month_names, 12},
	{"day of week", 0, 7, dow_names, 7},
};

/* A number or a name at *p: its value, p moved past it; -1 when neither. */
static int value_at(const field_def *f, const char **p)
{
	const char *s = *p;
	if (*s >= '0' && *s <= '9') {
		int v = 0;
		while (*s >= '0' && *s <= '9' && v < 1000)
			v = v * 10 + (*s++ - '0');
		*p = s;
		return v;
	}
	for (int i = 0; i < f->nnames; i++) {
		const char *n = f->names[i];
		if ((s[0] | 0x20) == n[0] && (s[1] | 0x20) == n[1] && (s[2] | 0x20) == n[2]) {
			*p = s + 3;
			return f->lo == 1 ? i + 1 : i;
		}
	}
	return -1;
}

/* One field's text [s, end) into *bits; -1 with e. */
static int parse_field(const field_def *f, const char *s, const char *end, uint64_t *bits,
		       jrn_err *e)
{
	int n = (int)(end - s);
	*bits = 0;
	while (s < end) {
		int lo, hi, step = 1;
		bool star = *s == '*', range = false;
		if (star) {
			lo = f->lo, hi = f->hi == 7 ? 6 : f->hi;
			s++;
		} else {
			if ((lo = value_at(f, &s)) < 0)
				goto bad;
			hi = lo;
			if (*s == '-') {
				s++;
				range = true;
				if ((hi = value_at(f, &s)) < 0)
					goto bad;
			}
		}
		if (*s == '/') {
			s++;
			const char *d = s;
			step = 0;
			while (*s >= '0' && *s <= '9' && step < 1000)
				step = step * 10 + (*s++ - '0');
			if (s == d || step < 1)
				return jrn_fail(e, "%s field '%.*s': a step needs a whole number above 0",
						f->what, n, end - n);
			if (!star && !range) /* N/STEP: N-MAX/STEP */
				hi = f->hi;
		}
		if (s < end && *s != ',')
			goto bad;
		if (lo < f->lo || lo > f->hi || hi < f->lo || hi > f->hi)
			return jrn_fail(e, "%s field '%.*s': out of range %d-%d", f->what, n, end - n,
					f->lo, f->hi);
		if (hi < lo)
			return jrn_fail(e, "%s field '%.*s': the range %d-%d runs backwards", f->what, n,
					end - n, lo, hi);
		for (int v = lo; v <= hi; v += step)
			*bits |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
		if (s < end)
			s++;
		if (s == end && end[-1] == ',')
			goto bad;
		continue;
bad:
		return jrn_fail(e, "%s field '%.*s' is not a list of *, N, N-M or names, each with "
				"an optional /STEP", f->what, n, end - n);
	}
	if (!*bits)
		return jrn_fail(e, "%s field is empty", f->what);
	return 0;
}

static const struct {
	const char *name, *fields;
} macros[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

cron_expr *cron_parse(const char *text, jrn_err *e)
{
	const char *s = text;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '@') {
		size_t n = strcspn(s, " \t");
		const char *rest = s + n + strspn(s + n, " \t");
		for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
			if (strlen(macros[i].name) == n && !strncmp(s, macros[i].name, n) && !*rest)
				return cron_parse(macros[i].fields, e);
		jrn_fail(e, "'%.32s' is not @yearly, @annually, @monthly, @weekly, @daily, @midnight or "
			 "@hourly", text);
		return NULL;
	}
	cron_expr *c = calloc(1, sizeof *c);
	if (!c) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	uint64_t bits[5];
	int k = 0;
	while (*s) {
		const char *end = s + strcspn(s, " \t");
		if (k == 5) {
			jrn_fail(e, "more than five fields (minute hour day-of-month month day-of-week)");
			goto fail;
		}
		if (parse_field(&fields[k], s, end, &bits[k], e) < 0)
			goto fail;
		if (k == 2)
			c->dom_star = *s == '*';
		if (k == 4)
			c->dow_star = *s == '*';
		k++;
		s = end + strspn(end, " \t");
	}
	if (k < 5) {
		jrn_fail(e, "%d field%s, not five (minute hour day-of-month month day-of-week)", k,
			 k == 1 ? "" : "s");
		goto fail;
	}
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint32_t)bits[3];
	c->dow = (uint32_t)bits[4];
	return c;
fail:
	free(c);
	return NULL;
}

void cron_free(cron_expr *c)
{
	free(c);
}

static bool day_matches(const cron_expr *c, const struct tm *tm)
{
	bool d = c->dom >> tm->tm_mday & 1, w = c->dow >> tm->tm_wday & 1;
	if (!c->dom_star && !c->dow_star)
		return d || w;
	return d && w;
}

/* The UTC instant of local wall time L (ms as if UTC) in zone, by the
 * rules above, that is after `after`; INT64_MIN when L is a repeat whose
 * first occurrence is not after it. */
static int64_t instant_of(const char *zone, int64_t L, int64_t after)
{
	const int64_t half = 12 * 3600000;
	int oe = zone_offset(zone, L - half), ol = zone_offset(zone, L + half);
	int64_t ue = L - (int64_t)oe * 1000, ul = L - (int64_t)ol * 1000;
	bool ve = zone_offset(zone, ue) == oe, vl = zone_offset(zone, ul) == ol;
	if (ve && vl) /* once, or twice (repeated): the first */
		return (ue < ul ? ue : ul) > after ? (ue < ul ? ue : ul) : INT64_MIN;
	if (ve || vl)
		return ve ? ue : ul;
	/* in a gap: the change itself, the first instant with the new offset */
	int64_t lo = ue < ul ? ue : ul, hi = ue < ul ? ul : ue;
	while (hi - lo > 1000) {
		int64_t mid = lo + (hi - lo) / 2;
		if (zone_offset(zone, mid) == ol)
			hi = mid;
		else
			lo = mid;
	}
	return hi / 1000 * 1000;
}

int64_t cron_next(const cron_expr *c, const char *zone, int64_t after)
{
	const int64_t minute = 60000, horizon = INT64_C(5) * 366 * 86400000;
	if (!zone)
		zone = "UTC";
	int64_t L = after + (int64_t)zone_offset(zone, after) * 1000;
	L = (L >= 0 ? L / minute : (L - minute + 1) / minute) * minute - 2 * 3600000;
	/* from two hours before (a repeated hour may still be ahead) */
	int64_t stop = L + horizon;
	while (L < stop) {
		time_t t = (time_t)(L / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		if (!(c->month >> (tm.tm_mon + 1) & 1)) { /* the first of next month */
			tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0, tm.tm_mon++;
			L = (int64_t)timegm(&tm) * 1000;
			continue;
		}
		if (!day_matches(c, &tm)) {
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0, tm.tm_mday++;
			L = (int64_t)timegm(&tm) * 1000;
			continue;
		}
		if (!(c->hour >> tm.tm_hour & 1)) {
			L += (int64_t)(60 - tm.tm_min) * minute;
			continue;
		}
		if (c->minute >> tm.tm_min & 1) {
			int64_t u = instant_of(zone, L, after);
			if (u != INT64_MIN && u > after)
				return u;
		}
		L += minute;
	}
	return INT64_MAX;
}
