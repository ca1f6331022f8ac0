/*
 * mime.h: an Internet message builder for jrn-send (RFC 5322 headers,
 * RFC 2045 quoted-printable and base64 bodies, RFC 2046 multipart and
 * RFC 2047 encoded-words). Everything appends to a jrn_buf: no allocation
 * per byte, so a message builds in microseconds.
 */
#ifndef JRN_MIME_H
#define JRN_MIME_H

#include "jrn.h"

/* Appends "Name: value\r\n" to out for an unstructured field (Subject,
 * X-...). The value is written as is when it is printable ASCII (tabs
 * allowed) that does not look like an encoded-word ("=?"), folded with
 * CRLF before a space where a line would pass 78 chars; otherwise, or when
 * a word would not fit in 998, it becomes RFC 2047 encoded-words in UTF-8,
 * Q or B whichever is shorter, each at most 75 chars, never splitting a
 * UTF-8 character, one per line after the first (CRLF SP), so no line passes
 * 78 chars. Bytes that are not UTF-8 are encoded one by one. 0 or -1 (out
 * of memory). */
int jrn_mime_header(jrn_buf *out, const char *name, const char *value, size_t len);

/* Appends a mailbox for a From / To / Reply-To value to out: "Name <addr>",
 * the display name as atoms when it is only atext and spaces, a quoted
 * string (with " and \ escaped) when it is other printable ASCII, and
 * encoded-words separated by spaces (so the header can fold there) when it
 * is not ASCII; a bare addr when display is NULL or blank. addr is copied as
 * is (normalise it first). 0 or -1 (out of memory). */
int jrn_mime_address(jrn_buf *out, const char *display, const char *addr);

/* Appends the quoted-printable form (RFC 2045 6.7) of s[0..n) to out: LF
 * or CRLF become CRLF hard breaks, a lone CR is =0D; soft breaks "=\r\n"
 * keep every line at most 76 chars; a space or tab before a break or the
 * end is encoded, as are '=', controls, bytes >= 0x80 and a '.' starting a
 * line; never splits an =XX triple nor a UTF-8 character. 0 or -1. */
int jrn_mime_qp(jrn_buf *out, const char *s, size_t n);

/* Appends the base64 (RFC 4648) of p[0..n) to out in lines of 76 chars,
 * each line (the last one too) ending in CRLF; nothing for n == 0. 0 or -1. */
int jrn_mime_base64(jrn_buf *out, const void *p, size_t n);

/* Parses a mailbox as written in a config file: "addr", "Display <addr>",
 * "\"Doe, Jane\" <addr>" (the quotes removed, \x unescaped). *display and
 * *addr are allocated and the caller's to free (*display NULL when there is
 * none). 0, or -1 with e (both NULL) when there is no plausible addr-spec
 * (local@domain, printable ASCII without spaces or specials). */
int jrn_mime_parse_mailbox(const char *s, char **display, char **addr, jrn_err *e);

/* Formats ms since the epoch as an RFC 5322 date in UTC,
 * "Mon, 23 Nov 2026 09:30:00 +0000", into out[40]; returns the length. */
size_t jrn_mime_date(int64_t ms, char out[40]);

/* One message. Strings are borrowed; NULL for optional ones. */
typedef struct {
	const char *from;        /* header value already formatted (jrn_mime_address): printable ASCII */
	const char *to;          /* same */
	const char *reply_to;    /* same, or NULL: none */
	const char *subject;     /* UTF-8, raw (the builder encodes); NULL: no Subject */
	const char *text;        /* UTF-8 plain text body, required */
	const char *html;        /* UTF-8 HTML body or NULL */
	const char *message_id;  /* "<...@...>", or NULL: none */
	int64_t date_ms;         /* the Date header, written in UTC */
	const char *list_unsubscribe; /* full header value or NULL */
	bool one_click;          /* with list_unsubscribe: List-Unsubscribe-Post: List-Unsubscribe=One-Click */
	const char *const *extra; /* NULL-terminated "Name", "value" pairs (values raw UTF-8), or NULL */
} jrn_mime_msg;

/* Appends the whole message (header fields, a blank line, the body) to out:
 * Date, From, To, Reply-To, Message-ID, Subject, MIME-Version: 1.0, the
 * List-Unsubscribe fields, the extra fields, then either one text/plain part
 * or multipart/alternative (text/plain then text/html, charset=UTF-8) when
 * html is set. A part is quoted-printable when at least 90% of its bytes are
 * ASCII, else base64. The boundary ("=_jrn_" and 32 hex of a SHA-256 of the
 * content) cannot occur in either encoding and is checked anyway, so one
 * message always builds to the same bytes. Every line ends in CRLF and is
 * under 998 octets. 0, or -1 with e (a body or subject not UTF-8, a field
 * value not printable ASCII, a bad extra field name, out of memory); out
 * is left as it was on failure. */
int jrn_mime_build(jrn_buf *out, const jrn_mime_msg *m, jrn_err *e);

#endif
