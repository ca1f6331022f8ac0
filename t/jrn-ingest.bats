#!/usr/bin/env bats
# jrn-ingest: events in, checked, normalised, stored once.

load helpers

@test "stores events and writes them to stdout" {
	ev page.viewed c1 > in.ndjson
	ev order.completed c2 '"id":"o-1","properties":{"amount":12.5}' >> in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "$stderr" "jrn-ingest: 2 stored, 0 duplicate, 0 rejected"
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
	assert_equal "$(rows "SELECT amount FROM events WHERE id = 'o-1'")" 12.5
	assert_equal "$(rows "SELECT ts FROM events WHERE id = 'o-1'")" 1748779200000
}

@test "reads stdin, and '-' names stdin" {
	ev a c1 | jrn-ingest -q > out1
	ev b c1 | jrn-ingest -q - > out2
	assert_equal "$(wc -l < out1)" 1
	assert_equal "$(wc -l < out2)" 1
	assert_equal "$(rows 'SELECT count(*) FROM events')" 2
}

@test "an unchanged record passes through byte for byte" {
	line='{"id":"x1","type":"t","customerId":"c","timestamp":"2025-01-01T00:00:00.000Z","properties":{"big":12345678901234567890,"s":"caf\u00e9"}}'
	echo "$line" > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_output "$line"
	assert_equal "$(rows 'SELECT body FROM events')" "$line"
}

@test "re-ingesting the same file stores nothing new" {
	"$JRN_GEN" -n 500 > in.ndjson
	jrn-ingest -q in.ndjson > /dev/null
	run --separate-stderr jrn-ingest in.ndjson
	assert_success
	assert_output ""
	assert_equal "$stderr" "jrn-ingest: 0 stored, 500 duplicate, 0 rejected"
	assert_equal "$(rows 'SELECT count(*) FROM events')" 500
}

@test "--all also writes duplicates" {
	ev a c1 '"id":"d1"' > in.ndjson
	jrn-ingest -q in.ndjson > /dev/null
	run jrn-ingest -q --all in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 1
}

@test "no id: derived from the canonical record, so the same line is a duplicate" {
	printf '{"type":"a","customerId":"c1","timestamp":"2025-01-01T00:00:00Z","properties":{"x":1,"y":2}}\n' > a.ndjson
	# the same record with keys in another order and the time in another zone
	printf '{"properties":{"y":2,"x":1},"timestamp":"2025-01-01T01:00:00+01:00","customerId":"c1","type":"a"}\n' > b.ndjson
	run jrn-ingest -q a.ndjson
	assert_output --regexp '"id":"evt_[0-9a-f]{32}"'
	run --separate-stderr jrn-ingest b.ndjson
	assert_equal "$stderr" "jrn-ingest: 0 stored, 1 duplicate, 0 rejected"
}

@test "no timestamp: now, noted in receivedAt; re-ingest is still a no-op" {
	printf '{"type":"a","customerId":"c1"}\n' > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_output --partial '"timestamp":"2026-01-01T00:00:00.000Z"'
	assert_output --partial '"receivedAt":"2026-01-01T00:00:00.000Z"'
	JRN_NOW=2026-02-01T00:00:00Z run --separate-stderr jrn-ingest in.ndjson
	assert_equal "$stderr" "jrn-ingest: 0 stored, 1 duplicate, 0 rejected"
}

@test "timestamps are normalised to UTC with milliseconds" {
	ev a c1 | sed 's/2025-06-01T12:00:00.000Z/2025-06-01T14:30:00.123456+02:30/' > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_output --partial '"timestamp":"2025-06-01T12:00:00.123Z"'
}

@test "Segment track and identify calls map to the event shape" {
	cat > in.ndjson <<'J'
{"type":"track","event":"Order Completed","userId":"u1","messageId":"m1","timestamp":"2025-01-01T00:00:00Z","properties":{"total":30}}
{"type":"identify","anonymousId":"anon-7","messageId":"m2","timestamp":"2025-01-01T00:00:00Z","traits":{"email":" Ann@Example.COM "}}
J
	run jrn-ingest -q in.ndjson
	assert_success
	assert_line --index 0 --partial '"type":"order.completed","event":"Order Completed"'
	assert_line --index 0 --partial '"id":"m1"'
	assert_line --index 0 --partial '"customerId":"u1"'
	assert_line --index 1 --partial '"type":"identify"'
	assert_line --index 1 --partial '"customerId":"anon-7"'
	assert_line --index 1 --partial '"email":"ann@example.com"'
	assert_equal "$(rows "SELECT amount FROM events WHERE id='m1'")" 30.0
}

@test "e-mail and phone fields are normalised" {
	ev signup c1 '"properties":{"email":"  Bob.Smith+news@Example.com ","phone":"(650) 253-0000","workPhone":"+44 20 7031 3000"},"recipientEmail":"X@Y.ORG"' > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_output --partial '"email":"bob.smith+news@example.com"'
	assert_output --partial '"phone":"+16502530000"'
	assert_output --partial '"workPhone":"+442070313000"'
	assert_output --partial '"recipientEmail":"x@y.org"'
}

@test "the default country comes from --country and the config" {
	ev signup c1 '"properties":{"phone":"020 7031 3000"}' > in.ndjson
	run jrn-ingest -q --dry-run --country GB in.ndjson
	assert_output --partial '"phone":"+442070313000"'
	printf 'ingest:\n  defaultCountry: GB\n' > jrn.yaml
	run jrn-ingest -q --dry-run in.ndjson
	assert_output --partial '"phone":"+442070313000"'
}

@test "bad e-mail and phone are rejected naming the field" {
	ev a c1 '"properties":{"email":"not-an-address"}' > in.ndjson
	ev b c1 '"phone":"12"' >> in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_equal "${stderr_lines[0]%%:*}" "jrn-ingest"
	assert_regex "${stderr_lines[0]}" '^jrn-ingest: in.ndjson:1: properties.email: '
	assert_regex "${stderr_lines[1]}" '^jrn-ingest: in.ndjson:2: phone: '
}

@test "validation: each failure names the field" {
	cat > in.ndjson <<'J'
{"customerId":"c1","timestamp":"2025-01-01T00:00:00Z"}
{"type":"","customerId":"c1"}
{"type":"a","timestamp":"2025-01-01T00:00:00Z"}
{"type":"a","customerId":42}
{"type":"a","customerId":"c1","timestamp":"2025-13-01T00:00:00Z"}
{"type":"a","customerId":"c1","timestamp":1700000000}
{"type":"a","customerId":"c1","properties":[1,2]}
{"type":"consent.granted","customerId":"c1"}
{"type":"a","customerId":"c1","id":7}
J
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 3
	assert_output ""
	assert_regex "${stderr_lines[0]}" 'in.ndjson:1: type: missing'
	assert_regex "${stderr_lines[1]}" 'in.ndjson:2: type: expected a non-empty string'
	assert_regex "${stderr_lines[2]}" 'in.ndjson:3: customerId: missing'
	assert_regex "${stderr_lines[3]}" 'in.ndjson:4: customerId: expected a non-empty string'
	assert_regex "${stderr_lines[4]}" 'in.ndjson:5: timestamp: .*month'
	assert_regex "${stderr_lines[5]}" 'in.ndjson:6: timestamp: expected an RFC 3339 string, got a number'
	assert_regex "${stderr_lines[6]}" 'in.ndjson:7: properties: expected an object, got an array'
	assert_regex "${stderr_lines[7]}" 'in.ndjson:8: properties.channel: consent events need a channel'
	assert_regex "${stderr_lines[8]}" 'in.ndjson:9: id: expected a non-empty string'
	assert_equal "${stderr_lines[9]}" "jrn-ingest: 0 stored, 0 duplicate, 9 rejected"
}

@test "consent events update the consent table, newest wins" {
	ev consent.granted c1 '"id":"k1","properties":{"channel":"email","source":"form"}' > in.ndjson
	ev consent.revoked c1 '"id":"k2","properties":{"channel":"sms"}' >> in.ndjson
	jrn-ingest -q --store-only in.ndjson
	assert_equal "$(rows "SELECT channel, status, source, event_id FROM consent ORDER BY channel")" \
		"$(printf 'email|granted|form|k1\nsms|revoked|ingest|k2')"
	# an older revocation does not override the newer grant
	printf '{"id":"k0","type":"consent.revoked","customerId":"c1","timestamp":"2024-01-01T00:00:00Z","properties":{"channel":"email"}}\n' | jrn-ingest -q --store-only
	assert_equal "$(rows "SELECT status FROM consent WHERE channel='email'")" granted
	printf '{"id":"k3","type":"consent.revoked","customerId":"c1","timestamp":"2025-07-01T00:00:00Z","properties":{"channel":"email"}}\n' | jrn-ingest -q --store-only
	assert_equal "$(rows "SELECT status, event_id FROM consent WHERE channel='email'")" "revoked|k3"
}

@test "--store-only writes nothing; --dry-run stores nothing" {
	ev a c1 > in.ndjson
	run jrn-ingest -q --dry-run in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 1
	[ ! -e jrn.db ]
	run jrn-ingest -q --store-only in.ndjson
	assert_success
	assert_output ""
	assert_equal "$(rows 'SELECT count(*) FROM events')" 1
	run jrn-ingest --store-only --dry-run in.ndjson
	assert_failure 2
}

@test "--db, JRN_DB and db.path in the config, in that order" {
	ev a c1 > in.ndjson
	mkdir sub
	printf 'db:\n  path: from-config.db\n' > sub/jrn.yaml
	jrn-ingest -q --store-only --config sub/jrn.yaml in.ndjson
	[ -e sub/from-config.db ]
	JRN_DB=env.db jrn-ingest -q --store-only --config sub/jrn.yaml in.ndjson
	[ -e env.db ]
	JRN_DB=env.db jrn-ingest -q --store-only --db flag.db --config sub/jrn.yaml in.ndjson
	[ -e flag.db ]
}

@test "blank lines, CRLF and a BOM are tolerated" {
	printf '\xef\xbb\xbf{"type":"a","customerId":"c1","id":"1","timestamp":"2025-01-01T00:00:00.000Z"}\r\n\r\n   \n{"type":"a","customerId":"c1","id":"2","timestamp":"2025-01-01T00:00:00.000Z"}' > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 '{"type":"a","customerId":"c1","id":"1","timestamp":"2025-01-01T00:00:00.000Z"}'
}

@test "streams: a pause in the input flushes what is pending" {
	mkfifo fifo
	( ev a c1; sleep 5; ev b c1 ) > fifo &
	jrn-ingest -q < fifo > out &
	pid=$!
	sleep 2
	assert_equal "$(wc -l < out)" 1
	wait $pid
	assert_equal "$(wc -l < out)" 2
}

@test "two writers at once: both succeed, nothing lost" {
	"$JRN_GEN" -n 20000 -s 1 > a.ndjson
	"$JRN_GEN" -n 20000 -s 2 | sed 's/"id":"e/"id":"f/' > b.ndjson
	jrn-ingest -q --batch-size 500 --store-only a.ndjson & p1=$!
	jrn-ingest -q --batch-size 500 --store-only b.ndjson & p2=$!
	wait $p1; s1=$?
	wait $p2; s2=$?
	assert_equal "$s1 $s2" "0 0"
	assert_equal "$(rows 'SELECT count(*) FROM events')" 40000
}

@test "--help, --version and an unknown option" {
	run jrn-ingest --help
	assert_success
	assert_line --index 0 --partial 'usage: jrn-ingest'
	run jrn-ingest --version
	assert_success
	assert_output --regexp '^jrn-ingest [0-9]+\.[0-9]+\.[0-9]+$'
	run --separate-stderr jrn-ingest --bogus
	assert_failure 2
	assert_output ""
	assert_regex "$stderr" "unrecognized option"
}

@test "the fast path and the jv path give the same records" {
	"$JRN_GEN" -n 3000 > in.ndjson
	cat >> in.ndjson <<'J'
{"id":"s1","type":"a","customerId":"c","timestamp":"2025-01-01T00:00:00Z","properties":{"email":"A@B.CO","amount":3},"context":{"traits":{"phone":"+1 650 253 0000"}}}
{"id":"s2","type":"a","customerId":"c","timestamp":"2025-01-01T00:00:00.5-05:00","traits":{"workEmail":" X@Y.ORG"},"properties":{"total":1e3}}
{"id":"s3","type":"a","customerId":"c","timestamp":"2025-01-01T00:00:00.000Z","id":"s3b","properties":{"revenue":-0.5}}
{ "id" : "s4" , "type" : "a" , "customerId" : "c\u0041" , "timestamp" : "2025-01-01T00:00:00.000Z" }
J
	jrn-ingest -q --db fast.db in.ndjson | jq -cS . > fast.out
	JRN_INGEST_JV=1 jrn-ingest -q --db slow.db in.ndjson | jq -cS . > slow.out
	run diff fast.out slow.out
	assert_success
	# s3 names "id" twice: rejected on both paths (issue 10, defect 8)
	assert_equal "$(wc -l < fast.out)" 3003
	assert_equal "$(sqlite3 fast.db 'SELECT id, type, customer_id, ts, amount FROM events ORDER BY seq' | md5sum)" \
		"$(sqlite3 slow.db 'SELECT id, type, customer_id, ts, amount FROM events ORDER BY seq' | md5sum)"
}

@test "Segment track calls: the fast path stores the jv path's bytes (bodies, columns, rejects)" {
	cat > in.ndjson <<'J'
{"messageId":"m1","type":"track","event":"Product Viewed","userId":"u1","timestamp":"2026-01-01T00:00:00.000Z","properties":{"sku":"k1","n":12,"neg":-3,"z":0,"b":true,"x":null,"a":[1,{"q":"r s"}]}}
{"messageId":"m2","type":"track","event":"Order Completed","userId":"u2","timestamp":"2026-01-01T00:00:00Z","properties":{"amount":19,"email":"  Foo@Example.COM "}}
{"messageId":"m3","type":"track","event":"Signed Up","userId":"u3","timestamp":"2026-01-01T01:00:00+01:00","traits":{"phone":"+44 20 7946 0958"},"context":{"traits":{"email":"A@B.CO"}}}
{"messageId":"m4","type":"track","event":"Order Completed","userId":"u4","timestamp":"2026-01-01T00:00:00.000Z"}
{"messageId":"m5","type":"track","event":"x.y","userId":"u5","timestamp":"2026-01-01T00:00:00.000Z","properties":{"v":1.5}}
{"messageId":"m6", "type":"track","event":"x.y","userId":"u6","timestamp":"2026-01-01T00:00:00.000Z"}
{"messageId":"m7","type":"track","event":"x\/y","userId":"u7","timestamp":"2026-01-01T00:00:00.000Z"}
{"messageId":"m8","type":"track","event":"consent.revoked","userId":"u8","timestamp":"2026-01-01T00:00:00.000Z","properties":{"channel":"email"}}
{"messageId":"m9","type":"track","event":"e","userId":"u9","anonymousId":"a9","timestamp":"2026-01-01T00:00:00.000Z","properties":{"sku":"k","sku":"l"}}
{"messageId":"m10","type":"track","event":"e","userId":"u10","timestamp":"2026-01-01T00:00:00.000Z","properties":{"big":12345678901234567890,"e":1e2,"total":"5"}}
{"messageId":"m11","type":"track","event":"Page Viewed","userId":"u11","timestamp":"2026-01-01T00:00:00.000Z","properties":{"path":"/é/ü"}}
{"messageId":"m12","type":"track","event":"e","userId":"","timestamp":"2026-01-01T00:00:00.000Z"}
{"messageId":"m13","type":"track","event":"e","userId":"u13","customerId":"c13","timestamp":"2026-01-01T00:00:00.000Z"}
{"type":"track","event":"e","userId":"u14","timestamp":"2026-01-01T00:00:00.000Z"}
{"messageId":"m15","type":"identify","event":"e","userId":"u15","timestamp":"2026-01-01T00:00:00.000Z"}
{"messageId":"m16","type":"track","event":"e","userId":"u16","timestamp":"2026-01-01T00:00:00.000Z","properties":{"amount":-0}}
{"messageId":"m17","type":"track","event":"Order Completed","userId":"u17","timestamp":"2026-01-01T00:00:00.000Z","properties":{"total":7}}
{"messageId":"m18","type":"track","event":"e","userId":"u18","timestamp":"2026-01-01T00:00:00.000Z","properties":{"amount":100000000000000}}
J
	run --separate-stderr jrn-ingest --db fast.db in.ndjson
	assert_failure 3
	fast_out=$output fast_err=$stderr
	JRN_INGEST_JV=1 run --separate-stderr jrn-ingest --db slow.db in.ndjson
	assert_failure 3
	assert_equal "$output" "$fast_out"
	assert_equal "$stderr" "$fast_err"
	assert_regex "$stderr" 'in.ndjson:9: invalid JSON at byte 142: duplicate member name "sku"'
	q='SELECT id, type, customer_id, ts, amount, body FROM events ORDER BY seq'
	assert_equal "$(sqlite3 fast.db "$q" | md5sum)" "$(sqlite3 slow.db "$q" | md5sum)"
	# spliced as jq orders it: type in place, id and customerId appended
	assert_equal "$(sqlite3 fast.db "SELECT body FROM events WHERE id = 'm6'")" \
		'{"messageId":"m6","type":"x.y","event":"x.y","userId":"u6","timestamp":"2026-01-01T00:00:00.000Z","id":"m6","customerId":"u6"}'
	assert_equal "$(sqlite3 fast.db "SELECT type || ' ' || customer_id FROM events WHERE id = 'm1'")" 'product.viewed u1'
	assert_equal "$(sqlite3 fast.db 'SELECT count(*) FROM consent')" 1
}

@test "valgrind: no invalid access and no leak, on both paths" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (make asan checks this)"
	"$JRN_GEN" -n 300 > in.ndjson
	printf '{"type":"track","event":"x","userId":"u","properties":{"email":"A@B.CO","phone":"+44 20 7031 3000"}}\nbad\n{"type":"consent.granted","customerId":"c","properties":{"channel":"sms"}}\n' >> in.ndjson
	vg() { valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }
	run vg "$JRN_BIN/jrn-ingest" -q --rejects rej.ndjson in.ndjson
	assert_failure 3
	JRN_INGEST_JV=1 run vg "$JRN_BIN/jrn-ingest" -q --db jv.db in.ndjson
	assert_failure 3
}
