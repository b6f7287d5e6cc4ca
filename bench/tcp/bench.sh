#!/usr/bin/env bash
# bench/tcp/bench.sh: bulk TCP, a VM against Linux to Linux, same run.
#
#   bench/tcp/bench.sh [BUILD_DIR]    (default build; needs root, /dev/kvm, a tap)
#
# One network namespace holds the host client (denali-tcpbulk) and a tap;
# behind the tap, one tcpbulk VM (denalid run --net --tap) that either sends
# BYTES to the client (VM -> host) or receives them (host -> VM). The
# baseline is the same client against denali-tcpbulk serve, the Linux stand-
# in for the guest, in a second namespace over a veth pair at MTU 1500. Each
# run is timed by the client from connect to EOF, every byte checked; RUNS
# runs per direction and side, alternating, medians printed with the ratio
# VM/Linux, the VM's exits per MiB (from its device counters: the guest's
# exits for the whole run, start-up included) and its retransmissions.
# Addresses 198.18.82.0/24 (tap) and 198.18.83.0/24 (veth). Human figures,
# then one JSON line.
# Env: RUNS (3), MIB (32), BUF_KIB (the guest stack's send and receive buffers, 256;
# 0 = the stack's default: tcpbulk's pool is 4 connections, which get 64 KiB each way,
# net_default_tcp_buf; 16 KiB before, which cost about six times the exits per MiB).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
RUNS=${RUNS:-3}
MIB=${MIB:-32}
BUF_KIB=${BUF_KIB:-256}
BYTES=$((MIB << 20))
DENALID=$BUILD/bin/denalid
BULK=$BUILD/bin/denali-tcpbulk
GUESTS=$BUILD/guests

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (namespaces, a tap)" >&2; exit 1; }
[ -x "$BULK" ] && [ -e "$GUESTS/tcpbulk" ] || { echo "bench: build denali-tcpbulk and the tcpbulk guest" >&2; exit 1; }
grep -q -- '--tap NAME' <<<"$("$DENALID" run --help 2>&1)" ||
	{ echo "bench: denalid run has no --tap (the host devices are not built)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/denali-tcp-bench.XXXXXX)
NS=denali-tcpb-$$
NS2=denali-tcpl-$$
TAP=tbt$$
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NS2" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ip netns add "$NS"
ip netns add "$NS2"
for n in "$NS" "$NS2"; do
	ip -n "$n" link set lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add 198.18.82.1/24 dev "$TAP"
ip -n "$NS" link set "$TAP" up
ip -n "$NS" link add tbv0 type veth peer name tbv1 netns "$NS2"
ip -n "$NS" link set tbv0 mtu 1500
ip -n "$NS2" link set tbv1 mtu 1500
ip -n "$NS" addr add 198.18.83.1/24 dev tbv0
ip -n "$NS2" addr add 198.18.83.2/24 dev tbv1
ip -n "$NS" link set tbv0 up
ip -n "$NS2" link set tbv1 up

# wait_listen FILE: the server printed its "listening" line (10 s)
wait_listen() {
	for _ in $(seq 100); do
		grep -q "listening on port" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: the server did not start:" >&2
	cat "$1" >&2
	return 1
}
mbps() { sed -n 's/.* s: \([0-9.]*\) Mb\/s.*/\1/p' "$1"; }

# vm_run DIR OUT: guest mode and client mode for DIR (tx = VM -> host)
vm_run() {
	local gmode cmode
	if [ "$1" = tx ]; then gmode=send cmode=recv; else gmode=recv cmode=send; fi
	ip netns exec "$NS" "$DENALID" run --net 198.18.82.0/24 --tap "$TAP" \
		"$GUESTS/tcpbulk" -- 5001 $gmode $BYTES "$BUF_KIB" >"$TMP/vm.out" 2>"$TMP/vm.err" &
	PID=$!
	wait_listen "$TMP/vm.out"
	ip netns exec "$NS" "$BULK" $cmode 198.18.82.2 5001 $BYTES >"$2" 2>&1 ||
		{ echo "bench: VM $1 run failed:" >&2; cat "$2" "$TMP/vm.out" "$TMP/vm.err" >&2; exit 1; }
	wait "$PID" || { echo "bench: the VM failed:" >&2; cat "$TMP/vm.out" "$TMP/vm.err" >&2; exit 1; }
	PID=
	local exits retrans
	exits=$(grep "^vm tcpbulk devices" "$TMP/vm.err" | tr ' ' '\n' | sed -n 's/^exits=//p' | head -1)
	retrans=$(sed -n 's/^net tcp: .* retrans \([0-9]*\) .*/\1/p' "$TMP/vm.out" | head -1)
	echo "${exits:-0} ${retrans:-0}" >"$2.counters"
}

# linux_run DIR OUT: the same over the veth pair
linux_run() {
	local smode cmode
	if [ "$1" = tx ]; then smode=send cmode=recv; else smode=recv cmode=send; fi
	ip netns exec "$NS2" "$BULK" serve 5001 $smode $BYTES >"$TMP/srv.out" 2>&1 &
	PID=$!
	wait_listen "$TMP/srv.out"
	ip netns exec "$NS" "$BULK" $cmode 198.18.83.2 5001 $BYTES >"$2" 2>&1 ||
		{ echo "bench: Linux $1 run failed:" >&2; cat "$2" "$TMP/srv.out" >&2; exit 1; }
	wait "$PID"
	PID=
}

echo "bench/tcp: $MIB MiB per run, $RUNS runs per side, guest buffers $BUF_KIB KiB (0 = the stack default); $(uptime)"
json="{\"bench\":\"tcp\",\"mib\":$MIB,\"runs\":$RUNS,\"buf_kib\":$BUF_KIB"
for dir in tx rx; do
	: >"$TMP/vm.mbps"; : >"$TMP/lx.mbps"; : >"$TMP/epm"; : >"$TMP/rtx"
	for r in $(seq "$RUNS"); do
		vm_run $dir "$TMP/vm.$dir.$r"
		linux_run $dir "$TMP/lx.$dir.$r"
		mbps "$TMP/vm.$dir.$r" >>"$TMP/vm.mbps"
		mbps "$TMP/lx.$dir.$r" >>"$TMP/lx.mbps"
		read -r ex rt <"$TMP/vm.$dir.$r.counters"
		awk -v e="$ex" -v m="$MIB" 'BEGIN { print e / m }' >>"$TMP/epm"
		echo "$rt" >>"$TMP/rtx"
	done
	vm=$(median <"$TMP/vm.mbps"); lx=$(median <"$TMP/lx.mbps")
	epm=$(median <"$TMP/epm"); rtx=$(median <"$TMP/rtx")
	ratio=$(awk -v a="$vm" -v b="$lx" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
	if [ $dir = tx ]; then label="VM -> host"; else label="host -> VM"; fi
	printf '%-10s  VM %8.1f Mb/s   Linux->Linux (veth, MTU 1500) %8.1f Mb/s   VM/Linux %s\n' \
		"$label" "$vm" "$lx" "$ratio"
	printf '            VM exits per MiB %.1f, guest retransmissions %s (medians of %d runs)\n' \
		"$epm" "$rtx" "$RUNS"
	json+=",\"$dir\":{\"vm_mbps\":$vm,\"linux_mbps\":$lx,\"ratio\":$ratio,\"exits_per_mib\":$epm,\"vm_retrans\":$rtx}"
done
echo "$json}"
