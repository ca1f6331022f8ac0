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
 *      the answer, source "cache" (a record read lightly is keyed, and
 *      a share of them looked up, on the facts thread: from_cache);
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

#include "core.h"
#include "jsonschema.h"


static void item_clear(ai_item *it)
{
	free(it->line);
	jv_free(it->rec);
	jv_free(it->answer);
	free(it->reason);
	free(it->text);
	free(it->lite.fv);
	memset(it, 0, sizeof *it);
}

static void req_clear(ai_req *r)
{
	jv_free(r->input);
	jv_free(r->errors);
	jv_free(r->answer);
	free(r->why);
	free(r->peek.text);
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

/* The insights' computed_at for the cache key: optimize's, else -1. */
static int64_t insights_at(const ai_run *run)
{
	return run->task == AI_OPTIMIZE ? run->insights_at : -1;
}

/* ---- questions -------------------------------------------------------- */

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
	/* the cache looked up on the facts thread too (from_cache) */
	ai_cache_scope scope = {ai_task_names[run->task], run->model->identity,
				run->prompts[run->task].version, insights_at(run), run->ttl_ms};
	/* (only on the batch's own questions, not on a subset's copies:
	 * facts_finish copies back only .facts; a cached model's questions
	 * are whole, so sub is reqs) */
	bool peek = (run->model->ops->network || run->cache_rules) && B->sub == B->reqs;
	B->puts = run->cache_puts;
	jrn_err e;
	if (B->nsub && ai_facts_start(run, B->sub, B->nsub, recs, B->facts, peek ? &scope : NULL, &e) < 0)
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

/* The provenance members jrn-ai adds to a state (add_provenance). */
static const char *const provenance[] = {"source", "model", "promptVersion", "tokens",
					 "cost", "cached", "reason"};

bool ai_provenance_member(const char *k, size_t n)
{
	/* by length first: most members of a state are none of these (a
	 * strncmp against each was a sixth of reading optimize's records) */
	if (n < 4 || n > 13 || (n > 6 && n != 13))
		return false;
	for (size_t i = 0; i < sizeof provenance / sizeof *provenance; i++)
		if (k[0] == provenance[i][0] && strlen(provenance[i]) == n && !memcmp(provenance[i], k, n))
			return true;
	return false;
}

/* Adds optimize question r's state to its input: the state object of
 * rec (borrowed), else the rules state of r's facts; when the question
 * is whole, its answer members only: provenance is not the model's
 * business (the rules model alone reads only two members). */
static void question_state(const ai_run *run, ai_req *r, jv rec)
{
	jv st = jv_object_get(jv_copy(rec), KS("state"));
	if (jv_get_kind(st) != JV_KIND_OBJECT) {
		jv_free(st);
		st = ai_rules_state(run, r->facts);
	}
	for (size_t k = 0; questions_whole(run) && k < sizeof provenance / sizeof *provenance; k++)
		st = jv_object_delete(st, ai_lit(provenance[k]));
	r->input = jv_object_set(r->input, KS("state"), st);
}

/* The start of the input of a question read lightly (item it): its
 * customerId, from the line's span (a string without escapes). */
static jv lite_input(const ai_item *it)
{
	return jv_object_set(jv_object(), KS("customerId"), jv_string_sized(it->lite.cid, (int)it->lite.cidlen));
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
		/* a record read lightly: its input made when the cache misses
		 * (materialize), the facts reading its customerId's span */
		r->lite = it->lite.cid ? &it->lite : NULL;
		if (!r->lite)
			r->input = jv_object_set(jv_object(), KS("customerId"),
						 jv_object_get(jv_copy(it->rec), KS("customerId")));
		else
			r->input = run->opts.dry_run ? lite_input(it) : jv_invalid();
		it->req = r;
	}
	int rc = facts_start(L, recs, questions_whole(run));
	free(recs);
	return rc;
}

/* Completes the batch's questions once their facts are read (facts_finish): the
 * minimised profile, the facts (--dry-run), the state (optimize). 0 or
 * -1 (said). */
static int questions_finish(ai_loop *L)
{
	ai_run *run = L->run;
	bool whole = questions_whole(run);
	/* The facts as an object only for --dry-run here; a model's question
	 * gets them once the cache has missed (with_facts): the cache key
	 * hashes them as numbers, and building and freeing that object was
	 * a sixth of a run of cache hits. */
	for (size_t i = 0; whole && i < L->b->nreq; i++) {
		ai_req *r = &L->b->reqs[i];
		jv rec = L->b->items[r->idx].rec;
		if (!jv_is_valid(rec)) /* read lightly: when the cache misses (materialize) */
			continue;
		r->input = jv_object_set(r->input, KS("profile"), ai_minimise(run, rec));
		if (r->facts)
			ai_facts_parse((ai_facts *)r->facts);
		if (run->opts.dry_run)
			r->input = jv_object_set(r->input, KS("facts"), ai_facts_jv(r->facts));
	}
	for (size_t i = 0; run->task == AI_OPTIMIZE && i < L->b->nreq; i++) {
		ai_req *r = &L->b->reqs[i];
		jv rec = L->b->items[r->idx].rec;
		if (jv_is_valid(rec)) /* (read lightly: materialize) */
			question_state(run, r, rec);
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
							     KS("message"), KS("(root): expected an object")));
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

/* The errors (borrowed) as one line for a reason: "MESSAGE; ...", each
 * message "PATH: ..." as the validator writes it (jrn_schema_validate),
 * at most about 300 bytes. malloc'd. */
static char *errors_text(jv errors)
{
	jrn_buf b = {0};
	jv_array_foreach(errors, i, x) {
		jv m = jv_object_get(x, KS("message"));
		if (b.len < 300)
			jrn_buf_addf(&b, "%s%s", i ? "; " : "",
				     jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "invalid");
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

/* A record read lightly whose answer the cache did not have (or whose
 * cached actions are written from their parse): its record parsed, its
 * question's profile (minimise), facts and state (optimize) completed,
 * as questions_finish does for the others. 0 or -1 (said). */
static int materialize(ai_loop *L, ai_item *it, ai_req *r)
{
	jrn_err e;
	if (!jv_is_valid(it->rec) &&
	    !jv_is_valid(it->rec = jrn_parse_object(&L->parser, it->line, it->len, &e)))
		return jrn_say(-1, "%s", e.msg); /* (indexed already: out of memory) */
	if (!jv_is_valid(r->input))
		r->input = lite_input(it);
	r->input = jv_object_set(r->input, KS("profile"), ai_minimise(L->run, it->rec));
	if (r->facts)
		ai_facts_parse((ai_facts *)r->facts);
	if (L->run->task == AI_OPTIMIZE)
		question_state(L->run, r, it->rec);
	return 0;
}

/* The cache step for every question: a hit is its answer. With
 * --dry-run nothing is looked up either... only looked up. A question
 * read lightly has its key from the facts thread, and may have been
 * looked up there (ai_req.peek), in a snapshot taken before the batch
 * before this one stored its answers: its miss is looked up again when
 * the run has stored any since (B->puts), so that a record asked twice
 * in a row is still asked once.
 * 0 or -1 (said). */
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
		long tokens = r->peek.tokens;
		double cost = r->peek.cost;
		jv a;
		/* state answers are written as they are, and optimize's of a
		 * record read lightly (write_actions_text): their text serves */
		char **text = run->task == AI_STATE || it->lite.cid ? &it->text : NULL;
		int hit = 0;
		if (r->peek.keyed)
			memcpy(it->key, r->peek.key, sizeof it->key);
		else if (ai_cache_key(ai_task_names[run->task], m->identity, version, r, insights_at(run),
				      it->key) < 0)
			return jrn_say(-1, "the cache key: out of memory");
		if (r->peek.text) {
			hit = ai_cache_answer(run, r->peek.text, r->peek.len, &a, text, &it->tlen, &e);
			r->peek.text = NULL; /* (taken) */
		}
		if (hit == 0 && (!r->peek.looked || L->b->puts != run->cache_puts))
			hit = ai_cache_get(run, it->key, &a, text, &it->tlen, &tokens, &cost, &e);
		if (hit < 0)
			return jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
		if (hit) {
			it->answer = a;
			it->src = AI_SRC_CACHE;
			it->cached = true;
			run->cache_hits++;
			hits++;
		} else if (!jv_is_valid(it->rec) && materialize(L, it, r) < 0) {
			return -1;
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

/* Why an action of channel ts[0..tn) and campaign cs[0..cn) ("" when
 * it has none) is not allowed, into why[n]; false when it is. */
static bool disallowed_as(const ai_run *run, const char *ts, size_t tn, const char *cs, size_t cn,
			  char *why, size_t n)
{
	static const char *const ch[3] = {"email", "sms", "retargeting"};
	bool bad = true;
	for (int i = 0; i < 3; i++)
		if (strlen(ch[i]) == tn && !memcmp(ch[i], ts, tn))
			bad = !run->channel_ok[i];
	if (bad)
		snprintf(why, n, "channel %.*s has no provider and is not in ai.allow.channels", (int)tn, ts);
	jv list = jv_get_kind(run->allow) == JV_KIND_OBJECT
			  ? jv_object_get(jv_copy(run->allow), KS("campaigns")) : jv_invalid();
	if (!bad && jv_get_kind(list) == JV_KIND_ARRAY) {
		bool found = false;
		jv_array_foreach(list, i, s) {
			found = found || (jv_get_kind(s) == JV_KIND_STRING &&
					  (size_t)jv_string_length_bytes(jv_copy(s)) == cn &&
					  !memcmp(jv_string_value(s), cs, cn));
			jv_free(s);
			(void)i;
		}
		if (!found) {
			bad = true;
			snprintf(why, n, "campaign %.*s is not in ai.allow.campaigns", (int)cn, cs);
		}
	}
	jv_free(list);
	return bad;
}

/* Why action a (borrowed) is not allowed, into why[n]; false when it is. */
static bool disallowed(const ai_run *run, jv a, char *why, size_t n)
{
	jv t = jv_object_get(jv_copy(a), KS("actionType"));
	jv c = jv_object_get(jv_copy(a), KS("campaignId"));
	bool ts = jv_get_kind(t) == JV_KIND_STRING, cs = jv_get_kind(c) == JV_KIND_STRING;
	bool bad = disallowed_as(run, ts ? jv_string_value(t) : "",
				 ts ? (size_t)jv_string_length_bytes(jv_copy(t)) : 0,
				 cs ? jv_string_value(c) : "",
				 cs ? (size_t)jv_string_length_bytes(jv_copy(c)) : 0, why, n);
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

/* ,"sendAt":"..." into b when an action's timing (t[0..tlen), NULL:
 * none) says a time (ai_timing_at), so that jrn-route and jrn-send hold
 * the action until then ("send no earlier"); nothing for now or for text
 * it does not read. 0 or -1 (out of memory). */
static int add_send_at(jrn_buf *b, const char *t, size_t tlen)
{
	int64_t at;
	char ts[32];
	if (!t || ai_timing_at(t, tlen, jrn_now(), &at) != 1)
		return 0;
	jrn_time_format(at, ts);
	return jrn_buf_adds(b, ",\"sendAt\":\"") | jrn_buf_adds(b, ts) | jrn_buf_addc(b, '"') ? -1 : 0;
}

/* The record of it with member name: value added (value's text in v[0..vn)),
 * into b: the input line's text with the member spliced before its last
 * '}', or, when the record already has that member, the record rebuilt. */
static int with_member(const ai_item *it, const char *name, const char *v, size_t vn, jrn_buf *b)
{
	/* (a record read lightly has no state member) */
	jv old = jv_is_valid(it->rec) ? jv_object_get(jv_copy(it->rec), ai_lit(name)) : jv_invalid();
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
			jv tm = jv_get_kind(a) == JV_KIND_OBJECT && !jv_object_has(jv_copy(a), KS("sendAt"))
					? jv_object_get(jv_copy(a), KS("timing")) : jv_invalid();
			bool ts = jv_get_kind(tm) == JV_KIND_STRING;
			if (rc == 0 && (jrn_buf_adds(b, "{\"customerId\":") < 0 ||
					jrn_json_append_str(b, jv_string_value(id), (size_t)jv_string_length_bytes(jv_copy(id))) < 0 ||
					add_members(b, jv_copy(a), &first) < 0 ||
					add_send_at(b, ts ? jv_string_value(tm) : NULL,
						    ts ? (size_t)jv_string_length_bytes(jv_copy(tm)) : 0) < 0 ||
					add_provenance(L, it, b, i == 0) < 0 || jrn_buf_addc(b, '}') < 0))
				rc = -1;
			jv_free(tm);
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

/* Reads the next element of the array whose text goes on at s[*at..n)
 * (just after its '[' or an element) into ix, when it is an object
 * written compactly: its members (key, klen, kescaped, val, vlen, kind
 * and escaped as jrn_json_index_build sets them; parent -1, depth 1,
 * next the following one), with *at past it: 1; 0 at the array's end;
 * -1 when it is not such an object (white space outside its strings),
 * or out of memory (write_actions_text then writes from the parse).
 * s[0..n) is JSON checked already (ai_cache_get), so only its shape is
 * followed here, not checked again. */
static int next_object(const char *s, size_t n, size_t *at, jrn_json_index *ix)
{
	size_t i = *at;
	ix->n = 0;
	if (i < n && s[i] == ',')
		i++;
	if (i < n && s[i] == ']')
		return 0;
	if (i + 1 >= n || s[i] != '{')
		return -1;
	if (s[++i] == '}') {
		*at = i + 1;
		return 1;
	}
	for (;;) {
		if (ix->n == ix->cap) {
			size_t cap = ix->cap ? 2 * ix->cap : 16;
			jrn_json_member *m = realloc(ix->m, cap * sizeof *m);
			if (!m)
				return -1;
			ix->m = m;
			ix->cap = cap;
		}
		jrn_json_member *m = &ix->m[ix->n];
		*m = (jrn_json_member){.parent = -1, .depth = 1, .next = ++ix->n};
		if (i >= n || s[i] != '"')
			return -1;
		m->key = s + ++i;
		for (; i < n && s[i] != '"'; i++)
			if (s[i] == '\\')
				m->kescaped = true, i++;
		m->klen = (size_t)(s + i - m->key);
		if (i + 2 >= n || s[i + 1] != ':')
			return -1;
		i += 2;
		m->kind = s[i] == '"' || s[i] == '{' || s[i] == '[' || s[i] == 't' || s[i] == 'f' ||
				  s[i] == 'n' ? s[i] : '0';
		m->val = s + i + (m->kind == '"');
		int depth = m->kind == '{' || m->kind == '[';
		for (bool str = m->kind == '"'; ++i < n;) {
			char c = s[i];
			if (str) {
				if (c == '\\')
					m->escaped = true, i++;
				else if (c == '"' && (str = false, !depth))
					break;
			} else if (c == '"') {
				str = true;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if ((c == '}' || c == ']') && depth) {
				depth--;
			} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				return -1;
			} else if (!depth && (c == ',' || c == '}')) {
				break;
			}
		}
		/* i: a string's closing quote, else the ',' or '}' after the value */
		if (i >= n)
			return -1;
		m->vlen = (size_t)(s + i - m->val);
		i += m->kind == '"';
		if (i >= n || (s[i] != ',' && s[i] != '}'))
			return -1;
		if (s[i++] == '}') {
			*at = i;
			return 1;
		}
	}
}

/* Whether member m's name is k. */
static bool named(const jrn_json_member *m, const char *k)
{
	return m->klen == strlen(k) && !memcmp(m->key, k, m->klen);
}

/* Writes the record of it (read lightly, its answer from the cache as
 * text: it->text, {"actions": [...]} as ai_cache_put wrote it) and its
 * actions from that text, as write_actions writes them from its parse,
 * with no jv made: each action's members in their order as they stand
 * (jrn_json_append's text, which a parse and a new append give again)
 * but the null ones (add_members leaves those out), its recipientEmail
 * and recipientPhone, where not a string, the record's contact
 * (lite.contact) in their place or after the members, then the
 * provenance. 1 when written; 0 when nothing is written and the answer
 * is to be written from its parse: the text is not that shape (actions
 * not an array of objects written compactly, a member name with an
 * escape, an actionType or campaignId that is not a string without
 * escapes), or an action is not allowed (allow_check then says so, and
 * falls back); -1 out of memory.
 * Measured: parsing the cached actions, setting the recipients and
 * writing them from jv were two fifths of a run of cache hits. */
static int write_actions_text(ai_loop *L, ai_item *it)
{
	jrn_json_index *ix = &L->aix;
	/* the actions' text: after ai_cache_put's prefix, else found */
	static const char pre[] = "{\"actions\":[";
	const char *s;
	size_t n, at = 1;
	if (it->tlen >= sizeof pre && !memcmp(it->text, pre, sizeof pre - 1)) {
		s = it->text + sizeof pre - 2;
		n = it->tlen - (sizeof pre - 2);
	} else {
		const jrn_json_member *acts;
		if (jrn_json_index_build(ix, it->text, it->tlen, 1, NULL) < 0 ||
		    !(acts = jrn_json_find(ix, -1, "actions")) || acts->kind != '[')
			return 0;
		s = acts->val;
		n = acts->vlen;
	}
	static const char *const recipient[2] = {"recipientEmail", "recipientPhone"};
	jrn_buf *b = &L->out;
	jrn_buf_reset(b);
	int k, i = 0, rc = 0;
	while ((k = next_object(s, n, &at, ix)) > 0) {
		const jrn_json_member *t = jrn_json_find(ix, -1, "actionType");
		const jrn_json_member *c = jrn_json_find(ix, -1, "campaignId");
		char why[256];
		if (!t || t->kind != '"' || t->escaped || !c || c->kind != '"' || c->escaped ||
		    disallowed_as(L->run, t->val, t->vlen, c->val, c->vlen, why, sizeof why))
			return 0;
		rc |= jrn_buf_adds(b, "{\"customerId\":\"") | jrn_buf_add(b, it->lite.cid, it->lite.cidlen) |
		      jrn_buf_addc(b, '"');
		/* the members in their order, but null ones; a recipient not a
		 * string takes the record's contact in its place */
		bool has[2] = {false, false}, send_at = false;
		const jrn_json_member *tm = NULL; /* the timing (add_send_at) */
		for (size_t j = 0; j < ix->n; j++) {
			const jrn_json_member *m = &ix->m[j];
			if (m->kescaped)
				return 0;
			if (named(m, "timing"))
				tm = m;
			send_at = send_at || named(m, "sendAt");
			int x = named(m, recipient[0]) ? 0 : named(m, recipient[1]) ? 1 : -1;
			const ai_span *to = x >= 0 && m->kind != '"' && it->lite.contact[x].p ? &it->lite.contact[x] : NULL;
			if (m->kind == 'n' && !to)
				continue;
			bool str = m->kind == '"';
			rc |= jrn_buf_adds(b, ",\"") | jrn_buf_add(b, m->key, m->klen) | jrn_buf_adds(b, "\":") |
			      (to ? jrn_buf_add(b, to->p, to->n) : jrn_buf_add(b, m->val - str, m->vlen + 2 * str));
			if (x >= 0)
				has[x] = true;
		}
		for (int x = 0; x < 2; x++)
			if (!has[x] && it->lite.contact[x].p)
				rc |= jrn_buf_adds(b, ",\"") | jrn_buf_adds(b, recipient[x]) | jrn_buf_adds(b, "\":") |
				      jrn_buf_add(b, it->lite.contact[x].p, it->lite.contact[x].n);
		if (tm && tm->kind == '"' && tm->escaped)
			return 0; /* (the parse reads it) */
		if (tm && tm->kind == '"' && !send_at)
			rc |= add_send_at(b, tm->val, tm->vlen);
		rc |= add_provenance(L, it, b, i++ == 0) | jrn_buf_adds(b, "}\n");
		if (rc)
			return -1;
	}
	if (k < 0)
		return 0;
	jrn_out_line(&L->run->out, it->line, it->len);
	jrn_out_text(&L->run->out, b->p, b->len);
	return 1;
}

/* Writes optimize's record of it and its actions: from the cached text
 * when it can (write_actions_text), else from the answer's parse, the
 * allow-list checked (allow_check). 0 or -1 (out of memory). */
static int write_optimize(ai_loop *L, ai_item *it)
{
	if (it->text) {
		int w = write_actions_text(L, it);
		if (w)
			return w < 0 ? -1 : 0;
		jv a = jrn_parse_value(it->text, it->tlen, NULL);
		free(it->text);
		it->text = NULL;
		if (!jv_is_valid(a) || materialize(L, it, it->req) < 0) {
			jv_free(a);
			return -1;
		}
		jv_free(it->answer);
		it->answer = a;
	}
	allow_check(L, it);
	return write_actions(L, it);
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
		jv c = jv_object_get(jv_copy(it->req->input), KS("customerId"));
		if (!it->key[0] && !it->key[1] && !it->key[31])
			ai_cache_key(ai_task_names[run->task], run->model->identity,
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
			rc = write_optimize(L, it);
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

/* Completes batch L->b, whose facts are in (facts_finish), and writes
 * it: its questions completed, the cache looked up, the misses answered.
 * 0 or -1 (said). */
static int finish_batch(ai_loop *L)
{
	ai_run *run = L->run;
	int rc = questions_finish(L);
	/* the cache's reads in one read transaction: one snapshot, and not a
	 * transaction per look-up (a fifth of a run of cache hits was their
	 * begin and end) */
	jrn_err e;
	if (rc == 0 && L->b->nreq && (run->model->ops->network || run->cache_rules)) {
		if (jrn_db_exec(run->db, "BEGIN", &e) < 0)
			rc = jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
		if (rc == 0)
			rc = from_cache(L);
		if (jrn_db_exec(run->db, rc == 0 ? "COMMIT" : "ROLLBACK", &e) < 0 && rc == 0)
			rc = jrn_say(-1, "%s: %s", run->opts.db_path, e.msg);
	}
	return rc == 0 ? write_batch(L) : rc;
}

/* Takes the batch read (L->cur) on. The batch before it (L->prev) had its
 * facts read on the facts thread while this one was read: they are
 * completed first, then this batch's facts are started, and while the
 * facts thread reads them the batch before is completed and written
 * (finish_batch) and the next one read: the state file's queries of one
 * batch overlap the cache look-ups, the writing and the reading of the
 * others (measured: run one after the other, they were a third of a run
 * of cache hits). L->cur becomes L->prev. With all (the input idle or at
 * its end), it is completed and written too. Records are written in
 * input order. L->b is L->cur again after. 0 or -1 (said). */
static int flush_batch(ai_loop *L, bool all)
{
	ai_run *run = L->run;
	ai_batch *C = L->cur, *P = L->prev;
	int rc = 0;
	if (P->n) {
		L->b = P;
		rc = facts_finish(L);
	}
	L->b = C;
	int started = rc == 0 && C->n ? questions_start(L) : 0;
	/* (the batch before is written even when this one's start failed:
	 * what was read before it is not lost) */
	if (P->n && rc == 0) {
		L->b = P;
		rc = finish_batch(L);
	}
	rc = rc < 0 ? rc : started;
	L->cur = P;
	L->prev = C;
	if (rc == 0 && all && C->n) {
		L->b = C;
		rc = facts_finish(L);
		if (rc == 0 && run->out.err == 0)
			rc = finish_batch(L);
	}
	L->b = L->cur;
	return rc;
}

/* The summary line on stderr (unless quiet, or the reader went away: a
 * normal end, nothing said, jrn(7)). */
static void summary(const ai_run *run)
{
	if (run->opts.verbosity < 0 || run->out.err == EPIPE)
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
	L.lite = run->model->ops->network || run->cache_rules;
	L.cur = L.b = &L.bat[0];
	L.prev = &L.bat[1];
	L.max = run->model->ops->network ? AI_NET_BATCH : AI_BATCH;
	if (run->model->ops->network) {
		L.max_bytes = AI_NET_BATCH_BYTES;
		L.min = run->parallel > AI_HIT_BATCH ? (size_t)run->parallel : AI_HIT_BATCH;
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
	bool flush_failed = false, read_failed = false;
	jrn_line ln;
	int r;
	while (status == JRN_EXIT_OK && run->out.err == 0 && (r = jrn_reader_next(L.rd, &ln, &e)) != 0) {
		if (r < 0) { /* said, and the next file read (jrn(7)); exit 1 at the end */
			jrn_say(0, "%s", e.msg);
			read_failed = true;
			continue;
		}
		if (r == 1 && ai_take_line(&L, &ln) < 0) {
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
	/* What was read is answered and written at the end; not after a
	 * failed batch, nor once the output is gone. */
	if (!flush_failed && run->out.err == 0 && (L.cur->n || L.prev->n) && flush_batch(&L, true) < 0)
		status = JRN_EXIT_FAIL;
	if (read_failed && status == JRN_EXIT_OK)
		status = JRN_EXIT_FAIL;
	for (int k = 0; k < 2; k++) {
		L.b = &L.bat[k]; /* (facts in flight after a failure: joined, freed) */
		if (L.b->facts_out)
			facts_finish(&L);
		batch_clear(&L.bat[k]);
		free(L.bat[k].items);
	}
	jrn_buf_free(&L.out);
	jrn_json_index_free(&L.ix);
	jrn_json_index_free(&L.aix);
	for (int i = 0; i < L.nseen; i++)
		jv_free(L.seen[i]);
	jrn_reader_free(L.rd);
	if (L.parser)
		jv_parser_free(L.parser);
	for (int t = 0; t < AI_TASKS; t++) {
		jrn_schema_free(run->prompts[t].compiled);
		run->prompts[t].compiled = NULL;
	}
	if (run->out.err == 0) /* written out: a reader gone is known (summary) */
		jrn_out_flush(&run->out);
	summary(run);
	return status;
}
