#!/bin/bash
# make bench: deterministic data, jrn beside the tools a user would otherwise
# use, in the same run. Prints medians and ratios. Not a test: it asserts
# nothing, it measures. Usage: bench.sh BINDIR GEN [EVENTS]
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd) gen=$2 events=${3:-${BENCH_EVENTS:-1000000}}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_NOW=2026-01-01T00:00:00Z JRN_LOG=quiet
unset JRN_DB JRN_CONFIG

. "$here/lib.sh"

data=$dir/events-$events.ndjson
[ -s "$data" ] || "$gen" -n "$events" > "$data"
size=$(stat -c %s "$data")
echo "bench: $events events, $((size / 1000000)) MB ($data), median of $runs runs"

ingest_fresh() { rm -f "$dir/b.db" "$dir/b.db-wal" "$dir/b.db-shm"; "$bin/jrn-ingest" --db "$dir/b.db" "$data" > /dev/null; }
ingest_again() { "$bin/jrn-ingest" --db "$dir/b.db" "$data" > /dev/null; }
jq_c() { jq -c . "$data" > /dev/null; }
# The same load in the sqlite3 shell: the same table and indexes (schema
# migrations 1 and 14), the JSON taken apart by SQLite.
sqlite_load() {
	rm -f "$dir/s.db"
	local us; us=$(printf '\037')
	sqlite3 "$dir/s.db" > /dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE raw (line TEXT);
CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  customer_id TEXT NOT NULL, ts INTEGER NOT NULL, amount REAL, body TEXT NOT NULL);
CREATE INDEX events_customer ON events (customer_id, ts);
CREATE INDEX events_type ON events (type, ts);
CREATE INDEX events_delivery ON events
  (json_extract(body, '\$.properties.deliveryKey'), type, ts)
  WHERE instr(body, '"deliveryKey"') > 0
    AND type IN ('email.delivered', 'sms.delivered', 'email.opened', 'email.clicked',
                 'consent.revoked', 'email.bounced', 'sms.failed')
    AND json_extract(body, '\$.properties.deliveryKey') IS NOT NULL;
CREATE INDEX events_orders ON events (ts, customer_id, amount)
  WHERE type = 'order.completed';
.mode ascii
.separator "$us" "\n"
.import $data raw
INSERT OR IGNORE INTO events (id, type, customer_id, ts, amount, body)
  SELECT line ->> '\$.id', line ->> '\$.type', line ->> '\$.customerId',
         CAST((julianday(line ->> '\$.timestamp') - 2440587.5) * 86400000 AS INTEGER),
         line ->> '\$.properties.amount', line FROM raw;
SQL
}

t_jrn=() t_again=() t_jq=() t_sql=()
for ((i = 0; i < runs; i++)); do
	t_jrn+=("$(seconds ingest_fresh)")
	t_again+=("$(seconds ingest_again)")
	t_jq+=("$(seconds jq_c)")
	t_sql+=("$(seconds sqlite_load)")
done
m_jrn=$(median "${t_jrn[@]}") m_again=$(median "${t_again[@]}")
m_jq=$(median "${t_jq[@]}") m_sql=$(median "${t_sql[@]}")
stored=$(sqlite3 "$dir/b.db" 'SELECT count(*) FROM events')

printf '%-44s %8.2fs %10s events/s\n' "jrn-ingest (store + stdout), fresh db" "$m_jrn" "$(rate "$events" "$m_jrn")"
printf '%-44s %8.2fs %10s events/s\n' "jrn-ingest again (all duplicates)" "$m_again" "$(rate "$events" "$m_again")"
printf '%-44s %8.2fs %10s lines/s\n' "jq -c . (jq $(jq --version | sed 's/jq-//'))" "$m_jq" "$(rate "$events" "$m_jq")"
printf '%-44s %8.2fs %10s lines/s\n' "sqlite3 .import + json ->> insert" "$m_sql" "$(rate "$events" "$m_sql")"
echo "ratio: jrn-ingest is $(ratio "$m_jq" "$m_jrn")x jq -c ., $(ratio "$m_sql" "$m_jrn")x sqlite3; stored $stored rows"

# RFM over the state file jrn-ingest filled: jrn-score rfm beside the same
# computation as SQL (t/bench/rfm.sql) in the sqlite3 shell, same file.
rfm_jrn() { "$bin/jrn-score" rfm --db "$dir/b.db" > "$dir/rfm-jrn.ndjson"; }
rfm_sql() { sqlite3 "$dir/b.db" < "$here/rfm.sql" > "$dir/rfm-sql.txt"; }
t_rj=() t_rs=()
for ((i = 0; i < runs; i++)); do
	t_rj+=("$(seconds rfm_jrn)")
	t_rs+=("$(seconds rfm_sql)")
done
m_rj=$(median "${t_rj[@]}") m_rs=$(median "${t_rs[@]}")
buyers=$(wc -l < "$dir/rfm-jrn.ndjson")
printf '%-44s %8.2fs %10s customers\n' "jrn-score rfm ($stored events)" "$m_rj" "$buyers"
printf '%-44s %8.2fs %10s customers\n' "sqlite3 < t/bench/rfm.sql" "$m_rs" "$(wc -l < "$dir/rfm-sql.txt")"
echo "ratio: jrn-score rfm is $(ratio "$m_rs" "$m_rj")x sqlite3"
rfm_rss=$(/usr/bin/time -f %M "$bin/jrn-score" rfm --db "$dir/b.db" 2>&1 >/dev/null | tail -1)
echo "jrn-score rfm peak RSS: $rfm_rss KB"
clv() { "$bin/jrn-score" clv -q --db "$dir/b.db" > /dev/null; }
t_clv=()
for ((i = 0; i < runs; i++)); do t_clv+=("$(seconds clv)"); done
printf '%-44s %8.2fs %10s customers\n' "jrn-score clv (BG/NBD + Gamma-Gamma fit)" "$(median "${t_clv[@]}")" "$buyers"
rm -f "$dir"/rfm-jrn.ndjson "$dir"/rfm-sql.txt

# Segments: 100k profiles x 20 rules from stdin beside jq with one rule;
# then every customer of the state file against the shipped segments.
profiles=$dir/profiles-100000.ndjson
[ -s "$profiles" ] || awk -v n=100000 -f "$here/profiles.awk" > "$profiles"
seg_stdin() { "$bin/jrn-segment" -q --segments "$here/segments20.yaml" "$profiles" > /dev/null; }
seg_jq() { jq -c 'select(.traits.plan == "trial")' "$profiles" > /dev/null; }
seg_db() { "$bin/jrn-segment" -q --db "$dir/b.db" --all --count > /dev/null; }
t_ss=() t_sj=() t_sd=()
for ((i = 0; i < runs; i++)); do
	t_ss+=("$(seconds seg_stdin)")
	t_sj+=("$(seconds seg_jq)")
	t_sd+=("$(seconds seg_db)")
done
m_ss=$(median "${t_ss[@]}") m_sj=$(median "${t_sj[@]}") m_sd=$(median "${t_sd[@]}")
printf '%-44s %8.2fs\n' "jrn-segment, 100k profiles x 20 rules" "$m_ss"
printf '%-44s %8.2fs\n' "jq, 100k profiles x 1 rule" "$m_sj"
echo "ratio: jrn-segment (20 rules) is $(ratio "$m_sj" "$m_ss")x jq (1 rule)"
printf '%-44s %8.2fs\n' "jrn-segment --all --count, state file" "$m_sd"

# Peak memory as the input grows: flat once past a few batches (100000
# records each).
small=$dir/events-500000.ndjson
[ -s "$small" ] || "$gen" -n 500000 > "$small"
peak() { rm -f "$dir/m.db"*; /usr/bin/time -f %M "$bin/jrn-ingest" --db "$dir/m.db" "$1" 2>&1 >/dev/null | tail -1; }
echo "peak RSS: $(peak "$small") KB at 500k events, $(peak "$data") KB at $events events"
rm -f "$dir"/*.db "$dir"/*.db-wal "$dir"/*.db-shm

# The load curve: a fresh load of 1M, 3M and 10M events (one run each):
# events per second, peak memory and the state file's size, to show memory
# bounded (a page cache of at most 512 MiB, jrn-ingest(1) Streaming) and
# how the rate falls as the indexes outgrow the cache. The generated files
# are kept in the bench folder (10M: 2.3 GB).
# BENCH_CURVE="N..." sets the sizes; BENCH_CURVE= skips it.
for n in ${BENCH_CURVE-1000000 3000000 10000000}; do
	f=$dir/events-$n.ndjson
	[ -s "$f" ] || "$gen" -n "$n" > "$f"
	rm -f "$dir"/c.db "$dir"/c.db-wal "$dir"/c.db-shm
	read -r wall rss < <(/usr/bin/time -f '%e %M' "$bin/jrn-ingest" --db "$dir/c.db" "$f" 2>&1 > /dev/null | tail -1)
	printf 'load curve: %9d events %8.2fs %10s events/s %8s KB peak %6d MB state file\n' \
		"$n" "$wall" "$(rate "$n" "$wall")" "$rss" "$(($(stat -c %s "$dir/c.db") / 1000000))"
done
rm -f "$dir"/c.db "$dir"/c.db-wal "$dir"/c.db-shm
bash "$here/send.sh" "$bin"
