#!/usr/bin/env bash
# Issue 7 hole 8: growth a guest or a client controls is bounded.
#  - each VM life has its own console.log (an earlier VM of the name: console.log.1);
#  - console.log is capped and rotated (--console-log-max);
#  - a client trickling a byte at a time without a newline is closed;
#  - descriptors of idle clients do not come out of the VMs' share: with 1,000 idle
#    connections open under a 1,400-descriptor limit every admitted VM still gets its shell.
. "$(dirname "$0")/lib.sh"
require_kvm
HOLDER=
trap '[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null; daemons_cleanup' EXIT

wait_state() { # wait_state SOCK NAME STATE
	for _ in $(seq 300); do
		"$CTL" --socket "$1" list | grep -q "^$2 .*$3" && return 0
		sleep 0.1
	done
	return 1
}

# --- a new log per VM life ------------------------------------------------------------
daemon_start a --workers 1
S="--socket $TMP/a.sock"
LOG="$TMP/a.state/vms/h/console.log"
"$CTL" $S start h "$GUESTS/hello" -- first >/dev/null
wait_state "$TMP/a.sock" h exited || fail "hello first did not exit"
"$CTL" $S stop h >/dev/null
"$CTL" $S start h "$GUESTS/hello" -- second >/dev/null
wait_state "$TMP/a.sock" h exited || fail "hello second did not exit"
for _ in $(seq 50); do grep -q "argv\[1\] = second" "$LOG" 2>/dev/null && break; sleep 0.1; done
expect_in life-new "$LOG" "argv[1] = second"
expect_not_in life-new "$LOG" "argv[1] = first"
expect_in life-old "$LOG.1" "argv[1] = first"

# --- a trickling client is closed ---------------------------------------------------------
python3 - "$TMP/a.sock" >"$TMP/trickle.out" 2>&1 <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(0.5)
got = b""
t0 = time.monotonic()
closed = False
s.send(b'{"op":')
while time.monotonic() - t0 < 30:
    try:
        s.send(b" ")
    except OSError:
        closed = True
        break
    try:
        d = s.recv(4096)
        if not d:
            closed = True
            break
        got += d
    except socket.timeout:
        pass
    except OSError:
        closed = True
        break
print("reply:", got.decode(errors="replace").strip())
print("closed" if closed else "still open after 30 s")
PY
expect_in trickle "$TMP/trickle.out" "not finished within"
expect_in trickle "$TMP/trickle.out" "closed"
timeout 10 "$CTL" $S list >/dev/null
expect_status trickle-list 0 "$?"
daemon_stop "$DPID"

# --- idle clients are counted against the descriptors -------------------------------------
(ulimit -Sn 1400 && ulimit -Hn 1400 && exec "$DENALID" serve --socket "$TMP/c.sock" \
	--state-dir "$TMP/c.state" --workers 1 >"$TMP/c.log" 2>&1) &
DPID=$!
DAEMON_PIDS+=("$DPID")
daemon_wait c || fail "c: daemon not answering"
S="--socket $TMP/c.sock"
python3 - "$TMP/c.sock" "$TMP/holder.ready" <<'PY' &
import socket, sys, time
socks = []
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
open(sys.argv[2], "w").write("ok\n")
time.sleep(300)
PY
HOLDER=$!
for _ in $(seq 100); do [ -e "$TMP/holder.ready" ] && break; sleep 0.1; done
"$CTL" $S stats --json >"$TMP/c.stats"
max=$(json "$TMP/c.stats" "d['max_live']")
echo "max_live with a 1,400-descriptor limit: $max"
"$CTL" $S start v "$GUESTS/sleeper" --count "$max" --mem 2M -- 1 600000 >"$TMP/cstart.out" 2>&1
expect_status fill 0 "$?"
for _ in $(seq 100); do
	"$CTL" $S list --json >"$TMP/c.json" 2>/dev/null &&
		[ "$(json "$TMP/c.json" "sum(v['state'] in ('idle', 'killed', 'exited') for v in d)")" = "$max" ] && break
	sleep 0.1
done
CHECKS=$((CHECKS + 1))
killed=$(json "$TMP/c.json" "sum(v['state'] == 'killed' for v in d)")
[ "$killed" = 0 ] || fail "$killed of $max admitted VMs were killed: $(json "$TMP/c.json" "[v['reason'] for v in d if v['state'] == 'killed'][:1]")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/c.json" "sum(v['state'] == 'idle' for v in d)")" = "$max" ] || fail "not all $max VMs reached idle"
"$CTL" $S start one-more "$GUESTS/sleeper" --mem 2M -- 1 600000 >"$TMP/more.out" 2>&1
expect_status one-more 1 "$?"
expect_in one-more "$TMP/more.out" "capacity"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
HOLDER=
daemon_stop "$DPID"
expect_status c-sigterm 0 "$?"
# --- console.log capped at 16 KiB: a flood leaves two logs of at most 16 KiB ------------
daemon_start b --workers 1 --console-log-max 16K
S="--socket $TMP/b.sock"
LOG="$TMP/b.state/vms/f/console.log"
"$CTL" $S start f "$GUESTS/hostile-flood" >/dev/null
wait_state "$TMP/b.sock" f exited || fail "flood did not exit"
"$CTL" $S stop f >/dev/null # flushes what is left
size=$(stat -c %s "$LOG" 2>/dev/null || echo missing)
size1=$(stat -c %s "$LOG.1" 2>/dev/null || echo missing)
echo "flood: console.log $size bytes, console.log.1 $size1 bytes (cap 16384)"
CHECKS=$((CHECKS + 1))
[ "$size" != missing ] && [ "$size" -le 16384 ] || fail "console.log is $size bytes, cap 16384"
CHECKS=$((CHECKS + 1))
[ "$size1" != missing ] && [ "$size1" -le 16384 ] || fail "console.log.1 is $size1 bytes (it must exist, at most 16384)"
CHECKS=$((CHECKS + 1))
[ "$(ls "$TMP/b.state/vms/f" | grep -c console)" = 2 ] || fail "more logs than console.log and .1: $(ls "$TMP/b.state/vms/f")"

daemon_stop "$DPID"
expect_status b-sigterm 0 "$?"

finish
