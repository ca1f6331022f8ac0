#!/usr/bin/env bats
# The configuration's part of the pipeline contract (issue 9): an unset
# ${NAME} in jrn.yaml fails only the tools that read its key, naming the
# key and the variable; the others run as if it were not there.

load helpers

# Fault 5's jrn.yaml: the unsubscribe secret from the environment.
config() {
	cat > jrn.yaml <<'Y'
send:
  unsubscribe:
    secret: ${UNSUB_SECRET}
Y
}

store_one() {
	ev order.completed c1 '"properties":{"amount":10}' | jrn-ingest -q
}

@test "fault 5: with UNSUB_SECRET unset, jrn-ingest, jrn-score rfm and jrn-segment --list succeed" {
	config
	unset UNSUB_SECRET
	run --separate-stderr jrn-ingest < <(ev order.completed c1 '"properties":{"amount":10}')
	assert_success
	refute_output --partial UNSUB_SECRET
	[[ "$stderr" != *UNSUB_SECRET* ]]
	assert_equal "$(rows 'SELECT count(*) FROM events')" 1

	run --separate-stderr jrn-score rfm < /dev/null
	assert_success
	[[ "$stderr" != *UNSUB_SECRET* ]]

	run --separate-stderr jrn-segment --list
	assert_success
	assert_line vip
	[[ "$stderr" != *UNSUB_SECRET* ]]
}

@test "fault 5: jrn-send, which reads send.unsubscribe.secret, fails naming the key and the variable, exit 1" {
	config
	unset UNSUB_SECRET
	store_one
	run --separate-stderr jrn-send --due
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" 'jrn-send: jrn.yaml:3:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set'
}

@test "fault 5: an empty UNSUB_SECRET is set (it expands to nothing): jrn-send gets past the config" {
	config
	store_one
	UNSUB_SECRET= run --separate-stderr jrn-send --due
	[[ "$stderr" != *"is not set"* ]]
	UNSUB_SECRET=s3cret run --separate-stderr jrn-send --due
	assert_success
	[[ "$stderr" != *"is not set"* ]]
}

@test "an unset variable in a tool's own section fails that tool only, at the place of the variable" {
	cat > jrn.yaml <<'Y'
segments:
  file: "${SEG_DIR}/segments.yaml"
scoring:
  rfm:
    window: ${RFM_WINDOW}
Y
	unset SEG_DIR RFM_WINDOW
	run --separate-stderr jrn-segment --list
	assert_failure 1
	assert_equal "$stderr" 'jrn-segment: jrn.yaml:2:10: segments.file: ${SEG_DIR} is not set'
	run --separate-stderr jrn-score rfm < /dev/null
	assert_failure 1
	assert_equal "$stderr" 'jrn-score: jrn.yaml:5:13: scoring.rfm.window: ${RFM_WINDOW} is not set'
	run --separate-stderr jrn-ingest < <(ev order.completed c1 '"properties":{"amount":10}')
	assert_success
	# set, the duration is checked as any other
	RFM_WINDOW=3x run --separate-stderr jrn-score rfm < /dev/null
	assert_failure 1
	assert_regex "$stderr" '^jrn-score: jrn.yaml:5:13: scoring.rfm.window: expected a duration'
	RFM_WINDOW=30d run --separate-stderr jrn-score rfm < /dev/null
	assert_success
}

@test "db is every tool's: an unset variable there fails them all" {
	printf 'db:\n  path: ${STATE_DIR}/jrn.db\n' > jrn.yaml
	unset STATE_DIR
	for tool in jrn-ingest jrn-segment jrn-send; do
		run --separate-stderr "$tool" < /dev/null
		assert_failure 1
		assert_equal "$stderr" "$tool: jrn.yaml:2:9: db.path: \${STATE_DIR} is not set"
	done
	run --separate-stderr jrn-score rfm < /dev/null
	assert_failure 1
	assert_equal "$stderr" 'jrn-score: jrn.yaml:2:9: db.path: ${STATE_DIR} is not set'
}

@test "a provider's password: jrn-send names the list item" {
	cat > jrn.yaml <<'Y'
providers:
  email:
    type: smtp
    url: smtp://127.0.0.1:1
    password: ${SMTP_PASSWORD}
Y
	unset SMTP_PASSWORD
	run --separate-stderr jrn-send --due
	assert_failure 1
	assert_equal "$stderr" 'jrn-send: jrn.yaml:5:15: providers.email[0].password: ${SMTP_PASSWORD} is not set'
	run --separate-stderr jrn-segment --list
	assert_success
}

@test "bad input: a malformed reference is still an error for every tool" {
	printf 'send:\n  from: "x ${BAD"\n' > jrn.yaml
	run --separate-stderr jrn-segment --list
	assert_failure 1
	assert_regex "$stderr" "^jrn-segment: jrn.yaml:2:12: '\\$\\{' without a closing '\\}'"
	printf 'send:\n  from: ${1X}\n' > jrn.yaml
	run --separate-stderr jrn-ingest < /dev/null
	assert_failure 1
	assert_regex "$stderr" "bad environment variable name"
}

@test "fault 9: rule operators accept gt, lt, eq, ne as their long names" {
	cat > s.yaml <<'Y'
big: {rule: {field: n, op: gt, value: 5}}
small: {rule: {field: n, op: lt, value: 5}}
five: {rule: {field: n, op: eq, value: 5}}
notfive: {rule: {n: {ne: 5}}}
Y
	printf '{"n":3}\n{"n":5}\n{"n":9}\n' > p.ndjson
	run --separate-stderr jrn-segment --segments s.yaml p.ndjson
	assert_success
	assert_line --index 0 '{"n":3,"segments":["small","notfive"]}'
	assert_line --index 1 '{"n":5,"segments":["five"]}'
	assert_line --index 2 '{"n":9,"segments":["big","notfive"]}'
	printf 'x:\n  rule: {field: n, op: greater, value: 5}\n' > s.yaml
	run --separate-stderr jrn-segment --segments s.yaml --list
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: s.yaml:2: segment 'x', rule 1: unknown operator 'greater' (did you mean 'greater_than'?)"
}
