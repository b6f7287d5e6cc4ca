#!/usr/bin/env bash
# A guest that ends with block reads in flight into its own memory: the daemon must finish
# them before that memory goes to anyone else. hostile-blkexit queues 32 reads of 256 KiB of
# a non-zero disk and exits (or faults) at once; a memsecret reader started right after on the
# same worker, which gets the recycled region of the same size, must read only zeros; the
# daemon's log must name the hostile guest's end and the neighbour must finish normally.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT

wait_ended() { # wait_ended SOCK NAME
	for _ in $(seq 300); do
		"$CTL" --socket "$1" list | grep -Eq "^$2 +(exited|killed)" && return 0
		sleep 0.1
	done
	return 1
}

python3 -c "import sys; sys.stdout.buffer.write(b'\xa5' * (1 << 20))" >"$TMP/disk.img"
daemon_start a --workers 1
S="--socket $TMP/a.sock"
for mode in exit fault; do
	for round in 1 2 3; do
		h=h-$mode-$round r=r-$mode-$round
		"$CTL" $S start "$h" "$GUESTS/hostile-blkexit" --disk "$TMP/disk.img" -- "$mode" \
			>/dev/null || fail "$h: start refused"
		wait_ended "$TMP/a.sock" "$h" || fail "$h did not end"
		"$CTL" $S stats "$h" >"$TMP/$h.stats" 2>&1
		expect_in "$h" "$TMP/$h.stats" "blk_read_bytes       8388608" # all 32 were queued
		"$CTL" $S start "$r" "$GUESTS/memsecret" -- read >/dev/null || fail "$r: start refused"
		wait_ended "$TMP/a.sock" "$r" || fail "$r did not end"
		"$CTL" $S console "$r" >"$TMP/$r.con" 2>&1
		expect_in "$r" "$TMP/$r.con" "memory: clean"
		"$CTL" $S list >"$TMP/list.out"
		expect_in "$r" "$TMP/list.out" "exited (code 0)"
		"$CTL" $S stop "$h" "$r" >/dev/null
	done
done
expect_in log "$TMP/a.log" "vm h-fault-1 (id"
expect_in log "$TMP/a.log" "killed: triple fault"
daemon_stop "$DPID"
expect_status a-sigterm 0 "$?"
finish
