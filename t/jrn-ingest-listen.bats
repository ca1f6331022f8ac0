#!/usr/bin/env bats
# jrn-ingest --listen: the HTTP server, its event endpoints and its
# failures, with curl (and raw sockets) against the real server on
# 127.0.0.1 (port 0: the server prints the one it got).

load helpers

# serve [OPTIONS...]: jrn-ingest --listen 127.0.0.1:0 in the background,
# stdout to out.ndjson, stderr to err.txt; sets SERVER_PID, PORT, URL.
# The array SERVE_WRAP, when set, is the command it runs under (valgrind);
# the port is waited for up to 30 s (a wrapped server starts slowly).
serve() {
	: > err.txt
	"${SERVE_WRAP[@]}" jrn-ingest --listen 127.0.0.1:0 "$@" > out.ndjson 2> err.txt &
	SERVER_PID=$!
	PORT=
	for _ in $(seq 600); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' err.txt)
		[ -n "$PORT" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$PORT" ] || { cat err.txt >&2; return 1; }
	URL=http://127.0.0.1:$PORT
}

# stop_server: SIGTERM, then its exit status in SERVER_STATUS.
stop_server() {
	kill -TERM "$SERVER_PID"
	SERVER_STATUS=0
	wait "$SERVER_PID" || SERVER_STATUS=$?
	SERVER_PID=
}

teardown() {
	if [ -n "${SERVER_PID:-}" ]; then
		kill -9 "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	for p in ${EXTRA_PIDS:-}; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	true
}

# post PATH BODY [CURL-ARGS...]: the status on the first line of $output,
# the body after it.
post() {
	local path=$1 body=$2
	shift 2
	run curl -s -o reply.json -w '%{http_code}' -X POST --data-binary "$body" "$@" "$URL$path"
	output="$output
$(cat reply.json)"
	mapfile -t lines <<< "$output"
}

ev1() { # ev1 ID [TYPE]
	printf '{"id":"%s","type":"%s","customerId":"c1","timestamp":"2025-06-01T12:00:00.000Z"}' \
		"$1" "${2:-page.viewed}"
}

@test "GET /healthz: 200; wrong method 405 with Allow; unknown path 404" {
	jrn-ingest -q < /dev/null
	serve
	run curl -s -w ' %{http_code}' "$URL/healthz"
	assert_output --partial '"status":"ok"'
	assert_output --partial ' 200'
	run curl -s -D - -o /dev/null -X POST "$URL/healthz"
	assert_output --partial "405"
	assert_output --partial "Allow: GET"
	run curl -s -D - -o /dev/null "$URL/events"
	assert_output --partial "405"
	assert_output --partial "Allow: POST"
	run curl -s -w ' %{http_code}' "$URL/nothing/here"
	assert_output '{"error":"no such path: /nothing/here"}
 404'
	# the track paths answer 404 until track.c wires them
	run curl -s -o /dev/null -w '%{http_code}' "$URL/o/abc"
	assert_output 404
}

@test "POST /events: one event, stored before the 200, written to stdout" {
	serve
	post /events "$(ev1 e1)"
	assert_output '200
{"stored":1,"duplicate":0,"rejected":0,"results":[{"line":1,"status":"stored","id":"e1"}]}'
	# the reply came after the commit: the row is there now
	assert_equal "$(rows "SELECT count(*) FROM events WHERE id = 'e1'")" 1
	post /events "$(ev1 e1)"
	assert_output --partial '"status":"duplicate","id":"e1"'
	stop_server
	assert_equal "$SERVER_STATUS" 0
	assert_equal "$(cat out.ndjson)" "$(ev1 e1)"
	assert_equal "$(tail -n 1 err.txt)" "jrn-ingest: 1 stored, 1 duplicate, 0 rejected"
}

@test "NDJSON: good lines kept, bad ones rejected with the reason and FILE:LINE" {
	serve
	printf '%s\n{"type":"x"}\nnot json\n\n%s\r\n' "$(ev1 a1)" "$(ev1 a2)" > body
	post /events @body
	assert_line --index 0 200
	run jq -c '[.stored,.rejected,(.results[]|[.line,.status,.reason // .id])]' reply.json
	assert_output '[2,2,[1,"stored","a1"],[2,"rejected","customerId: missing (nor userId nor anonymousId given)"],[3,"rejected","invalid JSON at byte 1: unexpected '"'n'"'"],[4,"stored","a2"]]'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "a1,a2"
	run grep -c 'POST /events#1:[23]: ' err.txt
	assert_output 2
}

@test "a byte-order mark at the start of a body is dropped, as at a file's start; inside, the line is rejected" {
	serve
	{ printf '\xef\xbb\xbf'; ev1 b1; echo; } > body
	post /events @body
	assert_line --index 0 200
	{ printf '\xef\xbb\xbf'; ev1 b2; echo; printf '\xef\xbb\xbf'; ev1 b3; echo; } > body
	post /events @body
	assert_line --index 0 200
	run jq -c '[.results[] | [.status, .reason // .id]]' reply.json
	assert_output '[["stored","b2"],["rejected","invalid JSON at byte 1: byte-order mark (U+FEFF) not at the start of the input"]]'
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "b1,b2"
}

@test "a pretty-printed event is one event, stored compact" {
	serve
	printf '{\n  "id": "p1",\n  "type": "page.viewed",\n  "customerId": "c1"\n}\n' > body
	post /events @body
	assert_line --index 0 200
	assert_output --partial '"stored":1'
	stop_server
	run jq -c . out.ndjson
	assert_equal "$(wc -l < out.ndjson)" 1
}

@test "every line rejected: 400 with the results; an empty body 400" {
	serve
	post /events '{"type":"x"}'
	assert_line --index 0 400
	assert_output --partial '"rejected":1'
	post /events '   '
	assert_output '400
{"error":"no event in the body"}'
	assert_equal "$(rows 'SELECT count(*) FROM events')" 0
}

@test "invalid UTF-8: the line rejected with the byte, the others stored" {
	serve
	{ ev1 u1; echo; printf '{"id":"u2","type":"t","customerId":"\xff\xfe"}\n'; ev1 u3; echo; } > body
	post /events @body
	assert_line --index 0 200
	run jq -r '.results[1].reason' reply.json
	assert_output "invalid UTF-8 at byte 37"
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" "u1,u3"
}

@test "a Segment batch of 10,000 events: all stored, one result each" {
	"$JRN_GEN" -n 10000 | jq -sc '{batch: .}' > body
	printf 'ingest:\n  listen:\n    maxBody: 16777216\n' > c.yaml
	serve -q --config c.yaml
	post /events @body
	assert_line --index 0 200
	run jq -c '[.stored, .duplicate, .rejected, (.results | length)]' reply.json
	assert_output '[10000,0,0,10000]'
	assert_equal "$(rows 'SELECT count(*) FROM events')" 10000
	# one bad element: the others kept
	jq -c '.batch[5].customerId = 7 | .batch[6].id = "new-6"' body > body2
	post /events @body2
	run jq -c '[.stored, .duplicate, .rejected, .results[5].status]' reply.json
	assert_output '[1,9998,1,"rejected"]'
}

@test "Segment's track call with event and userId, as a batch of one" {
	serve
	post /events '{"batch":[{"type":"track","event":"Order Completed","userId":"u9","messageId":"m-1","properties":{"revenue":12.5}}]}'
	assert_line --index 0 200
	assert_equal "$(rows "SELECT type || ' ' || customer_id || ' ' || amount FROM events")" "order.completed u9 12.5"

	# elements that are not objects, and one over several lines
	printf '{"sentAt":"x","batch":[ 7, "s",\n{"id":"m2","type":"t",\n "customerId":"c\\"]"} ,{"id":"m3","type":"t","customerId":"c","properties":{"a":[1,{"b":"}"}]}}]}' > body
	post /events @body
	assert_line --index 0 200
	run jq -c '[.results[] | .reason // .id]' reply.json
	assert_output '["not a JSON object (got a number)","not a JSON object (got a string)","m2","m3"]'
	assert_equal "$(rows "SELECT customer_id FROM events WHERE id = 'm2'")" 'c"]'
	# a batch that is not JSON: one line, rejected
	post /events '{"batch":[{"id":"z"}'
	assert_line --index 0 400
	assert_output --partial '"reason":"invalid JSON'
}

@test "maxBody: 413 for a 50 MB body with a 1 MB limit; accepted with a 64 MB one" {
	# 100,000 events of ~520 bytes: 52 MB
	pad=$(head -c 480 /dev/zero | tr '\0' x)
	awk -v pad="$pad" 'BEGIN { for (i = 0; i < 100000; i++)
		printf "{\"id\":\"b%d\",\"type\":\"t\",\"customerId\":\"c\",\"timestamp\":\"2025-06-01T12:00:00Z\",\"properties\":{\"p\":\"%s\"}}\n", i, pad }' > body
	[ "$(stat -c %s body)" -gt 50000000 ]
	printf 'ingest:\n  listen:\n    maxBody: 1048576\n' > small.yaml
	serve --config small.yaml -q
	post /events @body
	assert_output '413
{"error":"body longer than ingest.listen.maxBody (1048576 bytes)"}'
	# without a Content-Length (chunked) too
	run curl -s -o reply.json -w '%{http_code}' -H 'Transfer-Encoding: chunked' -X POST --data-binary @body "$URL/events"
	assert_output 413
	stop_server
	printf 'ingest:\n  listen:\n    maxBody: 67108864\n' > big.yaml
	serve --config big.yaml -q --store-only
	post /events @body
	assert_line --index 0 200
	run jq -c '[.stored, .rejected]' reply.json
	assert_output '[100000,0]'
	assert_equal "$(rows 'SELECT count(*) FROM events')" 100000
}

@test "a client sending one byte a second is closed after ingest.listen.timeout" {
	printf 'ingest:\n  listen:\n    timeout: 2s\n' > c.yaml
	serve --config c.yaml
	# one byte a second of a request that would take 12 s; prints the
	# seconds until the server closed, the bytes sent and what came back
	run /usr/bin/python3 - "$PORT" <<-'EOF'
	import socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	req = b'POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"id":"slow"'
	t0, sent, got = time.time(), 0, b""
	s.settimeout(1)
	try:
	    for i in range(12):
	        s.send(req[i:i + 1])
	        sent += 1
	        try:
	            d = s.recv(4096)
	            if not d:
	                break
	            got += d
	        except socket.timeout:
	            pass
	except OSError:
	    pass
	print(round(time.time() - t0), sent, repr(got))
	EOF
	assert_success
	read -r secs sent got <<< "$output"
	[ "$secs" -le 6 ]
	[ "$sent" -le 6 ]
	assert_equal "$got" "b''"
	# the server goes on
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"
	assert_output 200
}

@test "maxConnections: a connection over the limit is refused, then served once one closes" {
	printf 'ingest:\n  listen:\n    maxConnections: 2\n' > c.yaml
	serve --config c.yaml
	exec 4<>"/dev/tcp/127.0.0.1/$PORT"
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	sleep 0.3
	run curl -s -m 3 -o /dev/null -w '%{http_code}' "$URL/healthz"
	refute_output 200
	exec 4>&- 5>&-
	sleep 0.3
	run curl -s -m 3 -o /dev/null -w '%{http_code}' "$URL/healthz"
	assert_output 200
}

@test "SIGTERM: stops accepting, answers the request in flight after storing it, exits 0" {
	serve
	body=$(ev1 t1)
	# a client that sends half its request, then (after the SIGTERM) the rest
	/usr/bin/python3 - "$PORT" "$body" > reply.txt <<-'EOF' &
	import socket, sys, time
	body = sys.argv[2].encode()
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	s.send(b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
	time.sleep(1)
	s.send(body[10:])
	got = b""
	while True:
	    d = s.recv(4096)
	    if not d:
	        break
	    got += d
	print(got.decode())
	EOF
	client=$!
	EXTRA_PIDS=$client
	# until the server has the request (healthz counts itself too)
	for _ in $(seq 100); do
		curl -s "$URL/healthz" | grep -q '"requests":2' && break
		sleep 0.05
	done
	kill -TERM "$SERVER_PID"
	sleep 0.2
	run curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/healthz"
	assert_equal "$output" 000
	wait "$client"
	EXTRA_PIDS=
	run cat reply.txt
	assert_line --index 0 --partial "HTTP/1.1 200 OK"
	assert_output --partial '"status":"stored","id":"t1"'
	status=0
	wait "$SERVER_PID" || status=$?
	SERVER_PID=
	assert_equal "$status" 0
	assert_equal "$(rows "SELECT count(*) FROM events WHERE id = 't1'")" 1
	assert_equal "$(cat out.ndjson)" "$body"
}

@test "kill -9 while clients post: every event answered 200 is stored; resent, a duplicate" {
	serve -q
	# 8 clients posting as fast as they can; each id answered 200 is noted
	/usr/bin/python3 - "$PORT" > acked.raw <<-'EOF' &
	import http.client, sys, threading
	port, lock = int(sys.argv[1]), threading.Lock()
	def client(w):
	    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
	    for i in range(100000):
	        id = "k%d-%d" % (w, i)
	        body = '{"id":"%s","type":"t","customerId":"c1","timestamp":"2025-06-01T12:00:00.000Z"}' % id
	        try:
	            c.request("POST", "/events", body)
	            r = c.getresponse()
	            r.read()
	        except Exception:
	            return
	        if r.status == 200:
	            with lock:
	                print(id, flush=True)
	ts = [threading.Thread(target=client, args=(w,)) for w in range(8)]
	for t in ts: t.start()
	for t in ts: t.join()
	EOF
	client=$!
	EXTRA_PIDS=$client
	sleep 2
	kill -9 "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	wait "$client" || true
	EXTRA_PIDS=
	sort acked.raw > acked
	[ "$(wc -l < acked)" -gt 100 ]
	rows 'SELECT id FROM events' | sort > stored
	run comm -23 acked stored
	assert_output "" # nothing acked is missing
	# a resend of everything: the acked ones are duplicates, never a second row
	printf 'ingest:\n  listen:\n    maxBody: 67108864\n' > c.yaml
	serve -q --config c.yaml
	sed 's/.*/{"id":"&","type":"t","customerId":"c1","timestamp":"2025-06-01T12:00:00.000Z"}/' acked > again
	post /events @again
	run jq -c '[.stored, .rejected]' reply.json
	assert_output '[0,0]'
	assert_equal "$(rows 'SELECT count(*) = count(DISTINCT id) FROM events')" 1
}

@test "a locked state file: 503 with Retry-After, nothing stored; then 200" {
	jrn-ingest -q < /dev/null
	printf 'db:\n  busyTimeout: 300ms\ningest:\n  listen:\n    retryAfter: 2s\n' > c.yaml
	serve --config c.yaml
	mkfifo hold
	(sqlite3 jrn.db < hold > /dev/null 2>&1) &
	EXTRA_PIDS=$!
	exec 6> hold
	echo 'BEGIN EXCLUSIVE; INSERT INTO events (id, type, customer_id, ts, received_at, body) VALUES ('"'x'"', '"'t'"', '"'c'"', 0, 0, '"'{}'"');' >&6
	sleep 0.5
	run curl -s -D headers -o reply.json -w '%{http_code}' -X POST --data-binary "$(ev1 l1)" "$URL/events"
	assert_output 503
	run grep -i '^Retry-After: 2' headers
	assert_success
	run cat reply.json
	assert_output --partial "nothing stored"
	echo 'ROLLBACK;' >&6
	exec 6>&-
	wait "$EXTRA_PIDS"
	EXTRA_PIDS=
	assert_equal "$(rows "SELECT count(*) FROM events")" 0
	post /events "$(ev1 l1)"
	assert_line --index 0 200
	assert_equal "$(rows "SELECT count(*) FROM events WHERE id = 'l1'")" 1
}

@test "sources: a bearer token from \${NAME}, refused when wrong or missing (401)" {
	cat > c.yaml <<-'EOF'
	ingest:
	  listen:
	    sources:
	      - name: web
	        bearer: ${WEB_TOKEN}
	EOF
	WEB_TOKEN=s3cret-token serve --config c.yaml
	post /events "$(ev1 b1)" -H 'Authorization: Bearer s3cret-token'
	assert_line --index 0 200
	post /events "$(ev1 b2)" -H 'Authorization: Bearer wrong'
	assert_output '401
{"error":"not authenticated: wrong bearer token"}'
	post /events "$(ev1 b3)"
	assert_line --index 0 401
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" b1
	stop_server
	# beside an HMAC source, a wrong token is still said as such (not the
	# other source's missing signature)
	cat > c.yaml <<-'EOF'
	ingest:
	  listen:
	    sources:
	      - name: web
	        bearer: ${WEB_TOKEN}
	      - name: partner
	        hmac: k3y
	EOF
	WEB_TOKEN=s3cret-token serve --config c.yaml
	post /events "$(ev1 b4)" -H 'Authorization: Bearer wrong'
	assert_output '401
{"error":"not authenticated: wrong bearer token"}'
	post /events "$(ev1 b5)"
	assert_output --partial '"error":"not authenticated: no '
	assert_equal "$(rows 'SELECT group_concat(id) FROM events')" b1
	run grep -c s3cret err.txt
	assert_output 0
}

@test "sources: HMAC-SHA256 of TIMESTAMP.BODY with a replay window" {
	cat > c.yaml <<-'EOF'
	ingest:
	  listen:
	    sources:
	      - name: partner
	        hmac: ${PARTNER_SECRET}
	        window: 5m
	EOF
	PARTNER_SECRET=k3y serve --config c.yaml
	now=1767225600 # JRN_NOW, 2026-01-01T00:00:00Z
	body=$(ev1 h1)
	sig=$(printf '%s' "$now.$body" | openssl dgst -sha256 -hmac k3y -r | cut -d' ' -f1)
	post /events "$body" -H "X-Jrn-Timestamp: $now" -H "X-Jrn-Signature: sha256=$sig"
	assert_line --index 0 200
	post /events "$(ev1 h2)" -H "X-Jrn-Timestamp: $now" -H "X-Jrn-Signature: sha256=$sig"
	assert_output '401
{"error":"not authenticated: bad signature"}'
	old=$((now - 301))
	sig=$(printf '%s' "$old.$body" | openssl dgst -sha256 -hmac k3y -r | cut -d' ' -f1)
	post /events "$body" -H "X-Jrn-Timestamp: $old" -H "X-Jrn-Signature: $sig"
	assert_output '401
{"error":"not authenticated: timestamp outside the replay window"}'
	post /events "$body" -H "X-Jrn-Timestamp: soon" -H "X-Jrn-Signature: $sig"
	assert_line --index 1 '{"error":"not authenticated: timestamp is not a number of seconds"}'
}

@test "per-kind endpoints: kind set or checked, types checked, sources per path" {
	cat > c.yaml <<-'EOF'
	ingest:
	  listen:
	    sources:
	      - {name: web, bearer: tok-web}
	      - {name: shop, bearer: tok-shop}
	    endpoints:
	      - {path: /events/intent, kind: intent}
	      - {path: /events/conversion, kind: conversion, types: [order.completed], sources: [shop]}
	      - {path: /events/social, kind: social}
	      - {path: /events/service, kind: service}
	EOF
	serve --config c.yaml
	post /events/intent "$(ev1 i1)" -H 'Authorization: Bearer tok-web'
	assert_line --index 0 200
	assert_equal "$(rows "SELECT json_extract(body, '$.properties.kind') FROM events WHERE id = 'i1'")" intent
	post /events/intent '{"id":"i2","type":"t","customerId":"c","properties":{"kind":"social"}}' -H 'Authorization: Bearer tok-web'
	assert_line --index 0 400
	assert_output --partial '"reason":"properties.kind: \"social\" where /events/intent takes kind '"'intent'"'"'
	post /events/conversion "$(ev1 v1 order.completed)" -H 'Authorization: Bearer tok-web'
	assert_line --index 0 401
	printf '%s\n%s\n' "$(ev1 v2 page.viewed)" '{"type":"track","event":"Order Completed","userId":"u","messageId":"v3","properties":{"total":3}}' > body
	post /events/conversion @body -H 'Authorization: Bearer tok-shop'
	assert_line --index 0 200
	run jq -c '[.results[] | .status]' reply.json
	assert_output '["rejected","stored"]'
	run jq -r '.results[0].reason' reply.json
	assert_output "type: 'page.viewed' is not one that /events/conversion takes (ingest.listen.endpoints types)"
	post /events/social "$(ev1 s1)" -H 'Authorization: Bearer tok-shop'
	assert_line --index 0 200
	assert_equal "$(rows "SELECT json_extract(body, '$.properties.kind') FROM events WHERE id = 'v3'")" conversion
}

@test "TLS when ingest.listen.tls.cert and key are set" {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	printf 'ingest:\n  listen:\n    tls:\n      cert: cert.pem\n      key: key.pem\n' > c.yaml
	serve --config c.yaml
	grep -q "(https)" err.txt
	run curl -s --cacert cert.pem -o reply.json -w '%{http_code}' -X POST --data-binary "$(ev1 tl1)" "https://127.0.0.1:$PORT/events"
	assert_output 200
	assert_equal "$(rows "SELECT count(*) FROM events WHERE id = 'tl1'")" 1
	run curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz"
	refute_output 200
}

@test "usage: --listen takes no FILE, not with --dry-run, ADDR:PORT checked" {
	run jrn-ingest --listen 127.0.0.1:0 in.ndjson
	assert_failure 2
	assert_output "jrn-ingest: --listen takes no FILE ('in.ndjson')"
	run jrn-ingest --listen 127.0.0.1:0 --dry-run
	assert_failure 2
	run jrn-ingest --listen localhost
	assert_failure 2
	assert_output "jrn-ingest: --listen: 'localhost' is not ADDR:PORT"
	run jrn-ingest --listen 127.0.0.1:99999
	assert_failure 2
	run jrn-ingest --listen example.org:80
	assert_failure 2
	assert_output --partial "give a numeric address"
	printf 'ingest:\n  listen:\n    sources:\n      - {name: a, bearer: x, hmac: y}\n' > c.yaml
	run jrn-ingest --listen 127.0.0.1:0 --config c.yaml
	assert_failure 1
	assert_output "jrn-ingest: c.yaml: ingest.listen.sources[0] (a): give one of bearer and hmac"
	printf 'ingest:\n  listen:\n    maxBody: 0\n' > c.yaml
	run jrn-ingest --listen 127.0.0.1:0 --config c.yaml
	assert_failure 1
}

@test "standard output's reader gone (| head -1): said once, the server stops, what was answered 200 is stored" {
	jrn-ingest -q < /dev/null
	: > err.txt # (made before the loop reads it: the job may not have opened it yet)
	{ jrn-ingest --listen 127.0.0.1:0 2> err.txt & echo $! > pid; wait; } | head -1 > first.ndjson &
	EXTRA_PIDS=$!
	for _ in $(seq 200); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' err.txt)
		[ -n "$PORT" ] && break
		sleep 0.05
	done
	URL=http://127.0.0.1:$PORT
	local answered=0
	for i in 1 2 3 4 5; do
		run curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$(ev1 "p$i")" "$URL/events"
		[ "$output" = 200 ] && answered=$((answered + 1))
		sleep 0.2
	done
	wait "$EXTRA_PIDS"
	EXTRA_PIDS=
	# head took the first; the server stopped at the first write that failed
	assert_equal "$(jq -r .id first.ndjson)" p1
	[ "$answered" -ge 2 ] && [ "$answered" -lt 5 ]
	assert_equal "$(grep -c 'standard output: the reader went away: the server stops' err.txt)" 1
	assert_equal "$(sqlite3 jrn.db "SELECT count(*) FROM events WHERE id LIKE 'p%'")" "$answered"
	# and it is gone (a server still up would be killed here, and fail)
	run kill -0 "$(cat pid)"
	assert_failure
}

@test "fixes: /healthz says 503 with the reason once a write failed (locked), 200 again after one succeeds" {
	jrn-ingest -q < /dev/null
	printf 'db:\n  busyTimeout: 300ms\ningest:\n  listen:\n    retryAfter: 2s\n' > c.yaml
	serve --config c.yaml
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"
	assert_output 200
	mkfifo hold
	(sqlite3 jrn.db < hold > /dev/null 2>&1) &
	EXTRA_PIDS=$!
	exec 6> hold
	echo 'BEGIN IMMEDIATE; INSERT INTO events (id, type, customer_id, ts, received_at, body) VALUES ('"'x'"', '"'t'"', '"'c'"', 0, 0, '"'{}'"');' >&6
	sleep 0.5
	# reads still work (WAL): only the failed write tells
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"
	assert_output 200
	post /events "$(ev1 h1)"
	assert_line --index 0 503
	run curl -s -D headers -o reply.json -w '%{http_code}' "$URL/healthz"
	assert_output 503
	run grep -i '^Retry-After: 2' headers
	assert_success
	run cat reply.json
	assert_output --partial "the last write failed: "
	assert_output --partial "locked"
	echo 'ROLLBACK;' >&6
	exec 6>&-
	wait "$EXTRA_PIDS"
	EXTRA_PIDS=
	# still 503 until a write succeeds
	run curl -s -o /dev/null -w '%{http_code}' "$URL/healthz"
	assert_output 503
	post /events "$(ev1 h1)"
	assert_line --index 0 200
	run curl -s -w ' %{http_code}' "$URL/healthz"
	assert_output --partial '"status":"ok"'
	assert_output --partial ' 200'
}

@test "checkpoints run on a thread of their own while the server takes events; nothing is lost" {
	# 80,000 events: about 40 MB of WAL, past the 1,000 pages (32 MiB) at
	# which a checkpoint is asked for. SQLite's automatic checkpoint would
	# run inside a commit that every
	# waiting request waits for; the listener's checkpointer copies the WAL
	# into the state file beside the writer (jrn-ingest(1), LISTENING)
	"$JRN_GEN" -n 80000 -s 3 | jq -sc '_nwise(10000) | {batch: .}' > batches
	printf 'ingest:\n  listen:\n    maxBody: 67108864\n' > c.yaml
	serve -q --config c.yaml
	grep -qx jrn-checkpoint /proc/"$SERVER_PID"/task/*/comm
	before=$(stat -c %s jrn.db)
	while read -r b; do
		printf '%s' "$b" > body
		post /events @body
		assert_line --index 0 200
	done < batches
	# the state file itself grew while the server ran: only a checkpoint
	# writes to it (the writer appends to the WAL)
	for _ in $(seq 100); do
		[ "$(stat -c %s jrn.db)" -gt $((before + 4000000)) ] && break
		sleep 0.05
	done
	[ "$(stat -c %s jrn.db)" -gt $((before + 4000000)) ]
	stop_server
	[ "$SERVER_STATUS" = 0 ]
	assert_equal "$(rows 'SELECT count(*) FROM events')" 80000
	assert_equal "$(rows 'PRAGMA integrity_check')" ok
	assert_equal "$(wc -l < out.ndjson)" 80000
}

@test "helgrind: the listener's threads (HTTP connections, the writer's group commits) share nothing unguarded" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (helgrind needs the plain build)"
	"$JRN_GEN" -n 400 -c 40 > ev.ndjson
	SERVE_WRAP=(valgrind --tool=helgrind --history-level=approx -q --error-exitcode=9 --log-file=hg.txt
		--suppressions="$BATS_TEST_DIRNAME/helgrind.supp")
	serve --db s.db || fail "no listener: $(cat hg.txt)"
	# four clients at once, NDJSON batches of 10; a Segment batch; the
	# health check while they run
	local k pids=
	for k in 0 1 2 3; do
		sed -n "$((k * 100 + 1)),$((k * 100 + 90))p" ev.ndjson | split -l 10 - "part$k."
		(for f in part$k.*; do
			curl -sf -o /dev/null -X POST --data-binary @"$f" -H 'Content-Type: application/x-ndjson' \
				"$URL/events" || echo "POST $f failed" >> fails.txt
		done) &
		pids="$pids $!"
	done
	sed -n '91,100p;191,200p;291,300p;391,400p' ev.ndjson | jq -sc '{batch: .}' > batch.json
	curl -sf -o /dev/null -X POST --data-binary @batch.json -H 'Content-Type: application/json' \
		"$URL/events" || echo "batch failed" >> fails.txt
	curl -sf "$URL/healthz" > /dev/null || echo "healthz failed" >> fails.txt
	wait $pids
	[ ! -e fails.txt ] || fail "$(cat fails.txt)"
	stop_server
	[ "$SERVER_STATUS" -eq 0 ] || fail "helgrind (exit $SERVER_STATUS): $(head -c 3000 hg.txt)"
	run grep -c . hg.txt
	assert_output 0
	assert_equal "$(wc -l < out.ndjson)" 400
	assert_equal "$(sqlite3 s.db 'SELECT count(*) FROM events')" 400
}

