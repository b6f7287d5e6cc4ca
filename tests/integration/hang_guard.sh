#!/usr/bin/env bash
# The hang guard (tests/hang_guard.sh) of the tests that make network namespaces: a test that
# hangs past its guard is ended by SIGTERM, its EXIT trap runs (that is where namespaces and
# taps are removed), and the children it started are ended too. A test that finishes first
# (even one that waits for all its children) leaves no guard behind. Needs nothing but bash; asserts on outcomes, never on durations.
set -u
TMP=$(mktemp -d /tmp/denali-guard.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0

check() { # check DESCRIPTION CONDITION...
	local what=$1
	shift
	if "$@"; then echo "ok:   $what"; else echo "FAIL: $what"; FAILS=$((FAILS + 1)); fi
}

# A test that hangs in a foreground child, with a background child of its own.
cat >"$TMP/hangs.sh" <<EOS
. "$(dirname "$0")/../hang_guard.sh"
trap 'echo trap-ran >"$TMP/trap"' EXIT
sleep 300 & echo \$! >"$TMP/bg.pid"
hang_guard 2
sleep 300
echo not-reached >"$TMP/reached"
EOS
bash "$TMP/hangs.sh" 2>"$TMP/hangs.err"
rc=$?
check "a hung test ends by SIGTERM (exit 143, got $rc)" test "$rc" = 143
check "its EXIT trap ran" test -s "$TMP/trap"
check "the line after the hang did not run" test ! -e "$TMP/reached"
check "the guard said why" grep -q 'hang guard: still running after 2 s' "$TMP/hangs.err"
bg=$(cat "$TMP/bg.pid")
for ((i = 0; i < 50; i++)); do kill -0 "$bg" 2>/dev/null || break; sleep 0.1; done
check "its background child was ended" bash -c "! kill -0 $bg 2>/dev/null"
kill "$bg" 2>/dev/null

# A test that finishes in time: exit status kept, and its guard leaves.
cat >"$TMP/quick.sh" <<EOS
. "$(dirname "$0")/../hang_guard.sh"
hang_guard 100
sleep 2 & wait # a wait for the test's own children does not wait for the guard
exit 3
EOS
bash "$TMP/quick.sh"
rc=$?
check "a test that ends in time keeps its exit status (3, got $rc)" test "$rc" = 3
for ((i = 0; i < 50; i++)); do pgrep -f "$TMP/quick.sh" >/dev/null || break; sleep 0.1; done
gone() { ! pgrep -f "$TMP/quick.sh" >/dev/null; }
check "its guard left with it" gone

[ "$FAILS" -eq 0 ] && echo "PASS" || echo "$FAILS check(s) failed"
exit $((FAILS > 0))
