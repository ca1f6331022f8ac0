/*
 * config-int.h: what config.c (loading and checking jrn.yaml) and
 * config-schema.c (the keys of every section) share; inside lib/ only.
 *
 * The schema is a tree of key tables: each section of jrn.yaml is a table
 * of skey rows ended by a row with a NULL name. config.c checks a loaded
 * file against jrn_config_schema (unknown keys and wrong types are errors
 * with FILE:LINE:COLUMN) and normalises what a row's check says.
 */
#ifndef JRN_CONFIG_INT_H
#define JRN_CONFIG_INT_H

#include "jrn.h"

enum stype {
	S_ANY,      /* any value at all */
	S_STRING,   /* a string; .check may refine (and normalise) it */
	S_INT,      /* an integer, within [.min, .max] when .max > .min */
	S_NUMBER,   /* any number */
	S_BOOL,     /* true or false */
	S_DURATION, /* "1h30m" (jrn_duration_parse), or integer ms; in [.min, .max]
		     * when .max > .min, else at least 0 */
	S_STRINGS,  /* a list of strings; .check, when set, judges each */
	S_OBJECT,   /* any mapping: a section a later tool will define */
	S_SECTION,  /* a mapping of the keys in .keys and no others */
	S_LIST,     /* a list of such mappings (one mapping alone is a list of one) */
};

typedef struct skey {
	const char *name;
	enum stype type;
	const struct skey *keys; /* S_SECTION, S_LIST: its keys, ended by END */
	int64_t min, max;        /* S_INT, S_DURATION */
	/* Optional further check of a value of the right type: returns NULL
	 * when it is fine (it may replace *v with a normalised value), or the
	 * description of what was expected. */
	const char *(*check)(jv *v);
} skey;

/* The top level of jrn.yaml: its sections (config-schema.c). */
extern const skey jrn_config_schema[];

/* A duration value (borrowed) as S_DURATION takes it: a string for
 * jrn_duration_parse or a whole non-negative number of milliseconds (at
 * most 2^53). 0 with *ms, or -1 with the reason in e (without a path). The
 * one rule both the load-time check and jrn_config_duration apply. */
int jrn_config_duration_of(jv v, int64_t *ms, jrn_err *e);

/* Whether the key dotted of cfg (borrowed) holds an unset ${NAME} (with
 * below, also any key under it; "" is every key): 0 when not, else -1 with
 * "FILE:LINE:COLUMN: KEY: ${NAME} is not set" in e, for the first in
 * document order (config.c). */
int jrn_config_unset_at(jv cfg, const char *dotted, bool below, jrn_err *e);

#endif
