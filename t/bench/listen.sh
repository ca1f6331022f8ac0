#!/bin/bash
# make bench-listen (and the end of make bench): jrn-ingest --listen on
# 127.0.0.1 under wrk (Debian's), bounded in time: BENCH_SECONDS (10) per
# run, BENCH_RUNS (3) runs of each load, medians printed.
#   single: one event per POST /events, 64 connections (targets: >= 10,000
#           requests/s, p99 <= 50 ms; every reply after its commit)
#   batch:  Segment batches of 1,000 events, 8 connections (target >=
#           200,000 events/s)
# Each event has a new id (wrk's Lua makes them), so every one is stored.
# Also printed: the server's CPU seconds per run (user+sys, from
# /proc/PID/stat: the figure a loaded machine distorts least) and its RSS
# before the first run and after each load (memory flat under load: it
# grows to SQLite's page cache, 64 MiB, and the malloc arenas, then stays).
# RSS is also sampled every BENCH_RSS_EVERY (5) seconds from
# /proc/PID/status VmRSS in the background, and start/peak/end are printed
# with the samples in build/bench/listen/rss.log; BENCH_SUSTAIN=SECONDS adds
# a sustained single-event load of that length after the others, to show
# whether RSS reaches a plateau.
# On a loaded machine the wall-clock figures fall with the CPU share the
# server gets; requests per server CPU-second are printed beside them.
# Usage: listen.sh BINDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
runs=${BENCH_RUNS:-3} secs=${BENCH_SECONDS:-10}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)/listen
rm -rf "$dir" && mkdir -p "$dir"
export JRN_LOG=quiet
unset JRN_DB JRN_CONFIG JRN_NOW
command -v wrk >/dev/null || { echo "bench: wrk is needed (Debian's wrk)" >&2; exit 1; }

. "$here/lib.sh"

pid= sampler=
stop() {
	[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	wait 2>/dev/null
}
trap stop EXIT

cat > "$dir/single.lua" <<'EOF'
-- one event per request, a new id each time (thread number + counter)
local n, tid = 0, 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("t", threads) end
function init(args) tid = tonumber(t) or 0 end  -- t: set by setup (a global)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
	n = n + 1
	local body = string.format('{"id":"s%s-%d-%d","type":"page.viewed","customerId":"c%d",' ..
		'"timestamp":"2026-01-01T00:00:00.000Z","properties":{"path":"/p/%d"}}', RUN, tid, n, n % 5000, n % 97)
	return wrk.format(nil, "/events", nil, body)
end
EOF
cat > "$dir/batch.lua" <<'EOF'
-- a Segment batch of 1,000 events per request, new ids each time
local n, tid = 0, 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("t", threads) end
function init(args) tid = tonumber(t) or 0 end  -- t: set by setup (a global)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
	local parts = {}
	for i = 1, 1000 do
		n = n + 1
		parts[i] = string.format('{"messageId":"b%s-%d-%d","type":"track","event":"Product Viewed",' ..
			'"userId":"u%d","timestamp":"2026-01-01T00:00:00.000Z","properties":{"sku":"k%d"}}',
			RUN, tid, n, n % 5000, n % 97)
	end
	return wrk.format(nil, "/events", nil, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
function done(summary, latency, requests)
	io.write(string.format("events %d\n", summary.requests * 1000))
end
EOF

printf 'db:\n  path: %s/jrn.db\ningest:\n  listen:\n    maxBody: 4194304\n' "$dir" > "$dir/jrn.yaml"
"$bin/jrn-ingest" -q --config "$dir/jrn.yaml" < /dev/null
"$bin/jrn-ingest" --listen 127.0.0.1:0 --config "$dir/jrn.yaml" > /dev/null 2> "$dir/server.err" &
pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$dir/server.err")
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { echo "bench: the server did not start" >&2; cat "$dir/server.err" >&2; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$pid/stat"; }

# load NAME CONNECTIONS: runs wrk $runs times; prints medians
load() {
	local name=$1 conns=$2 r out rps p99 c0 c1 cpus=() rpss=() p99s=()
	for ((r = 1; r <= runs; r++)); do
		c0=$(cpu)
		sed "s/RUN/\"$name$r${tag:-}\"/" "$dir/$name.lua" > "$dir/run.lua"
		out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$dir/run.lua" "http://127.0.0.1:$port" 2>&1)
		c1=$(cpu)
		echo "$out" > "$dir/$name.$r.out"
		rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$out")
		p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' <<< "$out")
		grep -q "Non-2xx" <<< "$out" && echo "bench: $name run $r: $(grep Non-2xx <<< "$out")" >&2
		rpss+=("$rps") p99s+=("${p99:-0}") cpus+=("$(echo "$c1 - $c0" | bc -l)")
	done
	local rps_m cpu_m
	rps_m=$(median "${rpss[@]}") cpu_m=$(median "${cpus[@]}")
	echo "$name: $rps_m requests/s, p99 $(median "${p99s[@]}") ms, server CPU $cpu_m s per ${secs}s run: $(rate "$(echo "$rps_m * $secs" | bc -l)" "$cpu_m") requests per server CPU-second (medians of $runs; $conns connections)"
	LAST_RPS=$(median "${rpss[@]}")
	echo "  server RSS after $name: $(rss) kB"
}

# sample SECONDS: appends "elapsed-seconds RSS-kB" to rss.log until killed
sample() {
	local t=0
	while [ -r "/proc/$pid/status" ]; do
		echo "$t $(rss)" >> "$dir/rss.log"
		sleep "$1"; t=$((t + $1))
	done
}
: > "$dir/rss.log"
sample "${BENCH_RSS_EVERY:-5}" &
sampler=$!

rss0=$(rss)
echo "jrn-ingest --listen, wrk on 127.0.0.1, ${secs}s per run"
load single 64
load batch 8
printf 'batch: %.0f events/s\n' "$(echo "$LAST_RPS * 1000" | bc -l)"
if [ "${BENCH_SUSTAIN:-0}" -gt 0 ]; then
	tag=sustained runs=1 secs=$BENCH_SUSTAIN load single 64
fi
rss1=$(rss)
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=
echo "end $rss1" >> "$dir/rss.log"
peak=$(awk '$2 > m {m = $2} END {print m + 0}' "$dir/rss.log")
echo "server RSS (sampled every ${BENCH_RSS_EVERY:-5}s, $dir/rss.log): start ${rss0} kB, peak ${peak} kB, end ${rss1} kB"
stored=$(sqlite3 "$dir/jrn.db" 'SELECT count(*) FROM events')
echo "$stored events stored"
