/* state.c: the SQLite state file: opening it the same way everywhere, and
 * the schema migrations, versioned by PRAGMA user_version. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jrn.h"

/* Migration N takes a state file from user_version N-1 to N. Append only:
 * a released migration never changes. The schema is an interface (operators
 * query it with sqlite3), documented in jrn-state(5). */
static const char *const migrations[] = {
	/* 1: events and consent */
	"CREATE TABLE events (\n"
	"  seq         INTEGER PRIMARY KEY,\n"
	"  id          TEXT    NOT NULL UNIQUE,\n"
	"  type        TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  ts          INTEGER NOT NULL,\n"
	"  received_at INTEGER NOT NULL,\n"
	"  amount      REAL,\n"
	"  body        TEXT    NOT NULL\n"
	");\n"
	"CREATE INDEX events_customer ON events (customer_id, ts);\n"
	"CREATE INDEX events_type ON events (type, ts);\n"
	"CREATE TABLE consent (\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  channel     TEXT    NOT NULL,\n"
	"  status      TEXT    NOT NULL CHECK (status IN ('granted', 'revoked')),\n"
	"  ts          INTEGER NOT NULL,\n"
	"  source      TEXT,\n"
	"  event_id    TEXT    NOT NULL REFERENCES events (id),\n"
	"  PRIMARY KEY (customer_id, channel)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE suppressions (\n"
	"  address     TEXT    NOT NULL,\n"
	"  channel     TEXT    NOT NULL,\n"
	"  reason      TEXT    NOT NULL,\n"
	"  ts          INTEGER NOT NULL,\n"
	"  source      TEXT,\n"
	"  PRIMARY KEY (address, channel)\n"
	") WITHOUT ROWID;\n"
	"CREATE VIEW events_readable AS\n"
	"  SELECT seq, id, type, customer_id,\n"
	"         strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time,\n"
	"         strftime('%Y-%m-%dT%H:%M:%fZ', received_at / 1000.0, 'unixepoch') AS received,\n"
	"         amount, body\n"
	"  FROM events;\n",

	/* 2: scores, RFM snapshots, segment memberships (jrn-score, jrn-segment) */
	"CREATE TABLE rfm_snapshots (\n"
	"  taken       INTEGER NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  recency     INTEGER NOT NULL,\n"
	"  frequency   INTEGER NOT NULL,\n"
	"  monetary    REAL    NOT NULL,\n"
	"  r           INTEGER NOT NULL,\n"
	"  f           INTEGER NOT NULL,\n"
	"  m           INTEGER NOT NULL,\n"
	"  score       INTEGER NOT NULL,\n"
	"  segment     TEXT    NOT NULL,\n"
	"  PRIMARY KEY (taken, customer_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE scores (\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  kind        TEXT    NOT NULL,\n"
	"  value       REAL,\n"
	"  body        TEXT    NOT NULL,\n"
	"  computed_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (customer_id, kind)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE segment_members (\n"
	"  segment     TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  since       INTEGER NOT NULL,\n"
	"  PRIMARY KEY (segment, customer_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE segment_snapshots (\n"
	"  name        TEXT    NOT NULL,\n"
	"  segment     TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  taken       INTEGER NOT NULL,\n"
	"  PRIMARY KEY (name, segment, customer_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE segment_runs (\n"
	"  segment     TEXT    NOT NULL,\n"
	"  ran_at      INTEGER NOT NULL,\n"
	"  population  INTEGER NOT NULL,\n"
	"  PRIMARY KEY (segment, ran_at)\n"
	") WITHOUT ROWID;\n",

	/* 3: the deliveries ledger and the outbox (jrn-send) */
	"CREATE TABLE deliveries (\n"
	"  seq         INTEGER PRIMARY KEY,\n"
	"  key         TEXT    NOT NULL UNIQUE,\n"
	"  customer_id TEXT,\n"
	"  channel     TEXT    NOT NULL,\n"
	"  campaign_id TEXT,\n"
	"  status      TEXT    NOT NULL CHECK (status IN\n"
	"                ('sending', 'sent', 'simulated', 'queued', 'failed', 'suppressed',\n"
	"                 'rejected')),\n"
	"  provider    TEXT,\n"
	"  message_id  TEXT,\n"
	"  attempts    INTEGER NOT NULL DEFAULT 0,\n"
	"  error       TEXT,\n"
	"  cost        REAL,\n"
	"  segments    INTEGER,\n"
	"  claimed_at  INTEGER NOT NULL,\n"
	"  updated_at  INTEGER NOT NULL,\n"
	"  record      TEXT    NOT NULL\n"
	");\n"
	"CREATE INDEX deliveries_sending ON deliveries (claimed_at) WHERE status = 'sending';\n"
	"CREATE INDEX deliveries_customer ON deliveries (customer_id, claimed_at);\n"
	"CREATE TABLE outbox (\n"
	"  key         TEXT    PRIMARY KEY REFERENCES deliveries (key),\n"
	"  send_at     INTEGER NOT NULL,\n"
	"  provider    INTEGER NOT NULL DEFAULT 0,\n"
	"  attempt     INTEGER NOT NULL DEFAULT 0,\n"
	"  record      TEXT    NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX outbox_due ON outbox (send_at);\n",

	/* 4: runs of jrn run and their stages; the operators' audit log (jrn) */
	"CREATE TABLE runs (\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  job         TEXT    NOT NULL,\n"
	"  pid         INTEGER NOT NULL,\n"
	"  started_at  INTEGER NOT NULL,\n"
	"  ended_at    INTEGER,\n"
	"  elapsed_ms  INTEGER,\n"
	"  status      INTEGER,\n"
	"  pipeline    TEXT    NOT NULL\n"
	");\n"
	"CREATE INDEX runs_job ON runs (job, id);\n"
	"CREATE TABLE run_stages (\n"
	"  run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
	"  stage       INTEGER NOT NULL,\n"
	"  command     TEXT    NOT NULL,\n"
	"  pid         INTEGER,\n"
	"  started_at  INTEGER NOT NULL,\n"
	"  ended_at    INTEGER,\n"
	"  elapsed_ms  INTEGER,\n"
	"  status      INTEGER,\n"
	"  lines_out   INTEGER,\n"
	"  bytes_out   INTEGER,\n"
	"  PRIMARY KEY (run_id, stage)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE audit (\n"
	"  seq         INTEGER PRIMARY KEY,\n"
	"  ts          INTEGER NOT NULL,\n"
	"  who         TEXT    NOT NULL,\n"
	"  verb        TEXT    NOT NULL,\n"
	"  args        TEXT    NOT NULL,\n"
	"  counts      TEXT    NOT NULL\n"
	");\n",

	/* 5: the customer profile, its identities and the merge log (lib/profile.c) */
	"CREATE TABLE profiles (\n"
	"  customer_id TEXT    PRIMARY KEY,\n"
	"  email       TEXT,\n"
	"  phone       TEXT,\n"
	"  name        TEXT,\n"
	"  first_name  TEXT,\n"
	"  locale      TEXT,\n"
	"  time_zone   TEXT,\n"
	"  country     TEXT,\n"
	"  created_at  INTEGER,\n"
	"  traits      TEXT    NOT NULL DEFAULT '{}',\n"
	"  provenance  TEXT    NOT NULL DEFAULT '{}',\n"
	"  updated_at  INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX profiles_email ON profiles (email) WHERE email IS NOT NULL;\n"
	"CREATE INDEX profiles_phone ON profiles (phone) WHERE phone IS NOT NULL;\n"
	"CREATE TABLE identities (\n"
	"  kind        TEXT    NOT NULL,\n"
	"  value       TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  source      TEXT    NOT NULL,\n"
	"  ts          INTEGER NOT NULL,\n"
	"  PRIMARY KEY (kind, value, customer_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX identities_customer ON identities (customer_id);\n"
	"CREATE TABLE merges (\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  from_id     TEXT    NOT NULL,\n"
	"  into_id     TEXT    NOT NULL,\n"
	"  reason      TEXT    NOT NULL,\n"
	"  ts          INTEGER NOT NULL,\n"
	"  undone_at   INTEGER,\n"
	"  moved       TEXT    NOT NULL\n"
	");\n"
	"CREATE INDEX merges_into ON merges (into_id);\n"
	"CREATE INDEX segment_members_customer ON segment_members (customer_id);\n",

	/* 6: jrn-merge's cache of source responses; privacy erasures and the
	 * state file's own keys (jrn privacy) */
	"CREATE TABLE source_cache (\n"
	"  source      TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  fetched_at  INTEGER NOT NULL,\n"
	"  status      INTEGER NOT NULL,\n"
	"  body        TEXT,\n"
	"  PRIMARY KEY (source, customer_id)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE erasures (\n"
	"  hash        TEXT    PRIMARY KEY,\n"
	"  ts          INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE state_keys (\n"
	"  name        TEXT    PRIMARY KEY,\n"
	"  value       BLOB    NOT NULL,\n"
	"  created_at  INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n",

	/* 7: the policy gate's memory (jrn-route): every decision it made,
	 * and what each campaign has spent by its estimates */
	"CREATE TABLE route_decisions (\n"
	"  seq         INTEGER PRIMARY KEY,\n"
	"  key         TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  channel     TEXT    NOT NULL,\n"
	"  campaign_id TEXT,\n"
	"  offer       TEXT,\n"
	"  trigger_key TEXT,\n"
	"  journey     TEXT,\n"
	"  version     INTEGER,\n"
	"  step        TEXT,\n"
	"  decision    TEXT    NOT NULL CHECK (decision IN ('send', 'defer', 'suppress')),\n"
	"  reason      TEXT,\n"
	"  decided_at  INTEGER NOT NULL,\n"
	"  send_at     INTEGER,\n"
	"  cost        REAL\n"
	");\n"
	"CREATE UNIQUE INDEX route_decisions_key ON route_decisions (key) WHERE decision = 'send';\n"
	"CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decision, decided_at);\n"
	"CREATE TABLE route_budgets (\n"
	"  campaign_id TEXT    PRIMARY KEY,\n"
	"  spent       REAL    NOT NULL,\n"
	"  updated_at  INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n",

	/* 8: journeys (jrn-route): every version of every journey file,
	 * enrollments and their step log, the schedules' last firing, and a
	 * deferred action's record so that --tick can offer it again */
	"CREATE TABLE journey_versions (\n"
	"  journey     TEXT    NOT NULL,\n"
	"  version     INTEGER NOT NULL,\n"
	"  digest      TEXT    NOT NULL,\n"
	"  source      TEXT    NOT NULL,\n"
	"  file        TEXT,\n"
	"  created_at  INTEGER NOT NULL,\n"
	"  PRIMARY KEY (journey, version)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE enrollments (\n"
	"  id            INTEGER PRIMARY KEY,\n"
	"  journey       TEXT    NOT NULL,\n"
	"  version       INTEGER NOT NULL,\n"
	"  customer_id   TEXT    NOT NULL,\n"
	"  trigger_key   TEXT    NOT NULL,\n"
	"  trigger_event TEXT,\n"
	"  status        TEXT    NOT NULL\n"
	"                CHECK (status IN ('active', 'completed', 'converted', 'exited')),\n"
	"  step          TEXT,\n"
	"  due_at        INTEGER,\n"
	"  wait_events   TEXT,\n"
	"  variant       TEXT,\n"
	"  entered_at    INTEGER NOT NULL,\n"
	"  updated_at    INTEGER NOT NULL,\n"
	"  ended_at      INTEGER,\n"
	"  reason        TEXT\n"
	");\n"
	"CREATE UNIQUE INDEX enrollments_active ON enrollments (journey, customer_id)\n"
	"  WHERE status = 'active';\n"
	"CREATE INDEX enrollments_due ON enrollments (due_at) WHERE status = 'active';\n"
	"CREATE INDEX enrollments_customer ON enrollments (customer_id, journey, entered_at);\n"
	"CREATE TABLE enrollment_log (\n"
	"  enrollment  INTEGER NOT NULL,\n"
	"  seq         INTEGER NOT NULL,\n"
	"  at          INTEGER NOT NULL,\n"
	"  step        TEXT,\n"
	"  what        TEXT    NOT NULL,\n"
	"  detail      TEXT,\n"
	"  PRIMARY KEY (enrollment, seq)\n"
	") WITHOUT ROWID;\n"
	"CREATE TABLE journey_schedules (\n"
	"  journey     TEXT    PRIMARY KEY,\n"
	"  fired_at    INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"ALTER TABLE route_decisions ADD COLUMN enrollment INTEGER;\n"
	"ALTER TABLE route_decisions ADD COLUMN body TEXT;\n"
	"CREATE INDEX route_decisions_deferred ON route_decisions (send_at)\n"
	"  WHERE decision = 'defer' AND body IS NOT NULL;\n",
	/* 9: jrn-ai's answer cache. key = SHA-256 of the JSON array [task,
	 * model, prompt version, the input fields the prompt uses]; output is
	 * the validated answer (JSON text); cost in the price table's currency;
	 * rows past expires_at (ms) are misses and are deleted by a later run. */
	"CREATE TABLE ai_cache (\n"
	"  key            BLOB    PRIMARY KEY,\n"
	"  task           TEXT    NOT NULL,\n"
	"  model          TEXT    NOT NULL,\n"
	"  prompt_version TEXT    NOT NULL,\n"
	"  customer_id    TEXT,\n"
	"  output         TEXT    NOT NULL,\n"
	"  tokens         INTEGER NOT NULL DEFAULT 0,\n"
	"  cost           REAL    NOT NULL DEFAULT 0,\n"
	"  created_at     INTEGER NOT NULL,\n"
	"  expires_at     INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX ai_cache_customer ON ai_cache (customer_id);\n"
	"CREATE INDEX ai_cache_expires ON ai_cache (expires_at);\n",
	/* 10: route_decisions rebuilt (SQLite's way to change a CHECK: a new
	 * table, the rows copied, the old dropped, the new renamed, its
	 * indexes made again) with decision's CHECK as ORs of equalities, the
	 * same rule: SQLite 3.40 codes `IN (list of three)` as a temporary
	 * table built again on every INSERT, which was a quarter of the
	 * gate's work. Columns, rows, seq and indexes as before. */
	"CREATE TABLE route_decisions_10 (\n"
	"  seq         INTEGER PRIMARY KEY,\n"
	"  key         TEXT    NOT NULL,\n"
	"  customer_id TEXT    NOT NULL,\n"
	"  channel     TEXT    NOT NULL,\n"
	"  campaign_id TEXT,\n"
	"  offer       TEXT,\n"
	"  trigger_key TEXT,\n"
	"  journey     TEXT,\n"
	"  version     INTEGER,\n"
	"  step        TEXT,\n"
	"  decision    TEXT    NOT NULL\n"
	"    CHECK (decision = 'send' OR decision = 'defer' OR decision = 'suppress'),\n"
	"  reason      TEXT,\n"
	"  decided_at  INTEGER NOT NULL,\n"
	"  send_at     INTEGER,\n"
	"  cost        REAL,\n"
	"  enrollment  INTEGER,\n"
	"  body        TEXT\n"
	");\n"
	"INSERT INTO route_decisions_10 (seq, key, customer_id, channel, campaign_id, offer,\n"
	"  trigger_key, journey, version, step, decision, reason, decided_at, send_at, cost,\n"
	"  enrollment, body)\n"
	"  SELECT seq, key, customer_id, channel, campaign_id, offer, trigger_key, journey,\n"
	"  version, step, decision, reason, decided_at, send_at, cost, enrollment, body\n"
	"  FROM route_decisions;\n"
	"DROP TABLE route_decisions;\n"
	"ALTER TABLE route_decisions_10 RENAME TO route_decisions;\n"
	"CREATE UNIQUE INDEX route_decisions_key ON route_decisions (key) WHERE decision = 'send';\n"
	"CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decision, decided_at);\n"
	"CREATE INDEX route_decisions_deferred ON route_decisions (send_at)\n"
	"  WHERE decision = 'defer' AND body IS NOT NULL;\n",
	/* 11: jrn-report's saved reports (jrn-report metrics --save, the hourly
	 * job), which jrn-ai optimize reads: one row per group of a report run.
	 * group_key is the group's values as a JSON array (the --by fields'
	 * values in order; [] for the whole window); metrics a JSON object of
	 * the row's counts and rates; trend a JSON object of each rate's change
	 * against the previous window of the same length, NULL when there was
	 * none. Times in ms; the window is [window_start, window_end). */
	"CREATE TABLE insights (\n"
	"  kind         TEXT    NOT NULL,\n"
	"  computed_at  INTEGER NOT NULL,\n"
	"  dimension    TEXT    NOT NULL,\n"
	"  group_key    TEXT    NOT NULL,\n"
	"  window_start INTEGER NOT NULL,\n"
	"  window_end   INTEGER NOT NULL,\n"
	"  metrics      TEXT    NOT NULL,\n"
	"  trend        TEXT,\n"
	"  PRIMARY KEY (kind, computed_at, dimension, group_key)\n"
	") WITHOUT ROWID;\n",
	/* 12: the gate's claimed send keys apart from its decision log
	 * (jrn-route). route_decisions_key, the unique index of every send's
	 * key (64 characters for a derived one), took each batch's claims at
	 * random places of a large index: every commit wrote most of its pages
	 * again (a gigabyte of WAL for a million decisions). route_send_keys
	 * holds each send's seq and a 64-bit hash of its key (jrn_hash64:
	 * FNV-1a, then murmur3's final mix, as a signed integer), a narrow
	 * index; the key itself is compared in the route_decisions row the seq
	 * names, so two keys with one hash are told apart. The sends decided
	 * before this version keep their keys in route_send_keys_11 (no new
	 * row is added there). A deleted send (jrn privacy erase) takes its
	 * claim along (the trigger). route_decisions keeps its columns and
	 * rows. deliveries_message: jrn-ingest --listen finds the delivery
	 * of a Twilio status callback by its MessageSid. */
	"CREATE TABLE route_send_keys (\n"
	"  seq         INTEGER PRIMARY KEY,\n"
	"  hash        INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX route_send_keys_hash ON route_send_keys (hash);\n"
	"CREATE TABLE route_send_keys_11 (\n"
	"  key         TEXT    PRIMARY KEY\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO route_send_keys_11 (key)\n"
	"  SELECT key FROM route_decisions WHERE decision = 'send';\n"
	"DROP INDEX route_decisions_key;\n"
	"CREATE TRIGGER route_send_keys_gone AFTER DELETE ON route_decisions\n"
	"  WHEN old.decision = 'send' BEGIN\n"
	"  DELETE FROM route_send_keys WHERE seq = old.seq;\n"
	"  DELETE FROM route_send_keys_11 WHERE key = old.key;\n"
	"END;\n"
	"CREATE INDEX deliveries_message ON deliveries (message_id)\n"
	"  WHERE message_id IS NOT NULL;\n",
	/* 13: the distributed log's read positions (jrn-ingest --from): for
	 * each stream and partition, the last stream sequence whose event is
	 * applied to this file, written in the same transaction as the
	 * events, so that a consumer resumes at seq + 1 after any crash. A
	 * partition moved to another machine takes its row along (jrn
	 * partition export/import). */
	"CREATE TABLE log_offsets (\n"
	"  stream      TEXT    NOT NULL,\n"
	"  partition   INTEGER NOT NULL CHECK (partition >= 0),\n"
	"  seq         INTEGER NOT NULL CHECK (seq >= 0),\n"
	"  updated_at  INTEGER NOT NULL,\n"
	"  PRIMARY KEY (stream, partition)\n"
	") WITHOUT ROWID;\n",
	/* 14: indexes for jrn-report metrics (issue 15): the engagement
	 * events by the deliveryKey they name (an expression index, partial
	 * on the engagement types that name one; instr, a plain search of
	 * the text, comes first: an IN list is built again for each row an
	 * INSERT stores, and cost jrn-ingest a quarter more CPU over 1M
	 * jrn-gen events, where instr costs nothing measurable);
	 * the orders by time with their customer and amount (covering, so
	 * the scattered rows are not read); the sends (sent, queued,
	 * simulated) of a customer by time (the last-touch lookup reads no
	 * failed rows). SQL only: every writer keeps them up to date. */
	"CREATE INDEX events_delivery ON events\n"
	"  (json_extract(body, '$.properties.deliveryKey'), type, ts)\n"
	"  WHERE instr(body, '\"deliveryKey\"') > 0\n"
	"    AND type IN ('email.delivered', 'sms.delivered', 'email.opened', 'email.clicked',\n"
	"                 'consent.revoked', 'email.bounced', 'sms.failed')\n"
	"    AND json_extract(body, '$.properties.deliveryKey') IS NOT NULL;\n"
	"CREATE INDEX events_orders ON events (ts, customer_id, amount)\n"
	"  WHERE type = 'order.completed';\n"
	"CREATE INDEX deliveries_sent ON deliveries (customer_id, claimed_at)\n"
	"  WHERE status IN ('sent', 'queued', 'simulated');\n",
	/* 15: route_decisions_customer holds the sends only, by customer and
	 * time: the gate reads a customer's sends (caps, cooldowns, the
	 * trigger's 24 h) and nothing else by customer. Every decision in it
	 * (a million a night, most of them defers) put each batch's entries
	 * at random places of a large index, and each commit wrote the pages
	 * again: a third of the gate's WAL (1.49 GB to 0.98 GB over the
	 * bench's 1M actions, 0.90 the wall). The rare readers of a
	 * customer's every decision (jrn privacy erase and export, jrn
	 * partition, --explain) scan the table: erase already scans it for
	 * the bodies that name her. */
	"DROP INDEX route_decisions_customer;\n"
	"CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decided_at)\n"
	"  WHERE decision = 'send';\n",
	/* 16: enrollments rebuilt as route_decisions was at 10, with status's
	 * CHECK as ORs of equalities, the same rule: `IN (list)` made SQLite
	 * 3.40 build a temporary table again on every INSERT of an
	 * enrollment and every UPDATE that sets its status (one a run
	 * through a journey's every step and end): 0.94 the wall of
	 * --simulate over the bench's 1M events. Columns, rows, ids and
	 * indexes as before. */
	"CREATE TABLE enrollments_16 (\n"
	"  id            INTEGER PRIMARY KEY,\n"
	"  journey       TEXT    NOT NULL,\n"
	"  version       INTEGER NOT NULL,\n"
	"  customer_id   TEXT    NOT NULL,\n"
	"  trigger_key   TEXT    NOT NULL,\n"
	"  trigger_event TEXT,\n"
	"  status        TEXT    NOT NULL\n"
	"    CHECK (status = 'active' OR status = 'completed' OR status = 'converted'\n"
	"           OR status = 'exited'),\n"
	"  step          TEXT,\n"
	"  due_at        INTEGER,\n"
	"  wait_events   TEXT,\n"
	"  variant       TEXT,\n"
	"  entered_at    INTEGER NOT NULL,\n"
	"  updated_at    INTEGER NOT NULL,\n"
	"  ended_at      INTEGER,\n"
	"  reason        TEXT\n"
	");\n"
	"INSERT INTO enrollments_16 (id, journey, version, customer_id, trigger_key,\n"
	"  trigger_event, status, step, due_at, wait_events, variant, entered_at, updated_at,\n"
	"  ended_at, reason)\n"
	"  SELECT id, journey, version, customer_id, trigger_key, trigger_event, status, step,\n"
	"  due_at, wait_events, variant, entered_at, updated_at, ended_at, reason\n"
	"  FROM enrollments;\n"
	"DROP TABLE enrollments;\n"
	"ALTER TABLE enrollments_16 RENAME TO enrollments;\n"
	"CREATE UNIQUE INDEX enrollments_active ON enrollments (journey, customer_id)\n"
	"  WHERE status = 'active';\n"
	"CREATE INDEX enrollments_due ON enrollments (due_at) WHERE status = 'active';\n"
	"CREATE INDEX enrollments_customer ON enrollments (customer_id, journey, entered_at);\n",
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(NMIGRATIONS == JRN_SCHEMA_VERSION, "one migration per schema version");

const char *jrn_db_migration(int version)
{
	return version >= 1 && version <= NMIGRATIONS ? migrations[version - 1] : NULL;
}

int jrn_db_exec(sqlite3 *db, const char *sql, jrn_err *e)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		jrn_fail(e, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(sqlite3 *db, int *v, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : jrn_fail(e, "%s", sqlite3_errmsg(db));
}

/* name as a message shows it: at most 60 bytes, up to its first byte
 * that does not start a whole UTF-8 character (so a character cut at
 * the 60th byte goes), a control character as '?', into out[64]. */
static const char *name_shown(const char *name, char out[64])
{
	size_t n = name ? jrn_utf8_invalid_at(name, strnlen(name, 60)) : 0;
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	out[n] = '\0';
	return out;
}

/* user_version and the schema are read by one statement, so from one
 * snapshot: a migration sets user_version in the transaction that
 * creates its tables, so a file another jrn process is creating this
 * moment reads either empty (version 0, nothing: a new file, initialised
 * next) or versioned, never tables without a version. Migration 1 made
 * the events table and none drops it: a file of a version this jrn
 * knows without it is another program's (many set user_version for
 * their own schema; a version past this jrn's is said by migrate as
 * newer, whatever it holds), and a
 * file with it but version 0 is jrn's without its version (sqlite3's
 * .dump does not carry user_version). */
int jrn_db_refuse_foreign(sqlite3 *db, jrn_err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
			       " count(*), (SELECT name FROM sqlite_schema ORDER BY rowid LIMIT 1),"
			       " (SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
			       " AND name = 'events')"
			       " FROM sqlite_schema", -1, &st, NULL) != SQLITE_OK)
		return jrn_fail(e, "%s", sqlite3_errmsg(db));
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		jrn_fail(e, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	int version = sqlite3_column_int(st, 0), n = sqlite3_column_int(st, 1);
	bool events = sqlite3_column_int(st, 3) > 0;
	char first[64];
	name_shown((const char *)sqlite3_column_text(st, 2), first);
	sqlite3_finalize(st);
	if (version == 0 && n > 0 && events)
		return jrn_fail(e, "jrn's tables but user_version 0, so not known as a state file"
				" (sqlite3's .dump does not keep user_version: copy a state file with"
				" .backup or VACUUM INTO)");
	if (version == 0 && n > 0)
		return jrn_fail(e, "not a jrn state file: another program's SQLite database"
				" (user_version 0 and %d schema object%s, the first '%s')",
				n, n == 1 ? "" : "s", first);
	if (version > 0 && version <= JRN_SCHEMA_VERSION && !events)
		return jrn_fail(e, "not a jrn state file: another program's SQLite database"
				" (user_version %d, no events table; %d schema object%s, the first"
				" '%s')", version, n, n == 1 ? "" : "s", first);
	return 0;
}

static int migrate(sqlite3 *db, jrn_err *e)
{
	int v;
	if (user_version(db, &v, e) < 0)
		return -1;
	if (v > JRN_SCHEMA_VERSION)
		return jrn_fail(e, "schema version %d is newer than this jrn knows (%d); "
				"use a newer jrn", v, JRN_SCHEMA_VERSION);
	if (v == JRN_SCHEMA_VERSION)
		return 0;
	/* Another process may be migrating too: take the write lock, look again. */
	if (jrn_db_begin(db, e) < 0)
		return -1;
	if (user_version(db, &v, e) < 0)
		goto fail;
	for (; v < JRN_SCHEMA_VERSION; v++) {
		char pragma[64];
		if (jrn_db_exec(db, migrations[v], e) < 0)
			goto fail;
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if (jrn_db_exec(db, pragma, e) < 0)
			goto fail;
	}
	if (jrn_db_exec(db, "COMMIT", e) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* SQLite's memory statistics take a global mutex on every allocation;
 * nothing here reads them. Must run before SQLite initialises. */
static void configure_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void jrn_sqlite_configure(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, configure_sqlite);
}

const char *jrn_path_shown(const char *path, char out[JRN_PATH_SHOWN])
{
	size_t n = strlen(path);
	if (n < JRN_PATH_SHOWN)
		return path;
	const char *tail = path + n - (JRN_PATH_SHOWN - 4);
	while (((unsigned char)*tail & 0xC0) == 0x80) /* not inside a character */
		tail++;
	snprintf(out, JRN_PATH_SHOWN, "...%s", tail);
	return out;
}

int jrn_db_exists(const char *path, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	struct stat st;
	if (stat(path, &st) != 0) {
		int err = errno;
		if (err == ENOENT)
			return jrn_fail(e, "%s: no state file (jrn init or a writer such as jrn-ingest"
					" makes one)", jrn_path_shown(path, shown));
		return jrn_fail(e, "%s: cannot open (%s)", jrn_path_shown(path, shown), strerror(err));
	}
	if (S_ISDIR(st.st_mode))
		return jrn_fail(e, "%s: is a directory, not a state file", jrn_path_shown(path, shown));
	return 0;
}

/* PRAGMA journal_mode = WAL, tried again for up to busy_ms while it is
 * SQLITE_BUSY: when two processes open a new file at once, one holding a
 * shared lock while the other waits to switch the file to WAL, SQLite
 * answers BUSY at once instead of calling the busy handler (a deadlock it
 * breaks; sqlite3_busy_handler(3)). 0 or -1 with e. */
static int wal_mode(sqlite3 *db, int busy_ms, jrn_err *e)
{
	int64_t until = jrn_mono_ms() + busy_ms;
	for (;;) {
		if (jrn_db_exec(db, "PRAGMA journal_mode = WAL", e) == 0)
			return 0;
		if ((sqlite3_errcode(db) & 0xff) != SQLITE_BUSY || jrn_mono_ms() >= until)
			return -1;
		jrn_sleep_ms(20);
	}
}

/* ---- jrn_checkpointer (jrn.h) ---- */

enum { CKPT_PAGES = 1000, CKPT_PAGES_MAX = 8000 };

int jrn_thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

struct jrn_checkpointer {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool due, quit;
	sqlite3 *writer, *db; /* the writer's connection (borrowed), this one's */
	pthread_t th;
};

/* sqlite3_wal_hook's callback on the writer's thread after each commit:
 * pages is the WAL's size in pages. SQLITE_OK. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	jrn_checkpointer *c = arg;
	if (pages >= CKPT_PAGES_MAX) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (pages >= CKPT_PAGES) {
		pthread_mutex_lock(&c->mu);
		c->due = true;
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	jrn_checkpointer *c = arg;
	pthread_setname_np(pthread_self(), "jrn-checkpoint");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->due && !c->quit)
			pthread_cond_wait(&c->cond, &c->mu);
		if (c->quit)
			break;
		c->due = false;
		pthread_mutex_unlock(&c->mu);
		/* a failure (a reader on old frames, I/O) leaves the WAL as it
		 * is: the next commit past CKPT_PAGES asks again */
		sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

jrn_checkpointer *jrn_checkpointer_start(sqlite3 *db, const char *path)
{
	jrn_checkpointer *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->writer = db;
	/* a connection that has not read the file does not know it is in WAL
	 * mode: its checkpoints would do nothing (and say -1 pages) */
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK ||
	    jrn_thread_start(&c->th, ckpt_main, c) != 0) {
		sqlite3_close(c->db);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	sqlite3_wal_hook(db, ckpt_hook, c);
	return c;
}

void jrn_checkpointer_stop(jrn_checkpointer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->quit = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	sqlite3_wal_autocheckpoint(c->writer, CKPT_PAGES); /* replaces the hook */
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* sqlite3_open_v2 of path with flags (and SQLITE_OPEN_NOMUTEX unless
 * they ask for SQLITE_OPEN_FULLMUTEX), extended result codes and the busy
 * handler (jrn_db_attach_waits): *db, or NULL and -1 with e. */
static int open_conn(const char *path, int flags, int busy_ms, sqlite3 **db, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	*db = NULL;
	int rc = sqlite3_open_v2(path, db, flags & SQLITE_OPEN_FULLMUTEX ? flags
				 : flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		jrn_fail(e, "%s: cannot open state file: %s", jrn_path_shown(path, shown),
			 *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	sqlite3_extended_result_codes(*db, 1);
	/* (out of memory: SQLite's own time-out, without the writers' turns) */
	if (jrn_db_attach_waits(*db, busy_ms) < 0)
		sqlite3_busy_timeout(*db, busy_ms);
	return 0;
}

int jrn_db_open_reader(const char *path, int busy_ms, sqlite3 **out, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN];
	jrn_sqlite_configure();
	sqlite3 *db = NULL;
	jrn_err why;
	*out = NULL;
	/* read-write, not SQLITE_OPEN_READONLY: a read-only connection to a
	 * WAL file needs the -shm file writable anyway, and query_only says
	 * what this connection may do */
	if (open_conn(path, SQLITE_OPEN_READWRITE, busy_ms, &db, e) < 0)
		return -1;
	if (jrn_db_exec(db, "PRAGMA query_only = ON; PRAGMA cache_size = -65536;"
			    " PRAGMA temp_store = MEMORY; SELECT count(*) FROM sqlite_schema", &why) < 0) {
		jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), why.msg);
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

static int db_open(const char *path, int busy_ms, int flags, sqlite3 **out, jrn_err *e);

int jrn_db_open(const char *path, int busy_ms, sqlite3 **out, jrn_err *e)
{
	return db_open(path, busy_ms, 0, out, e);
}

int jrn_db_open_serialized(const char *path, int busy_ms, sqlite3 **out, jrn_err *e)
{
	return db_open(path, busy_ms, SQLITE_OPEN_FULLMUTEX, out, e);
}

static int db_open(const char *path, int busy_ms, int flags, sqlite3 **out, jrn_err *e)
{
	char shown[JRN_PATH_SHOWN]; /* the path in messages: the reason must fit */
	jrn_sqlite_configure();

	sqlite3 *db = NULL;
	struct stat st;
	jrn_err why;

	*out = NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return jrn_fail(e, "%s: is a directory", jrn_path_shown(path, shown));
	if (open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | flags, busy_ms, &db, e) < 0)
		return -1;
	if (sqlite3_db_readonly(db, "main") == 1) {
		sqlite3_close(db);
		return jrn_fail(e, "%s: state file is read-only", jrn_path_shown(path, shown));
	}
	/* The first read tells a non-SQLite or damaged file from a good one,
	 * the second another program's database (before WAL would change its
	 * header). A new file gets 32 KiB pages (an existing one keeps its
	 * size): the event log is written in bulk and read in scans, and
	 * large pages made ingesting a million events about a fifth faster. */
	if (jrn_db_exec(db, "PRAGMA page_size = 32768", &why) < 0 ||
	    jrn_db_refuse_foreign(db, &why) < 0 || wal_mode(db, busy_ms, &why) < 0 ||
	    jrn_db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
			    "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY", &why) < 0) {
		int code = sqlite3_errcode(db) & 0xff;
		if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
			jrn_fail(e, "%s: not a usable state file: %s", jrn_path_shown(path, shown),
				 why.msg);
		else
			jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), why.msg);
		sqlite3_close(db);
		return -1;
	}
	if (migrate(db, &why) < 0) {
		jrn_fail(e, "%s: %s", jrn_path_shown(path, shown), why.msg);
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}
