/* core.c: the loop every model shares (jrn-ai(1), HOW A RECORD GOES).
 *
 * Records are read in batches (AI_BATCH, a network model's AI_NET_BATCH,
 * or AI_NET_BATCH_BYTES of input after a batch of cache hits;
 * less when the input goes idle). While one batch is answered and written,
 * the facts of the next are read on the facts thread (facts.c; flush_batch
 * says the order). For each batch:
 *   1. parse; actions (a string "actionType") pass through, and so do
 *      events (a string "type") unless they carry
 *      what the task reads (state: jrn-merge's "profile" object;
 *      optimize: a "state" object), which makes them the customer's
 *      record (the seed's real-time flow: a touchpoint, its profile, its
 *      state, its actions); a profile needs a customerId (jrn_id_check),
 *      else it is rejected;
 *   2. minimise: the question's input carries only ai.fields of the
 *      record (never email or phone unless ai.sendContact), the facts of
 *      the state file (facts.c) and, for optimize, the record's state
 *      (else the rules state of the same facts);
 *   3. the cache (network models, or rules with ai.cache.rules): a hit is
 *      the answer, source "cache";
 *   4. the budget: once spent, the rest get the rules answer (fallback,
 *      said once on stderr);
 *   5. ask the model, `parallel` questions a round; validate each answer
 *      (the task's JSON Schema and the rules below); the invalid ones are
 *      asked once more with the errors; still invalid: the rules answer,
 *      source "fallback", with the reason;
 *   6. the allow-list (optimize): a disallowed action is dropped, said on
 *      stderr; a model's answer with one dropped falls back to rules;
 *   7. store the new answers in the cache (one transaction a batch) and
 *      write the records in input order.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jrn-ai.h"
#include "jsonschema.h"

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
	char *text;          /* a state answer from the cache as its JSON text, to
			      * be written as it is (ai_cache_get; answer is then
			      * jv_null()), or NULL (owned) */
	size_t tlen;
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
	jrn_json_index ix;   /* light_rec's index, reused */
	bool cache_said;     /* a cache failure said once */
	jv seen[8];          /* validate(): the rules answers found valid */
	int nseen;
	int status;
} ai_loop;

static void item_clear(ai_item *it)
{
	free(it->line);
	jv_free(it->rec);
	jv_free(it->answer);
	free(it->reason);
	free(it->text);
	memset(it, 0, sizeof *it);
}

static void req_clear(ai_req *r)
{
	jv_free(r->input);
	jv_free(r->errors);
	jv_free(r->answer);
	free(r->why);
	memset(r, 0, sizeof *r);
}

/* Frees what batch B holds and empties it (its items array kept). */
static void batch_clear(ai_batch *B)
{
	for (size_t i = 0; i < B->nreq; i++) {
		req_clear(&B->reqs[i]);
		if (B->facts)
			ai_facts_clear(&B->facts[i]);
	}
	if (B->sub != B->reqs)
		free(B->sub);
	free(B->reqs);
	free(B->facts);
	free(B->at);
	B->reqs = B->sub = NULL;
	B->facts = NULL;
	B->at = NULL;
	B->nreq = B->nsub = 0;
	for (size_t i = 0; i < B->n; i++)
		item_clear(&B->items[i]);
	B->n = 0;
	B->bytes = 0;
}

/* ---- reading ---------------------------------------------------------- */

/* The members of a record that optimize on the rules model reads. */
static const char *const light_names[] = {"type", "customerId", "state", "email", "phone"};

/* Optimize on the rules model, with no cache and no --dry-run, reads of a
 * record only type, customerId, state, email and phone (its own, else
 * its profile's: rec_contact): the actions come
 * from the state's journeyStage and segment (the facts only for a record
 * without a state). Such a line is checked and indexed without building
 * its jv (jrn_json_index_build: the same strict checks as the parse), and
 * *rec holds those members alone, the state with those two, and a
 * "profile" object (jrn-merge's) with its email and phone strings alone
 * (rec_contact's fallback). 1 with *rec (jv_invalid() for an event or an
 * action: its line goes through
 * as it is), or 0 when the line is to be parsed whole: not UTF-8, refused
 * by the check (the parse says why, in its words), a member name with an
 * escape, or no state object. Measured: parsing and freeing whole records
 * were two fifths of such a run. */
/* Whether the type member m (a string) is a touchpoint optimize answers
 * (ai_touchpoint): its value read with the escapes resolved. */
static bool light_touchpoint(ai_loop *L, const jrn_json_member *m)
{
	jv t = jrn_parse_value(m->val - 1, m->vlen + 2, NULL);
	bool yes = jv_get_kind(t) == JV_KIND_STRING &&
		   ai_touchpoint(L->run, jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t)));
	jv_free(t);
	return yes;
}

static int light_rec(ai_loop *L, const jrn_line *ln, jv *rec)
{
	if (!L->light || jrn_utf8_invalid_at(ln->p, ln->len) != ln->len ||
	    jrn_json_index_build(&L->ix, ln->p, ln->len, 2, NULL) < 0)
		return 0;
	const jrn_json_member *m[5];
	for (size_t i = 0; i < L->ix.n; i++)
		if (L->ix.m[i].kescaped)
			return 0;
	const jrn_json_member *act = jrn_json_find(&L->ix, -1, "actionType");
	if (act && act->kind == '"') {
		*rec = jv_invalid(); /* an action: through (take_line) */
		L->light_action = true;
		return 1;
	}
	for (int i = 0; i < 5; i++)
		m[i] = jrn_json_find(&L->ix, -1, light_names[i]);
	/* jrn-merge's profile: only its contact is read (rec_contact) */
	const jrn_json_member *prof = jrn_json_find(&L->ix, -1, "profile");
	if (m[0] && m[0]->kind == '"' && !(m[2] && m[2]->kind == '{')) {
		*rec = jv_invalid(); /* an event without a state: through */
		return 1;
	}
	if (m[0] && m[0]->kind == '"' && !light_touchpoint(L, m[0])) {
		*rec = jv_invalid(); /* not a touchpoint (ai.touchpoints): through */
		return 1;
	}
	if (!m[2] || m[2]->kind != '{')
		return 0;
	jv o = jv_object();
	for (int i = 1; i < 5; i++) {
		if (!m[i])
			continue;
		bool str = m[i]->kind == '"';
		jv v;
		if (i == 2) { /* the state: the two members the rules read */
			static const char *const sm[2] = {"journeyStage", "segment"};
			v = jv_object();
			for (int k = 0; k < 2; k++) {
				const jrn_json_member *x = jrn_json_find(&L->ix, (int)(m[2] - L->ix.m), sm[k]);
				if (x && x->kind == '"')
					v = jv_object_set(v, ai_lit(sm[k]),
							  jrn_parse_value(x->val - 1, x->vlen + 2, NULL));
			}
		} else {
			v = jrn_parse_value(m[i]->val - str, m[i]->vlen + 2 * str, NULL);
		}
		o = jv_object_set(o, ai_lit(light_names[i]), v);
	}
	if (prof && prof->kind == '{') {
		jv po = jv_object();
		for (int i = 3; i < 5; i++) { /* email, phone: strings only, as rec_contact reads */
			const jrn_json_member *x = jrn_json_find(&L->ix, (int)(prof - L->ix.m), light_names[i]);
			if (x && x->kind == '"')
				po = jv_object_set(po, ai_lit(light_names[i]),
						   jrn_parse_value(x->val - 1, x->vlen + 2, NULL));
		}
		o = jv_object_set(o, KS("profile"), po);
	}
	*rec = o;
	return 1;
}

/* The members of a record (and of its "profile") that state on the rules
 * model reads: facts.c's carried() (the parts and traits) and, at the top
 * level, customerId (the last: the first LS_PARTS are read in both). */
static const char *const light_state_names[] = {"rfm", "clv", "lead", "scores", "segments",
						"summary", "traits", "customerId"};
enum { LS_PARTS = 7, LS_NAMES = 8 };

/* The members the rules model reads (facts.c's carried() and derive())
 * of an object member by its name; NULL: the name's value is read whole
 * (segments: only that it is an array). */
static const char *const *slim_keep(const char *k, size_t n)
{
	static const char *const rfm[] = {"monetary", "segment", NULL};
	static const char *const clv[] = {"pAlive", "predictedValue", NULL};
	static const char *const none[] = {NULL};
	static const char *const scores[] = {"rfm", "clv", "lead", NULL};
	static const char *const summary[] = {"orders", "orderTotal", "firstSeen", "lastOrder", NULL};
	static const char *const last[] = {"at", NULL};
	static const char *const traits[] = {"interests", NULL};
	static const struct {
		const char *name;
		const char *const *keep;
	} t[] = {{"rfm", rfm}, {"clv", clv}, {"lead", none}, {"scores", scores},
		 {"summary", summary}, {"lastOrder", last}, {"traits", traits}};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (strlen(t[i].name) == n && !memcmp(t[i].name, k, n))
			return t[i].keep;
	return NULL;
}

/* The value of index member i (of L->ix) as the rules model reads it: an
 * object named in slim_keep() with only the members kept there (their
 * values alike, recursively), "segments" an array as the empty array
 * (the rules read only its kind), anything else parsed whole. A new jv,
 * or jv_invalid() (out of memory). The objects read are within the
 * index's depth (light_state_rec's 4). */
static jv slim_value(const ai_loop *L, size_t i)
{
	const jrn_json_member *m = &L->ix.m[i];
	const char *const *keep = m->kind == '{' ? slim_keep(m->key, m->klen) : NULL;
	if (m->kind == '[' && m->klen == 8 && !memcmp(m->key, "segments", 8))
		return jv_array();
	if (!keep) {
		bool str = m->kind == '"';
		return jrn_parse_value(m->val - str, m->vlen + 2 * str, NULL);
	}
	jv o = jv_object();
	const char *end = m->val + m->vlen;
	for (size_t j = i + 1; j < L->ix.n && L->ix.m[j].key < end; j++) {
		const jrn_json_member *c = &L->ix.m[j];
		if (c->parent != (int)i)
			continue;
		int k = 0;
		while (keep[k] && !(strlen(keep[k]) == c->klen && !memcmp(keep[k], c->key, c->klen)))
			k++;
		if (!keep[k])
			continue;
		jv v = slim_value(L, j);
		if (!jv_is_valid(v)) {
			jv_free(o);
			return v;
		}
		o = jv_object_set(o, ai_lit(keep[k]), v);
	}
	return o;
}

/* State on the rules model, with no cache and no --dry-run (whose
 * questions carry the whole profile), reads of a record only its
 * customerId and what facts.c's carried() reads: rfm, clv, lead, scores,
 * segments, summary and traits at its top level and in its "profile"
 * object; the answer is spliced into the line as it is (with_member).
 * Such a line is checked and indexed without building its jv
 * (jrn_json_index_build: the same strict checks as the parse, duplicate
 * names refused), and *rec holds those members alone (their values
 * parsed whole), with "profile" holding its own. 1 with *rec
 * (jv_invalid() for an event or an action: its line goes through as it
 * is), or 0 when
 * the line is to be parsed whole: not UTF-8, refused by the check or not
 * an object (the parse says why, in its words), a member name with an
 * escape, a "type"
 * of a record carrying a profile object (take_line's checks), or a
 * "state" member (with_member then rebuilds the record). Measured:
 * parsing and freeing whole records were two fifths of such a run. */
static int light_state_rec(ai_loop *L, const jrn_line *ln, jv *rec)
{
	if (jrn_utf8_invalid_at(ln->p, ln->len) != ln->len ||
	    jrn_json_index_build(&L->ix, ln->p, ln->len, 4, NULL) < 0 ||
	    strcmp(jrn_json_kind_at(ln->p, ln->len), "object"))
		return 0;
	int prof = -1;
	const jrn_json_member *type = NULL;
	for (size_t i = 0; i < L->ix.n; i++) {
		const jrn_json_member *m = &L->ix.m[i];
		if (m->kescaped)
			return 0;
		if (m->parent != -1)
			continue;
		if (m->klen == 5 && !memcmp(m->key, "state", 5))
			return 0;
		if (m->klen == 10 && !memcmp(m->key, "actionType", 10) && m->kind == '"') {
			*rec = jv_invalid(); /* an action: through (take_line) */
			L->light_action = true;
			return 1;
		}
		if (m->klen == 4 && !memcmp(m->key, "type", 4))
			type = m;
		else if (m->klen == 7 && !memcmp(m->key, "profile", 7) && m->kind == '{')
			prof = (int)i;
	}
	if (type) {
		if (type->kind == '"' && prof < 0) {
			*rec = jv_invalid(); /* an event without a profile: through */
			return 1;
		}
		return 0;
	}
	jv o = jv_object(), po = prof >= 0 ? jv_object() : jv_invalid();
	for (size_t i = 0; i < L->ix.n; i++) {
		const jrn_json_member *m = &L->ix.m[i];
		bool top = m->parent == -1;
		if (!top && m->parent != prof)
			continue;
		int k = 0;
		while (k < (top ? LS_NAMES : LS_PARTS) &&
		       !(m->klen == strlen(light_state_names[k]) &&
			 !memcmp(m->key, light_state_names[k], m->klen)))
			k++;
		if (k == (top ? LS_NAMES : LS_PARTS))
			continue;
		jv v = slim_value(L, i);
		if (!jv_is_valid(v)) { /* (checked already: out of memory) */
			jv_free(o);
			jv_free(po);
			return 0;
		}
		if (top)
			o = jv_object_set(o, ai_lit(light_state_names[k]), v);
		else
			po = jv_object_set(po, ai_lit(light_state_names[k]), v);
	}
	*rec = prof >= 0 ? jv_object_set(o, KS("profile"), po) : o;
	return 1;
}

/* Takes one line into the batch: an event or an action (through), a
 * profile, or a reject. 0, or
 * -1 when the run cannot go on (said). */
static int take_line(ai_loop *L, const jrn_line *ln)
{
	ai_run *run = L->run;
	jrn_err e;
	const char *why = NULL;
	char buf[sizeof e.msg + 64];
	jv rec = jv_invalid();
	L->light_action = false;
	bool light = ln->len <= AI_MAX_LINE &&
		     (L->light_state ? light_state_rec(L, ln, &rec) : light_rec(L, ln, &rec));
	bool light_event = light && !jv_is_valid(rec), action = L->light_action;
	if (light_event)
		rec = jv_object_set(jv_object(), KS("type"), KS("event"));
	else if (!light && ln->len <= AI_MAX_LINE)
		rec = jrn_parse_object(&L->parser, ln->p, ln->len, &e);
	if (ln->len > AI_MAX_LINE) {
		why = "longer than 1 MiB (AI_MAX_LINE): not a profile a prompt can carry";
	} else if (!jv_is_valid(rec)) {
		why = e.msg;
	} else {
		jv type = jv_object_get(jv_copy(rec), KS("type"));
		bool event = jv_get_kind(type) == JV_KIND_STRING;
		jv_free(type);
		/* an action (a string actionType: optimize's own, jrn-route's
		 * input) is a decision made, not a customer to ask about */
		jv act = jv_object_get(jv_copy(rec), KS("actionType"));
		action = action || jv_get_kind(act) == JV_KIND_STRING;
		jv_free(act);
		if (action) {
			event = true;
		} else if (event) { /* an event carrying what the task reads is a record */
			jv carried = jv_object_get(jv_copy(rec), run->task == AI_STATE ? KS("profile")
										    : KS("state"));
			event = jv_get_kind(carried) != JV_KIND_OBJECT;
			jv_free(carried);
			/* optimize answers touchpoints only (ai.touchpoints) */
			jv t = jv_object_get(jv_copy(rec), KS("type"));
			if (!event && run->task == AI_OPTIMIZE &&
			    !ai_touchpoint(run, jv_string_value(t), (size_t)jv_string_length_bytes(jv_copy(t))))
				event = true;
			jv_free(t);
		}
		if (!event) {
			jv c = jv_object_get(jv_copy(rec), KS("customerId"));
			if (jv_get_kind(c) != JV_KIND_STRING)
				why = "customerId: expected a string (a profile needs one)";
			else if (jrn_id_check(jv_string_value(c), (size_t)jv_string_length_bytes(jv_copy(c)),
					      "customerId", &e) < 0)
				why = e.msg;
			jv_free(c);
		}
		if (!why) {
			ai_item *it = &L->b->items[L->b->n++];
			memset(it, 0, sizeof *it);
			it->answer = jv_invalid();
			it->event = event;
			it->rec = event ? (jv_free(rec), jv_invalid()) : rec;
			it->len = ln->len;
			if (!(it->line = malloc(ln->len + 1)))
				return jrn_say(-1, "out of memory");
			memcpy(it->line, ln->p, ln->len);
			it->line[ln->len] = '\0';
			if (action)
				run->actions++;
			else if (event)
				run->events++;
			else
				run->records++;
			return 0;
		}
	}
	jv_free(rec);
	snprintf(buf, sizeof buf, "%s", why);
	run->rejected++;
	if (jrn_reject(&run->rej, ln->file, ln->lineno, ln->p, ln->len, buf, &e) < 0)
		return jrn_say(-1, "--rejects: %s", e.msg);
	return 0;
}

/* ---- questions -------------------------------------------------------- */

/* Whether k is a contact field (email, phone). */
static bool is_contact(const char *k)
{
	return !strcmp(k, "email") || !strcmp(k, "phone");
}

/* The members of o (borrowed, an object) named by ai.fields into the
 * slots of those still jv_invalid(), in one pass over o (a look-up a
 * field cost more: records are small, the fields few). */
static void take_fields(const ai_run *run, jv o, jv *slot)
{
	size_t nf = run->nfields;
	for (int it = jv_object_iter(o); jv_object_iter_valid(o, it); it = jv_object_iter_next(o, it)) {
		jv k = jv_object_iter_key(o, it);
		const char *ks = jv_string_value(k);
		for (size_t j = 0; j < nf; j++) {
			if (jv_is_valid(slot[j]) || strcmp(ks, run->field_names[j]) ||
			    (!run->send_contact && is_contact(ks)))
				continue;
			jv_free(slot[j]);
			slot[j] = jv_object_iter_value(o, it);
		}
		jv_free(k);
	}
}

/* The record's allowed fields (ai.fields, in their order; email and
 * phone, also inside traits, only with ai.sendContact): a member of the
 * record, else of its "profile" (jrn-merge's shape). rec is borrowed. */
static jv minimise(const ai_run *run, jv rec)
{
	jv p = jv_object();
	size_t nf = run->nfields;
	if (!nf || jv_get_kind(rec) != JV_KIND_OBJECT)
		return p;
	jv small[16], *slot = nf <= 16 ? small : malloc(nf * sizeof *slot);
	if (!slot)
		return p; /* (out of memory: nothing of the profile) */
	for (size_t j = 0; j < nf; j++)
		slot[j] = jv_invalid();
	take_fields(run, rec, slot);
	size_t got = 0;
	for (size_t j = 0; j < nf; j++)
		got += jv_is_valid(slot[j]);
	if (got < nf) {
		jv pr = jv_object_get(jv_copy(rec), KS("profile"));
		if (jv_get_kind(pr) == JV_KIND_OBJECT)
			take_fields(run, pr, slot);
		jv_free(pr);
	}
	for (size_t j = 0; j < nf; j++) {
		jv v = slot[j];
		if (!jv_is_valid(v))
			continue;
		/* (deleted only when there: a delete copies the record's object) */
		if (jv_get_kind(v) == JV_KIND_OBJECT && !run->send_contact &&
		    jv_object_has(jv_copy(v), KS("email")))
			v = jv_object_delete(v, KS("email"));
		if (jv_get_kind(v) == JV_KIND_OBJECT && !run->send_contact &&
		    jv_object_has(jv_copy(v), KS("phone")))
			v = jv_object_delete(v, KS("phone"));
		p = jv_object_set(p, jv_string(run->field_names[j]), v);
	}
	if (slot != small)
		free(slot);
	return p;
}

/* Starts reading the facts of the batch's questions into L->b->facts
 * (ai_facts_start: the state file is read on the facts thread), from
 * recs (the batch's records, borrowed, read here only): every
 * question's when whole, else those of optimize records without a state
 * object (the others' facts NULL: the rules answer reads only the
 * state). facts_finish completes them. 0 or -1 (said). */
static int facts_start(ai_loop *L, const jv *recs, bool whole)
{
	ai_run *run = L->run;
	ai_batch *B = L->b;
	if (!(B->facts = calloc(B->nreq, sizeof *B->facts)))
		return jrn_say(-1, "out of memory");
	B->sub = B->reqs;
	B->nsub = B->nreq;
	if (!whole && run->task == AI_OPTIMIZE) {
		if (!(B->sub = malloc(B->nreq * sizeof *B->sub)) || !(B->at = malloc(B->nreq * sizeof *B->at))) {
			free(B->sub);
			B->sub = NULL;
			return jrn_say(-1, "out of memory");
		}
		B->nsub = 0;
		for (size_t i = 0; i < B->nreq; i++) {
			jv st = jv_object_get(jv_copy(recs[B->reqs[i].idx]), KS("state"));
			if (jv_get_kind(st) != JV_KIND_OBJECT) {
				B->at[B->nsub] = i;
				B->sub[B->nsub++] = B->reqs[i];
			}
			jv_free(st);
		}
	}
	jrn_err e;
	if (B->nsub && ai_facts_start(run, B->sub, B->nsub, recs, B->facts, &e) < 0)
		return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	B->facts_out = B->nsub > 0;
	return 0;
}

/* Completes facts_start's facts (waits for the facts thread). Called for
 * every batch facts_start was called for, even after a failure. 0 or -1
 * (said). */
static int facts_finish(ai_loop *L)
{
	ai_run *run = L->run;
	ai_batch *B = L->b;
	jrn_err e;
	int rc = B->facts_out ? ai_facts_finish(run, B->sub, B->nsub, B->facts, &e) : 0;
	B->facts_out = false;
	if (B->sub && B->sub != B->reqs) {
		for (size_t j = 0; rc == 0 && j < B->nsub; j++)
			B->reqs[B->at[j]].facts = B->sub[j].facts;
		free(B->sub);
	}
	free(B->at);
	B->sub = NULL;
	B->at = NULL;
	B->nsub = 0;
	return rc < 0 ? jrn_say(-1, "%s: %s", run->opts.db_path, e.msg) : 0;
}

/* Whether the batch's questions carry the whole input: for whoever reads
 * it, a model, the cache's key (the profile; it hashes the facts as
 * numbers), --dry-run. The rules model reads the facts as numbers, and
 * optimize on it only those of a record without a state (the state's
 * rules answer). */
static bool questions_whole(const ai_run *run)
{
	return run->model->ops->network || run->opts.dry_run || run->cache_rules;
}

/* Builds the batch's questions, one per profile, and starts reading their
 * facts: questions_finish completes them, and is to be called even when
 * this fails. 0 or -1 (said). */
static int questions_start(ai_loop *L)
{
	ai_run *run = L->run;
	size_t np = 0;
	for (size_t i = 0; i < L->b->n; i++)
		np += !L->b->items[i].event;
	L->b->nreq = 0;
	if (!np)
		return 0;
	if (!(L->b->reqs = calloc(np, sizeof *L->b->reqs)))
		return jrn_say(-1, "out of memory");
	jv *recs = malloc(L->b->n * sizeof *recs);
	if (!recs)
		return jrn_say(-1, "out of memory");
	for (size_t i = 0; i < L->b->n; i++) {
		ai_item *it = &L->b->items[i];
		recs[i] = it->rec;
		if (it->event)
			continue;
		ai_req *r = &L->b->reqs[L->b->nreq++];
		r->idx = i;
		r->task = run->task;
		r->errors = jv_null();
		r->answer = jv_invalid();
		r->input = jv_object_set(jv_object(), KS("customerId"),
					 jv_object_get(jv_copy(it->rec), KS("customerId")));
		it->req = r;
	}
	int rc = facts_start(L, recs, questions_whole(run));
	free(recs);
	return rc;
}

/* Completes the batch's questions once their facts are read: the
 * minimised profile, the facts (--dry-run), the state (optimize). 0 or
 * -1 (said). */
static int questions_finish(ai_loop *L)
{
	ai_run *run = L->run;
	if (facts_finish(L) < 0)
		return -1;
	bool whole = questions_whole(run);
	/* The facts as an object only for --dry-run here; a model's question
	 * gets them once the cache has missed (with_facts): the cache key
	 * hashes them as numbers, and building and freeing that object was
	 * a sixth of a run of cache hits. */
	for (size_t i = 0; whole && i < L->b->nreq; i++) {
		ai_req *r = &L->b->reqs[i];
		r->input = jv_object_set(r->input, KS("profile"), minimise(run, L->b->items[r->idx].rec));
		if (run->opts.dry_run)
			r->input = jv_object_set(r->input, KS("facts"), ai_facts_jv(r->facts));
	}
	if (run->task != AI_OPTIMIZE)
		return 0;
	for (size_t i = 0; i < L->b->nreq; i++) {
		ai_req *r = &L->b->reqs[i];
		jv st = jv_object_get(jv_copy(L->b->items[r->idx].rec), KS("state"));
		if (jv_get_kind(st) != JV_KIND_OBJECT) {
			jv_free(st);
			st = ai_rules_state(run, r->facts);
		}
		/* the state's answer members only: provenance is not the model's
		 * business (the rules model alone reads only two members) */
		static const char *const prov[] = {"source", "model", "promptVersion", "tokens",
						   "cost", "cached", "reason"};
		for (size_t k = 0; whole && k < sizeof prov / sizeof *prov; k++)
			st = jv_object_delete(st, ai_lit(prov[k]));
		r->input = jv_object_set(r->input, KS("state"), st);
	}
	return 0;
}

/* ---- validation ------------------------------------------------------- */

static int validate_walk(const ai_run *run, int task, jv answer, jv *errors);

/* Checks answer (borrowed) for task: the schema, then what a schema
 * cannot say. 0 valid, else the number of errors with *errors a new
 * array of {path, keyword, message}. */
static int validate(ai_loop *L, int task, jv answer, jv *errors)
{
	/* The rules model's answers found valid, by identity: it answers
	 * optimize with one shared object per playbook entry (rules.c), which
	 * need not be walked again. */
	const ai_run *run = L->run;
	for (int i = 0; i < L->nseen; i++)
		if (jv_identical(jv_copy(L->seen[i]), jv_copy(answer))) {
			*errors = jv_array();
			return 0;
		}
	int n = validate_walk(run, task, answer, errors);
	if (!n && task == AI_OPTIMIZE && !run->model->ops->network &&
	    L->nseen < (int)(sizeof L->seen / sizeof *L->seen))
		L->seen[L->nseen++] = jv_copy(answer);
	return n;
}

/* validate()'s walk of answer. */
static int validate_walk(const ai_run *run, int task, jv answer, jv *errors)
{
	*errors = jv_array();
	if (jv_get_kind(answer) != JV_KIND_OBJECT) {
		*errors = jv_array_append(*errors, JV_OBJECT(KS("path"), KS(""),
							     KS("keyword"), KS("type"),
							     KS("message"), KS("expected an object")));
		return 1;
	}
	jv errs = jv_invalid();
	int n = jrn_schema_validate(run->prompts[task].compiled, answer, &errs);
	if (n) {
		jv_free(*errors);
		*errors = errs;
		return n;
	}
	jv_free(errs);
	return 0;
}

/* The errors (borrowed) as one line for a reason: "PATH: MESSAGE; ...",
 * at most about 300 bytes. malloc'd. */
static char *errors_text(jv errors)
{
	jrn_buf b = {0};
	jv_array_foreach(errors, i, x) {
		jv p = jv_object_get(jv_copy(x), KS("path"));
		jv m = jv_object_get(x, KS("message"));
		if (b.len < 300)
			jrn_buf_addf(&b, "%s%s%s%s", i ? "; " : "",
				     jv_get_kind(p) == JV_KIND_STRING ? jv_string_value(p) : "",
				     jv_get_kind(p) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(p)) ? ": " : "",
				     jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "invalid");
		jv_free(p);
		jv_free(m);
	}
	if (!b.p)
		jrn_buf_adds(&b, "invalid answer");
	return b.p;
}

/* ---- the answers ------------------------------------------------------ */

/* The rules answer for item it, as a fallback with reason why (copied;
 * the model's name first), or as the rules model's own answer (why
 * NULL). */
static void answer_rules(ai_loop *L, ai_item *it, const char *why)
{
	ai_run *run = L->run;
	jv_free(it->answer);
	it->answer = run->task == AI_STATE ? ai_rules_state(run, it->req->facts)
					   : ai_rules_optimize(run, it->req->input);
	it->src = why ? AI_SRC_FALLBACK : AI_SRC_RULES;
	free(it->reason);
	it->reason = NULL;
	if (why) {
		jrn_buf b = {0};
		jrn_buf_addf(&b, "%s: %s", run->model->name, why);
		it->reason = b.p;
		run->fallbacks++;
	}
}

/* Whether the budget is spent. */
static bool budget_spent(const ai_run *run)
{
	return (run->budget_tokens > 0 && run->spent_tokens >= run->budget_tokens) ||
	       (run->budget_cost > 0 && run->spent_cost >= run->budget_cost);
}

/* Asks the model the questions reqs[0..n) (one round), validates; what is
 * valid becomes its item's answer, what is not is left for the retry with
 * its errors (retry false) or falls back (retry true). 0 or -1 (said). */
static int ask_round(ai_loop *L, ai_req **q, size_t n, bool retry)
{
	ai_run *run = L->run;
	ai_model *m = run->model;
	const ai_prompt *p = &run->prompts[run->task];
	ai_req *batch = calloc(n, sizeof *batch);
	if (!batch)
		return jrn_say(-1, "out of memory");
	for (size_t i = 0; i < n; i++) {
		batch[i] = *q[i]; /* moved in: the model works on a dense array */
		batch[i].answer = jv_invalid();
		batch[i].why = NULL;
	}
	if (run->opts.verbosity > 0)
		jrn_say(0, "asking %s %zu %s question%s%s", m->name, n, ai_task_names[run->task],
			n == 1 ? "" : "s", retry ? " again, with the validation errors" : "");
	jrn_err e;
	int rc = m->ops->run(m, batch, n, p, &e);
	for (size_t i = 0; i < n; i++) {
		ai_req *r = &batch[i];
		ai_item *it = &L->b->items[r->idx];
		run->asked++;
		run->spent_tokens += (double)(r->tokens_in + r->tokens_out);
		run->spent_cost += r->cost;
		it->tokens += r->tokens_in + r->tokens_out;
		it->cost += r->cost;
		jv errs = jv_invalid();
		char *why = NULL;
		if (!jv_is_valid(r->answer))
			why = strdup(r->why ? r->why : "no answer");
		else if (validate(L, run->task, r->answer, &errs))
			why = errors_text(errs);
		if (!why) {
			jv_free(it->answer);
			it->answer = jv_copy(r->answer);
			it->src = m->ops->network ? AI_SRC_MODEL : AI_SRC_RULES;
			it->store = m->ops->network || run->cache_rules;
			jv_free(errs);
		} else if (!retry && jv_is_valid(errs)) {
			/* asked again with the errors; no answer at all (time-out,
			 * refusal) is not asked again: the model said so */
			jv_free(r->errors);
			r->errors = errs;
		} else {
			jv_free(errs);
			answer_rules(L, it, why);
		}
		free(why);
		/* moved back out */
		jv_free(r->answer);
		free(r->why);
		r->answer = jv_invalid();
		r->why = NULL;
		*q[i] = *r;
	}
	free(batch);
	return rc < 0 ? jrn_say(-1, "%s: %s", m->name, e.msg) : 0;
}

/* The insights' computed_at for the cache key: optimize's, else -1. */
static int64_t insights_at(const ai_run *run)
{
	return run->task == AI_OPTIMIZE ? run->insights_at : -1;
}

/* Adds r's facts to its input, where questions_finish would have put them:
 * after the profile, before the state (optimize), so that the model's
 * question reads the same. Once per question; not for --dry-run (it has
 * them). */
static void with_facts(const ai_run *run, ai_req *r)
{
	if (run->opts.dry_run || !r->facts || jv_object_has(jv_copy(r->input), ai_lit("facts")))
		return;
	jv st = jv_object_get(jv_copy(r->input), KS("state"));
	bool has_state = jv_is_valid(st);
	if (has_state)
		r->input = jv_object_delete(r->input, KS("state"));
	r->input = jv_object_set(r->input, KS("facts"), ai_facts_jv(r->facts));
	if (has_state)
		r->input = jv_object_set(r->input, KS("state"), st);
	else
		jv_free(st);
}

/* The cache step for every question: a hit is its answer. With
 * --dry-run nothing is looked up either... only looked up. 0 or -1 (said). */
static int from_cache(ai_loop *L)
{
	ai_run *run = L->run;
	ai_model *m = run->model;
	if (!m->ops->network && !run->cache_rules)
		return 0;
	const char *version = run->prompts[run->task].version;
	size_t hits = 0;
	for (size_t i = 0; i < L->b->nreq; i++) {
		ai_req *r = &L->b->reqs[i];
		ai_item *it = &L->b->items[r->idx];
		jrn_err e;
		if (ai_cache_key(ai_task_names[run->task], m->name, version, r, insights_at(run),
				 it->key) < 0)
			return jrn_say(-1, "the cache key: out of memory");
		long tokens;
		double cost;
		jv a;
		/* state answers are written as they are: their text serves */
		int hit = ai_cache_get(run, it->key, &a, run->task == AI_STATE ? &it->text : NULL,
				       &it->tlen, &tokens, &cost, &e);
		if (hit < 0)
			return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
		if (hit) {
			it->answer = a;
			it->src = AI_SRC_CACHE;
			it->cached = true;
			run->cache_hits++;
			hits++;
		}
	}
	L->all_hits = hits == L->b->nreq;
	if (run->opts.verbosity > 0 && run->cache_hits)
		jrn_say(0, "%" PRIu64 " cache hits so far", run->cache_hits);
	return 0;
}

/* Answers every question of the batch that the cache did not: the rules
 * model directly, another model in rounds of run->parallel within the
 * budget, each with its one retry. 0 or -1 (said). */
static int answer_batch(ai_loop *L)
{
	ai_run *run = L->run;
	size_t cap = run->parallel > 0 ? (size_t)run->parallel : 8;
	if (!run->model->ops->network)
		cap = L->b->nreq ? L->b->nreq : 1;
	ai_req **q = malloc(cap * sizeof *q);
	if (!q)
		return jrn_say(-1, "out of memory");
	int rc = 0;
	size_t i = 0;
	while (rc == 0 && i < L->b->nreq) {
		size_t n = 0;
		for (; i < L->b->nreq && n < cap; i++) {
			ai_item *it = &L->b->items[L->b->reqs[i].idx];
			if (jv_is_valid(it->answer))
				continue;
			if (run->model->ops->network && budget_spent(run)) {
				if (!run->budget_said && run->opts.verbosity >= 0)
					jrn_say(0, "--budget %s spent (%.0f tokens, %.4f): the rules"
						" answer for the rest", run->budget_flag, run->spent_tokens,
						run->spent_cost);
				run->budget_said = true;
				answer_rules(L, it, "budget spent");
				continue;
			}
			if (run->model->ops->network)
				with_facts(run, &L->b->reqs[i]);
			q[n++] = &L->b->reqs[i];
		}
		if (n && (rc = ask_round(L, q, n, false)) == 0) {
			size_t k = 0;
			for (size_t j = 0; j < n; j++)
				if (!jv_is_valid(L->b->items[q[j]->idx].answer))
					q[k++] = q[j];
			if (k)
				rc = ask_round(L, q, k, true);
		}
	}
	free(q);
	return rc;
}

/* ---- the allow-list --------------------------------------------------- */

/* Why action a (borrowed) is not allowed, into why[n]; false when it is. */
static bool disallowed(const ai_run *run, jv a, char *why, size_t n)
{
	static const char *const ch[3] = {"email", "sms", "retargeting"};
	jv t = jv_object_get(jv_copy(a), KS("actionType"));
	jv c = jv_object_get(jv_copy(a), KS("campaignId"));
	const char *ts = jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : "";
	const char *cs = jv_get_kind(c) == JV_KIND_STRING ? jv_string_value(c) : "";
	bool bad = true;
	for (int i = 0; i < 3; i++)
		if (!strcmp(ts, ch[i]))
			bad = !run->channel_ok[i];
	if (bad)
		snprintf(why, n, "channel %s has no provider and is not in ai.allow.channels", ts);
	jv list = jv_get_kind(run->allow) == JV_KIND_OBJECT
			  ? jv_object_get(jv_copy(run->allow), KS("campaigns")) : jv_invalid();
	if (!bad && jv_get_kind(list) == JV_KIND_ARRAY) {
		bool found = false;
		jv_array_foreach(list, i, s) {
			found = found || (jv_get_kind(s) == JV_KIND_STRING && !strcmp(jv_string_value(s), cs));
			jv_free(s);
			(void)i;
		}
		if (!found) {
			bad = true;
			snprintf(why, n, "campaign %s is not in ai.allow.campaigns", cs);
		}
	}
	jv_free(list);
	jv_free(t);
	jv_free(c);
	return bad;
}

/* Drops the disallowed actions of it's answer, each said on stderr; a
 * model's answer with one dropped becomes the rules answer (whose own
 * disallowed actions are dropped in turn). */
static void allow_check(ai_loop *L, ai_item *it)
{
	ai_run *run = L->run;
	for (int pass = 0; pass < 2; pass++) {
		jv acts = jv_object_get(jv_copy(it->answer), KS("actions"));
		if (jv_get_kind(acts) != JV_KIND_ARRAY) {
			jv_free(acts);
			return;
		}
		jv kept = jv_array();
		char why[256], first[300] = "";
		jv_array_foreach(acts, i, a) {
			if (!disallowed(run, a, why, sizeof why)) {
				kept = jv_array_append(kept, a);
				continue;
			}
			run->dropped++;
			if (run->opts.verbosity >= 0) {
				jv c = jv_object_get(jv_copy(it->rec), KS("customerId"));
				jrn_say(0, "%s: action %d dropped: %s", jv_string_value(c), i, why);
				jv_free(c);
			}
			if (!*first)
				snprintf(first, sizeof first, "action %d: %s", i, why);
			jv_free(a);
		}
		jv_free(acts);
		if (!*first || it->src == AI_SRC_RULES || it->src == AI_SRC_FALLBACK) {
			it->answer = jv_object_set(it->answer, KS("actions"), kept);
			return;
		}
		jv_free(kept);
		answer_rules(L, it, first);
	}
}

/* ---- writing ---------------------------------------------------------- */

/* Appends o's members without the null ones, as JSON members (no braces)
 * after a comma when *first is false. Consumes o. 0 or -1. */
static int add_members(jrn_buf *b, jv o, bool *first)
{
	jrn_err e;
	int rc = 0;
	jv_object_foreach(o, k, v) {
		if (rc == 0 && jv_get_kind(v) != JV_KIND_NULL) {
			rc = (!*first && jrn_buf_addc(b, ',') < 0) ||
			     jrn_json_append_str(b, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k))) < 0 ||
			     jrn_buf_addc(b, ':') < 0 || jrn_json_append(b, jv_copy(v), 0, &e) < 0 ? -1 : 0;
			*first = false;
		}
		jv_free(k);
		jv_free(v);
	}
	jv_free(o);
	return rc;
}

/* The provenance members of it (after a comma). tokens and cost of the
 * answer go on its first action only (share 0 on the others). */
static int add_provenance(const ai_loop *L, const ai_item *it, jrn_buf *b, bool first_action)
{
	const ai_run *run = L->run;
	const char *model = it->src == AI_SRC_FALLBACK ? "rules" : run->model->name;
	bool own = first_action && !it->cached;
	char num[32];
	int rc = jrn_buf_adds(b, ",\"source\":\"") | jrn_buf_adds(b, ai_source_names[it->src]) |
		 jrn_buf_adds(b, "\",\"model\":") | jrn_json_append_str(b, model, strlen(model)) |
		 jrn_buf_adds(b, ",\"promptVersion\":\"") |
		 jrn_buf_adds(b, run->prompts[run->task].version) | jrn_buf_adds(b, "\",\"tokens\":");
	if (own && it->tokens) {
		snprintf(num, sizeof num, "%ld", it->tokens);
		rc |= jrn_buf_adds(b, num);
	} else {
		rc |= jrn_buf_addc(b, '0');
	}
	rc |= jrn_buf_adds(b, ",\"cost\":");
	if (own && it->cost != 0) {
		jrn_err e;
		rc |= jrn_json_append(b, jv_number(round(it->cost * 1e6) / 1e6), 0, &e);
	} else {
		rc |= jrn_buf_addc(b, '0');
	}
	rc |= jrn_buf_adds(b, it->cached ? ",\"cached\":true" : ",\"cached\":false");
	if (it->reason)
		rc |= jrn_buf_adds(b, ",\"reason\":") | jrn_json_append_str(b, it->reason, strlen(it->reason));
	return rc ? -1 : 0;
}

/* The record of it with member name: value added (value's text in v[0..vn)),
 * into b: the input line's text with the member spliced before its last
 * '}', or, when the record already has that member, the record rebuilt. */
static int with_member(const ai_item *it, const char *name, const char *v, size_t vn, jrn_buf *b)
{
	jv old = jv_object_get(jv_copy(it->rec), ai_lit(name));
	bool had = jv_is_valid(old);
	jv_free(old);
	if (!had) {
		const char *end = it->line + it->len;
		while (end > it->line && end[-1] != '}')
			end--;
		return jrn_buf_add(b, it->line, (size_t)(end - 1 - it->line)) < 0 ||
		       jrn_buf_adds(b, ",\"") < 0 || jrn_buf_adds(b, name) < 0 ||
		       jrn_buf_adds(b, "\":") < 0 || jrn_buf_add(b, v, vn) < 0 ||
		       jrn_buf_addc(b, '}') < 0 ? -1 : 0;
	}
	jv val = jv_parse_sized(v, (int)vn);
	jrn_err e;
	return jrn_json_append(b, jv_object_set(jv_copy(it->rec), ai_lit(name), val), 0, &e);
}

/* Writes the state record of it. 0 or -1 (memory). */
static int write_state(ai_loop *L, ai_item *it, jrn_buf *st)
{
	bool first = true;
	jrn_buf_reset(st);
	/* an answer from the cache as its text: its members as they are
	 * (what add_members would write of its parse: none is null) */
	if (it->text ? jrn_buf_add(st, it->text, it->tlen - 1) < 0
		     : jrn_buf_addc(st, '{') < 0 || add_members(st, jv_copy(it->answer), &first) < 0)
		return -1;
	if (add_provenance(L, it, st, true) < 0 || jrn_buf_addc(st, '}') < 0)
		return -1;
	jrn_buf_reset(&L->out);
	if (with_member(it, "state", st->p, st->len, &L->out) < 0)
		return -1;
	return jrn_out_line(&L->run->out, L->out.p, L->out.len) < 0 ? 0 : 0;
}

/* The record's contact key (email or phone): its own string member, else
 * that of its profile (jrn-merge's), else jv_invalid(). Borrows rec; the
 * result is the caller's. */
static jv rec_contact(jv rec, const char *key)
{
	jv v = jv_object_get(jv_copy(rec), ai_lit(key));
	if (jv_get_kind(v) == JV_KIND_STRING)
		return v;
	jv_free(v);
	jv prof = jv_object_get(jv_copy(rec), KS("profile"));
	v = jv_get_kind(prof) == JV_KIND_OBJECT ? jv_object_get(prof, ai_lit(key))
						: (jv_free(prof), jv_invalid());
	return jv_get_kind(v) == JV_KIND_STRING ? v : (jv_free(v), jv_invalid());
}

/* Writes the record of it unchanged, then one record per action. */
static int write_actions(ai_loop *L, ai_item *it)
{
	ai_run *run = L->run;
	jrn_out_line(&run->out, it->line, it->len);
	jv acts = jv_object_get(jv_copy(it->answer), KS("actions"));
	jv id = jv_object_get(jv_copy(it->rec), KS("customerId"));
	jv email = rec_contact(it->rec, "email"), phone = rec_contact(it->rec, "phone");
	int rc = 0;
	if (jv_get_kind(acts) == JV_KIND_ARRAY)
		jv_array_foreach(acts, i, a) {
			if (jv_get_kind(a) == JV_KIND_OBJECT) {
				jv re = jv_object_get(jv_copy(a), KS("recipientEmail"));
				jv rp = jv_object_get(jv_copy(a), KS("recipientPhone"));
				if (jv_get_kind(re) != JV_KIND_STRING && jv_is_valid(email))
					a = jv_object_set(a, KS("recipientEmail"), jv_copy(email));
				if (jv_get_kind(rp) != JV_KIND_STRING && jv_is_valid(phone))
					a = jv_object_set(a, KS("recipientPhone"), jv_copy(phone));
				jv_free(re);
				jv_free(rp);
			}
			jrn_buf *b = &L->out;
			bool first = false;
			jrn_buf_reset(b);
			if (rc == 0 && (jrn_buf_adds(b, "{\"customerId\":") < 0 ||
					jrn_json_append_str(b, jv_string_value(id), (size_t)jv_string_length_bytes(jv_copy(id))) < 0 ||
					add_members(b, jv_copy(a), &first) < 0 || add_provenance(L, it, b, i == 0) < 0 ||
					jrn_buf_addc(b, '}') < 0))
				rc = -1;
			if (rc == 0)
				jrn_out_line(&run->out, b->p, b->len);
			jv_free(a);
		}
	jv_free(acts);
	jv_free(id);
	jv_free(email);
	jv_free(phone);
	return rc;
}

/* --dry-run: the record with "aiRequest" saying what would be asked. */
static int write_dry(ai_loop *L, ai_item *it)
{
	ai_run *run = L->run;
	jrn_buf q = {0};
	jrn_err e;
	int rc = jrn_buf_addf(&q, "{\"task\":\"%s\",\"model\":", ai_task_names[run->task]);
	rc |= jrn_json_append_str(&q, run->model->name, strlen(run->model->name));
	rc |= jrn_buf_addf(&q, ",\"promptVersion\":\"%s\",\"cached\":%s,\"input\":",
			   run->prompts[run->task].version, it->cached ? "true" : "false");
	rc |= jrn_json_append(&q, jv_copy(it->req->input), 0, &e);
	rc |= jrn_buf_addc(&q, '}');
	jrn_buf_reset(&L->out);
	if (rc == 0)
		rc = with_member(it, "aiRequest", q.p, q.len, &L->out);
	if (rc == 0)
		jrn_out_line(&run->out, L->out.p, L->out.len);
	jrn_buf_free(&q);
	return rc ? -1 : 0;
}

/* Stores the batch's new answers in the cache, in one transaction. A
 * cache that cannot be written (a locked state file) is said once and the
 * run goes on without it: the answers are written all the same. */
static void store_batch(ai_loop *L)
{
	ai_run *run = L->run;
	size_t n = 0;
	for (size_t i = 0; i < L->b->n; i++)
		n += L->b->items[i].store;
	if (!n || run->opts.dry_run || L->cache_said)
		return;
	jrn_err e;
	int rc = jrn_db_begin(run->db, &e);
	for (size_t i = 0; i < L->b->n && rc == 0; i++) {
		ai_item *it = &L->b->items[i];
		if (!it->store)
			continue;
		jv c = jv_object_get(jv_copy(it->rec), KS("customerId"));
		if (!it->key[0] && !it->key[1] && !it->key[31])
			ai_cache_key(ai_task_names[run->task], run->model->name,
				     run->prompts[run->task].version, it->req, insights_at(run), it->key);
		rc = ai_cache_put(run, it->key, ai_task_names[run->task], jv_string_value(c), it->answer,
				  it->tokens, it->cost, &e);
		jv_free(c);
	}
	if (rc == 0)
		rc = jrn_db_commit(run->db, &e);
	if (rc < 0) {
		jrn_db_rollback(run->db);
		L->cache_said = true;
		jrn_say(0, "%s: the cache cannot be written (%s); going on without it",
			run->opts.db_path, e.msg);
	}
}

/* Answers and writes batch L->b (its questions finished, its cache
 * looked up), then empties it. 0 or -1 (said). */
static int write_batch(ai_loop *L)
{
	ai_run *run = L->run;
	int rc = 0;
	/* the output gone (a reader away, a full disk): nothing more is
	 * asked, or stored, for it */
	if (run->out.err) {
		batch_clear(L->b);
		return 0;
	}
	if (!run->opts.dry_run)
		rc = answer_batch(L);
	if (rc == 0)
		store_batch(L);
	jrn_buf st = {0};
	for (size_t i = 0; i < L->b->n && rc == 0; i++) {
		ai_item *it = &L->b->items[i];
		if (it->event) {
			jrn_out_line(&run->out, it->line, it->len);
			continue;
		}
		if (run->opts.dry_run) {
			rc = write_dry(L, it);
			continue;
		}
		run->answered++;
		if (run->task == AI_OPTIMIZE) {
			allow_check(L, it);
			rc = write_actions(L, it);
		} else {
			rc = write_state(L, it, &st);
		}
		if (rc < 0)
			jrn_say(-1, "out of memory");
	}
	jrn_buf_free(&st);
	batch_clear(L->b);
	if (rc == 0 && run->out.err == 0 && jrn_out_flush(&run->out) < 0 && run->out.err != EPIPE)
		rc = 0; /* jrn_finish says it */
	return rc;
}

/* Takes the batch read (L->cur) on: its questions made and their facts
 * started on the facts thread; meanwhile the batch before it (L->prev)
 * answered and written; then its facts completed and its cache looked
 * up, and it becomes L->prev. With all (the input idle or at its end),
 * it is answered and written too. Records are written in input order.
 * L->b is L->cur again after. 0 or -1 (said). */
static int flush_batch(ai_loop *L, bool all)
{
	ai_run *run = L->run;
	ai_batch *C = L->cur, *P = L->prev;
	int rc = 0;
	L->b = C;
	int started = C->n ? questions_start(L) : 0;
	rc = started;
	if (P->n) {
		L->b = P;
		int w = write_batch(L);
		rc = rc < 0 ? rc : w;
	}
	L->b = C;
	if (C->n && started == 0) {
		int f = questions_finish(L);
		rc = rc < 0 ? rc : f;
	}
	/* the cache's reads in one read transaction: one snapshot, and not a
	 * transaction per look-up (a fifth of a run of cache hits was their
	 * begin and end) */
	jrn_err e;
	if (rc == 0 && C->nreq && (run->model->ops->network || run->cache_rules)) {
		if (jrn_db_exec(run->db, "BEGIN", &e) < 0)
			rc = jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
		if (rc == 0)
			rc = from_cache(L);
		if (jrn_db_exec(run->db, rc == 0 ? "COMMIT" : "ROLLBACK", &e) < 0 && rc == 0)
			rc = jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	}
	L->cur = P;
	L->prev = C;
	if (rc == 0 && all && C->n && run->out.err == 0) {
		L->b = C;
		rc = write_batch(L);
	}
	L->b = L->cur;
	return rc;
}

/* The summary line on stderr (unless quiet). */
static void summary(const ai_run *run)
{
	if (run->opts.verbosity < 0)
		return;
	uint64_t n = run->records + run->events + run->actions;
#define S(k) ((k) == 1 ? "" : "s")
	char acts[48] = "";
	if (run->actions)
		snprintf(acts, sizeof acts, ", %" PRIu64 " action%s", run->actions, S(run->actions));
	jrn_say(0, "%s: %" PRIu64 " record%s (%" PRIu64 " event%s%s through), model %s: %" PRIu64
		" answered, %" PRIu64 " from the cache, %" PRIu64 " question%s asked, %" PRIu64
		" fallback%s, %" PRIu64 " action%s dropped, %" PRIu64 " rejected; %.0f tokens, cost %.4f%s",
		ai_task_names[run->task], n, S(n), run->events, S(run->events), acts,
		run->model->name, run->answered, run->cache_hits, run->asked, S(run->asked),
		run->fallbacks, S(run->fallbacks), run->dropped, S(run->dropped), run->rejected,
		run->spent_tokens, run->spent_cost, run->opts.dry_run ? " (dry run, nothing asked)" : "");
#undef S
}

int ai_run_task(ai_run *run)
{
	ai_loop L = {.run = run};
	jrn_err e;
	for (int t = 0; t < AI_TASKS; t++)
		if (!run->prompts[t].compiled &&
		    !(run->prompts[t].compiled = jrn_schema_compile(jv_copy(run->prompts[t].schema), &e)))
			return jrn_say(JRN_EXIT_FAIL, "%s schema: %s", ai_task_names[t], e.msg);
	if (run->task == AI_OPTIMIZE && ai_insights_load(run) < 0)
		return JRN_EXIT_FAIL;
	L.light = run->task == AI_OPTIMIZE && !run->model->ops->network && !run->cache_rules &&
		  !run->opts.dry_run;
	L.light_state = run->task == AI_STATE && !run->model->ops->network && !run->cache_rules &&
			!run->opts.dry_run;
	L.cur = L.b = &L.bat[0];
	L.prev = &L.bat[1];
	L.max = run->model->ops->network ? AI_NET_BATCH : AI_BATCH;
	if (run->model->ops->network) {
		L.max_bytes = AI_NET_BATCH_BYTES;
		L.min = run->parallel > 0 ? (size_t)run->parallel : 1;
	}
	if (!(L.rd = jrn_reader_new(run->files, run->nfiles)) ||
	    !(L.bat[0].items = calloc(L.max, sizeof *L.bat[0].items)) ||
	    !(L.bat[1].items = calloc(L.max, sizeof *L.bat[1].items))) {
		free(L.bat[0].items);
		jrn_reader_free(L.rd);
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	}
	jrn_reader_idle_notice(L.rd, true);
	int status = JRN_EXIT_OK;
	bool flush_failed = false;
	jrn_line ln;
	int r;
	while (status == JRN_EXIT_OK && run->out.err == 0 && (r = jrn_reader_next(L.rd, &ln, &e)) != 0) {
		if (r < 0) {
			jrn_say(0, "%s", e.msg);
			status = JRN_EXIT_FAIL;
		} else if (r == 1 && take_line(&L, &ln) < 0) {
			status = JRN_EXIT_FAIL;
		} else if (r == 1) {
			L.cur->bytes += ln.len;
		}
		/* (idle: what was read is written, nothing waits for more) */
		bool full = L.cur->n == L.max ||
			    (L.max_bytes && L.all_hits && L.cur->bytes >= L.max_bytes && L.cur->n >= L.min);
		if (status == JRN_EXIT_OK && (full || (r == 2 && (L.cur->n || L.prev->n))) &&
		    flush_batch(&L, r == 2) < 0)
			status = JRN_EXIT_FAIL, flush_failed = true;
	}
	/* What was read is answered and written: at the end, and after a
	 * failure to read (a missing file: the records before it are not
	 * lost); not after a failed batch, nor once the output is gone. */
	if (!flush_failed && run->out.err == 0 && (L.cur->n || L.prev->n) && flush_batch(&L, true) < 0)
		status = JRN_EXIT_FAIL;
	for (int k = 0; k < 2; k++) {
		batch_clear(&L.bat[k]);
		free(L.bat[k].items);
	}
	jrn_buf_free(&L.out);
	jrn_json_index_free(&L.ix);
	for (int i = 0; i < L.nseen; i++)
		jv_free(L.seen[i]);
	jrn_reader_free(L.rd);
	if (L.parser)
		jv_parser_free(L.parser);
	for (int t = 0; t < AI_TASKS; t++) {
		jrn_schema_free(run->prompts[t].compiled);
		run->prompts[t].compiled = NULL;
	}
	summary(run);
	return status;
}
