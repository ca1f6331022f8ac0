#!/usr/bin/env bats
# jrn-TOOL --check-config: each tool's start-up checks of the configuration
# alone, as it says them at start (FILE:LINE:COLUMN where it does); exit 0
# it would start, 1 not, 2 usage; no input read, no state file made,
# nothing on stdout or stderr when all is well.

load helpers

TOOLS='ingest merge segment score ai route send report'

# a configuration every tool starts with: a section for each
good() {
	cp "$BATS_TEST_DIRNAME/fixtures/check-config.yaml" good.yaml
	touch crm.ndjson
}

# check TOOL YAML: jrn-TOOL --check-config --config c.yaml with YAML as
# the file, its stdin a fifo held open and empty (a read would wait: the
# timeout ends it, exit 124), --db a file that must stay missing
check() {
	local tool=$1
	printf '%b' "$2" > c.yaml
	[ -p in ] || mkfifo in
	run --separate-stderr timeout 20 "jrn-$tool" --check-config --config c.yaml --db none.db <> in
	[ ! -e none.db ] && [ ! -e s.db ] && [ ! -e jrn.db ]
}

@test "every tool: a good configuration, exit 0, nothing said, no state file, stdin not read" {
	good
	mkfifo in
	for t in $TOOLS; do
		run --separate-stderr timeout 20 "jrn-$t" --check-config --config good.yaml --db none.db <> in
		assert_success
		assert_output ""
		assert_equal "$stderr" ""
	done
	# and through JRN_CONFIG, and ./jrn.yaml, as the tools find it
	cp good.yaml jrn.yaml
	for t in $TOOLS; do
		run --separate-stderr "jrn-$t" --check-config < /dev/zero
		assert_success
		assert_equal "$stderr" ""
	done
	[ ! -e none.db ] && [ ! -e s.db ] && [ ! -e jrn.db ]
}

@test "every tool: a configuration that does not load is said as at start, exit 1" {
	printf 'db:\n  pth: x\n' > jrn.yaml
	for t in $TOOLS; do
		run --separate-stderr "jrn-$t" --check-config < /dev/zero
		assert_failure 1
		assert_regex "$stderr" "^jrn-$t: jrn.yaml:2:3: "
	done
}

@test "jrn-route --check-config: the policy's troubles at their place, exit 1" {
	check route 'policy:\n  timeZone: Mars/Olympus\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: c.yaml:2:13: policy.timeZone: 'Mars/Olympus' is not a time zone of the system's zoneinfo"
	check route 'policy:\n  fallback: [email, pigeon]\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: c.yaml:2:21: policy.fallback[1]: expected whatsapp, sms or email, each once"
	check route 'policy:\n  caps:\n    email:\n      max: 3\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: c.yaml:4:7: policy.caps.email: give both max and window"
	check route 'policy:\n  quietHours:\n    start: "21:00"\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-route: c.yaml:3:5: policy.quietHours: give both start and end (HH:MM, local time)"
	assert_output ""
	# the very message the gate starts with
	run --separate-stderr jrn-route --config c.yaml --db none.db < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: c.yaml:3:5: policy.quietHours: give both start and end (HH:MM, local time)"
}

@test "jrn-route --check-config goes alone; --check still lints journeys" {
	run --separate-stderr jrn-route --check-config --tick
	assert_failure 2
	assert_equal "$stderr" "jrn-route: --check-config goes alone: no mode, no FILE"
	run --separate-stderr jrn-route --check-config events.ndjson
	assert_failure 2
	run --separate-stderr jrn-route --check
	assert_success
}

@test "jrn-score --check-config: scoring's troubles, each command's or one's" {
	check score 'scoring:\n  rfm:\n    weights: [4,3]\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-score: c.yaml:3:14: scoring.rfm.weights: expected three numbers [R, F, M]"
	run --separate-stderr jrn-score rfm --check-config --config c.yaml < /dev/zero
	assert_failure 1
	assert_equal "$stderr" "jrn-score: c.yaml:3:14: scoring.rfm.weights: expected three numbers [R, F, M]"
	# clv does not read rfm's weights
	run --separate-stderr jrn-score clv --check-config --config c.yaml < /dev/zero
	assert_success
	assert_equal "$stderr" ""
	check score 'scoring:\n  clv:\n    horizon: 4000d\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-score: scoring.clv.horizon: at most 3650 days"
	run --separate-stderr jrn-score lead --check-config --config c.yaml x.ndjson
	assert_failure 2
}

@test "jrn-ai --check-config: the model asked, the prompt files" {
	check ai 'ai:\n  model: nosuch\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: c.yaml:2:10: ai.model: no such model 'nosuch' (choices: rules)"
	for sub in state optimize eval; do
		run --separate-stderr jrn-ai $sub --check-config --config c.yaml < /dev/zero
		assert_failure 1
		assert_equal "$stderr" "jrn-ai: c.yaml:2:10: ai.model: no such model 'nosuch' (choices: rules)"
	done
	check ai 'ai:\n  prompts:\n    dir: nodir\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: state prompt: nodir/state.txt: No such file or directory"
}

@test "jrn-merge --check-config: a file source's file is there and readable" {
	check merge 'sources:\n  list:\n    - name: crm\n      type: file\n      path: crm.ndjson\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: c.yaml:3:7: sources.list[0] (crm): crm.ndjson: No such file or directory"
	echo '{"customerId":"c1","tier":"gold"}' > crm.ndjson
	check merge 'sources:\n  list:\n    - name: crm\n      type: file\n      path: crm.ndjson\n'
	assert_success
	assert_equal "$stderr" ""
	# the profile's keys of sources, checked where the state file opens
	check merge 'sources:\n  sharedLimit: 0\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: c.yaml:2:16: sources.sharedLimit: expected an integer from 1 to 1000000"
}

@test "jrn-send --check-config: mail that leaves needs a sender; --due and FILEs go without it" {
	check send 'providers:\n  email:\n    - type: smtp\n      url: smtp://127.0.0.1:1\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-send: c.yaml:3:7: providers.email[0]: smtp 'smtp' sends real mail but there is no sender address: set send.from (or from: on the provider)"
	[ ! -e spool ]
	run --separate-stderr jrn-send --check-config --due
	assert_failure 2
}

@test "jrn-send and jrn-ai --check-config: a caFile that cannot be read, at its place" {
	check send 'send:\n  from: a@example.com\nproviders:\n  email:\n    - type: smtp\n      url: smtp://127.0.0.1:1\n      caFile: ca.pem\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-send: c.yaml:7:15: providers.email[0].caFile: cannot read it: No such file or directory"
	check ai 'ai:\n  model: gpt\n  models:\n    gpt:\n      kind: openai\n      model: gpt-4o-mini\n      apiKey: k\n      caFile: ca.pem\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: c.yaml:8:15: ai.models.gpt: caFile: cannot read it: No such file or directory"
	touch ca.pem
	check ai 'ai:\n  model: gpt\n  models:\n    gpt:\n      kind: openai\n      model: gpt-4o-mini\n      apiKey: k\n      caFile: ca.pem\n'
	assert_success
	assert_equal "$stderr" ""
}

@test "jrn-ingest, jrn-segment, jrn-report --check-config: their own keys" {
	check ingest 'ingest:\n  typeMap:\n    x: ""\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: c.yaml: ingest.typeMap.x: expected a non-empty event type or null, got ''"
	check segment 'segments:\n  file: nosuch.yaml\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-segment: nosuch.yaml: No such file or directory"
	check report 'report:\n  html:\n    title: ${NOPE_TITLE}\n'
	assert_failure 1
	assert_equal "$stderr" 'jrn-report: c.yaml:3:12: report.html.title: ${NOPE_TITLE} is not set'
	# each kind's keys, as its run reads them before the state file
	check report 'report:\n  cohorts:\n    period: fortnight\n  experiment:\n    level: 3\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-report: cohorts: report.cohorts.period fortnight: not a period (day, week or month)
jrn-report: report.experiment.level: 3: a number between 0 and 1 is needed"
	run --separate-stderr jrn-report experiment --check-config --config c.yaml < /dev/zero
	assert_failure 1
	assert_equal "$stderr" "jrn-report: report.experiment.level: 3: a number between 0 and 1 is needed"
	run --separate-stderr jrn-report funnel --check-config --config c.yaml < /dev/zero
	assert_failure 2
	assert_equal "$stderr" "jrn-report: funnel: no steps: give --steps A,B,... or report.funnel.steps"
	run --separate-stderr jrn-report funnel --check-config --config c.yaml --steps a,b < /dev/zero
	assert_success
	# a funnel section without steps is left to the run's --steps
	check report 'report:\n  funnel:\n    within: 3d\n'
	assert_success
	check report 'report:\n  kpis:\n    targets:\n      nope: 3\n'
	assert_failure 1
	assert_regex "$stderr" '^jrn-report: kpis: report.kpis.targets.nope: not a KPI'
	run --separate-stderr jrn-report --check-config --by campaign
	assert_failure 2
	run --separate-stderr jrn-report funnel --check-config --since yesterday
	assert_failure 2
	run --separate-stderr jrn-ingest --check-config x.ndjson
	assert_failure 2
}

@test "jrn-ingest --check-config: the listener's set-up when ingest.listen is written or --listen given, nothing bound" {
	check ingest 'ingest:\n  listen:\n    tls:\n      cert: c.pem\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: c.yaml: ingest.listen.tls: give both cert and key"
	check ingest 'ingest:\n  listen:\n    tls:\n      cert: c.pem\n      key: k.pem\n'
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: c.yaml: c.pem: No such file or directory"
	# the same words as the listener's start
	run --separate-stderr jrn-ingest --listen 127.0.0.1:0 --config c.yaml --db none.db
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: c.yaml: c.pem: No such file or directory"
	rm -f none.db
	check ingest 'ingest:\n  listen:\n    publicUrl: https://shop.example.com/\n'
	assert_success
	assert_equal "$stderr" ""
	run --separate-stderr jrn-ingest --check-config --listen nowhere
	assert_failure 2
	assert_equal "$stderr" "jrn-ingest: --listen: 'nowhere' is not ADDR:PORT"
	# nothing is bound (port 1 would be refused to a user: below 1024)
	run --separate-stderr timeout 20 jrn-ingest --check-config --listen 127.0.0.1:1 < /dev/zero
	assert_success
}
