#!/usr/bin/env bash
# The block device: write/flush/read-back by checksum, a read-only disk, out
# of range and wrapping requests, a disk on a full file system, and a
# hostile guest for every blk-ring index, address and length.
. "$(dirname "$0")/lib.sh"
require_kvm
C=$GUESTS/blkcheck
counter() { grep "^vm $2 devices:" "$TMP/$1.err" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
expect_counter() {
	CHECKS=$((CHECKS + 1))
	local v
	v=$(counter "$1" "$2" "$3")
	[ "$v" = "$4" ] || fail "$1: $2 $3=$v, expected $4"
}

truncate -s 8M "$TMP/disk.img"
run_denalid rw run --disk "$TMP/disk.img" "$C" -- rw 6000
expect_status rw 0 "$STATUS"
expect_in rw "$TMP/rw.out" "sectors: written crc"
expect_in rw "$TMP/rw.out" "match"
expect_counter rw blkcheck blk_flushes 1
expect_counter rw blkcheck blk_write_bytes $((6000 * 512))
expect_counter rw blkcheck blk_err_io 0
# The data is really in the file, where the guest put it.
CHECKS=$((CHECKS + 1))
[ "$(head -c 4096 "$TMP/disk.img" | tr -d '\0' | wc -c)" -gt 0 ] || fail "rw: file still zero"

# Zero-copy buffers (page-aligned, 1 MiB requests) on a direct disk: O_DIRECT, and the same
# data as the bounced requests above wrote. The bounced requests (data 16 bytes into a
# buffer) cannot be direct and go through the page cache of the same file.
run_denalid zc run --disk-direct --disk "$TMP/disk.img" "$C" -- zc 6000
if grep -q "no direct I/O" "$TMP/zc.err"; then
	echo "note: $TMP has no O_DIRECT, the direct-disk cases are not run"
else
	expect_status zc 0 "$STATUS"
	expect_in zc "$TMP/zc.out" "blkcheck: zc 6000 sectors: written crc"
	expect_in zc "$TMP/zc.out" "match"
	expect_counter zc blkcheck blk_direct 6
	expect_counter zc blkcheck blk_buffered 0
	run_denalid drw run --disk-direct --disk "$TMP/disk.img" "$C" -- rw 6000
	expect_status drw 0 "$STATUS"
	expect_in drw "$TMP/drw.out" "match"
	expect_counter drw blkcheck blk_direct 0
	CHECKS=$((CHECKS + 1))
	[ "$(counter drw blkcheck blk_buffered)" -gt 0 ] || fail "drw: no buffered fallback"
	CHECKS=$((CHECKS + 1))
	[ "$(sed -n 's/.*written crc \([0-9a-f]*\).*/\1/p' "$TMP/zc.out")" = \
		"$(sed -n 's/.*written crc \([0-9a-f]*\).*/\1/p' "$TMP/rw.out")" ] ||
		fail "zc: not the data rw wrote"
fi

# A second VM reads what the first wrote and gets the same checksum.
run_denalid ro run --disk-ro "$TMP/disk.img" "$C" -- ro
expect_status ro 0 "$STATUS"
expect_in ro "$TMP/ro.out" "blkcheck: ro read 0 write -30"
expect_counter ro blkcheck blk_err_rdonly 1

run_denalid range run --disk "$TMP/disk.img" "$C" -- range
expect_status range 0 "$STATUS"
expect_in range "$TMP/range.out" "blkcheck: range past-end -5 straddle -5 wrap -5 last 0"
expect_counter range blkcheck blk_err_range 3

# A full file system: the guest gets -EIO and keeps running; so does its
# neighbour. Needs root for a small tmpfs.
if [ "$(id -u)" -eq 0 ] && mkdir "$TMP/full" && mount -t tmpfs -o size=1m tmpfs "$TMP/full"; then
	trap 'umount "$TMP/full" 2>/dev/null; rm -rf "$TMP"' EXIT
	truncate -s 4M "$TMP/full/disk.img"
	run_denalid full run --disk "$TMP/full/disk.img" "$C" --with "$GUESTS/sleeper 3 10" -- fill
	expect_status full 0 "$STATUS"
	expect_in full "$TMP/full.out" "blkcheck: fill error -5 at sector"
	expect_in full "$TMP/full.out" "blkcheck: read after error 0"
	CHECKS=$((CHECKS + 1))
	[ "$(grep -c 'sleeper-1: slept 10 ms late' "$TMP/full.out")" = 3 ] || fail "full: neighbour"
	CHECKS=$((CHECKS + 1))
	[ "$(counter full blkcheck-0 blk_err_io)" -ge 1 ] || fail "full: no I/O error counted"
	umount "$TMP/full"
else
	echo "note: not root, the full-disk case is not run"
fi

hostile() {
	local mode=$1 reason=$2
	run_denalid "h-$mode" run --disk "$TMP/disk.img" "$GUESTS/hostile-devring" \
		--with "$GUESTS/sleeper 3 10" -- "$mode"
	expect_status "h-$mode" 125 "$STATUS"
	expect_in "h-$mode" "$TMP/h-$mode.err" "vm hostile-devring-0 killed: $reason"
	CHECKS=$((CHECKS + 1))
	[ "$(grep -c 'sleeper-1: slept 10 ms late' "$TMP/h-$mode.out")" = 3 ] ||
		fail "h-$mode: the well-behaved sleeper did not finish beside it"
	expect_not_in "h-$mode" "$TMP/h-$mode.out" "survived"
}
hostile blkhdr "blk ring: descriptor 0 request header [0xfffff8, +16) is outside guest memory"
hostile blkdata "blk ring: descriptor 0 [0x"
hostile blkindex "blk ring: producer index 1000 is out of range"
# A read into the monitor's GDT, or a write of it to the disk (header at the end of the
# ring page, data on 0x7000).
hostile blkpriv "blk ring: descriptor 0 [0x6ff0, +528) is outside guest memory"
hostile blkleak "blk ring: descriptor 0 [0x6ff0, +528) is outside guest memory"

# The block poller (devices/blk_poll.c) reads the ring while the guest runs. A guest that
# misbehaves then, with no exit of its own, is found by the poller, interrupted and killed
# (unpolled, it would spin on and say it survived); one that rewrites a request it posted
# while the poller reads it gets OK or IOERR, never more than its descriptor's bytes.
live() { # MODE: beside a sleeper; again (twice at most) if the poller never got going
	local mode=$1
	for _ in 1 2 3; do
		run_denalid "h-$mode" run --disk "$TMP/disk.img" "$GUESTS/hostile-devring" \
			--with "$GUESTS/sleeper 3 10" -- "$mode"
		grep -q "is not polled" "$TMP/h-$mode.out" || return 0
	done
}
for mode in blklive blkliveindex; do
	live $mode
	expect_status "h-$mode" 125 "$STATUS"
	if [ $mode = blklive ]; then
		expect_in "h-$mode" "$TMP/h-$mode.err" "vm hostile-devring-0 killed: blk ring: descriptor"
		expect_in "h-$mode" "$TMP/h-$mode.err" "request header [0xfffff8, +16) is outside"
	else
		expect_in "h-$mode" "$TMP/h-$mode.err" "vm hostile-devring-0 killed: blk ring: producer index"
		expect_in "h-$mode" "$TMP/h-$mode.err" "is out of range"
	fi
	expect_not_in "h-$mode" "$TMP/h-$mode.out" "survived"
	CHECKS=$((CHECKS + 1))
	[ "$(counter "h-$mode" hostile-devring-0 blk_polled)" -ge 20 ] || fail "h-$mode: not polled"
	CHECKS=$((CHECKS + 1))
	[ "$(grep -c 'sleeper-1: slept 10 ms late' "$TMP/h-$mode.out")" = 3 ] ||
		fail "h-$mode: the well-behaved sleeper did not finish beside it"
done
live blklivedata
expect_status h-blklivedata 0 "$STATUS"
expect_in h-blklivedata "$TMP/h-blklivedata.out" "blklivedata 2000 requests"
expect_in h-blklivedata "$TMP/h-blklivedata.out" "canary intact"
# 20 taken by the poller in the warm-up; some of the 2000 at least (how many depends on
# the load: a guest off its CPU a while finds the poller asleep and takes an exit).
CHECKS=$((CHECKS + 1))
n=$(counter h-blklivedata hostile-devring-0 blk_polled)
[ "${n:-0}" -gt 20 ] || fail "h-blklivedata: blk_polled=$n, none of the rewritten requests taken live"
# Without the poller nothing answers a request while the guest runs: its warm-up gives up.
run_denalid h-nopoll run --no-blk-poll --disk "$TMP/disk.img" "$GUESTS/hostile-devring" -- blklive
expect_in h-nopoll "$TMP/h-nopoll.out" "is not polled"
expect_status h-nopoll 3 "$STATUS"
finish
