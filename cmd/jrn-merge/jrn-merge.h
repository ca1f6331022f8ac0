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
 *             fetch, start, done } and one file
 *   http.c    the `http` source type: GET a URL template per customer,
 *             every request of every record through one curl multi handle
 *             (merge_net), bounded by --parallel, with retries and a cache
 *             in the state file's source_cache table
 *
 * Synchronous types (file) answer through fetch. Asynchronous ones (http)
 * through start: main.c keeps a window of records read ahead, starts their
 * fetches, runs the network (merge_net_run) and writes each record, in
 * input order, once every slot of it is done.
 */
#ifndef JRN_MERGE_H
#define JRN_MERGE_H

#include "jrn.h"
#include "profile.h"
#include "profile-read.h"

/* ---- sources (sources.c, file.c) ------------------------------------------ */

typedef struct merge_source merge_source;
typedef struct merge_net merge_net;

/* What an asynchronous source answered for one record. The caller owns it
 * (and value); the source fills it once, then decrements *left. */
typedef struct {
	bool done;
	int got;       /* as fetch returns: 1 value, 0 nothing known, -1 why */
	jrn_buf value; /* got 1: a JSON value's text */
	jrn_err why;   /* got -1 */
	size_t *left;  /* the record's count of slots not done */
} merge_slot;

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
	/* Instead of fetch, for an asynchronous type: starts getting what the
	 * source holds of customer[0..n) (at most limit objects) into slot
	 * (borrowed until it is done: main.c keeps it in place); the slot may
	 * be done at once (a cached answer). 0, or -1 with e when the run
	 * cannot go on (memory). */
	int (*start)(merge_source *s, const char *customer, size_t n, size_t limit, merge_slot *slot,
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
	merge_net *net; /* the network all asynchronous sources share (borrowed) */
	void *priv;   /* the type's own */
};

/* The sources of cfg's sources.list (borrowed), each loaded; with names
 * (--source, borrowed, n of them) only those (an unknown name is an
 * error). Each source gets net (borrowed; it must outlive the sources).
 * *out gets an array the caller frees with merge_sources_free.
 * 0, or -1 with e ("sources.list[1].type: unknown type 'ftp' (file,
 * http)"), or -2 with e when a name is not in the list. */
int merge_sources_load(jv cfg, char *const *names, int nnames, merge_net *net, merge_source **out,
		       size_t *n, jrn_err *e);
void merge_sources_free(merge_source *s, size_t n);

/* Checks the keys and types of cfg's sources: section (borrowed): 0, or
 * -1 with e ("sources.list[0]: unknown key 'pth'"). */
int merge_sources_check(jv cfg, jrn_err *e);

extern const merge_source_ops merge_file_ops;
extern const merge_source_ops merge_http_ops;

/* ---- the network (http.c) ------------------------------------------------- */

/* Requests in flight at once: --parallel, sources.parallel. */
#define MERGE_PARALLEL_DEFAULT 64
#define MERGE_PARALLEL_MAX 1024

/* One curl multi handle for every request of every http source, at most
 * parallel (1..MERGE_PARALLEL_MAX) in flight, connections kept alive and
 * reused; the rest wait in order. NULL with e (memory, curl). */
merge_net *merge_net_open(long parallel, jrn_err *e);
/* Lets the cache read and write the state file db (borrowed; the caller
 * owns the transaction). 0 or -1 with e. */
int merge_net_db(merge_net *N, sqlite3 *db, jrn_err *e);
/* Moves the requests on: starts waiting ones up to the bound, reads what
 * arrived, finishes slots (and queues retries). With wait, first waits
 * (at most a second, or until a retry is due) for something to happen.
 * Returns the number of requests not finished (in flight or waiting), or
 * -1 with e when the run cannot go on (the cache could not be written). */
long merge_net_run(merge_net *N, bool wait, jrn_err *e);
/* Requests sent so far (tries count). */
uint64_t merge_net_requests(const merge_net *N);
void merge_net_close(merge_net *N);

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
