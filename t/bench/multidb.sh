#!/bin/bash
# jrn-report over two half state files against one whole file (issue 17,
# "Combining"; lib/multidb.c): EVENTS of jrn-gen (default 200000), split
# by customer number's parity, each file written afresh; a delivery per
# 4th page view, its opens. Median of 3 runs of CPU seconds (user + sys)
# and peak RSS per kind.
# Usage: multidb.sh BINDIR [EVENTS]
set -eu
bin=$(cd "$1" && pwd)
n=${2:-200000}
here=$(cd "$(dirname "$0")" && pwd)
dir=${BENCH_DIR:-build/bench-multidb}
mkdir -p "$dir" && cd "$dir"
export JRN_NOW=2026-03-01T00:00:00Z JRN_LOG=quiet
unset JRN_DB JRN_CONFIG
rm -f whole.db* a.db* b.db*
"$here/../../build/jrn-gen" -n "$n" -c $((n / 20)) -s 7 -y 2025 > ev.ndjson
awk '{ match($0, /"customerId":"c0*[0-9]+"/); id = substr($0, RSTART + 15, RLENGTH - 16) + 0;
       print > (id % 2 ? "b.ndjson" : "a.ndjson") }' ev.ndjson
for f in whole:ev a:a b:b; do
	"$bin/jrn-ingest" -q --db "${f%%:*}.db" < "${f#*:}.ndjson" > /dev/null
	sqlite3 "${f%%:*}.db" <<'SQL'
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, provider, claimed_at,
  updated_at, record)
SELECT 'k-' || id, customer_id, 'email', 'camp' || (seq % 7), 'sent', 'smtp', ts - 3600000,
  ts - 3600000, '{}' FROM events WHERE type = 'page.viewed' AND seq % 4 = 0 ORDER BY seq;
INSERT INTO events (id, type, customer_id, ts, received_at, body)
SELECT 'o-' || key, 'email.opened', customer_id, claimed_at + 60000, claimed_at,
  json_object('properties', json_object('deliveryKey', key)) FROM deliveries
  WHERE seq % 3 = 0 ORDER BY seq;
ANALYZE;
SQL
done
median() { sort -n | sed -n 2p; }
measure() { # KIND ARGS...: "cpu rss" medians
	local cpu=() rss=()
	for i in 1 2 3; do
		/usr/bin/time -f '%U %S %M' -o t.out "$bin/jrn-report" "$@" > /dev/null
		read -r u s m < t.out
		cpu+=("$(echo "$u + $s" | bc)") rss+=("$m")
	done
	echo "$(printf '%s\n' "${cpu[@]}" | median) s, $(printf '%s\n' "${rss[@]}" | median) KB"
}
echo "events: $(sqlite3 whole.db 'SELECT count(*) FROM events'), deliveries: $(sqlite3 whole.db 'SELECT count(*) FROM deliveries')"
for k in metrics "funnel --steps page.viewed,cart.added,order.completed" attribution cohorts; do
	# shellcheck disable=SC2086
	printf '%-12s whole: %-22s  two halves: %s\n' "${k%% *}" "$(measure $k --db whole.db)" \
		"$(measure $k --db a.db --db b.db)"
done
