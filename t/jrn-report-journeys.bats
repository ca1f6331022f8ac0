#!/usr/bin/env bats
# jrn-report journeys: every figure on a hand-made state file, worked out by
# hand below (not by running the tool).

load helpers

# Enrollments (id customer journey version status, entered 2026-01-DD, ended
# after it), the window being January 2026:
#   1 a cart 1 completed 01-02, +10h      7 g cart 1 active 01-08
#   2 b cart 1 completed 01-03, +4h       8 h cart 1 completed 2025-12-20 (before)
#   3 c cart 1 converted 01-04, +1h       9 i cart 2 completed 01-10, +2h
#   4 d cart 1 exited cart.cleared 01-05 10 j cart 2 completed 01-11, +8h
#   5 e cart 1 exited cart.cleared 01-06 11 k cart 1 completed 01-12, +1h
#   6 f cart 1 exited, no reason 01-07   12 l welcome 1 active 01-15
# Log (step what): idle wait for 1 2 3 4 11 (and 8), idle waited for 1 2
# (not an execution), reminder action for 1 2 4 11 (and 8), five-off action
# for 11; cart v2: idle wait for 9.
# Decisions at reminder: 1 send k1 (delivery sent; sent again, a resend
# of jrn-route(1): one message, counted once), 2 send k2 (failed),
# 4 suppress, 11 defer then send k11 (simulated), 8 send k8 (sent; outside);
# at five-off: 11 send k12 (no delivery yet: neither sent nor failed).
mkstate() {
	jrn-ingest --db jrn.db </dev/null 2>/dev/null
	sqlite3 jrn.db <<'SQL'
CREATE TEMP TABLE n(id, c, j, v, status, entered, hours, reason);
INSERT INTO n VALUES
(1,'a','cart',1,'completed','2026-01-02',10,NULL),(2,'b','cart',1,'completed','2026-01-03',4,NULL),
(3,'c','cart',1,'converted','2026-01-04',1,'order.completed'),
(4,'d','cart',1,'exited','2026-01-05',1,'cart.cleared'),(5,'e','cart',1,'exited','2026-01-06',1,'cart.cleared'),
(6,'f','cart',1,'exited','2026-01-07',1,NULL),(7,'g','cart',1,'active','2026-01-08',NULL,NULL),
(8,'h','cart',1,'completed','2025-12-20',3,NULL),(9,'i','cart',2,'completed','2026-01-10',2,NULL),
(10,'j','cart',2,'completed','2026-01-11',8,NULL),(11,'k','cart',1,'completed','2026-01-12',1,NULL),
(12,'l','welcome',1,'active','2026-01-15',NULL,NULL);
INSERT INTO enrollments(id, journey, version, customer_id, trigger_key, status, entered_at, updated_at, ended_at, reason)
  SELECT id, j, v, c, 't' || id, status, unixepoch(entered) * 1000, 0,
         CASE WHEN status != 'active' THEN (unixepoch(entered) + hours * 3600) * 1000 END, reason FROM n;
CREATE TEMP TABLE l(e, seq, mins, step, what);
INSERT INTO l VALUES
(1,1,0,NULL,'entered'),(1,2,0,'idle','wait'),(1,3,60,'idle','waited'),(1,4,60,'reminder','action'),(1,5,600,NULL,'completed'),
(2,1,0,NULL,'entered'),(2,2,0,'idle','wait'),(2,3,60,'idle','waited'),(2,4,60,'reminder','action'),
(3,1,0,NULL,'entered'),(3,2,0,'idle','wait'),
(4,1,0,NULL,'entered'),(4,2,0,'idle','wait'),(4,3,60,'reminder','action'),
(11,1,0,NULL,'entered'),(11,2,0,'idle','wait'),(11,3,60,'reminder','action'),(11,4,61,'five-off','action'),
(8,1,0,NULL,'entered'),(8,2,0,'idle','wait'),(8,3,60,'reminder','action'),
(9,1,0,NULL,'entered'),(9,2,0,'idle','wait');
INSERT INTO enrollment_log(enrollment, seq, at, step, what)
  SELECT e, seq, (SELECT entered_at FROM enrollments WHERE id = e) + mins * 60000, step, what FROM l;
CREATE TEMP TABLE d(key, e, step, decision, reason);
INSERT INTO d VALUES ('k1',1,'reminder','send',NULL),('k1',1,'reminder','send','resend'),
('k2',2,'reminder','send',NULL),
('k4',4,'reminder','suppress','cap'),('k11',11,'reminder','defer','quiet-hours'),('k11',11,'reminder','send',NULL),
('k8',8,'reminder','send',NULL),('k12',11,'five-off','send',NULL);
INSERT INTO route_decisions(key, customer_id, channel, journey, version, step, decision, reason, decided_at, enrollment)
  SELECT key, 'x', 'email', 'cart', 1, step, decision, reason, 0, e FROM d;
INSERT INTO deliveries(key, customer_id, channel, status, claimed_at, updated_at, record) VALUES
('k1','a','email','sent',0,0,'{}'),('k2','b','email','failed',0,0,'{}'),
('k11','k','email','simulated',0,0,'{}'),('k8','h','email','sent',0,0,'{}');
SQL
}

JAN=(--since 2026-01-01 --until 2026-02-01 --now 2026-03-01T00:00:00Z)

@test "journeys: per journey and version, then its steps in the order they first ran" {
	mkstate
	# cart v1: entered 1-7 and 11 = 8 (8 is before the window); active 7;
	# completed 1 2 11; converted 3; exited 4 5 6: cart.cleared 2, no
	# reason 1; conversion 1/8 = 0.125; completion times 1h 4h 10h: median
	# 4h = 14400000. Steps: idle wait 1 2 3 4 11 = 5; reminder action
	# 1 2 4 11 = 4, sent k1 k11 = 2, deferred 1, suppressed 1, failed k2 = 1;
	# five-off 11 = 1, k12 has no delivery: 0 sent, 0 failed.
	# cart v2: 9 10, both completed, +2h +8h: median (2h + 8h) / 2 = 5h =
	# 18000000; idle wait 9 = 1. welcome v1: 12 active; no completion: null.
	run -0 --separate-stderr jrn-report journeys "${JAN[@]}"
	assert_equal "${#lines[@]}" 7
	assert_equal "${lines[0]}" '{"level":"journey","journey":"cart","version":1,"entered":8,"active":1,"completed":3,"converted":1,"exited":3,"exitReasons":{"(none)":1,"cart.cleared":2},"conversionRate":0.125,"medianTimeToComplete":14400000}'
	assert_equal "${lines[1]}" '{"level":"step","journey":"cart","version":1,"step":"idle","executed":5,"sent":0,"deferred":0,"suppressed":0,"failed":0}'
	assert_equal "${lines[2]}" '{"level":"step","journey":"cart","version":1,"step":"reminder","executed":4,"sent":2,"deferred":1,"suppressed":1,"failed":1}'
	assert_equal "${lines[3]}" '{"level":"step","journey":"cart","version":1,"step":"five-off","executed":1,"sent":0,"deferred":0,"suppressed":0,"failed":0}'
	assert_equal "${lines[4]}" '{"level":"journey","journey":"cart","version":2,"entered":2,"active":0,"completed":2,"converted":0,"exited":0,"exitReasons":{},"conversionRate":0,"medianTimeToComplete":18000000}'
	assert_equal "${lines[5]}" '{"level":"step","journey":"cart","version":2,"step":"idle","executed":1,"sent":0,"deferred":0,"suppressed":0,"failed":0}'
	assert_equal "${lines[6]}" '{"level":"journey","journey":"welcome","version":1,"entered":1,"active":1,"completed":0,"converted":0,"exited":0,"exitReasons":{},"conversionRate":0,"medianTimeToComplete":null}'
}

@test "journeys: the window counts enrollments by when they entered" {
	mkstate
	# All time: cart v1 gains 8 (completed, +3h): entered 9, completed 4
	# (1h 3h 4h 10h: median (3h + 4h) / 2 = 12600000), conversion 1/9;
	# reminder gains 8's action and its sent k8.
	run -0 --separate-stderr jrn-report journeys --now 2026-03-01T00:00:00Z
	assert_equal "${lines[0]}" '{"level":"journey","journey":"cart","version":1,"entered":9,"active":1,"completed":4,"converted":1,"exited":3,"exitReasons":{"(none)":1,"cart.cleared":2},"conversionRate":0.1111111111111111,"medianTimeToComplete":12600000}'
	assert_equal "${lines[2]}" '{"level":"step","journey":"cart","version":1,"step":"reminder","executed":5,"sent":3,"deferred":1,"suppressed":1,"failed":1}'
	# Only 01-10 on: cart v1 has 11 alone, v2 9 and 10, welcome 12.
	run -0 --separate-stderr jrn-report journeys --since 2026-01-10 --until 2026-02-01 --now 2026-03-01T00:00:00Z
	assert_equal "${lines[0]}" '{"level":"journey","journey":"cart","version":1,"entered":1,"active":0,"completed":1,"converted":0,"exited":0,"exitReasons":{},"conversionRate":0,"medianTimeToComplete":3600000}'
}

@test "journeys: --journey NAME keeps that journey only" {
	mkstate
	run -0 --separate-stderr jrn-report journeys --journey welcome "${JAN[@]}"
	assert_output '{"level":"journey","journey":"welcome","version":1,"entered":1,"active":1,"completed":0,"converted":0,"exited":0,"exitReasons":{},"conversionRate":0,"medianTimeToComplete":null}'
	run -0 --separate-stderr jrn-report journeys --journey nosuch "${JAN[@]}"
	assert_output ''
}

@test "journeys: table and csv carry the journey and step columns together" {
	mkstate
	run -0 --separate-stderr jrn-report journeys --journey welcome --format csv "${JAN[@]}"
	assert_equal "${lines[0]}" $'level,journey,version,entered,active,completed,converted,exited,exitReasons,conversionRate,medianTimeToComplete\r'
	run -0 --separate-stderr jrn-report journeys --journey nosuch --format csv "${JAN[@]}"
	assert_output $'level,journey,version,entered,active,completed,converted,exited,exitReasons,conversionRate,medianTimeToComplete,step,executed,sent,deferred,suppressed,failed\r'
}

@test "journeys: a bad --journey and --by are usage errors" {
	mkstate
	run -2 jrn-report journeys --journey $'a\tb'
	assert_output --partial 'journeys: --journey: control character U+0009'
	run -2 jrn-report journeys --by channel
	assert_output --partial 'journeys: --by channel: not a field of this kind (none)'
}
