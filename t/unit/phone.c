/* Unit tests of phone.cc, through its C interface. */
#include <stdlib.h>

#include "jrn.h"
#include "unit.h"

/* The E.164 form of s in region, or "ERR: reason". */
static const char *e164(const char *s, const char *region)
{
	static jrn_buf b;
	static char out[1100];
	jrn_err e;
	jrn_buf_reset(&b);
	if (jrn_phone_e164(s, strlen(s), region, &b, &e) < 0) {
		snprintf(out, sizeof out, "ERR: %s", e.msg);
		return out;
	}
	return b.p ? b.p : "";
}

static bool refused(const char *s, const char *region, const char *reason)
{
	const char *r = e164(s, region);
	return strncmp(r, "ERR: ", 5) == 0 && strstr(r, reason) != NULL;
}

int main(void)
{
	/* ---- North America ---- */
	CHECK_STR(e164("+1 415 555 2671", "US"), "+14155552671", "+1 with spaces");
	CHECK_STR(e164("+1 415 555 2671", NULL), "+14155552671", "+1 without a region");
	CHECK_STR(e164("+1 415 555 2671", ""), "+14155552671", "+1 with an empty region");
	CHECK_STR(e164("(415) 555-2671", "US"), "+14155552671", "US national format");
	CHECK_STR(e164("415.555.2671", "US"), "+14155552671", "dots");
	CHECK_STR(e164("1 (415) 555-2671", "US"), "+14155552671", "trunk prefix 1");
	CHECK_STR(e164("+14155552671", "US"), "+14155552671", "E.164 is a fixed point");
	CHECK_STR(e164("  +1 415 555 2671\t", "US"), "+14155552671", "white space around");
	CHECK_STR(e164("tel:+1-415-555-2671", "US"), "+14155552671", "tel: URI");
	CHECK_STR(e164("1-800-FLOWERS", "US"), "+18003569377", "vanity letters");
	CHECK_STR(e164("4155552671", "us"), "+14155552671", "lower-case region");
	CHECK_STR(e164("(416) 555-0123", "CA"), "+14165550123", "Canada");
	CHECK_STR(e164("011 44 20 7946 0958", "US"), "+442079460958", "US international prefix");

	/* ---- United Kingdom ---- */
	CHECK_STR(e164("07911 123456", "GB"), "+447911123456", "UK mobile, national");
	CHECK_STR(e164("+44 7911 123456", "GB"), "+447911123456", "UK mobile, international");
	CHECK_STR(e164("020 7946 0958", "GB"), "+442079460958", "London landline");
	CHECK_STR(e164("00 44 20 7946 0958", "GB"), "+442079460958", "UK international prefix");
	CHECK_STR(e164("+44 (0)20 7946 0958", "GB"), "+442079460958", "(0) trunk in international form");
	CHECK_STR(e164("+44 7911 123456", "US"), "+447911123456", "UK number, US region: +44 wins");
	CHECK_STR(e164("+44 7911 123456", NULL), "+447911123456", "UK number, no region");
	CHECK_STR(e164("+1 415 555 2671", "GB"), "+14155552671", "US number, GB region");

	/* ---- elsewhere ---- */
	CHECK_STR(e164("030 123456", "DE"), "+4930123456", "Berlin");
	CHECK_STR(e164("+33 6 12 34 56 78", "FR"), "+33612345678", "France mobile");
	CHECK_STR(e164("+800 1234 5678", NULL), "+80012345678", "non-geographic +800");

	/* ---- refused ---- */
	CHECK(refused("", "US", "empty"), "empty: %s", e164("", "US"));
	CHECK(refused(" \t ", "US", "empty"), "white space only: %s", e164(" \t ", "US"));
	CHECK(refused("hello", "US", "not a phone number"), "garbage: %s", e164("hello", "US"));
	CHECK(refused("+", "US", "not a phone number"), "plus alone: %s", e164("+", "US"));
	CHECK(refused("alice@example.com", "US", "not a phone number"), "an e-mail address: %s", e164("alice@example.com", "US"));
	CHECK(refused("12", "US", "not a valid number for region US"), "too short: %s", e164("12", "US"));
	CHECK(refused("12", "US", "too short"), "too short, said so: %s", e164("12", "US"));
	CHECK(refused("555-2671", "US", "area code"), "no area code: %s", e164("555-2671", "US"));
	CHECK(refused("+1 415 555 267", "US", "too short"), "one digit short: %s", e164("+1 415 555 267", "US"));
	CHECK(refused("+1 415 555 26712", "US", "too long"), "one digit long: %s", e164("+1 415 555 26712", "US"));
	CHECK(refused("+1 000 555 2671", "US", "not a valid number"), "area code 000: %s", e164("+1 000 555 2671", "US"));
	CHECK(refused("123456789012345678901", "US", "too long"), "far too long: %s", e164("123456789012345678901", "US"));
	CHECK(refused("0791 112 345", "GB", "not a valid number for region GB"), "short UK number: %s", e164("0791 112 345", "GB"));
	CHECK(refused("020 7946 0958", "US", "not a valid number for region US"), "UK national, US region: %s", e164("020 7946 0958", "US"));
	CHECK(refused("+44 7911 12345", "US", "not a valid number for country code +44 (GB)"), "bad UK number, US region: %s", e164("+44 7911 12345", "US"));
	CHECK(refused("+999 123456", "US", "unknown country code"), "country code +999: %s", e164("+999 123456", "US"));
	CHECK(refused("4155552671", NULL, "no +country code"), "national number, no region: %s", e164("4155552671", NULL));
	CHECK(refused("4155552671", "", "no +country code"), "national number, empty region: %s", e164("4155552671", ""));
	CHECK(refused("4155552671", "ZZ", "no +country code"), "national number, region ZZ: %s", e164("4155552671", "ZZ"));
	CHECK(refused("4155552671", "XX", "unknown region 'XX'"), "unknown region: %s", e164("4155552671", "XX"));
	CHECK(refused("4155552671", "USA", "unknown region 'USA'"), "three-letter region: %s", e164("4155552671", "USA"));
	CHECK(refused("+1 415 555 2671 ext. 12", "US", "extension"), "extension: %s", e164("+1 415 555 2671 ext. 12", "US"));
	CHECK(refused("+1 415 555 2671 x12", "US", "extension"), "extension x: %s", e164("+1 415 555 2671 x12", "US"));
	CHECK(refused("+1 415 \xff 555 2671", "US", "UTF-8"), "bad UTF-8: %s", e164("+1 415 \xff 555 2671", "US"));

	/* ---- the interface (CHECK evaluates its condition twice: calls
	 * that append go outside it) ---- */
	{
		jrn_buf b = {0};
		jrn_err e;
		int rc;
		jrn_buf_adds(&b, "tel ");
		rc = jrn_phone_e164("(415) 555-2671", 14, "US", &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "tel +14155552671") == 0, "appends to out");
		rc = jrn_phone_e164("hello", 5, "US", &b, &e);
		CHECK(rc < 0 && strcmp(b.p, "tel +14155552671") == 0, "out untouched on failure");
		rc = jrn_phone_e164("hello", 5, "US", &b, NULL);
		CHECK(rc < 0, "NULL e");
		jrn_buf_reset(&b);
		rc = jrn_phone_e164("+14155552671999", 12, "US", &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "+14155552671") == 0, "reads s[0..len) only");
		const char nul[] = "+14155552671\0" "99";
		rc = jrn_phone_e164(nul, sizeof nul - 1, "US", &b, &e);
		CHECK(rc < 0 && strstr(e.msg, "NUL"), "embedded NUL refused: %s", e.msg);

		char *heap = malloc(12);
		memcpy(heap, "+14155552671", 12); /* no NUL: ASan/valgrind watch */
		jrn_buf_reset(&b);
		rc = jrn_phone_e164(heap, 12, NULL, &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "+14155552671") == 0, "unterminated input");
		free(heap);

		/* Long input: libphonenumber caps it; no crash, a reason. */
		size_t n = 100000;
		char *big = malloc(n);
		memset(big, '5', n);
		big[0] = '+';
		rc = jrn_phone_e164(big, n, "US", &b, &e);
		CHECK(rc < 0 && strstr(e.msg, "too long"), "100000 digits refused: %s", e.msg);
		/* White space does not count towards that cap. */
		memset(big, ' ', n);
		memcpy(big + n / 2, "+1 415 555 2671", 15);
		jrn_buf_reset(&b);
		rc = jrn_phone_e164(big, n, "US", &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "+14155552671") == 0, "a number amid 100000 spaces");
		free(big);
		jrn_buf_free(&b);
	}

	/* ---- the memo: the same answers as jrn_phone_e164, remembered ---- */
	{
		static const char *const in[] = {
			"(415) 555-2671", "+44 20 7946 0958", "415-555-267", "abc", "+1 415 555 2671",
			"1-800-FLOWERS", "  (415) 555-2671 ", "+1 415 555 2671 ext. 3", "020 7946 0958",
		};
		jrn_phone_memo *m = jrn_phone_memo_new("US");
		CHECK(m != NULL, "memo made");
		jrn_buf got = {0}, want = {0};
		jrn_err e;
		for (int pass = 0; pass < 3; pass++)
			for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
				jrn_buf_reset(&got);
				jrn_buf_reset(&want);
				jrn_buf_adds(&got, "x:"); /* appends, as jrn_phone_e164 does */
				jrn_buf_adds(&want, "x:");
				int a = jrn_phone_memo_e164(m, in[i], strlen(in[i]), &got);
				int w = jrn_phone_e164(in[i], strlen(in[i]), "US", &want, &e);
				CHECK(a == w && (a < 0 || strcmp(got.p, want.p) == 0),
				      "pass %d, '%s': memo %d '%s', library %d '%s'", pass, in[i], a,
				      got.p, w, want.p);
			}
		/* A region of its own per memo. */
		jrn_phone_memo *gb = jrn_phone_memo_new("GB");
		jrn_buf_reset(&got);
		CHECK(jrn_phone_memo_e164(gb, "020 7946 0958", 13, &got) == 0 &&
			      strcmp(got.p, "+442079460958") == 0, "GB memo: %s", got.p);
		jrn_phone_memo_free(gb);
		/* No region: a number needs its +country code. */
		jrn_phone_memo *any = jrn_phone_memo_new(NULL);
		jrn_buf_reset(&got);
		CHECK(jrn_phone_memo_e164(any, "(415) 555-2671", 14, &got) < 0, "no region: refused");
		jrn_buf_reset(&got);
		CHECK(jrn_phone_memo_e164(any, "+1 415 555 2671", 15, &got) == 0 &&
			      strcmp(got.p, "+14155552671") == 0, "no region: +1 taken");
		jrn_phone_memo_free(any);
		/* Reads s[0..len) only; an embedded NUL is no number, remembered
		 * apart from the number before it. */
		jrn_buf_reset(&got);
		CHECK(jrn_phone_memo_e164(m, "(415) 555-2671999", 14, &got) == 0 &&
			      strcmp(got.p, "+14155552671") == 0, "reads s[0..len) only");
		const char nul[] = "(415) 555-2671\0" "9";
		for (int pass = 0; pass < 2; pass++) {
			jrn_buf_reset(&got);
			CHECK(jrn_phone_memo_e164(m, nul, sizeof nul - 1, &got) < 0, "NUL, pass %d", pass);
		}
		/* Many numbers: past the memo's size, every answer still right
		 * (sets evict their oldest). */
		int wrong = 0;
		char num[32];
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; i < 200000; i += 7) {
				snprintf(num, sizeof num, "(415) %03d-%04d", 200 + i / 10000 % 800, i % 10000);
				jrn_buf_reset(&got);
				jrn_buf_reset(&want);
				int a = jrn_phone_memo_e164(m, num, strlen(num), &got);
				int w = jrn_phone_e164(num, strlen(num), "US", &want, &e);
				wrong += a != w || (a == 0 && strcmp(got.p, want.p) != 0);
			}
		CHECK(wrong == 0, "200000 numbers twice: %d answers differ", wrong);
		/* 63 bytes are remembered, 64 and more parsed each time: both right. */
		for (int len = 62; len <= 66; len++) {
			char pad[80];
			memset(pad, ' ', sizeof pad);
			memcpy(pad + len - 14, "(415) 555-2671", 14);
			for (int pass = 0; pass < 2; pass++) {
				jrn_buf_reset(&got);
				CHECK(jrn_phone_memo_e164(m, pad, (size_t)len, &got) == 0 &&
					      strcmp(got.p, "+14155552671") == 0, "%d bytes, pass %d", len, pass);
			}
		}
		jrn_buf_reset(&got);
		CHECK(jrn_phone_memo_e164(m, "", 0, &got) < 0, "empty: refused");
		jrn_phone_memo_free(m);
		jrn_phone_memo_free(NULL);
		jrn_buf_free(&got);
		jrn_buf_free(&want);
	}
	return unit_done();
}
