#!/usr/bin/env bats
# Issue 10, defects 1, 9 and parts of 10: templates, rules and YAML under
# hostile input, through every tool that takes them (build/mustache-render,
# jrn-send templates, jrn-segment rules and segment files, jrn-score lead
# conditions, jrn.yaml). Each case has a time limit: what used to run for
# minutes or until killed must be refused at once, naming its limit.

load helpers

: "${JRN_MUSTACHE:=$BATS_TEST_DIRNAME/../build/mustache-render}"

# After a jq program is stopped, what it held is left behind on purpose
# (lib/rules-eval.c): a sanitized build must not call that a leak.
export ASAN_OPTIONS=${JRN_SANITIZED:+detect_leaks=0}

# laughs LEVELS: a YAML mapping l0..lN, each level ten aliases of the last
laughs() {
	printf 'l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n'
	for i in $(seq 1 "$1"); do
		printf 'l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n' \
			"$i" "$i" $(for _ in 1 2 3 4 5 6 7 8 9 10; do echo $((i - 1)); done)
	done
}

# nested LEVELS: mappings aliased twice per level (the issue's 558-byte kind)
nested() {
	printf 'n0: &n0 {k: v, w: [1, 2]}\n'
	for i in $(seq 1 "$1"); do
		printf 'n%d: &n%d [*n%d, *n%d]\n' "$i" "$i" $((i - 1)) $((i - 1))
	done
}

# ---- Mustache: defect 1 -------------------------------------------------------

@test "mustache-render: {{=< >=}}<> is an empty tag, not a heap corruption; later cases render" {
	run timeout 10 "$JRN_MUSTACHE" <<'EOF'
{"template":"{{=< >=}}<>","data":{}}
{"template":"Hi {{=< >=}}<>","data":{}}
{"template":"{{=> >=}}>>","data":{}}
{"template":"{{=| |=}}||","data":{}}
{"template":"{{=| |=}}|a|","data":{"a":1}}
{"template":"Hi {{name}}","data":{"name":"Al"}}
EOF
	assert_success
	assert_line --index 0 '{"error":"line 1: empty tag"}'
	assert_line --index 1 '{"error":"line 1: empty tag"}'
	assert_line --index 2 '{"error":"line 1: empty tag"}'
	assert_line --index 3 '{"error":"line 1: empty tag"}'
	assert_line --index 4 '"1"'
	assert_line --index 5 '"Hi Al"'
}

@test "jrn-send: a template file 'Hi {{=< >=}}<>' rejects its record; the run goes on" {
	mkdir templates
	printf 'Hi {{=< >=}}<>\n' > templates/bad.sms
	printf 'Hi {{name}}\n' > templates/good.sms
	{
		printf '{"actionType":"sms","customerId":"c1","phone":"+14155550100","template":"good","name":"Al"}\n'
		printf '{"actionType":"sms","customerId":"c2","phone":"+14155550100","template":"bad"}\n'
		printf '{"actionType":"sms","customerId":"c3","phone":"+14155550100","template":"good","name":"Bo"}\n'
	} > a.ndjson
	run --separate-stderr timeout 10 jrn-send -q --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "simulated rejected simulated "
	assert_equal "$(jq -r .line rej.ndjson)" 2
	run jq -r .error rej.ndjson
	assert_output --partial 'bad.sms'
	assert_output --partial 'line 1: empty tag'
	assert_equal "$(ls spool | wc -l)" 2
}

# ---- templates: work bounds (defect 9) ----------------------------------------

@test "mustache-render: doubling partials, nested sections over a list, 16 MiB of output: each stops at its limit" {
	python3 - > cases.ndjson <<'EOF'
import json
parts = {'p%d' % i: '{{>p%d}}{{>p%d}}' % (i + 1, i + 1) for i in range(40)}
parts['p40'] = 'x'
print(json.dumps({"template": "{{>p0}}", "data": {}, "partials": parts}))
parts['p40'] = ''
print(json.dumps({"template": "{{>p0}}", "data": {}, "partials": parts}))
print(json.dumps({"template": "{{#l}}" * 6 + "{{/l}}" * 6, "data": {"l": list(range(100))}}))
print(json.dumps({"template": "{{#l}}{{{s}}}{{/l}}", "data": {"l": list(range(20)), "s": "y" * 1048576}}))
print(json.dumps({"template": "{{>self}}", "data": {}, "partials": {"self": "a{{>self}}"}}))
print(json.dumps({"template": "ok {{#l}}{{.}}{{/l}}", "data": {"l": [1, 2, 3]}}))
EOF
	run timeout 20 "$JRN_MUSTACHE" < cases.ndjson
	assert_success
	assert_line --index 0 '{"error":"line 1: template renders more than 1000000 tags and texts (the limit)"}'
	assert_line --index 1 '{"error":"line 1: template renders more than 1000000 tags and texts (the limit)"}'
	assert_line --index 2 '{"error":"line 1: template renders more than 1000000 tags and texts (the limit)"}'
	assert_line --index 3 '{"error":"template renders more than 16 MiB (the limit)"}'
	assert_line --index 4 '{"error":"line 1: sections and partials nested deeper than 512"}'
	assert_line --index 5 '"ok 123"'
}

@test "jrn-send: doubling partials and nested sections over a record's list reject that record, naming the limit" {
	mkdir templates
	for i in $(seq 0 39); do
		printf '{{>p%d}}{{>p%d}}' $((i + 1)) $((i + 1)) > "templates/p$i.mustache"
	done
	printf 'x' > templates/p40.mustache
	printf 'Hi {{>p0}}\n' > templates/boom.sms
	printf '{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}\n' > templates/deep.sms
	printf 'Hi {{name}}\n' > templates/good.sms
	l=$(seq -s, 0 99)
	{
		printf '{"actionType":"sms","customerId":"c1","phone":"+14155550100","template":"boom"}\n'
		printf '{"actionType":"sms","customerId":"c2","phone":"+14155550100","template":"good","name":"Al"}\n'
		printf '{"actionType":"sms","customerId":"c3","phone":"+14155550100","template":"deep","l":[%s]}\n' "$l"
	} > a.ndjson
	run --separate-stderr timeout 20 jrn-send -q --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "rejected simulated rejected "
	run jq -r .error rej.ndjson
	assert_line --index 0 --partial 'boom.sms'
	assert_line --index 0 --partial 'template renders more than 1000000 tags and texts (the limit)'
	assert_line --index 1 --partial 'deep.sms'
	assert_line --index 1 --partial 'template renders more than 1000000 tags and texts (the limit)'
	assert_equal "$(ls spool | wc -l)" 1
}

# ---- YAML aliases (defect 9) --------------------------------------------------

@test "jrn.yaml of nested aliases or a billion laughs: refused at once, naming the limit, from every tool" {
	{ printf 'sources:\n'; laughs 8 | sed 's/^/  /'; } > jrn.yaml
	for tool in "jrn-segment --list --segments /dev/null" "jrn-score rfm" "jrn-send" "jrn-ingest"; do
		SECONDS=0
		run --separate-stderr timeout 10 $tool < /dev/null
		assert_failure 1
		assert_regex "$stderr" "^jrn-[a-z]+: jrn.yaml:[0-9]+:[0-9]+: aliases expand to more than 100000 nodes \(the limit\)$"
		[ "$SECONDS" -le 2 ]
	done
	{ printf 'sources:\n'; nested 25 | sed 's/^/  /'; } > jrn.yaml
	[ "$(wc -c < jrn.yaml)" -lt 700 ]
	run --separate-stderr timeout 10 jrn-segment --list --segments /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: jrn.yaml:16:14: aliases expand to more than 100000 nodes (the limit)"
}

@test "segment files of nested aliases or a billion laughs: --list refused at once, naming the limit" {
	{ nested 25; printf 'vip:\n  rule: {plan: pro}\n'; } > s.yaml
	[ "$(wc -c < s.yaml)" -lt 600 ]
	run --separate-stderr timeout 10 jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:15: aliases expand to more than 100000 nodes (the limit)"
	{ laughs 8; printf 'vip:\n  rule: {plan: pro}\n'; } > s.yaml
	printf '{"customerId":"c1","plan":"pro"}\n' > in.ndjson
	run --separate-stderr timeout 10 jrn-segment --segments s.yaml in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:5: aliases expand to more than 100000 nodes (the limit)"
	# aliases under the limit still work
	printf 'pro:\n  rule: &r {plan: pro}\nvip:\n  rule: *r\n' > s.yaml
	run --separate-stderr timeout 10 jrn-segment --segments s.yaml --list
	assert_success
	assert_output $'pro\nvip'
}

# ---- rules: matches patterns and jq (defect 9) --------------------------------

@test "jrn-segment: a matches pattern whose counts nest past the limit is refused before compiling, with its file:line" {
	printf 'vip:\n  rule: {plan: pro}\nbad:\n  rule:\n    email: {matches: "((a{1,100}){1,100}){1,100}"}\n' > s.yaml
	SECONDS=0
	run --separate-stderr timeout 10 jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:5: segment 'bad', rule 1: matches: counted repetitions expand the pattern to more than 4096 elements (the limit)"
	[ "$SECONDS" -le 2 ]
	printf 'bad:\n  rule: {field: email, op: matches, value: "x{1,5000}"}\n' > s.yaml
	run --separate-stderr timeout 10 jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:2: segment 'bad', rule 1: matches: count 5000 in a repetition {...} is above 1000 (the limit)"
	printf 'ok:\n  rule: {email: {matches: "^[a-z]{1,20}@shop[.]example$"}}\n' > s.yaml
	printf '{"customerId":"c1","email":"al@shop.example"}\n' > in.ndjson
	run --separate-stderr timeout 10 jrn-segment --segments s.yaml in.ndjson
	assert_success
	assert_output '{"customerId":"c1","email":"al@shop.example","segments":["ok"]}'
}

@test "jrn-segment: a jq leaf that never ends stops the run after 1 s of CPU, naming the record, rule and limit" {
	printf 'vip:\n  rule: {plan: pro}\nloop:\n  rule: {jq: "if .loop then (def f: f; f) else false end"}\n' > s.yaml
	{
		printf '{"customerId":"c1","plan":"pro"}\n'
		printf '{"customerId":"c2","loop":true}\n'
		printf '{"customerId":"c3","plan":"pro"}\n'
	} > in.ndjson
	run --separate-stderr timeout 20 jrn-segment --segments s.yaml in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: in.ndjson:2: segment 'loop', rule 1: jq ran for more than 1 s of CPU on one record (the limit); the run stops, as libjq cannot be interrupted safely"
	assert_output '{"customerId":"c1","plan":"pro","segments":["vip"]}'
}

@test "jrn-score lead: a condition with a jq loop stops the run at its limit; a bad pattern is a config error" {
	cat > jrn.yaml <<'Y'
scoring:
  lead:
    demographic:
      - {name: loop, points: 5, condition: {jq: "def f: f; f"}}
Y
	printf '{"customerId":"c1","traits":{"jobTitle":"CTO"}}\n' > in.ndjson
	run --separate-stderr timeout 20 jrn-score lead in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-score: segment 'loop', rule 1: jq ran for more than 1 s of CPU on one record (the limit); the run stops, as libjq cannot be interrupted safely"
	cat > jrn.yaml <<'Y'
scoring:
  lead:
    demographic:
      - {name: re, points: 5, condition: {field: traits.jobTitle, op: matches, value: "((a{1,100}){1,100}){1,100}"}}
Y
	SECONDS=0
	run --separate-stderr timeout 10 jrn-score lead in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-score: jrn.yaml:4:9: scoring.lead.demographic[0]: condition: segment 're', rule 1: matches: counted repetitions expand the pattern to more than 4096 elements (the limit)"
	[ "$SECONDS" -le 2 ]
}

# ---- smaller (defect 10) ------------------------------------------------------

@test "segment files refuse YAML tags as jrn.yaml does, on keys as on values" {
	printf '!foo vip:\n  rule: {plan: pro}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:1: unsupported tag '!foo'"
	printf 'vip:\n  rule: {plan: !foo pro}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:2: unsupported tag '!foo'"
	printf 'db:\n  !foo path: x.db\n' > jrn.yaml
	run --separate-stderr jrn-segment --segments /dev/null --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: jrn.yaml:2:3: unsupported tag '!foo'"
	rm jrn.yaml
	printf '!!str vip:\n  rule: {plan: !!str pro}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --list
	assert_success
	assert_output vip
}

@test "jrn-segment --segments DIR says it is a directory; a second document is named" {
	mkdir d
	run --separate-stderr jrn-segment --segments d --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: d: Is a directory"
	printf 'a\n---\nb\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:2: a second YAML document: a segment file is one document"
}

@test "jrn-segment: --now before 1970 with a huge within does not overflow (UBSan in make asan)" {
	ev page.viewed c1 | sed 's/2025-06-01/1850-06-01/' | jrn-ingest -q
	printf 'ever:\n  rule: {event: page.viewed, within: 106751991167d}\nrecent:\n  rule: {event: page.viewed, within: 30d}\nborn:\n  rule: {t: {gte: "15250000w ago"}}\n' > s.yaml
	printf '{"customerId":"c1","t":"1800-01-01"}\n' > in.ndjson
	run --separate-stderr jrn-segment --segments s.yaml --now 1900-01-01T00:00:00Z in.ndjson
	assert_success
	assert_output '{"customerId":"c1","t":"1800-01-01","segments":["ever","born"]}'
}
