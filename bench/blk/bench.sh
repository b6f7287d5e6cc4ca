#!/usr/bin/env bash
# bench/blk: block IOPS (4 KiB random reads, queue depth 1 and 32) and MB/s
# (sequential, 1 MiB requests, 8 in flight) from one VM (`blkcheck bench`,
# zero-copy buffers), beside the same pattern issued by a host process through
# io_uring on the same file (denali-blkbench), in the same run, VM and host
# runs interleaved, REPS of each; the medians are compared. Both modes in one
# invocation: buffered (both through the page cache, the file warmed first)
# and direct (the VM's disk --disk-direct, the host's file O_DIRECT).
#   bench/blk/bench.sh [BUILD_DIR [BASE_BUILD_DIR]]
#   BASE_BUILD_DIR: a baseline build (e.g. of an older commit) whose VM runs are
#             interleaved with the others: its figures and the speed-up beside them.
#   MODES ("buffered direct"), REPS (3), NR (random reads per run, 20000
#   buffered, 4000 direct), NS (MiB per sequential run, 256).
# Prints every run, the medians with exits per request of the VM (its exits
# counted by the monitor / its requests) and the CPU of its block poller (ms of
# CPU per second of its life, from denalid run --summary), the load average
# before and after, then one JSON line with the figures and ratios (VM / host).
set -u
B=${1:-build}
BASE=${2:-}
MODES=${MODES:-buffered direct} REPS=${REPS:-3} NS=${NS:-256} UNR=${NR:-}
TMP=$(mktemp -d /tmp/denali-bblk.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
F=$TMP/disk.img
dd if=/dev/urandom of="$F" bs=1M count=512 status=none
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD0=$(load)
# vm BUILD ARGS...: one VM run: its bench line with " exits E pollcpu P" appended (the
# monitor's exit counter; the poller's CPU in ms per second of its life, 0 without one).
vm() {
	local b=$1 out line ex pc
	shift
	out=$("$b/bin/denalid" run --summary --mem 64M $VOPT --disk-ro "$F" "$b/guests/blkcheck" \
		-- bench "$@" 2>&1)
	line=$(echo "$out" | grep "blkcheck: bench")
	ex=$(echo "$out" | sed -n 's/.* exits=\([0-9]*\).*/\1/p')
	pc=$(echo "$out" | sed -n 's/^summary: block pollers: CPU \([0-9.]*\) ms in \([0-9.]*\) ms.*/\1 \2/p' |
		awk '{ printf "%d", ($2 > 0 ? 1000 * $1 / $2 : 0) }')
	[ -n "$line" ] || { echo "bench/blk: the VM run failed: $out" >&2; exit 1; }
	echo "$line exits ${ex:-0} pollcpu ${pc:-0}"
}
host() { "$B/bin/denali-blkbench" $HOPT "$F" "$@"; }
get() { echo "$1" | sed -n "s/.* $2 \([0-9]*\).*/\1/p"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
epr() { awk -v e="$(get "$1" exits)" -v o="$(get "$1" ops)" 'BEGIN { printf "%.4f", e / o }'; }
# run NAME FIELD ARGS...: REPS interleaved rounds; sets NAME_vm, NAME_host, NAME_epr,
# NAME_pcpu (and NAME_base, NAME_bepr with a baseline build).
run() {
	local name=$1 field=$2 v h w vs="" hs="" es="" ps="" ws="" wes="" i
	shift 2
	for i in $(seq "$REPS"); do
		v=$(vm "$B" "$@") || exit 1
		h=$(host "$@")
		echo "VM   $v"
		echo "host $h"
		vs="$vs $(get "$v" "$field")" hs="$hs $(get "$h" "$field")"
		es="$es $(epr "$v")" ps="$ps $(get "$v" pollcpu)"
		if [ -n "$BASE" ]; then
			w=$(vm "$BASE" "$@") || exit 1
			echo "base $w"
			ws="$ws $(get "$w" "$field")" wes="$wes $(epr "$w")"
		fi
	done
	eval "${name}_vm=$(echo "$vs" | median) ${name}_host=$(echo "$hs" | median)"
	eval "${name}_epr=$(echo "$es" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
	eval "${name}_pcpu=$(echo "$ps" | median)"
	if [ -n "$BASE" ]; then
		eval "${name}_base=$(echo "$ws" | median)"
		eval "${name}_bepr=$(echo "$wes" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
	fi
}
JSON=""
for MODE in $MODES; do
	if [ "$MODE" = direct ]; then
		VOPT=--disk-direct HOPT=--direct NR=${NR_DIRECT:-${UNR:-4000}}
	else
		cat "$F" >/dev/null
		VOPT= HOPT= NR=${UNR:-20000}
	fi
	echo "bench/blk: $MODE, $REPS runs each, load average $(load)"
	run qd1 iops randread 1 "$NR"
	run qd32 iops randread 32 "$NR"
	run seq mbps seqread 8 "$NS"
	for p in qd1:"4K random QD1 (IOPS)" qd32:"4K random QD32 (IOPS)" seq:"1M sequential QD8 (MB/s)"; do
		n=${p%%:*}
		eval "v=\$${n}_vm h=\$${n}_host e=\$${n}_epr c=\$${n}_pcpu"
		printf 'median %-8s %-26s VM %8s host %8s ratio %s exits/request %s poller CPU %s ms/s' \
			"$MODE" "${p#*:}" "$v" "$h" "$(ratio "$v" "$h")" "$e" "$c"
		if [ -n "$BASE" ]; then
			eval "bv=\$${n}_base be=\$${n}_bepr"
			printf ' | base VM %8s (ratio %s, exits/request %s) speed-up %s' \
				"$bv" "$(ratio "$bv" "$h")" "$be" "$(ratio "$v" "$bv")"
			JSON="$JSON\"${MODE}_base_${n}\":$bv,\"${MODE}_speedup_${n}\":$(ratio "$v" "$bv"),"
		fi
		echo
		JSON="$JSON\"${MODE}_vm_${n}\":$v,\"${MODE}_host_${n}\":$h,\"${MODE}_ratio_${n}\":$(ratio "$v" "$h"),\"${MODE}_exits_per_req_${n}\":$e,\"${MODE}_poller_cpu_ms_per_s_${n}\":$c,"
	done
done
LOAD1=$(load)
echo "load average before $LOAD0, after $LOAD1"
printf '{"bench":"blk","reps":%s,%s"load_before":"%s","load_after":"%s"}\n' "$REPS" "$JSON" "$LOAD0" "$LOAD1"
