#!/usr/bin/env bats
# jrn-report rfm: every figure on a hand-made state file, worked out by hand
# below (not by running the tool).

load helpers

# rfm_snapshots (customer recency frequency monetary segment):
#   T1 2026-01-01: a VIP, b Loyal, c Loyal, d At Risk (each 1 1 1)
#   T2 2026-01-08: a 5 10 1000.5 VIP, b 15 6 500 VIP, c 60 2 80 At Risk,
#                  e 20 3 150.25 Loyal   (d is gone)
#   T3 2026-01-15: a 12 8 900 Loyal, b 3 7 600 VIP
mkstate() {
	jrn-ingest --db jrn.db </dev/null 2>/dev/null
	sqlite3 jrn.db <<'SQL'
CREATE TEMP TABLE s(t, c, r, f, m, seg);
INSERT INTO s VALUES
('2026-01-01','a',1,1,1,'VIP'),('2026-01-01','b',1,1,1,'Loyal'),('2026-01-01','c',1,1,1,'Loyal'),
('2026-01-01','d',1,1,1,'At Risk'),
('2026-01-08','a',5,10,1000.5,'VIP'),('2026-01-08','b',15,6,500,'VIP'),('2026-01-08','c',60,2,80,'At Risk'),
('2026-01-08','e',20,3,150.25,'Loyal'),
('2026-01-15','a',12,8,900,'Loyal'),('2026-01-15','b',3,7,600,'VIP');
INSERT INTO rfm_snapshots(taken, customer_id, recency, frequency, monetary, r, f, m, score, segment)
  SELECT unixepoch(t) * 1000, c, r, f, m, 3, 3, 3, 30, seg FROM s;
SQL
}

NOW=(--now 2026-01-20T00:00:00Z)

@test "rfm: by default the latest two snapshots: the movement matrix, then the later distribution" {
	mkstate
	# T2 -> T3: a VIP -> Loyal, b VIP -> VIP, c At Risk -> null (absent
	# from T3), e Loyal -> null. Sorted by from, then to (null first).
	# T3: Loyal a (1 of 2: 0.5; 12 8 900), VIP b (0.5; 3 7 600).
	run -0 --separate-stderr jrn-report rfm "${NOW[@]}"
	assert_equal "${#lines[@]}" 6
	assert_equal "${lines[0]}" '{"level":"movement","from":"At Risk","to":null,"customers":1}'
	assert_equal "${lines[1]}" '{"level":"movement","from":"Loyal","to":null,"customers":1}'
	assert_equal "${lines[2]}" '{"level":"movement","from":"VIP","to":"Loyal","customers":1}'
	assert_equal "${lines[3]}" '{"level":"movement","from":"VIP","to":"VIP","customers":1}'
	assert_equal "${lines[4]}" '{"level":"distribution","segment":"Loyal","customers":1,"share":0.5,"meanRecency":12,"meanFrequency":8,"meanMonetary":900}'
	assert_equal "${lines[5]}" '{"level":"distribution","segment":"VIP","customers":1,"share":0.5,"meanRecency":3,"meanFrequency":7,"meanMonetary":600}'
}

@test "rfm: --from and --to choose the snapshot taken at or before each; -v says which" {
	mkstate
	# --to 2026-01-10 -> T2; --from 2026-01-01 -> T1. T1 -> T2: a VIP ->
	# VIP, b Loyal -> VIP, c Loyal -> At Risk, d At Risk -> null, e null ->
	# Loyal. T2: At Risk c (1/4 = 0.25), Loyal e (0.25), VIP a b (0.5;
	# recency (5+15)/2 = 10, frequency (10+6)/2 = 8, monetary
	# (1000.5+500)/2 = 750.25).
	run -0 --separate-stderr jrn-report rfm --from 2026-01-01 --to 2026-01-10 -v "${NOW[@]}"
	assert_equal "${#lines[@]}" 8
	assert_equal "${lines[0]}" '{"level":"movement","from":null,"to":"Loyal","customers":1}'
	assert_equal "${lines[1]}" '{"level":"movement","from":"At Risk","to":null,"customers":1}'
	assert_equal "${lines[2]}" '{"level":"movement","from":"Loyal","to":"At Risk","customers":1}'
	assert_equal "${lines[3]}" '{"level":"movement","from":"Loyal","to":"VIP","customers":1}'
	assert_equal "${lines[4]}" '{"level":"movement","from":"VIP","to":"VIP","customers":1}'
	assert_equal "${lines[5]}" '{"level":"distribution","segment":"At Risk","customers":1,"share":0.25,"meanRecency":60,"meanFrequency":2,"meanMonetary":80}'
	assert_equal "${lines[7]}" '{"level":"distribution","segment":"VIP","customers":2,"share":0.5,"meanRecency":10,"meanFrequency":8,"meanMonetary":750.25}'
	[[ $stderr == *'rfm: from the snapshot taken 2026-01-01T00:00:00.000Z (4 customers) to the one taken 2026-01-08T00:00:00.000Z (4 customers)'* ]]
	# Without --from, the one before --to's: T1 again. A duration counts
	# back from now: 10d before 01-20 is 01-10 -> T2.
	run -0 --separate-stderr jrn-report rfm --to 10d "${NOW[@]}"
	assert_equal "${lines[0]}" '{"level":"movement","from":null,"to":"Loyal","customers":1}'
	assert_equal "${#lines[@]}" 8
}

@test "rfm: with no earlier snapshot every customer comes from null; the same snapshot twice stays put" {
	mkstate
	# --to 2026-01-01 -> T1, nothing before it: null -> At Risk d, null ->
	# Loyal b c (2), null -> VIP a.
	run -0 --separate-stderr jrn-report rfm --to 2026-01-01 -v "${NOW[@]}"
	assert_equal "${lines[0]}" '{"level":"movement","from":null,"to":"At Risk","customers":1}'
	assert_equal "${lines[1]}" '{"level":"movement","from":null,"to":"Loyal","customers":2}'
	assert_equal "${lines[2]}" '{"level":"movement","from":null,"to":"VIP","customers":1}'
	[[ $stderr == *'no snapshot before the one taken 2026-01-01T00:00:00.000Z (4 customers)'* ]]
	run -0 --separate-stderr jrn-report rfm --from 2026-01-16 --to 2026-01-16 "${NOW[@]}"
	assert_equal "${lines[0]}" '{"level":"movement","from":"Loyal","to":"Loyal","customers":1}'
	assert_equal "${lines[1]}" '{"level":"movement","from":"VIP","to":"VIP","customers":1}'
}

@test "rfm: no snapshot at all: no rows, exit 0; csv prints the header" {
	jrn-ingest --db jrn.db </dev/null 2>/dev/null
	run -0 --separate-stderr jrn-report rfm "${NOW[@]}"
	assert_output ''
	run -0 --separate-stderr jrn-report rfm --format csv "${NOW[@]}"
	assert_output $'level,from,to,customers,segment,share,meanRecency,meanFrequency,meanMonetary\r'
}

@test "rfm: a time with no snapshot at or before it fails; bad times and --from after --to are usage errors" {
	mkstate
	run -1 jrn-report rfm --to 2025-12-01 "${NOW[@]}"
	assert_output --partial 'rfm: --to 2025-12-01: no snapshot taken at or before it'
	run -1 jrn-report rfm --from 2025-12-01 "${NOW[@]}"
	assert_output --partial 'rfm: --from 2025-12-01: no snapshot taken at or before it'
	run -2 jrn-report rfm --from 2026-01-15 --to 2026-01-08 "${NOW[@]}"
	assert_output --partial 'rfm: --from 2026-01-15 chooses a snapshot later than --to'
	run -2 jrn-report rfm --to soon "${NOW[@]}"
	assert_output --partial 'rfm: --to soon: not an RFC 3339 time nor a duration (7d)'
	run -2 jrn-report rfm --by segment "${NOW[@]}"
	assert_output --partial 'rfm: --by segment: not a field of this kind (none)'
	# a window of events means nothing to two snapshots: refused, not ignored
	run -2 jrn-report rfm --since 1d "${NOW[@]}"
	assert_output 'jrn-report: rfm compares two snapshots: it takes --from and --to, not --since'
	run -2 jrn-report rfm --until 2026-01-10 "${NOW[@]}"
	assert_output 'jrn-report: rfm compares two snapshots: it takes --from and --to, not --until'
	# both checked, --from first, and before the state file is read: a bad
	# value is refused also where no snapshot was ever taken
	run -2 jrn-report rfm --from garbage --to junk "${NOW[@]}"
	assert_output 'jrn-report: rfm: --from garbage: not an RFC 3339 time nor a duration (7d)'
	jrn-ingest -q --db empty.db < /dev/null
	run -2 jrn-report rfm --db empty.db --from yesterday "${NOW[@]}"
	assert_output 'jrn-report: rfm: --from yesterday: not an RFC 3339 time nor a duration (7d)'
}
