#!/usr/bin/env bats
# jrn-merge's http sources against real servers on 127.0.0.1 (t/peers.bash):
# t/peers/recorder.js serving the seed's four sources from t/peers/merge/
# (replies in order: --parallel 1 where a reply is meant for one customer),
# Debian's python3-httpbin for status codes and delays.

load helpers
load peers

FIX=$BATS_TEST_DIRNAME/peers/merge

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	peer_skip_unless_installed recorder
	export CRM_TOKEN=tok-Zq81-secret
}

teardown() {
	peers_stop
}

# seed BASE-URL [CRM-EXTRA]: jrn.yaml with the seed's four http sources at
# BASE-URL; CRM-EXTRA adds members to the crm source ("retries: 0, ...").
seed() {
	cat > jrn.yaml <<Y
sources:
  precedence: [crm]
  list:
    - {name: crm, type: http, url: "$1/customer/{customerId}", pointer: /data/customer,
       headers: {Authorization: "Bearer \${CRM_TOKEN}", Accept: application/json}${2:+, $2}}
    - {name: emails, type: http, url: "$1/customer/{customerId}/emails", pointer: /data, unify: false}
    - {name: chats, type: http, url: "$1/customer/{customerId}/chats", pointer: /data, unify: false}
    - {name: purchases, type: http, url: "$1/customer/{customerId}/purchases", pointer: /data, unify: false}
Y
}

# crm URL-TEMPLATE [EXTRA]: jrn.yaml with the crm source only.
crm() {
	cat > jrn.yaml <<Y
sources:
  list:
    - {name: crm, type: http, url: "$1", pointer: /data/customer${2:+, $2}}
Y
}

# url N: the URL path of request N the recorder got
url() { jq -r .url "$REC_DIR/$1.json"; }

@test "jrn-merge http: a customer every source knows, one the CRM does not know (404: no error)" {
	peer_recorder_start --script "$FIX/seed.json"
	seed "$REC_URL"
	printf '%s\n' '{"customerId":"c1","type":"page"}' '{"customerId":"c2"}' > in.ndjson
	run --separate-stderr jrn-merge --parallel 1 in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
	local c1=${lines[0]} c2=${lines[1]}
	assert_equal "$(jq -r '.type, .profile.email, .profile.firstName, .profile.country, .profile.traits.plan, .profile.provenance.email.source' <<< "$c1" | tr '\n' ' ')" \
		"page ann@example.org Ann FR pro crm "
	assert_equal "$(jq -c '.profile.sources | [keys[], (.emails | length), (.chats | length), (.purchases | map(.orderId))]' <<< "$c1")" \
		'["chats","crm","emails","purchases",3,1,["o-1","o-2"]]'
	# the CRM knows nothing of c2: no crm in sources, and no error
	assert_equal "$(jq -c '.profile.sources | keys' <<< "$c2")" '["chats","emails","purchases"]'
	assert_equal "$(jq -c '.profile.errors' <<< "$c2")" null
	assert_equal "$(for i in 1 2 3 4 5; do url $i; done | tr '\n' ' ')" \
		"/customer/c1 /customer/c1/emails /customer/c1/chats /customer/c1/purchases /customer/c2 "
	assert_equal "$(peer_recorder_count)" 8
	assert_regex "$stderr" "2 profiles, 0 rejected, 0 with errors, .*, 8 http requests"
}

@test "jrn-merge http: a CRM that answers 503 twice then 200 is asked 3 times; with retries: 1 the record carries the error, exit 3" {
	peer_recorder_start --script "$FIX/crm-503-503-200.json"
	crm "$REC_URL/customer/{customerId}"
	run --separate-stderr jrn-merge <<< '{"customerId":"c1"}'
	assert_success
	assert_equal "$(jq -r .profile.email <<< "$output")" ann@example.org
	assert_equal "$(peer_recorder_count)" 3
	peers_stop
	peer_recorder_start --script "$FIX/crm-503-503-200.json"
	crm "$REC_URL/customer/{customerId}" "retries: 1"
	run --separate-stderr jrn-merge <<< '{"customerId":"c1"}'
	assert_failure 3
	assert_equal "$(jq -c .profile.errors <<< "$output")" '[{"source":"crm","error":"HTTP 503 after 2 tries"}]'
	assert_equal "$(jq -c .profile.sources <<< "$output")" null
	assert_equal "$(peer_recorder_count)" 2
	assert_regex "$stderr" "1 profile, 0 rejected, 1 with errors"
}

@test "jrn-merge http: a server slower than the time-out: the error says so, the record comes out" {
	peer_recorder_start --script "$FIX/crm-slow.json"
	crm "$REC_URL/customer/{customerId}" "timeout: 300ms, retries: 0"
	printf '%s\n' '{"customerId":"c1","n":1}' > in.ndjson
	run --separate-stderr jrn-merge in.ndjson
	assert_failure 3
	assert_equal "$(jq -c '[.n, .profile.errors]' <<< "$output")" '[1,[{"source":"crm","error":"timed out after 300ms"}]]'
	# and retried: each try has the whole time-out
	crm "$REC_URL/customer/{customerId}" "timeout: 200ms, retries: 1"
	run --separate-stderr jrn-merge in.ndjson
	assert_failure 3
	assert_equal "$(jq -r '.profile.errors[0].error' <<< "$output")" "timed out after 200ms (2 tries)"
}

@test "jrn-merge http: a body that is not JSON, a payload that is not an object, a pointer not in the body" {
	peer_recorder_start --script "$FIX/crm-not-json.json"
	crm "$REC_URL/c/{customerId}" "retries: 0"
	run --separate-stderr jrn-merge <<< '{"customerId":"c1"}'
	assert_failure 3
	assert_regex "$(jq -r '.profile.errors[0].error' <<< "$output")" '^body is not JSON at byte 1'
	peers_stop
	peer_recorder_start --status 200 --body "$FIX/crm-c1.json"
	cat > jrn.yaml <<Y
sources:
  list:
    - {name: a, type: http, url: "$REC_URL/a", pointer: /data/customer/plan}
    - {name: b, type: http, url: "$REC_URL/b", pointer: /data/nothing}
    - {name: c, type: http, url: "$REC_URL/c", pointer: /data/customer/~0x}
    - {name: d, type: http, url: "$REC_URL/d"}
Y
	run --separate-stderr jrn-merge <<< '{"customerId":"c1"}'
	assert_failure 3
	assert_equal "$(jq -c '.profile.errors' <<< "$output")" \
		'[{"source":"a","error":"the payload at /data/customer/plan is a string, not an object or an array"},{"source":"b","error":"no /data/nothing in the body"},{"source":"c","error":"no /data/customer/~0x in the body"}]'
	# no pointer: the whole body
	assert_equal "$(jq -r '.profile.sources.d.data.customer.email' <<< "$output")" ann@example.org
}

@test "jrn-merge http: 429 with Retry-After: 1 is honoured (the second request at least a second later)" {
	peer_recorder_start --script "$FIX/crm-429.json"
	crm "$REC_URL/customer/{customerId}"
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-merge <<< '{"customerId":"c1"}'
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(jq -r .profile.email <<< "$output")" ann@example.org
	assert_equal "$(peer_recorder_count)" 2
	local ms=$(((t1 - t0) / 1000000))
	echo "# 429 then 200 took $ms ms" >&3
	[ "$ms" -ge 1000 ]
	[ "$ms" -lt 5000 ]
}

@test "jrn-merge http --require crm: a record whose CRM fails is rejected, the others come out in order" {
	peer_recorder_start --script "$FIX/crm-ok-503-ok.json"
	crm "$REC_URL/customer/{customerId}" "retries: 0"
	printf '{"customerId":"c%s"}\n' 1 2 3 > in.ndjson
	run --separate-stderr jrn-merge --parallel 1 --require crm --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_equal "$(jq -r .customerId <<< "$output" | tr '\n' ' ')" "c1 c3 "
	assert_equal "$(jq -r '.profile.errors' <<< "$output" | sort -u)" null
	assert_regex "$stderr" 'jrn-merge: in.ndjson:2: source crm: HTTP 503'
	assert_equal "$(jq -c '[.file, .line, .error, .input]' rej.ndjson)" \
		'["in.ndjson",2,"source crm: HTTP 503","{\"customerId\":\"c2\"}"]'
	# without --require the record carries the error
	peers_stop
	peer_recorder_start --script "$FIX/crm-ok-503-ok.json"
	crm "$REC_URL/customer/{customerId}" "retries: 0"
	run --separate-stderr jrn-merge --parallel 1 in.ndjson
	assert_failure 3
	assert_equal "$(jq -c '[.customerId, .profile.errors]' <<< "$output" | tr '\n' ' ')" \
		'["c1",null] ["c2",[{"source":"crm","error":"HTTP 503"}]] ["c3",null] '
}

@test "jrn-merge http: cacheTtl: within it no request, after it requests again; 404 cached, failures never" {
	peer_recorder_start --script "$FIX/seed.json"
	seed "$REC_URL" "cacheTtl: 1h"
	printf '%s\n' '{"customerId":"c1"}' '{"customerId":"c2"}' > in.ndjson
	run --separate-stderr jrn-merge --parallel 1 in.ndjson
	assert_success
	local first=$output
	assert_equal "$(peer_recorder_count)" 8
	# only crm has a cache: its 200 and its 404
	assert_equal "$(rows "SELECT source || ' ' || customer_id || ' ' || status FROM source_cache ORDER BY customer_id")" "crm c1 200
crm c2 404"
	JRN_NOW=2026-01-01T00:59:00Z run --separate-stderr jrn-merge --parallel 1 --source crm in.ndjson
	assert_success
	assert_equal "$(peer_recorder_count)" 8
	assert_equal "$(jq -c .profile.sources <<< "$output")" "$(jq -c '.profile.sources | {crm} | with_entries(select(.value != null)) | if . == {} then null else . end' <<< "$first")"
	assert_regex "$stderr" ", 0 http requests"
	# past the TTL: asked again (the script's last reply is no CRM answer)
	JRN_NOW=2026-01-01T01:00:01Z run --separate-stderr jrn-merge --parallel 1 --source crm in.ndjson
	assert_failure 3
	assert_equal "$(peer_recorder_count)" 10
	assert_equal "$(jq -r '.profile.errors[0].error' <<< "$output" | sort -u)" "no /data/customer in the body"
	# a failure is not cached: the next run asks again
	peers_stop
	peer_recorder_start --status 500
	seed "$REC_URL" "cacheTtl: 1h, retries: 0"
	rows "DELETE FROM source_cache"
	run --separate-stderr jrn-merge --source crm <<< '{"customerId":"c1"}'
	assert_failure 3
	assert_equal "$(rows "SELECT count(*) FROM source_cache")" 0
	run --separate-stderr jrn-merge --source crm <<< '{"customerId":"c1"}'
	assert_equal "$(peer_recorder_count)" 2
}

@test "jrn-merge http: the customer id is percent-encoded in the URL ('/', ' ', non-ASCII)" {
	peer_recorder_start --status 404
	crm "$REC_URL/customer/{customerId}?again={customerId}"
	run --separate-stderr jrn-merge <<< '{"customerId":"a/b c-é_~.x"}'
	assert_success
	assert_equal "$(url 1)" "/customer/a%2Fb%20c-%C3%A9_~.x?again=a%2Fb%20c-%C3%A9_~.x"
}

@test "jrn-merge http: a \${SECRET} header is sent, and never shown in an error, -v or a bad config" {
	peer_recorder_start --status 401 --body "$FIX/empty.json"
	seed "$REC_URL" "retries: 0"
	run --separate-stderr jrn-merge -v --source crm <<< '{"customerId":"c1"}'
	assert_failure 3
	assert_equal "$(jq -r '.headers.authorization' "$REC_DIR/1.json")" "Bearer $CRM_TOKEN"
	assert_equal "$(jq -c .profile.errors <<< "$output")" '[{"source":"crm","error":"HTTP 401"}]'
	assert_regex "$stderr" "source: crm \(http\)"
	assert_regex "$stderr" "http: at most 64 requests in flight, 256 records read ahead"
	refute_regex "$output$stderr" "$CRM_TOKEN"
	# a line break in a secret header value is refused without showing it
	CRM_TOKEN=$'x\r\nX-Evil: 1' run --separate-stderr jrn-merge --source crm <<< '{"customerId":"c1"}'
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:5:17: sources.list[0] (crm): headers.Authorization: a value holds a line break"
}

@test "jrn-merge http --parallel 8: random delays, output in input order, at most 8 in flight" {
	local n=60 i d sum=0
	{
		printf '['
		for ((i = 1; i <= n; i++)); do
			d=$((RANDOM % 150))
			sum=$((sum + d))
			printf '%s{"status":200,"delayMs":%d,"body":{"data":{"customer":{"plan":"p%d"}}}}' "$([ $i -gt 1 ] && echo ,)" $d $i
		done
		printf ']\n'
	} > script.json
	peer_recorder_start --script script.json
	crm "$REC_URL/customer/{customerId}"
	for ((i = 1; i <= n; i++)); do printf '{"customerId":"c%d","i":%d}\n' $i $i; done > in.ndjson
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr jrn-merge --parallel 8 in.ndjson
	t1=$(date +%s%N)
	assert_success
	assert_equal "$(jq -r .i <<< "$output" | tr '\n' ' ')" "$(seq 1 $n | tr '\n' ' ')"
	assert_equal "$(jq -r .profile.traits.plan <<< "$output" | sort -u | wc -l)" "$n"
	# the delays add up to $sum ms: 8 at a time take at least an eighth of
	# that (more in flight would be faster), and far less than all of it
	local ms=$(((t1 - t0) / 1000000))
	echo "# 60 records, --parallel 8: $ms ms, delays $sum ms in all" >&3
	[ "$ms" -ge $((sum / 8)) ]
	[ "$ms" -lt $((sum / 2)) ]
}

@test "jrn-merge http: python3-httpbin: /status/500 after 3 tries, /delay/3 beyond a 1s time-out" {
	peer_skip_unless_installed httpbin
	peer_httpbin_start
	cat > jrn.yaml <<Y
sources:
  list:
    - {name: five, type: http, url: "$HTTPBIN_URL/status/500"}
    - {name: slow, type: http, url: "$HTTPBIN_URL/delay/3", timeout: 1s, retries: 0}
    - {name: echo, type: http, url: "$HTTPBIN_URL/anything/{customerId}", pointer: /url, unify: false}
    - {name: gone, type: http, url: "$HTTPBIN_URL/status/404"}
Y
	run --separate-stderr jrn-merge <<< '{"customerId":"c1"}'
	assert_failure 3
	assert_equal "$(jq -c .profile.errors <<< "$output")" \
		'[{"source":"five","error":"HTTP 500 after 3 tries"},{"source":"slow","error":"timed out after 1s"},{"source":"echo","error":"the payload at /url is a string, not an object or an array"}]'
	assert_equal "$(jq -c .profile.sources <<< "$output")" null
}

@test "jrn-merge http: an anonymous visitor who later signs up is linked by the CRM's e-mail (--save)" {
	cat > ev.ndjson <<'J'
{"type":"page","anonymousId":"anon-7","timestamp":"2025-06-01T10:00:00Z"}
{"type":"identify","anonymousId":"anon-7","traits":{"email":"Vi@Example.org"},"timestamp":"2025-06-01T10:05:00Z"}
J
	jrn-ingest -q ev.ndjson
	echo '{"data":{"customer":{"customerId":"u-7","email":"vi@example.org","firstName":"Vi"}}}' > vi.json
	peer_recorder_start --status 200 --body vi.json
	crm "$REC_URL/customer/{customerId}"
	run --separate-stderr jrn-merge --save <<< '{"customerId":"u-7","type":"signup"}'
	assert_success
	assert_equal "$(jq -r '.profile.email, .profile.firstName, .profile.summary.events' <<< "$output" | tr '\n' ' ')" "vi@example.org Vi 2 "
	assert_equal "$(rows "SELECT from_id, into_id, reason FROM merges")" "anon-7|u-7|crm: shared email"
	# the visitor's id now reads u-7's profile, without a request for anon-7
	run --separate-stderr jrn-merge --source crm <<< '{"customerId":"anon-7"}'
	assert_success
	assert_equal "$(jq -r .profile.customerId <<< "$output")" u-7
	assert_equal "$(url 2)" /customer/u-7
}

@test "jrn-merge http: two CRM records with one e-mail are merged (--save), and --unmerge takes them apart" {
	cat > ev.ndjson <<'J'
{"type":"track","event":"order.completed","userId":"crm-1","properties":{"amount":10},"timestamp":"2025-06-01T10:00:00Z"}
{"type":"track","event":"order.completed","userId":"crm-2","properties":{"amount":20},"timestamp":"2025-06-02T10:00:00Z"}
J
	jrn-ingest -q ev.ndjson
	cat > two.json <<'J'
[{"status":200,"body":{"data":{"customer":{"email":"Kim@Example.org","firstName":"Kim"}}}},
 {"status":200,"body":{"data":{"customer":{"email":"kim@example.org","name":"Kim Park"}}}}]
J
	peer_recorder_start --script two.json
	crm "$REC_URL/customer/{customerId}"
	printf '%s\n' '{"customerId":"crm-1"}' '{"customerId":"crm-2"}' > recs.ndjson
	run --separate-stderr jrn-merge --save --parallel 1 recs.ndjson
	assert_success
	# the second claim of the address (any spelling) merges the first claimant in
	assert_equal "$(rows "SELECT from_id, into_id, reason FROM merges")" "crm-1|crm-2|crm: shared email"
	assert_equal "$(rows "SELECT customer_id, email FROM profiles")" "crm-2|kim@example.org"
	# both CRM records' orders now count for one customer, whichever id asks
	rm jrn.yaml
	assert_equal "$(echo '{"customerId":"crm-1"}' | jrn-merge -q | jq -c '.profile | [.customerId, .summary.orders]')" '["crm-2",2]'
	assert_equal "$(rows "SELECT count(*) FROM merges WHERE undone_at IS NULL")" 1
	id=$(rows "SELECT id FROM merges")
	run --separate-stderr jrn-merge --unmerge "$id"
	assert_success
	assert_equal "$stderr" "jrn-merge: merge $id undone"
	assert_equal "$(rows "SELECT count(*) FROM merges WHERE undone_at IS NULL")" 0
	# apart again: each id reads its own profile
	assert_equal "$(printf '%s\n' '{"customerId":"crm-1"}' '{"customerId":"crm-2"}' | jrn-merge -q | jq -s -c '[.[] | .profile.customerId]')" '["crm-1","crm-2"]'
}

@test "jrn-merge http --all: every customer of the state file, with its sources, in id order" {
	for c in c3 c1 c2; do ev page $c; done | jrn-ingest -q
	peer_recorder_start --status 200 --body "$FIX/crm-c1.json"
	crm "$REC_URL/customer/{customerId}" "unify: false"
	run --separate-stderr jrn-merge --all --parallel 2
	assert_success
	assert_equal "$(jq -r '.customerId + " " + .profile.sources.crm.plan' <<< "$output" | tr '\n' ' ')" "c1 pro c2 pro c3 pro "
	assert_equal "$(peer_recorder_count)" 3
	# --require over --all: a customer whose source fails stops the run
	peers_stop
	peer_recorder_start --script "$FIX/crm-ok-503-ok.json"
	crm "$REC_URL/customer/{customerId}" "retries: 0"
	run --separate-stderr jrn-merge --all --parallel 1 --require crm
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: c2: source crm: HTTP 503"
	assert_equal "$(jq -r .customerId <<< "$output")" c1
}

@test "jrn-merge http: bad settings are said at once (url, pointer, timeout, retries, headers, --parallel)" {
	local bad want
	while IFS='|' read -r bad want; do
		printf 'sources:\n  list:\n    - {name: crm, type: http%s}\n' "$bad" > jrn.yaml
		run --separate-stderr jrn-merge < /dev/null
		assert_failure 1
		# at the key's value the message names (its column: where that
		# value starts in the line), else at the source
		local col=7 key=${want%%[:.]*}
		[[ $bad != *" $key: "* ]] || { col=${bad%%" $key: "*}; col=$((29 + ${#col} + ${#key} + 3)); }
		assert_equal "$stderr" "jrn-merge: jrn.yaml:3:$col: sources.list[0] (crm): $want"
	done <<'T'
|url: an http source needs a url
, url: ftp://x/|url: expected an http:// or https:// URL
, url: "http://x/", pointer: data|pointer: 'data' is not a JSON pointer (RFC 6901: "" or /a/b)
, url: "http://x/", pointer: /a~2|pointer: '/a~2' is not a JSON pointer (RFC 6901: "" or /a/b)
, url: "http://x/", timeout: 11m|timeout: expected a duration from 1ms to 10m (the limit)
, url: "http://x/", retries: 11|retries: expected an integer from 0 to 10 (the limit)
, url: "http://x/", headers: [a]|headers: expected a mapping of header names to values
, url: "http://x/", headers: {"a b": c}|headers: 'a b' is not a header name
T
	run --separate-stderr jrn-merge --parallel 0 < /dev/null
	assert_failure 2
	assert_equal "$stderr" "jrn-merge: --parallel 0: expected an integer from 1 to 1024 (the limit)"
	printf 'sources:\n  parallel: 2000\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:2:13: sources.parallel: expected an integer from 1 to 1024 (the limit)"
}

@test "jrn-merge http: memory is flat in the number of input records" {
	[ -z "${JRN_SANITIZED:-}" ] || skip "sanitized build"
	peer_recorder_start --count-only --status 200 --body "$FIX/crm-c1.json"
	crm "$REC_URL/customer/{customerId}" "unify: false"
	local n rss=()
	for n in 2000 20000; do
		seq 1 $n | sed 's/.*/{"customerId":"c&"}/' > in.ndjson
		rss+=("$(/usr/bin/time -f %M jrn-merge -q in.ndjson 2>&1 >/dev/null | tail -1)")
	done
	echo "# peak RSS: ${rss[0]} KB for 2000 records, ${rss[1]} KB for 20000" >&3
	[ "${rss[1]}" -lt $((rss[0] + 4096)) ]
}

@test "jrn-merge --parallel: completion (bash, zsh) and --help" {
	run bash -c '. "$1"/jrn-merge.bash; COMP_WORDS=(jrn-merge --par); COMP_CWORD=1; _jrn_merge; printf "%s\n" "${COMPREPLY[@]}"' _ "$BATS_TEST_DIRNAME/../completions"
	assert_output --parallel
	run bash -c '. "$1"/jrn-merge.bash; COMP_WORDS=(jrn-merge --parallel ""); COMP_CWORD=2; _jrn_merge; printf "%s\n" "${COMPREPLY[@]}"' _ "$BATS_TEST_DIRNAME/../completions"
	assert_output ""
	run grep -c -- "--parallel=\[http requests in flight" "$BATS_TEST_DIRNAME/../completions/_jrn"
	assert_output 1
	run jrn-merge --help
	assert_line --partial "--parallel N"
}
