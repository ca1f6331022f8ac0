#!/usr/bin/env bats
# jrn-route and schema 16 (lib/state.c): enrollments made again with
# status's CHECK as ORs of equalities (SQLite 3.40 builds a temporary
# table for `IN (...)` on every insert and every update of the column), as
# route_decisions was at 10. A version 15 file keeps every enrollment, id
# and index; enrollments in flight go on; the rule is as strict as before.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# to_v15: jrn.db's enrollments as version 8 made them (the CHECK with IN),
# rows kept, and user_version 15
to_v15() {
	sqlite3 jrn.db <<'SQL'
BEGIN;
CREATE TABLE e15 (
  id            INTEGER PRIMARY KEY,
  journey       TEXT    NOT NULL,
  version       INTEGER NOT NULL,
  customer_id   TEXT    NOT NULL,
  trigger_key   TEXT    NOT NULL,
  trigger_event TEXT,
  status        TEXT    NOT NULL
                CHECK (status IN ('active', 'completed', 'converted', 'exited')),
  step          TEXT,
  due_at        INTEGER,
  wait_events   TEXT,
  variant       TEXT,
  entered_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  ended_at      INTEGER,
  reason        TEXT
);
INSERT INTO e15 SELECT * FROM enrollments;
DROP TABLE enrollments;
ALTER TABLE e15 RENAME TO enrollments;
CREATE UNIQUE INDEX enrollments_active ON enrollments (journey, customer_id)
  WHERE status = 'active';
CREATE INDEX enrollments_due ON enrollments (due_at) WHERE status = 'active';
CREATE INDEX enrollments_customer ON enrollments (customer_id, journey, entered_at);
PRAGMA user_version = 15;
COMMIT;
SQL
}

# go CUSTOMER: the trigger event of journey v
go() {
	printf '{"id":"go-%s","type":"go","customerId":"%s","timestamp":"2026-01-15T12:00:00Z"}\n' "$1" "$1"
}

# plan STATEMENT: SQLite's program for it on jrn.db, opcodes only
plan() {
	sqlite3 jrn.db "EXPLAIN $1" | awk '{ print $2 }'
}

@test "a new file: status's CHECK has no IN, and neither an insert nor an update of status builds a temporary table" {
	run --separate-stderr jrn-route < /dev/null
	assert_success
	assert_equal "$(rows 'PRAGMA user_version')" 16
	run rows "SELECT sql FROM sqlite_schema WHERE name = 'enrollments'"
	assert_output --partial "CHECK (status = 'active' OR status = 'completed' OR status = 'converted'"
	refute_output --partial " IN "
	ins="INSERT INTO enrollments (journey, version, customer_id, trigger_key, status, entered_at, updated_at) VALUES ('v', 1, 'c', 'k', 'active', 0, 0)"
	run plan "$ins"
	assert_line IdxInsert
	refute_line OpenEphemeral
	run plan "UPDATE enrollments SET status = 'exited' WHERE id = 1"
	refute_line OpenEphemeral
	# as strict as before
	run sqlite3 jrn.db "${ins/'active'/'paused'}"
	assert_failure
	assert_output --partial "CHECK constraint failed"
	run sqlite3 jrn.db "$ins; UPDATE enrollments SET status = 'Active'"
	assert_failure
	assert_output --partial "CHECK constraint failed"
	# the insert went in, the update did not
	assert_equal "$(rows 'SELECT status FROM enrollments')" active
}

@test "a version 15 file with enrollments waiting and ended: rebuilt with every row, id and index; the waits go on" {
	mkdir journeys
	printf 'name: v\ntrigger: {event: go}\nreentry: always\nsteps:\n  - id: w\n    wait: 1d\n  - exit: done\n' > journeys/v.yaml
	{ go c1; go c2; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	# c2's enrollment ends early (as a goal or exit would)
	sqlite3 jrn.db "UPDATE enrollments SET status = 'exited', step = NULL, due_at = NULL, ended_at = 1, reason = 'test' WHERE customer_id = 'c2'"
	before=$(rows 'SELECT * FROM enrollments ORDER BY id')
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 2
	to_v15
	assert_equal "$(rows 'PRAGMA user_version')" 15
	run rows "SELECT sql FROM sqlite_schema WHERE name = 'enrollments'"
	assert_output --partial "CHECK (status IN ("
	# any writing run migrates: every row as it was, the indexes made again
	run --separate-stderr jrn-route < /dev/null
	assert_success
	assert_equal "$(rows 'PRAGMA user_version')" 16
	assert_equal "$(rows 'SELECT * FROM enrollments ORDER BY id')" "$before"
	run rows "SELECT sql FROM sqlite_schema WHERE name = 'enrollments'"
	refute_output --partial " IN "
	assert_equal "$(rows "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE tbl_name = 'enrollments' AND type = 'index' ORDER BY name)")" \
		"enrollments_active enrollments_customer enrollments_due"
	assert_equal "$(rows 'PRAGMA integrity_check')" ok
	# c1's wait is still due a day later; a new enrollment's id follows the old ones
	run --separate-stderr env JRN_NOW=2026-01-16T12:00:00Z jrn-route --tick
	assert_success
	assert_equal "$(rows "SELECT status, reason FROM enrollments WHERE customer_id = 'c1'")" "exited|done"
	go c3 | JRN_NOW=2026-01-16T12:00:00Z jrn-route > /dev/null
	assert_equal "$(rows "SELECT id, status FROM enrollments WHERE customer_id = 'c3'")" "3|active"
	# the unique index of the active rows still holds
	run sqlite3 jrn.db "INSERT INTO enrollments (journey, version, customer_id, trigger_key, status, entered_at, updated_at) VALUES ('v', 1, 'c3', 'k', 'active', 0, 0)"
	assert_failure
	assert_output --partial "UNIQUE constraint failed"
}
