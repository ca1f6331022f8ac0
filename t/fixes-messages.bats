#!/usr/bin/env bats
# Small messages (session 9, "fixes" #6): --db DIR, --lookback 0,
# --since before 1970, --now versus JRN_NOW.

load helpers

@test "jrn-report --db DIR: 'is a directory', not 'disk I/O error' (exit 1)" {
	mkdir d
	run jrn-report metrics --db d
	assert_failure 1
	assert_output "jrn-report: d: is a directory, not a state file"
}

@test "a bare 0 as a duration: '0 needs a unit'; 0d is read (and --lookback's bound says)" {
	jrn-ingest -q < /dev/null
	run jrn-report metrics --lookback 0
	assert_failure 2
	assert_output --partial "bad duration '0': 0 needs a unit too"
	refute_output --partial "missing unit"
	run jrn-report metrics --lookback 0d
	assert_failure 2
	assert_output "jrn-report: --lookback '0d': more than 0 is needed"
	# a number with no unit other than 0 keeps its message
	run jrn-report metrics --lookback 5
	assert_failure 2
	assert_output --partial "missing unit after 5"
}

@test "jrn-report --since a duration reaching before 1970: refused with the bound (exit 2)" {
	jrn-ingest -q < /dev/null
	run jrn-report metrics --since 1000000d
	assert_failure 2
	assert_output "jrn-report: --since '1000000d': before 1970-01-01T00:00:00Z, the earliest time a window may start"
	# the bound itself: back to the epoch exactly is fine (JRN_NOW 2026-01-01)
	run jrn-report metrics --since 20454d
	assert_success
	run jrn-report metrics --since 20455d
	assert_failure 2
}

@test "a bad --now is a usage error (2), a bad JRN_NOW a failure (1), as jrn(7) says" {
	jrn-ingest -q < /dev/null
	run jrn-report metrics --now bad
	assert_failure 2
	JRN_NOW=bad run jrn-report metrics
	assert_failure 1
	assert_output --partial "JRN_NOW 'bad'"
	run grep -c 'a bad' "$BATS_TEST_DIRNAME/../man/jrn.7"
	[ "$output" -ge 2 ]
}

@test "a value of the wrong kind is named by every tool with its article (lib's jrn_kind_phrase): records in JSON words, YAML files in YAML words" {
	# records (JSON): "an array", "a number", "an object", "a string"
	printf '[1]\n{"type":"x","customerId":"c1","timestamp":5}\n{"type":"x","customerId":"c1","properties":[1]}\n' > ev.ndjson
	run --separate-stderr jrn-ingest ev.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-ingest: ev.ndjson:1: not a JSON object (got an array)"
	assert_equal "${stderr_lines[1]}" "jrn-ingest: ev.ndjson:2: timestamp: expected an RFC 3339 string, got a number"
	assert_equal "${stderr_lines[2]}" "jrn-ingest: ev.ndjson:3: properties: expected an object, got an array"
	printf '"x"\n{"customerId":5}\n' > p.ndjson
	printf 'x:\n  rule: {field: n, op: gte, value: 1}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --save p.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-segment: p.ndjson:1: not a JSON object (got a string)"
	assert_equal "${stderr_lines[1]}" "jrn-segment: p.ndjson:2: customerId: expected a string, got a number"
	printf '{"actionType":"email","customerId":"c1","enrollment":{"x":1}}\n{"actionType":"email","customerId":"c1","holdout":"yes"}\n' > a.ndjson
	run --separate-stderr jrn-route a.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-route: a.ndjson:1: enrollment: expected a string, got an object"
	assert_equal "${stderr_lines[1]}" "jrn-route: a.ndjson:2: holdout: expected true or false, got a string"
	printf '{"actionType":"email","customerId":"c1","recipientEmail":"a@example.com","subject":5,"messageContent":"x"}\n' > s.ndjson
	run --separate-stderr jrn-send --dry-run s.ndjson
	assert_equal "${stderr_lines[0]}" "jrn-send: s.ndjson:1: subject: expected a string, got a number"
	printf '{"customerId":true}\n' > c.ndjson
	run --separate-stderr jrn partition --of 8 c.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn: partition: c.ndjson:1: customerId: expected a string (got a boolean)"
	# YAML files (jrn.yaml, segment and journey definitions): "a list", "a mapping"
	printf 'x:\n  rule: {field: n, op: in, value: {a: 1}}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:2: segment 'x', rule 1: in needs a list, got a mapping"
	printf 'segments:\n  drift: [1]\n' > bad.yaml
	run --separate-stderr jrn-segment --config bad.yaml < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: bad.yaml:2:10: segments.drift: expected a number, got a list"
	printf 'journeys:\n  dir: [c]\n' > bad.yaml
	run --separate-stderr jrn-route --config bad.yaml --check
	assert_failure 1
	assert_line -n 0 "bad.yaml:2:8: error: journeys.dir: expected a folder's name, not a list"
	mkdir j
	printf 'trigger: [x]\nsteps: [{wait: 1h}]\n' > j/t.yaml
	run --separate-stderr jrn-route --journeys j --check
	assert_failure 1
	assert_line --partial "j/t.yaml:1:10: error: trigger: expected a mapping (event, segment, rfm, stage, schedule or at), not a list"
}

@test "a control character an input puts in a message is written escaped: one message, one line (a newcomer's trial)" {
	# a recipient with CR LF and a header after it: jrn-send quoted it raw,
	# and the header stood on a line of its own in the log
	printf '{"actionType":"email","customerId":"x1","campaignId":"k","recipientEmail":"c@example.com\\r\\nBcc: evil@example.com","subject":"s","messageContent":"m"}\n' > a.ndjson
	run --separate-stderr jrn-send --dry-run a.ndjson
	assert_failure 3
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" "jrn-send: a.ndjson:1: recipient 'c@example.com\\r\\nBcc: evil@example.com': not an e-mail address: more than one '@'"
	# through jrn_say too: an ESC in a config value's message
	printf 'policy:\n  timeZone: "Mars\\e[31m"\n' > jrn.yaml
	run --separate-stderr jrn-route --dry-run < /dev/null
	assert_failure
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" 'Mars\\x1B\[31m'
}
