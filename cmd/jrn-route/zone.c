/* zone.c: local time in a customer's time zone, through the C library's
 * reading of the system's zoneinfo (TZ=":NAME", tzset, localtime_r: the
 * tz database's rules, daylight-saving changes included). Offsets are
 * remembered per zone and minute, so a run with one clock reads each
 * zone's file about once. Not thread-safe: TZ is the process's. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jrn-route.h"

static char current[ROUTE_ZONE_MAX + 2]; /* the zone TZ holds now */

/* A direct-mapped memo of offsets: (zone, minute) -> seconds. */
#define MEMO 4096
static struct memo {
	uint64_t hash;
	int64_t minute;
	int offset;
	bool used;
} memo[MEMO];

/* Zones checked: name -> 1 good (jrn_idmap index into good[]). */
static jrn_idmap *checked;
static signed char *good;
static size_t ngood;

int zone_check(const char *zone, jrn_err *e)
{
	size_t n = strlen(zone);
	if (!checked && !(checked = jrn_idmap_new()))
		return jrn_fail(e, "out of memory");
	int64_t i = jrn_idmap_get(checked, zone, n);
	if (i >= 0)
		return good[i] ? 0 : jrn_fail(e, "'%.64s' is not a time zone of the system's zoneinfo",
					      zone);
	bool ok = n > 0 && n <= ROUTE_ZONE_MAX && zone[0] != '/' && !strstr(zone, "..");
	for (size_t k = 0; ok && k < n; k++)
		ok = (zone[k] >= 'a' && zone[k] <= 'z') || (zone[k] >= 'A' && zone[k] <= 'Z') ||
		     (zone[k] >= '0' && zone[k] <= '9') || strchr("_+-/", zone[k]);
	if (ok) {
		const char *dir = getenv("TZDIR");
		char path[4200];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
		ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	}
	if (n <= ROUTE_ZONE_MAX) { /* remember it (a long name is refused each time) */
		bool added;
		i = jrn_idmap_put(checked, zone, n, &added);
		if (i < 0)
			return jrn_fail(e, "out of memory");
		if ((size_t)i >= ngood) {
			size_t nn = ngood ? 2 * ngood : 64;
			signed char *g = realloc(good, nn);
			if (!g)
				return jrn_fail(e, "out of memory");
			good = g, ngood = nn;
		}
		good[i] = ok;
	}
	if (!ok && n > ROUTE_ZONE_MAX)
		return jrn_fail(e, "a time zone name of more than %d bytes", ROUTE_ZONE_MAX);
	return ok ? 0 : jrn_fail(e, "'%.64s' is not a time zone of the system's zoneinfo", zone);
}

static int offset_now(const char *zone, int64_t utc)
{
	if (strcmp(current, zone)) {
		char tz[ROUTE_ZONE_MAX + 2];
		snprintf(tz, sizeof tz, ":%s", zone);
		setenv("TZ", tz, 1);
		tzset();
		snprintf(current, sizeof current, "%s", zone);
	}
	time_t t = (time_t)(utc >= 0 ? utc / 1000 : (utc - 999) / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return 0;
	return (int)tm.tm_gmtoff;
}

int zone_offset(const char *zone, int64_t utc)
{
	int64_t minute = utc >= 0 ? utc / 60000 : (utc - 59999) / 60000;
	uint64_t h = jrn_hash64(zone, strlen(zone));
	struct memo *m = &memo[(h ^ (uint64_t)minute * 0x9E3779B97F4A7C15ULL) % MEMO];
	if (m->used && m->hash == h && m->minute == minute)
		return m->offset;
	int off = offset_now(zone, utc);
	*m = (struct memo){h, minute, off, true};
	return off;
}

/* The first instant whose local wall-clock time in zone is local or later
 * (local: ms counted as if local were UTC). Two passes, the second with
 * the offset in force at the first guess; when they do not agree, local
 * falls in a gap (clocks spring forward over it) and the answer is the
 * change itself, found to the second between the two readings. */
static int64_t from_local(const char *zone, int64_t local, int64_t near)
{
	int64_t u1 = local - (int64_t)zone_offset(zone, near) * 1000;
	int64_t u2 = local - (int64_t)zone_offset(zone, u1) * 1000;
	if (u2 == u1)
		return u1;
	int64_t u3 = local - (int64_t)zone_offset(zone, u2) * 1000;
	if (u3 == u2)
		return u2;
	int64_t lo = u2 < u3 ? u2 : u3, hi = u2 < u3 ? u3 : u2;
	int off_hi = offset_now(zone, hi);
	while (hi - lo > 1000) {
		int64_t mid = lo + (hi - lo) / 2;
		if (offset_now(zone, mid) == off_hi)
			hi = mid;
		else
			lo = mid;
	}
	return hi / 1000 * 1000;
}

int64_t zone_after_quiet(const char *zone, int64_t t, int start, int end)
{
	const int64_t day = 86400000, minute = 60000;
	int64_t local = t + (int64_t)zone_offset(zone, t) * 1000;
	int64_t midnight = local >= 0 ? local / day * day : ((local - day + 1) / day) * day;
	int m = (int)((local - midnight) / minute);
	bool quiet = start < end ? m >= start && m < end : m >= start || m < end;
	if (!quiet)
		return t;
	/* the end of the quiet window: today's, or tomorrow's past midnight */
	int64_t target = midnight + (int64_t)end * minute;
	if (start > end && m >= start)
		target += day;
	int64_t u = from_local(zone, target, t);
	return u > t ? u : t;
}

void zone_free(void)
{
	jrn_idmap_free(checked);
	free(good);
	checked = NULL, good = NULL, ngood = 0;
}
