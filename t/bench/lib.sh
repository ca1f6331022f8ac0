# t/bench/lib.sh: what the benchmarks share (sourced by bench.sh, send.sh,
# merge.sh, merge-http.sh, route.sh). Figures are printed, never judged:
# `make bench` is a benchmark, not a timed test.

# seconds CMD...: wall time of one run of CMD, in seconds (a failure is
# said on stderr and timed all the same)
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" || echo "bench: command failed: $*" >&2
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
# median X...: the median of the numbers (the lower middle of an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# rate N SECONDS: N per second, a whole number
rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }
# ratio A B [DIGITS]: A / B with DIGITS decimals (default 2)
ratio() { echo "$1 / $2" | bc -l | xargs printf "%.${3:-2}f"; }
