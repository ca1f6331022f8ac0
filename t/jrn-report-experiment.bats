#!/usr/bin/env bats
# jrn-report experiment: A/B arms and holdouts of jrn-route's splits, on
# hand-made state files; the statistics checked against scipy.

load helpers

D=86400000
T0=$((1767225600000 - 60 * D)) # JRN_NOW (2026-01-01) less 60 days

state() {
	jrn-ingest -q < /dev/null
}

# journey NAME VERSION SOURCE: a journey_versions row
journey() {
	sqlite3 jrn.db "INSERT INTO journey_versions (journey, version, digest, source, created_at)
		VALUES ('$1', $2, 'd$2', '$3', $T0)"
}

# arm JOURNEY ARM N CONVERTED DAY: N enrollments (customers ARM-1 ...
# ARM-N) that took ARM, entered DAY days after T0, the first CONVERTED of
# them converted (the others completed)
arm() {
	sqlite3 jrn.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
		INSERT INTO enrollments (journey, version, customer_id, trigger_key, status, variant,
		 entered_at, updated_at)
		SELECT '$1', 1, '$2-' || i, 'k$5-' || i,
		 CASE WHEN i <= $4 THEN 'converted' ELSE 'completed' END, '$2',
		 $((T0 + $5 * D)), $((T0 + $5 * D)) FROM n"
}

CARTS='trigger: {event: cart.updated}
steps:
  - id: offer
    split:
      - {name: five, weight: 1}
      - {name: ten}
      - {name: none, weight: 2, holdout: true}
  - action: {channel: email, template: t, campaign: carts}
  - goal: {event: order.completed, within: 3d}'

# carts: five 500 (60 converted), ten 520 (75), none (holdout) 980 (80).
carts() {
	state
	journey carts 1 "$CARTS"
	arm carts five 500 60 10
	arm carts ten 520 75 10
	arm carts none 980 80 10
	# five-1 entered again and completed (re-entry): one customer still;
	# a customer not yet at the split (variant NULL) is not exposed
	sqlite3 jrn.db "INSERT INTO enrollments (journey, version, customer_id, trigger_key, status,
		 variant, entered_at, updated_at) VALUES
		 ('carts', 1, 'five-1', 'again', 'completed', 'five', $((T0 + 20 * D)), $T0),
		 ('carts', 1, 'x', 'x', 'active', NULL, $((T0 + 20 * D)), $T0)"
}

@test "experiment: exposures, conversions, rates and the control by hand" {
	carts
	run --separate-stderr jrn-report experiment
	assert_success
	assert_equal "$stderr" "jrn-report: experiment: 3 rows"
	# the arms in the split's order; control = the holdout arm (none)
	run jq -c '[.journey, .split, .arm, .holdout, .control, .weight, .exposures, .conversions, .rate]' <<< "$output"
	assert_output '["carts","offer","five",false,false,1,500,60,0.12]
["carts","offer","ten",false,false,1,520,75,0.14423076923076922]
["carts","offer","none",true,true,2,980,80,0.08163265306122448]'
	run --separate-stderr jrn-report experiment
	# five against none: 0.12 - 80/980 = 0.12 - 0.0816326530612245 =
	# 0.0383673469387755; lift 0.0383673.../0.0816326... = 0.47
	# the control row has no comparison
	run jq -c 'select(.arm == "five") | [.diff, .lift] | map(. * 1e12 | round / 1e12)' <<< "$output"
	assert_output '[0.038367346939,0.47]'
	run --separate-stderr jrn-report experiment
	run jq -c 'select(.control) | [.lift, .diff, .ciLow, .ciHigh, .newcombeLow, .newcombeHigh, .z, .pValue]' <<< "$output"
	assert_output '[null,null,null,null,null,null,null,null]'
}

@test "experiment: the sample-ratio check against the weights 1:1:2" {
	carts
	# 2000 exposed: expected 500, 500, 1000; chi2 = 0 + 20^2/500 +
	# 20^2/1000 = 1.2 with 2 degrees of freedom: p = exp(-0.6) =
	# 0.5488116360940264; no mismatch
	run --separate-stderr jrn-report experiment
	run jq -c '[(.srmChi2 * 1e12 | round / 1e12), .srm]' <<< "$output"
	assert_line -n 0 '[1.2,false]'
	run --separate-stderr jrn-report experiment
	jq -es 'all(((.srmPValue - 0.5488116360940264) | fabs) < 1e-12)' <<< "$output"
	# 600 against 400 at 1:1: chi2 = 2 * 100^2/500 = 40, p = 2.5e-10: flagged
	rm jrn.db
	state
	journey skew 1 'steps: [{split: [{name: a}, {name: b}]}]'
	arm skew a 600 0 1
	arm skew b 400 0 1
	run --separate-stderr jrn-report experiment
	run jq -c '[.split, .arm, .control, .srmChi2, .srm, .rate, .z, .pValue, .lift]' <<< "$output"
	assert_output '["step 1","a",true,40,true,0,null,null,null]
["step 1","b",false,40,true,0,null,null,null]'
}

@test "experiment: the statistics match scipy's to 1e-9" {
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import scipy' 2> /dev/null ||
		skip "no Debian python3-scipy"
	carts
	journey skew 1 'steps: [{split: [{name: a, weight: 3}, {name: b, weight: 1}]}, {goal: {event: order.completed}}]'
	arm skew a 700 7 1
	arm skew b 300 0 1
	for level in 0.95 0.9 0.999; do
		run --separate-stderr jrn-report experiment --level $level
		assert_success
		printf '%s\n' "$output" > rows.ndjson
		# scipy: norm.sf for the pooled z-test (as statsmodels'
		# proportions_ztest), norm.ppf for the intervals, chisquare for
		# the SRM; Newcombe's method 10 from Wilson intervals
		run /usr/bin/python3 - "$level" rows.ndjson <<-'PY'
		import json, math, sys
		from scipy.stats import norm, chisquare
		level = float(sys.argv[1])
		rows = [json.loads(l) for l in open(sys.argv[2])]
		z = norm.ppf(1 - (1 - level) / 2)
		def wilson(x, n):
		    p = x / n
		    d = 1 + z * z / n
		    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
		    return (p + z * z / (2 * n) - h) / d, (p + z * z / (2 * n) + h) / d
		bad = 0
		def near(name, got, want):
		    global bad
		    if got is None or want is None or abs(got - want) > 1e-9 * max(1, abs(want)):
		        print("MISMATCH", name, got, want)
		        bad += 1
		checked = 0
		for j in sorted({(r["journey"], r["split"]) for r in rows}):
		    arms = [r for r in rows if (r["journey"], r["split"]) == j]
		    ctl = [r for r in arms if r["control"]][0]
		    obs = [r["exposures"] for r in arms]
		    w = [r["weight"] for r in arms]
		    chi2, p = chisquare(obs, [sum(obs) * x / sum(w) for x in w])
		    for r in arms:
		        near("srmChi2", r["srmChi2"], chi2)
		        near("srmPValue", r["srmPValue"], p)
		        if r["control"]:
		            continue
		        x1, n1, x2, n2 = r["conversions"], r["exposures"], ctl["conversions"], ctl["exposures"]
		        p1, p2 = x1 / n1, x2 / n2
		        pp = (x1 + x2) / (n1 + n2)
		        zz = (p1 - p2) / math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2))
		        near("z", r["z"], zz)
		        near("pValue", r["pValue"], 2 * norm.sf(abs(zz)))
		        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
		        near("ciLow", r["ciLow"], p1 - p2 - z * se)
		        near("ciHigh", r["ciHigh"], p1 - p2 + z * se)
		        l1, u1 = wilson(x1, n1)
		        l2, u2 = wilson(x2, n2)
		        near("newcombeLow", r["newcombeLow"], p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
		        near("newcombeHigh", r["newcombeHigh"], p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
		        near("lift", r["lift"], (p1 - p2) / p2)
		        checked += 1
		print("checked", checked, "bad", bad)
		PY
		assert_output "checked 3 bad 0"
	done
}

@test "experiment: without a goal, an order within report.experiment.window after entry" {
	state
	journey welcome 1 'steps: [{split: [{name: a}, {name: b}]}, {action: {channel: email, template: w}}]'
	arm welcome a 2 0 0
	arm welcome b 2 0 0
	# a-1 orders 3 days after entering (in the 7d window); a-2 after 8
	# days (out); b-1 a day before entering (out); b-2 never
	for o in "a-1 3" "a-2 8" "b-1 -1"; do
		set -- $o
		sqlite3 jrn.db "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
			VALUES ('o$1', 'order.completed', '$1', $((T0 + $2 * D)), $T0, 5, '{}')"
	done
	run --separate-stderr jrn-report experiment
	assert_success
	# a: 1 of 2; b (against a, the first arm): 0 of 2, lift -1
	run jq -c '[.arm, .control, .exposures, .conversions, .rate, .lift]' <<< "$output"
	assert_output '["a",true,2,1,0.5,null]
["b",false,2,0,0,-1]'
	# a window of 10 days takes a-2's order too
	printf 'report:\n  experiment:\n    window: 10d\n' > jrn.yaml
	run --separate-stderr jrn-report experiment
	run jq -c '[.arm, .conversions]' <<< "$output"
	assert_output '["a",2]
["b",0]'
}

@test "experiment: --journey, the window, and an arm no longer in the split" {
	carts
	journey other 1 'steps: [{split: [{name: x}, {name: y}]}, {goal: {event: order.completed}}]'
	arm other x 3 1 30
	arm other y 3 2 30
	run --separate-stderr jrn-report experiment
	assert_equal "${#lines[@]}" 5
	run --separate-stderr jrn-report experiment --journey other
	run jq -c '[.journey, .arm, .exposures, .conversions]' <<< "$output"
	assert_output '["other","x",3,1]
["other","y",3,2]'
	# --since day 15: carts' enrollments (day 10) are out, only five-1's
	# re-entry (day 20) is in
	since=$(date -u -d "@$(((T0 + 15 * D) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
	run --separate-stderr jrn-report experiment --journey carts --since "$since"
	run jq -c '[.arm, .exposures, .conversions]' <<< "$output"
	assert_output '["five",1,0]
["ten",0,0]
["none",0,0]'
	# version 2 drops the arm ten: its enrollments show with weight null
	# and are left out of the SRM (five 500 and none 980 at 1:2: expected
	# 493.33 and 986.67: chi2 = 6.6667^2/493.33 + 6.6667^2/986.67 = 0.1351...)
	journey carts 2 'steps: [{id: offer, split: [{name: five}, {name: none, weight: 2, holdout: true}]}]'
	run --separate-stderr jrn-report experiment --journey carts
	run jq -c '[.arm, .weight, .exposures]' <<< "$output"
	assert_output '["five",1,500]
["none",2,980]
["ten",null,520]'
	run jq -s '.[0].srmChi2' <<< "$(jrn-report experiment --journey carts 2> /dev/null)"
	jq -en --argjson g "$output" '($g - ((20/3) * (20/3) / (1480/3) + (20/3) * (20/3) / (2960/3))) | fabs < 1e-12'
	run jrn-report experiment --journey nosuch
	assert_failure 1
	assert_output "jrn-report: experiment: --journey nosuch: no such journey in the state file"
}

@test "experiment: bad --level and config level; --by is refused; empty" {
	state
	run --separate-stderr jrn-report experiment
	assert_success
	assert_output ""
	run --separate-stderr jrn-report experiment --format csv
	assert_output --partial "journey,split,arm,holdout,control,weight,exposures,conversions,rate,lift"
	for l in 0 1 1.5 abc -0.2 0.9x; do
		run jrn-report experiment --level "$l"
		assert_failure 2
		assert_output --partial "experiment: --level '$l': a number between 0 and 1"
	done
	printf 'report:\n  experiment:\n    level: 95\n' > jrn.yaml
	run jrn-report experiment
	assert_failure 1
	assert_output --partial "report.experiment.level: 95"
	rm jrn.yaml
	run jrn-report experiment --by arm
	assert_failure 2
	assert_output --partial "--by arm"
}
