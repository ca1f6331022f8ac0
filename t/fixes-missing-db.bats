#!/usr/bin/env bats
# Commands that only read a state file, or take from it, refuse one that
# does not exist instead of creating it (a typo in --db used to leave a
# stray empty file and report success): jrn log, jrn-segment --count,
# jrn partition export and drop. jrn partition import still makes its
# target (a new machine's first state arrives that way).

load helpers

@test "jrn log, jrn-segment --count, jrn partition export/drop: a missing state file is refused, not made" {
	run jrn log
	assert_failure 1
	assert_output "jrn: log: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run jrn log --db typo.db
	assert_failure 1
	assert_output --partial "log: typo.db: no state file"
	run jrn-segment --count --db typo.db
	assert_failure 1
	assert_output "jrn-segment: typo.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run jrn partition export 3 --of 8 -o p3.db --db typo.db
	assert_failure 1
	assert_output --partial "partition export: typo.db: no state file"
	run jrn partition drop 3 --of 8 --db typo.db
	assert_failure 1
	assert_output --partial "partition drop: typo.db: no state file"
	run ls
	refute_output --partial ".db"
}

@test "jrn log, jrn partition export/drop: a state file past a regular file, or a directory, is said as such, not as missing" {
	touch file
	mkdir d
	run --separate-stderr jrn log --db nosuch.db
	assert_failure 1
	assert_equal "$stderr" "jrn: log: nosuch.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	run --separate-stderr jrn log --db file/x.db
	assert_failure 1
	assert_equal "$stderr" "jrn: log: file/x.db: cannot open (Not a directory)"
	run --separate-stderr jrn log --db d
	assert_failure 1
	assert_equal "$stderr" "jrn: log: d: is a directory, not a state file"
	run --separate-stderr jrn partition export 3 --of 8 -o p3.db --db file/x.db
	assert_failure 1
	assert_equal "$stderr" "jrn: partition export: file/x.db: cannot open (Not a directory)"
	run --separate-stderr jrn partition drop 3 --of 8 --db d
	assert_failure 1
	assert_equal "$stderr" "jrn: partition drop: d: is a directory, not a state file"
	[ ! -e p3.db ]
}

@test "the same commands on a state file jrn init made: exit 0; import makes its target" {
	jrn init -q
	run jrn log
	assert_success
	run jrn-segment --count
	assert_success
	jrn partition export 3 --of 8 -o p3.db
	[ -f p3.db ]
	jrn partition --db new.db import p3.db
	[ -f new.db ]
}
