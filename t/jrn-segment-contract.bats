#!/usr/bin/env bats
# jrn-segment and the pipeline contract (issue 9, jrn(7)): what it reads,
# what passes through, where its change events go, how it speaks.

load helpers

segs() {
	cat > s.yaml <<'Y'
segments:
  vip:
    rule:
      any:
        - {field: rfm.score, op: gte, value: 38}
        - {field: rfm.segment, op: equals, value: VIP}
  valuable:
    rule: {field: clv.value, op: gte, value: 1000}
  buyers:
    rule: {event: order.completed}
Y
}

# Six customers with 1..6 orders: the state file's events.
orders() {
	for i in 1 2 3 4 5 6; do
		for j in $(seq 1 "$i"); do
			printf '{"type":"order.completed","customerId":"c%d","timestamp":"2025-12-%02dT12:00:00.000Z","properties":{"amount":%d}}\n' \
				"$i" $((j + 1)) $((i * 100))
		done
	done | jrn-ingest -q > /dev/null
}

# Full profiles: c5 and c6 are VIPs.
profiles() {
	for i in 1 2 3 4 5 6; do
		seg=Loyal
		[ "$i" -ge 5 ] && seg=VIP
		printf '{"customerId":"c%d","rfm":{"score":%d,"segment":"%s"},"clv":{"value":%d}}\n' \
			"$i" $((i * 5)) "$seg" $((i * 300))
	done > p.ndjson
}

members() {
	rows "SELECT segment || ':' || customer_id FROM segment_members ORDER BY 1" | tr '\n' ' '
}

# ---- fault 1: standard input is the input ----------------------------------------

@test "fault 1: a failed producer's empty pipe commits nothing, emits nothing, says so" {
	segs
	orders
	profiles
	jrn-segment -q --segments s.yaml --save p.ndjson > /dev/null
	before=$(members)
	nevents=$(rows "SELECT count(*) FROM events")
	# the issue's pipeline: jrn-score fails (exit 2), jrn-segment reads an empty pipe
	run --separate-stderr bash -c 'jrn-score rfm --window 3x | jrn-segment --segments s.yaml --save --changes; echo "rc=${PIPESTATUS[*]}"'
	assert_output "rc=2 0"
	[[ "$stderr" == *"jrn-segment: no input: nothing saved"* ]]
	assert_equal "$(members)" "$before"
	assert_equal "$(rows "SELECT count(*) FROM events")" "$nevents"
	assert_equal "$(rows "SELECT count(DISTINCT ran_at) FROM segment_runs")" 1
	# the same with false, and cron's </dev/null; -q: nothing at all
	run --separate-stderr bash -c 'false | jrn-segment --segments s.yaml --save --changes'
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-segment: no input: nothing saved"
	run --separate-stderr jrn-segment -q --segments s.yaml --save --changes < /dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	assert_equal "$(members)" "$before"
}

@test "fault 1: empty input is no records; --all is every customer of the state file" {
	segs
	orders
	run --separate-stderr jrn-segment --segments s.yaml < /dev/null
	assert_success
	assert_output ""
	run --separate-stderr jrn-segment --segments s.yaml --only buyers --all < /dev/null
	assert_success
	assert_equal "${#lines[@]}" 6
	# the profile as lib/profile-read reads it (no profile row: no traits)
	assert_line --index 0 --partial '{"customerId":"c1","traits":{},"consent":{},"segments":[],"summary":{"events":1,'
	assert_equal "$stderr" "jrn-segment: 6 customers of the state file, 0 rejected"
}

# ---- fault 2: events pass through -------------------------------------------------

@test "fault 2: event records pass through unchanged, in order, where they were read" {
	segs
	cat > in.ndjson <<'J'
{"type":"rfm.segment.changed","customerId":"c5","timestamp":"2026-01-01T00:00:00.000Z","properties":{"from":"Loyal","to":"VIP"}}
{"customerId":"c5","rfm":{"score":40,"segment":"VIP"}}
{ "type" : "page.viewed", "customerId":"c9",  "x":[1,2] }
{"customerId":"c6","rfm":{"score":10,"segment":"Loyal"}}
J
	run --separate-stderr jrn-segment --segments s.yaml --only vip in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 "$(sed -n 1p in.ndjson)"
	assert_line --index 1 "$(sed -n 2p in.ndjson)"
	assert_line --index 2 "$(sed -n 3p in.ndjson)"
	# every segment: buyers' event leaf reads the state file, which must be there
	jrn init -q
	run --separate-stderr jrn-segment --segments s.yaml in.ndjson
	assert_line --index 0 "$(sed -n 1p in.ndjson)"
	assert_line --index 1 '{"customerId":"c5","rfm":{"score":40,"segment":"VIP"},"segments":["vip"]}'
	assert_line --index 2 "$(sed -n 3p in.ndjson)"
	assert_line --index 3 '{"customerId":"c6","rfm":{"score":10,"segment":"Loyal"},"segments":[]}'
	assert_equal "$stderr" "jrn-segment: 4 records (2 profiles, 2 events passed through), 0 rejected"
	# with --save --changes: the events first (as read), then this run's changes;
	# an event is not a profile: no membership, no change for it
	run --separate-stderr jrn-segment --segments s.yaml --save --changes in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 "$(sed -n 1p in.ndjson)"
	assert_line --index 1 "$(sed -n 3p in.ndjson)"
	assert_line --index 2 --partial '"type":"segment.entered","customerId":"c5"'
	assert_equal "$(members)" "vip:c5 "
}

@test "fault 2: jrn-score rfm --save --changes | jrn-segment --changes: the RFM events reach the next step" {
	segs
	orders
	jrn-score rfm -q --save > /dev/null < /dev/null
	# night 2: c1 orders a lot
	for j in 1 2 3 4 5 6 7 8; do
		printf '{"type":"order.completed","customerId":"c1","timestamp":"2025-12-31T0%d:00:00.000Z","properties":{"amount":900}}\n' "$j"
	done | jrn-ingest -q > /dev/null
	JRN_NOW=2026-01-01T06:00:00Z jrn-score rfm -q --save --changes < /dev/null > score.ndjson
	grep -q '"type":"rfm.segment.changed","customerId":"c1"' score.ndjson
	JRN_NOW=2026-01-01T06:00:00Z run --separate-stderr bash -c 'jrn-segment --segments s.yaml --changes < score.ndjson'
	assert_success
	# every event line of jrn-score's output, unchanged and in order
	assert_equal "$(grep '"type"' <<<"$output" | grep -v '"segment\.' || true)" "$(grep '"type"' score.ndjson || true)"
	# the segment changes: one per customer and segment, each id once
	assert_equal "$(grep '"segment\.entered"' <<<"$output" | grep -c '"segment":"vip"')" "$(grep -v '"type"' score.ndjson | jq -s '[.[] | select(.rfm.score >= 38 or .rfm.segment == "VIP")] | length')"
	assert_equal "$(grep '"segment\.' <<<"$output" | jq -r .id | sort | uniq -d)" ""
}

@test "fault 2: two identical profile lines for one customer give one change" {
	segs
	printf '{"customerId":"c1","rfm":{"score":40}}\n{"customerId":"c1","rfm":{"score":40}}\n' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --save --changes p.ndjson
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_line --index 0 --partial '"type":"segment.entered","customerId":"c1"'
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'segment.entered'")" 1
	# the customer's last record decides: in, then out, is out (no change)
	printf '{"customerId":"c2","rfm":{"score":40}}\n{"customerId":"c2","rfm":{"score":1}}\n' > q.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --save --changes q.ndjson
	assert_output ""
}

# ---- fault 3: change events are events --------------------------------------------

@test "fault 3: change events are stored in the events table by the save, printed after" {
	segs
	profiles
	run --separate-stderr jrn-segment --segments s.yaml --save --changes p.ndjson
	assert_success
	# first run: entered for everyone now in a segment (the first-run rule)
	assert_equal "${#lines[@]}" 5
	assert_equal "$(rows "SELECT body FROM events WHERE type LIKE 'segment.%' ORDER BY seq")" "$output"
	assert_equal "$(rows "SELECT count(DISTINCT id) FROM events WHERE type = 'segment.entered'")" 5
	assert_equal "$(rows "SELECT DISTINCT customer_id || ' ' || ts || ' ' || received_at FROM events WHERE customer_id = 'c6' AND type = 'segment.entered'")" \
		"c6 1767225600000 1767225600000"
	run=$(jq -r .properties.run <<<"${lines[0]}")
	[[ "$stderr" == "jrn-segment: 6 records (6 profiles, 0 events passed through), 0 rejected; run $run: 5 entered, 0 exited" ]]
	# the run's id is in every event; --changes --run ID replays them
	assert_equal "$(jq -r .properties.run <<<"$output" | sort -u)" "$run"
	saved=$output
	run --separate-stderr jrn-segment --changes --run "$run"
	assert_success
	assert_output "$saved"
	assert_equal "$stderr" "jrn-segment: run $run: 5 change events replayed"
	run --separate-stderr jrn-segment --changes --run last
	assert_output "$saved"
	# --changes without --save: printed, not stored
	printf '{"customerId":"c1","rfm":{"score":50}}\n' > q.ndjson
	JRN_NOW=2026-01-02T00:00:00Z run --separate-stderr jrn-segment --segments s.yaml --changes q.ndjson
	assert_equal "${#lines[@]}" 1
	[[ "$stderr" == *"1 entered, 0 exited (not saved: no --save)" ]]
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type LIKE 'segment.%'")" 5
}

@test "fault 3: a consumer killed mid-run loses no change: the rerun replays the run" {
	segs
	profiles
	run --separate-stderr bash -c 'jrn-segment --segments s.yaml --save --changes p.ndjson | head -1'
	assert_success
	assert_equal "${#lines[@]}" 1
	run=$(jq -r .properties.run <<<"$output")
	[[ "$stderr" == *"run $run: 5 entered, 0 exited"* ]]
	# the job rerun: the memberships are saved, so the run itself finds no change...
	run --separate-stderr jrn-segment --segments s.yaml --save --changes p.ndjson
	assert_success
	assert_output ""
	# ...and the lost five are replayed from the state file, the first one too
	run --separate-stderr jrn-segment --changes --run "$run"
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_equal "$(jq -r '.type + " " + .properties.segment + " " + .customerId' <<<"$output" | sort | tr '\n' ,)" \
		"segment.entered valuable c4,segment.entered valuable c5,segment.entered valuable c6,segment.entered vip c5,segment.entered vip c6,"
	# the events a consumer reads are the same lines, ids and all
	assert_equal "$(jq -r .id <<<"$output" | sort -u | wc -l)" 5
}

# ---- fault 4: partial profiles ---------------------------------------------------

@test "fault 4: jrn-score clv records do not exit the VIPs (rfm.* absent); -v says so" {
	segs
	orders
	profiles
	jrn-segment -q --segments s.yaml --save p.ndjson > /dev/null
	before=$(members)
	# clv-only records: no rfm member in any of them
	for i in 1 2 3 4 5 6; do printf '{"customerId":"c%d","clv":{"value":%d}}\n' "$i" $((i * 300)); done > clv.ndjson
	JRN_NOW=2026-01-02T00:00:00Z run --separate-stderr jrn-segment -v --segments s.yaml --save --changes clv.ndjson
	assert_success
	assert_output ""
	assert_equal "$(members)" "$before"
	[[ "$stderr" == *"jrn-segment: segment 'vip' not evaluated or saved: no input record carries 'rfm', which its rule reads (--all completes profiles)"* ]]
	[[ "$stderr" == *"1 segment not evaluated (partial profiles; -v says which)"* ]]
	# no population row for the segment left out
	assert_equal "$(rows "SELECT count(*) FROM segment_runs WHERE segment = 'vip'")" 1
	assert_equal "$(rows "SELECT count(*) FROM segment_runs WHERE segment = 'valuable'")" 2
	# the segments the records do carry still move
	printf '{"customerId":"c6","clv":{"value":5}}\n' > clv2.ndjson
	JRN_NOW=2026-01-03T00:00:00Z run --separate-stderr jrn-segment --segments s.yaml --save --changes --drift 1000 clv2.ndjson
	assert_line --index 0 --partial '"type":"segment.exited","customerId":"c6","timestamp":"2026-01-03T00:00:00.000Z","properties":{"segment":"valuable"'
	assert_equal "${#lines[@]}" 1
}

@test "fault 4: --all completes profiles from the state file; --count is read-only and raises no drift" {
	segs
	orders
	jrn-score rfm -q --save < /dev/null > /dev/null
	vips=$(rows "SELECT count(*) FROM rfm_snapshots WHERE segment = 'VIP' OR score >= 38")
	[ "$vips" -gt 0 ]
	JRN_NOW=2026-01-01T01:00:00Z run --separate-stderr jrn-segment --segments s.yaml --all --save
	assert_success
	assert_equal "$(rows "SELECT count(*) FROM segment_members WHERE segment = 'vip'")" "$vips"
	# the nightly count after the save: VIP as saved, exit 0, no drift
	JRN_NOW=2026-01-01T02:00:00Z run --separate-stderr jrn-segment --segments s.yaml --all --count
	assert_success
	assert_line --index 0 "{\"segment\":\"vip\",\"total\":$vips,\"reachable\":$vips}"
	[[ "$stderr" != *drift* ]]
	# a count of partial profiles (VIP 0) is read-only too: no drift, exit 0
	printf '{"customerId":"c1","clv":{"value":1}}\n' > clv.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --count clv.ndjson
	assert_success
	assert_line --index 0 '{"segment":"vip","total":0,"reachable":0}'
	[[ "$stderr" != *drift* ]]
	assert_equal "$(rows "SELECT count(DISTINCT ran_at) FROM segment_runs")" 1
}

@test "fault 4: a population growing from 0 says so, no +inf%" {
	printf 'big:\n  rule: {field: n, op: gte, value: 10}\n' > s.yaml
	printf '{"customerId":"c1","n":1}\n{"customerId":"c2","n":2}\n' > p.ndjson
	jrn-segment -q --segments s.yaml --save p.ndjson > /dev/null
	printf '{"customerId":"c1","n":11}\n{"customerId":"c2","n":12}\n' > q.ndjson
	JRN_NOW=2026-01-02T00:00:00Z run --separate-stderr jrn-segment --segments s.yaml --save q.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-segment: drift: segment 'big' went from 0 to 2 (it was empty) since 2026-01-01T00:00:00.000Z"
	[[ "$stderr" != *inf* ]]
}

# ---- fault 9: voice and flags ------------------------------------------------------

@test "fault 9: a summary line by default, nothing under -q, -v names state, config and inputs" {
	segs
	profiles
	jrn init -q # buyers' event leaf reads it
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_success
	assert_equal "$stderr" "jrn-segment: 6 records (6 profiles, 0 events passed through), 0 rejected"
	run --separate-stderr jrn-segment -q --segments s.yaml --save --changes p.ndjson
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_equal "$stderr" ""
	printf 'segments:\n  file: s.yaml\n' > jrn.yaml
	JRN_NOW=2026-01-02T00:00:00Z run --separate-stderr jrn-segment -v --save p.ndjson
	assert_success
	assert_equal "${stderr_lines[0]}" "jrn-segment: state jrn.db, config jrn.yaml"
	assert_equal "${stderr_lines[1]}" "jrn-segment: segments s.yaml (3)"
	assert_equal "${stderr_lines[2]}" "jrn-segment: input: p.ndjson"
	[[ "${stderr_lines[3]}" == "jrn-segment: 6 records (6 profiles, 0 events passed through), 0 rejected; run 20260102T000000Z-"*": 0 entered, 0 exited" ]]
	assert_equal "${#stderr_lines[@]}" 4
	# per-record traces only behind --trace
	[[ "$stderr" != *"p.ndjson:1"* ]]
	run --separate-stderr jrn-segment --trace --only vip p.ndjson
	[[ "$stderr" == *"p.ndjson:5 (c5): vip: in"* ]]
}

@test "fault 9: --dry-run with --save does the work and writes nothing" {
	segs
	profiles
	run --separate-stderr jrn-segment --segments s.yaml --save --changes --dry-run p.ndjson
	assert_success
	assert_equal "${#lines[@]}" 5
	[[ "$stderr" == *"5 entered, 0 exited (dry run, nothing saved)" ]]
	# no state file was there: none is made (an empty one in memory)
	[ ! -e jrn.db ]
	jrn init -q
	run --separate-stderr jrn-segment --segments s.yaml --save --changes --dry-run p.ndjson
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_equal "$(rows "SELECT count(*) FROM segment_members")" 0
	assert_equal "$(rows "SELECT count(*) FROM events")" 0
	assert_equal "$(rows "SELECT count(*) FROM segment_runs")" 0
}

@test "fault 9: bad flag values are usage errors (exit 2), named by the tool" {
	segs
	run jrn-segment --segments s.yaml --drift 3x p.ndjson
	assert_failure 2
	assert_output --partial "jrn-segment: --drift: '3x' is not a percentage"
	run jrn-segment --run abc
	assert_failure 2
	assert_output --partial "jrn-segment: --run ID replays a saved run"
	run jrn-segment --changes --run abc p.ndjson
	assert_failure 2
	run jrn-segment --changes --save --run abc
	assert_failure 2
	run jrn-segment --segments s.yaml --now yesterday p.ndjson
	assert_failure 2
	assert_output --partial "jrn-segment: "
}

@test "replay: an unknown run replays nothing; 'last' with no saved run is an error" {
	jrn init -q # a replay reads the state file: a missing one is refused (jrn-segment.bats)
	run --separate-stderr jrn-segment --changes --run 20990101T000000Z-00000000
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-segment: run 20990101T000000Z-00000000: 0 change events replayed"
	run --separate-stderr jrn-segment --changes --run last
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: --run last: no saved run has change events"
}

@test "bad input: not JSON, events without a customer, profiles without one" {
	segs
	printf '%s\n' 'nope' '{"type":"x"}' '{"rfm":{"score":50}}' '{"customerId":"c1","rfm":{"score":50}}' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --save --changes p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 '{"type":"x"}'
	assert_line --index 1 --partial '"type":"segment.entered","customerId":"c1"'
	[[ "$stderr" == *"jrn-segment: p.ndjson:1: "* ]]
	[[ "$stderr" == *"jrn-segment: p.ndjson:3: customerId: missing"* ]]
	[[ "$stderr" == *"4 records (1 profile, 1 event passed through), 2 rejected; "*"; run "*": 1 entered, 0 exited" ]]
}
