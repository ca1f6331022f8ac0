/*
 * track.h: signed tracking tokens (shared by jrn-send, which puts them in
 * the links of a message, and jrn-ingest --listen, which receives them),
 * and the signature Twilio puts on its webhooks.
 *
 * A token names one message and what the link does with it:
 *
 *   kind      'o' open (the 1x1 pixel), 'c' click (a rewritten link),
 *             'u' unsubscribe (the page and the RFC 8058 one-click POST)
 *   key       the deliveries.key of the message (jrn-state(5))
 *   customer  its customerId
 *   campaign  its campaignId ("" when it has none)
 *   channel   its channel (email; sms for an SMS's unsubscribe link)
 *   url       for 'c' only: where the link goes (http or https)
 *
 * Its text is base64url(payload) "." base64url(HMAC-SHA256(secret,
 * payload)), both without padding (RFC 4648 section 5), where payload is
 * the compact JSON array [kind, key, customer, campaign, channel] (and url
 * for 'c'). A JSON array is injective: no two field lists give the same
 * payload, so a signature cannot be moved to other fields. The signature
 * is checked in constant time (CRYPTO_memcmp) before the payload is read;
 * the target of a click comes only from the signed payload, so a listener
 * that follows it is no open redirect. A token carries no expiry: an
 * unsubscribe link must work for as long as the mail is kept (RFC 8058
 * section 3.2 asks that it keep working), and rotating the secret retires
 * every token at once.
 *
 * Bounds: a token is at most JRN_TRACK_MAX_TOKEN bytes (what jrn-send
 * makes and what a listener reads; URLs past about 8 KB are refused by
 * some mail clients and proxies), so a click's target is at most about
 * 2,500 bytes after the other fields.
 *
 * Twilio ("Webhooks security", twilio.com/docs/usage/webhooks/
 * webhooks-security): X-Twilio-Signature is base64(HMAC-SHA1(auth token,
 * the full URL Twilio called, then each POST parameter sorted by name, its
 * name followed by its value)), nothing between them.
 *
 * Nothing here prints or exits; the caller owns every jrn_buf and jv it
 * passes; returned strings are owned by the structure that holds them.
 */
#ifndef JRN_TRACK_H
#define JRN_TRACK_H

#include <stdbool.h>

#include "jrn.h"

#define JRN_TRACK_MAX_TOKEN 4096

typedef struct {
	char kind;      /* 'o', 'c' or 'u' */
	char *key;      /* each owned (malloc), NUL-terminated */
	char *customer;
	char *campaign; /* "" when none */
	char *channel;
	char *url;      /* 'c' only, else NULL */
} jrn_track_token;

/* Appends the token of t (borrowed; url set only for 'c') signed with
 * secret[0..slen) to out. Checks the fields first: kind one of o, c, u;
 * key, customer and channel ids (jrn_id_check), campaign free of control
 * characters, url (for 'c') an http or https URL free of control
 * characters and spaces; the whole at most JRN_TRACK_MAX_TOKEN bytes.
 * 0, or -1 with e (out then holds what it held, perhaps more). */
int jrn_track_sign(const void *secret, size_t slen, const jrn_track_token *t, jrn_buf *out,
		   jrn_err *e);

/* Reads token s[0..n) signed with secret[0..slen) into *t (its strings
 * malloc'd, the caller frees them with jrn_track_token_free). -1 with e
 * ("token: ..."), *t all NULL, when the token is longer than
 * JRN_TRACK_MAX_TOKEN, is not two base64url parts, its signature does not
 * match (compared in constant time), or its payload is not the array
 * described above with the same checks as jrn_track_sign. */
int jrn_track_verify(const void *secret, size_t slen, const char *s, size_t n,
		     jrn_track_token *t, jrn_err *e);

/* Frees t's strings and sets them to NULL; NULL t is a no-op. */
void jrn_track_token_free(jrn_track_token *t);

/* Appends the unpadded base64url (RFC 4648 section 5) of p[0..n) to out.
 * 0 or -1 (out of memory). */
int jrn_base64url(jrn_buf *out, const void *p, size_t n);

/* Appends the bytes of unpadded base64url s[0..n) to out. -1 when s holds
 * a character outside the alphabet, '=' padding, a length of 4k+1, or
 * unused bits that are not 0 (one text per byte string), or memory runs
 * out. */
int jrn_base64url_decode(jrn_buf *out, const char *s, size_t n);

/* Reads an application/x-www-form-urlencoded body s[0..n) (the WHATWG URL
 * standard's form: '&'-separated name=value, '+' a space, %XX a byte)
 * into an array of [name, value] string pairs in their order (the caller
 * owns it; empty pieces between '&'s are skipped). jv_invalid with e when
 * a %-escape is malformed or a decoded name or value is not UTF-8. */
jv jrn_form_parse(const char *s, size_t n, jrn_err *e);

/* The value of the first pair named name in pairs (borrowed, as
 * jrn_form_parse gives it): a pointer into pairs (valid while pairs lives),
 * or NULL when there is none. */
const char *jrn_form_get(jv pairs, const char *name);

/* Writes Twilio's signature (above) of url and pairs (borrowed, as
 * jrn_form_parse gives them) under the auth token token[0..tlen) into
 * out[29] (28 base64 characters and a NUL). Pairs with the same name are
 * ordered by value, as Twilio's libraries do. 0, or -1 when OpenSSL or
 * memory fails (out empty). */
int jrn_twilio_signature(const void *token, size_t tlen, const char *url, jv pairs,
			 char out[29]);

/* True when sig (the X-Twilio-Signature header, NULL when absent) is
 * Twilio's signature of url and pairs (borrowed) under token; compared in
 * constant time. */
bool jrn_twilio_check(const void *token, size_t tlen, const char *url, jv pairs, const char *sig);

#endif
