#!/usr/bin/env bats
# Issue 9, acceptance: examples/cron's lines, run literally (the command
# part of each crontab line, /srv/shop replaced by a scratch project) under
# a cron-like environment -- env -i with the crontab's own variable lines,
# PATH with the tools under test first, HOME, and the simulated clock
# JRN_NOW -- over three nights, with the jobs of examples/jrn.yaml.

load helpers

EXAMPLES=$BATS_TEST_DIRNAME/../examples
# Three nights inside one 30-day window of send.idempotency.window (windows
# counted from 1970-01-01: 2026-01-07 starts one), a week apart so that
# recency moves customers between RFM segments.
NIGHTS="2026-01-07 2026-01-14 2026-01-21"

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	shop=$BATS_TEST_TMPDIR/shop
	JRN_NOW=2026-01-01T00:00:00Z jrn init "$shop" > /dev/null
	cp "$EXAMPLES/jrn.yaml" "$shop/jrn.yaml"
	cp -r "$EXAMPLES/journeys" "$shop/journeys"
	"$JRN_GEN" -n 3000 -s 9 > "$shop/events.ndjson"
	# the shop's sign-up form also sends Segment's identify call: the
	# address in the profile, where the win-back's recipient comes from
	jq -c 'select(.type == "user.signup") | {id: ("id-" + .id), type: "identify",
	    customerId, timestamp, traits: {email: .properties.email}}' \
		"$shop/events.ndjson" > "$shop/identify.ndjson"
	(cd "$shop" && jrn-ingest -q --store-only events.ndjson identify.ndjson)
}

# cron_line WORD: the command part of the crontab line of examples/cron
# whose command contains WORD (a schedule line: five time fields, then the
# command); with --comment, of the commented "#   cd /srv/shop ..." line.
cron_line() {
	if [ "$1" = --comment ]; then
		sed -n "s|^#   *\(cd /srv/shop .*$2.*\)$|\1|p" "$EXAMPLES/cron"
	else
		awk -v w="$1" '/^[^#]/ && !/^[A-Za-z_][A-Za-z0-9_]*=/ && NF > 5 {
			c = $0; for (i = 0; i < 5; i++) sub(/^[^ \t]+[ \t]+/, "", c)
			if (index(c, w)) print c }' "$EXAMPLES/cron"
	fi
}

# cron AT WORD [--comment]: runs that line as cron would at time AT, with
# cron's environment: nothing but the crontab's variables (its PATH behind
# the tools under test and $FAULT, the directory of a broken stage, if set).
cron() {
	local at=$1 cmd vars
	shift
	cmd=$(cron_line "$@")
	[ -n "$cmd" ] || { echo "no crontab line for $*" >&2; return 99; }
	cmd=${cmd//\/srv\/shop/$shop}
	mapfile -t vars < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$EXAMPLES/cron")
	local path
	path=$(printf '%s\n' "${vars[@]}" | sed -n 's/^PATH=//p')
	run --separate-stderr env -i "${vars[@]}" HOME="$BATS_TEST_TMPDIR" \
		PATH="${FAULT:+$FAULT:}$JRN_BIN:$path" JRN_NOW="$at" SHELL=/bin/sh \
		/bin/sh -c "$cmd"
}

# quiet: the last cron run succeeded and wrote nothing (cron mails output)
quiet() {
	assert_success
	assert_equal "$output" ''
	assert_equal "$stderr" ''
}

# night DAY: one night's lines, in the order of their times
night() {
	cron "${1}T01:59:00Z" --tick; quiet
	cron "${1}T02:00:00Z" nightly; quiet
	cron "${1}T02:01:00Z" --tick; quiet
	cron "${1}T02:05:00Z" --due; quiet
	cron "${1}T03:00:00Z" scores; quiet
}

db() {
	sqlite3 "$shop/jrn.db" "$1"
}

# what was decided and what reached the sender, as sorted customer lists
entered_at_risk() {
	db "SELECT DISTINCT customer_id FROM events WHERE type = 'segment.entered'
	    AND body ->> '$.properties.segment' = 'at_risk' ORDER BY 1"
}
unmailed() {
	db "SELECT count(DISTINCT customer_id) FROM events WHERE type = 'segment.entered'
	    AND body ->> '$.properties.segment' = 'at_risk' AND customer_id NOT IN
	    (SELECT customer_id FROM deliveries WHERE campaign_id = 'winback')"
}
mailed() {
	db "SELECT customer_id FROM deliveries WHERE campaign_id = 'winback'
	    AND status IN ('sent', 'simulated') ORDER BY 1"
}

assert_no_duplicates() {
	# one change per customer, segment (or RFM move) and run
	assert_equal "$(db "SELECT count(*) FROM (SELECT 1 FROM events
	    WHERE type IN ('segment.entered', 'segment.exited', 'rfm.segment.changed')
	    GROUP BY type, customer_id, body ->> '$.properties.segment',
	             body ->> '$.properties.to', body ->> '$.properties.run'
	    HAVING count(*) > 1)")" 0
	# one win-back per customer in the 30-day window, one spooled file each
	assert_equal "$(db "SELECT count(*) FROM (SELECT 1 FROM deliveries
	    WHERE campaign_id = 'winback' GROUP BY customer_id HAVING count(*) > 1)")" 0
	assert_equal "$(find "$shop/spool" -name '*.eml' | wc -l)" \
		"$(db "SELECT count(*) FROM deliveries WHERE status = 'simulated'")"
}

@test "examples/cron: every line is one the test can run, and the jobs are in examples/jrn.yaml" {
	for w in --tick --due nightly scores hourly; do
		assert_equal "$(cron_line "$w" | wc -l)" 1
	done
	assert_equal "$(cron_line --comment replay | wc -l)" 1
	# and jq or a contacts file no longer: the journey makes the action,
	# the profile holds the address
	run grep -nE '^[[:space:]]*[^#[:space:]].*(jq|sqlite3|contacts)' \
		"$EXAMPLES/cron" "$EXAMPLES/jrn.yaml"
	assert_failure
	cd "$shop"
	run jrn-route --check
	assert_success
	assert_output ''
	for job in nightly replay tick scores leads hourly; do
		run jrn run --dry-run "$job"
		assert_success
	done
}

@test "three nights under cron: quiet, every change stored once, each at-risk customer mailed once" {
	local before
	for day in $NIGHTS; do
		night "$day"
		assert_no_duplicates
		# each night's at_risk entrants (with an address) were all mailed
		assert_equal "$(mailed)" "$(entered_at_risk)"
		assert_equal "$(unmailed)" 0
		# the job run again the same night stores no change and sends nothing
		before=$(db "SELECT count(*) FROM events")/$(db "SELECT count(*) FROM deliveries")
		cron "${day}T02:30:00Z" nightly; quiet
		assert_equal "$(db "SELECT count(*) FROM events")/$(db "SELECT count(*) FROM deliveries")" "$before"
	done
	# the nights did move customers: changes on every night, mail on the first
	assert_equal "$(db "SELECT count(DISTINCT body ->> '$.properties.run') FROM events
	    WHERE type = 'rfm.segment.changed'")" 3
	[ "$(mailed | wc -l)" -gt 0 ]
	# each mail is the journey's, decided once by the gate, enrolled once
	assert_equal "$(db "SELECT count(*) FROM route_decisions WHERE journey = 'winback'
	    AND decision = 'send'")" "$(mailed | wc -l)"
	assert_equal "$(db "SELECT count(*) FROM enrollments WHERE journey = 'winback'")" \
		"$(mailed | wc -l)"
	assert_equal "$(db "SELECT count(*) FROM runs WHERE status <> 0")" 0
}

@test "the hourly job after a night: the last 24 hours' metrics saved as insights, read by the next jrn-ai optimize" {
	night 2026-01-07
	local sent
	sent=$(db "SELECT count(*) FROM deliveries WHERE status = 'simulated'")
	[ "$sent" -gt 0 ]
	cron 2026-01-07T03:05:00Z hourly; quiet
	# one run of insights at 03:05, the window the 24 hours before it; the
	# night's win-back mails are all in it (simulated sends count as sent)
	assert_equal "$(db "SELECT count(DISTINCT computed_at), min(window_end - window_start) FROM insights")" \
		"1|86400000"
	assert_equal "$(db "SELECT metrics ->> '$.sent' FROM insights WHERE dimension = 'all'")" "$sent"
	assert_equal "$(db "SELECT group_key, metrics ->> '$.sent' FROM insights WHERE dimension = 'campaign'")" \
		"[\"winback\"]|$sent"
	assert_equal "$(db "SELECT group_key FROM insights WHERE dimension = 'channel'")" '["email"]'
	# and the report's own grouping (campaign,channel, the default --by)
	assert_equal "$(db "SELECT group_key FROM insights WHERE dimension = 'campaign,channel'")" \
		'["winback","email"]'
	# the next hour's optimizer reads them (-v says so)
	cd "$shop"
	run --separate-stderr env JRN_NOW=2026-01-07T04:00:00Z jrn-ai optimize -v \
		<<< '{"customerId":"c1","state":{"journeyStage":"retention","segment":"at_risk"}}'
	assert_success
	[[ $stderr == *"insights of 2026-01-07T03:05:00.000Z: 4 rows, in the optimize prompt"* ]]
	# the same hour again replaces the run: still one
	cron 2026-01-07T03:05:00Z hourly; quiet
	assert_equal "$(db "SELECT count(DISTINCT computed_at) FROM insights")" 1
}

@test "jrn-route killed after one mail went out, before its commit: cron hears it, the replay loses nothing and sends nothing twice" {
	# the first night (the one with the most at_risk entrants in this data):
	# a jrn-route that writes its batch (every event and action, as the real
	# one does before its commit), of which one action reaches jrn-send, and
	# is killed before the commit (--dry-run: the real one's work, nothing
	# saved). jrn run puts its own directory first in the stages' PATH, so
	# the broken jrn-route sits beside a copy of jrn, the other tools linked.
	FAULT=$BATS_TEST_TMPDIR/fault
	mkdir -p "$FAULT"
	cp "$JRN_BIN/jrn" "$FAULT/jrn"
	for t in jrn-ingest jrn-score jrn-segment jrn-send; do ln -s "$JRN_BIN/$t" "$FAULT/$t"; done
	cat > "$FAULT/jrn-route" <<-EOF
	#!/bin/sh
	"$JRN_BIN/jrn-route" --dry-run "\$@" | sed '/"actionType"/q'
	kill -KILL \$\$
	EOF
	chmod +x "$FAULT/jrn-route"
	cron 2026-01-07T02:00:00Z nightly
	assert_failure 137
	assert_regex "$stderr" 'jrn: run nightly: stage 3 of 4 failed'
	assert_equal "$(mailed | wc -l)" 1
	assert_equal "$(db "SELECT count(*) FROM enrollments")" 0
	local lost
	lost=$(unmailed)
	[ "$lost" -gt 1 ]
	# rerunning the job finds nothing new (the save committed) ...
	unset FAULT
	cron 2026-01-07T02:10:00Z nightly; quiet
	assert_equal "$(unmailed)" "$lost"
	# ... the replay of examples/cron's comment recovers every change:
	# what was stored = what reached the sender, the one mail not twice
	cron 2026-01-07T02:15:00Z --comment replay; quiet
	assert_equal "$(unmailed)" 0
	assert_equal "$(mailed)" "$(entered_at_risk)"
	assert_no_duplicates
	# and again: nothing twice (no enrollment, no decision, no delivery more)
	local before
	before=$(db "SELECT count(*) FROM enrollments")/$(db "SELECT count(*) FROM route_decisions")/$(db "SELECT count(*) FROM deliveries")
	cron 2026-01-07T02:20:00Z --comment replay; quiet
	assert_equal "$(db "SELECT count(*) FROM enrollments")/$(db "SELECT count(*) FROM route_decisions")/$(db "SELECT count(*) FROM deliveries")" "$before"
	assert_no_duplicates
	cron 2026-01-07T02:25:00Z --due; quiet
	for day in ${NIGHTS#* }; do
		night "$day"
		assert_equal "$(mailed)" "$(entered_at_risk)"
		assert_no_duplicates
	done
}

@test "a failing stage is a non-zero exit of the cron line, said on stderr, recorded in the runs" {
	night 2026-01-07
	# a journey file edited with a typo: jrn-route refuses it at its line
	# and column, the other journeys run, and the stage exits 3
	printf 'trigger: {segment: vip, on: entered}\nsteps:\n  - action: {chanel: email}\n' \
		> "$shop/journeys/vip.yaml"
	cron 2026-01-14T02:00:00Z nightly
	assert_failure 3
	assert_regex "$stderr" 'jrn-route: [^ ]*journeys/vip\.yaml:3:[0-9]+: .*chanel'
	assert_regex "$stderr" 'jrn: run nightly: stage 3 of 4 failed \(exit 3\)'
	assert_equal "$(db "SELECT status FROM runs WHERE job = 'nightly' ORDER BY id DESC LIMIT 1")" 3
	# the win-back still ran: that night's at_risk entrants were mailed
	assert_equal "$(mailed)" "$(entered_at_risk)"
	# the tick says it too, every minute, until the file is mended (the
	# plain pipe's status is jrn-send's, 0: cron mails what is on stderr)
	cron 2026-01-14T02:01:00Z --tick
	assert_success
	assert_regex "$stderr" 'jrn-route: [^ ]*journeys/vip\.yaml:3:'
	rm "$shop/journeys/vip.yaml"
	cron 2026-01-14T02:02:00Z --tick; quiet
	# a stage of jrn's own failing: a config whose variable cron lacks
	sed -i 's/^  from: .*/  from: "${SHOP_FROM}"/' "$shop/jrn.yaml"
	cron 2026-01-14T02:05:00Z --due
	assert_failure
	assert_regex "$stderr" 'jrn-send: .*SHOP_FROM'
	cron 2026-01-14T02:10:00Z nightly
	assert_failure
	assert_regex "$stderr" 'jrn: run nightly: stage 4 of 4 failed'
	# the stages that do not read send: keep working (their saves happened)
	assert_equal "$(db "SELECT count(DISTINCT body ->> '$.properties.run') FROM events
	    WHERE type = 'rfm.segment.changed'")" 2
}
