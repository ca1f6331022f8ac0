#!/usr/bin/env bats
# jrn-report --format html: the page opened in headless Chromium (Debian's
# chromium): no console message, no network request, the chart's SVG in
# the DOM with the expected bars, and the bars in the screenshot's pixels;
# HTML Tidy finds no error; the figures of a hand-made state file worked
# out by hand below.

load helpers

# The state file (window: all time, --now 2026-01-08T00:00:00Z):
#   deliveries (key customer channel campaign status claimed_at)
#     s1..s4  c1..c4  email  spring                     sent    01-02 10:00
#     x1, x2  c5, c6  email  <script>alert(1)</script>  sent    01-03 10:00
#     w1      c7      sms    winback                    sent    01-04 10:00
#     w2      c8      sms    winback                    failed  01-04 10:00
#   engagement (deliveryKey): s1 email.opened twice (one message: 1),
#     s1 email.clicked, s2 email.opened
#   order: c1 01-03 09:00, 100 -> c1's last send s1, 23 h before (lookback
#     7 d): spring converts once
# So the metrics rows (by campaign,channel) hold, for the chart's series
# sent, opened, clicked, converted (kinds.c):
#   spring / email      4, 2, 1, 1
#   <script>… / email   2, 0, 0, 0
#   winback / sms       1, 0, 0, 0
# 3 groups x 4 series = 12 bars (a 0 is a bar of height 0). The axis: max
# 4 -> step 1 (ceil125(4) = 5, /5), 0..4; the plot is 272 px high, so the
# bars of sent are 272, 136 and 68 px, opened's 2 is 136 px.
make_state() {
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	sqlite3 jrn.db <<'EOF'
CREATE TEMP TABLE t (k, c, ch, camp, st, at);
INSERT INTO t VALUES
 ('s1','c1','email','spring','sent','2026-01-02T10:00:00Z'),
 ('s2','c2','email','spring','sent','2026-01-02T10:00:00Z'),
 ('s3','c3','email','spring','sent','2026-01-02T10:00:00Z'),
 ('s4','c4','email','spring','sent','2026-01-02T10:00:00Z'),
 ('x1','c5','email','<script>alert(1)</script>','sent','2026-01-03T10:00:00Z'),
 ('x2','c6','email','<script>alert(1)</script>','sent','2026-01-03T10:00:00Z'),
 ('w1','c7','sms','winback','sent','2026-01-04T10:00:00Z'),
 ('w2','c8','sms','winback','failed','2026-01-04T10:00:00Z');
INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, claimed_at, updated_at, record)
  SELECT k, c, ch, camp, st, unixepoch(at) * 1000, unixepoch(at) * 1000, '{}' FROM t;
CREATE TEMP TABLE e (id, type, c, at, amount, dk);
INSERT INTO e VALUES
 ('e1','email.opened','c1','2026-01-02T11:00:00Z',NULL,'s1'),
 ('e2','email.opened','c1','2026-01-02T12:00:00Z',NULL,'s1'),
 ('e3','email.clicked','c1','2026-01-02T11:05:00Z',NULL,'s1'),
 ('e4','email.opened','c2','2026-01-02T11:00:00Z',NULL,'s2'),
 ('o1','order.completed','c1','2026-01-03T09:00:00Z',100,NULL);
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
  SELECT id, type, c, unixepoch(at) * 1000, unixepoch(at) * 1000, amount,
    json_object('id', id, 'type', type, 'customerId', c, 'timestamp', at,
      'properties', CASE WHEN dk IS NULL THEN json_object('amount', amount)
                    ELSE json_object('deliveryKey', dk, 'channel', 'email') END)
  FROM e;
EOF
}

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export JRN_NOW=2026-01-08T00:00:00Z
}

need_chromium() {
	command -v chromium > /dev/null || skip "no chromium (Debian chromium)"
}

# browse FILE NAME: opens FILE in headless Chromium once: NAME.png (the
# screenshot, 1200 x 900), NAME.dom (the DOM after load), NAME.log
# (Chromium's log on stderr, console messages included), NAME.netlog
# (every URL request, as Chromium's net log). Every host name resolves to
# nothing (--host-resolver-rules), so nothing can leave the machine even
# if the page asked; the net log says whether it asked.
browse() {
	local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
		--disable-background-networking --disable-component-update --disable-sync
		--disable-default-apps --no-pings --disable-features=NetworkTimeServiceQuerying
		--user-data-dir="$PWD/$2.profile" "--host-resolver-rules=MAP * ~NOTFOUND"
		--enable-logging=stderr --v=0 --log-net-log="$PWD/$2.netlog"
		--window-size=1200,900 --screenshot="$PWD/$2.png" --dump-dom)
	timeout 120 chromium "${flags[@]}" "file://$PWD/$1" > "$2.dom" 2> "$2.log"
	[ -s "$2.png" ] && [ -s "$2.dom" ] && [ -s "$2.netlog" ] ||
		{ echo "chromium made no screenshot, DOM or net log:" >&2; tail -5 "$2.log" >&2; return 1; }
}

# page_requests NETLOG: the URLs the page asked for (one a line): URL
# requests whose network isolation key is the page's site (file://) or
# whose initiator is an origin. Chromium's own requests (its component
# updater, made although --disable-component-update: initiator "not an
# origin", another key) are not the page's and are left out.
page_requests() {
	python3 - "$1" <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))
start = log['constants']['logEventTypes']['URL_REQUEST_START_JOB']
for e in log['events']:
    p = e.get('params', {})
    if e['type'] != start or 'url' not in p:
        continue
    page = p.get('network_isolation_key', '').startswith('file://') or \
        p.get('initiator', 'not an origin') != 'not an origin'
    if page and not p['url'].startswith(('file:', 'data:')):
        print(p['url'])
EOF
}

# console LOG: the console messages Chromium logged (errors, warnings, logs)
console() {
	grep -E ':CONSOLE[(:]' "$1" || true
}

# bars PNG RRGGBB: the bars of that exact colour in the screenshot, one
# "x width height" line per run of adjacent pixel columns that hold at
# least 20 pixels of it (the legend's 12 px key is not a bar), height the
# most pixels in one column. pixels PNG RRGGBB: how many pixels have that
# colour. Both read the PNG with zlib (8-bit RGB or RGBA, not interlaced,
# as Chromium writes it).
bars() {
	png_scan bars "$1" "$2"
}
pixels() {
	png_scan count "$1" "$2"
}
png_scan() {
	python3 - "$@" <<'EOF'
import struct, sys, zlib
mode = sys.argv.pop(1)
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
        assert depth == 8 and ctype in (2, 6) and interlace == 0, 'unexpected PNG format'
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
want = bytes.fromhex(sys.argv[2])
prev, cols = bytearray(stride), [0] * w
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(w):
        if line[x * bpp:x * bpp + 3] == want:
            cols[x] += 1
    prev = line
if mode == 'count':
    print(sum(cols))
    sys.exit(0)
x = 0
while x < w:
    if cols[x] >= 20:
        s = x
        while x < w and cols[x] >= 20:
            x += 1
        print(s, x - s, max(cols[s:x]))
    x += 1
EOF
}

# near A B: |A - B| <= 2 (a rendered pixel height)
near() {
	[ $(( $1 > $2 ? $1 - $2 : $2 - $1 )) -le 2 ] || { echo "$1 is not $2 (+-2)" >&2; return 1; }
}

@test "html: the checks below can fail: a page with a script error and outside resources is caught" {
	need_chromium
	cat > bad.html <<'EOF'
<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>bad</title>
<link rel="stylesheet" href="http://fonts.example.com/x.css"></head><body><p>x</p>
<img src="https://cdn.example.com/y.png" alt="y"><img src="http://cdn.example.com/z.png" alt="z">
<script>console.error("boom"); undefinedFn();</script></body></html>
EOF
	browse bad.html bad
	run console bad.log
	assert_line --partial '"boom"'
	assert_line --partial 'undefinedFn is not defined'
	run page_requests bad.netlog
	assert_line 'http://fonts.example.com/x.css'
	assert_line 'https://cdn.example.com/y.png'
	assert_line 'http://cdn.example.com/z.png'
	# a white page has no bar; a drawn one is found with its height
	run bars bad.png 1f77b4
	assert_output ''
}

@test "html: metrics in headless Chromium: no console message, no request, 12 bars in the DOM, sent's 3 bars in the pixels at 4:2:1" {
	need_chromium
	make_state
	run -0 --separate-stderr jrn-report metrics --db jrn.db --format html -o r.html
	assert_output ''
	browse r.html r
	run console r.log
	assert_output ''
	run page_requests r.netlog
	assert_output ''
	# the DOM: one bar chart, 12 bars, 3 of them sent's (data-series 0)
	assert_equal "$(grep -o '<svg class="chart bar"' r.dom | wc -l)" 1
	assert_equal "$(grep -o '<rect class="bar"' r.dom | wc -l)" 12
	assert_equal "$(grep -o '<rect class="bar" data-series="0"' r.dom | wc -l)" 3
	assert_equal "$(grep -o '<rect class="key"' r.dom | wc -l)" 4
	# the campaign named <script>alert(1)</script> is text, never a script
	assert_equal "$(grep -c '<script' r.dom)" 0
	grep -q '<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>' r.dom
	grep -q '&lt;script&gt;alert(1)&lt;/script&gt; / email' r.dom
	# the table: a row per group
	assert_equal "$(grep -o '<tr>' r.dom | wc -l)" 4
	# the pixels: sent's colour (#1f77b4) in 3 bars of 272, 136 and 68 px
	run bars r.png 1f77b4
	assert_equal "${#lines[@]}" 3
	local heights
	heights=$(printf '%s\n' "${lines[@]}" | awk '{print $3}' | sort -n | tr '\n' ' ')
	read -r h1 h2 h3 <<< "$heights"
	near "$h1" 68
	near "$h2" 136
	near "$h3" 272
	# opened's colour (#ff7f0e): spring's 2, 136 px; the others are 0
	run bars r.png ff7f0e
	assert_equal "${#lines[@]}" 1
	near "$(awk '{print $3}' <<< "$output")" 136
}

@test "html: metrics page: self-contained, valid for HTML Tidy, title, window, --now, axis ticks, print stylesheet" {
	command -v tidy > /dev/null || skip "no tidy (Debian tidy)"
	make_state
	run -0 jrn-report metrics --db jrn.db --format html --since 2026-01-01T00:00:00Z -o r.html
	run tidy -errors -quiet r.html
	assert_success
	assert_output ''
	# nothing that could reach the network: no URL, script, link or import
	run grep -Eio 'https?:|//[a-z0-9]|url\([^#]|@import|<script|<link|<iframe|<img|src=' r.html
	assert_failure
	grep -q '<title>jrn-report metrics</title>' r.html
	grep -q 'Window: <time datetime="2026-01-01T00:00:00.000Z">' r.html
	grep -q 'to <time datetime="2026-01-08T00:00:00.000Z">' r.html
	grep -q 'Computed at <time datetime="2026-01-08T00:00:00.000Z">' r.html
	grep -q '@media print{' r.html
	# ticks 0..4 by 1 (max 4: step 1), none past 4
	for t in 0 1 2 3 4; do grep -q "text-anchor=\"end\">$t</text>" r.html; done
	run grep -q 'text-anchor="end">5</text>' r.html
	assert_failure
}

@test "html: the title from report.html.title, escaped; an empty window says no data" {
	make_state
	printf 'report:\n  html:\n    title: "Weekly <b>mail</b> & SMS"\n' > jrn.yaml
	run -0 jrn-report metrics --db jrn.db --config jrn.yaml --format html -o r.html
	grep -q '<title>Weekly &lt;b&gt;mail&lt;/b&gt; &amp; SMS</title>' r.html
	grep -q '<h1>Weekly &lt;b&gt;mail&lt;/b&gt; &amp; SMS</h1>' r.html
	run -0 jrn-report metrics --db jrn.db --format html --since 2025-01-01T00:00:00Z \
		--until 2025-02-01T00:00:00Z -o empty.html
	grep -q '<p class="empty">no data</p>' empty.html
	run grep -Eq '<svg|<table' empty.html
	assert_failure
}

@test "html: 45 campaigns: the chart draws 40 and says 'and 5 more', the table keeps all 45" {
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	# 45 campaigns k01..k45, one send each
	sqlite3 jrn.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 45)
		INSERT INTO deliveries (key, customer_id, channel, campaign_id, status, claimed_at, updated_at, record)
		SELECT 'd' || i, 'c' || i, 'email', printf('k%02d', i), 'sent', 1767258000000, 1767258000000, '{}' FROM n"
	run -0 jrn-report metrics --db jrn.db --format html -o r.html
	assert_equal "$(grep -o '<rect class="bar" data-series="0"' r.html | wc -l)" 40
	grep -q 'and 5 more (every row is in the table)' r.html
	assert_equal "$(grep -o '<tr>' r.html | wc -l)" 46
	grep -q '<td>k45</td>' r.html
}

@test "html: bad input: --format html with a state file that does not exist fails and names it; -o to a directory that does not exist fails" {
	run jrn-report metrics --db nope.db --format html -o r.html
	assert_failure
	assert_output --partial 'nope.db'
	[ ! -e r.html ]
	make_state
	run jrn-report metrics --db jrn.db --format html -o no/such/dir/r.html
	assert_failure
	assert_output --partial 'no/such/dir'
}

# Other kinds' pages, each opened in Chromium: funnel's bars, cohorts'
# heatmap. The state: events (UTC)
#   a  product.viewed 01-05 10:00, cart.added 10:05, order.completed 10:10
#      (30), order.completed 02-10 (20)
#   b  product.viewed 01-06 10:00, cart.added 10:05
#   c  product.viewed 01-07 10:00
#   d  order.completed 01-20 (10);  e  order.completed 02-03 (15)
make_events() {
	jrn-ingest --db jrn.db < /dev/null 2> /dev/null
	sqlite3 jrn.db <<'EOF'
CREATE TEMP TABLE x (id, type, c, t, amount);
INSERT INTO x VALUES
 ('a1','product.viewed','a','2026-01-05 10:00:00',NULL),('a2','cart.added','a','2026-01-05 10:05:00',NULL),
 ('a3','order.completed','a','2026-01-05 10:10:00',30),('a4','order.completed','a','2026-02-10 10:00:00',20),
 ('b1','product.viewed','b','2026-01-06 10:00:00',NULL),('b2','cart.added','b','2026-01-06 10:05:00',NULL),
 ('c1','product.viewed','c','2026-01-07 10:00:00',NULL),
 ('d1','order.completed','d','2026-01-20 10:00:00',10),('ee1','order.completed','e','2026-02-03 10:00:00',15);
INSERT INTO events (id, type, customer_id, ts, received_at, amount, body)
  SELECT id, type, c, unixepoch(t) * 1000, 0, amount,
    json_object('id', id, 'type', type, 'customerId', c, 'properties', json_object('amount', amount))
  FROM x ORDER BY rowid;
EOF
}

@test "html: funnel in Chromium: 3 bars of customers at 3:2:1, no console message, no request" {
	need_chromium
	make_events
	# steps viewed, carted, ordered in order: a b c; a b; a -> 3, 2, 1.
	# Axis 0..3 by 1 (ceil125(3) = 5, /5 = 1): 272, 181.3 and 90.7 px.
	run -0 jrn-report funnel --db jrn.db --steps product.viewed,cart.added,order.completed \
		--format html -o f.html
	browse f.html f
	run console f.log
	assert_output ''
	run page_requests f.netlog
	assert_output ''
	assert_equal "$(grep -o '<rect class="bar"' f.dom | wc -l)" 3
	# the categories: step and type, the columns before customers
	grep -q '>step / type</text>' f.dom
	grep -q '>2 / cart.added</text>' f.dom
	run bars f.png 1f77b4
	assert_equal "${#lines[@]}" 3
	read -r h1 h2 h3 <<< "$(printf '%s\n' "${lines[@]}" | awk '{print $3}' | tr '\n' ' ')"
	near "$h1" 272
	near "$h2" 181
	near "$h3" 91
}

@test "html: cohorts in Chromium: a heatmap of 5 cells, retention 1 in the darkest blue, no console message, no request" {
	need_chromium
	make_events
	# first orders: a 01-05, d 01-20 (cohort 2026-01, 2 customers); e 02-03
	# (cohort 2026-02). --now 2026-04-01: periods up to March.
	#   2026-01: period 0 (Jan) a d: 1; period 1 (Feb) a: 0.5; 2 (Mar): 0
	#   2026-02: period 0 (Feb) e: 1; period 1 (Mar): 0
	# 5 cells; the scale 0..1: 1 is #08306b, 0 is #f7fbff. The grid is 3
	# periods x 2 cohorts in 790 x 272 px: a cell is 263.3 x 136 px, so
	# the two cells of 1 hold about 2 x 35,800 px of #08306b (less their
	# white "1").
	run -0 jrn-report cohorts --db jrn.db --period month --now 2026-04-01T00:00:00Z \
		--format html -o c.html
	browse c.html c
	run console c.log
	assert_output ''
	run page_requests c.netlog
	assert_output ''
	assert_equal "$(grep -o '<svg class="chart heatmap"' c.dom | wc -l)" 1
	assert_equal "$(grep -o '<rect class="cell"' c.dom | wc -l)" 5
	assert_equal "$(grep -o '<rect class="cell"[^>]*fill="#08306b"' c.dom | wc -l)" 2
	assert_equal "$(grep -o '<rect class="cell"[^>]*fill="#f7fbff"' c.dom | wc -l)" 2
	grep -q '<linearGradient id="scale">' c.dom
	local n
	n=$(pixels c.png 08306b)
	[ "$n" -gt 69000 ] && [ "$n" -lt 72500 ] || { echo "darkest pixels: $n" >&2; false; }
}

@test "html: metrics prints (Chromium's --print-to-pdf, the @media print stylesheet): one PDF page" {
	need_chromium
	make_state
	run -0 jrn-report metrics --db jrn.db --format html -o r.html
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$PWD/pdf.profile" "--host-resolver-rules=MAP * ~NOTFOUND" \
		--no-pdf-header-footer --print-to-pdf="$PWD/r.pdf" "file://$PWD/r.html" 2> pdf.log
	[ "$(head -c 5 r.pdf)" = '%PDF-' ]
	# the chart and 3 rows of 23 columns fit one page (Letter)
	run python3 -c 'import re, sys; print(len(re.findall(rb"/Type\s*/Page(?!s)", open(sys.argv[1], "rb").read())))' r.pdf
	assert_output 1
}

@test "html: every kind gives a page HTML Tidy passes, with no URL and no script" {
	command -v tidy > /dev/null || skip "no tidy (Debian tidy)"
	make_state
	make_events
	local kind done=0 args
	for kind in metrics funnel attribution cohorts experiment journeys rfm kpis; do
		args=()
		[ "$kind" = funnel ] && args=(--steps product.viewed,cart.added,order.completed)
		run jrn-report "$kind" --db jrn.db "${args[@]}" --format html -o "$kind.html"
		assert_success
		run tidy -errors -quiet "$kind.html"
		assert_success
		assert_output ''
		run grep -Eio 'https?:|//[a-z0-9]|url\([^#]|@import|<script|<link|<iframe|<img|src=' "$kind.html"
		assert_failure
		grep -q "<h1>jrn-report $kind</h1>" "$kind.html"
		done=$((done + 1))
	done
	assert_equal "$done" 8
}
