#!/bin/sh
# Runs the C unit tests given as arguments and every t/*.bats file, all TAP,
# and ends with one line: "N passed, N failed". Exit 1 if anything failed.
# JRN_BIN names the directory of the tools under test.
cd "$(dirname "$0")/.." || exit 1
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
for u in "$@"; do
	echo "# $u"
	"$u" 2>&1 | tee -a "$log"
done
if ls t/*.bats >/dev/null 2>&1; then
	bats --tap t/*.bats 2>&1 | tee -a "$log"
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
