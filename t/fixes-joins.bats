#!/usr/bin/env bats
# Bugs in the joins between tools (session 9, "fixes"): each test runs the
# tools as a user pipes them and checks what the next tool sees.

load helpers

# ---- 1. jrn-send's suppressions and rejections reach jrn-report metrics ----

# Three email actions of campaign A: one sent (spool: simulated), one the
# gate suppressed (route.decision suppress), one with no subject (rejected
# by jrn-send, key k3). metrics counts 1 sent, 1 suppressed, 1 rejected.
send_three() {
	cat > in.ndjson <<'J'
{"actionType":"email","customerId":"c1","campaignId":"A","recipientEmail":"a@example.com","subject":"Hi","messageContent":"Hello"}
{"actionType":"email","customerId":"c2","campaignId":"A","recipientEmail":"b@example.com","subject":"Hi","messageContent":"Hello","route":{"decision":"suppress","reason":"cap"}}
{"actionType":"email","customerId":"c3","campaignId":"A","recipientEmail":"c@example.com","messageContent":"Hello","idempotencyKey":"k3"}
J
	run jrn-send --db jrn.db in.ndjson
	assert_failure 3
}

@test "metrics: what jrn-send suppressed and rejected is counted (ledger rows suppressed, rejected)" {
	send_three
	run rows "SELECT customer_id, status, error FROM deliveries ORDER BY customer_id"
	assert_output "c1|simulated|
c2|suppressed|route: cap
c3|rejected|no subject: the action has none and no template gives one"
	JRN_NOW=2026-01-01T01:00:00Z run --separate-stderr jrn-report metrics --db jrn.db --since 24h
	assert_success
	run jq -c '[.campaign, .channel, .sent, .suppressed, .rejected, .failed]' <<< "$output"
	assert_output '["A","email",1,1,1,0]'
}

@test "metrics: a rejected action fixed and sent again under its key is sent once, no longer rejected" {
	send_three
	# the same key, now with a subject: taken over from 'rejected'
	echo '{"actionType":"email","customerId":"c3","campaignId":"A","recipientEmail":"c@example.com","subject":"Hi","messageContent":"Hello","idempotencyKey":"k3"}' > fixed.ndjson
	run jrn-send --db jrn.db fixed.ndjson
	assert_success
	assert_output --partial '"status":"simulated"'
	# and once only: a third run is a duplicate
	run jrn-send --db jrn.db fixed.ndjson
	assert_success
	assert_output --partial '"status":"duplicate"'
	run rows "SELECT status, error IS NULL FROM deliveries WHERE key = 'k3'"
	assert_output "simulated|1"
	JRN_NOW=2026-01-01T01:00:00Z run --separate-stderr jrn-report metrics --db jrn.db --since 24h
	run jq -c '[.sent, .suppressed, .rejected]' <<< "$output"
	assert_output '[2,1,0]'
}

@test "jrn-send: a rejection does not take over a key already sent; a reject without a key is not in the ledger" {
	echo '{"actionType":"email","customerId":"c1","campaignId":"A","recipientEmail":"a@example.com","subject":"Hi","messageContent":"Hello","idempotencyKey":"k1"}' > ok.ndjson
	run jrn-send --db jrn.db ok.ndjson
	assert_success
	# the same key again, now unsendable (no subject): rejected on stdout,
	# the ledger's row stays as sent
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"A","recipientEmail":"a@example.com","messageContent":"Hello","idempotencyKey":"k1"}' \
		'{"actionType":"fax","customerId":"c9","campaignId":"A"}' > bad.ndjson
	run jrn-send --db jrn.db bad.ndjson
	assert_failure 3
	run rows "SELECT key, status FROM deliveries ORDER BY key"
	assert_output "k1|simulated"
}

@test "jrn-send --dry-run writes no suppressed or rejected rows" {
	cat > in.ndjson <<'J'
{"actionType":"email","customerId":"c2","campaignId":"A","recipientEmail":"b@example.com","subject":"Hi","messageContent":"Hello","route":{"decision":"suppress","reason":"cap"}}
{"actionType":"email","customerId":"c3","campaignId":"A","recipientEmail":"c@example.com","messageContent":"Hello","idempotencyKey":"k3"}
J
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	run jrn-send --db jrn.db --dry-run in.ndjson
	assert_failure 3
	run rows "SELECT count(*) FROM deliveries"
	assert_output 0
}
