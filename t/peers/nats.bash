# A NATS JetStream cluster on 127.0.0.1 for Bats tests (issue 17), beside
# t/peers.bash (load it after `load peers`: it uses its _peer_spawn, so each
# node runs in its own process group beside a watchdog, and peers_stop ends
# it too).
#
#   load helpers; load peers; load peers/nats
#   teardown() { nats_cluster_stop; peers_stop; }
#
#   nats_cluster_start [N]   N nodes (default 3) named n1..nN, cluster
#       "jrn-test", each `nats-server -a 127.0.0.1 -p PORT -n nI -m MONPORT
#       -js -sd DIR --cluster_name jrn-test --cluster nats://127.0.0.1:CPORT
#       --routes <the others>` on free ports (never 4222, where a Debian host
#       may run the packaged service); returns once every node's monitoring
#       port says JetStream is healthy and a meta leader is elected (at most
#       $NATS_TIMEOUT s, default 30), or fails with the nodes' log tails.
#       → NATS_DIR (the nodes' directories n1/.. with store/, log, pid),
#       NATS_URLS (nats://127.0.0.1:P1,nats://127.0.0.1:P2,...), NATS_URL
#       (the first), NATS_N, and per node NATS_PORT_I, NATS_MON_I
#   nats_node_start I    (re)starts node I with its former ports and store
#       and waits until its monitoring port answers /healthz
#   nats_node_kill I     kill -9 of node I's nats-server (not its watchdog's
#       group: the store stays as a crash leaves it)
#   nats_node_alive I    node I's nats-server runs
#   nats_node_of_name NAME   the index I of the node named NAME (n2 → 2)
#   nats_jsz I [QUERY]   node I's /jsz?QUERY (JSON) on its monitoring port
#   nats_stream_leader STREAM   the index of STREAM's leader, asked of every
#       live node until one names it (empty output, status 1, when none does)
#   nats_wait_stream_leader STREAM [TIMEOUT]   waits (default 30 s) for a
#       leader of STREAM; prints its index
#   nats_stream_msgs STREAM   the stream's message count (from /jsz of the
#       leader)
#   nats_req I SUBJECT [JSON]   a request over the NATS protocol itself
#       (bash's /dev/tcp, no client library): publishes JSON to SUBJECT on
#       node I with a reply inbox and prints the first reply's payload;
#       enough for the JetStream API ($JS.API.STREAM.CREATE.X, .INFO.X ...)
#   nats_pub I SUBJECT MSGID PAYLOAD   one publish with a Nats-Msg-Id
#       header, waiting for JetStream's ack (prints it)
#   nats_cluster_stop   kill -TERM (then -KILL) of every node this test
#       started, waiting until each is gone; when the test did not pass
#       (BATS_TEST_COMPLETED unset), prints the last lines of each node's
#       log (the logs stay in NATS_DIR/nI/log); safe to call twice
#   nats_skip_unless_installed   skips naming what is missing
#       (nats-server, curl, jq)
#
# The Bats process's own exit ends every node anyway (the watchdog of
# t/peers.bash), so no server outlives a failing or interrupted test.

: "${NATS_TIMEOUT:=30}"

# _nats_port_taken PORT: something listens on it, or it was handed out.
_nats_port_taken() {
	[ "$1" = 4222 ] && return 0
	case " ${_NATS_PORTS_GIVEN:-} " in *" $1 "*) return 0 ;; esac
	_peer_listening "$1"
}

# _nats_free_port VAR: sets VAR to a free port not handed out before (a
# variable, not output: the list must outlive the call), from this test
# lane's ports below the kernel's ephemeral range (peer_port_range in
# t/peers.bash): a port in that range can be taken by any outbound connection, a route
# dial among them, between this check and the node's bind, or while a
# killed node is down (seen: "bind: address already in use").
_nats_free_port() {
	local p n lo span
	peer_port_range lo span
	for n in $(seq 200); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % span))
		_nats_port_taken "$p" && continue
		_NATS_PORTS_GIVEN="${_NATS_PORTS_GIVEN:-} $p"
		printf -v "$1" %s "$p"
		export "${1?}"
		return 0
	done
	echo "nats.bash: no free port" >&2
	return 1
}

nats_skip_unless_installed() {
	local missing=()
	command -v nats-server >/dev/null || missing+=(nats-server)
	command -v curl >/dev/null || missing+=(curl)
	command -v jq >/dev/null || missing+=(jq)
	[ ${#missing[@]} -eq 0 ] || skip "test peers not installed (${missing[*]}): run make deps"
}

nats_cluster_start() {
	local try
	# a port taken by another program between the choice and the bind:
	# again on other ports, at most three times
	for try in 1 2 3; do
		_nats_cluster_try "$@" 2>"${BATS_TEST_TMPDIR:-/tmp}/nats-start.err" && return 0
		grep -q 'address already in use' "$NATS_DIR"/n*/log 2>/dev/null || break
		{ echo "# nats.bash: a port was taken; starting again on others" >&3; } 2>/dev/null || true
		BATS_TEST_COMPLETED=1 nats_cluster_stop
	done
	cat "${BATS_TEST_TMPDIR:-/tmp}/nats-start.err" >&2
	return 1
}

_nats_cluster_try() {
	local n=${1:-3} i j base routes
	base=$(_peer_base) || return 1
	NATS_DIR=$(mktemp -d "$base/nats.XXXX") || return 1
	NATS_N=$n
	NATS_URLS=
	_NATS_PORTS_GIVEN=
	for i in $(seq "$n"); do
		_nats_free_port "NATS_PORT_$i" || return 1
		_nats_free_port "NATS_MON_$i" || return 1
		_nats_free_port "NATS_CPORT_$i" || return 1
		mkdir -p "$NATS_DIR/n$i"
		NATS_URLS=${NATS_URLS:+$NATS_URLS,}nats://127.0.0.1:$(_nats_var PORT "$i")
	done
	for i in $(seq "$n"); do
		routes=
		for j in $(seq "$n"); do
			[ "$j" = "$i" ] && continue
			routes=${routes:+$routes,}nats://127.0.0.1:$(_nats_var CPORT "$j")
		done
		echo "$routes" >"$NATS_DIR/n$i/routes"
	done
	NATS_URL=nats://127.0.0.1:$NATS_PORT_1
	export NATS_DIR NATS_N NATS_URLS NATS_URL
	for i in $(seq "$n"); do
		_nats_spawn "$i" || return 1
	done
	for i in $(seq "$n"); do
		_nats_wait "$i" _nats_js_ready "$i" || return 1
	done
}

# _nats_var KIND I: the value of NATS_KIND_I.
_nats_var() {
	local v=NATS_$1_$2
	echo "${!v}"
}

# _nats_spawn I: starts node I (without waiting).
_nats_spawn() {
	local i=$1 d=$NATS_DIR/n$1
	rm -f "$d/pid"
	_peer_spawn "nats-n$i" nats-server -a 127.0.0.1 -p "$(_nats_var PORT "$i")" -n "n$i" \
		-m "$(_nats_var MON "$i")" -js -sd "$d/store" -P "$d/pid" -l "$d/log" \
		--cluster_name jrn-test --cluster "nats://127.0.0.1:$(_nats_var CPORT "$i")" \
		--routes "$(cat "$d/routes")" || return 1
	echo "$_PEER_PID" >"$d/group"
}

# _nats_wait I CHECK...: polls CHECK every 100 ms for $NATS_TIMEOUT s while
# node I lives.
_nats_wait() {
	local i=$1 n=$((NATS_TIMEOUT * 10)); shift
	while ! "$@"; do
		[ -s "$NATS_DIR/n$i/pid" ] && ! nats_node_alive "$i" && {
			_nats_fail "node n$i exited before it was ready"
			return 1
		}
		n=$((n - 1))
		[ "$n" -gt 0 ] || { _nats_fail "node n$i: '$*' not true after $NATS_TIMEOUT s"; return 1; }
		sleep 0.1
	done
}

_nats_fail() {
	local i
	{
		echo "nats.bash: $1"
		for i in $(seq "${NATS_N:-0}"); do
			[ -s "$NATS_DIR/n$i/log" ] || continue
			echo "  --- n$i ($NATS_DIR/n$i/log)"
			tail -15 "$NATS_DIR/n$i/log" | sed 's/^/  | /'
		done
	} >&2
	return 1
}

# _nats_healthy I: /healthz says ok (JetStream included).
_nats_healthy() {
	curl -sf --max-time 2 "http://127.0.0.1:$(_nats_var MON "$1")/healthz" 2>/dev/null |
		grep -q '"status": *"ok"'
}

# _nats_js_ready I: healthy and the node knows a meta leader. (Not also
# "counts NATS_N nodes": a node's route to a peer may come only later, or
# through the third node, and a start waited 30 s for it in vain.)
_nats_js_ready() {
	_nats_healthy "$1" &&
		nats_jsz "$1" | jq -e '(.meta_cluster.leader // "") != ""' >/dev/null 2>&1
}

nats_jsz() {
	curl -sf --max-time 3 "http://127.0.0.1:$(_nats_var MON "$1")/jsz${2:+?$2}"
}

nats_node_alive() {
	local pid
	pid=$(cat "$NATS_DIR/n$1/pid" 2>/dev/null) && [ -n "$pid" ] && _peer_alive "$pid"
}

nats_node_start() {
	nats_node_alive "$1" && { echo "nats.bash: node n$1 already runs" >&2; return 1; }
	_nats_spawn "$1" || return 1
	_nats_wait "$1" _nats_healthy "$1"
}

nats_node_kill() {
	local pid n
	pid=$(cat "$NATS_DIR/n$1/pid" 2>/dev/null) || { echo "nats.bash: node n$1 has no pid" >&2; return 1; }
	kill -KILL "$pid" 2>/dev/null || true
	for n in $(seq 100); do
		_peer_alive "$pid" || return 0
		sleep 0.05
	done
	echo "nats.bash: node n$1 ($pid) survived kill -9" >&2
	return 1
}

nats_node_of_name() {
	case $1 in n[0-9]*) echo "${1#n}" ;; *) return 1 ;; esac
}

nats_stream_leader() {
	local i name
	for i in $(seq "$NATS_N"); do
		nats_node_alive "$i" || continue
		name=$(nats_jsz "$i" 'accounts=true&streams=true' 2>/dev/null | jq -r --arg s "$1" \
			'[.account_details[]?.stream_detail[]? | select(.name == $s) | .cluster.leader // empty][0] // empty')
		[ -n "$name" ] || continue
		nats_node_alive "$(nats_node_of_name "$name")" || continue
		nats_node_of_name "$name"
		return 0
	done
	return 1
}

nats_wait_stream_leader() {
	local n=$((${2:-30} * 10))
	while [ "$n" -gt 0 ]; do
		nats_stream_leader "$1" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "nats.bash: no leader for stream $1 after ${2:-30} s" >&2
	return 1
}

nats_stream_msgs() {
	local l
	l=$(nats_stream_leader "$1") || return 1
	nats_jsz "$l" 'accounts=true&streams=true' | jq -r --arg s "$1" \
		'[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.messages][0]'
}

# _nats_talk I PROTOCOL-TEXT: sends the text (and a CRLF) to node I after CONNECT and
# prints the payload of the first MSG/HMSG (5 s at most).
_nats_talk() {
	local fd line len payload hdr LC_ALL=C
	exec {fd}<>"/dev/tcp/127.0.0.1/$(_nats_var PORT "$1")" || return 1
	IFS= read -r -t 5 line <&"$fd" || { exec {fd}>&-; return 1; }
	printf 'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\nSUB _INBOX.jrntest 1\r\n%s\r\n' "$2" >&"$fd"
	while IFS= read -r -t 5 line <&"$fd"; do
		line=${line%$'\r'}
		case $line in
		PING) printf 'PONG\r\n' >&"$fd" ;;
		-ERR*) echo "nats.bash: $line" >&2; exec {fd}>&-; return 1 ;;
		"MSG "*)
			len=${line##* }
			IFS= read -r -N "$((len + 2))" -t 5 payload <&"$fd"
			printf '%s\n' "${payload%$'\r\n'}"
			exec {fd}>&-
			return 0 ;;
		"HMSG "*)
			set -- $line
			len=${!#}
			hdr=${*: -2:1}
			IFS= read -r -N "$((len + 2))" -t 5 payload <&"$fd"
			payload=${payload:$hdr}
			printf '%s\n' "${payload%$'\r\n'}"
			exec {fd}>&-
			return 0 ;;
		esac
	done
	exec {fd}>&-
	echo "nats.bash: no reply from node n$1" >&2
	return 1
}

nats_req() {
	local body=${3-} msg LC_ALL=C
	printf -v msg 'PUB %s _INBOX.jrntest %d\r\n%s' "$2" "${#body}" "$body"
	_nats_talk "$1" "$msg"
}

nats_pub() {
	local hdr body=$4 msg LC_ALL=C
	printf -v hdr 'NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n' "$3"
	printf -v msg 'HPUB %s _INBOX.jrntest %d %d\r\n%s%s' "$2" "${#hdr}" \
		"$((${#hdr} + ${#body}))" "$hdr" "$body"
	_nats_talk "$1" "$msg"
}

nats_cluster_stop() {
	local i pid g n
	[ -n "${NATS_DIR:-}" ] && [ -d "$NATS_DIR" ] || return 0
	[ -n "${BATS_TEST_COMPLETED:-}" ] || _nats_fail "the test did not pass; the nodes' logs:" || true
	for i in $(seq "${NATS_N:-0}"); do
		pid=$(cat "$NATS_DIR/n$i/pid" 2>/dev/null) || pid=
		g=$(cat "$NATS_DIR/n$i/group" 2>/dev/null) || g=
		# a node or group already gone makes kill fail: under the
		# tests' set -e that must not end this function half way
		if [ -n "$g" ]; then kill -TERM -- "-$g" 2>/dev/null || :; fi
		if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || :; fi
		for n in $(seq 100); do
			{ [ -n "$pid" ] && _peer_alive "$pid"; } || break
			sleep 0.05
		done
		if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || :; fi
		if [ -n "$g" ]; then kill -KILL -- "-$g" 2>/dev/null || :; fi
	done
	NATS_N=0
	return 0
}
