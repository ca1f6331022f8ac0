#!/usr/bin/env bats
# Issue 16, the seed's real-time flow, as a user runs it: a touchpoint
# POSTed to jrn-ingest --listen goes through
#   jrn-ingest --listen | jrn-merge | jrn-ai state | jrn-ai optimize | jrn-route | jrn-send
# and comes out as a message in the spool, addressed from the stored
# profile; its link, followed, comes back through the listener as
# email.clicked, and its one-click unsubscribe link, POSTed as a mailbox
# provider does (RFC 8058), as consent.revoked; the next touchpoint's
# action is suppressed by the gate, and jrn-report counts the send, the
# click and the unsubscribe. And the SMS side: a
# customer texts STOP, Twilio calls the listener (signed), and the gate
# suppresses the next SMS. The seed's four sources served over HTTP from the
# shop's data; and the OpenAI-compatible back-end (through prism) in place
# of the rules model; and a journey's HTML mail whose open and click come
# back into the next report.

load helpers
load peers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	command -v curl > /dev/null || skip "no curl"
	export JRN_NOW=2026-01-10T10:00:00Z TRACK_SECRET=flow-s3cret
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	BASE=http://127.0.0.1:$PORT
	cat > jrn.yaml <<Y
ingest:
  listen:
    tracking:
      secret: \${TRACK_SECRET}
send:
  from: "Shop <news@shop.example>"
  tracking:
    url: $BASE
    secret: \${TRACK_SECRET}
ai:
  playbook:
    retention:
      - actionType: email
        campaignId: upsell
        subject: New in
        messageContent: "New arrivals, picked for you: https://shop.example/new"
Y
	# the customer: an address (Segment's identify) and two orders
	cat > history.ndjson <<'N'
{"id":"i1","type":"identify","customerId":"rt1","timestamp":"2025-06-01T10:00:00Z","traits":{"email":"rt1@example.com"}}
{"id":"o1","type":"order.completed","customerId":"rt1","timestamp":"2025-11-20T10:00:00Z","properties":{"amount":40}}
{"id":"o2","type":"order.completed","customerId":"rt1","timestamp":"2025-12-20T10:00:00Z","properties":{"amount":40}}
N
	jrn-ingest -q --store-only history.ndjson
}

teardown() {
	[ -s lpid ] && kill "$(cat lpid)" 2> /dev/null || :
	[ -s hpid ] && kill "$(cat hpid)" 2> /dev/null || :
	peers_stop
	wait 2> /dev/null
	true
}

# post JSON: one event to /events; the listener's reply on stdout
post() {
	curl -sS -X POST --data-binary "$1" "$BASE/events"
}

# until_true N CMD...: CMD every 0.1 s until it succeeds, at most N times
until_true() {
	local n=$1
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

@test "a touchpoint becomes a mail; its click and its one-click unsubscribe come back; the next is suppressed; the report counts them" {
	{ jrn-ingest -q --listen "127.0.0.1:$PORT" & echo $! > lpid; wait; } 2> listen.err |
		jrn-merge -q | jrn-ai state -q | jrn-ai optimize -q | jrn-route -q |
		jrn-send -q > out.ndjson 2> pipe.err &
	until_true 100 curl -sf -o /dev/null "$BASE/healthz"

	run post '{"id":"t1","type":"page.viewed","customerId":"rt1","timestamp":"2026-01-10T09:59:00Z","properties":{"url":"/p/1"}}'
	assert_output --partial '"status":"stored","id":"t1"'
	# the pipeline streams: the action reaches the spool while the listener runs
	until_true 100 compgen -G 'spool/*.eml'
	assert_equal "$(ls spool/*.eml | wc -l)" 1
	mail=$(ls spool/*.eml)
	grep -q '^To: rt1@example.com' "$mail"
	# the mail's unsubscribe link is the listener's signed /u/ link
	link=$(grep -o "$BASE/u/[A-Za-z0-9_.-]*" "$mail" | head -1)
	[ -n "$link" ]
	grep -q "^List-Unsubscribe: <$link>" "$mail"
	# its link to the shop is the listener's /c/ link (the text part is
	# quoted-printable): followed, it is a 302 to the shop, and email.clicked
	click=$(python3 -c 'import quopri, sys; sys.stdout.write(quopri.decodestring(open(sys.argv[1], "rb").read()).decode())' "$mail" |
		grep -o "$BASE/c/[A-Za-z0-9_.-]*" | head -1)
	[ -n "$click" ]
	run curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$click"
	assert_output '302 https://shop.example/new'
	until_true 100 grep -q '"type":"email.clicked"' out.ndjson

	# RFC 8058: the provider POSTs List-Unsubscribe=One-Click to the link
	run curl -sS -o /dev/null -w '%{http_code}' -X POST --data 'List-Unsubscribe=One-Click' "$link"
	assert_output 200
	assert_equal "$(sqlite3 jrn.db "SELECT channel, status FROM consent WHERE customer_id = 'rt1'")" 'email|revoked'

	# the next touchpoint: its action is suppressed by the gate, nothing sent
	run post '{"id":"t2","type":"page.viewed","customerId":"rt1","timestamp":"2026-01-10T10:00:00Z"}'
	assert_output --partial '"status":"stored","id":"t2"'
	until_true 100 grep -q '"id":"t2"' out.ndjson
	kill -TERM "$(cat lpid)"
	wait
	: > lpid
	assert_equal "$(ls spool/*.eml | wc -l)" 1
	# the events in order, each followed by its actions and their fate (the
	# click's action is the same mail the same day: the gate's duplicate;
	# consent.revoked is no touchpoint: no action, ai.touchpoints)
	assert_equal "$(jq -r 'if .type then .type else "\(.actionType) \(.route.decision) \(.route.reason // "-") \(.delivery.status)" end' out.ndjson)" \
		"page.viewed
email send - simulated
email.clicked
email suppress duplicate suppressed
consent.revoked
page.viewed
email suppress consent_revoked suppressed"
	# the next report: one e-mail sent (simulated) to the campaign, clicked,
	# and its recipient unsubscribed through it
	run jrn-report metrics --by channel --now 2026-01-10T11:00:00Z -q
	assert_success
	assert_equal "$(jq -c '[.channel, .sent, .clicked, .unsubscribed]' <<< "$output")" '["email",1,1,1]'
}

# twsig URL NAME=VALUE...: X-Twilio-Signature as Twilio documents it (the
# URL, then the parameters sorted by name, each name then its value;
# HMAC-SHA1 with the auth token; base64), made with openssl
twsig() {
	local url=$1
	shift
	{
		printf '%s' "$url"
		printf '%s\n' "$@" | LC_ALL=C sort | while IFS= read -r kv; do
			printf '%s%s' "${kv%%=*}" "${kv#*=}"
		done
	} | openssl dgst -sha1 -hmac "$TWILIO_TOKEN" -binary | base64 -w0
}

@test "an SMS goes out; the customer texts STOP to Twilio, which calls the listener; the next SMS is suppressed" {
	export TWILIO_TOKEN=tw-flow-token
	cat > jrn.yaml <<'Y'
ingest:
  listen:
    twilio:
      authToken: ${TWILIO_TOKEN}
Y
	jrn-ingest -q --store-only <<< '{"id":"i2","type":"identify","customerId":"rt2","timestamp":"2025-06-01T10:00:00Z","traits":{"phone":"+14155550123"}}'
	sms='{"actionType":"sms","customerId":"rt2","campaignId":"flash","messageContent":"Flash sale today"}'
	# the action, its profile (the phone), the gate, the send
	run --separate-stderr sh -c "jrn-merge -q | jrn-route -q | jrn-send -q" <<< "$sms"
	assert_success
	assert_equal "$(jq -c '[.route.decision, .delivery.status]' <<< "$output")" '["send","simulated"]'

	jrn-ingest -q --listen "127.0.0.1:$PORT" > stored.ndjson 2> listen.err &
	echo $! > lpid
	until_true 100 curl -sf -o /dev/null "$BASE/healthz"
	# Twilio's webhook for the reply "Stop" (a form POST, signed)
	path=/twilio/inbound
	set -- MessageSid=SMflow1 From=+14155550123 To=+15005550006 Body=Stop
	args=()
	for kv in "$@"; do args+=(--data-urlencode "$kv"); done
	run curl -sS -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: $(twsig "$BASE$path" "$@")" \
		"${args[@]}" "$BASE$path"
	assert_output 200
	# a forged one changes nothing
	run curl -sS -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: AAAA" \
		--data-urlencode From=+14155550123 --data-urlencode Body=START "$BASE$path"
	assert_output 403
	kill -TERM "$(cat lpid)"
	wait "$(cat lpid)"
	: > lpid
	assert_equal "$(jq -r .type stored.ndjson)" consent.revoked
	assert_equal "$(sqlite3 jrn.db "SELECT customer_id, channel, status FROM consent")" 'rt2|sms|revoked'

	# the next SMS to the customer is suppressed by the gate, and not sent
	run --separate-stderr sh -c "jrn-merge -q | jrn-route -q | jrn-send -q" \
		<<< '{"actionType":"sms","customerId":"rt2","campaignId":"flash2","messageContent":"Last hours"}'
	assert_success
	assert_equal "$(jq -c '[.route.decision, .route.reason]' <<< "$output")" '["suppress","consent_revoked"]'
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM deliveries WHERE channel = 'sms' AND status = 'simulated'")" 1
}

@test "the seed's four sources (CRM, e-mails, chats, purchases) over HTTP, from the shop's data, feed the touchpoint's state and its mail" {
	command -v mlr > /dev/null || skip "no mlr (Debian miller)"
	# the store's data: the slice's busiest customer, as four JSON APIs
	# would answer for them, served by Python's http.server on 127.0.0.1
	"$BATS_TEST_DIRNAME/../examples/retail/retail2jrn" \
		"$BATS_TEST_DIRNAME/../examples/retail/online-retail-2011q4-slice.csv.gz" > orders.ndjson 2> /dev/null
	c=$(jq -r 'select(.type == "order.completed") | .customerId' orders.ndjson | sort | uniq -c | sort -rn |
		awk 'NR == 1 { print $2 }')
	mkdir -p www/crm www/emails www/chats www/purchases
	jq -nc --arg c "$c" '{customerId: $c, email: ($c + "@retail.example"), firstName: "Ann"}' > "www/crm/$c"
	echo '[{"subject":"Your order","at":"2011-11-02T10:00:00Z"}]' > "www/emails/$c"
	echo '[]' > "www/chats/$c"
	jq -sc --arg c "$c" 'map(select(.customerId == $c and .type == "order.completed")
		| {orderId: .properties.orderId, amount: .properties.amount, at: .timestamp})' \
		orders.ndjson > "www/purchases/$c"
	(cd www && exec python3 -m http.server 0 --bind 127.0.0.1 > ../http.log 2>&1) &
	echo $! > hpid
	until_true 100 grep -q 'port [0-9]' http.log
	hp=$(sed -n 's/.*port \([0-9]*\).*/\1/p' http.log | head -1)
	cat >> jrn.yaml <<Y
sources:
  precedence: [crm]
  list:
    - {name: crm, type: http, url: "http://127.0.0.1:$hp/crm/{customerId}"}
    - {name: emails, type: http, unify: false, url: "http://127.0.0.1:$hp/emails/{customerId}"}
    - {name: chats, type: http, unify: false, url: "http://127.0.0.1:$hp/chats/{customerId}"}
    - {name: purchases, type: http, unify: false, url: "http://127.0.0.1:$hp/purchases/{customerId}"}
Y
	# the customer's orders are in the state file; no address is: the CRM has it
	JRN_NOW=2011-12-01T00:00:00Z jrn-ingest -q --store-only orders.ndjson
	export JRN_NOW=2011-12-01T10:00:00Z
	{ jrn-ingest -q --listen "127.0.0.1:$PORT" & echo $! > lpid; wait; } 2> listen.err |
		jrn-merge -q --require crm | jrn-ai state -q | jrn-ai optimize -q | jrn-route -q |
		jrn-send -q > out.ndjson 2> pipe.err &
	until_true 100 curl -sf -o /dev/null "$BASE/healthz"
	run post '{"id":"t9","type":"page.viewed","customerId":"'"$c"'","timestamp":"2011-12-01T09:59:00Z"}'
	assert_output --partial '"status":"stored","id":"t9"'
	until_true 100 grep -q '"delivery"' out.ndjson
	kill -TERM "$(cat lpid)"
	wait "$(cat lpid)" 2> /dev/null || true
	: > lpid
	# the four sources were asked, once each, for this customer
	for s in crm emails chats purchases; do
		assert_equal "$(grep -c "GET /$s/$c " http.log)" 1
	done
	# the event carries what they said, and its state
	assert_equal "$(jq -c 'select(.type) | [.profile.email, .profile.firstName, (.profile.sources | keys), (.state.journeyStage | type)]' out.ndjson)" \
		'["'"$c"'@retail.example","Ann",["chats","crm","emails","purchases"],"string"]'
	# and its mail went to the CRM's address
	assert_equal "$(jq -r 'select(.actionType == "email") | "\(.recipientEmail) \(.route.decision) \(.delivery.status)"' out.ndjson | sort -u)" \
		"$c@retail.example send simulated"
	grep -q "^To: $c@retail.example" spool/*.eml
}

@test "the same flow on the OpenAI-compatible back-end: state and actions asked through prism (OpenAI's spec), sent" {
	peer_skip_unless_installed prism
	# the model's two answers, in order: the state, then the actions (an
	# e-mail and an SMS), each request checked by prism against the spec
	fix=$BATS_TEST_DIRNAME/fixtures/openai
	printf '[{"status":200,"bodyFile":"%s"},{"status":200,"bodyFile":"%s"}]' \
		"$fix/state-valid.json" "$fix/actions-valid.json" > script.json
	peer_prism_openai_start --script script.json
	export OPENAI_API_KEY=sk-test-flow
	cat > jrn.yaml <<Y
send:
  from: "Shop <news@shop.example>"
ai:
  model: gpt
  models:
    gpt: {kind: openai, baseUrl: "$OPENAI_URL", model: gpt-4o-mini, apiKey: "\${OPENAI_API_KEY}", timeout: 10s}
Y
	jrn-ingest -q --store-only <<< '{"id":"i3","type":"identify","customerId":"rt1","timestamp":"2025-06-01T10:00:00Z","traits":{"phone":"+14155550177"}}'
	{ jrn-ingest -q --listen "127.0.0.1:$PORT" & echo $! > lpid; wait; } 2> listen.err |
		jrn-merge -q | jrn-ai state -q | jrn-ai optimize -q | jrn-route -q |
		jrn-send -q > out.ndjson 2> pipe.err &
	until_true 100 curl -sf -o /dev/null "$BASE/healthz"
	run post '{"id":"t5","type":"page.viewed","customerId":"rt1","timestamp":"2026-01-10T09:59:00Z"}'
	assert_output --partial '"status":"stored","id":"t5"'
	until_true 150 sh -c '[ "$(grep -c "\"delivery\"" out.ndjson)" -ge 2 ]'
	kill -TERM "$(cat lpid)"
	wait "$(cat lpid)" 2> /dev/null || true
	: > lpid
	# two questions reached the model, both valid by OpenAI's own schema
	assert_equal "$(peer_recorder_count)" 2
	! grep -q Violation "$PRISM_LOG"
	# the state is the model's; its actions went to the profile's address
	# and phone, through the gate, to the spool
	assert_equal "$(jq -c 'select(.type) | [.state.journeyStage, .state.source]' out.ndjson)" '["purchase","model"]'
	assert_equal "$(jq -r 'select(.actionType) | "\(.actionType) \(.campaignId) \(if .actionType == "sms" then .recipientPhone else .recipientEmail end) \(.route.decision) \(.delivery.status)"' out.ndjson)" \
		"email spring rt1@example.com send simulated
sms spring +14155550177 send simulated"
}

@test "a journey's HTML mail from the touchpoint: its open and its click come back through the listener into the next report" {
	# a journey on the touchpoint, its mail from a template with HTML
	mkdir -p journeys templates
	cat > journeys/browse.yaml <<'J'
name: browse
description: a product page seen -> a mail with what is new
trigger: {event: page.viewed}
reentry: 7d
steps:
  - id: mail
    action: {channel: email, template: browse, campaign: browse}
J
	echo 'New in, {{profile.firstName|friend}}' > templates/browse.subject
	printf 'New arrivals: https://shop.example/new\n' > templates/browse.txt
	printf '<html><body><p>New arrivals: <a href="https://shop.example/new">see them</a></p></body></html>\n' \
		> templates/browse.html
	{ jrn-ingest -q --listen "127.0.0.1:$PORT" & echo $! > lpid; wait; } 2> listen.err |
		jrn-route -q | jrn-send -q > out.ndjson 2> pipe.err &
	until_true 100 curl -sf -o /dev/null "$BASE/healthz"
	run post '{"id":"t7","type":"page.viewed","customerId":"rt1","timestamp":"2026-01-10T09:59:00Z","properties":{"url":"/p/7"}}'
	assert_output --partial '"status":"stored","id":"t7"'
	until_true 100 compgen -G 'spool/*.eml' || { cat pipe.err out.ndjson; false; }
	mail=$(ls spool/*.eml)
	# the HTML part (quoted-printable) has the pixel and the tracked link
	python3 -c 'import quopri, sys; sys.stdout.write(quopri.decodestring(open(sys.argv[1], "rb").read()).decode())' \
		"$mail" > mail.txt
	pixel=$(grep -o "$BASE/o/[A-Za-z0-9_.-]*" mail.txt | head -1)
	click=$(grep -o "$BASE/c/[A-Za-z0-9_.-]*" mail.txt | head -1)
	[ -n "$pixel" ] && [ -n "$click" ]
	# the mail is read (its pixel loaded), then its link followed
	run curl -sS -o pixel.gif -w '%{http_code} %{content_type}' "$pixel"
	assert_output '200 image/gif'
	run curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$click"
	assert_output '302 https://shop.example/new'
	until_true 100 grep -q '"type":"email.clicked"' out.ndjson
	kill -TERM "$(cat lpid)"
	wait "$(cat lpid)" 2> /dev/null || true
	: > lpid
	assert_equal "$(jq -r 'select(.type) | .type' out.ndjson | tr '\n' ' ')" 'page.viewed email.opened email.clicked '
	# the next report: the journey's mail sent, opened and clicked
	run jrn-report metrics --by campaign --now 2026-01-10T11:00:00Z -q
	assert_success
	assert_equal "$(jq -c '[.campaign, .sent, .opened, .clicked, .openRate, .clickRate]' <<< "$output")" \
		'["browse",1,1,1,1,1]'
	run jrn-report journeys --now 2026-01-10T11:00:00Z -q
	assert_equal "$(jq -c 'select(.level == "journey") | [.journey, .entered]' <<< "$output")" '["browse",1]'
}

@test "examples/realtime runs the flow as a service: a POST comes out delivered; SIGTERM ends it with the pipeline's status" {
	"$BATS_TEST_DIRNAME/../examples/realtime" "127.0.0.1:$PORT" 2> realtime.err &
	sp=$!
	until_true 100 curl -sf -o /dev/null "$BASE/healthz"
	[ -s realtime.pid ]
	run post '{"id":"t6","type":"page.viewed","customerId":"rt1","timestamp":"2026-01-10T09:59:00Z"}'
	assert_output --partial '"status":"stored","id":"t6"'
	until_true 100 grep -q '"delivery"' realtime.ndjson
	kill -TERM "$sp"
	status=0
	wait "$sp" || status=$?
	# 0, or 3 when a stage rejected a record (said on stderr)
	[ "$status" = 0 ] || [ "$status" = 3 ]
	[ ! -e realtime.pid ]
	run curl -s -o /dev/null "$BASE/healthz"
	assert_failure
	assert_equal "$(jq -r 'select(.type) | .type' realtime.ndjson)" page.viewed
	[ "$(jq -s 'map(select(.delivery.status == "simulated")) | length' realtime.ndjson)" -ge 1 ]
	grep -q '^To: rt1@example.com' spool/*.eml
}
