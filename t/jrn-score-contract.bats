#!/usr/bin/env bats
# jrn-score and the pipeline contract (issue 9, jrn(7)): what it reads,
# what passes through, where the change events go, its voice and flags.

load helpers

# order CUSTOMER DAYS-BEFORE-NOW AMOUNT: one order event, DAYS and 12 hours
# before JRN_NOW (2026-01-01T00:00:00Z).
order() {
	local when
	when=$(date -u -d "@$((1767225600 - $2 * 86400 - 43200))" +%Y-%m-%dT%H:%M:%SZ)
	printf '{"type":"order.completed","customerId":"%s","timestamp":"%s","properties":{"amount":%s}}\n' \
		"$1" "$when" "$3"
}

# shop N: N customers with orders, in every RFM segment
shop() {
	for i in $(seq 1 "$1"); do
		order "c$(printf %03d "$i")" $((i * 7 % 200)) $((i * 13 % 300 + 5))
		[ $((i % 3)) -eq 0 ] && order "c$(printf %03d "$i")" $((i % 40)) 20
	done | jrn-ingest -q > /dev/null
}

# ---- fault 1: standard input is the input; --all -------------------------

@test "fault 1: lead </dev/null (cron's stdin) is an empty input, and says so" {
	shop 5
	run --separate-stderr jrn-score lead < /dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-score: lead: 0 profiles scored, 0 events passed through, 0 rejected"
	# an empty input with --save saves nothing and says so; -q: silent
	run --separate-stderr jrn-score lead --save < /dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-score: no input: nothing saved"
	assert_equal "$(rows "SELECT count(*) FROM scores")" 0
	run --separate-stderr bash -c 'true | jrn-score lead --save -q'
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "fault 1: lead --all scores every customer of the state file, whatever stdin is" {
	shop 5
	ev page.viewed anon1 | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score lead --all --save < /dev/null
	assert_success
	assert_equal "$(jq -r .customerId <<< "$output" | tr '\n' ' ')" "anon1 c001 c002 c003 c004 c005 "
	assert_equal "$(rows "SELECT count(*) FROM scores WHERE kind = 'lead'")" 6
	assert_equal "$stderr" "jrn-score: lead: 6 profiles scored, 0 events passed through, 0 rejected; 6 scores saved"
	run --separate-stderr bash -c 'echo "{\"customerId\":\"zz\"}" | jrn-score lead --all'
	assert_success
	refute_output --partial '"zz"'
	# --all and FILEs exclude each other; --all belongs to lead
	echo '{"customerId":"c1"}' > in.ndjson
	run --separate-stderr jrn-score lead --all in.ndjson
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "jrn-score: --all scores every customer of the state file: it takes no FILE"
	run --separate-stderr jrn-score rfm --all
	assert_failure 2
}

@test "fault 1: rfm --window 3x is a usage error and writes nothing to stdout" {
	shop 5
	run --separate-stderr bash -c 'jrn-score rfm --window 3x | wc -c; exit "${PIPESTATUS[0]}"'
	assert_failure 2
	assert_output 0
	[[ "$stderr" == "jrn-score: --window: bad duration '3x'"* ]]
}

# ---- fault 2: events pass through a profile tool ----------------------------

@test "fault 2: event lines in lead's input pass through unchanged, in order" {
	shop 3
	# spacing and member order kept byte for byte
	cat > in.ndjson <<'J'
{"customerId":"c001"}
{ "type" : "rfm.segment.changed", "customerId":"c001","properties":{"from":null,"to":"VIP"}}
{"customerId":"c002"}
{"type":"segment.entered","customerId":"c002","properties":{"segment":"vip"}}
{"type":"segment.entered","customerId":"c003","properties":{"segment":"vip"}}
{"customerId":"c003","type":7}
J
	for save in "" --save; do
		run --separate-stderr jrn-score lead $save in.ndjson
		assert_success
		assert_equal "${#lines[@]}" 6
		assert_equal "${lines[1]}" "$(sed -n 2p in.ndjson)"
		assert_equal "${lines[3]}" "$(sed -n 4p in.ndjson)"
		assert_equal "${lines[4]}" "$(sed -n 5p in.ndjson)"
		# profiles scored in their places (a non-string type is no event)
		assert_equal "$(sed -n '1p;3p;6p' <<< "$output" | jq -r '.customerId + " " + (.lead.grade)' | tr '\n' ' ')" \
			"c001 cold c002 cold c003 cold "
		[[ "$stderr" == "jrn-score: lead: 3 profiles scored, 3 events passed through, 0 rejected"* ]]
	done
	assert_equal "$(rows "SELECT count(*) FROM scores")" 3
}

@test "fault 2: rfm --save --changes | lead: the rfm.segment.changed lines reach the next step" {
	shop 6
	jrn-score rfm --save --changes -q > rfm.ndjson
	run --separate-stderr bash -c 'jrn-score rfm --changes --run last | jrn-score lead'
	assert_success
	assert_equal "$output" "$(grep rfm.segment.changed rfm.ndjson)"
	run --separate-stderr bash -c 'jrn-score lead < rfm.ndjson'
	assert_equal "$(grep -c rfm.segment.changed <<< "$output")" 6
	assert_equal "$(grep rfm.segment.changed <<< "$output")" "$(grep rfm.segment.changed rfm.ndjson)"
	assert_equal "$(jq -r 'if .type then "E" else "P" end' <<< "$output" | tr -d '\n')" PEPEPEPEPEPE
}

# ---- fault 3: change events stored with the save, replayable ------------------

@test "fault 3: the first --save --changes run emits one change from null per customer, stored" {
	shop 8
	run --separate-stderr jrn-score rfm --save --changes
	assert_success
	changes=$(grep '"rfm.segment.changed"' <<< "$output")
	assert_equal "$(wc -l <<< "$changes")" 8
	assert_equal "$(jq -r '.properties.from' <<< "$changes" | sort -u)" null
	assert_equal "$(jq -r '.properties.run' <<< "$changes" | sort -u)" 2026-01-01T00:00:00.000Z
	# the to of each change is its record's segment
	assert_equal "$(jq -r 'select(.rfm) | .rfm.segment' <<< "$output")" "$(jq -r .properties.to <<< "$changes")"
	# stored in the events table, the same bytes, in the same order
	assert_equal "$(rows "SELECT body FROM events WHERE type = 'rfm.segment.changed' ORDER BY seq")" "$changes"
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'rfm.segment.changed' AND id LIKE 'evt_%' AND ts = 1767225600000 AND amount IS NULL")" 8
	[[ "$stderr" == *"; snapshot saved, run 2026-01-01T00:00:00.000Z; 8 changes stored" ]]
	# the next night: only real changes, nothing again
	run --separate-stderr jrn-score rfm --save --changes --now 2026-01-02
	assert_equal "$(grep -c rfm.segment.changed <<< "$output")" 0
	# the same night again: the same ids, no duplicate
	jrn-score rfm --save --changes -q > /dev/null
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'rfm.segment.changed'")" 8
}

@test "fault 3: no change lost when the consumer is killed: --changes --run ID replays the run" {
	shop 40
	run --separate-stderr bash -c 'jrn-score rfm --save --changes | head -1'
	assert_success
	assert_equal "${#lines[@]}" 1
	[[ "$stderr" == *"run 2026-01-01T00:00:00.000Z; 40 changes stored"* ]]
	# the job rerun the next night has nothing new to say ...
	run --separate-stderr jrn-score rfm --save --changes --now 2026-01-02
	assert_equal "$(grep -c rfm.segment.changed <<< "$output")" 0
	# ... but every change of the killed run is there to replay, by ID or last
	run --separate-stderr jrn-score rfm --changes --run 2026-01-01T00:00:00Z
	assert_success
	assert_equal "${#lines[@]}" 40
	assert_equal "$(jq -r .customerId <<< "$output" | sort -u | wc -l)" 40
	assert_equal "$output" "$(rows "SELECT body FROM events WHERE type = 'rfm.segment.changed' ORDER BY seq")"
	assert_equal "$stderr" "jrn-score: rfm: 40 changes of run 2026-01-01T00:00:00.000Z replayed"
	run --separate-stderr jrn-score rfm --changes --run 2026-01-01
	assert_equal "${#lines[@]}" 40
	run --separate-stderr jrn-score rfm --changes --run last
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-score: rfm: 0 changes of run 2026-01-02T00:00:00.000Z replayed"
	# replayed changes ingested again are not duplicated (same ids)
	jrn-score rfm --changes --run 2026-01-01 -q | jrn-ingest -q > /dev/null
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'rfm.segment.changed'")" 40
}

@test "fault 3: a failed save stores no change and prints nothing" {
	shop 4
	rows "CREATE TRIGGER lose BEFORE INSERT ON rfm_snapshots WHEN NEW.customer_id = 'c002'
	      BEGIN SELECT RAISE(IGNORE); END;"
	run --separate-stderr jrn-score rfm --save --changes
	assert_failure 1
	assert_output ""
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'rfm.segment.changed'")" 0
}

@test "fault 3: --run, bad values and misuse" {
	shop 2
	run --separate-stderr jrn-score rfm --changes --run yesterday
	assert_failure 2
	assert_output ""
	[[ "$stderr" == "jrn-score: --run 'yesterday': "* ]]
	run --separate-stderr jrn-score rfm --run last
	assert_failure 2
	assert_equal "$stderr" "jrn-score: --run replays the changes of a run: give --changes"
	run --separate-stderr jrn-score rfm --save --changes --run last
	assert_failure 2
	run --separate-stderr jrn-score clv --run last
	assert_failure 2
	run --separate-stderr jrn-score rfm --changes --run last
	assert_failure 1
	assert_equal "$stderr" "jrn-score: --run last: no rfm snapshot was ever saved"
	jrn-score rfm --save -q > /dev/null
	run --separate-stderr jrn-score rfm --changes --run 2025-01-01
	assert_failure 1
	assert_equal "$stderr" "jrn-score: --run 2025-01-01T00:00:00.000Z: no rfm snapshot was saved at that time"
}

# ---- fault 6: stored data must not fail every night ------------------------------

@test "fault 6: a stored \"amount\":\"19.99\" is skipped and counted once; rfm and clv exit 0" {
	shop 3
	# as an older jrn-ingest stored it: the body as given, the amount column NULL
	rows "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES
	      ('m-1', 'order.completed', 'u1', 1767096000000, 0, NULL,
	       '{\"type\":\"order.completed\",\"customerId\":\"u1\",\"properties\":{\"amount\":\"19.99\"}}')"
	for cmd in rfm clv; do
		run --separate-stderr jrn-score $cmd --save
		assert_success
		refute_output --partial '"u1"'
		assert_equal "$(wc -l <<< "$stderr")" 1
		[[ "$stderr" == "jrn-score: $cmd: "*"; 1 stored event with a non-numeric amount skipped; see jrn events --bad-amount" ]]
		run --separate-stderr jrn-score $cmd -q
		assert_success
		assert_equal "$stderr" ""
	done
	assert_equal "$(rows "SELECT count(*) FROM rfm_snapshots")" 3
}

# ---- fault 9: voice and flags -------------------------------------------------------

@test "fault 9: one summary line by default for rfm, clv and lead; -q silent; -v names state, config, input" {
	shop 6
	echo '{"customerId":"c001"}' > in.ndjson
	for cmd in rfm clv "lead in.ndjson"; do
		run --separate-stderr jrn-score $cmd
		assert_success
		assert_equal "$(wc -l <<< "$stderr")" 1
		[[ "$stderr" == "jrn-score: ${cmd%% *}: "* ]]
		run --separate-stderr jrn-score $cmd -q
		assert_success
		assert_equal "$stderr" ""
		run --separate-stderr env JRN_LOG=quiet jrn-score $cmd
		assert_equal "$stderr" ""
	done
	printf 'scoring:\n  rfm:\n    window: 90d\n' > jrn.yaml
	run --separate-stderr jrn-score rfm -v
	assert_line --index 0 --partial '"customerId":"c001"'
	[[ "$stderr" == "jrn-score: state jrn.db, config jrn.yaml
jrn-score: input: the events of the state file
jrn-score: rfm: 6 customers scored from "*", window 90d, now 2026-01-01T00:00:00.000Z
jrn-score: memory: "*" KB anonymous" ]]
	run --separate-stderr jrn-score lead -v < in.ndjson
	[[ "$stderr" == *"jrn-score: input: standard input"* ]]
	run --separate-stderr jrn-score lead -v in.ndjson
	[[ "$stderr" == *"jrn-score: input: the FILE operands"* ]]
	run --separate-stderr jrn-score lead -v --all
	[[ "$stderr" == *"jrn-score: input: every customer of the state file (--all)"* ]]
}

@test "fault 9: errors start with jrn-score:, bad flag values exit 2" {
	shop 2
	printf 'scoring:\n  rfm:\n    weights: [1]\n  lead:\n    behavioral: [{event: a.b}]\n' > jrn.yaml
	for cmd in rfm lead; do
		run --separate-stderr jrn-score $cmd < /dev/null
		assert_failure 1
		[[ "$stderr" =~ ^"jrn-score: jrn.yaml:"[0-9]+:[0-9]+": scoring.$cmd." ]]
	done
	printf 'scoring:\n  lead:\n    grades: 3\n' > jrn.yaml
	run --separate-stderr jrn-score lead < /dev/null
	assert_failure 1
	[[ "$stderr" == "jrn-score: jrn.yaml:3:"* ]]
	rm jrn.yaml
	for args in "rfm --window 3x" "rfm --window 0d" "clv --horizon 0d" "clv --horizon 3x" \
		"clv --calibration-end yesterday" "rfm --changes --run nope" "rfm --frobs"; do
		run --separate-stderr jrn-score $args
		assert_failure 2
		assert_output ""
		[[ "$stderr" == "jrn-score: "* ]]
	done
	# --now yesterday: a bad flag value (jrn_opts_resolve returns -2 for it)
	run --separate-stderr jrn-score rfm --now yesterday
	[ "$status" -eq 2 ]
	assert_failure 2
	[[ "$stderr" == "jrn-score: "* ]]
}

@test "fault 9: --dry-run does all the work, writes nothing, says so" {
	shop 6
	run --separate-stderr jrn-score rfm --save --changes
	real=$output
	rows "DELETE FROM rfm_snapshots; DELETE FROM events WHERE type = 'rfm.segment.changed'"
	run --separate-stderr jrn-score rfm --save --changes --dry-run
	assert_success
	assert_equal "$output" "$real"
	assert_equal "$stderr" "jrn-score: rfm: 6 customers scored from 8 orders and 0 refunds, window 180d, now 2026-01-01T00:00:00.000Z; snapshot checked, run 2026-01-01T00:00:00.000Z; 6 changes (dry run, nothing saved)"
	assert_equal "$(rows "SELECT count(*) FROM rfm_snapshots")" 0
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'rfm.segment.changed'")" 0
	run --separate-stderr jrn-score clv --save --dry-run
	assert_success
	assert_equal "${#lines[@]}" 6
	[[ "$stderr" == "jrn-score: clv: BG/NBD "*"; 6 customers, unit 7d (dry run, nothing saved)" ]]
	assert_equal "$(rows "SELECT count(*) FROM scores")" 0
	echo '{"customerId":"c001"}' | jrn-score lead --save --dry-run -q > /dev/null
	assert_equal "$(rows "SELECT count(*) FROM scores")" 0
	# no state file: none is created
	run --separate-stderr jrn-score rfm --save --dry-run --db new.db
	assert_success
	[ ! -e new.db ]
}

@test "jrn-score: completion offers --all, --run and --dry-run" {
	run bash -c 'source "$0"
		COMP_WORDS=(jrn-score lead --a); COMP_CWORD=2; _jrn_score; echo "${COMPREPLY[*]}"
		COMP_WORDS=(jrn-score rfm --r); COMP_CWORD=2; _jrn_score; echo "${COMPREPLY[*]}"
		COMP_WORDS=(jrn-score clv --d); COMP_CWORD=2; _jrn_score; echo "${COMPREPLY[*]}"' \
		"$BATS_TEST_DIRNAME/../completions/jrn-score.bash"
	assert_success
	assert_line --index 0 "--all"
	assert_line --index 1 "--rejects --run"
	assert_line --index 2 "--db --dry-run"
}
