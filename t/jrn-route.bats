#!/usr/bin/env bats
# jrn-route: the policy gate, rule by rule with --now, its memory in the
# state file, bad input, and the pipeline into jrn-send.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# [CAMP=ID] email CUSTOMER [EXTRA-JSON-MEMBERS]: one e-mail action of
# campaign ID (default k1)
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"%s","recipientEmail":"%s@example.com","subject":"Hi","messageContent":"Hello"%s}\n' "$1" "${CAMP:-k1}" "$1" "${2:+,$2}"
}

# [CAMP=ID] sms CUSTOMER [EXTRA]: one SMS action to a valid US number
sms() {
	printf '{"actionType":"sms","customerId":"%s","campaignId":"%s","recipientPhone":"+14155550100","messageContent":"Hi"%s}\n' "$1" "${CAMP:-k1}" "${2:+,$2}"
}

# decisions: route's decision and reason of each output line
decisions() {
	jq -c '[.route.decision, .route.reason]' <<< "$output" | tr '\n' ' '
}

@test "an action comes out whole with route added, its key derived and remembered" {
	email c1 > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-route: 1 send, 0 defer, 0 suppress, 0 rejected, 0 events passed"
	# every byte of the input passes, route and the key spliced in
	assert_equal "$(jq -c 'del(.route, .idempotencyKey)' <<< "$output")" "$(cat a.ndjson)"
	assert_equal "$(jq -c .route <<< "$output")" \
		'{"decision":"send","reason":null,"sendAt":"2026-01-15T12:00:00.000Z","variant":null,"cost":0,"journey":null,"step":null,"version":null,"channel":"email"}'
	key=$(jq -r .idempotencyKey <<< "$output")
	# sha256 of the JSON array of customer, campaign, channel, template, trigger, UTC date
	assert_equal "$key" "$(printf '%s' '["jrn-route/1","c1","k1","email",null,null,"2026-01-15"]' | sha256sum | cut -d' ' -f1)"
	assert_equal "$(rows 'SELECT key, customer_id, channel, campaign_id, decision, decided_at FROM route_decisions')" \
		"$key|c1|email|k1|send|1768478400000"
	assert_equal "$(rows 'PRAGMA user_version')" 16
}

@test "bad input: no channel, no customer, no recipient, bad JSON, bad UTF-8, a NUL inside a field are rejected with file:line; the rest go on" {
	{
		printf '{"customerId":"c1","recipientEmail":"a@example.com"}\n'
		printf '{"actionType":"fax","customerId":"c1"}\n'
		printf '{"actionType":"email","recipientEmail":"a@example.com"}\n'
		printf '{"actionType":"email","customerId":"c1"}\n'
		printf '{"actionType":"sms","customerId":"c1"}\n'
		printf '{"actionType":"email",\n'
		printf '{"actionType":"email","customerId":"c\xff"}\n'
		printf '[1]\n'
		printf '{"actionType":"email","customerId":"c\\u0000x","recipientEmail":"a@example.com"}\n'
		printf '{"actionType":"email","customerId":"c2","recipientEmail":"a@example.com","sendAt":"tomorrow"}\n'
		printf '{"actionType":"email","customerId":"c2","recipientEmail":"a@example.com","timeZone":"Mars/Olympus"}\n'
		printf '{"actionType":"email\\u0000x","customerId":"c2","recipientEmail":"a@example.com"}\n'
		printf '{"actionType":"email","customerId":"c2","recipientEmail":"a@example.com\\u0000evil@example.com"}\n'
		printf '{"actionType":"email","customerId":"c2","recipientEmail":"a@example.com","testVariant":"A\\u0000B"}\n'
		email ok
	} > a.ndjson
	printf 'policy:\n  quietHours: {start: "21:00", end: "08:00"}\n' > jrn.yaml
	run --separate-stderr jrn-route --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .customerId <<< "$output")" ok
	assert_equal "$stderr" "jrn-route: a.ndjson:1: no channel: actionType (email, sms, whatsapp, webhook or retargeting)
jrn-route: a.ndjson:2: actionType 'fax' is not email, sms, whatsapp, webhook or retargeting
jrn-route: a.ndjson:3: customerId: missing
jrn-route: a.ndjson:4: no recipient: recipientEmail, profile.email or email
jrn-route: a.ndjson:5: no recipient: recipientPhone, profile.phone or phone
jrn-route: a.ndjson:6: invalid JSON at byte 23: expected a string key
jrn-route: a.ndjson:7: invalid UTF-8 at byte 38
jrn-route: a.ndjson:8: not a JSON object (got an array)
jrn-route: a.ndjson:9: customerId: control character U+0000 at byte 2
jrn-route: a.ndjson:10: sendAt: expected an RFC 3339 time with a zone, such as 2027-12-24T09:00:00Z (not an RFC 3339 date-time (want YYYY-MM-DDTHH:MM:SSZ))
jrn-route: a.ndjson:11: timeZone: 'Mars/Olympus' is not a time zone of the system's zoneinfo
jrn-route: a.ndjson:12: actionType: a NUL character (\\u0000) inside
jrn-route: a.ndjson:13: recipientEmail: a NUL character (\\u0000) inside
jrn-route: a.ndjson:14: testVariant: a NUL character (\\u0000) inside
jrn-route: 1 send, 0 defer, 0 suppress, 14 rejected, 0 events passed"
	assert_equal "$(wc -l < rej.ndjson)" 14
	assert_equal "$(jq -r .line rej.ndjson | tr '\n' ' ')" "1 2 3 4 5 6 7 8 9 10 11 12 13 14 "
	assert_equal "$(sed -n 7p rej.ndjson | jq -r .inputBase64 | base64 -d | od -An -tx1 | tr -d ' \n')" \
		"$(sed -n 7p a.ndjson | tr -d '\n' | od -An -tx1 | tr -d ' \n')"
	assert_equal "$(rows 'SELECT count(*) FROM route_decisions')" 1
}

@test "events pass through untouched and in order; an empty input is no output" {
	{ ev order.completed c1; email c1; ev page.viewed c2; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_line --index 0 "$(sed -n 1p a.ndjson)"
	assert_line --index 2 "$(sed -n 3p a.ndjson)"
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .route.decision)" send
	run jrn-route -q < /dev/null
	assert_success
	assert_output ""
}

@test "customer state records (jrn-ai: a state object, no type or actionType) pass through untouched" {
	{
		printf '{"customerId":"c1","state":{"journeyStage":"consideration"}}\n'
		email c1
		printf '{"customerId":"c2","state":"not an object"}\n'
		printf '{"customerId":"c3","state":{"journeyStage":"x"},"actionType":"email","recipientEmail":"c3@example.com"}\n'
	} > a.ndjson
	run --separate-stderr jrn-route --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_line --index 0 "$(sed -n 1p a.ndjson)"
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .route.decision)" send
	# a state with an actionType is an action, decided as any
	assert_equal "$(sed -n 3p <<< "$output" | jq -c '[.customerId, .route.decision]')" '["c3","send"]'
	assert_equal "$(wc -l <<< "$output")" 3
	# a state that is not an object is no state record: an action without a channel
	assert_equal "$stderr" "jrn-route: a.ndjson:3: no channel: actionType (email, sms, whatsapp, webhook or retargeting)
jrn-route: 2 send, 0 defer, 0 suppress, 1 rejected, 1 events passed"
	assert_equal "$(rows 'SELECT count(*) FROM route_decisions')" 2
}

@test "holdout: an action with holdout true is suppressed (holdout) after the recipient check, remembered, never sent" {
	ev consent.revoked c2 '"properties":{"channel":"email"}' | jrn-ingest -q > /dev/null
	{
		email c1 '"holdout":true'
		email c2 '"holdout":true'
		email c1 '"holdout":false,"template":"b"'
		printf '{"actionType":"email","customerId":"c3","holdout":true}\n'
		printf '{"actionType":"email","customerId":"c4","recipientEmail":"nope","holdout":true}\n'
		email c5 '"holdout":"yes"'
		email c6 '"holdout":null'
		CAMP=receipt email c7 '"holdout":true,"priority":"transactional"'
	} > a.ndjson
	printf 'policy:\n  fallback: []\n' > jrn.yaml
	run --separate-stderr jrn-route --rejects rej.ndjson a.ndjson
	assert_failure 3
	# a holdout asks no consent: c2's revoked consent is not its reason
	assert_equal "$(decisions)" '["suppress","holdout"] ["suppress","holdout"] ["send",null] ["suppress","recipient_invalid"] ["send",null] ["suppress","holdout"] '
	assert_equal "$stderr" "jrn-route: a.ndjson:4: no recipient: recipientEmail, profile.email or email
jrn-route: a.ndjson:6: holdout: expected true or false, got a string
jrn-route: 2 send, 0 defer, 4 suppress, 2 rejected, 0 events passed"
	assert_equal "$(rows "SELECT customer_id, channel, decision, reason FROM route_decisions WHERE reason = 'holdout' ORDER BY seq" | tr '\n' ' ')" \
		'c1|email|suppress|holdout c2|email|suppress|holdout c7|email|suppress|holdout '
	# a holdout is not a send: the same action without holdout goes out
	email c1 > b.ndjson
	run jrn-route -q b.ndjson
	assert_equal "$(decisions)" '["send",null] '
}

@test "route_decisions keeps the enrollment of a journey's action, and a deferred action's record for --tick" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n  triggerWindow: 0\n' > jrn.yaml
	j='"journey":"welcome","journeyVersion":1,"step":"s1","idempotencyKey":"jrn:k'
	{
		email c1 "$j"'1","enrollment":42'
		email c1 "$j"'2","enrollment":"e-7"'
		email c1 '"template":"t"'
		email c2 '"enrollmentId":"old-spelling"'
	} > a.ndjson
	run jrn-route -q a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] ["defer","cap_channel"] ["defer","cap_channel"] ["send",null] '
	assert_equal "$(rows 'SELECT enrollment, typeof(enrollment), decision, body IS NULL FROM route_decisions ORDER BY seq' | tr '\n' ' ')" \
		'42|integer|send|1 e-7|text|defer|0 |null|defer|0 old-spelling|text|send|1 '
	# the deferral's body: the record as read, byte for byte
	assert_equal "$(rows 'SELECT body FROM route_decisions WHERE seq = 2')" "$(sed -n 2p a.ndjson)"
	# without a key of its own: the derived key spliced in, so a later offer keeps it
	body=$(rows 'SELECT body FROM route_decisions WHERE seq = 3')
	assert_equal "$(jq -c 'del(.idempotencyKey)' <<< "$body")" "$(sed -n 3p a.ndjson)"
	assert_equal "$(jq -r .idempotencyKey <<< "$body")" "$(sed -n 3p <<< "$output" | jq -r .idempotencyKey)"
	# offered again at its send time, the body is decided under the same key
	printf '%s\n' "$body" > b.ndjson
	run jrn-route -q --now 2026-01-16T12:00:00Z b.ndjson
	assert_equal "$(decisions)" '["send",null] '
	assert_equal "$(jq -r .idempotencyKey <<< "$output")" "$(jq -r .idempotencyKey <<< "$body")"
	# a number that is not a whole id is refused like any id
	email c3 '"enrollment":{"x":1}' > c.ndjson
	run --separate-stderr jrn-route c.ndjson
	assert_failure 3
	assert_equal "$stderr" "jrn-route: c.ndjson:1: enrollment: expected a string, got an object
jrn-route: 0 send, 0 defer, 0 suppress, 1 rejected, 0 events passed"
	# but customerId is a string, as jrn-ingest and jrn-merge have it
	printf '{"actionType":"email","customerId":42,"recipientEmail":"a@example.com","subject":"s","messageContent":"m"}\n' > d.ndjson
	run --separate-stderr jrn-route d.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-route: d.ndjson:1: customerId: expected a string, got a number"
}

@test "recipient: an address that is not one is suppressed (recipient_invalid), not sent" {
	{
		printf '{"actionType":"email","customerId":"c1","recipientEmail":"not an address"}\n'
		printf '{"actionType":"sms","customerId":"c2","recipientPhone":"12"}\n'
		printf '{"actionType":"sms","customerId":"c3","recipientPhone":"(415) 555-0100"}\n'
	} > a.ndjson
	printf 'policy:\n  fallback: []\n' > jrn.yaml
	run jrn-route -q a.ndjson
	assert_success
	# the third has no +country and no policy.defaultRegion
	assert_equal "$(decisions)" '["suppress","recipient_invalid"] ["suppress","recipient_invalid"] ["suppress","recipient_invalid"] '
	printf 'policy:\n  fallback: []\n  defaultRegion: us\n' > jrn.yaml
	run jrn-route -q a.ndjson
	assert_equal "$(sed -n 3p <<< "$output" | jq -r .route.decision)" send
}

@test "consent and suppressions: revoked consent stops marketing only; a bounce or a STOP stops both" {
	ev consent.revoked c1 '"properties":{"channel":"email"}' | jrn-ingest -q > /dev/null
	sqlite3 jrn.db "INSERT INTO suppressions (address, channel, reason, ts) VALUES
	  ('c2@example.com', 'email', 'bounced', 0), ('+14155550100', 'sms', 'unsubscribed', 0),
	  ('c5', 'all', 'complained', 0)"
	{
		email c1
		CAMP=receipt email c1 '"priority":"transactional"'
		email c2
		CAMP=receipt email c2 '"priority":"transactional"'
		sms c3
		CAMP=receipt sms c3 '"category":"transactional"'
		email c4
		email c5
	} > a.ndjson
	printf 'policy:\n  fallback: []\n' > jrn.yaml
	run jrn-route -q a.ndjson
	assert_success
	assert_equal "$(decisions)" '["suppress","consent_revoked"] ["send",null] ["suppress","suppressed"] ["suppress","suppressed"] ["suppress","suppressed"] ["suppress","suppressed"] ["send",null] ["suppress","suppressed"] '
	# suppressed decisions are remembered too (the decision log), but hold no key
	assert_equal "$(rows "SELECT count(*) FROM route_decisions WHERE decision = 'suppress'")" 6
}

@test "quiet hours in the customer's zone, across both daylight-saving changes of Europe/Berlin" {
	printf 'policy:\n  quietHours: {start: "21:00", end: "08:00"}\n' > jrn.yaml
	email c1 '"timeZone":"Europe/Berlin"' > a.ndjson
	# 22:30 CET on the night clocks go forward: 08:00 CEST is 06:00Z (not 07:00Z)
	run jrn-route -q --dry-run --now 2026-03-28T21:30:00Z a.ndjson
	assert_equal "$(jq -c '[.route.decision, .route.reason, .route.sendAt]' <<< "$output")" \
		'["send","quiet_hours","2026-03-29T06:00:00.000Z"]'
	# 22:00 CEST on the night clocks go back: 08:00 CET is 07:00Z
	run jrn-route -q --dry-run --now 2026-10-24T20:00:00Z a.ndjson
	assert_equal "$(jq -r .route.sendAt <<< "$output")" 2026-10-25T07:00:00.000Z
	# 03:30 CEST, after the change, still quiet: the same day's 08:00 CEST
	run jrn-route -q --dry-run --now 2026-03-29T01:30:00Z a.ndjson
	assert_equal "$(jq -r .route.sendAt <<< "$output")" 2026-03-29T06:00:00.000Z
	# 08:00 local is allowed, 07:59 is not
	run jrn-route -q --dry-run --now 2026-03-29T06:00:00Z a.ndjson
	assert_equal "$(jq -c '[.route.reason, .route.sendAt]' <<< "$output")" '[null,"2026-03-29T06:00:00.000Z"]'
	run jrn-route -q --dry-run --now 2026-03-29T05:59:00Z a.ndjson
	assert_equal "$(jq -r .route.reason <<< "$output")" quiet_hours
	# transactional passes quiet hours
	email c1 '"timeZone":"Europe/Berlin","priority":"transactional"' > t.ndjson
	run jrn-route -q --dry-run --now 2026-03-28T21:30:00Z t.ndjson
	assert_equal "$(jq -c '[.route.reason, .route.sendAt]' <<< "$output")" '[null,"2026-03-28T21:30:00.000Z"]'
}

@test "quiet hours: the zone from the record, else the profile, else policy.timeZone" {
	printf 'policy:\n  timeZone: America/New_York\n  quietHours: {start: "22:00", end: "07:00"}\n' > jrn.yaml
	jrn-route < /dev/null
	sqlite3 jrn.db "INSERT INTO profiles (customer_id, time_zone, updated_at) VALUES ('c2', 'Asia/Tokyo', 0), ('c3', 'Nowhere/Land', 0)"
	{ email c1 '"profile":{"timeZone":"Europe/Lisbon"}'; email c2; email c3; email c4; } > a.ndjson
	# 23:30Z: Lisbon 23:30 quiet; Tokyo 08:30 fine; c3's zone is no zone and c4 has none: New York 18:30
	run jrn-route -q --dry-run --now 2026-01-15T23:30:00Z a.ndjson
	assert_success
	assert_equal "$(jq -c '[.route.reason, .route.sendAt]' <<< "$output" | tr '\n' ' ')" \
		'["quiet_hours","2026-01-16T07:00:00.000Z"] [null,"2026-01-15T23:30:00.000Z"] [null,"2026-01-15T23:30:00.000Z"] [null,"2026-01-15T23:30:00.000Z"] '
	# a sendAt asked for is where quiet hours are looked at
	email c4 '"sendAt":"2026-01-16T04:00:00Z"' > b.ndjson
	run jrn-route -q --dry-run b.ndjson
	assert_equal "$(jq -c '[.route.reason, .route.sendAt]' <<< "$output")" '["quiet_hours","2026-01-16T12:00:00.000Z"]'
}

@test "frequency caps count sent and pending deliveries (the ledger) and this run's own sends" {
	cat > jrn.yaml <<'Y'
policy:
  caps:
    email: {max: 2, window: 1d}
    all: {max: 3, window: 7d}
Y
	# one sent yesterday evening, one queued for later: both count
	sqlite3 jrn.db "SELECT 1" && jrn-route < /dev/null
	sqlite3 jrn.db "INSERT INTO deliveries (key, customer_id, channel, status, claimed_at, updated_at, record) VALUES
	  ('d1', 'c1', 'email', 'sent', 1768435200000, 0, '{}'),
	  ('d2', 'c2', 'email', 'queued', 1768474800000, 0, '{}'),
	  ('d3', 'c2', 'email', 'failed', 1768474800000, 0, '{}')"
	{ email c1 '"template":"a"'; email c1 '"template":"b"'; email c2 '"template":"a"'; email c2 '"template":"b"'; } > a.ndjson
	run jrn-route -q a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] ["defer","cap_channel"] ["send",null] ["defer","cap_channel"] '
	# deferred to when the oldest counted send leaves the window
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .route.sendAt)" 2026-01-16T00:00:00.000Z
	assert_equal "$(sed -n 4p <<< "$output" | jq -r .route.sendAt)" 2026-01-16T11:00:00.000Z
	# the next day: the email cap has room, the 7-day cap across channels has not (3 for c1)
	sms c1 > b.ndjson
	run jrn-route -q --now 2026-01-16T12:00:00Z b.ndjson
	assert_equal "$(decisions)" '["send",null] '
	email c1 '"template":"c"' > c.ndjson
	run jrn-route -q --now 2026-01-16T12:00:01Z c.ndjson
	assert_equal "$(decisions)" '["defer","cap_all"] '
	# a transactional message passes the caps
	email c1 '"template":"d","priority":"transactional"' > d.ndjson
	run jrn-route -q --now 2026-01-16T12:00:02Z d.ndjson
	assert_equal "$(decisions)" '["send",null] '
}

@test "an action for a merged-away id is the customer it names now: caps, its decisions and --explain count it there; the key is the id as written (a newcomer's trial)" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	# anon5 identified as user5, old5 an alias of user5
	printf '%s\n' '{"id":"i1","type":"identify","anonymousId":"anon5","userId":"user5","timestamp":"2026-01-15T10:00:00Z"}' \
		'{"id":"i2","type":"alias","previousId":"old5","userId":"user5","timestamp":"2026-01-15T10:01:00Z"}' | jrn-ingest -q > /dev/null
	{ CAMP=p email user5; CAMP=q email anon5; CAMP=r email old5; CAMP=s email other; } > a.ndjson
	run --separate-stderr jrn-route -q a.ndjson
	assert_success
	# three mails to one person in a day under a cap of one: one goes
	assert_equal "$(decisions)" '["send",null] ["defer","cap_channel"] ["defer","cap_channel"] ["send",null] '
	# the records as written; the decisions under the customer
	assert_equal "$(jq -r .customerId <<< "$output" | tr '\n' ' ')" 'user5 anon5 old5 other '
	assert_equal "$(rows "SELECT customer_id, campaign_id FROM route_decisions ORDER BY seq" | tr '\n' ' ')" \
		'user5|p user5|q user5|r other|s '
	run --separate-stderr jrn-route --explain anon5
	assert_line --index 0 'anon5 was merged into user5'
	assert_output --partial 'defer email campaign q: cap_channel'
	# the key is derived from the id as written (a key decided before the
	# merge stays the same key after it)
	{ CAMP=q email anon5; CAMP=q email user5; } > b.ndjson
	run --separate-stderr jrn-route -q --dry-run b.ndjson
	assert_equal "$(jq -r .idempotencyKey <<< "$output" | sort -u | wc -l)" 2
	assert_equal "$(sed -n 1p <<< "$output" | jq -r .idempotencyKey)" \
		"$(rows "SELECT key FROM route_decisions WHERE campaign_id = 'q'")"
}

@test "caps stay exact in one long run when another process writes between its batches" {
	printf 'policy:\n  caps:\n    email: {max: 2, window: 1d}\n' > jrn.yaml
	jrn-route < /dev/null
	mkfifo in
	jrn-route -q < in > out 2> err &
	pid=$!
	exec 7> in
	email c2 '"template":"a"' >&7
	for i in $(seq 100); do [ -s out ] && break; sleep 0.1; done
	assert_equal "$(jq -c '[.route.decision, .route.reason]' out)" '["send",null]'
	# the input paused: that batch is committed; jrn-send records a send of its own
	sqlite3 jrn.db "INSERT INTO deliveries (key, customer_id, channel, status, claimed_at, updated_at, record)
	  VALUES ('other', 'c2', 'email', 'sent', 1768478000000, 0, '{}')"
	email c2 '"template":"b"' >&7
	exec 7>&-
	wait "$pid"
	assert_equal "$(cat err)" ""
	# two counted now (the run's own and the other's): the second is deferred
	assert_equal "$(jq -c '[.route.decision, .route.reason]' out | tr '\n' ' ')" '["send",null] ["defer","cap_channel"] '
}

@test "caps: jrn-route's own send, once jrn-send holds its key, counts once" {
	printf 'policy:\n  caps:\n    email: {max: 2, window: 1d}\n' > jrn.yaml
	CAMP=a email c1 | jrn-route | jrn-send -q > /dev/null
	assert_equal "$(rows "SELECT count(*) FROM deliveries")" 1
	{ CAMP=b email c1; CAMP=c email c1; } > a.ndjson
	run jrn-route -q a.ndjson
	assert_equal "$(decisions)" '["send",null] ["defer","cap_channel"] '
}

@test "caps count a send by when it goes out, not when it was decided" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	# decided at 00:00 for 18:00; a second decided the next day at 01:00
	CAMP=m0 email u1 '"sendAt":"2026-03-10T18:00:00Z"' > a.ndjson
	run jrn-route -q --now 2026-03-10T00:00:00Z a.ndjson
	assert_equal "$(decisions)" '["send",null] '
	CAMP=m2 email u1 > b.ndjson
	run jrn-route -q --now 2026-03-11T01:00:00Z b.ndjson
	assert_equal "$(decisions)" '["defer","cap_channel"] '
	assert_equal "$(jq -r .route.sendAt <<< "$output")" 2026-03-11T18:00:00.000Z
}

@test "cooldown per campaign or offer, and the same trigger once per 24 h" {
	cat > jrn.yaml <<'Y'
policy:
  cooldown: {vip-offer: 14d}
Y
	CAMP=spring email c1 '"offerId":"vip-offer"' > a.ndjson
	run jrn-route -q a.ndjson
	assert_equal "$(decisions)" '["send",null] '
	CAMP=summer email c1 '"offerId":"vip-offer"' > b.ndjson
	run jrn-route -q --now 2026-01-28T12:00:00Z b.ndjson
	assert_equal "$(decisions)" '["suppress","cooldown"] '
	run jrn-route -q --now 2026-01-29T12:00:01Z b.ndjson
	assert_equal "$(decisions)" '["send",null] '
	# triggers: cart.abandoned twice within a day, another campaign each time
	CAMP=x1 email c2 '"trigger":"cart.abandoned"' > t1.ndjson
	CAMP=x2 email c2 '"trigger":"cart.abandoned"' > t2.ndjson
	CAMP=x3 email c2 '"trigger":"cart.abandoned"' > t3.ndjson
	run jrn-route -q t1.ndjson
	assert_equal "$(decisions)" '["send",null] '
	run jrn-route -q --now 2026-01-16T11:59:00Z t2.ndjson
	assert_equal "$(decisions)" '["suppress","trigger_window"] '
	run jrn-route -q --now 2026-01-16T12:00:01Z t3.ndjson
	assert_equal "$(decisions)" '["send",null] '
}

@test "idempotency: the same action twice is a duplicate; a journey's key is customer, journey, version, step, enrollment" {
	{ email c1; email c1; email c1 '"idempotencyKey":"given-1"'; email c1 '"idempotencyKey":"given-1"'; } > a.ndjson
	run jrn-route -q a.ndjson
	assert_equal "$(decisions)" '["send",null] ["suppress","duplicate"] ["send",null] ["suppress","duplicate"] '
	assert_equal "$(sed -n 3p <<< "$output" | jq -r .idempotencyKey)" given-1
	run jrn-route -q a.ndjson
	assert_equal "$(decisions)" '["suppress","duplicate"] ["suppress","duplicate"] ["suppress","duplicate"] ["suppress","duplicate"] '
	j='"journey":"welcome","journeyVersion":2,"step":"day1"'
	{ email c2 "$j,\"enrollmentId\":\"e1\""; email c2 "$j,\"enrollmentId\":\"e2\""; email c2 "$j,\"enrollmentId\":\"e1\""; } > j.ndjson
	printf 'policy:\n  triggerWindow: 0\n' > jrn.yaml
	run jrn-route -q j.ndjson
	assert_equal "$(decisions)" '["send",null] ["send",null] ["suppress","duplicate"] '
	assert_equal "$(sed -n 1p <<< "$output" | jq -c '.route | [.journey, .step, .version]')" '["welcome","day1",2]'
	assert_equal "$(sed -n 1p <<< "$output" | jq -r .idempotencyKey)" \
		"$(printf '%s' '["jrn-route/1","c2","welcome",2,"day1","e1"]' | sha256sum | cut -d' ' -f1)"
}

@test "channel fallback: WhatsApp to SMS to e-mail by consent and reachability; off with fallback: []" {
	ev consent.revoked c1 '"properties":{"channel":"whatsapp"}' | jrn-ingest -q > /dev/null
	{
		printf '{"actionType":"whatsapp","customerId":"c1","recipientPhone":"+14155550100","recipientEmail":"c1@example.com"}\n'
		printf '{"actionType":"whatsapp","customerId":"c2","recipientEmail":"c2@example.com"}\n'
		printf '{"actionType":"whatsapp","customerId":"c3","recipientPhone":"+14155550100"}\n'
		printf '{"actionType":"email","customerId":"c4","recipientPhone":"+14155550100"}\n'
	} > a.ndjson
	run --separate-stderr jrn-route --dry-run a.ndjson
	assert_failure 3
	assert_equal "$stderr" "jrn-route: a.ndjson:4: no recipient: recipientEmail, profile.email or email
jrn-route: 3 send, 0 defer, 0 suppress, 1 rejected, 0 events passed (dry run, nothing saved)"
	assert_equal "$(jq -c '[.actionType, .route.channel, .route.from, .route.reason]' <<< "$output" | tr '\n' ' ')" \
		'["sms","sms","whatsapp","fallback"] ["email","email","whatsapp","fallback"] ["whatsapp","whatsapp",null,null] '
	printf 'policy:\n  fallback: []\n' > jrn.yaml
	run --separate-stderr jrn-route --dry-run a.ndjson
	assert_failure 3
	assert_equal "$(decisions)" '["suppress","consent_revoked"] ["send",null] '
}

@test "budget per campaign from the estimated cost per channel; a cheaper channel of the chain when it fits" {
	cat > jrn.yaml <<'Y'
policy:
  cost: {sms: 0.05, whatsapp: 0.08, email: 0.001}
  budgets: {spring: 0.1, "*": 1}
Y
	for c in c1 c2 c3; do
		printf '{"actionType":"sms","customerId":"%s","campaignId":"spring","recipientPhone":"+14155550100","recipientEmail":"%s@example.com"}\n' $c $c
	done > a.ndjson
	printf '{"actionType":"sms","customerId":"c9","campaignId":"spring","recipientPhone":"+14155550100"}\n' >> a.ndjson
	run jrn-route -q a.ndjson
	assert_success
	assert_equal "$(jq -c '[.route.decision, .route.reason, .route.channel, .route.cost]' <<< "$output" | tr '\n' ' ')" \
		'["send",null,"sms",0.05] ["send",null,"sms",0.05] ["suppress","budget","sms",null] ["suppress","budget","sms",null] '
	assert_equal "$(rows 'SELECT campaign_id, round(spent, 3) FROM route_budgets')" "spring|0.1"
	# a cheaper channel of the chain (sms -> email) when the budget has room for it
	sed -i 's/spring: 0.1,/spring: 0.1, summer: 0.101,/' jrn.yaml
	sed -i 's/spring/summer/' a.ndjson
	run jrn-route -q a.ndjson
	assert_equal "$(jq -c '[.route.decision, .route.reason, .route.channel]' <<< "$output" | tr '\n' ' ')" \
		'["send",null,"sms"] ["send",null,"sms"] ["send","fallback","email"] ["suppress","budget","sms"] '
	assert_equal "$(sed -n 3p <<< "$output" | jq -r .actionType)" email
	# with no fallback: suppressed
	printf '  fallback: []\n' >> jrn.yaml
	sed -i 's/summer/autumn/' a.ndjson
	sed -i 's/spring: 0.1,/spring: 0.1, autumn: 0.1,/' jrn.yaml
	run jrn-route -q a.ndjson
	assert_equal "$(decisions)" '["send",null] ["send",null] ["suppress","budget"] ["suppress","budget"] '
	# the key is the rule before the budget: a sent action again is a duplicate
	# (on its own channel, no cost), whether the budget has room or not
	run jrn-route -q a.ndjson
	assert_equal "$(jq -c '[.route.decision, .route.reason, .route.channel, .route.cost]' <<< "$output" | tr '\n' ' ')" \
		'["suppress","duplicate","sms",null] ["suppress","duplicate","sms",null] ["suppress","budget","sms",null] ["suppress","budget","sms",null] '
	sed -i 's/autumn: 0.1,/autumn: 1,/' jrn.yaml
	run jrn-route -q a.ndjson
	assert_equal "$(jq -c '[.route.decision, .route.reason, .route.channel, .route.cost]' <<< "$output" | tr '\n' ' ')" \
		'["suppress","duplicate","sms",null] ["suppress","duplicate","sms",null] ["send",null,"sms",0.05] ["send",null,"sms",0.05] '
	assert_equal "$(rows "SELECT decision, reason, count(*) FROM route_decisions WHERE campaign_id = 'autumn' GROUP BY 1, 2 ORDER BY 1, 2" | tr '\n' ' ')" \
		'send||4 suppress|budget|4 suppress|duplicate|4 '
	assert_equal "$(rows "SELECT round(spent, 3) FROM route_budgets WHERE campaign_id = 'autumn'")" 0.2
}

@test "--dry-run decides the same and writes nothing; this run's own sends still count" {
	{ email c1; email c1; } > a.ndjson
	jrn-route < /dev/null
	run jrn-route -q --dry-run a.ndjson
	assert_success
	assert_equal "$(decisions)" '["send",null] ["suppress","duplicate"] '
	assert_equal "$(rows 'SELECT count(*) FROM route_decisions')" 0
	run jrn-route -q a.ndjson
	assert_equal "$(decisions)" '["send",null] ["suppress","duplicate"] '
}

@test "the summary: one counts line on stderr by default, stdout the same as with -q; -q (or JRN_LOG=quiet) nothing; -v the state file and config first" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ email c1; CAMP=k2 email c1; email c3 '"holdout":true'; ev order.completed c2; } > a.ndjson
	run --separate-stderr jrn-route -q --db q.db a.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(decisions)" '["send",null] ["defer","cap_channel"] ["suppress","holdout"] [null,null] '
	local quiet=$output
	run --separate-stderr jrn-route --db d.db a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-route: 1 send, 1 defer, 1 suppress, 0 rejected, 1 events passed"
	assert_equal "$output" "$quiet"
	JRN_LOG=quiet run --separate-stderr jrn-route --db l.db a.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$output" "$quiet"
	run --separate-stderr jrn-route -v --db v.db a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-route: state file v.db; config jrn.yaml
jrn-route: 1 send, 1 defer, 1 suppress, 0 rejected, 1 events passed"
	assert_equal "$output" "$quiet"
	# a dry run says so; an empty input says its zeros
	run --separate-stderr jrn-route --dry-run --db dry.db a.ndjson
	assert_success
	assert_equal "$output" "$quiet"
	assert_equal "$stderr" "jrn-route: 1 send, 1 defer, 1 suppress, 0 rejected, 1 events passed (dry run, nothing saved)"
	run --separate-stderr jrn-route --db d.db < /dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-route: 0 send, 0 defer, 0 suppress, 0 rejected, 0 events passed"
}

@test "the summary after rejected lines: each line's diagnostic, then the counts, exit 3; -q neither, still exit 3" {
	{ printf '{"actionType":"fax","customerId":"c1"}\n'; email c1; printf 'bad\n'; } > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_failure 3
	assert_equal "$(decisions)" '["send",null] '
	assert_equal "$stderr" "jrn-route: a.ndjson:1: actionType 'fax' is not email, sms, whatsapp, webhook or retargeting
jrn-route: a.ndjson:3: invalid JSON at byte 1: unexpected 'b'
jrn-route: 1 send, 0 defer, 0 suppress, 2 rejected, 0 events passed"
	run --separate-stderr jrn-route -q --rejects rej.ndjson --db q.db a.ndjson
	assert_failure 3
	assert_equal "$stderr" ""
	assert_equal "$(decisions)" '["send",null] '
	assert_equal "$(wc -l < rej.ndjson)" 2
}

@test "--tick says what it advanced, then the counts (-q neither, -v the state file first); --simulate, --check and --explain stay as they were" {
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ email c1; CAMP=k2 email c1; } > a.ndjson
	jrn-route -q a.ndjson > /dev/null
	run --separate-stderr jrn-route --tick
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-route: tick: 0 enrollments advanced, 0 enrolled by schedules, 0 deferred actions offered again
jrn-route: 0 send, 0 defer, 0 suppress, 0 rejected, 0 events passed"
	# the deferral's time has come: offered again, and sent
	run --separate-stderr jrn-route --tick --now 2026-01-16T12:00:01Z --dry-run
	assert_success
	assert_equal "$(jq -c '[.campaignId, .route.decision]' <<< "$output")" '["k2","send"]'
	assert_equal "$stderr" "jrn-route: tick: 0 enrollments advanced, 0 enrolled by schedules, 1 deferred actions offered again
jrn-route: 1 send, 0 defer, 0 suppress, 0 rejected, 0 events passed (dry run, nothing saved)"
	run --separate-stderr jrn-route -q --tick --now 2026-01-16T12:00:01Z
	assert_success
	assert_equal "$(jq -c '[.campaignId, .route.decision]' <<< "$output")" '["k2","send"]'
	assert_equal "$stderr" ""
	run --separate-stderr jrn-route -v --tick --now 2026-01-16T12:00:02Z
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-route: state file jrn.db; config jrn.yaml
jrn-route: tick: 0 enrollments advanced, 0 enrolled by schedules, 0 deferred actions offered again
jrn-route: 0 send, 0 defer, 0 suppress, 0 rejected, 0 events passed"
	# the other modes print no counts by default
	run --separate-stderr jrn-route --simulate a.ndjson
	assert_success
	assert_equal "$stderr" ""
	run --separate-stderr jrn-route --explain c1
	assert_success
	refute_regex "$stderr" 'events passed'
	run --separate-stderr jrn-route --check
	refute_regex "$stderr" 'events passed'
}

@test "a closed stdout fails the run and nothing is remembered as decided" {
	email c1 > a.ndjson
	jrn-route < /dev/null
	run --separate-stderr bash -c 'jrn-route a.ndjson >&-'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: writing output: Bad file descriptor"
	assert_equal "$(rows 'SELECT count(*) FROM route_decisions')" 0
	# a reader that goes away is a normal end
	for i in $(seq 1 3000); do email "c$i"; done > b.ndjson
	run bash -c 'jrn-route b.ndjson | head -1 > /dev/null; echo "${PIPESTATUS[0]}"'
	assert_output 0
}

@test "a locked state file fails after the busy timeout, saying so" {
	printf 'db:\n  busyTimeout: 200ms\n' > jrn.yaml
	jrn-route < /dev/null
	email c1 > a.ndjson
	sqlite3 jrn.db "BEGIN IMMEDIATE; INSERT INTO audit (ts, who, verb, args, counts) VALUES (0, 't', 't', '', ''); SELECT 1;" > /dev/null &
	# hold the write lock with a second connection that sleeps inside a transaction
	/usr/bin/python3 - <<'P' &
import sqlite3, time
c = sqlite3.connect("jrn.db", isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open("locked", "w").close()
time.sleep(3)
c.execute("ROLLBACK")
P
	for i in $(seq 1 50); do [ -e locked ] && break; sleep 0.1; done
	run --separate-stderr jrn-route a.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.db: database is locked"
	assert_output ""
	wait
}

@test "--explain and --tick need a state file: none there, one past a regular file, a directory: each said as such (exit 1), none made" {
	touch file
	mkdir d
	for mode in "--explain c1" --tick; do
		run --separate-stderr jrn-route $mode --db nosuch.db
		assert_failure 1
		assert_equal "$stderr" "jrn-route: nosuch.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
		[ ! -e nosuch.db ]
		# the file may be there: it cannot be reached, which is not "no state file"
		run --separate-stderr jrn-route $mode --db file/x.db
		assert_failure 1
		assert_equal "$stderr" "jrn-route: file/x.db: cannot open (Not a directory)"
		run --separate-stderr jrn-route $mode --db d
		assert_failure 1
		assert_equal "$stderr" "jrn-route: d: is a directory, not a state file"
	done
}

@test "policy errors: file:line:column from the schema, and for the keys jrn-route checks itself" {
	printf 'policy:\n  quietHours: {start: "25:00", end: "08:00"}\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:23: policy.quietHours.start: expected a time of day HH:MM from 00:00 to 23:59, got '25:00'"
	printf 'policy:\n  quietHours: {start: "21:00"}\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:15: policy.quietHours: give both start and end (HH:MM, local time)"
	printf 'policy:\n  cooldown: {spring: soon}\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_failure 1
	assert_output --partial ""
	assert_equal "${stderr%%:*}" "jrn-route"
	[[ $stderr == *"policy.cooldown.spring"* ]]
	printf 'policy:\n  fallback: [sms, fax]\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:19: policy.fallback[1]: expected whatsapp, sms or email, each once"
	printf 'policy:\n  budgets: {spring: -1}\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:21: policy.budgets.spring: expected an amount at least 0"
	printf 'policy:\n  timeZone: Mars/Olympus\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:13: policy.timeZone: 'Mars/Olympus' is not a time zone of the system's zoneinfo"
	# a value from the environment is never shown
	printf 'policy:\n  timeZone: ${ROUTE_TZ}\n' > jrn.yaml
	ROUTE_TZ=Secret/Zone run --separate-stderr jrn-route < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:13: policy.timeZone: '\${ROUTE_TZ}' is not a time zone of the system's zoneinfo"
	printf 'policy:\n  caps:\n    email: {max: 2}\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_equal "$stderr" "jrn-route: jrn.yaml:3:12: policy.caps.email: give both max and window"
	printf 'policy:\n  caps:\n    email: {max: 10001, window: 1d}\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:3:18: policy.caps.email.max: expected an integer from 0 to 10000, got 10001"
	printf 'policy:\n  capz: 1\n' > jrn.yaml
	run --separate-stderr jrn-route < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:3: unknown key 'capz' in policy (did you mean 'caps'?)"
}

@test "usage: an unknown option is exit 2; --help and --version" {
	run jrn-route --bogus
	assert_failure 2
	run --separate-stderr jrn-route --journeys x < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: x: No such file or directory"
	run jrn-route --help
	assert_success
	assert_output --partial "--tick                advance every enrollment whose wait is due"
	run jrn-route --version
	assert_output "jrn-route 0.1.0"
}

@test "jrn-segment ... | jrn-route | jrn-send --dry-run on a small example" {
	cat > s.yaml <<'Y'
segments:
  vip:
    rule: {field: rfm.score, op: gte, value: 38}
Y
	{
		email c1 '"rfm":{"score":40}'
		email c2 '"rfm":{"score":10}'
		printf '{"actionType":"email","customerId":"c3","recipientEmail":"bounced@example.com","subject":"Hi","messageContent":"Hello","rfm":{"score":45}}\n'
	} > a.ndjson
	sqlite3 jrn.db "SELECT 1" > /dev/null
	jrn-route < /dev/null
	sqlite3 jrn.db "INSERT INTO suppressions (address, channel, reason, ts) VALUES ('bounced@example.com', 'email', 'bounced', 0)"
	run bash -c 'jrn-segment -q --segments s.yaml --only vip a.ndjson | jrn-route -q | jrn-send -q --dry-run'
	assert_success
	assert_equal "$(jq -c '[.customerId, .route.decision, .delivery.status]' <<< "$output" | tr '\n' ' ')" \
		'["c1","send","dry-run"] ["c3","suppress","suppressed"] '
}

@test "valgrind: no invalid access and no leak, every rule and the slow output path" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (make asan checks this)"
	cat > jrn.yaml <<'Y'
policy:
  quietHours: {start: "21:00", end: "08:00"}
  caps:
    email: {max: 1, window: 1d}
  cooldown: {k2: 14d, "*": 1h}
  cost: {sms: 0.05}
  budgets: {k1: 0.05}
Y
	{
		email c1 '"timeZone":"Europe/Berlin"'
		email c1 '"template":"x"'
		CAMP=k2 sms c2 '"trigger":"t"'
		sms c3
		printf '{"actionType":"whatsapp","customerId":"c\\u00e9","recipientEmail":"a@b.example","route":{"x":1}}\n'
		printf '{"type":"order.completed","customerId":"c1"}\n'
		printf 'bad\n'
		email c4 '"timeZone":"Nope/No"'
		email c5 '"journey":"j","journeyVersion":3,"step":"s","enrollmentId":"e"'
	} > a.ndjson
	vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }
	run --separate-stderr vg "$JRN_BIN/jrn-route" --now 2026-03-28T21:30:00Z --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(wc -l <<< "$output")" 7
	assert_equal "$(wc -l < rej.ndjson)" 2
	assert_equal "$(sed -n 5p <<< "$output" | jq -c '[.actionType, .route.from, .route.x]')" '["email","whatsapp",null]'
}
