#!/usr/bin/env bats
# jrn-send: delivery through the spool and audience files (no network), the
# ledger, the outbox, templates and bad input.

load helpers

FIX=$BATS_TEST_DIRNAME/fixtures/send

# The configuration most tests use: a From and unsubscribe links.
conf() {
	cat > jrn.yaml <<'Y'
send:
  from: "Shop <news@shop.example>"
  replyTo: help@shop.example
  unsubscribe:
    mailto: unsubscribe@shop.example
    url: https://shop.example/unsubscribe
    secret: s3cret
Y
}

# email CUSTOMER [EXTRA-JSON-MEMBERS]: one email action line
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"k1","recipientEmail":"%s@example.com","subject":"Hi","messageContent":"Hello"%s}\n' "$1" "$1" "${2:+,$2}"
}

# sms CUSTOMER TEXT [EXTRA]: one SMS action line (TEXT must need no escaping)
sms() {
	printf '{"actionType":"sms","customerId":"%s","recipientPhone":"+14155550100","messageContent":"%s"%s}\n' "$1" "$2" "${3:+,$3}"
}

# spoolname KEY: the spool file's name without extension
spoolname() {
	printf '%s' "$1" | sha256sum | cut -c1-32
}

# mime FILE: what fixtures/send/mime.py says of a message
mime() {
	/usr/bin/python3 "$FIX/mime.py" "$1"
}

# hmac SECRET TEXT
hmac() {
	printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//'
}

sha() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# ---- email into the spool --------------------------------------------------

@test "email: simulated into spool/ beside the state file, a well-formed message" {
	conf
	mkdir sub
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"k1","idempotencyKey":"key-1","recipientEmail":" Ann@Example.COM ","profile":{"firstName":"Ann","lastName":"Lee"},"subject":"Grüße aus Köln","messageContent":"Hello Ann,\nyour order is on its way."}' > a.ndjson
	run --separate-stderr jrn-send --db sub/s.db a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected, 1 simulated (email 1)"
	h=$(spoolname key-1)
	assert_equal "$(jq -c .delivery <<< "$output")" \
		"{\"status\":\"simulated\",\"provider\":\"spool\",\"messageId\":\"<$h@shop.example>\",\"attempts\":1,\"key\":\"key-1\"}"
	assert_equal "$(ls sub/spool)" "$h.eml"
	[ ! -e spool ]
	run mime "sub/spool/$h.eml"
	assert_success
	assert_line crlf=ok
	(( ${lines[1]#longest=} < 998 ))
	assert_line 'from=Shop <news@shop.example>'
	assert_line 'to=Ann Lee <ann@example.com>'
	assert_line 'subject=Grüße aus Köln'
	assert_line 'date=Thu, 01 Jan 2026 00:00:00 +0000'
	assert_line "message-id=<$h@shop.example>"
	assert_line 'mime-version=1.0'
	assert_line 'x-jrn-campaign=k1'
	assert_line 'reply-to=help@shop.example'
	assert_line 'type=text/plain'
	assert_line 'part=text/plain charset=utf-8 cte=quoted-printable'
	assert_line "body='Hello Ann,\\nyour order is on its way.\\n'"
	# the subject went out RFC 2047 encoded, not raw
	run grep -c 'Köln' "sub/spool/$h.eml"
	assert_output 0
	# the ledger
	assert_equal "$(sqlite3 sub/s.db "SELECT status, provider, customer_id, channel, campaign_id, attempts FROM deliveries WHERE key = 'key-1'")" \
		"simulated|spool|c1|email|k1|1"
}

@test "email: List-Unsubscribe with mailto and a signed https link, One-Click" {
	conf
	email c1 > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	key=$(jq -r .delivery.key <<< "$output")
	f=spool/$(spoolname "$key").eml
	t=$(hmac s3cret "$(printf 'c1\nc1@example.com\nk1')")
	[ ${#t} -eq 64 ]
	run mime "$f"
	assert_line "list-unsubscribe=<mailto:unsubscribe@shop.example?subject=unsubscribe>, <https://shop.example/unsubscribe?c=c1&k=k1&t=$t>"
	assert_line 'list-unsubscribe-post=List-Unsubscribe=One-Click'
	assert_line crlf=ok
}

@test "email: {{unsubscribeUrl}} in messageContent is the signed link (as jrn-route --check asks); no other braces are Mustache" {
	conf
	email c1 | jq -c '.messageContent = "Bye: {{unsubscribeUrl}} / {{{ unsubscribeUrl }}} / {{name}} / {{unsubscribeUrlX}} {{"' > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	t=$(hmac s3cret "$(printf 'c1\nc1@example.com\nk1')")
	u="https://shop.example/unsubscribe?c=c1&k=k1&t=$t"
	run mime spool/*.eml
	assert_line "body='Bye: $u / $u / {{name}} / {{unsubscribeUrlX}} {{\\n'"
	# without a link configured the tag goes, as the List-Unsubscribe
	# header does (-v says there is no send.unsubscribe): never the tag
	rm -f jrn.yaml
	email c2 | jq -c '.messageContent = "Bye{{unsubscribeUrl}}."' > b.ndjson
	run jrn-send -q --spool s2 b.ndjson
	assert_success
	run mime s2/*.eml
	assert_line "body='Bye.\\n'"
}

@test "email: transactional mail carries no List-Unsubscribe" {
	conf
	email c1 '"category":"transactional"' > a.ndjson
	run jrn-send a.ndjson
	assert_success
	run mime spool/*.eml
	assert_success
	assert_line 'subject=Hi'
	refute_line --partial list-unsubscribe
	run grep -ci '^List-Unsubscribe' spool/*.eml
	assert_output 0
}

@test "email: no unsubscribe configured: a note on stderr under -v only" {
	email c1 > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	[[ "$stderr" != *"no send.unsubscribe in the configuration"* ]]
	run --separate-stderr jrn-send -v a.ndjson
	assert_success
	[[ "$stderr" == *"no send.unsubscribe in the configuration"* ]]
	run grep -c '^List-Unsubscribe' spool/*.eml
	assert_output 0
	email c2 > b.ndjson
	run --separate-stderr jrn-send -q b.ndjson
	assert_success
	assert_equal "$stderr" ""
}

@test "email: template with .html: multipart/alternative, text then html, escaped HTML" {
	conf
	mkdir templates
	printf 'Welcome, {{{profile.firstName}}}!\n' > templates/welcome.subject
	printf 'Hi {{{profile.firstName}}}, {{coupon|no coupon}}.\nUnsubscribe: {{{unsubscribeUrl}}}\n' > templates/welcome.txt
	printf '<p>Hi {{profile.firstName}}{{x|}}</p><a href="{{unsubscribeUrl}}">u</a>\n' > templates/welcome.html
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"k1","recipientEmail":"a@example.com","template":"welcome","profile":{"firstName":"<b>Zoë</b>"}}' > a.ndjson
	run jrn-send a.ndjson
	assert_success
	assert_output --partial '"status":"simulated"'
	t=$(hmac s3cret "$(printf 'c1\na@example.com\nk1')")
	url="https://shop.example/unsubscribe?c=c1&k=k1&t=$t"
	run mime spool/*.eml
	assert_success
	assert_line crlf=ok
	assert_line 'type=multipart/alternative'
	assert_equal "$(grep '^part=' <<< "$output" | tr '\n' ' ')" \
		"part=text/plain charset=utf-8 cte=quoted-printable part=text/html charset=utf-8 cte=quoted-printable "
	assert_equal "$(grep '^body=' <<< "$output" | sed -n 2p)" "body='<p>Hi &lt;b&gt;Zoë&lt;/b&gt;</p><a href=\"${url//&/&amp;}\">u</a>\\n'"
	assert_line "body='Hi <b>Zoë</b>, no coupon.\\nUnsubscribe: $url\\n'"
	assert_line 'subject=Welcome, <b>Zoë</b>!'
	assert_line 'to="<b>Zoë</b>" <a@example.com>'
}

@test "email: text parts and the subject are not HTML-escaped" {
	conf
	mkdir templates
	printf 'News for {{name}}\n' > templates/n.subject
	printf 'Dear {{name}}\n' > templates/n.txt
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"k1","recipientEmail":"a@example.com","template":"n","name":"Tom & Jerry'"'"'s"}' > a.ndjson
	run jrn-send a.ndjson
	assert_success
	run mime spool/*.eml
	assert_line "subject=News for Tom & Jerry's"
	assert_line "body=\"Dear Tom & Jerry's\\n\""
}

@test "email: base64 for mostly non-ASCII text, long lines wrapped below 998 octets" {
	conf
	long=$(printf 'Привет, мир! %.0s' $(seq 200))
	printf '{"actionType":"email","customerId":"c1","recipientEmail":"a@example.com","subject":"%s","messageContent":"%s"}\n' \
		"Привет мир, это длинная тема письма для проверки" "$long" > a.ndjson
	run jrn-send a.ndjson
	assert_success
	run mime spool/*.eml
	assert_line crlf=ok
	(( ${lines[1]#longest=} < 998 ))
	assert_line 'subject=Привет мир, это длинная тема письма для проверки'
	assert_line 'part=text/plain charset=utf-8 cte=base64'
	assert_line "body='$long'"
}

@test "--spool DIR and send.spool choose the spool directory" {
	conf
	email c1 > a.ndjson
	run jrn-send -q --spool out a.ndjson
	assert_success
	assert_equal "$(ls out | wc -l)" 1
	[ ! -e spool ]
	mkdir cfg
	printf 'send:\n  spool: sp\n' > cfg/j.yaml
	email c2 > b.ndjson
	run jrn-send -q --config cfg/j.yaml b.ndjson
	assert_success
	key=$(jq -r .delivery.key <<< "$output")
	[ -f "cfg/sp/$(spoolname "$key").eml" ]
	[ ! -e spool ]
}

# ---- sms, whatsapp, webhook, retargeting -------------------------------------

@test "sms: GSM-7 and UCS-2 segments, the spool's JSON" {
	a160=$(printf 'a%.0s' $(seq 160))
	a158=$(printf 'a%.0s' $(seq 158))
	a68=$(printf 'a%.0s' $(seq 68))
	{
		sms c1 "$a160"
		sms c2 "${a160}b"
		sms c3 "hi 😀"
		sms c4 "😀${a68}"
		sms c5 "😀${a68}b"
		sms c6 "${a158}€"
		sms c7 "${a158}b€"
	} > s.ndjson
	run jrn-send -q s.ndjson
	assert_success
	assert_equal "$(jq -c '[.delivery.segments, .delivery.status, .delivery.cost]' <<< "$output" | tr '\n' ' ')" \
		'[1,"simulated",0] [2,"simulated",0] [1,"simulated",0] [1,"simulated",0] [2,"simulated",0] [1,"simulated",0] [2,"simulated",0] '
	key=$(jq -r 'select(.customerId == "c3") | .delivery.key' <<< "$output")
	f=spool/$(spoolname "$key").json
	assert_equal "$(jq -c . "$f")" "{\"channel\":\"sms\",\"provider\":\"spool\",\"key\":\"$key\",\"to\":\"+14155550100\",\"body\":\"hi 😀\",\"segments\":1}"
}

@test "sms: numbers normalised to E.164 in ingest.defaultCountry's region" {
	printf 'ingest:\n  defaultCountry: GB\n' > jrn.yaml
	{
		printf '{"actionType":"sms","customerId":"c1","phone":"020 7031 3000","messageContent":"x"}\n'
		printf '{"actionType":"whatsapp","customerId":"c2","profile":{"phone":"+1 (415) 555-0100"},"messageContent":"x"}\n'
	} > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	run jq -r .delivery.key <<< "$output"
	assert_equal "$(jq -r .to "spool/$(spoolname "${lines[0]}").json")" +442070313000
	assert_equal "$(jq -r .to "spool/$(spoolname "${lines[1]}").json")" +14155550100
}

@test "sms: cost from a spool provider's costPerSegment; footer on marketing only; maxSegments" {
	cat > jrn.yaml <<'Y'
providers:
  sms:
    - type: spool
      name: cheap
      costPerSegment: 0.0079
      maxSegments: 2
      footer: "STOP to end"
Y
	a150=$(printf 'a%.0s' $(seq 150))
	a300=$(printf 'a%.0s' $(seq 300))
	{
		sms c1 "$a150"
		sms c2 "$a150" '"category":"transactional"'
		sms c3 "$a300"
		sms c4 "x"
	} > s.ndjson
	run --separate-stderr jrn-send --rejects rej.ndjson s.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 4
	assert_equal "$(jq -c '[.customerId, .delivery.status, .delivery.provider, .delivery.segments, .delivery.cost]' <<< "$output" | tr '\n' ' ')" \
		'["c1","simulated","cheap",2,0.0158] ["c2","simulated","cheap",1,0.0079] ["c3","rejected",null,3,null] ["c4","simulated","cheap",1,0.0079] '
	k1=$(jq -r 'select(.customerId == "c1") | .delivery.key' <<< "$output")
	k2=$(jq -r 'select(.customerId == "c2") | .delivery.key' <<< "$output")
	assert_equal "$(jq -r .body "spool/$(spoolname "$k1").json")" "$a150
STOP to end"
	assert_equal "$(jq -r .body "spool/$(spoolname "$k2").json")" "$a150"
	assert_equal "$(ls spool | wc -l)" 3
	assert_equal "$(jq -r .line rej.ndjson)" 3
	[[ "$(jq -r .error rej.ndjson)" == *"3 GSM-7 segments, more than maxSegments 2"* ]]
	assert_equal "$(sqlite3 jrn.db "SELECT cost, segments FROM deliveries WHERE key = '$k1'")" "0.0158|2"
}

@test "whatsapp and webhook: spool JSON, templates whatsapp before sms, json body" {
	mkdir templates
	printf 'sms {{name}}\n' > templates/t.sms
	printf 'wa {{name}}\n' > templates/t.whatsapp
	printf '{"hello": "{{{name}}}", "n": {{n}}}\n' > templates/t.json
	{
		printf '{"actionType":"whatsapp","customerId":"c1","phone":"+442070313000","template":"t","name":"Bo"}\n'
		printf '{"actionType":"sms","customerId":"c1","phone":"+442070313000","template":"t","name":"Bo"}\n'
		printf '{"actionType":"webhook","customerId":"c1","template":"t","name":"Bo","n":3}\n'
		printf '{"actionType":"webhook","customerId":"c2",  "x": [1, 2]}\n'
	} > a.ndjson
	run jrn-send a.ndjson
	assert_success
	for i in 0 1 2 3; do
		key[i]=$(sed -n "$((i + 1))p" <<< "$output" | jq -r .delivery.key)
	done
	assert_equal "$(jq -c '[.channel, .to, .body]' "spool/$(spoolname "${key[0]}").json")" '["whatsapp","+442070313000","wa Bo"]'
	assert_equal "$(jq -c '[.channel, .to, .body]' "spool/$(spoolname "${key[1]}").json")" '["sms","+442070313000","sms Bo"]'
	assert_equal "$(jq -c '[.channel, .body]' "spool/$(spoolname "${key[2]}").json")" '["webhook",{"hello":"Bo","n":3}]'
	assert_equal "$(jq -c '.body' "spool/$(spoolname "${key[3]}").json")" '{"actionType":"webhook","customerId":"c2","x":[1,2]}'
}

@test "retargeting: a dir provider appends hashed identifiers only" {
	mkdir cfg
	printf 'providers:\n  retargeting:\n    - type: retargeting\n      dir: aud\n' > cfg/j.yaml
	{
		printf '{"actionType":"retargeting","customerId":"c1","campaignId":"spring-25","email":"  Bob.Smith@Example.ORG ","phone":"+44 20 7031 3000"}\n'
		printf '{"actionType":"retargeting","customerId":"c2","campaignId":"spring-25","profile":{"phone":"(415) 555-0100"}}\n'
		printf '{"actionType":"retargeting","customerId":"c3","campaignId":"spring-25"}\n'
	} > a.ndjson
	run jrn-send -q --config cfg/j.yaml --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "sent sent rejected "
	assert_equal "$(jq -r .delivery.provider <<< "$output" | sed -n 1p)" retargeting
	f=cfg/aud/spring-25.ndjson
	assert_equal "$(wc -l < "$f")" 2
	assert_equal "$(sed -n 1p "$f" | jq -c '[.campaignId, .hashedEmail, .hashedPhone, .addedAt]')" \
		"[\"spring-25\",\"$(sha bob.smith@example.org)\",\"$(sha +442070313000)\",\"2026-01-01T00:00:00.000Z\"]"
	assert_equal "$(sed -n 2p "$f" | jq -c '[.hashedEmail, .hashedPhone]')" "[null,\"$(sha +14155550100)\"]"
	run grep -il -e bob -e 7031 -e 555 -e example "$f"
	assert_failure
	[[ "$(jq -r .error rej.ndjson)" == "no valid email or phone"* ]]
}

# ---- templates ---------------------------------------------------------------

@test "templates: locale fallback, defaultLocale, partials" {
	mkdir -p cfg/tp
	printf 'templates:\n  dir: tp\n  defaultLocale: fr\n' > cfg/j.yaml
	printf 'Hello\n{{> foot}}' > cfg/tp/w.sms
	printf 'Hallo\n{{> foot}}' > cfg/tp/w.de.sms
	printf 'Bonjour\n{{> foot}}' > cfg/tp/w.fr.sms
	printf 'bye' > cfg/tp/foot.mustache
	printf 'tschüss' > cfg/tp/foot.de.mustache
	for loc in de-AT de en-GB xx ''; do
		printf '{"actionType":"sms","customerId":"c-%s","phone":"+14155550100","template":"w"%s}\n' "$loc" "${loc:+,\"locale\":\"$loc\"}"
	done > a.ndjson
	printf '{"actionType":"sms","customerId":"p","phone":"+14155550100","template":"w","profile":{"locale":"de"}}\n' >> a.ndjson
	printf '{"actionType":"sms","customerId":"t","phone":"+14155550100","template":"w","traits":{"locale":"de_CH"}}\n' >> a.ndjson
	run jrn-send --config cfg/j.yaml a.ndjson
	assert_success
	bodies=()
	while read -r key; do
		bodies+=("$(jq -r .body "spool/$(spoolname "$key").json")")
	done < <(jq -r .delivery.key <<< "$output")
	assert_equal "${bodies[0]}" $'Hallo\ntschüss'
	assert_equal "${bodies[1]}" $'Hallo\ntschüss'
	# en-GB, en: no such files; then the default locale fr (no fr partial)
	assert_equal "${bodies[2]}" $'Bonjour\nbye'
	assert_equal "${bodies[3]}" $'Bonjour\nbye'
	assert_equal "${bodies[4]}" $'Bonjour\nbye'
	assert_equal "${bodies[5]}" $'Hallo\ntschüss'
	assert_equal "${bodies[6]}" $'Hallo\ntschüss'
	# without a default locale: the file without one
	printf 'templates:\n  dir: tp\n' > cfg/j.yaml
	printf '{"actionType":"sms","customerId":"x","phone":"+14155550100","template":"w","locale":"xx"}\n' > b.ndjson
	run jrn-send --config cfg/j.yaml b.ndjson
	assert_success
	assert_equal "$(jq -r .body "spool/$(spoolname "$(jq -r .delivery.key <<< "$output")").json")" $'Hello\nbye'
}

@test "templates: a missing variable rejects the action and names it; defaults render" {
	mkdir templates
	printf 'Hi {{profile.firstName}} {{x|}}[{{coupon|none}}]\n' > templates/a.sms
	printf 'Sub {{nope}}\n' > templates/b.subject
	printf 'x\n' > templates/b.txt
	{
		printf '{"actionType":"sms","customerId":"c1","phone":"+14155550100","template":"a","profile":{"firstName":"Al"}}\n'
		printf '{"actionType":"sms","customerId":"c2","phone":"+14155550100","template":"a","profile":{}}\n'
		printf '{"actionType":"email","customerId":"c3","email":"c@example.com","template":"b"}\n'
		printf '{"actionType":"email","customerId":"c4","email":"c@example.com","template":"none"}\n'
		printf '{"actionType":"sms","customerId":"c5","phone":"+14155550100","template":"a","profile":{"firstName":"Al"},"coupon":"X1"}\n'
	} > a.ndjson
	run --separate-stderr jrn-send -q --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "simulated rejected rejected rejected simulated "
	k1=$(sed -n 1p <<< "$output" | jq -r .delivery.key)
	k5=$(sed -n 5p <<< "$output" | jq -r .delivery.key)
	assert_equal "$(jq -r .body "spool/$(spoolname "$k1").json")" "Hi Al [none]"
	assert_equal "$(jq -r .body "spool/$(spoolname "$k5").json")" "Hi Al [X1]"
	assert_equal "$(jq -r .line rej.ndjson | tr '\n' ' ')" "2 3 4 "
	run jq -r .error rej.ndjson
	assert_line --index 0 --partial 'a.sms'
	assert_line --index 0 --partial 'profile.firstName'
	assert_line --index 1 --partial 'nope'
	assert_line --index 2 --partial "template 'none'"
	assert_equal "$(ls spool | wc -l)" 2
	# the rejects are in the ledger as rejected (for jrn-report metrics)
	assert_equal "$(sqlite3 jrn.db 'SELECT status, count(*) FROM deliveries GROUP BY 1 ORDER BY 1' | tr '\n' ' ')" "rejected|3 simulated|2 "
}

# ---- idempotency ---------------------------------------------------------------

@test "idempotency: the same action twice in one run and again in a second run" {
	conf
	{ email c1; email c1; email c2 '"idempotencyKey":"K"'; email c3 '"idempotencyKey":"K"'; } > a.ndjson
	run jrn-send a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "simulated duplicate simulated duplicate "
	assert_equal "$(sed -n 4p <<< "$output" | jq -r .delivery.key)" K
	[[ "$(sed -n 2p <<< "$output" | jq -r .delivery.error)" == *"a.ndjson:1"* ]]
	derived=$(sed -n 1p <<< "$output" | jq -r .delivery.key)
	assert_equal "$derived" "$(printf 'c1\x1fk1\x1femail\x1f\x1f2026-01-01' | sha256sum | cut -d' ' -f1)"
	assert_equal "$(ls spool | wc -l)" 2
	run jrn-send a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "duplicate duplicate duplicate duplicate "
	[[ "$(sed -n 1p <<< "$output" | jq -r .delivery.error)" == "simulated already by spool"* ]]
	# the next day, a derived key is new; a given one is not
	run jrn-send --now 2026-01-02T08:00:00Z a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "simulated duplicate duplicate duplicate "
	assert_equal "$(ls spool | wc -l)" 3
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM deliveries')" 3
}

@test "idempotency: a failed key is claimed again" {
	email c1 '"idempotencyKey":"F"' > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	sqlite3 jrn.db "UPDATE deliveries SET status = 'failed', error = 'x' WHERE key = 'F'"
	rm -r spool
	run jrn-send -q a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	[ -f "spool/$(spoolname F).eml" ]
	assert_equal "$(sqlite3 jrn.db "SELECT status, error IS NULL FROM deliveries WHERE key = 'F'")" "simulated|1"
}

@test "idempotency: a simulated key does not block a real provider" {
	# a retargeting dir provider is real and needs no network
	printf '{"actionType":"retargeting","customerId":"c1","campaignId":"k","email":"a@example.com"}\n' > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	run jrn-send -q a.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output")" duplicate
	printf 'providers:\n  retargeting:\n    - type: retargeting\n      dir: aud\n' > jrn.yaml
	run jrn-send -q a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" sent
	assert_equal "$(jq -r .hashedEmail aud/k.ndjson)" "$(sha a@example.com)"
	run jrn-send -q a.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output")" duplicate
	assert_equal "$(wc -l < aud/k.ndjson)" 1
	assert_equal "$(sqlite3 jrn.db 'SELECT status, provider FROM deliveries')" "sent|retargeting"
}

# ---- route decisions, the outbox ---------------------------------------------

@test "route: defer and suppress send nothing; a suppress is noted in the ledger, a defer is not" {
	{
		email c1 '"route":{"decision":"defer"}'
		email c2 '"route":{"decision":"suppress","reason":"frequency cap"}'
		email c3 '"route":{"decision":"send"}'
	} > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	assert_line --index 0 --partial '"delivery":{"status":"deferred","attempts":0,"key":"'
	assert_equal "$(sed -n 2p <<< "$output" | jq -c '.delivery | [.status, .error]')" '["suppressed","route: frequency cap"]'
	assert_equal "$(sed -n 3p <<< "$output" | jq -r .delivery.status)" simulated
	assert_equal "$(ls spool | wc -l)" 1
	assert_equal "$(sqlite3 jrn.db 'SELECT customer_id, status, error FROM deliveries ORDER BY customer_id' | tr '\n' ' ')" \
		"c2|suppressed|route: frequency cap c3|simulated| "
}

@test "--due --dry-run shows what is due once, as dry-run, and leaves the outbox as it was" {
	for i in 1 2 3; do email "c$i" '"route":{"sendAt":"2026-01-02T09:00:00Z"}'; done > a.ndjson
	jrn-send -q --batch-size 2 a.ndjson > /dev/null
	run timeout 20 jrn-send -q --dry-run --batch-size 2 --due --now 2026-01-02T09:00:00Z
	assert_success
	assert_equal "$(jq -r '"\(.customerId):\(.delivery.status)"' <<< "$output" | sort | tr '\n' ' ')" \
		"c1:dry-run c2:dry-run c3:dry-run "
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM outbox')" 3
	[ ! -e spool ] || [ -z "$(ls spool)" ]
}

@test "an outbox action suppressed before it is due: recorded suppressed, its key free again" {
	email c1 '"idempotencyKey":"k-1","route":{"sendAt":"2026-01-02T09:00:00Z"}' > a.ndjson
	run jrn-send -q a.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output")" queued
	key=$(jq -r .delivery.key <<< "$output")
	assert_equal "$key" k-1
	to=$(jq -r .recipientEmail a.ndjson | tr 'A-Z' 'a-z')
	sqlite3 jrn.db "INSERT INTO suppressions (address, channel, reason, ts) VALUES ('$to', 'email', 'complained', 0)"
	run jrn-send -q --due --now 2026-01-02T09:00:00Z
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" suppressed
	assert_equal "$(sqlite3 jrn.db "SELECT status, error FROM deliveries WHERE key = '$key'")" \
		"suppressed|suppressed: complained"
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM outbox')" 0
	# lifted: the same action goes out
	sqlite3 jrn.db "DELETE FROM suppressions"
	email c1 '"idempotencyKey":"k-1"' > b.ndjson
	run jrn-send -q --now 2026-01-02T10:00:00Z b.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	assert_equal "$(sqlite3 jrn.db "SELECT status FROM deliveries WHERE key = 'k-1'")" simulated
}

@test "an action not routed: its own sendAt is honoured as route.sendAt is (queued), and a bad one rejected, never sent at once" {
	{
		email c1 '"sendAt":"2026-01-02T09:00:00Z"'
		email c2 '"sendAt":"tomorrow"'
		email c3 '"sendAt":1767340800000'
		# route.sendAt (jrn-route's, which holds the action's own) wins
		email c4 '"sendAt":"2026-01-02T09:00:00Z","route":{"sendAt":"2026-01-03T09:00:00Z"}'
	} > a.ndjson
	run --separate-stderr jrn-send -q a.ndjson
	assert_failure 3
	assert_equal "$(sed -n 1p <<< "$output" | jq -c '.delivery | [.status, .sendAt]')" '["queued","2026-01-02T09:00:00.000Z"]'
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .delivery.status)" rejected
	assert_regex "$(sed -n 2p <<< "$output" | jq -r .delivery.error)" '^sendAt: expected an RFC 3339 time with a zone'
	assert_equal "$(sed -n 3p <<< "$output" | jq -r .delivery.error)" 'sendAt: expected an RFC 3339 time with a zone, such as 2027-12-24T09:00:00Z, got a number'
	assert_equal "$(sed -n 4p <<< "$output" | jq -c '.delivery | [.status, .sendAt]')" '["queued","2026-01-03T09:00:00.000Z"]'
	[ -z "$(ls spool 2> /dev/null)" ]
}

@test "route.sendAt in the future: queued in the outbox; --due sends it when due" {
	{
		email c1 '"route":{"sendAt":"2026-01-02T09:00:00Z"}'
		email c2 '"route":{"sendAt":"2025-12-31T09:00:00Z"}'
	} > a.ndjson
	run jrn-send -q a.ndjson
	assert_success
	assert_equal "$(sed -n 1p <<< "$output" | jq -c '.delivery | [.status, .sendAt]')" '["queued","2026-01-02T09:00:00.000Z"]'
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .delivery.status)" simulated
	key=$(sed -n 1p <<< "$output" | jq -r .delivery.key)
	assert_equal "$(sqlite3 jrn.db "SELECT key, send_at FROM outbox")" "$key|$(date -d 2026-01-02T09:00:00Z +%s)000"
	assert_equal "$(sqlite3 jrn.db "SELECT status FROM deliveries WHERE key = '$key'")" queued
	[ ! -e "spool/$(spoolname "$key").eml" ]
	# the same action again: already queued
	run jrn-send -q a.ndjson
	assert_equal "$(sed -n 1p <<< "$output" | jq -r .delivery.status)" duplicate
	# not yet due
	run --separate-stderr jrn-send --due --now 2026-01-02T08:59:59Z
	assert_success
	assert_output ""
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM outbox')" 1
	# the next day: sent under the key it was queued with
	run jrn-send -q --due --now 2026-01-02T09:00:00Z
	assert_success
	assert_equal "$(jq -r .customerId <<< "$output")" c1
	assert_equal "$(jq -r .delivery.key <<< "$output")" "$key"
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	[ -f "spool/$(spoolname "$key").eml" ]
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM outbox')" 0
	assert_equal "$(sqlite3 jrn.db "SELECT status FROM deliveries WHERE key = '$key'")" simulated
	run jrn-send -q --due --now 2026-01-03T00:00:00Z
	assert_success
	assert_output ""
}

@test "suppressions and revoked consent suppress; other channels still go" {
	email c0 > a.ndjson
	jrn-send -q a.ndjson > /dev/null
	sqlite3 jrn.db "INSERT INTO suppressions (address, channel, reason, ts, source) VALUES ('c1@example.com', 'email', 'bounced', 0, 't'), ('+14155550100', 'all', 'invalid', 0, 't')"
	ev consent.revoked c2 '"properties":{"channel":"email"}' | jrn-ingest -q
	assert_equal "$(sqlite3 jrn.db "SELECT status FROM consent WHERE customer_id = 'c2'")" revoked
	{
		email c1
		email c2
		email c3
		sms c4 hi
		printf '{"actionType":"sms","customerId":"c2","recipientPhone":"+14155550199","messageContent":"x"}\n'
	} > b.ndjson
	run jrn-send -q b.ndjson
	assert_success
	assert_equal "$(jq -c '.delivery | [.status, .error]' <<< "$output" | tr '\n' ' ')" \
		'["suppressed","suppressed: bounced"] ["suppressed","consent for email revoked"] ["simulated",null] ["suppressed","suppressed: invalid"] ["simulated",null] '
	assert_equal "$(sqlite3 jrn.db 'SELECT customer_id, channel, status FROM deliveries ORDER BY customer_id, channel' | tr '\n' ' ')" \
		"c0|email|simulated c1|email|suppressed c2|email|suppressed c2|sms|simulated c3|email|simulated c4|sms|suppressed "
}

@test "--stuck: a claim never recorded blocks a resend, is listed, and --resend sends it" {
	email c1 '"idempotencyKey":"S"' > a.ndjson
	jrn-send -q a.ndjson > /dev/null
	rm -r spool
	sqlite3 jrn.db "UPDATE deliveries SET status = 'sending', claimed_at = 1767225600000 WHERE key = 'S'"
	run jrn-send -q a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" duplicate
	[[ "$(jq -r .delivery.error <<< "$output")" == *"jrn-send --stuck"* ]]
	[ ! -e spool ]
	run --separate-stderr jrn-send --stuck
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -c '.delivery | [.status, .key, .claimedAt]' <<< "$output")" '["stuck","S","2026-01-01T00:00:00.000Z"]'
	assert_equal "$(jq -c 'del(.delivery)' <<< "$output")" "$(jq -c . a.ndjson)"
	run jrn-send -q --stuck --resend
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	[ -f "spool/$(spoolname S).eml" ]
	run --separate-stderr jrn-send --stuck
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected"
}

@test "--dry-run: rendered and checked, nothing sent or recorded" {
	{ email c1; sms c2 hi; email c3 | sed 's/c3@example.com/nope/'; } > a.ndjson
	run jrn-send -q --dry-run a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "dry-run dry-run rejected "
	[ ! -e spool ]
	run jrn-send -q a.ndjson
	run jrn-send -q --dry-run a.ndjson
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "duplicate duplicate rejected "
	# the real run noted its reject (a dry run writes nothing)
	assert_equal "$(sqlite3 jrn.db 'SELECT status, count(*) FROM deliveries GROUP BY 1 ORDER BY 1' | tr '\n' ' ')" "rejected|1 simulated|2 "
	rm jrn.db
	run jrn-send -q --dry-run a.ndjson
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM deliveries')" 0
}

@test "--dry-run: an action for later is not reported queued, nor put in the outbox" {
	email c1 '"route":{"sendAt":"2026-05-01T00:00:00Z"}' > a.ndjson
	run jrn-send -q --dry-run a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" dry-run
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM outbox')" 0
}

@test "--stuck only lists: no note about unsubscribe links on stderr" {
	email c1 '"idempotencyKey":"S"' > a.ndjson
	jrn-send -q a.ndjson > /dev/null
	sqlite3 jrn.db "UPDATE deliveries SET status = 'sending' WHERE key = 'S'"
	run --separate-stderr jrn-send --stuck
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" stuck
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected, 1 stuck"
}

@test "a template name cannot reach outside templates.dir" {
	mkdir templates
	printf 'SECRET\n' > secret.txt
	printf 'sub\n' > secret.subject
	printf '%s\n' '{"actionType":"email","customerId":"c1","email":"a@example.com","template":"../secret"}' > a.ndjson
	run jrn-send -q --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output")" rejected
	run grep -rl SECRET spool
	assert_failure
}

@test "a spool that cannot be written: failed, exit 1, said on stderr; claimed again later" {
	touch notdir
	sms c1 hi > a.ndjson
	run --separate-stderr jrn-send --spool notdir a.ndjson
	assert_failure 1
	assert_equal "$(jq -c '.delivery | [.status, .error]' <<< "$output")" '["failed","spool: notdir: Not a directory"]'
	assert_equal "${stderr_lines[0]}" "jrn-send: a.ndjson:1: sms to +14155550100 failed: spool: notdir: Not a directory"
	assert_equal "${stderr_lines[1]}" "jrn-send: 0 sent, 0 duplicate, 0 queued, 1 failed, 0 rejected (sms 1)"
	assert_equal "$(sqlite3 jrn.db 'SELECT status FROM deliveries')" failed
	run jrn-send -q --spool ok a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output")" simulated
	assert_equal "$(ls ok | wc -l)" 1
}

# ---- bad input -----------------------------------------------------------------

@test "bad lines and bad records are rejected with reasons; the good ones go out" {
	{
		email g1                                                      # 1
		printf '{"actionType":"email",\n'                             # 2
		printf '[1,2]\n'                                              # 3
		printf '{"actionType":"email","customerId":"u","recipientEmail":"a\xff@example.com","subject":"s","messageContent":"m"}\n' # 4
		printf '{"actionType":5,"customerId":"t"}\n'                  # 5
		printf '{"actionType":"email","customerId":"t","recipientEmail":5,"subject":"s","messageContent":"m"}\n' # 6
		printf '{"actionType":"sms","customerId":"m","messageContent":"m"}\n' # 7
		printf '{"actionType":"email","customerId":"b","recipientEmail":"not an address","subject":"s","messageContent":"m"}\n' # 8
		printf '{"actionType":"sms","customerId":"p","recipientPhone":"12","messageContent":"m"}\n' # 9
		printf '{"actionType":"email","customerId":"n","recipientEmail":"n@example.com","messageContent":"m"}\n' # 10
		sms g2 hi                                                     # 11
		printf 'not json\n'                                           # 12
	} > a.ndjson
	run --separate-stderr jrn-send --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r '"\(.customerId):\(.delivery.status)"' <<< "$output" | tr '\n' ' ')" \
		"g1:simulated t:rejected t:rejected m:rejected b:rejected p:rejected n:rejected g2:simulated "
	# in input order, bad lines and bad records alike
	assert_equal "$(jq -r .line rej.ndjson | tr '\n' ' ')" "2 3 4 5 6 7 8 9 10 12 "
	assert_equal "$(jq -r 'select(.line == 2) | .input' rej.ndjson)" '{"actionType":"email",'
	reason() { jq -r "select(.line == $1) | .error" rej.ndjson; }
	[[ "$(reason 3)" == *object* ]]
	[[ "$(reason 4)" == *UTF-8* ]]
	[[ "$(reason 5)" == *actionType* ]]
	[[ "$(reason 6)" == "recipientEmail: expected a string, got a number" ]]
	[[ "$(reason 7)" == "no recipient: recipientPhone"* ]]
	[[ "$(reason 8)" == "recipient 'not an address'"* ]]
	[[ "$(reason 9)" == "recipient '12'"* ]]
	[[ "$(reason 10)" == "no subject"* ]]
	[[ "$stderr" == *"a.ndjson:2: "* ]]
	assert_equal "$(ls spool | wc -l)" 2
	run jrn-send -q < /dev/null
	assert_success
	assert_output ""
}

@test "a subject, messageContent or recipient that is not a string is said by its kind, not as absent" {
	{
		printf '{"actionType":"email","customerId":"a","recipientEmail":"a@example.com","subject":5,"messageContent":"m"}\n'
		printf '{"actionType":"email","customerId":"b","recipientEmail":"b@example.com","subject":"s","messageContent":{"t":"m"}}\n'
		printf '{"actionType":"sms","customerId":"c","recipientPhone":"+14155550100","messageContent":[1]}\n'
		printf '{"actionType":"email","customerId":"d","recipientEmail":"d@example.com","subject":null,"messageContent":"m"}\n'
		email e
		printf '{"actionType":"email","customerId":"f","recipientEmail":5,"subject":"s","messageContent":"m"}\n'
		printf '{"actionType":"sms","customerId":"g","recipientPhone":true,"messageContent":"m"}\n'
	} > a.ndjson
	run --separate-stderr jrn-send --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-send: a.ndjson:1: subject: expected a string, got a number"
	assert_equal "${stderr_lines[1]}" "jrn-send: a.ndjson:2: messageContent: expected a string, got an object"
	assert_equal "${stderr_lines[2]}" "jrn-send: a.ndjson:3: messageContent: expected a string, got an array"
	# null is absent, as before
	assert_equal "${stderr_lines[3]}" "jrn-send: a.ndjson:4: no subject: the action has none and no template gives one"
	# a recipient too, not "no recipient"
	assert_equal "${stderr_lines[4]}" "jrn-send: a.ndjson:6: recipientEmail: expected a string, got a number"
	assert_equal "${stderr_lines[5]}" "jrn-send: a.ndjson:7: recipientPhone: expected a string, got a boolean"
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "rejected rejected rejected rejected simulated rejected rejected "
	assert_equal "$(jq -r 'select(.line == 1) | .error' rej.ndjson)" "subject: expected a string, got a number"
}

@test "customerId a number, an object or a boolean: a reject, as in jrn-ingest and jrn-route; campaignId a number is its text" {
	{
		printf '{"actionType":"email","customerId":42,"recipientEmail":"a@example.com","subject":"s","messageContent":"m"}\n'
		printf '{"actionType":"email","customerId":{"id":"c1"},"recipientEmail":"a@example.com","subject":"s","messageContent":"m"}\n'
		printf '{"actionType":"email","customerId":true,"recipientEmail":"a@example.com","subject":"s","messageContent":"m"}\n'
		printf '{"actionType":"email","customerId":"42","campaignId":7,"recipientEmail":"a@example.com","subject":"s","messageContent":"m"}\n'
		printf '{"actionType":"email","customerId":"43","campaignId":[7],"recipientEmail":"a@example.com","subject":"s","messageContent":"m"}\n'
	} > a.ndjson
	run --separate-stderr jrn-send --spool out a.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-send: a.ndjson:1: customerId: expected a string, got a number"
	assert_equal "${stderr_lines[1]}" "jrn-send: a.ndjson:2: customerId: expected a string, got an object"
	assert_equal "${stderr_lines[2]}" "jrn-send: a.ndjson:3: customerId: expected a string, got a boolean"
	assert_equal "${stderr_lines[3]}" "jrn-send: a.ndjson:5: campaignId: expected a string, got an array"
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "rejected rejected rejected simulated rejected "
	assert_equal "$(sqlite3 jrn.db "SELECT customer_id, campaign_id FROM deliveries")" "42|7"
}

@test "a 1 MB messageContent: email goes out whole, SMS is rejected, no crash" {
	big=$(head -c 1048576 /dev/zero | tr '\0' x)
	printf '{"actionType":"email","customerId":"c1","recipientEmail":"a@example.com","subject":"s","messageContent":"%s"}\n' "$big" > a.ndjson
	printf '{"actionType":"sms","customerId":"c2","recipientPhone":"+14155550100","messageContent":"%s"}\n' "$big" >> a.ndjson
	run --separate-stderr jrn-send -q --rejects rej.ndjson a.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.status <<< "$output" | tr '\n' ' ')" "simulated rejected "
	run mime spool/*.eml
	assert_line crlf=ok
	(( ${lines[1]#longest=} < 998 ))
	assert_line bodylen=1048576
	[[ "$(jq -r .error rej.ndjson)" == *"more than maxSegments 10"* ]]
}

@test "several files in order; a missing one is reported, exit 1; a last line without newline" {
	sms c1 x > a.ndjson
	sms c2 x | tr -d '\n' > b.ndjson
	run --separate-stderr jrn-send missing.ndjson a.ndjson b.ndjson
	assert_failure 1
	assert_equal "$(jq -r '"\(.customerId):\(.delivery.status)"' <<< "$output" | tr '\n' ' ')" "c1:simulated c2:simulated "
	assert_equal "${stderr_lines[0]}" "jrn-send: missing.ndjson: No such file or directory"
}

# ---- output ---------------------------------------------------------------------

@test "records come back in input order, byte for byte but for delivery" {
	{
		printf '{ "actionType" : "email", "customerId":"c1","recipientEmail":"a@example.com","subject":"s","messageContent":"m\\u00e9", "n": 1.50 }\n'
		printf '{"actionType":"fax"}\n'
		printf '{"actionType":"sms","customerId":"c2","recipientPhone":"+14155550100","messageContent":"x","z":[ 1 ,2 ]}\n'
		printf '{"actionType":"email","customerId":"c3","recipientEmail":"c@example.com","subject":"s","messageContent":"m","delivery":{"status":"old","x":1}, "big": 12345678901234567890}\n'
		printf '{}\n'
	} > a.ndjson
	run jrn-send -q a.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 5
	assert_equal "$(jq -c 'del(.delivery)' <<< "$output")" "$(jq -c 'del(.delivery)' a.ndjson)"
	assert_line --index 0 --regexp '^\{ "actionType" : "email", "customerId":"c1","recipientEmail":"a@example.com","subject":"s","messageContent":"m\\u00e9", "n": 1.50 ,"delivery":\{"status":"simulated",'
	assert_line --index 2 --regexp '^\{"actionType":"sms".*"z":\[ 1 ,2 \],"delivery":\{'
	assert_equal "$(sed -n 4p <<< "$output" | jq -c '.delivery | [.status, .x]')" '["simulated",null]'
	# an old delivery is replaced where it stands; the rest as read, big integers whole
	assert_line --index 3 --regexp '"messageContent":"m","delivery":\{"status":"simulated",.*\}, "big": 12345678901234567890\}$'
	assert_line --index 4 --regexp '^\{"delivery":\{"status":"rejected",'
}

@test "stderr: a line per rejected record and a summary; -v adds the spool note, state file, config, input; -q neither" {
	{ sms c1 x; sms c1 x; printf '{"actionType":"fax"}\n'; } > a.ndjson
	run --separate-stderr jrn-send -v a.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-send: no providers for email, sms, whatsapp, webhook, retargeting: simulated into the spool spool"
	assert_equal "${stderr_lines[1]}" "jrn-send: state file jrn.db"
	assert_equal "${stderr_lines[2]}" "jrn-send: config: none (no --config, JRN_CONFIG or ./jrn.yaml): the defaults"
	assert_equal "${stderr_lines[3]}" "jrn-send: input: a.ndjson"
	assert_equal "${stderr_lines[5]}" "jrn-send: 0 sent, 1 duplicate, 0 queued, 0 failed, 1 rejected, 1 simulated (sms 2)"
	run --separate-stderr jrn-send a.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-send: a.ndjson:3: actionType 'fax' is not email, sms, whatsapp, webhook or retargeting"
	assert_equal "${stderr_lines[1]}" "jrn-send: 0 sent, 2 duplicate, 0 queued, 0 failed, 1 rejected (sms 2)"
	assert_equal "${#stderr_lines[@]}" 2
	run --separate-stderr jrn-send -q a.ndjson
	assert_failure 3
	assert_equal "$stderr" ""
}

@test "events pass through byte for byte, counted passed; actions beside them sent as ever" {
	{
		printf '%s\n' '{"id":"e1", "type":"order.completed","customerId":"c1","properties":{"amount": 1.50}}'
		email c1
		printf '%s\n' '{"customerId":"c2","state":{"journeyStage":"purchase"}}'
		printf '%s\n' '{"type":"cart.updated","customerId":"c3","delivery":{"status":"x"}}'
	} > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected, 1 simulated, 3 passed (email 1)"
	assert_equal "${#lines[@]}" 4
	assert_line --index 0 '{"id":"e1", "type":"order.completed","customerId":"c1","properties":{"amount": 1.50}}'
	assert_equal "$(sed -n 2p <<< "$output" | jq -r .delivery.status)" simulated
	assert_line --index 2 '{"customerId":"c2","state":{"journeyStage":"purchase"}}'
	assert_line --index 3 '{"type":"cart.updated","customerId":"c3","delivery":{"status":"x"}}'
	# nothing of the events in the ledger, nothing in the spool
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM deliveries')" 1
	assert_equal "$(ls spool | wc -l)" 1
	# a dry run passes them too
	run --separate-stderr jrn-send --dry-run a.ndjson
	assert_success
	assert_line --index 0 '{"id":"e1", "type":"order.completed","customerId":"c1","properties":{"amount": 1.50}}'
	[[ "$stderr" == *", 3 passed"* ]]
}

@test "not events: a type that is no string, a state that is no object, a type beside actionType or channel" {
	{
		printf '%s\n' '{"type":7,"customerId":"c1"}'
		printf '%s\n' '{"state":"purchase","customerId":"c1"}'
		printf '%s\n' '{"type":"x","actionType":"fax","customerId":"c1"}'
		printf '%s\n' '{"type":"x","channel":"email","customerId":"c1"}'
		printf '%s\n' '{"type":"x","actionType":null,"customerId":"c1"}'
	} > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]}" "jrn-send: a.ndjson:1: no actionType (email, sms, whatsapp, webhook or retargeting)"
	assert_equal "${stderr_lines[1]}" "jrn-send: a.ndjson:2: no actionType (email, sms, whatsapp, webhook or retargeting)"
	assert_equal "${stderr_lines[2]}" "jrn-send: a.ndjson:3: actionType 'fax' is not email, sms, whatsapp, webhook or retargeting"
	assert_equal "${stderr_lines[3]}" "jrn-send: a.ndjson:4: no actionType (email, sms, whatsapp, webhook or retargeting)"
	assert_equal "${stderr_lines[4]}" "jrn-send: a.ndjson:5: no actionType (email, sms, whatsapp, webhook or retargeting)"
	assert_equal "${stderr_lines[5]}" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 5 rejected"
}

@test "a closed stdout ends the run quietly with exit 0" {
	for i in $(seq 1000); do email "c$i"; done > a.ndjson
	run bash -c 'jrn-send a.ndjson 2> err | head -1; echo "${PIPESTATUS[0]}"'
	assert_line --index 1 0
	assert_equal "$(cat err)" ""
	assert_line --index 0 --partial '"customerId":"c1",'
}

@test "SIGTERM while waiting for input: what was read goes out, the run ends at once" {
	mkfifo in
	jrn-send in > out.ndjson 2> err 3>&- &
	pid=$!
	exec 4> in
	email c1 >&4
	# the idle notice sends it
	for i in $(seq 50); do [ -s out.ndjson ] && break; sleep 0.1; done
	assert_equal "$(jq -r .delivery.status out.ndjson)" simulated
	kill -TERM "$pid"
	for i in $(seq 20); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2> /dev/null && alive=1 || alive=0
	exec 4>&-
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$alive" 0
	assert_equal "$rc" 143
	[[ "$(cat err)" == *"interrupted"* ]]
}

# ---- the state file, usage, configuration ------------------------------------

@test "a locked state file: exit 1 with a clear message" {
	email c1 > a.ndjson
	jrn-send -q a.ndjson > /dev/null
	printf 'db:\n  busyTimeout: 200ms\n' > jrn.yaml
	sqlite3 jrn.db -cmd 'BEGIN EXCLUSIVE' -cmd 'SELECT 1' -cmd '.shell sleep 2' -cmd 'COMMIT' < /dev/null > /dev/null 3>&- &
	# until the lock is held
	for i in $(seq 40); do sqlite3 jrn.db 'BEGIN IMMEDIATE; ROLLBACK' 2> /dev/null || break; sleep 0.05; done
	email c2 > b.ndjson
	run --separate-stderr jrn-send -q b.ndjson
	wait
	assert_failure 1
	# the record still comes out: failed, nothing sent, nothing claimed
	assert_equal "$(jq -c '[.customerId, .delivery.status, .delivery.attempts]' <<< "$output")" '["c2","failed",0]'
	[[ "$(jq -r .delivery.error <<< "$output")" == "not sent: jrn.db: "*locked* ]]
	[ ! -e "spool/$(spoolname "$(jq -r .delivery.key <<< "$output")").eml" ]
	[[ "$stderr" =~ ^jrn-send:\ jrn\.db:\ .*locked ]]
	[[ "$stderr" != *"jrn.db: jrn.db"* ]]
	assert_equal "${#stderr_lines[@]}" 1
}

@test "a corrupt state file: exit 1 with a message naming the file" {
	email c1 > a.ndjson
	{ echo garbage; head -c 5000 /dev/zero; } > jrn.db
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_output ""
	[[ "$stderr" == "jrn-send: jrn.db: not a usable state file"* ]]
}

@test "usage: --help, unknown options, flags that do not go together" {
	run --separate-stderr jrn-send --help
	assert_success
	assert_line --index 0 'usage: jrn-send [OPTIONS] [FILE...]'
	assert_equal "$stderr" ""
	run --separate-stderr jrn-send --bogus
	assert_failure 2
	[[ "$stderr" == *"Try 'jrn-send --help'."* ]]
	run --separate-stderr jrn-send --resend
	assert_failure 2
	assert_equal "$stderr" "jrn-send: --resend goes with --stuck"
	run --separate-stderr jrn-send --due a.ndjson
	assert_failure 2
	assert_equal "$stderr" "jrn-send: --due and --stuck take no FILEs"
	run --separate-stderr jrn-send --parallel 0 < /dev/null
	assert_failure 2
	assert_equal "$stderr" "jrn-send: --parallel: '0' is not a number from 1 to 4096"
	run --separate-stderr jrn-send --batch-size x < /dev/null
	assert_failure 2
	run jrn-send --due --stuck
	assert_failure 2
	[ ! -e jrn.db ]
}

@test "configuration errors: unknown keys with file:line:col, a provider missing what it needs" {
	printf 'providers:\n  sms:\n    - type: spool\n      bogus: 1\n' > jrn.yaml
	run --separate-stderr jrn-send < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-send: jrn.yaml:4:7: unknown key 'bogus' in providers.sms[0]"
	printf 'providers:\n  sms:\n    - type: twilio\n      from: "+15005550006"\n' > jrn.yaml
	run --separate-stderr jrn-send < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-send: jrn.yaml:3:7: providers.sms[0]: twilio needs accountSid and authToken"
	printf 'providers:\n  email:\n    - type: smpt\n' > jrn.yaml
	run --separate-stderr jrn-send < /dev/null
	assert_failure 1
	[[ "$stderr" == *"jrn.yaml:3:"*"smtp, twilio, webhook, retargeting or spool"* ]]
	printf 'send:\n  unsubscribe:\n    url: https://x.example/u\n' > jrn.yaml
	run --separate-stderr jrn-send < /dev/null
	assert_failure 1
	[[ "$stderr" == *"send.unsubscribe.url needs send.unsubscribe.secret"* ]]
	printf 'send:\n  retry:\n    maxWait: soon\n' > jrn.yaml
	run --separate-stderr jrn-send < /dev/null
	assert_failure 1
	[[ "$stderr" == "jrn-send: jrn.yaml:3:"* ]]
}

@test "valgrind: no invalid access and no leak in a spool run" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (make asan checks this)"
	conf
	mkdir templates
	printf 'Hi {{name|there}}\n' > templates/w.subject
	printf 'Text {{name|there}} {{> f}}\n' > templates/w.txt
	printf '<p>{{name|there}}</p>\n' > templates/w.html
	printf 'foot' > templates/f.mustache
	{
		email c1 '"template":"w","locale":"de-AT"'
		email c1
		sms c2 'hi 😀'
		printf '{"actionType":"retargeting","customerId":"c3","campaignId":"k","email":"a@b.co"}\n'
		printf '{"actionType":"webhook","customerId":"c4"}\n'
		printf 'bad\n'
		email c5 '"route":{"sendAt":"2026-02-01T00:00:00Z"}'
		email c6 '"route":{"decision":"defer"}'
	} > a.ndjson
	vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }
	run vg "$JRN_BIN/jrn-send" -q --rejects rej.ndjson a.ndjson
	assert_failure 3
	run vg "$JRN_BIN/jrn-send" -q --due --now 2026-03-01T00:00:00Z
	assert_success
	assert_output --partial '"status":"simulated"'
}
