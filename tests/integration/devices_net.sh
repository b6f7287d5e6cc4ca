#!/usr/bin/env bash
# The virtual switch between VMs: round trips across workers, forged source
# MACs, broadcast scope, receive-queue overflow, a flood beside an echo, and
# a hostile guest for every net-ring index, address and length. The switch
# has no uplink here; denalid still runs in a namespace of this test's own
# (no host interface is involved).
. "$(dirname "$0")/lib.sh"
require_kvm
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
	echo "SKIP: needs root and ip(8) for a network namespace of its own"
	exit 77
fi
NS=denali-devnet-$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$TMP"' EXIT
P=$GUESTS/netpeer
mac() { printf '02:de:00:00:00:%02x' "$1"; }
nrun() {
	local name=$1
	shift
	timeout 120 ip netns exec "$NS" "$DENALID" run --net 198.18.7.0/24 "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err"
	STATUS=$?
}
# counter NAME VM KEY: the value of KEY in VM's device line
counter() {
	grep "^vm $2 devices:" "$TMP/$1.err" | tr ' ' '\n' | sed -n "s/^$3=//p"
}
expect_counter() { # NAME VM KEY VALUE
	CHECKS=$((CHECKS + 1))
	local v
	v=$(counter "$1" "$2" "$3")
	[ "$v" = "$4" ] || fail "$1: $2 $3=$v, expected $4"
}
expect_counter_ge() { # NAME VM KEY MIN
	CHECKS=$((CHECKS + 1))
	local v
	v=$(counter "$1" "$2" "$3")
	[ -n "$v" ] && [ "$v" -ge "$4" ] || fail "$1: $2 $3=$v, expected at least $4"
}

# VM <-> VM on two workers: VM 1 echoes, VM 2 pings it.
nrun pair --workers 2 "$P" --with "$P ping $(mac 1) 50" -- echo 50
expect_status pair 0 "$STATUS"
expect_in pair "$TMP/pair.out" "netpeer-1: netpeer: ping sent 50 received 50"
expect_in pair "$TMP/pair.out" "netpeer-0: netpeer: echoed 50 frames"
expect_counter pair netpeer-0 rx_frames 50
expect_counter pair netpeer-0 tx_frames 50
expect_counter pair netpeer-1 rx_frames 50
expect_counter pair netpeer-1 tx_bytes 3200

# A forged source MAC is dropped at the switch and counted; nothing arrives.
nrun forge --workers 2 "$P" --with "$P forge $(mac 1) 10" -- count 300
expect_status forge 0 "$STATUS"
expect_in forge "$TMP/forge.out" "netpeer-0: netpeer: counted 0 frames"
expect_counter forge netpeer-1 drop_forged_src 10
expect_counter forge netpeer-1 tx_frames 0

# Broadcast reaches every other port of its network and no other: VM i is on
# network i % 2, VM 0 (network 0) broadcasts.
nrun bcast --networks 2 "$P" --with "$P count 400" --with "$P count 400" \
	--with "$P count 400" -- bcast 5
expect_status bcast 0 "$STATUS"
expect_in bcast "$TMP/bcast.out" "netpeer-2: netpeer: counted 5 frames, 5 broadcast"
expect_in bcast "$TMP/bcast.out" "netpeer-1: netpeer: counted 0 frames"
expect_in bcast "$TMP/bcast.out" "netpeer-3: netpeer: counted 0 frames"
expect_counter bcast netpeer-0 tx_frames 5

# RX overflow: a VM that never reads (sleeper) keeps at most its queue bound;
# the rest is dropped and counted, and the sender is never blocked.
nrun overflow "$GUESTS/sleeper" --with "$P flood $(mac 1) 1000" -- 1 300
expect_status overflow 0 "$STATUS"
expect_in overflow "$TMP/overflow.out" "netpeer-1: netpeer: sent 1000 frames"
expect_counter overflow sleeper-0 drop_rx_full 744
expect_counter overflow netpeer-1 tx_frames 1000

# A flooding VM does not starve an echo: VM 3 floods VM 4 (which never reads)
# while VM 2 pings VM 1; every ping is answered within netpeer's 1 s bound.
nrun flood --workers 2 "$P" --with "$P ping $(mac 1) 100" --with "$P flood $(mac 4) 30000" \
	--with "$GUESTS/sleeper 1 2000" -- echo 100
expect_status flood 0 "$STATUS"
expect_in flood "$TMP/flood.out" "netpeer-1: netpeer: ping sent 100 received 100"
expect_in flood "$TMP/flood.out" "netpeer-2: netpeer: sent 30000 frames"
expect_counter_ge flood sleeper-3 drop_rx_full 1000

# Hostile guests: each bad index, address or length kills that VM only,
# beside a neighbour that finishes. The rx cases need a frame to arrive.
hostile() {
	local mode=$1 reason=$2
	nrun "h-$mode" "$GUESTS/hostile-devring" --with "$P bcast 3" \
		--with "$GUESTS/sleeper 3 10" -- "$mode"
	expect_status "h-$mode" 125 "$STATUS"
	expect_in "h-$mode" "$TMP/h-$mode.err" "vm hostile-devring-0 killed: $reason"
	CHECKS=$((CHECKS + 1))
	[ "$(grep -c 'sleeper-2: slept 10 ms late' "$TMP/h-$mode.out")" = 3 ] ||
		fail "h-$mode: the well-behaved sleeper did not finish beside it"
	expect_not_in "h-$mode" "$TMP/h-$mode.out" "survived"
}
hostile txaddr "net tx ring: descriptor 0 [0x1001000, +64) is outside guest memory"
hostile txlen "net tx ring: descriptor 0 length 4000 exceeds the 1514-byte frame limit"
hostile txindex "net tx ring: producer index 1000 is out of range"
hostile rxaddr "net rx ring: descriptor 0 [0xfffe00, +1514) is outside guest memory"
hostile rxindex "net rx ring: producer index 1000 is out of range"
# A received frame must never be written on the vregs page nor the page tables.
hostile rxvregs "net rx ring: descriptor 0 [0x1000, +1514) is outside guest memory"
hostile rxpriv "net rx ring: descriptor 0 [0xb000, +1514) is outside guest memory"
# Nor are the page tables read as a frame to send.
hostile txpriv "net tx ring: descriptor 0 [0xb000, +64) is outside guest memory"
# The same faults in a guest that never exits, its rings served by the
# neighbour's worker while it runs: killed all the same (its worker is
# interrupted for it), the neighbour unharmed.
# rx: a flood; tx: a frame a second (pings that time out), so that frames
# come while it spins.
hostile_live() {
	local mode=$1 reason=$2 peer=$3
	nrun "h-$mode" --workers 2 "$GUESTS/hostile-devring" --with "$P $peer" -- "$mode"
	expect_in "h-$mode" "$TMP/h-$mode.err" "vm hostile-devring-0 killed: $reason"
	expect_in "h-$mode" "$TMP/h-$mode.out" "netpeer-1: netpeer: "
	expect_not_in "h-$mode" "$TMP/h-$mode.err" "vm netpeer-1 killed"
	expect_not_in "h-$mode" "$TMP/h-$mode.out" "survived"
}
hostile_live rxlive "net rx ring: descriptor 0 [0xfffe00, +1514) is outside guest memory" \
	"flood $(mac 1) 200"
hostile_live txlive "net tx ring: descriptor 0 [0x1001000, +64) is outside guest memory" \
	"ping $(mac 1) 4"
finish
