#!/usr/bin/env bats
# jrn-route's resend (jrn-route(1) Idempotency): a key the gate decided
# send before, which jrn-send took and did not send (deliveries.status
# failed, suppressed or rejected), goes out again under the same key when
# the action comes again; one jrn-send holds, or never saw, stays a
# duplicate.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	jrn init . > /dev/null
	mkdir tpl
	cat > jrn.yaml <<-'Y'
	templates:
	  dir: tpl
	send:
	  from: "Shop <news@shop.example>"
	  unsubscribe: {url: "https://shop.example/u", secret: s3cret}
	policy:
	  cost: {email: 1}
	  budgets: {k1: 10}
	Y
}

# action CUSTOMER [EXTRA-JSON-MEMBERS]: an e-mail of campaign k1 with the
# template hello
action() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","template":"hello"%s}\n' "$1" "$1" "${2:+,$2}"
}

template() {
	echo 'Hi' > tpl/hello.subject
	printf 'Hello\n\nUnsubscribe: {{unsubscribeUrl}}\n' > tpl/hello.txt
}

# line FILE: the gate and jrn-send over FILE; each record's route decision,
# reason and delivery status in output
line() {
	run --separate-stderr bash -c 'jrn-route -q "$1" | jrn-send -q --spool out' _ "$1"
	output=$(jq -r '"\(.route.decision) \(.route.reason // "-") \(.delivery.status)"' <<< "$output")
}

@test "a send jrn-send rejected (its template missing) goes again once the template is there: resend, the same key, its cost not spent twice; then a duplicate" {
	action c1 > a.ndjson
	line a.ndjson
	assert_output "send - rejected"
	assert_equal "$status" 3
	[[ $(rows "SELECT error FROM deliveries") == *"template 'hello'"* ]]
	key=$(rows "SELECT key FROM deliveries")
	[ ${#key} = 64 ]
	template
	line a.ndjson
	assert_success
	assert_output "send resend simulated"
	assert_equal "$(ls out/*.eml | wc -l)" 1
	assert_equal "$(rows "SELECT key, status FROM deliveries")" "$key|simulated"
	# the decision log has both; the budget paid the estimate once
	assert_equal "$(rows "SELECT decision, coalesce(reason, '-') FROM route_decisions ORDER BY seq" | tr '\n' ' ')" \
		"send|- send|resend "
	assert_equal "$(rows "SELECT spent FROM route_budgets")" 1.0
	run jrn-route --explain c1
	assert_output --partial "send email campaign k1: resend"
	# sent now: the same action again is a duplicate, nothing more mailed
	line a.ndjson
	assert_output "suppress duplicate suppressed"
	assert_equal "$(ls out/*.eml | wc -l)" 1
}

@test "a resend passes what admitted it once (trigger window, cooldown, a budget now spent) but not a consent revoked since" {
	cat >> jrn.yaml <<-'Y'
	  cooldown: {o1: 14d}
	Y
	sed -i 's/budgets: {k1: 10}/budgets: {k1: 1}/' jrn.yaml
	action c1 '"trigger":"t1","offerId":"o1"' > a.ndjson
	action c2 '"trigger":"t1","offerId":"o1"' >> a.ndjson
	line a.ndjson
	assert_output $'send - rejected\nsuppress budget suppressed'
	template
	line a.ndjson
	assert_output $'send resend simulated\nsuppress budget suppressed'
	# a day on the trigger window is over, the cooldown (14 d) and the
	# budget are not; c1's mail goes again, revoked or not
	sqlite3 jrn.db "UPDATE deliveries SET status = 'failed'"
	ev consent.revoked c1 '"properties":{"channel":"email"}' | jrn-ingest -q > /dev/null
	JRN_NOW=2026-01-16T12:00:00Z line a.ndjson
	assert_output $'suppress consent_revoked suppressed\nsuppress budget suppressed'
	assert_equal "$(ls out/*.eml | wc -l)" 1
	assert_equal "$(rows "SELECT spent FROM route_budgets")" 1.0
}

@test "what jrn-send holds (sending, queued, sent, simulated) is a duplicate; failed, suppressed, rejected go again; a key jrn-send never saw is a duplicate" {
	action c1 > a.ndjson
	run --separate-stderr jrn-route -q a.ndjson
	assert_equal "$(jq -r .route.decision <<< "$output")" send
	key=$(jq -r .idempotencyKey <<< "$output")
	# jrn-send never saw it (its --dry-run, or the output dropped)
	run --separate-stderr jrn-route -q a.ndjson
	assert_equal "$(jq -r '.route.reason' <<< "$output")" duplicate
	ts=1768478400000
	for st in sending queued sent simulated failed suppressed rejected; do
		sqlite3 jrn.db "DELETE FROM deliveries; INSERT INTO deliveries (key, customer_id, channel,
			campaign_id, status, claimed_at, updated_at, record)
			VALUES ('$key', 'c1', 'email', 'k1', '$st', $ts, $ts, '{}')"
		run --separate-stderr jrn-route -q a.ndjson
		assert_success
		echo "$st $(jq -r '"\(.route.decision) \(.route.reason) \(.idempotencyKey)"' <<< "$output")"
	done > got
	assert_equal "$(cat got)" "sending suppress duplicate $key
queued suppress duplicate $key
sent suppress duplicate $key
simulated suppress duplicate $key
failed send resend $key
suppressed send resend $key
rejected send resend $key"
}

@test "--dry-run: a resend is decided and nothing of it kept; --simulate has no resend (its keys are its own)" {
	action c1 > a.ndjson
	line a.ndjson
	assert_output "send - rejected"
	run --separate-stderr jrn-route -q --dry-run a.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output")" "send resend"
	assert_equal "$(rows "SELECT count(*) FROM route_decisions")" 1
	printf '{"actionType":"email","customerId":"c1","campaignId":"k1","recipientEmail":"c1@example.com","template":"hello","timestamp":"2026-01-15T12:00:00Z"}\n' > s.ndjson
	run --separate-stderr jrn-route -q --simulate s.ndjson
	assert_success
	refute_output --partial resend
}
