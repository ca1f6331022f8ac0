# Loaded by every Bats file: the tools under test, a scratch directory per
# test, and bats-assert / bats-support from Debian's packages.
bats_require_minimum_version 1.5.0
# Their files sourced by name, not through their load.bash: each of those
# lines runs $(dirname ...), 15 forks a test, which on this project's VMs
# took more time than a small test's own work (0.4 s a test).
for _jrn_f in /usr/lib/bats/bats-support/src/output.bash \
	/usr/lib/bats/bats-support/src/error.bash \
	/usr/lib/bats/bats-support/src/lang.bash \
	/usr/lib/bats/bats-assert/src/*.bash; do
	source "$_jrn_f" || return 1
done
unset _jrn_f

: "${JRN_BIN:=$BATS_TEST_DIRNAME/../build/bin}"
: "${JRN_GEN:=$BATS_TEST_DIRNAME/../build/jrn-gen}"
PATH=$JRN_BIN:$PATH
export JRN_NOW=2026-01-01T00:00:00Z
unset JRN_DB JRN_CONFIG JRN_LOG

# make deps installs every tool a test uses, so under CI=true a test that
# would skip for a missing tool (or test peer) fails instead. Skips for
# other reasons (a sanitized build) stay skips.
if [ "${CI:-}" = true ]; then
	# bats' skip, renamed: its text read back from a file, not through
	# $(...), which costs a fork a test
	declare -f skip > "${BATS_RUN_TMPDIR:-/tmp}/jrn-skip.$$" &&
		read -r -d '' _jrn_def < "${BATS_RUN_TMPDIR:-/tmp}/jrn-skip.$$"
	eval "_jrn_bats_skip${_jrn_def#skip}"
	unset _jrn_def
	skip() {
		case ${1:-} in
		"no "* | "test peers not installed"*)
			echo "# CI=true: '$1' (make deps should have installed it)" >&3
			return 1 ;;
		esac
		_jrn_bats_skip "$@"
	}
fi

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
