/* Unit tests of mustache.c: every case of the official spec's required
 * modules (t/fixtures/mustache, run from the repository root), then the
 * strict mode, defaults, errors and deep nesting. */
#include <stdlib.h>

#include "jrn.h"
#include "mustache.h"
#include "unit.h"

/* Renders tmpl with data and partials (JSON texts; NULL partials: none).
 * Returns the output, or "ERROR: message". */
static const char *render(const char *tmpl, const char *data, const char *partials, int flags)
{
	static jrn_buf b;
	static jrn_err e;
	jrn_buf_reset(&b);
	jrn_mustache *t = jrn_mustache_compile(tmpl, strlen(tmpl), &e);
	if (!t) {
		jrn_buf_addf(&b, "ERROR: %s", e.msg);
		return b.p;
	}
	jv d = jv_parse(data);
	jv p = partials ? jv_parse(partials) : jv_null();
	if (jrn_mustache_render(t, d, p, flags, &b, &e) < 0) {
		jrn_buf_reset(&b);
		jrn_buf_addf(&b, "ERROR: %s", e.msg);
	}
	jv_free(d);
	jv_free(p);
	jrn_mustache_free(t);
	return b.p ? b.p : "";
}

static void spec_module(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "t/fixtures/mustache/%s.json", name);
	jv all = jv_load_file(path, 0);
	CHECK(jv_get_kind(all) == JV_KIND_ARRAY && jv_array_length(jv_copy(all)) == 1,
	      "%s loads", path);
	if (jv_get_kind(all) != JV_KIND_ARRAY || jv_array_length(jv_copy(all)) != 1) {
		jv_free(all);
		return;
	}
	jv tests = jv_object_get(jv_array_get(all, 0), jv_string("tests"));
	int n = jv_array_length(jv_copy(tests)), passed = 0;
	jrn_buf out = {0};
	for (int i = 0; i < n; i++) {
		jv c = jv_array_get(jv_copy(tests), i);
		jv tname = jv_object_get(jv_copy(c), jv_string("name"));
		jv tmpl = jv_object_get(jv_copy(c), jv_string("template"));
		jv data = jv_object_get(jv_copy(c), jv_string("data"));
		jv want = jv_object_get(jv_copy(c), jv_string("expected"));
		jv parts = jv_object_has(jv_copy(c), jv_string("partials"))
				   ? jv_object_get(jv_copy(c), jv_string("partials"))
				   : jv_null();
		jrn_err e;
		jrn_buf_reset(&out);
		const char *got;
		jrn_mustache *t = jrn_mustache_compile(jv_string_value(tmpl),
						       (size_t)jv_string_length_bytes(jv_copy(tmpl)), &e);
		if (!t)
			got = e.msg;
		else if (jrn_mustache_render(t, data, parts, 0, &out, &e) < 0)
			got = e.msg;
		else
			got = out.p ? out.p : "";
		int same = strcmp(got, jv_string_value(want)) == 0;
		passed += same;
		CHECK_STR(got, jv_string_value(want), "%s: %s", name, jv_string_value(tname));
		jrn_mustache_free(t);
		jv_free(c);
		jv_free(tname);
		jv_free(tmpl);
		jv_free(data);
		jv_free(want);
		jv_free(parts);
	}
	printf("# %s: %d of %d spec cases pass\n", name, passed, n);
	CHECK(n > 0 && passed == n, "%s: every spec case passes (%d/%d)", name, passed, n);
	jrn_buf_free(&out);
	jv_free(tests);
}

int main(void)
{
	static const char *const modules[] = {"comments", "delimiters", "interpolation",
					      "inverted", "partials", "sections"};
	for (size_t i = 0; i < sizeof modules / sizeof *modules; i++)
		spec_module(modules[i]);

	/* Values. */
	CHECK_STR(render("{{n}} {{f}} {{t}} {{x}} {{big}}", "{\"n\":3,\"f\":false,\"t\":true,\"x\":null,\"big\":1e21}", NULL, 0),
		  "3 false true  1e+21", "numbers like JSON, booleans, null empty");
	CHECK_STR(render("{{a}}|{{{o}}}", "{\"a\":[1,\"x\"],\"o\":{\"k\":\"<v>\"}}", NULL, 0),
		  "[1,&quot;x&quot;]|{\"k\":\"<v>\"}", "arrays and objects as JSON");
	CHECK_STR(render("{{s}}", "{\"s\":\"it's <b>\"}", NULL, 0), "it&#39;s &lt;b&gt;", "apostrophe escaped");
	CHECK_STR(render("{{#e}}yes{{/e}}{{^e}}no{{/e}}", "{\"e\":\"\"}", NULL, 0), "yes", "empty string is truthy");
	CHECK_STR(render("{{#z}}yes{{/z}}", "{\"z\":0}", NULL, 0), "yes", "zero is truthy");

	/* Defaults. */
	CHECK_STR(render("Hi {{name|there}}!", "{}", NULL, 0), "Hi there!", "default when missing");
	CHECK_STR(render("Hi {{ name | there }}!", "{\"name\":\"Ann\"}", NULL, 0), "Hi Ann!", "value wins over default");
	CHECK_STR(render("Hi {{name|there}}!", "{\"name\":null}", NULL, 0), "Hi there!", "default when null");
	CHECK_STR(render("{{x|a & b}}|{{{x|a & b}}}|{{& x|<i>}}", "{}", NULL, 0), "a &amp; b|a & b|<i>",
		  "default escaped like the value");
	CHECK_STR(render("{{p.city|somewhere}}", "{\"p\":{}}", NULL, 0), "somewhere", "default on a dotted name");
	CHECK_STR(render("{{opt|}}.", "{}", NULL, JRN_MUSTACHE_STRICT), ".", "empty default: optional in strict mode");
	CHECK_STR(render("{{name|}}", "{\"name\":\"Bo\"}", NULL, JRN_MUSTACHE_STRICT), "Bo", "empty default, value present");
	CHECK_STR(render("{{|x}}", "{}", NULL, 0), "ERROR: line 1: empty name before '|'", "empty name with default");

	/* Strict mode. */
	CHECK_STR(render("Hi {{name}}", "{\"name\":\"Ann\"}", NULL, JRN_MUSTACHE_STRICT), "Hi Ann", "strict, present");
	CHECK_STR(render("a\nHi {{firstName}}", "{}", NULL, JRN_MUSTACHE_STRICT),
		  "ERROR: line 2: variable 'firstName' is missing and has no default", "strict, missing");
	CHECK_STR(render("{{{p.x}}}", "{\"p\":{}}", NULL, JRN_MUSTACHE_STRICT),
		  "ERROR: line 1: variable 'p.x' is missing and has no default", "strict, missing dotted");
	CHECK_STR(render("{{x}}", "{\"x\":null}", NULL, JRN_MUSTACHE_STRICT),
		  "ERROR: line 1: variable 'x' is null and has no default", "strict, null");
	CHECK_STR(render("{{x}}", "{}", NULL, 0), "", "non-strict: missing renders empty");
	CHECK_STR(render("{{#l}}{{y}}{{/l}}{{^m}}{{q}}{{/m}}", "{\"l\":[{}]}", NULL, JRN_MUSTACHE_STRICT), "",
		  "strict: missing inside sections renders empty");
	CHECK_STR(render("{{#m}}{{y}}{{/m}}", "{}", NULL, JRN_MUSTACHE_STRICT), "", "strict: missing section is falsy");
	CHECK_STR(render("{{>p}}", "{}", "{\"p\":\"x{{gone}}\"}", JRN_MUSTACHE_STRICT),
		  "ERROR: line 1: variable 'gone' is missing and has no default", "strict reaches into partials");
	{
		/* A failed render leaves the buffer as it was. */
		jrn_buf b = {0};
		jrn_err e;
		jrn_buf_adds(&b, "kept");
		jrn_mustache *t = jrn_mustache_compile("abc{{x}}", 8, &e);
		jv d = jv_object();
		CHECK(t && jrn_mustache_render(t, d, jv_null(), JRN_MUSTACHE_STRICT, &b, &e) == -1,
		      "strict render fails");
		CHECK_STR(b.p, "kept", "output rolled back on failure");
		jv_free(d);
		jrn_mustache_free(t);
		jrn_buf_free(&b);
	}

	/* Errors. */
	CHECK_STR(render("a\n{{#s}}\nb", "{}", NULL, 0), "ERROR: line 2: section 's' is not closed", "unclosed section");
	CHECK_STR(render("{{#a}}\n{{#b}}\n{{/a}}", "{}", NULL, 0),
		  "ERROR: line 3: {{/a}} does not close section 'b' opened on line 2", "mismatched close");
	CHECK_STR(render("x{{/a}}", "{}", NULL, 0), "ERROR: line 1: {{/a}} closes no open section", "stray close");
	CHECK_STR(render("\n\nab {{x", "{}", NULL, 0), "ERROR: line 3: unclosed tag", "unclosed tag");
	CHECK_STR(render("{{=<% %> x=}}", "{}", NULL, 0), "ERROR: line 1: bad set-delimiter tag", "three delimiters");
	CHECK_STR(render("{{=<%=}}", "{}", NULL, 0), "ERROR: line 1: bad set-delimiter tag", "one delimiter");
	CHECK_STR(render("{{= =}}", "{}", NULL, 0), "ERROR: line 1: bad set-delimiter tag", "no delimiters");
	CHECK_STR(render("{{}}", "{}", NULL, 0), "ERROR: line 1: empty tag", "empty tag");
	CHECK_STR(render("{{>p}}", "{}", "{\"p\":3}", 0), "ERROR: line 1: partial 'p' is not a string", "partial not a string");
	CHECK_STR(render("x\n{{>p}}", "{}", "{\"p\":\"\\n{{#q}}\"}", 0),
		  "ERROR: partial 'p': line 2: section 'q' is not closed", "partial with an error");
	CHECK_STR(render("{{>self}}", "{}", "{\"self\":\"a{{>self}}\"}", 0),
		  "ERROR: line 1: sections and partials nested deeper than 512", "endless recursive partial stops");
	CHECK_STR(render("{{=<% %>=}}<%a%>{{a}}<%={{ }}=%>{{a}}", "{\"a\":1}", NULL, 0), "1{{a}}1", "delimiters back and forth");

	/* Deep nesting: 500 sections, each level one object deeper (built with
	 * jv calls: libjq parses at most 256 levels of JSON text). */
	{
		jrn_buf tm = {0}, want = {0};
		int depth = 500;
		jv d = jv_object_set(jv_object(), jv_string("v"), jv_string("deep"));
		for (int i = 0; i < depth; i++) {
			jrn_buf_addf(&tm, "{{#n}}%s", i % 50 == 0 ? "\n" : "");
			d = jv_object_set(jv_object(), jv_string("n"), d);
		}
		d = jv_object_set(d, jv_string("top"), jv_string("!"));
		jrn_buf_adds(&tm, "{{v}}{{top}}");
		for (int i = 0; i < depth; i++)
			jrn_buf_adds(&tm, "{{/n}}");
		/* The first {{#n}} stands alone on its line: its newline goes. */
		for (int i = 1; i < depth / 50; i++)
			jrn_buf_addc(&want, '\n');
		jrn_buf_adds(&want, "deep!");
		jrn_err e;
		jrn_buf b = {0};
		jrn_mustache *t = jrn_mustache_compile(tm.p, tm.len, &e);
		int ok = t && jrn_mustache_render(t, d, jv_null(), JRN_MUSTACHE_STRICT, &b, &e) == 0;
		CHECK_STR(ok ? b.p : e.msg, want.p, "500 nested sections");
		jrn_mustache_free(t);
		jv_free(d);
		jrn_buf_free(&b);
		jrn_buf_reset(&tm);
		for (int i = 0; i < JRN_MUSTACHE_MAX_DEPTH + 1; i++)
			jrn_buf_adds(&tm, "{{^n}}");
		CHECK_STR(render(tm.p, "{}", NULL, 0), "ERROR: line 1: sections nested deeper than 512",
			  "nesting past the limit refused");
		jrn_buf_reset(&tm);
		for (int i = 0; i < JRN_MUSTACHE_MAX_DEPTH; i++)
			jrn_buf_adds(&tm, "{{#t}}");
		jrn_buf_adds(&tm, "in");
		for (int i = 0; i < JRN_MUSTACHE_MAX_DEPTH; i++)
			jrn_buf_adds(&tm, "{{/t}}");
		CHECK_STR(render(tm.p, "{\"t\":true}", NULL, 0), "in", "the deepest nesting allowed renders");
		jrn_buf_free(&tm);
		jrn_buf_free(&want);
	}
	/* Issue 10, defect 1: a close delimiter that starts with a sigil, right
	 * after the open one, underflowed a length (free(): invalid pointer).
	 * Its kin: 1-byte delimiters, equal open and close, sigils at the end
	 * of the input, typed tags with nothing in them. */
	CHECK_STR(render("{{=< >=}}<>", "{}", NULL, 0), "ERROR: line 1: empty tag", "{{=< >=}}<>: empty tag");
	CHECK_STR(render("Hi {{=< >=}}<>", "{}", NULL, 0), "ERROR: line 1: empty tag", "Hi {{=< >=}}<>");
	CHECK_STR(render("{{=> >=}}>>", "{}", NULL, 0), "ERROR: line 1: empty tag", "close '>' after open '>'");
	CHECK_STR(render("{{=# #=}}##", "{}", NULL, 0), "ERROR: line 1: empty tag", "close '#' after open '#'");
	CHECK_STR(render("{{=# #=}}#a#", "{\"a\":2}", NULL, 0), "2", "delimiters '#' and '#' work");
	CHECK_STR(render("{{=| |=}}||", "{}", NULL, 0), "ERROR: line 1: empty tag", "equal 1-byte delimiters");
	CHECK_STR(render("{{=| |=}}|a|", "{\"a\":1}", NULL, 0), "1", "equal 1-byte delimiters work");
	CHECK_STR(render("{{=<% %>=}}<%%>", "{}", NULL, 0), "ERROR: line 1: empty tag", "<%%>");
	CHECK_STR(render("{{=< >=}}<", "{}", NULL, 0), "ERROR: line 1: unclosed tag", "open delimiter at the end");
	CHECK_STR(render("{{=< >=}}<{>", "{}", NULL, 0), "ERROR: line 1: unclosed tag", "a triple never closed");
	CHECK_STR(render("{{=< >=}}<{}>", "{}", NULL, 0), "ERROR: line 1: empty tag", "an empty triple");
	CHECK_STR(render("{{=< >=}}<!>", "{}", NULL, 0), "", "an empty comment");
	CHECK_STR(render("{{#}}", "{}", NULL, 0), "ERROR: line 1: empty tag", "a section without a name");
	CHECK_STR(render("{{>}}", "{}", NULL, 0), "ERROR: line 1: empty tag", "a partial without a name");
	CHECK_STR(render("{{&}}", "{}", NULL, 0), "ERROR: line 1: empty tag", "& without a name");
	CHECK_STR(render("{{{}}}", "{}", NULL, 0), "ERROR: line 1: empty tag", "{{{}}}");
	CHECK_STR(render("{{", "{}", NULL, 0), "ERROR: line 1: unclosed tag", "{{ at the end");
	CHECK_STR(render("{{{", "{}", NULL, 0), "ERROR: line 1: unclosed tag", "{{{ at the end");
	CHECK_STR(render("{{=", "{}", NULL, 0), "ERROR: line 1: unclosed tag", "{{= at the end");
	CHECK_STR(render("{{==}}", "{}", NULL, 0), "ERROR: line 1: bad set-delimiter tag", "{{==}}");
	CHECK_STR(render("x\n{{=[ ]=}}\n[>]", "{}", NULL, 0), "ERROR: line 3: empty tag", "the line of the tag");
	/* Every byte as a delimiter, every tag kind right after it: no crash,
	 * and an error or a text (ASan and UBSan run this in make asan). */
	{
		const char sig[] = "#^/!>&{=}<|. a";
		int bad = 0;
		for (int o = 33; o < 127; o++) {
			for (size_t k = 0; k < sizeof sig - 1; k++) {
				if (o == '=')
					continue;
				char tm[64];
				snprintf(tm, sizeof tm, "{{=%c %c=}}%c%c%c", o, o, o, sig[k], o);
				const char *got = render(tm, "{\"a\":1}", NULL, 0);
				bad += got == NULL;
				snprintf(tm, sizeof tm, "{{=%c %c=}}%c%c", o, o, o, sig[k]);
				bad += render(tm, "{}", NULL, 0) == NULL;
			}
		}
		CHECK(bad == 0, "every 1-byte delimiter with every sigil after it");
	}

	/* Issue 10, defect 9: the work of one render is bounded. */
	{
		/* a chain of partials, each including the next twice: 2^40 */
		jrn_buf parts = {0};
		jrn_buf_adds(&parts, "{");
		for (int i = 0; i < 40; i++)
			jrn_buf_addf(&parts, "\"p%d\":\"{{>p%d}}{{>p%d}}\",", i, i + 1, i + 1);
		jrn_buf_adds(&parts, "\"p40\":\"x\"}");
		CHECK_STR(render("{{>p0}}", "{}", parts.p, 0),
			  "ERROR: line 1: template renders more than 1000000 tags and texts (the limit)",
			  "doubling partials stop at the step bound");
		jrn_buf_free(&parts);
		/* nested sections over a record's list: 100^6 passes, no output */
		jrn_buf d = {0};
		jrn_buf_adds(&d, "{\"l\":[0");
		for (int i = 1; i < 100; i++)
			jrn_buf_addf(&d, ",%d", i);
		jrn_buf_adds(&d, "]}");
		CHECK_STR(render("{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}",
				 d.p, NULL, 0),
			  "ERROR: line 1: template renders more than 1000000 tags and texts (the limit)",
			  "empty nested sections over a list stop at the step bound");
		jrn_buf_free(&d);
		/* a big value repeated: the output bound, checked as it grows */
		jrn_buf big = {0};
		jrn_buf_adds(&big, "{\"l\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"
			     "\"m\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],\"s\":\"");
		for (int i = 0; i < (1 << 20); i++)
			jrn_buf_addc(&big, 'y');
		jrn_buf_adds(&big, "\"}");
		CHECK_STR(render("{{#l}}{{{s}}}{{/l}}", big.p, NULL, 0),
			  "ERROR: template renders more than 16 MiB (the limit)", "the output bound");
		CHECK(strlen(render("{{#m}}{{{s}}}{{/m}}", big.p, NULL, 0)) == 16u << 20,
		      "16 MiB exactly is within the bound");
		jrn_buf_free(&big);
		/* out is left as it was when a bound stops the render */
		jrn_err e;
		jrn_buf out = {0};
		jrn_buf_adds(&out, "kept");
		const char *src = "{{#l}}{{#l}}{{#l}}{{#l}}x{{/l}}{{/l}}{{/l}}{{/l}}";
		jrn_mustache *t = jrn_mustache_compile(src, strlen(src), &e);
		jv dl = jv_parse("{\"l\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34]}");
		int rc = t ? jrn_mustache_render(t, dl, jv_null(), 0, &out, &e) : 0;
		CHECK(rc == -1 && !strcmp(out.p, "kept"), "a stopped render leaves out as it was: %s", e.msg);
		jv_free(dl);
		jrn_mustache_free(t);
		jrn_buf_free(&out);
	}
	/* Lists of lists and the implicit iterator. */
	CHECK_STR(render("{{#l}}[{{#.}}{{.}},{{/.}}]{{/l}}", "{\"l\":[[1,2],[3]]}", NULL, 0), "[1,2,][3,]", "nested lists");
	/* A compiled template renders many times; partial cache per render. */
	{
		jrn_err e;
		const char *src = "{{#items}}{{>row}}{{/items}}";
		jrn_mustache *t = jrn_mustache_compile(src, strlen(src), &e);
		jv parts = jv_parse("{\"row\":\"<{{name}}>\"}");
		jrn_buf b = {0};
		int ok = t != NULL;
		for (int i = 0; ok && i < 3; i++) {
			jv d = jv_parse("{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}]}");
			ok = jrn_mustache_render(t, d, parts, 0, &b, &e) == 0;
			jv_free(d);
		}
		CHECK_STR(ok ? b.p : e.msg, "<a><b><a><b><a><b>", "compiled once, rendered thrice");
		jrn_buf_free(&b);
		jv_free(parts);
		jrn_mustache_free(t);
	}
	/* Escaping for what the template is: HTML (default), text, JSON. */
	CHECK_STR(render("{{x}}", "{\"x\":\"Tom & \\\"J\\\" <b>\"}", NULL, 0),
		  "Tom &amp; &quot;J&quot; &lt;b&gt;", "HTML escaping by default");
	CHECK_STR(render("{{x}}", "{\"x\":\"Tom & \\\"J\\\" <b>\"}", NULL, JRN_MUSTACHE_TEXT),
		  "Tom & \"J\" <b>", "TEXT: no escaping");
	CHECK_STR(render("{\"n\":\"{{x}}\"}", "{\"x\":\"a\\\"b\\\\c\\nd\\u0001\"}", NULL,
			 JRN_MUSTACHE_JSON),
		  "{\"n\":\"a\\\"b\\\\c\\nd\\u0001\"}", "JSON: quote, backslash, control characters");
	CHECK_STR(render("{{{x}}}", "{\"x\":\"a\\\"b\"}", NULL, JRN_MUSTACHE_JSON), "a\"b",
		  "JSON: triple mustache stays raw");
	CHECK_STR(render("{{x|O'Neil & co}}", "{}", NULL, JRN_MUSTACHE_TEXT), "O'Neil & co",
		  "TEXT: a default is not escaped either");
	jrn_mustache_free(NULL);
	return unit_done();
}
