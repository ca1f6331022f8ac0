# Loaded by every Bats file: the tools under test, a scratch directory per
# test, and bats-assert / bats-support from Debian's packages.
bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

: "${JRN_BIN:=$BATS_TEST_DIRNAME/../build/bin}"
: "${JRN_GEN:=$BATS_TEST_DIRNAME/../build/jrn-gen}"
PATH=$JRN_BIN:$PATH
export JRN_NOW=2026-01-01T00:00:00Z
unset JRN_DB JRN_CONFIG JRN_LOG

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# ev TYPE CUSTOMER [EXTRA-JSON-MEMBERS]: one event line
ev() {
	printf '{"type":"%s","customerId":"%s","timestamp":"2025-06-01T12:00:00.000Z"%s}\n' "$1" "$2" "${3:+,$3}"
}

# rows SQL: one query's result from the state file ./jrn.db
rows() {
	sqlite3 jrn.db "$1"
}
