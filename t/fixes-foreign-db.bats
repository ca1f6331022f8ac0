#!/usr/bin/env bats
# A state file path (--db) that names another program's SQLite database
# (user_version 0, yet tables) is refused, the file left byte for byte as
# it was, instead of jrn's schema being migrated into it beside the other
# program's tables. A new or empty file is still initialised, also when
# several processes create it at the same moment.

load helpers

foreign() { # FILE: another program's database, made by the sqlite3 CLI
	sqlite3 "$1" "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO users VALUES (1, 'ada');
		CREATE INDEX users_name ON users (name);"
}

@test "another program's SQLite database is refused by writers and readers alike, exit 1, left as it was" {
	foreign app.db
	cp app.db before.db
	local msg="app.db: not a jrn state file: another program's SQLite database (user_version 0 and 2 schema objects, the first 'users')"
	run --separate-stderr jrn-ingest --db app.db <<< '{"type":"page.viewed","customerId":"c1"}'
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: $msg"
	run --separate-stderr jrn suppressions import --db app.db <<< 'a@example.com'
	assert_failure 1
	assert_equal "$stderr" "jrn: $msg"
	run --separate-stderr jrn log --db app.db
	assert_failure 1
	assert_equal "$stderr" "jrn: $msg"
	run --separate-stderr jrn-report metrics --db app.db
	assert_failure 1
	assert_regex "$stderr" "not a jrn state file"
	# jrn doctor says so too, not "the next tool migrates it"
	run --separate-stderr jrn doctor --db app.db
	assert_failure 1
	assert_line "$msg"
	cmp app.db before.db
	[ ! -e app.db-wal ]
	assert_equal "$(sqlite3 app.db 'PRAGMA user_version; PRAGMA journal_mode')" "0
delete"
	assert_equal "$(sqlite3 app.db "SELECT group_concat(name) FROM sqlite_schema")" "users,users_name"
}

@test "another program's database with its own user_version, and a jrn copy made by .dump, are refused unchanged; a name is shown safely" {
	foreign app.db
	sqlite3 app.db 'PRAGMA user_version = 9'
	cp app.db before.db
	run --separate-stderr jrn-ingest --db app.db < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: app.db: not a jrn state file: another program's SQLite database (user_version 9, no events table; 2 schema objects, the first 'users')"
	cmp app.db before.db
	assert_equal "$(sqlite3 app.db 'PRAGMA journal_mode')" delete
	run --separate-stderr jrn doctor --db app.db
	assert_failure 1
	assert_line --partial "user_version 9, no events table"
	# a state file copied with sqlite3's .dump loses its user_version
	jrn-ingest -q --db real.db <<< '{"type":"page.viewed","customerId":"c1","timestamp":"2026-01-01T00:00:00Z"}'
	sqlite3 real.db .dump | sqlite3 copy.db
	run --separate-stderr jrn-ingest --db copy.db < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: copy.db: jrn's tables but user_version 0, so not known as a state file (sqlite3's .dump does not keep user_version: copy a state file with .backup or VACUUM INTO)"
	# a copy made with VACUUM INTO is a state file
	sqlite3 real.db "VACUUM INTO 'vac.db'"
	run jrn-ingest -q --db vac.db < /dev/null
	assert_success
	# a table name with a control character and 80 bytes: shown with '?', cut at 60
	sqlite3 odd.db "CREATE TABLE \"t$(printf '\001')$(printf 'x%.0s' $(seq 80))\" (a)"
	run --separate-stderr jrn-ingest --db odd.db < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: odd.db: not a jrn state file: another program's SQLite database (user_version 0 and 1 schema object, the first 't?$(printf 'x%.0s' $(seq 58))')"
}

@test "a new file, an empty file and a schemaless SQLite file are initialised as before" {
	: > empty.db
	sqlite3 bare.db 'PRAGMA user_version = 0; PRAGMA journal_mode = WAL' > /dev/null
	for f in new.db empty.db bare.db; do
		run jrn-ingest -q --db "$f" < /dev/null
		assert_success
		run sqlite3 "$f" "SELECT count(*) FROM sqlite_schema WHERE name = 'events'"
		assert_output 1
		run sqlite3 "$f" 'PRAGMA user_version'
		refute_output 0
	done
}

@test "several processes creating the same new state file at once all succeed" {
	for round in 1 2 3 4 5 6 7 8; do
		rm -f race.db race.db-wal race.db-shm
		local pids=()
		for k in 1 2 3 4; do
			jrn-ingest -q --db race.db < /dev/null 2>> err & pids+=($!)
		done
		for p in "${pids[@]}"; do
			wait "$p" || { cat err; false; }
		done
	done
	run cat err
	assert_output ""
	run sqlite3 race.db 'PRAGMA user_version'
	refute_output 0
}
