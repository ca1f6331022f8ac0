/* fuzz/email.c: e-mail address normalisation (lib/email.c) beside the
 * mailbox parser of lib/mime.c.
 *
 * Oracles: a normalised address normalises to itself; it holds one '@',
 * no white space or control byte, no ASCII capital, at most 254 octets,
 * and is UTF-8; when it is ASCII, jrn_mime_parse_mailbox accepts it as a
 * bare addr-spec and gives it back unchanged (the two parsers agree on
 * what an address is); a refusal has a reason. */
#include "fuzz.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jrn_buf o = {0}, o2 = {0};
	jrn_err e;
	e.msg[0] = '\0';
	if (jrn_email_normalize((const char *)data, size, &o, &e) < 0) {
		FUZZ_CHECK(e.msg[0], "a refusal without a reason");
		jrn_buf_free(&o);
		return 0;
	}
	FUZZ_CHECK(o.len > 0 && o.len <= 254, "%zu octets", o.len);
	FUZZ_CHECK(jrn_utf8_invalid_at(o.p, o.len) == o.len, "not UTF-8: %s", o.p);
	bool ascii = true;
	int ats = 0;
	for (size_t i = 0; i < o.len; i++) {
		unsigned char c = (unsigned char)o.p[i];
		FUZZ_CHECK(c > 0x20 && c != 0x7F && !(c >= 'A' && c <= 'Z'), "byte 0x%02x in %s", c, o.p);
		ascii = ascii && c < 0x80;
		ats += c == '@';
	}
	FUZZ_CHECK(ats == 1, "%d '@' in %s", ats, o.p);
	FUZZ_CHECK(jrn_email_normalize(o.p, o.len, &o2, &e) == 0, "%s does not normalise: %s", o.p,
		   e.msg);
	FUZZ_CHECK(o2.len == o.len && memcmp(o.p, o2.p, o.len) == 0, "%s normalises to %s", o.p, o2.p);
	if (ascii) {
		char *display, *addr;
		FUZZ_CHECK(jrn_mime_parse_mailbox(o.p, &display, &addr, &e) == 0,
			   "the mailbox parser refuses %s: %s", o.p, e.msg);
		FUZZ_CHECK(!display && !strcmp(addr, o.p), "the mailbox parser reads %s as %s", o.p, addr);
		free(addr);
	}
	jrn_buf_free(&o);
	jrn_buf_free(&o2);
	return 0;
}
