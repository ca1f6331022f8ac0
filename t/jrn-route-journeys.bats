#!/usr/bin/env bats
# jrn-route's journey engine: triggers, re-entry, every step kind, events
# moving enrollments (exits, goals, wait_for), versions and migrate, bad
# journey files, --explain; the clock set with JRN_NOW / --now.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# ident CUSTOMER [TRAITS-JSON-MEMBERS]: a profile with an e-mail address
ident() {
	printf '{"type":"identify","customerId":"%s","traits":{"email":"%s@example.com"%s},"timestamp":"2026-01-01T00:00:00Z"}\n' \
		"$1" "$1" "${2:+,$2}" | JRN_NOW=2026-01-01T00:00:00Z jrn-ingest -q > /dev/null
}

# e ID TYPE CUSTOMER [EXTRA]: one event with an id
e() {
	printf '{"id":"%s","type":"%s","customerId":"%s"%s}\n' "$1" "$2" "$3" "${4:+,$4}"
}

# at TIME: jrn-route at that clock, stdin in, stdout and stderr apart
at() {
	local t=$1
	shift
	run --separate-stderr env JRN_NOW="$t" jrn-route "$@"
}

# actions: the output's actions as "customer step decision[:reason]"
actions() {
	jq -r 'select(.actionType) | "\(.customerId) \(.step) \(.route.decision)\(if .route.reason then ":" + .route.reason else "" end)"' <<< "$output" | tr '\n' ' '
}

# log ENROLLMENT: its enrollment_log as "what[@step]" words
log_of() {
	rows "SELECT what || coalesce('@' || step, '') FROM enrollment_log WHERE enrollment = $1 ORDER BY seq" | tr '\n' ' '
}

cart_journey() {
	mkdir -p journeys
	cat > journeys/cart.yaml <<'Y'
name: cart
trigger: {event: cart.updated, where: {field: properties.total, op: gt, value: 10}, profile: {field: traits.vip, op: eq, value: true}}
exit: [{event: order.completed}]
steps:
  - id: wait1
    wait: 1h
  - id: mail1
    action: {channel: email, template: cart1, campaign: cart, subject: "Your cart", messageContent: "Come back {{unsubscribeUrl}}"}
  - id: opened
    wait_for: {event: email.opened, within: 1d, then: thanks, else: remind}
  - id: remind
    action: {channel: email, campaign: cart, subject: "Still there?", messageContent: "Cart {{unsubscribeUrl}}"}
    next: end
  - id: thanks
    update: {set: {cartOpened: true}, remove: [stale]}
Y
}

@test "event trigger with where and profile: enrolled at once, waits, the action's record and key" {
	cart_journey
	ident c1 '"vip":true'
	ident c2 '"vip":false'
	{
		e e1 cart.updated c1 '"properties":{"total":20}'
		e e2 cart.updated c1 '"properties":{"total":5}'
		e e3 cart.updated c2 '"properties":{"total":20}'
	} > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	assert_equal "$stderr" "jrn-route: 0 send, 0 defer, 0 suppress, 0 rejected, 3 events passed"
	# events pass through unchanged; nothing is sent yet
	assert_equal "$output" "$(cat in.ndjson)"
	assert_equal "$(rows 'SELECT journey, version, customer_id, trigger_key, status, step, due_at FROM enrollments')" \
		"cart|1|c1|e1|active|wait1|$((1768478400000 + 3600000))"
	assert_equal "$(rows 'SELECT journey, version, file FROM journey_versions')" "cart|1|journeys/cart.yaml"
	assert_equal "$(rows "SELECT digest FROM journey_versions")" "$(sha256sum < journeys/cart.yaml | cut -d' ' -f1)"
	at 2026-01-15T13:00:00Z --tick
	assert_success
	# the customer too: enrollment ids are numbered from 1 in every state file
	key=$(printf '["cart",1,"mail1",1,"c1"]' | sha256sum | cut -d' ' -f1)
	assert_equal "$(jq -c '{actionType, customerId, campaignId, template, journey, journeyVersion, step, enrollment, trigger, idempotencyKey, event: .event.id, email: .profile.email, route: .route.decision}' <<< "$output")" \
		"{\"actionType\":\"email\",\"customerId\":\"c1\",\"campaignId\":\"cart\",\"template\":\"cart1\",\"journey\":\"cart\",\"journeyVersion\":1,\"step\":\"mail1\",\"enrollment\":1,\"trigger\":\"cart/mail1\",\"idempotencyKey\":\"jrn:$key\",\"event\":\"e1\",\"email\":\"c1@example.com\",\"route\":\"send\"}"
	assert_equal "$(rows 'SELECT enrollment, journey, version, step, decision FROM route_decisions')" "1|cart|1|mail1|send"
	assert_equal "$(log_of 1)" "entered wait@wait1 waited@wait1 action@mail1 wait@opened "
	assert_equal "$(rows "SELECT detail FROM enrollment_log WHERE what = 'action'")" \
		'{"decision":"send","reason":null,"channel":"email"}'
}

@test "wait_for: an open takes then (the update writes the traits); a timeout takes else" {
	cart_journey
	ident c1 '"vip":true,"stale":1'
	ident c2 '"vip":true'
	{ e e1 cart.updated c1 '"properties":{"total":20}'; e e2 cart.updated c2 '"properties":{"total":20}'; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	at 2026-01-15T13:00:00Z --tick
	assert_equal "$(actions)" "c1 mail1 send c2 mail1 send "
	e o1 email.opened c1 > in.ndjson
	at 2026-01-15T14:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows "SELECT status FROM enrollments WHERE customer_id = 'c1'")" completed
	assert_equal "$(log_of 1)" "entered wait@wait1 waited@wait1 action@mail1 wait@opened event@opened update@thanks completed "
	assert_equal "$(rows "SELECT json_extract(traits, '\$.cartOpened'), json_type(traits, '\$.stale') FROM profiles WHERE customer_id = 'c1'")" "1|"
	# the tick before the timeout does nothing; at the timeout c2 is reminded
	at 2026-01-16T12:59:00Z --tick
	assert_equal "$output" ""
	at 2026-01-16T13:00:00Z --tick
	assert_equal "$(actions)" "c2 remind send "
	assert_equal "$(log_of 2)" "entered wait@wait1 waited@wait1 action@mail1 wait@opened timeout@opened action@remind completed "
}

@test "an order during the wait exits the abandoned cart: nothing is sent" {
	cart_journey
	ident c1 '"vip":true'
	e e1 cart.updated c1 '"properties":{"total":20}' > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	# the order ends the enrollment before anything else; its own line passes
	{ e o1 order.completed c1; e e2 cart.updated c1 '"properties":{"total":30}'; } > in.ndjson
	at 2026-01-15T12:30:00Z in.ndjson
	assert_success
	assert_equal "$(jq -r .id <<< "$output" | tr '\n' ' ')" "o1 e2 "
	assert_equal "$(rows 'SELECT id, status, reason FROM enrollments')" "1|exited|order.completed"
	at 2026-01-15T13:00:00Z --tick
	assert_equal "$output" ""
	# the second cart.updated came within the default re-entry of 24h: no new enrollment
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1
}

@test "a trigger read twice (a rerun of the pipeline) enrolls once" {
	cart_journey
	ident c1 '"vip":true'
	e e1 cart.updated c1 '"properties":{"total":20}' > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	at 2026-01-20T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1
	# an event without an id (with a timestamp): its text's SHA-256 is the key
	printf 'name: k\ntrigger: {event: ping}\nreentry: always\nsteps:\n  - exit: ok\n' > journeys/k.yaml
	printf '{"type":"ping","customerId":"c1","timestamp":"2026-01-25T12:00:00Z"}\n' > noid.ndjson
	at 2026-01-25T12:00:00Z noid.ndjson
	at 2026-01-30T12:00:00Z noid.ndjson
	assert_equal "$(rows "SELECT trigger_key FROM enrollments WHERE journey = 'k'")" \
		"sha256:$(printf '{"type":"ping","customerId":"c1","timestamp":"2026-01-25T12:00:00Z"}' | sha256sum | cut -d' ' -f1)"
}

# reentry_journey RULE: a journey on "ping" that waits a day
reentry_journey() {
	mkdir -p journeys
	printf 'name: r\ntrigger: {event: ping}\nreentry: %s\nsteps:\n  - wait: 1d\n' "$1" > journeys/r.yaml
}

@test "re-entry: never, always, restart and a duration" {
	ident c1
	reentry_journey never
	e p1 ping c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	at 2026-01-16T12:00:00Z --tick
	assert_equal "$(rows 'SELECT status FROM enrollments')" completed
	e p2 ping c1 > in.ndjson
	at 2026-02-15T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1

	rm -f jrn.db*; ident c1; reentry_journey always
	{ e p1 ping c1; e p2 ping c1; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1
	at 2026-01-16T12:00:00Z --tick
	e p3 ping c1 > in.ndjson
	at 2026-01-16T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT trigger_key, status FROM enrollments' | tr '\n' ' ')" "p1|completed p3|active "

	rm -f jrn.db*; ident c1; reentry_journey restart
	{ e p1 ping c1; e p2 ping c1; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT trigger_key, status, coalesce(reason, "") FROM enrollments' | tr '\n' ' ')" "p1|exited|restarted p2|active| "

	rm -f jrn.db*; ident c1; reentry_journey 3d
	e p1 ping c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	at 2026-01-16T12:00:00Z --tick
	e p2 ping c1 > in.ndjson
	at 2026-01-17T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1
	e p3 ping c1 > in.ndjson
	at 2026-01-18T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT trigger_key FROM enrollments' | tr '\n' ' ')" "p1 p3 "

	# the default, 24h
	rm -f jrn.db*; ident c1; printf 'name: r\ntrigger: {event: ping}\nsteps:\n  - exit: done\n' > journeys/r.yaml
	{ e p1 ping c1; e p2 ping c1; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	e p3 ping c1 > in.ndjson
	at 2026-01-16T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT trigger_key, status, reason FROM enrollments' | tr '\n' ' ')" "p1|exited|done p3|exited|done "
}

@test "segment entered, rfm changed and stage triggers" {
	mkdir journeys
	printf 'name: seg\ntrigger: {segment: vip, on: entered}\nsteps:\n  - exit: seg\n' > journeys/seg.yaml
	printf 'name: rfm\ntrigger: {rfm: changed, to: champions}\nsteps:\n  - exit: rfm\n' > journeys/rfm.yaml
	printf 'name: st\ntrigger: {stage: purchase}\nsteps:\n  - exit: stage\n' > journeys/st.yaml
	ident c1
	{
		e s1 segment.entered c1 '"properties":{"segment":"vip"}'
		e s2 segment.entered c1 '"properties":{"segment":"other"}'
		e s3 segment.exited c1 '"properties":{"segment":"vip"}'
		e r1 rfm.segment.changed c1 '"properties":{"from":"at_risk","to":"champions"}'
		e r2 rfm.segment.changed c2 '"properties":{"from":"champions","to":"at_risk"}'
		printf '{"customerId":"c1","state":{"journeyStage":"purchase"}}\n'
		printf '{"customerId":"c2","state":{"journeyStage":"awareness"}}\n'
	} > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	# every record passes through
	assert_equal "$output" "$(cat in.ndjson)"
	assert_equal "$(rows 'SELECT journey, customer_id, trigger_key, reason FROM enrollments ORDER BY id' | tr '\n' ' ')" \
		"seg|c1|s1|seg rfm|c1|r1|rfm st|c1|sha256:$(printf '{"customerId":"c1","state":{"journeyStage":"purchase"}}\x1f1768478400000' | sha256sum | cut -d' ' -f1)|stage "
}

@test "goal step converts on its event; the journey goal converts and holds a finished enrollment open" {
	mkdir journeys
	cat > journeys/g.yaml <<'Y'
name: g
trigger: {event: signup}
goal: {event: order.completed, within: 7d}
steps:
  - id: first
    goal: {event: profile.completed, within: 1d}
  - id: hello
    action: {channel: email, campaign: g, subject: Hi, messageContent: "Hi {{unsubscribeUrl}}"}
Y
	ident c1; ident c2; ident c3
	{ e a signup c1; e b signup c2; e c signup c3; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	e p1 profile.completed c1 > in.ndjson
	at 2026-01-15T13:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT status, reason FROM enrollments WHERE id = 1')" "converted|profile.completed"
	# c2: the goal step times out, the action runs, the journey goal holds it open
	at 2026-01-16T12:00:00Z --tick
	assert_equal "$(actions)" "c2 hello send c3 hello send "
	assert_equal "$(rows 'SELECT status, coalesce(step, "-"), wait_events, due_at FROM enrollments WHERE id = 2')" \
		"active|-|[\"order.completed\"]|$((1768478400000 + 7 * 86400000))"
	e o1 order.completed c2 > in.ndjson
	at 2026-01-17T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT status, reason FROM enrollments WHERE id = 2')" "converted|order.completed"
	# c3: the window closes: completed
	at 2026-01-22T12:00:00Z --tick
	assert_equal "$(rows 'SELECT status FROM enrollments WHERE id = 3')" completed
	assert_equal "$(log_of 3)" "entered goal@first timeout@first action@hello wait completed "
}

@test "branch on the profile, split deterministic with its holdout suppressed, exit, webhook" {
	mkdir journeys
	cat > journeys/b.yaml <<'Y'
name: b
trigger: {event: go}
reentry: always
steps:
  - id: br
    branch: {if: {field: traits.plan, op: eq, value: gold}, then: gold, else: ab}
  - id: gold
    webhook: {url: "https://hooks.example.com/gold", campaign: gold}
    next: end
  - id: ab
    split: [{name: A, weight: 1, next: mail}, {name: H, weight: 1, holdout: true, next: mail}]
  - id: mail
    action: {channel: email, campaign: ab, subject: Hi, messageContent: "Hi {{unsubscribeUrl}}"}
  - id: bye
    exit: split done
Y
	ident g '"plan":"gold"'
	for i in $(seq 1 20); do ident "u$i"; done
	{ e x0 go g; for i in $(seq 1 20); do e "x$i" go "u$i"; done; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(jq -c 'select(.actionType == "webhook") | [.customerId, .url, .campaignId, .route.decision]' <<< "$output")" \
		'["g","https://hooks.example.com/gold","gold","send"]'
	# each arm's actions: A sent, H suppressed as holdout; the variant recorded
	arms=$(jq -r 'select(.step == "mail") | "\(.customerId)=\(.testVariant)"' <<< "$output" | LC_ALL=C sort | tr '\n' ' ')
	[[ $arms == *"=A "* && $arms == *"=H "* ]]
	assert_equal "$(jq -r 'select(.step == "mail" and .testVariant == "H") | .route.reason' <<< "$output" | LC_ALL=C sort -u)" holdout
	assert_equal "$(jq -r 'select(.step == "mail" and .testVariant == "A") | .route.decision' <<< "$output" | LC_ALL=C sort -u)" send
	assert_equal "$(rows "SELECT DISTINCT status || ':' || reason FROM enrollments WHERE customer_id <> 'g'")" "exited:split done"
	assert_equal "$(rows "SELECT group_concat(customer_id || '=' || variant, ' ') FROM (SELECT * FROM enrollments WHERE variant IS NOT NULL ORDER BY customer_id || '=' || variant)")" \
		"$(jq -r 'select(.step == "mail") | "\(.customerId)=\(.testVariant)"' <<< "$output" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
	# the arm is the same on a rerun (a new enrollment, the same customer)
	first=$arms
	{ for i in $(seq 1 20); do e "y$i" go "u$i"; done; } > in.ndjson
	at 2026-01-16T12:00:00Z in.ndjson
	assert_equal "$(jq -r 'select(.step == "mail") | "\(.customerId)=\(.testVariant)"' <<< "$output" | LC_ALL=C sort | tr '\n' ' ')" "$first"
	# and it is u = SHA-256("customer\x1fjourney")'s first 8 bytes / 2^64 against the weights
	h=$(printf 'u1\x1fb' | sha256sum | cut -c1-16)
	want=$(python3 -c "print('A' if int('$h', 16) / 2**64 * 2 < 1 else 'H')")
	assert_equal "$(rows "SELECT variant FROM enrollments WHERE customer_id = 'u1' LIMIT 1")" "$want"
}

@test "a wait until a local time on given days, in the customer's zone, across DST" {
	mkdir journeys
	cat > journeys/w.yaml <<'Y'
name: w
trigger: {event: go}
steps:
  - wait: {until: "09:00", days: [mon]}
Y
	ident ny '"timeZone":"America/New_York"'
	ident utc
	# Saturday 2026-03-07 12:00Z: the next Monday 09:00 in New York is after the DST change (EDT, -4)
	{ e a go ny; e b go utc; } > in.ndjson
	at 2026-03-07T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows "SELECT customer_id, strftime('%Y-%m-%dT%H:%M', due_at / 1000, 'unixepoch') FROM enrollments ORDER BY id" | tr '\n' ' ')" \
		"ny|2026-03-09T13:00 utc|2026-03-09T09:00 "
}

@test "a wait until a local time: the customer's zone first, the step's zone when the profile has none" {
	mkdir journeys
	cat > journeys/w.yaml <<'Y'
name: w
trigger: {event: go}
steps:
  - wait: {until: "09:00", zone: Asia/Tokyo}
Y
	ident ny '"timeZone":"America/New_York"'
	ident plain
	{ e a go ny; e b go plain; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	# New York 09:00 EST is 14:00Z; Tokyo 09:00 JST is 00:00Z
	assert_equal "$(rows "SELECT customer_id, strftime('%Y-%m-%dT%H:%M', due_at / 1000, 'unixepoch') FROM enrollments ORDER BY id" | tr '\n' ' ')" \
		"ny|2026-01-15T14:00 plain|2026-01-16T00:00 "
}

@test "a loop without a wait is parked after JOURNEY_RUN_MAX (100) steps and goes on at the next tick" {
	mkdir journeys
	cat > journeys/l.yaml <<'Y'
name: l
trigger: {event: go}
steps:
  - id: a
    update: {set: {n: 1}}
    next: a
Y
	ident c1
	e a go c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows "SELECT status, step, due_at FROM enrollments")" "active|a|$((1768478400000 + 60000))"
	assert_equal "$(rows "SELECT count(*) FROM enrollment_log WHERE what = 'update'")" 100
	at 2026-01-15T12:01:00Z --tick
	assert_equal "$(rows "SELECT count(*) FROM enrollment_log WHERE what = 'update'")" 200
}

@test "a journey edited while people are in it: they keep their version; migrate moves them; a removed step strands them" {
	mkdir journeys
	printf 'name: v\ntrigger: {event: go}\nsteps:\n  - id: w\n    wait: 1d\n  - id: m\n    action: {channel: email, campaign: v1, subject: a, messageContent: "b {{unsubscribeUrl}}"}\n' > journeys/v.yaml
	ident c1; ident c2
	e a go c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	# version 2: another campaign; c1 stays on version 1
	sed -i 's/campaign: v1/campaign: v2/' journeys/v.yaml
	e b go c2 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT journey, version FROM journey_versions' | tr '\n' ' ')" "v|1 v|2 "
	at 2026-01-16T12:00:00Z --tick
	assert_equal "$(jq -r '"\(.customerId) \(.campaignId) \(.journeyVersion)"' <<< "$output" | tr '\n' ' ')" "c1 v1 1 c2 v2 2 "
	# an unchanged file is no new version
	at 2026-01-16T12:00:00Z --tick
	assert_equal "$(rows 'SELECT count(*) FROM journey_versions')" 2

	# migrate: true moves them (step w kept); a step mapped; a step gone strands
	rm -f jrn.db*; ident c1; ident c2
	printf 'name: v\ntrigger: {event: go}\nreentry: always\nsteps:\n  - id: w\n    wait: 1d\n  - id: x\n    wait: 1d\n' > journeys/v.yaml
	e a go c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	printf 'name: v\ntrigger: {event: go}\nreentry: always\nmigrate: true\nsteps:\n  - id: w\n    wait: 2d\n  - id: m\n    action: {channel: email, campaign: v3, subject: a, messageContent: "b {{unsubscribeUrl}}"}\n' > journeys/v.yaml
	e b go c2 > in.ndjson
	at 2026-01-15T13:00:00Z in.ndjson
	assert_equal "$(rows 'SELECT customer_id, version, step FROM enrollments' | tr '\n' ' ')" "c1|2|w c2|2|w "
	assert_equal "$(rows "SELECT what, detail FROM enrollment_log WHERE what = 'migrated'")" "migrated|v1 -> v2"
	# c1 keeps its due time (the old wait), then takes v2's next step
	at 2026-01-16T12:00:00Z --tick
	assert_equal "$(actions)" "c1 m send "
	# a step that is gone: stranded on its version unless mapped
	rm -f jrn.db*; ident c1; ident c2
	printf 'name: v\ntrigger: {event: go}\nreentry: always\nsteps:\n  - id: x\n    wait: 1d\n' > journeys/v.yaml
	{ e a go c1; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	printf 'name: v\ntrigger: {event: go}\nmigrate: true\nsteps:\n  - id: y\n    wait: 1d\n' > journeys/v.yaml
	e b go c2 > in.ndjson
	at 2026-01-15T13:00:00Z in.ndjson
	assert_equal "$(rows "SELECT version, step FROM enrollments WHERE customer_id = 'c1'")" "1|x"
	printf 'name: v\ntrigger: {event: go}\nmigrate: {steps: {x: y}}\nsteps:\n  - id: y\n    wait: 1d\n  - exit: moved\n' > journeys/v.yaml
	e c go c2 > in.ndjson
	at 2026-01-15T14:00:00Z in.ndjson
	assert_equal "$(rows "SELECT version, step FROM enrollments WHERE customer_id = 'c1'")" "3|y"
	at 2026-01-16T12:00:00Z --tick
	assert_equal "$(rows "SELECT status, reason FROM enrollments WHERE customer_id = 'c1'")" "exited|moved"
}

@test "an event type only an older version or an unloaded journey listens to still moves its enrollments; other events move nothing" {
	mkdir journeys
	printf 'name: v\ntrigger: {event: go}\nexit: [{event: stop}]\nsteps:\n  - id: w\n    wait: 1d\n' > journeys/v.yaml
	printf 'name: o\ntrigger: {event: other}\nsteps:\n  - id: w\n    wait: 1d\n' > journeys/o.yaml
	ident c1; ident c2; ident c3
	{ e a go c1; e b go c3; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	# version 2 listens to no "stop": c1 on version 1 still exits on it
	printf 'name: v\ntrigger: {event: go}\nsteps:\n  - id: w\n    wait: 1d\n' > journeys/v.yaml
	{ e c go c2; e d stop c1; e f stop c2; } > in.ndjson
	at 2026-01-15T13:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows "SELECT customer_id, version, status, coalesce(reason, '-') FROM enrollments ORDER BY customer_id" | tr '\n' ' ')" \
		"c1|1|exited|stop c2|2|active|- c3|1|active|- "
	# v no longer loaded: its stored version 1 still exits c3 on "stop"
	rm journeys/v.yaml
	n=$(rows 'SELECT count(*) FROM enrollment_log')
	{ e g page.viewed c2 '"properties":{"x":1}'; e h stop c3; } > in.ndjson
	at 2026-01-15T14:00:00Z in.ndjson
	assert_success
	assert_equal "$(jq -r .id <<< "$output" | tr '\n' ' ')" "g h "
	assert_equal "$(rows "SELECT status, reason FROM enrollments WHERE customer_id = 'c3'")" "exited|stop"
	assert_equal "$(rows "SELECT status FROM enrollments WHERE customer_id = 'c2'")" "active"
	assert_equal "$(rows 'SELECT count(*) FROM enrollment_log')" "$((n + 1))"
}

@test "a journey file with an error is refused with file:line:col; the others run; exit 3" {
	mkdir journeys
	printf 'name: good\ntrigger: {event: go}\nsteps:\n  - exit: ok\n' > journeys/a.yaml
	printf 'name: bad\ntrigger: {event: go}\nsteps:\n  - wait: soon\n' > journeys/b.yaml
	ident c1
	e a go c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_failure 3
	assert_regex "$stderr" '^jrn-route: journeys/b.yaml:4:[0-9]+: '
	assert_equal "$output" "$(e a go c1)"
	assert_equal "$(rows 'SELECT journey, reason FROM enrollments')" "good|ok"
	assert_equal "$(rows 'SELECT journey FROM journey_versions')" good
}

@test "--explain: each enrollment with its log and decisions, newest first; then decisions outside journeys" {
	cart_journey
	ident c1 '"vip":true'
	e e1 cart.updated c1 '"properties":{"total":20}' > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	at 2026-01-15T13:00:00Z --tick
	printf '{"actionType":"email","customerId":"c1","campaignId":"news","recipientEmail":"c1@example.com","subject":"a","messageContent":"b"}\n' > in.ndjson
	at 2026-01-15T14:00:00Z in.ndjson
	run --separate-stderr jrn-route --explain c1
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$output" "journey cart v1 (enrollment 1): active, at step opened, due 2026-01-16T13:00:00.000Z; entered 2026-01-15T12:00:00.000Z, ended -
  2026-01-15T12:00:00.000Z  -            entered   {\"trigger\":\"e1\"}
  2026-01-15T12:00:00.000Z  wait1        wait      {\"until\":\"2026-01-15T13:00:00.000Z\"}
  2026-01-15T13:00:00.000Z  wait1        waited
  2026-01-15T13:00:00.000Z  mail1        action    send email
  2026-01-15T13:00:00.000Z  opened       wait      [\"email.opened\"]
decisions outside journeys:
  2026-01-15T14:00:00.000Z  send email campaign news, sendAt 2026-01-15T14:00:00.000Z, key $(rows "SELECT key FROM route_decisions WHERE campaign_id = 'news'")"
	jrn-route -q --explain c1 > q.txt
	assert_equal "$(cat q.txt)" "$output"
	run --separate-stderr jrn-route -q --explain nobody
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn-route: --explain nobody: no enrollments and no decisions"
	# it only reads: a state file that is not there is said, not made
	run --separate-stderr jrn-route --explain c1 --db nosuch.db
	assert_failure 1
	assert_equal "$stderr" "jrn-route: nosuch.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e nosuch.db ]
}

@test "an erased customer is never enrolled; a merged-away id enrolls its survivor" {
	mkdir journeys
	printf 'name: j\ntrigger: {event: go}\nsteps:\n  - wait: 1d\n' > journeys/j.yaml
	ident gone; ident old; ident new
	run jrn privacy erase gone
	assert_success
	printf '{"type":"alias","userId":"new","previousId":"old","timestamp":"2026-01-02T00:00:00Z"}\n' | jrn-ingest -q > /dev/null
	{ e a go gone; e b go old; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows 'SELECT customer_id, trigger_key FROM enrollments')" "new|b"
}

@test "a closed stdout: exit 1, and the batch's enrollments are not kept (nobody received its actions)" {
	cart_journey
	ident c1 '"vip":true'
	e e1 cart.updated c1 '"properties":{"total":20}' > in.ndjson
	run --separate-stderr bash -c "JRN_NOW=2026-01-15T12:00:00Z jrn-route in.ndjson >&-"
	assert_failure 1
	assert_equal "$stderr" "jrn-route: writing output: Bad file descriptor"
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 0
	# the rerun with a reader enrolls
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1
}

@test "an enrollment whose stored version no longer compiles is said and left as it is (exit 3); the others go on" {
	mkdir journeys
	printf 'name: a\ntrigger: {event: go}\nsteps:\n  - wait: 1h\n  - exit: a\n' > journeys/a.yaml
	printf 'name: b\ntrigger: {event: go}\nsteps:\n  - wait: 1h\n  - exit: b\n' > journeys/b.yaml
	ident c1
	e g go c1 > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	# version 2 of a is loaded; version 1's source is broken
	printf 'name: a\ntrigger: {event: go}\nsteps:\n  - wait: 2h\n  - exit: a2\n' > journeys/a.yaml
	sqlite3 jrn.db "UPDATE journey_versions SET source = 'steps: [' WHERE journey = 'a'"
	at 2026-01-15T13:00:00Z --tick
	assert_failure 3
	assert_regex "$stderr" "^jrn-route: enrollment 1 \\(a v1\\): left as it is: journeys/a.yaml:"
	assert_equal "$(rows 'SELECT journey, status, coalesce(reason, "") FROM enrollments ORDER BY id' | tr '\n' ' ')" "a|active| b|exited|b "
}

@test "valgrind: no invalid access and no leak through every step kind, a tick and --explain" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (make asan checks this)"
	cart_journey
	cat > journeys/all.yaml <<'Y'
name: all
trigger: {event: go, profile: {field: traits.vip, op: eq, value: true}}
goal: {event: order.completed, within: 2d}
exit: [{event: stop}]
steps:
  - id: br
    branch: {if: {field: event.properties.n, op: gt, value: 1}, then: sp, else: hook}
  - id: hook
    webhook: {url: "https://hooks.example.com/x", campaign: w}
  - id: sp
    split: [{name: A, weight: 1, next: up}, {name: H, weight: 1, holdout: true, next: up}]
  - id: up
    update: {set: {seen: true}, remove: [old]}
  - id: m
    action: {channel: email, campaign: all, subject: s, messageContent: "m {{unsubscribeUrl}}"}
  - id: g
    goal: {event: clicked, within: 1h}
  - id: w
    wait: {until: "09:00", days: [mon, tue, wed, thu, fri]}
Y
	ident c1 '"vip":true'
	ident c2 '"vip":true'
	{
		e e1 cart.updated c1 '"properties":{"total":20}'
		e a go c1 '"properties":{"n":2}'
		e b go c2
		e o1 email.opened c1
		printf 'not json\n'
	} > in.ndjson
	vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }
	run --separate-stderr vg "$JRN_BIN/jrn-route" --now 2026-01-15T12:00:00Z --rejects rej.ndjson in.ndjson
	assert_failure 3
	run --separate-stderr vg "$JRN_BIN/jrn-route" --now 2026-01-16T12:00:00Z --tick
	assert_success
	run --separate-stderr vg "$JRN_BIN/jrn-route" --explain c1
	assert_success
	assert_equal "$stderr" ""
}

@test "an event whose customerId, type or id holds a NUL: passed through, a reject, never enrolled" {
	mkdir -p journeys
	printf 'name: w\ntrigger: {event: signup}\nsteps:\n  - id: m\n    wait: 1h\n' > journeys/w.yaml
	ident e4
	{
		printf '{"id":"a","type":"signup","customerId":"e4\\u0000x"}\n'
		printf '{"id":"b","type":"sig\\u0000nup","customerId":"e4"}\n'
		printf '{"id":"c\\u0000","type":"signup","customerId":"e4"}\n'
		printf '{"id":"d","type":"signup","customerId":"e4","properties":{"segment":"s\\u0001"}}\n'
		e ok signup e4
	} > in.ndjson
	at 2026-01-15T12:00:00Z --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_equal "$output" "$(cat in.ndjson)"
	assert_equal "$(jq -r .error rej.ndjson | tr '\n' '|')" \
		"customerId: control character U+0000 at byte 3|type: control character U+0000 at byte 4|id: control character U+0000 at byte 2|segment: control character U+0001 at byte 2|"
	assert_equal "$(rows 'SELECT customer_id, trigger_key FROM enrollments')" "e4|ok"
}

@test "no journey loaded any more: stored enrollments still take exit events and ticks" {
	mkdir -p journeys
	printf 'name: w\ntrigger: {event: signup}\nexit: [{event: order.completed}]\nsteps:\n  - id: pause\n    wait: 1h\n  - id: m\n    webhook: {url: "https://hooks.example.com/x", campaign: w}\n' > journeys/w.yaml
	ident c1
	ident c2
	{ e s1 signup c1; e s2 signup c2; } > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	rm journeys/w.yaml
	e o1 order.completed c1 > in2.ndjson
	at 2026-01-15T12:30:00Z in2.ndjson
	assert_success
	assert_equal "$(rows 'SELECT customer_id, status, reason FROM enrollments ORDER BY id')" "c1|exited|order.completed
c2|active|"
	at 2026-01-15T13:00:00Z --tick
	assert_success
	assert_equal "$(jq -r 'select(.actionType) | .customerId' <<< "$output")" c2
	assert_equal "$(rows 'SELECT customer_id, status FROM enrollments ORDER BY id')" "c1|exited
c2|completed"
}

@test "a stage record (no id, no timestamp) read again later enrolls again; at the same clock, once" {
	mkdir -p journeys
	printf 'name: st\ntrigger: {stage: purchase}\nreentry: always\nsteps:\n  - exit: stage\n' > journeys/st.yaml
	ident c1
	printf '{"customerId":"c1","state":{"journeyStage":"purchase"}}\n' > in.ndjson
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	at 2026-01-15T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 1
	at 2026-01-16T12:00:00Z in.ndjson
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM enrollments')" 2
}
