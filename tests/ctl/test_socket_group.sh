#!/bin/sh
# denalid serve --socket-group NAME (run through fake_denalid, the real serve life cycle):
# the socket gets the group and mode 0660; an unknown group, or one the daemon may not give
# the socket to, stops the start-up with a message that says why.
# usage: test_socket_group.sh FAKE_DENALID
set -u
fake=$1
tmp=$(mktemp -d /tmp/denali-sockgrp-XXXXXX) || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# a group this process may give a file to: its own primary one, or (as root) any
group=$(id -gn)
[ "$(id -u)" -eq 0 ] && group=$(getent group | awk -F: '$3 != 0 {print $1; exit}')
"$fake" --socket "$tmp/s.sock" --state-dir "$tmp/st" --socket-group "$group" \
	>"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$tmp/s.sock" ] && grep -q "ready" "$tmp/log" && break; sleep 0.1; done
[ -S "$tmp/s.sock" ] || fail "no socket; log: $(cat "$tmp/log")"
got=$(stat -c '%G %a' "$tmp/s.sock" 2>/dev/null)
[ "$got" = "$group 660" ] || fail "socket is '$got', expected '$group 660'"
grep -q "group $group (mode 0660)" "$tmp/log" || fail "no log line naming the group"
kill "$pid"; wait "$pid"; pid=

"$fake" --socket "$tmp/u.sock" --state-dir "$tmp/st2" --socket-group no-such-group-x \
	>"$tmp/log2" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "unknown group: exit $rc, expected 1"
grep -q "socket-group no-such-group-x: no such group" "$tmp/log2" || fail "unknown group: no reason given: $(cat "$tmp/log2")"

# not root: a group we are not in is refused with the way out
if [ "$(id -u)" -ne 0 ]; then
	other=$(getent group | awk -F: '$3 == 0 {print $1; exit}')
	"$fake" --socket "$tmp/o.sock" --state-dir "$tmp/st3" --socket-group "$other" \
		>"$tmp/log3" 2>&1
	grep -q "SupplementaryGroups=" "$tmp/log3" || fail "foreign group: no advice: $(cat "$tmp/log3")"
fi
[ "$fails" -eq 0 ] && echo "PASS: --socket-group" 
[ "$fails" -eq 0 ]
