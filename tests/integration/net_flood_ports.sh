#!/usr/bin/env bash
# A VM flooding the uplink does not starve another VM (issues 9 and 12): in `denalid serve`
# with one worker (both VMs on the same worker thread, the hardest case for isolation), on a
# tap in a network namespace of this test's own (198.18.31.0/24), hog-net sends full-size
# frames to the uplink as fast as it can while an echo VM (netpeer echo) answers numbered
# frames from the host (denali-pktping over AF_PACKET, one in flight at a time).
# Asserted: every echo comes back (each within a generous 5 s: a hang guard, not a timing);
# the flooder really flooded (its tx_frames counter); and the switch's mechanism took hold:
# the flood was written to the tap by the flooder's own worker, inside its own time slice
# (the uplink's tx_direct covers at least half of the flooder's frames; its drains ran out of
# the writer's room, were reaped and went on: up_direct_reaps), not handed to the uplink
# thread that every VM shares. Its drop_up_budget (frames over its share of the uplink queue)
# is printed, not asserted: with the flood written directly it is most often 0.
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns
PING=$BIN/denali-pktping
if [ ! -x "$GUESTS/netpeer" ] || [ ! -x "$GUESTS/hog-net" ] || [ ! -x "$PING" ]; then
	echo "SKIP: the netpeer or hog-net guest, or denali-pktping, is not built"
	exit 77
fi
NS=denali-flood-$$
TAP=flood$$
trap 'daemons_cleanup; netns_cleanup' EXIT
netns_up "$NS" "$TAP" 198.18.31.1/24

daemon_start d --workers 1 --net 198.18.31.0/24 --tap "$TAP"
S="--socket $TMP/d.sock"
log() { cat "$TMP/d.state/vms/$1/console.log" 2>/dev/null; }
"$CTL" $S start echo "$GUESTS/netpeer" --net -- echo 0 >/dev/null
expect_status start-echo 0 $?
for _ in $(seq 300); do log echo | grep -q "echo ready" && break; sleep 0.1; done
MAC=$(log echo | sed -n 's/^netpeer: echo ready, mac \([0-9a-f:]*\)$/\1/p' | head -1)
CHECKS=$((CHECKS + 1))
[ -n "$MAC" ] || { fail "the echo VM did not come up"; log echo | tail -5; finish; }

# echoes LABEL N: N numbered frames, one in flight, each answered within 5 s.
echoes() {
	in_ns "$PING" "$TAP" "$MAC" "$2" 64 1 5000 >"$TMP/ping.out" 2>&1
	expect_status "$1: pktping" 0 $?
	expect_in "$1" "$TMP/ping.out" "pktping: sent $2 received $2 lost 0"
}
echoes alone 50

# counter NAME KEY: the VM's device counter KEY; uplink KEY: the tap's.
counter() {
	"$CTL" $S stats "$1" --json >"$TMP/c.json" &&
		json "$TMP/c.json" "d.get('devices', {}).get('$2', 0)"
}
uplink() {
	"$CTL" $S stats --json >"$TMP/u.json" &&
		json "$TMP/u.json" "d.get('net', {}).get('uplink', {}).get('$1', 0)"
}

. "$(dirname "$0")/../../bench/isolation/hogs.sh"
HOG_CTL="$CTL $S"
HOG_GUESTS=$GUESTS
HOG_STATE=$TMP/d.state
HOG_DISK=/dev/null
hog_start net 0
expect_status start-hog-net 0 $?
CHECKS=$((CHECKS + 1))
hog_wait_working net || fail "hog-net reported no work"

tx0=$(counter hog-net tx_frames)
reaps0=$(counter hog-net up_direct_reaps)
direct0=$(uplink tx_direct)
echoes "beside the flood" 200
tx1=$(counter hog-net tx_frames)
reaps1=$(counter hog-net up_direct_reaps)
direct1=$(uplink tx_direct)
budget=$(counter hog-net drop_up_budget)
echo "flood: hog-net sent $((tx1 - tx0)) frames, $((direct1 - direct0)) written directly," \
	"$((reaps1 - reaps0)) reaps, $budget dropped over its budget; $(tail -1 "$TMP/ping.out")"

CHECKS=$((CHECKS + 1))
[ $((tx1 - tx0)) -ge 10000 ] || fail "hog-net sent only $((tx1 - tx0)) frames: no flood"
CHECKS=$((CHECKS + 1))
[ $((reaps1 - reaps0)) -gt 0 ] || fail "the flooder's drains never went on past the writer's room"
CHECKS=$((CHECKS + 1))
[ $((2 * (direct1 - direct0))) -ge $((tx1 - tx0)) ] ||
	fail "only $((direct1 - direct0)) of the flooder's $((tx1 - tx0)) frames were written by its own worker"
# The echo VM itself lost nothing to the flood and is unharmed.
CHECKS=$((CHECKS + 1))
[ "$(counter echo drop_rx_full)" = 0 ] || fail "the echo VM's receive queue overflowed"
hog_stop net
echoes "after the flood" 50
"$CTL" $S list --json >"$TMP/l.json"
CHECKS=$((CHECKS + 1))
st=$(json "$TMP/l.json" "[v['state'] for v in d if v['name'] == 'echo'][0]")
case "$st" in running | runnable | idle) ;; *) fail "echo VM: state $st at the end" ;; esac
finish
