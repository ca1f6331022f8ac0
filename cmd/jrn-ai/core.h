/* core.h: what core.c (the loop: questions, cache, answers, writing) and
 * read.c (reading records into a batch, minimising a question's
 * profile) share. Private to jrn-ai. */
#ifndef JRN_AI_CORE_H
#define JRN_AI_CORE_H

#include "jrn-ai.h"

/* One record of a batch. */
typedef struct {
	char *line;          /* the input line (owned) */
	size_t len;
	jv rec;              /* the parsed object; invalid for events */
	bool event;
	int src;             /* AI_SRC_* of the answer */
	jv answer;           /* the answer (owned), or invalid */
	char *reason;        /* a fallback's reason (owned) */
	long tokens;
	double cost;
	bool cached, store;  /* cached: from the cache; store: to be cached */
	unsigned char key[32];
	ai_req *req;         /* its question, while asked */
	char *text;          /* an answer from the cache as its JSON text, to be
			      * written as it is (ai_cache_get; answer is then
			      * jv_null()): state's, or optimize's of a record
			      * read lightly (write_actions_text); else NULL
			      * (owned) */
	size_t tlen;
	ai_lite lite;        /* read lightly (lite_take): lite.cid set; rec then
			      * invalid until the cache misses (materialize),
			      * and the cache key hashes lite's spans */
} ai_item;

/* A batch of records, read, asked and written together. */
typedef struct {
	ai_item *items;      /* ai_loop.max */
	size_t n;
	size_t bytes;        /* the input lines' bytes (ai_loop.max_bytes) */
	ai_req *reqs;        /* one per profile of the batch */
	ai_facts *facts;     /* their facts (reqs[i].facts points here) */
	size_t nreq;
	ai_req *sub;         /* the questions whose facts are read (facts_start): */
	size_t *at, nsub;    /* reqs, or optimize's without a state (at[j] in reqs) */
	bool facts_out;      /* ai_facts_start done, ai_facts_finish not yet */
	uint64_t puts;       /* run->cache_puts when its facts were started */
} ai_batch;

typedef struct {
	ai_run *run;
	jrn_reader *rd;
	jv_parser *parser;
	/* Two batches: one read (cur) while the one before it (prev), its
	 * facts and cache looked up, waits to be answered and written; b is
	 * the one worked on (flush_batch) */
	ai_batch bat[2], *cur, *prev, *b;
	size_t max;          /* records a batch: AI_BATCH or AI_NET_BATCH */
	size_t max_bytes;    /* a network model's batch also ends at this many
			      * bytes of input (AI_NET_BATCH_BYTES) once it
			      * holds min records (a round: run->parallel),
			      * while the cache answers every question
			      * (all_hits: the last batch looked up) */
	size_t min;
	bool all_hits;
	jrn_buf out;
	bool light;          /* records read lightly (light_rec) */
	bool light_state;    /* state's records read lightly (light_state_rec) */
	bool light_action;   /* the line read lightly is an action */
	bool lite;           /* records read lightly for the cache (lite_take) */
	jrn_json_index ix;   /* light_rec's index, reused */
	jrn_json_index aix;  /* write_actions_text's, of a cached action, reused */
	bool cache_said;     /* a cache failure said once */
	jv seen[8];          /* validate(): the rules answers found valid */
	int nseen;
	int status;
} ai_loop;

/* Takes one line into the batch L->b: an event or an action (through),
 * a profile, or a reject (said, and written to --rejects). 0, or -1
 * when the run cannot go on (said). (read.c) */
int ai_take_line(ai_loop *L, const jrn_line *ln);
/* The record's allowed fields (ai.fields, in their order; email and
 * phone, also inside objects, only with ai.sendContact): a member of the
 * record, else of its "profile" (jrn-merge's shape). rec is borrowed; a
 * new object. (read.c) */
jv ai_minimise(const ai_run *run, jv rec);

/* Whether k[0..n) names a provenance member of a state (source, model,
 * promptVersion, tokens, cost, cached, reason: add_provenance's), which
 * an optimize question's state leaves out. (core.c) */
bool ai_provenance_member(const char *k, size_t n);

#endif
