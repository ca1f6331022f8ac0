#!/usr/bin/env bats
# jrn-route and schema 15 (lib/state.c): route_decisions_customer holds the
# sends only, by (customer_id, decided_at). A version 14 file keeps every
# row; the caps still count the sends it holds; a customer's other
# decisions are still found by --explain, jrn privacy export and erase
# (by a scan of the table).

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# email CUSTOMER [EXTRA-JSON-MEMBERS]: one e-mail action of campaign k1
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","subject":"Hi"%s}\n' "$1" "$1" "${2:+,$2}"
}

# to_v14: jrn.db's customer index as version 14 had it (every decision,
# with decision), user_version 14
to_v14() {
	sqlite3 jrn.db <<'SQL'
BEGIN;
DROP INDEX route_decisions_customer;
CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decision, decided_at);
PRAGMA user_version = 14;
COMMIT;
SQL
}

# index_sql: the customer index's CREATE statement
index_sql() {
	rows "SELECT sql FROM sqlite_schema WHERE name = 'route_decisions_customer'"
}

@test "a new file: the customer index is partial on the sends, by customer and time" {
	run --separate-stderr jrn-route < /dev/null
	assert_success
	assert_equal "$(index_sql)" "CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decided_at)
  WHERE decision = 'send'"
}

@test "a version 14 file with sends and defers: upgraded in place, every row kept, caps still counted" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ email c1; email c1 '"template":"t2"'; email c2; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(jq -r .route.decision <<< "$output" | tr '\n' ' ')" "send defer send "
	assert_equal "$(rows "SELECT count(*) FROM route_decisions")" 3
	before=$(rows 'SELECT * FROM route_decisions ORDER BY seq')
	to_v14
	assert_equal "$(rows 'PRAGMA user_version')" 14
	assert_equal "$(index_sql)" "CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decision, decided_at)"
	# the same actions again: c1 and c2 are capped by the sends the file
	# holds (found through the new index)
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(rows 'PRAGMA user_version')" 16
	assert_equal "$(jq -c '[.customerId, .route.decision, .route.reason]' <<< "$output" | tr '\n' ' ')" \
		'["c1","defer","cap_channel"] ["c1","defer","cap_channel"] ["c2","defer","cap_channel"] '
	assert_equal "$(rows 'SELECT * FROM route_decisions WHERE seq <= 3 ORDER BY seq')" "$before"
	assert_equal "$(rows 'SELECT count(*), max(seq) FROM route_decisions')" "6|6"
	assert_equal "$(index_sql)" "CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decided_at)
  WHERE decision = 'send'"
	assert_equal "$(rows 'PRAGMA integrity_check')" ok
	# the gate's read of a customer's sends goes through it
	run sqlite3 jrn.db "EXPLAIN QUERY PLAN SELECT channel FROM route_decisions r
		WHERE customer_id = 'c1' AND (decided_at >= 0 OR send_at >= 0) AND decision = 'send'"
	assert_output --partial "USING INDEX route_decisions_customer (customer_id=?)"
}

@test "a customer's defers, outside the index, are still explained, exported and erased; the gate's rows alone make her known" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ email c1; email c1 '"template":"t2"'; email c1 '"template":"t3"'; email c2; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(rows "SELECT group_concat(decision, ' ') FROM (SELECT decision FROM route_decisions WHERE customer_id = 'c1' ORDER BY seq)")" "send defer defer"
	run --separate-stderr jrn-route -q --explain c1
	assert_success
	assert_equal "$(grep -c ' defer email campaign k1' <<< "$output")" 2
	assert_equal "$(grep -c ' send email campaign k1' <<< "$output")" 1
	run --separate-stderr jrn privacy export c1
	assert_success
	assert_equal "$(jq -c '[.routeDecisions[].decision]' <<< "$output")" '["send","defer","defer"]'
	# her address, which only the deferred actions' bodies hold, is in
	# the scope and erased (hashed into erasures)
	assert_equal "$(jq -c '.addresses' <<< "$output")" '["c1@example.com"]'
	run --separate-stderr jrn privacy erase c1
	assert_success
	assert_equal "$stderr" "jrn: privacy erase: 1 ids, 1 addresses erased"
	assert_equal "$(rows "SELECT count(*) FROM route_decisions WHERE customer_id = 'c1'")" 0
	assert_equal "$(rows "SELECT count(*) FROM route_send_keys")" 1
	assert_equal "$(rows "SELECT customer_id, decision FROM route_decisions")" "c2|send"
	assert_equal "$(rows 'PRAGMA integrity_check')" ok
}
