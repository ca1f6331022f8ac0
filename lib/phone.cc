// phone.cc: phone numbers to E.164 through libphonenumber.
//
// The one C++ file of lib/: everything stays behind the C interface, and
// no exception crosses it.
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

extern "C" {
#include "jrn.h"
}

using i18n::phonenumbers::NullLogger;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

#define BAD "not a phone number: "

// The library's singleton, with a logger that keeps quiet: lib/ never
// prints. A function-local static is initialised once, thread-safely.
static PhoneNumberUtil *util()
{
	static PhoneNumberUtil *u = [] {
		PhoneNumberUtil *p = PhoneNumberUtil::GetInstance();
		p->SetLogger(new NullLogger()); // p owns it
		return p;
	}();
	return u;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int parse_error(PhoneNumberUtil::ErrorType err, bool any_region, jrn_err *e)
{
	switch (err) {
	case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
		if (any_region)
			return jrn_fail(e, BAD "no +country code (and no region to assume)");
		return jrn_fail(e, BAD "unknown country code");
	case PhoneNumberUtil::NOT_A_NUMBER:
		return jrn_fail(e, BAD "not enough digits or unexpected characters");
	case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
		return jrn_fail(e, BAD "too short after the international prefix");
	case PhoneNumberUtil::TOO_SHORT_NSN:
		return jrn_fail(e, BAD "too short");
	case PhoneNumberUtil::TOO_LONG_NSN:
		return jrn_fail(e, BAD "too long");
	default:
		return jrn_fail(e, BAD "parse error %d", (int)err);
	}
}

// Why a parsed number is not valid, as far as its length tells.
static const char *length_hint(PhoneNumberUtil *pu, const PhoneNumber &num)
{
	switch (pu->IsPossibleNumberWithReason(num)) {
	case PhoneNumberUtil::TOO_SHORT:
		return " (too short)";
	case PhoneNumberUtil::TOO_LONG:
		return " (too long)";
	case PhoneNumberUtil::INVALID_LENGTH:
		return " (wrong length)";
	case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
		return " (a local number: add the area code)";
	default:
		return "";
	}
}

static int e164(const char *s, size_t len, const char *region, jrn_buf *out,
		jrn_err *e)
{
	PhoneNumberUtil *pu = util();

	// Region codes are upper case in libphonenumber's tables; "ZZ" is
	// its "unknown": only numbers with a +country code parse.
	std::string rc = region && *region ? region : "ZZ";
	for (char &c : rc)
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
	bool any_region = rc == "ZZ";
	int region_cc = any_region ? 0 : pu->GetCountryCodeForRegion(rc);
	if (!any_region && region_cc == 0)
		return jrn_fail(e, "unknown region '%s' (want an ISO 3166 code such as US)",
				rc.c_str());

	// libphonenumber expects UTF-8 and would stop at a NUL.
	if (jrn_utf8_invalid_at(s, len) != len)
		return jrn_fail(e, BAD "not valid UTF-8");
	if (memchr(s, '\0', len))
		return jrn_fail(e, BAD "holds a NUL byte");
	while (len && is_space(*s))
		s++, len--;
	while (len && is_space(s[len - 1]))
		len--;
	if (len == 0)
		return jrn_fail(e, BAD "empty");
	// libphonenumber refuses longer input as NOT_A_NUMBER; say why.
	if (len > 250)
		return jrn_fail(e, BAD "too long (over 250 characters)");

	PhoneNumber num;
	PhoneNumberUtil::ErrorType err = pu->Parse(std::string(s, len), rc, &num);
	if (err != PhoneNumberUtil::NO_PARSING_ERROR)
		return parse_error(err, any_region, e);
	// E.164 has no room for one: dropping it would change the number.
	if (num.has_extension() && !num.extension().empty())
		return jrn_fail(e, BAD "has an extension, which E.164 cannot hold");
	if (!pu->IsValidNumber(num)) {
		int cc = (int)num.country_code();
		if (cc == region_cc)
			return jrn_fail(e, "not a valid number for region %s%s", rc.c_str(),
					length_hint(pu, num));
		std::string where;
		pu->GetRegionCodeForCountryCode(cc, &where);
		if (where.empty() || where == "ZZ" || where == "001")
			return jrn_fail(e, "not a valid number for country code +%d%s", cc,
					length_hint(pu, num));
		return jrn_fail(e, "not a valid number for country code +%d (%s)%s", cc,
				where.c_str(), length_hint(pu, num));
	}

	std::string formatted;
	pu->Format(num, PhoneNumberUtil::E164, &formatted);
	if (jrn_buf_add(out, formatted.data(), formatted.size()) < 0)
		return jrn_fail(e, "out of memory");
	return 0;
}

extern "C" int jrn_phone_e164(const char *s, size_t len, const char *region,
			      jrn_buf *out, jrn_err *e)
{
	try {
		return e164(s, len, region, out, e);
	} catch (const std::bad_alloc &) {
		return jrn_fail(e, "out of memory");
	} catch (const std::exception &x) {
		return jrn_fail(e, "phone number library failed: %s", x.what());
	} catch (...) {
		return jrn_fail(e, "phone number library failed");
	}
}
