#!/usr/bin/env bash
# A server that stalls for 1 s once: the open-loop p99 must show the stall, while a closed-loop
# client (latency from the actual send, as wrk measures it) hides it.
# usage: stall_test.sh DENALI_LOAD STALL_SERVER
set -u
LOAD=$1
SERVER=$2
. "$(dirname "$0")/lib.sh"
FAILED=0
TMP=$(mktemp -d /tmp/denali-load-stall.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_server NAME: a stall server that stalls 2 s after its first request, for 1 s; sets port
start_server() {
	"$SERVER" "$TMP/$1.port" 2000 1000 30 >/dev/null 2>"$TMP/$1.log" &
	PIDS+=($!)
	wait_file "$TMP/$1.port" || { echo "FAIL: stall server did not start"; exit 1; }
	port=$(cat "$TMP/$1.port")
}

start_server open
"$LOAD" -t "127.0.0.1:$port/" --rate 2000 --arrival constant --duration 4s --warmup 1s \
	--conns-per-target 4 >"$TMP/open.out" || { cat "$TMP/open.out"; echo "FAIL: open run"; exit 1; }
cat "$TMP/open.out"

start_server closed
"$LOAD" -t "127.0.0.1:$port/" --closed --concurrency 4 --conns-per-target 4 --max-conns 4 \
	--duration 4s --warmup 1s >"$TMP/closed.out" || { cat "$TMP/closed.out"; echo "FAIL: closed run"; exit 1; }
cat "$TMP/closed.out"

op99=$(jget p99_ms "$TMP/open.out")
omax=$(jget max_ms "$TMP/open.out")
ofail=$(jget failures "$TMP/open.out")
cp99=$(jget p99_ms "$TMP/closed.out")
cmax=$(jget max_ms "$TMP/closed.out")
echo "stall: open-loop p99 ${op99} ms (max ${omax}); closed-loop p99 ${cp99} ms (max ${cmax})"
check "both clients saw the 1 s stall (max >= 900 ms)" "$omax >= 900 && $cmax >= 900"
check "open-loop p99 reflects the stall (>= 500 ms)" "$op99 >= 500"
check "closed-loop p99 hides it (< a fifth of the open-loop p99)" "$cp99 < $op99 / 5"
check "no request failed in the open run" "$ofail == 0"
[ "$FAILED" = 0 ] && echo "stall test passed" || exit 1
