/* tracking.c: send.tracking, tracked links in e-mail (jrn-send(1),
 * TRACKING).
 *
 * With send.tracking.url (the base URL of a jrn-ingest --listen) and
 * send.tracking.secret, every http or https link of an e-mail becomes
 * BASE/c/TOKEN, a 1x1 pixel BASE/o/TOKEN goes before </body>, and the
 * unsubscribe link is BASE/u/TOKEN (List-Unsubscribe too). Tokens are
 * lib/track.h's: signed, carrying the delivery key, customer, campaign,
 * channel and, for a click, the target.
 *
 * Links of the HTML part are found by a scan of its markup as an HTML
 * tokenizer sees it (the WHATWG HTML standard's tag, attribute and
 * comment states, simplified): the href attribute of <a> and <area> tags,
 * its value double-quoted, single-quoted or bare, its character
 * references (&amp; &#38; &#x26; &lt; &gt; &quot; &apos;) decoded before
 * the scheme is judged. Text, comments, <script>, <style>, <textarea> and
 * <title> are copied as they are: a URL written in the page's text is not
 * a link. Links of the text part are the http:// and https:// URLs that
 * start a word, up to white space, '<', '>' or '"', trailing . , ; : ! ? )
 * ] ' left out. mailto:, tel:, #anchors, relative links and links already
 * under the base are left alone, and so is a link that cannot be made a
 * token (a space in it, a token past JRN_TRACK_MAX_TOKEN): the message
 * goes out with that link as written.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jrn-send.h"
#include "track.h"

int tracking_load(send_ctx *S, jv cfg, jrn_err *e)
{
	send_conf *cf = &S->cf;
	cf->track_url = cfg_str(cfg, "send.tracking.url");
	cf->track_secret = cfg_str(cfg, "send.tracking.secret");
	cf->track_url_shown = jrn_config_shown(cfg, "send.tracking.url", cf->track_url);
	if (!cf->track_url && !cf->track_secret)
		return 0;
	if (!cf->track_url)
		return jrn_fail(e, "send.tracking.secret needs send.tracking.url");
	const char *u = cf->track_url;
	if (strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8))
		return jrn_fail(e, "send.tracking.url '%s': not an http or https URL",
				cf->track_url_shown);
	if (strpbrk(u, "?# \t\r\n"))
		return jrn_fail(e, "send.tracking.url '%s': no query, fragment or space (paths "
			       "/o/, /c/ and /u/ are appended to it)", cf->track_url_shown);
	if (!cf->track_secret || !*cf->track_secret)
		return jrn_fail(e, "send.tracking.url needs send.tracking.secret (the key of the "
			       "signed tokens, the same as jrn-ingest's ingest.tracking.secret)");
	size_t n = strlen(cf->track_url);
	while (n && cf->track_url[n - 1] == '/')
		cf->track_url[--n] = '\0';
	return 0;
}

void tracking_free(send_ctx *S)
{
	free(S->cf.track_url), free(S->cf.track_secret);
	S->cf.track_url = S->cf.track_secret = NULL;
}

/* Appends BASE/KIND/TOKEN for j to out. 1 when j cannot be tracked (no
 * customer, or the fields make no token: out unchanged), 0, or -1 (out of
 * memory). */
static int track_link(send_ctx *S, const job *j, char kind, const char *channel, const char *url,
		      jrn_buf *out)
{
	if (!j->customer || !j->key)
		return 1;
	jrn_track_token t = {kind, j->key, j->customer, j->campaign ? j->campaign : "",
			     (char *)channel, (char *)url};
	size_t at = out->len;
	jrn_err e;
	if (jrn_buf_addf(out, "%s/%c/", S->cf.track_url, kind) < 0)
		return -1;
	if (jrn_track_sign(S->cf.track_secret, strlen(S->cf.track_secret), &t, out, &e) < 0) {
		out->len = at;
		if (out->p)
			out->p[at] = '\0';
		return 1;
	}
	return 0;
}

int tracking_unsub_url(send_ctx *S, const job *j, jrn_buf *out)
{
	return track_link(S, j, 'u', channel_names[j->channel], NULL, out);
}

/* True when s starts with BASE/ (already a tracking link). */
static bool under_base(send_ctx *S, const char *s, size_t n)
{
	size_t b = strlen(S->cf.track_url);
	return n > b && !strncasecmp(s, S->cf.track_url, b) && s[b] == '/';
}

static bool is_web(const char *s, size_t n)
{
	return (n > 7 && !strncasecmp(s, "http://", 7)) || (n > 8 && !strncasecmp(s, "https://", 8));
}

/* ---- the text part --------------------------------------------------------- */

int tracking_text(send_ctx *S, const job *j, const char *s, size_t n, jrn_buf *out)
{
	size_t i = 0, copied = 0;
	jrn_buf url = {0};
	int rc = 0;
	while (i < n) {
		bool start = i == 0 || !isalnum((unsigned char)s[i - 1]);
		if (!start || (s[i] != 'h' && s[i] != 'H') || !is_web(s + i, n - i)) {
			i++;
			continue;
		}
		size_t k = i;
		while (k < n && !isspace((unsigned char)s[k]) && !strchr("<>\"", s[k]))
			k++;
		while (k > i && strchr(".,;:!?)]'", s[k - 1]))
			k--;
		size_t scheme = (s[i + 4] == ':') ? 7 : 8; /* http:// or https:// */
		if (k - i <= scheme || under_base(S, s + i, k - i)) {
			i = k;
			continue;
		}
		jrn_buf_reset(&url);
		jrn_buf_add(&url, s + i, k - i);
		jrn_buf_add(out, s + copied, i - copied);
		int r = url.p ? track_link(S, j, 'c', "email", url.p, out) : -1;
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 1)
			jrn_buf_add(out, s + i, k - i);
		copied = i = k;
	}
	if (rc == 0 && jrn_buf_add(out, s + copied, n - copied) < 0)
		rc = -1;
	jrn_buf_free(&url);
	return rc;
}

/* ---- the HTML part ---------------------------------------------------------- */

/* Appends code point c as UTF-8. */
static void put_utf8(jrn_buf *b, unsigned long c)
{
	if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd;
	if (c < 0x80) {
		jrn_buf_addc(b, (char)c);
	} else if (c < 0x800) {
		jrn_buf_addc(b, (char)(0xc0 | c >> 6));
		jrn_buf_addc(b, (char)(0x80 | (c & 63)));
	} else if (c < 0x10000) {
		jrn_buf_addc(b, (char)(0xe0 | c >> 12));
		jrn_buf_addc(b, (char)(0x80 | (c >> 6 & 63)));
		jrn_buf_addc(b, (char)(0x80 | (c & 63)));
	} else {
		jrn_buf_addc(b, (char)(0xf0 | c >> 18));
		jrn_buf_addc(b, (char)(0x80 | (c >> 12 & 63)));
		jrn_buf_addc(b, (char)(0x80 | (c >> 6 & 63)));
		jrn_buf_addc(b, (char)(0x80 | (c & 63)));
	}
}

/* Decodes the character references of an attribute value s[0..n) into b
 * (numeric ones and the five XML names; others stay as written), white
 * space at both ends left out. */
static void attr_decode(jrn_buf *b, const char *s, size_t n)
{
	static const struct {
		const char *name;
		char c;
	} names[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	jrn_buf_reset(b);
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '&') {
			jrn_buf_addc(b, s[i]);
			continue;
		}
		if (i + 2 < n && s[i + 1] == '#') {
			bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
			size_t k = i + 2 + hex;
			unsigned long c = 0;
			size_t digits = 0;
			while (k < n && (hex ? isxdigit((unsigned char)s[k]) : isdigit((unsigned char)s[k]))) {
				if (c < 0x110000)
					c = c * (hex ? 16 : 10) +
					    (unsigned long)(isdigit((unsigned char)s[k])
								    ? s[k] - '0'
								    : (s[k] | 0x20) - 'a' + 10);
				k++, digits++;
			}
			if (digits) {
				put_utf8(b, c);
				i = k < n && s[k] == ';' ? k : k - 1;
				continue;
			}
		}
		size_t m = 0;
		for (; m < sizeof names / sizeof *names; m++) {
			size_t l = strlen(names[m].name);
			if (n - i - 1 >= l && !strncasecmp(s + i + 1, names[m].name, l)) {
				jrn_buf_addc(b, names[m].c);
				i += l;
				break;
			}
		}
		if (m == sizeof names / sizeof *names)
			jrn_buf_addc(b, '&');
	}
	jrn_buf_add(b, "", 0);
}

/* Length of the ASCII-case-insensitive match of word at s[0..n), or 0. */
static size_t starts(const char *s, size_t n, const char *word)
{
	size_t l = strlen(word);
	return n >= l && !strncasecmp(s, word, l) ? l : 0;
}

/* The end of raw text begun at s[i] that closes with </name, or n. */
static size_t raw_end(const char *s, size_t n, size_t i, const char *name)
{
	size_t l = strlen(name);
	for (; i + 2 + l <= n; i++)
		if (s[i] == '<' && s[i + 1] == '/' && !strncasecmp(s + i + 2, name, l))
			return i;
	return n;
}

typedef struct {
	send_ctx *S;
	const job *j;
	jrn_buf *out;
	jrn_buf url;
	int rc;
} html_scan;

/* One tag starting at s[i] == '<' followed by a letter: copied to the
 * output with its href rewritten when it is a link. Returns the index
 * after it; *raw names the raw-text element it opens (or NULL). */
static size_t html_tag(html_scan *H, const char *s, size_t n, size_t i, const char **raw)
{
	static const char *const raws[] = {"script", "style", "textarea", "title", NULL};
	size_t k = i + 1;
	while (k < n && isalnum((unsigned char)s[k]))
		k++;
	size_t nl = k - i - 1;
	bool link = (nl == 1 && (s[i + 1] | 0x20) == 'a') || (nl == 4 && !strncasecmp(s + i + 1, "area", 4));
	*raw = NULL;
	for (int r = 0; raws[r]; r++)
		if (strlen(raws[r]) == nl && !strncasecmp(s + i + 1, raws[r], nl))
			*raw = raws[r];
	size_t copied = i;
	while (k < n && s[k] != '>') {
		if (isspace((unsigned char)s[k]) || s[k] == '/') {
			k++;
			continue;
		}
		size_t ns = k;
		while (k < n && !isspace((unsigned char)s[k]) && !strchr("/>=", s[k]))
			k++;
		if (k == ns) /* a stray '=' */
			k++;
		size_t ne = k, vs = k, ve = k;
		size_t w = k;
		while (w < n && isspace((unsigned char)s[w]))
			w++;
		if (w < n && s[w] == '=') {
			w++;
			while (w < n && isspace((unsigned char)s[w]))
				w++;
			if (w < n && (s[w] == '"' || s[w] == '\'')) {
				const char *q = memchr(s + w + 1, s[w], n - w - 1);
				vs = w + 1;
				/* a value the input ends inside is no link (the
				 * tokenizer drops such a tag): left as written */
				ve = q ? (size_t)(q - s) : vs;
				k = q ? ve + 1 : n;
			} else {
				vs = w;
				while (w < n && !isspace((unsigned char)s[w]) && s[w] != '>')
					w++;
				ve = k = w;
			}
		}
		if (!link || ne - ns != 4 || strncasecmp(s + ns, "href", 4) || vs == ve)
			continue;
		attr_decode(&H->url, s + vs, ve - vs);
		if (!H->url.p || !is_web(H->url.p, H->url.len) ||
		    under_base(H->S, H->url.p, H->url.len))
			continue;
		size_t at = H->out->len;
		jrn_buf_add(H->out, s + copied, ns - copied);
		jrn_buf_adds(H->out, "href=\"");
		int r = track_link(H->S, H->j, 'c', "email", H->url.p, H->out);
		if (r < 0) {
			H->rc = -1;
			return n;
		}
		if (r == 1) { /* left as written */
			H->out->len = at;
			H->out->p[at] = '\0';
			continue;
		}
		jrn_buf_addc(H->out, '"');
		copied = k;
	}
	k = k < n ? k + 1 : n;
	jrn_buf_add(H->out, s + copied, k - copied);
	return k;
}

int tracking_html(send_ctx *S, const job *j, const char *s, size_t n, jrn_buf *out)
{
	html_scan H = {S, j, out, {0}, 0};
	bool pixel = false;
	size_t i = 0;
	while (i < n && H.rc == 0) {
		size_t l;
		const char *raw = NULL;
		if (s[i] != '<') {
			const char *lt = memchr(s + i, '<', n - i);
			size_t e = lt ? (size_t)(lt - s) : n;
			jrn_buf_add(out, s + i, e - i);
			i = e;
		} else if ((l = starts(s + i, n - i, "<!--"))) {
			const char *end = memmem(s + i + l, n - i - l, "-->", 3);
			size_t e = end ? (size_t)(end - s) + 3 : n;
			jrn_buf_add(out, s + i, e - i);
			i = e;
		} else if (i + 1 < n && isalpha((unsigned char)s[i + 1])) {
			i = html_tag(&H, s, n, i, &raw);
			if (raw) {
				size_t e = raw_end(s, n, i, raw);
				jrn_buf_add(out, s + i, e - i);
				i = e;
			}
		} else {
			if (!pixel && starts(s + i, n - i, "</body") &&
			    (i + 6 == n || !isalnum((unsigned char)s[i + 6]))) {
				if (tracking_pixel(S, j, out) < 0)
					H.rc = -1;
				pixel = true;
			}
			/* an end tag, <!DOCTYPE>, <?...>: to its '>'; a lone '<' is text */
			const char *gt = i + 1 < n && strchr("/!?", s[i + 1]) ? memchr(s + i, '>', n - i)
									       : NULL;
			size_t e = gt ? (size_t)(gt - s) + 1 : i + 1;
			jrn_buf_add(out, s + i, e - i);
			i = e;
		}
	}
	if (H.rc == 0 && !pixel && tracking_pixel(S, j, out) < 0)
		H.rc = -1;
	if (H.rc == 0 && jrn_buf_add(out, "", 0) < 0)
		H.rc = -1;
	jrn_buf_free(&H.url);
	return H.rc;
}

int tracking_pixel(send_ctx *S, const job *j, jrn_buf *out)
{
	size_t at = out->len;
	jrn_buf_adds(out, "<img src=\"");
	int r = track_link(S, j, 'o', "email", NULL, out);
	if (r == 1) {
		out->len = at;
		if (out->p)
			out->p[at] = '\0';
		return 0;
	}
	if (r < 0)
		return -1;
	return jrn_buf_adds(out, "\" width=\"1\" height=\"1\" alt=\"\" "
				 "style=\"display:block;border:0;width:1px;height:1px\">");
}

int tracking_apply(send_ctx *S, const job *j, jrn_buf *text, jrn_buf *html)
{
	jrn_buf *parts[2] = {text, html};
	for (int i = 0; i < 2; i++) {
		if (!parts[i]->p)
			continue;
		jrn_buf b = {0};
		int rc = i ? tracking_html(S, j, parts[i]->p, parts[i]->len, &b)
			   : tracking_text(S, j, parts[i]->p, parts[i]->len, &b);
		if (rc < 0 || !b.p) {
			jrn_buf_free(&b);
			return -1;
		}
		jrn_buf_free(parts[i]);
		*parts[i] = b;
	}
	return 0;
}
