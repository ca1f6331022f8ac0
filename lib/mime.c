/* mime.c: Internet messages for jrn-send (RFC 5322, 2045, 2046, 2047). */
#include <stdlib.h>
#include <string.h>

#include "mime.h"

static const char hexu[] = "0123456789ABCDEF";
static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Lines are kept to this many chars where they can be (RFC 5322 2.1.1). */
#define LINE_SOFT 78
/* An encoded-word is at most this long (RFC 2047 2). */
#define EW_MAX 75
/* "=?UTF-8?B?" and "?=" */
#define EW_OVERHEAD 12
/* The shortest first encoded-word: room for any one UTF-8 character. */
#define EW_MIN (EW_OVERHEAD + 12)

/* Puts out back to len bytes (after a failure) and returns -1. */
static int undo(jrn_buf *out, size_t len)
{
	out->len = len;
	if (out->p)
		out->p[len] = '\0';
	return -1;
}

/* Bytes in the UTF-8 character at s[i], or 1 when it is not one. */
static size_t char_len(const unsigned char *s, size_t i, size_t n)
{
	unsigned int c = s[i];
	size_t k;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 4;
	else
		return 1;
	if (k > n - i)
		return 1;
	for (size_t j = 1; j < k; j++)
		if ((s[i + j] & 0xC0) != 0x80)
			return 1;
	return k;
}

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Characters a Q encoded-word may hold as themselves anywhere, in a phrase
 * too (RFC 2047 5 (3)); a space becomes '_'. */
static bool q_plain(unsigned char c)
{
	return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_len(unsigned char c)
{
	return q_plain(c) || c == ' ' ? 1 : 3;
}

/* Writes the base64 of s[0..n) at o (no line breaks); returns the end. */
static char *b64_run(char *o, const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned int v = (unsigned int)s[i] << 16 | (unsigned int)s[i + 1] << 8 | s[i + 2];
		o[0] = b64[v >> 18];
		o[1] = b64[(v >> 12) & 63];
		o[2] = b64[(v >> 6) & 63];
		o[3] = b64[v & 63];
		o += 4;
	}
	if (i < n) {
		unsigned int v = (unsigned int)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned int)s[i + 1] << 8;
		o[0] = b64[v >> 18];
		o[1] = b64[(v >> 12) & 63];
		o[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		o[3] = '=';
		o += 4;
	}
	return o;
}

/* Appends s[0..n) (n > 0) as UTF-8 encoded-words, all B or all Q
 * whichever is shorter: the first at most first_max chars, the others at
 * most EW_MAX, with sep between them. 0 or -1 (out of memory). */
static int ew_append(jrn_buf *out, const unsigned char *s, size_t n, size_t first_max,
		     const char *sep)
{
	size_t qlen = 0;
	for (size_t i = 0; i < n; i++)
		qlen += q_len(s[i]);
	bool b = n / 3 * 4 + (n % 3 ? 4 : 0) < qlen;
	size_t seplen = strlen(sep), max = first_max, i = 0;

	while (i < n) {
		size_t room = max - EW_OVERHEAD, j = i, w = 0;
		while (j < n) {
			size_t k = char_len(s, j, n), nw;
			if (b) {
				nw = (j + k - i + 2) / 3 * 4;
			} else {
				nw = w;
				for (size_t t = 0; t < k; t++)
					nw += q_len(s[j + t]);
			}
			if (nw > room && j > i)
				break;
			w = nw;
			j += k;
		}
		if (jrn_buf_reserve(out, seplen + EW_OVERHEAD + w) < 0)
			return -1;
		char *o = out->p + out->len;
		if (i > 0) {
			memcpy(o, sep, seplen);
			o += seplen;
		}
		memcpy(o, b ? "=?UTF-8?B?" : "=?UTF-8?Q?", 10);
		o += 10;
		if (b) {
			o = b64_run(o, s + i, j - i);
		} else {
			for (size_t t = i; t < j; t++) {
				unsigned char c = s[t];
				if (q_plain(c)) {
					*o++ = (char)c;
				} else if (c == ' ') {
					*o++ = '_';
				} else {
					*o++ = '=';
					*o++ = hexu[c >> 4];
					*o++ = hexu[c & 15];
				}
			}
		}
		*o++ = '?';
		*o++ = '=';
		*o = '\0';
		out->len = (size_t)(o - out->p);
		i = j;
		max = EW_MAX;
	}
	return 0;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Writes (when write) or measures the printable ASCII v[0..len) after a
 * "Name: " of col chars, folding before a run of white space that leads a
 * word when the line would pass LINE_SOFT. Returns the longest line, or 0
 * when out of memory. */
static size_t fold_pass(jrn_buf *out, bool write, size_t col, const char *v, size_t len)
{
	size_t longest = col, i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && is_wsp(v[j]))
			j++;
		bool word = j < len;
		while (j < len && !is_wsp(v[j]))
			j++;
		/* v[i..j): white space then a word (or trailing white space) */
		if (i > 0 && word && is_wsp(v[i]) && col + (j - i) > LINE_SOFT) {
			if (write && jrn_buf_add(out, "\r\n", 2) < 0)
				return 0;
			col = 0;
		}
		if (write && jrn_buf_add(out, v + i, j - i) < 0)
			return 0;
		col += j - i;
		if (col > longest)
			longest = col;
		i = j;
	}
	return longest;
}

/* Appends "Name: value\r\n" with the printable ASCII value folded: 0, 1
 * (nothing written: a line would reach 998 octets) or -1 (out of memory). */
static int field_folded(jrn_buf *out, const char *name, const char *v, size_t len)
{
	size_t nl = strlen(name);
	if (fold_pass(NULL, false, nl + 2, v, len) > 996)
		return 1;
	size_t start = out->len;
	if (jrn_buf_reserve(out, nl + len + 4) < 0)
		return -1;
	memcpy(out->p + out->len, name, nl);
	memcpy(out->p + out->len + nl, ": ", 3);
	out->len += nl + 2;
	if (fold_pass(out, true, nl + 2, v, len) == 0 || jrn_buf_add(out, "\r\n", 2) < 0)
		return undo(out, start);
	return 0;
}

int jrn_mime_header(jrn_buf *out, const char *name, const char *value, size_t len)
{
	const unsigned char *v = (const unsigned char *)value;
	bool plain = true;
	for (size_t i = 0; i < len && plain; i++) {
		unsigned char c = v[i];
		if ((c < 0x20 && c != '\t') || c > 0x7E || (c == '=' && i + 1 < len && v[i + 1] == '?'))
			plain = false;
	}
	if (plain) {
		int r = field_folded(out, name, value, len);
		if (r <= 0)
			return r;
	}
	size_t start = out->len, nl = strlen(name);
	if (jrn_buf_add(out, name, nl) < 0 || jrn_buf_add(out, ": ", 2) < 0)
		return undo(out, start);
	size_t first = nl + 2 + EW_MIN > LINE_SOFT ? EW_MIN : LINE_SOFT - nl - 2;
	if (first > EW_MAX)
		first = EW_MAX;
	if (ew_append(out, v, len, first, "\r\n ") < 0 || jrn_buf_add(out, "\r\n", 2) < 0)
		return undo(out, start);
	return 0;
}

/* atext of RFC 5322 3.2.3 */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

int jrn_mime_address(jrn_buf *out, const char *display, const char *addr)
{
	size_t start = out->len;
	const unsigned char *d = (const unsigned char *)(display ? display : "");
	size_t dl = strlen((const char *)d);
	while (dl > 0 && is_wsp((char)d[dl - 1]))
		dl--;
	while (dl > 0 && is_wsp((char)*d))
		d++, dl--;
	if (!addr)
		addr = "";
	if (dl == 0)
		return jrn_buf_adds(out, addr) < 0 ? undo(out, start) : 0;

	bool atoms = true, ascii = true;
	for (size_t i = 0; i < dl; i++) {
		unsigned char c = d[i];
		if (c < 0x20 || c > 0x7E)
			ascii = false;
		else if (!(is_atext(c) || c == ' ') || (c == '=' && i + 1 < dl && d[i + 1] == '?'))
			atoms = false;
	}
	int r;
	if (!ascii) {
		r = ew_append(out, d, dl, 62, " ");
	} else if (atoms) {
		r = jrn_buf_add(out, d, dl);
	} else {
		r = jrn_buf_reserve(out, 2 * dl + 2);
		if (r == 0) {
			char *o = out->p + out->len;
			*o++ = '"';
			for (size_t i = 0; i < dl; i++) {
				if (d[i] == '"' || d[i] == '\\')
					*o++ = '\\';
				*o++ = (char)d[i];
			}
			*o++ = '"';
			*o = '\0';
			out->len = (size_t)(o - out->p);
		}
	}
	if (r < 0 || jrn_buf_add(out, " <", 2) < 0 || jrn_buf_adds(out, addr) < 0 ||
	    jrn_buf_addc(out, '>') < 0)
		return undo(out, start);
	return 0;
}

/* Whether s[j..n) starts with a line break or is empty. */
static bool at_break(const unsigned char *s, size_t j, size_t n)
{
	return j == n || s[j] == '\n' || (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n');
}

/* Printable ASCII that quoted-printable keeps as is anywhere in a line. */
static inline bool qp_safe(unsigned char c)
{
	return c > 0x20 && c < 0x7F && c != '=' && c != '.';
}

int jrn_mime_qp(jrn_buf *out, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	/* At most 3 chars a byte, and a 3-char soft break per 63 chars. */
	if (n > (SIZE_MAX / 2 - 64) / 4 || jrn_buf_reserve(out, 4 * n + 16) < 0)
		return -1;
	char *o = out->p + out->len;
	size_t col = 0, i = 0;
	while (i < n) {
		/* the common case: a run of plain characters well inside a line */
		while (i < n && col < 75 &&
		       (qp_safe(s[i]) || (s[i] == ' ' && i + 1 < n && qp_safe(s[i + 1])))) {
			*o++ = (char)s[i++];
			col++;
		}
		if (i == n)
			break;
		unsigned char c = s[i];
		if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
			*o++ = '\r';
			*o++ = '\n';
			col = 0;
			i += c == '\r' ? 2 : 1;
			continue;
		}
		size_t k = 1;
		bool lit;
		if (c >= 0x80)
			k = char_len(s, i, n), lit = false;
		else if (c == ' ' || c == '\t')
			lit = !at_break(s, i + 1, n);
		else
			lit = c > 0x20 && c < 0x7F && c != '=' && !(c == '.' && col == 0);
		size_t w = lit ? 1 : 3 * k;
		if (col + w > (at_break(s, i + k, n) ? 76 : 75)) {
			*o++ = '=';
			*o++ = '\r';
			*o++ = '\n';
			col = 0;
			if (c == '.')
				lit = false, w = 3;
		}
		if (lit) {
			*o++ = (char)c;
		} else {
			for (size_t t = 0; t < k; t++) {
				*o++ = '=';
				*o++ = hexu[s[i + t] >> 4];
				*o++ = hexu[s[i + t] & 15];
			}
		}
		col += w;
		i += k;
	}
	*o = '\0';
	out->len = (size_t)(o - out->p);
	return 0;
}

int jrn_mime_base64(jrn_buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;
	if (n > SIZE_MAX / 4)
		return -1;
	size_t chars = (n + 2) / 3 * 4, lines = (chars + 75) / 76;
	if (jrn_buf_reserve(out, chars + 2 * lines) < 0)
		return -1;
	char *o = out->p + out->len;
	/* 57 bytes make one line of 76 chars */
	for (size_t i = 0; i < n; i += 57) {
		o = b64_run(o, s + i, n - i < 57 ? n - i : 57);
		*o++ = '\r';
		*o++ = '\n';
	}
	*o = '\0';
	out->len = (size_t)(o - out->p);
	return 0;
}

/* Whether c may appear in an addr-spec as written here (no quoted local
 * parts or domain literals). */
static bool addr_char(unsigned char c)
{
	return c > 0x20 && c < 0x7F && !strchr("<>()[],;:\\\"", c);
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int jrn_mime_parse_mailbox(const char *s, char **display, char **addr, jrn_err *e)
{
	*display = *addr = NULL;
	if (!s)
		s = "";
	size_t n = strlen(s), i = 0;
	while (i < n && (is_wsp(s[i]) || s[i] == '\r' || s[i] == '\n'))
		i++;
	while (n > i && (is_wsp(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	const char *a = s + i, *d = NULL;
	size_t al = n - i, dl = 0;
	if (al == 0)
		return jrn_fail(e, "empty address");

	if (a[al - 1] == '>') {
		/* the last '<' outside a quoted string */
		size_t lt = al;
		bool quoted = false;
		for (size_t k = 0; k + 1 < al; k++) {
			if (quoted && a[k] == '\\' && k + 2 < al)
				k++;
			else if (a[k] == '"')
				quoted = !quoted;
			else if (!quoted && a[k] == '<')
				lt = k;
		}
		if (lt == al)
			return jrn_fail(e, "no '<' before '>' in \"%s\"", s);
		d = a;
		dl = lt;
		a += lt + 1;
		al -= lt + 2;
		while (dl > 0 && is_wsp(d[dl - 1]))
			dl--;
		while (al > 0 && is_wsp(a[0]))
			a++, al--;
		while (al > 0 && is_wsp(a[al - 1]))
			al--;
	}

	if (al == 0)
		return jrn_fail(e, "no address in \"%s\"", s);
	const char *at = NULL;
	for (size_t k = 0; k < al; k++) {
		if (!addr_char((unsigned char)a[k]))
			return jrn_fail(e, "\"%.*s\" is not an e-mail address: bad character at %zu",
					(int)al, a, k + 1);
		if (a[k] == '@')
			at = a + k;
	}
	if (!at)
		return jrn_fail(e, "\"%.*s\" is not an e-mail address: no '@'", (int)al, a);
	size_t ll = (size_t)(at - a), domlen = al - ll - 1;
	if (ll == 0 || domlen == 0 || memchr(a, '@', ll) || at[1] == '.' || at[domlen] == '.' ||
	    a[0] == '.' || a[ll - 1] == '.')
		return jrn_fail(e, "\"%.*s\" is not an e-mail address", (int)al, a);

	*addr = dup_n(a, al);
	if (!*addr)
		return jrn_fail(e, "out of memory");
	if (dl > 0) {
		char *p = malloc(dl + 1);
		if (!p) {
			free(*addr);
			*addr = NULL;
			return jrn_fail(e, "out of memory");
		}
		size_t o = 0;
		if (dl >= 2 && d[0] == '"' && d[dl - 1] == '"') {
			for (size_t k = 1; k + 1 < dl; k++) {
				if (d[k] == '\\' && k + 2 < dl)
					k++;
				p[o++] = d[k];
			}
		} else {
			memcpy(p, d, dl);
			o = dl;
		}
		p[o] = '\0';
		*display = p;
	}
	return 0;
}

size_t jrn_mime_date(int64_t ms, char out[40])
{
	static const char wdays[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t secs = ms / 1000 - (ms % 1000 < 0);
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0)
		rem += 86400, days--;
	int64_t y;
	int m, d;
	jrn_civil_from_days(days, &y, &m, &d);
	int wd = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	int len = snprintf(out, 40, "%.3s, %02d %.3s %04lld %02d:%02d:%02d +0000",
			   wdays + 3 * wd, (int)d, months + 3 * (m - 1), (long long)y,
			   (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	return len < 0 ? 0 : (size_t)len;
}

/* ---- the message ---------------------------------------------------------- */

/* Checks a structured field value the caller formatted: printable ASCII. */
static int check_ascii(const char *field, const char *v, jrn_err *e)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p > 0x7E)
			return jrn_fail(e, "%s: byte %zu is not printable ASCII (%s)", field,
					(size_t)(p - (const unsigned char *)v) + 1,
					*p == '\r' || *p == '\n' ? "a line break" : "encode it first");
	return 0;
}

static int check_utf8(const char *what, const char *s, size_t n, jrn_err *e)
{
	size_t bad = jrn_utf8_invalid_at(s, n);
	if (bad < n)
		return jrn_fail(e, "%s is not UTF-8 at byte %zu", what, bad + 1);
	return 0;
}

/* Appends a structured field the caller formatted, folded: 0 or -1 with e. */
static int field_struct(jrn_buf *out, const char *name, const char *v, jrn_err *e)
{
	int r = field_folded(out, name, v, strlen(v));
	if (r < 0)
		return jrn_fail(e, "out of memory");
	if (r > 0)
		return jrn_fail(e, "%s: a word too long for a line of 998 octets", name);
	return 0;
}

/* Whether the body s[0..n) goes quoted-printable: 90% of its bytes ASCII. */
static bool mostly_ascii(const char *s, size_t n)
{
	size_t high = 0;
	for (size_t i = 0; i < n; i++)
		high += (unsigned char)s[i] >> 7;
	return high * 10 <= n;
}

/* Appends a part's Content-Type and Content-Transfer-Encoding fields. */
static int part_fields(jrn_buf *out, const char *subtype, bool qp)
{
	return jrn_buf_addf(out,
			    "Content-Type: text/%s; charset=UTF-8\r\n"
			    "Content-Transfer-Encoding: %s\r\n",
			    subtype, qp ? "quoted-printable" : "base64");
}

/* Appends the body s[0..n) quoted-printable or base64 and sets [*from,
 * *to) to the span it took in out. 0 or -1 (out of memory). */
static int part_body(jrn_buf *out, const char *s, size_t n, bool qp, size_t *from, size_t *to)
{
	*from = out->len;
	int r = qp ? jrn_mime_qp(out, s, n) : jrn_mime_base64(out, s, n);
	*to = out->len;
	return r;
}

static bool occurs(const jrn_buf *out, size_t from, size_t to, const char *needle, size_t nl)
{
	return to > from && memmem(out->p + from, to - from, needle, nl) != NULL;
}

int jrn_mime_build(jrn_buf *out, const jrn_mime_msg *m, jrn_err *e)
{
	if (!m->from || !m->to)
		return jrn_fail(e, "a message needs From and To");
	if (!m->text)
		return jrn_fail(e, "a message needs a text body");
	size_t tn = strlen(m->text), hn = m->html ? strlen(m->html) : 0;
	if (check_utf8("the text body", m->text, tn, e) < 0 ||
	    (m->html && check_utf8("the HTML body", m->html, hn, e) < 0) ||
	    (m->subject && check_utf8("the subject", m->subject, strlen(m->subject), e) < 0) ||
	    check_ascii("From", m->from, e) < 0 || check_ascii("To", m->to, e) < 0 ||
	    (m->reply_to && check_ascii("Reply-To", m->reply_to, e) < 0) ||
	    (m->message_id && check_ascii("Message-ID", m->message_id, e) < 0) ||
	    (m->list_unsubscribe && check_ascii("List-Unsubscribe", m->list_unsubscribe, e) < 0))
		return -1;
	for (const char *const *x = m->extra; x && x[0]; x += 2) {
		if (!x[1])
			return jrn_fail(e, "field %s has no value", x[0]);
		if (!x[0][0] || strlen(x[0]) > 76)
			return jrn_fail(e, "bad field name \"%s\"", x[0]);
		for (const unsigned char *p = (const unsigned char *)x[0]; *p; p++)
			if (*p <= 0x20 || *p >= 0x7F || *p == ':')
				return jrn_fail(e, "bad field name \"%s\"", x[0]);
		if (check_utf8(x[0], x[1], strlen(x[1]), e) < 0)
			return -1;
	}

	bool tqp = mostly_ascii(m->text, tn), hqp = m->html && mostly_ascii(m->html, hn);
	char boundary[48] = "";
	char th[65], hh[65];
	if (m->html && (jrn_sha256_hex(m->text, tn, th) < 0 || jrn_sha256_hex(m->html, hn, hh) < 0))
		return jrn_fail(e, "SHA-256 failed");

	size_t start = out->len;
	for (unsigned int salt = 0;; salt++) {
		if (m->html) {
			char seed[200], hex[65];
			int sl = snprintf(seed, sizeof seed, "%s %s %u", th, hh, salt);
			if (salt == 8 || jrn_sha256_hex(seed, (size_t)sl, hex) < 0) {
				undo(out, start);
				return jrn_fail(e, "no MIME boundary found");
			}
			snprintf(boundary, sizeof boundary, "=_jrn_%.32s", hex);
		}
		char date[40];
		jrn_mime_date(m->date_ms, date);
		if (jrn_buf_adds(out, "Date: ") < 0 || jrn_buf_adds(out, date) < 0 ||
		    jrn_buf_add(out, "\r\n", 2) < 0)
			goto oom;
		if (field_struct(out, "From", m->from, e) < 0 || field_struct(out, "To", m->to, e) < 0 ||
		    (m->reply_to && field_struct(out, "Reply-To", m->reply_to, e) < 0) ||
		    (m->message_id && field_struct(out, "Message-ID", m->message_id, e) < 0))
			return undo(out, start);
		if (m->subject && jrn_mime_header(out, "Subject", m->subject, strlen(m->subject)) < 0)
			goto oom;
		if (jrn_buf_adds(out, "MIME-Version: 1.0\r\n") < 0)
			goto oom;
		if (m->list_unsubscribe) {
			if (field_struct(out, "List-Unsubscribe", m->list_unsubscribe, e) < 0)
				return undo(out, start);
			if (m->one_click &&
			    jrn_buf_adds(out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") < 0)
				goto oom;
		}
		for (const char *const *x = m->extra; x && x[0]; x += 2)
			if (jrn_mime_header(out, x[0], x[1], strlen(x[1])) < 0)
				goto oom;

		size_t f1, t1, f2 = 0, t2 = 0;
		if (!m->html) {
			if (part_fields(out, "plain", tqp) < 0 || jrn_buf_add(out, "\r\n", 2) < 0 ||
			    part_body(out, m->text, tn, tqp, &f1, &t1) < 0)
				goto oom;
			if (t1 > f1 && out->p[t1 - 1] != '\n' && jrn_buf_add(out, "\r\n", 2) < 0)
				goto oom;
			return 0;
		}
		if (jrn_buf_addf(out,
				 "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n"
				 "This is a multi-part message in MIME format.\r\n"
				 "--%s\r\n", boundary, boundary) < 0 ||
		    part_fields(out, "plain", tqp) < 0 || jrn_buf_add(out, "\r\n", 2) < 0 ||
		    part_body(out, m->text, tn, tqp, &f1, &t1) < 0 ||
		    jrn_buf_addf(out, "%s--%s\r\n", tqp || t1 == f1 ? "\r\n" : "", boundary) < 0 ||
		    part_fields(out, "html", hqp) < 0 || jrn_buf_add(out, "\r\n", 2) < 0 ||
		    part_body(out, m->html, hn, hqp, &f2, &t2) < 0 ||
		    jrn_buf_addf(out, "%s--%s--\r\n", hqp || t2 == f2 ? "\r\n" : "", boundary) < 0)
			goto oom;
		size_t bl = strlen(boundary);
		if (!occurs(out, f1, t1, boundary, bl) && !occurs(out, f2, t2, boundary, bl))
			return 0;
		undo(out, start);
	}
oom:
	undo(out, start);
	return jrn_fail(e, "out of memory");
}
