#!/usr/bin/env bats
# Issue 12, acceptance: the nightly line end to end,
#   jrn-score rfm --save --changes | jrn-segment --save --changes |
#   jrn-route --journeys J | jrn-send --spool DIR
# (a journey on entering the vip segment mails at once: the mail lands in
# the spool) and `jrn-route --tick | jrn-send` from cron (its second mail
# two days later) -- plainly, and as jobs of `jrn run`.

load helpers

TEMPLATES=$BATS_TEST_DIRNAME/../share/jrn/templates

# A shop: jrn-gen's customers with their addresses (an identify each), the
# vip segment, a journey on entering it, the shipped templates.
setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export JRN_NOW=2026-01-07T02:00:00Z
	jrn init . > /dev/null
	"$JRN_GEN" -n 3000 -s 9 > events.ndjson
	jq -c 'select(.type == "user.signup") | {type: "identify", customerId, timestamp,
		traits: {email: .properties.email, firstName: ("N" + .customerId)}}' events.ndjson > ids.ndjson
	jrn-ingest -q --store-only events.ndjson ids.ndjson
	mkdir J
	cat > J/vip.yaml <<-'Y'
	# vip: a reward on entering the vip segment, a thank-you two days on
	trigger: {segment: vip, on: entered}
	reentry: never
	steps:
	  - id: reward
	    action: {channel: email, template: vip-reward, campaign: vip, offer: vip-early-access}
	  - wait: 2d
	  - id: thanks
	    action: {channel: email, template: upsell, campaign: vip}
	Y
	cat > jrn.yaml <<-Y
	templates:
	  dir: $TEMPLATES
	send:
	  from: "Shop <news@shop.example>"
	  unsubscribe: {url: "https://shop.example/u", secret: s3cret}
	segments:
	  definitions:
	    vip:
	      rule: {field: rfm.segment, op: equals, value: VIP}
	jobs:
	  nightly: jrn-score rfm --save --changes | jrn-segment --save --changes | jrn-route --journeys J | jrn-send --spool out
	  tick: jrn-route --tick --journeys J | jrn-send --spool out
	Y
}

# nightly [SPOOL]: the line, plainly, its stderr in err
nightly() {
	run --separate-stderr bash -c 'set -o pipefail; jrn-score rfm -q --save --changes | jrn-segment -q --save --changes | jrn-route -q --journeys J | jrn-send -q --spool "$1"' _ "${1:-out}"
}

# mails SPOOL: the To of each message, sorted
mails() {
	grep -h "^To: " "$1"/*.eml | tr -d "\r" | LC_ALL=C sort
}

# vips: the vip segment's members' names and addresses, as To lines, sorted
vips() {
	sqlite3 jrn.db "SELECT 'To: ' || p.first_name || ' <' || p.email || '>' FROM segment_members m
		JOIN profiles p USING (customer_id) WHERE m.segment = 'vip'" | LC_ALL=C sort
}

@test "nightly: score, segment, route, send: a mail per customer entering vip lands in the spool; the events pass on" {
	nightly out
	assert_success
	assert_equal "$stderr" ""
	n=$(rows "SELECT count(*) FROM segment_members WHERE segment = 'vip'")
	[ "$n" -gt 5 ]
	# every entry mailed once, to the member's address, rendered from the template
	assert_equal "$(ls out/*.eml | wc -l)" "$n"
	assert_equal "$(mails out)" "$(vips)"
	grep -l '^Subject: You are a VIP now' out/*.eml > subj
	assert_equal "$(wc -l < subj)" "$n"
	grep -q 'https://shop.example/u?c=' "$(ls out/*.eml | head -1)" || grep -q 'List-Unsubscribe: .*https://shop.example/u' "$(ls out/*.eml | head -1)"
	# stdout: rfm.segment.changed and segment.entered passed through, byte
	# for byte, and the actions with route and delivery
	assert_equal "$(jq -r 'select(.type) | .type' <<< "$output" | sort | uniq -c | awk '{print $2}' | tr '\n' ' ')" \
		'rfm.segment.changed segment.entered '
	assert_equal "$(jq -r 'select(.actionType) | [.journey, .step, .route.decision, .delivery.status] | join(" ")' <<< "$output" | sort -u)" \
		'vip reward send simulated'
	# the state: enrollments waiting two days, every decision and delivery kept
	assert_equal "$(rows "SELECT count(*) FROM enrollments WHERE journey = 'vip' AND status = 'active' AND step IS NOT NULL")" "$n"
	assert_equal "$(rows "SELECT count(*) FROM deliveries WHERE status = 'simulated'")" "$n"
	# the same night again: no change, nothing new
	nightly out
	assert_success
	assert_equal "$(ls out/*.eml | wc -l)" "$n"
	assert_equal "$(jq -r 'select(.actionType) | .customerId' <<< "$output")" ""
}

@test "tick from cron: the second mail two days on, once; a tick too early sends nothing; a clock going back is refused" {
	nightly out
	assert_success
	n=$(ls out/*.eml | wc -l)
	# a day on: nothing due
	run --separate-stderr bash -c 'jrn-route -q --tick --journeys J --now 2026-01-08T02:00:00Z | jrn-send -q --spool out'
	assert_success
	assert_output ""
	assert_equal "$(ls out/*.eml | wc -l)" "$n"
	# two days on: the thank-you of each, into the spool
	run --separate-stderr bash -c 'set -o pipefail; jrn-route -q --tick --journeys J --now 2026-01-09T02:00:00Z | jrn-send -q --spool out --now 2026-01-09T02:00:00Z'
	assert_success
	assert_equal "$(jq -r '[.step, .route.decision, .delivery.status] | join(" ")' <<< "$output" | sort -u)" 'thanks send simulated'
	assert_equal "${#lines[@]}" "$n"
	assert_equal "$(ls out/*.eml | wc -l)" "$((2 * n))"
	assert_equal "$(grep -l '^Subject: Goes well with your order' out/*.eml | wc -l)" "$n"
	assert_equal "$(rows "SELECT count(*) FROM enrollments WHERE journey = 'vip' AND status = 'completed'")" "$n"
	# the next minute: nothing twice
	run --separate-stderr bash -c 'jrn-route -q --tick --journeys J --now 2026-01-09T02:01:00Z | jrn-send -q --spool out'
	assert_success
	assert_output ""
	assert_equal "$(ls out/*.eml | wc -l)" "$((2 * n))"
	# a clock earlier than the last tick: refused, exit 2, nothing sent
	run --separate-stderr jrn-route --tick --journeys J --now 2026-01-09T01:00:00Z
	assert_failure 2
	assert_output ""
}

@test "a tick whose output never reached jrn-send is sent by the next run of the line, not twice" {
	nightly out
	n=$(ls out/*.eml | wc -l)
	# the tick's actions decided, but jrn-send never ran (lost in a pipe)
	jrn-route -q --tick --journeys J --now 2026-01-09T02:00:00Z > lost.ndjson
	assert_equal "$(wc -l < lost.ndjson)" "$n"
	# kept: the same records replayed later are sent once, then duplicates
	run --separate-stderr jrn-send -q --spool out --now 2026-01-09T02:05:00Z lost.ndjson
	assert_success
	assert_equal "$(ls out/*.eml | wc -l)" "$((2 * n))"
	run --separate-stderr jrn-send -q --spool out --now 2026-01-09T02:06:00Z lost.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output" | sort -u)" duplicate
	assert_equal "$(ls out/*.eml | wc -l)" "$((2 * n))"
}

@test "jrn run: the nightly job and the tick job, stage by stage, the same mails; jrn log has them" {
	run --separate-stderr jrn run -q nightly
	assert_success
	n=$(rows "SELECT count(*) FROM segment_members WHERE segment = 'vip'")
	[ "$n" -gt 5 ]
	assert_equal "$(ls out/*.eml | wc -l)" "$n"
	assert_equal "$(mails out)" "$(vips)"
	assert_equal "$(jq -r 'select(.actionType) | .delivery.status' <<< "$output" | sort -u)" simulated
	assert_equal "$(rows "SELECT group_concat(status) FROM run_stages WHERE run_id = (SELECT max(id) FROM runs) ORDER BY stage")" '0,0,0,0'
	run --separate-stderr jrn run -q --now 2026-01-09T02:00:00Z tick
	assert_success
	assert_equal "${#lines[@]}" "$n"
	assert_equal "$(ls out/*.eml | wc -l)" "$((2 * n))"
	run --separate-stderr jrn log
	assert_success
	assert_output --partial tick
	assert_output --partial nightly
	# the tick job again at the same time: nothing
	run --separate-stderr jrn run -q --now 2026-01-09T02:00:00Z tick
	assert_success
	assert_output ""
}

@test "journeys.dir in jrn.yaml instead of --journeys; a broken journey beside it: the line goes on, exit 3" {
	printf 'journeys:\n  dir: J\n' >> jrn.yaml
	printf 'trigger: {event: x}\nsteps:\n  - wait: later\n' > J/broken.yaml
	run --separate-stderr bash -c 'jrn-score rfm -q --save --changes | jrn-segment -q --save --changes | jrn-route -q | jrn-send -q --spool out; echo "${PIPESTATUS[@]}"'
	assert_line --index $((${#lines[@]} - 1)) '0 0 3 0'
	assert_regex "$stderr" 'jrn-route: J/broken.yaml:3:[0-9]+: '
	n=$(rows "SELECT count(*) FROM segment_members WHERE segment = 'vip'")
	assert_equal "$(ls out/*.eml | wc -l)" "$n"
}

@test "more actions than a pipe holds, jrn-route | jrn-send: jrn-send reads on while jrn-route holds the lock; each sent once" {
	for i in $(seq 1 1500); do
		printf '{"actionType":"email","customerId":"c%d","campaignId":"w","recipientEmail":"u%d@example.com","subject":"s","messageContent":"m"}\n' "$i" "$i"
	done > many.ndjson
	# (it stalled for db.busyTimeout, 10 s, then failed: 2 s is far more than it takes)
	printf 'db:\n  busyTimeout: 2s\n' > busy.yaml
	run --separate-stderr bash -c 'set -o pipefail; jrn-route -q many.ndjson | jrn-send -q --config busy.yaml --spool big'
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq -r .delivery.status <<< "$output" | sort | uniq -c | awk '{print $1, $2}')" "1500 simulated"
	assert_equal "$(ls big/*.eml | wc -l)" 1500
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM deliveries WHERE status = 'simulated'")" 1500
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM route_decisions WHERE decision = 'send'")" 1500
	# the same line again: every one a duplicate, nothing more in the spool
	run --separate-stderr bash -c 'set -o pipefail; jrn-route -q many.ndjson | jrn-send -q --config busy.yaml --spool big'
	assert_success
	assert_equal "$(ls big/*.eml | wc -l)" 1500
}

@test "jrn-route | jrn-send over a steady stream: jrn-route lets jrn-send at the lock between its batches; each sent once" {
	for i in $(seq 1 20000); do
		printf '{"actionType":"email","customerId":"c%d","campaignId":"w","recipientEmail":"u%d@example.com","subject":"s","messageContent":"m"}\n' "$i" "$i"
	done > many.ndjson
	# a full batch at once, then 50 lines every 15 ms: input never idle
	# for the 50 ms that ends a batch, so jrn-route held the lock through
	# its second batch, and jrn-send failed "database is locked" after
	# its time-out
	cat > feed.sh <<-'F'
	head -10000 "$1"
	tail -n +10001 "$1" | while mapfile -t -n 50 chunk && ((${#chunk[@]})); do
		printf '%s\n' "${chunk[@]}"; sleep 0.015
	done
	F
	# 1.5 s: half the stream's length at least (200 pauses of 15 ms), so
	# holding the lock through it fails; and a margin over one batch of
	# jrn-send's (256 mails to the spool) or of jrn-route's held beyond
	# ROUTE_HOLD_MS on a loaded machine (400 ms was too little in a CI
	# run, where jrn-route gave up after 12,201 sends)
	printf 'db:\n  busyTimeout: 1500ms\n' > busy.yaml
	run --separate-stderr bash -c 'set -o pipefail; bash feed.sh many.ndjson | jrn-route -q --config busy.yaml | jrn-send -q --config busy.yaml --spool big'
	# (which tool gave up, and after how many, when it fails)
	[ "$status" -eq 0 ] || fail "exit $status after ${#lines[@]} sends: $stderr"
	assert_equal "$stderr" ""
	assert_equal "$(jq -r .delivery.status <<< "$output" | sort | uniq -c | awk '{print $1, $2}')" "20000 simulated"
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM deliveries WHERE status = 'simulated'")" 20000
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM route_decisions WHERE decision = 'send'")" 20000
	# the writers' turns went through the file beside the state file
	[ -f jrn.db-writers ]
}
