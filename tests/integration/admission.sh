#!/usr/bin/env bash
# Issue 7 hole 6: admission counts the guest memory a VM can make resident (all of it, until
# swap exists), against MemAvailable or --max-mem, and refuses a request before its first VM
# starts; an exited VM gives its memory back at once.
. "$(dirname "$0")/lib.sh"
require_kvm
trap daemons_cleanup EXIT

# --- the computed budget: more 4 GiB VMs than MemAvailable holds are refused ---------
daemon_start a --workers 1
S="--socket $TMP/a.sock"
avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
n=$((avail_kib / (4 * 1024 * 1024) + 2))
"$CTL" $S start big "$GUESTS/sleeper" --count $n --mem 4G -- 1 600000 >"$TMP/big.out" 2>&1
expect_status big-refused 1 "$?"
expect_in big-refused "$TMP/big.out" "capacity: memory"
"$CTL" $S list --json >"$TMP/big.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/big.json" "len(d)")" = 0 ] || fail "VMs left behind by a refused start of $n x 4 GiB"
CHECKS=$((CHECKS + 1))
[ -z "$(ls "$TMP/a.state/vms")" ] || fail "a refused start left state behind: $(ls "$TMP/a.state/vms" | head -3)"
daemon_stop "$DPID"
expect_status a-sigterm 0 "$?"

# --- --max-mem 64M: three 16 MiB VMs fit (16 MiB + 768 KiB each), a fourth does not ---
daemon_start b --workers 1 --max-mem 64M
S="--socket $TMP/b.sock"
"$CTL" $S start four "$GUESTS/sleeper" --count 4 --mem 16M -- 1 600000 >"$TMP/four.out" 2>&1
expect_status four-refused 1 "$?"
expect_in four-refused "$TMP/four.out" "capacity: memory"
"$CTL" $S list --json >"$TMP/four.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/four.json" "len(d)")" = 0 ] || fail "a refused start of 4 left VMs running"
"$CTL" $S start s "$GUESTS/sleeper" --count 2 --mem 16M -- 1 600000 >"$TMP/two.out" 2>&1
expect_status two 0 "$?"
"$CTL" $S start h "$GUESTS/hello" --mem 16M >"$TMP/h.out" 2>&1
expect_status third 0 "$?"
# h exits at once; its memory must be back without a stop
for _ in $(seq 100); do
	"$CTL" $S list | grep -q "^h .*exited" && break
	sleep 0.1
done
"$CTL" $S start h2 "$GUESTS/sleeper" --mem 16M -- 1 600000 >"$TMP/h2.out" 2>&1
expect_status after-exit 0 "$?"
"$CTL" $S start h3 "$GUESTS/sleeper" --mem 16M -- 1 600000 >"$TMP/h3.out" 2>&1
expect_status full 1 "$?"
expect_in full "$TMP/h3.out" "budget of 64 MiB (--max-mem)"
"$CTL" $S stats --json >"$TMP/stats.json"
CHECKS=$((CHECKS + 1))
[ "$(json "$TMP/stats.json" "d['admission']['mem_used']")" = $((3 * (16 * 1048576 + 786432))) ] ||
	fail "mem_used is $(json "$TMP/stats.json" "d['admission']['mem_used']"), not 3 VMs' worth"
daemon_stop "$DPID"
expect_status b-sigterm 0 "$?"
finish
