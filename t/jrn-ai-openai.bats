#!/usr/bin/env bats
# jrn-ai's openai model against a real server: every request goes through
# `prism proxy --errors` with OpenAI's Chat Completions spec (sliced,
# t/peers/openai-chat-completions.json), so each request is checked against
# OpenAI's own schema (a request that breaks it gets 422 and never reaches
# the recorder), in front of t/peers/recorder.js answering from
# t/fixtures/openai/: valid answers, an answer that breaks the customer
# state schema, text that is not JSON, a refusal, 429 with Retry-After,
# 500, a reply slower than the time-out.

load helpers
load peers

FIX=$BATS_TEST_DIRNAME/fixtures/openai
KEY=sk-test-4f9Qx7Lm2Zp8Rt6Vb3Nc0WyHj

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export OPENAI_API_KEY=$KEY
	peer_skip_unless_installed prism
}

teardown() {
	peers_stop
}

# conf [KEY: VALUE]...: jrn.yaml with model gpt at $OPENAI_URL; each
# argument adds a member of the model or replaces the default one
conf() {
	local -A m=([kind]=openai [baseUrl]="\"$OPENAI_URL\"" [model]=gpt-4o-mini
		[apiKey]='"${OPENAI_API_KEY}"' [temperature]=0 [timeout]=5s [retries]=2
		[price]='{input: 0.15, output: 0.60}')
	local a k members= sep=
	for a in "$@"; do m[${a%%:*}]=${a#*: }; done
	for k in "${!m[@]}"; do members+="$sep$k: ${m[$k]}"; sep=', '; done
	printf 'ai:\n  model: gpt\n  models:\n    gpt: {%s}\n' "$members" >jrn.yaml
}

# script REPLY...: script.json for the recorder; REPLY is FIXTURE (200 with
# t/fixtures/openai/FIXTURE.json) or STATUS:FIXTURE or a JSON object
script() {
	local r sep= out='['
	for r in "$@"; do
		case $r in
		\{*) out+="$sep$r" ;;
		*:*) out+="$sep{\"status\":${r%%:*},\"bodyFile\":\"$FIX/${r#*:}.json\"}" ;;
		*) out+="$sep{\"status\":200,\"bodyFile\":\"$FIX/$r.json\"}" ;;
		esac
		sep=,
	done
	echo "$out]" >script.json
}

# start REPLY...: the recorder with that script behind prism, and jrn.yaml
start() {
	script "$@"
	peer_prism_openai_start --script script.json
	conf ${CONF:+"$CONF"}
}

# profile N: a profile line for customer cN with contact data
profile() {
	printf '{"customerId":"c%s","email":"c%s@example.test","phone":"+41445550%03d","city":"Bern"}\n' "$1" "$1" "$1"
}

# body N: request N's body as the recorder saw it
body() {
	jq -r .body "$REC_DIR/$1.json"
}

# no_violation: prism's log has no request violation, and no response
# violation but those named by the arguments
no_violation() {
	local v
	v=$(grep 'Violation' "$PRISM_LOG" || true)
	for a in "$@"; do v=$(grep -v -- "$a" <<<"$v" || true); done
	[ -z "$v" ] || { echo "prism: $v"; return 1; }
}

st() { jq -r ".state.$1" <<<"${lines[${2:-0}]}"; }

@test "the peer: prism refuses a request that breaks OpenAI's spec, so a pass means something" {
	start state-valid
	run curl -sS -o out.json -w '%{http_code}' -X POST "$OPENAI_URL/chat/completions" \
		-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
		-d '{"model":"gpt-4o-mini","messages":[{"role":"system"}],"temperature":"0"}'
	assert_output 422
	assert_equal "$(peer_recorder_count)" 0 # it never reached the recorder
	run jq -r '.validation[].location | join(".")' out.json
	assert_line body.temperature
	run curl -sS -o /dev/null -w '%{http_code}' -X POST "$OPENAI_URL/chat/completions" \
		-H 'Content-Type: application/json' -d '{"model":"m","messages":[{"role":"user","content":"x"}]}'
	assert_output 401 # no key: the spec's bearer security
	assert_equal "$(peer_recorder_count)" 0
}

@test "state: a valid answer, the request fits OpenAI's spec (Structured Outputs, strict, bearer key)" {
	start state-valid
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_equal "$(st source)" model
	assert_equal "$(st model)" gpt
	assert_equal "$(st journeyStage)" purchase
	assert_equal "$(st churnRiskScore)" 0.12
	assert_equal "$(st tokens)" 499
	assert_equal "$(st cached)" false
	# cost by the price per 1M tokens: 412 * 0.15 + 87 * 0.60
	assert_equal "$(jq -r '.state.cost * 1e9 | round' <<<"${lines[0]}")" 114000
	assert_equal "$(jq -r .city <<<"${lines[0]}")" Bern # input keys kept
	assert_equal "$(peer_recorder_count)" 1 # prism let it through: it fits the spec
	no_violation
	run jq -r '.headers.authorization' "$REC_DIR/1.json"
	assert_output "Bearer $KEY"
	run body 1
	assert_equal "$(jq -r .model <<<"$output")" gpt-4o-mini
	assert_equal "$(jq -r .temperature <<<"$output")" 0
	assert_equal "$(jq -r .response_format.type <<<"$output")" json_schema
	assert_equal "$(jq -r .response_format.json_schema.strict <<<"$output")" true
	assert_equal "$(jq -r .response_format.json_schema.name <<<"$output")" customer_state
	assert_equal "$(jq -r '.response_format.json_schema.schema.properties.journeyStage.enum | join(",")' <<<"$output")" \
		awareness,consideration,purchase,retention,advocacy
	assert_equal "$(jq -r '[.messages[].role] | join(",")' <<<"$output")" system,user
	# the user message is the minimised input: no e-mail, no phone
	assert_equal "$(jq -r '.messages[1].content | fromjson | .customerId' <<<"$output")" c1
	refute_output --partial c1@example.test
	refute_output --partial 445550
}

@test "optimize: a valid actions answer becomes action records, recipients from the profile" {
	start actions-valid
	profile 1 | jq -c '. + {state: {customerId: "c1", segment: "active", engagementLevel: "high",
		journeyStage: "purchase", nextBestActions: [], predictedLifetimeValue: 10, churnRiskScore: 0.1,
		interests: []}}' >in.ndjson
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 3 # the record, then two actions
	assert_equal "$(jq -r .customerId <<<"${lines[0]}")" c1
	assert_equal "$(jq -r .actionType <<<"${lines[0]}")" null
	assert_equal "$(jq -r '[.actionType, .campaignId, .subject, .recipientEmail, .source, .model] | join(" ")' <<<"${lines[1]}")" \
		"email spring Spring offer c1@example.test model gpt"
	assert_equal "$(jq -r '[.actionType, .recipientPhone, .source] | join(" ")' <<<"${lines[2]}")" \
		"sms +41445550001 model"
	assert_equal "$(jq -r .metricsToTrack <<<"${lines[2]}")" null # nulls dropped
	assert_equal "$(jq -r .subject <<<"${lines[2]}")" null
	assert_equal "$(body 1 | jq -r .response_format.json_schema.name)" journey_actions
	assert_equal "$(peer_recorder_count)" 1
	no_violation
}

@test "optimize: the system prompt carries the latest hourly insights (optimizationInsights, lastOptimized, performanceTrends)" {
	start actions-valid actions-valid actions-valid
	profile 1 | jq -c '. + {state: {customerId: "c1", segment: "active", engagementLevel: "high",
		journeyStage: "purchase", nextBestActions: [], predictedLifetimeValue: 10, churnRiskScore: 0.1,
		interests: []}}' >in.ndjson
	# no insights: the prompt file as it is
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(body 1 | jq -r '.messages[0].content')" "$(cat "$BATS_TEST_DIRNAME/../share/jrn/prompts/optimize.txt")"
	# the latest run of jrn-report metrics --save, written here by sqlite3
	local h=1767222000000 # 2025-12-31T23:00:00Z
	sqlite3 jrn.db "INSERT INTO insights VALUES
		('metrics', $((h - 3600000)), 'all', '[]', 0, 1, '{\"sent\":1}', NULL),
		('metrics', $h, 'all', '[]', $((h - 86400000)), $h, '{\"sent\":900,\"openRate\":0.4}', '{\"openRate\":-0.05}'),
		('metrics', $h, 'channel', '[\"email\"]', $((h - 86400000)), $h, '{\"sent\":800,\"clickRate\":0.1}', NULL),
		('metrics', $h, 'campaign,channel', '[\"spring\",\"sms\"]', $((h - 86400000)), $h, '{\"sent\":3}', NULL)"
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 2 # the cached answer was of no insights: asked again
	no_violation
	body 2 | jq -r '.messages[0].content' >sys.txt
	assert_equal "$(head -c "$(wc -c <"$BATS_TEST_DIRNAME/../share/jrn/prompts/optimize.txt")" sys.txt)" \
		"$(cat "$BATS_TEST_DIRNAME/../share/jrn/prompts/optimize.txt")"
	run sed -n '/^The latest hourly insights (jrn-report metrics):$/{n;p}' sys.txt
	assert_equal "$(jq -r .lastOptimized <<<"$output")" 2025-12-31T23:00:00.000Z
	assert_equal "$(jq -c .optimizationInsights.all <<<"$output")" '{"sent":900,"openRate":0.4}'
	assert_equal "$(jq -c .optimizationInsights.window <<<"$output")" \
		'{"start":"2025-12-30T23:00:00.000Z","end":"2025-12-31T23:00:00.000Z"}'
	assert_equal "$(jq -c .optimizationInsights.channel.email <<<"$output")" '{"sent":800,"clickRate":0.1}'
	assert_equal "$(jq -c '.optimizationInsights["campaign,channel"]["[\"spring\",\"sms\"]"]' <<<"$output")" '{"sent":3}'
	assert_equal "$(jq -c .performanceTrends <<<"$output")" '{"all":{"openRate":-0.05}}'
	# the same hour again: from the cache
	run --separate-stderr jrn-ai optimize in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 2
}

@test "an answer that breaks the schema: asked once more with the errors, then the rules answer" {
	start state-invalid state-invalid
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 2 # one retry, no more
	assert_equal "$(st source)" fallback
	assert_equal "$(st model)" rules
	[[ $(st reason) == "gpt: "*journeyStage* ]] || fail "reason: $(st reason)"
	# the fallback is the rules answer, valid: a profile without orders
	assert_equal "$(st journeyStage)" awareness
	[[ $(st reason) == *churnRiskScore* ]] || fail "reason: $(st reason)"
	# each error's pointer once: "/churnRiskScore: 1.7 is ...", not "/churnRiskScore: /churnRiskScore: ..."
	[[ $(st reason) != *"/churnRiskScore: /churnRiskScore"* && $(st reason) != *"/journeyStage: /journeyStage"* ]] ||
		fail "reason: $(st reason)"
	# the second request: the first answer as the assistant's, then the errors
	run body 2
	assert_equal "$(jq -r '[.messages[].role] | join(",")' <<<"$output")" system,user,assistant,user
	assert_equal "$(jq -r '.messages[2].content | fromjson | .journeyStage' <<<"$output")" loyalty
	run jq -r '.messages[3].content' <<<"$output"
	assert_output --partial '/journeyStage'
	assert_output --partial '/churnRiskScore'
	assert_output --partial 'Answer again'
	refute_output --partial '/churnRiskScore: /churnRiskScore'
	assert_regex "$output" $'\n- /churnRiskScore: [^/]+\n'
	# the first request had no such messages
	assert_equal "$(body 1 | jq '.messages | length')" 2
	no_violation
}

@test "the retry's answer is valid: the model's answer, with both tries' tokens" {
	start state-invalid state-valid
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 2
	assert_equal "$(st source)" model
	assert_equal "$(st journeyStage)" purchase
	assert_equal "$(st tokens)" 998
}

@test "text that is not JSON: the rules answer, the reason says so" {
	start not-json
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(st source)" fallback
	[[ $(st reason) == *"the answer is not JSON"* ]] || fail "reason: $(st reason)"
	assert_equal "$(peer_recorder_count)" 1
	no_violation
}

@test "a refusal: the rules answer, the reason quotes it" {
	start refusal
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(st source)" fallback
	[[ $(st reason) == *"the model refused: I'm sorry, I cannot help with that request."* ]] ||
		fail "reason: $(st reason)"
	assert_equal "$(peer_recorder_count)" 1
	assert_equal "$(st tokens)" 412 # a refusal's tokens are paid for
	no_violation
}

@test "429 with Retry-After: 1: waited a second, asked again, the model's answer" {
	start '{"status":429,"headers":{"Retry-After":"1"},"bodyFile":"'"$FIX"'/429.json"}' state-valid
	profile 1 >in.ndjson
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-ai state -v in.ndjson
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(st source)" model
	assert_equal "$(peer_recorder_count)" 2
	[ $(((t1 - t0) / 1000000)) -ge 1000 ] || fail "no wait: $(((t1 - t0) / 1000000)) ms"
	[[ $stderr == *"gpt: HTTP 429: Rate limit reached"*"trying again in 1000 ms (Retry-After)"* ]] ||
		fail "stderr: $stderr"
	no_violation
}

@test "500, then success: asked again after the backoff" {
	start 500:500 state-valid
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state -v in.ndjson
	assert_success
	assert_equal "$(st source)" model
	assert_equal "$(peer_recorder_count)" 2
	[[ $stderr == *"HTTP 500: The server had an error"*"trying again in"* ]] || fail "stderr: $stderr"
	# 500 is no status of the spec: prism warns about the reply, not the request
	no_violation "Unable to match the returned status code"
}

@test "500 every time: retries spent, then the rules answer" {
	start 500:500
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 3 # the first try and retries: 2
	assert_equal "$(st source)" fallback
	[[ $(st reason) == *"HTTP 500"*"(after 3 tries)"* ]] || fail "reason: $(st reason)"
	[[ $(st reason) != *"retries)"* ]] || fail "reason: $(st reason)"
}

@test "a reply slower than the time-out: no second try, the rules answer" {
	CONF='timeout: 1s' start '{"status":200,"bodyFile":"'"$FIX"'/state-valid.json","delayMs":4000}'
	profile 1 >in.ndjson
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-ai state in.ndjson
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(st source)" fallback
	[[ $(st reason) == *"no answer within the time-out of 1000 ms (timeout)"* ]] || fail "reason: $(st reason)"
	assert_equal "$(peer_recorder_count)" 1
	[ $(((t1 - t0) / 1000000)) -lt 3500 ] || fail "waited $(((t1 - t0) / 1000000)) ms"
}

@test "the API key is never in the output, stderr, the state file or the cache" {
	# the server's error quotes the key, as OpenAI's 401 does
	printf '{"error":{"message":"Incorrect API key provided: %s.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}' "$KEY" >401.json
	printf '{"error":{"message":"bad request %s","type":"invalid_request_error","param":null,"code":null}}' "$KEY" >400.json
	start state-valid '{"status":401,"bodyFile":"'"$PWD"'/401.json"}' '{"status":400,"bodyFile":"'"$PWD"'/400.json"}'
	{ profile 1; profile 2; profile 3; } >in.ndjson
	run --separate-stderr jrn-ai state -v --parallel 1 --rejects rej.ndjson in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 3
	assert_equal "$(st source 0)" model
	assert_equal "$(st source 1)" fallback
	[[ $(st reason 1) == *"HTTP 401: the endpoint refused the API key (apiKey)"* ]] || fail "$(st reason 1)"
	[[ $(st reason 2) == *"HTTP 400: bad request ***"* ]] || fail "$(st reason 2)"
	! grep -F -- "${KEY:8:8}" <<<"$output$stderr" || fail "the key in the output"
	sqlite3 jrn.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	[ "$(sqlite3 jrn.db 'SELECT count(*) FROM ai_cache')" -ge 1 ] || fail "nothing cached"
	! grep -a -F -- "${KEY:8:8}" jrn.db jrn.db-wal rej.ndjson 2>/dev/null || fail "the key in the state file"
	! grep -a -F -- "${KEY:8:8}" jrn.yaml || fail "jrn.yaml holds it" # it says \${OPENAI_API_KEY}
	# a bad config value next to it: the message shows no key either
	conf 'temperature: 7'
	run --separate-stderr jrn-ai state in.ndjson
	assert_failure 1
	[[ $stderr == *"ai.models.gpt: temperature: 7 is out of range (0 to 2)"* ]] || fail "$stderr"
	! grep -F -- "${KEY:8:8}" <<<"$output$stderr"
}

@test "a key of 1,500 bytes (an Entra ID token) is sent whole" {
	start state-valid
	OPENAI_API_KEY=$(head -c 1500 /dev/zero | tr '\0' k)
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(st source)" model
	assert_equal "$(jq -r .headers.authorization "$REC_DIR/1.json")" "Bearer $OPENAI_API_KEY"
}

@test "a rerun is answered from the cache: no second request" {
	start state-valid
	{ profile 1; profile 2; } >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 2
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 2 # nothing asked
	assert_equal "$(st source 0)" cache
	assert_equal "$(st cached 1)" true
	assert_equal "$(st journeyStage 1)" purchase
	# another model id behind the same name: asked again, not the old model's answer
	conf 'model: gpt-4.1-mini'
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 4
	assert_equal "$(st source 0)" model
	# so is another temperature; a new timeout, inFlight or apiKey is not
	conf 'model: gpt-4.1-mini' 'temperature: 0.7'
	run --separate-stderr jrn-ai state in.ndjson
	assert_equal "$(peer_recorder_count)" 6
	conf 'model: gpt-4.1-mini' 'temperature: 0.7' 'timeout: 9s' 'inFlight: 3'
	OPENAI_API_KEY=sk-another run --separate-stderr jrn-ai state in.ndjson
	assert_equal "$(peer_recorder_count)" 6
	assert_equal "$(st source 0)" cache
}

@test "a rerun of many profiles from the cache: smaller batches of hits, every record in input order" {
	start state-valid
	# 3,000 profiles of about 500 bytes: the first run asks in batches of
	# 1,024 records; once a batch looked up is all hits the next read
	# ends at 48 KiB of input (AI_NET_BATCH_BYTES), about 96 of these,
	# each said with -v. (A batch is looked up while the one after it is
	# read: the second is of 1,024 too.)
	local pad
	pad=$(head -c 400 /dev/zero | tr '\0' x)
	for i in $(seq 3000); do
		printf '{"customerId":"c%s","city":"Bern","note":"%s"}\n' "$i" "$pad"
	done >in.ndjson
	run --separate-stderr jrn-ai state -v --parallel 32 in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 3000
	assert_equal "$(grep -c 'cache hits so far' <<<"$stderr")" 0
	jq -r .customerId <<<"$output" >first.txt
	run --separate-stderr jrn-ai state -v --parallel 32 in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 3000 # nothing asked
	assert_equal "$(jq -r .state.source <<<"$output" | sort | uniq -c | awk '{print $2 "=" $1}')" cache=3000
	assert_equal "$(jq -r .customerId <<<"$output")" "$(cat first.txt)"
	assert_equal "$(jq -r .customerId <<<"$output" | head -3 | paste -sd,)" c1,c2,c3
	# two batches of 1,024, then 952 in batches of about 96: five or more
	# look-ups said, where batches of 1,024 alone made three
	local n
	n=$(grep -c 'cache hits so far' <<<"$stderr")
	[ "$n" -ge 5 ] || fail "$n batches of look-ups: $stderr"
	[[ $stderr == *"3000 cache hits so far"* ]] || fail "stderr: $stderr"
}

@test "profiles again in the next batch: answered from what the batch before stored, asked once" {
	start state-valid
	# 1,024 profiles fill the first batch; c1 to c100 again are the
	# second, whose facts thread looks up about half of its questions
	# while the first batch is asked, before its answers are stored:
	# such a miss is looked up again
	for i in $(seq 1024); do profile "$i"; done >in.ndjson
	for i in $(seq 100); do profile "$i"; done >>in.ndjson
	run --separate-stderr jrn-ai state --parallel 32 in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 1024
	assert_equal "${#lines[@]}" 1124
	assert_equal "$(jq -r .customerId <<<"${lines[1024]}")" c1
	assert_equal "$(printf '%s\n' "${lines[@]:1024}" | jq -r .state.source | sort | uniq -c | awk '{print $2 "=" $1}')" cache=100
	[[ $stderr == *" 100 from the cache"* ]] || fail "stderr: $stderr"
}

@test "--budget 1000 (tokens): asking stops once spent, the rest get the rules answer" {
	start state-valid
	for i in 1 2 3 4 5 6; do profile "$i"; done >in.ndjson
	run --separate-stderr jrn-ai state --parallel 1 --budget 1000 in.ndjson
	assert_success
	# 499 tokens an answer: 499, 998, 1497 >= 1000: three asked
	assert_equal "$(peer_recorder_count)" 3
	assert_equal "$(jq -r .state.source <<<"$output" | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd,)" \
		fallback=3,model=3
	[[ $stderr == *"--budget 1000 spent"* ]] || fail "stderr: $stderr"
}

@test "32 in flight: the recorder sees 32 requests at once" {
	start '{"status":200,"bodyFile":"'"$FIX"'/state-valid.json","delayMs":2500}'
	for i in $(seq 64); do profile "$i"; done >in.ndjson
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-ai state --parallel 32 in.ndjson
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(peer_recorder_count)" 64
	assert_equal "$(jq -r .state.source <<<"$output" | sort -u)" model
	# 64 requests of 2.5 s each: two rounds of 32 (5 s), not 64 one after
	# another (160 s); the bound is loose for a loaded or sanitized run
	local ms=$(((t1 - t0) / 1000000))
	[ "$ms" -ge 5000 ] && [ "$ms" -lt 40000 ] || fail "took $ms ms"
	# the first 32 requests arrived before the first reply (2.5 s)
	local first last
	first=$(stat -c %.3Y "$REC_DIR/1.json")
	last=$(stat -c %.3Y "$REC_DIR/32.json")
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b - a < 2.4) }' || fail "1..32 arrived over $first..$last"
	first=$(stat -c %.3Y "$REC_DIR/33.json")
	awk -v a="$last" -v b="$first" 'BEGIN { exit !(b - a >= 2.0) }' || fail "33 came before a reply"
	no_violation
}

@test "connections are kept: 96 requests, 32 in flight, over 32 connections (recorder direct)" {
	peer_skip_unless_installed recorder
	peer_recorder_start --status 200 --body "$FIX/state-valid.json"
	OPENAI_URL=$REC_URL/v1 conf
	for i in $(seq 96); do profile "$i"; done >in.ndjson
	run --separate-stderr jrn-ai state --parallel 32 -v in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 96
	[[ $stderr =~ "gpt: 96 requests over "([0-9]+)" connections" ]] || fail "stderr: $stderr"
	[ "${BASH_REMATCH[1]}" -le 32 ] || fail "${BASH_REMATCH[1]} connections"
}

@test "rpm: 60 lets one request a second through" {
	CONF='rpm: 60' start state-valid
	for i in 1 2 3 4; do profile "$i"; done >in.ndjson
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-ai state --parallel 4 in.ndjson
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(peer_recorder_count)" 4
	assert_equal "$(jq -r .state.source <<<"$output" | sort -u)" model
	# a bucket of one: the first at once, then one a second
	[ $(((t1 - t0) / 1000000)) -ge 2900 ] || fail "4 requests in $(((t1 - t0) / 1000000)) ms"
}

@test "tpm: 30000 (500 tokens a second) spaces requests of 499 tokens about a second apart" {
	CONF='tpm: 30000' start state-valid
	for i in 1 2 3 4; do profile "$i"; done >in.ndjson
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-ai state --parallel 4 in.ndjson
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(peer_recorder_count)" 4
	[ $(((t1 - t0) / 1000000)) -ge 2000 ] || fail "4 requests in $(((t1 - t0) / 1000000)) ms"
}

@test "--dry-run asks nothing" {
	start state-valid
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state --dry-run in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 0
}

@test "a reply over 4 MiB: cut off, the rules answer (recorder direct: prism would read it all)" {
	peer_skip_unless_installed recorder
	/usr/bin/python3 -c 'import json; print(json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
		"choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
		"message": {"role": "assistant", "refusal": None, "content": "x" * (5 << 20)}}]}))' >big.json
	peer_recorder_start --status 200 --body big.json
	OPENAI_URL=$REC_URL/v1 conf
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(st source)" fallback
	[[ $(st reason) == *"the reply is longer than 4 MiB (the limit)"* ]] || fail "$(st reason)"
	assert_equal "$(peer_recorder_count)" 1 # not tried again
}

@test "a refused connection: the rules answer with the reason, exit 0" {
	peer_skip_unless_installed recorder
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	OPENAI_URL=http://127.0.0.1:$port/v1 conf 'retries: 0'
	profile 1 >in.ndjson
	run --separate-stderr jrn-ai state in.ndjson
	assert_success
	assert_equal "$(st source)" fallback
	[[ $(st reason) == *"http://127.0.0.1:$port/v1/chat/completions: "*"onnect"* ]] || fail "$(st reason)"
}

@test "a dead endpoint: the breaker opens after 2 x inFlight requests with no answer; the rest not asked, said once" {
	peer_skip_unless_installed recorder
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	OPENAI_URL=http://127.0.0.1:$port/v1 conf 'inFlight: 4' 'retries: 3'
	for i in $(seq 200); do profile "$i"; done >in.ndjson
	# (each record's four tries and their backoff, 3.5 s, 4 at a time:
	# about three minutes before the breaker)
	run --separate-stderr timeout 60 jrn-ai state -v in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 200
	assert_equal "$(jq -r .state.source <<<"$output" | sort -u)" fallback
	# the four asked first: two tries each, then not again; the rest never asked
	assert_equal "$(jq -r .state.reason <<<"$output" | grep -c "no answer after 2 tries, not tried again: the last 8 requests to http://127.0.0.1:$port/v1/chat/completions had none (the last: Failed to connect")" 4
	assert_equal "$(jq -r .state.reason <<<"$output" | grep -c "^gpt: not asked: the last 8 requests to http://127.0.0.1:$port/v1/chat/completions had no answer (the last: Failed to connect")" 196
	assert_equal "$(grep -c 'requests in a row had no answer' <<<"$stderr")" 1
	[[ $stderr == *"gpt: http://127.0.0.1:$port/v1/chat/completions: 8 requests in a row had no answer, the last: Failed to connect"*"; the rules answer for what would be asked, and one request every 5 s until it answers"* ]] || fail "$stderr"
	[[ $stderr == *"gpt: 8 requests over 0 connections"* ]] || fail "$stderr"
	# -q: the breaker says nothing
	run --separate-stderr timeout 60 jrn-ai state -q in.ndjson
	assert_success
	assert_equal "$stderr" ""
}

@test "the endpoint answers again: after 5 s one request goes, its answer closes the breaker, the rest are asked" {
	peer_skip_unless_installed recorder
	# eight 500s (four records, two tries each) open it; the ninth request
	# is answered
	script 500:500 500:500 500:500 500:500 500:500 500:500 500:500 500:500 state-valid
	peer_recorder_start --script script.json
	OPENAI_URL=$REC_URL/v1 conf 'inFlight: 4' 'retries: 1'
	for i in $(seq 4); do profile "$i"; done >a.ndjson
	for i in $(seq 5 12); do profile "$i"; done >b.ndjson
	# four records, then, 6 s on (the breaker open 5 s), eight more: the
	# first of them goes alone, and the others wait for its answer
	run --separate-stderr bash -c '{ cat a.ndjson; sleep 6; cat b.ndjson; } | jrn-ai state'
	assert_success
	assert_equal "${#lines[@]}" 12
	assert_equal "$(jq -r .state.source <<<"$output" | uniq -c | awk '{print $1, $2}' | paste -sd' ')" "4 fallback 8 model"
	assert_equal "$(peer_recorder_count)" 16
	[[ $stderr == *"gpt: $REC_URL/v1/chat/completions: 8 requests in a row had no answer, the last: HTTP 500"*"gpt: $REC_URL/v1/chat/completions answers again: asking it again"* ]] || fail "$stderr"
}

@test "the model's config: unknown keys, bounds, a missing model id" {
	OPENAI_URL=http://127.0.0.1:9/v1
	profile 1 >in.ndjson
	conf 'temprature: 0.5'
	run --separate-stderr jrn-ai state in.ndjson
	assert_failure 1
	[[ $stderr == *"ai.models.gpt: unknown key temprature (did you mean temperature?)"* ]] || fail "$stderr"
	conf 'inFlight: 5000'
	run --separate-stderr jrn-ai state in.ndjson
	assert_failure 1
	[[ $stderr == *"inFlight: 5000 is out of range (1 to 256)"* ]] || fail "$stderr"
	conf 'timeout: 20m'
	run --separate-stderr jrn-ai state in.ndjson
	assert_failure 1
	[[ $stderr == *"timeout: 1200000 ms is out of range (1 ms to 10 min)"* ]] || fail "$stderr"
	printf 'ai:\n  model: gpt\n  models:\n    gpt: {kind: openai}\n' >jrn.yaml
	run --separate-stderr jrn-ai state in.ndjson
	assert_failure 1
	[[ $stderr == *"ai.models.gpt: model: the model's id at the endpoint is required"* ]] || fail "$stderr"
	# said where it is written: the key unknown, the value out of range,
	# the mapping that lacks one; a ${NAME} not set once, at its place
	printf 'ai:\n  model: gpt\n  models:\n    gpt: {kind: openai, model: m,\n      temprature: 1}\n' >jrn.yaml
	run --separate-stderr jrn-ai state in.ndjson
	assert_equal "${stderr_lines[-1]}" "jrn-ai: jrn.yaml:5:7: ai.models.gpt: unknown key temprature (did you mean temperature?)"
	printf 'ai:\n  model: gpt\n  models:\n    gpt: {kind: openai, model: m, inFlight: 0}\n' >jrn.yaml
	run --separate-stderr jrn-ai state in.ndjson
	assert_equal "${stderr_lines[-1]}" "jrn-ai: jrn.yaml:4:45: ai.models.gpt: inFlight: 0 is out of range (1 to 256)"
	printf 'ai:\n  model: gpt\n  models:\n    gpt: {kind: openai}\n' >jrn.yaml
	run --separate-stderr jrn-ai state in.ndjson
	assert_equal "${stderr_lines[-1]}" "jrn-ai: jrn.yaml:4:10: ai.models.gpt: model: the model's id at the endpoint is required (model: gpt-4o-mini)"
	printf 'ai:\n  model: gpt\n  models:\n    gpt: {kind: openai, model: m, apiKey: "${JRN_TEST_UNSET_KEY}"}\n' >jrn.yaml
	run --separate-stderr env -u JRN_TEST_UNSET_KEY jrn-ai state in.ndjson
	assert_failure 1
	assert_equal "${stderr_lines[-1]}" "jrn-ai: jrn.yaml:4:44: ai.models.gpt.apiKey: \${JRN_TEST_UNSET_KEY} is not set"
}
