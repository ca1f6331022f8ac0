#!/usr/bin/env bats
# jrn-report funnel: every figure on a hand-made state file, worked out by
# hand below (not by running the tool).

load helpers

# A state file with these events (steps: product.viewed, cart.added,
# order.completed; window January 2026; within 7d unless said):
#   a  view 01-02 00:00, cart 01-02 01:00 (+1h), order 01-03 01:00 (+24h)  -> 3
#   b  view 01-05 00:00, cart 01-05 00:30 (+30m), order 01-20 (15 d: late) -> 2
#   c  cart 01-01 (before any view: ignored), view 01-10                    -> 1
#   d  view 12-31 (before the window), view 01-15 00:00 (its step 1),
#      cart 01-15 02:00 (+2h), order 01-15 03:00 (+1h)                      -> 3
#   e  view 02-05 (after the window)                                         -> out
#   f  view 01-20 00:00, order 01-20 01:00 (before the cart: not step 3),
#      cart 01-20 02:00 (+2h), order 01-21 00:00 (+22h)                      -> 3
#   g  view 01-25 10:00, cart 01-25 10:00 (same ms, stored later: +0)       -> 2
# Profiles: a and b in DE, d in FR; c, f, g have none (country null).
mkstate() {
	jrn-ingest --db jrn.db </dev/null 2>/dev/null
	sqlite3 jrn.db <<'SQL'
CREATE TEMP TABLE x(id, type, c, t);
INSERT INTO x VALUES
('a1','product.viewed','a','2026-01-02 00:00:00'),('a2','cart.added','a','2026-01-02 01:00:00'),
('a3','order.completed','a','2026-01-03 01:00:00'),
('b1','product.viewed','b','2026-01-05 00:00:00'),('b2','cart.added','b','2026-01-05 00:30:00'),
('b3','order.completed','b','2026-01-20 00:00:00'),
('c0','cart.added','c','2026-01-01 00:00:00'),('c1','product.viewed','c','2026-01-10 00:00:00'),
('d0','product.viewed','d','2025-12-31 00:00:00'),('d1','product.viewed','d','2026-01-15 00:00:00'),
('d2','cart.added','d','2026-01-15 02:00:00'),('d3','order.completed','d','2026-01-15 03:00:00'),
('e1','product.viewed','e','2026-02-05 00:00:00'),('e2','cart.added','e','2026-02-05 00:10:00'),
('f1','product.viewed','f','2026-01-20 00:00:00'),('f2','order.completed','f','2026-01-20 01:00:00'),
('f3','cart.added','f','2026-01-20 02:00:00'),('f4','order.completed','f','2026-01-21 00:00:00'),
('g1','product.viewed','g','2026-01-25 10:00:00'),('g2','cart.added','g','2026-01-25 10:00:00');
INSERT INTO events(id, type, customer_id, ts, received_at, body)
  SELECT id, type, c, unixepoch(t) * 1000, 0, '{}' FROM x ORDER BY rowid;
INSERT INTO profiles(customer_id, country, traits, provenance, updated_at)
  VALUES ('a','DE','{}','{}',0), ('b','DE','{}','{}',0), ('d','FR','{}','{}',0);
SQL
}

STEPS=product.viewed,cart.added,order.completed
JAN=(--since 2026-01-01 --until 2026-02-01 --now 2026-03-01T00:00:00Z)

@test "funnel: counts, drop-off, conversions and median times per step" {
	mkstate
	# step 1: a b c d f g = 6; step 2: a b d f g = 5 (c never carts), gaps
	# 1h 30m 2h 2h 0 -> sorted 0 30m 1h 2h 2h: median 1h = 3600000;
	# step 3: a d f = 3 (b's order is 15 d late), gaps 24h 1h 22h -> median
	# 22h = 79200000. 5/6 = 0.8333333333333334; 3/6 = 0.5; 3/5 = 0.6.
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" "${JAN[@]}"
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[0]}" '{"step":1,"type":"product.viewed","customers":6,"dropOff":0,"conversionFromStart":1,"conversionFromPrevious":1,"medianTimeFromPrevious":null}'
	assert_equal "${lines[1]}" '{"step":2,"type":"cart.added","customers":5,"dropOff":1,"conversionFromStart":0.8333333333333334,"conversionFromPrevious":0.8333333333333334,"medianTimeFromPrevious":3600000}'
	assert_equal "${lines[2]}" '{"step":3,"type":"order.completed","customers":3,"dropOff":2,"conversionFromStart":0.5,"conversionFromPrevious":0.6,"medianTimeFromPrevious":79200000}'
}

@test "funnel: --within bounds every step from step 1 (at most: 24h exactly counts); an even count's median is the mean of the middle two" {
	mkstate
	# --within 1d: a's order is 25h after its view (out); d's 3h (in); f's
	# 24h exactly (in). Step 3: d f = 2, gaps 1h and 22h -> median
	# (3600000 + 79200000) / 2 = 41400000. Step 2 is as before.
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" --within 1d "${JAN[@]}"
	assert_equal "${lines[1]}" '{"step":2,"type":"cart.added","customers":5,"dropOff":1,"conversionFromStart":0.8333333333333334,"conversionFromPrevious":0.8333333333333334,"medianTimeFromPrevious":3600000}'
	assert_equal "${lines[2]}" '{"step":3,"type":"order.completed","customers":2,"dropOff":3,"conversionFromStart":0.3333333333333333,"conversionFromPrevious":0.4,"medianTimeFromPrevious":41400000}'
}

@test "funnel: report.funnel.steps and report.funnel.within from the config" {
	mkstate
	cat >jrn.yaml <<'YAML'
report:
  funnel:
    steps: [product.viewed, cart.added, order.completed]
    within: 1d
YAML
	# The same figures as --within 1d above.
	run -0 --separate-stderr jrn-report funnel --config jrn.yaml "${JAN[@]}"
	assert_equal "${lines[2]}" '{"step":3,"type":"order.completed","customers":2,"dropOff":3,"conversionFromStart":0.3333333333333333,"conversionFromPrevious":0.4,"medianTimeFromPrevious":41400000}'
	# --steps wins over the config.
	run -0 --separate-stderr jrn-report funnel --config jrn.yaml --steps product.viewed,order.completed "${JAN[@]}"
	assert_equal "${#lines[@]}" 2
	# order after view within 1d: d (3h), f (1h: its first order counts
	# here, before the cart) = 2 of 6; gaps 3h, 1h -> median 2h = 7200000.
	assert_equal "${lines[1]}" '{"step":2,"type":"order.completed","customers":2,"dropOff":4,"conversionFromStart":0.3333333333333333,"conversionFromPrevious":0.3333333333333333,"medianTimeFromPrevious":7200000}'
}

@test "funnel: --by country groups by the profile's country, null first" {
	mkstate
	# null (c f g): 3, then f g = 2 (gaps 2h, 0: median 1h), then f = 1 (22h).
	# DE (a b): 2, 2 (1h, 30m: median 45m = 2700000), a = 1 (24h).
	# FR (d): 1, 1 (2h), 1 (1h).
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" --by country "${JAN[@]}"
	assert_equal "${#lines[@]}" 9
	assert_equal "${lines[0]}" '{"country":null,"step":1,"type":"product.viewed","customers":3,"dropOff":0,"conversionFromStart":1,"conversionFromPrevious":1,"medianTimeFromPrevious":null}'
	assert_equal "${lines[1]}" '{"country":null,"step":2,"type":"cart.added","customers":2,"dropOff":1,"conversionFromStart":0.6666666666666666,"conversionFromPrevious":0.6666666666666666,"medianTimeFromPrevious":3600000}'
	assert_equal "${lines[2]}" '{"country":null,"step":3,"type":"order.completed","customers":1,"dropOff":1,"conversionFromStart":0.3333333333333333,"conversionFromPrevious":0.5,"medianTimeFromPrevious":79200000}'
	assert_equal "${lines[4]}" '{"country":"DE","step":2,"type":"cart.added","customers":2,"dropOff":0,"conversionFromStart":1,"conversionFromPrevious":1,"medianTimeFromPrevious":2700000}'
	assert_equal "${lines[5]}" '{"country":"DE","step":3,"type":"order.completed","customers":1,"dropOff":1,"conversionFromStart":0.5,"conversionFromPrevious":0.5,"medianTimeFromPrevious":86400000}'
	assert_equal "${lines[8]}" '{"country":"FR","step":3,"type":"order.completed","customers":1,"dropOff":0,"conversionFromStart":1,"conversionFromPrevious":1,"medianTimeFromPrevious":3600000}'
}

@test "funnel: a repeated type is a later event; table and csv" {
	mkstate
	# view, view: a second view after the first, within 7d: only d has one
	# (12-31 is before its step 1, so no) -> none; 0 of 6.
	run -0 --separate-stderr jrn-report funnel --steps product.viewed,product.viewed "${JAN[@]}"
	assert_equal "${lines[1]}" '{"step":2,"type":"product.viewed","customers":0,"dropOff":6,"conversionFromStart":0,"conversionFromPrevious":0,"medianTimeFromPrevious":null}'
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" --format csv "${JAN[@]}"
	# csv lines end in CR LF (RFC 4180)
	assert_equal "${lines[0]}" $'step,type,customers,dropOff,conversionFromStart,conversionFromPrevious,medianTimeFromPrevious\r'
	assert_equal "${lines[3]}" $'3,order.completed,3,2,0.5,0.6,79200000\r'
}

@test "funnel: an empty window has no rows and exits 0; csv prints the header" {
	mkstate
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" --since 2027-01-01 --until 2027-02-01 --now 2027-03-01T00:00:00Z
	assert_output ''
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" --format csv --since 2027-01-01 --until 2027-02-01 --now 2027-03-01T00:00:00Z
	assert_output $'step,type,customers,dropOff,conversionFromStart,conversionFromPrevious,medianTimeFromPrevious\r'
}

@test "funnel: bad steps, --within and --by are usage errors that say why" {
	mkstate
	run -2 jrn-report funnel "${JAN[@]}"
	assert_output --partial 'funnel: no steps: give --steps A,B,... or report.funnel.steps'
	run -2 jrn-report funnel --steps product.viewed "${JAN[@]}"
	assert_output --partial 'funnel: 1 step: a funnel has at least 2 steps'
	run -2 jrn-report funnel --steps a,,b "${JAN[@]}"
	assert_output --partial 'funnel: --steps: step 2: '
	steps=$(printf 's%d,' $(seq 1 33)); steps=${steps%,}
	run -2 jrn-report funnel --steps "$steps" "${JAN[@]}"
	assert_output --partial 'funnel: --steps: more than 32 steps (the limit)'
	steps=$(printf 's%d,' $(seq 1 32)); steps=${steps%,}
	run -0 --separate-stderr jrn-report funnel --steps "$steps" "${JAN[@]}"
	assert_output ''
	run -2 jrn-report funnel --steps "$STEPS" --within 0s "${JAN[@]}"
	assert_output --partial 'more than 0 is needed'
	run -2 jrn-report funnel --steps "$STEPS" --within 3661d "${JAN[@]}"
	assert_output --partial 'funnel: --within 3661d: over the limit of 3660d'
	run -2 jrn-report funnel --steps "$STEPS" --within soon "${JAN[@]}"
	assert_output --partial "funnel: --within 'soon'"
	run -2 jrn-report funnel --steps "$STEPS" --by campaign "${JAN[@]}"
	assert_output --partial 'funnel: --by campaign: not a field of this kind (country)'
}

@test "funnel: over events stored by jrn-ingest (same millisecond: the order stored)" {
	# x: signup, view, cart at the same ms as the view (stored after it),
	# order 2h later -> 3 steps, gaps 0 and 7200000. y: view only -> 1.
	# Step 2: x (1 of 2); step 3: x. Medians of one value: the value.
	{
		ev2() { printf '{"type":"%s","customerId":"%s","timestamp":"%s"}\n' "$@"; }
		ev2 user.signup x 2026-01-02T00:00:00Z
		ev2 product.viewed x 2026-01-02T10:00:00Z
		ev2 cart.added x 2026-01-02T10:00:00Z
		printf '{"type":"order.completed","customerId":"x","timestamp":"2026-01-02T12:00:00Z","properties":{"amount":9.5}}\n'
		ev2 product.viewed y 2026-01-03T10:00:00Z
	} | jrn-ingest --db jrn.db --now 2026-03-01T00:00:00Z >/dev/null 2>&1
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" "${JAN[@]}"
	assert_equal "${lines[0]}" '{"step":1,"type":"product.viewed","customers":2,"dropOff":0,"conversionFromStart":1,"conversionFromPrevious":1,"medianTimeFromPrevious":null}'
	assert_equal "${lines[1]}" '{"step":2,"type":"cart.added","customers":1,"dropOff":1,"conversionFromStart":0.5,"conversionFromPrevious":0.5,"medianTimeFromPrevious":0}'
	assert_equal "${lines[2]}" '{"step":3,"type":"order.completed","customers":1,"dropOff":0,"conversionFromStart":0.5,"conversionFromPrevious":1,"medianTimeFromPrevious":7200000}'
	# Stored the other way round (cart first), the cart at the same ms is
	# before the view: x stops at step 1.
	rm -f jrn.db*
	{
		ev2() { printf '{"type":"%s","customerId":"%s","timestamp":"%s"}\n' "$@"; }
		ev2 cart.added x 2026-01-02T10:00:00Z
		ev2 product.viewed x 2026-01-02T10:00:00Z
	} | jrn-ingest --db jrn.db --now 2026-03-01T00:00:00Z >/dev/null 2>&1
	run -0 --separate-stderr jrn-report funnel --steps "$STEPS" "${JAN[@]}"
	assert_equal "${lines[1]}" '{"step":2,"type":"cart.added","customers":0,"dropOff":1,"conversionFromStart":0,"conversionFromPrevious":0,"medianTimeFromPrevious":null}'
}
