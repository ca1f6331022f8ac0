#!/usr/bin/env bats
# The shipped journeys (share/jrn/journeys/) through jrn-route --simulate:
# one golden file each, byte for byte, and --simulate itself (nothing
# written to the state file, events not in the output, deferred actions
# offered again, bad input).
#
# Golden files: t/fixtures/journeys/NAME.golden is the output of
#   jrn-route --simulate --journeys share/jrn/journeys --config jrn.yaml \
#     --now 2026-03-31T00:00:00Z NAME.ndjson
# over a state file holding profiles.ndjson (customers, zones, a revoked
# consent). JRN_UPDATE_GOLDEN=1 writes them anew instead of comparing
# (then read the diff before committing it).

load helpers

J=$BATS_TEST_DIRNAME/../share/jrn/journeys
FIX=$BATS_TEST_DIRNAME/fixtures/journeys
END=2026-03-31T00:00:00Z

# state: a project with the fixture's customers, made at a fixed time
state() {
	JRN_NOW=2026-02-03T00:00:00Z jrn init . > /dev/null
	cp "$FIX/jrn.yaml" jrn.yaml
	JRN_NOW=2026-02-03T00:00:00Z jrn-ingest -q "$FIX/profiles.ndjson" > /dev/null
}

# golden NAME: the simulation of NAME.ndjson against NAME.golden
golden() {
	state
	run --separate-stderr jrn-route --simulate --journeys "$J" --now "$END" "$FIX/$1.ndjson"
	assert_success
	assert_equal "$stderr" ""
	if [ -n "${JRN_UPDATE_GOLDEN:-}" ]; then
		printf '%s\n' "$output" > "$FIX/$1.golden"
	fi
	diff -u "$FIX/$1.golden" <(printf '%s\n' "$output")
	raw=$output
}

# summary: customer, journey, step, decision, reason, sendAt, channel a line
summary() {
	jq -r '[.customerId, .journey, .step, .route.decision, .route.reason // "-", .route.sendAt // "-", .route.channel] | join(" ")' <<< "$output"
}

@test "every shipped journey compiles, has a header comment naming its seed, and its templates exist" {
	n=0
	for f in "$J"/*.yaml; do
		n=$((n + 1))
		head -1 "$f" | grep -q "^# $(basename "$f" .yaml): " || fail "$f: no header comment"
		grep -q 'seeds/00[0-4]' "$f" || fail "$f: names no seed"
		for t in $(grep -o 'template: [a-z0-9-]*' "$f" | cut -d' ' -f2); do
			ls "$J/../templates/$t".* > /dev/null 2>&1 || fail "$f: template $t missing"
		done
	done
	assert_equal "$n" 6
	# a marketing e-mail names its unsubscribe path
	for t in "$J"/../templates/*.txt; do
		grep -q '{{#unsubscribeUrl}}' "$t" || fail "$t: no unsubscribe path"
	done
	# the linter finds nothing in them, with their templates
	printf 'templates:\n  dir: %s\n' "$J/../templates" > lint.yaml
	run --separate-stderr jrn-route --check --config lint.yaml --journeys "$J"
	assert_success
	assert_output ""
	# without the templates: each missing one an error, exit 1
	run --separate-stderr jrn-route --check --journeys "$J"
	assert_failure 1
	assert_equal "${#lines[@]}" 13
	assert_line --index 0 --regexp 'abandoned-cart.yaml:[0-9]+:[0-9]+: error: .*no template .cart-reminder. for whatsapp'
	# they load: a simulation with no input runs them all, silently
	run --separate-stderr jrn-route --simulate --journeys "$J" /dev/null
	assert_success
	assert_equal "$stderr" ""
	assert_output ""
}

@test "golden: welcome-series (four mails, 1, 2 and 3 days apart; quiet hours across New York's DST change)" {
	golden welcome-series
	run summary
	# w2 in New York signs up at 22:30 EST: 08:00 EST is 13:00Z; the next
	# mail a day later falls after the change to EDT: 08:00 is 12:00Z
	assert_line 'w2 welcome-series welcome-1 send quiet_hours 2026-03-07T13:00:00.000Z email'
	assert_line 'w2 welcome-series welcome-2 send quiet_hours 2026-03-08T12:00:00.000Z email'
	# w1: days 0, 1, 3, 6; signed up again (reentry: never): no second series
	assert_equal "$(grep -c '^w1 ' <<< "$output")" 4
	assert_line 'w1 welcome-series welcome-4 send - 2026-03-08T09:00:00.000Z email'
	# w4 revoked e-mail consent: every step recorded, suppressed, the journey goes on
	assert_equal "$(grep '^w4 ' <<< "$output" | cut -d' ' -f3-5 | tr '\n' ' ')" \
		'welcome-1 suppress consent_revoked welcome-2 suppress consent_revoked welcome-3 suppress consent_revoked welcome-4 suppress consent_revoked '
}

@test "golden: abandoned-cart (an order ends it at each stage, a cleared or shrunk cart exits it, idle counts from the last change)" {
	golden abandoned-cart
	run summary
	# a1 never orders: WhatsApp 1 h after the cart, e-mail 24 h later, SMS 3 d later
	assert_equal "$(grep '^a1 abandoned-cart' <<< "$output" | cut -d' ' -f3,6,7 | tr '\n' ' ')" \
		'reminder 2026-03-02T11:00:00.000Z whatsapp five-off 2026-03-03T11:00:00.000Z email ten-off 2026-03-06T11:00:00.000Z sms '
	# an order before the reminder (a8), after it (a2), after the e-mail
	# (a3), after the SMS (a4): nothing more of this journey after it
	assert_equal "$(grep -c '^a8 abandoned-cart' <<< "$output")" 0
	assert_equal "$(grep '^a2 abandoned-cart' <<< "$output" | cut -d' ' -f3 | tr '\n' ' ')" 'reminder '
	assert_equal "$(grep '^a3 abandoned-cart' <<< "$output" | cut -d' ' -f3 | tr '\n' ' ')" 'reminder five-off '
	assert_equal "$(grep '^a4 abandoned-cart' <<< "$output" | cut -d' ' -f3 | tr '\n' ' ')" 'reminder five-off ten-off '
	# the order starts the post-purchase upsell instead, 2 d later
	assert_line 'a2 post-purchase-upsell upsell send - 2026-03-04T15:00:00.000Z email'
	# cleared (a5) or updated to 200 (a9) after the reminder: exited
	assert_equal "$(grep '^a5 \|^a9 ' <<< "$output" | cut -d' ' -f1,3 | tr '\n' ' ')" 'a5 reminder a9 reminder '
	# a cart of 300 (a6): never enrolled
	assert_equal "$(grep -c '^a6 ' <<< "$output")" 0
	# a7 changed the cart 40 minutes in: the hour counts from then
	assert_line 'a7 abandoned-cart reminder send - 2026-03-02T11:40:00.000Z whatsapp'
	# a10 has no phone: WhatsApp and SMS fall back to e-mail
	assert_line 'a10 abandoned-cart reminder send fallback 2026-03-02T11:00:00.000Z email'
	assert_line 'a10 abandoned-cart ten-off send fallback 2026-03-06T11:00:00.000Z email'
	# offers and keys as the journey says
	assert_equal "$(jq -r 'select(.step == "five-off") | .offer' <<< "$raw" | sort -u)" cart-5off
	assert_equal "$(jq -r 'select(.journey == "abandoned-cart") | .idempotencyKey' <<< "$raw" | sort -u | wc -l)" 17
}

@test "golden: churn-winback (segment entry, a conversion within 14 days, no re-entry within 45)" {
	golden churn-winback
	run summary
	assert_line 'c1 churn-winback offer send quiet_hours 2026-03-02T08:00:00.000Z email'
	assert_line 'c1 churn-winback last-call send quiet_hours 2026-03-16T08:00:00.000Z sms'
	# c2 ordered within 14 days: no last call
	assert_equal "$(grep '^c2 churn-winback' <<< "$output" | cut -d' ' -f3)" offer
	# c3 in New York: 08:00 EST
	assert_line 'c3 churn-winback offer send quiet_hours 2026-03-02T13:00:00.000Z email'
	# c4 entered another segment and left churn_risk: nothing; c1's second entry: nothing
	assert_equal "$(grep -c '^c4 ' <<< "$output")" 0
	assert_equal "$(grep -c '^c1 churn-winback offer' <<< "$output")" 1
}

@test "golden: vip-milestone (changed to VIP, from anything, once in 90 days)" {
	golden vip-milestone
	run summary
	assert_equal "$(cut -d' ' -f1-4 <<< "$output" | tr '\n' ' ')" \
		'v1 vip-milestone reward send v3 vip-milestone reward send v4 vip-milestone reward send '
	assert_equal "$(jq -r .offer <<< "$raw" | sort -u)" vip-early-access
}

@test "golden: post-purchase-upsell (2 days after a paid order; a refund ends it; one a week)" {
	golden post-purchase-upsell
	run summary
	assert_equal "$(cut -d' ' -f1,6 <<< "$output" | tr '\n' ' ')" \
		'p1 2026-03-04T12:00:00.000Z p3 2026-03-04T12:00:00.000Z p4 2026-03-08T12:00:00.000Z p1 2026-03-12T12:00:00.000Z '
}

@test "golden: segment-onboarding (a click takes the short way, else the next weekday 10:00 in the customer's zone)" {
	golden segment-onboarding
	run summary
	# o1 (UTC) did not click: 2 days, then Wednesday 10:00
	assert_line 'o1 segment-onboarding second send - 2026-03-04T10:00:00.000Z email'
	# o2 entered on a Friday: the 2 days end on Sunday; Monday 10:00
	assert_line 'o2 segment-onboarding second send - 2026-03-09T10:00:00.000Z email'
	# o4 in New York: Monday 10:00 EDT (after the change) is 14:00Z
	assert_line 'o4 segment-onboarding second send - 2026-03-09T14:00:00.000Z email'
	# o3 clicked an hour in: the second mail at once (the trigger window
	# counts per journey step: "trigger" is JOURNEY/STEP)
	assert_line 'o3 segment-onboarding second send - 2026-03-02T10:00:00.000Z email'
	assert_equal "$(jq -r 'select(.customerId == "o3") | .trigger' <<< "$raw" | tr '\n' ' ')" \
		'segment-onboarding/first segment-onboarding/second '
	# reentry: never
	assert_equal "$(grep -c '^o1 segment-onboarding first' <<< "$output")" 1
}

# ---- --simulate itself -----------------------------------------------------

@test "simulate: the state file is only read: its bytes, its time and its rows stay; none is made where there is none" {
	state
	sqlite3 jrn.db 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null
	before=$(sha256sum jrn.db)
	touch -d 2026-01-01T00:00:00 jrn.db
	mtime=$(stat -c %Y jrn.db)
	run --separate-stderr jrn-route --simulate --journeys "$J" --now "$END" "$FIX/abandoned-cart.ndjson"
	assert_success
	[ "${#lines[@]}" -gt 10 ]
	assert_equal "$(sha256sum jrn.db)" "$before"
	assert_equal "$(stat -c %Y jrn.db)" "$mtime"
	assert_equal "$(rows 'SELECT (SELECT count(*) FROM enrollments), (SELECT count(*) FROM route_decisions), (SELECT count(*) FROM journey_versions)')" '0|0|0'
	# the WAL holds nothing either
	[ ! -s jrn.db-wal ]
	# no state file: none is made; without profiles no one has an address:
	# every action is a reject with its reason
	mkdir empty && cd empty
	run --separate-stderr jrn-route --simulate --journeys "$J" --now "$END" "$FIX/welcome-series.ndjson"
	assert_failure 3
	assert_output ""
	assert_equal "$(ls)" ""
	assert_regex "$stderr" '^jrn-route: [^ ]*/share/jrn/journeys/welcome-series.yaml:[0-9]+: customer w[0-9], enrollment [0-9]+: no recipient: recipientEmail, profile.email or email'
	run --separate-stderr jrn-route --simulate --journeys "$J" --now "$END" --db new.db "$FIX/welcome-series.ndjson"
	assert_failure 3
	[ ! -e new.db ]
}

@test "simulate: a read-only state file and directory, a state file that is not one, a directory" {
	state
	chmod a-w jrn.db
	run --separate-stderr jrn-route --simulate --journeys "$J" --now "$END" "$FIX/vip-milestone.ndjson"
	assert_success
	assert_equal "${#lines[@]}" 3
	chmod u+w jrn.db
	printf 'not sqlite' > bad.db
	run --separate-stderr jrn-route --simulate --db bad.db "$FIX/vip-milestone.ndjson"
	assert_failure 1
	assert_equal "$stderr" 'jrn-route: bad.db: cannot open state file read-only: file is not a database'
	sqlite3 old.db 'CREATE TABLE t (x); PRAGMA user_version = 7'
	run --separate-stderr jrn-route --simulate --db old.db /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: old.db: schema version 7, not this jrn's 16: --simulate only reads it (any run of a tool that writes migrates it)"
	assert_equal "$(sqlite3 old.db 'PRAGMA user_version')" 7
	mkdir d.db
	run --separate-stderr jrn-route --simulate --db d.db /dev/null
	assert_failure 1
	assert_equal "$stderr" 'jrn-route: d.db: is a directory'
	# a path SQLite's URIs would read otherwise
	mkdir 'a?b#c%d'
	cp jrn.db 'a?b#c%d/s.db'
	run --separate-stderr jrn-route --simulate --journeys "$J" --db 'a?b#c%d/s.db' --now "$END" "$FIX/vip-milestone.ndjson"
	assert_success
	assert_equal "${#lines[@]}" 3
}

@test "simulate: events stay out, actions in the input go through the gate at their time, the clock never goes back" {
	state
	{
		printf '%s\n' '{"id":"x1","type":"page.viewed","customerId":"w1","timestamp":"2026-03-02T09:00:00Z"}'
		printf '%s\n' '{"actionType":"email","customerId":"w1","campaignId":"k","subject":"s","messageContent":"m","recipientEmail":"w1@example.com","timestamp":"2026-03-02T23:00:00Z"}'
		printf '%s\n' '{"actionType":"email","customerId":"w1","campaignId":"k2","subject":"s","messageContent":"m","recipientEmail":"w1@example.com"}'
		printf '%s\n' '{"id":"x2","type":"page.viewed","customerId":"w1","timestamp":"2026-03-01T09:00:00Z"}'
	} > in.ndjson
	run --separate-stderr jrn-route --simulate --journeys "$J" --now "$END" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
	# the first at its own time, in quiet hours; the second, with no time, at the clock
	assert_equal "$(jq -c '[.campaignId, .route.reason, .route.sendAt]' <<< "$output" | tr '\n' ' ')" \
		'["k","quiet_hours","2026-03-03T08:00:00.000Z"] ["k2","quiet_hours","2026-03-03T08:00:00.000Z"] '
	assert_equal "$stderr" 'jrn-route: --simulate: 1 record was older than one before it: handled at the later time (give events in time order)'
	run --separate-stderr jrn-route -q --simulate --journeys "$J" --now "$END" in.ndjson
	assert_equal "$stderr" ''
}

@test "simulate: without --now the clock stops at the last event, and waits still pending are said" {
	state
	printf '%s\n' '{"id":"c1","type":"cart.updated","customerId":"w1","timestamp":"2026-03-02T09:00:00Z","properties":{"value":600}}' > in.ndjson
	# (JRN_NOW, which the tests set, is a --now)
	run --separate-stderr env -u JRN_NOW jrn-route --simulate --journeys "$J" in.ndjson
	assert_success
	assert_output ''
	assert_equal "$stderr" "jrn-route: --simulate: 1 enrollment still waits at the last event's time, the first due 2026-03-02T10:00:00.000Z: give --now to run the clock on"
	run --separate-stderr env -u JRN_NOW jrn-route -q --simulate --journeys "$J" in.ndjson
	assert_equal "$stderr" ''
	run --separate-stderr jrn-route --simulate --journeys "$J" --now 2026-03-02T11:00:00Z in.ndjson
	assert_success
	assert_equal "$(jq -r .step <<< "$output")" reminder
	assert_equal "$stderr" ''
}

@test "simulate: a deferred action is offered again at its sendAt, as --tick would" {
	state
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > caps.yaml
	{
		printf '%s\n' '{"actionType":"email","customerId":"w1","campaignId":"k1","subject":"s","messageContent":"m","recipientEmail":"w1@example.com","timestamp":"2026-03-02T09:00:00Z"}'
		printf '%s\n' '{"actionType":"email","customerId":"w1","campaignId":"k2","subject":"s","messageContent":"m","recipientEmail":"w1@example.com","timestamp":"2026-03-02T10:00:00Z"}'
	} > in.ndjson
	run --separate-stderr jrn-route --simulate --config caps.yaml --journeys "$J" --now 2026-03-05T00:00:00Z in.ndjson
	assert_success
	assert_equal "$(jq -c '[.campaignId, .route.decision, .route.reason, .route.sendAt]' <<< "$output" | tr '\n' ' ')" \
		'["k1","send",null,"2026-03-02T09:00:00.000Z"] ["k2","defer","cap_channel","2026-03-03T09:00:00.000Z"] ["k2","send",null,"2026-03-03T09:00:00.000Z"] '
	# --now before the deferral's time: not offered again
	run --separate-stderr jrn-route --simulate --config caps.yaml --journeys "$J" --now 2026-03-02T12:00:00Z in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
}

@test "simulate: schedules and one-time triggers fire at their instants, every one, none before the first record" {
	state
	sqlite3 jrn.db "INSERT INTO segment_members VALUES ('digest', 'w1', 1), ('digest', 'o4', 1)"
	mkdir js
	printf 'trigger: {schedule: "0 10 * * mon", segment: digest}\nsteps:\n  - action: {channel: email, campaign: digest, subject: s, messageContent: m}\n' > js/weekly.yaml
	printf 'trigger: {at: "2026-03-05T12:00:00Z", segment: digest}\nsteps:\n  - action: {channel: email, campaign: once, subject: s, messageContent: m}\n' > js/once.yaml
	printf 'trigger: {at: "2026-03-01T12:00:00Z"}\nsteps:\n  - action: {channel: email, campaign: past, subject: s, messageContent: m}\n' > js/past.yaml
	printf '%s\n' '{"id":"1","type":"x","customerId":"w1","timestamp":"2026-03-02T09:00:00Z"}' > e.ndjson
	run --separate-stderr jrn-route --simulate --journeys js --now 2026-03-17T00:00:00Z e.ndjson
	assert_success
	assert_equal "$(jq -r '[.journey, .customerId, .route.sendAt] | join(" ")' <<< "$output")" \
"weekly o4 2026-03-02T13:00:00.000Z
weekly w1 2026-03-02T10:00:00.000Z
once o4 2026-03-05T13:00:00.000Z
once w1 2026-03-05T12:00:00.000Z
weekly o4 2026-03-09T12:00:00.000Z
weekly w1 2026-03-09T10:00:00.000Z
weekly o4 2026-03-16T12:00:00.000Z
weekly w1 2026-03-16T10:00:00.000Z"
	# (o4 lives in New York: 10:00Z and 12:00Z are quiet hours there, the
	# mail waits for 08:00 local, EST then EDT)
	# a zone: 10:00 in New York, before and after the change to EDT
	printf 'trigger: {schedule: "0 10 * * mon", zone: America/New_York, segment: digest}\nsteps:\n  - action: {channel: email, campaign: digest, subject: s, messageContent: m}\n' > js/weekly.yaml
	rm js/once.yaml
	run --separate-stderr jrn-route --simulate --journeys js --now 2026-03-10T00:00:00Z e.ndjson
	assert_success
	assert_equal "$(jq -r 'select(.customerId == "w1") | .route.sendAt' <<< "$output" | tr '\n' ' ')" \
		'2026-03-02T15:00:00.000Z 2026-03-09T14:00:00.000Z '
}

@test "simulate: a journey file with errors is refused with file:line:col, the others run, exit 3" {
	state
	mkdir js
	cp "$J/vip-milestone.yaml" js/
	printf 'name: broken\ntrigger: {event: x}\nsteps:\n  - wait: soon\n' > js/broken.yaml
	run --separate-stderr jrn-route --simulate --journeys js --now "$END" "$FIX/vip-milestone.ndjson"
	assert_failure 3
	assert_equal "${#lines[@]}" 3
	assert_regex "$stderr" '^jrn-route: js/broken.yaml:4:[0-9]+: '
	# no journeys at all: the gate alone, the events gone
	run --separate-stderr jrn-route --simulate --journeys /nonexistent-dir "$FIX/vip-milestone.ndjson"
	assert_failure 1
	run --separate-stderr jrn-route --simulate --journeys "$BATS_TEST_TMPDIR/js/none" "$FIX/vip-milestone.ndjson"
	assert_failure 1
	mkdir none
	run --separate-stderr jrn-route --simulate --journeys none "$FIX/vip-milestone.ndjson"
	assert_success
	assert_output ""
}

@test "simulate: usage: FILEs that do not exist, a closed stdout" {
	state
	run --separate-stderr jrn-route --simulate --journeys "$J" missing.ndjson
	assert_failure 1
	assert_regex "$stderr" 'missing.ndjson'
	for i in $(seq 2000); do printf '{"id":"s%d","type":"user.signup","customerId":"w1","timestamp":"2026-03-02T09:00:00Z"}\n' "$i"; done > many.ndjson
	run bash -c 'jrn-route --simulate --journeys "$1" many.ndjson "$2" 2> err | head -1; echo "${PIPESTATUS[0]}"' _ "$J" "$FIX/abandoned-cart.ndjson"
	assert_line --index 1 0
}

@test "simulate: valgrind: no invalid access and no leak" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (make asan checks this)"
	state
	cat "$FIX"/*.ndjson | grep -v '"identify"' > all.ndjson
	run --separate-stderr valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$JRN_BIN/jrn-route" --simulate --journeys "$J" --now "$END" all.ndjson
	assert_success
	[ "${#lines[@]}" -gt 40 ]
}

@test "simulate: an update step over an attached state file is logged, not applied, and the journey goes on" {
	state
	c=$(head -1 "$FIX/profiles.ndjson" | jq -r '.customerId // .userId')
	mkdir js
	cat > js/u.yaml <<'Y'
trigger: go
steps:
  - webhook: {url: "https://hooks.example/a"}
  - wait: 1h
  - update: {set: {seen: true}}
  - webhook: {url: "https://hooks.example/b"}
Y
	printf '{"id":"u1","type":"go","customerId":"%s","timestamp":"2026-03-01T00:00:00Z"}\n' "$c" > ev.ndjson
	# (the fixture's quiet hours hold both webhooks to 08:00)
	before=$(sha256sum jrn.db)
	run --separate-stderr jrn-route --simulate --journeys js --now 2026-03-02T00:00:00Z ev.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq -r '[.step, .route.decision, .route.sendAt] | join(" ")' <<< "$output" | tr '\n' ' ')" \
		"1 send 2026-03-01T08:00:00.000Z 4 send 2026-03-01T08:00:00.000Z "
	assert_equal "$(sha256sum jrn.db)" "$before"
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM profiles WHERE traits ->> '\$.seen' IS NOT NULL")" 0
}
