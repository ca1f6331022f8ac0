/* Unit tests of email.c. */
#include <stdlib.h>

#include "jrn.h"
#include "unit.h"

/* The normalised form of s, or "ERR: reason". */
static const char *norm(const char *s)
{
	static jrn_buf b;
	static char out[1100];
	jrn_err e;
	jrn_buf_reset(&b);
	if (jrn_email_normalize(s, strlen(s), &b, &e) < 0) {
		snprintf(out, sizeof out, "ERR: %s", e.msg);
		return out;
	}
	return b.p ? b.p : "";
}

static bool refused(const char *s, const char *reason)
{
	const char *r = norm(s);
	return strncmp(r, "ERR: not an e-mail address: ", 28) == 0 && strstr(r, reason) != NULL;
}

/* A string of n copies of c. */
static char *rep(char c, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *cat(const char *a, const char *b, const char *c)
{
	size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
	char *s = malloc(na + nb + nc + 1);
	if (!s)
		abort();
	memcpy(s, a, na);
	memcpy(s + na, b, nb);
	memcpy(s + na + nb, c, nc + 1);
	return s;
}

int main(void)
{
	/* ---- accepted ---- */
	CHECK_STR(norm("alice@example.com"), "alice@example.com", "plain");
	CHECK_STR(norm("Alice@Example.COM"), "alice@example.com", "upper case folded");
	CHECK_STR(norm("  bob@example.org\t\r\n"), "bob@example.org", "white space trimmed");
	CHECK_STR(norm("\v\fbob@example.org "), "bob@example.org", "every ASCII white space");
	CHECK_STR(norm("alice+news@example.com"), "alice+news@example.com", "plus tag kept");
	CHECK_STR(norm("Alice.B.Smith+Tag-1@mail.Example.co.uk"), "alice.b.smith+tag-1@mail.example.co.uk", "dots, tag, subdomains");
	CHECK_STR(norm("!#$%&'*+/=?^_`{|}~-@example.com"), "!#$%&'*+/=?^_`{|}~-@example.com", "every atext symbol");
	CHECK_STR(norm("a@b.co"), "a@b.co", "shortest sensible");
	CHECK_STR(norm("x@my-host.example"), "x@my-host.example", "hyphen inside a label");
	CHECK_STR(norm("x@123.example.com"), "x@123.example.com", "numeric label, not the TLD");
	CHECK_STR(norm("x@example.c0m"), "x@example.c0m", "TLD with a digit");
	CHECK_STR(norm("x@xn--bcher-kva.example"), "x@xn--bcher-kva.example", "punycode label");
	CHECK_STR(norm("J\xc3\xb6rg@Example.DE"), "j\xc3\xb6rg@example.de", "UTF-8 local part, ASCII folded only");
	CHECK_STR(norm("\xc3\x96@example.com"), "\xc3\x96@example.com", "non-ASCII upper case kept as is");
	CHECK_STR(norm("user@b\xc3\xbc" "cher.example"), "user@b\xc3\xbc" "cher.example", "UTF-8 domain");
	CHECK_STR(norm("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a"),
		  "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", "CJK address (RFC 6531)");

	/* ---- refused ---- */
	CHECK(refused("", "empty"), "empty: %s", norm(""));
	CHECK(refused(" \t ", "empty"), "only white space: %s", norm(" \t "));
	CHECK(refused("alice.example.com", "no '@'"), "no @: %s", norm("alice.example.com"));
	CHECK(refused("a@b@example.com", "more than one '@'"), "two @: %s", norm("a@b@example.com"));
	CHECK(refused("@example.com", "empty local part"), "no local part: %s", norm("@example.com"));
	CHECK(refused("alice@", "empty domain"), "no domain: %s", norm("alice@"));
	CHECK(refused(".alice@example.com", "starts with a dot"), "leading dot: %s", norm(".alice@example.com"));
	CHECK(refused("alice.@example.com", "ends with a dot"), "trailing dot: %s", norm("alice.@example.com"));
	CHECK(refused("al..ice@example.com", "consecutive dots"), "double dot: %s", norm("al..ice@example.com"));
	CHECK(refused("\"al ice\"@example.com", "quoted"), "quoted local part: %s", norm("\"al ice\"@example.com"));
	CHECK(refused("alice(work)@example.com", "comments"), "comment: %s", norm("alice(work)@example.com"));
	CHECK(refused("al ice@example.com", "white space inside the local part"), "inner space: %s", norm("al ice@example.com"));
	CHECK(refused("a,b@example.com", "bad character ','"), "comma: %s", norm("a,b@example.com"));
	CHECK(refused("a\\b@example.com", "bad character '\\'"), "backslash: %s", norm("a\\b@example.com"));
	CHECK(refused("<alice@example.com>", "bad character '<'"), "angle brackets: %s", norm("<alice@example.com>"));
	CHECK(refused("Alice <alice@example.com>", "white space"), "display name: %s", norm("Alice <alice@example.com>"));
	CHECK(refused("a\x01@example.com", "0x01"), "control character: %s", norm("a\x01@example.com"));
	CHECK(refused("alice@localhost", "two labels"), "single label: %s", norm("alice@localhost"));
	CHECK(refused("alice@[192.168.0.1]", "IP address literals"), "IP literal: %s", norm("alice@[192.168.0.1]"));
	CHECK(refused("alice@[IPv6:::1]", "IP address literals"), "IPv6 literal: %s", norm("alice@[IPv6:::1]"));
	CHECK(refused("alice@192.168.0.1", "all digits"), "bare IP: %s", norm("alice@192.168.0.1"));
	CHECK(refused("alice@example.123", "all digits"), "numeric TLD: %s", norm("alice@example.123"));
	CHECK(refused("alice@.example.com", "empty label"), "domain starts with a dot: %s", norm("alice@.example.com"));
	CHECK(refused("alice@example..com", "empty label"), "empty label: %s", norm("alice@example..com"));
	CHECK(refused("alice@example.com.", "ends with a dot"), "domain ends with a dot: %s", norm("alice@example.com."));
	CHECK(refused("alice@-example.com", "starts with '-'"), "label starts with -: %s", norm("alice@-example.com"));
	CHECK(refused("alice@example-.com", "ends with '-'"), "label ends with -: %s", norm("alice@example-.com"));
	CHECK(refused("alice@example.com-", "ends with '-'"), "TLD ends with -: %s", norm("alice@example.com-"));
	CHECK(refused("alice@exa_mple.com", "bad character '_' in the domain"), "underscore in domain: %s", norm("alice@exa_mple.com"));
	CHECK(refused("alice@exa mple.com", "white space inside the domain"), "space in domain: %s", norm("alice@exa mple.com"));
	CHECK(refused("alice@example.com\n\nbob@example.com", "more than one '@'"), "two addresses: %s", norm("alice@example.com\n\nbob@example.com"));
	CHECK(refused("\xff@example.com", "UTF-8"), "bad UTF-8: %s", norm("\xff@example.com"));
	CHECK(refused("a\xc3@example.com", "UTF-8"), "truncated UTF-8: %s", norm("a\xc3@example.com"));
	CHECK(refused("mailto:alice@example.com", "bad character ':'"), "mailto: %s", norm("mailto:alice@example.com"));

	/* ---- lengths ---- */
	{
		char *l64 = rep('a', 64), *l65 = rep('a', 65);
		char *ok = cat(l64, "@", "example.com"), *bad = cat(l65, "@", "example.com");
		CHECK_STR(norm(ok), ok, "local part of 64 octets");
		CHECK(refused(bad, "local part longer than 64 octets"), "65 octets: %s", norm(bad));
		free(ok);
		free(bad);

		char *d63 = rep('b', 63), *d64 = rep('b', 64);
		ok = cat("x@", d63, ".com");
		bad = cat("x@", d64, ".com");
		CHECK_STR(norm(ok), ok, "label of 63 octets");
		CHECK(refused(bad, "label longer than 63 octets"), "label of 64: %s", norm(bad));
		free(ok);
		free(bad);

		/* A 253-octet domain: four labels of 63 and a dot-separated "c":
		 * 63*3 + 61 + 3 dots = 253. */
		char *d61 = rep('c', 61);
		char *dom = malloc(300);
		snprintf(dom, 300, "%s.%s.%s.%s", d63, d63, d63, d61);
		CHECK(strlen(dom) == 253, "domain is 253 octets");
		ok = cat("x@", dom, "");
		/* ...which no address can use, as "x@" makes 255 octets. */
		CHECK(refused(ok, "address longer than 254 octets"), "domain of 253 octets in range, address not: %s", norm(ok));
		free(ok);
		free(dom);
		free(d61);
		free(l64);
		free(l65);
		free(d63);
		free(d64);
	}
	{
		/* 254 octets in all: accepted; 255: refused for its length
		 * alone, with every part in range. */
		char *loc = rep('a', 64), *d63 = rep('b', 63), *d60 = rep('c', 60), *d61 = rep('c', 61);
		char dom[300];
		snprintf(dom, sizeof dom, "%s.%s.%s", d63, d63, d60); /* 188 */
		char *a = cat(loc, "@", dom);
		CHECK(strlen(a) == 253, "253-octet address built");
		CHECK_STR(norm(a), a, "253 octets accepted");
		free(a);
		snprintf(dom, sizeof dom, "%s.%s.%s", d63, d63, d61); /* 189 */
		a = cat(loc, "@", dom);
		CHECK(strlen(a) == 254, "254-octet address built");
		CHECK_STR(norm(a), a, "254 octets accepted");
		char *sp = cat("  ", a, "  ");
		CHECK_STR(norm(sp), a, "254 octets plus white space accepted");
		free(sp);
		free(a);
		snprintf(dom, sizeof dom, "%s.%s.%s.c", d63, d63, d60); /* 190 */
		a = cat(loc, "@", dom);
		CHECK(strlen(a) == 255, "255-octet address built");
		CHECK(refused(a, "longer than 254 octets"), "255 octets: %s", norm(a));
		free(a);
		free(loc);
		free(d63);
		free(d60);
		free(d61);
	}
	{
		char *d63 = rep('d', 63);
		char dom[400];
		snprintf(dom, sizeof dom, "%s.%s.%s.%s.com", d63, d63, d63, d63); /* 256 */
		char *a = cat("x@", dom, "");
		CHECK(refused(a, "domain longer than 253 octets"), "long domain: %s", norm(a));
		free(a);
		free(d63);
	}
	{
		/* Long input, mostly white space: no fixed limits. */
		size_t n = 1 << 20;
		char *s = rep(' ', n);
		memcpy(s + n / 2, "A@B.CD", 6);
		jrn_buf b = {0};
		jrn_err e;
		int rc = jrn_email_normalize(s, n, &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "a@b.cd") == 0, "1 MiB of white space around an address");
		jrn_buf_free(&b);
		free(s);
	}

	/* ---- the interface (CHECK evaluates its condition twice: calls
	 * that append go outside it) ---- */
	{
		jrn_buf b = {0};
		jrn_err e;
		int rc;
		jrn_buf_adds(&b, "to: ");
		rc = jrn_email_normalize("A@B.CD", 6, &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "to: a@b.cd") == 0 && b.len == 10, "appends to out");
		rc = jrn_email_normalize("bad", 3, &b, &e);
		CHECK(rc < 0 && strcmp(b.p, "to: a@b.cd") == 0 && b.len == 10, "out untouched on failure");
		rc = jrn_email_normalize("bad", 3, &b, NULL);
		CHECK(rc < 0, "NULL e");
		rc = jrn_email_normalize("a@b.cdjunk", 6, &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "to: a@b.cda@b.cd") == 0, "reads s[0..len) only");
		const char nul[] = "a@b.cd\0x";
		rc = jrn_email_normalize(nul, sizeof nul - 1, &b, &e);
		CHECK(rc < 0 && strstr(e.msg, "0x00"), "embedded NUL refused: %s", e.msg);
		jrn_buf_free(&b);

		char *heap = malloc(6);
		memcpy(heap, "a@b.cd", 6); /* no NUL: ASan/valgrind watch */
		rc = jrn_email_normalize(heap, 6, &b, &e);
		CHECK(rc == 0 && strcmp(b.p, "a@b.cd") == 0, "unterminated input");
		rc = jrn_email_normalize(heap, 4, &b, &e);
		CHECK(rc < 0, "unterminated, cut after the dot: %s", e.msg);
		memcpy(heap, "a@b.c.", 6);
		rc = jrn_email_normalize(heap, 6, &b, &e);
		CHECK(rc < 0, "unterminated, trailing dot: %s", e.msg);
		memcpy(heap, "a.@b.c", 6);
		rc = jrn_email_normalize(heap, 6, &b, &e);
		CHECK(rc < 0, "unterminated, dot before @: %s", e.msg);
		memcpy(heap, "ab@c.d", 6);
		rc = jrn_email_normalize(heap, 2, &b, &e);
		CHECK(rc < 0, "unterminated, no @ within len: %s", e.msg);
		free(heap);
		jrn_buf_free(&b);
	}
	return unit_done();
}
