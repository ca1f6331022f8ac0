#!/bin/bash
# make bench-ai: jrn-ai on the rules model over the profiles of a state
# file of generated events (100k customers, 1M events by default; rfm and
# clv saved, profiles from jrn-merge --all): state, optimize (over state's
# output), and state again from a warm cache (ai.cache.rules: true, the
# second of two runs). Beside jq adding a constant state member to each
# profile (the least a filter does). Prints medians and rates; figures,
# never judged. Usage: ai.sh BINDIR GEN [EVENTS]
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
db=$dir/ai.db
rm -f "$db" "$db-wal" "$db-shm"
"$bin/jrn-ingest" -q --store-only --db "$db" "$data"
"$bin/jrn-score" rfm -q --save --db "$db" > /dev/null
"$bin/jrn-score" clv -q --save --db "$db" > /dev/null
"$bin/jrn-merge" -q --all --db "$db" > "$dir/ai-profiles.ndjson"
profiles=$(wc -l < "$dir/ai-profiles.ndjson")
printf 'ai:\n  cache: {ttl: 7d, rules: true}\n' > "$dir/ai-cache.yaml"
echo "bench: jrn-ai (rules) over $profiles profiles of $events events, median of $runs runs"

state() { "$bin/jrn-ai" state -q --db "$db" "$dir/ai-profiles.ndjson" > "$dir/ai-state.ndjson"; }
optimize() { "$bin/jrn-ai" optimize -q --db "$db" "$dir/ai-state.ndjson" > "$dir/ai-actions.ndjson"; }
cached() { "$bin/jrn-ai" state -q --db "$db" --config "$dir/ai-cache.yaml" "$dir/ai-profiles.ndjson" > /dev/null; }
jqstate() { jq -c '. + {state: {source: "rules"}}' "$dir/ai-profiles.ndjson" > /dev/null; }
state
"$bin/jrn-ai" state -q --db "$db" --config "$dir/ai-cache.yaml" "$dir/ai-profiles.ndjson" > /dev/null
t_s=() t_o=() t_c=() t_j=()
for ((i = 0; i < runs; i++)); do
	t_s+=("$(seconds state)")
	t_o+=("$(seconds optimize)")
	t_c+=("$(seconds cached)")
	t_j+=("$(seconds jqstate)")
done
m_s=$(median "${t_s[@]}") m_o=$(median "${t_o[@]}") m_c=$(median "${t_c[@]}") m_j=$(median "${t_j[@]}")
printf '%-44s %8.2fs %10s profiles/s\n' "jrn-ai state (rules)" "$m_s" "$(rate "$profiles" "$m_s")"
printf '%-44s %8.2fs %10s profiles/s\n' "jrn-ai optimize (rules)" "$m_o" "$(rate "$profiles" "$m_o")"
printf '%-44s %8.2fs %10s records/s\n' "jrn-ai state, every answer a cache hit" "$m_c" "$(rate "$profiles" "$m_c")"
printf '%-44s %8.2fs %10s profiles/s\n' "jq -c '. + {state: ...}'" "$m_j" "$(rate "$profiles" "$m_j")"
echo "targets: state and optimize >= 50,000 profiles/s (the 100,000 records/s of cache hits is" \
	"the openai model's: make bench-ai-openai); $(wc -l < "$dir/ai-actions.ndjson") lines out of optimize"
rss=$(/usr/bin/time -f %M "$bin/jrn-ai" state -q --db "$db" "$dir/ai-profiles.ndjson" 2>&1 >/dev/null | tail -1)
echo "jrn-ai state peak RSS: $rss KB"
rm -f "$dir"/ai-profiles.ndjson "$dir"/ai-state.ndjson "$dir"/ai-actions.ndjson "$dir/ai-cache.yaml" \
	"$db" "$db-wal" "$db-shm"
