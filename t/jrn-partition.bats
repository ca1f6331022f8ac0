#!/usr/bin/env bats
# jrn partition (issue 17): the partition function as a filter, and moving
# a partition between state files (export, import, drop) with nothing lost
# or applied twice.

load helpers

# Eight customers over 4 partitions (c1 c5 c6 c7 c8 -> 3, c2 c3 -> 1,
# c4 -> 2; 0 holds none), each with events (an identify, an order, a
# consent), sends (one queued in the outbox, its record naming enrollment
# 1), gate decisions, scores, RFM, segments, a cached source answer, an AI
# answer, an enrollment with its log, a merge; and global rows: a
# suppression, an erasure with the privacy key, a journey version, a run,
# an insight, log offsets of partitions 1 and 3.
fixture() {
	jrn init . > /dev/null
	# the log's partition count, which jrn partition holds --of to
	printf 'nats:\n  partitions: 4\n' >> jrn.yaml
	for c in c1 c2 c3 c4 c5 c6 c7 c8; do
		ev identify $c "\"id\":\"$c-1\",\"traits\":{\"email\":\"$c@example.com\"}"
		ev order.completed $c "\"id\":\"$c-2\",\"properties\":{\"amount\":10}"
		ev consent.granted $c "\"id\":\"$c-3\",\"properties\":{\"channel\":\"email\"}"
	done > events.ndjson
	jrn-ingest -q events.ndjson > /dev/null
	for c in c1 c2 c3 c4 c5 c6 c7 c8; do
		printf '{"actionType":"email","customerId":"%s","recipientEmail":"%s@example.com","subject":"Hi","messageContent":"M","idempotencyKey":"k-%s-1"}\n' $c $c $c
	done | jrn-send -q > /dev/null
	for c in c2 c5; do
		printf '{"actionType":"email","customerId":"%s","recipientEmail":"%s@example.com","subject":"L","messageContent":"L","idempotencyKey":"k-%s-2","enrollment":%s,"route":{"sendAt":"2026-02-01T00:00:00Z"}}\n' \
			$c $c $c ${c#c}
	done | jrn-send -q > /dev/null
	for c in c1 c2 c3 c4 c5 c6 c7 c8; do
		printf '{"actionType":"email","customerId":"%s","campaignId":"spring","recipientEmail":"%s@example.com","subject":"S","messageContent":"M"}\n' $c $c
	done | jrn-route -q > /dev/null
	jrn-score rfm --save -q < /dev/null > /dev/null
	printf 'c2@example.com\nnobody@example.com\n' | jrn suppressions import -q --reason complained
	sqlite3 jrn.db "
		INSERT INTO scores SELECT customer_id, 'clv', 1.5, '{}', 1 FROM profiles;
		INSERT INTO segment_members SELECT 'vip', customer_id, 1 FROM profiles;
		INSERT INTO segment_snapshots SELECT 'june', 'vip', customer_id, 1 FROM profiles;
		INSERT INTO segment_runs VALUES ('vip', 1, 8);
		INSERT INTO source_cache SELECT 'crm', customer_id, 1, 200, '{}' FROM profiles;
		INSERT INTO ai_cache SELECT randomblob(32), 'state', 'rules', 'p1', customer_id, '{}', 0, 0, 1, 9e15 FROM profiles;
		INSERT INTO ai_cache VALUES (randomblob(32), 'optimize', 'rules', 'p1', NULL, '{}', 0, 0, 1, 9e15);
		INSERT INTO journey_versions VALUES ('welcome', 1, 'd1', 'src', NULL, 1);
		INSERT INTO enrollments (id, journey, version, customer_id, trigger_key, status, step, entered_at, updated_at)
			SELECT CAST(substr(customer_id, 2) AS INTEGER), 'welcome', 1, customer_id, 't', 'active', 'a', 1, 1 FROM profiles;
		INSERT INTO enrollment_log SELECT id, 1, 1, NULL, 'entered', '{}' FROM enrollments;
		INSERT INTO enrollment_log SELECT id, 2, 2, 'a', 'action', '{}' FROM enrollments;
		INSERT INTO route_decisions (key, customer_id, channel, decision, decided_at, send_at, enrollment, body)
			SELECT 'defer-' || id, customer_id, 'email', 'defer', 1, 2, id,
			'{\"customerId\":\"' || customer_id || '\",\"enrollment\":' || id || '}' FROM enrollments;
		INSERT INTO merges (from_id, into_id, reason, ts, moved) VALUES ('old-c2', 'c2', 'alias', 1, '{}'), ('old-c1', 'c1', 'alias', 1, '{}');
		INSERT INTO identities VALUES ('id', 'old-c2', 'c2', 'merge', 1), ('id', 'old-c1', 'c1', 'merge', 1);
		INSERT INTO state_keys VALUES ('privacy', zeroblob(32), 1);
		INSERT INTO erasures VALUES ('00ff', 1);
		INSERT INTO runs (job, pid, started_at, pipeline) VALUES ('nightly', 1, 1, 'true');
		INSERT INTO insights VALUES ('metrics', 1, 'all', '[]', 0, 1, '{}', NULL);
		INSERT INTO log_offsets VALUES ('jrn', 1, 100, 1), ('jrn', 3, 300, 1);"
}

# The customer tables' rows of the customers in file $1 matching $2 (a SQL
# condition on customer_id), without the numbers a move may change.
CUST_TABLES='events consent profiles identities scores rfm_snapshots segment_members segment_snapshots source_cache deliveries route_decisions enrollments ai_cache'
dump() {
	local t cols
	for t in $CUST_TABLES; do
		case $t in
		events) cols='id, type, customer_id, ts, received_at, amount, body' ;;
		deliveries) cols="key, customer_id, channel, status, attempts, json_remove(record, '\$.enrollment')" ;;
		route_decisions) cols="key, customer_id, decision, decided_at, send_at, json_remove(body, '\$.enrollment')" ;;
		enrollments) cols='journey, version, customer_id, trigger_key, status, step' ;;
		ai_cache) cols='hex(key), task, customer_id, output' ;;
		*) cols='*' ;;
		esac
		echo "== $t"
		sqlite3 "$1" "SELECT $cols FROM $t WHERE $2 ORDER BY 1, 2, 3"
	done
	echo "== merges"; sqlite3 "$1" "SELECT from_id, into_id FROM merges WHERE into_id IN (SELECT customer_id FROM profiles WHERE $2) ORDER BY 1"
	echo "== outbox"; sqlite3 "$1" "SELECT o.key, o.send_at, json_remove(o.record, '\$.enrollment') FROM outbox o JOIN deliveries d USING (key) WHERE d.$2 ORDER BY 1"
	echo "== enrollment_log"; sqlite3 "$1" "SELECT n.customer_id, l.seq, l.what FROM enrollment_log l JOIN enrollments n ON n.id = l.enrollment WHERE n.$2 ORDER BY 1, 2"
	echo "== route_send_keys"; sqlite3 "$1" "SELECT d.key, k.hash FROM route_send_keys k JOIN route_decisions d USING (seq) WHERE d.$2 ORDER BY 1"
}

# newdb PATH: an empty state file of this schema
newdb() {
	jrn-ingest -q --db "$1" < /dev/null
}

P1="customer_id IN ('c2', 'c3')"
NOT_P1="customer_id NOT IN ('c2', 'c3')"

# ---- the filter ---------------------------------------------------------------

@test "filter: the issue's vectors, the member added at the end, the rest byte-identical" {
	printf '%s\n' '{"customerId":"c1","type":"x","n":1.0000000000000001}' '{ "customerId" : "customer-42" , "a":[1, {"b":2}] }' \
		'{"customerId":"ann@example.com","partition":"old","z":true}' > in.ndjson
	run jrn partition --of 8 in.ndjson
	assert_success
	assert_line -n 0 '{"customerId":"c1","type":"x","n":1.0000000000000001,"partition":3}'
	assert_line -n 1 '{ "customerId" : "customer-42" , "a":[1, {"b":2}] ,"partition":1}'
	# a partition member there already gets its value replaced, in place
	assert_line -n 2 '{"customerId":"ann@example.com","partition":4,"z":true}'
	[ "${#lines[@]}" -eq 3 ]
}

@test "filter: userId, then anonymousId, when customerId is absent; --field, dotted; escapes decoded" {
	printf '%s\n' '{"userId":"c1"}' '{"anonymousId":"customer-42","x":1}' '{"customerId":"c\u0031"}' \
		'{"customerI\u0064":"c1"}' > in.ndjson
	run jrn partition --of 8 < in.ndjson
	assert_success
	assert_output "$(printf '%s\n' '{"userId":"c1","partition":3}' '{"anonymousId":"customer-42","x":1,"partition":1}' \
		'{"customerId":"c\u0031","partition":3}' '{"customerI\u0064":"c1","partition":3}')"
	run jrn partition --of 8 --field properties.who <<< '{"customerId":"c1","properties":{"who":"ann@example.com"}}'
	assert_success
	assert_output '{"customerId":"c1","properties":{"who":"ann@example.com"},"partition":4}'
	run jrn partition --of 1 --field id <<< '{"id":"anything"}'
	assert_output '{"id":"anything","partition":0}'
}

@test "filter: a record without the key, or not a string, is rejected with file:line; exit 3; the rest go on" {
	printf '%s\n' '{"customerId":"c1"}' '{"type":"x"}' '[1]' '{"customerId":5}' '{"customerId":""}' \
		'{"customerId":"a\u0000b"}' 'not json' '{"customerId":"c1","customerId":"c2"}' \
		'{"partitio\u006e":1,"customerId":"c1"}' '{"customerId":"customer-42"}' > in.ndjson
	run jrn partition --of 8 --rejects rej.ndjson in.ndjson
	[ "$status" -eq 3 ]
	assert_line '{"customerId":"c1","partition":3}'
	assert_line '{"customerId":"customer-42","partition":1}'
	assert_line 'jrn: partition: in.ndjson:2: customerId: missing (nor userId nor anonymousId given)'
	assert_line 'jrn: partition: in.ndjson:3: not a JSON object (got an array)'
	assert_line 'jrn: partition: in.ndjson:4: customerId: expected a string (got a number)'
	assert_line --partial 'in.ndjson:5: customerId'
	assert_line --partial 'in.ndjson:6: customerId: control character U+0000'
	assert_line --partial 'in.ndjson:7: invalid JSON'
	assert_line --partial 'in.ndjson:8: invalid JSON'
	assert_line --partial 'in.ndjson:9: partition: a member of that name is written with escapes'
	[ "$(wc -l < rej.ndjson)" -eq 8 ]
	run jq -r .line rej.ndjson
	assert_output "$(printf '%s\n' 2 3 4 5 6 7 8 9)"
	# --field missing in a record
	run jrn partition --of 8 --field a.b <<< '{"a":{"c":"x"}}'
	[ "$status" -eq 3 ]
	assert_output --partial 'stdin:1: a.b: missing'
}

@test "filter: usage errors exit 2 (--of missing, 0, negative, past 65536, not a number; bad --field)" {
	for of in 0 -1 65537 abc 1.5 ''; do
		run jrn partition --of "$of" < /dev/null
		[ "$status" -eq 2 ] || { echo "--of '$of': $status"; return 1; }
		assert_output --partial 'expected a number of partitions from 1 to 65536'
	done
	run jrn partition < /dev/null
	[ "$status" -eq 2 ]
	assert_output --partial '--of N is required'
	run jrn partition --of 65536 <<< '{"customerId":"c1"}'
	assert_success
	for f in '' a..b .a a. 1.2.3.4.5.6.7.8.9; do
		run jrn partition --of 8 --field "$f" < /dev/null
		[ "$status" -eq 2 ] || { echo "--field '$f': $status"; return 1; }
	done
	run jrn partition --of 8 -o x.db < /dev/null
	[ "$status" -eq 2 ]
	run jrn partition --of 8 no-such-file
	[ "$status" -eq 1 ]
	assert_output --partial 'no-such-file'
}

@test "filter: a word that is neither a file nor a subcommand (\"move\") is said as both; a missing file as a file" {
	run --separate-stderr jrn partition move 3 --of 8
	assert_failure 1
	assert_equal "$stderr" "jrn: partition: move: no such file, nor a subcommand (export, import, drop)"
	assert_output ""
	run --separate-stderr jrn partition exprot 3 --of 8
	assert_failure 1
	assert_equal "$stderr" "jrn: partition: exprot: no such file, nor a subcommand (did you mean export?)"
	run --separate-stderr jrn partition --of 8 nothere.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn: partition: nothere.ndjson: No such file or directory"
	# a file of that name is read as one
	printf '{"customerId":"c1"}\n' > move
	run --separate-stderr jrn partition --of 8 move
	assert_success
	assert_output '{"customerId":"c1","partition":3}'
}

@test "filter: the split recipe of jrn(1): N files by partition, every record in the file of its partition" {
	for i in $(seq 1 200); do printf '{"customerId":"u%d","n":%d}\n' "$i" "$i"; done > in.ndjson
	jrn partition --of 4 in.ndjson | awk '{ match($0, /"partition":[0-9]+}$/); p = substr($0, RSTART + 12, RLENGTH - 13); print > ("part-" p ".ndjson") }'
	[ "$(cat part-*.ndjson | wc -l)" -eq 200 ]
	for p in 0 1 2 3; do
		run jq -r .partition "part-$p.ndjson"
		refute_output --partial "$(printf '%s\n' 0 1 2 3 | grep -v "^$p$" | head -1)"
		[ "$(jq -r .partition "part-$p.ndjson" | sort -u)" = "$p" ]
	done
}

@test "filter: 100,000 customers spread over all 16 partitions" {
	awk 'BEGIN { for (i = 1; i <= 100000; i++) printf "{\"customerId\":\"u%d\",\"type\":\"page.viewed\",\"properties\":{\"n\":%d}}\n", i, i }' > in.ndjson
	run bash -c 'jrn partition --of 16 in.ndjson | jq -r .partition | sort -n | uniq -c | wc -l'
	assert_output 16
}

# ---- export, import, drop -----------------------------------------------------

@test "move: export P, import into a second file, drop from the first: per customer equal, union equal, nothing twice" {
	fixture
	cp jrn.db orig.db
	run jrn partition export 1 --of 4 -o p1.db
	assert_success
	assert_output --partial '"customers":2'
	assert_output --partial '"events":6'
	assert_output --partial '"log_offsets":1'
	# a state file of this schema, readable by sqlite3 and by the tools
	[ "$(sqlite3 p1.db 'PRAGMA user_version')" = "$(sqlite3 orig.db 'PRAGMA user_version')" ]
	[ "$(sqlite3 p1.db 'PRAGMA integrity_check')" = ok ]
	[ -z "$(sqlite3 p1.db 'PRAGMA foreign_key_check')" ]
	[ "$(sqlite3 p1.db "SELECT count(*) FROM events WHERE $NOT_P1")" = 0 ]
	[ "$(sqlite3 p1.db 'SELECT stream, partition, seq FROM log_offsets')" = 'jrn|1|100' ]
	JRN_DB=p1.db run jrn-segment --count --all < /dev/null
	refute_output --partial error

	newdb b.db
	run jrn partition --db b.db import p1.db
	assert_success
	assert_output --partial '"events":6'
	run jrn partition drop 1 --of 4
	assert_success
	assert_output --partial '"events":6'

	# partition 1's rows, per customer, equal in the original and in b.db
	diff <(dump orig.db "$P1") <(dump b.db "$P1")
	[ "$(dump orig.db "$P1" | wc -l)" -gt 50 ]
	# the other customers' rows untouched in jrn.db, none of them in b.db
	diff <(dump orig.db "$NOT_P1") <(dump jrn.db "$NOT_P1")
	[ -z "$(dump jrn.db "$P1" | grep -v '^==')" ]
	[ -z "$(dump b.db "$NOT_P1" | grep -v '^==')" ]
	# every event of the original exactly once in the union
	diff <(sqlite3 orig.db 'SELECT id, body FROM events ORDER BY id') \
		<( (sqlite3 jrn.db 'SELECT id, body FROM events'; sqlite3 b.db 'SELECT id, body FROM events') | sort)
	# per customer, the same order of events
	diff <(sqlite3 orig.db "SELECT id FROM events WHERE $P1 ORDER BY seq") <(sqlite3 b.db "SELECT id FROM events ORDER BY seq")
	# log offsets moved; global rows: merged into b.db, left in jrn.db
	[ "$(sqlite3 jrn.db 'SELECT partition FROM log_offsets')" = 3 ]
	[ "$(sqlite3 b.db 'SELECT partition, seq FROM log_offsets')" = '1|100' ]
	[ "$(sqlite3 b.db 'SELECT count(*) FROM suppressions')" = 2 ]
	[ "$(sqlite3 jrn.db 'SELECT count(*) FROM suppressions')" = 2 ]
	[ "$(sqlite3 b.db 'SELECT hash FROM erasures')" = 00ff ]
	[ "$(sqlite3 b.db "SELECT hex(value) FROM state_keys WHERE name = 'privacy'")" = "$(printf '0%.0s' $(seq 64))" ]
	[ "$(sqlite3 b.db 'SELECT journey, version, digest FROM journey_versions')" = 'welcome|1|d1' ]
	[ "$(sqlite3 b.db 'SELECT count(*) FROM runs') $(sqlite3 b.db 'SELECT count(*) FROM insights') $(sqlite3 b.db 'SELECT count(*) FROM segment_runs')" = '0 0 0' ]
	[ "$(sqlite3 jrn.db 'SELECT count(*) FROM runs') $(sqlite3 jrn.db 'SELECT count(*) FROM ai_cache WHERE customer_id IS NULL')" = '1 1' ]
	# audited: the import in b.db, the drop in jrn.db
	[ "$(sqlite3 b.db "SELECT verb, args FROM audit")" = 'partition import|["import","p1.db"]' ]
	run sqlite3 jrn.db "SELECT verb, args, counts FROM audit WHERE verb = 'partition drop'"
	assert_output --partial 'partition drop|["drop","1","--of","4"]'
	assert_output --partial '"events":6'
	[ "$(sqlite3 b.db 'PRAGMA integrity_check')" = ok ]
	[ -z "$(sqlite3 b.db 'PRAGMA foreign_key_check')" ]
	[ -z "$(sqlite3 jrn.db 'PRAGMA foreign_key_check')" ]
}

@test "move into a file that holds another partition: numbers follow its own, the rows that name them follow" {
	fixture
	cp jrn.db orig.db
	jrn partition export 1 --of 4 -o p1.db > /dev/null
	jrn partition export 3 --of 4 -o p3.db > /dev/null
	newdb b.db
	jrn partition --db b.db import p1.db > /dev/null
	run jrn partition --db b.db import p3.db
	assert_success
	P3="customer_id IN ('c1', 'c5', 'c6', 'c7', 'c8')"
	diff <(dump orig.db "$P3") <(dump b.db "$P3")
	diff <(dump orig.db "$P1") <(dump b.db "$P1")
	# p3's events came after p1's, each file's order kept
	[ "$(sqlite3 b.db "SELECT min(seq) FROM events WHERE $P3")" -gt "$(sqlite3 b.db "SELECT max(seq) FROM events WHERE $P1")" ]
	diff <(sqlite3 orig.db "SELECT id FROM events WHERE $P3 ORDER BY seq") <(sqlite3 b.db "SELECT id FROM events WHERE $P3 ORDER BY seq")
	# enrollment ids unique; the log, the decisions and the queued record name the new ones
	[ "$(sqlite3 b.db 'SELECT count(DISTINCT id) FROM enrollments')" = 7 ]
	[ -z "$(sqlite3 b.db 'SELECT l.enrollment FROM enrollment_log l LEFT JOIN enrollments n ON n.id = l.enrollment WHERE n.id IS NULL')" ]
	[ -z "$(sqlite3 b.db "SELECT d.seq FROM route_decisions d JOIN enrollments n ON n.id = d.enrollment WHERE d.customer_id <> n.customer_id")" ]
	[ -z "$(sqlite3 b.db "SELECT seq FROM route_decisions WHERE enrollment IS NOT NULL AND body ->> '\$.enrollment' <> enrollment")" ]
	[ "$(sqlite3 b.db "SELECT count(*) FROM route_decisions WHERE decision = 'defer' AND enrollment IS NOT NULL")" = 7 ]
	run sqlite3 b.db "SELECT d.record ->> '\$.enrollment' = n.id FROM deliveries d JOIN enrollments n ON n.customer_id = d.customer_id WHERE d.key = 'k-c5-2'"
	assert_output 1
	run sqlite3 b.db "SELECT o.record ->> '\$.enrollment' = n.id FROM outbox o JOIN enrollments n ON n.customer_id = 'c5' WHERE o.key = 'k-c5-2'"
	assert_output 1
	# every send's claim names a send row with its own key's hash
	[ "$(sqlite3 b.db "SELECT count(*) FROM route_send_keys k JOIN route_decisions d USING (seq) WHERE d.decision = 'send'")" = 7 ]
	[ "$(sqlite3 b.db "SELECT count(*) FROM route_decisions WHERE decision = 'send'")" = 7 ]
	# the gate sees the moved claims: the same action again is a duplicate
	run bash -c "printf '%s\n' '{\"actionType\":\"email\",\"customerId\":\"c5\",\"campaignId\":\"spring\",\"recipientEmail\":\"c5@example.com\",\"subject\":\"S\",\"messageContent\":\"M\"}' | jrn-route --db b.db"
	assert_output --partial '"decision":"suppress"'
	# the ledger too: a key sent before the move is not sent again
	run bash -c "printf '%s\n' '{\"actionType\":\"email\",\"customerId\":\"c5\",\"recipientEmail\":\"c5@example.com\",\"subject\":\"Hi\",\"messageContent\":\"M\",\"idempotencyKey\":\"k-c5-1\"}' | jrn-send --db b.db"
	refute_output --partial '"status":"simulated"'
}

@test "import refuses (exit 1, nothing written) a customer with events here, an owned partition, a key here, another journey digest, another privacy key" {
	fixture
	jrn partition export 1 --of 4 -o p1.db > /dev/null
	before=$(sqlite3 jrn.db .dump | md5sum)
	run jrn partition import p1.db
	[ "$status" -eq 1 ]
	assert_output 'jrn: partition import: customer c2 has events or a profile here already; nothing imported'
	[ "$(sqlite3 jrn.db .dump | md5sum)" = "$before" ]

	newdb b.db
	sqlite3 b.db "INSERT INTO log_offsets VALUES ('jrn', 1, 5, 1)"
	run jrn partition --db b.db import p1.db
	[ "$status" -eq 1 ]
	assert_output --partial 'log_offsets: stream jrn partition 1 is owned here already'
	[ "$(sqlite3 b.db 'SELECT count(*) FROM events')" = 0 ]

	sqlite3 b.db "DELETE FROM log_offsets; INSERT INTO journey_versions VALUES ('welcome', 1, 'other', 'src', NULL, 1)"
	run jrn partition --db b.db import p1.db
	[ "$status" -eq 1 ]
	assert_output --partial 'journey_versions: welcome version 1 differs here'

	sqlite3 b.db "DELETE FROM journey_versions"
	printf '%s\n' '{"actionType":"email","customerId":"z9","recipientEmail":"z9@example.com","subject":"Hi","messageContent":"M","idempotencyKey":"k-c2-1"}' | jrn-send -q --db b.db > /dev/null
	run jrn partition --db b.db import p1.db
	[ "$status" -eq 1 ]
	assert_output --partial 'deliveries: key k-c2-1 is here already'

	newdb c.db
	sqlite3 c.db "INSERT INTO state_keys VALUES ('privacy', randomblob(32), 1)"
	run jrn partition --db c.db import p1.db
	[ "$status" -eq 1 ]
	assert_output --partial 'erasures: 1 erased values (hashed under another privacy key'
	[ "$(sqlite3 c.db 'SELECT count(*) FROM events')" = 0 ]

	run jrn partition --db c.db import no-such.db
	[ "$status" -eq 1 ]
	assert_output --partial 'no-such.db'
	[ ! -e no-such.db ]
	run jrn partition import jrn.db
	[ "$status" -eq 1 ]
	assert_output --partial 'is this state file'
}

@test "export refuses a file that exists; an empty partition exports an empty file; --dry-run saves nothing" {
	fixture
	touch there.db
	run jrn partition export 1 --of 4 -o there.db
	[ "$status" -eq 1 ]
	assert_output --partial 'there.db exists'
	[ ! -s there.db ]
	# a partition the file's log_offsets do not name is not its own
	run jrn partition export 0 --of 4 -o p0.db
	assert_failure 1
	assert_output "jrn: partition export: partition 0 is not this file's: its log_offsets name partitions 1,3 (jrn-ingest --from keeps them)"
	[ ! -e p0.db ]
	# nor is --of another count than the log's (nats.partitions): the
	# wrong partition's customers would go while the right one's offset stays
	before=$(sqlite3 jrn.db .dump | md5sum)
	run jrn partition drop 1 --of 8
	assert_failure 1
	assert_output "jrn: partition drop: --of 8: this file is fed from a log of 4 partitions (nats.partitions; log_offsets: 1,3): --of must be that count"
	[ "$(sqlite3 jrn.db .dump | md5sum)" = "$before" ]
	# a file not fed from a log (no log_offsets): an empty partition
	# exports an empty file
	sqlite3 jrn.db 'DELETE FROM log_offsets'
	run jrn partition export 0 --of 4 -o p0.db
	assert_success
	assert_output --partial '"customers":0'
	[ "$(sqlite3 p0.db 'SELECT count(*) FROM events')" = 0 ]
	sqlite3 jrn.db "INSERT INTO log_offsets VALUES ('jrn', 1, 100, 1), ('jrn', 3, 300, 1)"
	# global rows travel even so
	[ "$(sqlite3 p0.db 'SELECT count(*) FROM suppressions')" = 2 ]
	before=$(sqlite3 jrn.db .dump | md5sum)
	run jrn partition drop --dry-run 3 --of 4
	assert_success
	assert_output --partial '"customers":5'
	assert_output --partial '"events":15'
	[ "$(sqlite3 jrn.db .dump | md5sum)" = "$before" ]
	# export and import --dry-run: the counts, no file, nothing saved
	run jrn partition export --dry-run 1 --of 4 -o p1.db
	assert_success
	assert_output --partial '"events":6'
	[ ! -e p1.db ]
	jrn partition export 1 --of 4 -o p1.db > /dev/null
	newdb b.db
	before=$(sqlite3 b.db .dump | md5sum)
	run jrn partition --db b.db import --dry-run p1.db
	assert_success
	assert_output --partial '"events":6'
	assert_output --partial '(dry run, nothing saved)'
	[ "$(sqlite3 b.db .dump | md5sum)" = "$before" ]
}

@test "export, import, drop of one customer say \"1 customer\", of none \"0 customers\"" {
	printf '{"type":"page.viewed","customerId":"c1","timestamp":"2026-01-01T00:00:00Z"}\n' | jrn-ingest -q
	p=$(printf '{"customerId":"c1"}\n' | jrn partition --of 4 | jq -r .partition)
	run --separate-stderr jrn partition export "$p" --of 4 -o one.db
	assert_success
	assert_equal "$stderr" "jrn: partition export: partition $p of 4: 1 customer into one.db"
	newdb b.db
	run --separate-stderr jrn partition --db b.db import one.db
	assert_success
	assert_equal "$stderr" "jrn: partition import: 1 customer from one.db"
	run --separate-stderr jrn partition drop "$p" --of 4
	assert_success
	assert_equal "$stderr" "jrn: partition drop: partition $p of 4: 1 customer deleted"
	run --separate-stderr jrn partition drop "$p" --of 4
	assert_success
	assert_equal "$stderr" "jrn: partition drop: partition $p of 4: 0 customers deleted"
}

@test "export, import, drop: usage errors exit 2 (P >= N, P not a number, --of missing or given to import, -o, --field)" {
	for args in 'export 4 --of 4 -o x.db' 'export -1 --of 4 -o x.db' 'export a --of 4 -o x.db' 'export 1 -o x.db' \
		'export 1 --of 4' 'drop 1' 'drop 4 --of 4' 'drop 1 --of 4 -o x.db' 'import' 'import x.db --of 4' \
		'import x.db y.db' 'export 1 --of 4 -o x.db --field a' 'import --field a x.db' 'drop 1 2 --of 4'; do
		run jrn partition $args
		[ "$status" -eq 2 ] || { echo "jrn partition $args: $status: $output"; return 1; }
	done
	[ ! -e x.db ]
	[ ! -e jrn.db ]
	run jrn partition export 4 --of 4 -o x.db
	assert_output --partial 'P 4: expected less than --of 4'
	# a negative P is P's error, not getopt's "invalid option -- '1'"
	run jrn partition export -1 --of 4 -o x.db
	assert_failure 2
	assert_output "jrn: partition export: P '-1': expected a partition number from 0"
	run jrn partition drop -3 --of 4
	assert_output "jrn: partition drop: P '-3': expected a partition number from 0"
	# each says what is wrong before the usage
	run jrn partition export 1 -o x.db
	assert_line --index 0 "jrn: partition export: --of N is required (the log's partition count)"
	run jrn partition export 1 --of 4
	assert_line --index 0 "jrn: partition export: -o FILE is required (the new state file)"
	run jrn partition export 1 --of 4 -o -
	assert_failure 2
	assert_output "jrn: partition export: -o -: export writes a new state file, not standard output"
	[ ! -e ./- ]
	run jrn partition import
	assert_line --index 0 "jrn: partition import: expected one FILE"
	run jrn partition import x.db --of 4
	assert_line --index 0 "jrn: partition import: --of is not an option of this form"
}

@test "a merged-away id's rows go with the customer that stands, though its own id hashes elsewhere (a newcomer's trial)" {
	jrn init . > /dev/null
	# anon6 hashes to 1, user6 to 0 (of 4); the page view was stored
	# under anon6 before the identify linked it to user6
	assert_equal "$(printf '{"customerId":"anon6"}\n{"customerId":"user6"}\n' | jrn partition --of 4 | jq -r .partition | tr '\n' ' ')" '1 0 '
	printf '%s\n' '{"id":"a6","type":"page.viewed","anonymousId":"anon6","timestamp":"2026-03-01T10:00:00Z"}' \
		'{"id":"b6","type":"identify","anonymousId":"anon6","userId":"user6","timestamp":"2026-03-01T10:01:00Z"}' \
		'{"id":"c6","type":"alias","previousId":"old6","userId":"user6","timestamp":"2026-03-01T10:02:00Z"}' \
		'{"id":"d6","type":"order.completed","userId":"user6","properties":{"amount":5},"timestamp":"2026-03-01T10:03:00Z"}' |
		jrn-ingest -q > /dev/null
	for p in 0 1 2 3; do jrn partition export -q $p --of 4 -o x$p.db > /dev/null; done
	assert_equal "$(sqlite3 x0.db 'SELECT group_concat(id) FROM (SELECT id FROM events ORDER BY seq)')" a6,b6,c6,d6
	for p in 1 2 3; do assert_equal "$(sqlite3 x$p.db 'SELECT count(*) FROM events')" 0; done
	run jrn privacy export --db x0.db user6
	assert_equal "$(jq -c '[.ids, [.events[].id]]' <<< "$output")" '[["anon6","old6","user6"],["a6","b6","c6","d6"]]'
	# drop takes the same rows: partition 1 holds nothing of user6's
	run jrn partition drop -q 1 --of 4
	assert_success
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM events')" 4
	run jrn partition drop -q 0 --of 4
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM events')" 0
}
