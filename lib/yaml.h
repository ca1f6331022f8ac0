/*
 * yaml.h: the one YAML reader of jrn. jrn.yaml (config.c), segment files
 * (rules-compile.c) and, later, journey files all become jv values here,
 * so that every file agrees on what a scalar means.
 *
 * What it reads: one document (YAML 1.2, over libyaml). Mappings become
 * objects (keys are the key's text, never typed or expanded; a key given
 * twice is an error; merge keys '<<' are refused), sequences arrays, and
 * scalars follow the YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2):
 *
 *   null, Null, NULL, ~, empty      null
 *   true/True/TRUE, false/...       booleans (yes/no/on/off are strings)
 *   [-+]?[0-9]+, 0x[0-9a-fA-F]+,    integers; one beyond 2^53 in magnitude
 *   0o[0-7]+                        is an error (a double cannot keep it
 *                                   exactly, so it would silently change)
 *   [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?
 *                                   floats; out of a double's range, an error
 *   [-+]?.inf, .nan (all cases)     errors: JSON has neither
 *   anything else                   a string
 *
 * Quoted and block scalars are always strings, and so is a plain scalar
 * tagged !!str or '!'; !!null, !!bool, !!int, !!float must fit their type;
 * other tags are errors, on keys as on values (a key is a string: only '!'
 * and !!str may tag it). Anchors and aliases work (an alias shares the
 * anchored value); so that a small file cannot describe a huge tree ("billion
 * laughs", or nested aliases that every reader of the value would walk),
 * the nodes that aliases stand for, counted expanded, may be at most
 * JRN_YAML_MAX_ALIASED (100,000) in all: past that the file is refused at
 * once with "FILE:LINE:COL: aliases expand to more than 100000 nodes (the
 * limit)", naming the alias that passed it. A directory is refused at
 * once: "PATH: Is a directory".
 * Nesting costs no C stack (the reader keeps its own), up to
 * JRN_YAML_MAX_DEPTH levels.
 *
 * With JRN_YAML_ENV, ${NAME} in a string value is replaced by the
 * environment variable NAME (letters, digits, '_', not starting with a
 * digit; unset is an error) and "$${" is a literal "${"; a lone '$' stays.
 * With JRN_YAML_ENV_KEEP as well, an unset NAME is not an error: the string
 * is kept exactly as written (nothing in it expanded) and each unset
 * reference is listed in *o->unset (see jrn_yaml_opts), so that a reader of
 * the file (config.c) can fail later, only when that value is used. An
 * alias of a node holding such a string repeats its references under the
 * alias's key.
 *
 * So that no message shows a value that came from the environment (a
 * secret, often), o->env, when set, lists every ${NAME} that was expanded
 * the same way, each with "written": the scalar as written in the file
 * ("${SMTP_PASSWORD}"), which messages show instead of the value.
 *
 * Positions. Beside the value the reader builds a position tree of the same
 * shape, 1-based lines and columns (columns count characters):
 *
 *   scalar, alias   [LINE, COL]
 *   sequence        [LINE, COL, [ITEM_POS, ...]]
 *   mapping         [LINE, COL, {KEY: [KEY_LINE, KEY_COL, VALUE_POS]},
 *                    [KEY, ...] in document order]
 *
 * An alias's position is where the alias is written (its items have none).
 * Read it with the jrn_yaml_pos_ functions below rather than by shape.
 *
 * Errors read "FILE:LINE:COLUMN: message" (with JRN_YAML_LINES,
 * "FILE:LINE: message", for files whose tools speak in lines).
 */
#ifndef JRN_YAML_H
#define JRN_YAML_H

#include "jrn.h"

#define JRN_YAML_MAX_DEPTH 10000
#define JRN_YAML_MAX_ALIASED ((size_t)100000)

enum {
	JRN_YAML_ENV = 1,   /* expand ${NAME} in string values */
	JRN_YAML_LINES = 2, /* messages say FILE:LINE, not FILE:LINE:COLUMN */
	JRN_YAML_ENV_KEEP = 4, /* with JRN_YAML_ENV: an unset ${NAME} is listed
				* in *unset, not an error */
};

typedef struct {
	int flags;          /* JRN_YAML_ENV, JRN_YAML_LINES */
	const char *what;   /* what the file is, for "a second YAML document:
			     * WHAT is one document"; NULL: "the file" */
	/* With JRN_YAML_ENV_KEEP (else unused; may be NULL then): set to an
	 * array, the caller's to jv_free (jv_null() on error), of one
	 * {"key", "name", "line", "column"} per unset ${NAME}, in document
	 * order: key is the value's path ("send.unsubscribe.secret",
	 * "providers.email[0].password"; "" for the root), line and column
	 * (1-based) where its "${" is written. */
	jv *unset;
	/* With JRN_YAML_ENV (may be NULL): set to an array, the caller's to
	 * jv_free (jv_null() on error), of one {"key", "name", "line",
	 * "column", "written"} per ${NAME} expanded from the environment,
	 * key, line and column as in *unset, written the whole scalar as
	 * written. */
	jv *env;
} jrn_yaml_opts;

/* Reads the file at path (o may be NULL: no flags). Returns its value (null
 * for an empty file or comments only) and, when pos is not NULL, sets *pos
 * to its position tree (the caller's to jv_free). On error returns
 * jv_invalid with "FILE:LINE:COLUMN: why" in e ("PATH: strerror" when the
 * file cannot be read) and *pos is jv_null(). */
jv jrn_yaml_load(const char *path, const jrn_yaml_opts *o, jv *pos, jrn_err *e);

/* The same over text[0..len) (borrowed), named name in messages. */
jv jrn_yaml_parse(const char *text, size_t len, const char *name, const jrn_yaml_opts *o,
		  jv *pos, jrn_err *e);

/* A 1-based place in the file; {0, 0} when unknown. */
typedef struct {
	int line, col;
} jrn_yaml_at;

/* Where the node of position pos (borrowed) starts; {0, 0} for null. */
jrn_yaml_at jrn_yaml_pos_at(jv pos);
/* The position of the value under key in the mapping at pos (both
 * borrowed), owned, or jv_null() when unknown. */
jv jrn_yaml_pos_value(jv pos, jv key);
/* Where key (borrowed) is written in the mapping at pos (borrowed). */
jrn_yaml_at jrn_yaml_pos_key_at(jv pos, jv key);
/* The position of item i of the sequence at pos (borrowed), or jv_null(). */
jv jrn_yaml_pos_item(jv pos, int i);
/* The keys of the mapping at pos (borrowed) in document order, owned, or
 * jv_invalid() when pos is not a mapping's. */
jv jrn_yaml_pos_keys(jv pos);
/* A position for a sequence of the one node at pos (consumed), written at
 * the same place: for "one mapping alone is a list of one". */
jv jrn_yaml_pos_list_of(jv pos);

#endif

/* lib/yaml.c alone asks for libyaml's own <yaml.h>, which this header hides
 * (lib/ comes first on the include path): it defines JRN_YAML_LIBYAML and
 * includes this file as <yaml.h>, so that #include_next finds libyaml's. */
#if defined(JRN_YAML_LIBYAML) && !defined(JRN_YAML_LIBYAML_DONE)
#define JRN_YAML_LIBYAML_DONE
#include_next <yaml.h>
#endif
