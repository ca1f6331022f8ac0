#!/bin/bash
# make bench-merge: jrn-merge --all over a state file of generated events
# (100k customers, 1M events by default), beside the same join as one
# sqlite3 query (t/bench/merge.sql), in the same run. Prints medians, the
# rates and the ratio. Usage: merge.sh BINDIR GEN [EVENTS]
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
db=$dir/merge.db
rm -f "$db" "$db-wal" "$db-shm"
"$bin/jrn-ingest" -q --store-only --db "$db" "$data"
"$bin/jrn-score" rfm -q --save --db "$db" > /dev/null
customers=$(sqlite3 "$db" 'SELECT count(DISTINCT customer_id) FROM events')
echo "bench: jrn-merge --all over $customers customers, $events events, median of $runs runs"

merge_jrn() { "$bin/jrn-merge" -q --all --db "$db" > "$dir/merge-jrn.ndjson"; }
merge_sql() { sqlite3 "$db" < "$here/merge.sql" > "$dir/merge-sql.ndjson"; }
t_j=() t_s=()
for ((i = 0; i < runs; i++)); do
	t_j+=("$(seconds merge_jrn)")
	t_s+=("$(seconds merge_sql)")
done
m_j=$(median "${t_j[@]}") m_s=$(median "${t_s[@]}")
printf '%-44s %8.2fs %10s profiles/s\n' "jrn-merge --all" "$m_j" "$(rate "$customers" "$m_j")"
printf '%-44s %8.2fs %10s profiles/s\n' "sqlite3 < t/bench/merge.sql" "$m_s" "$(rate "$customers" "$m_s")"
echo "ratio: jrn-merge --all is $(ratio "$m_s" "$m_j")x sqlite3; $(wc -l < "$dir/merge-jrn.ndjson") and $(wc -l < "$dir/merge-sql.ndjson") lines"
rss=$(/usr/bin/time -f %M "$bin/jrn-merge" -q --all --db "$db" 2>&1 >/dev/null | tail -1)
echo "jrn-merge --all peak RSS: $rss KB"
rm -f "$dir"/merge-jrn.ndjson "$dir"/merge-sql.ndjson "$db" "$db-wal" "$db-shm"
