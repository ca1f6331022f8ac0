#!/usr/bin/env bats
# jrn privacy export | erase (issue 11, "Privacy"; GDPR art. 17 and 20):
# everything about a customer and the ids linked to it, exported, then
# erased so that a dump, the file's bytes and the spool hold none of it,
# old data is rejected and sends are suppressed.

load helpers

# Ann (u1, also the anonymous id anon-7 and the merged crm-1), Bob (u2),
# each with events, consent, sends (one queued), scores, segments, a
# cached source answer, a suppression and an audit row; Bob's profile and
# one of his events mention Ann's address.
fixture() {
	jrn init . > /dev/null
	{
		ev identify u1 '"id":"a1","traits":{"email":"Ann@Example.com","phone":"+1 415 555 0101","name":"Ann Lee"}'
		ev order.completed u1 '"id":"a2","properties":{"amount":10}'
		ev consent.granted u1 '"id":"a3","properties":{"channel":"email"}'
		ev page.viewed anon-7 '"id":"a4"'
		ev identify crm-1 '"id":"a5","traits":{"plan":"pro"}'
		printf '%s\n' '{"id":"a6","type":"alias","userId":"u1","previousId":"anon-7","timestamp":"2025-06-02T12:00:00.000Z"}'
		printf '%s\n' '{"id":"a7","type":"alias","userId":"u1","previousId":"crm-1","timestamp":"2025-06-02T12:00:00.000Z"}'
		ev identify u2 '"id":"b1","traits":{"email":"bob@example.com","referredBy":"ann@example.com"}'
		ev order.completed u2 '"id":"b2","properties":{"amount":20,"note":"gift for ann@example.com"}'
	} > events.ndjson
	jrn-ingest -q events.ndjson > /dev/null
	{
		printf '%s\n' '{"actionType":"email","customerId":"u1","recipientEmail":"ann@example.com","subject":"Hi","messageContent":"Hello Ann","idempotencyKey":"k-u1-1"}'
		printf '%s\n' '{"actionType":"sms","customerId":"u1","recipientPhone":"+14155550101","messageContent":"Hi Ann","idempotencyKey":"k-u1-2"}'
		printf '%s\n' '{"actionType":"email","customerId":"u1","recipientEmail":"ann@example.com","subject":"Later","messageContent":"Later","idempotencyKey":"k-u1-3","route":{"sendAt":"2026-02-01T00:00:00Z"}}'
		printf '%s\n' '{"actionType":"email","customerId":"u2","recipientEmail":"bob@example.com","subject":"Hi","messageContent":"Hello Bob","idempotencyKey":"k-u2-1"}'
	} | jrn-send -q > /dev/null
	{
		printf '%s\n' '{"actionType":"email","customerId":"u1","campaignId":"spring","recipientEmail":"ann@example.com","subject":"S","messageContent":"M"}'
		printf '%s\n' '{"actionType":"email","customerId":"u2","campaignId":"spring","recipientEmail":"bob@example.com","subject":"S","messageContent":"M"}'
	} | jrn-route -q > /dev/null
	jrn-score rfm --save -q < /dev/null > /dev/null
	printf 'ann@example.com\nbob@example.com\n' | jrn suppressions import -q --reason complained
	jrn suppressions remove -q ann@example.com
	printf 'ann@example.com\n' | jrn suppressions import -q --reason complained
	sqlite3 jrn.db "INSERT INTO scores VALUES ('u1', 'clv', 3.5, '{\"predictedValue\":3.5}', 1), ('u2', 'clv', 1, '{}', 1);
		INSERT INTO segment_members VALUES ('vip', 'u1', 1), ('vip', 'u2', 1);
		INSERT INTO segment_snapshots VALUES ('june', 'vip', 'u1', 1), ('june', 'vip', 'u2', 1);
		INSERT INTO source_cache VALUES ('crm', 'u1', 1, 200, '{\"email\":\"ann@example.com\"}'), ('crm', 'u2', 1, 200, '{\"friend\":\"u1\"}');"
}

# counts of every table for the other customer, u2, as one line
others() {
	rows "SELECT (SELECT count(*) FROM events WHERE customer_id = 'u2'), (SELECT count(*) FROM profiles WHERE customer_id = 'u2'),
		(SELECT count(*) FROM identities WHERE customer_id = 'u2'), (SELECT count(*) FROM deliveries WHERE customer_id = 'u2'),
		(SELECT count(*) FROM scores WHERE customer_id = 'u2'), (SELECT count(*) FROM rfm_snapshots WHERE customer_id = 'u2'),
		(SELECT count(*) FROM segment_members WHERE customer_id = 'u2'), (SELECT count(*) FROM segment_snapshots WHERE customer_id = 'u2'),
		(SELECT count(*) FROM source_cache WHERE customer_id = 'u2'), (SELECT count(*) FROM suppressions WHERE address = 'bob@example.com'),
		(SELECT count(*) FROM route_decisions WHERE customer_id = 'u2')"
}

# Ann's ids, address and phone in any form they were stored in
PERSONAL='u1"|anon-7|crm-1|ann@example|Ann@Example|4155550101|415 555 0101|Ann Lee'

@test "export: one JSON line with every table of Ann and her linked ids" {
	fixture
	run --separate-stderr jrn privacy export u1
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -c '[.customerId, .ids, .addresses]' <<< "$output")" \
		'["u1",["anon-7","crm-1","u1"],["+14155550101","ann@example.com"]]'
	# every table has her rows
	for t in profiles identities merges events consent suppressions scores rfmSnapshots \
		segmentMembers segmentSnapshots deliveries outbox sourceCache routeDecisions audit; do
		n=$(jq ".$t | length" <<< "$output")
		[ "$n" -gt 0 ] || fail "$t: no rows"
	done
	assert_equal "$(jq -c '[.events[].id] | sort' <<< "$output")" '["a1","a2","a3","a4","a5","a6","a7"]'
	assert_equal "$(jq -c '[.merges[] | [.from_id, .into_id]]' <<< "$output")" '[["anon-7","u1"],["crm-1","u1"]]'
	assert_equal "$(jq -c '[.audit[] | .args]' <<< "$output")" '[["-q","remove","ann@example.com"]]'
	assert_equal "$(jq -r '.events[0].body | type' <<< "$output")" object
	assert_equal "$(jq -c '[.deliveries[].key] | sort' <<< "$output")" '["k-u1-1","k-u1-2","k-u1-3"]'
	assert_equal "$(jq -c '[.scores[].kind] | sort' <<< "$output")" '["clv"]'
	# nothing of Bob's but what names her (his audit row does not)
	refute_output --partial 'bob@example.com'
	# read-only
	assert_equal "$(rows 'SELECT count(*) FROM audit WHERE verb LIKE "privacy%"')" 0
	# an alias exports the same customer
	run --separate-stderr jrn privacy export anon-7
	assert_success
	assert_equal "$(jq -c .ids <<< "$output")" '["anon-7","crm-1","u1"]'
}

# journeys beside the fixture: Ann (u1, and her alias anon-7) in two
# enrollments with their step logs and a deferred action's record; Bob (u2)
# in one, whose trigger event and deferred record name Ann's address.
journeys_fixture() {
	sqlite3 jrn.db "INSERT INTO enrollments (id, journey, version, customer_id, trigger_key, trigger_event, status, step, entered_at, updated_at)
		VALUES (1, 'welcome', 1, 'u1', 'a1', '{\"type\":\"user.signed_up\",\"customerId\":\"u1\",\"email\":\"ann@example.com\"}', 'active', 'w2', 1, 1),
		       (2, 'cart', 1, 'anon-7', 'a4', '{\"type\":\"cart.updated\",\"customerId\":\"anon-7\"}', 'exited', NULL, 1, 1),
		       (3, 'welcome', 1, 'u2', 'b1', '{\"type\":\"user.signed_up\",\"customerId\":\"u2\",\"referredBy\":\"ann@example.com\"}', 'active', 'w2', 1, 1);
		INSERT INTO enrollment_log VALUES (1, 1, 1, NULL, 'entered', NULL), (1, 2, 1, 'w1', 'action', '{\"decision\":\"send\"}'),
		       (2, 1, 1, NULL, 'entered', NULL), (3, 1, 1, NULL, 'entered', NULL), (3, 2, 1, 'w1', 'action', '{\"decision\":\"send\",\"to\":\"ann@example.com\"}');
		INSERT INTO route_decisions (key, customer_id, channel, decision, reason, decided_at, send_at, enrollment, body)
		VALUES ('d-u1', 'u1', 'email', 'defer', 'cap', 1, 2, 1, '{\"actionType\":\"email\",\"customerId\":\"u1\",\"recipientEmail\":\"ann@example.com\"}'),
		       ('d-u2', 'u2', 'email', 'defer', 'cap', 1, 2, 3, '{\"actionType\":\"email\",\"customerId\":\"u2\",\"note\":\"ann@example.com\"}');"
}

@test "journeys: export has her enrollments, their logs and deferred records; erase deletes them, scrubs Bob's" {
	fixture
	journeys_fixture
	run --separate-stderr jrn privacy export u1
	assert_success
	assert_equal "$(jq -c '[.enrollments[] | [.id, .customer_id, .trigger_event.type]]' <<< "$output")" \
		'[[1,"u1","user.signed_up"],[2,"anon-7","cart.updated"]]'
	assert_equal "$(jq -c '[.enrollmentLog[] | [.enrollment, .seq, .what, .detail]]' <<< "$output")" \
		'[[1,1,"entered",null],[1,2,"action",{"decision":"send"}],[2,1,"entered",null]]'
	assert_equal "$(jq -c '[.routeDecisions[] | select(.body) | .body.recipientEmail]' <<< "$output")" '["ann@example.com"]'
	# an enrollment alone makes a customer known
	sqlite3 jrn.db "INSERT INTO enrollments (journey, version, customer_id, trigger_key, status, entered_at, updated_at) VALUES ('w', 1, 'only-j', 'k', 'active', 1, 1)"
	run --separate-stderr jrn privacy export only-j
	assert_success
	assert_equal "$(jq -c '[.enrollments[].journey]' <<< "$output")" '["w"]'
	run --separate-stderr jrn privacy erase u1
	assert_success
	assert_equal "$(jq -c '[.enrollments, .enrollment_log, .route_decisions, .["route_decisions.scrubbed"], .["enrollments.scrubbed"], .["enrollment_log.scrubbed"]]' <<< "$output")" \
		'[2,3,2,1,1,1]'
	assert_equal "$(rows "SELECT group_concat(id) FROM enrollments WHERE journey IN ('welcome', 'cart')")" 3
	assert_equal "$(rows 'SELECT group_concat(enrollment) FROM enrollment_log')" 3,3
	assert_equal "$(rows "SELECT body FROM route_decisions WHERE key = 'd-u2'")" '{"actionType":"email","customerId":"u2","note":"<erased>"}'
	assert_equal "$(rows 'SELECT json_extract(trigger_event, "$.referredBy") FROM enrollments WHERE id = 3')" '<erased>'
	assert_equal "$(rows 'SELECT detail FROM enrollment_log WHERE enrollment = 3 AND seq = 2')" '{"decision":"send","to":"<erased>"}'
	run bash -c "sqlite3 jrn.db .dump | grep -E '$PERSONAL'"
	assert_output ''
}

@test "export and erase of an unknown customer: exit 1, no such customer, nothing written" {
	fixture
	before=$(sqlite3 jrn.db .dump | sha256sum)
	run --separate-stderr jrn privacy export nobody
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'jrn: privacy export: nobody: no such customer'
	run --separate-stderr jrn privacy erase nobody
	assert_failure 1
	assert_equal "$stderr" 'jrn: privacy erase: nobody: no such customer'
	assert_equal "$(sqlite3 jrn.db .dump | sha256sum)" "$before"
}

@test "erase --dry-run: prints the counts, changes nothing (dump and spool the same)" {
	fixture
	before=$(sqlite3 jrn.db .dump | sha256sum)
	spool=$(ls spool | sha256sum)
	run --separate-stderr jrn privacy erase --dry-run u1
	assert_success
	assert_equal "$(jq -c '[.ids, .addresses, .events, .deliveries, .outbox, .spool, .merges, .erasures]' <<< "$output")" \
		'[3,2,7,3,1,2,2,5]'
	assert_regex "$stderr" 'dry run, nothing saved'
	assert_equal "$(sqlite3 jrn.db .dump | sha256sum)" "$before"
	assert_equal "$(ls spool | sha256sum)" "$spool"
	assert_equal "$(rows 'SELECT count(*) FROM state_keys')" 0
}

@test "erase: no byte of Ann left in the dump, the file, the WAL or the spool; Bob untouched" {
	fixture
	bob=$(others)
	assert_equal "$bob" '2|1|1|1|1|1|1|1|1|1|1'
	# before: she is there (so the checks below can fail)
	run bash -c "sqlite3 jrn.db .dump | grep -cE '$PERSONAL'"
	[ "$output" -gt 10 ]
	run bash -c "cat jrn.db jrn.db-wal 2>/dev/null | strings | grep -cE '$PERSONAL'"
	[ "$output" -gt 10 ]
	run grep -rlE 'ann@example|4155550101' spool
	assert_success
	run --separate-stderr jrn privacy erase u1
	assert_success
	assert_equal "$(jq -c '[.ids, .addresses, .events, .consent, .suppressions, .profiles, .identities, .merges, .deliveries, .outbox, .scores, .rfm_snapshots, .segment_members, .segment_snapshots, .source_cache, .spool, .erasures]' <<< "$output")" \
		'[3,2,7,1,1,1,4,2,3,1,1,1,1,1,1,2,5]'
	run bash -c "sqlite3 jrn.db .dump | grep -E '$PERSONAL'"
	assert_output ''
	run bash -c "cat jrn.db jrn.db-wal 2>/dev/null | strings | grep -E '$PERSONAL'"
	assert_output ''
	run grep -rlE 'ann@example|4155550101|"u1"' spool
	assert_output ''
	assert_equal "$(ls spool | wc -l)" 1
	# Bob's rows are all there; what named her in them says <erased>
	assert_equal "$(others)" "$bob"
	assert_equal "$(rows "SELECT json_extract(traits, '$.referredBy') FROM profiles WHERE customer_id = 'u2'")" '<erased>'
	assert_equal "$(rows "SELECT json_extract(body, '$.properties.note') FROM events WHERE id = 'b2'")" 'gift for <erased>'
	assert_equal "$(rows "SELECT body FROM source_cache WHERE customer_id = 'u2'")" '{"friend":"<erased>"}'
	# one audit row, naming no personal data; the old one's address scrubbed
	assert_equal "$(rows "SELECT count(*) FROM audit WHERE verb = 'privacy erase'")" 1
	assert_regex "$(rows "SELECT args FROM audit WHERE verb = 'privacy erase'")" '^\["erase","[0-9a-f]{64}"\]$'
	assert_equal "$(rows "SELECT args FROM audit WHERE verb = 'suppressions remove'")" '["-q","remove","<erased>"]'
	assert_equal "$(rows 'SELECT count(*) FROM erasures')" 5
	assert_equal "$(rows 'SELECT length(value) FROM state_keys')" 32
	# erased twice: nothing is left to erase
	run --separate-stderr jrn privacy erase u1
	assert_failure 1
	assert_equal "$stderr" 'jrn: privacy erase: u1: no such customer (erased already)'
	run --separate-stderr jrn privacy export u1
	assert_failure 1
	assert_equal "$stderr" 'jrn: privacy export: u1: no such customer (erased already)'
}

@test "after erase: her old events are rejected 'erased customer' (fast and jv paths), no profile comes back" {
	fixture
	jrn privacy erase -q u1 > /dev/null
	for jv in 0 1; do
		run --separate-stderr env JRN_INGEST_JV=$jv jrn-ingest events.ndjson
		assert_failure 3
		assert_equal "$(grep -c 'erased customer' <<< "$stderr")" 7
	done
	# the message names the field, never the value
	run --separate-stderr jrn-ingest events.ndjson
	assert_regex "$stderr" 'events.ndjson:1: customerId: erased customer'
	assert_regex "$stderr" 'events.ndjson:4: customerId: erased customer'
	assert_regex "$stderr" 'events.ndjson:6: userId: erased customer'
	refute_regex "$stderr" 'u1|anon-7|ann@'
	# a new id with her address (any spelling) is hers: rejected too
	ev identify u9 '"traits":{"email":"ANN@example.com"}' > new.ndjson
	ev page.viewed u8 '"context":{"traits":{"phone":"(415) 555-0101"}}' >> new.ndjson
	ev page.viewed u7 '"anonymousId":"anon-7"' >> new.ndjson
	ev page.viewed u6 >> new.ndjson
	run --separate-stderr jrn-ingest new.ndjson
	assert_failure 3
	assert_regex "$stderr" 'new.ndjson:1: traits.email: erased customer'
	assert_regex "$stderr" 'new.ndjson:2: context.traits.phone: erased customer'
	assert_regex "$stderr" 'new.ndjson:3: anonymousId: erased customer'
	refute_regex "$stderr" 'new.ndjson:4'
	assert_equal "$(rows "SELECT group_concat(customer_id) FROM (SELECT customer_id FROM profiles ORDER BY 1)")" 'u2'
	assert_equal "$(rows "SELECT count(*) FROM events WHERE customer_id IN ('u1', 'anon-7', 'crm-1', 'u9', 'u8', 'u7')")" 0
}

@test "after erase: jrn-merge rejects a record naming her, never saves a profile of her again" {
	fixture
	jrn privacy erase -q u1 > /dev/null
	printf '%s\n' '{"customerId":"u1","n":1}' '{"customerId":"crm-1","n":2}' '{"customerId":"u2","n":3}' > recs.ndjson
	run --separate-stderr jrn-merge --save recs.ndjson
	assert_failure 3
	assert_regex "$stderr" 'recs.ndjson:1: customerId: erased customer'
	assert_regex "$stderr" 'recs.ndjson:2: customerId: erased customer'
	refute_regex "$stderr" 'u1|crm-1'
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -r '.profile.customerId' <<< "$output")" u2
	assert_equal "$(rows "SELECT count(*) FROM profiles WHERE customer_id IN ('u1', 'crm-1')")" 0
}

@test "after erase: a send to her address or id is suppressed, reason erased; others go" {
	fixture
	jrn privacy erase -q u1 > /dev/null
	{
		printf '%s\n' '{"actionType":"email","customerId":"u5","recipientEmail":"ann@example.com","subject":"Hi","messageContent":"x","idempotencyKey":"n-1"}'
		printf '%s\n' '{"actionType":"sms","customerId":"u5","recipientPhone":"+14155550101","messageContent":"x","idempotencyKey":"n-2"}'
		printf '%s\n' '{"actionType":"email","customerId":"crm-1","recipientEmail":"new@example.com","subject":"Hi","messageContent":"x","idempotencyKey":"n-3"}'
		printf '%s\n' '{"actionType":"email","customerId":"u2","recipientEmail":"bob.work@example.com","subject":"Hi","messageContent":"x","idempotencyKey":"n-4"}'
	} > actions.ndjson
	run --separate-stderr jrn-send actions.ndjson
	assert_success
	assert_equal "$(jq -r '.delivery.status + " " + (.delivery.error // "")' <<< "$output")" \
		"suppressed suppressed: erased
suppressed suppressed: erased
suppressed suppressed: erased
simulated "
}

@test "after erase: jrn-route suppresses her actions 'erased' and keeps no decision of them" {
	fixture
	jrn privacy erase -q u1 > /dev/null
	assert_equal "$(rows "SELECT count(*) FROM route_decisions WHERE customer_id = 'u1'")" 0
	printf '%s\n' '{"actionType":"email","customerId":"anon-7","campaignId":"fall","recipientEmail":"x@example.com","subject":"S","messageContent":"M"}' \
		'{"actionType":"email","customerId":"u9","campaignId":"fall","recipientEmail":"ann@example.com","subject":"S","messageContent":"M"}' \
		'{"actionType":"email","customerId":"u2","campaignId":"fall","recipientEmail":"bob2@example.com","subject":"S","messageContent":"M"}' > acts.ndjson
	run --separate-stderr jrn-route acts.ndjson
	assert_success
	assert_equal "$(jq -c '[.customerId, .route.decision, .route.reason]' <<< "$output" | tr '\n' ' ')" \
		'["anon-7","suppress","erased"] ["u9","suppress","erased"] ["u2","send",null] '
	assert_equal "$(rows "SELECT group_concat(customer_id) FROM route_decisions WHERE campaign_id = 'fall'")" 'u9,u2'
	assert_equal "$(rows "SELECT count(*) FROM route_decisions WHERE customer_id IN ('u1', 'anon-7', 'crm-1')")" 0
}

@test "a merged customer: erasing the alias erases both ids" {
	jrn init . > /dev/null
	{
		ev identify c-old '"traits":{"email":"cat@example.com"}'
		ev identify c-new '"traits":{"name":"Cat"}'
		printf '%s\n' '{"type":"alias","userId":"c-new","previousId":"c-old","timestamp":"2025-06-02T12:00:00.000Z"}'
		ev identify d1 '"traits":{"email":"dan@example.com"}'
	} > in.ndjson
	jrn-ingest -q in.ndjson > /dev/null
	assert_equal "$(rows 'SELECT from_id, into_id FROM merges')" 'c-old|c-new'
	run --separate-stderr jrn privacy erase c-old
	assert_success
	assert_equal "$(jq -c '[.ids, .merges, .profiles]' <<< "$output")" '[2,1,1]'
	run bash -c "sqlite3 jrn.db .dump | grep -E 'c-old|c-new|cat@example|\"Cat\"'"
	assert_output ''
	assert_equal "$(rows 'SELECT customer_id FROM profiles')" d1
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "$(grep -c 'erased customer' <<< "$stderr")" 3
}

@test "a household phone another customer has is kept (theirs too), counted as shared" {
	jrn init . > /dev/null
	{
		ev identify h1 '"traits":{"email":"h1@example.com","phone":"+14155550199"}'
		ev identify h2 '"traits":{"email":"h2@example.com","phone":"+14155550199"}'
	} > in.ndjson
	printf 'sources:\n  sharedLimit: 1\n' > jrn.yaml
	jrn-ingest -q in.ndjson > /dev/null
	run --separate-stderr jrn privacy erase h1
	assert_success
	assert_equal "$(jq -c '[.ids, .addresses, .shared]' <<< "$output")" '[1,1,1]'
	assert_equal "$(rows "SELECT phone FROM profiles WHERE customer_id = 'h2'")" '+14155550199'
	ev page.viewed h2 '"traits":{"phone":"+14155550199"}' | jrn-ingest -q > /dev/null
	assert_equal "$(rows "SELECT count(*) FROM events WHERE customer_id = 'h2'")" 2
}

@test "a phone another customer's events carry (no profile of theirs) is shared too" {
	jrn init . > /dev/null
	{
		ev identify k1 '"traits":{"email":"k1@example.com","phone":"+14155550188"}'
		ev user.signup k3 '"properties":{"phone":"+14155550188","note":"k1@example.com"}'
	} > in.ndjson
	jrn-ingest -q in.ndjson > /dev/null
	run --separate-stderr jrn privacy erase k1
	assert_success
	assert_equal "$(jq -c '[.addresses, .shared, .erasures]' <<< "$output")" '[1,1,2]'
	# k3's phone stays; k1's address in its note is scrubbed
	assert_equal "$(rows "SELECT json_extract(body, '$.properties.phone') || ' ' || json_extract(body, '$.properties.note') FROM events")" '+14155550188 <erased>'
	ev page.viewed k3 '"properties":{"phone":"+14155550188"}' > more.ndjson
	run --separate-stderr jrn-ingest more.ndjson
	assert_success
}

@test "a locked state file: erase waits the busy timeout, exits 1, changes nothing" {
	fixture
	before=$(sqlite3 jrn.db .dump | sha256sum)
	spool=$(ls spool | sha256sum)
	sed -i 's/busyTimeout: 10s/busyTimeout: 300ms/' jrn.yaml
	( echo 'BEGIN IMMEDIATE;'; sleep 3; echo 'COMMIT;' ) | sqlite3 jrn.db &
	sleep 0.5
	run --separate-stderr jrn privacy erase u1
	assert_failure 1
	assert_regex "$stderr" '^jrn: privacy erase: .*database is locked'
	wait
	assert_equal "$(sqlite3 jrn.db .dump | sha256sum)" "$before"
	assert_equal "$(ls spool | sha256sum)" "$spool"
}

@test "--spool DIR and send.spool name the spool the erase cleans" {
	fixture
	mkdir other
	cp spool/* other/
	printf 'x\n' > other/unrelated.txt
	run --separate-stderr jrn privacy erase --spool other u1
	assert_success
	assert_equal "$(jq .spool <<< "$output")" 2
	assert_equal "$(ls other | wc -l)" 2
	assert_equal "$(ls spool | wc -l)" 3
}

@test "usage: a subcommand and one CUSTOMER; export takes no --dry-run; ids are checked" {
	run --separate-stderr jrn privacy
	assert_failure 2
	assert_regex "$stderr" '^usage: jrn privacy export CUSTOMER'
	run --separate-stderr jrn privacy forget u1
	assert_failure 2
	run --separate-stderr jrn privacy erase
	assert_failure 2
	run --separate-stderr jrn privacy erase u1 u2
	assert_failure 2
	run --separate-stderr jrn privacy export --dry-run u1
	assert_failure 2
	run --separate-stderr jrn privacy export "$(printf 'u\001')"
	assert_failure 2
	assert_equal "$stderr" 'jrn: privacy export: CUSTOMER: control character U+0001 at byte 2'
	run --separate-stderr jrn privacy --help
	assert_success
	assert_output --partial 'jrn privacy erase [--dry-run] [--spool DIR] CUSTOMER'
	[ ! -e jrn.db ]
}
