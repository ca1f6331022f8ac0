#!/usr/bin/env bats
# jrn: the front door.

load helpers

@test "jrn TOOL runs jrn-TOOL with its arguments" {
	run jrn ingest --version
	assert_success
	assert_output --regexp '^jrn-ingest '
}

@test "jrn finds tools beside itself when they are not on PATH" {
	run env PATH=/usr/bin:/bin "$JRN_BIN/jrn" ingest --version
	assert_success
}

@test "jrn help, jrn --version, jrn tools" {
	run jrn help
	assert_success
	assert_output --partial 'usage: jrn TOOL'
	run jrn --version
	assert_output --regexp '^jrn [0-9]+\.[0-9]+\.[0-9]+$'
	run jrn help ingest
	assert_success
	assert_line --index 0 --partial 'usage: jrn-ingest'
	run jrn tools
	assert_line ingest
}

@test "a mistyped verb or tool: did you mean, exit 2" {
	run --separate-stderr jrn queu
	assert_failure 2
	assert_equal "$stderr" "jrn: queu: unknown command (did you mean queue?)"
	run --separate-stderr jrn segmnet --list
	assert_failure 2
	assert_equal "$stderr" "jrn: segmnet: unknown command (did you mean segment?)"
	run --separate-stderr jrn tool
	assert_failure 2
	assert_equal "$stderr" "jrn: tool: unknown command (did you mean tools?)"
	# a verb's subcommand, before its usage
	run --separate-stderr jrn queue lsit
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn: queue: lsit: unknown command (did you mean list?)"
	assert_equal "${stderr_lines[1]}" "usage: jrn queue list"
	run --separate-stderr jrn suppressions remvoe x
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn: suppressions: remvoe: unknown command (did you mean remove?)"
	run --separate-stderr jrn events delet x
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn: events: delet: unknown command (did you mean delete?)"
	run --separate-stderr jrn privacy exprot c1
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn: privacy: exprot: unknown command (did you mean export?)"
	# far from every name: the usage alone, as before
	run --separate-stderr jrn queue zzz
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "usage: jrn queue list"
}

@test "a capitalised or misspelt verb or tool fails the tool-name check with a did you mean, exit 2" {
	run --separate-stderr jrn Queue list
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "jrn: Queue: unknown command (did you mean queue?)"
	run --separate-stderr jrn SEGMENT --list
	assert_failure 2
	assert_equal "$stderr" "jrn: SEGMENT: unknown command (did you mean segment?)"
	run --separate-stderr jrn Segmnet
	assert_failure 2
	assert_equal "$stderr" "jrn: Segmnet: unknown command (did you mean segment?)"
	run --separate-stderr jrn Tools
	assert_failure 2
	assert_equal "$stderr" "jrn: Tools: unknown command (did you mean tools?)"
	run --separate-stderr jrn help Init
	assert_failure 2
	assert_equal "$stderr" "jrn: Init: unknown command (did you mean init?)"
	run --separate-stderr jrn queue.
	assert_failure 2
	assert_equal "$stderr" "jrn: queue.: unknown command (did you mean queue?)"
	# near no name: what the check said before
	run --separate-stderr jrn Frobnicate
	assert_failure 2
	assert_equal "$stderr" "jrn: 'Frobnicate' is not a tool name; see 'jrn help'"
	run --separate-stderr jrn ../../bin/sh
	assert_failure 2
	assert_equal "$stderr" "jrn: '../../bin/sh' is not a tool name; see 'jrn help'"
}

@test "an unknown tool, a bad name, no arguments: exit 2" {
	run --separate-stderr jrn frobnicate
	assert_failure 2
	assert_equal "$stderr" "jrn: 'frobnicate' is not a jrn tool (no jrn-frobnicate found); see 'jrn help'"
	run jrn ../../bin/sh
	assert_failure 2
	run jrn
	assert_failure 2
	run jrn --bogus
	assert_failure 2
}

@test "jrn init writes a starter config that loads, and the state file" {
	run jrn init proj
	assert_success
	[ -s proj/jrn.yaml ]
	assert_equal "$(sqlite3 proj/jrn.db 'PRAGMA user_version')" 16
	assert_equal "$(sqlite3 proj/jrn.db 'PRAGMA journal_mode')" wal
	# the starter config is valid, and its db.path is relative to it
	ev a c1 | jrn-ingest -q --store-only --config proj/jrn.yaml
	assert_equal "$(sqlite3 proj/jrn.db 'SELECT count(*) FROM events')" 1
	run --separate-stderr jrn init proj
	assert_failure 1
	assert_regex "$stderr" 'exists'
	run jrn init --force proj
	assert_success
}

@test "jrn init --db writes the path into jrn.yaml, relative to DIR" {
	mkdir -p proj/data
	run jrn init --db data/s.db proj
	assert_success
	[ -e proj/data/s.db ]
	run grep -c 'path: "data/s.db"' proj/jrn.yaml
	assert_output 1
	cd proj
	ev a c1 | jrn-ingest -q --store-only
	assert_equal "$(sqlite3 data/s.db 'SELECT count(*) FROM events')" 1
}

@test "jrn init that cannot make the state file leaves no jrn.yaml, and --force keeps the old one" {
	mkdir proj
	sqlite3 proj/app.db 'CREATE TABLE orders (id INTEGER)'
	run --separate-stderr jrn init --db app.db proj
	assert_failure 1
	assert_regex "$stderr" "app.db: not a jrn state file"
	assert_equal "$(ls -A proj)" app.db
	# --force over a working jrn.yaml: the old one stays when the new fails
	run jrn init proj
	assert_success
	cp proj/jrn.yaml before.yaml
	run --separate-stderr jrn init --force --db app.db proj
	assert_failure 1
	cmp before.yaml proj/jrn.yaml
	assert_equal "$(ls -A proj | paste -sd,)" app.db,jrn.db,jrn.yaml
	# and a good --force replaces it in place: its mode kept
	chmod 600 proj/jrn.yaml
	run jrn init --force --db s.db proj
	assert_success
	run grep -c 'path: "s.db"' proj/jrn.yaml
	assert_output 1
	assert_equal "$(ls -A proj | paste -sd,)" app.db,jrn.db,jrn.yaml,s.db
	assert_equal "$(stat -c %a proj/jrn.yaml)" 600
	# a DIR this init made goes with it; a jrn.yaml that is a directory
	# fails --force before a state file is made
	run --separate-stderr jrn init --db ../proj/app.db fresh
	assert_failure 1
	[ ! -e fresh ] || fail "fresh left: $(ls -A fresh)"
	mkdir -p odd/jrn.yaml
	run --separate-stderr jrn init --force odd
	assert_failure 1
	assert_equal "$stderr" "jrn: init: odd/jrn.yaml: Is a directory"
	assert_equal "$(ls -A odd)" jrn.yaml
}

@test "the starter jrn.yaml ships the seed's scoring rules, equal to the defaults" {
	jrn init proj
	"$JRN_GEN" -n 3000 | jrn-ingest -q --store-only --db proj/jrn.db
	printf '{"customerId":"c0000001","traits":{"jobTitle":"CEO","company":{"size":500}}}\n{"customerId":"c0000002"}\n' > p.ndjson
	run jrn-score lead --db proj/jrn.db p.ndjson
	assert_success
	defaults=$output
	run jrn-score lead --config proj/jrn.yaml p.ndjson
	assert_success
	assert_equal "$output" "$defaults"
	assert_line --index 0 --partial '"demographic":35'
	assert_equal "$(jrn-score rfm --config proj/jrn.yaml | md5sum)" "$(jrn-score rfm --db proj/jrn.db | md5sum)"
}

@test "scoring and segments keys are checked like every other section" {
	printf 'scoring:\n  rfm:\n    windw: 90d\n' > bad.yaml
	run --separate-stderr jrn-score rfm --config bad.yaml
	assert_failure 1
	assert_equal "$stderr" "jrn-score: bad.yaml:3:5: unknown key 'windw' in scoring.rfm (did you mean 'window'?)"
	printf 'segments:\n  drift: many\n' > bad.yaml
	run --separate-stderr jrn-segment --config bad.yaml < /dev/null
	assert_failure 1
	assert_regex "$stderr" 'bad.yaml:2:10: segments.drift: expected a number'
}

@test "every verb's --help and -h print its usage, --version the version, exit 0, no state file touched" {
	for v in init run log events suppressions queue privacy doctor partition; do
		for h in --help -h; do
			run --separate-stderr jrn $v $h
			assert_success || { echo "jrn $v $h"; false; }
			assert_line --index 0 --regexp "^usage: jrn $v( |\$)"
			assert_equal "$stderr" ""
		done
		run --separate-stderr jrn $v --version
		assert_success || { echo "jrn $v --version"; false; }
		assert_output --regexp '^jrn( [a-z]+)? [0-9]+\.[0-9]+\.[0-9]+$'
		assert_equal "$stderr" ""
	done
	[ ! -e jrn.db ] && [ ! -e jrn.yaml ]
}

@test "a verb's bad option is said in the verbs' voice, 'jrn: VERB: ...', with its own --help to try, exit 2" {
	for v in init run log events suppressions queue privacy doctor partition; do
		run --separate-stderr jrn $v --bogus
		assert_failure 2 || { echo "jrn $v --bogus"; false; }
		assert_equal "$stderr" "jrn: $v: unrecognized option '--bogus'
Try 'jrn $v --help'."
	done
	run --separate-stderr jrn log -n
	assert_failure 2
	assert_equal "$stderr" "jrn: log: option requires an argument -- 'n'
Try 'jrn log --help'."
	run --separate-stderr jrn queue list -x
	assert_failure 2
	assert_equal "$stderr" "jrn: queue: invalid option -- 'x'
Try 'jrn queue --help'."
}

@test "jrn help COMMAND prints what jrn COMMAND --help prints, exit 0; help, tools and version get jrn's usage" {
	for v in init run log events suppressions queue privacy doctor partition; do
		run --separate-stderr jrn $v --help
		local want=$output
		run --separate-stderr jrn help $v
		assert_success || { echo "jrn help $v"; false; }
		assert_output "$want"
		assert_equal "$stderr" ""
	done
	for w in help tools version; do
		run jrn help $w
		assert_success
		assert_line --index 0 'usage: jrn TOOL [ARGS...]'
	done
	run --separate-stderr jrn help Queu
	assert_failure 2
	assert_equal "$stderr" "jrn: Queu: unknown command (did you mean queue?)"
	[ ! -e jrn.db ] && [ ! -e jrn.yaml ]
}
