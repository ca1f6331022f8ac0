# Real servers for Bats tests, on 127.0.0.1 only, each started in one line.
# `make deps` installs them (Debian postfix, python3-httpbin, openssl, curl;
# t/peers/node_modules from t/peers/package-lock.json).
#
#   load peers                          # after `load helpers`
#   teardown() { peers_stop; }          # or teardown_file, see below
#
# Each start function makes a fresh directory under $BATS_TEST_TMPDIR (under
# $BATS_FILE_TMPDIR when called from setup_file), waits until its server is
# ready (at most $PEER_TIMEOUT s, default 10; prism $PEER_PRISM_TIMEOUT,
# default 30) or fails with the server's own error output, and exports:
#
#   peer_smtp_start [OPTION...]   t/peers/smtp-capture.js (npm smtp-server).
#       Options: --auth USER:PASS, --xoauth2 USER:TOKEN, --tls KEY,CERT, --secure (implicit TLS),
#       --require-tls, --reject-rcpt SUBSTR, --tempfail N, --permfail,
#       --drop-data N, --max-size BYTES (see the script's header).
#       → SMTP_PORT, SMTP_URL (smtp:// or smtps://127.0.0.1:PORT), SMTP_DIR:
#       N.eml (message N as received), N.json {mailFrom, rcptTo, user,
#       secure, size, heloName}, data.log (one line per DATA: "250 N",
#       "451 tempfail", "554 permfail", "drop")
#   peer_recorder_start [OPTION...]   t/peers/recorder.js: records requests,
#       replies 201 "{}" or from --body FILE, --status N, --script FILE
#       (JSON array of {status, headers, body, bodyFile, delayMs}, in order,
#       the last repeated), --count-only.
#       → REC_PORT, REC_URL, REC_DIR (N.json {method, url, headers, body}),
#       REC_COUNT_FILE (the request count, written when the recorder stops)
#   peer_recorder_count [PATH]   requests so far (to PATH), from the recorder
#       last started
#   peer_prism_twilio_start [RECORDER-OPTION...]   a recorder (default reply:
#       201 with t/peers/twilio-201.json) behind
#       `prism proxy --errors t/peers/twilio-messages.json`: requests that
#       break Twilio's spec get 422 and never reach the recorder; replies that
#       break it become 500 with an sl-violations header.
#       → TWILIO_URL (http://127.0.0.1:PRISM_PORT), PRISM_PORT, PRISM_LOG,
#       and the recorder's REC_*
#   peer_prism_openai_start [RECORDER-OPTION...]   the same for OpenAI's
#       Chat Completions: a recorder (default reply: 200 with
#       t/fixtures/openai/state-valid.json) behind `prism proxy --errors
#       t/peers/openai-chat-completions.json` (the sliced spec, MIT, see
#       t/peers/LICENSE-openai). A reply status the spec does not list
#       (500) passes with a Warning "Violation: response" in PRISM_LOG.
#       → OPENAI_URL (http://127.0.0.1:PRISM_PORT/v1, a baseUrl), PRISM_PORT,
#       PRISM_LOG, and the recorder's REC_*
#   peer_httpbin_start   Debian's python3-httpbin (/usr/bin/python3, werkzeug)
#       → HTTPBIN_PORT, HTTPBIN_URL
#   peer_sink_start [--no-dump] [SMTP-SINK-OPTION...]   postfix smtp-sink -c
#       on a free port; options such as -r/-f/-q/-Q CMD,... or -w DELAY are
#       passed through; each message is dumped into SINK_DIR unless --no-dump
#       → SINK_PORT, SINK_URL, SINK_DIR, SINK_COUNTERS (smtp-sink's -c line)
#   peer_sink_count   messages received so far by the sink last started
#   peer_test_ca DIR   writes DIR/ca.pem, ca.key, server.pem, server.key
#       (EC P-256; server cert for subjectAltName=IP:127.0.0.1, signed by ca)
#   peers_stop   stops every peer started by this test (in teardown; from
#       teardown_file: those started by setup_file); safe to call twice
#   peer_skip_unless_installed [smtp|recorder|prism|httpbin|sink|ca ...]
#       skips the test, naming what is missing (all of them by default)
#
# A second start of the same kind overwrites the variables: copy them first.
# Every peer runs in its own process group (setsid) beside a watchdog that
# ends the group when the Bats process that started it is gone, so no server
# outlives its test even without peers_stop.

# (no $(cd ... && pwd): this file is loaded by each test, and forks cost)
case ${BASH_SOURCE[0]} in
*/*) PEERS_DIR=${BASH_SOURCE[0]%/*}/peers ;;
*) PEERS_DIR=peers ;;
esac
case $PEERS_DIR in /*) ;; *) PEERS_DIR=$PWD/$PEERS_DIR ;; esac
: "${PEER_TIMEOUT:=10}" "${PEER_PRISM_TIMEOUT:=30}"
PEER_TWILIO_SPEC=$PEERS_DIR/twilio-messages.json
PEER_OPENAI_SPEC=$PEERS_DIR/openai-chat-completions.json

# Where this test's (or this file's, in setup_file) peers keep their state.
_peer_base() {
	local b=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-}}
	[ -n "$b" ] || { echo "peers.bash: no BATS_TEST_TMPDIR" >&2; return 1; }
	mkdir -p "$b/.peers" && echo "$b"
}

# _peer_spawn NAME CMD...: runs CMD in a new process group, output to
# $_PEER_LOG.out/.err; sets _PEER_PID (the group's id) and _PEER_LOG.
_peer_spawn() {
	local name=$1 base owner=$BASHPID; shift
	base=$(_peer_base) || return 1
	_PEER_LOG=$(mktemp "$base/.peers/$name.XXXXXX") || return 1
	# env --default-signal: Bats' shells may ignore SIGTERM, and a shell
	# cannot undo an ignored signal it inherited
	setsid env --default-signal bash -c 'owner=$1; shift
		"$@" & c=$!
		while kill -0 "$c" 2>/dev/null; do
			kill -0 "$owner" 2>/dev/null || kill -TERM 0
			sleep 0.5
		done
		wait "$c"' peer-watchdog "$owner" "$@" \
		</dev/null >"$_PEER_LOG.out" 2>"$_PEER_LOG.err" 3>&- &
	_PEER_PID=$!
	echo "$_PEER_PID $name" >>"$base/.peers/pids"
}

# _peer_fail NAME MESSAGE: prints the message and the server's stderr.
_peer_fail() {
	{
		echo "peer $1: $2"
		[ -s "$_PEER_LOG.err" ] && sed 's/^/  | /' "$_PEER_LOG.err" | tail -20
		[ -s "$_PEER_LOG.out" ] && sed 's/^/  > /' "$_PEER_LOG.out" | tail -5
	} >&2
	return 1
}

# _peer_wait NAME TIMEOUT CHECK-COMMAND...: polls every 50 ms.
_peer_wait() {
	local name=$1 t=$2 n=$(($2 * 20)); shift 2
	while ! "$@"; do
		_peer_alive "$_PEER_PID" || { _peer_fail "$name" "exited before it was ready"; return 1; }
		n=$((n - 1))
		[ "$n" -gt 0 ] || { _peer_fail "$name" "not ready after $t s"; return 1; }
		sleep 0.05
	done
}

_peer_file_ready() { [ -s "$1" ]; }

# _peer_alive PID: the process exists and is no zombie (this machine's init
# may be slow to reap orphans).
_peer_alive() {
	local s
	read -r s 2>/dev/null <"/proc/$1/stat" || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# _peer_session_alive SID: a process of that session is still running.
_peer_session_alive() {
	ps -o stat= -s "$1" 2>/dev/null | grep -qv '^Z'
}

# _peer_listening PORT: something listens on 127.0.0.1:PORT (or any address).
# peer_port_range LO SPAN: sets the variables LO and SPAN to the ports this
# test file may pick from, [LO, LO + SPAN): from 20000 up to the kernel's
# ephemeral range (ip_local_port_range, 32768 by default; a port in it can
# be taken by any outbound connection between a check and a bind), or 20000
# to 60000 when that range starts too low. t/run.sh runs JRN_TEST_LANES
# files at once, each with its JRN_TEST_LANE: each lane gets its own slice,
# so two files never pick the same port.
peer_port_range() {
	# the locals' names are not LO or SPAN's: printf -v would set them
	local _pr_lo _pr_span _pr_lanes=${JRN_TEST_LANES:-1} _pr_lane=${JRN_TEST_LANE:-0}
	read -r _pr_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || _pr_lo=32768
	_pr_span=$((_pr_lo - 20000))
	[ "$_pr_span" -ge 2000 ] || _pr_span=40000
	[ "$_pr_lanes" -ge 1 ] 2>/dev/null || _pr_lanes=1
	[ "$_pr_lane" -ge 0 ] 2>/dev/null && [ "$_pr_lane" -lt "$_pr_lanes" ] || _pr_lane=0
	_pr_span=$((_pr_span / _pr_lanes))
	printf -v "$1" %s $((20000 + _pr_lane * _pr_span))
	printf -v "$2" %s "$_pr_span"
}

_peer_listening() {
	local hex
	printf -v hex '%04X' "$1"
	grep -Eq "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

peer_smtp_start() {
	local base pf scheme=smtp a
	base=$(_peer_base) || return 1
	SMTP_DIR=$(mktemp -d "$base/smtp.XXXX") || return 1
	pf=$SMTP_DIR.port
	for a in "$@"; do [ "$a" = --secure ] && scheme=smtps; done
	_peer_spawn smtp node "$PEERS_DIR/smtp-capture.js" --port-file "$pf" --dir "$SMTP_DIR" "$@" || return 1
	_peer_wait smtp "$PEER_TIMEOUT" _peer_file_ready "$pf" || return 1
	SMTP_PORT=$(cat "$pf")
	SMTP_URL=$scheme://127.0.0.1:$SMTP_PORT
	export SMTP_PORT SMTP_URL SMTP_DIR
}

peer_recorder_start() {
	local base pf
	base=$(_peer_base) || return 1
	REC_DIR=$(mktemp -d "$base/rec.XXXX") || return 1
	pf=$REC_DIR.port
	REC_COUNT_FILE=$REC_DIR.count
	_peer_spawn recorder node "$PEERS_DIR/recorder.js" --port-file "$pf" --dir "$REC_DIR" \
		--count-file "$REC_COUNT_FILE" "$@" || return 1
	_peer_wait recorder "$PEER_TIMEOUT" _peer_file_ready "$pf" || return 1
	REC_PORT=$(cat "$pf")
	REC_URL=http://127.0.0.1:$REC_PORT
	export REC_PORT REC_URL REC_DIR REC_COUNT_FILE
}

peer_recorder_count() {
	curl -sS --max-time 5 "$REC_URL/__recorder/counts" |
		jq -r --arg p "${1-}" 'if $p == "" then .total else (.paths[$p] // 0) end'
}

peer_prism_twilio_start() {
	local a custom=
	for a in "$@"; do
		case $a in --body|--script|--status) custom=1 ;; esac
	done
	if [ -n "$custom" ]; then
		peer_recorder_start "$@" || return 1
	else
		peer_recorder_start --body "$PEERS_DIR/twilio-201.json" "$@" || return 1
	fi
	_peer_spawn prism node "$PEERS_DIR/node_modules/@stoplight/prism-cli/dist/index.js" \
		proxy -h 127.0.0.1 -p 0 --errors "$PEER_TWILIO_SPEC" "$REC_URL" || return 1
	PRISM_LOG=$_PEER_LOG.out
	_peer_wait prism "$PEER_PRISM_TIMEOUT" grep -q 'Prism is listening on' "$PRISM_LOG" || return 1
	PRISM_PORT=$(sed -n 's|.*Prism is listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$PRISM_LOG" | head -1)
	[ -n "$PRISM_PORT" ] || { _peer_fail prism "no port in its output"; return 1; }
	TWILIO_URL=http://127.0.0.1:$PRISM_PORT
	export PRISM_PORT PRISM_LOG TWILIO_URL
}

# _peer_prism_start SPEC: prism proxy --errors SPEC in front of $REC_URL.
_peer_prism_start() {
	_peer_spawn prism node "$PEERS_DIR/node_modules/@stoplight/prism-cli/dist/index.js" \
		proxy -h 127.0.0.1 -p 0 --errors "$1" "$REC_URL" || return 1
	PRISM_LOG=$_PEER_LOG.out
	_peer_wait prism "$PEER_PRISM_TIMEOUT" grep -q 'Prism is listening on' "$PRISM_LOG" || return 1
	PRISM_PORT=$(sed -n 's|.*Prism is listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$PRISM_LOG" | head -1)
	[ -n "$PRISM_PORT" ] || { _peer_fail prism "no port in its output"; return 1; }
	export PRISM_PORT PRISM_LOG
}

peer_prism_openai_start() {
	local a custom=
	for a in "$@"; do
		case $a in --body|--script|--status) custom=1 ;; esac
	done
	if [ -n "$custom" ]; then
		peer_recorder_start "$@" || return 1
	else
		peer_recorder_start --status 200 --body "$PEERS_DIR/../fixtures/openai/state-valid.json" "$@" || return 1
	fi
	_peer_prism_start "$PEER_OPENAI_SPEC" || return 1
	OPENAI_URL=http://127.0.0.1:$PRISM_PORT/v1
	export OPENAI_URL
}

peer_httpbin_start() {
	_peer_spawn httpbin /usr/bin/python3 -c '
import sys
from werkzeug.serving import make_server
from httpbin import app
s = make_server("127.0.0.1", 0, app, threaded=True)
print(s.server_port, flush=True)
s.serve_forever()' || return 1
	_peer_wait httpbin "$PEER_TIMEOUT" _peer_file_ready "$_PEER_LOG.out" || return 1
	HTTPBIN_PORT=$(head -1 "$_PEER_LOG.out")
	HTTPBIN_URL=http://127.0.0.1:$HTTPBIN_PORT
	export HTTPBIN_PORT HTTPBIN_URL
}

peer_sink_start() {
	local base dump=1 try port user=() sink=smtp-sink lo span
	[ "${1-}" = --no-dump ] && { dump=; shift; }
	command -v smtp-sink >/dev/null || sink=/usr/sbin/smtp-sink
	[ "$(id -u)" = 0 ] && user=(-u root)
	base=$(_peer_base) || return 1
	SINK_DIR=$(mktemp -d "$base/sink.XXXX") || return 1
	SINK_COUNTERS=$SINK_DIR.counters
	peer_port_range lo span
	for try in $(seq 20); do
		port=$((lo + (RANDOM * 32768 + RANDOM) % span))
		_peer_listening "$port" && continue
		_peer_spawn sink "$sink" -c "${user[@]}" ${dump:+-d "$SINK_DIR/%Y%m%d%H%M%S."} "$@" \
			"127.0.0.1:$port" 64 || return 1
		ln -sf "$_PEER_LOG.out" "$SINK_COUNTERS"
		if _peer_wait sink "$PEER_TIMEOUT" _peer_listening "$port" 2>/dev/null; then
			SINK_PORT=$port
			SINK_URL=smtp://127.0.0.1:$port
			export SINK_PORT SINK_URL SINK_DIR SINK_COUNTERS
			return 0
		fi
		grep -q 'in use' "$_PEER_LOG.err" || { _peer_fail sink "did not start"; return 1; }
	done
	_peer_fail sink "no free port found in 20 tries"
}

peer_sink_count() {
	local last
	last=$(tr '\r' '\n' <"$SINK_COUNTERS" | grep 'mesg=' | tail -1)
	echo "${last##*mesg=}" | tr -dc 0-9
	echo
}

peer_test_ca() {
	local d=$1
	mkdir -p "$d" || return 1
	(
		cd "$d" || exit 1
		set -e
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
		openssl req -x509 -new -key ca.key -subj "/CN=jrn test CA" -days 3650 -out ca.pem \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
		openssl req -new -key server.key -subj /CN=127.0.0.1 -out server.csr
		printf '%s\n' subjectAltName=IP:127.0.0.1 basicConstraints=CA:FALSE \
			keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth \
			subjectKeyIdentifier=hash authorityKeyIdentifier=keyid >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
			-extfile server.ext -out server.pem 2>/dev/null
		rm -f server.csr server.ext ca.srl
	) || { echo "peer_test_ca: openssl failed in $d" >&2; return 1; }
}

peers_stop() {
	local base pids pid name n
	base=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-}}
	pids=$base/.peers/pids
	[ -n "$base" ] && [ -f "$pids" ] || return 0
	while read -r pid name; do
		kill -TERM -- "-$pid" 2>/dev/null || continue
		for n in $(seq 100); do
			_peer_session_alive "$pid" || break
			sleep 0.05
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
	done <"$pids"
	rm -f "$pids"
	return 0
}

peer_skip_unless_installed() {
	local missing=() w
	[ $# -gt 0 ] || set -- smtp recorder prism httpbin sink ca
	for w in "$@"; do
		case $w in
		smtp) command -v node >/dev/null && [ -d "$PEERS_DIR/node_modules/smtp-server" ] ||
			missing+=("node + t/peers/node_modules/smtp-server") ;;
		recorder) command -v node >/dev/null || missing+=(node) ;;
		prism) command -v node >/dev/null && [ -d "$PEERS_DIR/node_modules/@stoplight/prism-cli" ] ||
			missing+=("node + t/peers/node_modules/@stoplight/prism-cli") ;;
		httpbin) [ -f /usr/lib/python3/dist-packages/httpbin/core.py ] && [ -x /usr/bin/python3 ] ||
			missing+=("python3-httpbin") ;;
		sink) command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ] ||
			missing+=("smtp-sink (postfix)") ;;
		ca) command -v openssl >/dev/null || missing+=(openssl) ;;
		*) echo "peer_skip_unless_installed: unknown peer $w" >&2; return 1 ;;
		esac
	done
	command -v curl >/dev/null || missing+=(curl)
	[ ${#missing[@]} -eq 0 ] || skip "test peers not installed (${missing[*]}): run make deps"
}
