/*
 * mustache.h: Mustache templates over jv data, held to the official spec
 * (modules comments, delimiters, interpolation, inverted, partials,
 * sections; no lambdas, no inheritance, no dynamic names).
 *
 * Values render as: strings as they are; numbers as JSON does (integers
 * without ".0"); true and false as "true" and "false"; null as nothing;
 * arrays and objects as compact JSON. {{x}} escapes & < > " ' for HTML;
 * {{{x}}} and {{& x}} do not. For templates that are not HTML, the flag
 * JRN_MUSTACHE_TEXT makes {{x}} plain, and JRN_MUSTACHE_JSON makes it escape
 * " \ and control characters as inside a JSON string ("{{name}}" is then a
 * well-formed JSON string whatever name holds).
 *
 * Extension, for templates that must not go out with a hole in them:
 *
 *   {{name|default text}}   {{{name|default}}}   {{& name|default}}
 *
 * renders "default text" (trimmed of surrounding white space, escaped like
 * the value would be) when name is missing or null. {{name|}} is an
 * explicitly optional variable: empty when missing. With JRN_MUSTACHE_STRICT
 * a variable outside every section that is missing or null and has no
 * default fails the render with an error naming it; inside sections and
 * without the flag, a missing variable renders empty as the spec says.
 * Section names never take defaults (a missing section is simply falsy).
 */
#ifndef JRN_MUSTACHE_H
#define JRN_MUSTACHE_H

#include "jrn.h"

/* Bounds, so that a template over hostile data (a record's list under
 * nested sections, a chain of partials that each include the next twice)
 * cannot run a render for ever or fill memory; each one hit fails the
 * render with a message naming it.
 *
 * JRN_MUSTACHE_MAX_DEPTH: deepest nesting of sections (when compiling) and
 * of sections and partials together (when rendering; stops recursive
 * partials). JRN_MUSTACHE_MAX_OUTPUT: bytes one render may append, checked
 * as the output grows ("template renders more than 16 MiB (the limit)").
 * JRN_MUSTACHE_MAX_STEPS: texts, tags and passes one render may make,
 * counting every pass of a section over a list (even an empty section)
 * and every partial's content again: it bounds the work of templates whose
 * output stays small ("line 3: template renders more than 1000000 tags
 * and texts (the limit)"). */
#define JRN_MUSTACHE_MAX_DEPTH 512
#define JRN_MUSTACHE_MAX_OUTPUT (16 << 20)
#define JRN_MUSTACHE_MAX_STEPS 1000000

enum {
	JRN_MUSTACHE_STRICT = 1, /* missing variables without default: error */
	JRN_MUSTACHE_TEXT = 2,   /* plain text: {{x}} is not HTML-escaped */
	JRN_MUSTACHE_JSON = 4,   /* JSON: {{x}} is escaped for inside a JSON string */
};

typedef struct jrn_mustache jrn_mustache;

/* Parses tmpl[0..len) once. Returns the template, or NULL with e (which
 * says "line N: ..." for an unclosed tag or section, a close that does not
 * match its section, a bad set-delimiter tag, an empty tag; or out of
 * memory). No length or offset depends on the delimiters being of a given
 * size: a tag whose close delimiter follows its open one at once (even
 * when the close delimiter starts with a sigil: {{=< >=}}<>) is an empty
 * tag. */
jrn_mustache *jrn_mustache_compile(const char *tmpl, size_t len, jrn_err *e);

/* Renders t against data (borrows) and appends the text to out. partials
 * (borrows) is an object of name -> template string, or jv_null(); a
 * partial that is absent renders empty, one that is not a string is an
 * error. flags: JRN_MUSTACHE_STRICT, _TEXT, _JSON or 0. Returns 0, or -1
 * with e (out is left as it was before the call): a strict variable
 * missing, a partial that does not compile, a bound above passed, or out of
 * memory. */
int jrn_mustache_render(const jrn_mustache *t, jv data, jv partials, int flags,
			jrn_buf *out, jrn_err *e);

/* Frees t (NULL is fine). */
void jrn_mustache_free(jrn_mustache *t);

/* Is s (n bytes) a template name jrn-send looks up in its templates
 * folder: 1 to 200 letters, digits, '-', '_' and '.', not starting with
 * '.' (so no path leaves the folder)? jrn-send and jrn-route's journeys
 * hold names to this one rule. */
bool jrn_template_name_ok(const char *s, size_t n);

#endif
