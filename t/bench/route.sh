#!/bin/bash
# make bench-route: gate decisions per second from stdin. 1M actions (BENCH_ACTIONS)
# over 100k customers (a tenth of them), e-mail, SMS and WhatsApp, a few zones,
# against a policy with quiet hours, caps per channel and across channels,
# a cooldown, budgets and the fallback chain; a fresh state file each run.
# Prints the median of BENCH_RUNS (3) runs and the peak RSS. Not a test.
# Usage: route.sh BINDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bin=$(cd "$1" && pwd) n=${BENCH_ACTIONS:-1000000} runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_NOW=2026-03-28T18:00:00Z JRN_LOG=quiet
unset JRN_DB JRN_CONFIG

data=$dir/actions-$n.ndjson
if [ ! -s "$data" ]; then
	awk -v n="$n" 'BEGIN {
		split("email sms whatsapp", ch, " ")
		split("Europe/Berlin America/New_York Asia/Tokyo UTC", tz, " ")
		for (i = 0; i < n; i++) {
			c = i % (n / 10); k = int(i / (n / 10))
			printf "{\"actionType\":\"%s\",\"customerId\":\"c%d\",\"campaignId\":\"camp%d\",", ch[i % 3 + 1], c, k % 5
			printf "\"recipientEmail\":\"c%d@example.com\",\"recipientPhone\":\"+1415555%04d\",", c, c % 10000
			printf "\"template\":\"t%d\",\"timeZone\":\"%s\",\"subject\":\"Hello\"}\n", k, tz[c % 4 + 1]
		}
	}' > "$data"
fi
cat > "$dir/route.yaml" <<'Y'
policy:
  quietHours: {start: "21:00", end: "08:00"}
  caps:
    email: {max: 2, window: 1d}
    sms: {max: 1, window: 1d}
    all: {max: 3, window: 7d}
  cooldown: {camp4: 14d}
  cost: {email: 0.001, sms: 0.05, whatsapp: 0.03}
  budgets: {camp3: 100, "*": 100000}
Y

one() {
	rm -f "$dir/r.db" "$dir/r.db-wal" "$dir/r.db-shm"
	"$bin/jrn-route" --db "$dir/r.db" --config "$dir/route.yaml" < /dev/null
	local t0 t1
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M %U %S' -o "$dir/route.rss" "$bin/jrn-route" --db "$dir/r.db" --config "$dir/route.yaml" < "$data" > "$dir/route.out"
	t1=$(date +%s.%N)
	read -r rss user sys < "$dir/route.rss"
	echo "$t1 - $t0" | bc -l > "$dir/route.wall"
	echo "$user + $sys" | bc -l > "$dir/route.cpu"
	echo "$rss" > "$dir/route.kb"
}

ts=() cs=() ks=()
for ((i = 0; i < runs; i++)); do
	one
	ts+=("$(cat "$dir/route.wall")") cs+=("$(cat "$dir/route.cpu")") ks+=("$(cat "$dir/route.kb")")
done
m=$(median "${ts[@]}") c=$(median "${cs[@]}") k=$(median "${ks[@]}")
echo "bench-route: $n actions over $((n / 10)) customers from stdin, median of $runs runs"
printf 'jrn-route  wall %7.2f s  %8.0f decisions/s   cpu %7.2f s  %8.0f decisions/cpu-s   peak RSS %d MB\n' \
	"$m" "$(echo "$n / $m" | bc -l)" "$c" "$(echo "$n / $c" | bc -l)" "$((k / 1024))"
jq -r '.route.decision + "/" + (.route.reason // "-")' "$dir/route.out" 2>/dev/null | sort | uniq -c | sort -rn | head -12 ||
	true
