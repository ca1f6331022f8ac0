/* Unit tests of track.c: tokens against vectors computed independently
 * with the shell and OpenSSL, e.g. for the first:
 *
 *   pl='["o","k1","c1","spring","email"]'
 *   printf '%s' "$pl" | base64 -w0 | tr '+/' '-_' | tr -d =
 *   printf '%s' "$pl" | openssl dgst -sha256 -hmac s3cret -binary \
 *     | base64 -w0 | tr '+/' '-_' | tr -d =
 *
 * and Twilio's signature against the example of Twilio's documentation
 * ("Webhooks security"; the same values in twilio-php's validation.rst):
 * auth token 12345, URL https://mycompany.com/myapp.php?foo=1&bar=2,
 * CallSid=CA1234567890ABCDE Caller=+12349013030 Digits=1234
 * From=+12349013030 To=+18005551212 -> 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
 * (also: printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2CallSid
 * CA1234567890ABCDECaller+12349013030Digits1234From+12349013030To
 * +18005551212' | openssl dgst -sha1 -hmac 12345 -binary | base64). */
#include "track.h"
#include "unit.h"

#define OPEN_TOKEN                                                                         \
	"WyJvIiwiazEiLCJjMSIsInNwcmluZyIsImVtYWlsIl0.g5aaleHd72eKAyf96ba21t_bqNtDivZ1OZNzpocJvik"
#define CLICK_TOKEN                                                                        \
	"WyJjIiwiazEiLCJjMSIsIiIsImVtYWlsIiwiaHR0cHM6Ly9zaG9wLmV4YW1wbGUvYT9iPTEmYz0yIl0."  \
	"53Zj6Tgv3JhI2XB0PLlemKI6T8v_azxxiIeWAamz4iU"

static const char *sign(jrn_track_token t, jrn_err *e)
{
	static jrn_buf b;
	jrn_buf_free(&b);
	return jrn_track_sign("s3cret", 6, &t, &b, e) < 0 ? NULL : b.p;
}

static int verify(const char *s, jrn_track_token *t, jrn_err *e)
{
	return jrn_track_verify("s3cret", 6, s, strlen(s), t, e);
}

static void tokens(void)
{
	jrn_err e = {{0}};
	jrn_track_token t;
	CHECK_STR(sign((jrn_track_token){'o', "k1", "c1", "spring", "email", NULL}, &e), OPEN_TOKEN,
		  "open token: the independently computed vector");
	CHECK_STR(sign((jrn_track_token){'c', "k1", "c1", "", "email", "https://shop.example/a?b=1&c=2"},
		       &e),
		  CLICK_TOKEN, "click token: the independently computed vector");
	CHECK(verify(OPEN_TOKEN, &t, &e) == 0 && t.kind == 'o' && !strcmp(t.key, "k1") &&
		      !strcmp(t.customer, "c1") && !strcmp(t.campaign, "spring") &&
		      !strcmp(t.channel, "email") && !t.url,
	      "open token reads back");
	jrn_track_token_free(&t);
	CHECK(verify(CLICK_TOKEN, &t, &e) == 0 && t.kind == 'c' &&
		      !strcmp(t.url, "https://shop.example/a?b=1&c=2") && !strcmp(t.campaign, ""),
	      "click token reads back with its url");
	jrn_track_token_free(&t);

	/* round trip with awkward fields: quotes, commas, non-ASCII */
	const char *tok = sign((jrn_track_token){'u', "k\",\"x", "c\xc3\xa9", "a,b", "sms", NULL}, &e);
	CHECK(tok && verify(tok, &t, &e) == 0 && !strcmp(t.key, "k\",\"x") &&
		      !strcmp(t.campaign, "a,b") && !strcmp(t.channel, "sms"),
	      "awkward fields round-trip");
	jrn_track_token_free(&t);

	/* injective: moving a separator between fields changes the payload */
	char a[256], b[256];
	snprintf(a, sizeof a, "%s", sign((jrn_track_token){'o', "a", "b,c", "", "email", NULL}, &e));
	snprintf(b, sizeof b, "%s", sign((jrn_track_token){'o', "a,b", "c", "", "email", NULL}, &e));
	CHECK(strcmp(a, b) != 0, "fields with the same concatenation sign differently");

	/* forgeries and damage */
	CHECK(jrn_track_verify("other", 5, OPEN_TOKEN, strlen(OPEN_TOKEN), &t, &e) < 0 &&
		      strstr(e.msg, "bad signature") && !t.key,
	      "another secret: bad signature, nothing read");
	char bad[200];
	snprintf(bad, sizeof bad, "%s", OPEN_TOKEN);
	bad[5] ^= 1; /* a payload byte */
	CHECK(verify(bad, &t, &e) < 0 && strstr(e.msg, "bad signature"), "changed payload: refused");
	snprintf(bad, sizeof bad, "%s", OPEN_TOKEN);
	bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
	CHECK(verify(bad, &t, &e) < 0, "changed signature: refused");
	snprintf(bad, sizeof bad, "%.*s", (int)strlen(OPEN_TOKEN) - 1, OPEN_TOKEN);
	CHECK(verify(bad, &t, &e) < 0, "short signature: refused");
	CHECK(verify("", &t, &e) < 0 && strstr(e.msg, "PAYLOAD.SIGNATURE"), "empty token: refused");
	CHECK(verify("abc", &t, &e) < 0, "no dot: refused");
	CHECK(verify("a$c.def", &t, &e) < 0 && strstr(e.msg, "base64url"), "not base64url: refused");
	CHECK(verify("WyJvIl0=.abc", &t, &e) < 0, "padding: refused");
	/* a token signed right over a payload of the wrong shape */
	{
		const char *pl = "[\"c\",\"k\",\"c\",\"\",\"email\",\"javascript:alert(1)\"]";
		jrn_buf tk = {0};
		unsigned char md[32];
		char hex[65];
		jrn_hmac_sha256_hex("s3cret", 6, pl, strlen(pl), hex);
		for (int i = 0; i < 32; i++)
			sscanf(hex + 2 * i, "%2hhx", &md[i]);
		jrn_base64url(&tk, pl, strlen(pl));
		jrn_buf_addc(&tk, '.');
		jrn_base64url(&tk, md, 32);
		CHECK(verify(tk.p, &t, &e) < 0 && strstr(e.msg, "http or https"),
		      "signed javascript: url refused");
		jrn_buf_free(&tk);
	}
	{
		jrn_buf big = {0};
		for (int i = 0; i < JRN_TRACK_MAX_TOKEN + 1; i++)
			jrn_buf_addc(&big, 'A');
		CHECK(verify(big.p, &t, &e) < 0 && strstr(e.msg, "JRN_TRACK_MAX_TOKEN"),
		      "longer than JRN_TRACK_MAX_TOKEN: refused");
		jrn_buf_reset(&big);
		jrn_buf_adds(&big, "https://x.example/");
		for (int i = 0; i < JRN_TRACK_MAX_TOKEN; i++)
			jrn_buf_addc(&big, 'a');
		CHECK(!sign((jrn_track_token){'c', "k", "c", "", "email", big.p}, &e) &&
			      strstr(e.msg, "JRN_TRACK_MAX_TOKEN"),
		      "a url that makes the token too long: not signed");
		jrn_buf_free(&big);
	}
	CHECK(!sign((jrn_track_token){'x', "k", "c", "", "email", NULL}, &e), "kind x: not signed");
	CHECK(!sign((jrn_track_token){'o', "", "c", "", "email", NULL}, &e), "empty key: not signed");
	CHECK(!sign((jrn_track_token){'o', "k\n", "c", "", "email", NULL}, &e) &&
		      strstr(e.msg, "control"),
	      "control character in the key: not signed");
	CHECK(!sign((jrn_track_token){'c', "k", "c", "", "email", "mailto:a@b"}, &e),
	      "mailto: click: not signed");
	CHECK(!sign((jrn_track_token){'c', "k", "c", "", "email", "https://a b"}, &e),
	      "url with a space: not signed");
	CHECK(!sign((jrn_track_token){'o', "k", "c", "", "email", "https://a"}, &e),
	      "an open with a url: not signed");
	jrn_buf b0 = {0};
	jrn_track_token t0 = {'o', "k", "c", "", "email", NULL};
	CHECK(jrn_track_sign("", 0, &t0, &b0, &e) < 0, "empty secret: refused");
	jrn_buf_free(&b0);
	sign((jrn_track_token){0}, &e);
}

static const char *b64(const char *s)
{
	static jrn_buf b;
	jrn_buf_free(&b);
	jrn_base64url(&b, s, strlen(s));
	return b.p;
}

static const char *unb64(const char *s)
{
	static jrn_buf b;
	jrn_buf_free(&b);
	return jrn_base64url_decode(&b, s, strlen(s)) < 0 ? NULL : b.p;
}

static void base64url(void)
{
	/* RFC 4648 section 10's vectors, without padding */
	CHECK_STR(b64(""), "", "empty");
	CHECK_STR(b64("f"), "Zg", "f");
	CHECK_STR(b64("fo"), "Zm8", "fo");
	CHECK_STR(b64("foo"), "Zm9v", "foo");
	CHECK_STR(b64("foobar"), "Zm9vYmFy", "foobar");
	CHECK_STR(b64("\xfb\xff"), "-_8", "the url-safe letters");
	CHECK_STR(unb64("Zm9vYmE"), "fooba", "decode fooba");
	CHECK_STR(unb64("-_8"), "\xfb\xff", "decode - and _");
	CHECK(!unb64("Zm9=") && !unb64("Z") && !unb64("Zm+v") && !unb64("Zh"),
	      "padding, length 4k+1, standard alphabet, non-zero spare bits: refused");
}

static jrn_err fe;
static jv form(const char *s)
{
	return jrn_form_parse(s, strlen(s), &fe);
}

static void twilio(void)
{
	const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
	jv p = form("CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234"
			      "&From=%2B12349013030&To=%2B18005551212");
	CHECK(jv_get_kind(p) == JV_KIND_ARRAY && jv_array_length(jv_copy(p)) == 5, "form: 5 pairs");
	CHECK_STR(jrn_form_get(p, "From"), "+12349013030", "form: %%2B decoded");
	char sig[29];
	CHECK(jrn_twilio_signature("12345", 5, url, p, sig) == 0, "signature computed");
	CHECK_STR(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "Twilio's documented example");
	CHECK(jrn_twilio_check("12345", 5, url, p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="), "check: good");
	CHECK(!jrn_twilio_check("12346", 5, url, p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	      "check: another token");
	CHECK(!jrn_twilio_check("12345", 5, "https://mycompany.com/myapp.php?foo=1&bar=3", p,
				"0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	      "check: another URL");
	CHECK(!jrn_twilio_check("12345", 5, url, p, NULL), "check: no header");
	CHECK(!jrn_twilio_check("12345", 5, url, p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"), "check: short");
	jv_free(p);
	/* the same parameters in another order sign the same */
	p = form("To=%2B18005551212&From=%2B12349013030&Digits=1234"
			   "&Caller=%2B12349013030&CallSid=CA1234567890ABCDE");
	CHECK(jrn_twilio_check("12345", 5, url, p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	      "order of the body does not matter");
	jv_free(p);

	p = form("a=1+2&&b=&c&d=%e2%82%ac");
	CHECK_STR(jrn_form_get(p, "a"), "1 2", "form: + is a space");
	CHECK_STR(jrn_form_get(p, "b"), "", "form: empty value");
	CHECK_STR(jrn_form_get(p, "c"), "", "form: name without =");
	CHECK_STR(jrn_form_get(p, "d"), "\xe2\x82\xac", "form: UTF-8 escapes");
	CHECK(jrn_form_get(p, "e") == NULL, "form: absent name");
	CHECK(jv_array_length(jv_copy(p)) == 4, "form: empty piece skipped");
	jv_free(p);
	p = form("a=%zz");
	CHECK(!jv_is_valid(p) && strstr(fe.msg, "hex"), "form: bad escape refused");
	jv_free(p);
	p = form("a=%4");
	CHECK(!jv_is_valid(p), "form: cut escape refused");
	jv_free(p);
	p = form("a=%ff");
	CHECK(!jv_is_valid(p) && strstr(fe.msg, "UTF-8"), "form: not UTF-8 refused");
	jv_free(p);
}

int main(void)
{
	tokens();
	base64url();
	twilio();
	return unit_done();
}
