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
# Usage: ai-openai.sh BINDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
n=${BENCH_AI_REQUESTS:-10000}
par=${BENCH_AI_PARALLEL:-32}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}/ai-openai
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_LOG=quiet OPENAI_API_KEY=sk-bench-not-a-key
unset JRN_DB JRN_CONFIG JRN_NOW

command -v node >/dev/null || { echo "ai-openai: node not found (make deps)" >&2; exit 1; }
rm -f "$dir/port"
node "$here/../peers/recorder.js" --port-file "$dir/port" --count-only --status 200 \
	--body "$here/../fixtures/openai/state-valid.json" 2>"$dir/recorder.err" &
rec=$!
trap 'kill "$rec" 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
[ -s "$dir/port" ] || { echo "ai-openai: the recorder did not start" >&2; cat "$dir/recorder.err" >&2; exit 1; }
url=http://127.0.0.1:$(cat "$dir/port")

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
