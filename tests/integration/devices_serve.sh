#!/usr/bin/env bash
# Devices through denalid serve, in a namespace of this test's own: --net and
# --tap on the daemon, --net, --disk and --disk-direct on denalictl start (persisted in the
# definition), the IPv4 address in list, per-device counters in stats NAME.
. "$(dirname "$0")/lib.sh"
require_kvm
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
	echo "SKIP: needs root, ip(8) and /dev/net/tun for a namespace and a tap of its own"
	exit 77
fi
NS=denali-devsrv-$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
trap 'daemons_cleanup; ip netns del "$NS" 2>/dev/null' EXIT
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$BIN/denalid" >"$TMP/denalid-ns"
chmod +x "$TMP/denalid-ns"
DENALID=$TMP/denalid-ns
P=$GUESTS/netpeer
daemon_start d --workers 2 --net 198.18.11.0/24 --tap "stap$$"
S="--socket $TMP/d.sock"
wait_state() { # NAME STATE
	for _ in $(seq 200); do
		"$CTL" $S list | grep -q "^$1 .*$2" && return 0
		sleep 0.1
	done
	return 1
}
"$CTL" $S start echo "$P" --net -- echo 5 >/dev/null
expect_status start-echo 0 "$?"
"$CTL" $S list --json >"$TMP/l1.json"
id=$(json "$TMP/l1.json" "[v['id'] for v in d if v['name'] == 'echo'][0]")
mac=$(printf '02:de:%02x:%02x:%02x:%02x' $((id >> 24 & 255)) $((id >> 16 & 255)) \
	$((id >> 8 & 255)) $((id & 255)))
"$CTL" $S start ping "$P" --net -- ping "$mac" 5 >/dev/null
expect_status start-ping 0 "$?"
wait_state ping exited || fail "the pinger did not finish"
"$CTL" $S console ping >"$TMP/ping.out"
expect_in ping "$TMP/ping.out" "ping sent 5 received 5"
"$CTL" $S list >"$TMP/list.txt"
expect_in list-ipv4 "$TMP/list.txt" "198.18.11.$((id + 1))"
"$CTL" $S stats echo >"$TMP/stats-echo.txt"
expect_in stats-rx "$TMP/stats-echo.txt" "rx_frames            5"
expect_in stats-tx "$TMP/stats-echo.txt" "tx_frames            5"
expect_in stats-ipv4 "$TMP/stats-echo.txt" "198.18.11.$((id + 1))"
CHECKS=$((CHECKS + 1))
grep -q '"net": *true' "$TMP/d.state/vms/echo/"* 2>/dev/null || fail "--net not in the definition"
"$CTL" $S stats --json >"$TMP/stats.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/stats.json" "d['net']['uplink']['up']")" = True ] || fail "uplink not up"

# A disk, written, flushed and read back by checksum; its counters in stats.
truncate -s 1M "$TMP/disk.img"
"$CTL" $S start disk "$GUESTS/blkcheck" --disk "$TMP/disk.img" -- rw 1000 >/dev/null
expect_status start-disk 0 "$?"
wait_state disk exited || fail "blkcheck did not finish"
"$CTL" $S console disk >"$TMP/disk.out"
expect_in disk "$TMP/disk.out" "match"
"$CTL" $S stats disk >"$TMP/stats-disk.txt"
expect_in stats-disk "$TMP/stats-disk.txt" "blk_flushes          1"
CHECKS=$((CHECKS + 1))
grep -q "disk.img" "$TMP/d.state/vms/disk/"* 2>/dev/null || fail "--disk not in the definition"
# A direct disk: zero-copy (page-aligned) 1 MiB requests go O_DIRECT, counted as blk_direct.
"$CTL" $S start diskd "$GUESTS/blkcheck" --disk "$TMP/disk.img" --disk-direct -- zc 2048 \
	>"$TMP/diskd-start.out" 2>&1
st=$?
if [ $st -ne 0 ] && grep -q "no direct I/O" "$TMP/diskd-start.out"; then
	echo "note: $TMP has no O_DIRECT, the direct-disk case is not run"
else
	expect_status start-diskd 0 "$st"
	wait_state diskd exited || fail "blkcheck zc did not finish"
	"$CTL" $S console diskd >"$TMP/diskd.out"
	expect_in diskd "$TMP/diskd.out" "match"
	"$CTL" $S stats diskd >"$TMP/stats-diskd.txt"
	expect_in stats-diskd "$TMP/stats-diskd.txt" "blk_direct           2"
	expect_in stats-diskd "$TMP/stats-diskd.txt" "blk_buffered         0"
	CHECKS=$((CHECKS + 1))
	grep -q '"disk_direct": *true' "$TMP/d.state/vms/diskd/"* 2>/dev/null ||
		fail "--disk-direct not in the definition"
	CHECKS=$((CHECKS + 1))
	grep -q '"disk_direct": *false' "$TMP/d.state/vms/disk/"* 2>/dev/null ||
		fail "a buffered disk's definition does not say so"
fi
# --disk-direct without --disk is a usage error.
"$CTL" $S start nodisk "$GUESTS/blkcheck" --disk-direct -- ro >"$TMP/nodisk.out" 2>&1
expect_status nodisk 2 "$?"
expect_in nodisk "$TMP/nodisk.out" "need --disk FILE"
# --net on a daemon without a switch is refused with a reason.
daemon_start plain --workers 1
"$CTL" --socket "$TMP/plain.sock" start x "$P" --net -- echo 1 >"$TMP/nonet.out" 2>&1
expect_status nonet 1 "$?"
expect_in nonet "$TMP/nonet.out" "no network"
finish
