/* Unit tests of jrn-route's local time (zone.c): offsets from the system's
 * zoneinfo, the end of quiet hours across daylight-saving changes, and the
 * check of zone names. Linked with cmd/jrn-route's parts. */
#include <string.h>

#include "jrn-route.h"
#include "unit.h"

static int64_t at(const char *s)
{
	int64_t ms = 0;
	jrn_err e;
	if (jrn_time_parse(s, strlen(s), 0, &ms, &e) < 0)
		printf("# bad time %s\n", s);
	return ms;
}

/* zone_after_quiet for 21:00-08:00 (or start-end), formatted */
static const char *after(const char *zone, const char *t, int start, int end)
{
	static char out[32];
	jrn_time_format(zone_after_quiet(zone, at(t), start, end), out);
	return out;
}

int main(void)
{
	jrn_err e;
	const int q0 = 21 * 60, q1 = 8 * 60;
	CHECK(zone_offset("Europe/Berlin", at("2026-01-15T12:00:00Z")) == 3600, "Berlin in winter: +1 h");
	CHECK(zone_offset("Europe/Berlin", at("2026-07-15T12:00:00Z")) == 7200, "Berlin in summer: +2 h");
	CHECK(zone_offset("Europe/Berlin", at("2026-03-29T00:59:59Z")) == 3600 &&
	      zone_offset("Europe/Berlin", at("2026-03-29T01:00:00Z")) == 7200,
	      "the change at 01:00Z on 2026-03-29, to the second (not the memo's minute)");
	CHECK(zone_offset("America/St_Johns", at("2026-01-15T12:00:00Z")) == -12600, "St John's: -3:30");
	CHECK(zone_offset("UTC", at("1969-12-31T23:59:59Z")) == 0, "before the epoch");

	CHECK_STR(after("Europe/Berlin", "2026-03-28T21:30:00Z", q0, q1), "2026-03-29T06:00:00.000Z",
		  "22:30 CET before the spring change: 08:00 CEST, 06:00Z");
	CHECK_STR(after("Europe/Berlin", "2026-10-24T20:00:00Z", q0, q1), "2026-10-25T07:00:00.000Z",
		  "22:00 CEST before the autumn change: 08:00 CET, 07:00Z");
	CHECK_STR(after("Europe/Berlin", "2026-03-28T12:00:00Z", q0, q1), "2026-03-28T12:00:00.000Z",
		  "outside the quiet hours: as it is");
	CHECK_STR(after("Europe/Berlin", "2026-03-28T20:00:00Z", q0, q1), "2026-03-29T06:00:00.000Z",
		  "21:00 local, the first quiet minute");
	CHECK_STR(after("Europe/Berlin", "2026-03-28T19:59:59.999Z", q0, q1), "2026-03-28T19:59:59.999Z",
		  "20:59:59.999 local is not quiet");
	CHECK_STR(after("America/New_York", "2026-03-08T06:30:00Z", 1 * 60, 2 * 60 + 30),
		  "2026-03-08T07:00:00.000Z",
		  "a window ending at 02:30, inside the spring gap: 03:00 EDT, the later reading");
	CHECK_STR(after("Asia/Kolkata", "2026-01-15T18:00:00Z", 13 * 60, 14 * 60), "2026-01-15T18:00:00.000Z",
		  "a window within the day (13:00-14:00), 23:30 local: not quiet");
	CHECK_STR(after("Asia/Kolkata", "2026-01-15T07:45:00Z", 13 * 60, 14 * 60), "2026-01-15T08:30:00.000Z",
		  "13:15 IST: 14:00 IST is 08:30Z");

	CHECK(zone_check("Europe/Berlin", &e) == 0, "Europe/Berlin is a zone");
	CHECK(zone_check("Europe/Berlin", &e) == 0, "and again, from what was remembered");
	CHECK(zone_check("Mars/Olympus", &e) < 0 &&
	      !strcmp(e.msg, "'Mars/Olympus' is not a time zone of the system's zoneinfo"), "%s", e.msg);
	CHECK(zone_check("../../etc/passwd", &e) < 0, "no way out of the zoneinfo directory");
	CHECK(zone_check("/etc/localtime", &e) < 0, "no absolute path");
	CHECK(zone_check("", &e) < 0, "not empty");
	CHECK(zone_check("Europe", &e) < 0, "a directory is not a zone");
	char longname[80];
	memset(longname, 'A', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(zone_check(longname, &e) < 0 && strstr(e.msg, "more than 64 bytes"), "%s", e.msg);
	zone_free();
	return unit_done();
}
