/* utf8.c: UTF-8 well-formedness (Unicode Table 3-7). libjq 1.6 silently
 * replaces bad bytes with U+FFFD, so lines are checked before parsing. */
#include <string.h>

#include "jrn.h"

size_t jrn_utf8_invalid_at(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		/* ASCII runs, eight bytes at a time: the common case. */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;  /* overlong */
			else if (c == 0xED)
				hi = 0x9F;  /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;  /* overlong */
			else if (c == 0xF4)
				hi = 0x8F;  /* > U+10FFFF */
		} else {
			return i;
		}
		if (len - i <= need)
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += need + 1;
	}
	return len;
}

int jrn_id_check(const char *s, size_t len, const char *field, jrn_err *e)
{
	if (len == 0)
		return jrn_fail(e, "%s: empty", field);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return jrn_fail(e, "%s: control character U+%04X at byte %zu",
					field, c, i + 1);
	}
	return 0;
}
