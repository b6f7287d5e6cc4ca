#!/usr/bin/env bash
# bench/net/hops.sh [BUILD_DIR] (root): what the reply of a VM echoing the
# tap costs denalid, with the worker writing its VM's frames to the tap
# (the default) against the ablation --tap-writes-queued (queued for the
# uplink thread, one thread hop more), alternating, ROUNDS rounds (default
# 2). Per echoed 64 B frame (N, default 50,000, 32 in flight): context
# switches and CPU time of all denalid threads, the echo's frames/s, and
# how many frames the worker wrote itself. In a namespace of its own
# (198.18.11.128/25), removed at the end; one JSON line at the end.
set -u
B=${1:-build}
N=${N:-50000} ROUNDS=${ROUNDS:-2}
[ "$(id -u)" -eq 0 ] || { echo "bench/net/hops.sh: needs root (netns, tap)" >&2; exit 2; }
NS=denali-bhops-$$
ip netns add "$NS" || exit 2
T=$(mktemp -d /tmp/denali-bhops.XXXXXX)
P=
cleanup() {
	[ -n "$P" ] && kill "$P" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
NX() { ip netns exec "$NS" "$@"; }
NX sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev bh1 mode tap
ip -n "$NS" addr add 198.18.11.129/25 dev bh1
ip -n "$NS" link set bh1 up
# context switches, CPU ns of every thread of process $1 so far
cs() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt/ { s += $2 } END { printf "%d", s }'; }
cpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$ROUNDS"); do
	for mode in direct queued; do
		F=
		[ $mode = queued ] && F=--tap-writes-queued
		# shellcheck disable=SC2086 # F: one flag or none
		ip netns exec "$NS" "$B/bin/denalid" run $F --net 198.18.11.128/25 --tap bh1 \
			"$B/guests/netpeer" -- echo $((N + 1)) >"$T/out" 2>"$T/err" &
		P=$!
		for _ in $(seq 200); do grep -q "echo ready" "$T/out" && break; sleep 0.1; done
		c0=$(cs "$P") t0=$(cpu "$P")
		NX "$B/bin/denali-pktping" bh1 02:de:00:00:00:01 "$N" 64 32 >"$T/ping"
		c1=$(cs "$P") t1=$(cpu "$P")
		NX "$B/bin/denali-pktping" bh1 02:de:00:00:00:01 1 64 1 >/dev/null
		wait "$P"
		P=
		awk -v a="$c0" -v b="$c1" -v x="$t0" -v y="$t1" -v n="$N" \
			-v f="$(sed -n 's/.* fps \([0-9]*\).*/\1/p' "$T/ping")" \
			-v d="$(tr ' ' '\n' <"$T/err" | sed -n 's/^tx_direct=//p')" \
			'BEGIN { printf "%.4f %.0f %d %d\n", (b - a) / n, (y - x) / n, f, d }' >>"$T/$mode"
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
med() { cut -d' ' -f"$2" "$T/$1" | sort -g | awk '{ v[NR] = $1 } END { printf "%s", v[int((NR + 1) / 2)] }'; }
echo "rounds : $ROUNDS (medians); load average $LOAD0 at the start, $LOAD1 at the end"
for m in direct queued; do
	echo "$m : $(med $m 1) context switches, $(med $m 2) ns CPU per frame, $(med $m 3) fps, $(med $m 4) of $((N + 1)) frames written by the worker"
done
printf '{"bench":"net-hops","rounds":%s,"load_start":"%s","load_end":"%s","direct_ctxsw_per_frame":%s,"queued_ctxsw_per_frame":%s,"direct_cpu_ns_per_frame":%s,"queued_cpu_ns_per_frame":%s,"cpu_ratio":%s,"direct_fps":%s,"queued_fps":%s,"direct_frames_by_worker":%s}\n' \
	"$ROUNDS" "$LOAD0" "$LOAD1" "$(med direct 1)" "$(med queued 1)" "$(med direct 2)" "$(med queued 2)" \
	"$(awk -v a="$(med direct 2)" -v b="$(med queued 2)" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')" \
	"$(med direct 3)" "$(med queued 3)" "$(med direct 4)"
