#!/usr/bin/env bats
# Smoke tests of the test peers (t/peers.bash), with the curl and openssl
# command-line tools as clients: each start helper works, and each peer
# behaves as the jrn-send tests will rely on.

load helpers
load peers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	peer_skip_unless_installed
	printf 'From: a@shop.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n' >msg.eml
}

teardown() {
	peers_stop
}

# send URL [CURL-OPTION...]: one message msg.eml from a@shop.test to b@example.test
send() {
	local url=$1; shift
	curl -sS --max-time 10 --url "$url" --mail-from a@shop.test --mail-rcpt b@example.test \
		--upload-file msg.eml "$@"
}

@test "peers: smtp-capture keeps the message byte-exact and its envelope" {
	peer_smtp_start
	run send "$SMTP_URL/client.test" --mail-rcpt c@example.test
	assert_success
	cmp msg.eml "$SMTP_DIR/1.eml"
	run jq -c '[.mailFrom, .rcptTo, .user, .secure, .size, .heloName]' "$SMTP_DIR/1.json"
	assert_output '["a@shop.test",["b@example.test","c@example.test"],null,false,75,"client.test"]'
	assert_equal "$(cat "$SMTP_DIR/data.log")" "250 1"
}

@test "peers: smtp-capture --auth takes the right credentials and answers 535 to wrong ones" {
	peer_smtp_start --auth user:secret
	run send "$SMTP_URL" --user user:secret
	assert_success
	assert_equal "$(jq -r .user "$SMTP_DIR/1.json")" user
	run send "$SMTP_URL" --user user:wrong -v
	assert_failure 67
	assert_output --partial '< 535'
	run send "$SMTP_URL"
	assert_failure
	assert_output --partial '530'
	[ ! -e "$SMTP_DIR/2.eml" ]
}

@test "peers: smtp-capture STARTTLS with the test CA; --require-tls refuses MAIL in clear" {
	peer_test_ca ca
	peer_smtp_start --tls ca/server.key,ca/server.pem --require-tls
	run openssl s_client -connect "127.0.0.1:$SMTP_PORT" -starttls smtp -CAfile ca/ca.pem \
		-verify_ip 127.0.0.1 -verify_return_error -brief </dev/null
	assert_success
	assert_output --partial 'Verification: OK'
	run send "$SMTP_URL" --ssl-reqd --cacert ca/ca.pem
	assert_success
	assert_equal "$(jq -r .secure "$SMTP_DIR/1.json")" true
	run send "$SMTP_URL" -v
	assert_failure
	assert_output --partial '< 530'
}

@test "peers: smtp-capture --secure is implicit TLS (smtps)" {
	peer_test_ca ca
	peer_smtp_start --tls ca/server.key,ca/server.pem --secure --auth u:p
	[[ $SMTP_URL == smtps://127.0.0.1:* ]]
	run send "$SMTP_URL" --cacert ca/ca.pem --user u:p
	assert_success
	run jq -c '[.secure, .user]' "$SMTP_DIR/1.json"
	assert_output '[true,"u"]'
	run send "$SMTP_URL" --user u:p
	assert_failure 60 # the CA is not trusted without --cacert
}

@test "peers: smtp-capture --reject-rcpt answers 550 for matching recipients" {
	peer_smtp_start --reject-rcpt bounce
	run send "$SMTP_URL" --mail-rcpt x@bounce.test -v
	assert_failure 55
	assert_output --partial '< 550'
	run send "$SMTP_URL" --mail-rcpt x@bounce.test --mail-rcpt-allowfails
	assert_success
	assert_equal "$(jq -c .rcptTo "$SMTP_DIR/1.json")" '["b@example.test"]'
}

@test "peers: smtp-capture --tempfail 2 answers 451 twice, then accepts" {
	peer_smtp_start --tempfail 2
	run send "$SMTP_URL" -v
	assert_failure
	assert_output --partial '< 451'
	run send "$SMTP_URL"
	assert_failure
	run send "$SMTP_URL"
	assert_success
	assert_equal "$(cat "$SMTP_DIR/data.log")" "$(printf '451 tempfail\n451 tempfail\n250 1')"
}

@test "peers: smtp-capture --permfail answers 554 to every DATA" {
	peer_smtp_start --permfail
	run send "$SMTP_URL" -v
	assert_failure
	assert_output --partial '< 554'
	[ ! -e "$SMTP_DIR/1.eml" ]
}

@test "peers: smtp-capture --drop-data 1 cuts the first message off mid-DATA" {
	peer_smtp_start --drop-data 1
	run send "$SMTP_URL"
	assert_failure
	run send "$SMTP_URL"
	assert_success
	assert_equal "$(cat "$SMTP_DIR/data.log")" "$(printf 'drop\n250 1')"
}

@test "peers: smtp-capture --max-size refuses a larger message with 552" {
	peer_smtp_start --max-size 50
	run send "$SMTP_URL" -v
	assert_failure
	assert_output --partial '< 552'
	[ ! -e "$SMTP_DIR/1.eml" ]
}

@test "peers: recorder records each request and replies from --script in order" {
	cat >script.json <<-'EOF'
	[{"status": 429, "headers": {"Retry-After": "2"}, "body": {"error": "slow down"}},
	 {"status": 503, "body": "down", "headers": {"Content-Type": "text/plain"}, "delayMs": 200},
	 {"status": 200, "body": {"ok": true}}]
	EOF
	peer_recorder_start --script script.json
	run curl -sS -i -H 'Idempotency-Key: k1' -d '{"a":"é"}' "$REC_URL/hook?x=1"
	assert_output --partial '429 Too Many Requests'
	assert_output --partial 'retry-after: 2'
	assert_output --partial '{"error":"slow down"}'
	run curl -sS -o /dev/null -w '%{http_code} %{time_total}' "$REC_URL/hook"
	[[ $output == "503 "* ]]
	[[ ${output#* } > 0.2 ]]
	for i in 1 2; do
		run curl -sS -w ' %{http_code}' -X PUT "$REC_URL/other"
		assert_output '{"ok":true} 200'
	done
	run jq -c '[.method, .url, .headers["idempotency-key"], .body]' "$REC_DIR/1.json"
	assert_output '["POST","/hook?x=1","k1","{\"a\":\"é\"}"]'
	assert_equal "$(jq -r .method "$REC_DIR/4.json")" PUT
	assert_equal "$(peer_recorder_count)" 4
	assert_equal "$(peer_recorder_count /hook)" 2
	assert_equal "$(peer_recorder_count /none)" 0
}

@test "peers: recorder --count-only takes 2000 keep-alive requests quickly and counts them" {
	peer_recorder_start --count-only
	SECONDS=0
	run curl -sS -o /dev/null -w '%{http_code}\n' "$REC_URL/bench?i=[1-2000]"
	assert_success
	[ "$(grep -c '^201$' <<<"$output")" -eq 2000 ]
	[ "$SECONDS" -le 5 ]
	assert_equal "$(peer_recorder_count /bench)" 2000
	[ -z "$(ls "$REC_DIR")" ]
	peers_stop
	assert_equal "$(cat "$REC_COUNT_FILE")" 2000
}

twilio_post() {
	curl -sS --max-time 10 -u AC00000000000000000000000000000001:token \
		"$TWILIO_URL/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json" "$@"
}

@test "peers: prism passes a valid Twilio message to the recorder and returns its 201" {
	peer_prism_twilio_start
	run twilio_post -w '\n%{http_code}' --data-urlencode To=+14155550100 \
		--data-urlencode From=+14155552345 --data-urlencode 'Body=Hello, world'
	assert_success
	assert_line --index 1 201
	assert_equal "$(head -1 <<<"$output" | jq -r .sid)" SM0123456789abcdef0123456789abcdef
	run jq -r '.method, .url, .headers.authorization, .body' "$REC_DIR/1.json"
	assert_output "POST
/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json
Basic $(printf %s AC00000000000000000000000000000001:token | base64 -w0)
To=%2B14155550100&From=%2B14155552345&Body=Hello%2C+world"
}

@test "peers: prism answers 422 to a Twilio message without To and does not forward it" {
	peer_prism_twilio_start
	run twilio_post -w '\n%{http_code}' --data-urlencode From=+14155552345 --data-urlencode Body=hi
	assert_line --index 1 422
	assert_output --partial "must have required property 'To'"
	assert_equal "$(peer_recorder_count)" 0
	[ -z "$(ls "$REC_DIR")" ]
}

@test "peers: prism passes Twilio errors (400 21211, 429 Retry-After) and flags a broken 201" {
	cat >script.json <<-EOF
	[{"status": 400, "bodyFile": "$PEERS_DIR/twilio-21211.json"},
	 {"status": 400, "bodyFile": "$PEERS_DIR/twilio-21610.json"},
	 {"status": 429, "headers": {"Retry-After": "1"}, "bodyFile": "$PEERS_DIR/twilio-20429.json"},
	 {"status": 201, "body": {"sid": "not a message sid"}}]
	EOF
	peer_prism_twilio_start --script script.json
	set -- --data-urlencode To=+14155550100 --data-urlencode From=+14155552345 --data-urlencode Body=hi
	run twilio_post -w '\n%{http_code}' "$@"
	assert_line --index 1 400
	assert_equal "$(head -1 <<<"$output" | jq .code)" 21211
	run twilio_post -w '\n%{http_code}' "$@"
	assert_equal "$(head -1 <<<"$output" | jq .code)" 21610
	run twilio_post -i "$@"
	assert_output --partial '429 Too Many Requests'
	assert_output --partial 'retry-after: 1'
	run twilio_post -i "$@"
	assert_output --partial '500 Internal Server Error'
	assert_output --partial 'sl-violations:'
	assert_equal "$(peer_recorder_count)" 4
}

@test "peers: httpbin answers /status, /basic-auth, /anything and /response-headers" {
	peer_httpbin_start
	run curl -sS -o /dev/null -w '%{http_code}' "$HTTPBIN_URL/status/503"
	assert_output 503
	run curl -sS -o /dev/null -w '%{http_code}' -u u:p "$HTTPBIN_URL/basic-auth/u/p"
	assert_output 200
	run curl -sS -o /dev/null -w '%{http_code}' -u u:x "$HTTPBIN_URL/basic-auth/u/p"
	assert_output 401
	run curl -sS -H 'Content-Type: application/json' -d '{"k":1}' "$HTTPBIN_URL/anything/hook"
	assert_equal "$(jq -c '[.method, .json]' <<<"$output")" '["POST",{"k":1}]'
	run curl -sS -i "$HTTPBIN_URL/response-headers?Retry-After=2"
	assert_output --partial 'Retry-After: 2'
}

@test "peers: smtp-sink dumps and counts messages; its fault options pass through" {
	peer_sink_start
	for i in 1 2; do
		run send "$SINK_URL/client.test"
		assert_success
	done
	assert_equal "$(peer_sink_count)" 2
	[ "$(ls "$SINK_DIR" | wc -l)" -eq 2 ]
	run grep -h '^Subject: hi$' "$SINK_DIR"/*
	assert_equal "${#lines[@]}" 2
	peer_sink_start --no-dump -r DATA
	run send "$SINK_URL" -v
	assert_failure
	assert_output --partial '< 450'
	assert_equal "$(peer_sink_count)" 0
	[ -z "$(ls "$SINK_DIR")" ]
}

@test "peers: peer_test_ca makes a CA and a server certificate for IP:127.0.0.1" {
	peer_test_ca ca
	run openssl verify -CAfile ca/ca.pem ca/server.pem
	assert_success
	run openssl x509 -in ca/server.pem -noout -ext subjectAltName
	assert_output --partial 'IP Address:127.0.0.1'
	[ -s ca/ca.key ] && [ -s ca/server.key ]
}

@test "peers: peers_stop ends every peer and is safe twice; an orphaned peer ends by itself" {
	peer_smtp_start
	peer_recorder_start
	local smtp=$SMTP_PORT rec=$REC_PORT
	_peer_listening "$smtp" && _peer_listening "$rec"
	peers_stop
	run ! _peer_listening "$smtp"
	run ! _peer_listening "$rec"
	peers_stop
	# started in a subshell that then exits: the watchdog ends it (within
	# 0.5 s when the machine is idle; 15 s allowed for a loaded CI machine)
	(peer_recorder_start && echo "$REC_PORT" >port)
	rec=$(cat port)
	for i in $(seq 150); do _peer_listening "$rec" || break; sleep 0.1; done
	run ! _peer_listening "$rec"
}
