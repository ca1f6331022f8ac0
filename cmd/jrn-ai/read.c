/* read.c: records into a batch (jrn-ai(1), HOW A RECORD GOES, step 1),
 * read whole or, where a run reads only some of a record, lightly from
 * an index of its text; and the question's profile, minimised (step 2).
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

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
		*rec = jv_invalid(); /* an action: through (ai_take_line) */
		L->light_action = true;
		return 1;
	}
	if (act) /* not a string: the parse judges it (ai_take_line) */
		return 0;
	for (int i = 0; i < 5; i++)
		m[i] = jrn_json_find(&L->ix, -1, light_names[i]);
	if (m[0] && m[0]->kind != '"')
		return 0; /* a type not a string: likewise */
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
 * of a record carrying a profile object (ai_take_line's checks), or a
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
		if (m->klen == 10 && !memcmp(m->key, "actionType", 10)) {
			if (m->kind != '"')
				return 0; /* not a string: the parse judges it */
			*rec = jv_invalid(); /* an action: through (ai_take_line) */
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

static bool is_contact(const char *k);

/* A record on a model whose answers are cached (a network model, or
 * rules with ai.cache.rules) is read lightly when it can be: a line that
 * is UTF-8 and an object the index takes (the same strict checks as the
 * parse), no member name with an escape, no "type" or "actionType"
 * member (ai_take_line's cases), a customerId that is a string without
 * escapes which jrn_id_check takes, each of ai.fields (its own member,
 * else its profile's, as ai_minimise() takes them) an object without
 * e-mail or phone members to drop (unless ai.sendContact); for state, no
 * "state" member; for optimize, a "state" object, and an email and a
 * phone (rec_contact's) without escapes. Its line is indexed, not
 * parsed: the cache key hashes the spans of what the question carries
 * (customerId, the fields, optimize's state but its provenance, the
 * parts ai_carry_scan finds), and a hit writes its line with the answer
 * spliced in (state) or its line and the actions from the cached text
 * (optimize: write_actions_text), with no jv of the record made or
 * freed; a miss parses it (materialize). Measured: parsing, walking and
 * freeing the records was half of a run of state's cache hits. 1 when
 * taken (an item of the batch), 0 when the line is to be read as
 * ai_take_line reads it, -1 when the run cannot go on (said). */
static int lite_take(ai_loop *L, const jrn_line *ln)
{
	ai_run *run = L->run;
	if (jrn_utf8_invalid_at(ln->p, ln->len) != ln->len)
		return 0;
	char *line = malloc(ln->len + 1);
	if (!line)
		return jrn_say(-1, "out of memory");
	memcpy(line, ln->p, ln->len);
	line[ln->len] = '\0';
	jrn_json_index *ix = &L->ix;
	ai_lite lt = {.nf = run->nfields, .names = run->field_names};
	if (jrn_json_index_build(ix, line, ln->len, 4, NULL) < 0 ||
	    strcmp(jrn_json_kind_at(line, ln->len), "object"))
		goto not_lite;
	for (size_t i = 0; i < ix->n; i++)
		if (ix->m[i].kescaped)
			goto not_lite;
	const jrn_json_member *cid = jrn_json_find(ix, -1, "customerId");
	const jrn_json_member *prof = jrn_json_find(ix, -1, "profile");
	const jrn_json_member *st = jrn_json_find(ix, -1, "state");
	int pi = prof && prof->kind == '{' ? (int)(prof - ix->m) : -2;
	bool opt = run->task == AI_OPTIMIZE;
	jrn_err e;
	if (jrn_json_find(ix, -1, "type") || jrn_json_find(ix, -1, "actionType") ||
	    (opt ? !st || st->kind != '{' : st != NULL) || !cid || cid->kind != '"' || cid->escaped ||
	    jrn_id_check(cid->val, cid->vlen, "customerId", &e) < 0 || ai_carry_scan(ix, &lt.carry) < 0)
		goto not_lite;
	/* optimize: the contact its actions are sent to (rec_contact's: its
	 * own string, else its profile's), and its state's members */
	int si = opt ? (int)(st - ix->m) : -2;
	for (int c = 0; opt && c < 2; c++) {
		const jrn_json_member *x = jrn_json_find(ix, -1, light_names[3 + c]);
		if (!(x && x->kind == '"') && pi >= 0)
			x = jrn_json_find(ix, pi, light_names[3 + c]);
		if (x && x->kind == '"' && x->escaped)
			goto not_lite;
		if (x && x->kind == '"')
			lt.contact[c] = (ai_span){x->val - 1, x->vlen + 2};
	}
	/* (room for every member of the state: at most its index span) */
	size_t first = si >= 0 ? (size_t)si + 1 : 0, end = si >= 0 ? ix->m[si].next : 0;
	size_t size = lt.nf * (sizeof *lt.fv + sizeof *lt.fl) + 2 * (end - first) * sizeof *lt.state;
	if (size && !(lt.fv = malloc(size))) {
		free(line);
		return jrn_say(-1, "out of memory");
	}
	lt.fl = (size_t *)(lt.fv + lt.nf);
	lt.state = end > first ? (ai_span *)(lt.fl + lt.nf) : NULL;
	lt.stated = opt;
	for (size_t i = first; i < end; i = ix->m[i].next) { /* the state's own members */
		const jrn_json_member *m = &ix->m[i];
		if (ai_provenance_member(m->key, m->klen))
			continue;
		bool str = m->kind == '"';
		lt.state[2 * lt.nstate] = (ai_span){m->key, m->klen};
		lt.state[2 * lt.nstate++ + 1] = (ai_span){m->val - str, m->vlen + 2 * str};
	}
	for (size_t j = 0; j < lt.nf; j++) {
		const char *k = run->field_names[j];
		const jrn_json_member *m = NULL;
		if (run->send_contact || !is_contact(k)) {
			m = jrn_json_find(ix, -1, k);
			if (!m && pi >= -1)
				m = jrn_json_find(ix, pi, k);
		}
		if (m && m->kind == '{' && !run->send_contact &&
		    (jrn_json_find(ix, (int)(m - ix->m), "email") || jrn_json_find(ix, (int)(m - ix->m), "phone")))
			goto not_lite;
		bool str = m && m->kind == '"';
		lt.fv[j] = m ? m->val - str : NULL;
		lt.fl[j] = m ? m->vlen + 2 * str : 0;
	}
	lt.cid = cid->val;
	lt.cidlen = cid->vlen;
	ai_item *it = &L->b->items[L->b->n++];
	memset(it, 0, sizeof *it);
	it->answer = it->rec = jv_invalid();
	it->line = line;
	it->len = ln->len;
	it->lite = lt;
	/* --dry-run writes the question whole: the record parsed (the key
	 * still the spans', as a real run's) */
	if (run->opts.dry_run && !jv_is_valid(it->rec = jrn_parse_object(&L->parser, line, ln->len, &e)))
		return jrn_say(-1, "%s", e.msg);
	run->records++;
	return 1;
not_lite:
	free(lt.fv);
	free(line);
	return 0;
}

/* Takes one line into the batch: an event or an action (through), a
 * profile, or a reject. 0, or
 * -1 when the run cannot go on (said). */
int ai_take_line(ai_loop *L, const jrn_line *ln)
{
	ai_run *run = L->run;
	jrn_err e;
	const char *why = NULL;
	char buf[sizeof e.msg + 64], whybuf[96];
	jv rec = jv_invalid();
	if (L->lite && ln->len <= AI_MAX_LINE) {
		int taken = lite_take(L, ln);
		if (taken)
			return taken < 0 ? -1 : 0;
	}
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
		jv_kind tk = jv_get_kind(type);
		bool event = tk == JV_KIND_STRING;
		jv_free(type);
		/* an action (a string actionType: optimize's own, jrn-route's
		 * input) is a decision made, not a customer to ask about */
		jv act = jv_object_get(jv_copy(rec), KS("actionType"));
		jv_kind ak = jv_get_kind(act);
		action = action || ak == JV_KIND_STRING;
		jv_free(act);
		/* what says an event or an action but is not a string is neither:
		 * asked about as a profile it would get actions of its own */
		if (!action && ak != JV_KIND_INVALID && ak != JV_KIND_NULL) {
			snprintf(whybuf, sizeof whybuf, "actionType: expected a string, got %s",
				 jrn_kind_phrase(ak, false));
			why = whybuf;
		} else if (!action && tk != JV_KIND_INVALID && tk != JV_KIND_NULL && !event) {
			snprintf(whybuf, sizeof whybuf, "type: expected a string, got %s",
				 jrn_kind_phrase(tk, false));
			why = whybuf;
		} else if (action) {
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
		if (!event && !why) {
			jv c = jv_object_get(jv_copy(rec), KS("customerId"));
			jv_kind ck = jv_get_kind(c);
			if (ck == JV_KIND_INVALID) {
				why = "customerId: missing (a profile needs one)";
			} else if (ck != JV_KIND_STRING) {
				snprintf(whybuf, sizeof whybuf, "customerId: expected a string, got %s",
					 jrn_kind_phrase(ck, false));
				why = whybuf;
			} else if (jrn_id_check(jv_string_value(c), (size_t)jv_string_length_bytes(jv_copy(c)),
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

/* ---- the question's profile ---------------------------------------------- */

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
jv ai_minimise(const ai_run *run, jv rec)
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

