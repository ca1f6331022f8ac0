#!/usr/bin/env bats
# examples/retail/retail2jrn: the UCI Online Retail invoices (the shipped
# slice, CC BY 4.0, see examples/retail/README.md) as jrn events; the
# figures checked against sums made another way (miller over the CSV).

load helpers

setup() {
	command -v mlr > /dev/null || skip "no mlr (Debian miller)"
	conv=$BATS_TEST_DIRNAME/../examples/retail/retail2jrn
	slice=$BATS_TEST_DIRNAME/../examples/retail/online-retail-2011q4-slice.csv.gz
	cd "$BATS_TEST_TMPDIR"
}

@test "the slice: 871 events of 357 customers, what is kept out counted" {
	run --separate-stderr "$conv" "$slice"
	assert_success
	assert_equal "$stderr" "retail2jrn: 871 invoices as events; kept out: 1 invoices with a total not above zero, 279 lines without a CustomerID"
	printf '%s\n' "$output" > ev.ndjson
	assert_equal "$(wc -l < ev.ndjson)" 871
	# every line one JSON object, ids unique, one customer per invoice
	assert_equal "$(jq -s 'map(.id) | unique | length' ev.ndjson)" 871
	# 358 customers in the slice; one of them (13256) has only the invoice
	# whose total is zero (578841: 12540 x 0.00)
	assert_equal "$(jq -s 'map(.customerId) | unique | length' ev.ndjson)" 357
	# 730 invoices and 142 cancellations with a customer in the CSV, less
	# the one whose total is zero
	assert_equal "$(jq -r .type ev.ndjson | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
		" 729 order.completed; 142 order.refunded;"
	# the slice's own checksum, as its README gives it
	assert_equal "$(gzip -dc "$slice" | sha256sum | cut -d' ' -f1)" \
		ae521ca09da6d56852281050b27bba984483a8616394f9d6ee0118187c91f11c
}

@test "each invoice's amount is the sum of its lines, as miller sums them from the CSV" {
	"$conv" "$slice" > ev.ndjson 2> /dev/null
	# miller: quantity x price per line, summed per invoice, cancellations
	# negated, invoices without a customer left out
	gzip -dc "$slice" | mlr --icsv --ojsonl filter '$CustomerID != ""' \
		then put '$v = $Quantity * $UnitPrice' then stats1 -a sum -f v -g InvoiceNo \
		| jq -r '[(.InvoiceNo | tostring), (if (.InvoiceNo | tostring | startswith("C")) then -.v_sum else .v_sum end)] | "\(.[0]) \(.[1] * 1000 | round)"' \
		| sort > want
	jq -r '"\(.properties.orderId) \(.properties.amount * 1000 | round)"' ev.ndjson | sort > got
	# the one invoice whose total is zero is kept out
	run comm -3 want got
	assert_output --regexp '^[0-9]+ 0$'
	assert_equal "$(wc -l < got)" 871
}

@test "times: the shop's local time in UTC (BST in September, GMT in November)" {
	"$conv" "$slice" > ev.ndjson 2> /dev/null
	# 565093, 2011-09-01 10:38:00 in London (BST, UTC+1)
	assert_equal "$(jq -r 'select(.id == "retail-565093") | .timestamp' ev.ndjson)" 2011-09-01T09:38:00Z
	# C573760, 2011-11-01 09:52:00 in London (GMT): a refund of two lines,
	# -10 and -2 at 1.65: 19.8
	assert_equal "$(jq -c 'select(.id == "retail-C573760") | [.timestamp, .type, .properties.amount, .customerId]' ev.ndjson)" \
		'["2011-11-01T09:52:00Z","order.refunded",19.8,"16648"]'
}

@test "quotes inside a description survive; items keep quantity and price" {
	"$conv" "$slice" > ev.ndjson 2> /dev/null
	assert_equal "$(jq -r 'select(.id == "retail-565665") | .properties.items[] | select(.sku == "85071C") | [.description, .quantity, .unitPrice] | @tsv' ev.ndjson)" \
		"$(printf 'CHARLIE+LOLA"EXTREMELY BUSY" SIGN\t7\t0.39')"
}

@test "ingested: every event stored once, RFM reads the amounts" {
	"$conv" "$slice" > ev.ndjson 2> /dev/null
	run jrn-ingest -q ev.ndjson
	assert_success
	assert_equal "$(sqlite3 jrn.db "SELECT type, count(*), printf('%.2f', total(amount)) FROM events GROUP BY type")" \
		"$(jq -rs 'group_by(.type)[] | "\(.[0].type)|\(length)|\(map(.properties.amount) | add * 100 | round / 100)"' ev.ndjson)"
	run jrn-ingest -q ev.ndjson
	assert_success
	assert_equal "$(sqlite3 jrn.db 'SELECT count(*) FROM events')" 871
}

@test "bad rows are named and make the exit status 1; the good ones are converted" {
	{
		echo 'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country'
		echo '1,A,"ONE, TWO",2,2011-01-10 10:00:00,1.5,100,United Kingdom'
		echo '2,B,THREE,two,2011-01-10 10:00:00,1.5,100,United Kingdom'
		echo '3,C,FOUR,1,2011-01-10 10:00:00,1,5,100,United Kingdom'
		echo '4,D,FIVE,1,2011-01-10 10:00:00,abc,100,United Kingdom'
		echo '5,E,SIX,1,yesterday,1,100,United Kingdom'
	} > bad.csv
	run --separate-stderr "$conv" bad.csv
	assert_failure 1
	assert_equal "$(jq -c '[.id, .properties.amount, .properties.items[0].description]' <<< "$output")" \
		'["retail-1",3,"ONE, TWO"]'
	assert_equal "$stderr" 'retail2jrn: data row 2: Quantity "two" is not a whole number
retail2jrn: data row 3: expected 8 fields, found 9
retail2jrn: data row 4: UnitPrice "abc" is not a number
retail2jrn: data row 5: InvoiceDate is not a time YYYY-MM-DD HH:MM:SS
retail2jrn: 1 invoices as events; kept out: 0 invoices with a total not above zero, 0 lines without a CustomerID'
}

@test "a header alone, or an empty file: no events, exit 0" {
	echo 'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country' > h.csv
	run --separate-stderr "$conv" h.csv
	assert_success
	assert_output ''
	assert_equal "$stderr" "retail2jrn: 0 invoices as events; kept out: 0 invoices with a total not above zero, 0 lines without a CustomerID"
	: > empty.csv
	run --separate-stderr "$conv" empty.csv
	assert_success
	assert_output ''
}

@test "jrn-report cohorts on the slice: the same figures as jq works out from the converted events" {
	"$conv" "$slice" > ev.ndjson 2> /dev/null
	jrn-ingest -q --store-only ev.ndjson
	# jq: each customer's cohort is the month (UTC) of their first order;
	# per cohort and later month: the cohort's size, the customers who
	# ordered that month, and their orders' amounts (in pence, rounded)
	jq -s -r '
	  map(select(.type == "order.completed") | {c: .customerId, m: .timestamp[0:7], a: .properties.amount})
	  | (group_by(.c) | map({key: .[0].c, value: (map(.m) | min)}) | from_entries) as $first
	  | ["2011-09", "2011-10", "2011-11"] as $months
	  | ($first | to_entries | group_by(.value) | map({key: .[0].value, value: length}) | from_entries) as $size
	  | . as $o
	  | $months[] as $c | $months[] as $m | select($m >= $c)
	  | ($o | map(select($first[.c] == $c and .m == $m))) as $x
	  | [$c, ($months | index($m)) - ($months | index($c)), $size[$c],
	     ($x | map(.c) | unique | length), (($x | map(.a) | add // 0) * 100 | round)]
	  | @tsv' ev.ndjson > want
	run jrn-report cohorts --now 2011-12-01T00:00:00Z -q
	assert_success
	jq -r '[.cohort, .period, .customers, .active, (.revenue * 100 | round)] | @tsv' <<< "$output" > got
	assert_equal "$(cat got)" "$(cat want)"
	# September's cohort: 152 customers, 57 of them ordering again in October
	assert_equal "$(sed -n 2p got | cut -f1-4)" "$(printf '2011-09\t1\t152\t57')"
}
