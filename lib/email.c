/* email.c: e-mail address normalisation.
 *
 * Accepts the addr-spec subset that mail providers hand out (RFC 5321/5322
 * dot-atom local part, a host name domain, UTF-8 per RFC 6531) and refuses
 * the legal rarities nobody types on purpose: quoted local parts, comments,
 * IP literals, single-label domains. */
#include <string.h>

#include "jrn.h"

#define BAD "not an e-mail address: "

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 5322 atext, plus every non-ASCII byte (RFC 6531; the caller checks
 * that the bytes are UTF-8). */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || c >= 0x80 || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

static int bad_char(jrn_err *e, unsigned char c, const char *where)
{
	if (is_space(c))
		return jrn_fail(e, BAD "white space inside the %s", where);
	if (c > ' ' && c < 0x7f)
		return jrn_fail(e, BAD "bad character '%c' in the %s", c, where);
	return jrn_fail(e, BAD "bad character 0x%02X in the %s", c, where);
}

static int check_local(const unsigned char *p, size_t n, jrn_err *e)
{
	if (n == 0)
		return jrn_fail(e, BAD "empty local part (before '@')");
	if (n > 64)
		return jrn_fail(e, BAD "local part longer than 64 octets");
	if (p[0] == '.')
		return jrn_fail(e, BAD "local part starts with a dot");
	if (p[n - 1] == '.')
		return jrn_fail(e, BAD "local part ends with a dot");
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (p[i + 1] == '.')
				return jrn_fail(e, BAD "local part has consecutive dots");
		} else if (p[i] == '"') {
			return jrn_fail(e, BAD "quoted local parts are not supported");
		} else if (p[i] == '(' || p[i] == ')') {
			return jrn_fail(e, BAD "comments are not supported");
		} else if (!is_atext(p[i])) {
			return bad_char(e, p[i], "local part");
		}
	}
	return 0;
}

static int check_domain(const unsigned char *p, size_t n, jrn_err *e)
{
	if (n == 0)
		return jrn_fail(e, BAD "empty domain (after '@')");
	if (p[0] == '[')
		return jrn_fail(e, BAD "IP address literals are not supported");
	if (n > 253)
		return jrn_fail(e, BAD "domain longer than 253 octets");
	if (p[n - 1] == '.')
		return jrn_fail(e, BAD "domain ends with a dot");
	size_t labels = 0;
	bool all_digits = true;
	for (size_t i = 0; i <= n; i++) {
		/* one label: p[i..j) */
		size_t j = i;
		all_digits = true;
		for (; j < n && p[j] != '.'; j++) {
			if (!is_alnum(p[j]) && p[j] != '-' && p[j] < 0x80)
				return bad_char(e, p[j], "domain");
			if (p[j] < '0' || p[j] > '9')
				all_digits = false;
		}
		if (j == i)
			return jrn_fail(e, BAD "empty label in the domain");
		if (j - i > 63)
			return jrn_fail(e, BAD "domain label longer than 63 octets");
		if (p[i] == '-' || p[j - 1] == '-')
			return jrn_fail(e, BAD "domain label %s with '-'",
					p[i] == '-' ? "starts" : "ends");
		labels++;
		i = j;
	}
	if (labels < 2)
		return jrn_fail(e, BAD "domain needs a dot (at least two labels)");
	if (all_digits)
		return jrn_fail(e, BAD "top-level domain is all digits");
	return 0;
}

int jrn_email_normalize(const char *s, size_t len, jrn_buf *out, jrn_err *e)
{
	const unsigned char *p = (const unsigned char *)s;
	while (len && is_space(p[0]))
		p++, len--;
	while (len && is_space(p[len - 1]))
		len--;
	if (len == 0)
		return jrn_fail(e, BAD "empty");
	if (jrn_utf8_invalid_at((const char *)p, len) != len)
		return jrn_fail(e, BAD "not valid UTF-8");

	const unsigned char *at = memchr(p, '@', len);
	if (!at)
		return jrn_fail(e, BAD "no '@'");
	size_t llen = (size_t)(at - p), dlen = len - llen - 1;
	if (memchr(at + 1, '@', dlen))
		return jrn_fail(e, BAD "more than one '@'");
	if (check_local(p, llen, e) < 0 || check_domain(at + 1, dlen, e) < 0)
		return -1;
	/* Checked after the parts so that the reason names the part at
	 * fault when there is one. */
	if (len > 254)
		return jrn_fail(e, BAD "address longer than 254 octets");

	if (jrn_buf_reserve(out, len) < 0)
		return jrn_fail(e, "out of memory");
	char *w = out->p + out->len;
	for (size_t i = 0; i < len; i++)
		w[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + ('a' - 'A') : p[i]);
	out->len += len;
	out->p[out->len] = '\0';
	return 0;
}
