#!/usr/bin/env bash
# The warm-up stays out of the measured figures: a server that stalls through most of the
# warm-up answers its backlog at the start of the measured window. Counting by arrival, those
# responses made "sustained" exceed "offered"; counted by intended send time they are not
# measured, so throughput <= offered, completed <= scheduled, and every measured request has
# one latency sample (or failed).
# usage: warmup_test.sh DENALI_LOAD STALL_SERVER
set -u
LOAD=$1
SERVER=$2
. "$(dirname "$0")/lib.sh"
FAILED=0
TMP=$(mktemp -d /tmp/denali-load-warmup.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# 100 ms after its first request the server stalls for 900 ms: the warm-up's backlog
# (~900 requests at 1,000 req/s) is answered right at the start of the window.
"$SERVER" "$TMP/port" 100 900 30 >/dev/null 2>"$TMP/server.log" &
PIDS+=($!)
wait_file "$TMP/port" || { echo "FAIL: stall server did not start"; exit 1; }
port=$(cat "$TMP/port")
"$LOAD" -t "127.0.0.1:$port/" --rate 1000 --arrival constant --duration 2s --warmup 1s \
	--conns-per-target 8 >"$TMP/open.out" || { cat "$TMP/open.out"; echo "FAIL: open run"; exit 1; }
cat "$TMP/open.out"
tput=$(jget throughput "$TMP/open.out")
offered=$(jget offered "$TMP/open.out")
sched=$(jget scheduled "$TMP/open.out")
done_=$(jget completed "$TMP/open.out")
fails=$(jget failures "$TMP/open.out")
inwin=$(jget responses_in_window "$TMP/open.out")
echo "warm-up: offered $offered req/s, sustained $tput req/s; $sched due, $done_ completed," \
	"$inwin responses arrived in the window (warm-up ones included)"
check "the warm-up backlog did arrive inside the window" "$inwin > $sched"
check "sustained does not exceed offered" "$tput <= $offered"
check "no more completed than due" "$done_ <= $sched"
check "every measured request completed or failed" "$done_ + $fails == $sched"
[ "$FAILED" = 0 ] && echo "warm-up test passed" || exit 1
