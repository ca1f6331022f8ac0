/* sms.c: GSM-7 or UCS-2, and the segment count of an SMS text. */
#include "sms.h"

/* The GSM 03.38 default alphabet, beyond printable ASCII that maps to
 * itself (every ASCII character but those listed apart below). */
static const unsigned int gsm_basic_non_ascii[] = {
	0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8, 0x00F8,
	0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3,
	0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6,
	0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};

/* Septets a code point takes in GSM-7: 1, 2 (extension table) or 0 (not
 * in the alphabet: the text must be UCS-2). */
static int gsm_septets(unsigned int c)
{
	switch (c) {
	case '\n': case '\r':
		return 1;
	case '\f': case '^': case '{': case '}': case '\\': case '[': case ']':
	case '~': case '|': case 0x20AC: /* euro sign */
		return 2;
	case '`': /* not in the GSM alphabet */
		return 0;
	}
	if (c >= 0x20 && c < 0x7F)
		return 1;
	for (size_t i = 0; i < sizeof gsm_basic_non_ascii / sizeof gsm_basic_non_ascii[0]; i++)
		if (gsm_basic_non_ascii[i] == c)
			return 1;
	return 0;
}

/* Decodes one code point of well-formed UTF-8 at s[*i]. */
static unsigned int next_cp(const unsigned char *s, size_t *i)
{
	unsigned int c = s[*i];
	int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
	c &= extra == 0 ? 0x7F : extra == 1 ? 0x1F : extra == 2 ? 0x0F : 0x07;
	for (int k = 1; k <= extra; k++)
		c = (c << 6) | (s[*i + k] & 0x3F);
	*i += (size_t)extra + 1;
	return c;
}

int jrn_sms_measure(const char *text, size_t len, jrn_sms_info *info, jrn_err *e)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t bad = jrn_utf8_invalid_at(text, len);
	if (bad < len)
		return jrn_fail(e, "not UTF-8 at byte %zu", bad + 1);

	bool gsm = true;
	size_t i = 0, chars = 0;
	while (i < len) {
		if (gsm && gsm_septets(next_cp(s, &i)) == 0)
			gsm = false;
		else if (!gsm)
			next_cp(s, &i);
		chars++;
	}

	/* Fill parts greedily; a character never straddles two parts. */
	size_t single = gsm ? 160 : 70, part = gsm ? 153 : 67;
	size_t units = 0, parts = 1, used = 0;
	i = 0;
	while (i < len) {
		unsigned int c = next_cp(s, &i);
		size_t w = gsm ? (size_t)gsm_septets(c) : (c > 0xFFFF ? 2 : 1);
		units += w;
		if (used + w > part) {
			parts++;
			used = 0;
		}
		used += w;
	}
	info->encoding = gsm ? JRN_SMS_GSM7 : JRN_SMS_UCS2;
	info->chars = chars;
	info->units = units;
	info->segments = units <= single ? 1 : parts;
	return 0;
}
