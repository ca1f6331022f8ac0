#!/bin/sh
# Runs the C unit tests given as arguments and every t/*.bats file, all TAP,
# and ends with one line: "N passed, N failed". Exit 1 if anything failed.
# JRN_BIN names the directory of the tools under test.
#
# The Bats files run JRN_TEST_JOBS at a time (default: the number of CPUs;
# most of a file's time is one process at a time, so two lanes on two CPUs
# take about half the time of one). Each file's TAP is printed whole when
# the file ends, then a line "# FILE: N s", so that a slow CI run says
# which file was slow. A file runs with JRN_TEST_LANE (0, 1, ...) and
# JRN_TEST_LANES set: t/peers.bash's peer_port_range gives each lane its
# own ports. The files known to be slow start first, so that no lane is
# left with one long file at the end.
cd "$(dirname "$0")/.." || exit 1
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
log=$dir/log
: > "$log"
for u in "$@"; do
	echo "# $u"
	"$u" 2>&1 | tee -a "$log"
done
jobs=${JRN_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in '' | *[!0-9]* | 0) echo "t/run.sh: JRN_TEST_JOBS=$jobs is not a number of jobs" >&2; exit 2 ;; esac
slow='hostile jrn-ai-openai jrn-cluster jrn-send-servers jrn-ingest-nats jrn-report-html jrn-route-behind jrn-ingest-listen jrn-ai jrn-send'
if ls t/*.bats >/dev/null 2>&1; then
	{
		for s in $slow; do [ -f "t/$s.bats" ] && echo "t/$s.bats"; done
		for f in t/*.bats; do
			case " $slow " in *" $(basename "$f" .bats) "*) ;; *) echo "$f" ;; esac
		done
	} | JRN_TEST_LANES=$jobs xargs -P "$jobs" --process-slot-var=JRN_TEST_LANE -n 1 \
		sh -c 'dir=$1 f=$2 out=$1/$(basename "$2").tap
			start=$(date +%s)
			bats --tap "$f" > "$out" 2>&1 || {
				rc=$?
				grep -q "^not ok " "$out" || echo "not ok 0 $f: bats exited $rc" >> "$out"
			}
			echo "# $f: $(($(date +%s) - start)) s" >> "$out"
			flock "$dir/lock" sh -c "cat \"\$1\"; cat \"\$1\" >> \"\$2\"" sh "$out" "$dir/log"' \
		sh "$dir"
fi
skipped=$(grep -c '^ok .* # skip' "$log")
passed=$(($(grep -c '^ok ' "$log") - skipped))
failed=$(grep -c '^not ok ' "$log")
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
