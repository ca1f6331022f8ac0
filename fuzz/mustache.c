/* fuzz/mustache.c: Mustache templates (lib/mustache.h), compiled and
 * rendered.
 *
 * The input is FLAGS TEMPLATE [\0 DATA-JSON [\0 PARTIALS-JSON]]: the first
 * byte picks the render flags, DATA (an object) defaults to a record with strings,
 * numbers, lists and nesting. Oracles: a refusal has a reason; rendering
 * twice gives the same text; a failed render leaves the buffer as it was;
 * and with the template's own bytes as a value (when UTF-8): {{s}} in HTML
 * mode holds none of & < > " ' raw, and "{{s}}" in JSON mode is a JSON
 * string that reads back as the value. */
#include "fuzz.h"
#include "mustache.h"

static jv_parser *parser;
static jrn_mustache *html_t, *json_t;
static jv default_data;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	jrn_err e;
	html_t = jrn_mustache_compile("{{s}}", 5, &e);
	json_t = jrn_mustache_compile("{\"k\":\"{{s}}\"}", 13, &e);
	const char *d = "{\"name\":\"Zo\\u00eb <b>&amp;\",\"n\":3,\"x\":1.5,\"big\":10215234567890123,"
			"\"t\":true,\"f\":false,\"z\":null,\"list\":[1,\"two\",{\"name\":\"three\"},[4]],"
			"\"order\":{\"id\":\"A-1\",\"items\":[{\"sku\":\"a\",\"qty\":2},{\"sku\":\"b\"}]},"
			"\"empty\":[],\"obj\":{}}";
	default_data = jrn_parse_object(&parser, d, strlen(d), &e);
	if (!html_t || !json_t || !jv_is_valid(default_data))
		abort();
	return 0;
}

/* The value s[0..n) through the two built-in templates. */
static void escaping(const char *s, size_t n)
{
	if (jrn_utf8_invalid_at(s, n) != n)
		return;
	jv data = JV_OBJECT(jv_string("s"), jv_string_sized(s, (int)n));
	jrn_buf o = {0};
	jrn_err e;
	FUZZ_CHECK(jrn_mustache_render(html_t, data, jv_null(), 0, &o, &e) == 0, "{{s}}: %s", e.msg);
	for (size_t i = 0; i < o.len; i++)
		FUZZ_CHECK(!strchr("<>\"'", o.p[i]) || !o.p[i], "{{s}} leaves %c raw", o.p[i]);
	for (const char *a = o.p ? memchr(o.p, '&', o.len) : NULL; a;
	     a = memchr(a + 1, '&', o.len - (size_t)(a + 1 - o.p)))
		FUZZ_CHECK(memchr(a, ';', o.len - (size_t)(a - o.p)) != NULL, "a raw &");
	jrn_buf_reset(&o);
	FUZZ_CHECK(jrn_mustache_render(json_t, data, jv_null(), JRN_MUSTACHE_JSON, &o, &e) == 0,
		   "JSON {{s}}: %s", e.msg);
	jv back = jrn_parse_object(&parser, o.p, o.len, &e);
	FUZZ_CHECK(jv_is_valid(back), "JSON mode gives bad JSON: %s (%s)", o.p, e.msg);
	jv k = jv_object_get(back, jv_string("k"));
	jv want = jv_object_get(jv_copy(data), jv_string("s"));
	FUZZ_CHECK(jv_equal(k, want), "JSON mode reads back as another string: %s", o.p);
	jv_free(data);
	jrn_buf_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int flags = data[0] & (JRN_MUSTACHE_STRICT | JRN_MUSTACHE_TEXT | JRN_MUSTACHE_JSON);
	const char *t = (const char *)data + 1, *end = (const char *)data + size;
	const char *z = memchr(t, '\0', (size_t)(end - t));
	size_t tlen = z ? (size_t)(z - t) : (size_t)(end - t);
	jv d = jv_copy(default_data), partials = jv_null();
	jrn_err e;
	if (z) {
		const char *dp = z + 1, *z2 = memchr(dp, '\0', (size_t)(end - dp));
		size_t dlen = z2 ? (size_t)(z2 - dp) : (size_t)(end - dp);
		jv v = jrn_parse_object(&parser, dp, dlen, &e);
		if (jv_is_valid(v)) {
			jv_free(d);
			d = v;
		} else {
			jv_free(v);
		}
		if (z2) {
			jv p = jrn_parse_object(&parser, z2 + 1, (size_t)(end - z2 - 1), &e);
			if (jv_get_kind(p) == JV_KIND_OBJECT) {
				partials = p;
			} else {
				jv_free(p);
			}
		}
	}
	escaping(t, tlen);
	e.msg[0] = '\0';
	jrn_mustache *m = jrn_mustache_compile(t, tlen, &e);
	if (!m) {
		FUZZ_CHECK(e.msg[0], "a refused template without a reason");
	} else {
		jrn_buf o1 = {0}, o2 = {0};
		jrn_buf_adds(&o1, "kept");
		jrn_buf_adds(&o2, "kept");
		int r1 = jrn_mustache_render(m, d, partials, flags, &o1, &e);
		if (r1 < 0)
			FUZZ_CHECK(e.msg[0] && o1.len == 4 && !memcmp(o1.p, "kept", 4),
				   "a failed render changed the buffer");
		int r2 = jrn_mustache_render(m, d, partials, flags, &o2, &e);
		FUZZ_CHECK(r1 == r2 && o1.len == o2.len && !memcmp(o1.p, o2.p, o1.len),
			   "two renders differ");
		jrn_buf_free(&o1);
		jrn_buf_free(&o2);
		jrn_mustache_free(m);
	}
	jv_free(d);
	jv_free(partials);
	return 0;
}
