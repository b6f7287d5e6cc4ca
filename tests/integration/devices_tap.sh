#!/usr/bin/env bash
# The tap uplink, in a namespace of this test's own (198.18.9.0/24): frames
# host -> VM -> host through the tap (AF_PACKET on the host side) with the
# counters checked; then the tap is deleted and re-created while VMs talk:
# every VM lives, VM <-> VM traffic never stops, uplink traffic resumes.
# Both with the defaults (the uplink's multishot read where the kernel has
# it; a worker writes its VM's frames to the tap through its own io_uring)
# and with the ablations: one read per buffer (--tap-reads-single, as on
# older kernels), every frame for the tap queued for the uplink thread
# (--tap-writes-queued).
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

# Where the kernel has no multishot read (before 6.7) the default falls back
# to single reads, and both runs test those.
KREL=$(uname -r | cut -d. -f1-2)
MSHOT=single
[ "$(printf '%s\n6.7\n' "$KREL" | sort -V | head -1)" = 6.7 ] && MSHOT=multishot
for M in 1 2; do
	if [ $M = 1 ]; then
		MODE= READS=$MSHOT
	else
		MODE="--tap-reads-single --tap-writes-queued" READS=single
	fi
	# --- a round trip host <-> VM through the tap ---------------------------------
	NX timeout 120 "$DENALID" run $MODE --net 198.18.9.0/24 --tap "$TAP" "$P" -- echo 30 \
		>"$TMP/rt$M.out" 2>"$TMP/rt$M.err" &
	DPID=$!
	wait_for "$TMP/rt$M.out" "echo ready" || fail "rt: the echo VM did not start"
	NX "$PING" "$TAP" "$(mac 1)" 30 >"$TMP/ping.out" 2>&1
	expect_status pktping 0 "$?"
	expect_in pktping "$TMP/ping.out" "pktping: sent 30 received 30 lost 0"
	wait "$DPID"
	expect_status rt$M 0 "$?"
	DPID=
	expect_in rt$M "$TMP/rt$M.out" "netpeer: echoed 30 frames"
	expect_counter rt$M "vm netpeer devices" rx_frames 30
	expect_counter rt$M "vm netpeer devices" tx_frames 30
	expect_counter rt$M "uplink $TAP" rx_frames 30
	expect_counter rt$M "uplink $TAP" tx_frames 30
	expect_counter rt$M "uplink $TAP" down_events 0
	expect_counter rt$M "uplink $TAP" reads "$READS"
	# One frame in flight: the VM idles when it comes, so its worker drains
	# the reply at the next exit and, by default, writes it itself.
	CHECKS=$((CHECKS + 1))
	DIRECT=$(counter rt$M "uplink $TAP" tx_direct)
	if [ $M = 1 ]; then
		[ "${DIRECT:-0}" -gt 0 ] || fail "rt$M: no frame written by the worker (tx_direct=$DIRECT)"
	else
		[ "$DIRECT" = 0 ] || fail "rt$M: --tap-writes-queued, but tx_direct=$DIRECT"
	fi

	# --- the tap goes away and comes back while VMs talk --------------------------
	# VM 1 echoes the host (40 frames in two rounds); VM 2 pings VM 3 every 10 ms
	# throughout; nobody may die and not one VM <-> VM ping may be lost.
	NX timeout 120 "$DENALID" run $MODE --workers 2 --net 198.18.9.0/24 --tap "$TAP" "$P" \
		--with "$P ping $(mac 3) 300 10" --with "$P echo 300" -- echo 40 \
		>"$TMP/del$M.out" 2>"$TMP/del$M.err" &
	DPID=$!
	wait_for "$TMP/del$M.out" "netpeer-0: netpeer: echo ready" || fail "del: the echo VM did not start"
	NX "$PING" "$TAP" "$(mac 1)" 20 >"$TMP/ping1.out" 2>&1
	expect_in ping-before "$TMP/ping1.out" "pktping: sent 20 received 20"
	ip -n "$NS" link del "$TAP"
	wait_for "$TMP/del$M.err" "uplink $TAP is down" || fail "del: the uplink was not marked down"
	sleep 0.5
	make_tap
	wait_for "$TMP/del$M.err" "uplink $TAP attached again" || fail "del: the tap was not re-attached"
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
	expect_status del$M 0 "$?"
	DPID=
	expect_in del$M "$TMP/del$M.out" "netpeer-1: netpeer: ping sent 300 received 300"
	expect_in del$M "$TMP/del$M.out" "netpeer-0: netpeer: echoed 40 frames"
	expect_not_in del$M "$TMP/del$M.err" "killed"
	expect_counter del$M "uplink $TAP" down_events 1
	expect_counter del$M "uplink $TAP" reattaches 1
	# The echoes after the re-attach went to the new tap (ping-after): by the
	# worker too, by default (its writes take the new fd).
	CHECKS=$((CHECKS + 1))
	DIRECT=$(counter del$M "uplink $TAP" tx_direct)
	[ $M = 2 ] || [ "${DIRECT:-0}" -gt 20 ] ||
		fail "del$M: $DIRECT frames written by workers, expected more than the 20 before the outage"
done
finish
