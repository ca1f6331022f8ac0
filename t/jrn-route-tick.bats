#!/usr/bin/env bats
# jrn-route --tick: the clock never goes back, schedules and one-time
# triggers, deferred actions offered again, two ticks at once, a tick
# killed and run again.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# at TIME ARGS...: jrn-route at that clock, stdout and stderr apart
at() {
	local t=$1
	shift
	run --separate-stderr env JRN_NOW="$t" jrn-route "$@"
}

ident() {
	printf '{"type":"identify","customerId":"%s","traits":{"email":"%s@example.com"},"timestamp":"2026-01-01T00:00:00Z"}\n' \
		"$1" "$1" | JRN_NOW=2026-01-01T00:00:00Z jrn-ingest -q > /dev/null
}

@test "--tick refuses a clock earlier than the last tick (exit 2, both times named); the same time is fine" {
	jrn init -q
	at 2026-01-15T12:00:00Z --tick
	assert_success
	assert_equal "$output" ""
	assert_equal "$(rows "SELECT CAST(value AS TEXT) FROM state_keys WHERE name = 'route.tick'")" 1768478400000
	at 2026-01-15T11:59:59Z --tick
	assert_failure 2
	assert_equal "$stderr" "jrn-route: --tick: the clock 2026-01-15T11:59:59.000Z is earlier than the last tick 2026-01-15T12:00:00.000Z: refused (a tick never goes back in time)"
	assert_equal "$(rows "SELECT CAST(value AS TEXT) FROM state_keys WHERE name = 'route.tick'")" 1768478400000
	at 2026-01-15T12:00:00Z --tick
	assert_success
	run --separate-stderr jrn-route --tick extra.ndjson
	assert_failure 2
	assert_equal "$stderr" "jrn-route: --tick takes no FILEs"
	# a dry run remembers nothing
	at 2026-01-16T12:00:00Z --tick --dry-run
	assert_success
	assert_equal "$(rows "SELECT CAST(value AS TEXT) FROM state_keys WHERE name = 'route.tick'")" 1768478400000
}

@test "--tick refuses a state file that is not there (exit 1, said), makes none, as --explain does" {
	run --separate-stderr jrn-route --tick --db nosuch.db
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn-route: nosuch.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e nosuch.db ]
	# -q, --dry-run and the default ./jrn.db alike
	run --separate-stderr jrn-route -q --tick --dry-run
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e jrn.db ]
	jrn init -q
	at 2026-01-15T12:00:00Z --tick
	assert_success
	assert_equal "$stderr" "jrn-route: tick: 0 enrollments advanced, 0 enrolled by schedules, 0 deferred actions offered again
jrn-route: 0 send, 0 defer, 0 suppress, 0 rejected, 0 events passed"
}

@test "a schedule enrolls its segment's members at each instant, without back-fill; a missed day fires once" {
	mkdir journeys
	printf 'name: daily\ntrigger: {schedule: "0 9 * * *", zone: Europe/Paris, segment: vip}\nreentry: always\nsteps:\n  - exit: fired\n' > journeys/d.yaml
	ident c1; ident c2; ident c3
	sqlite3 jrn.db "INSERT INTO segment_members VALUES ('vip', 'c1', 0), ('vip', 'c2', 0), ('other', 'c3', 0)"
	# the journey appears at 10:00 Paris: that day's 09:00 is not fired
	at 2026-01-15T09:00:00Z --tick
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 0
	# the next day 08:00Z is 09:00 in Paris (UTC+1)
	at 2026-01-16T07:59:00Z --tick
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 0
	at 2026-01-16T08:00:00Z --tick
	assert_equal "$(rows 'SELECT customer_id, trigger_key, reason FROM enrollments ORDER BY id' | tr '\n' ' ')" \
		"c1|2026-01-16T08:00:00.000Z|fired c2|2026-01-16T08:00:00.000Z|fired "
	assert_equal "$(rows "SELECT fired_at FROM journey_schedules WHERE journey = 'daily'")" 1768550400000
	# no tick for three days: the latest instant fires once
	at 2026-01-19T12:00:00Z --tick
	assert_equal "$(rows "SELECT trigger_key, count(*) FROM enrollments GROUP BY trigger_key ORDER BY 1" | tr '\n' ' ')" \
		"2026-01-16T08:00:00.000Z|2 2026-01-19T08:00:00.000Z|2 "
	assert_equal "$(rows "SELECT json_extract(trigger_event, '\$.type') FROM enrollments LIMIT 1")" journey.schedule
}

@test "at: a one-time trigger enrolls every customer with a profile once" {
	mkdir journeys
	printf 'name: once\ntrigger: {at: "2026-01-20T10:00:00Z"}\nsteps:\n  - action: {channel: email, campaign: once, subject: s, messageContent: "m {{unsubscribeUrl}}"}\n' > journeys/o.yaml
	ident c1; ident c2
	at 2026-01-15T12:00:00Z --tick
	at 2026-01-20T09:59:59Z --tick
	assert_equal "$output" ""
	at 2026-01-20T10:00:00Z --tick
	assert_success
	assert_equal "$(jq -r '"\(.customerId) \(.route.decision)"' <<< "$output" | tr '\n' ' ')" "c1 send c2 send "
	at 2026-01-21T10:00:00Z --tick
	assert_equal "$output" ""
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 2
}

@test "a deferred action is offered again by the tick when its time comes, once" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	for k in k1 k2; do
		printf '{"actionType":"email","customerId":"c1","campaignId":"%s","recipientEmail":"c1@example.com","subject":"a","messageContent":"b"}\n' $k
	done > a.ndjson
	at 2026-01-15T12:00:00Z a.ndjson
	assert_equal "$(jq -r '"\(.campaignId) \(.route.decision) \(.route.sendAt)"' <<< "$output" | tr '\n' ' ')" \
		"k1 send 2026-01-15T12:00:00.000Z k2 defer 2026-01-16T12:00:00.000Z "
	at 2026-01-16T11:00:00Z --tick
	assert_equal "$output" ""
	at 2026-01-16T12:00:00Z --tick
	assert_success
	assert_equal "$(jq -r '"\(.campaignId) \(.route.decision)"' <<< "$output")" "k2 send"
	assert_equal "$(rows "SELECT campaign_id, decision, body IS NULL FROM route_decisions ORDER BY seq" | tr '\n' ' ')" \
		"k1|send|1 k2|defer|1 k2|send|1 "
	at 2026-01-17T12:00:00Z --tick
	assert_equal "$output" ""
}

# many N: N enrollments of journey m, each waiting an hour before a webhook
many() {
	mkdir -p journeys
	printf 'name: m\ntrigger: {event: go}\nsteps:\n  - wait: 1h\n  - webhook: {url: "https://hooks.example.com/m", campaign: m}\n' > journeys/m.yaml
	seq 1 "$1" | awk '{printf "{\"id\":\"g%d\",\"type\":\"go\",\"customerId\":\"u%d\"}\n", $1, $1}' > go.ndjson
	JRN_NOW=2026-01-15T12:00:00Z jrn-route go.ndjson > /dev/null
	[ "$(rows "SELECT count(*) FROM enrollments WHERE status = 'active'")" -eq "$1" ]
}

@test "two ticks at once: 10,000 due enrollments, each advanced once (one action each)" {
	many 10000
	JRN_NOW=2026-01-15T13:00:00Z jrn-route -q --tick > t1.ndjson 2> e1 &
	p1=$!
	JRN_NOW=2026-01-15T13:00:00Z jrn-route -q --tick > t2.ndjson 2> e2 &
	p2=$!
	wait $p1
	wait $p2
	assert_equal "$(cat e1 e2)" ""
	assert_equal "$(cat t1.ndjson t2.ndjson | wc -l)" 10000
	assert_equal "$(cat t1.ndjson t2.ndjson | jq -r .enrollment | sort -u | wc -l)" 10000
	assert_equal "$(rows "SELECT status, count(*) FROM enrollments GROUP BY status")" "completed|10000"
	assert_equal "$(rows "SELECT count(*), count(DISTINCT key) FROM route_decisions WHERE decision = 'send'")" "10000|10000"
}

@test "a tick killed (-9) in its middle (25,000 due, 10,000 a batch), then run again: nothing lost, nothing twice under another key" {
	many 25000
	JRN_NOW=2026-01-15T13:00:00Z jrn-route --tick > t1.ndjson 2> /dev/null &
	p=$!
	# kill it once some batch is out
	for _ in $(seq 1 400); do
		[ -s t1.ndjson ] && break
		sleep 0.01
	done
	kill -9 $p
	wait $p || true
	done1=$(rows "SELECT count(*) FROM enrollments WHERE status = 'completed'")
	[ "$done1" -lt 25000 ]
	at 2026-01-15T13:00:00Z --tick
	assert_success
	printf '%s\n' "$output" > t2.ndjson
	# every enrollment advanced; every action out at least once, each under its one key
	assert_equal "$(rows "SELECT status, count(*) FROM enrollments GROUP BY status")" "completed|25000"
	assert_equal "$(cat t1.ndjson t2.ndjson | jq -rR 'fromjson? | "\(.enrollment) \(.idempotencyKey)"' | sort -u | wc -l)" 25000
	assert_equal "$(cat t1.ndjson t2.ndjson | jq -rR 'fromjson? | .idempotencyKey' | sort -u | wc -l)" 25000
	# what was committed is not sent again
	[ "$(wc -l < t2.ndjson)" -le $((25000 - done1 + 10000)) ]
	assert_equal "$(rows "SELECT count(*), count(DISTINCT key) FROM route_decisions WHERE decision = 'send'")" "25000|25000"
}

@test "a daily schedule's tick a few seconds earlier than the day before still sends: each firing is its own trigger" {
	mkdir journeys
	printf 'name: daily\ntrigger: {schedule: "0 9 * * *", zone: UTC}\nreentry: always\nsteps:\n  - id: m\n    webhook: {url: "https://hooks.example.com/d", campaign: d}\n' > journeys/d.yaml
	ident c1
	at 2026-01-15T12:00:00Z --tick
	at 2026-01-16T09:00:30Z --tick
	assert_success
	assert_equal "$(jq -r '"\(.trigger) \(.route.decision)"' <<< "$output")" "daily/m/2026-01-16T09:00:00.000Z send"
	at 2026-01-17T09:00:05Z --tick
	assert_success
	assert_equal "$(jq -r '"\(.trigger) \(.route.decision)"' <<< "$output")" "daily/m/2026-01-17T09:00:00.000Z send"
}

@test "a minute schedule after four years without a tick fires once, at the latest minute, without walking every minute" {
	mkdir journeys
	printf 'name: minutely\ntrigger: {schedule: "* * * * *", zone: UTC}\nreentry: always\nsteps:\n  - exit: fired\n' > journeys/m.yaml
	ident c1
	at 2026-01-15T12:00:00Z --tick
	assert_success
	start=$(date +%s)
	at 2030-01-15T12:00:30Z --tick
	assert_success
	# about 2.1 million minutes: walked one by one this took 31 s
	[ $(($(date +%s) - start)) -lt 10 ]
	assert_equal "$(rows 'SELECT trigger_key FROM enrollments')" 2030-01-15T12:00:00.000Z
	assert_equal "$(rows "SELECT fired_at FROM journey_schedules WHERE journey = 'minutely'")" 1894708830000
}

@test "a journey's action deferred by a cap is not sent by the tick once an exit event ended the enrollment; an active one's is" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	mkdir journeys
	printf 'trigger: cart\nexit: order\nsteps:\n  - action: {channel: email, campaign: cart, subject: s, messageContent: "{{unsubscribeUrl}}"}\n  - wait: 2d\n' > journeys/c.yaml
	ident d1; ident d2
	{
		printf '{"actionType":"email","customerId":"d1","campaignId":"news","recipientEmail":"d1@example.com"}\n'
		printf '{"actionType":"email","customerId":"d2","campaignId":"news","recipientEmail":"d2@example.com"}\n'
		printf '{"id":"1","type":"cart","customerId":"d1","timestamp":"2026-01-15T12:00:00Z"}\n'
		printf '{"id":"2","type":"cart","customerId":"d2","timestamp":"2026-01-15T12:00:00Z"}\n'
		printf '{"id":"3","type":"order","customerId":"d1","timestamp":"2026-01-15T13:00:00Z"}\n'
	} > in.ndjson
	at 2026-01-15T12:00:00Z --config jrn.yaml in.ndjson
	assert_success
	assert_equal "$(jq -r 'select(.campaignId == "cart") | "\(.customerId) \(.route.decision) \(.route.reason)"' <<< "$output" | tr '\n' ' ')" \
		"d1 defer cap_channel d2 defer cap_channel "
	assert_equal "$(rows "SELECT customer_id, status FROM enrollments ORDER BY id" | tr '\n' ' ')" "d1|exited d2|active "
	at 2026-01-16T12:00:00Z --config jrn.yaml --tick
	assert_success
	assert_equal "$(jq -r '"\(.customerId) \(.route.decision) \(.route.reason)"' <<< "$output" | tr '\n' ' ')" \
		"d1 suppress enrollment_exited d2 send null "
	# offered once: the next tick has nothing
	at 2026-01-16T12:05:00Z --config jrn.yaml --tick
	assert_equal "$output" ""
}

@test "a journey's action the gate rejects names the customer and the enrollment on stderr; its reason is in the log and --explain" {
	mkdir journeys
	printf 'name: once\ntrigger: {at: "2026-01-20T10:00:00Z"}\nsteps:\n  - action: {channel: email, campaign: once, subject: s, messageContent: "m {{unsubscribeUrl}}"}\n' > journeys/o.yaml
	ident c1
	printf '{"type":"identify","customerId":"c2","traits":{"firstName":"B"},"timestamp":"2026-01-01T00:00:00Z"}\n' |
		JRN_NOW=2026-01-01T00:00:00Z jrn-ingest -q > /dev/null
	at 2026-01-15T12:00:00Z -q --tick
	at 2026-01-20T10:00:00Z --tick
	assert_equal "$status" 3
	assert_equal "$(jq -r '"\(.customerId) \(.route.decision)"' <<< "$output")" "c1 send"
	assert_equal "${stderr_lines[0]}" \
		"jrn-route: journeys/o.yaml:4: customer c2, enrollment 2: no recipient: recipientEmail, profile.email or email"
	assert_equal "${stderr_lines[2]}" "jrn-route: 1 send, 0 defer, 0 suppress, 1 rejected, 0 events passed"
	assert_equal "$(rows "SELECT e.customer_id, l.detail FROM enrollment_log l JOIN enrollments e ON e.id = l.enrollment WHERE l.what = 'action' ORDER BY e.customer_id")" \
		"$(printf 'c1|{"decision":"send","reason":null,"channel":"email"}\nc2|{"decision":"rejected","reason":"no recipient: recipientEmail, profile.email or email"}')"
	at 2026-01-20T10:00:00Z --explain c2
	assert_success
	assert_output --partial "action    rejected: no recipient: recipientEmail, profile.email or email"
}
