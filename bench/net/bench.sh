#!/usr/bin/env bash
# bench/net: frames through the switch and the tap, VM against a host process
# on the same kind of tap, in one run, inside a namespace of its own
# (198.18.10.0/24), removed at the end. Prints figures, then one JSON line.
#   bench/net/bench.sh [BUILD_DIR]   (root; default BUILD_DIR=build)
# Frames: EtherType 0x88b5 from denali-pktping (AF_PACKET, a window of 32
# frames in flight for rates, 1 for round trips).
set -u
B=${1:-build}
BIN=$B/bin G=$B/guests
N64=${N64:-20000} N1514=${N1514:-10000} NRTT=${NRTT:-2000} NVV=${NVV:-200000}
[ "$(id -u)" -eq 0 ] || { echo "bench/net: needs root (netns, tap)" >&2; exit 2; }
NS=denali-bnet-$$
ip netns add "$NS" || exit 2
TMP=$(mktemp -d /tmp/denali-bnet.XXXXXX)
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
NX() { ip netns exec "$NS" "$@"; }
NX sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link set lo up
tap() {
	ip -n "$NS" tuntap add dev "$1" mode tap
	ip -n "$NS" addr add "$2" dev "$1"
	ip -n "$NS" link set "$1" up
}
field() { sed -n "s/.* $2 \([0-9.]*\).*/\1/p" "$1" | head -1; }
wait_for() { for _ in $(seq 200); do grep -qF -- "$2" "$1" && return 0; sleep 0.1; done; return 1; }

# --- baseline: a host process echoing on a tap ---------------------------------
tap bh0 198.18.10.1/25
# Not through NX: $! must be the echo process itself, for the cleanup.
ip netns exec "$NS" "$BIN/denali-tapecho" bh0 >/dev/null 2>&1 &
PIDS="$PIDS $!"
sleep 0.3
NX "$BIN/denali-pktping" bh0 02:de:ff:ff:ff:fe "$N64" 64 32 >"$TMP/h64"
NX "$BIN/denali-pktping" bh0 02:de:ff:ff:ff:fe "$N1514" 1514 32 >"$TMP/h1514"
NX "$BIN/denali-pktping" bh0 02:de:ff:ff:ff:fe "$NRTT" 64 1 >"$TMP/hrtt"

# --- a VM echoing through denalid's switch and tap uplink ------------------------
tap bv0 198.18.10.129/25
ip netns exec "$NS" "$BIN/denalid" run --net 198.18.10.128/25 --tap bv0 "$G/netpeer" -- echo \
	$((N64 + N1514 + NRTT)) >"$TMP/vm.out" 2>"$TMP/vm.err" &
VPID=$!
PIDS="$PIDS $VPID"
wait_for "$TMP/vm.out" "echo ready" || { echo "bench/net: VM did not start" >&2; exit 1; }
NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 "$N64" 64 32 >"$TMP/v64"
NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 "$N1514" 1514 32 >"$TMP/v1514"
NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 "$NRTT" 64 1 >"$TMP/vrtt"
wait "$VPID"
devline=$(grep "^vm netpeer devices:" "$TMP/vm.err")
kv() { echo "$devline" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
exits=$(kv exits) rx=$(kv rx_frames) tx=$(kv tx_frames)

# --- VM <-> VM through the switch, two workers -------------------------------------
"$BIN/denalid" run --workers 2 --net 198.18.10.0/25 "$G/netpeer" \
	--with "$G/netpeer flood 02:de:00:00:00:01 $NVV" -- sink "$NVV" >"$TMP/vv.out" 2>"$TMP/vv.err"
vvfps=$(sed -n 's/.*sink received [0-9]* frames in [0-9]* us fps \([0-9]*\).*/\1/p' "$TMP/vv.out")
vvgot=$(sed -n 's/.*sink received \([0-9]*\) frames.*/\1/p' "$TMP/vv.out")

h64=$(field "$TMP/h64" fps) v64=$(field "$TMP/v64" fps)
h1514=$(field "$TMP/h1514" fps) v1514=$(field "$TMP/v1514" fps)
hp50=$(field "$TMP/hrtt" p50_us) hp99=$(field "$TMP/hrtt" p99_us)
vp50=$(field "$TMP/vrtt" p50_us) vp99=$(field "$TMP/vrtt" p99_us)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
epf=$(awk -v e="$exits" -v f="$rx" 'BEGIN { printf "%.3f", (f > 0 ? e / f : 0) }')
echo "host echo : 64B $h64 fps, 1514B $h1514 fps, rtt p50 $hp50 us p99 $hp99 us"
echo "VM echo   : 64B $v64 fps, 1514B $v1514 fps, rtt p50 $vp50 us p99 $vp99 us"
echo "VM echo   : $rx frames in, $tx out, $exits exits: $epf exits per frame"
echo "VM <-> VM : $vvgot of $NVV frames, $vvfps fps (64 B, two workers)"
echo "lost      : $(cat "$TMP"/v64 "$TMP"/v1514 "$TMP"/vrtt | sed -n 's/.* lost \([0-9]*\).*/\1/p' | paste -sd+ | bc) VM, $(cat "$TMP"/h64 "$TMP"/h1514 "$TMP"/hrtt | sed -n 's/.* lost \([0-9]*\).*/\1/p' | paste -sd+ | bc) host"
printf '{"bench":"net","vm_echo_fps_64":%s,"host_echo_fps_64":%s,"ratio_64":%s,"vm_echo_fps_1514":%s,"host_echo_fps_1514":%s,"ratio_1514":%s,"vm_rtt_p50_us":%s,"vm_rtt_p99_us":%s,"host_rtt_p50_us":%s,"host_rtt_p99_us":%s,"exits_per_frame":%s,"vm_vm_fps_64":%s}\n' \
	"${v64:-0}" "${h64:-0}" "$(ratio "${v64:-0}" "${h64:-0}")" "${v1514:-0}" "${h1514:-0}" \
	"$(ratio "${v1514:-0}" "${h1514:-0}")" "${vp50:-0}" "${vp99:-0}" "${hp50:-0}" "${hp99:-0}" \
	"$epf" "${vvfps:-0}"
