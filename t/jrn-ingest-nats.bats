#!/usr/bin/env bats
# jrn-ingest --publish and --from against a real nats-server with JetStream
# (one server, R1) on 127.0.0.1, a free port it picks itself (-p -1; never
# 4222), its store under $BATS_TEST_TMPDIR, killed in teardown.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	command -v nats-server > /dev/null || skip "no nats-server (make deps)"
	nats_start || return 1
}

teardown() {
	[ -z "${NATS_PID:-}" ] || kill -9 "$NATS_PID" 2> /dev/null || :
	[ -z "${BG:-}" ] || kill -9 "$BG" 2> /dev/null || :
	[ -z "${BG2:-}" ] || kill -9 "$BG2" 2> /dev/null || :
	wait 2> /dev/null || :
}

# nats_start [OPTION...]: a JetStream server on a port of its choosing,
# with nats-server's OPTIONs; sets NATS_URL
nats_start() {
	: > nats.log # (made before the background job: nats_start_secure says why)
	nats-server -a 127.0.0.1 -p -1 -js -sd "$BATS_TEST_TMPDIR/js" "$@" >> nats.log 2>&1 &
	NATS_PID=$!
	local i port=
	for i in $(seq 100); do
		port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' nats.log)
		[ -n "$port" ] && grep -q "Server is ready" nats.log && break
		sleep 0.1
	done
	[ -n "$port" ] || { cat nats.log >&2; return 1; }
	NATS_PORT=$port
	NATS_URL=nats://127.0.0.1:$port
}

# raw_pub SUBJECT LINE: a plain NATS publish (no jrn checks), which the
# stream stores all the same
raw_pub() {
	python3 - "$NATS_PORT" "$1" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(4096)
body = sys.argv[3].encode()
s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPUB %s %d\r\n%s\r\nPING\r\n'
          % (sys.argv[2].encode(), len(body), body))
buf = b""
while b"PONG" not in buf:
    buf += s.recv(4096)
EOF
}

ids() { sqlite3 "$1" 'SELECT id FROM events ORDER BY id'; }

@test "--publish writes each event once acked; --from --drain stores every one once with its offsets" {
	"$JRN_GEN" -n 300 -c 60 > in.ndjson
	run --separate-stderr jrn-ingest --publish "$NATS_URL" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 300
	assert_regex "$stderr" '300 published, 0 duplicate, 0 rejected'
	assert [ ! -e jrn.db ] # --publish keeps no state file
	jq -r .id in.ndjson | sort > want
	printf '%s\n' "${lines[@]}" | jq -r .id | sort > got
	cmp want got
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "${#lines[@]}" 300
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "300|300"
	ids c.db | cmp - want
	# 60 customers fill the 8 partitions; the last stream sequence is 300
	assert_equal "$(sqlite3 c.db "SELECT count(*), max(seq) FROM log_offsets WHERE stream = 'JRN'")" "8|300"
	# a second drain finds nothing new
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0/8,1-7 --drain
	assert_success
	assert_equal "${#lines[@]}" 0
	assert_regex "$stderr" '0 stored, 0 duplicate, 0 rejected'
}

@test "the same file published twice is stored once" {
	"$JRN_GEN" -n 200 -c 40 > in.ndjson
	jrn-ingest -q --publish "$NATS_URL" in.ndjson > /dev/null
	run --separate-stderr jrn-ingest --publish "$NATS_URL" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 0
	assert_regex "$stderr" '0 published, 200 duplicate'
	run --separate-stderr jrn-ingest --publish "$NATS_URL" --all in.ndjson
	assert_equal "${#lines[@]}" 200
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "200|200"
}

@test "a consumer killed (kill -9) mid-run and restarted stores every event exactly once" {
	"$JRN_GEN" -n 20000 -c 2000 > in.ndjson
	jrn-ingest -q --publish "$NATS_URL" in.ndjson > /dev/null
	n=0
	for round in 1 2 3; do
		jrn-ingest -q --db c.db --batch-size 300 --from "$NATS_URL" --partitions 0-7 > /dev/null &
		BG=$!
		# killed once it stored more than before (mid-run), or after 10 s
		for _ in $(seq 100); do
			m=$(sqlite3 c.db 'SELECT count(*) FROM events' 2> /dev/null || echo 0)
			[ "${m:-0}" -gt "$n" ] && break
			sleep 0.1
		done
		kill -9 "$BG"
		wait "$BG" || :
		BG=
		n=$(sqlite3 c.db 'SELECT count(*) FROM events')
		assert_equal "$(sqlite3 c.db 'SELECT count(DISTINCT id) FROM events')" "$n"
	done
	echo "# stored before the last restart: $n" >&3
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "${#lines[@]}" $((20000 - n))
	assert_regex "$stderr" ' 0 duplicate'
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "20000|20000"
	jq -r .id in.ndjson | sort | cmp - <(ids c.db)
}

@test "two consumers with disjoint partitions hold disjoint customers and together every event" {
	"$JRN_GEN" -n 2000 -c 300 > in.ndjson
	jrn-ingest -q --publish "$NATS_URL" in.ndjson > /dev/null
	jrn-ingest -q --db a.db --from "$NATS_URL" --partitions 0-3 --drain > /dev/null
	jrn-ingest -q --db b.db --from "$NATS_URL" --partitions 4,5,6,7 --drain > /dev/null
	a=$(sqlite3 a.db 'SELECT count(*) FROM events')
	b=$(sqlite3 b.db 'SELECT count(*) FROM events')
	assert [ "$a" -gt 0 ]
	assert [ "$b" -gt 0 ]
	assert_equal $((a + b)) 2000
	assert_equal "$(sqlite3 a.db "ATTACH 'b.db' AS b; SELECT count(*) FROM (SELECT DISTINCT customer_id FROM main.events INTERSECT SELECT DISTINCT customer_id FROM b.events)")" 0
	sort <(ids a.db) <(ids b.db) | cmp - <(jq -r .id in.ndjson | sort)
	# each log_offsets names only its own partitions
	assert_equal "$(sqlite3 a.db 'SELECT group_concat(partition) FROM log_offsets')" "0,1,2,3"
	assert_equal "$(sqlite3 b.db 'SELECT group_concat(partition) FROM log_offsets')" "4,5,6,7"
}

@test "--from while the store thread waits (the state file locked): what comes meanwhile is one batch, one transaction" {
	"$JRN_GEN" -n 50000 -c 5000 > in.ndjson
	jrn-ingest -q --publish "$NATS_URL" in.ndjson > /dev/null
	jrn-ingest -q --db c.db /dev/null
	( echo 'BEGIN IMMEDIATE;'; sleep 4; echo 'COMMIT;' ) | sqlite3 c.db &
	BG=$!
	for _ in $(seq 50); do
		sqlite3 c.db 'BEGIN IMMEDIATE; ROLLBACK;' 2> /dev/null || break
		sleep 0.05
	done
	# the first batch goes after 50 ms (the store thread waits for it) and
	# stays on the lock; the rest of the stream, read meanwhile, is the
	# second, not a batch every 50 ms of it queued behind
	run --separate-stderr jrn-ingest -v --db c.db --batch-size 100000 --from "$NATS_URL" \
		--partitions 0-7 --drain
	assert_success
	assert_equal "${#lines[@]}" 50000
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "50000|50000"
	n=$(sed -n 's/.*: \([0-9]*\) transactions\{0,1\}, the largest of.*/\1/p' <<< "$stderr")
	assert [ -n "$n" ]
	assert [ "$n" -le 2 ]
	wait "$BG"
	BG=
}

@test "--from follows until SIGTERM: the batch in hand is committed, exit 0" {
	"$JRN_GEN" -n 500 -c 50 > in.ndjson
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 > out.ndjson 2> err &
	BG=$!
	sleep 1
	jrn-ingest -q --publish "$NATS_URL" in.ndjson > /dev/null
	for _ in $(seq 50); do
		[ "$(sqlite3 c.db 'SELECT count(*) FROM events' 2> /dev/null)" = 500 ] && break
		sleep 0.1
	done
	kill -TERM "$BG"
	rc=0
	wait "$BG" || rc=$?
	BG=
	assert_equal "$rc" 0
	assert_equal "$(wc -l < out.ndjson)" 500
	assert_equal "$(sqlite3 c.db 'SELECT count(*) FROM events')" 500
}

@test "bad records: rejected as today (exit 3), the good ones published" {
	{ ev order.completed c1 '"id":"o1","properties":{"amount":5}'
	  echo 'not json'
	  ev order.completed c2 '"id":"o2"'
	  ev user.signup c3 '"id":"s3"'; } > in.ndjson
	run --separate-stderr jrn-ingest --publish "$NATS_URL" in.ndjson
	assert_failure 3
	assert_equal "${#lines[@]}" 2
	assert_regex "$stderr" 'in.ndjson:2: '
	assert_regex "$stderr" 'in.ndjson:3: '
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT group_concat(id) FROM (SELECT id FROM events ORDER BY id)')" "o1,s3"
}

@test "--from: a message of another partition than its subject says is rejected, named" {
	jrn-ingest -q --publish "$NATS_URL" < /dev/null # makes the stream
	# c1 is partition 3 of 8 (Kafka's murmur2); sent to partition 0
	raw_pub jrn.events.0 "$(ev user.signup c1 '"id":"x1"')"
	raw_pub jrn.events.3 "$(ev user.signup c1 '"id":"x2"')"
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_failure 3
	assert_equal "${#lines[@]}" 1
	assert_regex "$stderr" 'nats:jrn.events.0:1: customerId: partition 3 of 8, not 0 as its subject says'
	assert_equal "$(sqlite3 c.db 'SELECT id FROM events')" x2
	# the rejected message is behind the position all the same
	assert_equal "$(sqlite3 c.db 'SELECT partition || ":" || seq FROM log_offsets ORDER BY 1')" "$(printf '0:1\n3:2')"
}

@test "--from of every partition reads them as one consumer: other subjects left alone, offsets apart resumed" {
	jrn-ingest -q --publish "$NATS_URL" < /dev/null # makes the stream
	# c1 is partition 3 of 8, c5 partition 7 (Kafka's murmur2)
	raw_pub jrn.events.3 "$(ev user.signup c1 '"id":"a1"')"
	raw_pub jrn.events.x "$(ev user.signup c1 '"id":"a2"')"
	raw_pub jrn.events.03 "$(ev user.signup c1 '"id":"a3"')"
	raw_pub jrn.events.8 "$(ev user.signup c1 '"id":"a4"')"
	raw_pub jrn.events.7 "$(ev user.signup c5 '"id":"a5"')"
	# partition 7 alone first: its offset is ahead of partition 3's
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT partition || ":" || seq FROM log_offsets')" 7:5
	raw_pub jrn.events.3 "$(ev user.signup c1 '"id":"a6"')"
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "$(jq -r .id <<< "$output" | paste -sd' ')" "a1 a6"
	assert_regex "$stderr" ' 2 stored, 0 duplicate, 0 rejected'
	assert_equal "$(ids c.db | paste -sd' ')" "a1 a5 a6"
	assert_equal "$(sqlite3 c.db 'SELECT partition || ":" || seq FROM log_offsets ORDER BY 1' | paste -sd' ')" "3:6 7:5"
	# every partition at its end: nothing; then one partition's new event
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_output ''
	raw_pub jrn.events.7 "$(ev user.signup c5 '"id":"a7"')"
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "$(jq -r .id <<< "$output")" a7
	assert_equal "$(sqlite3 c.db 'SELECT partition || ":" || seq FROM log_offsets ORDER BY 1' | paste -sd' ')" "3:6 7:7"
}

@test "the stream is created once from config and never changed: other partitions or subjects exit 1" {
	printf 'nats:\n  partitions: 4\n  storage: memory\n' > four.yaml
	run --separate-stderr jrn-ingest --config four.yaml --publish "$NATS_URL" < /dev/null
	assert_success
	run --separate-stderr jrn-ingest --publish "$NATS_URL" < /dev/null
	assert_failure 1
	assert_regex "$stderr" "^jrn-ingest: stream JRN exists with another partition count \('jrn partitions=4'\), not 8 \(nats.partitions\)"
	printf 'nats:\n  partitions: 4\n  subject: other.ev\n' > other.yaml
	run --separate-stderr jrn-ingest --config other.yaml --from "$NATS_URL" --partitions 0 --drain
	assert_failure 1
	assert_regex "$stderr" 'stream JRN exists with other subjects \(jrn.events.\*\), not other.ev.\*'
	run --separate-stderr jrn-ingest --config four.yaml --from "$NATS_URL" --partitions 1/4 --drain
	assert_success
	assert_equal "$stderr" "jrn-ingest: 0 stored, 0 duplicate, 0 rejected"
	# a consumer that has to create its stream says so: a misspelled
	# nats.stream would otherwise wait for nothing in silence
	printf 'nats:\n  stream: JRNN\n  subject: jrn.evnts\n  storage: memory\n' > typo.yaml
	run --separate-stderr jrn-ingest --config typo.yaml --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "$stderr" "jrn-ingest: stream JRNN did not exist: created, empty (--publish with the same nats.stream fills it)
jrn-ingest: 0 stored, 0 duplicate, 0 rejected"
	run --separate-stderr jrn-ingest --config typo.yaml --from "$NATS_URL" --partitions 0-7 --drain
	assert_equal "$stderr" "jrn-ingest: 0 stored, 0 duplicate, 0 rejected"
	run --separate-stderr jrn-ingest -q --config typo.yaml --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "$stderr" ""
}

@test "usage errors: exit 2" {
	run --separate-stderr jrn-ingest --publish http://127.0.0.1:1 < /dev/null
	assert_failure 2
	assert_regex "$stderr" "^jrn-ingest: --publish: 'http://127.0.0.1:1' is not nats://HOST\[:PORT\]"
	run --separate-stderr jrn-ingest --publish nats://127.0.0.1:99999 < /dev/null
	assert_failure 2
	assert_regex "$stderr" 'the port is not 1 to 65535'
	run --separate-stderr jrn-ingest --from "$NATS_URL"
	assert_failure 2
	assert_regex "$stderr" '^jrn-ingest: --from needs --partitions'
	run --separate-stderr jrn-ingest --from "$NATS_URL" --partitions 8
	assert_failure 2
	assert_regex "$stderr" '^jrn-ingest: --partitions: 8: not below the 8 partitions \(nats.partitions\)'
	run --separate-stderr jrn-ingest --from "$NATS_URL" --partitions 1/4
	assert_failure 2
	assert_regex "$stderr" '4 is not the 8 partitions'
	run --separate-stderr jrn-ingest --from "$NATS_URL" --partitions 3-1
	assert_failure 2
	assert_regex "$stderr" "'3-1' is not a range"
	run --separate-stderr jrn-ingest --from "$NATS_URL" --partitions 1,,2
	assert_failure 2
	run --separate-stderr jrn-ingest --publish "$NATS_URL" --from "$NATS_URL" --partitions 1
	assert_failure 2
	assert_regex "$stderr" '--publish and --from exclude each other'
	run --separate-stderr jrn-ingest --listen 127.0.0.1:0 --from "$NATS_URL" --partitions 1
	assert_failure 2
	assert_regex "$stderr" '--listen and --from exclude each other'
	run --separate-stderr jrn-ingest --partitions 1 < /dev/null
	assert_failure 2
	assert_regex "$stderr" '--partitions goes with --from only'
	run --separate-stderr jrn-ingest --from "$NATS_URL" --partitions 1 in.ndjson
	assert_failure 2
	assert_regex "$stderr" "--from takes no FILE"
	printf 'nats:\n  storage: disk\n' > bad.yaml
	run --separate-stderr jrn-ingest --config bad.yaml --publish "$NATS_URL" < /dev/null
	assert_failure
	assert_regex "$stderr" 'storage.*file or memory'
	# nothing was created by a refused run
	assert [ ! -e jrn.db ]
}

@test "a server not reachable at start: exit 1 naming the URL and libnats' reason" {
	kill -9 "$NATS_PID"
	wait "$NATS_PID" 2> /dev/null || :
	NATS_PID=
	ev user.signup c1 > in.ndjson
	run --separate-stderr jrn-ingest --publish "$NATS_URL" in.ndjson
	assert_failure 1
	assert_equal "${#lines[@]}" 0
	assert_equal "$stderr" "jrn-ingest: $NATS_URL: No server available for connection"
	run --separate-stderr jrn-ingest --db c.db --from "$NATS_URL,nats://127.0.0.1:1" --partitions 0-7 --drain
	assert_failure 1
	assert_equal "$stderr" "jrn-ingest: $NATS_URL,nats://127.0.0.1:1: No server available for connection"
}

@test "--publish to a closed stdout: a clean, silent exit" {
	"$JRN_GEN" -n 5000 > in.ndjson
	run bash -c 'jrn-ingest --publish "$0" in.ndjson | head -1; echo "status ${PIPESTATUS[0]}"' "$NATS_URL"
	assert_line --index 0 --partial '"type":"user.signup"'
	assert_line --index 1 "status 0"
	assert_equal "${#lines[@]}" 2
}

@test "--publish with stdout closed (>&-): exit 1 naming it; nothing written into the server's connection" {
	"$JRN_GEN" -n 100 > in.ndjson
	run --separate-stderr bash -c 'jrn-ingest --publish "$0" in.ndjson >&-' "$NATS_URL"
	assert_failure 1
	assert_regex "$stderr" 'jrn-ingest: writing output: Bad file descriptor'
	# libnats' socket did not take descriptor 1: the server saw no stray bytes
	sleep 0.2
	run grep -ci 'parser error' nats.log
	assert_output 0
}

@test "valgrind: a small publish and consume are clean" {
	command -v valgrind > /dev/null || skip "no valgrind"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (make asan checks this)"
	"$JRN_GEN" -n 50 -c 10 > in.ndjson
	vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
	run --separate-stderr "${vg[@]}" "$JRN_BIN/jrn-ingest" --publish "$NATS_URL" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 50
	run --separate-stderr "${vg[@]}" "$JRN_BIN/jrn-ingest" --db c.db --from "$NATS_URL" --partitions 0-7 --drain
	assert_success
	assert_equal "${#lines[@]}" 50
}

# nats_restart: kill -9 the server, start it again on the same port and store
nats_restart() {
	kill -9 "$NATS_PID"
	wait "$NATS_PID" 2> /dev/null || :
	sleep "${1:-1}"
	nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$BATS_TEST_TMPDIR/js" > nats2.log 2>&1 &
	NATS_PID=$!
}

@test "the server killed (kill -9) and restarted during --publish: waited out, every event stored once" {
	"$JRN_GEN" -n 30000 -c 3000 > in.ndjson
	jrn-ingest --batch-size 2000 --publish "$NATS_URL" in.ndjson > out.ndjson 2> err &
	BG=$!
	for _ in $(seq 100); do
		[ "$(wc -l < out.ndjson)" -gt 2000 ] && break
		sleep 0.1
	done
	nats_restart 2
	rc=0
	wait "$BG" || rc=$?
	BG=
	cat err >&3
	assert_equal "$rc" 0
	grep -q 'the server is gone' err
	# stdout: every event once (a re-sent one answered "duplicate" counts as new)
	jq -r .id in.ndjson | sort > want
	jq -r .id out.ndjson | sort | cmp - want
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "30000|30000"
}

@test "the server killed and restarted during --from: the consumer retries and goes on, nothing twice" {
	"$JRN_GEN" -n 3000 -c 300 > in.ndjson
	jrn-ingest -q --publish "$NATS_URL" in.ndjson > /dev/null
	jrn-ingest --db c.db --from "$NATS_URL" --partitions 0-7 > out.ndjson 2> err &
	BG=$!
	for _ in $(seq 100); do
		[ "$(wc -l < out.ndjson)" -ge 3000 ] && break
		sleep 0.1
	done
	nats_restart 1
	"$JRN_GEN" -n 3200 -c 300 | tail -n 200 > more.ndjson
	for _ in $(seq 100); do
		jrn-ingest -q --publish "$NATS_URL" more.ndjson > /dev/null 2>&1 && break
		sleep 0.2
	done
	for _ in $(seq 150); do
		[ "$(wc -l < out.ndjson)" -ge 3200 ] && break
		sleep 0.1
	done
	kill -TERM "$BG"
	rc=0
	wait "$BG" || rc=$?
	BG=
	cat err >&3
	assert_equal "$rc" 0
	assert_equal "$(grep -c 'the server is gone' err)" 1
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "3200|3200"
	assert_equal "$(wc -l < out.ndjson)" 3200
}

@test "acknowledgements that never come: exit 1 after nats.deadline naming the unacked, which are not written" {
	printf 'nats:\n  deadline: 2s\n  ackTimeout: 500ms\n' > d.yaml
	"$JRN_GEN" -n 30000 -c 3000 > in.ndjson
	jrn-ingest --config d.yaml --batch-size 1000 --publish "$NATS_URL" in.ndjson > out.ndjson 2> err &
	BG=$!
	for _ in $(seq 100); do
		[ "$(wc -l < out.ndjson)" -ge 1000 ] && break
		sleep 0.1
	done
	kill -STOP "$NATS_PID"
	rc=0
	wait "$BG" || rc=$?
	BG=
	kill -CONT "$NATS_PID"
	cat err >&3
	assert_equal "$rc" 1
	grep -Eq '^jrn-ingest: nats: [0-9]+ events unacked after 2000 ms \(nats.deadline\)' err
	n=$(wc -l < out.ndjson)
	assert [ "$n" -lt 30000 ]
	# the acked ones of the failing batch are written too
	u=$(sed -n 's/.* \([0-9]*\) events unacked.*/\1/p' err)
	assert_equal $(((n + u) % 1000)) 0
	# what was written was acked: it is in the stream, once
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(jq -r .id out.ndjson | sort -u | wc -l)" "$n"
	jq -r .id out.ndjson | sort > shown
	ids c.db > stored
	assert_equal "$(comm -23 shown stored | wc -l)" 0
}

@test "--publish and --from without a URL take nats.url of the config; a flag's URL wins over it" {
	"$JRN_GEN" -n 50 -c 20 > in.ndjson
	printf 'nats:\n  url: %s\n' "$NATS_URL" > good.yaml
	# the word after --publish is a FILE when it has no scheme
	run --separate-stderr jrn-ingest --config good.yaml --publish in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 50
	assert_regex "$stderr" '50 published, 0 duplicate, 0 rejected'
	run --separate-stderr jrn-ingest --config good.yaml --db c.db --from --partitions 0-7 --drain -v
	assert_success
	assert_regex "$stderr" 'nats: consume from nats.url \(--drain\)'
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "50|50"
	# the flag's URL overrides nats.url (here a closed port in the config)
	printf 'nats:\n  url: nats://127.0.0.1:1\n' > bad.yaml
	run --separate-stderr jrn-ingest --config bad.yaml --publish "$NATS_URL" in.ndjson
	assert_success
	assert_regex "$stderr" '0 published, 50 duplicate, 0 rejected'
	run --separate-stderr jrn-ingest --config bad.yaml --publish=nats://127.0.0.1:1 in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'nats://127.0.0.1:1'
	# no URL anywhere: a usage error naming the ways to give one
	run --separate-stderr jrn-ingest --publish in.ndjson
	assert_failure 2
	assert_regex "$stderr" 'no server: give --publish URL, --from URL or nats.url'
	printf 'nats:\n  url: tcp://x:1\n' > worse.yaml
	run --separate-stderr jrn-ingest --config worse.yaml --from --partitions 0/8 --drain
	assert_failure 2
	assert_regex "$stderr" "nats.url: 'tcp://x:1' is not nats://HOST\[:PORT\]"
}

# ---- --listen --publish: the edge that publishes (issue 17) ----

# serve_pub [OPTIONS...]: jrn-ingest --listen 127.0.0.1:0 --publish
# $NATS_URL in the background, stdout to lout.ndjson, stderr to lerr; sets
# BG and URL (the port it printed)
serve_pub() {
	: > lerr # (made before the loop reads it: the job may not have opened it yet)
	jrn-ingest --listen 127.0.0.1:0 --publish "$NATS_URL" "$@" > lout.ndjson 2> lerr &
	BG=$!
	local port=
	for _ in $(seq 200); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' lerr)
		[ -n "$port" ] && break
		kill -0 "$BG" 2> /dev/null || break
		sleep 0.05
	done
	[ -n "$port" ] || { cat lerr >&2; return 1; }
	URL=http://127.0.0.1:$port
}

# post BODY: POSTs BODY to /events; $output is the status, a newline, the reply
post() {
	run curl -s -m 60 -o reply.json -D headers -w '%{http_code}' -X POST --data-binary "$1" "$URL/events"
	output="$output
$(cat reply.json)"
}

evs() { # evs ID...: one page.viewed per ID, c1's
	local id
	for id in "$@"; do
		printf '{"id":"%s","type":"page.viewed","customerId":"c1","timestamp":"2025-06-01T12:00:00.000Z"}\n' "$id"
	done
}

@test "--listen --publish: 200 once JetStream acked each event, written to stdout; a resend is a duplicate; --from stores each once" {
	serve_pub
	post "$(evs a1 a2)"
	assert_line --index 0 200
	assert_output --partial '"stored":2,"duplicate":0,"rejected":0'
	post "$(evs a1 a3)"
	assert_line --index 0 200
	assert_output --partial '"stored":1,"duplicate":1'
	assert_output --partial '{"line":1,"status":"duplicate","id":"a1"}'
	# a bad line is rejected as from a file, the good one published
	post "$(evs a4; echo '{"id":"a5","type":"page.viewed"}')"
	assert_line --index 0 200
	assert_output --partial '"stored":1,"duplicate":0,"rejected":1'
	run curl -s -m 30 -w ' %{http_code}' "$URL/healthz"
	assert_output --partial '"status":"ok"'
	assert_output --partial ' 200'
	kill -TERM "$BG"
	rc=0
	wait "$BG" || rc=$?
	BG=
	assert_equal "$rc" 0
	grep -q '4 published, 1 duplicate, 1 rejected' lerr
	assert [ ! -e jrn.db ] # the edge keeps no state file
	assert_equal "$(jq -r .id lout.ndjson | paste -sd ' ')" "a1 a2 a3 a4"
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(ids c.db | paste -sd ' ')" "a1 a2 a3 a4"
}

@test "--listen --publish: no acknowledgement within nats.deadline is 503 with Retry-After, never 200; healthz says why; the resend once it is back" {
	printf 'nats:\n  deadline: 2s\n  ackTimeout: 500ms\n' > d.yaml
	serve_pub --config d.yaml
	post "$(evs b1)"
	assert_line --index 0 200
	kill -STOP "$NATS_PID"
	post "$(evs b2 b3)"
	kill -CONT "$NATS_PID"
	assert_line --index 0 503
	assert_output --partial 'not every event was acknowledged by the stream: try again'
	grep -qi '^Retry-After: ' headers
	run curl -s -m 30 -w ' %{http_code}' "$URL/healthz"
	assert_output --partial 'the last publish failed: 2 events unacked after 2000 ms (nats.deadline)'
	assert_output --partial ' 503'
	# a request of rejects alone publishes nothing: healthz still says so
	post '{"id":"r1","type":"page.viewed"}'
	assert_line --index 0 400
	run curl -s -m 30 -w ' %{http_code}' "$URL/healthz"
	assert_output --partial ' 503'
	# the sender's retry: 200, whichever of the two the stream took meanwhile
	post "$(evs b2 b3)"
	assert_line --index 0 200
	run curl -s -m 30 -w ' %{http_code}' "$URL/healthz"
	assert_output --partial ' 200'
	# the server killed: healthz says so, a POST is 503, nothing on stdout for it
	kill -9 "$NATS_PID"
	wait "$NATS_PID" 2> /dev/null || :
	for _ in $(seq 50); do
		run curl -s "$URL/healthz"
		[[ $output == *"not connected"* ]] && break
		sleep 0.1
	done
	assert_output --partial 'NATS server not reachable: not connected'
	post "$(evs b4)"
	assert_line --index 0 503
	nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$BATS_TEST_TMPDIR/js" > nats2.log 2>&1 &
	NATS_PID=$!
	for _ in $(seq 100); do
		post "$(evs b4)"
		[ "${lines[0]}" = 200 ] && break
		sleep 0.1
	done
	assert_line --index 0 200
	kill -TERM "$BG"
	wait "$BG" || :
	BG=
	# stdout: b1 and b4, each once; b2 and b3, taken by the stream while it
	# was stopped and answered 503, then duplicate, are in the stream (and
	# on stdout only if a re-send of the retry counted them as new)
	jq -r .id lout.ndjson | sort > shown
	assert_equal "$(uniq -d shown)" ""
	grep -qx b1 shown
	grep -qx b4 shown
	jrn-ingest -q --db c.db --from "$NATS_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT count(*), count(DISTINCT id) FROM events')" "4|4"
	assert_equal "$(ids c.db | paste -sd ' ')" "b1 b2 b3 b4"
}

@test "--listen --publish: an event over the server's max_payload is rejected, named; ingest.listen.twilio is refused (exit 2)" {
	kill -9 "$NATS_PID"
	wait "$NATS_PID" 2> /dev/null || :
	printf 'listen: 127.0.0.1:%s\nmax_payload: 400\njetstream { store_dir: "%s" }\n' \
		"$NATS_PORT" "$BATS_TEST_TMPDIR/js2" > small.conf
	nats-server -c small.conf > nats3.log 2>&1 &
	NATS_PID=$!
	for _ in $(seq 100); do
		grep -q "Server is ready" nats3.log && break
		sleep 0.1
	done
	grep -q "Server is ready" nats3.log
	serve_pub
	# the server counts the Nats-Msg-Id header too (27 bytes and the id):
	# 400 - 27 - 3 = 370 bytes of event fit, 371 do not
	pad() { # pad ID BYTES: an event of BYTES bytes once normalised
		local head='{"id":"'$1'","type":"page.viewed","customerId":"c1","timestamp":"2025-06-01T12:00:00.000Z","properties":{"pad":"'
		printf '%s%s"}}' "$head" "$(head -c $(($2 - ${#head} - 3)) /dev/zero | tr '\0' x)"
	}
	assert_equal "$(pad fit 370 | wc -c)" 370
	post "$(pad big 371)
$(pad fit 370)"
	assert_line --index 0 200
	assert_output --partial '"stored":1,"duplicate":0,"rejected":1'
	assert_output --partial "event of 371 bytes (401 with its Nats-Msg-Id header): over the server's max_payload (400 bytes)"
	assert_output --partial '{"line":2,"status":"stored","id":"fit"}'
	kill -TERM "$BG"
	wait "$BG" || :
	BG=
	printf 'ingest:\n  listen:\n    twilio:\n      authToken: t0ken\n' > tw.yaml
	run --separate-stderr jrn-ingest --config tw.yaml --listen 127.0.0.1:0 --publish "$NATS_URL"
	assert_failure 2
	assert_regex "$stderr" '^jrn-ingest: --listen with --publish: ingest.listen.twilio is set, and its routes need a state file'
	refute_regex "$stderr" 'listening on'
}

# ---- authentication and TLS (jrn-ingest(1), NATS SECURITY) ----

# nats_start_secure NAME ARGS...: another JetStream server with ARGS (its
# auth or TLS flags) on a port of its choosing; sets SECURE_URL (killed in
# teardown through BG2)
nats_start_secure() {
	local name=$1 i port=
	shift
	# (made here: the background job's redirection may come after the
	# first sed, which then fails, and so does the test under set -e)
	: > "$name.log"
	nats-server -a 127.0.0.1 -p -1 -js -sd "$BATS_TEST_TMPDIR/$name" "$@" >> "$name.log" 2>&1 &
	BG2=$!
	for i in $(seq 100); do
		port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$name.log")
		[ -n "$port" ] && grep -q "Server is ready" "$name.log" && break
		sleep 0.1
	done
	[ -n "$port" ] || { cat "$name.log" >&2; return 1; }
	SECURE_URL=nats://127.0.0.1:$port
}

# refused STATUS REGEX YAML: jrn-ingest --publish $SECURE_URL with the
# config YAML exits STATUS saying REGEX on stderr
refused() {
	printf '%b' "$3" > refused.yaml
	run --separate-stderr jrn-ingest --config refused.yaml --publish "$SECURE_URL" in.ndjson
	assert_failure "$1"
	assert_regex "$stderr" "$2"
}

@test "nats.user and nats.password (from \${NAME}): publish and consume; a wrong one is exit 1, never shown; half a pair is exit 2" {
	nats_start_secure auth --user ann --pass 's3cr3t-pw'
	"$JRN_GEN" -n 40 -c 8 > in.ndjson
	printf 'nats:\n  user: ann\n  password: ${NATS_PW}\n' > a.yaml
	run --separate-stderr env NATS_PW=s3cr3t-pw jrn-ingest --config a.yaml --publish "$SECURE_URL" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 40
	NATS_PW=s3cr3t-pw jrn-ingest -q --config a.yaml --db c.db --from "$SECURE_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT count(*) FROM events')" 40
	run --separate-stderr env NATS_PW=not-the-pw jrn-ingest -v --config a.yaml --publish "$SECURE_URL" in.ndjson
	assert_failure 1
	assert_regex "$stderr" "^jrn-ingest: $SECURE_URL: .*Authorization Violation"
	refute_regex "$stderr" 'not-the-pw'
	# no credentials at all: refused by the server, exit 1
	run --separate-stderr jrn-ingest --publish "$SECURE_URL" in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'Authorization Violation'
	refused 2 '^jrn-ingest: nats.user and nats.password go together' 'nats:\n  user: ann\n'
	refused 2 'nats.user, nats.token and nats.credentials exclude each other' \
		'nats:\n  user: ann\n  password: x\n  token: y\n'
	# a credentials file that cannot be read is named
	refused 1 '^jrn-ingest: nats.credentials: nowhere.creds: No such file or directory' \
		'nats:\n  credentials: nowhere.creds\n'
}

@test "nats.token (from \${NAME}): publish; a wrong token is refused, exit 1" {
	nats_start_secure tok --auth 'tok-123'
	"$JRN_GEN" -n 20 -c 4 > in.ndjson
	printf 'nats:\n  token: ${NATS_TOKEN}\n' > t.yaml
	run --separate-stderr env NATS_TOKEN=tok-123 jrn-ingest --config t.yaml --publish "$SECURE_URL" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 20
	run --separate-stderr env NATS_TOKEN=tok-999 jrn-ingest --config t.yaml --publish "$SECURE_URL" in.ndjson
	assert_failure 1
	assert_regex "$stderr" 'Authorization Violation'
	refute_regex "$stderr" 'tok-999'
}

@test "nats.tls: a server's certificate checked against nats.tls.ca; without it the handshake fails, named; a CA file missing or not a certificate is named" {
	command -v openssl > /dev/null || skip "no openssl (make deps)"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=jrn-test-ca 2> /dev/null
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2> /dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' > ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext 2> /dev/null
	nats_start_secure tls --tls --tlscert srv.pem --tlskey srv.key
	"$JRN_GEN" -n 30 -c 6 > in.ndjson
	printf 'nats:\n  tls:\n    ca: ca.pem\n' > t.yaml
	run --separate-stderr jrn-ingest --config t.yaml --publish "$SECURE_URL" in.ndjson
	assert_success
	assert_equal "${#lines[@]}" 30
	jrn-ingest -q --config t.yaml --db c.db --from "$SECURE_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(sqlite3 c.db 'SELECT count(*) FROM events')" 30
	run --separate-stderr jrn-ingest --publish "$SECURE_URL" in.ndjson
	assert_failure 1
	assert_regex "$stderr" "^jrn-ingest: $SECURE_URL: SSL Error: .*unable to get local issuer certificate"
	refused 1 '^jrn-ingest: nats.tls.ca: nothere.pem: No such file or directory$' \
		'nats:\n  tls:\n    ca: nothere.pem\n'
	refused 1 "^jrn-ingest: nats.tls.ca: srv.key: Error loading trusted certificates 'srv.key'" \
		'nats:\n  tls:\n    ca: srv.key\n'
	refused 2 'nats.tls.cert and nats.tls.key go together' 'nats:\n  tls:\n    cert: srv.pem\n'
	# a key that is not the certificate's (nor a key) is named as the key
	refused 1 '^jrn-ingest: nats.tls.key: ca.pem: ' 'nats:\n  tls:\n    cert: srv.pem\n    key: ca.pem\n'
}

@test "--listen --publish with nats.user and nats.password: the listener publishes to a server that asks for them" {
	nats_start_secure auth --user ann --pass 's3cr3t-pw'
	printf 'nats:\n  user: ann\n  password: ${NATS_PW}\n' > a.yaml
	NATS_URL=$SECURE_URL NATS_PW=s3cr3t-pw serve_pub --config a.yaml
	post "$(evs u1 u2)"
	assert_line --index 0 200
	assert_output --partial '"stored":2'
	kill -TERM "$BG"
	wait "$BG" || :
	BG=
	refute_regex "$(cat lerr)" 's3cr3t-pw'
	NATS_PW=s3cr3t-pw jrn-ingest -q --config a.yaml --db c.db --from "$SECURE_URL" --partitions 0-7 --drain > /dev/null
	assert_equal "$(ids c.db | paste -sd ' ')" "u1 u2"
	# a wrong password: the listener does not start (exit 1), naming the reason
	run --separate-stderr env NATS_PW=wrong jrn-ingest --config a.yaml --listen 127.0.0.1:0 --publish "$SECURE_URL"
	assert_failure 1
	assert_regex "$stderr" 'Authorization Violation'
	refute_regex "$stderr" 'listening on'
}

# unsub_mux: how many times jrn-ingest's connections unsubscribed sid 1,
# libnats' subscription for the answers to its requests, which only a
# drain unsubscribes (a close drops it); from the server's trace
unsub_mux() { grep -c 'C:jrn-ingest" - <<- \[UNSUB 1 \]' nats.log; }

@test "--publish drains its connection at exit (a late answer, or the last one, is handled before libnats stops)" {
	kill -9 "$NATS_PID"
	wait "$NATS_PID" 2> /dev/null || :
	nats_start -V || return 1 # -V: each client's protocol lines in nats.log
	printf 'nats:\n  ackTimeout: 100ms\n' > jrn.yaml
	"$JRN_GEN" -n 200 -c 40 > in.ndjson
	# every publish answered at once: drained all the same (the last
	# acknowledgement's message is freed by libnats's delivery thread after
	# the handler returned, which a close can outrun: LeakSanitizer caught
	# it under load); nothing published (an empty input): closed
	run --separate-stderr jrn-ingest -q --config jrn.yaml --publish "$NATS_URL" < /dev/null
	[ "$status" = 0 ] || fail "exit $status: $stderr"
	run unsub_mux
	assert_output 0
	run --separate-stderr jrn-ingest -q --config jrn.yaml --publish "$NATS_URL" in.ndjson
	[ "$status" = 0 ] || fail "exit $status: $stderr"
	assert_equal "${#lines[@]}" 200
	run unsub_mux
	assert_output 1
	# the server stopped while a batch is out: unanswered within 100 ms,
	# taken back and re-sent, the first answers coming late
	mkfifo in.fifo
	local subs
	subs=$(grep -c 'C:jrn-ingest" - <<- \[SUB _INBOX' nats.log)
	jrn-ingest --config jrn.yaml --publish "$NATS_URL" < in.fifo > out.ndjson 2> err &
	BG=$!
	exec {w}> in.fifo
	for i in $(seq 100); do # connected: its request subscription made
		[ "$(grep -c 'C:jrn-ingest" - <<- \[SUB _INBOX' nats.log)" -gt "$subs" ] && break
		sleep 0.1
	done
	kill -STOP "$NATS_PID"
	sed 's/"id":"/"id":"x/' in.ndjson >&"$w"
	sleep 0.5
	kill -CONT "$NATS_PID"
	exec {w}>&-
	wait "$BG"
	BG=
	assert_equal "$(wc -l < out.ndjson)" 200
	run cat err
	assert_output --partial "publishes unacked (no answer within nats.ackTimeout): re-sending"
	assert_output --partial "200 published, 0 duplicate, 0 rejected"
	run unsub_mux
	assert_output 2
}

@test "helgrind: --publish (the library's acknowledgement thread against the publishing one) and --from share nothing unguarded" {
	command -v valgrind > /dev/null || skip "no valgrind here"
	[ -z "${JRN_SANITIZED:-}" ] || skip "built with sanitizers (helgrind needs the plain build)"
	"$JRN_GEN" -n 3000 -c 100 > in.ndjson
	run --separate-stderr valgrind --tool=helgrind --history-level=approx -q --error-exitcode=9 \
		--suppressions="$BATS_TEST_DIRNAME/helgrind.supp" "$JRN_BIN/jrn-ingest" -q --publish "$NATS_URL" in.ndjson
	[ "$status" -eq 0 ] || fail "helgrind (exit $status): $(head -c 3000 <<<"$stderr")"
	assert_equal "${#lines[@]}" 3000
	run --separate-stderr valgrind --tool=helgrind --history-level=approx -q --error-exitcode=9 \
		--suppressions="$BATS_TEST_DIRNAME/helgrind.supp" "$JRN_BIN/jrn-ingest" -q --db c.db \
		--from "$NATS_URL" --partitions 0-7 --drain
	[ "$status" -eq 0 ] || fail "helgrind (exit $status): $(head -c 3000 <<<"$stderr")"
	assert_equal "$(sqlite3 c.db 'SELECT count(*) FROM events')" 3000
}

