#!/usr/bin/env bats
# Shell completion for jrn and jrn-ingest.

load helpers

complete_words() { # FUNCTION WORD...: what FUNCTION offers for the last WORD
	local fn=$1
	shift
	bash -c '. "$1"/jrn.bash; fn=$2; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$fn"; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$fn" "$@"
}

@test "jrn completes its tools and commands" {
	run complete_words _jrn jrn in
	assert_success
	assert_line ingest
	assert_line init
}

@test "jrn hands over to jrn-ingest's completion" {
	run complete_words _jrn jrn ingest --store
	assert_output --store-only
}

@test "jrn-ingest completes its options and their arguments" {
	run complete_words _jrn_ingest jrn-ingest --ba
	assert_output --batch-size
	run complete_words _jrn_ingest jrn-ingest --country G
	assert_output GB
}

@test "the zsh completion parses" {
	command -v zsh > /dev/null || skip "no zsh here"
	run zsh -n "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_success
}
