#!/usr/bin/env bash
# A tap still attached elsewhere (EBUSY), in a namespace of this test's own (198.18.15.0/24).
# That is what a restarted daemon meets when the one before it was killed: the old process's
# io_uring is torn down after the process has gone and holds the tap until then. `denalid
# serve --tap` waits for such a tap (bounded, logged once) instead of failing its start;
# `denalictl net attach`, answered on the control thread, fails at once and says why.
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns python3
NS=denali-tapbusy-$$
TAP=tbtap$$
HOLDER=
trap '[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null; daemons_cleanup; netns_cleanup' EXIT
netns_up "$NS" "$TAP" 198.18.15.1/24

# hold SECONDS: attaches a file to $TAP (TUNSETIFF) for SECONDS, in the background; HOLDER is
# its pid, and it has the tap once it has printed "held" to $TMP/holder.out.
hold() {
	: >"$TMP/holder.out"
	in_ns python3 -c '
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000))
print("held", flush=True)
time.sleep(float(sys.argv[2]))
' "$TAP" "$1" >"$TMP/holder.out" 2>&1 &
	HOLDER=$!
	wait_for "$TMP/holder.out" held || fail "the holder never got the tap: $(cat "$TMP/holder.out")"
}

# Held for 2 s: the start waits, then comes up on it.
hold 2
daemon_start d --workers 1 --net 198.18.15.0/24 --tap "$TAP"
expect_in start-waited "$TMP/d.log" "TUNSETIFF: Device or resource busy; waiting up to 10 s"
wait "$HOLDER"
HOLDER=
S="--socket $TMP/d.sock"
uplink() { # KEY: the uplink's KEY in stats
	"$CTL" $S stats --json >"$TMP/s.json"
	json "$TMP/s.json" "d['net']['uplink']['$1']"
}
CHECKS=$((CHECKS + 1))
[ "$(uplink tap)" = "$TAP" ] && [ "$(uplink up)" = True ] || fail "the uplink is not up on $TAP"

# A second tap, held: net attach does not wait on the control thread, it fails and says so.
TAP2=tbtwo$$
ip -n "$NS" tuntap add dev "$TAP2" mode tap
TAP=$TAP2 hold 30
start=$SECONDS
"$CTL" $S net attach "$TAP2" >"$TMP/attach.out" 2>&1
st=$?
CHECKS=$((CHECKS + 1))
[ "$st" -ne 0 ] || fail "net attach to a held tap succeeded"
expect_in attach-busy "$TMP/attach.out" "Device or resource busy"
CHECKS=$((CHECKS + 1))
[ $((SECONDS - start)) -lt 8 ] || fail "net attach to a held tap took $((SECONDS - start)) s"
CHECKS=$((CHECKS + 1))
[ "$(uplink tap)" = "$TAP" ] && [ "$(uplink up)" = True ] || fail "the uplink left $TAP"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
HOLDER=
daemon_stop "$DPID"
expect_status "SIGTERM exit" 0 $?
finish
