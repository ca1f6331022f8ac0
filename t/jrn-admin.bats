#!/usr/bin/env bats
# jrn's operator verbs: events, suppressions, queue; each write audit-logged.

load helpers

# audit: the audit log as "verb|args|counts" lines
audit() {
	rows "SELECT verb || '|' || args || '|' || counts FROM audit ORDER BY seq"
}

@test "jrn events --bad-amount lists the stored events whose amount is not a number (issue 9, fault 6)" {
	# stored as older versions stored them, whatever jrn-ingest does today
	jrn init . > /dev/null
	sqlite3 jrn.db "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES
		('e1', 'order.completed', 'c1', 0, 0, NULL, '{\"id\":\"e1\",\"type\":\"order.completed\",\"customerId\":\"c1\",\"timestamp\":\"2025-06-01T12:00:00.000Z\",\"properties\":{\"amount\":\"19.99\"}}'),
		('e2', 'order.completed', 'c2', 0, 0, 5, '{\"id\":\"e2\",\"type\":\"order.completed\",\"customerId\":\"c2\",\"timestamp\":\"2025-06-01T12:00:00.000Z\",\"properties\":{\"amount\":5}}'),
		('e3', 'order.completed', 'c3', 0, 0, NULL, '{\"id\":\"e3\",\"type\":\"order.completed\",\"customerId\":\"c3\",\"timestamp\":\"2025-06-01T12:00:00.000Z\",\"properties\":{\"total\":\"n/a\"}}')"
	run --separate-stderr jrn events --bad-amount
	assert_success
	assert_equal "$(jq -r .id <<< "$output" | tr '\n' ' ')" 'e1 e3 '
	assert_regex "$stderr" '^jrn: events: 2 events with an amount that is not a number'
	# read-only: no audit row
	assert_equal "$(rows 'SELECT count(*) FROM audit')" 0
}

@test "jrn events fix ID --set properties.amount=19.99: corrected body and amount column, audit-logged" {
	# stored as older versions stored it: the string kept, no amount column
	jrn init . > /dev/null
	id=e1
	sqlite3 jrn.db "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES
		('e1', 'order.completed', 'c1', 1748779200000, 0, NULL, '{\"type\":\"order.completed\",\"customerId\":\"c1\",\"timestamp\":\"2025-06-01T12:00:00.000Z\",\"properties\":{\"amount\":\"19.99\"},\"id\":\"e1\"}')"
	# jrn-score skips it (and says so) rather than failing every night
	run --separate-stderr jrn-score rfm < /dev/null
	assert_success
	assert_regex "$stderr" '1 stored event with a non-numeric amount skipped; see jrn events --bad-amount'
	run --separate-stderr jrn events fix "$id" --set properties.amount=19.99 --dry-run
	assert_success
	assert_equal "$(jq -c .properties <<< "$output")" '{"amount":19.99}'
	assert_regex "$stderr" '\(dry run, nothing saved\)'
	assert_equal "$(rows "SELECT amount IS NULL, json_extract(body, '$.properties.amount') FROM events")" '1|19.99'
	assert_equal "$(rows "SELECT json_type(body, '$.properties.amount') FROM events")" text
	run --separate-stderr jrn events fix "$id" --set properties.amount=19.99 --set properties.note=by-hand
	assert_success
	assert_equal "$(rows "SELECT amount, json_type(body, '$.properties.amount'), json_extract(body, '$.properties.note') FROM events")" '19.99|real|by-hand'
	assert_equal "$(audit)" "events fix|[\"--set\",\"properties.amount=19.99\",\"--set\",\"properties.note=by-hand\",\"fix\",\"$id\"]|{\"fixed\":1}"
	assert_equal "$(rows 'SELECT who FROM audit')" "${USER:-$(id -un)}"
	run --separate-stderr jrn events --bad-amount
	assert_output ''
	# the models read it now: scored, and nothing skipped
	run --separate-stderr jrn-score rfm < /dev/null
	assert_success
	assert_line --partial '"customerId":"c1","rfm":{"recency":'
	refute_regex "$stderr" 'skipped'
}

@test "jrn events fix stores no amount jrn-ingest refuses; --bad-amount lists one beyond 10^15 (a newcomer's trial)" {
	printf '{"id":"e1","type":"order.completed","customerId":"u1","timestamp":"2025-12-01T00:00:00Z","properties":{"amount":10}}\n' |
		jrn-ingest -q --store-only
	for v in 1e300 abc 19,99 '{}' null; do
		run --separate-stderr jrn events fix e1 --set "properties.amount=$v"
		assert_failure 1
	done
	assert_equal "${stderr_lines[0]}" "jrn: events fix: e1: properties.amount: order.completed needs a number here (or in total, revenue or value)"
	run --separate-stderr jrn events fix e1 --set properties.amount=1e300
	assert_equal "$stderr" "jrn: events fix: e1: properties.amount: amount 1e+300 is out of range (|amount| <= 1e15)"
	run --separate-stderr jrn events fix e1 --set properties.total=19,99
	assert_equal "$stderr" "jrn: events fix: e1: properties.total: '19,99' is not a number (write it as 19.99)"
	assert_equal "$(rows 'SELECT amount, body FROM events')" \
		'10.0|{"id":"e1","type":"order.completed","customerId":"u1","timestamp":"2025-12-01T00:00:00.000Z","properties":{"amount":10}}'
	# a numeric string becomes the number, as jrn-ingest makes it
	run --separate-stderr jrn events fix e1 --set 'properties.amount=" 12.5 "'
	assert_success
	assert_equal "$(rows "SELECT amount, json_type(body, '$.properties.amount') FROM events")" '12.5|real'
	# one stored by other means, beyond what jrn-score sums: listed
	sqlite3 jrn.db "UPDATE events SET body = json_set(body, '$.properties.amount', 1e300)"
	run --separate-stderr jrn events --bad-amount
	assert_equal "$(jq -r .id <<< "$output")" e1
	assert_regex "$stderr" '1 event with an amount that is not a number or beyond 10\^15'
}

@test "jrn events fix: bad paths, the id, a missing event, a broken timestamp" {
	ev a c1 | jrn-ingest -q --store-only
	id=$(rows "SELECT id FROM events")
	run --separate-stderr jrn events fix "$id" --set id=x
	assert_failure 1
	assert_regex "$stderr" "the id is the event's key"
	run --separate-stderr jrn events fix "$id" --set timestamp=yesterday
	assert_failure 1
	assert_regex "$stderr" 'timestamp'
	run --separate-stderr jrn events fix nope --set a=1
	assert_failure 1
	assert_regex "$stderr" 'nope: no such event'
	run jrn events fix "$id" --set noequals
	assert_failure 2
	run jrn events fix "$id"
	assert_failure 2
	run jrn events frob
	assert_failure 2
	assert_equal "$(rows 'SELECT count(*) FROM audit')" 0
}

@test "jrn events delete: deletes, says what it did not find, keeps a consent's proof" {
	ev a c1 '"messageId":"m1"' > in.ndjson
	ev a c2 '"messageId":"m2"' >> in.ndjson
	ev consent.revoked c3 '"properties":{"channel":"email"}' >> in.ndjson
	jrn-ingest -q --store-only in.ndjson
	a=$(rows "SELECT id FROM events WHERE customer_id = 'c1'")
	b=$(rows "SELECT id FROM events WHERE customer_id = 'c2'")
	c=$(rows "SELECT id FROM events WHERE customer_id = 'c3'")
	run --separate-stderr jrn events delete --dry-run "$a"
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM events')" 3
	run --separate-stderr jrn events delete "$a"
	assert_success
	assert_regex "$stderr" '1 deleted, 0 not found, 0 kept'
	run --separate-stderr jrn events delete "$b" nope "$c"
	assert_failure 1
	assert_regex "$stderr" 'nope: no such event'
	assert_regex "$stderr" 'consent row rests on it'
	assert_equal "$(rows 'SELECT customer_id FROM events')" c3
	assert_equal "$(rows "SELECT counts FROM audit ORDER BY seq" | tr '\n' ' ')" \
		'{"deleted":1,"kept":0,"missing":0} {"deleted":1,"kept":1,"missing":1} '
	run jrn events delete
	assert_failure 2
}

@test "jrn suppressions import: what is not an address is rejected, never stored as one (a newcomer's trial)" {
	# a byte-order mark inside the input (two exported lists joined), white
	# space on a plain line, a phone number in any form libphonenumber
	# reads, one in E.164 it does not know, a channel that is none
	{
		printf 'ann@example.com\n\xef\xbb\xbfbo@example.com\nhello world\nAnn <ann@example.com>\n'
		printf '+41 44 668 18 00\n+15555550100\n+0123\n'
		printf '{"address":"c 7"}\n{"address":"c8","channel":"smss"}\n'
	} > list.txt
	run --separate-stderr jrn suppressions import list.txt
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn: list.txt:2: address: byte-order mark (U+FEFF) not at the start of the input"
	assert_regex "${stderr_lines[1]}" '^jrn: list.txt:3: not an address: it holds white space'
	assert_regex "${stderr_lines[2]}" '^jrn: list.txt:4: not an address: it holds white space'
	assert_regex "${stderr_lines[3]}" '^jrn: list.txt:7: '
	assert_equal "${stderr_lines[4]}" "jrn: list.txt:9: unknown channel 'smss' (did you mean sms?)"
	assert_equal "${stderr_lines[5]}" "jrn: suppressions import: 4 added, 0 already suppressed, 5 rejected"
	assert_equal "$(rows 'SELECT address FROM suppressions ORDER BY address' | tr '\n' ' ')" \
		'+15555550100 +41446681800 ann@example.com c 7 '
	# a channel flag that is none is a usage error, for every subcommand
	run --separate-stderr jrn suppressions import --channel emial list.txt
	assert_failure 2
	assert_equal "$stderr" "jrn: suppressions: --channel: unknown channel 'emial' (did you mean email?)"
	run --separate-stderr jrn suppressions list --channel fax
	assert_failure 2
	assert_regex "$stderr" "unknown channel 'fax' \(all, email, sms, whatsapp, webhook or retargeting\)"
	# remove finds a phone number written as import normalised it
	run --separate-stderr jrn suppressions remove '+41 (0)44 668 18 00'
	assert_success
	assert_regex "$stderr" '1 removed, 0 not found'
}

@test "jrn suppressions import: a complaint list, plain or NDJSON, through the normal form; list; remove" {
	printf '%s\n' ' Ann@Example.COM ' '{"address":"+15555550100","channel":"sms","reason":"stop"}' \
		'not an address@' '{"address":5}' 'ann@example.com' > complaints.txt
	run --separate-stderr jrn suppressions import --dry-run complaints.txt
	assert_failure 3
	assert_equal "$(rows 'SELECT count(*) FROM suppressions')" 0
	run --separate-stderr jrn suppressions import --rejects rej.ndjson < complaints.txt
	assert_failure 3
	assert_regex "$stderr" '2 added, 1 already suppressed, 2 rejected'
	assert_equal "$(jq -r .line rej.ndjson | tr '\n' ' ')" '3 4 '
	run jrn suppressions list
	assert_success
	assert_equal "$(jq -c '[.address, .channel, .reason]' <<< "$output" | sort | tr '\n' ' ')" \
		'["+15555550100","sms","stop"] ["ann@example.com","all","complained"] '
	run jrn suppressions list --channel sms
	assert_equal "${#lines[@]}" 1
	# jrn-send's lookup sees them (the one reader, lib/reach)
	printf 'x@y.com\n' | jrn suppressions import -q --channel email --reason bounced
	assert_equal "$(rows "SELECT reason FROM suppressions WHERE address = 'x@y.com' AND channel = 'email'")" bounced
	run --separate-stderr jrn suppressions remove ANN@example.com
	assert_success
	assert_regex "$stderr" '1 removed, 0 not found'
	run --separate-stderr jrn suppressions remove --channel email ann@example.com
	assert_failure 1
	assert_regex "$stderr" 'not suppressed on email'
	assert_equal "$(rows 'SELECT verb FROM audit ORDER BY seq' | tr '\n' ' ')" \
		'suppressions import suppressions import suppressions remove suppressions remove '
	assert_equal "$(rows "SELECT counts FROM audit WHERE seq = 1")" '{"added":2,"already":1,"rejected":2}'
	run jrn suppressions
	assert_failure 2
	run jrn suppressions list extra
	assert_failure 2
	run jrn suppressions import --channel ''
	assert_failure 2
}

@test "jrn suppressions import: an empty input adds nothing, exit 0" {
	run --separate-stderr jrn suppressions import < /dev/null
	assert_success
	assert_regex "$stderr" '0 added'
}

@test "jrn queue list and cancel, through the ledger" {
	jrn init . > /dev/null
	sqlite3 jrn.db "INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, claimed_at, updated_at, record)
		VALUES ('k1', 'c1', 'email', 'winback', 'queued', 0, 0, '{}'), ('k2', 'c2', 'sms', NULL, 'queued', 0, 0, '{}'),
		       ('k3', 'c3', 'email', NULL, 'sent', 0, 0, '{}');
		INSERT INTO outbox (key, send_at, record) VALUES ('k2', 1767225600000, '{}'), ('k1', 1767139200000, '{}')"
	run jrn queue list
	assert_success
	assert_equal "$(jq -c '[.key, .sendAt, .customerId, .channel, .campaignId]' <<< "$output" | tr '\n' ' ')" \
		'["k1","2025-12-31T00:00:00.000Z","c1","email","winback"] ["k2","2026-01-01T00:00:00.000Z","c2","sms",null] '
	run --separate-stderr jrn queue cancel --dry-run k1
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM outbox')" 2
	run --separate-stderr jrn queue cancel k1 k3
	assert_failure 1
	assert_regex "$stderr" 'k3: not queued'
	assert_equal "$(rows 'SELECT key FROM outbox')" k2
	assert_equal "$(rows "SELECT status, error FROM deliveries WHERE key = 'k1'")" "failed|cancelled by ${USER:-$(id -un)}"
	assert_equal "$(rows "SELECT status FROM deliveries WHERE key = 'k3'")" sent
	assert_equal "$(audit)" 'queue cancel|["cancel","k1","k3"]|{"cancelled":1,"missing":1}'
	run jrn queue
	assert_failure 2
	run jrn queue cancel
	assert_failure 2
}

@test "jrn --help lists every tool, jrn-send and jrn-report too" {
	run jrn --help
	assert_success
	assert_line --regexp '^  send +e-mail, SMS'
	assert_line --regexp '^  merge +one profile per customer'
	assert_line --regexp '^  route +the policy gate'
	assert_line --regexp '^  ai +customer state and journey actions'
	# jrn-report is built: nothing is planned any more
	assert_line --regexp '^  report +metrics, funnels, attribution, cohorts'
	refute_output --partial "(planned)"
	for v in run log events suppressions queue; do
		assert_line --regexp "^  $v "
	done
}

@test "the verbs' errors start with jrn:, a bad state file is exit 1" {
	mkdir d
	run --separate-stderr jrn suppressions list --db d
	assert_failure 1
	assert_regex "$stderr" '^jrn: suppressions list: d: is a directory'
	run --separate-stderr jrn queue list --now yesterday
	assert_failure
	assert_regex "$stderr" '^jrn: '
}
