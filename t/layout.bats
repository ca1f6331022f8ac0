#!/usr/bin/env bats
# The layout's rules (README "Layout", issue 8): sizes, one home per write
# path, no repeated pieces. Read from the source tree, not the build.

load helpers

src() { cd "$BATS_TEST_DIRNAME/.." || return 1; }

@test "no file over 1,500 lines, no function over 150 (unless long: says why), main under 80" {
	src
	run python3 t/layout.py
	assert_success
	assert_output ''
}

@test "the layout check finds a long function (it can fail)" {
	src
	mkdir -p "$BATS_TEST_TMPDIR/cmd"
	{ echo 'int f(void)'; echo '{'; for i in $(seq 160); do echo '	x();'; done; echo '}'; } \
		> "$BATS_TEST_TMPDIR/cmd/long.c"
	cp t/layout.py "$BATS_TEST_TMPDIR/"
	cd "$BATS_TEST_TMPDIR"
	run python3 layout.py
	assert_failure
	assert_output --partial 'cmd/long.c:1: f is 163 lines'
}

@test "the SMTP provider is named only in its file and the provider table" {
	src
	run bash -c "grep -ln 'P_SMTP\|\"smtp\"' cmd/jrn-send/*.c | sort"
	assert_success
	assert_output 'cmd/jrn-send/smtp.c'
	# and the table names it by its ops, one row
	run grep -c '&smtp_ops' cmd/jrn-send/providers.c
	assert_output 1
}

@test "consent and suppressions are written only by lib/reach.c" {
	src
	run bash -c "grep -rniE '(insert|replace)( or [a-z]+)? into (consent|suppressions)|update (consent|suppressions)|delete from (consent|suppressions)' cmd lib | cut -d: -f1 | sort -u"
	assert_output 'lib/reach.c'
}

@test "deliveries and outbox are written only by lib/ledger.c" {
	src
	run bash -c "grep -rniE '(insert|replace)( or [a-z]+)? into (deliveries|outbox)|update (deliveries|outbox)|delete from (deliveries|outbox)' cmd lib | cut -d: -f1 | sort -u"
	assert_output 'lib/ledger.c'
}

@test "profiles, identities and merges are written only by lib/profile.c" {
	src
	run bash -c "grep -rniE '(insert|replace)( or [a-z]+)? into (profiles|identities|merges)\\b|update (profiles|identities|merges)\\b|delete from (profiles|identities|merges)\\b' cmd lib | cut -d: -f1 | sort -u"
	assert_output 'lib/profile.c'
}

@test "no tool keeps its own die(), option loop, FNV hash or hash table" {
	src
	run grep -rnE '^static int (die|say)\(|getopt_long\(|0x100000001b3|1099511628211|0xcbf29ce484222325|14695981039346656037' cmd lib
	# the one option loop and the one hash are lib/tool.c's
	refute_output --partial 'cmd/'
	run bash -c "grep -rlE 'getopt_long\(|0x100000001b3' lib | sort"
	assert_output 'lib/tool.c'
}

@test "every tool ends its run through jrn_finish and speaks through jrn_say" {
	src
	for t in jrn-ingest jrn-segment jrn-score jrn-send; do
		f=cmd/$t.c; [ -e "$f" ] || f=cmd/$t/main.c
		run bash -c "cat cmd/$t.c cmd/$t/*.c 2>/dev/null | grep -c 'jrn_finish('"
		refute_output 0
		run grep -c 'jrn_opts_parse' "$f"
		assert_output 1
	done
}
