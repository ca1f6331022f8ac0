#!/usr/bin/env bats
# jrn-report (session 9, "fixes" #5): one openRate and clickRate (seed 004:
# OPEN / SENT, CLICK / SENT) in metrics and kpis; no float noise in table
# and csv (15 significant digits; money to the cent).

load helpers

# c1..c4: four e-mails of campaign A sent 2026-03-01; two opened (one
# with a delivered event), one clicked; no delivered event for the others
# (SMTP reports none). Costs 0.1 and 0.2 (their sum is 0.30000000000000004
# as a double); an order of 10.1 + 20.2 by c1.
make_state() {
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	sqlite3 jrn.db <<'SQL'
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, cost, claimed_at, updated_at, record)
 VALUES ('d1','c1','email','A','sent','smtp',0.1,unixepoch('2026-03-01T01:00:00Z')*1000,0,'{}'),
        ('d2','c2','email','A','sent','smtp',0.2,unixepoch('2026-03-01T01:00:00Z')*1000,0,'{}'),
        ('d3','c3','email','A','sent','smtp',NULL,unixepoch('2026-03-01T01:00:00Z')*1000,0,'{}'),
        ('d4','c4','email','A','sent','smtp',NULL,unixepoch('2026-03-01T01:00:00Z')*1000,0,'{}');
SQL
	{
		printf '{"id":"e1","type":"email.delivered","customerId":"c1","timestamp":"2026-03-01T01:01:00Z","properties":{"deliveryKey":"d1"}}\n'
		printf '{"id":"e2","type":"email.opened","customerId":"c1","timestamp":"2026-03-01T01:02:00Z","properties":{"deliveryKey":"d1"}}\n'
		printf '{"id":"e3","type":"email.opened","customerId":"c2","timestamp":"2026-03-01T01:03:00Z","properties":{"deliveryKey":"d2"}}\n'
		printf '{"id":"e4","type":"email.clicked","customerId":"c2","timestamp":"2026-03-01T01:04:00Z","properties":{"deliveryKey":"d2"}}\n'
		printf '{"id":"e5","type":"order.completed","customerId":"c1","timestamp":"2026-03-01T02:00:00Z","properties":{"amount":10.1}}\n'
		printf '{"id":"e6","type":"order.completed","customerId":"c1","timestamp":"2026-03-01T03:00:00Z","properties":{"amount":20.2}}\n'
	} | jrn-ingest -q --db jrn.db > /dev/null
}

W=(--since 2026-03-01T00:00:00Z --until 2026-03-02T00:00:00Z)

@test "metrics and kpis: openRate and clickRate are opened and clicked over sent, in both" {
	make_state
	run --separate-stderr jrn-report metrics --db jrn.db "${W[@]}"
	assert_success
	assert_equal "$(jq -c '[.sent, .delivered, .opened, .clicked, .openRate, .clickRate]' <<< "$output")" '[4,2,2,1,0.5,0.25]'
	run --separate-stderr jrn-report kpis --db jrn.db "${W[@]}"
	assert_success
	assert_equal "$(jq -c 'select(.kpi == "openRate" or .kpi == "clickRate") | [.kpi, .value]' <<< "$output" | tr '\n' ' ')" \
		'["openRate",0.5] ["clickRate",0.25] '
}

@test "table and csv: no float noise (0.1 + 0.2 is 0.3), money to the cent; NDJSON has the exact sum" {
	make_state
	run --separate-stderr jrn-report metrics --db jrn.db "${W[@]}" --by all --format csv
	assert_success
	refute_output --partial 0.30000000000000004
	refute_output --partial 30.299999999999997
	# cost 0.3, revenue 30.3 (to the cent), roi (30.3 - 0.3) / 0.3 = 100 (15 digits)
	run /usr/bin/python3 -c 'import csv, sys; r = list(csv.DictReader(sys.stdin)); print(r[0]["cost"], r[0]["revenue"], r[0]["roi"], r[0]["openRate"])' <<< "$output"
	assert_output '0.3 30.3 100 0.5'
	run --separate-stderr jrn-report metrics --db jrn.db "${W[@]}" --by all --format table
	assert_success
	refute_output --partial 0.30000000000000004
	assert_output --partial ' 0.3 '
	assert_output --partial ' 30.3 '
	# metrics adds money exactly (in millionths), whatever the rows' order
	run --separate-stderr jrn-report metrics --db jrn.db "${W[@]}" --by all
	assert_equal "$(jq -c '[.cost, .revenue]' <<< "$output")" '[0.3,30.3]'
}

@test "cohorts and kpis add money as metrics does: 10.1 + 20.2 is 30.3 and 0.1 + 0.2 is 0.3 in NDJSON too (a newcomer's trial)" {
	make_state
	run --separate-stderr jrn-report cohorts --db jrn.db "${W[@]}"
	assert_success
	assert_equal "$(jq -c 'select(.revenue > 0) | .revenue' <<< "$output")" 30.3
	run --separate-stderr jrn-report kpis --db jrn.db "${W[@]}"
	assert_equal "$(jq -c 'select(.kpi == "campaignRoi") | [.numerator, .denominator]' <<< "$output")" '[30.3,0.3]'
}
