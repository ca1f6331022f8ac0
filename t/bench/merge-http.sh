#!/bin/bash
# make bench-merge (second part): jrn-merge with the seed's four http
# sources on local servers, --parallel 64, over N customers (5,000 by
# default: 20,000 requests), beside one `curl` process per request for a
# sample of 400 requests. Each source has its own t/peers/recorder.js
# process (--count-only), so that the server side has four processes;
# BENCH_SERVERS=1 serves all four paths from one (on the shared 2-CPU
# machine of the first measurements neither was clearly faster: the CPUs,
# shared by client, servers and neighbours, were the bottleneck). Prints
# medians of BENCH_RUNS runs, profiles/s, requests/s, the ratio to curl, and
# jrn-merge's own CPU time (requests per CPU-second, the figure a loaded
# machine does not distort).
# Usage: merge-http.sh BINDIR [CUSTOMERS]
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd) n=${2:-${BENCH_CUSTOMERS:-5000}}
runs=${BENCH_RUNS:-3} sample=${BENCH_CURL_SAMPLE:-400} par=${BENCH_PARALLEL:-64}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_NOW=2026-01-01T00:00:00Z JRN_LOG=quiet
unset JRN_DB JRN_CONFIG
command -v node >/dev/null || { echo "bench: node is needed (t/peers/recorder.js)" >&2; exit 1; }

. "$here/lib.sh"

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap stop EXIT
body=$dir/merge-http-body.json
echo '{"data":{"customer":{"customerId":"c","email":"ann@example.org","firstName":"Ann","plan":"pro"},"items":[{"id":1},{"id":2}]}}' > "$body"
urls=() servers=${BENCH_SERVERS:-4}
for s in crm emails chats purchases; do
	[ "$servers" = 1 ] && [ "$s" != crm ] && continue
	rm -f "$dir/$s.port"
	node "$here/../peers/recorder.js" --count-only --status 200 --body "$body" --port-file "$dir/$s.port" &
	pids+=($!)
done
for s in crm emails chats purchases; do
	[ "$servers" = 1 ] && s=crm
	for ((i = 0; i < 100; i++)); do [ -s "$dir/$s.port" ] && break; sleep 0.05; done
	urls+=("http://127.0.0.1:$(cat "$dir/$s.port")")
done
cat > "$dir/merge-http.yaml" <<Y
sources:
  precedence: [crm]
  list:
    - {name: crm, type: http, url: "${urls[0]}/customer/{customerId}", pointer: /data/customer}
    - {name: emails, type: http, url: "${urls[1]}/customer/{customerId}/emails", pointer: /data/items, unify: false}
    - {name: chats, type: http, url: "${urls[2]}/customer/{customerId}/chats", pointer: /data/items, unify: false}
    - {name: purchases, type: http, url: "${urls[3]}/customer/{customerId}/purchases", pointer: /data/items, unify: false}
Y
seq 1 "$n" | sed 's/.*/{"customerId":"c&"}/' > "$dir/merge-http-in.ndjson"
db=$dir/merge-http.db
rm -f "$db" "$db-wal" "$db-shm"
echo "bench: jrn-merge, 4 http sources ($servers recorder.js processes), --parallel $par, $n customers ($((4 * n)) requests), median of $runs runs"

merge() {
	"$bin/jrn-merge" -q --parallel "$par" --db "$db" --config "$dir/merge-http.yaml" \
		"$dir/merge-http-in.ndjson" > "$dir/merge-http-out.ndjson"
}
one_curl_each() {
	local i
	for ((i = 1; i <= sample; i++)); do
		curl -s -o /dev/null "${urls[$((i % 4))]}/customer/c$i" || return 1
	done
}
t_j=() t_c=()
for ((i = 0; i < runs; i++)); do
	t_j+=("$(seconds merge)")
	t_c+=("$(seconds one_curl_each)")
done
m_j=$(median "${t_j[@]}") m_c=$(median "${t_c[@]}")
lines=$(wc -l < "$dir/merge-http-out.ndjson")
errs=$(grep -c '"errors"' "$dir/merge-http-out.ndjson")
rq_j=$(rate $((4 * n)) "$m_j") rq_c=$(rate "$sample" "$m_c")
printf '%-44s %8.2fs %8s profiles/s %8s requests/s\n' "jrn-merge --parallel $par" "$m_j" "$(rate "$n" "$m_j")" "$rq_j"
printf '%-44s %8.2fs %8s profiles/s %8s requests/s\n' "curl, one process per request ($sample)" "$m_c" "$(rate "$sample" "$(echo "$m_c * 4" | bc -l)")" "$rq_c"
echo "ratio: jrn-merge makes $(ratio "$rq_j" "$rq_c" 1)x the requests/s of one curl per request; $lines lines, $errs with errors"
read -r rss cpu < <(/usr/bin/time -f '%M %U %S' "$bin/jrn-merge" -q --parallel "$par" --db "$db" \
	--config "$dir/merge-http.yaml" "$dir/merge-http-in.ndjson" 2>&1 >/dev/null | tail -1 |
	awk '{print $1, $2 + $3}')
# on a shared machine the wall clock counts the servers and the neighbours;
# jrn-merge's own CPU time says what one CPU of it would do
echo "jrn-merge peak RSS: $rss KB; its own CPU: ${cpu}s for $((4 * n)) requests, $(rate $((4 * n)) "$cpu") requests per CPU-second"
[ -n "${BENCH_KEEP:-}" ] || rm -f "$dir"/merge-http-out.ndjson "$dir"/merge-http-in.ndjson "$dir"/*.port "$db" "$db-wal" "$db-shm"
