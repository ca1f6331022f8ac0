#!/usr/bin/env bats
# jrn-route's resend (jrn-route(1) Idempotency): a key the gate decided
# send before, whose record jrn-send rejected (deliveries.status rejected:
# nothing sent), goes out again under the same key when the action comes
# again, on the channel it was sent on, through the caps but not the
# cooldown, trigger window or budget; any other key jrn-send holds, or one
# it never saw, stays a duplicate.

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
	  cost: {email: 1, sms: 5}
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

@test "a resend passes the cooldown, the trigger window and a budget spent since, not a consent revoked since" {
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
	assert_equal "$(rows "SELECT spent FROM route_budgets")" 1.0
	# rejected again, then c1 revokes: rules 1-3 are asked again
	sqlite3 jrn.db "UPDATE deliveries SET status = 'rejected' WHERE customer_id = 'c1'"
	ev consent.revoked c1 '"properties":{"channel":"email"}' | jrn-ingest -q > /dev/null
	JRN_NOW=2026-01-16T12:00:00Z line a.ndjson
	assert_output $'suppress consent_revoked suppressed\nsuppress budget suppressed'
	assert_equal "$(ls out/*.eml | wc -l)" 1
}

@test "a resend counts in the caps, and is counted: in one run, and in the next before jrn-send has it" {
	cat >> jrn.yaml <<-'Y'
	  caps:
	    email: {max: 1, window: 1d}
	Y
	action c1 '"idempotencyKey":"ka"' | sed 's/"k1"/"a"/' > a.ndjson
	action c1 '"idempotencyKey":"kb"' | sed 's/"k1"/"b"/' > b.ndjson
	line a.ndjson
	assert_output "send - rejected"
	template
	# B goes first now: A's resend finds the cap full
	JRN_NOW=2026-01-15T13:00:00Z line b.ndjson
	assert_output "send - simulated"
	JRN_NOW=2026-01-15T13:00:00Z line a.ndjson
	assert_output "defer cap_channel deferred"
	# a day on, the cap free: A twice in one run is one resend, the
	# second held by it
	cat a.ndjson a.ndjson > aa.ndjson
	JRN_NOW=2026-01-16T14:00:00Z run --separate-stderr jrn-route -q aa.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output" | tr '\n' ' ')" \
		"send resend defer cap_channel "
	# and the next run, jrn-send not run yet, counts that resend
	action c1 '"idempotencyKey":"kc"' | sed 's/"k1"/"c"/' > c.ndjson
	JRN_NOW=2026-01-16T15:00:00Z run --separate-stderr jrn-route -q c.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output")" "defer cap_channel"
}

@test "a resend goes on the channel it was sent on, at no new cost: an SMS that fell back to e-mail for the budget stays an e-mail" {
	sed -i 's/budgets: {k1: 10}/budgets: {k1: 1}/' jrn.yaml
	printf '{"actionType":"sms","customerId":"c1","campaignId":"k1","recipientEmail":"c1@example.com","recipientPhone":"+14155550100","template":"hello"}\n' > s.ndjson
	line s.ndjson
	assert_output "send fallback rejected"
	assert_equal "$(rows "SELECT channel, status FROM deliveries")" "email|rejected"
	template
	line s.ndjson
	assert_output "send resend simulated"
	assert_equal "$(rows "SELECT channel, status FROM deliveries")" "email|simulated"
	assert_equal "$(rows "SELECT spent FROM route_budgets")" 1.0
	assert_equal "$(ls out/*.eml | wc -l)" 1
}

@test "only a rejection goes again: sending, queued, sent, simulated, failed (abandoned, cancelled, refused) and suppressed are duplicates, and a key jrn-send never saw" {
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
failed suppress duplicate $key
suppressed suppress duplicate $key
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

@test "a resend is not one twice: again before jrn-send has it, a duplicate; the cooldown and trigger window see other sends, not the rejected one; at the same millisecond as its rejection the caps still count it" {
	# the same action twice in one run: one resend, then a duplicate
	action c1 > a.ndjson
	line a.ndjson
	template
	cat a.ndjson a.ndjson > aa.ndjson
	run --separate-stderr jrn-route -q aa.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output" | tr '\n' ' ')" \
		"send resend suppress duplicate "
	# and in a second run before jrn-send: a duplicate
	run --separate-stderr jrn-route -q a.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output")" "suppress duplicate"

	# c2: o1 rejected on the 1st; another mail of o1 sent on the 16th;
	# the resend an hour on falls in that one's cooldown (14 d)
	printf '  cooldown: {o1: 14d}\n' >> jrn.yaml
	action c2 '"idempotencyKey":"ka","offerId":"o1"' > ka.ndjson
	action c2 '"idempotencyKey":"kb","offerId":"o1"' > kb.ndjson
	rm tpl/*
	JRN_NOW=2026-01-01T12:00:00Z line ka.ndjson
	assert_output "send - rejected"
	template
	# the rejected mail cools nothing: kb goes on the 9th
	JRN_NOW=2026-01-09T12:00:00Z line kb.ndjson
	assert_output "send - simulated"
	JRN_NOW=2026-01-09T13:00:00Z line ka.ndjson
	assert_output "suppress cooldown suppressed"

	# c3: cap 1 a day; kc rejected and resent in the same millisecond,
	# then kd: the cap counts the resend
	printf '  caps:\n    email: {max: 1, window: 1d}\n' >> jrn.yaml
	action c3 '"idempotencyKey":"kc"' > kc.ndjson
	action c3 '"idempotencyKey":"kd"' | sed 's/"k1"/"k2"/' > kd.ndjson
	rm tpl/*
	JRN_NOW=2026-02-01T12:00:00Z line kc.ndjson
	assert_output "send - rejected"
	template
	JRN_NOW=2026-02-01T12:00:00Z run --separate-stderr jrn-route -q kc.ndjson
	assert_equal "$(jq -r .route.reason <<< "$output")" resend
	JRN_NOW=2026-02-01T12:00:00Z run --separate-stderr jrn-route -q kd.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output")" "defer cap_channel"
}

@test "a resend rejected again at the same millisecond (a fixed clock, route | send) goes again the next time; a duplicate never writes over the key's row in the ledger (a newcomer's trial)" {
	# every pass at JRN_NOW: route decides and jrn-send rejects in the
	# same ms; the third pass was a duplicate, the key lost for good
	action c1 > a.ndjson
	for i in 1 2 3 4; do
		line a.ndjson
		echo "$output"
	done > got
	assert_equal "$(cat got | tr '\n' ',')" "send - rejected,send resend rejected,send resend rejected,send resend rejected,"
	template
	line a.ndjson
	assert_output "send resend simulated"
	assert_equal "$(rows "SELECT status FROM deliveries")" simulated
	# route twice before jrn-send, in that ms: the second is a duplicate
	rm tpl/*
	action c2 > b.ndjson
	line b.ndjson
	assert_output "send - rejected"
	run --separate-stderr jrn-route -q b.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output")" "send resend"
	run --separate-stderr jrn-route -q b.ndjson
	assert_equal "$(jq -r '"\(.route.decision) \(.route.reason)"' <<< "$output")" "suppress duplicate"
	# a cancelled key's row stands when the same action comes again
	key=$(rows "SELECT key FROM deliveries WHERE customer_id = 'c1'")
	sqlite3 jrn.db "UPDATE deliveries SET status = 'failed', error = 'cancelled by op' WHERE key = '$key'"
	line a.ndjson
	assert_output "suppress duplicate suppressed"
	assert_equal "$(rows "SELECT status, error FROM deliveries WHERE key = '$key'")" "failed|cancelled by op"
}
