#!/bin/bash
# make bench-route: jrn-route's three heavy paths, each beside what a user
# would otherwise run on the same data, in the same run (median of
# BENCH_RUNS, 3; a fresh state file a run). Figures are printed, never
# judged: a benchmark, not a test. Usage: route.sh BINDIR GEN [PART...]
# with PART gate, tick or simulate (default all three; or BENCH_ROUTE).
#
#   gate      1M actions (BENCH_ACTIONS) over 100k customers (a tenth of
#             them), e-mail, SMS and WhatsApp, a few zones, through the gate
#             from stdin with quiet hours, caps per channel and across
#             channels, a cooldown, budgets and the fallback chain:
#             decisions/s, CPU and peak RSS; beside jq adding a route member
#             to each record (the least a stateless filter does).
#   tick      --tick over 1M active enrollments (BENCH_ENROLLMENTS) of which
#             10,000 (BENCH_DUE) are due: each waits out `wait: 1d`, then a
#             webhook action goes through the gate; beside sqlite3 ending the
#             same due rows with one UPDATE ... RETURNING (target: 1 s).
#   simulate  --simulate of 1M generated events (BENCH_EVENTS; jrn-gen's,
#             with cart.added renamed cart.updated with a value, so that
#             the abandoned cart triggers too) through share/jrn/journeys against a state file of
#             their profiles (an identify call per sign-up); beside jq -c . over the same file (target:
#             15 s).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bin=$(cd "$1" && pwd) gen=$2
shift 2
parts=${*:-${BENCH_ROUTE:-gate tick simulate}}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_LOG=quiet
unset JRN_DB JRN_CONFIG JRN_JOURNEYS JRN_NOW

# timed OUT CMD...: runs CMD with /usr/bin/time, stdout to OUT; sets wall,
# cpu (user + system) and kb (peak RSS)
timed() {
	local out=$1 t0 t1 user sys
	shift
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M %U %S' -o "$dir/time.txt" "$@" > "$out" || echo "bench: failed: $*" >&2
	t1=$(date +%s.%N)
	read -r kb user sys < <(tail -1 "$dir/time.txt")
	wall=$(echo "$t1 - $t0" | bc -l) cpu=$(echo "$user + $sys" | bc -l)
}

# the plain tools, their output dropped
jq_route() { jq -c '. + {route: {decision: "send", channel: .actionType}}' "$1" > /dev/null; }
jq_c() { jq -c . "$1" > /dev/null; }
# sql_due DB NOW_MS: the due enrollments ended, one JSON line each
sql_due() {
	sqlite3 "$1" "UPDATE enrollments SET status = 'completed', step = NULL, due_at = NULL,
		ended_at = $2, updated_at = $2 WHERE status = 'active' AND due_at <= $2
		RETURNING json_object('actionType', 'webhook', 'customerId', customer_id,
		'enrollment', id, 'journey', journey)" > /dev/null
}

# ---- (a) the gate --------------------------------------------------------
bench_gate() {
	local n=${BENCH_ACTIONS:-1000000}
	local data=$dir/actions-$n.ndjson
	export JRN_NOW=2026-03-28T18:00:00Z
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
	local ts=() cs=() ks=() js=()
	for ((i = 0; i < runs; i++)); do
		rm -f "$dir/r.db" "$dir/r.db-wal" "$dir/r.db-shm"
		"$bin/jrn-route" --db "$dir/r.db" --config "$dir/route.yaml" < /dev/null
		timed "$dir/route.out" "$bin/jrn-route" --db "$dir/r.db" --config "$dir/route.yaml" < "$data"
		ts+=("$wall") cs+=("$cpu") ks+=("$kb")
		js+=("$(seconds jq_route "$data")")
	done
	local m c k j
	m=$(median "${ts[@]}") c=$(median "${cs[@]}") k=$(median "${ks[@]}") j=$(median "${js[@]}")
	echo "bench-route gate: $n actions over $((n / 10)) customers from stdin, median of $runs runs"
	printf '%-44s %8.2fs %10s decisions/s  cpu %6.2fs %8s decisions/cpu-s  peak RSS %d MB\n' \
		"jrn-route (the gate)" "$m" "$(rate "$n" "$m")" "$c" "$(rate "$n" "$c")" "$((k / 1024))"
	printf '%-44s %8.2fs %10s records/s\n' "jq -c '. + {route: ...}' (stateless)" "$j" "$(rate "$n" "$j")"
	echo "ratio: the gate is $(ratio "$j" "$m")x jq adding a member; $(wc -l < "$dir/route.out") lines out"
	jq -r '.route.decision + "/" + (.route.reason // "-")' "$dir/route.out" | sort | uniq -c | sort -rn |
		head -8 | tr '\n' ' ' | sed 's/  */ /g; s/^/decisions:/; s/$/\n/'
	rm -f "$dir/route.out" "$dir/r.db" "$dir/r.db-wal" "$dir/r.db-shm"
	unset JRN_NOW
}

# ---- (b) --tick ----------------------------------------------------------
bench_tick() {
	local n=${BENCH_ENROLLMENTS:-1000000} due=${BENCH_DUE:-10000}
	local base=$dir/tick-$n-$due.db j=$dir/tick-journeys
	local t0=2026-03-01T00:00:00Z now=2026-03-10T00:00:00Z
	local now_ms=$(( $(date -u -d "$now" +%s) * 1000 ))
	mkdir -p "$j"
	cat > "$j/bench.yaml" <<'Y'
name: bench
trigger: {event: bench.start}
reentry: always
steps:
  - id: pause
    wait: 1d
  - id: hello
    webhook: {url: "http://127.0.0.1:9/hook", campaign: bench}
Y
	if [ ! -s "$base" ]; then
		rm -f "$base" "$base-wal" "$base-shm"
		# the state file made (--tick refuses a missing one), then the
		# journey's version 1 registered by a first tick (nothing due)
		"$bin/jrn-route" --db "$base" < /dev/null &&
			"$bin/jrn-route" --tick --db "$base" --journeys "$j" --now "$t0" > /dev/null ||
			{ echo "bench-route: tick: no state file made" >&2; return 1; }
		sqlite3 "$base" > /dev/null <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $n)
INSERT INTO enrollments (id, journey, version, customer_id, trigger_key, trigger_event,
  status, step, due_at, entered_at, updated_at)
SELECT i, 'bench', 1, 'c' || i, 'e' || i,
  json_object('id', 'e' || i, 'type', 'bench.start', 'customerId', 'c' || i,
              'timestamp', '2026-03-08T00:00:00Z'),
  'active', 'pause',
  -- entered in id order, one every 1 day / n, each waiting 1 day: the due
  -- are the $due entered first (ids 1..$due), as a steady stream of
  -- sign-ups gives
  $now_ms + (i - $due) * (86400000 / $n),
  $now_ms - 86400000 + (i - $due) * (86400000 / $n),
  $now_ms - 86400000 + (i - $due) * (86400000 / $n)
FROM k;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
	fi
	local ts=() cs=() ks=() ss=() got
	for ((i = 0; i < runs; i++)); do
		cp "$base" "$dir/t.db" && rm -f "$dir/t.db-wal" "$dir/t.db-shm"
		timed "$dir/tick.out" "$bin/jrn-route" --tick --db "$dir/t.db" --journeys "$j" --now "$now"
		ts+=("$wall") cs+=("$cpu") ks+=("$kb")
		got=$(wc -l < "$dir/tick.out")
		cp "$base" "$dir/t.db" && rm -f "$dir/t.db-wal" "$dir/t.db-shm"
		ss+=("$(seconds sql_due "$dir/t.db" "$now_ms")")
	done
	local m c k s
	m=$(median "${ts[@]}") c=$(median "${cs[@]}") k=$(median "${ks[@]}") s=$(median "${ss[@]}")
	echo "bench-route tick: $n active enrollments, $due due, median of $runs runs"
	printf '%-44s %8.2fs %10s enrollments/s  cpu %6.2fs  peak RSS %d MB\n' \
		"jrn-route --tick" "$m" "$(rate "$due" "$m")" "$c" "$((k / 1024))"
	printf '%-44s %8.2fs\n' "sqlite3: one UPDATE ... RETURNING" "$s"
	echo "ratio: --tick is $(ratio "$s" "$m")x sqlite3's bare UPDATE (target <= 1 s); $got actions out"
	rm -f "$dir/tick.out" "$dir/t.db" "$dir/t.db-wal" "$dir/t.db-shm"
}

# ---- (c) --simulate ------------------------------------------------------
bench_simulate() {
	local n=${BENCH_EVENTS:-1000000}
	local data=$dir/sim-events-$n.ndjson db=$dir/sim-$n.db
	export IDS=$dir/sim-identify-$n.ndjson
	local journeys=$here/../../share/jrn/journeys end=2026-01-31T00:00:00Z
	if [ ! -s "$data" ]; then
		# and an identify call per sign-up (the profiles: e-mail, phone)
		"$gen" -n "$n" | perl -ne '
			BEGIN { open(ID, ">", $ENV{IDS}) or die }
			if (/"type":"user\.signup","customerId":"([^"]+)","timestamp":"([^"]+)".*"email":"([^"]+)","phone":"([^"]+)"/) {
				print ID "{\"id\":\"id-$1\",\"type\":\"identify\",\"customerId\":\"$1\",\"timestamp\":\"$2\",\"traits\":{\"email\":\"$3\",\"phone\":\"$4\"}}\n";
			}
			s/"type":"cart\.added"(.*)"price":([0-9.]+)/sprintf("\"type\":\"cart.updated\"%s\"price\":%s,\"value\":%.2f", $1, $2, $2 * 6)/e;
			print' > "$data"
	fi
	if [ ! -s "$db" ]; then
		rm -f "$db" "$db-wal" "$db-shm"
		JRN_NOW=2026-01-01T00:00:00Z "$bin/jrn-ingest" -q --store-only --db "$db" "$dir/sim-identify-$n.ndjson"
	fi
	# one made by an older jrn: --simulate only reads, so migrate it here
	"$bin/jrn-ingest" -q --db "$db" < /dev/null
	local ts=() cs=() ks=() js=() got
	for ((i = 0; i < runs; i++)); do
		timed "$dir/sim.out" "$bin/jrn-route" --simulate --db "$db" --journeys "$journeys" --now "$end" "$data"
		ts+=("$wall") cs+=("$cpu") ks+=("$kb")
		got=$(wc -l < "$dir/sim.out")
		js+=("$(seconds jq_c "$data")")
	done
	local m c k j
	m=$(median "${ts[@]}") c=$(median "${cs[@]}") k=$(median "${ks[@]}") j=$(median "${js[@]}")
	echo "bench-route simulate: $n events through the $(ls "$journeys" | wc -l) shipped journeys, median of $runs runs"
	printf '%-44s %8.2fs %10s events/s  cpu %6.2fs  peak RSS %d MB\n' \
		"jrn-route --simulate" "$m" "$(rate "$n" "$m")" "$c" "$((k / 1024))"
	printf '%-44s %8.2fs %10s events/s\n' "jq -c . (reading the events alone)" "$j" "$(rate "$n" "$j")"
	echo "ratio: --simulate is $(ratio "$j" "$m")x jq -c . (target <= 15 s); $got actions out"
	jq -r '.journey + "/" + .route.decision' "$dir/sim.out" | sort | uniq -c | sort -rn | head -8 |
		tr '\n' ' ' | sed 's/  */ /g; s/^/actions:/; s/$/\n/'
	rm -f "$dir/sim.out"
}

for p in $parts; do
	case $p in
	gate) bench_gate ;;
	tick) bench_tick ;;
	simulate) bench_simulate ;;
	*) echo "route.sh: unknown part '$p' (gate, tick or simulate)" >&2; exit 2 ;;
	esac
done
