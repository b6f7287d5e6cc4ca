#!/usr/bin/env bash
# Issue 8 items 2 and 3: a visible life cycle and counters that only go up.
#  - list --json: sorted by name, exit code or kill reason, start and end time; the table's
#    footer counts VMs by state; an ended VM holds no guest memory;
#  - events: every start, exit (code), kill (reason) and removal; the daemon log has them;
#  - console --follow returns when its VM ends;
#  - stats totals never decrease across starts, exits, kills and stops; stats NAME.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT
daemon_start l --workers 1
S="--socket $TMP/l.sock"
LOG="$TMP/l.log"

TOTALS_PREV=
# totals_check STEP: no total in stats may be below its value at the previous check
totals_check() {
	"$CTL" $S stats --json >"$TMP/stats.$1.json"
	local now
	now=$(json "$TMP/stats.$1.json" "' '.join(str(x) for x in [d['exits_total'], d['totals']['counters']['runs'], d['totals']['counters']['cpu_ns'], d['totals']['counters']['wakeups'], sum(d['totals']['counters']['hypercalls'].values()), d['totals']['console_bytes'], d['totals']['vms_started'], d['totals']['vms_exited'], d['totals']['vms_killed'], d['totals']['vms_removed']])")
	CHECKS=$((CHECKS + 1))
	if [ -n "$TOTALS_PREV" ]; then
		python3 -c "import sys; a=list(map(int,sys.argv[1].split())); b=list(map(int,sys.argv[2].split())); sys.exit(0 if all(y >= x for x, y in zip(a, b)) else 1)" "$TOTALS_PREV" "$now" ||
			fail "$1: a total went down: $TOTALS_PREV -> $now"
	fi
	TOTALS_PREV=$now
}
wait_ended() {
	for _ in $(seq 200); do
		"$CTL" $S list --json >"$TMP/w.json"
		[ "$(json "$TMP/w.json" "[v['state'] for v in d if v['name'] == '$1']")" = "['exited']" ] && return 0
		[ "$(json "$TMP/w.json" "[v['state'] for v in d if v['name'] == '$1']")" = "['killed']" ] && return 0
		sleep 0.1
	done
	fail "$1 did not end"
}

totals_check start
"$CTL" $S start zed "$GUESTS/exit" -- 7 >/dev/null
"$CTL" $S start kil "$GUESTS/hostile-priv" >/dev/null
"$CTL" $S start hel "$GUESTS/hello" -- hi >/dev/null
"$CTL" $S start sl "$GUESTS/sleeper" -- 5 100 >/dev/null
totals_check started
# console --follow returns when its VM exits (the sleeper naps 5 x 100 ms)
timeout 30 "$CTL" $S console sl --follow >"$TMP/follow.out" 2>&1
expect_status follow-returns 0 "$?"
CHECKS=$((CHECKS + 1))
[ "$(grep -c 'slept 100 ms' "$TMP/follow.out")" = 5 ] || fail "console --follow missed output: $(cat "$TMP/follow.out")"
for v in zed kil hel sl; do wait_ended $v; done
totals_check ended

"$CTL" $S list --json >"$TMP/list.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/list.json" "[v['name'] for v in d]")" = "['hel', 'kil', 'sl', 'zed']" ] ||
	fail "list not sorted by name: $(json "$TMP/list.json" "[v['name'] for v in d]")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/list.json" "[(v['state'], v['exit_code']) for v in d if v['name'] == 'zed']")" = "[('exited', 7)]" ] ||
	fail "zed: $(json "$TMP/list.json" "[v for v in d if v['name'] == 'zed']")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/list.json" "[v['state'] for v in d if v['name'] == 'kil' and v['reason']]")" = "['killed']" ] ||
	fail "kil: $(json "$TMP/list.json" "[v for v in d if v['name'] == 'kil']")"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/list.json" "all(v['ended_ms'] and v['ended_ms'] >= v['started_ms'] > 0 and v['resident_kib'] == 0 for v in d)")" = True ] ||
	fail "ended VMs need start and end times and no resident memory: $(cat "$TMP/list.json")"
"$CTL" $S list >"$TMP/list.txt"
expect_in footer "$TMP/list.txt" "4 VM(s), 3 exited, 1 killed"
expect_in table "$TMP/list.txt" "exited (code 7)"

# events and the daemon log
"$CTL" $S events >"$TMP/events.txt"
expect_status events 0 "$?"
expect_in events "$TMP/events.txt" "vm zed (id"
expect_in events "$TMP/events.txt" "exited with code 7"
expect_in events "$TMP/events.txt" "vm kil"
expect_in events "$TMP/events.txt" "killed: "
CHECKS=$((CHECKS + 1))
[ "$(grep -c ': started$' "$TMP/events.txt")" = 4 ] || fail "not every start is an event: $(cat "$TMP/events.txt")"
for _ in $(seq 30); do grep -q "exited with code 7" "$LOG" && break; sleep 0.1; done
expect_in log "$LOG" "vm zed (id"
expect_in log "$LOG" "exited with code 7"
expect_in log "$LOG" "vm kil"
expect_in log "$LOG" "killed:"
# events --follow streams a new one
timeout 20 "$CTL" $S events --follow >"$TMP/follow-ev.txt" 2>&1 &
FP=$!
sleep 0.5
"$CTL" $S start late "$GUESTS/exit" -- 3 >/dev/null
for _ in $(seq 100); do grep -q "vm late .*exited with code 3" "$TMP/follow-ev.txt" && break; sleep 0.1; done
kill $FP 2>/dev/null
wait $FP 2>/dev/null
expect_in events-follow "$TMP/follow-ev.txt" "exited with code 3"

# one VM's counters
"$CTL" $S stats sl --json >"$TMP/vm.json"
expect_status stats-name 0 "$?"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/vm.json" "d['counters']['hypercalls']['idle'] >= 5 and d['counters']['runs'] > 0 and d['console_bytes'] > 0")" = True ] ||
	fail "stats sl: $(cat "$TMP/vm.json")"
"$CTL" $S stats nosuch >"$TMP/nosuch.out" 2>&1
expect_status stats-nosuch 1 "$?"

# stops: totals stay
"$CTL" $S stop zed kil hel sl late >/dev/null
totals_check stopped
"$CTL" $S start again "$GUESTS/hello" >/dev/null
wait_ended again
totals_check again
"$CTL" $S events >"$TMP/events2.txt"
expect_in events-stop "$TMP/events2.txt" "vm zed"
expect_in events-stop "$TMP/events2.txt" "stop: removed by the operator"
daemon_stop "$DPID"
expect_status sigterm 0 "$?"
finish
