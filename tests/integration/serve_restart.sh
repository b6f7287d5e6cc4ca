#!/usr/bin/env bash
# The fleet outlives its daemon (issue 10 item 5), in a namespace of this test's own
# (198.18.14.0/24, a tap there): httpd VMs with --net and a read-only --disk under
# denalid serve --swap. SIGTERM swaps every VM out and a restart resumes each from its slot
# without rebooting it: its hit counter goes on. Then some are swapped out by command and the
# daemon is killed with SIGKILL: after a restart those resume from their slots (the swap log
# says they were there) and the others boot afresh (their counter starts again), and the log
# says which were which.
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns curl
NS=denali-swaprst-$$
TAP=srtap$$
trap 'daemons_cleanup; netns_cleanup' EXIT
netns_up "$NS" "$TAP" 198.18.14.1/24

mkdir -p "$TMP/site"
echo "restart test page" >"$TMP/site/index.html"
"$BIN/denali-mkfs" -q "$TMP/site" "$TMP/site.img"
expect_status mkfs 0 $?
N=4
OPTS=(--workers 2 --net 198.18.14.0/24 --tap "$TAP" --swap "$TMP/swap" --swap-size 64M
	--swap-slot 4M --mem-budget 64M)
S="--socket $TMP/d.sock"
daemon_start d "${OPTS[@]}"
httpd_fleet "$N" "$TMP/site.img" "$TAP"
# No retries: a retried request would count twice (a slow answer under load is waited for).
hits() { in_ns curl -s -m 60 "http://${ADDR[$1]}/hits" 2>/dev/null; }
# expect_hits I N: VM I answers /hits with N
expect_hits() {
	local h
	h=$(hits "$1")
	CHECKS=$((CHECKS + 1))
	[ "$h" = "$2" ] || fail "h$1: /hits answered '$h', expected $2 ($3)"
}
for i in $(seq 0 $((N - 1))); do
	hits "$i" >/dev/null
	expect_hits "$i" 2 "before any restart"
done

# SIGTERM: every VM into its slot, kept; the restart resumes them all.
daemon_stop "$DPID"
expect_status "SIGTERM exit" 0 $?
expect_in sigterm-log "$TMP/d.log" "shutdown: $N of $N VM(s) kept in their swap slots"
mv "$TMP/d.log" "$TMP/d1.log"
daemon_start d "${OPTS[@]}"
for _ in $(seq 50); do
	[ "$(grep -c "resumed from its swap slot" "$TMP/d.log")" -ge $N ] && break
	sleep 0.1
done
CHECKS=$((CHECKS + 1))
[ "$(grep -c "resumed from its swap slot" "$TMP/d.log")" = $N ] ||
	fail "after SIGTERM: $(grep -c "resumed from its swap slot" "$TMP/d.log") of $N resumed"
"$CTL" $S list --json >"$TMP/l1.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/l1.json" "sum(1 for v in d if v['residency'] in ('swapped', 'waiting', 'swapping-in'))")" -ge 1 ] ||
	fail "after SIGTERM: no VM came back in its slot: $(json "$TMP/l1.json" "[v['residency'] for v in d]")"
for i in $(seq 0 $((N - 1))); do
	expect_hits "$i" 3 "its counter across a SIGTERM restart"
done
in_ns curl -s -m 10 "http://${ADDR[0]}/index.html" >"$TMP/page" 2>/dev/null
CHECKS=$((CHECKS + 1))
cmp -s "$TMP/page" "$TMP/site/index.html" || fail "h0: its page from its disk differs after the restart"

# SIGKILL with h0 and h1 in their slots, h2 and h3 in memory.
"$CTL" $S swap out h0 h1 >/dev/null 2>&1
expect_status "swap out h0 h1" 0 $?
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
mv "$TMP/d.log" "$TMP/d2.log"
daemon_start d "${OPTS[@]}"
for _ in $(seq 50); do
	[ "$(grep -c "resumed from its swap slot\|boots afresh" "$TMP/d.log")" -ge $N ] && break
	sleep 0.1
done
expect_in kill9-resumed "$TMP/d.log" "vm h0 (id"
CHECKS=$((CHECKS + 1))
grep "vm h0 " "$TMP/d.log" | grep -q "resumed from its swap slot" || fail "h0 not resumed after kill -9"
CHECKS=$((CHECKS + 1))
grep "vm h1 " "$TMP/d.log" | grep -q "resumed from its swap slot" || fail "h1 not resumed after kill -9"
CHECKS=$((CHECKS + 1))
grep "vm h2 " "$TMP/d.log" | grep -q "boots afresh" || fail "h2: no 'boots afresh' after kill -9"
CHECKS=$((CHECKS + 1))
grep "vm h3 " "$TMP/d.log" | grep -q "boots afresh" || fail "h3: no 'boots afresh' after kill -9"
expect_hits 0 5 "resumed after kill -9 (its page was fetched once more)"
expect_hits 1 4 "resumed after kill -9"
expect_hits 2 1 "booted afresh after kill -9"
expect_hits 3 1 "booted afresh after kill -9"
finish
