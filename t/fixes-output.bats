#!/usr/bin/env bats
# jrn's own output ends as every tool's does (jrn_finish): a reader that
# went away (`| head -1`) is a normal end, exit 0 and nothing said, not
# death by SIGPIPE (exit 141); another write error (a full disk) is said
# as "PROG: writing output: REASON", exit 1, not a silent 1 or a 0. The
# verbs (log, queue, suppressions, events, privacy), jrn --help, --version
# and tools, and every tool's --help and --version.

load helpers

# A state file with more of each list than a pipe holds (64 KiB), so that
# the verb still writes after `head -1` has gone: 3,000 runs of jrn run
# with a stage each, 3,000 events of c1 whose amount is not a number, as
# many queued sends, 20,000 suppressed addresses.
big_state() {
	jrn-ingest -q < /dev/null
	sqlite3 jrn.db "
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
	INSERT INTO runs SELECT i, 'nightly', 100 + i, 1767225600000 + i * 1000,
		1767225601000 + i * 1000, 1000, 0, 'cat | cat' FROM n;
	INSERT INTO run_stages SELECT id, 1, 'cat', 1, started_at, ended_at, 5, 0, 3, 30 FROM runs;
	INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
		SELECT 'e' || id, 'order.completed', 'c1', 1767225600000, 1767225600000, NULL,
		'{\"id\":\"e' || id || '\",\"type\":\"order.completed\",\"customerId\":\"c1\",'
		|| '\"properties\":{\"amount\":\"twelve\"}}' FROM runs;
	INSERT INTO deliveries (key, customer_id, channel, status, claimed_at, updated_at, record)
		SELECT 'k' || id, 'c1', 'email', 'queued', 1767225600000, 1767225600000, '{}' FROM runs;
	INSERT INTO outbox (key, send_at, record) SELECT 'k' || id, 1767225600000, '{}' FROM runs;"
	seq 1 20000 | sed 's/.*/u&@example.com/' > sup.txt
	jrn suppressions import -q sup.txt
}

@test "jrn's verbs under | head -1: exit 0, nothing said, not killed by SIGPIPE" {
	big_state
	for v in "log -n 3000" "log --json -n 3000" "queue list" "suppressions list" \
		"events --bad-amount -q" "privacy export c1"; do
		run bash -c "jrn $v 2>err | head -c 10 > /dev/null; echo \"rc=\${PIPESTATUS[0]}\"; cat err"
		assert_output "rc=0" || { echo "jrn $v"; false; }
	done
}

@test "jrn's verbs into a full disk: 'jrn: writing output: ...', exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	big_state
	for v in "log" "log -n 3000" "log --json" "queue list" "suppressions list" \
		"events --bad-amount -q" "privacy export c1" "doctor"; do
		run --separate-stderr bash -c "jrn $v > /dev/full"
		assert_failure 1 || { echo "jrn $v"; false; }
		assert_equal "$stderr" "jrn: writing output: No space left on device"
	done
}

@test "jrn --help, --version, tools and every tool's --help and --version into a full disk: said, exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	for a in --help help --version tools "log --help" "queue --help"; do
		run --separate-stderr bash -c "jrn $a > /dev/full"
		assert_failure 1 || { echo "jrn $a"; false; }
		assert_equal "$stderr" "jrn: writing output: No space left on device"
	done
	for t in ingest segment score send merge ai route report; do
		for a in --help --version; do
			run --separate-stderr bash -c "jrn-$t $a > /dev/full"
			assert_failure 1 || { echo "jrn-$t $a"; false; }
			assert_equal "$stderr" "jrn-$t: writing output: No space left on device"
		done
	done
	# a reader that went away is no error
	run bash -c 'jrn-report --help | head -1 > /dev/null; echo "rc=${PIPESTATUS[0]}"'
	assert_output "rc=0"
}

@test "every tool under | head -c 10 with nothing saved: exit 0, nothing said (no summary of a cut run)" {
	"$JRN_GEN" -n 20000 -c 2000 > ev.ndjson
	jrn-ingest -q ev.ndjson > /dev/null
	jrn-ai state -q ev.ndjson > st.ndjson
	for t in "jrn-ingest --all ev.ndjson" "jrn-merge ev.ndjson" "jrn-segment ev.ndjson" \
		"jrn-score rfm" "jrn-score lead ev.ndjson" "jrn-score clv" "jrn-ai state ev.ndjson" \
		"jrn-ai optimize st.ndjson" "jrn-route ev.ndjson"; do
		run bash -c "$t 2>err | head -c 10 > /dev/null; echo \"rc=\${PIPESTATUS[0]}\"; cat err"
		assert_output "rc=0" || { echo "$t"; false; }
	done
	# a run that saved says what it saved, cut or not
	run bash -c 'jrn-score rfm --save 2>err | head -c 10 > /dev/null; cat err'
	assert_output --regexp '^jrn-score: rfm: [0-9]+ customers scored .*; snapshot saved'
}
