#!/bin/bash
# jrn-report attribution over 1M conversion paths (BENCH_ATTR_PATHS,
# 1,000,000), every model (target: <= 5 s). The state file is made once
# with sqlite3 (rebuilt when BENCH_ATTR_PATHS changes): per converting
# customer a send (email, one of 20 campaigns), an open of it (through its
# deliveryKey) and a UTM-tagged page view (one of 10 campaigns, social),
# then an order 1 to 3 days later; and a tenth as many customers who get a
# send and do not order (the Markov chain's null paths). Wall and CPU
# seconds (user + system, /usr/bin/time) and peak RSS of each run; the
# median of BENCH_RUNS (3). Figures are printed, never judged.
# Usage: report-attribution.sh BINDIR
set -u
bin=$(cd "$1" && pwd)
n=${BENCH_ATTR_PATHS:-1000000}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}/report-attribution
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_LOG=quiet JRN_NOW=2026-01-01T00:00:00Z
unset JRN_DB JRN_CONFIG

db=$dir/jrn.db
if [ "$(cat "$dir/paths" 2>/dev/null)" != "$n" ]; then
	rm -f "$db" "$db-wal" "$db-shm" "$dir/paths"
	"$bin/jrn-ingest" -q --db "$db" </dev/null || exit 1
	t0=1764633600000 # 2025-12-02: 30 days before JRN_NOW
	day=86400000
	sqlite3 "$db" >/dev/null <<-SQL || exit 1
	PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
	BEGIN;
	WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n + $n / 10)
	INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, attempts,
	  claimed_at, updated_at, record)
	SELECT 'k' || i, 'c' || i, 'email', 'camp' || (i % 20), 'sent', 1,
	  $t0 + (i * 7919) % (20 * $day), $t0, '{}' FROM k;
	WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
	INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
	SELECT 'o' || i, 'email.opened', 'c' || i, $t0 + (i * 7919) % (20 * $day) + 3600000, $t0,
	  NULL, '{"properties":{"deliveryKey":"k' || i || '"}}' FROM k
	UNION ALL
	SELECT 'v' || i, 'page.viewed', 'c' || i, $t0 + (i * 7919) % (20 * $day) + 7200000, $t0,
	  NULL, '{"properties":{"utm_campaign":"u' || (i % 10) || '","utm_medium":"social"}}' FROM k
	UNION ALL
	SELECT 'p' || i, 'order.completed', 'c' || i,
	  $t0 + (i * 7919) % (20 * $day) + (1 + i % 3) * $day, $t0, 10 + i % 90, '{}' FROM k;
	COMMIT;
	SQL
	echo "$n" >"$dir/paths"
fi

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
wall=() cpu=() rss=()
for _ in $(seq "$runs"); do
	t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S %M' -o "$dir/time.txt" "$bin/jrn-report" attribution --db "$db" \
		>"$dir/out.ndjson" || echo "report-attribution: jrn-report failed" >&2
	t1=$(date +%s.%N)
	read -r user sys kb < <(tail -1 "$dir/time.txt")
	wall+=("$(echo "$t1 - $t0" | bc -l)")
	cpu+=("$(echo "$user + $sys" | bc -l)")
	rss+=("$kb")
done
printf 'report-attribution: %d conversion paths, all six models, %d rows\n' "$n" \
	"$(wc -l <"$dir/out.ndjson")"
printf '  wall %.2f s, CPU %.2f s (median of %d; target <= 5 s), peak RSS %d MB\n' \
	"$(printf '%s\n' "${wall[@]}" | median)" "$(printf '%s\n' "${cpu[@]}" | median)" "$runs" \
	"$(($(printf '%s\n' "${rss[@]}" | median) / 1024))"
