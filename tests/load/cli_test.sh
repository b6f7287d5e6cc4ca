#!/usr/bin/env bash
# denali-load's command line: --help, clear errors with exit code 2 for bad arguments, and an
# unreachable target counted as failures in a run that still completes.
# usage: cli_test.sh DENALI_LOAD STALL_SERVER
set -u
LOAD=$1
SERVER=$2
. "$(dirname "$0")/lib.sh"
FAILED=0
TMP=$(mktemp -d /tmp/denali-load-cli.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
	rm -rf "$TMP"
}
trap cleanup EXIT

"$LOAD" --help >"$TMP/help" 2>&1
check "--help exits 0" "$? == 0"
grep -q "^usage: denali-load" "$TMP/help" && grep -q -- "--sweep" "$TMP/help"
check "--help prints the usage" "$? == 0"

# bad_args EXPECTED-TEXT ARGS...: exit code 2, one clear line naming the problem, no JSON
bad_args() {
	local want=$1
	shift
	"$LOAD" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	if [ "$rc" = 2 ] && grep -q -- "$want" "$TMP/err" && ! [ -s "$TMP/out" ]; then
		echo "ok:   bad args ($*): $(head -n 1 "$TMP/err")"
	else
		echo "FAIL: bad args ($*): exit $rc, stderr: $(cat "$TMP/err")"
		FAILED=1
	fi
}
bad_args "no targets"
bad_args "--rate" -t 127.0.0.1:80
bad_args "--rate" -t 127.0.0.1:80 -r -5
bad_args "--alpha" -t 127.0.0.1:80 -r 10 -a many
bad_args "--duration" -t 127.0.0.1:80 -r 10 -d forever
bad_args "bad target" -t 127.0.0.1 -r 10
bad_args "bad target" -t not-an-address:80 -r 10
bad_args "--targets-file" -T "$TMP/missing" -r 10
bad_args "does not fit" --prefix 198.18.0.0/24 --hosts 300 -r 10
bad_args "unknown option" -t 127.0.0.1:80 -r 10 --frobnicate
bad_args "--slo" -t 127.0.0.1:80 --sweep 1k:2k --slo p99
bad_args "unexpected argument" -t 127.0.0.1:80 -r 10 stray

# An unreachable target (nothing listens on port 1): every request counted as refused, exit 0.
"$LOAD" -t 127.0.0.1:1/ -r 500 -d 1s -w 0 >"$TMP/unreach" 2>&1
rc=$?
cat "$TMP/unreach"
refused=$(jget refused "$TMP/unreach")
sched=$(jget scheduled "$TMP/unreach")
check "unreachable target: run completes with exit 0" "$rc == 0"
check "unreachable target: every request counted as refused ($refused of $sched)" \
	"$sched >= 400 && $refused == $sched"

# One live and one unreachable target: the live one is served, the other counted.
"$SERVER" "$TMP/port" 1000000 0 20 >/dev/null 2>&1 &
SPID=$!
wait_file "$TMP/port" || { echo "FAIL: server did not start"; exit 1; }
port=$(cat "$TMP/port")
"$LOAD" -t "127.0.0.1:$port/" -t 127.0.0.1:1/ -a 0 -r 1000 -d 1s -w 200ms \
	--hits "$TMP/hits" >"$TMP/mixed" 2>&1
rc=$?
cat "$TMP/mixed"
ok=$(jget ok "$TMP/mixed")
refused=$(jget refused "$TMP/mixed")
sched=$(jget scheduled "$TMP/mixed")
check "mixed targets: exit 0" "$rc == 0"
check "mixed targets: ok + refused == scheduled ($ok + $refused == $sched)" \
	"$ok > 0 && $refused > 0 && $ok + $refused == $sched"
hits_live=$(awk -v p="127.0.0.1:$port" '$2 == p { print $3 }' "$TMP/hits")
check "--hits file counts the live target's requests" "$hits_live == $ok"

[ "$FAILED" = 0 ] && echo "cli test passed" || exit 1
