#!/usr/bin/env bats
# jrn-route --simulate's shortcuts (simulate.c, engine.c, enroll.c): a
# filter of the trigger keys enrolled, the active enrollments read only in
# the journeys an event can move, the earliest due read again only when a
# write may move it, memos of contacts and resolved ids. Each gives what
# the full lookups give; these are the cases where a shortcut taken wrong
# would show. No state file: the memory state alone.

load helpers

# ev ID TYPE CUSTOMER HH:MM: an event on 2026-03-01
ev() {
	printf '{"id":"%s","type":"%s","customerId":"%s","timestamp":"2026-03-01T%s:00Z"}\n' "$@"
}

@test "simulate: an event id seen again enrolls no one twice; re-entry always and after a window as the rules say" {
	mkdir js
	printf 'trigger: go\nreentry: always\nsteps:\n  - webhook: {url: "https://hooks.example/a"}\n' > js/a.yaml
	printf 'trigger: go\nreentry: 1h\nsteps:\n  - webhook: {url: "https://hooks.example/b"}\n' > js/b.yaml
	{ ev e1 go c1 00:00; ev e1 go c1 00:01; ev e2 go c1 00:02; ev e3 go c1 02:00; ev e1 go c1 03:00; } > ev.ndjson
	run --separate-stderr jrn-route --simulate --db none.db --journeys js ev.ndjson
	assert_success
	assert_equal "$stderr" ""
	# a: e1 once (its repeats are the same trigger key), e2, e3; b: e1,
	# then nothing within the hour, e3 after it
	assert_equal "$(jq -r '.journey + "/" + .event.id' <<< "$output" | tr '\n' ' ')" \
		"a/e1 b/e1 a/e2 a/e3 b/e3 "
	[ ! -e none.db ]
}

@test "simulate: a restart, an exit in one journey and not the other, an event no journey moves on" {
	mkdir js
	cat > js/x.yaml <<'Y'
trigger: go
reentry: restart
exit:
  - {event: stop}
steps:
  - wait: 1h
  - webhook: {url: "https://hooks.example/x"}
Y
	cat > js/y.yaml <<'Y'
trigger: go
steps:
  - wait: 1h
  - webhook: {url: "https://hooks.example/y"}
Y
	{ ev g1 go c1 00:00; ev g2 go c2 00:00; ev g3 go c1 00:30; ev s1 stop c2 00:40; ev p1 page c1 00:45; } > ev.ndjson
	run --separate-stderr jrn-route --simulate --db none.db --journeys js --now 2026-03-02T00:00:00Z ev.ndjson
	assert_success
	assert_equal "$stderr" ""
	# c1's x restarted by g3 (its hour from 00:30), y not entered again
	# while active; c2's x exited by stop, its y goes on
	assert_equal "$(jq -r '[.journey, .customerId, .event.id, .route.sendAt] | join(" ")' <<< "$output")" \
		"y c1 g1 2026-03-01T01:00:00.000Z
y c2 g2 2026-03-01T01:00:00.000Z
x c1 g3 2026-03-01T01:30:00.000Z"
}

@test "simulate: a wait moved earlier by an event (wait_for) is caught up at its own time, before later waits" {
	mkdir js
	cat > js/w.yaml <<'Y'
trigger: go
steps:
  - id: hold
    wait_for: {event: poke, within: 3h, then: now, else: late}
  - id: late
    webhook: {url: "https://hooks.example/late"}
  - id: now
    webhook: {url: "https://hooks.example/now"}
Y
	cat > js/v.yaml <<'Y'
trigger: go
steps:
  - wait: 2h
  - webhook: {url: "https://hooks.example/v"}
Y
	# c1's wait_for ends at 03:00 (timeout) after v's 02:00; c2's is
	# ended by poke at 00:30 and goes on at once
	{ ev g1 go c1 00:00; ev g2 go c2 00:00; ev k1 poke c2 00:30; } > ev.ndjson
	run --separate-stderr jrn-route --simulate --db none.db --journeys js --now 2026-03-02T00:00:00Z ev.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq -r '[.journey, .customerId, .step, .route.sendAt] | join(" ")' <<< "$output")" \
		"w c2 now 2026-03-01T00:30:00.000Z
v c1 2 2026-03-01T02:00:00.000Z
v c2 2 2026-03-01T02:00:00.000Z
w c1 late 2026-03-01T03:00:00.000Z
w c1 now 2026-03-01T03:00:00.000Z"
}

@test "simulate: a trigger event stored as an action prints it: spaces, escapes and numbers as the gate prints them, at once and after a wait" {
	mkdir js
	printf 'trigger: go\nsteps:\n  - webhook: {url: "https://hooks.example/a"}\n' > js/a.yaml
	printf 'trigger: go\nsteps:\n  - wait: 1h\n  - branch:\n      if: {event.properties.value: {greater_than: 1.4}}\n      then: hook\n  - id: hook\n    webhook: {url: "https://hooks.example/b"}\n' > js/b.yaml
	printf '{ "id" : "e1", "type":"go","customerId":"c1","timestamp":"2026-03-01T00:00:00Z","properties":{"value":1.50,"big":1e2,"name":"caf\\u00e9 \\/ x","list":[ 1, 2.0 ,{"k":null}],"t":true}}\n' > ev.ndjson
	run --separate-stderr jrn-route --simulate --db none.db --journeys js --now 2026-03-02T00:00:00Z ev.ndjson
	assert_success
	assert_equal "$stderr" ""
	want='"event":{"id":"e1","type":"go","customerId":"c1","timestamp":"2026-03-01T00:00:00Z","properties":{"value":1.5,"big":100,"name":"café / x","list":[1,2,{"k":null}],"t":true}},"route":'
	assert_equal "$(grep -c -F "$want" <<< "$output")" 2
	assert_equal "$(jq -r '.journey' <<< "$output" | tr '\n' ' ')" "a b "
	# the gate with a state file prints the same event text
	JRN_NOW=2026-03-01T00:00:00Z run --separate-stderr jrn-route --db g.db --journeys js < ev.ndjson
	assert_success
	assert_equal "$(grep -c -F "$want" <<< "$output")" 1
}

@test "simulate: the memory state's sends (keys in memory, store_private): duplicates, caps and budgets as the gate keeps them" {
	# a state file of three profiles, only read
	for c in c1 c2 c3; do
		printf '{"id":"id-%s","type":"identify","customerId":"%s","timestamp":"2026-02-01T00:00:00Z","traits":{"email":"%s@example.com"}}\n' $c $c $c
	done > ids.ndjson
	JRN_NOW=2026-02-01T00:00:00Z jrn-ingest -q --store-only --db s.db ids.ndjson
	printf 'policy:\n  caps:\n    email: {max: 3, window: 1d}\n    sms: {max: 8, window: 1d}\n    whatsapp: {max: 3, window: 1d}\n  cost: {email: 1}\n  budgets: {summer: 2}\n' > jrn.yaml
	mkdir js
	act() {
		printf '{"actionType":"email","customerId":"%s","recipientEmail":"%s@example.com","campaignId":"%s","idempotencyKey":"%s","timestamp":"2026-03-0%sT10:00:00Z"}\n' \
			"$1" "$1" "$2" "$3" "$4"
	}
	{ act c1 spring k1 1; act c1 spring k1 1; act c1 spring k2 1; act c1 spring k3 1; act c1 spring k4 1
	  act c2 summer k5 1; act c2 summer k6 1; act c2 summer k7 1; act c2 summer k5 2; act c1 spring k1 3
	  act c3 spring k8 3; act c3 spring k8 3
	  # more sends than a customer's memo holds (RECENT_ROWS): counted from the table
	  for i in 1 2 3 4 5 6 7 8 9; do
		printf '{"actionType":"sms","customerId":"c4","recipientPhone":"+14155550100","idempotencyKey":"s%d","timestamp":"2026-03-04T10:0%d:00Z"}\n' $i $i
	  done
	  # three a day for four days, then a fourth on the last: the memo
	  # keeps the rows of the cap's window as the clock moves
	  for d in 5 6 7 8; do for i in 1 2 3; do
		printf '{"actionType":"whatsapp","customerId":"c5","recipientPhone":"+14155550101","idempotencyKey":"w%d%d","timestamp":"2026-03-0%dT10:0%d:00Z"}\n' $d $i $d $i
	  done; done
	  printf '{"actionType":"whatsapp","customerId":"c5","recipientPhone":"+14155550101","idempotencyKey":"w84","timestamp":"2026-03-08T10:04:00Z"}\n'
	  } > act.ndjson
	local sum; sum=$(sha256sum s.db)
	run --separate-stderr jrn-route --simulate --db s.db --config jrn.yaml --journeys js act.ndjson
	assert_success
	assert_equal "$stderr" ""
	# k1 again: a duplicate in the same batch and two days on; c1's fourth
	# e-mail of the day waits for the cap's window and goes out the next
	# day; summer's budget of 2 stops k7, and k5 again is still a
	# duplicate, not a budget; c3's first send is looked up as it is
	# written; c4's ninth SMS of the day is over the cap of 8, c5's fourth
	# WhatsApp message of its fourth day over the cap of 3
	assert_equal "$(jq -r '[.customerId, .idempotencyKey, .route.decision, .route.reason // "-"] | join(" ")' <<< "$output")" \
		"c1 k1 send -
c1 k1 suppress duplicate
c1 k2 send -
c1 k3 send -
c1 k4 defer cap_channel
c2 k5 send -
c2 k6 send -
c2 k7 suppress budget
c1 k4 send -
c2 k5 suppress duplicate
c1 k1 suppress duplicate
c3 k8 send -
c3 k8 suppress duplicate
c4 s1 send -
c4 s2 send -
c4 s3 send -
c4 s4 send -
c4 s5 send -
c4 s6 send -
c4 s7 send -
c4 s8 send -
c4 s9 defer cap_channel
c4 s9 send -
c5 w51 send -
c5 w52 send -
c5 w53 send -
c5 w61 send -
c5 w62 send -
c5 w63 send -
c5 w71 send -
c5 w72 send -
c5 w73 send -
c5 w81 send -
c5 w82 send -
c5 w83 send -
c5 w84 defer cap_channel"
	assert_equal "$(sha256sum s.db)" "$sum"
	# the claims and customers past JRN_SIMULATE_CLAIMS in route_send_keys
	# (memory flat in the input): the same decisions, every claim found
	local want=$output
	for n in 0 1 3; do
		JRN_SIMULATE_CLAIMS=$n run --separate-stderr jrn-route --simulate --db s.db --config jrn.yaml --journeys js act.ndjson
		assert_success
		assert_equal "$stderr" ""
		assert_equal "$output" "$want"
	done
	for bad in x -1 2000000 ' 3'; do
		JRN_SIMULATE_CLAIMS=$bad run --separate-stderr jrn-route --simulate --db s.db --config jrn.yaml --journeys js act.ndjson
		assert_failure 1
		assert_equal "$output" ""
		assert_regex "$stderr" "^jrn-route: JRN_SIMULATE_CLAIMS: expected a number from 0 to 1048576, got '$bad'$"
	done
	assert_equal "$(sha256sum s.db)" "$sum"
}

@test "simulate: a deferral offered again is suppressed only when its enrollment is one that ended: an id like 1x or 1.5 is none (as --tick compares them)" {
	mkdir js
	printf 'trigger: go\nexit:\n  - {event: stop}\nsteps:\n  - wait: 1d\n  - webhook: {url: "https://hooks.example/x"}\n' > js/j.yaml
	printf 'policy:\n  caps:\n    email: {max: 1, window: 1d}\n' > jrn.yaml
	{ ev e1 go c1 20:00; ev e2 stop c1 20:10  # enrollment 1: exited
	  printf '{"actionType":"email","customerId":"c1","recipientEmail":"c1@example.com","idempotencyKey":"k0","timestamp":"2026-03-01T22:00:00Z"}\n'
	  for en in '"1x"' 1.5 '"1"'; do
		printf '{"actionType":"email","customerId":"c1","recipientEmail":"c1@example.com","enrollment":%s,"idempotencyKey":"k%s","timestamp":"2026-03-01T22:00:00Z"}\n' "$en" "$(tr -d '".' <<< "$en")"
	  done; } > in.ndjson
	run --separate-stderr jrn-route --simulate --config jrn.yaml --journeys js --db none.db --now 2026-03-05T09:00:00Z in.ndjson
	assert_success
	assert_equal "$(jq -r '[.idempotencyKey, .route.decision, .route.reason // "-"] | join(" ")' <<< "$output" | tr '\n' ,)" \
		"k0 send -,k1x defer cap_channel,k15 defer cap_channel,k1 defer cap_channel,k1x send -,k15 defer cap_channel,k1 suppress enrollment_exited,k15 send -,"
}
