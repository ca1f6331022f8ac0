/*
 * engine.h: the journey engine (engine.c), its SQL (enroll.c), --tick
 * (tick.c) and --explain (explain.c). Private to cmd/jrn-route/. The
 * meaning of every step, trigger and rule is jrn-route(1), ENROLLMENTS;
 * the tables are jrn-state(5) (schema 8).
 *
 * An enrollment rests only where it waits:
 *   - at a wait step: step its id, due_at the end of the wait, no
 *     wait_events; when due it goes on to the step after the wait;
 *   - at a wait_for or goal step: step its id, wait_events the event
 *     types (a JSON array), due_at the end of `within` (NULL: none);
 *     when due it takes the timeout (else / the step below);
 *   - after its last step, held open for the journey's goal: step NULL,
 *     wait_events [the goal's type], due_at the goal window's end; when
 *     due it completes;
 *   - parked after JOURNEY_RUN_MAX steps in one go: step the next step to
 *     run (never a wait: a wait runs, it cannot loop), due_at now + 1
 *     minute; when due that step runs.
 */
#ifndef JRN_ROUTE_ENGINE_H
#define JRN_ROUTE_ENGINE_H

#include "journey.h"

/* An enrollments row as read (enroll.c). Strings owned by the row
 * (enroll_row_free); NULL for SQL NULL. */
typedef struct {
	int64_t id, version, entered_at, updated_at;
	int64_t due_at;             /* INT64_MIN: NULL */
	int64_t ended_at;           /* INT64_MIN: NULL */
	char *journey, *customer, *trigger_key, *trigger_event, *status, *step, *wait_events,
	     *variant, *reason;
} enroll_row;
void enroll_row_free(enroll_row *r);

/* The statements over one state file, each prepared once (enroll.c). */
typedef struct enroll_db enroll_db;
enroll_db *enroll_open(sqlite3 *db, jrn_err *e);
void enroll_close(enroll_db *D);

/* journey_versions. The newest version of name: 1 with *version and
 * digest (65 bytes), 0 none, -1 with e. */
int enroll_version_latest(enroll_db *D, const char *name, int64_t *version, char digest[65],
			  int64_t *created_at, jrn_err *e);
/* Inserts a version row. 0, -1 with e. */
int enroll_version_insert(enroll_db *D, const journey *J, int64_t version, int64_t now,
			  jrn_err *e);
/* The stored source and file of (name, version) into src / file (the
 * caller's buffers, reset first; file empty for jrn.yaml's): 1, 0 none,
 * -1 with e. */
int enroll_version_source(enroll_db *D, const char *name, int64_t version, jrn_buf *src,
			  jrn_buf *file, jrn_err *e);

/* enrollments. */
/* The row of id into *r (enroll_row_free): 1, 0 none, -1 with e. */
int enroll_get(enroll_db *D, int64_t id, enroll_row *r, jrn_err *e);
/* The active enrollment of (journey, customer): its id, 0 none, -1. */
int64_t enroll_active(enroll_db *D, const char *journey, const char *customer, jrn_err *e);
/* The newest entered_at of (journey, customer) into *at: 1, 0 never, -1. */
int enroll_last_entry(enroll_db *D, const char *journey, const char *customer, int64_t *at,
		      jrn_err *e);
/* Is there an enrollment of (journey, customer, trigger_key)? 1, 0, -1. */
int enroll_by_trigger(enroll_db *D, const char *journey, const char *customer, const char *key,
		      jrn_err *e);
/* From now on, remember every (journey, customer, trigger_key) that
 * enroll_insert writes in a filter of fixed size (8 MiB), so that
 * enroll_entry looks a key up only when the filter holds it, and reads
 * the active one and the last entry by their indexes. Only when the
 * state has no enrollment yet and this connection alone writes it
 * (--simulate's private state). 0, -1 out of memory. */
int enroll_keys_track(enroll_db *D);
/* enroll_by_trigger, enroll_active and enroll_last_entry in one
 * statement: *active the active enrollment's id (0: none), *last the
 * newest entered_at when there is one. Bit 1 set: an enrollment with the
 * trigger key exists; bit 2: *last is set. That, or -1 with e. */
int enroll_entry(enroll_db *D, const char *journey, const char *customer, const char *key,
		 int64_t *active, int64_t *last, jrn_err *e);
/* A new active enrollment (step NULL) with its trigger event event[0..elen)
 * (NULL: none): its id, or -1 with e. */
int64_t enroll_insert(enroll_db *D, const char *journey, int64_t version, const char *customer,
		      const char *key, const char *event, size_t elen, int64_t now, jrn_err *e);
/* Writes the moving columns of r (version, status, step, due_at,
 * wait_events, variant, updated_at, ended_at, reason). 0, -1 with e. */
int enroll_update(enroll_db *D, const enroll_row *r, jrn_err *e);
/* The ids of customer's active enrollments, in id order, appended to
 * ids (int64_t, the caller's buffer). The count, or -1 with e. */
int enroll_customer_active(enroll_db *D, const char *customer, jrn_buf *ids, jrn_err *e);
/* As enroll_customer_active, when every enrollment of the state is on a
 * journey named in js (--simulate's private state: only this run's
 * engine enrolls, in loaded journeys): one lookup a journey by the
 * partial index enrollments_active, so the customer's ended enrollments
 * cost nothing. The count, or -1 with e. */
int enroll_customer_active_of(enroll_db *D, const journeys *js, const char *customer,
			      jrn_buf *ids, jrn_err *e);
/* Active enrollments due by now after the cursor (*after_due, *after_id)
 * in (due_at, id) order, at most limit, appended to ids; the cursor moves
 * to the last. Start with INT64_MIN, 0. The count, or -1 with e. */
int enroll_due(enroll_db *D, int64_t now, int64_t *after_due, int64_t *after_id, int limit,
	       jrn_buf *ids, jrn_err *e);
/* --simulate's memo of the earliest due enrollment: enroll_due_watch
 * says what the caller read ((at, id) of the first by due_at, id; 0 and
 * INT64_MAX for none); enroll_due_stale is true from then on once an
 * enroll_update may have changed which one is first (that row written, or
 * another made active and due before it), and before any watch. Only
 * this connection's writes through enroll.c are seen: the caller must be
 * the only writer of enrollments (simulate's private state). */
void enroll_due_watch(enroll_db *D, int64_t id, int64_t at);
bool enroll_due_stale(const enroll_db *D);
/* Active enrollments of journey on a version below version, appended to
 * ids. The count, or -1 with e. */
int enroll_older(enroll_db *D, const char *journey, int64_t version, jrn_buf *ids, jrn_err *e);
/* enrollment_log: a row with the next seq. detail may be NULL. 0, -1. */
int enroll_log(enroll_db *D, int64_t enrollment, int64_t at, const char *step, const char *what,
	       const char *detail, jrn_err *e);
/* Is any active enrollment on another journey or version than the
 * loaded js's current ones (an older version, a journey no longer
 * loaded)? 1, 0, -1 with e. The engine's fast path for events no journey
 * listens to holds only when none is. */
int enroll_others_active(enroll_db *D, const journeys *js, jrn_err *e);
/* journey_schedules: fired_at of journey: 1 with *at, 0 none, -1. */
int enroll_fired_get(enroll_db *D, const char *journey, int64_t *at, jrn_err *e);
int enroll_fired_set(enroll_db *D, const char *journey, int64_t at, jrn_err *e);
/* Every customer a schedule enrolls: segment's members (segment_members),
 * or every customer with a profile when segment is NULL. fn(ctx, id)
 * for each, in id order, from after the id `after` (NULL: the first), at
 * most limit of them. The count, or -1 with e (or fn's -1). */
int enroll_audience(enroll_db *D, const char *segment, const char *after, int limit,
		    int (*fn)(void *ctx, const char *customer), void *ctx, jrn_err *e);

/* The engine (engine.c). */
typedef struct engine engine;

/* Opens the engine over R->db with js (taken: engine_close frees it) into
 * R->eng: the statements, the profile handles. Versions are registered
 * at the first write (engine_versions). 0, -1 with e. */
int engine_open(route_run *R, journeys *js, jrn_err *e);
void engine_close(route_run *R);
/* Registers each journey's version (journey_versions) and migrates older
 * enrollments when it says migrate:, once per run, in R's transaction.
 * 0, -1 with e. */
int engine_versions(route_run *R, jrn_err *e);
/* Advances the active enrollment id when it is (still) due by now: its
 * timeout, the end of its wait, or the parked step. 1 advanced, 0 not
 * due any more, -1 fatal (said). */
int engine_due(route_run *R, int64_t id);
/* Fires the schedule and at triggers whose instants fall in (last firing,
 * now]: the number of enrollments made, or -1 fatal (said). */
int64_t engine_schedules(route_run *R, int64_t now);
/* How many enrollments were left as they were because their version
 * could not be compiled (said on stderr): the run exits 3. */
int engine_troubles(const route_run *R);
/* The journeys the engine runs (borrowed). */
const journeys *engine_journeys(const route_run *R);
/* The enrollment SQL of the engine (borrowed). */
enroll_db *engine_db(const route_run *R);

/* main.c. The journeys of R's run as jrn-route(1) says where they come
 * from: *js (journeys_free), *bad the files refused (said). 0, -1 with e. */
int route_journeys_load(route_run *R, journeys *js, int *bad, jrn_err *e);
/* As route_line, and the decision into *d (*rejected when the gate
 * refused the record instead). 0, or -1 fatal (said). */
int route_action(route_run *R, const jrn_line *ln, decision *d, bool *rejected);
/* Ends the batch: its output written, its transaction committed. 0, or
 * -1 fatal (said). */
int route_batch_end(route_run *R);

#endif
