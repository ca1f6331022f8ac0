/* fuzz/json.c: the JSON checker, the span index and the record parser.
 *
 * Oracles: jrn_json_index_build accepts an object exactly when
 * jrn_json_check does; jrn_parse_object accepts exactly the well-formed
 * UTF-8 that jrn_json_check accepts and that is an object; what it returns
 * prints (jrn_json_append, plain and sorted) as text that parses back to a
 * jv_equal value and prints again to the same bytes; libjq's jv_parse_sized
 * reads the text to a jv_equal value; every member the index finds has the
 * kind, string bytes and number of the parsed value's member. */
#include "fuzz.h"

static jv_parser *parser;

/* The value at member k of ix in v (borrowed), following the parents'
 * keys; jv_invalid() when a key on the way is escaped. */
static jv member_value(const jrn_json_index *ix, int k, jv v)
{
	const jrn_json_member *m = &ix->m[k];
	if (m->kescaped)
		return jv_invalid();
	jv parent = m->parent < 0 ? jv_copy(v) : member_value(ix, m->parent, v);
	if (!jv_is_valid(parent) || jv_get_kind(parent) != JV_KIND_OBJECT) {
		jv_free(parent);
		return jv_invalid();
	}
	return jv_object_get(parent, jv_string_sized(m->key, (int)m->klen));
}

static void check_index(const jrn_json_index *ix, jv v)
{
	for (size_t k = 0; k < ix->n; k++) {
		const jrn_json_member *m = &ix->m[k];
		if (m->kescaped)
			continue;
		char *key = strndup(m->key, m->klen);
		const jrn_json_member *f = jrn_json_find(ix, m->parent, key);
		free(key);
		FUZZ_CHECK(f != NULL, "member %zu not found by its own key", k);
		if (f != m)
			continue; /* a repeated name: the last one is the value */
		jv mv = member_value(ix, (int)k, v);
		if (!jv_is_valid(mv)) {
			jv_free(mv);
			continue;
		}
		jv_kind kind = jv_get_kind(mv);
		switch (m->kind) {
		case '{': FUZZ_CHECK(kind == JV_KIND_OBJECT, "member %zu kind {", k); break;
		case '[': FUZZ_CHECK(kind == JV_KIND_ARRAY, "member %zu kind [", k); break;
		case 't': FUZZ_CHECK(kind == JV_KIND_TRUE, "member %zu kind t", k); break;
		case 'f': FUZZ_CHECK(kind == JV_KIND_FALSE, "member %zu kind f", k); break;
		case 'n': FUZZ_CHECK(kind == JV_KIND_NULL, "member %zu kind n", k); break;
		case '"':
			FUZZ_CHECK(kind == JV_KIND_STRING, "member %zu kind \"", k);
			if (!m->escaped)
				FUZZ_CHECK((size_t)jv_string_length_bytes(jv_copy(mv)) == m->vlen &&
					   memcmp(jv_string_value(mv), m->val, m->vlen) == 0,
					   "member %zu: span and string differ", k);
			break;
		default: {
			FUZZ_CHECK(kind == JV_KIND_NUMBER, "member %zu kind %c", k, m->kind);
			char *num = strndup(m->val, m->vlen);
			double d = strtod(num, NULL);
			FUZZ_CHECK(d == jv_number_value(mv), "member %zu: %s reads %.17g, parsed %.17g",
				   k, num, d, jv_number_value(mv));
			free(num);
		}
		}
		jv_free(mv);
	}
}

/* Prints v (borrowed) with flags, parses the text back and prints that
 * again: the value is jv_equal and the second text the same bytes. */
static void round_trip(jv v, int flags)
{
	jrn_buf b = {0}, b2 = {0};
	jrn_err e;
	FUZZ_CHECK(jrn_json_append(&b, jv_copy(v), flags, &e) == 0, "append: %s", e.msg);
	jv w = jrn_parse_object(&parser, b.p, b.len, &e);
	FUZZ_CHECK(jv_is_valid(w), "printed text does not parse back: %s: %s", e.msg, b.p);
	FUZZ_CHECK(jv_equal(jv_copy(v), jv_copy(w)), "printed text parses to another value: %s",
		   b.p);
	FUZZ_CHECK(jrn_json_append(&b2, w, flags, &e) == 0, "append again: %s", e.msg);
	FUZZ_CHECK(b.len == b2.len && memcmp(b.p, b2.p, b.len) == 0,
		   "printing is not stable: %s then %s", b.p, b2.p);
	jrn_buf_free(&b);
	jrn_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	jrn_err e;
	bool utf8 = jrn_utf8_invalid_at(s, size) == size;
	bool checked = jrn_json_check(s, size, &e) == 0;
	bool object = strcmp(jrn_json_kind_at(s, size), "object") == 0;

	jrn_json_index ix = {0};
	bool indexed = jrn_json_index_build(&ix, s, size, 16, &e) == 0;
	if (object)
		FUZZ_CHECK(indexed == checked, "index_build %d, check %d", indexed, checked);

	jv v = jrn_parse_object(&parser, s, size, &e);
	bool parsed = jv_is_valid(v);
	FUZZ_CHECK(parsed == (utf8 && checked && object),
		   "parse_object %d, but utf8 %d check %d object %d (%s)", parsed, utf8, checked,
		   object, parsed ? "" : e.msg);
	if (parsed) {
		round_trip(v, 0);
		round_trip(v, JRN_JSON_SORTED);
		jv q = jv_parse_sized(s, (int)size);
		FUZZ_CHECK(jv_is_valid(q), "libjq does not read what jrn accepts");
		FUZZ_CHECK(jv_equal(jv_copy(v), q), "libjq reads another value");
		if (indexed)
			check_index(&ix, v);
	}
	jv_free(v);
	jrn_json_index_free(&ix);
	return 0;
}
