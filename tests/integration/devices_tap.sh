#!/usr/bin/env bash
# The tap uplink, in a namespace of this test's own (198.18.9.0/24): frames
# host -> VM -> host through the tap (AF_PACKET on the host side) with the
# counters checked; then the tap is deleted and re-created while VMs talk:
# every VM lives, VM <-> VM traffic never stops, uplink traffic resumes.
. "$(dirname "$0")/lib.sh"
require_kvm
PING=$BIN/denali-pktping
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun for a namespace and a tap of its own"
	exit 77
fi
NS=denali-devtap-$$
TAP=dtap$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
P=$GUESTS/netpeer
mac() { printf '02:de:00:00:00:%02x' "$1"; }
NX() { ip netns exec "$NS" "$@"; }
make_tap() {
	NX sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$NS" tuntap add dev "$TAP" mode tap
	ip -n "$NS" addr add 198.18.9.1/24 dev "$TAP"
	ip -n "$NS" link set "$TAP" up
}
counter() { grep "^$2" "$TMP/$1.err" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
expect_counter() { # NAME LINE-PREFIX KEY VALUE
	CHECKS=$((CHECKS + 1))
	local v
	v=$(counter "$1" "$2" "$3")
	[ "$v" = "$4" ] || fail "$1: '$2' $3=$v, expected $4"
}
ip -n "$NS" link set lo up
make_tap

# --- a round trip host <-> VM through the tap ---------------------------------
NX timeout 120 "$DENALID" run --net 198.18.9.0/24 --tap "$TAP" "$P" -- echo 30 \
	>"$TMP/rt.out" 2>"$TMP/rt.err" &
DPID=$!
wait_for "$TMP/rt.out" "echo ready" || fail "rt: the echo VM did not start"
NX "$PING" "$TAP" "$(mac 1)" 30 >"$TMP/ping.out" 2>&1
expect_status pktping 0 "$?"
expect_in pktping "$TMP/ping.out" "pktping: sent 30 received 30 lost 0"
wait "$DPID"
expect_status rt 0 "$?"
DPID=
expect_in rt "$TMP/rt.out" "netpeer: echoed 30 frames"
expect_counter rt "vm netpeer devices" rx_frames 30
expect_counter rt "vm netpeer devices" tx_frames 30
expect_counter rt "uplink $TAP" rx_frames 30
expect_counter rt "uplink $TAP" tx_frames 30
expect_counter rt "uplink $TAP" down_events 0

# --- the tap goes away and comes back while VMs talk --------------------------
# VM 1 echoes the host (40 frames in two rounds); VM 2 pings VM 3 every 10 ms
# throughout; nobody may die and not one VM <-> VM ping may be lost.
NX timeout 120 "$DENALID" run --workers 2 --net 198.18.9.0/24 --tap "$TAP" "$P" \
	--with "$P ping $(mac 3) 300 10" --with "$P echo 300" -- echo 40 \
	>"$TMP/del.out" 2>"$TMP/del.err" &
DPID=$!
wait_for "$TMP/del.out" "netpeer-0: netpeer: echo ready" || fail "del: the echo VM did not start"
NX "$PING" "$TAP" "$(mac 1)" 20 >"$TMP/ping1.out" 2>&1
expect_in ping-before "$TMP/ping1.out" "pktping: sent 20 received 20"
ip -n "$NS" link del "$TAP"
wait_for "$TMP/del.err" "uplink $TAP is down" || fail "del: the uplink was not marked down"
sleep 0.5
make_tap
wait_for "$TMP/del.err" "uplink $TAP attached again" || fail "del: the tap was not re-attached"
# ...by the uplink thread, which holds no capability (denalid is a descendant
# of DPID: the subshell, ip netns exec/timeout, denalid)
UPST= KIDS=$DPID ALL=
for _ in 1 2 3 4; do
	KIDS=$(for k in $KIDS; do pgrep -P "$k"; done)
	ALL="$ALL $KIDS"
done
for p in $ALL; do
	for st in /proc/$p/task/*/status; do
		[ "$(awk '$1 == "Name:" {print $2}' "$st" 2>/dev/null)" = denali-uplink ] && UPST=$st
	done
done
CHECKS=$((CHECKS + 1))
[ -n "$UPST" ] || fail "del: no denali-uplink thread found"
[ -n "$UPST" ] && for k in CapEff CapPrm; do
	CHECKS=$((CHECKS + 1))
	[ "$(awk -v k="$k:" '$1 == k {print $2}' "$UPST")" = 0000000000000000 ] ||
		fail "del: the uplink thread holds capabilities ($k)"
done
NX "$PING" "$TAP" "$(mac 1)" 20 >"$TMP/ping2.out" 2>&1
expect_in ping-after "$TMP/ping2.out" "pktping: sent 20 received 20"
wait "$DPID"
expect_status del 0 "$?"
DPID=
expect_in del "$TMP/del.out" "netpeer-1: netpeer: ping sent 300 received 300"
expect_in del "$TMP/del.out" "netpeer-0: netpeer: echoed 40 frames"
expect_not_in del "$TMP/del.err" "killed"
expect_counter del "uplink $TAP" down_events 1
expect_counter del "uplink $TAP" reattaches 1
finish
