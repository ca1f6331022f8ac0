/* track.c: signed tracking tokens and Twilio's webhook signature (see
 * track.h for the formats and their sources). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "track.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_append(jrn_buf *out, const unsigned char *p, size_t n, const char *alpha, bool pad)
{
	if (jrn_buf_reserve(out, (n + 2) / 3 * 4 + 1) < 0)
		return -1;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		char q[4] = {alpha[v >> 18], alpha[v >> 12 & 63], alpha[v >> 6 & 63], alpha[v & 63]};
		jrn_buf_add(out, q, 4);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		char q[4] = {alpha[v >> 18], alpha[v >> 12 & 63], '=', '='};
		jrn_buf_add(out, q, pad ? 4 : 2);
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		char q[4] = {alpha[v >> 18], alpha[v >> 12 & 63], alpha[v >> 6 & 63], '='};
		jrn_buf_add(out, q, pad ? 4 : 3);
	}
	return jrn_buf_add(out, "", 0); /* NUL-terminated even when n is 0 */
}

int jrn_base64url(jrn_buf *out, const void *p, size_t n)
{
	return b64_append(out, p, n, b64url, false);
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int jrn_base64url_decode(jrn_buf *out, const char *s, size_t n)
{
	if (n % 4 == 1 || jrn_buf_reserve(out, n / 4 * 3 + 3) < 0)
		return -1;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			jrn_buf_addc(out, (char)(acc >> bits & 0xff));
		}
	}
	/* the bits left over must be 0: one text per byte string */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return jrn_buf_add(out, "", 0);
}

/* ---- tokens ---------------------------------------------------------------- */

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* The checks jrn_track_sign and jrn_track_verify share. */
static int fields_check(const jrn_track_token *t, jrn_err *e)
{
	if (t->kind != 'o' && t->kind != 'c' && t->kind != 'u')
		return jrn_fail(e, "token: kind must be o, c or u");
	if (!t->key || jrn_id_check(t->key, strlen(t->key), "token: key", e) < 0)
		return t->key ? -1 : jrn_fail(e, "token: no key");
	if (!t->customer || jrn_id_check(t->customer, strlen(t->customer), "token: customer", e) < 0)
		return t->customer ? -1 : jrn_fail(e, "token: no customer");
	if (!t->channel || jrn_id_check(t->channel, strlen(t->channel), "token: channel", e) < 0)
		return t->channel ? -1 : jrn_fail(e, "token: no channel");
	if (t->campaign && has_ctl(t->campaign))
		return jrn_fail(e, "token: campaign: control character");
	if (t->kind == 'c') {
		const char *u = t->url;
		if (!u || (strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8)))
			return jrn_fail(e, "token: a click's url must be http or https");
		for (; *u; u++)
			if ((unsigned char)*u <= 0x20 || *u == 0x7f)
				return jrn_fail(e, "token: url: space or control character");
	} else if (t->url) {
		return jrn_fail(e, "token: only a click carries a url");
	}
	return 0;
}

static int hmac256(const void *key, size_t klen, const void *p, size_t n, unsigned char md[32])
{
	unsigned int mdlen = 0;
	if (klen > INT_MAX || !HMAC(EVP_sha256(), key, (int)klen, p, n, md, &mdlen) || mdlen != 32)
		return -1;
	return 0;
}

int jrn_track_sign(const void *secret, size_t slen, const jrn_track_token *t, jrn_buf *out,
		   jrn_err *e)
{
	if (!slen)
		return jrn_fail(e, "token: empty secret");
	if (fields_check(t, e) < 0)
		return -1;
	char kind[2] = {t->kind, 0};
	jv a = JV_ARRAY(jv_string(kind), jv_string(t->key), jv_string(t->customer),
			jv_string(t->campaign ? t->campaign : ""), jv_string(t->channel));
	if (t->kind == 'c')
		a = jv_array_append(a, jv_string(t->url));
	jrn_buf pl = {0};
	unsigned char md[32];
	size_t start = out->len;
	int rc = -1;
	if (jrn_json_append(&pl, a, 0, e) < 0)
		goto done;
	if (hmac256(secret, slen, pl.p, pl.len, md) < 0) {
		jrn_fail(e, "token: HMAC-SHA256 failed (OpenSSL)");
		goto done;
	}
	if (jrn_base64url(out, pl.p, pl.len) < 0 || jrn_buf_addc(out, '.') < 0 ||
	    jrn_base64url(out, md, sizeof md) < 0) {
		jrn_fail(e, "out of memory");
		goto done;
	}
	if (out->len - start > JRN_TRACK_MAX_TOKEN) {
		jrn_fail(e, "token: %zu bytes, longer than the limit of %d (JRN_TRACK_MAX_TOKEN)",
			 out->len - start, JRN_TRACK_MAX_TOKEN);
		goto done;
	}
	rc = 0;
done:
	jrn_buf_free(&pl);
	return rc;
}

void jrn_track_token_free(jrn_track_token *t)
{
	if (!t)
		return;
	free(t->key), free(t->customer), free(t->campaign), free(t->channel), free(t->url);
	t->key = t->customer = t->campaign = t->channel = t->url = NULL;
}

/* The string at index i of a (borrowed), malloc'd, or NULL. */
static char *elem(jv a, int i)
{
	jv v = jv_array_get(jv_copy(a), i);
	char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		int n = jv_string_length_bytes(jv_copy(v));
		if ((size_t)n == strlen(jv_string_value(v))) /* no NUL inside */
			s = strdup(jv_string_value(v));
	}
	jv_free(v);
	return s;
}

int jrn_track_verify(const void *secret, size_t slen, const char *s, size_t n,
		     jrn_track_token *t, jrn_err *e)
{
	*t = (jrn_track_token){0};
	if (!slen)
		return jrn_fail(e, "token: empty secret");
	if (n > JRN_TRACK_MAX_TOKEN)
		return jrn_fail(e, "token: longer than the limit of %d bytes (JRN_TRACK_MAX_TOKEN)",
				JRN_TRACK_MAX_TOKEN);
	const char *dot = memchr(s, '.', n);
	if (!dot || dot == s)
		return jrn_fail(e, "token: not PAYLOAD.SIGNATURE");
	jrn_buf pl = {0}, sig = {0};
	unsigned char md[32];
	int rc = -1;
	jv a = jv_invalid();
	if (jrn_base64url_decode(&pl, s, (size_t)(dot - s)) < 0 ||
	    jrn_base64url_decode(&sig, dot + 1, n - (size_t)(dot - s) - 1) < 0) {
		jrn_fail(e, "token: not base64url");
		goto done;
	}
	if (sig.len != sizeof md || hmac256(secret, slen, pl.p, pl.len, md) < 0 ||
	    CRYPTO_memcmp(md, sig.p, sizeof md) != 0) {
		jrn_fail(e, "token: bad signature");
		goto done;
	}
	a = jrn_parse_value(pl.p, pl.len, e);
	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jrn_fail(e, "token: the payload is not an array");
		goto done;
	}
	int len = jv_array_length(jv_copy(a));
	char *kind = elem(a, 0);
	t->kind = kind && strlen(kind) == 1 ? kind[0] : 0;
	free(kind);
	if (len != (t->kind == 'c' ? 6 : 5)) {
		jrn_fail(e, "token: the payload has %d fields", len);
		goto done;
	}
	t->key = elem(a, 1), t->customer = elem(a, 2), t->campaign = elem(a, 3);
	t->channel = elem(a, 4);
	t->url = t->kind == 'c' ? elem(a, 5) : NULL;
	if (!t->campaign) {
		jrn_fail(e, "token: campaign is not a string");
		goto done;
	}
	rc = fields_check(t, e);
done:
	jv_free(a);
	jrn_buf_free(&pl), jrn_buf_free(&sig);
	if (rc < 0) {
		jrn_track_token_free(t);
		t->kind = 0;
	}
	return rc;
}

/* ---- forms and Twilio ------------------------------------------------------ */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..n) (+ and %XX) into b. 0, or -1 with e. */
static int form_decode(jrn_buf *b, const char *s, size_t n, jrn_err *e)
{
	jrn_buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= n)
				return jrn_fail(e, "form: '%%' at byte %zu is not followed by two hex digits",
						i);
			int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return jrn_fail(e, "form: '%%' at byte %zu is not followed by two hex digits",
						i);
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (jrn_buf_addc(b, c) < 0)
			return jrn_fail(e, "out of memory");
	}
	if (jrn_buf_add(b, "", 0) < 0)
		return jrn_fail(e, "out of memory");
	if (jrn_utf8_invalid_at(b->p, b->len) != b->len)
		return jrn_fail(e, "form: not UTF-8");
	return 0;
}

jv jrn_form_parse(const char *s, size_t n, jrn_err *e)
{
	jv out = jv_array();
	jrn_buf name = {0}, value = {0};
	size_t i = 0;
	while (i < n) {
		const char *amp = memchr(s + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - s) : n;
		if (end > i) {
			const char *eq = memchr(s + i, '=', end - i);
			size_t ne = eq ? (size_t)(eq - s) : end;
			if (form_decode(&name, s + i, ne - i, e) < 0 ||
			    form_decode(&value, eq ? eq + 1 : s + end, eq ? end - ne - 1 : 0, e) < 0) {
				jv_free(out);
				out = jv_invalid();
				break;
			}
			out = jv_array_append(out, JV_ARRAY(jv_string_sized(name.p, (int)name.len),
							     jv_string_sized(value.p, (int)value.len)));
		}
		i = end + 1;
	}
	jrn_buf_free(&name), jrn_buf_free(&value);
	return out;
}

const char *jrn_form_get(jv pairs, const char *name)
{
	int n = jv_get_kind(pairs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(pairs)) : 0;
	for (int i = 0; i < n; i++) {
		jv p = jv_array_get(jv_copy(pairs), i);
		jv k = jv_array_get(jv_copy(p), 0), v = jv_array_get(jv_copy(p), 1);
		const char *r = NULL;
		if (jv_get_kind(k) == JV_KIND_STRING && jv_get_kind(v) == JV_KIND_STRING &&
		    !strcmp(jv_string_value(k), name))
			r = jv_string_value(v); /* lives in pairs, which holds v */
		jv_free(k), jv_free(v), jv_free(p);
		if (r)
			return r;
	}
	return NULL;
}

typedef struct {
	const char *k, *v;
	size_t kn, vn;
} pair;

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int pair_cmp(const void *x, const void *y)
{
	const pair *a = x, *b = y;
	int c = bytes_cmp(a->k, a->kn, b->k, b->kn);
	return c ? c : bytes_cmp(a->v, a->vn, b->v, b->vn);
}

int jrn_twilio_signature(const void *token, size_t tlen, const char *url, jv pairs,
			 char out[29])
{
	out[0] = '\0';
	int n = jv_get_kind(pairs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(pairs)) : 0;
	pair *ps = calloc((size_t)n + 1, sizeof *ps);
	jv held = jv_array(); /* keeps the strings the pairs point into */
	jrn_buf msg = {0};
	int rc = -1;
	if (!ps || tlen > INT_MAX)
		goto done;
	for (int i = 0; i < n; i++) {
		jv p = jv_array_get(jv_copy(pairs), i);
		jv k = jv_array_get(jv_copy(p), 0), v = jv_array_get(jv_copy(p), 1);
		jv_free(p);
		if (jv_get_kind(k) != JV_KIND_STRING || jv_get_kind(v) != JV_KIND_STRING) {
			jv_free(k), jv_free(v);
			goto done;
		}
		ps[i] = (pair){jv_string_value(k), jv_string_value(v),
			       (size_t)jv_string_length_bytes(jv_copy(k)),
			       (size_t)jv_string_length_bytes(jv_copy(v))};
		held = jv_array_append(jv_array_append(held, k), v);
	}
	qsort(ps, (size_t)n, sizeof *ps, pair_cmp);
	jrn_buf_adds(&msg, url);
	for (int i = 0; i < n; i++)
		jrn_buf_add(&msg, ps[i].k, ps[i].kn), jrn_buf_add(&msg, ps[i].v, ps[i].vn);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!msg.p ||
	    !HMAC(EVP_sha1(), token, (int)tlen, (const unsigned char *)msg.p, msg.len, md, &mdlen) ||
	    mdlen != 20)
		goto done;
	jrn_buf b = {0};
	if (b64_append(&b, md, mdlen, b64std, true) == 0 && b.len == 28) {
		memcpy(out, b.p, 29);
		rc = 0;
	}
	jrn_buf_free(&b);
done:
	jv_free(held);
	jrn_buf_free(&msg);
	free(ps);
	return rc;
}

bool jrn_twilio_check(const void *token, size_t tlen, const char *url, jv pairs, const char *sig)
{
	char want[29];
	if (!sig || strlen(sig) != 28 || jrn_twilio_signature(token, tlen, url, pairs, want) < 0)
		return false;
	return CRYPTO_memcmp(want, sig, 28) == 0;
}
