#!/usr/bin/env bats
# jrn-send with send.tracking: links rewritten to BASE/c/TOKEN (HTML by a
# tag scan, text by URL), the open pixel, the unsubscribe link and
# List-Unsubscribe at BASE/u/TOKEN; then the spooled mail opened in headless
# Chromium against a real jrn-ingest --listen, its link and the unsubscribe
# button clicked.

load helpers

FIX=$BATS_TEST_DIRNAME/fixtures/send

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export TRACK_SECRET=tr4ck-s3cret
}

teardown() {
	if [ -n "${LPID:-}" ]; then
		kill "$LPID" 2>/dev/null
		wait "$LPID" 2>/dev/null
	fi
	true
}

# conf BASE: send.tracking at BASE (url from ${TRACK_URL}), the listener's secret
conf() {
	export TRACK_URL=$1
	cat > jrn.yaml <<'Y'
send:
  from: "Shop <news@shop.example>"
  tracking:
    url: ${TRACK_URL}
    secret: ${TRACK_SECRET}
ingest:
  listen:
    tracking:
      secret: ${TRACK_SECRET}
Y
}

# template NAME HTML TEXT
template() {
	mkdir -p templates
	printf 'Spring sale\n' > "templates/$1.subject"
	printf '%s\n' "$3" > "templates/$1.txt"
	printf '%s\n' "$2" > "templates/$1.html"
}

action() { # [EXTRA]: an email action with template t
	printf '{"actionType":"email","customerId":"c1","campaignId":"spring","idempotencyKey":"key-1","recipientEmail":"ann@example.com","template":"t"%s}\n' "${1:+,$1}"
}

# part TYPE: the decoded text/plain or text/html part of the one spooled mail
part() {
	/usr/bin/python3 -c '
import email, email.policy, glob, sys
m = email.message_from_bytes(open(glob.glob("spool/*.eml")[0], "rb").read(), policy=email.policy.default)
for p in m.walk():
    if p.get_content_type() == sys.argv[1]:
        sys.stdout.write(p.get_content().replace("\r\n", "\n"))
' "$1"
}

# payload TOKEN: the JSON payload of a token (unchecked)
payload() {
	local p=${1%%.*}
	p=$(printf '%s' "$p" | tr -- '-_' '+/')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	printf '%s' "$p" | base64 -d
}

b64url() {
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

@test "HTML links: href of <a> and <area> (any quoting, entities decoded) become BASE/c/TOKEN; text, comments, script, mailto and # stay" {
	conf http://127.0.0.1:9/
	template t '<!DOCTYPE html><html><head><title>https://title.example</title><script>var u = "<a href=\"https://script.example\">";</script></head><body>
<!-- <a href="https://comment.example">x</a> -->
<p>Visit https://text.example today</p>
<a class="x" HREF = '"'"'https://shop.example/p?a=1&amp;b=2'"'"'>one</a>
<a href=http://bare.example/x>two</a> <a href="mailto:a@b.example">m</a> <a href="#top">t</a> <a href="/relative">r</a>
<area shape="rect" href="https://area.example/">
<a data-href="https://data.example" href="{{{unsubscribeUrl}}}">unsubscribe</a>
</body></html>' 'Hi'
	action | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	part text/html > mail.html
	# untouched
	grep -q '<title>https://title.example</title>' mail.html
	grep -q 'var u = "<a href=\\"https://script.example\\">";' mail.html
	grep -q '<!-- <a href="https://comment.example">x</a> -->' mail.html
	grep -q 'Visit https://text.example today' mail.html
	grep -q '<a href="mailto:a@b.example">m</a> <a href="#top">t</a> <a href="/relative">r</a>' mail.html
	grep -q 'data-href="https://data.example"' mail.html
	# rewritten: three clicks, each to its own target, decoded
	run grep -o 'href="http://127.0.0.1:9/c/[A-Za-z0-9_.-]*"' mail.html
	assert_equal "${#lines[@]}" 3
	targets=""
	for l in "${lines[@]}"; do
		t=${l#href=\"http://127.0.0.1:9/c/}
		targets+="$(payload "${t%\"}") "
	done
	assert_equal "$targets" '["c","key-1","c1","spring","email","https://shop.example/p?a=1&b=2"] ["c","key-1","c1","spring","email","http://bare.example/x"] ["c","key-1","c1","spring","email","https://area.example/"] '
	grep -q '<a class="x" href="http://127.0.0.1:9/c/' mail.html
	# the unsubscribe link: BASE/u/ (not a click); the pixel before </body>
	grep -q 'href="http://127.0.0.1:9/u/[A-Za-z0-9_.-]*">unsubscribe</a>' mail.html
	grep -Eq '<img src="http://127.0.0.1:9/o/[A-Za-z0-9_.-]+" width="1" height="1" alt="" [^>]*></body></html>' mail.html
}

@test "the token is lib/track.h's: base64url payload, HMAC-SHA256 of it under the secret (openssl)" {
	conf http://127.0.0.1:9
	template t '<p>x</p>' 'x'
	action | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	tok=$(part text/html | grep -o '/o/[A-Za-z0-9_.-]*' | cut -c4-)
	pl='["o","key-1","c1","spring","email"]'
	want="$(printf '%s' "$pl" | b64url).$(printf '%s' "$pl" | openssl dgst -sha256 -hmac "$TRACK_SECRET" -binary | b64url)"
	assert_equal "$tok" "$want"
}

@test "text part: http(s) URLs become BASE/c/TOKEN, trailing punctuation kept outside, mailto and the unsubscribe link left" {
	conf http://127.0.0.1:9
	template t '<p>x</p>' 'Sale: https://shop.example/sale?a=1. (See http://x.example/y) mailto:a@b.example
Unsubscribe: {{{unsubscribeUrl}}}
nothttps://no.example'
	action | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	part text/plain > mail.txt
	grep -Eq '^Sale: http://127.0.0.1:9/c/[A-Za-z0-9_.-]+\. \(See http://127.0.0.1:9/c/[A-Za-z0-9_.-]+\) mailto:a@b.example$' mail.txt
	grep -Eq '^Unsubscribe: http://127.0.0.1:9/u/[A-Za-z0-9_.-]+$' mail.txt
	grep -q '^nothttps://no.example$' mail.txt
	t=$(grep -o 'Sale: http://127.0.0.1:9/c/[A-Za-z0-9_.-]*' mail.txt | sed 's,.*/c/,,; s/\.$//')
	[[ "$(payload "$t")" == *'"https://shop.example/sale?a=1"]' ]]
}

@test "List-Unsubscribe points at BASE/u/TOKEN; with an https base also List-Unsubscribe-Post (RFC 8058)" {
	conf https://t.shop.example
	template t '<p>x</p>' 'x'
	action | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	run /usr/bin/python3 "$FIX/mime.py" spool/*.eml
	assert_line --regexp '^list-unsubscribe=<https://t\.shop\.example/u/[A-Za-z0-9_.-]+>$'
	assert_line 'list-unsubscribe-post=List-Unsubscribe=One-Click'
	tok=$(printf '%s\n' "${lines[@]}" | sed -n 's,^list-unsubscribe=<https://t.shop.example/u/\(.*\)>$,\1,p')
	assert_equal "$(payload "$tok")" '["u","key-1","c1","spring","email"]'
}

@test "an http base: List-Unsubscribe without -Post and a warning naming send.tracking.url, never a \${NAME} value" {
	conf http://127.0.0.1:9
	template t '<p>x</p>' 'x'
	run --separate-stderr jrn-send --db jrn.db --config jrn.yaml < <(action)
	assert_success
	[[ "$stderr" == *"warning: send.tracking.url '\${TRACK_URL}' is not https"* ]]
	[[ "$stderr" != *127.0.0.1* ]]
	run /usr/bin/python3 "$FIX/mime.py" spool/*.eml
	assert_line --regexp '^list-unsubscribe=<http://127\.0\.0\.1:9/u/'
	refute_line --partial list-unsubscribe-post
}

@test "send.tracking replaces send.unsubscribe.url's link; the mailto stays in List-Unsubscribe" {
	conf https://t.shop.example
	/usr/bin/python3 - <<'P'
s = open("jrn.yaml").read()
s = s.replace("send:\n", "send:\n  unsubscribe:\n    mailto: unsub@shop.example\n    url: https://shop.example/unsubscribe\n    secret: s3cret\n", 1)
open("jrn.yaml", "w").write(s)
P
	action '"subject":"Hi","messageContent":"Hello"' | sed 's/"template":"t",//' | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	run /usr/bin/python3 "$FIX/mime.py" spool/*.eml
	assert_line --regexp '^list-unsubscribe=<mailto:unsub@shop\.example\?subject=unsubscribe>, <https://t\.shop\.example/u/[A-Za-z0-9_.-]+>$'
	refute_line --partial 'shop.example/unsubscribe?'
}

@test "send.tracking errors: url without secret, secret without url, not http(s), a query in the url" {
	template t '<p>x</p>' 'x'
	for y in 'url: http://a.example' 'secret: s' 'url: ftp://a.example
    secret: s' 'url: http://a.example/?x=1
    secret: s'; do
		printf 'send:\n  tracking:\n    %s\n' "$y" > jrn.yaml
		run --separate-stderr jrn-send --db jrn.db --config jrn.yaml < <(action)
		assert_failure 1
		[[ "$stderr" == *"send.tracking."* ]]
	done
	printf 'send:\n  tracking:\n    url: http://a.example\n    secret: s\n    bogus: 1\n' > jrn.yaml
	run --separate-stderr jrn-send --db jrn.db --config jrn.yaml < <(action)
	assert_failure
	[[ "$stderr" == *bogus* ]]
}

@test "a customer-less action is sent untracked (no token without a customer)" {
	conf http://127.0.0.1:9
	template t '<a href="https://shop.example/">x</a>' 'https://shop.example/'
	printf '{"actionType":"email","campaignId":"spring","idempotencyKey":"key-2","recipientEmail":"ann@example.com","template":"t"}\n' > a.ndjson
	run --separate-stderr jrn-send --db jrn.db --config jrn.yaml a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	part text/html | grep -q '^<a href="https://shop.example/">x</a>$'
	run part text/html
	refute_output --partial '/o/'
	assert_equal "$(part text/plain)" 'https://shop.example/'
}

# ---- the loop closed: jrn-send's mail in a browser against the listener ------

# listen: jrn-ingest --listen on a free port → PORT, LPID
listen() {
	: > listen.err # (made before the loop reads it: the job may not have opened it yet)
	jrn-ingest --db jrn.db --config jrn.yaml --listen 127.0.0.1:0 > events.ndjson 2> listen.err &
	LPID=$!
	for _ in $(seq 200); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' listen.err)
		[ -n "$PORT" ] && break
		sleep 0.05
	done
	[ -n "$PORT" ] || { cat listen.err; return 1; }
}

browser() {
	CHROME_PROFILE=$BATS_TEST_TMPDIR/c timeout 60 node "$BATS_TEST_DIRNAME/peers/browser.js" "$@"
}

@test "Chromium opens the spooled mail (pixel: email.opened) and clicks its link (302 to the target: email.clicked)" {
	[ -x /usr/bin/chromium ] || skip "no chromium"
	jrn-ingest --db jrn.db -q < /dev/null
	conf http://127.0.0.1:0
	listen
	conf "http://127.0.0.1:$PORT"
	# the link's target: the listener again, by another name (localhost is
	# not under the base, so it is tracked), so the test needs no network
	template t "<html><body><p>Hello</p><a id=\"shop\" href=\"http://localhost:$PORT/healthz?from=mail&amp;x=1\">Shop now</a></body></html>" 'Hello'
	action | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	part text/html > mail.html
	run browser "file://$BATS_TEST_TMPDIR/mail.html" '#shop'
	assert_success
	assert_line --index 0 --partial '"text":"Hello\n\nShop now"'
	assert_line --index 1 --partial "\"url\":\"http://localhost:$PORT/healthz?from=mail&x=1\""
	kill "$LPID"
	wait "$LPID"
	LPID=
	run rows "select type, customer_id, json_extract(body, '$.properties.deliveryKey'), json_extract(body, '$.properties.campaignId'), coalesce(json_extract(body, '$.properties.url'), '') from events order by seq"
	assert_line --index 0 "email.opened|c1|key-1|spring|"
	assert_line --index 1 "email.clicked|c1|key-1|spring|http://localhost:$PORT/healthz?from=mail&x=1"
	assert_equal "${#lines[@]}" 2
	[[ "$(jq -r .userAgent <<< "$(jq -c .context events.ndjson | head -1)")" == *Chrome* ]]
}

@test "Chromium: the mail's unsubscribe link, then the page's button clicked: consent revoked for email" {
	[ -x /usr/bin/chromium ] || skip "no chromium"
	jrn-ingest --db jrn.db -q < /dev/null
	conf http://127.0.0.1:0
	listen
	conf "http://127.0.0.1:$PORT"
	template t '<html><body><p>Hello</p><a id="unsub" href="{{{unsubscribeUrl}}}">Unsubscribe</a></body></html>' 'Hello'
	action | jrn-send --db jrn.db --config jrn.yaml -q > /dev/null
	part text/html > mail.html
	run browser "file://$BATS_TEST_TMPDIR/mail.html" '#unsub' '#unsubscribe'
	assert_success
	assert_line --index 1 --partial 'Stop receiving email messages from us?'
	assert_line --index 2 --partial 'Unsubscribed'
	kill "$LPID"
	wait "$LPID"
	LPID=
	assert_equal "$(rows 'select customer_id, channel, status from consent')" "c1|email|revoked"
	# the page itself stores nothing: the pixel's open and the button's revoke
	assert_equal "$(rows "select group_concat(type, ' ') from (select type from events order by seq)")" "email.opened consent.revoked"
	# and jrn-send now refuses this customer's email
	printf '{"actionType":"email","customerId":"c1","campaignId":"spring","idempotencyKey":"key-9","recipientEmail":"ann@example.com","subject":"Again","messageContent":"x"}\n' > again.ndjson
	run --separate-stderr jrn-send --db jrn.db --config jrn.yaml again.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output")" suppressed
}
