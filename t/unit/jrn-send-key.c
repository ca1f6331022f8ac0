/* Unit tests of jrn-send's derived idempotency keys: the window part that
 * send.idempotency.window gives (key_window in prepare.c), and the key of
 * the fields (derive_key). Linked with
 * cmd/jrn-send's parts. */
#include <string.h>

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

	/* issue 10, defect 7: derived keys, stable and injective */
	char k1[65], k2[65], want[65];
	const char *f1[] = {"c1", "k1", "email", "", "2026-01-01"};
	size_t l1[] = {2, 2, 5, 0, 10};
	static const char joined[] = "c1\x1fk1\x1f" "email\x1f\x1f" "2026-01-01";
	CHECK(derive_key(f1, l1, 5, k1) == 0 && jrn_sha256_hex(joined, sizeof joined - 1, want) == 0 &&
	      !strcmp(k1, want), "an ordinary key is the one earlier versions made: %s", k1);
	const char *f2[] = {"a\x1f" "b", "c"}, *f3[] = {"a", "b\x1f" "c"};
	size_t l2[] = {3, 1}, l3[] = {1, 3};
	CHECK(derive_key(f2, l2, 2, k1) == -1 && derive_key(f3, l3, 2, k2) == -1,
	      "a field holding U+001F is refused (a U+001F b, c and a, b U+001F c would meet)");
	const char *f4[] = {"spring\0x", "k"}, *f5[] = {"spring", "k"};
	size_t l4[] = {8, 1}, l5[] = {6, 1};
	CHECK(derive_key(f4, l4, 2, k1) == -1 && derive_key(f5, l5, 2, k2) == 0,
	      "a field holding NUL is refused, not cut short");
	const char *f6[] = {"ab", ""}, *f7[] = {"a", "b"};
	size_t l6[] = {2, 0}, l7[] = {1, 1};
	CHECK(derive_key(f6, l6, 2, k1) == 0 && derive_key(f7, l7, 2, k2) == 0 && strcmp(k1, k2),
	      "field boundaries count: ab| and a|b differ");
	return unit_done();
}
