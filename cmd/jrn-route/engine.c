/* engine.c: the journey engine. Versions of the journeys, triggers that
 * enroll customers, the step machine that runs an enrollment until it
 * waits or ends, and events that move enrollments on (exits, goals,
 * wait_for). The rules are jrn-route(1), ENROLLMENTS; the SQL is
 * enroll.c's; where an enrollment rests between runs is engine.h's top
 * comment. Everything runs inside R's transaction. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "profile-read.h"
#include "profile.h"

/* --simulate's memo of the customers' contact fields (jrn_profile_contact,
 * a recursive query through identities per action), as the JSON text an
 * action carries: the state file is only read there and an update step
 * writes nothing (simulate.c), so a customer's contact stays what it was
 * for the whole run. Direct-mapped by hash, ENGINE_CONTACT_MEMO slots (a
 * bound on memory, about 16 MiB at 100-byte contacts, not on what the run
 * does: a slot taken by another customer is read again). */
#define ENGINE_CONTACT_MEMO 131072

/* --simulate's memo of jrn_profile_resolve (the id links are the state
 * file's, only read there): direct-mapped, ENGINE_RESOLVE_MEMO slots. */
#define ENGINE_RESOLVE_MEMO 65536

struct resolve_memo {
	char *id, *customer; /* owned; NULL: empty */
};

struct contact_memo {
	char *customer; /* owned; NULL: empty */
	char *text;     /* owned: the contact object as JSON */
	size_t len;
};

/* An older version compiled from its stored source, kept for the run. */
typedef struct {
	char *name;
	int64_t version;
	journey *J;
} old_version;

struct engine {
	journeys js;
	enroll_db *D;
	jrn_profile *prof;
	jrn_profile_reader *reader;
	bool versions_done;
	int troubles;            /* enrollments left as they were (said) */
	bool db_failed;          /* journey_of's NULL was the state file's */
	old_version *old;
	int nold;
	jrn_buf ids, src, file, line, detail, members;
	/* --simulate: the trigger event being enrolled as jrn_json_append
	 * prints it (enroll_canon) */
	jrn_buf canon;
	/* the event types any journey listens to (borrowed from js), known
	 * after the versions: an event of another type (and no stage, when a
	 * journey triggers on one) moves nothing and enrolls no one, so it
	 * is passed over before any parse or query (listen 1); listen -1
	 * when enrollments of other versions or journeys are active */
	int listen;
	const char **types;
	int ntypes;
	bool stage;
	struct contact_memo *contacts; /* --simulate's, ENGINE_CONTACT_MEMO; else NULL */
	struct resolve_memo *resolved; /* --simulate's, ENGINE_RESOLVE_MEMO; else NULL */
};

/* One enrollment being run: its row, its journey, its trigger event and
 * its customer's profile (both read when a condition needs them). */
typedef struct {
	route_run *R;
	engine *E;
	journey *J;
	enroll_row r;
	jv event;    /* the trigger event, or invalid until read */
	jv profile;  /* the profile with "event", or invalid until read */
	int64_t now;
} run;

static int fatal(const jrn_err *e)
{
	return jrn_say(-1, "%s", e->msg);
}

int engine_open(route_run *R, journeys *js, jrn_err *e)
{
	engine *E = calloc(1, sizeof *E);
	if (!E)
		return jrn_fail(e, "out of memory");
	E->js = *js;
	memset(js, 0, sizeof *js);
	R->eng = (struct engine *)E;
	if (!(E->D = enroll_open(R->db, e)) || !(E->prof = jrn_profile_open(R->db, R->opts.config, e)) ||
	    !(E->reader = jrn_profile_reader_open(R->db, JRN_PROFILE_SUMMARY | JRN_PROFILE_CART |
						  JRN_PROFILE_PROMOTIONS, e)))
		return -1;
	for (int i = 0; i < E->js.n; i++)
		if (jrn_rule_needs_events(E->js.v[i]->rules, -1) &&
		    jrn_rule_attach(E->js.v[i]->rules, R->db, e) < 0)
			return -1;
	return 0;
}

void engine_close(route_run *R)
{
	engine *E = (engine *)R->eng;
	if (!E)
		return;
	for (int i = 0; i < E->nold; i++) {
		free(E->old[i].name);
		journey_free(E->old[i].J);
	}
	free(E->old);
	free(E->types);
	for (int i = 0; E->contacts && i < ENGINE_CONTACT_MEMO; i++)
		if (E->contacts[i].customer) {
			free(E->contacts[i].customer);
			free(E->contacts[i].text);
		}
	free(E->contacts);
	for (int i = 0; E->resolved && i < ENGINE_RESOLVE_MEMO; i++) {
		free(E->resolved[i].id);
		free(E->resolved[i].customer);
	}
	free(E->resolved);
	journeys_free(&E->js);
	enroll_close(E->D);
	jrn_profile_close(E->prof);
	jrn_profile_reader_close(E->reader);
	jrn_buf *bufs[] = {&E->ids, &E->src, &E->file, &E->line, &E->detail, &E->members,
			   &E->canon};
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		jrn_buf_free(bufs[i]);
	free(E);
	R->eng = NULL;
}

const journeys *engine_journeys(const route_run *R)
{
	return &((engine *)R->eng)->js;
}

enroll_db *engine_db(const route_run *R)
{
	return ((engine *)R->eng)->D;
}

/* ---- versions ------------------------------------------------------------ */

/* The journey of (name, version): the loaded one, or the stored source
 * compiled once per run. NULL with e when it cannot be had. */
static journey *journey_of(route_run *R, const char *name, int64_t version, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	for (int i = 0; i < E->js.n; i++)
		if (E->js.v[i]->version == version && !strcmp(E->js.v[i]->name, name))
			return E->js.v[i];
	for (int i = 0; i < E->nold; i++)
		if (E->old[i].version == version && !strcmp(E->old[i].name, name))
			return E->old[i].J;
	int rc = enroll_version_source(E->D, name, version, &E->src, &E->file, e);
	E->db_failed = rc < 0;
	if (rc <= 0) {
		if (rc == 0)
			jrn_fail(e, "journey %s version %lld: not in journey_versions", name,
				 (long long)version);
		return NULL;
	}
	journey *J;
	if (E->file.len) {
		J = journey_compile(E->src.p, E->src.len, E->file.p, e);
	} else {
		jv def = jrn_parse_value(E->src.p, E->src.len, e);
		J = jv_is_valid(def) ? journey_compile_jv(name, def, R->opts.config_path, e) : NULL;
		jv_free(def);
	}
	if (!J)
		return NULL;
	J->version = version;
	old_version *o = realloc(E->old, (size_t)(E->nold + 1) * sizeof *o);
	char *copy = strdup(name);
	if (!o || !copy ||
	    (jrn_rule_needs_events(J->rules, -1) && jrn_rule_attach(J->rules, R->db, e) < 0)) {
		if (o)
			E->old = o;
		free(copy);
		journey_free(J);
		if (!o || !copy)
			jrn_fail(e, "out of memory");
		return NULL;
	}
	E->old = o;
	E->old[E->nold++] = (old_version){copy, version, J};
	return J;
}

/* An enrollment whose version cannot be had (its stored source does not
 * compile any more): said, counted (exit 3 at the end), left as it is.
 * 0, or -1 when e is a state file error. */
static int stuck(route_run *R, const enroll_row *r, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	if (E->db_failed)
		return -1;
	E->troubles++;
	jrn_say(0, "enrollment %lld (%s v%lld): left as it is: %s", (long long)r->id, r->journey,
		(long long)r->version, e->msg);
	return 0;
}

int engine_troubles(const route_run *R)
{
	return R->eng ? ((engine *)R->eng)->troubles : 0;
}

/* The step log (enrollment_log), for --explain. --simulate writes none:
 * its state is a throwaway no one reads (simulate.c), and the log was a
 * tenth of its run. */
static int log_step(run *c, const char *step, const char *what, const char *detail, jrn_err *e)
{
	if (c->R->mode == M_SIMULATE)
		return 0;
	return enroll_log(c->E->D, c->r.id, c->now, step, what, detail, e);
}

/* Replaces *slot (owned) with a copy of s (may be NULL). */
static int set_str(char **slot, const char *s)
{
	char *copy = s ? strdup(s) : NULL;
	if (s && !copy)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

/* The event types of a wait_for or goal step as a JSON array into b. */
static const char *wait_types(const step *s, jrn_buf *b)
{
	jrn_buf_reset(b);
	jrn_buf_addc(b, '[');
	for (int k = 0; k < s->u.wait_for.nevents; k++) {
		if (k)
			jrn_buf_addc(b, ',');
		const char *t = s->u.wait_for.events[k].type;
		jrn_json_append_str(b, t, strlen(t));
	}
	jrn_buf_addc(b, ']');
	return b->p;
}

/* Moves the active enrollments of J's older versions to J->version as its
 * migrate: says (jrn-route(1), Versions); those whose step J has not stay
 * (stranded). 0, -1 with e. */
static int migrate(route_run *R, journey *J, int64_t now, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	jrn_buf_reset(&E->ids);
	int n = enroll_older(E->D, J->name, J->version, &E->ids, e);
	if (n < 0)
		return -1;
	int64_t *ids = malloc((size_t)n * sizeof *ids + 1);
	if (!ids)
		return jrn_fail(e, "out of memory");
	memcpy(ids, E->ids.p, (size_t)n * sizeof *ids);
	int rc = 0;
	for (int k = 0; k < n && rc == 0; k++) {
		run c = {R, E, J, {0}, jv_invalid(), jv_invalid(), now};
		if ((rc = enroll_get(E->D, ids[k], &c.r, e)) <= 0)
			continue;
		const char *to = c.r.step;
		if (to && jv_get_kind(J->migrate_map) == JV_KIND_OBJECT) {
			jv m = jv_object_get(jv_copy(J->migrate_map), jv_string(c.r.step));
			if (jv_get_kind(m) == JV_KIND_STRING && journey_step(J, jv_string_value(m)) >= 0)
				rc = set_str(&c.r.step, jv_string_value(m));
			jv_free(m);
		}
		to = c.r.step;
		int i = to ? journey_step(J, to) : JOURNEY_END;
		if (rc < 0 || (to && i < 0)) { /* stranded: --check says so */
			enroll_row_free(&c.r);
			rc = rc < 0 ? jrn_fail(e, "out of memory") : 0;
			continue;
		}
		char from[64];
		snprintf(from, sizeof from, "v%lld -> v%lld", (long long)c.r.version,
			 (long long)J->version);
		c.r.version = J->version;
		c.r.updated_at = now;
		if (i >= 0 && (J->steps[i].kind == S_WAIT_FOR || J->steps[i].kind == S_GOAL)) {
			rc = set_str(&c.r.wait_events, wait_types(&J->steps[i], &E->detail));
		} else if (i >= 0) {
			rc = set_str(&c.r.wait_events, NULL);
			if (c.r.due_at == INT64_MIN)
				c.r.due_at = now;
		}
		if (rc == 0)
			rc = enroll_update(E->D, &c.r, e);
		if (rc == 0)
			rc = log_step(&c, c.r.step, "migrated", from, e);
		enroll_row_free(&c.r);
	}
	free(ids);
	return rc < 0 ? -1 : 0;
}

int engine_versions(route_run *R, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	if (!E || E->versions_done)
		return 0;
	int64_t now = jrn_now();
	for (int i = 0; i < E->js.n; i++) {
		journey *J = E->js.v[i];
		int64_t v = 0;
		char digest[65];
		int rc = enroll_version_latest(E->D, J->name, &v, digest, NULL, e);
		if (rc < 0)
			return -1;
		if (rc == 1 && !strcmp(digest, J->digest)) {
			J->version = v;
			continue;
		}
		J->version = v + 1;
		if (enroll_version_insert(E->D, J, J->version, now, e) < 0)
			return -1;
		if (rc == 1 && J->migrate && migrate(R, J, now, e) < 0)
			return -1;
	}
	E->versions_done = true;
	return 0;
}

/* ---- conditions ------------------------------------------------------------ */

/* The trigger event of c, parsed once (an empty object when none). */
static jv run_event(run *c)
{
	if (!jv_is_valid(c->event)) {
		jrn_err e;
		c->event = c->r.trigger_event ? jrn_parse_value(c->r.trigger_event,
								 strlen(c->r.trigger_event), &e)
					      : jv_invalid();
		if (jv_get_kind(c->event) != JV_KIND_OBJECT) {
			jv_free(c->event);
			c->event = jv_object();
		}
	}
	return c->event;
}

/* The customer's stored profile (profile-read.h) with the trigger event
 * under "event": the record a profile condition reads. Invalid with e. */
static jv profile_of(engine *E, const char *customer, jv event, jrn_err *e)
{
	jrn_buf *b = &E->members;
	jrn_buf_reset(b);
	if (jrn_profile_read(E->reader, customer, jv_invalid(), b, e) < 0)
		return jv_invalid();
	jv p = b->len > 1 ? jrn_parse_value(b->p + 1, b->len - 1, NULL) : jv_invalid();
	if (b->len > 1) { /* members each after a comma: braces around them */
		b->p[0] = '{';
		jrn_buf_addc(b, '}');
		jv_free(p);
		p = jrn_parse_value(b->p, b->len, e);
	}
	if (jv_get_kind(p) != JV_KIND_OBJECT) {
		jv_free(p);
		p = jv_object_set(jv_object(), jv_string("customerId"), jv_string(customer));
	}
	return jv_object_set(p, jv_string("event"), event);
}

/* Rule `rule` of J on rec (borrowed): 1 holds, 0 not (or no rule), -1
 * fatal with e. A rule that cannot judge the record (a jq error) does
 * not hold; it is said on stderr. */
static int holds(route_run *R, journey *J, int rule, jv rec, jrn_err *e)
{
	if (rule < 0)
		return 1;
	jrn_err why;
	int rc = jrn_rule_eval(J->rules, rule, rec, NULL, &why);
	if (rc == JRN_RULE_FAIL)
		return jrn_fail(e, "journey %s: %s", J->name, why.msg);
	if (rc == JRN_RULE_REJECT && R->opts.verbosity >= 0)
		jrn_say(0, "%s: condition %s: %s (taken as false)", J->file ? J->file : J->name,
			jrn_rule_name(J->rules, rule), why.msg);
	return rc == JRN_RULE_IN;
}

/* A profile condition of c's enrollment. */
static int holds_profile(run *c, int rule, jrn_err *e)
{
	if (rule < 0)
		return 1;
	if (!jv_is_valid(c->profile)) {
		c->profile = profile_of(c->E, c->r.customer, jv_copy(run_event(c)), e);
		if (!jv_is_valid(c->profile))
			return -1;
	}
	return holds(c->R, c->J, rule, c->profile, e);
}

/* ---- the step machine -------------------------------------------------------- */

static int save(run *c, jrn_err *e)
{
	c->r.updated_at = c->now;
	return enroll_update(c->E->D, &c->r, e);
}

/* The enrollment ends with status (completed, converted, exited) and
 * reason (may be NULL). */
static int end(run *c, const char *status, const char *reason, jrn_err *e)
{
	jrn_buf *d = &c->E->detail;
	jrn_buf_reset(d);
	if (reason) {
		jrn_buf_adds(d, "{\"reason\":");
		jrn_json_append_str(d, reason, strlen(reason));
		jrn_buf_addc(d, '}');
	}
	if (set_str(&c->r.status, status) < 0 || set_str(&c->r.reason, reason) < 0 ||
	    set_str(&c->r.wait_events, NULL) < 0)
		return jrn_fail(e, "out of memory");
	c->r.due_at = INT64_MIN;
	c->r.ended_at = c->now;
	if (save(c, e) < 0)
		return -1;
	return log_step(c, c->r.step, status, reason ? d->p : NULL, e);
}

/* The steps ran out: completed, or held open while the journey's goal
 * window is. */
static int finish(run *c, jrn_err *e)
{
	journey *J = c->J;
	if (set_str(&c->r.step, NULL) < 0)
		return jrn_fail(e, "out of memory");
	if (J->has_goal && J->goal_within > 0 && c->r.entered_at + J->goal_within > c->now) {
		jrn_buf *d = &c->E->detail;
		jrn_buf_reset(d);
		jrn_buf_addc(d, '[');
		jrn_json_append_str(d, J->goal.type, strlen(J->goal.type));
		jrn_buf_addc(d, ']');
		if (set_str(&c->r.wait_events, d->p) < 0)
			return jrn_fail(e, "out of memory");
		c->r.due_at = c->r.entered_at + J->goal_within;
		if (save(c, e) < 0)
			return -1;
		jrn_buf_reset(d);
		jrn_buf_adds(d, "{\"goal\":");
		jrn_json_append_str(d, J->goal.type, strlen(J->goal.type));
		jrn_buf_addc(d, '}');
		return log_step(c, NULL, "wait", d->p, e);
	}
	return end(c, "completed", NULL, e);
}

/* The customer's contact fields (jrn_profile_contact) as JSON appended
 * to b; through the memo in --simulate. 0, -1 with e. */
static int contact_append(route_run *R, engine *E, const char *customer, jrn_buf *b, jrn_err *e)
{
	size_t n = strlen(customer);
	struct contact_memo *m = NULL;
	if (R->mode == M_SIMULATE) {
		if (!E->contacts && !(E->contacts = calloc(ENGINE_CONTACT_MEMO, sizeof *E->contacts)))
			return jrn_fail(e, "out of memory");
		m = &E->contacts[jrn_hash64(customer, n) % ENGINE_CONTACT_MEMO];
		if (m->customer && !strcmp(m->customer, customer))
			return jrn_buf_add(b, m->text, m->len) < 0 ? jrn_fail(e, "out of memory") : 0;
	}
	jv contact = jrn_profile_contact(E->reader, customer, n, e);
	if (!jv_is_valid(contact))
		return -1;
	size_t at = b->len;
	if (jrn_json_append(b, contact, 0, e) < 0)
		return -1;
	char *copy = m ? strdup(customer) : NULL, *text = copy ? malloc(b->len - at) : NULL;
	if (text) {
		free(m->customer);
		free(m->text);
		memcpy(text, b->p + at, b->len - at);
		*m = (struct contact_memo){copy, text, b->len - at};
	} else {
		free(copy); /* not remembered: read again next time */
	}
	return 0;
}

/* Appends ,"name": to b. 0, -1 out of memory. */
static int member(jrn_buf *b, const char *name)
{
	return jrn_buf_addc(b, ',') < 0 || jrn_json_append_str(b, name, strlen(name)) < 0 ||
	       jrn_buf_addc(b, ':') < 0 ? -1 : 0;
}

/* Appends ,"name":"v" to b. 0, -1 out of memory. */
static int member_str(jrn_buf *b, const char *name, const char *v)
{
	return member(b, name) < 0 || jrn_json_append_str(b, v, strlen(v)) < 0 ? -1 : 0;
}

/* Is the arm named variant of one of J's splits a holdout? */
static bool holdout(const journey *J, const char *variant)
{
	if (!variant)
		return false;
	for (int i = 0; i < J->nsteps; i++)
		if (J->steps[i].kind == S_SPLIT)
			for (int k = 0; k < J->steps[i].u.split.narms; k++)
				if (!strcmp(J->steps[i].u.split.arms[k].name, variant))
					return J->steps[i].u.split.arms[k].holdout;
	return false;
}

/* An action or webhook step: its record (jrn-route(1), ENROLLMENTS)
 * through the gate. */
static int act(run *c, const step *s, jrn_err *e)
{
	engine *E = c->E;
	journey *J = c->J;
	/* The customer too: enrollment ids are numbered from 1 in each state
	 * file, so [journey, version, step, enrollment] alone is the same on
	 * two machines' files, and a partition moved to another (jrn
	 * partition import) would find its sends' keys claimed there. */
	/* [journey, version, step, enrollment, customer] as jrn_json_append
	 * prints that array (integers below 2^53: their digits) */
	jrn_buf *k = &E->detail;
	jrn_buf_reset(k);
	char sum[65], hex[70];
	if (jrn_buf_addc(k, '[') < 0 || jrn_json_append_str(k, J->name, strlen(J->name)) < 0 ||
	    jrn_buf_addf(k, ",%lld,", (long long)J->version) < 0 ||
	    jrn_json_append_str(k, s->id, strlen(s->id)) < 0 ||
	    jrn_buf_addf(k, ",%lld,", (long long)c->r.id) < 0 ||
	    jrn_json_append_str(k, c->r.customer, strlen(c->r.customer)) < 0 ||
	    jrn_buf_addc(k, ']') < 0)
		return jrn_fail(e, "out of memory");
	if (jrn_sha256_hex(k->p, k->len, sum) < 0)
		return jrn_fail(e, "SHA-256 failed");
	snprintf(hex, sizeof hex, "jrn:%s", sum);
	/* the record as text, as a jv of these members in this order would
	 * print (jrn_json_append): the step's fields, then what the engine
	 * adds. The fields' names (journey.c's action_keys, webhook_keys)
	 * are none of the added ones. */
	jrn_buf *L = &E->line;
	jrn_buf_reset(L);
	if (jrn_buf_add(L, s->u.action.text, s->u.action.len) < 0) /* the fields, printed */
		return jrn_fail(e, "out of memory");
	L->len--; /* its closing brace */
	bool none = L->len == 1, oom = member_str(L, "customerId", c->r.customer) < 0;
	if (none && !oom) { /* no fields: the first member takes no comma */
		memmove(L->p + 1, L->p + 2, L->len - 2);
		L->p[--L->len] = '\0';
	}
	oom = oom || member_str(L, "journey", J->name) < 0 || member(L, "journeyVersion") < 0 ||
	      jrn_json_append(L, jv_number((double)J->version), 0, e) < 0 ||
	      member_str(L, "step", s->id) < 0 || member(L, "enrollment") < 0 ||
	      jrn_json_append(L, jv_number((double)c->r.id), 0, e) < 0 ||
	      (c->r.variant && member_str(L, "testVariant", c->r.variant) < 0) ||
	      (holdout(J, c->r.variant) && (member(L, "holdout") < 0 || jrn_buf_adds(L, "true") < 0)) ||
	      member(L, "profile") < 0;
	if (oom)
		return jrn_fail(e, "out of memory");
	/* the customer's contact fields: the gate's recipient, the
	 * template's names */
	if (contact_append(c->R, E, c->r.customer, L, e) < 0)
		return -1;
	/* the gate's trigger window (policy.triggerWindow) holds one send per
	 * trigger: a step's, so that a journey's steps do not silence each
	 * other, while a journey entered again soon does not repeat a step;
	 * a schedule's or at's firing is its own trigger (JOURNEY/STEP/INSTANT),
	 * so a tick a little earlier than the day before loses no day */
	bool timed = (J->trig.kind == T_SCHEDULE || J->trig.kind == T_AT) && c->r.trigger_key;
	jrn_buf *t = &E->detail;
	jrn_buf_reset(t);
	jrn_buf_adds(t, J->name);
	jrn_buf_addc(t, '/');
	jrn_buf_adds(t, s->id);
	if (timed) {
		jrn_buf_addc(t, '/');
		jrn_buf_adds(t, c->r.trigger_key);
	}
	if (!t->p || member(L, "trigger") < 0 || jrn_json_append_str(L, t->p, t->len) < 0 ||
	    member_str(L, "idempotencyKey", hex) < 0 ||
	    (c->r.trigger_event && member(L, "event") < 0))
		return jrn_fail(e, "out of memory");
	/* in --simulate every enrollment's event was stored as this prints
	 * it (enroll_canon): its text as it is, without a parse */
	if (c->r.trigger_event && c->R->mode == M_SIMULATE) {
		if (jrn_buf_adds(L, c->r.trigger_event) < 0)
			return jrn_fail(e, "out of memory");
	} else if (c->r.trigger_event && jrn_json_append(L, jv_copy(run_event(c)), 0, e) < 0) {
		return -1;
	}
	if (jrn_buf_addc(L, '}') < 0)
		return jrn_fail(e, "out of memory");
	jrn_line ln = {J->file ? J->file : "jrn.yaml", (uint64_t)s->line, E->line.p, E->line.len};
	decision d;
	bool rejected;
	c->R->acting_for = c->r.customer, c->R->acting_enrollment = c->r.id;
	int rc = route_action(c->R, &ln, &d, &rejected);
	c->R->acting_for = NULL;
	if (rc < 0)
		return jrn_fail(e, "stopped");
	if (c->R->mode == M_SIMULATE)
		return 0; /* no log (log_step): its detail unwritten */
	jrn_buf *b = &E->detail;
	jrn_buf_reset(b);
	if (rejected) { /* the record's fault, in words */
		const char *why = c->R->rejected_why.msg;
		jrn_buf_adds(b, "{\"decision\":\"rejected\",\"reason\":");
		jrn_json_append_str(b, why, strlen(why));
		jrn_buf_addc(b, '}');
	} else {
		jrn_buf_addf(b, "{\"decision\":\"%s\",\"reason\":", decision_names[d.kind]);
		if (d.reason)
			jrn_json_append_str(b, d.reason, strlen(d.reason));
		else
			jrn_buf_adds(b, "null");
		jrn_buf_addf(b, ",\"channel\":\"%s\"}", chan_names[d.channel]);
	}
	return log_step(c, s->id, "action", b->p, e);
}

/* The days since 1970-01-01 of a local time t (ms), rounded down. */
static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
}

/* The due time of a wait step for c's customer. */
static int64_t wait_until(run *c, const step *s, jrn_err *e)
{
	if (s->u.wait.until < 0)
		return c->now + s->u.wait.ms;
	/* the customer's zone, else the step's, else policy.timeZone */
	char zone[ROUTE_ZONE_MAX + 2];
	jrn_err ze;
	int rc = store_profile_zone(c->R->st, c->r.customer, zone, e);
	if (rc < 0)
		return INT64_MIN;
	const char *z = rc == 1 && zone_check(zone, &ze) == 0 ? zone
			: s->u.wait.zone ? s->u.wait.zone : c->R->P.zone;
	int64_t today = day_of(c->now + (int64_t)zone_offset(z, c->now) * 1000);
	for (int64_t d = today; d <= today + 8; d++) {
		int wday = (int)(((d + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
		if (s->u.wait.days && !(s->u.wait.days & (1u << wday)))
			continue;
		int64_t local = d * 86400000 + (int64_t)s->u.wait.until * 60000;
		int64_t t = local - (int64_t)zone_offset(z, local) * 1000;
		t = local - (int64_t)zone_offset(z, t) * 1000; /* the offset in force then */
		if (t > c->now)
			return t;
	}
	return c->now + 86400000; /* no day given: not reached (days is not 0) */
}

/* The arm of a split for c's customer: the first whose cumulative
 * weight exceeds u * total, u from SHA-256("customer\x1fjourney"). */
static const jarm *split_arm(run *c, const step *s)
{
	jrn_buf *b = &c->E->detail;
	jrn_buf_reset(b);
	jrn_buf_adds(b, c->r.customer);
	jrn_buf_addc(b, '\x1f');
	jrn_buf_adds(b, c->J->name);
	char hex[65];
	if (!b->p || jrn_sha256_hex(b->p, b->len, hex) < 0)
		return &s->u.split.arms[0];
	char top[17];
	memcpy(top, hex, 16);
	top[16] = '\0';
	double u = (double)strtoull(top, NULL, 16) / 18446744073709551616.0;
	double cum = 0, target = u * s->u.split.total;
	for (int k = 0; k < s->u.split.narms; k++) {
		cum += s->u.split.arms[k].weight;
		if (cum > target)
			return &s->u.split.arms[k];
	}
	return &s->u.split.arms[s->u.split.narms - 1];
}

/* An update step: traits set and removed through lib/profile.c. */
static int update(run *c, const step *s, jrn_err *e)
{
	jv v = jv_get_kind(s->u.update.set) == JV_KIND_OBJECT ? jv_copy(s->u.update.set) : jv_object();
	if (jv_get_kind(s->u.update.remove) == JV_KIND_ARRAY)
		jv_array_foreach(s->u.update.remove, k, name) {
			if (jv_get_kind(name) == JV_KIND_STRING)
				v = jv_object_set(v, name, jv_null());
			else
				jv_free(name);
		}
	jv keys = jv_keys(jv_copy(v));
	bool simulated = c->R->mode == M_SIMULATE; /* the state file is read-only there */
	if (simulated) {
		jv_free(v);
	} else if (jrn_profile_apply(c->E->prof, c->r.customer, v, "jrn-route", c->now, e) < 0) {
		jv_free(keys);
		return -1;
	}
	jv_free(c->profile); /* read again by the next condition */
	c->profile = jv_invalid();
	jrn_buf_reset(&c->E->detail);
	jrn_buf_adds(&c->E->detail, "{\"traits\":");
	if (jrn_json_append(&c->E->detail, keys, 0, e) < 0)
		return -1;
	jrn_buf_adds(&c->E->detail, simulated ? ",\"simulated\":true}" : "}");
	return log_step(c, s->id, "update", c->E->detail.p, e);
}

/* The enrollment rests at a wait_for or goal step s. */
static int rest_waiting(run *c, const step *s, jrn_err *e)
{
	if (set_str(&c->r.step, s->id) < 0 ||
	    set_str(&c->r.wait_events, wait_types(s, &c->E->detail)) < 0)
		return jrn_fail(e, "out of memory");
	c->r.due_at = s->u.wait_for.within > 0 ? c->now + s->u.wait_for.within : INT64_MIN;
	if (save(c, e) < 0)
		return -1;
	return log_step(c, s->id, s->kind == S_GOAL ? "goal" : "wait", c->E->detail.p, e);
}

/* Runs c's enrollment from step i until it waits, ends, or has taken
 * JOURNEY_RUN_MAX steps (then parked a minute). 0, -1 with e. */
static int run_from(run *c, int i, jrn_err *e)
{
	journey *J = c->J;
	jrn_buf *d = &c->E->detail;
	for (int n = 0;; n++) {
		if (i == JOURNEY_END)
			return finish(c, e);
		const step *s = &J->steps[i];
		bool waits = s->kind == S_WAIT || s->kind == S_WAIT_FOR || s->kind == S_GOAL;
		if (n >= JOURNEY_RUN_MAX && !waits) {
			if (set_str(&c->r.step, s->id) < 0 || set_str(&c->r.wait_events, NULL) < 0)
				return jrn_fail(e, "out of memory");
			c->r.due_at = c->now + 60000;
			if (save(c, e) < 0)
				return -1;
			jrn_buf_reset(d);
			jrn_buf_addf(d, "{\"parked\":%d}", JOURNEY_RUN_MAX);
			return log_step(c, s->id, "wait", d->p, e);
		}
		if (set_str(&c->r.step, s->id) < 0)
			return jrn_fail(e, "out of memory");
		int rc = 0, next = s->next;
		switch (s->kind) {
		case S_ACTION:
		case S_WEBHOOK:
			rc = act(c, s, e);
			break;
		case S_WAIT:
			c->r.due_at = wait_until(c, s, e);
			if (c->r.due_at == INT64_MIN || set_str(&c->r.wait_events, NULL) < 0 ||
			    save(c, e) < 0)
				return -1;
			char at[32];
			jrn_time_format(c->r.due_at, at);
			jrn_buf_reset(d);
			jrn_buf_addf(d, "{\"until\":\"%s\"}", at);
			return log_step(c, s->id, "wait", d->p, e);
		case S_WAIT_FOR:
		case S_GOAL:
			return rest_waiting(c, s, e);
		case S_BRANCH:
			rc = holds_profile(c, s->u.branch.rule, e);
			if (rc < 0)
				return -1;
			next = rc ? s->u.branch.then : s->u.branch.otherwise;
			rc = log_step(c, s->id, "branch", rc ? "{\"took\":\"then\"}" : "{\"took\":\"else\"}", e);
			break;
		case S_SPLIT: {
			const jarm *arm = split_arm(c, s);
			next = arm->next;
			if (set_str(&c->r.variant, arm->name) < 0)
				return jrn_fail(e, "out of memory");
			jrn_buf_reset(d);
			jrn_buf_adds(d, "{\"arm\":");
			jrn_json_append_str(d, arm->name, strlen(arm->name));
			jrn_buf_adds(d, arm->holdout ? ",\"holdout\":true}" : "}");
			rc = save(c, e);
			if (rc == 0)
				rc = log_step(c, s->id, "split", d->p, e);
			break;
		}
		case S_EXIT:
			return end(c, "exited", s->u.exit.reason, e);
		case S_UPDATE:
			rc = update(c, s, e);
			break;
		case NSTEP_KINDS:
			break;
		}
		if (rc < 0)
			return -1;
		i = next;
	}
}

/* ---- triggers ---------------------------------------------------------------- */

/* --simulate: the event text (elen bytes) as act() prints a trigger event
 * (jrn_json_append of its parse; an object, else {}) into E->canon, so
 * that act() copies the stored text instead of a parse and a print per
 * action (the private state is this run's alone, and every enrollment
 * in it comes through enroll). parsed: the text's parse when the caller
 * has it (borrowed), else invalid. 0, -1 with e. */
static int enroll_canon(engine *E, const char *event, size_t elen, jv parsed, jrn_err *e)
{
	jv v = jv_is_valid(parsed) ? jv_copy(parsed) : jrn_parse_value(event, elen, e);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		v = jv_object();
	}
	jrn_buf_reset(&E->canon);
	if (jrn_json_append(&E->canon, v, 0, e) < 0)
		return -1;
	return jrn_buf_add(&E->canon, "", 0) < 0 ? jrn_fail(e, "out of memory") : 0;
}

/* Enrolls customer in J (the re-entry rule allowing) with trigger key and
 * event (JSON text, may be NULL; parsed: its parse, borrowed, or
 * invalid), and runs it from its first step. 1 enrolled, 0 not, -1 with
 * e. */
static int enroll(route_run *R, journey *J, const char *customer, const char *key,
		  const char *event, size_t elen, jv parsed, int64_t now, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	int64_t active = 0, last = 0;
	int rc = enroll_entry(E->D, J->name, customer, key, &active, &last, e);
	if (rc < 0 || rc & 1)
		return rc < 0 ? -1 : 0; /* the trigger key enrolled before */
	rc = rc & 2; /* entered before */
	switch (J->reentry) {
	case RE_NEVER:
		if (rc)
			return 0;
		break;
	case RE_ALWAYS:
		if (active)
			return 0;
		break;
	case RE_AFTER:
		if (active || (rc && now - last < J->reentry_ms))
			return 0;
		break;
	case RE_RESTART:
		if (active) {
			run old = {R, E, J, {0}, jv_invalid(), jv_invalid(), now};
			if (enroll_get(E->D, active, &old.r, e) < 0)
				return -1;
			rc = end(&old, "exited", "restarted", e);
			enroll_row_free(&old.r);
			if (rc < 0)
				return -1;
		}
		break;
	}
	run c = {R, E, J, {0}, jv_invalid(), jv_invalid(), now};
	if (event && R->mode == M_SIMULATE) {
		if (enroll_canon(E, event, elen, parsed, e) < 0)
			return -1;
		event = E->canon.p, elen = E->canon.len;
	}
	int64_t id = enroll_insert(E->D, J->name, J->version, customer, key, event, elen, now, e);
	if (id < 0)
		return -1;
	/* the row as inserted (enroll_get would read back just this) */
	c.r = (enroll_row){.id = id, .version = J->version, .entered_at = now, .updated_at = now,
			   .due_at = INT64_MIN, .ended_at = INT64_MIN, .journey = strdup(J->name),
			   .customer = strdup(customer), .trigger_key = strdup(key),
			   .trigger_event = event ? strndup(event, elen) : NULL,
			   .status = strdup("active")};
	if (!c.r.journey || !c.r.customer || !c.r.trigger_key || !c.r.status ||
	    (event && !c.r.trigger_event)) {
		enroll_row_free(&c.r);
		return jrn_fail(e, "out of memory");
	}
	jrn_buf_reset(&E->detail);
	jrn_buf_adds(&E->detail, "{\"trigger\":");
	jrn_json_append_str(&E->detail, key, strlen(key));
	jrn_buf_addc(&E->detail, '}');
	rc = log_step(&c, NULL, "entered", E->detail.p, e);
	if (rc == 0)
		rc = run_from(&c, J->nsteps ? 0 : JOURNEY_END, e);
	jv_free(c.event);
	jv_free(c.profile);
	enroll_row_free(&c.r);
	return rc < 0 ? -1 : 1;
}

/* A string member of o (borrowed), or NULL. */
static const char *str_of(jv o, const char *k)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return NULL;
	jv v = jv_object_get(jv_copy(o), jv_string(k));
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
	jv_free(v); /* o holds the string */
	return s;
}

/* Does J's trigger take the event ev (type may be NULL; stage the
 * record's state.journeyStage, may be NULL)? 1, 0, -1 with e. */
static int triggered(route_run *R, journey *J, jv ev, const char *type, const char *stage,
		     const char *customer, jrn_err *e)
{
	const trigger *t = &J->trig;
	switch (t->kind) {
	case T_EVENT:
	case T_SEGMENT:
	case T_RFM:
		if (!type || !t->event || strcmp(type, t->event))
			return 0;
		break;
	case T_STAGE:
		if (!stage || !t->stage || strcmp(stage, t->stage))
			return 0;
		break;
	default:
		return 0;
	}
	int rc = holds(R, J, t->where, ev, e);
	if (rc <= 0 || t->profile < 0)
		return rc;
	jv p = profile_of((engine *)R->eng, customer, jv_copy(ev), e);
	if (!jv_is_valid(p))
		return -1;
	rc = holds(R, J, t->profile, p, e);
	jv_free(p);
	return rc;
}

/* ---- events ------------------------------------------------------------------ */

/* Does jevent w take the event (type, ev)? 1, 0, -1. */
static int takes(route_run *R, journey *J, const jevent *w, const char *type, jv ev, jrn_err *e)
{
	if (!type || strcmp(w->type, type))
		return 0;
	return holds(R, J, w->rule, ev, e);
}

/* The event moves the active enrollment id: exits, the journey's goal,
 * the wait_for or goal step it waits at (jrn-route(1): in this order). */
static int move(route_run *R, int64_t id, const char *type, jv ev, int64_t now, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	run c = {R, E, NULL, {0}, jv_invalid(), jv_invalid(), now};
	int rc = enroll_get(E->D, id, &c.r, e);
	if (rc <= 0 || strcmp(c.r.status, "active"))
		goto out;
	if (!(c.J = journey_of(R, c.r.journey, c.r.version, e))) {
		rc = stuck(R, &c.r, e);
		goto out;
	}
	journey *J = c.J;
	for (int k = 0; k < J->nexits; k++)
		if ((rc = takes(R, J, &J->exits[k], type, ev, e)) != 0) {
			if (rc > 0)
				rc = end(&c, "exited", type, e);
			goto out;
		}
	if (J->has_goal && (rc = takes(R, J, &J->goal, type, ev, e)) != 0) {
		if (rc > 0)
			rc = end(&c, "converted", type, e);
		goto out;
	}
	int i = c.r.step && c.r.wait_events ? journey_step(J, c.r.step) : -1;
	const step *s = i >= 0 ? &J->steps[i] : NULL;
	if (!s || (s->kind != S_WAIT_FOR && s->kind != S_GOAL))
		goto out;
	for (int k = 0; k < s->u.wait_for.nevents; k++) {
		const jevent *w = &s->u.wait_for.events[k];
		if ((rc = takes(R, J, w, type, ev, e)) == 0)
			continue;
		if (rc < 0)
			goto out;
		jrn_buf_reset(&E->detail);
		jrn_buf_adds(&E->detail, "{\"event\":");
		jrn_json_append_str(&E->detail, type, strlen(type));
		jrn_buf_addc(&E->detail, '}');
		if ((rc = log_step(&c, s->id, "event", E->detail.p, e)) < 0)
			goto out;
		c.r.due_at = INT64_MIN;
		if (set_str(&c.r.wait_events, NULL) < 0) {
			rc = jrn_fail(e, "out of memory");
			goto out;
		}
		rc = s->kind == S_GOAL ? end(&c, "converted", type, e) : run_from(&c, w->next, e);
		goto out;
	}
out:
	jv_free(c.event);
	jv_free(c.profile);
	enroll_row_free(&c.r);
	return rc < 0 ? -1 : 0;
}

/* Can an event of type move an enrollment of J: does an exit, the goal
 * or a wait_for or goal step of J name it (move: nothing else does)? */
static bool moves_on(const journey *J, const char *type)
{
	for (int k = 0; k < J->nexits; k++)
		if (!strcmp(J->exits[k].type, type))
			return true;
	if (J->has_goal && !strcmp(J->goal.type, type))
		return true;
	for (int k = 0; k < J->nsteps; k++) {
		const step *s = &J->steps[k];
		if (s->kind == S_WAIT_FOR || s->kind == S_GOAL)
			for (int w = 0; w < s->u.wait_for.nevents; w++)
				if (!strcmp(s->u.wait_for.events[w].type, type))
					return true;
	}
	return false;
}

/* --simulate's enroll_customer_active: customer's active enrollments in
 * the journeys an event of type can move (every enrollment there is on a
 * loaded journey's version: enroll_customer_active_of), into E->ids. The
 * others would be read and left as they are. The count, or -1 with e. */
static int active_moved(engine *E, const char *type, const char *customer, jrn_err *e)
{
	journey *v[64];
	journeys some = {v, 0};
	for (int i = 0; i < E->js.n; i++) {
		if (some.n == (int)(sizeof v / sizeof v[0])) /* many journeys: all of them */
			return enroll_customer_active_of(E->D, &E->js, customer, &E->ids, e);
		if (moves_on(E->js.v[i], type))
			some.v[some.n++] = E->js.v[i];
	}
	return some.n ? enroll_customer_active_of(E->D, &some, customer, &E->ids, e) : 0;
}

/* The event's trigger key: its id, else the SHA-256 of its text (with
 * the clock's ms when it has no timestamp either). */
static const char *event_key(jv ev, const jrn_line *ln, char buf[72])
{
	buf[0] = '\0';
	jv id = jv_object_get(jv_copy(ev), jv_string("id"));
	if (jv_get_kind(id) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(id)) < 71) {
		snprintf(buf, 72, "%s", jv_string_value(id));
	} else if (jv_get_kind(id) == JV_KIND_NUMBER) {
		snprintf(buf, 72, "%.17g", jv_number_value(id));
	} else { /* no id and no timestamp (a stage record): the clock too,
		  * so the same line on a later day is a new entry */
		char sum[65];
		jrn_buf t = {0};
		jrn_buf_add(&t, ln->p, ln->len);
		if (!jv_object_has(jv_copy(ev), jv_string("timestamp")))
			jrn_buf_addf(&t, "\x1f%lld", (long long)jrn_now());
		if (t.p && jrn_sha256_hex(t.p, t.len, sum) == 0)
			snprintf(buf, 72, "sha256:%s", sum);
		jrn_buf_free(&t);
	}
	jv_free(id);
	return buf;
}

/* Are the members the engine reads (customerId, type, id,
 * state.journeyStage, properties.segment) clean ids at their decoded
 * length (jrn_id_check: a NUL inside would cut them)? 0, or -1 with why. */
static int event_ids_check(jv ev, jrn_err *why)
{
	static const char *const path[][2] = {{"customerId", NULL}, {"type", NULL}, {"id", NULL},
		{"state", "journeyStage"}, {"properties", "segment"}};
	for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
		jv v = jv_object_get(jv_copy(ev), jv_string(path[i][0]));
		if (path[i][1])
			v = jv_get_kind(v) == JV_KIND_OBJECT ? jv_object_get(v, jv_string(path[i][1]))
			    : (jv_free(v), jv_null());
		int rc = jv_get_kind(v) != JV_KIND_STRING ? 0
			 : jrn_id_check(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)),
					path[i][1] ? path[i][1] : path[i][0], why);
		jv_free(v);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* jrn_profile_resolve, through the memo in --simulate (borrowed: valid
 * until the next call). NULL with e. */
static const char *resolve(route_run *R, engine *E, const char *id, jrn_err *e)
{
	if (R->mode != M_SIMULATE)
		return jrn_profile_resolve(E->prof, id, e);
	if (!E->resolved && !(E->resolved = calloc(ENGINE_RESOLVE_MEMO, sizeof *E->resolved))) {
		jrn_fail(e, "out of memory");
		return NULL;
	}
	struct resolve_memo *m = &E->resolved[jrn_hash64(id, strlen(id)) % ENGINE_RESOLVE_MEMO];
	if (m->id && !strcmp(m->id, id))
		return m->customer;
	const char *now = jrn_profile_resolve(E->prof, id, e);
	char *a = now ? strdup(id) : NULL, *b = a ? strdup(now) : NULL;
	if (!b) {
		free(a); /* not remembered */
		return now;
	}
	free(m->id);
	free(m->customer);
	*m = (struct resolve_memo){a, b};
	return b;
}

/* The customer an event names, resolved through merges, into cust: 1,
 * 0 none (no id, not an id, erased), -1 with e. */
static int event_customer(route_run *R, jv ev, jrn_buf *cust, jrn_err *e)
{
	const char *id = str_of(ev, "customerId");
	jrn_err why;
	if (!id || jrn_id_check(id, strlen(id), "customerId", &why) < 0)
		return 0;
	const char *now = resolve(R, (engine *)R->eng, id, e);
	if (!now)
		return -1;
	jrn_buf_reset(cust);
	if (jrn_buf_adds(cust, now) < 0)
		return jrn_fail(e, "out of memory");
	int a = jrn_privacy_erased(R->privacy, id, strlen(id));
	int b = jrn_privacy_erased(R->privacy, cust->p, cust->len);
	return a || b ? 0 : 1;
}

/* Adds type to E's listened types (once). 0, -1 out of memory. */
static int listen_add(engine *E, const char *type)
{
	if (!type)
		return 0;
	for (int i = 0; i < E->ntypes; i++)
		if (!strcmp(E->types[i], type))
			return 0;
	const char **t = realloc(E->types, (size_t)(E->ntypes + 1) * sizeof *t);
	if (!t)
		return -1;
	E->types = t;
	E->types[E->ntypes++] = type;
	return 0;
}

/* E->listen and the types, once the versions are registered: every type
 * a trigger, an exit, a goal or a wait_for of a loaded journey names.
 * 0, -1 with e. */
static int listen_init(route_run *R, jrn_err *e)
{
	engine *E = (engine *)R->eng;
	int rc = 0;
	for (int i = 0; rc == 0 && i < E->js.n; i++) {
		const journey *J = E->js.v[i];
		if (J->trig.kind == T_STAGE)
			E->stage = true;
		else if (J->trig.kind == T_EVENT || J->trig.kind == T_SEGMENT || J->trig.kind == T_RFM)
			rc = listen_add(E, J->trig.event);
		for (int k = 0; rc == 0 && k < J->nexits; k++)
			rc = listen_add(E, J->exits[k].type);
		if (rc == 0 && J->has_goal)
			rc = listen_add(E, J->goal.type);
		for (int k = 0; rc == 0 && k < J->nsteps; k++) {
			const step *s = &J->steps[k];
			if (s->kind == S_WAIT_FOR || s->kind == S_GOAL)
				for (int w = 0; rc == 0 && w < s->u.wait_for.nevents; w++)
					rc = listen_add(E, s->u.wait_for.events[w].type);
		}
	}
	if (rc < 0)
		return jrn_fail(e, "out of memory");
	int others = enroll_others_active(E->D, &E->js, e);
	if (others < 0)
		return -1;
	E->listen = others ? -1 : 1;
	return 0;
}

/* Is the record an event no journey listens to (jrn-route(1): then
 * nothing moves and no one enrolls)? Read from its index ix (record_read's,
 * of its text): its top-level "type" a string naming no listened type, and
 * no "state" member when a journey triggers on a stage. Anything unsure
 * (an escaped type) is not. */
static bool unheard(engine *E, const jrn_json_index *ix)
{
	if (E->listen != 1)
		return false;
	if (E->stage && jrn_json_find(ix, -1, "state"))
		return false;
	const jrn_json_member *m = jrn_json_find(ix, -1, "type");
	if (!m || m->kind != '"')
		return true; /* no type: no trigger, exit, goal nor wait takes it */
	if (m->escaped || memchr(m->val, '\0', m->vlen))
		return false;
	for (int i = 0; i < E->ntypes; i++)
		if (strlen(E->types[i]) == m->vlen && !memcmp(E->types[i], m->val, m->vlen))
			return false;
	return true;
}

int engine_event(route_run *R, const jrn_line *ln)
{
	engine *E = (engine *)R->eng;
	jrn_err e;
	if (!E)
		return 0;
	if (E->versions_done && !E->listen && listen_init(R, &e) < 0)
		return fatal(&e);
	if (unheard(E, &R->ix))
		return 0;
	jv ev = jrn_parse_value(ln->p, ln->len, &e);
	if (jv_get_kind(ev) != JV_KIND_OBJECT) {
		jv_free(ev);
		return 0;
	}
	if (event_ids_check(ev, &e) < 0) { /* passed through, not seen: a reject */
		jv_free(ev);
		jrn_err w;
		return jrn_reject(&R->rej, ln->file, ln->lineno, ln->p, ln->len, e.msg, &w) < 0
		       ? jrn_say(-1, "%s", w.msg) : 0;
	}
	const char *type = str_of(ev, "type"), *stage = NULL;
	jv state = jv_object_get(jv_copy(ev), jv_string("state"));
	stage = str_of(state, "journeyStage");
	jrn_buf cust = {0};
	int rc = event_customer(R, ev, &cust, &e);
	if (rc > 0)
		rc = engine_versions(R, &e);
	else if (rc == 0)
		rc = -2;
	int64_t now = jrn_now();
	if (rc == 0 && type) {
		jrn_buf_reset(&E->ids);
		int n = R->mode == M_SIMULATE ? active_moved(E, type, cust.p, &e)
			: enroll_customer_active(E->D, cust.p, &E->ids, &e);
		int64_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
		if (n > 0 && ids)
			memcpy(ids, E->ids.p, (size_t)n * sizeof *ids);
		rc = n < 0 ? -1 : n > 0 && !ids ? jrn_fail(&e, "out of memory") : 0;
		for (int k = 0; k < n && rc == 0; k++)
			rc = move(R, ids[k], type, ev, now, &e);
		free(ids);
	}
	char key[72];
	if (rc == 0)
		event_key(ev, ln, key);
	for (int i = 0; rc == 0 && i < E->js.n; i++) {
		journey *J = E->js.v[i];
		rc = triggered(R, J, ev, type, stage, cust.p, &e);
		if (rc > 0)
			rc = enroll(R, J, cust.p, key, ln->p, ln->len, ev, now, &e);
		rc = rc > 0 ? 0 : rc;
	}
	jv_free(state);
	jv_free(ev);
	jrn_buf_free(&cust);
	if (rc == -1)
		return fatal(&e);
	return 0;
}

/* ---- the tick -------------------------------------------------------------------- */

int engine_due(route_run *R, int64_t id)
{
	engine *E = (engine *)R->eng;
	jrn_err e;
	int64_t now = jrn_now();
	run c = {R, E, NULL, {0}, jv_invalid(), jv_invalid(), now};
	int rc = enroll_get(E->D, id, &c.r, &e);
	if (rc > 0 && (strcmp(c.r.status, "active") || c.r.due_at == INT64_MIN || c.r.due_at > now))
		rc = 0; /* advanced by another tick since it was selected */
	if (rc > 0 && !(c.J = journey_of(R, c.r.journey, c.r.version, &e)))
		rc = stuck(R, &c.r, &e) < 0 ? -1 : 0;
	if (rc > 0) {
		int i = c.r.step ? journey_step(c.J, c.r.step) : JOURNEY_END;
		const step *s = i >= 0 ? &c.J->steps[i] : NULL;
		c.r.due_at = INT64_MIN;
		if (!c.r.step) {
			rc = end(&c, "completed", NULL, &e); /* the goal window closed */
		} else if (!s) {
			rc = end(&c, "exited", "step removed", &e);
		} else if (s->kind == S_WAIT) {
			rc = log_step(&c, s->id, "waited", NULL, &e);
			if (rc == 0)
				rc = run_from(&c, s->next, &e);
		} else if ((s->kind == S_WAIT_FOR || s->kind == S_GOAL) && c.r.wait_events) {
			rc = log_step(&c, s->id, "timeout", NULL, &e);
			if (rc == 0 && set_str(&c.r.wait_events, NULL) < 0)
				rc = jrn_fail(&e, "out of memory");
			if (rc == 0)
				rc = run_from(&c, s->u.wait_for.timeout_next, &e);
		} else {
			rc = run_from(&c, i, &e); /* parked */
		}
		rc = rc < 0 ? -1 : 1;
	}
	jv_free(c.event);
	jv_free(c.profile);
	enroll_row_free(&c.r);
	return rc < 0 ? fatal(&e) : rc;
}

/* One customer of a schedule's audience (enroll_audience's fn). */
typedef struct {
	route_run *R;
	journey *J;
	const char *key, *event;
	int64_t now, n;
	jrn_buf last;
	jrn_err *e;
} firing;

static int fire_one(void *ctx, const char *customer)
{
	firing *f = ctx;
	jrn_buf_reset(&f->last);
	if (jrn_buf_adds(&f->last, customer) < 0)
		return jrn_fail(f->e, "out of memory");
	if (jrn_privacy_erased(f->R->privacy, customer, strlen(customer)))
		return 0;
	int rc = 1;
	if (f->J->trig.profile >= 0) {
		jv ev = jrn_parse_value(f->event, strlen(f->event), NULL);
		jv p = profile_of((engine *)f->R->eng, customer, ev, f->e);
		if (!jv_is_valid(p))
			return -1;
		rc = holds(f->R, f->J, f->J->trig.profile, p, f->e);
		jv_free(p);
	}
	if (rc > 0)
		rc = enroll(f->R, f->J, customer, f->key, f->event, strlen(f->event), jv_invalid(),
			    f->now, f->e);
	if (rc > 0)
		f->n++;
	return rc < 0 ? -1 : 0;
}

/* The latest instant of J's schedule in (after, now], or INT64_MIN. */
static int64_t instant(journey *J, const char *zone, int64_t after, int64_t now, jrn_err *e)
{
	if (J->trig.kind == T_AT)
		return J->trig.at > after && J->trig.at <= now ? J->trig.at : INT64_MIN;
	cron_expr *cx = cron_parse(J->trig.cron, e);
	if (!cx)
		return INT64_MIN;
	/* A missed stretch fires once, at its latest instant: look for it in
	 * the last hour, day, 8, 32 and 366 days before walking from `after`
	 * (a minute schedule after years without a tick is not walked minute
	 * by minute). */
	static const int64_t spans[] = {3600000, 86400000, 8 * 86400000LL, 32 * 86400000LL,
					366 * 86400000LL};
	int64_t from = after;
	for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++) {
		if (now - spans[k] <= after)
			break;
		int64_t t = cron_next(cx, zone, now - spans[k]);
		if (t <= now && t != INT64_MAX) {
			from = now - spans[k];
			break;
		}
	}
	int64_t last = INT64_MIN, t = from;
	while ((t = cron_next(cx, zone, t)) <= now && t != INT64_MAX)
		last = t;
	cron_free(cx);
	return last;
}

/* Opens R's transaction when none is open. 0, -1 with e. */
static int begin(route_run *R, jrn_err *e)
{
	if (!R->in_tx && jrn_db_begin(R->db, e) < 0)
		return -1;
	R->in_tx = true;
	return 0;
}

/* A batch of the schedules ended: route_batch_end, or in --simulate
 * simulate_flush (its one transaction goes on). 0, -1 (said). */
static int batch_end(route_run *R)
{
	return R->mode == M_SIMULATE ? simulate_flush(R) : route_batch_end(R);
}

/* Fires J's trigger for the instant at: its audience enrolled, ROUTE_BATCH
 * customers a transaction (--simulate: a batch of output), then journey_schedules.fired_at = now. The
 * number enrolled, or -1 (said). Interrupted, fired_at stays: the next
 * tick fires the instant again and the trigger key enrolls no one twice. */
static int64_t fire(route_run *R, journey *J, int64_t at, int64_t now)
{
	engine *E = (engine *)R->eng;
	jrn_err e;
	char key[32];
	jrn_time_format(at, key);
	jrn_buf ev = {0};
	jrn_buf_adds(&ev, "{\"type\":\"journey.schedule\",\"journey\":");
	jrn_json_append_str(&ev, J->name, strlen(J->name));
	if (jrn_buf_addf(&ev, ",\"timestamp\":\"%s\"}", key) < 0)
		return jrn_say(-1, "out of memory");
	firing f = {R, J, key, ev.p, now, 0, {0}, &e};
	int n = 0, rc = 0;
	do {
		if ((rc = begin(R, &e)) < 0 ||
		    (n = enroll_audience(E->D, J->trig.segment, f.last.p, ROUTE_BATCH, fire_one, &f, &e)) < 0) {
			rc = fatal(&e);
			break;
		}
		if (n == ROUTE_BATCH && (rc = batch_end(R)) < 0)
			break; /* said */
	} while (n == ROUTE_BATCH && !route_interrupted);
	if (rc == 0 && !route_interrupted &&
	    (begin(R, &e) < 0 || enroll_fired_set(E->D, J->name, now, &e) < 0))
		rc = fatal(&e);
	if (rc == 0)
		rc = batch_end(R);
	jrn_buf_free(&ev);
	jrn_buf_free(&f.last);
	return rc < 0 ? -1 : f.n;
}

int64_t engine_schedules(route_run *R, int64_t now)
{
	engine *E = (engine *)R->eng;
	jrn_err e;
	int64_t total = 0;
	for (int i = 0; i < E->js.n && !route_interrupted; i++) {
		journey *J = E->js.v[i];
		if (J->trig.kind != T_SCHEDULE && J->trig.kind != T_AT)
			continue;
		int64_t fired = 0, v;
		char digest[65];
		int rc = enroll_fired_get(E->D, J->name, &fired, &e);
		if (rc == 0) /* no back-fill: from when this version appeared */
			rc = enroll_version_latest(E->D, J->name, &v, digest, &fired, &e) < 0 ? -1 : 0;
		if (rc < 0)
			return fatal(&e);
		int64_t at = instant(J, J->trig.zone ? J->trig.zone : R->P.zone, fired, now, &e);
		if (at == INT64_MIN)
			continue;
		int64_t n = fire(R, J, at, now);
		if (n < 0)
			return -1;
		total += n;
	}
	return total;
}
