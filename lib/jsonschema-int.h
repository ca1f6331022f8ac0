/*
 * jsonschema-int.h: what jsonschema.c (compiling) and jsonschema-validate.c
 * (validating) share: the compiled form of a schema, a graph of nodes.
 */
#ifndef JRN_JSONSCHEMA_INT_H
#define JRN_JSONSCHEMA_INT_H

#include <oniguruma.h>

#include "jsonschema.h"

/* type bits */
enum {
	T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8,
	T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64,
};
/* the names of the type bits, in bit order */
extern const char *const jrn_schema_type_names[7];

/* which numeric bounds a node has */
enum {
	H_MINIMUM = 1, H_MAXIMUM = 2, H_XMIN = 4, H_XMAX = 8, H_MULTIPLE = 16,
	H_MINLEN = 32, H_MAXLEN = 64, H_MINITEMS = 128, H_MAXITEMS = 256,
	H_MINPROPS = 512, H_MAXPROPS = 1024, H_ENUM = 2048, H_CONST = 4096,
};

typedef struct node node;

typedef struct {
	char *name;
	size_t len;
	node *schema;  /* properties' schema, or NULL (only required) */
	bool required;
} prop;

typedef struct {
	char *src;
	OnigRegex re;
	node *schema;
} pattern_prop;

typedef struct {
	char *name;
	size_t len;
	node *schema;  /* a schema dependency, or NULL */
	char **names;  /* a property dependency: names that must be present */
	size_t nnames;
} dependency;

typedef struct {
	node **v;
	size_t n;
} node_list;

struct node {
	int boolean;   /* -1: an object schema; 0: false; 1: true */
	node *ref;     /* $ref: only this applies */
	unsigned types, has;
	jv enumv, constv;
	char **enum_strs;      /* the enum's strings, to compare without jv */
	size_t *enum_lens, nenum_strs;
	bool enum_others;      /* the enum holds members that are not strings */
	double minimum, maximum, xmin, xmax, multiple;
	uint64_t minlen, maxlen, minitems, maxitems, minprops, maxprops;
	bool unique;
	char *pattern_src;
	OnigRegex pattern;
	prop *props;
	size_t nprops, nrequired;
	pattern_prop *pats;
	size_t npats;
	node *addprops, *propnames;
	node *items;          /* items as one schema */
	node_list tuple;      /* items as an array */
	bool tuple_form;
	node *additems, *contains;
	dependency *deps;
	size_t ndeps;
	node *if_, *then_, *else_, *not_;
	node_list allof, anyof, oneof;
};

struct jrn_schema {
	node *root;
	node **nodes;
	size_t nnodes, cap;
	jv docs;  /* the schema documents the nodes were compiled from */
};

/* Appends name to b as one JSON Pointer token ("/" then ~0 ~1 escapes,
 * RFC 6901); 0 or -1 (no memory). */
int jrn_schema_ptr_add(jrn_buf *b, const char *name, size_t len);

/* Whether re (compiled by jsonschema.c) matches somewhere in s[0..n)
 * (unanchored, as ECMA-262's RegExp.prototype.test); thread-safe. */
int jrn_schema_regex_search(OnigRegex re, const char *s, size_t n);

#endif
