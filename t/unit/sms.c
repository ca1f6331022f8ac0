/* Unit tests of sms.c: encoding and segments (3GPP TS 23.038). */
#include <stdlib.h>

#include "sms.h"
#include "unit.h"

static jrn_sms_info m(const char *s)
{
	jrn_sms_info info = {0};
	jrn_err e;
	if (jrn_sms_measure(s, strlen(s), &info, &e) < 0)
		info.segments = 999;
	return info;
}

static char *rep(const char *unit, size_t n)
{
	size_t k = strlen(unit);
	char *s = malloc(k * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * k, unit, k);
	s[k * n] = 0;
	return s;
}

int main(void)
{
	jrn_sms_info i = m("Hello, world!");
	CHECK(i.encoding == JRN_SMS_GSM7 && i.units == 13 && i.segments == 1, "plain ASCII");
	i = m("");
	CHECK(i.segments == 1 && i.units == 0, "empty: one segment");
	i = m("Caf\xc3\xa9 \xc3\xa0 10\xe2\x82\xac");  /* Café à 10€ */
	CHECK(i.encoding == JRN_SMS_GSM7 && i.chars == 10 && i.units == 11, "é à basic, euro extension: %zu units", i.units);
	i = m("{[~]}|^\\");
	CHECK(i.encoding == JRN_SMS_GSM7 && i.units == 16, "every extension character takes two septets");
	i = m("`");
	CHECK(i.encoding == JRN_SMS_UCS2, "backtick is not GSM");
	i = m("\xce\x94\xce\xa9");  /* Greek capitals in the alphabet */
	CHECK(i.encoding == JRN_SMS_GSM7 && i.units == 2, "Δ Ω are GSM");
	i = m("\xce\xb1");  /* α lower case is not */
	CHECK(i.encoding == JRN_SMS_UCS2 && i.units == 1, "α forces UCS-2");

	char *s = rep("a", 160);
	CHECK(m(s).segments == 1, "160 GSM septets: one segment");
	free(s);
	s = rep("a", 161);
	CHECK(m(s).segments == 2, "161: two");
	free(s);
	s = rep("a", 306);
	CHECK(m(s).segments == 2, "306 = 2 x 153: two");
	free(s);
	s = rep("a", 307);
	CHECK(m(s).segments == 3, "307: three");
	free(s);
	{
		/* 152 septets, a euro, 152 more: 306 septets would fill two
		 * parts of 153, but the escape pair may not straddle them */
		char *a = rep("a", 152);
		char buf[400];
		snprintf(buf, sizeof buf, "%s\xe2\x82\xac%s", a, a);
		i = m(buf);
		CHECK(i.units == 306 && i.segments == 3, "escape pair moves to the next part");
		free(a);
		a = rep("a", 152);
		snprintf(buf, sizeof buf, "%s\xe2\x82\xac", a);
		CHECK(m(buf).segments == 1, "154 septets fit one message");
		free(a);
	}
	s = rep("\xd0\x96", 70);  /* Cyrillic Ж */
	i = m(s);
	CHECK(i.encoding == JRN_SMS_UCS2 && i.segments == 1, "70 UCS-2 units: one");
	free(s);
	s = rep("\xd0\x96", 71);
	CHECK(m(s).segments == 2, "71: two");
	free(s);
	s = rep("\xd0\x96", 134);
	CHECK(m(s).segments == 2, "134 = 2 x 67: two");
	free(s);
	s = rep("\xd0\x96", 135);
	CHECK(m(s).segments == 3, "135: three");
	free(s);
	s = rep("\xf0\x9f\x98\x80", 35);  /* 35 emoji = 70 units */
	i = m(s);
	CHECK(i.units == 70 && i.chars == 35 && i.segments == 1, "emoji count two units");
	free(s);
	{
		/* 66 units then an emoji: the surrogate pair moves to part two */
		char *a = rep("\xd0\x96", 66);
		char buf[400];
		snprintf(buf, sizeof buf, "%s\xf0\x9f\x98\x80\xd0\x96\xd0\x96\xd0\x96", a);
		i = m(buf);
		CHECK(i.units == 71 && i.segments == 2, "surrogate pair kept whole");
		free(a);
	}
	{
		jrn_sms_info info;
		jrn_err e;
		CHECK(jrn_sms_measure("a\xff", 2, &info, &e) < 0, "invalid UTF-8 refused");
	}
	return unit_done();
}
