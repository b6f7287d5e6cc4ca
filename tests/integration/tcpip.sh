#!/usr/bin/env bash
# guest-libos TCP/IP in real VMs. VM <-> VM through the virtual switch:
# TCP echo byte-exact (1 MB x 3), UDP echo, 2,000 connections after which
# the server's connection table is empty (its counters say so), 100 idle
# connections that make the server exit no more than the two questions
# asked about it (its event loop counts its idles). With a tap
# uplink (when denalid run has one): ping, TCP and UDP from Linux's own
# stack, inside a network namespace of this test's own (198.18.0.0/15).
. "$(dirname "$0")/lib.sh"
require_kvm
if ! "$DENALID" run --help 2>&1 | grep -q -- '--net '; then
	echo "SKIP: denalid run has no --net (the host side of the net device is not built)"
	exit 77
fi

PFX=198.18.21.0/24
SRV=198.18.21.2 # the first VM: host number id + 1, the gateway is .1

run_denalid vmvm run --net $PFX "$GUESTS/echod" \
	--with "$GUESTS/tcpclient $SRV 7 1000000 3" \
	--with "$GUESTS/tcpclient $SRV 7 1000 20 udp" -- 7 23
expect_status vmvm 0 "$STATUS"
expect_in vmvm "$TMP/vmvm.out" "echod: $SRV listening on tcp and udp port 7"
expect_in vmvm "$TMP/vmvm.out" "tcpclient: 3 x 1000000 bytes echoed intact, 0 connections left"
expect_in vmvm "$TMP/vmvm.out" "tcpclient: 20 datagrams of 1000 bytes echoed intact"
expect_in vmvm "$TMP/vmvm.out" "echod: 3 connections, 20 datagrams, 0 left in use"
expect_not_in vmvm "$TMP/vmvm.out" "differs"

# Many short connections: every block comes back (TIME_WAIT is on the
# client, which closes first and recycles it when its pool is full).
run_denalid many run --net $PFX "$GUESTS/echod" --with "$GUESTS/tcpclient $SRV 7 100 2000" -- 7 2000
expect_status many 0 "$STATUS"
expect_in many "$TMP/many.out" "echod: 2000 connections, 0 datagrams, 0 left in use"
expect_in many "$TMP/many.out" "tcpclient: 2000 x 100 bytes echoed intact, 0 connections left"
expect_in many "$TMP/many.out" "echod-0: net tcp states: closed 0 listen 0 syn_sent 0 syn_rcvd 0 established 0 fin_wait_1 0 fin_wait_2 0 close_wait 0 closing 0 last_ack 0 time_wait 0"
expect_in many "$TMP/many.out" "passive_opens 2000 aborts 0"

# 100 idle connections cost the server nothing: between two questions
# (each wakes it once) over 3 s of holding, it idles (exits) at most 3 times.
run_denalid idle run --net $PFX "$GUESTS/echod" --with "$GUESTS/tcpclient $SRV 7 1 100 hold:3" -- 7 100
expect_status idle 0 "$STATUS"
expect_in idle "$TMP/idle.out" "established 100"
expect_in idle "$TMP/idle.out" "echod: 100 connections, 0 datagrams, 0 left in use"
CHECKS=$((CHECKS + 1))
idles=$(sed -n 's/.*held 100 connections for 3 s; the server idled \([0-9]*\) times.*/\1/p' "$TMP/idle.out")
[ -n "$idles" ] && [ "$idles" -le 3 ] || fail "idle: the server idled '${idles:-?}' times in 3 s with 100 idle connections"

# Linux's stack against a VM, through a tap in a namespace of our own.
if ! "$DENALID" run --help 2>&1 | grep -q -- '--tap NAME'; then
	echo "SKIP (part): denalid run has no --tap yet; Linux-client checks not run"
	finish
fi
for p in ip ping nc; do
	command -v $p >/dev/null || { echo "SKIP (part): $p missing (Debian: iproute2 iputils-ping netcat-openbsd)"; finish; }
done
[ -c /dev/net/tun ] || { echo "SKIP (part): no /dev/net/tun"; finish; }
NS=denali-tcpip-$$
TAP=dntcp$$
VM=198.18.22.2 # VM 0; the tap is the gateway, .1
cleanup() {
	if [ -n "${DPID:-}" ]; then
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }
ip netns add "$NS" || { fail "ip netns add $NS"; finish; }
ip -n "$NS" link set lo up
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add 198.18.22.1/24 dev "$TAP"
ip -n "$NS" link set "$TAP" up
# Not through in_ns: a backgrounded function is a subshell, and killing
# that would leave the daemon behind; $! must be the process itself.
ip netns exec "$NS" timeout 120 "$DENALID" run --net 198.18.22.0/24 --tap "$TAP" "$GUESTS/echod" -- 7 0 \
	>"$TMP/tap.out" 2>"$TMP/tap.err" &
DPID=$!
for _ in $(seq 100); do
	grep -q "listening" "$TMP/tap.out" 2>/dev/null && break
	sleep 0.1
done
expect_in tap "$TMP/tap.out" "echod: $VM listening on tcp and udp port 7"
CHECKS=$((CHECKS + 1))
in_ns ping -c 3 -i 0.2 -W 2 $VM >"$TMP/ping.out" 2>&1 || fail "ping: $(tail -2 "$TMP/ping.out")"
head -c 1000000 /dev/urandom >"$TMP/blob"
CHECKS=$((CHECKS + 1))
in_ns timeout 30 nc -N $VM 7 <"$TMP/blob" >"$TMP/blob.back" 2>/dev/null
cmp -s "$TMP/blob" "$TMP/blob.back" ||
	fail "nc tcp: 1 MB echo differs ($(stat -c %s "$TMP/blob.back") bytes back)"
CHECKS=$((CHECKS + 1))
ok=0
for _ in 1 2 3; do
	echo "hello udp" | in_ns timeout 3 nc -u -w 1 $VM 7 >"$TMP/udp.back" 2>/dev/null
	grep -q "hello udp" "$TMP/udp.back" && { ok=1; break; }
done
[ $ok = 1 ] || fail "nc udp: no echo"
# Twenty connections from Linux, one after the other, then the guest's
# own counters (asked over UDP) show its table empty again.
CHECKS=$((CHECKS + 1))
for i in $(seq 20); do
	echo "conn $i" | in_ns timeout 5 nc -N $VM 7 >"$TMP/c.back" 2>/dev/null
	grep -q "conn $i" "$TMP/c.back" || { fail "nc tcp: connection $i got no echo"; break; }
done
sleep 1.5 # TIME_WAIT is on Linux (it closes first); the guest's side is freed at once
printf 'stats?' | in_ns timeout 3 nc -u -w 1 $VM 7 >"$TMP/stats.back" 2>/dev/null
expect_in stats "$TMP/stats.back" "in_use 1" # the listener
expect_in stats "$TMP/stats.back" "established 0"
finish
