#!/usr/bin/env bash
# Issue 7 hole 5: one worker, a VM that sleeps 1 ms at a time and two spinners. A spinner cut
# short by the sleeper's deadline used to go back to the front with a fresh quantum, so one
# spinner kept the CPU and the other did not run for the whole run. Each spinner measures its
# own time on the CPU (gaps in its clock are time it did not run); each must get at least a
# quarter of its 2 s.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT
daemon_start st --workers 1 --quantum-ms 5
S="--socket $TMP/st.sock"
"$CTL" $S start sl "$GUESTS/sleeper" -- 3000 1 >/dev/null
expect_status sleeper 0 "$?"
"$CTL" $S start spin "$GUESTS/spin" --count 2 -- 2000 >/dev/null
expect_status spinners 0 "$?"
# generous: on a loaded machine the spinners' own 2 s may take longer to reach
for _ in $(seq 600); do
	"$CTL" $S list >"$TMP/list.txt"
	[ "$(grep -c '^spin-[01] .*exited' "$TMP/list.txt")" = 2 ] && break
	sleep 0.1
done
for v in spin-0 spin-1; do
	"$CTL" $S console $v >"$TMP/$v.out"
	ms=$(sed -n 's/^spun 2000 ms, on cpu \([0-9]*\) ms$/\1/p' "$TMP/$v.out")
	echo "$v: on the CPU ${ms:-?} ms of its 2000 ms"
	CHECKS=$((CHECKS + 1))
	[ -n "$ms" ] && [ "$ms" -ge 500 ] || fail "$v starved: ${ms:-no report} ms on the CPU of 2000"
done
daemon_stop "$DPID"
expect_status sigterm 0 "$?"
finish
