/* json.c: JSON in and out of jv, strict (RFC 8259) and fast.
 *
 *   serializer  jv into a reused jrn_buf (jv_dump_string allocates and
 *               reformats numbers slowly)
 *   checker     one pass over the text without allocating per value, with
 *               an index of an object's members as spans (jrn_json_index)
 *   parser      text into jv in one pass (jrn_parse_value), in place of
 *               libjq 1.6's parser, which reads more than JSON (nan, 01),
 *               rounds every number to a double and splits on escapes
 *
 * Both readers refuse the same texts with the same messages: no lone
 * surrogate escapes (RFC 8259 section 8.2 leaves them unpredictable), no
 * member name twice in an object (I-JSON, RFC 7493 section 2.3), at most
 * JRN_JSON_MAX_DEPTH levels of nesting.
 *
 * Number literals. libjq 1.6 holds a number as a double, so
 * 9007199254740993 would read as ...992 and 1e400 as infinity. The parser
 * keeps the text of every number whose decimal value differs from that of
 * the shortest text that reads back to its double (the text
 * append_number() prints): it interns the text in an append-only table
 * owned by this file, one entry per distinct text for the life of the
 * process, and puts the entry's index + 1 in the jv's `size` field, which
 * libjq 1.6 copies along with numbers (jv_copy, arrays, objects) and never
 * reads for them. jrn_json_append prints such a number as written. jq 1.7
 * keeps literals the same way (jv_number_with_literal); Debian 12 has 1.6.
 * Numbers made by arithmetic (jv_number) have size 0 and print from their
 * double; a literal prints only while its entry's double is still the
 * jv's, so a foreign size is ignored. 0.1, 1.0 and 1E2 need no literal
 * (their values equal their doubles' shortest texts') and print as today:
 * 0.1, 1, 100.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrn.h"

/* 1 for bytes that cannot appear raw inside a JSON string. */
static const unsigned char needs_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* '\\' */
};

int jrn_json_append_str(jrn_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* Worst case every byte becomes \u00XX. */
	if (n > (SIZE_MAX - 3) / 6 || jrn_buf_reserve(b, n * 6 + 2) < 0)
		return -1;
	char *o = b->p + b->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && !needs_escape[(unsigned char)s[run]])
			run++;
		memcpy(o, s + i, run - i);
		o += run - i;
		if (run == n)
			break;
		unsigned char c = (unsigned char)s[run];
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\t': *o++ = 't'; break;
		case '\r': *o++ = 'r'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		default:
			*o++ = 'u'; *o++ = '0'; *o++ = '0';
			*o++ = hex[c >> 4]; *o++ = hex[c & 15];
		}
		i = run + 1;
	}
	*o++ = '"';
	*o = '\0';
	b->len = (size_t)(o - b->p);
	return 0;
}


/* ---- number literals (see the top comment) -------------------------------- */

typedef struct {
	double d;
	size_t len;
	char *text;
} literal;

#define LIT_CHUNK_BITS 12
#define LIT_CHUNK (1u << LIT_CHUNK_BITS)
#define LIT_CHUNKS (JRN_JSON_MAX_LITERALS / LIT_CHUNK)
/* Entries live in chunks that never move, so a reader (another thread
 * printing a number it was handed) needs no lock; adding takes one. */
static literal *lit_chunks[LIT_CHUNKS];
static uint32_t lit_count;
static uint32_t *lit_slots; /* open addressing: index + 1, 0 empty */
static size_t lit_cap;
static pthread_mutex_t lit_lock = PTHREAD_MUTEX_INITIALIZER;

static const literal *literal_at(int size, double d)
{
	if (size <= 0 || (uint32_t)size > __atomic_load_n(&lit_count, __ATOMIC_ACQUIRE))
		return NULL;
	uint32_t i = (uint32_t)size - 1;
	const literal *l = &lit_chunks[i >> LIT_CHUNK_BITS][i & (LIT_CHUNK - 1)];
	return memcmp(&l->d, &d, sizeof d) == 0 ? l : NULL;
}

/* The index + 1 of text t[0..n) (reading as d) in the table, added when
 * new; 0 when out of memory or the table is full (*full says which). */
static int literal_intern(const char *t, size_t n, double d, bool *full)
{
	uint64_t h = jrn_hash64(t, n);
	int idx = 0;
	*full = false;
	pthread_mutex_lock(&lit_lock);
	if ((size_t)lit_count * 2 + 2 > lit_cap) {
		size_t cap = lit_cap ? lit_cap * 2 : 1024;
		uint32_t *slots = calloc(cap, sizeof *slots);
		if (!slots)
			goto out;
		for (uint32_t k = 0; k < lit_count; k++) {
			const literal *l = &lit_chunks[k >> LIT_CHUNK_BITS][k & (LIT_CHUNK - 1)];
			size_t j = jrn_hash64(l->text, l->len) & (cap - 1);
			while (slots[j])
				j = (j + 1) & (cap - 1);
			slots[j] = k + 1;
		}
		free(lit_slots);
		lit_slots = slots;
		lit_cap = cap;
	}
	size_t j = h & (lit_cap - 1);
	for (; lit_slots[j]; j = (j + 1) & (lit_cap - 1)) {
		uint32_t k = lit_slots[j] - 1;
		const literal *l = &lit_chunks[k >> LIT_CHUNK_BITS][k & (LIT_CHUNK - 1)];
		if (l->len == n && memcmp(l->text, t, n) == 0) {
			idx = (int)k + 1;
			goto out;
		}
	}
	if (lit_count >= JRN_JSON_MAX_LITERALS) {
		*full = true;
		goto out;
	}
	uint32_t k = lit_count;
	literal **chunk = &lit_chunks[k >> LIT_CHUNK_BITS];
	if (!*chunk && !(*chunk = calloc(LIT_CHUNK, sizeof **chunk)))
		goto out;
	char *copy = malloc(n + 1);
	if (!copy)
		goto out;
	memcpy(copy, t, n);
	copy[n] = '\0';
	(*chunk)[k & (LIT_CHUNK - 1)] = (literal){d, n, copy};
	lit_slots[j] = k + 1;
	__atomic_store_n(&lit_count, k + 1, __ATOMIC_RELEASE);
	idx = (int)k + 1;
out:
	pthread_mutex_unlock(&lit_lock);
	return idx;
}

/* Writes d as append_number prints it into tmp[40]; returns the length.
 * d is finite. */
static int format_double(double d, char tmp[40])
{
	int n = 0;
	if (d == trunc(d) && fabs(d) < 9007199254740992.0) {
		/* An integer that a double holds exactly: digits, no exponent. */
		long long v = (long long)d;
		char buf[24], *p = buf + sizeof buf;
		unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0 || (v == 0 && signbit(d)))
			*--p = '-';
		n = (int)(buf + sizeof buf - p);
		memcpy(tmp, p, (size_t)n);
		tmp[n] = '\0';
		return n;
	}
	/* The shortest of 15, 16, 17 significant digits that reads back. */
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, 40, "%.*g", prec, d);
		if (prec == 17 || strtod(tmp, NULL) == d)
			break;
	}
	return n;
}

/* The decimal value of the JSON number text t[0..n) as 0.D x 10^exp: the
 * first (at most 18) significant digits D, how many there are in all
 * (*nd, 0 for zero), exp (clamped far beyond any double) and the sign. */
typedef struct {
	char dig[18];
	size_t nd;
	long exp;
	bool neg;
} decimal;

static void decimal_of(const char *t, size_t n, decimal *x)
{
	size_t i = 0, pos = 0, first = SIZE_MAX, last = 0, intdigits = 0;
	long e = 0;
	bool in_frac = false;
	memset(x, 0, sizeof *x);
	if (i < n && t[i] == '-') {
		x->neg = true;
		i++;
	}
	for (; i < n && t[i] != 'e' && t[i] != 'E'; i++) {
		if (t[i] == '.') {
			in_frac = true;
			continue;
		}
		if (!in_frac)
			intdigits++;
		if (t[i] != '0') {
			if (first == SIZE_MAX)
				first = pos;
			last = pos;
		}
		if (first != SIZE_MAX && pos - first < sizeof x->dig)
			x->dig[pos - first] = t[i];
		pos++;
	}
	if (i < n) {
		bool eneg = false;
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			eneg = t[i++] == '-';
		for (; i < n; i++)
			if (e < 100000000)
				e = e * 10 + (t[i] - '0');
		if (eneg)
			e = -e;
	}
	if (first == SIZE_MAX)
		return; /* zero */
	x->nd = last - first + 1;
	x->exp = (long)intdigits - (long)first + e;
}

static bool same_decimal(const decimal *a, const decimal *b)
{
	if (a->nd == 0 || b->nd == 0)
		return a->nd == b->nd;
	return a->neg == b->neg && a->nd == b->nd && a->exp == b->exp &&
	       memcmp(a->dig, b->dig, a->nd < sizeof a->dig ? a->nd : sizeof a->dig) == 0;
}

/* The jv of the checked JSON number t[0..n): a double, with its literal
 * kept when the double's text would change its value. jv_invalid with e
 * when the literal table cannot take it. */
static jv number_of(const char *t, size_t n, jrn_err *e)
{
	/* Fast path: an integer of at most 15 digits is exact. */
	size_t i = t[0] == '-';
	if (n - i <= 15) {
		uint64_t u = 0;
		size_t k = i;
		while (k < n && t[k] >= '0' && t[k] <= '9')
			u = u * 10 + (uint64_t)(t[k++] - '0');
		if (k == n)
			return jv_number(i ? -(double)u : (double)u);
	}
	char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
	if (!buf) {
		jrn_fail(e, "out of memory");
		return jv_invalid();
	}
	memcpy(buf, t, n);
	buf[n] = '\0';
	double d = strtod(buf, NULL);
	if (buf != small)
		free(buf);
	decimal x;
	decimal_of(t, n, &x);
	if (x.nd <= 15 && x.exp > -290 && x.exp < 290)
		return jv_number(d); /* 15 digits survive a double (DBL_DIG) */
	if (isfinite(d)) {
		char tmp[40];
		decimal y;
		decimal_of(tmp, (size_t)format_double(d, tmp), &y);
		if (same_decimal(&x, &y))
			return jv_number(d);
	}
	bool full;
	int idx = literal_intern(t, n, d, &full);
	if (idx == 0) {
		if (full)
			jrn_fail(e, "more than %d distinct number literals (the limit)",
				 JRN_JSON_MAX_LITERALS);
		else
			jrn_fail(e, "out of memory");
		return jv_invalid();
	}
	jv v = jv_number(d);
	v.size = idx;
	return v;
}

const char *jrn_json_literal(jv v, size_t *len)
{
	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return NULL;
	const literal *l = literal_at(v.size, jv_number_value(v));
	if (l && len)
		*len = l->len;
	return l ? l->text : NULL;
}

static int append_number(jrn_buf *b, jv v, jrn_err *e)
{
	char tmp[40];
	double d = jv_number_value(v);
	const literal *l = literal_at(v.size, d);

	if (l)
		return jrn_buf_add(b, l->text, l->len) < 0 ? jrn_fail(e, "out of memory") : 0;
	if (isnan(d))
		return jrn_fail(e, "NaN is not a JSON number");
	if (isinf(d))
		d = d > 0 ? 1.7976931348623157e308 : -1.7976931348623157e308;
	int n = format_double(d, tmp);
	return jrn_buf_add(b, tmp, (size_t)n) < 0 ? jrn_fail(e, "out of memory") : 0;
}

static int append_value(jrn_buf *b, jv v, int flags, jrn_err *e, int depth);

static int append_object(jrn_buf *b, jv v, int flags, jrn_err *e, int depth)
{
	int rc = 0, first = 1;

	if (jrn_buf_addc(b, '{') < 0)
		rc = jrn_fail(e, "out of memory");
	if (flags & JRN_JSON_SORTED) {
		jv keys = jv_keys(jv_copy(v));
		int n = jv_array_length(jv_copy(keys));
		for (int i = 0; i < n && rc == 0; i++) {
			jv k = jv_array_get(jv_copy(keys), i);
			if (!first && jrn_buf_addc(b, ',') < 0)
				rc = jrn_fail(e, "out of memory");
			first = 0;
			if (rc == 0 && (jrn_json_append_str(b, jv_string_value(k),
				(size_t)jv_string_length_bytes(jv_copy(k))) < 0 ||
				jrn_buf_addc(b, ':') < 0))
				rc = jrn_fail(e, "out of memory");
			jv val = jv_object_get(jv_copy(v), k);
			if (rc == 0)
				rc = append_value(b, val, flags, e, depth + 1);
			else
				jv_free(val);
		}
		jv_free(keys);
	} else {
		for (int it = jv_object_iter(v); rc == 0 && jv_object_iter_valid(v, it);
		     it = jv_object_iter_next(v, it)) {
			jv k = jv_object_iter_key(v, it);
			if (!first && jrn_buf_addc(b, ',') < 0)
				rc = jrn_fail(e, "out of memory");
			first = 0;
			if (rc == 0 && (jrn_json_append_str(b, jv_string_value(k),
				(size_t)jv_string_length_bytes(jv_copy(k))) < 0 ||
				jrn_buf_addc(b, ':') < 0))
				rc = jrn_fail(e, "out of memory");
			jv_free(k);
			if (rc == 0)
				rc = append_value(b, jv_object_iter_value(v, it), flags, e, depth + 1);
		}
	}
	jv_free(v);
	if (rc == 0 && jrn_buf_addc(b, '}') < 0)
		rc = jrn_fail(e, "out of memory");
	return rc;
}

static int append_value(jrn_buf *b, jv v, int flags, jrn_err *e, int depth)
{
	int rc = 0;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		rc = jrn_buf_add(b, "null", 4);
		break;
	case JV_KIND_TRUE:
		rc = jrn_buf_add(b, "true", 4);
		break;
	case JV_KIND_FALSE:
		rc = jrn_buf_add(b, "false", 5);
		break;
	case JV_KIND_NUMBER:
		return append_number(b, v, e); /* numbers own no memory */
	case JV_KIND_STRING:
		rc = jrn_json_append_str(b, jv_string_value(v),
					 (size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_ARRAY: {
		int n = jv_array_length(jv_copy(v));
		rc = jrn_buf_addc(b, '[');
		for (int i = 0; i < n && rc == 0; i++) {
			if (i && jrn_buf_addc(b, ',') < 0) {
				rc = -1;
				break;
			}
			if (append_value(b, jv_array_get(jv_copy(v), i), flags, e, depth + 1) < 0) {
				jv_free(v);
				return -1;
			}
		}
		if (rc == 0)
			rc = jrn_buf_addc(b, ']');
		break;
	}
	case JV_KIND_OBJECT:
		return append_object(b, v, flags, e, depth);
	default:
		jv_free(v);
		return jrn_fail(e, "not a JSON value");
	}
	jv_free(v);
	return rc < 0 ? jrn_fail(e, "out of memory") : 0;
}

int jrn_json_append(jrn_buf *b, jv v, int flags, jrn_err *e)
{
	return append_value(b, v, flags, e, 0);
}

/* ---- strict syntax check ------------------------------------------------ */

/* libjq 1.6 reads more than JSON (nan, 01, +1, .5, 1.); records that pass
 * through byte for byte must be JSON, so lines are checked first, without
 * allocating per value: one growable stack of open containers. */

static const unsigned char str_plain[256] = {
	/* 1 for bytes that need no attention inside a string */
	['\x20'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
	['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
	['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
	['9'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1,
	['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
	['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
	['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
	['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, [']'] = 1,
	['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
	['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
	['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1,
	['|'] = 1, ['}'] = 1, ['~'] = 1, ['\x7f'] = 1,
	[0x80 ... 0xff] = 1,
};

#define IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

static int hexval(unsigned char c)
{
	return IS_DIGIT(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex4(const unsigned char *p)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++)
		v = v * 16 + (unsigned)(IS_DIGIT(p[k]) ? p[k] - '0' : (p[k] | 0x20) - 'a' + 10);
	return v;
}

/* Scans the string starting at s[*i] == '"' to after its closing quote;
 * *esc says whether it holds an escape. 0 or -1 with e. */
static int check_string(const unsigned char *s, size_t n, size_t *i, bool *esc, jrn_err *e)
{
	size_t k = *i + 1;
	*esc = false;
	for (;;) {
		/* 8 bytes a step while none is '"', '\\' or below 0x20 (the
		 * "has a byte less than" and "has a zero byte" tests of Sean
		 * Anderson's Bit Twiddling Hacks; exact as a whole) */
		while (n - k >= 8) {
			uint64_t x, ones = 0x0101010101010101u, high = 0x8080808080808080u;
			memcpy(&x, s + k, 8);
			uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
			if ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high)
				break;
			k += 8;
		}
		while (k < n && str_plain[s[k]])
			k++;
		if (k >= n)
			return jrn_fail(e, "invalid JSON at byte %zu: unterminated string", *i + 1);
		if (s[k] == '"')
			break;
		if (s[k] < 0x20)
			return jrn_fail(e, "invalid JSON at byte %zu: control character in a string", k + 1);
		/* a backslash */
		*esc = true;
		if (k + 1 >= n)
			return jrn_fail(e, "invalid JSON at byte %zu: unterminated string", *i + 1);
		switch (s[k + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			k += 2;
			break;
		case 'u': {
			if (k + 5 >= n || !hexval(s[k + 2]) || !hexval(s[k + 3]) ||
			    !hexval(s[k + 4]) || !hexval(s[k + 5]))
				return jrn_fail(e, "invalid JSON at byte %zu: bad \\u escape", k + 1);
			unsigned cp = hex4(s + k + 2);
			if (cp >= 0xD800 && cp <= 0xDFFF) {
				/* a high surrogate needs a low one right after it */
				unsigned lo = 0;
				if (cp <= 0xDBFF && k + 11 < n && s[k + 6] == '\\' && s[k + 7] == 'u' &&
				    hexval(s[k + 8]) && hexval(s[k + 9]) && hexval(s[k + 10]) &&
				    hexval(s[k + 11]))
					lo = hex4(s + k + 8);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return jrn_fail(e, "invalid JSON at byte %zu: lone surrogate escape %.6s",
							k + 1, (const char *)s + k);
				k += 6;
			}
			k += 6;
			break;
		}
		default:
			return jrn_fail(e, "invalid JSON at byte %zu: bad escape", k + 1);
		}
	}
	*i = k + 1;
	return 0;
}

/* Appends the checked string body s[0..n) (inside its quotes), escapes
 * decoded, to b. 0 or -1 (memory). */
static int decode_string(const unsigned char *s, size_t n, jrn_buf *b)
{
	if (jrn_buf_reserve(b, n) < 0)
		return -1;
	char *o = b->p + b->len;
	size_t k = 0;
	while (k < n) {
		if (s[k] != '\\') {
			*o++ = (char)s[k++];
			continue;
		}
		unsigned cp;
		switch (s[k + 1]) {
		case 'b': *o++ = '\b'; k += 2; continue;
		case 'f': *o++ = '\f'; k += 2; continue;
		case 'n': *o++ = '\n'; k += 2; continue;
		case 'r': *o++ = '\r'; k += 2; continue;
		case 't': *o++ = '\t'; k += 2; continue;
		case 'u':
			cp = hex4(s + k + 2);
			k += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s + k + 2) - 0xDC00);
				k += 6;
			}
			/* at most 4 bytes from at least 6 of text */
			if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xC0 | cp >> 6);
				*o++ = (char)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xE0 | cp >> 12);
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
				*o++ = (char)(0x80 | (cp & 0x3F));
			} else {
				*o++ = (char)(0xF0 | cp >> 18);
				*o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
				*o++ = (char)(0x80 | (cp & 0x3F));
			}
			continue;
		default: /* '"' '\\' '/' */
			*o++ = (char)s[k + 1];
			k += 2;
		}
	}
	*o = '\0';
	b->len = (size_t)(o - b->p);
	return 0;
}

/* "invalid JSON at byte N: duplicate member name "NAME"" into e, NAME
 * (decoded) JSON-quoted and cut to 100 bytes. Returns -1. */
static int dup_fail(jrn_err *e, size_t at, const char *name, size_t len)
{
	jrn_buf q = {0};
	size_t cut = len;
	if (cut > 100) {
		cut = 100;
		while (cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80)
			cut--;
	}
	if (jrn_json_append_str(&q, name, cut) < 0)
		return jrn_fail(e, "out of memory");
	jrn_fail(e, "invalid JSON at byte %zu: duplicate member name %s%s", at, q.p,
		 cut < len ? " (cut)" : "");
	jrn_buf_free(&q);
	return -1;
}

/* A member name while checking: its bytes inside the quotes (text offset),
 * or decoded into the checker's scratch buffer. */
typedef struct {
	size_t quote;  /* the offset of its opening quote */
	size_t off, len;
	uint64_t sig;  /* length, first and last byte: most names differ here */
	bool esc;      /* holds an escape: compare decoded */
	bool decoded;  /* off is into the scratch buffer */
} keyspan;

static uint64_t key_sig(const unsigned char *p, size_t len)
{
	return len ? (uint64_t)len | (uint64_t)p[0] << 40 | (uint64_t)p[len - 1] << 48 : 0;
}

typedef struct {
	const unsigned char *s;
	jrn_buf *tmp;
	keyspan *k;
} keycmp_ctx;

static const char *key_bytes(const keycmp_ctx *c, const keyspan *k)
{
	return k->decoded ? c->tmp->p + k->off : (const char *)c->s + k->off;
}

static int keycmp(const void *a, const void *b, void *ctx)
{
	const keycmp_ctx *c = ctx;
	const keyspan *x = &c->k[*(const size_t *)a], *y = &c->k[*(const size_t *)b];
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	int r = memcmp(key_bytes(c, x), key_bytes(c, y), x->len);
	if (r)
		return r;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Whether the names k[0..nk) of one object (in text order; esc: some hold
 * an escape) hold one twice: -1 with e naming the first name (in text
 * order) seen before, else 0. */
static int check_dups(const unsigned char *s, keyspan *k, size_t nk, bool esc, jrn_buf *tmp,
		      jrn_err *e)
{
	jrn_buf_reset(tmp);
	for (size_t i = 0; esc && i < nk; i++) {
		if (!k[i].esc)
			continue;
		size_t at = tmp->len;
		if (decode_string(s + k[i].off, k[i].len, tmp) < 0)
			return jrn_fail(e, "out of memory");
		k[i].off = at;
		k[i].len = tmp->len - at;
		k[i].decoded = true;
	}
	for (size_t i = 0; esc && i < nk; i++)
		if (k[i].decoded)
			k[i].sig = key_sig((const unsigned char *)tmp->p + k[i].off, k[i].len);
	keycmp_ctx c = {s, tmp, k};
	size_t dup = SIZE_MAX;
	if (nk <= 24) {
		for (size_t i = 1; i < nk && dup == SIZE_MAX; i++)
			for (size_t j = 0; j < i; j++)
				if (k[i].sig == k[j].sig &&
				    memcmp(key_bytes(&c, &k[i]), key_bytes(&c, &k[j]), k[i].len) == 0) {
					dup = i;
					break;
				}
	} else {
		size_t *order = malloc(nk * sizeof *order);
		if (!order)
			return jrn_fail(e, "out of memory");
		for (size_t i = 0; i < nk; i++)
			order[i] = i;
		qsort_r(order, nk, sizeof *order, keycmp, &c);
		for (size_t i = 1; i < nk; i++) {
			const keyspan *x = &k[order[i - 1]], *y = &k[order[i]];
			if (x->len == y->len && memcmp(key_bytes(&c, x), key_bytes(&c, y), x->len) == 0 &&
			    order[i] < dup)
				dup = order[i];
		}
		free(order);
	}
	if (dup == SIZE_MAX)
		return 0;
	const keyspan *d = &k[dup];
	return dup_fail(e, d->quote + 1, key_bytes(&c, d), d->len);
}

static int check_number(const unsigned char *s, size_t n, size_t *i, jrn_err *e)
{
	size_t k = *i, start = k;
	if (k < n && s[k] == '-')
		k++;
	if (k < n && s[k] == '0') {
		k++;
	} else if (k < n && s[k] >= '1' && s[k] <= '9') {
		while (k < n && IS_DIGIT(s[k]))
			k++;
	} else {
		return jrn_fail(e, "invalid JSON at byte %zu: bad number", start + 1);
	}
	if (k < n && s[k] == '.') {
		k++;
		if (k >= n || !IS_DIGIT(s[k]))
			return jrn_fail(e, "invalid JSON at byte %zu: bad number", start + 1);
		while (k < n && IS_DIGIT(s[k]))
			k++;
	}
	if (k < n && (s[k] == 'e' || s[k] == 'E')) {
		k++;
		if (k < n && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k >= n || !IS_DIGIT(s[k]))
			return jrn_fail(e, "invalid JSON at byte %zu: bad number", start + 1);
		while (k < n && IS_DIGIT(s[k]))
			k++;
	}
	if (k < n && (IS_DIGIT(s[k]) || s[k] == '.' || s[k] == 'e' || s[k] == 'E' ||
		      s[k] == '+' || s[k] == '-'))
		return jrn_fail(e, "invalid JSON at byte %zu: bad number", start + 1);
	*i = k;
	return 0;
}

/* What is wrong with the byte at s[0] (n > 0) where a value should start:
 * "unexpected 'x'", "unexpected byte 0xNN", or a byte-order mark (which
 * the reader takes only at the start of the input). Written into buf. */
static const char *unexpected(const unsigned char *s, size_t n, char buf[24])
{
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		return "byte-order mark (U+FEFF) not at the start of the input";
	if (s[0] >= 0x20 && s[0] < 0x7f)
		snprintf(buf, 24, "unexpected '%c'", s[0]);
	else
		snprintf(buf, 24, "unexpected byte 0x%02x", s[0]);
	return buf;
}

/* One open container while checking: its bracket, and the member of the
 * index it is the value of (-1: the top level, -2: not indexed). */
typedef struct {
	char bracket;
	int member;
	bool keys_esc;    /* one of them holds an escape */
	size_t keys_from; /* objects: their names start here in the key stack */
} open_container;

static int add_member(jrn_json_index *ix, int parent, const unsigned char *s, size_t k0,
		      size_t k1, bool kesc)
{
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? ix->cap * 2 : 32;
		jrn_json_member *m = realloc(ix->m, cap * sizeof *m);
		if (!m)
			return -1;
		ix->m = m;
		ix->cap = cap;
	}
	jrn_json_member *m = &ix->m[ix->n++];
	m->key = (const char *)s + k0;
	m->klen = k1 - k0;
	m->kescaped = kesc;
	m->parent = parent;
	m->depth = 0;
	m->next = ix->n; /* (a value with members inside: set at its close) */
	return 0;
}

/* long: a hand-written JSON lexer and checker in one loop (the hot path of
 * every tool: a record is read once, byte by byte); its states (value,
 * member key, after value) share the container stack and the position. */
int jrn_json_index_build(jrn_json_index *ix, const char *text, size_t n, int max_depth,
			 jrn_err *e)
{
	const unsigned char *s = (const unsigned char *)text;
	open_container small[32], *stack = small;
	size_t depth = 0, cap = sizeof small / sizeof small[0], i = 0;
	int rc = 0, cur = -2; /* the member whose value comes next, if indexed */
	/* the names of the open objects, to refuse one given twice */
	keyspan ksmall[64], *keys = ksmall;
	size_t nkeys = 0, kcap = sizeof ksmall / sizeof ksmall[0];
	jrn_buf tmp = {0};
	bool esc;
	char ubuf[24];

	if (ix)
		ix->n = 0;
#define SKIP_WS() while (i < n && IS_WS(s[i])) i++
#define FAIL(...) do { rc = jrn_fail(e, __VA_ARGS__); goto out; } while (0)
#define VALUE_AT(at) do { if (cur >= 0) { ix->m[cur].val = text + (at); ix->m[cur].kind = (char)s[at]; } } while (0)
#define VALUE_END(at) do { if (cur >= 0) ix->m[cur].vlen = (size_t)(text + (at) - ix->m[cur].val); } while (0)
value:
	SKIP_WS();
	if (i >= n)
		FAIL(depth ? "invalid JSON: unexpected end of line" : "invalid JSON: no value");
	switch (s[i]) {
	case '{':
	case '[':
		if (depth == JRN_JSON_MAX_DEPTH)
			FAIL("invalid JSON at byte %zu: nested deeper than %d levels", i + 1,
			     JRN_JSON_MAX_DEPTH);
		if (depth == cap) {
			open_container *p = stack == small ? malloc(cap * 2 * sizeof *p)
							   : realloc(stack, cap * 2 * sizeof *p);
			if (!p)
				FAIL("out of memory");
			if (stack == small)
				memcpy(p, small, sizeof small);
			stack = p;
			cap *= 2;
		}
		VALUE_AT(i);
		stack[depth].bracket = (char)s[i];
		stack[depth].keys_from = nkeys;
		stack[depth].keys_esc = false;
		/* members of this object are indexed when it is the top level
		 * or an indexed member's value, within max_depth */
		stack[depth].member = !ix || s[i] != '{' || (int)depth >= max_depth ? -2
				      : depth == 0 ? -1 : cur;
		if (stack[depth].member == -2 && cur >= 0)
			stack[depth].member = -3 - cur; /* value span still wanted */
		depth++;
		i++;
		SKIP_WS();
		if (i < n && s[i] == (stack[depth - 1].bracket == '{' ? '}' : ']')) {
			i++;
			goto close;
		}
		if (stack[depth - 1].bracket == '{')
			goto key;
		cur = -2;
		goto value;
	case '"': {
		VALUE_AT(i);
		size_t k = i;
		if (check_string(s, n, &i, &esc, e) < 0)
			goto err;
		if (cur >= 0) {
			ix->m[cur].val = text + k + 1;
			ix->m[cur].vlen = i - k - 2;
			ix->m[cur].escaped = esc;
		}
		goto after;
	}
	case 't':
		if (n - i < 4 || memcmp(s + i, "true", 4))
			FAIL("invalid JSON at byte %zu: unexpected 't'", i + 1);
		VALUE_AT(i);
		i += 4;
		VALUE_END(i);
		goto after;
	case 'f':
		if (n - i < 5 || memcmp(s + i, "false", 5))
			FAIL("invalid JSON at byte %zu: unexpected 'f'", i + 1);
		VALUE_AT(i);
		i += 5;
		VALUE_END(i);
		goto after;
	case 'n':
		if (n - i < 4 || memcmp(s + i, "null", 4))
			FAIL("invalid JSON at byte %zu: unexpected 'n'", i + 1);
		VALUE_AT(i);
		i += 4;
		VALUE_END(i);
		goto after;
	default:
		if (s[i] == '-' || IS_DIGIT(s[i])) {
			VALUE_AT(i);
			if (check_number(s, n, &i, e) < 0)
				goto err;
			if (cur >= 0)
				ix->m[cur].kind = '0';
			VALUE_END(i);
			goto after;
		}
		FAIL("invalid JSON at byte %zu: %s", i + 1, unexpected(s + i, n - i, ubuf));
	}
key:
	SKIP_WS();
	if (i >= n || s[i] != '"')
		FAIL("invalid JSON at byte %zu: expected a string key", i + 1);
	{
		size_t k0 = i + 1;
		if (check_string(s, n, &i, &esc, e) < 0)
			goto err;
		if (nkeys == kcap) {
			keyspan *p = keys == ksmall ? malloc(kcap * 2 * sizeof *p)
						    : realloc(keys, kcap * 2 * sizeof *p);
			if (!p)
				FAIL("out of memory");
			if (keys == ksmall)
				memcpy(p, ksmall, sizeof ksmall);
			keys = p;
			kcap *= 2;
		}
		keys[nkeys++] = (keyspan){k0 - 1, k0, i - 1 - k0, key_sig(s + k0, i - 1 - k0), esc, false};
		stack[depth - 1].keys_esc |= esc;
		int parent = stack[depth - 1].member;
		cur = -2;
		if (parent >= -1) {
			if (add_member(ix, parent, s, k0, i - 1, esc) < 0)
				FAIL("out of memory");
			cur = (int)ix->n - 1;
			ix->m[cur].depth = (int)depth;
			ix->m[cur].escaped = false;
		}
	}
	SKIP_WS();
	if (i >= n || s[i] != ':')
		FAIL("invalid JSON at byte %zu: expected ':'", i + 1);
	i++;
	goto value;
close:
	/* a container ended at s[i - 1]: finish its member's value span */
	depth--;
	if (stack[depth].bracket == '{') {
		size_t from = stack[depth].keys_from;
		if (nkeys - from > 1 &&
		    check_dups(s, keys + from, nkeys - from, stack[depth].keys_esc, &tmp, e) < 0)
			goto err;
		nkeys = from;
	}
	{
		int m = stack[depth].member;
		if (m <= -3)
			m = -3 - m;
		else if (depth > 0 && m >= 0)
			; /* m is the member this object is the value of */
		else
			m = -2;
		if (m >= 0) {
			ix->m[m].vlen = (size_t)(text + i - ix->m[m].val);
			ix->m[m].next = ix->n;
		}
	}
after:
	cur = -2;
	SKIP_WS();
	if (depth == 0) {
		if (i < n)
			FAIL("invalid JSON at byte %zu: more after the value", i + 1);
		goto out;
	}
	if (i >= n)
		FAIL("invalid JSON: unexpected end of line");
	if (s[i] == ',') {
		i++;
		if (stack[depth - 1].bracket == '{')
			goto key;
		goto value;
	}
	if (s[i] == (stack[depth - 1].bracket == '{' ? '}' : ']')) {
		i++;
		goto close;
	}
	FAIL("invalid JSON at byte %zu: expected ',' or '%c'", i + 1,
	     stack[depth - 1].bracket == '{' ? '}' : ']');
err:
	rc = -1;
out:
	if (stack != small)
		free(stack);
	if (keys != ksmall)
		free(keys);
	jrn_buf_free(&tmp);
	return rc;
#undef SKIP_WS
#undef FAIL
#undef VALUE_AT
#undef VALUE_END
}

int jrn_json_check(const char *text, size_t n, jrn_err *e)
{
	return jrn_json_index_build(NULL, text, n, 0, e);
}

/* ---- the parser: text into jv ------------------------------------------- */

/* One parse: the text, the position, the reason of a failure, a buffer for
 * decoded strings, and whether to look for a repeated member name before
 * each member (only when an object came out shorter than its members). */
typedef struct {
	const unsigned char *s;
	size_t n, i;
	jrn_err *e;
	jrn_buf tmp;
	bool dups;
} parse;

#define P_WS(P) while ((P)->i < (P)->n && IS_WS((P)->s[(P)->i])) (P)->i++

static jv p_fail(parse *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static jv p_fail(parse *P, const char *fmt, ...)
{
	if (P->e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(P->e->msg, sizeof P->e->msg, fmt, ap);
		va_end(ap);
	}
	return jv_invalid();
}

static jv p_value(parse *P, size_t depth);

static jv p_string(parse *P)
{
	size_t k = P->i;
	bool esc;
	if (check_string(P->s, P->n, &P->i, &esc, P->e) < 0)
		return jv_invalid();
	const unsigned char *a = P->s + k + 1;
	size_t len = P->i - k - 2;
	if (!esc)
		return jv_string_sized((const char *)a, (int)len);
	jrn_buf_reset(&P->tmp);
	if (decode_string(a, len, &P->tmp) < 0)
		return p_fail(P, "out of memory");
	return jv_string_sized(P->tmp.p, (int)P->tmp.len);
}

/* The object at s[i] == '{', whose members are at depth open containers. */
static jv p_object(parse *P, size_t depth)
{
	size_t start = P->i;
	jv obj = jv_object();
	int count = 0;
	P->i++;
	P_WS(P);
	if (P->i < P->n && P->s[P->i] == '}') {
		P->i++;
		return obj;
	}
	for (;;) {
		P_WS(P);
		if (P->i >= P->n || P->s[P->i] != '"') {
			jv_free(obj);
			return p_fail(P, "invalid JSON at byte %zu: expected a string key", P->i + 1);
		}
		size_t at = P->i;
		jv key = p_string(P);
		if (!jv_is_valid(key)) {
			jv_free(obj);
			return key;
		}
		P_WS(P);
		if (P->i >= P->n || P->s[P->i] != ':') {
			jv_free(key);
			jv_free(obj);
			return p_fail(P, "invalid JSON at byte %zu: expected ':'", P->i + 1);
		}
		P->i++;
		if (P->dups && jv_object_has(jv_copy(obj), jv_copy(key))) {
			dup_fail(P->e, at + 1, jv_string_value(key),
				 (size_t)jv_string_length_bytes(jv_copy(key)));
			jv_free(key);
			jv_free(obj);
			return jv_invalid();
		}
		jv val = p_value(P, depth);
		if (!jv_is_valid(val)) {
			jv_free(key);
			jv_free(obj);
			return val;
		}
		obj = jv_object_set(obj, key, val);
		count++;
		P_WS(P);
		if (P->i >= P->n) {
			jv_free(obj);
			return p_fail(P, "invalid JSON: unexpected end of line");
		}
		if (P->s[P->i] == ',') {
			P->i++;
			continue;
		}
		if (P->s[P->i] == '}') {
			P->i++;
			break;
		}
		jv_free(obj);
		return p_fail(P, "invalid JSON at byte %zu: expected ',' or '}'", P->i + 1);
	}
	/* A name given twice leaves fewer members than were read: read the
	 * object again, looking for it before each member. */
	if (count > 1 && !P->dups && jv_object_length(jv_copy(obj)) != count) {
		jv_free(obj);
		P->i = start;
		P->dups = true;
		obj = p_object(P, depth);
		P->dups = false;
	}
	return obj;
}

/* The array at s[i] == '[', whose elements are at depth open containers. */
static jv p_array(parse *P, size_t depth)
{
	jv arr = jv_array();
	P->i++;
	P_WS(P);
	if (P->i < P->n && P->s[P->i] == ']') {
		P->i++;
		return arr;
	}
	for (;;) {
		jv val = p_value(P, depth);
		if (!jv_is_valid(val)) {
			jv_free(arr);
			return val;
		}
		arr = jv_array_append(arr, val);
		P_WS(P);
		if (P->i >= P->n) {
			jv_free(arr);
			return p_fail(P, "invalid JSON: unexpected end of line");
		}
		if (P->s[P->i] == ',') {
			P->i++;
			continue;
		}
		if (P->s[P->i] == ']') {
			P->i++;
			return arr;
		}
		jv_free(arr);
		return p_fail(P, "invalid JSON at byte %zu: expected ',' or ']'", P->i + 1);
	}
}

/* The value at s[i] after blanks, inside depth open containers. */
static jv p_value(parse *P, size_t depth)
{
	P_WS(P);
	if (P->i >= P->n)
		return p_fail(P, depth ? "invalid JSON: unexpected end of line" : "invalid JSON: no value");
	const unsigned char *s = P->s + P->i;
	size_t left = P->n - P->i;
	switch (*s) {
	case '{':
	case '[':
		if (depth == JRN_JSON_MAX_DEPTH)
			return p_fail(P, "invalid JSON at byte %zu: nested deeper than %d levels",
				      P->i + 1, JRN_JSON_MAX_DEPTH);
		return *s == '{' ? p_object(P, depth + 1) : p_array(P, depth + 1);
	case '"':
		return p_string(P);
	case 't':
		if (left < 4 || memcmp(s, "true", 4))
			return p_fail(P, "invalid JSON at byte %zu: unexpected 't'", P->i + 1);
		P->i += 4;
		return jv_true();
	case 'f':
		if (left < 5 || memcmp(s, "false", 5))
			return p_fail(P, "invalid JSON at byte %zu: unexpected 'f'", P->i + 1);
		P->i += 5;
		return jv_false();
	case 'n':
		if (left < 4 || memcmp(s, "null", 4))
			return p_fail(P, "invalid JSON at byte %zu: unexpected 'n'", P->i + 1);
		P->i += 4;
		return jv_null();
	default:
		if (*s == '-' || IS_DIGIT(*s)) {
			size_t a = P->i;
			if (check_number(P->s, P->n, &P->i, P->e) < 0)
				return jv_invalid();
			return number_of((const char *)P->s + a, P->i - a, P->e);
		} else {
			char ubuf[24];
			return p_fail(P, "invalid JSON at byte %zu: %s", P->i + 1,
				      unexpected(s, left, ubuf));
		}
	}
}

/* Parses p[0..len) as one JSON value; the caller checked UTF-8. */
static jv parse_text(const char *p, size_t len, jrn_err *e)
{
	if (len > INT_MAX)
		return jrn_fail(e, "JSON text of %zu bytes is longer than the parser takes (2 GiB)", len),
		       jv_invalid();
	parse P = {(const unsigned char *)p, len, 0, e, {0}, false};
	jv v = p_value(&P, 0);
	if (jv_is_valid(v)) {
		P_WS(&P);
		if (P.i < P.n) {
			jv_free(v);
			v = p_fail(&P, "invalid JSON at byte %zu: more after the value", P.i + 1);
		}
	}
	jrn_buf_free(&P.tmp);
	return v;
}

jv jrn_parse_value(const char *p, size_t len, jrn_err *e)
{
	size_t bad = jrn_utf8_invalid_at(p, len);
	if (bad < len) {
		jrn_fail(e, "invalid UTF-8 at byte %zu", bad + 1);
		return jv_invalid();
	}
	return parse_text(p, len, e);
}

jv jrn_parse_object(jv_parser **parser, const char *p, size_t len, jrn_err *e)
{
	size_t bad = jrn_utf8_invalid_at(p, len);
	if (bad < len) {
		jrn_fail(e, "invalid UTF-8 at byte %zu", bad + 1);
		return jv_invalid();
	}
	return jrn_parse_checked_object(parser, p, len, e);
}

jv jrn_parse_checked_object(jv_parser **parser, const char *p, size_t len, jrn_err *e)
{
	(void)parser; /* libjq's parser is no longer used; the API stays */
	jv v = parse_text(p, len, e);
	if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_OBJECT) {
		jrn_fail(e, "not a JSON object (got %s)", jrn_json_kind_phrase_at(p, len));
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

const jrn_json_member *jrn_json_find(const jrn_json_index *ix, int parent, const char *key)
{
	size_t klen = strlen(key);
	size_t end = parent < 0 ? ix->n : ix->m[parent].next;
	for (size_t i = parent < 0 ? 0 : (size_t)parent + 1; i < end; i = ix->m[i].next) {
		const jrn_json_member *m = &ix->m[i];
		if (m->klen == klen && !m->kescaped && memcmp(m->key, key, klen) == 0)
			return m; /* names are never repeated (the check refuses it) */
	}
	return NULL;
}

void jrn_json_index_free(jrn_json_index *ix)
{
	free(ix->m);
	ix->m = NULL;
	ix->n = ix->cap = 0;
}
