#!/usr/bin/env bash
# bench/blk: block IOPS (4 KiB random reads, queue depth 1 and 32) and MB/s
# (sequential, 1 MiB per step in 64 KiB requests, 16 in flight) from one VM,
# beside the same pattern from a host process through io_uring on the same
# file, in the same run. The file is warmed into the page cache first (both
# sides read through it). Prints figures, then one JSON line with ratios.
#   bench/blk/bench.sh [BUILD_DIR]
set -u
B=${1:-build}
BIN=$B/bin G=$B/guests
NR=${NR:-20000} NS=${NS:-64}
TMP=$(mktemp -d /tmp/denali-bblk.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
F=$TMP/disk.img
dd if=/dev/urandom of="$F" bs=1M count=128 status=none
cat "$F" >/dev/null
vm() { "$BIN/denalid" run --disk-ro "$F" "$G/blkcheck" -- bench "$@" 2>/dev/null | grep "bench"; }
host() { "$BIN/denali-blkbench" "$F" "$@"; }
get() { echo "$1" | sed -n "s/.* $2 \([0-9]*\).*/\1/p"; }
v1=$(vm randread 1 "$NR") h1=$(host randread 1 "$NR")
v32=$(vm randread 32 "$NR") h32=$(host randread 32 "$NR")
vs=$(vm seqread 16 "$NS") hs=$(host seqread 16 "$NS")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
echo "VM   $v1"; echo "host $h1"; echo "VM   $v32"; echo "host $h32"; echo "VM   $vs"; echo "host $hs"
printf '{"bench":"blk","vm_iops_qd1":%s,"host_iops_qd1":%s,"ratio_qd1":%s,"vm_iops_qd32":%s,"host_iops_qd32":%s,"ratio_qd32":%s,"vm_seq_mbps":%s,"host_seq_mbps":%s,"ratio_seq":%s}\n' \
	"$(get "$v1" iops)" "$(get "$h1" iops)" "$(ratio "$(get "$v1" iops)" "$(get "$h1" iops)")" \
	"$(get "$v32" iops)" "$(get "$h32" iops)" "$(ratio "$(get "$v32" iops)" "$(get "$h32" iops)")" \
	"$(get "$vs" mbps)" "$(get "$hs" mbps)" "$(ratio "$(get "$vs" mbps)" "$(get "$hs" mbps)")"
