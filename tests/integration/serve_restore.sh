#!/usr/bin/env bash
# A fleet restored after a daemon restart (issue 10 item 5), at small scale: 200 swapcount
# VMs (a 16 KiB working set checked byte for byte every round, and a round counter; a round
# a second) under denalid serve --swap. SIGTERM swaps every one out and keeps it; the restart
# brings every one back in its slot (logged "resumed from its swap slot", listed as swapped or
# read back from there: never booted afresh), and every one answers: an operator's `swap in`
# of all 200 at once reads each back, and each goes on counting from the round it had
# reached (its console history came back with it) with its memory intact (no MISMATCH, no VM
# ended). No timing is asserted (hang guards only).
. "$(dirname "$0")/lib.sh"
require_kvm
trap 'daemons_cleanup' EXIT
N=200
OPTS=(--workers 2 --swap "$TMP/swap" --swap-size 256M --swap-slot 1M --live-max 400)
S="--socket $TMP/d.sock"
daemon_start d "${OPTS[@]}"
"$CTL" $S start c "$GUESTS/swapcount" --count $N --mem 2M -- 16 1000000 1000 >/dev/null
expect_status "start $N" 0 $?

# rounds FILE: "NAME LAST_ROUND COUNT_OF_ROUND_1 LINES" of every VM (its console, now)
rounds() {
	local i
	for i in $(seq 0 $((N - 1))); do
		"$CTL" $S console "c-$i" 2>/dev/null | awk -v n="c-$i" '
			/^round [0-9]+ ok$/ { r = $2 + 0; if (r > last) last = r; if (r == 1) ones++; k++ }
			/MISMATCH/ { bad++ }
			END { printf "%s %d %d %d %d\n", n, last, ones, k, bad }'
	done | sort >"$1"
}
# every VM past round 2 before the restart
for _ in $(seq 120); do
	rounds "$TMP/r0"
	[ "$(awk '$2 < 2' "$TMP/r0" | wc -l)" = 0 ] && break
	sleep 0.5
done
CHECKS=$((CHECKS + 1))
[ "$(awk '$2 >= 2' "$TMP/r0" | wc -l)" = $N ] ||
	fail "before the restart: $(awk '$2 < 2' "$TMP/r0" | wc -l) VM(s) not past round 2"

daemon_stop "$DPID"
expect_status "SIGTERM exit" 0 $?
expect_in sigterm-log "$TMP/d.log" "shutdown: $N of $N VM(s) kept in their swap slots"
mv "$TMP/d.log" "$TMP/d1.log"

daemon_start d "${OPTS[@]}"
for _ in $(seq 600); do
	[ "$("$CTL" $S list --json 2>/dev/null | python3 -c "import json,sys; print(len(json.load(sys.stdin)))" 2>/dev/null)" = $N ] && break
	sleep 0.1
done
"$CTL" $S list --json >"$TMP/l1.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l1.json" "len(d)")" = $N ] || fail "after the restart: $(json "$TMP/l1.json" "len(d)") of $N listed"
# in its slot, or read back from it since (its deadline came): never booted afresh
CHECKS=$((CHECKS + 1))
bad=$(json "$TMP/l1.json" "' '.join(v['name'] for v in d if not (v['residency'] in ('swapped', 'waiting', 'swapping-in') or v['swap_ins'] >= 1))")
[ -z "$bad" ] || fail "after the restart, not restored in their slots: $(echo "$bad" | head -c 300)"
CHECKS=$((CHECKS + 1))
[ "$(grep -c "resumed from its swap slot" "$TMP/d.log")" = $N ] ||
	fail "after SIGTERM: $(grep -c "resumed from its swap slot" "$TMP/d.log") of $N resumed from their slots: $(grep -h "still\|afresh\|shutdown" "$TMP/d1.log" "$TMP/d.log" | head -5)"
expect_not_in "no reboot" "$TMP/d.log" "boots afresh"

# Every one asked in at once; each is read back from its slot (or is already). Names a
# loaded daemon answers "ask again" for (its control loop's budget) are asked again.
seq -f 'c-%g' 0 $((N - 1)) >"$TMP/todo"
for _ in $(seq 10); do
	"$CTL" $S swap in $(cat "$TMP/todo") >"$TMP/in.out" 2>&1
	"$CTL" $S list --json >"$TMP/l2.json"
	json "$TMP/l2.json" "'\\n'.join(v['name'] for v in d if v['swap_ins'] < 1)" | sed '/^$/d' >"$TMP/todo"
	[ -s "$TMP/todo" ] || break
done
CHECKS=$((CHECKS + 1))
bad=$(json "$TMP/l2.json" "' '.join(v['name'] for v in d if v['swap_ins'] < 1)")
[ -z "$bad" ] || fail "never read back from their slots: $(echo "$bad" | head -c 300)"

# ... and goes on counting: a round past the one it had reached, round 1 printed once (its
# history came back with it, no second boot), every round's check passed.
for _ in $(seq 120); do
	rounds "$TMP/r2"
	[ "$(join "$TMP/r0" "$TMP/r2" | awk '$6 <= $2' | wc -l)" = 0 ] && break
	sleep 0.5
done
CHECKS=$((CHECKS + 1))
stuck=$(join "$TMP/r0" "$TMP/r2" | awk '$6 <= $2 { print $1 " (at " $6 ", was " $2 ")" }')
[ -z "$stuck" ] || fail "did not count on after the restart: $(echo "$stuck" | head -5 | tr '\n' ' ')"
CHECKS=$((CHECKS + 1))
bad=$(awk '$3 != 1 || $5 != 0 || $4 != $2 { print $1 }' "$TMP/r2")
[ -z "$bad" ] || fail "console not one run of rounds 1..K (a reboot or a MISMATCH): $(echo "$bad" | head -5 | tr '\n' ' ')"
"$CTL" $S list --json >"$TMP/l3.json"
CHECKS=$((CHECKS + 1))
bad=$(json "$TMP/l3.json" "' '.join(v['name'] + ':' + v['state'] for v in d if v['state'] in ('exited', 'killed'))")
[ -z "$bad" ] || fail "VMs ended: $(echo "$bad" | head -c 300)"
finish
