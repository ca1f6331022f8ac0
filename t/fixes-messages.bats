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
