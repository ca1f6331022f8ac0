#!/usr/bin/env bats
# jrn doctor: every unset ${NAME} of jrn.yaml with its key, and the state file.

load helpers

yaml() {
	printf 'db:\n  path: s.db\nsend:\n  unsubscribe:\n    secret: ${UNSUB_SECRET}\n' > jrn.yaml
}

@test "jrn doctor names every unset \${NAME} with file, line, column and key; exit 1" {
	yaml
	unset UNSUB_SECRET
	run jrn doctor
	assert_failure 1
	assert_line 'jrn.yaml:5:13: send.unsubscribe.secret: ${UNSUB_SECRET} is not set'
	assert_line --partial 's.db: no state file yet'
	[ ! -e s.db ] # doctor creates nothing
}

@test "jrn doctor: all set and a state file in order: exit 0" {
	yaml
	UNSUB_SECRET=x jrn-ingest -q < /dev/null
	run env UNSUB_SECRET=x jrn doctor
	assert_success
	assert_line 'jrn.yaml: configuration, every ${NAME} set'
	assert_line --regexp '^s\.db: state file, schema ([0-9]+) of \1$'
}

@test "jrn doctor: a state file that is not SQLite, and a bad config, are problems" {
	yaml
	echo junk > s.db
	run env UNSUB_SECRET=x jrn doctor
	assert_failure 1
	assert_line --partial 's.db: not a readable state file'
	printf 'db:\n  pth: x\n' > bad.yaml
	run jrn doctor --config bad.yaml
	assert_failure 1
	assert_line --partial 'bad.yaml:2:3:'
	run jrn doctor extra
	assert_failure 2
}
