#!/usr/bin/env bats
# jrn-ai state and optimize on the rules model: the documented mapping on
# fixed profiles, the demo data, the cache and its TTL, --budget,
# --dry-run, the allow-list, and bad input. (The openai model is
# t/jrn-ai-openai.bats.)

load helpers

# a state file from the start, as a user's project has one (jrn-ai says
# when it has to make one: see the test of that)
setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	jrn-ingest -q < /dev/null
}

# at DAYS: the time DAYS before JRN_NOW (2026-01-01T00:00:00Z), at noon
# of the day before, RFC 3339
at() {
	date -u -d "@$((1767225600 - $1 * 86400 - 43200))" +%Y-%m-%dT%H:%M:%SZ
}

# evt TYPE CUSTOMER DAYS-AGO: one event
evt() {
	printf '{"type":"%s","customerId":"%s","timestamp":"%s"}\n' "$1" "$2" "$(at "$3")"
}

# prof ID ORDERS TOTAL LAST-ORDER-DAYS-AGO|- FIRST-SEEN-DAYS-AGO [MEMBERS]:
# a profile as jrn-merge writes it, with a summary
prof() {
	local last=""
	[ "$4" != - ] && last=",\"lastOrder\":{\"at\":\"$(at "$4")\"}"
	printf '{"customerId":"%s","profile":{"customerId":"%s","summary":{"orders":%s,"orderTotal":%s,"firstSeen":"%s"%s}}%s}\n' \
		"$1" "$1" "$2" "$3" "$(at "$5")" "$last" "${6:+,$6}"
}

# st FIELD...: each state record's customerId and FIELDs, space-separated
st() {
	jq -r --args '[.customerId] + [.state[$ARGS.positional[]] | tostring] | join(" ")' "$@"
}

@test "state: the journey stage from the order history and its recency" {
	{
		evt page.viewed consider 3
		evt cart.added cart 3
	} | jrn-ingest -q > /dev/null
	{
		prof aware 0 0 - 200
		prof consider 0 0 - 200
		prof cart 0 0 - 200
		prof first 1 20 10 200
		prof lapsed1 1 20 40 200
		prof repeat 2 40 100 200
		prof fan 6 600 10 300
		prof oldfan 6 600 91 300
	} > in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	run st journeyStage <<< "$output"
	assert_equal "$output" "aware awareness
consider consideration
cart purchase
first purchase
lapsed1 retention
repeat retention
fan advocacy
oldfan retention"
}

@test "state: the engagement level from opens, clicks and visits in 7 and 30 days" {
	{
		for i in 1 2 3; do evt page.viewed high "$i"; done
		for i in 2 3 4 5 6; do evt email.opened high2 "$i"; done
		evt email.opened medium 2
		for i in 20 21 22; do evt email.clicked medium2 "$i"; done
		evt email.opened low 20
		evt email.opened inactive 40
	} | jrn-ingest -q > /dev/null
	for c in high high2 medium medium2 low inactive; do prof "$c" 0 0 - 100; done > in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	run st engagementLevel <<< "$output"
	assert_equal "$output" "high high
high2 high
medium medium
medium2 medium
low low
inactive inactive"
}

@test "state: churn risk is 1 - clv.pAlive, else the recency curve; value from clv, else spend" {
	{
		prof clv 3 300 10 100 '"clv":{"pAlive":0.8,"predictedValue":123.456}'
		prof nested 3 300 10 100
		prof curve 2 200 90 300
		prof recent 2 200 0 300
		prof none 0 0 - 300
	} > in.ndjson
	# the same clv under profile.scores (jrn-merge's place) for "nested"
	jq -c 'if .customerId == "nested" then .profile.scores = {clv: {pAlive: 0.25}} else . end' in.ndjson > in2.ndjson
	evt page.viewed active 5 | jrn-ingest -q > /dev/null
	prof active 0 0 - 300 >> in2.ndjson
	run --separate-stderr jrn-ai state in2.ndjson
	assert_success
	run st churnRiskScore predictedLifetimeValue segment <<< "$output"
	# nested: no predictedValue, so 300 * (1 - 0.75); curve: 1 - exp(-90/90)
	# = 0.6321, 200 * (1 - 0.6321) = 73.58, and 90 days is not yet at risk
	assert_equal "$output" "clv 0.2 123.46 loyal
nested 0.75 75 at_risk
curve 0.6321 73.58 active
recent 0 200 active
none 0.7 0 new
active 0.3 0 new"
}

@test "state: segment from the RFM segment's name, else from orders and recency" {
	{
		prof v 1 10 5 100 '"rfm":{"segment":"VIP","monetary":10}'
		prof h 1 10 5 100 '"rfm":{"segment":"Hibernating"}'
		prof a 1 10 5 100 '"rfm":{"segment":"At Risk"}'
		prof many 10 1000 5 300
		prof three 3 300 5 300
		prof gone 3 300 200 400
		prof fresh 1 10 5 20
	} > in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	run st segment <<< "$output"
	assert_equal "$output" "v vip
h churned
a at_risk
many vip
three loyal
gone churned
fresh new"
}

@test "state: next best actions from the playbook, interests from traits and categories" {
	printf '{"type":"product.viewed","customerId":"c1","timestamp":"%s","properties":{"category":"lamps"}}\n' "$(at 2)" "$(at 3)" | jrn-ingest -q > /dev/null
	printf '{"type":"cart.added","customerId":"c1","timestamp":"%s","properties":{"category":"mugs"}}\n' "$(at 2)" | jrn-ingest -q > /dev/null
	prof c1 0 0 - 50 '"firstName":"Ann","traits":{"interests":["tea","lamps"]}' > in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(jq -c '.state | [.journeyStage, .nextBestActions, .interests]' <<< "$output")" \
		'["purchase",["cart-5off","cart-10off"],["tea","lamps","mugs"]]'
}

@test "state: every input key kept, events through byte for byte, provenance members" {
	{
		printf '{"customerId":"c1","n":1.0000000000000001,"big":9007199254740993,"x":{"y":[1,2]},"email":"a@example.com"}\n'
		printf '{"type":"page.viewed","customerId":"c1","n":1.0000000000000001 }\n'
		printf '{"customerId":"c2","state":{"old":true}}\n'
	} > in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_regex "${lines[0]}" '^\{"customerId":"c1","n":1.0000000000000001,"big":9007199254740993,"x":\{"y":\[1,2\]\},"email":"a@example.com","state":\{"segment":"new",'
	assert_equal "${lines[1]}" '{"type":"page.viewed","customerId":"c1","n":1.0000000000000001 }'
	# a state already there is replaced, not doubled
	assert_equal "$(jq -c '.state | [.source, .model, .tokens, .cost, .cached, (.promptVersion | length), has("old")]' <<< "${lines[2]}")" \
		'["rules","rules",0,0,false,12,false]'
	assert_equal "$stderr" "jrn-ai: state: 3 records (1 event through), model rules: 2 answered, 0 from the cache, 2 questions asked, 0 fallbacks, 0 actions dropped, 0 rejected; 0 tokens, cost 0.0000"
}

@test "an action (a string actionType) goes through unchanged: not a customer to ask about, in state and optimize, read lightly or whole" {
	printf '{"customerId":"c1","city":"Bern"}\n' > p.ndjson
	run --separate-stderr jrn-ai state p.ndjson
	assert_success
	printf '%s\n' "$output" > st.ndjson
	run --separate-stderr jrn-ai optimize st.ndjson
	assert_success
	printf '%s\n' "$output" > out.ndjson
	[ "$(grep -c '"actionType"' out.ndjson)" -ge 1 ] || fail "no action: $output"
	# optimize's output again (its record and its actions), and an action
	# with escapes and a profile (read whole, not lightly) and one with a
	# state (optimize's record read whole): the actions come out as they
	# went in, byte for byte, and nothing is asked for them
	grep '"actionType"' out.ndjson > acts.ndjson
	printf '{"actionType":"sms","customerId":"c\\u0031","profile":{"customerId":"c1"} }\n' >> acts.ndjson
	printf '{"actionType":"email","customerId":"c1","state":{"journeyStage":"purchase"}}\n' >> acts.ndjson
	printf '{"customerId":"c1","action\\u0054ype":"webhook"}\n' >> acts.ndjson
	local n
	n=$(wc -l < acts.ndjson)
	local task conf
	for task in state optimize; do
		for conf in "" cache; do
			[ "$conf" ] && printf 'ai:\n  cache: {ttl: 7d, rules: true}\n' > c.yaml
			run --separate-stderr jrn-ai "$task" ${conf:+--config c.yaml} acts.ndjson
			assert_success
			assert_equal "$output" "$(cat acts.ndjson)"
			assert_equal "$stderr" "jrn-ai: $task: $n records (0 events, $n actions through), model rules: 0 answered, 0 from the cache, 0 questions asked, 0 fallbacks, 0 actions dropped, 0 rejected; 0 tokens, cost 0.0000"
		done
	done
	# beside a customer's record and an event: each in its place
	{ head -1 st.ndjson; head -1 acts.ndjson; printf '{"type":"page.viewed","customerId":"c1"}\n'; } > mixed.ndjson
	run --separate-stderr jrn-ai state mixed.ndjson
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "${lines[1]}" "$(head -1 acts.ndjson)"
	assert_equal "$(jq -r .state.source <<< "${lines[0]}")" rules
	[[ $stderr == *"3 records (1 event, 1 action through)"* ]] || fail "$stderr"
}

@test "optimize: each record through unchanged, then its actions with recipients from the profile" {
	{
		printf '{"customerId":"c1","email":"a@example.com","phone":"+14155550100","state":{"journeyStage":"purchase","segment":"new"}}\n'
		printf '{"type":"page.viewed","customerId":"c1"}\n'
		printf '{"customerId":"c2","state":{"journeyStage":"retention","segment":"churned"}}\n'
	} > in.ndjson
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "${lines[0]}" "$(sed -n 1p in.ndjson)"
	assert_equal "${lines[1]}" '{"customerId":"c1","actionType":"email","messageContent":"5% off what is in your cart.","campaignId":"cart-5off","recipientEmail":"a@example.com","recipientPhone":"+14155550100","subject":"Your cart is waiting","timing":"1h","metricsToTrack":["clicks","conversions"],"sendAt":"2026-01-01T01:00:00.000Z","source":"rules","model":"rules","promptVersion":"'"$(sha256sum "$BATS_TEST_DIRNAME/../share/jrn/prompts/optimize.txt" | cut -c1-12)"'","tokens":0,"cost":0,"cached":false}'
	assert_equal "$(jq -c '[.actionType, .campaignId, .recipientPhone]' <<< "${lines[2]}")" '["sms","cart-10off","+14155550100"]'
	assert_equal "${lines[3]}" '{"type":"page.viewed","customerId":"c1"}'
	assert_equal "${lines[4]}" "$(sed -n 3p in.ndjson)"
	# churned wins over the stage: the win-back pair, no recipients to fill
	assert_equal "$(jq -c '[.campaignId, has("recipientEmail")]' <<< "${lines[5]}")" '["winback",false]'
	assert_equal "$(jq -c '[.campaignId, .timing]' <<< "${lines[6]}")" '["winback-last","72h"]'
	assert_equal "${#lines[@]}" 7
}

@test "optimize: a profile without a state gets the rules state of its facts first" {
	prof c1 6 600 10 300 > in.ndjson
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(jq -sc '.[1:] | map(.campaignId)' <<< "$output")" '["vip-reward"]'
}

# insight AT DIMENSION GROUP-KEY METRICS [TREND]: one row of a
# jrn-report metrics --save run computed at AT (ms), as sqlite3 writes it
insight() {
	local trend=NULL
	[ -n "${5-}" ] && trend="'$5'"
	[ -f jrn.db ] || jrn-ai state -q < /dev/null
	sqlite3 jrn.db "INSERT INTO insights VALUES ('metrics', $1, '$2', '$3',
		$(($1 - 86400000)), $1, '$4', $trend)"
}

# purchase: a record in the purchase stage (playbook: email cart-5off,
# then sms cart-10off)
purchase() {
	printf '{"customerId":"c1","state":{"segment":"active","engagementLevel":"high","journeyStage":"purchase","nextBestActions":[],"predictedLifetimeValue":1,"churnRiskScore":0.1,"interests":[]}}\n'
}

# the action records' channels, in order
channels() {
	jq -sr '.[1:] | map(.actionType) | join(",")' <<< "$output"
}

H=1767222000000 # 2025-12-31T23:00:00Z, an hour before JRN_NOW

@test "insights: the latest hour's channel rows order the playbook's channels, conversion rate first, then click rate" {
	purchase > in.ndjson
	# an older hour says the opposite, a later one is after --now: neither counts
	insight $((H - 3600000)) channel '["email"]' '{"sent":900,"conversionRate":0.09}'
	insight $((H + 7200000)) channel '["email"]' '{"sent":900,"conversionRate":0.09}'
	insight $H all '[]' '{"sent":900,"conversionRate":0.02}'
	insight $H channel '["email"]' '{"sent":800,"conversionRate":0.01,"clickRate":0.3}'
	insight $H channel '["sms"]' '{"sent":100,"conversionRate":0.05,"clickRate":0.1}'
	run --separate-stderr jrn-ai optimize -v in.ndjson
	assert_success
	assert_equal "$(channels)" sms,email
	assert_regex "$stderr" 'insights of 2025-12-31T23:00:00.000Z: 3 rows, in the optimize prompt'
	assert_equal "$(jq -sr '.[1:] | map(.campaignId) | join(",")' <<< "$output")" cart-10off,cart-5off
	# sms has 100 sends: below ai.insights.minSends 101 the playbook's order stays
	printf 'ai:\n  insights: {minSends: 101}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(channels)" email,sms
	# a bad minSends is a config error naming the key
	printf 'ai:\n  insights: {minSends: 0}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'minSends'
	rm jrn.yaml
	# equal conversion rates: the click rate decides; equal both: the playbook's order
	sqlite3 jrn.db "UPDATE insights SET metrics = json_set(metrics, '$.conversionRate', 0.05) WHERE computed_at = $H"
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_equal "$(channels)" email,sms
	sqlite3 jrn.db "UPDATE insights SET metrics = json_set(metrics, '$.clickRate', 0.1) WHERE computed_at = $H"
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_equal "$(channels)" email,sms
	# no conversion rate on either: by click rate
	sqlite3 jrn.db "UPDATE insights SET metrics = json_remove(json_set(metrics, '$.clickRate', 0.4), '$.conversionRate') WHERE computed_at = $H AND group_key = '[\"sms\"]'"
	sqlite3 jrn.db "UPDATE insights SET metrics = json_remove(metrics, '$.conversionRate') WHERE computed_at = $H AND group_key = '[\"email\"]'"
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_equal "$(channels)" sms,email
	# jrn-ai state reads no insights
	run --separate-stderr jrn-ai state -v < /dev/null
	refute_regex "$stderr" insights
}

@test "insights: none in the state file, the optimizer works as without them; a bad row is said once and ignored" {
	purchase > in.ndjson
	run --separate-stderr jrn-ai optimize -v in.ndjson
	assert_success
	refute_regex "$stderr" insights
	assert_equal "$(channels)" email,sms
	without=$output
	# rows whose metrics, group_key or trend do not read: ignored, said once
	insight $H channel '["sms"]' 'not json' '{"conversionRate":0.01}'
	insight $H channel '["email"]' '[1]'
	insight $H campaign '{"a":1}' '{"sent":5}'
	insight $H all '[]' '{"sent":9}' '"up"'
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$output" "$without"
	assert_equal "$(grep -c insights <<< "$stderr")" 1
	assert_regex "$stderr" 'insights of 2025-12-31T23:00:00.000Z: 4 rows ignored \(the first: all \[\]: trend: neither NULL nor a JSON object\)'
	# -q: not said
	run --separate-stderr jrn-ai optimize -q in.ndjson
	assert_success
	assert_equal "$stderr" ""
	# good rows beside the bad ones count; a channel without a good row
	# keeps its place
	sqlite3 jrn.db "UPDATE insights SET metrics = '{\"sent\":500,\"conversionRate\":0.2}' WHERE group_key = '[\"sms\"]'"
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(channels)" email,sms
	assert_regex "$stderr" '3 rows ignored'
	sqlite3 jrn.db "UPDATE insights SET metrics = '{\"sent\":500,\"conversionRate\":0.1}' WHERE group_key = '[\"email\"]'"
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(channels)" sms,email
	assert_regex "$stderr" '2 rows ignored'
}

@test "insights: a new hour's insights are a cache miss for optimize (ai.cache.rules)" {
	printf 'ai:\n  cache: {ttl: 7d, rules: true}\n' > jrn.yaml
	purchase > in.ndjson
	insight $H all '[]' '{"sent":9}'
	run --separate-stderr jrn-ai optimize -v in.ndjson
	assert_regex "$stderr" 'asking rules 1 optimize question'
	run --separate-stderr jrn-ai optimize -v in.ndjson
	assert_regex "$stderr" '1 answered, 1 from the cache'
	assert_equal "$(jq -sr '.[1].source' <<< "$output")" cache
	insight $((H + 1800000)) all '[]' '{"sent":10}'
	run --separate-stderr jrn-ai optimize -v in.ndjson
	assert_regex "$stderr" 'asking rules 1 optimize question'
	assert_equal "$(jq -sr '.[1].source' <<< "$output")" rules
	assert_equal "$(rows 'SELECT count(*) FROM ai_cache WHERE task = "optimize"')" 2
}

@test "optimize: an action's timing becomes its sendAt (a delay from now, a time), which jrn-route holds it to; cached answers alike" {
	cat > jrn.yaml <<'Y'
ai:
  cache:
    rules: true
  playbook:
    awareness:
      - {actionType: email, campaignId: a1, messageContent: hi, timing: 24h}
      - {actionType: email, campaignId: a2, messageContent: hi, timing: "in 3 days"}
      - {actionType: sms, campaignId: a3, messageContent: hi, timing: "2027-12-24T09:00:00+01:00"}
      - {actionType: email, campaignId: a4, messageContent: hi, timing: now}
      - {actionType: email, campaignId: a5, messageContent: hi, timing: next tuesday}
Y
	echo '{"customerId":"c1","email":"a@example.com","phone":"+14155550100","state":{"journeyStage":"awareness"}}' > st.ndjson
	want='["a1","2026-01-02T00:00:00.000Z"] ["a2","2026-01-04T00:00:00.000Z"] ["a3","2027-12-24T08:00:00.000Z"] ["a4",null] ["a5",null] '
	run jrn-ai optimize -q --now 2026-01-01T00:00:00Z st.ndjson
	assert_success
	assert_equal "$(jq -c 'select(.actionType) | [.campaignId, .sendAt]' <<< "$output" | tr '\n' ' ')" "$want"
	assert_equal "$(jq -r 'select(.campaignId == "a5") | .timing' <<< "$output")" "next tuesday"
	# the cached answer: the same, from the cached text, counted from now
	run jrn-ai optimize -q --now 2026-01-01T00:00:00Z st.ndjson
	assert_equal "$(jq -c 'select(.actionType) | [.campaignId, .sendAt, .cached]' <<< "$output" | jq -c '.[:2]' | tr '\n' ' ')" "$want"
	assert_equal "$(jq -r 'select(.actionType) | .cached' <<< "$output" | sort -u)" true
	run jrn-ai optimize -q --now 2026-01-01T06:00:00Z st.ndjson
	assert_equal "$(jq -r 'select(.campaignId == "a1") | .sendAt' <<< "$output")" 2026-01-02T06:00:00.000Z
	# jrn-route holds each to it
	run bash -c 'jrn-ai optimize -q --now 2026-01-01T00:00:00Z st.ndjson | jrn-route -q --now 2026-01-01T00:00:00Z'
	assert_success
	assert_equal "$(jq -c 'select(.actionType) | [.campaignId, .route.sendAt]' <<< "$output" | head -2 | tr '\n' ' ')" '["a1","2026-01-02T00:00:00.000Z"] ["a2","2026-01-04T00:00:00.000Z"] '
}

@test "ai.playbook replaces a stage's actions; a bad entry is a config error naming it" {
	cat > jrn.yaml <<'EOF'
ai:
  playbook:
    awareness:
      - {actionType: sms, campaignId: hello, messageContent: "Hi"}
EOF
	printf '{"customerId":"c1"}\n' > in.ndjson
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(jq -sc '.[1] | [.actionType, .campaignId, .messageContent]' <<< "$output")" '["sms","hello","Hi"]'
	run --separate-stderr jrn-ai state in.ndjson
	assert_equal "$(jq -c .state.nextBestActions <<< "$output")" '["hello"]'
	printf 'ai:\n  playbook:\n    awareness:\n      - {actionType: fax, campaignId: x, messageContent: y}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:4:9: ai.playbook.awareness[0]: actionType: expected email, sms or retargeting"
	printf 'ai:\n  playbook:\n    later: []\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:3:5: ai.playbook.later: not a journey stage or at_risk, churned"
	printf 'ai:\n  touchpoints: [cart.*, "a*b"]\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:2:25: ai.touchpoints[1]: expected an event type, a '*' only at the end (cart.*)"
}

@test "the allow-list: actions on a channel without a provider, or an unlisted campaign, are dropped and said" {
	printf '{"customerId":"c1","state":{"journeyStage":"purchase","segment":"new"}}\n' > in.ndjson
	printf 'providers:\n  email:\n    - {type: spool, dir: spool}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(jq -sc 'map(.campaignId)' <<< "$output")" '[null,"cart-5off"]'
	assert_equal "$(head -1 <<< "$stderr")" "jrn-ai: c1: action 1 dropped: channel sms has no provider and is not in ai.allow.channels"
	assert_regex "$stderr" '1 action dropped'
	printf 'ai:\n  allow:\n    channels: [sms]\n    campaigns: [cart-10off]\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(jq -sc 'map(.campaignId)' <<< "$output")" '[null,"cart-10off"]'
	assert_equal "$(head -1 <<< "$stderr")" "jrn-ai: c1: action 0 dropped: channel email has no provider and is not in ai.allow.channels"
	printf 'ai:\n  allow:\n    campaigns: [other]\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_equal "$(jq -sc length <<< "$output")" 1
	assert_equal "$(head -1 <<< "$stderr")" "jrn-ai: c1: action 0 dropped: campaign cart-5off is not in ai.allow.campaigns"
}

@test "the demo data: every state and action within the schemas' enums and bounds" {
	# jrn-ai validates every answer against share/jrn/schemas (the rules
	# model's too): one that failed would say source "fallback"
	"$JRN_GEN" -n 20000 -c 500 > ev.ndjson
	jrn-ingest -q --store-only ev.ndjson
	jrn-score rfm -q --save > /dev/null
	jrn-score clv -q --save > /dev/null
	jrn-merge -q --all > profiles.ndjson
	run --separate-stderr jrn-ai state profiles.ndjson
	assert_success
	printf '%s\n' "$output" > state.ndjson
	assert_equal "$(wc -l < state.ndjson)" "$(wc -l < profiles.ndjson)"
	run jq -c 'select((.state.journeyStage | IN("awareness","consideration","purchase","retention","advocacy")) and
		(.state.engagementLevel | IN("high","medium","low","inactive")) and
		(.state.segment | IN("new","active","loyal","vip","at_risk","churned")) and
		.state.churnRiskScore >= 0 and .state.churnRiskScore <= 1 and .state.predictedLifetimeValue >= 0 and
		(.state.nextBestActions | type) == "array" and (.state.interests | type) == "array" and
		.state.source == "rules" | not)' state.ndjson
	assert_output ""
	# every stage and level turns up in 500 customers
	assert_equal "$(jq -r .state.journeyStage state.ndjson | sort -u | wc -l)" 5
	run --separate-stderr jrn-ai optimize state.ndjson
	assert_success
	run jq -c 'select(.actionType) | select((.actionType | IN("email","sms","retargeting")) and
		(.campaignId | type) == "string" and (.messageContent | type) == "string" and .source == "rules" | not)' <<< "$output"
	assert_output ""
}

@test "the cache: a rerun answers from ai_cache (source cache, cached true), nothing computed again" {
	printf 'ai:\n  cache: {ttl: 7d, rules: true}\n' > jrn.yaml
	prof c1 2 50 3 100 > in.ndjson
	prof c2 0 0 - 100 >> in.ndjson
	run --separate-stderr jrn-ai state -v in.ndjson
	assert_success
	assert_regex "$stderr" 'asking rules 2 state questions'
	first=$output
	assert_equal "$(rows 'SELECT count(*), min(task), min(model), min(length(key)) FROM ai_cache')" "2|state|rules|32"
	run --separate-stderr jrn-ai state -v in.ndjson
	assert_success
	refute_regex "$stderr" 'asking'
	assert_regex "$stderr" '2 cache hits so far'
	assert_regex "$stderr" '2 answered, 2 from the cache, 0 questions asked'
	assert_equal "$(jq -c '.state | [.source, .cached]' <<< "$output" | sort -u)" '["cache",true]'
	# the same answers
	assert_equal "$(jq -c '.state | del(.source, .cached)' <<< "$output")" "$(jq -c '.state | del(.source, .cached)' <<< "$first")"
	# a changed fact is a new question
	prof c1 3 80 1 100 > in.ndjson
	run --separate-stderr jrn-ai state -v in.ndjson
	assert_regex "$stderr" 'asking rules 1 state question'
	# without ai.cache.rules the rules model is not cached
	rm jrn.yaml
	run --separate-stderr jrn-ai state -v in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" rules
}

@test "the cache TTL: past ai.cache.ttl an answer is a miss, and the expired rows are deleted" {
	printf 'ai:\n  cache: {ttl: 1d, rules: true}\n' > jrn.yaml
	printf '{"customerId":"c1","profile":{"summary":{"orders":0,"orderTotal":0,"firstSeen":"2024-01-01T00:00:00Z"}}}\n' > in.ndjson
	jrn-ai state -q in.ndjson > /dev/null
	run --separate-stderr jrn-ai state --now 2026-01-01T23:59:00Z in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" cache
	run --separate-stderr jrn-ai state --now 2026-01-02T00:00:01Z in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" rules
	# one row: the expired one went, the new one came
	assert_equal "$(rows 'SELECT count(*), datetime(min(created_at) / 1000, "unixepoch") FROM ai_cache')" "1|2026-01-02 00:00:01"
	# a ttl lowered since: a row stored under the longer one is good no
	# longer than the run's own (not until its expires_at)
	printf 'ai:\n  cache: {ttl: 1h, rules: true}\n' > short.yaml
	run --separate-stderr jrn-ai state --config short.yaml --now 2026-01-02T00:59:00Z in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" cache
	run --separate-stderr jrn-ai state --config short.yaml --now 2026-01-02T02:00:00Z in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" rules
	# and the row that made is good for an hour, whatever a later run's ttl
	run --separate-stderr jrn-ai state --now 2026-01-02T02:59:00Z in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" cache
	run --separate-stderr jrn-ai state --now 2026-01-02T03:00:01Z in.ndjson
	assert_equal "$(jq -r .state.source <<< "$output")" rules
}

@test "--dry-run: what would be asked, minimised (no e-mail or phone unless ai.sendContact); nothing cached" {
	printf 'ai:\n  cache: {rules: true}\n  fields: [email, firstName, traits]\n' > jrn.yaml
	printf '{"customerId":"c1","email":"a@example.com","phone":"+14155550100","firstName":"Ann","lastName":"Lee","traits":{"plan":"pro","email":"b@example.com"}}\n' > in.ndjson
	run --separate-stderr jrn-ai state --dry-run in.ndjson
	assert_success
	assert_equal "$(jq -c '.aiRequest | [.task, .model, .cached, .input.profile]' <<< "$output")" '["state","rules",false,{"firstName":"Ann","traits":{"plan":"pro"}}]'
	assert_equal "$(jq -c 'has("state")' <<< "$output")" false
	assert_regex "$stderr" '\(dry run, nothing asked\)$'
	assert_equal "$(rows 'SELECT count(*) FROM ai_cache')" 0
	printf 'ai:\n  sendContact: true\n  fields: [email, phone]\n' > jrn.yaml
	run --separate-stderr jrn-ai state --dry-run in.ndjson
	assert_equal "$(jq -c '.aiRequest.input.profile' <<< "$output")" '{"email":"a@example.com","phone":"+14155550100"}'
	# no state file: none is created
	run --separate-stderr jrn-ai state --dry-run --db none.db in.ndjson
	assert_success
	[ ! -e none.db ]
}

@test "--budget: tokens or an amount; the rules model spends nothing; bad values are usage errors" {
	printf '{"customerId":"c1"}\n' > in.ndjson
	run --separate-stderr jrn-ai state --budget 1 in.ndjson
	assert_success
	assert_equal "$(jq -r .state.source <<< "$output")" rules
	refute_regex "$stderr" 'spent'
	run --separate-stderr jrn-ai state --budget 0.01 in.ndjson
	assert_success
	for bad in 0 -1 abc 1e3 0.0 ""; do
		run --separate-stderr jrn-ai state --budget "$bad" in.ndjson
		assert_failure 2
		assert_regex "$stderr" "^jrn-ai: --budget '$bad': expected a number of tokens"
	done
	run --separate-stderr jrn-ai state --parallel 0 in.ndjson
	assert_failure 2
	assert_equal "$stderr" "jrn-ai: --parallel '0': expected a whole number from 1 to 256 (AI_MAX_PARALLEL)"
}

@test "what says an action or an event but not as a string is rejected, not asked about as a profile; a customerId not a string named as such" {
	printf '%s\n' '{"actionType":5,"customerId":"c42"}' '{"type":5,"customerId":"c42"}' \
		'{"customerId":7}' '{"actionType":null,"customerId":"c43"}' > in.ndjson
	for task in state optimize; do
		run --separate-stderr jrn-ai "$task" in.ndjson
		assert_failure 3
		assert_equal "${stderr_lines[0]}" "jrn-ai: in.ndjson:1: actionType: expected a string, got a number"
		assert_equal "${stderr_lines[1]}" "jrn-ai: in.ndjson:2: type: expected a string, got a number"
		assert_equal "${stderr_lines[2]}" "jrn-ai: in.ndjson:3: customerId: expected a string, got a number"
		# null is no actionType: a profile, answered
		assert_equal "$(jq -r .customerId <<< "$output" | sort -u)" c43
	done
	# the light readers (a cached model) judge them the same
	printf 'ai:\n  cache:\n    rules: true\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-ai: in.ndjson:1: actionType: expected a string, got a number"
}

@test "bad records: each rejected with file:line, the run goes on, exit 3" {
	{
		printf '{"customerId":"c1"}\n'
		printf '{"customerId":\n'
		printf '{"email":"x@example.com"}\n'
		printf '{"customerId":"a\\u0000b"}\n'
		printf '{"customerId":"\xff"}\n'
		printf '[1]\n'
		printf '{"customerId":"c2","pad":"%s"}\n' "$(head -c 1100000 /dev/zero | tr '\0' x)"
		printf '{"customerId":"c3"}\n'
	} > in.ndjson
	run --separate-stderr jrn-ai state --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_equal "$(jq -r .customerId <<< "$output" | tr '\n' ' ')" "c1 c3 "
	assert_equal "${stderr_lines[0]}" "jrn-ai: in.ndjson:2: invalid JSON: unexpected end of line"
	assert_equal "${stderr_lines[1]}" "jrn-ai: in.ndjson:3: customerId: missing (a profile needs one)"
	assert_equal "${stderr_lines[2]}" "jrn-ai: in.ndjson:4: customerId: control character U+0000 at byte 2"
	assert_regex "${stderr_lines[3]}" '^jrn-ai: in.ndjson:5: invalid UTF-8 at byte 16'
	assert_regex "${stderr_lines[4]}" '^jrn-ai: in.ndjson:6: not a JSON object'
	assert_equal "${stderr_lines[5]}" "jrn-ai: in.ndjson:7: longer than 1 MiB (AI_MAX_LINE): not a profile a prompt can carry"
	assert_regex "${stderr_lines[6]}" '6 rejected'
	# never lost: every rejected line is in the rejects file
	assert_equal "$(jq -r .line rej.ndjson | tr '\n' ' ')" "2 3 4 5 6 7 "
}

@test "state reads records lightly (no cache, no --dry-run): the same output and rejects as a whole parse" {
	local sc='"scores":{"rfm":{"segment":"At Risk","monetary":50.5,"r":2},"clv":{"pAlive":0.3,"predictedValue":12.345},"lead":{"score":3}}'
	local sm='"summary":{"events":3,"orders":1,"orderTotal":50.5,"firstSeen":"2025-01-01T00:00:00Z","lastOrder":{"id":"o1","at":"2025-11-01T00:00:00Z"}}'
	{
		printf '{"customerId":"c1","profile":{"traits":{"interests":["tea","x\\u00e9"],"email":"a@example.com"},%s,"segments":["a"],%s}}\n' "$sc" "$sm"
		printf '{"customerId":"c2","rfm":{"segment":"Loyal","monetary":7},"traits":{"interests":["lamps"]},"summary":{"orders":3,"orderTotal":"x"},"profile":{%s}}\n' "$sm"
		printf '{"customerId":"c3","state":{"x":1},"profile":{%s}}\n' "$sc"
		printf '{"type":"page.viewed","customerId":"c4","profile":{%s}}\n' "$sm"
		printf '{"type":"page.viewed","customerId":"c5", "x" : 1}\n'
		printf '{"customerId":"c6","s\\u0063ores":{},"profile":{%s}}\n' "$sc"
		printf '{"customerId":"c7","customerId":"c8"}\n'
		printf '{"customerId":"c9","profile":"no","segments":{"a":1},"clv":[1],"scores":{"lead":{}}}\n'
		printf '[1]\n'
		printf '{"customerId":"c10","profile":{"scores":{"clv":{"pAlive":0.5,"predictedValue":null}},"segments":[1,2]}}\n'
		printf '{"customerId":"c11","bad":"\xff"}\n'
		printf '{"customerId":"c12",%s}\n' "$sm"
	} > in.ndjson
	run --separate-stderr jrn-ai state --rejects rej1.ndjson in.ndjson
	assert_failure 3
	light=$output light_err=$stderr
	# ai.cache.rules: the records read for the cache (the next test
	# holds that reading to a whole parse)
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	run --separate-stderr jrn-ai state --rejects rej2.ndjson in.ndjson
	assert_failure 3
	assert_equal "$(jq -c 'del(.state.cached, .state.source)' <<< "$light")" \
		"$(jq -c 'del(.state.cached, .state.source)' <<< "$output")"
	assert_equal "$light_err" "$stderr"
	assert_equal "$(cat rej1.ndjson)" "$(cat rej2.ndjson)"
	assert_equal "$(jq -r .line rej1.ndjson | tr '\n' ' ')" "7 9 11 "
	assert_equal "$(grep -F '"x" : 1}' <<< "$light" | wc -l)" 1
	assert_equal "$(jq -r 'select(.state) | [.customerId, .state.segment, .state.journeyStage, .state.churnRiskScore, .state.predictedLifetimeValue, (.state.interests | join("+"))] | join(" ")' <<< "$light" | head -2 | tr '\n' ',')" \
		"c1 at_risk retention 0.7 12.35 tea+xé,c2 loyal awareness 0.7 0 lamps,"
}

@test "state with a cache reads profiles lightly: the same questions, answers, rejects and cache hits as a whole parse" {
	{
		evt email.opened c3 2
		evt page.viewed c5 20
		printf '{"type":"order.completed","customerId":"c12","timestamp":"%s","properties":{"amount":20}}\n' "$(at 5)"
		evt cart.added c13 3
	} | jrn-ingest -q > /dev/null
	local rfm='"rfm":{"segment":"At Risk","monetary":50.5,"r":2}' clv='"clv":{"pAlive":0.3,"predictedValue":12.345}'
	local sm='"summary":{"events":3,"orders":1,"orderTotal":50.5,"firstSeen":"2025-01-01T00:00:00Z","lastOrder":{"id":"o1","at":"2025-11-01T00:00:00Z"}}'
	{
		# traits with an e-mail to leave out: parsed whole
		printf '{"customerId":"c1","profile":{"traits":{"interests":["tea"],"email":"a@example.com"},%s}}\n' "$sm"
		printf '{"customerId":"c2",%s,"traits":{"interests":["lamps"]},"summary":{"orders":3,"orderTotal":"x"},"profile":{%s}}\n' "$rfm" "$sm"
		printf '{"customerId":"c3","profile":{"scores":{%s,%s,"lead":{"score":3}},"segments":["a","b"],%s}}\n' "$rfm" "$clv" "$sm"
		printf '{"customerId":"c4","scores":{%s},"profile":{"rfm":{"segment":"Loyal"},"scores":{%s}}}\n' "$rfm" "$clv"
		printf '{"customerId":"c5","firstName":"Ann","profile":{"locale":"de-CH","firstName":"Bo","summary":{"orders":0,"orderTotal":0,"firstSeen":"2025-06-01T00:00:00Z"}}}\n'
		# an escape in a time: parsed whole
		printf '{"customerId":"c6","profile":{"summary":{"orders":2,"orderTotal":9,"firstSeen":"2025-01-01T00:00:00Z","lastOrder":{"at":"\\u0032025-11-01T00:00:00Z"}}}}\n'
		printf '{"customerId":"c7","segments":{"a":1},"profile":{"segments":["x"],"rfm":[1]},"clv":[1]}\n'
		printf '{"customerId":"c8","profile":"no","scores":{"lead":{"score":1}},"summary":[]}\n'
		printf '{"customerId":"c9" , "summary" : {"orders":1e0,"orderTotal":5.005e1,"firstSeen":"2025-02-01T00:00:00Z"} }\n'
		printf '{"customerId":"c1\\u0030","traits":{"a":1}}\n'
		printf '{"customerId":5}\n'
		printf '{"customerId":"c12","summary":[],"profile":{"summary":{"orders":1,"orderTotal":1,"firstSeen":"x"}}}\n'
		printf '{"customerId":"c13","traits":{"a":{"email":"deep@example.com"}},"country":"CH","timeZone":null}\n'
		# the interests the rules read: the profile's traits', the
		# record's being no object
		printf '{"customerId":"c14","traits":null,"profile":{"traits":{"interests":["mate"]}}}\n'
		# times before 1970
		printf '{"customerId":"c15","summary":{"orders":2,"orderTotal":10,"firstSeen":"1960-01-01T00:00:00Z","lastOrder":{"at":"1965-01-01T00:00:00Z"}}}\n'
	} > a.ndjson
	# the same records, each with a member whose name has an escape:
	# parsed whole
	sed 's/}[[:space:]]*$/,"z\\u007a":0}/' a.ndjson > b.ndjson
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	run --separate-stderr jrn-ai state --dry-run a.ndjson
	assert_failure 3
	qa=$output
	run --separate-stderr jrn-ai state --dry-run b.ndjson
	assert_failure 3
	assert_equal "$(jq -c .aiRequest.input <<< "$qa")" "$(jq -c .aiRequest.input <<< "$output")"
	assert_equal "$(jq -c '.aiRequest.input | [.customerId, .facts.orders.count, .facts.rfm.segment, .facts.clv.pAlive, (.facts.segments | length)]' <<< "$qa" | sed -n '2,4p;9p' | paste -sd' ')" \
		'["c2",0,"At Risk",null,0] ["c3",1,"At Risk",0.3,2] ["c4",0,"At Risk",0.3,0] ["c9",1,null,null,0]'
	assert_equal "$(jq -c 'select(.customerId == "c15") | .aiRequest.input.facts.orders.daysSinceLast' <<< "$qa")" 22280
	run --separate-stderr jrn-ai state --rejects rej1.ndjson a.ndjson
	assert_failure 3
	first=$output
	run --separate-stderr jrn-ai state --rejects rej2.ndjson b.ndjson
	assert_failure 3
	assert_equal "$(jq -c 'del(.zz, .state.cached, .state.source)' <<< "$first")" \
		"$(jq -c 'del(.zz, .state.cached, .state.source)' <<< "$output")"
	assert_equal "$(jq -c .reason rej1.ndjson)" "$(jq -c .reason rej2.ndjson)"
	assert_equal "$(jq -r .line rej1.ndjson)" 11
	# every profile's answer is cached under the key its run computed:
	# a rerun and a dry run find them all
	run --separate-stderr jrn-ai state a.ndjson
	assert_equal "$(jq -r .state.source <<< "$output" | sort | uniq -c | awk '{print $2 "=" $1}')" cache=14
	assert_equal "$(jq -c 'del(.state.cached, .state.source)' <<< "$output")" "$(jq -c 'del(.state.cached, .state.source)' <<< "$first")"
	run --separate-stderr jrn-ai state --dry-run a.ndjson
	assert_equal "$(jq -r .aiRequest.cached <<< "$output" | sort | uniq -c | awk '{print $2 "=" $1}')" true=14
	# what the question carries is in the key; what it does not is not
	sed -e 's/"c3","profile":{"scores":{"rfm":{"segment":"At Risk","monetary":50.5/"c3","profile":{"scores":{"rfm":{"segment":"At Risk","monetary":50.6/' \
	    -e 's/"locale":"de-CH"/"locale":"de-DE"/' -e 's/"country":"CH"/"country":"LI"/' \
	    -e 's/"orders":1e0/"orders":2/' -e 's/"events":3,/"events":4,/' -e 's/"customerId":"c8"/"customerId":"c8b"/' \
	    -e 's/"profile":"no"/"profile":"yes"/' -e 's/\["mate"\]/["chai"]/' a.ndjson > c.ndjson
	run --separate-stderr jrn-ai state c.ndjson
	assert_equal "$(jq -r 'select(.state.source == "rules") | .customerId' <<< "$output" | paste -sd' ')" "c3 c5 c8b c9 c13 c14"
	assert_equal "$(jq -r 'select(.customerId == "c14") | .state.interests[0]' <<< "$output")" chai
}

@test "optimize reads records lightly (no cache, no --dry-run): the same output and rejects as a whole parse" {
	local st='"state":{"segment":"active","engagementLevel":"high","journeyStage":"purchase","nextBestActions":[],"predictedLifetimeValue":1,"churnRiskScore":0.1,"interests":[]}'
	{
		printf '{"customerId":"c1","email":"a@example.com",%s}\n' "$st"
		printf '{"customerId":"c\\u0032","phone":"+14155550100",%s,"x":[1,{"y":null}]}\n' "$st"
		printf '{"customerId":"c3",%s\n' "$st"
		printf '{"customerId":"c4",%s,"customerId":"c5"}\n' "$st"
		printf '{"customerId":"c6","bad":"\xff",%s}\n' "$st"
		printf '{"customerId":"c7","st\\u0061te":{"journeyStage":"advocacy","segment":"vip"}}\n'
		printf '{"type":"page.viewed","customerId":"c8","timestamp":"2025-12-01T00:00:00Z", "x" : 1}\n'
		printf '{%s}\n' "$st"
		printf '{"customerId":"a\\u0000b",%s}\n' "$st"
		printf '{"customerId":"c9","state":"not an object"}\n'
		printf '{"customerId":"c10",%s,"state":{}}\n' "$st"
		# jrn-merge's profile: its contact strings, the record's own first
		printf '{"customerId":"c11","profile":{"email":"p@example.com","phone":7,"traits":{"a":1}},%s}\n' "$st"
		printf '{"customerId":"c12","email":"own@example.com","profile":{"email":"p@example.com","phone":"+14155550101"},%s}\n' "$st"
		printf '{"customerId":"c13","profile":{"em\\u0061il":"p@example.com"},%s}\n' "$st"
		printf '{"customerId":"c14","profile":[1],%s}\n' "$st"
	} > in.ndjson
	run --separate-stderr jrn-ai optimize --rejects rej1.ndjson in.ndjson
	assert_failure 3
	light=$output light_err=$stderr
	# ai.cache.rules: the records read for the cache (lite_take), the
	# misses parsed
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize --rejects rej2.ndjson in.ndjson
	assert_failure 3
	assert_equal "$(jq -c 'del(.cached, .source)' <<< "$light")" "$(jq -c 'del(.cached, .source)' <<< "$output")"
	assert_equal "$light_err" "$stderr"
	assert_equal "$(cat rej1.ndjson)" "$(cat rej2.ndjson)"
	# what was said: each bad line, the event through byte for byte
	assert_equal "$(jq -r .line rej1.ndjson | tr '\n' ' ')" "3 4 5 8 9 11 "
	assert_regex "$light_err" 'in.ndjson:4: invalid JSON at byte [0-9]+: duplicate member name "customerId"'
	assert_equal "$(grep -c '"type":"page.viewed"' <<< "$light")" 1
	assert_equal "$(grep -F '"x" : 1}' <<< "$light" | wc -l)" 1
	assert_equal "$(jq -r 'select(.actionType) | [.customerId, .campaignId, .recipientEmail // .recipientPhone // "-"] | join(" ")' <<< "$light" | tr '\n' ',')" \
		"c1 cart-5off a@example.com,c1 cart-10off a@example.com,c2 cart-5off +14155550100,c2 cart-10off +14155550100,c7 vip-reward -,c9 welcome-1 -,c11 cart-5off p@example.com,c11 cart-10off p@example.com,c12 cart-5off own@example.com,c12 cart-10off own@example.com,c13 cart-5off p@example.com,c13 cart-10off p@example.com,c14 cart-5off -,c14 cart-10off -,"
	assert_equal "$(jq -r 'select(.customerId == "c12" and .actionType) | .recipientPhone' <<< "$light" | sort -u)" "+14155550101"
}

@test "optimize with a cache reads records lightly: hits written from the cached text as from its parse" {
	local st='"state":{"segment":"active","engagementLevel":"high","journeyStage":"purchase","nextBestActions":["say \"hi\"",{"a":[1,{"b":null}]}],"predictedLifetimeValue":1,"churnRiskScore":0.1,"interests":[],"source":"model","tokens":5,"cached":false}'
	{
		printf '{"customerId":"c1","email":"a@example.com",%s}\n' "$st"
		# contact: the profile's strings where the record's are none
		printf '{"customerId":"c2","email":null,"profile":{"email":"p@example.com","phone":"+14155550100"},%s}\n' "$st"
		# an escaped contact: parsed whole
		printf '{"customerId":"c3","profile":{"phone":"\\u002b14155550101"},%s}\n' "$st"
		printf '{"customerId":"c4","email":7,"state":{"segment":"vip","journeyStage":"purchase","x":{"y":[{}]}}}\n'
		# no state: the rules state of its facts, parsed whole
		printf '{"customerId":"c5","email":"c5@example.com"}\n'
		printf '{"type":"email.opened","customerId":"c6","timestamp":"2025-12-01T00:00:00Z",%s}\n' "$st"
		printf '{"customerId":"c7","actionType":"email","campaignId":"x"}\n'
		printf '{"customerId":7,%s}\n' "$st"
		printf '{"customerId":"c8","phone":"+14155550102","traits":{"interests":["tea"]},"state":{"journeyStage":"retention","segment":"active"}}\n'
		printf '{"customerId":"c9","state":{}}\n'
	} > a.ndjson
	# the same records, each with a member whose name has an escape:
	# parsed whole, the cache looked up under the parse's key
	sed 's/}[[:space:]]*$/,"z\\u007a":0}/' a.ndjson > b.ndjson
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize --rejects rej.ndjson a.ndjson
	assert_failure 3
	first=$output
	run --separate-stderr jrn-ai optimize b.ndjson
	assert_failure 3
	assert_equal "$(jq -c 'del(.zz, .cached, .source)' <<< "$output")" "$(jq -c 'del(.cached, .source)' <<< "$first")"
	# every answer from the cache, written from its text (a) and from its
	# parse (b): the same records
	run --separate-stderr jrn-ai optimize a.ndjson
	assert_failure 3
	hits=$output
	assert_regex "$stderr" ' 8 answered, 8 from the cache, 0 questions asked'
	assert_equal "$(jq -c 'del(.cached, .source)' <<< "$hits")" "$(jq -c 'del(.cached, .source)' <<< "$first")"
	assert_equal "$(jq -r 'select(.actionType and .campaignId != "x") | .source' <<< "$hits" | sort -u)" cache
	run --separate-stderr jrn-ai optimize b.ndjson
	assert_regex "$stderr" ' 8 answered, 8 from the cache, 0 questions asked'
	assert_equal "$(jq -c 'del(.zz)' <<< "$output")" "$(jq -c . <<< "$hits")"
	assert_equal "$(jq -r 'select(.actionType and .campaignId != "x") | [.customerId, .recipientEmail // "-", .recipientPhone // "-"] | join(" ")' <<< "$hits" | sort -u | tr '\n' ',')" \
		"c1 a@example.com -,c2 p@example.com +14155550100,c3 - +14155550101,c4 - -,c5 c5@example.com -,c6 - -,c8 - +14155550102,"
	# what the question carries is in the key (a state's member), what it
	# does not is not (its provenance)
	sed -e 's/"c1","email":"a@example.com","state":{"segment":"active"/&,"extra":1/' \
	    -e '/"c2"/s/"tokens":5/"tokens":6/' -e 's/"c9","state":{}/"c9","state":{"source":"rules"}/' a.ndjson > c.ndjson
	run --separate-stderr jrn-ai optimize c.ndjson
	assert_equal "$(jq -r 'select(.actionType and .source == "rules") | .customerId' <<< "$output" | sort -u | paste -sd' ')" c1
	# rows not in the shape jrn-ai stores (another member first, white
	# space): read from the index, or from the parse; the same records
	sqlite3 jrn.db "UPDATE ai_cache SET output = '{\"note\":1,' || substr(output, 2) WHERE customer_id IN ('c1', 'c2');
		UPDATE ai_cache SET output = replace(output, ',\"campaignId\"', ', \"campaignId\"') WHERE customer_id = 'c3';
		UPDATE ai_cache SET output = replace(output, '\"clicks\",', '\"clicks\", ') WHERE customer_id = 'c4'"
	run --separate-stderr jrn-ai optimize a.ndjson
	assert_equal "$output" "$hits"
	assert_equal "$(jq -r 'select(.actionType) | .source' <<< "$output" | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ')" "cache=12 null=1"
	# an action the allow-list refuses: dropped and said, as from a parse
	printf 'ai:\n  cache: {rules: true}\n  allow: {campaigns: [cart-5off]}\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize a.ndjson
	light=$output light_err=$stderr
	assert_regex "$stderr" 'c1: action 1 dropped: campaign cart-10off is not in ai.allow.campaigns'
	run --separate-stderr jrn-ai optimize b.ndjson
	assert_equal "$(jq -c 'del(.zz)' <<< "$output")" "$(jq -c . <<< "$light")"
	assert_equal "${stderr//b.ndjson/a.ndjson}" "$light_err"
	assert_equal "$(jq -r 'select(.actionType) | .campaignId' <<< "$light" | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ')" \
		"cart-5off=5 x=1"
}

@test "empty input, a missing file, a closed stdout" {
	run --separate-stderr jrn-ai state < /dev/null
	assert_success
	assert_output ""
	run --separate-stderr jrn-ai state nothere.ndjson
	assert_failure 1
	assert_regex "$stderr" 'nothere.ndjson'
	"$JRN_GEN" -n 30000 -c 3000 | jq -c 'select(.type == "user.signup") | {customerId}' > in.ndjson
	run bash -c 'jrn-ai state -q in.ndjson | head -1; echo "status ${PIPESTATUS[0]}"'
	assert_line --index 1 "status 0"
	run --separate-stderr bash -c 'jrn-ai state -q in.ndjson >&-'
	assert_failure 1
}

@test "a locked state file: the cache cannot be written, said once; every answer is written all the same" {
	printf 'db:\n  busyTimeout: 300ms\nai:\n  cache: {rules: true}\n' > jrn.yaml
	printf '{"customerId":"c1"}\n' > in.ndjson
	jrn-ai state -q --dry-run in.ndjson > /dev/null
	( echo 'BEGIN IMMEDIATE;'; sleep 3; echo 'COMMIT;' ) | sqlite3 jrn.db &
	sleep 0.5
	run --separate-stderr jrn-ai state in.ndjson
	wait
	assert_success
	assert_equal "$(jq -r .state.source <<< "$output")" rules
	assert_regex "${stderr_lines[0]}" '^jrn-ai: jrn.db: the cache cannot be written \(.*database is locked.*\); going on without it$'
}

@test "config and command line: a corrupt config, unknown --model naming the choices, usage" {
	printf 'ai:\n  model: [\n' > jrn.yaml
	run --separate-stderr jrn-ai state < /dev/null
	assert_failure 1
	assert_regex "$stderr" '^jrn-ai: jrn.yaml:'
	printf 'ai:\n  models:\n    gpt: {kind: openai}\n    local: {kind: openai}\n' > jrn.yaml
	run --separate-stderr jrn-ai state --model nope < /dev/null
	assert_failure 2
	assert_equal "$stderr" "jrn-ai: --model 'nope': no such model (choices: rules, gpt, local)"
	printf 'ai:\n  model: nope\n' > jrn.yaml
	run --separate-stderr jrn-ai state < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:2:10: ai.model: no such model 'nope' (choices: rules)"
	# a model named rules could never be asked for: refused at its key
	printf 'ai:\n  models:\n    gpt: {kind: openai, model: m}\n    rules: {kind: openai, model: m}\n' > jrn.yaml
	run --separate-stderr jrn-ai state < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:4:5: ai.models.rules: the name of the built-in model: give this one another"
	# a model of kind rules reads no openai keys: refused, not ignored
	printf 'ai:\n  model: r2\n  models:\n    r2: {kind: rules, temperature: 1}\n' > jrn.yaml
	run --separate-stderr jrn-ai state < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:4:23: ai.models.r2: unknown key temperature (a model of kind rules takes only kind and price: its answers follow ai.playbook)"
	# ai.allow.channels: channels only, each judged at its place
	printf 'ai:\n  allow:\n    channels: [email, fax]\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:3:23: ai.allow.channels[1]: expected a channel (email, sms or retargeting), got 'fax'"
	printf 'ai:\n  allow:\n    channels:\n      - sms\n      - 7\n' > jrn.yaml
	run --separate-stderr jrn-ai optimize < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:5:9: ai.allow.channels[1]: expected a string, got a number"
	printf 'ai:\n  models:\n    x: {kind: bard}\n' > jrn.yaml
	run --separate-stderr jrn-ai state --model x < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:3:15: ai.models.x.kind: expected one of rules, openai"
	printf 'ai:\n  cache: {ttl: soon}\n' > jrn.yaml
	run --separate-stderr jrn-ai state < /dev/null
	assert_failure 1
	assert_regex "$stderr" 'ai.cache.ttl'
	printf 'ai:\n  colour: blue\n' > jrn.yaml
	run --separate-stderr jrn-ai state < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-ai: jrn.yaml:2:3: unknown key 'colour' in ai"
	rm jrn.yaml
	run --separate-stderr jrn-ai
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-ai: a command is needed: state, optimize or eval"
	run --separate-stderr jrn-ai guess
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-ai: guess: unknown command (state, optimize, eval)"
	run --separate-stderr jrn-ai stat
	assert_failure 2
	assert_equal "$stderr" "jrn-ai: stat: unknown command (did you mean state?)
Try 'jrn-ai --help'."
	run --separate-stderr jrn-ai optimise
	assert_failure 2
	assert_equal "${stderr_lines[0]}" "jrn-ai: optimise: unknown command (did you mean optimize?)"
	run --separate-stderr jrn-ai state --since 2025-01-01
	assert_failure 2
	run --separate-stderr jrn-ai state --nope
	assert_failure 2
	run --separate-stderr jrn-ai state --now yesterday < /dev/null
	assert_failure 2
	run jrn-ai --help
	assert_success
	assert_line --index 0 --partial 'usage: jrn-ai state'
	run jrn ai --version
	assert_success
	assert_output --partial 'jrn-ai '
}

@test "an API key from the environment is never read by a rules run: unset, it fails nothing" {
	printf 'ai:\n  models:\n    gpt: {kind: openai, apiKey: "${OPENAI_KEY_UNSET_XYZ}"}\n' > jrn.yaml
	printf '{"customerId":"c1"}\n' > in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	refute_regex "$stderr" 'OPENAI_KEY_UNSET_XYZ'
}

@test "jrn privacy: export lists a customer's cached answers; erase deletes them, and answers naming her" {
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	evt page.viewed c1 3 | jrn-ingest -q > /dev/null
	printf '{"customerId":"c1"}\n{"customerId":"c2"}\n' > in.ndjson
	jrn-ai state -q in.ndjson > /dev/null
	jrn-ai optimize -q in.ndjson > /dev/null
	# an answer about c2 that names c1 (as a model might)
	sqlite3 jrn.db "UPDATE ai_cache SET output = json_set(output, '$.interests', json('[\"c1\"]')) WHERE customer_id = 'c2' AND task = 'state'"
	run --separate-stderr jrn privacy export c1
	assert_success
	assert_equal "$(jq -c '[.aiCache[] | [.task, .model, .customer_id, (.key | length), (.output | type)]] | sort' <<< "$output")" \
		'[["optimize","rules","c1",64,"object"],["state","rules","c1",64,"object"]]'
	run --separate-stderr jrn privacy erase c1
	assert_success
	assert_equal "$(jq -c .ai_cache <<< "$output")" 3
	assert_equal "$(rows 'SELECT customer_id, task FROM ai_cache ORDER BY task')" "c2|optimize"
}

# ai_words WORD...: what jrn-ai's bash completion offers for the last WORD
ai_words() {
	bash -c '. "$1"/jrn-ai.bash; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jrn_ai; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions" "$@"
}

@test "completions: bash completes commands, options and the models of jrn.yaml; zsh has jrn-ai" {
	run ai_words jrn-ai st
	assert_output state
	run ai_words jrn-ai state --dr
	assert_output --dry-run
	run ai_words jrn-ai eval --si
	assert_output --since
	run ai_words jrn-ai eval --dr
	assert_output ""
	printf 'ai:\n  models:\n    gpt: {kind: openai}\n    local:\n      kind: openai\n  fields: [x]\n' > jrn.yaml
	run ai_words jrn-ai state --model ""
	assert_output "$(printf 'rules\ngpt\nlocal')"
	run grep -c '^jrn-ai) _jrn_ai' "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 1
	command -v zsh > /dev/null || skip "no zsh here"
	run zsh -n "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_success
}

@test "an event carrying jrn-merge's profile gets a state; one carrying a state gets actions (contact from the profile); a bare event passes" {
	# the event as jrn-merge writes it: the customer's profile added
	ev='{"id":"t1","type":"page.viewed","customerId":"rt1","timestamp":"2025-12-31T10:00:00Z","profile":{"customerId":"rt1","email":"rt1@example.com","summary":{"orders":2,"orderTotal":80,"firstSeen":"2025-06-01T00:00:00Z","lastOrder":{"at":"2025-12-20T00:00:00Z"}}}}'
	bare='{"id":"t2","type":"page.viewed","customerId":"rt2","timestamp":"2025-12-31T10:00:00Z"}'
	run --separate-stderr jrn-ai state -q <<< "$ev"$'\n'"$bare"
	assert_success
	assert_equal "${#lines[@]}" 2
	# the event kept whole, its state added
	assert_equal "$(jq -c 'select(.id == "t1") | [.type, .profile.email, (.state | type), .state.source]' <<< "$output")" \
		'["page.viewed","rt1@example.com","object","rules"]'
	# the bare event exactly as it came
	assert_equal "$(sed -n 2p <<< "$output")" "$bare"
	printf '%s\n' "$output" > states.ndjson
	run --separate-stderr jrn-ai optimize -q states.ndjson
	assert_success
	# the event, its actions (each to the profile's address), the bare event
	assert_equal "$(jq -r '.type // "action"' <<< "$output" | tr '\n' ' ')" \
		"page.viewed $(jq -r 'select(.actionType) | "action"' <<< "$output" | tr '\n' ' ')page.viewed "
	[ "$(jq -s 'map(select(.actionType)) | length' <<< "$output")" -gt 0 ]
	assert_equal "$(jq -s -c 'map(select(.actionType == "email") | .recipientEmail) | unique' <<< "$output")" \
		'["rt1@example.com"]'
	assert_equal "$(jq -s -c 'map(select(.actionType) | .customerId) | unique' <<< "$output")" '["rt1"]'
	# an action's own recipient is kept; a top-level email wins over the profile's
	run --separate-stderr jrn-ai optimize -q <<< '{"type":"page.viewed","customerId":"rt3","email":"top@example.com","state":{"journeyStage":"retention","segment":"active"},"profile":{"email":"prof@example.com"}}'
	assert_success
	assert_equal "$(jq -s -c 'map(select(.actionType == "email") | .recipientEmail) | unique' <<< "$output")" \
		'["top@example.com"]'
}

@test "--dry-run: the facts from the state file: 7- and 30-day counts, 30-day categories, orders over all time; a carried summary wins" {
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	{
		evt email.opened c1 2
		evt email.opened c1 20
		evt email.opened c1 60
		evt email.clicked c1 3
		evt page.viewed c1 1
		evt cart.updated c1 10
		evt cart.added c1 45
		printf '{"type":"product.viewed","customerId":"c1","timestamp":"%s","properties":{"category":"lamps"}}\n' "$(at 5)"
		printf '{"type":"product.viewed","customerId":"c1","timestamp":"%s","properties":{"category":"rugs"}}\n' "$(at 50)"
		printf '{"type":"order.completed","customerId":"c1","timestamp":"%s","properties":{"amount":10.5}}\n' "$(at 100)"
		printf '{"type":"order.completed","customerId":"c1","timestamp":"%s","properties":{"amount":4.25}}\n' "$(at 12)"
		printf '{"type":"order.completed","customerId":"c1","timestamp":"2026-03-01T00:00:00Z","properties":{"amount":99}}\n'
		evt email.opened c1 -3
		evt page.viewed c1 300
		evt email.opened old 90
	} | jrn-ingest -q > /dev/null
	{
		printf '{"customerId":"c1"}\n{"customerId":"old"}\n{"customerId":"new"}\n'
		prof c1 7 70 3 400
	} > in.ndjson
	run --separate-stderr jrn-ai state --dry-run in.ndjson
	assert_success
	f='.aiRequest.input.facts | [.events.opens7d, .events.opens30d, .events.clicks7d, .events.clicks30d, .events.visits7d, .events.visits30d, .events.carts30d, .categories, .orders.count, .orders.total, .orders.daysSinceLast, .firstSeenDays] | tostring'
	assert_equal "$(jq -r "$f" <<< "$output")" '[1,2,1,1,2,2,1,["lamps"],2,14.75,12,300]
[0,0,0,0,0,0,0,[],0,0,null,90]
[0,0,0,0,0,0,0,[],0,0,null,null]
[1,2,1,1,2,2,1,["lamps"],7,70,3,400]'
}

@test "ai.fields: in their order, each from the record or else its profile; e-mail and phone left out, inside an object too" {
	printf 'ai:\n  fields: [traits, phone, firstName, email, locale, missing, traits]\n' > jrn.yaml
	printf '{"locale":"de-CH","customerId":"c1","profile":{"firstName":"Ann","locale":"en","email":"a@example.com","traits":{"x":1}},"traits":{"plan":"pro","phone":"+41445551234","email":"b@example.com"},"phone":"+41445551234"}\n' > in.ndjson
	run --separate-stderr jrn-ai state --dry-run in.ndjson
	assert_success
	assert_equal "$(jq -c '.aiRequest.input.profile' <<< "$output")" '{"traits":{"plan":"pro"},"firstName":"Ann","locale":"de-CH"}'
	printf 'ai:\n  sendContact: true\n  fields: [email, traits, phone]\n' > jrn.yaml
	run --separate-stderr jrn-ai state --dry-run in.ndjson
	assert_equal "$(jq -c '.aiRequest.input.profile' <<< "$output")" '{"email":"a@example.com","traits":{"plan":"pro","phone":"+41445551234","email":"b@example.com"},"phone":"+41445551234"}'
}

@test "no state file: made, and said (no customer has facts from it); -q, --dry-run and a second run say nothing" {
	rm -f jrn.db
	printf '{"customerId":"c1"}\n' > in.ndjson
	run --separate-stderr jrn-ai state --db jrn.bd in.ndjson
	assert_success
	assert_equal "${stderr_lines[0]}" "jrn-ai: jrn.bd: no state file was there: made a new one, so no customer has facts (events, scores, segments) from it"
	[ -e jrn.bd ]
	run --separate-stderr jrn-ai state --db jrn.bd in.ndjson
	refute_regex "$stderr" 'no state file'
	run --separate-stderr jrn-ai state -q --db other.db in.ndjson
	assert_equal "$stderr" ''
	run --separate-stderr jrn-ai state --dry-run --db none.db in.ndjson
	refute_regex "$stderr" 'no state file'
	[ ! -e none.db ]
}

@test "batches: 2,500 profiles (20 batches, the facts of one read while the one before is written) give what 20 single-batch runs give, in input order" {
	for i in $(seq 0 99); do
		evt email.opened "c$i" 3
		evt product.viewed "c$i" 10
		[ $((i % 3)) = 0 ] && printf '{"type":"order.completed","customerId":"c%s","timestamp":"%s","properties":{"amount":%s}}\n' "$i" "$(at 20)" "$i"
	done | jrn-ingest -q
	# customers with facts in every batch (c0..c99 again and again)
	for i in $(seq 0 2499); do printf '{"customerId":"c%s","n":%s}\n' "$((i % 137))" "$i"; done > p.ndjson
	split -a 3 -l 128 -d p.ndjson part.
	run jrn-ai state -q p.ndjson
	assert_success
	echo "$output" > all.ndjson
	for f in part.*; do jrn-ai state -q "$f"; done > parts.ndjson
	assert_equal "$(wc -l < all.ndjson)" 2500
	assert_equal "$(jq -r .n all.ndjson | tr '\n' ' ')" "$(seq 0 2499 | tr '\n' ' ')"
	cmp all.ndjson parts.ndjson
	# the facts were read (not all the same answer): c0 ordered, c1 did not
	assert_equal "$(jq -r 'select(.n == 0 or .n == 1) | .state.journeyStage' all.ndjson | tr '\n' ' ')" "purchase consideration "
	# optimize over them too, with and without a state on the records
	jq -c 'del(.state)' all.ndjson | head -1500 > nostate.ndjson
	{ head -700 all.ndjson; cat nostate.ndjson; } > mixed.ndjson
	run jrn-ai optimize -q mixed.ndjson
	assert_success
	echo "$output" > opt-all.ndjson
	split -a 3 -l 128 -d mixed.ndjson mpart.
	for f in mpart.*; do jrn-ai optimize -q "$f"; done > opt-parts.ndjson
	cmp opt-all.ndjson opt-parts.ndjson
}

@test "idle input: a profile read while no more comes is answered then, not when the input ends" {
	mkfifo in
	jrn-ai state -q < in > out 2> err &
	pid=$!
	exec 7> in
	printf '{"customerId":"c1"}\n' >&7
	for i in $(seq 100); do [ -s out ] && break; sleep 0.1; done
	assert_equal "$(jq -r .customerId out)" c1
	# a full batch and then some, then idle again: all of it out
	for i in $(seq 2 1100); do printf '{"customerId":"c%s"}\n' "$i"; done >&7
	for i in $(seq 100); do [ "$(wc -l < out)" = 1100 ] && break; sleep 0.1; done
	assert_equal "$(wc -l < out)" 1100
	exec 7>&-
	wait "$pid"
	assert_equal "$(cat err)" ""
	assert_equal "$(jq -r .customerId out | sed 's/c//' | tr '\n' ' ')" "$(seq 1 1100 | tr '\n' ' ')"
}

@test "a file that cannot be read: the records before it are all written (exit 1); a full disk: no batch is asked after the failed write" {
	for i in $(seq 1 2000); do printf '{"customerId":"c%s"}\n' "$i"; done > p.ndjson
	head -1100 p.ndjson > a.ndjson
	run --separate-stderr jrn-ai state a.ndjson missing.ndjson
	assert_failure 1
	assert_regex "$stderr" 'missing.ndjson: No such file or directory'
	assert_equal "$(jq -r .customerId <<< "$output" | sed 's/c//' | tr '\n' ' ')" "$(seq 1 1100 | tr '\n' ' ')"
	run --separate-stderr bash -c 'jrn-ai state p.ndjson > /dev/full'
	assert_failure 1
	assert_regex "$stderr" 'writing output: No space left on device'
	# the first batch's write failed: one batch of 128 answered, no more
	assert_regex "$stderr" ' 128 answered, 0 from the cache, 128 questions asked'
}

@test "the state file moved away while a run reads: its facts still come from the file opened" {
	printf '{"type":"order.completed","customerId":"c1","timestamp":"%s","properties":{"amount":5}}\n' "$(at 3)" | jrn-ingest -q
	mkfifo in
	( jrn-ai optimize -q < in > out 2> err; echo $? > rc ) &
	exec 7> in
	# opened: its WAL index is there (jrn-ingest's close removed it)
	for i in $(seq 100); do [ -e jrn.db-shm ] && break; sleep 0.1; done
	sleep 0.1
	mv jrn.db moved.db
	printf '{"customerId":"c1"}\n' >&7
	exec 7>&-
	wait
	assert_equal "$(cat rc)" 0
	assert_equal "$(cat err)" ""
	# c1 ordered (the purchase stage's playbook), as the moved file says
	assert_equal "$(jq -r '.campaignId // empty' out | head -1)" "cart-5off"
}

@test "helgrind: the facts thread shares nothing unguarded with the main thread (rfm from the state file, keys and look-ups there too)" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (helgrind needs the plain build)"
	# 3,000 bare profiles (24 batches) whose rfm, scores and events the
	# facts thread reads from the state file and builds into jv while
	# the main thread frees the batch before (jq's reference counts are
	# not atomic: a key string shared between them was a race here, and
	# a heap corrupted now and then); the cache (ai.cache.rules) keyed
	# and looked up on that thread too
	"$JRN_GEN" -n 150000 > ev.ndjson
	jrn-ingest -q --store-only --db s.db ev.ndjson
	jrn-score rfm -q --save --db s.db > /dev/null
	sqlite3 s.db "SELECT json_object('customerId', customer_id) FROM rfm_snapshots GROUP BY customer_id LIMIT 3000" > in.ndjson
	assert_equal "$(wc -l < in.ndjson)" 3000
	printf 'ai:\n  cache: {rules: true}\n' > jrn.yaml
	jrn-ai state -q --db s.db --config jrn.yaml in.ndjson > first.ndjson
	run --separate-stderr valgrind --tool=helgrind --history-level=approx -q --error-exitcode=9 \
		--suppressions="$BATS_TEST_DIRNAME/helgrind.supp" "$JRN_BIN/jrn-ai" state -q --db s.db --config jrn.yaml in.ndjson
	[ "$status" -eq 0 ] || fail "helgrind (exit $status): $(head -c 3000 <<<"$stderr")"
	assert_equal "${#lines[@]}" 3000
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -r .state.source | sort -u)" cache
	# the answers are the first run's, from the cache
	assert_equal "$(printf '%s\n' "${lines[@]}" | jq -c '.state | del(.source, .cached)')" "$(jq -c '.state | del(.source, .cached)' first.ndjson)"
}

