#!/bin/bash
# The jrn-send part of make bench: emails to a local postfix smtp-sink (one
# jrn-send process, connections reused) beside one curl process per message;
# webhooks to a local HTTP server; the spool. Prints medians and ratios.
# Usage: send.sh BINDIR   (make bench runs it; make bench-send runs it alone)
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
runs=${BENCH_RUNS:-3}
mails=${BENCH_MAILS:-20000}
curl_mails=${BENCH_CURL_MAILS:-300}
dir=${BENCH_DIR:-build/bench}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
export JRN_NOW=2026-01-01T00:00:00Z JRN_LOG=quiet
unset JRN_DB JRN_CONFIG

. "$here/lib.sh"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

# a free loopback port: bind 0 and read what the kernel gave
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mail=$dir/send-mail-$mails.ndjson hooks=$dir/send-hooks-$mails.ndjson
awk -v n="$mails" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"actionType\":\"email\",\"customerId\":\"c%07d\",\"campaignId\":\"winback\",\"recipientEmail\":\"user%d@example.com\",\"subject\":\"We miss you, customer %d\",\"messageContent\":\"Hello,\\n\\nit has been a while. Here is 10%% off your next order.\\n\"}\n", i, i, i }' > "$mail"
awk -v n="$mails" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"actionType\":\"webhook\",\"customerId\":\"c%07d\",\"campaignId\":\"winback\",\"messageContent\":\"event %d\"}\n", i, i }' > "$hooks"
echo "bench: jrn-send, $mails actions per run, median of $runs runs"

# ---- SMTP: postfix smtp-sink, no dumps (it only counts)
if command -v smtp-sink > /dev/null || [ -x /usr/sbin/smtp-sink ]; then
	sink=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
	port=$(free_port)
	"$sink" -u "$(id -un)" "127.0.0.1:$port" 256 2> /dev/null &
	pids+=($!)
	for _ in $(seq 50); do (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break; sleep 0.1; done
	cat > "$dir/send-smtp.yaml" <<YAML
providers:
  email:
    type: smtp
    url: smtp://127.0.0.1:$port/bench.local
    tls: none
send:
  from: "Bench <bench@example.com>"
YAML
	smtp_jrn() { rm -f "$dir/send.db"*; "$bin/jrn-send" --db "$dir/send.db" --config "$dir/send-smtp.yaml" "$mail" > /dev/null; }
	# what a user would otherwise script: one curl process per message
	head -1 "$mail" | "$bin/jrn-send" -q --db "$dir/one.db" --spool "$dir/one" > /dev/null
	eml=$(ls "$dir"/one/*.eml | head -1)
	smtp_curl() {
		for ((k = 0; k < curl_mails; k++)); do
			curl -s --url "smtp://127.0.0.1:$port/bench.local" --mail-from bench@example.com \
				--mail-rcpt "user$k@example.com" --upload-file "$eml" || return 1
		done
	}
	t_j=() t_c=()
	for ((i = 0; i < runs; i++)); do
		t_j+=("$(seconds smtp_jrn)")
		t_c+=("$(seconds smtp_curl)")
	done
	m_j=$(median "${t_j[@]}") m_c=$(median "${t_c[@]}")
	sent=$(sqlite3 "$dir/send.db" "SELECT count(*) FROM deliveries WHERE status = 'sent'")
	r_j=$(rate "$mails" "$m_j") r_c=$(rate "$curl_mails" "$m_c")
	printf '%-44s %8.2fs %10s emails/s (%s sent)\n' "jrn-send, smtp-sink (16 connections)" "$m_j" "$r_j" "$sent"
	printf '%-44s %8.2fs %10s emails/s\n' "curl per message ($curl_mails messages)" "$m_c" "$r_c"
	echo "ratio: jrn-send is $(ratio "$r_j" "$r_c" 1)x one curl process per message"
	rm -rf "$dir/one" "$dir/one.db"*
else
	echo "bench: smtp-sink missing (make deps installs postfix): SMTP skipped"
fi

# ---- webhooks: the recording server in count-only mode, 32 in flight
if command -v node > /dev/null && [ -e "$here/../peers/recorder.js" ]; then
	pf=$dir/rec.port
	rm -f "$pf"
	node "$here/../peers/recorder.js" --port-file "$pf" --count-only > /dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
	cat > "$dir/send-hook.yaml" <<YAML
providers:
  webhook:
    type: webhook
    url: http://127.0.0.1:$(cat "$pf")/hook
    secret: bench-secret
YAML
	hook_jrn() { rm -f "$dir/send.db"*; "$bin/jrn-send" --db "$dir/send.db" --config "$dir/send-hook.yaml" --parallel 32 "$hooks" > /dev/null; }
	t_h=()
	for ((i = 0; i < runs; i++)); do t_h+=("$(seconds hook_jrn)"); done
	m_h=$(median "${t_h[@]}")
	printf '%-44s %8.2fs %10s webhooks/s\n' "jrn-send, signed webhooks (32 in flight)" "$m_h" "$(rate "$mails" "$m_h")"
else
	echo "bench: node or t/peers missing (make deps): webhooks skipped"
fi

# ---- the spool: rendered messages written as files. A file per message
# costs what the file system charges for creating one, so the same number
# of files written by a Python loop is measured beside it (the floor), and
# the spool on tmpfs (/dev/shm) shows jrn-send's own cost.
# (the clean-up before each run is not timed: removing 20,000 files is not
# what is measured)
spool_jrn() { "$bin/jrn-send" --db "$dir/send.db" --spool "$1" "$mail" > /dev/null; }
dry_jrn() { rm -rf "$dir/send.db"*; "$bin/jrn-send" --db "$dir/send.db" --dry-run "$mail" > /dev/null; }
py_files() {
	eml=$(ls "$dir"/spool/*.eml | head -1) &&
	/usr/bin/python3 - "$dir/pyfiles" "$eml" "$mails" <<'PY'
import os, sys
d, src, n = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
for i in range(n):
    with open(f"{d}/{i:032x}.eml", "wb") as f:
        f.write(src)
PY
}
shm=/dev/shm/jrn-bench-spool-$$
t_s=() t_m=() t_p=() t_d=()
for ((i = 0; i < runs; i++)); do
	rm -rf "$dir/send.db"* "$dir/spool"
	t_s+=("$(seconds spool_jrn "$dir/spool")")
	rm -rf "$dir/pyfiles" && mkdir "$dir/pyfiles"
	t_p+=("$(seconds py_files)")
	if [ -d /dev/shm ]; then
		rm -rf "$dir/send.db"* "$shm"
		t_m+=("$(seconds spool_jrn "$shm")")
	fi
	t_d+=("$(seconds dry_jrn)")
done
m_s=$(median "${t_s[@]}") m_p=$(median "${t_p[@]}") m_d=$(median "${t_d[@]}")
printf '%-44s %8.2fs %10s messages/s\n' "jrn-send --spool DIR (render, ledger, files)" "$m_s" "$(rate "$mails" "$m_s")"
printf '%-44s %8.2fs %10s files/s\n' "python3 writing the same files (fs floor)" "$m_p" "$(rate "$mails" "$m_p")"
if [ ${#t_m[@]} -gt 0 ]; then
	m_m=$(median "${t_m[@]}")
	printf '%-44s %8.2fs %10s messages/s\n' "jrn-send --spool on tmpfs (/dev/shm)" "$m_m" "$(rate "$mails" "$m_m")"
fi
printf '%-44s %8.2fs %10s messages/s\n' "jrn-send --dry-run (render only)" "$m_d" "$(rate "$mails" "$m_d")"
rm -rf "$dir/spool" "$dir/pyfiles" "$shm" "$dir/send.db"*
