/* Unit tests of jrn-route's cron expressions (cron.c): the syntax of
 * crontab(5) and its refusals, the next firing in UTC and in a zone across
 * Europe/London's changes (a skipped local time fires at the change, a
 * repeated one once), Vixie's day-of-month OR day-of-week, Feb 29, and an
 * expression that never fires. Linked with cmd/jrn-route's parts. */
#include <string.h>

#include "journey.h"
#include "unit.h"

static int64_t at(const char *s)
{
	int64_t ms = 0;
	jrn_err e;
	if (jrn_time_parse(s, strlen(s), 0, &ms, &e) < 0)
		printf("# bad time %s\n", s);
	return ms;
}

/* The next firing of expr in zone after t, formatted ("never", "bad"). */
static const char *next(const char *expr, const char *zone, const char *t)
{
	static char out[32];
	jrn_err e;
	cron_expr *c = cron_parse(expr, &e);
	if (!c)
		return "bad";
	int64_t n = cron_next(c, zone, at(t));
	cron_free(c);
	if (n == INT64_MAX)
		return "never";
	jrn_time_format(n, out);
	return out;
}

/* The message of a refused expression ("" when it parses). */
static const char *refused(const char *expr)
{
	static jrn_err e;
	cron_expr *c = cron_parse(expr, &e);
	if (c) {
		cron_free(c);
		return "";
	}
	return e.msg;
}

int main(void)
{
	CHECK_STR(next("*/15 * * * *", NULL, "2026-01-01T10:07:00Z"), "2026-01-01T10:15:00.000Z",
		  "*/15: the next quarter hour");
	CHECK_STR(next("*/15 * * * *", NULL, "2026-01-01T10:15:00Z"), "2026-01-01T10:30:00.000Z",
		  "strictly after: an instant that fires is not its own next");
	CHECK_STR(next("0 9 * * mon-fri", "UTC", "2026-01-02T10:00:00Z"), "2026-01-05T09:00:00.000Z",
		  "mon-fri after Friday 10:00 is Monday 09:00");
	CHECK_STR(next("0 9 * * 1-5", "UTC", "2026-01-02T10:00:00Z"), "2026-01-05T09:00:00.000Z",
		  "the same with numbers");
	CHECK_STR(next("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00.000Z",
		  "7 is Sunday as 0 is");
	CHECK_STR(next("0 12 1 jan,JUL *", "UTC", "2026-01-02T00:00:00Z"), "2026-07-01T12:00:00.000Z",
		  "month names in a list, any case");
	CHECK_STR(next("5/20 * * * *", "UTC", "2026-01-01T10:26:00Z"), "2026-01-01T10:45:00.000Z",
		  "N/STEP is N-59/STEP (5, 25, 45)");
	CHECK_STR(next("10-20/5 8 * * *", "UTC", "2026-01-01T08:16:00Z"), "2026-01-01T08:20:00.000Z",
		  "a range with a step");
	CHECK_STR(next("@daily", "UTC", "2026-01-01T10:00:00Z"), "2026-01-02T00:00:00.000Z", "@daily");
	CHECK_STR(next("@hourly", "UTC", "2026-01-01T10:00:00Z"), "2026-01-01T11:00:00.000Z", "@hourly");
	CHECK_STR(next("@weekly", "UTC", "2026-01-01T10:00:00Z"), "2026-01-04T00:00:00.000Z",
		  "@weekly: Sunday 00:00");
	CHECK_STR(next("@monthly", "UTC", "2026-01-31T10:00:00Z"), "2026-02-01T00:00:00.000Z", "@monthly");
	CHECK_STR(next("@yearly", "UTC", "2026-01-31T10:00:00Z"), "2027-01-01T00:00:00.000Z", "@yearly");
	CHECK_STR(next("@annually", "UTC", "2026-01-31T10:00:00Z"), "2027-01-01T00:00:00.000Z",
		  "@annually");
	CHECK_STR(next("0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z",
		  "Feb 29: the next leap year");
	CHECK_STR(next("0 0 30 2 *", "UTC", "2026-03-01T00:00:00Z"), "never",
		  "Feb 30 never comes: INT64_MAX, not a hang");
	CHECK_STR(next("0 0 13 * fri", "UTC", "2026-02-01T00:00:00Z"), "2026-02-06T00:00:00.000Z",
		  "both day fields restricted: a Friday that is not the 13th fires (crontab(5))");
	CHECK_STR(next("0 0 13 * fri", "UTC", "2026-02-07T00:00:00Z"), "2026-02-13T00:00:00.000Z",
		  "... and the 13th fires too");
	CHECK_STR(next("0 0 */10 * fri", "UTC", "2026-02-01T00:00:00Z"), "2026-05-01T00:00:00.000Z",
		  "a day of month starting with * is unrestricted: both must match (1 May, a Friday)");
	CHECK_STR(next("0 9 * * *", "America/New_York", "2026-01-15T00:00:00Z"),
		  "2026-01-15T14:00:00.000Z", "09:00 in New York in winter is 14:00Z");
	CHECK_STR(next("0 9 * * *", "America/New_York", "2026-07-15T00:00:00Z"),
		  "2026-07-15T13:00:00.000Z", "... and 13:00Z in summer");
	CHECK_STR(next("0 9 * * *", "Asia/Kolkata", "2026-01-15T00:00:00Z"),
		  "2026-01-15T03:30:00.000Z", "a half-hour zone");

	/* Europe/London 2026: 01:00 GMT becomes 02:00 BST on 29 March (01:00Z);
	 * 02:00 BST becomes 01:00 GMT on 25 October (01:00Z). */
	CHECK_STR(next("30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z"),
		  "2026-03-29T01:00:00.000Z", "01:30 is skipped in March: it fires at the change");
	CHECK_STR(next("30 1 * * *", "Europe/London", "2026-03-29T01:00:00Z"),
		  "2026-03-30T00:30:00.000Z", "... once: the next is 01:30 BST the day after");
	CHECK_STR(next("*/20 1 * * *", "Europe/London", "2026-03-28T12:00:00Z"),
		  "2026-03-29T01:00:00.000Z", "three skipped times fire once at the change ...");
	CHECK_STR(next("*/20 1 * * *", "Europe/London", "2026-03-29T01:00:00Z"),
		  "2026-03-30T00:00:00.000Z", "... not three times");
	CHECK_STR(next("0 2 * * *", "Europe/London", "2026-03-28T12:00:00Z"),
		  "2026-03-29T01:00:00.000Z", "02:00 exists (BST): the change itself");
	CHECK_STR(next("30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z"),
		  "2026-10-25T00:30:00.000Z", "01:30 comes twice in October: the first (BST)");
	CHECK_STR(next("30 1 * * *", "Europe/London", "2026-10-25T00:30:00Z"),
		  "2026-10-26T01:30:00.000Z", "... and not again an hour later (GMT)");
	CHECK_STR(next("30 1 * * *", "Europe/London", "2026-10-25T00:45:00Z"),
		  "2026-10-26T01:30:00.000Z", "a tick between the two does not fire the repeat");
	CHECK_STR(next("0 * * * *", "Europe/London", "2026-10-25T00:00:00Z"),
		  "2026-10-25T02:00:00.000Z", "hourly over the repeated hour: 01:00 GMT is a repeat");
	CHECK_STR(next("0 3 * * *", "Europe/London", "2026-10-24T12:00:00Z"),
		  "2026-10-25T03:00:00.000Z", "after the change: 03:00 GMT");

	CHECK_STR(refused("61 * * * *"), "minute field '61': out of range 0-59", "a minute of 61");
	CHECK_STR(refused("* 24 * * *"), "hour field '24': out of range 0-23", "an hour of 24");
	CHECK_STR(refused("* * 0 * *"), "day of month field '0': out of range 1-31", "day 0");
	CHECK_STR(refused("* * * 13 *"), "month field '13': out of range 1-12", "month 13");
	CHECK_STR(refused("* * * * 8"), "day of week field '8': out of range 0-7", "day of week 8");
	CHECK_STR(refused("5-1 * * * *"), "minute field '5-1': the range 5-1 runs backwards",
		  "a backwards range");
	CHECK_STR(refused("*/0 * * * *"), "minute field '*/0': a step needs a whole number above 0",
		  "a step of 0");
	CHECK_STR(refused("1,,2 * * * *"),
		  "minute field '1,,2' is not a list of *, N, N-M or names, each with an optional /STEP",
		  "an empty list item");
	CHECK_STR(refused("1, * * * *"),
		  "minute field '1,' is not a list of *, N, N-M or names, each with an optional /STEP",
		  "a list ending in a comma");
	CHECK_STR(refused("x * * * *"),
		  "minute field 'x' is not a list of *, N, N-M or names, each with an optional /STEP",
		  "a word that is no name");
	CHECK_STR(refused("* * * * foo"),
		  "day of week field 'foo' is not a list of *, N, N-M or names, each with an optional /STEP",
		  "a day that is no day");
	CHECK_STR(refused("* * * *"), "4 fields, not five (minute hour day-of-month month day-of-week)",
		  "four fields");
	CHECK_STR(refused(""), "0 fields, not five (minute hour day-of-month month day-of-week)",
		  "nothing");
	CHECK_STR(refused("* * * * * *"),
		  "more than five fields (minute hour day-of-month month day-of-week)", "six fields");
	CHECK_STR(refused("@reboot"),
		  "'@reboot' is not @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly",
		  "@reboot means nothing to a journey");
	CHECK_STR(refused("@daily 5"),
		  "'@daily 5' is not @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly",
		  "a macro with more after it");
	CHECK_STR(refused("  0  9 * *  mon  "), "", "spaces and tabs around fields");
	zone_free();
	return unit_done();
}
