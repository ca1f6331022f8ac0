#!/usr/bin/env bats
# Bug 2 (session 9, "fixes"): the gate's fallback from SMS to e-mail must
# give jrn-send a sendable e-mail. jrn-ai's rules playbook gives the
# purchase stage an SMS (cart-10off) with no subject; for a customer with
# no phone the gate falls back to e-mail (policy.fallback), and jrn-send
# takes the subject from the SMS text (jrn-send(1), FALLBACK SUBJECT).

load helpers
load peers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	peers_stop
}

# spoolname KEY: the spool's file name of a key (jrn-send(1), spool)
spoolname() {
	printf '%s' "$1" | sha256sum | cut -c1-32
}

@test "jrn-ai optimize | jrn-route | jrn-send: a customer without a phone gets the SMS as one e-mail (smtp-sink)" {
	peer_skip_unless_installed sink
	peer_sink_start
	printf 'providers:\n  email:\n    - {type: smtp, name: sink, url: "%s", tls: none}\n' "$SINK_URL" > jrn.yaml
	printf 'send:\n  from: "Shop <news@shop.test>"\n' >> jrn.yaml
	# SMS is a channel of the shop (no provider here: spooled if one came)
	printf 'ai:\n  allow:\n    channels: [email, sms]\n' >> jrn.yaml
	# the purchase stage: the cart-5off e-mail and the cart-10off SMS;
	# no phone, so the SMS falls back to e-mail
	printf '{"customerId":"c1","email":"ann@example.com","state":{"journeyStage":"purchase","segment":"new"}}\n' > in.ndjson
	run --separate-stderr bash -c 'set -o pipefail; jrn-ai optimize --config jrn.yaml in.ndjson | jrn-route --config jrn.yaml | jrn-send --config jrn.yaml'
	assert_success
	# the playbook's timing (1h, 24h) is their sendAt: queued until then
	run jq -c 'select(.actionType) | [.campaignId, .actionType, .route.decision, .route.from, .delivery.status]' <<< "$output"
	assert_output '["cart-5off","email","send",null,"queued"]
["cart-10off","email","send","sms","queued"]'
	assert_equal "$(peer_sink_count)" "" # (no message counted yet)
	run --separate-stderr jrn-send --config jrn.yaml --due --now 2026-01-02T00:00:00Z
	assert_success
	assert_equal "$(jq -r .delivery.status <<< "$output" | sort -u)" sent
	assert_equal "$(peer_sink_count)" 2
	# the fallback's message: the SMS text as its subject and its body
	f=$(grep -l '10% off your cart' "$SINK_DIR"/* | head -1)
	[ -n "$f" ]
	run grep -i '^Subject:' "$f"
	assert_output 'Subject: 10% off your cart today.'
	run rows "SELECT campaign_id, channel, status FROM deliveries ORDER BY campaign_id"
	assert_output "cart-10off|email|sent
cart-5off|email|sent"
}

@test "jrn-send: the fallback subject is the text's first line, cut at a word before 78 characters; the action's own subject wins" {
	long=$(printf 'word%.0s ' $(seq 30))
	{
		printf '{"actionType":"email","customerId":"c1","campaignId":"A","recipientEmail":"a@example.com","messageContent":"%s\\nsecond line","route":{"decision":"send","channel":"email","from":"sms"}}\n' "$long"
		printf '{"actionType":"email","customerId":"c2","campaignId":"A","recipientEmail":"b@example.com","messageContent":"Short\\nnext","route":{"decision":"send","channel":"email","from":"whatsapp"}}\n'
		printf '{"actionType":"email","customerId":"c3","campaignId":"A","recipientEmail":"c@example.com","subject":"Given","messageContent":"Text","route":{"decision":"send","channel":"email","from":"sms"}}\n'
		# not a fallback: an e-mail with no subject is still rejected
		printf '{"actionType":"email","customerId":"c4","campaignId":"A","recipientEmail":"d@example.com","messageContent":"Text"}\n'
		# a fallback with no text: nothing to take a subject from
		printf '{"actionType":"email","customerId":"c5","campaignId":"A","recipientEmail":"e@example.com","messageContent":"  ","route":{"decision":"send","channel":"email","from":"sms"}}\n'
	} > in.ndjson
	run --separate-stderr jrn-send in.ndjson
	assert_failure 3
	out=$output
	run jq -r '.delivery.status' <<< "$out"
	assert_output 'simulated
simulated
simulated
rejected
rejected'
	# the Subject header, unfolded and decoded (Python's email package)
	subj() {
		/usr/bin/python3 -c 'import email, email.policy, sys
print("Subject: " + email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)["Subject"])' \
			"spool/$(spoolname "$(sed -n "$1p" <<< "$2" | jq -r .delivery.key)").eml"
	}
	# 15 words of 5 bytes are 75; the 16th would pass 78: 15 words and "..."
	assert_equal "$(subj 1 "$out")" "Subject: $(printf 'word%.0s ' $(seq 15) | sed 's/ $//')..."
	assert_equal "$(subj 2 "$out")" "Subject: Short"
	assert_equal "$(subj 3 "$out")" "Subject: Given"
	assert_equal "$(sed -n 4p <<< "$out" | jq -r .delivery.error)" "no subject: the action has none and no template gives one"
	assert_equal "$(sed -n 5p <<< "$out" | jq -r .delivery.error)" "no subject: the action has none and no template gives one"
}
