#!/usr/bin/env bash
# Hostile guests on a tap uplink (issue 9), in a namespace of this test's own (198.18.90.0/24).
# Beside a healthy echo VM that the host keeps pinging through the tap (denali-pktping,
# AF_PACKET), each bad net-ring index, address and length kills the hostile VM with its
# reason, the rx ones on a frame sent by the host (filled by the uplink thread into a guest
# that runs, for rxlive/txlive); a runt (0 and 13 bytes) and a forged source MAC are no
# fault: dropped and counted. Nothing of the hostile VM's reaches the host: the tap's own
# rx_packets grow by the neighbour's echoes only. Then the tap is deleted while two VMs
# flood it from two workers, and re-created: every VM keeps running, the uplink is counted
# down and back, the flood reaches the new tap and the echo answers again. devices_tap.sh
# deletes the tap under light traffic, outage.sh under a TCP download; here under a flood.
# Both writer modes: a worker writing its VM's frames to the tap through its own io_uring
# (the default) and every frame queued for the uplink thread (--tap-writes-queued).
. "$(dirname "$0")/lib.sh"
require_kvm
HANG_GUARD_S=560 # 30 runs: under the TIMEOUT of 600
require_netns
PING=$BIN/denali-pktping
NS=denali-htap-$$
TAP=htap$$
DPID=
BGP=
cleanup() {
	kill_wait "$BGP" "$DPID"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT
netns_add "$NS"
make_tap() {
	in_ns ip tuntap add dev "$TAP" mode tap
	in_ns ip addr add 198.18.90.1/24 dev "$TAP"
	in_ns ip link set "$TAP" up
}
make_tap
P=$GUESTS/netpeer
H=$GUESTS/hostile-devring
mac() { printf '02:de:00:00:00:%02x' "$1"; } # VM i has MAC i + 1
tap_mac() { in_ns cat "/sys/class/net/$TAP/address"; }
tap_rx() { in_ns cat "/sys/class/net/$TAP/statistics/rx_packets"; }
counter() { grep "^$2" "$TMP/$1.err" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
expect_counter() { # NAME LINE-PREFIX KEY VALUE
	CHECKS=$((CHECKS + 1))
	local v
	v=$(counter "$1" "$2" "$3")
	[ "$v" = "$4" ] || fail "$1: '$2' $3=$v, expected $4"
}
# drun NAME ARGS...: denalid run in the namespace on the tap, in the background (DPID)
drun() {
	local name=$1
	shift
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	in_ns timeout 120 "$BIN/denalid" run $WFLAG --workers 2 --net 198.18.90.0/24 --tap "$TAP" \
		"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	DPID=$!
}
# writer_check NAME: the frames went the way the writer mode says
writer_check() {
	local d
	d=$(counter "$1" "uplink $TAP" tx_direct)
	CHECKS=$((CHECKS + 1))
	if [ "$W" = direct ]; then
		[ "${d:-0}" -gt 0 ] || fail "$1: no frame written by a worker (tx_direct=$d)"
	else
		[ "$d" = 0 ] || fail "$1: --tap-writes-queued, but tx_direct=$d"
	fi
}

# beside NAME STATUS REASON IMAGE [ARGS...]: IMAGE ARGS is VM 0, a 40-frame echo VM 1. The
# host sends frames to VM 0 throughout and pings VM 1 20 times, then (once VM 0 is killed
# for REASON, or at once with no REASON) 20 times more. Every ping comes back, the run ends
# with STATUS, VM 1 was never harmed and only its 40 echoes reached the host.
beside() {
	local name=$1 want=$2 reason=$3 img=$4 rx0 d
	shift 4
	name=$W-$name
	rx0=$(tap_rx)
	drun "$name" "$img" --with "$P echo 40" -- "$@"
	wait_for "$TMP/$name.out" "netpeer-1: netpeer: echo ready" ||
		fail "$name: the echo VM did not start"
	in_ns "$PING" "$TAP" "$(mac 1)" 25 64 1 100 >/dev/null 2>&1 &
	BGP=$!
	in_ns "$PING" "$TAP" "$(mac 2)" 20 >"$TMP/$name.ping1" 2>&1
	expect_in "$name: echo beside it" "$TMP/$name.ping1" "pktping: sent 20 received 20"
	if [ -n "$reason" ]; then
		wait_for "$TMP/$name.err" "killed: " || fail "$name: VM 0 was not killed"
		expect_in "$name" "$TMP/$name.err" "vm $(basename "$img")-0 killed: $reason"
	fi
	in_ns "$PING" "$TAP" "$(mac 2)" 20 >"$TMP/$name.ping2" 2>&1
	expect_in "$name: echo after it" "$TMP/$name.ping2" "pktping: sent 20 received 20"
	wait "$BGP"
	BGP=
	wait "$DPID"
	expect_status "$name" "$want" "$?"
	DPID=
	expect_in "$name" "$TMP/$name.out" "netpeer-1: netpeer: echoed 40 frames"
	expect_not_in "$name" "$TMP/$name.err" "vm netpeer-1 killed"
	expect_not_in "$name" "$TMP/$name.out" "survived"
	expect_counter "$name" "vm netpeer-1 devices" tx_frames 40
	expect_counter "$name" "uplink $TAP" tx_frames 40
	d=$(($(tap_rx) - rx0))
	CHECKS=$((CHECKS + 1))
	[ "$d" = 40 ] || fail "$name: the tap received $d frames, expected the 40 echoes only"
	writer_check "$name"
}

hostile() { # MODE REASON
	beside "$1" 125 "$2" "$H" "$1"
}

for W in direct queued; do
	WFLAG=
	[ $W = queued ] && WFLAG=--tap-writes-queued
	hostile txaddr "net tx ring: descriptor 0 [0x1001000, +64) is outside guest memory"
	hostile txzero "net tx ring: descriptor 0 [0x1001000, +0) is outside guest memory"
	hostile txpriv "net tx ring: descriptor 0 [0xb000, +64) is outside guest memory"
	hostile txlen "net tx ring: descriptor 0 length 4000 exceeds the 1514-byte frame limit"
	hostile txmtu "net tx ring: descriptor 0 length 1515 exceeds the 1514-byte frame limit"
	hostile txindex "net tx ring: producer index 1000 is out of range"
	hostile rxaddr "net rx ring: descriptor 0 [0xfffe00, +1514) is outside guest memory"
	hostile rxindex "net rx ring: producer index 1000 is out of range"
	hostile rxvregs "net rx ring: descriptor 0 [0x1000, +1514) is outside guest memory"
	hostile rxpriv "net rx ring: descriptor 0 [0xb000, +1514) is outside guest memory"
	# The guest spins with no exit: the host's frame is filled in by the uplink thread,
	# which finds the fault (rxlive) or drains the tx ring on the way (txlive).
	hostile rxlive "net rx ring: descriptor 0 [0xfffe00, +1514) is outside guest memory"
	hostile txlive "net tx ring: descriptor 0 [0x1001000, +64) is outside guest memory"
	# Runts are dropped and counted, no fault.
	beside txrunt 0 "" "$H" txrunt
	expect_in "$W-txrunt" "$TMP/$W-txrunt.out" "hostile devring: txrunt sent 2 runts"
	expect_counter "$W-txrunt" "vm hostile-devring-0 devices" drop_runt 2
	expect_counter "$W-txrunt" "vm hostile-devring-0 devices" tx_frames 0
	# A forged source MAC, to the host and broadcast: dropped at the switch, counted.
	for dst in "$(tap_mac)" ff:ff:ff:ff:ff:ff; do
		n=forge-${dst:0:2}
		beside "$n" 0 "" "$P" forge "$dst" 10
		expect_in "$W-$n" "$TMP/$W-$n.out" "netpeer-0: netpeer: sent 10 frames"
		expect_counter "$W-$n" "vm netpeer-0 devices" drop_forged_src 10
		expect_counter "$W-$n" "vm netpeer-0 devices" tx_frames 0
	done

	# --- the tap deleted and re-created under a flood --------------------------------
	# VMs 0 and 1 flood the tap for 10 s (not test frames: pktping does not see them), VM 2
	# echoes the host (20 frames before the outage, 20 after).
	name=$W-delflood
	drun "$name" "$P" --with "$P floodfor $(tap_mac) 10000" --with "$P echo 40" \
		-- floodfor "$(tap_mac)" 10000
	wait_for "$TMP/$name.out" "netpeer-2: netpeer: echo ready" || fail "$name: no echo VM"
	rx0=$(tap_rx)
	for _ in $(seq 100); do
		[ "$(($(tap_rx) - rx0))" -ge 1000 ] && break
		sleep 0.05
	done
	CHECKS=$((CHECKS + 1))
	[ "$(($(tap_rx) - rx0))" -ge 1000 ] || fail "$name: the flood does not reach the tap"
	in_ns "$PING" "$TAP" "$(mac 3)" 20 >"$TMP/$name.ping1" 2>&1
	expect_in "$name: echo in the flood" "$TMP/$name.ping1" "pktping: sent 20 received 20"
	in_ns ip link del "$TAP"
	wait_for "$TMP/$name.err" "uplink $TAP is down" || fail "$name: the uplink was not marked down"
	sleep 0.5
	make_tap
	wait_for "$TMP/$name.err" "uplink $TAP attached again" || fail "$name: not re-attached"
	for _ in $(seq 100); do
		[ "$(tap_rx)" -ge 1000 ] && break
		sleep 0.05
	done
	CHECKS=$((CHECKS + 1))
	[ "$(tap_rx)" -ge 1000 ] || fail "$name: the flood does not reach the new tap ($(tap_rx) frames)"
	in_ns "$PING" "$TAP" "$(mac 3)" 20 >"$TMP/$name.ping2" 2>&1
	expect_in "$name: echo after the outage" "$TMP/$name.ping2" "pktping: sent 20 received 20"
	wait "$DPID"
	expect_status "$name" 0 "$?"
	DPID=
	expect_not_in "$name" "$TMP/$name.err" "killed"
	expect_in "$name" "$TMP/$name.out" "netpeer-0: netpeer: floodfor sent"
	expect_in "$name" "$TMP/$name.out" "netpeer-1: netpeer: floodfor sent"
	expect_in "$name" "$TMP/$name.out" "netpeer-2: netpeer: echoed 40 frames"
	expect_counter "$name" "uplink $TAP" down_events 1
	expect_counter "$name" "uplink $TAP" reattaches 1
	expect_counter "$name" "uplink $TAP" up 1
	# While it is down, a frame for the host is a unicast to nobody (netsw.h): counted on
	# its port; the broadcasts of the uplink network would be drop_down.
	expect_ge "$name: frames dropped while down" \
		"$(($(counter "$name" "vm netpeer-0 devices" drop_unknown_dst) + \
			$(counter "$name" "vm netpeer-1 devices" drop_unknown_dst)))" 1
	writer_check "$name"
	grep "^uplink $TAP" "$TMP/$name.err" | sed "s/^/    $name: /"
done
finish
