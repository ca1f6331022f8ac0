#!/usr/bin/env bats
# jrn-ingest on bad input: a precise message, the documented exit status,
# and no good record before or after it lost.

load helpers

good() { ev page.viewed "$1" "\"id\":\"$1\""; }

@test "malformed JSON between good lines" {
	{ good g1; echo '{"type":"a",'; echo '{"type":"a" "customerId":"c"}'; echo 'nan'; good g2; } > in.ndjson
	run --separate-stderr jrn-ingest --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_regex "${stderr_lines[0]}" '^jrn-ingest: in.ndjson:2: invalid JSON'
	assert_regex "${stderr_lines[1]}" '^jrn-ingest: in.ndjson:3: invalid JSON at byte 13'
	assert_regex "${stderr_lines[2]}" '^jrn-ingest: in.ndjson:4: invalid JSON'
	assert_equal "$(wc -l < rej.ndjson)" 3
	assert_equal "$(jq -r '[.file, .line, .input] | @tsv' rej.ndjson | head -1)" "$(printf 'in.ndjson\t2\t{"type":"a",')"
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "g1,g2"
}

@test "a JSON array or number on a line" {
	{ good g1; echo '[1,2,3]'; echo '42'; echo '"str"'; good g2; } > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_regex "${stderr_lines[0]}" 'in.ndjson:2: not a JSON object \(got an array\)'
	assert_regex "${stderr_lines[1]}" 'in.ndjson:3: not a JSON object \(got a number\)'
	assert_regex "${stderr_lines[2]}" 'in.ndjson:4: not a JSON object \(got a string\)'
	assert_equal "${#lines[@]}" 2
}

@test "a 20 MB line is stored whole" {
	{ good g1
	  printf '{"id":"big","type":"a","customerId":"c","timestamp":"2025-01-01T00:00:00.000Z","properties":{"blob":"'
	  head -c 20000000 /dev/zero | tr '\0' 'x'
	  printf '"}}\n'
	  good g2; } > in.ndjson
	run --separate-stderr jrn-ingest --store-only in.ndjson
	assert_success
	assert_equal "$(rows "SELECT length(body) FROM events WHERE id='big'")" 20000104
	assert_equal "$(rows 'SELECT count(*) FROM events')" 3
}

@test "a 20 MB line of bad JSON is rejected with a short message" {
	{ good g1; printf '{"a":"'; head -c 20000000 /dev/zero | tr '\0' 'x'; printf '\n'; good g2; } > in.ndjson
	run --separate-stderr jrn-ingest --store-only in.ndjson
	assert_failure 3
	assert [ "${#stderr}" -lt 300 ]
	assert_regex "$stderr" 'in.ndjson:2: invalid JSON'
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
}

@test "invalid UTF-8 is rejected and kept exactly in the rejects file" {
	{ good g1; printf '{"type":"a","customerId":"c\xff\xfe"}\n'; good g2; } > in.ndjson
	run --separate-stderr jrn-ingest --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_regex "$stderr" 'in.ndjson:2: invalid UTF-8 at byte 28'
	assert_equal "$(jq -r .inputBase64 rej.ndjson | base64 -d | od -An -tx1 | tr -d ' \n')" \
		"$(printf '{"type":"a","customerId":"c\xff\xfe"}' | od -An -tx1 | tr -d ' \n')"
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
}

@test "an empty file, and an empty stdin" {
	: > empty.ndjson
	run --separate-stderr jrn-ingest empty.ndjson
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-ingest: 0 stored, 0 duplicate, 0 rejected"
	run jrn-ingest -q < /dev/null
	assert_success
	assert_output ""
}

@test "a missing or unreadable file: exit 1, the other files still stored" {
	good g1 > a.ndjson
	good g2 > b.ndjson
	run --separate-stderr jrn-ingest -q a.ndjson missing.ndjson b.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: missing.ndjson: No such file or directory"
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
	if [ "$(id -u)" != 0 ]; then
		chmod 000 b.ndjson
		run jrn-ingest -q b.ndjson
		assert_failure 1
	fi
	run --separate-stderr jrn-ingest -q .
	assert_failure 1
	assert_regex "$stderr" '^jrn-ingest: \.: Is a directory$'
}

@test "an unwritable state file" {
	good g1 > in.ndjson
	run --separate-stderr jrn-ingest --db /nonexistent/dir/jrn.db in.ndjson
	assert_failure 1
	assert_regex "$stderr" "^jrn-ingest: /nonexistent/dir/jrn.db: cannot open state file"
	mkdir d.db
	run --separate-stderr jrn-ingest --db d.db in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: d.db: is a directory"
}

@test "a corrupt or non-SQLite state file is refused, not crashed on" {
	good g1 > in.ndjson
	echo "this is not a database, it is a text file of some length........" > text.db
	run --separate-stderr jrn-ingest --db text.db in.ndjson
	assert_failure 1
	assert_regex "$stderr" '^jrn-ingest: text.db: not a usable state file: file is not a database$'
	# a real state file with its pages damaged
	"$JRN_GEN" -n 2000 | jrn-ingest -q --store-only --db bad.db
	sqlite3 bad.db 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null
	dd if=/dev/urandom of=bad.db bs=4096 seek=3 count=40 conv=notrunc 2>/dev/null
	run --separate-stderr jrn-ingest --db bad.db in.ndjson
	assert_failure 1
	assert_regex "$stderr" '^jrn-ingest: bad.db: '
	refute_regex "$stderr" 'Segmentation|Aborted|AddressSanitizer'
}

@test "a state file from a newer jrn is refused" {
	sqlite3 new.db 'PRAGMA user_version = 999'
	good g1 > in.ndjson
	run --separate-stderr jrn-ingest --db new.db in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'schema version 999 is newer than this jrn knows'
}

@test "a locked state file: waits the busy timeout, then fails precisely" {
	good g1 > in.ndjson
	jrn-ingest -q --store-only in.ndjson
	printf 'db:\n  busyTimeout: 300ms\n' > jrn.yaml
	# another writer holds the write lock for 3 seconds
	( echo 'BEGIN IMMEDIATE;'; sleep 3; echo 'COMMIT;' ) | sqlite3 jrn.db &
	sleep 0.5
	good g2 > more.ndjson
	run --separate-stderr jrn-ingest more.ndjson
	assert_failure 1
	assert_regex "$stderr" '^jrn-ingest: jrn.db: database is locked'
	wait
	# nothing was lost: the same input goes in once the lock is gone
	run jrn-ingest -q more.ndjson
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
}

@test "a closed stdout: a clean, silent exit" {
	"$JRN_GEN" -n 50000 > in.ndjson
	run bash -c 'jrn-ingest in.ndjson | head -1; echo "status ${PIPESTATUS[0]}"'
	assert_line --index 0 --partial '"type":"user.signup"'
	assert_line --index 1 "status 0"
	assert_equal "${#lines[@]}" 2
}

@test "an unknown option or bad option value: exit 2" {
	run jrn-ingest --nope
	assert_failure 2
	run --separate-stderr jrn-ingest --batch-size 0
	assert_failure 2
	assert_regex "$stderr" 'batch-size'
	run --separate-stderr jrn-ingest --now yesterday < /dev/null
	assert_failure 2
	assert_regex "$stderr" "--now/JRN_NOW 'yesterday'"
}

@test "an unwritable rejects file fails before reading" {
	good g1 > in.ndjson
	run --separate-stderr jrn-ingest --rejects /nonexistent/rej in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'rejects /nonexistent/rej: No such file or directory'
}

@test "a config with an unknown key is refused with file:line:column" {
	printf 'db:\n  path: x.db\n  bogus: 1\n' > jrn.yaml
	run --separate-stderr jrn-ingest < /dev/null
	assert_failure 1
	assert_regex "$stderr" '^jrn-ingest: jrn.yaml:3:3: '
	assert_regex "$stderr" "bogus"
}

@test "JRN_LOG=quiet silences the summary; a bad JRN_LOG is an error" {
	good g1 > in.ndjson
	JRN_LOG=quiet run --separate-stderr jrn-ingest in.ndjson
	assert_success
	assert_equal "$stderr" ""
	JRN_LOG=loud run --separate-stderr jrn-ingest in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'JRN_LOG'
}

@test "an older state file is migrated, keeping its events" {
	sqlite3 old.db < "$BATS_TEST_DIRNAME/fixtures/schema-v1.sql"
	sqlite3 old.db "INSERT INTO events (id, type, customer_id, ts, received_at, body) VALUES ('old1', 'a', 'c', 0, 0, '{}')"
	good g1 > in.ndjson
	run jrn-ingest -q --db old.db in.ndjson
	assert_success
	assert_equal "$(sqlite3 old.db 'PRAGMA user_version')" 16
	assert_equal "$(sqlite3 old.db 'SELECT count(*) FROM events')" 2
	assert_equal "$(sqlite3 old.db "SELECT count(*) FROM sqlite_schema WHERE name = 'rfm_snapshots'")" 1
}

@test "a non-string type beside a Segment event is rejected, not a crash" {
	printf '{"type":5,"event":"x","customerId":"c"}\n{"type":"","event":"x","customerId":"c"}\n' > in.ndjson
	good g1 >> in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_regex "${stderr_lines[0]}" 'in.ndjson:1: type: expected a non-empty string'
	assert_equal "$(rows 'SELECT count(*) FROM events')" 1
}

@test "a Segment track call without its event's name is rejected, not stored as type track (a newcomer's trial)" {
	printf '%s\n' '{"type":"track","event":5,"userId":"u1","messageId":"m1"}' \
		'{"type":"track","userId":"u1","messageId":"m2"}' \
		'{"type":"track","event":"","userId":"u1","messageId":"m3"}' \
		'{"type":"track","event":"Signed Up","userId":"u1","messageId":"m4"}' > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-ingest: in.ndjson:1: event: expected a non-empty string"
	assert_equal "${stderr_lines[1]}" "jrn-ingest: in.ndjson:2: event: missing (a track call names its event)"
	assert_equal "${stderr_lines[2]}" "jrn-ingest: in.ndjson:3: event: expected a non-empty string"
	assert_equal "$(rows 'SELECT id, type FROM events')" 'm4|Signed Up'
}

@test "nesting past libjq's 256 levels is rejected the same on every path" {
	deep=$(printf '%.0s[' $(seq 300))$(printf '%.0s]' $(seq 300))
	printf '{"id":"x","type":"a","customerId":"c","timestamp":"2025-01-01T00:00:00.000Z","p":%s}\n' "$deep" > in.ndjson
	printf '{"type":"a","customerId":"c","p":%s}\n' "$deep" >> in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_regex "${stderr_lines[0]}" 'in.ndjson:1: invalid JSON at byte [0-9]+: nested deeper than 256 levels'
	assert_regex "${stderr_lines[1]}" 'in.ndjson:2: invalid JSON at byte [0-9]+: nested deeper than 256 levels'
}

@test "a bad --country is a usage error" {
	run --separate-stderr jrn-ingest --country USA < /dev/null
	assert_failure 2
	assert_regex "$stderr" "two-letter"
}
