#!/usr/bin/env bats
# jrn-route and schema 10 (lib/state.c): route_decisions made again with
# decision's CHECK as ORs of equalities (SQLite 3.40 builds a temporary
# table for `IN (...)` on every insert). A version 9 file keeps every row,
# seq, body and index; the rule is as strict as before.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# email CUSTOMER [EXTRA-JSON-MEMBERS]: one e-mail action of campaign k1
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","subject":"Hi"%s}\n' "$1" "$1" "${2:+,$2}"
}

# to_v9: jrn.db's route_decisions as version 9 made it (the CHECK with IN),
# its rows kept, later versions' tables dropped, and user_version 9
to_v9() {
	sqlite3 jrn.db <<'SQL'
BEGIN;
CREATE TABLE rd9 (
  seq         INTEGER PRIMARY KEY,
  key         TEXT    NOT NULL,
  customer_id TEXT    NOT NULL,
  channel     TEXT    NOT NULL,
  campaign_id TEXT,
  offer       TEXT,
  trigger_key TEXT,
  journey     TEXT,
  version     INTEGER,
  step        TEXT,
  decision    TEXT    NOT NULL CHECK (decision IN ('send', 'defer', 'suppress')),
  reason      TEXT,
  decided_at  INTEGER NOT NULL,
  send_at     INTEGER,
  cost        REAL
, enrollment INTEGER, body TEXT);
INSERT INTO rd9 SELECT * FROM route_decisions;
DROP TABLE route_decisions;
ALTER TABLE rd9 RENAME TO route_decisions;
CREATE UNIQUE INDEX route_decisions_key ON route_decisions (key) WHERE decision = 'send';
CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decision, decided_at);
CREATE INDEX route_decisions_deferred ON route_decisions (send_at)
  WHERE decision = 'defer' AND body IS NOT NULL;
DROP TABLE insights;
DROP TABLE route_send_keys;
DROP TABLE route_send_keys_11;
DROP INDEX deliveries_message; DROP TABLE log_offsets; DROP INDEX events_delivery; DROP INDEX events_orders; DROP INDEX deliveries_sent;
PRAGMA user_version = 9;
COMMIT;
SQL
}

@test "a version 9 file: route_decisions rebuilt with every row, seq, body and index; keys still claimed" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ email c1; email c1 '"template":"t2"'; email c2; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(jq -r .route.decision <<< "$output" | tr '\n' ' ')" "send defer send "
	before=$(rows 'SELECT * FROM route_decisions ORDER BY seq')
	to_v9
	assert_equal "$(rows 'PRAGMA user_version')" 9
	assert_equal "$(rows 'SELECT * FROM route_decisions ORDER BY seq')" "$before"
	# the same actions again through the migrated file: the caps count
	# the sends the file holds
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(rows 'PRAGMA user_version')" 16
	assert_equal "$(jq -c '[.route.decision, .route.reason]' <<< "$output" | tr '\n' ' ')" \
		'["defer","cap_channel"] ["defer","cap_channel"] ["defer","cap_channel"] '
	# the first three rows as they were (seq, body and all), three more after
	assert_equal "$(rows 'SELECT * FROM route_decisions WHERE seq <= 3 ORDER BY seq')" "$before"
	assert_equal "$(rows 'SELECT count(*), max(seq) FROM route_decisions')" "6|6"
	assert_equal "$(rows "SELECT count(*) FROM route_decisions WHERE body IS NOT NULL")" 4
	assert_equal "$(rows "SELECT name FROM sqlite_schema WHERE tbl_name = 'route_decisions' AND type = 'index' ORDER BY name" | tr '\n' ' ')" \
		"route_decisions_customer route_decisions_deferred "
	# schema 12 took the two sends' keys into route_send_keys_11
	assert_equal "$(rows 'SELECT count(*) FROM route_send_keys_11')" 2
	assert_equal "$(rows "SELECT count(*) FROM sqlite_schema WHERE name = 'route_decisions'
		AND sql LIKE '%decision = ''send'' OR decision = ''defer'' OR decision = ''suppress''%'")" 1
	assert_equal "$(rows "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%route_decisions_10%'")" 0
	assert_equal "$(rows 'PRAGMA integrity_check')" ok
	# a send's key is still claimed once: the same keyed action twice
	# (transactional: past the cap)
	email c3 '"idempotencyKey":"k-c3","priority":"transactional"' > b.ndjson
	email c3 '"idempotencyKey":"k-c3","priority":"transactional"' >> b.ndjson
	run --separate-stderr jrn-route b.ndjson
	assert_success
	assert_equal "$(jq -c '[.route.decision, .route.reason]' <<< "$output" | tr '\n' ' ')" \
		'["send",null] ["suppress","duplicate"] '
}

@test "schema 10's CHECK refuses what version 9's refused, and takes the three decisions" {
	run jrn-route < /dev/null
	assert_success
	for d in send defer suppress; do
		rows "INSERT INTO route_decisions (key, customer_id, channel, decision, decided_at) VALUES ('k$d', 'c', 'email', '$d', 0)"
	done
	assert_equal "$(rows 'SELECT group_concat(decision) FROM (SELECT decision FROM route_decisions ORDER BY seq)')" "send,defer,suppress"
	for d in Send sendx '' 1; do
		run sqlite3 jrn.db "INSERT INTO route_decisions (key, customer_id, channel, decision, decided_at) VALUES ('x', 'c', 'email', '$d', 0)"
		assert_failure
		assert_output --partial 'CHECK constraint failed'
	done
	run sqlite3 jrn.db "INSERT INTO route_decisions (key, customer_id, channel, decision, decided_at) VALUES ('x', 'c', 'email', NULL, 0)"
	assert_failure
	assert_output --partial 'NOT NULL constraint failed: route_decisions.decision'
	assert_equal "$(rows 'SELECT count(*) FROM route_decisions')" 3
	# no statement of the gate's insert builds a temporary table
	run sqlite3 jrn.db "EXPLAIN INSERT INTO route_decisions (key, customer_id, channel, decision, decided_at) VALUES (?1, ?2, ?3, ?4, ?5)"
	assert_success
	refute_output --partial OpenEphemeral
}
