/* simulate.c: jrn-route --simulate (jrn-route(1), SIMULATION): events
 * replayed through the journeys and the gate with the clock stepping to
 * each event's time, against a private temporary state (SQLite's "" database:
 * an unnamed file under the temporary directory, deleted on close, held in
 * a bounded page cache, so memory stays flat in the input); the real state file, when
 * there is one, only read (attached read-only) for what the customers
 * are: profiles, identities and merges, consent and suppressions, scores,
 * segment memberships, stored events and erasures. Nothing is written to
 * it: it is not even opened for writing.
 *
 * The order of one run:
 *   - simulate_db_open (called by main.c's setup instead of jrn_db_open):
 *     "" (a temporary database) migrated to JRN_SCHEMA_VERSION, the read tables dropped,
 *     the state file ATTACHed read-only as "st" (unqualified names then
 *     resolve to it, SQLite's name resolution: main, then attached);
 *     and a second "" for the gate's decisions alone (R->sdb: its
 *     route_decisions and route_budgets; the profiles' time zones are
 *     still read through the first). main.c then makes the gate's store
 *     private (store_private: the sends' keys claimed in memory, up to
 *     PRIV_MAX, the rest in its route_send_keys; nothing
 *     else reads the memory state) and writes it behind (store_behind: a
 *     thread of its own inserts the decisions while this one runs the
 *     journeys, each on its own connection, so neither waits for the
 *     other's SQLite lock; a read of a decision still queued waits for
 *     it, as in the gate);
 *   - the journeys loaded as for the gate (main.c route_journeys_load),
 *     their versions registered in the memory state;
 *   - each input line: the clock first catches up with its time (every
 *     enrollment due, every deferred action whose time came and every
 *     schedule instant, in time order, each at its own instant; as
 *     --tick would at that instant), then the line goes through
 *     route_line as in the gate; events do not come out, only actions;
 *   - at the end, the same catching up to --now (default: the last
 *     event's time).
 * All of it is one transaction of the memory state, committed at the end
 * (simulate_flush writes each batch's output without a commit), so the
 * attached state file is read as one snapshot.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"

#define SIM_SCHEMA "st" /* the attached state file */

/* The tables read from the state file: what lib/profile-read.c,
 * lib/profile.c (jrn_profile_resolve), lib/reach.c, lib/privacy.c and the
 * rules' event leaves read. Dropped from the memory state, children first
 * (consent refers to events). Everything else (the gate's decisions,
 * enrollments, the ledger) lives in memory and starts empty. */
static const char *const read_tables[] = {
	"consent", "suppressions", "events", "profiles", "identities", "merges",
	"scores", "rfm_snapshots", "segment_members", "erasures",
};

/* path as a SQLite URI (https://sqlite.org/uri.html): "file:", the path
 * with every byte but unreserved characters and '/' percent-encoded, and
 * "?mode=ro". Into out (reset first); 0, -1 out of memory. */
static int ro_uri(const char *path, jrn_buf *out)
{
	jrn_buf_reset(out);
	jrn_buf_adds(out, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			jrn_buf_addc(out, (char)*p);
		else
			jrn_buf_addf(out, "%%%02X", *p);
	}
	return jrn_buf_adds(out, "?mode=ro");
}

/* The attached file's schema version into *v: 0, -1 with e. */
static int attached_version(sqlite3 *db, int *v, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA " SIM_SCHEMA ".user_version", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	return 0;
}

/* A memory state's database into *out: "", a private temporary database
 * on disk (https://sqlite.org/inmemorydb.html, "Temporary Databases"),
 * migrated as a state file is, its pages in jrn_db_open's bounded cache
 * (cache_size) and spilled to its file past it (":memory:" held every
 * enrollment of the run: 592 MB at 1M events). serialized: for a
 * connection that two threads use (store_behind's). 0, -1 with e. */
static int memory_open(route_run *R, bool serialized, sqlite3 **out, jrn_err *e)
{
	sqlite3 *db;
	if ((serialized ? jrn_db_open_serialized : jrn_db_open)("", R->opts.busy_ms, &db, e) < 0)
		return -1;
	/* small pages for a state that is only inserted into and looked up
	 * by key (a state file's 32 KiB pages favour its bulk scans): the
	 * shipped journeys over 30,000 events took 10 % less CPU */
	jrn_err why0;
	/* a throwaway, deleted on close and never read again: no sync, and
	 * the rollback journal in memory. The run is one transaction
	 * (sim_flush), so the journal holds only the pages there were at its
	 * start (SQLite journals no page added after it): a few, where a
	 * journal file took a quarter of the run's writes and a truncation
	 * at each commit */
	if (jrn_db_exec(db, "PRAGMA page_size = 4096; VACUUM; PRAGMA journal_mode = MEMORY;"
			"PRAGMA synchronous = OFF", &why0) < 0) {
		sqlite3_close(db);
		return jrn_fail(e, "the memory state: %s", why0.msg);
	}
	*out = db;
	return 0;
}

/* R->db's commit and rollback hooks: db_tx counts its transactions. */
static int db_tx_end(void *ctx)
{
	route_run *R = ctx;
	if (!++R->db_tx)
		R->db_tx = 1;
	return 0; /* the commit goes on */
}

static void db_tx_rollback(void *ctx)
{
	db_tx_end(ctx);
}

int simulate_db_open(route_run *R, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	const char *path = R->opts.db_path;
	sqlite3 *db;
	/* the gate's decisions in a database of their own, written behind on
	 * a thread of their own (store_behind) while this one runs the
	 * journeys: on one connection, each thread's steps waited for the
	 * other's (SQLite's lock is the connection's). One transaction,
	 * never committed (closing it rolls it back). */
	jrn_err why1;
	if (memory_open(R, true, &R->sdb, e) < 0)
		return -1;
	if (jrn_db_begin(R->sdb, &why1) < 0) {
		sqlite3_close(R->sdb);
		R->sdb = NULL;
		return jrn_fail(e, "the memory state: %s", why1.msg);
	}
	if (memory_open(R, false, &db, e) < 0)
		return -1; /* (R->sdb closed by teardown) */
	R->db_tx = 1;
	sqlite3_commit_hook(db, db_tx_end, R);
	sqlite3_rollback_hook(db, db_tx_rollback, R);
	struct stat st;
	if (stat(path, &st) != 0) { /* none: the memory state alone */
		R->db = db;
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		sqlite3_close(db);
		return jrn_fail(e, "%s: is a directory", jrn_path_shown(path, shown));
	}
	jrn_buf sql = {0};
	jrn_buf_adds(&sql, "DROP VIEW IF EXISTS events_readable;");
	for (size_t i = 0; i < sizeof read_tables / sizeof read_tables[0]; i++)
		jrn_buf_addf(&sql, "DROP TABLE %s;", read_tables[i]);
	jrn_buf uri = {0};
	int rc = sql.p && ro_uri(path, &uri) == 0 ? 0 : jrn_fail(e, "out of memory");
	jrn_err why;
	sqlite3_stmt *at = NULL;
	if (rc == 0 && jrn_db_exec(db, sql.p, &why) < 0)
		rc = jrn_fail(e, "the memory state: %s", why.msg);
	if (rc == 0 && (sqlite3_prepare_v2(db, "ATTACH ?1 AS " SIM_SCHEMA, -1, &at, NULL) != SQLITE_OK ||
			sqlite3_bind_text(at, 1, uri.p, (int)uri.len, SQLITE_STATIC) != SQLITE_OK ||
			sqlite3_step(at) != SQLITE_DONE))
		rc = jrn_fail(e, "%s: cannot open state file read-only: %s", jrn_path_shown(path, shown),
			      sqlite3_errmsg(db));
	sqlite3_finalize(at);
	/* the attached file's page cache: as big as a state file's own
	 * (jrn_db_open's cache_size is main's alone); mapped, for reads
	 * without a copy through pread */
	if (rc == 0 && jrn_db_exec(db, "PRAGMA " SIM_SCHEMA ".cache_size = -65536;"
				   "PRAGMA " SIM_SCHEMA ".mmap_size = 268435456", &why) < 0)
		rc = jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), why.msg);
	int v = 0;
	if (rc == 0 && attached_version(db, &v, &why) < 0)
		rc = jrn_fail(e, "%s: not a usable state file: %s", jrn_path_shown(path, shown), why.msg);
	else if (rc == 0 && v != JRN_SCHEMA_VERSION)
		rc = jrn_fail(e, "%s: schema version %d, not this jrn's %d: --simulate only reads it "
			      "(any run of a tool that writes migrates it%s)", jrn_path_shown(path, shown),
			      v, JRN_SCHEMA_VERSION, v > JRN_SCHEMA_VERSION ? "; this one is newer: use "
			      "a newer jrn" : "");
	jrn_buf_free(&sql);
	jrn_buf_free(&uri);
	if (rc < 0) {
		sqlite3_close(db);
		return -1;
	}
	R->db = db;
	return 0;
}

/* The record's "timestamp" (RFC 3339) into *t: 1, 0 none or unreadable
 * (-1: not JSON). ix is left holding the line's index as record_read
 * builds it (max depth 2), for sim_line to hand on. */
static int line_time(jrn_json_index *ix, const jrn_line *ln, int64_t *t)
{
	jrn_err e;
	if (jrn_json_index_build(ix, ln->p, ln->len, 2, &e) < 0)
		return -1;
	const jrn_json_member *m = jrn_json_find(ix, -1, "timestamp");
	if (!m || m->kind != '"' || m->escaped)
		return 0;
	return jrn_time_parse(m->val, m->vlen, 0, t, &e) == 0;
}

/* What the run keeps: the statements of the catching up (deferred, body
 * and clear on the decisions' database, store_db; status and due on the
 * memory state's). */
typedef struct {
	sqlite3_stmt *deferred, *body, *clear, *status, *due;
	jrn_buf text;
	int64_t clock;     /* the simulated clock, never going back */
	uint64_t late;     /* lines whose time was before the clock */
	size_t pending;    /* records in the open batch */
	cron_expr **cron;  /* per journey of the engine: its schedule, or NULL */
	int ncron;
	/* the earliest deferred action [0] and due enrollment [1]: its seq or
	 * id and time (INT64_MAX: none), read again only when it may have
	 * changed since: [0] after a deferral (R->counts[D_DEFER]: the gate
	 * writes a deferred action's row only with it) or a body cleared by
	 * offer_again (known[0] false); [1] when enroll_due_stale says so (the
	 * engine's enroll_update is the only writer of due_at). A line that
	 * moved neither costs no query. */
	bool known[2];
	uint64_t defers;
	int64_t first[2], first_at[2];
} sim;

static int sim_open(route_run *R, sim *s)
{
	static const char *const sql[] = {
		"SELECT seq, send_at FROM route_decisions WHERE decision = 'defer' AND body IS NOT"
		" NULL AND send_at IS NOT NULL ORDER BY send_at, seq LIMIT 1",
		"SELECT body, enrollment FROM route_decisions WHERE seq = ?1",
		"UPDATE route_decisions SET body = NULL WHERE seq = ?1",
		"SELECT status FROM enrollments WHERE id = ?1",
		"SELECT id, due_at FROM enrollments WHERE status = 'active' AND due_at IS NOT NULL"
		" ORDER BY due_at, id LIMIT 1",
	};
	sqlite3_stmt **st[] = {&s->deferred, &s->body, &s->clear, &s->status, &s->due};
	for (int i = 0; i < 5; i++) {
		sqlite3 *db = i < 3 ? store_db(R->st) : R->db;
		if (sqlite3_prepare_v2(db, sql[i], -1, st[i], NULL) != SQLITE_OK)
			return jrn_say(-1, "the memory state: %s", sqlite3_errmsg(db));
	}
	return 0;
}

static void sim_close(sim *s)
{
	sqlite3_finalize(s->deferred);
	sqlite3_finalize(s->body);
	sqlite3_finalize(s->clear);
	sqlite3_finalize(s->status);
	sqlite3_finalize(s->due);
	for (int i = 0; i < s->ncron; i++)
		cron_free(s->cron[i]);
	free(s->cron);
	jrn_buf_free(&s->text);
}

/* The earliest deferred action (w 0: route_decisions with a body, by
 * send_at, seq) or active enrollment with a due_at (w 1: by due_at, id)
 * into *k and *at when it is due by t (else *at INT64_MAX): 1, 0 none due
 * by t, -1 fatal (said). */
static int earliest(route_run *R, sim *s, int w, int64_t t, int64_t *k, int64_t *at)
{
	bool stale = !s->known[w] || (w ? enroll_due_stale(engine_db(R))
				       : s->defers != R->counts[D_DEFER]);
	if (stale) {
		sqlite3_stmt *st = w ? s->due : s->deferred;
		jrn_err e;
		/* the deferrals may be queued behind (store_behind) still */
		if (!w && store_sync(R->st, &e) < 0)
			return jrn_say(-1, "the memory state: %s", e.msg);
		int rc = sqlite3_step(st);
		s->first[w] = 0, s->first_at[w] = INT64_MAX;
		if (rc == SQLITE_ROW) {
			s->first[w] = sqlite3_column_int64(st, 0);
			s->first_at[w] = sqlite3_column_int64(st, 1);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return jrn_say(-1, "the memory state: %s",
				       sqlite3_errmsg(w ? R->db : store_db(R->st)));
		s->known[w] = true;
		if (w)
			enroll_due_watch(engine_db(R), s->first[w], s->first_at[w]);
		else
			s->defers = R->counts[D_DEFER];
	}
	if (s->first_at[w] > t) {
		*at = INT64_MAX;
		return 0;
	}
	*k = s->first[w], *at = s->first_at[w];
	return 1;
}

/* Offers the deferred action seq again at its time (as --tick does):
 * its body cleared, the body through route_line (suppressed when its
 * enrollment has ended). 0, -1 fatal (said). */
static int offer_again(route_run *R, sim *s, int64_t seq)
{
	jrn_err e;
	sqlite3 *sdb = store_db(R->st);
	/* nothing queued behind now: the decisions' connection is this
	 * thread's, its messages too */
	if (store_sync(R->st, &e) < 0)
		return jrn_say(-1, "the memory state: %s", e.msg);
	sqlite3_bind_int64(s->body, 1, seq);
	int rc = sqlite3_step(s->body);
	jrn_buf_reset(&s->text);
	bool enrolled = false;
	if (rc == SQLITE_ROW) {
		jrn_buf_add(&s->text, sqlite3_column_blob(s->body, 0),
			    (size_t)sqlite3_column_bytes(s->body, 0));
		/* the enrollment as stored (an action's may be any id: a text
		 * or a real matches no enrollment's integer id, as --tick's
		 * join compares them), copied into the status query */
		enrolled = sqlite3_column_type(s->body, 1) != SQLITE_NULL;
		if (enrolled)
			sqlite3_bind_value(s->status, 1, sqlite3_column_value(s->body, 1));
	}
	sqlite3_reset(s->body);
	sqlite3_bind_int64(s->clear, 1, seq);
	s->known[0] = false; /* its row leaves the deferred */
	if (rc != SQLITE_ROW || sqlite3_step(s->clear) != SQLITE_DONE) {
		sqlite3_reset(s->clear);
		return jrn_say(-1, "the memory state: %s", sqlite3_errmsg(sdb));
	}
	sqlite3_reset(s->clear);
	const char *ended = NULL;
	if (enrolled) {
		rc = sqlite3_step(s->status);
		if (rc == SQLITE_ROW)
			ended = route_ended_reason((const char *)sqlite3_column_text(s->status, 0));
		sqlite3_reset(s->status);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return jrn_say(-1, "the memory state: %s", sqlite3_errmsg(R->db));
	}
	jrn_buf_add(&s->text, "", 0);
	jrn_line ln = {"route_decisions", (uint64_t)seq, s->text.p ? s->text.p : "", s->text.len};
	R->suppress_as = ended;
	rc = route_line(R, &ln);
	R->suppress_as = NULL;
	return rc;
}

/* The schedules of the engine's journeys, parsed once. 0, -1 (said). */
static int sim_crons(route_run *R, sim *s)
{
	const journeys *js = R->eng ? engine_journeys(R) : NULL;
	if (!js || !js->n)
		return 0;
	if (!(s->cron = calloc((size_t)js->n, sizeof *s->cron)))
		return jrn_say(-1, "out of memory");
	s->ncron = js->n;
	for (int i = 0; i < js->n; i++) {
		jrn_err e;
		if (js->v[i]->trig.kind == T_SCHEDULE && !(s->cron[i] = cron_parse(js->v[i]->trig.cron, &e)))
			return jrn_say(-1, "%s: %s", js->v[i]->file ? js->v[i]->file : js->v[i]->name, e.msg);
	}
	return 0;
}

/* The earliest instant in (its last firing, t] of a schedule or at
 * trigger (before any firing: from when the journey's version appeared,
 * as --tick counts), or INT64_MAX. -1 with *failed (said). */
static int64_t next_schedule(route_run *R, sim *s, int64_t t, bool *failed)
{
	const journeys *js = s->ncron ? engine_journeys(R) : NULL;
	int64_t best = INT64_MAX;
	for (int i = 0; i < s->ncron; i++) {
		const journey *J = js->v[i];
		if (J->trig.kind != T_SCHEDULE && J->trig.kind != T_AT)
			continue;
		jrn_err e;
		int64_t after = 0, v;
		char digest[65];
		int rc = enroll_fired_get(engine_db(R), J->name, &after, &e);
		if (rc == 0)
			rc = enroll_version_latest(engine_db(R), J->name, &v, digest, &after, &e) < 0 ? -1 : 0;
		if (rc < 0) {
			*failed = true;
			return jrn_say(-1, "the memory state: %s", e.msg);
		}
		int64_t at = J->trig.kind == T_AT ? (J->trig.at > after ? J->trig.at : INT64_MAX)
			     : cron_next(s->cron[i], J->trig.zone ? J->trig.zone : R->P.zone, after);
		if (at <= t && at < best)
			best = at;
	}
	return best;
}

int simulate_flush(route_run *R)
{
	jrn_err e;
	if (store_poll(R->st, &e) < 0)
		return jrn_say(-1, "the memory state: %s", e.msg);
	/* to the output's thread (mode_simulate: jrn_out_behind), which
	 * writes it while this one goes on: nothing here is ordered against
	 * the write, as the gate's commit is */
	jrn_out_give(&R->out, &R->batch);
	return 0;
}

/* The batch's output written once it holds ROUTE_BATCH records
 * (simulate_flush: the transaction goes on), a transaction begun when
 * none is open. 0, -1 fatal (said). */
static int sim_batch(route_run *R, sim *s, bool force)
{
	jrn_err e;
	if ((force || ++s->pending >= ROUTE_BATCH) && R->in_tx) {
		s->pending = 0;
		if (simulate_flush(R) < 0)
			return -1;
	}
	if (!R->in_tx) {
		if (jrn_db_begin(R->db, &e) < 0)
			return jrn_say(-1, "the memory state: %s", e.msg);
		R->in_tx = true;
	}
	return 0;
}

/* Everything due by t, in time order, each at its own instant (a tick at
 * that time): enrollments whose wait ended and deferred actions whose
 * sendAt came, schedules at their instants. The clock ends at t
 * (or stays, when t is behind it). 0, -1 fatal (said). */
static int catch_up(route_run *R, sim *s, int64_t t)
{
	jrn_err e;
	if (sim_batch(R, s, false) < 0)
		return -1;
	if (s->clock == INT64_MIN) /* the first time seen */
		s->clock = t;
	jrn_clock_set(s->clock);
	if (R->eng && engine_versions(R, &e) < 0) /* once: at the first time seen */
		return jrn_say(-1, "the memory state: %s", e.msg);
	int64_t last_id = 0, last_at = INT64_MIN, last_sched = INT64_MIN;
	for (;;) {
		int64_t seq = 0, at = INT64_MAX, id = 0, due = INT64_MAX;
		if (earliest(R, s, 0, t, &seq, &at) < 0 || (R->eng && earliest(R, s, 1, t, &id, &due) < 0))
			return -1;
		bool failed = false;
		int64_t sched = next_schedule(R, s, t, &failed);
		if (failed)
			return -1;
		if (at == INT64_MAX && due == INT64_MAX && sched == INT64_MAX)
			break;
		int64_t when = due <= at ? due : at;
		when = sched < when ? sched : when;
		if (when > s->clock)
			s->clock = when;
		jrn_clock_set(s->clock);
		if (sched == when) { /* a schedule fires at its instant */
			if (sched == last_sched) /* its firing was not recorded */
				return jrn_say(-1, "--simulate: a schedule stays due at the same time: "
					       "stopped");
			last_sched = sched;
			if (engine_schedules(R, sched) < 0)
				return -1;
		} else if (due <= at) {
			/* an enrollment that stays due would loop: the engine
			 * moves due_at on every advance */
			if (id == last_id && due == last_at)
				return jrn_say(-1, "--simulate: enrollment %lld stays due at the same "
					       "time: stopped", (long long)id);
			last_id = id, last_at = due;
			if (engine_due(R, id) < 0)
				return -1;
		} else if (offer_again(R, s, seq) < 0) {
			return -1;
		}
		if (sim_batch(R, s, false) < 0)
			return -1;
	}
	if (t > s->clock)
		s->clock = t;
	jrn_clock_set(s->clock);
	return 0;
}

/* The journeys, as for the gate, and the engine over the memory state:
 * 0 (none is fine: the gate alone), -1 fatal (said); *bad the files
 * refused (said). */
static int sim_engine(route_run *R, int *bad)
{
	jrn_err e;
	journeys js = {0};
	if (route_journeys_load(R, &js, bad, &e) < 0)
		return jrn_say(-1, "%s", e.msg);
	if (!js.n) {
		journeys_free(&js);
		return 0;
	}
	if (engine_open(R, &js, &e) < 0) {
		journeys_free(&js);
		return jrn_say(-1, "the memory state: %s", e.msg);
	}
	/* the private state has no enrollment yet, and only this run writes it */
	if (enroll_keys_track(engine_db(R)) < 0)
		return jrn_say(-1, "out of memory");
	return 0;
}

/* One input line at its time: the clock caught up, the line through the
 * gate (an event: to the journeys, and taken out of the output again).
 * 0, -1 fatal (said). */
static int sim_line(route_run *R, sim *s, jrn_json_index *ix, const jrn_line *ln, int64_t end)
{
	int64_t t;
	int timed = line_time(ix, ln, &t);
	if (timed > 0) {
		if (s->clock != INT64_MIN && t < s->clock)
			s->late++;
		if (catch_up(R, s, t) < 0)
			return -1;
	} else if (catch_up(R, s, s->clock == INT64_MIN ? end : s->clock) < 0) {
		return -1; /* no time: at the clock as it stands (the end's, before any) */
	}
	/* the line's index, built for its time, is record_read's: the
	 * catching up built others in R->ix, never in ix */
	if (timed >= 0) {
		jrn_json_index held = R->ix;
		R->ix = *ix;
		*ix = held;
		R->ix_ready = true;
	}
	size_t before = R->batch.len;
	uint64_t passed = R->passed;
	int rc = route_line(R, ln);
	R->ix_ready = false; /* (when route_line failed before record_read) */
	if (rc < 0)
		return -1;
	if (R->passed != passed) {
		size_t ev = ln->len + 1;
		memmove(R->batch.p + before, R->batch.p + before + ev, R->batch.len - before - ev);
		R->batch.len -= ev;
	}
	return sim_batch(R, s, false);
}

/* Says how many of the simulation's enrollments still wait, and the
 * first time one is due, when any do. */
static void say_waiting(route_run *R)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(R->db, "SELECT count(*), min(due_at) FROM enrollments"
			       " WHERE status = 'active' AND due_at IS NOT NULL", -1, &st, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
		long long n = sqlite3_column_int64(st, 0);
		char at[32];
		jrn_time_format(sqlite3_column_int64(st, 1), at);
		jrn_say(0, "--simulate: %lld enrollment%s still wait%s at the last event's time, the"
			" first due %s: give --now to run the clock on", n, n == 1 ? "" : "s",
			n == 1 ? "s" : "", at);
	}
	sqlite3_finalize(st);
}

int mode_simulate(route_run *R, char **files, int nfiles)
{
	jrn_err e;
	int status = JRN_EXIT_OK, bad = 0;
	int64_t end = jrn_now();
	bool end_given = R->opts.now != NULL;
	sim s = {.clock = INT64_MIN};
	jrn_json_index ix = {0};
	jrn_reader *rd = jrn_reader_new(files, nfiles);
	if (!rd)
		return jrn_say(JRN_EXIT_FAIL, "out of memory");
	if (sim_open(R, &s) < 0 || sim_engine(R, &bad) < 0 || sim_crons(R, &s) < 0) {
		status = JRN_EXIT_FAIL;
		goto done;
	}
	jrn_reader_idle_notice(rd, true);
	jrn_reader_stop_on(rd, &route_interrupted);
	jrn_out_behind(&R->out); /* -1: written here, as before */
	jrn_line ln;
	int rc;
	while (!R->out.err && (rc = jrn_reader_next(rd, &ln, &e)) != 0) {
		if (rc < 0) { /* said, and the next FILE read: exit 1 at the end */
			jrn_say(0, "%s", e.msg);
			R->unreadable = true;
			continue;
		}
		if ((rc == 1 && sim_line(R, &s, &ix, &ln, end) < 0) ||
		    (rc == 2 && sim_batch(R, &s, true) < 0)) {
			status = JRN_EXIT_FAIL;
			break;
		}
	}
	/* the end: a tick at --now, else at the last time seen; the
	 * decisions written behind waited for first, their failure the
	 * memory state's (route_batch_end would name the state file) */
	if (status != JRN_EXIT_FAIL && !route_interrupted &&
	    (catch_up(R, &s, end_given || s.clock == INT64_MIN ? end : s.clock) < 0 ||
	     (store_sync(R->st, &e) < 0 && jrn_say(-1, "the memory state: %s", e.msg) < 0) ||
	     route_batch_end(R) < 0))
		status = JRN_EXIT_FAIL;
	/* without --now the clock stops at the last event: waits past it are
	 * not run, which an empty output does not tell */
	if (status != JRN_EXIT_FAIL && !route_interrupted && !end_given && R->opts.verbosity >= 0)
		say_waiting(R);
	if (R->in_tx)
		jrn_db_rollback(R->db);
	R->in_tx = false;
	if (s.late && R->opts.verbosity >= 0)
		jrn_say(0, "--simulate: %llu %s older than one before %s: handled at the later time"
			" (give events in time order)", (unsigned long long)s.late,
			s.late == 1 ? "record was" : "records were", s.late == 1 ? "it" : "them");
	if (bad && status == JRN_EXIT_OK)
		status = JRN_EXIT_REJECTS; /* a journey file refused (said) */
	if (R->unreadable && status != JRN_EXIT_FAIL)
		status = JRN_EXIT_FAIL;
	else if (status == JRN_EXIT_FAIL)
		R->unreadable = false; /* (a failure of its own: see summary) */
done:
	sim_close(&s);
	jrn_json_index_free(&ix);
	jrn_reader_free(rd);
	return status;
}
