#!/usr/bin/env bats
# jrn-merge and the profile: identify traits stored by jrn-ingest, aliases
# and merges, and jrn-merge's profile over the state file and file sources.

load helpers

# the seed's sign-up story: an anonymous visitor, identified, then signed up
visitor() {
	cat <<'J'
{"type":"page","anonymousId":"anon-7","timestamp":"2025-06-01T10:00:00Z"}
{"type":"identify","anonymousId":"anon-7","traits":{"email":" Vi@Example.org ","plan":"trial"},"timestamp":"2025-06-01T10:05:00Z"}
{"type":"identify","userId":"u-7","traits":{"email":"vi@example.org","firstName":"Vi","plan":"paid"},"timestamp":"2025-06-02T10:00:00Z"}
J
}

@test "jrn-ingest: identify traits set the profile, newest wins per trait, provenance identify" {
	cat > in.ndjson <<'J'
{"type":"identify","userId":"c1","traits":{"email":"a@x.org","plan":"pro","timezone":"Europe/Paris"},"timestamp":"2025-06-02T00:00:00Z"}
{"type":"identify","userId":"c1","traits":{"plan":"old","name":"Ann"},"timestamp":"2025-06-01T00:00:00Z"}
J
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(rows "SELECT email, time_zone, name FROM profiles WHERE customer_id = 'c1'")" "a@x.org|Europe/Paris|Ann"
	assert_equal "$(rows "SELECT traits FROM profiles")" '{"plan":"pro"}'
	assert_equal "$(rows "SELECT provenance ->> '\$.\"traits.plan\".source' FROM profiles")" identify
	assert_equal "$(rows "SELECT provenance ->> '\$.\"traits.plan\".at' FROM profiles")" 1748822400000
	# the event is stored too, in the same transaction
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'identify'")" 2
}

@test "jrn-ingest: a duplicate identify event is not news" {
	ev identify c1 '"id":"i1","traits":{"plan":"a"}' > in.ndjson
	jrn-ingest -q in.ndjson
	sqlite3 jrn.db "UPDATE profiles SET traits = '{\"plan\":\"hand\"}'"
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(rows "SELECT traits FROM profiles")" '{"plan":"hand"}'
}

@test "jrn-ingest: an anonymous visitor who signs up is merged by e-mail, and alias links ids" {
	visitor > in.ndjson
	echo '{"type":"alias","userId":"u-8","previousId":"u-7","timestamp":"2025-06-03T10:00:00Z"}' >> in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(rows "SELECT customer_id, email, first_name, traits FROM profiles")" 'u-8|vi@example.org|Vi|{"plan":"paid"}'
	assert_equal "$(rows "SELECT from_id, into_id, reason FROM merges ORDER BY id")" "anon-7|u-7|identify: shared email
u-7|u-8|alias"
	assert_equal "$(rows "SELECT value || '>' || customer_id FROM identities WHERE kind = 'id' ORDER BY value")" "anon-7>u-7
u-7>u-8"
}

@test "jrn-ingest: a value shared by more customers than sources.sharedLimit merges no one" {
	for c in h1 h2 h3; do ev identify $c '"traits":{"phone":"+1 650 253 0000"}'; done > in.ndjson
	printf 'ingest:\n  defaultCountry: US\nsources:\n  sharedLimit: 1\n' > jrn.yaml
	run jrn-ingest -q --config jrn.yaml in.ndjson
	assert_success
	assert_equal "$(rows "SELECT count(*) FROM profiles")" 3
	assert_equal "$(rows "SELECT count(*) FROM merges")" 0
	assert_equal "$(rows "SELECT count(*) FROM identities WHERE kind = 'phone'")" 3
}

# a small state file: the visitor story, orders, a consent, an RFM snapshot
state() {
	{
		visitor
		echo '{"type":"order.completed","userId":"u-7","properties":{"amount":30},"timestamp":"2025-06-04T10:00:00Z","id":"o1"}'
		echo '{"type":"order.completed","customerId":"anon-7","properties":{"amount":12.5},"timestamp":"2025-06-05T10:00:00Z","id":"o2"}'
		echo '{"type":"consent.revoked","customerId":"u-7","properties":{"channel":"sms"},"timestamp":"2025-06-05T10:00:00Z"}'
		ev page.viewed c2
	} | jrn-ingest -q --store-only
	jrn-score rfm --save -q > /dev/null
	sqlite3 jrn.db "INSERT INTO segment_members VALUES ('vip', 'u-7', 0), ('new', 'u-7', 0)"
}

@test "jrn-merge: each record gets the profile: unified fields, traits, consent, scores, segments, summary" {
	state
	printf '%s\n' '{"customerId":"u-7","actionType":"email","big":12345678901234567890}' > in.ndjson
	run --separate-stderr jrn-merge in.ndjson
	assert_success
	assert_equal "$stderr" "jrn-merge: 1 profile, 0 rejected, 0 with errors, 0 changed by sources"
	# the record's own text is kept as written
	assert_regex "$output" '^\{"customerId":"u-7","actionType":"email","big":12345678901234567890,"profile":\{'
	assert_equal "$(jq -c '.profile | {customerId, email, firstName, traits, consent, segments}' <<< "$output")" \
		'{"customerId":"u-7","email":"vi@example.org","firstName":"Vi","traits":{"plan":"paid"},"consent":{"sms":"revoked"},"segments":["new","vip"]}'
	assert_equal "$(jq -c .profile.summary <<< "$output")" \
		'{"events":6,"firstSeen":"2025-06-01T10:00:00.000Z","lastSeen":"2025-06-05T10:00:00.000Z","orders":2,"orderTotal":42.5,"lastOrder":{"id":"o2","at":"2025-06-05T10:00:00.000Z","amount":12.5}}'
	assert_equal "$(jq -r '.profile.scores.rfm.segment | type' <<< "$output")" string
	assert_equal "$(jq -r '.profile.provenance.email.source' <<< "$output")" identify
}

@test "jrn-merge: a merged-away id reads the profile it was merged into; events pass through with it" {
	state
	ev page.viewed anon-7 '"id":"p9"' > in.ndjson
	run jrn-merge -q in.ndjson
	assert_success
	assert_equal "$(jq -r '.type, .customerId, .profile.customerId' <<< "$output" | tr '\n' ' ')" "page.viewed anon-7 u-7 "
}

@test "jrn-merge: a record without customerId is rejected, the others go on; exit 3" {
	state
	printf '%s\n' '{"customerId":"c2"}' '{"type":"x"}' '{"customerId":""}' '{"customerId":"a\u0000b"}' '[1]' '{"customerId":5}' '{"customerId":"c9"}' > in.ndjson
	run --separate-stderr jrn-merge --rejects rej.ndjson in.ndjson
	assert_failure 3
	assert_equal "$(jq -r .customerId <<< "$output" | tr '\n' ' ')" "c2 c9 "
	assert_equal "$(jq -r .error rej.ndjson | tr '\n' '|')" \
		"customerId: missing|customerId: empty|customerId: control character U+0000 at byte 2|not a JSON object (got an array)|customerId: expected a string, got a number|"
	assert_regex "$stderr" "in.ndjson:2: customerId: missing"
}

@test "jrn-merge: a record with a profile already gets it replaced" {
	state
	echo '{"customerId":"c2","profile":{"old":true}}' | jrn-merge -q > out
	assert_equal "$(jq -c '.profile.old, .profile.customerId' out | tr '\n' ' ')" 'null "c2" '
}

@test "jrn-merge --all: one record per customer, in id order, merged ids folded in" {
	state
	run --separate-stderr jrn-merge --all
	assert_success
	assert_equal "$(jq -r .customerId <<< "$output" | tr '\n' ' ')" "c2 u-7 "
	assert_equal "$(jq -c '.profile.summary.events, .profile.summary.orders, .profile.segments' <<< "$output" | tr '\n' ' ')" \
		'1 0 [] 6 2 ["new","vip"] '
	# the same profile as a record of that customer
	a=$(jq -c '.profile | del(.customerId)' <<< "${lines[1]}")
	b=$(echo '{"customerId":"u-7"}' | jrn-merge -q | jq -c '.profile | del(.customerId)')
	assert_equal "$a" "$b"
	run jrn-merge --all in.ndjson
	assert_failure 2
}

@test "jrn-merge: file sources (NDJSON and CSV keyed by a column), precedence, --save, --dry-run" {
	state
	printf '%s\n' '{"customerId":"u-7","email":"crm@example.org","tier":"gold"}' '{"customerId":"c2","name":"Cee"}' > crm.ndjson
	printf 'cust,item,total\nu-7,"Shoe, red",30\nu-7,Hat,12.5\nc9,Sock,1\n' > purchases.csv
	cat > jrn.yaml <<'Y'
sources:
  precedence: [crm]
  historyLimit: 1
  list:
    - {name: crm, type: file, path: crm.ndjson}
    - {name: purchases, type: file, path: purchases.csv, key: cust, unify: false}
Y
	echo '{"customerId":"u-7"}' > in.ndjson
	run --separate-stderr jrn-merge in.ndjson
	assert_success
	assert_equal "$(jq -c .profile.sources <<< "$output")" \
		'{"crm":{"customerId":"u-7","email":"crm@example.org","tier":"gold"},"purchases":[{"cust":"u-7","item":"Shoe, red","total":"30"}]}'
	# crm is first in precedence: its address wins over the newer identify
	assert_equal "$(jq -r '.profile.email, .profile.provenance.email.source, .profile.traits.tier' <<< "$output" | tr '\n' ' ')" \
		"crm@example.org crm gold "
	assert_equal "$(jq -c .profile.changed <<< "$output")" '["email","traits.tier"]'
	# nothing stored without --save, nor with --dry-run
	assert_equal "$(rows "SELECT email FROM profiles WHERE customer_id = 'u-7'")" vi@example.org
	run --separate-stderr jrn-merge --save --dry-run in.ndjson
	assert_success
	assert_regex "$stderr" "1 changed by sources \(dry run, nothing saved\)"
	assert_equal "$(rows "SELECT email FROM profiles WHERE customer_id = 'u-7'")" vi@example.org
	run --separate-stderr jrn-merge --save --source crm in.ndjson
	assert_success
	assert_equal "$(rows "SELECT email || ' ' || (provenance ->> '\$.email.source') FROM profiles WHERE customer_id = 'u-7'")" "crm@example.org crm"
	assert_equal "$(jq -c .profile.sources <<< "$output")" '{"crm":{"customerId":"u-7","email":"crm@example.org","tier":"gold"}}'
	# saved: a second run changes nothing
	run --separate-stderr jrn-merge --save --source crm in.ndjson
	assert_equal "$(jq -c .profile.changed <<< "$output")" null
}

@test "jrn-merge: a file source's byte-order mark is dropped (a spreadsheet's CSV UTF-8); a CSV row of another width is an error at its line" {
	printf '\xef\xbb\xbfid,email,tier\r\nc42,ann@crm.example.com,gold\r\n' > crm.csv
	printf '\xef\xbb\xbf{"id":"c43","tier":"silver"}\n' > crm.ndjson
	printf 'sources:\n  list:\n    - {name: crm, type: file, path: crm.csv, key: id}\n    - {name: more, type: file, path: crm.ndjson, key: id}\n' > jrn.yaml
	run --separate-stderr jrn-merge <<< $'{"customerId":"c42"}\n{"customerId":"c43"}'
	assert_success
	assert_equal "$(jq -c '[.profile.email, .profile.traits.tier]' <<< "$output" | tr '\n' ' ')" \
		'["ann@crm.example.com","gold"] [null,"silver"] '
	# RFC 4180 2.4: each row as many fields as the header, else said (a
	# short row, or one with a comma too many, was read silently)
	printf 'id,email,tier\nc42,a@example.com,gold\nc44\n' > crm.csv
	run --separate-stderr jrn-merge <<< '{"customerId":"c42"}'
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:7: sources.list[0] (crm): crm.csv:3: 1 field, the header names 3"
	printf 'id,email,tier\nc42,a@example.com,gold,x\n' > crm.csv
	run --separate-stderr jrn-merge <<< '{"customerId":"c42"}'
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:7: sources.list[0] (crm): crm.csv:2: 4 fields, the header names 3"
}

@test "jrn-merge: bad sources are said at once, exit 1; --source and --require name known sources" {
	state
	printf 'sources:\n  list:\n    - {name: x, type: ftp}\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:23: sources.list[0].type: unknown type 'ftp' (file, http)"
	# a key of the other type is an error, not ignored
	printf 'sources:\n  list:\n    - {name: x, type: file, path: in.csv, cacheTtl: 1h}\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:43: sources.list[0].cacheTtl: only http sources read it (this one is of type file)"
	printf 'sources:\n  list:\n    - name: x\n      type: http\n      url: "http://127.0.0.1:9/{customerId}"\n      format: csv\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:6:7: sources.list[0].format: only file sources read it (this one is of type http)"
	printf 'sources:\n  list:\n    - {name: x, type: file, path: nope.csv}\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:7: sources.list[0] (x): nope.csv: No such file or directory"
	printf '{"customerId":"a"}\nnot json\n' > bad.ndjson
	printf 'sources:\n  list:\n    - {name: x, type: file, path: bad.ndjson}\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:7: sources.list[0] (x): bad.ndjson:2: not a JSON object"
	printf 'sources:\n  list:\n    - {name: x, type: file, path: in.csv}\n' > jrn.yaml
	printf 'customerId\na\n' > in.csv
	run --separate-stderr jrn-merge --source y < /dev/null
	assert_failure 2 # the flag's value names nothing: a usage error, as --require's
	assert_equal "$stderr" "jrn-merge: --source y: no such source in sources.list"
	run --separate-stderr jrn-merge --require y < /dev/null
	assert_failure 2
	assert_equal "$stderr" "jrn-merge: --require y: no such source in use"
	printf 'sources:\n  nope: 1\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:2:3: sources: unknown key 'nope' (precedence, sharedLimit, historyLimit, parallel, list)"
	printf 'sources:\n  list:\n    - {name: x, type: file, pth: a}\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:3:29: sources.list[0]: unknown key 'pth' (did you mean path?)"
	printf 'sources:\n  histroyLimit: 5\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:2:3: sources: unknown key 'histroyLimit' (did you mean historyLimit?)"
	printf 'sources:\n  historyLimit: 0\n' > jrn.yaml
	run --separate-stderr jrn-merge < /dev/null
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: jrn.yaml:2:17: sources.historyLimit: expected an integer from 1 to 1000000"
}

@test "jrn-merge --unmerge ID: the two customers are apart again, and not merged again by the same value" {
	state
	assert_equal "$(rows "SELECT id, from_id, into_id FROM merges")" "1|anon-7|u-7"
	run --separate-stderr jrn-merge --unmerge 1 --dry-run
	assert_success
	assert_equal "$stderr" "jrn-merge: merge 1 would be undone (dry run)"
	assert_equal "$(rows "SELECT count(*) FROM merges WHERE undone_at IS NULL")" 1
	run --separate-stderr jrn-merge --unmerge 1
	assert_success
	assert_equal "$(rows "SELECT undone_at FROM merges")" 1767225600000
	assert_equal "$(echo '{"customerId":"anon-7"}' | jrn-merge -q | jq -c '.profile | [.customerId, .traits, .summary.events]')" \
		'["anon-7",{"plan":"trial"},3]'
	ev identify u-7 '"traits":{"email":"vi@example.org"}' | jrn-ingest -q --store-only
	assert_equal "$(rows "SELECT count(*) FROM merges")" 1
	run --separate-stderr jrn-merge --unmerge 1
	assert_failure 1
	assert_equal "$stderr" "jrn-merge: merge 1: undone already"
	run jrn-merge --unmerge x
	assert_failure 2
}

@test "jrn-merge: memory is flat in the number of input records" {
	state
	command -v /usr/bin/time > /dev/null || skip "no /usr/bin/time"
	[ -z "${JRN_SANITIZED:-}" ] || skip "sanitized build: memory is not the program's"
	for n in 2000 40000; do
		awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) printf "{\"customerId\":\"u-%d\",\"n\":%d}\n", i % 50, i }' > in-$n.ndjson
	done
	small=$(/usr/bin/time -f %M jrn-merge -q in-2000.ndjson 2>&1 > /dev/null | tail -1)
	big=$(/usr/bin/time -f %M jrn-merge -q in-40000.ndjson 2>&1 > /dev/null | tail -1)
	echo "# $small KB at 2000, $big KB at 40000" >&3
	[ "$big" -lt $((small * 3 / 2)) ]
	assert_equal "$(jrn-merge -q in-40000.ndjson | wc -l)" 40000
}

@test "jrn-merge: completion, --help and --version" {
	run bash -c '. "$1"/jrn-merge.bash; COMP_WORDS=(jrn-merge --un); COMP_CWORD=1; _jrn_merge; printf "%s\n" "${COMPREPLY[@]}"' _ "$BATS_TEST_DIRNAME/../completions"
	assert_output --unmerge
	run jrn-merge --help
	assert_success
	assert_line --partial "--unmerge ID"
	run jrn-merge --version
	assert_output "jrn-merge 0.1.0"
	run jrn help merge
	assert_success
	assert_line --partial "usage: jrn-merge"
}

@test "jrn-merge --all writes what each customer's record would get (generated events, merges)" {
	"$JRN_GEN" -n 20000 > g.ndjson
	{ cat g.ndjson; visitor; } | jrn-ingest -q --store-only
	jrn-score rfm --save -q > /dev/null
	jrn-merge -q --all > all.ndjson
	jq -c '{customerId}' all.ndjson | jrn-merge -q > each.ndjson
	cmp all.ndjson each.ndjson
	assert_equal "$(wc -l < all.ndjson)" "$(( $(rows 'SELECT count(DISTINCT customer_id) FROM events') - 1 ))"
}
