#!/usr/bin/env bats
# jrn-route and schema 12 (lib/state.c): a send's key is claimed in the
# narrow table route_send_keys (the send's seq and a 64-bit hash of its
# key) instead of the unique index route_decisions_key; the keys of the
# sends before it are copied into route_send_keys_11. A version 11 file
# keeps every row; its keys stay claimed; two keys of one hash are told
# apart; a deleted send takes its claim along.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# email CUSTOMER [EXTRA-JSON-MEMBERS]: one e-mail action of campaign k1
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","subject":"Hi"%s}\n' "$1" "$1" "${2:+,$2}"
}

# keyed CUSTOMER KEY: a transactional e-mail (past caps) with its own key
keyed() {
	email "$1" "\"idempotencyKey\":\"$2\",\"priority\":\"transactional\""
}

# decisions: the output's [decision, reason] pairs on one line
decisions() {
	jq -c '[.route.decision, .route.reason]' <<< "$output" | tr '\n' ' '
}

# hash KEY: route_send_keys.hash of KEY as jrn-state(5) gives it (FNV-1a
# 64, murmur3's final mix, signed)
hash() {
	python3 -c '
import sys
m = (1 << 64) - 1
h = 0xcbf29ce484222325
for b in sys.argv[1].encode():
    h = ((h ^ b) * 0x100000001b3) & m
h ^= h >> 33
h = (h * 0xff51afd7ed558ccd) & m
h ^= h >> 33
print(h - (1 << 64) if h >> 63 else h)' "$1"
}

# to_v11: jrn.db as version 11 had it: the unique index of the sends'
# keys, the customer index of every decision, no route_send_keys nor
# deliveries_message, user_version 11
to_v11() {
	sqlite3 jrn.db <<'SQL'
BEGIN;
DROP TRIGGER route_send_keys_gone;
DROP TABLE route_send_keys;
DROP TABLE route_send_keys_11;
DROP INDEX deliveries_message; DROP TABLE log_offsets; DROP INDEX events_delivery; DROP INDEX events_orders; DROP INDEX deliveries_sent;
CREATE UNIQUE INDEX route_decisions_key ON route_decisions (key) WHERE decision = 'send';
DROP INDEX route_decisions_customer;
CREATE INDEX route_decisions_customer ON route_decisions (customer_id, decision, decided_at);
PRAGMA user_version = 11;
COMMIT;
SQL
}

@test "a version 11 file with decisions: upgraded in place, every row kept, its sends' keys still claimed" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ email c1; email c1 '"template":"t2"'; email c2; keyed c3 k-c3; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] ["defer","cap_channel"] ["send",null] ["send",null] '
	before=$(rows 'SELECT * FROM route_decisions ORDER BY seq')
	to_v11
	assert_equal "$(rows 'PRAGMA user_version')" 11
	assert_equal "$(rows 'SELECT * FROM route_decisions ORDER BY seq')" "$before"
	# c3's key again (claimed before the upgrade), c4's twice (after it)
	{ keyed c3 k-c3; keyed c4 k-c4; keyed c4 k-c4; email c1 '"template":"t3"'; } > b.ndjson
	run --separate-stderr jrn-route b.ndjson
	assert_success
	assert_equal "$(rows 'PRAGMA user_version')" 16
	assert_equal "$(decisions)" \
		'["suppress","duplicate"] ["send",null] ["suppress","duplicate"] ["defer","cap_channel"] '
	# the four rows as they were (seq, body and all), four more after
	assert_equal "$(rows 'SELECT * FROM route_decisions WHERE seq <= 4 ORDER BY seq')" "$before"
	assert_equal "$(rows 'SELECT count(*), max(seq) FROM route_decisions')" "8|8"
	assert_equal "$(rows 'SELECT group_concat(key) FROM (SELECT key FROM route_send_keys_11 ORDER BY key)')" \
		"$(rows "SELECT group_concat(key) FROM (SELECT key FROM route_decisions WHERE seq <= 4 AND decision = 'send' ORDER BY key)")"
	assert_equal "$(rows 'SELECT count(*) FROM route_send_keys_11')" 3
	# one claim since: c4's send, its hash as jrn-state(5) says
	assert_equal "$(rows "SELECT k.hash = $(hash k-c4), r.key FROM route_send_keys k JOIN route_decisions r USING (seq)")" "1|k-c4"
	assert_equal "$(rows "SELECT name FROM sqlite_schema WHERE tbl_name = 'route_decisions' AND type IN ('index', 'trigger') ORDER BY name" | tr '\n' ' ')" \
		"route_decisions_customer route_decisions_deferred route_send_keys_gone "
	assert_equal "$(rows 'PRAGMA integrity_check')" ok
	# and a new file is made at version 12 with the same tables
	run --separate-stderr jrn-route --db new.db < /dev/null
	assert_success
	assert_equal "$(sqlite3 new.db "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE name LIKE 'route_send_keys%' ORDER BY name)")" \
		"route_send_keys,route_send_keys_11,route_send_keys_gone,route_send_keys_hash"
}

@test "two keys of one hash are told apart by the key: neither is a duplicate of the other" {
	keyed c1 k-a > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] '
	# k-a's claim given k-b's hash (a collision of the 64-bit hash)
	rows "UPDATE route_send_keys SET hash = $(hash k-b)"
	{ keyed c2 k-b; keyed c2 k-b; } > b.ndjson
	run --separate-stderr jrn-route b.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] ["suppress","duplicate"] '
	assert_equal "$(rows "SELECT count(*) FROM route_decisions WHERE key = 'k-b' AND decision = 'send'")" 1
	assert_equal "$(rows "SELECT group_concat(r.key) FROM route_send_keys k JOIN route_decisions r USING (seq) WHERE k.hash = $(hash k-b)")" "k-a,k-b"
}

@test "a deleted send (jrn privacy erase) takes its claim along, of either table" {
	keyed c1 k-old > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	to_v11
	keyed c2 k-new > b.ndjson
	run --separate-stderr jrn-route b.ndjson
	assert_success
	assert_equal "$(rows 'SELECT (SELECT count(*) FROM route_send_keys_11), (SELECT count(*) FROM route_send_keys)')" "1|1"
	# a deferral or suppression deleted leaves the claims alone
	rows "INSERT INTO route_decisions (key, customer_id, channel, decision, decided_at) VALUES ('k-new', 'c2', 'email', 'suppress', 0)"
	rows "DELETE FROM route_decisions WHERE decision = 'suppress'"
	assert_equal "$(rows 'SELECT (SELECT count(*) FROM route_send_keys_11), (SELECT count(*) FROM route_send_keys)')" "1|1"
	rows "DELETE FROM route_decisions WHERE customer_id IN ('c1', 'c2')"
	assert_equal "$(rows 'SELECT (SELECT count(*) FROM route_send_keys_11), (SELECT count(*) FROM route_send_keys)')" "0|0"
	# both keys free again
	{ keyed c1 k-old; keyed c2 k-new; } > c.ndjson
	run --separate-stderr jrn-route c.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] ["send",null] '
}

@test "--dry-run claims no key" {
	keyed c1 k-1 > a.ndjson
	run --separate-stderr jrn-route --dry-run a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] '
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] '
	assert_equal "$(rows 'SELECT count(*) FROM route_send_keys')" 1
}

@test "past 64 look-ups the claimed keys' hashes are read into memory: an earlier run's key, a colliding hash and this run's own keys still decided right" {
	for i in $(seq 1 100); do keyed c$i k-$i; done > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(jq -r .route.decision <<< "$output" | sort | uniq -c | tr -s ' ')" " 100 send"
	# k-1's claim given k-new's hash: k-new's look-up finds the hash, the
	# key tells them apart; k-1 itself is no longer found by its own hash
	# (sent again, right after the 100 new keys)
	rows "UPDATE route_send_keys SET hash = $(hash k-new) WHERE seq = 1"
	# 100 new keys first (the set is read after the 64th look-up), then
	# the earlier run's keys, k-new, and this run's keys again
	{ for i in $(seq 101 200); do keyed c$i k-$i; done
	  for i in $(seq 1 100); do keyed c$i k-$i; done
	  keyed c0 k-new
	  for i in $(seq 101 200); do keyed c$i k-$i; done; } > b.ndjson
	run --separate-stderr jrn-route b.ndjson
	assert_success
	assert_equal "$(jq -r '.route.decision + " " + (.route.reason // "")' <<< "$output" | uniq -c | tr -s ' ' | tr '\n' ';')" \
		" 101 send ; 99 suppress duplicate; 1 send ; 100 suppress duplicate;"
	assert_equal "$(rows "SELECT count(*), count(DISTINCT key) FROM route_decisions WHERE decision = 'send'")" "202|201"
}
