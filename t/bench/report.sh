#!/bin/bash
# make bench-report: jrn-report metrics over a state file of 10M events and
# 1M deliveries (made with sqlite3's recursive CTEs in the schema
# jrn-ingest creates), beside the same statement run in the sqlite3 shell
# (jrn-report -vv says it), median of 3 runs each: wall and CPU seconds
# (user + sys), the ratio, and the peak RSS beside state files a tenth
# and three tenths the size (memory must not grow with the events). Then, if present,
# rattr's t/bench/report-attribution.sh.
# Usage: report.sh BINDIR [EVENTS [DELIVERIES]]
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
events=${2:-${BENCH_EVENTS:-10000000}} deliveries=${3:-${BENCH_DELIVERIES:-1000000}}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_NOW=2026-03-31T00:00:00Z JRN_LOG=quiet
unset JRN_DB JRN_CONFIG

. "$here/lib.sh"

# make_state DB EVENTS DELIVERIES: deliveries over 30 days before JRN_NOW
# (40 campaigns, email and sms, 2% failed, 1% suppressed), their
# engagement (every sent one delivered, 30% opened, 5% clicked, 2%
# bounced, 0.2% unsubscribed, each event naming its deliveryKey), orders
# (3% of the events) and page views filling up to EVENTS.
make_state() {
	local db=$1 ne=$2 nd=$3
	rm -f "$db" "$db-wal" "$db-shm"
	"$bin/jrn-ingest" -q --db "$db" < /dev/null
	sqlite3 "$db" > /dev/null <<SQL
PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;
$(sed 's/^CREATE \(UNIQUE \)\{0,1\}INDEX \([A-Za-z0-9_]*\) .*/DROP INDEX \2;/' "$dir/report-idx.sql" | grep '^DROP')
BEGIN;
WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < $nd - 1)
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, cost,
  claimed_at, updated_at, record)
SELECT printf('k%09d', i), 'c' || (i * 7919 % 200000), CASE i % 3 WHEN 2 THEN 'sms' ELSE 'email' END,
  'camp' || (i % 40), CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'suppressed' ELSE 'sent' END,
  CASE i % 3 WHEN 2 THEN 'twilio' ELSE 'smtp' END, CASE i % 3 WHEN 2 THEN 0.0075 END,
  1772236800000 + i * (2592000000 / $nd), 1772236800000 + i * (2592000000 / $nd),
  '{"testVariant":"' || char(97 + i % 2) || '"}'
FROM d;
CREATE TEMP TABLE eng (type TEXT, keep INTEGER);
INSERT INTO eng VALUES ('email.delivered', 100), ('email.opened', 30), ('email.clicked', 5),
  ('email.bounced', 2), ('consent.revoked', 0);
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
SELECT printf('g%s%09d', eng.type, d.seq), CASE WHEN d.channel = 'sms' AND eng.type = 'email.delivered'
    THEN 'sms.delivered' ELSE eng.type END, d.customer_id, d.claimed_at + 60000, d.claimed_at + 60000, NULL,
  '{"type":"' || eng.type || '","customerId":"' || d.customer_id || '","properties":{"deliveryKey":"' || d.key || '","channel":"' || d.channel || '"}}'
FROM deliveries d JOIN eng
WHERE d.status = 'sent' AND (d.channel = 'email' OR eng.type = 'email.delivered')
  AND (eng.keep = 100 OR d.seq % 100 < eng.keep OR (eng.keep = 0 AND d.seq % 500 = 0));
COMMIT;
BEGIN;
WITH RECURSIVE o(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM o WHERE i < $ne * 3 / 100 - 1)
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
SELECT printf('o%09d', i), 'order.completed', 'c' || (i * 104729 % 200000),
  1772236800000 + (i * 48271 % 2592000) * 1000, 1772236800000, 10 + i % 90,
  '{"type":"order.completed","properties":{"amount":' || (10 + i % 90) || '}}'
FROM o;
COMMIT;
BEGIN;
WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p
  WHERE i < $ne - (SELECT count(*) FROM events) - 1)
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
SELECT printf('p%09d', i), 'page.viewed', 'c' || (i * 7 % 200000),
  1772236800000 + (i * 16807 % 2592000) * 1000, 1772236800000, NULL,
  '{"type":"page.viewed","properties":{"url":"/p/' || (i % 5000) || '"}}'
FROM p;
COMMIT;
SQL
	# the indexes again, as jrn-ingest made them (built once, sorted)
	sqlite3 "$db" < "$dir/report-idx.sql"
	sqlite3 "$db" "PRAGMA journal_mode = WAL; ANALYZE" > /dev/null
}

# The index statements of the schema, kept before the bulk insert drops them.
index_sql() {
	local tmp=$dir/report-schema.db
	rm -f "$tmp"
	"$bin/jrn-ingest" -q --db "$tmp" < /dev/null
	sqlite3 "$tmp" "SELECT sql || ';' FROM sqlite_master WHERE type = 'index'
	  AND tbl_name IN ('events', 'deliveries') AND sql IS NOT NULL" > "$dir/report-idx.sql"
	rm -f "$tmp" "$tmp-wal" "$tmp-shm"
}

# cpu_wall CMD...: "WALL CPU RSS" of one run (CPU = user + sys, RSS in KB)
cpu_wall() {
	/usr/bin/time -f '%e %U %S %M' -o "$dir/report-time" "$@" > /dev/null 2>&1 ||
		echo "bench: command failed: $*" >&2
	awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$dir/report-time"
}

index_sql
db=$dir/report.db small=$dir/report-small.db
t0=$(date +%s.%N)
make_state "$db" "$events" "$deliveries"
echo "bench: state file of $(sqlite3 "$db" 'SELECT count(*) FROM events') events and" \
	"$(sqlite3 "$db" 'SELECT count(*) FROM deliveries') deliveries made in" \
	"$(printf '%.0f' "$(echo "$(date +%s.%N) - $t0" | bc -l)") s ($(du -m "$db" | cut -f1) MB)"

window=(--since 30d)
sql=$("$bin/jrn-report" metrics "${window[@]}" --db "$db" -vv 2>&1 > /dev/null |
	sed -n 's/^jrn-report: metrics: SQL: //p')
since=$(($(date -d "$JRN_NOW" +%s) * 1000 - 2592000000)) until=$(($(date -d "$JRN_NOW" +%s) * 1000))
sql=${sql//\?1/$since} sql=${sql//\?2/$until} sql=${sql//\?3/604800000}
printf '%s;\n' "$sql" > "$dir/report-metrics.sql"

w_j=() c_j=() w_s=() c_s=() r_j=()
for ((i = 0; i < runs; i++)); do
	read -r w c r < <(cpu_wall "$bin/jrn-report" metrics "${window[@]}" --db "$db")
	w_j+=("$w") c_j+=("$c") r_j+=("$r")
	read -r w c r < <(cpu_wall sqlite3 "$db" ".read $dir/report-metrics.sql")
	w_s+=("$w") c_s+=("$c")
done
m_wj=$(median "${w_j[@]}") m_cj=$(median "${c_j[@]}") m_ws=$(median "${w_s[@]}") m_cs=$(median "${c_s[@]}")
rows_j=$("$bin/jrn-report" metrics "${window[@]}" --db "$db" | wc -l)
rows_s=$(sqlite3 "$db" ".read $dir/report-metrics.sql" | wc -l)
printf '%-46s %7.2fs wall %7.2fs CPU  %s rows\n' "jrn-report metrics --since 30d" "$m_wj" "$m_cj" "$rows_j"
printf '%-46s %7.2fs wall %7.2fs CPU  %s rows\n' "sqlite3 (the same statement)" "$m_ws" "$m_cs" "$rows_s"
echo "ratio: jrn-report metrics takes $(ratio "$m_cj" "$m_cs")x the CPU of sqlite3 ($(ratio "$m_wj" "$m_ws")x wall); target <= 2 s"

# memory flat: the same report over a tenth and three tenths of the
# events and deliveries (the curve: 1M, 3M, 10M at the defaults)
curve=""
for part in 1 3; do
	make_state "$small" $((events * part / 10)) $((deliveries * part / 10))
	read -r w c r_small < <(cpu_wall "$bin/jrn-report" metrics "${window[@]}" --db "$small")
	curve+="$r_small KB over $((events * part / 10)), "
done
echo "peak RSS: ${curve}$(median "${r_j[@]}") KB over $events events"
read -r w c r < <(cpu_wall "$bin/jrn-report" metrics "${window[@]}" --db "$db" --by day,campaign,channel)
echo "jrn-report metrics --by day,campaign,channel: ${w}s wall, ${c}s CPU, $r KB"
[ -n "${BENCH_KEEP:-}" ] || rm -f "$db" "$db-wal" "$db-shm"
rm -f "$small" "$small-wal" "$small-shm" "$dir"/report-*.sql "$dir/report-time"

if [ -f "$here/report-attribution.sh" ]; then
	bash "$here/report-attribution.sh" "$bin"
fi
