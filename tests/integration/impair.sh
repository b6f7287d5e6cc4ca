#!/usr/bin/env bash
# A lossy, slow, reordering uplink (issue 11): a 10 MiB curl download from
# the httpd guest with 5% of the frames lost, 5 ms of delay and 25% of the
# frames reordered, in both directions, must be byte-exact (sha256), and the
# guest's counters must show that its retransmissions did it.
#
# The issue asks for `tc qdisc ... netem` on the tap. This kernel has no
# netem (CONFIG_NET_SCH_NETEM is off, no modules), so the impairment is
# denali-impair, a test-only relay: denalid's uplink tap (no address, ARP
# off) <-> AF_PACKET <-> the relay <-> a second tap carrying the host's
# address. netem's semantics: each frame lost with the loss probability,
# else held for the delay, except the reorder share that is sent at once,
# ahead of the held ones. All in a namespace of this test's own
# (198.18.81.0/24).
. "$(dirname "$0")/lib.sh"
require_kvm
require_netns curl sha256sum
if ! "$DENALID" run --help 2>&1 | grep -q -- '--tap NAME'; then
	echo "SKIP: denalid run has no --tap"
	exit 77
fi
NS=denali-impair-$$
VTAP=ivtap$$ # denalid's uplink
HTAP=ihtap$$ # the host's side, created by the relay
ADDR=198.18.81.2
DPID=
RPID=
cleanup() {
	kill_wait "$DPID" "$RPID"
	netns_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT
netns_add "$NS"
NX() { in_ns "$@"; }
NX ip tuntap add dev "$VTAP" mode tap
NX ip link set "$VTAP" arp off up

SIZE=$((10 << 20))
site_img $SIZE

counter() { # FILE LINE-PREFIX KEY: the number after KEY on the line
	grep -F -- "$2" "$1" | head -1 | sed -n "s/.* $3[ =]\([0-9]*\).*/\1/p"
}

ip netns exec "$NS" "$BIN/denali-impair" --loss 5 --delay-ms 5 --reorder 25 --seed $$ "$VTAP" "$HTAP" \
	>"$TMP/relay.out" 2>&1 &
RPID=$!
wait_for "$TMP/relay.out" "impair: ready" || { fail "the relay did not start"; finish; }
NX ip addr add 198.18.81.1/24 dev "$HTAP"
NX ip link set "$HTAP" up

ip netns exec "$NS" timeout 180 "$DENALID" run --net 198.18.81.0/24 --tap "$VTAP" --disk-ro "$TMP/site.img" \
	"$GUESTS/httpd" -- 80 8 10000 1 >"$TMP/vm.out" 2>"$TMP/vm.err" &
DPID=$!
wait_for "$TMP/vm.out" "listening on port 80" || fail "the httpd VM did not start"
NX curl -s --max-time 150 -o "$TMP/got.bin" -w '%{http_code} %{num_connects}\n' \
	"http://$ADDR/big.bin" >"$TMP/curl.out" 2>&1
expect_status curl 0 $?
wait "$DPID"
expect_status denalid 0 $?
DPID=
kill -TERM "$RPID"
wait "$RPID"
expect_status relay 0 $?
RPID=

expect_in "one connection" "$TMP/curl.out" "200 1"
CHECKS=$((CHECKS + 1))
[ "$(sha256sum <"$TMP/got.bin")" = "$(sha256sum <"$TMP/site/big.bin")" ] ||
	fail "the download is not byte-exact"
expect_in served "$TMP/vm.out" "httpd: served 1 connections, 1 requests"
expect_not_in killed "$TMP/vm.err" "killed"
expect_in "no abort" "$TMP/vm.out" "aborts 0 "
# the impairment happened...
expect_ge "relay to_host lost" "$(counter "$TMP/relay.out" "impair: to_host" lost)" 1
expect_ge "relay to_host reordered" "$(counter "$TMP/relay.out" "impair: to_host" reordered)" 1
expect_ge "relay to_vm lost" "$(counter "$TMP/relay.out" "impair: to_vm" lost)" 1
# ...and the guest's retransmissions covered it: at least one per frame lost
# on the way to the host carrying data is not guaranteed (some were ACKs or
# ARP), so the floor is a tenth of them
lost=$(counter "$TMP/relay.out" "impair: to_host" lost)
retrans=$(counter "$TMP/vm.out" "net tcp: seg_in" retrans)
expect_ge "guest tcp retrans" "$retrans" $((lost / 10 + 1))
fast=$(counter "$TMP/vm.out" "net tcp: seg_in" fast_retrans)
expect_ge "guest tcp fast_retrans" "$fast" 1
sed 's/^/    /' "$TMP/relay.out"
grep -F "net tcp: seg_in" "$TMP/vm.out" | sed 's/^/    guest: /'
finish
