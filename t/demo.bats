#!/usr/bin/env bats
# make demo (examples/demo.sh): the three flows on the shipped slice of
# Online Retail, run as the README says, in under a minute, ending with
# the HTML report's path. What it shows is checked against the state file
# it leaves (build/demo under a copy of the repository's examples).

load helpers

setup() {
	command -v mlr > /dev/null || skip "no mlr (Debian miller)"
	command -v curl > /dev/null || skip "no curl"
	top=$BATS_TEST_DIRNAME/..
	cd "$BATS_TEST_TMPDIR" || return 1
	# demo.sh works from the top of a checkout: its examples, here copied
	mkdir -p build && cp -r "$top/examples" examples
}

@test "make demo: ingest, three nights, the hourly job, a real-time touchpoint, the reports; under a minute" {
	start=$(date +%s)
	run --separate-stderr bash examples/demo.sh "$JRN_BIN"
	assert_success
	[ $(($(date +%s) - start)) -lt 60 ]
	# it ends with the page's path, and the page is there
	assert_equal "${lines[${#lines[@]} - 1]}" "The HTML report: $BATS_TEST_TMPDIR/build/demo/report.html"
	grep -q '<svg' build/demo/report.html
	db() { sqlite3 build/demo/jrn.db "$1"; }
	# 1: the slice's 871 invoices and an address for each of its customers
	assert_equal "$(db "SELECT count(*) FROM events WHERE type IN ('order.completed', 'order.refunded')")" 871
	# 2: three nights, each at_risk entrant mailed once by the win-back
	assert_equal "$(db "SELECT count(*) FROM runs WHERE job = 'nightly'")" 3
	assert_equal "$(db "SELECT count(*) FROM deliveries WHERE campaign_id = 'winback'")" \
		"$(db "SELECT count(*) FROM enrollments WHERE journey = 'winback'")"
	[ "$(db "SELECT count(*) FROM deliveries WHERE campaign_id = 'winback'")" -gt 0 ]
	# 3: one hourly run of insights
	assert_equal "$(db "SELECT count(DISTINCT computed_at) FROM insights")" 1
	# 4: the touchpoint came through the listener and its action was sent
	assert_equal "$(db "SELECT count(*) FROM events WHERE id = 'demo-touch-1'")" 1
	assert_output --partial '"gate":"send","delivery":"simulated"}'
	# the drift alerts are said, and explained
	[[ $stderr == *"jrn-segment: drift: segment 'at_risk'"* ]]
	assert_output --partial "the saves and changes stand"
}
