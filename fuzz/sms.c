/* fuzz/sms.c: SMS encoding and segments (lib/sms.c).
 *
 * Oracles: a text that is not UTF-8 is refused, with a reason; otherwise
 * chars is its number of code points; UCS-2 units are chars plus one per
 * code point past U+FFFF; GSM-7 units are at least chars (at most twice);
 * one segment when units fit a single message (160 / 70), else parts of
 * 153 / 67 units where a character never straddles two parts: units <=
 * segments * part and each part but the last loses at most one unit. */
#include "fuzz.h"
#include "sms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	jrn_sms_info in;
	jrn_err e;
	e.msg[0] = '\0';
	bool utf8 = jrn_utf8_invalid_at(s, size) == size;
	int rc = jrn_sms_measure(s, size, &in, &e);
	FUZZ_CHECK((rc == 0) == utf8, "measure %d, UTF-8 %d", rc, utf8);
	if (rc < 0) {
		FUZZ_CHECK(e.msg[0], "a refusal without a reason");
		return 0;
	}
	size_t cps = 0, astral = 0;
	for (size_t i = 0; i < size; i++) {
		unsigned char c = data[i];
		cps += (c & 0xC0) != 0x80;
		astral += c >= 0xF0;
	}
	FUZZ_CHECK(in.chars == cps, "%zu chars, %zu code points", in.chars, cps);
	size_t single = 160, part = 153;
	if (in.encoding == JRN_SMS_UCS2) {
		single = 70, part = 67;
		FUZZ_CHECK(in.units == cps + astral, "UCS-2: %zu units for %zu chars", in.units, cps);
	} else {
		FUZZ_CHECK(in.units >= cps && in.units <= 2 * cps, "GSM-7: %zu units, %zu chars",
			   in.units, cps);
		FUZZ_CHECK(!astral, "GSM-7 with a code point past U+FFFF");
	}
	FUZZ_CHECK(in.segments >= 1, "no segment");
	if (in.units <= single) {
		FUZZ_CHECK(in.segments == 1, "%zu units in %zu segments", in.units, in.segments);
	} else {
		FUZZ_CHECK(in.units <= in.segments * part, "%zu units in %zu parts", in.units, in.segments);
		FUZZ_CHECK(in.units > (in.segments - 1) * (part - 1), "%zu units in %zu parts (too many)",
			   in.units, in.segments);
	}
	return 0;
}
