#!/usr/bin/env bats
# jrn-ingest --listen: the tracking (/o/ /c/), unsubscribe (/u/) and Twilio
# (/twilio/inbound, /twilio/status) endpoints, driven with curl on 127.0.0.1.
# Tokens and Twilio signatures are made here with openssl, independently of
# the C code (lib/track.h gives the format).

load helpers

SECRET=tr4ck-s3cret
TWILIO=tw-auth-token

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	cat > jrn.yaml <<Y
ingest:
  listen:
    tracking:
      secret: \${TRACK_SECRET}
    twilio:
      authToken: \${TWILIO_TOKEN}
      help: "Shop & Co: reply STOP to stop <3"
Y
	export TRACK_SECRET=$SECRET TWILIO_TOKEN=$TWILIO
}

teardown() {
	if [ -n "${LPID:-}" ]; then
		kill "$LPID" 2>/dev/null
		wait "$LPID" 2>/dev/null
	fi
	true
}

# start: jrn-ingest --listen on a free port of 127.0.0.1 → PORT, BASE, LPID
start() {
	: > listen.err # (made before the loop reads it: the job may not have opened it yet)
	jrn-ingest --db jrn.db --config jrn.yaml "$@" --listen 127.0.0.1:0 > out.ndjson 2> listen.err &
	LPID=$!
	for _ in $(seq 200); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' listen.err)
		[ -n "$PORT" ] && break
		sleep 0.05
	done
	[ -n "$PORT" ] || { cat listen.err; return 1; }
	BASE=http://127.0.0.1:$PORT
}

# stop: SIGTERM, exit 0
stop() {
	kill "$LPID"
	wait "$LPID"
	local rc=$?
	LPID=
	return $rc
}

b64url() {
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

# token SECRET PAYLOAD-JSON: lib/track.h's token, made with openssl
token() {
	local p s
	p=$(printf '%s' "$2" | b64url)
	s=$(printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" -binary | b64url)
	printf '%s.%s' "$p" "$s"
}

# twsig URL NAME=VALUE...: X-Twilio-Signature (Twilio: URL then the
# parameters sorted by name, name and value concatenated; HMAC-SHA1, base64)
twsig() {
	local url=$1
	shift
	{
		printf '%s' "$url"
		printf '%s\n' "$@" | LC_ALL=C sort | while IFS= read -r kv; do
			printf '%s%s' "${kv%%=*}" "${kv#*=}"
		done
	} | openssl dgst -sha1 -hmac "$TWILIO" -binary | base64 -w0
}

# twpost PATH NAME=VALUE...: a signed Twilio POST; prints the status line and body
twpost() {
	local path=$1
	shift
	local args=() kv
	for kv in "$@"; do
		args+=(--data-urlencode "$kv")
	done
	curl -s -i -H "X-Twilio-Signature: $(twsig "$BASE$path" "$@")" "${args[@]}" "$BASE$path"
}

OPEN='["o","key-1","c1","spring","email"]'
CLICK='["c","key-1","c1","spring","email","https://shop.example/sale?a=1&b=2"]'
UNSUB='["u","key-1","c1","spring","email"]'

@test "GET /o/TOKEN: a 1x1 GIF, email.opened stored with deliveryKey, campaignId, channel" {
	start
	curl -s -D h.txt -o pixel.gif -A "Mail/1.0" "$BASE/o/$(token $SECRET "$OPEN")"
	grep -q '^HTTP/1.1 200' h.txt
	grep -qi '^Content-Type: image/gif' h.txt
	grep -qi '^Cache-Control: no-store' h.txt
	assert_equal "$(head -c 6 pixel.gif)" GIF89a
	assert_equal "$(stat -c %s pixel.gif)" 43
	stop
	run rows "select type, customer_id, json_extract(body, '$.properties.deliveryKey'),
	  json_extract(body, '$.properties.campaignId'), json_extract(body, '$.properties.channel'),
	  json_extract(body, '$.context.userAgent') from events"
	assert_output "email.opened|c1|key-1|spring|email|Mail/1.0"
	# stored before shown: the same event on stdout
	assert_equal "$(jq -r .type out.ndjson)" email.opened
}

@test "GET /c/TOKEN: 302 to the signed target, email.clicked with the url; a query parameter changes nothing" {
	start
	run curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$BASE/c/$(token $SECRET "$CLICK")?url=https://evil.example/"
	assert_output "302 https://shop.example/sale?a=1&b=2"
	stop
	run rows "select type, json_extract(body, '$.properties.url'), json_extract(body, '$.properties.deliveryKey') from events"
	assert_output "email.clicked|https://shop.example/sale?a=1&b=2|key-1"
}

@test "bad tokens: 404 and nothing stored (other secret, changed payload, cut, wrong kind, garbage)" {
	start
	good=$(token $SECRET "$CLICK")
	forged=$(token other-secret "$CLICK")
	evil=$(printf '%s' '["c","key-1","c1","spring","email","https://evil.example/"]' | b64url)
	for t in "$forged" "$evil.${good#*.}" "${good%?}" "${good%%.*}" "x.y" "$(token $SECRET "$OPEN")"; do
		run curl -s -o /dev/null -w '%{http_code}' "$BASE/c/$t"
		assert_output 404
	done
	# an open token is no unsubscribe, a click token no open
	run curl -s -o /dev/null -w '%{http_code}' -d List-Unsubscribe=One-Click "$BASE/u/$(token $SECRET "$OPEN")"
	assert_output 404
	run curl -s -o /dev/null -w '%{http_code}' "$BASE/o/$good"
	assert_output 404
	# signed right, but a javascript: target
	run curl -s -o /dev/null -w '%{http_code}' "$BASE/c/$(token $SECRET '["c","k","c1","","email","javascript:alert(1)"]')"
	assert_output 404
	# longer than JRN_TRACK_MAX_TOKEN (4096)
	run curl -s -o /dev/null -w '%{http_code}' "$BASE/o/$(head -c 5000 /dev/zero | tr '\0' A)"
	assert_output 404
	stop
	assert_equal "$(rows 'select count(*) from events')" 0
	assert_equal "$(wc -c < out.ndjson)" 0
}

@test "without ingest.listen.tracking.secret every token is 404" {
	printf 'ingest: {}\n' > jrn.yaml
	start
	run curl -s -o /dev/null -w '%{http_code}' "$BASE/o/$(token $SECRET "$OPEN")"
	assert_output 404
	stop
}

@test "GET /u/TOKEN: a confirmation page with a form button, nothing stored" {
	start
	run curl -s -w '\n%{http_code} %{content_type}' "$BASE/u/$(token $SECRET "$UNSUB")"
	assert_line --partial '<form method="post">'
	assert_line --partial 'name="List-Unsubscribe" value="One-Click"'
	assert_line --partial '<button type="submit" id="unsubscribe">'
	assert_line "200 text/html; charset=utf-8"
	refute_output --partial '<script'
	stop
	assert_equal "$(rows 'select count(*) from events')" 0
}

@test "POST /u/TOKEN as a mailbox provider sends it (RFC 8058): 200, consent revoked, idempotent" {
	start
	u="$BASE/u/$(token $SECRET "$UNSUB")"
	# RFC 8058 section 3.2: POST, body List-Unsubscribe=One-Click, no cookies, no login
	run curl -s -w '\n%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' --data-raw 'List-Unsubscribe=One-Click' "$u"
	assert_line --index 0 --partial '<!DOCTYPE html>'
	assert_line 200
	run curl -s -o /dev/null -w '%{http_code}' --data-raw 'List-Unsubscribe=One-Click' "$u"
	assert_output 200
	stop
	run rows "select customer_id, channel, status from consent"
	assert_output "c1|email|revoked"
	run rows "select type, json_extract(body, '$.properties.campaignId'), json_extract(body, '$.properties.scope'), json_extract(body, '$.properties.deliveryKey') from events"
	assert_output "consent.revoked|spring|channel|key-1"
	[[ "$(cat listen.err)" == *"1 stored, 0 duplicate"* ]]
}

@test "POST /u/TOKEN after the customer subscribed again revokes again (an old mail's link keeps working)" {
	u='["u","key-1","c1","spring","email"]'
	JRN_NOW=2026-01-01T00:00:00Z start
	run curl -s -o /dev/null -w '%{http_code}' -d List-Unsubscribe=One-Click "$BASE/u/$(token $SECRET "$u")"
	assert_output 200
	stop
	ev consent.granted c1 '"properties":{"channel":"email"}' | sed 's/2025-06-01T12:00:00.000Z/2026-01-02T00:00:00Z/' | jrn-ingest --db jrn.db -q > /dev/null
	assert_equal "$(rows 'select status from consent')" granted
	JRN_NOW=2026-01-03T00:00:00Z start
	run curl -s -o /dev/null -w '%{http_code}' -d List-Unsubscribe=One-Click "$BASE/u/$(token $SECRET "$u")"
	assert_output 200
	stop
	assert_equal "$(rows 'select status from consent')" revoked
	assert_equal "$(rows "select count(*) from events where type = 'consent.revoked'")" 2
}

@test "POST /u/TOKEN without List-Unsubscribe=One-Click: 400, nothing stored" {
	start
	u="$BASE/u/$(token $SECRET "$UNSUB")"
	for body in '' 'List-Unsubscribe=Yes' 'a=b' 'List-Unsubscribe=%zz'; do
		run curl -s -o /dev/null -w '%{http_code}' --data-raw "$body" "$u"
		assert_output 400
	done
	stop
	assert_equal "$(rows 'select count(*) from events')" 0
	assert_equal "$(rows 'select count(*) from consent')" 0
}

@test "an SMS unsubscribe token revokes sms consent" {
	start
	run curl -s -o /dev/null -w '%{http_code}' -d List-Unsubscribe=One-Click "$BASE/u/$(token $SECRET '["u","k9","c9","","sms"]')"
	assert_output 200
	stop
	assert_equal "$(rows 'select customer_id, channel, status from consent')" "c9|sms|revoked"
}

# ---- Twilio ------------------------------------------------------------------

identify() { # CUSTOMER PHONE: the customer's phone claimed in identities
	printf '{"type":"identify","userId":"%s","traits":{"phone":"%s"}}\n' "$1" "$2" | jrn-ingest --db jrn.db -q > /dev/null
}

@test "Twilio inbound STOP (any case, blanks): consent.revoked for sms of the phone's customer; empty TwiML" {
	identify c7 +14155550100
	start
	run twpost /twilio/inbound MessageSid=SM1 From=+14155550100 To=+15005550006 'Body=  stop '
	assert_line --index 0 --partial 'HTTP/1.1 200'
	assert_line --partial 'Content-Type: text/xml'
	assert_line --partial '<Response></Response>'
	# Twilio retries: the same MessageSid is the same event
	run twpost /twilio/inbound MessageSid=SM1 From=+14155550100 To=+15005550006 'Body=  stop '
	assert_line --index 0 --partial 'HTTP/1.1 200'
	stop
	assert_equal "$(rows "select customer_id, channel, status from consent")" "c7|sms|revoked"
	assert_equal "$(rows "select count(*) from events where type = 'consent.revoked'")" 1
	run rows "select json_extract(body, '$.properties.keyword'), json_extract(body, '$.properties.from') from events where type = 'consent.revoked'"
	assert_output "stop|+14155550100"
}

@test "Twilio inbound: every advanced opt-out keyword; START, YES, UNSTOP grant; other text stores nothing" {
	identify c7 +14155550100
	start
	n=0
	for w in STOP STOPALL UNSUBSCRIBE CANCEL END QUIT START YES UNSTOP; do
		n=$((n + 1))
		run twpost /twilio/inbound MessageSid=SM$n From=+14155550100 "Body=$w"
		assert_line --index 0 --partial 'HTTP/1.1 200'
	done
	run twpost /twilio/inbound MessageSid=SMx From=+14155550100 'Body=stop please'
	assert_line --index 0 --partial 'HTTP/1.1 200'
	# white space around the word: the same keyword, stored trimmed
	run twpost /twilio/inbound MessageSid=SMy From=+14155550100 'Body= stop '
	assert_line --index 0 --partial 'HTTP/1.1 200'
	stop
	run rows "select json_extract(body, '$.properties.keyword') || ':' || type from events where type like 'consent.%' order by seq"
	assert_equal "$(echo "$output" | tr '\n' ' ')" "STOP:consent.revoked STOPALL:consent.revoked UNSUBSCRIBE:consent.revoked CANCEL:consent.revoked END:consent.revoked QUIT:consent.revoked START:consent.granted YES:consent.granted UNSTOP:consent.granted stop:consent.revoked "
	assert_equal "$(rows "select status from consent where customer_id = 'c7'")" revoked
}

@test "Twilio inbound HELP: the configured reply, XML-escaped; an unknown number's STOP goes to the number itself" {
	start
	run twpost /twilio/inbound MessageSid=SMh From=+14155550199 Body=help
	assert_line --partial '<Response><Message>Shop &amp; Co: reply STOP to stop &lt;3</Message></Response>'
	run twpost /twilio/inbound MessageSid=SMs From=+14155550199 Body=STOP
	assert_line --index 0 --partial 'HTTP/1.1 200'
	stop
	assert_equal "$(rows "select customer_id, channel, status from consent")" "+14155550199|sms|revoked"
}

@test "Twilio's documented example: twsig (the signer of these tests) gives its signature" {
	# The vector of Twilio's "Webhooks security" page, checked here with openssl
	TWILIO=12345 run twsig 'https://mycompany.com/myapp.php?foo=1&bar=2' CallSid=CA1234567890ABCDE Caller=+12349013030 Digits=1234 From=+12349013030 To=+18005551212
	assert_output '0/KCTR6DLpKmkAf8muzZqo1nDgQ='
}

@test "Twilio: a bad or missing X-Twilio-Signature is 403 and stores nothing" {
	identify c7 +14155550100
	start
	run curl -s -o /dev/null -w '%{http_code}' -d MessageSid=SM1 -d From=+14155550100 -d Body=STOP "$BASE/twilio/inbound"
	assert_output 403
	run curl -s -o /dev/null -w '%{http_code}' -H 'X-Twilio-Signature: 0/KCTR6DLpKmkAf8muzZqo1nDgQ=' -d MessageSid=SM1 -d From=+14155550100 -d Body=STOP "$BASE/twilio/inbound"
	assert_output 403
	# signed for other parameters
	sig=$(twsig "$BASE/twilio/inbound" MessageSid=SM1 From=+14155550100 Body=START)
	run curl -s -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: $sig" -d MessageSid=SM1 -d From=+14155550100 -d Body=STOP "$BASE/twilio/inbound"
	assert_output 403
	sig=$(twsig "$BASE/twilio/status" MessageSid=SM1 MessageStatus=delivered)
	run curl -s -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: $sig" -d MessageSid=SM1 -d MessageStatus=failed "$BASE/twilio/status"
	assert_output 403
	run curl -s -o /dev/null -w '%{http_code}' "$BASE/twilio/status"
	assert_output 405
	stop
	assert_equal "$(rows 'select count(*) from events where type != '"'identify'"'')" 0
}

# a delivery jrn-send recorded: key, customer, campaign and Twilio's MessageSid
delivery() {
	[ -f jrn.db ] || jrn-ingest --db jrn.db -q < /dev/null
	sqlite3 jrn.db "insert into deliveries (key, customer_id, channel, campaign_id, status, provider, message_id, claimed_at, updated_at, record)
	  values ('$1', '$2', 'sms', 'spring', 'sent', 'twilio', '$3', 0, 0, '{}')"
}

@test "Twilio status: delivered and failed become sms.delivered / sms.failed with the delivery's key; queued and sent store nothing" {
	identify c7 +14155550100
	delivery dk-1 c7 SM100
	delivery dk-2 c7 SM200
	start
	for st in queued sent; do
		run twpost /twilio/status MessageSid=SM100 MessageStatus=$st To=+14155550100
		assert_line --index 0 --partial 'HTTP/1.1 204'
	done
	run twpost /twilio/status MessageSid=SM100 MessageStatus=delivered To=+14155550100
	assert_line --index 0 --partial 'HTTP/1.1 204'
	run twpost /twilio/status MessageSid=SM200 MessageStatus=undelivered ErrorCode=30008 To=+14155550100
	assert_line --index 0 --partial 'HTTP/1.1 204'
	run twpost /twilio/status MessageSid=SM200 MessageStatus=undelivered ErrorCode=30008 To=+14155550100
	stop
	run rows "select type, customer_id, json_extract(body, '$.properties.deliveryKey'), json_extract(body, '$.properties.campaignId'), json_extract(body, '$.properties.errorCode') from events where type like 'sms.%' order by seq"
	assert_line --index 0 "sms.delivered|c7|dk-1|spring|"
	assert_line --index 1 "sms.failed|c7|dk-2|spring|30008"
	assert_equal "${#lines[@]}" 2
	assert_equal "$(rows 'select count(*) from suppressions')" 0
}

@test "Twilio status: ErrorCode 30003, 30005, 30006 also suppress the number on sms" {
	delivery dk-3 c3 SM3
	delivery dk-5 c5 SM5
	start
	run twpost /twilio/status MessageSid=SM3 MessageStatus=failed ErrorCode=30003 To=+14155550103
	assert_line --index 0 --partial 'HTTP/1.1 204'
	run twpost /twilio/status MessageSid=SM5 MessageStatus=undelivered ErrorCode=30005 To=+14155550105
	run twpost /twilio/status MessageSid=SM6 MessageStatus=undelivered ErrorCode=30006 To=+14155550106
	assert_line --index 0 --partial 'HTTP/1.1 204'
	run twpost /twilio/status MessageSid=SM7 MessageStatus=failed
	assert_line --index 0 --partial 'HTTP/1.1 400'
	stop
	run rows "select address, channel, reason, source from suppressions order by address"
	assert_line --index 0 "+14155550103|sms|unreachable|twilio:30003"
	assert_line --index 1 "+14155550105|sms|invalid|twilio:30005"
	assert_line --index 2 "+14155550106|sms|invalid|twilio:30006"
	# SM6 has no delivery: recorded for the number
	assert_equal "$(rows "select customer_id from events where json_extract(body, '$.properties.messageSid') = 'SM6'")" "+14155550106"
}

@test "Twilio inbound STOP, then jrn-send of an SMS to that customer is suppressed" {
	identify c7 +14155550100
	start
	run twpost /twilio/inbound MessageSid=SMstop From=+14155550100 Body=STOP
	assert_line --index 0 --partial 'HTTP/1.1 200'
	stop
	printf '{"actionType":"sms","customerId":"c7","recipientPhone":"+14155550100","messageContent":"Sale!"}\n' > a.ndjson
	run --separate-stderr jrn-send --db jrn.db a.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output")" suppressed
	[[ "$(jq -r '.delivery.error // .route.reason // .delivery.reason' <<< "$output")" == *revoked* ]]
	assert_equal "$(ls spool 2>/dev/null | wc -l)" 0
}
