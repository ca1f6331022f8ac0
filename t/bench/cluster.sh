#!/bin/bash
# make bench-cluster (not in make check; issue 17): jrn on a three-node NATS
# JetStream cluster on 127.0.0.1 (t/peers/nats.bash starts it, as the tests
# do). Figures are printed, never judged. BENCH_RUNS (3) runs of each, the
# median printed, wall seconds and the jrn process's CPU seconds (user+sys
# from /usr/bin/time: the figure a loaded machine distorts least):
#   publish R3 / R1: jrn-ingest --publish of BENCH_CLUSTER_EVENTS (200,000)
#       generated events (jrn-gen, ~280 bytes each) into a fresh stream of
#       8 partitions, 3 replicas then 1 (targets: >= 20,000 events/s at R3,
#       >= 50,000 at R1; all three servers and jrn share this machine's
#       CPUs, so these are lower bounds)
#   consume: jrn-ingest --from --partitions 0-7 --drain of the R3 stream
#       into a fresh state file, beside plain jrn-ingest of the same events
#       from the file into a fresh state file, and the ratio (target: within
#       1.5x)
# Each run has a stream of its own (JRN_R3_1, subjects bench.r3.1.<p>, ...):
# a stream is never deleted and re-created under one name (PEERS.md).
# Usage: cluster.sh BINDIR GEN
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
gen=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
runs=${BENCH_RUNS:-3} n=${BENCH_CLUSTER_EVENTS:-200000}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)/cluster
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
export JRN_LOG=quiet PATH=$bin:$PATH
unset JRN_DB JRN_CONFIG JRN_NOW
command -v nats-server >/dev/null || { echo "bench-cluster: nats-server is needed (make deps)" >&2; exit 1; }
jrn-ingest --help 2>&1 | grep -q -- --publish ||
	{ echo "bench-cluster: this jrn-ingest has no --publish" >&2; exit 1; }

. "$here/lib.sh"
BATS_TEST_TMPDIR=$dir
. "$here/../peers.bash"
. "$here/../peers/nats.bash"
trap 'nats_cluster_stop; peers_stop' EXIT
BATS_TEST_COMPLETED=1 # the harness prints the nodes' logs only when this is unset
nats_cluster_start 3 || exit 1

"$gen" -n "$n" -c $((n / 20)) -s 1 >events.ndjson && [ -s events.ndjson ] ||
	{ echo "bench-cluster: $gen made no events" >&2; exit 1; }
printf 'bench-cluster: %d events, %d bytes, 3 nodes on 127.0.0.1, %d runs each\n' \
	"$n" "$(wc -c <events.ndjson)" "$runs"

# config NAME REPLICAS: NAME.yaml for a stream of its own
config() {
	cat >"$1.yaml" <<-YAML
	nats:
	  url: $NATS_URLS
	  stream: $1
	  subject: bench.${1,,}
	  partitions: 8
	  replicas: $2
	  storage: file
	YAML
}

# timed OUT CMD...: runs CMD; appends "wall cpu" to OUT
timed() {
	local out=$1 t0 t1 cpu
	shift
	t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S' -o time.txt "$@" || echo "bench-cluster: failed: $*" >&2
	t1=$(date +%s.%N)
	cpu=$(awk '{print $1 + $2}' time.txt)
	echo "$(echo "$t1 - $t0" | bc -l) $cpu" >>"$out"
}

# medians FILE: the medians of FILE's wall and CPU columns
medians() {
	echo "$(median $(cut -d' ' -f1 "$1")) $(median $(cut -d' ' -f2 "$1"))"
}

for r in 3 1; do
	for k in $(seq "$runs"); do
		config "JRN_R${r}_$k" "$r"
		rm -f pub.db*
		timed "publish-r$r.txt" jrn-ingest -q --config "JRN_R${r}_$k.yaml" --db pub.db \
			--publish "$NATS_URLS" events.ndjson >pub.out
		[ "$(wc -l <pub.out)" = "$n" ] || echo "bench-cluster: R$r run $k: $(wc -l <pub.out) of $n events acknowledged" >&2
	done
	read -r w c < <(medians "publish-r$r.txt")
	printf 'publish R%d: median %.2f s wall, %.2f s CPU: %s events/s (%s per jrn CPU-second)\n' \
		"$r" "$w" "$c" "$(rate "$n" "$w")" "$(rate "$n" "$c")"
done

for k in $(seq "$runs"); do
	rm -f from.db* file.db*
	timed consume.txt jrn-ingest -q --config JRN_R3_1.yaml --db from.db --from "$NATS_URLS" \
		--partitions 0-7 --drain >/dev/null
	timed file.txt jrn-ingest -q --db file.db events.ndjson >/dev/null
done
read -r cw cc < <(medians consume.txt)
read -r fw fc < <(medians file.txt)
printf 'consume --from (8 partitions, R3): median %.2f s wall, %.2f s CPU: %s events/s; stored %s\n' \
	"$cw" "$cc" "$(rate "$n" "$cw")" "$(sqlite3 from.db 'SELECT count(*) FROM events')"
printf 'jrn-ingest of the file:            median %.2f s wall, %.2f s CPU: %s events/s; stored %s\n' \
	"$fw" "$fc" "$(rate "$n" "$fw")" "$(sqlite3 file.db 'SELECT count(*) FROM events')"
printf 'consume / file: %sx wall, %sx CPU (target <= 1.5x)\n' "$(ratio "$cw" "$fw")" "$(ratio "$cc" "$fc")"
