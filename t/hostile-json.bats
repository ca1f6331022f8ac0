#!/usr/bin/env bats
# Hostile JSON (issue 10, defects 2, 3, 7, 8 and the JSON parts of 10)
# through every tool that reads records: jrn-ingest, jrn-segment, jrn-score
# lead, jrn events, and the Mustache renderer. Each case: the exit status,
# the message, and the good records around it kept. Every run has a time
# limit.

load helpers

T() { timeout 60 "$@"; }

# an event of customer $1 with id $2 and extra members $3
evi() { printf '{"id":"%s","type":"note","customerId":"%s","timestamp":"2025-06-01T12:00:00.000Z"%s}\n' "$2" "$1" "${3:+,$3}"; }
# an event without an id (the id is derived from its content)
evn() { printf '{"type":"order.completed","customerId":"c1","timestamp":"2025-06-01T12:00:00.000Z","properties":{"amount":5,"orderNo":%s}}\n' "$1"; }

# ---- defect 2: numbers keep the text they were written with --------------

@test "derived ids: numbers a double cannot tell apart give different events" {
	for pair in "9007199254740992 9007199254740993" "1 1.0000000000000001" "1e400 1e401" \
		    "0 1e-400" "10215234567890123 10215234567890124"; do
		rm -f jrn.db*
		set -- $pair
		{ evn "$1"; evn "$2"; } > in.ndjson
		run --separate-stderr T jrn-ingest in.ndjson
		assert_success
		assert_equal "$stderr" "jrn-ingest: 2 stored, 0 duplicate, 0 rejected"
		assert_equal "$(rows 'SELECT count(DISTINCT id) FROM events')" 2
		# the same line again is still the same event
		run --separate-stderr T jrn-ingest in.ndjson
		assert_equal "$stderr" "jrn-ingest: 0 stored, 2 duplicate, 0 rejected"
	done
}

@test "stored bodies and jrn-ingest's output keep the digits as written" {
	nums='[9007199254740993,123456789012345678901,1.0000000000000001,1e400,-1e-400,0.1,1.0,1E2,1.5]'
	printf '{"type":"n","customerId":"c1","timestamp":"2025-06-01T12:00:00Z","properties":{"n":%s}}\n' "$nums" > in.ndjson
	printf '{"id":"k","type":"n","customerId":"c1","timestamp":"2025-06-01T12:00:00+00:00","properties":{"n":%s}}\n' "$nums" >> in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_success
	# rewritten (a derived id, a canonical time): literals as written,
	# numbers a double holds exactly as before (1.0 is 1, 1E2 is 100)
	want='[9007199254740993,123456789012345678901,1.0000000000000001,1e400,-1e-400,0.1,1,100,1.5]'
	assert_equal "$(jq -c '.properties.n' <<< "${lines[0]}" | tr -d ' ')" "$(jq -c . <<< "$want")"
	[[ "${lines[0]}" == *"\"n\":$want"* ]]
	# kept as its input bytes (only the time spliced in): as written
	[[ "${lines[1]}" == *"\"n\":$nums"* ]]
	run rows "SELECT count(*) FROM events WHERE instr(body, '$want') > 0"
	assert_output 1
	run rows "SELECT count(*) FROM events WHERE instr(body, '$nums') > 0"
	assert_output 1
}

@test "jrn-segment and jrn-score lead pass events through byte for byte and keep profile digits" {
	line='{"type":"order.completed","customerId":"c1","properties":{"orderId":10215234567890123,"big":123456789012345678901,"x":1.0000000000000001,"y":1e400}}'
	prof='{"customerId":"c1","orderId":10215234567890123,"big":123456789012345678901,"tiny":1e-400}'
	printf 'all:\n  rule: {field: customerId, op: is_set}\n' > s.yaml
	printf '%s\n%s\n' "$line" "$prof" > in.ndjson
	run --separate-stderr T jrn-segment --segments s.yaml in.ndjson
	assert_success
	assert_line --index 0 "$line"
	[[ "${lines[1]}" == '{"customerId":"c1","orderId":10215234567890123,"big":123456789012345678901,"tiny":1e-400,'* ]]
	run --separate-stderr T jrn-score lead --db s.db in.ndjson
	assert_success
	assert_line --index 0 "$line"
	[[ "${lines[1]}" == '{"customerId":"c1","orderId":10215234567890123,"big":123456789012345678901,"tiny":1e-400,'* ]]
}

@test "Mustache: Order #{{order.id}} renders long ids exactly, and in JSON parts" {
	[ -x "${JRN_MUSTACHE:-}" ] || JRN_MUSTACHE=$BATS_TEST_DIRNAME/../build/mustache-render
	run T "$JRN_MUSTACHE" <<'J'
{"template":"Order #{{order.id}}","data":{"order":{"id":10215234567890123}}}
{"template":"Order #{{order.id}}","data":{"order":{"id":123456789012345678901}}}
{"template":"{{x}} {{y}} {{z}}","data":{"x":1.0000000000000001,"y":0.1,"z":1E2}}
J
	assert_success
	assert_line --index 0 '"Order #10215234567890123"'
	assert_line --index 1 '"Order #123456789012345678901"'
	assert_line --index 2 '"1.0000000000000001 0.1 100"'
}

# ---- defect 3: lone surrogate escapes, one rule on every path -------------

@test "jrn-ingest: a lone surrogate is rejected with or without an id, pairs are fine" {
	{
		evi c1 g1
		evi c1 s1 '"note":"\ud800"'
		printf '%s\n' '{"type":"note","customerId":"c1","note":"\ud800"}'
		printf '%s\n' '{"type":"note","customerId":"c1","note":"a\udc00b"}'
		evi c1 s2 '"note":"\udc00"'
		evi c1 s3 '"note":"\ud800\u0041"'
		evi c1 g2 '"note":"\ud83d\ude00"'
	} > in.ndjson
	run --separate-stderr T jrn-ingest --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: invalid JSON at byte 91: lone surrogate escape \ud800'
	assert_equal "${stderr_lines[1]}" 'jrn-ingest: in.ndjson:3: invalid JSON at byte 42: lone surrogate escape \ud800'
	assert_equal "${stderr_lines[2]}" 'jrn-ingest: in.ndjson:4: invalid JSON at byte 43: lone surrogate escape \udc00'
	assert_equal "${stderr_lines[3]}" 'jrn-ingest: in.ndjson:5: invalid JSON at byte 91: lone surrogate escape \udc00'
	assert_equal "${stderr_lines[4]}" 'jrn-ingest: in.ndjson:6: invalid JSON at byte 91: lone surrogate escape \ud800'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
	assert_equal "$(rows "SELECT body ->> '\$.note' FROM events WHERE id = 'g2'")" "😀"
	assert_equal "$(wc -l < rej.ndjson)" 5
}

@test "jrn-segment and jrn-score lead: a lone surrogate in a profile rejects that record" {
	printf 'all:\n  rule: {field: customerId, op: is_set}\n' > s.yaml
	printf '%s\n' '{"customerId":"c1"}' '{"customerId":"c2","n":"\ud800"}' '{"customerId":"c3"}' > in.ndjson
	run --separate-stderr T jrn-segment --segments s.yaml in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_regex "$stderr" 'in.ndjson:2: invalid JSON at byte 25: lone surrogate escape \\ud800'
	run --separate-stderr T jrn-score lead --db s.db in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_regex "$stderr" 'in.ndjson:2: invalid JSON at byte 25: lone surrogate escape \\ud800'
}

@test "a lone surrogate stored by an earlier version stops no later tool for everyone" {
	{ evi c1 e1 '"properties":{"note":"x"}'; evi c2 e2 '"properties":{"note":"x"}'; evi c3 e3 '"properties":{"note":"x"}'; } |
		T jrn-ingest -q > /dev/null
	sqlite3 jrn.db "UPDATE events SET body = replace(body, '\"x\"', '\"\\ud800\"') WHERE id = 'e2'"
	printf 'noted:\n  rule: {event: note, where: {properties.note: x}}\n' > s.yaml
	# every customer of the state file (one scan of the events)
	run --separate-stderr T jrn-segment --segments s.yaml --all
	assert_failure 3
	assert_equal "$(jq -c '{customerId, segments}' <<<"$output")" "$(printf '%s\n' '{"customerId":"c1","segments":["noted"]}' '{"customerId":"c3","segments":["noted"]}')"
	assert_equal "${stderr_lines[0]}" "jrn-segment: state:2: customer c2: a stored event of type note is not JSON as jrn reads it"
	assert_equal "${stderr_lines[1]}" "jrn-segment: 3 customers of the state file, 1 rejected"
	# profiles from stdin (the events of each customer read when needed)
	printf '%s\n' '{"customerId":"c1"}' '{"customerId":"c2"}' '{"customerId":"c3"}' > p.ndjson
	run --separate-stderr T jrn-segment --segments s.yaml p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_regex "$stderr" 'p.ndjson:2: a stored event of type note is not JSON as jrn reads it: invalid JSON at byte [0-9]+: lone surrogate escape \\ud800'
	# jrn-score lead with a condition on the stored events
	printf 'scoring:\n  lead:\n    behavioral:\n      - {name: n, event: note, condition: {properties.note: x}, points: 5}\n' > jrn.yaml
	run --separate-stderr T jrn-score lead p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -r .lead.score <<< "${lines[1]}")" 5
	assert_regex "$stderr" 'p.ndjson:2: stored event e2 does not parse: invalid JSON at byte [0-9]+: lone surrogate escape \\ud800'
	rm jrn.yaml
	# jrn events fix says why it cannot read it
	run --separate-stderr T jrn events fix e2 --set properties.note=y
	assert_failure 1
	assert_regex "$stderr" 'e2: the stored body is not JSON as jrn reads it: invalid JSON at byte [0-9]+: lone surrogate escape \\ud800'
}

# ---- defect 7: NUL and control characters in ids --------------------------

@test "jrn-ingest: ids with control characters are rejected, NUL elsewhere is kept" {
	{
		evi c1 g1
		printf '%s\n' '{"id":"a1","type":"note","customerId":"spring\u0000x"}'
		printf '%s\n' '{"id":"a\u001fb","type":"note","customerId":"c1"}'
		printf '%s\n' '{"type":"note","userId":"u\u0000","event":"x"}'
		printf '%s\n' '{"type":"note","messageId":"m\u0007","customerId":"c1"}'
		printf '%s\n' '{"id":"a2","type":"note","customerId":"c1\u007f","timestamp":"2025-06-01T12:00:00Z"}'
		printf '%s\n' '{"id":"a3","type":"consent.granted","customerId":"c1","properties":{"channel":"sms\u0000"}}'
		evi c1 g2 '"properties":{"note":"a\u0000b"}'
	} > in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: customerId: control character U+0000 at byte 7'
	assert_equal "${stderr_lines[1]}" 'jrn-ingest: in.ndjson:3: id: control character U+001F at byte 2'
	assert_equal "${stderr_lines[2]}" 'jrn-ingest: in.ndjson:4: userId: control character U+0000 at byte 2'
	assert_equal "${stderr_lines[3]}" 'jrn-ingest: in.ndjson:5: messageId: control character U+0007 at byte 2'
	assert_equal "${stderr_lines[4]}" 'jrn-ingest: in.ndjson:6: customerId: control character U+007F at byte 3'
	assert_equal "${stderr_lines[5]}" 'jrn-ingest: in.ndjson:7: properties.channel: control character U+0000 at byte 4'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
	assert_equal "$(rows "SELECT instr(body, '\"note\":\"a\\u0000b\"') > 0 FROM events WHERE id = 'g2'")" 1
}

@test "jrn-segment and jrn-score lead: a customerId with a control character rejects that record" {
	printf 'all:\n  rule: {field: customerId, op: is_set}\n' > s.yaml
	printf '%s\n' '{"customerId":"c1"}' '{"customerId":"spring\u0000x"}' '{"customerId":"c\u001f"}' '{"customerId":"c3"}' > in.ndjson
	run --separate-stderr T jrn-segment --segments s.yaml in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'jrn-segment: in.ndjson:2: customerId: control character U+0000 at byte 7'
	assert_equal "${stderr_lines[1]}" 'jrn-segment: in.ndjson:3: customerId: control character U+001F at byte 2'
	run --separate-stderr T jrn-score lead --db s.db in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'jrn-score: in.ndjson:2: customerId: control character U+0000 at byte 7'
	assert_equal "${stderr_lines[1]}" 'jrn-score: in.ndjson:3: customerId: control character U+001F at byte 2'
}

# ---- defect 8: a member name twice ---------------------------------------

@test "jrn-ingest: a name twice is rejected at any depth, with the name" {
	{
		evi c1 g1
		printf '%s\n' '{"type":"a","customerId":"c1","type":"b"}'
		printf '%s\n' '{"id":"d1","type":"a","customerId":"c1","customerId":"c2"}'
		printf '%s\n' '{"id":"d2","id":"d3","type":"a","customerId":"c1"}'
		evi c1 d4 '"properties":{"a":1,"b":[{"c":1,"c":2}]}'
		evi c1 d5 '"properties":{"a":1,"\u0061":2}'
		evi c1 g2 '"properties":{"a":{"a":1},"b":{"a":1}}'
	} > in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: invalid JSON at byte 31: duplicate member name "type"'
	assert_equal "${stderr_lines[1]}" 'jrn-ingest: in.ndjson:3: invalid JSON at byte 41: duplicate member name "customerId"'
	assert_equal "${stderr_lines[2]}" 'jrn-ingest: in.ndjson:4: invalid JSON at byte 12: duplicate member name "id"'
	assert_equal "${stderr_lines[3]}" 'jrn-ingest: in.ndjson:5: invalid JSON at byte 115: duplicate member name "c"'
	assert_equal "${stderr_lines[4]}" 'jrn-ingest: in.ndjson:6: invalid JSON at byte 103: duplicate member name "a"'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
	# the same on the jv path
	rm -f jrn.db*
	JRN_INGEST_JV=1 run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[4]}" 'jrn-ingest: in.ndjson:6: invalid JSON at byte 103: duplicate member name "a"'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
}

@test "jrn-segment and jrn-score lead: a name twice rejects that record" {
	printf 'all:\n  rule: {field: customerId, op: is_set}\n' > s.yaml
	printf '%s\n' '{"customerId":"c1"}' '{"customerId":"c1","customerId":"c2"}' '{"customerId":"c3","t":{"p":1,"p":2}}' '{"customerId":"c4"}' > in.ndjson
	run --separate-stderr T jrn-segment --segments s.yaml in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'jrn-segment: in.ndjson:2: invalid JSON at byte 20: duplicate member name "customerId"'
	assert_equal "${stderr_lines[1]}" 'jrn-segment: in.ndjson:3: invalid JSON at byte 31: duplicate member name "p"'
	run --separate-stderr T jrn-score lead --db s.db in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_equal "${stderr_lines[0]}" 'jrn-score: in.ndjson:2: invalid JSON at byte 20: duplicate member name "customerId"'
}

# ---- defect 10: the smaller ones -----------------------------------------

@test "jrn-ingest: properties null is rejected as jrn-ingest(1) says" {
	{ evi c1 g1; evi c1 p1 '"properties":null'; evi c1 g2 '"traits":null'; } > in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: properties: expected an object, got null'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
}

@test "nesting: 256 levels are read, 257 rejected, in every tool" {
	deep() { printf '{"customerId":"c1","id":"%s","type":"n","timestamp":"2025-06-01T12:00:00Z","d":' "$2"; printf '%*s' "$1" '' | tr ' ' '['; printf '%*s' "$1" '' | tr ' ' ']'; printf '}\n'; }
	{ deep 255 ok; deep 256 bad; } > in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: invalid JSON at byte 336: nested deeper than 256 levels'
	JRN_INGEST_JV=1 run --separate-stderr T jrn-ingest --db jv.db in.ndjson
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: invalid JSON at byte 336: nested deeper than 256 levels'
	sed 's/"type":"n",//' in.ndjson > p.ndjson
	printf 'all:\n  rule: {field: customerId, op: is_set}\n' > s.yaml
	run --separate-stderr T jrn-segment --segments s.yaml p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 1
	assert_equal "${stderr_lines[0]}" 'jrn-segment: p.ndjson:2: invalid JSON at byte 325: nested deeper than 256 levels'
	run --separate-stderr T jrn-score lead --db s.db p.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 1
	assert_equal "${stderr_lines[0]}" 'jrn-score: p.ndjson:2: invalid JSON at byte 325: nested deeper than 256 levels'
}

@test "a byte-order mark past the first line is named" {
	{ evi c1 g1; printf '\xef\xbb\xbf'; evi c1 b1; evi c1 g2; } > in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: invalid JSON at byte 1: byte-order mark (U+FEFF) not at the start of the input'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
	printf 'all:\n  rule: {field: customerId, op: is_set}\n' > s.yaml
	run --separate-stderr T jrn-segment --segments s.yaml in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-segment: in.ndjson:2: invalid JSON at byte 1: byte-order mark (U+FEFF) not at the start of the input'
	# on the first line it is removed
	{ printf '\xef\xbb\xbf'; evi c1 g3; } > first.ndjson
	run --separate-stderr T jrn-ingest first.ndjson
	assert_success
}

@test "jrn-ingest: an amount not finite or beyond 1e15 is rejected per event" {
	{
		evi c1 g1 '"properties":{"amount":12.5}'
		printf '%s\n' '{"id":"o1","type":"order.completed","customerId":"c1","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":1e308}}'
		printf '%s\n' '{"type":"order.completed","customerId":"c1","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":1e308}}'
		printf '%s\n' '{"id":"o2","type":"order.completed","customerId":"c1","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":-1e400}}'
		printf '%s\n' '{"id":"o3","type":"order.completed","customerId":"c1","timestamp":"2025-06-01T12:00:00Z","properties":{"total":"1000000000000001"}}'
		printf '%s\n' '{"id":"g2","type":"order.completed","customerId":"c1","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":999999999999999.9}}'
	} > in.ndjson
	run --separate-stderr T jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" 'jrn-ingest: in.ndjson:2: properties.amount: amount 1e308 is out of range (|amount| <= 1e15)'
	assert_equal "${stderr_lines[1]}" 'jrn-ingest: in.ndjson:3: properties.amount: amount 1e308 is out of range (|amount| <= 1e15)'
	assert_equal "${stderr_lines[2]}" 'jrn-ingest: in.ndjson:4: properties.amount: amount -1e400 is out of range (|amount| <= 1e15)'
	assert_equal "${stderr_lines[3]}" 'jrn-ingest: in.ndjson:5: properties.total: amount 1000000000000001 is out of range (|amount| <= 1e15)'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
	run T jrn-score rfm
	assert_success
}
