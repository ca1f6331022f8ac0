/* mustache-render: the Mustache spec's cases through lib/mustache, for
 * t/mustache.bats. Reads one {"template","data","partials"} object per line
 * and writes one line per case: the rendered text as a JSON string, or
 * {"error": "..."} when the template does not compile or render. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jrn.h"
#include "mustache.h"

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	jv_parser *parser = NULL;
	jrn_buf out = {0}, text = {0};
	int status = 0;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		jrn_err e;
		jv c = jrn_parse_object(&parser, line, (size_t)(n && line[n - 1] == '\n' ? n - 1 : n), &e);
		jrn_buf_reset(&out);
		jrn_buf_reset(&text);
		if (!jv_is_valid(c)) {
			fprintf(stderr, "mustache-render: %s\n", e.msg);
			jv_free(c);
			status = 1;
			continue;
		}
		jv t = jv_object_get(jv_copy(c), jv_string("template"));
		jv data = jv_object_get(jv_copy(c), jv_string("data"));
		jv partials = jv_object_get(jv_copy(c), jv_string("partials"));
		jrn_mustache *m = NULL;
		bool ok = false;
		if (jv_get_kind(t) != JV_KIND_STRING) {
			jrn_fail(&e, "no template");
		} else if ((m = jrn_mustache_compile(jv_string_value(t),
						       (size_t)jv_string_length_bytes(jv_copy(t)), &e)) &&
			   jrn_mustache_render(m, data, jv_is_valid(partials) ? partials : jv_null(), 0,
					       &text, &e) == 0) {
			jrn_json_append_str(&out, text.p ? text.p : "", text.len);
			ok = true;
		}
		if (!ok) {
			/* (out was reset, not freed: out.p says nothing here) */
			jrn_buf_adds(&out, "{\"error\":");
			jrn_json_append_str(&out, e.msg, strlen(e.msg));
			jrn_buf_addc(&out, '}');
		}
		puts(out.p ? out.p : "null");
		jrn_mustache_free(m);
		jv_free(t);
		jv_free(data);
		jv_free(partials);
		jv_free(c);
	}
	if (parser)
		jv_parser_free(parser);
	free(line);
	jrn_buf_free(&out);
	jrn_buf_free(&text);
	return status;
}
