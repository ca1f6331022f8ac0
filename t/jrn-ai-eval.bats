#!/usr/bin/env bats
# jrn-ai eval: the offline evaluation of the models at a cut-off, against
# what the customers did in the window after it (jrn-ai(1), EVAL).

load helpers

# o CUSTOMER DAY AMOUNT: one order at 12:00 UTC on DAY (YYYY-MM-DD)
o() {
	printf '{"type":"order.completed","customerId":"%s","timestamp":"%sT12:00:00Z","properties":{"amount":%s}}\n' "$1" "$2" "$3"
}

# The hand-built shop: cut-off 2025-06-01, window to 2025-07-01.
#   a: 10 (03-01), 20 (05-21) | 30 in the window   days since last 10
#   b: 10 (04-21)             | 40                  40
#   c: 10 (03-01)             | nothing             91
#   d: 10 (01-01)             | nothing             150
#   e: 10 (05-25)             | 10                  6
# The rules model's churnRiskScore without clv is 1 - exp(-days / 90),
# rounded to 1e-4: a .1052, b .3588, c .6362, d .8111, e .0645 (the
# churned c and d above everyone: AUC 1); its predictedLifetimeValue the
# spend times 1 - churn, in cents: a 26.84, b 6.41, c 3.64, d 1.89, e 9.36.
shop() {
	{
		o a 2025-03-01 10; o a 2025-05-21 20; o a 2025-06-10 30
		o b 2025-04-21 10; o b 2025-06-15 40
		o c 2025-03-01 10
		o d 2025-01-01 10
		o e 2025-05-25 10; o e 2025-06-20 10
	} | jrn-ingest -q > /dev/null
}

# row MODEL: that model's NDJSON line of the last run's output
row() {
	jq -c --arg m "$1" 'select(.model == $m)' <<< "$output"
}

@test "eval: known answers on a hand-built state file (AUC 1, Brier, MAE, RMSE, Spearman, stages)" {
	shop
	run --separate-stderr jrn-ai eval --since 2025-06-01 --until 2025-07-01 --format ndjson
	assert_success
	assert_equal "$stderr" "jrn-ai: eval: 5 customers with an order before 2025-06-01T00:00:00.000Z; window [2025-06-01T00:00:00.000Z, 2025-07-01T00:00:00.000Z): 2 churned (no order), 3 bought"
	assert_equal "${#lines[@]}" 2
	# Brier: (.1052^2 + .3588^2 + (1-.6362)^2 + (1-.8111)^2 + .0645^2) / 5
	#      = (.01106704 + .12873744 + .13235044 + .03568321 + .00416025) / 5 = .0623999...
	# errors against 30 40 0 0 10: -3.16 -33.59 3.64 1.89 -.64: MAE 42.92/5 = 8.584,
	# RMSE sqrt((9.9856 + 1128.2881 + 13.2496 + 3.5721 + .4096) / 5) = sqrt(231.101) = 15.202006
	# Spearman: ranks of the values a5 b3 c2 d1 e4, of the revenue a4 b5 c1.5 d1.5 e3;
	# sxy = 6.5, sxx = 10, syy = 9.5: 6.5 / sqrt(95) = .666886
	# stages at the cut-off: a b c d retention, e purchase (one order in 30 days);
	# at --until all five retention: agreement 4/5, kappa (.8 - .8) / (1 - .8) = 0
	assert_equal "$(row rules)" '{"model":"rules","kind":"rules","since":"2025-06-01T00:00:00.000Z","until":"2025-07-01T00:00:00.000Z","customers":5,"churned":2,"auc":1,"brier":0.0624,"mae":8.584,"rmse":15.202006,"spearman":0.666886,"stageAgreement":1,"stageKappa":1,"stageAgreementUntil":0.8,"stageKappaUntil":0,"tokens":0,"cost":0,"fallbacks":0,"cached":0}'
	run jq -r 'select(.model == "bg/nbd") | [.kind, .customers, (.auc >= 0 and .auc <= 1), (.brier >= 0 and .brier <= 1), .stageAgreement] | @tsv' <<< "$output"
	assert_output "$(printf 'bgnbd\t5\ttrue\ttrue\t')"
}

@test "eval: AUC 0.5 when every churn risk ties; the Brier score of one shared risk" {
	# four customers, one order each on 05-01 (30 days before the cut-off):
	# churnRiskScore 1 - exp(-30/90) = .2835 for all; p and q buy again.
	# Brier (2 * .2835^2 + 2 * .7165^2) / 4 = (.1607445 + 1.0267445) / 4 = .296872
	{
		o p 2025-05-01 10; o q 2025-05-01 10; o r 2025-05-01 10; o s 2025-05-01 10
		o p 2025-06-05 10; o q 2025-06-06 10
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-ai eval --since 2025-06-01 --until 2025-07-01 --format ndjson --model rules
	assert_success
	run jq -r 'select(.model == "rules") | [.auc, .brier, .churned] | @tsv' <<< "$output"
	assert_output "$(printf '0.5\t0.296872\t2')"
	# durations back from --now name the same window
	run --separate-stderr jrn-ai eval --now 2025-07-11T00:00:00Z --since 40d --until 10d --format ndjson --model rules
	assert_success
	run jq -r 'select(.model == "rules") | [.auc, .brier, .churned] | @tsv' <<< "$output"
	assert_output "$(printf '0.5\t0.296872\t2')"
}

@test "eval: --horizon reads predictedLifetimeValue as that span's value, scaled to the window" {
	shop
	# the values halved (window 30d of a 60d horizon) against 30 40 0 0 10:
	# |13.42-30| + |3.205-40| + 1.82 + .945 + |4.68-10| = 61.46 / 5 = 12.292
	run --separate-stderr jrn-ai eval --since 2025-06-01 --until 2025-07-01 --horizon 60d --format ndjson
	assert_success
	run jq -r 'select(.model == "rules") | [.mae, .auc, .spearman] | @tsv' <<< "$output"
	assert_output "$(printf '12.292\t1\t0.666886')"
}

@test "eval: the table is the default, whatever stdout is: a header, one row per model, BG/NBD last" {
	shop
	run --separate-stderr jrn-ai eval -q --since 2025-06-01 --until 2025-07-01
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" "model            customers    AUC  Brier        MAE       RMSE Spearman  stage  kappa  until  kappa     tokens       cost"
	assert_equal "${lines[1]}" "rules                    5  1.000  0.062       8.58      15.20    0.667  1.000  1.000  0.800  0.000          0     0.0000"
	assert_regex "${lines[2]}" '^bg/nbd +5 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +-?[0-9.]+ +- +- +- +- +0 +0\.0000$'
	jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 > piped.txt
	assert_equal "$(head -1 piped.txt)" "${lines[0]}"
}

@test "eval: scores computed after the cut-off are not seen; those computed before it are" {
	shop
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --format ndjson --model rules
	assert_success
	local before=$output
	# jrn-score clv saved today (after the cut-off): the same answers
	jrn-score clv -q --save > /dev/null
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --format ndjson --model rules
	assert_equal "$output" "$before"
	# saved as of 05-31 (before the cut-off): the rules model's churn is 1 - pAlive now
	jrn-score clv -q --save --now 2025-05-31T00:00:00Z > /dev/null
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --format ndjson --model rules
	assert_success
	local b1 b2
	b1=$(jq -c 'select(.model == "rules") | .brier' <<< "$before")
	b2=$(jq -c 'select(.model == "rules") | .brier' <<< "$output")
	[ "$b1" != "$b2" ]
}

@test "eval: the models' answers go through jrn-ai's cache: a rerun is answered from it" {
	shop
	printf 'ai:\n  cache:\n    rules: true\n' > jrn.yaml
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --format ndjson
	assert_success
	assert_equal "$(row rules | jq .cached)" 0
	local first=$output
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --format ndjson
	assert_equal "$(row rules | jq .cached)" 5
	assert_equal "$(jq -c 'del(.cached)' <<< "$output")" "$(jq -c 'del(.cached)' <<< "$first")"
}

@test "eval: the demo data (jrn-gen): every row parseable NDJSON, rules and BG/NBD on the same customers" {
	"$JRN_GEN" -n 20000 -c 500 -y 2025 | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-ai eval --since 2025-09-01 --until 2025-12-01 --format ndjson
	assert_success
	assert_regex "$stderr" '^jrn-ai: eval: [0-9]+ customers with an order before 2025-09-01T00:00:00.000Z; window .*: [0-9]+ churned \(no order\), [0-9]+ bought$'
	local rows=$output n
	run jq -sr 'map(.model) | join(" ")' <<< "$rows"
	assert_output "rules bg/nbd"
	n=$(sqlite3 jrn.db "SELECT count(DISTINCT customer_id) FROM events WHERE type = 'order.completed' AND ts < 1756684800000")
	run jq -sr --argjson n "$n" 'map(.customers == $n and .auc > 0 and .auc < 1 and .brier > 0 and .brier < 1 and .mae > 0 and .rmse >= .mae) | all' <<< "$rows"
	assert_output true
}

@test "eval: --model repeats, each once, in the order given" {
	shop
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --format ndjson --model rules --model rules
	assert_success
	run jq -sr 'map(.model) | join(" ")' <<< "$output"
	assert_output "rules bg/nbd"
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --model rules --model rules --model rules \
		--model rules --model rules --model rules --model rules --model rules --model rules
	assert_failure 2
	assert_output "jrn-ai: eval: --model: at most 8 models (AI_EVAL_MAX_MODELS)"
}

@test "eval: bad options are usage errors (exit 2), said" {
	shop
	run jrn-ai eval --since 2025-07-01 --until 2025-06-01
	assert_failure 2
	assert_output "jrn-ai: eval: --since 2025-07-01 is not before --until 2025-06-01: the outcome window [since, until) is empty"
	run jrn-ai eval --since 2025-06-01 --until 2025-06-01
	assert_failure 2
	assert_output --partial "is not before --until"
	run jrn-ai eval --since yesterday --until 2025-06-01
	assert_failure 2
	assert_output "jrn-ai: eval: --since 'yesterday': neither an RFC 3339 time nor a duration back from now (90d)"
	run jrn-ai eval --since 2025-06-01 --until 2025-13-01
	assert_failure 2
	assert_output --partial "jrn-ai: eval: --until '2025-13-01': "
	run jrn-ai eval --until 2025-06-01
	assert_failure 2
	assert_output "jrn-ai: eval: --since and --until are needed (the cut-off and the end of the outcome window)
Try 'jrn-ai --help'."
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 --model gpt
	assert_failure 2
	assert_output "jrn-ai: --model 'gpt': no such model (choices: rules)"
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 --format xml
	assert_failure 2
	assert_output "jrn-ai: eval: --format 'xml': expected table or ndjson"
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 --horizon 0d
	assert_failure 2
	assert_output --partial "jrn-ai: eval: --horizon '0d': "
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 --horizon soon
	assert_failure 2
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 --dry-run
	assert_failure 2
	assert_line --index 0 "jrn-ai: --dry-run belongs to state and optimize"
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 extra
	assert_failure 2
	run jrn-ai state --format ndjson < /dev/null
	assert_failure 2
	assert_line --index 0 "jrn-ai: --horizon and --format belong to eval"
}

@test "eval: ai.model naming no model fails the default run (exit 1); --model rules does without it" {
	shop
	printf 'ai:\n  model: nope\n' > jrn.yaml
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01
	assert_failure 1
	assert_output "jrn-ai: jrn.yaml:2:10: ai.model: no such model 'nope' (choices: rules)"
	run jrn-ai eval -q --since 2025-06-01 --until 2025-07-01 --model rules --format ndjson
	assert_success
	run jq -sr 'map(.model) | join(" ")' <<< "$output"
	assert_output "rules bg/nbd"
}

@test "eval: no state file, a state file without events, an empty window: exit 1, said" {
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01
	assert_failure 1
	assert_output "jrn-ai: eval: jrn.db: no state file (jrn init or a writer such as jrn-ingest makes one)"
	[ ! -e jrn.db ]
	touch file
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 --db file/x.db
	assert_failure 1
	assert_output "jrn-ai: eval: file/x.db: cannot open (Not a directory)"
	jrn-ingest -q < /dev/null > /dev/null
	[ -e jrn.db ]
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01
	assert_failure 1
	assert_output "jrn-ai: eval: no customer has an order before the cut-off 2025-06-01T00:00:00.000Z: nothing to evaluate"
	# events but no order before the cut-off
	ev page.viewed v | jrn-ingest -q > /dev/null
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01
	assert_failure 1
	assert_output --partial "no customer has an order before the cut-off"
	shop
	run jrn-ai eval --since 2025-08-01 --until 2025-09-01
	assert_failure 1
	assert_output "jrn-ai: eval: no event at all in the window [2025-08-01T00:00:00.000Z, 2025-09-01T00:00:00.000Z): the state file does not reach it; nothing to score against"
}

@test "eval: a window not over at --now is said; the run goes on" {
	shop
	run --separate-stderr jrn-ai eval --since 2025-06-01 --until 2025-07-01 --now 2025-06-20T00:00:00Z --model rules
	assert_success
	assert_equal "${stderr_lines[0]}" "jrn-ai: eval: warning: --until 2025-07-01T00:00:00.000Z is after now (2025-06-20T00:00:00.000Z): the window is not over"
}

@test "eval: RFM at the cut-off comes from jrn-score rfm: without it, exit 1, said" {
	shop
	mkdir bin
	cp "$JRN_BIN/jrn-ai" bin/
	run env PATH=/usr/bin:/bin bin/jrn-ai eval --since 2025-06-01 --until 2025-07-01
	assert_failure 1
	assert_output --partial "jrn-ai: eval: cannot run jrn-score: "
	run jrn-ai eval --since 2025-06-01 --until 2025-07-01 -v --model rules
	assert_success
	assert_output --partial "model rules: 5 answered"
}

@test "eval: --help names its options" {
	run jrn-ai --help
	assert_success
	assert_output --partial "jrn-ai eval     --since T --until T [--model NAME]... [--horizon DUR]"
	assert_output --partial "--format FMT"
}

# ai_words WORD...: what jrn-ai's bash completion offers for the last WORD
ai_words() {
	bash -c '. "$1"/jrn-ai.bash; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jrn_ai; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$@"
}

@test "eval: shell completion offers eval and its options, bash and zsh" {
	run ai_words jrn-ai e
	assert_output eval
	run ai_words jrn-ai eval --
	for o in --since --until --horizon --format --model --db; do assert_line -- "$o"; done
	refute_line -- --dry-run
	run ai_words jrn-ai eval --format ""
	assert_output "$(printf 'table\nndjson')"
	run ai_words jrn-ai state --
	refute_line -- --since
	assert_line -- --dry-run
	run grep -c -e "--since=\[eval" -e "--until=\[eval" -e "--horizon=\[eval" -e "--format=\[eval" "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 4
}

@test "eval: the bg/nbd row is jrn-score clv's own forecast (calibration end the cut-off, horizon the window)" {
	"$JRN_GEN" -n 20000 -c 500 -y 2025 | jrn-ingest -q > /dev/null
	run jrn-ai eval -q --since 2025-09-01 --until 2025-12-01 --format ndjson --model rules
	assert_success
	run jq -r 'select(.model == "bg/nbd") | [.customers, (.auc * 1e4 | round), (.brier * 1e4 | round), (.mae * 1e2 | round)] | @tsv' <<< "$output"
	local eval_row=$output
	# the same customers scored by hand from jrn-score clv's records: AUC
	# over every (churned, bought) pair, ties half; Brier; MAE
	jrn-score clv -q --calibration-end 2025-08-31T23:59:59.999Z --horizon 91d > clv.ndjson
	run python3 - <<-'PY'
	import json, sqlite3
	since, until = 1756684800000, 1764547200000
	rev = dict(sqlite3.connect("jrn.db").execute(
	    "SELECT customer_id, total(amount) FROM events WHERE type = 'order.completed'"
	    " AND ts >= ? AND ts < ? GROUP BY customer_id", (since, until)).fetchall())
	rows = [json.loads(l) for l in open("clv.ndjson")]
	p = [r["clv"]["churnRisk"] for r in rows]
	y = [0 if r["customerId"] in rev else 1 for r in rows]
	v = [r["clv"]["predictedValue"] for r in rows]
	a = [rev.get(r["customerId"], 0) for r in rows]
	pos = [q for q, c in zip(p, y) if c]
	neg = [q for q, c in zip(p, y) if not c]
	auc = sum(1 if q > r else 0.5 if q == r else 0 for q in pos for r in neg) / (len(pos) * len(neg))
	n = len(rows)
	brier = sum((q - c) ** 2 for q, c in zip(p, y)) / n
	mae = sum(abs(x - z) for x, z in zip(v, a)) / n
	print("%d\t%d\t%d\t%d" % (n, round(auc * 1e4), round(brier * 1e4), round(mae * 1e2)))
	PY
	assert_success
	assert_output "$eval_row"
}
