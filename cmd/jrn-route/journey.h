/*
 * journey.h: a journey file compiled (journey.c), the linter (check.c),
 * cron expressions (cron.c) and the engine that runs enrollments through
 * the steps (engine.c, enroll.c, tick.c). Private to cmd/jrn-route/.
 *
 * The language is jrn-route(1), JOURNEYS; in short:
 *
 *   name: abandoned-cart            # default: the file's name without .yaml
 *   description: ...
 *   trigger: {event: cart.updated, where: RULE, profile: RULE}
 *          | {segment: NAME, on: entered|exited}
 *          | {rfm: changed, to: SEGMENT, from: SEGMENT}
 *          | {stage: awareness|consideration|purchase|retention|advocacy}
 *          | {schedule: "CRON", zone: ZONE, segment: NAME}
 *          | {at: RFC3339, segment: NAME}
 *   reentry: never | always | restart | DURATION     # default 24h
 *   exit: [{event: TYPE, where: RULE}, ...]          # at any point
 *   goal: {event: TYPE, where: RULE, within: DURATION}
 *   migrate: true | {steps: {OLD: NEW}}               # move older versions
 *   steps:
 *     - id: ID                                        # default: "1", "2", ...
 *       next: ID | end                                # default: the step below
 *       action: {channel, template, campaign, offer, priority, subject, ...}
 *     - wait: DURATION | {until: "HH:MM", days: [mon..sun], zone: customer|ZONE}
 *     - wait_for: {event, where, within, then: ID, else: ID}
 *                | {any: [{event, where, then}], within, else: ID}
 *     - branch: {if: RULE, then: ID, else: ID}
 *     - split: [{name, weight, next: ID, holdout: true}, ...]
 *     - goal: {event, where, within}        # converted on the event, else next
 *     - exit: REASON                        # ends here, status exited
 *     - update: {set: {TRAIT: VALUE}, remove: [TRAIT]}
 *     - webhook: {url, body, campaign}
 *
 * Conditions are jrn-segment's rule language (lib/rules.h). A trigger's
 * `where` and an event's `where` read the event record; a trigger's
 * `profile` and a branch's `if` read the customer's stored profile
 * (lib/profile-read.h) with the enrollment's trigger event under "event".
 */
#ifndef JRN_ROUTE_JOURNEY_H
#define JRN_ROUTE_JOURNEY_H

#include "jrn-route.h"
#include "rules.h"

/* Bounds, each named in its message and in jrn-route(1). */
#define JOURNEY_STEPS_MAX 1000   /* steps of one journey */
#define JOURNEY_RUN_MAX 100      /* steps one enrollment may take in one go
				  * (a loop without a wait stops there) */
#define JOURNEY_END (-1)         /* a step index: the enrollment ends */
#define JOURNEY_SOURCE_MAX (1 << 20) /* bytes of a journey file (1 MiB) */
#define JOURNEY_ID_MAX 128       /* bytes of a name, step id, event type,
				  * arm name, template, campaign, offer */
#define JOURNEY_EVENTS_MAX 100   /* events of a wait_for any: or of exit: */
#define JOURNEY_ARMS_MAX 100     /* arms of a split */
#define JOURNEY_DURATION_MAX (INT64_C(5) * 366 * 86400000) /* any duration:
				  * 5 years */
#define JOURNEY_REENTRY_DEFAULT (INT64_C(24) * 3600000) /* reentry: 24h */

enum step_kind {
	S_ACTION, S_WAIT, S_WAIT_FOR, S_BRANCH, S_SPLIT, S_GOAL, S_EXIT, S_UPDATE, S_WEBHOOK,
	NSTEP_KINDS
};
extern const char *const step_kind_names[NSTEP_KINDS];

/* An event a journey listens for: its type and a condition on it. */
typedef struct {
	char *type;              /* "order.completed" */
	int rule;                /* index in journey.rules, -1: none */
	int next;                /* wait_for: the step it leads to (JOURNEY_END, or
				  * the step below when not given) */
} jevent;

/* A split's arm. */
typedef struct {
	char *name;              /* "A"; the variant recorded */
	double weight;           /* > 0 */
	bool holdout;            /* recorded, not messaged: its actions are
				  * suppressed with reason "holdout" */
	int next;
} jarm;

typedef struct {
	enum step_kind kind;
	char *id;
	int line, col;           /* where the step starts in its file */
	int next;                /* the step after it (index; JOURNEY_END) */
	union {
		struct {         /* S_ACTION, S_WEBHOOK */
			jv fields;       /* the action's members as written (an
					  * object, owned): actionType set from
					  * channel, campaignId from campaign */
			char *text;      /* fields as jrn_json_append prints
					  * them, made when compiled (owned) */
			size_t len;
			int channel;     /* enum chan */
			bool transactional;
		} action;
		struct {         /* S_WAIT */
			int64_t ms;      /* a duration; 0 when until is used */
			int until;       /* minute of the local day, -1: none */
			unsigned days;   /* bit 0 Sunday .. bit 6 Saturday; 0: any */
			char *zone;      /* NULL: the customer's (else policy.timeZone) */
		} wait;
		struct {         /* S_WAIT_FOR, S_GOAL */
			jevent *events;
			int nevents;
			int64_t within;  /* ms; 0: none (the linter warns) */
			int timeout_next; /* else: (wait_for) / next (goal) */
		} wait_for;
		struct {         /* S_BRANCH */
			int rule;
			int then, otherwise;
		} branch;
		struct {         /* S_SPLIT */
			jarm *arms;
			int narms;
			double total;
		} split;
		struct {         /* S_EXIT */
			char *reason;
		} exit;
		struct {         /* S_UPDATE */
			jv set;          /* {trait: value} (owned), or invalid */
			jv remove;       /* [trait] (owned), or invalid */
		} update;
	} u;
} step;

enum trigger_kind { T_EVENT, T_SEGMENT, T_RFM, T_STAGE, T_SCHEDULE, T_AT, T_NONE };

typedef struct {
	enum trigger_kind kind;
	char *event;             /* T_EVENT; T_SEGMENT "segment.entered" or
				  * "segment.exited"; T_RFM "rfm.segment.changed";
				  * T_STAGE NULL (a record's state.journeyStage) */
	int where;               /* rule on the event, -1: none (T_SEGMENT and
				  * T_RFM compile theirs into it) */
	int profile;             /* rule on the profile, -1: none */
	char *stage;             /* T_STAGE */
	char *cron;              /* T_SCHEDULE, checked by cron_parse */
	char *zone;              /* T_SCHEDULE: NULL is policy.timeZone */
	int64_t at;              /* T_AT, ms */
	char *segment;           /* T_SCHEDULE, T_AT: who is enrolled (NULL:
				  * every customer with a profile) */
} trigger;

enum reentry_kind { RE_NEVER, RE_ALWAYS, RE_RESTART, RE_AFTER };

/* Where a condition is written, and whether it reads the profile (a
 * trigger's profile:, a branch's if:) or an event (every where:). */
typedef struct {
	int line, col;           /* 0, 0: a jrn.yaml entry (no positions) */
	bool profile;
} jrule_at;

typedef struct journey {
	char *name;
	char *file;              /* the file it came from, NULL: jrn.yaml */
	char digest[65];         /* SHA-256 (hex) of its source text */
	char *source;            /* the source text (the file's bytes, or the
				  * JSON of its jrn.yaml entry): stored in
				  * journey_versions */
	int64_t version;         /* set by the engine from journey_versions; 0
				  * until then */
	char *description;
	trigger trig;
	enum reentry_kind reentry;
	int64_t reentry_ms;      /* RE_AFTER */
	jevent *exits;
	int nexits;
	bool has_goal;
	jevent goal;             /* journey-level goal (goal.next unused) */
	int64_t goal_within;
	bool migrate;            /* migrate: given */
	jv migrate_map;          /* {old: new} (owned), or invalid */
	step *steps;
	int nsteps;
	jrn_rules *rules;        /* every condition, one named rule each */
	jrule_at *rule_at;       /* per rule index of rules: where it is written
				  * and what it reads (for the linter) */
} journey;

/* A set of journeys: the files of a directory and jrn.yaml's journeys:. */
typedef struct {
	journey **v;
	int n;
} journeys;

/* Compiles the source text src (len bytes, YAML; borrowed; file names it
 * in messages and, without .yaml/.yml, is the default name) into a journey
 * (the caller's, to journey_free), or NULL with e as "FILE:LINE:COL: why"
 * ("FILE: why" for a whole-file error: larger than JOURNEY_SOURCE_MAX).
 * Invalid UTF-8 is refused at its place; YAML's own caps (lib/yaml.h:
 * aliases, depth) apply. Every condition is compiled (jrn_rule_compile,
 * relative times against jrn_now()) into J->rules, never NULL on success,
 * named "trigger:where", "trigger:profile", "exit:N:where", "goal:where",
 * "step:ID:if", "step:ID:where", "step:ID:any:N:where". */
journey *journey_compile(const char *src, size_t len, const char *file, jrn_err *e);
/* Reads the file at path (at most JOURNEY_SOURCE_MAX bytes) and compiles
 * it: as journey_compile, or NULL with "PATH: strerror" in e. */
journey *journey_load_file(const char *path, jrn_err *e);
/* Compiles a jrn.yaml journeys: entry (def borrowed; name its key, which
 * a name: member must equal). The source is def's canonical JSON (sorted
 * keys). Errors name config_file (NULL: "jrn.yaml") and, read again from
 * that file, the line and column; else "FILE: journeys.NAME: why". */
journey *journey_compile_jv(const char *name, jv def, const char *config_file, jrn_err *e);
/* The same with the entry's position tree pos (borrowed; lib/yaml.h, the
 * value of journeys.NAME in config_file read again; jv_null(): none), so
 * that its steps and conditions have their lines and columns for the
 * linter too. */
journey *journey_compile_jv_at(const char *name, jv def, jv pos, const char *config_file,
				jrn_err *e);
void journey_free(journey *J);
/* The word of list (NULL-ended, borrowed) closest to s by edit distance,
 * ignoring ASCII case, when close enough to be a typo (at most a third of
 * its length, at least 1, as jrn.yaml's unknown keys); else NULL. */
const char *journey_suggest(const char *s, const char *const *list);
/* The first key of mapping o (borrowed) that journey_suggest finds near
 * one of names[0..n) (no list end needed), that name, with the key into
 * *key (the caller frees it); NULL (and *key invalid) when none is. */
const char *journey_near_key(jv o, const char *const *names, size_t n, jv *key);
/* The index of step id in J, or -1. */
int journey_step(const journey *J, const char *id);

/* Loads every journey: each DIR/ *.yaml and *.yml (not hidden) in byte
 * order of their names (dir NULL: none), then the entries of config's
 * journeys: (config borrowed; the key dir skipped; config_file for
 * messages, may be NULL). A file with errors is said ("FILE:LINE:COL:
 * why"; with errs NULL on stderr as "jrn-route: ...", else appended to
 * errs, a line each), counted in *bad and left out; the others load. Two
 * journeys with one name: the second is an error the same way. 0 with
 * *out (the caller's, journeys_free), -1 with e when DIR cannot be read at
 * all or memory runs out. */
int journeys_load(const char *dir, jv config, const char *config_file, journeys *out, int *bad,
		  jrn_buf *errs, jrn_err *e);
void journeys_free(journeys *js);
/* The journeys' folder by the rule of jrn-route(1): flag (--journeys),
 * else $JRN_JOURNEYS, else config journeys.dir (relative to config_file's
 * folder), else ./journeys when it is a folder, else NULL (no journeys).
 * *owned is set to what the caller must free (or NULL). */
const char *journeys_dir(const char *flag, jv config, const char *config_file, char **owned);

/* Cron expressions (cron.c): five fields, minute hour day-of-month month
 * day-of-week, with lists, ranges, steps, names (jan, mon) and @daily,
 * @weekly, @monthly, @hourly; day-of-month and day-of-week both given
 * means either (Vixie cron, crontab(5)). */
typedef struct cron_expr cron_expr;
/* NULL with e naming the field when text is not one. */
cron_expr *cron_parse(const char *text, jrn_err *e);
/* The first instant (ms) strictly after `after` that the expression
 * names in zone's local time, or INT64_MAX when there is none within
 * five years. A local time skipped by a DST change fires at the first
 * instant after the gap; one repeated fires once (the first). */
int64_t cron_next(const cron_expr *c, const char *zone, int64_t after);
void cron_free(cron_expr *c);

/* The linter (check.c): warnings and errors of J on stderr-ready lines in
 * out ("FILE:LINE:COL: warning: ..."); db (may be NULL) for stranded
 * enrollments of older versions. Returns the number of errors. */
int journey_lint(const journey *J, route_run *R, sqlite3 *db, jrn_buf *out);
/* The same, counting warnings in *warnings too (may be NULL). */
int journey_lint_counted(const journey *J, route_run *R, sqlite3 *db, jrn_buf *out,
			 int *warnings);

#endif
