#!/usr/bin/env bats
# jrn-ingest's side of issue 9 (the pipeline contract): what it stores is
# what the nightly models and the shipped rules read (fault 6 at ingest,
# fault 7), and its voice and flags (fault 9).

load helpers

# order ID AMOUNT-JSON: an order.completed of c1 with properties.amount
order() {
	printf '{"id":"%s","type":"order.completed","customerId":"c1","timestamp":"2025-12-01T00:00:00Z","properties":{"amount":%s}}\n' "$1" "$2"
}

# ---- fault 6: numeric strings are coerced, other amounts rejected ----------

@test "fault 6: \"amount\":\"19.99\" is stored as the number 19.99, and rfm and clv exit 0" {
	order o1 '"19.99"' > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_success
	assert_output '{"id":"o1","type":"order.completed","customerId":"c1","timestamp":"2025-12-01T00:00:00.000Z","properties":{"amount":19.99}}'
	assert_equal "$stderr" "jrn-ingest: 1 stored, 0 duplicate, 0 rejected"
	assert_equal "$(rows "SELECT typeof(amount), amount, json_extract(body, '\$.properties.amount') FROM events")" "real|19.99|19.99"
	run --separate-stderr jrn-score rfm < /dev/null
	assert_success
	assert_output --partial '"monetary":19.99'
	run --separate-stderr jrn-score clv < /dev/null
	assert_success
	refute_output --partial 'without a numeric amount'
}

@test "fault 6: \"1,99\" and \"abc\" are rejected with the field named, and not stored" {
	{
		order o1 '"1,99"'
		order o2 '"abc"'
		order o3 '" 42.5 "'
	} > in.ndjson
	run --separate-stderr jrn-ingest --rejects rej.ndjson in.ndjson
	assert_equal "$status" 3
	assert_equal "${stderr_lines[0]}" "jrn-ingest: in.ndjson:1: properties.amount: '1,99' is not a number (write it as 19.99)"
	assert_equal "${stderr_lines[1]}" "jrn-ingest: in.ndjson:2: properties.amount: 'abc' is not a number (write it as 19.99)"
	assert_equal "$(rows 'SELECT id, amount FROM events')" "o3|42.5"
	assert_equal "$(jq -r .error rej.ndjson | cut -d: -f1 | sort -u)" "properties.amount"
	run jrn-score rfm < /dev/null
	assert_success
}

@test "fault 6: strict JSON number syntax; every amount field; an order needs one" {
	for bad in '"+5"' '".5"' '"5."' '"0x10"' '"1e999"' '""' '"1 000"' '"NaN"' 'true' '{"v":1}' '[1]'; do
		order x "$bad" | jrn-ingest -q > /dev/null && { echo "stored: $bad"; return 1; }
	done
	for f in total revenue value; do
		printf '{"id":"%s","type":"cart.added","customerId":"c1","timestamp":"2025-12-01T00:00:00Z","properties":{"%s":"x"}}\n' "$f" "$f" > in.ndjson
		run --separate-stderr jrn-ingest in.ndjson
		assert_equal "$status" 3
		assert_equal "${stderr_lines[0]}" "jrn-ingest: in.ndjson:1: properties.$f: 'x' is not a number (write it as 19.99)"
	done
	printf '%s\n' '{"id":"n1","type":"order.completed","customerId":"c1","timestamp":"2025-12-01T00:00:00Z"}' \
		'{"id":"n2","type":"order.refunded","customerId":"c1","timestamp":"2025-12-01T00:00:00Z","properties":{"amount":null}}' > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_equal "$status" 3
	assert_equal "${stderr_lines[0]}" "jrn-ingest: in.ndjson:1: properties.amount: order.completed needs a number here (or in total, revenue or value)"
	assert_equal "${stderr_lines[1]}" "jrn-ingest: in.ndjson:2: properties.amount: order.refunded needs a number here (or in total, revenue or value)"
	order ok '"-0.5e1"' | jrn-ingest -q > /dev/null
	assert_equal "$(rows 'SELECT amount FROM events')" "-5.0"
	# other events need no amount, and a null one is as if absent
	printf '{"id":"p","type":"page.viewed","customerId":"c1","timestamp":"2025-12-01T00:00:00Z","properties":{"value":null}}\n' |
		jrn-ingest -q > /dev/null
	assert_equal "$(rows "SELECT amount IS NULL FROM events WHERE id = 'p'")" 1
}

# ---- fault 7: Segment's names, one amount, Segment's times -------------------

@test "fault 7: Segment e-commerce v2 names become the names the models read" {
	for n in 'Order Completed' 'Product Added' 'Cart Viewed' 'Checkout Started' 'Order Refunded' \
		'Product Viewed' 'Products Searched' 'Product Removed' 'Order Cancelled' 'Coupon Applied'; do
		printf '{"type":"track","event":"%s","userId":"u1","timestamp":"2025-12-01T00:00:00Z","properties":{"total":1}}\n' "$n"
	done > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(jq -r .type <<< "$output" | paste -sd ' ')" \
		"order.completed cart.added cart.viewed checkout.started order.refunded product.viewed products.searched cart.removed order.cancelled coupon.applied"
	# the original name stays in event
	assert_equal "$(jq -r .event <<< "$output" | head -1)" "Order Completed"
	# as a type too, and on the fast path and the jv path alike
	printf '{"id":"t1","type":"Order Completed","customerId":"c2","timestamp":"2025-12-01T00:00:00Z","properties":{"revenue":"12"}}\n' > t.ndjson
	run jrn-ingest -q t.ndjson
	assert_output '{"id":"t1","type":"order.completed","customerId":"c2","timestamp":"2025-12-01T00:00:00.000Z","properties":{"revenue":12,"amount":12}}'
	rm -f jrn.db*
	JRN_INGEST_JV=1 run jrn-ingest -q t.ndjson
	assert_output '{"id":"t1","type":"order.completed","customerId":"c2","timestamp":"2025-12-01T00:00:00.000Z","properties":{"revenue":12,"amount":12}}'
}

@test "fault 7: a Segment Order Completed feed reaches RFM, CLV and engaged_buyers" {
	printf '%s\n' \
		'{"type":"track","event":"Order Completed","userId":"u1","messageId":"m1","timestamp":"2025-12-01T00:00:00Z","properties":{"order_id":"o1","total":60}}' \
		'{"type":"track","event":"Order Completed","userId":"u1","messageId":"m2","timestamp":"2025-12-02T00:00:00Z","properties":{"order_id":"o2","revenue":"75.5"}}' \
		'{"type":"track","event":"Order Completed","userId":"u2","messageId":"m3","timestamp":"2025-12-02T00:00:00Z","properties":{"order_id":"o3","value":80}}' > in.ndjson
	jrn-ingest -q in.ndjson > /dev/null
	# one normalised amount: the column and properties.amount agree
	assert_equal "$(rows "SELECT id, type, amount, json_extract(body, '\$.properties.amount') FROM events ORDER BY seq" | paste -sd ' ')" \
		"m1|order.completed|60.0|60 m2|order.completed|75.5|75.5 m3|order.completed|80.0|80"
	run --separate-stderr jrn-score rfm < /dev/null
	assert_success
	assert_line --partial '"customerId":"u1","rfm":{"recency":30,"frequency":2,"monetary":135.5'
	run --separate-stderr jrn-score clv < /dev/null
	assert_success
	# the shipped engaged_buyers rule reads properties.amount: two orders of 50 or more
	run --separate-stderr jrn-segment --only engaged_buyers <<< $'{"customerId":"u1"}\n{"customerId":"u2"}'
	assert_success
	assert_output '{"customerId":"u1"}'
}

@test "fault 7: page and screen calls are page.viewed, and earn the shipped lead points" {
	printf '%s\n' \
		'{"type":"page","name":"Pricing","userId":"u1","messageId":"m1","timestamp":"2025-12-30T00:00:00Z","properties":{"path":"/pricing"}}' \
		'{"type":"screen","name":"Home","userId":"u1","messageId":"m2","timestamp":"2025-12-30T00:00:00Z"}' > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(jq -r .type <<< "$output" | paste -sd ' ')" "page.viewed page.viewed"
	run --separate-stderr jrn-score lead <<< '{"customerId":"u1"}'
	assert_success
	assert_output '{"customerId":"u1","lead":{"score":2,"behavioral":2,"demographic":0,"firmographic":0,"grade":"cold"}}'
}

@test "fault 7: ingest.typeMap adds, overrides and removes rows; a bad value is an error" {
	cat > jrn.yaml <<'Y'
ingest:
  typeMap:
    Product Added: product.added
    Signed Up: user.signup
    screen: null
Y
	printf '%s\n' \
		'{"type":"track","event":"Product Added","userId":"u1","timestamp":"2025-12-01T00:00:00Z"}' \
		'{"type":"track","event":"Signed Up","userId":"u1","timestamp":"2025-12-01T00:00:00Z"}' \
		'{"type":"screen","userId":"u1","timestamp":"2025-12-01T00:00:00Z"}' \
		'{"type":"track","event":"Cart Viewed","userId":"u1","timestamp":"2025-12-01T00:00:00Z"}' > in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(jq -r .type <<< "$output" | paste -sd ' ')" "product.added user.signup screen cart.viewed"
	printf 'ingest:\n  typeMap:\n    Product Added: 3\n' > jrn.yaml
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: jrn.yaml: ingest.typeMap.Product Added: expected a non-empty event type or null, got a number"
	printf 'ingest:\n  typeMap: [a]\n' > jrn.yaml
	run --separate-stderr jrn-ingest in.ndjson
	assert_failure 1
	[[ "$stderr" == *"ingest.typeMap: expected a mapping"* ]]
}

@test "fault 7: no timestamp: receivedAt - (sentAt - originalTimestamp), receivedAt kept" {
	printf '%s\n' '{"type":"track","event":"order.completed","userId":"u1","messageId":"m-11","originalTimestamp":"2026-03-01T09:59:58.000Z","sentAt":"2026-03-01T10:00:00.000Z","receivedAt":"2026-03-01T10:00:01.000Z","properties":{"amount":10}}' > in.ndjson
	run jrn-ingest -q --now 2026-03-05T00:00:00Z in.ndjson
	assert_success
	assert_equal "$(jq -r '[.timestamp, .receivedAt, .originalTimestamp, .sentAt] | join(" ")' <<< "$output")" \
		"2026-03-01T09:59:59.000Z 2026-03-01T10:00:01.000Z 2026-03-01T09:59:58.000Z 2026-03-01T10:00:00.000Z"
	assert_equal "$(rows "SELECT ts, json_extract(body, '\$.receivedAt') FROM events")" "1772359199000|2026-03-01T10:00:01.000Z"
	# the same line again: the same event
	run --separate-stderr jrn-ingest --now 2026-03-06T00:00:00Z in.ndjson
	assert_equal "$stderr" "jrn-ingest: 0 stored, 1 duplicate, 0 rejected"
}

@test "fault 7: originalTimestamp alone, receivedAt alone, and bad Segment times" {
	printf '%s\n' \
		'{"id":"a","type":"x","customerId":"c","originalTimestamp":"2026-03-01T11:00:00+01:00"}' \
		'{"id":"b","type":"x","customerId":"c","receivedAt":"2026-03-01T10:00:01Z"}' \
		'{"id":"c","type":"x","customerId":"c","originalTimestamp":"2026-03-01T10:00:00Z","sentAt":"soon","receivedAt":"2026-03-01T10:00:01Z"}' \
		'{"id":"d","type":"x","customerId":"c","receivedAt":5}' > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_equal "$status" 3
	assert_equal "$(jq -r .timestamp <<< "$output" | paste -sd ' ')" "2026-03-01T10:00:00.000Z 2026-03-01T10:00:01.000Z"
	[[ "${stderr_lines[0]}" == "jrn-ingest: in.ndjson:3: sentAt: "* ]]
	assert_equal "${stderr_lines[1]}" "jrn-ingest: in.ndjson:4: receivedAt: expected an RFC 3339 string, got a number"
}

# ---- fault 9: voice and flags -------------------------------------------------

@test "fault 9: a summary line by default, nothing under -q, -v names the state file, config and inputs" {
	order o1 5 > in.ndjson
	run --separate-stderr jrn-ingest in.ndjson
	assert_success
	assert_equal "$stderr" "jrn-ingest: 1 stored, 0 duplicate, 0 rejected"
	run --separate-stderr jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$stderr" ""
	printf 'db:\n  path: other.db\n' > jrn.yaml
	run --separate-stderr jrn-ingest -v in.ndjson - < in.ndjson
	assert_success
	assert_equal "${stderr_lines[0]}" "jrn-ingest: state file: other.db"
	assert_equal "${stderr_lines[1]}" "jrn-ingest: config: jrn.yaml"
	assert_equal "${stderr_lines[2]}" "jrn-ingest: inputs: in.ndjson, stdin"
	assert_equal "${stderr_lines[3]}" "jrn-ingest: 1 stored, 1 duplicate, 0 rejected"
	run --separate-stderr jrn-ingest -v --dry-run < in.ndjson
	assert_equal "${stderr_lines[0]}" "jrn-ingest: state file: (none: dry run)"
	assert_equal "${stderr_lines[2]}" "jrn-ingest: inputs: stdin"
	assert_equal "${stderr_lines[3]}" "jrn-ingest: 1 valid, 0 rejected (dry run, nothing saved)"
}

@test "fault 9: a bad flag value is exit 2" {
	run --separate-stderr jrn-ingest --batch-size 0 < /dev/null
	assert_failure 2
	run --separate-stderr jrn-ingest --country USA < /dev/null
	assert_failure 2
	run --separate-stderr jrn-ingest --now yesterday < /dev/null
	[[ "$stderr" == "jrn-ingest: --now/JRN_NOW 'yesterday': "* ]]
	[ "$status" -eq 2 ]
	assert_equal "$status" 2
}
