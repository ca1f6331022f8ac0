#!/usr/bin/env bats
# Hostile input (issue 10): the corpus of t/hostile/ by kind -- JSON lines
# (json/), configurations (config/), templates (templates/), segment files
# (rules/), and the big ones t/hostile/gen.sh writes -- run through every
# tool that takes that kind of input, with the same oracles for every case:
#
#   - no hang: each run under `timeout 20` (status 124 is a failure);
#   - no crash: never a signal (status >= 128);
#   - a hostile record is that record's problem: exit 0, 2 or 3, never 1,
#     and the good records before and after it (customers G00D1, G00D2)
#     are in the output; a hostile file the whole run reads (config,
#     segments) may stop the run (1 or 2), saying so as "TOOL: ...";
#   - nothing that came from ${...} is printed: ${HOSTILE_SECRET} is set to
#     a marker that must appear in no stdout, stderr or --rejects file.
#
# One test per kind and tool; it runs every case and fails listing each
# case that broke an oracle, with the reason.

load helpers

H=$BATS_TEST_DIRNAME/hostile
SECRET=Hx9-S3CRET-4242
export HOSTILE_SECRET=$SECRET
unset HOSTILE_UNSET

# The big cases, and two state files each case starts from a copy of (a
# new state file per case costs its migrations): empty, and with the good
# customers' orders.
setup_file() {
	sh "$BATS_TEST_DIRNAME/hostile/gen.sh" "$BATS_FILE_TMPDIR/gen"
	cd "$BATS_FILE_TMPDIR" || return 1
	jrn-ingest -q --db base.db < /dev/null
	printf '%s\n' \
		'{"type":"order.completed","customerId":"G00D1","id":"G00D1-o","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":30}}' \
		'{"type":"order.completed","customerId":"G00D2","id":"G00D2-o","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":50}}' |
		jrn-ingest -q --db stored.db > /dev/null
}

# orders: a state file with the good customers' orders, no rejects file
orders() {
	rm -rf jrn.db* rej.ndjson
	cp "$BATS_FILE_TMPDIR/stored.db" jrn.db
}

# fresh: an empty state file, no rejects file
fresh() {
	rm -rf jrn.db* rej.ndjson spool
	cp "$BATS_FILE_TMPDIR/base.db" jrn.db
}

# cases KIND: the corpus files of one kind, the generated ones too
cases() {
	ls -d "$H/$1"/* "$BATS_FILE_TMPDIR/gen/$1"/* 2>/dev/null
}

fails=""

# try CMD...: runs CMD under `timeout 20`, stdout into out, stderr into err
# (stdin as given), and sets st to its exit status.
try() {
	st=0
	timeout -k 5 20 "$@" > out 2> err || st=$?
}

# judge CASE STATUS "ALLOWED..." [keep]: applies the oracles to the last
# run (stdout in out, stderr in err, rejects in rej.ndjson if any); with
# keep, G00D1 and G00D2 must be in out. Failures collect in $fails.
judge() {
	local name=${1##*/} st=$2 allowed=" $3 " keep=${4:-} why=""
	if [ "$st" -eq 124 ]; then
		why="timed out (20 s)"
	elif [ "$st" -ge 128 ]; then
		why="killed by signal $((st - 128)): $(tail -c 300 err | tr '\n' ' ')"
	elif [[ $allowed != *" $st "* ]]; then
		why="exit $st (want one of$allowed): $(tail -c 300 err | tr '\n' ' ')"
	elif [ -n "$keep" ] && ! { grep -aqi G00D1 out && grep -aqi G00D2 out; }; then
		why="a good record around it is missing from the output: $(tail -c 300 err | tr '\n' ' ')"
	elif [ "$st" -ne 0 ] && [ ! -s err ]; then
		why="exit $st without a word on stderr"
	fi
	if grep -aqF "$SECRET" out err rej.ndjson 2>/dev/null; then
		why="${why:+$why; }printed the value of \${HOSTILE_SECRET}"
	fi
	if [ -n "$why" ]; then
		fails="$fails$name: $why"$'\n'
	fi
	return 0
}

verdict() {
	if [ -n "$fails" ]; then
		printf '%s' "$fails"
		return 1
	fi
}

# A configuration with a secret where it belongs: it must never be printed.
conf() {
	cat > jrn.yaml <<'Y'
send:
  from: "Shop <news@shop.example>"
  unsubscribe:
    mailto: unsubscribe@shop.example
    url: https://shop.example/unsubscribe
    secret: ${HOSTILE_SECRET}
Y
}

segs() {
	printf 'pro:\n  rule: {field: traits.plan, op: equals, value: pro}\n' > seg.yaml
}

good_event() {
	printf '{"type":"order.completed","customerId":"%s","id":"%s-o","timestamp":"2025-06-01T12:00:00Z","properties":{"amount":%s}}\n' "$1" "$1" "${2:-20}"
}

good_profile() {
	printf '{"customerId":"%s","traits":{"plan":"pro"}}\n' "$1"
}

good_action() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","subject":"Hi","messageContent":"Hello"}\n' "$1" "$1"
}

# around GOOD-FUNCTION FILE: a good record, the hostile line, a good record
around() {
	"$1" G00D1
	cat "$2"
	echo
	"$1" G00D2
}

# A state file with the good customers' orders and the hostile line stored
# as the body of one more event, as an older version (or sqlite3) may have.
stored() {
	orders
	sqlite3 jrn.db "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
		VALUES ('hx', 'order.completed', 'h', 1748779200000, 0, 10, CAST(readfile('$1') AS TEXT))"
}

# ---- JSON lines ------------------------------------------------------------

@test "hostile JSON lines: jrn-ingest rejects the line, keeps the events around it" {
	conf
	for f in $(cases json); do
		fresh
		around good_event "$f" > in.ndjson
		try jrn-ingest --rejects rej.ndjson in.ndjson
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines: jrn-segment judges the profiles around the line" {
	conf
	segs
	for f in $(cases json); do
		fresh
		around good_profile "$f" > in.ndjson
		try jrn-segment --segments seg.yaml --rejects rej.ndjson in.ndjson
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines: jrn-score lead scores the profiles around the line" {
	conf
	for f in $(cases json); do
		fresh
		around good_profile "$f" > in.ndjson
		try jrn-score lead --rejects rej.ndjson in.ndjson
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines: jrn-send --dry-run renders the actions around the line (made an action)" {
	conf
	for f in $(cases json); do
		fresh
		# the hostile line made an e-mail action: its other fields are good
		sed 's/"customerId"/"actionType":"email","campaignId":"k1","recipientEmail":"h@example.com","subject":"Hi","messageContent":"Hello","customerId"/' \
			"$f" > action
		around good_action action > in.ndjson
		try jrn-send --dry-run --rejects rej.ndjson in.ndjson
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines: jrn suppressions import adds the addresses around the line" {
	conf
	for f in $(cases json); do
		fresh
		{ echo g00d1@example.com; cat "$f"; echo; echo g00d2@example.com; } > in.ndjson
		try jrn suppressions import --rejects rej.ndjson in.ndjson
		jrn suppressions list >> out 2>> err || :
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines stored in the state file: jrn-score rfm and clv score everyone else" {
	conf
	for f in $(cases json); do
		stored "$f" || :
		try jrn-score rfm
		judge "rfm ${f##*/}" $st "0 3" keep
		try jrn-score clv
		judge "clv ${f##*/}" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines stored in the state file: jrn-segment --all judges everyone else" {
	conf
	printf 'buyer:\n  rule: {event: order.completed, where: {properties.amount: {gte: 1}}, within: 3650d}\n' > seg.yaml
	for f in $(cases json); do
		stored "$f" || :
		try jrn-segment --segments seg.yaml --all
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile JSON lines: jrn events lists and fixes around a stored one and takes one as a --set value" {
	conf
	for f in $(cases json); do
		stored "$f" || :
		try jrn events --bad-amount
		judge "--bad-amount ${f##*/}" $st "0 3"
		# a --set VALUE is one argument: no NUL, and under the kernel's 128 KiB
		if [ "$(wc -c < "$f")" -lt 100000 ] && [ "$(tr -d '\000' < "$f" | wc -c)" -eq "$(wc -c < "$f")" ]; then
			try jrn events fix G00D1-o --set "properties.note=$(cat "$f")"
			judge "fix ${f##*/}" $st "0 2 3"
		fi
		try jrn-score rfm
		judge "rfm after fix ${f##*/}" $st "0 3" keep
	done
	verdict
}

# ---- configurations --------------------------------------------------------

# Every tool that reads jrn.yaml, each with its good input; a bad config may
# stop the run (exit 1 or 2, said), but never hang, crash or print a secret.
@test "hostile configurations: every tool refuses or runs, in time, printing no secret" {
	segs
	for f in $(cases config); do
		n=${f##*/}
		cp "$f" jrn.yaml
		rm -rf jrn.db* rej.ndjson spool
		{ good_event G00D1; good_event G00D2; } > ev.ndjson
		try jrn-ingest --rejects rej.ndjson ev.ndjson
		judge "jrn-ingest $n" $st "0 1 2 3"
		{ good_profile G00D1; good_profile G00D2; } > pr.ndjson
		try jrn-segment --segments seg.yaml --rejects rej.ndjson pr.ndjson
		judge "jrn-segment $n" $st "0 1 2 3"
		try jrn-score rfm
		judge "jrn-score rfm $n" $st "0 1 2 3"
		{ good_action G00D1; good_action G00D2; } > ac.ndjson
		try jrn-send --dry-run --rejects rej.ndjson ac.ndjson
		judge "jrn-send $n" $st "0 1 2 3"
		printf 'g00d1@example.com\n' > sup.txt
		try jrn suppressions import --rejects rej.ndjson sup.txt
		judge "jrn suppressions import $n" $st "0 1 2 3"
		try jrn doctor
		cat out >> err # the doctor's report is its stdout
		judge "jrn doctor $n" $st "0 1 2 3"
	done
	verdict
}

# ---- templates -------------------------------------------------------------

@test "hostile templates: jrn-send --dry-run rejects that action, renders the ones around it" {
	conf
	mkdir templates
	printf 'Hi\n' > templates/t.subject
	for f in $(cases templates); do
		fresh
		cp "$f" templates/t.txt
		{
			good_action G00D1
			printf '{"actionType":"email","customerId":"h","campaignId":"k1","recipientEmail":"h@example.com","template":"t","l":[%s],"a":{"a":true}}\n' \
				"$(seq -s, 1 20)"
			good_action G00D2
		} > in.ndjson
		try jrn-send --dry-run --rejects rej.ndjson in.ndjson
		judge "$f" $st "0 3" keep
	done
	verdict
}

@test "hostile templates: lib/mustache (t/mustache-render) answers each, in time" {
	[ -x "${JRN_MUSTACHE:-}" ] || skip "no JRN_MUSTACHE (build/mustache-render)"
	for f in $(cases templates); do
		jq -nc --rawfile t "$f" '{template: $t, data: {customerId: "h", l: [range(20)], a: {a: true}},
			partials: {t: $t}}' > in.ndjson 2> /dev/null ||
			printf '{"template":"x","data":{}}\n' > in.ndjson
		try "$JRN_MUSTACHE" < in.ndjson
		judge "$f" $st "0"
	done
	verdict
}

# ---- segment files ---------------------------------------------------------

@test "hostile segment files: jrn-segment refuses or judges, in time, printing no secret" {
	conf
	for f in $(cases rules); do
		n=${f##*/}
		orders
		{ good_profile G00D1; good_profile G00D2; } > in.ndjson
		try jrn-segment --segments "$f" --list
		judge "--list $n" $st "0 1 2"
		try jrn-segment --segments "$f" --rejects rej.ndjson in.ndjson
		# a file it takes must judge the good profiles; one it refuses, say why
		if [ $st -eq 0 ] || [ $st -eq 3 ]; then judge "$n" $st "0 3" keep; else judge "$n" $st "1 2"; fi
		try jrn-segment --segments "$f" --now 1960-01-01T00:00:00Z --all
		if [ $st -eq 0 ] || [ $st -eq 3 ]; then judge "--all 1960 $n" $st "0 3" keep; else judge "--all 1960 $n" $st "1 2"; fi
	done
	verdict
}
