#!/usr/bin/env bats
# A FILE operand that cannot be read (missing, a directory, no read
# permission) is said as "PROG: FILE: REASON" and the next FILE is read:
# every record of the others is handled and written, the summary is said,
# and the exit status is 1 (jrn(7), THE PIPELINE CONTRACT). jrn-ai stopped
# at such a file, and jrn-route's gate and --simulate kept none of the
# decisions of the last batch (rolled back, nothing written).

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	mkdir adir
	jrn-ingest -q < /dev/null # (a state file, so that no tool says it made one)
}

# both: runs "$@" A nothere.ndjson B, then "$@" nothere.ndjson A adir B:
# exit 1, FILE named, $want lines out each time
both() {
	run --separate-stderr "$@" a.ndjson nothere.ndjson b.ndjson
	assert_failure 1
	assert_equal "${#lines[@]}" "$want"
	assert_equal "${stderr_lines[0]}" "${1##*/}: nothere.ndjson: No such file or directory"
	run --separate-stderr "$@" nothere.ndjson a.ndjson adir b.ndjson
	assert_failure 1
	assert_equal "${#lines[@]}" "$want"
	assert_line --partial -n 0 '"customerId":"c1"'
	assert_regex "$stderr" 'adir: Is a directory'
}

@test "jrn-route: the gate decides and keeps the records of every readable FILE, says its summary, exit 1" {
	for c in 1 2; do
		printf '{"customerId":"c%s","actionType":"email","recipientEmail":"c%s@example.com","campaignId":"x","messageContent":"hi"}\n' "$c" "$c"
	done > all.ndjson
	head -1 all.ndjson > a.ndjson
	tail -1 all.ndjson > b.ndjson
	want=2
	both jrn-route --now 2026-03-02T10:00:00Z
	# the second run: both already decided by the first, which kept them
	assert_equal "${stderr_lines[-1]}" "jrn-route: 0 send, 0 defer, 2 suppress, 0 rejected, 0 events passed"
	assert_equal "$(sqlite3 jrn.db 'SELECT count(DISTINCT customer_id) FROM route_decisions')" 2
	run --separate-stderr jrn-route -q --now 2026-03-02T10:00:00Z nothere.ndjson < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-route: nothere.ndjson: No such file or directory"
}

@test "jrn-route --simulate: the events of every readable FILE run through the journeys, exit 1" {
	mkdir js
	printf 'trigger: user.signup\nsteps:\n  - webhook: {url: "https://hooks.example/a"}\n' > js/a.yaml
	printf '{"id":"e1","type":"user.signup","customerId":"c1","timestamp":"2026-03-01T10:00:00Z"}\n' > a.ndjson
	printf '{"id":"e2","type":"user.signup","customerId":"c2","timestamp":"2026-03-01T11:00:00Z"}\n' > b.ndjson
	run --separate-stderr jrn-route --simulate --journeys js --db none.db --now 2026-03-02T00:00:00Z a.ndjson b.ndjson
	assert_success
	want=${#lines[@]}
	[ "$want" -ge 2 ] || fail "the journey made $want records of two signups: $output $stderr"
	both jrn-route --simulate --journeys js --db none.db --now 2026-03-02T00:00:00Z
}

@test "jrn-ai state: the profiles of every readable FILE answered, the summary said, exit 1" {
	printf '{"customerId":"c1"}\n' > a.ndjson
	printf '{"customerId":"c2"}\n' > b.ndjson
	want=2
	both jrn-ai state --db jrn.db
	assert_regex "${stderr_lines[-1]}" '^jrn-ai: state: 2 records .*2 answered'
}

@test "the other tools read on past an unreadable FILE too, exit 1 (pinned)" {
	printf '{"customerId":"c1","traits":{"city":"Bern"}}\n' > a.ndjson
	printf '{"customerId":"c2","traits":{"city":"Basel"}}\n' > b.ndjson
	want=2
	both jrn-merge --db jrn.db
	both jrn-segment --db jrn.db
	both jrn-score lead --db jrn.db
	printf '{"id":"e1","type":"page.viewed","customerId":"c1","timestamp":"2026-03-01T10:00:00Z"}\n' > a.ndjson
	printf '{"id":"e2","type":"page.viewed","customerId":"c2","timestamp":"2026-03-01T10:00:00Z"}\n' > b.ndjson
	want=2
	both jrn-ingest --dry-run --db jrn.db
}
