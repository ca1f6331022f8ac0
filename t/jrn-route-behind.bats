#!/usr/bin/env bats
# jrn-route's gate writes its decisions behind (a thread of its own, on the
# same connection) and remembers which customers have a send: what it
# reads while writes are queued, and what a failed write does.

load helpers

export JRN_NOW=2026-01-15T12:00:00Z

# email CUSTOMER TEMPLATE: one e-mail action
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","template":"%s","subject":"Hi"}\n' "$1" "$1" "$2"
}

@test "a customer's sends still queued are counted: the memo dropped past its rows, the table read after them" {
	# a customer's memo keeps 6 sends; the 7th drops it, and every later
	# action of the customer reads the table, which must hold the sends
	# still queued behind the gate
	printf 'policy:\n  caps:\n    email: {max: 8, window: 1d}\n    all: {max: 100, window: 1d}\n' > jrn.yaml
	for t in $(seq 1 12); do email c1 "t$t"; done > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_success
	assert_equal "$(jq -r .route.decision <<< "$output" | sort | uniq -c | tr '\n' ' ' | tr -s ' ')" " 4 defer 8 send "
	assert_equal "$(sed -n 9p <<< "$output" | jq -r .route.reason)" cap_channel
	assert_equal "$(rows "SELECT decision, count(*) FROM route_decisions GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
		"defer|4 send|8 "
	assert_equal "$(rows "SELECT count(*) FROM route_send_keys")" 8
}

@test "caps hold across runs for many customers: those with a send are read, the new ones are not looked up" {
	printf 'policy:\n  caps:\n    email: {max: 8, window: 1d}\n' > jrn.yaml
	for t in $(seq 1 8); do for i in $(seq 1 300); do email "c$i" "a$t"; done; done > a.ndjson
	run jrn-route -q a.ndjson
	assert_success
	assert_equal "$(jq -r .route.decision <<< "$output" | sort | uniq -c | tr -s ' ')" " 2400 send"
	# the second run: past 64 first sights it reads the customers with a
	# send at once; each of the 300 is deferred, each new one sent
	{
		for i in $(seq 1 300); do email "c$i" b; done
		for i in $(seq 1 20); do email "new$i" b; done
		# and one customer's first send after that read: added to the
		# customers with a send, so that once its memo is dropped (past
		# 6 sends) its sends are read back: 8 in the cap, then deferred
		for t in $(seq 1 12); do email late "t$t"; done
	} > b.ndjson
	run jrn-route -q --now 2026-01-15T13:00:00Z b.ndjson
	assert_success
	assert_equal "$(head -300 <<< "$output" | jq -r '.route.decision + "/" + .route.reason' | sort | uniq -c | tr -s ' ')" " 300 defer/cap_channel"
	assert_equal "$(sed -n 301,320p <<< "$output" | jq -r .route.decision | sort | uniq -c | tr -s ' ')" " 20 send"
	assert_equal "$(tail -12 <<< "$output" | jq -r .route.decision | sort | uniq -c | tr '\n' ' ' | tr -s ' ')" " 4 defer 8 send "
}

@test "a write that fails behind the gate fails the run once: its batch neither written out nor remembered, the batches before it kept" {
	for i in $(seq 1 15000); do email "c$i" a; done > a.ndjson
	# quiet hours: each action's zone is read from the profiles on the
	# main thread while the writer fails; the message must be the
	# writer's (it was "not an error" in about one run of six once)
	printf 'policy:\n  quietHours: {start: "21:00", end: "08:00"}\n' > jrn.yaml
	for k in 1 2 3 4 5 6; do
		rm -f jrn.db jrn.db-wal jrn.db-shm
		jrn-route < /dev/null
		sqlite3 jrn.db "CREATE TRIGGER boom BEFORE INSERT ON route_decisions WHEN new.customer_id = 'c12000'
		  BEGIN SELECT RAISE(ABORT, 'no room for c12000'); END"
		run --separate-stderr jrn-route a.ndjson
		assert_failure 1
		assert_equal "$stderr" "jrn-route: jrn.db: no room for c12000"
		# the first batch of 10,000 went out and was committed; the second neither
		assert_equal "$(wc -l <<< "$output")" 10000
		assert_equal "$(tail -1 <<< "$output" | jq -r .customerId)" c10000
		assert_equal "$(rows "SELECT count(*), max(customer_id = 'c10000') FROM route_decisions")" "10000|1"
		assert_equal "$(rows "SELECT count(*) FROM route_send_keys")" 10000
	done
}

@test "a failed write in the only batch: nothing out, nothing kept; a dry run says the same" {
	jrn-route < /dev/null
	sqlite3 jrn.db "CREATE TRIGGER boom BEFORE INSERT ON route_decisions WHEN new.customer_id = 'c7'
	  BEGIN SELECT RAISE(ABORT, 'no room for c7'); END"
	for i in $(seq 1 3000); do email "c$i" a; done > a.ndjson
	# quiet hours: each action's zone is read from the profiles on the
	# main thread while the writer fails, and the message is still the
	# writer's (it was "not an error" in most runs once)
	printf 'policy:\n  quietHours: {start: "21:00", end: "08:00"}\n' > jrn.yaml
	for k in 1 2 3 4 5 6; do
		run --separate-stderr jrn-route a.ndjson
		assert_failure 1
		assert_equal "$stderr" "jrn-route: jrn.db: no room for c7"
		assert_output ""
	done
	assert_equal "$(rows "SELECT count(*) FROM route_decisions")" 0
	run --separate-stderr jrn-route --dry-run a.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.db: no room for c7"
	assert_output ""
}

@test "budgets behind the gate: the spending queued is read back when the memo cannot hold it" {
	# more campaigns than the spending memo's 64 slots: some are read
	# from route_budgets, which must hold the spending still queued
	printf 'policy:\n  cost: {email: 1}\n  budgets: {"*": 2}\n' > jrn.yaml
	# each campaign in turn, three times: a campaign's slot is another's
	# by the time it comes back
	for c in 1 2 3; do
		for k in $(seq 1 100); do
			printf '{"actionType":"email","customerId":"c%s-%s","campaignId":"camp%s","recipientEmail":"c%s@example.com"}\n' "$k" "$c" "$k" "$c"
		done
	done > a.ndjson
	run jrn-route -q a.ndjson
	assert_success
	assert_equal "$(jq -r '.route.decision + "/" + (.route.reason // "-")' <<< "$output" | sort | uniq -c | tr '\n' ' ' | tr -s ' ')" \
		" 200 send/- 100 suppress/budget "
	assert_equal "$(rows "SELECT count(*), min(spent), max(spent) FROM route_budgets")" "100|2.0|2.0"
}

@test "budgets behind the gate: a run's spending summed per campaign comes out as the upserts one by one leave it, and past 64 campaigns a run" {
	# costs a double cannot hold (0.1, 0.07, 0.03): each campaign's spent
	# is a sum rounded at every step, in the order of its sends. First
	# five campaigns in a random order (many costs, of every channel, in
	# each campaign's sum of a run), then a hundred (64 summed a run, the
	# others upserted as they come)
	printf 'policy:\n  cost: {email: 0.1, sms: 0.07, whatsapp: 0.03}\n  budgets: {"*": 1000000}\n' > jrn.yaml
	awk 'BEGIN { srand(7); split("email sms whatsapp", ch, " ")
		for (i = 0; i < 30000; i++)
			printf "{\"actionType\":\"%s\",\"customerId\":\"c%d\",\"campaignId\":\"camp%d\",\"recipientEmail\":\"c%d@example.com\",\"recipientPhone\":\"+14155550100\"}\n", ch[int(rand() * 3) + 1], i, int(rand() * (i < 15000 ? 5 : 100)), i }' > a.ndjson
	jrn-route --config jrn.yaml --db behind.db a.ndjson > /dev/null
	# with a journey the gate writes in line, one upsert a send
	mkdir js
	printf 'trigger: never.happens\nsteps:\n  - webhook: {url: "https://hooks.example/a"}\n' > js/n.yaml
	jrn-route --config jrn.yaml --journeys js --db inline.db a.ndjson > /dev/null
	assert_equal "$(sqlite3 behind.db "ATTACH 'inline.db' AS i; SELECT count(*), sum(b.spent = l.spent),
		sum(b.updated_at = l.updated_at), sum(b.spent <> round(b.spent, 2)) > 50
		FROM route_budgets b JOIN i.route_budgets l USING (campaign_id)")" "100|100|100|1"
}

@test "--simulate writes behind too, on a connection of its own: 24,000 actions decided as the gate decides them (caps read back while sends are queued, duplicate keys)" {
	# twelve e-mails a customer in a row (more than a memo holds, so the
	# cap of eight is counted from the table while the customer's sends
	# are still queued), every seventh a key seen six lines before; all
	# at the gate's now, so the two clocks agree
	awk 'BEGIN { for (i = 0; i < 24000; i++) { c = int(i / 12); k = i % 7 == 6 ? i - 6 : i
		printf "{\"actionType\":\"email\",\"customerId\":\"c%d\",\"recipientEmail\":\"c%d@example.com\",\"campaignId\":\"k%d\",\"idempotencyKey\":\"x%d\",\"timestamp\":\"2026-01-15T12:00:00Z\"}\n", c, c, i % 3, k } }' > a.ndjson
	printf 'policy:\n  caps:\n    email: {max: 8, window: 1d}\n' > jrn.yaml
	mkdir js
	jrn-route --config jrn.yaml a.ndjson > gate.out
	run --separate-stderr jrn-route --simulate --config jrn.yaml --journeys js --db none.db a.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(jq -r '.route.decision + " " + (.route.reason // "-")' <<< "$output" | sort | uniq -c | tr -s ' ' | tr '\n' ,)" \
		" 5999 defer cap_channel, 16000 send -, 2001 suppress duplicate,"
	# record for record what the gate wrote
	assert_equal "$output" "$(cat gate.out)"
	[ ! -e none.db ]
}
