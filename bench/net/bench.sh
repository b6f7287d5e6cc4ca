#!/usr/bin/env bash
# bench/net: frames through the switch and the tap, VM against a host process
# on the same kind of tap, in one run, inside a namespace of its own
# (198.18.10.0/24), removed at the end. Prints figures, then one JSON line.
#   bench/net/bench.sh [BUILD_DIR]   (root; default BUILD_DIR=build)
# VMFLAGS: extra options for the echo VM's denalid run (an ablation, e.g.
# VMFLAGS=--tap-reads-single).
# Frames: EtherType 0x88b5 from denali-pktping (AF_PACKET, a window of 32
# frames in flight for rates, 1 for round trips). ROUNDS rounds (default 3),
# host and VM interleaved in each; every figure is the median of the rounds.
# VM <-> VM: a flood VM and a sink VM on one worker (one core: both VMs and
# the switch share it) and on two workers.
# CPU per frame: the CPU time (all threads, guest time included) the echoing
# side spent during a rate phase, over the frames echoed: denalid's for the
# VM, denali-tapecho's for the host. It moves much less with the load of a
# shared machine than the frames/s do.
set -u
B=${1:-build}
BIN=$B/bin G=$B/guests
N64=${N64:-20000} N1514=${N1514:-10000} NRTT=${NRTT:-2000} NVV=${NVV:-200000} ROUNDS=${ROUNDS:-3}
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

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
tap bh0 198.18.10.1/25
tap bv0 198.18.10.129/25
# Not through NX: $! must be the echo process itself, for the cleanup.
ip netns exec "$NS" "$BIN/denali-tapecho" bh0 >/dev/null 2>&1 &
HPID=$!
PIDS="$PIDS $HPID"
sleep 0.3
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
devline() { grep "^vm $2 devices:" "$1"; }
# CPU ns of every thread of process $1 so far
cpuns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
# ns per frame: CPU ns before, after, frames
nspf() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f\n", (n > 0 ? (b - a) / n : 0) }'; }
for r in $(seq "$ROUNDS"); do
	# --- baseline: a host process echoing on a tap ---------------------------------
	c0=$(cpuns "$HPID")
	NX "$BIN/denali-pktping" bh0 02:de:ff:ff:ff:fe "$N64" 64 32 >"$TMP/h64.$r"
	c1=$(cpuns "$HPID")
	NX "$BIN/denali-pktping" bh0 02:de:ff:ff:ff:fe "$N1514" 1514 32 >"$TMP/h1514.$r"
	c2=$(cpuns "$HPID")
	{ nspf "$c0" "$c1" "$N64"; nspf "$c1" "$c2" "$N1514"; } >"$TMP/hcpu.$r"
	NX "$BIN/denali-pktping" bh0 02:de:ff:ff:ff:fe "$NRTT" 64 1 >"$TMP/hrtt.$r"
	# --- a VM echoing through denalid's switch and tap uplink ------------------------
	# Two VM runs: the rates (32 in flight: the counters under load), then the
	# round trips (one in flight: at least one exit per frame by nature).
	for phase in load rtt; do
		# The load VM echoes one frame more, sent once its CPU time is read.
		n=$((N64 + N1514 + 1))
		[ $phase = rtt ] && n=$NRTT
		# shellcheck disable=SC2086 # VMFLAGS: words for denalid run (ablations)
		ip netns exec "$NS" "$BIN/denalid" run ${VMFLAGS:-} --net 198.18.10.128/25 --tap bv0 \
			"$G/netpeer" -- echo "$n" >"$TMP/vm$phase.out.$r" 2>"$TMP/vm$phase.err.$r" &
		VPID=$!
		PIDS="$PIDS $VPID"
		wait_for "$TMP/vm$phase.out.$r" "echo ready" ||
			{ echo "bench/net: VM did not start" >&2; exit 1; }
		if [ $phase = load ]; then
			c0=$(cpuns "$VPID")
			NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 "$N64" 64 32 >"$TMP/v64.$r"
			c1=$(cpuns "$VPID")
			NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 "$N1514" 1514 32 \
				>"$TMP/v1514.$r"
			c2=$(cpuns "$VPID")
			{ nspf "$c0" "$c1" "$N64"; nspf "$c1" "$c2" "$N1514"; } >"$TMP/vcpu.$r"
			NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 1 64 1 >/dev/null
		else
			NX "$BIN/denali-pktping" bv0 02:de:00:00:00:01 "$NRTT" 64 1 >"$TMP/vrtt.$r"
		fi
		wait "$VPID"
	done
	d=$(devline "$TMP/vmrtt.err.$r" netpeer)
	awk -v e="$(kv "$d" exits)" -v rx="$(kv "$d" rx_frames)" \
		'BEGIN { printf "%.4f\n", (rx > 0 ? e / rx : 0) }' >"$TMP/vrttcnt.$r"
	d=$(devline "$TMP/vmload.err.$r" netpeer)
	exits=$(kv "$d" exits) rx=$(kv "$d" rx_frames) tx=$(kv "$d" tx_frames)
	runs=$(kv "$d" runs) events=$(kv "$d" events)
	awk -v e="$exits" -v rx="$rx" -v tx="$tx" -v n="$runs" -v ev="$events" 'BEGIN {
		printf "%.4f %.3f %.3f\n", (rx > 0 ? e / rx : 0), (n > 0 ? (rx + tx) / n : 0),
			(n > 0 ? ev / n : 0) }' >"$TMP/vcnt.$r"
	# --- VM <-> VM through the switch: one worker (one core), then two ---------------
	for w in 1 2; do
		"$BIN/denalid" run --workers "$w" --net 198.18.10.0/25 "$G/netpeer" \
			--with "$G/netpeer flood 02:de:00:00:00:01 $NVV" -- sink "$NVV" \
			>"$TMP/vv$w.out.$r" 2>"$TMP/vv$w.err.$r"
		sed -n 's/.*sink received \([0-9]*\) frames in [0-9]* us fps \([0-9]*\).*/\1 \2/p' \
			"$TMP/vv$w.out.$r" >"$TMP/vv$w.$r"
		ds=$(devline "$TMP/vv$w.err.$r" netpeer-0) df=$(devline "$TMP/vv$w.err.$r" netpeer-1)
		awk -v a="$(kv "$ds" exits)" -v b="$(kv "$df" exits)" -v f="$(kv "$ds" rx_frames)" \
			'BEGIN { printf "%.4f\n", (f > 0 ? (a + b) / f : 0) }' >>"$TMP/vv$w.$r"
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# median of the figure FIELD in files PREFIX.1..ROUNDS (pktping lines)
med() { for r in $(seq "$ROUNDS"); do field "$TMP/$1.$r" "$2"; done | sort -g |
	awk '{ v[NR] = $1 } END { printf "%s", (NR ? v[int((NR + 1) / 2)] : 0) }'; }
# median of column COL of line LINE in files PREFIX.1..ROUNDS
medc() { for r in $(seq "$ROUNDS"); do sed -n "$2p" "$TMP/$1.$r" | cut -d' ' -f"$3"; done |
	sort -g | awk '{ v[NR] = $1 } END { printf "%s", (NR ? v[int((NR + 1) / 2)] : 0) }'; }
h64=$(med h64 fps) v64=$(med v64 fps) h1514=$(med h1514 fps) v1514=$(med v1514 fps)
hp50=$(med hrtt p50_us) hp99=$(med hrtt p99_us) vp50=$(med vrtt p50_us) vp99=$(med vrtt p99_us)
epf=$(medc vcnt 1 1) fpe=$(medc vcnt 1 2) epe=$(medc vcnt 1 3) epfrtt=$(medc vrttcnt 1 1)
vv1=$(medc vv1 1 2) vv1got=$(medc vv1 1 1) vv1epf=$(medc vv1 2 1)
hcpu64=$(medc hcpu 1 1) hcpu1514=$(medc hcpu 2 1) vcpu64=$(medc vcpu 1 1) vcpu1514=$(medc vcpu 2 1)
vv2=$(medc vv2 1 2) vv2got=$(medc vv2 1 1) vv2epf=$(medc vv2 2 1)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
echo "rounds    : $ROUNDS (medians); load average $LOAD0 at the start, $LOAD1 at the end"
echo "host echo : 64B $h64 fps, 1514B $h1514 fps, rtt p50 $hp50 us p99 $hp99 us"
echo "VM echo   : 64B $v64 fps, 1514B $v1514 fps, rtt p50 $vp50 us p99 $vp99 us"
echo "ratio     : 64B $(ratio "$v64" "$h64"), 1514B $(ratio "$v1514" "$h1514") (VM / host)"
echo "CPU/frame : VM 64B $vcpu64 ns, 1514B $vcpu1514 ns; host 64B $hcpu64 ns, 1514B $hcpu1514 ns (VM / host $(ratio "$vcpu64" "$hcpu64"), $(ratio "$vcpu1514" "$hcpu1514"))"
echo "VM echo   : $epf exits per frame, $fpe frames per entry, $epe events per entry (32 in flight)"
echo "VM echo   : $epfrtt exits per frame with one in flight (round trips)"
echo "VM <-> VM : one worker $vv1 fps ($vv1got of $NVV frames, $vv1epf exits per frame)"
echo "VM <-> VM : two workers $vv2 fps ($vv2got of $NVV frames, $vv2epf exits per frame)"
echo "lost      : $(cat "$TMP"/v64.* "$TMP"/v1514.* "$TMP"/vrtt.* | sed -n 's/.* lost \([0-9]*\).*/\1/p' | paste -sd+ | bc) VM, $(cat "$TMP"/h64.* "$TMP"/h1514.* "$TMP"/hrtt.* | sed -n 's/.* lost \([0-9]*\).*/\1/p' | paste -sd+ | bc) host"
printf '{"bench":"net","rounds":%s,"load_start":"%s","load_end":"%s","vm_echo_fps_64":%s,"host_echo_fps_64":%s,"ratio_64":%s,"vm_echo_fps_1514":%s,"host_echo_fps_1514":%s,"ratio_1514":%s,"vm_rtt_p50_us":%s,"vm_rtt_p99_us":%s,"host_rtt_p50_us":%s,"host_rtt_p99_us":%s,"exits_per_frame":%s,"exits_per_frame_rtt":%s,"frames_per_entry":%s,"events_per_entry":%s,"vm_vm_fps_64_one_worker":%s,"vm_vm_exits_per_frame_one_worker":%s,"vm_vm_fps_64_two_workers":%s,"vm_vm_exits_per_frame_two_workers":%s,"vm_cpu_ns_per_frame_64":%s,"vm_cpu_ns_per_frame_1514":%s,"host_cpu_ns_per_frame_64":%s,"host_cpu_ns_per_frame_1514":%s}\n' \
	"$ROUNDS" "$LOAD0" "$LOAD1" "$v64" "$h64" "$(ratio "$v64" "$h64")" "$v1514" "$h1514" \
	"$(ratio "$v1514" "$h1514")" "$vp50" "$vp99" "$hp50" "$hp99" "$epf" "$epfrtt" "$fpe" "$epe" \
	"$vv1" "$vv1epf" "$vv2" "$vv2epf" "$vcpu64" "$vcpu1514" "$hcpu64" "$hcpu1514"
