#!/usr/bin/env bash
# The tcpecho guest in a VM, against the tcpclient guest on the same switch
# (in a network namespace of this test's own, 198.18.9.0/24): three
# connections of 100,000 bytes each come back intact, and a fourth client
# VM beside them is served too.
. "$(dirname "$0")/lib.sh"
require_kvm
if ! "$DENALID" run --help 2>&1 | grep -q -- '--net PREFIX'; then
	echo "SKIP: denalid run has no --net (the host net device is not built)"
	exit 77
fi
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
	echo "SKIP: needs root and ip(8) for a network namespace of its own"
	exit 77
fi
NS=denali-tcpecho-$$
ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 77; }
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$TMP"' EXIT

timeout 120 ip netns exec "$NS" "$DENALID" run --net 198.18.9.0/24 "$GUESTS/tcpecho" \
	--with "$GUESTS/tcpclient 198.18.9.2 7 100000 3" --with "$GUESTS/tcpclient 198.18.9.2 7 5000 1" \
	-- 7 8 4 >"$TMP/run.out" 2>"$TMP/run.err"
expect_status run 0 $?
expect_in echo "$TMP/run.out" "tcpclient: 3 x 100000 bytes echoed intact, 0 connections left"
expect_in echo "$TMP/run.out" "tcpclient: 1 x 5000 bytes echoed intact, 0 connections left"
expect_in server "$TMP/run.out" "tcpecho: 4 connections, 305000 bytes echoed"
expect_not_in killed "$TMP/run.err" "killed"
finish
