#!/usr/bin/env bats
# jrn-send's side of the pipeline contract (issue 9): faults 8a-8c and 9 as
# a user hits them — one-click only over https, no real mail without a
# sender, "exactly once" across nights, and a voice cron can live with.

load helpers

FIX=$BATS_TEST_DIRNAME/fixtures/send

# email CUSTOMER [EXTRA-JSON-MEMBERS]: one marketing email action line
email() {
	printf '{"actionType":"email","customerId":"%s","campaignId":"winback","template":"winback","recipientEmail":"%s@example.com"%s}\n' "$1" "$1" "${2:+,$2}"
}

# winback: the template the demo's win-back mail uses, shortened
winback() {
	mkdir -p templates
	printf 'We miss you\n' > templates/winback.subject
	printf 'Hello,\n15%% off: COMEBACK15.\n' > templates/winback.txt
}

# conf [SEND-YAML-LINES]: jrn.yaml with send.from and the lines given
conf() {
	{
		printf 'send:\n  from: "Shop <news@shop.example>"\n'
		[ -z "${1-}" ] || printf '%s\n' "$1"
	} > jrn.yaml
}

# statuses: the delivery statuses of $output, space-separated
statuses() {
	jq -r .delivery.status <<< "$output" | tr '\n' ' '
}

# ---- 8a: one-click needs https (RFC 8058) -------------------------------------

@test "8a: an http unsubscribe URL: List-Unsubscribe with the link, no List-Unsubscribe-Post, warned once" {
	winback
	conf '  unsubscribe: {url: "http://shop.example/u", secret: s3cret}'
	{ email c1; email c2; } > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(statuses)" "simulated simulated "
	for f in spool/*.eml; do
		run /usr/bin/python3 "$FIX/mime.py" "$f"
		assert_line --regexp '^list-unsubscribe=<http://shop\.example/u\?c=c[12]&k=winback&t=[0-9a-f]{64}>$'
		refute_line --partial list-unsubscribe-post
		run grep -ci '^List-Unsubscribe-Post' "$f"
		assert_output 0
	done
	run --separate-stderr jrn-send --now 2026-01-01T00:00:01Z a.ndjson
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" "jrn-send: warning: send.unsubscribe.url 'http://shop.example/u' is not https: marketing mail goes out without List-Unsubscribe-Post (RFC 8058 one-click needs https)"
	assert_equal "${stderr_lines[1]}" "jrn-send: 0 sent, 2 duplicate, 0 queued, 0 failed, 0 rejected (email 2)"
	# -q: silent on success
	email c3 > b.ndjson
	run --separate-stderr jrn-send -q b.ndjson
	assert_success
	assert_equal "$stderr" ""
}

@test "8a: an https unsubscribe URL (any case of the scheme) keeps one-click; transactional mail warns of nothing" {
	winback
	conf '  unsubscribe: {url: "HTTPS://shop.example/u", secret: s3cret}'
	email c1 > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected, 1 simulated (email 1)"
	run /usr/bin/python3 "$FIX/mime.py" spool/*.eml
	assert_line 'list-unsubscribe-post=List-Unsubscribe=One-Click'
	rm -r spool
	conf '  unsubscribe: {url: "http://shop.example/u", secret: s3cret}'
	email c2 '"category":"transactional"' > b.ndjson
	run --separate-stderr jrn-send b.ndjson
	assert_success
	[[ "$stderr" != *warning* ]]
}

# ---- 8b: real mail needs a sender ------------------------------------------------

@test "8b: an SMTP provider and no send.from: a configuration error before anything is sent, exit 1" {
	winback
	printf 'providers:\n  email:\n    - {type: smtp, name: mta, url: "smtp://127.0.0.1:9", tls: none}\n' > jrn.yaml
	email c1 > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn-send: jrn.yaml:3:7: providers.email[0]: smtp 'mta' sends real mail but there is no sender address: set send.from (or from: on the provider)"
	[ ! -e spool ]
	# nothing claimed: the state file holds no delivery
	run sqlite3 jrn.db 'SELECT count(*) FROM deliveries'
	[ "$status" -ne 0 ] || assert_output 0
	# also under --dry-run and -q, and for a fallback behind a provider with a from
	run --separate-stderr jrn-send -q --dry-run a.ndjson
	assert_failure 1
	[[ "$stderr" == *"providers.email[0]: smtp 'mta'"*"send.from"* ]]
	printf 'providers:\n  email:\n    - {type: smtp, url: "smtp://127.0.0.1:9", from: a@shop.example}\n    - {type: smtp, name: backup, url: "smtp://127.0.0.1:9"}\n' > jrn.yaml
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-send: jrn.yaml:4:7: providers.email[1]: smtp 'backup' sends real mail but there is no sender address: set send.from (or from: on the provider)"
}

@test "8b: a sender from send.from or the provider's from is enough; the spool alone needs none" {
	winback
	email c1 > a.ndjson
	printf 'providers:\n  email: {type: smtp, url: "smtp://127.0.0.1:9", from: "Shop <news@shop.example>"}\n' > jrn.yaml
	run --separate-stderr jrn-send --dry-run a.ndjson
	assert_success
	assert_equal "$(statuses)" "dry-run "
	conf 'providers: {email: {type: smtp, url: "smtp://127.0.0.1:9"}}'
	run --separate-stderr jrn-send --dry-run a.ndjson
	assert_success
	# no configuration, or --spool: simulated, jrn@localhost is fine there
	rm jrn.yaml
	run --separate-stderr jrn-send a.ndjson
	assert_success
	[[ "$(jq -r .delivery.messageId <<< "$output")" == *@localhost\> ]]
	printf 'providers:\n  email: {type: smtp, url: "smtp://127.0.0.1:9"}\n' > jrn.yaml
	email c2 > b.ndjson
	run --separate-stderr jrn-send --spool out b.ndjson
	assert_success
	assert_equal "$(statuses)" "simulated "
}

# ---- 8c: exactly once across nights ------------------------------------------

# night DATE: the nightly win-back for c1 and c2 at DATE 02:00 UTC
night() {
	{ email c1; email c2; } | jrn-send --now "$1T02:00:00Z"
}

@test "8c: send.idempotency.window 30d: two nights' runs send once" {
	winback
	conf '  idempotency: {window: 30d}'
	run --separate-stderr night 2026-01-01
	assert_success
	assert_equal "$(statuses)" "simulated simulated "
	run --separate-stderr night 2026-01-02
	assert_success
	assert_equal "$(statuses)" "duplicate duplicate "
	assert_equal "$stderr" "jrn-send: 0 sent, 2 duplicate, 0 queued, 0 failed, 0 rejected (email 2)"
	assert_equal "$(ls spool | wc -l)" 2
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM deliveries')" 2
	# the next window (from 2026-01-07, windows counted from 1970-01-01) sends again
	run --separate-stderr night 2026-01-07
	assert_equal "$(statuses)" "simulated simulated "
}

@test "8c: without a window (1d, the default) the next night sends again, as before; keys as before" {
	winback
	conf
	run night 2026-01-01
	assert_equal "$(statuses)" "simulated simulated "
	key=$(jq -r .delivery.key <<< "${lines[0]}")
	want=$(printf 'c1\037winback\037email\037winback\0372026-01-01' | sha256sum | cut -d' ' -f1)
	assert_equal "$key" "$want"
	run night 2026-01-02
	assert_equal "$(statuses)" "simulated simulated "
	conf '  idempotency: {window: 1d}'
	run night 2026-01-02
	assert_equal "$(statuses)" "duplicate duplicate "
}

@test "8c: window campaign: once per customer, campaign, channel and template for ever" {
	winback
	conf '  idempotency: {window: campaign}'
	run night 2026-01-01
	assert_equal "$(statuses)" "simulated simulated "
	want=$(printf 'c1\037winback\037email\037winback\037campaign' | sha256sum | cut -d' ' -f1)
	assert_equal "$(jq -r .delivery.key <<< "${lines[0]}")" "$want"
	run night 2027-06-01
	assert_equal "$(statuses)" "duplicate duplicate "
	# another campaign, channel or template is another key
	email c1 '"campaignId":"spring"' | jq -c '.campaignId = "spring"' > b.ndjson
	run jrn-send --now 2027-06-01 b.ndjson
	assert_equal "$(statuses)" "simulated "
	# an idempotencyKey of the action's own still wins
	email c1 '"idempotencyKey":"order-7"' > c.ndjson
	run jrn-send --now 2027-06-01 c.ndjson
	assert_equal "$(jq -r '"\(.delivery.status) \(.delivery.key)"' <<< "$output")" "simulated order-7"
}

@test "8c: a bad window is a configuration error naming the key, exit 1, nothing sent" {
	winback
	email c1 > a.ndjson
	for w in 3x 0s '""' forever -1d; do
		conf "  idempotency: {window: $w}"
		run --separate-stderr jrn-send a.ndjson
		assert_failure 1
		assert_equal "$output" ""
		[[ "$stderr" == "jrn-send: jrn.yaml:3:"*": send.idempotency.window: expected a duration such as 30d, or campaign, got '"* ]]
	done
	conf '  idempotency: {window: 30}'
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	[[ "$stderr" == *"send.idempotency.window: expected a string"* ]]
	conf '  idempotency: {windw: 30d}'
	run --separate-stderr jrn-send a.ndjson
	assert_failure 1
	[[ "$stderr" == *"windw"* ]]
	[ ! -e spool ]
}

# ---- 9: the voice --------------------------------------------------------------

@test "9: no unsubscribe configured: cron's */5 jrn-send --due prints the summary only, and -q nothing" {
	winback
	conf
	email c1 '"route":{"sendAt":"2026-01-01T00:03:00Z"}' > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 1 queued, 0 failed, 0 rejected (email 1)"
	for t in 00:05 00:10; do
		run --separate-stderr jrn-send --due --now "2026-01-01T${t}:00Z"
		assert_success
		assert_equal "${#stderr_lines[@]}" 1
		[[ "$stderr" != *note* ]]
	done
	email c2 > b.ndjson
	run --separate-stderr jrn-send -q b.ndjson
	assert_success
	assert_equal "$stderr" ""
	run --separate-stderr jrn-send -q --due --now 2026-01-01T00:15:00Z
	assert_success
	assert_equal "$stderr" ""
	# the note is there for whoever asks
	email c3 > c.ndjson
	run --separate-stderr jrn-send -v c.ndjson
	[[ "$stderr" == *"note: no send.unsubscribe in the configuration"* ]]
}

@test "9: -v names the state file, the config and the input in use" {
	winback
	conf
	mkdir -p sub
	email c1 > a.ndjson
	run --separate-stderr jrn-send -v --db sub/x.db --spool out a.ndjson - < /dev/null
	assert_success
	assert_equal "${stderr_lines[0]}" "jrn-send: state file sub/x.db"
	assert_equal "${stderr_lines[1]}" "jrn-send: config jrn.yaml"
	assert_equal "${stderr_lines[2]}" "jrn-send: input: a.ndjson, standard input"
	# without providers, -v says so first (--due takes from a state file
	# there is: a missing one is refused)
	jrn-ingest -q < /dev/null
	run --separate-stderr jrn-send -v --due
	assert_equal "${stderr_lines[0]}" "jrn-send: no providers for email, sms, whatsapp, webhook, retargeting: simulated into the spool spool"
	assert_equal "${stderr_lines[3]}" "jrn-send: input: the outbox of jrn.db (--due)"
	run --separate-stderr jrn-send -v --stuck
	assert_equal "${stderr_lines[3]}" "jrn-send: input: the unrecorded claims of jrn.db (--stuck)"
	# without -v none of it
	run --separate-stderr jrn-send --due
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected"
}

@test "9: --dry-run says so in the summary line" {
	winback
	conf
	email c1 > a.ndjson
	run --separate-stderr jrn-send --dry-run a.ndjson
	assert_success
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected, 1 dry-run (email 1) (dry run, nothing saved)"
}

@test "9: a failed send is said even under -q (exit 1); retries only under --trace" {
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	conf "  retry: {backoff: [10ms, 10ms], jitter: 0, maxWait: 5s}
providers:
  webhook: {type: webhook, name: hook, url: \"http://127.0.0.1:$port/h\", secret: s, timeout: 2s}"
	printf '{"actionType":"webhook","customerId":"c1","idempotencyKey":"w1"}\n' > a.ndjson
	run --separate-stderr jrn-send -q a.ndjson
	assert_failure 1
	assert_equal "$(statuses)" "failed "
	assert_equal "${#stderr_lines[@]}" 1
	[[ "${stderr_lines[0]}" == "jrn-send: a.ndjson:1: webhook to "*" failed: hook: "* ]]
	printf '{"actionType":"webhook","customerId":"c1","idempotencyKey":"w2"}\n' > b.ndjson
	run --separate-stderr jrn-send -v b.ndjson
	[[ "$stderr" != *retrying* ]]
	printf '{"actionType":"webhook","customerId":"c1","idempotencyKey":"w3"}\n' > c.ndjson
	run --separate-stderr jrn-send --trace c.ndjson
	assert_failure 1
	[[ "${stderr_lines[0]}" == "jrn-send: c.ndjson:1: hook: "*"; retrying in 10 ms" ]]
	[[ "${stderr_lines[1]}" == *"; retrying in 10 ms" ]]
}

@test "9: a bad flag value is exit 2 (usage)" {
	run --separate-stderr jrn-send --parallel 0 < /dev/null
	assert_failure 2
	[[ "$stderr" == "jrn-send: --parallel: "* ]]
	run --separate-stderr jrn-send --batch-size x < /dev/null
	assert_failure 2
	run --separate-stderr jrn-send --due --stuck
	assert_failure 2
	run --separate-stderr jrn-send --now yesterday < /dev/null
	# lib/opts.c returns -2 for a bad flag value (issue 9); until then 1
	[ "$status" -eq 2 ]
	assert_failure 2
	[[ "$stderr" == "jrn-send: --now/JRN_NOW 'yesterday': "* ]]
}

@test "9: an empty input is the input: nothing sent, exit 0, the summary (none under -q)" {
	run --separate-stderr jrn-send < /dev/null
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "jrn-send: 0 sent, 0 duplicate, 0 queued, 0 failed, 0 rejected"
	run --separate-stderr jrn-send -q < /dev/null
	assert_success
	assert_equal "$stderr" ""
}

@test "9: --trace is in the usage, the man page and both completions" {
	run jrn-send --help
	assert_line --partial '  --trace '
	grep -q '^\.B \\-\\-trace$' "$BATS_TEST_DIRNAME/../man/jrn-send.1"
	run bash -c '. "$1"/jrn.bash; . "$1"/jrn-send.bash
		COMP_WORDS=(jrn-send --tr); COMP_CWORD=1; _jrn_send; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BATS_TEST_DIRNAME/../completions"
	assert_output --trace
	grep -q "'--trace\[" "$BATS_TEST_DIRNAME/../completions/_jrn"
}
