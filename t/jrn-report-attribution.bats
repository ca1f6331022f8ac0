#!/usr/bin/env bats
# jrn-report attribution: conversions credited to touches by six models, on
# hand-made state files; every expected figure is worked out in the
# comments.

load helpers

D=86400000
T0=$((1767225600000 - 60 * D)) # JRN_NOW (2026-01-01) less 60 days

# state: an empty state file ./jrn.db
state() {
	jrn-ingest -q < /dev/null
}

# event ID TYPE CUSTOMER DAY AMOUNT|NULL [PROPERTIES-JSON [CONTEXT-JSON]]
event() {
	local ts=$((T0 + $4 * D))
	local body
	body=$(jq -cn --arg id "$1" --arg t "$2" --arg c "$3" --argjson p "${6:-{\}}" \
		--argjson x "${7:-{\}}" '{id: $id, type: $t, customerId: $c, properties: $p, context: $x}')
	sqlite3 jrn.db "INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
		VALUES ('$1', '$2', '$3', $ts, $ts, $5, '$body')"
}

# send KEY CUSTOMER CHANNEL CAMPAIGN|NULL STATUS DAY: a deliveries row
send() {
	local ts=$((T0 + $6 * D)) camp=NULL
	[ "$4" = NULL ] || camp="'$4'"
	sqlite3 jrn.db "INSERT INTO deliveries (key, customer_id, channel, campaign_id, status,
		attempts, claimed_at, updated_at, record) VALUES ('$1', '$2', '$3', $camp, '$5', 1,
		$ts, $ts, '{}')"
}

# The state of most tests (days after T0):
#   a: send k1 email/spring day 1; opens k1 day 2 (spring/email through
#      the deliveries row); page.viewed utm fb/social day 4; orders 100
#      on day 5. Path: spring/email, spring/email, fb/social.
#   b: send k2 sms/spring day 10; orders 50 on day 12 (path: spring/sms)
#      and 30 on day 50 (40 days after its send: past the 30d lookback,
#      no touch).
#   c: page.viewed with context.campaign fb/social on day 20, no order; a
#      failed send on day 21 (not a touch).
#   d: orders 20 on day 30, no touch at all.
#   e: send k5 email/spring on day 40 and orders 10 on day 40 at the same
#      millisecond: the send is not in the order's path.
#   f: an order.completed without an amount (not a conversion).
# Conversions: 5, revenue 100 + 50 + 30 + 20 + 10 = 210; with no touch:
# b's 30, d's 20, e's 10: 3 conversions, 60.
fixture() {
	state
	send k1 a email spring sent 1
	event e1 email.opened a 2 NULL '{"deliveryKey":"k1"}'
	event e2 page.viewed a 4 NULL '{"utm_campaign":"fb","utm_medium":"social"}'
	event e3 order.completed a 5 100
	send k2 b sms spring sent 10
	event e4 order.completed b 12 50
	event e5 order.completed b 50 30
	event e6 page.viewed c 20 NULL '{}' '{"campaign":{"name":"fb","medium":"social"}}'
	send k3 c email spring failed 21
	event e7 order.completed d 30 20
	send k5 e email spring simulated 40
	event e8 order.completed e 40 10
	event e9 order.completed f 41 NULL
}

# cols MODEL: "campaign channel conversions revenue touches" per row of
# that model, numbers rounded to 9 places
cols() {
	jq -r --arg m "$1" 'select(.model == $m) | [.campaign, .channel,
		(.conversions * 1e9 | round / 1e9), (.revenue * 1e9 | round / 1e9), .touches]
		| map(tostring) | join(" ")'
}

@test "attribution: first, last, linear and position on a hand-made state" {
	fixture
	run --separate-stderr jrn-report attribution --model first,last,linear,position
	assert_success
	assert_equal "$stderr" "jrn-report: attribution: 16 rows"
	# rows: model, then the --by fields (default campaign, channel), then
	# conversions, revenue, touches; groups sorted; no-touch row last
	assert_equal "${lines[0]}" '{"model":"first","campaign":"fb","channel":"social","conversions":0,"revenue":0,"touches":1}'
	# first: a's path starts spring/email (100); b's is spring/sms (50)
	run cols first <<< "$output"
	assert_output "fb social 0 0 1
spring email 1 100 2
spring sms 1 50 1
null null 3 60 0"
	# last: a's last touch is fb/social
	run --separate-stderr jrn-report attribution --model last
	run cols last <<< "$output"
	assert_output "fb social 1 100 1
spring email 0 0 2
spring sms 1 50 1
null null 3 60 0"
	# linear: a's three touches 1/3 each: spring/email 2/3 (66.666...),
	# fb/social 1/3 (33.333...)
	run --separate-stderr jrn-report attribution --model linear
	run cols linear <<< "$output"
	assert_output "fb social 0.333333333 33.333333333 1
spring email 0.666666667 66.666666667 2
spring sms 1 50 1
null null 3 60 0"
	# position: three touches 0.4, 0.2, 0.4: spring/email 0.6 (60),
	# fb/social 0.4 (40)
	run --separate-stderr jrn-report attribution --model position
	run cols position <<< "$output"
	assert_output "fb social 0.4 40 1
spring email 0.6 60 2
spring sms 1 50 1
null null 3 60 0"
}

@test "attribution: time-decay weighs by 2^(-age/half-life)" {
	fixture
	# a's touches are 4, 3 and 1 days before its order; relative to the
	# newest: 2^(-3/7), 2^(-2/7), 1 at the default half-life 7d
	want=$(jq -n '(pow(2; -3/7) + pow(2; -2/7)) / (pow(2; -3/7) + pow(2; -2/7) + 1)')
	run --separate-stderr jrn-report attribution --model time-decay
	assert_success
	got=$(jq -s 'map(select(.campaign == "spring" and .channel == "email"))[0].conversions' <<< "$output")
	jq -en --argjson g "$got" --argjson w "$want" '($g - $w) | fabs < 1e-12'
	# half-life 1d: 2^-3, 2^-2, 1: spring/email (1/8 + 1/4) / (11/8) = 3/11
	run --separate-stderr jrn-report attribution --model time-decay --half-life 1d
	got=$(jq -s 'map(select(.campaign == "spring" and .channel == "email"))[0].revenue' <<< "$output")
	jq -en --argjson g "$got" '($g - 300/11) | fabs < 1e-9'
	# the config's halfLife the same
	printf 'report:\n  attribution:\n    halfLife: 1d\n' > jrn.yaml
	run --separate-stderr jrn-report attribution --model time-decay
	got=$(jq -s 'map(select(.campaign == "spring" and .channel == "email"))[0].revenue' <<< "$output")
	jq -en --argjson g "$got" '($g - 300/11) | fabs < 1e-9'
}

@test "attribution: markov credits by the removal effect of each group" {
	fixture
	# Paths (S/E spring/email, S/S spring/sms, F/S fb/social):
	#   converting: a start > S/E > S/E > F/S > conv; b start > S/S > conv
	#   non-converting: c start > F/S > null (its touch is in no path);
	#   e start > S/E > null (its send is at its order's millisecond)
	# Transitions: start > S/E 2, > S/S 1, > F/S 1; S/E > S/E 1, > F/S 1,
	# > null 1; F/S > conv 1, > null 1; S/S > conv 1.
	# x_F/S = 1/2, x_S/S = 1, x_S/E = x_S/E/3 + x_F/S/3: x_S/E = 1/4.
	# P = (2 * 1/4 + 1 + 1/2) / 4 = 1/2.
	# Without S/E: (0 + 1 + 1/2)/4 = 3/8, effect 1/4; without S/S: 1/4,
	# effect 1/2; without F/S (x_S/E = 0): 1/4, effect 1/2. Sum 5/4.
	# The 2 touched conversions (150): F/S 2 * 0.4 = 0.8 (60), S/E 0.4
	# (30), S/S 0.8 (60); no touch: 3 (60).
	run --separate-stderr jrn-report attribution --model markov
	assert_success
	run cols markov <<< "$output"
	assert_output "fb social 0.8 60 1
spring email 0.4 30 2
spring sms 0.8 60 1
null null 3 60 0"
}

@test "attribution: every model's credits sum to the conversions and their revenue" {
	fixture
	run --separate-stderr jrn-report attribution
	assert_success
	# six models, 4 rows each
	assert_equal "$(jq -s 'map(.model) | unique | length' <<< "$output")" 6
	assert_equal "${#lines[@]}" 24
	jq -es 'group_by(.model) | map({m: .[0].model, c: (map(.conversions) | add),
		r: (map(.revenue) | add)}) | all(((.c - 5) | fabs) < 1e-9 and ((.r - 210) | fabs) < 1e-9)' <<< "$output"
	# the rows come model by model in the default order
	assert_equal "$(jq -r .model <<< "$output" | uniq | paste -sd,)" first,last,linear,time-decay,position,markov
}

@test "attribution: --by channel, --by campaign" {
	fixture
	run --separate-stderr jrn-report attribution --model last,linear --by channel
	assert_success
	# linear by channel: email 2/3 of a (66.67), social 1/3 (33.33), sms b's 50
	assert_equal "${lines[4]}" '{"model":"linear","channel":"email","conversions":0.6666666666666666,"revenue":66.66666666666666,"touches":2}'
	assert_equal "$(jq -c 'select(.model == "last") | [.channel, .revenue]' <<< "$output" | paste -sd' ')" \
		'["email",0] ["sms",50] ["social",100] [null,60]'
	# by campaign: spring/email and spring/sms join (last: 50; first: 150)
	run --separate-stderr jrn-report attribution --model first --by campaign
	assert_output '{"model":"first","campaign":"fb","conversions":0,"revenue":0,"touches":1}
{"model":"first","campaign":"spring","conversions":2,"revenue":150,"touches":3}
{"model":"first","campaign":null,"conversions":3,"revenue":60,"touches":0}'
	run jrn-report attribution --by variant
	assert_failure 2
	assert_output --partial "attribution: --by variant"
}

@test "attribution: --lookback, --since and --until" {
	fixture
	# 60d: b's order on day 50 now has its day-10 send (40 days back): the
	# no-touch row is d's 20 and e's 10; spring/sms gets 50 + 30
	run --separate-stderr jrn-report attribution --model first --lookback 60d
	assert_success
	run cols first <<< "$output"
	assert_output "fb social 0 0 1
spring email 1 100 2
spring sms 2 80 2
null null 2 30 0"
	# --since day 11: a's order (day 5) is out; b's day-12 order keeps its
	# day-10 send (touches are read a lookback before the window)
	since=$(date -u -d "@$(((T0 + 11 * D) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
	run --separate-stderr jrn-report attribution --model last --since "$since"
	run cols last <<< "$output"
	assert_output "spring sms 1 50 1
null null 3 60 0"
	# --until day 11: only a's order
	until=$(date -u -d "@$(((T0 + 11 * D) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
	run --separate-stderr jrn-report attribution --model last --until "$until"
	run cols last <<< "$output"
	assert_output "fb social 1 100 1
spring email 0 0 2"
	# the config's lookback
	printf 'report:\n  attribution:\n    lookback: 60d\n    models: [first]\n' > jrn.yaml
	run --separate-stderr jrn-report attribution
	run cols first <<< "$output"
	assert_line "spring sms 2 80 2"
	assert_equal "${#lines[@]}" 4
}

@test "attribution: an empty window has no rows; table and csv print the header" {
	state
	run --separate-stderr jrn-report attribution
	assert_success
	assert_output ""
	run --separate-stderr jrn-report attribution --format csv
	assert_output $'model,campaign,channel,conversions,revenue,touches\r'
	assert_equal "$stderr" "jrn-report: attribution: 0 rows"
	fixture_until=$(date -u -d "@$(((T0 - D) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
	rm jrn.db
	fixture
	run --separate-stderr jrn-report attribution --until "$fixture_until"
	assert_success
	assert_output ""
}

@test "attribution: table and csv" {
	fixture
	run --separate-stderr jrn-report attribution --model first --format csv
	assert_success
	assert_line -n 0 $'model,campaign,channel,conversions,revenue,touches\r'
	assert_line -n 2 $'first,spring,email,1,100,2\r'
	assert_line -n 4 $'first,,,3,60,0\r'
	assert_equal "${#lines[@]}" 5
}

@test "attribution: bad --model, --lookback, --half-life and config models" {
	state
	run jrn-report attribution --model first,bogus
	assert_failure 2
	assert_output --partial "attribution: --model: no model 'bogus'"
	run jrn-report attribution --model first,first
	assert_failure 2
	assert_output --partial "'first' named twice"
	run jrn-report attribution --model ''
	assert_failure 2
	run jrn-report attribution --lookback 0d
	assert_failure 2
	assert_output --partial "--lookback"
	run jrn-report attribution --half-life soon
	assert_failure 2
	assert_output --partial "--half-life"
	printf 'report:\n  attribution:\n    models: [first, dada]\n' > jrn.yaml
	run jrn-report attribution
	assert_failure 2
	assert_output --partial "report.attribution.models: no model 'dada'"
}

@test "attribution: markov past 1000 groups fails naming the limit; the rule-based models run" {
	state
	# 1001 customers, each one send of its own campaign and an order a day
	# later
	sqlite3 jrn.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001)
		INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, attempts,
		 claimed_at, updated_at, record)
		SELECT 'k' || i, 'c' || i, 'email', 'camp' || i, 'sent', 1, $T0, $T0, '{}' FROM n;
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001)
		INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
		SELECT 'o' || i, 'order.completed', 'c' || i, $((T0 + D)), $T0, 1, '{}' FROM n"
	run --separate-stderr jrn-report attribution --model markov
	assert_failure 1
	assert_equal "$stderr" "jrn-report: attribution: markov: more than 1000 groups (ATTR_MARKOV_GROUPS_MAX); narrow --by or the window, or leave markov out of --model"
	run --separate-stderr jrn-report attribution --model linear,markov --by channel
	assert_success
	assert_line '{"model":"markov","channel":"email","conversions":1001,"revenue":1001,"touches":1001}'
	run --separate-stderr jrn-report attribution --model first
	assert_success
	assert_equal "${#lines[@]}" 1001
}

@test "attribution: where a touch's campaign and channel come from" {
	state
	# one customer, one order on day 10 (amount 60); linear gives each of
	# the six touches 1/6 (10 each), so every touch shows as its own
	# group's 10 (a group of two touches 20)
	send k1 a sms promo sent 1                                   # promo/sms
	send k2 a email NULL queued 2                                # (unknown)/email
	send k3 a email promo failed 2                               # not a touch
	event e1 email.clicked a 3 NULL '{"deliveryKey":"k1"}'       # promo/sms (k1's)
	event e2 email.opened a 4 NULL '{"campaignId":"news","channel":"email"}' # news/email
	event e3 email.opened a 5 NULL '{"deliveryKey":"nosuch","campaignId":"news"}' # news/email
	event e4 page.viewed a 6 NULL '{"utm_campaign":"ads"}'       # ads/web
	event e5 cart.updated a 7 NULL '{}'                          # not a touch
	event e6 order.completed a 8 NULL '{"utm_campaign":"ads"}'   # neither (no amount)
	event e7 order.completed a 10 60
	run --separate-stderr jrn-report attribution --model linear
	assert_success
	run cols linear <<< "$output"
	assert_output "(unknown) email 0.166666667 10 1
ads web 0.166666667 10 1
news email 0.333333333 20 2
promo sms 0.333333333 20 2"
}

@test "attribution: markov matches Puzyrov's worked example through a state file" {
	# S. Puzyrov, "Markov Chain Attribution - Simple Explanation Of
	# Removal Effect" (2019): paths google ads (2 conversions), mailing
	# (1), google ads > mailing (1), google ads (no conversion). Its
	# transitions: start > ads 4/5, start > mailing 1/5, ads > conv 2/4,
	# ads > mailing 1/4, ads > null 1/4, mailing > conv 2/2. P = 0.8 *
	# (0.5 + 0.25) + 0.2 = 0.8; removal effects: ads 1 - 0.2/0.8 = 0.75,
	# mailing 1 - 0.4/0.8 = 0.5; the 4 conversions: ads 4 * 0.75/1.25 =
	# 2.4, mailing 1.6; at 10 each, 24 and 16.
	state
	ads() { event "v$1" page.viewed "$1" "$2" NULL '{"utm_campaign":"g","utm_medium":"ads"}'; }
	ads g1 1
	event o1 order.completed g1 2 10
	ads g2 1
	event o2 order.completed g2 2 10
	send k1 m1 email news sent 1
	event o3 order.completed m1 2 10
	ads gm 1
	send k2 gm email news sent 2
	event o4 order.completed gm 3 10
	ads n1 1
	run --separate-stderr jrn-report attribution --model markov --by channel
	assert_success
	run jq -r '[.channel, (.conversions * 1e9 | round / 1e9), (.revenue * 1e9 | round / 1e9)] | map(tostring) | join(" ")' <<< "$output"
	assert_output "ads 2.4 24
email 1.6 16"
}
