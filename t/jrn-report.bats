#!/usr/bin/env bats
# jrn-report: the frame — kinds and options, the window, the output formats
# (ndjson, table, csv), -o, the state file (missing, old, corrupt, never
# written), --now. The figures of each kind are in t/jrn-report-KIND.bats.

load helpers

# A state file with three sends in campaigns whose names test the formats:
#   k1 email "日本語" (three wide characters: 6 columns), sent,  cost 0.5
#   k2 email "a,b \"q\""  (a comma and quotes),              sent
#   k3 sms   "line1\nline2" (a newline),                     failed, cost 0.25
# all claimed 2026-01-01T10:00Z.
make_state() {
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	sqlite3 jrn.db <<'EOF'
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, cost, claimed_at,
  updated_at, record) VALUES
 ('k1', 'c1', 'email', '日本語', 'sent', 0.5, 1767261600000, 1767261600000, '{}'),
 ('k2', 'c2', 'email', 'a,b "q"', 'sent', NULL, 1767261600000, 1767261600000, '{}'),
 ('k3', 'c3', 'sms', 'line1' || char(10) || 'line2', 'failed', 0.25, 1767261600000,
  1767261600000, '{}');
EOF
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export JRN_NOW=2026-01-02T00:00:00Z
	make_state
}

@test "usage: --help lists every kind with its summary; --version" {
	run jrn-report --help
	assert_success
	assert_line --index 0 --partial "usage: jrn-report KIND"
	for k in metrics funnel attribution cohorts experiment journeys rfm kpis; do
		assert_line --regexp "^  $k +[a-zA-Z]"
	done
	assert_line "  metrics       sent, delivered, opened, clicked, converted, revenue, cost, ROI, rates"
	run jrn-report --version
	assert_success
	assert_output --regexp '^jrn-report [0-9]+\.[0-9]+\.[0-9]+$'
	run jrn-report metrics --help
	assert_success
	assert_line --index 0 --partial "usage: jrn-report KIND"
}

@test "usage: no kind, an unknown kind, an operand, an unknown option" {
	run --separate-stderr jrn-report
	assert_failure 2
	assert_equal "$stderr" "jrn-report: a kind is needed (the kinds: metrics, funnel, attribution, cohorts, experiment, journeys, rfm, kpis)
Try 'jrn-report --help'."
	run --separate-stderr jrn-report metric
	assert_failure 2
	assert_equal "$stderr" "jrn-report: unknown kind 'metric' (did you mean metrics?)
Try 'jrn-report --help'."
	run --separate-stderr jrn-report funle
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-report: unknown kind 'funle' (did you mean funnel?)"
	run --separate-stderr jrn-report sales
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-report: unknown kind 'sales' (the kinds: metrics, funnel, attribution, cohorts, experiment, journeys, rfm, kpis)"
	run --separate-stderr jrn-report metrics extra
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-report: metrics: no arguments beyond the options (got 'extra')"
	run --separate-stderr jrn-report metrics --nope
	assert_failure 2
	assert_equal "${stderr_lines[1]}" "Try 'jrn-report --help'."
	run jrn-report --since 24h
	assert_failure 2
	assert_output --partial "a kind is needed"
}

@test "usage: a kind-specific option given to another kind names the kinds that take it" {
	run jrn-report metrics --steps a,b
	assert_failure 2
	assert_output --partial "jrn-report: metrics: --steps is for funnel only"
	run jrn-report cohorts --journey j
	assert_failure 2
	assert_output --partial "jrn-report: cohorts: --journey is for experiment, journeys only"
	run jrn-report rfm --model linear
	assert_failure 2
	assert_output --partial "jrn-report: rfm: --model is for attribution only"
	run jrn-report metrics --period week
	assert_failure 2
	assert_output --partial "--period is for cohorts only"
	run jrn-report kpis --from 2026-01-01
	assert_failure 2
	assert_output --partial "--from is for rfm only"
}

@test "the window: RFC 3339 or a duration back from --now; bad values are usage errors" {
	# k1..k3 are at 2026-01-01T10:00Z
	run jrn-report metrics --by all -q --since 2026-01-01T10:00:00Z
	assert_equal "$(jq .sent <<< "$output")" 2
	# [since, until): the end is excluded
	run jrn-report metrics --by all -q --until 2026-01-01T10:00:00Z
	assert_success
	assert_output ""
	run jrn-report metrics --by all -q --since 2026-01-01 --until 2026-01-01T10:00:00.001Z
	assert_equal "$(jq .sent <<< "$output")" 2
	# --since 14h from 2026-01-02T00:00Z is 10:00: in; 13h is 11:00: out
	run jrn-report metrics --by all -q --since 14h
	assert_equal "$(jq .sent <<< "$output")" 2
	run jrn-report metrics --by all -q --since 13h
	assert_output ""
	# --now moves the clock: 13h back from 2026-01-01T23:00Z is 10:00
	run jrn-report metrics --by all -q --since 13h --now 2026-01-01T23:00:00Z
	assert_equal "$(jq .sent <<< "$output")" 2
	# the default end is now: before 10:00 nothing was sent
	run jrn-report metrics --by all -q --now 2026-01-01T09:00:00Z
	assert_output ""
	run jrn-report metrics --since yesterday
	assert_failure 2
	assert_output --partial "--since 'yesterday': neither an RFC 3339 time nor a duration back from now (24h, 7d)"
	# meant as a time: what is wrong with it
	run jrn-report metrics --since 2025-12-01T00:00:00
	assert_failure 2
	assert_output "jrn-report: --since '2025-12-01T00:00:00': missing time zone offset (want Z or +HH:MM)"
	run jrn-report metrics --since 2026-01-02 --until 2026-01-01
	assert_failure 2
	assert_output --partial "the window ends before it starts (--since 2026-01-02T00:00:00.000Z, --until 2026-01-01T00:00:00.000Z)"
	run jrn-report metrics --now soon
	assert_failure 2
	run jrn-report metrics --by ""
	assert_failure 2
	assert_output --partial "--by '': an empty field"
	run jrn-report metrics --by campaign,
	assert_failure 2
}

@test "--format: ndjson by default; an unknown format is a usage error" {
	run --separate-stderr jrn-report metrics --by campaign
	assert_success
	assert_equal "${#lines[@]}" 3
	for l in "${lines[@]}"; do jq -e 'type == "object"' <<< "$l" > /dev/null; done
	assert_equal "$(jq -r '.campaign' <<< "$output" | head -1)" 'a,b "q"'
	run jrn-report metrics --format xml
	assert_failure 2
	assert_output --partial "--format 'xml': ndjson, table, csv or html"
}

@test "--format table: aligned columns, widths from the data (wide characters count 2), numbers right" {
	run jrn-report metrics --by campaign --format table -q
	assert_success
	# campaign column: widest cell 'line1\nline2' (12 columns: the newline
	# shown as \n); 日本語 is 6 columns wide so it gets 6 spaces of padding
	assert_line --index 0 --regexp '^campaign      sent  delivered  failed '
	assert_line --index 1 --regexp '^a,b "q"          1          0       0 '
	assert_line --index 2 --regexp '^line1\\nline2     0          0       1 '
	assert_line --index 3 --regexp '^日本語           1          0       0 '
	# no line ends in a space
	run bash -c "jrn-report metrics --by campaign --format table -q | grep -c ' \$'"
	assert_output 0
}

@test "--format csv: RFC 4180 quoting of commas, quotes and newlines; CRLF; null empty" {
	run jrn-report metrics --by campaign --format csv -q
	assert_success
	assert_line --index 0 "campaign,sent,delivered,failed,suppressed,rejected,opened,clicked,unsubscribed,bounced,converted,revenue,cost,roi,deliveryRate,openRate,clickRate,clickToOpenRate,conversionRate,unsubscribeRate,bounceRate"$'\r'
	assert_line --index 1 '"a,b ""q""",1,0,0,0,0,0,0,0,0,0,0,0,,0,0,0,,0,,0'$'\r'
	assert_line --index 2 '"line1'
	assert_line --index 3 'line2",0,0,1,0,0,0,0,0,0,0,0,0.25,-1,,,,,,,'$'\r'
	# the rows: read back with Python's csv module, the reference reader
	run bash -c 'jrn-report metrics --by campaign --format csv -q | /usr/bin/python3 -c "
import csv, sys
rows = list(csv.reader(sys.stdin))
print(len(rows))
for r in rows[1:]:
    print(repr(r[0]), r[1], r[3], r[12], repr(r[13]))
"'
	assert_success
	assert_output "4
'a,b \"q\"' 1 0 0 ''
'line1\\nline2' 0 1 0.25 '-1'
'日本語' 1 0 0.5 '-1'"
	# every line ends in CRLF, the one inside the quoted field in LF
	assert_equal "$(jrn-report metrics --by campaign --format csv -q | grep -c $'^"line1$')" 1
	assert_equal "$(jrn-report metrics --by campaign --format csv -q | grep -c $'\r$')" 4
}

@test "-o FILE: written whole; a failed run leaves FILE as it was and no temporary file" {
	run --separate-stderr jrn-report metrics --by campaign -o out.ndjson
	assert_success
	assert_output ""
	assert_equal "$(wc -l < out.ndjson)" 3
	run jrn-report metrics --by campaign --format csv -q --output out.csv
	assert_success
	assert_equal "$(head -1 out.csv | cut -c1-13)" "campaign,sent"
	# a failing run (a bad --by, found once the output is open)
	echo old > out.csv
	run jrn-report metrics --by country --format csv -o out.csv
	assert_failure 2
	assert_equal "$(cat out.csv)" old
	assert_equal "$(ls | grep -c 'out.csv.')" 0
	run jrn-report metrics -o nodir/out.csv
	assert_failure 1
	assert_output --partial "jrn-report: -o nodir/out.csv: No such file or directory"
	run jrn-report metrics -o ""
	assert_failure 2
	# the new file's mode follows the umask, as with the shell's >
	(umask 022 && jrn-report metrics -q -o m.ndjson)
	assert_equal "$(stat -c %a m.ndjson)" 644
}

@test "standard output closed or gone: a write error is exit 1, a reader that went away is a normal end" {
	run bash -c 'jrn-report metrics >&-'
	assert_failure 1
	assert_output --partial "jrn-report: writing output: Bad file descriptor"
	run bash -c 'jrn-report metrics > /dev/full'
	assert_failure 1
	assert_output --partial "No space left on device"
	# many rows (one per hour over a year) into a reader that stops at one
	sqlite3 jrn.db "WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < 9000)
	  INSERT INTO deliveries (key, channel, campaign_id, status, claimed_at, updated_at, record)
	  SELECT 'h' || i, 'email', 'c' || i, 'sent', 1735689600000 + i * 3600000, 0, '{}' FROM h"
	run bash -c 'jrn-report metrics --by hour,campaign -q | head -1; echo "${PIPESTATUS[0]}"'
	assert_success
	assert_line --index 1 0
}

@test "the state file: a missing one is an error that names it, and is not created" {
	run jrn-report metrics --db missing.db
	assert_failure 1
	assert_output "jrn-report: missing.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	assert [ ! -e missing.db ]
	JRN_DB=alsomissing.db run jrn-report metrics
	assert_failure 1
	assert_output --partial "alsomissing.db: no state file"
}

@test "the state file: one that cannot be reached, or a directory, is said as such, not as missing" {
	touch file
	mkdir d
	run --separate-stderr jrn-report metrics --db file/x.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: file/x.db: cannot open (Not a directory)"
	run --separate-stderr jrn-report metrics --db d
	assert_failure 1
	assert_equal "$stderr" "jrn-report: d: is a directory, not a state file"
	# several state files: the same words
	jrn init -q
	run --separate-stderr jrn-report metrics --db jrn.db --db file/x.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: file/x.db: cannot open (Not a directory)"
	run --separate-stderr jrn-report metrics --db jrn.db --db nope.db
	assert_failure 1
	assert_equal "$stderr" "jrn-report: nope.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn-report metrics --db jrn.db --db d
	assert_failure 1
	assert_equal "$stderr" "jrn-report: d: is a directory, not a state file"
}

@test "the state file is read, never written: its bytes do not change" {
	sqlite3 jrn.db "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null
	before=$(md5sum < jrn.db)
	jrn-report metrics -q > /dev/null
	jrn-report metrics --save --dry-run -q > /dev/null
	assert_equal "$(md5sum < jrn.db)" "$before"
	# a read-only file (and directory) is fine to read
	chmod a-w jrn.db
	run jrn-report metrics -q --by all
	assert_success
	assert_equal "$(jq .sent <<< "$output")" 2
}

@test "-o through a link, a FIFO or a device: the link kept, the FIFO read, nothing replaced" {
	# a link to a regular file: the file replaced, the link left a link
	echo old > real.csv
	ln -s real.csv link.csv
	run jrn-report metrics --by campaign --format csv -q -o link.csv
	assert_success
	[ -L link.csv ]
	assert_equal "$(head -1 real.csv | cut -c1-13)" "campaign,sent"
	assert_equal "$(ls | grep -c 'csv\.')" 0
	# a FIFO: written to, still a FIFO, its reader gets the rows
	mkfifo fifo
	cat fifo > from-fifo &
	run jrn-report metrics --by campaign -q -o fifo
	assert_success
	wait
	[ -p fifo ]
	assert_equal "$(wc -l < from-fifo)" 3
	# a device, through a link of its own: /dev/stdout's target unchanged
	ln -s /dev/null devnull
	run jrn-report metrics -q -o devnull
	assert_success
	[ -L devnull ] && [ -c /dev/null ]
}

@test "an older schema is refused, not migrated (jrn-report opens read-only); --save migrates it" {
	sqlite3 jrn.db "PRAGMA user_version = 11"
	run jrn-report metrics
	assert_failure 1
	assert_output "jrn-report: jrn.db: state file of schema 11, jrn-report reads 16: it opens the file read-only and does not migrate it (a tool that writes the file, such as jrn-ingest < /dev/null, does)"
	assert_equal "$(sqlite3 jrn.db 'PRAGMA user_version')" 11
	# --save opens it to write, which migrates: the file made a version 11
	# one again (what migration 12 added undone), then migrated
	sqlite3 jrn.db "DROP TRIGGER route_send_keys_gone; DROP TABLE route_send_keys;
		DROP TABLE route_send_keys_11; DROP INDEX deliveries_message; DROP TABLE log_offsets;
		DROP INDEX events_delivery; DROP INDEX events_orders; DROP INDEX deliveries_sent;
		CREATE UNIQUE INDEX route_decisions_key ON route_decisions (key) WHERE decision = 'send'"
	run jrn-report metrics --save -q
	assert_success
	assert_equal "$(sqlite3 jrn.db 'PRAGMA user_version')" 16
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM insights WHERE dimension = "all"')" 1
	# a newer one too
	sqlite3 jrn.db "PRAGMA user_version = 99"
	run jrn-report metrics
	assert_failure 1
	assert_output --partial "state file of schema 99 is newer than this jrn-report (16)"
}

@test "a corrupt or foreign state file is an error that names it" {
	echo "not a database at all, just some text that is long enough........." > bad.db
	run jrn-report metrics --db bad.db
	assert_failure 1
	assert_output --partial "jrn-report: bad.db: not a usable state file: file is not a database"
	: > empty.db
	run jrn-report metrics --db empty.db
	assert_failure 1
	assert_output "jrn-report: empty.db: not a jrn state file (schema version 0)"
	# a damaged page past the header: the query fails, exit 1
	sqlite3 jrn.db "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null
	# every page but the first (32 KiB pages) overwritten
	size=$(stat -c %s jrn.db)
	head -c $((size - 32768)) /dev/urandom | dd of=jrn.db bs=32768 seek=1 conv=notrunc 2> /dev/null
	run jrn-report metrics
	assert_failure 1
	assert_output --regexp "^jrn-report: (metrics: )?.*(malformed|not a database|corrupt)"
	mkdir dir.db
	run jrn-report metrics --db dir.db
	assert_failure 1
}

@test "-v says the state file, config and window; -q says nothing" {
	run --separate-stderr jrn-report metrics -v --since 24h
	assert_success
	assert_equal "$stderr" "jrn-report: state file jrn.db (read-only)
jrn-report: config (none)
jrn-report: window [2026-01-01T00:00:00.000Z, 2026-01-02T00:00:00.000Z)
jrn-report: metrics: 3 rows"
	run --separate-stderr jrn-report metrics -q
	assert_equal "$stderr" ""
}

@test "the config: a bad report.metrics.lookback is a config error" {
	printf 'report:\n  metrics:\n    lookback: never\n' > jrn.yaml
	run jrn-report metrics
	assert_failure 1
	assert_output --partial "jrn.yaml"
	printf 'report:\n  metrics:\n    lookbak: 1d\n' > jrn.yaml
	run jrn-report metrics
	assert_failure 1
	assert_output --partial "lookbak"
}

@test "jrn report runs jrn-report; jrn help report shows its usage" {
	run jrn report metrics --by all -q
	assert_success
	assert_equal "$(jq -c '[.sent, .failed, .cost]' <<< "$output")" "[2,1,0.75]"
	run jrn help report
	assert_success
	assert_line --index 0 --partial "usage: jrn-report KIND"
}
