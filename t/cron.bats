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
	"$JRN_GEN" -n 3000 -s 9 > "$shop/events.ndjson"
	(cd "$shop" && jrn-ingest -q --store-only events.ndjson)
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
	cron "${1}T01:15:00Z" contacts; quiet
	cron "${1}T02:00:00Z" nightly; quiet
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
	for w in --due contacts nightly scores; do
		assert_equal "$(cron_line "$w" | wc -l)" 1
	done
	assert_equal "$(cron_line --comment replay | wc -l)" 1
	# planned tools appear only in comments
	run grep -nE '^[[:space:]]*[^#[:space:]].*jrn-(route|ai|merge|report)' \
		"$EXAMPLES/cron" "$EXAMPLES/jrn.yaml"
	assert_failure
	cd "$shop"
	for job in nightly replay contacts scores leads; do
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
	assert_equal "$(db "SELECT count(*) FROM runs WHERE status <> 0")" 0
}

@test "the sender dies after one mail: the run fails, cron hears it, the replay loses nothing and sends nothing twice" {
	# the first night (the one with the most at_risk entrants in this data):
	# a jrn-send that passes one action on and is killed. jrn run puts its
	# own directory first in the stages' PATH, so the broken jrn-send sits
	# beside a copy of jrn, the other tools linked.
	FAULT=$BATS_TEST_TMPDIR/fault
	mkdir -p "$FAULT"
	cp "$JRN_BIN/jrn" "$FAULT/jrn"
	for t in jrn-ingest jrn-score jrn-segment; do ln -s "$JRN_BIN/$t" "$FAULT/$t"; done
	cat > "$FAULT/jrn-send" <<-EOF
	#!/bin/sh
	head -n 1 | "$JRN_BIN/jrn-send" "\$@"
	kill -KILL \$\$
	EOF
	chmod +x "$FAULT/jrn-send"
	cron 2026-01-07T01:15:00Z contacts; quiet
	cron 2026-01-07T02:00:00Z nightly
	assert_failure 137
	assert_regex "$stderr" 'jrn: run nightly: stage 4 of 4 failed'
	assert_equal "$(mailed | wc -l)" 1
	local lost
	lost=$(unmailed)
	[ "$lost" -gt 1 ]
	# rerunning the job finds nothing new (the save committed) ...
	unset FAULT
	cron 2026-01-07T02:10:00Z nightly; quiet
	assert_equal "$(unmailed)" "$lost"
	# ... the replay of examples/cron's comment recovers every change:
	# what was stored = what reached the sender
	cron 2026-01-07T02:15:00Z --comment replay; quiet
	assert_equal "$(unmailed)" 0
	assert_equal "$(mailed)" "$(entered_at_risk)"
	assert_no_duplicates
	# and again: nothing twice
	cron 2026-01-07T02:20:00Z --comment replay; quiet
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
	# the hourly job never ran on this machine: the nightly's jq cannot read contacts.json
	rm "$shop/contacts.json"
	cron 2026-01-14T02:00:00Z nightly
	assert_failure 2
	assert_regex "$stderr" 'jrn: run nightly: stage 3 of 4 failed \(exit 2\)'
	assert_equal "$(db "SELECT status FROM runs WHERE job = 'nightly' ORDER BY id DESC LIMIT 1")" 2
	# a stage of jrn's own failing: a config whose variable cron lacks
	cron 2026-01-14T01:15:00Z contacts; quiet
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
