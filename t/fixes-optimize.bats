#!/usr/bin/env bats
# Bug 3 (session 9, "fixes"): jrn-ai optimize acts only on touchpoint
# events (ai.touchpoints, jrn-ai(1) TOUCHPOINTS); other events, even with
# a state, pass through unchanged and yield no action.

load helpers

# an event of TYPE for c1 with a state (what jrn-ai state gives it)
stated() {
	printf '{"type":"%s","customerId":"c1","email":"a@example.com","state":{"journeyStage":"retention","segment":"churned"}%s}\n' "$1" "${2:+,$2}"
}

@test "optimize: consent.revoked, email.delivered and sms.failed pass through with no action; page.viewed and cart.abandoned get actions" {
	{
		stated consent.revoked
		stated email.delivered
		stated page.viewed
		stated sms.failed
		stated cart.abandoned
	} > in.ndjson
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	run jq -r 'if .actionType then "  " + .campaignId else .type end' <<< "$output"
	assert_output 'consent.revoked
email.delivered
page.viewed
  winback
  winback-last
sms.failed
cart.abandoned
  winback
  winback-last'
	# through unchanged, byte for byte
	assert_equal "$(sed -n 1p <<< "$(jrn-ai optimize in.ndjson 2> /dev/null)")" "$(sed -n 1p in.ndjson)"
	[[ "$stderr" == *"(3 events through)"* ]]
}

@test "optimize: the same through the whole-record path (a jrn-merge profile object) and with the cache on" {
	{
		stated consent.revoked '"profile":{"customerId":"c1","email":"a@example.com"}'
		stated order.completed '"profile":{"customerId":"c1","email":"a@example.com"}'
	} > in.ndjson
	printf 'ai:\n  cache:\n    rules: true\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize --config jrn.yaml in.ndjson
	assert_success
	run jq -r 'if .actionType then "  " + .campaignId else .type end' <<< "$output"
	assert_output 'consent.revoked
order.completed
  winback
  winback-last'
}

@test "optimize: ai.touchpoints replaces the list; a trailing * matches a prefix; a profile without type is always answered" {
	printf 'ai:\n  touchpoints: ["consent.*"]\n' > jrn.yaml
	{
		stated consent.revoked
		stated page.viewed
		printf '{"customerId":"c2","state":{"journeyStage":"retention","segment":"churned"}}\n'
	} > in.ndjson
	run --separate-stderr jrn-ai optimize --config jrn.yaml in.ndjson
	assert_success
	run jq -r 'if .actionType then "  " + .campaignId else (.type // .customerId) end' <<< "$output"
	assert_output 'consent.revoked
  winback
  winback-last
page.viewed
c2
  winback
  winback-last'
}

@test "optimize: a bad ai.touchpoints is a configuration error naming the key" {
	printf 'ai:\n  touchpoints: [1]\n' > jrn.yaml
	echo '{}' > in.ndjson
	run jrn-ai optimize --config jrn.yaml in.ndjson
	assert_failure 1
	assert_output --partial 'touchpoints'
	printf 'ai:\n  touchpoints: ["a*b"]\n' > jrn.yaml
	run jrn-ai optimize --config jrn.yaml in.ndjson
	assert_failure 1
	assert_output --partial "ai.touchpoints"
	assert_output --partial "only at the end"
}
