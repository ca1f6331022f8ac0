#!/usr/bin/env bats
# The official Mustache spec (t/fixtures/mustache, MIT licence), every case
# of the six required modules, through lib/mustache.c: the templates
# jrn-send renders are held to it. One test per module; a failing case is
# printed with its name, template, expected and actual output.

load helpers

render_module() {
	local spec=$BATS_TEST_DIRNAME/fixtures/mustache/$1.json
	local render=${JRN_MUSTACHE:-$BATS_TEST_DIRNAME/../build/mustache-render}
	[ -x "$render" ] || skip "no $render (make check builds it)"
	jq -c '.tests[] | {template, data, partials: (.partials // {})}' "$spec" > cases.ndjson
	jq -c '.tests[] | .expected' "$spec" > expected.ndjson
	"$render" < cases.ndjson > actual.ndjson
	local n; n=$(wc -l < cases.ndjson)
	[ "$n" -gt 0 ]
	[ "$(wc -l < actual.ndjson)" -eq "$n" ]
	local bad=0 i
	for ((i = 1; i <= n; i++)); do
		if [ "$(sed -n "${i}p" expected.ndjson)" != "$(sed -n "${i}p" actual.ndjson)" ]; then
			bad=$((bad + 1))
			echo "FAIL: $(jq -r ".tests[$((i - 1))].name" "$spec")"
			echo "  template: $(jq -c ".tests[$((i - 1))].template" "$spec")"
			echo "  expected: $(sed -n "${i}p" expected.ndjson)"
			echo "  actual:   $(sed -n "${i}p" actual.ndjson)"
		fi
	done
	echo "$1: $((n - bad)) of $n cases pass"
	[ "$bad" -eq 0 ]
}

@test "mustache spec: comments, every case" { render_module comments; }
@test "mustache spec: delimiters, every case" { render_module delimiters; }
@test "mustache spec: interpolation, every case" { render_module interpolation; }
@test "mustache spec: inverted, every case" { render_module inverted; }
@test "mustache spec: partials, every case" { render_module partials; }
@test "mustache spec: sections, every case" { render_module sections; }

@test "mustache spec: all 136 required cases are there" {
	local total=0 m
	for m in comments delimiters interpolation inverted partials sections; do
		total=$((total + $(jq '.tests | length' "$BATS_TEST_DIRNAME/fixtures/mustache/$m.json")))
	done
	assert_equal "$total" 136
}
