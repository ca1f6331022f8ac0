#!/usr/bin/env bats
# jrn-report cohorts: every figure on a hand-made state file, worked out by
# hand below (not by running the tool).

load helpers

# Orders (order.completed, amount):
#   a  2026-01-05 100, 2026-01-20 50, 2026-02-10 30, 2026-04-01 20
#   b  2026-01-31 23:59:59 10 (still January, UTC), 2026-03-01 40
#   c  2026-02-01 00:00 200, 2026-02-15 no amount (counts 0)
#   d  2025-12-15 5, 2026-01-10 15   (first order before --since 2026-01-01)
# and a cart.added of a on 2026-03-05 with an amount (not an order).
mkstate() {
	jrn-ingest --db jrn.db </dev/null 2>/dev/null
	sqlite3 jrn.db <<'SQL'
CREATE TEMP TABLE x(id, c, t, amount);
INSERT INTO x VALUES
('a1','a','2026-01-05 00:00:00',100),('a2','a','2026-01-20 00:00:00',50),
('a3','a','2026-02-10 00:00:00',30),('a4','a','2026-04-01 00:00:00',20),
('b1','b','2026-01-31 23:59:59',10),('b2','b','2026-03-01 00:00:00',40),
('c1','c','2026-02-01 00:00:00',200),('c2','c','2026-02-15 00:00:00',NULL),
('d1','d','2025-12-15 00:00:00',5),('d2','d','2026-01-10 00:00:00',15);
INSERT INTO events(id, type, customer_id, ts, received_at, amount, body)
  SELECT id, 'order.completed', c, unixepoch(t) * 1000, 0, amount, '{}' FROM x;
INSERT INTO events(id, type, customer_id, ts, received_at, amount, body)
  VALUES ('z1', 'cart.added', 'a', unixepoch('2026-03-05') * 1000, 0, 99, '{}');
SQL
}

@test "cohorts: by month (the default): size, active, revenue, retention and revenue per customer to the window's end" {
	mkstate
	# Since 2026-01-01, until now = 2026-04-15: cohorts January (a, b: 2)
	# and February (c: 1); d's first order is in December: not in.
	# January: Jan a b active, 100+50+10 = 160, 160/2 = 80; Feb a 30 (1/2,
	# 15); Mar b 40 (20); Apr a 20 (10). February: Feb c 200 + 0; Mar, Apr
	# nothing.
	run -0 --separate-stderr jrn-report cohorts --since 2026-01-01 --now 2026-04-15T00:00:00Z
	assert_equal "${#lines[@]}" 7
	assert_equal "${lines[0]}" '{"cohort":"2026-01","period":0,"customers":2,"active":2,"revenue":160,"retention":1,"revenuePerCustomer":80}'
	assert_equal "${lines[1]}" '{"cohort":"2026-01","period":1,"customers":2,"active":1,"revenue":30,"retention":0.5,"revenuePerCustomer":15}'
	assert_equal "${lines[2]}" '{"cohort":"2026-01","period":2,"customers":2,"active":1,"revenue":40,"retention":0.5,"revenuePerCustomer":20}'
	assert_equal "${lines[3]}" '{"cohort":"2026-01","period":3,"customers":2,"active":1,"revenue":20,"retention":0.5,"revenuePerCustomer":10}'
	assert_equal "${lines[4]}" '{"cohort":"2026-02","period":0,"customers":1,"active":1,"revenue":200,"retention":1,"revenuePerCustomer":200}'
	assert_equal "${lines[5]}" '{"cohort":"2026-02","period":1,"customers":1,"active":0,"revenue":0,"retention":0,"revenuePerCustomer":0}'
	assert_equal "${lines[6]}" '{"cohort":"2026-02","period":2,"customers":1,"active":0,"revenue":0,"retention":0,"revenuePerCustomer":0}'
}

@test "cohorts: the cohort is the first order over all time; orders at or after --until are not counted" {
	mkstate
	# All time to 2026-03-01 (exclusive): cohorts Dec 2025 (d), Jan (a b),
	# Feb (c); b's 2026-03-01 order is out. Dec: Dec 5; Jan 15; Feb 0.
	run -0 --separate-stderr jrn-report cohorts --until 2026-03-01 --now 2026-04-15T00:00:00Z
	assert_equal "${#lines[@]}" 6
	assert_equal "${lines[0]}" '{"cohort":"2025-12","period":0,"customers":1,"active":1,"revenue":5,"retention":1,"revenuePerCustomer":5}'
	assert_equal "${lines[1]}" '{"cohort":"2025-12","period":1,"customers":1,"active":1,"revenue":15,"retention":1,"revenuePerCustomer":15}'
	assert_equal "${lines[2]}" '{"cohort":"2025-12","period":2,"customers":1,"active":0,"revenue":0,"retention":0,"revenuePerCustomer":0}'
	assert_equal "${lines[4]}" '{"cohort":"2026-01","period":1,"customers":2,"active":1,"revenue":30,"retention":0.5,"revenuePerCustomer":15}'
	assert_equal "${lines[5]}" '{"cohort":"2026-02","period":0,"customers":1,"active":1,"revenue":200,"retention":1,"revenuePerCustomer":200}'
	# --since 2026-01-20: a's first order (01-05) is before it; b's (01-31)
	# and c's (02-01) are in. To 2026-03-01: January (b): Jan 10, Feb
	# nothing (b's March order is past --until); February (c): 200.
	run -0 --separate-stderr jrn-report cohorts --since 2026-01-20 --until 2026-03-01 --now 2026-04-15T00:00:00Z
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" '{"cohort":"2026-01","period":0,"customers":1,"active":1,"revenue":10,"retention":1,"revenuePerCustomer":10}'
	assert_equal "${lines[1]}" '{"cohort":"2026-01","period":1,"customers":1,"active":0,"revenue":0,"retention":0,"revenuePerCustomer":0}'
	assert_equal "${lines[2]}" '{"cohort":"2026-02","period":0,"customers":1,"active":1,"revenue":200,"retention":1,"revenuePerCustomer":200}'
}

@test "cohorts: --period week (ISO, from Monday, named by its Monday) and day" {
	mkstate
	# 2026-01-05 is a Monday. Window [01-01, 01-21): a (01-05) alone; weeks
	# from 01-05: 0 (05-11) 100, 1 (12-18) nothing, 2 (19-25, 01-20) 50.
	run -0 --separate-stderr jrn-report cohorts --period week --since 2026-01-01 --until 2026-01-21
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" '{"cohort":"2026-01-05","period":0,"customers":1,"active":1,"revenue":100,"retention":1,"revenuePerCustomer":100}'
	assert_equal "${lines[1]}" '{"cohort":"2026-01-05","period":1,"customers":1,"active":0,"revenue":0,"retention":0,"revenuePerCustomer":0}'
	assert_equal "${lines[2]}" '{"cohort":"2026-01-05","period":2,"customers":1,"active":1,"revenue":50,"retention":1,"revenuePerCustomer":50}'
	# b's 23:59:59 order on Saturday 01-31 is in the week of Monday 01-26.
	run -0 --separate-stderr jrn-report cohorts --period week --since 2026-01-26 --until 2026-02-01
	assert_equal "${lines[0]}" '{"cohort":"2026-01-26","period":0,"customers":1,"active":1,"revenue":10,"retention":1,"revenuePerCustomer":10}'
	# day: d's cohort 2025-12-15, two days to 12-17 (exclusive).
	run -0 --separate-stderr jrn-report cohorts --period day --since 2025-12-15 --until 2025-12-17
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[0]}" '{"cohort":"2025-12-15","period":0,"customers":1,"active":1,"revenue":5,"retention":1,"revenuePerCustomer":5}'
	assert_equal "${lines[1]}" '{"cohort":"2025-12-15","period":1,"customers":1,"active":0,"revenue":0,"retention":0,"revenuePerCustomer":0}'
}

@test "cohorts: report.cohorts.period from the config; --period wins" {
	mkstate
	printf 'report:\n  cohorts:\n    period: week\n' >jrn.yaml
	run -0 --separate-stderr jrn-report cohorts --config jrn.yaml --since 2026-01-01 --until 2026-01-21
	assert_equal "${lines[0]}" '{"cohort":"2026-01-05","period":0,"customers":1,"active":1,"revenue":100,"retention":1,"revenuePerCustomer":100}'
	run -0 --separate-stderr jrn-report cohorts --config jrn.yaml --period month --since 2026-01-01 --until 2026-01-21
	assert_equal "${lines[0]}" '{"cohort":"2026-01","period":0,"customers":1,"active":1,"revenue":150,"retention":1,"revenuePerCustomer":150}'
	printf 'report:\n  cohorts:\n    period: year\n' >jrn.yaml
	run -1 jrn-report cohorts --config jrn.yaml
	assert_output --partial 'cohorts: report.cohorts.period year: not a period (day, week or month)'
}

@test "cohorts: an empty window has no rows; csv prints the header; table the same" {
	mkstate
	run -0 --separate-stderr jrn-report cohorts --since 2027-01-01 --now 2027-02-01T00:00:00Z
	assert_output ''
	run -0 --separate-stderr jrn-report cohorts --format csv --since 2027-01-01 --now 2027-02-01T00:00:00Z
	assert_output $'cohort,period,customers,active,revenue,retention,revenuePerCustomer\r'
}

@test "cohorts: bad --period, --by, and more than 1000 periods are refused with the limit named" {
	mkstate
	run -2 jrn-report cohorts --period quarter
	assert_output --partial 'cohorts: --period quarter: not a period (day, week or month)'
	run -2 jrn-report cohorts --by campaign
	assert_output --partial 'cohorts: --by campaign: not a field of this kind (none)'
	# By day from d's 2025-12-15 to 2028-12-31: over 1000 days.
	run -1 jrn-report cohorts --period day --now 2028-12-31T00:00:00Z
	assert_output --partial 'periods from the first cohort to the window'"'"'s end: over the limit of 1000'
	# 1000 days exactly is allowed: 2025-12-15 + 1000 d = 2028-09-10, so a
	# window ending 2028-09-10T00:00 (exclusive) holds 1000 days.
	run -0 --separate-stderr jrn-report cohorts --period day --until 2028-09-10 --now 2028-12-31T00:00:00Z
	assert_equal "$(printf '%s\n' "$output" | grep -c '"cohort":"2025-12-15"')" 1000
}
