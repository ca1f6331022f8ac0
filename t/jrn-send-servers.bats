#!/usr/bin/env bats
# jrn-send against real servers on 127.0.0.1 (t/peers.bash): SMTP with AUTH,
# STARTTLS and faults (smtp-capture, postfix smtp-sink), Twilio behind prism
# (requests and replies checked against Twilio's OpenAPI spec), signed
# webhooks (recorder, httpbin), retargeting audiences, the outbox, and
# exactly-once delivery across kill -9.

load helpers
load peers

FIX=$BATS_TEST_DIRNAME/fixtures/send-servers
PY=/usr/bin/python3
# JRN_NOW (helpers.bash) in unix seconds
NOW_S=1767225600
SID=AC00000000000000000000000000000001

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export SMTP_USER=mailer SMTP_PASSWORD=Pw-9f3kq TWILIO_AUTH_TOKEN=tw-token-77
	export JRN_WEBHOOK_SECRET=whsec-test
}

teardown() {
	peers_stop
}

# conf PROVIDERS-YAML [SEND-YAML]: jrn.yaml with the providers block given,
# fast retries, and extra send: members (indented two spaces) if any.
conf() {
	{
		printf 'providers:\n%s\n' "$1"
		printf 'send:\n  from: "Shop <news@shop.test>"\n'
		printf '  retry: {backoff: [100ms, 200ms], jitter: 0, maxWait: 5s}\n'
		[ -z "${2-}" ] || printf '%s\n' "$2"
	} >jrn.yaml
}

# mail N [EXTRA-MEMBERS]: one email action line for customer cN
mail() {
	printf '{"actionType":"email","customerId":"c%s","campaignId":"spring","recipientEmail":"user%s@example.test","subject":"Hi","messageContent":"Hello"%s}\n' \
		"$1" "$1" "${2:+,$2}"
}

# sms [EXTRA-MEMBERS]: one sms action line (the phone in national form)
sms() {
	printf '{"actionType":"%s","customerId":"c1","campaignId":"spring","recipientPhone":"(415) 555-0100","messageContent":"Sale today"%s}\n' \
		"${CHANNEL:-sms}" "${1:+,$1}"
}

# dfield NAME [INDEX]: delivery.NAME of output line INDEX (0)
dfield() {
	jq -r ".delivery.$1" <<<"${lines[${2:-0}]}"
}

# free_port: a port where nothing listens
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# twilio_conf [EXTRA-PROVIDER-YAML]: sms and whatsapp through prism
twilio_conf() {
	conf "  sms:
    - type: twilio
      name: tw
      baseUrl: $TWILIO_URL
      accountSid: $SID
      authToken: \${TWILIO_AUTH_TOKEN}
      statusCallback: https://hooks.shop.test/twilio
      footer: Reply STOP to opt out
      costPerSegment: 0.0079
      ${1:-from: \"+14155552345\"}
  whatsapp:
    - type: twilio
      name: twa
      baseUrl: $TWILIO_URL
      accountSid: $SID
      authToken: \${TWILIO_AUTH_TOKEN}
      from: \"+14155552345\""
}

# ---- SMTP ---------------------------------------------------------------------

@test "smtp: tls none delivers a message with its headers, MIME parts, envelope and EHLO name" {
	peer_skip_unless_installed smtp
	peer_smtp_start
	mkdir templates
	printf 'Spring sale, {{profile.firstName}}\n' >templates/sale.subject
	# {{{ }}}: a text part takes the URL as it is ({{x}} escapes for HTML in every part)
	printf 'Hello {{profile.firstName}}, 20%% off.\nUnsubscribe: {{{unsubscribeUrl}}}\n' >templates/sale.txt
	printf '<p>Hello {{profile.firstName}}, <b>20%% off</b>.</p>\n' >templates/sale.html
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL/mta.shop.test\", tls: none, envelopeFrom: bounces@shop.test}" \
		"  unsubscribe: {mailto: unsub@shop.test, url: \"https://shop.test/u\", secret: unsub-key}"
	echo '{"actionType":"email","customerId":"c1","campaignId":"spring","recipientEmail":" Ann.Lee@Example.COM ","template":"sale","profile":{"firstName":"Ann","lastName":"Lee"}}' >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-send: 1 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected (email 1)"
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield provider)" capture
	assert_equal "$(dfield attempts)" 1
	mid=$(dfield messageId)
	[[ $mid =~ ^\<[0-9a-f]{32}@shop\.test\>$ ]]
	assert_equal "$(rows "SELECT status, provider, message_id, attempts FROM deliveries")" "sent|capture|$mid|1"
	# the envelope: envelopeFrom, the normalised recipient, the EHLO name from the URL path
	run jq -c '[.mailFrom, .rcptTo, .user, .secure, .heloName]' "$SMTP_DIR/1.json"
	assert_output '["bounces@shop.test",["ann.lee@example.com"],null,false,"mta.shop.test"]'
	[ ! -e "$SMTP_DIR/2.eml" ]
	token=$(printf 'c1\nann.lee@example.com\nspring' | openssl dgst -sha256 -hmac unsub-key -r | cut -d' ' -f1)
	run $PY "$FIX/mime.py" "$SMTP_DIR/1.eml"
	assert_success
	assert_line 'from=Shop <news@shop.test>'
	assert_line 'to=Ann Lee <ann.lee@example.com>'
	assert_line 'subject=Spring sale, Ann'
	assert_line 'date=Thu, 01 Jan 2026 00:00:00 +0000'
	assert_line "message-id=$mid"
	assert_line 'mime-version=1.0'
	assert_line "list-unsubscribe=<mailto:unsub@shop.test?subject=unsubscribe>, <https://shop.test/u?c=c1&k=spring&t=$token>"
	assert_line 'list-unsubscribe-post=List-Unsubscribe=One-Click'
	assert_line 'x-jrn-campaign=spring'
	assert_line 'defects=0'
	assert_line 'type=multipart/alternative'
	assert_line --index 11 'part=text/plain charset=utf-8'
	assert_line --index 12 "body='Hello Ann, 20% off.\\nUnsubscribe: https://shop.test/u?c=c1&k=spring&t=$token\\n'"
	assert_line --index 13 'part=text/html charset=utf-8'
	assert_line --index 14 "body='<p>Hello Ann, <b>20% off</b>.</p>\\n'"
	assert_equal "${#lines[@]}" 16
}

@test "smtp: a non-ASCII subject, lines with leading dots and a long line arrive intact" {
	peer_skip_unless_installed smtp
	peer_smtp_start
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	long=$(printf 'word%.0s' $(seq 300))
	jq -nc --arg long "$long" '{actionType: "email", customerId: "c1", category: "transactional",
		recipientEmail: "ann@example.test", profile: {name: "Zoë Ünal"}, subject: "Grüße für Zoë ✓",
		messageContent: ("Line one\n.dot line\n..two dots\n.\nafter a lone dot, café\n" + $long + "\n")}' >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	# the raw header is RFC 2047 encoded, not 8-bit
	run grep -c '^Subject: =?UTF-8?' "$SMTP_DIR/1.eml"
	assert_output 1
	run $PY "$FIX/mime.py" "$SMTP_DIR/1.eml"
	assert_success
	assert_line 'subject=Grüße für Zoë ✓'
	assert_line 'to=Zoë Ünal <ann@example.test>'
	assert_line 'defects=0'
	assert_line 'type=text/plain'
	assert_line "body='Line one\\n.dot line\\n..two dots\\n.\\nafter a lone dot, café\\n$long\\n'"
	n=$(sed -n 's/^longest=//p' <<<"$output")
	[ "$n" -le 78 ]
}

@test "smtp: AUTH with credentials from \${ENV}; a wrong password fails; the password never shows" {
	peer_skip_unless_installed smtp
	peer_smtp_start --auth "mailer:$SMTP_PASSWORD"
	conf "  email:
    - {type: smtp, name: auth, url: \"$SMTP_URL\", tls: none, username: \"\${SMTP_USER}\", password: \"\${SMTP_PASSWORD}\"}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send -v a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(jq -r .user "$SMTP_DIR/1.json")" mailer
	[[ $output != *"$SMTP_PASSWORD"* && $stderr != *"$SMTP_PASSWORD"* ]]

	SMTP_PASSWORD=Wrong-pw-31x
	mail 2 >b.ndjson
	run --separate-stderr jrn-send -v b.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 1 # a refused login is not retried
	dfield error | grep -Eiq 'login|auth'
	[[ $stderr == *"email to user2@example.test failed: auth: "* ]]
	[ ! -e "$SMTP_DIR/2.eml" ]
	for pw in Pw-9f3kq Wrong-pw-31x; do
		[[ $output != *"$pw"* && $stderr != *"$pw"* ]]
		run ! grep -q -- "$pw" <(sqlite3 jrn.db .dump)
	done
	# the dump does hold the records: the grep can see into it
	sqlite3 jrn.db .dump | grep -q user2@example.test
}

@test "smtp: XOAUTH2 with a bearer token (as Gmail takes it); a wrong token fails" {
	peer_skip_unless_installed smtp
	peer_smtp_start --xoauth2 "ann@gmail.test:ya29.good-token"
	export OAUTH_TOKEN=ya29.good-token
	conf "  email:
    - {type: smtp, name: gmail, url: \"$SMTP_URL\", tls: none, username: ann@gmail.test, bearer: \"\${OAUTH_TOKEN}\"}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(jq -r .user "$SMTP_DIR/1.json")" ann@gmail.test
	[[ $output != *ya29* && $stderr != *ya29* ]]

	export OAUTH_TOKEN=ya29.expired
	mail 2 >b.ndjson
	run --separate-stderr jrn-send b.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	[ ! -e "$SMTP_DIR/2.eml" ]
	[[ $output != *ya29* && $stderr != *ya29* ]]
}

@test "smtp: STARTTLS with tls: required and the test CA; without caFile it fails and sends nothing in clear" {
	peer_skip_unless_installed smtp ca
	peer_test_ca ca
	peer_smtp_start --tls ca/server.key,ca/server.pem --require-tls
	conf "  email:
    - {type: smtp, name: tls, url: \"$SMTP_URL\", tls: required, caFile: ca/ca.pem}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send --config jrn.yaml a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(jq -r .secure "$SMTP_DIR/1.json")" true

	conf "  email:
    - {type: smtp, name: tls, url: \"$SMTP_URL\", tls: required}"
	mail 2 >b.ndjson
	run --separate-stderr jrn-send b.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 1
	dfield error | grep -Eiq 'certificate|SSL|verif'
	[ ! -e "$SMTP_DIR/2.eml" ]
	assert_equal "$(cat "$SMTP_DIR/data.log")" "250 1"
}

@test "smtp: tls: required against a server without STARTTLS fails and sends nothing" {
	peer_skip_unless_installed smtp
	peer_smtp_start
	conf "  email:
    - {type: smtp, name: strict, url: \"$SMTP_URL\", tls: required}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	dfield error | grep -Eiq 'STARTTLS|SSL|TLS'
	# and says which key decides it (a newcomer's trial)
	dfield error | grep -q "the provider's tls is 'required'; 'none' for a server without TLS"
	[ ! -e "$SMTP_DIR/1.eml" ]
	[ ! -e "$SMTP_DIR/data.log" ]
	# tls: try goes on in clear
	conf "  email:
    - {type: smtp, name: lax, url: \"$SMTP_URL\", tls: try}"
	run --separate-stderr jrn-send --db try.db a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(jq -r .secure "$SMTP_DIR/1.json")" false
}

@test "smtp: smtps:// (implicit TLS) with caFile and AUTH" {
	peer_skip_unless_installed smtp ca
	peer_test_ca ca
	peer_smtp_start --tls ca/server.key,ca/server.pem --secure --auth "mailer:$SMTP_PASSWORD"
	[[ $SMTP_URL == smtps://* ]]
	conf "  email:
    - {type: smtp, name: smtps, url: \"$SMTP_URL\", caFile: ca/ca.pem, username: \"\${SMTP_USER}\", password: \"\${SMTP_PASSWORD}\"}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	# no envelopeFrom: the envelope sender is send.from's address
	run jq -c '[.secure, .user, .mailFrom, .rcptTo]' "$SMTP_DIR/1.json"
	assert_output '[true,"mailer","news@shop.test",["user1@example.test"]]'
}

@test "smtp: a rejected recipient fails, is suppressed as bounced, and the next run does not connect" {
	peer_skip_unless_installed smtp
	peer_smtp_start --reject-rcpt bounce
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	printf '{"actionType":"email","customerId":"c9","recipientEmail":"gone@bounce.test","subject":"Hi","messageContent":"x"}\n' >a.ndjson
	mail 1 >>a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_equal "$(dfield status 0)" failed
	assert_equal "$(dfield attempts 0)" 1
	dfield error 0 | grep -q 550
	assert_equal "$(dfield status 1)" sent
	assert_equal "$(rows "SELECT address, channel, reason, source FROM suppressions")" "gone@bounce.test|email|bounced|smtp:550"
	# the server is gone: a second run must not need it
	peers_stop
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status 0)" suppressed
	assert_equal "$(dfield attempts 0)" 0
	assert_equal "$(dfield status 1)" duplicate
}

@test "smtp: a recipient refused by one provider but delivered by the next is not suppressed" {
	peer_skip_unless_installed smtp
	peer_smtp_start --reject-rcpt bounce
	local first=$SMTP_URL
	peer_smtp_start
	conf "  email:
    - {type: smtp, name: strict, url: \"$first\", tls: none}
    - {type: smtp, name: backup, url: \"$SMTP_URL\", tls: none}"
	printf '{"actionType":"email","customerId":"c9","recipientEmail":"ann@bounce.test","subject":"Hi","messageContent":"x"}\n' >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield provider)" backup
	assert_equal "$(rows "SELECT count(*) FROM suppressions")" 0
}

@test "smtp: a connection dropped in the middle of DATA is retried and sent" {
	peer_skip_unless_installed smtp
	peer_smtp_start --drop-data 1
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield attempts)" 2
	assert_equal "$(cat "$SMTP_DIR/data.log")" "$(printf 'drop\n250 1')"
	[ ! -e "$SMTP_DIR/2.eml" ]
}

@test "smtp: 4xx is retried (sent at attempt 3); 5xx fails at once" {
	peer_skip_unless_installed smtp
	peer_smtp_start --tempfail 2
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield attempts)" 3
	assert_equal "$(cat "$SMTP_DIR/data.log")" "$(printf '451 tempfail\n451 tempfail\n250 1')"

	peer_smtp_start --permfail
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	run --separate-stderr jrn-send a.ndjson --db perm.db
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 1
	assert_equal "$(cat "$SMTP_DIR/data.log")" "554 permfail"
	# a 5xx after DATA is not a bounce of the address
	assert_equal "$(sqlite3 perm.db 'SELECT count(*) FROM suppressions')" 0

	# 552 at MAIL FROM (SIZE over the server's limit): failed, not retried, not a bounce
	peer_smtp_start --max-size 100
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	run --separate-stderr jrn-send a.ndjson --db size.db
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 1
	dfield error | grep -q 552
	assert_equal "$(sqlite3 size.db 'SELECT count(*) FROM suppressions')" 0
}

@test "smtp: the error of a DATA refused with 5xx names the server's reply" {
	peer_skip_unless_installed smtp
	peer_smtp_start --permfail
	conf "  email:
    - {type: smtp, name: capture, url: \"$SMTP_URL\", tls: none}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	# libcurl only says "Weird server reply"; the code (554) is known
	# (CURLINFO_RESPONSE_CODE) and should be in the error
	dfield error | grep -q 554
}

@test "smtp: fallback chain: a dead first provider, then the second sends" {
	peer_skip_unless_installed smtp
	peer_smtp_start
	port=$(free_port)
	conf "  email:
    - {type: smtp, name: dead, url: \"smtp://127.0.0.1:$port\", tls: none, timeout: 2s}
    - {type: smtp, name: backup, url: \"$SMTP_URL\", tls: none}"
	mail 1 >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield provider)" backup
	assert_equal "$(dfield attempts)" 4 # 3 on dead (backoff has 2 waits), 1 on backup
	[[ $stderr == *"a.ndjson:1: dead: "*"; trying backup"* ]]
	assert_equal "$(jq -c .rcptTo "$SMTP_DIR/1.json")" '["user1@example.test"]'
	assert_equal "$(rows "SELECT status, provider FROM deliveries")" "sent|backup"
}

@test "smtp: 50 messages with --parallel 2 reuse connections" {
	peer_skip_unless_installed sink
	peer_sink_start --no-dump
	conf "  email:
    - {type: smtp, name: sink, url: \"$SINK_URL\", tls: none}"
	for i in $(seq 50); do mail "$i"; done >a.ndjson
	run --separate-stderr jrn-send --parallel 2 a.ndjson
	assert_success
	[ "$(grep -c '"status":"sent"' <<<"$output")" -eq 50 ]
	assert_equal "$(peer_sink_count)" 50
	# smtp-sink -c: "sess=N quit=N mesg=N", sess counting connections
	sess=$(tr '\r' '\n' <"$SINK_COUNTERS" | grep -o 'sess=[0-9]*' | tail -1 | cut -d= -f2)
	[ -n "$sess" ]
	echo "# connections: $sess" >&3
	[ "$sess" -ge 1 ] && [ "$sess" -le 4 ]
}

@test "smtp: rate: 10 spreads 30 messages over about 2 s; connections: 1 uses one connection" {
	peer_skip_unless_installed sink
	peer_sink_start --no-dump
	conf "  email:
    - {type: smtp, name: sink, url: \"$SINK_URL\", tls: none, rate: 10, connections: 1}"
	for i in $(seq 30); do mail "$i"; done >a.ndjson
	start=$(date +%s%N)
	run --separate-stderr jrn-send --parallel 8 a.ndjson
	took=$((($(date +%s%N) - start) / 1000000))
	assert_success
	[ "$(grep -c '"status":"sent"' <<<"$output")" -eq 30 ]
	# a bucket of 10 to start with, then 10 a second
	[ "$took" -ge 1900 ] && [ "$took" -le 6000 ]
	assert_equal "$(tr '\r' '\n' <"$SINK_COUNTERS" | grep -o 'sess=[0-9]*' | tail -1)" sess=1
}

# ---- Twilio (behind prism) ---------------------------------------------------------

@test "twilio: an sms is a valid form POST with basic auth and an idempotency token" {
	peer_skip_unless_installed prism
	peer_prism_twilio_start
	twilio_conf
	sms >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield provider)" tw
	assert_equal "$(dfield messageId)" SM0123456789abcdef0123456789abcdef
	assert_equal "$(dfield segments)" 1
	assert_equal "$(dfield cost)" 0.0079
	key=$(dfield key)
	assert_equal "$(peer_recorder_count)" 1 # prism passed it on: it fits the spec
	run jq -r '.method, .url, .headers.authorization, .headers["content-type"], .headers["i-twilio-idempotency-token"]' "$REC_DIR/1.json"
	assert_line --index 0 POST
	assert_line --index 1 "/2010-04-01/Accounts/$SID/Messages.json"
	assert_line --index 2 "Basic $(printf '%s' "$SID:$TWILIO_AUTH_TOKEN" | base64 -w0)"
	assert_line --index 3 application/x-www-form-urlencoded
	assert_line --index 4 "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
	run $PY "$FIX/form.py" "$REC_DIR/1.json"
	assert_success
	assert_output 'To=+14155550100
From=+14155552345
Body=Sale today\nReply STOP to opt out
StatusCallback=https://hooks.shop.test/twilio'
	assert_equal "$(rows "SELECT status, message_id, segments, cost FROM deliveries")" "sent|SM0123456789abcdef0123456789abcdef|1|0.0079"
}

@test "twilio: whatsapp addresses; messagingServiceSid instead of From" {
	peer_skip_unless_installed prism
	peer_prism_twilio_start
	twilio_conf "messagingServiceSid: MG00000000000000000000000000000002"
	CHANNEL=whatsapp sms >a.ndjson
	sms '"category":"transactional"' >>a.ndjson
	# 11 GSM-7 segments: over the default maxSegments (10), never sent
	# (c3 and the text replaced, not repeated: a name twice is rejected)
	sms | sed "s/\"c1\"/\"c3\"/; s/Sale today/$(printf 'a%.0s' $(seq 1600))/" >>a.ndjson
	run --separate-stderr jrn-send --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(dfield status 0)" sent
	assert_equal "$(dfield status 1)" sent
	assert_equal "$(dfield status 2)" rejected
	grep -q 'maxSegments' rej.ndjson
	assert_equal "$(peer_recorder_count)" 2
	run $PY "$FIX/form.py" "$REC_DIR/1.json"
	assert_line --index 0 'To=whatsapp:+14155550100'
	assert_line --index 1 'From=whatsapp:+14155552345'
	run $PY "$FIX/form.py" "$REC_DIR/2.json"
	assert_output 'To=+14155550100
MessagingServiceSid=MG00000000000000000000000000000002
Body=Sale today
StatusCallback=https://hooks.shop.test/twilio'
}

@test "twilio: 429 with Retry-After: 1 waits a second, then sent" {
	peer_skip_unless_installed prism
	cat >script.json <<-EOF
	[{"status": 429, "headers": {"Retry-After": "1"}, "bodyFile": "$PEERS_DIR/twilio-20429.json"},
	 {"status": 201, "bodyFile": "$PEERS_DIR/twilio-201.json"}]
	EOF
	peer_prism_twilio_start --script script.json
	twilio_conf
	sms >a.ndjson
	start=$(date +%s%N)
	run --separate-stderr jrn-send a.ndjson
	took=$((($(date +%s%N) - start) / 1000000))
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield attempts)" 2
	assert_equal "$(dfield messageId)" SM0123456789abcdef0123456789abcdef
	assert_equal "$(peer_recorder_count)" 2
	echo "# took $took ms" >&3
	[ "$took" -ge 950 ]
	# the same idempotency token both times
	assert_equal "$(jq -r '.headers["i-twilio-idempotency-token"]' "$REC_DIR/1.json")" \
		"$(jq -r '.headers["i-twilio-idempotency-token"]' "$REC_DIR/2.json")"
}

@test "twilio: 21211 fails and suppresses as invalid; 21610 as unsubscribed" {
	peer_skip_unless_installed prism
	cat >script.json <<-EOF
	[{"status": 400, "bodyFile": "$PEERS_DIR/twilio-21211.json"},
	 {"status": 400, "bodyFile": "$PEERS_DIR/twilio-21610.json"}]
	EOF
	peer_prism_twilio_start --script script.json
	twilio_conf
	sms >a.ndjson
	printf '{"actionType":"sms","customerId":"c2","recipientPhone":"+14155550199","messageContent":"x"}\n' >>a.ndjson
	run --separate-stderr jrn-send --parallel 1 a.ndjson
	assert_failure 1
	assert_equal "$(dfield status 0)" failed
	assert_equal "$(dfield attempts 0)" 1
	dfield error 0 | grep -q 21211
	assert_equal "$(dfield status 1)" failed
	assert_equal "$(dfield attempts 1)" 1
	dfield error 1 | grep -q 21610
	assert_equal "$(peer_recorder_count)" 2
	assert_equal "$(rows "SELECT address, channel, reason, source FROM suppressions ORDER BY address")" \
		"+14155550100|sms|invalid|twilio:21211
+14155550199|sms|unsubscribed|twilio:21610"
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status 0)" suppressed
	assert_equal "$(dfield status 1)" suppressed
	assert_equal "$(peer_recorder_count)" 2
}

@test "twilio: 20429 and 5xx are retried" {
	peer_skip_unless_installed prism
	cat >script.json <<-EOF
	[{"status": 429, "bodyFile": "$PEERS_DIR/twilio-20429.json"},
	 {"status": 500, "body": {"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}},
	 {"status": 201, "bodyFile": "$PEERS_DIR/twilio-201.json"}]
	EOF
	peer_prism_twilio_start --script script.json
	twilio_conf
	sms >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield attempts)" 3
	assert_equal "$(peer_recorder_count)" 3
	assert_equal "$(rows "SELECT count(*) FROM suppressions")" 0
}

# ---- webhooks -------------------------------------------------------------------

@test "webhook: the body is the record, signed with HMAC-SHA256 over timestamp.body" {
	peer_skip_unless_installed recorder
	peer_recorder_start
	mkdir templates
	printf '{"event":"order","customer":"{{customerId}}","total":{{total}}}\n' >templates/order.json
	conf "  webhook:
    - {type: webhook, name: hook, url: \"$REC_URL/hook\", secret: \"\${JRN_WEBHOOK_SECRET}\"}"
	rec='{"actionType":"webhook","customerId":"c1","campaignId":"spring","idempotencyKey":"wh-1","note":"é"}'
	{
		echo "$rec"
		echo '{"actionType":"webhook","customerId":"c2","template":"order","total":42.5}'
	} >a.ndjson
	run --separate-stderr jrn-send --parallel 1 a.ndjson
	assert_success
	assert_equal "$(dfield status 0)" sent
	assert_equal "$(dfield status 1)" sent
	assert_equal "$(peer_recorder_count /hook)" 2
	for n in 1 2; do
		r=$REC_DIR/$n.json
		body=$(jq -r .body "$r")
		assert_equal "$(jq -r .method "$r")" POST
		assert_equal "$(jq -r '.headers["content-type"]' "$r")" application/json
		assert_equal "$(jq -r '.headers["x-jrn-timestamp"]' "$r")" "$NOW_S"
		sig=$(printf '%s.%s' "$NOW_S" "$body" | openssl dgst -sha256 -hmac "$JRN_WEBHOOK_SECRET" -r | cut -d' ' -f1)
		assert_equal "$(jq -r '.headers["x-jrn-signature"]' "$r")" "sha256=$sig"
		[[ $(jq -r '.headers["user-agent"]' "$r") == jrn-send/* ]]
		[ -n "$(jq -r '.headers["idempotency-key"] // empty' "$r")" ]
	done
	assert_equal "$(jq -r .body "$REC_DIR/1.json")" "$rec"
	assert_equal "$(jq -r '.headers["idempotency-key"]' "$REC_DIR/1.json")" "$(printf wh-1 | sha256sum | cut -d' ' -f1)"
	assert_equal "$(jq -r .body "$REC_DIR/2.json")" '{"event":"order","customer":"c2","total":42.5}'
}

@test "webhook via httpbin: 503 retried then failed; 400 failed at once" {
	peer_skip_unless_installed httpbin
	peer_httpbin_start
	conf "  webhook:
    - {type: webhook, name: h503, url: \"$HTTPBIN_URL/status/503\", secret: s}"
	echo '{"actionType":"webhook","customerId":"c1"}' >a.ndjson
	start=$(date +%s%N)
	run --separate-stderr jrn-send a.ndjson
	took=$((($(date +%s%N) - start) / 1000000))
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 3 # len(backoff) + 1
	[ "$took" -ge 300 ] # the waits: 100 ms, then 200 ms
	dfield error | grep -q 'HTTP 503'
	assert_equal "$(rows "SELECT status, attempts FROM deliveries")" "failed|3"

	conf "  webhook:
    - {type: webhook, name: h400, url: \"$HTTPBIN_URL/status/400\", secret: s}"
	echo '{"actionType":"webhook","customerId":"c2"}' >b.ndjson
	run --separate-stderr jrn-send b.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 1
	dfield error | grep -q 'HTTP 400'
}

@test "webhook: a reply slower than the provider timeout fails as a timeout, retried" {
	# Debian's httpbin serves /delay/N to GET only (a POST gets 405), so the
	# recorder plays the slow server
	peer_skip_unless_installed recorder
	echo '[{"status": 200, "body": {"ok": true}, "delayMs": 3000}]' >script.json
	peer_recorder_start --script script.json
	conf "  webhook:
    - {type: webhook, name: slow, url: \"$REC_URL/slow\", secret: s, timeout: 1s}"
	echo '{"actionType":"webhook","customerId":"c1"}' >a.ndjson
	SECONDS=0
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_equal "$(dfield status)" failed
	assert_equal "$(dfield attempts)" 3
	dfield error | grep -Eiq 'timed? ?out'
	[ "$SECONDS" -ge 3 ] && [ "$SECONDS" -le 8 ]
	assert_equal "$(peer_recorder_count /slow)" 3
}

@test "webhook: 429 with Retry-After waits that long, then sent" {
	# httpbin's /status/429 sends no Retry-After and /response-headers always
	# answers 200, so the recorder plays the 429
	peer_skip_unless_installed recorder
	cat >script.json <<-'EOF'
	[{"status": 429, "headers": {"Retry-After": "1"}, "body": "slow down"},
	 {"status": 200, "headers": {"X-Request-Id": "req-42"}, "body": {"ok": true}}]
	EOF
	peer_recorder_start --script script.json
	conf "  webhook:
    - {type: webhook, name: hook, url: \"$REC_URL/hook\", secret: s}"
	echo '{"actionType":"webhook","customerId":"c1"}' >a.ndjson
	start=$(date +%s%N)
	run --separate-stderr jrn-send a.ndjson
	took=$((($(date +%s%N) - start) / 1000000))
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield attempts)" 2
	assert_equal "$(dfield messageId)" req-42
	[ "$took" -ge 950 ]
	assert_equal "$(peer_recorder_count)" 2
}

@test "webhook: Retry-After as an HTTP date is a wait on the real clock, whatever --now says" {
	# the spec: "Retry waits use the real clock; outbox send_at uses the jrn
	# clock (--now)". JRN_NOW is 2026-01-01; the server's date is real.
	peer_skip_unless_installed recorder
	cat >script.json <<-EOF
	[{"status": 429, "headers": {"Retry-After": "$(TZ=GMT LC_ALL=C date -d '+2 sec' '+%a, %d %b %Y %H:%M:%S GMT')"}, "body": "slow down"},
	 {"status": 200, "body": {"ok": true}}]
	EOF
	peer_recorder_start --script script.json
	conf "  webhook:
    - {type: webhook, name: hook, url: \"$REC_URL/hook\", secret: s}"
	echo '{"actionType":"webhook","customerId":"c1"}' >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield attempts)" 2
	assert_equal "$(peer_recorder_count)" 2
}

# ---- retargeting ------------------------------------------------------------------

@test "retargeting url: one POST per batch of hashed members, batchSize respected, no raw identifiers" {
	peer_skip_unless_installed recorder
	peer_recorder_start
	conf "  retargeting:
    - {type: retargeting, name: ads, url: \"$REC_URL/audiences\", batchSize: 2}"
	for i in 1 2 3 4 5; do
		printf '{"actionType":"retargeting","customerId":"c%s","campaignId":"winback","email":" User%s@Example.test ","phone":"(415) 555-010%s"}\n' "$i" "$i" "$i"
	done >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	[ "$(grep -c '"status":"sent"' <<<"$output")" -eq 5 ]
	assert_equal "$(peer_recorder_count /audiences)" 3
	jq -c '.body | fromjson' "$REC_DIR"/*.json >bodies
	run jq -r '[.campaignId, (.members | length)] | @tsv' bodies
	assert_output "winback	2
winback	2
winback	1"
	jq -r '.members[] | "\(.hashedEmail) \(.hashedPhone)"' bodies | sort >got
	for i in 1 2 3 4 5; do
		echo "$(printf 'user%s@example.test' "$i" | sha256sum | cut -d' ' -f1) $(printf '+1415555010%s' "$i" | sha256sum | cut -d' ' -f1)"
	done | sort >want
	diff want got
	# no raw address or number in any request (the number as written or in
	# E.164: 555 alone also turns up in the recorder's ports and times)
	run grep -Eil 'example\.test|555-?010[0-9]|user[0-9]' "$REC_DIR"/*.json
	assert_failure
}

@test "retargeting url: a batch answered 503 is retried whole, with the same Idempotency-Key" {
	peer_skip_unless_installed recorder
	echo '[{"status": 503, "body": "busy"}, {"status": 201, "body": {}}]' >script.json
	peer_recorder_start --script script.json
	conf "  retargeting:
    - {type: retargeting, name: ads, url: \"$REC_URL/audiences\", batchSize: 2, secret: ads-key}"
	for i in 1 2 3 4; do
		printf '{"actionType":"retargeting","customerId":"c%s","campaignId":"winback","email":"user%s@example.test"}\n' "$i" "$i"
	done >a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	[ "$(grep -c '"status":"sent"' <<<"$output")" -eq 4 ]
	run jq -r '.delivery.attempts' <<<"$output"
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" "1 1 2 2 "
	assert_equal "$(peer_recorder_count /audiences)" 3
	# two batches; the one that got the 503 went again, the same body and key
	run jq -rs 'group_by(.headers["idempotency-key"]) | map("\(length) \(map(.body) | unique | length)") | sort | .[]' "$REC_DIR"/*.json
	assert_output "1 1
2 1"
	# signed like a webhook when the provider has a secret
	for r in "$REC_DIR"/*.json; do
		sig=$(printf '%s.%s' "$NOW_S" "$(jq -r .body "$r")" | openssl dgst -sha256 -hmac ads-key -r | cut -d' ' -f1)
		assert_equal "$(jq -r '.headers["x-jrn-signature"]' "$r")" "sha256=$sig"
	done
}

# ---- the outbox ------------------------------------------------------------------

@test "outbox: a retry wait over maxWait queues the action; --due later sends it" {
	peer_skip_unless_installed recorder
	peer_recorder_start --status 503
	down=$REC_URL
	{
		printf 'providers:\n  webhook:\n'
		printf '    - {type: webhook, name: hook, url: "%s/hook", secret: s}\n' "$down"
		printf 'send:\n  retry: {backoff: [10s], jitter: 0, maxWait: 1s}\n'
	} >jrn.yaml
	echo '{"actionType":"webhook","customerId":"c1","idempotencyKey":"ob-1"}' >a.ndjson
	SECONDS=0
	run --separate-stderr jrn-send a.ndjson
	assert_success
	[ "$SECONDS" -le 3 ]
	assert_equal "$(dfield status)" queued
	assert_equal "$(dfield sendAt)" 2026-01-01T00:00:10.000Z
	assert_equal "$(dfield attempts)" 1
	assert_equal "$(peer_recorder_count)" 1
	assert_equal "$(rows "SELECT key, send_at FROM outbox")" "ob-1|1767225610000"
	assert_equal "$(rows "SELECT status FROM deliveries")" queued
	# not yet due: nothing happens
	run --separate-stderr jrn-send --due
	assert_success
	assert_output ""
	assert_equal "$(peer_recorder_count)" 1
	# the same input again is a duplicate of the queued action
	run --separate-stderr jrn-send a.ndjson
	assert_equal "$(dfield status)" duplicate
	# the server recovers
	peer_recorder_start
	sed -i "s|$down|$REC_URL|" jrn.yaml
	run --separate-stderr jrn-send --due --now 2026-01-01T00:01:00Z
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_equal "$(dfield status)" sent
	assert_equal "$(dfield key)" ob-1
	assert_equal "$(peer_recorder_count /hook)" 1
	assert_equal "$(rows "SELECT count(*) FROM outbox")" 0
	assert_equal "$(rows "SELECT status FROM deliveries")" sent
	assert_equal "$(jq -r '.headers["idempotency-key"]' "$REC_DIR/1.json")" "$(printf ob-1 | sha256sum | cut -d' ' -f1)"
}

# ---- exactly once, and speed ---------------------------------------------------------

@test "kill -9 halfway through 10,000 emails: each received at most once, the rest --stuck" {
	peer_skip_unless_installed sink
	peer_sink_start
	conf "  email:
    - {type: smtp, name: sink, url: \"$SINK_URL\", tls: none}"
	awk 'BEGIN { for (i = 1; i <= 10000; i++)
		printf "{\"actionType\":\"email\",\"customerId\":\"c%d\",\"idempotencyKey\":\"k%05d\",\"recipientEmail\":\"u%d@example.test\",\"subject\":\"S\",\"messageContent\":\"m\",\"category\":\"transactional\"}\n", i, i, i }' >a.ndjson
	jrn-send --parallel 8 a.ndjson >run1.out 2>run1.err &
	pid=$!
	for i in $(seq 600); do
		n=$(peer_sink_count)
		[ "${n:-0}" -ge 5000 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" || true
	first=$(peer_sink_count)
	echo "# received before the kill: $first" >&3
	[ "$first" -ge 1000 ] && [ "$first" -lt 10000 ]
	run --separate-stderr jrn-send --parallel 8 a.ndjson
	assert_success
	sent2=$(grep -c '"status":"sent"' <<<"$output")
	dup2=$(grep -c '"status":"duplicate"' <<<"$output")
	assert_equal "$((sent2 + dup2))" 10000
	jrn-send --stuck >stuck.ndjson
	# every message the sink counted is in its dump directory
	for i in $(seq 40); do
		[ "$(peer_sink_count)" = "$(ls "$SINK_DIR" | wc -l)" ] && break
		sleep 0.05
	done
	assert_equal "$(peer_sink_count)" "$(ls "$SINK_DIR" | wc -l)"
	run $PY "$FIX/exactly-once.py" a.ndjson "$SINK_DIR" stuck.ndjson jrn.db
	assert_success
	echo "# $(echo "$output" | tr '\n' ' ')" >&3
	assert_line actions=10000
	assert_line twice=0
	assert_line unknown=0
	assert_line sent_not_received=0
	assert_line missing=0
	assert_line stuck_is_sending=True
	assert_line total=10000
	nstuck=$(wc -l <stuck.ndjson)
	assert_equal "$(rows "SELECT count(*) FROM deliveries WHERE status = 'sent'")" "$((10000 - nstuck))"
	both=$(sed -n 's/^stuck_received=//p' <<<"$output")
	# --stuck --resend: the stuck ones again, with the same Message-ID (and
	# X-Jrn-Key) as a first attempt that got through
	run --separate-stderr jrn-send --stuck --resend --parallel 8
	assert_success
	assert_equal "$(grep -c '"status":"sent"' <<<"$output")" "$nstuck"
	run --separate-stderr jrn-send --stuck
	assert_output ""
	assert_equal "$(rows "SELECT count(*) FROM deliveries WHERE status = 'sent'")" 10000
	sleep 0.2
	assert_equal "$(ls "$SINK_DIR" | wc -l)" "$((10000 + both))"
	assert_equal "$(grep -h '^X-Jrn-Key:' -r "$SINK_DIR" | sort -u | wc -l)" 10000
	assert_equal "$(grep -h '^Message-ID:' -r "$SINK_DIR" | sort | uniq -d | wc -l)" "$both"
}

@test "SIGTERM: transfers in flight finish, the rest is queued for --due; nothing lost or doubled" {
	peer_skip_unless_installed sink
	peer_sink_start
	conf "  email:
    - {type: smtp, name: sink, url: \"$SINK_URL\", tls: none, rate: 500}"
	awk 'BEGIN { for (i = 1; i <= 2000; i++)
		printf "{\"actionType\":\"email\",\"customerId\":\"c%d\",\"idempotencyKey\":\"k%05d\",\"recipientEmail\":\"u%d@example.test\",\"subject\":\"S\",\"messageContent\":\"m\",\"category\":\"transactional\"}\n", i, i, i }' >a.ndjson
	jrn-send --parallel 4 --batch-size 1000 a.ndjson >run1.out 2>run1.err &
	pid=$!
	for i in $(seq 400); do
		n=$(peer_sink_count)
		[ "${n:-0}" -ge 300 ] && break
		sleep 0.025
	done
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 143 # it dies of the signal after cleaning up
	# no rate limit from here on
	conf "  email:
    - {type: smtp, name: sink, url: \"$SINK_URL\", tls: none}"
	grep -q 'interrupted: actions not yet sent are queued for jrn-send --due' run1.err
	queued=$(grep -c '"status":"queued"' run1.out)
	sent1=$(grep -c '"status":"sent"' run1.out)
	echo "# sent $sent1, queued $queued of the first batch" >&3
	[ "$queued" -gt 0 ] && [ "$sent1" -gt 0 ]
	assert_equal "$(wc -l <run1.out)" "$((sent1 + queued))"
	assert_equal "$(rows "SELECT count(*) FROM outbox")" "$queued"
	run --separate-stderr jrn-send --stuck
	assert_output ""
	run --separate-stderr jrn-send --due
	assert_success
	assert_equal "$(grep -c '"status":"sent"' <<<"$output")" "$queued"
	# the lines never read: the same input again
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(grep -c '"status":"duplicate"' <<<"$output")" "$((sent1 + queued))"
	assert_equal "$(rows "SELECT count(*) FROM deliveries WHERE status = 'sent'")" 2000
	assert_equal "$(rows "SELECT count(*) FROM outbox")" 0
	sleep 0.2
	assert_equal "$(ls "$SINK_DIR" | wc -l)" 2000
	assert_equal "$(grep -h '^X-Jrn-Key:' -r "$SINK_DIR" | sort -u | wc -l)" 2000
}

@test "throughput: 2,000 emails to smtp-sink in under 10 s" {
	peer_skip_unless_installed sink
	peer_sink_start --no-dump
	conf "  email:
    - {type: smtp, name: sink, url: \"$SINK_URL\", tls: none}"
	awk 'BEGIN { for (i = 1; i <= 2000; i++)
		printf "{\"actionType\":\"email\",\"customerId\":\"c%d\",\"recipientEmail\":\"u%d@example.test\",\"subject\":\"S\",\"messageContent\":\"m\",\"category\":\"transactional\"}\n", i, i }' >a.ndjson
	SECONDS=0
	run --separate-stderr jrn-send a.ndjson
	took=$SECONDS
	assert_success
	[ "$(grep -c '"status":"sent"' <<<"$output")" -eq 2000 ]
	assert_equal "$(peer_sink_count)" 2000
	[ "$took" -lt 10 ]
}
