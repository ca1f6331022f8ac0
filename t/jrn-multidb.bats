#!/usr/bin/env bats
# Several state files read as one (issue 17, "Combining"; lib/multidb.c):
# jrn-report (every kind and format), jrn-segment --count and jrn log over
# `--db a --db b` (or --db @LIST) against the same data in one file.
#
# The fixture: whole.db holds jrn-gen's events (300 customers) and, made
# from them by SQL, deliveries (one per 4th page view, 40% sms), their
# engagement (opened, clicked, delivered, bounced; each naming its
# deliveryKey), profiles with a country, two RFM snapshots, a journey with
# a split (journey_versions), enrollments with their log and the gate's
# decisions. a.db and b.db hold the same rows split by customer (even and
# odd number), each written afresh, so that their seq and ids restart at 1
# and collide across the files (enrollment ids shifted, their references
# with them): a combination that joined or counted by seq would show.

load helpers

export JRN_NOW=2026-03-01T00:00:00Z

# whole: whole.db as above.
whole() {
	"$JRN_GEN" -n 6000 -c 300 -s 7 -y 2025 > ev.ndjson
	jrn-ingest -q --db whole.db < ev.ndjson > /dev/null
	sqlite3 whole.db <<'SQL'
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, cost,
  claimed_at, updated_at, record)
SELECT 'k-' || id, customer_id, CASE WHEN seq % 5 < 2 THEN 'sms' ELSE 'email' END,
  'camp' || (seq % 3), CASE WHEN seq % 17 = 0 THEN 'failed' ELSE 'sent' END,
  CASE WHEN seq % 5 < 2 THEN 'twilio' ELSE 'smtp' END, CASE WHEN seq % 5 < 2 THEN 0.0075 END,
  ts - 3600000, ts - 3600000,
  json_object('testVariant', char(97 + seq % 2), 'route', json_object('journey', 'carts'))
FROM events WHERE type = 'page.viewed' AND seq % 4 = 0 ORDER BY seq;
CREATE TEMP TABLE eng (type TEXT, m INTEGER);
INSERT INTO eng VALUES ('email.delivered', 1), ('email.opened', 3), ('email.clicked', 7),
  ('email.bounced', 13);
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
SELECT eng.type || '-' || d.key, eng.type, d.customer_id, d.claimed_at + 60000 * eng.m,
  d.claimed_at, NULL,
  json_object('type', eng.type, 'customerId', d.customer_id, 'properties',
    json_object('deliveryKey', d.key, 'channel', d.channel, 'campaignId', d.campaign_id))
FROM deliveries d JOIN eng
WHERE d.status = 'sent' AND d.channel = 'email' AND length(d.key) % eng.m < 2
ORDER BY d.seq, eng.m;
INSERT INTO profiles (customer_id, country, updated_at)
SELECT DISTINCT customer_id, CASE WHEN length(customer_id) % 3 = 0 THEN 'DE' ELSE 'US' END, 0
FROM events;
INSERT INTO rfm_snapshots (taken, customer_id, recency, frequency, monetary, r, f, m, score,
  segment)
SELECT t.taken, customer_id, 10, count(*), total(amount), 1 + count(*) % 5,
  1 + (count(*) + t.taken / 1000) % 5, 1 + cast(total(amount) AS INTEGER) % 5, 3,
  CASE (count(*) + t.taken / 1000) % 4 WHEN 0 THEN 'champions' WHEN 1 THEN 'loyal'
    WHEN 2 THEN 'at_risk' ELSE 'hibernating' END
FROM events, (SELECT 1767225600000 AS taken UNION ALL SELECT 1769904000000) t
GROUP BY t.taken, customer_id;
INSERT INTO journey_versions (journey, version, digest, source, created_at)
VALUES ('carts', 1, 'd1', 'trigger: {event: cart.added}
steps:
  - id: offer
    split:
      - {name: five}
      - {name: none, holdout: true}
  - id: mail
    action: {channel: email, template: t, campaign: carts}
  - goal: {event: order.completed, within: 3d}', 1767225600000);
INSERT INTO enrollments (journey, version, customer_id, trigger_key, status, variant,
  step, entered_at, updated_at, ended_at, reason)
SELECT 'carts', 1, customer_id, 't-' || id,
  CASE seq % 4 WHEN 0 THEN 'converted' WHEN 1 THEN 'completed' WHEN 2 THEN 'exited'
    ELSE 'completed' END, CASE WHEN seq % 3 = 0 THEN 'none' ELSE 'five' END, 'mail', ts, ts,
  CASE WHEN seq % 4 < 3 THEN ts + 3600000 * (1 + seq % 5) END,
  CASE seq % 4 WHEN 0 THEN 'order.completed' WHEN 2 THEN 'cart.cleared' END
FROM events WHERE type = 'cart.added' AND seq % 3 = 0 ORDER BY seq;
INSERT INTO enrollment_log (enrollment, seq, at, step, what)
SELECT id, 1, entered_at, NULL, 'entered' FROM enrollments
UNION ALL SELECT id, 2, entered_at + 1000, 'mail', 'action' FROM enrollments;
INSERT INTO route_decisions (key, customer_id, channel, journey, version, step, decision,
  reason, decided_at, enrollment)
SELECT 'r-' || id, customer_id, 'email', 'carts', 1, 'mail',
  CASE WHEN id % 5 = 0 THEN 'suppress' ELSE 'send' END,
  CASE WHEN id % 5 = 0 THEN 'cap' END, entered_at + 1000, id FROM enrollments ORDER BY id;
SQL
}

# part DB PARITY: DB with whole.db's rows of the customers whose number
# has that parity, written afresh (seq from 1; enrollment ids shifted).
part() {
	jrn-ingest -q --db "$1" < /dev/null > /dev/null
	sqlite3 "$1" <<SQL
ATTACH 'whole.db' AS w;
CREATE TEMP VIEW mine AS SELECT DISTINCT customer_id FROM w.events
  WHERE cast(substr(customer_id, 2) AS INTEGER) % 2 = $2;
CREATE TEMP TABLE shift AS SELECT coalesce(min(id), 1) - 1 AS s FROM w.enrollments
  WHERE customer_id IN mine;
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
  SELECT id, type, customer_id, ts, received_at, amount, body FROM w.events
  WHERE customer_id IN mine ORDER BY seq;
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, message_id,
  attempts, error, cost, segments, claimed_at, updated_at, record)
  SELECT key, customer_id, channel, campaign_id, status, provider, message_id, attempts,
  error, cost, segments, claimed_at, updated_at, record FROM w.deliveries
  WHERE customer_id IN mine ORDER BY seq;
INSERT INTO profiles SELECT * FROM w.profiles WHERE customer_id IN mine;
INSERT INTO rfm_snapshots SELECT * FROM w.rfm_snapshots WHERE customer_id IN mine;
INSERT INTO journey_versions SELECT * FROM w.journey_versions;
INSERT INTO enrollments SELECT id - (SELECT s FROM shift), journey, version, customer_id,
  trigger_key, trigger_event, status, step, due_at, wait_events, variant, entered_at,
  updated_at, ended_at, reason FROM w.enrollments WHERE customer_id IN mine;
INSERT INTO enrollment_log SELECT enrollment - (SELECT s FROM shift), seq, at, step, what,
  detail FROM w.enrollment_log WHERE enrollment IN
  (SELECT id FROM w.enrollments WHERE customer_id IN mine);
INSERT INTO route_decisions (key, customer_id, channel, journey, version, step, decision,
  reason, decided_at, enrollment)
  SELECT key, customer_id, channel, journey, version, step, decision, reason, decided_at,
  enrollment - (SELECT s FROM shift) FROM w.route_decisions
  WHERE customer_id IN mine ORDER BY seq;
SQL
}

fixture() {
	whole
	part a.db 0
	part b.db 1
}

# fp: the text on stdin with every decimal fraction at 10 significant
# digits: a sum of fractions (revenue, cost) added in another order may
# differ in its last bits (0.1 + 0.2 + 0.3 is not 0.3 + 0.2 + 0.1), and
# the combined rows are read file by file, not in the whole file's order;
# runs of spaces as one (--format table pads to the longest figure).
fp() {
	perl -pe 's/(-?\d+\.\d+(?:[eE][-+]?\d+)?)/sprintf("%.10g", $1)/ge; s/ +/ /g'
}

# same ARGS...: `jrn-report ARGS` over whole.db and over a.db + b.db give
# the same status, stderr (its row count) and output, byte for byte but
# for the last bits of fractional sums (fp); ndiff counts the outputs
# that needed fp.
ndiff=0
same() {
	run --separate-stderr jrn-report "$@" --db whole.db
	local want=$output want_err=$stderr want_status=$status
	[ "$want_status" -eq 0 ] || { echo "whole: $want_err"; return 1; }
	[ -n "$want" ] || { echo "whole: no output"; return 1; }
	run --separate-stderr jrn-report "$@" --db a.db --db b.db
	assert_equal "$status" "$want_status"
	assert_equal "$stderr" "$want_err"
	if [ "$output" != "$want" ]; then
		ndiff=$((ndiff + 1))
		assert_equal "$(fp <<< "$output")" "$(fp <<< "$want")"
	fi
}

@test "multidb: the fixture splits the customers and its seq collide across files" {
	fixture
	# every row in exactly one part
	for t in events deliveries profiles rfm_snapshots enrollments enrollment_log route_decisions; do
		w=$(sqlite3 whole.db "SELECT count(*) FROM $t")
		a=$(sqlite3 a.db "SELECT count(*) FROM $t")
		b=$(sqlite3 b.db "SELECT count(*) FROM $t")
		[ "$w" -gt 0 ] && [ "$a" -gt 0 ] && [ "$b" -gt 0 ] || { echo "$t: $w $a $b"; false; }
		assert_equal "$((a + b))" "$w"
	done
	run sqlite3 a.db "ATTACH 'b.db' AS b; SELECT count(*) > 0 FROM events JOIN b.events USING (seq);
		SELECT count(*) > 0 FROM deliveries JOIN b.deliveries USING (seq);
		SELECT count(*) > 0 FROM enrollments JOIN b.enrollments USING (id);
		SELECT count(*) FROM events JOIN b.events USING (customer_id)"
	assert_output $'1\n1\n1\n0'
	# the data reach every kind: sends, engagement, orders, carts
	run sqlite3 whole.db "SELECT count(DISTINCT type IN ('email.opened', 'order.completed',
		'cart.added', 'email.clicked')) FROM events"
	assert_output 2
}

@test "multidb: every kind and format over two files equals the whole file" {
	fixture
	local kinds=(metrics funnel attribution cohorts experiment journeys rfm kpis)
	for k in "${kinds[@]}"; do
		local extra=()
		[ "$k" != funnel ] || extra=(--steps page.viewed,cart.added,order.completed)
		for f in ndjson table csv html; do
			same "$k" --format "$f" "${extra[@]}" || { echo "kind $k format $f"; return 1; }
		done
	done
}

@test "multidb: kinds with their options over two files equal the whole file" {
	fixture
	same metrics --by campaign,channel
	same metrics --by variant,day --since 2025-06-01 --until 2025-09-01
	same metrics --by journey,provider --lookback 2d
	same funnel --steps page.viewed,cart.added,order.completed --within 30d
	same funnel --steps page.viewed,order.completed --by country
	same attribution --model first,last,linear,time-decay,position,markov
	same attribution --model linear --lookback 3d --since 2025-03-01
	same cohorts --period week
	same cohorts --period day --since 2025-11-01
	same experiment --journey carts --level 0.9
	same journeys --journey carts
	same rfm --from 2026-01-01 --to 2026-02-01
	# the sums are not empty: the comparison compared something
	run --separate-stderr jrn-report metrics --db a.db --db b.db
	run jq -s -e '(map(.sent) | add > 100) and (map(.opened) | add > 10)
		and (map(.converted) | add > 0)' <<< "$output"
	assert_success
	run --separate-stderr jrn-report attribution --db a.db --db b.db --model last
	run jq -s -e 'map(.conversions) | add > 10' <<< "$output"
	assert_success
}

@test "multidb: --db @LIST reads the files listed; order, blanks and blank lines" {
	fixture
	# blanks around a path are cut; a line of blanks is blank
	printf '# the two halves\n  b.db \t\n  \na.db\r\n' > list
	run --separate-stderr jrn-report metrics --by campaign --db whole.db
	local want=$output
	run --separate-stderr jrn-report metrics --by campaign --db @list
	assert_success
	assert_equal "$output" "$want"
	# a list and a path mixed
	printf 'b.db\n' > one
	run --separate-stderr jrn-report metrics --by campaign --db a.db --db @one
	assert_success
	assert_equal "$output" "$want"
	: > empty
	run --separate-stderr jrn-report metrics --db @empty
	assert_failure 1
	assert_equal "$stderr" "jrn-report: --db @empty: no state file listed"
	run --separate-stderr jrn-report metrics --db @nolist
	assert_failure 1
	assert_equal "$stderr" "jrn-report: --db @nolist: No such file or directory"
}

@test "multidb: jrn-segment --count over two files equals the whole file" {
	fixture
	cat > segs.yaml <<'EOF'
segments:
  buyers: {rule: {event: order.completed, count: {gte: 1}}}
  viewers: {rule: {event: page.viewed, count: {gte: 3}}}
EOF
	run --separate-stderr jrn-segment --segments segs.yaml --count --all --db whole.db
	assert_success
	local want=$output
	[ -n "$want" ]
	run jq -s -e 'map(.total) | add > 10' <<< "$want"
	assert_success
	run --separate-stderr jrn-segment --segments segs.yaml --count --all --db a.db --db b.db
	assert_success
	assert_equal "$output" "$want"
	# the shipped segments (profile fields and events) too
	run --separate-stderr jrn-segment --count --all --db whole.db
	want=$output
	run --separate-stderr jrn-segment --count --all --db @list
	assert_failure 1
	printf 'a.db\nb.db\n' > list
	run --separate-stderr jrn-segment --count --all --db @list
	assert_success
	assert_equal "$output" "$want"
	assert_equal "$stderr" "jrn-segment: 300 customers of the state file, 0 rejected"
	# several files are for --count only
	run --separate-stderr jrn-segment --segments segs.yaml --all --db a.db --db b.db
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "jrn-segment: several --db are for --count only (read-only; no --save, --changes, --snapshot or --run)"
	run --separate-stderr jrn-segment --save --all --db @list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: --db @list: several state files are for --count only"
}

@test "multidb: jrn log over two files: the runs of both, newest first, each naming its file" {
	for f in a b; do
		jrn-ingest -q --db $f.db < /dev/null > /dev/null
	done
	sqlite3 a.db "INSERT INTO runs (id, job, pid, started_at, ended_at, elapsed_ms, status, pipeline)
		VALUES (1, 'nightly', 10, 1000, 2000, 1000, 0, 'true'), (2, 'nightly', 11, 5000, 5500, 500, 0, 'true');
		INSERT INTO run_stages (run_id, stage, command, started_at) VALUES (1, 0, 'a-one', 1000), (2, 0, 'a-two', 5000)"
	sqlite3 b.db "INSERT INTO runs (id, job, pid, started_at, ended_at, elapsed_ms, status, pipeline)
		VALUES (1, 'nightly', 20, 3000, 4000, 1000, 1, 'false');
		INSERT INTO run_stages (run_id, stage, command, started_at) VALUES (1, 0, 'b-one', 3000)"
	run --separate-stderr jrn log --json --db a.db --db b.db
	assert_success
	run jq -c '[.run, .db, .pid, .stages[0].command]' <<< "$output"
	assert_output '[2,"a.db",11,"a-two"]
[1,"b.db",20,"b-one"]
[1,"a.db",10,"a-one"]'
	run --separate-stderr jrn log -n 1 --db a.db --db b.db
	assert_success
	assert_line -n 0 --regexp '^run 2 +nightly .* \(a.db\)$'
	assert_line -n 1 --partial 'a-two'
	# one file: as before, no "db"
	run --separate-stderr jrn log --json --db b.db
	run jq -c '[.run, .db]' <<< "$output"
	assert_output '[1,null]'
}

@test "multidb: a missing file, a file given twice, a wrong schema, --save: refused, naming the file" {
	fixture
	run --separate-stderr jrn-report metrics --db a.db --db nope.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: nope.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e nope.db ]
	run --separate-stderr jrn-report metrics --db a.db --db ./a.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: ./a.db: given twice (the same file as a.db): each state file is read once"
	ln -s a.db link.db
	run --separate-stderr jrn-report metrics --db a.db --db b.db --db link.db
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "jrn-report: link.db: given twice (the same file as a.db): each state file is read once"
	cp b.db old.db
	sqlite3 old.db "DROP TABLE log_offsets; PRAGMA user_version = 12"
	run --separate-stderr jrn-report metrics --db a.db --db old.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: old.db: state file of schema 12, jrn-report reads 16 over several files (every file must be of this schema: a tool that writes a file, such as jrn-ingest < /dev/null, migrates it)"
	echo 'not sqlite at all, but long enough to be read as a header of a database file.....' > junk.db
	run --separate-stderr jrn-report metrics --db a.db --db junk.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: junk.db: cannot open state file: file is not a database"
	run --separate-stderr jrn-report metrics --save --db a.db --db b.db
	assert_failure 2
	assert_equal "$stderr" "jrn-report: --save writes one state file: not with several --db (save each file's metrics with its own run)"
	# nothing was written to either file
	run sqlite3 a.db "SELECT count(*) FROM insights"
	assert_output 0
	# a list file that is not there is said as without --save; a list of
	# one file is that file, saved to
	run --separate-stderr jrn-report metrics --save --db @nosuch.txt
	assert_failure 1
	assert_equal "$stderr" "jrn-report: --db @nosuch.txt: No such file or directory"
	echo a.db > one.txt
	run --separate-stderr jrn-report metrics -q --save --db @one.txt
	assert_success
	run sqlite3 a.db "SELECT count(*) > 0 FROM insights"
	assert_output 1
	# ... which must be there: it is not made
	echo nothere.db > none.txt
	run --separate-stderr jrn-report metrics --save --db @none.txt
	assert_failure 1
	assert_equal "$stderr" "jrn-report: nothere.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e nothere.db ]
}

@test "multidb: a customer in two files is refused, naming the file and the table" {
	fixture
	cp a.db c.db
	run --separate-stderr jrn-report metrics --db a.db --db b.db --db c.db
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "jrn-report: c.db: table deliveries: UNIQUE constraint failed: deliveries.key (a row already read from an earlier file: is a customer, or the file, in two places?)"
}

@test "multidb: the limit of files is named, and more than SQLite's 10 attached files combine" {
	for i in $(seq 1 12); do
		jrn-ingest -q --db p$i.db < <(ev order.completed c$i '"properties":{"amount":'$i'}') > /dev/null
	done
	args=()
	for i in $(seq 1 12); do args+=(--db p$i.db); done
	run --separate-stderr jrn-report cohorts --period month "${args[@]}"
	assert_success
	run jq -s -c 'map(select(.period == 0) | .customers) | add' <<< "$output"
	assert_output 12
	for i in $(seq 1 1025); do echo p1.db; done > many
	run --separate-stderr jrn-report metrics --db @many
	assert_failure 1
	assert_equal "$stderr" "jrn-report: --db: more than 1024 state files (the limit)"
}
