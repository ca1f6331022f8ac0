/* journey.c: a journey file compiled (journey.h, jrn-route(1) JOURNEYS):
 * the YAML read by lib/yaml.c (positions for FILE:LINE:COL), every key
 * checked (an unknown one refused with a suggestion, like jrn.yaml's),
 * step ids resolved to indexes, every condition compiled into one
 * jrn_rules set (lib/rules.h), durations by the configuration's one rule
 * (jrn_config_duration_of), zones by zone_check, cron by cron_parse. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "journey.h"
#include "mustache.h"
#include "yaml.h"

const char *const step_kind_names[NSTEP_KINDS] = {
	"action", "wait", "wait_for", "branch", "split", "goal", "exit", "update", "webhook",
};

static const char *const stage_names[] = {
	"awareness", "consideration", "purchase", "retention", "advocacy", NULL,
};

/* A condition waiting to be compiled, and the slot its index goes to. */
typedef struct {
	char *name;        /* "step:ID:if" */
	char *label;       /* "step 'ID' if", for messages */
	jv rule;           /* owned */
	jrn_yaml_at at;
	int *slot;
} pend_rule;

typedef struct {
	journey *J;
	const char *file;     /* for messages */
	const char *prefix;   /* "journeys.NAME: " for entries without positions */
	jrn_err *e;
	jv defs;              /* {name: {rule: RULE}} */
	pend_rule *rules;
	int nrules, caprules;
} cc;

static int fail_at(cc *c, jrn_yaml_at at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(cc *c, jrn_yaml_at at, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (at.line > 0)
		return jrn_fail(c->e, "%s:%d:%d: %s", c->file, at.line, at.col, msg);
	return jrn_fail(c->e, "%s: %s%s", c->file, c->prefix ? c->prefix : "", msg);
}

static int oom(cc *c)
{
	return jrn_fail(c->e, "%s: out of memory", c->file);
}

/* The position of key's value in the mapping at pos (borrowed), owned. */
static jv pos_of(jv pos, const char *key)
{
	jv k = jv_string(key);
	jv p = jrn_yaml_pos_value(pos, k);
	jv_free(k);
	return p;
}

static jrn_yaml_at at_of(jv pos, jrn_yaml_at dflt)
{
	jrn_yaml_at a = jrn_yaml_pos_at(pos);
	return a.line > 0 ? a : dflt;
}

/* The value of key in obj (borrowed), owned; jv_invalid() when absent. */
static jv get(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

static bool has(jv obj, const char *key)
{
	jv v = get(obj, key);
	bool r = jv_is_valid(v);
	jv_free(v);
	return r;
}

/* Every key of the mapping obj (borrowed, at pos) is one of keys; what
 * names the mapping in messages ("trigger", "step 'a'"). */
static int check_keys(cc *c, jv obj, jv pos, jrn_yaml_at at, const char *what,
		      const char *const *keys)
{
	int rc = 0;
	for (int it = jv_object_iter(obj); rc == 0 && jv_object_iter_valid(obj, it);
	     it = jv_object_iter_next(obj, it)) {
		jv key = jv_object_iter_key(obj, it);
		const char *name = jv_string_value(key);
		const char *const *k = keys;
		while (*k && strcmp(*k, name))
			k++;
		if (!*k || strlen(name) != (size_t)jv_string_length_bytes(jv_copy(key))) {
			jrn_yaml_at ka = jrn_yaml_pos_key_at(pos, key);
			const char *near = journey_suggest(name, keys);
			char hint[128] = "";
			if (near)
				snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
			rc = fail_at(c, ka.line ? ka : at, "unknown key '%.64s' in %s%s", name, what, hint);
		}
		jv_free(key);
	}
	return rc;
}

/* v's kind for a message ("not a mapping"): journeys speak YAML. */
static const char *kind_of(jv v)
{
	return jrn_kind_phrase(jv_get_kind(v), true);
}

/* A copy of the string v (borrowed), checked as an identifier (not empty,
 * no control characters, at most JOURNEY_ID_MAX bytes); NULL with e. */
static char *id_of(cc *c, jv v, jrn_yaml_at at, const char *what)
{
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d >= 0 && d < 1e15 && d == (double)(int64_t)d) {
			char buf[32];
			snprintf(buf, sizeof buf, "%lld", (long long)d);
			char *s = strdup(buf);
			if (!s)
				oom(c);
			return s;
		}
	}
	if (jv_get_kind(v) != JV_KIND_STRING) {
		fail_at(c, at, "%s: expected a string, not %s", what, kind_of(v));
		return NULL;
	}
	size_t n = (size_t)jv_string_length_bytes(jv_copy(v));
	jrn_err why;
	if (n > JOURNEY_ID_MAX) {
		fail_at(c, at, "%s: longer than %d bytes (the limit)", what, JOURNEY_ID_MAX);
		return NULL;
	}
	if (jrn_id_check(jv_string_value(v), n, what, &why) < 0) {
		fail_at(c, at, "%s", why.msg);
		return NULL;
	}
	char *s = strdup(jv_string_value(v));
	if (!s)
		oom(c);
	return s;
}

/* A copy of the string v (borrowed, any text but not empty); NULL with e. */
static char *text_of(cc *c, jv v, jrn_yaml_at at, const char *what)
{
	if (jv_get_kind(v) != JV_KIND_STRING || !jv_string_length_bytes(jv_copy(v))) {
		fail_at(c, at, "%s: expected a string that is not empty, not %s", what,
			jv_get_kind(v) == JV_KIND_STRING ? "\"\"" : kind_of(v));
		return NULL;
	}
	char *s = strdup(jv_string_value(v));
	if (!s)
		oom(c);
	return s;
}

/* A duration value (borrowed) by the configuration's one rule
 * (jrn_config_duration: "90m", "1h30m", "2d", or whole milliseconds): 0
 * with *ms, -1 with the reason in e. */
static int duration_of(jv v, int64_t *ms, jrn_err *e)
{
	jv o = jv_object_set(jv_object(), jv_string("d"), jv_copy(v));
	int rc = jrn_config_duration(o, "d", ms, e);
	jv_free(o);
	if (rc == 0)
		jrn_fail(e, "expected a duration such as 90d, not null");
	return rc == 1 ? 0 : -1;
}

/* A duration (string "90m", "1h30m", "2d", or whole ms); 0 with *ms. */
static int duration(cc *c, jv v, jrn_yaml_at at, const char *what, int64_t *ms)
{
	jrn_err why;
	if (duration_of(v, ms, &why) < 0)
		return fail_at(c, at, "%s: %s", what, why.msg);
	if (*ms > JOURNEY_DURATION_MAX)
		return fail_at(c, at, "%s: longer than 5 years (the limit)", what);
	return 0;
}

/* Queues condition rule (borrowed) of name for compiling; its index goes
 * to *slot then. */
static int add_rule(cc *c, const char *name, const char *label, jv rule, jrn_yaml_at at, int *slot)
{
	if (c->nrules == c->caprules) {
		int n = c->caprules ? 2 * c->caprules : 8;
		pend_rule *p = realloc(c->rules, (size_t)n * sizeof *p);
		if (!p)
			return oom(c);
		c->rules = p, c->caprules = n;
	}
	char *nm = strdup(name), *lb = strdup(label);
	if (!nm || !lb) {
		free(nm), free(lb);
		return oom(c);
	}
	/* names are unique: step ids are, and the rest are fixed words; a
	 * step id holding ':' could still meet another's, so say so */
	jv k = jv_string(name);
	if (jv_object_has(jv_copy(c->defs), jv_copy(k))) {
		jv_free(k);
		free(nm), free(lb);
		return fail_at(c, at, "%s: a second condition named '%s' (choose step ids "
			       "without ':')", label, name);
	}
	jv def = jv_object_set(jv_object(), jv_string("rule"), jv_copy(rule));
	c->defs = jv_object_set(c->defs, k, def);
	c->rules[c->nrules++] = (pend_rule){nm, lb, jv_copy(rule), at, slot};
	*slot = -1;
	return 0;
}

/* The step id v (borrowed) into *slot: its index, or JOURNEY_END for
 * "end" (every id is known before any step compiles). */
static int add_ref(cc *c, jv v, jrn_yaml_at at, const char *what, int *slot)
{
	char *id = id_of(c, v, at, what);
	if (!id)
		return -1;
	int rc = 0;
	if (!strcmp(id, "end"))
		*slot = JOURNEY_END;
	else if ((*slot = journey_step(c->J, id)) < 0) {
		const char *ids[64];
		int n = 0;
		for (int i = 0; i < c->J->nsteps && n < 63; i++)
			if (c->J->steps[i].id)
				ids[n++] = c->J->steps[i].id;
		ids[n] = NULL;
		const char *near = journey_suggest(id, ids);
		char hint[128] = "";
		if (near)
			snprintf(hint, sizeof hint, " (did you mean '%.64s'?)", near);
		rc = fail_at(c, at, "%s: no step '%.64s'%s", what, id, hint);
	}
	free(id);
	return rc;
}

/* An optional step reference at obj.key (borrowed): queued when given,
 * else *slot keeps its default. */
static int opt_ref(cc *c, jv obj, jv pos, jrn_yaml_at at, const char *key, const char *what,
		   int *slot)
{
	jv v = get(obj, key);
	int rc = 0;
	if (jv_is_valid(v)) {
		jv p = pos_of(pos, key);
		char label[200];
		snprintf(label, sizeof label, "%s %s", what, key);
		rc = add_ref(c, v, at_of(p, at), label, slot);
		jv_free(p);
	}
	jv_free(v);
	return rc;
}

/* An event a journey listens for: {event: TYPE, where: RULE} (obj
 * borrowed) into ev; name prefixes its rule's name ("exit:1"). */
static int compile_event(cc *c, jv obj, jv pos, jrn_yaml_at at, const char *name,
			 const char *what, const char *const *keys, jevent *ev)
{
	ev->rule = -1;
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return fail_at(c, at, "%s: expected a mapping {event, where}, not %s", what, kind_of(obj));
	if (check_keys(c, obj, pos, at, what, keys) < 0)
		return -1;
	jv t = get(obj, "event");
	jv tp = pos_of(pos, "event");
	char label[200];
	snprintf(label, sizeof label, "%s event", what);
	int rc = 0;
	if (!jv_is_valid(t))
		rc = fail_at(c, at, "%s: no event (the event type it waits for)", what);
	else if (!(ev->type = id_of(c, t, at_of(tp, at), label)))
		rc = -1;
	jv_free(t);
	jv_free(tp);
	jv w = get(obj, "where");
	if (rc == 0 && jv_is_valid(w)) {
		jv wp = pos_of(pos, "where");
		char rn[200];
		snprintf(rn, sizeof rn, "%s:where", name);
		snprintf(label, sizeof label, "%s where", what);
		rc = add_rule(c, rn, label, w, at_of(wp, at), &ev->rule);
		jv_free(wp);
	}
	jv_free(w);
	return rc;
}

/* ---- the trigger --------------------------------------------------------- */

static const char *const trig_event_keys[] = {"event", "where", "profile", NULL};
static const char *const trig_segment_keys[] = {"segment", "on", "where", "profile", NULL};
static const char *const trig_rfm_keys[] = {"rfm", "to", "from", "where", "profile", NULL};
static const char *const trig_stage_keys[] = {"stage", "profile", NULL};
static const char *const trig_schedule_keys[] = {"schedule", "zone", "segment", NULL};
static const char *const trig_at_keys[] = {"at", "segment", NULL};
static const char *const trig_any_keys[] = {"event", "segment", "rfm", "stage", "schedule",
					    "at", NULL};

/* The rule a trigger's own words make (properties.segment == NAME...),
 * all of it with the where given (both borrowed; an invalid gen: none). */
static jv trigger_rule(jv gen, jv where)
{
	if (!jv_is_valid(gen))
		return jv_copy(where);
	if (!jv_is_valid(where))
		return jv_copy(gen);
	return JV_ARRAY(jv_copy(gen), jv_copy(where));
}

/* The members of the trigger that read the event and the profile. */
static int trigger_rules(cc *c, jv obj, jv pos, jrn_yaml_at at, jv gen)
{
	trigger *T = &c->J->trig;
	jv w = get(obj, "where"), p = get(obj, "profile");
	jv wp = pos_of(pos, "where"), pp = pos_of(pos, "profile");
	int rc = 0;
	if (jv_is_valid(w) || jv_is_valid(gen)) {
		jv r = trigger_rule(gen, w);
		rc = add_rule(c, "trigger:where", "trigger where", r, at_of(wp, at), &T->where);
		jv_free(r);
	}
	if (rc == 0 && jv_is_valid(p))
		rc = add_rule(c, "trigger:profile", "trigger profile", p, at_of(pp, at), &T->profile);
	jv_free(w), jv_free(p), jv_free(wp), jv_free(pp);
	return rc;
}

/* A string member key of obj into *out when present (checked by id_of
 * when id, else any text). */
static int opt_string(cc *c, jv obj, jv pos, jrn_yaml_at at, const char *key, const char *what,
		      bool id, char **out)
{
	jv v = get(obj, key);
	int rc = 0;
	if (jv_is_valid(v)) {
		jv p = pos_of(pos, key);
		char label[200];
		snprintf(label, sizeof label, "%s %s", what, key);
		*out = id ? id_of(c, v, at_of(p, at), label) : text_of(c, v, at_of(p, at), label);
		rc = *out ? 0 : -1;
		jv_free(p);
	}
	jv_free(v);
	return rc;
}

static int trigger_schedule(cc *c, jv obj, jv pos, jrn_yaml_at at)
{
	trigger *T = &c->J->trig;
	jrn_err why;
	if (check_keys(c, obj, pos, at, "trigger", trig_schedule_keys) < 0 ||
	    opt_string(c, obj, pos, at, "schedule", "trigger", false, &T->cron) < 0 ||
	    opt_string(c, obj, pos, at, "zone", "trigger", false, &T->zone) < 0 ||
	    opt_string(c, obj, pos, at, "segment", "trigger", true, &T->segment) < 0)
		return -1;
	jv sp = pos_of(pos, "schedule"), zp = pos_of(pos, "zone");
	jrn_yaml_at sa = at_of(sp, at), za = at_of(zp, at);
	jv_free(sp), jv_free(zp);
	cron_expr *ce = cron_parse(T->cron, &why);
	if (!ce)
		return fail_at(c, sa, "trigger schedule: %s", why.msg);
	cron_free(ce);
	if (T->zone && zone_check(T->zone, &why) < 0)
		return fail_at(c, za, "trigger zone: %s", why.msg);
	return 0;
}

static int trigger_at(cc *c, jv obj, jv pos, jrn_yaml_at at)
{
	trigger *T = &c->J->trig;
	char *text = NULL;
	jrn_err why;
	if (check_keys(c, obj, pos, at, "trigger", trig_at_keys) < 0 ||
	    opt_string(c, obj, pos, at, "at", "trigger", false, &text) < 0 ||
	    opt_string(c, obj, pos, at, "segment", "trigger", true, &T->segment) < 0) {
		free(text);
		return -1;
	}
	jv ap = pos_of(pos, "at");
	jrn_yaml_at aa = at_of(ap, at);
	jv_free(ap);
	int rc = jrn_time_parse(text, strlen(text), 0, &T->at, &why);
	free(text);
	return rc < 0 ? fail_at(c, aa, "trigger at: %s", why.msg) : 0;
}

static int trigger_segment(cc *c, jv obj, jv pos, jrn_yaml_at at)
{
	trigger *T = &c->J->trig;
	char *on = NULL;
	if (check_keys(c, obj, pos, at, "trigger", trig_segment_keys) < 0 ||
	    opt_string(c, obj, pos, at, "segment", "trigger", true, &T->segment) < 0 ||
	    opt_string(c, obj, pos, at, "on", "trigger", false, &on) < 0) {
		free(on);
		return -1;
	}
	int rc = 0;
	if (on && strcmp(on, "entered") && strcmp(on, "exited")) {
		jv op = pos_of(pos, "on");
		rc = fail_at(c, at_of(op, at), "trigger on: '%.64s' is not entered or exited", on);
		jv_free(op);
	}
	if (rc == 0 && !(T->event = strdup(on && !strcmp(on, "exited") ? "segment.exited"
							: "segment.entered")))
		rc = oom(c);
	free(on);
	if (rc < 0)
		return -1;
	jv gen = jv_object_set(jv_object(), jv_string("properties.segment"), jv_string(T->segment));
	rc = trigger_rules(c, obj, pos, at, gen);
	jv_free(gen);
	return rc;
}

static int trigger_rfm(cc *c, jv obj, jv pos, jrn_yaml_at at)
{
	trigger *T = &c->J->trig;
	char *rfm = NULL, *to = NULL, *from = NULL;
	int rc = 0;
	if (check_keys(c, obj, pos, at, "trigger", trig_rfm_keys) < 0 ||
	    opt_string(c, obj, pos, at, "rfm", "trigger", false, &rfm) < 0 ||
	    opt_string(c, obj, pos, at, "to", "trigger", true, &to) < 0 ||
	    opt_string(c, obj, pos, at, "from", "trigger", true, &from) < 0)
		rc = -1;
	if (rc == 0 && strcmp(rfm, "changed")) {
		jv rp = pos_of(pos, "rfm");
		rc = fail_at(c, at_of(rp, at), "trigger rfm: '%.64s' is not changed (the one rfm trigger)",
			     rfm);
		jv_free(rp);
	}
	if (rc == 0 && !(T->event = strdup("rfm.segment.changed")))
		rc = oom(c);
	jv gen = jv_invalid();
	if (rc == 0 && (to || from)) {
		gen = jv_object();
		if (to)
			gen = jv_object_set(gen, jv_string("properties.to"), jv_string(to));
		if (from)
			gen = jv_object_set(gen, jv_string("properties.from"), jv_string(from));
	}
	free(rfm), free(to), free(from);
	if (rc == 0)
		rc = trigger_rules(c, obj, pos, at, gen);
	jv_free(gen);
	return rc;
}

static int trigger_stage(cc *c, jv obj, jv pos, jrn_yaml_at at)
{
	trigger *T = &c->J->trig;
	if (check_keys(c, obj, pos, at, "trigger", trig_stage_keys) < 0 ||
	    opt_string(c, obj, pos, at, "stage", "trigger", true, &T->stage) < 0)
		return -1;
	const char *const *s = stage_names;
	while (*s && strcmp(*s, T->stage))
		s++;
	if (!*s) {
		jv sp = pos_of(pos, "stage");
		const char *near = journey_suggest(T->stage, stage_names);
		char hint[96] = "";
		if (near)
			snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
		int rc = fail_at(c, at_of(sp, at), "trigger stage: '%.64s' is not one of awareness, "
				 "consideration, purchase, retention, advocacy%s", T->stage, hint);
		jv_free(sp);
		return rc;
	}
	return trigger_rules(c, obj, pos, at, jv_invalid());
}

static int compile_trigger(cc *c, jv obj, jv pos, jrn_yaml_at at)
{
	trigger *T = &c->J->trig;
	T->where = T->profile = -1;
	T->kind = T_NONE;
	if (jv_get_kind(obj) == JV_KIND_STRING) { /* trigger: order.completed */
		jv o = jv_object_set(jv_object(), jv_string("event"), jv_copy(obj));
		int rc = compile_trigger(c, o, jv_null(), at);
		jv_free(o);
		return rc;
	}
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return fail_at(c, at, "trigger: expected a mapping (event, segment, rfm, stage, "
			       "schedule or at), not %s", kind_of(obj));
	if (has(obj, "schedule")) {
		T->kind = T_SCHEDULE;
		return trigger_schedule(c, obj, pos, at);
	}
	if (has(obj, "at")) {
		T->kind = T_AT;
		return trigger_at(c, obj, pos, at);
	}
	if (has(obj, "event")) {
		T->kind = T_EVENT;
		if (check_keys(c, obj, pos, at, "trigger", trig_event_keys) < 0 ||
		    opt_string(c, obj, pos, at, "event", "trigger", true, &T->event) < 0)
			return -1;
		return trigger_rules(c, obj, pos, at, jv_invalid());
	}
	if (has(obj, "segment")) {
		T->kind = T_SEGMENT;
		return trigger_segment(c, obj, pos, at);
	}
	if (has(obj, "rfm")) {
		T->kind = T_RFM;
		return trigger_rfm(c, obj, pos, at);
	}
	if (has(obj, "stage")) {
		T->kind = T_STAGE;
		return trigger_stage(c, obj, pos, at);
	}
	if (check_keys(c, obj, pos, at, "trigger", trig_any_keys) < 0)
		return -1;
	return fail_at(c, at, "trigger: give one of event, segment, rfm, stage, schedule, at");
}

/* ---- steps --------------------------------------------------------------- */

static const char *const action_keys[] = {
	"channel", "template", "campaign", "offer", "priority", "category", "subject",
	"messageContent", "metadata", "locale", "recipientEmail", "recipientPhone", NULL,
};
static const char *const webhook_keys[] = {"url", "body", "campaign", "offer", "metadata", NULL};
static const char *const wait_keys[] = {"until", "days", "zone", NULL};
static const char *const wait_for_keys[] = {"event", "where", "within", "then", "else", "any", NULL};
static const char *const any_keys[] = {"event", "where", "then", NULL};
static const char *const branch_keys[] = {"if", "then", "else", NULL};
static const char *const arm_keys[] = {"name", "weight", "next", "holdout", NULL};
static const char *const goal_keys[] = {"event", "where", "within", NULL};
static const char *const update_keys[] = {"set", "remove", NULL};
static const char *const step_keys[] = {
	"id", "next", "description", "action", "wait", "wait_for", "branch", "split", "goal",
	"exit", "update", "webhook", NULL,
};
static const char *const top_keys[] = {
	"name", "description", "trigger", "reentry", "exit", "goal", "migrate", "steps", NULL,
};

/* What a step is compiled with. */
typedef struct {
	step *s;
	int index;
	jv body;      /* the kind's value (borrowed) */
	jv pos;       /* its position (borrowed) */
	jrn_yaml_at at;
	char what[120]; /* "step 'ID' action" */
	char name[100]; /* "step:ID" */
} sctx;

static int action_fields(cc *c, sctx *x, const char *const *keys, bool webhook)
{
	step *s = x->s;
	jv o = x->body;
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return fail_at(c, x->at, "%s: expected a mapping, not %s", x->what, kind_of(o));
	if (check_keys(c, o, x->pos, x->at, x->what, keys) < 0)
		return -1;
	jv_free(s->u.action.fields);
	s->u.action.fields = jv_object();
	s->u.action.channel = webhook ? CH_WEBHOOK : -1;
	for (int it = jv_object_iter(o); jv_object_iter_valid(o, it); it = jv_object_iter_next(o, it)) {
		jv k = jv_object_iter_key(o, it), v = jv_object_iter_value(o, it);
		const char *key = jv_string_value(k);
		jv p = jrn_yaml_pos_value(x->pos, k);
		jrn_yaml_at a = at_of(p, x->at);
		jv_free(p);
		char label[200];
		snprintf(label, sizeof label, "%s %s", x->what, key);
		int rc = 0;
		const char *out = key;
		if (!strcmp(key, "channel")) {
			char *ch = id_of(c, v, a, label);
			int i = 0;
			while (ch && i < NCHAN && strcmp(chan_names[i], ch))
				i++;
			if (!ch)
				rc = -1;
			else if (i == NCHAN || i == CH_WEBHOOK)
				rc = fail_at(c, a, "%s: '%.64s' is not email, sms, whatsapp or retargeting%s",
					     label, ch, i == CH_WEBHOOK ? " (a webhook is a step of its own)" : "");
			s->u.action.channel = i;
			free(ch);
			out = "actionType";
		} else if (!strcmp(key, "campaign") || !strcmp(key, "offer") || !strcmp(key, "template")) {
			char *id = id_of(c, v, a, label);
			rc = id ? 0 : -1;
			if (id && !strcmp(key, "template") && !jrn_template_name_ok(id, strlen(id)))
				rc = fail_at(c, a, "%s: '%.64s' is not a template name (letters, digits, "
					     "'-', '_' and '.', not starting with '.'; as jrn-send reads "
					     "it)", label, id);
			free(id);
			if (!strcmp(key, "campaign"))
				out = "campaignId";
		} else if (!strcmp(key, "url")) {
			const char *u = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "";
			if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
				rc = fail_at(c, a, "%s: expected an http:// or https:// URL", label);
		} else if (!strcmp(key, "priority") || !strcmp(key, "category") || !strcmp(key, "subject") ||
			   !strcmp(key, "messageContent") || !strcmp(key, "locale") ||
			   !strcmp(key, "recipientEmail") || !strcmp(key, "recipientPhone")) {
			char *t = text_of(c, v, a, label);
			rc = t ? 0 : -1;
			free(t);
			if (rc == 0 && (!strcmp(key, "priority") || !strcmp(key, "category")) &&
			    !strcmp(jv_string_value(v), "transactional"))
				s->u.action.transactional = true;
		}
		if (rc == 0 && !strcmp(key, "channel"))
			s->u.action.fields = jv_object_set(s->u.action.fields, jv_string(out),
							   jv_string(chan_names[s->u.action.channel]));
		else if (rc == 0)
			s->u.action.fields = jv_object_set(s->u.action.fields, jv_string(out), jv_copy(v));
		jv_free(k), jv_free(v);
		if (rc < 0)
			return -1;
	}
	if (webhook) {
		if (!has(o, "url"))
			return fail_at(c, x->at, "%s: no url", x->what);
		s->u.action.fields = jv_object_set(s->u.action.fields, jv_string("actionType"),
						   jv_string("webhook"));
	} else if (s->u.action.channel < 0) {
		return fail_at(c, x->at, "%s: no channel (email, sms, whatsapp or retargeting)", x->what);
	}
	/* as each action's record starts (engine.c's act): printed once */
	jrn_buf t = {0};
	jrn_err why;
	if (jrn_json_append(&t, jv_copy(s->u.action.fields), 0, &why) < 0) {
		jrn_buf_free(&t);
		return fail_at(c, x->at, "%s: %s", x->what, why.msg);
	}
	free(s->u.action.text);
	s->u.action.text = t.p, s->u.action.len = t.len;
	return 0;
}

static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
static const char *const day_long[] = {"sunday", "monday", "tuesday", "wednesday", "thursday",
				       "friday", "saturday", NULL};

/* "HH:MM" into minutes of the day, -1 when not one. */
static int clock_of(const char *s)
{
	if (strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	return h < 24 && m < 60 ? h * 60 + m : -1;
}

static int wait_days(cc *c, sctx *x, jv days, jv pos, jrn_yaml_at at)
{
	if (jv_get_kind(days) == JV_KIND_STRING) {
		jv one = JV_ARRAY(jv_copy(days));
		jv p = jrn_yaml_pos_list_of(jv_copy(pos));
		int rc = wait_days(c, x, one, p, at);
		jv_free(one), jv_free(p);
		return rc;
	}
	if (jv_get_kind(days) != JV_KIND_ARRAY || !jv_array_length(jv_copy(days)))
		return fail_at(c, at, "%s days: expected a list of days (mon, tue, ... sun)", x->what);
	int n = jv_array_length(jv_copy(days));
	for (int i = 0; i < n; i++) {
		jv d = jv_array_get(jv_copy(days), i);
		jv dp = jrn_yaml_pos_item(pos, i);
		jrn_yaml_at da = at_of(dp, at);
		jv_free(dp);
		int k = -1;
		if (jv_get_kind(d) == JV_KIND_STRING) {
			char low[16] = "";
			const char *s = jv_string_value(d);
			for (size_t j = 0; s[j] && j + 1 < sizeof low; j++)
				low[j] = (char)(s[j] >= 'A' && s[j] <= 'Z' ? s[j] - 'A' + 'a' : s[j]);
			for (int j = 0; j < 7 && k < 0; j++)
				if (!strcmp(low, day_names[j]) || !strcmp(low, day_long[j]))
					k = j;
		}
		if (k < 0) {
			int rc = fail_at(c, da, "%s days: %s%.32s%s is not a day (mon, tue, wed, thu, fri, "
					 "sat, sun)", x->what, jv_get_kind(d) == JV_KIND_STRING ? "'" : "",
					 jv_get_kind(d) == JV_KIND_STRING ? jv_string_value(d) : kind_of(d),
					 jv_get_kind(d) == JV_KIND_STRING ? "'" : "");
			jv_free(d);
			return rc;
		}
		jv_free(d);
		x->s->u.wait.days |= 1u << k;
	}
	return 0;
}

static int compile_wait(cc *c, sctx *x)
{
	step *s = x->s;
	s->u.wait.until = -1;
	if (jv_get_kind(x->body) != JV_KIND_OBJECT) {
		if (duration(c, x->body, x->at, x->what, &s->u.wait.ms) < 0)
			return -1;
		if (s->u.wait.ms <= 0)
			return fail_at(c, x->at, "%s: a wait of nothing (give a duration above 0)", x->what);
		return 0;
	}
	if (check_keys(c, x->body, x->pos, x->at, x->what, wait_keys) < 0)
		return -1;
	char *until = NULL;
	if (opt_string(c, x->body, x->pos, x->at, "until", x->what, false, &until) < 0)
		return -1;
	jv up = pos_of(x->pos, "until");
	jrn_yaml_at ua = at_of(up, x->at);
	jv_free(up);
	if (!until)
		return fail_at(c, x->at, "%s: no until (a local time HH:MM)", x->what);
	s->u.wait.until = clock_of(until);
	free(until);
	if (s->u.wait.until < 0)
		return fail_at(c, ua, "%s until: expected a local time HH:MM (00:00 to 23:59)", x->what);
	jv days = get(x->body, "days");
	int rc = 0;
	if (jv_is_valid(days)) {
		jv dp = pos_of(x->pos, "days");
		rc = wait_days(c, x, days, dp, at_of(dp, x->at));
		jv_free(dp);
	}
	jv_free(days);
	if (rc < 0 || opt_string(c, x->body, x->pos, x->at, "zone", x->what, false, &s->u.wait.zone) < 0)
		return -1;
	if (s->u.wait.zone && !strcmp(s->u.wait.zone, "customer")) {
		free(s->u.wait.zone);
		s->u.wait.zone = NULL;
	} else if (s->u.wait.zone) {
		jrn_err why;
		jv zp = pos_of(x->pos, "zone");
		jrn_yaml_at za = at_of(zp, x->at);
		jv_free(zp);
		if (zone_check(s->u.wait.zone, &why) < 0)
			return fail_at(c, za, "%s zone: %s", x->what, why.msg);
	}
	return 0;
}

/* within: of a wait_for or goal step (optional: 0). */
static int opt_within(cc *c, jv obj, jv pos, jrn_yaml_at at, const char *what, int64_t *ms)
{
	jv w = get(obj, "within");
	int rc = 0;
	*ms = 0;
	if (jv_is_valid(w)) {
		jv wp = pos_of(pos, "within");
		char label[200];
		snprintf(label, sizeof label, "%s within", what);
		rc = duration(c, w, at_of(wp, at), label, ms);
		if (rc == 0 && *ms <= 0)
			rc = fail_at(c, at_of(wp, at), "%s: expected a duration above 0", label);
		jv_free(wp);
	}
	jv_free(w);
	return rc;
}

static int compile_wait_for(cc *c, sctx *x, bool goal)
{
	step *s = x->s;
	jv o = x->body;
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return fail_at(c, x->at, "%s: expected a mapping {event, where, within...}, not %s",
			       x->what, kind_of(o));
	if (check_keys(c, o, x->pos, x->at, x->what, goal ? goal_keys : wait_for_keys) < 0)
		return -1;
	s->u.wait_for.timeout_next = s->next;
	if (opt_within(c, o, x->pos, x->at, x->what, &s->u.wait_for.within) < 0)
		return -1;
	jv any = get(o, "any");
	int rc = 0;
	if (jv_is_valid(any)) {
		jv ap = pos_of(x->pos, "any");
		jrn_yaml_at aa = at_of(ap, x->at);
		int n = jv_get_kind(any) == JV_KIND_ARRAY ? jv_array_length(jv_copy(any)) : 0;
		if (has(o, "event") || has(o, "where") || has(o, "then"))
			rc = fail_at(c, x->at, "%s: give either any or event/where/then", x->what);
		else if (n == 0)
			rc = fail_at(c, aa, "%s any: expected a list of {event, where, then}", x->what);
		else if (n > JOURNEY_EVENTS_MAX)
			rc = fail_at(c, aa, "%s any: more than %d events (the limit)", x->what,
				     JOURNEY_EVENTS_MAX);
		else if (!(s->u.wait_for.events = calloc((size_t)n, sizeof(jevent))))
			rc = oom(c);
		for (int i = 0; rc == 0 && i < n; i++) {
			jv item = jv_array_get(jv_copy(any), i), ip = jrn_yaml_pos_item(ap, i);
			char what[160], name[140];
			snprintf(what, sizeof what, "%s any[%d]", x->what, i + 1);
			snprintf(name, sizeof name, "%s:any:%d", x->name, i + 1);
			jevent *ev = &s->u.wait_for.events[i];
			ev->next = s->next;
			s->u.wait_for.nevents = i + 1;
			rc = compile_event(c, item, ip, at_of(ip, aa), name, what, any_keys, ev);
			if (rc == 0)
				rc = opt_ref(c, item, ip, at_of(ip, aa), "then", what, &ev->next);
			jv_free(item), jv_free(ip);
		}
		jv_free(ap);
	} else {
		if (!(s->u.wait_for.events = calloc(1, sizeof(jevent))))
			rc = oom(c);
		else {
			s->u.wait_for.nevents = 1;
			s->u.wait_for.events[0].next = goal ? JOURNEY_END : s->next;
			rc = compile_event(c, o, x->pos, x->at, x->name, x->what,
					   goal ? goal_keys : wait_for_keys, &s->u.wait_for.events[0]);
		}
		if (rc == 0 && !goal)
			rc = opt_ref(c, o, x->pos, x->at, "then", x->what, &s->u.wait_for.events[0].next);
	}
	jv_free(any);
	if (rc == 0 && !goal)
		rc = opt_ref(c, o, x->pos, x->at, "else", x->what, &s->u.wait_for.timeout_next);
	return rc;
}

static int compile_branch(cc *c, sctx *x)
{
	step *s = x->s;
	jv o = x->body;
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return fail_at(c, x->at, "%s: expected a mapping {if, then, else}, not %s", x->what,
			       kind_of(o));
	if (check_keys(c, o, x->pos, x->at, x->what, branch_keys) < 0)
		return -1;
	s->u.branch.then = s->u.branch.otherwise = s->next;
	jv r = get(o, "if");
	jv rp = pos_of(x->pos, "if");
	char name[120], label[160];
	snprintf(name, sizeof name, "%s:if", x->name);
	snprintf(label, sizeof label, "%s if", x->what);
	int rc = jv_is_valid(r) ? add_rule(c, name, label, r, at_of(rp, x->at), &s->u.branch.rule)
				: fail_at(c, x->at, "%s: no if (the condition)", x->what);
	jv_free(r), jv_free(rp);
	if (rc == 0 && !has(o, "then") && !has(o, "else"))
		rc = fail_at(c, x->at, "%s: give then or else (else both go to the step below)", x->what);
	if (rc == 0)
		rc = opt_ref(c, o, x->pos, x->at, "then", x->what, &s->u.branch.then);
	if (rc == 0)
		rc = opt_ref(c, o, x->pos, x->at, "else", x->what, &s->u.branch.otherwise);
	return rc;
}

static int compile_arm(cc *c, sctx *x, jv item, jv ip, jrn_yaml_at at, int i)
{
	jarm *a = &x->s->u.split.arms[i];
	char what[160];
	snprintf(what, sizeof what, "%s arm %d", x->what, i + 1);
	a->next = x->s->next;
	a->weight = 1;
	if (jv_get_kind(item) != JV_KIND_OBJECT)
		return fail_at(c, at, "%s: expected a mapping {name, weight, next}, not %s", what,
			       kind_of(item));
	if (check_keys(c, item, ip, at, what, arm_keys) < 0 ||
	    opt_string(c, item, ip, at, "name", what, true, &a->name) < 0)
		return -1;
	if (!a->name)
		return fail_at(c, at, "%s: no name (the variant recorded)", what);
	for (int j = 0; j < i; j++)
		if (!strcmp(x->s->u.split.arms[j].name, a->name))
			return fail_at(c, at, "%s: a second arm named '%.64s'", what, a->name);
	jv w = get(item, "weight"), wp = pos_of(ip, "weight"), h = get(item, "holdout"),
	   hp = pos_of(ip, "holdout");
	int rc = 0;
	if (jv_is_valid(w)) {
		if (jv_get_kind(w) != JV_KIND_NUMBER)
			rc = fail_at(c, at_of(wp, at), "%s weight: expected a number, not %s", what, kind_of(w));
		else if (!(jv_number_value(w) > 0) || jv_number_value(w) > 1e12)
			rc = fail_at(c, at_of(wp, at), "%s weight: expected a number above 0 (at most 1e12)",
				     what);
		else
			a->weight = jv_number_value(w);
	}
	if (rc == 0 && jv_is_valid(h)) {
		if (jv_get_kind(h) != JV_KIND_TRUE && jv_get_kind(h) != JV_KIND_FALSE)
			rc = fail_at(c, at_of(hp, at), "%s holdout: expected true or false, not %s", what,
				     kind_of(h));
		a->holdout = jv_get_kind(h) == JV_KIND_TRUE;
	}
	jv_free(w), jv_free(wp), jv_free(h), jv_free(hp);
	if (rc == 0)
		rc = opt_ref(c, item, ip, at, "next", what, &a->next);
	return rc;
}

static int compile_split(cc *c, sctx *x)
{
	step *s = x->s;
	jv arms = x->body;
	int n = jv_get_kind(arms) == JV_KIND_ARRAY ? jv_array_length(jv_copy(arms)) : 0;
	if (n == 0)
		return fail_at(c, x->at, "%s: expected a list of arms {name, weight, next}", x->what);
	if (n > JOURNEY_ARMS_MAX)
		return fail_at(c, x->at, "%s: more than %d arms (the limit)", x->what, JOURNEY_ARMS_MAX);
	if (!(s->u.split.arms = calloc((size_t)n, sizeof(jarm))))
		return oom(c);
	s->u.split.narms = n;
	int rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		jv item = jv_array_get(jv_copy(arms), i), ip = jrn_yaml_pos_item(x->pos, i);
		rc = compile_arm(c, x, item, ip, at_of(ip, x->at), i);
		s->u.split.total += s->u.split.arms[i].weight;
		jv_free(item), jv_free(ip);
	}
	return rc;
}

static int compile_update(cc *c, sctx *x)
{
	step *s = x->s;
	jv o = x->body;
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return fail_at(c, x->at, "%s: expected a mapping {set, remove}, not %s", x->what,
			       kind_of(o));
	if (check_keys(c, o, x->pos, x->at, x->what, update_keys) < 0)
		return -1;
	jv set = get(o, "set"), rm = get(o, "remove");
	jv sp = pos_of(x->pos, "set"), rp = pos_of(x->pos, "remove");
	int rc = 0;
	if (!jv_is_valid(set) && !jv_is_valid(rm))
		rc = fail_at(c, x->at, "%s: give set or remove", x->what);
	if (rc == 0 && jv_is_valid(set)) {
		if (jv_get_kind(set) != JV_KIND_OBJECT || !jv_object_length(jv_copy(set)))
			rc = fail_at(c, at_of(sp, x->at), "%s set: expected a mapping {TRAIT: VALUE}",
				     x->what);
		for (int it = rc ? -1 : jv_object_iter(set); rc == 0 && jv_object_iter_valid(set, it);
		     it = jv_object_iter_next(set, it)) {
			jv k = jv_object_iter_key(set, it);
			jrn_err why;
			if (jrn_id_check(jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)),
					 "trait", &why) < 0)
				rc = fail_at(c, at_of(sp, x->at), "%s set: %s", x->what, why.msg);
			jv_free(k);
		}
	}
	if (rc == 0 && jv_is_valid(rm)) {
		if (jv_get_kind(rm) == JV_KIND_STRING)
			rm = JV_ARRAY(rm);
		int n = jv_get_kind(rm) == JV_KIND_ARRAY ? jv_array_length(jv_copy(rm)) : 0;
		if (n == 0)
			rc = fail_at(c, at_of(rp, x->at), "%s remove: expected a list of traits", x->what);
		for (int i = 0; rc == 0 && i < n; i++) {
			jv t = jv_array_get(jv_copy(rm), i), tp = jrn_yaml_pos_item(rp, i);
			char *id = id_of(c, t, at_of(tp, at_of(rp, x->at)), "trait");
			rc = id ? 0 : -1;
			free(id);
			jv_free(t), jv_free(tp);
		}
	}
	jv_free(sp), jv_free(rp);
	s->u.update.set = jv_is_valid(set) ? set : jv_invalid();
	s->u.update.remove = jv_is_valid(rm) ? rm : jv_invalid();
	return rc;
}

/* Which kind the step (a mapping, borrowed) is: -1 with e when none or
 * two. */
static int step_kind_of(cc *c, jv o, jv pos, jrn_yaml_at at, const char *what)
{
	int kind = -1;
	bool given[NSTEP_KINDS] = {false};
	for (int it = jv_object_iter(o); jv_object_iter_valid(o, it); it = jv_object_iter_next(o, it)) {
		jv key = jv_object_iter_key(o, it);
		for (int k = 0; k < NSTEP_KINDS; k++)
			if (!strcmp(jv_string_value(key), step_kind_names[k]))
				given[k] = true;
		jv_free(key);
	}
	for (int k = 0; k < NSTEP_KINDS; k++) {
		if (!given[k])
			continue;
		if (kind >= 0)
			return fail_at(c, at, "%s: give one of %s and %s, not both (one kind a step)", what,
				       step_kind_names[kind], step_kind_names[k]);
		kind = k;
	}
	/* none: a key near a kind's name is that kind misspelt ("wiat") */
	jv key = jv_invalid();
	const char *near = kind < 0 ? journey_near_key(o, step_kind_names, NSTEP_KINDS, &key) : NULL;
	jrn_yaml_at ka = near ? jrn_yaml_pos_key_at(pos, key) : at;
	int rc = near ? fail_at(c, ka.line ? ka : at, "%s: unknown key '%.64s' (did you mean '%s'?)",
				what, jv_string_value(key), near)
		 : kind < 0 ? fail_at(c, at, "%s: no kind (action, wait, wait_for, branch, split, goal,"
				      " exit, update or webhook)", what) : kind;
	jv_free(key);
	return rc;
}

/* Step i: its id was set by the first pass; here its kind. */
static int compile_step(cc *c, jv o, jv pos, int i)
{
	step *s = &c->J->steps[i];
	sctx x = {.s = s, .index = i, .at = {s->line, s->col}};
	snprintf(x.name, sizeof x.name, "step:%.64s", s->id);
	int kind = step_kind_of(c, o, pos, x.at, x.name);
	if (kind < 0)
		return -1;
	s->kind = (enum step_kind)kind;
	if (kind == S_ACTION || kind == S_WEBHOOK)
		s->u.action.fields = jv_invalid(), s->u.action.text = NULL;
	else if (kind == S_UPDATE)
		s->u.update.set = s->u.update.remove = jv_invalid();
	snprintf(x.what, sizeof x.what, "step '%.64s' %s", s->id, step_kind_names[kind]);
	char sw[100];
	snprintf(sw, sizeof sw, "step '%.64s'", s->id);
	if (check_keys(c, o, pos, x.at, sw, step_keys) < 0)
		return -1;
	bool linear = kind != S_BRANCH && kind != S_EXIT && kind != S_SPLIT;
	jv np = pos_of(pos, "next");
	jrn_yaml_at na = at_of(np, x.at);
	jv_free(np);
	if (has(o, "next") && !linear)
		return fail_at(c, na, "%s: next does not apply (%s)", x.what,
			       kind == S_EXIT ? "the enrollment ends here" :
			       kind == S_BRANCH ? "give then and else" : "give each arm its next");
	if (kind == S_EXIT)
		s->next = JOURNEY_END;
	if (opt_ref(c, o, pos, x.at, "next", sw, &s->next) < 0)
		return -1;
	x.body = get(o, step_kind_names[kind]);
	x.pos = pos_of(pos, step_kind_names[kind]);
	x.at = at_of(x.pos, x.at);
	int rc = 0;
	switch (s->kind) {
	case S_ACTION: rc = action_fields(c, &x, action_keys, false); break;
	case S_WEBHOOK: rc = action_fields(c, &x, webhook_keys, true); break;
	case S_WAIT: rc = compile_wait(c, &x); break;
	case S_WAIT_FOR: rc = compile_wait_for(c, &x, false); break;
	case S_GOAL: rc = compile_wait_for(c, &x, true); break;
	case S_BRANCH: rc = compile_branch(c, &x); break;
	case S_SPLIT: rc = compile_split(c, &x); break;
	case S_EXIT:
		if (jv_get_kind(x.body) == JV_KIND_TRUE)
			rc = !(s->u.exit.reason = strdup("exit")) ? oom(c) : 0;
		else
			rc = (s->u.exit.reason = text_of(c, x.body, x.at, x.what)) ? 0 : -1;
		break;
	case S_UPDATE: rc = compile_update(c, &x); break;
	default: break;
	}
	jv_free(x.body), jv_free(x.pos);
	return rc;
}

/* ---- the journey ----------------------------------------------------------- */

/* First pass over steps: each a mapping, its id (given or "1", "2"...),
 * unique, its place and its default next (the step below). */
static int step_ids(cc *c, jv steps, jv pos, jrn_yaml_at at)
{
	journey *J = c->J;
	int n = jv_get_kind(steps) == JV_KIND_ARRAY ? jv_array_length(jv_copy(steps)) : -1;
	if (n < 0)
		return fail_at(c, at, "steps: expected a list of steps, not %s", kind_of(steps));
	if (n == 0)
		return fail_at(c, at, "steps: the list is empty (a journey needs a step)");
	if (n > JOURNEY_STEPS_MAX)
		return fail_at(c, at, "steps: more than %d steps (the limit)", JOURNEY_STEPS_MAX);
	if (!(J->steps = calloc((size_t)n, sizeof(step))))
		return oom(c);
	J->nsteps = n;
	int rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		step *s = &J->steps[i];
		jv item = jv_array_get(jv_copy(steps), i), ip = jrn_yaml_pos_item(pos, i);
		jrn_yaml_at sa = at_of(ip, at);
		s->line = sa.line, s->col = sa.col;
		s->kind = NSTEP_KINDS; /* none yet: journey_free frees by kind */
		s->next = i + 1 < n ? i + 1 : JOURNEY_END;
		jv id = get(item, "id");
		if (jv_get_kind(item) != JV_KIND_OBJECT) {
			rc = fail_at(c, sa, "step %d: expected a mapping (action, wait, wait_for, branch, "
				     "split, goal, exit, update or webhook), not %s", i + 1, kind_of(item));
		} else if (jv_is_valid(id)) {
			jv idp = pos_of(ip, "id");
			char what[32];
			snprintf(what, sizeof what, "step %d id", i + 1);
			if (!(s->id = id_of(c, id, at_of(idp, sa), what)))
				rc = -1;
			else if (!strcmp(s->id, "end"))
				rc = fail_at(c, at_of(idp, sa), "%s: 'end' is reserved (next: end ends the "
					     "enrollment)", what);
			jv_free(idp);
		} else {
			char buf[16];
			snprintf(buf, sizeof buf, "%d", i + 1);
			if (!(s->id = strdup(buf)))
				rc = oom(c);
		}
		for (int j = 0; rc == 0 && j < i; j++)
			if (!strcmp(J->steps[j].id, s->id))
				rc = fail_at(c, sa, "step %d: a second step with id '%.64s' (the first is at "
					     "line %d)", i + 1, s->id, J->steps[j].line);
		jv_free(id), jv_free(item), jv_free(ip);
	}
	return rc;
}

static const char *const exit_keys[] = {"event", "where", NULL};
static const char *const jgoal_keys[] = {"event", "where", "within", NULL};

/* exit: [{event, where}...] (or one mapping). */
static int compile_exits(cc *c, jv v, jv pos, jrn_yaml_at at)
{
	journey *J = c->J;
	if (jv_get_kind(v) == JV_KIND_OBJECT || jv_get_kind(v) == JV_KIND_STRING) {
		jv list = JV_ARRAY(jv_copy(v));
		jv lp = jrn_yaml_pos_list_of(jv_copy(pos));
		int rc = compile_exits(c, list, lp, at);
		jv_free(list), jv_free(lp);
		return rc;
	}
	int n = jv_get_kind(v) == JV_KIND_ARRAY ? jv_array_length(jv_copy(v)) : 0;
	if (n == 0)
		return fail_at(c, at, "exit: expected a list of {event, where}");
	if (n > JOURNEY_EVENTS_MAX)
		return fail_at(c, at, "exit: more than %d events (the limit)", JOURNEY_EVENTS_MAX);
	if (!(J->exits = calloc((size_t)n, sizeof(jevent))))
		return oom(c);
	int rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		jv item = jv_array_get(jv_copy(v), i), ip = jrn_yaml_pos_item(pos, i);
		char what[32], name[32];
		snprintf(what, sizeof what, "exit %d", i + 1);
		snprintf(name, sizeof name, "exit:%d", i + 1);
		J->nexits = i + 1;
		J->exits[i].next = JOURNEY_END;
		if (jv_get_kind(item) == JV_KIND_STRING) /* exit: [order.completed] */
			item = jv_object_set(jv_object(), jv_string("event"), item);
		rc = compile_event(c, item, ip, at_of(ip, at), name, what, exit_keys, &J->exits[i]);
		jv_free(item), jv_free(ip);
	}
	return rc;
}

static int compile_reentry(cc *c, jv v, jrn_yaml_at at)
{
	journey *J = c->J;
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "";
	J->reentry_ms = 0;
	if (!strcmp(s, "never"))
		J->reentry = RE_NEVER;
	else if (!strcmp(s, "always"))
		J->reentry = RE_ALWAYS;
	else if (!strcmp(s, "restart"))
		J->reentry = RE_RESTART;
	else {
		jrn_err why;
		J->reentry = RE_AFTER;
		if (duration_of(v, &J->reentry_ms, &why) < 0)
			return fail_at(c, at, "reentry: expected never, always, restart or a duration "
				       "such as 7d (%s)", why.msg);
		if (J->reentry_ms > JOURNEY_DURATION_MAX)
			return fail_at(c, at, "reentry: longer than 5 years (the limit)");
	}
	return 0;
}

static int compile_migrate(cc *c, jv v, jv pos, jrn_yaml_at at)
{
	journey *J = c->J;
	J->migrate_map = jv_invalid();
	if (jv_get_kind(v) == JV_KIND_TRUE || jv_get_kind(v) == JV_KIND_FALSE) {
		J->migrate = jv_get_kind(v) == JV_KIND_TRUE;
		return 0;
	}
	static const char *const keys[] = {"steps", NULL};
	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return fail_at(c, at, "migrate: expected true, false or {steps: {OLD: NEW}}, not %s",
			       kind_of(v));
	if (check_keys(c, v, pos, at, "migrate", keys) < 0)
		return -1;
	J->migrate = true;
	jv m = get(v, "steps"), mp = pos_of(pos, "steps");
	jrn_yaml_at ma = at_of(mp, at);
	int rc = 0;
	if (jv_get_kind(m) != JV_KIND_OBJECT)
		rc = fail_at(c, ma, "migrate steps: expected a mapping {OLD: NEW} of step ids");
	for (int it = rc ? -1 : jv_object_iter(m); rc == 0 && jv_object_iter_valid(m, it);
	     it = jv_object_iter_next(m, it)) {
		jv k = jv_object_iter_key(m, it), val = jv_object_iter_value(m, it);
		jv vp = jrn_yaml_pos_value(mp, k);
		jrn_yaml_at ka = jrn_yaml_pos_key_at(mp, k);
		char *old = id_of(c, k, ka.line ? ka : ma, "migrate steps");
		int slot;
		char what[120];
		snprintf(what, sizeof what, "migrate steps %.64s", old ? old : "");
		if (!old || add_ref(c, val, at_of(vp, ma), what, &slot) < 0)
			rc = -1;
		else if (jv_get_kind(val) == JV_KIND_NUMBER) /* kept as text, as ids are */
			val = jv_string(J->steps[slot].id);
		if (rc == 0 && slot == JOURNEY_END)
			rc = fail_at(c, at_of(vp, ma), "%s: a step of this version, not end", what);
		free(old);
		jv_free(vp), jv_free(k), jv_free(val);
	}
	if (rc == 0)
		J->migrate_map = jv_copy(m);
	jv_free(m), jv_free(mp);
	return rc;
}

/* Compiles every queued condition into J->rules and sets the slots; a
 * condition that does not compile is named at its place. */
static int compile_rules(cc *c)
{
	journey *J = c->J;
	jrn_err why;
	J->rules = jrn_rule_compile(jv_copy(c->defs), c->file, &why);
	if (!J->rules) {
		for (int i = 0; i < c->nrules; i++) {
			jrn_err one;
			jrn_rules *r = jrn_rule_compile_one(c->rules[i].name, jv_copy(c->rules[i].rule), &one);
			if (r) {
				jrn_rule_free(r);
				continue;
			}
			char pre[200];
			int n = snprintf(pre, sizeof pre, "segment '%s'", c->rules[i].name);
			const char *msg = one.msg;
			if (n > 0 && (size_t)n < sizeof pre && !strncmp(msg, pre, (size_t)n))
				msg += n + (msg[n] == ',' || msg[n] == ':') + (msg[n + 1] == ' ');
			return fail_at(c, c->rules[i].at, "%s: %s", c->rules[i].label, msg);
		}
		return jrn_fail(c->e, "%s: %s", c->file, why.msg);
	}
	int n = jrn_rule_count(J->rules);
	if (n && !(J->rule_at = calloc((size_t)n, sizeof *J->rule_at)))
		return oom(c);
	for (int i = 0; i < c->nrules; i++) {
		int k = *c->rules[i].slot = jrn_rule_find(J->rules, c->rules[i].name);
		const char *nm = c->rules[i].name;
		size_t len = strlen(nm);
		if (k < 0)
			continue;
		J->rule_at[k] = (jrule_at){c->rules[i].at.line, c->rules[i].at.col,
					   (len > 8 && !strcmp(nm + len - 8, ":profile")) ||
						   (len > 3 && !strcmp(nm + len - 3, ":if"))};
	}
	return 0;
}

/* A journey's definition (def and pos borrowed) into c->J. */
static int compile_def(cc *c, jv def, jv pos)
{
	journey *J = c->J;
	jrn_yaml_at at = jrn_yaml_pos_at(pos); /* 0, 0 for an entry of jrn.yaml */
	if (jv_get_kind(def) != JV_KIND_OBJECT)
		return fail_at(c, at, "a journey is a mapping (name, trigger, steps...), not %s",
			       kind_of(def));
	if (check_keys(c, def, pos, at, "the journey", top_keys) < 0)
		return -1;
	char *name = NULL;
	if (opt_string(c, def, pos, at, "name", "journey", true, &name) < 0 ||
	    opt_string(c, def, pos, at, "description", "journey", false, &J->description) < 0)
		return -1;
	if (name) {
		free(J->name);
		J->name = name;
	}
	jv steps = get(def, "steps"), sp = pos_of(pos, "steps");
	int rc = jv_is_valid(steps) ? step_ids(c, steps, sp, at_of(sp, at))
				    : fail_at(c, at, "no steps (a journey needs a list of steps)");
	jv trig = get(def, "trigger"), tp = pos_of(pos, "trigger");
	if (rc == 0)
		rc = jv_is_valid(trig) ? compile_trigger(c, trig, tp, at_of(tp, at))
				       : fail_at(c, at, "no trigger (event, segment, rfm, stage, schedule "
						 "or at)");
	jv_free(trig), jv_free(tp);
	for (int i = 0; rc == 0 && i < J->nsteps; i++) {
		jv item = jv_array_get(jv_copy(steps), i), ip = jrn_yaml_pos_item(sp, i);
		rc = compile_step(c, item, ip, i);
		jv_free(item), jv_free(ip);
	}
	jv_free(steps), jv_free(sp);
	J->reentry = RE_AFTER;
	J->reentry_ms = JOURNEY_REENTRY_DEFAULT;
	J->migrate_map = jv_invalid();
	static const char *const rest[] = {"reentry", "exit", "goal", "migrate"};
	for (int k = 0; rc == 0 && k < 4; k++) {
		jv v = get(def, rest[k]), vp = pos_of(pos, rest[k]);
		jrn_yaml_at va = at_of(vp, at);
		if (!jv_is_valid(v))
			;
		else if (k == 0)
			rc = compile_reentry(c, v, va);
		else if (k == 1)
			rc = compile_exits(c, v, vp, va);
		else if (k == 2) {
			J->has_goal = true;
			J->goal.next = JOURNEY_END;
			rc = compile_event(c, v, vp, va, "goal", "goal", jgoal_keys, &J->goal);
			if (rc == 0)
				rc = opt_within(c, v, vp, va, "goal", &J->goal_within);
		} else
			rc = compile_migrate(c, v, vp, va);
		jv_free(v), jv_free(vp);
	}
	return rc == 0 ? compile_rules(c) : -1;
}

/* A new journey named after file ("carts/abandoned.yaml": "abandoned"). */
static journey *journey_new(const char *file, const char *name)
{
	journey *J = calloc(1, sizeof *J);
	if (!J)
		return NULL;
	J->trig.where = J->trig.profile = -1;
	J->trig.kind = T_NONE;
	J->goal.rule = -1;
	J->migrate_map = jv_invalid();
	if (file && !(J->file = strdup(file)))
		goto fail;
	if (name) {
		J->name = strdup(name);
	} else {
		const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
		size_t n = strlen(base);
		if (n > 5 && !strcmp(base + n - 5, ".yaml"))
			n -= 5;
		else if (n > 4 && !strcmp(base + n - 4, ".yml"))
			n -= 4;
		J->name = strndup(base, n);
	}
	if (!J->name)
		goto fail;
	return J;
fail:
	journey_free(J);
	return NULL;
}

static void cc_free(cc *c)
{
	for (int i = 0; i < c->nrules; i++) {
		free(c->rules[i].name);
		free(c->rules[i].label);
		jv_free(c->rules[i].rule);
	}
	free(c->rules);
	jv_free(c->defs);
}

/* The line and column of byte off of src (columns count characters). */
static jrn_yaml_at where_in(const char *src, size_t off)
{
	jrn_yaml_at a = {1, 1};
	for (size_t i = 0; i < off; i++) {
		if (src[i] == '\n')
			a.line++, a.col = 1;
		else if (((unsigned char)src[i] & 0xC0) != 0x80)
			a.col++;
	}
	return a;
}

journey *journey_compile(const char *src, size_t len, const char *file, jrn_err *e)
{
	if (len > JOURNEY_SOURCE_MAX) {
		jrn_fail(e, "%s: larger than %d bytes (the limit)", file, JOURNEY_SOURCE_MAX);
		return NULL;
	}
	size_t bad = jrn_utf8_invalid_at(src, len);
	if (bad < len) {
		jrn_yaml_at a = where_in(src, bad);
		jrn_fail(e, "%s:%d:%d: invalid UTF-8 (byte %zu)", file, a.line, a.col, bad + 1);
		return NULL;
	}
	journey *J = journey_new(file, NULL);
	if (!J || !(J->source = malloc(len + 1)) || jrn_sha256_hex(src, len, J->digest) < 0) {
		journey_free(J);
		jrn_fail(e, "%s: out of memory", file);
		return NULL;
	}
	memcpy(J->source, src, len);
	J->source[len] = 0;
	jrn_yaml_opts yo = {.what = "a journey file"};
	jv pos;
	jv def = jrn_yaml_parse(src, len, file, &yo, &pos, e);
	if (!jv_is_valid(def)) {
		jv_free(pos);
		journey_free(J);
		return NULL;
	}
	cc c = {.J = J, .file = file, .e = e, .defs = jv_object()};
	int rc = compile_def(&c, def, pos);
	cc_free(&c);
	jv_free(def), jv_free(pos);
	if (rc < 0) {
		journey_free(J);
		return NULL;
	}
	return J;
}

journey *journey_compile_jv_at(const char *name, jv def, jv pos, const char *config_file,
				jrn_err *e)
{
	const char *file = config_file ? config_file : "jrn.yaml";
	char prefix[200];
	snprintf(prefix, sizeof prefix, "journeys.%.64s: ", name);
	journey *J = journey_new(NULL, name);
	jrn_buf b = {0};
	jrn_err je;
	if (!J || jrn_json_append(&b, jv_copy(def), JRN_JSON_SORTED, &je) < 0 ||
	    jrn_sha256_hex(b.p, b.len, J->digest) < 0) {
		jrn_buf_free(&b);
		journey_free(J);
		jrn_fail(e, "%s: %sout of memory", file, prefix);
		return NULL;
	}
	J->source = b.p; /* the buffer's memory, NUL-terminated */
	cc c = {.J = J, .file = file, .prefix = prefix, .e = e, .defs = jv_object()};
	int rc = compile_def(&c, def, pos);
	cc_free(&c);
	if (rc == 0 && strcmp(J->name, name))
		rc = jrn_fail(e, "%s: %sname: '%.64s' differs from the key (an entry is named by its "
			      "key)", file, prefix, J->name);
	if (rc < 0) {
		journey_free(J);
		return NULL;
	}
	return J;
}

static void free_events(jevent *ev, int n)
{
	for (int i = 0; i < n; i++)
		free(ev[i].type);
	free(ev);
}

void journey_free(journey *J)
{
	if (!J)
		return;
	for (int i = 0; i < J->nsteps; i++) {
		step *s = &J->steps[i];
		free(s->id);
		switch (s->kind) {
		case S_ACTION:
		case S_WEBHOOK: jv_free(s->u.action.fields); free(s->u.action.text); break;
		case S_WAIT: free(s->u.wait.zone); break;
		case S_WAIT_FOR:
		case S_GOAL: free_events(s->u.wait_for.events, s->u.wait_for.nevents); break;
		case S_SPLIT:
			for (int k = 0; k < s->u.split.narms; k++)
				free(s->u.split.arms[k].name);
			free(s->u.split.arms);
			break;
		case S_EXIT: free(s->u.exit.reason); break;
		case S_UPDATE:
			jv_free(s->u.update.set);
			jv_free(s->u.update.remove);
			break;
		default: break;
		}
	}
	free(J->steps);
	free(J->name), free(J->file), free(J->source), free(J->description);
	free(J->trig.event), free(J->trig.stage), free(J->trig.cron), free(J->trig.zone);
	free(J->trig.segment);
	free_events(J->exits, J->nexits);
	free(J->goal.type);
	jv_free(J->migrate_map);
	jrn_rule_free(J->rules);
	free(J->rule_at);
	free(J);
}

int journey_step(const journey *J, const char *id)
{
	for (int i = 0; i < J->nsteps; i++)
		if (J->steps[i].id && !strcmp(J->steps[i].id, id))
			return i;
	return -1;
}
