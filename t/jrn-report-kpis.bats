#!/usr/bin/env bats
# jrn-report kpis: every figure on a hand-made state file, worked out by hand
# below (not by running the tool). Window: January 2026.

load helpers

# Carts (recoveryWithin 7d):
#   cart.abandoned ca1 a 01-05, ca2 b 01-10, ca3 c 2025-12-28 (before),
#   ca4 f 01-15; abandoned-cart enrollments: 1 d 01-12 (took an action),
#   2 e 01-14 (only a wait: not abandoned yet), 3 f 01-15 triggered by ca4
#   (counted once, as ca4), 4 g of another journey (welcome).
#   Orders: a 01-08 (3 d: recovered), b 01-09 (before its abandonment) and
#   01-20 (10 d: late), d 01-13 (recovered), f 01-22 (7 d exactly: recovered).
#   Abandoned: ca1 ca2 ca4 1 = 4; recovered a d f = 3; 3/4 = 0.75 > 0.12.
# Deliveries (key customer channel campaign status claimed cost):
#   w1 p email churn-winback sent 01-03      w2 q sms churn-winback sent 01-04 0.5
#   w3 p sms churn-winback sent 01-20 0.5    w4 r sms churn-winback failed 01-05 0.5
#   w5 s email churn-winback sent 2025-12-30 m1 u email news sent 01-06
#   m2 v email news queued 01-07             m3 w email news simulated 01-08
#   m4 x email news failed 01-09
# Win-back (14 d from the first send in the window): recipients p (01-03)
#   q (01-04); r failed, s before. p orders 01-10 (7 d), q 01-25 (21 d):
#   1/2 = 0.5 > 0.08.
# Opens and clicks over e-mail sends in the window: w1 m1 m2 m3 = 4.
#   email.opened: m1 twice (once), v without deliveryKey for campaign news
#   (m2), m4 (failed: not a send), w for campaign other (no send of it).
#   Opened m1 m2: 2/4 = 0.5 > 0.3. email.clicked m1: 1/4 = 0.25 > 0.06.
# Uplift (horizon 14d): held out (suppress, holdout): h1 01-05, h2 01-06,
#   u 01-02. Sent, not held out: p q v w = 4; converted p (01-10), v (order
#   01-10, 3 d after 01-07) = 2: 0.5. Held out h1 h2 u = 3; h1 orders 01-12
#   (7 d) = 1: 1/3. Uplift 0.5 - 1/3 = 0.16666666666666669 (in doubles).
# ROI: orders in the window with a send at most 14 d before: p 01-10 100
#   (w1, 7 d), v 01-10 60 (m2, 3 d); not q 01-25 50 (21 d), nor a b d f h1
#   (no sends). Revenue 160. Cost of the sends in the window: w2 0.5 + w3
#   0.5 = 1 (w4 failed). 160 / 1 = 160 >= 10.
mkstate() {
	jrn-ingest --db jrn.db </dev/null 2>/dev/null
	sqlite3 jrn.db <<'SQL'
CREATE TEMP TABLE ev(id, type, c, t, amount, props);
INSERT INTO ev VALUES
('ca1','cart.abandoned','a','2026-01-05',NULL,'{}'),('ca2','cart.abandoned','b','2026-01-10',NULL,'{}'),
('ca3','cart.abandoned','c','2025-12-28',NULL,'{}'),('ca4','cart.abandoned','f','2026-01-15',NULL,'{}'),
('o1','order.completed','a','2026-01-08',10,'{}'),('o2','order.completed','b','2026-01-09',15,'{}'),
('o3','order.completed','b','2026-01-20',20,'{}'),('o4','order.completed','d','2026-01-13',30,'{}'),
('o5','order.completed','f','2026-01-22',40,'{}'),('o6','order.completed','p','2026-01-10',100,'{}'),
('o7','order.completed','q','2026-01-25',50,'{}'),('o8','order.completed','v','2026-01-10',60,'{}'),
('o9','order.completed','h1','2026-01-12',70,'{}'),
('e1','email.opened','u','2026-01-06 10:00:00',NULL,'{"deliveryKey":"m1"}'),
('e2','email.opened','u','2026-01-06 11:00:00',NULL,'{"deliveryKey":"m1"}'),
('e3','email.opened','v','2026-01-07 10:00:00',NULL,'{"campaignId":"news","channel":"email"}'),
('e4','email.opened','x','2026-01-09 10:00:00',NULL,'{"deliveryKey":"m4"}'),
('e5','email.opened','w','2026-01-08 10:00:00',NULL,'{"campaignId":"other"}'),
('e6','email.clicked','u','2026-01-06 10:01:00',NULL,'{"deliveryKey":"m1","url":"https://example.com/"}');
INSERT INTO events(id, type, customer_id, ts, received_at, amount, body)
  SELECT id, type, c, unixepoch(t) * 1000, 0, amount, json_object('type', type, 'properties', json(props)) FROM ev;
INSERT INTO enrollments(id, journey, version, customer_id, trigger_key, status, entered_at, updated_at) VALUES
(1,'abandoned-cart',1,'d','t1','converted',unixepoch('2026-01-12')*1000,0),
(2,'abandoned-cart',1,'e','t2','active',unixepoch('2026-01-14')*1000,0),
(3,'abandoned-cart',1,'f','ca4','converted',unixepoch('2026-01-15')*1000,0),
(4,'welcome',1,'g','t4','active',unixepoch('2026-01-16')*1000,0);
INSERT INTO enrollment_log(enrollment, seq, at, step, what) VALUES
(1,1,0,NULL,'entered'),(1,2,0,'reminder','action'),(2,1,0,NULL,'entered'),(2,2,0,'idle','wait'),
(3,1,0,NULL,'entered'),(3,2,0,'reminder','action'),(4,1,0,NULL,'entered'),(4,2,0,'hello','action');
CREATE TEMP TABLE dl(key, c, ch, camp, status, t, cost);
INSERT INTO dl VALUES
('w1','p','email','churn-winback','sent','2026-01-03',NULL),('w2','q','sms','churn-winback','sent','2026-01-04',0.5),
('w3','p','sms','churn-winback','sent','2026-01-20',0.5),('w4','r','sms','churn-winback','failed','2026-01-05',0.5),
('w5','s','email','churn-winback','sent','2025-12-30',NULL),('m1','u','email','news','sent','2026-01-06',NULL),
('m2','v','email','news','queued','2026-01-07',NULL),('m3','w','email','news','simulated','2026-01-08',NULL),
('m4','x','email','news','failed','2026-01-09',NULL);
INSERT INTO deliveries(key, customer_id, channel, campaign_id, status, cost, claimed_at, updated_at, record)
  SELECT key, c, ch, camp, status, cost, unixepoch(t) * 1000, 0, '{}' FROM dl;
INSERT INTO route_decisions(key, customer_id, channel, decision, reason, decided_at) VALUES
('x1','h1','email','suppress','holdout',unixepoch('2026-01-05')*1000),
('x2','h2','email','suppress','holdout',unixepoch('2026-01-06')*1000),
('x3','u','email','suppress','holdout',unixepoch('2026-01-02')*1000),
('x4','p','email','suppress','cap',unixepoch('2026-01-02')*1000);
SQL
}

JAN=(--since 2026-01-01 --until 2026-02-01 --now 2026-03-01T00:00:00Z)

@test "kpis: the six KPIs against seeds/004's targets, with what each was computed from" {
	mkstate
	run -0 --separate-stderr jrn-report kpis "${JAN[@]}"
	assert_equal "${#lines[@]}" 6
	assert_equal "${lines[0]}" '{"kpi":"cartRecoveryRate","value":0.75,"target":0.12,"met":true,"numerator":3,"denominator":4}'
	assert_equal "${lines[1]}" '{"kpi":"churnWinbackRate","value":0.5,"target":0.08,"met":true,"numerator":1,"denominator":2}'
	assert_equal "${lines[2]}" '{"kpi":"openRate","value":0.5,"target":0.3,"met":true,"numerator":2,"denominator":4}'
	assert_equal "${lines[3]}" '{"kpi":"clickRate","value":0.25,"target":0.06,"met":true,"numerator":1,"denominator":4}'
	assert_equal "${lines[4]}" '{"kpi":"segmentConversionUplift","value":0.16666666666666669,"target":null,"met":null,"numerator":2,"denominator":4,"baselineNumerator":1,"baselineDenominator":3}'
	assert_equal "${lines[5]}" '{"kpi":"campaignRoi","value":160,"target":10,"met":true,"numerator":160,"denominator":1}'
}

@test "kpis: report.kpis.targets overrides a target (null: none); the durations and names from the config" {
	mkstate
	cat >jrn.yaml <<'YAML'
report:
  kpis:
    targets: {openRate: 0.6, segmentConversionUplift: 0.1, campaignRoi: null, clickRate: 0.25}
    recoveryWithin: 6d
    winbackWithin: 7d
YAML
	# open 0.5 > 0.6: no; uplift 0.1667 > 0.1: yes; ROI no target; click
	# 0.25 > 0.25: no (the seed's targets are "more than").
	# recoveryWithin 6d: f's order 7 d after is late: a d = 2/4 = 0.5.
	# winbackWithin 7d: p's order 7 d after its first send still counts
	# (at most): 1/2.
	run -0 --separate-stderr jrn-report kpis --config jrn.yaml "${JAN[@]}"
	assert_equal "${lines[0]}" '{"kpi":"cartRecoveryRate","value":0.5,"target":0.12,"met":true,"numerator":2,"denominator":4}'
	assert_equal "${lines[1]}" '{"kpi":"churnWinbackRate","value":0.5,"target":0.08,"met":true,"numerator":1,"denominator":2}'
	assert_equal "${lines[2]}" '{"kpi":"openRate","value":0.5,"target":0.6,"met":false,"numerator":2,"denominator":4}'
	assert_equal "${lines[3]}" '{"kpi":"clickRate","value":0.25,"target":0.25,"met":false,"numerator":1,"denominator":4}'
	assert_equal "${lines[4]}" '{"kpi":"segmentConversionUplift","value":0.16666666666666669,"target":0.1,"met":true,"numerator":2,"denominator":4,"baselineNumerator":1,"baselineDenominator":3}'
	assert_equal "${lines[5]}" '{"kpi":"campaignRoi","value":160,"target":null,"met":null,"numerator":160,"denominator":1}'
	# cartJourney and winbackCampaign name others: the journey welcome's
	# enrollment 4 (g, with an action; no order) joins ca1 ca2 ca4: 2/4; the
	# campaign news: u v w (first sends 01-06 07 08); v orders 01-10: 1/3.
	printf 'report:\n  kpis:\n    cartJourney: welcome\n    winbackCampaign: news\n' >jrn.yaml
	run -0 --separate-stderr jrn-report kpis --config jrn.yaml "${JAN[@]}"
	assert_equal "${lines[0]}" '{"kpi":"cartRecoveryRate","value":0.5,"target":0.12,"met":true,"numerator":2,"denominator":4}'
	assert_equal "${lines[1]}" '{"kpi":"churnWinbackRate","value":0.3333333333333333,"target":0.08,"met":true,"numerator":1,"denominator":3}'
}

@test "kpis: a denominator of 0 gives null; a window with no data at all has no rows" {
	mkstate
	# February: no carts, sends or holdouts; nothing at all -> no rows.
	run -0 --separate-stderr jrn-report kpis --since 2026-02-01 --until 2026-03-01 --now 2026-03-01T00:00:00Z
	assert_output ''
	run -0 --separate-stderr jrn-report kpis --format csv --since 2026-02-01 --until 2026-03-01 --now 2026-03-01T00:00:00Z
	assert_output $'kpi,value,target,met,numerator,denominator,baselineNumerator,baselineDenominator\r'
	# 01-20 to 02-01: sends w3 (p, sms, cost 0.5) only; no cart abandoned
	# -> cart null; win-back p (w3 01-20; no order after)
	# 0/1; no e-mail sends: open, click null; uplift: p sent (0/1), no
	# holdouts: null; ROI: orders o5 f o7 q, neither with a send 14 d
	# before (q's 01-04 is 21 d) -> 0 / 0.5 = 0, below 10.
	run -0 --separate-stderr jrn-report kpis --since 2026-01-20 --until 2026-02-01 --now 2026-03-01T00:00:00Z
	assert_equal "${lines[0]}" '{"kpi":"cartRecoveryRate","value":null,"target":0.12,"met":null,"numerator":0,"denominator":0}'
	assert_equal "${lines[1]}" '{"kpi":"churnWinbackRate","value":0,"target":0.08,"met":false,"numerator":0,"denominator":1}'
	assert_equal "${lines[2]}" '{"kpi":"openRate","value":null,"target":0.3,"met":null,"numerator":0,"denominator":0}'
	assert_equal "${lines[4]}" '{"kpi":"segmentConversionUplift","value":null,"target":null,"met":null,"numerator":0,"denominator":1,"baselineNumerator":0,"baselineDenominator":0}'
	assert_equal "${lines[5]}" '{"kpi":"campaignRoi","value":0,"target":10,"met":false,"numerator":0,"denominator":0.5}'
}

@test "kpis: a target that is not a KPI or not a number is refused; --by is a usage error" {
	mkstate
	printf 'report:\n  kpis:\n    targets: {openrate: 0.3}\n' >jrn.yaml
	run -1 jrn-report kpis --config jrn.yaml "${JAN[@]}"
	assert_output --partial 'kpis: report.kpis.targets.openrate: not a KPI (cartRecoveryRate, churnWinbackRate, openRate, clickRate, segmentConversionUplift, campaignRoi)'
	printf 'report:\n  kpis:\n    targets: {openRate: high}\n' >jrn.yaml
	run -1 jrn-report kpis --config jrn.yaml "${JAN[@]}"
	assert_output --partial 'kpis: report.kpis.targets.openRate: not a number'
	printf 'report:\n  kpis:\n    recoveryWithin: soon\n' >jrn.yaml
	run -1 jrn-report kpis --config jrn.yaml "${JAN[@]}"
	assert_output --partial 'recoveryWithin'
	rm jrn.yaml
	run -2 jrn-report kpis --by campaign "${JAN[@]}"
	assert_output --partial 'kpis: --by campaign: not a field of this kind (none)'
}
