#!/bin/sh
# make demo: a fresh project directory, a sample of generated events,
# ingested into a new state file, and what was stored.
# Usage: demo.sh BINDIR GEN
set -eu
bin=$(cd "$1" && pwd) gen=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
demo=build/demo
rm -rf "$demo"
PATH=$bin:$PATH
export JRN_NOW=2026-01-01T00:00:00Z

echo "== jrn init $demo"
jrn init "$demo"
cd "$demo"

echo "== jrn-gen -n 5000 > events.ndjson   (5000 events of 500 customers over 2025)"
"$gen" -n 5000 > events.ndjson
# a few lines of the kinds a real feed has: a Segment track call without an
# id, a consent event, and two bad lines
cat >> events.ndjson <<'NDJSON'
{"type":"track","event":"order.completed","userId":"c0000007","messageId":"seg-1","timestamp":"2025-12-31T23:00:00+01:00","properties":{"amount":42.5}}
{"type":"consent.granted","customerId":"c0000007","timestamp":"2025-06-01T10:00:00Z","properties":{"channel":"email","source":"signup-form"}}
{"type":"page.viewed","customerId":"c0000008","timestamp":"yesterday"}
not json at all
NDJSON

echo "== jrn ingest --rejects rejects.ndjson events.ndjson | head -3"
status=0
jrn ingest --rejects rejects.ndjson events.ndjson > stored.ndjson || status=$?
head -3 stored.ndjson
echo "(exit status $status: 3 means some lines were rejected; see rejects.ndjson)"

echo "== the same file again: nothing new"
jrn ingest --store-only events.ndjson 2>&1 | grep stored || true

echo "== what the state file holds (sqlite3 jrn.db)"
sqlite3 -header -column jrn.db \
  "SELECT type, count(*) AS events, count(DISTINCT customer_id) AS customers,
          printf('%.2f', total(amount)) AS amount
   FROM events GROUP BY type ORDER BY events DESC"
echo
sqlite3 -header -column jrn.db "SELECT customer_id, channel, status, source FROM consent"
echo
echo "== rejects.ndjson"
cat rejects.ndjson

echo
echo "== the nightly job: jrn-score rfm --save | jrn-segment --save --changes"
jrn-score rfm --save | jrn-segment --save --changes > changes.ndjson
head -3 changes.ndjson
echo "($(wc -l < changes.ndjson) segment.entered events for the journeys; see changes.ndjson)"
sqlite3 -header -column jrn.db \
  "SELECT segment AS rfm_segment, count(*) AS customers, min(score) AS min_score
   FROM rfm_snapshots GROUP BY segment ORDER BY min(score) DESC"
echo
echo "== jrn-segment --count: members and reachable members per segment"
jrn-score rfm | jrn-segment --count
echo
echo "== lifetime value: jrn-score clv, the five most valuable"
jrn-score clv -q | jq -sc 'sort_by(-.clv.predictedValue) | .[:5][]'


echo
echo "== jrn-send: a win-back email for each At Risk customer, simulated into ./spool"
mkdir -p templates
printf 'We miss you, {{firstName|friend}}\n' > templates/winback.subject
cat > templates/winback.txt <<'TXT'
Hello {{firstName|there}},

your last order was {{rfm.recency}} days ago. Here is 15% off the next one:
code COMEBACK15.

Unsubscribe: {{{unsubscribeUrl}}}
TXT
cat > templates/winback.html <<'HTML'
<p>Hello {{firstName|there}},</p>
<p>your last order was {{rfm.recency}} days ago. Here is <b>15% off</b> the next one:
code <code>COMEBACK15</code>.</p>
<p><a href="{{unsubscribeUrl}}">Unsubscribe</a></p>
HTML
# added by the demo into the starter's send: section (which already has
# idempotency.window: 30d): who the mail is from, and signed unsubscribe links
grep -q '^send:$' jrn.yaml || { echo "demo.sh: jrn.yaml has no send: section" >&2; exit 1; }
cat > send.yaml <<'YAML'
  from: "Demo Shop <news@shop.example>"
  unsubscribe:
    mailto: unsubscribe@shop.example
    url: https://shop.example/unsubscribe
    secret: demo-secret-not-for-production
YAML
awk '{ print } /^send:$/ { while ((getline line < "send.yaml") > 0) print line }' \
  jrn.yaml > jrn.yaml.new
mv jrn.yaml.new jrn.yaml
rm send.yaml
echo "(jrn.yaml's send section now:)"
sed -n '/^send:$/,/^$/p' jrn.yaml | grep -v '^ *#'
actions() {
	jrn-score rfm | jq -c 'select(.rfm.segment == "At Risk") | {actionType: "email",
	  customerId, campaignId: "winback-2026-01", template: "winback",
	  recipientEmail: (.customerId + "@example.com"), rfm}'
}
actions | jrn-send > sent.ndjson
echo "$(wc -l < sent.ndjson) actions; the first one's delivery:"
head -1 sent.ndjson | jq -c .delivery
# the spool names each file by the SHA-256 of the action's idempotency key
key=$(head -1 sent.ndjson | jq -r .delivery.key)
first=$(printf '%s' "$key" | sha256sum | cut -c1-32).eml
echo "== spool/$first (its headers)"
sed -n '/^\r\{0,1\}$/q;p' "spool/$first" | tr -d '\r'
echo "== the next two nights, the same job: each a duplicate, nothing sent twice"
echo "   (exactly once per send.idempotency.window: 30d; with the default, 1d,"
echo "   every At Risk customer would get the win-back again each night)"
for night in 2026-01-02T02:00:00Z 2026-01-03T02:00:00Z; do
	echo "-- $night"
	JRN_NOW=$night actions | JRN_NOW=$night jrn-send | jq -r .delivery.status | sort | uniq -c
done
sqlite3 -header -column jrn.db "SELECT channel, status, count(*) AS n FROM deliveries GROUP BY 1, 2"
