#!/bin/bash
# jrn-ai's openai model against the local recording server (t/peers/
# recorder.js, directly: no prism in between, which would measure prism):
# `jrn-ai state` over N profiles (BENCH_AI_REQUESTS, 10,000, each a
# different customer so that none is a cache hit) with 32 requests in
# flight (BENCH_AI_PARALLEL), a fresh state file a run; requests/s as the
# recorder counted them over the wall time (target: >= 1,000). Then the
# same input again: every answer from the cache, records/s (target:
# >= 100,000 is aicore's figure; shown here for the openai path). Also
# jrn-ai's CPU time a request (user + system, /usr/bin/time), which a busy
# machine does not inflate as it does the wall time. Median of BENCH_RUNS
# (3). Figures are printed, never judged.
# Those profiles carry a customerId and a city, and the state file has no
# events: a hit reads no facts. Given GEN (jrn-gen), the cache hits are
# timed again over jrn-merge's profiles of BENCH_AI_REAL_EVENTS (100,000)
# generated events, scored (rfm, clv), whose facts a hit reads from the
# state file as a real run's do: the figure to hold against the target.
# Then optimize over state's output of those profiles, against a second
# recorder answering actions: once to fill the cache, then its cache hits
# (records/s, the same target).
# Usage: ai-openai.sh BINDIR [GEN]
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd) gen=${2:-}
n=${BENCH_AI_REQUESTS:-10000}
par=${BENCH_AI_PARALLEL:-32}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}/ai-openai
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_LOG=quiet OPENAI_API_KEY=sk-bench-not-a-key
unset JRN_DB JRN_CONFIG JRN_NOW

command -v node >/dev/null || { echo "ai-openai: node not found (make deps)" >&2; exit 1; }
recs=()
trap 'kill "${recs[@]}" 2>/dev/null' EXIT
# recorder NAME FIXTURE: a recording server answering FIXTURE, its port in
# $dir/NAME.port (exits the bench when it does not start)
recorder() {
	rm -f "$dir/$1.port"
	node "$here/../peers/recorder.js" --port-file "$dir/$1.port" --count-only --status 200 \
		--body "$here/../fixtures/openai/$2" 2>"$dir/$1.err" &
	recs+=($!)
	for _ in $(seq 100); do [ -s "$dir/$1.port" ] && break; sleep 0.05; done
	[ -s "$dir/$1.port" ] || { echo "ai-openai: the recorder did not start" >&2; cat "$dir/$1.err" >&2; exit 1; }
}
recorder state state-valid.json
url=http://127.0.0.1:$(cat "$dir/state.port")

cat >"$dir/jrn.yaml" <<EOF
ai:
  model: gpt
  models:
    gpt: {kind: openai, baseUrl: "$url/v1", model: gpt-4o-mini, apiKey: "\${OPENAI_API_KEY}",
          temperature: 0, timeout: 30s, inFlight: $par, price: {input: 0.15, output: 0.60}}
EOF
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"customerId\":\"c%d\",\"city\":\"Bern\"}\n", i }' \
	>"$dir/profiles.ndjson"

count() { curl -sS "$url/__recorder/counts" | sed 's/.*"total":\([0-9]*\).*/\1/'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

asked=() hits=() cpu=()
for r in $(seq "$runs"); do
	rm -f "$dir/jrn.db" "$dir/jrn.db-wal" "$dir/jrn.db-shm"
	c0=$(count)
	t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S' -o "$dir/time.txt" "$bin/jrn-ai" state --db "$dir/jrn.db" \
		--config "$dir/jrn.yaml" --parallel "$par" "$dir/profiles.ndjson" >"$dir/out.ndjson" ||
		echo "ai-openai: jrn-ai failed" >&2
	t1=$(date +%s.%N)
	c1=$(count)
	read -r user sys < <(tail -1 "$dir/time.txt")
	cpu+=("$(echo "($user + $sys) * 1000000 / ($c1 - $c0)" | bc -l)")
	models=$(grep -c '"source":"model"' "$dir/out.ndjson")
	asked+=("$(echo "($c1 - $c0) / ($t1 - $t0)" | bc -l)")
	printf 'run %d: %d requests (%d answers from the model) in %.2f s: %.0f requests/s, %.0f CPU-us each (load %s)\n' \
		"$r" "$((c1 - c0))" "$models" "$(echo "$t1 - $t0" | bc -l)" "${asked[-1]}" "${cpu[-1]}" \
		"$(cut -d' ' -f1 /proc/loadavg)"
	t0=$(date +%s.%N)
	"$bin/jrn-ai" state --db "$dir/jrn.db" --config "$dir/jrn.yaml" --parallel "$par" \
		"$dir/profiles.ndjson" >"$dir/out2.ndjson" || echo "ai-openai: jrn-ai failed" >&2
	t1=$(date +%s.%N)
	cached=$(grep -c '"source":"cache"' "$dir/out2.ndjson")
	[ "$(count)" = "$c1" ] || echo "ai-openai: the rerun asked the server" >&2
	hits+=("$(echo "$n / ($t1 - $t0)" | bc -l)")
	printf 'run %d: rerun, %d cache hits in %.2f s: %.0f records/s\n' "$r" "$cached" \
		"$(echo "$t1 - $t0" | bc -l)" "${hits[-1]}"
done
printf 'openai, %d profiles, %d in flight, recorder direct: median %.0f requests/s (target 1,000)\n' \
	"$n" "$par" "$(printf '%s\n' "${asked[@]}" | median)"
printf 'openai: median %.0f CPU-microseconds of jrn-ai a request (user + system)\n' \
	"$(printf '%s\n' "${cpu[@]}" | median)"
printf 'openai, the rerun from the cache: median %.0f records/s\n' "$(printf '%s\n' "${hits[@]}" | median)"

[ -n "$gen" ] || exit 0
events=${BENCH_AI_REAL_EVENTS:-100000}
real=$dir/real.db
rm -f "$real" "$real-wal" "$real-shm"
"$gen" -n "$events" > "$dir/events.ndjson"
JRN_NOW=2026-01-01T00:00:00Z "$bin/jrn-ingest" -q --store-only --db "$real" "$dir/events.ndjson"
JRN_NOW=2026-01-01T00:00:00Z "$bin/jrn-score" rfm -q --save --db "$real" > /dev/null
JRN_NOW=2026-01-01T00:00:00Z "$bin/jrn-score" clv -q --save --db "$real" > /dev/null
JRN_NOW=2026-01-01T00:00:00Z "$bin/jrn-merge" -q --all --db "$real" > "$dir/real.ndjson"
profiles=$(wc -l < "$dir/real.ndjson")
export JRN_NOW=2026-01-01T00:00:00Z
"$bin/jrn-ai" state --db "$real" --config "$dir/jrn.yaml" --parallel "$par" "$dir/real.ndjson" >/dev/null ||
	echo "ai-openai: jrn-ai failed" >&2
real_hits=()
for r in $(seq "$runs"); do
	c0=$(count)
	t0=$(date +%s.%N)
	"$bin/jrn-ai" state --db "$real" --config "$dir/jrn.yaml" --parallel "$par" "$dir/real.ndjson" \
		>"$dir/out3.ndjson" || echo "ai-openai: jrn-ai failed" >&2
	t1=$(date +%s.%N)
	[ "$(count)" = "$c0" ] || echo "ai-openai: the rerun over real profiles asked the server" >&2
	real_hits+=("$(echo "$profiles / ($t1 - $t0)" | bc -l)")
	printf 'run %d: %d cache hits over real profiles in %.2f s: %.0f records/s\n' "$r" \
		"$(grep -c '"source":"cache"' "$dir/out3.ndjson")" "$(echo "$t1 - $t0" | bc -l)" "${real_hits[-1]}"
done
printf 'openai, the rerun from the cache over %d jrn-merge profiles of %d events (facts read): median %.0f records/s (target 100,000)\n' \
	"$profiles" "$events" "$(printf '%s\n' "${real_hits[@]}" | median)"

# optimize over state's output of those profiles, against a second
# recorder that answers actions: once to fill the cache, then every
# answer from it (the same target)
"$bin/jrn-ai" state --db "$real" --config "$dir/jrn.yaml" "$dir/real.ndjson" >"$dir/states.ndjson" ||
	echo "ai-openai: jrn-ai failed" >&2
recorder actions actions-valid.json
sed "s#$url#http://127.0.0.1:$(cat "$dir/actions.port")#" "$dir/jrn.yaml" >"$dir/jrn2.yaml"
"$bin/jrn-ai" optimize --db "$real" --config "$dir/jrn2.yaml" --parallel "$par" "$dir/states.ndjson" >/dev/null ||
	echo "ai-openai: jrn-ai failed" >&2
opt_hits=()
for r in $(seq "$runs"); do
	t0=$(date +%s.%N)
	"$bin/jrn-ai" optimize --db "$real" --config "$dir/jrn2.yaml" --parallel "$par" "$dir/states.ndjson" \
		>"$dir/out4.ndjson" || echo "ai-openai: jrn-ai failed" >&2
	t1=$(date +%s.%N)
	opt_hits+=("$(echo "$profiles / ($t1 - $t0)" | bc -l)")
	printf 'run %d: optimize, %d actions from the cache over %d state records in %.2f s: %.0f records/s\n' "$r" \
		"$(grep -c '"source":"cache"' "$dir/out4.ndjson")" "$profiles" "$(echo "$t1 - $t0" | bc -l)" "${opt_hits[-1]}"
done
printf 'openai, optimize rerun from the cache over state'"'"'s output of those profiles: median %.0f records/s (target 100,000)\n' \
	"$(printf '%s\n' "${opt_hits[@]}" | median)"
rm -f "$real" "$real-wal" "$real-shm" "$dir/events.ndjson" "$dir/real.ndjson" "$dir/out3.ndjson" \
	"$dir/states.ndjson" "$dir/out4.ndjson"
