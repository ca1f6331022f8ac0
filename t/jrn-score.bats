#!/usr/bin/env bats
# jrn-score: RFM scores, snapshots and segment changes; CLV.

load helpers

# order CUSTOMER DAYS-BEFORE-NOW AMOUNT [TYPE]: one order (or refund) event,
# DAYS and 12 hours before JRN_NOW (2026-01-01T00:00:00Z).
order() {
	local when
	when=$(date -u -d "@$((1767225600 - $2 * 86400 - 43200))" +%Y-%m-%dT%H:%M:%SZ)
	printf '{"type":"%s","customerId":"%s","timestamp":"%s","properties":{"amount":%s}}\n' \
		"${4:-order.completed}" "$1" "$when" "$3"
}

# rfm-line: customerId r f m score segment, one line per record
rfm_cols() {
	jq -r 'select(.rfm) | [.customerId, .rfm.recency, .rfm.frequency, .rfm.monetary,
		.rfm.r, .rfm.f, .rfm.m, .rfm.score, .rfm.segment] | join(" ")'
}

@test "rfm: recency, frequency, monetary, rank scores and segments" {
	{
		order c1 1 100
		order c1 10 50.25
		order c2 200 500
		order c3 30 80
		order c3 5 30 order.refunded
		ev page.viewed c4
		order c5 -3 999
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm
	assert_success
	assert_equal "$stderr" "jrn-score: rfm: 3 customers scored from 4 orders and 1 refund, window 180d, now 2026-01-01T00:00:00.000Z"
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" '{"customerId":"c1","rfm":{"recency":1,"frequency":2,"monetary":150.25,"r":4,"f":4,"m":4,"score":40,"segment":"VIP"}}'
	assert_equal "${lines[1]}" '{"customerId":"c2","rfm":{"recency":200,"frequency":0,"monetary":0,"r":1,"f":1,"m":1,"score":10,"segment":"Hibernating"}}'
	assert_equal "${lines[2]}" '{"customerId":"c3","rfm":{"recency":30,"frequency":1,"monetary":50,"r":2,"f":2,"m":2,"score":20,"segment":"At Risk"}}'
}

@test "rfm: recency is whole days; ties share the lower score" {
	# a 12:00 order 1 day back is 1.5 days old: recency 1
	{
		order a 1 10
		order b 1 10
		order c 1 10
		order d 9 10
		order e 9 20
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm
	assert_success
	run rfm_cols <<< "$output"
	assert_line --index 0 "a 1 1 10 3 1 1 18 At Risk"
	assert_line --index 1 "b 1 1 10 3 1 1 18 At Risk"
	assert_line --index 2 "c 1 1 10 3 1 1 18 At Risk"
	assert_line --index 3 "d 9 1 10 1 1 1 10 Hibernating"
	assert_line --index 4 "e 9 1 20 1 1 5 22 At Risk"
}

@test "rfm: the window bounds frequency, monetary and refunds, not recency" {
	{
		order c1 3 10
		order c1 20 100
		order c1 25 7 order.refunded
		order c1 2 5 order.refunded
		order r1 2 5 order.refunded
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm --window 7d
	assert_success
	assert_output '{"customerId":"c1","rfm":{"recency":3,"frequency":1,"monetary":5,"r":1,"f":1,"m":1,"score":10,"segment":"Hibernating"}}'
	run --separate-stderr jrn-score rfm
	assert_output --partial '"recency":3,"frequency":2,"monetary":98,'
}

@test "rfm: orders after now are ignored; --now moves the clock" {
	{
		order c1 10 10
		order c1 1 20
		order c2 1 30
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm --now 2025-12-25T00:00:00Z
	assert_success
	assert_output '{"customerId":"c1","rfm":{"recency":3,"frequency":1,"monetary":10,"r":1,"f":1,"m":1,"score":10,"segment":"Hibernating"}}'
}

@test "rfm: a stored order without a numeric amount is skipped and counted, the rest scored, exit 0" {
	# issue 9, fault 6: a state file written before jrn-ingest refused
	# string amounts; one such event must not fail every nightly run
	# (stored as an older jrn-ingest stored them: the amount column NULL)
	order c1 1 10 | jrn-ingest -q > /dev/null
	rows "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES
	      ('old-c2', 'order.completed', 'c2', 1767096000000, 0, NULL,
	       '{\"type\":\"order.completed\",\"customerId\":\"c2\",\"properties\":{\"amount\":\"12.50\"}}'),
	      ('old-c3', 'order.completed', 'c3', 1767096000000, 0, NULL, '{}')"
	run --separate-stderr jrn-score rfm --rejects rej.ndjson
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_output --partial '"customerId":"c1"'
	assert_equal "$stderr" "jrn-score: rfm: 1 customer scored from 1 order and 0 refunds, window 180d, now 2026-01-01T00:00:00.000Z; 2 stored events with a non-numeric amount skipped; see jrn events --bad-amount"
	[ ! -s rej.ndjson ]
	run --separate-stderr jrn-score rfm -q
	assert_success
	assert_equal "$stderr" ""
}

@test "rfm: an empty state file gives no output and exit 0" {
	run --separate-stderr jrn-score rfm --save --changes
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-score: rfm: 0 customers scored from 0 orders and 0 refunds, window 180d, now 2026-01-01T00:00:00.000Z; snapshot saved, run 2026-01-01T00:00:00.000Z; 0 changes stored"
	assert_equal "$(rows 'SELECT count(*) FROM rfm_snapshots')" 0
}

@test "rfm --save: a snapshot taken now, replaced when taken again" {
	{
		order c1 1 10
		order c2 40 20
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm --save
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "$(rows 'SELECT taken, customer_id, recency, frequency, monetary, r, f, m, score, segment FROM rfm_snapshots ORDER BY customer_id')" \
"1767225600000|c1|1|1|10.0|3|1|1|18|At Risk
1767225600000|c2|40|1|20.0|1|1|3|16|Hibernating"
	order c3 2 5 | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm --save
	assert_success
	assert_equal "$(rows 'SELECT count(*) FROM rfm_snapshots')" 3
	run --separate-stderr jrn-score rfm --save --now 2026-01-02
	assert_equal "$(rows 'SELECT count(DISTINCT taken) FROM rfm_snapshots')" 2
}

@test "rfm --save: the completeness check fails loudly, saves nothing, writes nothing" {
	{
		order c1 1 10
		order c2 40 20
	} | jrn-ingest -q > /dev/null
	# a trigger that loses one row, as a bug would
	rows "CREATE TRIGGER lose BEFORE INSERT ON rfm_snapshots WHEN NEW.customer_id = 'c2'
	      BEGIN SELECT RAISE(IGNORE); END;"
	run --separate-stderr jrn-score rfm --save
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "jrn-score: snapshot completeness check FAILED: 1 rows saved for 2026-01-01T00:00:00.000Z, but 2 customers have orders up to then; snapshot not saved"
	assert_equal "$(rows 'SELECT count(*) FROM rfm_snapshots')" 0
}

@test "rfm --changes: segment changes against the newest earlier snapshot" {
	{
		order c1 100 10
		order c2 100 10
		order c3 1 500
	} | jrn-ingest -q > /dev/null
	# no earlier snapshot: the first-run rule, every customer from null
	run --separate-stderr jrn-score rfm --save --changes --now 2025-12-01
	assert_success
	assert_equal "$(jq -c 'select(.type) | [.customerId, .properties.from, .properties.to]' <<< "$output" | tr -d '\n')" \
		'["c1",null,"Hibernating"]["c2",null,"Hibernating"]'
	{
		order c1 1 900
		order c4 1 20
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score rfm --changes
	assert_success
	run jq -c 'select(.type == "rfm.segment.changed") | del(.id)' <<< "$output"
	# c3's order was after the earlier snapshot's now: it is new too
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" '{"type":"rfm.segment.changed","customerId":"c1","timestamp":"2026-01-01T00:00:00.000Z","properties":{"from":"Hibernating","to":"Loyal","run":"2026-01-01T00:00:00.000Z"}}'
	assert_equal "${lines[1]}" '{"type":"rfm.segment.changed","customerId":"c3","timestamp":"2026-01-01T00:00:00.000Z","properties":{"from":null,"to":"At Risk","run":"2026-01-01T00:00:00.000Z"}}'
	assert_equal "${lines[2]}" '{"type":"rfm.segment.changed","customerId":"c4","timestamp":"2026-01-01T00:00:00.000Z","properties":{"from":null,"to":"Hibernating","run":"2026-01-01T00:00:00.000Z"}}'
	# each change follows its customer's record
	run --separate-stderr jrn-score rfm --changes
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .type)" rfm.segment.changed
	# a customer of the previous snapshot who has no order up to now: to null
	rows "DELETE FROM events WHERE customer_id = 'c2'"
	run --separate-stderr jrn-score rfm --changes
	assert_output --partial '"type":"rfm.segment.changed","customerId":"c2","timestamp":"2026-01-01T00:00:00.000Z","properties":{"from":"Hibernating","to":null,"run":"2026-01-01T00:00:00.000Z"}}'
}

@test "rfm: weights, segments and window from the config" {
	{
		order c1 1 10
		order c2 20 10
	} | jrn-ingest -q > /dev/null
	cat > jrn.yaml <<'Y'
scoring:
  rfm:
    window: 10d
    weights: [1, 0.5, 0]
    segments:
      - {name: top, min: 5}
      - {name: rest, min: 2}
Y
	run --separate-stderr jrn-score rfm
	assert_success
	assert_equal "${lines[0]}" '{"customerId":"c1","rfm":{"recency":1,"frequency":1,"monetary":10,"r":3,"f":3,"m":3,"score":4.5,"segment":"rest"}}'
	assert_equal "${lines[1]}" '{"customerId":"c2","rfm":{"recency":20,"frequency":0,"monetary":0,"r":1,"f":1,"m":1,"score":1.5,"segment":"rest"}}'
	run --separate-stderr jrn-score rfm --window 30d
	assert_equal "${lines[1]}" '{"customerId":"c2","rfm":{"recency":20,"frequency":1,"monetary":10,"r":1,"f":1,"m":1,"score":1.5,"segment":"rest"}}'
	printf 'scoring:\n  rfm:\n    weights: [1, 2]\n' > jrn.yaml
	run --separate-stderr jrn-score rfm
	assert_failure 1
	assert_equal "$stderr" "jrn-score: jrn.yaml:3:14: scoring.rfm.weights: expected three numbers [R, F, M]"
}

@test "rfm: fixed thresholds per dimension instead of ranks" {
	{
		order c1 3 100
		order c1 20 100
		order c1 40 100
		order c2 200 20
		order c3 15 600
	} | jrn-ingest -q > /dev/null
	cat > jrn.yaml <<'Y'
scoring:
  rfm:
    method: thresholds
    thresholds:
      recency: [7, 14, 30, 90]
      frequency: [2, 3, 5, 8]
      monetary: [50, 100, 250, 500]
Y
	run --separate-stderr jrn-score rfm
	assert_success
	run rfm_cols <<< "$output"
	assert_line --index 0 "c1 3 3 300 5 3 4 41 VIP"
	assert_line --index 1 "c2 200 0 0 1 1 1 10 Hibernating"
	assert_line --index 2 "c3 15 1 600 3 1 5 30 Loyal"
	printf 'scoring:\n  rfm:\n    method: thresholds\n    thresholds:\n      recency: [7, 14, 3, 90]\n' > jrn.yaml
	run --separate-stderr jrn-score rfm
	assert_failure 1
	assert_equal "$stderr" "jrn-score: jrn.yaml:5:16: scoring.rfm.thresholds.recency: expected four ascending numbers"
}

@test "rfm: the same scores as the SQL of t/bench/rfm.sql on generated data" {
	"$JRN_GEN" -n 20000 | jrn-ingest -q > /dev/null
	# a few refunds, and ties in every dimension
	rows "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
	      SELECT 'r' || seq, 'order.refunded', customer_id, ts + 3600000, 0, amount / 2, '{}'
	      FROM events WHERE type = 'order.completed' AND seq % 7 = 0"
	sqlite3 jrn.db < "$BATS_TEST_DIRNAME/bench/rfm.sql" | awk -F'|' '{sub(/\.0$/, "", $4); print $1, $2, $3, $4, $5, $6, $7, $8}' > sql.txt
	jrn-score rfm | jq -r '[.customerId, .rfm.recency, .rfm.frequency, .rfm.monetary, .rfm.r, .rfm.f, .rfm.m, .rfm.score] | join(" ")' > jrn.txt
	[ "$(wc -l < jrn.txt)" -gt 500 ]
	# every score from 1 to 5 occurs in recency and monetary
	assert_equal "$(cut -d' ' -f5 jrn.txt | sort -u | tr -d '\n')" 12345
	assert_equal "$(cut -d' ' -f7 jrn.txt | sort -u | tr -d '\n')" 12345
	run diff sql.txt jrn.txt
	assert_success
}

@test "rfm: usage errors exit 2" {
	run jrn-score
	assert_failure 2
	run --separate-stderr jrn-score nope
	assert_failure 2
	assert_equal "$stderr" "jrn-score: nope: unknown command (rfm, clv, lead)
Try 'jrn-score --help'."
	run --separate-stderr jrn-score rfn
	assert_failure 2
	assert_equal "$stderr" "jrn-score: rfn: unknown command (did you mean rfm?)
Try 'jrn-score --help'."
	run --separate-stderr jrn-score laed
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-score: laed: unknown command (did you mean lead?)"
	run --separate-stderr jrn-score rfm --window 3x
	assert_failure 2
	[ ! -e jrn.db ] # no state file created for a usage error
	run --separate-stderr jrn-score rfm --horizon 90d
	assert_failure 2
	run --separate-stderr jrn-score rfm extra
	assert_failure 2
	run --separate-stderr jrn-score --help
	assert_success
	assert_output --partial "usage: jrn-score rfm"
	run --separate-stderr jrn-score --version
	assert_output "jrn-score 0.1.0"
}

@test "rfm: a reader that goes away ends the run quietly" {
	"$JRN_GEN" -n 20000 | jrn-ingest -q > /dev/null
	run --separate-stderr bash -c 'jrn-score rfm | head -1'
	assert_success
	assert_equal "${#lines[@]}" 1
	# nothing said: a cut run's summary would read as the whole (jrn(7))
	assert_equal "$stderr" ""
}

@test "jrn-score: bash completion offers commands and each command's options" {
	run bash -c 'source "$0"; COMP_WORDS=(jrn-score ""); COMP_CWORD=1; _jrn_score; echo "${COMPREPLY[*]}"
		COMP_WORDS=(jrn-score rfm --c); COMP_CWORD=2; _jrn_score; echo "${COMPREPLY[*]}"' \
		"$BATS_TEST_DIRNAME/../completions/jrn-score.bash"
	assert_success
	assert_line --index 0 "rfm clv lead"
	assert_line --index 1 "--config --check-config --changes"
}

@test "jrn-score: the man page is clean roff" {
	command -v groff > /dev/null || skip "no groff"
	run groff -man -ww -z "$BATS_TEST_DIRNAME/../man/jrn-score.1"
	assert_success
	assert_output ""
}

# sim N SEED [HORIZON-DAYS]: customers drawn from known parameters (BG/NBD
# r=0.5 alpha=5 a=0.7 b=3 in weeks; Gamma-Gamma p=6 q=4 v=15, mean order
# value 30) stored as orders in ./jrn.db
sim() {
	jrn-ingest -q < /dev/null
	awk -v n="$1" -v seed="$2" -v horizon="${3:-0}" -v r=0.5 -v alpha=5 -v a=0.7 -v b=3 \
		-v p=6 -v q=4 -v v=15 -f "$BATS_TEST_DIRNAME/fixtures/clv-sim.awk" | sqlite3 jrn.db
}

@test "clv: the fit recovers the parameters of simulated customers" {
	# Tolerances: r and alpha within 15%, a, b, p, q, v within 25% (about
	# three standard errors at 20000 customers; x counts distinct days,
	# which biases r and alpha up a few per cent), the mean order value
	# p v / (q - 1) within 5%.
	sim 20000 7
	run --separate-stderr jrn-score clv --params
	assert_success
	[[ "$stderr" == "jrn-score: clv: BG/NBD r="*"; 20000 customers, unit 7d" ]]
	echo "$output"
	jq -e 'def near($x; $t; $tol): (($x - $t) / $t | fabs) <= $tol;
		.customers == 20000 and .unitDays == 7
		and near(.bgnbd.r; 0.5; 0.15) and near(.bgnbd.alpha; 5; 0.15)
		and near(.bgnbd.a; 0.7; 0.25) and near(.bgnbd.b; 3; 0.25)
		and near(.gammaGamma.p; 6; 0.25) and near(.gammaGamma.q; 4; 0.25)
		and near(.gammaGamma.v; 15; 0.25) and near(.meanOrderValue; 30; 0.05)
		and .bgnbd.logLikelihood < 0' <<< "$output"
}

@test "clv: expected purchases and value forecast the simulated next 90 days" {
	# the simulation goes on for 90 days past the calibration end (now);
	# jrn-score fits on orders up to now and forecasts the next 90 days
	sim 20000 11 90
	jrn-score clv -q > clv.ndjson
	assert_equal "$(wc -l < clv.ndjson)" 20000
	actual=$(rows "SELECT count(DISTINCT customer_id || '/' || (ts / 86400000)), sum(amount)
		       FROM events WHERE ts > 1767225600000")
	jq -s -e --arg a "$actual" '($a | split("|") | map(tonumber)) as [$n, $v]
		| (map(.clv.expectedPurchases) | add) as $e
		| (map(.clv.predictedValue) | add) as $pv
		| (($e - $n) / $n | fabs) < 0.05 and (($pv - $v) / $v | fabs) < 0.07' clv.ndjson
	# every value defined, in range
	jq -s -e 'all(.[].clv; .pAlive >= 0 and .pAlive <= 1 and .churnRisk == (1 - .pAlive | . * 1e6 | round / 1e6)
		and .expectedPurchases >= 0 and .predictedValue >= 0)' clv.ndjson
}

@test "clv: one-order customers, tiny and empty state files: defined, no NaN" {
	jrn-ingest -q < /dev/null # (an empty state file; a missing one is refused)
	run --separate-stderr jrn-score clv
	assert_success
	assert_output ""
	run --separate-stderr jrn-score clv --params
	assert_output '{"calibrationEnd":"2026-01-01T00:00:00.000Z","unitDays":7,"customers":0,"bgnbd":null,"gammaGamma":null,"meanOrderValue":0}'
	order c1 3 10 | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score clv -q
	assert_success
	assert_output '{"customerId":"c1","clv":{"pAlive":1,"expectedPurchases":0,"predictedValue":0,"churnRisk":0}}'
	{
		order c2 40 0
		order c2 20 -5
		order c2 20 5
		order c3 1 7
		order c3 1 8
	} | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score clv -q
	assert_success
	assert_equal "${#lines[@]}" 3
	refute_output --partial null
	refute_output --regexp '[Nn]a[Nn]|[Ii]nf'
}

@test "clv: a degenerate fit warns (not with -q); a healthy one does not; output unchanged" {
	# every customer buys weekly up to now: nobody ever drops out, and the
	# fit makes dropout vanish (a / (a + b) far below 0.001)
	for c in $(seq 1 12); do
		for w in $(seq 0 $((4 + c % 5))); do order "c$c" $((w * 7 + c % 3)) 20; done
	done | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score clv
	assert_success
	assert_equal "${#stderr_lines[@]}" 2
	[[ "${stderr_lines[0]}" == "jrn-score: clv: BG/NBD r="*"; 12 customers, unit 7d" ]]
	[[ "${stderr_lines[1]}" =~ ^"jrn-score: clv: degenerate BG/NBD fit: a="[^\ ]+" b="[^\ ]+", mean dropout a/(a+b)="[^\ ]+" per repeat purchase (below 0.001): too little repeat-purchase history to estimate dropout; pAlive is near 1 for all (the lowest 1.000000, of 12 customers)"$ ]]
	noisy=$output
	run --separate-stderr jrn-score clv -q
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$output" "$noisy"
	jq -s -e 'length == 12 and all(.[].clv; .pAlive == 1 and .churnRisk == 0)' <<< "$output"
	run --separate-stderr jrn-score clv --params
	assert_success
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[1]%%:*}" "jrn-score"
	[[ "${stderr_lines[1]}" == *"degenerate BG/NBD fit"* ]]
	# nobody with a repeat purchase: nothing to estimate dropout from
	rm -f jrn.db*
	{ order c1 3 10; order c2 5 10; } | jrn-ingest -q > /dev/null
	run --separate-stderr jrn-score clv
	assert_success
	[[ "${stderr_lines[1]}" =~ ^"jrn-score: clv: degenerate BG/NBD fit (a="[^\ ]+" b="[^\ ]+"): no customer has a repeat purchase, so dropout cannot be estimated; pAlive is 1 and churnRisk 0 for all 2 customers"$ ]]
}

@test "clv: a healthy fit (simulated customers who drop out) does not warn" {
	sim 2000 5
	run --separate-stderr jrn-score clv
	assert_success
	assert_equal "${#stderr_lines[@]}" 1
	[[ "$stderr" == "jrn-score: clv: BG/NBD r="*"; 2000 customers, unit 7d" ]]
	refute [ -z "$output" ]
}

@test "clv: --calibration-end, --horizon, --save, rejects" {
	sim 2000 3
	printf '{"type":"order.completed","customerId":"late","timestamp":"2026-01-15T00:00:00Z","properties":{"amount":10}}\n' |
		jrn-ingest -q > /dev/null
	assert_equal "$(jrn-score clv -q | grep -c '"late"')" 0
	assert_equal "$(jrn-score clv -q --now 2026-02-01 | grep -c '"late"')" 1
	assert_equal "$(jrn-score clv -q --now 2026-02-01 --calibration-end 2026-01-01 | grep -c '"late"')" 0
	assert_equal "$(jrn-score clv -q --calibration-end 2025-06-01 | wc -l)" \
		"$(rows "SELECT count(DISTINCT customer_id) FROM events WHERE ts <= 1748736000000")"
	a=$(jrn-score clv -q --horizon 30d | jq -s 'map(.clv.expectedPurchases) | add')
	b=$(jrn-score clv -q --horizon 180d | jq -s 'map(.clv.expectedPurchases) | add')
	jq -n -e "$a > 0 and $b > 3 * $a"
	run --separate-stderr jrn-score clv -q --save
	assert_success
	assert_equal "$(rows "SELECT count(*), min(computed_at) FROM scores WHERE kind = 'clv'")" "2000|1767225600000"
	assert_equal "$(rows "SELECT json_extract(body, '$.pAlive') IS NOT NULL FROM scores LIMIT 1")" 1
	rows "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES
	      ('old-bad', 'order.completed', 'bad', 1767096000000, 0, NULL, '{}')"
	jrn-score clv 2> err > /dev/null || status=$?
	assert_equal "${status:-0}" 0
	grep -q "; 1 stored event with a non-numeric amount skipped; see jrn events --bad-amount$" err
	run --separate-stderr jrn-score clv --horizon 0d
	assert_failure 2
	run --separate-stderr jrn-score clv --horizon 3651d
	assert_failure 2
	run --separate-stderr jrn-score clv --calibration-end yesterday
	assert_failure 2
	run --separate-stderr jrn-score clv --window 3d
	assert_failure 2
}

# evd TYPE CUSTOMER DAYS-BEFORE-NOW [EXTRA-JSON-MEMBERS]: one event
evd() {
	printf '{"type":"%s","customerId":"%s","timestamp":"%s"%s}\n' "$1" "$2" \
		"$(date -u -d "@$((1767225600 - $3 * 86400))" +%Y-%m-%dT%H:%M:%SZ)" "${4:+,$4}"
}

@test "lead: the seed's rules by default: points, maxOccurrences, profile conditions, grades" {
	{
		for i in $(seq 1 60); do evd page.viewed c1 1 "\"properties\":{\"n\":$i}"; done
		evd email.clicked c1 2
		evd form.submitted c1 3
		evd cart.added c2 1
		evd order.completed c2 1 '"properties":{"amount":5}'
	} | jrn-ingest -q > /dev/null
	cat > in.ndjson <<'J'
{"customerId":"c1","traits":{"jobTitle":"CTO","company":{"size":50,"country":"UK","revenue":2000}}}
{"customerId":"c2","email":"x@example.com"}
{"traits":{"jobTitle":"VP"}}
J
	run --separate-stderr jrn-score lead in.ndjson
	assert_success
	assert_equal "$stderr" "jrn-score: lead: 3 profiles scored, 0 events passed through, 0 rejected"
	# c1: 50 page views (at most 50) + 5 + 15 = 70; CTO 20; UK 10
	assert_equal "${lines[0]}" '{"customerId":"c1","traits":{"jobTitle":"CTO","company":{"size":50,"country":"UK","revenue":2000}},"lead":{"score":100,"behavioral":70,"demographic":20,"firmographic":10,"grade":"hot"}}'
	assert_equal "${lines[1]}" '{"customerId":"c2","email":"x@example.com","lead":{"score":10,"behavioral":10,"demographic":0,"firmographic":0,"grade":"cold"}}'
	assert_equal "${lines[2]}" '{"traits":{"jobTitle":"VP"},"lead":{"score":20,"behavioral":0,"demographic":20,"firmographic":0,"grade":"cold"}}'
}

@test "lead --save: a profile without a customerId is scored on its fields, not stored, and not counted as saved; an empty customerId is rejected" {
	printf '%s\n' '{"traits":{"jobTitle":"VP"}}' '{"customerId":"","traits":{}}' \
		'{"customerId":"c9","traits":{"jobTitle":"VP"}}' > in.ndjson
	run --separate-stderr jrn-score lead --save in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[0]}" '{"traits":{"jobTitle":"VP"},"lead":{"score":20,"behavioral":0,"demographic":20,"firmographic":0,"grade":"cold"}}'
	assert_regex "$stderr" 'in\.ndjson:2: customerId: empty'
	assert_regex "$stderr" 'lead: 2 profiles scored, 0 events passed through, 1 rejected; 1 score saved'
	run sqlite3 jrn.db "SELECT customer_id FROM scores WHERE kind = 'lead'"
	assert_output c9
	run --separate-stderr jrn-score lead --save --dry-run in.ndjson
	assert_regex "$stderr" '1 rejected; 1 score computed'
	# a customerId that is not a string is rejected (keyed by the string
	# everywhere); null is no customerId
	printf '%s\n' '{"customerId":5}' '{"customerId":null,"traits":{"jobTitle":"VP"}}' \
		'{"customerId":["c9"]}' > odd.ndjson
	run --separate-stderr jrn-score lead odd.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 1
	assert_equal "${lines[0]}" '{"customerId":null,"traits":{"jobTitle":"VP"},"lead":{"score":20,"behavioral":0,"demographic":20,"firmographic":0,"grade":"cold"}}'
	assert_equal "${stderr_lines[0]}" 'jrn-score: odd.ndjson:1: customerId: expected a string, got a number'
	assert_equal "${stderr_lines[1]}" 'jrn-score: odd.ndjson:3: customerId: expected a string, got an array'
}

@test "lead: rules from the config: event conditions, windows, decay, grades; --save" {
	{
		evd page.viewed c1 1 '"properties":{"path":"/pricing"}'
		evd page.viewed c1 2 '"properties":{"path":"/"}'
		evd page.viewed c1 40 '"properties":{"path":"/pricing"}'
		evd email.opened c1 10
		evd email.opened c1 20
		evd email.opened c1 -5
	} | jrn-ingest -q > /dev/null
	cat > jrn.yaml <<'Y'
scoring:
  lead:
    halfLife: 10d
    grades: {hot: 30, warm: 10}
    behavioral:
      - name: pricing
        event: page.viewed
        condition: {properties.path: /pricing}
        within: 30d
        points: 20
      - {name: opens, event: email.opened, points: 8, maxOccurrences: 5}
    demographic:
      - name: plan
        condition: {all: [{field: traits.plan, op: equals, value: pro}]}
        points: 7
Y
	echo '{"customerId":"c1","traits":{"plan":"pro"}}' > in.ndjson
	run --separate-stderr jrn-score lead --save in.ndjson
	assert_success
	# pricing 1 day ago: 20 * 2^-0.1; opens 10 and 20 days ago: 8 * (2^-1 + 2^-2)
	assert_output '{"customerId":"c1","traits":{"plan":"pro"},"lead":{"score":31.66,"behavioral":24.66,"demographic":7,"firmographic":0,"grade":"hot"}}'
	assert_equal "$(rows "SELECT customer_id, kind, value, body FROM scores")" \
		'c1|lead|31.66|{"score":31.66,"behavioral":24.66,"demographic":7,"firmographic":0,"grade":"hot"}'
}

@test "lead: bad lines and bad rules" {
	printf '{"customerId":"c1"}\nnot json\n[1]\n' > in.ndjson
	run --separate-stderr jrn-score lead --rejects rej.ndjson in.ndjson
	assert_equal "$status" 3
	assert_equal "${#lines[@]}" 1
	assert_equal "$(wc -l < rej.ndjson)" 2
	[[ "$stderr" == *"jrn-score: in.ndjson:2: "* ]]
	printf 'scoring:\n  lead:\n    behavioral:\n      - {event: a.b}\n' > jrn.yaml
	run --separate-stderr jrn-score lead in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-score: jrn.yaml:4:9: scoring.lead.behavioral[0]: points: expected a number"
	printf 'scoring:\n  lead:\n    demographic:\n      - {points: 3, condition: {field: x, op: frobs, value: 1}}\n' > jrn.yaml
	run --separate-stderr jrn-score lead in.ndjson
	assert_failure 1
	[[ "$stderr" == "jrn-score: jrn.yaml:4:9: scoring.lead.demographic[0]: condition: "* ]]
	run --separate-stderr jrn-score lead --window 3d in.ndjson
	assert_failure 2
}
