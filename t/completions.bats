#!/usr/bin/env bats
# Shell completion for jrn, jrn-ingest and jrn-send; the man pages lint clean.

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

@test "jrn privacy completes its verbs, and erase's options" {
	run complete_words _jrn jrn pri
	assert_output privacy
	run complete_words _jrn jrn privacy e
	assert_output "$(printf 'export\nerase')"
	run complete_words _jrn jrn privacy erase --
	assert_line --dry-run
	assert_line --spool
	run complete_words _jrn jrn privacy export --
	refute_line --dry-run
	refute_line --spool
	mkdir -p spooldir && touch spoolfile
	run complete_words _jrn jrn privacy erase --spool spool
	assert_output spooldir
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

@test "jrn-ingest completes --listen and its address" {
	run complete_words _jrn_ingest jrn-ingest --lis
	assert_output --listen
	run complete_words _jrn_ingest jrn-ingest --listen 127
	assert_output 127.0.0.1:8080
}

send_words() { # WORD...: what jrn-send's completion offers for the last WORD
	bash -c '. "$1"/jrn.bash; . "$1"/jrn-send.bash; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jrn_send; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$@"
}

@test "jrn-send completes its options" {
	run send_words jrn-send --ba
	assert_output --batch-size
	run send_words jrn-send --sp
	assert_output --spool
	run send_words jrn-send --d
	assert_line --due
	assert_line --db
	assert_line --dry-run
	refute_line --resend
}

@test "jrn-send offers --resend only after --stuck, and no FILEs after --due" {
	run send_words jrn-send --stuck --res
	assert_output --resend
	run send_words jrn-send --due --st
	assert_output ""
	mkdir -p actions && touch actions/a.ndjson
	run send_words jrn-send --due actions/
	assert_output ""
	run send_words jrn-send actions/
	assert_output actions/a.ndjson
}

@test "jrn-send completes directories after --spool, nothing after --parallel" {
	mkdir -p spooldir && touch spoolfile
	run send_words jrn-send --spool spool
	assert_output spooldir
	run send_words jrn-send --parallel ""
	assert_output ""
}

@test "jrn hands over to jrn-send's completion" {
	run bash -c '. "$1"/jrn.bash; . "$1"/jrn-send.bash
		COMP_WORDS=(jrn send --stuck --res); COMP_CWORD=3; COMP_LINE="jrn send --stuck --res"
		COMP_POINT=${#COMP_LINE}; _jrn; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions"
	assert_output --resend
}

route_words() { # WORD...: what jrn-route's completion offers for the last WORD
	bash -c '. "$1"/jrn-route.bash; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jrn_route; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$@"
}

@test "jrn-route completes its options, files after --config, nothing after --now" {
	run route_words jrn-route --d
	assert_line --db
	assert_line --dry-run
	refute_line --due
	run route_words jrn-route --journeys
	assert_output --journeys
	run route_words jrn-route --ch
	assert_output "$(printf -- '--check\n--check-config')"
	touch route.yaml
	run route_words jrn-route --config rou
	assert_output route.yaml
	run route_words jrn-route --now ""
	assert_output ""
}

@test "jrn-route completes its modes, directories after --journeys, journey names after --check" {
	run route_words jrn-route --
	for o in --journeys --tick --simulate --check --explain; do assert_line "$o"; done
	run route_words jrn-route --s
	assert_output --simulate
	mkdir -p flows/sub journeys
	touch flows/cart.yaml flows/welcome.yml flows/notes.txt journeys/other.yaml
	run route_words jrn-route --journeys fl
	assert_output flows
	run route_words jrn-route --journeys flows/
	assert_output flows/sub
	run route_words jrn-route --journeys flows --check ""
	assert_equal "$(sort <<< "$output" | tr '\n' ' ')" 'cart welcome '
	run route_words jrn-route --check --journeys=flows c
	assert_output cart
	# no --journeys: ./journeys
	run route_words jrn-route --check ""
	assert_output other
	# nothing to offer after --explain (a customer id) or in an empty place
	run route_words jrn-route --explain ""
	assert_output ""
	run route_words jrn-route --journeys nowhere --check ""
	assert_output ""
}

# tool_words FILE FUNCTION WORD...: what FUNCTION of completions/FILE
# offers for the last WORD
tool_words() {
	bash -c '. "$1/$2"; fn=$3; shift 3
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$fn"; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$@"
}

@test "every tool completes --check-config, with or without its command; jrn's verbs do not" {
	run tool_words jrn.bash _jrn_ingest jrn-ingest --check-c
	assert_output --check-config
	for t in merge segment send route; do
		run tool_words "jrn-$t.bash" "_jrn_$t" "jrn-$t" --check-c
		assert_output --check-config
	done
	for w in "" rfm clv lead; do
		run tool_words jrn-score.bash _jrn_score jrn-score $w --check-c
		assert_output --check-config
	done
	for w in "" state eval; do
		run tool_words jrn-ai.bash _jrn_ai jrn-ai $w --check-c
		assert_output --check-config
	done
	for w in "" funnel; do
		run tool_words jrn-report.bash _jrn_report jrn-report $w --check-c
		assert_output --check-config
	done
	run complete_words _jrn jrn queue --check-c
	assert_output ""
	# zsh: each tool's _arguments, not the verbs'
	run grep -c '_arguments -s -S $_jrn_common $_jrn_check_config' \
		"$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 8
}

@test "the zsh completion parses" {
	command -v zsh > /dev/null || skip "no zsh here"
	run zsh -n "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_success
	# jrn-route has its case in the dispatch
	run grep -c '^jrn-route) _jrn_route' "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 1
}

@test "every man page is clean roff" {
	command -v groff > /dev/null || skip "no groff"
	local f
	for f in "$BATS_TEST_DIRNAME"/../man/*.[1-9]; do
		run groff -man -ww -z "$f"
		assert_success
		assert_output ""
	done
}

report_words() { # WORD...: what jrn-report's completion offers for the last WORD
	bash -c '. "$1"/jrn-report.bash; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jrn_report; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$@"
}

@test "jrn-report completes its kinds, each kind's options and --format's values" {
	run report_words jrn-report ""
	assert_output "$(printf '%s\n' metrics funnel attribution cohorts experiment journeys rfm kpis)"
	run report_words jrn-report f
	assert_output funnel
	run report_words jrn-report metrics --sa
	assert_output --save
	run report_words jrn-report metrics --st
	assert_output ""
	run report_words jrn-report funnel --st
	assert_output --steps
	run report_words jrn-report cohorts --format ""
	assert_output "$(printf '%s\n' ndjson table csv html)"
	run report_words jrn-report cohorts --period w
	assert_output week
	run report_words jrn-report metrics --by ca
	assert_output campaign
	run report_words jrn-report --
	assert_output "$(printf '%s\n' --help --version --check-config)"
	# zsh: the dispatch names jrn-report
	run grep -c '^jrn-report) _jrn_report' "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 1
}

@test "jrn-ingest completes --publish, --from, --partitions and --drain" {
	run complete_words _jrn_ingest jrn-ingest --pub
	assert_output --publish
	run complete_words _jrn_ingest jrn-ingest --dr
	assert_line --drain
	assert_line --dry-run
	assert_equal "${#lines[@]}" 2
	run complete_words _jrn_ingest jrn-ingest --from nats
	assert_output nats://127.0.0.1:4222
	run complete_words _jrn_ingest jrn-ingest --partitions 0
	assert_line 0-7
	assert_line 0/8
	refute_line 4-7
	grep -q -- "--publish=\[" "$BATS_TEST_DIRNAME/../completions/_jrn"
	grep -q -- "--partitions=\[" "$BATS_TEST_DIRNAME/../completions/_jrn"
}

@test "jrn partition completes its verbs and each form's options" {
	run complete_words _jrn jrn par
	assert_output partition
	run complete_words _jrn jrn partition ""
	assert_line export
	assert_line import
	assert_line drop
	run complete_words _jrn jrn partition --
	assert_line --of
	assert_line --field
	refute_line --dry-run
	run complete_words _jrn jrn partition export 1 --
	assert_line --of
	assert_line --output
	refute_line --field
	run complete_words _jrn jrn partition drop 1 --
	refute_line --output
	touch p1.db
	run complete_words _jrn jrn partition import p1
	assert_output p1.db
	run complete_words _jrn jrn partition export 1 -o p1
	assert_output p1.db
	run grep -c "'partition:" "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 1
}

@test "jrn help completes the tools and jrn's own commands" {
	run complete_words _jrn jrn help l
	assert_output log
	run complete_words _jrn jrn help q
	assert_output queue
	run complete_words _jrn jrn help in
	assert_line ingest
	assert_line init
}
