#!/bin/sh
# Runs libFuzzer targets: sh fuzz/run.sh BUILD SECONDS TARGET...
#
# Each target BUILD/fuzz/TARGET runs for SECONDS (-max_total_time) over
# BUILD/corpus/TARGET, a copy of fuzz/corpus/TARGET (the tree's seeds are
# never written) and the reproducers fuzz/crashes/TARGET-*, with fuzz/TARGET.dict, -timeout=10 and -rss_limit_mb=2048;
# what it finds goes to BUILD/crashes/TARGET/. FUZZ_SEED (environment)
# fixes libFuzzer's -seed, so that a failure seen elsewhere (CI) happens
# again here with the same command; unset or 0, a new seed each run.
# Prints one line per target:
#   fuzz TARGET: N runs, N exec/s, cov: N, ft: N, corpus N (ok|FAILED ...)
# and, for a failure, the end of its log (BUILD/fuzz/TARGET.log) and the
# input that failed in base64 (so that a CI log carries it: save it as
# fuzz/crashes/TARGET-NAME with `base64 -d`). Exit 1
# when any target found a crash, leak, timeout or oracle failure.
build=$1 seconds=$2
shift 2
cd "$(dirname "$0")/.." || exit 1
# -max_len per target: what its inputs need, no more (longer inputs only
# slow the search).
max_len() {
	case $1 in
	time) echo 128 ;;
	email | sms) echo 1024 ;;
	ndjson | eval) echo 8192 ;;
	*) echo 4096 ;;
	esac
}
failed=0
for t in "$@"; do
	bin=$build/fuzz/$t corpus=$build/corpus/$t crashes=$build/crashes/$t log=$build/fuzz/$t.log
	if [ ! -x "$bin" ]; then
		echo "fuzz $t: no $bin (build it with make fuzz-$t)"
		failed=1
		continue
	fi
	mkdir -p "$corpus" "$crashes"
	[ -d "fuzz/corpus/$t" ] && cp fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
	# every reproducer found so far runs first, as a regression test
	for c in fuzz/crashes/"$t"-*; do
		[ -f "$c" ] && cp "$c" "$corpus/"
	done
	dict=
	[ -f "fuzz/$t.dict" ] && dict=-dict=fuzz/$t.dict
	# ASan's leak check runs in libFuzzer (-detect_leaks); UBSan stops.
	ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" $dict -artifact_prefix="$crashes/" \
		-print_final_stats=1 -seed="${FUZZ_SEED:-0}" "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ "$rc" -eq 0 ]; then
		status=ok
	else
		status="FAILED (exit $rc; input in $crashes/, log $log)"
		failed=1
	fi
	echo "fuzz $t: ${runs:-?} runs, ${rate:-?} exec/s, cov: ${cov:-?}, ft: ${ft:-?}, corpus ${corp:-?} ($status)"
	if [ "$rc" -ne 0 ]; then
		grep -E 'fuzz oracle failed|ERROR: |runtime error|SUMMARY|Test unit written' "$log" |
			head -n 8 | sed 's/^/    /'
		echo "    seed: $(sed -n 's/^INFO: Seed: //p' "$log" | head -n 1)"
		for f in "$crashes"/*; do
			[ -f "$f" ] || continue
			if [ "$(wc -c <"$f")" -le 4096 ]; then
				echo "    input $(basename "$f") (base64): $(base64 -w 0 "$f")"
			else
				echo "    input $(basename "$f"): $(wc -c <"$f") bytes, too long to show"
			fi
		done
	fi
done
exit $failed
