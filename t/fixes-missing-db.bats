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

@test "the readers of a newcomer's trial: a typo in --db is refused, not made (score, segment --all, merge --all, send --due/--stuck, queue, suppressions, events, privacy)" {
	while read -r cmd; do
		run --separate-stderr $cmd --db typo.db < /dev/null
		assert_equal "$status" 1
		[[ $stderr == *"typo.db: no state file (jrn init or a writer such as jrn-ingest makes one)" ]] || {
			echo "$cmd: $stderr"
			return 1
		}
		[ ! -e typo.db ] || { echo "$cmd made typo.db"; return 1; }
	done <<-'C'
	jrn-score rfm
	jrn-score clv
	jrn-score lead --all
	jrn-segment --all
	jrn-merge --all
	jrn-send --due
	jrn-send --stuck
	jrn queue list
	jrn queue cancel k1
	jrn suppressions list
	jrn suppressions remove a@example.com
	jrn events --bad-amount
	jrn events delete e1
	jrn privacy export c1
	jrn privacy erase c1
	C
	run --separate-stderr jrn queue list --db typo.db
	assert_equal "$stderr" "jrn: queue list: typo.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
}

@test "the writers still make a new state file: jrn-score rfm --save, jrn-segment --all --save, jrn-merge --all --save, jrn suppressions import; --dry-run makes none" {
	run --separate-stderr jrn-score rfm --dry-run --db dry.db
	assert_success
	[ ! -e dry.db ]
	run --separate-stderr jrn-score rfm --save --db a.db
	assert_success
	[ -s a.db ]
	run --separate-stderr jrn-segment --all --save --db b.db
	assert_success
	[ -s b.db ]
	run --separate-stderr jrn-merge --all --save --db c.db
	assert_success
	[ -s c.db ]
	echo 'a@example.com' > list.txt
	run --separate-stderr jrn suppressions import --channel email --db d.db list.txt
	assert_success
	[ -s d.db ]
}
