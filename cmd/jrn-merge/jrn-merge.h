/*
 * jrn-merge.h: what the parts of jrn-merge share (private to
 * cmd/jrn-merge/).
 *
 *   main.c    usage, options, set up, the top loop over records (or --all),
 *             --unmerge, the end of the run
 *   state.c   the state file's part of a profile: the profile row, consent,
 *             scores, segments, the event summary, read by customer (one
 *             record) or in one ordered pass (--all), written as JSON text
 *             by lib/profile-read (the reader every tool shares)
 *   file.c    the `file` source type: an NDJSON or CSV file keyed by a
 *             column, indexed once per run
 *   sources.c the table of source types and the sources of jrn.yaml's
 *             sources.list; a source type is one row { "file", load,
 *             fetch, done } and one file (http is the next)
 */
#ifndef JRN_MERGE_H
#define JRN_MERGE_H

#include "jrn.h"
#include "profile.h"
#include "profile-read.h"

/* ---- sources (sources.c, file.c) ------------------------------------------ */

typedef struct merge_source merge_source;

typedef struct {
	const char *type;
	/* Reads the source's config (conf, borrowed: its sources.list item)
	 * and prepares it (file: reads and indexes the file). 0, or -1 with e
	 * naming the key. */
	int (*load)(merge_source *s, jv conf, jrn_err *e);
	/* What the source holds of customer[0..n): 1 with a JSON value's
	 * text appended to out (an object, or an array of at most `limit`
	 * objects when the source has several), 0 when it knows nothing of
	 * the customer, -1 with e (the record gets profile.errors). */
	int (*fetch)(merge_source *s, const char *customer, size_t n, size_t limit, jrn_buf *out,
		     jrn_err *e);
	void (*done)(merge_source *s);
} merge_source_ops;

struct merge_source {
	const merge_source_ops *ops;
	char *name;   /* sources.list[].name */
	int64_t ts;   /* the time of its values (file: the file's mtime) */
	bool require; /* --require NAME: its failure rejects the record */
	bool unify;   /* sources.list[].unify (default true): its values feed
		       * the unified profile; false: shown in sources.NAME only */
	char *key;    /* the member naming the customer in its values (not a
		       * trait), or NULL */
	void *priv;   /* the type's own */
};

/* The sources of cfg's sources.list (borrowed), each loaded; with names
 * (--source, borrowed, n of them) only those (an unknown name is an
 * error). *out gets an array the caller frees with merge_sources_free.
 * 0, or -1 with e ("sources.list[1].type: unknown type 'ftp' (file)"). */
int merge_sources_load(jv cfg, char *const *names, int nnames, merge_source **out, size_t *n,
		       jrn_err *e);
void merge_sources_free(merge_source *s, size_t n);

/* Checks the keys and types of cfg's sources: section (borrowed): 0, or
 * -1 with e ("sources.list[0]: unknown key 'pth'"). */
int merge_sources_check(jv cfg, jrn_err *e);

extern const merge_source_ops merge_file_ops;

/* ---- the state file's part (state.c) -------------------------------------- */

/* A lib/profile-read reader writing provenance (profile-read.h says what a
 * profile holds and how linked ids fold into their customer). */
typedef struct merge_state merge_state;

/* Opens the statements over db (borrowed). NULL with e. */
merge_state *merge_state_open(sqlite3 *db, jrn_err *e);
void merge_state_close(merge_state *S);

/* Appends to out the members of customer's profile (no braces, each
 * preceded by a comma: ,"customerId":...,"email":...,"traits":{...},
 * "consent":{...},"scores":{...},"segments":[...],"summary":{...}). row,
 * when valid (borrowed), stands for the stored profile row (the unified
 * fields, traits, provenance: what the sources changed); otherwise the row
 * is read. What is stored under every id linked to customer counts (the
 * fold rule of profile-read.h). 0 or -1 with e. */
int merge_state_profile(merge_state *S, const char *customer, jv row, jrn_buf *out, jrn_err *e);

/* --all: calls each(ctx, customer, row_text) for every customer of the
 * state file (every id of an event or a profile, once, after id links),
 * in byte order of id, having read each table in one pass. row_text is the
 * profile's members as merge_state_profile writes them. each returns 0 to
 * go on, or -1 to stop (then this returns -1 too). 0 or -1 with e. */
int merge_state_all(merge_state *S, int (*each)(void *ctx, const char *customer, jrn_buf *members),
		    void *ctx, jrn_err *e);

#endif
