#!/bin/bash
# make demo: the seed's three flows on a real shop's autumn (the shipped
# slice of the UCI Online Retail data, examples/retail/, CC BY 4.0), in a
# fresh project under build/demo:
#   1. the invoices converted to events and stored (jrn-ingest);
#   2. nightly (jrn run nightly, as examples/cron runs it), three nights:
#      RFM snapshot and changes, segments and changes, the win-back
#      journey for who entered at_risk, the mails sent (to the spool);
#   3. hourly (jrn run hourly): the last 24 hours' metrics saved as
#      insights for the optimizer;
#   4. real time: a touchpoint POSTed to jrn-ingest --listen through
#      jrn-merge, jrn-ai state and optimize, jrn-route and jrn-send;
#   5. the reports, and one HTML page of them.
# Usage: demo.sh BINDIR [GEN]   (GEN, jrn-gen, is no longer used)
set -euo pipefail
# (no `| head` below: under pipefail, a writer killed by SIGPIPE when head
# stops reading would end the demo; sed -n 1,Np reads everything)
bin=$(cd "$1" && pwd)
top=$(pwd)
demo=build/demo
rm -rf "$demo"
PATH=$bin:$PATH
export JRN_UNSUBSCRIBE_SECRET=demo-secret-not-for-production
say() { printf '\n== %s\n' "$*"; }
table() { sqlite3 -header -column jrn.db "$1"; }

say "jrn init $demo, with examples/jrn.yaml (its jobs) and examples/journeys/"
JRN_NOW=2011-09-01T00:00:00Z jrn init "$demo" > /dev/null
cp examples/jrn.yaml "$demo/jrn.yaml"
cp -r examples/journeys "$demo/journeys"
cd "$demo"

say "1. a real shop's autumn: examples/retail/retail2jrn, then jrn-ingest"
"$top/examples/retail/retail2jrn" "$top/examples/retail/online-retail-2011q4-slice.csv.gz" \
	> orders.ndjson
# the data has no addresses: each customer gets a made-up one, by the
# identify call a sign-up form would send
jq -c 'select(.type == "order.completed")' orders.ndjson |
	jq -sc 'group_by(.customerId)[] | min_by(.timestamp) | {id: ("identify-" + .customerId),
	    type: "identify", customerId, timestamp, traits: {email: (.customerId + "@retail.example")}}' \
		> identify.ndjson
JRN_NOW=2011-12-01T00:00:00Z jrn-ingest -q --store-only identify.ndjson orders.ndjson
table "SELECT type, count(*) AS events, count(DISTINCT customer_id) AS customers,
	      printf('%.2f', total(amount)) AS amount_gbp
	FROM events GROUP BY type ORDER BY events DESC"

say "2. nightly: jrn run nightly at 02:00 on the first of October, November, December"
echo "(a month apart the segments move by more than segments.drift's 20%: jrn-segment"
echo " says so and exits 3, cron's cue to look; the saves and changes stand)"
for night in 2011-10-01 2011-11-01 2011-12-01; do
	JRN_NOW=${night}T02:00:00Z jrn run -q nightly > /dev/null || [ $? = 3 ]
done
jrn log -n 3 nightly
echo
echo "Who moved between RFM segments, night by night:"
table "SELECT substr(body ->> '$.timestamp', 1, 10) AS night,
	      coalesce(body ->> '$.properties.from', '(new)') AS from_segment,
	      body ->> '$.properties.to' AS to_segment, count(*) AS customers
	FROM events WHERE type = 'rfm.segment.changed'
	GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC LIMIT 12"
echo
echo "What was sent, and why (jrn-route's decisions, jrn-send's deliveries):"
table "SELECT d.journey, d.step, d.decision, coalesce(d.reason, '-') AS reason, count(*) AS n
	FROM route_decisions d GROUP BY 1, 2, 3, 4"
table "SELECT campaign_id AS campaign, channel, status, count(*) AS n
	FROM deliveries GROUP BY 1, 2, 3"
first=$(find spool -name '*.eml' | sort | sed -n 1p)
if [ -n "$first" ]; then
	echo "One of them, $first:"
	sed -n '/^\r\{0,1\}$/q;/^\(From\|To\|Subject\|List-Unsubscribe\):/p' "$first" | tr -d '\r'
fi

say "3. hourly: jrn run hourly at 03:05 (jrn-report metrics --since 24h --save)"
JRN_NOW=2011-12-01T03:05:00Z jrn run -q hourly > /dev/null
table "SELECT dimension, group_key, metrics ->> '$.sent' AS sent,
	      metrics ->> '$.deliveryRate' AS delivery_rate
	FROM insights ORDER BY dimension"
echo "(the next jrn-ai optimize reads these: jrn-ai(1), INSIGHTS)"

say "4. real time: a touchpoint POSTed to jrn-ingest --listen"
echo "   jrn-ingest --listen | jrn-merge | jrn-ai state | jrn-ai optimize | jrn-route | jrn-send"
export JRN_NOW=2011-12-01T10:00:00Z
{ jrn-ingest -q --listen 127.0.0.1:0 & echo $! > listener.pid; wait; } 2> listen.err |
	jrn-merge -q | jrn-ai state -q | jrn-ai optimize -q | jrn-route -q |
	jrn-send -q > realtime.ndjson 2> realtime.err &
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' listen.err)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat listen.err >&2; exit 1; }
customer=$(jq -r 'select(.type == "order.completed") | .customerId' orders.ndjson | sort | uniq -c |
	sort -rn | awk 'NR == 1 { print $2 }')
touch='{"id":"demo-touch-1","type":"page.viewed","customerId":"'$customer'","timestamp":"2011-12-01T09:59:00Z","properties":{"url":"/gift-sets"}}'
echo "\$ curl -X POST --data-binary '$touch' http://127.0.0.1:$port/events"
curl -sS -X POST --data-binary "$touch" "http://127.0.0.1:$port/events"
echo
for _ in $(seq 100); do
	grep -q '"delivery"' realtime.ndjson 2> /dev/null && break
	sleep 0.1
done
kill -TERM "$(cat listener.pid)"
wait
echo "What came out of the pipeline (the event, then its actions and their fate):"
jq -c 'if .type then {event: .type, customerId, journeyStage: .state.journeyStage}
	else {action: .actionType, campaign: .campaignId, to: .recipientEmail,
	      gate: .route.decision, delivery: .delivery.status} end' realtime.ndjson
unset JRN_NOW

say "5. the reports (jrn-report), at 2011-12-01T12:00:00Z"
export JRN_NOW=2011-12-01T12:00:00Z
echo "-- metrics per campaign and channel, all time"
jrn-report metrics --format table -q
echo "-- RFM segment movement, the last two snapshots"
jrn-report rfm --format table -q | sed -n 1,12p
echo "-- cohorts by month of first order"
jrn-report cohorts --format table -q | sed -n 1,8p
jrn-report metrics --format html -q -o report.html
echo
echo "The HTML report: $(pwd)/report.html"
