#!/usr/bin/env bats
# jrn-segment: segment rules over profiles and the state file.

load helpers

# A small definitions file used by most tests.
segs() {
	cat > s.yaml <<'Y'
segments:
  vip:
    description: big spenders
    rule:
      any:
        - {field: rfm.score, op: gte, value: 38}
        - {field: rfm.segment, op: equals, value: VIP}
  trial:
    rule: {field: traits.plan, op: equals, value: trial}
  recent:
    rule: {field: lastSeenAt, op: gte, value: 30d ago}
  gmail:
    rule: {field: email, op: matches, value: "@gmail\\.com$"}
Y
}

profiles() {
	cat > p.ndjson <<'J'
{"customerId":"c1","email":"a@gmail.com","rfm":{"score":40},"traits":{"plan":"pro"},"lastSeenAt":"2025-12-20T00:00:00Z"}
{"customerId":"c2","email":"b@example.com","rfm":{"score":12,"segment":"VIP"},"traits":{"plan":"trial"}}
{"customerId":"c3","traits":{"plan":"pro"},"lastSeenAt":"2025-01-01T00:00:00Z"}
J
}

@test "adds segments to each profile, in definition order" {
	segs
	profiles
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_success
	assert_equal "$stderr" "jrn-segment: 3 records (3 profiles, 0 events passed through), 0 rejected"
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 '{"customerId":"c1","email":"a@gmail.com","rfm":{"score":40},"traits":{"plan":"pro"},"lastSeenAt":"2025-12-20T00:00:00Z","segments":["vip","recent","gmail"]}'
	assert_line --index 1 --partial '"segments":["vip","trial"]}'
	assert_line --index 2 --partial '"segments":[]}'
	[ ! -e jrn.db ]
}

@test "reads stdin; an existing segments key is replaced" {
	segs
	run --separate-stderr bash -c 'echo "{\"customerId\":\"c1\",\"segments\":[\"old\"],\"traits\":{\"plan\":\"trial\"}}" | jrn-segment --segments s.yaml'
	assert_success
	assert_output '{"customerId":"c1","segments":["trial"],"traits":{"plan":"trial"}}'
	run --separate-stderr bash -c 'echo "{ }" | jrn-segment --segments s.yaml'
	assert_output '{ "segments":[]}'
}

@test "--only writes the members of one segment, unchanged" {
	segs
	profiles
	run --separate-stderr jrn-segment --segments s.yaml --only vip p.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 "$(sed -n 1p p.ndjson)"
	assert_line --index 1 "$(sed -n 2p p.ndjson)"
	run jrn-segment --segments s.yaml --only nope p.ndjson
	assert_failure 2
	assert_output --partial "no segment 'nope'"
}

@test "--explain prints the compiled form" {
	segs
	run jrn-segment --segments s.yaml --explain recent
	assert_success
	assert_line --index 0 "segment recent (s.yaml:10)"
	assert_line --index 1 "  now: 2026-01-01T00:00:00.000Z"
	assert_output --partial 'rule 1: lastSeenAt gte 2025-12-02T00:00:00.000Z (30d ago)  [path "lastSeenAt"; compared as times]  (line 11)'
	run jrn-segment --segments s.yaml --explain gmail
	assert_output --partial 'POSIX extended regex'
	run jrn-segment --segments s.yaml --explain nope
	assert_failure 2
}

@test "--trace says why, clause by clause, on stderr" {
	segs
	profiles
	run --separate-stderr jrn-segment --trace --segments s.yaml --only vip p.ndjson
	assert_success
	[[ "$stderr" == *"p.ndjson:2 (c2): vip: in"* ]]
	[[ "$stderr" == *"    no   rule 1: rfm.score gte 38 (got 12)"* ]]
	[[ "$stderr" == *"    yes  rule 2: rfm.segment equals \"VIP\" (got \"VIP\")"* ]]
	[[ "$stderr" == *"p.ndjson:3 (c3): vip: out"* ]]
	[[ "$stderr" == *"rule 1: rfm.score gte 38 (got missing)"* ]]
}

@test "unknown operator: an error with file, line, segment and rule" {
	cat > s.yaml <<'Y'
vip:
  rule:
    all:
      - {field: a, op: equals, value: 1}
      - {field: rfm.score, op: greater_then, value: 38}
Y
	echo '{}' > p.ndjson
	run jrn-segment --segments s.yaml p.ndjson
	assert_failure 1
	assert_output "jrn-segment: s.yaml:5: segment 'vip', rule 2: unknown operator 'greater_then' (did you mean 'greater_than'?)"
}

@test "a value of the wrong type for its operator is an error" {
	printf 'x:\n  rule: {field: a, op: in, value: pro}\n' > s.yaml
	run jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_output "jrn-segment: s.yaml:2: segment 'x', rule 1: in needs a list, got a string"
	printf 'x:\n  rule: {field: a, op: greater_than, value: soon}\n' > s.yaml
	run jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_output --partial "greater_than needs a number or a time"
}

@test "a regex that does not compile names the segment and rule" {
	printf 'bad:\n  rule:\n    - {field: a, op: is_set}\n    - {field: email, op: matches, value: "a(b"}\n' > s.yaml
	run jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_output --regexp "^jrn-segment: s.yaml:4: segment 'bad', rule 2: bad regular expression 'a\(b': "
}

@test "a jq expression that does not compile is an error" {
	printf 'j:\n  rule: {jq: ".a >"}\n' > s.yaml
	run jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_output --regexp "^jrn-segment: s.yaml:2: segment 'j', rule 1: jq expression '.a >' does not compile: "
	assert_equal "${#lines[@]}" 1
}

@test "a jq run-time error rejects that record; the others go on (exit 3)" {
	printf 'j:\n  rule: {jq: ".n + 1 > 2"}\n' > s.yaml
	printf '{"n":5}\n{"n":"x"}\n{"n":1}\n' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --rejects rej.ndjson p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 '{"n":5,"segments":["j"]}'
	assert_line --index 1 '{"n":1,"segments":[]}'
	[[ "${stderr_lines[0]}" == "jrn-segment: p.ndjson:2: segment 'j', rule 1: jq: string (\"x\") and number (1) cannot be added" ]]
	assert_equal "$(jq -r .line rej.ndjson)" 2
	assert_equal "$(jq -r .input rej.ndjson)" '{"n":"x"}'
}

@test "bad lines are rejected with their line number, the rest go on" {
	segs
	printf '{"customerId":"c1"}\nnot json\n[1]\n{"customerId":"c2"}\n' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	[[ "${stderr_lines[0]}" == "jrn-segment: p.ndjson:2: "* ]]
	[[ "${stderr_lines[1]}" == "jrn-segment: p.ndjson:3: "* ]]
	run jrn-segment -q --segments s.yaml p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
}

@test "an empty state file and no input: empty output, exit 0" {
	segs
	jrn init -q
	run --separate-stderr jrn-segment --segments s.yaml < /dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-segment: 0 records (0 profiles, 0 events passed through), 0 rejected"
	run jrn-segment --segments s.yaml --count < /dev/null
	assert_success
	assert_line --index 0 '{"segment":"vip","total":0,"reachable":0}'
}

@test "--count needs a state file: none there, one past a regular file, a directory: each said as such (exit 1), none made" {
	segs
	touch file
	mkdir d
	run --separate-stderr jrn-segment --segments s.yaml --count --db nosuch.db < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: nosuch.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e nosuch.db ]
	run --separate-stderr jrn-segment --segments s.yaml --count --db file/x.db < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: file/x.db: cannot open (Not a directory)"
	run --separate-stderr jrn-segment --segments s.yaml --count --db d < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: d: is a directory, not a state file"
}

@test "streamed profiles, an event leaf and no state file: refused before reading (exit 1), none made; without one none is needed" {
	cat > s.yaml <<'Y'
buyers:
  rule: {event: order.completed, count: {gte: 2}}
gmail:
  rule: {field: email, op: matches, value: "@gmail\\.com$"}
Y
	printf '{"customerId":"c1","email":"a@gmail.com"}\n' > p.ndjson
	# FILEs, stdin, --db, JRN_DB, --changes, the shipped definitions and a
	# replay (--run): the state file's message and exit status of --all and
	# --count
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "jrn-segment: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn-segment --segments s.yaml --only buyers < p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn-segment --segments s.yaml --db typo.db p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: typo.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	JRN_DB=env.db run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: env.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn-segment --segments s.yaml --changes p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn-segment < p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn-segment --changes --run last
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	# a dry run of --save makes none either (an empty state in memory)
	run --separate-stderr jrn-segment --segments s.yaml --save --dry-run p.ndjson
	assert_success
	assert_output '{"customerId":"c1","email":"a@gmail.com","segments":["gmail"]}'
	run ls
	refute_output --partial ".db"
	# no wanted segment reads the state file: none needed, none made
	run --separate-stderr jrn-segment --segments s.yaml --only gmail p.ndjson
	assert_success
	assert_output '{"customerId":"c1","email":"a@gmail.com"}'
	assert_equal "$stderr" "jrn-segment: 1 record (1 profile, 0 events passed through), 0 rejected"
	run ls
	refute_output --partial ".db"
	# a writer (--save) makes it, as every writer does (jrn(7), STATE FILE)
	run --separate-stderr jrn-segment --segments s.yaml --save -q p.ndjson
	assert_success
	[ -f jrn.db ]
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_success
	assert_output '{"customerId":"c1","email":"a@gmail.com","segments":["gmail"]}'
}

@test "event leaves count stored events of the customer" {
	cat > s.yaml <<'Y'
buyers:
  rule:
    event: order.completed
    where: {field: properties.amount, op: gte, value: 50}
    count: {gte: 2}
    within: 90d
lapsed:
  rule:
    all:
      - {event: order.completed}
      - {not_event: order.completed, within: 45d}
Y
	{
		printf '{"id":"1","type":"order.completed","customerId":"c1","timestamp":"2025-12-01T00:00:00Z","properties":{"amount":60}}\n'
		printf '{"id":"2","type":"order.completed","customerId":"c1","timestamp":"2025-11-01T00:00:00Z","properties":{"amount":70}}\n'
		printf '{"id":"3","type":"order.completed","customerId":"c1","timestamp":"2025-11-02T00:00:00Z","properties":{"amount":10}}\n'
		printf '{"id":"4","type":"order.completed","customerId":"c2","timestamp":"2025-12-01T00:00:00Z","properties":{"amount":60}}\n'
		printf '{"id":"5","type":"order.completed","customerId":"c2","timestamp":"2025-06-01T00:00:00Z","properties":{"amount":60}}\n'
		printf '{"id":"6","type":"order.completed","customerId":"c3","timestamp":"2025-06-01T00:00:00Z","properties":{"amount":60}}\n'
		printf '{"id":"7","type":"page.viewed","customerId":"c4","timestamp":"2025-12-01T00:00:00Z"}\n'
	} | jrn-ingest -q > /dev/null
	printf '{"customerId":"c1"}\n{"customerId":"c2"}\n{"customerId":"c3"}\n{"name":"no id"}\n' > p.ndjson
	run jrn-segment --segments s.yaml p.ndjson
	assert_success
	assert_line --index 0 '{"customerId":"c1","segments":["buyers"]}'
	assert_line --index 1 '{"customerId":"c2","segments":[]}'
	assert_line --index 2 '{"customerId":"c3","segments":["lapsed"]}'
	assert_line --index 3 '{"name":"no id","segments":[]}'
	# --all: every customer in the state file (the profile read from it,
	# its segments member replaced by this run's verdicts)
	run --separate-stderr bash -c "jrn-segment --segments s.yaml --all < /dev/null | jq -c '{customerId, segments}'"
	assert_success
	assert_equal "${#lines[@]}" 4
	assert_line --index 0 '{"customerId":"c1","segments":["buyers"]}'
	assert_line --index 1 '{"customerId":"c2","segments":[]}'
	assert_line --index 2 '{"customerId":"c3","segments":["lapsed"]}'
	assert_line --index 3 '{"customerId":"c4","segments":[]}'
	run --separate-stderr jrn-segment --segments s.yaml --all --only lapsed
	assert_output --partial '{"customerId":"c3","traits":{},'
}

@test "--save stores memberships; --changes emits entered and exited" {
	segs
	profiles
	run --separate-stderr jrn-segment --segments s.yaml --save --changes p.ndjson
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_line --index 0 --regexp '^\{"id":"seg_[0-9a-f]{32}","type":"segment.entered","customerId":"c1","timestamp":"2026-01-01T00:00:00.000Z","properties":\{"segment":"vip","run":"20260101T000000Z-[0-9a-f]{8}"\}\}$'
	assert_equal "$(rows "SELECT segment || ':' || customer_id FROM segment_members ORDER BY 1" | tr '\n' ' ')" \
		"gmail:c1 recent:c1 trial:c2 vip:c1 vip:c2 "
	assert_equal "$(rows "SELECT DISTINCT since FROM segment_members")" 1767225600000
	# c1 drops out of vip, c3 comes into trial; c2 is not in this input
	printf '{"customerId":"c1","email":"a@gmail.com","rfm":{"score":1},"lastSeenAt":"2025-12-20T00:00:00Z"}\n{"customerId":"c3","traits":{"plan":"trial"}}\n' > q.ndjson
	JRN_NOW=2026-01-02T00:00:00Z run --separate-stderr jrn-segment --segments s.yaml --save --changes --drift 1000 q.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --partial '"type":"segment.exited","customerId":"c1","timestamp":"2026-01-02T00:00:00.000Z","properties":{"segment":"vip","run":"20260102T000000Z-'
	assert_line --index 1 --partial '"type":"segment.entered","customerId":"c3","timestamp":"2026-01-02T00:00:00.000Z","properties":{"segment":"trial","run":"20260102T000000Z-'
	assert_equal "$(rows "SELECT segment || ':' || customer_id FROM segment_members ORDER BY 1" | tr '\n' ' ')" \
		"gmail:c1 recent:c1 trial:c2 trial:c3 vip:c2 "
	# nothing changed: no events
	JRN_NOW=2026-01-03T00:00:00Z run --separate-stderr jrn-segment --segments s.yaml --changes q.ndjson
	assert_success
	assert_output ""
	# --dry-run writes nothing
	JRN_NOW=2026-01-04T00:00:00Z run jrn-segment --segments s.yaml --save --dry-run --only trial p.ndjson
	assert_equal "$(rows "SELECT count(*) FROM segment_members WHERE segment = 'trial'")" 2
}

@test "--save needs customerId" {
	segs
	printf '{"traits":{"plan":"trial"}}\n' > p.ndjson
	run jrn-segment --segments s.yaml --save p.ndjson
	assert_failure 3
	assert_output --partial "customerId: missing"
}

@test "a customerId that is not a string is said by its kind, not as missing, with --save or without" {
	segs
	printf '%s\n' '{"customerId":42,"traits":{"plan":"trial"}}' '{"customerId":{"id":"c1"}}' \
		'{"customerId":null}' '{"customerId":"c\u0031","x":"\u0041"}' > p.ndjson
	printf '%s\n' '{"x":"\u0041","customerId":true}' >> p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --save p.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-segment: p.ndjson:1: customerId: expected a string, got a number"
	assert_equal "${stderr_lines[1]}" "jrn-segment: p.ndjson:2: customerId: expected a string, got an object"
	assert_equal "${stderr_lines[2]}" "jrn-segment: p.ndjson:3: customerId: missing (needed to store memberships)"
	assert_equal "${stderr_lines[3]}" "jrn-segment: p.ndjson:5: customerId: expected a string, got a boolean"
	assert_regex "${stderr_lines[4]}" '^jrn-segment: 5 records \(1 profile, 0 events passed through\), 4 rejected'
	# without --save a missing id is not needed (the profile is evaluated),
	# but one of another kind is still wrong: rejected as every tool does
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-segment: p.ndjson:1: customerId: expected a string, got a number"
	assert_equal "${stderr_lines[1]}" "jrn-segment: p.ndjson:2: customerId: expected a string, got an object"
	assert_equal "${stderr_lines[2]}" "jrn-segment: p.ndjson:5: customerId: expected a string, got a boolean"
	assert_equal "$(jq -c .customerId <<< "$output" | tr '\n' ' ')" 'null "c1" '
}

@test "a misspelt key in a rule leaf is named, with the segment and the nearest key" {
	cat > s.yaml <<'Y'
segments:
  vip:
    rule:
      all:
        - {field: x, op: equals, value: 1}
        - {field: x, opp: equals, value: 1}
Y
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:6: segment 'vip', rule 2: unknown key 'opp' in a field leaf (did you mean 'op'?)"
	cat > s.yaml <<'Y'
segments:
  trial:
    rule:
      field: traits.plan
      op: equals
      colour: blue
Y
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:6: segment 'trial', rule 1: unknown key 'colour' in a field leaf (field, op, value, description)"
	printf 'segments:\n  buyers:\n    rule: {event: order.completed, withn: 30d}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --all --count
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:3: segment 'buyers', rule 1: unknown key 'withn' in an event leaf (did you mean 'within'?)"
}

@test "--trace takes no ID: '--trace c42' says c42 is no file and how to trace one customer (exit 2)" {
	segs
	profiles
	run --separate-stderr jrn-segment --segments s.yaml --trace c42
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "jrn-segment: c42: no such file (--trace takes no ID: it traces every record read; for one, grep '\"c42\"' FILE | jrn-segment --trace)"
	run --separate-stderr jrn-segment --segments s.yaml --trace=c42 p.ndjson
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-segment: option '--trace' doesn't allow an argument"
	# the way the man page shows
	run --separate-stderr bash -c "grep '\"c2\"' p.ndjson | jrn-segment -q --segments s.yaml --trace --only vip"
	assert_success
	assert_output --partial '"customerId":"c2"'
	[[ "$stderr" == *"stdin:1 (c2): vip: in"* ]]
	# without --trace a missing file is still a read error (exit 1), as before
	run --separate-stderr jrn-segment -q --segments s.yaml c42
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: c42: No such file or directory"
}

@test "--snapshot freezes a static copy, once per name" {
	segs
	profiles
	run jrn-segment --segments s.yaml --snapshot nov p.ndjson
	assert_success
	assert_equal "$(rows "SELECT segment || ':' || customer_id FROM segment_snapshots WHERE name = 'nov' ORDER BY 1" | tr '\n' ' ')" \
		"gmail:c1 recent:c1 trial:c2 vip:c1 vip:c2 "
	assert_equal "$(rows "SELECT count(*) FROM segment_members")" 0
	run jrn-segment --segments s.yaml --snapshot nov p.ndjson
	assert_failure 1
	assert_output --partial "snapshot 'nov' exists already"
}

@test "--count: total and reachable (not suppressed, not revoked)" {
	segs
	profiles
	ev consent.revoked c2 '"properties":{"channel":"email"}' | jrn-ingest -q > /dev/null
	run jrn-segment --segments s.yaml --count p.ndjson
	assert_success
	assert_line --index 0 '{"segment":"vip","total":2,"reachable":1}'
	assert_line --index 1 '{"segment":"trial","total":1,"reachable":0}'
	assert_line --index 2 '{"segment":"recent","total":1,"reachable":1}'
	rows "INSERT INTO suppressions VALUES ('a@gmail.com','email','bounce',0,NULL)"
	run --separate-stderr jrn-segment --segments s.yaml --count --only gmail p.ndjson
	assert_output '{"segment":"gmail","total":1,"reachable":0}'
	# the profile's own consent counts too
	echo '{"customerId":"c9","rfm":{"score":50},"consent":{"email":"revoked"}}' > q.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --count --only vip q.ndjson
	assert_output '{"segment":"vip","total":1,"reachable":0}'
}

@test "drift: a population change above --drift since the last run exits 3" {
	printf 'big:\n  rule: {field: n, op: gte, value: 10}\n' > s.yaml
	seq 1 20 | awk '{printf "{\"customerId\":\"c%d\",\"n\":%d}\n", $1, $1}' > p.ndjson
	run jrn-segment --segments s.yaml --save p.ndjson
	assert_success
	assert_equal "$(rows "SELECT population FROM segment_runs")" 11
	# 11 -> 13 is +18%: under 20
	seq 1 20 | awk '{printf "{\"customerId\":\"c%d\",\"n\":%d}\n", $1, $1 + 2}' > q.ndjson
	JRN_NOW=2026-01-02T00:00:00Z run jrn-segment --segments s.yaml --save q.ndjson
	assert_success
	# 13 -> 16 is +23%
	seq 1 20 | awk '{printf "{\"customerId\":\"c%d\",\"n\":%d}\n", $1, $1 + 5}' > r.ndjson
	JRN_NOW=2026-01-03T00:00:00Z run --separate-stderr jrn-segment --segments s.yaml --save r.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-segment: drift: segment 'big' went from 13 to 16 (+23.1%) since 2026-01-02T00:00:00.000Z, more than 20%"
	assert_equal "$(rows "SELECT count(*) FROM segment_runs")" 3
	JRN_NOW=2026-01-04T00:00:00Z run jrn-segment --segments s.yaml --save --drift 50 p.ndjson
	assert_success
}

@test "the shipped definitions compile, and are the default" {
	run jrn-segment --list
	assert_success
	for s in active churned high_value new trial paid_subscribers cart_abandoners vip \
		churn_risk new_customers high_discount_sensitivity; do
		assert_line "$s"
	done
	# their event leaves read the state file: a missing one is refused
	jrn init -q
	echo '{"customerId":"c1","rfm":{"score":45},"traits":{"plan":"trial"},"promotions":{"redeemedRatio":0.6}}' |
		jrn-segment > out.ndjson
	assert_equal "$(jq -c .segments out.ndjson)" '["trial","vip","high_discount_sensitivity"]'
}

@test "the shipped active and churned read the profile's summary.lastSeen (they read lastSeenAt, which no profile has: churned was always empty)" {
	export JRN_NOW=2026-06-01T00:00:00Z
	{
		printf '{"id":"a","type":"page.viewed","customerId":"old","timestamp":"2026-02-01T00:00:00Z"}\n'
		printf '{"id":"b","type":"email.opened","customerId":"recent","timestamp":"2026-05-25T00:00:00Z"}\n'
		printf '{"id":"c","type":"email.opened","customerId":"between","timestamp":"2026-04-01T00:00:00Z"}\n'
	} | jrn-ingest -q
	run --separate-stderr jrn-segment --all --only churned
	assert_success
	assert_equal "$(jq -r .customerId <<< "$output")" old
	# recent by an open alone (no page view, no order: only lastSeen says it)
	run --separate-stderr jrn-segment --all --only active
	assert_equal "$(jq -r .customerId <<< "$output")" recent
}

@test "JSON definitions, shorthand, and deep nesting" {
	echo '{"segments":{"s":{"rule":{"traits.plan":"pro","n":{"between":[1,3]}}}}}' > s.json
	printf '{"traits":{"plan":"pro"},"n":2}\n{"traits":{"plan":"pro"},"n":4}\n' > p.ndjson
	run --separate-stderr jrn-segment --segments s.json --only s p.ndjson
	assert_output '{"traits":{"plan":"pro"},"n":2}'
	{
		echo 'deep:'
		echo '  rule:'
		for i in $(seq 1 600); do printf '%*snot:\n' $((i * 2 + 2)) ''; done
		printf '%*s{field: n, op: equals, value: 2}\n' 1204 ''
	} > d.yaml
	run --separate-stderr jrn-segment --segments d.yaml --only deep p.ndjson
	assert_success
	assert_output '{"traits":{"plan":"pro"},"n":2}'
}

@test "definitions from the config, the environment and --segments" {
	printf 'a:\n  rule: {x: 1}\n' > one.yaml
	printf 'b:\n  rule: {x: 1}\n' > two.yaml
	printf 'segments:\n  file: one.yaml\n' > jrn.yaml
	run jrn-segment --list
	assert_output a
	JRN_SEGMENTS=two.yaml run jrn-segment --list
	assert_output b
	printf 'segments:\n  definitions:\n    c: {rule: {x: 1}}\n' > jrn.yaml
	run jrn-segment --list
	assert_output c
	run jrn-segment --list --segments one.yaml
	assert_output a
	run jrn-segment --segments missing.yaml --list
	assert_failure 1
	assert_output --partial "missing.yaml: No such file"
}

@test "usage: --help, --version, bad options" {
	run jrn-segment --help
	assert_success
	assert_line --index 0 --partial "usage: jrn-segment"
	run jrn-segment --version
	assert_output "jrn-segment 0.1.0"
	run jrn-segment --bogus
	assert_failure 2
	run jrn-segment --drift x --list
	assert_failure 2
	run jrn-segment --all p.ndjson
	assert_failure 2
}

@test "a closed pipe ends the run quietly" {
	segs
	for i in $(seq 1 20000); do echo "{\"customerId\":\"c$i\"}"; done > p.ndjson
	run bash -c 'jrn-segment --segments s.yaml p.ndjson | head -1; echo "rc=${PIPESTATUS[0]}"'
	assert_line --index 0 '{"customerId":"c1","segments":[]}'
	assert_line --index 1 "rc=0"
}

@test "a closed standard output: the summary first, the write error last, exit 1 (as jrn-ai)" {
	segs
	profiles
	jrn-ingest -q < /dev/null # --count reads the state file
	run --separate-stderr bash -c 'jrn-segment --segments s.yaml --count p.ndjson >&-'
	assert_failure 1
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" "jrn-segment: 3 records (3 profiles, 0 events passed through), 0 rejected"
	assert_equal "${stderr_lines[1]}" "jrn-segment: writing output: Bad file descriptor"
	run --separate-stderr bash -c 'jrn-segment --segments s.yaml p.ndjson >&-'
	assert_failure 1
	assert_equal "${stderr_lines[1]}" "jrn-segment: writing output: Bad file descriptor"
	# -q: the error alone
	run --separate-stderr bash -c 'jrn-segment -q --segments s.yaml --count p.ndjson >&-'
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: writing output: Bad file descriptor"
}

@test "escaped keys and values are read as JSON means them" {
	segs
	printf '%s\n' '{"customerId":"c1","tr\u0061its":{"plan":"tri\u0061l"}}' '{"customerId":"c2","traits":{"plan":"trial","plan":"pro"}}' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --only trial p.ndjson
	# c2 names "plan" twice: rejected (issue 10, defect 8)
	assert_failure 3
	assert_output "$(sed -n 1p p.ndjson)"
	assert_regex "$stderr" 'p.ndjson:2: invalid JSON at byte [0-9]+: duplicate member name "plan"'
}

@test "a jq error in a where clause: the record is rejected; over the state file the run fails" {
	ev o c1 '"properties":{"a":"x"}' | jrn-ingest -q > /dev/null
	printf 'w:\n  rule: {event: o, where: {jq: ".properties.a + 1"}}\n' > s.yaml
	echo '{"customerId":"c1"}' > p.ndjson
	run jrn-segment --segments s.yaml p.ndjson
	assert_failure 3
	assert_line --index 0 "jrn-segment: p.ndjson:1: segment 'w', rule 2: jq: string (\"x\") and number (1) cannot be added"
	run jrn-segment --segments s.yaml --all
	assert_failure 1
	assert_output "jrn-segment: segment 'w', rule 2: jq: string (\"x\") and number (1) cannot be added"
}

# evt TYPE CUSTOMER DAY [PROPERTIES]: one event on 2025-12-DAY
evt() {
	printf '{"type":"%s","customerId":"%s","timestamp":"2025-12-%02dT00:00:00Z","properties":{%s}}\n' \
		"$1" "$2" "$3" "$4"
}

@test "a streamed profile without consent is read with the state file's: a revoked customer is not engaged_buyers" {
	{
		for c in c1 c2 c3; do
			evt order.completed "$c" 1 '"amount":80'
			evt order.completed "$c" 15 '"amount":90'
		done
		evt consent.revoked c1 20 '"channel":"email"'
		evt consent.granted c2 20 '"channel":"email"'
		evt consent.revoked c3 21 '"channel":"sms"' # (another channel)
	} | jrn-ingest -q > /dev/null
	jrn-score rfm -q > rfm.ndjson
	assert_equal "$(jrn-segment --all --only engaged_buyers | jq -r .customerId | tr '\n' ' ')" "c2 c3 "
	# without --save: the members as --all has them, each record as read
	run --separate-stderr jrn-segment --only engaged_buyers rfm.ndjson
	assert_success
	assert_output "$(grep -v '"c1"' rfm.ndjson)"
	run --separate-stderr jrn-segment -q rfm.ndjson
	assert_success
	jq -e -s 'map({(.customerId): (.segments | index("engaged_buyers") != null)}) | add
		== {"c1": false, "c2": true, "c3": true} and all(has("consent") | not)' <<< "$output"
	# with --save the segment is evaluated now (no record carries consent)
	run --separate-stderr jrn-segment --save --changes rfm.ndjson
	assert_success
	refute_output --partial '"c1"'
	assert_equal "$(rows "SELECT customer_id FROM segment_members WHERE segment = 'engaged_buyers'" | tr '\n' ' ')" "c2 c3 "
	[[ "$stderr" == *"; 9 segments not evaluated"* ]]
	# a record's own consent is read as it is
	printf '{"customerId":"c1","consent":{"email":"granted"}}\n' |
		jrn-segment -q --only engaged_buyers | grep -q '"c1"'
}

@test "a rule reads consent, a record lacks it and there is no state file: rejected, none created" {
	printf 'x:\n  rule: {not: {field: consent.email, op: equals, value: revoked}}\n' > s.yaml
	printf '%s\n' '{"customerId":"c1"}' '{"customerId":"c2","consent":{"email":"revoked"}}' \
		'{"customerId":"c3","consent":{}}' '{"n":1}' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_failure 3
	assert_output '{"customerId":"c2","consent":{"email":"revoked"},"segments":[]}
{"customerId":"c3","consent":{},"segments":["x"]}'
	assert_equal "${stderr_lines[0]}" "jrn-segment: p.ndjson:1: consent: not in the record, and jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one) (a segment's rule reads consent)"
	assert_equal "${stderr_lines[1]}" "jrn-segment: p.ndjson:4: consent: not in the record, and no customerId to read it from the state file (a segment's rule reads consent)"
	[ ! -e jrn.db ]
	# with one, read from it (no row: no refusal, jrn is opt-out)
	jrn-ingest -q < /dev/null
	run --separate-stderr jrn-segment --segments s.yaml -q --only x p.ndjson
	assert_failure 3
	assert_output '{"customerId":"c1"}
{"customerId":"c3","consent":{}}'
}
