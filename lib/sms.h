/*
 * sms.h: how an SMS text is encoded and into how many segments it splits
 * (3GPP TS 23.038 GSM 7-bit default alphabet, else UCS-2), for jrn-send's
 * cost and its maximum-segments rule.
 */
#ifndef JRN_SMS_H
#define JRN_SMS_H

#include "jrn.h"

typedef enum { JRN_SMS_GSM7, JRN_SMS_UCS2 } jrn_sms_encoding;

typedef struct {
	jrn_sms_encoding encoding;
	size_t chars;    /* Unicode code points */
	size_t units;    /* GSM-7 septets (extension characters count 2) or UTF-16 units */
	size_t segments; /* 1 up to 160 septets / 70 units; else parts of 153 / 67 */
} jrn_sms_info;

/* Measures the UTF-8 text s[0..len): GSM-7 when every character is in the
 * default alphabet or its extension table, else UCS-2 for the whole text.
 * Concatenated parts never split an escape pair or a surrogate pair, as
 * handsets require. An empty text is one segment. 0, or -1 with e when s
 * is not UTF-8. */
int jrn_sms_measure(const char *s, size_t len, jrn_sms_info *info, jrn_err *e);

#endif
