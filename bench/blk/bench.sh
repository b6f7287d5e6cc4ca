#!/usr/bin/env bash
# bench/blk: block IOPS (4 KiB random reads, queue depth 1 and 32) and MB/s
# (sequential, 1 MiB requests, 8 in flight) from one VM (`blkcheck bench`,
# zero-copy buffers), beside the same pattern issued by a host process through
# io_uring on the same file (denali-blkbench), in the same run, VM and host
# runs interleaved, REPS of each; the medians are compared.
#   bench/blk/bench.sh [BUILD_DIR]
#   DIRECT=1: the VM's disk is --disk-direct (O_DIRECT) and the host opens the
#             file O_DIRECT too; otherwise both read through the page cache
#             (the file is warmed into it first).
#   REPS (3), NR (random reads per run, 20000; 4000 when DIRECT), NS (MiB per
#   sequential run, 256).
# Prints every run, the medians with exits per request of the VM (its exits
# counted by the monitor / its requests), the load average before and after,
# then one JSON line with the ratios (VM / host).
set -u
B=${1:-build}
BIN=$B/bin G=$B/guests
DIRECT=${DIRECT:-0} REPS=${REPS:-3} NS=${NS:-256}
if [ "$DIRECT" = 1 ]; then NR=${NR:-4000}; else NR=${NR:-20000}; fi
TMP=$(mktemp -d /tmp/denali-bblk.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
F=$TMP/disk.img
dd if=/dev/urandom of="$F" bs=1M count=512 status=none
if [ "$DIRECT" = 1 ]; then
	VOPT=--disk-direct HOPT=--direct MODE=direct
else
	cat "$F" >/dev/null
	VOPT= HOPT= MODE=buffered
fi
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD0=$(load)
# One VM run: its bench line with " exits E" appended from the monitor's counters.
vm() {
	local out line ex
	out=$("$BIN/denalid" run --mem 64M $VOPT --disk-ro "$F" "$G/blkcheck" -- bench "$@" 2>&1)
	line=$(echo "$out" | grep "blkcheck: bench")
	ex=$(echo "$out" | sed -n 's/.* exits=\([0-9]*\).*/\1/p')
	[ -n "$line" ] || { echo "bench/blk: the VM run failed: $out" >&2; exit 1; }
	echo "$line exits ${ex:-0}"
}
host() { "$BIN/denali-blkbench" $HOPT "$F" "$@"; }
get() { echo "$1" | sed -n "s/.* $2 \([0-9]*\).*/\1/p"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
# run NAME FIELD ARGS...: REPS interleaved pairs; sets NAME_vm, NAME_host, NAME_epr.
run() {
	local name=$1 field=$2 v h vs="" hs="" es="" i
	shift 2
	for i in $(seq "$REPS"); do
		v=$(vm "$@") || exit 1
		h=$(host "$@")
		echo "VM   $v"
		echo "host $h"
		vs="$vs $(get "$v" "$field")" hs="$hs $(get "$h" "$field")"
		es="$es $(awk -v e="$(get "$v" exits)" -v o="$(get "$v" ops)" 'BEGIN { printf "%.4f", e / o }')"
	done
	eval "${name}_vm=$(echo "$vs" | median) ${name}_host=$(echo "$hs" | median)"
	eval "${name}_epr=$(echo "$es" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}
echo "bench/blk: $MODE, $REPS runs each, load average $LOAD0"
run qd1 iops randread 1 "$NR"
run qd32 iops randread 32 "$NR"
run seq mbps seqread 8 "$NS"
LOAD1=$(load)
printf 'median %-28s VM %8s host %8s ratio %s exits/request %s\n' \
	"4K random QD1 (IOPS)" "$qd1_vm" "$qd1_host" "$(ratio "$qd1_vm" "$qd1_host")" "$qd1_epr" \
	"4K random QD32 (IOPS)" "$qd32_vm" "$qd32_host" "$(ratio "$qd32_vm" "$qd32_host")" "$qd32_epr" \
	"1M sequential QD8 (MB/s)" "$seq_vm" "$seq_host" "$(ratio "$seq_vm" "$seq_host")" "$seq_epr"
echo "load average before $LOAD0, after $LOAD1"
printf '{"bench":"blk","mode":"%s","reps":%s,"vm_iops_qd1":%s,"host_iops_qd1":%s,"ratio_qd1":%s,"exits_per_req_qd1":%s,"vm_iops_qd32":%s,"host_iops_qd32":%s,"ratio_qd32":%s,"exits_per_req_qd32":%s,"vm_seq_mbps":%s,"host_seq_mbps":%s,"ratio_seq":%s,"exits_per_req_seq":%s,"load_before":"%s","load_after":"%s"}\n' \
	"$MODE" "$REPS" "$qd1_vm" "$qd1_host" "$(ratio "$qd1_vm" "$qd1_host")" "$qd1_epr" \
	"$qd32_vm" "$qd32_host" "$(ratio "$qd32_vm" "$qd32_host")" "$qd32_epr" \
	"$seq_vm" "$seq_host" "$(ratio "$seq_vm" "$seq_host")" "$seq_epr" "$LOAD0" "$LOAD1"
