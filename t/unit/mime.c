/* Unit tests of mime.c: quoted-printable, base64, RFC 2047 encoded-words,
 * addresses, mailboxes from config files, dates and whole messages. The
 * decoders below are test-only and strict, so a malformed encoding fails. */
#include <stdlib.h>

#include "mime.h"
#include "unit.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* lower case is not what we write */
}

/* Decodes quoted-printable s[0..n) into out, CRLF to LF; -1 when malformed
 * (a bad =XX, a bare CR or LF, a line over 76 chars). */
static int qp_decode(const char *s, size_t n, jrn_buf *out)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				return -1;
			jrn_buf_addc(out, '\n');
			i++;
			col = 0;
			continue;
		}
		if (s[i] == '\n')
			return -1;
		if (++col > 76)
			return -1;
		if (s[i] == '=') {
			if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
				i += 2;
				col = 0;
				continue;
			}
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return -1;
			jrn_buf_addc(out, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
			col += 2;
			if (col > 76)
				return -1;
			continue;
		}
		jrn_buf_addc(out, s[i]);
	}
	return 0;
}

static int b64val(char c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;
	return p ? (int)(p - a) : -1;
}

/* Decodes base64 s[0..n), skipping CRLF; -1 when malformed. */
static int b64_decode(const char *s, size_t n, jrn_buf *out)
{
	int q[4], k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			q[k++] = -2;
		} else {
			int v = b64val(s[i]);
			if (v < 0)
				return -1;
			q[k++] = v;
		}
		if (k == 4) {
			if (q[0] < 0 || q[1] < 0 || (q[2] == -2 && q[3] != -2))
				return -1;
			jrn_buf_addc(out, (char)(q[0] << 2 | q[1] >> 4));
			if (q[2] >= 0)
				jrn_buf_addc(out, (char)((q[1] & 15) << 4 | q[2] >> 2));
			if (q[3] >= 0)
				jrn_buf_addc(out, (char)((q[2] & 3) << 6 | q[3]));
			k = 0;
		}
	}
	return k == 0 ? 0 : -1;
}

/* What ew_decode saw. */
static int ew_words, ew_longest, ew_bad_word;

/* Decodes an unfolded header value: encoded-words (UTF-8, B or Q) and
 * plain text, white space between adjacent encoded-words dropped. Each
 * word must be <= 75 chars and decode alone to valid UTF-8, else
 * ew_bad_word is set. Returns a malloc'd string or NULL when malformed. */
static char *ew_decode(const char *v)
{
	jrn_buf out = {0}, ws = {0};
	bool prev_ew = false;
	ew_words = ew_longest = ew_bad_word = 0;
	jrn_buf_adds(&out, "");
	while (*v) {
		if (*v == ' ' || *v == '\t') {
			jrn_buf_addc(&ws, *v++);
			continue;
		}
		const char *end = NULL;
		if (strncmp(v, "=?UTF-8?", 8) == 0 && (v[8] == 'B' || v[8] == 'Q') && v[9] == '?')
			end = strstr(v + 10, "?=");
		if (!end) {
			if (ws.len)
				jrn_buf_add(&out, ws.p, ws.len);
			jrn_buf_reset(&ws);
			while (*v && *v != ' ' && *v != '\t')
				jrn_buf_addc(&out, *v++);
			prev_ew = false;
			continue;
		}
		if (!prev_ew && ws.len)
			jrn_buf_add(&out, ws.p, ws.len);
		jrn_buf_reset(&ws);
		int wlen = (int)(end + 2 - v);
		ew_words++;
		if (wlen > ew_longest)
			ew_longest = wlen;
		jrn_buf word = {0};
		int r = 0;
		if (v[8] == 'B') {
			r = b64_decode(v + 10, (size_t)(end - v - 10), &word);
		} else {
			for (const char *p = v + 10; p < end && r == 0; p++) {
				if (*p == '_') {
					jrn_buf_addc(&word, ' ');
				} else if (*p == '=') {
					if (hexval(p[1]) < 0 || hexval(p[2]) < 0)
						r = -1;
					else
						jrn_buf_addc(&word, (char)(hexval(p[1]) * 16 + hexval(p[2])));
					p += 2;
				} else if (*p == ' ' || *p == '?') {
					r = -1;
				} else {
					jrn_buf_addc(&word, *p);
				}
			}
		}
		jrn_buf_addc(&word, 0);
		word.len--;
		if (r < 0) {
			jrn_buf_free(&word);
			jrn_buf_free(&out);
			jrn_buf_free(&ws);
			return NULL;
		}
		if (wlen > 75 || jrn_utf8_invalid_at(word.p, word.len) < word.len)
			ew_bad_word = 1;
		jrn_buf_add(&out, word.p, word.len);
		jrn_buf_free(&word);
		v = end + 2;
		prev_ew = true;
	}
	if (ws.len)
		jrn_buf_add(&out, ws.p, ws.len);
	jrn_buf_free(&ws);
	return out.p;
}

/* Removes the CRLF of folding; returns a malloc'd copy. */
static char *unfold(const char *s, size_t n)
{
	char *u = malloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 2 < n && s[i + 1] == '\n' && (s[i + 2] == ' ' || s[i + 2] == '\t'))
			i++;
		else
			u[o++] = s[i];
	}
	u[o] = 0;
	return u;
}

/* Checks that every line of s[0..n) ends in CRLF (no bare CR or LF), but
 * for a last line without one, and returns the longest line without its
 * CRLF, or (size_t)-1 when a CR or LF is bare. */
static size_t longest_line(const char *s, size_t n)
{
	size_t longest = 0, col = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				return (size_t)-1;
			if (col > longest)
				longest = col;
			col = 0;
			i++;
		} else if (s[i] == '\n') {
			return (size_t)-1;
		} else {
			col++;
		}
	}
	return col > longest ? col : longest;
}

/* Whether buf ends in CRLF. */
static bool ends_crlf(const jrn_buf *b)
{
	return b->len >= 2 && b->p[b->len - 2] == '\r' && b->p[b->len - 1] == '\n';
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

static jrn_buf qp_buf;
static const char *qp(const char *s)
{
	jrn_buf_reset(&qp_buf);
	jrn_buf_adds(&qp_buf, "");
	if (jrn_mime_qp(&qp_buf, s, strlen(s)) < 0)
		return "(failed)";
	return qp_buf.p;
}

/* qp_buf decodes back to want (LF line breaks). */
static bool qp_round(const char *want)
{
	jrn_buf d = {0};
	jrn_buf_adds(&d, "");
	bool ok = qp_decode(qp_buf.p, qp_buf.len, &d) == 0 && d.len == strlen(want) &&
		  memcmp(d.p, want, d.len) == 0;
	jrn_buf_free(&d);
	return ok;
}

static const char *b64s(const char *s)
{
	jrn_buf_reset(&qp_buf);
	jrn_buf_adds(&qp_buf, "");
	if (jrn_mime_base64(&qp_buf, s, strlen(s)) < 0)
		return "(failed)";
	return qp_buf.p;
}

static jrn_buf hb;
static const char *hdr(const char *name, const char *v)
{
	jrn_buf_reset(&hb);
	jrn_buf_adds(&hb, "");
	if (jrn_mime_header(&hb, name, v, strlen(v)) < 0)
		return "(failed)";
	return hb.p;
}

/* The value of hb ("Name: value\r\n") unfolded and decoded, checked. */
static bool hdr_decodes_to(const char *name, const char *want)
{
	size_t nl = strlen(name);
	if (hb.len < nl + 4 || memcmp(hb.p, name, nl) != 0 || memcmp(hb.p + nl, ": ", 2) != 0 ||
	    memcmp(hb.p + hb.len - 2, "\r\n", 2) != 0)
		return false;
	char *u = unfold(hb.p + nl + 2, hb.len - nl - 4);
	char *d = ew_decode(u);
	bool ok = d && strcmp(d, want) == 0 && !ew_bad_word;
	if (!ok)
		printf("#   decoded '%s'\n", d ? d : "(malformed)");
	free(u);
	free(d);
	return ok;
}

static const char *addr(const char *display, const char *a)
{
	jrn_buf_reset(&hb);
	jrn_buf_adds(&hb, "");
	if (jrn_mime_address(&hb, display, a) < 0)
		return "(failed)";
	return hb.p;
}

static char *pm_display, *pm_addr;
static jrn_err pm_err;
static int pm(const char *s)
{
	free(pm_display);
	free(pm_addr);
	pm_err.msg[0] = 0;
	return jrn_mime_parse_mailbox(s, &pm_display, &pm_addr, &pm_err);
}

static const char *date_of(const char *rfc3339)
{
	static char out[40];
	int64_t ms = 0;
	jrn_err e;
	if (jrn_time_parse(rfc3339, strlen(rfc3339), 0, &ms, &e) < 0)
		return "(bad time)";
	jrn_mime_date(ms, out);
	return out;
}

/* The header section of a built message (up to the blank line), with
 * "\r\nName:" searchable: returns the unfolded value of field name or NULL. */
static char *field(const jrn_buf *msg, const char *name)
{
	const char *end = strstr(msg->p, "\r\n\r\n");
	if (!end)
		return NULL;
	size_t nl = strlen(name);
	for (const char *p = msg->p; p && p < end; p = strstr(p, "\r\n"), p = p ? p + 2 : p) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			const char *q = v;
			while (!(q[0] == '\r' && q[1] == '\n' && q[2] != ' ' && q[2] != '\t'))
				q++;
			return unfold(v, (size_t)(q - v));
		}
	}
	return NULL;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_qp(void)
{
	CHECK_STR(qp("Hello, world!"), "Hello, world!", "QP: plain ASCII as is");
	CHECK_STR(qp(""), "", "QP: empty");
	CHECK_STR(qp("a=b"), "a=3Db", "QP: '=' encoded");
	CHECK_STR(qp("="), "=3D", "QP: a lone '='");
	CHECK_STR(qp("end  \nnext"), "end =20\r\nnext", "QP: trailing space before LF encoded, the one before not");
	CHECK_STR(qp("tab\t\r\nx"), "tab=09\r\nx", "QP: trailing tab before CRLF encoded");
	CHECK_STR(qp("last "), "last=20", "QP: trailing space at the end encoded");
	CHECK_STR(qp("a b\tc"), "a b\tc", "QP: inner space and tab literal");
	CHECK_STR(qp("Gr\xc3\xbc\xc3\x9f" "e"), "Gr=C3=BC=C3=9Fe", "QP: UTF-8 Gruesse");
	CHECK_STR(qp("one\ntwo\n"), "one\r\ntwo\r\n", "QP: LF becomes CRLF");
	CHECK_STR(qp("one\r\ntwo\r\n"), "one\r\ntwo\r\n", "QP: CRLF stays CRLF");
	CHECK_STR(qp("a\rb"), "a=0Db", "QP: a lone CR encoded");
	CHECK_STR(qp("\n\n"), "\r\n\r\n", "QP: empty lines");
	CHECK_STR(qp(".\n.x"), "=2E\r\n=2Ex", "QP: a dot starting a line encoded");
	CHECK_STR(qp("a.b"), "a.b", "QP: a dot inside a line literal");
	CHECK_STR(qp("\x01\x7f"), "=01=7F", "QP: controls encoded");

	char *s = rep("a", 200);
	qp(s);
	CHECK(longest_line(qp_buf.p, qp_buf.len) <= 76,
	      "QP: 200-char line: every line <= 76");
	CHECK(count(qp_buf.p, "=\r\n") == 2, "QP: 200-char line: two soft breaks (%zu)", count(qp_buf.p, "=\r\n"));
	CHECK(qp_round(s), "QP: 200-char line decodes back");
	free(s);

	s = rep("a", 76);
	CHECK_STR(qp(s), s, "QP: 76 chars then the end: no soft break");
	free(s);
	s = rep("a", 77);
	qp(s);
	CHECK(count(qp_buf.p, "=\r\n") == 1 && qp_round(s), "QP: 77 chars: one soft break");
	free(s);
	s = rep("a", 76);
	char *s2 = malloc(80);
	snprintf(s2, 80, "%s\n", s);
	qp(s2);
	CHECK(count(qp_buf.p, "=\r\n") == 0 && qp_round(s2), "QP: 76 chars then LF: no soft break");
	free(s);
	free(s2);
	s = rep("a", 74);
	s2 = malloc(80);
	snprintf(s2, 80, "%s=", s);
	qp(s2);
	CHECK(count(qp_buf.p, "=\r\n") == 1 && longest_line(qp_buf.p, qp_buf.len) <= 76 &&
	      strstr(qp_buf.p, "=\r\n=3D") && qp_round(s2), "QP: =3D not split at the line end");
	snprintf(s2, 80, "%.75s ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	qp(s2);
	CHECK(longest_line(qp_buf.p, qp_buf.len) <= 76 && qp_round(s2), "QP: encoded trailing space at column 76");
	free(s);
	free(s2);

	s = rep("\xc3\xa9", 200);
	qp(s);
	bool lines_ok = longest_line(qp_buf.p, qp_buf.len) <= 76;
	/* every line decodes alone to whole characters */
	bool whole = true;
	for (const char *p = qp_buf.p; *p;) {
		const char *q = strstr(p, "\r\n");
		if (!q)
			q = p + strlen(p);
		jrn_buf d = {0};
		jrn_buf_adds(&d, "");
		qp_decode(p, (size_t)(q - p), &d);
		if (jrn_utf8_invalid_at(d.p, d.len) < d.len)
			whole = false;
		jrn_buf_free(&d);
		p = *q ? q + 2 : q;
	}
	CHECK(lines_ok && whole && qp_round(s), "QP: 200 x e-acute: lines <= 76, no character split, decodes back");
	free(s);

	/* pseudo-random text: lines <= 76, decodes back */
	bool all = true;
	unsigned int seed = 12345;
	char text[600];
	for (int round = 0; round < 300 && all; round++) {
		size_t n = 0, len = (size_t)(round * 2);
		while (n < len) {
			seed = seed * 1103515245 + 12345;
			unsigned int r = (seed >> 16) % 20;
			const char *pick = r < 8 ? "a" : r < 10 ? " " : r < 11 ? "\t" : r < 12 ? "\n" :
					   r < 13 ? "=" : r < 14 ? "." : r < 16 ? "\xc3\xa9" :
					   r < 17 ? "\xe2\x82\xac" : r < 18 ? "\xf0\x9f\x98\x80" : "z";
			size_t k = strlen(pick);
			if (n + k > len)
				break;
			memcpy(text + n, pick, k);
			n += k;
		}
		text[n] = 0;
		qp(text);
		if (longest_line(qp_buf.p, qp_buf.len) > 76)
			all = false;
		size_t col = 0;
		for (size_t i = 0; i < qp_buf.len; i++) {
			if (qp_buf.p[i] == '\r')
				col = 0, i++;
			else if (++col > 76)
				all = false;
		}
		if (!qp_round(text))
			all = false, printf("#   round %d: '%s'\n", round, text);
	}
	CHECK(all, "QP: 300 mixed texts: lines <= 76, decode back");
}

static void test_base64(void)
{
	CHECK_STR(b64s(""), "", "base64: empty");
	CHECK_STR(b64s("f"), "Zg==\r\n", "base64: f");
	CHECK_STR(b64s("fo"), "Zm8=\r\n", "base64: fo");
	CHECK_STR(b64s("foo"), "Zm9v\r\n", "base64: foo");
	CHECK_STR(b64s("foob"), "Zm9vYg==\r\n", "base64: foob");
	CHECK_STR(b64s("fooba"), "Zm9vYmE=\r\n", "base64: fooba");
	CHECK_STR(b64s("foobar"), "Zm9vYmFy\r\n", "base64: foobar");

	unsigned char bytes[1000];
	for (int i = 0; i < 1000; i++)
		bytes[i] = (unsigned char)(i * 7 + 3);
	jrn_buf_reset(&qp_buf);
	CHECK(jrn_mime_base64(&qp_buf, bytes, sizeof bytes) == 0, "base64: 1000 bytes");
	bool lines76 = true;
	size_t nlines = 0;
	for (const char *p = qp_buf.p; *p; nlines++) {
		const char *q = strstr(p, "\r\n");
		if (!q || (q[2] && q - p != 76) || q - p > 76)
			lines76 = false;
		if (!q)
			break;
		p = q + 2;
	}
	CHECK(lines76 && nlines == 18 && longest_line(qp_buf.p, qp_buf.len) == 76,
	      "base64: 1000 bytes in 17 lines of 76 and a shorter one (%zu lines)", nlines);
	jrn_buf d = {0};
	CHECK(b64_decode(qp_buf.p, qp_buf.len, &d) == 0 && d.len == 1000 && memcmp(d.p, bytes, 1000) == 0,
	      "base64: 1000 bytes decode back");
	jrn_buf_free(&d);
	jrn_buf_reset(&qp_buf);
	jrn_mime_base64(&qp_buf, bytes, 57);
	CHECK(qp_buf.len == 78 && longest_line(qp_buf.p, qp_buf.len) == 76, "base64: 57 bytes make exactly one line");
}

static void test_header(void)
{
	CHECK_STR(hdr("Subject", "Hello world"), "Subject: Hello world\r\n", "header: ASCII as is");
	CHECK_STR(hdr("Subject", ""), "Subject: \r\n", "header: empty value");
	CHECK_STR(hdr("X-Jrn-Campaign", "spring-sale"), "X-Jrn-Campaign: spring-sale\r\n", "header: X- field");

	char *s = rep("word ", 40);
	s[strlen(s) - 1] = 0;
	hdr("Subject", s);
	CHECK(longest_line(hb.p, hb.len) <= 78 && count(hb.p, "\r\n") > 1, "header: long ASCII folds at spaces, lines <= 78");
	char *u = unfold(hb.p, hb.len - 2);
	CHECK(strncmp(u, "Subject: ", 9) == 0 && strcmp(u + 9, s) == 0, "header: long ASCII unfolds to itself");
	CHECK(!strstr(hb.p, "=?"), "header: long ASCII not encoded");
	free(u);
	free(s);

	const char *koeln = "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln";
	hdr("Subject", koeln);
	CHECK(strstr(hb.p, "=?UTF-8?") != NULL, "header: non-ASCII gets encoded-words: %.*s", (int)hb.len - 2, hb.p);
	CHECK(hdr_decodes_to("Subject", koeln), "header: Gruesse aus Koeln decodes back");
	CHECK(longest_line(hb.p, hb.len) <= 78, "header: short non-ASCII on one line");

	const char *juergen = "Hello J\xc3\xbcrgen, your order is on its way";
	hdr("Subject", juergen);
	CHECK(strstr(hb.p, "=?UTF-8?Q?") != NULL, "header: mostly ASCII takes Q");
	CHECK(hdr_decodes_to("Subject", juergen), "header: Q decodes back");

	const char *jp = "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe4\xb8\x96\xe7\x95\x8c";
	hdr("Subject", jp);
	CHECK(strstr(hb.p, "=?UTF-8?B?") != NULL, "header: Japanese takes B");
	CHECK(hdr_decodes_to("Subject", jp), "header: Japanese decodes back");

	s = rep("\xc3\xa9", 300);
	hdr("Subject", s);
	CHECK(longest_line(hb.p, hb.len) <= 78, "header: 300 x e-acute: no line over 78 (%zu)", longest_line(hb.p, hb.len));
	CHECK(hdr_decodes_to("Subject", s), "header: 300 x e-acute decodes back");
	CHECK(ew_words > 5 && ew_longest <= 75 && !ew_bad_word,
	      "header: %d words, each <= 75 chars (%d) and whole UTF-8", ew_words, ew_longest);
	free(s);

	s = rep("\xf0\x9f\x98\x80 a", 60);
	hdr("X-Very-Long-Header-Name-For-Testing-Folding", s);
	CHECK(longest_line(hb.p, hb.len) <= 78 && hdr_decodes_to("X-Very-Long-Header-Name-For-Testing-Folding", s),
	      "header: emoji after a long name: lines <= 78, 4-byte characters whole");
	free(s);

	hdr("Subject", "Hi\r\nBcc: victim@example.com");
	CHECK(!strstr(hb.p, "\r\nBcc") && hdr_decodes_to("Subject", "Hi\r\nBcc: victim@example.com"),
	      "header: CR LF cannot inject a field");
	hdr("Subject", "=?UTF-8?B?SGk=?=");
	CHECK(strncmp(hb.p, "Subject: =?UTF-8?", 17) == 0 && hdr_decodes_to("Subject", "=?UTF-8?B?SGk=?="),
	      "header: ASCII that looks like an encoded-word is encoded");
	s = rep("x", 1200);
	hdr("Subject", s);
	CHECK(longest_line(hb.p, hb.len) <= 78 && hdr_decodes_to("Subject", s),
	      "header: a 1200-char word is encoded rather than pass 998");
	free(s);
	{
		/* pseudo-random values: decode back, words whole, lines <= 78 */
		bool all = true;
		unsigned int seed = 777;
		char v[400];
		for (int round = 0; round < 200 && all; round++) {
			size_t n = 0, len = (size_t)round * 2;
			while (n < len) {
				seed = seed * 1103515245 + 12345;
				unsigned int r = (seed >> 16) % 12;
				const char *pick = r < 5 ? "a" : r < 7 ? " " : r < 8 ? "_" : r < 9 ? "?" :
						   r < 10 ? "\xc3\xa9" : r < 11 ? "\xe3\x81\x94" : "\xf0\x9f\x98\x80";
				size_t k = strlen(pick);
				if (n + k > len)
					break;
				memcpy(v + n, pick, k);
				n += k;
			}
			v[n] = 0;
			hdr("Subject", v);
			if (longest_line(hb.p, hb.len) > 78 || !hdr_decodes_to("Subject", v))
				all = false, printf("#   round %d: '%s'\n", round, v);
		}
		CHECK(all, "header: 200 mixed values decode back, lines <= 78");
	}
	s = rep("x", 900);
	hdr("Subject", s);
	CHECK(!strstr(hb.p, "=?") && longest_line(hb.p, hb.len) < 998, "header: a 900-char word stays as is");
	free(s);
}

static void test_address(void)
{
	CHECK_STR(addr(NULL, "a@b.c"), "a@b.c", "address: no display name");
	CHECK_STR(addr("", "a@b.c"), "a@b.c", "address: empty display name");
	CHECK_STR(addr("  ", "a@b.c"), "a@b.c", "address: blank display name");
	CHECK_STR(addr("Shop", "news@shop.example"), "Shop <news@shop.example>", "address: atom");
	CHECK_STR(addr("The Shop", "news@shop.example"), "The Shop <news@shop.example>", "address: atoms");
	CHECK_STR(addr("Doe, Jane", "j@x.y"), "\"Doe, Jane\" <j@x.y>", "address: comma quoted");
	CHECK_STR(addr("John Q. Public", "j@x.y"), "\"John Q. Public\" <j@x.y>", "address: dot quoted");
	CHECK_STR(addr("Say \"hi\" \\o/", "j@x.y"), "\"Say \\\"hi\\\" \\\\o/\" <j@x.y>", "address: quote and backslash escaped");
	CHECK_STR(addr("a=?b", "j@x.y"), "\"a=?b\" <j@x.y>", "address: =? quoted");
	const char *jm = "J\xc3\xbcrgen M\xc3\xbcller";
	addr(jm, "j@x.y");
	const char *lt = strstr(hb.p, " <j@x.y>");
	CHECK(strncmp(hb.p, "=?UTF-8?", 8) == 0 && lt && lt[8] == 0, "address: non-ASCII encoded: %s", hb.p);
	if (lt) {
		char *v = strndup(hb.p, (size_t)(lt - hb.p));
		char *d = ew_decode(v);
		CHECK_STR(d, jm, "address: non-ASCII decodes back");
		free(d);
		free(v);
	}
	char *s = rep("\xc3\xa9t\xc3\xa9 ", 30);
	addr(s, "j@x.y");
	lt = strstr(hb.p, " <j@x.y>");
	CHECK(lt && !strstr(hb.p, "\r\n"), "address: long non-ASCII name: no line breaks of its own");
	if (lt) {
		char *v = strndup(hb.p, (size_t)(lt - hb.p));
		char *d = ew_decode(v);
		s[strlen(s) - 1] = 0; /* the trailing space is trimmed */
		CHECK(d && strcmp(d, s) == 0 && ew_words > 1 && !ew_bad_word && ew_longest <= 75,
		      "address: long name in %d words decodes back", ew_words);
		free(d);
		free(v);
	}
	free(s);
	addr("Tab\there", "j@x.y");
	CHECK(strncmp(hb.p, "=?UTF-8?", 8) == 0, "address: a control character gets encoded");
}

static void test_mailbox(void)
{
	CHECK(pm("a@b.c") == 0 && pm_display == NULL, "mailbox: bare address");
	CHECK_STR(pm_addr, "a@b.c", "mailbox: bare address value");
	CHECK(pm("Shop <news@shop.example>") == 0, "mailbox: Display <addr>");
	CHECK_STR(pm_display, "Shop", "mailbox: display");
	CHECK_STR(pm_addr, "news@shop.example", "mailbox: addr");
	CHECK(pm("\"Doe, Jane\" <j@x.y>") == 0, "mailbox: quoted display");
	CHECK_STR(pm_display, "Doe, Jane", "mailbox: quotes removed");
	CHECK_STR(pm_addr, "j@x.y", "mailbox: addr after a quoted display");
	CHECK(pm("\"Say \\\"hi\\\" <x>\" <j@x.y>") == 0, "mailbox: escapes and <> inside quotes");
	CHECK_STR(pm_display, "Say \"hi\" <x>", "mailbox: unescaped");
	CHECK_STR(pm_addr, "j@x.y", "mailbox: the '<' inside quotes is not the address");
	CHECK(pm("  The  Shop   <  news@shop.example >  ") == 0, "mailbox: white space around");
	CHECK_STR(pm_display, "The  Shop", "mailbox: display trimmed");
	CHECK_STR(pm_addr, "news@shop.example", "mailbox: addr trimmed");
	CHECK(pm("<a@b.c>") == 0 && pm_display == NULL, "mailbox: <addr> alone");
	CHECK_STR(pm_addr, "a@b.c", "mailbox: <addr> alone value");
	CHECK(pm("J\xc3\xbcrgen <j@x.y>") == 0, "mailbox: UTF-8 display");
	CHECK_STR(pm_display, "J\xc3\xbcrgen", "mailbox: UTF-8 display kept");

	CHECK(pm("") < 0 && pm_display == NULL && pm_addr == NULL && pm_err.msg[0], "mailbox: empty fails: %s", pm_err.msg);
	CHECK(pm("   ") < 0, "mailbox: blank fails");
	CHECK(pm("<>") < 0 && pm_addr == NULL, "mailbox: <> fails: %s", pm_err.msg);
	CHECK(pm("no at sign") < 0 && pm_err.msg[0], "mailbox: no at sign fails: %s", pm_err.msg);
	CHECK(pm("noatsign") < 0, "mailbox: one word without @ fails");
	CHECK(pm("Shop <noatsign>") < 0, "mailbox: <addr> without @ fails");
	CHECK(pm("a@b@c") < 0, "mailbox: two @ fail");
	CHECK(pm("@b.c") < 0 && pm("a@") < 0, "mailbox: empty local part or domain fails");
	CHECK(pm("Shop <news@shop.example") < 0, "mailbox: unclosed < fails");
	CHECK(pm("Shop news@shop.example>") < 0, "mailbox: > without < fails");
	CHECK(pm("j\xc3\xbc@x.y") < 0, "mailbox: non-ASCII address fails");
	CHECK(pm(".a@b.c") < 0 && pm("a.@b.c") < 0 && pm("a@.b") < 0 && pm("a@b.") < 0, "mailbox: dots at the ends fail");

	CHECK(pm("\"Doe, Jane\" <j@x.y>") == 0, "mailbox: round trip parse");
	CHECK_STR(addr(pm_display, pm_addr), "\"Doe, Jane\" <j@x.y>", "mailbox: round trip through jrn_mime_address");
	pm("a@b.c"); /* frees the last */
	free(pm_display);
	free(pm_addr);
	pm_display = pm_addr = NULL;
}

static void test_date(void)
{
	char out[40];
	CHECK(jrn_mime_date(0, out) == 31, "date: 31 chars");
	CHECK_STR(out, "Thu, 01 Jan 1970 00:00:00 +0000", "date: the epoch");
	CHECK_STR(date_of("2026-11-23T09:30:00Z"), "Mon, 23 Nov 2026 09:30:00 +0000", "date: known day");
	CHECK_STR(date_of("2026-11-23T11:30:00.999+02:00"), "Mon, 23 Nov 2026 09:30:00 +0000", "date: offset and ms");
	CHECK_STR(date_of("2000-02-29T23:59:59Z"), "Tue, 29 Feb 2000 23:59:59 +0000", "date: leap day 2000");
	CHECK_STR(date_of("2100-03-01T00:00:00Z"), "Mon, 01 Mar 2100 00:00:00 +0000", "date: 2100 is no leap year");
	CHECK_STR(date_of("2024-12-31T23:59:59Z"), "Tue, 31 Dec 2024 23:59:59 +0000", "date: year end");
	jrn_mime_date(-1, out);
	CHECK_STR(out, "Wed, 31 Dec 1969 23:59:59 +0000", "date: before the epoch");
}

static const char *const extra[] = {"X-Jrn-Campaign", "spring-sale", "X-Jrn-Key", "k\xc3\xa9y-1", NULL};

static jrn_mime_msg base_msg(void)
{
	jrn_mime_msg m = {
		.from = "Shop <news@shop.example>",
		.to = "\"Doe, Jane\" <jane@example.com>",
		.subject = "Your order",
		.text = "Hello Jane,\nyour order has shipped.\n",
		.message_id = "<0123456789abcdef@shop.example>",
		.date_ms = 1795426200000, /* 2026-11-23T09:30:00Z */
	};
	return m;
}

/* The body of a part that starts at p (its fields, a blank line), up to
 * the CRLF of the delimiter "--boundary" (exclusive). */
static char *part_of(const char *p, const char *boundary, char **fields)
{
	const char *blank = strstr(p, "\r\n\r\n");
	char delim[80];
	snprintf(delim, sizeof delim, "\r\n--%s", boundary);
	const char *end = blank ? strstr(blank + 2, delim) : NULL;
	if (!end)
		return NULL;
	*fields = strndup(p, (size_t)(blank - p + 2));
	return strndup(blank + 4, (size_t)(end > blank + 2 ? end - blank - 4 : 0));
}

static void test_build(void)
{
	jrn_buf msg = {0}, again = {0};
	jrn_err e = {""};
	jrn_mime_msg m = base_msg();

	CHECK(jrn_mime_build(&msg, &m, &e) == 0, "build: single part: %s", e.msg);
	CHECK(strncmp(msg.p, "Date: Mon, 23 Nov 2026 09:30:00 +0000\r\n", 39) == 0, "build: Date first, in RFC 5322 form");
	char *v = field(&msg, "From");
	CHECK_STR(v, "Shop <news@shop.example>", "build: From");
	free(v);
	v = field(&msg, "To");
	CHECK_STR(v, "\"Doe, Jane\" <jane@example.com>", "build: To");
	free(v);
	v = field(&msg, "Subject");
	CHECK_STR(v, "Your order", "build: Subject");
	free(v);
	v = field(&msg, "Message-ID");
	CHECK_STR(v, "<0123456789abcdef@shop.example>", "build: Message-ID");
	free(v);
	v = field(&msg, "MIME-Version");
	CHECK_STR(v, "1.0", "build: MIME-Version");
	free(v);
	v = field(&msg, "Content-Type");
	CHECK_STR(v, "text/plain; charset=UTF-8", "build: Content-Type text/plain; charset=UTF-8");
	free(v);
	v = field(&msg, "Content-Transfer-Encoding");
	CHECK_STR(v, "quoted-printable", "build: ASCII text is quoted-printable");
	free(v);
	CHECK(field(&msg, "Reply-To") == NULL && field(&msg, "List-Unsubscribe") == NULL &&
	      field(&msg, "List-Unsubscribe-Post") == NULL, "build: no Reply-To or List-Unsubscribe unasked");
	CHECK(ends_crlf(&msg) && longest_line(msg.p, msg.len) <= 78, "build: CRLF lines, short");
	const char *body = strstr(msg.p, "\r\n\r\n");
	CHECK(body && strcmp(body + 4, "Hello Jane,\r\nyour order has shipped.\r\n") == 0, "build: the body");
	CHECK(!strstr(msg.p, "multipart"), "build: no multipart without HTML");

	jrn_mime_build(&again, &m, &e);
	CHECK(again.len == msg.len && memcmp(again.p, msg.p, msg.len) == 0, "build: single part is deterministic");

	/* appends */
	size_t was = again.len;
	CHECK(jrn_mime_build(&again, &m, &e) == 0 && again.len == 2 * was &&
	      memcmp(again.p + was, msg.p, was) == 0, "build: appends to what out holds");

	m.text = "no newline at the end";
	jrn_buf_reset(&msg);
	jrn_mime_build(&msg, &m, &e);
	CHECK(ends_crlf(&msg) && longest_line(msg.p, msg.len) < 998 && strstr(msg.p, "\r\n\r\nno newline at the end\r\n"),
	      "build: a body without a final newline still ends in CRLF");
	m.text = "";
	jrn_buf_reset(&msg);
	CHECK(jrn_mime_build(&msg, &m, &e) == 0 && ends_crlf(&msg) && longest_line(msg.p, msg.len) < 998 &&
	      msg.len > 4 && strcmp(msg.p + msg.len - 4, "\r\n\r\n") == 0, "build: empty text: the header and a blank line");

	/* multipart */
	m = base_msg();
	m.html = "<p>Hello Jane,</p>\n<p>your order has <b>shipped</b>.</p>";
	m.reply_to = "help@shop.example";
	m.list_unsubscribe = "<mailto:unsubscribe@shop.example?subject=unsubscribe>, "
			     "<https://shop.example/u?c=cust-1&k=spring-sale&t=0123456789abcdef0123456789abcdef>";
	m.one_click = true;
	m.extra = extra;
	jrn_buf_reset(&msg);
	CHECK(jrn_mime_build(&msg, &m, &e) == 0, "build: multipart: %s", e.msg);
	CHECK(ends_crlf(&msg) && longest_line(msg.p, msg.len) < 998, "build: multipart: CRLF lines < 998 (%zu)", longest_line(msg.p, msg.len));
	CHECK(strstr(msg.p, "\r\nList-Unsubscribe: <mailto:unsubscribe@shop.example?subject=unsubscribe>,\r\n <https:"),
	      "build: List-Unsubscribe folded after the comma");
	{
		/* every header line but the unbreakable URL is <= 78 */
		const char *end = strstr(msg.p, "\r\n\r\n");
		bool short_ok = true;
		for (const char *p = msg.p; p < end;) {
			const char *q = strstr(p, "\r\n");
			if (q - p > 78 && !(p[0] == ' ' && p[1] == '<'))
				short_ok = false;
			p = q + 2;
		}
		CHECK(short_ok, "build: multipart: header lines <= 78");
		CHECK(longest_line(end + 2, strlen(end + 2)) <= 76, "build: multipart: body lines <= 76");
	}
	v = field(&msg, "Content-Type");
	const char *bq = v ? strstr(v, "boundary=\"") : NULL;
	char boundary[80] = "";
	if (bq) {
		bq += 10;
		snprintf(boundary, sizeof boundary, "%.*s", (int)strcspn(bq, "\""), bq);
	}
	CHECK(v && strncmp(v, "multipart/alternative;", 22) == 0 && strlen(boundary) > 10 && strlen(boundary) <= 70,
	      "build: multipart/alternative with a boundary: %s", v ? v : "(none)");
	free(v);
	v = field(&msg, "Content-Transfer-Encoding");
	CHECK(v == NULL, "build: multipart has no top-level transfer encoding");
	free(v);
	char delim[100], close[100];
	snprintf(delim, sizeof delim, "\r\n--%s\r\n", boundary);
	snprintf(close, sizeof close, "\r\n--%s--\r\n", boundary);
	CHECK(count(msg.p, delim) == 2, "build: two delimiter lines");
	CHECK(count(msg.p, close) == 1 && msg.len > strlen(close) &&
	      strcmp(msg.p + msg.len - strlen(close), close) == 0, "build: the closing delimiter ends the message");
	const char *p1 = strstr(msg.p, delim);
	const char *p2 = p1 ? strstr(p1 + 1, delim) : NULL;
	char *f1 = NULL, *f2 = NULL;
	char *b1 = p1 ? part_of(p1 + strlen(delim), boundary, &f1) : NULL;
	char *b2 = p2 ? part_of(p2 + strlen(delim), boundary, &f2) : NULL;
	CHECK(f1 && strstr(f1, "Content-Type: text/plain; charset=UTF-8\r\n") &&
	      strstr(f1, "Content-Transfer-Encoding: quoted-printable\r\n"), "build: first part text/plain QP");
	CHECK(f2 && strstr(f2, "Content-Type: text/html; charset=UTF-8\r\n") &&
	      strstr(f2, "Content-Transfer-Encoding: quoted-printable\r\n"), "build: second part text/html QP");
	jrn_buf d = {0};
	jrn_buf_adds(&d, "");
	CHECK(b1 && qp_decode(b1, strlen(b1), &d) == 0 && strcmp(d.p, m.text) == 0,
	      "build: the text part decodes to the text, its final newline kept");
	jrn_buf_reset(&d);
	CHECK(b2 && qp_decode(b2, strlen(b2), &d) == 0 && strcmp(d.p, m.html) == 0, "build: the HTML part decodes to the HTML");
	free(f1), free(f2), free(b1), free(b2);
	v = field(&msg, "Reply-To");
	CHECK_STR(v, "help@shop.example", "build: Reply-To");
	free(v);
	v = field(&msg, "List-Unsubscribe");
	CHECK_STR(v, m.list_unsubscribe, "build: List-Unsubscribe, folded and unfolding to itself");
	free(v);
	v = field(&msg, "List-Unsubscribe-Post");
	CHECK_STR(v, "List-Unsubscribe=One-Click", "build: List-Unsubscribe-Post when asked");
	free(v);
	v = field(&msg, "X-Jrn-Campaign");
	CHECK_STR(v, "spring-sale", "build: extra field");
	free(v);
	v = field(&msg, "X-Jrn-Key");
	char *dv = v ? ew_decode(v) : NULL;
	CHECK(v && strstr(v, "=?UTF-8?") && dv && strcmp(dv, "k\xc3\xa9y-1") == 0, "build: non-ASCII extra value encoded");
	free(v);
	free(dv);
	const char *hdr_end = strstr(msg.p, "\r\n\r\n");
	CHECK(hdr_end && strstr(msg.p, "\r\nX-Jrn-Key:") < hdr_end, "build: extras in the header");

	jrn_buf_reset(&again);
	jrn_mime_build(&again, &m, &e);
	CHECK(again.len == msg.len && memcmp(again.p, msg.p, msg.len) == 0, "build: multipart is deterministic");
	m.html = "<p>Something else</p>";
	jrn_buf_reset(&again);
	jrn_mime_build(&again, &m, &e);
	CHECK(!strstr(again.p, boundary), "build: other content, other boundary");

	m.one_click = false;
	jrn_buf_reset(&msg);
	jrn_mime_build(&msg, &m, &e);
	v = field(&msg, "List-Unsubscribe");
	CHECK(v && field(&msg, "List-Unsubscribe-Post") == NULL, "build: no List-Unsubscribe-Post unless one_click");
	free(v);
	m.one_click = true;
	m.list_unsubscribe = NULL;
	jrn_buf_reset(&msg);
	jrn_mime_build(&msg, &m, &e);
	CHECK(!strstr(msg.p, "List-Unsubscribe"), "build: one_click without List-Unsubscribe adds nothing");

	/* mostly non-ASCII goes base64 */
	m = base_msg();
	const char *jp = "\xe3\x81\x94\xe6\xb3\xa8\xe6\x96\x87\xe3\x81\x82\xe3\x82\x8a\xe3\x81\x8c\xe3\x81\xa8\xe3\x81"
			 "\x86\xe3\x81\x94\xe3\x81\x96\xe3\x81\x84\xe3\x81\xbe\xe3\x81\x99\xe3\x80\x82\n";
	m.text = jp;
	m.subject = "\xe3\x81\x94\xe6\xb3\xa8\xe6\x96\x87";
	jrn_buf_reset(&msg);
	CHECK(jrn_mime_build(&msg, &m, &e) == 0, "build: Japanese");
	v = field(&msg, "Content-Transfer-Encoding");
	CHECK_STR(v, "base64", "build: Japanese text is base64");
	free(v);
	body = strstr(msg.p, "\r\n\r\n");
	jrn_buf_reset(&d);
	CHECK(body && b64_decode(body + 4, strlen(body + 4), &d) == 0 && strcmp(d.p, jp) == 0, "build: base64 body decodes back");
	v = field(&msg, "Subject");
	dv = v ? ew_decode(v) : NULL;
	CHECK(dv && strcmp(dv, m.subject) == 0, "build: Japanese subject encoded and decodes back");
	free(v);
	free(dv);
	CHECK(ends_crlf(&msg) && longest_line(msg.p, msg.len) <= 78, "build: Japanese: CRLF lines");

	/* base64 HTML part: the delimiter follows its last line directly */
	m.html = "<p>\xe3\x81\x94\xe6\xb3\xa8\xe6\x96\x87\xe3\x81\x82\xe3\x82\x8a\xe3\x81\x8c\xe3\x81\xa8\xe3\x81\x86</p>";
	m.text = "Thanks for your order";
	jrn_buf_reset(&msg);
	CHECK(jrn_mime_build(&msg, &m, &e) == 0, "build: multipart with a base64 part");
	v = field(&msg, "Content-Type");
	bq = v ? strstr(v, "boundary=\"") : NULL;
	if (bq) {
		bq += 10;
		snprintf(boundary, sizeof boundary, "%.*s", (int)strcspn(bq, "\""), bq);
	}
	free(v);
	snprintf(delim, sizeof delim, "\r\n--%s\r\n", boundary);
	snprintf(close, sizeof close, "\r\n--%s--\r\n", boundary);
	p2 = strstr(msg.p, "Content-Type: text/html");
	const char *c2 = p2 ? strstr(p2, close) : NULL;
	CHECK(p2 && strstr(p2, "Content-Transfer-Encoding: base64\r\n") && c2 && c2[-1] != '\n',
	      "build: base64 HTML part, no blank line before the closing delimiter");
	if (p2 && c2) {
		const char *bb = strstr(p2, "\r\n\r\n") + 4;
		jrn_buf_reset(&d);
		CHECK(b64_decode(bb, (size_t)(c2 - bb), &d) == 0 && strcmp(d.p, m.html) == 0, "build: base64 HTML decodes back");
	}
	CHECK(strstr(msg.p, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable") != NULL,
	      "build: the ASCII text part stays QP beside it");
	CHECK(ends_crlf(&msg) && longest_line(msg.p, msg.len) <= 78, "build: mixed parts: CRLF lines");

	/* long lines and 90% */
	m = base_msg();
	char *longtext = rep("0123456789", 300);
	m.text = longtext;
	jrn_buf_reset(&msg);
	jrn_mime_build(&msg, &m, &e);
	CHECK(ends_crlf(&msg) && longest_line(msg.p, msg.len) <= 78, "build: a 3000-char line is wrapped");
	free(longtext);
	char ninety[101];
	memset(ninety, 'a', 90);
	for (int i = 0; i < 5; i++)
		memcpy(ninety + 90 + 2 * i, "\xc3\xa9", 2);
	ninety[100] = 0;
	m.text = ninety;
	jrn_buf_reset(&msg);
	jrn_mime_build(&msg, &m, &e);
	CHECK(strstr(msg.p, "quoted-printable") != NULL, "build: 90%% ASCII is quoted-printable");
	ninety[88] = '\xc3', ninety[89] = '\xa9';
	jrn_buf_reset(&msg);
	jrn_mime_build(&msg, &m, &e);
	CHECK(strstr(msg.p, "Transfer-Encoding: base64") != NULL, "build: 88%% ASCII is base64");

	/* failures leave out as it was */
	m = base_msg();
	jrn_buf_reset(&msg);
	jrn_buf_adds(&msg, "KEEP");
	m.text = "bad \xff byte";
	e.msg[0] = 0;
	CHECK(jrn_mime_build(&msg, &m, &e) < 0 && strstr(e.msg, "UTF-8") && strcmp(msg.p, "KEEP") == 0,
	      "build: text not UTF-8 fails: %s", e.msg);
	m = base_msg();
	m.html = "<p>\xc0\x80</p>";
	CHECK(jrn_mime_build(&msg, &m, &e) < 0 && strstr(e.msg, "HTML"), "build: HTML not UTF-8 fails: %s", e.msg);
	m = base_msg();
	m.subject = "\xed\xa0\x80";
	CHECK(jrn_mime_build(&msg, &m, &e) < 0 && strstr(e.msg, "subject"), "build: subject not UTF-8 fails: %s", e.msg);
	m = base_msg();
	m.to = "a@b.c\r\nBcc: x@y.z";
	CHECK(jrn_mime_build(&msg, &m, &e) < 0 && strstr(e.msg, "To"), "build: a line break in To fails: %s", e.msg);
	m = base_msg();
	m.from = "J\xc3\xbcrgen <j@x.y>";
	CHECK(jrn_mime_build(&msg, &m, &e) < 0, "build: raw UTF-8 in From fails: %s", e.msg);
	m = base_msg();
	m.text = NULL;
	CHECK(jrn_mime_build(&msg, &m, &e) < 0, "build: no text fails: %s", e.msg);
	m = base_msg();
	static const char *const bad_name[] = {"X Bad", "v", NULL};
	m.extra = bad_name;
	CHECK(jrn_mime_build(&msg, &m, &e) < 0 && strstr(e.msg, "field name"), "build: bad extra name fails: %s", e.msg);
	static const char *const colon[] = {"X-A:", "v", NULL};
	m.extra = colon;
	CHECK(jrn_mime_build(&msg, &m, &e) < 0, "build: a colon in an extra name fails");
	CHECK(strcmp(msg.p, "KEEP") == 0 && msg.len == 4, "build: out untouched by every failure");

	jrn_buf_free(&msg);
	jrn_buf_free(&again);
	jrn_buf_free(&d);
}

int main(void)
{
	test_qp();
	test_base64();
	test_header();
	test_address();
	test_mailbox();
	test_date();
	test_build();
	jrn_buf_free(&qp_buf);
	jrn_buf_free(&hb);
	return unit_done();
}
