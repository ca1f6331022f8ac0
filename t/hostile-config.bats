#!/usr/bin/env bats
# Issue 10, defect 4: a configuration value that came from ${NAME} (a
# secret, often) is never printed. Every message that shows a value shows
# the text as written (${NAME}); nothing on stdout, stderr or --rejects, nor
# in an output record, holds the value. Each case runs every tool.

load helpers

SECRET=Pw-S3CRET-4242
export SMTP_PASSWORD=$SECRET

# nowhere FILE...: the secret is in none of $output, $stderr and the files
nowhere() {
	if [[ $output == *"$SECRET"* || ${stderr:-} == *"$SECRET"* ]]; then
		echo "secret printed: stdout: $output stderr: ${stderr:-}"
		return 1
	fi
	local f
	for f in "$@"; do
		if [ -e "$f" ] && grep -qF "$SECRET" "$f"; then
			echo "secret in $f: $(cat "$f")"
			return 1
		fi
	done
}

# every_tool MESSAGE: each tool that loads jrn.yaml fails with MESSAGE
# (after "TOOL: ") and prints the secret nowhere
every_tool() {
	local t
	for t in jrn-ingest jrn-segment "jrn-score rfm" jrn-send; do
		run --separate-stderr $t --rejects rej.ndjson < /dev/null
		assert_equal "$status" 1
		assert_equal "$stderr" "${t%% *}: $1"
		nowhere rej.ndjson
	done
	run --separate-stderr jrn doctor
	assert_output --partial "$1"
	nowhere
	run --separate-stderr jrn run nightly
	assert_equal "$status" 1
	assert_equal "$stderr" "jrn: $1"
	nowhere
}

@test "a secret in tls: every tool shows \${SMTP_PASSWORD}, never the value (the issue's case)" {
	printf 'providers:\n  email:\n    - type: smtp\n      url: smtp://mail.example\n      tls: "${SMTP_PASSWORD}"\n' > jrn.yaml
	every_tool 'jrn.yaml:5:12: providers.email[0].tls: expected required, try or none, got '\''${SMTP_PASSWORD}'\'
}

@test "a secret in a duration, a provider type, ingest.defaultCountry: shown as written" {
	printf 'db:\n  busyTimeout: "${SMTP_PASSWORD}"\n' > jrn.yaml
	every_tool 'jrn.yaml:2:16: db.busyTimeout: expected a duration (like 5s or 1h30m) or an integer of milliseconds, got '\''${SMTP_PASSWORD}'\'' (units: ms s m h d w)'
	printf 'providers:\n  sms:\n    type: "twilio-${SMTP_PASSWORD}"\n' > jrn.yaml
	every_tool 'jrn.yaml:3:11: providers.sms[0].type: expected smtp, twilio, webhook, retargeting or spool, got '\''twilio-${SMTP_PASSWORD}'\'
	printf 'ingest:\n  defaultCountry: ${SMTP_PASSWORD}\n' > jrn.yaml
	every_tool 'jrn.yaml:2:19: ingest.defaultCountry: expected a two-letter ISO 3166 country code such as US, got '\''${SMTP_PASSWORD}'\'
	printf 'send:\n  idempotency:\n    window: "${SMTP_PASSWORD}"\n' > jrn.yaml
	every_tool 'jrn.yaml:3:13: send.idempotency.window: expected a duration such as 30d, or campaign, got '\''${SMTP_PASSWORD}'\'
}

@test "a secret reached through an alias, or in a mapping that is a list of one: shown as written" {
	printf 'send:\n  spool: &s "${SMTP_PASSWORD}"\nproviders:\n  email:\n    type: smtp\n    tls: *s\n' > jrn.yaml
	every_tool 'jrn.yaml:6:10: providers.email[0].tls: expected required, try or none, got '\''${SMTP_PASSWORD}'\'
}

@test "a secret in send.from by mistake: the reject, the record and stderr show \${SMTP_PASSWORD}" {
	printf 'send:\n  from: "${SMTP_PASSWORD}"\n' > jrn.yaml
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"k1","recipientEmail":"a@example.com","subject":"Hi","messageContent":"Hello"}' > a.ndjson
	run --separate-stderr jrn-send --rejects rej.ndjson a.ndjson
	assert_equal "$status" 3
	assert_equal "$(jq -r .delivery.error <<< "$output")" "from '\${SMTP_PASSWORD}': not a valid mailbox"
	assert_equal "$(jq -r .error rej.ndjson)" "from '\${SMTP_PASSWORD}': not a valid mailbox"
	assert_equal "${stderr%%$'\n'*}" "jrn-send: a.ndjson:1: from '\${SMTP_PASSWORD}': not a valid mailbox"
	nowhere rej.ndjson
	# and the provider's own from:, and a Message-ID never takes a domain from it
	printf 'providers:\n  email:\n    type: spool\n    from: "x@${SMTP_PASSWORD} <"\n' > jrn.yaml
	run --separate-stderr jrn-send --rejects rej.ndjson a.ndjson
	assert_equal "$status" 3
	assert_equal "$(jq -r .delivery.error <<< "$output")" "from 'x@\${SMTP_PASSWORD} <': not a valid mailbox"
	nowhere rej.ndjson
}

@test "a provider named by \${NAME}: records and the ledger carry the name as written" {
	printf 'providers:\n  email:\n    type: spool\n    name: "${SMTP_PASSWORD}"\n' > jrn.yaml
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"k1","recipientEmail":"a@example.com","subject":"Hi","messageContent":"Hello"}' > a.ndjson
	run --separate-stderr jrn-send -v a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.provider <<< "$output")" '${SMTP_PASSWORD}'
	nowhere
	run sqlite3 jrn.db .dump
	nowhere
}

@test "a value from \${NAME} that is fine is used as expanded" {
	export MAIL_FROM='Shop <news@shop.example>'
	printf 'send:\n  from: "${MAIL_FROM}"\n' > jrn.yaml
	printf '%s\n' '{"actionType":"email","customerId":"c1","campaignId":"k1","recipientEmail":"a@example.com","subject":"Hi","messageContent":"Hello"}' > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.messageId <<< "$output" | sed 's/.*@//')" 'shop.example>'
	grep -q '^From: Shop <news@shop.example>' spool/*.eml
}
