#!/usr/bin/env bash
# Console logs through the workers' io_uring (issue 9 item 3): STATE/vms/NAME/console.log
#  - is complete under normal output, and written while the VM runs (not only at its end),
#    also when the VM idles right after its output (no exit of its own to write it at);
#  - under a flood is capped by the rate limit, every accepted byte either in the file or
#    counted lost (console_log_bytes + console_log_lost = console_bytes);
#  - on a full file system (a small tmpfs, root only): the lost bytes are counted, the VM,
#    its neighbour and the daemon are fine.
. "$(dirname "$0")/lib.sh"
require_kvm
trap 'umount "$TMP/e.state" 2>/dev/null; daemons_cleanup' EXIT

st() { "$CTL" --socket "$TMP/$1.sock" stats "$2" --json >"$TMP/$1-$2.json" && json "$TMP/$1-$2.json" "d['vm']$3" 2>/dev/null || json "$TMP/$1-$2.json" "d$3"; }
wait_state() { # wait_state D NAME STATE
	for _ in $(seq 300); do
		"$CTL" --socket "$TMP/$1.sock" list | grep -q "^$2 .*$3" && return 0
		sleep 0.1
	done
	return 1
}
# every accepted byte is in the file or counted lost, once the log thread is done with it
accounted() { # accounted D NAME
	local b l w
	for _ in $(seq 100); do
		w=$(st "$1" "$2" "['console_bytes']") b=$(st "$1" "$2" "['console_log_bytes']")
		l=$(st "$1" "$2" "['console_log_lost']")
		[ -n "$w" ] && [ $((b + l)) = "$w" ] && return 0
		sleep 0.1
	done
	echo "$2: console_bytes $w, console_log_bytes $b, console_log_lost $l"
	return 1
}

# --- normal output: complete, and written while the VM runs -------------------------------
daemon_start a --workers 1
"$CTL" --socket "$TMP/a.sock" start c "$GUESTS/count" -- 400 >/dev/null
LOG="$TMP/a.state/vms/c/console.log"
during=0
for _ in $(seq 300); do
	"$CTL" --socket "$TMP/a.sock" list | grep -q "^c .*exited" && break
	[ -s "$LOG" ] && during=1
	sleep 0.05
done
wait_state a c exited || fail "count did not exit"
CHECKS=$((CHECKS + 1))
[ "$during" = 1 ] || fail "console.log was empty for as long as the VM ran"
accounted a c || fail "normal: bytes not accounted for"
CHECKS=$((CHECKS + 1))
[ "$(st a c "['console_log_lost']")" = 0 ] || fail "normal output: $(st a c "['console_log_lost']") bytes lost"
CHECKS=$((CHECKS + 1))
[ "$(st a c "['console_dropped']")" = 0 ] || fail "normal output was rate-limited"
CHECKS=$((CHECKS + 1))
[ "$(stat -c %s "$LOG")" = "$(st a c "['console_bytes']")" ] ||
	fail "console.log has $(stat -c %s "$LOG") bytes, the VM wrote $(st a c "['console_bytes']")"
"$CTL" --socket "$TMP/a.sock" console c >"$TMP/a-console.txt" 2>/dev/null
CHECKS=$((CHECKS + 1))
cmp -s "$LOG" "$TMP/a-console.txt" || fail "console.log is not the VM's output"

# --- output, then a long idle: written while the VM still sleeps ---------------------------
"$CTL" --socket "$TMP/a.sock" start i "$GUESTS/sleeper" -- 2 5000 >/dev/null
ILOG="$TMP/a.state/vms/i/console.log"
for _ in $(seq 100); do grep -q "slept 5000 ms" "$ILOG" 2>/dev/null && break; sleep 0.1; done
CHECKS=$((CHECKS + 1))
state=$("$CTL" --socket "$TMP/a.sock" list | awk '$1 == "i" { print $2 }')
grep -q "slept 5000 ms" "$ILOG" 2>/dev/null && [ "$(grep -c "slept 5000 ms" "$ILOG")" = 1 ] &&
	[ "$state" = idle ] || fail "idle: the line before a 5 s idle is not in console.log during it (state $state)"
wait_state a i exited || fail "sleeper did not exit"

# --- a flood: capped by the rate limit, every accepted byte accounted for ---------------
"$CTL" --socket "$TMP/a.sock" start f "$GUESTS/hostile-flood" >/dev/null
wait_state a f exited || fail "flood did not exit"
accounted a f || fail "flood: bytes not accounted for"
CHECKS=$((CHECKS + 1))
[ "$(st a f "['console_dropped']")" -gt 0 ] || fail "flood: nothing was rate-limited"
echo "flood: accepted $(st a f "['console_bytes']"), dropped $(st a f "['console_dropped']"), logged $(st a f "['console_log_bytes']"), lost $(st a f "['console_log_lost']")"
CHECKS=$((CHECKS + 1))
[ "$(st a f "['console_bytes']")" -lt $((32 << 20)) ] || fail "flood: the cap let everything through"
size=$(($(stat -c %s "$TMP/a.state/vms/f/console.log") + $(stat -c %s "$TMP/a.state/vms/f/console.log.1" 2>/dev/null || echo 0)))
CHECKS=$((CHECKS + 1))
[ "$size" -le $((2 << 20)) ] || fail "flood: $size bytes of logs, over twice the 1 MiB cap"
expect_in flood-log "$TMP/a.state/vms/f/console.log" "hostile flood: done"
daemon_stop "$DPID"
expect_status a-sigterm 0 "$?"

# --- a full file system: lost bytes counted, VM, neighbour and daemon fine ----------------
if [ "$(id -u)" -ne 0 ] || ! mkdir "$TMP/e.state" || ! mount -t tmpfs -o size=512k tmpfs "$TMP/e.state"; then
	echo "note: not root, the full file system case is not run"
	finish
fi
daemon_start e --workers 1
"$CTL" --socket "$TMP/e.sock" start s "$GUESTS/sleeper" -- 50 20 >/dev/null
"$CTL" --socket "$TMP/e.sock" start c "$GUESTS/count" -- 300 >/dev/null
dd if=/dev/zero of="$TMP/e.state/filler" bs=4k status=none 2>/dev/null
wait_state e c exited || fail "full: count did not exit"
wait_state e s exited || fail "full: the neighbour did not exit"
accounted e c || fail "full: bytes not accounted for"
CHECKS=$((CHECKS + 1))
[ "$(st e c "['console_log_lost']")" -gt 0 ] || fail "full: nothing counted lost"
echo "full: accepted $(st e c "['console_bytes']"), logged $(st e c "['console_log_bytes']"), lost $(st e c "['console_log_lost']")"
CHECKS=$((CHECKS + 1))
[ "$(st e c "['exit_code']")" = 0 ] || fail "full: count exit code $(st e c "['exit_code']")"
CHECKS=$((CHECKS + 1))
[ "$(st e s "['exit_code']")" = 0 ] || fail "full: neighbour exit code $(st e s "['exit_code']")"
rm -f "$TMP/e.state/filler"
"$CTL" --socket "$TMP/e.sock" start h "$GUESTS/hello" -- after >/dev/null
wait_state e h exited || fail "full: the daemon does not run VMs any more"
daemon_stop "$DPID"
expect_status e-sigterm 0 "$?"
umount "$TMP/e.state"
finish
