#!/usr/bin/env bats
# jrn doctor: every unset ${NAME} of jrn.yaml with its key, and the state file.

load helpers

yaml() {
	printf 'db:\n  path: s.db\nsend:\n  unsubscribe:\n    secret: ${UNSUB_SECRET}\n' > jrn.yaml
}

@test "jrn doctor names every unset \${NAME} with file, line, column and key; exit 1" {
	yaml
	unset UNSUB_SECRET
	run jrn doctor
	assert_failure 1
	assert_line 'jrn.yaml:5:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set'
	assert_line --partial 's.db: no state file yet'
	[ ! -e s.db ] # doctor creates nothing
}

@test "jrn doctor: all set and a state file in order: exit 0" {
	yaml
	UNSUB_SECRET=x jrn-ingest -q < /dev/null
	run env UNSUB_SECRET=x jrn doctor
	assert_success
	assert_line 'jrn.yaml: configuration, every ${NAME} set'
	assert_line --regexp '^s\.db: state file, schema ([0-9]+) of \1$'
}

@test "jrn doctor: a state file that is not SQLite, and a bad config, are problems" {
	yaml
	echo junk > s.db
	run env UNSUB_SECRET=x jrn doctor
	assert_failure 1
	assert_line --partial 's.db: not a readable state file'
	printf 'db:\n  pth: x\n' > bad.yaml
	run jrn doctor --config bad.yaml
	assert_failure 1
	assert_line --partial 'bad.yaml:2:3:'
	run jrn doctor extra
	assert_failure 2
}

# doctor_bad YAML: jrn doctor over ./jrn.yaml holding YAML (printf %b)
doctor_bad() {
	printf '%b' "$1" > jrn.yaml
	run --separate-stderr jrn doctor
}

@test "jrn doctor runs each tool's --check-config: its message at FILE:LINE:COLUMN on stderr, the tool named on stdout, exit 1" {
	doctor_bad 'policy:\n  timeZone: Mars/Olympus\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:13: policy.timeZone: 'Mars/Olympus' is not a time zone of the system's zoneinfo"
	assert_line 'jrn-route: would not start (jrn-route --check-config: exit 1)'
	doctor_bad 'policy:\n  fallback: [email, pigeon]\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:2:21: policy.fallback[1]: expected whatsapp, sms or email, each once"
	doctor_bad 'policy:\n  caps:\n    email:\n      max: 3\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:4:7: policy.caps.email: give both max and window"
	doctor_bad 'policy:\n  quietHours:\n    start: "21:00"\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: jrn.yaml:3:5: policy.quietHours: give both start and end (HH:MM, local time)"
	doctor_bad 'scoring:\n  rfm:\n    weights: [4,3]\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-score: jrn.yaml:3:14: scoring.rfm.weights: expected three numbers [R, F, M]"
	assert_line 'jrn-score: would not start (jrn-score --check-config: exit 1)'
	doctor_bad 'ai:\n  model: nosuch\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:2:10: ai.model: no such model 'nosuch' (choices: rules)"
	doctor_bad 'sources:\n  list:\n    - name: crm\n      type: file\n      path: crm.ndjson\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:7: sources.list[0] (crm): crm.ndjson: No such file or directory"
	doctor_bad 'providers:\n  email:\n    - type: smtp\n      url: smtp://127.0.0.1:1\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-send: jrn.yaml:3:7: providers.email[0]: smtp 'smtp' sends real mail but there is no sender address: set send.from (or from: on the provider)"
	[ ! -e jrn.db ] # nothing made
}

@test "jrn doctor checks jobs: as jrn run reads them, at the job's place" {
	doctor_bad 'jobs:\n  daily: jrn-ingest | jrn-route\n  x: 5\n'
	assert_failure 1
	assert_equal "$stderr" "jrn: run x: jrn.yaml:3:6: jobs.x is neither a pipeline string nor a list of stages"
	# jrn run says it the same way
	run --separate-stderr jrn run x
	assert_failure 2
	assert_equal "$stderr" "jrn: run x: jrn.yaml:3:6: jobs.x is neither a pipeline string nor a list of stages"
	doctor_bad 'jobs:\n  daily: "jrn-ingest || jrn-route"\n'
	assert_failure 1
	assert_equal "$stderr" "jrn: run daily: jrn.yaml:2:10: jobs.daily: '||' is not a pipe; write the stages as a list"
}

@test "jrn doctor: several tools stopped, each said; --config passed on to the tools" {
	printf 'ai:\n  model: nosuch\nscoring:\n  rfm:\n    weights: [1]\n' > other.yaml
	run --separate-stderr jrn doctor --config other.yaml
	assert_failure 1
	assert_equal "$stderr" "jrn-score: other.yaml:5:14: scoring.rfm.weights: expected three numbers [R, F, M]
jrn-ai: other.yaml:2:10: ai.model: no such model 'nosuch' (choices: rules)"
	assert_line 'jrn-score: would not start (jrn-score --check-config: exit 1)'
	assert_line 'jrn-ai: would not start (jrn-ai --check-config: exit 1)'
}

@test "jrn doctor: a good configuration with every section passes, exit 0, nothing from the tools" {
	cp "$BATS_TEST_DIRNAME/fixtures/check-config.yaml" jrn.yaml
	touch crm.ndjson
	run --separate-stderr jrn doctor
	assert_success
	assert_equal "$stderr" ""
	assert_output 'jrn.yaml: configuration, every ${NAME} set
s.db: no state file yet (jrn init or the first tool creates it)'
	[ ! -e s.db ]
}

@test "jrn doctor: a tool not installed is said; a problem only when the configuration has its section" {
	# a jrn alone in a directory, and a PATH without the tools
	mkdir bin
	cp "$JRN_BIN/jrn" bin/
	for t in ingest merge segment score route send report; do ln -s "$JRN_BIN/jrn-$t" bin/; done
	printf 'db:\n  path: s.db\n' > jrn.yaml
	run --separate-stderr env PATH=/usr/bin:/bin bin/jrn doctor
	assert_success
	assert_line 'jrn-ai: not installed (not beside jrn, nor on PATH)'
	printf 'ai:\n  model: rules\n' > jrn.yaml
	run --separate-stderr env PATH=/usr/bin:/bin bin/jrn doctor
	assert_failure 1
	assert_line "jrn-ai: not installed (not beside jrn, nor on PATH), and the configuration has its section"
	# on PATH it is found
	run --separate-stderr env PATH="$JRN_BIN:/usr/bin:/bin" bin/jrn doctor
	assert_success
	refute_line --partial 'not installed'
}

@test "jrn doctor: a configuration that does not load runs no tool (each would say the same)" {
	printf 'db:\n  pth: x\n' > jrn.yaml
	run --separate-stderr jrn doctor
	assert_failure 1
	assert_line --partial 'jrn.yaml:2:3:'
	assert_equal "$stderr" ""
}
