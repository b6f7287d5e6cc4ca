#!/usr/bin/env bash
# Failure recovery seen from the client (issue 11 item 4): curl downloads a
# 12 MiB file from the httpd guest through the tap uplink, rate-limited so
# that it lasts several seconds, and the uplink fails in the middle of it:
#   link   the tap's link is set down for 3 s, then up again;
#   del    the tap is deleted, and 3 s later a new one of the same name
#          (a new MAC) is created and configured.
# Each download must complete byte-exact (sha256) on its one connection;
# the guest's counters must show retransmission timeouts carried it (rto and
# retrans > 0, no abort) and, after the deletion, that it asked for the new
# MAC (arp reprobe > 0); the daemon's that the uplink failed (tx_errors while
# the link was down; down_events and reattaches after the deletion); no VM
# may be killed. Everything lives in a namespace of this test's own
# (198.18.80.0/24).
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns curl sha256sum
if ! "$DENALID" run --help 2>&1 | grep -q -- '--tap NAME'; then
	echo "SKIP: denalid run has no --tap"
	exit 77
fi
NS=denali-outage-$$
TAP=otap$$
ADDR=198.18.80.2 # VM 0; the tap is .1
DPID=
CPID=
cleanup() {
	kill_wait "$CPID" "$DPID"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT
netns_add "$NS"
NX() { in_ns "$@"; }
make_tap() {
	NX ip tuntap add dev "$TAP" mode tap
	NX ip addr add 198.18.80.1/24 dev "$TAP"
	NX ip link set "$TAP" up
}
make_tap

SIZE=$((12 << 20))
site_img $SIZE
WANT=$(sha256sum <"$TMP/site/big.bin")

# size_at_least FILE BYTES: up to 30 s
size_at_least() {
	for _ in $(seq 300); do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
counter() { # FILE LINE-PREFIX KEY: the number after KEY on the line
	grep -F -- "$2" "$1" | head -1 | sed -n "s/.* $3[ =]\([0-9]*\).*/\1/p"
}

# outage MODE: one VM, one download, one failure of the uplink
outage() {
	local m=$1
	ip netns exec "$NS" timeout 120 "$DENALID" run --net 198.18.80.0/24 --tap "$TAP" --disk-ro "$TMP/site.img" \
		"$GUESTS/httpd" -- 80 8 10000 1 >"$TMP/$m.out" 2>"$TMP/$m.err" &
	DPID=$!
	wait_for "$TMP/$m.out" "listening on port 80" || fail "$m: the httpd VM did not start"
	# 2 MB/s: 12 MiB take about 6 s, the outage is 3 s of them
	ip netns exec "$NS" curl -s --max-time 90 --limit-rate 2M -o "$TMP/$m.bin" -w '%{http_code} %{num_connects}\n' \
		"http://$ADDR/big.bin" >"$TMP/$m.curl" 2>&1 &
	CPID=$!
	size_at_least "$TMP/$m.bin" $((2 << 20)) || fail "$m: the download did not start"
	case $m in
	link)
		NX ip link set "$TAP" down
		sleep 3
		NX ip link set "$TAP" up
		;;
	del)
		NX ip link del "$TAP"
		wait_for "$TMP/$m.err" "uplink $TAP is down" || fail "del: the uplink was not marked down"
		sleep 3
		make_tap
		wait_for "$TMP/$m.err" "uplink $TAP attached again" || fail "del: not re-attached"
		;;
	esac
	local during
	during=$(stat -c %s "$TMP/$m.bin")
	wait "$CPID"
	expect_status "$m: curl" 0 $?
	CPID=
	wait "$DPID"
	expect_status "$m: denalid" 0 $?
	DPID=
	expect_in "$m: one connection" "$TMP/$m.curl" "200 1"
	CHECKS=$((CHECKS + 1))
	[ "$during" -lt $SIZE ] || fail "$m: the download was over before the uplink came back"
	CHECKS=$((CHECKS + 1))
	[ "$(sha256sum <"$TMP/$m.bin")" = "$WANT" ] || fail "$m: the download is not byte-exact"
	expect_in "$m: served" "$TMP/$m.out" "httpd: served 1 connections, 1 requests"
	expect_ge "$m: guest tcp rto" "$(counter "$TMP/$m.out" "net tcp: seg_in" rto)" 1
	expect_ge "$m: guest tcp retrans" "$(counter "$TMP/$m.out" "net tcp: seg_in" retrans)" 1
	expect_in "$m: no abort" "$TMP/$m.out" "aborts 0 "
	expect_not_in "$m: killed" "$TMP/$m.err" "killed"
	grep -F -e "net tcp: seg_in" -e "net arp:" "$TMP/$m.out" | sed "s/^/    $m guest: /"
	grep -F "uplink $TAP:" "$TMP/$m.err" | sed "s/^/    $m daemon: /"
}

outage link
expect_ge "link: uplink tx_errors" "$(counter "$TMP/link.err" "uplink $TAP:" tx_errors)" 1
outage del
expect_ge "del: down_events" "$(counter "$TMP/del.err" "uplink $TAP:" down_events)" 1
expect_ge "del: reattaches" "$(counter "$TMP/del.err" "uplink $TAP:" reattaches)" 1
# the new tap has a new MAC: the guest asked for it again after its timeouts
expect_ge "del: guest arp reprobe" "$(counter "$TMP/del.out" "net arp:" reprobe)" 1
finish
