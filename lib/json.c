/* json.c: a JSON serializer for jv into a reused buffer. jv_dump_string
 * allocates and reformats numbers slowly; this writes straight into a
 * jrn_buf that the caller keeps between records. */
#include <math.h>
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

static int append_number(jrn_buf *b, double d, jrn_err *e)
{
	char tmp[40];
	int n;

	if (isnan(d))
		return jrn_fail(e, "NaN is not a JSON number");
	if (isinf(d))
		d = d > 0 ? 1.7976931348623157e308 : -1.7976931348623157e308;
	if (d == trunc(d) && fabs(d) < 9007199254740992.0) {
		/* An integer that a double holds exactly: digits, no exponent. */
		long long v = (long long)d;
		char *p = tmp + sizeof tmp;
		unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (v < 0 || (v == 0 && signbit(d)))
			*--p = '-';
		return jrn_buf_add(b, p, (size_t)(tmp + sizeof tmp - p)) < 0
			? jrn_fail(e, "out of memory") : 0;
	}
	/* The shortest of 15, 16, 17 significant digits that reads back. */
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (prec == 17 || strtod(tmp, NULL) == d)
			break;
	}
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
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);
		jv_free(v);
		return append_number(b, d, e);
	}
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

/* Scans the string starting at s[*i] == '"'; 0 or -1 with e. */
static int check_string(const unsigned char *s, size_t n, size_t *i, jrn_err *e)
{
	size_t k = *i + 1;
	for (;;) {
		while (k < n && str_plain[s[k]])
			k++;
		if (k >= n)
			return jrn_fail(e, "invalid JSON at byte %zu: unterminated string", *i + 1);
		if (s[k] == '"')
			break;
		if (s[k] < 0x20)
			return jrn_fail(e, "invalid JSON at byte %zu: control character in a string", k + 1);
		/* a backslash */
		if (k + 1 >= n)
			return jrn_fail(e, "invalid JSON at byte %zu: unterminated string", *i + 1);
		switch (s[k + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			k += 2;
			break;
		case 'u':
			if (k + 5 >= n || !hexval(s[k + 2]) || !hexval(s[k + 3]) ||
			    !hexval(s[k + 4]) || !hexval(s[k + 5]))
				return jrn_fail(e, "invalid JSON at byte %zu: bad \\u escape", k + 1);
			k += 6;
			break;
		default:
			return jrn_fail(e, "invalid JSON at byte %zu: bad escape", k + 1);
		}
	}
	*i = k + 1;
	return 0;
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

/* One open container while checking: its bracket, and the member of the
 * index it is the value of (-1: the top level, -2: not indexed). */
typedef struct {
	char bracket;
	int member;
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
		if (check_string(s, n, &i, e) < 0)
			goto err;
		if (cur >= 0) {
			ix->m[cur].val = text + k + 1;
			ix->m[cur].vlen = i - k - 2;
			ix->m[cur].escaped = memchr(text + k + 1, '\\', i - k - 2) != NULL;
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
		if (s[i] >= 0x20 && s[i] < 0x7f)
			FAIL("invalid JSON at byte %zu: unexpected '%c'", i + 1, s[i]);
		FAIL("invalid JSON at byte %zu: unexpected byte 0x%02x", i + 1, s[i]);
	}
key:
	SKIP_WS();
	if (i >= n || s[i] != '"')
		FAIL("invalid JSON at byte %zu: expected a string key", i + 1);
	{
		size_t k0 = i + 1;
		if (check_string(s, n, &i, e) < 0)
			goto err;
		int parent = stack[depth - 1].member;
		cur = -2;
		if (parent >= -1) {
			if (add_member(ix, parent, s, k0, i - 1,
				       memchr(s + k0, '\\', i - 1 - k0) != NULL) < 0)
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
	{
		int m = stack[depth].member;
		if (m <= -3)
			m = -3 - m;
		else if (depth > 0 && m >= 0)
			; /* m is the member this object is the value of */
		else
			m = -2;
		if (m >= 0)
			ix->m[m].vlen = (size_t)(text + i - ix->m[m].val);
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

const jrn_json_member *jrn_json_find(const jrn_json_index *ix, int parent, const char *key)
{
	size_t klen = strlen(key);
	const jrn_json_member *found = NULL;
	for (size_t i = parent < 0 ? 0 : (size_t)parent + 1; i < ix->n; i++) {
		const jrn_json_member *m = &ix->m[i];
		if (m->parent == parent && m->klen == klen && !m->kescaped &&
		    memcmp(m->key, key, klen) == 0)
			found = m; /* the last one wins, as in libjq */
	}
	return found;
}

void jrn_json_index_free(jrn_json_index *ix)
{
	free(ix->m);
	ix->m = NULL;
	ix->n = ix->cap = 0;
}
