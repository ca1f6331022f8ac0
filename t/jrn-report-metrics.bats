#!/usr/bin/env bats
# jrn-report metrics: every figure on a hand-made state file, worked out by
# hand below (not by running the tool); --since 24h, --by each field,
# --save and the insights rows with their trend.

load helpers

# The window: 2026-03-01 (--since 2026-03-01T00:00:00Z, --until
# 2026-03-02T00:00:00Z, or --since 24h at --now 2026-03-02T00:00:00Z).
#
# deliveries (key customer channel campaign status provider cost claimed_at record):
#   d1 c1 email A sent       smtp   -    03-01 01:00 testVariant a, journey welcome
#   d2 c2 email A sent       smtp   -    03-01 02:00 route.variant b, journey welcome
#   d3 c3 email A failed     smtp   -    03-01 03:00
#   d4 c1 sms   B sent       twilio 0.25 03-01 05:00
#   d5 c4 sms   B simulated  twilio 0.5  03-01 10:30
#   d6 c5 email A suppressed -      -    03-01 11:00
#   d9 c8 sms   B rejected   twilio -    03-01 12:00
#   d7 c6 email A sent       smtp   -    02-28 12:00  (the previous window)
#   d8 c7 email A queued     smtp   -    03-02 00:00  (at --until: outside)
# engagement events (deliveryKey):
#   d1 email.delivered 01:01, email.opened 01:05 and 01:10, email.clicked 01:06
#   d2 email.opened 02:30 (no delivered event: the open proves it),
#      consent.revoked 03:00
#   d3 email.bounced 03:01; d4 sms.delivered 05:01; d5 sms.failed 10:31
#   d7 email.opened 02-28 12:05 (previous window)
#   "nope" email.opened (no such delivery), and an open without deliveryKey:
#   not counted; d1 email.opened 03-02 00:30 (after the window)
# orders (order.completed):
#   o1 c1 03-01 06:00 100 -> c1's last send before it: d4 (sms B)
#   o6 c1 03-01 07:00  10 -> d4 again (d4 converted once, revenue 110)
#   o2 c2 03-01 02:00  50 -> d2 (claimed at the same ms: at or before)
#   o3 c3 03-01 04:00  30 -> c3 has only the failed d3: no send, not counted
#   o4 c6 03-01 13:00  20 -> d7, 25 h before, but outside the window
#   o5 c4 03-01 20:00  40 -> d5 (9.5 h before; not with --lookback 1h)
#   o7 c2 03-02 01:00  99 -> after the window
#
# So, by campaign,channel:
#   A/email: sent 2 (d1 d2), delivered 2, failed 1, suppressed 1, rejected 0,
#     opened 2, clicked 1, unsubscribed 1, bounced 1, converted 1 (d2),
#     revenue 50, cost 0 (roi null); deliveryRate 2/2 = 1, openRate 2/2 = 1 (over sent),
#     clickRate 1/2, clickToOpenRate 1/2, conversionRate 1/2,
#     unsubscribeRate 1/2, bounceRate 1/2.
#   B/sms: sent 2 (d4 d5), delivered 1 (d4), failed 0, suppressed 0,
#     rejected 1, opened 0, clicked 0, unsubscribed 0, bounced 1 (d5),
#     converted 2 (d4, d5), revenue 150, cost 0.75, roi (150 - 0.75) / 0.75
#     = 199; deliveryRate 1/2, openRate 0/2 = 0, clickRate 0,
#     clickToOpenRate null (0 opened), conversionRate 2/2 = 1,
#     unsubscribeRate 0, bounceRate 1/2.
make_state() {
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	sqlite3 jrn.db <<'EOF'
CREATE TEMP TABLE t (k, c, ch, camp, st, prov, cost, at, rec);
INSERT INTO t VALUES
 ('d1','c1','email','A','sent','smtp',NULL,'2026-03-01T01:00:00Z','{"testVariant":"a","route":{"journey":"welcome"}}'),
 ('d2','c2','email','A','sent','smtp',NULL,'2026-03-01T02:00:00Z','{"route":{"variant":"b","journey":"welcome"}}'),
 ('d3','c3','email','A','failed','smtp',NULL,'2026-03-01T03:00:00Z','{}'),
 ('d4','c1','sms','B','sent','twilio',0.25,'2026-03-01T05:00:00Z','{}'),
 ('d5','c4','sms','B','simulated','twilio',0.5,'2026-03-01T10:30:00Z','{}'),
 ('d6','c5','email','A','suppressed',NULL,NULL,'2026-03-01T11:00:00Z','{}'),
 ('d9','c8','sms','B','rejected','twilio',NULL,'2026-03-01T12:00:00Z','{}'),
 ('d7','c6','email','A','sent','smtp',NULL,'2026-02-28T12:00:00Z','{}'),
 ('d8','c7','email','A','queued','smtp',NULL,'2026-03-02T00:00:00Z','{}');
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, cost,
  claimed_at, updated_at, record)
  SELECT k, c, ch, camp, st, prov, cost, unixepoch(at) * 1000, unixepoch(at) * 1000, rec FROM t;
CREATE TEMP TABLE e (id, type, c, at, amount, dk);
INSERT INTO e VALUES
 ('e1','email.delivered','c1','2026-03-01T01:01:00Z',NULL,'d1'),
 ('e2','email.opened','c1','2026-03-01T01:05:00Z',NULL,'d1'),
 ('e3','email.opened','c1','2026-03-01T01:10:00Z',NULL,'d1'),
 ('e4','email.clicked','c1','2026-03-01T01:06:00Z',NULL,'d1'),
 ('e5','email.opened','c2','2026-03-01T02:30:00Z',NULL,'d2'),
 ('e6','consent.revoked','c2','2026-03-01T03:00:00Z',NULL,'d2'),
 ('e7','email.bounced','c3','2026-03-01T03:01:00Z',NULL,'d3'),
 ('e8','sms.delivered','c1','2026-03-01T05:01:00Z',NULL,'d4'),
 ('e9','sms.failed','c4','2026-03-01T10:31:00Z',NULL,'d5'),
 ('e10','email.opened','c6','2026-02-28T12:05:00Z',NULL,'d7'),
 ('e11','email.opened','c9','2026-03-01T09:00:00Z',NULL,'nope'),
 ('e12','email.opened','c1','2026-03-01T09:00:00Z',NULL,NULL),
 ('e13','email.opened','c1','2026-03-02T00:30:00Z',NULL,'d1'),
 ('o1','order.completed','c1','2026-03-01T06:00:00Z',100,NULL),
 ('o6','order.completed','c1','2026-03-01T07:00:00Z',10,NULL),
 ('o2','order.completed','c2','2026-03-01T02:00:00Z',50,NULL),
 ('o3','order.completed','c3','2026-03-01T04:00:00Z',30,NULL),
 ('o4','order.completed','c6','2026-03-01T13:00:00Z',20,NULL),
 ('o5','order.completed','c4','2026-03-01T20:00:00Z',40,NULL),
 ('o7','order.completed','c2','2026-03-02T01:00:00Z',99,NULL);
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
  SELECT id, type, c, unixepoch(at) * 1000, unixepoch(at) * 1000, amount,
    json_object('id', id, 'type', type, 'customerId', c, 'timestamp', at,
      'properties', CASE WHEN dk IS NULL THEN json_object('amount', amount)
                    ELSE json_object('deliveryKey', dk, 'channel', 'email') END)
  FROM e;
EOF
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export JRN_NOW=2026-03-02T00:00:00Z
	make_state
}

# near A EXPR: |A - EXPR| < 1e-12, EXPR a jq expression (2/3 - 1), for
# rates that are not exact in binary
near() {
	jq -en --argjson a "$1" "(\$a - ($2)) | fabs < 1e-12" > /dev/null
}

A_EMAIL='{"campaign":"A","channel":"email","sent":2,"delivered":2,"failed":1,"suppressed":1,"rejected":0,"opened":2,"clicked":1,"unsubscribed":1,"bounced":1,"converted":1,"revenue":50,"cost":0,"roi":null,"deliveryRate":1,"openRate":1,"clickRate":0.5,"clickToOpenRate":0.5,"conversionRate":0.5,"unsubscribeRate":0.5,"bounceRate":0.5}'
B_SMS='{"campaign":"B","channel":"sms","sent":2,"delivered":1,"failed":0,"suppressed":0,"rejected":1,"opened":0,"clicked":0,"unsubscribed":0,"bounced":1,"converted":2,"revenue":150,"cost":0.75,"roi":199,"deliveryRate":0.5,"openRate":0,"clickRate":0,"clickToOpenRate":null,"conversionRate":1,"unsubscribeRate":0,"bounceRate":0.5}'

@test "metrics: every figure per campaign and channel (the default --by)" {
	run --separate-stderr jrn-report metrics --since 2026-03-01T00:00:00Z --until 2026-03-02T00:00:00Z
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[0]}" "$A_EMAIL"
	assert_equal "${lines[1]}" "$B_SMS"
	assert_equal "$stderr" "jrn-report: metrics: 2 rows"
}

@test "metrics: --since 24h is the same window at --now" {
	run --separate-stderr jrn-report metrics --since 24h -q
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${lines[0]}" "$A_EMAIL"
	assert_equal "${lines[1]}" "$B_SMS"
	# --since 7d takes in d7 (02-28, sent, opened) and o4 (c6, 20, 25 h
	# after d7): A/email has sent 3, delivered 3, opened 3, converted 2,
	# revenue 70
	run jrn-report metrics --since 7d -q
	assert_success
	assert_equal "$(jq -c 'select(.campaign == "A") | [.sent, .delivered, .opened, .converted, .revenue]' <<< "$output")" "[3,3,3,2,70]"
}

@test "metrics: the lookback: --lookback 1h loses o5 (9.5 h after d5), report.metrics.lookback too" {
	# B/sms: converted 1 (d4: o1 1 h after, o6 2 h after: o6 is past 1 h
	# but o1 is at 1 h exactly, which counts), revenue 100
	run jrn-report metrics --since 24h --lookback 1h -q
	assert_success
	assert_equal "$(jq -c 'select(.campaign == "B") | [.converted, .revenue, .conversionRate]' <<< "$output")" "[1,100,0.5]"
	printf 'report:\n  metrics:\n    lookback: 1h\n' > jrn.yaml
	run jrn-report metrics --since 24h -q
	assert_success
	assert_equal "$(jq -c 'select(.campaign == "B") | [.converted, .revenue]' <<< "$output")" "[1,100]"
	# the flag wins over the config
	run jrn-report metrics --since 24h --lookback 7d -q
	assert_equal "$(jq -c 'select(.campaign == "B") | [.converted, .revenue]' <<< "$output")" "[2,150]"
	run jrn-report metrics --since 24h --lookback 0s
	assert_failure 2
	assert_output --partial "--lookback '0s': more than 0 is needed"
	run jrn-report metrics --since 24h --lookback soon
	assert_failure 2
}

@test "metrics: --by each field" {
	# variant: d1 testVariant a; d2 route.variant b; the rest none (null,
	# first): d3 failed, d4 d5 sent, d6 suppressed, d9 rejected
	run jrn-report metrics --since 24h --by variant -q
	assert_success
	assert_equal "$(jq -c '[.variant, .sent, .failed, .suppressed, .rejected, .opened, .clicked, .unsubscribed, .converted, .revenue]' <<< "$output")" \
'[null,2,1,1,1,0,0,0,2,150]
["a",1,0,0,0,1,1,0,0,0]
["b",1,0,0,0,1,0,1,1,50]'
	# day: all of the window's sends on 2026-03-01
	run jrn-report metrics --since 24h --by day -q
	assert_equal "$(jq -c '[.day, .sent, .delivered, .converted, .revenue, .cost]' <<< "$output")" '["2026-03-01",4,3,3,200,0.75]'
	# hour: one row per hour with a delivery
	run jrn-report metrics --since 24h --by hour -q
	assert_equal "$(jq -r '[.hour, .sent] | join(" ")' <<< "$output")" \
'2026-03-01T01:00:00Z 1
2026-03-01T02:00:00Z 1
2026-03-01T03:00:00Z 0
2026-03-01T05:00:00Z 1
2026-03-01T10:00:00Z 1
2026-03-01T11:00:00Z 0
2026-03-01T12:00:00Z 0'
	# journey: d1, d2 in welcome
	run jrn-report metrics --since 24h --by journey -q
	assert_equal "$(jq -c '[.journey, .sent, .opened]' <<< "$output")" '[null,2,0]
["welcome",2,2]'
	# provider: smtp d1 d2 d3; twilio d4 d5 d9; none d6
	run jrn-report metrics --since 24h --by provider -q
	assert_equal "$(jq -c '[.provider, .sent, .failed, .suppressed, .rejected]' <<< "$output")" '[null,0,0,1,0]
["smtp",2,1,0,0]
["twilio",2,0,0,1]'
	# campaign alone, then channel,campaign: the columns in --by's order
	run jrn-report metrics --since 24h --by channel,campaign -q
	assert_equal "$(jq -c 'keys_unsorted[0:3]' <<< "${lines[0]}")" '["channel","campaign","sent"]'
	# --by all: one row for the whole window
	run jrn-report metrics --since 24h --by all -q
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -c '[.sent, .delivered, .failed, .suppressed, .rejected, .opened, .clicked, .unsubscribed, .bounced, .converted, .revenue, .cost]' <<< "$output")" '[4,3,1,1,1,2,1,1,2,3,200,0.75]'
	near "$(jq .openRate <<< "$output")" 2/4
	run jrn-report metrics --by country
	assert_failure 2
	assert_output --partial "metrics: --by country: not a field of this kind (campaign, channel, variant, day, hour, journey, provider, all)"
	run jrn-report metrics --by all,campaign
	assert_failure 2
	assert_output "jrn-report: metrics: --by all stands alone (one row for the whole window), not with other fields"
	run jrn-report metrics --by campaign,campaign
	assert_failure 2
	assert_output --partial "campaign twice"
}

@test "metrics: an empty window has no rows; table and csv print the header" {
	run --separate-stderr jrn-report metrics --since 2025-01-01 --until 2025-01-02
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-report: metrics: 0 rows"
	run jrn-report metrics --since 2025-01-01 --until 2025-01-02 --format csv -q
	assert_success
	assert_output "campaign,channel,sent,delivered,failed,suppressed,rejected,opened,clicked,unsubscribed,bounced,converted,revenue,cost,roi,deliveryRate,openRate,clickRate,clickToOpenRate,conversionRate,unsubscribeRate,bounceRate"$'\r'
	run jrn-report metrics --since 2025-01-01 --until 2025-01-02 --format table -q --by all
	assert_output "sent  delivered  failed  suppressed  rejected  opened  clicked  unsubscribed  bounced  converted  revenue  cost  roi  deliveryRate  openRate  clickRate  clickToOpenRate  conversionRate  unsubscribeRate  bounceRate"
}

@test "metrics: table and csv of the figures" {
	run jrn-report metrics --since 24h --format table -q
	assert_success
	# every column as wide as its widest cell, two spaces apart; numbers
	# (and null among them) right-aligned under a right-aligned header
	assert_line --index 0 "campaign  channel  sent  delivered  failed  suppressed  rejected  opened  clicked  unsubscribed  bounced  converted  revenue  cost   roi  deliveryRate  openRate  clickRate  clickToOpenRate  conversionRate  unsubscribeRate  bounceRate"
	assert_line --index 1 "A         email       2          2       1           1         0       2        1             1        1          1       50     0  null             1         1        0.5              0.5             0.5              0.5         0.5"
	assert_line --index 2 "B         sms         2          1       0           0         1       0        0             0        1          2      150  0.75   199           0.5         0          0             null               1                0         0.5"
	run jrn-report metrics --since 24h --format csv -q
	assert_line --index 1 "A,email,2,2,1,1,0,2,1,1,1,1,50,0,,1,1,0.5,0.5,0.5,0.5,0.5"$'\r'
	assert_line --index 2 "B,sms,2,1,0,0,1,0,0,0,1,2,150,0.75,199,0.5,0,0,,1,0,0.5"$'\r'
}

# The insights of --since 24h --save at --now 2026-03-02T00:00:00Z
# (computed_at 1772409600000, window [1772323200000, 1772409600000)).
# The previous window [02-28, 03-01) holds d7 alone (A/email, sent 1,
# delivered 1 by its open, opened 1; o4 is not in it): rates deliveryRate 1,
# openRate 1, clickRate 0, clickToOpenRate 0, conversionRate 0,
# unsubscribeRate 0, bounceRate 0. So:
#   A/email, campaign A, channel email: trend deliveryRate 1-1 = 0,
#     openRate 0, clickRate 0.5, clickToOpenRate 0.5, conversionRate 0.5,
#     unsubscribeRate 0.5, bounceRate 0.5
#   B/sms, campaign B, channel sms: no sends before: trend NULL
#   all: sent 4, delivered 3, opened 2, clicked 1, converted 3, bounced 2,
#     unsubscribed 1: deliveryRate 3/4, openRate 2/4, clickRate 1/4 (over sent),
#     clickToOpenRate 1/2, conversionRate 3/4, unsubscribeRate 1/3,
#     bounceRate 2/4; trend -0.25, 2/4 - 1, 1/4, 0.5, 0.75, 1/3, 0.5
# Rows: all 1, campaign 2, channel 2, campaign,channel 2 = 7.
@test "metrics --save: the insights rows and their trend" {
	run --separate-stderr jrn-report metrics --since 24h --save
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[0]}" "$A_EMAIL"
	assert_equal "$stderr" "jrn-report: metrics: saved 7 insights (computed at 2026-03-02T00:00:00.000Z)
jrn-report: metrics: 2 rows"
	run rows "SELECT kind, computed_at, dimension, group_key, window_start, window_end FROM insights ORDER BY dimension, group_key"
	assert_output "metrics|1772409600000|all|[]|1772323200000|1772409600000
metrics|1772409600000|campaign|[\"A\"]|1772323200000|1772409600000
metrics|1772409600000|campaign|[\"B\"]|1772323200000|1772409600000
metrics|1772409600000|campaign,channel|[\"A\",\"email\"]|1772323200000|1772409600000
metrics|1772409600000|campaign,channel|[\"B\",\"sms\"]|1772323200000|1772409600000
metrics|1772409600000|channel|[\"email\"]|1772323200000|1772409600000
metrics|1772409600000|channel|[\"sms\"]|1772323200000|1772409600000"
	# metrics: the row without its group columns
	run rows "SELECT metrics FROM insights WHERE dimension = 'campaign,channel' AND group_key = '[\"A\",\"email\"]'"
	assert_output "$(jq -c 'del(.campaign, .channel)' <<< "$A_EMAIL")"
	run rows "SELECT metrics FROM insights WHERE dimension = 'campaign' AND group_key = '[\"B\"]'"
	assert_output "$(jq -c 'del(.campaign, .channel)' <<< "$B_SMS")"
	local ab='{"deliveryRate":0,"openRate":0,"clickRate":0.5,"clickToOpenRate":0.5,"conversionRate":0.5,"unsubscribeRate":0.5,"bounceRate":0.5}'
	run rows "SELECT dimension || ' ' || trend FROM insights WHERE trend IS NOT NULL AND dimension != 'all' ORDER BY dimension"
	assert_output "campaign $ab
campaign,channel $ab
channel $ab"
	run rows "SELECT count(*) FROM insights WHERE trend IS NULL"
	assert_output 3
	run rows "SELECT trend FROM insights WHERE dimension = 'all'"
	local t=$output
	near "$(jq .deliveryRate <<< "$t")" -0.25
	near "$(jq .openRate <<< "$t")" '2/4 - 1'
	near "$(jq .clickRate <<< "$t")" 1/4
	near "$(jq .clickToOpenRate <<< "$t")" 0.5
	near "$(jq .conversionRate <<< "$t")" 0.75
	near "$(jq .unsubscribeRate <<< "$t")" 1/3
	near "$(jq .bounceRate <<< "$t")" 0.5
	run rows "SELECT json_extract(metrics, '$.sent') || ' ' || json_extract(metrics, '$.revenue') FROM insights WHERE dimension = 'all'"
	assert_output "4 200"
}

@test "metrics --save twice at the same --now replaces the run; another --now adds one" {
	jrn-report metrics --since 24h --save -q > /dev/null
	before=$(rows "SELECT * FROM insights ORDER BY dimension, group_key")
	jrn-report metrics --since 24h --save -q > /dev/null
	assert_equal "$(rows "SELECT * FROM insights ORDER BY dimension, group_key")" "$before"
	assert_equal "$(rows "SELECT count(*) FROM insights")" 7
	# an hour later: a second run beside the first (the window 03-01 01:00
	# to 03-02 01:00 drops nothing of A/email but d1? no: d1 is at 01:00,
	# in it); the first run is kept
	jrn-report metrics --since 24h --save -q --now 2026-03-02T01:00:00Z > /dev/null
	assert_equal "$(rows "SELECT count(DISTINCT computed_at) FROM insights")" 2
	assert_equal "$(rows "SELECT count(*) FROM insights WHERE computed_at = 1772409600000")" 7
}

@test "metrics --save: --by variant adds its dimension; --dry-run writes nothing" {
	run --separate-stderr jrn-report metrics --since 24h --save --dry-run --by variant
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "$stderr" "jrn-report: metrics: would save 8 insights (computed at 2026-03-02T00:00:00.000Z)
jrn-report: metrics: 3 rows"
	assert_equal "$(rows "SELECT count(*) FROM insights")" 0
	jrn-report metrics --since 24h --save -q --by variant > /dev/null
	# all 1, campaign 2, channel 2, variant 3 (null, a, b)
	assert_equal "$(rows "SELECT dimension, count(*) FROM insights GROUP BY dimension")" "all|1
campaign|2
channel|2
variant|3"
	assert_equal "$(rows "SELECT group_key FROM insights WHERE dimension = 'variant' ORDER BY group_key")" '["a"]
["b"]
[null]'
}

@test "metrics --save without --since: the trend is NULL, window_start 0" {
	jrn-report metrics --save -q > /dev/null
	assert_equal "$(rows "SELECT count(*), sum(trend IS NULL), min(window_start) FROM insights")" "7|7|0"
}

@test "metrics: --save and --dry-run belong to metrics; --dry-run needs --save" {
	run jrn-report funnel --save
	assert_failure 2
	assert_output --partial "funnel: --save is for metrics only"
	run jrn-report metrics --dry-run
	assert_failure 2
	assert_output --partial "--dry-run goes with --save"
	run jrn-report kpis --lookback 1d
	assert_failure 2
	assert_output --partial "kpis: --lookback is for metrics, attribution only"
}

@test "metrics: a deliveryKey given as a JSON number finds its delivery (key '42'), as the join did" {
	# d42: c9's email of campaign N at 03-01 08:00, opened (deliveryKey 42,
	# a number) and clicked (deliveryKey 42 again): opened 1, clicked 1,
	# delivered 1 (one delivery); a key that sorts before every other ("0", no delivery)
	# and one after ("zz") change nothing
	sqlite3 jrn.db <<'SQL'
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, cost,
  claimed_at, updated_at, record)
  VALUES ('42', 'c9', 'email', 'N', 'sent', 'smtp', NULL, unixepoch('2026-03-01T08:00:00Z') * 1000,
    unixepoch('2026-03-01T08:00:00Z') * 1000, '{}');
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body) VALUES
 ('n1', 'email.opened', 'c9', unixepoch('2026-03-01T08:05:00Z') * 1000, 0, NULL,
  '{"type":"email.opened","properties":{"deliveryKey":42}}'),
 ('n2', 'email.clicked', 'c9', unixepoch('2026-03-01T08:06:00Z') * 1000, 0, NULL,
  '{"type":"email.clicked","properties":{"deliveryKey":42}}'),
 ('n3', 'email.opened', 'c9', unixepoch('2026-03-01T08:07:00Z') * 1000, 0, NULL,
  '{"type":"email.opened","properties":{"deliveryKey":"0"}}'),
 ('n4', 'email.opened', 'c9', unixepoch('2026-03-01T08:08:00Z') * 1000, 0, NULL,
  '{"type":"email.opened","properties":{"deliveryKey":"zz"}}');
SQL
	run jrn-report metrics --since 24h --by campaign -q
	assert_success
	assert_equal "$(jq -c '[.campaign, .sent, .delivered, .opened, .clicked]' <<< "$output")" '["A",2,2,2,1]
["B",2,1,0,0]
["N",1,1,1,1]'
}
