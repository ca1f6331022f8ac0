/* fuzz/mime.c: the message builder (lib/mime.c).
 *
 * The first byte picks the function, the rest is its input. Oracles:
 * - jrn_mime_header: one header: "Name: " first, every line ends in CRLF,
 *   no other CR or LF, each line after the first starts with a space or
 *   tab (a continuation), no line passes 998 octets; and the value comes
 *   back: unfolded it is the value, or, when it holds "=?", its
 *   encoded-words decode to the value.
 * - jrn_mime_address: printable ASCII, one line, ending in " <addr>".
 * - jrn_mime_qp and jrn_mime_base64 decode back to their input (qp: with
 *   LF and CRLF as CRLF), lines of at most 76 chars ending in CRLF.
 * - jrn_mime_parse_mailbox: an accepted mailbox's addr is printable ASCII
 *   without specials, and formats back (jrn_mime_address) on one line.
 * - jrn_mime_build: every line ends in CRLF, has no other CR or LF and at
 *   most 998 octets; the header section holds exactly the fields asked
 *   for (each a "Name:" line and its continuations).
 * - jrn_mime_date: any instant fits its 40-byte buffer. */
#include "fuzz.h"
#include "mime.h"

static const char *const names[] = {"Subject", "X-Campaign", "X-Jrn-Key", "Comments",
				    "X-A-Very-Long-Header-Name-That-Takes-Up-Most-Of-The-Line-Abc"};

/* Checks the lines of o[0..n): CRLF ends, no lone CR/LF, <= max octets. */
static void check_lines(const char *o, size_t n, size_t max, const char *what)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (o[i] == '\r') {
			FUZZ_CHECK(i + 1 < n && o[i + 1] == '\n', "%s: a CR without LF at %zu", what, i);
			FUZZ_CHECK(i - start <= max, "%s: a line of %zu octets", what, i - start);
			i++;
			start = i + 1;
		} else {
			FUZZ_CHECK(o[i] != '\n', "%s: a LF without CR at %zu", what, i);
		}
	}
	FUZZ_CHECK(start == n, "%s: the last line does not end in CRLF", what);
}

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int b64v(char c)
{
	const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(t, c) : NULL;
	return p ? (int)(p - t) : -1;
}

/* Decodes base64 s[0..n) (CRLFs skipped, '=' ends) onto out; -1 if bad. */
static int b64_decode(const char *s, size_t n, jrn_buf *out)
{
	unsigned int acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=')
			break;
		int v = b64v(s[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			jrn_buf_addc(out, (char)(acc >> bits & 0xFF));
		}
	}
	return 0;
}

/* Decodes the encoded-words of an unfolded header value v[0..n): each
 * "=?UTF-8?B?...?=" or "=?UTF-8?Q?...?=", white space between them
 * ignored. -1 when something else is there. */
static int ew_decode(const char *v, size_t n, jrn_buf *out)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i == n)
			break;
		if (n - i < 12 || memcmp(v + i, "=?UTF-8?", 8) != 0 || v[i + 9] != '?')
			return -1;
		char enc = v[i + 8];
		const char *p = v + i + 10, *end = memmem(p, n - (size_t)(p - v), "?=", 2);
		if (!end)
			return -1;
		if (enc == 'B') {
			if (b64_decode(p, (size_t)(end - p), out) < 0)
				return -1;
		} else if (enc == 'Q') {
			for (const char *q = p; q < end; q++) {
				if (*q == '_') {
					jrn_buf_addc(out, ' ');
				} else if (*q == '=') {
					if (end - q < 3 || hexv(q[1]) < 0 || hexv(q[2]) < 0)
						return -1;
					jrn_buf_addc(out, (char)(hexv(q[1]) << 4 | hexv(q[2])));
					q += 2;
				} else if (*q == ' ' || *q == '?') {
					return -1;
				} else {
					jrn_buf_addc(out, *q);
				}
			}
		} else {
			return -1;
		}
		i = (size_t)(end - v) + 2;
	}
	return 0;
}

static void header(const char *name, const char *v, size_t n)
{
	jrn_buf o = {0}, u = {0}, d = {0};
	FUZZ_CHECK(jrn_mime_header(&o, name, v, n) == 0, "jrn_mime_header failed");
	check_lines(o.p, o.len, 998, "header");
	size_t nl = strlen(name);
	FUZZ_CHECK(o.len >= nl + 4 && memcmp(o.p, name, nl) == 0 && memcmp(o.p + nl, ": ", 2) == 0,
		   "the header does not start with its name");
	for (size_t i = nl + 2; i + 2 < o.len; i++) { /* unfold: drop CRLF before WSP */
		if (o.p[i] == '\r') {
			FUZZ_CHECK(o.p[i + 2] == ' ' || o.p[i + 2] == '\t',
				   "a second header line that is not a continuation: %s", o.p);
			i++;
			continue;
		}
		jrn_buf_addc(&u, o.p[i]);
	}
	if (u.len && memmem(u.p, u.len, "=?", 2)) {
		FUZZ_CHECK(ew_decode(u.p, u.len, &d) == 0, "bad encoded-words: %s", o.p);
		FUZZ_CHECK(d.len == n && memcmp(d.p, v, n) == 0, "encoded-words decode to another value: %s",
			   o.p);
	} else {
		FUZZ_CHECK(u.len == n && (n == 0 || memcmp(u.p, v, n) == 0),
			   "the unfolded header is not the value: %s", o.p);
	}
	jrn_buf_free(&o);
	jrn_buf_free(&u);
	jrn_buf_free(&d);
}

static void one_line_ascii(const jrn_buf *o, const char *what)
{
	for (size_t i = 0; i < o->len; i++)
		FUZZ_CHECK((unsigned char)o->p[i] >= 0x20 && (unsigned char)o->p[i] < 0x7F,
			   "%s: byte 0x%02x at %zu", what, (unsigned char)o->p[i], i);
}

static void qp(const char *s, size_t n)
{
	jrn_buf o = {0}, d = {0}, want = {0};
	FUZZ_CHECK(jrn_mime_qp(&o, s, n) == 0, "jrn_mime_qp failed");
	if (o.len && (o.len < 2 || memcmp(o.p + o.len - 2, "\r\n", 2) != 0))
		jrn_buf_add(&o, "\r\n", 2); /* jrn_mime_build ends the part so */
	check_lines(o.p, o.len, 76, "quoted-printable");
	for (size_t i = 0; i < o.len; i++) {
		if (o.p[i] == '=' && o.p[i + 1] == '\r') {
			i += 2;
		} else if (o.p[i] == '=') {
			FUZZ_CHECK(hexv(o.p[i + 1]) >= 0 && hexv(o.p[i + 2]) >= 0, "a bad =XX");
			jrn_buf_addc(&d, (char)(hexv(o.p[i + 1]) << 4 | hexv(o.p[i + 2])));
			i += 2;
		} else {
			FUZZ_CHECK(o.p[i] == '\r' || o.p[i] == '\n' || o.p[i] == '\t' ||
				   (o.p[i] >= 0x20 && o.p[i] < 0x7F), "a raw byte 0x%02x", (unsigned char)o.p[i]);
			jrn_buf_addc(&d, o.p[i]);
		}
	}
	for (size_t i = 0; i < n; i++) { /* what the decoder must give */
		if (s[i] == '\n')
			jrn_buf_add(&want, "\r\n", 2);
		else if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			jrn_buf_add(&want, "\r\n", 2), i++;
		else
			jrn_buf_addc(&want, s[i]);
	}
	if (want.len && (want.len < 2 || memcmp(want.p + want.len - 2, "\r\n", 2) != 0))
		jrn_buf_add(&want, "\r\n", 2);
	FUZZ_CHECK(d.len == want.len && (d.len == 0 || memcmp(d.p, want.p, d.len) == 0),
		   "quoted-printable does not decode back");
	jrn_buf_free(&o);
	jrn_buf_free(&d);
	jrn_buf_free(&want);
}

static void base64(const char *s, size_t n)
{
	jrn_buf o = {0}, d = {0};
	FUZZ_CHECK(jrn_mime_base64(&o, s, n) == 0, "jrn_mime_base64 failed");
	check_lines(o.p, o.len, 76, "base64");
	FUZZ_CHECK(b64_decode(o.p, o.len, &d) == 0 && d.len == n && (n == 0 || !memcmp(d.p, s, n)),
		   "base64 does not decode back");
	jrn_buf_free(&o);
	jrn_buf_free(&d);
}

static void mailbox(const char *s)
{
	char *display, *addr;
	jrn_err e;
	if (jrn_mime_parse_mailbox(s, &display, &addr, &e) < 0) {
		FUZZ_CHECK(e.msg[0] && !display && !addr, "a refused mailbox");
		return;
	}
	for (const char *p = addr; *p; p++)
		FUZZ_CHECK(*p > 0x20 && *p < 0x7F && !strchr("<>()[],;:\\\"", *p), "addr holds 0x%02x",
			   (unsigned char)*p);
	jrn_buf o = {0};
	FUZZ_CHECK(jrn_mime_address(&o, display, addr) == 0, "jrn_mime_address failed");
	one_line_ascii(&o, "address");
	jrn_buf_free(&o);
	free(display);
	free(addr);
}

/* The message: NUL-separated subject, text, html, an extra value. */
static void build(const char *s, size_t n)
{
	const char *part[4] = {"", "", NULL, NULL};
	int k = 0;
	part[0] = s;
	for (size_t i = 0; i < n && k < 3; i++)
		if (s[i] == '\0')
			part[++k] = s + i + 1;
	const char *extra[] = {"X-Campaign", part[3], NULL};
	jrn_mime_msg m = {
		.from = "Shop <shop@example.com>",
		.to = "a@example.com",
		.subject = part[0],
		.text = part[1] ? part[1] : "",
		.html = part[2],
		.message_id = "<1@example.com>",
		.date_ms = 1767225600000,
		.list_unsubscribe = "<https://example.com/u/1>",
		.one_click = true,
		.extra = part[3] ? extra : NULL,
	};
	jrn_buf o = {0};
	jrn_err e;
	if (jrn_mime_build(&o, &m, &e) < 0) {
		FUZZ_CHECK(e.msg[0] && o.len == 0, "a refused message: out not restored");
		return;
	}
	check_lines(o.p, o.len, 998, "message");
	const char *end = memmem(o.p, o.len, "\r\n\r\n", 4);
	FUZZ_CHECK(end != NULL, "no blank line after the header");
	int fields = 0;
	for (const char *p = o.p; p < end + 2; p = strstr(p, "\r\n") + 2)
		if (*p != ' ' && *p != '\t')
			fields++;
	int want = 7 + 1 /* Subject */ + (part[3] != NULL) + (part[2] ? 1 : 2);
	FUZZ_CHECK(fields == want, "%d header fields, want %d", fields, want);
	jrn_buf_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = fuzz_strndup(data + 1, size - 1);
	size_t n = size - 1;
	switch (data[0] % 7) {
	case 0:
		header(names[(data[0] >> 3) % 5], s, n);
		break;
	case 1: {
		jrn_buf o = {0};
		FUZZ_CHECK(jrn_mime_address(&o, s, "a@example.com") == 0, "jrn_mime_address failed");
		one_line_ascii(&o, "address");
		FUZZ_CHECK(o.len >= 13 && !strcmp(o.p + o.len - (o.len > 13 ? 16 : 13),
						  o.len > 13 ? " <a@example.com>" : "a@example.com"),
			   "the address is not at the end: %s", o.p);
		jrn_buf_free(&o);
		break;
	}
	case 2:
		qp(s, n);
		break;
	case 3:
		base64(s, n);
		break;
	case 4:
		mailbox(s);
		break;
	case 5:
		build(s, n);
		break;
	default: {
		int64_t ms = 0;
		memcpy(&ms, s, n < 8 ? n : 8);
		char out[40];
		size_t len = jrn_mime_date(ms, out);
		FUZZ_CHECK(len < 40 && strlen(out) == len, "jrn_mime_date: %zu chars", len);
	}
	}
	free(s);
	return 0;
}
