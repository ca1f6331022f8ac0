/*
 * jsonschema.h: a JSON Schema validator (draft 7), compiled once and run per
 * record: jrn-ai checks a model's answers against share/jrn/schemas/ with it.
 *
 * Own code, held to the official JSON-Schema-Test-Suite (Debian's
 * json-schema-test-suite 2.0.0, copied into t/fixtures/json-schema-test-suite/):
 * every case of these draft7 files passes (t/unit/jsonschema.c runs them):
 *
 *   additionalItems additionalProperties allOf anyOf boolean_schema const
 *   contains default definitions dependencies enum exclusiveMaximum
 *   exclusiveMinimum if-then-else items maxItems maxLength maxProperties
 *   maximum minItems minLength minProperties minimum multipleOf not oneOf
 *   pattern patternProperties properties propertyNames ref required type
 *   uniqueItems optional/bignum optional/zeroTerminatedFloats
 *
 * Not claimed: refRemote.json (no network: the only remote document known is
 * the draft-07 meta-schema, http://json-schema.org/draft-07/schema, built
 * in), optional/format/ and optional/ecmascript-regex.json (format is an
 * annotation, draft 7 section 7.2) and optional/content.json (likewise
 * contentMediaType and contentEncoding, section 8). Numbers are doubles
 * (libjq 1.6): bignum's cases pass, but an integer past 2^53 compares as
 * its nearest double.
 *
 * Keywords (draft-handrews-json-schema-validation-01): type (null, boolean,
 * object, array, number, string, integer = a number with a zero fraction;
 * one or an array), enum, const, multipleOf, maximum, exclusiveMaximum,
 * minimum, exclusiveMinimum, maxLength, minLength (Unicode code points, not
 * bytes), pattern (ECMA-262 as far as PCRE2 with PCRE2_ALT_BSUX agrees
 * with it: unanchored, UTF-8; \d and \w ASCII only), items (one schema or an array), additionalItems,
 * maxItems, minItems, uniqueItems, contains, maxProperties, minProperties,
 * required, properties, patternProperties, additionalProperties,
 * dependencies, propertyNames, if/then/else, allOf, anyOf, oneOf, not,
 * boolean schemas, and $ref (draft-handrews-json-schema-01 section 8):
 * JSON Pointers (RFC 6901, percent-decoded) into the schema itself, into a
 * subschema named by $id (resolved against its base URI, RFC 3986 section 5)
 * or into the built-in meta-schema; a $ref's sibling keywords are ignored
 * as draft 7 says. Equality (enum, const, uniqueItems) is JSON equality: 1
 * equals 1.0, object member order does not matter.
 *
 * Annotations that are accepted and ignored: title, description, $comment,
 * default, examples, format, readOnly, writeOnly, contentMediaType,
 * contentEncoding, $schema, $id (used for $ref), definitions (reached by
 * $ref). Any other member of a schema object fails the compile naming it,
 * so a misspelt keyword, or one of a later draft, never leaves a schema silently
 * unchecked — unless a $ref of the same schema points into it (a JSON
 * Pointer may name any location of the document).
 *
 * Bounds: JRN_SCHEMA_MAX_ERRORS errors per instance (validation stops
 * there); JRN_SCHEMA_MAX_DEPTH nested schema applications (an instance
 * nested deeper, or a $ref loop that does not descend into the instance,
 * is one error with keyword "depth"); schemas nested at most
 * JRN_SCHEMA_MAX_DEPTH levels. uniqueItems compares every pair of an array
 * of up to 32 items and sorts a longer one (O(n log n)).
 *
 * Threads: compile and validate in as many threads as you like, each with
 * its own compiled schema: a compiled schema holds jv values (enum, const)
 * whose reference counts libjq 1.6 changes without atomics, so one schema
 * must not be validated against in two threads at once. A pattern search
 * takes its own PCRE2 match data. Validating an instance that is valid
 * allocates nothing but those match data.
 */
#ifndef JRN_JSONSCHEMA_H
#define JRN_JSONSCHEMA_H

#include "jrn.h"

#define JRN_SCHEMA_MAX_ERRORS 32
#define JRN_SCHEMA_MAX_DEPTH 512

typedef struct jrn_schema jrn_schema;

/* Compiles schema (a draft 7 schema: an object or a boolean). Consumes
 * schema. Returns a new schema (the caller's: jrn_schema_free), or NULL
 * with e naming the place in the schema as a JSON Pointer, on a malformed
 * schema ("schema at /properties/age: minimum must be a number"), a keyword
 * that is not draft 7's ("schema at /properties/age: unknown keyword
 * \"minimun\" ..."), an invalid regex ("schema: pattern \"a(\" is not a
 * valid regular expression: ..."), a $ref it cannot resolve, a schema
 * nested deeper than JRN_SCHEMA_MAX_DEPTH, or no memory. Compiling costs
 * time quadratic in the number of subschemas (meant to be done once). */
jrn_schema *jrn_schema_compile(jv schema, jrn_err *e);

/* Reads the JSON file at path (jrn_parse_value's rules: strict JSON, UTF-8,
 * no duplicate member names) and compiles it; the schema (the caller's), or
 * NULL with e starting with the path ("share/jrn/schemas/x.json: ..."). */
jrn_schema *jrn_schema_load(const char *path, jrn_err *e);

/* Validates instance (borrowed) against s. Returns 0 when it is valid, else
 * the number of errors found (at most JRN_SCHEMA_MAX_ERRORS), or -1 when
 * memory ran out while reporting them. When errors is not NULL, *errors is
 * set to a new array (the caller's) of {"path", "keyword", "message"}: path
 * a JSON Pointer into the instance (RFC 6901: "/a~1b/0"; "" is the whole
 * instance), keyword the schema keyword that failed, and message a sentence
 * that starts with the path and says what is wrong and what is allowed
 * ("/journeyStage: \"shopping\" is not one of awareness, consideration,
 * purchase, retention, advocacy"), fit for a retry prompt. An empty array
 * when valid. */
int jrn_schema_validate(const jrn_schema *s, jv instance, jv *errors);

/* Frees s (NULL is fine). */
void jrn_schema_free(jrn_schema *s);

#endif
