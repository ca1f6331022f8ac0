/* Unit tests of jrn-send's tracking.c: the HTML scan (which href is a
 * link, how its value is read and rewritten, where the pixel goes) and the
 * text part's URLs, on awkward markup. Linked with cmd/jrn-send's parts.
 * Tokens are replaced by "T" in the checked output so that the expected
 * strings stay readable (lib/track.c's own tests check the tokens). */
#include <string.h>

#include "jrn-send.h"
#include "track.h"
#include "unit.h"

static send_ctx S;
static job J;

/* out with every token (after /c/, /o/, /u/) replaced by T, and the
 * click targets read back from the tokens listed in targets (joined by
 * spaces). */
static const char *squash(const char *s, char *targets, size_t tn)
{
	static jrn_buf b;
	jrn_buf_reset(&b);
	targets[0] = '\0';
	const char *base = "http://t.example/";
	size_t bl = strlen(base);
	while (*s) {
		if (!strncmp(s, base, bl) && strchr("ocu", s[bl]) && s[bl + 1] == '/') {
			const char *t = s + bl + 2;
			static const char b64[] =
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
			size_t n = strspn(t, b64);
			if (t[n] == '.')
				n += 1 + strspn(t + n + 1, b64);
			jrn_track_token tk;
			jrn_err e;
			if (jrn_track_verify("k", 1, t, n, &tk, &e) < 0) {
				jrn_buf_addc(&b, *s++);
				continue;
			}
			if (tk.url) {
				size_t l = strlen(targets);
				snprintf(targets + l, tn - l, "%s%s", l ? " " : "", tk.url);
			}
			jrn_track_token_free(&tk);
			jrn_buf_add(&b, s, bl + 2);
			jrn_buf_addc(&b, 'T');
			s = t + n;
			continue;
		}
		jrn_buf_addc(&b, *s++);
	}
	jrn_buf_add(&b, "", 0);
	return b.p;
}

static char targets[4096];

static const char *html(const char *in)
{
	jrn_buf out = {0};
	static char keep[8192];
	if (tracking_html(&S, &J, in, strlen(in), &out) < 0)
		return "(failed)";
	snprintf(keep, sizeof keep, "%s", squash(out.p, targets, sizeof targets));
	jrn_buf_free(&out);
	return keep;
}

static const char *text(const char *in)
{
	jrn_buf out = {0};
	static char keep[8192];
	if (tracking_text(&S, &J, in, strlen(in), &out) < 0)
		return "(failed)";
	snprintf(keep, sizeof keep, "%s", squash(out.p, targets, sizeof targets));
	jrn_buf_free(&out);
	return keep;
}

#define PIXEL "<img src=\"http://t.example/o/T\" width=\"1\" height=\"1\" alt=\"\" " \
	      "style=\"display:block;border:0;width:1px;height:1px\">"

int main(void)
{
	S.cf.track_url = "http://t.example";
	S.cf.track_secret = "k";
	J.key = "key", J.customer = "c1", J.campaign = "camp", J.channel = CH_EMAIL;

	CHECK_STR(html("<a href=\"https://a.example/x\">x</a></body>"),
		  "<a href=\"http://t.example/c/T\">x</a>" PIXEL "</body>", "double quotes; pixel before </body>");
	CHECK_STR(targets, "https://a.example/x", "its target");
	CHECK_STR(html("<A HREF='https://a.example/?q=\"x\"'>x</A>"),
		  "<A href=\"http://t.example/c/T\">x</A>" PIXEL, "single quotes holding a \", upper case; pixel at the end");
	CHECK_STR(targets, "https://a.example/?q=\"x\"", "the quote is in the target");
	CHECK_STR(html("<a href=https://a.example/b>x</a>"), "<a href=\"http://t.example/c/T\">x</a>" PIXEL,
		  "a bare value ends at >");
	CHECK_STR(html("<a href=\" https://a.example/?a=1&amp;b=2&#38;c=3&#x26;d&lt;&bogus; \">x</a>"),
		  "<a href=\"http://t.example/c/T\">x</a>" PIXEL, "references decoded, blanks trimmed");
	CHECK_STR(targets, "https://a.example/?a=1&b=2&c=3&d<&bogus;", "the decoded target");
	CHECK_STR(html("<a title=\"href=https://no.example\" href=\"#x\">x</a>"),
		  "<a title=\"href=https://no.example\" href=\"#x\">x</a>" PIXEL,
		  "href= inside another attribute's value is not an href");
	CHECK_STR(html("<link href=\"https://css.example/a.css\"><img src=\"https://img.example/i.png\">"),
		  "<link href=\"https://css.example/a.css\"><img src=\"https://img.example/i.png\">" PIXEL,
		  "only <a> and <area> are links");
	CHECK_STR(html("<abbr href=\"https://no.example\">x</abbr>"),
		  "<abbr href=\"https://no.example\">x</abbr>" PIXEL, "<abbr> is not <a>");
	CHECK_STR(html("<script>document.write('<a href=\"https://no.example\">')</script><style>a[href=\"https://no\"]{}</style>"),
		  "<script>document.write('<a href=\"https://no.example\">')</script><style>a[href=\"https://no\"]{}</style>" PIXEL,
		  "script and style are raw text");
	CHECK_STR(html("<!-- </body> <a href=\"https://no.example\"> --><body>x</body>"),
		  "<!-- </body> <a href=\"https://no.example\"> --><body>x" PIXEL "</body>",
		  "comments are skipped, </body> in one too");
	CHECK_STR(html("1 < 2 and <a href=\"http://t.example/u/abc\">u</a>"),
		  "1 < 2 and <a href=\"http://t.example/u/abc\">u</a>" PIXEL,
		  "a lone < is text; links under the base stay");
	CHECK_STR(html("<a href=\"javascript:alert(1)\">j</a><a href=\"tel:+1\">t</a><a href=\"//x.example\">r</a>"),
		  "<a href=\"javascript:alert(1)\">j</a><a href=\"tel:+1\">t</a><a href=\"//x.example\">r</a>" PIXEL,
		  "other schemes and scheme-relative links stay");
	CHECK_STR(html("<a href=\"https://a b.example\">s</a>"),
		  "<a href=\"https://a b.example\">s</a>" PIXEL, "a target with a space cannot be a token: stays");
	CHECK_STR(html("<a href=\"https://a.example"), "<a href=\"https://a.example" PIXEL,
		  "an unterminated value at the end: no rewrite past the input, no crash");
	CHECK_STR(html("<a"), "<a" PIXEL, "a tag cut short");
	CHECK_STR(html("<a href"), "<a href" PIXEL, "an attribute without a value");
	CHECK_STR(html("<a href=>x</a>"), "<a href=>x</a>" PIXEL, "an empty bare value");
	CHECK_STR(html(""), PIXEL, "empty input: the pixel alone");
	CHECK_STR(html("<a href='https://1.example'>1</a><a\nhref=\"https://2.example\">2</a>"),
		  "<a href=\"http://t.example/c/T\">1</a><a\nhref=\"http://t.example/c/T\">2</a>" PIXEL,
		  "two links, a newline before the attribute");
	CHECK_STR(targets, "https://1.example https://2.example", "each its own target");
	CHECK_STR(html("</BODY ><p>after</p></body>"), PIXEL "</BODY ><p>after</p></body>",
		  "the pixel before the first </body>, any case");
	CHECK_STR(html("</bodyx>"), "</bodyx>" PIXEL, "</bodyx> is not </body>");

	CHECK_STR(text("See https://a.example/x. Or (http://b.example/y), https://c.example/z!"),
		  "See http://t.example/c/T. Or (http://t.example/c/T), http://t.example/c/T!",
		  "text: trailing punctuation outside");
	CHECK_STR(targets, "https://a.example/x http://b.example/y https://c.example/z", "text: targets");
	CHECK_STR(text("<https://a.example/>\"https://b.example/\""),
		  "<http://t.example/c/T>\"http://t.example/c/T\"", "text: < > and quotes end a URL");
	CHECK_STR(text("xhttps://no.example HTTPS://UP.example"), "xhttps://no.example http://t.example/c/T",
		  "text: inside a word no, any case yes");
	CHECK_STR(text("https:// http://"), "https:// http://", "text: a scheme alone");
	CHECK_STR(text("http://t.example/u/abc"), "http://t.example/u/abc", "text: under the base stays");

	J.customer = NULL;
	CHECK_STR(html("<a href=\"https://a.example/\">x</a>"), "<a href=\"https://a.example/\">x</a>",
		  "no customer: untracked, no pixel");
	return unit_done();
}
