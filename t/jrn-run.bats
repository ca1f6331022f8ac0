#!/usr/bin/env bats
# jrn run JOB and jrn log: named pipelines run the way cron should run them.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	cat > jrn.yaml <<-'YAML'
	db:
	  path: jrn.db
	jobs:
	  ok: "printf 'a\nb\nc\n' | cat | wc -l"
	  middle: "printf 'a\nb\n' | sh -c 'cat; echo boom >&2; exit 4' | cat"
	  slow: ["sleep 1", "cat"]
	  quoted: "echo 'x|y' | tr '|' _"
	  pipe: "printf 'x\n' | false | cat"
	  env: "sh -c 'echo $JRN_JOB $JRN_RUN $JRN_LOG'"
	  nightly: "jrn-ingest -q events.ndjson | cat | jrn-ingest -q --store-only"
	  bad: "a || b"
	  empty: "a | | b"
	  number: 5
	YAML
}

@test "jrn run: every stage's output passes through, counted; a row per run and stage" {
	run --separate-stderr jrn run ok
	assert_success
	assert_output 3
	assert_regex "$stderr" '^jrn: run ok: 3 stages, 1 line out, exit 0 \(run 1\)$'
	assert_equal "$(rows 'SELECT job, status, pipeline FROM runs')" "ok|0|$(printf "printf 'a\\\\nb\\\\nc\\\\n' | cat | wc -l")" || true
	assert_equal "$(rows 'SELECT job, status FROM runs')" 'ok|0'
	assert_equal "$(rows 'SELECT stage, status, lines_out, bytes_out, command FROM run_stages ORDER BY stage' | tail -2)" \
		"$(printf '2|0|3|6|cat\n3|0|1|%s|wc -l' "$(printf '3\n' | wc -c)")"
	assert_equal "$(rows 'SELECT count(*) FROM run_stages WHERE pid IS NULL OR ended_at IS NULL')" 0
}

@test "jrn run: the summary counts in the singular and the plural" {
	run --separate-stderr jrn run quoted
	assert_success
	assert_equal "$stderr" 'jrn: run quoted: 2 stages, 1 line out, exit 0 (run 1)'
	cat > jrn.yaml <<-'YAML'
	db:
	  path: jrn.db
	jobs:
	  one: "printf a"
	  two: "printf 'a\nb\n'"
	YAML
	run --separate-stderr jrn run one
	assert_success
	assert_equal "$stderr" 'jrn: run one: 1 stage, 0 lines out, exit 0 (run 2)'
	run --separate-stderr jrn run two
	assert_success
	assert_equal "$stderr" 'jrn: run two: 1 stage, 2 lines out, exit 0 (run 3)'
}

@test "jrn run: a failing middle stage gives its status, its row, and its stderr passes through" {
	run --separate-stderr jrn run middle
	assert_failure 4
	assert_output $'a\nb'
	assert_regex "$stderr" 'boom'
	assert_regex "$stderr" "jrn: run middle: stage 2 of 3 failed \(exit 4\): sh -c 'cat; echo boom >&2; exit 4'"
	assert_equal "$(rows 'SELECT status FROM runs')" 4
	assert_equal "$(rows 'SELECT stage || ":" || status FROM run_stages ORDER BY stage' | tr '\n' ' ')" '1:0 2:4 3:0 '
}

@test "jrn run: the first failing stage's status, not a later one's; quoted | is not a pipe" {
	run jrn run -q pipe
	assert_failure 1
	run --separate-stderr jrn run quoted
	assert_success
	assert_output x_y
}

@test "jrn run: two concurrent runs of one job: the second refuses with 75, or waits with --wait" {
	jrn run -q slow &
	pid=$!
	sleep 0.3
	run --separate-stderr jrn run slow
	assert_failure 75
	assert_regex "$stderr" '^jrn: run slow: already running \(pid [0-9]+\)$'
	wait $pid
	assert_equal "$(rows 'SELECT count(*) FROM runs')" 1
	# --wait: the second starts when the first ends, and the runs never overlap
	jrn run -q slow &
	pid=$!
	sleep 0.3
	run jrn run -q --wait slow
	assert_success
	wait $pid
	assert_equal "$(rows 'SELECT count(*) FROM runs WHERE status = 0')" 3
	assert_equal "$(rows 'SELECT count(*) FROM runs a JOIN runs b ON a.id < b.id WHERE b.started_at < a.ended_at')" 0
}

@test "jrn run: the stages see the job, the run and -q as JRN_LOG" {
	run --separate-stderr jrn run -q env
	assert_success
	assert_output 'env 1 quiet'
	assert_equal "$stderr" ''
}

@test "jrn run: a pipeline of jrn tools, quiet under -q, with the state file of the config" {
	ev order.completed c1 '"properties":{"amount":10}' > events.ndjson
	ev order.completed c2 '"properties":{"amount":30}' >> events.ndjson
	run --separate-stderr env -i PATH=/usr/bin:/bin "$JRN_BIN/jrn" run -q nightly
	assert_success
	assert_equal "$stderr" ''
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
	assert_equal "$(rows 'SELECT stage || ":" || status || ":" || lines_out FROM run_stages' | tr '\n' ' ')" '1:0:2 2:0:2 3:0:0 '
	# a failing stage of jrn tools: cron sees the exit
	printf 'jobs:\n  broken: "jrn-ingest -q events.ndjson | jrn-score rfm --window 3x | cat"\n' > jrn.yaml
	run env -i PATH=/usr/bin:/bin "$JRN_BIN/jrn" run -q broken
	assert_failure 2
	assert_equal "$(rows 'SELECT status FROM runs ORDER BY id DESC LIMIT 1')" 2
}

@test "jrn run: bad jobs and names are usage errors; --dry-run runs nothing" {
	run --separate-stderr jrn run nope
	assert_failure 2
	assert_equal "$stderr" "jrn: run nope: no job 'nope' in jobs: of jrn.yaml (jobs: bad, empty, env, middle, nightly, number, ok, pipe, quoted, slow)"
	run --separate-stderr jrn run nigthly
	assert_failure 2
	assert_equal "$stderr" "jrn: run nigthly: no job 'nigthly' in jobs: of jrn.yaml (did you mean nightly?)"
	run --separate-stderr jrn run bad
	assert_failure 2
	assert_regex "$stderr" "'\|\|' is not a pipe"
	run --separate-stderr jrn run empty
	assert_failure 2
	assert_regex "$stderr" 'an empty stage'
	run --separate-stderr jrn run number
	assert_failure 2
	run --separate-stderr jrn run ../x
	assert_failure 2
	run jrn run
	assert_failure 2
	run jrn run ok ok
	assert_failure 2
	run --separate-stderr jrn run --dry-run ok
	assert_success
	assert_output ''
	assert_regex "$stderr" 'stage 3: wc -l'
	assert_regex "$stderr" '\(dry run, nothing run\)'
	[ ! -e jrn.db ] || assert_equal "$(rows 'SELECT count(*) FROM runs')" 0
	# the file read is named: no jobs: in it, or no file at all
	printf 'db:\n  path: jrn.db\n' > other.yaml
	run --separate-stderr jrn run --config other.yaml ok
	assert_failure 2
	assert_equal "$stderr" "jrn: run ok: no jobs: section in other.yaml"
	rm jrn.yaml
	run --separate-stderr jrn run ok
	assert_failure 2
	assert_equal "$stderr" "jrn: run ok: no configuration file to read jobs: from (no ./jrn.yaml; give --config FILE or JRN_CONFIG)"
	JRN_CONFIG=other.yaml run --separate-stderr jrn run ok
	assert_failure 2
	assert_equal "$stderr" "jrn: run ok: no jobs: section in other.yaml"
}

@test "jobs: in jrn.yaml is checked by every tool's config load" {
	printf 'jobs:\n  x: "cat"\n' > jrn.yaml
	run jrn-segment --list
	assert_success
}

@test "jrn log with no runs: stdout empty, exit 0, one line on stderr saying so (none with -q)" {
	jrn-ingest -q < /dev/null # a state file, no runs
	run --separate-stderr jrn log
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn: log: no runs in jrn.db"
	run --separate-stderr jrn log --json
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn: log: no runs in jrn.db"
	run --separate-stderr jrn log -q
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	# runs of other jobs only: none of this one
	jrn run -q ok
	run --separate-stderr jrn log middle
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn: log: no runs of middle in jrn.db"
	run --separate-stderr jrn log ok
	assert_success
	assert_equal "$stderr" ""
	cp jrn.db b.db
	run --separate-stderr jrn log --db jrn.db --db b.db middle
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn: log: no runs of middle in 2 state files"
}

@test "jrn log over a runs table damaged part-way: the runs before the damage, then the error and exit 1 (not a quiet end)" {
	jrn-ingest -q < /dev/null
	sqlite3 jrn.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
	  INSERT INTO runs (job, pid, started_at, pipeline) SELECT 'nightly', i, i, printf('%.*c', 200, 'x') FROM n"
	page=$(sqlite3 jrn.db "SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = 'leaf' LIMIT 1 OFFSET 5")
	[ -n "$page" ]
	dd if=/dev/zero of=jrn.db bs=32768 seek="$page" count=1 conv=notrunc 2> /dev/null
	run --separate-stderr jrn log -n 5000
	assert_failure 1
	assert_regex "$stderr" '^jrn: log: .*malformed'
	refute_regex "$stderr" 'no runs'
	[ "$(grep -c nightly <<< "$output")" -gt 0 ]
	run --separate-stderr jrn log -n 5000 --json
	assert_failure 1
	assert_regex "$stderr" '^jrn: log: .*malformed'
}

@test "jrn log: the runs, newest first, with stages; a job's only; -n; --json" {
	jrn run -q ok
	jrn run -q middle 2> /dev/null || true
	jrn run -q ok
	run jrn log
	assert_success
	assert_line --index 0 --regexp '^run 3 +ok +2026-01-01T00:00:00.000Z +exit 0 '
	assert_line --index 4 --regexp '^run 2 +middle .* exit 4 '
	assert_line --index 6 --regexp '^  2  exit 4 +2 lines  sh -c'
	run jrn log -n 1 middle
	assert_line --index 0 --regexp '^run 2 +middle'
	assert_equal "${#lines[@]}" 4
	run jrn log --json -n 1 middle
	assert_success
	assert_equal "$(jq -c '[.run, .job, .status, [.stages[] | [.stage, .status, .lines]]]' <<< "$output")" \
		'[2,"middle",4,[[1,0,2],[2,4,2],[3,0,2]]]'
	run jrn log --json ok
	assert_equal "${#lines[@]}" 2
	run jrn log -n 0
	assert_failure 2
	run jrn log -n x
	assert_failure 2
	run jrn log a b
	assert_failure 2
}

@test "helgrind: jrn run's relay threads (a stage each) share nothing unguarded with the main thread" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (helgrind needs the plain build)"
	"$JRN_GEN" -n 5000 -c 200 > events.ndjson
	run --separate-stderr valgrind --tool=helgrind --history-level=approx -q --error-exitcode=9 \
		--suppressions="$BATS_TEST_DIRNAME/helgrind.supp" "$JRN_BIN/jrn" run -q nightly
	[ "$status" -eq 0 ] || fail "helgrind (exit $status): $(head -c 3000 <<<"$stderr")"
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM events')" 5000
	# each relay's counts reached the main thread: the middle stage's lines
	assert_equal "$(sqlite3 jrn.db "SELECT lines_out FROM run_stages WHERE stage = 2 ORDER BY run_id DESC LIMIT 1")" 5000
}

