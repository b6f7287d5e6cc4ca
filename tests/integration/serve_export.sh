#!/usr/bin/env bash
# denalictl export / import between two daemons (issue 10 item 6): a swapcount VM (a
# working set checked byte for byte every round, and a counter) is exported from daemon A
# as one file, copied into daemon B's exports directory and imported there: it goes on from
# the round it had reached (a fresh boot would start again at round 1) and its memory is
# intact (no MISMATCH). A tampered copy (one byte flipped) and a truncated one are refused
# with a reason; a file name with a path in it is refused by denalictl.
. "$(dirname "$0")/lib.sh"
require_kvm
trap 'daemons_cleanup' EXIT
daemon_start a --workers 1 --swap "$TMP/swap-a" --swap-size 16M --swap-slot 4M
daemon_start b --workers 1 --swap "$TMP/swap-b" --swap-size 16M --swap-slot 4M
A="--socket $TMP/a.sock"
B="--socket $TMP/b.sock"
"$CTL" $A start cnt "$GUESTS/swapcount" -- 256 100000 300 >/dev/null
expect_status start 0 $?
last_round() { # SOCKET NAME: the highest round NAME has printed
	"$CTL" --socket "$1" console "$2" 2>/dev/null | sed -n 's/^round \([0-9]*\) ok$/\1/p' |
		sort -n | tail -1
}
for _ in $(seq 100); do
	r=$(last_round "$TMP/a.sock" cnt)
	[ -n "$r" ] && [ "$r" -ge 12 ] && break
	sleep 0.2
done
"$CTL" $A export cnt cnt.dvm >"$TMP/export.out" 2>&1
expect_status export 0 $?
expect_in export "$TMP/export.out" "exported cnt"
at=$(last_round "$TMP/a.sock" cnt)
CHECKS=$((CHECKS + 1))
[ -s "$TMP/a.state/exports/cnt.dvm" ] || fail "no export file in STATE/exports"
# A's VM goes on (it was only swapped out).
sleep 1
CHECKS=$((CHECKS + 1))
[ "$(last_round "$TMP/a.sock" cnt)" -gt "$at" ] || fail "the exported VM stopped on daemon A"
"$CTL" $A stop cnt >/dev/null

mkdir -p "$TMP/b.state/exports"
cp "$TMP/a.state/exports/cnt.dvm" "$TMP/b.state/exports/cnt.dvm"
"$CTL" $B import cnt.dvm moved >"$TMP/import.out" 2>&1
expect_status import 0 $?
expect_in import "$TMP/import.out" "imported cnt.dvm"
sleep 2
got=$(last_round "$TMP/b.sock" moved)
CHECKS=$((CHECKS + 1))
[ -n "$got" ] && [ "$got" -ge $((at + 2)) ] ||
	fail "imported VM at round '$got', exported near round $at (a fresh boot starts at 1)"
"$CTL" $B console moved >"$TMP/moved.out"
expect_not_in memory "$TMP/moved.out" "MISMATCH"
"$CTL" $B list >"$TMP/blist.txt"
expect_in list "$TMP/blist.txt" "moved"
expect_not_in killed "$TMP/blist.txt" "killed"

# Tampered and truncated files are refused, with a reason; B keeps running.
cp "$TMP/a.state/exports/cnt.dvm" "$TMP/b.state/exports/bad.dvm"
printf '\x5a' | dd of="$TMP/b.state/exports/bad.dvm" bs=1 seek=20000 conv=notrunc status=none
"$CTL" $B import bad.dvm bad >"$TMP/bad.out" 2>&1
expect_status tampered 1 $?
expect_in tampered "$TMP/bad.out" "checksum"
head -c 10000 "$TMP/a.state/exports/cnt.dvm" >"$TMP/b.state/exports/short.dvm"
"$CTL" $B import short.dvm short >"$TMP/short.out" 2>&1
expect_status truncated 1 $?
expect_in truncated "$TMP/short.out" "import"
"$CTL" $B import ../../etc/passwd x >"$TMP/path.out" 2>&1
expect_status path 2 $?
"$CTL" $B import nosuch.dvm >"$TMP/nosuch.out" 2>&1
expect_status nosuch 1 $?
# A VM with a disk (or a NIC) cannot be imported yet: refused with its devices named, and
# nothing is started on daemon B.
mkdir -p "$TMP/site"
echo "a disk" >"$TMP/site/x.txt"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?
"$CTL" $A start dsk "$GUESTS/swapcount" --disk "$TMP/site.img" --disk-ro -- 64 100000 300 \
	>/dev/null
expect_status "start dsk" 0 $?
for _ in $(seq 100); do
	r=$(last_round "$TMP/a.sock" dsk)
	[ -n "$r" ] && [ "$r" -ge 2 ] && break
	sleep 0.2
done
"$CTL" $A export dsk dsk.dvm >"$TMP/dexport.out" 2>&1
expect_status "export dsk" 0 $?
cp "$TMP/a.state/exports/dsk.dvm" "$TMP/b.state/exports/dsk.dvm"
"$CTL" $B import dsk.dvm dsk >"$TMP/dimport.out" 2>&1
expect_status "import of a disk VM refused" 1 $?
expect_in "import refusal says why" "$TMP/dimport.out" "cannot be imported"
expect_in "import refusal names the disk" "$TMP/dimport.out" "blk"
"$CTL" $B list >"$TMP/blist2.txt"
expect_in "b alive" "$TMP/blist2.txt" "moved"
expect_not_in "no bad VM" "$TMP/blist2.txt" "bad"
expect_not_in "no disk VM imported" "$TMP/blist2.txt" "dsk"
finish
