/* Unit tests of jrn-send's derived idempotency keys: the window part that
 * send.idempotency.window gives (key_window in prepare.c). Linked with
 * cmd/jrn-send's parts. */
#include "jrn-send.h"
#include "unit.h"

#define DAY SEND_WINDOW_DAY

static const char *win(int64_t window, const char *now)
{
	static char out[64];
	int64_t ms = 0;
	jrn_err e;
	if (jrn_time_parse(now, strlen(now), JRN_TIME_DATE_OK, &ms, &e) < 0)
		return "(bad time)";
	key_window(window, ms, out);
	return out;
}

int main(void)
{
	/* the default: the UTC date, as derived keys always had it */
	CHECK_STR(win(DAY, "2026-01-01T00:00:00Z"), "2026-01-01", "1d: the date at midnight");
	CHECK_STR(win(DAY, "2026-01-01T23:59:59.999Z"), "2026-01-01", "1d: the date at its end");
	CHECK_STR(win(DAY, "2026-01-02T00:00:00Z"), "2026-01-02", "1d: the next date");
	/* 30d: windows from the epoch; day 20454 (2026-01-01) is in the one
	 * that starts on day 20430, 2025-12-08 */
	CHECK_STR(win(30 * DAY, "2026-01-01T02:00:00Z"), "2025-12-08T00:00:00.000Z/2592000000",
		  "30d: the window's start and length");
	CHECK_STR(win(30 * DAY, "2026-01-02T02:00:00Z"), "2025-12-08T00:00:00.000Z/2592000000",
		  "30d: the next night is the same window");
	CHECK_STR(win(30 * DAY, "2026-01-06T23:59:59.999Z"), "2025-12-08T00:00:00.000Z/2592000000",
		  "30d: the window's last instant");
	CHECK_STR(win(30 * DAY, "2026-01-07T00:00:00Z"), "2026-01-07T00:00:00.000Z/2592000000",
		  "30d: the next window");
	CHECK_STR(win(7 * DAY, "2026-01-01T00:00:00Z"), "2026-01-01T00:00:00.000Z/604800000",
		  "7d: the weeks from the epoch start on Thursdays");
	CHECK_STR(win(3600000, "2026-01-01T10:30:00Z"), "2026-01-01T10:00:00.000Z/3600000",
		  "1h: the hour");
	CHECK_STR(win(DAY, "1969-12-31T12:00:00Z"), "1969-12-31", "1d before 1970: rounded down");
	CHECK_STR(win(0, "2026-01-01T00:00:00Z"), "campaign", "campaign: no window");
	CHECK_STR(win(0, "2030-06-01T00:00:00Z"), "campaign", "campaign: the same for ever");
	return unit_done();
}
