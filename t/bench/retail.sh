#!/bin/bash
# make bench-retail RETAIL=FILE: the UCI Online Retail data set (541,909
# invoice lines, Dec 2010 - Dec 2011; CC BY 4.0; examples/retail/README.md
# says where to get it) through jrn as a shop would run it, timed:
#   1. examples/retail/retail2jrn converts the CSV to events;
#   2. jrn-ingest loads the whole year at once (beside jq -c . over the
#      same file, for the ratio);
#   3. the year replayed day by day in a project made like examples/cron's:
#      each day's orders ingested at the day's end, then `jrn run nightly`
#      (RFM snapshot and changes, segments and changes, jrn-route's
#      win-back journey, jrn-send to the spool) at 02:00 the next day;
#      on Sundays at 03:00 the scores and leads jobs (CLV refit, lead
#      scores); then the year's reports (jrn-report, each kind timed, an
#      HTML page); BENCH_RETAIL_DAYS=N replays the first N days only;
#   4. at the end, checks against independent computations on the same
#      state file: jrn-score rfm against t/bench/rfm.sql in the sqlite3
#      shell (must be identical), jrn-score clv --params against a BG/NBD
#      fit in Python with Debian's scipy (t/bench/bgnbd.py).
# Usage: retail.sh BINDIR FILE
# Figures are printed, never judged. The customers have no e-mail address
# in the data: each gets a made-up one (CUSTOMER@retail.example) by an
# identify event, and the sends go to the spool, never to a network.
set -euo pipefail
bin=$(cd "$1" && pwd) file=$2
here=$(cd "$(dirname "$0")" && pwd) top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
[ -r "$file" ] || { echo "bench-retail: cannot read '$file' (RETAIL=path/to/online_retail.csv.gz; see examples/retail/README.md)" >&2; exit 2; }
PATH=$bin:$PATH
dir=${BENCH_DIR:-build/bench-retail}
rm -rf "$dir" && mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
cpu() { /usr/bin/time -f '%U %S' -o "$dir/cpu" "$@"; awk '{printf "%.2f", $1 + $2}' "$dir/cpu"; }

echo "== 1. convert: examples/retail/retail2jrn $(basename "$file")"
t=$(seconds sh -c "'$top/examples/retail/retail2jrn' '$file' > '$dir/events.ndjson' 2> '$dir/convert.err'")
cat "$dir/convert.err"
n=$(wc -l < "$dir/events.ndjson")
printf '%-44s %8.2fs %10s events\n' "retail2jrn" "$t" "$n"

# the made-up addresses: one identify per customer, at their first order
jq -c 'select(.type == "order.completed")' "$dir/events.ndjson" |
	jq -sc 'group_by(.customerId)[] | min_by(.timestamp) | {id: ("identify-" + .customerId),
	    type: "identify", customerId, timestamp, traits: {email: (.customerId + "@retail.example")}}' \
		> "$dir/identify.ndjson"

echo "== 2. the whole year at once"
ingest() { rm -f "$dir/year.db"*; jrn-ingest -q --store-only --db "$dir/year.db" "$dir/events.ndjson"; }
jqc() { jq -c . "$dir/events.ndjson" > /dev/null; }
t_i=() t_j=()
for i in 1 2 3; do t_i+=("$(seconds ingest)"); t_j+=("$(seconds jqc)"); done
m_i=$(median "${t_i[@]}") m_j=$(median "${t_j[@]}")
printf '%-44s %8.2fs %10s events/s\n' "jrn-ingest (median of 3)" "$m_i" "$(rate "$n" "$m_i")"
printf '%-44s %8.2fs\n' "jq -c . (median of 3)" "$m_j"
echo "ratio: jrn-ingest is $(ratio "$m_j" "$m_i")x jq -c ."

echo "== 3. the year day by day: ingest at the day's end, jrn run nightly at 02:00"
shop=$dir/shop
JRN_NOW=2010-11-30T00:00:00Z jrn init "$shop" > /dev/null
cp "$top/examples/jrn.yaml" "$shop/jrn.yaml"
cp -r "$top/examples/journeys" "$shop/journeys"
export JRN_UNSUBSCRIBE_SECRET=bench-retail-secret
mkdir -p "$dir/days"
cat "$dir/identify.ndjson" "$dir/events.ndjson" |
	awk -v d="$dir/days" '{ i = index($0, "\"timestamp\":\""); day = substr($0, i + 13, 10)
		f = d "/" day ".ndjson"; print >> f; close(f) }'
days=$(ls "$dir/days" | sed 's/\.ndjson$//' | sort | sed -n "1,${BENCH_RETAIL_DAYS:-100000}p")
ndays=$(echo "$days" | wc -l)
t_in=0 t_ni=0 tn=() t_sc=0 n_sc=0
t0=$(date +%s.%N)
for day in $days; do
	next=$(date -u -d "$day + 1 day" +%Y-%m-%d)
	s=$(seconds sh -c "cd '$shop' && JRN_NOW=${day}T23:59:59Z jrn-ingest -q --store-only '$dir/days/$day.ndjson'")
	t_in=$(echo "$t_in + $s" | bc -l)
	s=$(seconds sh -c "cd '$shop' && JRN_NOW=${next}T02:00:00Z jrn run nightly > /dev/null 2>> '$dir/nightly.err' || [ \$? = 3 ]")
	t_ni=$(echo "$t_ni + $s" | bc -l)
	tn+=("$s")
	# after each Sunday's trading, at 03:00: the CLV refit and the lead
	# scores (examples/cron's scores and leads jobs)
	if [ "$(date -u -d "$day" +%u)" = 7 ]; then
		s=$(seconds sh -c "cd '$shop' && JRN_NOW=${next}T03:00:00Z jrn run -q scores > /dev/null && JRN_NOW=${next}T03:00:00Z jrn run -q leads > /dev/null")
		t_sc=$(echo "$t_sc + $s" | bc -l)
		n_sc=$((n_sc + 1))
	fi
done
t1=$(date +%s.%N)
printf '%-44s %8.2fs %10s days\n' "replay (ingest + nightly, every day)" "$(echo "$t1 - $t0" | bc -l)" "$ndays"
printf '%-44s %8.2fs\n' "  of which jrn-ingest" "$t_in"
printf '%-44s %8.2fs   (median night %.2fs)\n' "  of which jrn run nightly" "$t_ni" "$(median "${tn[@]}")"
printf '%-44s %8.2fs   (%d Sundays)\n' "  of which jrn run scores, leads" "$t_sc" "$n_sc"
sqlite3 -header -column "$shop/jrn.db" "
	SELECT (SELECT count(*) FROM events) AS events,
	       (SELECT count(DISTINCT taken) FROM rfm_snapshots) AS rfm_snapshots,
	       (SELECT count(*) FROM events WHERE type = 'rfm.segment.changed') AS rfm_changes,
	       (SELECT count(*) FROM events WHERE type = 'segment.entered') AS segment_entries,
	       (SELECT count(*) FROM enrollments) AS enrollments,
	       (SELECT count(*) FROM deliveries) AS deliveries,
	       (SELECT count(*) FROM scores WHERE kind = 'clv') AS clv_scores,
	       (SELECT count(*) FROM scores WHERE kind = 'lead') AS lead_scores"
[ -s "$dir/nightly.err" ] && { echo "nightly's stderr (last lines):"; tail -3 "$dir/nightly.err"; }

echo "== the year's reports on the replayed project (jrn-report, at 2011-12-10)"
rep() { (cd "$shop" && JRN_NOW=2011-12-10T00:00:00Z jrn-report "$@" -q > /dev/null); }
for kind in metrics rfm cohorts kpis "attribution --model last,linear" "funnel --steps identify,order.completed"; do
	# shellcheck disable=SC2086
	printf '%-44s %8.2fs\n' "jrn-report $kind" "$(seconds rep $kind)"
done
(cd "$shop" && JRN_NOW=2011-12-10T00:00:00Z jrn-report metrics --format table -q)
(cd "$shop" && JRN_NOW=2011-12-10T00:00:00Z jrn-report metrics --format html -q -o "$dir/report.html")
echo "the HTML report: $dir/report.html"

echo "== 4. checks on the whole year's state file, at 2011-12-10T00:00:00Z"
now=2011-12-10T00:00:00Z
now_ms=$(($(date -u -d "$now" +%s) * 1000))
# monetary printed the same way on both sides (jq writes 0, sqlite3 0.0)
money() { awk -F'|' -v OFS='|' '{ $4 = sprintf("%.4f", $4); print }'; }
jrn-score rfm --db "$dir/year.db" --now "$now" -q |
	jq -r '[.customerId, .rfm.recency, .rfm.frequency, .rfm.monetary, .rfm.r, .rfm.f, .rfm.m,
		.rfm.score, .rfm.segment] | map(tostring) | join("|")' | money > "$dir/rfm-jrn.txt"
sqlite3 -cmd ".parameter set @now $now_ms" "$dir/year.db" < "$here/rfm.sql" | money > "$dir/rfm-sql.txt"
if cmp -s "$dir/rfm-jrn.txt" "$dir/rfm-sql.txt"; then
	echo "RFM: jrn-score rfm and t/bench/rfm.sql agree on all $(wc -l < "$dir/rfm-sql.txt") customers"
else
	echo "RFM: jrn-score rfm and t/bench/rfm.sql DIFFER:"
	diff "$dir/rfm-jrn.txt" "$dir/rfm-sql.txt" > "$dir/rfm.diff" || true
	head -5 "$dir/rfm.diff"
fi
t_c=$(seconds sh -c "jrn-score clv --db '$dir/year.db' --now $now --params -q > '$dir/clv-jrn.json'")
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import scipy' 2> /dev/null; then
	t_p=$(seconds sh -c "/usr/bin/python3 '$here/bgnbd.py' '$dir/year.db' $now_ms > '$dir/clv-py.json'")
	printf '%-44s %8.2fs\n' "jrn-score clv --params" "$t_c"
	printf '%-44s %8.2fs\n' "t/bench/bgnbd.py (scipy Nelder-Mead)" "$t_p"
	jq -rn --slurpfile j "$dir/clv-jrn.json" --slurpfile p "$dir/clv-py.json" '
		$j[0].bgnbd as $a | $p[0] as $b
		| ["r", "alpha", "a", "b"] as $k
		| "BG/NBD (\($j[0].customers) customers):",
		  ($k[] as $n | "  \($n): jrn \($a[$n])  scipy \($b[$n])  relative difference \((($a[$n] - $b[$n]) / $b[$n]) | fabs)"),
		  "  log-likelihood: jrn \($a.logLikelihood)  scipy \($b.logLikelihood)"'
else
	echo "BG/NBD: no /usr/bin/python3 with scipy (Debian python3-scipy): the second fit is skipped"
fi
